/* file.c - the file transport: a regular file (or a named pipe) read in
 * large blocks, with a checkpoint that survives appends and notices
 * rewrites.
 *
 * Identity: the file's absolute path (realpath), so that the same file
 * named two ways shares its checkpoint.
 *
 * Position token, version 1 (JSON, one object):
 *
 *     {"offset":N,"line":N,"fingerprint":N}
 *
 * offset is the byte just past the last committed record, line the line
 * number there, fingerprint the hash of the bytes already loaded (below),
 * as a signed 64-bit integer (its bits are the unsigned hash). Catalogs
 * written before positions were opaque kept these three as columns; their
 * upgrade (store/sqlite.c, store/pg.c) writes exactly this token from
 * them, so this decoder must keep reading it. Members it does not know
 * are ignored, so a later version may add some (a device and inode for
 * rotation, issue 12) and still read the old ones.
 *
 * The fingerprint tells an appended file from a replaced one: the hash of
 * the file's first min(4 KiB, offset) bytes and of the 4 KiB before the
 * offset, bytes already loaded. Appending leaves them alone; rewriting the
 * file changes them (or makes the file shorter than the checkpoint), and
 * the file is then read from the start. Hashing only loaded bytes matters
 * for small files: a hash of "the first 4 KiB" would change on every
 * append to a file shorter than that. It is read with pread on the file
 * being loaded, never by name again, so the bytes hashed are the bytes
 * read. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/hash.h"
#include "core/log.h"
#include "source/transport.h"

#define FILE_FINGERPRINT_SPAN 4096

typedef struct file_transport {
    pm_transport base;
    int fd;
    char *path; /* owned: as given, for messages */
} file_transport;

static file_transport *ft(pm_transport *t)
{
    return (file_transport *)t;
}

/* Hash of want bytes at off; bytes missing (a shorter file) change it. */
static uint64_t hash_at(int fd, uint64_t off, size_t want)
{
    char buf[FILE_FINGERPRINT_SPAN];
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

static uint64_t fingerprint(int fd, uint64_t offset)
{
    size_t head = offset < FILE_FINGERPRINT_SPAN ? (size_t)offset : FILE_FINGERPRINT_SPAN;
    uint64_t h = hash_at(fd, 0, head);
    /* The bytes just before the checkpoint too: a rewrite that keeps the
     * first 4 KiB but shifts what follows would otherwise resume in the
     * middle of a row. */
    if (offset > FILE_FINGERPRINT_SPAN) {
        uint64_t t = hash_at(fd, offset - FILE_FINGERPRINT_SPAN, FILE_FINGERPRINT_SPAN);
        h ^= (t << 1) | (t >> 63);
    }
    return h;
}

static pm_code file_read(pm_transport *t, char *buf, size_t cap, size_t *got, pm_err *err)
{
    ssize_t n;
    do
        n = read(ft(t)->fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        pm_err_set(err, PM_ERR_IO, "cannot read %s: %s", t->id, strerror(errno));
        pm_err_hint(err, "the rows before this point are intact; fix the input and run again");
        return PM_ERR_IO;
    }
    *got = (size_t)n;
    return PM_OK;
}

static pm_code file_seek(pm_transport *t, uint64_t off, pm_err *err)
{
    if (lseek(ft(t)->fd, (off_t)off, SEEK_SET) < 0)
        return pm_err_set(err, PM_ERR_IO, "cannot seek %s to byte %llu: %s", t->id,
                          (unsigned long long)off, strerror(errno));
    return PM_OK;
}

static pm_code file_position(pm_transport *t, uint64_t end, uint64_t line, char *out, pm_err *err)
{
    int64_t fp = (int64_t)fingerprint(ft(t)->fd, end);
    snprintf(out, TRANSPORT_POSITION_MAX,
             "{\"offset\":%" PRIu64 ",\"line\":%" PRIu64 ",\"fingerprint\":%" PRId64 "}", end, line,
             fp);
    return PM_OK;
}

/* Reads a version 1 token; false when it is not one. */
static bool file_token(const char *position, uint64_t *offset, uint64_t *line, uint64_t *fp)
{
    json_t *j = json_loads(position, JSON_REJECT_DUPLICATES, NULL);
    json_t *o = json_object_get(j, "offset"), *l = json_object_get(j, "line"),
           *f = json_object_get(j, "fingerprint");
    bool ok = json_is_integer(o) && json_is_integer(l) && json_is_integer(f) &&
              json_integer_value(o) >= 0 && json_integer_value(l) >= 0;
    if (ok) {
        *offset = (uint64_t)json_integer_value(o);
        *line = (uint64_t)json_integer_value(l);
        *fp = (uint64_t)json_integer_value(f);
    }
    json_decref(j);
    return ok;
}

static pm_code file_resume(pm_transport *t, const char *position, transport_start *out, pm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!position)
        return PM_OK;
    const char *path = ft(t)->path;
    uint64_t offset, line, seen;
    if (!file_token(position, &offset, &line, &seen)) {
        pm_err_set(err, PM_ERR_PARSE, "the checkpoint of %s is not a file position: %.200s", path,
                   position);
        pm_err_hint(err, "was it written by a newer pipemend? Run that version, or reset the "
                         "pipeline to load the file from the start");
        return PM_ERR_PARSE;
    }
    if (t->size < offset) {
        pm_warn("%s is shorter than when it was last loaded; reading it from the start", path);
        return PM_OK;
    }
    if (fingerprint(ft(t)->fd, offset) != seen) {
        pm_warn("%s changed since it was last loaded (bytes already loaded differ); reading it "
                "from the start",
                path);
        return PM_OK;
    }
    out->offset = offset;
    out->line = line;
    if (offset && t->size && offset >= t->size) {
        pm_info("%s: nothing new since the last run (checkpoint at byte %llu)", path,
                (unsigned long long)offset);
        out->at_end = true;
    } else if (offset) {
        pm_info("%s: resuming after byte %llu", path, (unsigned long long)offset);
    }
    return PM_OK;
}

static void file_describe(const char *position, char *out, size_t cap)
{
    uint64_t offset, line, fp;
    if (file_token(position, &offset, &line, &fp))
        snprintf(out, cap, "byte %llu", (unsigned long long)offset);
    else
        snprintf(out, cap, "%s", position);
}

static void file_close(pm_transport *t)
{
    close(ft(t)->fd);
    free(ft(t)->path);
}

static const transport_ops file_ops = {
    .kind = "file",
    .read = file_read,
    .seek = file_seek,
    .position = file_position,
    .resume = file_resume,
    .describe = file_describe,
    .close = file_close,
};

/* A named pipe (or a device) cannot seek: skipping reads and discards. */
static const transport_ops pipe_ops = {
    .kind = "file",
    .read = file_read,
    .position = file_position,
    .resume = file_resume,
    .describe = file_describe,
    .close = file_close,
};

static pm_code open_error(pm_err *err, const char *path, int errnum)
{
    pm_err_set(err, PM_ERR_IO, "cannot open %s: %s", path, strerror(errnum));
    if (errnum == ENOENT)
        pm_err_hint(err, "check the path (relative paths start from the current directory)");
    else if (errnum == EACCES || errnum == EPERM)
        pm_err_hint(err, "give the user running pipemend read permission on the file");
    else if (errnum == EISDIR)
        pm_err_hint(err, "name a file, or a glob such as dir/*.ndjson in the pipeline's source");
    else
        pm_err_hint(err, "check that the path names a readable file");
    return PM_ERR_IO;
}

pm_code file_transport_open(const char *path, pm_transport **out, pm_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return open_error(err, path, errno);
    struct stat st;
    int e = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (e) {
        close(fd);
        return open_error(err, path, e);
    }
    file_transport *f = pm_xcalloc(1, sizeof *f);
    f->fd = fd;
    f->path = pm_xstrdup(path);
    f->base.ops = &pipe_ops;
    if (S_ISREG(st.st_mode)) {
        f->base.ops = &file_ops;
        f->base.size = (uint64_t)st.st_size;
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    f->base.label = f->path;
    char *abs = realpath(path, NULL);
    f->base.id = abs ? abs : pm_xstrdup(path);
    *out = &f->base;
    return PM_OK;
}
