/* driver.h - private to src/store: the narrow interface a database backend
 * implements, in the spirit of SQLite's VFS. Everything pipemend keeps in
 * its own `_pipemend_*` tables (runs, checkpoints, quarantine, incidents,
 * halts, proposals, schema versions, audit) is written once above it, in
 * catalog.c; a backend supplies only what differs between databases:
 *
 *   - the connection, transactions (drv_tx) and the writer lock of a key;
 *   - statements: prepare once and keep, bind, step, read columns;
 *   - the few SQL fragments that differ (drv_dialect);
 *   - data tables: DDL rendered from typed ops, live introspection, unique
 *     keys, the bulk load, the sandbox (dry-run clone);
 *   - the catalog's DDL (created at open) and the default batch size.
 *
 * Statements: catalog SQL numbers its parameters $1, $2, ... (PostgreSQL's
 * spelling, which SQLite takes as named parameters) and casts where a type
 * must be said (CAST($1 AS bigint) reads the same on both). A statement is
 * prepared into a slot the caller keeps (store_int.h: one per catalog
 * statement) and reused: SQLite keeps it compiled; PostgreSQL sends it
 * with its parameters each time (an unnamed statement, as before).
 *
 * Values bound are borrowed: they must stay put until drv_done. */
#ifndef PM_STORE_DRIVER_H
#define PM_STORE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* The kinds of transaction verbs (store_begin, store_begin_batch, ...). */
typedef enum drv_tx {
    DRV_BEGIN,       /* a write transaction (SQLite: BEGIN IMMEDIATE) */
    DRV_BEGIN_BATCH, /* the same, whose commit need not wait to be durable */
    DRV_COMMIT,
    DRV_ROLLBACK,
} drv_tx;

/* A catalog statement whose text starts with this comment gets its
 * results from PostgreSQL in binary format (bytea as its bytes, not hex
 * text of twice the size: a replay page's raw rows); SQLite reads it as
 * the comment it is. Only for columns of bigint, boolean, text and bytea. */
#define PG_BINARY_RESULTS "/* binary results */ "

/* SQL that differs between databases, spliced into catalog statements by
 * catalog.c. Every `_pipemend_` name in a catalog statement is prefixed with
 * catalog; {now}, {for_update}, {epoch:X}, {in_ids:X}, {quads:X},
 * {gone_open} and {gone_close} are replaced. */
typedef struct drv_dialect {
    const char *catalog;     /* where the catalog tables live: "" or "pipemend." */
    const char *now;         /* the current time as ISO 8601 UTC text (..:05.678Z) */
    const char *for_update;  /* locks the rows a write transaction read, or "" */
    const char *epoch;       /* printf format: seconds since 1970 of ISO text %s */
    const char *in_ids;      /* printf format: after a column, whether it is one of
                              * the ids of JSON array text %s (IN (...), = ANY) */
    const char *quads;       /* printf format: the rows (a, b, c, d) of JSON array
                              * text %s of arrays [a, b, c, d] of integers, as a
                              * SELECT */
    const char *created;     /* the reason recorded with a table's first version */
    const char *data_schema; /* the schema of data tables, or NULL (SQLite) */
    /* printf format: the timestamp column %s read as a timestamptz the way
     * widening it would read it, as text */
    const char *as_timestamptz;
    /* Around a DELETE from the quarantine ({gone_open} DELETE ...
     * {gone_close}): the rows it took, grouped as (table_name, run_id,
     * count, min id, max id), so that a discard of millions of rows sends
     * back a row per run rather than per row. "" and "" where DML cannot
     * be a CTE (SQLite): the DELETE returns nothing, and its rows are
     * grouped by a SELECT before it, under the writer's lock. */
    const char *gone_open, *gone_close;
} drv_dialect;

typedef struct drv_stmt drv_stmt;

/* A statement's methods; a backend's statement struct starts with a
 * pointer to them. Column numbers start at 0, parameters at 1. */
typedef struct drv_stmt_ops {
    void (*bind_null)(drv_stmt *st, int i);
    void (*bind_int)(drv_stmt *st, int i, int64_t v);
    void (*bind_double)(drv_stmt *st, int i, double v);
    void (*bind_bool)(drv_stmt *st, int i, bool v);
    void (*bind_text)(drv_stmt *st, int i, const char *v);           /* NULL: SQL NULL */
    void (*bind_blob)(drv_stmt *st, int i, const void *v, size_t n); /* NULL: SQL NULL */
    /* Runs the statement (the first call) and moves to the next row: *row
     * is false past the last one. */
    pm_code (*step)(drv_stmt *st, bool *row, pm_err *err);
    /* Optional: runs a statement whose rows nobody reads, possibly later:
     * inside a transaction a driver may send it with the next statement
     * that needs an answer (one round trip for both); its failure is
     * reported there and fails the transaction, as it would have here.
     * NULL: step runs it now. */
    pm_code (*defer)(drv_stmt *st, pm_err *err);
    bool (*col_null)(drv_stmt *st, int c);
    int64_t (*col_int)(drv_stmt *st, int c);   /* 0 for NULL */
    double (*col_double)(drv_stmt *st, int c); /* 0 for NULL */
    bool (*col_bool)(drv_stmt *st, int c);
    /* Copies into a (NUL-terminated); NULL for SQL NULL. */
    const char *(*col_text)(drv_stmt *st, int c, pm_arena *a);
    const char *(*col_blob)(drv_stmt *st, int c, pm_arena *a, size_t *len);
    int64_t (*changes)(drv_stmt *st); /* rows the statement changed */
    /* Lets go of the results and the bindings; the statement stays
     * prepared for the next use. */
    void (*done)(drv_stmt *st);
} drv_stmt_ops;

struct drv_stmt {
    const drv_stmt_ops *ops;
};

typedef struct drv_ops {
    const char *name;
    size_t default_batch; /* rows per batch when the configuration sets none */
    size_t stream_rows;   /* rows per store_load_stream transaction, likewise */
    drv_dialect dialect;
    void (*close)(pm_store *s);

    /* transactions and locks */
    pm_code (*tx)(pm_store *s, drv_tx kind, pm_err *err);
    bool (*in_tx)(pm_store *s);
    /* Serialises writers on key until the open transaction ends (PostgreSQL:
     * a transaction-level advisory lock; SQLite: nothing, its write
     * transaction holds the database's one writer lock already). */
    pm_code (*lock)(pm_store *s, const char *key, pm_err *err);
    /* A short text that changes whenever what this connection reads may
     * have changed since it was last asked (store_data_token). */
    pm_code (*data_token)(pm_store *s, char *out, size_t cap, pm_err *err);

    /* statements: *slot NULL prepares sql (what: for error messages) into
     * it; else the statement there is made ready for another use.
     * drop frees one (at close). */
    pm_code (*prepare)(pm_store *s, const char *sql, const char *what, drv_stmt **slot,
                       pm_err *err);
    void (*drop)(drv_stmt *st);

    /* data tables */
    pm_code (*table_create)(pm_store *s, const pm_table *t, pm_err *err); /* DDL only */
    /* The DDL of ops on from (already checked against the catalog's
     * version, in the caller's transaction). */
    pm_code (*apply_ddl)(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                         const pm_table *to, pm_err *err);
    /* The statements apply_ddl would run, each ending ";\n", into out;
     * nothing is run. */
    pm_code (*render_ddl)(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                          const pm_table *to, pm_buf *out, pm_err *err);
    /* The data table's columns changed: a prepared load no longer fits. */
    void (*table_changed)(pm_store *s);
    pm_code (*table_live)(pm_store *s, const pm_table *t, pm_arena *a, pm_table **live,
                          bool *exists, pm_err *err);
    pm_code (*unique_ensure)(pm_store *s, const pm_table *t, const contract_rule *u, int *changed,
                             pm_err *err);
    pm_code (*table_count)(pm_store *s, const char *name, int64_t *rows, pm_err *err);
    pm_code (*table_exists)(pm_store *s, const char *name, bool *exists, pm_err *err);
    /* Deletes every row of the data table (drop false; *rows: how many) or
     * drops it (drop true; no error when it is gone already). */
    pm_code (*table_remove)(pm_store *s, const char *name, bool drop, int64_t *rows, pm_err *err);
    pm_code (*insert_prepare)(pm_store *s, const pm_table *t, pm_err *err);
    pm_code (*insert)(pm_store *s, const pm_cell *cells, pm_err *err);
    pm_code (*load)(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err);
    /* store_load_stream; optional (NULL: the backend has no such load) */
    bool (*load_streams)(pm_store *s);
    pm_code (*load_stream)(pm_store *s, const pm_load_row *rows, size_t n, pm_err *err);
    pm_code (*load_stream_end)(pm_store *s, pm_err *err);
    pm_code (*sandbox_begin)(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                             const pm_table *to, int sample, int64_t *copied, pm_err *err);
    pm_code (*sandbox_load)(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err);
    /* store_table_dependents; NULL: the backend has none to report */
    pm_code (*dependents)(pm_store *s, const pm_table *t, const pm_op *ops, size_t n, pm_arena *a,
                          pm_dependent **out, size_t *nout, pm_err *err);
    void (*sandbox_end)(pm_store *s);

    /* bulk catalog writes, optional (NULL: catalog.c runs its one-row
     * statement n times, which costs a backend in-process nothing) */
    pm_code (*quarantine_add_many)(pm_store *s, const pm_qrow *q, size_t n, int64_t *ids,
                                   pm_err *err);
    /* the planner's statistics of the quarantine brought up to date when
     * they are stale, optional (NULL: nothing to do) */
    pm_code (*quarantine_stats)(pm_store *s, pm_err *err);
} drv_ops;

/* Each backend registers by one open function: it connects, creates its
 * catalog if missing, and fills s->drv and s->impl. */
pm_code sqlite_store_open(const char *path, pm_store *s, pm_err *err);
pm_code pg_store_open(const char *url, pm_store *s, pm_err *err);

#endif
