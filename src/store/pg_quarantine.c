/* pg_quarantine.c - a batch's quarantined rows and their incident links
 * written to PostgreSQL in bulk.
 *
 * One INSERT per quarantined row is one round trip each: a feed whose
 * rows all drift (2.2M of them) spent 332 s waiting for the network where
 * SQLite took 18 s. So a batch's rows go in one COPY instead:
 *
 *   1. one query reserves their ids from the column's sequence (ascending,
 *      handed out in the order of the batch) and reads the time stamp they
 *      all get (the catalog's {now}, as the one-row insert writes it);
 *   2. one COPY ... FROM STDIN (FORMAT binary) sends the rows with those
 *      ids: bytea goes as its bytes, text as its UTF-8, no escaping;
 *   3. their incident links are one INSERT ... SELECT FROM unnest(...).
 *
 * All of it runs in the caller's transaction (the batch's), so the rows,
 * their links and the checkpoint are kept or lost together. Ids a
 * rolled-back batch reserved are skipped, as a rolled-back INSERT skips
 * them: ids are unique and ascending, not gapless. */
#include "store/pg_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT PG_CATALOG_SCHEMA "."
#define QCOLUMNS 15
/* Bytes sent to the server at a time while the next rows are encoded. */
#define SEND_CHUNK (256u * 1024)
/* Links per statement: its two array parameters stay a few MB. */
#define LINKS_PER_STATEMENT 100000

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
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Reserves n ids of the quarantine (ascending, into ids) and the time they
 * are stamped with (into now, caller frees). */
static pm_code reserve(pg *p, size_t n, int64_t *ids, char **now, pm_err *err)
{
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    const char *params[] = {count};
    PGresult *res = NULL;
    pm_code rc = pg_query(
        p,
        "WITH s AS (SELECT CAST(pg_get_serial_sequence('" CAT "_pipemend_quarantine', 'id') AS "
        "regclass) AS seq) SELECT nextval(s.seq), to_char(clock_timestamp() AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM s, generate_series(1, CAST($1 AS integer))",
        1, params, &res, "cannot quarantine rows", err);
    if (rc)
        return rc;
    if ((size_t)PQntuples(res) != n) {
        PQclear(res);
        return pm_err_set(err, PM_ERR_DB, "cannot quarantine rows: %zu ids asked, %d given", n,
                          PQntuples(res));
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
    *now = pm_xstrdup(PQgetvalue(res, 0, 1));
    PQclear(res);
    /* nextval runs in the order generate_series gives the rows; sorting
     * makes "ascending" a promise rather than an observation */
    qsort(ids, n, sizeof *ids, cmp_id);
    return PM_OK;
}

static pm_code send_rows(pg *p, pm_buf *b, pm_err *err)
{
    if (b->len && PQputCopyData(p->conn, b->data, (int)b->len) != 1)
        return pg_error(p, NULL, "cannot send quarantined rows to the server", err);
    pm_buf_reset(b);
    return PM_OK;
}

pm_code pg_quarantine_add_many(pm_store *s, const pm_qrow *q, size_t n, int64_t *ids, pm_err *err)
{
    pg *p = pg_of(s);
    if (n > INT_MAX)
        return pm_err_set(err, PM_ERR_LIMIT, "cannot quarantine %zu rows at once", n);
    int64_t *got = pm_xmalloc(n * sizeof *got);
    char *now = NULL;
    pm_code rc = reserve(p, n, got, &now, err);
    if (rc) {
        free(got);
        return rc;
    }
    PGresult *res = PQexec(p->conn, "COPY " CAT "_pipemend_quarantine (id, run_id, table_name, "
                                    "pipeline, source, byte_offset, line, raw, raw_truncated, "
                                    "kinds, message, findings, status, created_at, header) FROM "
                                    "STDIN (FORMAT binary)");
    bool copying = PQresultStatus(res) == PGRES_COPY_IN;
    if (!copying)
        rc = pg_error(p, res, "cannot quarantine rows", err);
    PQclear(res);
    pm_buf b;
    pm_buf_init(&b, (size_t)INT_MAX); /* a row (each field checked by the caller) and a chunk */
    if (!rc) {
        static const unsigned char header[19] = {'P', 'G',  'C',  'O',  'P',
                                                 'Y', '\n', 0xff, '\r', '\n'};
        rc = pm_buf_append(&b, header, sizeof header, err);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        rc = put_row(&b, &q[i], got[i], now, err);
        if (!rc && b.len >= SEND_CHUNK)
            rc = send_rows(p, &b, err);
    }
    if (!rc)
        rc = put_be(&b, UINT16_MAX, 2, err); /* the trailer: -1 */
    if (!rc)
        rc = send_rows(p, &b, err);
    pm_buf_free(&b);
    free(now);
    /* ending the COPY, also after a failure, keeps the connection usable
     * (the transaction is not: the caller rolls it back) */
    if (copying &&
        PQputCopyEnd(p->conn, rc ? "pipemend: the quarantined rows could not be sent" : NULL) !=
            1 &&
        !rc)
        rc = pg_error(p, NULL, "cannot send quarantined rows to the server", err);
    while (copying && (res = PQgetResult(p->conn)) != NULL) {
        if (!rc && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_error(p, res, "cannot quarantine rows", err);
        PQclear(res);
    }
    if (!rc && ids)
        memcpy(ids, got, n * sizeof *ids);
    free(got);
    return rc;
}

/* {1,2,3}: a bigint[] literal of v[0..n). */
static pm_code id_array(pm_buf *b, const int64_t *v, size_t n, pm_err *err)
{
    pm_buf_reset(b);
    pm_code rc = pm_buf_putc(b, '{', err);
    for (size_t i = 0; !rc && i < n; i++)
        rc = pm_buf_printf(b, err, "%s%lld", i ? "," : "", (long long)v[i]);
    return rc ? rc : pm_buf_putc(b, '}', err);
}

pm_code pg_incident_link_many(pm_store *s, const int64_t *incident, const int64_t *qrow, size_t n,
                              bool *linked, pm_err *err)
{
    memset(linked, 0, n * sizeof *linked);
    pg *p = pg_of(s);
    pm_buf a, q;
    pm_buf_init(&a, 64u * 1024 * 1024);
    pm_buf_init(&q, 64u * 1024 * 1024);
    pm_code rc = PM_OK;
    for (size_t at = 0; !rc && at < n; at += LINKS_PER_STATEMENT) {
        size_t k = n - at < LINKS_PER_STATEMENT ? n - at : LINKS_PER_STATEMENT;
        rc = id_array(&a, incident + at, k, err);
        if (!rc)
            rc = id_array(&q, qrow + at, k, err);
        const char *params[] = {a.data, q.data};
        PGresult *res = NULL;
        /* only to incidents still active (store_incident_link); the
         * ordinals of the pairs linked come back */
        if (!rc)
            rc = pg_query(p,
                          "WITH u AS (SELECT * FROM unnest(CAST($1 AS bigint[]), CAST($2 AS "
                          "bigint[])) WITH ORDINALITY AS u(incident, qrow, ord)), ins AS (INSERT "
                          "INTO " CAT "_pipemend_incident_rows (incident, qrow) SELECT u.incident, "
                          "u.qrow FROM u JOIN " CAT "_pipemend_incidents i ON i.id = u.incident "
                          "WHERE i.state NOT IN ('resolved', 'dismissed') ON CONFLICT DO NOTHING "
                          "RETURNING incident, qrow) SELECT u.ord FROM u JOIN ins ON ins.incident "
                          "= u.incident AND ins.qrow = u.qrow",
                          2, params, &res, "cannot link quarantined rows to their incidents", err);
        for (int r = 0; !rc && r < PQntuples(res); r++) {
            long long ord = strtoll(PQgetvalue(res, r, 0), NULL, 10);
            if (ord >= 1 && (size_t)ord <= k)
                linked[at + (size_t)ord - 1] = true;
        }
        PQclear(res);
    }
    pm_buf_free(&a);
    pm_buf_free(&q);
    return rc;
}
