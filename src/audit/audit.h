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
 * prev_hash is 64 zeros.
 *
 * The chain alone cannot tell a rewritten log from the original: whoever
 * can write the warehouse can edit an event and recompute every hash after
 * it, or drop the newest events. Three checks reach further:
 *
 * - A key kept outside the warehouse (the environment variable that
 *   pipemend.yaml's audit_key_env names; audit_key_use): each event
 *   written with it is keyed (its catalog row says so) and its hash is
 *   HMAC-SHA256 under the key of the same encoding behind the tag
 *   "pipemend-audit-hmac-v1". Without the key no one can make a keyed
 *   event that verifies, so a chain rewritten by someone who has write
 *   access but not the key fails verify with the key: a keyed event's HMAC
 *   does not match, or an event after a keyed one is not keyed (a
 *   rewriter who fell back to plain SHA-256), or no event is keyed at all.
 *   Events written before the key stay plain and verify as they did.
 *   Verify without the key checks the links and the plain events and
 *   counts the keyed events whose hash it could not check.
 *
 * - An anchor file kept outside the warehouse (audit_anchor) gets one line
 *   per anchoring, "seq=N hash=H at=T anchored=T2": the head of the chain
 *   then. Verify with it fails when the chain no longer holds event N with
 *   hash H, which catches a re-hashed chain and a log cut back to before
 *   the last anchor. Lines starting with '#' and blank lines are skipped.
 * - The warehouse's own rows: a run, incident or proposal is audited in the
 *   transaction that makes it, so the newest of each must be the subject of
 *   some event ("run/N", "incident/N", "proposal/N"). An emptied log, or one
 *   cut back to before the newest run, fails even without an anchor. */
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

/* Called with every event appended, in the transaction that appends it
 * (after its insert): what the hook writes commits or rolls back with the
 * event (the notifications outbox, pipeline/notify.h). An error fails the
 * append. One hook per process; NULL removes it. */
typedef pm_code (*audit_hook)(void *arg, pm_store *s, const pm_audit_event *e, pm_err *err);
void audit_set_hook(audit_hook hook, void *arg);

/* The hash of e from its fields and e->prev_hash, as 64 hex digits (an
 * HMAC under this process's key when e->keyed; 64 NULs when keyed and
 * there is no key). */
void audit_hash(const pm_audit_event *e, char out[65]);

/* Reads the audit key from the environment variable env (NULL or "": no
 * key; pipemend.yaml's audit_key_env), once, before threads start. An
 * unset variable is not an error here: events then refuse to be written
 * (PM_ERR_CONFIG from audit_append) while verify still checks what it can.
 * A key shorter than 32 characters is PM_ERR_CONFIG. */
pm_code audit_key_use(const char *env, pm_err *err);
/* The variable named (NULL when none) and whether it held a key. */
const char *audit_key_env(bool *present);

typedef struct audit_verdict {
    bool intact;
    int64_t events;      /* events checked */
    int64_t broken_seq;  /* first event that does not fit (0 when intact) */
    const char *problem; /* why, in words (NULL when intact) */
    int64_t anchors;     /* anchored heads checked (0 without an anchor file) */
    int64_t keyed;       /* keyed events among those checked */
    int64_t unchecked;   /* keyed events whose HMAC could not be checked (no key) */
    const char *key_env; /* the variable audit_key_env names, or NULL */
    bool key_used;       /* the key was there: keyed hashes were checked */
    /* The head of the chain (seq 0 and NULLs when the log is empty); in
     * arena. */
    int64_t head_seq;
    const char *head_hash;
    const char *head_at;
} audit_verdict;

/* Checks the chain, then the newest run, incident and proposal against it,
 * then, when anchor is not NULL, every head anchored in that file (which
 * must exist: PM_ERR_IO otherwise; a malformed line is PM_ERR_PARSE). */
pm_code audit_verify(pm_store *s, const char *anchor, pm_arena *arena, audit_verdict *out,
                     pm_err *err);

/* Verifies against anchor's lines so far (a missing file has none), and
 * when the log is intact and not empty appends its head to anchor, creating
 * it with mode 0600. *out is the verdict; nothing is written unless it is
 * intact. An empty log is PM_ERR_NOTFOUND (there is no head to anchor). */
pm_code audit_anchor(pm_store *s, const char *anchor, pm_arena *arena, audit_verdict *out,
                     pm_err *err);

#endif
