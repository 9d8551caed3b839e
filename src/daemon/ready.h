/* ready.h - GET /readyz: whether this `pipemend serve` can do its work,
 * for orchestrators that route traffic or restart on it (/healthz says
 * only that the process answers HTTP).
 *
 *   200 {"status":"ready","warehouse":"ok","scheduler":"active"}
 *   503 {"status":"not ready","warehouse":"ok"|"unreachable",
 *        "scheduler":"active"|"standby"|"off", "detail":"..."}
 *
 * Ready means both: the warehouse answers a query (the route keeps one
 * connection of its own, opened again after a failure), and the scheduler
 * is scheduling (sched_active: on SQLite, this process holds the
 * warehouse's scheduler lease; a second serve on the same file is standby
 * and not ready; without --db or a scheduler it is off). Like every route
 * it is behind the server's Host, Origin and token checks. */
#ifndef PM_DAEMON_READY_H
#define PM_DAEMON_READY_H

#include "core/err.h"
#include "daemon/scheduler.h"
#include "http/server.h"

#define READY_PATH "/readyz"

/* Mounts /readyz on srv for the warehouse db (may be NULL: never ready)
 * and the scheduler s (borrowed for the server's life; NULL: off). */
pm_code ready_mount(http_server *srv, const char *db, const sched *s, pm_err *err);

#endif
