/* server.h - pipemend's HTTP server: one port (loopback by default) on
 * libmicrohttpd, where the faces that speak HTTP are mounted side by side
 * (MCP at /mcp, /healthz, and REST, /metrics and the dashboard to come).
 * The server owns what every route shares: listening, the guards, limits,
 * routing, and the mechanics of answering; a route owns its protocol.
 *
 * A request goes through, in order:
 *
 *   1. the guards, for EVERY path, as soon as its headers are in (before a
 *      byte of its body is read, so that no unauthenticated client makes
 *      the server buffer anything):
 *        Host, Authorization, Origin, Content-Length, Transfer-Encoding
 *        or Mcp-Session-Id more than once, or both Transfer-Encoding and
 *        Content-Length                  400 (which copy counts would
 *                                        depend on who reads it)
 *        bound to loopback, a Host other than localhost, 127.0.0.1 or
 *        [::1] (with this port)          403 (DNS rebinding; beyond
 *                                        loopback the token stands guard)
 *        Origin present and not allowed  403
 *        a token configured and no "Authorization: Bearer TOKEN"
 *                                        401 with WWW-Authenticate
 *   2. routing: the route whose path equals the request's, or, for a
 *      prefix route, that begins it followed by '/'. None: 404.
 *   3. the route's headers callback (may be NULL), still before the body:
 *      it may answer (405, 415, ...) and the body is never read.
 *   4. the body, kept up to the route's max_body: a Content-Length over it
 *      is answered 413 at once; a chunked body over it is read to its end
 *      (kept no further) and answered 413.
 *   5. the route's handle callback, with the whole body: it answers.
 *
 * Errors the server answers itself (steps 1, 2, 4) have one JSON body,
 *   {"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"..."}}
 * (-32603 for a 5xx): the shape MCP clients, the first tenant, must read;
 * any other client finds the message at error.message. Routes answer their
 * own errors the same way with http_answer_error.
 *
 * Listening beyond loopback needs a token: http_server_run refuses to
 * start without one. libmicrohttpd runs a thread per connection, so a
 * handler and a stream's reader may block; at most 256 connections, 32 of
 * them from one peer address (libmicrohttpd closes the others at once); a
 * request's head must be in within 10 s of the connection opening or the
 * previous request ending (trickled bytes do not move this deadline), and
 * a connection silent for 120 s is closed (a stream sends keep-alives).
 *
 * Use:
 *
 *   http_server *srv = http_server_new(&opts);
 *   http_mcp_mount(srv, mcp, NULL, &err);     (mount helpers, or
 *   http_health_mount(srv, &err);              http_server_mount)
 *   http_server_run(srv, &err);               (until *opts.stop)
 *   http_server_free(srv);                    (routes' free callbacks) */
#ifndef PM_HTTP_SERVER_H
#define PM_HTTP_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/err.h"

typedef struct http_server http_server;
/* One request, from its headers to its answer; borrowed by the callbacks
 * for the duration of the call. */
typedef struct http_req http_req;

typedef struct http_opts {
    const char *host;     /* address to bind; NULL: 127.0.0.1 */
    int port;             /* 0: any free port (ready() says which) */
    const char *token;    /* bearer token; NULL: none (loopback only) */
    const char **origins; /* NULL-ended list of allowed Origin values
                             beyond http(s)://localhost|127.0.0.1|[::1][:port];
                             may be NULL */
    /* Called once listening, with the port (for port 0). */
    void (*ready)(void *arg, const char *host, int port);
    void *ready_arg;
    /* Serving stops when *stop becomes non-zero (a signal handler sets it). */
    volatile sig_atomic_t *stop;
    /* Named users beyond the one token (may be NULL): called in step 1, in
     * place of the token's 401, for every request that passed Host and
     * Origin, with the bearer token it sent (NULL: none) and whether that
     * token is the server's own (true too when the server has none). It
     * names who calls (http_req_set_user) and returns true to go on, or
     * answers (401, 403) and returns false. */
    bool (*authenticate)(void *arg, http_req *rq, const char *bearer, bool token_ok);
    void *auth_arg;
    /* Connections at once (each a thread), in all and from one address;
     * beyond them a connection is refused. 0: 256 and 32. */
    unsigned max_connections, max_per_peer;
} http_opts;

/* A route: what the server calls for the requests of one path. Every
 * callback gets arg. A request is answered exactly once, by one of the
 * http_answer functions below; a handle callback that answers nothing
 * gives a 500. */
typedef struct http_route {
    const char *path; /* "/mcp"; borrowed for the server's life */
    bool prefix;      /* also path + "/..." */
    size_t max_body;  /* bytes of body kept; beyond them 413 (0: none taken) */
    /* The headers are in, the body not yet read (may be NULL). Answer to
     * refuse the request; return without answering to go on. */
    void (*headers)(void *arg, http_req *rq);
    /* The body is in: answer. */
    void (*handle)(void *arg, http_req *rq);
    /* Every 100 ms while serving, on the serving thread (may be NULL). */
    void (*tick)(void *arg);
    /* Serving stops: called before connections are closed, to finish what
     * clients still wait for (may be NULL; may block a few seconds). */
    void (*drain)(void *arg);
    /* The server is freed, its connections all closed (may be NULL). */
    void (*free)(void *arg);
    void *arg;
} http_route;

/* o is borrowed for the server's life. NULL when out of memory. */
http_server *http_server_new(const http_opts *o);
/* Mounts r (copied) before http_server_run. PM_ERR_CONFIG for a path that
 * does not begin with '/' or is mounted already, or too many routes; the
 * route's free is then not called (the caller still owns arg). */
pm_code http_server_mount(http_server *srv, const http_route *r, pm_err *err);
/* Listens and serves until *o->stop; then every route drains and the
 * connections close. PM_ERR_CONFIG or PM_ERR_IO when it cannot listen. */
pm_code http_server_run(http_server *srv, pm_err *err);
/* Frees the server and calls every mounted route's free. NULL is fine. */
void http_server_free(http_server *srv);

/* ---- in a callback ---------------------------------------------------------- */

const char *http_req_method(const http_req *rq);
const char *http_req_path(const http_req *rq);
/* A request header (name case-insensitive), NULL when absent. */
const char *http_req_header(const http_req *rq, const char *name);
/* The address the connection comes from (AF_INET or AF_INET6), NULL if
 * unknown. */
const struct sockaddr *http_req_peer(const http_req *rq);
/* A query-string argument (?name=value, decoded), NULL when absent. */
const char *http_req_arg(const http_req *rq, const char *name);
/* Who authenticate said calls (borrowed from it), NULL when it named no
 * one (the server's token, or no token). */
const void *http_req_user(const http_req *rq);
void http_req_set_user(http_req *rq, const void *user);
/* The body, in handle (NUL-terminated, "" when none): *len its bytes. */
const char *http_req_body(const http_req *rq, size_t *len);

/* Adds a header to the answer this request will get (both strings
 * borrowed until it is given). At most 8. */
void http_add_header(http_req *rq, const char *name, const char *value);
/* Answers status with len bytes of body (copied) of content_type (NULL:
 * no Content-Type, for an empty body). */
void http_answer(http_req *rq, unsigned status, const char *content_type, const char *body,
                 size_t len);
/* Answers status with the server's JSON error body (see above) carrying
 * the message. */
void http_answer_error(http_req *rq, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A streamed body (an SSE stream, say): read fills buf with up to max
 * bytes and returns how many (it may block, but should return within the
 * 120 s connection timeout: a keep-alive at worst), HTTP_STREAM_END when the
 * body is complete or HTTP_STREAM_ERROR to cut the connection. done(arg)
 * runs once the connection is finished with it (also when answering
 * fails). gone(arg) (may be NULL) is called at most once, from the
 * serving thread within a tick (100 ms), when the client closes its end
 * of the connection: a read blocked waiting for something to send should
 * then return HTTP_STREAM_ERROR (gone must not block). */
#define HTTP_STREAM_END ((ssize_t)-1)
#define HTTP_STREAM_ERROR ((ssize_t)-2)
void http_answer_stream(http_req *rq, unsigned status, const char *content_type,
                        ssize_t (*read)(void *arg, char *buf, size_t max), void (*done)(void *arg),
                        void (*gone)(void *arg), void *arg);

#endif
