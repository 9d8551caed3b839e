/* heal.c - propose, dry-run, apply, reject, dismiss (see heal.h). */
#include "heal/heal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/buf.h"
#include "drift/drift.h"
#include "heal/guard.h"
#include "heal/incident.h"
#include "heal/replan.h"
#include "heal/replay.h"

/* ---- the sandbox --------------------------------------------------------- */

#define DRY_RUN_REASONS 5

/* Widenings that change existing values (int64 -> float64 rounds
 * integers beyond 2^53, timestamp -> timestamptz reads each value in the
 * session's zone) are reviewable, and the person deciding must see what
 * they would do: per such op, how many rows and a few values before and
 * after. NULL when no op changes a value. */
#define VALUE_CHANGE_SAMPLES 5

static json_t *value_changes(pm_store *s, const pm_table *from, const pm_op *ops, size_t n,
                             pm_arena *a)
{
    json_t *all = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind != OP_WIDEN_COLUMN || !ops[i].column)
            continue;
        int ci = table_find(from, ops[i].column, strlen(ops[i].column));
        if (ci < 0)
            continue;
        pm_type was = from->cols[ci].type;
        pm_value_change *vc;
        size_t nvc;
        int64_t rows;
        pm_err e;
        if (store_widen_changes(s, from->name, ops[i].column, was, ops[i].type,
                                VALUE_CHANGE_SAMPLES, a, &vc, &nvc, &rows, &e) != PM_OK) {
            pm_warn("cannot tell which values of %s.%s the widening changes: %s", from->name,
                    ops[i].column, e.msg);
            continue;
        }
        if (!rows)
            continue;
        char b1[TYPE_NAME_MAX], b2[TYPE_NAME_MAX];
        json_t *samples = json_array();
        for (size_t k = 0; k < nvc; k++)
            json_array_append_new(
                samples, json_pack("{s:s, s:s}", "before", vc[k].before, "after", vc[k].after));
        const char *note =
            was.kind == PM_T_INT64
                ? "float64 holds integers exactly only up to 2^53: these values are rounded"
                : "each value without a zone is read in the session's time zone (UTC on SQLite) "
                  "and keeps that instant from then on";
        if (!all)
            all = json_array();
        json_array_append_new(all, json_pack("{s:s, s:s, s:s, s:I, s:o, s:s}", "column",
                                             ops[i].column, "from", type_name(was, b1), "to",
                                             type_name(ops[i].type, b2), "rows", (json_int_t)rows,
                                             "samples", samples, "note", note));
    }
    return all;
}

/* ---- dependents ----------------------------------------------------------- */

/* What depends on the columns the ops change (store_table_dependents), as
 * recorded on the proposal: whoever decides sees the blast radius. */
static json_t *dependents_json(const pm_dependent *d, size_t n)
{
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *one = json_pack("{s:s, s:s, s:s}", "kind", d[i].kind, "name", d[i].name, "action",
                                d[i].action);
        json_object_set_new(one, "column", d[i].column ? json_string(d[i].column) : json_null());
        json_object_set_new(one, "note", d[i].note ? json_string(d[i].note) : json_null());
        json_array_append_new(all, one);
    }
    return all;
}

/* A retype (op.h) changes a column's type in place: whoever decides must
 * see what that costs, per such op the table's rows and size and the lock
 * the apply holds while it copies them. NULL when no op retypes. */
static json_t *rewrites(pm_store *s, const pm_table *from, const pm_op *ops, size_t n)
{
    json_t *all = NULL;
    pm_rewrite_cost cost;
    bool measured = false;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind != OP_RETYPE_COLUMN || !ops[i].column)
            continue;
        int ci = table_find(from, ops[i].column, strlen(ops[i].column));
        if (ci < 0)
            continue;
        pm_err e;
        if (!measured && store_rewrite_cost(s, from->name, &cost, &e) != PM_OK) {
            pm_warn("cannot tell what retyping a column of %s costs: %s", from->name, e.msg);
            return all;
        }
        measured = true;
        char b1[TYPE_NAME_MAX], b2[TYPE_NAME_MAX];
        bool to_text = ops[i].type.kind == PM_T_TEXT;
        if (!all)
            all = json_array();
        json_array_append_new(
            all, json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "column", ops[i].column,
                           "from", type_name(from->cols[ci].type, b1), "to",
                           type_name(ops[i].type, b2), "rows", (json_int_t)cost.rows, "bytes",
                           (json_int_t)cost.bytes, "lock", cost.lock, "note", cost.note, "values",
                           to_text ? "each value becomes its exact decimal text (7 -> '7', "
                                     "1.5 -> '1.5'); nothing is rounded"
                                   : "each value is parsed (ISO 8601, or the op's format) and "
                                     "stored as a date/time; one that does not parse stops "
                                     "the apply"));
    }
    return all;
}

/* Marks refused[k] for each op whose column has a dependent the apply
 * would have to refuse (every op of that column goes with it: a mapping
 * or coercion waits for its column's change); returns how many. */
static size_t ops_refused(const pm_op *ops, size_t n, const pm_dependent *d, size_t nd,
                          bool *refused)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        refused[i] = false;
        for (size_t j = 0; j < nd && !refused[i]; j++)
            refused[i] = ops[i].column && d[j].column && strcmp(d[j].action, "refused") == 0 &&
                         strcmp(d[j].column, ops[i].column) == 0;
        k += refused[i];
    }
    return k;
}

/* The sentence that says why the refused dependents stop the change and
 * what a person can do, or NULL when none does. */
static const char *refusal(const pm_table *t, const pm_dependent *d, size_t nd, pm_arena *a)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    size_t k = 0;
    for (size_t i = 0; i < nd; i++) {
        if (strcmp(d[i].action, "refused") != 0)
            continue;
        pm_buf_printf(&b, NULL, "%s%s on column %s (%s)", k++ ? "; " : "", d[i].name,
                      d[i].column ? d[i].column : "?", d[i].note ? d[i].note : "");
    }
    const char *out =
        k ? pm_arena_sprintf(a,
                             "%s of %s %s in the way of the change: %s. Drop or change %s, apply "
                             "the proposal, then create %s again; or reject the proposal (its "
                             "rows stay in quarantine)",
                             k == 1 ? "an object" : "objects", t->name, k == 1 ? "stands" : "stand",
                             b.data, k == 1 ? "it" : "them", k == 1 ? "it" : "them")
          : NULL;
    pm_buf_free(&b);
    return out;
}

pm_code heal_dry_run(heal_ctx *c, const pm_table *from, const pm_op *ops, size_t n,
                     const pm_record *recs, size_t nrecs, pm_arena *arena, heal_dry_run_result *out,
                     pm_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *reasons = json_array();
    pm_table *to = NULL;
    pm_err oe;
    bool applied = false;
    pm_dependent *deps = NULL;
    size_t ndeps = 0;
    if (store_table_dependents(c->store, from, ops, n, arena, &deps, &ndeps, &oe) != PM_OK) {
        pm_warn("cannot tell what depends on %s: %s", from->name, oe.msg);
        ndeps = 0;
    }
    const char *refused = refusal(from, deps, ndeps, arena);
    if (op_result(from, ops, n, arena, &to, &oe) != PM_OK) {
        out->error = pm_arena_strdup(arena, oe.msg);
    } else if (refused) {
        out->error = refused;
    } else if (store_sandbox_begin(c->store, from, ops, n, to, HEAL_DRY_RUN_ROWS, &out->sample_rows,
                                   &oe) != PM_OK) {
        out->error = pm_arena_sprintf(arena, "the ops do not apply to %s: %s", from->name, oe.msg);
    } else {
        applied = true;
        drift_ctx *dc = drift_ctx_new(arena, to, c->contract);

        /* the sample's findings first, then the rows without any into the
         * clone at once, then the outcome row by row in the sample's order */
        pm_arena *ra = pm_arena_new(0);
        size_t m = nrecs < HEAL_DRY_RUN_ROWS ? nrecs : HEAL_DRY_RUN_ROWS;
        const char **why = pm_arena_alloc(ra, (m ? m : 1) * sizeof *why);
        pm_load_row *load = pm_arena_alloc(ra, (m ? m : 1) * sizeof *load);
        size_t *load_at = pm_arena_alloc(ra, (m ? m : 1) * sizeof *load_at);
        size_t nload = 0;
        for (size_t i = 0; i < m; i++) {
            drift_result dr;
            drift_check(dc, &recs[i], ra, &dr);
            /* Fixed: no finding left about a column the ops touch (a
             * coercion that turns a format finding into a type conflict
             * fixes nothing). */
            bool answered = true;
            for (size_t f = 0; f < dr.nfindings && answered; f++)
                for (size_t k = 0; k < n && answered; k++)
                    if (dr.findings[f].column && ops[k].column &&
                        strcmp(dr.findings[f].column, ops[k].column) == 0)
                        answered = false;
            if (answered)
                out->fixed++;
            why[i] = dr.nfindings ? drift_headline(dr.findings, dr.nfindings) : NULL;
            if (!dr.nfindings) {
                load[nload] = (pm_load_row){.cells = dr.cells};
                load_at[nload++] = i;
            }
        }
        pm_err ie;
        if (nload && store_sandbox_load(c->store, load, nload, ra, &ie) != PM_OK) {
            /* a failure that is no row's refusal (a CHECK that raises, a
             * value the server cannot take): row by row, so that it is
             * the failing rows' alone */
            for (size_t k = 0; k < nload; k++) {
                load[k].refused = false;
                load[k].why = NULL;
                if (store_sandbox_load(c->store, &load[k], 1, ra, &ie) != PM_OK) {
                    load[k].refused = true;
                    load[k].why = pm_arena_strdup(ra, ie.msg);
                }
            }
        }
        for (size_t k = 0; k < nload; k++)
            if (load[k].refused)
                why[load_at[k]] = load[k].why ? load[k].why : "refused";
        for (size_t i = 0; i < m; i++) {
            out->rows++;
            if (!why[i]) {
                out->would_load++;
                continue;
            }
            out->would_fail++;
            size_t k;
            json_t *r;
            bool seen = false;
            json_array_foreach(reasons, k, r)
            {
                if (strcmp(json_string_value(json_object_get(r, "message")), why[i]) == 0) {
                    json_t *cnt = json_object_get(r, "count");
                    json_integer_set(cnt, json_integer_value(cnt) + 1);
                    seen = true;
                    break;
                }
            }
            if (!seen && json_array_size(reasons) < DRY_RUN_REASONS)
                json_array_append_new(reasons,
                                      json_pack("{s:s, s:I}", "message", why[i], "count", 1));
        }
        pm_arena_free(ra);
    }
    store_sandbox_end(c->store);
    /* A dry run fails when the ops cannot be applied, or when there were
     * rows to fix and the ops fix the finding of none of them. A row may
     * still wait for another repair (a new field beside a widening): it
     * counts as fixed, not as loaded. */
    out->ok = applied && (out->rows == 0 || out->fixed > 0);
    if (applied && !out->ok)
        out->error = "the ops fix the finding of none of the incident's rows";
    json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "ok", out->ok, "sample_rows",
                          (json_int_t)out->sample_rows, "rows", (json_int_t)out->rows, "fixed",
                          (json_int_t)out->fixed, "would_load", (json_int_t)out->would_load,
                          "would_fail", (json_int_t)out->would_fail, "failures", reasons);
    json_object_set_new(j, "error", out->error ? json_string(out->error) : json_null());
    if (ndeps)
        json_object_set_new(j, "dependents", dependents_json(deps, ndeps));
    if (applied) {
        json_t *vc = value_changes(c->store, from, ops, n, arena);
        if (vc)
            json_object_set_new(j, "value_changes", vc);
        json_t *rw = rewrites(c->store, from, ops, n);
        if (rw)
            json_object_set_new(j, "rewrite", rw);
    }
    out->json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    (void)err;
    return PM_OK;
}

/* ---- helpers -------------------------------------------------------------- */

static pm_code load_proposal(pm_store *s, int64_t id, pm_arena *a, pm_proposal *out, pm_err *err)
{
    pm_proposal *ps;
    size_t n;
    pm_code rc = store_proposals_list(s, NULL, NULL, id, a, &ps, &n, err);
    if (rc)
        return rc;
    if (n != 1)
        return pm_err_set(err, PM_ERR_NOTFOUND, "no proposal %lld", (long long)id),
               pm_err_hint(err, "see pipemend proposals list"), PM_ERR_NOTFOUND;
    *out = ps[0];
    if (out->state == PROP_APPLIED) {
        /* Applied already (by this person earlier, or another approval
         * that won): say by whom, and whether its replay is done. */
        pm_err_set(err, PM_ERR_USAGE, "proposal %lld is applied, not pending: %s applied it at %s",
                   (long long)id, out->decided_by ? out->decided_by : "?",
                   out->decided_at ? out->decided_at : "?");
        heal_pending *hp;
        size_t nhp = 0;
        pm_err ignore;
        if (heal_replay_pending(s, out->table, a, &hp, &nhp, &ignore) == PM_OK && nhp)
            pm_err_hint(err,
                        "its replay did not reach the end: pipemend quarantine replay --table %s "
                        "finishes it (so does the next run of %s)",
                        out->table, out->table);
        else
            pm_err_hint(err, "nothing is left to do for it; pipemend incidents list shows what "
                             "is still open");
        return PM_ERR_USAGE;
    }
    if (out->state != PROP_PENDING) {
        pm_err_set(err, PM_ERR_USAGE, "proposal %lld is %s, not pending", (long long)id,
                   proposal_state_name(out->state));
        if (out->state == PROP_SUPERSEDED)
            pm_err_hint(err, "its change was made another way (pipemend audit log shows how and "
                             "why it was superseded); nothing is left to do for it");
        return PM_ERR_USAGE;
    }
    return PM_OK;
}

static pm_code proposal_incidents(pm_store *s, int64_t proposal, pm_arena *a, pm_incident **out,
                                  size_t *n, pm_err *err)
{
    pm_incident_filter f = {.active_only = true, .proposal = proposal};
    return store_incidents_list(s, &f, a, out, n, err);
}

/* Moves every incident in[0..n) that can make the move; the others (one
 * already applied by another proposal, say) keep their state. */
static pm_code move_all(pm_store *s, pm_incident *in, size_t n, pm_incident_state to,
                        int64_t proposal, const char *note, const char *actor, pm_err *err)
{
    pm_code rc = PM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        pm_incident_state from;
        if (!incident_state_parse(in[i].state, &from))
            continue;
        /* A proposal whose dry run failed once (a value the retype could
         * not read, since fixed) and passes now: planned again, then
         * applied, as the diagram goes. */
        if (from == INC_DRY_RUN_FAILED && to == INC_APPLIED) {
            rc = incident_move(s, &in[i], INC_PLANNED, proposal, NULL, actor, err);
            from = INC_PLANNED;
        }
        if (!rc && (from == to || incident_can_move(from, to)))
            rc = incident_move(s, &in[i], to, proposal, note, actor, err);
    }
    return rc;
}

/* The quarantined rows of the proposal's incidents, parsed, after the
 * records given (up to HEAL_DRY_RUN_ROWS in all). */
static pm_code dry_run_records(pm_store *s, const pm_incident *in, size_t nin,
                               const pm_record *recs, size_t nrecs, pm_arena *a, pm_record **out,
                               size_t *n, pm_err *err)
{
    size_t cap = HEAL_DRY_RUN_ROWS;
    *out = pm_arena_alloc(a, cap * sizeof **out);
    *n = 0;
    for (size_t i = 0; i < nrecs && *n < cap; i++)
        (*out)[(*n)++] = recs[i];
    for (size_t k = 0; k < nin && *n < cap; k++) {
        pm_qrow *rows;
        size_t nr;
        /* the newest rows: the drift the plan was made for, not rows older
         * repairs left behind */
        pm_code rc = store_incident_rows(s, in[k].id, true, (int)(cap - *n), a, &rows, &nr, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < nr && *n < cap; i++) {
            pm_record rec = {0};
            if (replay_parse(&rows[i], a, &rec))
                (*out)[(*n)++] = rec;
        }
    }
    return PM_OK;
}

static const pm_table *lookup_one(void *arg, const char *name)
{
    const pm_table *t = arg;
    return t && strcmp(t->name, name) == 0 ? t : NULL;
}

pm_code heal_supersede_moot(pm_store *s, int64_t id, const pm_table *now, bool *superseded,
                            pm_err *err)
{
    *superseded = false;
    pm_arena *a = pm_arena_new(0);
    pm_proposal *ps;
    size_t np;
    pm_op *ops;
    size_t n;
    pm_code rc = store_proposals_list(s, NULL, NULL, id, a, &ps, &np, err);
    if (!rc && np == 1 && ps[0].state == PROP_PENDING && strcmp(ps[0].table, now->name) == 0 &&
        (rc = ops_from_json(ps[0].ops, a, &ops, &n, err)) == PM_OK) {
        const char *allowed[] = {now->name};
        guard_ctx g = {.allowed_tables = allowed,
                       .nallowed = 1,
                       .lookup = lookup_one,
                       .lookup_arg = (void *)now};
        size_t bad;
        pm_err why = {0};
        if (guard_check_ops(&g, ops, n, &bad, &why) != PM_OK) {
            char subject[64];
            snprintf(subject, sizeof subject, "proposal/%lld", (long long)id);
            rc = store_proposal_decide(s, id, PROP_SUPERSEDED, "rules", err);
            json_t *j = json_pack("{s:s, s:i, s:s}", "table", now->name, "version", now->version,
                                  "reason", why.msg);
            char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(j);
            if (!rc)
                rc = audit_append(s, "engine", "proposal.superseded", subject, text, err);
            free(text);
            *superseded = !rc;
        }
    }
    pm_arena_free(a);
    return rc;
}

static char *ops_described(const pm_op *ops, size_t n, pm_arena *a)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < n; i++)
        pm_buf_printf(&b, NULL, "%s%s", i ? "; " : "", op_describe(&ops[i], a));
    char *s = pm_arena_strdup(a, b.data ? b.data : "");
    pm_buf_free(&b);
    return s;
}

static bool all_apply(const heal_ctx *c, const pm_op *ops, size_t n, const pm_table *t)
{
    for (size_t i = 0; i < n; i++) {
        pm_decision d = policy_decide_op(c->policy, &ops[i], t);
        if (d == DECIDE_REJECT || (d == DECIDE_HOLD && !c->human))
            return false;
    }
    return true;
}

pm_code heal_dry_run_proposal(heal_ctx *c, int64_t id, pm_arena *a, heal_dry_run_result *out,
                              pm_err *err)
{
    pm_store *s = c->store;
    memset(out, 0, sizeof *out);
    pm_proposal p;
    pm_op *ops = NULL;
    size_t n = 0, nins = 0, ndr = 0;
    pm_table *t = NULL;
    pm_incident *ins = NULL;
    pm_record *dr = NULL;
    pm_code rc = load_proposal(s, id, a, &p, err);
    if (!rc)
        rc = ops_from_json(p.ops, a, &ops, &n, err);
    if (!rc)
        rc = store_table_load(s, p.table, a, &t, err);
    if (!rc && !t)
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "table %s no longer exists", p.table);
    if (!rc)
        rc = proposal_incidents(s, id, a, &ins, &nins, err);
    if (!rc)
        rc = dry_run_records(s, ins, nins, NULL, 0, a, &dr, &ndr, err);
    if (!rc)
        rc = heal_dry_run(c, t, ops, n, dr, ndr, a, out, err);
    if (!rc)
        rc = store_begin(s, err);
    if (!rc)
        rc = store_proposal_set_dry_run(s, id, out->json, err);
    if (!rc) {
        char subject[64];
        snprintf(subject, sizeof subject, "proposal/%lld", (long long)id);
        json_t *pj = json_pack("{s:s, s:b, s:I, s:I, s:I}", "table", p.table, "ok", out->ok, "rows",
                               (json_int_t)out->rows, "would_load", (json_int_t)out->would_load,
                               "would_fail", (json_int_t)out->would_fail);
        char *text = json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(pj);
        rc = audit_append(s, c->actor, "proposal.dry_run", subject, text, err);
        free(text);
    }
    rc = rc ? rc : store_commit(s, err);
    if (rc) {
        store_rollback(s, NULL);
        free(out->json);
        out->json = NULL;
    }
    return rc;
}

/* ---- propose ---------------------------------------------------------- */

pm_code heal_propose(heal_ctx *c, const pm_table *t, const pm_op *ops, size_t n,
                     const char *const *why, const pm_record *recs, size_t nrecs, int64_t *proposal,
                     bool *created, pm_err *err)
{
    pm_store *s = c->store;
    *created = false;
    *proposal = 0;
    pm_arena *a = pm_arena_new(0);
    char *text = ops_to_json(ops, n);
    json_t *jwhy = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(jwhy, json_string(why && why[i] ? why[i] : ""));
    char *why_text = json_dumps(jwhy, JSON_COMPACT);
    json_decref(jwhy);
    int64_t *inc = pm_arena_alloc(a, n * sizeof *inc);
    pm_code rc = store_begin(s, err);
    for (size_t i = 0; !rc && i < n; i++) {
        pm_incident in = {.table = t->name,
                          .column = ops[i].column ? ops[i].column : "",
                          .kind = drift_kind_name(incident_kind_for_op(&ops[i])),
                          .run_id = c->run_id,
                          .message = why && why[i] ? why[i] : op_describe(&ops[i], a)};
        bool opened;
        rc = store_incident_open(s, &in, &inc[i], &opened, err);
        if (!rc && opened) {
            char subject[64];
            snprintf(subject, sizeof subject, "incident/%lld", (long long)inc[i]);
            json_t *p =
                json_pack("{s:s, s:s, s:s, s:I, s:s}", "table", in.table, "column", in.column,
                          "kind", in.kind, "run", (json_int_t)c->run_id, "message", in.message);
            char *ptext = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(p);
            rc = audit_append(s, c->actor, "incident.open", subject, ptext, err);
            free(ptext);
        }
    }
    pm_policy deciding;
    if (c->policy)
        deciding = *c->policy;
    else
        policy_default(&deciding);
    char *policy_text = policy_to_json(&deciding, c->policy_source);
    pm_proposal p = {.table = t->name,
                     .run_id = c->run_id,
                     .incident = n ? inc[0] : 0,
                     .version = t->version,
                     .ops = text,
                     .why = why_text,
                     .policy = policy_text};
    if (!rc)
        rc = store_proposal_add(s, &p, proposal, created, err);
    free(policy_text);
    pm_incident *ins = NULL;
    size_t nins = 0;
    if (!rc && *created) {
        char subject[64];
        snprintf(subject, sizeof subject, "proposal/%lld", (long long)*proposal);
        json_t *pj =
            json_pack("{s:s, s:I, s:i, s:s, s:I}", "table", t->name, "run", (json_int_t)c->run_id,
                      "version", t->version, "ops", text, "incident", (json_int_t)p.incident);
        char *ptext = json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(pj);
        rc = audit_append(s, c->actor, "proposal.created", subject, ptext, err);
        free(ptext);
        /* the incidents' latest plan is this proposal */
        for (size_t i = 0; !rc && i < n; i++) {
            pm_incident *one;
            size_t k;
            pm_incident_filter f = {.id = inc[i]};
            rc = store_incidents_list(s, &f, a, &one, &k, err);
            if (!rc && k == 1)
                rc = move_all(s, one, 1, INC_PLANNED, *proposal, NULL, c->actor, err);
        }
        if (!rc)
            rc = proposal_incidents(s, *proposal, a, &ins, &nins, err);
    }
    rc = rc ? rc : store_commit(s, err);
    if (rc)
        store_rollback(s, NULL);
    /* What the policy holds for a person is tried in the sandbox now, so
     * that whoever decides sees what it would do. */
    if (!rc && *created && !all_apply(c, ops, n, t)) {
        pm_record *dr;
        size_t ndr;
        heal_dry_run_result res = {0};
        rc = dry_run_records(s, ins, nins, recs, nrecs, a, &dr, &ndr, err);
        if (!rc)
            rc = heal_dry_run(c, t, ops, n, dr, ndr, a, &res, err);
        if (!rc)
            rc = store_begin(s, err);
        if (!rc)
            rc = store_proposal_set_dry_run(s, *proposal, res.json, err);
        if (!rc)
            rc = move_all(s, ins, nins, res.ok ? INC_AWAITING_APPROVAL : INC_DRY_RUN_FAILED, 0,
                          res.ok ? NULL : res.error, c->actor, err);
        rc = rc ? rc : store_commit(s, err);
        if (rc)
            store_rollback(s, NULL);
        free(res.json);
    }
    free(text);
    free(why_text);
    pm_arena_free(a);
    return rc;
}

/* ---- apply ------------------------------------------------------------ */

/* Inside the caller's transaction: takes the table's migration lock and
 * says whether the table moved past version since the plan was looked at
 * (another approval, another worker's heal). */
static pm_code table_moved(pm_store *s, const pm_table *t, bool *moved, pm_err *err)
{
    int now = 0;
    pm_code rc = store_table_lock(s, t->name, &now, err);
    *moved = !rc && now != t->version;
    return rc;
}

/* What a loser of a race is told (after its rollback): the proposal was
 * applied by another approval, or the table moved under another repair.
 * Never moves an incident: the winner decided them. */
static pm_code lost_race(pm_store *s, int64_t id, const pm_table *t, pm_arena *a, pm_err *err)
{
    pm_proposal *ps;
    size_t n = 0;
    pm_err ignore;
    if (store_proposals_list(s, NULL, NULL, id, a, &ps, &n, &ignore) == PM_OK && n == 1 &&
        ps[0].state == PROP_APPLIED) {
        pm_err_set(err, PM_ERR_BUSY,
                   "proposal %lld was applied by another approval (%s, at %s) while this one "
                   "was checking it",
                   (long long)id, ps[0].decided_by ? ps[0].decided_by : "?",
                   ps[0].decided_at ? ps[0].decided_at : "?");
        pm_err_hint(err, "nothing is left to do for it: pipemend incidents list shows its "
                         "incidents");
        return PM_ERR_BUSY;
    }
    pm_table *now = NULL;
    int version = 0;
    if (store_table_load(s, t->name, a, &now, &ignore) == PM_OK && now)
        version = now->version;
    if (version == t->version)
        return err && err->code ? err->code : PM_ERR_BUSY; /* no race lost: the error stands */
    pm_err_set(err, PM_ERR_BUSY,
               "%s changed since the plan was made: another repair applied schema version %d "
               "(planned against %d)",
               t->name, version, t->version);
    pm_err_hint(err,
                "proposal %lld is still pending: plan again against the current schema, or "
                "reject it if the other repair answered it",
                (long long)id);
    return PM_ERR_BUSY;
}

pm_code heal_auto_columns_used(pm_store *s, const char *table, int *used, pm_err *err)
{
    *used = 0;
    time_t since = time(NULL) - 24 * 3600;
    struct tm tm;
    gmtime_r(&since, &tm);
    char cutoff[32];
    strftime(cutoff, sizeof cutoff, "%Y-%m-%dT%H:%M:%S", &tm);
    pm_arena *a = pm_arena_new(0);
    pm_proposal *ps;
    size_t n;
    pm_proposal_state applied = PROP_APPLIED;
    pm_code rc = store_proposals_list(s, table, &applied, 0, a, &ps, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!ps[i].decided_by || strncmp(ps[i].decided_by, "human:", 6) == 0 || !ps[i].decided_at ||
            strcmp(ps[i].decided_at, cutoff) < 0)
            continue;
        json_t *ops = json_loads(ps[i].ops, 0, NULL);
        size_t k;
        json_t *op;
        json_array_foreach(ops, k, op)
        {
            const char *kind = json_string_value(json_object_get(op, "op"));
            if (kind && strcmp(kind, "add_column") == 0)
                (*used)++;
        }
        json_decref(ops);
    }
    pm_arena_free(a);
    return rc;
}

/* Splits pending proposal p, whose ops refused[] cannot apply while
 * dependents of their columns stand (ops_refused), in one transaction:
 * p is superseded by two proposals, one with the other ops (*free_id,
 * applied next by the caller) and one with the refused ops, which waits
 * with its dry run failed and the reason; each incident follows the
 * proposal of its column. Audited as proposal.split. */
static pm_code split_refused(heal_ctx *c, const pm_proposal *p, const pm_table *t, const pm_op *ops,
                             size_t n, const bool *refused, const char *reason,
                             const pm_dependent *deps, size_t ndeps, pm_incident *ins, size_t nins,
                             pm_arena *a, int64_t *free_id, pm_err *err)
{
    pm_store *s = c->store;
    json_t *why = p->why ? json_loads(p->why, 0, NULL) : NULL;
    pm_op *fo = pm_arena_alloc(a, n * sizeof *fo), *ro = pm_arena_alloc(a, n * sizeof *ro);
    json_t *fw = json_array(), *rw = json_array(), *rd = json_array();
    size_t nf = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        const char *w = json_string_value(json_array_get(why, i));
        if (refused[i]) {
            ro[nr++] = ops[i];
            json_array_append_new(rd, json_string(op_describe(&ops[i], a)));
        } else {
            fo[nf++] = ops[i];
        }
        json_array_append_new(refused[i] ? rw : fw, json_string(w ? w : ""));
    }
    json_decref(why);
    char *ftext = ops_to_json(fo, nf), *rtext = ops_to_json(ro, nr);
    char *fwhy = json_dumps(fw, JSON_COMPACT), *rwhy = json_dumps(rw, JSON_COMPACT);
    json_decref(fw);
    json_decref(rw);
    pm_proposal fp = {.table = p->table,
                      .run_id = c->run_id ? c->run_id : p->run_id,
                      .version = t->version,
                      .ops = ftext,
                      .why = fwhy,
                      .policy = p->policy},
                rp = fp;
    rp.ops = rtext;
    rp.why = rwhy;
    for (size_t i = 0; i < nins; i++) {
        bool r = false;
        for (size_t k = 0; k < n && !r; k++)
            r = refused[k] && ops[k].column && strcmp(ops[k].column, ins[i].column) == 0;
        if (r && !rp.incident)
            rp.incident = ins[i].id;
        else if (!r && !fp.incident)
            fp.incident = ins[i].id;
    }
    int64_t rid = 0;
    bool created;
    pm_code rc = store_begin(s, err);
    if (!rc)
        rc = store_proposal_decide(s, p->id, PROP_SUPERSEDED, c->actor, err);
    if (!rc)
        rc = store_proposal_add(s, &fp, free_id, &created, err);
    if (!rc)
        rc = store_proposal_add(s, &rp, &rid, &created, err);
    for (size_t i = 0; !rc && i < nins; i++) {
        bool r = false;
        for (size_t k = 0; k < n && !r; k++)
            r = refused[k] && ops[k].column && strcmp(ops[k].column, ins[i].column) == 0;
        pm_incident_state st;
        /* (one that failed a dry run already only follows its proposal) */
        if (r && incident_state_parse(ins[i].state, &st) && st != INC_DRY_RUN_FAILED &&
            incident_can_move(st, INC_DRY_RUN_FAILED))
            rc = incident_move(s, &ins[i], INC_DRY_RUN_FAILED, rid, reason, c->actor, err);
        else
            rc = store_incident_set(s, ins[i].id, ins[i].state, r ? rid : *free_id,
                                    r ? reason : NULL, NULL, err);
    }
    if (!rc) {
        json_t *dj =
            json_pack("{s:b, s:i, s:i, s:i, s:i, s:i, s:[], s:s, s:o}", "ok", 0, "sample_rows", 0,
                      "rows", 0, "fixed", 0, "would_load", 0, "would_fail", 0, "failures", "error",
                      reason, "dependents", dependents_json(deps, ndeps));
        char *dtext = json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(dj);
        rc = store_proposal_set_dry_run(s, rid, dtext, err);
        free(dtext);
    }
    if (!rc) {
        char subject[64];
        snprintf(subject, sizeof subject, "proposal/%lld", (long long)p->id);
        json_t *pj = json_pack("{s:s, s:I, s:I, s:I, s:o, s:s}", "table", p->table, "proposal",
                               (json_int_t)p->id, "applies", (json_int_t)*free_id, "waits",
                               (json_int_t)rid, "refused", rd, "reason", reason);
        rd = NULL;
        char *text = json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(pj);
        rc = audit_append(s, c->actor, "proposal.split", subject, text, err);
        free(text);
    }
    json_decref(rd);
    rc = rc ? rc : store_commit(s, err);
    if (rc)
        store_rollback(s, NULL);
    else
        pm_warn("proposal %lld split: %s; proposal %lld waits for that, proposal %lld goes on",
                (long long)p->id, reason, (long long)rid, (long long)*free_id);
    free(ftext);
    free(rtext);
    free(fwhy);
    free(rwhy);
    return rc;
}

pm_code heal_apply(heal_ctx *c, int64_t id, bool replay, heal_outcome *out, pm_err *err)
{
    heal_ctx *asked = c;
    pm_store *s = c->store;
    memset(out, 0, sizeof *out);
    double t0 = pm_clock_ms();
    pm_arena *a = pm_arena_new(0);
    pm_proposal p;
    pm_table *t = NULL, *to = NULL;
    pm_op *ops = NULL;
    size_t n = 0;
    pm_incident *ins = NULL;
    size_t nins = 0;
    pm_code rc = load_proposal(s, id, a, &p, err);
    /* A decision outside a run (apply_fix, approve) is never looser than
     * the policy the proposal was made under: a fix a `review` run held is
     * not applied by a process started without that configuration (an MCP
     * server given only --db, say). A run decides by its own policy, which
     * its operator chose for it (a run under auto heals what an earlier
     * frozen run held). */
    heal_ctx strict = *c;
    pm_policy eff, recorded;
    if (c->policy)
        eff = *c->policy;
    else
        policy_default(&eff);
    if (!rc && !c->run_id && p.policy && policy_from_json(p.policy, &recorded))
        policy_merge(&eff, &recorded);
    strict.policy = &eff;
    c = &strict;
    if (!rc)
        rc = ops_from_json(p.ops, a, &ops, &n, err);
    if (!rc)
        rc = store_table_load(s, p.table, a, &t, err);
    if (!rc && !t)
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "table %s no longer exists", p.table);
    if (!rc)
        rc = proposal_incidents(s, id, a, &ins, &nins, err);
    /* Forbidden stays forbidden, whoever asks and whatever the config. */
    for (size_t i = 0; !rc && i < n; i++) {
        if (policy_class_with(c->policy, &ops[i], t) == CLASS_FORBIDDEN) {
            rc = pm_err_set(err, PM_ERR_SCHEMA, "%s is forbidden by the policy",
                            op_describe(&ops[i], a));
            pm_err_hint(err, "reject proposal %lld; the producer has to change", (long long)id);
        }
    }
    /* Columns that keep coming without a person are a map keyed by data
     * (or an attack: six calls of 256 columns reach PostgreSQL's limit),
     * not a schema: past the budget they wait for a person. */
    int nadd = 0;
    for (size_t i = 0; !rc && i < n; i++)
        nadd += ops[i].kind == OP_ADD_COLUMN;
    if (!rc && nadd && !c->human && all_apply(c, ops, n, t)) {
        out->budget = policy_auto_columns(c->policy);
        rc = heal_auto_columns_used(s, p.table, &out->budget_used, err);
        out->over_budget = !rc && out->budget_used + nadd > out->budget;
        if (out->over_budget)
            pm_warn("proposal %lld adds %d columns to %s, past its budget of automatic columns "
                    "(%d in 24 h, %d used): it waits for a person",
                    (long long)id, nadd, p.table, out->budget, out->budget_used);
    }
    if (!rc && (out->over_budget || !all_apply(c, ops, n, t))) {
        /* Only a person may apply what the policy holds (invariant 4). */
        out->awaiting = true;
        rc = store_begin(s, err);
        if (!rc)
            rc = move_all(s, ins, nins, INC_AWAITING_APPROVAL, 0, NULL, c->actor, err);
        rc = rc ? rc : store_commit(s, err);
        if (rc)
            store_rollback(s, NULL);
        pm_arena_free(a);
        return rc;
    }
    /* Ops of one table do not wait for each other: when dependents of
     * some columns refuse their change (a rule, a policy), the others
     * apply now, as a proposal of their own (split_refused). All refused:
     * the dry run below fails and says why. */
    if (!rc && n > 1) {
        pm_dependent *deps = NULL;
        size_t ndeps = 0;
        pm_err de;
        if (store_table_dependents(s, t, ops, n, a, &deps, &ndeps, &de) != PM_OK)
            ndeps = 0; /* the dry run meets it again */
        bool *refused = pm_arena_alloc(a, n * sizeof *refused);
        size_t nref = ops_refused(ops, n, deps, ndeps, refused);
        if (nref && nref < n) {
            int64_t free_id = 0;
            rc = split_refused(c, &p, t, ops, n, refused, refusal(t, deps, ndeps, a), deps, ndeps,
                               ins, nins, a, &free_id, err);
            pm_arena_free(a);
            return rc ? rc : heal_apply(asked, free_id, replay, out, err);
        }
    }
    const char *allowed[] = {p.table};
    guard_ctx g = {.allowed_tables = allowed, .nallowed = 1, .lookup = lookup_one, .lookup_arg = t};
    size_t bad;
    if (!rc)
        rc = guard_check_ops(&g, ops, n, &bad, err);
    if (!rc)
        rc = op_result(t, ops, n, a, &to, err);
    pm_record *dr = NULL;
    size_t ndr = 0;
    /* the dry run's sample and the replay page through the quarantine:
     * by a plan that fits its size */
    if (!rc)
        rc = store_quarantine_stats(s, err);
    if (!rc)
        rc = dry_run_records(s, ins, nins, NULL, 0, a, &dr, &ndr, err);
    if (!rc)
        rc = heal_dry_run(c, t, ops, n, dr, ndr, a, &out->dry, err);
    if (!rc && !out->dry.ok) {
        /* A dry run that failed because another process changed the table
         * meanwhile (its clone has the winner's columns) says nothing about
         * the ops: the winner's incidents keep their state. */
        bool moved = false;
        pm_code frc = store_begin(s, err);
        if (!frc)
            frc = table_moved(s, t, &moved, err);
        if (!frc && !moved)
            frc = proposal_incidents(s, id, a, &ins, &nins, err); /* their states of now */
        if (!frc && !moved)
            frc = store_proposal_set_dry_run(s, id, out->dry.json, err);
        if (!frc && !moved)
            frc = move_all(s, ins, nins, INC_DRY_RUN_FAILED, 0, out->dry.error, c->actor, err);
        frc = frc || moved ? frc : store_commit(s, err);
        if (frc || moved)
            store_rollback(s, NULL);
        rc = frc     ? frc
             : moved ? lost_race(s, id, t, a, err)
                     : (pm_err_set(err, PM_ERR_SCHEMA, "the dry run of proposal %lld failed: %s",
                                   (long long)id, out->dry.error),
                        pm_err_hint(err, "see pipemend proposals show %lld; the table is unchanged",
                                    (long long)id),
                        PM_ERR_SCHEMA);
    }
    const char *what = rc ? NULL : ops_described(ops, n, a);
    if (!rc)
        rc = store_begin(s, err);
    if (!rc) {
        const char *reason =
            c->human ? pm_arena_sprintf(a, "proposal %lld approved by %s: %s", (long long)id,
                                        c->actor, what)
                     : pm_arena_sprintf(a, "healed automatically (proposal %lld, policy %s): %s",
                                        (long long)id, policy_mode_name(c->policy->mode), what);
        rc = store_apply_ops(s, t, ops, n, to, reason, err);
    }
    if (!rc)
        rc = store_proposal_decide(s, id, PROP_APPLIED, c->actor, err);
    if (!rc)
        rc = store_proposal_set_dry_run(s, id, out->dry.json, err);
    if (!rc) {
        json_t *jops = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(jops, json_string(op_describe(&ops[i], a)));
        json_t *pj = json_pack("{s:s, s:I, s:I, s:i, s:i, s:o, s:I, s:I}", "table", p.table,
                               "proposal", (json_int_t)id, "run", (json_int_t)c->run_id,
                               "from_version", t->version, "to_version", to->version, "ops", jops,
                               "dry_run_rows", (json_int_t)out->dry.rows, "dry_run_would_load",
                               (json_int_t)out->dry.would_load);
        char *text = json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(pj);
        char subject[160];
        if (c->human)
            snprintf(subject, sizeof subject, "proposal/%lld", (long long)id);
        else
            snprintf(subject, sizeof subject, "table/%s", p.table);
        rc = audit_append(s, c->actor, c->human ? "proposal.approved" : "schema.healed", subject,
                          text, err);
        free(text);
    }
    if (!rc)
        rc = move_all(s, ins, nins, INC_APPLIED, 0, NULL, c->actor, err);
    if (!rc)
        rc = store_commit(s, err);
    else
        store_rollback(s, NULL);
    if (rc == PM_ERR_BUSY && out->dry.ok)
        rc = lost_race(s, id, t, a, err); /* the version check or the decision lost */
    if (!rc) {
        out->applied = true;
        out->proposal = id;
        out->from_version = t->version;
        out->to_version = to->version;
    }
    if (!rc && replay) {
        replay_result rr;
        rc = replay_quarantine_opts(s, p.table, c->contract, c->actor, c->run_id, NULL, c->limits,
                                    &rr, err);
        out->replayed = rr.loaded;
        out->waiting = rr.waiting + rr.skipped;
    }
    out->ms = pm_clock_ms() - t0;
    free(out->dry.json);
    out->dry.json = NULL;
    pm_arena_free(a);
    return rc;
}

/* ---- unfinished replays ----------------------------------------------------- */

pm_code heal_replay_pending(pm_store *s, const char *table, pm_arena *arena, heal_pending **out,
                            size_t *n, pm_err *err)
{
    *out = NULL;
    *n = 0;
    pm_incident *in;
    size_t nin;
    /* states, not rows: counting an incident's rows costs its quarantine */
    pm_incident_filter f = {.table = table, .active_only = true, .no_rows = true};
    pm_code rc = store_incidents_list(s, &f, arena, &in, &nin, err);
    pm_table **ts = NULL;
    size_t nt = 0;
    if (!rc && table) {
        ts = pm_arena_alloc(arena, sizeof *ts);
        ts[0] = pm_arena_calloc(arena, sizeof **ts);
        ts[0]->name = table;
        nt = 1;
    } else if (!rc) {
        rc = store_tables_list(s, arena, &ts, &nt, err);
    }
    if (rc)
        return rc;
    *out = pm_arena_alloc(arena, (nt ? nt : 1) * sizeof **out);
    for (size_t i = 0; !rc && i < nt; i++) {
        heal_pending p = {.table = pm_arena_strdup(arena, ts[i]->name)};
        for (size_t k = 0; k < nin; k++) {
            if (strcmp(in[k].table, p.table) != 0 || strcmp(in[k].state, "applied") != 0)
                continue;
            p.applied++;
            if (!p.incident || in[k].id < p.incident)
                p.incident = in[k].id;
        }
        rc = store_quarantine_stranded(s, p.table, &p.stranded, err);
        if (!rc && (p.applied || p.stranded))
            (*out)[(*n)++] = p;
    }
    return rc;
}

pm_code heal_replay_finish(heal_ctx *c, const char *table, bool changed, int seen_version,
                           bool *replayed, replay_result *res, pm_err *err)
{
    *replayed = false;
    replay_result ignore;
    if (!res)
        res = &ignore;
    memset(res, 0, sizeof *res);
    pm_arena *a = pm_arena_new(0);
    heal_pending *p;
    size_t n;
    pm_table *t = NULL;
    pm_code rc = heal_replay_pending(c->store, table, a, &p, &n, err);
    if (!rc && !n && !changed && seen_version)
        rc = store_table_load(c->store, table, a, &t, err);
    bool moved = changed || (t && t->version > seen_version);
    if (!rc && (n || moved)) {
        if (n && p[0].applied)
            pm_info("finishing the replay of %s that a repair left unfinished (incident %lld is "
                    "applied, not replayed)",
                    table, (long long)p[0].incident);
        else if (n)
            pm_info("replaying %lld quarantined rows of %s that wait under a resolved incident",
                    (long long)p[0].stranded, table);
        rc = replay_quarantine_opts(c->store, table, c->contract, c->actor, c->run_id, NULL,
                                    c->limits, res, err);
        *replayed = !rc;
    }
    pm_arena_free(a);
    return rc;
}

/* ---- a person's no ---------------------------------------------------------- */

/* A rejected mapping of a new field to a column (a suspected rename,
 * drift/rename.h) means the field is a column of its own: the rules
 * propose it now (replan.h), rather than at the next run. The rejection
 * stands whatever happens here. */
static void rename_rejected(heal_ctx *c, const pm_proposal *p, const pm_incident *ins, size_t nins,
                            pm_arena *a)
{
    int64_t *ids = pm_arena_alloc(a, (nins ? nins : 1) * sizeof *ids);
    for (size_t i = 0; i < nins; i++)
        ids[i] = ins[i].id;
    int64_t added = 0;
    bool applied = false;
    pm_err err;
    if (replan_rejected_rename(c, p, ids, nins, &added, &applied, &err) != PM_OK)
        pm_warn("could not plan a column for the field of rejected proposal %lld: %s",
                (long long)p->id, err.msg);
    else if (added)
        pm_info("the field of rejected proposal %lld gets a column of its own: proposal %lld %s",
                (long long)p->id, (long long)added,
                applied ? "applied and its rows replayed" : "waits for a person");
}

pm_code heal_reject(heal_ctx *c, int64_t id, pm_err *err)
{
    pm_store *s = c->store;
    pm_arena *a = pm_arena_new(0);
    pm_proposal p;
    pm_incident *ins = NULL;
    size_t nins = 0;
    pm_code rc = load_proposal(s, id, a, &p, err);
    if (!rc)
        rc = proposal_incidents(s, id, a, &ins, &nins, err);
    if (!rc)
        rc = store_begin(s, err);
    if (!rc) {
        char subject[64];
        snprintf(subject, sizeof subject, "proposal/%lld", (long long)id);
        rc = store_proposal_decide(s, id, PROP_REJECTED, c->actor, err);
        if (!rc)
            rc = audit_append(s, c->actor, "proposal.rejected", subject, NULL, err);
        const char *note =
            pm_arena_sprintf(a, "proposal %lld rejected by %s", (long long)id, c->actor);
        if (!rc)
            rc = move_all(s, ins, nins, INC_OPEN, 0, note, c->actor, err);
        rc = rc ? rc : store_commit(s, err);
        if (rc)
            store_rollback(s, NULL);
    }
    if (!rc)
        rename_rejected(c, &p, ins, nins, a);
    pm_arena_free(a);
    return rc;
}

pm_code heal_dismiss(heal_ctx *c, int64_t incident, const char *reason, pm_err *err)
{
    pm_store *s = c->store;
    pm_arena *a = pm_arena_new(0);
    pm_incident *in;
    size_t n;
    pm_incident_filter f = {.id = incident};
    pm_code rc = store_incidents_list(s, &f, a, &in, &n, err);
    if (!rc && n != 1) {
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "no incident %lld", (long long)incident);
        pm_err_hint(err, "see pipemend incidents list");
    }
    pm_incident_state st = INC_OPEN;
    if (!rc && (!incident_state_parse(in->state, &st) || !incident_is_active(st)))
        rc = pm_err_set(err, PM_ERR_USAGE, "incident %lld is %s already", (long long)incident,
                        in->state);
    /* Its pending proposal goes with it when it answers nothing else. */
    pm_incident *others = NULL;
    size_t nothers = 0;
    pm_proposal p = {0};
    bool reject = false;
    if (!rc && in->proposal) {
        pm_err ignore;
        if (load_proposal(s, in->proposal, a, &p, &ignore) == PM_OK) {
            rc = proposal_incidents(s, in->proposal, a, &others, &nothers, err);
            reject = !rc && nothers == 1;
        }
    }
    if (!rc)
        rc = store_begin(s, err);
    if (!rc && reject) {
        char subject[64];
        snprintf(subject, sizeof subject, "proposal/%lld", (long long)p.id);
        rc = store_proposal_decide(s, p.id, PROP_REJECTED, c->actor, err);
        if (!rc)
            rc = audit_append(s, c->actor, "proposal.rejected", subject,
                              "{\"reason\":\"its incident was dismissed\"}", err);
    }
    if (!rc) {
        const char *note =
            reason ? reason
                   : pm_arena_sprintf(a, "dismissed by %s; its rows stay in quarantine", c->actor);
        rc = incident_move(s, in, INC_DISMISSED, 0, note, c->actor, err);
        rc = rc ? rc : store_commit(s, err);
        if (rc)
            store_rollback(s, NULL);
    }
    pm_arena_free(a);
    return rc;
}

pm_code heal_discard(heal_ctx *c, const char *table, int64_t run_id, int64_t id,
                     heal_discard_result *out, pm_err *err)
{
    pm_store *s = c->store;
    *out = (heal_discard_result){0};
    pm_arena *a = pm_arena_new(0);
    /* the active incidents with rows now: those left with none are dismissed */
    pm_incident *before, *after;
    size_t nbefore = 0, nafter = 0;
    pm_incident_filter f = {.table = table, .active_only = true};
    pm_code rc = store_incidents_list(s, &f, a, &before, &nbefore, err);
    if (!rc)
        rc = store_begin(s, err);
    if (!rc) {
        rc = store_quarantine_discard(s, table, run_id, id, &out->rows, err);
        if (!rc && out->rows) {
            json_t *p = json_pack("{s:I}", "rows", (json_int_t)out->rows);
            if (table)
                json_object_set_new(p, "table", json_string(table));
            if (run_id)
                json_object_set_new(p, "run", json_integer(run_id));
            if (id)
                json_object_set_new(p, "id", json_integer(id));
            char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(p);
            char subject[160];
            snprintf(subject, sizeof subject, "%s%s", table ? "table/" : "quarantine",
                     table ? table : "");
            rc = text ? audit_append(s, c->actor, "quarantine.discarded", subject, text, err)
                      : pm_err_set(err, PM_ERR_NOMEM, "out of memory");
            free(text);
        }
        rc = rc ? rc : store_commit(s, err);
        if (rc)
            store_rollback(s, NULL);
    }
    if (!rc && out->rows)
        rc = store_incidents_list(s, &f, a, &after, &nafter, err);
    for (size_t i = 0; !rc && out->rows && i < nbefore; i++) {
        if (!before[i].rows)
            continue;
        for (size_t j = 0; j < nafter; j++) {
            if (after[j].id != before[i].id || after[j].rows)
                continue;
            const char *note =
                pm_arena_sprintf(a, "dismissed: its %lld quarantined rows were discarded by %s",
                                 (long long)before[i].rows, c->actor);
            rc = heal_dismiss(c, before[i].id, note, err);
            out->dismissed += !rc;
        }
    }
    pm_arena_free(a);
    return rc;
}

pm_code heal_table_remove(heal_ctx *c, const char *table, bool drop, heal_table_result *out,
                          pm_err *err)
{
    pm_store *s = c->store;
    *out = (heal_table_result){0};
    pm_arena *a = pm_arena_new(0);
    const char *why =
        pm_arena_sprintf(a, "its table was %s by %s", drop ? "dropped" : "reset", c->actor);
    pm_code rc = store_begin(s, err);
    /* what waits for a decision goes first, each recorded as its own act */
    pm_proposal_state pending = PROP_PENDING;
    pm_proposal *ps = NULL;
    size_t np = 0;
    if (!rc)
        rc = store_proposals_list(s, table, &pending, 0, a, &ps, &np, err);
    for (size_t i = 0; !rc && i < np; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "proposal/%lld", (long long)ps[i].id);
        json_t *p = json_pack("{s:s}", "reason", why);
        char *text = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        rc = store_proposal_decide(s, ps[i].id, PROP_REJECTED, c->actor, err);
        if (!rc)
            rc = text ? audit_append(s, c->actor, "proposal.rejected", subject, text, err)
                      : pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        free(text);
        out->rejected += !rc;
    }
    pm_incident *in = NULL;
    size_t ni = 0;
    pm_incident_filter f = {.table = table, .active_only = true};
    if (!rc)
        rc = store_incidents_list(s, &f, a, &in, &ni, err);
    for (size_t i = 0; !rc && i < ni; i++) {
        rc = incident_move(s, &in[i], INC_DISMISSED, 0, pm_arena_sprintf(a, "dismissed: %s", why),
                           c->actor, err);
        out->dismissed += !rc;
    }
    if (!rc)
        rc = store_quarantine_discard(s, table, 0, 0, &out->quarantined, err);
    if (!rc)
        rc = store_table_remove(s, table, drop, &out->rows, &out->checkpoints, err);
    if (!rc) {
        json_t *p =
            json_pack("{s:I, s:I, s:I, s:I}", "quarantined", (json_int_t)out->quarantined,
                      "checkpoints", (json_int_t)out->checkpoints, "incidents_dismissed",
                      (json_int_t)out->dismissed, "proposals_rejected", (json_int_t)out->rejected);
        if (!drop)
            json_object_set_new(p, "rows", json_integer(out->rows));
        char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(p);
        char subject[160];
        snprintf(subject, sizeof subject, "table/%s", table);
        rc = text ? audit_append(s, c->actor, drop ? "table.dropped" : "table.reset", subject, text,
                                 err)
                  : pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        free(text);
    }
    rc = rc ? rc : store_commit(s, err);
    if (rc) {
        store_rollback(s, NULL);
        *out = (heal_table_result){0};
    }
    pm_arena_free(a);
    return rc;
}
