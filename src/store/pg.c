/* pg.c - the PostgreSQL backend of store.h: the connection, the helpers
 * pg_table.c and pg_copy.c share (pg_int.h), and everything of the store
 * that is pipemend's own state (the catalog) rather than a data table.
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
 * every read-then-write of the catalog that must not interleave takes a
 * transaction-level advisory lock (pg_lock_key) first: the catalog's
 * creation; each append to the audit chain (so the chain stays linear),
 * and with the same lock the dedup of incidents and proposals (so two
 * workers hitting the same drift open one incident and one proposal); and
 * a checkpoint read inside a batch's transaction (so two runs on one
 * source cannot both move it).
 *
 * Every value is a bound parameter (PQexecParams, text format; bytea in
 * binary); identifiers reach SQL only through pg_quote_ident. */
#include "store/pg_int.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/arena.h"
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
     " table_name text NOT NULL, source text NOT NULL, byte_offset bigint NOT NULL,"
     " fingerprint bigint NOT NULL, line bigint NOT NULL, updated_at text NOT NULL,"
     " PRIMARY KEY (table_name, source))"},
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
     " created_at text NOT NULL, header bytea)"},
    {"_pipemend_quarantine_table", "CREATE INDEX IF NOT EXISTS _pipemend_quarantine_table ON " CAT
                                   "_pipemend_quarantine (table_name, id)"},
    {"_pipemend_quarantine_run",
     "CREATE INDEX IF NOT EXISTS _pipemend_quarantine_run ON " CAT "_pipemend_quarantine (run_id)"},
    {"_pipemend_proposals",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_proposals ("
     " id bigserial PRIMARY KEY, table_name text NOT NULL, run_id bigint NOT NULL,"
     " version integer NOT NULL, state text NOT NULL, ops text NOT NULL, why text NOT NULL,"
     " created_at text NOT NULL, decided_by text, decided_at text, incident bigint,"
     " dry_run text)"},
    {"_pipemend_incidents",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_incidents ("
     " id bigserial PRIMARY KEY, table_name text NOT NULL, column_name text NOT NULL,"
     " kind text NOT NULL, state text NOT NULL, run_id bigint NOT NULL, proposal bigint,"
     " message text NOT NULL, detected_at text NOT NULL, planned_at text, applied_at text,"
     " replayed_at text, resolved_at text, decided_by text, note text)"},
    {"_pipemend_incidents_key", "CREATE INDEX IF NOT EXISTS _pipemend_incidents_key ON " CAT
                                "_pipemend_incidents (table_name, column_name, kind, state)"},
    {"_pipemend_incident_rows",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_incident_rows ("
     " incident bigint NOT NULL, qrow bigint NOT NULL, PRIMARY KEY (incident, qrow))"},
    {"_pipemend_incident_rows_qrow",
     "CREATE INDEX IF NOT EXISTS _pipemend_incident_rows_qrow ON " CAT
     "_pipemend_incident_rows (qrow)"},
    {"_pipemend_halts", "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_halts ("
                        " table_name text NOT NULL, source text NOT NULL, qrow bigint NOT NULL,"
                        " halted_at text NOT NULL, PRIMARY KEY (table_name, source))"},
    {"_pipemend_audit",
     "CREATE TABLE IF NOT EXISTS " CAT "_pipemend_audit ("
     " seq bigint PRIMARY KEY, at text NOT NULL, actor text NOT NULL, action text NOT NULL,"
     " subject text NOT NULL, payload text NOT NULL, prev_hash text NOT NULL,"
     " hash text NOT NULL)"},
};
#define NCATALOG (sizeof catalog_objects / sizeof catalog_objects[0])

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

pm_code pg_exec(pg *p, const char *sql, const char *what, pm_err *err)
{
    PGresult *res = PQexec(p->conn, sql);
    pm_code rc = res_ok(res) ? PM_OK : pg_error(p, res, what, err);
    PQclear(res);
    return rc;
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

static pm_code run(pg *p, const char *sql, const par *a, PGresult **out, const char *what,
                   pm_err *err)
{
    PGresult *res = PQexecParams(p->conn, sql, a ? a->n : 0, a ? a->type : NULL, a ? a->v : NULL,
                                 a ? a->len : NULL, a ? a->fmt : NULL, 0);
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

pm_code pg_query(pg *p, const char *sql, int nparams, const char *const *params, PGresult **out,
                 const char *what, pm_err *err)
{
    PGresult *res = PQexecParams(p->conn, sql, nparams, NULL, params, NULL, NULL, 0);
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

pm_code pg_quote_ident(pm_buf *b, const char *name, pm_err *err)
{
    pm_code rc = pm_buf_putc(b, '"', err);
    for (const char *c = name; !rc && *c; c++)
        rc = *c == '"' ? pm_buf_append(b, "\"\"", 2, err) : pm_buf_putc(b, *c, err);
    return rc ? rc : pm_buf_putc(b, '"', err);
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

pm_code pg_record_version(pg *p, const pm_table *t, const char *reason, pm_err *err)
{
    json_t *cols = table_columns_json(t);
    char *text = json_dumps(cols, JSON_COMPACT);
    json_decref(cols);
    if (!text)
        return pm_err_set(err, PM_ERR_NOMEM, "cannot encode the schema of %s", t->name);
    par a = {0};
    par_text(&a, t->name);
    par_int(&a, t->version);
    par_text(&a, text);
    par_text(&a, reason);
    pm_code rc =
        run(p,
            "INSERT INTO " CAT "_pipemend_schema_versions (table_name, version, columns, "
            "reason, created_at) VALUES ($1::text, $2::integer, $3::text, $4::text, " NOW_SQL ")",
            &a, NULL, "cannot record the schema version", err);
    free(text);
    /* Two workers recording the same version of one table: the loser's
     * plan is stale, as when apply_ops finds the version moved. */
    if (rc == PM_ERR_CONSTRAINT && err && strcmp(err->sqlstate, "23505") == 0) {
        err->code = rc = PM_ERR_BUSY;
        pm_err_hint(err, "another worker changed %s at the same time; plan again", t->name);
    }
    return rc;
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
    PGresult *res = PQexec(p->conn, "COMMIT");
    pm_code rc = PM_OK;
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

/* A connection lost between transactions is opened again: the work of the
 * failed transaction is gone with it, and the caller resumes from the
 * checkpoints it committed. */
static pm_code reconnect(pg *p, pm_err *err)
{
    if (PQstatus(p->conn) != CONNECTION_BAD)
        return PM_OK;
    PQreset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK)
        return pg_error(p, NULL, "cannot reconnect to PostgreSQL", err);
    pm_warn("reconnected to PostgreSQL at %s", p->where);
    return session_setup(p, err);
}

/* Takes a transaction-level advisory lock on what (a NUL-free key). */
static pm_code xact_lock(pg *p, const char *what, pm_err *err)
{
    par a = {0};
    par_int(&a, pg_lock_key(what));
    return run(p, "SELECT pg_advisory_xact_lock($1::bigint)", &a, NULL, "cannot take a lock", err);
}

/* The lock that orders the catalog's writers: the audit chain's. Opening
 * an incident or recording a proposal takes it too, rather than a lock of
 * its own: those transactions go on to append to the audit log, and a
 * transaction that takes one lock cannot deadlock with another that takes
 * the same one, whatever order they open incidents in. */
static pm_code writer_lock(pg *p, pm_err *err)
{
    return xact_lock(p, "audit", err);
}

/* The same for a key made of parts (separated by a unit separator). */
static pm_code xact_lock_parts(pg *p, const char *const *parts, size_t n, pm_err *err)
{
    pm_buf b;
    pm_buf_init(&b, (size_t)1 << 26);
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        if (i)
            rc = pm_buf_putc(&b, '\x1f', err);
        if (!rc)
            rc = pm_buf_puts(&b, parts[i] ? parts[i] : "", err);
    }
    if (!rc)
        rc = xact_lock(p, b.data, err);
    pm_buf_free(&b);
    return rc;
}

/* Opens a transaction unless the caller has one (*own says which). */
static pm_code tx_own(pg *p, bool *own, pm_err *err)
{
    *own = !joined(p);
    if (!*own)
        return PM_OK;
    pm_code rc = reconnect(p, err);
    return rc ? rc : pg_exec(p, "BEGIN", "cannot begin a transaction", err);
}

/* Ends the transaction tx_own opened: commits on success, rolls back on
 * failure (rc is returned). */
static pm_code tx_end(pg *p, bool own, pm_code rc, pm_err *err)
{
    if (!own)
        return rc;
    if (rc) {
        pg_exec(p, "ROLLBACK", "cannot roll back", NULL);
        return rc;
    }
    return commit(p, err);
}

static pm_code pg_exec_tx(pm_store *s, const char *verb, pm_err *err)
{
    pg *p = pg_of(s);
    if (strncmp(verb, "BEGIN", 5) == 0) {
        /* store_begin says BEGIN IMMEDIATE (SQLite's writer lock); in
         * PostgreSQL the locks that matter are taken where they are needed */
        PGTransactionStatusType st = PQtransactionStatus(p->conn);
        if (st == PQTRANS_INTRANS || st == PQTRANS_INERROR)
            return pm_err_set(err, PM_ERR_INTERNAL, "a transaction is already open");
        pm_code rc = reconnect(p, err);
        /* A batch's commit need not wait for the WAL flush: its rows and
         * its checkpoint are kept or lost together, and the run's last
         * commit (synchronous) flushes every batch before it. */
        if (!rc)
            rc = pg_exec(p,
                         strcmp(verb, "BEGIN BATCH") == 0
                             ? "BEGIN; SET LOCAL synchronous_commit = off"
                             : "BEGIN",
                         "cannot begin a transaction", err);
        p->in_tx = rc == PM_OK;
        return rc;
    }
    bool was = joined(p);
    p->in_tx = false;
    if (strcmp(verb, "COMMIT") == 0)
        return was ? commit(p, err)
                   : pm_err_set(err, PM_ERR_INTERNAL, "cannot commit: no transaction is open");
    /* nothing open (or the connection is gone with it): nothing to undo */
    PGTransactionStatusType st = PQtransactionStatus(p->conn);
    if (st != PQTRANS_INTRANS && st != PQTRANS_INERROR)
        return PM_OK;
    return pg_exec(p, "ROLLBACK", "cannot roll back", err);
}

static void pg_close(pm_store *s)
{
    pg *p = pg_of(s);
    pg_table_close(p);
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

static int64_t col_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool col_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
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

/* ---- tables in the catalog ------------------------------------------------ */

static pm_code pg_table_load_op(pm_store *s, const char *name, pm_arena *a, pm_table **out,
                                pm_err *err)
{
    pg *p = pg_of(s);
    PGresult *res;
    par q = {0};
    *out = NULL;
    par_text(&q, name);
    pm_code rc = run(p,
                     "SELECT version, columns FROM " CAT "_pipemend_schema_versions WHERE "
                     "table_name = $1::text ORDER BY version DESC LIMIT 1",
                     &q, &res, "cannot read the catalog", err);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        pm_table *t = table_new(a, name);
        t->version = (int)col_int(res, 0, 0);
        rc = table_columns_parse(t, a, PQgetvalue(res, 0, 1), err);
        if (!rc)
            *out = t;
    }
    PQclear(res);
    return rc;
}

static pm_code pg_table_adopt(pm_store *s, const pm_table *t, const char *reason, pm_err *err)
{
    pg *p = pg_of(s);
    pm_code rc = pg_record_version(p, t, reason, err);
    p->load_table = NULL; /* a load prepared for the old columns would not fit */
    return rc;
}

static pm_code tables(pm_store *s, bool brief, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    pg *p = pg_of(s);
    PGresult *res;
    *n = 0;
    *out = NULL;
    pm_code rc =
        run(p,
            brief ? "SELECT table_name, max(version) FROM " CAT
                    "_pipemend_schema_versions GROUP BY table_name ORDER BY table_name"
                  : "SELECT DISTINCT ON (table_name) table_name, version, columns FROM " CAT
                    "_pipemend_schema_versions ORDER BY table_name, version DESC",
            NULL, &res, "cannot list tables", err);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    if (rows)
        *out = pm_arena_alloc(a, (size_t)rows * sizeof **out);
    for (int i = 0; !rc && i < rows; i++) {
        pm_table *t = table_new(a, col_text(res, i, 0, a));
        t->version = (int)col_int(res, i, 1);
        if (!brief)
            rc = table_columns_parse(t, a, PQgetvalue(res, i, 2), err);
        (*out)[(*n)++] = t;
    }
    PQclear(res);
    return rc;
}

static pm_code pg_tables_list(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    return tables(s, false, a, out, n, err);
}

static pm_code pg_tables_brief(pm_store *s, pm_arena *a, pm_table ***out, size_t *n, pm_err *err)
{
    return tables(s, true, a, out, n, err);
}

/* ---- quarantine ----------------------------------------------------------- */

#define QROW_COLUMNS                                                                               \
    "q.id, q.run_id, q.table_name, q.pipeline, q.source, q.byte_offset, q.line, q.raw, "           \
    "q.raw_truncated, q.kinds, q.message, q.findings, q.status, q.created_at, q.header"

/* The rows of res (selecting QROW_COLUMNS) into a; clears res. */
static void read_qrows(PGresult *res, pm_arena *a, pm_qrow **out, size_t *n)
{
    int rows = PQntuples(res);
    *n = 0;
    *out = rows ? pm_arena_calloc(a, (size_t)rows * sizeof **out) : NULL;
    for (int i = 0; i < rows; i++) {
        pm_qrow *x = &(*out)[(*n)++];
        x->id = col_int(res, i, 0);
        x->run_id = col_int(res, i, 1);
        x->table = col_text(res, i, 2, a);
        x->pipeline = col_text(res, i, 3, a);
        x->source = col_text(res, i, 4, a);
        x->offset = col_int(res, i, 5);
        x->line = col_int(res, i, 6);
        x->raw = col_bytea(res, i, 7, a, &x->raw_len);
        if (!x->raw)
            x->raw = "";
        x->raw_truncated = col_bool(res, i, 8);
        x->kinds = col_text(res, i, 9, a);
        x->message = col_text(res, i, 10, a);
        x->findings = col_text(res, i, 11, a);
        x->status = col_text(res, i, 12, a);
        x->created_at = col_text(res, i, 13, a);
        x->header = col_bytea(res, i, 14, a, &x->header_len);
    }
    PQclear(res);
}

static pm_code pg_quarantine_add(pm_store *s, const pm_qrow *r, int64_t *id, pm_err *err)
{
    pg *p = pg_of(s);
    if (r->raw_len > INT_MAX || (r->header && r->header_len > INT_MAX))
        return pm_err_set(err, PM_ERR_LIMIT, "a quarantined row is too large for PostgreSQL");
    par a = {0};
    par_int(&a, r->run_id);
    par_text(&a, r->table);
    par_text(&a, r->pipeline);
    par_text(&a, r->source);
    par_int(&a, r->offset);
    par_int(&a, r->line);
    par_bytes(&a, r->raw ? r->raw : "", r->raw_len);
    par_bool(&a, r->raw_truncated);
    par_text(&a, r->kinds);
    par_text(&a, r->message);
    par_text(&a, r->findings);
    par_bytes(&a, r->header, r->header_len);
    PGresult *res;
    pm_code rc = run(p,
                     "INSERT INTO " CAT "_pipemend_quarantine (run_id, table_name, pipeline, "
                     "source, byte_offset, line, raw, raw_truncated, kinds, message, findings, "
                     "status, created_at, header) VALUES ($1::bigint, $2::text, $3::text, "
                     "$4::text, $5::bigint, $6::bigint, $7, $8::boolean, $9::text, $10::text, "
                     "$11::text, 'quarantined', " NOW_SQL ", $12) RETURNING id",
                     &a, &res, "cannot quarantine a row", err);
    if (rc)
        return rc;
    *id = col_int(res, 0, 0);
    PQclear(res);
    return PM_OK;
}

static pm_code pg_quarantine_update(pm_store *s, int64_t id, const char *kinds, const char *message,
                                    const char *findings, pm_err *err)
{
    par a = {0};
    par_int(&a, id);
    par_text(&a, kinds);
    par_text(&a, message);
    par_text(&a, findings);
    return run(pg_of(s),
               "UPDATE " CAT "_pipemend_quarantine SET kinds = $2::text, message = $3::text, "
               "findings = $4::text WHERE id = $1::bigint",
               &a, NULL, "cannot update a quarantined row", err);
}

static pm_code pg_quarantine_list(pm_store *s, const char *table, int64_t run_id, int limit,
                                  int64_t id, pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    par q = {0};
    PGresult *res;
    *n = 0;
    *out = NULL;
    par_text(&q, table);
    par_int(&q, run_id);
    par_int(&q, id);
    if (limit > 0)
        par_int(&q, limit);
    else
        par_text(&q, NULL); /* LIMIT NULL: all */
    pm_code rc = run(pg_of(s),
                     "SELECT " QROW_COLUMNS " FROM " CAT "_pipemend_quarantine q WHERE ($1::text "
                     "IS NULL OR q.table_name = $1::text) AND ($2::bigint = 0 OR q.run_id = "
                     "$2::bigint) AND ($3::bigint = 0 OR q.id = $3::bigint) ORDER BY q.id DESC "
                     "LIMIT $4::bigint",
                     &q, &res, "cannot list quarantine", err);
    if (!rc)
        read_qrows(res, a, out, n);
    return rc;
}

static pm_code pg_quarantine_page(pm_store *s, const char *table, int64_t after, int limit,
                                  pm_arena *a, pm_qrow **out, size_t *n, pm_err *err)
{
    par q = {0};
    PGresult *res;
    *n = 0;
    *out = NULL;
    par_text(&q, table);
    par_int(&q, after);
    if (limit > 0)
        par_int(&q, limit);
    else
        par_text(&q, NULL);
    pm_code rc =
        run(pg_of(s),
            "SELECT q.id, q.run_id, NULL, NULL, q.source, q.byte_offset, q.line, q.raw, "
            "q.raw_truncated, NULL, NULL, q.findings, NULL, NULL, q.header FROM " CAT
            "_pipemend_quarantine q WHERE q.table_name = $1::text AND q.id > $2::bigint ORDER BY "
            "q.id LIMIT $3::bigint",
            &q, &res, "cannot list quarantine", err);
    if (!rc)
        read_qrows(res, a, out, n);
    return rc;
}

/* Both deletes in one statement: the links go with their rows. */
#define QUARANTINE_REMOVE_SQL                                                                      \
    "WITH l AS (DELETE FROM " CAT "_pipemend_incident_rows WHERE qrow = ANY($1::bigint[])) "       \
    "DELETE FROM " CAT "_pipemend_quarantine WHERE id = ANY($1::bigint[])"

static pm_code pg_quarantine_remove_many(pm_store *s, const int64_t *ids, size_t n, pm_err *err)
{
    pg *p = pg_of(s);
    pm_buf b;
    pm_buf_init(&b, (size_t)64 << 20);
    pm_code rc = PM_OK;
    for (size_t at = 0; !rc && at < n; at += 10000) {
        size_t end = n - at > 10000 ? at + 10000 : n;
        pm_buf_reset(&b);
        rc = pm_buf_putc(&b, '{', err);
        for (size_t i = at; !rc && i < end; i++)
            rc = pm_buf_printf(&b, err, "%s%lld", i > at ? "," : "", (long long)ids[i]);
        if (!rc)
            rc = pm_buf_putc(&b, '}', err);
        par a = {0};
        par_text(&a, b.data);
        if (!rc)
            rc = run(p, QUARANTINE_REMOVE_SQL, &a, NULL, "cannot take rows out of quarantine", err);
    }
    pm_buf_free(&b);
    return rc;
}

static pm_code pg_quarantine_remove(pm_store *s, int64_t id, pm_err *err)
{
    return pg_quarantine_remove_many(s, &id, 1, err);
}

static pm_code pg_quarantine_count(pm_store *s, const char *table, int64_t *n, pm_err *err)
{
    par a = {0};
    PGresult *res;
    par_text(&a, table);
    pm_code rc = run(pg_of(s),
                     "SELECT count(*) FROM " CAT "_pipemend_quarantine WHERE $1::text IS NULL OR "
                     "table_name = $1::text",
                     &a, &res, "cannot count quarantine", err);
    if (rc)
        return rc;
    *n = col_int(res, 0, 0);
    PQclear(res);
    return PM_OK;
}

/* ---- checkpoints ---------------------------------------------------------- */

static pm_code pg_checkpoint_get(pm_store *s, const char *table, const char *source,
                                 pm_checkpoint *out, bool *found, pm_err *err)
{
    pg *p = pg_of(s);
    bool tx = joined(p);
    *found = false;
    /* Inside a batch's transaction the read decides whether the batch may
     * move the checkpoint: it must see the last committed move and keep
     * others from moving it until this transaction ends. FOR UPDATE locks
     * the row; the advisory lock covers the first batch, when there is no
     * row to lock yet. */
    if (tx) {
        const char *parts[] = {"checkpoint", table, source};
        pm_code rc = xact_lock_parts(p, parts, 3, err);
        if (rc)
            return rc;
    }
    par a = {0};
    PGresult *res;
    par_text(&a, table);
    par_text(&a, source);
    pm_code rc = run(p,
                     tx ? "SELECT byte_offset, fingerprint, line FROM " CAT "_pipemend_checkpoints "
                          "WHERE table_name = $1::text AND source = $2::text FOR UPDATE"
                        : "SELECT byte_offset, fingerprint, line FROM " CAT "_pipemend_checkpoints "
                          "WHERE table_name = $1::text AND source = $2::text",
                     &a, &res, "cannot read the checkpoint", err);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        *found = true;
        out->offset = (uint64_t)col_int(res, 0, 0);
        out->fingerprint = (uint64_t)col_int(res, 0, 1);
        out->line = (uint64_t)col_int(res, 0, 2);
    }
    PQclear(res);
    return PM_OK;
}

static pm_code pg_checkpoint_set(pm_store *s, const char *table, const char *source,
                                 const pm_checkpoint *cp, pm_err *err)
{
    par a = {0};
    par_text(&a, table);
    par_text(&a, source);
    /* bigint holds the unsigned 64-bit values bit for bit */
    par_int(&a, (int64_t)cp->offset);
    par_int(&a, (int64_t)cp->fingerprint);
    par_int(&a, (int64_t)cp->line);
    return run(pg_of(s),
               "INSERT INTO " CAT "_pipemend_checkpoints (table_name, source, byte_offset, "
               "fingerprint, line, updated_at) VALUES ($1::text, $2::text, $3::bigint, "
               "$4::bigint, $5::bigint, " NOW_SQL ") ON CONFLICT (table_name, source) DO UPDATE "
               "SET byte_offset = excluded.byte_offset, fingerprint = excluded.fingerprint, "
               "line = excluded.line, updated_at = excluded.updated_at",
               &a, NULL, "cannot write the checkpoint", err);
}

/* ---- halts ---------------------------------------------------------------- */

static pm_code pg_halt_set(pm_store *s, const char *table, const char *source, int64_t qrow,
                           pm_err *err)
{
    par a = {0};
    par_text(&a, table);
    par_text(&a, source);
    par_int(&a, qrow);
    return run(pg_of(s),
               "INSERT INTO " CAT "_pipemend_halts (table_name, source, qrow, halted_at) VALUES "
               "($1::text, $2::text, $3::bigint, " NOW_SQL ") ON CONFLICT (table_name, source) DO "
               "UPDATE SET qrow = excluded.qrow, halted_at = excluded.halted_at",
               &a, NULL, "cannot record the halt", err);
}

static pm_code pg_halt_get(pm_store *s, const char *table, const char *source, int64_t *qrow,
                           int64_t *incident, bool *found, pm_err *err)
{
    par a = {0};
    PGresult *res;
    *found = false;
    *qrow = *incident = 0;
    par_text(&a, table);
    par_text(&a, source);
    pm_code rc = run(pg_of(s),
                     "SELECT h.qrow, (SELECT i.id FROM " CAT "_pipemend_incident_rows r JOIN " CAT
                     "_pipemend_incidents i ON i.id = r.incident WHERE r.qrow = h.qrow AND "
                     "i.state NOT IN ('resolved', 'dismissed') ORDER BY i.id LIMIT 1) FROM " CAT
                     "_pipemend_halts h WHERE h.table_name = $1::text AND h.source = $2::text",
                     &a, &res, "cannot read the halt", err);
    if (rc)
        return rc;
    if (PQntuples(res) == 1) {
        *found = true;
        *qrow = col_int(res, 0, 0);
        *incident = col_int(res, 0, 1);
    }
    PQclear(res);
    return PM_OK;
}

static pm_code pg_halt_clear(pm_store *s, const char *table, const char *source, pm_err *err)
{
    par a = {0};
    par_text(&a, table);
    par_text(&a, source);
    return run(pg_of(s),
               "DELETE FROM " CAT "_pipemend_halts WHERE table_name = $1::text AND source = "
               "$2::text",
               &a, NULL, "cannot clear the halt", err);
}

/* ---- runs ----------------------------------------------------------------- */

static pm_code pg_run_start(pm_store *s, const char *pipeline, const char *table, int64_t *id,
                            pm_err *err)
{
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    par a = {0};
    PGresult *res;
    par_text(&a, pipeline);
    par_text(&a, table);
    par_int(&a, getpid());
    par_text(&a, host);
    pm_code rc = run(pg_of(s),
                     "INSERT INTO " CAT "_pipemend_runs (pipeline, table_name, status, started_at, "
                     "pid, host) VALUES ($1::text, $2::text, 'running', " NOW_SQL ", $3::bigint, "
                     "$4::text) RETURNING id",
                     &a, &res, "cannot record the run", err);
    if (rc)
        return rc;
    *id = col_int(res, 0, 0);
    PQclear(res);
    return PM_OK;
}

static pm_code pg_run_add(pm_store *s, int64_t id, int64_t r, int64_t l, int64_t qn, pm_err *err)
{
    par a = {0};
    par_int(&a, id);
    par_int(&a, r);
    par_int(&a, l);
    par_int(&a, qn);
    return run(pg_of(s),
               "UPDATE " CAT "_pipemend_runs SET rows_read = rows_read + $2::bigint, rows_loaded "
               "= rows_loaded + $3::bigint, rows_quarantined = rows_quarantined + $4::bigint "
               "WHERE id = $1::bigint",
               &a, NULL, "cannot update the run", err);
}

static pm_code pg_run_finish(pm_store *s, int64_t id, const char *status, const char *error,
                             bool anomaly, const char *note, pm_err *err)
{
    par a = {0};
    par_int(&a, id);
    par_text(&a, status);
    par_text(&a, error);
    par_bool(&a, anomaly);
    par_text(&a, note);
    return run(pg_of(s),
               "UPDATE " CAT "_pipemend_runs SET status = $2::text, error = $3::text, "
               "volume_anomaly = $4::boolean, volume_note = $5::text, finished_at = " NOW_SQL
               " WHERE id = $1::bigint",
               &a, NULL, "cannot finish the run", err);
}

static pm_code pg_runs_list(pm_store *s, const char *pipeline, const char *table, int limit,
                            int64_t id, pm_arena *a, pm_run **out, size_t *n, pm_err *err)
{
    par q = {0};
    PGresult *res;
    *n = 0;
    *out = NULL;
    par_text(&q, pipeline);
    par_text(&q, table);
    par_int(&q, id);
    if (limit > 0)
        par_int(&q, limit);
    else
        par_text(&q, NULL);
    pm_code rc = run(pg_of(s),
                     "SELECT id, pipeline, table_name, status, started_at, finished_at, "
                     "rows_read, rows_loaded, rows_quarantined, error, volume_anomaly, "
                     "volume_note FROM " CAT "_pipemend_runs WHERE ($1::text IS NULL OR pipeline "
                     "= $1::text) AND ($2::text IS NULL OR table_name = $2::text) AND ($3::bigint "
                     "= 0 OR id = $3::bigint) ORDER BY id DESC LIMIT $4::bigint",
                     &q, &res, "cannot list runs", err);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    *out = rows ? pm_arena_calloc(a, (size_t)rows * sizeof **out) : NULL;
    for (int i = 0; i < rows; i++) {
        pm_run *x = &(*out)[(*n)++];
        x->id = col_int(res, i, 0);
        x->pipeline = col_text(res, i, 1, a);
        x->table = col_text(res, i, 2, a);
        x->status = col_text(res, i, 3, a);
        x->started_at = col_text(res, i, 4, a);
        x->finished_at = col_text(res, i, 5, a);
        x->rows_read = col_int(res, i, 6);
        x->rows_loaded = col_int(res, i, 7);
        x->rows_quarantined = col_int(res, i, 8);
        x->error = col_text(res, i, 9, a);
        x->volume_anomaly = col_bool(res, i, 10);
        x->volume_note = col_text(res, i, 11, a);
    }
    PQclear(res);
    return PM_OK;
}

static pm_code pg_runs_reap(pm_store *s, pm_arena *a, int64_t **ids, size_t *n, pm_err *err)
{
    pg *p = pg_of(s);
    *ids = NULL;
    *n = 0;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    par q = {0};
    PGresult *res;
    par_text(&q, host);
    pm_code rc = run(p,
                     "SELECT id, pid FROM " CAT "_pipemend_runs WHERE status = 'running' AND "
                     "host = $1::text",
                     &q, &res, "cannot read runs", err);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    if (rows)
        *ids = pm_arena_alloc(a, (size_t)rows * sizeof **ids);
    for (int i = 0; !rc && i < rows; i++) {
        pid_t pid = (pid_t)col_int(res, i, 1);
        if (pid == getpid() || kill(pid, 0) == 0 || errno == EPERM)
            continue; /* alive (EPERM: alive, owned by another user) */
        int64_t id = col_int(res, i, 0);
        par u = {0};
        PGresult *ur;
        par_int(&u, id);
        /* still running: another process reaping at the same time takes
         * each run once, so each gets one audit event */
        rc = run(p,
                 "UPDATE " CAT "_pipemend_runs SET status = 'aborted', error = 'the process "
                 "running it ended before it finished (killed or crashed); committed batches "
                 "were kept and a re-run resumes from the checkpoint', finished_at = " NOW_SQL
                 " WHERE id = $1::bigint AND status = 'running'",
                 &u, &ur, "cannot update runs", err);
        if (rc)
            break;
        if (strcmp(PQcmdTuples(ur), "1") == 0)
            (*ids)[(*n)++] = id;
        PQclear(ur);
    }
    PQclear(res);
    return rc;
}

/* ---- proposals ------------------------------------------------------------ */

static pm_code pg_proposal_add(pm_store *s, const pm_proposal *pr, int64_t *id, bool *created,
                               pm_err *err)
{
    pg *p = pg_of(s);
    *created = false;
    bool own;
    pm_code rc = tx_own(p, &own, err);
    if (rc)
        return rc;
    /* the check and the insert under one lock: two workers planning the
     * same ops for the same table record one proposal (the audit lock, see
     * writer_lock) */
    rc = writer_lock(p, err);
    par a = {0};
    PGresult *res = NULL;
    par_text(&a, pr->table);
    par_text(&a, pr->ops);
    if (!rc)
        rc = run(p,
                 "SELECT id FROM " CAT "_pipemend_proposals WHERE table_name = $1::text AND ops = "
                 "$2::text AND state IN ('pending', 'rejected') ORDER BY id DESC LIMIT 1",
                 &a, &res, "cannot read proposals", err);
    if (!rc && PQntuples(res) == 1) {
        *id = col_int(res, 0, 0);
        PQclear(res);
        return tx_end(p, own, PM_OK, err);
    }
    PQclear(res);
    res = NULL;
    a = (par){0};
    par_text(&a, pr->table);
    par_int(&a, pr->run_id);
    par_int(&a, pr->version);
    par_text(&a, pr->ops);
    par_text(&a, pr->why);
    if (pr->incident)
        par_int(&a, pr->incident);
    else
        par_text(&a, NULL);
    if (!rc)
        rc = run(p,
                 "INSERT INTO " CAT "_pipemend_proposals (table_name, run_id, version, state, "
                 "ops, why, created_at, incident) VALUES ($1::text, $2::bigint, $3::integer, "
                 "'pending', $4::text, $5::text, " NOW_SQL ", $6::bigint) RETURNING id",
                 &a, &res, "cannot record the proposal", err);
    if (!rc)
        *id = col_int(res, 0, 0);
    PQclear(res);
    rc = tx_end(p, own, rc, err);
    *created = rc == PM_OK;
    return rc;
}

static pm_code pg_proposals_list(pm_store *s, const char *table, const char *state, int64_t id,
                                 pm_arena *a, pm_proposal **out, size_t *n, pm_err *err)
{
    par q = {0};
    PGresult *res;
    *n = 0;
    *out = NULL;
    par_text(&q, table);
    par_text(&q, state);
    par_int(&q, id);
    pm_code rc = run(pg_of(s),
                     "SELECT id, table_name, run_id, version, state, ops, why, created_at, "
                     "decided_by, decided_at, incident, dry_run FROM " CAT "_pipemend_proposals "
                     "WHERE ($1::text IS NULL OR table_name = $1::text) AND ($2::text IS NULL OR "
                     "state = $2::text) AND ($3::bigint = 0 OR id = $3::bigint) ORDER BY id DESC",
                     &q, &res, "cannot read proposals", err);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    *out = rows ? pm_arena_calloc(a, (size_t)rows * sizeof **out) : NULL;
    for (int i = 0; i < rows; i++) {
        pm_proposal *x = &(*out)[(*n)++];
        x->id = col_int(res, i, 0);
        x->table = col_text(res, i, 1, a);
        x->run_id = col_int(res, i, 2);
        x->version = (int)col_int(res, i, 3);
        x->state = col_text(res, i, 4, a);
        x->ops = col_text(res, i, 5, a);
        x->why = col_text(res, i, 6, a);
        x->created_at = col_text(res, i, 7, a);
        x->decided_by = col_text(res, i, 8, a);
        x->decided_at = col_text(res, i, 9, a);
        x->incident = col_int(res, i, 10);
        x->dry_run = col_text(res, i, 11, a);
    }
    PQclear(res);
    return PM_OK;
}

static pm_code pg_proposal_decide(pm_store *s, int64_t id, const char *state, const char *actor,
                                  pm_err *err)
{
    par a = {0};
    PGresult *res;
    par_int(&a, id);
    par_text(&a, state);
    par_text(&a, actor);
    pm_code rc = run(pg_of(s),
                     "UPDATE " CAT "_pipemend_proposals SET state = $2::text, decided_by = "
                     "$3::text, decided_at = " NOW_SQL " WHERE id = $1::bigint AND state = "
                     "'pending'",
                     &a, &res, "cannot update the proposal", err);
    if (rc)
        return rc;
    if (strcmp(PQcmdTuples(res), "1") != 0)
        rc = pm_err_set(err, PM_ERR_BUSY, "proposal %lld is not pending", (long long)id);
    PQclear(res);
    return rc;
}

static pm_code pg_proposal_set_dry_run(pm_store *s, int64_t id, const char *outcome, pm_err *err)
{
    par a = {0};
    par_int(&a, id);
    par_text(&a, outcome);
    return run(pg_of(s),
               "UPDATE " CAT "_pipemend_proposals SET dry_run = $2::text WHERE id = $1::bigint", &a,
               NULL, "cannot record the dry run", err);
}

/* ---- incidents ------------------------------------------------------------ */

static pm_code pg_incident_open(pm_store *s, const pm_incident *in, int64_t *id, bool *created,
                                pm_err *err)
{
    pg *p = pg_of(s);
    *created = false;
    const char *column = in->column ? in->column : "";
    bool own;
    pm_code rc = tx_own(p, &own, err);
    if (rc)
        return rc;
    /* one active incident per table, column and kind, whoever sees the
     * drift first */
    rc = writer_lock(p, err);
    par a = {0};
    PGresult *res = NULL;
    par_text(&a, in->table);
    par_text(&a, column);
    par_text(&a, in->kind);
    if (!rc)
        rc = run(p,
                 "SELECT id FROM " CAT "_pipemend_incidents WHERE table_name = $1::text AND "
                 "column_name = $2::text AND kind = $3::text AND state NOT IN ('resolved', "
                 "'dismissed') ORDER BY id DESC LIMIT 1",
                 &a, &res, "cannot read incidents", err);
    if (!rc && PQntuples(res) == 1) {
        *id = col_int(res, 0, 0);
        PQclear(res);
        return tx_end(p, own, PM_OK, err);
    }
    PQclear(res);
    res = NULL;
    par_int(&a, in->run_id);
    par_text(&a, in->message ? in->message : "");
    if (!rc)
        rc = run(p,
                 "INSERT INTO " CAT "_pipemend_incidents (table_name, column_name, kind, state, "
                 "run_id, message, detected_at) VALUES ($1::text, $2::text, $3::text, 'open', "
                 "$4::bigint, $5::text, " NOW_SQL ") RETURNING id",
                 &a, &res, "cannot open an incident", err);
    if (!rc)
        *id = col_int(res, 0, 0);
    PQclear(res);
    rc = tx_end(p, own, rc, err);
    *created = rc == PM_OK;
    return rc;
}

static pm_code pg_incident_link(pm_store *s, int64_t incident, int64_t qrow, pm_err *err)
{
    par a = {0};
    par_int(&a, incident);
    par_int(&a, qrow);
    return run(pg_of(s),
               "INSERT INTO " CAT "_pipemend_incident_rows (incident, qrow) VALUES ($1::bigint, "
               "$2::bigint) ON CONFLICT DO NOTHING",
               &a, NULL, "cannot link a quarantined row to its incident", err);
}

static pm_code pg_incident_unlink_row(pm_store *s, int64_t qrow, pm_err *err)
{
    par a = {0};
    par_int(&a, qrow);
    return run(pg_of(s), "DELETE FROM " CAT "_pipemend_incident_rows WHERE qrow = $1::bigint", &a,
               NULL, "cannot unlink a quarantined row from its incidents", err);
}

static pm_code pg_incident_set(pm_store *s, int64_t id, const char *state, int64_t proposal,
                               const char *note, const char *actor, pm_err *err)
{
    par a = {0};
    PGresult *res;
    par_int(&a, id);
    par_text(&a, state);
    par_int(&a, proposal);
    par_text(&a, note);
    par_text(&a, actor);
    /* Each state stamps its own time once: a second plan keeps the first
     * planned_at, so time to recovery counts from the first response. */
    pm_code rc =
        run(pg_of(s),
            "UPDATE " CAT "_pipemend_incidents SET state = $2::text, "
            "proposal = CASE WHEN $3::bigint = 0 THEN proposal ELSE $3::bigint END, "
            "note = COALESCE($4::text, note), decided_by = COALESCE($5::text, decided_by), "
            "planned_at = CASE WHEN $2::text IN ('planned', 'awaiting_approval', 'dry_run_failed') "
            "THEN COALESCE(planned_at, " NOW_SQL ") ELSE planned_at END, "
            "applied_at = CASE WHEN $2::text = 'applied' THEN " NOW_SQL " ELSE applied_at END, "
            "replayed_at = CASE WHEN $2::text = 'replayed' THEN " NOW_SQL " ELSE replayed_at END, "
            "resolved_at = CASE WHEN $2::text IN ('resolved', 'dismissed') THEN " NOW_SQL
            " ELSE resolved_at END WHERE id = $1::bigint",
            &a, &res, "cannot update the incident", err);
    if (rc)
        return rc;
    if (strcmp(PQcmdTuples(res), "1") != 0)
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "no incident %lld", (long long)id);
    PQclear(res);
    return rc;
}

static pm_code pg_incidents_list(pm_store *s, const pm_incident_filter *f, pm_arena *a,
                                 pm_incident **out, size_t *n, pm_err *err)
{
    par q = {0};
    PGresult *res;
    *n = 0;
    *out = NULL;
    par_text(&q, f->table);
    par_bool(&q, f->active_only);
    par_int(&q, f->id);
    par_int(&q, f->proposal);
    pm_code rc = run(
        pg_of(s),
        "SELECT i.id, i.table_name, i.column_name, i.kind, i.state, i.run_id, "
        "COALESCE(i.proposal, 0), (SELECT count(*) FROM " CAT "_pipemend_incident_rows r WHERE "
        "r.incident = i.id), i.message, i.detected_at, i.planned_at, i.applied_at, "
        "i.replayed_at, i.resolved_at, i.decided_by, i.note FROM " CAT "_pipemend_incidents i "
        "WHERE ($1::text IS NULL OR i.table_name = $1::text) AND (NOT $2::boolean OR i.state NOT "
        "IN ('resolved', 'dismissed')) AND ($3::bigint = 0 OR i.id = $3::bigint) AND ($4::bigint "
        "= 0 OR i.proposal = $4::bigint) ORDER BY i.id DESC",
        &q, &res, "cannot read incidents", err);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    *out = rows ? pm_arena_calloc(a, (size_t)rows * sizeof **out) : NULL;
    for (int i = 0; i < rows; i++) {
        pm_incident *x = &(*out)[(*n)++];
        x->id = col_int(res, i, 0);
        x->table = col_text(res, i, 1, a);
        x->column = col_text(res, i, 2, a);
        x->kind = col_text(res, i, 3, a);
        x->state = col_text(res, i, 4, a);
        x->run_id = col_int(res, i, 5);
        x->proposal = col_int(res, i, 6);
        x->rows = col_int(res, i, 7);
        x->message = col_text(res, i, 8, a);
        x->detected_at = col_text(res, i, 9, a);
        x->planned_at = col_text(res, i, 10, a);
        x->applied_at = col_text(res, i, 11, a);
        x->replayed_at = col_text(res, i, 12, a);
        x->resolved_at = col_text(res, i, 13, a);
        x->decided_by = col_text(res, i, 14, a);
        x->note = col_text(res, i, 15, a);
    }
    PQclear(res);
    return PM_OK;
}

static pm_code pg_incident_stats(pm_store *s, const char *table, pm_incident_stats *out,
                                 pm_err *err)
{
    par a = {0};
    PGresult *res;
    memset(out, 0, sizeof *out);
    par_text(&a, table);
#define SECS(x, y) "EXTRACT(EPOCH FROM " x "::timestamptz - " y "::timestamptz)"
    pm_code rc = run(
        pg_of(s),
        "SELECT count(*) FILTER (WHERE state NOT IN ('resolved', 'dismissed')), "
        "count(*) FILTER (WHERE state = 'resolved'), count(*) FILTER (WHERE state = "
        "'dismissed'), avg(" SECS(
            "resolved_at",
            "detected_at") ") FILTER (WHERE "
                           "state = 'resolved'), avg(" SECS(
                               "planned_at",
                               "detected_at") "), avg(" SECS("applied_at",
                                                             "detected_at") ") FROM " CAT
                                                                            "_pipemend_incidents "
                                                                            "WHERE "
                                                                            "$1::text IS NULL OR "
                                                                            "table_name = $1::text",
        &a, &res, "cannot read incidents", err);
#undef SECS
    if (rc)
        return rc;
    out->active = col_int(res, 0, 0);
    out->resolved = col_int(res, 0, 1);
    out->dismissed = col_int(res, 0, 2);
    out->mttr_seconds = PQgetisnull(res, 0, 3) ? 0 : strtod(PQgetvalue(res, 0, 3), NULL);
    out->mean_to_plan_seconds = PQgetisnull(res, 0, 4) ? 0 : strtod(PQgetvalue(res, 0, 4), NULL);
    out->mean_to_apply_seconds = PQgetisnull(res, 0, 5) ? 0 : strtod(PQgetvalue(res, 0, 5), NULL);
    PQclear(res);
    return PM_OK;
}

static pm_code pg_incident_rows(pm_store *s, int64_t incident, bool newest, int limit, pm_arena *a,
                                pm_qrow **out, size_t *n, pm_err *err)
{
    par q = {0};
    PGresult *res;
    *n = 0;
    *out = NULL;
    par_int(&q, incident);
    if (limit > 0)
        par_int(&q, limit);
    else
        par_text(&q, NULL);
    /* Two texts rather than ORDER BY CASE: each follows the primary key
     * (incident, qrow) instead of sorting every row of the incident. */
    pm_code rc =
        run(pg_of(s),
            newest ? "SELECT " QROW_COLUMNS " FROM " CAT "_pipemend_incident_rows r JOIN " CAT
                     "_pipemend_quarantine q ON q.id = r.qrow WHERE r.incident = "
                     "$1::bigint ORDER BY r.qrow DESC LIMIT $2::bigint"
                   : "SELECT " QROW_COLUMNS " FROM " CAT "_pipemend_incident_rows r JOIN " CAT
                     "_pipemend_quarantine q ON q.id = r.qrow WHERE r.incident = "
                     "$1::bigint ORDER BY r.qrow LIMIT $2::bigint",
            &q, &res, "cannot list the incident's rows", err);
    if (!rc)
        read_qrows(res, a, out, n);
    return rc;
}

/* ---- audit ---------------------------------------------------------------- */

static pm_code pg_audit_append(pm_store *s, pm_audit_event *e,
                               void (*hash)(const pm_audit_event *e, char out[65]), pm_err *err)
{
    pg *p = pg_of(s);
    char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    char hex[65];
    bool own;
    pm_code rc = tx_own(p, &own, err);
    if (rc)
        return rc;
    /* Reading the last event and appending after it happen under one lock,
     * held to the end of the transaction, or two workers could chain onto
     * the same event. */
    rc = writer_lock(p, err);
    PGresult *res = NULL;
    if (!rc)
        rc = run(p, "SELECT seq, hash FROM " CAT "_pipemend_audit ORDER BY seq DESC LIMIT 1", NULL,
                 &res, "cannot read the audit log", err);
    if (!rc) {
        e->seq = 1;
        if (PQntuples(res) == 1) {
            e->seq = col_int(res, 0, 0) + 1;
            snprintf(prev, sizeof prev, "%s", PQgetvalue(res, 0, 1));
        }
        PQclear(res);
        e->prev_hash = prev;
        hash(e, hex);
        e->hash = hex;
        par a = {0};
        par_int(&a, e->seq);
        par_text(&a, e->at);
        par_text(&a, e->actor);
        par_text(&a, e->action);
        par_text(&a, e->subject);
        par_text(&a, e->payload);
        par_text(&a, e->prev_hash);
        par_text(&a, e->hash);
        rc = run(p,
                 "INSERT INTO " CAT "_pipemend_audit (seq, at, actor, action, subject, payload, "
                 "prev_hash, hash) VALUES ($1::bigint, $2::text, $3::text, $4::text, $5::text, "
                 "$6::text, $7::text, $8::text)",
                 &a, NULL, "cannot write the audit log", err);
    }
    e->prev_hash = e->hash = NULL; /* they pointed at this frame */
    return tx_end(p, own, rc, err);
}

static pm_code pg_audit_list(pm_store *s, int64_t after, int limit, pm_arena *a,
                             pm_audit_event **out, size_t *n, pm_err *err)
{
    par q = {0};
    PGresult *res;
    *n = 0;
    *out = NULL;
    par_int(&q, after);
    if (limit > 0)
        par_int(&q, limit);
    else
        par_text(&q, NULL);
    pm_code rc = run(pg_of(s),
                     "SELECT seq, at, actor, action, subject, payload, prev_hash, hash FROM " CAT
                     "_pipemend_audit WHERE seq > $1::bigint ORDER BY seq LIMIT $2::bigint",
                     &q, &res, "cannot read the audit log", err);
    if (rc)
        return rc;
    int rows = PQntuples(res);
    *out = rows ? pm_arena_calloc(a, (size_t)rows * sizeof **out) : NULL;
    for (int i = 0; i < rows; i++) {
        pm_audit_event *e = &(*out)[(*n)++];
        e->seq = col_int(res, i, 0);
        e->at = col_text(res, i, 1, a);
        e->actor = col_text(res, i, 2, a);
        e->action = col_text(res, i, 3, a);
        e->subject = col_text(res, i, 4, a);
        e->payload = col_text(res, i, 5, a);
        e->prev_hash = col_text(res, i, 6, a);
        e->hash = col_text(res, i, 7, a);
    }
    PQclear(res);
    return PM_OK;
}

/* ---- open ----------------------------------------------------------------- */

static const store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .exec_tx = pg_exec_tx,
    .table_load = pg_table_load_op,
    .table_create = pg_table_create,
    .table_live = pg_table_live,
    .table_adopt = pg_table_adopt,
    .apply_ops = pg_apply_ops,
    .unique_ensure = pg_unique_ensure,
    .tables_list = pg_tables_list,
    .tables_brief = pg_tables_brief,
    .table_count = pg_table_count,
    .insert_prepare = pg_insert_prepare,
    .insert = pg_insert,
    .load = pg_load,
    .quarantine_add = pg_quarantine_add,
    .quarantine_list = pg_quarantine_list,
    .quarantine_count = pg_quarantine_count,
    .quarantine_remove = pg_quarantine_remove,
    .quarantine_remove_many = pg_quarantine_remove_many,
    .quarantine_page = pg_quarantine_page,
    .checkpoint_get = pg_checkpoint_get,
    .checkpoint_set = pg_checkpoint_set,
    .run_start = pg_run_start,
    .run_add = pg_run_add,
    .run_finish = pg_run_finish,
    .runs_list = pg_runs_list,
    .runs_reap = pg_runs_reap,
    .proposal_add = pg_proposal_add,
    .proposals_list = pg_proposals_list,
    .proposal_decide = pg_proposal_decide,
    .proposal_set_dry_run = pg_proposal_set_dry_run,
    .quarantine_update = pg_quarantine_update,
    .incident_open = pg_incident_open,
    .incident_link = pg_incident_link,
    .incident_unlink_row = pg_incident_unlink_row,
    .incident_set = pg_incident_set,
    .incidents_list = pg_incidents_list,
    .incident_rows = pg_incident_rows,
    .incident_stats = pg_incident_stats,
    .halt_set = pg_halt_set,
    .halt_get = pg_halt_get,
    .halt_clear = pg_halt_clear,
    .sandbox_begin = pg_sandbox_begin,
    .sandbox_insert = pg_sandbox_insert,
    .sandbox_end = pg_sandbox_end,
    .audit_append = pg_audit_append,
    .audit_list = pg_audit_list,
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

pm_code pg_store_open(const char *url, pm_store *s, pm_err *err)
{
    pg *p = pm_xcalloc(1, sizeof *p);
    p->url = pm_xstrdup(url);
    s->impl = p;
    s->ops = &pg_ops;
    /* The URL is a libpq connection URI: what it leaves out comes from
     * PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD (and ~/.pgpass), so
     * postgresql:/// alone uses the environment. */
    static const char *const keys[] = {"dbname", "fallback_application_name", "client_encoding",
                                       NULL};
    const char *const vals[] = {url, "pipemend", "UTF8", NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn)
        pm_oom(sizeof(PGconn *));
    /* host:port/dbname, never the URL: it may hold a password */
    const char *host = PQhost(p->conn), *port = PQport(p->conn), *db = PQdb(p->conn);
    host = host && *host ? host : "localhost";
    port = port && *port ? port : "5432";
    db = db ? db : "";
    size_t n = strlen(host) + strlen(port) + strlen(db) + 3;
    p->where = pm_xmalloc(n);
    snprintf(p->where, n, "%s:%s/%s", host, port, db);
    pm_code rc = PM_OK;
    if (PQstatus(p->conn) != CONNECTION_OK) {
        /* libpq's 'connection to server at "h", port 5 failed: why': the
         * why, since the message names the place already */
        const char *msg = PQerrorMessage(p->conn), *why = strstr(msg, " failed: ");
        if (why && why < msg + strcspn(msg, "\n"))
            msg = why + 9;
        /* The server answered and said no (no such database or role, not
         * allowed in pg_hba.conf): trying again will not help, unless it is
         * only starting, stopping or full. libpq gives no SQLSTATE here. */
        bool refused = strncmp(msg, "FATAL:", 6) == 0 && !strstr(msg, "starting up") &&
                       !strstr(msg, "shutting down") && !strstr(msg, "recovery") &&
                       !strstr(msg, "too many");
        bool password = PQconnectionNeedsPassword(p->conn);
        char line[400];
        first_line(msg, line, sizeof line);
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
    if (rc) {
        pg_close(s);
        s->impl = NULL;
        return rc;
    }
    return PM_OK;
}
