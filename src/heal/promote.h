/* promote.h - repairs people keep approving become the rules' to make.
 *
 * When people have approved ops of one kind on one table promote_after
 * times (defaults: promote_after in pipemend.yaml, 3 unless set; 0:
 * never), pipemend proposes a policy promotion: from then on ops of that
 * kind on that table are classed auto, so the rules (and the agent's
 * apply_fix) apply them without a person and without a model. A
 * promotion is a proposal like any other: only a person approves it
 * (`pipemend policy approve ID`), every step is audited
 * (policy.promotion.proposed, .approved, .rejected), and a rejected one is
 * never proposed again for that table and kind.
 *
 * An approved promotion loosens an op kind only where the configuration
 * leaves its class to the op (no override for that kind): an explicit
 * override in pipemend.yaml wins, inherently forbidden ops stay forbidden
 * (policy.h), and a pipeline in mode review or frozen still holds or
 * refuses everything. */
#ifndef PM_HEAL_PROMOTE_H
#define PM_HEAL_PROMOTE_H

#include "heal/policy.h"
#include "store/store.h"

#define PROMOTE_AFTER_DEFAULT 3

/* After a person applied ops (n of them) on table under policy p: for
 * each op kind among them that p leaves to its inherent class and that
 * people have approved promote_after times on table, a pending promotion
 * is recorded (once per table and kind). *created gets how many were
 * new. */
pm_code promote_after_approval(pm_store *s, const char *table, const pm_op *ops, size_t n,
                               const pm_policy *p, int promote_after, const char *actor,
                               int *created, pm_err *err);

/* Loosens p by table's approved promotions (see above). */
pm_code promote_apply(pm_store *s, const char *table, pm_policy *p, pm_err *err);

/* A person approves or rejects a pending promotion (audited). */
pm_code promote_decide(pm_store *s, int64_t id, bool approve, const char *actor, pm_err *err);

#endif
