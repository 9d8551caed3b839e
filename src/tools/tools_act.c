/* tools_act.c - pipemend's acting tools (see tools.h): propose a
 * fix, dry-run it, apply what the policy lets the rules apply by
 * themselves, replay a table's quarantine, run a pipeline.
 *
 * Everything an agent sends goes the way a person's proposal does, and no
 * further: SQL through the guard's parser (libpg_query) into typed ops or
 * a rejection with its reason, typed ops through guard_check_ops against
 * the live table, then heal_propose; apply_fix is heal_apply with human
 * false, so whatever the policy holds for a person comes back as awaiting
 * approval (DESIGN.md: only a person approves; there is no approve tool
 * and nothing here sets heal_ctx.human). The DDL that runs is rendered
 * from the ops; the proposed text itself is never executed. Every call
 * that acts is an audit event by the call's actor (agent:<client name>).
 *
 * Each tool's argument and result schemas are the JSON files
 * schemas/TOOL.input.json and TOOL.output.json beside this file, which the
 * table names through "gen/tool_schemas.h" (tools.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "tools/tools.h"
#include "gen/tool_schemas.h"
#include "heal/guard.h"
#include "heal/heal.h"
#include "schema/op.h"
#include "schema/type.h"
#include "heal/replan.h"
#include "heal/replay.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

/* trigger_pipeline: a pipeline's runs start at most this often. */
#define TRIGGER_INTERVAL 60

/* ---- helpers ------------------------------------------------------------- */

static const pm_table *lookup_one(void *arg, const char *name)
{
    const pm_table *t = arg;
    return t && strcmp(t->name, name) == 0 ? t : NULL;
}

/* An audit event by the agent, payload built by the caller (stolen). */
static pm_code act_audit(pm_store *s, const char *actor, const char *action, const char *subject,
                         json_t *payload, pm_err *err)
{
    char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(payload);
    pm_code rc = audit_append(s, actor, action, subject, text, err);
    free(text);
    return rc;
}

/* Tells subscribed clients what an act changed: the table's schema
 * resource, an incident's, and the recent audit events (every act is
 * one). */
static void resources_changed(tools_ctx *tc, const char *table, int64_t incident)
{
    char uri[300];
    if (table) {
        snprintf(uri, sizeof uri, "pipemend://tables/%s/schema", table);
        tools_changed(tc, uri);
    }
    if (incident) {
        snprintf(uri, sizeof uri, "pipemend://incidents/%lld", (long long)incident);
        tools_changed(tc, uri);
    }
    tools_changed(tc, "pipemend://audit/recent");
}

/* Proposal id, any state; NULL after failing the call. */
static pm_proposal *load_proposal(pm_store *s, int64_t id, pm_arena *a, tool_call *call)
{
    pm_err err = {0};
    pm_proposal *ps;
    size_t n;
    if (store_proposals_list(s, NULL, NULL, id, a, &ps, &n, &err) != PM_OK) {
        tools_fail_err(call, &err);
        return NULL;
    }
    if (n != 1) {
        tools_fail(call,
                   "no proposal %lld; hint: call list_proposals, or propose_fix to make "
                   "one",
                   (long long)id);
        return NULL;
    }
    return &ps[0];
}

static json_t *ops_described(const pm_op *ops, size_t n, pm_arena *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(op_describe(&ops[i], a)));
    return arr;
}

/* A proposal's recorded dry run as JSON, or null. */
static json_t *dry_run_json(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    return json_is_object(j) ? j : (json_decref(j), json_null());
}

/* heal_dry_run_proposal for pending proposal p, under the table's policy
 * and contract, by actor; *outcome: the recorded JSON (caller frees). */
static pm_code dry_run_proposal(tools_ctx *tc, pm_store *s, const pm_proposal *p, const char *actor,
                                pm_arena *a, char **outcome, pm_err *err)
{
    pm_policy policy;
    tools_table_policy(tc, s, p->table, &policy);
    heal_ctx c = {.store = s,
                  .contract = config_contract(tc->cfg, p->table),
                  .policy = &policy,
                  .policy_source = config_policy_source(tc->cfg),
                  .actor = actor};
    heal_dry_run_result dr;
    pm_code rc = heal_dry_run_proposal(&c, p->id, a, &dr, err);
    *outcome = rc ? NULL : dr.json;
    return rc;
}

/* ---- a person's merge ---------------------------------------------------------- */

pm_code tools_propose_merge(tools_ctx *tc, const char *table, const char *from, const char *into,
                            const char *actor, int64_t *id, bool *created, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = NULL;
    pm_code rc = store_table_load(tc->store, table, a, &t, err);
    if (!rc && !t) {
        rc = pm_err_set(err, PM_ERR_NOTFOUND, "pipemend does not know a table \"%s\"", table);
        pm_err_hint(err, "see pipemend schema list");
    }
    pm_op op = {.kind = OP_MERGE_COLUMN, .table = table, .column = into, .field = from};
    if (!rc) {
        const char *allowed[] = {t->name};
        guard_ctx g = {
            .allowed_tables = allowed, .nallowed = 1, .lookup = lookup_one, .lookup_arg = t};
        rc = guard_check_ops(&g, &op, 1, NULL, err);
    }
    if (!rc) {
        pm_policy policy;
        tools_table_policy(tc, tc->store, t->name, &policy);
        heal_ctx c = {.store = tc->store,
                      .contract = config_contract(tc->cfg, t->name),
                      .policy = &policy,
                      .policy_source = config_policy_source(tc->cfg),
                      .actor = actor,
                      .human = true};
        const char *why = pm_arena_sprintf(a,
                                           "%s and %s hold one field split in two (a rename "
                                           "loaded as a new column); %s asks to merge them",
                                           from, into, actor);
        rc = heal_propose(&c, t, &op, 1, &why, NULL, 0, id, created, err);
    }
    pm_arena_free(a);
    return rc;
}

/* ---- propose_fix ----------------------------------------------------------- */

static json_t *tool_propose_fix(tools_ctx *ctx, json_t *args, tool_call *call)
{
    tools_ctx *tc = ctx;
    pm_store *s = tools_store(tc, call);
    if (!s)
        return NULL;
    const char *table = json_string_value(json_object_get(args, "table"));
    json_t *jops = json_object_get(args, "ops");
    json_t *jsql = json_object_get(args, "sql");
    if (!jops == !jsql) {
        tools_fail(call, "give exactly one of \"ops\" (typed operations) or \"sql\" (one "
                         "ALTER TABLE statement)");
        return NULL;
    }
    const char *actor = call->actor;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    json_t *result = NULL;
    /* the arguments are borrowed: ops are completed on a copy */
    jops = jops ? json_deep_copy(jops) : NULL;
    pm_table *t = tools_table(s, table, a, call);
    if (!t)
        goto out;
    const char *allowed[] = {t->name};
    guard_ctx g = {.allowed_tables = allowed, .nallowed = 1, .lookup = lookup_one, .lookup_arg = t};
    pm_op *ops = NULL;
    size_t n = 0;
    pm_code rc = PM_OK;
    if (jsql) {
        rc = guard_parse_sql_n(&g, json_string_value(jsql), json_string_length(jsql), a, &ops, &n,
                               &err);
    } else {
        /* Each op names the table given; one left out is that table. */
        size_t i;
        json_t *o;
        json_array_foreach(jops, i, o)
        {
            const char *kind = json_string_value(json_object_get(o, "op"));
            pm_op_kind k;
            if (!json_object_get(o, "table"))
                json_object_set_new(o, "table", json_string(table));
            if (kind && op_kind_parse(kind, &k) &&
                (k == OP_ADD_COLUMN || k == OP_WIDEN_COLUMN || k == OP_RETYPE_COLUMN) &&
                !json_object_get(o, "type")) {
                tools_fail(call,
                           "argument \"ops[%zu]\": %s needs \"type\" (e.g. "
                           "\"varchar(16)\", \"int64\", \"text\")",
                           i, kind);
                goto out;
            }
            /* the SQL names of a type are accepted too, written as pipemend's */
            const char *type = json_string_value(json_object_get(o, "type"));
            pm_type ty;
            char tn[TYPE_NAME_MAX];
            if (type && !type_parse(type, &ty)) {
                if (!type_parse_alias(type, &ty) || ty.kind == PM_T_UNKNOWN) {
                    tools_fail(call,
                               "argument \"ops[%zu]\": unknown type \"%s\"; "
                               "accepted: " TYPE_NAMES_ACCEPTED,
                               i, type);
                    goto out;
                }
                json_object_set_new(o, "type", json_string(type_name(ty, tn)));
            }
            if (kind && op_kind_parse(kind, &k) && k == OP_CREATE_TABLE) {
                tools_fail(call,
                           "argument \"ops[%zu]\": create_table is not proposed through "
                           "propose_fix; table %s exists already",
                           i, table);
                goto out;
            }
        }
        char *text = json_dumps(jops, JSON_COMPACT);
        rc = ops_from_json(text, a, &ops, &n, &err);
        free(text);
        if (rc)
            pm_err_hint(&err, "each op is {\"op\": \"add_column\", \"column\": \"c\", \"type\": "
                              "\"varchar(16)\"} and the like; see inspect_table_schema for types");
    }
    size_t bad = 0;
    if (!rc)
        rc = guard_check_ops(&g, ops, n, &bad, &err);
    if (rc) {
        /* A refusal is a decision too: the log keeps who asked for what. */
        pm_err ae = {0};
        json_t *pj = json_pack("{s:s, s:s}", "table", table, "reason", err.msg);
        json_object_set(pj, jsql ? "sql" : "ops", jsql ? jsql : jops);
        char subject[160];
        snprintf(subject, sizeof subject, "table/%s", table);
        if (act_audit(s, actor, "proposal.refused", subject, pj, &ae) != PM_OK)
            pm_err_detail(&err, "the refusal could not be audited: %s", ae.msg);
        tools_fail_err(call, &err);
        goto out;
    }
    pm_policy policy;
    tools_table_policy(tc, s, t->name, &policy);
    heal_ctx c = {.store = s,
                  .contract = config_contract(tc->cfg, t->name),
                  .policy = &policy,
                  .policy_source = config_policy_source(tc->cfg),
                  .actor = actor};
    int64_t id;
    bool created;
    if (heal_propose(&c, t, ops, n, NULL, NULL, 0, &id, &created, &err) != PM_OK) {
        tools_fail_err(call, &err);
        goto out;
    }
    pm_proposal *p = load_proposal(s, id, a, call);
    if (!p)
        goto out;
    if (!created) {
        /* nothing new was recorded, but the agent asked: the log keeps it */
        char subject[64];
        snprintf(subject, sizeof subject, "proposal/%lld", (long long)id);
        if (act_audit(
                s, actor, "proposal.proposed_again", subject,
                json_pack("{s:s, s:s}", "table", t->name, "state", proposal_state_name(p->state)),
                &err) != PM_OK) {
            tools_fail_err(call, &err);
            goto out;
        }
    }
    char *outcome = NULL;
    /* heal_propose tries in the sandbox only what waits for a person; an
     * agent decides too, so it sees every new proposal's dry run. */
    if (created && !p->dry_run && p->state == PROP_PENDING) {
        if (dry_run_proposal(tc, s, p, actor, a, &outcome, &err) != PM_OK) {
            tools_fail_err(call, &err);
            goto out;
        }
    }
    const char *msg;
    if (p->state == PROP_REJECTED)
        msg = "a person rejected these same ops before; they are not proposed again";
    else if (p->state != PROP_PENDING)
        msg = "these ops were proposed before and are no longer pending";
    else
        msg = created ? "proposed; next: apply_fix (the policy decides whether it applies now or "
                        "waits for a person)"
                      : "the same ops are pending already as this proposal";
    result = json_pack("{s:I, s:b, s:s, s:s, s:o, s:o, s:s}", "proposal", (json_int_t)id, "created",
                       created, "state", proposal_state_name(p->state), "table", t->name, "ops",
                       ops_described(ops, n, a), "dry_run",
                       dry_run_json(outcome ? outcome : p->dry_run), "message", msg);
    free(outcome);
    resources_changed(tc, NULL, 0);
out:
    json_decref(jops);
    pm_arena_free(a);
    return result;
}

/* ---- plan_incident ---------------------------------------------------------- */

pm_code tools_plan_incident(tools_ctx *tc, int64_t id, bool apply, const char *actor, pm_arena *a,
                            replan_result *out, pm_err *err)
{
    pm_store *s = tc->store;
    pm_incident_filter f = {.id = id};
    pm_incident *ins;
    size_t n;
    pm_code rc = store_incidents_list(s, &f, a, &ins, &n, err);
    if (rc)
        return rc;
    if (n != 1)
        return pm_err_set(err, PM_ERR_NOTFOUND, "no incident %lld", (long long)id);
    pm_policy policy;
    tools_table_policy(tc, s, ins[0].table, &policy);
    pm_source_opts limits;
    config_source_opts(tc->cfg, &limits);
    heal_ctx c = {.store = s,
                  .contract = config_contract(tc->cfg, ins[0].table),
                  .policy = &policy,
                  .policy_source = config_policy_source(tc->cfg),
                  .actor = actor,
                  .human = false,
                  .limits = &limits};
    return replan_incident(&c, id, apply, a, out, err);
}

static json_t *tool_plan_incident(tools_ctx *ctx, json_t *args, tool_call *call)
{
    tools_ctx *tc = ctx;
    pm_store *s = tools_store(tc, call);
    if (!s)
        return NULL;
    int64_t id = json_integer_value(json_object_get(args, "incident"));
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    json_t *result = NULL;
    replan_result r;
    if (tools_plan_incident(tc, id, false, call->actor, a, &r, &err) != PM_OK) {
        if (err.code == PM_ERR_NOTFOUND)
            pm_err_hint(&err, "call list_incidents for the open ones");
        tools_fail_err(call, &err);
        goto out;
    }
    json_t *why = json_array();
    for (size_t i = 0; i < r.n; i++)
        json_array_append_new(why, json_string(r.why[i] ? r.why[i] : ""));
    char *typed = r.n ? ops_to_json(r.ops, r.n) : NULL;
    json_t *jops = typed ? json_loads(typed, 0, NULL) : json_array();
    free(typed);
    pm_proposal *p = NULL;
    if (r.proposal) {
        pm_proposal *ps;
        size_t np;
        if (store_proposals_list(s, NULL, NULL, r.proposal, a, &ps, &np, &err) == PM_OK && np == 1)
            p = &ps[0];
    }
    char *outcome = NULL;
    /* as propose_fix: an agent decides too, so it sees the dry run */
    if (p && r.created && !p->dry_run && p->state == PROP_PENDING &&
        dry_run_proposal(tc, s, p, call->actor, a, &outcome, &err) != PM_OK) {
        json_decref(why);
        json_decref(jops);
        tools_fail_err(call, &err);
        goto out;
    }
    const char *msg =
        !r.proposal ? r.why_none
        : !p || p->state != PROP_PENDING
            ? "the rules planned these same ops before and they are no longer pending"
            : "the rule planner's proposal; next: dry_run_fix or apply_fix (the policy decides "
              "whether it applies now or waits for a person)";
    result =
        json_pack("{s:I, s:b, s:I, s:b, s:s?, s:o, s:o, s:o, s:o, s:I, s:s}", "incident",
                  (json_int_t)id, "planned", r.proposal != 0, "proposal", (json_int_t)r.proposal,
                  "created", r.created, "state", p ? proposal_state_name(p->state) : NULL, "ops",
                  jops, "described", ops_described(r.ops, r.n, a), "why", why, "dry_run",
                  dry_run_json(outcome ? outcome
                               : p     ? p->dry_run
                                       : NULL),
                  "rows", (json_int_t)r.rows, "message", msg ? msg : "");
    free(outcome);
    if (r.proposal)
        resources_changed(tc, NULL, id);
out:
    pm_arena_free(a);
    return result;
}

/* ---- dry_run_fix ------------------------------------------------------------ */

static json_t *tool_dry_run_fix(tools_ctx *ctx, json_t *args, tool_call *call)
{
    tools_ctx *tc = ctx;
    pm_store *s = tools_store(tc, call);
    if (!s)
        return NULL;
    int64_t id = json_integer_value(json_object_get(args, "proposal"));
    const char *actor = call->actor;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    json_t *result = NULL;
    pm_proposal *p = load_proposal(s, id, a, call);
    if (!p)
        goto out;
    if (p->state != PROP_PENDING) {
        tools_fail(call, "proposal %lld is %s, not pending; only a pending proposal is tried",
                   (long long)id, proposal_state_name(p->state));
        goto out;
    }
    char *outcome;
    if (dry_run_proposal(tc, s, p, actor, a, &outcome, &err) != PM_OK) {
        tools_fail_err(call, &err);
        goto out;
    }
    result = json_pack("{s:I, s:s, s:o}", "proposal", (json_int_t)id, "table", p->table, "dry_run",
                       dry_run_json(outcome));
    free(outcome);
    resources_changed(tc, NULL, 0);
out:
    pm_arena_free(a);
    return result;
}

/* ---- apply_fix ---------------------------------------------------------------- */

static json_t *tool_apply_fix(tools_ctx *ctx, json_t *args, tool_call *call)
{
    tools_ctx *tc = ctx;
    pm_store *s = tools_store(tc, call);
    if (!s)
        return NULL;
    int64_t id = json_integer_value(json_object_get(args, "proposal"));
    const char *actor = call->actor;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    json_t *result = NULL;
    pm_proposal *p = load_proposal(s, id, a, call);
    if (!p)
        goto out;
    pm_policy policy;
    tools_table_policy(tc, s, p->table, &policy);
    /* human stays false: what the policy holds for a person comes back as
     * awaiting, never applied (invariant: only a person approves). */
    pm_source_opts limits;
    config_source_opts(tc->cfg, &limits);
    heal_ctx c = {.store = s,
                  .contract = config_contract(tc->cfg, p->table),
                  .policy = &policy,
                  .policy_source = config_policy_source(tc->cfg),
                  .actor = actor,
                  .human = false,
                  .limits = &limits};
    heal_outcome o;
    if (heal_apply(&c, id, true, &o, &err) != PM_OK) {
        tools_fail_err(call, &err);
        goto out;
    }
    if (o.awaiting) {
        char subject[64];
        snprintf(subject, sizeof subject, "proposal/%lld", (long long)id);
        if (act_audit(s, actor, "proposal.held", subject,
                      json_pack("{s:s, s:s, s:b}", "table", p->table, "policy",
                                policy_mode_name(policy.mode), "over_budget", o.over_budget),
                      &err) != PM_OK) {
            tools_fail_err(call, &err);
            goto out;
        }
        char *msg =
            o.over_budget
                ? pm_arena_sprintf(a,
                                   "proposal %lld is not applied: its new columns would pass "
                                   "table %s's budget of columns added without a person (%d in "
                                   "24 hours, %d used; policy auto_columns_per_day); a person "
                                   "approves it with `pipemend proposals approve %lld`",
                                   (long long)id, p->table, o.budget, o.budget_used, (long long)id)
                : pm_arena_sprintf(a,
                                   "proposal %lld is not applied: the policy of table %s "
                                   "(mode %s) holds it for a person; a person approves it "
                                   "with `pipemend proposals approve %lld`",
                                   (long long)id, p->table, policy_mode_name(policy.mode),
                                   (long long)id);
        result = json_pack("{s:b, s:b, s:I, s:s, s:s}", "applied", 0, "awaiting_human_approval", 1,
                           "proposal", (json_int_t)id, "table", p->table, "message", msg);
        resources_changed(tc, NULL, 0);
        goto out;
    }
    result = json_pack("{s:b, s:b, s:I, s:s, s:i, s:i, s:I, s:I}", "applied", 1,
                       "awaiting_human_approval", 0, "proposal",
                       (json_int_t)(o.proposal ? o.proposal : id), "table", p->table,
                       "from_version", o.from_version, "to_version", o.to_version, "replayed",
                       (json_int_t)o.replayed, "waiting", (json_int_t)o.waiting);
    tools_logf(call, TOOLS_LOG_NOTICE,
               "proposal %lld applied to %s: version %d -> %d, %lld rows replayed", (long long)id,
               p->table, o.from_version, o.to_version, (long long)o.replayed);
    resources_changed(tc, p->table, p->incident);
out:
    pm_arena_free(a);
    return result;
}

/* ---- replay_quarantine ------------------------------------------------------- */

/* Each page: progress to the client, and a stop when it cancelled. */
static bool replay_page_seen(void *arg, int64_t done, int64_t total)
{
    tool_call *call = arg;
    char msg[96];
    snprintf(msg, sizeof msg, "%lld of %lld quarantined rows tried", (long long)done,
             (long long)total);
    tools_progress(call, (double)done, (double)total, msg);
    return !tools_cancelled(call);
}

static json_t *tool_replay_quarantine(tools_ctx *ctx, json_t *args, tool_call *call)
{
    tools_ctx *tc = ctx;
    pm_store *s = tools_store(tc, call);
    if (!s)
        return NULL;
    const char *table = json_string_value(json_object_get(args, "table"));
    const char *actor = call->actor;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    json_t *result = NULL;
    if (!tools_table(s, table, a, call))
        goto out;
    replay_result rr;
    replay_watch w = {replay_page_seen, call};
    tools_logf(call, TOOLS_LOG_INFO, "replaying the quarantine of %s", table);
    pm_source_opts limits;
    config_source_opts(tc->cfg, &limits);
    if (replay_quarantine_opts(s, table, config_contract(tc->cfg, table), actor, 0, &w, &limits,
                               &rr, &err) != PM_OK) {
        tools_fail_err(call, &err);
        goto out;
    }
    tools_logf(call, TOOLS_LOG_INFO,
               "replay of %s: %lld loaded, %lld still waiting, %lld incidents resolved", table,
               (long long)rr.loaded, (long long)rr.waiting, (long long)rr.resolved);
    /* replay_quarantine audits the rows it loads; a replay that loaded
     * none is still an agent's act, so the log keeps it too. */
    if (rr.loaded == 0) {
        char subject[160];
        snprintf(subject, sizeof subject, "table/%s", table);
        if (act_audit(s, actor, "quarantine.replay_tried", subject,
                      json_pack("{s:I, s:I}", "waiting", (json_int_t)rr.waiting, "skipped",
                                (json_int_t)rr.skipped),
                      &err) != PM_OK) {
            tools_fail_err(call, &err);
            goto out;
        }
    }
    resources_changed(tc, table, 0); /* after every event of the act */
    result = json_pack("{s:s, s:I, s:I, s:I, s:I}", "table", table, "loaded", (json_int_t)rr.loaded,
                       "waiting", (json_int_t)rr.waiting, "skipped", (json_int_t)rr.skipped,
                       "incidents_resolved", (json_int_t)rr.resolved);
out:
    pm_arena_free(a);
    return result;
}

/* ---- trigger_pipeline --------------------------------------------------------- */

typedef struct run_watch {
    tool_call *call;
    double last; /* progress must grow from one notification to the next */
} run_watch;

/* The run's progress to the client, in bytes of its files read. */
static void ingest_seen(void *arg, const ingest_progress *p)
{
    run_watch *w = arg;
    if ((double)p->done_bytes <= w->last)
        return;
    w->last = (double)p->done_bytes;
    char msg[96];
    snprintf(msg, sizeof msg, "%lld rows committed", (long long)p->rows);
    tools_progress(w->call, (double)p->done_bytes, (double)p->total_bytes, msg);
}

typedef struct trigger {
    const char *actor;
    tool_call *call;
} trigger;

/* The run is about to start: who started it goes on the record first. */
static pm_code trigger_started(void *arg, pm_store *s, const pm_pipeline_cfg *p, size_t nfiles,
                               pm_err *err)
{
    trigger *t = arg;
    char subject[160];
    snprintf(subject, sizeof subject, "pipeline/%s", p->name);
    pm_code rc = act_audit(s, t->actor, "pipeline.triggered", subject,
                           json_pack("{s:s, s:s, s:I}", "table", p->table, "source", p->source,
                                     "files", (json_int_t)nfiles),
                           err);
    if (!rc)
        tools_logf(t->call, TOOLS_LOG_INFO, "running pipeline %s: %zu file(s) into %s", p->name,
                   nfiles, p->table);
    return rc;
}

static json_t *tool_trigger_pipeline(tools_ctx *ctx, json_t *args, tool_call *call)
{
    tools_ctx *tc = ctx;
    pm_store *s = tools_store(tc, call);
    if (!s)
        return NULL;
    const char *name = json_string_value(json_object_get(args, "pipeline"));
    const pm_pipeline_cfg *p = tc->cfg ? config_pipeline(tc->cfg, name) : NULL;
    if (!p) {
        tools_fail(call,
                   "no pipeline \"%s\" in the configuration; call list_pipelines for the "
                   "pipelines pipemend.yaml defines",
                   name);
        return NULL;
    }
    const char *actor = call->actor;
    run_watch watch = {call, 0};
    trigger t = {actor, call};
    pipeline_request req = {.pipeline = p,
                            .stdin_taken = true, /* stdio: the protocol's channel, never a feed */
                            .exclusive = true,
                            .min_interval = TRIGGER_INTERVAL,
                            .on_start = trigger_started,
                            .start_arg = &t,
                            .on_progress = ingest_seen,
                            .progress_arg = &watch};
    pm_err err = {0};
    ingest_result r;
    if (pipeline_run(s, tc->cfg, &req, &r, &err) != PM_OK) {
        tools_fail_err(call, &err);
        return NULL;
    }
    resources_changed(tc, p->table, 0);
    return json_pack("{s:I, s:s, s:I, s:I, s:I}", "run_id", (json_int_t)r.run_id, "status",
                     run_status_name(r.status), "rows_read", (json_int_t)r.read, "rows_loaded",
                     (json_int_t)r.loaded, "rows_quarantined", (json_int_t)r.quarantined);
}

/* ---- the table (schemas: src/tools/schemas/TOOL.*.json) ------------------ */

#define ACTING(idem)                                                                               \
    {                                                                                              \
        .read_only = false, .destructive = false, .idempotent = (idem), .open_world = false        \
    }

const tool_def tools_act_table[] = {
    {
        .name = "propose_fix",
        .title = "Propose a schema fix",
        .description =
            "Propose a repair for a table as typed ops or as exactly one SQL statement "
            "(ALTER TABLE ... ADD COLUMN name type | ALTER COLUMN name TYPE type | ALTER COLUMN "
            "name DROP NOT NULL). The guard checks it against the live table: anything else "
            "(DROP, RENAME, several statements, defaults, constraints) is refused with the "
            "reason. An accepted proposal is recorded as pending and tried in a sandbox; the "
            "SQL text itself never runs. Next: apply_fix, or a person approves it.",
        .input_schema = tool_schema_propose_fix_input,
        .output_schema = tool_schema_propose_fix_output,
        .hints = ACTING(true),
        .call = tool_propose_fix,
    },
    {
        .name = "plan_incident",
        .title = "Plan an incident with the rules",
        .description =
            "Run pipemend's rule planner on an active incident's quarantined rows, checked "
            "against the table as it is now, and record its proposal (the same typed ops the "
            "rules propose during a run, with the reason for each, tried in the sandbox). "
            "Use it instead of building ops by hand; an incident no rule repairs (a type "
            "conflict, a contract break) says so. Next: apply_fix.",
        .input_schema = tool_schema_plan_incident_input,
        .output_schema = tool_schema_plan_incident_output,
        .hints = ACTING(true),
        .call = tool_plan_incident,
    },
    {
        .name = "dry_run_fix",
        .title = "Dry-run a proposal",
        .description = "Try a pending proposal's ops on a scratch copy of its table as it is now, "
                       "with the quarantined rows of its incidents: whether the ops apply, how "
                       "many rows they fix and would load. Records the outcome on the proposal; "
                       "the real table is not touched.",
        .input_schema = tool_schema_dry_run_fix_input,
        .output_schema = tool_schema_dry_run_fix_output,
        .hints = ACTING(true),
        .call = tool_dry_run_fix,
    },
    {
        .name = "apply_fix",
        .title = "Apply a proposal the policy allows",
        .description =
            "Apply a pending proposal if the table's policy lets the rules apply it by "
            "themselves (class auto under mode auto, e.g. a new nullable column), then replay "
            "the table's quarantine. Anything else is not applied: the answer says it awaits "
            "human approval and the command a person runs; that is not an error, and no tool "
            "can approve.",
        .input_schema = tool_schema_apply_fix_input,
        .output_schema = tool_schema_apply_fix_output,
        .hints = ACTING(true),
        .call = tool_apply_fix,
    },
    {
        .name = "replay_quarantine",
        .title = "Replay a table's quarantine",
        .description = "Put a table's quarantined rows through the validator and the loader "
                       "again (after its schema changed): rows that now fit load and leave "
                       "quarantine, the others stay with up-to-date findings.",
        .input_schema = tool_schema_replay_quarantine_input,
        .output_schema = tool_schema_replay_quarantine_output,
        .hints = ACTING(true),
        .call = tool_replay_quarantine,
    },
    {
        .name = "trigger_pipeline",
        .title = "Run a pipeline now",
        .description =
            "Run a pipeline of pipemend.yaml once, as `pipemend run NAME` does: its source "
            "files load into its table under its contract and policy, from where their "
            "checkpoints left off. Refused while a run of it is running, and within 60 s of "
            "its last start (the answer says when to retry). Returns the run's counts; "
            "get_run_log tells the rest.",
        .input_schema = tool_schema_trigger_pipeline_input,
        .output_schema = tool_schema_trigger_pipeline_output,
        .hints = ACTING(false),
        .call = tool_trigger_pipeline,
    },
};
const size_t tools_act_n = sizeof tools_act_table / sizeof tools_act_table[0];
