/* session.c - one client's session: accepting its messages, running the
 * jobs that answer them (one request, or a batch under 2025-03-26), and
 * what a handler sends the client on the way (progress, log messages, the
 * server's own requests, whose answers arrive as messages to accept while
 * the handler waits). mcp.h says what a transport does with these.
 *
 * Threads: a transport may accept on one thread while jobs run on others.
 * The session's mutex guards its state; a handler waiting for the client
 * sleeps on the session's condition variable, which answers, cancellations
 * and closing all signal. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "mcp/mcp_int.h"

mcp_session *mcp_session_new(mcp_server *s)
{
    mcp_session *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    ss->subs = json_object();
    if (!ss->subs) {
        free(ss);
        return NULL;
    }
    ss->s = s;
    ss->log_level = -1;
    pthread_mutex_init(&ss->mu, NULL);
    pthread_cond_init(&ss->cv, NULL);
    pthread_mutex_lock(&s->mu);
    ss->next = s->sessions;
    s->sessions = ss;
    pthread_mutex_unlock(&s->mu);
    return ss;
}

void mcp_session_close(mcp_session *ss)
{
    pthread_mutex_lock(&ss->mu);
    ss->closed = true;
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
}

void mcp_session_cancel_all(mcp_session *ss)
{
    pthread_mutex_lock(&ss->mu);
    ss->closed = true;
    for (mcp_job *j = ss->jobs; j; j = j->next)
        j->cancelled = true;
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
}

void mcp_session_free(mcp_session *ss)
{
    if (!ss)
        return;
    mcp_server *s = ss->s;
    pthread_mutex_lock(&s->mu);
    for (mcp_session **pp = &s->sessions; *pp; pp = &(*pp)->next)
        if (*pp == ss) {
            *pp = ss->next;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    for (pending *p = ss->pend, *n; p; p = n) {
        n = p->next;
        json_decref(p->result);
        json_decref(p->error);
        free(p);
    }
    pthread_mutex_destroy(&ss->mu);
    pthread_cond_destroy(&ss->cv);
    json_decref(ss->client_caps);
    json_decref(ss->subs);
    free(ss->client_name);
    free(ss);
}

void mcp_session_set_stream(mcp_session *ss, const mcp_out *out)
{
    pthread_mutex_lock(&ss->mu);
    ss->has_stream = out != NULL;
    if (out)
        ss->stream = *out;
    pthread_mutex_unlock(&ss->mu);
}

const char *mcp_session_protocol(const mcp_session *ss)
{
    return ss->protocol;
}

const char *mcp_session_client_name(const mcp_session *ss)
{
    return ss->client_name ? ss->client_name : "unknown";
}

void mcp_send(mcp_session *ss, const mcp_out *o, json_t *msg)
{
    if (!o || !o->send)
        return;
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text)
        return;
    if (o->send(o->arg, text, strlen(text)) != PM_OK)
        pm_debug("mcp: a message to client \"%s\" could not be sent", mcp_session_client_name(ss));
    free(text);
}

/* ---- accepting ------------------------------------------------------------ */

/* An answer to one of the server's requests: wakes the handler waiting. */
static void answer(mcp_session *ss, const jsonrpc_msg *m)
{
    json_t *id = json_object_get(m->root, "id");
    if (!json_is_integer(id))
        return; /* this server's ids are integers: not an answer to it */
    pthread_mutex_lock(&ss->mu);
    for (pending *p = ss->pend; p; p = p->next)
        if (p->id == json_integer_value(id) && !p->done) {
            json_t *res = json_object_get(m->root, "result");
            json_t *err = json_object_get(m->root, "error");
            /* copies: the message is freed on this thread, the answer on
             * the handler's (jansson's counts are not for sharing) */
            p->result = res ? json_deep_copy(res) : NULL;
            p->error = err ? json_deep_copy(err) : (res ? NULL : json_object());
            p->done = true;
            pthread_cond_broadcast(&ss->cv);
            break;
        }
    pthread_mutex_unlock(&ss->mu);
}

/* True when the job's id is the JSON value v (ids compared as values; an
 * integer beyond 64 bits reads as a real on both sides). */
static bool id_is(const mcp_job *j, const json_t *v)
{
    if (!j->m.id.len)
        return false;
    json_t *mine = json_loadb(j->m.id.text, j->m.id.len, JSON_DECODE_ANY, NULL);
    if (!mine)
        mine =
            json_loadb(j->m.id.text, j->m.id.len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    bool eq = mine &&
              (json_equal(mine, (json_t *)v) || (json_is_number(mine) && json_is_number(v) &&
                                                 (json_is_real(mine) || json_is_real(v)) &&
                                                 json_number_value(mine) == json_number_value(v)));
    json_decref(mine);
    return eq;
}

static void cancel(mcp_session *ss, json_t *params)
{
    json_t *rid = json_object_get(params, "requestId");
    if (!rid)
        return;
    pthread_mutex_lock(&ss->mu);
    for (mcp_job *j = ss->jobs; j; j = j->next)
        if (id_is(j, rid) && !(j->m.method && strcmp(j->m.method, "initialize") == 0)) {
            j->cancelled = true;
            pm_info("mcp: client \"%s\" cancelled request %.*s%s%s", mcp_session_client_name(ss),
                    (int)j->m.id.len, j->m.id.text,
                    json_string_value(json_object_get(params, "reason")) ? ": " : "",
                    json_string_value(json_object_get(params, "reason"))
                        ? json_string_value(json_object_get(params, "reason"))
                        : "");
        }
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
}

static void notification(mcp_session *ss, const jsonrpc_msg *m)
{
    if (strcmp(m->method, "notifications/initialized") == 0) {
        pthread_mutex_lock(&ss->mu);
        ss->client_ready = true;
        pthread_mutex_unlock(&ss->mu);
    } else if (strcmp(m->method, "notifications/cancelled") == 0) {
        cancel(ss, m->params);
    } else {
        pm_debug("mcp: notification %s ignored", m->method);
    }
}

static mcp_job *job_new(mcp_session *ss)
{
    mcp_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->ss = ss;
    return j;
}

static void job_list(mcp_job *j)
{
    mcp_session *ss = j->ss;
    pthread_mutex_lock(&ss->mu);
    j->next = ss->jobs;
    ss->jobs = j;
    j->listed = true;
    pthread_mutex_unlock(&ss->mu);
}

mcp_job *mcp_session_accept(mcp_session *ss, const char *msg, size_t len)
{
    mcp_job *j = job_new(ss);
    if (!j)
        return NULL;
    jsonrpc_read(msg, len, ss->s->info.max_message, &j->m);
    switch (j->m.kind) {
    case JSONRPC_RESPONSE:
        answer(ss, &j->m);
        mcp_job_free(j);
        return NULL;
    case JSONRPC_NOTIFICATION:
        notification(ss, &j->m);
        mcp_job_free(j);
        return NULL;
    case JSONRPC_BATCH:
        j->raw = malloc(len ? len : 1);
        if (!j->raw) {
            mcp_job_free(j);
            return NULL;
        }
        memcpy(j->raw, msg, len);
        j->raw_len = len;
        break;
    case JSONRPC_REQUEST:
        job_list(j);
        break;
    case JSONRPC_INVALID:
        break;
    }
    return j;
}

mcp_job *mcp_session_accept_oversized(mcp_session *ss, const char *prefix, size_t n, size_t total)
{
    mcp_job *j = job_new(ss);
    if (j)
        jsonrpc_read_prefix(prefix, n, total, &j->m);
    return j;
}

const char *mcp_job_method(const mcp_job *j)
{
    return j->m.kind == JSONRPC_REQUEST ? j->m.method : NULL;
}

bool mcp_job_quick(const mcp_job *j)
{
    if (j->m.kind != JSONRPC_REQUEST)
        return j->m.kind == JSONRPC_INVALID;
    const mcp_method *md = mcp_find_method(j->m.method);
    return !md || md->quick;
}

bool mcp_job_invalid(const mcp_job *j)
{
    return j->m.kind == JSONRPC_INVALID;
}

void mcp_job_free(mcp_job *j)
{
    if (!j)
        return;
    if (j->listed) {
        mcp_session *ss = j->ss;
        pthread_mutex_lock(&ss->mu);
        for (mcp_job **pp = &ss->jobs; *pp; pp = &(*pp)->next)
            if (*pp == j) {
                *pp = j->next;
                break;
            }
        pthread_mutex_unlock(&ss->mu);
    }
    jsonrpc_msg_free(&j->m);
    free(j->raw);
    free(j);
}

/* ---- running ---------------------------------------------------------------- */

static pm_code send_error(pm_buf *out, jsonrpc_id id, int code, const char *msg)
{
    return jsonrpc_write_error(out, id, code, msg, NULL, NULL);
}

static pm_code handle_one(mcp_session *ss, mcp_job *j, bool in_batch, pm_buf *out)
{
    jsonrpc_msg *m = &j->m;
    switch (m->kind) {
    case JSONRPC_RESPONSE:
        answer(ss, m);
        return PM_OK;
    case JSONRPC_NOTIFICATION:
        notification(ss, m);
        return PM_OK;
    case JSONRPC_INVALID:
        return send_error(out, m->id, m->error_code, m->error_msg);
    case JSONRPC_BATCH:
        return send_error(out, m->id, JSONRPC_INVALID_REQUEST,
                          "Invalid Request: batches do not nest");
    case JSONRPC_REQUEST:
        break;
    }
    const mcp_method *md = mcp_find_method(m->method);
    if (!md) {
        char msg[300];
        snprintf(msg, sizeof msg, "Method not found: %.200s", m->method);
        return send_error(out, m->id, JSONRPC_METHOD_NOT_FOUND, msg);
    }
    pthread_mutex_lock(&ss->mu);
    bool initialized = ss->initialized;
    pthread_mutex_unlock(&ss->mu);
    if (!md->before_init && !initialized)
        return send_error(out, m->id, JSONRPC_INVALID_REQUEST,
                          "Invalid Request: server not initialized (send initialize first)");
    if (in_batch && strcmp(md->name, "initialize") == 0)
        return send_error(out, m->id, JSONRPC_INVALID_REQUEST,
                          "Invalid Request: initialize must not be part of a batch");
    if (m->params && !json_is_object(m->params))
        return send_error(out, m->id, JSONRPC_INVALID_PARAMS,
                          "Invalid params: MCP methods take params as an object");
    json_t *empty = NULL;
    json_t *params = m->params ? m->params : (empty = json_object());
    reply r = {0};
    md->fn(ss, j, params, &r);
    json_decref(empty);
    pm_code rc;
    if (r.result || r.raw) {
        pm_err err;
        rc = r.raw ? jsonrpc_write_raw_result(out, m->id, r.raw, strlen(r.raw), &err)
                   : jsonrpc_write_result(out, m->id, r.result, &err);
        json_decref(r.result);
        free(r.raw);
        if (rc == PM_ERR_LIMIT)
            rc = send_error(out, m->id, JSONRPC_INTERNAL_ERROR,
                            "Internal error: the response is larger than this transport allows");
    } else {
        rc = jsonrpc_write_error(out, m->id, r.code ? r.code : JSONRPC_INTERNAL_ERROR,
                                 r.msg[0] ? r.msg : "Internal error", r.data, NULL);
    }
    json_decref(r.data);
    return rc;
}

typedef struct spans {
    const char **p;
    size_t *n;
    size_t count;
} spans;

static void span_cb(void *arg, size_t i, const char *p, size_t n)
{
    spans *sp = arg;
    if (i < sp->count) {
        sp->p[i] = p;
        sp->n[i] = n;
    }
}

static void truncate_to(pm_buf *out, size_t mark)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = 0;
}

static pm_code handle_batch(mcp_session *ss, mcp_job *bj, pm_buf *out)
{
    jsonrpc_id null_id = {0};
    const char *proto = mcp_session_protocol(ss);
    if (!proto || strcmp(proto, "2025-03-26") != 0) {
        char m[200];
        snprintf(m, sizeof m,
                 "Invalid Request: JSON-RPC batches are not part of MCP %s; send one message "
                 "at a time",
                 proto ? proto : MCP_PROTOCOL_LATEST);
        return send_error(out, null_id, JSONRPC_INVALID_REQUEST, m);
    }
    json_t *root = bj->m.root;
    size_t n = json_array_size(root);
    if (!n)
        return send_error(out, null_id, JSONRPC_INVALID_REQUEST, "Invalid Request: empty batch");
    spans sp = {calloc(n, sizeof *sp.p), calloc(n, sizeof *sp.n), n};
    if (!sp.p || !sp.n) {
        free(sp.p);
        free(sp.n);
        return send_error(out, null_id, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
    }
    jsonrpc_array_elements(bj->raw, bj->raw_len, span_cb, &sp);
    size_t mark = out->len;
    bool any = false;
    pm_code rc = pm_buf_putc(out, '[', NULL);
    for (size_t i = 0; i < n && rc == PM_OK; i++) {
        mcp_job j = {.ss = ss, .notify = bj->notify};
        jsonrpc_classify(json_array_get(root, i), sp.p[i], sp.n[i], &j.m);
        size_t before = out->len;
        if (any)
            rc = pm_buf_putc(out, ',', NULL);
        size_t after_comma = out->len;
        if (rc == PM_OK)
            rc = handle_one(ss, &j, true, out);
        if (out->len == after_comma) /* nothing answered: drop the comma */
            truncate_to(out, before);
        else
            any = true;
        jsonrpc_msg_free(&j.m);
    }
    if (rc == PM_OK && any)
        rc = pm_buf_putc(out, ']', NULL);
    free(sp.p);
    free(sp.n);
    if (rc != PM_OK || !any)
        truncate_to(out, mark);
    if (rc != PM_OK)
        return send_error(out, null_id, JSONRPC_INTERNAL_ERROR,
                          "Internal error: the batch's responses are larger than this transport "
                          "allows");
    return PM_OK;
}

void mcp_job_cancel(mcp_job *j)
{
    if (!j->listed)
        return;
    pthread_mutex_lock(&j->ss->mu);
    j->cancelled = true;
    pthread_cond_broadcast(&j->ss->cv);
    pthread_mutex_unlock(&j->ss->mu);
}

static bool job_cancelled(mcp_job *j)
{
    if (!j->listed)
        return false;
    pthread_mutex_lock(&j->ss->mu);
    bool c = j->cancelled;
    pthread_mutex_unlock(&j->ss->mu);
    return c;
}

pm_code mcp_job_run(mcp_job *j, const mcp_out *notify, pm_buf *out)
{
    if (job_cancelled(j))
        return PM_OK;
    j->notify = notify;
    size_t mark = out->len;
    pm_code rc =
        j->m.kind == JSONRPC_BATCH ? handle_batch(j->ss, j, out) : handle_one(j->ss, j, false, out);
    j->notify = NULL;
    if (job_cancelled(j)) /* the client said it no longer wants the answer */
        truncate_to(out, mark);
    return rc;
}

pm_code mcp_handle(mcp_server *s, const char *msg, size_t len, pm_buf *out)
{
    mcp_job *j = mcp_session_accept(s->own, msg, len);
    if (!j)
        return PM_OK;
    pm_code rc = mcp_job_run(j, NULL, out);
    mcp_job_free(j);
    return rc;
}

pm_code mcp_handle_oversized(mcp_server *s, const char *prefix, size_t n, size_t total, pm_buf *out)
{
    mcp_job *j = mcp_session_accept_oversized(s->own, prefix, n, total);
    if (!j)
        return PM_ERR_NOMEM;
    pm_code rc = mcp_job_run(j, NULL, out);
    mcp_job_free(j);
    return rc;
}

/* ---- from a handler ---------------------------------------------------------- */

void mcp_call_init(mcp_call *c, mcp_session *ss, mcp_job *j, json_t *params)
{
    *c = (mcp_call){.ss = ss, .j = j, .params = params};
}

void mcp_call_done(mcp_call *c)
{
    free(c->msg);
    json_decref(c->content);
    json_decref(c->messages);
    c->msg = NULL;
    c->content = c->messages = NULL;
}

static void set_msg(mcp_call *c, const char *fmt, va_list ap)
{
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    free(c->msg);
    c->msg = m ? m : strdup("the call failed");
}

void mcp_call_fail(mcp_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_msg(c, fmt, ap);
    va_end(ap);
}

void mcp_call_not_found(mcp_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_msg(c, fmt, ap);
    va_end(ap);
    c->not_found = true;
}

void mcp_call_fail_err(mcp_call *c, const pm_err *err)
{
    mcp_call_fail(c, "%s%s%s%s%s", err->msg[0] ? err->msg : pm_code_text(err->code),
                  err->detail[0] ? "; detail: " : "", err->detail, err->hint[0] ? "; hint: " : "",
                  err->hint);
}

const char *mcp_call_client_name(const mcp_call *c)
{
    return mcp_session_client_name(c->ss);
}

mcp_server *mcp_call_server(const mcp_call *c)
{
    return c->ss->s;
}

bool mcp_call_cancelled(const mcp_call *c)
{
    return c->j && job_cancelled(c->j);
}

static const mcp_out *call_out(const mcp_call *c)
{
    return c->j ? c->j->notify : NULL;
}

void mcp_call_progress(mcp_call *c, double progress, double total, const char *message)
{
    json_t *token = json_object_get(json_object_get(c->params, "_meta"), "progressToken");
    if (!(json_is_string(token) || json_is_integer(token)) || !call_out(c))
        return;
    json_t *p = json_pack("{s:O, s:f}", "progressToken", token, "progress", progress);
    if (total > 0)
        json_object_set_new(p, "total", json_real(total));
    if (message)
        json_object_set_new(p, "message", json_string(message));
    json_t *msg = json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "notifications/progress",
                            "params", p);
    mcp_send(c->ss, call_out(c), msg);
    json_decref(msg);
}

void mcp_call_log(mcp_call *c, mcp_log_level level, const char *logger, json_t *data)
{
    pthread_mutex_lock(&c->ss->mu);
    int min = c->ss->log_level;
    pthread_mutex_unlock(&c->ss->mu);
    if ((int)level < min || !call_out(c)) {
        json_decref(data);
        return;
    }
    json_t *p = json_pack("{s:s, s:o}", "level", mcp_log_level_name((int)level), "data",
                          data ? data : json_null());
    if (logger)
        json_object_set_new(p, "logger", json_string(logger));
    json_t *msg = json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "notifications/message",
                            "params", p);
    mcp_send(c->ss, call_out(c), msg);
    json_decref(msg);
}

void mcp_call_logf(mcp_call *c, mcp_log_level level, const char *logger, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    if (m)
        mcp_call_log(c, level, logger, json_string(m));
    free(m);
}

bool mcp_call_client_has(const mcp_call *c, const char *capability)
{
    pthread_mutex_lock(&c->ss->mu);
    bool has = json_object_get(c->ss->client_caps, capability) != NULL;
    pthread_mutex_unlock(&c->ss->mu);
    return has;
}

json_t *mcp_call_request(mcp_call *c, const char *method, json_t *params, int timeout_ms)
{
    mcp_session *ss = c->ss;
    const mcp_out *o = call_out(c);
    if (!o) {
        json_decref(params);
        mcp_call_fail(c, "%s: this transport cannot carry a request to the client", method);
        return NULL;
    }
    pending *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(params);
        mcp_call_fail(c, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&ss->mu);
    p->id = ++ss->next_id;
    p->next = ss->pend;
    ss->pend = p;
    pthread_mutex_unlock(&ss->mu);
    json_t *msg = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)p->id,
                            "method", method, "params", params ? params : json_object());
    mcp_send(ss, o, msg);
    json_decref(msg);

    if (timeout_ms < 0)
        timeout_ms = 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    bool timed_out = false;
    pthread_mutex_lock(&ss->mu);
    while (!p->done && !ss->closed && !(c->j && c->j->cancelled) && !timed_out)
        timed_out = pthread_cond_timedwait(&ss->cv, &ss->mu, &until) != 0;
    for (pending **pp = &ss->pend; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    bool closed = ss->closed;
    pthread_mutex_unlock(&ss->mu);
    json_t *res = NULL;
    if (p->done && p->result) {
        res = p->result;
        p->result = NULL;
    } else if (p->done) {
        const char *m = json_string_value(json_object_get(p->error, "message"));
        mcp_call_fail(c, "the client answered %s with an error: %s", method,
                      m ? m : "(no message)");
    } else if (timed_out) {
        mcp_call_fail(c, "the client did not answer %s within %d ms", method, timeout_ms);
    } else {
        mcp_call_fail(c, "%s was abandoned: the %s", method,
                      closed ? "session ended" : "call was cancelled");
    }
    if (!p->done && !closed) { /* the client may stop working on it */
        json_t *n = json_pack("{s:s, s:s, s:{s:I, s:s}}", "jsonrpc", "2.0", "method",
                              "notifications/cancelled", "params", "requestId", (json_int_t)p->id,
                              "reason", timed_out ? "timed out" : "the call was cancelled");
        mcp_send(ss, o, n);
        json_decref(n);
    }
    json_decref(p->result);
    json_decref(p->error);
    free(p);
    return res;
}

void mcp_call_close_stream(mcp_call *c, int retry_ms)
{
    const mcp_out *o = call_out(c);
    if (o && o->close)
        o->close(o->arg, retry_ms);
}

void mcp_call_content(mcp_call *c, json_t *block)
{
    if (!block)
        return;
    if (!c->content)
        c->content = json_array();
    json_array_append_new(c->content, block);
}

void mcp_call_message(mcp_call *c, const char *role, json_t *content)
{
    if (!content)
        return;
    if (!c->messages)
        c->messages = json_array();
    json_array_append_new(c->messages, json_pack("{s:s, s:o}", "role", role, "content", content));
}
