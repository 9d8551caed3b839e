/* ingest.h - one run: read sources, validate, load clean rows, quarantine
 * the rest, checkpoint, and record the run.
 *
 * Invariants kept here (DESIGN.md):
 *   1. rows read = rows loaded + rows quarantined, for every batch and so
 *      for every run: each record ends in exactly one of the two.
 *   2. a batch's rows, quarantined rows, run counters and the checkpoint of
 *      its last record commit in one transaction, so a crash at any point
 *      followed by a re-run loads every row exactly once.
 * Standard input has no identity to checkpoint: a re-run reads it again. */
#ifndef PM_PIPELINE_INGEST_H
#define PM_PIPELINE_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contract/contract.h"
#include "core/err.h"
#include "heal/policy.h"
#include "source/source.h"
#include "store/store.h"

/* What a run does with a file whose bytes already loaded changed (it was
 * truncated or rewritten in place): stop (the run fails, naming the file
 * and these choices), skip (the file is left, with a warning) or reload
 * (it is read again from the top, as a new file). */
typedef enum ingest_on_rewrite {
    ON_REWRITE_STOP,
    ON_REWRITE_SKIP,
    ON_REWRITE_RELOAD
} ingest_on_rewrite;

bool ingest_on_rewrite_parse(const char *name, ingest_on_rewrite *out);
const char *ingest_on_rewrite_name(ingest_on_rewrite v);

/* How far a run is. */
typedef struct ingest_progress {
    int64_t rows;         /* rows committed */
    uint64_t done_bytes;  /* bytes of its files read */
    uint64_t total_bytes; /* their size (0: unknown, standard input) */
    double elapsed;       /* seconds since the run started */
    bool final;           /* the last report: the run is over */
} ingest_progress;

typedef struct ingest_opts {
    const char *pipeline; /* may be NULL */
    const char *table;
    const char *const *paths; /* files, or "-" */
    size_t npaths;
    pm_format format;
    bool has_format;             /* false: from each file's extension */
    const pm_contract *contract; /* may be NULL */
    size_t batch_size;
    size_t stream_rows; /* rows per transaction of clean batches sharing a load
                         * (store_load_stream); 0: batch_size */
    size_t sample_size;
    pm_source_opts source;
    int volume_window;
    double volume_ratio;
    /* told how far the run is, at most five times a second and once at
     * the end (final); may be NULL */
    void (*on_progress)(void *arg, const ingest_progress *p);
    void *progress_arg;
    /* May be NULL. Asked after each batch is handed over: true ends the
     * run there (every batch read so far commits with its checkpoint) as
     * stopped, for a service that is shutting down. */
    bool (*should_stop)(void *arg);
    void *stop_arg;
    ingest_on_rewrite on_rewrite; /* default stop */
    /* A file's last line without a line end that does not parse is most
     * likely still being written: it is left for the next run, with a
     * warning, unless the file is complete (final: the person says so) or
     * has not changed for last_line_wait seconds; then it is quarantined as
     * malformed with its bytes, and the checkpoint moves past it. */
    bool final;
    int64_t last_line_wait;
    pm_policy policy;          /* mode auto (default): heal automatic drift inline */
    const char *policy_source; /* where it came from, recorded with proposals */
} ingest_opts;

typedef struct ingest_result {
    int64_t run_id;
    int64_t read;
    int64_t loaded;
    int64_t quarantined;
    bool anomaly;
    bool created_table;
    int held; /* sources held back under on_incident: halt */
    pm_run_status status;
} ingest_result;

/* Returns PM_OK when the run finished (rows may be quarantined: see
 * result->quarantined), an error when it could not proceed. */
pm_code ingest_run(pm_store *store, const ingest_opts *opts, ingest_result *result, pm_err *err);

/* Marks runs whose process died as aborted, with an audit event each.
 * Writes (and waits for the write lock) only when there is such a run. */
pm_code ingest_reap_aborted(pm_store *store, pm_err *err);
/* The same for a read command (status, runs): a reap that cannot write
 * now (another process writes, the disk is full, the warehouse is
 * read-only) is a warning, and the command reads on. */
void ingest_reap_for_reading(pm_store *store);

#endif
