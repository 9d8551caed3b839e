/* replan.c - plans an incident again with the rules (see replan.h).
 *
 * Nothing here decides anything new: the rows go through drift_check
 * against the table of now and planner_consider, as during a run; the ops
 * go through heal_propose and, when asked and allowed, heal_apply, which
 * run the guard, the policy and the sandbox again. */
#include "heal/replan.h"

#include <string.h>

#include "drift/drift.h"
#include "heal/incident.h"
#include "heal/planner.h"
#include "heal/policy.h"
#include "heal/replay.h"
#include "schema/colname.h"

/* Does op answer the incident's kind and column? */
static bool answers(const pm_op *op, const pm_incident *in)
{
    return strcmp(drift_kind_name(incident_kind_for_op(op)), in->kind) == 0 && op->column &&
           strcmp(op->column, in->column) == 0;
}

pm_code replan_incident(heal_ctx *c, int64_t id, bool apply, pm_arena *a, replan_result *out,
                        pm_err *err)
{
    memset(out, 0, sizeof *out);
    pm_store *s = c->store;
    pm_incident_filter f = {.id = id};
    pm_incident *ins;
    size_t nins;
    pm_code rc = store_incidents_list(s, &f, a, &ins, &nins, err);
    if (rc)
        return rc;
    if (nins != 1)
        return pm_err_set(err, PM_ERR_NOTFOUND, "no incident %lld", (long long)id);
    const pm_incident *in = &ins[0];
    pm_incident_state st;
    if (!incident_state_parse(in->state, &st) || !incident_is_active(st))
        return pm_err_set(err, PM_ERR_USAGE, "incident %lld is %s; there is nothing to plan",
                          (long long)id, in->state);
    pm_table *t = NULL;
    rc = store_table_load(s, in->table, a, &t, err);
    if (rc)
        return rc;
    if (!t) {
        out->why_none = pm_arena_sprintf(a, "table %s does not exist (any more)", in->table);
        return PM_OK;
    }
    pm_qrow *rows;
    size_t nrows;
    rc = store_incident_rows(s, id, false, REPLAN_ROWS, a, &rows, &nrows, err);
    if (rc)
        return rc;
    out->rows = (int64_t)nrows;
    drift_ctx *dc = drift_ctx_new(a, t, c->contract);
    pm_plan plan = {0};
    pm_record *recs = pm_arena_alloc(a, (nrows ? nrows : 1) * sizeof *recs);
    size_t nrecs = 0, fit = 0;
    /* The rows are judged together, as a run's batch is (drift/rename.h):
     * a new field that may be a renamed nullable column gets the mapping,
     * not a column beside the old one. */
    pm_record *all = pm_arena_alloc(a, (nrows ? nrows : 1) * sizeof *all);
    rename_row *rr = pm_arena_alloc(a, (nrows ? nrows : 1) * sizeof *rr);
    size_t nr = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (!replay_parse(&rows[i], a, &all[nr]))
            continue;
        drift_result res;
        drift_check(dc, &all[nr], a, &res);
        rr[nr] =
            (rename_row){&all[nr], res.nfindings ? NULL : res.cells, res.findings, res.nfindings};
        nr++;
    }
    rename_refusal *no = NULL;
    size_t nno = 0;
    rename_pair *pairs = NULL;
    size_t npairs = 0;
    if (nr && replan_rename_refusals(s, t->name, a, &no, &nno, err) == PM_OK)
        npairs = rename_suspects(t, rr, nr, no, nno, a, &pairs);
    for (size_t i = 0; i < nr; i++) {
        const pm_finding *found = rr[i].found;
        size_t nfound = rr[i].nfound;
        pm_finding *marked;
        size_t nmarked;
        if (npairs && rename_mark(t, pairs, npairs, &rr[i], a, &marked, &nmarked)) {
            found = marked;
            nfound = nmarked;
        }
        if (!nfound) {
            fit++;
            continue;
        }
        planner_consider(&plan, t, found, nfound, a);
        if (nrecs < HEAL_DRY_RUN_ROWS)
            recs[nrecs++] = all[i];
    }
    pm_op *ops = pm_arena_alloc(a, (plan.n ? plan.n : 1) * sizeof *ops);
    const char **why = pm_arena_alloc(a, (plan.n ? plan.n : 1) * sizeof *why);
    size_t n = 0;
    for (size_t i = 0; i < plan.n; i++) {
        if (!answers(&plan.ops[i], in))
            continue;
        why[n] = plan.why[i];
        ops[n++] = plan.ops[i];
    }
    for (size_t i = 0; !n && i < plan.n; i++) {
        char norm[COLNAME_MAX + 1];
        if (plan.ops[i].kind != OP_ADD_FIELD_MAPPING || !plan.ops[i].field)
            continue;
        colname_normalise(plan.ops[i].field, strlen(plan.ops[i].field), norm);
        if (strcmp(norm, in->column) != 0)
            continue;
        out->why_none =
            pm_arena_sprintf(a,
                             "field %s may be column %s renamed: its column waits "
                             "for the decision on mapping it to %s (pipemend "
                             "proposals list --table %s)",
                             plan.ops[i].field, plan.ops[i].column, plan.ops[i].column, in->table);
        return PM_OK;
    }
    if (!n) {
        out->why_none =
            fit && fit == nrows
                ? pm_arena_sprintf(a,
                                   "its rows fit %s as it is now; replay them (pipemend "
                                   "quarantine replay --table %s)",
                                   in->table, in->table)
                : pm_arena_sprintf(a,
                                   "no rule repairs a %s finding%s; a person decides (fix the "
                                   "producer and discard the rows, or propose a fix)",
                                   in->kind, *in->column ? " of this column" : "");
        return PM_OK;
    }
    out->ops = ops;
    out->why = why;
    out->n = n;
    rc = heal_propose(c, t, ops, n, why, recs, nrecs, &out->proposal, &out->created, err);
    if (rc)
        return rc;
    bool now = apply;
    for (size_t i = 0; now && i < n; i++)
        now = policy_decide_op(c->policy, &ops[i], t) == DECIDE_APPLY;
    pm_proposal *ps;
    size_t np;
    rc = store_proposals_list(s, NULL, NULL, out->proposal, a, &ps, &np, err);
    if (rc)
        return rc;
    bool pending = np == 1 && ps[0].state == PROP_PENDING;
    if (now && pending) {
        heal_outcome o;
        rc = heal_apply(c, out->proposal, true, &o, err);
        if (rc)
            return rc;
        out->applied = o.applied;
        out->awaiting = o.awaiting;
        out->replayed = o.replayed;
    } else {
        out->awaiting = pending;
    }
    rc = store_proposals_list(s, NULL, NULL, out->proposal, a, &ps, &np, err);
    if (!rc && np == 1)
        out->state = proposal_state_name(ps[0].state);
    return rc;
}

pm_code replan_rename_refusals(pm_store *s, const char *table, pm_arena *a, rename_refusal **out,
                               size_t *n, pm_err *err)
{
    *out = NULL;
    *n = 0;
    pm_proposal_state st = PROP_REJECTED;
    pm_proposal *ps;
    size_t np;
    pm_code rc = store_proposals_list(s, table, &st, 0, a, &ps, &np, err);
    if (rc)
        return rc;
    size_t cap = 0;
    for (size_t i = 0; i < np; i++) {
        pm_op *ops;
        size_t nops;
        pm_err ignore;
        if (ops_from_json(ps[i].ops, a, &ops, &nops, &ignore) != PM_OK)
            continue;
        for (size_t k = 0; k < nops; k++) {
            if (ops[k].kind != OP_ADD_FIELD_MAPPING || !ops[k].field || !ops[k].column)
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 8;
                rename_refusal *g = pm_arena_alloc(a, cap * sizeof *g);
                if (*n)
                    memcpy(g, *out, *n * sizeof *g);
                *out = g;
            }
            char norm[COLNAME_MAX + 1];
            size_t len = colname_normalise(ops[k].field, strlen(ops[k].field), norm);
            (*out)[(*n)++] = (rename_refusal){pm_arena_strndup(a, norm, len), ops[k].column};
        }
    }
    return PM_OK;
}

/* Does the contract hold column to not_null (the user's word, whatever
 * the column says)? */
static bool declared_not_null(const pm_contract *ct, const char *column)
{
    for (size_t i = 0; ct && i < ct->nrules; i++)
        if (ct->rules[i].kind == RULE_NOT_NULL && ct->rules[i].column &&
            strcmp(ct->rules[i].column, column) == 0)
            return true;
    return false;
}

pm_code replan_rejected_rename(heal_ctx *c, const pm_proposal *p, const int64_t *incidents,
                               size_t nin, int64_t *proposal, bool *applied, pm_err *err)
{
    *proposal = 0;
    *applied = false;
    pm_arena *a = pm_arena_new(0);
    pm_op *ops;
    size_t nops;
    pm_code rc = ops_from_json(p->ops, a, &ops, &nops, err);
    if (rc || nops != 1 || ops[0].kind != OP_ADD_FIELD_MAPPING || !ops[0].field) {
        pm_arena_free(a);
        return rc;
    }
    char norm[COLNAME_MAX + 1];
    colname_normalise(ops[0].field, strlen(ops[0].field), norm);
    pm_table *t = NULL;
    rc = store_table_load(c->store, p->table, a, &t, err);
    /* the field must still be new: a column or alias of it has nothing to add */
    if (rc || !t || table_find_field(t, norm, strlen(norm)) >= 0) {
        pm_arena_free(a);
        return rc;
    }
    drift_ctx *dc = drift_ctx_new(a, t, c->contract);
    pm_op add = {.kind = OP_ADD_COLUMN, .table = t->name};
    pm_record *recs = pm_arena_alloc(a, HEAL_DRY_RUN_ROWS * sizeof *recs);
    size_t nrecs = 0;
    for (size_t k = 0; !rc && k < nin; k++) {
        pm_qrow *rows;
        size_t nrows;
        rc = store_incident_rows(c->store, incidents[k], false, REPLAN_ROWS, a, &rows, &nrows, err);
        for (size_t i = 0; !rc && i < nrows; i++) {
            pm_record rec;
            if (!replay_parse(&rows[i], a, &rec))
                continue;
            drift_result res;
            drift_check(dc, &rec, a, &res);
            bool mine = false;
            for (size_t f = 0; f < res.nfindings; f++) {
                const pm_finding *fd = &res.findings[f];
                if (fd->kind != FINDING_NEW_FIELD || strcmp(fd->column, norm) != 0)
                    continue;
                add.column = fd->column;
                add.type = add.type.kind == PM_T_UNKNOWN ? fd->proposed
                                                         : type_join(add.type, fd->proposed);
                mine = true;
            }
            if (mine && nrecs < HEAL_DRY_RUN_ROWS)
                recs[nrecs++] = rec;
        }
    }
    if (rc || !add.column) {
        pm_arena_free(a);
        return rc;
    }
    const char *why = pm_arena_sprintf(a,
                                       "field %s is not %s renamed (proposal %lld was rejected): "
                                       "it gets a column of its own",
                                       ops[0].field, ops[0].column, (long long)p->id);
    bool created;
    rc = heal_propose(c, t, &add, 1, &why, recs, nrecs, proposal, &created, err);
    if (!rc && policy_decide_op(c->policy, &add, t) == DECIDE_APPLY) {
        heal_ctx rules = *c;
        rules.actor = "rules";
        rules.human = false;
        heal_outcome o;
        rc = heal_apply(&rules, *proposal, true, &o, err);
        *applied = !rc && o.applied;
    }
    /* A NOT NULL column the field was taken for still has no value in
     * these rows: relaxing it is the rules' plan for a missing value
     * (automatic for pipemend's own guess, for a person otherwise). */
    pm_table *now = NULL;
    if (!rc)
        rc = store_table_load(c->store, p->table, a, &now, err);
    int j = now ? table_find(now, ops[0].column, strlen(ops[0].column)) : -1;
    if (!rc && j >= 0 && !now->cols[j].nullable) {
        pm_op dnn = {.kind = OP_DROP_NOT_NULL, .table = now->name, .column = now->cols[j].name};
        const char *dwhy = pm_arena_sprintf(a,
                                            "%s is missing from the rows whose field %s is not "
                                            "its new name (proposal %lld was rejected)",
                                            dnn.column, ops[0].field, (long long)p->id);
        int64_t did = 0;
        rc = heal_propose(c, now, &dnn, 1, &dwhy, recs, nrecs, &did, &created, err);
        if (!rc && policy_decide_op(c->policy, &dnn, now) == DECIDE_APPLY &&
            !declared_not_null(c->contract, dnn.column)) {
            heal_ctx rules = *c;
            rules.actor = "rules";
            rules.human = false;
            heal_outcome o;
            rc = heal_apply(&rules, did, true, &o, err);
        }
    }
    pm_arena_free(a);
    return rc;
}
