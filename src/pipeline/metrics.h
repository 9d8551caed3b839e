/* metrics.h - what monitoring reads, measured once for every face: a
 * table's status (rows, quarantine, incidents, last run), the warehouse's
 * summary (incidents by kind and state, runs by status, mean time to
 * recovery), and the runs that failed recently with what to do about each.
 * `pipemend status`, the tools get_pipeline_status, get_metrics and
 * list_failed_pipelines, and later /metrics read from here; src/view makes
 * the JSON. */
#ifndef PM_PIPELINE_METRICS_H
#define PM_PIPELINE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/store.h"

/* Runs read to count or filter: a bound, not a page; older runs are left
 * out and the result says so (truncated). */
#define METRICS_RUNS_SCAN 10000
/* Distinct keys counted per breakdown (kinds, states, statuses are few). */
#define METRICS_KEYS_MAX 32

typedef struct metrics_table {
    bool missing; /* the catalog knows the table, the database has none (rows 0) */
    int64_t rows; /* rows pipemend loaded into it (store_table_counts), not count(*) */
    int64_t quarantined;
    pm_incident_stats incidents;
    pm_run last_run; /* valid when has_last_run; strings in the arena */
    bool has_last_run;
    /* of the rows the last run quarantined, those still in quarantine (the
     * others were replayed, or discarded by a person) */
    int64_t last_run_waiting;
} metrics_table;

/* The status of table (a name pipemend loads into), strings in a. A table
 * dropped outside pipemend is no error here: it reads as missing. */
pm_code metrics_table_read(pm_store *s, const char *table, pm_arena *a, metrics_table *out,
                           pm_err *err);

typedef struct metrics_counts {
    size_t n;
    struct {
        const char *key; /* borrowed from what was counted */
        int64_t count;
    } item[METRICS_KEYS_MAX];
} metrics_counts;

typedef struct metrics_summary {
    pm_incident_stats incidents; /* every table */
    metrics_counts incidents_by_kind, incidents_by_state;
    int64_t runs; /* runs read (at most METRICS_RUNS_SCAN) */
    bool runs_truncated;
    metrics_counts runs_by_status;
} metrics_summary;

pm_code metrics_summary_read(pm_store *s, pm_arena *a, metrics_summary *out, pm_err *err);

/* Agent sessions read for the agent's metrics (newest first): a bound. */
#define METRICS_SESSIONS_SCAN 1000

/* The reasoning agent's record (src/agent), from its stored sessions. */
typedef struct metrics_agent {
    int64_t sessions; /* read (at most METRICS_SESSIONS_SCAN) */
    bool truncated;
    metrics_counts by_outcome;
    int64_t input_tokens, output_tokens;
    double cost_usd; /* from the configured prices */
    /* decision latency: the incident detected -> the session's conclusion */
    int64_t decisions;
    double decision_s_mean, decision_s_max;
    int64_t model_calls;
    double model_ms_mean;
    size_t ntools;
    struct {
        const char *tool; /* borrowed from the arena */
        int64_t calls, failures;
    } tools[METRICS_KEYS_MAX];
} metrics_agent;

pm_code metrics_agent_read(pm_store *s, double price_in, double price_out, pm_arena *a,
                           metrics_agent *out, pm_err *err);

/* Seconds since the epoch of an ISO 8601 UTC time as the catalog writes
 * it (2026-12-06T20:51:31.830Z); false when it is not one. */
bool metrics_parse_time(const char *iso, double *out);

/* What to do about a run that failed, in a sentence. */
const char *metrics_next_step(const pm_run *r);

/* The failed runs that started in the last `hours` hours, newest first
 * (*runs in a); cutoff gets the ISO 8601 UTC time they start from. */
pm_code metrics_failed_runs(pm_store *s, int64_t hours, pm_arena *a, pm_run **runs, size_t *n,
                            char cutoff[32], pm_err *err);

#endif
