/* replay.h - puts quarantined rows through the validator and the loader
 * again, after the schema changed (a heal or an approved proposal): rows
 * that now fit load and leave quarantine; the rest stay, with their
 * findings brought up to date and linked to the incidents those findings
 * belong to. Incidents whose rows have all left quarantine are resolved. */
#ifndef PM_HEAL_REPLAY_H
#define PM_HEAL_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "contract/contract.h"
#include "source/record.h"
#include "source/source.h"
#include "store/store.h"

typedef struct replay_result {
    int64_t loaded;   /* left quarantine, now in the table */
    int64_t waiting;  /* still do not fit */
    int64_t skipped;  /* cannot be replayed from their bytes (cut over-long lines) */
    int64_t resolved; /* incidents resolved */
} replay_result;

/* Told of each page of rows before it commits (done of total so far);
 * returning false stops the replay there: that page rolls back, the pages
 * committed before it stay. */
typedef struct replay_watch {
    bool (*page)(void *arg, int64_t done, int64_t total);
    void *arg;
} replay_watch;

/* Replays table's quarantine a page at a time (store_default_batch rows),
 * each page one transaction under the table's migration lock: the rows
 * that load leave quarantine in the transaction that loads them (with the
 * audit event quarantine.replayed, counting that page), so a replay that
 * stops part way (killed, out of disk) has loaded a prefix exactly once,
 * and running it again goes on with the rest; other writers get in
 * between pages. The last page settles the incidents: applied ones become
 * replayed, and those left with no row resolved. Until then an incident a
 * heal applied stays applied, which heal_replay_pending finds. run_id: the
 * run it happens in, for incidents that rows' new findings open (0: each
 * row's own run). */
pm_code replay_quarantine(pm_store *s, const char *table, const pm_contract *contract,
                          const char *actor, int64_t run_id, replay_result *res, pm_err *err);
/* The same, watched (w may be NULL). A replay the watcher stopped fails
 * with PM_ERR_BUSY ("stopped after N rows"); its pages committed stay. */
pm_code replay_quarantine_watched(pm_store *s, const char *table, const pm_contract *contract,
                                  const char *actor, int64_t run_id, const replay_watch *w,
                                  replay_result *res, pm_err *err);

/* The same, parsing the rows with the pipeline's limits (its max_line and
 * max_depth: source may be NULL for the defaults), so a row its run read
 * whole is read whole again; an object for one of the table's json
 * columns is kept whole, as the run kept it. */
pm_code replay_quarantine_opts(pm_store *s, const char *table, const pm_contract *contract,
                               const char *actor, int64_t run_id, const replay_watch *w,
                               const pm_source_opts *source, replay_result *res, pm_err *err);

/* Parses a quarantined row's original bytes again (CSV rows with the
 * header kept beside them). false when they cannot be: a line cut at the
 * length limit, or a CSV row without its header. A row that still does not
 * parse is true with rec->malformed set. */
bool replay_parse(const pm_qrow *q, pm_arena *arena, pm_record *rec);

#endif
