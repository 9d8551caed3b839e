/* store_int.h - private to src/store: the store object, shared by the
 * dispatcher (store.c), the catalog (catalog.c) and the backends under the
 * driver interface (driver.h). Nothing outside src/store sees it. */
#ifndef PM_STORE_STORE_INT_H
#define PM_STORE_STORE_INT_H

#include "core/buf.h"
#include "store/driver.h"
#include "store/store.h"

/* Room for the catalog's kept statements (catalog.c numbers them). */
#define STORE_STMT_SLOTS 112

/* What the open transaction changed in the kept counts (counts.c) of one
 * table (run 0) or of one run of it: written at its commit. */
typedef struct counts_delta {
    char *table; /* owned */
    int64_t run;
    int64_t loaded, quarantined, replayed, discarded;
    int64_t first, last; /* a run's: ids of the rows it quarantined (0: none) */
} counts_delta;

/* Room for counts.c's kept statements. */
#define COUNTS_STMT_SLOTS 12

struct pm_store {
    const drv_ops *drv;
    void *impl;                       /* the backend's connection state */
    drv_stmt *stmt[STORE_STMT_SLOTS]; /* catalog statements, prepared on first use */
    bool must_exist;                  /* store_open_existing: create no database */
    /* counts.c: whether the warehouse keeps its counts (false: readers
     * count rows in full), the open transaction's changes to them, the
     * table the prepared load writes to (owned), its statements */
    bool counts_kept;
    counts_delta *delta;
    size_t ndelta, capdelta, lastdelta;
    char *load_table;
    drv_stmt *counts_stmt[COUNTS_STMT_SLOTS];
    int64_t stream_rows; /* rows sent into the open store_load_stream */
};

/* store_set_reconnect_seconds's value (store.c). */
extern int store_reconnect_seconds;

/* Frees the catalog's kept statements (before the backend closes). */
void catalog_close(pm_store *s);

/* A catalog statement's SQL with the backend's dialect spliced in,
 * prepared into *slot (or made ready again when it is prepared). */
pm_code catalog_prepare(pm_store *s, const char *sql, const char *what, drv_stmt **slot,
                        pm_err *err);

/* ---- counts.c: the counts kept with the writes that change them ----------
 *
 * counts_note records what a write of the open transaction did to a table
 * (and, for quarantine, to one of its runs: run > 0); counts_flush writes
 * it before the transaction commits, so the counts commit with the rows or
 * not at all; counts_forget drops it (begin, rollback). A write outside a
 * transaction is written at once. */
pm_code counts_note(pm_store *s, const char *table, int64_t run, int64_t loaded,
                    int64_t quarantined, int64_t replayed, int64_t discarded, pm_err *err);
/* A row of table's run went into quarantine with id: counted, and the
 * run's span of ids widened to hold it. */
pm_code counts_note_quarantined(pm_store *s, const char *table, int64_t run, int64_t id,
                                pm_err *err);
pm_code counts_flush(pm_store *s, pm_err *err);
void counts_forget(pm_store *s);
/* A table's rows all went (reset, drop): its loaded count is 0, in the
 * caller's transaction. */
pm_code counts_table_emptied(pm_store *s, const char *table, pm_err *err);
/* At open: a warehouse whose counts were never computed (made by an
 * earlier pipemend) gets them, once, counted in full. A warehouse that
 * cannot be written (read-only) keeps counting at each read. */
void counts_open(pm_store *s);
void counts_close(pm_store *s);
/* Bounds on the ids of run's quarantined rows (table: the run's, NULL to
 * look it up): every one of them lies in *first..*last. 0..INT64_MAX when
 * they are not known (a run counted before the spans were kept, a
 * warehouse that keeps no counts). */
pm_code counts_run_span(pm_store *s, const char *table, int64_t run, int64_t *first, int64_t *last,
                        pm_err *err);

/* Records t as its next schema version with reason, in the caller's
 * transaction (PM_ERR_BUSY when another writer recorded that version
 * first). */
pm_code catalog_record_version(pm_store *s, const pm_table *t, const char *reason, pm_err *err);

/* "name" with embedded quotes doubled, into b: how SQLite and PostgreSQL
 * both quote an identifier, and the only way one reaches SQL. */
pm_code store_quote_ident(pm_buf *b, const char *name, pm_err *err);
/* schema.name, both quoted. */
pm_code store_quote_qualified(pm_buf *b, const char *schema, const char *name, pm_err *err);

/* The name of the index that enforces key u on t: a hash of the table and
 * the key, so that no two keys or tables share one (names with "__" in
 * them could otherwise collide) and a changed key gets a new index. Every
 * backend names them so: "_pipemend_unique_" + 16 hex digits. */
void store_unique_index_name(const pm_table *t, const contract_rule *u, char out[64]);

/* The refusal of a merge whose dropped column n objects use (names: a
 * list for people), the same on every backend: PM_ERR_SCHEMA. */
pm_code store_merge_refused(pm_err *err, const char *table, const char *column, const char *names,
                            size_t n);

#endif
