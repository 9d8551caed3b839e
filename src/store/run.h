/* run.h - the life of a run: one pass of a source into a table.
 *
 *                      store_run_start
 *     (nothing) -------------------------> running
 *                                            |
 *          store_run_finish                  |   the process died (its pid
 *     +--------------+-----------+-----------+-----------+   is gone from this
 *     v              v           v           v           v   host): store_runs_reap
 *  succeeded    quarantined     held       failed     stopped       aborted
 *  (every row   (finished;      (a source  (could not (asked to end
 *   loaded)      rows wait)      held back  proceed)   between batches:
 *                                by on_incident:       the next run
 *                                halt)                 resumes)
 *
 * Invariants (run_status_can_move; the store's statements move only a
 * running run):
 *  1. A run is created running, in the transaction that records its
 *     run.started audit event, so a run that dies still shows up.
 *  2. Only running moves; every other status is final.
 *  3. At every commit, and so at the end, rows read = rows loaded + rows
 *     quarantined: a run's counters move in its batches' transactions.
 *  4. aborted is set only by the reaper, for a run whose process no longer
 *     exists on this host; its committed batches stand and the next run
 *     resumes from their checkpoint. */
#ifndef PM_STORE_RUN_H
#define PM_STORE_RUN_H

#include <stdbool.h>

typedef enum pm_run_status {
    RUN_RUNNING,
    RUN_SUCCEEDED,
    RUN_QUARANTINED,
    RUN_HELD,
    RUN_FAILED,
    RUN_ABORTED,
    RUN_STOPPED,
    RUN_STATUS_COUNT
} pm_run_status;

/* "running", "succeeded", ... as the catalog and every face spell them. */
const char *run_status_name(pm_run_status s);
bool run_status_parse(const char *name, pm_run_status *out);
/* Whether the diagram above has the move from -> to. */
bool run_status_can_move(pm_run_status from, pm_run_status to);
/* A finished run that needs someone: quarantined, held, failed, aborted. */
bool run_status_needs_attention(pm_run_status s);

#endif
