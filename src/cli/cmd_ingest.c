/* cmd_ingest.c - `pipemend ingest` and `pipemend run`: both build the
 * options of one run and hand them to the pipeline part. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "pipeline/ingest.h"

static void defaults_from_config(ingest_opts *o, const pm_config *cfg)
{
    source_opts_default(&o->source);
    o->batch_size = cfg->batch_size;
    o->sample_size = cfg->sample_size;
    o->source.max_line = cfg->max_line_bytes;
    o->source.json.max_depth = cfg->max_depth;
    o->volume_window = cfg->volume_window;
    o->volume_ratio = cfg->volume_ratio;
    o->progress = isatty(2) != 0;
}

/* The policy of a run: the config's (config_policy), with its mode
 * replaced by --policy when given. */
static bool pick_policy(const cli_ctx *ctx, const pm_pipeline_cfg *p, pm_policy *out)
{
    config_policy(ctx->cfg, p ? p->name : NULL, p ? p->table : ctx->table, out);
    const char *name = ctx->policy ? ctx->policy : policy_mode_name(out->mode);
    if (policy_mode_parse(name, &out->mode))
        return true;
    fprintf(stderr, "pipemend: error: unknown policy \"%s\"\n  hint: use auto, review or frozen\n",
            name);
    return false;
}

static void print_result(const cli_ctx *ctx, const ingest_result *r)
{
    if (ctx->json) {
        printf("{\"run_id\":%lld,\"status\":\"%s\",\"rows_read\":%lld,\"rows_loaded\":%lld,"
               "\"rows_quarantined\":%lld,\"volume_anomaly\":%s}\n",
               (long long)r->run_id, r->status, (long long)r->read, (long long)r->loaded,
               (long long)r->quarantined, r->anomaly ? "true" : "false");
        return;
    }
    pm_info("run %lld %s: %lld read, %lld loaded, %lld quarantined", (long long)r->run_id,
            r->status, (long long)r->read, (long long)r->loaded, (long long)r->quarantined);
    if (r->quarantined)
        pm_info("see why: pipemend quarantine list --run %lld", (long long)r->run_id);
}

static int finish(const cli_ctx *ctx, pm_code rc, const ingest_result *r, const pm_err *err)
{
    if (rc)
        return cli_fail(err);
    print_result(ctx, r);
    return r->quarantined || r->held ? EXIT_QUARANTINED : EXIT_LOADED;
}

int cmd_ingest(cli_ctx *ctx)
{
    pm_err err = {0};
    if (!ctx->table || ctx->argc < 1) {
        fprintf(stderr, "pipemend: error: ingest needs --table NAME and at least one FILE (- for "
                        "stdin)\n");
        cli_usage_of("ingest");
        return EXIT_USAGE;
    }
    ingest_opts o = {0};
    defaults_from_config(&o, ctx->cfg);
    o.table = ctx->table;
    o.pipeline = ctx->pipeline;
    o.paths = (const char *const *)ctx->argv;
    o.npaths = (size_t)ctx->argc;
    if (ctx->format) {
        if (!source_format_parse(ctx->format, &o.format)) {
            fprintf(stderr, "pipemend: error: unknown format \"%s\"\n  hint: use ndjson or csv\n",
                    ctx->format);
            return EXIT_USAGE;
        }
        o.has_format = true;
    }
    const pm_pipeline_cfg *p = ctx->pipeline ? config_pipeline(ctx->cfg, ctx->pipeline) : NULL;
    if (!pick_policy(ctx, p && strcmp(p->table, ctx->table) == 0 ? p : NULL, &o.policy))
        return EXIT_USAGE;
    o.contract = p && p->contract && strcmp(p->table, ctx->table) == 0
                     ? p->contract
                     : config_contract(ctx->cfg, ctx->table);
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s)
        return code;
    if (!ctx->cfg->batch_size_set)
        o.batch_size = store_default_batch(s);
    ingest_result r;
    pm_code rc = ingest_run(s, &o, &r, &err);
    store_close(s);
    return finish(ctx, rc, &r, &err);
}

int cmd_run(cli_ctx *ctx)
{
    pm_err err = {0};
    if (ctx->argc != 1) {
        fprintf(stderr, "pipemend: error: run needs exactly one pipeline NAME\n");
        cli_usage_of("run");
        return EXIT_USAGE;
    }
    const pm_pipeline_cfg *p = config_pipeline(ctx->cfg, ctx->argv[0]);
    if (!p) {
        fprintf(stderr, "pipemend: error: no pipeline \"%s\" in %s\n", ctx->argv[0],
                ctx->cfg->path ? ctx->cfg->path : "the configuration (no pipemend.yaml found)");
        for (size_t i = 0; i < ctx->cfg->npipelines; i++)
            fprintf(stderr, "  known: %s\n", ctx->cfg->pipelines[i].name);
        return EXIT_USAGE;
    }
    ingest_opts o = {0};
    defaults_from_config(&o, ctx->cfg);
    o.table = p->table;
    o.pipeline = p->name;
    o.format = p->format;
    o.has_format = p->has_format;
    o.contract = p->contract ? p->contract : config_contract(ctx->cfg, p->table);
    if (!pick_policy(ctx, p, &o.policy))
        return EXIT_USAGE;

    glob_t g = {0};
    const char *stdin_path[] = {"-"};
    if (strcmp(p->source, "-") == 0) {
        o.paths = stdin_path;
        o.npaths = 1;
    } else {
        int gr = glob(p->source, GLOB_ERR, NULL, &g);
        if (gr == GLOB_NOMATCH) {
            fprintf(stderr,
                    "pipemend: error: source %s of pipeline %s matches no file\n  hint: check "
                    "the path (relative paths start from the current directory)\n",
                    p->source, p->name);
            globfree(&g);
            return EXIT_FAILED;
        }
        if (gr != 0) {
            fprintf(stderr,
                    "pipemend: error: cannot read source %s of pipeline %s: %s\n  hint: check "
                    "that its directory exists and is readable\n",
                    p->source, p->name, strerror(errno));
            globfree(&g);
            return EXIT_FAILED;
        }
        o.paths = (const char *const *)g.gl_pathv; /* glob sorts them */
        o.npaths = g.gl_pathc;
    }
    int code;
    pm_store *s = cli_open_store(ctx, &code);
    if (!s) {
        globfree(&g);
        return code;
    }
    ingest_result r;
    pm_code rc = ingest_run(s, &o, &r, &err);
    store_close(s);
    globfree(&g);
    return finish(ctx, rc, &r, &err);
}
