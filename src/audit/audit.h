/* audit.h - the tamper-evident audit log.
 *
 * Every decision pipemend takes (a run started or finished, a table created,
 * rows quarantined, later a proposal planned, approved or applied) is an
 * event in `_pipemend_audit`, chained by SHA-256: each event's hash covers
 * its own fields and the previous event's hash. Editing, removing or
 * reordering any event breaks the chain from that event on, and
 * audit_verify() names the first event that no longer fits.
 *
 * The hash is SHA-256 over a canonical encoding: the tag "pipemend-audit-v1"
 * then each field (seq, at, actor, action, subject, payload, prev_hash) as
 * its decimal byte length, ':', the bytes, ';'. Length prefixes make the
 * encoding unambiguous whatever the fields contain. The first event's
 * prev_hash is 64 zeros. */
#ifndef PM_AUDIT_AUDIT_H
#define PM_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/store.h"

/* Actors: "engine" (ingest), "rules" (planner), "human:NAME", "agent:NAME". */

/* Appends an event; payload is a JSON object text (NULL for "{}"). Joins
 * the caller's transaction if one is open, else runs in its own. */
pm_code audit_append(pm_store *s, const char *actor, const char *action, const char *subject,
                     const char *payload, pm_err *err);

/* The hash of e from its fields and e->prev_hash, as 64 hex digits. */
void audit_hash(const pm_audit_event *e, char out[65]);

typedef struct audit_verdict {
    bool intact;
    int64_t events;      /* events checked */
    int64_t broken_seq;  /* first event that does not fit (0 when intact) */
    const char *problem; /* why, in words (NULL when intact) */
} audit_verdict;

pm_code audit_verify(pm_store *s, pm_arena *arena, audit_verdict *out, pm_err *err);

#endif
