/* store.c - opens the backend a warehouse URL names, and dispatches what
 * is a backend's own (data tables, the load, the sandbox, transactions) to
 * its driver (driver.h). The catalog is catalog.c's, the same for all. No
 * backend header reaches this file: each backend registers by its open
 * function alone. */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/hash.h"
#include "schema/colname.h"

/* The backends, by the prefix of their URLs. */
static const struct {
    const char *prefix;
    bool strip; /* the backend gets the URL without its prefix */
    pm_code (*open)(const char *url, pm_store *s, pm_err *err);
} backends[] = {
    {"sqlite:", true, sqlite_store_open},
    {"postgres://", false, pg_store_open},
    {"postgresql://", false, pg_store_open},
};

static pm_code open_url(const char *url, bool must_exist, pm_store **out, pm_err *err)
{
    *out = NULL;
    if (!url || !*url)
        return pm_err_set(err, PM_ERR_USAGE, "no warehouse given"),
               pm_err_hint(err, "pass --db sqlite:PATH, set PIPEMEND_DB, or put db: in "
                                "pipemend.yaml"),
               PM_ERR_USAGE;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        size_t n = strlen(backends[i].prefix);
        if (strncmp(url, backends[i].prefix, n) != 0)
            continue;
        pm_store *s = pm_xcalloc(1, sizeof *s);
        s->must_exist = must_exist;
        pm_code rc = backends[i].open(backends[i].strip ? url + n : url, s, err);
        if (rc) {
            free(s);
            return rc;
        }
        counts_open(s);
        *out = s;
        return PM_OK;
    }
    pm_err_set(err, PM_ERR_USAGE, "unrecognised warehouse URL \"%s\"", url);
    pm_err_hint(err, "use sqlite:PATH (e.g. --db sqlite:warehouse.db) or a PostgreSQL URL, "
                     "postgresql://user@host:port/dbname or postgres://... (postgresql:/// "
                     "takes everything from PGHOST, PGPORT, PGUSER, PGDATABASE)");
    return PM_ERR_USAGE;
}

int store_reconnect_seconds = STORE_RECONNECT_SECONDS;

void store_set_reconnect_seconds(int seconds)
{
    store_reconnect_seconds = seconds > 0 ? seconds : 0;
}

pm_code store_open(const char *url, pm_store **out, pm_err *err)
{
    return open_url(url, false, out, err);
}

pm_code store_open_existing(const char *url, pm_store **out, pm_err *err)
{
    return open_url(url, true, out, err);
}

void store_close(pm_store *s)
{
    if (!s)
        return;
    counts_close(s);
    catalog_close(s);
    s->drv->close(s);
    free(s);
}

size_t store_default_batch(const pm_store *s)
{
    return s->drv->default_batch;
}

/* The kept counts' notes (counts.c) live as long as the transaction:
 * written just before it commits, dropped when it begins or rolls back. */
pm_code store_begin(pm_store *s, pm_err *err)
{
    counts_forget(s);
    return s->drv->tx(s, DRV_BEGIN, err);
}

pm_code store_begin_batch(pm_store *s, pm_err *err)
{
    counts_forget(s);
    return s->drv->tx(s, DRV_BEGIN_BATCH, err);
}

pm_code store_commit(pm_store *s, pm_err *err)
{
    pm_code rc = s->drv->in_tx(s) ? counts_flush(s, err) : PM_OK;
    return rc ? rc : s->drv->tx(s, DRV_COMMIT, err);
}

pm_code store_rollback(pm_store *s, pm_err *err)
{
    counts_forget(s);
    return s->drv->tx(s, DRV_ROLLBACK, err);
}

bool store_table_name_ok(const char *name, pm_err *err)
{
    char norm[COLNAME_MAX + 1];
    size_t n = strlen(name);
    size_t len = colname_normalise(name, n, norm);
    if (len != n || memcmp(norm, name, n) != 0) {
        pm_err_set(err, PM_ERR_USAGE, "table name \"%s\" is not a plain identifier", name);
        pm_err_hint(err, "use \"%s\" (lowercase letters, digits and _)", norm);
        return false;
    }
    if (strncmp(name, "pipemend_", 9) == 0 || strncmp(name, "_pipemend", 9) == 0) {
        pm_err_set(err, PM_ERR_USAGE, "table name \"%s\" is reserved for pipemend's catalog", name);
        return false;
    }
    return true;
}

pm_code store_render_ddl(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                         const pm_table *to, pm_buf *out, pm_err *err)
{
    return s->drv->render_ddl(s, from, ops, n, to, out, err);
}

bool store_in_tx(pm_store *s)
{
    return s->drv->in_tx(s);
}

const char *store_backend_name(const pm_store *s)
{
    return s->drv->name;
}

pm_code store_data_token(pm_store *s, char *out, size_t cap, pm_err *err)
{
    return s->drv->data_token(s, out, cap, err);
}

bool store_shared(const pm_store *s)
{
    return strcmp(s->drv->name, "sqlite") != 0;
}

pm_code store_table_live(pm_store *s, const pm_table *t, pm_arena *a, pm_table **live, bool *exists,
                         pm_err *err)
{
    return s->drv->table_live(s, t, a, live, exists, err);
}

pm_code store_unique_ensure(pm_store *s, const pm_table *t, const contract_rule *u, int *changed,
                            pm_err *err)
{
    return s->drv->unique_ensure(s, t, u, changed, err);
}

pm_code store_table_count(pm_store *s, const char *name, int64_t *rows, pm_err *err)
{
    pm_code rc = s->drv->table_count(s, name, rows, err);
    if (rc == PM_ERR_NOTFOUND) {
        pm_err_set(err, rc, "table %s is missing from the database", name);
        pm_err_detail(err, "pipemend's catalog knows it, the database has no such table: it was "
                           "dropped outside pipemend");
    }
    return rc;
}

pm_code store_insert_prepare(pm_store *s, const pm_table *t, pm_err *err)
{
    free(s->load_table);
    s->load_table = pm_xstrdup(t->name);
    return s->drv->insert_prepare(s, t, err);
}

pm_code store_insert(pm_store *s, const pm_cell *cells, pm_err *err)
{
    pm_code rc = s->drv->insert(s, cells, err);
    return rc ? rc : counts_note(s, s->load_table, 0, 1, 0, 0, 0, err);
}

pm_code store_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *a, pm_err *err)
{
    pm_code rc = s->drv->load(s, rows, n, a, err);
    int64_t loaded = 0;
    for (size_t i = 0; !rc && i < n; i++)
        loaded += !rows[i].refused;
    return rc ? rc : counts_note(s, s->load_table, 0, loaded, 0, 0, 0, err);
}

pm_code store_sandbox_begin(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                            const pm_table *to, int sample, int64_t *copied, pm_err *err)
{
    return s->drv->sandbox_begin(s, from, ops, n, to, sample, copied, err);
}

pm_code store_sandbox_insert(pm_store *s, const pm_cell *cells, pm_err *err)
{
    return s->drv->sandbox_insert(s, cells, err);
}

void store_sandbox_end(pm_store *s)
{
    s->drv->sandbox_end(s);
}

/* ---- value changes of a widening ------------------------------------------ */

/* Runs sql (no parameters) and calls row(arg, st) for each row. */
static pm_code each_row(pm_store *s, const char *sql, const char *what,
                        bool (*row)(void *arg, drv_stmt *st), void *arg, pm_err *err)
{
    drv_stmt *st = NULL;
    pm_code rc = s->drv->prepare(s, sql, what, &st, err);
    bool more = true;
    while (!rc && more) {
        bool got;
        rc = st->ops->step(st, &got, err);
        more = !rc && got && row(arg, st);
    }
    if (st) {
        st->ops->done(st);
        s->drv->drop(st);
    }
    return rc;
}

typedef struct changes {
    pm_arena *a;
    pm_value_change *out;
    size_t n, max;
    int64_t rows;
    bool float_after; /* the after is computed here: int64 -> float64 */
} changes;

static bool count_row(void *arg, drv_stmt *st)
{
    ((changes *)arg)->rows = st->ops->col_int(st, 0);
    return false;
}

static bool change_row(void *arg, drv_stmt *st)
{
    changes *c = arg;
    const char *before = st->ops->col_text(st, 0, c->a);
    const char *after = NULL;
    if (!before)
        return true;
    if (c->float_after) {
        long long v = strtoll(before, NULL, 10);
        double d = (double)v;
        /* a double at or past 2^63 cannot go back to long long: changed */
        if (d < 9223372036854775807.0 && (long long)d == v)
            return true;
        after = pm_arena_sprintf(c->a, "%.0f", d);
    } else {
        after = st->ops->col_text(st, 1, c->a);
        if (!after)
            return true;
    }
    c->out[c->n++] = (pm_value_change){before, after};
    return c->n < c->max;
}

pm_code store_widen_changes(pm_store *s, const char *table, const char *column, pm_type from,
                            pm_type to, int max, pm_arena *a, pm_value_change **out, size_t *n,
                            int64_t *rows, pm_err *err)
{
    *out = NULL;
    *n = 0;
    *rows = 0;
    bool to_float = from.kind == PM_T_INT64 && to.kind == PM_T_FLOAT64;
    bool to_tz = from.kind == PM_T_TIMESTAMP && to.kind == PM_T_TIMESTAMPTZ;
    if ((!to_float && !to_tz) || max <= 0)
        return PM_OK;
    const drv_dialect *d = &s->drv->dialect;
    pm_buf col, tbl, sql;
    pm_buf_init(&col, 4096);
    pm_buf_init(&tbl, 4096);
    pm_buf_init(&sql, 1 << 16);
    pm_code rc = store_quote_ident(&col, column, err);
    if (!rc)
        rc = d->data_schema ? store_quote_qualified(&tbl, d->data_schema, table, err)
                            : store_quote_ident(&tbl, table, err);
    char cond[4200];
    if (!rc)
        snprintf(cond, sizeof cond,
                 to_float ? "%s > 9007199254740992 OR %s < -9007199254740992" : "%s IS NOT NULL%s",
                 col.data, to_float ? col.data : "");
    if (!rc)
        rc = pm_buf_printf(&sql, err, "SELECT count(*) FROM %s WHERE %s", tbl.data, cond);
    changes c = {.a = a, .max = (size_t)max, .float_after = to_float};
    if (!rc)
        rc =
            each_row(s, sql.data, "cannot count the values a widening changes", count_row, &c, err);
    if (!rc && c.rows) {
        c.out = pm_arena_alloc(a, (size_t)max * sizeof *c.out);
        pm_buf_reset(&sql);
        char after[4200];
        snprintf(after, sizeof after, to_tz ? d->as_timestamptz : "NULL", col.data);
        /* int64: more candidates than asked, since some beyond 2^53 are exact */
        rc = pm_buf_printf(&sql, err, "SELECT CAST(%s AS text), %s FROM %s WHERE %s LIMIT %d",
                           col.data, after, tbl.data, cond, to_float ? 200 : max);
        if (!rc)
            rc = each_row(s, sql.data, "cannot read the values a widening changes", change_row, &c,
                          err);
    }
    *out = c.out;
    *n = c.n;
    *rows = c.rows;
    pm_buf_free(&col);
    pm_buf_free(&tbl);
    pm_buf_free(&sql);
    return rc;
}

pm_code store_quote_ident(pm_buf *b, const char *name, pm_err *err)
{
    pm_code rc = pm_buf_putc(b, '"', err);
    for (const char *p = name; !rc && *p; p++)
        rc = *p == '"' ? pm_buf_append(b, "\"\"", 2, err) : pm_buf_putc(b, *p, err);
    return rc ? rc : pm_buf_putc(b, '"', err);
}

pm_code store_quote_qualified(pm_buf *b, const char *schema, const char *name, pm_err *err)
{
    pm_code rc = store_quote_ident(b, schema, err);
    if (!rc)
        rc = pm_buf_putc(b, '.', err);
    return rc ? rc : store_quote_ident(b, name, err);
}

void store_unique_index_name(const pm_table *t, const contract_rule *u, char out[64])
{
    uint64_t h = pm_hash(t->name, strlen(t->name) + 1);
    for (size_t i = 0; i < u->nkey; i++)
        h = (h * 1099511628211ULL) ^ pm_hash(u->key[i], strlen(u->key[i]) + 1);
    snprintf(out, 64, "_pipemend_unique_%016llx", (unsigned long long)h);
}
