/* replay.h - puts quarantined rows through the validator and the loader
 * again, after the schema changed (a heal or an approved proposal): rows
 * that now fit load and leave quarantine; the rest stay as they were. */
#ifndef PM_PIPELINE_REPLAY_H
#define PM_PIPELINE_REPLAY_H

#include <stdint.h>

#include "contract/contract.h"
#include "store/store.h"

typedef struct replay_result {
    int64_t loaded;  /* left quarantine, now in the table */
    int64_t waiting; /* still do not fit */
    int64_t skipped; /* cannot be replayed yet (CSV rows, see replay.c) */
} replay_result;

pm_code replay_quarantine(pm_store *s, const char *table, const pm_contract *contract,
                          const char *actor, replay_result *res, pm_err *err);

#endif
