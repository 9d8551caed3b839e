/* pipeline.c - pipeline_run (pipeline.h): a run's options from the
 * configuration and the request, the checks before it starts, its files,
 * then the run. */
#include "pipeline/pipeline.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/log.h"
#include "heal/promote.h"
#include "pipeline/metrics.h"
#include "source/compress.h"

/* Seconds since an ISO 8601 UTC timestamp of the store, or -1 when it
 * does not parse (metrics_parse_time reads it). */
static long seconds_since(const char *at)
{
    double t;
    return metrics_parse_time(at, &t) ? (long)difftime(time(NULL), (time_t)t) : -1;
}

/* The pipeline may start now: none of its runs is in progress, and its
 * last one started at least min_interval seconds ago. */
static pm_code may_start(pm_store *s, const char *name, int min_interval, pm_err *err)
{
    pm_arena *a = pm_arena_new(0);
    pm_run *runs;
    size_t n;
    /* A run left `running` by a process that died would refuse every
     * start: mark those aborted first. */
    pm_code rc = ingest_reap_aborted(s, err);
    if (!rc)
        rc = store_runs_list(s, name, NULL, 1, a, &runs, &n, err);
    if (!rc && n && runs[0].status == RUN_RUNNING) {
        rc = pm_err_set(err, PM_ERR_BUSY, "pipeline %s is running now (run %lld)", name,
                        (long long)runs[0].id);
        pm_err_hint(err, "wait for it to finish before starting it again");
    }
    long age = !rc && n ? seconds_since(runs[0].started_at) : -1;
    if (!rc && age >= 0 && age < min_interval) {
        rc = pm_err_set(err, PM_ERR_BUSY,
                        "pipeline %s last started %ld s ago (run %lld); it runs at most once "
                        "every %d s",
                        name, age, (long long)runs[0].id, min_interval);
        pm_err_hint(err, "retry in %ld s", min_interval - age);
    }
    pm_arena_free(a);
    return rc;
}

/* The files of a pipeline's source, sorted (glob's order). */
static pm_code source_files(const pm_pipeline_cfg *p, const pm_config *cfg, glob_t *g, pm_err *err)
{
    int gr = glob(p->source, GLOB_ERR, NULL, g);
    if (gr == GLOB_NOMATCH) {
        pm_code code = pm_err_set(err, PM_ERR_NOTFOUND,
                                  "source %s of pipeline %s matches no file: nothing to run",
                                  p->source, p->name);
        pm_err_hint(err,
                    "check the path in %s (relative paths start from the current "
                    "directory)",
                    cfg->path ? cfg->path : "the configuration");
        return code;
    }
    if (gr != 0) {
        pm_code code = pm_err_set(err, PM_ERR_IO, "cannot read source %s of pipeline %s: %s",
                                  p->source, p->name, strerror(errno));
        pm_err_hint(err, "check that its directory exists and is readable");
        return code;
    }
    return PM_OK;
}

/* The options of the run req describes, but for its files and the batch
 * size (which needs the store): what can be checked before any is open. */
static pm_code build_opts(const pm_config *cfg, const pipeline_request *req, ingest_opts *o,
                          pm_err *err)
{
    const pm_pipeline_cfg *p = req->pipeline;
    *o = (ingest_opts){0};
    source_opts_default(&o->source);
    o->batch_size = cfg->batch_size;
    o->sample_size = cfg->sample_size;
    o->source.max_line = cfg->max_line_bytes;
    o->source.json.max_depth = cfg->max_depth;
    o->volume_window = cfg->volume_window;
    o->volume_ratio = cfg->volume_ratio;
    o->on_progress = req->on_progress;
    o->progress_arg = req->progress_arg;
    o->should_stop = req->should_stop;
    o->stop_arg = req->stop_arg;
    o->table = p ? p->table : req->table;
    o->pipeline = p ? p->name : req->pipeline_name;
    /* the pipeline whose policy and contract apply: the one run, or the
     * one named for files of its own table */
    const pm_pipeline_cfg *rules = p;
    if (!rules && req->pipeline_name) {
        rules = config_pipeline(cfg, req->pipeline_name);
        if (rules && strcmp(rules->table, o->table) != 0)
            rules = NULL;
    }
    if (req->format) {
        if (!source_format_parse(req->format, &o->format)) {
            pm_code code = pm_err_set(err, PM_ERR_USAGE, "unknown format \"%s\"", req->format);
            pm_err_hint(err, "use ndjson, json, csv or tsv");
            return code;
        }
        o->has_format = true;
    } else if (p) {
        o->format = p->format;
        o->has_format = p->has_format;
    }
    if (req->delimiter) {
        if (!source_delimiter_parse(req->delimiter, &o->source.delimiter)) {
            pm_code code =
                pm_err_set(err, PM_ERR_USAGE, "unknown delimiter \"%s\"", req->delimiter);
            pm_err_hint(err, "use ',', ';', '|' or tab");
            return code;
        }
    } else if (p) {
        o->source.delimiter = p->delimiter;
    }
    o->source.encoding = req->encoding ? req->encoding : p ? p->encoding : NULL;
    if (o->source.encoding && !compress_charset_known(o->source.encoding)) {
        pm_code code = pm_err_set(err, PM_ERR_USAGE, "unknown encoding \"%s\"", o->source.encoding);
        pm_err_hint(err, "name a character set: latin1, windows-1252, iso-8859-15, utf-16 "
                         "(iconv -l lists them)");
        return code;
    }
    config_policy(cfg, rules ? rules->name : NULL, o->table, &o->policy);
    o->policy_source = config_policy_source(cfg);
    if (req->policy_mode)
        o->policy_source = req->policy_mode_source ? req->policy_mode_source : "--policy";
    if (req->policy_mode && !policy_mode_parse(req->policy_mode, &o->policy.mode)) {
        pm_code code = pm_err_set(err, PM_ERR_USAGE, "unknown policy \"%s\"", req->policy_mode);
        pm_err_hint(err, "use auto, review or frozen");
        return code;
    }
    o->contract = rules && rules->contract ? rules->contract : config_contract(cfg, o->table);
    o->on_rewrite = rules ? rules->on_rewrite : ON_REWRITE_STOP;
    o->final = req->final;
    o->last_line_wait = cfg->last_line_wait;
    if (req->on_rewrite && !ingest_on_rewrite_parse(req->on_rewrite, &o->on_rewrite)) {
        pm_code code = pm_err_set(err, PM_ERR_USAGE, "unknown on_rewrite \"%s\"", req->on_rewrite);
        pm_err_hint(err, "use stop, skip or reload");
        return code;
    }
    if (p && strcmp(p->source, "-") == 0 && req->stdin_taken) {
        pm_code code =
            pm_err_set(err, PM_ERR_USAGE,
                       "pipeline %s reads standard input, which this process reads its own "
                       "protocol from",
                       p->name);
        pm_err_hint(err, "run it with `pipemend run %s`", p->name);
        return code;
    }
    return PM_OK;
}

pm_code pipeline_check(const pm_config *cfg, const pipeline_request *req, pm_err *err)
{
    ingest_opts o;
    return build_opts(cfg, req, &o, err);
}

pm_code pipeline_run(pm_store *s, const pm_config *cfg, const pipeline_request *req,
                     ingest_result *r, pm_err *err)
{
    const pm_pipeline_cfg *p = req->pipeline;
    ingest_opts o;
    pm_code rc = build_opts(cfg, req, &o, err);
    if (rc)
        return rc;
    /* a batch size set is the rows per transaction, streams or not */
    o.stream_rows = cfg->batch_size_set ? cfg->batch_size : store_stream_rows(s);
    if (!cfg->batch_size_set)
        o.batch_size = store_default_batch(s);
    /* repairs people approved again and again are the rules' now */
    pm_err perr = {0};
    if (promote_apply(s, o.table, &o.policy, &perr) != PM_OK)
        pm_warn("cannot read the policy promotions of %s (running without them): %s", o.table,
                perr.msg);
    glob_t g = {0};
    static const char *const stdin_path[] = {"-"};
    if (!p) {
        o.paths = req->paths;
        o.npaths = req->npaths;
    } else if (strcmp(p->source, "-") == 0) {
        o.paths = stdin_path;
        o.npaths = 1;
    } else {
        rc = source_files(p, cfg, &g, err);
        o.paths = (const char *const *)g.gl_pathv;
        o.npaths = g.gl_pathc;
    }
    if (!rc && p && req->exclusive)
        rc = may_start(s, p->name, req->min_interval, err);
    if (!rc && req->on_start)
        rc = req->on_start(req->start_arg, s, p, o.npaths, err);
    if (!rc)
        rc = ingest_run(s, &o, r, err);
    globfree(&g);
    return rc;
}
