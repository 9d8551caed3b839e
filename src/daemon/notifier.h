/* notifier.h - `pipemend serve` delivers the notifications outbox
 * (pipeline/notify.h) to the webhook sinks of pipemend.yaml.
 *
 * Each delivery is a POST of JSON: the notification itself (format:
 * json), or a Slack message with blocks (format: slack: what happened,
 * the table, the proposal in words, its dry run, and a link to it under
 * the sink's link_base). Headers:
 *
 *   X-Pipemend-Event       incident.opened, ...
 *   X-Pipemend-Delivery    the outbox id (the same on every retry: a
 *                          receiver drops what it has seen)
 *   X-Pipemend-Timestamp   epoch seconds of this attempt
 *   X-Pipemend-Signature   sha256=HEX, HMAC-SHA256 under the secret the
 *                          sink's secret_env names, of "TIMESTAMP.BODY"
 *                          (a receiver refuses old timestamps: no replay)
 *
 * A 2xx answer delivers it; anything else (or no answer within the sink's
 * timeout) is retried with exponential backoff and jitter (from 1 s, at
 * most an hour apart; Retry-After honoured), for as long as it takes,
 * across restarts: the outbox is in the warehouse. Replicas share the
 * outbox; a claim keeps two from sending one notification at once, and
 * delivery is at least once (a replica that dies after sending and before
 * recording sends again).
 *
 * Every ten minutes it also verifies the audit chain and queues
 * audit.verify_failed when the chain that verified no longer does. */
#ifndef PM_DAEMON_NOTIFIER_H
#define PM_DAEMON_NOTIFIER_H

#include <stdbool.h>

#include "core/err.h"
#include "pipeline/config.h"

typedef struct notifier notifier;

/* Starts delivering for the warehouse db with cfg's sinks (borrowed until
 * notifier_use or notifier_free). NULL after setting err. */
notifier *notifier_start(const char *db, const pm_config *cfg, pm_err *err);
/* Uses cfg's sinks from now on (a reload). */
void notifier_use(notifier *n, const pm_config *cfg);
/* Stops (a delivery in flight finishes) and frees. NULL is fine. */
void notifier_free(notifier *n);

#endif
