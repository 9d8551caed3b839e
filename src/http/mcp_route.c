/* mcp_route.c - MCP's Streamable HTTP transport, mounted on the HTTP
 * server at /mcp (mcp_route.h says what is answered and how; server.c has
 * already checked Host, Origin and the token, and collected the body).
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
 * by its reader and its writer. The route's state (hsrv) lives from
 * http_mcp_mount to the server's free. */
#include "http/mcp_route.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define DEFAULT_SESSIONS 64
#define DEFAULT_IDLE 1800
#define KEEPALIVE_SECONDS 15
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
/* A running call whose client read its stream and went away without
 * coming back (a reconnect with Last-Event-ID comes after RETRY_MS) for
 * this long is cancelled: nobody waits for its answer, and its work and
 * worker should not outlive the client. */
#define ORPHAN_SECONDS 5

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
    mcp_job *job;    /* under the server's mu: the call writing it, while it runs */
    int readers;     /* under the server's mu: connections reading it */
    time_t orphaned; /* under the server's mu: when its last reader left, job running */
    char sid[65];    /* whose stream it is (its session's id, for resumption) */
    char id[24];     /* stream id, the prefix of its event ids */
    uint64_t seq;    /* events so far */
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
    size_t max_sessions;
    int idle;
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
    bool gone;     /* under st->mu: the client closed the connection */
} reader;

static ssize_t copy_out(char *buf, size_t max, const char *text, size_t len, size_t *off)
{
    size_t take = len - *off < max ? len - *off : max;
    memcpy(buf, text + *off, take);
    *off += take;
    return (ssize_t)take;
}

static ssize_t sse_read(void *cls, char *buf, size_t max)
{
    reader *rd = cls;
    sse *st = rd->st;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (rd->gone) {
            pthread_mutex_unlock(&st->mu);
            return HTTP_STREAM_ERROR;
        }
        if (rd->ending) {
            pthread_mutex_unlock(&st->mu);
            return HTTP_STREAM_END;
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
            return HTTP_STREAM_END;
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

/* The client closed the connection: the read waiting for an event ends it
 * now, rather than at its next keep-alive, so that a call nobody reads is
 * seen orphaned (cancel_orphans_locked) in seconds. */
static void sse_reader_gone(void *cls)
{
    reader *rd = cls;
    pthread_mutex_lock(&rd->st->mu);
    rd->gone = true;
    pthread_cond_broadcast(&rd->st->cv);
    pthread_mutex_unlock(&rd->st->mu);
}

static void sse_reader_free(void *cls)
{
    reader *rd = cls;
    sse *st = rd->st;
    /* a finished call kept for a reconnect: this reader delivered it */
    pthread_mutex_lock(&st->mu);
    bool delivered = st->done && st->sent >= st->seq;
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&rd->h->mu);
    if (--st->readers == 0 && st->job)
        st->orphaned = time(NULL);
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

/* ---- checks ------------------------------------------------------------------- */

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
    pthread_mutex_lock(&h->mu);
    cj->st->job = NULL;
    pthread_mutex_unlock(&h->mu);
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
static void sse_response(hsrv *h, http_req *rq, sse *st, hsess *hs, bool own, uint64_t next)
{
    reader *rd = calloc(1, sizeof *rd);
    if (!rd) {
        http_answer_error(rq, 503, "out of memory");
        return;
    }
    pthread_mutex_lock(&st->mu);
    uint64_t gen = st->gen;
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&h->mu);
    st->readers++;
    st->orphaned = 0;
    pthread_mutex_unlock(&h->mu);
    *rd = (reader){.h = h, .st = st, .hs = hs, .own = own, .next = next, .gen = gen};
    http_add_header(rq, "Cache-Control", "no-cache");
    http_answer_stream(rq, 200, "text/event-stream", sse_read, sse_reader_free, sse_reader_gone,
                       rd);
}

/* Clients of 2025-11-25 know the priming event; older ones may not. */
static bool primes(const hsess *hs)
{
    const char *p = mcp_session_protocol(hs->ss);
    return p && strcmp(p, "2025-11-25") >= 0;
}

/* Runs the job here and answers with its JSON (400 for an invalid message,
 * 202 when a cancelled request leaves nothing to say). */
static void run_json(http_req *rq, mcp_job *j)
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
    if (rc != PM_OK)
        http_answer_error(rq, 500, "Internal error: cannot build the response");
    else if (!out.len)
        http_answer(rq, 202, NULL, "", 0);
    else
        http_answer(rq, invalid ? 400 : 200, "application/json", out.data, out.len);
    pm_buf_free(&out);
}

static void sessions_full(const hsrv *h, http_req *rq)
{
    http_answer_error(rq, 503,
                      "Service Unavailable: %zu sessions are open, the most this server keeps; "
                      "end one (DELETE) or wait for idle ones to expire",
                      h->max_sessions);
}

static void post_new_session(hsrv *h, http_req *rq)
{
    mcp_session *ss = mcp_session_new(h->s);
    if (!ss) {
        http_answer_error(rq, 503, "out of memory");
        return;
    }
    size_t len;
    const char *body = http_req_body(rq, &len);
    mcp_job *j = mcp_session_accept(ss, body, len);
    const char *m = j ? mcp_job_method(j) : NULL;
    if (!m || strcmp(m, "initialize") != 0) {
        if (j && mcp_job_invalid(j))
            run_json(rq, j);
        else
            http_answer_error(rq, 400,
                              "Bad Request: no " SESSION_HEADER " header; start a session with an "
                              "initialize request, then send its " SESSION_HEADER
                              " with every request");
        mcp_job_free(j);
        mcp_session_free(ss);
        return;
    }
    pthread_mutex_lock(&h->mu);
    reap_idle_locked(h, time(NULL));
    bool full = h->nsessions >= h->max_sessions;
    pthread_mutex_unlock(&h->mu);
    if (full) {
        mcp_job_free(j);
        mcp_session_free(ss);
        sessions_full(h, rq);
        return;
    }
    hsess *hs = calloc(1, sizeof *hs);
    if (!hs || !random_id(hs->id, sizeof hs->id)) {
        free(hs);
        mcp_job_free(j);
        mcp_session_free(ss);
        http_answer_error(rq, 503, "cannot make a session id");
        return;
    }
    hs->ss = ss;
    hs->last = time(NULL);
    pm_buf out;
    pm_buf_init(&out, MAX_RESPONSE);
    pm_code rc = mcp_job_run(j, NULL, &out);
    mcp_job_free(j);
    if (rc != PM_OK || !mcp_session_protocol(ss)) { /* initialize failed: no session */
        http_answer(rq, 400, "application/json", out.data ? out.data : "", out.len);
        pm_buf_free(&out);
        hsess_free(hs);
        return;
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
        sessions_full(h, rq);
        return;
    }
    http_add_header(rq, SESSION_HEADER, hs->id);
    http_answer(rq, 200, "application/json", out.data, out.len);
    pm_buf_free(&out);
}

static void post(hsrv *h, http_req *rq, hsess *hs)
{
    size_t len;
    const char *body = http_req_body(rq, &len);
    mcp_job *j = mcp_session_accept(hs->ss, body, len);
    if (!j) {
        http_answer(rq, 202, NULL, "", 0);
        return;
    }
    const char *m = mcp_job_method(j);
    if (!m || strcmp(m, "tools/call") != 0) {
        run_json(rq, j);
        mcp_job_free(j);
        return;
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
        http_answer_error(rq, 503, "out of memory");
        return;
    }
    pthread_mutex_lock(&h->mu);
    hs->refs++; /* the call's */
    h->workers++;
    st->job = j;
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
        http_answer_error(rq, 503, "cannot start a thread for the call");
        return;
    }
    pthread_attr_destroy(&attr);
    if (primes(hs))
        sse_prime(st);
    sse_response(h, rq, st, NULL, false, 1);
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

static void get_stream(hsrv *h, http_req *rq, hsess *hs)
{
    /* a client reconnecting: the rest of the stream it was reading */
    uint64_t seq = 0;
    sse *old = find_stream(h, hs, http_req_header(rq, "Last-Event-ID"), &seq);
    if (old) {
        pthread_mutex_lock(&h->mu);
        hs->refs++; /* the reader's */
        pthread_mutex_unlock(&h->mu);
        sse_response(h, rq, old, hs, false, seq + 1);
        return;
    }
    pthread_mutex_lock(&h->mu);
    bool busy = hs->get != NULL;
    pthread_mutex_unlock(&h->mu);
    if (busy) {
        http_answer_error(rq, 409,
                          "Conflict: this session already has its SSE stream open (one GET "
                          "stream per session)");
        return;
    }
    sse *st = sse_new(h, hs, 2, false); /* the reader's and the session's */
    if (!st) {
        http_answer_error(rq, 503, "out of memory");
        return;
    }
    pthread_mutex_lock(&h->mu);
    hs->get = st;
    hs->refs++; /* the reader's, given back by sse_reader_free */
    pthread_mutex_unlock(&h->mu);
    mcp_out o = {sse_send, st, NULL};
    mcp_session_set_stream(hs->ss, &o);
    if (primes(hs))
        sse_prime(st);
    sse_response(h, rq, st, hs, true, 1);
}

static void delete_session(hsrv *h, http_req *rq, hsess *hs)
{
    pm_info("mcp: session of \"%s\" ended by the client", mcp_session_client_name(hs->ss));
    pthread_mutex_lock(&h->mu);
    hsess_end_locked(h, hs);
    pthread_mutex_unlock(&h->mu);
    http_answer(rq, 200, NULL, "", 0);
}

/* ---- the route -------------------------------------------------------------------- */

/* The checks that need only the headers (mcp_route.h's list, before the
 * body's size). */
static void route_headers(void *arg, http_req *rq)
{
    const char *method = http_req_method(rq);
    bool is_post = strcmp(method, "POST") == 0, is_get = strcmp(method, "GET") == 0;
    if (!is_post && !is_get && strcmp(method, "DELETE") != 0) {
        http_add_header(rq, "Allow", "GET, POST, DELETE");
        http_answer_error(rq, 405,
                          "Method Not Allowed: " HTTP_MCP_PATH " takes POST, GET and DELETE");
        return;
    }
    const char *accept = http_req_header(rq, "Accept");
    if (is_post) {
        const char *type = http_req_header(rq, "Content-Type");
        if (!type || strncasecmp(type, "application/json", 16) != 0 ||
            (type[16] && type[16] != ';' && type[16] != ' '))
            http_answer_error(rq, 415,
                              "Unsupported Media Type: POST a JSON-RPC message as "
                              "application/json");
        else if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream"))
            http_answer_error(rq, 406,
                              "Not Acceptable: send \"Accept: application/json, "
                              "text/event-stream\"");
    } else if (is_get && !accepts(accept, "text/event-stream")) {
        http_answer_error(rq, 406,
                          "Not Acceptable: a GET opens an SSE stream; send \"Accept: "
                          "text/event-stream\"");
    }
}

static void route_handle(void *arg, http_req *rq)
{
    hsrv *h = arg;
    const char *method = http_req_method(rq);
    bool is_post = strcmp(method, "POST") == 0, is_get = strcmp(method, "GET") == 0;
    const char *version = http_req_header(rq, VERSION_HEADER);
    if (version && !known_version(version)) {
        http_answer_error(rq, 400,
                          "Bad Request: unsupported " VERSION_HEADER " \"%.40s\" (this server "
                          "speaks 2025-11-25, 2025-06-18 and 2025-03-26)",
                          version);
        return;
    }
    const char *sid = http_req_header(rq, SESSION_HEADER);
    if (!sid) {
        if (is_post)
            post_new_session(h, rq);
        else
            http_answer_error(rq, 400,
                              "Bad Request: no " SESSION_HEADER " header (initialize first)");
        return;
    }
    hsess *hs = hsess_find(h, sid);
    if (!hs) {
        http_answer_error(rq, 404,
                          "Not Found: no session \"%.80s\" (it ended or never was); initialize a "
                          "new one",
                          sid);
        return;
    }
    if (is_post)
        post(h, rq, hs);
    else if (is_get)
        get_stream(h, rq, hs);
    else
        delete_session(h, rq, hs);
    hsess_unref(h, hs);
}

/* Cancels the running calls nobody has read for ORPHAN_SECONDS (h->mu
 * held; lock order: the server's mu, then a session's). */
static void cancel_orphans_locked(hsrv *h, time_t now)
{
    for (sse *st = h->streams; st; st = st->next) {
        if (!st->job || st->readers || !st->orphaned)
            continue;
        /* a stream the call cut (SSE polling) is owed its retry interval */
        pthread_mutex_lock(&st->mu);
        int retry = st->gen ? st->cut_retry / 1000 + 1 : 0;
        pthread_mutex_unlock(&st->mu);
        if (now - st->orphaned >= ORPHAN_SECONDS + retry) {
            st->orphaned = 0;
            pm_info("mcp: a call's client went away %d s ago without coming back for its "
                    "answer: the call is cancelled",
                    ORPHAN_SECONDS);
            mcp_job_cancel(st->job);
        }
    }
}

static void route_tick(void *arg)
{
    hsrv *h = arg;
    pthread_mutex_lock(&h->mu);
    reap_idle_locked(h, time(NULL));
    cancel_orphans_locked(h, time(NULL));
    pthread_mutex_unlock(&h->mu);
    reap_streams(h, time(NULL), false);
}

/* Serving stops: sessions close (calls waiting on a client give up, long
 * ones stop at their next check), running calls finish and their answers
 * go out (for up to SHUTDOWN_GRACE s), then every stream ends, so that
 * the connections reading them can close. */
static void route_drain(void *arg)
{
    hsrv *h = arg;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    for (hsess *hs = h->sessions; hs; hs = hs->next)
        mcp_session_cancel_all(hs->ss);
    while (h->workers)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    for (int i = 0; i < SHUTDOWN_GRACE * 20 && !calls_delivered(h); i++)
        usleep(50 * 1000);
    pthread_mutex_lock(&h->mu);
    for (sse *st = h->streams; st; st = st->next)
        sse_finish(st);
    pthread_mutex_unlock(&h->mu);
}

/* The connections are closed: what is left goes. */
static void route_free(void *arg)
{
    hsrv *h = arg;
    reap_streams(h, time(NULL), true);
    pthread_mutex_lock(&h->mu);
    while (h->sessions) {
        hsess *hs = h->sessions;
        if (hsess_end_locked(h, hs))
            hsess_free(hs);
    }
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

pm_code http_mcp_mount(http_server *srv, mcp_server *s, const http_mcp_opts *o, pm_err *err)
{
    static const http_mcp_opts defaults = {0};
    if (!o)
        o = &defaults;
    hsrv *h = calloc(1, sizeof *h);
    if (!h)
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    h->s = s;
    h->max_sessions = o->max_sessions ? o->max_sessions : DEFAULT_SESSIONS;
    h->idle = o->idle_seconds > 0 ? o->idle_seconds : DEFAULT_IDLE;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    http_route r = {.path = HTTP_MCP_PATH,
                    .max_body = o->max_body ? o->max_body : mcp_server_max_message(s),
                    .headers = route_headers,
                    .handle = route_handle,
                    .tick = route_tick,
                    .drain = route_drain,
                    .free = route_free,
                    .arg = h};
    pm_code rc = http_server_mount(srv, &r, err);
    if (rc != PM_OK)
        route_free(h);
    return rc;
}
