/* planner.h - the rule planner: from findings to typed ops, each with the
 * reason in words.
 *
 *   new_field       add a nullable column of the inferred type
 *   widen           widen the column along the lattice
 *   null_violation  drop NOT NULL (review)
 *   rename          map the new field to the existing column (review);
 *                   also for a field whose column would look like an
 *                   existing one (confusable.h), which is never added
 *                   as a column of its own
 *   format          coerce the column's values with the detected format
 *                   (review)
 *   type_conflict   retype a number column to text when drift says a
 *                   lossless retype holds the value (review); otherwise
 *                   no op
 *   contract, malformed, nested, out_of_band: no op; the
 *   rows stay in quarantine for a person (a column dropped outside
 *   pipemend is its owner's decision, never re-added by a heal).
 * Findings about one column merge into one op (two widenings of qty become
 * one to the type that holds both). A new column that looks like one the
 * plan adds already is left out (the guard would refuse the pair). The policy, not the planner,
 * decides what is applied. */
#ifndef PM_HEAL_PLANNER_H
#define PM_HEAL_PLANNER_H

#include "drift/drift.h"
#include "schema/op.h"

typedef struct pm_plan {
    pm_op *ops; /* in the arena given to planner_consider */
    const char **why;
    const char **skel; /* per op: an added column's confusable.h skeleton, else NULL */
    size_t n, cap;
} pm_plan;

/* Adds what would resolve the findings of one record (about table t) to
 * plan. A new field that may be a renamed column gets the mapping only,
 * not a column of its own: adding one would split the data in two. */
void planner_consider(pm_plan *plan, const pm_table *t, const pm_finding *f, size_t n,
                      pm_arena *arena);

#endif
