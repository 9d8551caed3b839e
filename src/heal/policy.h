/* policy.h - how an op is classed: applied by itself, held for a human, or
 * never applied.
 *
 * The class of an op follows from what it does to data (DESIGN.md):
 *   auto       add_column (nullable); widen_column along a lossless edge
 *   review     widen_column along a reviewable edge (-> text, int64 ->
 *              float64, timestamp -> timestamptz, -> json); drop_not_null;
 *              add_field_mapping; add_coercion; create_table
 *   forbidden  narrowing or no path in the lattice; anything on a table
 *              the pipeline does not own
 * A pipeline's mode then decides what happens to each class: `auto` applies
 * auto ops; `review` holds every op for a human; `frozen` proposes only.
 * No mode and no override can make a forbidden op anything else. */
#ifndef PM_HEAL_POLICY_H
#define PM_HEAL_POLICY_H

#include "heal/op.h"

typedef enum pm_op_class { CLASS_AUTO, CLASS_REVIEW, CLASS_FORBIDDEN } pm_op_class;

typedef enum pm_policy_mode { MODE_AUTO, MODE_REVIEW, MODE_FROZEN } pm_policy_mode;

const char *policy_class_name(pm_op_class c);
bool policy_mode_parse(const char *name, pm_policy_mode *out);

/* The inherent class of op against the live table t (NULL for
 * create_table, or when the table does not exist yet). */
pm_op_class policy_class(const pm_op *op, const pm_table *t);

typedef enum pm_decision { DECIDE_APPLY, DECIDE_HOLD, DECIDE_REJECT } pm_decision;

/* What the mode does with an op of class c: apply now, hold for a human,
 * or reject. */
pm_decision policy_decide(pm_policy_mode mode, pm_op_class c);

#endif
