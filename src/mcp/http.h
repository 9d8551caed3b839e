/* http.h - the Streamable HTTP transport of MCP (revision 2025-11-25, and
 * the 2025-06-18 and 2025-03-26 clients it negotiates down to), on
 * libmicrohttpd, over the same sessions and jobs as stdio (mcp.h).
 *
 * One endpoint, path /mcp:
 *
 *   POST    one JSON-RPC message. A notification or an answer to the
 *           server: 202 Accepted. initialize without Mcp-Session-Id: a new
 *           session, its id in the Mcp-Session-Id header of the JSON
 *           response. tools/call: an SSE stream (text/event-stream) that
 *           carries the call's progress, log messages and the server's own
 *           requests, then its response, then ends. Any other request: one
 *           application/json response. A message that is not a valid
 *           request: 400 with the JSON-RPC error as body.
 *   GET     the session's own SSE stream (resource updates), one per
 *           session (409 for a second); Last-Event-ID resumes a stream, a
 *           finished call's too for 60 s when its answer was not read.
 *   DELETE  ends the session: 200; later requests with its id get 404.
 *
 * Checks, in order, each answered with a JSON-RPC error body:
 *   bound to loopback, a Host other than localhost, 127.0.0.1 or [::1]
 *   (with this port)                       403 (DNS rebinding; beyond
 *                                          loopback the token stands guard)
 *   Origin present and not allowed         403
 *   a token configured and no "Authorization: Bearer TOKEN"   401
 *   a path other than /mcp                 404
 *   a method other than POST, GET, DELETE  405 with Allow
 *   POST without Content-Type application/json       415
 *   Accept without application/json and text/event-stream (POST) or
 *   without text/event-stream (GET)        406
 *   a body over max_body                   413
 *   no Mcp-Session-Id (but for initialize) 400; an unknown or ended one 404
 *   MCP-Protocol-Version not one this server speaks   400
 *   max_sessions sessions live             503
 *
 * Session ids are 32 random bytes in hex (visible ASCII). A session idle
 * (no request, no open stream, no running call) for idle_seconds ends; so
 * does a connection silent for 120 s (SSE streams send keep-alives).
 * Listening beyond loopback needs a token: mcp_http_serve refuses to start
 * without one. */
#ifndef PM_MCP_HTTP_H
#define PM_MCP_HTTP_H

#include <signal.h>
#include <stddef.h>

#include "core/err.h"
#include "mcp/mcp.h"

typedef struct mcp_http_opts {
    const char *host;     /* address to bind; NULL: 127.0.0.1 */
    int port;             /* 0: any free port (ready() says which) */
    const char *token;    /* bearer token; NULL: none (loopback only) */
    const char **origins; /* NULL-ended list of allowed Origin values
                             beyond http(s)://localhost|127.0.0.1|[::1][:port];
                             may be NULL */
    size_t max_body;      /* 0: the server's max_message */
    size_t max_sessions;  /* 0: 64 */
    int idle_seconds;     /* 0: 1800 */
    /* Called once listening, with the port (for --port 0). */
    void (*ready)(void *arg, const char *host, int port);
    void *ready_arg;
    /* Serving stops when *stop becomes non-zero (a signal handler sets it). */
    volatile sig_atomic_t *stop;
} mcp_http_opts;

/* Serves until *o->stop. Stopping, sessions close (so long calls stop at
 * their next check), running calls finish and their answers are sent (for
 * up to 5 s), then the streams end. */
pm_code mcp_http_serve(mcp_server *s, const mcp_http_opts *o, pm_err *err);

#endif
