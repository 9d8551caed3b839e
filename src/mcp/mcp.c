/* mcp.c - the MCP server: lifecycle, the method table, tools/list and
 * tools/call over the product's tool tables, resources and prompts over
 * its resource and prompt tables, and batches per revision
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
#define MCP_RESOURCE_NOT_FOUND (-32002)

static const char *const protocol_versions[] = MCP_PROTOCOL_VERSIONS;
#define NVERSIONS (sizeof protocol_versions / sizeof protocol_versions[0])

typedef struct reg_tool {
    const mcp_tool *t; /* borrowed from the product's table */
    void *ctx;
    json_t *input;  /* parsed inputSchema, owned */
    json_t *output; /* parsed outputSchema, owned (NULL: none) */
} reg_tool;

typedef struct reg_resource {
    const mcp_resource *r; /* borrowed from the product's table */
    void *ctx;
} reg_resource;

typedef struct reg_prompt {
    const mcp_prompt *p; /* borrowed from the product's table */
    void *ctx;
} reg_prompt;

struct mcp_server {
    mcp_server_info info;
    reg_tool *tools;
    size_t ntools, cap;
    reg_resource *resources;
    size_t nresources, rcap;
    reg_prompt *prompts;
    size_t nprompts, pcap;
    bool initialized;     /* initialize answered */
    bool client_ready;    /* notifications/initialized received */
    const char *protocol; /* one of protocol_versions, NULL before initialize */
    char *client_name;
};

struct mcp_call {
    mcp_server *s;
    char *msg;      /* owned; set by mcp_call_fail */
    bool not_found; /* set by mcp_call_not_found */
};

/* What a method handler answers: a result (owned), or an error code with
 * its message. */
typedef struct reply {
    json_t *result;
    int code;
    char msg[512];
    json_t *data; /* the error's data, owned; may be NULL */
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
    free(s->resources);
    free(s->prompts);
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

/* Grows *p (of *cap elements of size) to hold one more than n. */
static bool grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, c * size);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static const reg_resource *find_static_resource(const mcp_server *s, const char *uri)
{
    for (size_t i = 0; i < s->nresources; i++)
        if (s->resources[i].r->uri && strcmp(s->resources[i].r->uri, uri) == 0)
            return &s->resources[i];
    return NULL;
}

pm_code mcp_server_add_resources(mcp_server *s, const mcp_resource *res, size_t n, void *ctx,
                                 pm_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const mcp_resource *r = &res[i];
        if (!r->name || !*r->name || !r->read || !r->uri == !r->uri_template)
            return pm_err_set(err, PM_ERR_CONFIG,
                              "resource %zu: a name, a reader and exactly one of a uri and a "
                              "uri template are required",
                              i);
        if (r->uri && find_static_resource(s, r->uri))
            return pm_err_set(err, PM_ERR_CONFIG, "resource \"%s\" is registered twice", r->uri);
        if (!grow((void **)&s->resources, &s->rcap, s->nresources, sizeof *s->resources))
            return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        s->resources[s->nresources++] = (reg_resource){r, ctx};
    }
    return PM_OK;
}

static const reg_prompt *find_prompt(const mcp_server *s, const char *name)
{
    for (size_t i = 0; i < s->nprompts; i++)
        if (strcmp(s->prompts[i].p->name, name) == 0)
            return &s->prompts[i];
    return NULL;
}

pm_code mcp_server_add_prompts(mcp_server *s, const mcp_prompt *prompts, size_t n, void *ctx,
                               pm_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const mcp_prompt *p = &prompts[i];
        if (!p->name || !*p->name || !p->get)
            return pm_err_set(err, PM_ERR_CONFIG, "prompt %zu: a name and a handler are required",
                              i);
        if (find_prompt(s, p->name))
            return pm_err_set(err, PM_ERR_CONFIG, "prompt \"%s\" is registered twice", p->name);
        if (!grow((void **)&s->prompts, &s->pcap, s->nprompts, sizeof *s->prompts))
            return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        s->prompts[s->nprompts++] = (reg_prompt){p, ctx};
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

void mcp_call_not_found(mcp_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    free(c->msg);
    c->msg = m ? m : strdup("resource not found");
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
    json_t *caps_out = json_pack("{s:{s:b}}", "tools", "listChanged", 0);
    if (s->nresources)
        json_object_set_new(caps_out, "resources", json_object());
    if (s->nprompts)
        json_object_set_new(caps_out, "prompts", json_object());
    r->result = json_pack("{s:s, s:o, s:o}", "protocolVersion", s->protocol, "capabilities",
                          caps_out, "serverInfo", info);
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
    mcp_call c = {s, NULL, false};
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

/* ---- resources ------------------------------------------------------------ */

/* The lists come whole: a cursor can only be one this server never gave. */
static bool no_cursor(json_t *params, reply *r)
{
    json_t *cur = json_object_get(params, "cursor");
    if (!cur || json_is_null(cur))
        return true;
    reply_error(r, JSONRPC_INVALID_PARAMS,
                "Invalid params: unknown cursor (this list comes in one page; send none)");
    return false;
}

static void set_opt(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static json_t *resource_json(const mcp_resource *r)
{
    json_t *o = r->uri ? json_pack("{s:s}", "uri", r->uri)
                       : json_pack("{s:s}", "uriTemplate", r->uri_template);
    json_object_set_new(o, "name", json_string(r->name));
    set_opt(o, "title", r->title);
    set_opt(o, "description", r->description);
    set_opt(o, "mimeType", r->mime_type);
    return o;
}

static void list_resources(mcp_server *s, json_t *params, reply *r, bool templates)
{
    if (!no_cursor(params, r))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < s->nresources; i++)
        if (!s->resources[i].r->uri == templates)
            json_array_append_new(arr, resource_json(s->resources[i].r));
    r->result = json_pack("{s:o}", templates ? "resourceTemplates" : "resources", arr);
}

static void m_resources_list(mcp_server *s, json_t *params, reply *r)
{
    list_resources(s, params, r, false);
}

static void m_resources_templates_list(mcp_server *s, json_t *params, reply *r)
{
    list_resources(s, params, r, true);
}

/* Matches uri against a template of literal text and {var} parts; each
 * var takes one or more characters up to the template's next literal
 * character and never a '/'. On a match, vars holds each var's value. */
static bool template_match(const char *tpl, const char *uri, json_t *vars)
{
    while (*tpl) {
        if (*tpl != '{') {
            if (*tpl++ != *uri++)
                return false;
            continue;
        }
        const char *close = strchr(tpl, '}');
        if (!close || close == tpl + 1)
            return false;
        char stop = close[1]; /* 0: the var runs to the end */
        size_t n = 0;
        while (uri[n] && uri[n] != '/' && uri[n] != stop)
            n++;
        if (!n || (!stop && uri[n]))
            return false;
        char name[64], *val = strndup(uri, n);
        snprintf(name, sizeof name, "%.*s", (int)(close - tpl - 1), tpl + 1);
        json_object_set_new(vars, name, json_string(val ? val : ""));
        free(val);
        tpl = close + 1;
        uri += n;
    }
    return *uri == 0;
}

static void not_found(reply *r, const char *uri, const char *why)
{
    reply_error(r, MCP_RESOURCE_NOT_FOUND, "Resource not found: %s", why);
    r->data = json_pack("{s:s}", "uri", uri);
}

static void m_resources_read(mcp_server *s, json_t *params, reply *r)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    if (!uri) {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Invalid params: resources/read needs \"uri\" (a string)");
        return;
    }
    const reg_resource *rr = find_static_resource(s, uri);
    json_t *vars = json_object();
    for (size_t i = 0; !rr && i < s->nresources; i++) {
        const mcp_resource *t = s->resources[i].r;
        json_object_clear(vars);
        if (t->uri_template && template_match(t->uri_template, uri, vars))
            rr = &s->resources[i];
    }
    if (!rr) {
        json_decref(vars);
        char why[400];
        snprintf(why, sizeof why,
                 "no resource has the uri \"%.300s\" (resources/list and "
                 "resources/templates/list name them)",
                 uri);
        not_found(r, uri, why);
        return;
    }
    mcp_call c = {s, NULL, false};
    char *text = rr->r->read(rr->ctx, uri, vars, &c);
    json_decref(vars);
    if (!text) {
        if (c.not_found)
            not_found(r, uri, c.msg);
        else
            reply_error(r, JSONRPC_INTERNAL_ERROR, "Internal error: reading %.200s failed: %s", uri,
                        c.msg ? c.msg : "the reader gave no reason");
        free(c.msg);
        return;
    }
    free(c.msg);
    json_t *content = json_pack("{s:s, s:s}", "uri", uri, "text", text);
    set_opt(content, "mimeType", rr->r->mime_type);
    free(text);
    if (!content) {
        reply_error(r, JSONRPC_INTERNAL_ERROR,
                    "Internal error: the contents of %.200s are not UTF-8 text", uri);
        return;
    }
    r->result = json_pack("{s:[o]}", "contents", content);
}

/* ---- prompts ------------------------------------------------------------- */

static void m_prompts_list(mcp_server *s, json_t *params, reply *r)
{
    if (!no_cursor(params, r))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < s->nprompts; i++) {
        const mcp_prompt *p = s->prompts[i].p;
        json_t *o = json_pack("{s:s}", "name", p->name);
        set_opt(o, "title", p->title);
        set_opt(o, "description", p->description);
        json_t *args = json_array();
        for (size_t j = 0; j < MCP_PROMPT_MAX_ARGS && p->args[j].name; j++) {
            json_t *a =
                json_pack("{s:s, s:b}", "name", p->args[j].name, "required", p->args[j].required);
            set_opt(a, "description", p->args[j].description);
            json_array_append_new(args, a);
        }
        json_object_set_new(o, "arguments", args);
        json_array_append_new(arr, o);
    }
    r->result = json_pack("{s:o}", "prompts", arr);
}

static const mcp_prompt_arg *prompt_arg(const mcp_prompt *p, const char *name)
{
    for (size_t j = 0; j < MCP_PROMPT_MAX_ARGS && p->args[j].name; j++)
        if (strcmp(p->args[j].name, name) == 0)
            return &p->args[j];
    return NULL;
}

static void m_prompts_get(mcp_server *s, json_t *params, reply *r)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name) {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Invalid params: prompts/get needs \"name\", the prompt's name (a string)");
        return;
    }
    const reg_prompt *rp = find_prompt(s, name);
    if (!rp) {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Unknown prompt: \"%.200s\" (prompts/list names them)", name);
        return;
    }
    const mcp_prompt *p = rp->p;
    json_t *args = json_object_get(params, "arguments");
    if (args && !json_is_object(args) && !json_is_null(args)) {
        reply_error(r, JSONRPC_INVALID_PARAMS, "Invalid params: \"arguments\" must be an object");
        return;
    }
    json_t *given = json_is_object(args) ? args : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(given, key, v)
    {
        if (!prompt_arg(p, key)) {
            reply_error(r, JSONRPC_INVALID_PARAMS,
                        "Invalid params: prompt \"%s\" has no argument \"%.100s\"", name, key);
            return;
        }
        if (!json_is_string(v)) {
            reply_error(r, JSONRPC_INVALID_PARAMS,
                        "Invalid params: argument \"%.100s\" of prompt \"%s\" must be a string",
                        key, name);
            return;
        }
    }
    for (size_t j = 0; j < MCP_PROMPT_MAX_ARGS && p->args[j].name; j++)
        if (p->args[j].required && !json_object_get(args, p->args[j].name)) {
            reply_error(r, JSONRPC_INVALID_PARAMS,
                        "Invalid params: prompt \"%s\" needs the argument \"%s\"", name,
                        p->args[j].name);
            return;
        }
    json_t *own = NULL;
    if (!json_is_object(args))
        args = own = json_object();
    mcp_call c = {s, NULL, false};
    char *text = p->get(rp->ctx, args, &c);
    json_decref(own);
    if (!text) {
        reply_error(r, c.msg ? JSONRPC_INVALID_PARAMS : JSONRPC_INTERNAL_ERROR, "%s%s",
                    c.msg ? "Invalid params: " : "Internal error: prompt failed",
                    c.msg ? c.msg : "");
        free(c.msg);
        return;
    }
    free(c.msg);
    json_t *msg =
        json_pack("{s:s, s:{s:s, s:s}}", "role", "user", "content", "type", "text", "text", text);
    free(text);
    if (!msg) {
        reply_error(r, JSONRPC_INTERNAL_ERROR, "Internal error: the prompt is not UTF-8 text");
        return;
    }
    r->result = json_pack("{s:[o]}", "messages", msg);
    set_opt(r->result, "description", p->description);
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
    {"resources/list", false, m_resources_list},
    {"resources/templates/list", false, m_resources_templates_list},
    {"resources/read", false, m_resources_read},
    {"prompts/list", false, m_prompts_list},
    {"prompts/get", false, m_prompts_get},
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
