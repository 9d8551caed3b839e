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

#include "cli/cli.h"
#include "core/log.h"
#include "heal/heal.h"
#include "heal/promote.h"
#include "tools/export.h"
#include "tools/tools.h"
#include "view/view.h"

static int decide(cli_ctx *ctx, pm_store *s, const pm_proposal *p, bool approve)
{
    pm_err err = {0};
    char actor[160];
    cli_human_actor(ctx, actor, sizeof actor);
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg, .store = s};
    heal_outcome out;
    if (tools_decide(&t, p, approve, actor, &out, &err) != PM_OK)
        return cli_fail(&err);
    if (!approve) {
        printf("proposal %lld rejected by %s\n", (long long)p->id, actor);
        return 0;
    }
    if (out.from_version != p->version)
        printf("proposal %lld was planned against version %d and checked against version %d\n",
               (long long)p->id, p->version, out.from_version);
    if (out.proposal && out.proposal != p->id)
        printf("proposal %lld was split: objects that depend on some of its columns refuse their "
               "change (pipemend proposals list shows the part that waits)\n",
               (long long)p->id);
    printf("proposal %lld applied by %s: %s is at schema version %d\n",
           (long long)(out.proposal ? out.proposal : p->id), actor, p->table, out.to_version);
    printf("dry run: the ops fix %lld of %lld quarantined rows (%lld would load now), %lld "
           "existing rows carried\n",
           (long long)out.dry.fixed, (long long)out.dry.rows, (long long)out.dry.would_load,
           (long long)out.dry.sample_rows);
    printf("replayed its quarantine: %lld rows loaded, %lld still wait\n", (long long)out.replayed,
           (long long)out.waiting);
    printf("checks, dry run, apply and replay took %.1f ms\n", out.ms);
    return 0;
}

/* `proposals export ID --dir DIR`: the migration for review (tools/export.h). */
static int proposals_export(cli_ctx *ctx)
{
    long long id;
    if (ctx->argc != 2 || sscanf(ctx->argv[1], "%lld", &id) != 1 || id < 1 || !ctx->dir)
        return cli_error(EXIT_USAGE, "pipemend proposals export ID --dir DIR",
                         "proposals export needs one proposal ID and --dir DIR");
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_err err = {0};
    char sql[4096], md[4096];
    code = 0;
    if (export_proposal(s, ctx->cfg, id, ctx->dir, sql, md, sizeof sql, &err))
        code = cli_fail(&err);
    else if (ctx->json)
        cli_print_json(json_pack("{s:I, s:s, s:s}", "proposal", (json_int_t)id, "sql", sql,
                                 "description", md));
    else
        printf("proposal %lld exported:\n  %s\n  %s\n", id, sql, md);
    store_close(s);
    return code;
}

/* approve|reject --table T --all: each pending proposal of T, oldest
 * first, one by one through the same path as one ID (checked again,
 * applied, audited and replayed, or rejected), then a summary. A proposal
 * that is no longer pending when its turn comes (an earlier one settled
 * it) is skipped; one that fails does not stop the others. */
static int decide_all(cli_ctx *ctx, pm_store *s, bool approve)
{
    const char *verb = approve ? "approve" : "reject";
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_proposal_state pending = PROP_PENDING;
    pm_proposal *ps;
    size_t n;
    if (store_proposals_list(s, ctx->table, &pending, 0, a, &ps, &n, &err)) {
        pm_arena_free(a);
        return cli_fail(&err);
    }
    if (!n) {
        pm_arena_free(a);
        return cli_error(EXIT_FAILED, "see pipemend proposals list",
                         "no pending proposal for table %s", ctx->table);
    }
    long long done = 0, failed = 0, skipped = 0;
    for (size_t i = n; i-- > 0;) {
        pm_proposal *now;
        size_t k;
        if (store_proposals_list(s, NULL, &pending, ps[i].id, a, &now, &k, &err)) {
            cli_fail(&err);
            failed++;
            continue;
        }
        if (!k) {
            printf("proposal %lld skipped: no longer pending\n", (long long)ps[i].id);
            skipped++;
            continue;
        }
        if (decide(ctx, s, &now[0], approve) == 0)
            done++;
        else
            failed++;
    }
    printf("%s %s --all: %lld of %zu pending proposals of %s %s, %lld failed, %lld skipped\n", verb,
           ctx->table, done, n, ctx->table, approve ? "applied" : "rejected", failed, skipped);
    pm_arena_free(a);
    return failed ? EXIT_FAILED : 0;
}

/* `proposals merge TABLE FROM INTO`: a person proposes to mend a split
 * column; it waits for an approval like any proposal (tools.h). */
static int proposals_merge(cli_ctx *ctx)
{
    if (ctx->argc != 4)
        return cli_error(EXIT_USAGE, "pipemend schema show --table TABLE names the columns",
                         "proposals merge needs TABLE FROM INTO");
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    char actor[160];
    cli_human_actor(ctx, actor, sizeof actor);
    tools_ctx t = {.db = ctx->db, .cfg = ctx->cfg, .store = s};
    pm_err err = {0};
    int64_t id = 0;
    bool created = false;
    code = 0;
    if (tools_propose_merge(&t, ctx->argv[1], ctx->argv[2], ctx->argv[3], actor, &id, &created,
                            &err) != PM_OK)
        code = cli_fail(&err);
    else if (ctx->json)
        cli_print_json(json_pack("{s:I, s:b}", "proposal", (json_int_t)id, "created", created));
    else
        printf("proposal %lld %s: merge column %s into %s.%s; it applies when a person "
               "approves it (pipemend proposals show %lld, then approve %lld)\n",
               (long long)id, created ? "waits for a person" : "exists already",
               cli_safe(ctx->argv[2]), cli_safe(ctx->argv[1]), cli_safe(ctx->argv[3]),
               (long long)id, (long long)id);
    store_close(s);
    return code;
}

int cmd_proposals(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    if (strcmp(sub, "export") == 0)
        return proposals_export(ctx);
    if (strcmp(sub, "merge") == 0)
        return proposals_merge(ctx);
    bool list = strcmp(sub, "list") == 0, show = strcmp(sub, "show") == 0,
         approve = strcmp(sub, "approve") == 0, reject = strcmp(sub, "reject") == 0;
    long long id = 0;
    if (!list && !show && !approve && !reject) {
        cli_error(EXIT_USAGE, NULL, "proposals needs list, show, approve or reject");
        cli_usage_of("proposals");
        return EXIT_USAGE;
    }
    if (ctx->all && !approve && !reject)
        return cli_error(EXIT_USAGE, NULL, "--all goes with proposals approve or reject");
    if (ctx->all && (ctx->argc != 1 || !ctx->table)) {
        return cli_error(EXIT_USAGE, "proposals list --table NAME shows them first",
                         "proposals %s --all takes --table NAME and no ID", sub);
    }
    if (ctx->all) {
        int rc;
        pm_store *st = cli_open_store(ctx, &rc);
        if (!st)
            return rc;
        rc = decide_all(ctx, st, approve);
        store_close(st);
        return rc;
    }
    if (!list && (ctx->argc != 2 || sscanf(ctx->argv[1], "%lld", &id) != 1 || id < 1)) {
        return cli_error(EXIT_USAGE, NULL,
                         "proposals %s needs one proposal ID (see pipemend proposals list)", sub);
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
        code = cli_error(EXIT_FAILED, NULL, "no proposal %lld", id);
    } else if (approve || reject) {
        code = decide(ctx, s, &ps[0], approve);
    } else if (ctx->json) {
        if (show) {
            cli_print_json(view_proposal(&ps[0]));
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, view_proposal(&ps[i]));
            cli_print_json(arr);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            pm_op *ops;
            size_t nops;
            printf("#%-5lld %-16s %-9s planned against version %d, %s\n", (long long)ps[i].id,
                   ps[i].table, proposal_state_name(ps[i].state), ps[i].version, ps[i].created_at);
            if (ops_from_json(ps[i].ops, a, &ops, &nops, NULL) == PM_OK) {
                json_t *why = json_loads(ps[i].why, 0, NULL);
                for (size_t k = 0; k < nops; k++)
                    printf("       %s  (%s)\n", cli_safe(op_describe(&ops[k], a)),
                           json_string_value(json_array_get(why, k))
                               ? cli_safe(json_string_value(json_array_get(why, k)))
                               : "");
                json_decref(why);
            }
            json_t *dry = ps[i].dry_run ? json_loads(ps[i].dry_run, 0, NULL) : NULL;
            if (dry)
                printf("       dry run %s: fixes %lld of %lld quarantined rows, %lld existing rows "
                       "carried%s%s\n",
                       json_is_true(json_object_get(dry, "ok")) ? "ok" : "failed",
                       (long long)json_integer_value(json_object_get(dry, "fixed")),
                       (long long)json_integer_value(json_object_get(dry, "rows")),
                       (long long)json_integer_value(json_object_get(dry, "sample_rows")),
                       json_string_value(json_object_get(dry, "error")) ? ": " : "",
                       json_string_value(json_object_get(dry, "error"))
                           ? cli_safe(json_string_value(json_object_get(dry, "error")))
                           : "");
            size_t di;
            json_t *dep;
            json_array_foreach(json_object_get(dry, "dependents"), di, dep)
            {
                const char *col = json_string_value(json_object_get(dep, "column"));
                const char *note = json_string_value(json_object_get(dep, "note"));
                printf("       %s %s: %s%s%s%s%s\n", di ? "        " : "dependent",
                       cli_safe(json_string_value(json_object_get(dep, "name"))),
                       cli_safe(json_string_value(json_object_get(dep, "action"))),
                       col ? ", on column " : "", col ? cli_safe(col) : "", note ? " - " : "",
                       note ? cli_safe(note) : "");
            }
            size_t vi;
            json_t *vc;
            json_array_foreach(json_object_get(dry, "value_changes"), vi, vc)
            {
                printf("       changes existing values: %lld rows of %s (%s -> %s): %s\n",
                       (long long)json_integer_value(json_object_get(vc, "rows")),
                       cli_safe(json_string_value(json_object_get(vc, "column"))),
                       cli_safe(json_string_value(json_object_get(vc, "from"))),
                       cli_safe(json_string_value(json_object_get(vc, "to"))),
                       cli_safe(json_string_value(json_object_get(vc, "note"))));
                size_t si;
                json_t *sm;
                json_array_foreach(json_object_get(vc, "samples"), si, sm)
                {
                    printf("         %s  ->  %s\n",
                           cli_safe(json_string_value(json_object_get(sm, "before"))),
                           cli_safe(json_string_value(json_object_get(sm, "after"))));
                }
            }
            json_array_foreach(json_object_get(dry, "rewrite"), vi, vc)
            {
                long long bytes = (long long)json_integer_value(json_object_get(vc, "bytes"));
                printf("       rewrites the table: %s %s -> %s, %lld rows",
                       cli_safe(json_string_value(json_object_get(vc, "column"))),
                       cli_safe(json_string_value(json_object_get(vc, "from"))),
                       cli_safe(json_string_value(json_object_get(vc, "to"))),
                       (long long)json_integer_value(json_object_get(vc, "rows")));
                if (bytes >= 0)
                    printf(", %lld bytes", bytes);
                printf(", lock: %s\n", json_string_value(json_object_get(vc, "lock")));
                printf("         %s\n         %s\n", json_string_value(json_object_get(vc, "note")),
                       json_string_value(json_object_get(vc, "values")));
            }
            json_decref(dry);
            if (ps[i].incident)
                printf("       incident %lld: pipemend incidents show %lld\n",
                       (long long)ps[i].incident, (long long)ps[i].incident);
            if (ps[i].decided_by)
                printf("       decided by %s at %s\n", cli_safe(ps[i].decided_by),
                       ps[i].decided_at);
        }
        if (!n)
            printf("no proposals\n");
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}

/* `pipemend policy`: promotions of repairs people keep approving
 * (heal/promote.h); approving one is a person's act, like approving a
 * proposal. */
int cmd_policy(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    bool list = strcmp(sub, "list") == 0, approve = strcmp(sub, "approve") == 0,
         reject = strcmp(sub, "reject") == 0;
    long long id = 0;
    if (!list && !approve && !reject) {
        cli_error(EXIT_USAGE, NULL, "policy needs list, approve ID or reject ID");
        cli_usage_of("policy");
        return EXIT_USAGE;
    }
    if (!list && (ctx->argc != 2 || sscanf(ctx->argv[1], "%lld", &id) != 1 || id < 1))
        return cli_error(EXIT_USAGE, "see pipemend policy list", "policy %s needs one promotion ID",
                         sub);
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_err err = {0};
    code = 0;
    if (!list) {
        char actor[160];
        cli_human_actor(ctx, actor, sizeof actor);
        if (promote_decide(s, id, approve, actor, &err))
            code = cli_fail(&err);
        else
            printf("policy promotion %lld %s by %s\n", id, approve ? "approved" : "rejected",
                   actor);
        store_close(s);
        return code;
    }
    pm_arena *a = pm_arena_new(0);
    pm_promotion *ps;
    size_t n;
    if (store_promotions_list(s, ctx->table, NULL, 0, a, &ps, &n, &err)) {
        code = cli_fail(&err);
    } else if (ctx->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *ev = json_loads(ps[i].evidence, 0, NULL);
            json_t *o =
                json_pack("{s:I, s:s, s:s, s:s, s:o, s:s}", "id", (json_int_t)ps[i].id, "table",
                          ps[i].table, "op_kind", ps[i].op_kind, "state", ps[i].state, "evidence",
                          ev ? ev : json_object(), "created_at", ps[i].created_at);
            json_object_set_new(o, "decided_by",
                                ps[i].decided_by ? json_string(ps[i].decided_by) : json_null());
            json_object_set_new(o, "decided_at",
                                ps[i].decided_at ? json_string(ps[i].decided_at) : json_null());
            json_array_append_new(arr, o);
        }
        cli_print_json(arr);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("#%-4lld %-20s %-18s %-9s %s%s%s\n", (long long)ps[i].id, cli_safe(ps[i].table),
                   ps[i].op_kind, ps[i].state, cli_safe(ps[i].evidence),
                   ps[i].decided_by ? "  by " : "",
                   ps[i].decided_by ? cli_safe(ps[i].decided_by) : "");
        if (!n)
            printf("no policy promotions: none proposed yet (after %d approvals of one op kind "
                   "on one table, pipemend proposes one)\n",
                   ctx->cfg->promote_after);
    }
    pm_arena_free(a);
    store_close(s);
    return code;
}
