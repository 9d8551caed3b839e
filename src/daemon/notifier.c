/* notifier.c - delivering the outbox to webhook sinks (notifier.h). */
#include "daemon/notifier.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/http.h"
#include "audit/audit.h"
#include "core/log.h"
#include "pipeline/notify.h"

/* Items taken per look, how long a claim lasts beyond the sink's timeout,
 * backoff bounds (s), and how often the audit chain is verified (s). */
#define DUE_BATCH 50
#define CLAIM_SLACK_S 30
#define BACKOFF_MAX_S 3600.0
#define VERIFY_EVERY_S 600

struct notifier {
    char *db;
    const pm_config *cfg;
    pthread_mutex_t mu;
    pthread_t thread;
    volatile int stopping;
};

static const pm_notify_sink *sink_of(const pm_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && i < cfg->nsinks; i++)
        if (strcmp(cfg->sinks[i].name, name) == 0)
            return &cfg->sinks[i];
    return NULL;
}

/* "sha256=" + hex HMAC of "ts.body" under secret, into out. */
static void sign(const char *secret, const char *ts, const char *body, char out[80])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t tl = strlen(ts), bl = strlen(body);
    unsigned char *msg = malloc(tl + 1 + bl);
    out[0] = '\0';
    if (!msg)
        return;
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, bl);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + bl, md, &len);
    free(msg);
    int k = snprintf(out, 80, "sha256=");
    for (unsigned int i = 0; i < len && i < 32; i++)
        k += snprintf(out + k, (size_t)(80 - k), "%02x", md[i]);
}

static const char *headline(const char *event)
{
    if (strcmp(event, "incident.opened") == 0)
        return "Incident opened";
    if (strcmp(event, "proposal.awaiting") == 0)
        return "A repair waits for a person";
    if (strcmp(event, "proposal.applied") == 0)
        return "Repair applied";
    if (strcmp(event, "proposal.rejected") == 0)
        return "Repair rejected";
    if (strcmp(event, "run.failed") == 0)
        return "Run failed";
    if (strcmp(event, "volume.anomaly") == 0)
        return "Volume anomaly";
    if (strcmp(event, "audit.verify_failed") == 0)
        return "Audit log verification failed";
    return event;
}

/* Slack's mrkdwn needs &, < and > escaped. */
static void mrkdwn(pm_buf *b, const char *s)
{
    pm_err err;
    for (; s && *s; s++) {
        if (*s == '&')
            pm_buf_puts(b, "&amp;", &err);
        else if (*s == '<')
            pm_buf_puts(b, "&lt;", &err);
        else if (*s == '>')
            pm_buf_puts(b, "&gt;", &err);
        else
            pm_buf_putc(b, *s, &err);
    }
}

/* The Slack message for an item: blocks with what happened, the table,
 * the proposal in words and its dry run, and a link. */
static char *slack_body(pm_store *s, const pm_notify_sink *k, const pm_outbox_item *it)
{
    json_t *n = json_loads(it->payload, 0, NULL);
    json_t *d = json_object_get(n, "details");
    const char *table = json_string_value(json_object_get(d, "table"));
    const char *column = json_string_value(json_object_get(d, "column"));
    const char *kind = json_string_value(json_object_get(d, "kind"));
    const char *message = json_string_value(json_object_get(d, "message"));
    const char *error = json_string_value(json_object_get(d, "error"));
    int64_t proposal = json_integer_value(json_object_get(d, "proposal"));
    pm_buf b;
    pm_err err;
    pm_buf_init(&b, 1 << 20);
    pm_buf_printf(&b, &err, "*%s*", headline(it->event));
    if (table) {
        pm_buf_puts(&b, " on `", &err);
        mrkdwn(&b, table);
        if (column && *column) {
            pm_buf_puts(&b, ".", &err);
            mrkdwn(&b, column);
        }
        pm_buf_puts(&b, "`", &err);
    }
    if (kind)
        pm_buf_printf(&b, &err, " (%s)", kind);
    if (message || error) {
        pm_buf_puts(&b, "\n", &err);
        mrkdwn(&b, message ? message : error);
    }
    json_t *blocks = json_array();
    json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text",
                                            "type", "mrkdwn", "text", b.data ? b.data : ""));
    /* the proposal in words, with its dry run */
    if (proposal > 0) {
        pm_arena *a = pm_arena_new(0);
        pm_proposal *ps;
        size_t np;
        if (store_proposals_list(s, NULL, NULL, proposal, a, &ps, &np, &err) == PM_OK && np == 1) {
            pm_buf_reset(&b);
            pm_buf_printf(&b, &err, "*Proposal %lld* (%s):", (long long)proposal,
                          proposal_state_name(ps[0].state));
            json_t *why = json_loads(ps[0].why, 0, NULL);
            size_t i;
            json_t *w;
            json_array_foreach(why, i, w)
            {
                pm_buf_puts(&b, "\n- ", &err);
                mrkdwn(&b, json_string_value(w));
            }
            json_decref(why);
            json_t *dr = ps[0].dry_run ? json_loads(ps[0].dry_run, 0, NULL) : NULL;
            if (json_is_object(dr))
                pm_buf_printf(&b, &err, "\nDry run: %s, fixes %lld of %lld quarantined rows",
                              json_is_true(json_object_get(dr, "ok")) ? "ok" : "failed",
                              (long long)json_integer_value(json_object_get(dr, "fixed")),
                              (long long)json_integer_value(json_object_get(dr, "rows")));
            json_decref(dr);
            json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "section",
                                                    "text", "type", "mrkdwn", "text", b.data));
        }
        pm_arena_free(a);
        if (k->link_base) {
            pm_buf_reset(&b);
            pm_buf_printf(&b, &err,
                          "<%s/api/v1/proposals/%lld|Proposal %lld> - approve with "
                          "`pipemend proposals approve %lld`",
                          k->link_base, (long long)proposal, (long long)proposal,
                          (long long)proposal);
            json_array_append_new(blocks, json_pack("{s:s, s:[{s:s, s:s}]}", "type", "context",
                                                    "elements", "type", "mrkdwn", "text", b.data));
        }
    }
    pm_buf_reset(&b);
    pm_buf_printf(&b, &err, "pipemend: %s%s%s", headline(it->event), table ? " on " : "",
                  table ? table : "");
    json_t *msg = json_pack("{s:s, s:o}", "text", b.data, "blocks", blocks);
    char *out = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    json_decref(n);
    pm_buf_free(&b);
    return out;
}

/* One attempt; *retry_after (s, < 0 when absent); error set on failure. */
static bool deliver(pm_store *s, const pm_notify_sink *k, const pm_outbox_item *it,
                    double *retry_after, char *error, size_t n)
{
    *retry_after = -1;
    char *body = k->slack ? slack_body(s, k, it) : strdup(it->payload);
    if (!body) {
        snprintf(error, n, "cannot build the message");
        return false;
    }
    char ts[32], id[32], h[5][600], sig[80];
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    snprintf(id, sizeof id, "%lld", (long long)it->id);
    const char *hl[6];
    size_t nh = 0;
    snprintf(h[nh], sizeof h[nh], "X-Pipemend-Event: %s", it->event);
    hl[nh] = h[nh];
    nh++;
    snprintf(h[nh], sizeof h[nh], "X-Pipemend-Delivery: %s", id);
    hl[nh] = h[nh];
    nh++;
    snprintf(h[nh], sizeof h[nh], "X-Pipemend-Timestamp: %s", ts);
    hl[nh] = h[nh];
    nh++;
    const char *secret = k->secret_env ? getenv(k->secret_env) : NULL;
    if (secret && *secret) {
        sign(secret, ts, body, sig);
        snprintf(h[nh], sizeof h[nh], "X-Pipemend-Signature: %s", sig);
        hl[nh] = h[nh];
        nh++;
    }
    hl[nh] = NULL;
    agent_http_answer ans;
    pm_err err = {0};
    pm_code rc = agent_http_post(k->url, hl, body, k->timeout * 1000, NULL, NULL, &ans, &err);
    free(body);
    bool ok = !rc && ans.status >= 200 && ans.status < 300;
    if (!ok) {
        if (rc)
            snprintf(error, n, "%s", ans.timed_out ? "no answer within the timeout" : ans.error);
        else
            snprintf(error, n, "HTTP %ld", ans.status);
        *retry_after = ans.retry_after;
    }
    pm_buf_free(&ans.body);
    return ok;
}

static void deliver_due(notifier *nf, pm_store *s)
{
    pm_arena *a = pm_arena_new(0);
    pm_outbox_item *items;
    size_t n;
    pm_err err = {0};
    int64_t now = (int64_t)time(NULL);
    if (store_outbox_due(s, now, DUE_BATCH, a, &items, &n, &err)) {
        pm_warn("serve: cannot read the notifications outbox: %s", err.msg);
        pm_arena_free(a);
        return;
    }
    for (size_t i = 0; i < n && !nf->stopping; i++) {
        pthread_mutex_lock(&nf->mu);
        const pm_config *cfg = nf->cfg;
        pthread_mutex_unlock(&nf->mu);
        const pm_notify_sink *k = sink_of(cfg, items[i].sink);
        bool got;
        long timeout = k ? k->timeout : 10;
        if (store_outbox_claim(s, items[i].id, now, now + timeout + CLAIM_SLACK_S, &got, &err) ||
            !got)
            continue; /* another replica has it */
        char error[300] = "";
        double retry_after = -1;
        bool ok = false;
        if (!k)
            snprintf(error, sizeof error, "no sink \"%s\" in pipemend.yaml any more",
                     items[i].sink);
        else
            ok = deliver(s, k, &items[i], &retry_after, error, sizeof error);
        double wait = 0;
        if (!ok) {
            double base = fmin(BACKOFF_MAX_S, pow(2.0, (double)items[i].attempts));
            wait = base * (0.5 + 0.5 * ((double)rand() / RAND_MAX));
            if (retry_after > wait)
                wait = fmin(retry_after, BACKOFF_MAX_S);
            if (wait < 1)
                wait = 1;
        }
        if (store_outbox_done(s, items[i].id, ok, ok ? NULL : error,
                              (int64_t)time(NULL) + (int64_t)wait, &err))
            pm_warn("serve: cannot record notification %lld: %s", (long long)items[i].id, err.msg);
        else if (ok)
            pm_info("serve: notified %s of %s (%s)", items[i].sink, items[i].event,
                    items[i].subject);
        else
            pm_warn("serve: notification %lld to %s failed (%s); retrying in %.0f s",
                    (long long)items[i].id, items[i].sink, error, wait);
    }
    pm_arena_free(a);
}

/* The audit chain, verified again; a chain that stops verifying is told. */
static void verify(notifier *nf, pm_store *s, bool *was_ok)
{
    pm_arena *a = pm_arena_new(0);
    pthread_mutex_lock(&nf->mu);
    const pm_config *cfg = nf->cfg;
    pthread_mutex_unlock(&nf->mu);
    char buf[4096];
    const char *anchor = config_audit_anchor_to_verify(cfg, buf, sizeof buf);
    audit_verdict v;
    pm_err err = {0};
    if (audit_verify(s, anchor, a, &v, &err) != PM_OK) {
        pm_warn("serve: cannot verify the audit log: %s", err.msg);
    } else if (!v.intact && *was_ok) {
        pm_error("serve: the audit log no longer verifies: %s", v.problem ? v.problem : "");
        json_t *d =
            json_pack("{s:s, s:I, s:I}", "problem", v.problem ? v.problem : "", "broken_seq",
                      (json_int_t)v.broken_seq, "events", (json_int_t)v.events);
        if (notify_enqueue(s, cfg, NE_AUDIT_VERIFY_FAILED, "audit", d, &err))
            pm_warn("serve: cannot queue audit.verify_failed: %s", err.msg);
        *was_ok = false;
    } else if (v.intact) {
        *was_ok = true;
    }
    pm_arena_free(a);
}

static void *loop(void *arg)
{
    notifier *nf = arg;
    pm_store *s = NULL;
    pm_err err = {0};
    double last_verify = 0;
    bool was_ok = true;
    agent_http_init();
    while (!nf->stopping) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 500 * 1000000L};
        nanosleep(&ts, NULL);
        if (!s && store_open_existing(nf->db, &s, &err) != PM_OK) {
            s = NULL;
            continue;
        }
        deliver_due(nf, s);
        if ((double)time(NULL) - last_verify >= VERIFY_EVERY_S) {
            last_verify = (double)time(NULL);
            verify(nf, s, &was_ok);
        }
    }
    if (s)
        store_close(s);
    return NULL;
}

notifier *notifier_start(const char *db, const pm_config *cfg, pm_err *err)
{
    notifier *nf = calloc(1, sizeof *nf);
    if (!nf) {
        pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    nf->db = strdup(db);
    nf->cfg = cfg;
    pthread_mutex_init(&nf->mu, NULL);
    if (pthread_create(&nf->thread, NULL, loop, nf) != 0) {
        pm_err_set(err, PM_ERR_INTERNAL, "cannot start the notifier's thread");
        pthread_mutex_destroy(&nf->mu);
        free(nf->db);
        free(nf);
        return NULL;
    }
    return nf;
}

void notifier_use(notifier *nf, const pm_config *cfg)
{
    pthread_mutex_lock(&nf->mu);
    nf->cfg = cfg;
    pthread_mutex_unlock(&nf->mu);
}

void notifier_free(notifier *nf)
{
    if (!nf)
        return;
    nf->stopping = 1;
    pthread_join(nf->thread, NULL);
    pthread_mutex_destroy(&nf->mu);
    free(nf->db);
    free(nf);
}
