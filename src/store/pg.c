/* pg.c - the PostgreSQL driver (driver.h): the connection and its
 * transactions, advisory locks, statements for the catalog (catalog.c),
 * the catalog's DDL, and the helpers pg_table.c and pg_copy.c share
 * (pg_int.h).
 *
 * The catalog is SQLite's, table for table and column for column, in the
 * schema `pipemend`. Timestamps are text in the ISO form SQLite writes
 * (2026-01-02T03:04:05.678Z), so everything above the store reads the same
 * strings whichever backend it talks to; ids are bigserial; raw bytes are
 * bytea, sent and read back byte for byte (NUL bytes and invalid UTF-8
 * included).
 *
 * Several pipemend processes may share one warehouse, and PostgreSQL's READ
 * COMMITTED does not serialise writers as SQLite's BEGIN IMMEDIATE does. So
 * the driver's lock (catalog.c says which keys it takes: "audit",
 * "table:NAME", a checkpoint's) is a transaction-level advisory lock on
 * pg_lock_key(key); the catalog's creation takes one too.
 *
 * Every value is a bound parameter (PQexecParams, text format; bytea in
 * binary); identifiers reach SQL only through pg_quote_ident. */
#include "store/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/arena.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"

#define CAT PG_CATALOG_SCHEMA "."
#define NOW_SQL "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define BYTEA_OID 17

/* ---- the catalog ---------------------------------------------------------- */

/* The catalog's objects, each with the statement that makes it: open
 * checks that all of them exist before it tries to create any, so a role
 * that may only read and write the catalog (no CREATE on the database)
 * opens a warehouse someone else set up. */
static const struct {
    const char *name;
    const char *sql;
} catalog_objects[] = {
    {"_pipemend_schema_versions",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_schema_versions ("
     " table_name text NOT NULL, version integer NOT NULL, columns text NOT NULL,"
     " reason text NOT NULL, created_at text NOT NULL, PRIMARY KEY (table_name, version))"},
    {"_pipemend_checkpoints",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_checkpoints ("
     " table_name text NOT NULL, source text NOT NULL, position text NOT NULL,"
     " updated_at text NOT NULL, PRIMARY KEY (table_name, source))"},
    {"_pipemend_runs",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_runs ("
     " id bigserial PRIMARY KEY, pipeline text, table_name text NOT NULL, status text NOT NULL,"
     " started_at text NOT NULL, finished_at text, rows_read bigint NOT NULL DEFAULT 0,"
     " rows_loaded bigint NOT NULL DEFAULT 0, rows_quarantined bigint NOT NULL DEFAULT 0,"
     " error text, volume_anomaly boolean NOT NULL DEFAULT false, volume_note text,"
     " pid bigint NOT NULL, host text NOT NULL)"},
    {"_pipemend_runs_pipeline",
     "CREATE INDEX IF NOT EXISTS _pipemend_runs_pipeline ON " CAT "_pipemend_runs (pipeline, id)"},
    {"_pipemend_quarantine",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_quarantine ("
     " id bigserial PRIMARY KEY, run_id bigint NOT NULL, table_name text NOT NULL, pipeline text,"
     " source text NOT NULL, byte_offset bigint NOT NULL, line bigint NOT NULL,"
     " raw bytea NOT NULL, raw_truncated boolean NOT NULL, kinds text NOT NULL,"
     " message text NOT NULL, findings text NOT NULL, status text NOT NULL,"
     " created_at text NOT NULL, header bytea, delimiter text)"},
    {"_pipemend_quarantine_table", "CREATE INDEX IF NOT EXISTS _pipemend_quarantine_table ON " CAT
                                   "_pipemend_quarantine (table_name, id)"},
    /* no index on run_id: a run's rows are read in its span of ids, kept
     * with its counts (counts.c); catalogs made before keep theirs */
    {"_pipemend_proposals",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_proposals ("
     " id bigserial PRIMARY KEY, table_name text NOT NULL, run_id bigint NOT NULL,"
     " version integer NOT NULL, state text NOT NULL, ops text NOT NULL, why text NOT NULL,"
     " created_at text NOT NULL, decided_by text, decided_at text, incident bigint,"
     " dry_run text, policy text)"},
    {"_pipemend_incidents",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_incidents ("
     " id bigserial PRIMARY KEY, table_name text NOT NULL, column_name text NOT NULL,"
     " kind text NOT NULL, state text NOT NULL, run_id bigint NOT NULL, proposal bigint,"
     " message text NOT NULL, detected_at text NOT NULL, planned_at text, applied_at text,"
     " replayed_at text, resolved_at text, decided_by text, note text)"},
    {"_pipemend_incidents_key", "CREATE INDEX IF NOT EXISTS _pipemend_incidents_key ON " CAT
                                "_pipemend_incidents (table_name, column_name, kind, state)"},
    /* which quarantined rows an incident holds, as ranges of their ids
     * (catalog.c, RANGE_BLOCK) */
    {"_pipemend_incident_ranges",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_incident_ranges ("
     " incident bigint NOT NULL, first_qrow bigint NOT NULL, last_qrow bigint NOT NULL,"
     " nrows bigint NOT NULL, PRIMARY KEY (incident, first_qrow))"},
    {"_pipemend_incident_ranges_row",
     "CREATE INDEX IF NOT EXISTS _pipemend_incident_ranges_row ON " CAT
     "_pipemend_incident_ranges (first_qrow)"},
    {"_pipemend_halts", "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_halts ("
                        " table_name text NOT NULL, source text NOT NULL, qrow bigint NOT NULL,"
                        " halted_at text NOT NULL, PRIMARY KEY (table_name, source))"},
    {"_pipemend_audit",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_audit ("
     " seq bigint PRIMARY KEY, at text NOT NULL, actor text NOT NULL, action text NOT NULL,"
     " subject text NOT NULL, payload text NOT NULL, prev_hash text NOT NULL,"
     " hash text NOT NULL, keyed integer)"},
    {"_pipemend_agent_sessions",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_agent_sessions ("
     " id bigserial PRIMARY KEY, incident bigint NOT NULL, provider text NOT NULL,"
     " model text NOT NULL, prompt_sha256 text NOT NULL, outcome text NOT NULL, reason text,"
     " proposal bigint, confidence double precision, rationale text, steps bigint NOT NULL,"
     " input_tokens bigint NOT NULL, output_tokens bigint NOT NULL, started_at text NOT NULL,"
     " finished_at text, pid bigint NOT NULL, host text NOT NULL)"},
    {"_pipemend_agent_one", "CREATE UNIQUE INDEX IF NOT EXISTS _pipemend_agent_one ON " CAT
                            "_pipemend_agent_sessions (incident) WHERE outcome = 'running'"},
    {"_pipemend_agent_steps",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_agent_steps ("
     " session bigint NOT NULL, seq bigint NOT NULL, kind text NOT NULL, at text NOT NULL,"
     " latency_ms bigint NOT NULL, input_tokens bigint NOT NULL,"
     " output_tokens bigint NOT NULL, stop_reason text, status bigint NOT NULL,"
     " attempts bigint NOT NULL, tool text, arguments text, outcome text, result_sha256 text,"
     " message text, PRIMARY KEY (session, seq))"},
    {"_pipemend_promotions",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_promotions ("
     " id bigserial PRIMARY KEY, table_name text NOT NULL, op_kind text NOT NULL,"
     " state text NOT NULL, evidence text NOT NULL, created_at text NOT NULL, decided_by text,"
     " decided_at text, UNIQUE (table_name, op_kind))"},
    {"_pipemend_leases", "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_leases ("
                         " name text PRIMARY KEY, holder text NOT NULL, expires_at bigint NOT NULL,"
                         " taken_at text NOT NULL)"},
    {"_pipemend_outbox",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_outbox ("
     " id bigserial PRIMARY KEY, sink text NOT NULL, event text NOT NULL, subject text NOT NULL,"
     " payload text NOT NULL, created_at text NOT NULL, attempts bigint NOT NULL,"
     " next_at bigint NOT NULL, delivered_at text, last_error text)"},
    {"_pipemend_outbox_due", "CREATE INDEX IF NOT EXISTS _pipemend_outbox_due ON " CAT
                             "_pipemend_outbox (next_at) WHERE delivered_at IS NULL"},
    {"_pipemend_table_counts",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_table_counts ("
     " table_name text NOT NULL, run_id bigint NOT NULL, loaded bigint NOT NULL,"
     " quarantined bigint NOT NULL, replayed bigint NOT NULL, discarded bigint NOT NULL,"
     " first_qrow bigint, last_qrow bigint, PRIMARY KEY (table_name, run_id))"},
};
#define NCATALOG (sizeof catalog_objects / sizeof catalog_objects[0])

/* Columns added to the catalog since its tables first shipped: CREATE
 * TABLE IF NOT EXISTS leaves an existing table as it is, so open adds
 * them (nullable, so old rows stay valid), and so does the SQL of `init
 * --print-grants` where the roles pipemend runs as may not. */
static const struct {
    const char *table, *column, *sql;
} catalog_columns[] = {
    {"_pipemend_proposals", "policy",
     "ALTER TABLE " CAT "_pipemend_proposals ADD COLUMN IF NOT EXISTS policy text"},
    {"_pipemend_audit", "keyed",
     "ALTER TABLE " CAT "_pipemend_audit ADD COLUMN IF NOT EXISTS keyed integer"},
    /* a CSV row's delimiter: its header alone does not always show it */
    {"_pipemend_quarantine", "delimiter",
     "ALTER TABLE " CAT "_pipemend_quarantine ADD COLUMN IF NOT EXISTS delimiter text"},
    /* a run's span of quarantine ids (counts.c); NULL in old rows: not known */
    {"_pipemend_table_counts", "first_qrow",
     "ALTER TABLE " CAT "_pipemend_table_counts ADD COLUMN IF NOT EXISTS first_qrow bigint, ADD "
     "COLUMN IF NOT EXISTS last_qrow bigint"},
    /* Checkpoints were a file's byte offset, fingerprint and line in
     * columns of their own; now they are their transport's position token
     * (store.h). Old rows become the file transport's token, version 1
     * (source/file.c), so every source resumes exactly where it stood. */
    {"_pipemend_checkpoints", "position",
     "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = '" CAT
     "_pipemend_checkpoints'::regclass AND attname = 'byte_offset' AND NOT attisdropped) THEN "
     "ALTER TABLE " CAT "_pipemend_checkpoints ADD COLUMN IF NOT EXISTS position text; "
     "UPDATE " CAT "_pipemend_checkpoints SET position = '{\"offset\":' || byte_offset || "
     "',\"line\":' || line || ',\"fingerprint\":' || fingerprint || '}'; "
     "ALTER TABLE " CAT "_pipemend_checkpoints ALTER COLUMN position SET NOT NULL, DROP COLUMN "
     "byte_offset, DROP COLUMN fingerprint, DROP COLUMN line; END IF; END $$"},
};
#define NCOLUMNS (sizeof catalog_columns / sizeof catalog_columns[0])

const char *store_pg_catalog_upgrade(size_t i)
{
    return i < NCOLUMNS ? catalog_columns[i].sql : NULL;
}

bool store_pg_catalog_object(size_t i, const char **name, bool *table, const char **sql)
{
    if (i >= NCATALOG)
        return false;
    *name = catalog_objects[i].name;
    *sql = catalog_objects[i].sql;
    *table = strncmp(*sql, "CREATE TABLE", 12) == 0;
    return true;
}

/* ---- shared helpers (pg_int.h) -------------------------------------------- */

/* The first line of a libpq message, without its "ERROR:  " prefix. */
static void first_line(const char *msg, char *out, size_t n)
{
    static const char *const prefixes[] = {"ERROR:  ", "FATAL:  ", "PANIC:  "};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0)
            msg += strlen(prefixes[i]);
    size_t len = strcspn(msg, "\n");
    if (len >= n)
        len = n - 1;
    memcpy(out, msg, len);
    out[len] = '\0';
}

static pm_code classify(const char *state, bool lost)
{
    if (lost)
        return PM_ERR_IO;
    if (!state || strlen(state) != 5)
        return PM_ERR_DB;
    /* 57P01..57P03: the server is shutting down or terminated this
     * backend (pg_terminate_backend): the connection is gone, as for 08 */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0)
        return PM_ERR_IO;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return PM_ERR_BUSY;
    if (strncmp(state, "23", 2) == 0)
        return PM_ERR_CONSTRAINT;
    if (strncmp(state, "22", 2) == 0)
        return PM_ERR_PARSE;
    return PM_ERR_DB;
}

pm_code pg_error(pg *p, const PGresult *res, const char *what, pm_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    char line[400];
    if (!primary) {
        const char *msg =
            res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(p->conn);
        first_line(msg, line, sizeof line);
        if (!*line && res)
            snprintf(line, sizeof line, "unexpected result (%s)", PQresStatus(PQresultStatus(res)));
        primary = *line ? line : "unknown error";
    }
    bool lost = PQstatus(p->conn) == CONNECTION_BAD;
    pm_code rc = classify(state, lost);
    pm_err_set(err, rc, "%s: %s", what, primary);
    if (!err)
        return rc;
    if (state) {
        size_t n = strnlen(state, sizeof err->sqlstate - 1);
        memcpy(err->sqlstate, state, n);
        err->sqlstate[n] = '\0';
    }
    if (detail)
        pm_err_detail(err, "%s", detail);
    const char *where = p->where ? p->where : "the server";
    if (hint)
        pm_err_hint(err, "%s", hint);
    else if (rc == PM_ERR_IO)
        pm_err_hint(err,
                    "the connection to PostgreSQL at %s was lost; check that the server is up "
                    "(a run stopped here resumes from its last checkpoint)",
                    where);
    else if (rc == PM_ERR_BUSY)
        pm_err_hint(err,
                    "another transaction on %s got in the way (serialization failure or "
                    "deadlock); running again resumes from the last checkpoint",
                    where);
    else if (state && strcmp(state, "42501") == 0 &&
             (strstr(primary, "must be owner of table") ||
              strstr(primary, "permission denied for table")))
        pm_err_hint(err,
                    "the table is not pipemend's: if pipemend should load and heal it, have a "
                    "superuser apply `pipemend init --print-grants --adopt TABLE` to %s (only "
                    "a table's owner may change it)",
                    where);
    else if (state && strcmp(state, "42501") == 0)
        pm_err_hint(err, "the role pipemend connects as lacks a privilege on %s", where);
    return rc;
}

/* Whether a result is a success (a command or rows). */
static bool res_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

/* Parameters of one statement: text (NULL is SQL NULL), or bytes sent in
 * binary format as bytea. Numbers are formatted into the struct itself. */
#define PAR_MAX 16
typedef struct par {
    int n;
    const char *v[PAR_MAX];
    int len[PAR_MAX];
    int fmt[PAR_MAX];
    Oid type[PAR_MAX];
    char num[PAR_MAX][24];
} par;

/* ---- deferred statements -------------------------------------------------- */

/* A statement whose answer nobody reads but for its success (pg_defer):
 * its text and parameters, copied. */
typedef struct pg_later {
    char *sql;
    const char *what;
    int n;
    char *v[PAR_MAX]; /* NULL: SQL NULL */
    int len[PAR_MAX];
    int fmt[PAR_MAX];
    Oid type[PAR_MAX];
} pg_later;

static void later_clear(pg *p)
{
    for (size_t i = 0; i < p->nlater; i++) {
        free(p->later[i].sql);
        for (int j = 0; j < p->later[i].n; j++)
            free(p->later[i].v[j]);
    }
    p->nlater = 0;
}

static void later_add(pg *p, const char *sql, const par *a, const char *what)
{
    if (p->nlater == p->later_cap) {
        p->later_cap = p->later_cap ? p->later_cap * 2 : 8;
        p->later = pm_xrealloc(p->later, p->later_cap * sizeof *p->later);
    }
    pg_later *l = &p->later[p->nlater++];
    memset(l, 0, sizeof *l);
    l->sql = pm_xstrdup(sql);
    l->what = what;
    for (int j = 0; a && j < a->n; j++) {
        size_t n = a->fmt[j] ? (size_t)a->len[j] : a->v[j] ? strlen(a->v[j]) + 1 : 0;
        if (a->v[j]) {
            l->v[j] = pm_xmalloc(n ? n : 1);
            memcpy(l->v[j], a->v[j], n);
        }
        l->len[j] = a->len[j];
        l->fmt[j] = a->fmt[j];
        l->type[j] = a->type[j];
    }
    l->n = a ? a->n : 0;
}

/* One statement to send last in a pipeline, with its parameters as libpq
 * takes them. */
typedef struct pg_send {
    const char *sql;
    int n;
    const Oid *type;
    const char *const *v;
    const int *len, *fmt;
    int format; /* of the result: 0 text, 1 binary */
} pg_send;

/* Sends the deferred statements, then last (when not NULL), in one
 * pipeline, and reads every answer: the first failure is the one
 * reported (the statements after it are skipped by the server). *out gets
 * last's result on success. The queue is empty after. */
static pm_code pipeline(pg *p, const pg_send *last, PGresult **out, const char *what, pm_err *err)
{
    size_t nq = p->nlater + (last ? 1 : 0);
    pm_code rc = PM_OK;
    bool sent = PQenterPipelineMode(p->conn) == 1;
    for (size_t i = 0; sent && i < p->nlater; i++) {
        const pg_later *l = &p->later[i];
        sent = PQsendQueryParams(p->conn, l->sql, l->n, l->type, (const char *const *)l->v, l->len,
                                 l->fmt, 0) == 1;
    }
    if (sent && last)
        sent = PQsendQueryParams(p->conn, last->sql, last->n, last->type, last->v, last->len,
                                 last->fmt, last->format) == 1;
    if (sent)
        sent = PQpipelineSync(p->conn) == 1;
    if (!sent)
        rc = pg_error(p, NULL, what, err);
    /* every answer is read, also after a failure, so the connection is
     * ready for the next statement (or the caller's ROLLBACK) */
    for (size_t i = 0; sent && i < nq && PQstatus(p->conn) == CONNECTION_OK; i++) {
        PGresult *res;
        while ((res = PQgetResult(p->conn)) != NULL) {
            bool mine = last && i == nq - 1;
            if (!rc && !res_ok(res))
                rc = pg_error(p, res, mine ? what : p->later[i].what, err);
            if (!rc && mine && out && !*out)
                *out = res;
            else
                PQclear(res);
        }
    }
    if (sent && PQstatus(p->conn) == CONNECTION_OK) {
        PGresult *res = PQgetResult(p->conn); /* PGRES_PIPELINE_SYNC */
        PQclear(res);
    }
    if (PQexitPipelineMode(p->conn) != 1 && PQstatus(p->conn) == CONNECTION_OK) {
        /* a send that failed half way left the pipeline unsynced: the
         * connection is made again (the transaction is lost with it) */
        PQreset(p->conn);
        p->in_tx = false;
        if (!rc)
            rc = pm_err_set(err, PM_ERR_IO, "%s: the connection was reset after a failed send",
                            what);
    }
    if (!rc && PQstatus(p->conn) != CONNECTION_OK)
        rc = pg_error(p, NULL, what, err);
    if (rc && out && *out) {
        PQclear(*out);
        *out = NULL;
    }
    later_clear(p);
    return rc;
}

/* Runs q, with the deferred statements ahead of it when there are any;
 * *res is its result (the caller checks and clears it). */
static pm_code send_one(pg *p, const pg_send *q, PGresult **res, const char *what, pm_err *err)
{
    *res = NULL;
    if (p->nlater)
        return pipeline(p, q, res, what, err);
    *res = PQexecParams(p->conn, q->sql, q->n, q->type, q->v, q->len, q->fmt, q->format);
    return PM_OK;
}

pm_code pg_defer(pg *p, const char *sql, const char *what, pm_err *err)
{
    if (!p->in_tx)
        return pg_exec(p, sql, what, err);
    later_add(p, sql, NULL, what);
    return PM_OK;
}

pm_code pg_exec_start(pg *p, const char *sql, PGresult **res, const char *what, pm_err *err)
{
    *res = NULL;
    bool plain = true;
    for (size_t i = 0; i < p->nlater && plain; i++)
        plain = p->later[i].n == 0;
    if (p->nlater && !plain) {
        pm_code rc = pipeline(p, NULL, NULL, what, err);
        if (rc)
            return rc;
    }
    if (!p->nlater) {
        *res = PQexec(p->conn, sql);
        return PM_OK;
    }
    /* one simple query: the server runs them in order and stops at the
     * first failure, which is the result PQexec gives */
    pm_buf b;
    pm_buf_init(&b, (size_t)1 << 30);
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < p->nlater; i++)
        rc = pm_buf_printf(&b, err, "%s; ", p->later[i].sql);
    if (!rc)
        rc = pm_buf_puts(&b, sql, err);
    later_clear(p);
    if (!rc)
        *res = PQexec(p->conn, b.data);
    pm_buf_free(&b);
    return rc;
}

pm_code pg_exec(pg *p, const char *sql, const char *what, pm_err *err)
{
    PGresult *res;
    pm_code rc = pg_exec_start(p, sql, &res, what, err);
    if (!rc && !res_ok(res))
        rc = pg_error(p, res, what, err);
    PQclear(res);
    return rc;
}

static void par_text(par *a, const char *s)
{
    int i = a->n++;
    a->v[i] = s;
    a->len[i] = 0;
    a->fmt[i] = 0;
    a->type[i] = 0;
}

static void par_int(par *a, int64_t x)
{
    snprintf(a->num[a->n], sizeof a->num[a->n], "%lld", (long long)x);
    par_text(a, a->num[a->n]);
}

static void par_bool(par *a, bool b)
{
    par_text(a, b ? "t" : "f");
}

/* s may be NULL (SQL NULL); n must fit an int (checked by the caller). */
static void par_bytes(par *a, const char *s, size_t n)
{
    int i = a->n++;
    a->v[i] = s ? (n ? s : "") : NULL;
    a->len[i] = (int)n;
    a->fmt[i] = 1;
    a->type[i] = BYTEA_OID;
}

/* run with the result in format (0 text, 1 binary) */
static pm_code run_as(pg *p, const char *sql, const par *a, int format, PGresult **out,
                      const char *what, pm_err *err)
{
    pg_send q = {sql,
                 a ? a->n : 0,
                 a ? a->type : NULL,
                 a ? a->v : NULL,
                 a ? a->len : NULL,
                 a ? a->fmt : NULL,
                 format};
    PGresult *res;
    pm_code src = send_one(p, &q, &res, what, err);
    if (src)
        return src;
    if (!res_ok(res)) {
        pm_code rc = pg_error(p, res, what, err);
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return PM_OK;
}

static pm_code run(pg *p, const char *sql, const par *a, PGresult **out, const char *what,
                   pm_err *err)
{
    return run_as(p, sql, a, 0, out, what, err);
}

pm_code pg_query(pg *p, const char *sql, int nparams, const char *const *params, PGresult **out,
                 const char *what, pm_err *err)
{
    pg_send q = {sql, nparams, NULL, params, NULL, NULL, 0};
    PGresult *res;
    pm_code src = send_one(p, &q, &res, what, err);
    if (src)
        return src;
    if (!res_ok(res)) {
        pm_code rc = pg_error(p, res, what, err);
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return PM_OK;
}

/* FNV-1a (core/hash.h) over "pipemend:" what: the same key in every
 * process and release, and out of the way of other applications' keys. */
int64_t pg_lock_key(const char *what)
{
    static const char prefix[] = "pipemend:";
    uint64_t h = pm_hash(prefix, sizeof prefix - 1);
    for (const unsigned char *c = (const unsigned char *)what; *c; c++) {
        h ^= *c;
        h *= 1099511628211ULL;
    }
    int64_t key;
    memcpy(&key, &h, sizeof key);
    return key;
}

const char *pg_type_decl(pm_type t, char buf[32])
{
    const char *d = "text";
    switch (t.kind) {
    case PM_T_BOOL:
        d = "boolean";
        break;
    case PM_T_INT16:
        d = "smallint";
        break;
    case PM_T_INT32:
        d = "integer";
        break;
    case PM_T_INT64:
        d = "bigint";
        break;
    case PM_T_FLOAT64:
        d = "double precision";
        break;
    case PM_T_NUMERIC:
        d = "numeric";
        break;
    case PM_T_VARCHAR:
        snprintf(buf, 32, "varchar(%u)", (unsigned)t.len);
        return buf;
    case PM_T_DATE:
        d = "date";
        break;
    case PM_T_TIMESTAMP:
        d = "timestamp";
        break;
    case PM_T_TIMESTAMPTZ:
        d = "timestamptz";
        break;
    case PM_T_JSON:
        d = "jsonb";
        break;
    case PM_T_UNKNOWN:
    case PM_T_TEXT:
        break;
    }
    snprintf(buf, 32, "%s", d);
    return buf;
}

/* Does decl start with word, followed by the end, '(' or ' '? *rest gets
 * what follows the word. */
static bool starts(const char *decl, const char *word, const char **rest)
{
    size_t n = strlen(word);
    if (strncasecmp(decl, word, n) != 0 || (decl[n] && decl[n] != '(' && decl[n] != ' '))
        return false;
    *rest = decl + n;
    return true;
}

/* "(digits)" and nothing else: the length of a varchar. */
static bool paren_len(const char *s, uint32_t *n)
{
    if (*s++ != '(' || *s < '1' || *s > '9')
        return false;
    unsigned long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > TYPE_VARCHAR_MAX)
            return false;
    }
    if (strcmp(s, ")") != 0)
        return false;
    *n = (uint32_t)v;
    return true;
}

/* A timestamp's rest: optional "(p)", then " without time zone" or
 * " with time zone" (format_type's spelling); *tz says which. */
static bool timestamp_rest(const char *s, bool *tz)
{
    if (*s == '(') {
        s = strchr(s, ')');
        if (!s)
            return false;
        s++;
    }
    if (strcasecmp(s, " without time zone") == 0 || !*s)
        return *tz = false, true;
    if (strcasecmp(s, " with time zone") == 0)
        return *tz = true, true;
    return false;
}

/* The logical type decl holds, without regard to the catalog. */
static pm_type type_of_decl(const char *decl)
{
    const char *rest = "";
    uint32_t n = 0;
    bool tz = false;
    size_t len = decl ? strlen(decl) : 0;
    if (!decl || (len >= 2 && strcmp(decl + len - 2, "[]") == 0)) /* arrays */
        return (pm_type){PM_T_JSON, 0};
    if (strcasecmp(decl, "boolean") == 0 || strcasecmp(decl, "bool") == 0)
        return (pm_type){PM_T_BOOL, 0};
    if (strcasecmp(decl, "smallint") == 0 || strcasecmp(decl, "int2") == 0)
        return (pm_type){PM_T_INT16, 0};
    if (strcasecmp(decl, "integer") == 0 || strcasecmp(decl, "int4") == 0 ||
        strcasecmp(decl, "int") == 0)
        return (pm_type){PM_T_INT32, 0};
    if (strcasecmp(decl, "bigint") == 0 || strcasecmp(decl, "int8") == 0)
        return (pm_type){PM_T_INT64, 0};
    if (strcasecmp(decl, "double precision") == 0 || strcasecmp(decl, "float8") == 0 ||
        strcasecmp(decl, "real") == 0 || strcasecmp(decl, "float4") == 0)
        return (pm_type){PM_T_FLOAT64, 0};
    if (starts(decl, "numeric", &rest) || starts(decl, "decimal", &rest))
        return (pm_type){PM_T_NUMERIC, 0};
    if (starts(decl, "character varying", &rest) || starts(decl, "varchar", &rest)) {
        if (!*rest) /* without a length it is unbounded: text */
            return (pm_type){PM_T_TEXT, 0};
        return paren_len(rest, &n) ? (pm_type){PM_T_VARCHAR, n} : (pm_type){PM_T_JSON, 0};
    }
    if (strcasecmp(decl, "text") == 0 || starts(decl, "character", &rest) ||
        starts(decl, "char", &rest) || starts(decl, "bpchar", &rest))
        return (pm_type){PM_T_TEXT, 0};
    if (strcasecmp(decl, "date") == 0)
        return (pm_type){PM_T_DATE, 0};
    if (starts(decl, "timestamp", &rest) && timestamp_rest(rest, &tz))
        return (pm_type){tz ? PM_T_TIMESTAMPTZ : PM_T_TIMESTAMP, 0};
    if (strcasecmp(decl, "timestamptz") == 0)
        return (pm_type){PM_T_TIMESTAMPTZ, 0};
    if (strcasecmp(decl, "jsonb") == 0 || strcasecmp(decl, "json") == 0)
        return (pm_type){PM_T_JSON, 0};
    /* Other scalar types (uuid, inet, time, interval, bytea, ...) arrive
     * as strings: pipemend checks them as text, the table is loaded in
     * COPY's text format, and the server refuses what its type does not
     * take (those rows are quarantined with its message). */
    return (pm_type){PM_T_TEXT, 0};
}

pm_type pg_type_from_decl(const char *decl, pm_type catalog)
{
    pm_type t = type_of_decl(decl);
    if (catalog.kind != PM_T_UNKNOWN) {
        char buf[32];
        pm_type c = type_of_decl(pg_type_decl(catalog, buf));
        if (c.kind == t.kind && c.len == t.len)
            return catalog;
    }
    return t;
}

/* ---- connection and transactions ------------------------------------------ */

static void notice(void *arg, const char *msg)
{
    char line[400];
    (void)arg;
    first_line(msg, line, sizeof line);
    pm_warn("PostgreSQL: %s", line);
}

/* What each new session needs, at open and after a reconnect. */
static pm_code session_setup(pg *p, pm_err *err)
{
    PQsetNoticeProcessor(p->conn, notice, NULL);
    return pg_exec(p, "SET client_min_messages = warning; SET bytea_output = hex",
                   "cannot set up the session", err);
}

/* Is a transaction open on the connection (ours, or one pg_table.c began)? */
static bool joined(pg *p)
{
    PGTransactionStatusType st = PQtransactionStatus(p->conn);
    return p->in_tx || st == PQTRANS_INTRANS || st == PQTRANS_INERROR;
}

/* COMMIT of a transaction that had failed is answered with ROLLBACK and no
 * error: that must not pass for a commit (the checkpoint did not move). */
static pm_code commit(pg *p, pm_err *err)
{
    /* the batch's bookkeeping goes with its COMMIT: one round trip */
    pg_send q = {"COMMIT", 0, NULL, NULL, NULL, NULL, 0};
    PGresult *res;
    pm_code rc = send_one(p, &q, &res, "cannot commit", err);
    if (rc)
        return rc;
    if (!res_ok(res))
        rc = pg_error(p, res, "cannot commit", err);
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        rc = pm_err_set(err, PM_ERR_DB,
                        "cannot commit: the transaction had failed and was rolled back");
        pm_err_hint(err, "nothing of it was kept; running again resumes from the last checkpoint");
    }
    PQclear(res);
    return rc;
}

/* host:port/dbname of the server p->conn is connected to (or tried
 * last), never the URL: it may hold a password. With several hosts in the
 * URL it names the one libpq chose, so it changes after a failover. */
static void set_where(pg *p)
{
    const char *host = PQhost(p->conn), *port = PQport(p->conn), *db = PQdb(p->conn);
    host = host && *host ? host : "localhost";
    port = port && *port ? port : "5432";
    db = db ? db : "";
    size_t n = strlen(host) + strlen(port) + strlen(db) + 3;
    free(p->where);
    p->where = pm_xmalloc(n);
    snprintf(p->where, n, "%s:%s/%s", host, port, db);
}

/* The server answered but is not taking this session now: starting up,
 * shutting down, in recovery, full, or not the read-write server that
 * target_session_attrs asks for (a failover under way). libpq gives no
 * SQLSTATE before a session exists, so the words decide. */
static bool server_busy(const char *why)
{
    static const char *const words[] = {
        "starting up", "shutting down",        "recovery", "too many", "read-only",
        "hot standby", "accepting connections"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(why, words[i]))
            return true;
    return false;
}

/* Why a connection attempt failed, in one line: libpq's 'connection to
 * server at "h", port 5 failed: why' says the place, which the messages
 * here name already, and without its "FATAL:  " (*fatal says whether it had
 * one). With several hosts libpq says why for each: a host that is busy
 * (server_busy) is the one worth telling, else the first. */
static void connect_why(PGconn *c, char *out, size_t n, bool *fatal)
{
    const char *msg = PQerrorMessage(c), *pick = NULL;
    for (const char *line = msg; *line && !pick;
         line += strcspn(line, "\n"), line += *line == '\n') {
        const char *why = strstr(line, " failed: ");
        if (!why || why > line + strcspn(line, "\n"))
            continue;
        char one[400];
        first_line(why + 9, one, sizeof one);
        if (server_busy(one))
            pick = why + 9;
    }
    if (!pick) {
        const char *why = strstr(msg, " failed: ");
        pick = why && why < msg + strcspn(msg, "\n") ? why + 9 : msg;
    }
    /* FATAL: the server answered, and said no */
    *fatal = strncmp(pick, "FATAL:", 6) == 0;
    first_line(pick, out, n);
}

/* Tries p->conn again (PQreset: the same parameters, every host of the
 * URL) with backoff from 0.1 s to 2 s, until it connects or
 * store_reconnect_seconds have passed since t0 (ms). busy_only: wait only
 * while the server answers that it is busy (at open: a server that is not
 * there at all is a mistake in the URL more often than a restart); else
 * also while nothing answers (the connection was up, so the server was
 * there). A wrong password, role or database ends the wait at once. Says
 * on stderr what it waits for, again when the reason changes and every
 * 10 s. */
static bool wait_for_server(pg *p, bool busy_only, double t0)
{
    char why[400], said[400] = "";
    double delay = 100, last_said = 0;
    for (;;) {
        if (PQstatus(p->conn) == CONNECTION_OK)
            return true;
        bool fatal;
        connect_why(p->conn, why, sizeof why, &fatal);
        bool busy = server_busy(why);
        bool refused = PQconnectionNeedsPassword(p->conn) || (fatal && !busy);
        double waited = pm_clock_ms() - t0, limit = store_reconnect_seconds * 1000.0;
        if (refused || (busy_only && !busy) || waited + delay > limit)
            return false;
        if (strcmp(why, said) != 0 || waited - last_said >= 10000) {
            pm_warn("waiting for PostgreSQL at %s to accept connections (%s); trying again for up "
                    "to %.0f s more (postgres: reconnect_seconds)",
                    p->where, why, (limit - waited) / 1000);
            snprintf(said, sizeof said, "%s", why);
            last_said = waited;
        }
        struct timespec pause = {(time_t)(delay / 1000),
                                 (long)((long long)delay % 1000) * 1000000L};
        nanosleep(&pause, NULL);
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
        PQreset(p->conn);
    }
}

/* A connection lost between transactions is opened again, waiting for the
 * server as long as a restart or a failover takes (wait_for_server): the
 * work of the transaction that failed with it is gone, and the caller
 * does it again from the checkpoints it committed. */
static pm_code reconnect(pg *p, pm_err *err)
{
    if (PQstatus(p->conn) != CONNECTION_BAD)
        return PM_OK;
    p->in_tx = false;
    p->streaming = false;
    later_clear(p);
    double t0 = pm_clock_ms();
    PQreset(p->conn);
    if (!wait_for_server(p, false, t0)) {
        char why[400];
        bool fatal;
        connect_why(p->conn, why, sizeof why, &fatal);
        pm_code rc =
            pm_err_set(err, PM_ERR_IO, "cannot reconnect to PostgreSQL at %s after %.0f s: %s",
                       p->where, (pm_clock_ms() - t0) / 1000, why);
        pm_err_hint(err,
                    "the server did not come back within postgres: reconnect_seconds (%d s); "
                    "running again resumes from the last checkpoint",
                    store_reconnect_seconds);
        return rc;
    }
    set_where(p);
    pm_warn("reconnected to PostgreSQL at %s after %.1f s", p->where, (pm_clock_ms() - t0) / 1000);
    return session_setup(p, err);
}

/* Before a statement outside a transaction: a connection known to be lost
 * is opened again first (nothing was sent on it, so nothing is done
 * twice). Inside one, the loss fails the transaction, and its caller does
 * it again from BEGIN. */
static pm_code ready(pg *p, pm_err *err)
{
    if (p->in_tx || p->sandbox_open || PQstatus(p->conn) != CONNECTION_BAD)
        return PM_OK;
    return reconnect(p, err);
}

/* Takes a transaction-level advisory lock on what (a NUL-free key). */
static pm_code xact_lock(pg *p, const char *what, pm_err *err)
{
    par a = {0};
    par_int(&a, pg_lock_key(what));
    /* in a transaction it is taken before whatever comes next, in order;
     * nothing of its answer is read */
    if (p->in_tx) {
        later_add(p, "SELECT pg_advisory_xact_lock($1::bigint)", &a, "cannot take a lock");
        return PM_OK;
    }
    return run(p, "SELECT pg_advisory_xact_lock($1::bigint)", &a, NULL, "cannot take a lock", err);
}

static pm_code pg_tx(pm_store *s, drv_tx kind, pm_err *err)
{
    pg *p = pg_of(s);
    if (kind == DRV_BEGIN || kind == DRV_BEGIN_BATCH) {
        /* SQLite's BEGIN IMMEDIATE takes its writer lock here; in
         * PostgreSQL the locks that matter are taken where they are needed */
        PGTransactionStatusType st = PQtransactionStatus(p->conn);
        if (p->in_tx || st == PQTRANS_INTRANS || st == PQTRANS_INERROR)
            return pm_err_set(err, PM_ERR_INTERNAL, "a transaction is already open");
        later_clear(p);
        pm_code rc = reconnect(p, err);
        /* A batch's commit need not wait for the WAL flush: its rows and
         * its checkpoint are kept or lost together, and the run's last
         * commit (synchronous) flushes every batch before it. */
        /* a batch's BEGIN goes with its first statement (pg_defer) */
        if (!rc && kind == DRV_BEGIN_BATCH) {
            later_add(p, "BEGIN", NULL, "cannot begin a transaction");
            later_add(p, "SET LOCAL synchronous_commit = off", NULL, "cannot begin a transaction");
        } else if (!rc) {
            rc = pg_exec(p, "BEGIN", "cannot begin a transaction", err);
        }
        p->in_tx = rc == PM_OK;
        return rc;
    }
    bool was = joined(p);
    p->in_tx = false;
    if (kind == DRV_COMMIT)
        return was ? commit(p, err)
                   : pm_err_set(err, PM_ERR_INTERNAL, "cannot commit: no transaction is open");
    /* nothing open (or the connection is gone with it): nothing to undo;
     * what was deferred never reached the server */
    later_clear(p);
    pg_load_stream_abort(p); /* a COPY left open by a failure: ROLLBACK can be sent */
    PGTransactionStatusType st = PQtransactionStatus(p->conn);
    if (st != PQTRANS_INTRANS && st != PQTRANS_INERROR)
        return PM_OK;
    return pg_exec(p, "ROLLBACK", "cannot roll back", err);
}

static bool pg_in_tx(pm_store *s)
{
    return joined(pg_of(s));
}

static pm_code pg_lock(pm_store *s, const char *key, pm_err *err)
{
    return xact_lock(pg_of(s), key, err);
}

/* The snapshot xmin:xmax:xip changes when a transaction that wrote (and
 * so has an id) begins or ends; readers have none. */
static pm_code pg_data_token(pm_store *s, char *out, size_t cap, pm_err *err)
{
    pg *p = pg_of(s);
    PGresult *res;
    pm_code frc = pg_exec_start(p, "SELECT txid_current_snapshot()::text", &res,
                                "cannot read the warehouse's snapshot", err);
    if (frc)
        return frc;
    if (!res_ok(res) || PQntuples(res) != 1) {
        pm_code rc = pg_error(p, res, "cannot read the warehouse's snapshot", err);
        PQclear(res);
        return rc;
    }
    const char *v = PQgetvalue(res, 0, 0);
    static _Atomic unsigned long long busy;
    if (strlen(v) >= cap) /* many transactions in flight: a token never given before */
        snprintf(out, cap, "busy:%llu", (unsigned long long)++busy);
    else
        snprintf(out, cap, "%s", v);
    PQclear(res);
    return PM_OK;
}

static void pg_close(pm_store *s)
{
    pg *p = pg_of(s);
    pg_table_close(p);
    later_clear(p);
    free(p->later);
    if (p->conn)
        PQfinish(p->conn);
    free(p->url);
    free(p->where);
    free(p);
}

/* ---- reading results ------------------------------------------------------ */

static const char *col_text(const PGresult *r, int row, int col, pm_arena *a)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    return pm_arena_strndup(a, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

/* A big-endian integer of n bytes (a binary int2, int4 or int8). */
static int64_t be_int(const unsigned char *v, int n)
{
    uint64_t u = 0;
    for (int i = 0; i < n; i++)
        u = u << 8 | v[i];
    if (n < 8 && (u >> (8 * n - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    return (int64_t)u;
}

static int64_t col_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    if (PQfformat(r, col) == 1)
        return be_int((const unsigned char *)PQgetvalue(r, row, col), PQgetlength(r, row, col));
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool col_bool(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return false;
    char c = PQgetvalue(r, row, col)[0];
    return PQfformat(r, col) == 1 ? c != 0 : c == 't';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A bytea column in text format (hex: \x0a1b...), as its bytes in a, NUL
 * terminated; NULL for SQL NULL. */
static const char *col_bytea(const PGresult *r, int row, int col, pm_arena *a, size_t *len)
{
    *len = 0;
    if (PQgetisnull(r, row, col))
        return NULL;
    const char *v = PQgetvalue(r, row, col);
    size_t n = (size_t)PQgetlength(r, row, col);
    if (PQfformat(r, col) == 1) { /* binary: the bytes themselves */
        *len = n;
        return pm_arena_strndup(a, v, n);
    }
    if (n >= 2 && v[0] == '\\' && v[1] == 'x') {
        char *out = pm_arena_alloc(a, (n - 2) / 2 + 1);
        size_t k = 0;
        for (size_t i = 2; i + 1 < n; i += 2) {
            int hi = hexval(v[i]), lo = hexval(v[i + 1]);
            if (hi < 0 || lo < 0)
                break;
            out[k++] = (char)(hi << 4 | lo);
        }
        out[k] = '\0';
        *len = k;
        return out;
    }
    /* the escape format (bytea_output set back by someone): libpq decodes */
    unsigned char *raw = PQunescapeBytea((const unsigned char *)v, len);
    if (!raw)
        pm_oom(n);
    char *out = pm_arena_strndup(a, (const char *)raw, *len);
    PQfreemem(raw);
    return out;
}

/* ---- the driver: statements ------------------------------------------- */

/* A catalog statement: its text, sent with its parameters each time
 * (PQexecParams, an unnamed statement: planned for the values at hand,
 * as the catalog's "$1 IS NULL OR ..." filters need), and its result. */
typedef struct pg_stmt {
    drv_stmt base;
    pg *p;
    char *sql;
    const char *what;
    par a;
    PGresult *res;
    int row;     /* the current row of res; -1 before the first step */
    bool binary; /* results in binary format (the SQL starts with PG_BINARY_RESULTS) */
} pg_stmt;

static pg_stmt *pg_st(drv_stmt *st)
{
    return (pg_stmt *)st;
}

/* Parameter i (from 1) of st, ready for one par_* call; the ones before
 * it that were not bound are SQL NULL. Call par_end(st, n) after. */
static par *par_for(drv_stmt *st, int i, int *n)
{
    par *a = &pg_st(st)->a;
    while (a->n < i - 1)
        par_text(a, NULL);
    *n = a->n > i ? a->n : i;
    a->n = i - 1;
    return a;
}

static void st_bind_null(drv_stmt *st, int i)
{
    int n;
    par *a = par_for(st, i, &n);
    par_text(a, NULL);
    a->n = n;
}

static void st_bind_int(drv_stmt *st, int i, int64_t v)
{
    int n;
    par *a = par_for(st, i, &n);
    par_int(a, v);
    a->n = n;
}

static void st_bind_double(drv_stmt *st, int i, double v)
{
    int n;
    par *a = par_for(st, i, &n);
    snprintf(a->num[a->n], sizeof a->num[a->n], "%.17g", v);
    par_text(a, a->num[i - 1]);
    a->n = n;
}

static void st_bind_bool(drv_stmt *st, int i, bool v)
{
    int n;
    par *a = par_for(st, i, &n);
    par_bool(a, v);
    a->n = n;
}

static void st_bind_text(drv_stmt *st, int i, const char *v)
{
    int n;
    par *a = par_for(st, i, &n);
    par_text(a, v);
    a->n = n;
}

/* n fits an int: the catalog checks the sizes it sends */
static void st_bind_blob(drv_stmt *st, int i, const void *v, size_t len)
{
    int n;
    par *a = par_for(st, i, &n);
    par_bytes(a, v, len);
    a->n = n;
}

/* A statement that only reads (the catalog's SELECTs): running it again
 * changes nothing. Not one that locks rows, takes a lock, moves a sequence
 * or sets a setting. */
static bool reads_only(const char *sql)
{
    if (strncmp(sql, PG_BINARY_RESULTS, strlen(PG_BINARY_RESULTS)) == 0)
        sql += strlen(PG_BINARY_RESULTS);
    static const char *const writes[] = {" FOR UPDATE", " FOR SHARE", " FOR NO KEY", " FOR KEY",
                                         "nextval",     "setval",     "advisory",    "set_config"};
    if (strncmp(sql, "SELECT ", 7) != 0)
        return false;
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
        if (strstr(sql, writes[i]))
            return false;
    return true;
}

static pm_code st_step(drv_stmt *st, bool *row, pm_err *err)
{
    pg_stmt *x = pg_st(st);
    *row = false;
    if (!x->res) {
        pm_code rc = ready(x->p, err);
        if (!rc)
            rc = run_as(x->p, x->sql, &x->a, x->binary, &x->res, x->what, err);
        /* outside a transaction, a read the connection was lost under (a
         * server restarted, failed over) is read again on a new one: the
         * loss shows only when a statement meets it */
        if (rc == PM_ERR_IO && !x->p->in_tx && PQstatus(x->p->conn) == CONNECTION_BAD &&
            reads_only(x->sql)) {
            rc = ready(x->p, err);
            if (!rc)
                rc = run_as(x->p, x->sql, &x->a, x->binary, &x->res, x->what, err);
        }
        if (rc)
            return rc;
        x->row = -1;
    }
    *row = ++x->row < PQntuples(x->res);
    return PM_OK;
}

/* In a transaction the statement goes with the next one that needs an
 * answer (pg_defer); outside one it runs now. */
static pm_code st_defer(drv_stmt *st, pm_err *err)
{
    pg_stmt *x = pg_st(st);
    if (!x->p->in_tx || x->res) {
        bool row;
        return st_step(st, &row, err);
    }
    later_add(x->p, x->sql, &x->a, x->what);
    return PM_OK;
}

static bool st_col_null(drv_stmt *st, int c)
{
    return PQgetisnull(pg_st(st)->res, pg_st(st)->row, c);
}

static int64_t st_col_int(drv_stmt *st, int c)
{
    return col_int(pg_st(st)->res, pg_st(st)->row, c);
}

static double st_col_double(drv_stmt *st, int c)
{
    pg_stmt *x = pg_st(st);
    return PQgetisnull(x->res, x->row, c) ? 0 : strtod(PQgetvalue(x->res, x->row, c), NULL);
}

static bool st_col_bool(drv_stmt *st, int c)
{
    return col_bool(pg_st(st)->res, pg_st(st)->row, c);
}

static const char *st_col_text(drv_stmt *st, int c, pm_arena *a)
{
    return col_text(pg_st(st)->res, pg_st(st)->row, c, a);
}

static const char *st_col_blob(drv_stmt *st, int c, pm_arena *a, size_t *len)
{
    return col_bytea(pg_st(st)->res, pg_st(st)->row, c, a, len);
}

static int64_t st_changes(drv_stmt *st)
{
    pg_stmt *x = pg_st(st);
    return x->res ? strtoll(PQcmdTuples(x->res), NULL, 10) : 0;
}

static void st_done(drv_stmt *st)
{
    pg_stmt *x = pg_st(st);
    PQclear(x->res);
    x->res = NULL;
    x->a.n = 0;
}

static const drv_stmt_ops pg_stmt_ops = {
    .bind_null = st_bind_null,
    .bind_int = st_bind_int,
    .bind_double = st_bind_double,
    .bind_bool = st_bind_bool,
    .bind_text = st_bind_text,
    .bind_blob = st_bind_blob,
    .step = st_step,
    .defer = st_defer,
    .col_null = st_col_null,
    .col_int = st_col_int,
    .col_double = st_col_double,
    .col_bool = st_col_bool,
    .col_text = st_col_text,
    .col_blob = st_col_blob,
    .changes = st_changes,
    .done = st_done,
};

static pm_code pg_prepare(pm_store *s, const char *sql, const char *what, drv_stmt **slot,
                          pm_err *err)
{
    (void)err;
    if (*slot) {
        st_done(*slot);
        return PM_OK;
    }
    pg_stmt *x = pm_xcalloc(1, sizeof *x);
    x->base.ops = &pg_stmt_ops;
    x->p = pg_of(s);
    x->sql = pm_xstrdup(sql);
    x->what = what;
    x->binary = strncmp(sql, PG_BINARY_RESULTS, strlen(PG_BINARY_RESULTS)) == 0;
    *slot = &x->base;
    return PM_OK;
}

static void pg_drop(drv_stmt *st)
{
    st_done(st);
    free(pg_st(st)->sql);
    free(st);
}

/* ---- statistics ----------------------------------------------------------- */

/* ANALYZE of the quarantine when its statistics are stale: never taken,
 * rows changed since by more than 1,000 and a tenth of it (autovacuum's
 * rule, which it applies only a minute or so later: a quarantine a run
 * filled just now has none yet), or the table more than twice the size
 * they saw (the change counters are lost in a crash, the sizes are not).
 * The links to incidents are analyzed with it (a dry run's sample joins
 * them). A role that may not analyze the tables gets a warning from the
 * server, not an error: the replay goes on, slower. */
static pm_code pg_quarantine_stats(pm_store *s, pm_err *err)
{
    pg *p = pg_of(s);
    if (joined(p))
        return PM_OK; /* not inside another transaction, which a failure would end */
    PGresult *res;
    pm_code rc = run(p,
                     "SELECT c.reltuples < 0 OR COALESCE(t.n_mod_since_analyze, 0) > 1000 + 0.1 * "
                     "c.reltuples OR pg_catalog.pg_relation_size(c.oid) / 8192 > 2 * c.relpages + "
                     "128 FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_stat_user_tables t ON "
                     "t.relid = c.oid WHERE c.oid = to_regclass('" CAT "_pipemend_quarantine')",
                     NULL, &res, "cannot read the quarantine's statistics", err);
    if (rc)
        return rc;
    bool stale = PQntuples(res) == 1 && col_bool(res, 0, 0);
    PQclear(res);
    /* from a small sample (3,000 rows): a fifth of the time of the
     * default, and enough for the plans pipemend makes, by table, id and
     * run. Every column, so the server counts the changes again from
     * zero (a list of columns does not reset that count). */
    return stale ? pg_exec(p,
                           "SET default_statistics_target = 10; ANALYZE " CAT
                           "_pipemend_quarantine; ANALYZE " CAT
                           "_pipemend_incident_ranges; RESET default_statistics_target",
                           "cannot take the quarantine's statistics", err)
                 : PM_OK;
}

/* ---- open ----------------------------------------------------------------- */

static const drv_ops pg_ops = {
    .name = "postgresql",
    /* each batch costs its round trips and its COPY's start */
    .default_batch = 20000,
    /* clean batches share a COPY and a transaction up to this many rows */
    .stream_rows = 250000,
    .dialect =
        {
            .catalog = CAT,
            /* text in the ISO form SQLite writes, so that everything above
             * the store reads the same strings from either */
            .now = NOW_SQL,
            .for_update = " FOR UPDATE",
            .epoch = "EXTRACT(EPOCH FROM CAST(%s AS timestamptz))",
            /* = ANY of an array, not IN (a set from the JSON): the
             * planner looks each id up in the index rather than hashing
             * the ids and scanning the whole table */
            .in_ids = "= ANY (CAST(translate(CAST(%s AS text), '[]', '{}') AS bigint[]))",
            .quads =
                "SELECT CAST(x ->> 0 AS bigint), CAST(x ->> 1 AS bigint), CAST(x ->> 2 AS "
                "bigint), CAST(x ->> 3 AS bigint) FROM jsonb_array_elements(CAST(%s AS jsonb)) x",
            .created = "created from the first rows",
            .data_schema = PG_DATA_SCHEMA,
            /* in the session's time zone, as ALTER ... TYPE timestamptz does */
            .as_timestamptz = "CAST(CAST(%s AS timestamptz) AS text)",
            .gone_open = "WITH gone AS (",
            .gone_close = " RETURNING table_name, run_id, id) SELECT table_name, run_id, "
                          "count(*), min(id), max(id) FROM gone GROUP BY table_name, run_id",
        },
    .close = pg_close,
    .tx = pg_tx,
    .in_tx = pg_in_tx,
    .lock = pg_lock,
    .prepare = pg_prepare,
    .drop = pg_drop,
    .table_create = pg_table_create,
    .apply_ddl = pg_apply_ddl,
    .render_ddl = pg_render_ddl,
    .table_changed = pg_table_changed,
    .table_live = pg_table_live,
    .unique_ensure = pg_unique_ensure,
    .table_count = pg_table_count,
    .table_exists = pg_table_exists,
    .data_token = pg_data_token,
    .table_remove = pg_table_remove,
    .insert_prepare = pg_insert_prepare,
    .insert = pg_insert,
    .load = pg_load,
    .load_streams = pg_load_streams,
    .load_stream = pg_load_stream,
    .load_stream_end = pg_load_stream_end,
    .sandbox_begin = pg_sandbox_begin,
    .dependents = pg_dependents,
    .sandbox_load = pg_sandbox_load,
    .sandbox_end = pg_sandbox_end,
    .quarantine_add_many = pg_quarantine_add_many,
    .quarantine_stats = pg_quarantine_stats,
};

/* Creates what is missing of the catalog. Workers opening at once would
 * race even with IF NOT EXISTS (a unique violation in pg_type or
 * pg_namespace), so the creation runs under an advisory lock; when
 * everything exists already nothing is created, so a role without CREATE
 * privileges opens a warehouse set up by its owner. */
static pm_code catalog_ensure(pg *p, pm_err *err)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    pm_code rc = pm_buf_putc(&b, '{', err);
    for (size_t i = 0; !rc && i < NCATALOG; i++)
        rc = pm_buf_printf(&b, err, "%s%s", i ? "," : "", catalog_objects[i].name);
    if (!rc)
        rc = pm_buf_putc(&b, '}', err);
    par a = {0};
    PGresult *res = NULL;
    par_text(&a, PG_CATALOG_SCHEMA);
    par_text(&a, b.data);
    if (!rc)
        rc = run(p,
                 "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON "
                 "n.oid = c.relnamespace WHERE n.nspname = $1::text AND c.relname = "
                 "ANY($2::text[])",
                 &a, &res, "cannot read the catalog", err);
    bool complete = !rc && col_int(res, 0, 0) == (int64_t)NCATALOG;
    PQclear(res);
    pm_buf_free(&b);
    for (size_t i = 0; !rc && complete && i < NCOLUMNS; i++) {
        par c = {0};
        par_text(&c, PG_CATALOG_SCHEMA);
        par_text(&c, catalog_columns[i].table);
        par_text(&c, catalog_columns[i].column);
        rc = run(p,
                 "SELECT count(*) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON "
                 "c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = $1::text AND c.relname = $2::text AND a.attname = $3::text "
                 "AND NOT a.attisdropped",
                 &c, &res, "cannot read the catalog", err);
        complete = !rc && col_int(res, 0, 0) == 1;
        PQclear(res);
    }
    if (rc || complete)
        return rc;
    rc = pg_exec(p, "BEGIN", "cannot create the catalog", err);
    if (!rc)
        rc = xact_lock(p, "catalog", err);
    if (!rc)
        rc = pg_exec(p, "CREATE SCHEMA IF NOT EXISTS " PG_CATALOG_SCHEMA,
                     "cannot create the catalog schema", err);
    for (size_t i = 0; !rc && i < NCATALOG; i++)
        rc = pg_exec(p, catalog_objects[i].sql, "cannot create the catalog", err);
    for (size_t i = 0; !rc && i < NCOLUMNS; i++)
        rc = pg_exec(p, catalog_columns[i].sql, "cannot upgrade the catalog", err);
    if (rc) {
        if (err && strcmp(err->sqlstate, "42501") == 0)
            pm_err_hint(err,
                        "pipemend creates its catalog (schema " PG_CATALOG_SCHEMA ") on first "
                        "use, and this role may not: apply `pipemend init --print-grants` to "
                        "%s as a superuser (it creates the catalog), or open it once as a role "
                        "that may create it",
                        p->where);
        pg_exec(p, "ROLLBACK", "cannot roll back", NULL);
        return rc;
    }
    return commit(p, err);
}

/* Incidents held their rows as one link per row (_pipemend_incident_rows);
 * now as ranges of row ids (catalog.c, RANGE_BLOCK). A catalog that still
 * has links gets each run of consecutive ids of an incident within one
 * block as a range, in one transaction, and the links go: the table is
 * dropped, or emptied where this role does not own it (a least-privilege
 * deployment, whose `init --print-grants` creates the ranges but never
 * reads what pipemend writes; its owner may drop the empty table). */
static pm_code links_upgrade(pg *p, pm_err *err)
{
    static const char what[] = "cannot upgrade the catalog's incident links";
    PGresult *res = NULL;
    bool pending = false, began = false;
    pm_code rc = PM_OK;
    for (int pass = 0; !rc && pass < 2; pass++) {
        rc = run(p, "SELECT to_regclass('" CAT "_pipemend_incident_rows') IS NOT NULL", NULL, &res,
                 what, err);
        bool exists = !rc && col_bool(res, 0, 0);
        PQclear(res);
        pending = false;
        if (!rc && exists) {
            rc = run(p, "SELECT EXISTS (SELECT 1 FROM " CAT "_pipemend_incident_rows)", NULL, &res,
                     what, err);
            pending = !rc && col_bool(res, 0, 0);
            PQclear(res);
        }
        if (!rc && exists && !pending && !began) {
            /* emptied where this login did not own it: dropped once one
             * that does opens the warehouse */
            rc = run(p,
                     "SELECT pg_catalog.pg_has_role(relowner, 'USAGE') FROM pg_catalog.pg_class "
                     "WHERE oid = to_regclass('" CAT "_pipemend_incident_rows')",
                     NULL, &res, what, err);
            bool own = !rc && PQntuples(res) == 1 && col_bool(res, 0, 0);
            PQclear(res);
            if (own &&
                pg_exec(p, "DROP TABLE IF EXISTS " CAT "_pipemend_incident_rows", what, NULL))
                pm_debug("the emptied incident links were not dropped");
        }
        if (rc || !pending)
            break;
        /* another process may upgrade at the same time: look again under
         * the catalog's lock */
        if (!pass) {
            rc = pg_exec(p, "BEGIN", what, err);
            began = !rc;
            if (!rc)
                rc = xact_lock(p, "catalog", err);
        }
    }
    if (!rc && pending)
        rc = pg_exec(
            p,
            "INSERT INTO " CAT "_pipemend_incident_ranges (incident, first_qrow, "
            "last_qrow, nrows) SELECT incident, min(qrow), max(qrow), count(*) FROM (SELECT "
            "incident, qrow, qrow - row_number() OVER (PARTITION BY incident ORDER BY "
            "qrow) AS run FROM " CAT "_pipemend_incident_rows) x GROUP BY incident, run, "
            "qrow / 256 ON CONFLICT DO NOTHING",
            what, err);
    if (!rc && pending)
        rc = pg_exec(p, "SAVEPOINT pm_links", what, err);
    if (!rc && pending && pg_exec(p, "DROP TABLE " CAT "_pipemend_incident_rows", what, NULL)) {
        rc = pg_exec(p, "ROLLBACK TO SAVEPOINT pm_links", what, err);
        if (!rc)
            rc = pg_exec(p, "DELETE FROM " CAT "_pipemend_incident_rows", what, err);
    }
    if (began)
        rc = rc ? (pg_exec(p, "ROLLBACK", "cannot roll back", NULL), rc) : commit(p, err);
    return rc;
}

pm_code pg_store_open(const char *url, pm_store *s, pm_err *err)
{
    pg *p = pm_xcalloc(1, sizeof *p);
    p->url = pm_xstrdup(url);
    s->impl = p;
    s->drv = &pg_ops;
    /* The URL is a libpq connection URI: what it leaves out comes from
     * PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD (and ~/.pgpass), so
     * postgresql:/// alone uses the environment. */
    static const char *const keys[] = {"dbname", "fallback_application_name", "client_encoding",
                                       NULL};
    const char *const vals[] = {url, "pipemend", "UTF8", NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn)
        pm_oom(sizeof(PGconn *));
    set_where(p);
    /* a server that is starting up, shutting down or not yet promoted is
     * waited for, as a lost connection is */
    if (PQstatus(p->conn) != CONNECTION_OK && wait_for_server(p, true, pm_clock_ms())) {
        set_where(p);
        pm_info("connected to PostgreSQL at %s", p->where);
    }
    pm_code rc = PM_OK;
    if (PQstatus(p->conn) != CONNECTION_OK) {
        /* libpq's 'connection to server at "h", port 5 failed: why': the
         * why, since the message names the place already */
        char line[400];
        bool fatal;
        connect_why(p->conn, line, sizeof line, &fatal);
        /* The server answered and said no (no such database or role, not
         * allowed in pg_hba.conf): trying again will not help, unless it is
         * only starting, stopping or full. libpq gives no SQLSTATE here. */
        bool refused = fatal && !server_busy(line);
        bool password = PQconnectionNeedsPassword(p->conn);
        rc = pm_err_set(err, password || refused ? PM_ERR_CONFIG : PM_ERR_IO,
                        "cannot connect to PostgreSQL at %s: %s", p->where, line);
        if (password)
            pm_err_hint(err, "the server asks for a password: put it in the URL, in PGPASSWORD "
                             "or in ~/.pgpass");
        else if (refused)
            pm_err_hint(err, "the server is there but refused: check the database and the role "
                             "in the URL (or PGDATABASE and PGUSER) and the server's pg_hba.conf");
        else
            pm_err_hint(err, "check that the server runs and accepts connections there; the URL "
                             "(postgresql://user@host:port/dbname) or PGHOST, PGPORT, PGUSER, "
                             "PGDATABASE and PGPASSWORD say where and as whom");
    }
    if (!rc)
        rc = session_setup(p, err);
    if (!rc)
        rc = catalog_ensure(p, err);
    if (!rc)
        rc = links_upgrade(p, err);
    if (rc) {
        pg_close(s);
        s->impl = NULL;
        return rc;
    }
    return PM_OK;
}
