/* review.h - `pipemend serve` hands waiting proposals to a team's review:
 * for each pipeline with `review: {export_dir: DIR}`, every pending
 * proposal of its table is exported into DIR (tools/export.h) once; with
 * `git_branch_prefix: P` too, DIR is inside a git repository and each
 * proposal is committed on a branch of its own, P + "proposal-ID", made
 * from the repository's HEAD in a temporary worktree (the checked-out tree
 * is never touched), so the team's CI can open the pull request. A branch
 * that exists already means the proposal was handed over. Approval still
 * happens through pipemend. */
#ifndef PM_DAEMON_REVIEW_H
#define PM_DAEMON_REVIEW_H

#include "pipeline/config.h"
#include "store/store.h"

/* One pass over cfg's pipelines with review:. Failures are logged (and
 * tried again on the next pass). */
void review_pass(pm_store *s, const pm_config *cfg);

#endif
