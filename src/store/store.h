/* store.h - the warehouse: one interface, one backend per database.
 *
 * Everything pipemend keeps lives in the warehouse beside the data, in
 * tables prefixed `_pipemend_` (schema versions, checkpoints, runs,
 * quarantine), so one transaction commits rows, quarantined rows, the run's
 * counters and the checkpoint together: that is how a crash at any point
 * loses nothing and loads nothing twice.
 *
 * URLs: `sqlite:PATH` (the embedded default). PostgreSQL arrives with its
 * backend; until then a postgres URL is a clear usage error. Nothing outside
 * src/store includes a database client header. */
#ifndef PM_STORE_STORE_H
#define PM_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contract/contract.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/value.h"
#include "heal/op.h"
#include "schema/table.h"

typedef struct pm_store pm_store;

/* Opens the warehouse and creates the catalog tables if missing. */
pm_code store_open(const char *url, pm_store **out, pm_err *err);
void store_close(pm_store *s);

pm_code store_begin(pm_store *s, pm_err *err);
pm_code store_commit(pm_store *s, pm_err *err);
pm_code store_rollback(pm_store *s, pm_err *err);

/* Applies typed ops (already through the guard and the policy) to table
 * from, whose result is to (op_result): checks that the catalog still has
 * from->version (PM_ERR_BUSY otherwise: someone changed the table since the
 * plan), runs the DDL rendered from the ops for this backend, and records
 * to as the next schema version with reason. All in one transaction: the
 * caller's if one is open (it holds the migration lock), else its own. */
pm_code store_apply_ops(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                        const pm_table *to, const char *reason, pm_err *err);

/* Valid table name for pipemend: already in normalised form (colname.h)
 * and not in the catalog's `_pipemend_` namespace. */
bool store_table_name_ok(const char *name, pm_err *err);

/* Logical schema of a table from the catalog (latest version), allocated in
 * arena; *out is NULL when pipemend does not know the table. */
pm_code store_table_load(pm_store *s, const char *name, pm_arena *arena, pm_table **out,
                         pm_err *err);
/* Creates the table and records schema version 1. Runs inside the caller's
 * transaction. */
pm_code store_table_create(pm_store *s, const pm_table *t, pm_err *err);
/* Makes the table enforce exactly the contract's unique key (unique may
 * be NULL: no key): its index is created if missing, indexes pipemend made
 * for other keys are dropped; *changed counts both. Rows already breaking
 * the key make this a PM_ERR_CONFIG. Key columns must exist in t. */
pm_code store_unique_ensure(pm_store *s, const pm_table *t, const contract_rule *unique,
                            int *changed, pm_err *err);
pm_code store_tables_list(pm_store *s, pm_arena *arena, pm_table ***out, size_t *n, pm_err *err);
pm_code store_table_count(pm_store *s, const char *name, int64_t *rows, pm_err *err);

/* Prepares the insert for t's columns; store_insert binds one row of
 * t->ncols cells. A unique-key violation returns PM_ERR_CONSTRAINT and
 * leaves the transaction usable. */
pm_code store_insert_prepare(pm_store *s, const pm_table *t, pm_err *err);
pm_code store_insert(pm_store *s, const pm_cell *cells, pm_err *err);

typedef struct pm_qrow {
    int64_t id;
    int64_t run_id;
    const char *table;
    const char *pipeline; /* may be NULL */
    const char *source;
    int64_t offset;
    int64_t line;
    const char *raw; /* original bytes (not NUL-safe: use raw_len) */
    size_t raw_len;
    bool raw_truncated;
    const char *kinds;    /* "new_field,widen" */
    const char *message;  /* the first finding's message */
    const char *findings; /* JSON array */
    const char *status;   /* "quarantined" */
    const char *created_at;
} pm_qrow;

pm_code store_quarantine_add(pm_store *s, const pm_qrow *q, pm_err *err);
/* Newest first; table NULL for all, run_id 0 for all, limit <= 0 for all. */
pm_code store_quarantine_list(pm_store *s, const char *table, int64_t run_id, int limit,
                              pm_arena *arena, pm_qrow **out, size_t *n, pm_err *err);
/* Takes a row out of quarantine once it is loaded (replay). */
pm_code store_quarantine_remove(pm_store *s, int64_t id, pm_err *err);
/* Rows in quarantine for table (NULL: all tables). */
pm_code store_quarantine_count(pm_store *s, const char *table, int64_t *n, pm_err *err);
pm_code store_quarantine_get(pm_store *s, int64_t id, pm_arena *arena, pm_qrow *out, bool *found,
                             pm_err *err);

/* Checkpoint of one source for one table: where the last committed record
 * ends, the line number there, and the fingerprint of the loaded bytes. */
typedef struct pm_checkpoint {
    uint64_t offset;
    uint64_t line;
    uint64_t fingerprint;
} pm_checkpoint;

pm_code store_checkpoint_get(pm_store *s, const char *table, const char *source, pm_checkpoint *out,
                             bool *found, pm_err *err);
pm_code store_checkpoint_set(pm_store *s, const char *table, const char *source,
                             const pm_checkpoint *cp, pm_err *err);

typedef struct pm_run {
    int64_t id;
    const char *pipeline; /* may be NULL for a plain ingest */
    const char *table;
    const char *status; /* running, succeeded, quarantined, failed, aborted */
    const char *started_at;
    const char *finished_at; /* NULL while running */
    int64_t rows_read;
    int64_t rows_loaded;
    int64_t rows_quarantined;
    const char *error; /* NULL, or what stopped the run */
    bool volume_anomaly;
    const char *volume_note; /* why it was flagged, or NULL */
} pm_run;

/* Inserts a run in state `running` and commits it on its own, so that a
 * run that dies still shows up. */
pm_code store_run_start(pm_store *s, const char *pipeline, const char *table, int64_t *id,
                        pm_err *err);
/* Adds to the run's counters; called inside each batch's transaction. */
pm_code store_run_add(pm_store *s, int64_t id, int64_t read, int64_t loaded, int64_t quarantined,
                      pm_err *err);
pm_code store_run_finish(pm_store *s, int64_t id, const char *status, const char *error,
                         bool anomaly, const char *volume_note, pm_err *err);
pm_code store_run_get(pm_store *s, int64_t id, pm_arena *arena, pm_run *out, bool *found,
                      pm_err *err);
/* Newest first; pipeline/table NULL for all; limit <= 0 for all. */
pm_code store_runs_list(pm_store *s, const char *pipeline, const char *table, int limit,
                        pm_arena *arena, pm_run **out, size_t *n, pm_err *err);
/* Marks runs left `running` by a process that no longer exists as
 * `aborted` (their committed batches stay; their counters are true), and
 * returns their ids (in arena) so the caller can audit the decision. */
pm_code store_runs_reap(pm_store *s, pm_arena *arena, int64_t **ids, size_t *n, pm_err *err);

/* A proposal: typed ops planned for a table, waiting for a person (or
 * decided). ops and why are JSON (ops_to_json; an array of strings). */
typedef struct pm_proposal {
    int64_t id;
    const char *table;
    int64_t run_id;
    int version;       /* the schema version it was planned against */
    const char *state; /* pending, applied, rejected */
    const char *ops;
    const char *why;
    const char *created_at;
    const char *decided_by; /* NULL while pending */
    const char *decided_at;
} pm_proposal;

/* Adds a pending proposal unless an identical one (same table and ops) is
 * pending already; *id is the new or the existing one, *created says
 * which. */
pm_code store_proposal_add(pm_store *s, const pm_proposal *p, int64_t *id, bool *created,
                           pm_err *err);
/* Newest first; table/state NULL for all; id 0 for all. */
pm_code store_proposals_list(pm_store *s, const char *table, const char *state, int64_t id,
                             pm_arena *arena, pm_proposal **out, size_t *n, pm_err *err);
/* Moves a pending proposal to state, recording who decided. PM_ERR_BUSY
 * if it is no longer pending. */
pm_code store_proposal_decide(pm_store *s, int64_t id, const char *state, const char *actor,
                              pm_err *err);

/* One event of the audit log (src/audit/audit.h says what it means). */
typedef struct pm_audit_event {
    int64_t seq;
    const char *at; /* ISO 8601 UTC */
    const char *actor;
    const char *action;
    const char *subject;
    const char *payload;   /* JSON object */
    const char *prev_hash; /* 64 hex digits */
    const char *hash;
} pm_audit_event;

/* Appends e: the store takes the append lock (joining the caller's
 * transaction or opening its own), sets e->seq and e->prev_hash from the
 * last event, calls hash(e, buf) to fill e->hash, and inserts it. */
pm_code store_audit_append(pm_store *s, pm_audit_event *e,
                           void (*hash)(const pm_audit_event *e, char out[65]), pm_err *err);
/* Events with seq > after, in seq order; limit <= 0 for all. */
pm_code store_audit_list(pm_store *s, int64_t after, int limit, pm_arena *arena,
                         pm_audit_event **out, size_t *n, pm_err *err);

#endif
