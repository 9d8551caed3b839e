/* proposal.h - the life of a proposal: typed ops planned for a table.
 *
 *                  store_proposal_add
 *     (nothing) ----------------------> pending
 *                                          |
 *           +------------------------------+------------------------+
 *           | the policy applies it, or    | a person rejects it    | another run applied
 *           | a person approves it (then   | (or dismisses its      | the same change first
 *           | the guard, the sandbox, the  |  incident)             |
 *           v DDL)                         v                        v
 *        applied                       rejected                superseded
 *
 * Invariants (proposal_state_can_move; the store moves only a pending
 * proposal, PM_ERR_BUSY otherwise):
 *  1. Only pending moves; applied, rejected and superseded are final.
 *  2. At most one pending proposal per table and ops: adding the same ops
 *     again returns the pending one, and a rejected one is not asked again.
 *  3. applied is reached only by ops that passed the guard, the policy (or
 *     a person's approval: never an agent's) and the sandbox.
 *  4. Every move out of pending records who decided and when, and is an
 *     audit event. */
#ifndef PM_STORE_PROPOSAL_H
#define PM_STORE_PROPOSAL_H

#include <stdbool.h>

typedef enum pm_proposal_state {
    PROP_PENDING,
    PROP_APPLIED,
    PROP_REJECTED,
    PROP_SUPERSEDED,
    PROP_STATE_COUNT
} pm_proposal_state;

/* "pending", "applied", ... as the catalog and every face spell them. */
const char *proposal_state_name(pm_proposal_state s);
bool proposal_state_parse(const char *name, pm_proposal_state *out);
/* Whether the diagram above has the move from -> to. */
bool proposal_state_can_move(pm_proposal_state from, pm_proposal_state to);

#endif
