/* audit.c - appends to and verifies the hash chain of audit.h. The store
 * keeps the rows; this file owns what they mean: the canonical encoding,
 * the hash and the verdict. */
#include "audit/audit.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static void feed(EVP_MD_CTX *ctx, const char *s)
{
    char len[24];
    size_t n = s ? strlen(s) : 0;
    int k = snprintf(len, sizeof len, "%zu:", n);
    EVP_DigestUpdate(ctx, len, (size_t)k);
    if (n)
        EVP_DigestUpdate(ctx, s, n);
    EVP_DigestUpdate(ctx, ";", 1);
}

void audit_hash(const pm_audit_event *e, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", (long long)e->seq);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        pm_oom(sizeof(void *));
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, "pipemend-audit-v1;", 18);
    feed(ctx, seq);
    feed(ctx, e->at);
    feed(ctx, e->actor);
    feed(ctx, e->action);
    feed(ctx, e->subject);
    feed(ctx, e->payload);
    feed(ctx, e->prev_hash);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
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
    pm_audit_event e = {.at = at,
                        .actor = actor,
                        .action = action,
                        .subject = subject,
                        .payload = payload ? payload : "{}"};
    return store_audit_append(s, &e, audit_hash, err);
}

pm_code audit_verify(pm_store *s, pm_arena *a, audit_verdict *v, pm_err *err)
{
    memset(v, 0, sizeof *v);
    v->intact = true;
    const char *prev = ZERO_HASH;
    int64_t expect = 1;
    int64_t after = 0;
    for (;;) {
        pm_audit_event *ev;
        size_t n;
        pm_code rc = store_audit_list(s, after, 10000, a, &ev, &n, err);
        if (rc)
            return rc;
        if (!n)
            return PM_OK;
        for (size_t i = 0; i < n; i++) {
            const pm_audit_event *e = &ev[i];
            char h[65];
            v->events++;
            if (e->seq != expect) {
                v->problem =
                    pm_arena_sprintf(a,
                                     "event %lld is missing: the log jumps from %lld "
                                     "to %lld (events were removed)",
                                     (long long)expect, (long long)expect - 1, (long long)e->seq);
                v->broken_seq = expect;
            } else if (strcmp(e->prev_hash, prev) != 0) {
                v->problem = pm_arena_sprintf(a,
                                              "event %lld does not follow event %lld (its "
                                              "previous hash differs: events were removed, "
                                              "reordered or replaced)",
                                              (long long)e->seq, (long long)e->seq - 1);
                v->broken_seq = e->seq;
            } else {
                audit_hash(e, h);
                if (strcmp(h, e->hash) != 0) {
                    v->problem = pm_arena_sprintf(
                        a,
                        "event %lld was changed after it was written (its hash does not match "
                        "its contents)",
                        (long long)e->seq);
                    v->broken_seq = e->seq;
                }
            }
            if (v->broken_seq) {
                v->intact = false;
                return PM_OK;
            }
            prev = e->hash;
            expect++;
            after = e->seq;
        }
    }
}
