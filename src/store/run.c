/* run.c - run statuses: their names and the move table of run.h's diagram. */
#include "store/run.h"

#include <string.h>

static const char *const run_names[RUN_STATUS_COUNT] = {
    [RUN_RUNNING] = "running", [RUN_SUCCEEDED] = "succeeded", [RUN_QUARANTINED] = "quarantined",
    [RUN_HELD] = "held",       [RUN_FAILED] = "failed",       [RUN_ABORTED] = "aborted",
    [RUN_STOPPED] = "stopped",
};

static bool parse(const char *name, int *out)
{
    for (int i = 0; name && i < (int)(sizeof run_names / sizeof run_names[0]); i++) {
        if (strcmp(run_names[i], name) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

const char *run_status_name(pm_run_status s)
{
    return (unsigned)s < RUN_STATUS_COUNT ? run_names[s] : "unknown";
}

bool run_status_parse(const char *name, pm_run_status *out)
{
    int i;
    if (!parse(name, &i))
        return false;
    *out = (pm_run_status)i;
    return true;
}

bool run_status_can_move(pm_run_status from, pm_run_status to)
{
    return from == RUN_RUNNING && to != RUN_RUNNING && (unsigned)to < RUN_STATUS_COUNT;
}

bool run_status_needs_attention(pm_run_status s)
{
    return s == RUN_QUARANTINED || s == RUN_HELD || s == RUN_FAILED || s == RUN_ABORTED;
}
