/* mcp_route.h - the Streamable HTTP transport of MCP (revision 2025-11-25,
 * and the 2025-06-18 and 2025-03-26 clients it negotiates down to), as a
 * route of the HTTP server (server.h) at /mcp, over the same sessions and
 * jobs as stdio (mcp/mcp.h's public API, nothing more).
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
 * Checks, in order, each answered with a JSON-RPC error body (the server
 * has already checked Host, Origin and the token, 403/401):
 *   a method other than POST, GET, DELETE  405 with Allow
 *   POST without Content-Type application/json       415
 *   Accept without application/json and text/event-stream (POST) or
 *   without text/event-stream (GET)        406
 *   a body over max_body                   413 (the server's check)
 *   MCP-Protocol-Version not one this server speaks   400
 *   no Mcp-Session-Id (but for initialize) 400; an unknown or ended one 404
 *   max_sessions sessions live             503
 *
 * Session ids are 32 random bytes in hex (visible ASCII). A session idle
 * (no request, no open stream, no running call) for idle_seconds ends. A
 * running tools/call whose stream nobody reads for 5 s (its client closed
 * the connection and did not resume with Last-Event-ID) is cancelled, as
 * notifications/cancelled would cancel it.
 * When the server stops, sessions close (so long calls stop at their next
 * check), running calls finish and their answers are sent (for up to 5 s),
 * then the streams end. */
#ifndef PM_HTTP_MCP_ROUTE_H
#define PM_HTTP_MCP_ROUTE_H

#include <stddef.h>

#include "core/err.h"
#include "http/server.h"
#include "mcp/mcp.h"

#define HTTP_MCP_PATH "/mcp"

typedef struct http_mcp_opts {
    size_t max_body;     /* 0: the MCP server's max_message */
    size_t max_sessions; /* 0: 64 */
    int idle_seconds;    /* 0: 1800 */
} http_mcp_opts;

/* Mounts MCP at /mcp on srv, serving s (borrowed; it must outlive srv).
 * o may be NULL (the defaults). The route's sessions go with the server
 * (http_server_free). */
pm_code http_mcp_mount(http_server *srv, mcp_server *s, const http_mcp_opts *o, pm_err *err);

#endif
