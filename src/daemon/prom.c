/* prom.c - the /metrics route (prom.h). */
#include "daemon/prom.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "pipeline/metrics.h"

/* The body of one scrape can grow with tables and pipelines; a bound. */
#define PROM_MAX_BODY (64u << 20)
/* Runs read for the duration histogram: the newest ones. */
#define PROM_RUNS_SCAN 10000

static const double run_buckets[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
static const double resolve_buckets[] = {60,    300,   900,    3600,  4 * 3600,
                                         43200, 86400, 259200, 604800};
#define NB(a) (sizeof a / sizeof a[0])

/* A label value as the exposition format escapes it. */
static void label(pm_buf *b, const char *v)
{
    pm_err err;
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\')
            pm_buf_puts(b, "\\\\", &err);
        else if (*p == '"')
            pm_buf_puts(b, "\\\"", &err);
        else if (*p == '\n')
            pm_buf_puts(b, "\\n", &err);
        else
            pm_buf_putc(b, *p, &err);
    }
}

static void head(pm_buf *b, const char *name, const char *type, const char *help)
{
    pm_err err;
    pm_buf_printf(b, &err, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} value */
static void sample(pm_buf *b, const char *name, const char *k1, const char *v1, const char *k2,
                   const char *v2, double value)
{
    pm_err err;
    pm_buf_puts(b, name, &err);
    if (k1) {
        pm_buf_printf(b, &err, "{%s=\"", k1);
        label(b, v1);
        pm_buf_putc(b, '"', &err);
        if (k2) {
            pm_buf_printf(b, &err, ",%s=\"", k2);
            label(b, v2);
            pm_buf_putc(b, '"', &err);
        }
        pm_buf_putc(b, '}', &err);
    }
    if (value == floor(value) && fabs(value) < 1e15)
        pm_buf_printf(b, &err, " %.0f\n", value);
    else
        pm_buf_printf(b, &err, " %.6f\n", value);
}

typedef struct hist {
    const char *key;
    const double *bounds;
    size_t nb;
    int64_t counts[16]; /* cumulative after fill */
    int64_t n;
    double sum;
} hist;

static void hist_add(hist *h, double v)
{
    for (size_t i = 0; i < h->nb; i++)
        if (v <= h->bounds[i])
            h->counts[i]++;
    h->n++;
    h->sum += v;
}

static void hist_write(pm_buf *b, const char *name, const char *k, const hist *h)
{
    pm_err err;
    char bucket[128], le[32];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    for (size_t i = 0; i <= h->nb; i++) {
        if (i < h->nb)
            snprintf(le, sizeof le, "%g", h->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        pm_buf_puts(b, bucket, &err);
        pm_buf_putc(b, '{', &err);
        if (k) {
            pm_buf_printf(b, &err, "%s=\"", k);
            label(b, h->key);
            pm_buf_puts(b, "\",", &err);
        }
        pm_buf_printf(b, &err, "le=\"%s\"} %lld\n", le,
                      (long long)(i < h->nb ? h->counts[i] : h->n));
    }
    char nm[128];
    snprintf(nm, sizeof nm, "%s_sum", name);
    sample(b, nm, k, h->key, NULL, NULL, h->sum);
    snprintf(nm, sizeof nm, "%s_count", name);
    sample(b, nm, k, h->key, NULL, NULL, (double)h->n);
}

/* The histogram of key in hs (n of them, at most max), added when new. */
static hist *hist_of(hist *hs, size_t *n, size_t max, const char *key, const double *bounds,
                     size_t nb)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(hs[i].key, key) == 0)
            return &hs[i];
    if (*n == max)
        return NULL;
    hist *h = &hs[(*n)++];
    memset(h, 0, sizeof *h);
    h->key = key;
    h->bounds = bounds;
    h->nb = nb;
    return h;
}

static int by_table_kind(const void *x, const void *y)
{
    const pm_incident *a = *(pm_incident *const *)x, *b = *(pm_incident *const *)y;
    int c = strcmp(a->table, b->table);
    return c ? c : strcmp(a->kind, b->kind);
}

static int by_string(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static const char *pipe_label(const char *p)
{
    return p ? p : "";
}

char *prom_render(pm_store *s, tools_ctx *t, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    pm_buf b;
    pm_buf_init(&b, PROM_MAX_BODY);
    pm_run_totals *tot;
    size_t ntot;
    pm_code rc = store_run_totals(s, a, &tot, &ntot, err);

    /* rows and runs */
    static const struct {
        const char *name, *help;
        size_t off;
    } rows[] = {
        {"pipemend_rows_read_total", "Rows read by runs, per pipeline and table.",
         offsetof(pm_run_totals, rows_read)},
        {"pipemend_rows_loaded_total", "Rows loaded into the table, per pipeline and table.",
         offsetof(pm_run_totals, rows_loaded)},
        {"pipemend_rows_quarantined_total", "Rows quarantined, per pipeline and table.",
         offsetof(pm_run_totals, rows_quarantined)},
        {"pipemend_volume_anomalies_total",
         "Runs flagged as a volume anomaly, per pipeline and table.",
         offsetof(pm_run_totals, volume_anomalies)},
    };
    for (size_t m = 0; !rc && m < NB(rows); m++) {
        head(&b, rows[m].name, "counter", rows[m].help);
        /* one sample per (pipeline, table): statuses summed */
        for (size_t i = 0; i < ntot; i++) {
            bool first = true;
            for (size_t k = 0; k < i; k++)
                if (strcmp(pipe_label(tot[k].pipeline), pipe_label(tot[i].pipeline)) == 0 &&
                    strcmp(tot[k].table, tot[i].table) == 0)
                    first = false;
            if (!first)
                continue;
            int64_t sum = 0;
            for (size_t k = i; k < ntot; k++)
                if (strcmp(pipe_label(tot[k].pipeline), pipe_label(tot[i].pipeline)) == 0 &&
                    strcmp(tot[k].table, tot[i].table) == 0)
                    sum += *(const int64_t *)((const char *)&tot[k] + rows[m].off);
            sample(&b, rows[m].name, "pipeline", pipe_label(tot[i].pipeline), "table", tot[i].table,
                   (double)sum);
        }
    }
    if (!rc) {
        head(&b, "pipemend_runs_total", "counter", "Runs, per pipeline and final status.");
        for (size_t i = 0; i < ntot; i++) {
            bool first = true;
            for (size_t k = 0; k < i; k++)
                if (strcmp(pipe_label(tot[k].pipeline), pipe_label(tot[i].pipeline)) == 0 &&
                    tot[k].status == tot[i].status)
                    first = false;
            if (!first)
                continue;
            int64_t sum = 0;
            for (size_t k = i; k < ntot; k++)
                if (strcmp(pipe_label(tot[k].pipeline), pipe_label(tot[i].pipeline)) == 0 &&
                    tot[k].status == tot[i].status)
                    sum += tot[k].runs;
            sample(&b, "pipemend_runs_total", "pipeline", pipe_label(tot[i].pipeline), "status",
                   run_status_name(tot[i].status), (double)sum);
        }
        head(&b, "pipemend_last_success_timestamp_seconds", "gauge",
             "When the newest run that loaded its rows (succeeded or quarantined) finished, per "
             "pipeline (freshness).");
        for (size_t i = 0; i < ntot; i++) {
            if (tot[i].status != RUN_SUCCEEDED && tot[i].status != RUN_QUARANTINED)
                continue;
            double best = 0, v;
            bool seen = false;
            for (size_t k = 0; k < ntot; k++)
                if (strcmp(pipe_label(tot[k].pipeline), pipe_label(tot[i].pipeline)) == 0 &&
                    (tot[k].status == RUN_SUCCEEDED || tot[k].status == RUN_QUARANTINED) &&
                    metrics_parse_time(tot[k].last_finished, &v)) {
                    if (k < i)
                        seen = true;
                    if (v > best)
                        best = v;
                }
            if (!seen && best > 0)
                sample(&b, "pipemend_last_success_timestamp_seconds", "pipeline",
                       pipe_label(tot[i].pipeline), NULL, NULL, best);
        }
    }

    /* run durations */
    pm_run *runs = NULL;
    size_t nruns = 0;
    if (!rc)
        rc = store_runs_list(s, NULL, NULL, PROM_RUNS_SCAN, a, &runs, &nruns, err);
    if (!rc) {
        hist hs[64];
        size_t nh = 0;
        for (size_t i = 0; i < nruns; i++) {
            double t0, t1;
            if (!runs[i].finished_at || !metrics_parse_time(runs[i].started_at, &t0) ||
                !metrics_parse_time(runs[i].finished_at, &t1))
                continue;
            hist *h =
                hist_of(hs, &nh, 64, pipe_label(runs[i].pipeline), run_buckets, NB(run_buckets));
            if (h)
                hist_add(h, t1 - t0 < 0 ? 0 : t1 - t0);
        }
        head(&b, "pipemend_run_duration_seconds", "histogram",
             "How long runs took, per pipeline (the newest 10000 runs).");
        for (size_t i = 0; i < nh; i++)
            hist_write(&b, "pipemend_run_duration_seconds", "pipeline", &hs[i]);
    }

    /* incidents */
    pm_incident *ins = NULL;
    size_t nin = 0;
    pm_incident_filter all = {.no_rows = true}; /* states and kinds, not rows */
    if (!rc)
        rc = store_incidents_list(s, &all, a, &ins, &nin, err);
    if (!rc) {
        head(&b, "pipemend_incidents_open", "gauge",
             "Incidents neither resolved nor dismissed, per table and kind.");
        /* sorted by table and kind, then counted in one pass */
        pm_incident **order = pm_arena_alloc(a, (nin ? nin : 1) * sizeof *order);
        size_t nact = 0;
        for (size_t i = 0; i < nin; i++)
            if (strcmp(ins[i].state, "resolved") != 0 && strcmp(ins[i].state, "dismissed") != 0)
                order[nact++] = &ins[i];
        qsort(order, nact, sizeof *order, by_table_kind);
        for (size_t i = 0; i < nact;) {
            size_t k = i;
            while (k < nact && by_table_kind(&order[i], &order[k]) == 0)
                k++;
            sample(&b, "pipemend_incidents_open", "table", order[i]->table, "kind", order[i]->kind,
                   (double)(k - i));
            i = k;
        }
        hist hs[32];
        size_t nh = 0;
        for (size_t i = 0; i < nin; i++) {
            double t0, t1;
            if (strcmp(ins[i].state, "resolved") != 0 ||
                !metrics_parse_time(ins[i].detected_at, &t0) ||
                !metrics_parse_time(ins[i].resolved_at, &t1))
                continue;
            hist *h = hist_of(hs, &nh, 32, ins[i].kind, resolve_buckets, NB(resolve_buckets));
            if (h)
                hist_add(h, t1 - t0 < 0 ? 0 : t1 - t0);
        }
        head(&b, "pipemend_incident_resolve_seconds", "histogram",
             "From an incident's detection to its resolution, per kind (MTTR).");
        for (size_t i = 0; i < nh; i++)
            hist_write(&b, "pipemend_incident_resolve_seconds", "kind", &hs[i]);
    }

    /* proposals waiting */
    pm_proposal *ps = NULL;
    size_t nps = 0;
    pm_proposal_state pending = PROP_PENDING;
    if (!rc)
        rc = store_proposals_list(s, NULL, &pending, 0, a, &ps, &nps, err);
    if (!rc) {
        head(&b, "pipemend_proposals_waiting", "gauge",
             "Proposals waiting for a person, per table.");
        const char **tables = pm_arena_alloc(a, (nps ? nps : 1) * sizeof *tables);
        for (size_t i = 0; i < nps; i++)
            tables[i] = ps[i].table;
        qsort(tables, nps, sizeof *tables, by_string);
        for (size_t i = 0; i < nps;) {
            size_t k = i;
            while (k < nps && strcmp(tables[i], tables[k]) == 0)
                k++;
            sample(&b, "pipemend_proposals_waiting", "table", tables[i], NULL, NULL,
                   (double)(k - i));
            i = k;
        }
    }

    /* the agent */
    metrics_agent ag;
    const pm_agent_cfg *ac = t && t->cfg ? &t->cfg->agent : NULL;
    if (!rc)
        rc =
            metrics_agent_read(s, ac ? ac->price_input : 0, ac ? ac->price_output : 0, a, &ag, err);
    if (!rc) {
        head(&b, "pipemend_agent_sessions_total", "counter",
             "The reasoning agent's sessions, per outcome (the newest 1000).");
        for (size_t i = 0; i < ag.by_outcome.n; i++)
            sample(&b, "pipemend_agent_sessions_total", "outcome", ag.by_outcome.item[i].key, NULL,
                   NULL, (double)ag.by_outcome.item[i].count);
        head(&b, "pipemend_agent_tokens_total", "counter", "Tokens the agent's model calls used.");
        sample(&b, "pipemend_agent_tokens_total", "direction", "input", NULL, NULL,
               (double)ag.input_tokens);
        sample(&b, "pipemend_agent_tokens_total", "direction", "output", NULL, NULL,
               (double)ag.output_tokens);
        head(&b, "pipemend_agent_tool_calls_total", "counter",
             "The agent's tool calls, per tool and outcome.");
        for (size_t i = 0; i < ag.ntools; i++) {
            sample(&b, "pipemend_agent_tool_calls_total", "tool", ag.tools[i].tool, "outcome", "ok",
                   (double)(ag.tools[i].calls - ag.tools[i].failures));
            sample(&b, "pipemend_agent_tool_calls_total", "tool", ag.tools[i].tool, "outcome",
                   "failed", (double)ag.tools[i].failures);
        }
    }

    /* this process's MCP tool calls */
    if (!rc && t && t->call_stats) {
        time_t since;
        json_t *st = t->call_stats(t->face, &since);
        size_t i;
        json_t *v;
        head(&b, "pipemend_mcp_tool_calls_total", "counter",
             "MCP tool calls this process answered, per tool.");
        json_array_foreach(st, i, v)
            sample(&b, "pipemend_mcp_tool_calls_total", "tool",
                   json_string_value(json_object_get(v, "tool")), NULL, NULL,
                   (double)json_integer_value(json_object_get(v, "calls")));
        head(&b, "pipemend_mcp_tool_failures_total", "counter",
             "MCP tool calls this process answered with an error, per tool.");
        json_array_foreach(st, i, v)
            sample(&b, "pipemend_mcp_tool_failures_total", "tool",
                   json_string_value(json_object_get(v, "tool")), NULL, NULL,
                   (double)json_integer_value(json_object_get(v, "failures")));
        json_decref(st);
    }

    /* the audit log */
    int64_t seq = 0;
    if (!rc)
        rc = store_audit_head(s, &seq, err);
    if (!rc) {
        head(&b, "pipemend_audit_events_total", "counter", "Events in the audit log.");
        sample(&b, "pipemend_audit_events_total", NULL, NULL, NULL, NULL, (double)seq);
    }
    pm_arena_free(a);
    if (rc || !b.data) {
        pm_buf_free(&b);
        if (!rc)
            pm_err_set(err, PM_ERR_NOMEM, "cannot render the metrics");
        return NULL;
    }
    return b.data;
}

/* ---- the route ------------------------------------------------------------------- */

typedef struct prom_route {
    tools_ctx *t;
    pthread_mutex_t mu;
    pm_store *store;
    char *cached;
    double cached_at;
} prom_route;

static void prom_headers(void *arg, http_req *rq)
{
    const char *m = http_req_method(rq);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        http_add_header(rq, "Allow", "GET, HEAD");
        http_answer_error(rq, 405, "Method Not Allowed: " PROM_PATH " takes GET");
    }
}

static void prom_handle(void *arg, http_req *rq)
{
    prom_route *r = arg;
    pm_err err = {0};
    pthread_mutex_lock(&r->mu);
    if (!r->cached || pm_clock_ms() - r->cached_at > 1000.0) {
        if (!r->store && store_open_existing(r->t->db, &r->store, &err) != PM_OK)
            r->store = NULL;
        char *text = r->store ? prom_render(r->store, r->t, &err) : NULL;
        if (text) {
            free(r->cached);
            r->cached = text;
            r->cached_at = pm_clock_ms();
        } else if (r->store) {
            store_close(r->store); /* a broken connection: open again next time */
            r->store = NULL;
        }
    }
    if (r->cached)
        http_answer(rq, 200, "text/plain; version=0.0.4; charset=utf-8", r->cached,
                    strlen(r->cached));
    else
        http_answer_error(rq, 503, "the warehouse cannot be read: %s", err.msg);
    pthread_mutex_unlock(&r->mu);
}

static void prom_free(void *arg)
{
    prom_route *r = arg;
    if (r->store)
        store_close(r->store);
    free(r->cached);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

pm_code prom_mount(http_server *srv, tools_ctx *t, pm_err *err)
{
    prom_route *r = calloc(1, sizeof *r);
    if (!r)
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    r->t = t;
    pthread_mutex_init(&r->mu, NULL);
    http_route route = {.path = PROM_PATH,
                        .headers = prom_headers,
                        .handle = prom_handle,
                        .free = prom_free,
                        .arg = r};
    pm_code rc = http_server_mount(srv, &route, err);
    if (rc)
        prom_free(r);
    return rc;
}
