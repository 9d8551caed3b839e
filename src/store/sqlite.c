/* sqlite.c - the embedded SQLite driver (driver.h): the connection, its
 * statements for the catalog (catalog.c) and the catalog's DDL, and the
 * data tables (DDL, the documented rebuild, introspection, prepared
 * inserts, the sandbox).
 *
 * The database runs in WAL mode with synchronous=NORMAL: a committed batch
 * survives the process being killed at any moment (the case the crash test
 * exercises); only an OS crash or power loss can take back the last
 * commits, and those commits carry their checkpoint with them, so a re-run
 * reloads exactly what was lost. Data tables are STRICT, so SQLite itself
 * refuses a value of the wrong storage class; varchar lengths, which SQLite
 * does not enforce, are checked by the validator before a row gets here.
 *
 * Every statement is prepared once and reused; every identifier is quoted
 * with store_quote_ident(); every value is bound.
 *
 * The connection is opened without SQLite's own mutex (NOMUTEX): it locks on
 * every bind and step otherwise, a measured 3.6% of a bulk load. The ingest
 * pipeline guarantees that one thread at a time uses a store (ingest.c). */
#include "store/store_int.h"

#include "schema/schemadiff.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/log.h"
#include "schema/colname.h"

static const char catalog_sql[] =
    "CREATE TABLE IF NOT EXISTS _pipemend_schema_versions ("
    " table_name TEXT NOT NULL, version INTEGER NOT NULL, columns TEXT NOT NULL,"
    " reason TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (table_name, version)) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_checkpoints ("
    " table_name TEXT NOT NULL, source TEXT NOT NULL, position TEXT NOT NULL,"
    " updated_at TEXT NOT NULL, PRIMARY KEY (table_name, source)) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_runs ("
    " id INTEGER PRIMARY KEY, pipeline TEXT, table_name TEXT NOT NULL, status TEXT NOT NULL,"
    " started_at TEXT NOT NULL, finished_at TEXT, rows_read INTEGER NOT NULL DEFAULT 0,"
    " rows_loaded INTEGER NOT NULL DEFAULT 0, rows_quarantined INTEGER NOT NULL DEFAULT 0,"
    " error TEXT, volume_anomaly INTEGER NOT NULL DEFAULT 0, volume_note TEXT,"
    " pid INTEGER NOT NULL, host TEXT NOT NULL) STRICT;"
    "CREATE INDEX IF NOT EXISTS _pipemend_runs_pipeline ON _pipemend_runs (pipeline, id);"
    "CREATE TABLE IF NOT EXISTS _pipemend_quarantine ("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, table_name TEXT NOT NULL, pipeline TEXT,"
    " source TEXT NOT NULL, byte_offset INTEGER NOT NULL, line INTEGER NOT NULL,"
    " raw BLOB NOT NULL, raw_truncated INTEGER NOT NULL, kinds TEXT NOT NULL,"
    " message TEXT NOT NULL, findings TEXT NOT NULL, status TEXT NOT NULL,"
    " created_at TEXT NOT NULL, header BLOB, delimiter TEXT) STRICT;"
    "CREATE INDEX IF NOT EXISTS _pipemend_quarantine_table ON _pipemend_quarantine (table_name, "
    "id);"
    "CREATE TABLE IF NOT EXISTS _pipemend_proposals ("
    " id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, run_id INTEGER NOT NULL,"
    " version INTEGER NOT NULL, state TEXT NOT NULL, ops TEXT NOT NULL, why TEXT NOT NULL,"
    " created_at TEXT NOT NULL, decided_by TEXT, decided_at TEXT, incident INTEGER,"
    " dry_run TEXT, policy TEXT) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_incidents ("
    " id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
    " kind TEXT NOT NULL, state TEXT NOT NULL, run_id INTEGER NOT NULL, proposal INTEGER,"
    " message TEXT NOT NULL, detected_at TEXT NOT NULL, planned_at TEXT, applied_at TEXT,"
    " replayed_at TEXT, resolved_at TEXT, decided_by TEXT, note TEXT) STRICT;"
    "CREATE INDEX IF NOT EXISTS _pipemend_incidents_key ON _pipemend_incidents (table_name,"
    " column_name, kind, state);"
    "CREATE TABLE IF NOT EXISTS _pipemend_incident_ranges ("
    " incident INTEGER NOT NULL, first_qrow INTEGER NOT NULL, last_qrow INTEGER NOT NULL,"
    " nrows INTEGER NOT NULL, PRIMARY KEY (incident, first_qrow)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS _pipemend_incident_ranges_row ON _pipemend_incident_ranges"
    " (first_qrow);"
    "CREATE TABLE IF NOT EXISTS _pipemend_halts ("
    " table_name TEXT NOT NULL, source TEXT NOT NULL, qrow INTEGER NOT NULL,"
    " halted_at TEXT NOT NULL, PRIMARY KEY (table_name, source)) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_audit ("
    " seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
    " subject TEXT NOT NULL, payload TEXT NOT NULL, prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL, keyed INTEGER) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_agent_sessions ("
    " id INTEGER PRIMARY KEY, incident INTEGER NOT NULL, provider TEXT NOT NULL,"
    " model TEXT NOT NULL, prompt_sha256 TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT,"
    " proposal INTEGER, confidence REAL, rationale TEXT, steps INTEGER NOT NULL,"
    " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, started_at TEXT NOT NULL,"
    " finished_at TEXT, pid INTEGER NOT NULL, host TEXT NOT NULL) STRICT;"
    "CREATE UNIQUE INDEX IF NOT EXISTS _pipemend_agent_one ON _pipemend_agent_sessions"
    " (incident) WHERE outcome = 'running';"
    "CREATE TABLE IF NOT EXISTS _pipemend_agent_steps ("
    " session INTEGER NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,"
    " latency_ms INTEGER NOT NULL, input_tokens INTEGER NOT NULL,"
    " output_tokens INTEGER NOT NULL, stop_reason TEXT, status INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, tool TEXT, arguments TEXT, outcome TEXT, result_sha256 TEXT,"
    " message TEXT, PRIMARY KEY (session, seq)) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_promotions ("
    " id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, op_kind TEXT NOT NULL,"
    " state TEXT NOT NULL, evidence TEXT NOT NULL, created_at TEXT NOT NULL, decided_by TEXT,"
    " decided_at TEXT, UNIQUE (table_name, op_kind)) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_leases ("
    " name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL,"
    " taken_at TEXT NOT NULL) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_outbox ("
    " id INTEGER PRIMARY KEY, sink TEXT NOT NULL, event TEXT NOT NULL, subject TEXT NOT NULL,"
    " payload TEXT NOT NULL, created_at TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " next_at INTEGER NOT NULL, delivered_at TEXT, last_error TEXT) STRICT;"
    "CREATE INDEX IF NOT EXISTS _pipemend_outbox_due ON _pipemend_outbox (next_at)"
    " WHERE delivered_at IS NULL;"
    "CREATE TABLE IF NOT EXISTS _pipemend_table_counts ("
    " table_name TEXT NOT NULL, run_id INTEGER NOT NULL, loaded INTEGER NOT NULL,"
    " quarantined INTEGER NOT NULL, replayed INTEGER NOT NULL, discarded INTEGER NOT NULL,"
    " first_qrow INTEGER, last_qrow INTEGER, PRIMARY KEY (table_name, run_id)) STRICT;";

#define COUNT_CACHE 16

/* ---- the checkpointer -------------------------------------------------------
 *
 * In WAL mode a commit appends its pages to the -wal file, and a checkpoint
 * copies them into the database file and syncs both. SQLite runs it in the
 * committing connection every 1000 pages (wal_autocheckpoint): during a
 * bulk load the writer stopped every 16 MiB for the copy and two fsyncs,
 * which on a disk shared with other writers took longer than the inserts
 * (1,000,000 orders: 1.44-1.61 s on tmpfs, 1.83-2.24 s on disk, the same
 * binary). So once a load is prepared (sq_insert_prepare), the
 * connection's WAL hook hands checkpoints to a thread with a connection of
 * its own, which runs them PASSIVE beside the writer and copies most
 * pages while the writer goes on. A checkpoint beside a writer that never
 * pauses can never catch up with the last commit, though, and only a
 * checkpoint that has caught up lets the WAL file start again from its
 * top: so at CKPT_LIMIT pages the writer checkpoints itself, copying what
 * the thread has not (little) and syncing, once per 64 MiB instead of
 * once per 16 MiB. The WAL stays under about 64 MiB. The last connection
 * to close checkpoints what is left (SQLite does). */
#define CKPT_PAGES 1000
#define CKPT_LIMIT (4 * CKPT_PAGES)

typedef struct sq_ckpt {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool due, stop;
    sqlite3 *db; /* the thread's own connection */
} sq_ckpt;

typedef struct sq {
    sqlite3 *db;
    char *path;
    sq_ckpt *ckpt;        /* NULL until a load is prepared */
    sqlite3_stmt *insert; /* the data table's insert, from insert_prepare */
    size_t insert_ncols;
    sqlite3_stmt *sandbox_insert; /* the sandbox clone's insert */
    size_t sandbox_ncols;
    char *sandbox_table; /* the clone's name while one exists */
    /* count(*) of the tables counted lately, kept prepared (listings ask
     * again and again); the oldest makes room */
    struct {
        char *table;
        sqlite3_stmt *st;
    } counts[COUNT_CACHE];
    size_t next_count;
    pm_buf *render;             /* render_ddl: statements are written here, not run */
    sqlite3_stmt *data_version; /* PRAGMA data_version, kept prepared */
    sqlite3_stmt *qadd;         /* sq_quarantine_add_many's insert, kept prepared */
    /* How the warehouse was opened when it could not be opened as usual
     * (sqlite_store_open): reads work, a write fails with the reason. */
    enum { SQ_NORMAL, SQ_READ_ONLY, SQ_DISK_FULL } limited;
} sq;

static sq *impl(pm_store *s)
{
    return s->impl;
}

static void *ckpt_main(void *arg)
{
    sq_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->due && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop)
            break;
        c->due = false;
        pthread_mutex_unlock(&c->mu);
        int log = 0, done = 0;
        if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) !=
            SQLITE_OK)
            pm_debug("background checkpoint: %s", sqlite3_errmsg(c->db));
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* After each commit: how many pages the WAL holds. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sq_ckpt *c = arg;
    if (pages >= CKPT_LIMIT) {
        /* the thread is far behind: the writer does it, as SQLite would */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&c->mu);
        c->due = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

/* Starts the checkpointer of a warehouse opened as usual; without it (no
 * thread, no second connection) SQLite's own checkpoints go on. */
static void ckpt_start(sq *q)
{
    if (q->ckpt || q->limited != SQ_NORMAL)
        return;
    sq_ckpt *c = pm_xcalloc(1, sizeof *c);
    if (sqlite3_open_v2(q->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(c->db);
        free(c);
        return;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        sqlite3_close(c->db);
        free(c);
        return;
    }
    q->ckpt = c;
    sqlite3_wal_hook(q->db, ckpt_hook, c);
}

static void ckpt_stop(sq *q)
{
    sq_ckpt *c = q->ckpt;
    if (!c)
        return;
    sqlite3_wal_autocheckpoint(q->db, CKPT_PAGES); /* SQLite's own hook again */
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    sqlite3_close(c->db);
    free(c);
    q->ckpt = NULL;
}

/* Did the last statement fail for want of disk room? SQLite says
 * SQLITE_FULL when a write hits it, but an I/O error when its shared
 * memory file (-shm) cannot grow. */
static bool disk_full(sqlite3 *db)
{
    int code = sqlite3_extended_errcode(db), e = sqlite3_system_errno(db);
    return (code & 0xff) == SQLITE_FULL ||
           ((code & 0xff) == SQLITE_IOERR && (e == ENOSPC || e == EDQUOT));
}

static bool read_only(sqlite3 *db)
{
    int code = sqlite3_extended_errcode(db), e = sqlite3_system_errno(db);
    return (code & 0xff) == SQLITE_READONLY ||
           (((code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_CANTOPEN) &&
            (e == EROFS || e == EACCES || e == EPERM));
}

static void hint_disk_full(pm_err *err, const char *path)
{
    pm_err_hint(err,
                "the disk that holds %s is full: free room on it (read commands such as "
                "status and runs still work); a run stopped here resumes from its last "
                "checkpoint and loads nothing twice",
                path);
}

static void hint_read_only(pm_err *err, const char *path)
{
    pm_err_hint(err,
                "%s is read-only to this user (the file, its directory or the mount cannot be "
                "written, and SQLite also writes %s-wal and %s-shm beside it): read commands "
                "work; to load or change it, run as a user who can write the file and its "
                "directory, or make both writable",
                path, path, path);
}

static pm_code db_error(sq *q, pm_err *err, const char *what)
{
    int code = sqlite3_extended_errcode(q->db);
    pm_code rc =
        (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED ? PM_ERR_BUSY : PM_ERR_DB;
    bool full = disk_full(q->db) || (q->limited == SQ_DISK_FULL && read_only(q->db));
    bool ro = !full && (q->limited == SQ_READ_ONLY || read_only(q->db));
    if (full)
        pm_err_set(err, rc, "%s: the disk is full (%s)", what, sqlite3_errmsg(q->db));
    else if (ro)
        pm_err_set(err, rc, "%s: the warehouse is read-only (%s)", what, sqlite3_errmsg(q->db));
    else
        pm_err_set(err, rc, "%s: %s", what, sqlite3_errmsg(q->db));
    if (full)
        hint_disk_full(err, q->path);
    else if (ro)
        hint_read_only(err, q->path);
    else if (rc == PM_ERR_BUSY)
        pm_err_hint(err,
                    "another pipemend process is writing to %s; wait for it or use a "
                    "different warehouse",
                    q->path);
    else
        pm_err_hint(err,
                    "check that %s is a SQLite file pipemend created and that its disk has "
                    "room; a run stopped here resumes from its last checkpoint",
                    q->path);
    return rc;
}

static pm_code exec(sq *q, const char *sql, pm_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        pm_code rc = db_error(q, err, "cannot run catalog statement");
        sqlite3_free(msg);
        return rc;
    }
    return PM_OK;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i, pm_arena *a)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? pm_arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

static void sq_sandbox_end(pm_store *s);

static void sq_close(pm_store *s)
{
    sq *q = impl(s);
    for (size_t i = 0; i < COUNT_CACHE; i++) {
        sqlite3_finalize(q->counts[i].st);
        free(q->counts[i].table);
    }
    sqlite3_finalize(q->insert);
    sqlite3_finalize(q->data_version);
    sqlite3_finalize(q->qadd);
    sq_sandbox_end(s);
    ckpt_stop(q);
    sqlite3_close(q->db);
    free(q->path);
    free(q);
}

static pm_code sq_unique_ensure(pm_store *s, const pm_table *t, const contract_rule *u,
                                int *changed, pm_err *err)
{
    sq *q = impl(s);
    char want[64] = "";
    *changed = 0;
    if (u)
        store_unique_index_name(t, u, want);
    /* Indexes of keys the contract no longer declares go: pipemend made
     * them, and a stale key would quarantine rows for the wrong reason. */
    sqlite3_stmt *st = NULL;
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    pm_code rc = PM_OK;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 "
                           "AND substr(name, 1, 17) = '_pipemend_unique_' AND name <> ?2",
                           -1, &st, NULL) != SQLITE_OK)
        rc = db_error(q, err, "cannot read the table's indexes");
    else {
        bind_text(st, 1, t->name);
        bind_text(st, 2, want);
    }
    char stale[16][64];
    int nstale = 0;
    while (!rc && nstale < 16 && sqlite3_step(st) == SQLITE_ROW)
        snprintf(stale[nstale++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    for (int i = 0; !rc && i < nstale; i++) {
        pm_buf_reset(&b);
        rc = pm_buf_puts(&b, "DROP INDEX ", err);
        if (!rc)
            rc = store_quote_ident(&b, stale[i], err);
        if (!rc && sqlite3_exec(q->db, b.data, NULL, NULL, NULL) != SQLITE_OK)
            rc = db_error(q, err, "cannot drop an old unique key index");
        (*changed)++;
    }
    if (!rc && u) {
        int exists = 0;
        if (sqlite3_prepare_v2(q->db,
                               "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name "
                               "= ?1",
                               -1, &st, NULL) == SQLITE_OK) {
            bind_text(st, 1, want);
            if (sqlite3_step(st) == SQLITE_ROW)
                exists = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
        pm_buf_reset(&b);
        if (!exists) {
            rc = pm_buf_puts(&b, "CREATE UNIQUE INDEX ", err);
            if (!rc)
                rc = store_quote_ident(&b, want, err);
            if (!rc)
                rc = pm_buf_puts(&b, " ON ", err);
            if (!rc)
                rc = store_quote_ident(&b, t->name, err);
            if (!rc)
                rc = pm_buf_puts(&b, " (", err);
            for (size_t i = 0; !rc && i < u->nkey; i++) {
                if (i)
                    rc = pm_buf_puts(&b, ", ", err);
                if (!rc)
                    rc = store_quote_ident(&b, u->key[i], err);
            }
            if (!rc)
                rc = pm_buf_puts(&b, ")", err);
            if (!rc && sqlite3_exec(q->db, b.data, NULL, NULL, NULL) != SQLITE_OK) {
                if ((sqlite3_extended_errcode(q->db) & 0xff) == SQLITE_CONSTRAINT) {
                    rc = pm_err_set(err, PM_ERR_CONFIG,
                                    "cannot enforce the unique key of %s: rows already loaded "
                                    "repeat it",
                                    t->name);
                    pm_err_hint(err,
                                "remove the duplicates from %s, or drop the unique rule from "
                                "the contract",
                                t->name);
                } else {
                    rc = db_error(q, err, "cannot create the unique key index");
                }
            }
            (*changed)++;
        }
    }
    pm_buf_free(&b);
    return rc;
}

/* CREATE TABLE schema.name (columns of t) STRICT, into b. */
static pm_code render_create(pm_buf *b, const char *schema, const char *name, const pm_table *t,
                             pm_err *err)
{
    pm_code rc = pm_buf_puts(b, "CREATE TABLE ", err);
    if (!rc)
        rc = store_quote_qualified(b, schema, name, err);
    if (!rc)
        rc = pm_buf_puts(b, " (", err);
    for (size_t i = 0; !rc && i < t->ncols; i++) {
        if (i)
            rc = pm_buf_puts(b, ", ", err);
        if (!rc)
            rc = store_quote_ident(b, t->cols[i].name, err);
        if (!rc)
            rc = pm_buf_printf(b, err, " %s%s", type_sqlite_decl(t->cols[i].type),
                               t->cols[i].nullable ? "" : " NOT NULL");
    }
    return rc ? rc : pm_buf_puts(b, ") STRICT", err);
}

static pm_code run_sql(sq *q, const char *sql, const char *what, pm_err *err)
{
    if (q->render) {
        pm_code rc = pm_buf_puts(q->render, sql, err);
        return rc ? rc : pm_buf_puts(q->render, ";\n", err);
    }
    if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(q, err, what);
    return PM_OK;
}

/* SQLite's documented procedure for changes ALTER TABLE cannot make
 * (https://sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
 * Schema Changes"): create the new table, copy the rows converting each
 * column to its new storage class, drop the old table, rename the new one,
 * and recreate the old table's indexes and triggers (DROP TABLE takes
 * them with it). Views over the table stay: SQLite binds a view to its
 * tables by name when it is read, and the rebuilt table keeps the name and
 * every column. The rename runs with legacy_alter_table on, as the
 * procedure asks: otherwise SQLite checks every view while the old table
 * is gone, and a view over it fails the rename ("error in view v: no such
 * table"). Runs inside the caller's transaction, so a failure leaves the
 * old table as it was. */

static void float_text_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    char out[TYPE_FLOAT_TEXT_MAX];
    type_float_text(sqlite3_value_double(argv[0]), out);
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

/* pipemend_float_text(x): type_float_text for the rebuild's copy. */
static pm_code float_text_register(sq *q, pm_err *err)
{
    if (q->render)
        return PM_OK;
    if (sqlite3_create_function_v2(q->db, "pipemend_float_text", 1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, float_text_fn, NULL,
                                   NULL, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot register the conversion of float64 values to text");
    return PM_OK;
}

static pm_code rebuild(sq *q, const char *schema, const pm_table *from, const pm_table *to,
                       pm_err *err)
{
    char tmp[COLNAME_MAX + 32];
    snprintf(tmp, sizeof tmp, "_pipemend_rebuild_%s", to->name);
    pm_buf b;
    pm_buf_init(&b, 1 << 22);
    /* the index and trigger definitions, to replay after the rename */
    char **idx = NULL;
    size_t nidx = 0;
    sqlite3_stmt *st = NULL;
    pm_code rc = PM_OK;
    /* (a sandbox clone has no indexes) */
    if (strcmp(schema, "main") != 0)
        ;
    else if (sqlite3_prepare_v2(q->db,
                                "SELECT sql FROM sqlite_master WHERE type IN ('index', "
                                "'trigger') AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY type",
                                -1, &st, NULL) != SQLITE_OK)
        rc = db_error(q, err, "cannot read the table's indexes and triggers");
    else
        bind_text(st, 1, from->name);
    while (!rc && st && sqlite3_step(st) == SQLITE_ROW) {
        idx = pm_xrealloc(idx, (nidx + 1) * sizeof *idx);
        idx[nidx++] = pm_xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = render_create(&b, schema, tmp, to, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot create the rebuilt table", err);
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "INSERT INTO ", err);
    if (!rc)
        rc = store_quote_qualified(&b, schema, tmp, err);
    if (!rc)
        rc = pm_buf_puts(&b, " (", err);
    /* a column the ops drop (a merge's) is not copied */
    for (size_t i = 0, k = 0; !rc && i < from->ncols; i++) {
        if (table_find(to, from->cols[i].name, strlen(from->cols[i].name)) < 0)
            continue;
        if (k++)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = store_quote_ident(&b, from->cols[i].name, err);
    }
    if (!rc)
        rc = pm_buf_puts(&b, ") SELECT ", err);
    for (size_t i = 0, k = 0; !rc && i < from->ncols; i++) {
        int j = table_find(to, from->cols[i].name, strlen(from->cols[i].name));
        if (j < 0)
            continue;
        const char *decl = type_sqlite_decl(to->cols[j].type);
        /* SQLite's CAST(REAL AS TEXT) keeps 15 digits (0.1 + 0.2 becomes
         * 0.3) and writes 100.0: a float64 column made text takes each
         * value's exact shortest text instead, PostgreSQL's spelling. */
        bool float_text = from->cols[i].type.kind == PM_T_FLOAT64 && strcmp(decl, "TEXT") == 0;
        if (k++)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc && float_text)
            rc = float_text_register(q, err);
        if (!rc)
            rc = pm_buf_puts(&b, float_text ? "pipemend_float_text(" : "CAST(", err);
        if (!rc)
            rc = store_quote_ident(&b, from->cols[i].name, err);
        if (!rc)
            rc = float_text ? pm_buf_putc(&b, ')', err) : pm_buf_printf(&b, err, " AS %s)", decl);
    }
    if (!rc)
        rc = pm_buf_puts(&b, " FROM ", err);
    if (!rc)
        rc = store_quote_qualified(&b, schema, from->name, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot copy rows into the rebuilt table", err);
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "DROP TABLE ", err);
    if (!rc)
        rc = store_quote_qualified(&b, schema, from->name, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot drop the old table", err);
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "ALTER TABLE ", err);
    if (!rc)
        rc = store_quote_qualified(&b, schema, tmp, err);
    if (!rc)
        rc = pm_buf_puts(&b, " RENAME TO ", err);
    if (!rc)
        rc = store_quote_ident(&b, to->name, err);
    bool legacy = strcmp(schema, "main") == 0;
    if (!rc && legacy)
        rc = run_sql(q, "PRAGMA legacy_alter_table = ON", "cannot rename the rebuilt table", err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot rename the rebuilt table", err);
    if (legacy) {
        pm_err off;
        pm_code orc =
            run_sql(q, "PRAGMA legacy_alter_table = OFF", "cannot rename the rebuilt table", &off);
        if (!rc && orc) {
            *err = off;
            rc = orc;
        }
    }
    /* The index and trigger SQL is SQLite's own stored text for those
     * pipemend made (or a user made on the table): it is replayed, not
     * composed. */
    for (size_t i = 0; !rc && i < nidx; i++)
        rc = run_sql(q, idx[i], "cannot recreate an index or trigger after the rebuild", err);
    for (size_t i = 0; i < nidx; i++)
        free(idx[i]);
    free(idx);
    pm_buf_free(&b);
    return rc;
}

/* merge_column's move: UPDATE t SET into = from WHERE into IS NULL AND
 * from IS NOT NULL (the guard checked that from's values fit into). */
static pm_code merge_values(sq *q, const char *schema, const char *table, const pm_op *op,
                            pm_err *err)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    pm_code rc = pm_buf_puts(&b, "UPDATE ", err);
    if (!rc)
        rc = store_quote_qualified(&b, schema, table, err);
    if (!rc)
        rc = pm_buf_puts(&b, " SET ", err);
    if (!rc)
        rc = store_quote_ident(&b, op->column, err);
    if (!rc)
        rc = pm_buf_puts(&b, " = ", err);
    if (!rc)
        rc = store_quote_ident(&b, op->field, err);
    if (!rc)
        rc = pm_buf_puts(&b, " WHERE ", err);
    if (!rc)
        rc = store_quote_ident(&b, op->column, err);
    if (!rc)
        rc = pm_buf_puts(&b, " IS NULL AND ", err);
    if (!rc)
        rc = store_quote_ident(&b, op->field, err);
    if (!rc)
        rc = pm_buf_puts(&b, " IS NOT NULL", err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot move the merged column's values", err);
    pm_buf_free(&b);
    return rc;
}

/* A merge drops its field's column in the rebuild: an index, trigger or
 * view of main's that uses the column would be lost or broken with it, so
 * the merge is refused naming them (in the dry run as in the apply).
 * Triggers and views are matched on the column's name in their SQL:
 * a false match refuses, never loses. */
static pm_code merge_blockers(sq *q, const char *table, const char *column, pm_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT 'index ' || il.name FROM pragma_index_list(?1) AS il, "
                           "pragma_index_info(il.name) AS ii WHERE ii.name = ?2 COLLATE NOCASE "
                           "UNION SELECT type || ' ' || name FROM main.sqlite_master WHERE type "
                           "IN ('trigger', 'view') AND instr(lower(sql), lower(?2)) > 0 "
                           "ORDER BY 1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read what depends on the merged column");
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    pm_buf names;
    pm_buf_init(&names, 1 << 16);
    size_t k = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        pm_buf_printf(&names, NULL, "%s%s", k++ ? ", " : "",
                      (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    pm_code rc = k ? store_merge_refused(err, table, column, names.data, k) : PM_OK;
    pm_buf_free(&names);
    return rc;
}

/* The DDL of ops on schema.from (main, or the sandbox): ADD COLUMN is done
 * in place; a change of a column's storage class or of its NOT NULL needs
 * the rebuild, and so does a merge (its values moved first); mappings,
 * coercions and widenings within a storage class change the catalog
 * only. */
static pm_code apply_ddl(sq *q, const char *schema, const pm_table *from, const pm_op *ops,
                         size_t n, const pm_table *to, pm_err *err)
{
    pm_code rc = PM_OK;
    bool need_rebuild = false;
    for (size_t i = 0; !rc && i < n; i++) {
        if (ops[i].kind != OP_MERGE_COLUMN)
            continue;
        rc = merge_blockers(q, from->name, ops[i].field, err);
        if (!rc)
            rc = merge_values(q, schema, from->name, &ops[i], err);
        need_rebuild = true;
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const pm_op *op = &ops[i];
        int j = op->column ? table_find(from, op->column, strlen(op->column)) : -1;
        if (op->kind == OP_DROP_NOT_NULL)
            need_rebuild = true;
        else if ((op->kind == OP_WIDEN_COLUMN || op->kind == OP_RETYPE_COLUMN) && j >= 0 &&
                 strcmp(type_sqlite_decl(from->cols[j].type), type_sqlite_decl(op->type)) != 0)
            need_rebuild = true;
    }
    if (need_rebuild)
        return rebuild(q, schema, from, to, err);
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    for (size_t i = 0; !rc && i < n; i++) {
        if (ops[i].kind != OP_ADD_COLUMN)
            continue;
        pm_buf_reset(&b);
        rc = pm_buf_puts(&b, "ALTER TABLE ", err);
        if (!rc)
            rc = store_quote_qualified(&b, schema, from->name, err);
        if (!rc)
            rc = pm_buf_puts(&b, " ADD COLUMN ", err);
        if (!rc)
            rc = store_quote_ident(&b, ops[i].column, err);
        if (!rc)
            rc = pm_buf_printf(&b, err, " %s", type_sqlite_decl(ops[i].type));
        if (!rc)
            rc = run_sql(q, b.data, "cannot add the column", err);
    }
    pm_buf_free(&b);
    return rc;
}

static pm_code sq_table_live(pm_store *s, const pm_table *t, pm_arena *a, pm_table **live,
                             bool *exists, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *live = NULL;
    *exists = false;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT name, type, \"notnull\" FROM pragma_table_info(?1, 'main') "
                           "ORDER BY cid",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read the table's columns");
    bind_text(st, 1, t->name);
    pm_table *l = table_new(a, t->name);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *decl = (const char *)sqlite3_column_text(st, 1);
        int j = name ? table_find(t, name, strlen(name)) : -1;
        pm_type cat = j >= 0 ? t->cols[j].type : (pm_type){PM_T_UNKNOWN, 0};
        int k = name ? table_add(l, a, name, schemadiff_type_from_sqlite(decl, cat),
                                 sqlite3_column_int(st, 2) == 0)
                     : -1;
        *exists = true;
        if (k < 0 || j < 0)
            continue;
        for (size_t m = 0; m < t->cols[j].naliases; m++)
            table_add_alias(l, a, k, t->cols[j].aliases[m]);
        if (t->cols[j].format)
            table_set_format(l, a, k, t->cols[j].format);
        /* still NOT NULL: still pipemend's guess, if it was one */
        l->cols[k].guessed = t->cols[j].guessed && !t->cols[j].nullable && !l->cols[k].nullable;
        l->cols[k].origin = t->cols[j].origin;
    }
    pm_code rc = r == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot read the table's columns");
    sqlite3_finalize(st);
    for (size_t i = 0; i < t->ndropped; i++)
        table_add_dropped(l, a, t->dropped[i]);
    l->version = t->version + 1;
    if (!rc && *exists)
        *live = l;
    return rc;
}

/* The prepared count(*) of table name (cached); NULL after setting err. */
static sqlite3_stmt *count_stmt(sq *q, const char *name, pm_err *err)
{
    for (size_t i = 0; i < COUNT_CACHE; i++)
        if (q->counts[i].table && strcmp(q->counts[i].table, name) == 0) {
            sqlite3_reset(q->counts[i].st);
            return q->counts[i].st;
        }
    pm_buf b;
    pm_buf_init(&b, 4096);
    pm_code rc = pm_buf_puts(&b, "SELECT count(*) FROM ", err);
    if (!rc)
        rc = store_quote_ident(&b, name, err);
    sqlite3_stmt *st = NULL;
    char *copy = rc ? NULL : strdup(name);
    if (!rc && (!copy || sqlite3_prepare_v3(q->db, b.data, -1, SQLITE_PREPARE_PERSISTENT, &st,
                                            NULL) != SQLITE_OK)) {
        if (copy && strncmp(sqlite3_errmsg(q->db), "no such table", 13) == 0)
            pm_err_set(err, PM_ERR_NOTFOUND, "no such table"); /* store.c words it */
        else
            db_error(q, err, "cannot count rows");
        sqlite3_finalize(st);
        st = NULL;
    }
    pm_buf_free(&b);
    if (!st) {
        free(copy);
        return NULL;
    }
    size_t k = q->next_count++ % COUNT_CACHE;
    sqlite3_finalize(q->counts[k].st);
    free(q->counts[k].table);
    q->counts[k].table = copy;
    q->counts[k].st = st;
    return st;
}

/* PRAGMA data_version moves with other connections' commits, the count of
 * changes with this one's. */
static pm_code sq_data_token(pm_store *s, char *out, size_t cap, pm_err *err)
{
    sq *q = impl(s);
    if (!q->data_version &&
        sqlite3_prepare_v2(q->db, "PRAGMA data_version", -1, &q->data_version, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read the warehouse's data version");
    if (sqlite3_step(q->data_version) != SQLITE_ROW) {
        sqlite3_reset(q->data_version);
        return db_error(q, err, "cannot read the warehouse's data version");
    }
    snprintf(out, cap, "%lld:%lld", (long long)sqlite3_column_int64(q->data_version, 0),
             (long long)sqlite3_total_changes64(q->db));
    sqlite3_reset(q->data_version);
    return PM_OK;
}

static pm_code sq_table_count(pm_store *s, const char *name, int64_t *rows, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st = count_stmt(q, name, err);
    if (!st)
        return err ? err->code : PM_ERR_DB;
    pm_code rc = PM_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        *rows = sqlite3_column_int64(st, 0);
    else
        rc = db_error(q, err, "cannot count rows");
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_table_exists(pm_store *s, const char *name, bool *exists, pm_err *err)
{
    (void)err;
    /* no column named: SQLITE_OK when the table exists */
    *exists = sqlite3_table_column_metadata(impl(s)->db, "main", name, NULL, NULL, NULL, NULL, NULL,
                                            NULL) == SQLITE_OK;
    return PM_OK;
}

static pm_code sq_table_remove(pm_store *s, const char *name, bool drop, int64_t *rows, pm_err *err)
{
    sq *q = impl(s);
    pm_buf b;
    pm_buf_init(&b, 4096);
    pm_code rc = pm_buf_puts(&b, drop ? "DROP TABLE IF EXISTS " : "DELETE FROM ", err);
    if (!rc)
        rc = store_quote_ident(&b, name, err);
    /* the cached count and insert name the table: gone with it */
    for (size_t i = 0; !rc && i < COUNT_CACHE; i++) {
        if (q->counts[i].table && strcmp(q->counts[i].table, name) == 0) {
            sqlite3_finalize(q->counts[i].st);
            free(q->counts[i].table);
            q->counts[i].table = NULL;
            q->counts[i].st = NULL;
        }
    }
    if (!rc)
        rc = exec(q, b.data, err);
    *rows = rc || drop ? 0 : (int64_t)sqlite3_changes64(q->db);
    pm_buf_free(&b);
    return rc;
}

static pm_code sq_insert_prepare(pm_store *s, const pm_table *t, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_finalize(q->insert);
    q->insert = NULL;
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    pm_code rc = pm_buf_puts(&b, "INSERT INTO ", err);
    if (!rc)
        rc = store_quote_ident(&b, t->name, err);
    if (!rc)
        rc = pm_buf_puts(&b, " (", err);
    for (size_t i = 0; !rc && i < t->ncols; i++) {
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = store_quote_ident(&b, t->cols[i].name, err);
    }
    if (!rc)
        rc = pm_buf_puts(&b, ") VALUES (", err);
    for (size_t i = 0; !rc && i < t->ncols; i++)
        rc = pm_buf_printf(&b, err, "%s?%zu", i ? ", " : "", i + 1);
    if (!rc)
        rc = pm_buf_puts(&b, ")", err);
    if (!rc && sqlite3_prepare_v3(q->db, b.data, -1, SQLITE_PREPARE_PERSISTENT, &q->insert, NULL) !=
                   SQLITE_OK)
        rc = db_error(q, err, "cannot prepare the insert");
    pm_buf_free(&b);
    q->insert_ncols = t->ncols;
    if (!rc)
        ckpt_start(q); /* a load is coming: its checkpoints run beside it */
    return rc;
}

static pm_code bind_step(sq *q, sqlite3_stmt *st, size_t ncols, const pm_cell *cells,
                         bool any_constraint, pm_err *err);

static pm_code sq_insert(pm_store *s, const pm_cell *cells, pm_err *err)
{
    sq *q = impl(s);
    return bind_step(q, q->insert, q->insert_ncols, cells, true, err);
}

/* Inserts rows through st (ncols cells each), marking those refused. */
static pm_code insert_rows(sq *q, sqlite3_stmt *st, size_t ncols, pm_load_row *rows, size_t n,
                           pm_arena *a, pm_err *err)
{
    size_t row_bytes = ncols * sizeof *rows[0].cells;
    for (size_t i = 0; i < n; i++) {
        /* the cells come from the reader thread's core, a batch ago: ask
         * for them two rows ahead, or each row starts with cache misses
         * (most of bind_step's time) */
        if (i + 2 < n)
            for (size_t k = 0; k < row_bytes; k += 64)
                __builtin_prefetch((const char *)rows[i + 2].cells + k);
        pm_err ie;
        pm_code rc = bind_step(q, st, ncols, rows[i].cells, true, &ie);
        rows[i].refused = rc == PM_ERR_CONSTRAINT;
        rows[i].unique = rows[i].refused && strcmp(ie.detail, "unique") == 0;
        rows[i].why = rows[i].refused ? pm_arena_strdup(a, ie.msg) : NULL;
        if (rc && !rows[i].refused) {
            *err = ie;
            return rc;
        }
    }
    return PM_OK;
}

/* SQLite inserts row by row: a prepared statement per row is its fastest
 * path, and a refused row costs nothing to the others. */
static pm_code sq_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err)
{
    sq *q = impl(s);
    return insert_rows(q, q->insert, q->insert_ncols, rows, n, a, err);
}

/* ---- the sandbox ------------------------------------------------------- */

/* The clone lives in an in-memory database attached as pm_sandbox at open:
 * nothing of a dry run touches the warehouse file, and dropping it is
 * free. */
static void sq_sandbox_end(pm_store *s)
{
    sq *q = impl(s);
    sqlite3_finalize(q->sandbox_insert);
    q->sandbox_insert = NULL;
    if (q->sandbox_table) {
        pm_buf b;
        pm_buf_init(&b, 4096);
        if (pm_buf_puts(&b, "DROP TABLE IF EXISTS ", NULL) == PM_OK &&
            store_quote_qualified(&b, "pm_sandbox", q->sandbox_table, NULL) == PM_OK)
            sqlite3_exec(q->db, b.data, NULL, NULL, NULL);
        pm_buf_free(&b);
        free(q->sandbox_table);
        q->sandbox_table = NULL;
    }
}

static pm_code sq_sandbox_begin(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                                const pm_table *to, int sample, int64_t *copied, pm_err *err)
{
    sq *q = impl(s);
    *copied = 0;
    sq_sandbox_end(s);
    q->sandbox_table = pm_xstrdup(from->name);
    pm_buf b;
    pm_buf_init(&b, 1 << 22);
    pm_code rc = pm_buf_puts(&b, "DROP TABLE IF EXISTS ", err);
    if (!rc)
        rc = store_quote_qualified(&b, "pm_sandbox", from->name, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot clear the sandbox", err);
    pm_buf_reset(&b);
    if (!rc)
        rc = render_create(&b, "pm_sandbox", from->name, from, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot create the sandbox clone", err);
    /* a sample of the rows the table holds now: the ops must carry them */
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "INSERT INTO ", err);
    if (!rc)
        rc = store_quote_qualified(&b, "pm_sandbox", from->name, err);
    if (!rc)
        rc = pm_buf_puts(&b, " SELECT ", err);
    for (size_t i = 0; !rc && i < from->ncols; i++) {
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = store_quote_ident(&b, from->cols[i].name, err);
    }
    if (!rc)
        rc = pm_buf_puts(&b, " FROM ", err);
    if (!rc)
        rc = store_quote_qualified(&b, "main", from->name, err);
    if (!rc)
        rc = pm_buf_printf(&b, err, " LIMIT %d", sample > 0 ? sample : 0);
    if (!rc)
        rc = run_sql(q, b.data, "cannot copy sample rows into the sandbox", err);
    if (!rc)
        *copied = sqlite3_changes64(q->db);
    pm_buf_reset(&b);
    if (!rc)
        rc = store_quote_qualified(&b, "pm_sandbox", from->name, err);
    if (!rc)
        rc = store_retype_prepare(s, b.data, from, ops, n, err);
    if (!rc)
        rc = apply_ddl(q, "pm_sandbox", from, ops, n, to, err);
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "INSERT INTO ", err);
    if (!rc)
        rc = store_quote_qualified(&b, "pm_sandbox", to->name, err);
    if (!rc)
        rc = pm_buf_puts(&b, " (", err);
    for (size_t i = 0; !rc && i < to->ncols; i++) {
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = store_quote_ident(&b, to->cols[i].name, err);
    }
    if (!rc)
        rc = pm_buf_puts(&b, ") VALUES (", err);
    for (size_t i = 0; !rc && i < to->ncols; i++)
        rc = pm_buf_printf(&b, err, "%s?%zu", i ? ", " : "", i + 1);
    if (!rc)
        rc = pm_buf_puts(&b, ")", err);
    if (!rc && sqlite3_prepare_v2(q->db, b.data, -1, &q->sandbox_insert, NULL) != SQLITE_OK)
        rc = db_error(q, err, "cannot prepare the sandbox insert");
    q->sandbox_ncols = to->ncols;
    pm_buf_free(&b);
    if (rc)
        sq_sandbox_end(s);
    return rc;
}

/* Binds one row of cells to st and steps it. A row the table refuses is
 * PM_ERR_CONSTRAINT (detail "unique" for a unique key) and leaves the
 * transaction usable. pipemend checked types and NOT NULL itself, but a
 * table may carry constraints someone added by hand (a CHECK, a trigger):
 * they refuse rows too, which are quarantined with the database's word;
 * only other failures (disk, corruption) fail the batch. */
static pm_code bind_step(sq *q, sqlite3_stmt *st, size_t ncols, const pm_cell *cells,
                         bool any_constraint, pm_err *err)
{
    for (size_t i = 0; i < ncols; i++) {
        const pm_cell *c = &cells[i];
        int col = (int)i + 1;
        switch (c->kind) {
        case PM_CELL_NULL:
            sqlite3_bind_null(st, col);
            break;
        case PM_CELL_INT:
            sqlite3_bind_int64(st, col, c->i);
            break;
        case PM_CELL_REAL:
            sqlite3_bind_double(st, col, c->d);
            break;
        case PM_CELL_TEXT:
            /* The cell's bytes live until the caller's arena resets, after
             * the step below: no copy needed. */
            sqlite3_bind_text64(st, col, c->s, c->len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        }
    }
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return PM_OK;
    int ext = sqlite3_extended_errcode(q->db);
    bool unique = ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY;
    if (unique || (any_constraint && (ext & 0xff) == SQLITE_CONSTRAINT)) {
        pm_err_set(err, PM_ERR_CONSTRAINT, "%s", sqlite3_errmsg(q->db));
        if (unique)
            pm_err_detail(err, "unique");
        return PM_ERR_CONSTRAINT;
    }
    return db_error(q, err, "cannot insert a row");
}

static pm_code sq_sandbox_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err)
{
    sq *q = impl(s);
    if (!q->sandbox_insert)
        return pm_err_set(err, PM_ERR_INTERNAL, "no sandbox is open");
    return insert_rows(q, q->sandbox_insert, q->sandbox_ncols, rows, n, a, err);
}

/* Creates what the catalog lacks, under the write lock: processes that
 * open a new warehouse at once would otherwise each read the schema and
 * then write it, and a write after another process's commit fails at once
 * (SQLite's busy handler does not wait for a stale snapshot). A catalog
 * that has its last table (catalog_sql's) needs nothing: a warehouse that
 * may only be read opens. */
/* Whether the database (not its temp schema) has the object name of type
 * ("table", "index"). */
static bool main_has(sq *q, const char *type, const char *name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, "SELECT 1 FROM main.sqlite_master WHERE type = ?1 AND name = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    bool yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

static bool table_exists_main(sq *q, const char *name)
{
    return main_has(q, "table", name);
}

static pm_code catalog_create(sq *q, pm_err *err)
{
    /* the catalog's newest tables there: all of them are */
    if (table_exists_main(q, "_pipemend_incident_ranges") &&
        table_exists_main(q, "_pipemend_table_counts"))
        return PM_OK;
    if (q->limited != SQ_NORMAL && table_exists_main(q, "_pipemend_runs")) {
        /* a warehouse of an earlier pipemend that cannot be written now:
         * the kept counts it lacks live in this connection's memory, and
         * are computed there when read (its incident links: links_upgrade) */
        if (table_exists_main(q, "_pipemend_table_counts"))
            return PM_OK;
        return exec(q,
                    "CREATE TEMP TABLE _pipemend_table_counts ("
                    " table_name TEXT NOT NULL, run_id INTEGER NOT NULL, loaded INTEGER NOT NULL,"
                    " quarantined INTEGER NOT NULL, replayed INTEGER NOT NULL,"
                    " discarded INTEGER NOT NULL, first_qrow INTEGER, last_qrow INTEGER,"
                    " PRIMARY KEY (table_name, run_id)) STRICT",
                    err);
    }
    pm_code rc = run_sql(q, "BEGIN IMMEDIATE", "cannot create the catalog", err);
    if (rc)
        return rc;
    rc = exec(q, catalog_sql, err);
    if (!rc)
        rc = run_sql(q, "COMMIT", "cannot create the catalog", err);
    if (rc)
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Catalogs written by an earlier pipemend lack columns added since:
 * CREATE TABLE IF NOT EXISTS leaves an existing table as it is, so they
 * are added here (nullable, so old rows stay valid). */
static pm_code catalog_upgrade(sq *q, pm_err *err)
{
    static const struct {
        const char *table, *column, *decl;
    } added[] = {
        {"_pipemend_quarantine", "header", "BLOB"},
        {"_pipemend_quarantine", "delimiter", "TEXT"},
        {"_pipemend_proposals", "incident", "INTEGER"},
        {"_pipemend_proposals", "dry_run", "TEXT"},
        {"_pipemend_proposals", "policy", "TEXT"},
        {"_pipemend_audit", "keyed", "INTEGER"},
        /* a run's span of quarantine ids (counts.c) */
        {"_pipemend_table_counts", "first_qrow", "INTEGER"},
        {"_pipemend_table_counts", "last_qrow", "INTEGER"},
    };
    size_t n = sizeof added / sizeof added[0];
    /* a warehouse that cannot be written now: a table that lacks columns
     * is read through a view of this connection's (temp names come first)
     * that has them, NULL */
    char view[1024] = "";
    size_t vlen = 0;
    for (size_t i = 0; i < n; i++) {
        /* not in the warehouse (its kept counts, read-only): catalog_create
         * made it in memory, whole */
        if (!table_exists_main(q, added[i].table))
            continue;
        sqlite3_stmt *st;
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT 1 FROM pragma_table_info('%s', 'main') WHERE name = '%s'",
                 added[i].table, added[i].column);
        if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
            return db_error(q, err, "cannot read the catalog's shape");
        bool has = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!has && q->limited == SQ_NORMAL) {
            snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", added[i].table,
                     added[i].column, added[i].decl);
            pm_err ae;
            /* another process opening the warehouse at once may have added
             * it first: then it is there */
            if (run_sql(q, sql, "cannot upgrade the catalog", &ae) != PM_OK &&
                !strstr(ae.msg, "duplicate column name")) {
                if (err)
                    *err = ae;
                return ae.code;
            }
        } else if (!has) {
            if (!vlen)
                vlen = (size_t)snprintf(view, sizeof view, "CREATE TEMP VIEW %s AS SELECT *",
                                        added[i].table);
            vlen +=
                (size_t)snprintf(view + vlen, sizeof view - vlen, ", NULL AS %s", added[i].column);
        }
        /* the end of a table's columns (they are listed by table) */
        if (vlen && (i + 1 == n || strcmp(added[i + 1].table, added[i].table) != 0)) {
            snprintf(view + vlen, sizeof view - vlen, " FROM main.%s", added[i].table);
            pm_code rc = exec(q, view, err);
            if (rc)
                return rc;
            vlen = 0;
        }
    }
    return PM_OK;
}

/* Runs sql, then COMMIT, when old_shape (a query) finds a row: the
 * catalog still has the shape sql upgrades. Another process may upgrade at
 * the same time, so the shape is looked at again under the write lock;
 * a failure rolls everything back. */
static pm_code upgrade_once(sq *q, const char *old_shape, const char *sql, const char *what,
                            pm_err *err)
{
    for (int pass = 0; pass < 2; pass++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(q->db, old_shape, -1, &st, NULL) != SQLITE_OK)
            return db_error(q, err, "cannot read the catalog's shape");
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_ROW)
            return pass ? run_sql(q, "COMMIT", "cannot upgrade the catalog", err) : PM_OK;
        if (!pass) {
            pm_code rc = run_sql(q, "BEGIN IMMEDIATE", "cannot upgrade the catalog", err);
            if (rc)
                return rc;
        }
    }
    pm_code rc = run_sql(q, sql, what, err);
    if (!rc)
        rc = run_sql(q, "COMMIT", what, err);
    if (rc)
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Checkpoints were a file's byte offset, fingerprint and line, in columns
 * of their own; now they are the position token their transport encodes
 * (store.h). A catalog with the old columns gets its rows rewritten as the
 * file transport's token, version 1 (source/file.c: the one format the
 * store itself ever writes), in one transaction, so every source resumes
 * exactly where it stood. SQLite cannot drop NOT NULL columns in place,
 * so the table is made again, by its documented procedure. */
static pm_code checkpoint_upgrade(sq *q, pm_err *err)
{
    return upgrade_once(q,
                        "SELECT 1 FROM pragma_table_info('_pipemend_checkpoints') WHERE name = "
                        "'byte_offset'",
                        "CREATE TABLE _pipemend_checkpoints_new ("
                        " table_name TEXT NOT NULL, source TEXT NOT NULL, position TEXT NOT NULL,"
                        " updated_at TEXT NOT NULL, PRIMARY KEY (table_name, source)) STRICT;"
                        "INSERT INTO _pipemend_checkpoints_new (table_name, source, position, "
                        "updated_at) SELECT table_name, source, '{\"offset\":' || byte_offset || "
                        "',\"line\":' || line || ',\"fingerprint\":' || fingerprint || '}', "
                        "updated_at FROM _pipemend_checkpoints;"
                        "DROP TABLE _pipemend_checkpoints;"
                        "ALTER TABLE _pipemend_checkpoints_new RENAME TO _pipemend_checkpoints;",
                        "cannot upgrade the catalog's checkpoints", err);
}

/* Incidents held their rows as one link per row; now as ranges of row ids
 * (catalog.c, RANGE_BLOCK). A catalog with the old links gets each run of
 * consecutive ids of an incident within one block as a range, and the
 * links go, in one transaction; one that cannot be written now gets the
 * ranges in this connection's memory. */
#define RANGES_OF_LINKS                                                                            \
    "SELECT incident, min(qrow) AS first_qrow, max(qrow) AS last_qrow, count(*) AS nrows FROM "    \
    "(SELECT incident, qrow, qrow - row_number() OVER (PARTITION BY incident ORDER BY qrow) AS "   \
    "run FROM main._pipemend_incident_rows) GROUP BY incident, run, qrow / 256"
static pm_code links_upgrade(sq *q, pm_err *err)
{
    static const char old_shape[] =
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_pipemend_incident_rows'";
    if (q->limited != SQ_NORMAL)
        return table_exists_main(q, "_pipemend_incident_rows") &&
                       !table_exists_main(q, "_pipemend_incident_ranges")
                   ? exec(q, "CREATE TEMP TABLE _pipemend_incident_ranges AS " RANGES_OF_LINKS, err)
                   : PM_OK;
    return upgrade_once(q, old_shape,
                        "INSERT OR IGNORE INTO _pipemend_incident_ranges (incident, first_qrow, "
                        "last_qrow, nrows) " RANGES_OF_LINKS ";"
                        "DROP TABLE _pipemend_incident_rows;",
                        "cannot upgrade the catalog's incident links", err);
}

/* ---- the driver: statements ------------------------------------------- */

/* A catalog statement, kept prepared. Its parameters are named $1, $2,
 * ...: map[i] is the SQLite index of $i. */
#define SQ_PARAMS 16
typedef struct sq_stmt {
    drv_stmt base;
    sq *q;
    sqlite3_stmt *st;
    const char *what;
    int map[SQ_PARAMS + 1];
} sq_stmt;

static sq_stmt *sq_st(drv_stmt *st)
{
    return (sq_stmt *)st;
}

static int param(drv_stmt *st, int i)
{
    return i > 0 && i <= SQ_PARAMS ? sq_st(st)->map[i] : 0;
}

static void st_bind_null(drv_stmt *st, int i)
{
    sqlite3_bind_null(sq_st(st)->st, param(st, i));
}

static void st_bind_int(drv_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(sq_st(st)->st, param(st, i), v);
}

static void st_bind_double(drv_stmt *st, int i, double v)
{
    sqlite3_bind_double(sq_st(st)->st, param(st, i), v);
}

static void st_bind_bool(drv_stmt *st, int i, bool v)
{
    sqlite3_bind_int(sq_st(st)->st, param(st, i), v);
}

/* Values are borrowed until done (driver.h): no copies. */
static void st_bind_text(drv_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(sq_st(st)->st, param(st, i), v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(sq_st(st)->st, param(st, i));
}

static void st_bind_blob(drv_stmt *st, int i, const void *v, size_t n)
{
    if (v)
        sqlite3_bind_blob64(sq_st(st)->st, param(st, i), n ? v : "", n, SQLITE_STATIC);
    else
        sqlite3_bind_null(sq_st(st)->st, param(st, i));
}

static pm_code st_step(drv_stmt *st, bool *row, pm_err *err)
{
    sq *q = sq_st(st)->q;
    int r = sqlite3_step(sq_st(st)->st);
    *row = r == SQLITE_ROW;
    if (r == SQLITE_ROW || r == SQLITE_DONE)
        return PM_OK;
    /* A catalog statement a constraint refused (say, the unique index of
     * running agent sessions) is PM_ERR_CONSTRAINT, as PostgreSQL's 23xxx
     * is, so that the caller can tell it from a broken warehouse. */
    if ((sqlite3_extended_errcode(q->db) & 0xff) == SQLITE_CONSTRAINT)
        return pm_err_set(err, PM_ERR_CONSTRAINT, "%s: %s", sq_st(st)->what, sqlite3_errmsg(q->db));
    return db_error(q, err, sq_st(st)->what);
}

static bool st_col_null(drv_stmt *st, int c)
{
    return sqlite3_column_type(sq_st(st)->st, c) == SQLITE_NULL;
}

static int64_t st_col_int(drv_stmt *st, int c)
{
    return sqlite3_column_int64(sq_st(st)->st, c);
}

static double st_col_double(drv_stmt *st, int c)
{
    return sqlite3_column_double(sq_st(st)->st, c);
}

static bool st_col_bool(drv_stmt *st, int c)
{
    return sqlite3_column_int(sq_st(st)->st, c) != 0;
}

static const char *st_col_text(drv_stmt *st, int c, pm_arena *a)
{
    return col_text(sq_st(st)->st, c, a);
}

static const char *st_col_blob(drv_stmt *st, int c, pm_arena *a, size_t *len)
{
    sqlite3_stmt *x = sq_st(st)->st;
    *len = 0;
    if (sqlite3_column_type(x, c) == SQLITE_NULL)
        return NULL;
    const void *p = sqlite3_column_blob(x, c);
    *len = (size_t)sqlite3_column_bytes(x, c);
    return pm_arena_strndup(a, p ? p : "", *len);
}

static int64_t st_changes(drv_stmt *st)
{
    return sqlite3_changes64(sq_st(st)->q->db);
}

/* reset lets go of the read lock; the bindings pointed at the caller's
 * values */
static void st_done(drv_stmt *st)
{
    sqlite3_reset(sq_st(st)->st);
    sqlite3_clear_bindings(sq_st(st)->st);
}

static const drv_stmt_ops sq_stmt_ops = {
    .bind_null = st_bind_null,
    .bind_int = st_bind_int,
    .bind_double = st_bind_double,
    .bind_bool = st_bind_bool,
    .bind_text = st_bind_text,
    .bind_blob = st_bind_blob,
    .step = st_step,
    .col_null = st_col_null,
    .col_int = st_col_int,
    .col_double = st_col_double,
    .col_bool = st_col_bool,
    .col_text = st_col_text,
    .col_blob = st_col_blob,
    .changes = st_changes,
    .done = st_done,
};

static pm_code sq_prepare(pm_store *s, const char *sql, const char *what, drv_stmt **slot,
                          pm_err *err)
{
    if (*slot) {
        st_done(*slot);
        return PM_OK;
    }
    sq *q = impl(s);
    sq_stmt *x = pm_xcalloc(1, sizeof *x);
    x->base.ops = &sq_stmt_ops;
    x->q = q;
    x->what = what;
    if (sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &x->st, NULL) != SQLITE_OK) {
        free(x);
        return db_error(q, err, "cannot prepare statement");
    }
    for (int i = 1; i <= sqlite3_bind_parameter_count(x->st); i++) {
        const char *name = sqlite3_bind_parameter_name(x->st, i);
        int k = name && name[0] == '$' ? atoi(name + 1) : 0;
        if (k > 0 && k <= SQ_PARAMS)
            x->map[k] = i;
    }
    *slot = &x->base;
    return PM_OK;
}

static void sq_drop(drv_stmt *st)
{
    sqlite3_finalize(sq_st(st)->st);
    free(st);
}

/* ---- the driver: transactions and tables --------------------------------- */

static pm_code sq_tx(pm_store *s, drv_tx kind, pm_err *err)
{
    /* a batch needs nothing more: synchronous=NORMAL never waits */
    static const char *const verb[] = {
        [DRV_BEGIN] = "BEGIN IMMEDIATE",
        [DRV_BEGIN_BATCH] = "BEGIN IMMEDIATE",
        [DRV_COMMIT] = "COMMIT",
        [DRV_ROLLBACK] = "ROLLBACK",
    };
    sq *q = impl(s);
    if (sqlite3_exec(q->db, verb[kind], NULL, NULL, NULL) != SQLITE_OK)
        return db_error(q, err, verb[kind]);
    return PM_OK;
}

static bool sq_in_tx(pm_store *s)
{
    return sqlite3_get_autocommit(impl(s)->db) == 0;
}

/* BEGIN IMMEDIATE took the database's one writer lock: every key is held. */
static pm_code sq_lock(pm_store *s, const char *key, pm_err *err)
{
    (void)s, (void)key, (void)err;
    return PM_OK;
}

static pm_code sq_table_create(pm_store *s, const pm_table *t, pm_err *err)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    pm_code rc = render_create(&b, "main", t->name, t, err);
    if (!rc)
        rc = run_sql(impl(s), b.data, "cannot create table", err);
    pm_buf_free(&b);
    return rc;
}

static pm_code sq_render_ddl(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                             const pm_table *to, pm_buf *out, pm_err *err)
{
    sq *q = impl(s);
    q->render = out;
    pm_code rc = apply_ddl(q, "main", from, ops, n, to, err);
    q->render = NULL;
    return rc;
}

static pm_code sq_apply_ddl(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                            const pm_table *to, pm_err *err)
{
    return apply_ddl(impl(s), "main", from, ops, n, to, err);
}

/* The data table's insert was prepared for the old columns. */
static void sq_table_changed(pm_store *s)
{
    sq *q = impl(s);
    sqlite3_finalize(q->insert);
    q->insert = NULL;
}

/* ---- quarantined rows, a batch at a time --------------------------------
 *
 * catalog.c's one-row statement ends in RETURNING id, which SQLite runs
 * as a statement that may write more than one row: it opens a statement
 * journal, which copies every page the INSERT touches (the table's and
 * both indexes' 16 KiB leaves) before it writes, and frees the copies at
 * its end. For a quarantine storm that was most of the writer's time. This
 * is a plain one-row INSERT, OR FAIL so that no constraint can need the
 * statement rolled back, with the id from sqlite3_last_insert_rowid. */

static pm_code keep_prepared(sq *q, sqlite3_stmt **slot, const char *sql, pm_err *err)
{
    if (*slot) {
        sqlite3_reset(*slot);
        sqlite3_clear_bindings(*slot);
        return PM_OK;
    }
    if (sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        *slot = NULL;
        return db_error(q, err, "cannot prepare statement");
    }
    return PM_OK;
}

static void bind_blob(sqlite3_stmt *st, int i, const void *v, size_t n)
{
    if (v)
        sqlite3_bind_blob64(st, i, n ? v : "", n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static pm_code sq_quarantine_add_many(pm_store *s, const pm_qrow *rows, size_t n, int64_t *ids,
                                      pm_err *err)
{
    sq *q = impl(s);
    pm_code rc = keep_prepared(
        q, &q->qadd,
        "INSERT OR FAIL INTO _pipemend_quarantine (run_id, table_name, pipeline, source, "
        "byte_offset, line, raw, raw_truncated, kinds, message, findings, status, created_at, "
        "header, delimiter) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'quarantined', "
        "strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?12, ?13)",
        err);
    for (size_t i = 0; !rc && i < n; i++) {
        const pm_qrow *r = &rows[i];
        sqlite3_stmt *st = q->qadd;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, r->run_id);
        sqlite3_bind_text(st, 2, r->table, -1, SQLITE_STATIC);
        if (r->pipeline)
            sqlite3_bind_text(st, 3, r->pipeline, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 3);
        sqlite3_bind_text(st, 4, r->source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, r->offset);
        sqlite3_bind_int64(st, 6, r->line);
        bind_blob(st, 7, r->raw ? r->raw : "", r->raw_len);
        sqlite3_bind_int(st, 8, r->raw_truncated);
        sqlite3_bind_text(st, 9, r->kinds, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, r->message, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, r->findings, -1, SQLITE_STATIC);
        bind_blob(st, 12, r->header, r->header_len);
        if (r->delimiter)
            sqlite3_bind_text(st, 13, &r->delimiter, 1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 13);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(q, err, "cannot quarantine a row");
        else if (ids)
            ids[i] = sqlite3_last_insert_rowid(q->db);
    }
    if (q->qadd) {
        sqlite3_reset(q->qadd);
        sqlite3_clear_bindings(q->qadd); /* the rows' bytes are the caller's */
    }
    return rc;
}

static const drv_ops sqlite_ops = {
    .name = "sqlite",
    /* a batch is a cheap local transaction */
    .default_batch = 5000,
    .dialect =
        {
            .catalog = "",
            .now = "strftime('%Y-%m-%dT%H:%M:%fZ','now')",
            .for_update = "",
            .epoch = "(julianday(%s) * 86400.0)",
            .in_ids = "IN (SELECT value FROM json_each(%s))",
            .quads = "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
                     "json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(%s)",
            .created = "created from the first batch",
            /* a timestamp without a zone is read as UTC */
            .as_timestamptz = "strftime('%%Y-%%m-%%d %%H:%%M:%%f+00', %s)",
            .gone_open = "",
            .gone_close = "",
        },
    .close = sq_close,
    .tx = sq_tx,
    .in_tx = sq_in_tx,
    .lock = sq_lock,
    .prepare = sq_prepare,
    .drop = sq_drop,
    .table_create = sq_table_create,
    .apply_ddl = sq_apply_ddl,
    .render_ddl = sq_render_ddl,
    .table_changed = sq_table_changed,
    .table_live = sq_table_live,
    .unique_ensure = sq_unique_ensure,
    .table_count = sq_table_count,
    .table_exists = sq_table_exists,
    .data_token = sq_data_token,
    .table_remove = sq_table_remove,
    .insert_prepare = sq_insert_prepare,
    .insert = sq_insert,
    .load = sq_load,
    .sandbox_begin = sq_sandbox_begin,
    .sandbox_load = sq_sandbox_load,
    .sandbox_end = sq_sandbox_end,
    .quarantine_add_many = sq_quarantine_add_many,
};

/* ---- opening ------------------------------------------------------------

A warehouse that cannot be written must still answer read commands
(status, runs, schema, quarantine and incidents lists). Two cases:

1. Read-only (the file or its directory cannot be written by this user, the
   file has no write bit even for root, or the mount is read-only): opened
   read-only, creating nothing: SQLite would otherwise make -wal and -shm
   files with the database's mode (0444), which then stand in the way of
   every writer once the database is writable again. Without a -wal file
   no connection has the database open, so it is read as immutable; with
   one, through SQLite's read-only shared memory.
2. Disk full (the usual open fails because -shm cannot grow): opened in
   exclusive locking mode, where SQLite keeps the WAL index in memory; the
   reading command holds the database for its short life.

A write on either fails with a message that says which (db_error). */

static bool file_exists(const char *path, const char *suffix, off_t *size)
{
    char name[4096];
    struct stat st;
    snprintf(name, sizeof name, "%s%s", path, suffix);
    if (stat(name, &st) != 0)
        return false;
    if (size)
        *size = st.st_size;
    return true;
}

/* The directory path is in: "." for a bare name. */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

static bool warehouse_read_only(const char *path)
{
    struct stat st;
    char dir[4096];
    if (strcmp(path, ":memory:") == 0 || stat(path, &st) != 0)
        return false;
    dir_of(path, dir, sizeof dir);
    return access(path, W_OK) != 0 || (st.st_mode & 0222) == 0 ||
           (access(dir, W_OK) != 0 && !file_exists(path, "-wal", NULL));
}

/* -wal and -shm files a process of this user left without write permission
 * (SQLite gives them the database's mode: a database once made 0444) while
 * the database can be written again: given its mode, so that they do not
 * make a writable warehouse fail. */
static void repair_side_modes(const char *path)
{
    struct stat db, st;
    if (stat(path, &db) != 0 || !(db.st_mode & S_IWUSR))
        return;
    for (const char *const *suffix = (const char *const[]){"-wal", "-shm", NULL}; *suffix;
         suffix++) {
        char name[4096];
        snprintf(name, sizeof name, "%s%s", path, *suffix);
        if (lstat(name, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            !(st.st_mode & S_IWUSR) && chmod(name, db.st_mode & 0666) == 0)
            pm_info("%s had mode %04o; given the warehouse's, %04o", name,
                    (unsigned)(st.st_mode & 07777), (unsigned)(db.st_mode & 0666));
    }
}

/* path as a file: URI (RFC 3986: everything but unreserved characters and
 * '/' percent-encoded), with query. */
static char *uri_of(const char *path, const char *query)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    pm_buf_puts(&b, "file:", NULL);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~", *p))
            pm_buf_printf(&b, NULL, "%c", *p);
        else
            pm_buf_printf(&b, NULL, "%%%02X", *p);
    }
    pm_buf_printf(&b, NULL, "?%s", query);
    char *uri = pm_xstrdup(b.data);
    pm_buf_free(&b);
    return uri;
}

/* Opens the connection and runs a first read; on failure the connection is
 * closed and q->db is NULL. */
static bool try_open(sq *q, const char *uri, int flags, const char *pragmas)
{
    if (sqlite3_open_v2(uri, &q->db, flags | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL) ==
            SQLITE_OK &&
        sqlite3_exec(q->db, pragmas, NULL, NULL, NULL) == SQLITE_OK &&
        sqlite3_exec(q->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) == SQLITE_OK)
        return true;
    sqlite3_close(q->db);
    q->db = NULL;
    return false;
}

static pm_code open_read_only(sq *q, pm_err *err)
{
    off_t wal = 0;
    bool has_wal = file_exists(q->path, "-wal", &wal);
    char *ro = uri_of(q->path, "mode=ro&readonly_shm=1");
    char *immutable = uri_of(q->path, "immutable=1");
    bool ok = (has_wal && try_open(q, ro, SQLITE_OPEN_READONLY, "")) ||
              ((!has_wal || wal == 0) && try_open(q, immutable, SQLITE_OPEN_READONLY, ""));
    free(ro);
    free(immutable);
    if (!ok) {
        pm_err_set(err, PM_ERR_IO,
                   "cannot read warehouse %s: it is read-only and its write-ahead log (%s-wal) "
                   "cannot be read without writing",
                   q->path, q->path);
        pm_err_hint(err, "let its owner open it once (pipemend status as that user folds the log "
                         "into the database), or make the file and its directory writable");
        return PM_ERR_IO;
    }
    sqlite3_busy_timeout(q->db, 10000);
    q->limited = SQ_READ_ONLY;
    pm_debug("warehouse %s is read-only: opened for reading only", q->path);
    return PM_OK;
}

static pm_code open_disk_full(sq *q, pm_err *err)
{
    char *uri = uri_of(q->path, "mode=rw");
    bool ok = try_open(q, uri, SQLITE_OPEN_READWRITE, "PRAGMA locking_mode=EXCLUSIVE;");
    free(uri);
    if (!ok) {
        pm_err_set(err, PM_ERR_IO, "cannot open warehouse %s: its disk is full", q->path);
        hint_disk_full(err, q->path);
        return PM_ERR_IO;
    }
    sqlite3_busy_timeout(q->db, 10000);
    q->limited = SQ_DISK_FULL;
    pm_warn("the disk that holds %s is full: the warehouse can be read, not written", q->path);
    return PM_OK;
}

/* Memory statistics make every allocation of SQLite take a process-wide
 * mutex (a quarantined row's INSERT allocates a few dozen times); pipemend
 * reads none of them. Set once, before SQLite initializes. */
static void sqlite_global_init(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

pm_code sqlite_store_open(const char *path, pm_store *s, pm_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_init);
    if (!*path)
        return pm_err_set(err, PM_ERR_USAGE, "sqlite: URL without a path"),
               pm_err_hint(err, "use sqlite:PATH, e.g. sqlite:warehouse.db"), PM_ERR_USAGE;
    if (s->must_exist && strcmp(path, ":memory:") != 0 && access(path, F_OK) != 0) {
        pm_err_set(err, PM_ERR_CONFIG, "no warehouse at %s: the file does not exist", path);
        pm_err_hint(err, "check --db (or PIPEMEND_DB, db: in pipemend.yaml); pipemend ingest "
                         "or pipemend run creates the warehouse on its first load");
        return PM_ERR_CONFIG;
    }
    sq *q = pm_xcalloc(1, sizeof *q);
    q->path = pm_xstrdup(path);
    s->impl = q;
    s->drv = &sqlite_ops;
    pm_code rc = PM_OK;
    if (warehouse_read_only(path)) {
        rc = open_read_only(q, err);
        if (!rc)
            rc = exec(q, "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;", err);
        goto catalog;
    }
    repair_side_modes(path);
    if (sqlite3_open_v2(path, &q->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        pm_err_set(err, PM_ERR_IO, "cannot open warehouse %s: %s", path,
                   q->db ? sqlite3_errmsg(q->db) : "out of memory");
        pm_err_hint(err, "check that the directory exists and is writable");
        sq_close(s);
        return PM_ERR_IO;
    }
    sqlite3_busy_timeout(q->db, 10000);
    rc = exec(q,
              "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
              "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
              err);
    if (rc && disk_full(q->db) && access(path, F_OK) == 0) {
        sqlite3_close(q->db);
        q->db = NULL;
        rc = open_disk_full(q, err);
        if (!rc)
            rc = exec(q, "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;", err);
    }
catalog:
    /* On a warehouse opened as it is (read-only, full), CREATE ... IF NOT
     * EXISTS of tables that exist writes nothing. */
    if (!rc)
        rc = catalog_create(q, err);
    if (!rc)
        rc = catalog_upgrade(q, err);
    if (!rc)
        rc = checkpoint_upgrade(q, err);
    if (!rc)
        rc = links_upgrade(q, err);
    if (!rc && q->limited == SQ_NORMAL && main_has(q, "index", "_pipemend_quarantine_run"))
        /* an index of earlier versions that no statement could use (each
         * filters by run as "$2 = 0 OR run_id = $2", which SQLite scans
         * for), which every quarantined row paid for twice: in, and out */
        rc = exec(q, "DROP INDEX IF EXISTS _pipemend_quarantine_run", err);
    if (!rc)
        rc = exec(q, "ATTACH DATABASE ':memory:' AS pm_sandbox", err);
    if (rc) {
        if (q->db && q->limited == SQ_NORMAL && !disk_full(q->db) && !read_only(q->db))
            pm_err_hint(err, "is %s a SQLite database pipemend can write?", path);
        sq_close(s);
        return rc;
    }
    return PM_OK;
}
