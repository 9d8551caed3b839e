/* replay.c - replays a table's quarantine (see replay.h).
 *
 * The original bytes are parsed again with the source's own parser (CSV
 * rows with the header that was kept beside them) and go through the same
 * drift check and insert as a fresh row, a page at a time: each page is
 * one transaction with its quarantine removals, the findings of its rows
 * that still wait and an audit event; the last page also settles the
 * incidents. */
#include "heal/replay.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "audit/audit.h"
#include "drift/drift.h"
#include "drift/rename.h"
#include "heal/heal.h"
#include "heal/incident.h"
#include "heal/replan.h"
#include "schema/colname.h"
#include "source/source.h"

/* jscan's keep_whole during a replay: a json column of the table takes
 * its object whole (ingest.c does the same during a run). */
static bool keep_json_column(void *arg, const char *name, size_t len)
{
    const pm_table *t = arg;
    char norm[COLNAME_MAX + 1];
    size_t n = colname_normalise(name, len, norm);
    int c = table_find_field(t, norm, n);
    return c >= 0 && t->cols[c].type.kind == PM_T_JSON;
}

/* replay_parse with the source options opts (NULL: the defaults). */
static bool parse_with(const pm_qrow *q, const pm_source_opts *opts, pm_arena *arena,
                       pm_record *rec)
{
    if (q->raw_truncated)
        return false;
    pm_format fmt = q->header ? PM_FMT_CSV : PM_FMT_NDJSON;
    pm_format by_name;
    if (!q->header && source_format_from_path(q->source, &by_name) && by_name == PM_FMT_CSV)
        return false; /* quarantined before headers were kept */
    pm_source_opts o;
    if (opts)
        o = *opts;
    else
        source_opts_default(&o);
    if (q->delimiter)
        o.delimiter = q->delimiter; /* the one it was read with */
    return source_parse_raw(fmt, q->header, q->header_len, q->raw, q->raw_len, &o, arena, rec,
                            NULL) == PM_OK;
}

bool replay_parse(const pm_qrow *q, pm_arena *arena, pm_record *rec)
{
    return parse_with(q, NULL, arena, rec);
}

/* The incidents of the table and how many rows each had before the
 * replay: only those this replay emptied are resolved by it (an incident
 * another process is still filling keeps its state). */
typedef struct before {
    pm_incident *in;
    size_t n;
} before;

static pm_code settle(pm_store *s, const pm_table *t, const before *b, const char *actor,
                      replay_result *res, pm_arena *a, pm_err *err)
{
    const char *table = t->name;
    pm_incident_filter f = {.table = table, .active_only = true};
    pm_incident *now;
    size_t n;
    pm_code rc = store_incidents_list(s, &f, a, &now, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        pm_incident *in = &now[i];
        int64_t rows_before = 0;
        for (size_t k = 0; k < b->n; k++)
            if (b->in[k].id == in->id)
                rows_before = b->in[k].rows;
        bool repaired = strcmp(in->state, "applied") == 0 || strcmp(in->state, "replayed") == 0;
        if (strcmp(in->state, "applied") == 0)
            rc = incident_move(s, in, INC_REPLAYED, 0, NULL, actor, err);
        if (!rc && in->rows == 0 && (repaired || rows_before > 0)) {
            rc =
                incident_move(s, in, INC_RESOLVED, 0,
                              repaired ? NULL : "its rows loaded after another repair", actor, err);
            if (!rc)
                res->resolved++;
            /* resolved by another path than its plan (the change came
             * from elsewhere): a plan that no longer applies is moot */
            pm_incident_filter same = {.proposal = in->proposal, .active_only = true};
            pm_incident *others;
            size_t nothers = 0;
            bool moot;
            if (!rc && in->proposal && !repaired)
                rc = store_incidents_list(s, &same, a, &others, &nothers, err);
            if (!rc && in->proposal && !repaired && nothers == 0)
                rc = heal_supersede_moot(s, in->proposal, t, &moot, err);
        }
    }
    return rc;
}

/* A row that still does not fit: its findings are restated against the
 * schema of now (when they changed, or when it sits under a resolved
 * incident) and linked to their active incidents. */
static pm_code restate(pm_store *s, const pm_qrow *q, const pm_finding *f, size_t n,
                       incident_cache *cache, int64_t run_id, pm_buf *fj, pm_arena *arena,
                       replay_result *res, pm_err *err)
{
    res->waiting++;
    pm_buf_reset(fj);
    if (drift_findings_json(fj, f, n, NULL) != PM_OK)
        return PM_OK; /* too large to restate: the old findings stay */
    bool stranded = q->status && strcmp(q->status, "stranded") == 0;
    if (!stranded && q->findings && strlen(q->findings) == fj->len &&
        memcmp(q->findings, fj->data, fj->len) == 0)
        return PM_OK; /* nothing new to say about it */
    pm_code rc = store_quarantine_update(s, q->id, drift_kinds_list(f, n, arena),
                                         drift_headline(f, n), fj->data, err);
    if (!rc)
        rc = store_incident_unlink_row(s, q->id, err);
    if (!rc) {
        incident_cache_set_run(cache, run_id ? run_id : q->run_id);
        rc = incident_cache_link(cache, s, q->id, f, n, err);
    }
    return rc;
}

/* The rejected field mappings a replay's rename judgement leaves out. */
typedef struct refusals {
    const pm_table *t;
    const rename_refusal *no;
    size_t n;
} refusals;

/* Restates rows w[0..n) (ascending ids) with their findings f[0..n),
 * after reading what they were quarantined with: one statement for the
 * lot, which a page whose rows all load never runs. */
static pm_code restate_all(pm_store *s, pm_qrow **w, pm_finding **f, const size_t *nf, size_t n,
                           incident_cache *cache, int64_t run_id, pm_buf *fj, pm_arena *a,
                           replay_result *res, pm_err *err)
{
    pm_code rc = n ? store_quarantine_findings(s, w, n, a, err) : PM_OK;
    for (size_t i = 0; !rc && i < n; i++)
        rc = restate(s, w[i], f[i], nf[i], cache, run_id, fj, a, res, err);
    return rc;
}

/* One page of quarantined rows through the validator, then the rows that
 * fit through the loader together; *loaded gets the ids that loaded. */
static pm_code replay_page(pm_store *s, pm_qrow *rows, size_t n, const pm_source_opts *so,
                           drift_ctx *dc, const refusals *rf, incident_cache *cache, int64_t run_id,
                           pm_arena *a, pm_buf *fj, int64_t *loaded, size_t *nloaded,
                           replay_result *res, pm_err *err)
{
    size_t cap = n ? n : 1;
    pm_load_row *load = pm_arena_alloc(a, cap * sizeof *load);
    pm_qrow **from = pm_arena_alloc(a, cap * sizeof *from);
    /* the rows that still do not fit, with their findings of now */
    pm_qrow **wait = pm_arena_alloc(a, cap * sizeof *wait);
    pm_finding **wf = pm_arena_alloc(a, cap * sizeof *wf);
    size_t *wn = pm_arena_alloc(a, cap * sizeof *wn);
    size_t nload = 0, nwait = 0;
    pm_code rc = PM_OK;
    /* The page is judged as a batch is during a run (drift/rename.h): a
     * new field that may be a renamed nullable column keeps its rename
     * finding while it waits. */
    pm_record *recs = pm_arena_alloc(a, cap * sizeof *recs);
    drift_result *drs = pm_arena_alloc(a, cap * sizeof *drs);
    rename_row *rr = pm_arena_alloc(a, cap * sizeof *rr);
    bool *parsed = pm_arena_calloc(a, cap * sizeof *parsed);
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&recs[i], 0, sizeof recs[i]);
        if (!parse_with(&rows[i], so, a, &recs[i]))
            continue;
        parsed[i] = true;
        drift_check(dc, &recs[i], a, &drs[i]);
        rr[nr++] = (rename_row){&recs[i], drs[i].nfindings ? NULL : drs[i].cells, drs[i].findings,
                                drs[i].nfindings};
    }
    rename_pair *pairs;
    size_t np = rf->t ? rename_suspects(rf->t, rr, nr, rf->no, rf->n, a, &pairs) : 0;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (!parsed[i]) {
            res->skipped++;
            continue;
        }
        drift_result dr = drs[i];
        pm_finding *marked;
        size_t nmarked;
        if (np && rename_mark(rf->t, pairs, np, &rr[k], a, &marked, &nmarked)) {
            dr.findings = marked;
            dr.nfindings = nmarked;
        }
        k++;
        if (dr.nfindings) {
            wait[nwait] = &rows[i];
            wf[nwait] = dr.findings;
            wn[nwait++] = dr.nfindings;
            continue;
        }
        from[nload] = &rows[i];
        load[nload++] = (pm_load_row){.cells = dr.cells};
    }
    rc = restate_all(s, wait, wf, wn, nwait, cache, run_id, fj, a, res, err);
    if (!rc && nload)
        rc = store_load(s, load, nload, a, err);
    nwait = 0;
    for (size_t i = 0; !rc && i < nload; i++) {
        if (!load[i].refused) {
            loaded[(*nloaded)++] = from[i]->id;
            res->loaded++;
            continue;
        }
        pm_finding *f = pm_arena_alloc(a, sizeof *f);
        *f = (pm_finding){.kind = FINDING_CONTRACT,
                          .rule = load[i].unique ? "unique" : "database",
                          .message = load[i].unique
                                         ? "a row with the same unique key is already loaded (rule "
                                           "unique)"
                                         : pm_arena_sprintf(a, "the warehouse refused the row: %s",
                                                            load[i].why ? load[i].why : "?")};
        wait[nwait] = from[i];
        wf[nwait] = f;
        wn[nwait++] = 1;
    }
    if (!rc)
        rc = restate_all(s, wait, wf, wn, nwait, cache, run_id, fj, a, res, err);
    return rc;
}

pm_code replay_quarantine(pm_store *s, const char *table, const pm_contract *contract,
                          const char *actor, int64_t run_id, replay_result *res, pm_err *err)
{
    return replay_quarantine_watched(s, table, contract, actor, run_id, NULL, res, err);
}

/* One page's audit event: what this page did (the events of one replay
 * add up to its totals); the last page also says how many incidents the
 * replay resolved. */
static pm_code page_audit(pm_store *s, const char *table, const char *actor, int version,
                          const replay_result *page, bool last, pm_err *err)
{
    if (!page->loaded && !page->resolved)
        return PM_OK;
    char subject[160], payload[256];
    snprintf(subject, sizeof subject, "table/%s", table);
    snprintf(payload, sizeof payload,
             "{\"last\":%s,\"loaded\":%lld,\"resolved\":%lld,\"skipped\":%lld,\"version\":%d,"
             "\"waiting\":%lld}",
             last ? "true" : "false", (long long)page->loaded, (long long)page->resolved,
             (long long)page->skipped, version, (long long)page->waiting);
    return audit_append(s, actor, "quarantine.replayed", subject, payload, err);
}

/* A page whose rows another process took out of quarantine while this one
 * loaded them (a person's discard) is rolled back and read again, at most
 * this many times in a row. */
#define REPLAY_PAGE_RETRIES 5

pm_code replay_quarantine_watched(pm_store *s, const char *table, const pm_contract *contract,
                                  const char *actor, int64_t run_id, const replay_watch *w,
                                  replay_result *res, pm_err *err)
{
    return replay_quarantine_opts(s, table, contract, actor, run_id, w, NULL, res, err);
}

pm_code replay_quarantine_opts(pm_store *s, const char *table, const pm_contract *contract,
                               const char *actor, int64_t run_id, const replay_watch *w,
                               const pm_source_opts *source, replay_result *res, pm_err *err)
{
    memset(res, 0, sizeof *res);
    int64_t total = 0, done = 0;
    pm_arena *a = pm_arena_new(0);
    pm_table *t;
    pm_code rc = store_table_load(s, table, a, &t, err);
    if (!rc && !t)
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "pipemend does not know a table \"%s\"", table);
    if (!rc && w)
        rc = store_quarantine_count(s, table, &total, err);
    if (!rc)
        rc = store_quarantine_stats(s, err);
    /* which incidents had rows before: settle resolves only those this
     * replay emptied */
    before b = {0};
    pm_incident_filter f = {.table = table, .active_only = true};
    if (!rc)
        rc = store_incidents_list(s, &f, a, &b.in, &b.n, err);
    if (rc) {
        pm_arena_free(a);
        return rc;
    }
    /* A watched replay (an MCP call, which reports progress and may be
     * cancelled) is one transaction, as a tool call's act is: a cancel
     * changes nothing. Its pages are 1,000 rows, each a progress report. */
    bool one_tx = w != NULL;
    size_t page = one_tx ? 1000 : store_default_batch(s);
    drift_ctx *dc = drift_ctx_new(a, t, contract);
    refusals rf = {.t = t};
    rename_refusal *no = NULL;
    if (t && replan_rename_refusals(s, table, a, &no, &rf.n, err) != PM_OK)
        rf.t = NULL; /* no judgement rather than one that asks a person again */
    rf.no = no;
    pm_source_opts so;
    if (source)
        so = *source;
    else
        source_opts_default(&so);
    if (t) {
        so.json.keep_whole = keep_json_column;
        so.json.keep_arg = t;
    }
    incident_cache *cache = incident_cache_new(a, table, run_id);
    pm_arena *page_arena = pm_arena_new(0);
    int64_t *loaded = pm_arena_alloc(a, page * sizeof *loaded);
    bool prepared = false;
    int retries = 0;
    pm_buf fj;
    pm_buf_init(&fj, 1 << 20);
    /* Oldest first, the order the rows arrived in, a page at a time, each
     * page its own transaction: the rows that load leave quarantine in the
     * transaction that loads them, so a replay that stops (a kill, a full
     * disk, a watcher) has loaded a prefix exactly once and the next one
     * goes on with the rest; other writers get in between pages; memory
     * stays bounded whatever the quarantine holds. */
    int64_t after = 0;
    if (one_tx)
        rc = store_begin(s, err);
    for (bool more = true; more && !rc;) {
        pm_arena_recycle(page_arena); /* its blocks kept: no fresh pages to fault in */
        replay_result pr = {0};
        pm_qrow *rows = NULL;
        size_t n = 0, nloaded = 0;
        int version = 0;
        rc = one_tx ? PM_OK : store_begin(s, err);
        /* the schema cannot move under a page: a heal of the table waits
         * for its commit, and a page after a heal works on the new
         * version */
        if (!rc)
            rc = store_table_lock(s, table, &version, err);
        if (!rc && version != t->version) {
            pm_table *now = NULL;
            rc = store_table_load(s, table, a, &now, err);
            if (!rc && !now)
                rc = pm_err_set(err, PM_ERR_NOTFOUND, "table \"%s\" was removed during its replay",
                                table);
            if (!rc) {
                t = now;
                so.json.keep_arg = t; /* json columns of the table as it is now */
                drift_ctx_retarget(dc, t);
                if (rf.t)
                    rf.t = t;
                incident_cache_clear(cache);
                prepared = false;
            }
        }
        if (!rc && !prepared)
            rc = store_insert_prepare(s, t, err);
        prepared = !rc;
        if (!rc)
            rc = store_quarantine_page(s, table, after, (int)page, page_arena, &rows, &n, err);
        more = !rc && n == page;
        if (!rc && n)
            rc = replay_page(s, rows, n, &so, dc, &rf, cache, run_id, page_arena, &fj, loaded,
                             &nloaded, &pr, err);
        /* a page that loaded whole leaves as one range of ids */
        int64_t removed = 0;
        if (!rc && nloaded && nloaded == n)
            rc = store_quarantine_remove_range(s, table, rows[0].id, rows[n - 1].id, &removed, err);
        else if (!rc && nloaded)
            rc = store_quarantine_remove_many(s, loaded, nloaded, &removed, err);
        if (!rc && removed != (int64_t)nloaded) {
            /* another process took some of these rows out of quarantine
             * while this page loaded them: undo the page and read it again */
            store_rollback(s, NULL);
            incident_cache_clear(cache);
            if (one_tx || ++retries > REPLAY_PAGE_RETRIES) {
                rc = pm_err_set(err, PM_ERR_BUSY,
                                "the quarantine of \"%s\" keeps changing under its replay", table);
                pm_err_hint(err, "the rows loaded so far stay loaded; replay again later");
                break;
            }
            more = true;
            continue;
        }
        retries = 0;
        /* the watcher sees each page before it commits: a stop (a client
         * that cancelled) rolls this page back, the pages before stay */
        if (!rc && w && n &&
            !w->page(w->arg, done + (int64_t)n,
                     total > done + (int64_t)n ? total : done + (int64_t)n)) {
            store_rollback(s, NULL);
            rc = pm_err_set(err, PM_ERR_BUSY,
                            "the replay of \"%s\" was stopped after %lld rows (%lld loaded)", table,
                            (long long)done, (long long)res->loaded);
            pm_err_hint(err, "the rows loaded before stay loaded and left quarantine; replay "
                             "again to go on with the rest");
            break;
        }
        if (!rc && !more)
            rc = settle(s, t, &b, actor, &pr, a, err);
        if (!rc)
            rc = page_audit(s, table, actor, t->version, &pr, !more, err);
        if (!rc && (!one_tx || !more))
            rc = store_commit(s, err);
        if (rc) {
            store_rollback(s, NULL);
            break;
        }
        if (n)
            after = rows[n - 1].id;
        res->loaded += pr.loaded;
        res->waiting += pr.waiting;
        res->skipped += pr.skipped;
        res->resolved += pr.resolved;
        done += (int64_t)n;
    }
    pm_buf_free(&fj);
    pm_arena_free(page_arena);
    pm_arena_free(a);
    return rc;
}
