/* server.c - the HTTP server on libmicrohttpd (server.h says what it
 * checks, in which order, and how routes plug in).
 *
 * libmicrohttpd calls the access handler several times per request: once
 * when the headers are in (the guards and the route's headers callback run
 * there, so a refused request is answered before its body is read), once
 * per piece of body, and once more at the end (the route's handle). A
 * response queued at the first call makes libmicrohttpd skip the body and
 * close the connection after the answer, so a request without a body is
 * checked at its second call instead, where the connection can stay open.
 * The per-request state (http_req) lives from the first call to the
 * completion callback. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"

#define MAX_ROUTES 16
#define MAX_HEADERS 8
/* Connections by default (http_opts): in all (each is a thread), and from
 * one address, so that one client cannot take them all. */
#define MAX_CONNECTIONS 256u
#define MAX_PER_PEER 32u
#define CONNECTION_TIMEOUT 120 /* s without a byte either way; streams send keep-alives */
/* s from a connection's start (or the end of its last request) to the end
 * of the next request's headers. libmicrohttpd's timeout restarts with every
 * byte, so a client trickling a header line now and then would hold its
 * connection (and its thread) forever: this deadline does not move. */
#define HEADER_DEADLINE 10
#define TICK_MS 100
/* The 401's challenge. The realm is "mcp", as clients have seen it since
 * MCP was the only route; one token admits every route. */
#define CHALLENGE "Bearer realm=\"mcp\""

/* A connection while it waits for a request's headers (the header
 * deadline's list); waiting is 0 while a request is being served. */
typedef struct stream stream;

typedef struct http_conn {
    struct http_conn *next, *prev;
    int fd;
    time_t waiting; /* since when, monotonic seconds; 0: not waiting */
    bool cut;       /* shut down by the deadline */
    stream *st;     /* the streamed answer it carries, or NULL */
} http_conn;

struct http_server {
    const http_opts *o;
    http_route routes[MAX_ROUTES];
    size_t nroutes;
    int port;
    bool loopback;
    pthread_mutex_t mu; /* conns */
    http_conn *conns;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *c;
    const char *method, *path; /* borrowed from libmicrohttpd */
    const http_route *route;
    pm_buf body;
    size_t total; /* body bytes received, kept or not */
    const char *headers[2 * MAX_HEADERS];
    size_t nheaders;
    const void *user; /* opts.authenticate's, or NULL */
    bool begun;       /* begin() ran */
    bool answered;
    enum MHD_Result result;
};

/* ---- answering ---------------------------------------------------------------- */

const char *http_req_method(const http_req *rq)
{
    return rq->method;
}

const char *http_req_path(const http_req *rq)
{
    return rq->path;
}

const struct sockaddr *http_req_peer(const http_req *rq)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

const char *http_req_header(const http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->c, MHD_HEADER_KIND, name);
}

const char *http_req_arg(const http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->c, MHD_GET_ARGUMENT_KIND, name);
}

const void *http_req_user(const http_req *rq)
{
    return rq->user;
}

void http_req_set_user(http_req *rq, const void *user)
{
    rq->user = user;
}

const char *http_req_body(const http_req *rq, size_t *len)
{
    *len = rq->body.len;
    return rq->body.data ? rq->body.data : "";
}

void http_add_header(http_req *rq, const char *name, const char *value)
{
    if (rq->nheaders < MAX_HEADERS) {
        rq->headers[2 * rq->nheaders] = name;
        rq->headers[2 * rq->nheaders + 1] = value;
        rq->nheaders++;
    }
}

/* Queues r with the request's headers (and the challenge with a 401). */
static void queue(http_req *rq, unsigned status, const char *content_type, struct MHD_Response *r)
{
    if (rq->answered) {
        pm_error("http: %s %s answered twice", rq->method, rq->path);
        MHD_destroy_response(r);
        return;
    }
    rq->answered = true;
    if (content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; i < rq->nheaders; i++)
        MHD_add_response_header(r, rq->headers[2 * i], rq->headers[2 * i + 1]);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, CHALLENGE);
    rq->result = MHD_queue_response(rq->c, status, r);
    MHD_destroy_response(r);
}

void http_answer(http_req *rq, unsigned status, const char *content_type, const char *body,
                 size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) {
        rq->answered = true;
        rq->result = MHD_NO;
        return;
    }
    queue(rq, status, content_type, r);
}

void http_answer_error(http_req *rq, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pm_buf b;
    pm_buf_init(&b, 4096);
    pm_code rc = pm_buf_printf(&b, NULL,
                               "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,"
                               "\"message\":",
                               status >= 500 ? -32603 : -32600);
    if (rc == PM_OK)
        rc = pm_buf_json_str(&b, msg, strlen(msg), NULL);
    if (rc == PM_OK)
        rc = pm_buf_puts(&b, "}}", NULL);
    pm_debug("http %u: %s", status, msg);
    http_answer(rq, status, "application/json", rc == PM_OK ? b.data : "", rc == PM_OK ? b.len : 0);
    pm_buf_free(&b);
}

struct stream {
    ssize_t (*read)(void *arg, char *buf, size_t max);
    void (*done)(void *arg);
    void (*gone)(void *arg);
    void *arg;
    http_server *srv;
    http_conn *hc; /* under srv->mu: the connection carrying it, or NULL */
    bool told;     /* under srv->mu: gone() was called */
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *s = cls;
    ssize_t n = s->read(s->arg, buf, max);
    if (n == HTTP_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static http_conn *conn_of(struct MHD_Connection *c);

static void stream_free(void *cls)
{
    stream *s = cls;
    if (s->srv) {
        pthread_mutex_lock(&s->srv->mu);
        if (s->hc && s->hc->st == s)
            s->hc->st = NULL;
        pthread_mutex_unlock(&s->srv->mu);
    }
    s->done(s->arg);
    free(s);
}

void http_answer_stream(http_req *rq, unsigned status, const char *content_type,
                        ssize_t (*read)(void *arg, char *buf, size_t max), void (*done)(void *arg),
                        void (*gone)(void *arg), void *arg)
{
    stream *s = malloc(sizeof *s);
    if (!s) {
        done(arg);
        rq->answered = true;
        rq->result = MHD_NO;
        return;
    }
    *s = (stream){.read = read, .done = done, .gone = gone, .arg = arg, .srv = rq->srv};
    pthread_mutex_lock(&rq->srv->mu);
    s->hc = conn_of(rq->c);
    if (s->hc)
        s->hc->st = s;
    pthread_mutex_unlock(&rq->srv->mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_free);
    if (!r) {
        stream_free(s);
        rq->answered = true;
        rq->result = MHD_NO;
        return;
    }
    queue(rq, status, content_type, r);
}

/* ---- the guards ----------------------------------------------------------------- */

static bool is_loopback_name(const char *h, size_t n)
{
    return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
           (n == 9 && strncmp(h, "127.0.0.1", 9) == 0) || (n == 5 && strncmp(h, "[::1]", 5) == 0);
}

/* Splits "host[:port]" (host may be [v6]); port -1 when absent. */
static bool split_host(const char *v, size_t *hn, long *port)
{
    const char *colon = NULL;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close)
            return false;
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] && !colon)
            return false;
        *hn = (size_t)(close - v + 1);
    } else {
        colon = strrchr(v, ':');
        *hn = colon ? (size_t)(colon - v) : strlen(v);
    }
    *port = -1;
    if (colon) {
        char *end;
        *port = strtol(colon + 1, &end, 10);
        if (*end || colon[1] == 0)
            return false;
    }
    return *hn > 0;
}

/* On loopback, only loopback names with this port: a page whose name
 * rebinds to 127.0.0.1 sends its own name and is refused. Beyond loopback
 * every request carries the bearer token, which such a page cannot know, and
 * clients name the host as they reach it (an address, a DNS name, a proxy's
 * name): any Host goes. */
static bool host_ok(const http_server *srv, const char *v)
{
    if (!srv->loopback)
        return true;
    size_t hn;
    long port;
    if (!v || !split_host(v, &hn, &port))
        return false;
    if (port != -1 && port != srv->port)
        return false;
    return is_loopback_name(v, hn);
}

static bool origin_ok(const http_server *srv, const char *v)
{
    for (const char **o = srv->o->origins; o && *o; o++)
        if (strcmp(*o, v) == 0)
            return true;
    const char *rest = NULL;
    if (strncmp(v, "http://", 7) == 0)
        rest = v + 7;
    else if (strncmp(v, "https://", 8) == 0)
        rest = v + 8;
    size_t hn;
    long port;
    return rest && !strchr(rest, '/') && split_host(rest, &hn, &port) && is_loopback_name(rest, hn);
}

/* Compares in time independent of where the strings differ. */
static bool token_ok(const http_server *srv, const char *auth)
{
    const char *tok = srv->o->token;
    if (!tok || !*tok)
        return true;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7;
    size_t a = strlen(given), b = strlen(tok);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)tok[i] ^ (unsigned char)(i < a ? given[i] : 0);
    return diff == 0;
}

/* The headers a guard or a route reads as one value. libmicrohttpd keeps
 * every copy and its lookup returns the first, while a proxy in front may
 * have acted on the last: two Hosts let a page pass the DNS-rebinding check
 * with one and be routed by the other, two Content-Lengths frame the body
 * two ways (request smuggling). A request carrying any of these twice is
 * refused rather than read one way. */
static const char *const single_headers[] = {
    MHD_HTTP_HEADER_HOST,           MHD_HTTP_HEADER_AUTHORIZATION,     MHD_HTTP_HEADER_ORIGIN,
    MHD_HTTP_HEADER_CONTENT_LENGTH, MHD_HTTP_HEADER_TRANSFER_ENCODING, "Mcp-Session-Id",
};
#define NSINGLE (sizeof single_headers / sizeof *single_headers)

typedef struct header_count {
    unsigned seen[NSINGLE];
    const char *twice; /* the first header seen twice, or NULL */
} header_count;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    header_count *hc = cls;
    for (size_t i = 0; key && i < NSINGLE; i++) {
        if (strcasecmp(key, single_headers[i]) == 0 && ++hc->seen[i] == 2 && !hc->twice)
            hc->twice = single_headers[i];
    }
    return MHD_YES;
}

/* Step 1 of server.h: true when the request may go on, else answered. */
static bool guard(http_req *rq)
{
    header_count hc = {{0}, NULL};
    MHD_get_connection_values(rq->c, MHD_HEADER_KIND, count_header, &hc);
    if (hc.twice) {
        http_answer_error(rq, MHD_HTTP_BAD_REQUEST,
                          "Bad Request: more than one %s header (send it once)", hc.twice);
        return false;
    }
    /* Both frame the body, each its own way: a proxy in front that went by
     * the other would see a different next request (smuggling). */
    if (http_req_header(rq, MHD_HTTP_HEADER_TRANSFER_ENCODING) &&
        http_req_header(rq, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        http_answer_error(rq, MHD_HTTP_BAD_REQUEST,
                          "Bad Request: both Transfer-Encoding and Content-Length (send one)");
        return false;
    }
    const char *host = http_req_header(rq, MHD_HTTP_HEADER_HOST);
    if (!host_ok(rq->srv, host)) {
        http_answer_error(rq, MHD_HTTP_FORBIDDEN,
                          "Forbidden: Host \"%.100s\" is not this server's (DNS rebinding "
                          "protection)",
                          host ? host : "");
        return false;
    }
    const char *origin = http_req_header(rq, MHD_HTTP_HEADER_ORIGIN);
    if (origin && !origin_ok(rq->srv, origin)) {
        http_answer_error(rq, MHD_HTTP_FORBIDDEN,
                          "Forbidden: Origin \"%.100s\" is not allowed (start the server with "
                          "--allow-origin to admit it)",
                          origin);
        return false;
    }
    const char *auth = http_req_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
    if (rq->srv->o->authenticate) {
        const char *bearer = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
        return rq->srv->o->authenticate(rq->srv->o->auth_arg, rq, bearer, token_ok(rq->srv, auth));
    }
    if (!token_ok(rq->srv, auth)) {
        http_answer_error(rq, MHD_HTTP_UNAUTHORIZED,
                          "Unauthorized: send \"Authorization: Bearer TOKEN\" with the token this "
                          "server was started with");
        return false;
    }
    return true;
}

/* ---- routing ---------------------------------------------------------------------- */

static const http_route *route_for(const http_server *srv, const char *path)
{
    for (size_t i = 0; i < srv->nroutes; i++) {
        const http_route *r = &srv->routes[i];
        size_t n = strlen(r->path);
        if (strcmp(path, r->path) == 0 ||
            (r->prefix && strncmp(path, r->path, n) == 0 && path[n] == '/'))
            return r;
    }
    return NULL;
}

static void not_found(http_req *rq)
{
    char paths[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < rq->srv->nroutes && len < sizeof paths; i++) {
        int n = snprintf(paths + len, sizeof paths - len, "%s%s", i ? ", " : "",
                         rq->srv->routes[i].path);
        if (n > 0)
            len += (size_t)n;
    }
    http_answer_error(rq, MHD_HTTP_NOT_FOUND, "Not Found: this server serves %s", paths);
}

pm_code http_server_mount(http_server *srv, const http_route *r, pm_err *err)
{
    if (!r->path || r->path[0] != '/' || !r->handle)
        return pm_err_set(err, PM_ERR_CONFIG,
                          "an HTTP route needs a path that begins with / "
                          "and a handler");
    for (size_t i = 0; i < srv->nroutes; i++)
        if (strcmp(srv->routes[i].path, r->path) == 0)
            return pm_err_set(err, PM_ERR_CONFIG, "HTTP path %s is mounted twice", r->path);
    if (srv->nroutes == MAX_ROUTES)
        return pm_err_set(err, PM_ERR_CONFIG, "more than %d HTTP routes", MAX_ROUTES);
    srv->routes[srv->nroutes++] = *r;
    return PM_OK;
}

/* ---- the header deadline -------------------------------------------------------- */

static time_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static http_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A connection's next request begins to be awaited (waiting) or its
 * headers are in (not waiting). */
static void conn_waiting(http_server *srv, struct MHD_Connection *c, bool waiting)
{
    pthread_mutex_lock(&srv->mu);
    http_conn *hc = conn_of(c);
    if (hc)
        hc->waiting = waiting ? mono_now() : 0;
    pthread_mutex_unlock(&srv->mu);
}

static void connection_cb(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *srv = cls;
    pthread_mutex_lock(&srv->mu);
    http_conn *hc = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        hc = ci ? calloc(1, sizeof *hc) : NULL;
        if (hc) {
            *hc = (http_conn){.next = srv->conns, .fd = ci->connect_fd, .waiting = mono_now()};
            if (srv->conns)
                srv->conns->prev = hc;
            srv->conns = hc;
        }
        *socket_context = hc;
    } else if (hc) {
        if (hc->st)
            hc->st->hc = NULL;
        if (hc->prev)
            hc->prev->next = hc->next;
        else
            srv->conns = hc->next;
        if (hc->next)
            hc->next->prev = hc->prev;
        free(hc);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&srv->mu);
}

/* Tells the streams whose client closed its connection (POLLRDHUP: the
 * peer's FIN) that it is gone: a stream's reader may block long between
 * events, and the connection is otherwise noticed dead only at its next
 * write. srv->mu held. */
static void tell_gone_locked(http_server *srv)
{
    for (http_conn *hc = srv->conns; hc; hc = hc->next) {
        if (!hc->st || hc->st->told || !hc->st->gone)
            continue;
        struct pollfd pfd = {.fd = hc->fd, .events = POLLRDHUP};
        if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            hc->st->told = true;
            hc->st->gone(hc->st->arg);
        }
    }
}

/* Shuts down the connections whose headers are late. shutdown(), unlike
 * close(), is safe on a socket another thread reads: its recv returns and
 * libmicrohttpd closes the connection its own way (the fd stays valid
 * until the closed notification, which takes srv->mu). */
static void cut_late(http_server *srv)
{
    time_t now = mono_now();
    pthread_mutex_lock(&srv->mu);
    tell_gone_locked(srv);
    for (http_conn *hc = srv->conns; hc; hc = hc->next)
        if (hc->waiting && !hc->cut && now - hc->waiting >= HEADER_DEADLINE) {
            hc->cut = true;
            shutdown(hc->fd, SHUT_RDWR);
            pm_debug("http: a connection sent no complete request head within %d s: closed",
                     HEADER_DEADLINE);
        }
    pthread_mutex_unlock(&srv->mu);
}

/* ---- requests ------------------------------------------------------------------- */

static bool has_body(const http_req *rq)
{
    const char *cl = http_req_header(rq, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strcmp(cl, "0") != 0) ||
           http_req_header(rq, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* The headers are in: steps 1-4 of server.h. True when the body is to be
 * read. */
static bool begin(http_req *rq)
{
    if (!guard(rq))
        return false;
    rq->route = route_for(rq->srv, rq->path);
    if (!rq->route) {
        not_found(rq);
        return false;
    }
    if (rq->route->headers) {
        rq->route->headers(rq->route->arg, rq);
        if (rq->answered)
            return false;
    }
    const char *cl = http_req_header(rq, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end;
    unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
    if (cl && *cl && !*end && n > rq->route->max_body) {
        http_answer_error(rq, MHD_HTTP_CONTENT_TOO_LARGE,
                          "Payload Too Large: the message is %llu bytes, over the limit of %zu", n,
                          rq->route->max_body);
        return false;
    }
    pm_buf_init(&rq->body, rq->route->max_body);
    return true;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls)
{
    http_server *srv = cls;
    http_req *rq = *req_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *rq = (http_req){.srv = srv, .c = c, .method = method, .path = url};
        *req_cls = rq;
        conn_waiting(srv, c, false);
        /* Without a body, wait for the next call: an answer queued now
         * would close the connection (libmicrohttpd cannot tell that no
         * body follows), and keep-alive is worth keeping. */
        if (!has_body(rq))
            return MHD_YES;
        rq->begun = true;
        return begin(rq) ? MHD_YES : rq->result;
    }
    if (!rq->begun) {
        rq->begun = true;
        if (!begin(rq))
            return rq->result;
    }
    if (rq->answered) { /* refused early: the body is not wanted */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (rq->total + n <= rq->route->max_body)
            pm_buf_append(&rq->body, upload, n, NULL);
        rq->total += n;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->total > rq->route->max_body) {
        http_answer_error(rq, MHD_HTTP_CONTENT_TOO_LARGE,
                          "Payload Too Large: the message is %zu bytes, over the limit of %zu",
                          rq->total, rq->route->max_body);
        return rq->result;
    }
    rq->route->handle(rq->route->arg, rq);
    if (!rq->answered)
        http_answer_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal error: %s %s got no answer",
                          rq->method, rq->path);
    return rq->result;
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_req *rq = *req_cls;
    if (!rq)
        return;
    conn_waiting(rq->srv, c, true);
    pm_buf_free(&rq->body);
    free(rq);
    *req_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = 0;
    pm_debug("http: %s", msg);
}

/* ---- serving -------------------------------------------------------------------- */

static bool is_loopback_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

/* A listening socket on ai's address; *port is its port. -1 (errno set) on
 * failure. */
static int listen_on(const struct addrinfo *ai, int *port)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                           : ((struct sockaddr_in *)&sa)->sin_port);
    return fd;
}

http_server *http_server_new(const http_opts *o)
{
    http_server *srv = calloc(1, sizeof *srv);
    if (srv) {
        srv->o = o;
        pthread_mutex_init(&srv->mu, NULL);
    }
    return srv;
}

void http_server_free(http_server *srv)
{
    if (!srv)
        return;
    for (size_t i = 0; i < srv->nroutes; i++)
        if (srv->routes[i].free)
            srv->routes[i].free(srv->routes[i].arg);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

pm_code http_server_run(http_server *srv, pm_err *err)
{
    const http_opts *o = srv->o;
    const char *host = o->host && *o->host ? o->host : "127.0.0.1";
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV},
                    *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0)
        return pm_err_set(err, PM_ERR_CONFIG, "cannot listen on %s: %s", host, gai_strerror(gai));
    srv->loopback = is_loopback_addr(ai->ai_addr);
    if (!srv->loopback && (!o->token || !*o->token)) {
        freeaddrinfo(ai);
        pm_err_set(err, PM_ERR_CONFIG, "listening on %s, beyond loopback, needs a token", host);
        pm_err_hint(err, "--no-token is for loopback only: drop it, and clients send the token as "
                         "\"Authorization: Bearer TOKEN\"");
        return PM_ERR_CONFIG;
    }
    /* The socket is bound here, so that the port (0: any free one) is known
     * before the first request asks what it is (the Host check). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    int fd = listen_on(ai, &srv->port);
    freeaddrinfo(ai);
    struct MHD_Daemon *d =
        fd < 0 ? NULL
               : MHD_start_daemon(flags, 0, NULL, NULL, access_cb, srv, MHD_OPTION_LISTEN_SOCKET,
                                  fd, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
                                  MHD_OPTION_NOTIFY_CONNECTION, connection_cb, srv,
                                  MHD_OPTION_CONNECTION_LIMIT,
                                  o->max_connections > 0 ? o->max_connections : MAX_CONNECTIONS,
                                  MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                  o->max_per_peer > 0 ? o->max_per_peer : MAX_PER_PEER,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
                                  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_END);
    if (!d) {
        pm_err_set(err, PM_ERR_IO, "cannot listen on %s port %d%s%s", host, o->port,
                   fd < 0 ? ": " : "", fd < 0 ? strerror(errno) : "");
        pm_err_hint(err, "is the port in use? pick another with --listen HOST:PORT (port 0 "
                         "takes any free one)");
        if (fd >= 0)
            close(fd);
        return PM_ERR_IO;
    }
    if (o->ready)
        o->ready(o->ready_arg, host, srv->port);
    while (!(o->stop && *o->stop)) {
        usleep(TICK_MS * 1000);
        cut_late(srv);
        for (size_t i = 0; i < srv->nroutes; i++)
            if (srv->routes[i].tick)
                srv->routes[i].tick(srv->routes[i].arg);
    }
    for (size_t i = 0; i < srv->nroutes; i++)
        if (srv->routes[i].drain)
            srv->routes[i].drain(srv->routes[i].arg);
    MHD_stop_daemon(d);
    return PM_OK;
}
