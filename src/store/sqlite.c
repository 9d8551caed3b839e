/* sqlite.c - the embedded SQLite backend of store.h.
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
 * with quote_ident(); every value is bound.
 *
 * The connection is opened without SQLite's own mutex (NOMUTEX): it locks on
 * every bind and step otherwise, a measured 3.6% of a bulk load. The ingest
 * pipeline guarantees that one thread at a time uses a store (ingest.c). */
#include "store/store_int.h"

#include "schema/schemadiff.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hash.h"
#include "schema/colname.h"

typedef enum stmt_id {
    ST_CHECKPOINT_GET,
    ST_CHECKPOINT_SET,
    ST_RUN_ADD,
    ST_QUARANTINE_ADD,
    ST_SCHEMA_GET,
    ST_QUARANTINE_UNLINK,
    ST_QUARANTINE_REMOVE,
    ST_INCIDENT_LINK,
    ST_TABLES_LIST,
    ST_TABLES_BRIEF,
    ST_QUARANTINE_COUNT,
    ST_QUARANTINE_COUNT_ALL,
    ST_COUNT
} stmt_id;

static const char *const stmt_sql[ST_COUNT] = {
    [ST_TABLES_LIST] = "SELECT v.table_name, v.version, v.columns FROM "
                       "_pipemend_schema_versions v WHERE v.version = (SELECT max(version) "
                       "FROM _pipemend_schema_versions w WHERE w.table_name = v.table_name) "
                       "ORDER BY v.table_name",
    [ST_TABLES_BRIEF] = "SELECT table_name, max(version) FROM _pipemend_schema_versions "
                        "GROUP BY table_name ORDER BY table_name",
    /* two statements, so that one table's count is an index lookup */
    [ST_QUARANTINE_COUNT] = "SELECT count(*) FROM _pipemend_quarantine WHERE table_name = ?1",
    [ST_QUARANTINE_COUNT_ALL] = "SELECT count(*) FROM _pipemend_quarantine",
    [ST_CHECKPOINT_GET] = "SELECT byte_offset, fingerprint, line FROM _pipemend_checkpoints "
                          "WHERE table_name = ?1 AND source = ?2",
    [ST_CHECKPOINT_SET] =
        "INSERT INTO _pipemend_checkpoints (table_name, source, byte_offset, fingerprint, line, "
        "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%fZ','now')) "
        "ON CONFLICT (table_name, source) DO UPDATE SET byte_offset = excluded.byte_offset, "
        "fingerprint = excluded.fingerprint, line = excluded.line, "
        "updated_at = excluded.updated_at",
    [ST_RUN_ADD] = "UPDATE _pipemend_runs SET rows_read = rows_read + ?2, rows_loaded = "
                   "rows_loaded + ?3, rows_quarantined = rows_quarantined + ?4 WHERE id = ?1",
    [ST_QUARANTINE_ADD] =
        "INSERT INTO _pipemend_quarantine (run_id, table_name, pipeline, source, byte_offset, "
        "line, raw, raw_truncated, kinds, message, findings, status, created_at, header) VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'quarantined', "
        "strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?12)",
    [ST_SCHEMA_GET] = "SELECT version, columns FROM _pipemend_schema_versions WHERE table_name = "
                      "?1 ORDER BY version DESC LIMIT 1",
    [ST_QUARANTINE_UNLINK] = "DELETE FROM _pipemend_incident_rows WHERE qrow = ?1",
    [ST_QUARANTINE_REMOVE] = "DELETE FROM _pipemend_quarantine WHERE id = ?1",
    [ST_INCIDENT_LINK] = "INSERT OR IGNORE INTO _pipemend_incident_rows (incident, qrow) VALUES "
                         "(?1, ?2)",
};

static const char catalog_sql[] =
    "CREATE TABLE IF NOT EXISTS _pipemend_schema_versions ("
    " table_name TEXT NOT NULL, version INTEGER NOT NULL, columns TEXT NOT NULL,"
    " reason TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (table_name, version)) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_checkpoints ("
    " table_name TEXT NOT NULL, source TEXT NOT NULL, byte_offset INTEGER NOT NULL,"
    " fingerprint INTEGER NOT NULL, line INTEGER NOT NULL, updated_at TEXT NOT NULL,"
    " PRIMARY KEY (table_name, source)) STRICT;"
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
    " created_at TEXT NOT NULL, header BLOB) STRICT;"
    "CREATE INDEX IF NOT EXISTS _pipemend_quarantine_table ON _pipemend_quarantine (table_name, "
    "id);"
    "CREATE INDEX IF NOT EXISTS _pipemend_quarantine_run ON _pipemend_quarantine (run_id);"
    "CREATE TABLE IF NOT EXISTS _pipemend_proposals ("
    " id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, run_id INTEGER NOT NULL,"
    " version INTEGER NOT NULL, state TEXT NOT NULL, ops TEXT NOT NULL, why TEXT NOT NULL,"
    " created_at TEXT NOT NULL, decided_by TEXT, decided_at TEXT, incident INTEGER,"
    " dry_run TEXT) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_incidents ("
    " id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
    " kind TEXT NOT NULL, state TEXT NOT NULL, run_id INTEGER NOT NULL, proposal INTEGER,"
    " message TEXT NOT NULL, detected_at TEXT NOT NULL, planned_at TEXT, applied_at TEXT,"
    " replayed_at TEXT, resolved_at TEXT, decided_by TEXT, note TEXT) STRICT;"
    "CREATE INDEX IF NOT EXISTS _pipemend_incidents_key ON _pipemend_incidents (table_name,"
    " column_name, kind, state);"
    "CREATE TABLE IF NOT EXISTS _pipemend_incident_rows ("
    " incident INTEGER NOT NULL, qrow INTEGER NOT NULL, PRIMARY KEY (incident, qrow)) STRICT;"
    "CREATE INDEX IF NOT EXISTS _pipemend_incident_rows_qrow ON _pipemend_incident_rows (qrow);"
    "CREATE TABLE IF NOT EXISTS _pipemend_halts ("
    " table_name TEXT NOT NULL, source TEXT NOT NULL, qrow INTEGER NOT NULL,"
    " halted_at TEXT NOT NULL, PRIMARY KEY (table_name, source)) STRICT;"
    "CREATE TABLE IF NOT EXISTS _pipemend_audit ("
    " seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
    " subject TEXT NOT NULL, payload TEXT NOT NULL, prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL) STRICT;";

#define COUNT_CACHE 16

typedef struct sq {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[ST_COUNT];
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
} sq;

static sq *impl(pm_store *s)
{
    return s->impl;
}

static pm_code db_error(sq *q, pm_err *err, const char *what)
{
    int code = sqlite3_extended_errcode(q->db);
    pm_code rc =
        (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED ? PM_ERR_BUSY : PM_ERR_DB;
    pm_err_set(err, rc, "%s: %s", what, sqlite3_errmsg(q->db));
    if (rc == PM_ERR_BUSY)
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

/* "name" with embedded quotes doubled: the only way an identifier reaches SQL. */
static pm_code quote_ident(pm_buf *b, const char *name, pm_err *err)
{
    pm_code rc = pm_buf_putc(b, '"', err);
    for (const char *p = name; !rc && *p; p++)
        rc = *p == '"' ? pm_buf_append(b, "\"\"", 2, err) : pm_buf_putc(b, *p, err);
    return rc ? rc : pm_buf_putc(b, '"', err);
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

static pm_code prep(sq *q, stmt_id id, sqlite3_stmt **out, pm_err *err)
{
    if (!q->st[id] && sqlite3_prepare_v3(q->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                         &q->st[id], NULL) != SQLITE_OK)
        return db_error(q, err, "cannot prepare statement");
    sqlite3_reset(q->st[id]);
    sqlite3_clear_bindings(q->st[id]);
    *out = q->st[id];
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
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    for (size_t i = 0; i < COUNT_CACHE; i++) {
        sqlite3_finalize(q->counts[i].st);
        free(q->counts[i].table);
    }
    sqlite3_finalize(q->insert);
    sq_sandbox_end(s);
    sqlite3_close(q->db);
    free(q->path);
    free(q);
}

static pm_code sq_exec_tx(pm_store *s, const char *verb, pm_err *err)
{
    sq *q = impl(s);
    if (strcmp(verb, "BEGIN BATCH") == 0) /* synchronous=NORMAL already */
        verb = "BEGIN IMMEDIATE";
    if (sqlite3_exec(q->db, verb, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(q, err, verb);
    return PM_OK;
}

static pm_code sq_table_load(pm_store *s, const char *name, pm_arena *a, pm_table **out,
                             pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *out = NULL;
    pm_code rc = prep(q, ST_SCHEMA_GET, &st, err);
    if (rc)
        return rc;
    bind_text(st, 1, name);
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE)
        return PM_OK;
    if (r != SQLITE_ROW)
        return db_error(q, err, "cannot read the catalog");
    pm_table *t = table_new(a, name);
    t->version = sqlite3_column_int(st, 0);
    rc = table_columns_parse(t, a, (const char *)sqlite3_column_text(st, 1), err);
    sqlite3_reset(st);
    if (!rc)
        *out = t;
    return rc;
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
            rc = quote_ident(&b, stale[i], err);
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
                rc = quote_ident(&b, want, err);
            if (!rc)
                rc = pm_buf_puts(&b, " ON ", err);
            if (!rc)
                rc = quote_ident(&b, t->name, err);
            if (!rc)
                rc = pm_buf_puts(&b, " (", err);
            for (size_t i = 0; !rc && i < u->nkey; i++) {
                if (i)
                    rc = pm_buf_puts(&b, ", ", err);
                if (!rc)
                    rc = quote_ident(&b, u->key[i], err);
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

static pm_code qualify(pm_buf *b, const char *schema, const char *name, pm_err *err);

/* CREATE TABLE schema.name (columns of t) STRICT, into b. */
static pm_code render_create(pm_buf *b, const char *schema, const char *name, const pm_table *t,
                             pm_err *err)
{
    pm_code rc = pm_buf_puts(b, "CREATE TABLE ", err);
    if (!rc)
        rc = qualify(b, schema, name, err);
    if (!rc)
        rc = pm_buf_puts(b, " (", err);
    for (size_t i = 0; !rc && i < t->ncols; i++) {
        if (i)
            rc = pm_buf_puts(b, ", ", err);
        if (!rc)
            rc = quote_ident(b, t->cols[i].name, err);
        if (!rc)
            rc = pm_buf_printf(b, err, " %s%s", type_sqlite_decl(t->cols[i].type),
                               t->cols[i].nullable ? "" : " NOT NULL");
    }
    return rc ? rc : pm_buf_puts(b, ") STRICT", err);
}

static pm_code run_sql(sq *q, const char *sql, const char *what, pm_err *err)
{
    if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(q, err, what);
    return PM_OK;
}

static pm_code record_version(sq *q, const pm_table *t, const char *reason, pm_err *err)
{
    json_t *cols = table_columns_json(t);
    char *text = json_dumps(cols, JSON_COMPACT);
    json_decref(cols);
    sqlite3_stmt *st = NULL;
    pm_code rc = PM_OK;
    if (sqlite3_prepare_v2(q->db,
                           "INSERT INTO _pipemend_schema_versions (table_name, version, columns, "
                           "reason, created_at) VALUES (?1, ?2, ?3, ?4, "
                           "strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(q, err, "cannot record the schema version");
    } else {
        bind_text(st, 1, t->name);
        sqlite3_bind_int(st, 2, t->version);
        bind_text(st, 3, text);
        bind_text(st, 4, reason);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(q, err, "cannot record the schema version");
    }
    sqlite3_finalize(st);
    free(text);
    return rc;
}

/* SQLite's documented procedure for changes ALTER TABLE cannot make
 * (https://sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
 * Schema Changes"): create the new table, copy the rows converting each
 * column to its new storage class, drop the old table, rename the new one,
 * and recreate the old table's indexes. Runs inside the caller's
 * transaction, so a failure leaves the old table as it was. */
/* schema.name, both quoted. */
static pm_code qualify(pm_buf *b, const char *schema, const char *name, pm_err *err)
{
    pm_code rc = quote_ident(b, schema, err);
    if (!rc)
        rc = pm_buf_putc(b, '.', err);
    return rc ? rc : quote_ident(b, name, err);
}

static pm_code rebuild(sq *q, const char *schema, const pm_table *from, const pm_table *to,
                       pm_err *err)
{
    char tmp[COLNAME_MAX + 32];
    snprintf(tmp, sizeof tmp, "_pipemend_rebuild_%s", to->name);
    pm_buf b;
    pm_buf_init(&b, 1 << 22);
    /* the index definitions, to replay after the rename */
    char **idx = NULL;
    size_t nidx = 0;
    sqlite3_stmt *st = NULL;
    pm_code rc = PM_OK;
    /* (a sandbox clone has no indexes) */
    if (strcmp(schema, "main") != 0)
        ;
    else if (sqlite3_prepare_v2(q->db,
                                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name "
                                "= ?1 AND sql IS NOT NULL",
                                -1, &st, NULL) != SQLITE_OK)
        rc = db_error(q, err, "cannot read the table's indexes");
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
        rc = qualify(&b, schema, tmp, err);
    if (!rc)
        rc = pm_buf_puts(&b, " (", err);
    for (size_t i = 0; !rc && i < from->ncols; i++) {
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = quote_ident(&b, from->cols[i].name, err);
    }
    if (!rc)
        rc = pm_buf_puts(&b, ") SELECT ", err);
    for (size_t i = 0; !rc && i < from->ncols; i++) {
        int j = table_find(to, from->cols[i].name, strlen(from->cols[i].name));
        const char *decl = j >= 0 ? type_sqlite_decl(to->cols[j].type) : "TEXT";
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = pm_buf_puts(&b, "CAST(", err);
        if (!rc)
            rc = quote_ident(&b, from->cols[i].name, err);
        if (!rc)
            rc = pm_buf_printf(&b, err, " AS %s)", decl);
    }
    if (!rc)
        rc = pm_buf_puts(&b, " FROM ", err);
    if (!rc)
        rc = qualify(&b, schema, from->name, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot copy rows into the rebuilt table", err);
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "DROP TABLE ", err);
    if (!rc)
        rc = qualify(&b, schema, from->name, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot drop the old table", err);
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "ALTER TABLE ", err);
    if (!rc)
        rc = qualify(&b, schema, tmp, err);
    if (!rc)
        rc = pm_buf_puts(&b, " RENAME TO ", err);
    if (!rc)
        rc = quote_ident(&b, to->name, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot rename the rebuilt table", err);
    /* The index SQL is SQLite's own stored text for indexes pipemend made
     * (or a user made on the table): it is replayed, not composed. */
    for (size_t i = 0; !rc && i < nidx; i++)
        rc = run_sql(q, idx[i], "cannot recreate an index after the rebuild", err);
    for (size_t i = 0; i < nidx; i++)
        free(idx[i]);
    free(idx);
    pm_buf_free(&b);
    return rc;
}

/* The DDL of ops on schema.from (main, or the sandbox): ADD COLUMN is done
 * in place; a change of a column's storage class or of its NOT NULL needs
 * the rebuild; mappings, coercions and widenings within a storage class
 * change the catalog only. */
static pm_code apply_ddl(sq *q, const char *schema, const pm_table *from, const pm_op *ops,
                         size_t n, const pm_table *to, pm_err *err)
{
    pm_code rc = PM_OK;
    bool need_rebuild = false;
    for (size_t i = 0; i < n; i++) {
        const pm_op *op = &ops[i];
        int j = op->column ? table_find(from, op->column, strlen(op->column)) : -1;
        if (op->kind == OP_DROP_NOT_NULL)
            need_rebuild = true;
        else if (op->kind == OP_WIDEN_COLUMN && j >= 0 &&
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
            rc = qualify(&b, schema, from->name, err);
        if (!rc)
            rc = pm_buf_puts(&b, " ADD COLUMN ", err);
        if (!rc)
            rc = quote_ident(&b, ops[i].column, err);
        if (!rc)
            rc = pm_buf_printf(&b, err, " %s", type_sqlite_decl(ops[i].type));
        if (!rc)
            rc = run_sql(q, b.data, "cannot add the column", err);
    }
    pm_buf_free(&b);
    return rc;
}

static pm_code sq_apply_ops(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                            const pm_table *to, const char *reason, pm_err *err)
{
    sq *q = impl(s);
    bool own = sqlite3_get_autocommit(q->db) != 0;
    if (own && sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot take the migration lock");
    pm_table *now = NULL;
    pm_arena *a = pm_arena_new(0);
    pm_code rc = sq_table_load(s, from->name, a, &now, err);
    if (!rc && (!now || now->version != from->version)) {
        rc = pm_err_set(err, PM_ERR_BUSY,
                        "%s changed since the plan was made (schema version %d, planned against "
                        "%d)",
                        from->name, now ? now->version : 0, from->version);
        pm_err_hint(err, "plan again against the current schema");
    }
    if (!rc)
        rc = apply_ddl(q, "main", from, ops, n, to, err);
    if (!rc)
        rc = record_version(q, to, reason, err);
    pm_arena_free(a);
    /* The data table's insert was prepared for the old columns. */
    sqlite3_finalize(q->insert);
    q->insert = NULL;
    if (own)
        sqlite3_exec(q->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
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

static pm_code sq_table_adopt(pm_store *s, const pm_table *t, const char *reason, pm_err *err)
{
    sq *q = impl(s);
    pm_code rc = record_version(q, t, reason, err);
    /* an insert prepared for the old columns would not fit */
    sqlite3_finalize(q->insert);
    q->insert = NULL;
    return rc;
}

static pm_code sq_table_create(pm_store *s, const pm_table *t, pm_err *err)
{
    sq *q = impl(s);
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    pm_code rc = render_create(&b, "main", t->name, t, err);
    if (!rc)
        rc = run_sql(q, b.data, "cannot create table", err);
    pm_buf_free(&b);
    pm_table first = *t;
    first.version = 1;
    return rc ? rc : record_version(q, &first, "created from the first batch", err);
}

static pm_code tables(pm_store *s, bool brief, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *n = 0;
    *out = NULL;
    if (prep(q, brief ? ST_TABLES_BRIEF : ST_TABLES_LIST, &st, err) != PM_OK)
        return db_error(q, err, "cannot list tables");
    size_t cap = 0;
    pm_code rc = PM_OK;
    int r;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            pm_table **nt = pm_arena_alloc(a, cap * sizeof *nt);
            if (*n)
                memcpy(nt, *out, *n * sizeof *nt);
            *out = nt;
        }
        pm_table *t = table_new(a, col_text(st, 0, a));
        t->version = sqlite3_column_int(st, 1);
        if (!brief)
            rc = table_columns_parse(t, a, (const char *)sqlite3_column_text(st, 2), err);
        (*out)[(*n)++] = t;
    }
    if (!rc && r != SQLITE_DONE)
        rc = db_error(q, err, "cannot list tables");
    sqlite3_reset(st); /* kept prepared; reset lets go of the read lock */
    return rc;
}

static pm_code sq_tables_list(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    return tables(s, false, a, out, n, err);
}

static pm_code sq_tables_brief(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    return tables(s, true, a, out, n, err);
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
        rc = quote_ident(&b, name, err);
    sqlite3_stmt *st = NULL;
    char *copy = rc ? NULL : strdup(name);
    if (!rc && (!copy || sqlite3_prepare_v3(q->db, b.data, -1, SQLITE_PREPARE_PERSISTENT, &st,
                                            NULL) != SQLITE_OK)) {
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

static pm_code sq_insert_prepare(pm_store *s, const pm_table *t, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_finalize(q->insert);
    q->insert = NULL;
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    pm_code rc = pm_buf_puts(&b, "INSERT INTO ", err);
    if (!rc)
        rc = quote_ident(&b, t->name, err);
    if (!rc)
        rc = pm_buf_puts(&b, " (", err);
    for (size_t i = 0; !rc && i < t->ncols; i++) {
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = quote_ident(&b, t->cols[i].name, err);
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
    return rc;
}

static pm_code bind_step(sq *q, sqlite3_stmt *st, size_t ncols, const pm_cell *cells,
                         bool any_constraint, pm_err *err);

static pm_code sq_insert(pm_store *s, const pm_cell *cells, pm_err *err)
{
    sq *q = impl(s);
    return bind_step(q, q->insert, q->insert_ncols, cells, true, err);
}

/* SQLite inserts row by row: a prepared statement per row is its fastest
 * path, and a refused row costs nothing to the others. */
static pm_code sq_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err)
{
    for (size_t i = 0; i < n; i++) {
        pm_err ie;
        pm_code rc = sq_insert(s, rows[i].cells, &ie);
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

static pm_code sq_quarantine_add(pm_store *s, const pm_qrow *r, int64_t *id, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    pm_code rc = prep(q, ST_QUARANTINE_ADD, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, r->run_id);
    bind_text(st, 2, r->table);
    bind_text(st, 3, r->pipeline);
    bind_text(st, 4, r->source);
    sqlite3_bind_int64(st, 5, r->offset);
    sqlite3_bind_int64(st, 6, r->line);
    sqlite3_bind_blob64(st, 7, r->raw_len ? r->raw : "", r->raw_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, r->raw_truncated);
    bind_text(st, 9, r->kinds);
    bind_text(st, 10, r->message);
    bind_text(st, 11, r->findings);
    if (r->header)
        sqlite3_bind_blob64(st, 12, r->header, r->header_len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot quarantine a row");
    else
        *id = sqlite3_last_insert_rowid(q->db);
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_quarantine_update(pm_store *s, int64_t id, const char *kinds, const char *message,
                                    const char *findings, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db,
                           "UPDATE _pipemend_quarantine SET kinds = ?2, message = ?3, findings = "
                           "?4 WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot update a quarantined row");
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, kinds);
    bind_text(st, 3, message);
    bind_text(st, 4, findings);
    pm_code rc = sqlite3_step(st) == SQLITE_DONE
                     ? PM_OK
                     : db_error(q, err, "cannot update a quarantined row");
    sqlite3_finalize(st);
    return rc;
}

#define QROW_COLUMNS                                                                               \
    "q.id, q.run_id, q.table_name, q.pipeline, q.source, q.byte_offset, q.line, q.raw, "           \
    "q.raw_truncated, q.kinds, q.message, q.findings, q.status, q.created_at, q.header"

/* Steps st (selecting QROW_COLUMNS) to its end into rows in a. */
static pm_code read_qrows(sq *q, sqlite3_stmt *st, pm_arena *a, pm_qrow **out, size_t *n,
                          pm_err *err)
{
    size_t cap = 0;
    int r;
    *n = 0;
    *out = NULL;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            pm_qrow *nr = pm_arena_alloc(a, cap * sizeof *nr);
            if (*n)
                memcpy(nr, *out, *n * sizeof *nr);
            *out = nr;
        }
        pm_qrow *x = &(*out)[(*n)++];
        memset(x, 0, sizeof *x);
        x->id = sqlite3_column_int64(st, 0);
        x->run_id = sqlite3_column_int64(st, 1);
        x->table = col_text(st, 2, a);
        x->pipeline = col_text(st, 3, a);
        x->source = col_text(st, 4, a);
        x->offset = sqlite3_column_int64(st, 5);
        x->line = sqlite3_column_int64(st, 6);
        x->raw_len = (size_t)sqlite3_column_bytes(st, 7);
        x->raw = pm_arena_strndup(a, sqlite3_column_blob(st, 7), x->raw_len);
        x->raw_truncated = sqlite3_column_int(st, 8);
        x->kinds = col_text(st, 9, a);
        x->message = col_text(st, 10, a);
        x->findings = col_text(st, 11, a);
        x->status = col_text(st, 12, a);
        x->created_at = col_text(st, 13, a);
        if (sqlite3_column_type(st, 14) != SQLITE_NULL) {
            x->header_len = (size_t)sqlite3_column_bytes(st, 14);
            x->header = pm_arena_strndup(a, sqlite3_column_blob(st, 14), x->header_len);
        }
    }
    pm_code rc = r == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot list quarantine");
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_quarantine_list(pm_store *s, const char *table, int64_t run_id, int limit,
                                  int64_t id, pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *n = 0;
    *out = NULL;
    if (sqlite3_prepare_v2(
            q->db,
            "SELECT " QROW_COLUMNS " FROM _pipemend_quarantine q WHERE (?1 IS NULL OR "
            "q.table_name = ?1) AND (?2 = 0 OR q.run_id = ?2) AND (?3 = 0 OR q.id = ?3) ORDER BY "
            "q.id DESC LIMIT ?4",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot list quarantine");
    bind_text(st, 1, table);
    sqlite3_bind_int64(st, 2, run_id);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int64(st, 4, limit > 0 ? limit : -1);
    return read_qrows(q, st, a, out, n, err);
}

static pm_code sq_incident_unlink_row(pm_store *s, int64_t qrow, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    pm_code rc = prep(q, ST_QUARANTINE_UNLINK, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, qrow);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot unlink a quarantined row from its incidents");
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_quarantine_remove(pm_store *s, int64_t id, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    pm_code rc = sq_incident_unlink_row(s, id, err);
    if (!rc)
        rc = prep(q, ST_QUARANTINE_REMOVE, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot take a row out of quarantine");
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_quarantine_page(pm_store *s, const char *table, int64_t after, int limit,
                                  pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *n = 0;
    *out = NULL;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT q.id, q.run_id, NULL, NULL, q.source, q.byte_offset, q.line, "
                           "q.raw, q.raw_truncated, NULL, NULL, q.findings, NULL, NULL, q.header "
                           "FROM _pipemend_quarantine q WHERE q.table_name = ?1 AND q.id > ?2 "
                           "ORDER BY q.id LIMIT ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot list quarantine");
    bind_text(st, 1, table);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
    return read_qrows(q, st, a, out, n, err);
}

/* Ids go in as one JSON array per statement, read back by json_each. */
static pm_code sq_quarantine_remove_many(pm_store *s, const int64_t *ids, size_t n, pm_err *err)
{
    sq *q = impl(s);
    static const char *const sql[] = {
        "DELETE FROM _pipemend_incident_rows WHERE qrow IN (SELECT value FROM json_each(?1))",
        "DELETE FROM _pipemend_quarantine WHERE id IN (SELECT value FROM json_each(?1))",
    };
    pm_buf b;
    pm_buf_init(&b, 64u * 1024 * 1024);
    pm_code rc = PM_OK;
    for (size_t at = 0; !rc && at < n; at += 4096) {
        size_t end = n - at > 4096 ? at + 4096 : n;
        pm_buf_reset(&b);
        rc = pm_buf_putc(&b, '[', err);
        for (size_t i = at; !rc && i < end; i++)
            rc = pm_buf_printf(&b, err, "%s%lld", i > at ? "," : "", (long long)ids[i]);
        if (!rc)
            rc = pm_buf_putc(&b, ']', err);
        for (size_t k = 0; !rc && k < 2; k++) {
            sqlite3_stmt *st;
            if (sqlite3_prepare_v2(q->db, sql[k], -1, &st, NULL) != SQLITE_OK)
                return pm_buf_free(&b), db_error(q, err, "cannot take rows out of quarantine");
            sqlite3_bind_text(st, 1, b.data, (int)b.len, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = db_error(q, err, "cannot take rows out of quarantine");
            sqlite3_finalize(st);
        }
    }
    pm_buf_free(&b);
    return rc;
}

static pm_code sq_quarantine_count(pm_store *s, const char *table, int64_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    if (prep(q, table ? ST_QUARANTINE_COUNT : ST_QUARANTINE_COUNT_ALL, &st, err) != PM_OK)
        return db_error(q, err, "cannot count quarantine");
    if (table)
        bind_text(st, 1, table);
    pm_code rc = PM_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        rc = db_error(q, err, "cannot count quarantine");
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_checkpoint_get(pm_store *s, const char *table, const char *source,
                                 pm_checkpoint *out, bool *found, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    pm_code rc = prep(q, ST_CHECKPOINT_GET, &st, err);
    if (rc)
        return rc;
    bind_text(st, 1, table);
    bind_text(st, 2, source);
    int r = sqlite3_step(st);
    *found = r == SQLITE_ROW;
    if (*found) {
        out->offset = (uint64_t)sqlite3_column_int64(st, 0);
        out->fingerprint = (uint64_t)sqlite3_column_int64(st, 1);
        out->line = (uint64_t)sqlite3_column_int64(st, 2);
    } else if (r != SQLITE_DONE) {
        rc = db_error(q, err, "cannot read the checkpoint");
    }
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_checkpoint_set(pm_store *s, const char *table, const char *source,
                                 const pm_checkpoint *cp, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    pm_code rc = prep(q, ST_CHECKPOINT_SET, &st, err);
    if (rc)
        return rc;
    bind_text(st, 1, table);
    bind_text(st, 2, source);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)cp->offset);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)cp->fingerprint);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)cp->line);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot write the checkpoint");
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_run_start(pm_store *s, const char *pipeline, const char *table, int64_t *id,
                            pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    if (sqlite3_prepare_v2(q->db,
                           "INSERT INTO _pipemend_runs (pipeline, table_name, status, started_at, "
                           "pid, host) VALUES (?1, ?2, 'running', "
                           "strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot record the run");
    bind_text(st, 1, pipeline);
    bind_text(st, 2, table);
    sqlite3_bind_int64(st, 3, getpid());
    bind_text(st, 4, host);
    pm_code rc = PM_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot record the run");
    else
        *id = sqlite3_last_insert_rowid(q->db);
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_run_add(pm_store *s, int64_t id, int64_t r, int64_t l, int64_t qn, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    pm_code rc = prep(q, ST_RUN_ADD, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, r);
    sqlite3_bind_int64(st, 3, l);
    sqlite3_bind_int64(st, 4, qn);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot update the run");
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_run_finish(pm_store *s, int64_t id, const char *status, const char *error,
                             bool anomaly, const char *note, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db,
                           "UPDATE _pipemend_runs SET status = ?2, error = ?3, volume_anomaly = "
                           "?4, volume_note = ?5, finished_at = "
                           "strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot finish the run");
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, status);
    bind_text(st, 3, error);
    sqlite3_bind_int(st, 4, anomaly);
    bind_text(st, 5, note);
    pm_code rc =
        sqlite3_step(st) == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot finish the run");
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_runs_list(pm_store *s, const char *pipeline, const char *table, int limit,
                            int64_t id, pm_arena *a, pm_run **out, size_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *n = 0;
    *out = NULL;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT id, pipeline, table_name, status, started_at, finished_at, "
                           "rows_read, rows_loaded, rows_quarantined, error, volume_anomaly, "
                           "volume_note FROM _pipemend_runs WHERE (?1 IS NULL OR pipeline = ?1) "
                           "AND (?2 IS NULL OR table_name = ?2) AND (?3 = 0 OR id = ?3) "
                           "ORDER BY id DESC LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot list runs");
    bind_text(st, 1, pipeline);
    bind_text(st, 2, table);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int64(st, 4, limit > 0 ? limit : -1);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            pm_run *nr = pm_arena_alloc(a, cap * sizeof *nr);
            if (*n)
                memcpy(nr, *out, *n * sizeof *nr);
            *out = nr;
        }
        pm_run *x = &(*out)[(*n)++];
        x->id = sqlite3_column_int64(st, 0);
        x->pipeline = col_text(st, 1, a);
        x->table = col_text(st, 2, a);
        x->status = col_text(st, 3, a);
        x->started_at = col_text(st, 4, a);
        x->finished_at = col_text(st, 5, a);
        x->rows_read = sqlite3_column_int64(st, 6);
        x->rows_loaded = sqlite3_column_int64(st, 7);
        x->rows_quarantined = sqlite3_column_int64(st, 8);
        x->error = col_text(st, 9, a);
        x->volume_anomaly = sqlite3_column_int(st, 10);
        x->volume_note = col_text(st, 11, a);
    }
    pm_code rc = r == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot list runs");
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_runs_reap(pm_store *s, pm_arena *a, int64_t **ids, size_t *n, pm_err *err)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    sq *q = impl(s);
    sqlite3_stmt *st, *up;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    if (sqlite3_prepare_v2(
            q->db, "SELECT id, pid FROM _pipemend_runs WHERE status = 'running' AND host = ?1", -1,
            &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read runs");
    if (sqlite3_prepare_v2(q->db,
                           "UPDATE _pipemend_runs SET status = 'aborted', error = 'the process "
                           "running it ended before it finished (killed or crashed); committed "
                           "batches were kept and a re-run resumes from the checkpoint', "
                           "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1",
                           -1, &up, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_error(q, err, "cannot update runs");
    }
    bind_text(st, 1, host);
    pm_code rc = PM_OK;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        pid_t pid = (pid_t)sqlite3_column_int64(st, 1);
        if (pid == getpid() || kill(pid, 0) == 0 || errno == EPERM)
            continue; /* alive (EPERM: alive, owned by another user) */
        int64_t id = sqlite3_column_int64(st, 0);
        sqlite3_bind_int64(up, 1, id);
        if (sqlite3_step(up) != SQLITE_DONE)
            rc = db_error(q, err, "cannot update runs");
        sqlite3_reset(up);
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            int64_t *ni = pm_arena_alloc(a, cap * sizeof *ni);
            if (*n)
                memcpy(ni, *ids, *n * sizeof *ni);
            *ids = ni;
        }
        (*ids)[(*n)++] = id;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc;
}

static pm_code sq_audit_append(pm_store *s, pm_audit_event *e,
                               void (*hash)(const pm_audit_event *e, char out[65]), pm_err *err)
{
    sq *q = impl(s);
    /* Reading the last event and appending after it must be one write
     * transaction, or two processes could chain onto the same event. */
    bool own = sqlite3_get_autocommit(q->db) != 0;
    if (own && sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot write the audit log");
    sqlite3_stmt *st = NULL;
    char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    char hex[65];
    pm_code rc = PM_OK;
    if (sqlite3_prepare_v2(q->db, "SELECT seq, hash FROM _pipemend_audit ORDER BY seq DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(q, err, "cannot read the audit log");
    } else {
        int r = sqlite3_step(st);
        e->seq = 1;
        if (r == SQLITE_ROW) {
            e->seq = sqlite3_column_int64(st, 0) + 1;
            snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(st, 1));
        } else if (r != SQLITE_DONE) {
            rc = db_error(q, err, "cannot read the audit log");
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!rc) {
        e->prev_hash = prev;
        hash(e, hex);
        e->hash = hex;
        if (sqlite3_prepare_v2(q->db,
                               "INSERT INTO _pipemend_audit (seq, at, actor, action, subject, "
                               "payload, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = db_error(q, err, "cannot write the audit log");
        } else {
            sqlite3_bind_int64(st, 1, e->seq);
            bind_text(st, 2, e->at);
            bind_text(st, 3, e->actor);
            bind_text(st, 4, e->action);
            bind_text(st, 5, e->subject);
            bind_text(st, 6, e->payload);
            bind_text(st, 7, e->prev_hash);
            bind_text(st, 8, e->hash);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = db_error(q, err, "cannot write the audit log");
        }
        sqlite3_finalize(st);
    }
    e->prev_hash = e->hash = NULL; /* they pointed at this frame */
    if (own)
        sqlite3_exec(q->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    return rc;
}

static pm_code sq_audit_list(pm_store *s, int64_t after, int limit, pm_arena *a,
                             pm_audit_event **out, size_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *n = 0;
    *out = NULL;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT seq, at, actor, action, subject, payload, prev_hash, hash FROM "
                           "_pipemend_audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read the audit log");
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            pm_audit_event *ne = pm_arena_alloc(a, cap * sizeof *ne);
            if (*n)
                memcpy(ne, *out, *n * sizeof *ne);
            *out = ne;
        }
        pm_audit_event *e = &(*out)[(*n)++];
        e->seq = sqlite3_column_int64(st, 0);
        e->at = col_text(st, 1, a);
        e->actor = col_text(st, 2, a);
        e->action = col_text(st, 3, a);
        e->subject = col_text(st, 4, a);
        e->payload = col_text(st, 5, a);
        e->prev_hash = col_text(st, 6, a);
        e->hash = col_text(st, 7, a);
    }
    pm_code rc = r == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot read the audit log");
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_proposal_add(pm_store *s, const pm_proposal *p, int64_t *id, bool *created,
                               pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st = NULL;
    pm_code rc = PM_OK;
    *created = false;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT id FROM _pipemend_proposals WHERE table_name = ?1 AND ops = ?2 "
                           "AND state IN ('pending', 'rejected') ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read proposals");
    bind_text(st, 1, p->table);
    bind_text(st, 2, p->ops);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return PM_OK;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(q->db,
                           "INSERT INTO _pipemend_proposals (table_name, run_id, version, state, "
                           "ops, why, created_at, incident) VALUES (?1, ?2, ?3, 'pending', ?4, "
                           "?5, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot record the proposal");
    bind_text(st, 1, p->table);
    sqlite3_bind_int64(st, 2, p->run_id);
    sqlite3_bind_int(st, 3, p->version);
    bind_text(st, 4, p->ops);
    bind_text(st, 5, p->why);
    if (p->incident)
        sqlite3_bind_int64(st, 6, p->incident);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_error(q, err, "cannot record the proposal");
    } else {
        *id = sqlite3_last_insert_rowid(q->db);
        *created = true;
    }
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_proposals_list(pm_store *s, const char *table, const char *state, int64_t id,
                                 pm_arena *a, pm_proposal **out, size_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *n = 0;
    *out = NULL;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT id, table_name, run_id, version, state, ops, why, created_at, "
                           "decided_by, decided_at, incident, dry_run FROM _pipemend_proposals "
                           "WHERE (?1 IS NULL OR "
                           "table_name = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 = 0 OR id = "
                           "?3) ORDER BY id DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read proposals");
    bind_text(st, 1, table);
    bind_text(st, 2, state);
    sqlite3_bind_int64(st, 3, id);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            pm_proposal *np = pm_arena_alloc(a, cap * sizeof *np);
            if (*n)
                memcpy(np, *out, *n * sizeof *np);
            *out = np;
        }
        pm_proposal *x = &(*out)[(*n)++];
        x->id = sqlite3_column_int64(st, 0);
        x->table = col_text(st, 1, a);
        x->run_id = sqlite3_column_int64(st, 2);
        x->version = sqlite3_column_int(st, 3);
        x->state = col_text(st, 4, a);
        x->ops = col_text(st, 5, a);
        x->why = col_text(st, 6, a);
        x->created_at = col_text(st, 7, a);
        x->decided_by = col_text(st, 8, a);
        x->decided_at = col_text(st, 9, a);
        x->incident = sqlite3_column_int64(st, 10);
        x->dry_run = col_text(st, 11, a);
    }
    pm_code rc = r == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot read proposals");
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_proposal_decide(pm_store *s, int64_t id, const char *state, const char *actor,
                                  pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db,
                           "UPDATE _pipemend_proposals SET state = ?2, decided_by = ?3, "
                           "decided_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1 AND "
                           "state = 'pending'",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot update the proposal");
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, state);
    bind_text(st, 3, actor);
    pm_code rc = PM_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot update the proposal");
    else if (sqlite3_changes(q->db) != 1)
        rc = pm_err_set(err, PM_ERR_BUSY, "proposal %lld is not pending", (long long)id);
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_proposal_set_dry_run(pm_store *s, int64_t id, const char *outcome, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, "UPDATE _pipemend_proposals SET dry_run = ?2 WHERE id = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot record the dry run");
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, outcome);
    pm_code rc =
        sqlite3_step(st) == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot record the dry run");
    sqlite3_finalize(st);
    return rc;
}

/* ---- incidents ----------------------------------------------------------- */

#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

static pm_code sq_incident_open(pm_store *s, const pm_incident *in, int64_t *id, bool *created,
                                pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *created = false;
    if (sqlite3_prepare_v2(q->db,
                           "SELECT id FROM _pipemend_incidents WHERE table_name = ?1 AND "
                           "column_name = ?2 AND kind = ?3 AND state NOT IN ('resolved', "
                           "'dismissed') ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read incidents");
    bind_text(st, 1, in->table);
    bind_text(st, 2, in->column ? in->column : "");
    bind_text(st, 3, in->kind);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (r == SQLITE_ROW)
        return PM_OK;
    if (r != SQLITE_DONE)
        return db_error(q, err, "cannot read incidents");
    if (sqlite3_prepare_v2(
            q->db,
            "INSERT INTO _pipemend_incidents (table_name, column_name, kind, state, "
            "run_id, message, detected_at) VALUES (?1, ?2, ?3, 'open', ?4, ?5, " NOW_SQL ")",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot open an incident");
    bind_text(st, 1, in->table);
    bind_text(st, 2, in->column ? in->column : "");
    bind_text(st, 3, in->kind);
    sqlite3_bind_int64(st, 4, in->run_id);
    bind_text(st, 5, in->message ? in->message : "");
    pm_code rc = PM_OK;
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_error(q, err, "cannot open an incident");
    } else {
        *id = sqlite3_last_insert_rowid(q->db);
        *created = true;
    }
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_incident_link(pm_store *s, int64_t incident, int64_t qrow, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    pm_code rc = prep(q, ST_INCIDENT_LINK, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, incident);
    sqlite3_bind_int64(st, 2, qrow);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot link a quarantined row to its incident");
    sqlite3_reset(st);
    return rc;
}

static pm_code sq_incident_set(pm_store *s, int64_t id, const char *state, int64_t proposal,
                               const char *note, const char *actor, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    /* Each state stamps its own time once: a second plan keeps the first
     * planned_at, so time to recovery counts from the first response. */
    if (sqlite3_prepare_v2(
            q->db,
            "UPDATE _pipemend_incidents SET state = ?2, "
            "proposal = CASE WHEN ?3 = 0 THEN proposal ELSE ?3 END, "
            "note = COALESCE(?4, note), decided_by = COALESCE(?5, decided_by), "
            "planned_at = CASE WHEN ?2 IN ('planned', 'awaiting_approval', 'dry_run_failed') "
            "THEN COALESCE(planned_at, " NOW_SQL ") ELSE planned_at END, "
            "applied_at = CASE WHEN ?2 = 'applied' THEN " NOW_SQL " ELSE applied_at END, "
            "replayed_at = CASE WHEN ?2 = 'replayed' THEN " NOW_SQL " ELSE replayed_at END, "
            "resolved_at = CASE WHEN ?2 IN ('resolved', 'dismissed') THEN " NOW_SQL
            " ELSE resolved_at END WHERE id = ?1",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot update the incident");
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, state);
    sqlite3_bind_int64(st, 3, proposal);
    bind_text(st, 4, note);
    bind_text(st, 5, actor);
    pm_code rc = PM_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(q, err, "cannot update the incident");
    else if (sqlite3_changes(q->db) != 1)
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "no incident %lld", (long long)id);
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_incidents_list(pm_store *s, const pm_incident_filter *f, pm_arena *a,
                                 pm_incident **out, size_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *n = 0;
    *out = NULL;
    if (sqlite3_prepare_v2(
            q->db,
            "SELECT i.id, i.table_name, i.column_name, i.kind, i.state, i.run_id, "
            "COALESCE(i.proposal, 0), (SELECT count(*) FROM _pipemend_incident_rows r WHERE "
            "r.incident = i.id), i.message, i.detected_at, i.planned_at, i.applied_at, "
            "i.replayed_at, i.resolved_at, i.decided_by, i.note FROM _pipemend_incidents i "
            "WHERE (?1 IS NULL OR i.table_name = ?1) AND (?2 = 0 OR i.state NOT IN ('resolved', "
            "'dismissed')) AND (?3 = 0 OR i.id = ?3) AND (?4 = 0 OR i.proposal = ?4) ORDER BY "
            "i.id DESC",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read incidents");
    bind_text(st, 1, f->table);
    sqlite3_bind_int(st, 2, f->active_only);
    sqlite3_bind_int64(st, 3, f->id);
    sqlite3_bind_int64(st, 4, f->proposal);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            pm_incident *ni = pm_arena_alloc(a, cap * sizeof *ni);
            if (*n)
                memcpy(ni, *out, *n * sizeof *ni);
            *out = ni;
        }
        pm_incident *x = &(*out)[(*n)++];
        x->id = sqlite3_column_int64(st, 0);
        x->table = col_text(st, 1, a);
        x->column = col_text(st, 2, a);
        x->kind = col_text(st, 3, a);
        x->state = col_text(st, 4, a);
        x->run_id = sqlite3_column_int64(st, 5);
        x->proposal = sqlite3_column_int64(st, 6);
        x->rows = sqlite3_column_int64(st, 7);
        x->message = col_text(st, 8, a);
        x->detected_at = col_text(st, 9, a);
        x->planned_at = col_text(st, 10, a);
        x->applied_at = col_text(st, 11, a);
        x->replayed_at = col_text(st, 12, a);
        x->resolved_at = col_text(st, 13, a);
        x->decided_by = col_text(st, 14, a);
        x->note = col_text(st, 15, a);
    }
    pm_code rc = r == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot read incidents");
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_halt_set(pm_store *s, const char *table, const char *source, int64_t qrow,
                           pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db,
                           "INSERT OR REPLACE INTO _pipemend_halts (table_name, source, qrow, "
                           "halted_at) VALUES (?1, ?2, ?3, " NOW_SQL ")",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot record the halt");
    bind_text(st, 1, table);
    bind_text(st, 2, source);
    sqlite3_bind_int64(st, 3, qrow);
    pm_code rc =
        sqlite3_step(st) == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot record the halt");
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_halt_get(pm_store *s, const char *table, const char *source, int64_t *qrow,
                           int64_t *incident, bool *found, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *found = false;
    *qrow = *incident = 0;
    if (sqlite3_prepare_v2(
            q->db,
            "SELECT h.qrow, (SELECT i.id FROM _pipemend_incident_rows r JOIN _pipemend_incidents "
            "i ON i.id = r.incident WHERE r.qrow = h.qrow AND i.state NOT IN ('resolved', "
            "'dismissed') ORDER BY i.id LIMIT 1) FROM _pipemend_halts h WHERE h.table_name = ?1 "
            "AND h.source = ?2",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read the halt");
    bind_text(st, 1, table);
    bind_text(st, 2, source);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *found = true;
        *qrow = sqlite3_column_int64(st, 0);
        *incident = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot read the halt");
}

static pm_code sq_halt_clear(pm_store *s, const char *table, const char *source, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db,
                           "DELETE FROM _pipemend_halts WHERE table_name = ?1 AND source = ?2", -1,
                           &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot clear the halt");
    bind_text(st, 1, table);
    bind_text(st, 2, source);
    pm_code rc =
        sqlite3_step(st) == SQLITE_DONE ? PM_OK : db_error(q, err, "cannot clear the halt");
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_incident_stats(pm_store *s, const char *table, pm_incident_stats *out,
                                 pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
#define SECS(a, b) "(julianday(" a ") - julianday(" b ")) * 86400.0"
    if (sqlite3_prepare_v2(
            q->db,
            "SELECT count(*) FILTER (WHERE state NOT IN ('resolved', 'dismissed')), "
            "count(*) FILTER (WHERE state = 'resolved'), count(*) FILTER (WHERE state = "
            "'dismissed'), avg(" SECS(
                "resolved_at",
                "detected_at") ") FILTER (WHERE state = "
                               "'resolved'), avg(" SECS("planned_at", "detected_at") "), avg(" SECS(
                                   "applied_at",
                                   "detected_at") ") FROM _pipemend_incidents WHERE ?1 IS NULL OR "
                                                  "table_name = ?1",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot read incidents");
#undef SECS
    bind_text(st, 1, table);
    pm_code rc = PM_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->active = sqlite3_column_int64(st, 0);
        out->resolved = sqlite3_column_int64(st, 1);
        out->dismissed = sqlite3_column_int64(st, 2);
        out->mttr_seconds = sqlite3_column_double(st, 3);
        out->mean_to_plan_seconds = sqlite3_column_double(st, 4);
        out->mean_to_apply_seconds = sqlite3_column_double(st, 5);
    } else {
        rc = db_error(q, err, "cannot read incidents");
    }
    sqlite3_finalize(st);
    return rc;
}

static pm_code sq_incident_rows(pm_store *s, int64_t incident, bool newest, int limit, pm_arena *a,
                                pm_qrow **out, size_t *n, pm_err *err)
{
    sq *q = impl(s);
    sqlite3_stmt *st;
    *n = 0;
    *out = NULL;
    /* Two texts rather than ORDER BY CASE: each follows the primary key
     * (incident, qrow) instead of sorting every row of the incident. */
    if (sqlite3_prepare_v2(q->db,
                           newest ? "SELECT " QROW_COLUMNS " FROM _pipemend_incident_rows r JOIN "
                                    "_pipemend_quarantine q ON q.id = r.qrow WHERE r.incident = "
                                    "?1 ORDER BY r.qrow DESC LIMIT ?2"
                                  : "SELECT " QROW_COLUMNS " FROM _pipemend_incident_rows r JOIN "
                                    "_pipemend_quarantine q ON q.id = r.qrow WHERE r.incident = "
                                    "?1 ORDER BY r.qrow LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(q, err, "cannot list the incident's rows");
    sqlite3_bind_int64(st, 1, incident);
    sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
    return read_qrows(q, st, a, out, n, err);
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
            qualify(&b, "pm_sandbox", q->sandbox_table, NULL) == PM_OK)
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
        rc = qualify(&b, "pm_sandbox", from->name, err);
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
        rc = qualify(&b, "pm_sandbox", from->name, err);
    if (!rc)
        rc = pm_buf_puts(&b, " SELECT ", err);
    for (size_t i = 0; !rc && i < from->ncols; i++) {
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = quote_ident(&b, from->cols[i].name, err);
    }
    if (!rc)
        rc = pm_buf_puts(&b, " FROM ", err);
    if (!rc)
        rc = qualify(&b, "main", from->name, err);
    if (!rc)
        rc = pm_buf_printf(&b, err, " LIMIT %d", sample > 0 ? sample : 0);
    if (!rc)
        rc = run_sql(q, b.data, "cannot copy sample rows into the sandbox", err);
    if (!rc)
        *copied = sqlite3_changes64(q->db);
    if (!rc)
        rc = apply_ddl(q, "pm_sandbox", from, ops, n, to, err);
    pm_buf_reset(&b);
    if (!rc)
        rc = pm_buf_puts(&b, "INSERT INTO ", err);
    if (!rc)
        rc = qualify(&b, "pm_sandbox", to->name, err);
    if (!rc)
        rc = pm_buf_puts(&b, " (", err);
    for (size_t i = 0; !rc && i < to->ncols; i++) {
        if (i)
            rc = pm_buf_puts(&b, ", ", err);
        if (!rc)
            rc = quote_ident(&b, to->cols[i].name, err);
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

static pm_code sq_sandbox_insert(pm_store *s, const pm_cell *cells, pm_err *err)
{
    sq *q = impl(s);
    if (!q->sandbox_insert)
        return pm_err_set(err, PM_ERR_INTERNAL, "no sandbox is open");
    return bind_step(q, q->sandbox_insert, q->sandbox_ncols, cells, true, err);
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
        {"_pipemend_proposals", "incident", "INTEGER"},
        {"_pipemend_proposals", "dry_run", "TEXT"},
    };
    for (size_t i = 0; i < sizeof added / sizeof added[0]; i++) {
        sqlite3_stmt *st;
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT 1 FROM pragma_table_info('%s') WHERE name = '%s'",
                 added[i].table, added[i].column);
        if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
            return db_error(q, err, "cannot read the catalog's shape");
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r == SQLITE_ROW)
            continue;
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", added[i].table,
                 added[i].column, added[i].decl);
        pm_code rc = run_sql(q, sql, "cannot upgrade the catalog", err);
        if (rc)
            return rc;
    }
    return PM_OK;
}

static const store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .exec_tx = sq_exec_tx,
    .table_load = sq_table_load,
    .table_create = sq_table_create,
    .table_live = sq_table_live,
    .table_adopt = sq_table_adopt,
    .apply_ops = sq_apply_ops,
    .unique_ensure = sq_unique_ensure,
    .tables_list = sq_tables_list,
    .tables_brief = sq_tables_brief,
    .table_count = sq_table_count,
    .insert_prepare = sq_insert_prepare,
    .insert = sq_insert,
    .load = sq_load,
    .quarantine_add = sq_quarantine_add,
    .quarantine_list = sq_quarantine_list,
    .quarantine_count = sq_quarantine_count,
    .quarantine_remove = sq_quarantine_remove,
    .quarantine_remove_many = sq_quarantine_remove_many,
    .quarantine_page = sq_quarantine_page,
    .checkpoint_get = sq_checkpoint_get,
    .checkpoint_set = sq_checkpoint_set,
    .run_start = sq_run_start,
    .run_add = sq_run_add,
    .run_finish = sq_run_finish,
    .runs_list = sq_runs_list,
    .runs_reap = sq_runs_reap,
    .proposal_add = sq_proposal_add,
    .proposals_list = sq_proposals_list,
    .proposal_decide = sq_proposal_decide,
    .proposal_set_dry_run = sq_proposal_set_dry_run,
    .quarantine_update = sq_quarantine_update,
    .incident_open = sq_incident_open,
    .incident_link = sq_incident_link,
    .incident_unlink_row = sq_incident_unlink_row,
    .incident_set = sq_incident_set,
    .incidents_list = sq_incidents_list,
    .incident_rows = sq_incident_rows,
    .incident_stats = sq_incident_stats,
    .halt_set = sq_halt_set,
    .halt_get = sq_halt_get,
    .halt_clear = sq_halt_clear,
    .sandbox_begin = sq_sandbox_begin,
    .sandbox_insert = sq_sandbox_insert,
    .sandbox_end = sq_sandbox_end,
    .audit_append = sq_audit_append,
    .audit_list = sq_audit_list,
};

pm_code sqlite_store_open(const char *path, pm_store *s, pm_err *err)
{
    if (!*path)
        return pm_err_set(err, PM_ERR_USAGE, "sqlite: URL without a path"),
               pm_err_hint(err, "use sqlite:PATH, e.g. sqlite:warehouse.db"), PM_ERR_USAGE;
    sq *q = pm_xcalloc(1, sizeof *q);
    q->path = pm_xstrdup(path);
    s->impl = q;
    s->ops = &sqlite_ops;
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
    pm_code rc = exec(q,
                      "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                      "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
                      err);
    if (!rc)
        rc = exec(q, catalog_sql, err);
    if (!rc)
        rc = catalog_upgrade(q, err);
    if (!rc)
        rc = exec(q, "ATTACH DATABASE ':memory:' AS pm_sandbox", err);
    if (rc) {
        pm_err_hint(err, "is %s a SQLite database pipemend can write?", path);
        sq_close(s);
        return rc;
    }
    return PM_OK;
}
