/* incident.h - the life of an incident, from detection to resolution.
 *
 * An incident gathers the findings of one kind about one column of one
 * table (all the rows where `qty` outgrew int32, say): the quarantined
 * rows that carry them are linked to it, and its latest plan is a
 * proposal. Its state says where the repair stands:
 *
 *                  plan               sandbox fails
 *     open ------------------> planned ------------> dry_run_failed
 *      |  ^                      |   \                  |  (plan again)
 *      |  | person rejects       |    \ policy holds    v
 *      |  +----------------------+     `-----> awaiting_approval
 *      |                         | policy applies       | person approves
 *      |                         v                      |
 *      |                      applied <-----------------'
 *      |                         | replay
 *      |  no row left            v
 *      +-----------------> resolved <---- replayed ----> planned
 *                                        (rows left that need more)
 *     any active state --- person dismisses ---> dismissed
 *
 * Invariants (checked by incident_move and the store):
 *  1. At most one active incident (not resolved, not dismissed) exists per
 *     table, column and kind; new findings of that key join it.
 *  2. resolved and dismissed are final: the same drift later opens a new
 *     incident.
 *  3. applied is reached only by a proposal that passed the guard, the
 *     policy (or a person's approval) and the sandbox.
 *  4. resolved means no quarantined row is linked to the incident; rows
 *     leave quarantine by loading, or by a person's discard (heal_discard:
 *     audited with who and how many), never by the engine deleting them.
 *  5. dismissed is a person's act, recorded with who did it; the rows stay
 *     in quarantine (an incident whose rows a person discarded, all of
 *     them, is dismissed by that person).
 *  6. Every move is an audit event (incident.STATE), in the same
 *     transaction as the move when the caller holds one.
 *  7. applied lasts until the replay's last page (replay.h): one left
 *     applied by a kill or a failure is found by heal_replay_pending and
 *     finished by the next run of its table (heal_replay_finish).
 *  8. A row is linked only to an active incident (store_incident_link):
 *     one quarantined while a replay resolved its incident joins a new
 *     one, and a replay re-links any row it finds under a resolved one. */
#ifndef PM_HEAL_INCIDENT_H
#define PM_HEAL_INCIDENT_H

#include <stdbool.h>

#include <jansson.h>

#include "drift/drift.h"
#include "schema/op.h"
#include "store/store.h"

typedef enum pm_incident_state {
    INC_OPEN,
    INC_PLANNED,
    INC_AWAITING_APPROVAL,
    INC_DRY_RUN_FAILED,
    INC_APPLIED,
    INC_REPLAYED,
    INC_RESOLVED,
    INC_DISMISSED,
    INC_STATE_COUNT
} pm_incident_state;

const char *incident_state_name(pm_incident_state s);
bool incident_state_parse(const char *name, pm_incident_state *out);
bool incident_is_active(pm_incident_state s);
/* Is from -> to a move of the diagram above? */
bool incident_can_move(pm_incident_state from, pm_incident_state to);

/* Records a move of in to state to (PM_ERR_USAGE when the diagram has no
 * such move; moving to the state it is in is a no-op), with the proposal
 * (0: unchanged), a note (NULL: unchanged) and who acted, and appends the
 * audit event. in->state is updated. */
pm_code incident_move(pm_store *s, pm_incident *in, pm_incident_state to, int64_t proposal,
                      const char *note, const char *actor, pm_err *err);

/* Links quarantined rows to their incidents: one per column and kind of
 * the row's findings, opened (with an incident.open audit event) when none
 * is active. Remembers the incidents it found, so a batch of rows costs a
 * lookup per new key, not per row; forget them (incident_cache_clear) when
 * incidents may have closed since. Allocates from arena, which must
 * outlive it. */
typedef struct incident_cache incident_cache;
incident_cache *incident_cache_new(pm_arena *arena, const char *table, int64_t run_id);
pm_code incident_cache_link(incident_cache *c, pm_store *s, int64_t qrow, const pm_finding *f,
                            size_t n, pm_err *err);
/* The same for n rows at once: qrow[i] with its findings f[i][0..nf[i]),
 * the links written in one statement where the store can. */
pm_code incident_cache_link_many(incident_cache *c, pm_store *s, size_t n, const int64_t *qrow,
                                 const pm_finding *const *f, const size_t *nf, pm_err *err);
void incident_cache_clear(incident_cache *c);
/* The run that incidents opened from now on are detected by. */
void incident_cache_set_run(incident_cache *c, int64_t run_id);

/* The finding kind an op answers: add_column a new_field, widen_column a
 * widen, drop_not_null a null_violation, add_field_mapping a rename,
 * add_coercion a format. */
pm_finding_kind incident_kind_for_op(const pm_op *op);

#endif
