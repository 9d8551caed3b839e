/* replay.c - replays a table's quarantine (see replay.h).
 *
 * The original bytes are parsed again with the source's own parser and go
 * through the same drift check and insert as a fresh row, in one
 * transaction with the quarantine removals and an audit event. A CSV row's
 * bytes are one record without the header that named its fields, so CSV
 * rows are skipped (counted) until the header is kept with them. */
#include "pipeline/replay.h"

#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "drift/drift.h"
#include "source/jscan.h"
#include "source/source.h"

pm_code replay_quarantine(pm_store *s, const char *table, const pm_contract *contract,
                          const char *actor, replay_result *res, pm_err *err)
{
    memset(res, 0, sizeof *res);
    pm_arena *a = pm_arena_new(0);
    pm_table *t;
    pm_qrow *rows;
    size_t n;
    pm_code rc = store_table_load(s, table, a, &t, err);
    if (!rc && !t)
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "pipemend does not know a table \"%s\"", table);
    if (!rc)
        rc = store_begin(s, err);
    if (rc) {
        pm_arena_free(a);
        return rc;
    }
    rc = store_quarantine_list(s, table, 0, 0, a, &rows, &n, err);
    if (!rc)
        rc = store_insert_prepare(s, t, err);
    drift_ctx *dc = drift_ctx_new(a, t, contract);
    pm_arena *row_arena = pm_arena_new(0);
    jscan_opts jo = {0};
    for (size_t i = 0; !rc && i < n; i++) {
        pm_arena_reset(row_arena);
        pm_format fmt;
        if (rows[i].raw_truncated || !source_format_from_path(rows[i].source, &fmt) ||
            fmt != PM_FMT_NDJSON) {
            res->skipped++;
            continue;
        }
        pm_record rec = {.raw = rows[i].raw, .raw_len = rows[i].raw_len};
        if (jscan_record(rows[i].raw, rows[i].raw_len, &jo, row_arena, &rec, NULL) != PM_OK) {
            res->waiting++;
            continue;
        }
        drift_result dr;
        drift_check(dc, &rec, row_arena, &dr);
        if (dr.nfindings) {
            res->waiting++;
            continue;
        }
        pm_err ie;
        pm_code irc = store_insert(s, dr.cells, &ie);
        if (irc == PM_ERR_CONSTRAINT) {
            res->waiting++;
            continue;
        }
        rc = irc ? (*err = ie, irc) : store_quarantine_remove(s, rows[i].id, err);
        if (!rc)
            res->loaded++;
    }
    pm_arena_free(row_arena);
    if (!rc && res->loaded) {
        char subject[160], payload[256];
        snprintf(subject, sizeof subject, "table/%s", table);
        snprintf(payload, sizeof payload,
                 "{\"loaded\":%lld,\"skipped\":%lld,\"version\":%d,\"waiting\":%lld}",
                 (long long)res->loaded, (long long)res->skipped, t->version,
                 (long long)res->waiting);
        rc = audit_append(s, actor, "quarantine.replayed", subject, payload, err);
    }
    if (!rc)
        rc = store_commit(s, err);
    else
        store_rollback(s, NULL);
    pm_arena_free(a);
    return rc;
}
