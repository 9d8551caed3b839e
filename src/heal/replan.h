/* replan.h - the rule planner for an incident that waits without a plan:
 * one left from before pipemend healed the first file, one whose proposal
 * a person rejected before the rows changed, one whose plan failed. Its
 * quarantined rows are checked again against the table as it is now, and
 * the planner's ops for the incident's own kind and column become a
 * proposal (heal_propose: the incident moves to planned and on; the dry
 * run is recorded), exactly what the rules propose during a run. The
 * policy then decides as during a run: with apply, ops it lets the rules
 * apply are applied and the table's quarantine replayed; the rest waits
 * for a person. */
#ifndef PM_HEAL_REPLAN_H
#define PM_HEAL_REPLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "drift/rename.h"
#include "heal/heal.h"

/* At most this many of an incident's rows are planned from (the oldest):
 * a widening planned from them holds their values; rows beyond that still
 * needing more stay and are planned again after the replay. */
#define REPLAN_ROWS 20000

typedef struct replan_result {
    int64_t proposal;  /* 0: nothing the rules can plan (why_none says why) */
    bool created;      /* false: the same ops were proposed before */
    const char *state; /* the proposal's state now: pending, applied, rejected, ... */
    const pm_op *ops;  /* the planner's ops, in the arena */
    const char **why;
    size_t n;
    bool applied;     /* apply: the policy let the rules apply it */
    bool awaiting;    /* waits for a person */
    int64_t replayed; /* rows that left quarantine after the apply */
    int64_t rows;     /* the incident's rows planned from */
    const char *why_none;
} replan_result;

/* Plans incident id (see above); c->actor is who asks (recorded with the
 * proposal). A closed incident is PM_ERR_USAGE, an unknown one
 * PM_ERR_NOTFOUND; an incident nothing plans is PM_OK with proposal 0. */
pm_code replan_incident(heal_ctx *c, int64_t id, bool apply, pm_arena *arena, replan_result *out,
                        pm_err *err);

/* The (field, column) pairs of table's rejected field mappings, as
 * drift/rename.h's refusals: a person said the field is not the column
 * renamed, so the batch judgement does not suspect the pair again. In
 * arena. */
pm_code replan_rename_refusals(pm_store *s, const char *table, pm_arena *arena,
                               rename_refusal **out, size_t *n, pm_err *err);

/* After a person rejected proposal p, a mapping of a new field to a
 * column (a suspected rename): the field is a column of its own. The rows
 * of incidents[0..nin) (the proposal's) are checked again, and the
 * column that holds the field's values is proposed by the rules
 * (heal_propose) and applied when the policy lets the rules apply it,
 * with the replay; otherwise it waits for a person. *proposal is the
 * add_column proposal, 0 when there was nothing to add. */
pm_code replan_rejected_rename(heal_ctx *c, const pm_proposal *p, const int64_t *incidents,
                               size_t nin, int64_t *proposal, bool *applied, pm_err *err);

#endif
