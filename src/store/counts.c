/* counts.c - per-table counts kept with the writes that change them, so
 * that the reads every face makes again and again (status, list_tables,
 * get_pipeline_status, /metrics) cost the same on a warehouse of ten
 * thousand rows as on one of five million, instead of counting rows.
 *
 * _pipemend_table_counts has one row per table (run_id 0): the rows
 * pipemend loaded into it (ingest and replay; a reset or drop sets it to
 * 0), the rows of it waiting in quarantine, and the rows replayed out of
 * quarantine and discarded from it, ever; and one row per run that
 * quarantined rows (run_id > 0), whose quarantined is how many of that
 * run's rows still wait, and whose first_qrow..last_qrow hold the ids of
 * every row the run quarantined (NULL: not known, a run counted by a
 * pipemend before the spans): a run's rows are read in that span of the
 * quarantine's primary key, with no index on run_id. One more row,
 * table_name '', says that the counts were computed: a warehouse made by
 * an earlier pipemend gets them at its first open by this one, counted in
 * full once, under the lock "counts".
 *
 * The writes of a transaction (the load, quarantine's insert, replay's and
 * discard's deletes) note what they did in memory (store_int.h:
 * counts_delta); the commit writes the notes first, in one statement per
 * table and run, in a fixed order (so two committers cannot deadlock on
 * them), and a rollback drops them. So the counts commit with the rows or
 * not at all: a kill -9 at any point leaves them exact.
 *
 * What the counts are not: count(*) of a user table that other programs
 * write too. Rows another writer inserts or deletes are not pipemend's to
 * count; the readers say "loaded" for that reason, and `pipemend table
 * reset` (which is about to delete them all) still counts them in full. */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"

enum {
    C_ADD,        /* adds a delta to one row, creating it */
    C_GET,        /* one row */
    C_MARKED,     /* whether the counts were computed */
    C_EMPTIED,    /* a table's rows all went */
    C_CLEAR,      /* before computing them */
    C_FILL_TABLE, /* quarantine per table */
    C_FILL_RUN,   /* quarantine per run */
    C_MARK,       /* the counts are computed */
    C_ALL,        /* every table's rows in quarantine */
    C_SPAN,       /* a run's span of quarantine ids */
    C_COUNT
};

_Static_assert(C_COUNT <= COUNTS_STMT_SLOTS, "store_int.h: COUNTS_STMT_SLOTS too small");

#define COUNTS_COLUMNS "(table_name, run_id, loaded, quarantined, replayed, discarded)"
#define COUNTS_COLUMNS_SPAN                                                                        \
    "(table_name, run_id, loaded, quarantined, replayed, discarded, first_qrow, last_qrow)"
/* The span widened by the new rows' ids (excluded NULL: none); a span not
 * known stays so. */
#define SPAN_END(col, cmp)                                                                         \
    col " = CASE WHEN excluded." col " IS NULL OR c." col " IS NULL THEN c." col                   \
        " WHEN excluded." col " " cmp " c." col " THEN excluded." col " ELSE c." col " END"

static const struct {
    const char *sql;
    const char *what;
} counts_sql[C_COUNT] = {
    [C_ADD] = {"INSERT INTO _pipemend_table_counts AS c " COUNTS_COLUMNS_SPAN
               " VALUES (CAST($1 AS text), CAST($2 AS bigint), CAST($3 AS bigint), CAST($4 AS "
               "bigint), CAST($5 AS bigint), CAST($6 AS bigint), CAST($7 AS bigint), CAST($8 AS "
               "bigint)) ON CONFLICT (table_name, run_id) "
               "DO UPDATE SET loaded = c.loaded + excluded.loaded, quarantined = c.quarantined + "
               "excluded.quarantined, replayed = c.replayed + excluded.replayed, discarded = "
               "c.discarded + excluded.discarded, " SPAN_END("first_qrow",
                                                             "<") ", " SPAN_END("last_qrow", ">"),
               "cannot update the table's counts"},
    [C_GET] = {"SELECT loaded, quarantined, replayed, discarded FROM _pipemend_table_counts WHERE "
               "table_name = CAST($1 AS text) AND run_id = CAST($2 AS bigint)",
               "cannot read the table's counts"},
    [C_MARKED] =
        {"SELECT count(*) FROM _pipemend_table_counts WHERE table_name = '' AND run_id = 0",
         "cannot read the table counts"},
    [C_EMPTIED] = {"UPDATE _pipemend_table_counts SET loaded = 0 WHERE table_name = CAST($1 AS "
                   "text) AND run_id = 0",
                   "cannot update the table's counts"},
    [C_CLEAR] = {"DELETE FROM _pipemend_table_counts", "cannot compute the table counts"},
    [C_FILL_TABLE] = {"INSERT INTO _pipemend_table_counts " COUNTS_COLUMNS
                      " SELECT table_name, 0, 0, count(*), 0, 0 FROM _pipemend_quarantine "
                      "GROUP BY table_name",
                      "cannot compute the table counts"},
    /* a run still running may be written by a pipemend that keeps no
     * spans (an earlier one): its rows to come could fall outside the
     * span counted now, so its span is left not known */
    [C_FILL_RUN] = {"INSERT INTO _pipemend_table_counts " COUNTS_COLUMNS_SPAN
                    " SELECT q.table_name, q.run_id, 0, count(*), 0, 0, CASE WHEN r.status = "
                    "'running' THEN NULL ELSE min(q.id) END, CASE WHEN r.status = 'running' THEN "
                    "NULL ELSE max(q.id) END FROM _pipemend_quarantine q LEFT JOIN _pipemend_runs "
                    "r ON r.id = q.run_id WHERE q.run_id > 0 GROUP BY q.table_name, q.run_id, "
                    "r.status",
                    "cannot compute the table counts"},
    [C_MARK] = {"INSERT INTO _pipemend_table_counts " COUNTS_COLUMNS " VALUES ('', 0, 0, 0, 0, 0)",
                "cannot compute the table counts"},
    [C_ALL] = {"SELECT COALESCE(sum(quarantined), 0) FROM _pipemend_table_counts WHERE run_id = 0",
               "cannot read the table counts"},
    [C_SPAN] = {"SELECT first_qrow, last_qrow FROM _pipemend_table_counts WHERE table_name = "
                "CAST($1 AS text) AND run_id = CAST($2 AS bigint) AND first_qrow IS NOT NULL AND "
                "last_qrow IS NOT NULL",
                "cannot read the run's counts"},
};

static pm_code prep(pm_store *s, int id, drv_stmt **out, pm_err *err)
{
    pm_code rc =
        catalog_prepare(s, counts_sql[id].sql, counts_sql[id].what, &s->counts_stmt[id], err);
    *out = rc ? NULL : s->counts_stmt[id];
    return rc;
}

/* Runs a statement that returns nothing, and ends it. */
static pm_code exec_stmt(drv_stmt *st, pm_err *err)
{
    bool row;
    pm_code rc = st->ops->step(st, &row, err);
    st->ops->done(st);
    return rc;
}

static pm_code add(pm_store *s, const counts_delta *d, pm_err *err)
{
    drv_stmt *st;
    pm_code rc = prep(s, C_ADD, &st, err);
    if (rc)
        return rc;
    st->ops->bind_text(st, 1, d->table);
    st->ops->bind_int(st, 2, d->run);
    st->ops->bind_int(st, 3, d->loaded);
    st->ops->bind_int(st, 4, d->quarantined);
    st->ops->bind_int(st, 5, d->replayed);
    st->ops->bind_int(st, 6, d->discarded);
    if (d->first) {
        st->ops->bind_int(st, 7, d->first);
        st->ops->bind_int(st, 8, d->last);
    } else {
        st->ops->bind_null(st, 7);
        st->ops->bind_null(st, 8);
    }
    /* at a commit: goes with the COMMIT where the driver can */
    if (!st->ops->defer)
        return exec_stmt(st, err);
    rc = st->ops->defer(st, err);
    st->ops->done(st);
    return rc;
}

/* The note of table and run, made when there is none. */
static counts_delta *delta_of(pm_store *s, const char *table, int64_t run)
{
    /* writes come in runs of one key (a batch, a page): try the last first */
    if (s->lastdelta < s->ndelta && s->delta[s->lastdelta].run == run &&
        strcmp(s->delta[s->lastdelta].table, table) == 0)
        return &s->delta[s->lastdelta];
    for (size_t i = 0; i < s->ndelta; i++) {
        if (s->delta[i].run == run && strcmp(s->delta[i].table, table) == 0) {
            s->lastdelta = i;
            return &s->delta[i];
        }
    }
    if (s->ndelta == s->capdelta) {
        s->capdelta = s->capdelta ? s->capdelta * 2 : 8;
        s->delta = pm_xrealloc(s->delta, s->capdelta * sizeof *s->delta);
    }
    s->lastdelta = s->ndelta;
    counts_delta *d = &s->delta[s->ndelta++];
    *d = (counts_delta){.table = pm_xstrdup(table), .run = run};
    return d;
}

void counts_forget(pm_store *s)
{
    for (size_t i = 0; i < s->ndelta; i++)
        free(s->delta[i].table);
    s->ndelta = 0;
    s->lastdelta = 0;
}

static int delta_order(const void *a, const void *b)
{
    const counts_delta *x = a, *y = b;
    int c = strcmp(x->table, y->table);
    return c ? c : (x->run > y->run) - (x->run < y->run);
}

pm_code counts_flush(pm_store *s, pm_err *err)
{
    pm_code rc = PM_OK;
    if (s->ndelta > 1)
        qsort(s->delta, s->ndelta, sizeof *s->delta, delta_order);
    for (size_t i = 0; !rc && i < s->ndelta; i++) {
        const counts_delta *d = &s->delta[i];
        if (d->loaded || d->quarantined || d->replayed || d->discarded || d->first)
            rc = add(s, d, err);
    }
    counts_forget(s);
    return rc;
}

pm_code counts_note(pm_store *s, const char *table, int64_t run, int64_t loaded,
                    int64_t quarantined, int64_t replayed, int64_t discarded, pm_err *err)
{
    if (!s->counts_kept || !table)
        return PM_OK;
    counts_delta *d = delta_of(s, table, 0);
    d->loaded += loaded;
    d->quarantined += quarantined;
    d->replayed += replayed;
    d->discarded += discarded;
    if (run > 0 && (quarantined || replayed || discarded)) {
        d = delta_of(s, table, run);
        d->quarantined += quarantined;
        d->replayed += replayed;
        d->discarded += discarded;
    }
    return s->drv->in_tx(s) ? PM_OK : counts_flush(s, err);
}

pm_code counts_note_quarantined(pm_store *s, const char *table, int64_t run, int64_t id,
                                pm_err *err)
{
    if (!s->counts_kept || !table)
        return PM_OK;
    if (run > 0 && id > 0) {
        counts_delta *d = delta_of(s, table, run);
        if (!d->first || id < d->first)
            d->first = id;
        if (id > d->last)
            d->last = id;
    }
    return counts_note(s, table, run, 0, 1, 0, 0, err);
}

pm_code counts_table_emptied(pm_store *s, const char *table, pm_err *err)
{
    if (!s->counts_kept)
        return PM_OK;
    for (size_t i = 0; i < s->ndelta; i++)
        if (strcmp(s->delta[i].table, table) == 0)
            s->delta[i].loaded = 0;
    drv_stmt *st;
    pm_code rc = prep(s, C_EMPTIED, &st, err);
    if (rc)
        return rc;
    st->ops->bind_text(st, 1, table);
    return exec_stmt(st, err);
}

/* Whether the counts were computed: *marked. */
static pm_code marked(pm_store *s, bool *yes, pm_err *err)
{
    drv_stmt *st;
    bool row;
    *yes = false;
    pm_code rc = prep(s, C_MARKED, &st, err);
    if (!rc)
        rc = st->ops->step(st, &row, err);
    if (!rc && row)
        *yes = st->ops->col_int(st, 0) > 0;
    if (st)
        st->ops->done(st);
    return rc;
}

/* Counts everything once, in the open transaction. */
static pm_code compute(pm_store *s, pm_err *err)
{
    static const int fill[] = {C_CLEAR, C_FILL_TABLE, C_FILL_RUN};
    pm_code rc = PM_OK;
    for (size_t k = 0; !rc && k < sizeof fill / sizeof fill[0]; k++) {
        drv_stmt *st;
        rc = prep(s, fill[k], &st, err);
        if (!rc)
            rc = exec_stmt(st, err);
    }
    pm_arena *a = pm_arena_new(0);
    pm_table **ts = NULL;
    size_t n = 0;
    if (!rc)
        rc = store_tables_brief(s, a, &ts, &n, err);
    if (!rc && n)
        pm_info("counting the rows of %zu table%s once: this warehouse was made by an earlier "
                "pipemend, which kept no counts",
                n, n == 1 ? "" : "s");
    for (size_t i = 0; !rc && i < n; i++) {
        counts_delta d = {.table = (char *)ts[i]->name};
        rc = s->drv->table_count(s, ts[i]->name, &d.loaded, err);
        if (rc == PM_ERR_NOTFOUND) { /* dropped outside pipemend */
            pm_err_clear(err);
            rc = PM_OK;
            d.loaded = 0;
        }
        if (!rc && d.loaded)
            rc = add(s, &d, err);
    }
    pm_arena_free(a);
    drv_stmt *st;
    if (!rc)
        rc = prep(s, C_MARK, &st, err);
    if (!rc)
        rc = exec_stmt(st, err);
    return rc;
}

void counts_open(pm_store *s)
{
    pm_err err = {0};
    bool yes;
    s->counts_kept = false;
    pm_code rc = marked(s, &yes, &err);
    if (!rc && !yes) {
        rc = s->drv->tx(s, DRV_BEGIN, &err);
        if (!rc) {
            rc = s->drv->lock(s, "counts", &err);
            /* another process may have computed them meanwhile */
            if (!rc)
                rc = marked(s, &yes, &err);
            if (!rc && !yes)
                rc = compute(s, &err);
            if (rc)
                s->drv->tx(s, DRV_ROLLBACK, NULL);
            else
                rc = s->drv->tx(s, DRV_COMMIT, &err);
        }
    }
    if (rc) {
        /* a warehouse this process may only read: reads count rows instead */
        pm_debug("the table counts are not kept here (%s): status and listings count rows",
                 err.msg);
        return;
    }
    s->counts_kept = true;
}

void counts_close(pm_store *s)
{
    counts_forget(s);
    free(s->delta);
    s->delta = NULL;
    s->capdelta = 0;
    free(s->load_table);
    s->load_table = NULL;
    for (size_t i = 0; i < COUNTS_STMT_SLOTS; i++) {
        if (s->counts_stmt[i]) {
            s->drv->drop(s->counts_stmt[i]);
            s->counts_stmt[i] = NULL;
        }
    }
}

/* ---- the readers (store.h) ------------------------------------------------ */

static pm_code get(pm_store *s, const char *table, int64_t run, pm_table_counts *out, pm_err *err)
{
    drv_stmt *st;
    bool row;
    pm_code rc = prep(s, C_GET, &st, err);
    if (rc)
        return rc;
    st->ops->bind_text(st, 1, table);
    st->ops->bind_int(st, 2, run);
    rc = st->ops->step(st, &row, err);
    if (!rc && row) {
        out->loaded = st->ops->col_int(st, 0);
        out->quarantined = st->ops->col_int(st, 1);
        out->replayed = st->ops->col_int(st, 2);
        out->discarded = st->ops->col_int(st, 3);
    }
    st->ops->done(st);
    return rc;
}

pm_code store_table_counts(pm_store *s, const char *table, pm_table_counts *out, pm_err *err)
{
    *out = (pm_table_counts){.kept = s->counts_kept};
    if (s->counts_kept)
        return get(s, table, 0, out, err);
    pm_code rc = s->drv->table_count(s, table, &out->loaded, err);
    if (rc == PM_ERR_NOTFOUND) {
        pm_err_clear(err);
        out->loaded = 0;
        rc = PM_OK;
    }
    return rc ? rc : store_quarantine_count(s, table, &out->quarantined, err);
}

pm_code store_run_waiting(pm_store *s, const char *table, int64_t run, int64_t *n, pm_err *err)
{
    if (!s->counts_kept)
        return store_quarantine_count_where(s, table, run, n, err);
    pm_table_counts c = {0};
    pm_code rc = get(s, table, run, &c, err);
    *n = c.quarantined;
    return rc;
}

pm_code store_quarantine_total(pm_store *s, const char *table, int64_t run, int64_t *n, pm_err *err)
{
    *n = 0;
    if (!s->counts_kept)
        return store_quarantine_count_where(s, table, run, n, err);
    pm_table_counts c = {0};
    pm_code rc = PM_OK;
    if (run) {
        pm_arena *a = pm_arena_new(0);
        pm_run r;
        bool found;
        rc = store_run_get(s, run, a, &r, &found, err);
        if (!rc && found && (!table || strcmp(table, r.table) == 0))
            rc = get(s, r.table, run, &c, err);
        pm_arena_free(a);
    } else if (table) {
        rc = get(s, table, 0, &c, err);
    } else {
        drv_stmt *st;
        bool row;
        rc = prep(s, C_ALL, &st, err);
        if (!rc)
            rc = st->ops->step(st, &row, err);
        if (!rc && row)
            c.quarantined = st->ops->col_int(st, 0);
        if (st)
            st->ops->done(st);
    }
    *n = c.quarantined;
    return rc;
}

pm_code counts_run_span(pm_store *s, const char *table, int64_t run, int64_t *first, int64_t *last,
                        pm_err *err)
{
    *first = 0;
    *last = INT64_MAX;
    if (!s->counts_kept || run <= 0)
        return PM_OK;
    pm_arena *a = pm_arena_new(0);
    pm_code rc = PM_OK;
    if (!table) {
        pm_run r;
        bool found;
        rc = store_run_get(s, run, a, &r, &found, err);
        table = !rc && found ? r.table : NULL;
    }
    drv_stmt *st = NULL;
    bool row = false;
    if (!rc && table)
        rc = prep(s, C_SPAN, &st, err);
    if (st) {
        st->ops->bind_text(st, 1, table);
        st->ops->bind_int(st, 2, run);
        rc = st->ops->step(st, &row, err);
        if (!rc && row) {
            *first = st->ops->col_int(st, 0);
            *last = st->ops->col_int(st, 1);
        }
        st->ops->done(st);
    }
    pm_arena_free(a);
    return rc;
}

pm_code store_table_exists(pm_store *s, const char *name, bool *exists, pm_err *err)
{
    return s->drv->table_exists(s, name, exists, err);
}
