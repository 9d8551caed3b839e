/* file.c - the file transport: a regular file (or a named pipe) read in
 * large blocks, with a checkpoint that survives appends, renames and hard
 * links, and that tells a rewritten file from one that grew.
 *
 * Identity: the checkpoint's key is the file's absolute path (realpath),
 * so that the same file named two ways shares its checkpoint. The token
 * also holds the file's device and inode, so a file renamed (rotated) or
 * reached through a hard link is recognised as the file it was
 * (transport_same, transport_previous) and read on from its checkpoint.
 *
 * Position token, version 2 (JSON, one object):
 *
 *     {"offset":N,"line":N,"fingerprint":N,"dev":N,"ino":N,
 *      "head":N,"headlen":N,"xxh3":N}
 *
 * offset is the byte just past the last committed record, line the line
 * number there. Integers that are hashes are signed 64-bit (their bits
 * are the unsigned hash).
 *   - fingerprint (version 1): FNV-1a of the first min(4 KiB, offset)
 *     bytes and of the 4 KiB before the offset. Catalogs written before
 *     positions were opaque kept offset, line and fingerprint as columns;
 *     their upgrade (store/sqlite.c, store/pg.c) writes exactly this
 *     version 1 token from them, so this decoder keeps reading it: a token
 *     without the members below resumes as version 1 did (shorter or
 *     changed: read from the start).
 *   - dev, ino: the file's identity while it exists (Filebeat's).
 *   - xxh3: XXH3-64 (libxxhash) over every byte already loaded, [0,
 *     offset). It is what notices a same-size correction anywhere in the
 *     loaded part. Its cost: each run reads the loaded prefix once more to
 *     check it (the file is usually in the page cache), and each batch
 *     hashes only its own new bytes (the hash state is carried along).
 *     Tokens written before it carry "prefix" instead, the first 8 bytes
 *     of SHA-256 over the same bytes; they are checked with SHA-256 once,
 *     and the next checkpoint is written with xxh3. SHA-256 took 0.2 s of
 *     the reader thread's CPU per 327 MB (1.6 GB/s here), XXH3 a tenth of
 *     that: a change of the loaded bytes is an accident to notice, not an
 *     attack to resist, so a fast 64-bit hash does.
 *   - head, headlen: FNV-1a of the first line (at most 4 KiB, at most
 *     offset bytes). It tells the two ways a file's loaded bytes can
 *     change: same first line and different loaded bytes (or a file
 *     shorter than the checkpoint) is a rewrite or a truncation, a
 *     conflict for the pipeline's on_rewrite policy; a different first line
 *     is a file emptied and written again (copytruncate rotation), read
 *     from the start.
 * Members it does not know are ignored, so a later version may add some.
 * Bytes are read with pread on the file being loaded, never by name again,
 * so the bytes hashed are the bytes read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include "core/arena.h"
#include "core/hash.h"
#include "core/log.h"
#include "source/transport.h"

#define FILE_FINGERPRINT_SPAN 4096
#define FILE_HASH_CHUNK ((size_t)1 << 20)
/* Hash states kept every FILE_MARK_SPAN bytes of the latest reads (see
 * read_hash): together they span more than one read of the source. */
#define FILE_READ_MARKS 24
#define FILE_MARK_SPAN ((size_t)64 << 10)
#define FILE_HASH_STATE 576 /* about an XXH3 state's size, for the message */

typedef struct file_transport {
    pm_transport base;
    int fd;
    char *path; /* owned: as given, for messages */
    bool regular;
    uint64_t dev, ino;
    XXH3_state_t *prefix; /* owned: XXH3-64 of bytes [0, hashed) */
    uint64_t hashed;
    char *chunk; /* owned: FILE_HASH_CHUNK bytes for hashing */
    /* The same hash carried along the reads (read_hash): over [0, lead_at)
     * when lead_ok, and as it stood at the start of each of the latest
     * reads (mark_at, when mark_ok). pos is where the next read() reads. */
    uint64_t pos;
    XXH3_state_t *lead; /* owned */
    uint64_t lead_at;
    bool lead_ok;
    XXH3_state_t *mark[FILE_READ_MARKS]; /* owned */
    uint64_t mark_at[FILE_READ_MARKS];
    bool mark_ok[FILE_READ_MARKS];
    unsigned mark_next;
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

/* The first line of the file (with its line end), at most 4 KiB and at
 * most limit bytes: its length and hash. */
static uint64_t head_of(int fd, uint64_t limit, uint64_t *len)
{
    char buf[FILE_FINGERPRINT_SPAN];
    size_t want = limit < sizeof buf ? (size_t)limit : sizeof buf, got = 0;
    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    const char *nl = memchr(buf, '\n', got);
    *len = nl ? (uint64_t)(nl - buf + 1) : got;
    return pm_hash(buf, (size_t)*len);
}

/* Moves the prefix hash to cover [0, end): on from where it stands, or
 * from the top when end is behind it. false when the file has fewer bytes
 * (then the state is undefined until the next call from the top). */
static bool prefix_to(file_transport *f, uint64_t end)
{
    if (end < f->hashed || !f->hashed) {
        XXH3_64bits_reset(f->prefix);
        f->hashed = 0;
    }
    while (f->hashed < end) {
        uint64_t left = end - f->hashed;
        size_t want = left < FILE_HASH_CHUNK ? (size_t)left : FILE_HASH_CHUNK;
        ssize_t n = pread(f->fd, f->chunk, want, (off_t)f->hashed);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            f->hashed = 0;
            return false;
        }
        XXH3_64bits_update(f->prefix, f->chunk, (size_t)n);
        f->hashed += (uint64_t)n;
    }
    return true;
}

/* Hashing the bytes as they are read: a checkpoint's offset lies in or
 * just behind the latest reads, so the prefix hash starts from the state
 * kept nearest before it and reads again only the bytes from there to the
 * offset (less than FILE_MARK_SPAN), instead of all the batch's bytes.
 * The bytes hashed are then the bytes loaded. Reads that do not follow
 * the hash (after a seek to where the prefix is not known) stop it, and
 * checkpoints read again from the last one, as without it. */
static void read_hash(file_transport *f, const char *buf, size_t n)
{
    if (n == 0)
        return;
    if (!f->lead_ok || f->lead_at != f->pos) {
        f->lead_ok = false;
        return;
    }
    for (size_t done = 0; done < n;) {
        size_t piece = n - done < FILE_MARK_SPAN ? n - done : FILE_MARK_SPAN;
        unsigned i = f->mark_next;
        XXH3_copyState(f->mark[i], f->lead);
        f->mark_at[i] = f->lead_at;
        f->mark_ok[i] = true;
        f->mark_next = (i + 1) % FILE_READ_MARKS;
        XXH3_64bits_update(f->lead, buf + done, piece);
        f->lead_at += piece;
        done += piece;
    }
}

/* Puts the prefix hash at the nearest known state at or before end, from
 * the reads, when that is nearer than where prefix_to would start. */
static void prefix_from_reads(file_transport *f, uint64_t end)
{
    if (!f->lead_ok || end > f->lead_at)
        return;
    const XXH3_state_t *best = NULL;
    uint64_t at = f->hashed <= end ? f->hashed : 0;
    if (end == f->lead_at && end > at) {
        best = f->lead;
        at = end;
    }
    for (unsigned i = 0; i < FILE_READ_MARKS; i++)
        if (f->mark_ok[i] && f->mark_at[i] <= end && f->mark_at[i] > at)
            best = f->mark[i], at = f->mark_at[i];
    if (best) {
        XXH3_copyState(f->prefix, best);
        f->hashed = at;
    }
}

/* XXH3-64 of [0, hashed); the state stays as it is. */
static uint64_t prefix_digest(file_transport *f)
{
    return XXH3_64bits_digest(f->prefix);
}

/* The first 8 bytes of SHA-256 over [0, end): the "prefix" of tokens
 * written before xxh3. false when the file has fewer bytes. The running
 * hash is not touched. */
static bool sha_prefix(file_transport *f, uint64_t end, uint64_t *out)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (uint64_t at = 0; ok && at < end;) {
        uint64_t left = end - at;
        size_t want = left < FILE_HASH_CHUNK ? (size_t)left : FILE_HASH_CHUNK;
        ssize_t n = pread(f->fd, f->chunk, want, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0 && EVP_DigestUpdate(c, f->chunk, (size_t)n);
        at += n > 0 ? (uint64_t)n : 0;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) && mdlen >= 8;
    EVP_MD_CTX_free(c);
    uint64_t h = 0;
    for (int i = 0; ok && i < 8; i++)
        h = (h << 8) | md[i];
    *out = h;
    return ok;
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
    file_transport *f = ft(t);
    if (f->regular)
        read_hash(f, buf, (size_t)n);
    f->pos += (uint64_t)n;
    *got = (size_t)n;
    return PM_OK;
}

static pm_code file_seek(pm_transport *t, uint64_t off, pm_err *err)
{
    file_transport *f = ft(t);
    if (lseek(f->fd, (off_t)off, SEEK_SET) < 0)
        return pm_err_set(err, PM_ERR_IO, "cannot seek %s to byte %llu: %s", t->id,
                          (unsigned long long)off, strerror(errno));
    f->pos = off;
    /* The reads go on from the prefix hash when it stands there (a resume
     * checks the loaded bytes first), else they are not followed. */
    for (unsigned i = 0; i < FILE_READ_MARKS; i++)
        f->mark_ok[i] = false;
    f->lead_ok = f->regular && (off == 0 || f->hashed == off);
    if (f->lead_ok && off == 0)
        XXH3_64bits_reset(f->lead);
    else if (f->lead_ok)
        XXH3_copyState(f->lead, f->prefix);
    f->lead_at = off;
    return PM_OK;
}

static pm_code file_position(pm_transport *t, uint64_t end, uint64_t line, char *out, pm_err *err)
{
    file_transport *f = ft(t);
    int64_t fp = (int64_t)fingerprint(f->fd, end);
    if (!f->regular) {
        /* a pipe cannot be read again: no prefix to check */
        snprintf(out, TRANSPORT_POSITION_MAX,
                 "{\"offset\":%" PRIu64 ",\"line\":%" PRIu64 ",\"fingerprint\":%" PRId64 "}", end,
                 line, fp);
        return PM_OK;
    }
    prefix_from_reads(f, end);
    if (!prefix_to(f, end))
        return pm_err_set(err, PM_ERR_IO, "cannot read %s again to checkpoint byte %llu", f->path,
                          (unsigned long long)end);
    uint64_t headlen;
    int64_t head = (int64_t)head_of(f->fd, end, &headlen);
    snprintf(out, TRANSPORT_POSITION_MAX,
             "{\"offset\":%" PRIu64 ",\"line\":%" PRIu64 ",\"fingerprint\":%" PRId64
             ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"head\":%" PRId64 ",\"headlen\":%" PRIu64
             ",\"xxh3\":%" PRId64 "}",
             end, line, fp, f->dev, f->ino, head, headlen, (int64_t)prefix_digest(f));
    return PM_OK;
}

/* A decoded token; v2 false for a version 1 token (no identity). Its hash
 * of the loaded bytes is xxh3, or prefix (SHA-256) when sha is set. */
typedef struct file_tok {
    uint64_t offset, line, fp;
    bool v2, sha;
    uint64_t dev, ino, head, headlen, prefix;
} file_tok;

static bool tok_u64(json_t *j, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(j, key);
    if (!json_is_integer(v))
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Reads a token of version 1 or 2; false when it is not one. */
static bool file_token(const char *position, file_tok *k)
{
    memset(k, 0, sizeof *k);
    json_t *j = json_loads(position, JSON_REJECT_DUPLICATES, NULL);
    json_t *o = json_object_get(j, "offset"), *l = json_object_get(j, "line");
    bool ok = json_is_integer(o) && json_is_integer(l) && tok_u64(j, "fingerprint", &k->fp) &&
              json_integer_value(o) >= 0 && json_integer_value(l) >= 0;
    if (ok) {
        k->offset = (uint64_t)json_integer_value(o);
        k->line = (uint64_t)json_integer_value(l);
        bool xxh3 = tok_u64(j, "xxh3", &k->prefix);
        k->sha = !xxh3 && tok_u64(j, "prefix", &k->prefix);
        k->v2 = tok_u64(j, "dev", &k->dev) && tok_u64(j, "ino", &k->ino) &&
                tok_u64(j, "head", &k->head) && tok_u64(j, "headlen", &k->headlen) &&
                (xxh3 || k->sha);
    }
    json_decref(j);
    return ok;
}

/* Does the file still start with the first line it had when k was taken? */
static bool head_same(file_transport *f, const file_tok *k)
{
    if (f->base.size < k->headlen)
        return false;
    uint64_t len;
    return head_of(f->fd, k->headlen, &len) == k->head && len == k->headlen;
}

/* Are the bytes [0, k->offset) the ones loaded? Leaves the prefix hash at
 * k->offset when they are. */
static bool prefix_same(file_transport *f, const file_tok *k)
{
    if (f->base.size < k->offset)
        return false;
    if (k->sha) {
        /* an older token: checked once; the running hash starts again from
         * the top at the next checkpoint */
        uint64_t h;
        f->hashed = 0;
        return sha_prefix(f, k->offset, &h) && h == k->prefix;
    }
    if (!prefix_to(f, k->offset))
        return false;
    return prefix_digest(f) == k->prefix;
}

static void conflict(transport_start *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conflict(transport_start *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
    out->conflict = true;
    out->offset = out->line = 0;
}

static pm_code file_resume(pm_transport *t, const char *position, transport_start *out, pm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!position)
        return PM_OK;
    file_transport *f = ft(t);
    const char *path = f->path;
    file_tok k;
    if (!file_token(position, &k)) {
        pm_err_set(err, PM_ERR_PARSE, "the checkpoint of %s is not a file position: %.200s", path,
                   position);
        pm_err_hint(err, "was it written by a newer pipemend? Run that version, or reset the "
                         "pipeline to load the file from the start");
        return PM_ERR_PARSE;
    }
    unsigned long long at = (unsigned long long)k.offset;
    if (!k.v2 || !f->regular) {
        /* version 1: no identity, no prefix; as version 1 did */
        if (t->size < k.offset) {
            pm_warn("%s is shorter than when it was last loaded; reading it from the start", path);
            return PM_OK;
        }
        if (fingerprint(f->fd, k.offset) != k.fp) {
            pm_warn("%s changed since it was last loaded (bytes already loaded differ); reading "
                    "it from the start",
                    path);
            return PM_OK;
        }
    } else if (!prefix_same(f, &k)) {
        bool same_file = k.dev == f->dev && k.ino == f->ino;
        bool head = head_same(f, &k);
        f->hashed = 0;
        if (same_file && head && t->size < k.offset)
            conflict(out,
                     "%s was truncated: it has %llu bytes, and %llu were loaded from it (its "
                     "first line is the same)",
                     path, (unsigned long long)t->size, at);
        else if (same_file && head)
            conflict(out,
                     "%s was rewritten: bytes before byte %llu, already loaded, changed (its "
                     "first line and inode are the same)",
                     path, at);
        else if (head)
            conflict(out,
                     "%s was replaced by another file that starts with the same line but "
                     "differs in the %llu bytes already loaded",
                     path, at);
        else if (same_file)
            pm_warn("%s was emptied and written again since byte %llu was loaded (copytruncate "
                    "rotation): reading it from the start",
                    path, at);
        else
            pm_warn("%s is a new file (inode %llu, was %llu) and the file it replaced is not "
                    "beside it: lines written to that file after byte %llu, if any, were not "
                    "loaded (ingest it under its new name if it still exists); reading %s from "
                    "the start",
                    path, (unsigned long long)f->ino, (unsigned long long)k.ino, at, path);
        return PM_OK;
    } else if (k.dev != f->dev || k.ino != f->ino) {
        pm_info("%s is another file (inode %llu, was %llu) holding the same %llu bytes already "
                "loaded (a copy); resuming after them",
                path, (unsigned long long)f->ino, (unsigned long long)k.ino, at);
    }
    out->offset = k.offset;
    out->line = k.line;
    if (k.offset && t->size && k.offset >= t->size) {
        pm_info("%s: nothing new since the last run (checkpoint at byte %llu)", path, at);
        out->at_end = true;
    } else if (k.offset) {
        pm_info("%s: resuming after byte %llu", path, at);
    }
    return PM_OK;
}

static bool file_same(pm_transport *t, const char *position, uint64_t *offset)
{
    file_transport *f = ft(t);
    file_tok k;
    if (!f->regular || !file_token(position, &k) || !k.v2 || k.dev != f->dev || k.ino != f->ino)
        return false;
    /* an inode number used again by a file created since has another
     * first line */
    if (k.offset > t->size || !head_same(f, &k))
        return false;
    *offset = k.offset;
    return true;
}

static char *file_previous(pm_transport *t, const char *position)
{
    file_transport *f = ft(t);
    file_tok k;
    if (!f->regular || !file_token(position, &k) || !k.v2 || (k.dev == f->dev && k.ino == f->ino))
        return NULL;
    char *copy = pm_xstrdup(t->id);
    const char *dir = dirname(copy);
    DIR *d = opendir(dir);
    char *found = NULL;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        if ((uint64_t)e->d_ino != k.ino)
            continue;
        size_t plen = strlen(dir) + strlen(e->d_name) + 2;
        char *p = pm_xmalloc(plen);
        snprintf(p, plen, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, e->d_name);
        /* the inode, and the first line it had: an inode number is used
         * again by files created since */
        struct stat st;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        uint64_t len = 0;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_dev == k.dev &&
            (uint64_t)st.st_ino == k.ino && (uint64_t)st.st_size >= k.offset &&
            head_of(fd, k.headlen, &len) == k.head && len == k.headlen)
            found = p;
        else
            free(p);
        if (fd >= 0)
            close(fd);
    }
    if (d)
        closedir(d);
    free(copy);
    return found;
}

static void file_identity(const pm_transport *t, char *out, size_t cap)
{
    const file_transport *f = (const file_transport *)t;
    if (f->regular)
        snprintf(out, cap, "%" PRIu64 ":%" PRIu64, f->dev, f->ino);
    else if (cap)
        out[0] = '\0';
}

static void file_token_identity(const char *position, char *out, size_t cap)
{
    file_tok k;
    if (file_token(position, &k) && k.v2)
        snprintf(out, cap, "%" PRIu64 ":%" PRIu64, k.dev, k.ino);
    else if (cap)
        out[0] = '\0';
}

static void file_describe(const char *position, char *out, size_t cap)
{
    file_tok k;
    if (file_token(position, &k))
        snprintf(out, cap, "byte %llu", (unsigned long long)k.offset);
    else
        snprintf(out, cap, "%s", position);
}

static void file_close(pm_transport *t)
{
    close(ft(t)->fd);
    free(ft(t)->path);
    XXH3_freeState(ft(t)->prefix);
    XXH3_freeState(ft(t)->lead);
    for (unsigned i = 0; i < FILE_READ_MARKS; i++)
        XXH3_freeState(ft(t)->mark[i]);
    free(ft(t)->chunk);
}

static const transport_ops file_ops = {
    .kind = "file",
    .read = file_read,
    .seek = file_seek,
    .position = file_position,
    .resume = file_resume,
    .describe = file_describe,
    .same = file_same,
    .previous = file_previous,
    .identity = file_identity,
    .token_identity = file_token_identity,
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
        f->regular = true;
        f->dev = (uint64_t)st.st_dev;
        f->ino = (uint64_t)st.st_ino;
        f->prefix = XXH3_createState();
        f->chunk = pm_xmalloc(FILE_HASH_CHUNK);
        if (!f->prefix || XXH3_64bits_reset(f->prefix) != XXH_OK)
            pm_oom(FILE_HASH_CHUNK);
        f->lead = XXH3_createState();
        if (!f->lead || XXH3_64bits_reset(f->lead) != XXH_OK)
            pm_oom(FILE_HASH_STATE);
        f->lead_ok = true;
        for (unsigned i = 0; i < FILE_READ_MARKS; i++)
            if (!(f->mark[i] = XXH3_createState()))
                pm_oom(FILE_HASH_STATE);
        f->base.size = (uint64_t)st.st_size;
        f->base.mtime = (int64_t)st.st_mtime;
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    f->base.label = f->path;
    char *abs = realpath(path, NULL);
    f->base.id = abs ? abs : pm_xstrdup(path);
    *out = &f->base;
    return PM_OK;
}
