/* store_int.h - private to src/store: the store object, shared by the
 * dispatcher (store.c), the catalog (catalog.c) and the backends under the
 * driver interface (driver.h). Nothing outside src/store sees it. */
#ifndef PM_STORE_STORE_INT_H
#define PM_STORE_STORE_INT_H

#include "core/buf.h"
#include "store/driver.h"
#include "store/store.h"

/* Room for the catalog's kept statements (catalog.c numbers them). */
#define STORE_STMT_SLOTS 96

struct pm_store {
    const drv_ops *drv;
    void *impl;                       /* the backend's connection state */
    drv_stmt *stmt[STORE_STMT_SLOTS]; /* catalog statements, prepared on first use */
    bool must_exist;                  /* store_open_existing: create no database */
};

/* store_set_reconnect_seconds's value (store.c). */
extern int store_reconnect_seconds;

/* Frees the catalog's kept statements (before the backend closes). */
void catalog_close(pm_store *s);

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

#endif
