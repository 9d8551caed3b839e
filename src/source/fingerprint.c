/* fingerprint.c - tells an appended file from a replaced one.
 *
 * A checkpoint stores the hash of the file's first min(4 KiB, offset)
 * bytes: the bytes already loaded. Appending leaves them alone; rewriting the
 * file changes them (or makes the file shorter than the checkpoint), and the
 * file is then read from the start. Hashing only loaded bytes matters for
 * small files: a hash of "the first 4 KiB" would change on every append to
 * a file shorter than that. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "source/source.h"

pm_code source_fingerprint_file(const char *path, uint64_t offset, uint64_t *out, pm_err *err)
{
    char head[SOURCE_FINGERPRINT_MAX];
    size_t want = offset < sizeof head ? (size_t)offset : sizeof head;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pm_err_set(err, PM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, head + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    /* A file shorter than what was hashed hashes differently: replaced. */
    *out = pm_hash(head, got) ^ (uint64_t)(want - got);
    return PM_OK;
}
