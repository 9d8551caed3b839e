/* mcp.c - the MCP server: lifecycle, the method table, tools/list and
 * tools/call over the product's tool tables, and batches per revision
 * (mcp.h says what is served and how each failure is answered).
 *
 * Failures at the protocol level (a malformed request, an unknown tool or
 * cursor) are JSON-RPC errors with the spec's codes; failures a model can
 * fix (arguments that do not fit the input schema, a tool that could not do
 * its job) are tool results with isError: true and a message, as MCP
 * 2025-11-25 asks, so that the model sees them and tries again. */
#include "mcp/mcp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "mcp/jsonrpc.h"
#include "mcp/jsonschema.h"

#define DEFAULT_PAGE 50
#define DEFAULT_MAX_MESSAGE (4u << 20)
#define CURSOR_PREFIX "pmc1."

static const char *const protocol_versions[] = MCP_PROTOCOL_VERSIONS;
#define NVERSIONS (sizeof protocol_versions / sizeof protocol_versions[0])

typedef struct reg_tool {
    const mcp_tool *t; /* borrowed from the product's table */
    void *ctx;
    json_t *input;  /* parsed inputSchema, owned */
    json_t *output; /* parsed outputSchema, owned (NULL: none) */
} reg_tool;

struct mcp_server {
    mcp_server_info info;
    reg_tool *tools;
    size_t ntools, cap;
    bool initialized;     /* initialize answered */
    bool client_ready;    /* notifications/initialized received */
    const char *protocol; /* one of protocol_versions, NULL before initialize */
    char *client_name;
};

struct mcp_call {
    mcp_server *s;
    char *msg; /* owned; set by mcp_call_fail */
};

/* What a method handler answers: a result (owned), or an error code with
 * its message. */
typedef struct reply {
    json_t *result;
    int code;
    char msg[512];
} reply;

static void reply_error(reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(reply *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->code = code;
}

mcp_server *mcp_server_new(const mcp_server_info *info)
{
    mcp_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->info = *info;
    if (!s->info.page_size)
        s->info.page_size = DEFAULT_PAGE;
    if (!s->info.max_message)
        s->info.max_message = DEFAULT_MAX_MESSAGE;
    return s;
}

void mcp_server_free(mcp_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ntools; i++) {
        json_decref(s->tools[i].input);
        json_decref(s->tools[i].output);
    }
    free(s->tools);
    free(s->client_name);
    free(s);
}

size_t mcp_server_max_message(const mcp_server *s)
{
    return s->info.max_message;
}
const char *mcp_server_protocol(const mcp_server *s)
{
    return s->protocol;
}
const char *mcp_server_client_name(const mcp_server *s)
{
    return s->client_name ? s->client_name : "unknown";
}

static const reg_tool *find_tool(const mcp_server *s, const char *name)
{
    for (size_t i = 0; i < s->ntools; i++)
        if (strcmp(s->tools[i].t->name, name) == 0)
            return &s->tools[i];
    return NULL;
}

static json_t *parse_schema(const mcp_tool *t, const char *which, const char *text, pm_err *err)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!json_is_object(v)) {
        json_decref(v);
        pm_err_set(err, PM_ERR_CONFIG, "tool \"%s\": its %s is not a JSON object", t->name, which);
        if (!v)
            pm_err_detail(err, "%s at line %d", je.text, je.line);
        return NULL;
    }
    return v;
}

pm_code mcp_server_add_tools(mcp_server *s, const mcp_tool *tools, size_t n, void *ctx, pm_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const mcp_tool *t = &tools[i];
        if (!t->name || !*t->name || !t->call || !t->input_schema)
            return pm_err_set(err, PM_ERR_CONFIG,
                              "tool %zu: a name, a handler and an input "
                              "schema are required",
                              i);
        if (find_tool(s, t->name))
            return pm_err_set(err, PM_ERR_CONFIG, "tool \"%s\" is registered twice", t->name);
        reg_tool r = {t, ctx, parse_schema(t, "inputSchema", t->input_schema, err), NULL};
        if (!r.input)
            return err ? err->code : PM_ERR_CONFIG;
        if (t->output_schema &&
            !(r.output = parse_schema(t, "outputSchema", t->output_schema, err))) {
            json_decref(r.input);
            return err ? err->code : PM_ERR_CONFIG;
        }
        if (s->ntools == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            reg_tool *p = realloc(s->tools, cap * sizeof *p);
            if (!p) {
                json_decref(r.input);
                json_decref(r.output);
                return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
            }
            s->tools = p;
            s->cap = cap;
        }
        s->tools[s->ntools++] = r;
    }
    return PM_OK;
}

/* ---- calls ------------------------------------------------------------ */

void mcp_call_fail(mcp_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    free(c->msg);
    c->msg = m ? m : strdup("the tool failed");
}

void mcp_call_fail_err(mcp_call *c, const pm_err *err)
{
    mcp_call_fail(c, "%s%s%s%s%s", err->msg[0] ? err->msg : pm_code_text(err->code),
                  err->detail[0] ? "; detail: " : "", err->detail, err->hint[0] ? "; hint: " : "",
                  err->hint);
}

const char *mcp_call_client_name(const mcp_call *c)
{
    return mcp_server_client_name(c->s);
}

/* ---- methods ------------------------------------------------------------ */

static void m_initialize(mcp_server *s, json_t *params, reply *r)
{
    if (s->initialized) {
        reply_error(r, JSONRPC_INVALID_REQUEST, "Invalid Request: already initialized");
        return;
    }
    json_t *pv = json_object_get(params, "protocolVersion");
    if (!json_is_string(pv)) {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Invalid params: initialize needs \"protocolVersion\" (a string)");
        return;
    }
    json_t *ci = json_object_get(params, "clientInfo");
    json_t *caps = json_object_get(params, "capabilities");
    if ((ci && !json_is_object(ci)) || (caps && !json_is_object(caps))) {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Invalid params: \"clientInfo\" and \"capabilities\" must be objects");
        return;
    }
    s->protocol = protocol_versions[0];
    for (size_t i = 0; i < NVERSIONS; i++)
        if (strcmp(json_string_value(pv), protocol_versions[i]) == 0)
            s->protocol = protocol_versions[i];
    const char *name = json_string_value(json_object_get(ci, "name"));
    if (name)
        s->client_name = strdup(name);
    s->initialized = true;
    pm_info("mcp: client \"%s\" initialized, protocol %s (asked %s)", mcp_server_client_name(s),
            s->protocol, json_string_value(pv));

    json_t *info = json_pack("{s:s, s:s}", "name", s->info.name, "version", s->info.version);
    if (s->info.title)
        json_object_set_new(info, "title", json_string(s->info.title));
    r->result = json_pack("{s:s, s:{s:{s:b}}, s:o}", "protocolVersion", s->protocol, "capabilities",
                          "tools", "listChanged", 0, "serverInfo", info);
    if (s->info.instructions)
        json_object_set_new(r->result, "instructions", json_string(s->info.instructions));
}

static void m_ping(mcp_server *s, json_t *params, reply *r)
{
    r->result = json_object();
}

static json_t *tool_json(const reg_tool *rt)
{
    const mcp_tool *t = rt->t;
    json_t *o = json_pack("{s:s}", "name", t->name);
    if (t->title)
        json_object_set_new(o, "title", json_string(t->title));
    if (t->description)
        json_object_set_new(o, "description", json_string(t->description));
    json_object_set(o, "inputSchema", rt->input);
    if (rt->output)
        json_object_set(o, "outputSchema", rt->output);
    json_t *a = json_pack("{s:b, s:b, s:b, s:b}", "readOnlyHint", t->hints.read_only,
                          "destructiveHint", t->hints.destructive, "idempotentHint",
                          t->hints.idempotent, "openWorldHint", t->hints.open_world);
    if (t->title)
        json_object_set_new(a, "title", json_string(t->title));
    json_object_set_new(o, "annotations", a);
    return o;
}

static void m_tools_list(mcp_server *s, json_t *params, reply *r)
{
    size_t off = 0;
    json_t *cur = json_object_get(params, "cursor");
    if (cur && !json_is_null(cur)) {
        const char *c = json_string_value(cur);
        char *end = NULL;
        unsigned long long v = 0;
        size_t pl = strlen(CURSOR_PREFIX);
        if (c && strncmp(c, CURSOR_PREFIX, pl) == 0 && c[pl])
            v = strtoull(c + pl, &end, 16);
        if (!end || *end || v == 0 || v >= s->ntools) {
            reply_error(r, JSONRPC_INVALID_PARAMS,
                        "Invalid params: unknown cursor (use the nextCursor of the last page, "
                        "or none for the first)");
            return;
        }
        off = (size_t)v;
    }
    json_t *arr = json_array();
    size_t end = off + s->info.page_size < s->ntools ? off + s->info.page_size : s->ntools;
    for (size_t i = off; i < end; i++)
        json_array_append_new(arr, tool_json(&s->tools[i]));
    r->result = json_pack("{s:o}", "tools", arr);
    if (end < s->ntools) {
        char next[40];
        snprintf(next, sizeof next, CURSOR_PREFIX "%zx", end);
        json_object_set_new(r->result, "nextCursor", json_string(next));
    }
}

static json_t *tool_error(const char *msg)
{
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", msg, "isError", 1);
}

static void m_tools_call(mcp_server *s, json_t *params, reply *r)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name) {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Invalid params: tools/call needs \"name\", the tool's name (a string)");
        return;
    }
    const reg_tool *rt = find_tool(s, name);
    if (!rt) {
        reply_error(r, JSONRPC_INVALID_PARAMS, "Unknown tool: \"%s\" (tools/list names them)",
                    name);
        return;
    }
    json_t *args = json_object_get(params, "arguments");
    if (args && !json_is_object(args) && !json_is_null(args)) {
        reply_error(r, JSONRPC_INVALID_PARAMS, "Invalid params: \"arguments\" must be an object");
        return;
    }
    json_t *own = NULL;
    if (!json_is_object(args))
        args = own = json_object();
    char why[600];
    if (!jsonschema_check(rt->input, args, "argument", why, sizeof why)) {
        char msg[800];
        snprintf(msg, sizeof msg, "Invalid arguments for tool \"%s\": %s", name, why);
        r->result = tool_error(msg);
        json_decref(own);
        return;
    }
    mcp_call c = {s, NULL};
    json_t *out = rt->t->call(rt->ctx, args, &c);
    json_decref(own);
    if (!out) {
        if (c.msg)
            r->result = tool_error(c.msg);
        else
            reply_error(r, JSONRPC_INTERNAL_ERROR, "Internal error: tool \"%s\" failed", name);
        free(c.msg);
        return;
    }
    free(c.msg);
    if (!json_is_object(out)) {
        json_decref(out);
        reply_error(r, JSONRPC_INTERNAL_ERROR,
                    "Internal error: tool \"%s\" returned no JSON object", name);
        return;
    }
    /* A result that breaks the tool's own outputSchema is the server's bug:
     * say so rather than hand the client content it was promised otherwise. */
    if (rt->output && !jsonschema_check(rt->output, out, "result", why, sizeof why)) {
        pm_error("mcp: tool \"%s\" broke its outputSchema: %s", name, why);
        json_decref(out);
        reply_error(r, JSONRPC_INTERNAL_ERROR,
                    "Internal error: tool \"%s\" returned content that does not fit its "
                    "outputSchema (%s)",
                    name, why);
        return;
    }
    char *text = json_dumps(out, JSON_COMPACT);
    r->result = json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text",
                          text ? text : "{}", "structuredContent", out, "isError", 0);
    free(text);
}

typedef struct method {
    const char *name;
    bool before_init; /* served before initialize */
    void (*fn)(mcp_server *s, json_t *params, reply *r);
} method;

static const method methods[] = {
    {"initialize", true, m_initialize},
    {"ping", true, m_ping},
    {"tools/list", false, m_tools_list},
    {"tools/call", false, m_tools_call},
};
#define NMETHODS (sizeof methods / sizeof methods[0])

/* ---- dispatch ------------------------------------------------------------ */

/* Writes the error, or when even an error does not fit... nothing. */
static pm_code send_error(pm_buf *out, jsonrpc_id id, int code, const char *msg)
{
    return jsonrpc_write_error(out, id, code, msg, NULL, NULL);
}

static void notification(mcp_server *s, const jsonrpc_msg *m)
{
    if (strcmp(m->method, "notifications/initialized") == 0)
        s->client_ready = true;
    else
        pm_debug("mcp: notification %s ignored", m->method);
}

static pm_code handle_one(mcp_server *s, jsonrpc_msg *m, bool in_batch, pm_buf *out)
{
    switch (m->kind) {
    case JSONRPC_RESPONSE:
        return PM_OK; /* this server sends no requests yet: nothing awaits it */
    case JSONRPC_NOTIFICATION:
        notification(s, m);
        return PM_OK;
    case JSONRPC_INVALID:
        return send_error(out, m->id, m->error_code, m->error_msg);
    case JSONRPC_BATCH:
        return send_error(out, m->id, JSONRPC_INVALID_REQUEST,
                          "Invalid Request: batches do not nest");
    case JSONRPC_REQUEST:
        break;
    }
    const method *md = NULL;
    for (size_t i = 0; i < NMETHODS; i++)
        if (strcmp(methods[i].name, m->method) == 0)
            md = &methods[i];
    if (!md) {
        char msg[300];
        snprintf(msg, sizeof msg, "Method not found: %.200s", m->method);
        return send_error(out, m->id, JSONRPC_METHOD_NOT_FOUND, msg);
    }
    if (!md->before_init && !s->initialized)
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
    md->fn(s, params, &r);
    json_decref(empty);
    pm_code rc;
    if (r.result) {
        pm_err err;
        rc = jsonrpc_write_result(out, m->id, r.result, &err);
        json_decref(r.result);
        if (rc == PM_ERR_LIMIT)
            rc = send_error(out, m->id, JSONRPC_INTERNAL_ERROR,
                            "Internal error: the response is larger than this transport allows");
    } else {
        rc = send_error(out, m->id, r.code ? r.code : JSONRPC_INTERNAL_ERROR,
                        r.msg[0] ? r.msg : "Internal error");
    }
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

static pm_code handle_batch(mcp_server *s, const char *msg, size_t len, json_t *root, pm_buf *out)
{
    jsonrpc_id null_id = {0};
    if (!s->protocol || strcmp(s->protocol, "2025-03-26") != 0) {
        char m[200];
        snprintf(m, sizeof m,
                 "Invalid Request: JSON-RPC batches are not part of MCP %s; send one message "
                 "at a time",
                 s->protocol ? s->protocol : MCP_PROTOCOL_LATEST);
        return send_error(out, null_id, JSONRPC_INVALID_REQUEST, m);
    }
    size_t n = json_array_size(root);
    if (!n)
        return send_error(out, null_id, JSONRPC_INVALID_REQUEST, "Invalid Request: empty batch");
    spans sp = {calloc(n, sizeof *sp.p), calloc(n, sizeof *sp.n), n};
    if (!sp.p || !sp.n) {
        free(sp.p);
        free(sp.n);
        return send_error(out, null_id, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
    }
    jsonrpc_array_elements(msg, len, span_cb, &sp);
    size_t mark = out->len;
    bool any = false;
    pm_code rc = pm_buf_putc(out, '[', NULL);
    for (size_t i = 0; i < n && rc == PM_OK; i++) {
        jsonrpc_msg m;
        jsonrpc_classify(json_array_get(root, i), sp.p[i], sp.n[i], &m);
        size_t before = out->len;
        if (any)
            rc = pm_buf_putc(out, ',', NULL);
        size_t after_comma = out->len;
        if (rc == PM_OK)
            rc = handle_one(s, &m, true, out);
        if (out->len == after_comma) { /* nothing answered: drop the comma */
            out->len = before;
            if (out->data)
                out->data[before] = 0;
        } else {
            any = true;
        }
        jsonrpc_msg_free(&m);
    }
    if (rc == PM_OK && any)
        rc = pm_buf_putc(out, ']', NULL);
    free(sp.p);
    free(sp.n);
    if (rc != PM_OK || !any) {
        out->len = mark;
        if (out->data)
            out->data[mark] = 0;
    }
    if (rc != PM_OK)
        return send_error(out, null_id, JSONRPC_INTERNAL_ERROR,
                          "Internal error: the batch's responses are larger than this transport "
                          "allows");
    return PM_OK;
}

pm_code mcp_handle(mcp_server *s, const char *msg, size_t len, pm_buf *out)
{
    jsonrpc_msg m;
    jsonrpc_read(msg, len, s->info.max_message, &m);
    pm_code rc = m.kind == JSONRPC_BATCH ? handle_batch(s, msg, len, m.root, out)
                                         : handle_one(s, &m, false, out);
    jsonrpc_msg_free(&m);
    return rc;
}

pm_code mcp_handle_oversized(mcp_server *s, const char *prefix, size_t n, size_t total, pm_buf *out)
{
    jsonrpc_msg m;
    jsonrpc_read_prefix(prefix, n, total, &m);
    pm_code rc = handle_one(s, &m, false, out);
    jsonrpc_msg_free(&m);
    return rc;
}
