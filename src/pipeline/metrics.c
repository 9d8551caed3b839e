/* metrics.c - status, summary and failed runs (metrics.h). */
#include "pipeline/metrics.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Kept counts (store_table_counts), not count(*): a status costs the same
 * on a warehouse of any size. */
pm_code metrics_table_read(pm_store *s, const char *table, pm_arena *a, metrics_table *out,
                           pm_err *err)
{
    *out = (metrics_table){0};
    pm_run *runs;
    size_t n = 0;
    bool exists = false;
    pm_table_counts c;
    pm_code rc = store_table_exists(s, table, &exists, err);
    if (!rc)
        rc = store_table_counts(s, table, &c, err);
    if (!rc) {
        out->missing = !exists;
        out->rows = exists ? c.loaded : 0;
        out->quarantined = c.quarantined;
    }
    if (!rc)
        rc = store_incident_stats(s, table, &out->incidents, err);
    if (!rc)
        rc = store_runs_list(s, NULL, table, 1, a, &runs, &n, err);
    if (!rc && n) {
        out->last_run = runs[0];
        out->has_last_run = true;
        if (runs[0].rows_quarantined)
            rc = store_run_waiting(s, table, runs[0].id, &out->last_run_waiting, err);
    }
    return rc;
}

static void count_in(metrics_counts *c, const char *key)
{
    key = key ? key : "";
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->item[i].key, key) == 0) {
            c->item[i].count++;
            return;
        }
    }
    if (c->n < METRICS_KEYS_MAX) {
        c->item[c->n].key = key;
        c->item[c->n++].count = 1;
    }
}

pm_code metrics_summary_read(pm_store *s, pm_arena *a, metrics_summary *out, pm_err *err)
{
    *out = (metrics_summary){0};
    pm_incident *ins;
    size_t nin, nr;
    pm_run *runs;
    pm_incident_filter all = {.no_rows = true}; /* states and kinds, not rows */
    pm_code rc = store_incident_stats(s, NULL, &out->incidents, err);
    if (!rc)
        rc = store_incidents_list(s, &all, a, &ins, &nin, err);
    if (!rc)
        rc = store_runs_list(s, NULL, NULL, METRICS_RUNS_SCAN, a, &runs, &nr, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < nin; i++) {
        count_in(&out->incidents_by_kind, ins[i].kind);
        count_in(&out->incidents_by_state, ins[i].state);
    }
    for (size_t i = 0; i < nr; i++)
        count_in(&out->runs_by_status, run_status_name(runs[i].status));
    out->runs = (int64_t)nr;
    out->runs_truncated = nr >= METRICS_RUNS_SCAN;
    return PM_OK;
}

const char *metrics_next_step(const pm_run *r)
{
    if (r->status == RUN_QUARANTINED)
        return "rows wait in quarantine: list_incidents, then get_incident for the diagnosis";
    if (r->status == RUN_HELD)
        return "the source is held back until its incident closes: list_incidents, then "
               "get_incident";
    if (r->status == RUN_ABORTED)
        return "the process died mid-run; its committed batches stand, and the next run "
               "resumes from the checkpoint";
    return "the run could not proceed: read the error, fix its cause, then run the pipeline "
           "again";
}

pm_code metrics_failed_runs(pm_store *s, int64_t hours, pm_arena *a, pm_run **runs, size_t *n,
                            char cutoff[32], pm_err *err)
{
    /* Timestamps are ISO 8601 UTC text in both backends, so the cut-off
     * compares as text. */
    time_t since = time(NULL) - (time_t)hours * 3600;
    struct tm tm;
    gmtime_r(&since, &tm);
    strftime(cutoff, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    pm_run *all;
    size_t nall;
    pm_code rc = store_runs_list(s, NULL, NULL, METRICS_RUNS_SCAN, a, &all, &nall, err);
    if (rc)
        return rc;
    *runs = pm_arena_alloc(a, (nall ? nall : 1) * sizeof **runs);
    *n = 0;
    for (size_t i = 0; i < nall; i++) {
        if (!all[i].started_at || strcmp(all[i].started_at, cutoff) < 0)
            break; /* newest first: the rest are older */
        if (run_status_needs_attention(all[i].status))
            (*runs)[(*n)++] = all[i];
    }
    return PM_OK;
}

bool metrics_parse_time(const char *iso, double *out)
{
    struct tm tm = {0};
    int ms = 0;
    if (!iso || sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                       &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return false;
    const char *dot = strchr(iso, '.');
    if (dot)
        sscanf(dot + 1, "%3d", &ms);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (double)timegm(&tm) + ms / 1000.0;
    return true;
}

pm_code metrics_agent_read(pm_store *s, double price_in, double price_out, pm_arena *a,
                           metrics_agent *out, pm_err *err)
{
    *out = (metrics_agent){0};
    pm_agent_session *xs;
    size_t n;
    pm_code rc = store_agent_sessions(s, 0, 0, METRICS_SESSIONS_SCAN, a, &xs, &n, err);
    if (rc)
        return rc;
    out->sessions = (int64_t)n;
    out->truncated = n >= METRICS_SESSIONS_SCAN;
    double model_ms = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const pm_agent_session *x = &xs[i];
        count_in(&out->by_outcome, x->outcome);
        out->input_tokens += x->input_tokens;
        out->output_tokens += x->output_tokens;
        pm_incident_filter f = {.id = x->incident, .no_rows = true};
        pm_incident *in;
        size_t nin;
        double t0, t1;
        rc = store_incidents_list(s, &f, a, &in, &nin, err);
        if (!rc && nin == 1 && x->finished_at && metrics_parse_time(in[0].detected_at, &t0) &&
            metrics_parse_time(x->finished_at, &t1)) {
            double d = t1 - t0 < 0 ? 0 : t1 - t0;
            out->decisions++;
            out->decision_s_mean += d;
            if (d > out->decision_s_max)
                out->decision_s_max = d;
        }
        pm_agent_step *st;
        size_t nst;
        if (!rc)
            rc = store_agent_steps(s, x->id, a, &st, &nst, err);
        for (size_t k = 0; !rc && k < nst; k++) {
            if (strcmp(st[k].kind, "model") == 0) {
                out->model_calls++;
                model_ms += (double)st[k].latency_ms;
                continue;
            }
            size_t t = 0;
            while (t < out->ntools && strcmp(out->tools[t].tool, st[k].tool) != 0)
                t++;
            if (t == out->ntools) {
                if (out->ntools == METRICS_KEYS_MAX)
                    continue;
                out->tools[out->ntools++].tool = st[k].tool;
            }
            out->tools[t].calls++;
            out->tools[t].failures += strcmp(st[k].outcome ? st[k].outcome : "", "ok") != 0;
        }
    }
    if (out->decisions)
        out->decision_s_mean /= (double)out->decisions;
    if (out->model_calls)
        out->model_ms_mean = model_ms / (double)out->model_calls;
    out->cost_usd =
        ((double)out->input_tokens * price_in + (double)out->output_tokens * price_out) / 1e6;
    return rc;
}
