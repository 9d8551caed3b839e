/* health.h - GET /healthz: 200 {"status":"ok"} while the server serves, for
 * load balancers, orchestrators and `curl -f` in scripts. It says that the
 * process answers HTTP, nothing more (no database is touched). Like every
 * route it is behind the server's Host, Origin and token checks. */
#ifndef PM_HTTP_HEALTH_H
#define PM_HTTP_HEALTH_H

#include "core/err.h"
#include "http/server.h"

#define HTTP_HEALTH_PATH "/healthz"

pm_code http_health_mount(http_server *srv, pm_err *err);

#endif
