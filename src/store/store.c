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
#include "core/utf8.h"
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

size_t store_stream_rows(const pm_store *s)
{
    return s->drv->stream_rows ? s->drv->stream_rows : s->drv->default_batch;
}

pm_code store_quarantine_stats(pm_store *s, pm_err *err)
{
    return s->drv->quarantine_stats ? s->drv->quarantine_stats(s, err) : PM_OK;
}

/* The kept counts' notes (counts.c) live as long as the transaction:
 * written just before it commits, dropped when it begins or rolls back. */
pm_code store_begin(pm_store *s, pm_err *err)
{
    /* a BEGIN refused because one is open keeps that one's notes */
    pm_code rc = s->drv->tx(s, DRV_BEGIN, err);
    if (!rc)
        counts_forget(s);
    return rc;
}

pm_code store_begin_batch(pm_store *s, pm_err *err)
{
    pm_code rc = s->drv->tx(s, DRV_BEGIN_BATCH, err);
    if (!rc)
        counts_forget(s);
    s->stream_rows = 0;
    return rc;
}

pm_code store_commit(pm_store *s, pm_err *err)
{
    pm_code rc = s->drv->in_tx(s) ? counts_flush(s, err) : PM_OK;
    if (rc) {
        /* the counts could not be written with the rows: neither is */
        store_rollback(s, NULL);
        return rc;
    }
    return s->drv->tx(s, DRV_COMMIT, err);
}

pm_code store_rollback(pm_store *s, pm_err *err)
{
    counts_forget(s);
    s->stream_rows = 0;
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

bool store_load_streams(pm_store *s)
{
    return s->drv->load_streams && s->drv->load_streams(s);
}

pm_code store_load_stream(pm_store *s, const pm_load_row *rows, size_t n, pm_err *err)
{
    if (!store_load_streams(s))
        return pm_err_set(err, PM_ERR_INTERNAL, "this backend loads no streams");
    pm_code rc = s->drv->load_stream(s, rows, n, err);
    s->stream_rows = rc ? 0 : s->stream_rows + (int64_t)n;
    return rc;
}

pm_code store_load_stream_end(pm_store *s, pm_err *err)
{
    int64_t n = s->stream_rows;
    s->stream_rows = 0;
    if (!s->drv->load_stream_end)
        return PM_OK;
    pm_code rc = s->drv->load_stream_end(s, err);
    return rc ? rc : counts_note(s, s->load_table, 0, n, 0, 0, 0, err);
}

pm_code store_sandbox_begin(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                            const pm_table *to, int sample, int64_t *copied, pm_err *err)
{
    return s->drv->sandbox_begin(s, from, ops, n, to, sample, copied, err);
}

pm_code store_table_dependents(pm_store *s, const pm_table *t, const pm_op *ops, size_t n,
                               pm_arena *arena, pm_dependent **out, size_t *nout, pm_err *err)
{
    *out = NULL;
    *nout = 0;
    if (!s->drv->dependents)
        return PM_OK;
    return s->drv->dependents(s, t, ops, n, arena, out, nout, err);
}

pm_code store_sandbox_load(pm_store *s, pm_load_row *rows, size_t n, pm_arena *arena, pm_err *err)
{
    return s->drv->sandbox_load(s, rows, n, arena, err);
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

static pm_code quote_literal(pm_buf *b, const char *text, pm_err *err)
{
    pm_code rc = pm_buf_putc(b, '\'', err);
    for (const char *p = text; !rc && *p; p++)
        rc = *p == '\'' ? pm_buf_append(b, "''", 2, err) : pm_buf_putc(b, *p, err);
    return rc ? rc : pm_buf_putc(b, '\'', err);
}

typedef struct cost_row {
    int64_t rows, bytes;
    bool null_bytes;
} cost_row;

static bool read_cost(void *arg, drv_stmt *st)
{
    cost_row *c = arg;
    c->rows = st->ops->col_int(st, 0);
    c->null_bytes = st->ops->col_null(st, 1);
    c->bytes = c->null_bytes ? -1 : st->ops->col_int(st, 1);
    return false;
}

pm_code store_rewrite_cost(pm_store *s, const char *table, pm_rewrite_cost *out, pm_err *err)
{
    const drv_dialect *d = &s->drv->dialect;
    pm_buf tbl, lit, sql;
    pm_buf_init(&tbl, 4096);
    pm_buf_init(&lit, 8192);
    pm_buf_init(&sql, 1 << 16);
    pm_code rc = d->data_schema ? store_quote_qualified(&tbl, d->data_schema, table, err)
                                : store_quote_ident(&tbl, table, err);
    /* the table's name as a string: PostgreSQL's regclass input, SQLite's
     * dbstat (which counts the table's pages, not its indexes') */
    if (!rc)
        rc = quote_literal(&lit, d->data_schema ? tbl.data : table, err);
    if (!rc && d->data_schema)
        rc = pm_buf_printf(&sql, err,
                           "SELECT count(*), pg_total_relation_size(%s::regclass) FROM %s",
                           lit.data, tbl.data);
    else if (!rc)
        rc = pm_buf_printf(&sql, err,
                           "SELECT count(*), (SELECT sum(pgsize) FROM dbstat WHERE name = %s) "
                           "FROM %s",
                           lit.data, tbl.data);
    cost_row c = {0};
    if (!rc)
        rc = each_row(s, sql.data, "cannot measure the table", read_cost, &c, err);
    if (rc && !d->data_schema) {
        /* a SQLite built without dbstat: the rows alone */
        pm_buf_reset(&sql);
        rc = pm_buf_printf(&sql, err, "SELECT count(*), NULL FROM %s", tbl.data);
        if (!rc)
            rc = each_row(s, sql.data, "cannot count the table's rows", read_cost, &c, err);
    }
    if (!rc) {
        out->rows = c.rows;
        out->bytes = c.bytes;
        out->lock = d->data_schema ? "ACCESS EXCLUSIVE" : "the database's write lock";
        out->note = d->data_schema
                        ? "PostgreSQL rewrites the whole table (and rebuilds its indexes) in the "
                          "apply's transaction; every read and write of the table waits for it"
                        : "SQLite rebuilds the table (a copy, then the swap), or rewrites the "
                          "values in place where they stay text, in the apply's transaction; "
                          "other writers wait for it";
    }
    pm_buf_free(&tbl);
    pm_buf_free(&lit);
    pm_buf_free(&sql);
    return rc;
}

typedef struct sample {
    pm_arena *a;
    const char **out;
    size_t n, max;
} sample;

static bool sample_row(void *arg, drv_stmt *st)
{
    sample *c = arg;
    const char *v = st->ops->col_text(st, 0, c->a);
    if (v)
        c->out[c->n++] = v;
    return c->n < c->max;
}

static pm_code table_ref(pm_store *s, pm_buf *b, const char *table, pm_err *err)
{
    const char *schema = s->drv->dialect.data_schema;
    return schema ? store_quote_qualified(b, schema, table, err) : store_quote_ident(b, table, err);
}

pm_code store_column_sample(pm_store *s, const char *table, const char *column, int max,
                            pm_arena *a, const char ***out, size_t *n, pm_err *err)
{
    *out = NULL;
    *n = 0;
    if (max <= 0)
        return PM_OK;
    pm_buf col, tbl, sql;
    pm_buf_init(&col, 4096);
    pm_buf_init(&tbl, 4096);
    pm_buf_init(&sql, 16384);
    pm_code rc = store_quote_ident(&col, column, err);
    if (!rc)
        rc = table_ref(s, &tbl, table, err);
    if (!rc)
        rc = pm_buf_printf(&sql, err,
                           "SELECT CAST(%s AS text) FROM %s WHERE %s IS NOT NULL LIMIT %d",
                           col.data, tbl.data, col.data, max);
    sample c = {.a = a, .out = pm_arena_alloc(a, (size_t)max * sizeof *c.out), .max = (size_t)max};
    if (!rc)
        rc = each_row(s, sql.data, "cannot read the column's values", sample_row, &c, err);
    *out = c.out;
    *n = c.n;
    pm_buf_free(&col);
    pm_buf_free(&tbl);
    pm_buf_free(&sql);
    return rc;
}

static bool no_row(void *arg, drv_stmt *st)
{
    (void)arg;
    (void)st;
    return false;
}

static pm_code exec_sql(pm_store *s, const char *sql, const char *what, pm_err *err)
{
    return each_row(s, sql, what, no_row, NULL, err);
}

typedef struct retype_scan {
    pm_store *s;
    pm_type to;
    const char *format;
    const char *table, *column;
    drv_stmt *insert; /* (col, orig, iso) into the pairs table */
    int64_t pairs;
    pm_code rc;
    pm_err *err;
    pm_arena *a;
} retype_scan;

static bool retype_row(void *arg, drv_stmt *st)
{
    retype_scan *c = arg;
    pm_arena_reset(c->a);
    const char *v = st->ops->col_text(st, 0, c->a);
    if (!v)
        return true;
    size_t n = strlen(v);
    pm_value val = {.kind = PM_V_STRING, .s = v, .len = n};
    pm_cell cell;
    char iso[TYPE_DATETIME_MAX];
    const char *want = NULL;
    if (type_fits(&val, c->to, &cell) && cell.kind == PM_CELL_TEXT)
        want = pm_arena_strndup(c->a, cell.s, cell.len);
    else if (c->format && type_coerce_datetime(v, n, c->format, c->to, iso, sizeof iso))
        want = iso;
    if (!want) {
        char tn[TYPE_NAME_MAX];
        char shown[80];
        size_t k = pm_utf8_truncate(v, n, 64);
        snprintf(shown, sizeof shown, "%.*s%s", (int)k, v, k < n ? "..." : "");
        for (char *p = shown; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        pm_err_set(c->err, PM_ERR_SCHEMA,
                   "value \"%s\" of %s.%s is not a %s in ISO 8601%s%s; retyping the column "
                   "would lose it",
                   shown, c->table, c->column, type_name(c->to, tn),
                   c->format ? " nor in format " : "", c->format ? c->format : "");
        pm_err_hint(c->err, "fix or clear such values first (they are text today), or leave the "
                            "column text");
        c->rc = PM_ERR_SCHEMA;
        return false;
    }
    if (strcmp(want, v) == 0)
        return true;
    pm_code rc = c->s->drv->prepare(c->s, NULL, NULL, &c->insert, c->err);
    (void)rc;
    c->insert->ops->bind_text(c->insert, 1, c->column);
    c->insert->ops->bind_text(c->insert, 2, v);
    c->insert->ops->bind_text(c->insert, 3, want);
    bool got;
    c->rc = c->insert->ops->step(c->insert, &got, c->err);
    c->insert->ops->done(c->insert);
    c->pairs++;
    return c->rc == PM_OK;
}

#define RETYPE_PAIRS "_pipemend_retype"
#define PAIRS_TABLE                                                                                \
    "CREATE TEMP TABLE " RETYPE_PAIRS " (col text NOT NULL, orig text NOT NULL, iso text NOT "     \
    "NULL, PRIMARY KEY (col, orig))"

/* The pairs (column, value, its ISO text) of one column into the pairs
 * table; unless the ALTER maps them itself, the column is rewritten. */
static pm_code retype_values(pm_store *s, const char *qualified, const char *table,
                             const char *column, pm_type to, const char *format, bool in_alter,
                             pm_err *err)
{
    bool pg = s->drv->dialect.data_schema != NULL;
    const char *pairs = pg ? "pg_temp." RETYPE_PAIRS : "temp." RETYPE_PAIRS;
    pm_buf col, sql;
    pm_buf_init(&col, 4096);
    pm_buf_init(&sql, 1 << 16);
    retype_scan c = {.s = s,
                     .to = to,
                     .format = format,
                     .table = table,
                     .column = column,
                     .err = err,
                     .a = pm_arena_new(0)};
    pm_code rc = store_quote_ident(&col, column, err);
    if (!rc)
        rc = pm_buf_printf(&sql, err, "INSERT INTO %s (col, orig, iso) VALUES ($1, $2, $3)", pairs);
    if (!rc)
        rc = s->drv->prepare(s, sql.data, "cannot record a retype's pair", &c.insert, err);
    pm_buf_reset(&sql);
    if (!rc)
        rc = pm_buf_printf(&sql, err,
                           "SELECT DISTINCT CAST(%s AS text) FROM %s WHERE %s IS NOT NULL",
                           col.data, qualified, col.data);
    if (!rc)
        rc = each_row(s, sql.data, "cannot read the column's values", retype_row, &c, err);
    if (!rc)
        rc = c.rc;
    pm_buf_reset(&sql);
    if (!rc && c.pairs && !in_alter) {
        rc = pm_buf_printf(&sql, err,
                           "UPDATE %s AS x SET %s = m.iso FROM %s AS m WHERE m.col = $1 AND "
                           "x.%s = m.orig",
                           qualified, col.data, pairs, col.data);
        drv_stmt *up = NULL;
        if (!rc)
            rc = s->drv->prepare(s, sql.data, "cannot rewrite the column's values", &up, err);
        bool got;
        if (!rc) {
            up->ops->bind_text(up, 1, column);
            rc = up->ops->step(up, &got, err);
            up->ops->done(up);
        }
        if (up)
            s->drv->drop(up);
    }
    if (c.insert)
        s->drv->drop(c.insert);
    pm_arena_free(c.a);
    pm_buf_free(&col);
    pm_buf_free(&sql);
    return rc;
}

pm_code store_retype_prepare(pm_store *s, const char *qualified, const pm_table *from,
                             const pm_op *ops, size_t n, pm_err *err)
{
    bool pg = s->drv->dialect.data_schema != NULL;
    bool any = false, mapped = false;
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        const pm_op *op = &ops[i];
        int j = op->kind == OP_RETYPE_COLUMN && op->column
                    ? table_find(from, op->column, strlen(op->column))
                    : -1;
        if (j < 0 ||
            (from->cols[j].type.kind != PM_T_VARCHAR && from->cols[j].type.kind != PM_T_TEXT))
            continue;
        if (!any) {
            rc = exec_sql(s,
                          pg ? "DROP TABLE IF EXISTS pg_temp." RETYPE_PAIRS
                             : "DROP TABLE IF EXISTS temp." RETYPE_PAIRS,
                          "cannot clear the retype's pairs", err);
            /* on PostgreSQL gone with the transaction (an apply's, a dry
             * run's): a long-lived session does not keep a column's values */
            if (!rc)
                rc = exec_sql(s, pg ? PAIRS_TABLE " ON COMMIT DROP" : PAIRS_TABLE,
                              "cannot make the retype's pairs", err);
            any = true;
        }
        bool in_alter = store_retype_in_alter(pg, from->cols[j].type);
        mapped = mapped || in_alter;
        if (!rc)
            rc = retype_values(s, qualified, from->name, op->column, op->type, op->format, in_alter,
                               err);
    }
    /* the ALTER's USING looks its values up here (render_retype); the pairs
     * stay for it, in this session's temp schema */
    if (!rc && mapped)
        rc = exec_sql(s,
                      "CREATE OR REPLACE FUNCTION pg_temp." RETYPE_PAIRS "_iso(text, text) "
                      "RETURNS text LANGUAGE sql STABLE AS $$SELECT coalesce((SELECT m.iso FROM "
                      "pg_temp." RETYPE_PAIRS " m WHERE m.col = $1 AND m.orig = $2), $2)$$",
                      "cannot make the retype's lookup", err);
    if (!rc && any && !mapped)
        rc = exec_sql(s, pg ? "DROP TABLE pg_temp." RETYPE_PAIRS : "DROP TABLE temp." RETYPE_PAIRS,
                      "cannot drop the retype's pairs", err);
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

pm_code store_merge_refused(pm_err *err, const char *table, const char *column, const char *names,
                            size_t n)
{
    pm_err_set(err, PM_ERR_SCHEMA, "cannot merge %s.%s: the merge drops the column, which %s uses",
               table, column, names);
    pm_err_hint(err,
                "drop or change %s, approve the merge, then create %s again over the column the "
                "values moved into; or reject the proposal",
                n == 1 ? "it" : "them", n == 1 ? "it" : "them");
    return PM_ERR_SCHEMA;
}
