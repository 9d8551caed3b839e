/* pg_int.h - private to the PostgreSQL backend (pg.c, pg_table.c,
 * pg_copy.c): the connection state and the helpers the files share.
 *
 * Layout in the database:
 *   - pipemend's catalog lives in the schema `pipemend` (tables named as in
 *     SQLite: pipemend._pipemend_runs, ...), created at open if missing;
 *   - data tables live in the schema `public` (PG_DATA_SCHEMA), quoted;
 *   - migrations of a table are serialised by a transaction-level advisory
 *     lock on pg_lock_key("table:" + name); appends to the audit chain by
 *     one on pg_lock_key("audit").
 * Errors carry the server's SQLSTATE in pm_err.sqlstate. */
#ifndef PM_STORE_PG_INT_H
#define PM_STORE_PG_INT_H

#include <libpq-fe.h>

#include "core/buf.h"
#include "store/store_int.h"

#define PG_CATALOG_SCHEMA STORE_PG_CATALOG_SCHEMA
#define PG_DATA_SCHEMA "public"

typedef struct pg {
    PGconn *conn;
    char *url;   /* as given (for reconnecting and messages; may hold a password) */
    char *where; /* host:port/dbname, for messages */
    bool in_tx;  /* a transaction is open (store_begin .. commit/rollback) */
    /* the prepared data-table load (pg_table.c) */
    pm_table *load_table; /* a copy of the table insert_prepare was given */
    bool load_text;       /* COPY in text format: a hand-made column's type is not
                           * the one binary COPY would encode for (real, json, uuid...) */
    pm_arena *load_arena; /* owns load_table */
    pm_buf copy;          /* COPY BINARY buffer, reused */
    int savepoints;       /* nesting counter for load's savepoint names */
    bool streaming;       /* a COPY of pg_load_stream is open */
    /* the sandbox (pg_table.c) */
    bool sandbox_open;
    pm_table *sandbox_table; /* the clone's logical table (to), in load_arena */
    /* statements deferred inside a transaction (pg_defer): sent before the
     * next statement that needs an answer, with it */
    struct pg_later *later;
    size_t nlater, later_cap;
} pg;

static inline pg *pg_of(pm_store *s)
{
    return s->impl;
}

/* Sets err from a failed result or connection: the server's message, its
 * SQLSTATE, and the code that fits the class: 08 (connection) -> PM_ERR_IO,
 * 40001/40P01 (serialization, deadlock) -> PM_ERR_BUSY, 23 (integrity) ->
 * PM_ERR_CONSTRAINT, 22 (data) -> PM_ERR_PARSE, else PM_ERR_DB. what says
 * what pipemend was doing. res may be NULL. Returns the code. */
pm_code pg_error(pg *p, const PGresult *res, const char *what, pm_err *err);

/* Runs sql (no parameters, no rows expected). */
pm_code pg_exec(pg *p, const char *sql, const char *what, pm_err *err);

/* Inside a transaction, sql (no parameters, no rows expected) is sent with
 * the next statement that needs an answer instead of on its own: a
 * batch's BEGIN, savepoints and bookkeeping cost one round trip together
 * instead of one each. Its failure is reported by that statement (what
 * names it) and fails the transaction, as it would have. Outside a
 * transaction it runs now (pg_exec). */
pm_code pg_defer(pg *p, const char *sql, const char *what, pm_err *err);

/* PQexec(sql) after what is deferred: parameterless deferred statements
 * go in the same simple query ("BEGIN; SAVEPOINT ..; COPY .."), others in
 * a pipeline first. *res is the result of sql (the caller checks and
 * clears it); on a failure of a deferred statement *res is NULL and err
 * says why. */
pm_code pg_exec_start(pg *p, const char *sql, PGresult **res, const char *what, pm_err *err);

/* Runs sql with text parameters (NULL entries are SQL NULL); *out gets the
 * result on success (caller PQclear()s it), PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK. */
pm_code pg_query(pg *p, const char *sql, int nparams, const char *const *params, PGresult **out,
                 const char *what, pm_err *err);

/* "name" quoted as PostgreSQL identifiers are, into b. */
static inline pm_code pg_quote_ident(pm_buf *b, const char *name, pm_err *err)
{
    return store_quote_ident(b, name, err);
}

/* A stable 64-bit key for pg_advisory_xact_lock. */
int64_t pg_lock_key(const char *what);

/* The PostgreSQL type for a logical type: smallint, integer, bigint,
 * numeric, double precision, varchar(n), text, boolean, date, timestamp,
 * timestamptz, jsonb (text for unknown). */
const char *pg_type_decl(pm_type t, char buf[32]);
/* The logical type a declaration as format_type() prints it stands for
 * (character varying(32) -> varchar(32), ...); the catalog's type when it
 * renders to the same declaration; json for arrays, text for other scalar
 * types (uuid, inet, ...: the server checks them when they load). */
pm_type pg_type_from_decl(const char *decl, pm_type catalog);

/* Data-table operations (pg_table.c). */
pm_code pg_table_create(pm_store *s, const pm_table *t, pm_err *err);
pm_code pg_table_live(pm_store *s, const pm_table *t, pm_arena *a, pm_table **live, bool *exists,
                      pm_err *err);
pm_code pg_render_ddl(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                      const pm_table *to, pm_buf *out, pm_err *err);
pm_code pg_apply_ddl(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                     const pm_table *to, pm_err *err);
void pg_table_changed(pm_store *s);
pm_code pg_unique_ensure(pm_store *s, const pm_table *t, const contract_rule *u, int *changed,
                         pm_err *err);
pm_code pg_table_count(pm_store *s, const char *name, int64_t *rows, pm_err *err);
pm_code pg_table_exists(pm_store *s, const char *name, bool *exists, pm_err *err);
pm_code pg_table_remove(pm_store *s, const char *name, bool drop, int64_t *rows, pm_err *err);
pm_code pg_insert_prepare(pm_store *s, const pm_table *t, pm_err *err);
pm_code pg_insert(pm_store *s, const pm_cell *cells, pm_err *err);
pm_code pg_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err);
bool pg_load_streams(pm_store *s);
pm_code pg_load_stream(pm_store *s, const pm_load_row *rows, size_t n, pm_err *err);
pm_code pg_load_stream_end(pm_store *s, pm_err *err);
/* Abandons an open stream (a rollback): nothing of it is kept. */
void pg_load_stream_abort(pg *p);
pm_code pg_sandbox_begin(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                         const pm_table *to, int sample, int64_t *copied, pm_err *err);
pm_code pg_sandbox_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err);
void pg_sandbox_end(pm_store *s);
void pg_table_close(pg *p); /* frees what pg_table.c keeps in p */

/* Dependents of the columns ops change (pg_deps.c). */
pm_code pg_dependents(pm_store *s, const pm_table *t, const pm_op *ops, size_t n, pm_arena *a,
                      pm_dependent **out, size_t *nout, pm_err *err);
/* Runs alter (the ALTER TABLE of ops on the data table t) in the caller's
 * transaction, carrying the views and materialized views that depend on
 * the columns ops change through it: saved, dropped, altered, re-created
 * exactly. Refuses (PM_ERR_SCHEMA, naming them) when a dependent cannot
 * be carried. */
pm_code pg_alter_carrying(pm_store *s, const pm_table *t, const pm_op *ops, size_t n,
                          const char *alter, pm_err *err);

/* Bulk catalog writes (pg_quarantine.c; driver.h). */
pm_code pg_quarantine_add_many(pm_store *s, const pm_qrow *q, size_t n, int64_t *ids, pm_err *err);

/* COPY ... FROM STDIN (FORMAT binary) encoding (pg_copy.c). */
/* Starts a COPY stream in b (the 19-byte header). */
void pg_copy_begin(pm_buf *b);
/* Appends one tuple of t->ncols cells, each encoded in the binary format
 * of its column's PostgreSQL type (pg_type_decl). Text cells of date,
 * timestamp, timestamptz and numeric columns hold the canonical text
 * type_fits produced and are converted here. PM_ERR_PARSE if a cell cannot
 * be (a bug upstream: type_fits accepted it). */
pm_code pg_copy_row(pm_buf *b, const pm_table *t, const pm_cell *cells, pm_err *err);
/* Asks the cache for the text of a row's cells (the first 256 bytes of
 * each): the reader thread wrote it on the other core, and reading it was
 * a cache miss per text field. Called for the row after the one encoded. */
void pg_copy_prefetch(const pm_table *t, const pm_cell *cells);
/* Ends the stream (the -1 trailer). */
void pg_copy_end(pm_buf *b);

#endif
