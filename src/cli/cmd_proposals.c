/* cmd_proposals.c - `pipemend proposals`: the repairs that wait for a
 * person. Approving is a human act (DESIGN.md, invariant 4): it exists only
 * here, on the command line, records who did it, and goes through the
 * guard and the policy again before the store applies the ops. */
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "heal/guard.h"
#include "heal/policy.h"
#include "pipeline/replay.h"

static json_t *proposal_json(const pm_proposal *p)
{
    json_t *ops = json_loads(p->ops, 0, NULL), *why = json_loads(p->why, 0, NULL);
    json_t *o = json_pack("{s:I, s:s, s:I, s:i, s:s, s:o, s:o, s:s}", "id", (json_int_t)p->id,
                          "table", p->table, "run_id", (json_int_t)p->run_id, "version", p->version,
                          "state", p->state, "ops", ops ? ops : json_array(), "why",
                          why ? why : json_array(), "created_at", p->created_at);
    json_object_set_new(o, "decided_by", p->decided_by ? json_string(p->decided_by) : json_null());
    json_object_set_new(o, "decided_at", p->decided_at ? json_string(p->decided_at) : json_null());
    return o;
}

const char *cli_human_actor(const cli_ctx *ctx, char *buf, size_t n)
{
    const char *name = ctx->actor;
    if (!name) {
        struct passwd *pw = getpwuid(getuid());
        name = pw ? pw->pw_name : getenv("USER");
    }
    snprintf(buf, n, "human:%s", name && *name ? name : "unknown");
    return buf;
}

static const pm_table *lookup_one(void *arg, const char *name)
{
    const pm_table *t = arg;
    return t && strcmp(t->name, name) == 0 ? t : NULL;
}

static int decide(cli_ctx *ctx, pm_store *s, pm_arena *a, const pm_proposal *p, bool approve)
{
    pm_err err = {0};
    char actor[160], subject[64];
    cli_human_actor(ctx, actor, sizeof actor);
    snprintf(subject, sizeof subject, "proposal/%lld", (long long)p->id);
    if (strcmp(p->state, "pending") != 0) {
        fprintf(stderr, "pipemend: error: proposal %lld is %s, not pending\n", (long long)p->id,
                p->state);
        return EXIT_USAGE;
    }
    pm_code rc = PM_OK;
    if (approve) {
        pm_op *ops;
        size_t n;
        pm_table *t, *to;
        rc = ops_from_json(p->ops, a, &ops, &n, &err);
        if (!rc)
            rc = store_table_load(s, p->table, a, &t, &err);
        if (!rc && !t)
            rc = pm_err_set(&err, PM_ERR_NOTFOUND, "table %s no longer exists", p->table);
        /* The schema may have moved on since the plan (another proposal, a
         * heal): the ops are checked again below against the schema as it
         * is now, and the store applies them only if it is still that one
         * when it holds the migration lock. */
        if (!rc && t->version != p->version)
            printf("proposal %lld was planned against version %d; checking it against version "
                   "%d\n",
                   (long long)p->id, p->version, t->version);
        for (size_t i = 0; !rc && i < n; i++) {
            if (ops[i].kind == OP_ADD_FIELD_MAPPING || ops[i].kind == OP_ADD_COERCION) {
                rc = pm_err_set(&err, PM_ERR_USAGE,
                                "applying %s is not built yet; proposal %lld stays pending",
                                op_kind_name(ops[i].kind), (long long)p->id);
                pm_err_hint(&err, "fix the producer, or reject the proposal");
            } else if (policy_class(&ops[i], t) == CLASS_FORBIDDEN) {
                rc = pm_err_set(&err, PM_ERR_SCHEMA, "%s is forbidden by the policy",
                                op_describe(&ops[i], a));
            }
        }
        const char *allowed[] = {p->table};
        guard_ctx g = {
            .allowed_tables = allowed, .nallowed = 1, .lookup = lookup_one, .lookup_arg = t};
        size_t bad;
        if (!rc)
            rc = guard_check_ops(&g, ops, n, &bad, &err);
        if (!rc)
            rc = op_result(t, ops, n, a, &to, &err);
        if (!rc)
            rc = store_begin(s, &err);
        if (!rc) {
            char *reason =
                pm_arena_sprintf(a, "proposal %lld approved by %s", (long long)p->id, actor);
            rc = store_apply_ops(s, t, ops, n, to, reason, &err);
            if (!rc)
                rc = store_proposal_decide(s, p->id, "applied", actor, &err);
            if (!rc)
                rc = audit_append(s, actor, "proposal.approved", subject,
                                  pm_arena_sprintf(a, "{\"table\":\"%s\",\"to_version\":%d}",
                                                   p->table, to->version),
                                  &err);
            if (!rc)
                rc = store_commit(s, &err);
            if (rc)
                store_rollback(s, NULL);
            if (!rc) {
                printf("proposal %lld applied by %s: %s is at schema version %d\n",
                       (long long)p->id, actor, p->table, to->version);
                replay_result rr;
                if (replay_quarantine(s, p->table, config_contract(ctx->cfg, p->table), actor, &rr,
                                      &err) == PM_OK)
                    printf("replayed its quarantine: %lld rows loaded, %lld still wait\n",
                           (long long)rr.loaded, (long long)rr.waiting + (long long)rr.skipped);
                else
                    fprintf(stderr, "pipemend: warning: replay failed: %s\n", err.msg);
            }
        }
    } else {
        rc = store_begin(s, &err);
        if (!rc)
            rc = store_proposal_decide(s, p->id, "rejected", actor, &err);
        if (!rc)
            rc = audit_append(s, actor, "proposal.rejected", subject, NULL, &err);
        if (!rc)
            rc = store_commit(s, &err);
        if (rc)
            store_rollback(s, NULL);
        else
            printf("proposal %lld rejected by %s\n", (long long)p->id, actor);
    }
    return rc ? cli_fail(&err) : 0;
}

int cmd_proposals(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    bool list = strcmp(sub, "list") == 0, show = strcmp(sub, "show") == 0,
         approve = strcmp(sub, "approve") == 0, reject = strcmp(sub, "reject") == 0;
    long long id = 0;
    if (!list && !show && !approve && !reject) {
        fprintf(stderr, "pipemend: error: proposals needs list, show, approve or reject\n");
        cli_usage_of("proposals");
        return EXIT_USAGE;
    }
    if (!list && (ctx->argc != 2 || sscanf(ctx->argv[1], "%lld", &id) != 1 || id < 1)) {
        fprintf(stderr,
                "pipemend: error: proposals %s needs one proposal ID (see pipemend "
                "proposals list)\n",
                sub);
        return EXIT_USAGE;
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_proposal *ps;
    size_t n;
    code = 0;
    if (store_proposals_list(s, list ? ctx->table : NULL, NULL, id, a, &ps, &n, &err)) {
        code = cli_fail(&err);
    } else if (!list && n == 0) {
        fprintf(stderr, "pipemend: error: no proposal %lld\n", id);
        code = EXIT_FAILED;
    } else if (approve || reject) {
        code = decide(ctx, s, a, &ps[0], approve);
    } else if (ctx->json) {
        if (show) {
            cli_print_json(proposal_json(&ps[0]));
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, proposal_json(&ps[i]));
            cli_print_json(arr);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            pm_op *ops;
            size_t nops;
            printf("#%-5lld %-16s %-9s planned against version %d, %s\n", (long long)ps[i].id,
                   ps[i].table, ps[i].state, ps[i].version, ps[i].created_at);
            if (ops_from_json(ps[i].ops, a, &ops, &nops, NULL) == PM_OK) {
                json_t *why = json_loads(ps[i].why, 0, NULL);
                for (size_t k = 0; k < nops; k++)
                    printf("       %s  (%s)\n", op_describe(&ops[k], a),
                           json_string_value(json_array_get(why, k))
                               ? json_string_value(json_array_get(why, k))
                               : "");
                json_decref(why);
            }
            if (ps[i].decided_by)
                printf("       decided by %s at %s\n", ps[i].decided_by, ps[i].decided_at);
        }
        if (!n)
            printf("no proposals\n");
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}
