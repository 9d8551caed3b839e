/* http.c - Streamable HTTP for MCP on libmicrohttpd (http.h says what is
 * answered and how).
 *
 * libmicrohttpd runs one thread per connection, so a response may block:
 * an SSE stream is a queue of events that the connection's thread drains,
 * sleeping on a condition variable until the next event (or 15 s, for a
 * keep-alive comment that also notices a client gone away). A tools/call
 * runs on a thread of its own that fills its stream, so that the call's
 * progress, log messages and the server's own requests (sampling,
 * elicitation) reach the client while it runs, and the client's answers to
 * them arrive as POSTs on other connections.
 *
 * Lifetimes: a session (hsess) is counted (refs) by every request using
 * it, its GET stream and its running calls; DELETE or idleness takes it out
 * of the table, and the last reference frees it. A stream (sse) is counted
 * by its reader and its writer. */
#include "mcp/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "mcp/jsonrpc.h"

#define PATH "/mcp"
#define DEFAULT_SESSIONS 64
#define DEFAULT_IDLE 1800
#define KEEPALIVE_SECONDS 15
#define MAX_CONNECTIONS 512
#define CONNECTION_TIMEOUT 120 /* s without a byte either way; SSE sends keep-alives */
#define MAX_RESPONSE (64u << 20)
#define SESSION_HEADER "Mcp-Session-Id"
#define VERSION_HEADER "MCP-Protocol-Version"

/* ---- SSE streams ------------------------------------------------------------ *
 *
 * A stream keeps its events (with their sequence numbers) so that a client
 * whose connection ended can reconnect with Last-Event-ID and get the rest:
 * a call's stream keeps them all (a call's output is bounded by the call), a
 * session's own stream the last HISTORY. A reader is one connection
 * draining a stream from a position; the stream's writer may end the
 * reader's connection (poll) and go on writing for the next. */

#define HISTORY 256
#define RETRY_MS 1000
#define SHUTDOWN_GRACE 5  /* s for answers to reach their clients at exit */
#define LINGER_SECONDS 60 /* a finished call's stream waits this long for a reconnect */

typedef struct ev {
    struct ev *next;
    uint64_t seq;
    size_t len;
    char text[]; /* "id: ...\nevent: message\ndata: ...\n\n" */
} ev;

typedef struct hsess hsess;

typedef struct sse {
    struct sse *next, *prev; /* the server's list (for shutdown, resumption) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ev *head, *tail;
    size_t nev;
    bool keep_all;  /* a call's stream: every event stays for a reconnect */
    bool done;      /* the writer is finished: a reader ends once it has all */
    uint64_t cut;   /* events up to this one end the current connection (poll) */
    int cut_retry;  /* the retry field sent with the cut, in ms */
    uint64_t gen;   /* bumped by each cut: older readers end */
    uint64_t sent;  /* the last event a reader sent whole */
    int refs;       /* under the server's mu */
    bool lingering; /* under the server's mu: kept for a reconnect */
    time_t linger_until;
    char sid[65]; /* whose stream it is (its session's id, for resumption) */
    char id[24];  /* stream id, the prefix of its event ids */
    uint64_t seq; /* events so far */
} sse;

struct hsess {
    struct hsess *next;
    char id[65];
    mcp_session *ss;
    int refs; /* under the server's mu */
    time_t last;
    bool ended;
    sse *get; /* the standalone stream, or NULL */
};

typedef struct hsrv {
    mcp_server *s;
    const mcp_http_opts *o;
    size_t max_body;
    size_t max_sessions;
    int idle;
    int port;
    bool loopback;
    pthread_mutex_t mu; /* sessions, streams, refs, workers */
    pthread_cond_t cv;  /* workers finishing */
    hsess *sessions;
    size_t nsessions;
    sse *streams;
    int workers;
    uint64_t next_stream;
    bool stopping;
} hsrv;

static sse *sse_new(hsrv *h, hsess *hs, int refs, bool keep_all)
{
    sse *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->keep_all = keep_all;
    snprintf(st->sid, sizeof st->sid, "%s", hs->id);
    pthread_mutex_lock(&h->mu);
    st->refs = refs;
    snprintf(st->id, sizeof st->id, "s%llu", (unsigned long long)++h->next_stream);
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    if (h->stopping)
        st->done = true;
    pthread_mutex_unlock(&h->mu);
    return st;
}

static void sse_unref(hsrv *h, sse *st)
{
    pthread_mutex_lock(&h->mu);
    bool last = --st->refs == 0;
    if (last) {
        if (st->prev)
            st->prev->next = st->next;
        else
            h->streams = st->next;
        if (st->next)
            st->next->prev = st->prev;
    }
    pthread_mutex_unlock(&h->mu);
    if (!last)
        return;
    for (ev *e = st->head, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

/* Appends an event: "id: ID-SEQ\n" then body (SEQ is the event's). */
static pm_code sse_event(sse *st, const char *body, size_t len)
{
    ev *e = malloc(sizeof *e + len + 64);
    if (!e)
        return PM_ERR_NOMEM;
    e->next = NULL;
    pthread_mutex_lock(&st->mu);
    if (st->done) {
        pthread_mutex_unlock(&st->mu);
        free(e);
        return PM_ERR_IO;
    }
    e->seq = ++st->seq;
    int n = snprintf(e->text, 64, "id: %s-%llu\n", st->id, (unsigned long long)e->seq);
    memcpy(e->text + n, body, len);
    e->len = (size_t)n + len;
    if (st->tail)
        st->tail->next = e;
    else
        st->head = e;
    st->tail = e;
    st->nev++;
    /* a session's stream keeps a bounded history */
    while (!st->keep_all && st->nev > HISTORY) {
        ev *old = st->head;
        st->head = old->next;
        st->nev--;
        free(old);
    }
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return PM_OK;
}

/* One JSON-RPC message as an SSE event (JSON from jansson holds no raw
 * newline, so one data line carries it). */
static pm_code sse_send(void *arg, const char *msg, size_t len)
{
    pm_buf b;
    pm_buf_init(&b, MAX_RESPONSE + 128);
    pm_code rc = pm_buf_puts(&b, "event: message\ndata: ", NULL);
    if (rc == PM_OK)
        rc = pm_buf_append(&b, msg, len, NULL);
    if (rc == PM_OK)
        rc = pm_buf_puts(&b, "\n\n", NULL);
    if (rc == PM_OK)
        rc = sse_event(arg, b.data, b.len);
    pm_buf_free(&b);
    return rc;
}

/* The priming event of 2025-11-25: an id and empty data, so that a client
 * can reconnect from the very start. */
static void sse_prime(sse *st)
{
    char body[64];
    int n = snprintf(body, sizeof body, "retry: %d\ndata: \n\n", RETRY_MS);
    sse_event(st, body, (size_t)n);
}

/* The writer ends the current connection after what it sent so far. */
static void sse_cut(void *arg, int retry_ms)
{
    sse *st = arg;
    pthread_mutex_lock(&st->mu);
    st->cut = st->seq;
    st->cut_retry = retry_ms > 0 ? retry_ms : RETRY_MS;
    st->gen++;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static void sse_finish(sse *st)
{
    pthread_mutex_lock(&st->mu);
    st->done = true;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

typedef struct reader {
    hsrv *h;
    sse *st;
    hsess *hs;     /* a GET stream's session (its reference, given back at the end) */
    bool own;      /* the session's standalone stream: let go of it at the end */
    uint64_t next; /* the next event to send */
    size_t off;    /* bytes of it already sent */
    uint64_t gen;  /* the stream's cut generation this connection belongs to */
    bool ending;   /* the retry field went out: end */
} reader;

static ssize_t copy_out(char *buf, size_t max, const char *text, size_t len, size_t *off)
{
    size_t take = len - *off < max ? len - *off : max;
    memcpy(buf, text + *off, take);
    *off += take;
    return (ssize_t)take;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    reader *rd = cls;
    sse *st = rd->st;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (rd->ending) {
            pthread_mutex_unlock(&st->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        ev *e = st->head;
        while (e && e->seq < rd->next)
            e = e->next;
        bool cut = rd->gen != st->gen && rd->next > st->cut;
        if (e && !(rd->gen != st->gen && e->seq > st->cut)) {
            ssize_t n = copy_out(buf, max, e->text, e->len, &rd->off);
            if (rd->off == e->len) {
                rd->next = e->seq + 1;
                rd->off = 0;
                if (e->seq > st->sent)
                    st->sent = e->seq;
            }
            pthread_mutex_unlock(&st->mu);
            return n;
        }
        if (cut) { /* polled: tell the client when to come back, then end */
            int n = snprintf(buf, max, "retry: %d\n\n", st->cut_retry);
            rd->ending = true;
            pthread_mutex_unlock(&st->mu);
            return n > 0 && (size_t)n < max ? n : 0;
        }
        if (st->done) {
            pthread_mutex_unlock(&st->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += KEEPALIVE_SECONDS;
        if (pthread_cond_timedwait(&st->cv, &st->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&st->mu);
            static const char ka[] = ": keep-alive\n\n";
            size_t n = sizeof ka - 1 < max ? sizeof ka - 1 : max;
            memcpy(buf, ka, n);
            return (ssize_t)n;
        }
    }
}

static void hsess_unref(hsrv *h, hsess *hs);

static void sse_reader_free(void *cls)
{
    reader *rd = cls;
    sse *st = rd->st;
    /* a finished call kept for a reconnect: this reader delivered it */
    pthread_mutex_lock(&st->mu);
    bool delivered = st->done && st->sent >= st->seq;
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&rd->h->mu);
    bool release = delivered && st->lingering;
    if (release) {
        st->lingering = false;
        st->refs--; /* the call's reference; this reader still holds one */
    }
    pthread_mutex_unlock(&rd->h->mu);
    if (rd->own) {
        hsess *hs = rd->hs;
        bool mine = false;
        pthread_mutex_lock(&rd->h->mu);
        if (hs->get == st) {
            hs->get = NULL;
            mine = true;
        }
        pthread_mutex_unlock(&rd->h->mu);
        if (mine) {
            mcp_session_set_stream(hs->ss, NULL);
            sse_unref(rd->h, st); /* the session's reference */
        }
    }
    if (rd->hs)
        hsess_unref(rd->h, rd->hs);
    sse_unref(rd->h, st);
    free(rd);
}

/* ---- sessions ---------------------------------------------------------------- */

static void hsess_free(hsess *hs)
{
    mcp_session_free(hs->ss);
    free(hs);
}

static void hsess_unref(hsrv *h, hsess *hs)
{
    pthread_mutex_lock(&h->mu);
    hs->last = time(NULL);
    bool last = --hs->refs == 0 && hs->ended;
    pthread_mutex_unlock(&h->mu);
    if (last)
        hsess_free(hs);
}

/* Takes hs out of the table (h->mu held); frees it when nothing uses it. */
static bool hsess_end_locked(hsrv *h, hsess *hs)
{
    for (hsess **pp = &h->sessions; *pp; pp = &(*pp)->next)
        if (*pp == hs) {
            *pp = hs->next;
            h->nsessions--;
            break;
        }
    hs->ended = true;
    mcp_session_cancel_all(hs->ss);
    if (hs->get)
        sse_finish(hs->get);
    return hs->refs == 0;
}

static void reap_idle_locked(hsrv *h, time_t now)
{
    for (hsess *hs = h->sessions, *n; hs; hs = n) {
        n = hs->next;
        if (hs->refs == 0 && now - hs->last > h->idle) {
            pm_info("mcp: session of \"%s\" ended after %d s idle", mcp_session_client_name(hs->ss),
                    h->idle);
            if (hsess_end_locked(h, hs))
                hsess_free(hs);
        }
    }
}

/* Lets go of finished calls' streams that were delivered since, or waited
 * long enough (all of them when force). */
static void reap_streams(hsrv *h, time_t now, bool force)
{
    sse *done[256];
    size_t n = 0;
again:
    n = 0;
    pthread_mutex_lock(&h->mu);
    for (sse *st = h->streams; st && n < sizeof done / sizeof done[0]; st = st->next) {
        if (!st->lingering)
            continue;
        pthread_mutex_lock(&st->mu);
        bool delivered = st->sent >= st->seq;
        pthread_mutex_unlock(&st->mu);
        if (force || delivered || now > st->linger_until) {
            st->lingering = false;
            done[n++] = st;
        }
    }
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < n; i++)
        sse_unref(h, done[i]);
    if (n == sizeof done / sizeof done[0])
        goto again;
}

/* Whether every call's stream has reached its readers (shutting down). */
static bool calls_delivered(hsrv *h)
{
    bool all = true;
    pthread_mutex_lock(&h->mu);
    for (sse *st = h->streams; st && all; st = st->next) {
        pthread_mutex_lock(&st->mu);
        all = !st->keep_all || st->sent >= st->seq;
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return all;
}

static hsess *hsess_find(hsrv *h, const char *id)
{
    pthread_mutex_lock(&h->mu);
    hsess *hs = h->sessions;
    while (hs && strcmp(hs->id, id) != 0)
        hs = hs->next;
    if (hs) {
        hs->refs++;
        hs->last = time(NULL);
    }
    pthread_mutex_unlock(&h->mu);
    return hs;
}

static bool random_id(char *out, size_t n)
{
    unsigned char b[32];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    for (size_t i = 0; i < sizeof b && 2 * i + 2 < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return true;
}

/* ---- responses ------------------------------------------------------------------ */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, size_t len, const char *sid)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (sid)
        MHD_add_response_header(r, SESSION_HEADER, sid);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST, DELETE");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mcp\"");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* An HTTP error with a JSON-RPC error body (id null). */
static enum MHD_Result fail(struct MHD_Connection *c, unsigned status, int code, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result fail(struct MHD_Connection *c, unsigned status, int code, const char *fmt,
                            ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pm_buf b;
    pm_buf_init(&b, 4096);
    jsonrpc_id null_id = {0};
    jsonrpc_write_error(&b, null_id, code, msg, NULL, NULL);
    pm_debug("mcp: http %u: %s", status, msg);
    enum MHD_Result r = queue(c, status, "application/json", b.data ? b.data : "", b.len, NULL);
    pm_buf_free(&b);
    return r;
}

/* ---- checks ------------------------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

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
static bool host_ok(const hsrv *h, const char *v)
{
    if (!h->loopback)
        return true;
    size_t hn;
    long port;
    if (!v || !split_host(v, &hn, &port))
        return false;
    if (port != -1 && port != h->port)
        return false;
    return is_loopback_name(v, hn);
}

static bool origin_ok(const hsrv *h, const char *v)
{
    for (const char **o = h->o->origins; o && *o; o++)
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

static bool token_ok(const hsrv *h, const char *auth)
{
    const char *tok = h->o->token;
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

/* Whether the Accept header admits type (a wildcard such as text/any counts). */
static bool accepts(const char *accept, const char *type)
{
    if (!accept)
        return false;
    if (strstr(accept, type) || strstr(accept, "*/*"))
        return true;
    char family[32];
    const char *slash = strchr(type, '/');
    snprintf(family, sizeof family, "%.*s/*", (int)(slash - type), type);
    return strstr(accept, family) != NULL;
}

static bool known_version(const char *v)
{
    static const char *const versions[] = MCP_PROTOCOL_VERSIONS;
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(v, versions[i]) == 0)
            return true;
    return false;
}

/* ---- requests ------------------------------------------------------------------ */

typedef struct req {
    pm_buf body;
    size_t total; /* bytes received, kept or not */
} req;

typedef struct call_job {
    hsrv *h;
    hsess *hs;
    mcp_job *job;
    sse *st;
} call_job;

static void *run_call(void *arg)
{
    call_job *cj = arg;
    hsrv *h = cj->h;
    mcp_out o = {sse_send, cj->st, sse_cut};
    pm_buf out;
    pm_buf_init(&out, MAX_RESPONSE);
    if (mcp_job_run(cj->job, &o, &out) != PM_OK)
        pm_error("mcp: cannot build a response");
    if (out.len)
        sse_send(cj->st, out.data, out.len);
    pm_buf_free(&out);
    sse_finish(cj->st);
    mcp_job_free(cj->job);
    /* a client whose connection dropped may come back for the answer */
    pthread_mutex_lock(&cj->st->mu);
    bool delivered = cj->st->sent >= cj->st->seq;
    pthread_mutex_unlock(&cj->st->mu);
    if (delivered) {
        sse_unref(h, cj->st);
    } else {
        pthread_mutex_lock(&h->mu);
        cj->st->lingering = true;
        cj->st->linger_until = time(NULL) + LINGER_SECONDS;
        pthread_mutex_unlock(&h->mu);
    }
    hsess_unref(h, cj->hs);
    free(cj);
    pthread_mutex_lock(&h->mu);
    h->workers--;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Answers with the stream from event next on; hs (may be NULL) is the
 * reference the reader holds, own whether it is the session's stream. */
static enum MHD_Result sse_response(hsrv *h, struct MHD_Connection *c, sse *st, hsess *hs, bool own,
                                    uint64_t next)
{
    reader *rd = calloc(1, sizeof *rd);
    if (!rd)
        return MHD_NO;
    pthread_mutex_lock(&st->mu);
    uint64_t gen = st->gen;
    pthread_mutex_unlock(&st->mu);
    *rd = (reader){.h = h, .st = st, .hs = hs, .own = own, .next = next, .gen = gen};
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, rd, sse_reader_free);
    if (!r) {
        sse_reader_free(rd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* Clients of 2025-11-25 know the priming event; older ones may not. */
static bool primes(const hsess *hs)
{
    const char *p = mcp_session_protocol(hs->ss);
    return p && strcmp(p, "2025-11-25") >= 0;
}

/* Runs the job here and answers with its JSON (400 for an invalid message,
 * 202 when a cancelled request leaves nothing to say). */
static enum MHD_Result run_json(struct MHD_Connection *c, mcp_job *j, const char *sid)
{
    pm_buf out;
    pm_buf_init(&out, MAX_RESPONSE);
    bool invalid = mcp_job_invalid(j);
    pm_code rc = mcp_job_run(j, NULL, &out);
    /* an error that could name no request (a batch this revision refuses)
     * is a message the server cannot accept */
    static const char unread[] = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\"";
    if (out.len >= sizeof unread - 1 && memcmp(out.data, unread, sizeof unread - 1) == 0)
        invalid = true;
    enum MHD_Result r;
    if (rc != PM_OK)
        r = fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, JSONRPC_INTERNAL_ERROR,
                 "Internal error: cannot build the response");
    else if (!out.len)
        r = queue(c, MHD_HTTP_ACCEPTED, NULL, "", 0, NULL);
    else
        r = queue(c, invalid ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_OK, "application/json", out.data,
                  out.len, sid);
    pm_buf_free(&out);
    return r;
}

static enum MHD_Result sessions_full(const hsrv *h, struct MHD_Connection *c)
{
    return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, JSONRPC_INTERNAL_ERROR,
                "Service Unavailable: %zu sessions are open, the most this server keeps; end one "
                "(DELETE) or wait for idle ones to expire",
                h->max_sessions);
}

static enum MHD_Result post_new_session(hsrv *h, struct MHD_Connection *c, req *rq)
{
    mcp_session *ss = mcp_session_new(h->s);
    if (!ss)
        return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, JSONRPC_INTERNAL_ERROR, "out of memory");
    mcp_job *j = mcp_session_accept(ss, rq->body.data ? rq->body.data : "", rq->body.len);
    const char *m = j ? mcp_job_method(j) : NULL;
    if (!m || strcmp(m, "initialize") != 0) {
        enum MHD_Result r;
        if (j && mcp_job_invalid(j))
            r = run_json(c, j, NULL);
        else
            r = fail(c, MHD_HTTP_BAD_REQUEST, JSONRPC_INVALID_REQUEST,
                     "Bad Request: no " SESSION_HEADER " header; start a session with an "
                     "initialize request, then send its " SESSION_HEADER " with every request");
        mcp_job_free(j);
        mcp_session_free(ss);
        return r;
    }
    pthread_mutex_lock(&h->mu);
    reap_idle_locked(h, time(NULL));
    bool full = h->nsessions >= h->max_sessions;
    pthread_mutex_unlock(&h->mu);
    if (full) {
        mcp_job_free(j);
        mcp_session_free(ss);
        return sessions_full(h, c);
    }
    hsess *hs = calloc(1, sizeof *hs);
    if (!hs || !random_id(hs->id, sizeof hs->id)) {
        free(hs);
        mcp_job_free(j);
        mcp_session_free(ss);
        return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, JSONRPC_INTERNAL_ERROR,
                    "cannot make a session id");
    }
    hs->ss = ss;
    hs->last = time(NULL);
    pm_buf out;
    pm_buf_init(&out, MAX_RESPONSE);
    pm_code rc = mcp_job_run(j, NULL, &out);
    mcp_job_free(j);
    if (rc != PM_OK || !mcp_session_protocol(ss)) { /* initialize failed: no session */
        enum MHD_Result r = queue(c, MHD_HTTP_BAD_REQUEST, "application/json",
                                  out.data ? out.data : "", out.len, NULL);
        pm_buf_free(&out);
        hsess_free(hs);
        return r;
    }
    pthread_mutex_lock(&h->mu);
    full = h->nsessions >= h->max_sessions; /* another initialize came first */
    if (!full) {
        hs->next = h->sessions;
        h->sessions = hs;
        h->nsessions++;
    }
    pthread_mutex_unlock(&h->mu);
    if (full) {
        pm_buf_free(&out);
        hsess_free(hs);
        return sessions_full(h, c);
    }
    enum MHD_Result r = queue(c, MHD_HTTP_OK, "application/json", out.data, out.len, hs->id);
    pm_buf_free(&out);
    return r;
}

static enum MHD_Result post(hsrv *h, struct MHD_Connection *c, req *rq, hsess *hs)
{
    mcp_job *j = mcp_session_accept(hs->ss, rq->body.data ? rq->body.data : "", rq->body.len);
    if (!j)
        return queue(c, MHD_HTTP_ACCEPTED, NULL, "", 0, NULL);
    const char *m = mcp_job_method(j);
    if (!m || strcmp(m, "tools/call") != 0) {
        enum MHD_Result r = run_json(c, j, NULL);
        mcp_job_free(j);
        return r;
    }
    sse *st = sse_new(h, hs, 2, true); /* the reader's and the call's */
    call_job *cj = calloc(1, sizeof *cj);
    if (!st || !cj) {
        free(cj);
        if (st) {
            sse_unref(h, st);
            sse_unref(h, st);
        }
        mcp_job_free(j);
        return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, JSONRPC_INTERNAL_ERROR, "out of memory");
    }
    pthread_mutex_lock(&h->mu);
    hs->refs++; /* the call's */
    h->workers++;
    pthread_mutex_unlock(&h->mu);
    *cj = (call_job){h, hs, j, st};
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, run_call, cj) != 0) {
        pthread_attr_destroy(&attr);
        pthread_mutex_lock(&h->mu);
        hs->refs--;
        h->workers--;
        pthread_mutex_unlock(&h->mu);
        free(cj);
        sse_unref(h, st);
        sse_unref(h, st);
        mcp_job_free(j);
        return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, JSONRPC_INTERNAL_ERROR,
                    "cannot start a thread for the call");
    }
    pthread_attr_destroy(&attr);
    if (primes(hs))
        sse_prime(st);
    return sse_response(h, c, st, NULL, false, 1);
}

/* "sN-M" of a stream of this session: the stream (a reference taken) and
 * M; NULL when there is none such. */
static sse *find_stream(hsrv *h, hsess *hs, const char *last, uint64_t *seq)
{
    const char *dash = last ? strrchr(last, '-') : NULL;
    if (!dash)
        return NULL;
    char *end;
    unsigned long long m = strtoull(dash + 1, &end, 10);
    if (*end || dash[1] == 0)
        return NULL;
    pthread_mutex_lock(&h->mu);
    sse *st = h->streams;
    while (st && !(strcmp(st->sid, hs->id) == 0 && strlen(st->id) == (size_t)(dash - last) &&
                   strncmp(st->id, last, (size_t)(dash - last)) == 0))
        st = st->next;
    if (st)
        st->refs++;
    pthread_mutex_unlock(&h->mu);
    *seq = m;
    return st;
}

static enum MHD_Result get_stream(hsrv *h, struct MHD_Connection *c, hsess *hs)
{
    /* a client reconnecting: the rest of the stream it was reading */
    uint64_t seq = 0;
    sse *old = find_stream(h, hs, header(c, "Last-Event-ID"), &seq);
    if (old) {
        pthread_mutex_lock(&h->mu);
        hs->refs++; /* the reader's */
        pthread_mutex_unlock(&h->mu);
        return sse_response(h, c, old, hs, false, seq + 1);
    }
    pthread_mutex_lock(&h->mu);
    bool busy = hs->get != NULL;
    pthread_mutex_unlock(&h->mu);
    if (busy)
        return fail(c, MHD_HTTP_CONFLICT, JSONRPC_INVALID_REQUEST,
                    "Conflict: this session already has its SSE stream open (one GET stream per "
                    "session)");
    sse *st = sse_new(h, hs, 2, false); /* the reader's and the session's */
    if (!st)
        return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, JSONRPC_INTERNAL_ERROR, "out of memory");
    pthread_mutex_lock(&h->mu);
    hs->get = st;
    hs->refs++; /* the reader's, given back by sse_reader_free */
    pthread_mutex_unlock(&h->mu);
    mcp_out o = {sse_send, st, NULL};
    mcp_session_set_stream(hs->ss, &o);
    if (primes(hs))
        sse_prime(st);
    return sse_response(h, c, st, hs, true, 1);
}

static enum MHD_Result delete_session(hsrv *h, struct MHD_Connection *c, hsess *hs)
{
    pm_info("mcp: session of \"%s\" ended by the client", mcp_session_client_name(hs->ss));
    pthread_mutex_lock(&h->mu);
    hsess_end_locked(h, hs);
    pthread_mutex_unlock(&h->mu);
    return queue(c, MHD_HTTP_OK, NULL, "", 0, NULL);
}

static enum MHD_Result handle(hsrv *h, struct MHD_Connection *c, const char *url,
                              const char *method, req *rq)
{
    const char *host = header(c, MHD_HTTP_HEADER_HOST);
    if (!host_ok(h, host))
        return fail(c, MHD_HTTP_FORBIDDEN, JSONRPC_INVALID_REQUEST,
                    "Forbidden: Host \"%.100s\" is not this server's (DNS rebinding protection)",
                    host ? host : "");
    const char *origin = header(c, MHD_HTTP_HEADER_ORIGIN);
    if (origin && !origin_ok(h, origin))
        return fail(c, MHD_HTTP_FORBIDDEN, JSONRPC_INVALID_REQUEST,
                    "Forbidden: Origin \"%.100s\" is not allowed (start the server with "
                    "--allow-origin to admit it)",
                    origin);
    if (!token_ok(h, header(c, MHD_HTTP_HEADER_AUTHORIZATION)))
        return fail(c, MHD_HTTP_UNAUTHORIZED, JSONRPC_INVALID_REQUEST,
                    "Unauthorized: send \"Authorization: Bearer TOKEN\" with the token this "
                    "server was started with");
    if (strcmp(url, PATH) != 0)
        return fail(c, MHD_HTTP_NOT_FOUND, JSONRPC_INVALID_REQUEST,
                    "Not Found: the MCP endpoint is " PATH);
    bool is_post = strcmp(method, "POST") == 0, is_get = strcmp(method, "GET") == 0;
    if (!is_post && !is_get && strcmp(method, "DELETE") != 0)
        return fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, JSONRPC_INVALID_REQUEST,
                    "Method Not Allowed: " PATH " takes POST, GET and DELETE");
    const char *accept = header(c, MHD_HTTP_HEADER_ACCEPT);
    if (is_post) {
        const char *type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!type || strncasecmp(type, "application/json", 16) != 0 ||
            (type[16] && type[16] != ';' && type[16] != ' '))
            return fail(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, JSONRPC_INVALID_REQUEST,
                        "Unsupported Media Type: POST a JSON-RPC message as application/json");
        if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream"))
            return fail(c, MHD_HTTP_NOT_ACCEPTABLE, JSONRPC_INVALID_REQUEST,
                        "Not Acceptable: send \"Accept: application/json, text/event-stream\"");
        if (rq->total > h->max_body)
            return fail(c, MHD_HTTP_CONTENT_TOO_LARGE, JSONRPC_INVALID_REQUEST,
                        "Payload Too Large: the message is %zu bytes, over the limit of %zu",
                        rq->total, h->max_body);
    } else if (is_get && !accepts(accept, "text/event-stream")) {
        return fail(c, MHD_HTTP_NOT_ACCEPTABLE, JSONRPC_INVALID_REQUEST,
                    "Not Acceptable: a GET opens an SSE stream; send \"Accept: "
                    "text/event-stream\"");
    }
    const char *version = header(c, VERSION_HEADER);
    if (version && !known_version(version))
        return fail(c, MHD_HTTP_BAD_REQUEST, JSONRPC_INVALID_REQUEST,
                    "Bad Request: unsupported " VERSION_HEADER " \"%.40s\" (this server speaks "
                    "2025-11-25, 2025-06-18 and 2025-03-26)",
                    version);
    const char *sid = header(c, SESSION_HEADER);
    if (!sid) {
        if (is_post)
            return post_new_session(h, c, rq);
        return fail(c, MHD_HTTP_BAD_REQUEST, JSONRPC_INVALID_REQUEST,
                    "Bad Request: no " SESSION_HEADER " header (initialize first)");
    }
    hsess *hs = hsess_find(h, sid);
    if (!hs)
        return fail(c, MHD_HTTP_NOT_FOUND, JSONRPC_INVALID_REQUEST,
                    "Not Found: no session \"%.80s\" (it ended or never was); initialize a new "
                    "one",
                    sid);
    enum MHD_Result r;
    if (is_post)
        r = post(h, c, rq, hs);
    else if (is_get)
        r = get_stream(h, c, hs);
    else
        r = delete_session(h, c, hs);
    hsess_unref(h, hs);
    return r;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls)
{
    hsrv *h = cls;
    req *rq = *req_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        pm_buf_init(&rq->body, h->max_body);
        *req_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (rq->total + n <= h->max_body)
            pm_buf_append(&rq->body, upload, n, NULL);
        rq->total += n;
        *upload_size = 0;
        return MHD_YES;
    }
    return handle(h, c, url, method, rq);
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req *rq = *req_cls;
    if (!rq)
        return;
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
    pm_debug("mcp: http: %s", msg);
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

pm_code mcp_http_serve(mcp_server *s, const mcp_http_opts *o, pm_err *err)
{
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
    hsrv h = {.s = s, .o = o, .loopback = is_loopback_addr(ai->ai_addr)};
    if (!h.loopback && (!o->token || !*o->token)) {
        freeaddrinfo(ai);
        pm_err_set(err, PM_ERR_CONFIG, "listening on %s, beyond loopback, needs a token", host);
        pm_err_hint(err, "set PIPEMEND_MCP_TOKEN (or --token-file FILE) to a long random secret; "
                         "clients send it as \"Authorization: Bearer TOKEN\"");
        return PM_ERR_CONFIG;
    }
    h.max_body = o->max_body ? o->max_body : mcp_server_max_message(s);
    h.max_sessions = o->max_sessions ? o->max_sessions : DEFAULT_SESSIONS;
    h.idle = o->idle_seconds > 0 ? o->idle_seconds : DEFAULT_IDLE;
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    /* The socket is bound here, so that the port (0: any free one) is known
     * before the first request asks what it is (the Host check). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    pm_code rc = PM_OK;
    int fd = listen_on(ai, &h.port);
    freeaddrinfo(ai);
    struct MHD_Daemon *d =
        fd < 0 ? NULL
               : MHD_start_daemon(flags, 0, NULL, NULL, access_cb, &h, MHD_OPTION_LISTEN_SOCKET, fd,
                                  MHD_OPTION_NOTIFY_COMPLETED, completed_cb, &h,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
                                  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &h, MHD_OPTION_END);
    if (!d) {
        rc = pm_err_set(err, PM_ERR_IO, "cannot listen on %s port %d%s%s", host, o->port,
                        fd < 0 ? ": " : "", fd < 0 ? strerror(errno) : "");
        pm_err_hint(err, "is the port in use? pick another with --listen HOST:PORT (port 0 "
                         "takes any free one)");
        if (fd >= 0)
            close(fd);
        goto out;
    }
    if (o->ready)
        o->ready(o->ready_arg, host, h.port);
    while (!(o->stop && *o->stop)) {
        usleep(100 * 1000);
        pthread_mutex_lock(&h.mu);
        reap_idle_locked(&h, time(NULL));
        pthread_mutex_unlock(&h.mu);
        reap_streams(&h, time(NULL), false);
    }
    /* Shutting down: sessions close (calls waiting on a client give up, long
     * ones stop at their next check), running calls finish and their answers
     * go out (for up to SHUTDOWN_GRACE s), then every stream ends and the
     * daemon stops. */
    pthread_mutex_lock(&h.mu);
    h.stopping = true;
    for (hsess *hs = h.sessions; hs; hs = hs->next)
        mcp_session_cancel_all(hs->ss);
    while (h.workers)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    for (int i = 0; i < SHUTDOWN_GRACE * 20 && !calls_delivered(&h); i++)
        usleep(50 * 1000);
    pthread_mutex_lock(&h.mu);
    for (sse *st = h.streams; st; st = st->next)
        sse_finish(st);
    pthread_mutex_unlock(&h.mu);
    MHD_stop_daemon(d);
    reap_streams(&h, time(NULL), true);
    pthread_mutex_lock(&h.mu);
    while (h.sessions) {
        hsess *hs = h.sessions;
        if (hsess_end_locked(&h, hs))
            hsess_free(hs);
    }
    pthread_mutex_unlock(&h.mu);
out:
    pthread_mutex_destroy(&h.mu);
    pthread_cond_destroy(&h.cv);
    return rc;
}
