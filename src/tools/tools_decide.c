/* tools_decide.c - a person approves or rejects a pending proposal, or
 * dismisses an incident: the one service behind `pipemend proposals
 * approve|reject`, `pipemend incidents dismiss` and REST's
 * POST /api/v1/proposals/{id}/approve|reject and
 * /api/v1/incidents/{id}/dismiss. They are not tools (no table
 * lists it, so no MCP client or agent can call it: DESIGN.md, invariant
 * 4); the faces that call it have authenticated a person and pass
 * human:NAME. The table's policy, loosened by its approved promotions, is
 * checked again, and the guard, the dry run, apply and replay run as for
 * any proposal (heal_apply). */
#include <string.h>

#include "tools/tools.h"
#include "core/log.h"
#include "heal/heal.h"
#include "heal/promote.h"

pm_code tools_decide(tools_ctx *t, const pm_proposal *p, bool approve, const char *actor,
                     heal_outcome *out, pm_err *err)
{
    pm_policy policy;
    config_table_policy(t->cfg, p->table, &policy);
    if (promote_apply(t->store, p->table, &policy, err) != PM_OK)
        return err->code;
    pm_source_opts limits;
    config_source_opts(t->cfg, &limits);
    heal_ctx c = {.store = t->store,
                  .contract = config_contract(t->cfg, p->table),
                  .policy = &policy,
                  .policy_source = config_policy_source(t->cfg),
                  .actor = actor,
                  .human = true,
                  .limits = &limits};
    memset(out, 0, sizeof *out);
    if (!approve)
        return heal_reject(&c, p->id, err);
    pm_code rc = heal_apply(&c, p->id, true, out, err);
    if (rc != PM_OK)
        return rc;
    /* the same repair approved again and again: offer to make it the rules' */
    pm_arena *a = pm_arena_new(0);
    pm_op *ops;
    size_t n;
    int made = 0;
    pm_err perr = {0};
    if (ops_from_json(p->ops, a, &ops, &n, &perr) ||
        promote_after_approval(t->store, p->table, ops, n, &policy, t->cfg->promote_after, actor,
                               &made, &perr))
        pm_warn("cannot check for a policy promotion: %s", perr.msg);
    pm_arena_free(a);
    return PM_OK;
}

pm_code tools_dismiss(tools_ctx *t, const pm_incident *in, const char *actor, const char *reason,
                      pm_err *err)
{
    pm_policy policy;
    config_table_policy(t->cfg, in->table, &policy);
    heal_ctx c = {.store = t->store,
                  .policy = &policy,
                  .policy_source = config_policy_source(t->cfg),
                  .actor = actor,
                  .human = true};
    return heal_dismiss(&c, in->id, reason, err);
}
