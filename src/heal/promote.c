/* promote.c - policy promotions of repairs people keep approving
 * (promote.h). */
#include "heal/promote.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/log.h"

/* Proposals of one table read to count approvals: a bound. */
#define PROMOTE_SCAN 1000

/* The ids (into ids, at most max) of table's applied proposals that a
 * person approved and that hold an op of kind k; their count. */
static size_t approvals_of(const pm_proposal *ps, size_t n, pm_op_kind k, pm_arena *a, int64_t *ids,
                           size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < n && i < PROMOTE_SCAN; i++) {
        if (ps[i].state != PROP_APPLIED || !ps[i].decided_by ||
            strncmp(ps[i].decided_by, "human:", 6) != 0)
            continue;
        pm_op *ops;
        size_t nops;
        pm_err err = {0};
        if (ops_from_json(ps[i].ops, a, &ops, &nops, &err))
            continue;
        for (size_t j = 0; j < nops; j++)
            if (ops[j].kind == k) {
                if (count < max)
                    ids[count] = ps[i].id;
                count++;
                break;
            }
    }
    return count;
}

pm_code promote_after_approval(pm_store *s, const char *table, const pm_op *ops, size_t n,
                               const pm_policy *p, int promote_after, const char *actor,
                               int *created, pm_err *err)
{
    *created = 0;
    if (promote_after <= 0)
        return PM_OK;
    pm_arena *a = pm_arena_new(0);
    pm_proposal_state applied = PROP_APPLIED;
    pm_proposal *ps;
    size_t nps;
    pm_code rc = store_proposals_list(s, table, &applied, 0, a, &ps, &nps, err);
    bool seen[OP_KIND_COUNT] = {0};
    for (size_t i = 0; !rc && i < n; i++) {
        pm_op_kind k = ops[i].kind;
        if (seen[k] || p->override[k] != -1 || k == OP_MERGE_COLUMN)
            continue; /* counted already, the configuration decides this kind, or
                       * no promotion can make it automatic (policy.c) */
        seen[k] = true;
        int64_t ids[64];
        size_t count = approvals_of(ps, nps, k, a, ids, 64);
        if (count < (size_t)promote_after)
            continue;
        json_t *ev = json_array();
        for (size_t j = 0; j < count && j < 64; j++)
            json_array_append_new(ev, json_integer(ids[j]));
        json_t *evidence =
            json_pack("{s:o, s:I}", "approved_proposals", ev, "approvals", (json_int_t)count);
        char *etext = json_dumps(evidence, JSON_COMPACT | JSON_SORT_KEYS);
        int64_t id;
        bool made;
        rc = store_begin(s, err);
        if (!rc)
            rc = store_promotion_add(s, table, op_kind_name(k), etext, &id, &made, err);
        if (!rc && made) {
            char subject[64];
            snprintf(subject, sizeof subject, "promotion/%lld", (long long)id);
            json_object_set_new(evidence, "table", json_string(table));
            json_object_set_new(evidence, "op_kind", json_string(op_kind_name(k)));
            char *ptext = json_dumps(evidence, JSON_COMPACT | JSON_SORT_KEYS);
            rc = audit_append(s, actor, "policy.promotion.proposed", subject, ptext, err);
            free(ptext);
        }
        rc = rc ? rc : store_commit(s, err);
        if (rc)
            store_rollback(s, NULL);
        json_decref(evidence);
        free(etext);
        if (!rc && made) {
            (*created)++;
            pm_info("people approved %s on %s %zu times: policy promotion %lld would let the "
                    "rules apply it from now on (pipemend policy approve %lld)",
                    op_kind_name(k), table, count, (long long)id, (long long)id);
        }
    }
    pm_arena_free(a);
    return rc;
}

pm_code promote_apply(pm_store *s, const char *table, pm_policy *p, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    pm_promotion *ps;
    size_t n;
    pm_code rc = store_promotions_list(s, table, "approved", 0, a, &ps, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        pm_op_kind k;
        if (op_kind_parse(ps[i].op_kind, &k) && p->override[k] == -1)
            p->override[k] = CLASS_AUTO;
    }
    pm_arena_free(a);
    return rc;
}

pm_code promote_decide(pm_store *s, int64_t id, bool approve, const char *actor, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    pm_promotion *ps;
    size_t n;
    pm_code rc = store_promotions_list(s, NULL, NULL, id, a, &ps, &n, err);
    if (!rc && n != 1) {
        pm_err_set(err, PM_ERR_NOTFOUND, "no policy promotion %lld", (long long)id);
        pm_err_hint(err, "pipemend policy list shows them");
        rc = PM_ERR_NOTFOUND;
    }
    if (!rc)
        rc = store_begin(s, err);
    if (!rc)
        rc = store_promotion_decide(s, id, approve ? "approved" : "rejected", actor, err);
    if (!rc) {
        char subject[64];
        snprintf(subject, sizeof subject, "promotion/%lld", (long long)id);
        json_t *pj = json_pack("{s:s, s:s}", "table", ps[0].table, "op_kind", ps[0].op_kind);
        char *text = json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(pj);
        rc = audit_append(s, actor,
                          approve ? "policy.promotion.approved" : "policy.promotion.rejected",
                          subject, text, err);
        free(text);
        rc = rc ? rc : store_commit(s, err);
        if (rc)
            store_rollback(s, NULL);
    }
    pm_arena_free(a);
    return rc;
}
