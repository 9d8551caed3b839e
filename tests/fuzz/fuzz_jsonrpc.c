/* fuzz_jsonrpc.c - libFuzzer target for the JSON-RPC reader (mcp/jsonrpc.h)
 * and, behind it, the MCP server's one-message entry point (mcp_handle).
 *
 * Every input is read as a whole message under a cap smaller than it and
 * under one larger, as the prefix a transport keeps of an oversized message
 * (its first half), and, when it is a batch, element by element as the
 * server's handle_batch reads one. Each outcome is answered with
 * jsonrpc_write_result and jsonrpc_write_error. Beyond "no crash, no leak,
 * no UB" the target checks what jsonrpc.h promises, with jansson as the
 * reference:
 *
 *   1. A message over the cap is never parsed: root stays NULL and the
 *      answer is -32600 or -32700; a prefix of a JSON object, array or
 *      string is -32600.
 *   2. A message within the cap is -32700 exactly when jansson cannot read
 *      it with JSON_REJECT_DUPLICATES (a key twice in any object); otherwise
 *      root is what jansson reads, an array is a batch, and anything else is classified: a request
 * has a string method and an id, a notification a method and no "id" member, a response an id and
 *      a result or error; an invalid message is -32600 with a message.
 *   3. An id, when read, is a JSON string with its quotes or an integer's
 *      digits; for a parsed message it is the id jansson reads (same value;
 *      the same digits for an integer beyond 64 bits), taken from the
 *      message's own bytes; a string or integer id is never dropped.
 *   4. The written response is one JSON object carrying exactly those id
 *      bytes (or null), the code and message, or the result; appending it
 *      to a buffer whose cap it would pass fails with PM_ERR_LIMIT and
 *      leaves the buffer as it was.
 *   5. The element spans of a batch jansson accepts are one per element,
 *      each the text of that element.
 *
 * The same bytes then go to two fresh servers with no tools, one before
 * initialize and one initialized under 2025-03-26, where batches are served
 * (and once more, cut in half, as an oversized message): every answer is one
 * line holding one JSON-RPC response or an array of them; notifications and
 * responses get none; a request gets its own id back; an invalid message
 * gets its code.
 *
 * Legitimate differences, which are not reported: jansson drops a raw NUL
 * byte that directly follows a number or a literal (see fuzz_jscan.c), so it
 * accepts some text the reader's scanner stops at; for inputs holding a NUL
 * the id's value and the batch's spans are not compared. */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp.h"

/* Below the few-hundred-byte messages the corpus mostly holds, so that the
 * oversized path sees them too. */
#define SMALL_MAX 64
#define OUT_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *cur_data;
static size_t cur_size;
static bool has_nul; /* the input holds a NUL byte: see the top */

static void dump(const char *what, const void *p, size_t n)
{
    const unsigned char *s = p;
    fprintf(stderr, "%s (%zu bytes): ", what, n);
    for (size_t i = 0; i < n && i < 400; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
            fputc(s[i], stderr);
        else
            fprintf(stderr, "\\x%02x", s[i]);
    }
    fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2))) static _Noreturn void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_jsonrpc: VIOLATION: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    dump("input", cur_data, cur_size);
    abort();
}

/* jansson's reading of n bytes as the reader reads them: any value, no
 * object with a key twice, and integers beyond 64 bits as reals (*as_real
 * says so). NULL: not JSON. */
static json_t *load(const char *p, size_t n, bool *as_real)
{
    json_error_t je;
    bool real = false;
    json_t *v = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v && json_error_code(&je) == json_error_numeric_overflow) {
        v = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                       &je);
        real = true;
    }
    if (as_real)
        *as_real = real;
    return v;
}

/* A JSON string's value, "" for anything else. */
static const char *str_of(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

/* A response's error code; a response holding an integer beyond 64 bits
 * (its id) is read with every number a real. */
static int code_of(const json_t *r)
{
    return (int)json_number_value(json_object_get(json_object_get(r, "error"), "code"));
}

static bool int_literal(const char *t, size_t n)
{
    size_t i = n && t[0] == '-';
    if (i >= n)
        return false;
    for (; i < n; i++)
        if (t[i] < '0' || t[i] > '9')
            return false;
    return true;
}

/* Property 3: the id's text is a JSON string with its quotes or an
 * integer's digits. Returns its value (caller owns). */
static json_t *id_value(jsonrpc_id id, const char *where)
{
    json_t *v = load(id.text, id.len, NULL);
    if (!v) {
        dump("id", id.text, id.len);
        fail("%s: the id is not JSON", where);
    }
    bool str = json_is_string(v) && id.len >= 2 && id.text[0] == '"' && id.text[id.len - 1] == '"';
    if (!str && !(json_is_number(v) && int_literal(id.text, id.len))) {
        dump("id", id.text, id.len);
        fail("%s: the id is neither a string nor an integer", where);
    }
    return v;
}

/* Property 3 for a parsed message: jv is the "id" jansson reads from the
 * object (NULL: none), raw/raw_len the object's bytes (NULL: not known). */
static void check_parsed_id(const jsonrpc_msg *m, const json_t *jv, const char *raw, size_t raw_len,
                            const char *where)
{
    if (!m->id.len) {
        if (json_is_string(jv) || json_is_integer(jv))
            fail("%s: the string or integer id was dropped", where);
        return;
    }
    json_t *v = id_value(m->id, where);
    if (!jv)
        fail("%s: an id was read from an object without one", where);
    if (!has_nul) {
        bool same;
        if (json_is_real(jv)) /* an integer beyond 64 bits: the digits kept */
            same = int_literal(m->id.text, m->id.len) &&
                   strtod(m->id.text, NULL) == json_real_value(jv);
        else
            same = (json_is_string(jv) || json_is_integer(jv)) && json_equal(v, (json_t *)jv);
        if (!same) {
            char *j = json_dumps(jv, JSON_ENCODE_ANY | JSON_COMPACT);
            dump("id read", m->id.text, m->id.len);
            fail("%s: the id read is not the message's id, which jansson reads as %s", where,
                 j ? j : "?");
        }
        /* The bytes come from the message, unless its key was written with
         * escapes; then they are jansson's own spelling of the value. */
        if (raw && !memmem(raw, raw_len, m->id.text, m->id.len)) {
            char *j = json_dumps(jv, JSON_ENCODE_ANY | JSON_COMPACT);
            if (!j || strlen(j) != m->id.len || memcmp(j, m->id.text, m->id.len) != 0)
                fail("%s: the id's bytes are neither the message's nor jansson's", where);
            free(j);
        }
    }
    json_decref(v);
}

/* A response as JSON-RPC shapes it: jsonrpc "2.0", an id that is a string,
 * an integer or null, and exactly one of a result and an error {code,
 * message}. */
static void check_shape(const json_t *r, const char *where)
{
    json_t *id = json_object_get(r, "id");
    json_t *res = json_object_get(r, "result");
    json_t *err = json_object_get(r, "error");
    if (!json_is_object(r) || strcmp(str_of(json_object_get(r, "jsonrpc")), "2.0") != 0)
        fail("%s: a response that is no JSON-RPC 2.0 object", where);
    if (!id || !(json_is_string(id) || json_is_number(id) || json_is_null(id)))
        fail("%s: a response without a string, integer or null id", where);
    if (!res == !err)
        fail("%s: a response must hold exactly one of result and error", where);
    json_t *code = json_object_get(err, "code");
    if (err && (!json_is_number(code) || json_number_value(code) != (double)code_of(r) ||
                !json_is_string(json_object_get(err, "message"))))
        fail("%s: an error without an integer code and a string message", where);
}

/* Property 4: the response in b (len bytes from mark) is one JSON object
 * echoing id's bytes exactly. Returns it (caller owns); *as_real when it had
 * to be read with big integers as reals. */
static json_t *check_response(const pm_buf *b, size_t mark, jsonrpc_id id, const char *where,
                              bool *as_real)
{
    const char *p = b->data + mark;
    size_t n = b->len - mark;
    if (memchr(p, '\n', n))
        fail("%s: the response spans lines", where);
    json_t *r = load(p, n, as_real);
    if (!r) {
        dump("response", p, n);
        fail("%s: the response is not JSON", where);
    }
    check_shape(r, where);
    json_t *rid = json_object_get(r, "id");
    if (!id.len) {
        if (!json_is_null(rid))
            fail("%s: no id read, but the response's id is not null", where);
        return r;
    }
    if (!memmem(p, n, id.text, id.len))
        fail("%s: the response does not hold the id's bytes", where);
    json_t *v = id_value(id, where);
    bool same =
        json_is_real(rid) ? strtod(id.text, NULL) == json_real_value(rid) : json_equal(v, rid);
    json_decref(v);
    if (!same) {
        dump("response", p, n);
        fail("%s: the response's id is not the id read", where);
    }
    return r;
}

/* Property 4, the cap: one byte short of room, the append fails and the
 * buffer is as it was; with just enough, it holds exactly the response. */
static void check_cap(const char *resp, size_t n, pm_code (*write)(pm_buf *, void *), void *arg,
                      const char *where)
{
    static const char before[] = "[before]";
    size_t bl = sizeof before - 1;
    for (int room = 0; room < 2; room++) {
        pm_buf b;
        pm_err err;
        pm_buf_init(&b, bl + n - 1 + (size_t)room);
        if (pm_buf_append(&b, before, bl, &err) != PM_OK)
            fail("%s: cannot set up the capped buffer", where);
        pm_code rc = write(&b, arg);
        if (room && (rc != PM_OK || b.len != bl + n || memcmp(b.data + bl, resp, n) != 0))
            fail("%s: a response that fits its buffer exactly was not written whole", where);
        if (!room && (rc != PM_ERR_LIMIT || b.len != bl || memcmp(b.data, before, bl + 1) != 0))
            fail("%s: a response over the buffer's cap left the buffer changed (rc %d)", where,
                 (int)rc);
        pm_buf_free(&b);
    }
}

typedef struct answer {
    const jsonrpc_msg *m;
    const json_t *result;
    int code;
    const char *message;
    const json_t *data;
} answer;

static pm_code write_result(pm_buf *b, void *arg)
{
    answer *a = arg;
    return jsonrpc_write_result(b, a->m->id, a->result, NULL);
}

static pm_code write_error(pm_buf *b, void *arg)
{
    answer *a = arg;
    return jsonrpc_write_error(b, a->m->id, a->code, a->message, a->data, NULL);
}

/* Property 4 for m: answers it with a result (result) and with an error
 * (m's own code and message when invalid, else -32601 with data). */
static void answer_msg(const jsonrpc_msg *m, const json_t *result, const json_t *data,
                       const char *where)
{
    bool inv = m->kind == JSONRPC_INVALID;
    json_t *empty = NULL;
    if (!result)
        result = empty = json_object();
    answer a = {m, result, inv ? m->error_code : JSONRPC_METHOD_NOT_FOUND,
                inv ? m->error_msg : "Method not found", inv ? NULL : data};
    pm_buf b;
    pm_buf_init(&b, OUT_MAX);
    pm_err err;
    pm_buf_puts(&b, "x", &err); /* the response is appended after what is there */
    for (int kind = 0; kind < 2; kind++) {
        pm_code (*write)(pm_buf *, void *) = kind ? write_error : write_result;
        pm_code rc = write(&b, &a);
        if (rc != PM_OK || b.data[0] != 'x')
            fail("%s: writing the response failed (rc %d)", where, (int)rc);
        bool as_real;
        json_t *r = check_response(&b, 1, m->id, where, &as_real);
        const json_t *want = kind ? a.data : a.result;
        json_t *got = kind ? json_object_get(json_object_get(r, "error"), "data")
                           : json_object_get(r, "result");
        if (!as_real && want && !json_equal(got, want))
            fail("%s: the response's %s is not what was written", where, kind ? "data" : "result");
        if (kind) {
            if (code_of(r) != a.code)
                fail("%s: the response's error code is not the one written", where);
        }
        check_cap(b.data + 1, b.len - 1, write, &a, where);
        json_decref(r);
        b.len = 1;
    }
    pm_buf_free(&b);
    json_decref(empty);
}

/* Properties 2 and 3 for a message classified from the object (or other
 * value) v. */
static void check_classified(const jsonrpc_msg *m, json_t *v, const char *raw, size_t raw_len,
                             const char *where)
{
    json_t *jid = json_object_get(v, "id");
    switch (m->kind) {
    case JSONRPC_REQUEST:
    case JSONRPC_NOTIFICATION: {
        json_t *method = json_object_get(v, "method");
        json_t *params = json_object_get(v, "params");
        if (!m->method || !json_is_string(method) || strcmp(m->method, json_string_value(method)))
            fail("%s: a request or notification without its method", where);
        if (m->params != params || (params && !json_is_object(params) && !json_is_array(params)))
            fail("%s: params are not the message's object or array", where);
        if (strcmp(str_of(json_object_get(v, "jsonrpc")), "2.0") != 0)
            fail("%s: accepted without \"jsonrpc\": \"2.0\"", where);
        if (m->kind == JSONRPC_REQUEST && m->id.len == 0)
            fail("%s: a request without an id", where);
        if (m->kind == JSONRPC_NOTIFICATION && (m->id.len || jid))
            fail("%s: a notification with an id", where);
        break;
    }
    case JSONRPC_RESPONSE:
        if (m->method || !jid || !(json_object_get(v, "result") || json_object_get(v, "error")))
            fail("%s: a response without an id and a result or error", where);
        break;
    case JSONRPC_INVALID:
        if (m->error_code != JSONRPC_INVALID_REQUEST || !m->error_msg[0])
            fail("%s: parsed JSON classified as invalid with code %d, message \"%s\"", where,
                 m->error_code, m->error_msg);
        break;
    default:
        fail("%s: classified as kind %d", where, (int)m->kind);
    }
    if (json_is_object(v))
        check_parsed_id(m, jid, raw, raw_len, where);
    else if (m->id.len)
        fail("%s: an id read from a value that is no object", where);
}

/* Property 1: m answers a message of which only the first n bytes (of the
 * input) were looked at. */
static void check_oversized(const jsonrpc_msg *m, size_t n, const json_t *doc, const char *where)
{
    if (m->kind != JSONRPC_INVALID || m->root || m->method || m->params)
        fail("%s: a message over the cap was parsed (kind %d)", where, (int)m->kind);
    if ((m->error_code != JSONRPC_INVALID_REQUEST && m->error_code != JSONRPC_PARSE_ERROR) ||
        !m->error_msg[0])
        fail("%s: over the cap, code %d, message \"%s\"", where, m->error_code, m->error_msg);
    if (m->id.len) {
        if (!memmem(cur_data, n, m->id.text, m->id.len))
            fail("%s: the id's bytes are not in the prefix", where);
        json_decref(id_value(m->id, where));
    }
    /* The prefix of a JSON object, array or string is a JSON request too
     * large, not bytes that are not JSON. */
    size_t i = 0;
    while (i < n && strchr(" \t\r\n", cur_data[i]) && cur_data[i])
        i++;
    if (i < n && !has_nul && (json_is_object(doc) || json_is_array(doc) || json_is_string(doc)) &&
        m->error_code != JSONRPC_INVALID_REQUEST)
        fail("%s: the prefix of JSON text answered %d", where, m->error_code);
}

typedef struct spans {
    const char **p;
    size_t *n;
    size_t count, calls;
} spans;

static void span_cb(void *arg, size_t i, const char *p, size_t n)
{
    spans *sp = arg;
    if (i != sp->calls)
        fail("array element %zu reported as %zu", sp->calls, i);
    sp->calls++;
    if (p < (const char *)cur_data || n == 0 || n > cur_size ||
        p + n > (const char *)cur_data + cur_size)
        fail("array element %zu: its span is outside the message", i);
    if (i < sp->count) {
        sp->p[i] = p;
        sp->n[i] = n;
    }
}

/* Property 5 and the batch's elements as handle_batch reads them. */
static void check_batch(const jsonrpc_msg *m, bool as_real)
{
    size_t n = json_array_size(m->root);
    spans sp = {calloc(n + 1, sizeof *sp.p), calloc(n + 1, sizeof *sp.n), n, 0};
    bool ok = jsonrpc_array_elements((const char *)cur_data, cur_size, span_cb, &sp);
    if (!has_nul && (!ok || sp.calls != n))
        fail("a batch of %zu elements jansson reads: spans %s, %zu of them", n,
             ok ? "read" : "failed", sp.calls);
    for (size_t i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof where, "batch element %zu", i);
        json_t *v = json_array_get(m->root, i);
        if (!has_nul) {
            json_error_t je;
            size_t flags = JSON_DECODE_ANY | (as_real ? JSON_DECODE_INT_AS_REAL : 0);
            json_t *e = json_loadb(sp.p[i], sp.n[i], flags, &je);
            if (!e || !json_equal(e, v))
                fail("%s: its span is not its text", where);
            json_decref(e);
        }
        jsonrpc_msg em;
        jsonrpc_classify(v, sp.p[i], sp.n[i], &em);
        if (em.root)
            fail("%s: classified with a root of its own", where);
        check_classified(&em, v, sp.p[i], sp.n[i], where);
        json_t *params = em.params;
        answer_msg(&em, params ? params : v, params, where);
        jsonrpc_msg_free(&em);
    }
    free(sp.p);
    free(sp.n);
}

/* ---- the server ------------------------------------------------------------- */

static mcp_server *fresh_server(const char *protocol)
{
    static const mcp_server_info info = {.name = "fuzz", .version = "0"};
    mcp_server *s = mcp_server_new(&info);
    if (!s)
        fail("mcp_server_new failed");
    if (protocol) {
        char init[300];
        int n = snprintf(init, sizeof init,
                         "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                         "\"protocolVersion\":\"%s\",\"capabilities\":{},"
                         "\"clientInfo\":{\"name\":\"fuzz\",\"version\":\"0\"}}}",
                         protocol);
        static const char ready[] =
            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
        pm_buf out;
        pm_buf_init(&out, OUT_MAX);
        if (mcp_handle(s, init, (size_t)n, &out) != PM_OK || !out.len ||
            mcp_handle(s, ready, sizeof ready - 1, &out) != PM_OK || !mcp_server_protocol(s) ||
            strcmp(mcp_server_protocol(s), protocol) != 0)
            fail("the server would not initialize");
        pm_buf_free(&out);
    }
    return s;
}

/* What the server answers to the input, which the reader classified as m. */
static void check_server(const char *protocol, const jsonrpc_msg *m)
{
    char where[64];
    snprintf(where, sizeof where, "server (%s)", protocol ? protocol : "not initialized");
    mcp_server *s = fresh_server(protocol);
    pm_buf out;
    pm_buf_init(&out, OUT_MAX);
    if (mcp_handle(s, (const char *)cur_data, cur_size, &out) != PM_OK)
        fail("%s: mcp_handle failed", where);
    bool batches = protocol && strcmp(protocol, "2025-03-26") == 0;
    if (m->kind == JSONRPC_NOTIFICATION || m->kind == JSONRPC_RESPONSE) {
        if (out.len)
            fail("%s: a notification or response was answered", where);
    } else if (m->kind == JSONRPC_BATCH && batches && json_array_size(m->root)) {
        if (out.len) {
            if (memchr(out.data, '\n', out.len))
                fail("%s: the batch's answer spans lines", where);
            json_t *r = load(out.data, out.len, NULL);
            if (!json_is_array(r) || !json_array_size(r) ||
                json_array_size(r) > json_array_size(m->root)) {
                dump("response", out.data, out.len);
                fail("%s: a batch answered with no array of at most one response per element",
                     where);
            }
            size_t i;
            json_t *e;
            json_array_foreach(r, i, e) check_shape(e, where);
            json_decref(r);
        }
    } else {
        jsonrpc_id none = {0};
        if (!out.len)
            fail("%s: no answer to a request, an invalid message or a batch", where);
        json_t *r = check_response(&out, 0, m->kind == JSONRPC_BATCH ? none : m->id, where, NULL);
        int code = code_of(r);
        if (m->kind == JSONRPC_INVALID && code != m->error_code)
            fail("%s: invalid message answered %d, not %d", where, code, m->error_code);
        if (m->kind == JSONRPC_BATCH && code != JSONRPC_INVALID_REQUEST)
            fail("%s: a batch the server does not serve answered %d", where, code);
        json_decref(r);
    }
    /* Half of it, as a transport hands over a message over its limit. */
    if (cur_size) {
        pm_buf_reset(&out);
        if (mcp_handle_oversized(s, (const char *)cur_data, cur_size / 2, cur_size, &out) != PM_OK)
            fail("%s: mcp_handle_oversized failed", where);
        jsonrpc_msg pm;
        jsonrpc_read_prefix((const char *)cur_data, cur_size / 2, cur_size, &pm);
        json_t *r = check_response(&out, 0, pm.id, where, NULL);
        int code = code_of(r);
        if (code != pm.error_code)
            fail("%s: an oversized message answered %d, not %d", where, code, pm.error_code);
        json_decref(r);
        jsonrpc_msg_free(&pm);
    }
    pm_buf_free(&out);
    mcp_server_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        pm_log_set_level(PM_LOG_ERROR); /* initialize logs each client */
        quiet = true;
    }
    cur_data = data;
    cur_size = size;
    has_nul = memchr(data, 0, size) != NULL;
    const char *msg = (const char *)data;
    bool as_real;
    json_t *doc = load(msg, size, &as_real);

    /* Over a small cap: never parsed. */
    jsonrpc_msg m;
    jsonrpc_read(msg, size, SMALL_MAX, &m);
    if (size > SMALL_MAX) {
        check_oversized(&m, SMALL_MAX, doc, "over the cap");
        answer_msg(&m, doc, NULL, "over the cap");
        jsonrpc_msg_free(&m);
    } else {
        jsonrpc_msg_free(&m); /* the same as under the large cap, below */
    }

    /* The first half, kept by a transport. */
    if (size) {
        jsonrpc_read_prefix(msg, size / 2, size, &m);
        check_oversized(&m, size / 2, doc, "prefix");
        answer_msg(&m, doc, NULL, "prefix");
        jsonrpc_msg_free(&m);
    }

    /* Under a cap it fits: parsed. */
    jsonrpc_read(msg, size, size + 1, &m);
    if (!doc) {
        if (m.kind != JSONRPC_INVALID || m.error_code != JSONRPC_PARSE_ERROR || m.root ||
            !m.error_msg[0] || m.id.len)
            fail("bytes jansson cannot read: kind %d, code %d", (int)m.kind, m.error_code);
    } else {
        if (!m.root || !json_equal(m.root, doc))
            fail("the root is not what jansson reads");
        if (json_is_array(doc)) {
            if (m.kind != JSONRPC_BATCH || m.id.len || m.method)
                fail("an array not read as a batch (kind %d)", (int)m.kind);
            check_batch(&m, as_real);
        } else {
            check_classified(&m, m.root, msg, size, "message");
        }
    }
    if (m.kind != JSONRPC_BATCH)
        answer_msg(&m, m.params ? m.params : doc, m.params, "message");

    check_server(NULL, &m);
    check_server("2025-03-26", &m);
    jsonrpc_msg_free(&m);
    json_decref(doc);
    return 0;
}
