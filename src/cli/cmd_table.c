/* cmd_table.c - `pipemend table reset|drop NAME`: a supported way to start
 * a table pipemend loads into over, or to drop it, with everything
 * pipemend keeps about it handled in one transaction (heal_table_remove)
 * and recorded in the audit log. Both ask first (or take --yes): neither
 * can be undone. Only a person does this, from here: no MCP tool drops or
 * empties a table. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "heal/heal.h"
#include "pipeline/ingest.h"

/* Refuses while a run loads into the table: its next batch would write a
 * checkpoint or rows into what was just reset. */
static int refuse_while_running(cli_ctx *ctx, pm_store *s, const char *table)
{
    pm_err err = {0};
    pm_arena *a = pm_arena_new(0);
    pm_run *runs;
    size_t n = 0;
    int code = 0;
    if (ingest_reap_aborted(s, &err) || store_runs_list(s, NULL, table, 1, a, &runs, &n, &err)) {
        code = cli_fail(&err);
    } else if (n && runs[0].status == RUN_RUNNING) {
        code = cli_error(EXIT_FAILED, "wait for it to finish (pipemend runs --table NAME)",
                         "run %lld is loading into %s", (long long)runs[0].id, table);
    }
    pm_arena_free(a);
    return code;
}

int cmd_table(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    bool drop = strcmp(sub, "drop") == 0;
    if (!drop && strcmp(sub, "reset") != 0) {
        cli_error(EXIT_USAGE, NULL, "table needs \"reset NAME\" or \"drop NAME\"");
        cli_usage_of("table");
        return EXIT_USAGE;
    }
    if (ctx->argc != 2) {
        return cli_error(EXIT_USAGE, "pipemend schema list shows the tables",
                         "table %s needs one table NAME", sub);
    }
    const char *name = ctx->argv[1];
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    pm_err err = {0};
    pm_arena *a = pm_arena_new(0);
    pm_table *t = NULL;
    int64_t rows = 0, quarantined = 0;
    pm_code rc = store_table_load(s, name, a, &t, &err);
    if (rc) {
        code = cli_fail(&err);
        goto out;
    }
    if (!t) {
        code = cli_error(EXIT_FAILED, "pipemend schema list shows the tables it loads into",
                         "pipemend does not know a table \"%s\"", cli_safe(name));
        goto out;
    }
    if ((code = refuse_while_running(ctx, s, name)))
        goto out;
    rc = store_table_count(s, name, &rows, &err);
    bool missing = rc == PM_ERR_NOTFOUND;
    if (missing && !drop) {
        code = cli_error(EXIT_FAILED, "pipemend table drop NAME forgets it",
                         "table %s is missing from the database (dropped outside pipemend): "
                         "there is nothing to reset",
                         name);
        goto out;
    }
    if ((rc && !missing) || store_quarantine_count_where(s, name, 0, &quarantined, &err)) {
        code = cli_fail(&err);
        goto out;
    }
    char what[512];
    if (drop)
        snprintf(what, sizeof what,
                 "drop table %s (%s%lld rows) with its %lld quarantined rows, its schema "
                 "versions, checkpoints, open incidents and pending proposals",
                 name, missing ? "missing already, " : "", (long long)rows, (long long)quarantined);
    else
        snprintf(what, sizeof what,
                 "reset table %s: delete its %lld rows, discard its %lld quarantined rows, "
                 "close its open incidents and pending proposals, and load its sources again "
                 "from their start (its schema stays)",
                 name, (long long)rows, (long long)quarantined);
    if (!cli_confirm(ctx, what, &code))
        goto out;
    char actor[160];
    cli_human_actor(ctx, actor, sizeof actor);
    pm_policy policy;
    config_table_policy(ctx->cfg, name, &policy);
    heal_ctx c = {.store = s,
                  .policy = &policy,
                  .policy_source = config_policy_source(ctx->cfg),
                  .actor = actor,
                  .human = true};
    heal_table_result r;
    if (heal_table_remove(&c, name, drop, &r, &err) != PM_OK) {
        code = cli_fail(&err);
        goto out;
    }
    if (ctx->json) {
        printf("{\"table\":\"%s\",\"%s\":true,\"rows\":%lld,\"quarantined\":%lld,"
               "\"checkpoints\":%lld,\"incidents_dismissed\":%lld,\"proposals_rejected\":%lld}\n",
               name, drop ? "dropped" : "reset", (long long)(drop ? rows : r.rows),
               (long long)r.quarantined, (long long)r.checkpoints, (long long)r.dismissed,
               (long long)r.rejected);
    } else {
        printf("table %s %s by %s: %lld rows %s, %lld quarantined rows discarded, %lld "
               "checkpoints forgotten, %lld incidents dismissed, %lld proposals rejected "
               "(recorded in the audit log)\n",
               name, drop ? "dropped" : "reset", actor, (long long)(drop ? rows : r.rows),
               drop ? "gone" : "deleted", (long long)r.quarantined, (long long)r.checkpoints,
               (long long)r.dismissed, (long long)r.rejected);
        if (!drop)
            printf("its schema (version %d) stays; the next ingest loads its files from the "
                   "start\n",
                   t->version);
    }
out:
    pm_arena_free(a);
    store_close(s);
    return code;
}
