/* pg_quarantine.c - a batch's quarantined rows written to PostgreSQL in
 * bulk.
 *
 * One INSERT per quarantined row is one round trip each: a feed whose
 * rows all drift (2.2M of them) spent 332 s waiting for the network where
 * SQLite took 18 s. So a batch's rows go in one COPY instead:
 *
 *   1. one query reserves their ids from the column's sequence (ascending,
 *      handed out in the order of the batch) and reads the time stamp they
 *      all get (the catalog's {now}, as the one-row insert writes it);
 *   2. one COPY ... FROM STDIN (FORMAT binary) sends the rows with those
 *      ids: bytea goes as its bytes, text as its UTF-8, no escaping.
 *
 * Their links to incidents are a few ranges of these ids (catalog.c,
 * store_incident_link_many). All of it runs in the caller's transaction
 * (the batch's), so the rows, their links and the checkpoint are kept or
 * lost together. Ids a rolled-back batch reserved are skipped, as a
 * rolled-back INSERT skips them: ids are unique and ascending, not
 * gapless. */
#include "store/pg_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT PG_CATALOG_SCHEMA "."
#define QCOLUMNS 16
/* Bytes sent to the server at a time while the next rows are encoded. */
#define SEND_CHUNK (256u * 1024)

static pm_code put_be(pm_buf *b, uint64_t v, unsigned size, pm_err *err)
{
    unsigned char x[8];
    for (unsigned i = 0; i < size; i++)
        x[i] = (unsigned char)(v >> (8 * (size - 1 - i)));
    return pm_buf_append(b, x, size, err);
}

static pm_code put_int8(pm_buf *b, int64_t v, pm_err *err)
{
    pm_code rc = put_be(b, 8, 4, err);
    return rc ? rc : put_be(b, (uint64_t)v, 8, err);
}

/* A field of n bytes (text as its UTF-8, bytea as itself); NULL s is SQL
 * NULL. */
static pm_code put_bytes(pm_buf *b, const char *s, size_t n, pm_err *err)
{
    if (!s)
        return put_be(b, UINT32_MAX, 4, err);
    pm_code rc = put_be(b, (uint32_t)n, 4, err);
    return rc || !n ? rc : pm_buf_append(b, s, n, err);
}

static pm_code put_text(pm_buf *b, const char *s, pm_err *err)
{
    return put_bytes(b, s, s ? strlen(s) : 0, err);
}

static pm_code put_row(pm_buf *b, const pm_qrow *q, int64_t id, const char *now, pm_err *err)
{
    pm_code rc = put_be(b, QCOLUMNS, 2, err);
    if (!rc)
        rc = put_int8(b, id, err);
    if (!rc)
        rc = put_int8(b, q->run_id, err);
    if (!rc)
        rc = put_text(b, q->table, err);
    if (!rc)
        rc = put_text(b, q->pipeline, err);
    if (!rc)
        rc = put_text(b, q->source, err);
    if (!rc)
        rc = put_int8(b, q->offset, err);
    if (!rc)
        rc = put_int8(b, q->line, err);
    if (!rc)
        rc = put_bytes(b, q->raw ? q->raw : "", q->raw_len, err);
    if (!rc)
        rc = put_be(b, 1, 4, err);
    if (!rc)
        rc = put_be(b, q->raw_truncated ? 1 : 0, 1, err);
    if (!rc)
        rc = put_text(b, q->kinds, err);
    if (!rc)
        rc = put_text(b, q->message, err);
    if (!rc)
        rc = put_text(b, q->findings, err);
    if (!rc)
        rc = put_text(b, "quarantined", err);
    if (!rc)
        rc = put_text(b, now, err);
    if (!rc)
        rc = put_bytes(b, q->header, q->header_len, err);
    if (!rc)
        rc = put_bytes(b, q->delimiter ? &q->delimiter : NULL, 1, err);
    return rc;
}

/* Reserves n ids of the quarantine (ascending, into ids) and the time they
 * are stamped with (into now, caller frees). The server takes them one
 * nextval each but answers in one row: the first and the last id when they
 * are a run (no other session took ids in between: the usual case), all of
 * them as an array literal only when they are not. Sending an id and a time
 * stamp per row cost the server more than the nextvals. The sequence is a
 * scalar subquery (evaluated once): as a column of a joined CTE, nextval
 * looked it up again for every row, 30x slower. */
static pm_code reserve(pg *p, size_t n, int64_t *ids, char **now, pm_err *err)
{
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    const char *params[] = {count};
    PGresult *res = NULL;
    pm_code rc = pg_query(
        p,
        "WITH v AS MATERIALIZED (SELECT nextval((SELECT CAST(pg_get_serial_sequence('" CAT
        "_pipemend_quarantine', 'id') AS regclass))) AS id FROM generate_series(1, CAST($1 AS "
        "integer))) SELECT min(id), max(id), count(*), "
        "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
        "CASE WHEN max(id) - min(id) + 1 <> count(*) THEN CAST(array_agg(id ORDER BY id) AS "
        "text) END FROM v",
        1, params, &res, "cannot quarantine rows", err);
    if (rc)
        return rc;
    long long got = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 2), NULL, 10) : -1;
    if (got < 0 || (size_t)got != n) {
        PQclear(res);
        return pm_err_set(err, PM_ERR_DB, "cannot quarantine rows: %zu ids asked, %lld given", n,
                          got);
    }
    if (PQgetisnull(res, 0, 4)) {
        int64_t first = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        for (size_t i = 0; i < n; i++)
            ids[i] = first + (int64_t)i;
    } else {
        /* {7,8,12,...}: ascending, as array_agg ordered them */
        const char *c = PQgetvalue(res, 0, 4);
        size_t i = 0;
        while (*c && i < n) {
            while (*c == '{' || *c == ',')
                c++;
            char *end;
            ids[i++] = strtoll(c, &end, 10);
            c = end;
            if (*c == '}')
                break;
        }
        if (i != n) {
            PQclear(res);
            return pm_err_set(err, PM_ERR_DB, "cannot quarantine rows: %zu ids asked, %zu read", n,
                              i);
        }
    }
    *now = pm_xstrdup(PQgetvalue(res, 0, 3));
    PQclear(res);
    return PM_OK;
}

static pm_code send_rows(pg *p, pm_buf *b, pm_err *err)
{
    if (b->len && PQputCopyData(p->conn, b->data, (int)b->len) != 1)
        return pg_error(p, NULL, "cannot send quarantined rows to the server", err);
    pm_buf_reset(b);
    return PM_OK;
}

/* Row i of a binary COPY, appended to b. */
typedef pm_code (*copy_put_fn)(pm_buf *b, size_t i, void *ctx, pm_err *err);

/* Runs sql, a COPY ... FROM STDIN (FORMAT binary), with rows 0..n) as put
 * encodes them, sent in chunks while the next ones are encoded. */
static pm_code copy_in(pg *p, const char *sql, size_t n, copy_put_fn put, void *ctx,
                       const char *what, pm_err *err)
{
    PGresult *res;
    pm_code rc = pg_exec_start(p, sql, &res, what, err);
    if (rc)
        return rc;
    bool copying = PQresultStatus(res) == PGRES_COPY_IN;
    if (!copying)
        rc = pg_error(p, res, what, err);
    PQclear(res);
    pm_buf b;
    pm_buf_init(&b, (size_t)INT_MAX); /* a row (each field checked by the caller) and a chunk */
    if (!rc) {
        static const unsigned char header[19] = {'P', 'G',  'C',  'O',  'P',
                                                 'Y', '\n', 0xff, '\r', '\n'};
        rc = pm_buf_append(&b, header, sizeof header, err);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        rc = put(&b, i, ctx, err);
        if (!rc && b.len >= SEND_CHUNK)
            rc = send_rows(p, &b, err);
    }
    if (!rc)
        rc = put_be(&b, UINT16_MAX, 2, err); /* the trailer: -1 */
    if (!rc)
        rc = send_rows(p, &b, err);
    pm_buf_free(&b);
    /* ending the COPY, also after a failure, keeps the connection usable
     * (the transaction is not: the caller rolls it back) */
    if (copying &&
        PQputCopyEnd(p->conn, rc ? "pipemend: the quarantined rows could not be sent" : NULL) !=
            1 &&
        !rc)
        rc = pg_error(p, NULL, "cannot send quarantined rows to the server", err);
    while (copying && (res = PQgetResult(p->conn)) != NULL) {
        if (!rc && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_error(p, res, what, err);
        PQclear(res);
    }
    return rc;
}

typedef struct qrows_ctx {
    const pm_qrow *q;
    const int64_t *ids;
    const char *now;
} qrows_ctx;

static pm_code put_qrow(pm_buf *b, size_t i, void *ctx, pm_err *err)
{
    const qrows_ctx *c = ctx;
    return put_row(b, &c->q[i], c->ids[i], c->now, err);
}

pm_code pg_quarantine_add_many(pm_store *s, const pm_qrow *q, size_t n, int64_t *ids, pm_err *err)
{
    pg *p = pg_of(s);
    if (n > INT_MAX)
        return pm_err_set(err, PM_ERR_LIMIT, "cannot quarantine %zu rows at once", n);
    int64_t *got = pm_xmalloc(n * sizeof *got);
    char *now = NULL;
    pm_code rc = reserve(p, n, got, &now, err);
    qrows_ctx ctx = {.q = q, .ids = got, .now = now};
    if (!rc)
        rc = copy_in(p,
                     "COPY " CAT "_pipemend_quarantine (id, run_id, table_name, pipeline, source, "
                     "byte_offset, line, raw, raw_truncated, kinds, message, findings, status, "
                     "created_at, header, delimiter) FROM STDIN (FORMAT binary)",
                     n, put_qrow, &ctx, "cannot quarantine rows", err);
    free(now);
    if (!rc && ids)
        memcpy(ids, got, n * sizeof *ids);
    free(got);
    return rc;
}
