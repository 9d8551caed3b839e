/* proposal.c - proposal states: their names and the move table of
 * proposal.h's diagram. */
#include "store/proposal.h"

#include <string.h>

static const char *const proposal_names[PROP_STATE_COUNT] = {
    [PROP_PENDING] = "pending",
    [PROP_APPLIED] = "applied",
    [PROP_REJECTED] = "rejected",
    [PROP_SUPERSEDED] = "superseded",
};

static bool parse(const char *name, int *out)
{
    for (int i = 0; name && i < (int)(sizeof proposal_names / sizeof proposal_names[0]); i++) {
        if (strcmp(proposal_names[i], name) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

const char *proposal_state_name(pm_proposal_state s)
{
    return (unsigned)s < PROP_STATE_COUNT ? proposal_names[s] : "unknown";
}

bool proposal_state_parse(const char *name, pm_proposal_state *out)
{
    int i;
    if (!parse(name, &i))
        return false;
    *out = (pm_proposal_state)i;
    return true;
}

bool proposal_state_can_move(pm_proposal_state from, pm_proposal_state to)
{
    return from == PROP_PENDING && to != PROP_PENDING && (unsigned)to < PROP_STATE_COUNT;
}
