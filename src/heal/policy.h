/* policy.h - how an op is classed: applied by itself, held for a human, or
 * never applied.
 *
 * The class of an op follows from what it does to data (DESIGN.md):
 *   auto       add_column (nullable); widen_column along a lossless edge;
 *              drop_not_null of a NOT NULL pipemend inferred (table.h's
 *              guessed)
 *   review     widen_column along a reviewable edge (-> text, int64 ->
 *              float64, timestamp -> timestamptz, -> json); drop_not_null
 *              of a NOT NULL a person declared;
 *              add_field_mapping; add_coercion; create_table;
 *              retype_column where op_retype_allowed (a number column to
 *              text, a text column to date/time)
 *   forbidden  narrowing or no path in the lattice; anything on a table
 *              the pipeline does not own
 * A pipeline's mode then decides what happens to each class: `auto` applies
 * auto ops; `review` holds every op for a human; `frozen` proposes only.
 *
 * The configuration (pipemend.yaml, per pipeline or per table) may
 * override the class of a whole op kind: `add_column: review` holds every
 * new column for a person, `widen_column: auto` lets reviewable widenings
 * (-> text, int64 -> float64, ...) apply by themselves, `drop_not_null:
 * forbidden` refuses them outright. An override replaces the class of
 * every op of its kind that is not inherently forbidden; it cannot choose
 * per edge or per column. It can make an op stricter or looser, but never
 * lift a forbidden one: narrowing, a widening with no path in the lattice,
 * a no-op, a column that does not exist and a table the pipeline does not
 * own stay forbidden whatever the config says, and no mode changes that
 * either.
 *
 * on_incident says what happens to the rest of a source once one of its
 * rows opens an incident: `continue` (the default) keeps clean rows
 * flowing; `halt` holds back every later row of that source until the
 * incident is resolved, for feeds whose order matters. */
#ifndef PM_HEAL_POLICY_H
#define PM_HEAL_POLICY_H

#include "schema/op.h"

typedef enum pm_op_class { CLASS_AUTO, CLASS_REVIEW, CLASS_FORBIDDEN } pm_op_class;

typedef enum pm_policy_mode { MODE_AUTO, MODE_REVIEW, MODE_FROZEN } pm_policy_mode;

typedef enum pm_on_incident { ON_INCIDENT_CONTINUE, ON_INCIDENT_HALT } pm_on_incident;

const char *policy_class_name(pm_op_class c);
/* "auto", "review" or "forbidden"; out untouched on false. */
bool policy_class_parse(const char *name, pm_op_class *out);
const char *policy_mode_name(pm_policy_mode m);
bool policy_mode_parse(const char *name, pm_policy_mode *out);
/* "continue" or "halt"; out untouched on false. */
bool on_incident_parse(const char *name, pm_on_incident *out);
const char *on_incident_name(pm_on_incident v);

/* The inherent class of op against the live table t (NULL for
 * create_table, or when the table does not exist yet). */
pm_op_class policy_class(const pm_op *op, const pm_table *t);

typedef enum pm_decision { DECIDE_APPLY, DECIDE_HOLD, DECIDE_REJECT } pm_decision;

/* What the mode does with an op of class c: apply now, hold for a human,
 * or reject. */
pm_decision policy_decide(pm_policy_mode mode, pm_op_class c);

/* The policy of one run, as the configuration resolves it (config.h's
 * config_policy). A plain value: copy it freely. */
typedef struct pm_policy {
    pm_policy_mode mode;
    pm_on_incident on_incident;
    /* Per op kind: -1 = the inherent class; else a pm_op_class set by the
     * config. A value that is neither counts as forbidden. */
    signed char override[OP_KIND_COUNT];
    /* The budget of columns added to one table without a person, in any
     * 24 hours (by the rules during runs and by agents' apply_fix alike);
     * past it new columns wait for a person. 0: POLICY_AUTO_COLUMNS. */
    int auto_columns_per_day;
} pm_policy;

#define POLICY_AUTO_COLUMNS 32
#define POLICY_AUTO_COLUMNS_MAX 1600 /* PostgreSQL's columns per table */

/* p's budget of automatic column additions per table and day. */
int policy_auto_columns(const pm_policy *p);

/* auto, continue, no overrides. */
void policy_default(pm_policy *p);

/* a made at least as strict as b: the stricter mode, halt if either
 * halts, and per op kind the stricter override (an explicit auto that
 * loosens an op's class does not survive a policy without it). */
void policy_merge(pm_policy *a, const pm_policy *b);

/* The policy as JSON text (caller frees), with where it came from
 * (source: "--policy review", a config file's path, "the default"): what
 * a proposal records of the policy it was made under. The budget of
 * automatic columns is written only when it is not the default. */
char *policy_to_json(const pm_policy *p, const char *source);
/* Back from policy_to_json's text; false (out untouched) if it is not. */
bool policy_from_json(const char *text, pm_policy *out);

/* The class of op under p: the inherent class (policy_class), replaced by
 * p's override for its kind, except that an inherently forbidden op stays
 * forbidden whatever the override says. p NULL is the default policy. */
pm_op_class policy_class_with(const pm_policy *p, const pm_op *op, const pm_table *t);

/* What p does with op: policy_decide(p->mode, policy_class_with(...)). */
pm_decision policy_decide_op(const pm_policy *p, const pm_op *op, const pm_table *t);

#endif
