/* audit.c - appends to and verifies the hash chain of audit.h. The store
 * keeps the rows; this file owns what they mean: the canonical encoding,
 * the hash and the verdict, and the anchor file that holds heads of the
 * chain outside the warehouse. */
#include "audit/audit.h"

#include "core/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define MIN_KEY 32

/* The key of this process (audit_key_use), set once before any thread
 * starts and read-only after. */
static struct {
    const char *env; /* the variable audit_key_env names, or NULL */
    char *key;       /* its value, or NULL when unset */
    size_t len;
} audit_key;

pm_code audit_key_use(const char *env, pm_err *err)
{
    if (!env || !*env)
        return PM_OK;
    audit_key.env = env;
    const char *k = getenv(env);
    if (!k || !*k)
        return PM_OK; /* writes refuse; verify says what it could not check */
    size_t n = strlen(k);
    if (n < MIN_KEY) {
        pm_err_set(err, PM_ERR_CONFIG, "the audit key in $%s is shorter than %d characters", env,
                   MIN_KEY);
        pm_err_hint(err, "`openssl rand -hex 32` makes one; keep it outside the warehouse");
        return PM_ERR_CONFIG;
    }
    audit_key.key = strdup(k);
    if (!audit_key.key)
        pm_oom(n);
    audit_key.len = n;
    return PM_OK;
}

const char *audit_key_env(bool *present)
{
    *present = audit_key.key != NULL;
    return audit_key.env;
}

static void feed(pm_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    pm_buf_printf(b, NULL, "%zu:", n);
    if (n)
        pm_buf_append(b, s, n, NULL);
    pm_buf_append(b, ";", 1, NULL);
}

/* e's hash: SHA-256 of the canonical encoding, or, for a keyed event,
 * HMAC-SHA256 under key of the same encoding behind its own tag (the two
 * can never be taken for one another). False when e is keyed and there is
 * no key. */
static bool event_hash(const pm_audit_event *e, const char *key, size_t keylen, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (e->keyed && !key)
        return false;
    pm_buf b;
    pm_buf_init(&b, SIZE_MAX);
    pm_buf_puts(&b, e->keyed ? "pipemend-audit-hmac-v1;" : "pipemend-audit-v1;", NULL);
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", (long long)e->seq);
    feed(&b, seq);
    feed(&b, e->at);
    feed(&b, e->actor);
    feed(&b, e->action);
    feed(&b, e->subject);
    feed(&b, e->payload);
    feed(&b, e->prev_hash);
    const unsigned char *data = (const unsigned char *)(b.data ? b.data : "");
    if (e->keyed)
        HMAC(EVP_sha256(), key, (int)keylen, data, b.len, md, &mdlen);
    else
        EVP_Digest(data, b.len, md, &mdlen, EVP_sha256(), NULL);
    pm_buf_free(&b);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return true;
}

void audit_hash(const pm_audit_event *e, char out[65])
{
    if (!event_hash(e, audit_key.key, audit_key.len, out))
        memset(out, 0, 65);
}

static audit_hook hook_fn;
static void *hook_arg;

void audit_set_hook(audit_hook hook, void *arg)
{
    hook_fn = hook;
    hook_arg = arg;
}

pm_code audit_append(pm_store *s, const char *actor, const char *action, const char *subject,
                     const char *payload, pm_err *err)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char at[64];
    snprintf(at, sizeof at, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (audit_key.env && !audit_key.key) {
        pm_err_set(err, PM_ERR_CONFIG,
                   "the audit log is keyed (audit_key_env: %s), but $%s is not set: no event is "
                   "written without the key",
                   audit_key.env, audit_key.env);
        pm_err_hint(err, "set $%s to the audit key this warehouse's events are written with",
                    audit_key.env);
        return PM_ERR_CONFIG;
    }
    pm_audit_event e = {.at = at,
                        .actor = actor,
                        .action = action,
                        .subject = subject,
                        .payload = payload ? payload : "{}",
                        .keyed = audit_key.key != NULL};
    if (!hook_fn)
        return store_audit_append(s, &e, audit_hash, err);
    /* the event and what the hook writes: one transaction */
    bool own = !store_in_tx(s);
    pm_code rc = own ? store_begin(s, err) : PM_OK;
    if (!rc)
        rc = store_audit_append(s, &e, audit_hash, err);
    if (!rc)
        rc = hook_fn(hook_arg, s, &e, err);
    if (own) {
        if (!rc)
            rc = store_commit(s, err);
        if (rc)
            store_rollback(s, NULL);
    }
    return rc;
}

/* ---- anchors ------------------------------------------------------------- */

typedef struct anchor_line {
    int64_t seq;
    char hash[65];
    int line;
} anchor_line;

static int anchor_cmp(const void *x, const void *y)
{
    const anchor_line *a = x, *b = y;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* The anchored heads of path, sorted by seq, in arena. A missing file is
 * PM_ERR_IO unless missing_ok (then it has none). */
static pm_code anchors_read(const char *path, bool missing_ok, pm_arena *a, anchor_line **out,
                            size_t *n, pm_err *err)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (missing_ok && errno == ENOENT)
            return PM_OK;
        pm_err_set(err, PM_ERR_IO, "cannot read the anchor file %s: %s", path, strerror(errno));
        pm_err_hint(err, "`pipemend audit anchor --anchor FILE` writes one");
        return PM_ERR_IO;
    }
    size_t cap = 0;
    char line[512];
    int no = 0;
    pm_code rc = PM_OK;
    while (fgets(line, sizeof line, f)) {
        no++;
        size_t len = strlen(line);
        bool whole = len && line[len - 1] == '\n';
        long long seq;
        char hash[65];
        int end = 0;
        const char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\0') {
            if (!whole && !feof(f)) { /* skip the rest of a long comment */
                int c;
                while ((c = fgetc(f)) != EOF && c != '\n')
                    ;
            }
            continue;
        }
        if (!whole && !feof(f)) {
            rc = pm_err_set(err, PM_ERR_PARSE, "%s:%d: line too long for an anchor", path, no);
            break;
        }
        if (sscanf(p, "seq=%lld hash=%64[0-9a-f]%n", &seq, hash, &end) != 2 || strlen(hash) != 64 ||
            seq < 1 || (p[end] != ' ' && p[end] != '\n' && p[end])) {
            rc = pm_err_set(err, PM_ERR_PARSE,
                            "%s:%d: not an anchor (expected \"seq=N hash=64 hex digits ...\")",
                            path, no);
            break;
        }
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            anchor_line *grown = pm_arena_alloc(a, ncap * sizeof *grown);
            if (*n)
                memcpy(grown, *out, *n * sizeof *grown);
            *out = grown;
            cap = ncap;
        }
        anchor_line *x = &(*out)[(*n)++];
        x->seq = seq;
        memcpy(x->hash, hash, sizeof x->hash);
        x->line = no;
    }
    if (!rc && ferror(f))
        rc =
            pm_err_set(err, PM_ERR_IO, "cannot read the anchor file %s: %s", path, strerror(errno));
    fclose(f);
    if (!rc && *n > 1)
        qsort(*out, *n, sizeof **out, anchor_cmp);
    return rc;
}

static void broken(audit_verdict *v, int64_t seq, const char *problem)
{
    v->intact = false;
    v->broken_seq = seq;
    v->problem = problem;
}

/* The newest run, incident and proposal must each be the subject of an
 * event: seen[] says which were. */
static pm_code check_newest(pm_arena *a, audit_verdict *v, const int64_t newest[3],
                            const bool seen[3])
{
    static const char *const what[3] = {"run", "incident", "proposal"};
    static const char *const event[3] = {"run.started", "incident.open", "proposal.created"};
    for (int k = 0; k < 3; k++) {
        if (!newest[k] || seen[k])
            continue;
        if (!v->events)
            broken(v, 1,
                   pm_arena_sprintf(a,
                                    "the audit log is empty, but the warehouse has %s %lld "
                                    "(its events were removed)",
                                    what[k], (long long)newest[k]));
        else
            broken(v, v->head_seq + 1,
                   pm_arena_sprintf(a,
                                    "no event names %s %lld, the newest %s (no %s for it): "
                                    "events were removed from the end of the log after event "
                                    "%lld",
                                    what[k], (long long)newest[k], what[k], event[k],
                                    (long long)v->head_seq));
        return PM_OK;
    }
    return PM_OK;
}

static pm_code verify(pm_store *s, const char *anchor, bool anchor_missing_ok, pm_arena *a,
                      audit_verdict *v, pm_err *err)
{
    memset(v, 0, sizeof *v);
    v->intact = true;
    const char *key = audit_key.key;
    v->key_env = audit_key.env;
    v->key_used = key != NULL;
    anchor_line *anc = NULL;
    size_t nanc = 0, j = 0;
    if (anchor) {
        pm_code rc = anchors_read(anchor, anchor_missing_ok, a, &anc, &nanc, err);
        if (rc)
            return rc;
        v->anchors = (int64_t)nanc;
    }
    /* The newest ids are read before the events: a run made meanwhile
     * commits with its run.started, which the scan below then sees. */
    int64_t newest[3];
    bool seen[3] = {false, false, false};
    pm_code rc = store_newest_ids(s, &newest[0], &newest[1], &newest[2], err);
    if (rc)
        return rc;
    char subj[3][48];
    snprintf(subj[0], sizeof subj[0], "run/%lld", (long long)newest[0]);
    snprintf(subj[1], sizeof subj[1], "incident/%lld", (long long)newest[1]);
    snprintf(subj[2], sizeof subj[2], "proposal/%lld", (long long)newest[2]);

    const char *prev = ZERO_HASH;
    int64_t expect = 1;
    int64_t after = 0;
    for (;;) {
        pm_audit_event *ev;
        size_t n;
        rc = store_audit_list(s, after, 10000, a, &ev, &n, err);
        if (rc)
            return rc;
        if (!n)
            break;
        for (size_t i = 0; i < n; i++) {
            const pm_audit_event *e = &ev[i];
            char h[65];
            v->events++;
            if (e->seq != expect) {
                broken(v, expect,
                       pm_arena_sprintf(a,
                                        "event %lld is missing: the log jumps from %lld "
                                        "to %lld (events were removed)",
                                        (long long)expect, (long long)expect - 1,
                                        (long long)e->seq));
                return PM_OK;
            }
            if (strcmp(e->prev_hash, prev) != 0) {
                broken(v, e->seq,
                       pm_arena_sprintf(a,
                                        "event %lld does not follow event %lld (its "
                                        "previous hash differs: events were removed, "
                                        "reordered or replaced)",
                                        (long long)e->seq, (long long)e->seq - 1));
                return PM_OK;
            }
            if (e->keyed)
                v->keyed++;
            if (key && !e->keyed && v->keyed) {
                broken(v, e->seq,
                       pm_arena_sprintf(a,
                                        "event %lld is not keyed, though events before it are: "
                                        "it was written without the audit key (a pipemend "
                                        "without $%s) or rewritten by someone who lacks it",
                                        (long long)e->seq, audit_key.env));
                return PM_OK;
            }
            if (!event_hash(e, key, audit_key.len, h)) {
                v->unchecked++;
            } else if (CRYPTO_memcmp(h, e->hash, 64) != 0 || strlen(e->hash) != 64) {
                broken(v, e->seq,
                       pm_arena_sprintf(a,
                                        "event %lld was changed after it was written (its hash "
                                        "does not match its contents)",
                                        (long long)e->seq));
                return PM_OK;
            }
            for (; j < nanc && anc[j].seq <= e->seq; j++) {
                if (strcmp(anc[j].hash, e->hash) != 0) {
                    broken(v, e->seq,
                           pm_arena_sprintf(a,
                                            "event %lld is not the event anchored at %s:%d (its "
                                            "hash differs: the log was rewritten and re-hashed "
                                            "since it was anchored)",
                                            (long long)e->seq, anchor, anc[j].line));
                    return PM_OK;
                }
            }
            for (int k = 0; k < 3; k++)
                if (newest[k] && !seen[k] && strcmp(e->subject, subj[k]) == 0)
                    seen[k] = true;
            prev = e->hash;
            expect++;
            after = e->seq;
            v->head_seq = e->seq;
            v->head_hash = e->hash;
            v->head_at = e->at;
        }
    }
    if (key && v->events && !v->keyed) {
        broken(v, v->head_seq,
               pm_arena_sprintf(a, "no event is keyed, though the key is set: the chain was "
                                   "rewritten without the key, or nothing was written since the "
                                   "key was configured (then the next event written, by any "
                                   "run, is keyed)"));
        return PM_OK;
    }
    if (j < nanc) {
        if (v->events)
            broken(v, anc[j].seq,
                   pm_arena_sprintf(a,
                                    "event %lld, anchored at %s:%d, is gone: the log ends at "
                                    "event %lld (events were removed from its end)",
                                    (long long)anc[j].seq, anchor, anc[j].line,
                                    (long long)v->head_seq));
        else
            broken(v, anc[j].seq,
                   pm_arena_sprintf(a,
                                    "the audit log is empty, but event %lld was anchored at "
                                    "%s:%d (its events were removed)",
                                    (long long)anc[j].seq, anchor, anc[j].line));
        return PM_OK;
    }
    return check_newest(a, v, newest, seen);
}

pm_code audit_verify(pm_store *s, const char *anchor, pm_arena *a, audit_verdict *v, pm_err *err)
{
    return verify(s, anchor, false, a, v, err);
}

pm_code audit_anchor(pm_store *s, const char *anchor, pm_arena *a, audit_verdict *v, pm_err *err)
{
    pm_code rc = verify(s, anchor, true, a, v, err);
    if (rc || !v->intact)
        return rc;
    if (!v->events) {
        pm_err_set(err, PM_ERR_NOTFOUND, "the audit log is empty: there is no head to anchor");
        return PM_ERR_NOTFOUND;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char line[256];
    int len = snprintf(line, sizeof line,
                       "seq=%lld hash=%s at=%s anchored=%04d-%02d-%02dT%02d:%02d:%02dZ\n",
                       (long long)v->head_seq, v->head_hash, v->head_at, tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (len < 0 || (size_t)len >= sizeof line) {
        pm_err_set(err, PM_ERR_INTERNAL, "the head of the audit log does not fit an anchor line");
        return PM_ERR_INTERNAL;
    }
    /* O_APPEND: one write of one line, never over what is there. */
    int fd = open(anchor, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        pm_err_set(err, PM_ERR_IO, "cannot open the anchor file %s: %s", anchor, strerror(errno));
        return PM_ERR_IO;
    }
    ssize_t w = write(fd, line, (size_t)len);
    int werr = errno;
    if (w == len && fsync(fd) != 0)
        werr = errno, w = -1;
    if (close(fd) != 0 && w == len)
        werr = errno, w = -1;
    if (w != len) {
        pm_err_set(err, PM_ERR_IO, "cannot write the anchor file %s: %s", anchor,
                   w < 0 ? strerror(werr) : "short write");
        return PM_ERR_IO;
    }
    return PM_OK;
}
