/* pipeline.h - starting a run: the one way every face does it.
 *
 * `pipemend ingest` (files named on the command line), `pipemend run` (a
 * pipeline of pipemend.yaml), the MCP tool trigger_pipeline and, later, the
 * scheduler of `pipemend serve` all describe the run they want in a
 * pipeline_request and call pipeline_run, which builds the run's options
 * from the configuration (batch and sample sizes, limits, the policy and
 * contract that apply), finds the source's files, refuses what must not
 * start (a pipeline already running, one started too recently, standard
 * input where the face speaks on it), and runs it (ingest.h). A face only
 * parses what its user gave and shows the result: how far the run is comes
 * back through on_progress, so the CLI draws its bar and MCP sends
 * notifications/progress from the same numbers. */
#ifndef PM_PIPELINE_PIPELINE_H
#define PM_PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pipeline/config.h"
#include "pipeline/ingest.h"
#include "store/store.h"

typedef struct pipeline_request {
    /* A pipeline of the configuration, or NULL for files named by the
     * caller (table and paths). */
    const pm_pipeline_cfg *pipeline;
    /* Without a pipeline: the table and the files ("-": standard input);
     * pipeline_name records the run under a pipeline's name (its policy
     * and contract apply when its table is this one). */
    const char *table;
    const char *pipeline_name;
    const char *const *paths;
    size_t npaths;
    const char *format;             /* "ndjson" or "csv"; NULL: the pipeline's, else by extension */
    const char *delimiter;          /* CSV: , ; | or tab; NULL: the pipeline's, else sniffed */
    const char *encoding;           /* the files' charset; NULL: the pipeline's, else UTF-8 */
    const char *policy_mode;        /* replaces the configured policy's mode; NULL: keep it */
    const char *policy_mode_source; /* where policy_mode came from (recorded); NULL: "--policy" */
    const char *on_rewrite;         /* replaces the pipeline's on_rewrite; NULL: keep it */
    bool final;                     /* the files are complete (ingest_opts.final) */
    /* The face reads its own protocol on standard input (an MCP server over
     * stdio): a pipeline whose source is "-" is refused. */
    bool stdin_taken;
    /* Refuse when a run of the pipeline is in progress (after runs of dead
     * processes are marked aborted), or when its last run started less than
     * min_interval seconds ago (0: no limit). */
    bool exclusive;
    int min_interval;
    /* Called once every check passed and the files are known, just before
     * the run starts (an audit event of who started it, a log line); p is
     * NULL for files named by the caller; an error stops the run. May be
     * NULL. */
    pm_code (*on_start)(void *arg, pm_store *s, const pm_pipeline_cfg *p, size_t nfiles,
                        pm_err *err);
    void *start_arg;
    /* As ingest_opts.on_progress. */
    void (*on_progress)(void *arg, const ingest_progress *p);
    void *progress_arg;
    /* As ingest_opts.should_stop. */
    bool (*should_stop)(void *arg);
    void *stop_arg;
} pipeline_request;

/* Checks what can be checked of req before a warehouse is open (format,
 * policy, standard input): the errors pipeline_run would give for them. */
pm_code pipeline_check(const pm_config *cfg, const pipeline_request *req, pm_err *err);

/* Runs what req describes under cfg against s. PM_OK when the run finished
 * (rows may be quarantined: r->quarantined, r->held); otherwise err says
 * why nothing ran or why the run stopped: PM_ERR_USAGE for a request that
 * cannot be (an unknown format or policy, standard input refused),
 * PM_ERR_NOTFOUND when the source matches no file, PM_ERR_BUSY when the
 * pipeline runs or ran too recently, PM_ERR_IO when the source cannot be
 * read, and whatever the run itself met. */
pm_code pipeline_run(pm_store *s, const pm_config *cfg, const pipeline_request *req,
                     ingest_result *r, pm_err *err);

#endif
