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
#include "core/buf.h"
#include "core/err.h"
#include "core/value.h"
#include "schema/op.h"
#include "schema/table.h"
#include "store/proposal.h"
#include "store/run.h"

typedef struct pm_store pm_store;

/* Opens the warehouse and creates the catalog tables if missing. */
pm_code store_open(const char *url, pm_store **out, pm_err *err);
/* The same for a warehouse that must exist already: a SQLite path with no
 * file behind it is a PM_ERR_CONFIG that says so, instead of a new empty
 * database (what a command that only reads, or acts on what is there,
 * must not leave behind when --db has a typo). A PostgreSQL database is
 * never created by pipemend, so there it is store_open. */
pm_code store_open_existing(const char *url, pm_store **out, pm_err *err);
void store_close(pm_store *s);

/* Rows per batch when the configuration sets none: 5000 on SQLite, where
 * a batch is a cheap local transaction; 20000 on PostgreSQL, where each
 * batch costs its round trips and its COPY's start. Memory stays bounded by
 * two batches either way. */
size_t store_default_batch(const pm_store *s);
/* Rows per transaction of clean batches that share a load
 * (store_load_stream) when the configuration sets no batch size: 250000
 * on PostgreSQL, whose COPY writes its first 16 MiB of table slowly (see
 * pg_table.c). */
size_t store_stream_rows(const pm_store *s);
/* Whether several machines can share this warehouse (PostgreSQL) or it is
 * one process's file (SQLite): decides how `serve` replicas coordinate. */
bool store_shared(const pm_store *s);
/* "sqlite" or "postgresql". */
const char *store_backend_name(const pm_store *s);

pm_code store_begin(pm_store *s, pm_err *err);
/* Begins a batch's transaction: like store_begin, but its commit need not
 * wait until it is durable (PostgreSQL: synchronous_commit off for it;
 * SQLite's WAL with synchronous=NORMAL never waits). A crash may lose the
 * last batches, each with its checkpoint, so the next run loads them again;
 * any later ordinary commit (the run's end) makes them durable. */
pm_code store_begin_batch(pm_store *s, pm_err *err);
pm_code store_commit(pm_store *s, pm_err *err);
/* Whether a transaction is open on s. */
bool store_in_tx(pm_store *s);
pm_code store_rollback(pm_store *s, pm_err *err);

/* Applies typed ops (already through the guard and the policy) to table
 * from, whose result is to (op_result): checks that the catalog still has
 * from->version (PM_ERR_BUSY otherwise: someone changed the table since the
 * plan), runs the DDL rendered from the ops for this backend, and records
 * to as the next schema version with reason. All in one transaction: the
 * caller's if one is open (it holds the migration lock), else its own. */
/* Takes table's migration lock in the caller's transaction, for work that
 * must see one schema version until it commits (a page of a replay): no
 * migration of the table and no other holder of the lock runs meanwhile.
 * *version gets the version the catalog has now (0: none). */
pm_code store_table_lock(pm_store *s, const char *table, int *version, pm_err *err);
pm_code store_apply_ops(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                        const pm_table *to, const char *reason, pm_err *err);

/* The DDL store_apply_ops would run for ops on from (whose result is to)
 * on this backend, each statement ending ";\n", appended to out; nothing
 * runs. Empty when the ops change the catalog only (a mapping, a
 * coercion). */
pm_code store_render_ddl(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                         const pm_table *to, pm_buf *out, pm_err *err);

/* PostgreSQL's catalog, for `init --print-grants`, which creates it as the
 * role that owns it (the roles pipemend runs as may not): the i-th object's
 * name, whether it is a table (else an index), and the statement that makes
 * it (schema-qualified, IF NOT EXISTS). False past the last object. The
 * catalog lives in the schema STORE_PG_CATALOG_SCHEMA. */
#define STORE_PG_CATALOG_SCHEMA "pipemend"
bool store_pg_catalog_object(size_t i, const char **name, bool *table, const char **sql);
/* The i-th statement that adds a column to an existing PostgreSQL catalog
 * (ALTER TABLE ... ADD COLUMN IF NOT EXISTS), NULL past the last. */
const char *store_pg_catalog_upgrade(size_t i);

/* Valid table name for pipemend: already in normalised form (colname.h)
 * and not in the catalog's `_pipemend_` namespace. */
bool store_table_name_ok(const char *name, pm_err *err);

/* Logical schema of a table from the catalog (latest version), allocated in
 * arena; *out is NULL when pipemend does not know the table. */
pm_code store_table_load(pm_store *s, const char *name, pm_arena *arena, pm_table **out,
                         pm_err *err);
/* The live table as the database describes it (introspected, not the
 * catalog's), as a logical table in arena: each column keeps the type of
 * the catalog's t where the database's declaration still stands for it,
 * else the logical type the declaration holds; t's aliases, formats and
 * dropped names carry over; version is t's + 1. *exists is false when the
 * database has no such table. */
pm_code store_table_live(pm_store *s, const pm_table *t, pm_arena *arena, pm_table **live,
                         bool *exists, pm_err *err);
/* Records t (already as the database has it) as the next schema version
 * with reason, in the caller's transaction: a change made outside
 * pipemend, adopted. */
pm_code store_table_adopt(pm_store *s, const pm_table *t, const char *reason, pm_err *err);

/* Creates the table and records schema version 1. Runs inside the caller's
 * transaction. */
pm_code store_table_create(pm_store *s, const pm_table *t, pm_err *err);
/* The same under the table's migration lock (in the caller's
 * transaction), for runs that may create one table at once: when another
 * run created it first, nothing is created and *winner is its schema (in
 * arena); else *winner is NULL and t was created. */
pm_code store_table_create_locked(pm_store *s, const pm_table *t, pm_arena *arena,
                                  pm_table **winner, pm_err *err);
/* Makes the table enforce exactly the contract's unique key (unique may
 * be NULL: no key): its index is created if missing, indexes pipemend made
 * for other keys are dropped; *changed counts both. Rows already breaking
 * the key make this a PM_ERR_CONFIG. Key columns must exist in t. */
pm_code store_unique_ensure(pm_store *s, const pm_table *t, const contract_rule *unique,
                            int *changed, pm_err *err);
pm_code store_tables_list(pm_store *s, pm_arena *arena, pm_table ***out, size_t *n, pm_err *err);
/* The same with each table's name and version only (no columns: cheap, for
 * listings). */
pm_code store_tables_brief(pm_store *s, pm_arena *arena, pm_table ***out, size_t *n, pm_err *err);
/* PM_ERR_NOTFOUND when the database has no such table (dropped outside
 * pipemend): callers that list many tables show that one as missing. */
pm_code store_table_count(pm_store *s, const char *name, int64_t *rows, pm_err *err);

/* What pipemend knows of a table without counting its rows (counts.c):
 * kept by the writes that change them, in their transactions, so reading
 * them costs the same at any size. */
typedef struct pm_table_counts {
    int64_t loaded;      /* rows pipemend loaded into it (ingest, replay); a reset or a
                          * drop makes it 0. Not count(*): rows other programs insert
                          * or delete are not counted */
    int64_t quarantined; /* its rows waiting in quarantine */
    int64_t replayed;    /* rows replayed out of quarantine into it, ever */
    int64_t discarded;   /* rows discarded from its quarantine, ever */
    bool kept;           /* false: this warehouse keeps no counts (it could not be
                          * written when opened): loaded is count(*), replayed and
                          * discarded are 0 */
} pm_table_counts;
pm_code store_table_counts(pm_store *s, const char *table, pm_table_counts *out, pm_err *err);
/* Rows of table's run that still wait in quarantine (kept as above). */
pm_code store_run_waiting(pm_store *s, const char *table, int64_t run, int64_t *n, pm_err *err);
/* What store_quarantine_count_where counts (table NULL: all; run 0:
 * all), from the kept counts: quarantine list's total. */
pm_code store_quarantine_total(pm_store *s, const char *table, int64_t run, int64_t *n,
                               pm_err *err);
/* Whether the database has the table (false: dropped outside pipemend). */
pm_code store_table_exists(pm_store *s, const char *name, bool *exists, pm_err *err);

/* Prepares the insert for t's columns; store_insert binds one row of
 * t->ncols cells. A row the table refuses (a unique key, a constraint
 * added by hand) returns PM_ERR_CONSTRAINT, with detail "unique" for a
 * unique key, and leaves the transaction usable. */
pm_code store_insert_prepare(pm_store *s, const pm_table *t, pm_err *err);
pm_code store_insert(pm_store *s, const pm_cell *cells, pm_err *err);

/* One row for store_load: its cells in, its outcome out. */
typedef struct pm_load_row {
    const pm_cell *cells; /* t->ncols cells of the prepared table */
    bool refused;         /* the table refused the row */
    bool unique;          /* ... because of a unique key */
    const char *why;      /* the database's words (in the arena given), or NULL */
} pm_load_row;

/* Loads rows into the table store_insert_prepare named, in the caller's
 * transaction: the backend's fastest way (PostgreSQL: COPY). A row the
 * table refuses is marked and the others load: one bad row never costs the
 * batch. Any other failure is an error and the caller rolls back. */
pm_code store_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *arena, pm_err *err);

/* A load that spans batches, for backends where each load has a start-up
 * cost (PostgreSQL: one COPY for many batches). store_load_stream sends
 * rows into the stream, opening it in the caller's transaction; nothing
 * is known of them until store_load_stream_end closes it: PM_OK when
 * every row sent since it opened is in. On any error the stream is over
 * and the caller rolls back; no row is marked, so the caller loads them
 * again with store_load, which finds refused ones. No other statement may
 * run while a stream is open. store_load_streams says whether the backend
 * has it for the prepared table. */
bool store_load_streams(pm_store *s);
pm_code store_load_stream(pm_store *s, const pm_load_row *rows, size_t n, pm_err *err);
pm_code store_load_stream_end(pm_store *s, pm_err *err);

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
    const char *header; /* CSV: the header's raw bytes, so replay can name the
                         * fields (use header_len); NULL for NDJSON */
    size_t header_len;
    char delimiter; /* CSV: the field delimiter the row was read with; 0 for
                     * NDJSON and for rows kept before it was (replay then
                     * takes the one the header holds most) */
} pm_qrow;

/* How long a PostgreSQL store tries to connect again, with backoff, when
 * its connection is lost between transactions or the server is not yet
 * accepting connections (restarting, in recovery, a failover under way):
 * long enough for a restart or a promotion. Process-wide; set once at
 * start (the configuration's postgres: reconnect_seconds). */
#define STORE_RECONNECT_SECONDS 60
void store_set_reconnect_seconds(int seconds);

/* Quarantines a row; *id (may be NULL) gets its id. */
pm_code store_quarantine_add(pm_store *s, const pm_qrow *q, int64_t *id, pm_err *err);
/* Quarantines q[0..n) together (a batch's rows); ids (may be NULL) gets
 * their ids, ascending in the order of q. PostgreSQL writes them in one
 * COPY, not a round trip each; SQLite runs its prepared insert n times. */
pm_code store_quarantine_add_many(pm_store *s, const pm_qrow *q, size_t n, int64_t *ids,
                                  pm_err *err);
/* Takes rows ids[0..n) out of quarantine at once (replay): cheaper than
 * one statement per row. *removed (may be NULL) gets how many were still
 * there to take: fewer than n when another process took some first. */
pm_code store_quarantine_remove_many(pm_store *s, const int64_t *ids, size_t n, int64_t *removed,
                                     pm_err *err);
/* The same for every row of table with an id from first to last (a replay
 * page that loaded whole): one index range, no list of ids. *removed gets
 * how many went; the caller checks it against the rows it loaded (more:
 * another process quarantined a row in the range meanwhile; fewer: one
 * took some out). */
/* Before paging through a large quarantine (a replay): brings the
 * database's statistics of the quarantine up to date when many rows
 * changed since they were taken. PostgreSQL plans a page by them: with
 * those of an empty quarantine it reads and sorts the whole rest of the
 * quarantine for each page, rather than walking the index. Nothing to do
 * on SQLite. */
pm_code store_quarantine_stats(pm_store *s, pm_err *err);
pm_code store_quarantine_remove_range(pm_store *s, const char *table, int64_t first, int64_t last,
                                      int64_t *removed, pm_err *err);
/* Replaces the findings of a row that replay found still does not fit. */
pm_code store_quarantine_update(pm_store *s, int64_t id, const char *kinds, const char *message,
                                const char *findings, pm_err *err);
/* Newest first; table NULL for all, run_id 0 for all, limit <= 0 for all. */
pm_code store_quarantine_list(pm_store *s, const char *table, int64_t run_id, int limit,
                              pm_arena *arena, pm_qrow **out, size_t *n, pm_err *err);
/* Which rows store_quarantine_browse returns: zero fields match all. */
typedef struct pm_qrow_filter {
    const char *table;
    int64_t run_id;
    const char *kind; /* a finding kind among the row's kinds */
    int64_t before;   /* ids below this one (the cursor of a page) */
} pm_qrow_filter;
/* Newest first, up to limit rows that match f: a page of the quarantine
 * for people and programs (REST), the next page starting before the last
 * id of this one. */
pm_code store_quarantine_browse(pm_store *s, const pm_qrow_filter *f, int limit, pm_arena *arena,
                                pm_qrow **out, size_t *n, pm_err *err);
/* Oldest first: up to limit rows of table with id > after (paging through
 * a quarantine of any size with bounded memory), with only what replay
 * needs to parse them again: id, run, table, source, raw bytes and header
 * (the other fields NULL or 0; store_quarantine_findings reads the
 * findings of the rows that need them). */
pm_code store_quarantine_page(pm_store *s, const char *table, int64_t after, int limit,
                              pm_arena *arena, pm_qrow **out, size_t *n, pm_err *err);
/* Fills findings and status of rows[0..n) (ascending ids, rows read by
 * store_quarantine_page): status is "stranded" for a row linked to a
 * resolved incident, else NULL; both stay NULL for a row no longer in
 * quarantine. One statement per few thousand rows. */
pm_code store_quarantine_findings(pm_store *s, pm_qrow *const *rows, size_t n, pm_arena *arena,
                                  pm_err *err);
/* Takes a row out of quarantine once it is loaded (replay), with its links
 * to incidents. */
pm_code store_quarantine_remove(pm_store *s, int64_t id, pm_err *err);
/* Rows in quarantine for table (NULL: all tables). */
pm_code store_quarantine_count(pm_store *s, const char *table, int64_t *n, pm_err *err);
pm_code store_quarantine_get(pm_store *s, int64_t id, pm_arena *arena, pm_qrow *out, bool *found,
                             pm_err *err);
/* Rows in quarantine for table (NULL: all) and run (0: all). */
pm_code store_quarantine_count_where(pm_store *s, const char *table, int64_t run_id, int64_t *n,
                                     pm_err *err);
/* A person starts table over (store's part; heal_table_remove decides):
 * under the table's migration lock, its checkpoints and held sources are
 * forgotten (so its sources load again from their start) and its rows
 * deleted (*rows: how many), or, with drop, its schema versions forgotten
 * too and the table dropped (gone already is no error). *checkpoints: how
 * many were forgotten. In the caller's transaction when one is open. The
 * only DDL that is no typed op: a person's act from the command line,
 * never a repair (DESIGN.md forbids dropping as one). */
pm_code store_table_remove(pm_store *s, const char *name, bool drop, int64_t *rows,
                           int64_t *checkpoints, pm_err *err);
/* Oldest first: up to limit rows of table (NULL: all) and run (0: all)
 * with id > after, with their table, source and position, raw bytes and
 * header (the other text fields are NULL): quarantine export's pages. */
pm_code store_quarantine_export_page(pm_store *s, const char *table, int64_t run_id, int64_t after,
                                     int limit, pm_arena *arena, pm_qrow **out, size_t *n,
                                     pm_err *err);
/* Deletes the rows of table (NULL: all), run (0: all) and id (0: all)
 * from quarantine with their links to incidents, without loading them: a
 * person's discard (heal_discard records it). *n gets how many. In the
 * caller's transaction when one is open, else its own. */
pm_code store_quarantine_discard(pm_store *s, const char *table, int64_t run_id, int64_t id,
                                 int64_t *n, pm_err *err);

/* Checkpoint of one source for one table: the position its transport
 * encoded (source/transport.h) just past the last committed record, a
 * token of at most STORE_POSITION_MAX bytes of text that the store keeps
 * as it is and never reads inside (a file's offset, line and fingerprint;
 * a Kafka partition's offset). Catalogs that kept a file's position in
 * columns of their own are upgraded to the file transport's token when
 * they are opened (sqlite.c, pg.c). get returns *position allocated in
 * arena. */
#define STORE_POSITION_MAX 4096
pm_code store_checkpoint_get(pm_store *s, const char *table, const char *source, pm_arena *arena,
                             const char **position, bool *found, pm_err *err);
pm_code store_checkpoint_set(pm_store *s, const char *table, const char *source,
                             const char *position, pm_err *err);
/* Every checkpoint of table, by source (both in arena): to find a file
 * renamed or linked since, under the key it was loaded by. */
typedef struct pm_checkpoint {
    const char *source;
    const char *position;
} pm_checkpoint;
pm_code store_checkpoints_list(pm_store *s, const char *table, pm_arena *a, pm_checkpoint **out,
                               size_t *n, pm_err *err);

/* A source held back under on_incident: halt: the quarantined row it
 * stopped at. It resumes (after that row, from its checkpoint) once every
 * incident of that row is closed. */
pm_code store_halt_set(pm_store *s, const char *table, const char *source, int64_t qrow,
                       pm_err *err);
/* *found: a halt is recorded; *qrow: the row; *incident: an active
 * incident of that row that still holds the source (0: none, it may
 * resume). */
pm_code store_halt_get(pm_store *s, const char *table, const char *source, int64_t *qrow,
                       int64_t *incident, bool *found, pm_err *err);
pm_code store_halt_clear(pm_store *s, const char *table, const char *source, pm_err *err);

typedef struct pm_run {
    int64_t id;
    const char *pipeline; /* may be NULL for a plain ingest */
    const char *table;
    pm_run_status status; /* run.h */
    const char *started_at;
    const char *finished_at; /* NULL while running */
    int64_t rows_read;
    int64_t rows_loaded;
    int64_t rows_quarantined;
    const char *error; /* NULL, or what stopped the run */
    bool volume_anomaly;
    const char *volume_note; /* why it was flagged, or NULL */
} pm_run;

/* Inserts a run in state `running`, in the caller's transaction if one is
 * open (ingest commits it with its run.started event at once, so that a
 * run that dies still shows up), else on its own. */
pm_code store_run_start(pm_store *s, const char *pipeline, const char *table, int64_t *id,
                        pm_err *err);
/* Adds to the run's counters; called inside each batch's transaction. */
pm_code store_run_add(pm_store *s, int64_t id, int64_t read, int64_t loaded, int64_t quarantined,
                      pm_err *err);
pm_code store_run_finish(pm_store *s, int64_t id, pm_run_status status, const char *error,
                         bool anomaly, const char *volume_note, pm_err *err);
pm_code store_run_get(pm_store *s, int64_t id, pm_arena *arena, pm_run *out, bool *found,
                      pm_err *err);
/* A short text (at most 96 bytes with its NUL) that changes whenever a
 * read through s may give another answer: any commit to the warehouse, by
 * this connection or another (SQLite: the file's data version and this
 * connection's changes; PostgreSQL: the transaction snapshot, which moves
 * with every transaction that wrote). Equal tokens mean the same data, so
 * a reader may keep what it read under a token (daemon/rest.c). */
#define STORE_DATA_TOKEN_MAX 96
pm_code store_data_token(pm_store *s, char *out, size_t cap, pm_err *err);
/* Newest first; pipeline/table NULL for all; limit <= 0 for all. */
pm_code store_runs_list(pm_store *s, const char *pipeline, const char *table, int limit,
                        pm_arena *arena, pm_run **out, size_t *n, pm_err *err);
/* Marks runs left `running` by a process that no longer exists as
 * `aborted` (their committed batches stay; their counters are true): on
 * this host, a process whose pid is gone; on another host, a serve
 * replica that let its pipeline's lease expire (daemon/scheduler.h). It
 * returns their ids (in arena) so the caller can audit the decision. */
pm_code store_runs_reap(pm_store *s, pm_arena *arena, int64_t **ids, size_t *n, pm_err *err);
/* Whether a run is `running` with its process gone (what store_runs_reap
 * would mark): a read, no lock taken. */
pm_code store_runs_dead(pm_store *s, bool *any, pm_err *err);

/* A proposal: typed ops planned for a table, waiting for a person (or
 * decided). ops and why are JSON (ops_to_json; an array of strings). */
typedef struct pm_proposal {
    int64_t id;
    const char *table;
    int64_t run_id;
    int64_t incident;        /* the incident it would resolve (0: none) */
    int version;             /* the schema version it was planned against */
    pm_proposal_state state; /* proposal.h */
    const char *ops;
    const char *why;
    const char *created_at;
    const char *decided_by; /* NULL while pending */
    const char *decided_at;
    const char *dry_run; /* JSON outcome of the last sandbox run, or NULL */
    /* the policy it was made under (policy_to_json), or NULL (made by a
     * pipemend before proposals recorded it): every later decision takes
     * the strictest of this, the table's and the deciding process's */
    const char *policy;
} pm_proposal;

/* Adds a pending proposal unless an identical one (same table and ops) is
 * pending already, or was rejected (a person said no: it is not asked
 * again); *id is the new or the existing one, *created says which. */
pm_code store_proposal_add(pm_store *s, const pm_proposal *p, int64_t *id, bool *created,
                           pm_err *err);
/* Newest first; table/state NULL for all; id 0 for all. */
pm_code store_proposals_list(pm_store *s, const char *table, const pm_proposal_state *state,
                             int64_t id, pm_arena *arena, pm_proposal **out, size_t *n,
                             pm_err *err);
/* Moves a pending proposal to state, recording who decided. PM_ERR_BUSY
 * if it is no longer pending. */
pm_code store_proposal_decide(pm_store *s, int64_t id, pm_proposal_state state, const char *actor,
                              pm_err *err);

/* Records the outcome of a dry run (JSON) on the proposal. */
pm_code store_proposal_set_dry_run(pm_store *s, int64_t id, const char *outcome, pm_err *err);

/* An incident: the findings of one kind about one column of one table,
 * from their first detection to their resolution (heal/incident.h has the
 * state machine; the store records, the heal part decides). */
typedef struct pm_incident {
    int64_t id;
    const char *table;
    const char *column; /* "" when the findings name no column (malformed) */
    const char *kind;   /* finding kind, drift_kind_name */
    const char *state;
    int64_t run_id;      /* the run that detected it */
    int64_t proposal;    /* the proposal of its latest plan (0: none) */
    int64_t rows;        /* quarantined rows linked to it now */
    const char *message; /* the first finding's message */
    /* when it reached each state (NULL: not yet); resolved_at is when it
     * closed, resolved or dismissed */
    const char *detected_at, *planned_at, *applied_at, *replayed_at, *resolved_at;
    const char *decided_by; /* who dismissed it, or NULL */
    const char *note;       /* the latest word on it (dry run, dismissal), or NULL */
} pm_incident;

/* The active (neither resolved nor dismissed) incident for in's table,
 * column and kind; one is opened (state open, detected now, by in->run_id,
 * with in->message) when there is none. *created says which. */
pm_code store_incident_open(pm_store *s, const pm_incident *in, int64_t *id, bool *created,
                            pm_err *err);
/* Links a quarantined row to an incident (idempotent) if it is still
 * active; *linked is false when nothing was linked (the incident closed
 * since the caller looked it up, or the link was there already). */
pm_code store_incident_link(pm_store *s, int64_t incident, int64_t qrow, bool *linked, pm_err *err);
/* Links qrow[i] to incident[i] for every i < n whose incident is still
 * active, as store_incident_link does one, in bulk: the rows of one
 * incident with consecutive ids become one range (catalog.c, RANGE_BLOCK);
 * linked[i] says which were linked (a pair given twice is linked once).
 * The qrow are rows the caller quarantined in its open transaction (a
 * batch's), so none of them has a link yet. */
pm_code store_incident_link_many(pm_store *s, const int64_t *incident, const int64_t *qrow,
                                 size_t n, bool *linked, pm_err *err);
/* Quarantined rows of table linked to a resolved incident: rows that
 * arrived while a repair was replayed, which a replay must see again. */
pm_code store_quarantine_stranded(pm_store *s, const char *table, int64_t *n, pm_err *err);
/* Forgets every link of a quarantined row (its findings were replaced). */
pm_code store_incident_unlink_row(pm_store *s, int64_t qrow, pm_err *err);
/* Records a move to state: stamps the state's time (planned, applied,
 * replayed, resolved/dismissed), sets the proposal when not 0, the note
 * when not NULL and decided_by when actor is not NULL. */
pm_code store_incident_set(pm_store *s, int64_t id, const char *state, int64_t proposal,
                           const char *note, const char *actor, pm_err *err);
/* Which incidents store_incidents_list returns: zero fields match all. */
typedef struct pm_incident_filter {
    const char *table;
    bool active_only; /* skip resolved and dismissed ones */
    int64_t id;
    int64_t proposal; /* those whose latest plan is this proposal */
    int64_t limit;    /* at most this many, the newest (0: all) */
    bool no_rows;     /* leave each incident's rows 0: counting them costs what the
                       * quarantine holds, which summaries (metrics) do not need */
} pm_incident_filter;

/* Newest first. */
pm_code store_incidents_list(pm_store *s, const pm_incident_filter *f, pm_arena *arena,
                             pm_incident **out, size_t *n, pm_err *err);
/* How many store_incidents_list would return without f->limit; by table
 * and active_only only (f->id and f->proposal 0). */
pm_code store_incidents_count(pm_store *s, const pm_incident_filter *f, int64_t *n, pm_err *err);
/* Incident counts and time to recovery, for one table (NULL: all). */
typedef struct pm_incident_stats {
    int64_t active, resolved, dismissed;
    double mttr_seconds;          /* mean of resolved_at - detected_at over resolved ones */
    double mean_to_plan_seconds;  /* detected -> first planned, where planned */
    double mean_to_apply_seconds; /* detected -> applied, where applied */
} pm_incident_stats;
pm_code store_incident_stats(pm_store *s, const char *table, pm_incident_stats *out, pm_err *err);

/* Quarantined rows linked to an incident, oldest first (newest first when
 * newest); limit <= 0: all. */
pm_code store_incident_rows(pm_store *s, int64_t incident, bool newest, int limit, pm_arena *arena,
                            pm_qrow **out, size_t *n, pm_err *err);

/* The sandbox: a scratch copy of a table, for a dry run of ops before they
 * touch the real one. store_sandbox_begin creates a clone of from (outside
 * the warehouse's data: SQLite uses an attached in-memory database), copies
 * up to sample of its existing rows into it, applies the DDL rendered from
 * ops so that the clone has to's columns, and prepares an insert for them
 * (*copied: rows copied). store_sandbox_load loads rows of to->ncols
 * cells into it as store_load does: a row the clone refuses is marked
 * (refused, why in arena) and the others load; any other failure is an
 * error. store_sandbox_end throws
 * the clone away; it is safe after a failed begin. Not inside a
 * transaction. On PostgreSQL, when the columns the ops change have
 * dependents (store_table_dependents), the ops are first rehearsed on the
 * real table, carrying its views through as the apply would, in a
 * savepoint that is always rolled back: the dry run meets what the apply
 * will meet (a view on a view, an owner that is not pipemend's role). */
pm_code store_sandbox_begin(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                            const pm_table *to, int sample, int64_t *copied, pm_err *err);
pm_code store_sandbox_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *arena, pm_err *err);
void store_sandbox_end(pm_store *s);

/* An object in the database that depends on a column ops change (the
 * blast radius of a proposal), and what the apply does with it:
 *   re-created  a view or materialized view (and its grants, comments,
 *               indexes) that a change of type cannot pass: pipemend saves
 *               its definition, drops it and creates it again exactly in
 *               the apply's transaction (refreshed if it was populated)
 *   rebuilt     an index, constraint or statistics object the database
 *               rebuilds by itself
 *   kept        unaffected (a grant on the column, a publication of the
 *               table, a trigger on the table)
 *   refused     an object pipemend cannot carry through losslessly (a
 *               rule, a policy, a trigger or publication filter on the
 *               column, a generated column, a trigger on a view): the op
 *               is not applied while it stands */
typedef struct pm_dependent {
    const char *column; /* the column of the table it depends on */
    const char *kind;   /* view, materialized view, rule, index, constraint,
                         * trigger, policy, publication, grant, ... */
    const char *name;   /* the database's own description ("view public.v") */
    const char *action; /* re-created, rebuilt, kept, refused */
    const char *note;   /* why, or on what (may be NULL) */
} pm_dependent;

/* The dependents of the columns ops change on table t as the database has
 * it now, in arena (none on SQLite, where a view is not checked until it
 * is read and pipemend's changes keep every column a view names). */
pm_code store_table_dependents(pm_store *s, const pm_table *t, const pm_op *ops, size_t n,
                               pm_arena *arena, pm_dependent **out, size_t *nout, pm_err *err);

/* One existing value a widening would change. */
typedef struct pm_value_change {
    const char *before, *after; /* as text */
} pm_value_change;

/* A widening of table.column from -> to that changes stored values:
 * int64 -> float64 rounds integers beyond +-2^53 to the nearest float64;
 * timestamp -> timestamptz reads each value in the session's time zone
 * (PostgreSQL; SQLite reads it as UTC). *rows: how many rows hold a value
 * that may change; *out: up to max of them that do, before and after (in
 * arena). Any other edge changes no value: *rows 0, *n 0. */
pm_code store_widen_changes(pm_store *s, const char *table, const char *column, pm_type from,
                            pm_type to, int max, pm_arena *arena, pm_value_change **out, size_t *n,
                            int64_t *rows, pm_err *err);

/* What changing a column's type in place costs on table (a retype,
 * op.h): the rows and the bytes of the table (with its indexes) that are
 * copied, and the lock held meanwhile. PostgreSQL rewrites the table under
 * an ACCESS EXCLUSIVE lock (reads wait too); SQLite rebuilds it holding
 * the database's write lock. bytes is -1 when the backend cannot tell.
 * lock and note are static text. */
typedef struct pm_rewrite_cost {
    int64_t rows, bytes;
    const char *lock, *note;
} pm_rewrite_cost;

pm_code store_rewrite_cost(pm_store *s, const char *table, pm_rewrite_cost *out, pm_err *err);

/* Up to max non-null values of table.column as text (in arena), the
 * ones a plain scan meets first (on both backends, usually the oldest). */
pm_code store_column_sample(pm_store *s, const char *table, const char *column, int max,
                            pm_arena *arena, const char ***out, size_t *n, pm_err *err);

/* Before a retype (op.h) of a varchar or text column casts its values:
 * each distinct value that type_fits takes for the new type, or that
 * type_coerce_datetime parses with the op's format (may be NULL), gets
 * the text the cast takes (ISO 8601 for a date/time) where that differs,
 * kept as (column, value, text) in a temporary table of pairs; the first
 * value that does neither fails with PM_ERR_SCHEMA naming it, and nothing
 * changes. Then the column's values are rewritten through the pairs by one
 * UPDATE, unless store_retype_in_alter: PostgreSQL cannot write the new
 * text back into a varchar(n) it does not fit ("1/5/2015 9:30" is 19
 * characters in ISO), so there the ALTER's USING maps each value through
 * pg_temp._pipemend_retype_iso(column, value) (render_retype), and the
 * pairs stay in the session's temp schema for it. qualified is the table
 * as SQL names it (schema-qualified and quoted), since a sandbox clone
 * lives elsewhere. Runs in the caller's transaction, before the ops' DDL
 * (an apply, a sandbox, a rehearsal). */
pm_code store_retype_prepare(pm_store *s, const char *qualified, const pm_table *from,
                             const pm_op *ops, size_t n, pm_err *err);
static inline bool store_retype_in_alter(bool pg, pm_type from)
{
    return pg && from.kind == PM_T_VARCHAR;
}

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
    bool keyed; /* hash is an HMAC under the audit key (audit.h); false for
                   events written before the catalog kept the flag */
} pm_audit_event;

/* Appends e: the store takes the append lock (joining the caller's
 * transaction or opening its own), sets e->seq and e->prev_hash from the
 * last event, calls hash(e, buf) to fill e->hash, and inserts it. */
pm_code store_audit_append(pm_store *s, pm_audit_event *e,
                           void (*hash)(const pm_audit_event *e, char out[65]), pm_err *err);
/* The newest event's seq (0: the log is empty). */
pm_code store_audit_head(pm_store *s, int64_t *seq, pm_err *err);
/* Events with seq > after, in seq order; limit <= 0 for all. */
pm_code store_audit_list(pm_store *s, int64_t after, int limit, pm_arena *arena,
                         pm_audit_event **out, size_t *n, pm_err *err);
/* The highest id of runs, incidents and proposals (0 where there are none):
 * each was audited when it was made, so audit verify can tell a log that
 * lost its newest events from one that never had them. */
pm_code store_newest_ids(pm_store *s, int64_t *run, int64_t *incident, int64_t *proposal,
                         pm_err *err);

/* ---- agent sessions (src/agent) -------------------------------------------- */

/* One session of the reasoning agent on one incident. outcome is
 * "running" until it ends, then proposed | applied | escalated |
 * no_action; reason says why a session ended without the model's own
 * conclusion (a budget, a refusal, the process gone), else NULL. */
typedef struct pm_agent_session {
    int64_t id;
    int64_t incident;
    const char *provider;
    const char *model;
    const char *prompt_sha256;
    const char *outcome;
    const char *reason;
    int64_t proposal; /* 0: none */
    bool has_confidence;
    double confidence;
    const char *rationale;
    int64_t steps;
    int64_t input_tokens;
    int64_t output_tokens;
    const char *started_at;
    const char *finished_at; /* NULL while running */
} pm_agent_session;

/* One step: a model call (kind "model") or a tool call (kind "tool").
 * Members that do not apply to the kind are NULL / 0. */
typedef struct pm_agent_step {
    int64_t session;
    int64_t seq;
    const char *kind;
    const char *at;
    int64_t latency_ms;
    /* model */
    int64_t input_tokens, output_tokens;
    const char *stop_reason;
    int64_t status; /* HTTP status of the last attempt (0: none answered) */
    int64_t attempts;
    /* tool */
    const char *tool;
    const char *arguments; /* JSON, as the model sent it */
    const char *outcome;   /* ok | error | refused */
    const char *result_sha256;
    const char *message; /* the error said to the model, or NULL */
} pm_agent_step;

/* Starts a session on incident in state running, in the caller's
 * transaction if one is open. Sessions left running by a process that no
 * longer exists on this host are first ended as escalated (reason
 * "interrupted: ..."). PM_ERR_BUSY when a session is running on the
 * incident. */
pm_code store_agent_start(pm_store *s, int64_t incident, const char *provider, const char *model,
                          const char *prompt_sha256, int64_t *id, pm_err *err);
/* Records a step (its seq is the session's next) and adds its tokens to
 * the session's. */
pm_code store_agent_step(pm_store *s, pm_agent_step *step, pm_err *err);
/* Ends a running session; has_confidence false stores NULL. */
pm_code store_agent_finish(pm_store *s, int64_t id, const char *outcome, const char *reason,
                           int64_t proposal, bool has_confidence, double confidence,
                           const char *rationale, pm_err *err);
/* Newest first; id 0 for all (else that one), incident 0 for all; limit
 * <= 0 for all. */
pm_code store_agent_sessions(pm_store *s, int64_t id, int64_t incident, int limit, pm_arena *arena,
                             pm_agent_session **out, size_t *n, pm_err *err);
pm_code store_agent_steps(pm_store *s, int64_t session, pm_arena *arena, pm_agent_step **out,
                          size_t *n, pm_err *err);
/* Tokens (input + output) of the sessions started at or after since (ISO
 * 8601 UTC, e.g. the day's "2026-12-06"). */
pm_code store_agent_tokens_since(pm_store *s, const char *since, int64_t *tokens, pm_err *err);

/* ---- policy promotions (heal/promote.h) -------------------------------------- */

/* A proposed change of policy: ops of kind op_kind on table become the
 * rules' to apply, because people approved them again and again. state:
 * pending, approved, rejected. evidence: JSON (the approved proposals). */
typedef struct pm_promotion {
    int64_t id;
    const char *table;
    const char *op_kind;
    const char *state;
    const char *evidence;
    const char *created_at;
    const char *decided_by; /* NULL while pending */
    const char *decided_at;
} pm_promotion;

/* Records a pending promotion unless (table, op_kind) has one already, in
 * any state (*created says which; *id is the one that exists). */
pm_code store_promotion_add(pm_store *s, const char *table, const char *op_kind,
                            const char *evidence, int64_t *id, bool *created, pm_err *err);
/* Newest first; table and state NULL for all, id 0 for all. */
pm_code store_promotions_list(pm_store *s, const char *table, const char *state, int64_t id,
                              pm_arena *arena, pm_promotion **out, size_t *n, pm_err *err);
/* Moves a pending promotion to state (approved or rejected); PM_ERR_BUSY
 * when it is no longer pending. */
pm_code store_promotion_decide(pm_store *s, int64_t id, const char *state, const char *actor,
                               pm_err *err);

/* ---- leases (daemon/scheduler.h) ------------------------------------------------ */

/* Takes the lease called name for holder until now + ttl seconds (epoch
 * seconds of the caller's clock: replicas keep their clocks in step, as
 * NTP does), or renews it when holder has it already. *got is false when
 * another holder has it and it has not expired; *other then names that
 * holder (in arena). */
pm_code store_lease_take(pm_store *s, const char *name, const char *holder, int64_t now,
                         int64_t ttl, bool *got, const char **other, pm_arena *arena, pm_err *err);
/* Gives the lease back (nothing when holder does not have it). */
pm_code store_lease_release(pm_store *s, const char *name, const char *holder, pm_err *err);

/* ---- run totals (pipeline/metrics.h, /metrics) --------------------------------- */

/* Every run of one pipeline (NULL: runs of plain ingests) into one table
 * with one status, summed. */
typedef struct pm_run_totals {
    const char *pipeline;
    const char *table;
    pm_run_status status;
    int64_t runs, rows_read, rows_loaded, rows_quarantined, volume_anomalies;
    const char *last_finished; /* the newest finished_at among them, or NULL */
} pm_run_totals;

/* The totals of every (pipeline, table, status), in arena. */
pm_code store_run_totals(pm_store *s, pm_arena *arena, pm_run_totals **out, size_t *n, pm_err *err);

/* ---- the notifications outbox (pipeline/notify.h) ----------------------------- */

/* A notification waiting for (or past) its delivery to a sink. */
typedef struct pm_outbox_item {
    int64_t id;
    const char *sink;
    const char *event; /* incident.opened, proposal.awaiting, ... */
    const char *subject;
    const char *payload; /* JSON */
    const char *created_at;
    int64_t attempts;
    int64_t next_at;          /* epoch seconds of the next attempt */
    const char *delivered_at; /* NULL until delivered */
    const char *last_error;
} pm_outbox_item;

/* Queues one, in the caller's transaction (the event's). */
pm_code store_outbox_add(pm_store *s, const char *sink, const char *event, const char *subject,
                         const char *payload, int64_t next_at, pm_err *err);
/* Undelivered items due at now (oldest first, at most limit). */
pm_code store_outbox_due(pm_store *s, int64_t now, int limit, pm_arena *arena, pm_outbox_item **out,
                         size_t *n, pm_err *err);
/* Claims a due item until `until` (so that another deliverer leaves it);
 * *got false when someone else claimed it first. */
pm_code store_outbox_claim(pm_store *s, int64_t id, int64_t now, int64_t until, bool *got,
                           pm_err *err);
/* Records an attempt: delivered, or failed with error and the next try. */
pm_code store_outbox_done(pm_store *s, int64_t id, bool delivered, const char *error,
                          int64_t next_at, pm_err *err);
/* Newest first; limit <= 0 for all. */
pm_code store_outbox_list(pm_store *s, int limit, pm_arena *arena, pm_outbox_item **out, size_t *n,
                          pm_err *err);

#endif
