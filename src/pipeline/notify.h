/* notify.h - telling people what needs them: webhook sinks fed from an
 * outbox in the warehouse.
 *
 * Events a sink may want (pipemend.yaml notify: events, all by default):
 *
 *   incident.opened        an incident was opened (audit: incident.open)
 *   proposal.awaiting      a repair waits for a person (an incident moved
 *                          to awaiting_approval)
 *   proposal.applied       a repair was applied, by a person or the rules
 *                          (proposal.approved, schema.healed)
 *   proposal.rejected      a person rejected one
 *   run.failed             a run could not proceed (run.finished, failed)
 *   volume.anomaly         a run's volume fell below the pipeline's usual
 *   audit.verify_failed    `pipemend serve`'s periodic audit verify failed
 *
 * Every notification is a row of the outbox (_pipemend_outbox) written in
 * the transaction of the audit event that caused it (audit_set_hook), so
 * an event is never recorded without its notifications nor the other way
 * round, whichever process wrote it (an ingest, an approval, serve). `pipemend
 * serve` delivers them (daemon/notifier.h): at least once, with retries
 * and backoff, across crashes and restarts. */
#ifndef PM_PIPELINE_NOTIFY_H
#define PM_PIPELINE_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "store/store.h"

typedef enum notify_event {
    NE_INCIDENT_OPENED,
    NE_PROPOSAL_AWAITING,
    NE_PROPOSAL_APPLIED,
    NE_PROPOSAL_REJECTED,
    NE_RUN_FAILED,
    NE_VOLUME_ANOMALY,
    NE_AUDIT_VERIFY_FAILED,
    NE_COUNT
} notify_event;

const char *notify_event_name(notify_event e);
bool notify_event_parse(const char *name, notify_event *out);

struct pm_config;

/* Installs the outbox hook for cfg's sinks (none: no hook). cfg is
 * borrowed until the next call. */
void notify_install(const struct pm_config *cfg);

/* Queues event (not from an audit event: audit.verify_failed) for every
 * sink of cfg that wants it, in the caller's transaction if one is open;
 * details is stolen. */
pm_code notify_enqueue(pm_store *s, const struct pm_config *cfg, notify_event event,
                       const char *subject, json_t *details, pm_err *err);

#endif
