/* cmd_ingest.c - `pipemend ingest` and `pipemend run`: each says which
 * run it wants (files into a table, or a pipeline of the configuration)
 * and hands it to pipeline_run; the progress bar is drawn here, from the
 * numbers the run reports. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/utf8.h"
#include "schema/colname.h"
#include "source/compress.h"
#include "pipeline/pipeline.h"

static void print_result(const cli_ctx *ctx, const ingest_result *r)
{
    if (ctx->json) {
        printf("{\"run_id\":%lld,\"status\":\"%s\",\"rows_read\":%lld,\"rows_loaded\":%lld,"
               "\"rows_quarantined\":%lld,\"volume_anomaly\":%s}\n",
               (long long)r->run_id, run_status_name(r->status), (long long)r->read,
               (long long)r->loaded, (long long)r->quarantined, r->anomaly ? "true" : "false");
        return;
    }
    pm_info("run %lld %s: %lld read, %lld loaded, %lld quarantined", (long long)r->run_id,
            run_status_name(r->status), (long long)r->read, (long long)r->loaded,
            (long long)r->quarantined);
    if (r->quarantined)
        pm_info("see why: pipemend quarantine list --run %lld", (long long)r->run_id);
}

/* Runs req against the warehouse; the exit code. */
static int run(cli_ctx *ctx, pipeline_request *req)
{
    req->policy_mode = ctx->policy;
    req->on_rewrite = ctx->on_rewrite;
    req->final = ctx->final;
    if (ctx->policy)
        req->policy_mode_source = "--policy on the command line";
    if (isatty(2)) {
        req->on_progress = cli_progress_bar;
        req->progress_arg = NULL;
    }
    pm_err err = {0};
    if (pipeline_check(ctx->cfg, req, &err) != PM_OK)
        return cli_fail(&err);
    int code;
    pm_store *s = cli_open_store_to_load(ctx, &code);
    if (!s)
        return code;
    pm_arena *a = pm_arena_new(0);
    const char **unmatched;
    size_t n;
    if (config_unmatched(ctx->cfg, s, req->table, a, &unmatched, &n, &err) == PM_OK)
        for (size_t i = 0; i < n; i++)
            pm_warn("%s", cli_safe(unmatched[i]));
    pm_arena_free(a);
    pm_err_clear(&err);
    ingest_result r;
    pm_code rc = pipeline_run(s, ctx->cfg, req, &r, &err);
    if (rc) {
        store_close(s);
        return cli_fail(&err);
    }
    print_result(ctx, &r);
    /* a pipeline that hands what the rules left to the agent */
    const pm_pipeline_cfg *p = req->pipeline        ? req->pipeline
                               : req->pipeline_name ? config_pipeline(ctx->cfg, req->pipeline_name)
                                                    : NULL;
    if (p && p->agent_on_incident && (r.quarantined || r.held))
        cli_agent_after_run(ctx, s, req->table ? req->table : p->table);
    store_close(s);
    return r.quarantined || r.held ? EXIT_QUARANTINED : EXIT_LOADED;
}

/* The table a file names when --table is not given: its base name without
 * its last extension (and a compression suffix before it), normalised as a
 * column name is (colname.h), so "exports/Weather-2026.csv" loads into
 * weather_2026 and "movies.json.gz" into movies. False when the name
 * gives nothing usable (standard input, a name that is not UTF-8). */
static bool table_from_path(const char *path, char *out)
{
    if (strcmp(path, "-") == 0)
        return false;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = compress_strip_suffix(base);
    const char *dot = memrchr(base, '.', len);
    size_t n = dot && dot != base ? (size_t)(dot - base) : len;
    if (!n || !pm_utf8_valid(base, n))
        return false;
    colname_normalise(base, n, out);
    return true;
}

int cmd_ingest(cli_ctx *ctx)
{
    if (ctx->argc < 1) {
        cli_error(EXIT_USAGE, NULL, "ingest needs at least one FILE (- for stdin)");
        cli_usage_of("ingest");
        return EXIT_USAGE;
    }
    char named[COLNAME_MAX + 1];
    const char *table = ctx->table;
    if (!table) {
        if (!table_from_path(ctx->argv[0], named)) {
            return cli_error(
                EXIT_USAGE, "pass --table NAME", "ingest cannot name the table after %s",
                strcmp(ctx->argv[0], "-") == 0 ? "standard input" : cli_safe(ctx->argv[0]));
        }
        table = named;
        pm_info("loading into table %s, named after %s (--table NAME chooses another)", table,
                cli_safe(ctx->argv[0]));
    }
    pipeline_request req = {.table = table,
                            .pipeline_name = ctx->pipeline,
                            .paths = (const char *const *)ctx->argv,
                            .npaths = (size_t)ctx->argc,
                            .format = ctx->format,
                            .delimiter = ctx->delimiter,
                            .encoding = ctx->encoding};
    return run(ctx, &req);
}

int cmd_run(cli_ctx *ctx)
{
    if (ctx->argc != 1) {
        cli_error(EXIT_USAGE, NULL, "run needs exactly one pipeline NAME");
        cli_usage_of("run");
        return EXIT_USAGE;
    }
    const pm_pipeline_cfg *p = config_pipeline(ctx->cfg, ctx->argv[0]);
    if (!p) {
        bool json = pm_log_get_format() == PM_LOG_JSON; /* one object a line */
        char hint[1024] = "";
        for (size_t i = 0, n = 0; json && i < ctx->cfg->npipelines && n < sizeof hint; i++)
            n += (size_t)snprintf(hint + n, sizeof hint - n, "%sknown: %s", i ? ", " : "",
                                  ctx->cfg->pipelines[i].name);
        cli_error(EXIT_USAGE, *hint ? hint : NULL, "no pipeline \"%s\" in %s", ctx->argv[0],
                  ctx->cfg->path ? ctx->cfg->path : "the configuration (no pipemend.yaml found)");
        for (size_t i = 0; !json && i < ctx->cfg->npipelines; i++)
            fprintf(stderr, "  known: %s\n", ctx->cfg->pipelines[i].name);
        return EXIT_USAGE;
    }
    pipeline_request req = {.pipeline = p};
    return run(ctx, &req);
}
