/* serve_auth.h - who may call `pipemend serve`: the server's authenticate
 * hook (http/server.h, http_opts.authenticate) over its one token and the
 * named users of the users file (users.h).
 *
 * A request's bearer token is, in this order:
 *   1. a user's token: the request is that user's (http_req_user gives the
 *      users_user); a viewer may not use /mcp (its tools act) and gets 403
 *   2. the server's token (or any request, under --no-token): the request
 *      is nobody's in particular, as before users existed; on /mcp that is
 *      what every MCP client has always been, on REST an operator that may
 *      not approve or reject (only a named person may: rest.h)
 *   3. anything else, or none: 401
 * Before all of that, a request from a trusted reverse proxy (an address
 * in serve's trusted_proxies) that carries the proxy's user header
 * (proxy_user_header, e.g. X-Forwarded-User) is the named user's, with
 * the role the users file gives that name (no token needed: the proxy
 * authenticated them); a name the file does not have gets 403. The same
 * header from any other address is ignored: anyone can send a header.
 * The users file is read again when it changes (users_db). */
#ifndef PM_DAEMON_SERVE_AUTH_H
#define PM_DAEMON_SERVE_AUTH_H

#include <stdbool.h>

#include "core/netaddr.h"
#include "daemon/users.h"
#include "http/server.h"

typedef struct serve_auth_cfg {
    users_db *users;          /* may be NULL: no users file, the token alone */
    const char *proxy_header; /* may be NULL: no trusted proxy */
    const pm_netrange *proxies;
    size_t nproxies;
} serve_auth_cfg;

/* arg: a serve_auth_cfg, borrowed for the server's life. */
bool serve_auth(void *arg, http_req *rq, const char *bearer, bool token_ok);

#endif
