/* jsonrpc.c - reading and answering JSON-RPC 2.0 messages (jsonrpc.h).
 *
 * jansson parses and validates the JSON; a small scanner beside it finds
 * the raw bytes of the top-level "id" member, so that ids are echoed byte
 * for byte. The scanner never allocates and never recurses: nested values
 * are skipped by counting brackets outside strings, which is enough to find
 * a top-level member in text jansson has already accepted, and to read the
 * id at the head of a message too large to parse. */
#include "mcp/jsonrpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum scan_rc { SCAN_OK, SCAN_SHORT, SCAN_BAD } scan_rc;

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* *pp points at the opening quote; moves past the closing one. */
static scan_rc skip_string(const char **pp, const char *e)
{
    const char *p = *pp + 1;
    while (p < e) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *pp = p + 1;
            return SCAN_OK;
        }
        if (c == '\\') {
            p += 2;
            continue;
        }
        if (c < 0x20)
            return SCAN_BAD;
        p++;
    }
    return SCAN_SHORT;
}

static bool scalar_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '+' || c == '.';
}

/* Skips one value after optional whitespace. */
static scan_rc skip_value(const char **pp, const char *e)
{
    const char *p = skip_ws(*pp, e);
    if (p >= e)
        return SCAN_SHORT;
    if (*p == '"') {
        scan_rc rc = skip_string(&p, e);
        *pp = p;
        return rc;
    }
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < e) {
            char c = *p;
            if (c == '"') {
                scan_rc rc = skip_string(&p, e);
                if (rc != SCAN_OK)
                    return rc;
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    *pp = p + 1;
                    return SCAN_OK;
                }
            }
            p++;
        }
        return SCAN_SHORT;
    }
    const char *s = p;
    while (p < e && scalar_char(*p))
        p++;
    if (p == s)
        return SCAN_BAD;
    if (p == e)
        return SCAN_SHORT; /* the number may go on past what we have */
    *pp = p;
    return SCAN_OK;
}

/* Scans the object at p for its last top-level "id" member (a message
 * with "id" twice never gets this far unless it is over the cap, where
 * this prefix scan is all there is). */
static scan_rc scan_object_id(const char *p, const char *e, jsonrpc_id *id)
{
    p = skip_ws(p, e);
    if (p >= e)
        return SCAN_SHORT;
    if (*p != '{')
        return SCAN_BAD;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}')
        return SCAN_OK;
    for (;;) {
        p = skip_ws(p, e);
        if (p >= e)
            return SCAN_SHORT;
        if (*p != '"')
            return SCAN_BAD;
        const char *k = p;
        scan_rc rc = skip_string(&p, e);
        if (rc != SCAN_OK)
            return rc;
        bool is_id = p - k == 4 && memcmp(k, "\"id\"", 4) == 0;
        p = skip_ws(p, e);
        if (p >= e)
            return SCAN_SHORT;
        if (*p++ != ':')
            return SCAN_BAD;
        p = skip_ws(p, e);
        const char *v = p;
        rc = skip_value(&p, e);
        if (rc != SCAN_OK)
            return rc;
        if (is_id) {
            id->text = v;
            id->len = (size_t)(p - v);
        }
        p = skip_ws(p, e);
        if (p >= e)
            return SCAN_SHORT;
        if (*p == '}')
            return SCAN_OK;
        if (*p++ != ',')
            return SCAN_BAD;
    }
}

bool jsonrpc_array_elements(const char *msg, size_t len,
                            void (*fn)(void *arg, size_t i, const char *p, size_t n), void *arg)
{
    const char *e = msg + len, *p = skip_ws(msg, e);
    if (p >= e || *p != '[')
        return false;
    p = skip_ws(p + 1, e);
    if (p < e && *p == ']')
        return true;
    for (size_t i = 0;; i++) {
        p = skip_ws(p, e);
        const char *s = p;
        if (skip_value(&p, e) != SCAN_OK)
            return false;
        fn(arg, i, s, (size_t)(p - s));
        p = skip_ws(p, e);
        if (p >= e)
            return false;
        if (*p == ']')
            return true;
        if (*p++ != ',')
            return false;
    }
}

/* A string with its quotes, or an integer's digits (no fraction, no
 * exponent): the two kinds of id MCP allows. The text must be valid JSON
 * too (escapes, UTF-8, no leading zeros), since it is echoed verbatim. */
static bool raw_id_ok(const char *t, size_t n)
{
    bool str = n >= 2 && t[0] == '"' && t[n - 1] == '"';
    size_t i = n && t[0] == '-';
    if (!str && i >= n)
        return false;
    for (; !str && i < n; i++)
        if (t[i] < '0' || t[i] > '9')
            return false;
    json_t *v = json_loadb(t, n, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    bool ok = v != NULL;
    json_decref(v);
    return ok;
}

/* Whether the raw id text is the id jansson read (an "id" key spelt with
 * escapes makes them differ). */
static bool raw_id_is(const jsonrpc_id *rid, const json_t *id)
{
    json_t *v = json_loadb(rid->text, rid->len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    bool same = v && (json_equal(v, (json_t *)id) || (json_is_real(v) && json_is_real(id) &&
                                                      json_real_value(v) == json_real_value(id)));
    json_decref(v);
    return same;
}

static void set_id(jsonrpc_msg *m, const char *t, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return; /* the id reads as null: the answer still goes out */
    memcpy(s, t, n);
    s[n] = 0;
    m->id.text = s;
    m->id.len = n;
}

static void invalid(jsonrpc_msg *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void invalid(jsonrpc_msg *m, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error_msg, sizeof m->error_msg, fmt, ap);
    va_end(ap);
    m->kind = JSONRPC_INVALID;
    m->error_code = code;
}

void jsonrpc_read_prefix(const char *prefix, size_t n, size_t total, jsonrpc_msg *out)
{
    memset(out, 0, sizeof *out);
    const char *e = prefix + n, *p = skip_ws(prefix, e);
    if (p < e && *p == '{') {
        jsonrpc_id id = {0};
        if (scan_object_id(p, e, &id) == SCAN_BAD) {
            invalid(out, JSONRPC_PARSE_ERROR,
                    "Parse error: not JSON (and longer than the %zu-byte limit)", n);
            return;
        }
        if (id.len && raw_id_ok(id.text, id.len))
            set_id(out, id.text, id.len);
        invalid(out, JSONRPC_INVALID_REQUEST,
                "Invalid Request: the message is %zu bytes, over the limit of %zu", total, n);
        return;
    }
    if (p < e && (*p == '[' || *p == '"')) {
        invalid(out, JSONRPC_INVALID_REQUEST,
                "Invalid Request: the message is %zu bytes, over the limit of %zu", total, n);
        return;
    }
    invalid(out, JSONRPC_PARSE_ERROR, "Parse error: not JSON (and longer than the %zu-byte limit)",
            n);
}

void jsonrpc_read(const char *msg, size_t len, size_t max, jsonrpc_msg *out)
{
    if (len > max) {
        jsonrpc_read_prefix(msg, max, len, out);
        return;
    }
    memset(out, 0, sizeof *out);
    json_error_t je;
    /* An object with a key twice, at any depth, is refused: jansson would
     * keep the last value and another reader the first, so the server and
     * whatever logged, proxied or checked the message before it would act
     * on different messages ("method" or "name" twice, an "arguments" key
     * the schema saw once). RFC 8259 leaves such a text's meaning to the
     * reader; we decline to give it one, so it is -32700 Parse error (no
     * value was read at all, hence no Request object to call invalid, and
     * the id is null because which id it has is as ambiguous as the rest),
     * not -32600. */
    const size_t flags = JSON_DECODE_ANY | JSON_REJECT_DUPLICATES;
    json_t *root = json_loadb(msg, len, flags, &je);
    /* An integer beyond 64 bits is valid JSON (and a valid id): read the
     * numbers as doubles then; the id's exact digits come from the raw
     * text anyway. */
    if (!root && json_error_code(&je) == json_error_numeric_overflow)
        root = json_loadb(msg, len, flags | JSON_DECODE_INT_AS_REAL, &je);
    if (!root) {
        invalid(out, JSONRPC_PARSE_ERROR, "Parse error: %s at byte %d", je.text, je.position);
        return;
    }
    if (json_is_array(root)) {
        out->kind = JSONRPC_BATCH;
    } else {
        jsonrpc_classify(root, msg, len, out);
    }
    out->root = root;
}

void jsonrpc_classify(json_t *v, const char *raw, size_t raw_len, jsonrpc_msg *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(v)) {
        invalid(out, JSONRPC_INVALID_REQUEST, "Invalid Request: a message must be a JSON object");
        return;
    }
    json_t *id = json_object_get(v, "id");
    bool id_ok = false;
    if (id) {
        jsonrpc_id rid = {0};
        if (raw)
            scan_object_id(raw, raw + raw_len, &rid);
        if (json_is_string(id) || json_is_integer(id))
            id_ok = true;
        else if (json_is_real(id)) /* only an integer beyond 64 bits reads as real */
            id_ok = rid.len && raw_id_ok(rid.text, rid.len) && rid.text[0] != '"';
        if (id_ok && rid.len && raw_id_ok(rid.text, rid.len) && raw_id_is(&rid, id)) {
            set_id(out, rid.text, rid.len);
        } else if (id_ok) { /* the key was written with escapes: say it as jansson read it */
            char *s = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
            if (s)
                set_id(out, s, strlen(s));
            free(s);
        }
    }
    json_t *ver = json_object_get(v, "jsonrpc");
    if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0) {
        invalid(out, JSONRPC_INVALID_REQUEST, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        return;
    }
    json_t *method = json_object_get(v, "method");
    if (!method) {
        if (id && (json_object_get(v, "result") || json_object_get(v, "error"))) {
            out->kind = JSONRPC_RESPONSE;
            return;
        }
        invalid(out, JSONRPC_INVALID_REQUEST, "Invalid Request: no \"method\"");
        return;
    }
    if (!json_is_string(method)) {
        invalid(out, JSONRPC_INVALID_REQUEST, "Invalid Request: \"method\" must be a string");
        return;
    }
    if (id && !id_ok) {
        invalid(out, JSONRPC_INVALID_REQUEST,
                "Invalid Request: \"id\" must be a string or an integer (not null, a fraction "
                "or a boolean)");
        return;
    }
    json_t *params = json_object_get(v, "params");
    if (params && !json_is_object(params) && !json_is_array(params)) {
        invalid(out, JSONRPC_INVALID_REQUEST,
                "Invalid Request: \"params\" must be an object or an array");
        return;
    }
    out->method = json_string_value(method);
    out->params = params;
    out->kind = id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
}

void jsonrpc_msg_free(jsonrpc_msg *m)
{
    json_decref(m->root);
    free((char *)m->id.text);
    memset(m, 0, sizeof *m);
}

typedef struct dump_ctx {
    pm_buf *b;
    pm_err *err;
    pm_code rc;
} dump_ctx;

static int dump_cb(const char *buf, size_t n, void *data)
{
    dump_ctx *d = data;
    d->rc = pm_buf_append(d->b, buf, n, d->err);
    return d->rc == PM_OK ? 0 : -1;
}

static pm_code put_json(pm_buf *out, const json_t *v, pm_err *err)
{
    dump_ctx d = {out, err, PM_OK};
    if (json_dump_callback(v, dump_cb, &d, JSON_COMPACT | JSON_ENCODE_ANY) != 0 && d.rc == PM_OK)
        d.rc = pm_err_set(err, PM_ERR_INTERNAL, "cannot encode the response as JSON");
    return d.rc;
}

static pm_code put_head(pm_buf *out, jsonrpc_id id, pm_err *err)
{
    pm_code rc = pm_buf_puts(out, "{\"jsonrpc\":\"2.0\",\"id\":", err);
    if (rc == PM_OK)
        rc = id.len ? pm_buf_append(out, id.text, id.len, err) : pm_buf_puts(out, "null", err);
    return rc;
}

static pm_code rollback(pm_buf *out, size_t mark, pm_code rc)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = 0;
    return rc;
}

pm_code jsonrpc_write_result(pm_buf *out, jsonrpc_id id, const json_t *result, pm_err *err)
{
    size_t mark = out->len;
    pm_code rc = put_head(out, id, err);
    if (rc == PM_OK)
        rc = pm_buf_puts(out, ",\"result\":", err);
    if (rc == PM_OK)
        rc = put_json(out, result, err);
    if (rc == PM_OK)
        rc = pm_buf_putc(out, '}', err);
    return rc == PM_OK ? PM_OK : rollback(out, mark, rc);
}

pm_code jsonrpc_write_raw_result(pm_buf *out, jsonrpc_id id, const char *result, size_t len,
                                 pm_err *err)
{
    size_t mark = out->len;
    pm_code rc = put_head(out, id, err);
    if (rc == PM_OK)
        rc = pm_buf_puts(out, ",\"result\":", err);
    if (rc == PM_OK)
        rc = pm_buf_append(out, result, len, err);
    if (rc == PM_OK)
        rc = pm_buf_putc(out, '}', err);
    return rc == PM_OK ? PM_OK : rollback(out, mark, rc);
}

pm_code jsonrpc_write_error(pm_buf *out, jsonrpc_id id, int code, const char *message,
                            const json_t *data, pm_err *err)
{
    size_t mark = out->len;
    pm_code rc = put_head(out, id, err);
    if (rc == PM_OK)
        rc = pm_buf_printf(out, err, ",\"error\":{\"code\":%d,\"message\":", code);
    if (rc == PM_OK)
        rc = pm_buf_json_str(out, message, strlen(message), err);
    if (rc == PM_OK && data) {
        rc = pm_buf_puts(out, ",\"data\":", err);
        if (rc == PM_OK)
            rc = put_json(out, data, err);
    }
    if (rc == PM_OK)
        rc = pm_buf_puts(out, "}}", err);
    return rc == PM_OK ? PM_OK : rollback(out, mark, rc);
}
