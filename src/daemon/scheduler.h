/* scheduler.h - `pipemend serve` runs pipelines by themselves.
 *
 * A pipeline of pipemend.yaml with `schedule:` (cron.h, in `timezone:`),
 * `every:` and/or `watch: true` is started by the scheduler through the
 * same pipeline_run as `pipemend run`:
 *
 *   every      due when its last run started `every` ago, or it never ran
 *   schedule   due when the expression fired since its last run started
 *              (since the service started, for a pipeline that never
 *              ran): a slot missed while the service was down runs once,
 *              not once per missed slot
 *   watch      due a second after a file in the source's directory that
 *              matches its pattern was written, moved in or grew (Linux
 *              inotify; the pattern's directory part must be a plain
 *              directory)
 *   any        due at once when its last run was stopped (a shutdown) or
 *              aborted (its process died): it resumes from the checkpoint
 *
 * At most serve: max_concurrent runs at once in a process, never two of
 * one pipeline (pipeline_run refuses a pipeline that runs).
 *
 * Replicas. Several `pipemend serve` against one PostgreSQL warehouse
 * share the pipelines: a due pipeline is run by the replica that takes its
 * lease in the warehouse (store_lease_take, "pipeline:NAME"), which then
 * checks again, from the warehouse, that it is still due (another replica
 * may have just run it), and renews the lease while the run lasts. A
 * replica that dies stops renewing; after lease_seconds another takes the
 * pipeline over and, finding its last run aborted or due, runs it: a run
 * left `running` is reaped on its own host when its pid is gone, and on
 * any host once the replica that ran it let the pipeline's lease expire
 * (store_runs_reap). Clocks of replicas must agree (NTP). A
 * SQLite warehouse is one process's: the first serve takes the
 * "scheduler" lease and the others serve everything else but schedule
 * nothing, and say so.
 *
 * Shutdown (sched_stop): no new run starts; a run in progress ends after
 * the batch in flight, which commits with its checkpoint (status stopped),
 * and the next start resumes it. */
#ifndef PM_DAEMON_SCHEDULER_H
#define PM_DAEMON_SCHEDULER_H

#include <signal.h>
#include <stdbool.h>

#include "core/err.h"
#include "pipeline/config.h"

typedef struct sched sched;

/* What the scheduler is given. */
typedef struct sched_opts {
    const char *db;
    pm_config *cfg; /* borrowed; configurations reloaded later are the scheduler's */
    /* SIGHUP: when *reload becomes non-zero the scheduler loads
     * config_path again (NULL: ./pipemend.yaml) and, if it loads, uses it
     * from then on and hands it to on_reload; a broken file keeps the
     * configuration in use, and the log says why. reload may be NULL. */
    const char *config_path;
    volatile sig_atomic_t *reload;
    void (*on_reload)(void *arg, pm_config *cfg);
    void *reload_arg;
} sched_opts;

/* Starts the scheduler's thread. NULL after setting err. A configuration
 * without triggers is fine: it schedules nothing. */
sched *sched_start(const sched_opts *o, pm_err *err);
/* Stops starting runs, asks runs in progress to end after their batch,
 * and waits for them and the thread. */
void sched_stop(sched *s);
/* Frees the scheduler and the configurations it reloaded. */
void sched_free(sched *s);

/* Whether the scheduler is scheduling (SQLite: it holds the warehouse's
 * scheduler lease), for /readyz. */
bool sched_active(const sched *s);

#endif
