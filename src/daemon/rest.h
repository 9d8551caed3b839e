/* rest.h - pipemend's REST API at /api/v1/, a route of serve's HTTP server
 * (http/server.h) that calls the tools and views in-process (src/tools,
 * src/view) for people, scripts and dashboards: pipelines (list, status,
 * history, trigger), runs and their logs, tables and schemas (and replay
 * of their quarantine), incidents and their diagnostic packets (and
 * dismissal), proposals (list, show, approve, reject),
 * quarantine (cursor-paged), the audit log (paged) and its verification,
 * metrics, and /api/v1/openapi.json, an OpenAPI 3.1 document made from the
 * same route table that dispatches (rest.c), so the two cannot disagree.
 *
 * Who calls is the server's to establish (serve_auth.h): a named user with
 * a role (daemon/users.h) or, without a name, the server's own token (or
 * nobody under --no-token). Each route needs one of:
 *   read    every role, and the server's token
 *   act     (trigger, replay) operator, agent, the server's token; not
 *           viewer
 *   decide  (approve, reject, dismiss) a named operator only: an approval
 *           is a person's act (DESIGN.md, invariant 4) and records
 *           human:<that user's name>, never anything the request says
 *
 * Errors are {"error": {"message": ..., "detail": ..., "hint": ...}}
 * (detail and hint null when there are none) with 400 (a bad parameter),
 * 401 (no or an unknown token: the server's answer), 403 (the role may
 * not), 404 (no such route or thing), 405 (with Allow), 409 (the state
 * forbids it now: a proposal no longer pending, a pipeline running, a
 * guard or dry run refusal), 500 (the warehouse failed). */
#ifndef PM_DAEMON_REST_H
#define PM_DAEMON_REST_H

#include "core/err.h"
#include "http/server.h"
#include "pipeline/config.h"

#define REST_PREFIX "/api/v1"

/* Mounts the API on srv, with its own connections to the warehouse db
 * (a few, each opened at the first request that needs it; handlers run
 * at once, one per connection). *cfg is the configuration,
 * read at each request: where serve keeps the current one, which a reload
 * may replace (the pointer is borrowed for the server's life, and so is
 * every configuration it points to). */
pm_code rest_mount(http_server *srv, const char *db, pm_config *const *cfg, const char *version,
                   pm_err *err);

#endif
