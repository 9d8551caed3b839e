/* fingerprint.c - tells an appended file from a replaced one.
 *
 * A checkpoint stores the hash of the file's first min(4 KiB, offset)
 * bytes and of the 4 KiB before the offset: bytes already loaded. Appending leaves them alone;
 * rewriting the file changes them (or makes the file shorter than the checkpoint), and the file is
 * then read from the start. Hashing only loaded bytes matters for small files: a hash of "the first
 * 4 KiB" would change on every append to a file shorter than that. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "source/source.h"

/* Hash of want bytes at off; bytes missing (a shorter file) change it. */
static uint64_t hash_at(int fd, uint64_t off, size_t want)
{
    char buf[SOURCE_FINGERPRINT_MAX];
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return pm_hash(buf, got) ^ (uint64_t)(want - got);
}

pm_code source_fingerprint_file(const char *path, uint64_t offset, uint64_t *out, pm_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        pm_err_set(err, PM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        pm_err_hint(err, "check that the file still exists and is readable");
        return PM_ERR_IO;
    }
    size_t head = offset < SOURCE_FINGERPRINT_MAX ? (size_t)offset : SOURCE_FINGERPRINT_MAX;
    uint64_t h = hash_at(fd, 0, head);
    /* The bytes just before the checkpoint too: a rewrite that keeps the
     * first 4 KiB but shifts what follows would otherwise resume in the
     * middle of a row. */
    if (offset > SOURCE_FINGERPRINT_MAX) {
        uint64_t t = hash_at(fd, offset - SOURCE_FINGERPRINT_MAX, SOURCE_FINGERPRINT_MAX);
        h ^= (t << 1) | (t >> 63);
    }
    close(fd);
    *out = h;
    return PM_OK;
}
