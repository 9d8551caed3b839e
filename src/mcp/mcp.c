/* mcp.c - the MCP server's registry and methods: lifecycle, tools/list and
 * tools/call over the product's tool tables, resources (with
 * subscriptions) and prompts over its resource and prompt tables,
 * completion/complete and logging/setLevel (mcp.h says what is served and
 * how each failure is answered; session.c carries messages to and from a
 * client).
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
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "mcp/jsonrpc.h"
#include "core/jsonschema.h"
#include "mcp/mcp_int.h"

#define DEFAULT_PAGE 50
#define DEFAULT_MAX_MESSAGE (4u << 20)
#define CURSOR_PREFIX "pmc1."
#define MAX_COMPLETIONS 100

static const char *const protocol_versions[] = MCP_PROTOCOL_VERSIONS;
#define NVERSIONS (sizeof protocol_versions / sizeof protocol_versions[0])

static const char *const log_levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};
#define NLEVELS (sizeof log_levels / sizeof log_levels[0])

void mcp_reply_error(reply *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->code = code;
}
#define reply_error mcp_reply_error

const char *mcp_negotiate(const char *asked)
{
    for (size_t i = 0; i < NVERSIONS; i++)
        if (strcmp(asked, protocol_versions[i]) == 0)
            return protocol_versions[i];
    return protocol_versions[0];
}

const char *mcp_log_level_name(int level)
{
    return level >= 0 && (size_t)level < NLEVELS ? log_levels[level] : "info";
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
    s->started = time(NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->handler_mu, NULL);
    s->own = mcp_session_new(s);
    if (!s->own) {
        mcp_server_free(s);
        return NULL;
    }
    return s;
}

void mcp_server_free(mcp_server *s)
{
    if (!s)
        return;
    mcp_session_free(s->own);
    for (size_t i = 0; i < s->ntools; i++) {
        json_decref(s->tools[i].input);
        json_decref(s->tools[i].output);
    }
    free(s->tools);
    free(s->resources);
    free(s->prompts);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->handler_mu);
    free(s);
}

size_t mcp_server_max_message(const mcp_server *s)
{
    return s->info.max_message;
}
time_t mcp_server_started(const mcp_server *s)
{
    return s->started;
}
const char *mcp_server_protocol(const mcp_server *s)
{
    return mcp_session_protocol(s->own);
}
const char *mcp_server_client_name(const mcp_server *s)
{
    return mcp_session_client_name(s->own);
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
        reg_tool r = {t, ctx, parse_schema(t, "inputSchema", t->input_schema, err), NULL, {0}};
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
        s->completions |= r->complete != NULL;
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
        s->completions |= p->complete != NULL;
    }
    return PM_OK;
}

/* ---- methods ------------------------------------------------------------ */

/* The longest client name kept (clientInfo.name becomes part of audit
 * actors and log lines). */
#define CLIENT_NAME_MAX 64

/* clientInfo.name in a printable, bounded form (caller frees): printable
 * ASCII kept, anything else (a newline that would forge a log or audit
 * line, an escape sequence, an invisible or look-alike character) becomes
 * '_', cut at CLIENT_NAME_MAX bytes; NULL for an empty name. */
static char *client_name_clean(const char *name)
{
    size_t n = strlen(name);
    if (n > CLIENT_NAME_MAX)
        n = CLIENT_NAME_MAX;
    if (n == 0)
        return NULL;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '_';
    out[n] = '\0';
    return out;
}

static void m_initialize(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    mcp_server *s = ss->s;
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
    const char *name = json_string_value(json_object_get(ci, "name"));
    pthread_mutex_lock(&ss->mu);
    if (ss->initialized) {
        pthread_mutex_unlock(&ss->mu);
        reply_error(r, JSONRPC_INVALID_REQUEST, "Invalid Request: already initialized");
        return;
    }
    ss->protocol = mcp_negotiate(json_string_value(pv));
    if (name)
        ss->client_name = client_name_clean(name);
    ss->client_caps = caps ? json_incref(caps) : json_object();
    ss->initialized = true;
    pthread_mutex_unlock(&ss->mu);
    pm_info("mcp: client \"%s\" initialized, protocol %s (asked %s)", mcp_session_client_name(ss),
            ss->protocol, json_string_value(pv));

    json_t *info = json_pack("{s:s, s:s}", "name", s->info.name, "version", s->info.version);
    if (s->info.title)
        json_object_set_new(info, "title", json_string(s->info.title));
    json_t *caps_out = json_pack("{s:{s:b}, s:{}}", "tools", "listChanged", 0, "logging");
    if (s->nresources)
        json_object_set_new(caps_out, "resources",
                            json_pack("{s:b, s:b}", "subscribe", 1, "listChanged", 0));
    if (s->nprompts)
        json_object_set_new(caps_out, "prompts", json_pack("{s:b}", "listChanged", 0));
    if (s->completions)
        json_object_set_new(caps_out, "completions", json_object());
    r->result = json_pack("{s:s, s:o, s:o}", "protocolVersion", ss->protocol, "capabilities",
                          caps_out, "serverInfo", info);
    if (s->info.instructions)
        json_object_set_new(r->result, "instructions", json_string(s->info.instructions));
}

static void m_ping(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
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

json_t *mcp_server_tools_json(const mcp_server *s)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < s->ntools; i++)
        json_array_append_new(arr, tool_json(&s->tools[i]));
    return arr;
}

json_t *mcp_server_tool_stats(mcp_server *s)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->ntools; i++) {
        tool_stat st = s->tools[i].stat;
        json_array_append_new(
            arr, json_pack("{s:s, s:I, s:I, s:f, s:f}", "tool", s->tools[i].t->name, "calls",
                           (json_int_t)st.calls, "failures", (json_int_t)st.failures,
                           "failure_rate", st.calls ? (double)st.failures / (double)st.calls : 0.0,
                           "mean_ms", st.calls ? st.ms / (double)st.calls : 0.0));
    }
    pthread_mutex_unlock(&s->mu);
    return arr;
}

static void m_tools_list(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    mcp_server *s = ss->s;
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

/* Runs a product handler, one at a time when the product asked for it. */
static void handler_lock(mcp_server *s)
{
    if (s->info.serialize)
        pthread_mutex_lock(&s->handler_mu);
}
static void handler_unlock(mcp_server *s)
{
    if (s->info.serialize)
        pthread_mutex_unlock(&s->handler_mu);
}

/* {content: [the text], structuredContent, isError: false}, encoded once:
 * the structured content's JSON is both the text and the object. */
static char *encode_structured(const json_t *out)
{
    char *text = json_dumps(out, JSON_COMPACT);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    pm_buf b;
    pm_buf_init(&b, 4 * n + 4096); /* the text escaped (at most 2n), then n */
    pm_code rc = pm_buf_puts(&b, "{\"content\":[{\"type\":\"text\",\"text\":", NULL);
    if (!rc)
        rc = pm_buf_json_str(&b, text, n, NULL);
    if (!rc)
        rc = pm_buf_puts(&b, "}],\"structuredContent\":", NULL);
    if (!rc)
        rc = pm_buf_append(&b, text, n, NULL);
    if (!rc)
        rc = pm_buf_puts(&b, ",\"isError\":false}", NULL);
    free(text);
    if (rc) {
        pm_buf_free(&b);
        return NULL;
    }
    return b.data; /* the buffer's memory, NUL-ended */
}

static json_t *call_tool(mcp_session *ss, mcp_job *j, reg_tool *rt, json_t *params, json_t *args,
                         reply *r)
{
    const char *name = rt->t->name;
    char why[600];
    if (!jsonschema_check(rt->input, args, "argument", why, sizeof why)) {
        char msg[800];
        snprintf(msg, sizeof msg, "Invalid arguments for tool \"%s\": %s", name, why);
        return tool_error(msg);
    }
    mcp_call c;
    mcp_call_init(&c, ss, j, params);
    handler_lock(ss->s);
    json_t *out = rt->t->call(rt->ctx, args, &c);
    handler_unlock(ss->s);
    json_t *res = NULL;
    if (!out) {
        if (c.msg)
            res = tool_error(c.msg);
        else
            reply_error(r, JSONRPC_INTERNAL_ERROR, "Internal error: tool \"%s\" failed", name);
    } else if (!json_is_object(out)) {
        reply_error(r, JSONRPC_INTERNAL_ERROR,
                    "Internal error: tool \"%s\" returned no JSON object", name);
    } else if (rt->output && !jsonschema_check(rt->output, out, "result", why, sizeof why)) {
        /* A result that breaks the tool's own outputSchema is the server's
         * bug: say so rather than hand the client content it was promised
         * otherwise. */
        pm_error("mcp: tool \"%s\" broke its outputSchema: %s", name, why);
        reply_error(r, JSONRPC_INTERNAL_ERROR,
                    "Internal error: tool \"%s\" returned content that does not fit its "
                    "outputSchema (%s)",
                    name, why);
    } else if (json_array_size(c.content)) {
        res = json_pack("{s:O, s:b}", "content", c.content, "isError", 0);
        if (rt->output)
            json_object_set(res, "structuredContent", out);
    } else if (!(r->raw = encode_structured(out))) {
        reply_error(r, JSONRPC_INTERNAL_ERROR,
                    "Internal error: tool \"%s\" returned content that cannot be encoded", name);
    }
    json_decref(out);
    mcp_call_done(&c);
    return res;
}

static void m_tools_call(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    mcp_server *s = ss->s;
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name) {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Invalid params: tools/call needs \"name\", the tool's name (a string)");
        return;
    }
    reg_tool *rt = (reg_tool *)find_tool(s, name);
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
    double t0 = pm_clock_ms();
    r->result = call_tool(ss, j, rt, params, args, r);
    json_decref(own);
    double ms = pm_clock_ms() - t0;
    pthread_mutex_lock(&s->mu);
    rt->stat.calls++;
    rt->stat.ms += ms;
    if ((!r->result && !r->raw) || json_is_true(json_object_get(r->result, "isError")))
        rt->stat.failures++;
    pthread_mutex_unlock(&s->mu);
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

static void m_resources_list(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    list_resources(ss->s, params, r, false);
}

static void m_resources_templates_list(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    list_resources(ss->s, params, r, true);
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

static const char *need_uri(json_t *params, const char *method, reply *r)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    if (!uri)
        reply_error(r, JSONRPC_INVALID_PARAMS, "Invalid params: %s needs \"uri\" (a string)",
                    method);
    return uri;
}

static void m_resources_read(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    mcp_server *s = ss->s;
    const char *uri = need_uri(params, "resources/read", r);
    if (!uri)
        return;
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
    mcp_call c;
    mcp_call_init(&c, ss, j, params);
    handler_lock(s);
    char *text = rr->r->read(rr->ctx, uri, vars, &c);
    handler_unlock(s);
    json_decref(vars);
    if (!text) {
        if (c.not_found)
            not_found(r, uri, c.msg);
        else
            reply_error(r, JSONRPC_INTERNAL_ERROR, "Internal error: reading %.200s failed: %s", uri,
                        c.msg ? c.msg : "the reader gave no reason");
        mcp_call_done(&c);
        return;
    }
    mcp_call_done(&c);
    json_t *content = json_pack("{s:s, s:s}", "uri", uri, rr->r->blob ? "blob" : "text", text);
    set_opt(content, "mimeType", rr->r->mime_type);
    free(text);
    if (!content) {
        reply_error(r, JSONRPC_INTERNAL_ERROR,
                    "Internal error: the contents of %.200s are not UTF-8 text", uri);
        return;
    }
    r->result = json_pack("{s:[o]}", "contents", content);
}

static void subscribe(mcp_session *ss, json_t *params, reply *r, bool on)
{
    const char *uri = need_uri(params, on ? "resources/subscribe" : "resources/unsubscribe", r);
    if (!uri)
        return;
    pthread_mutex_lock(&ss->mu);
    if (on)
        json_object_set_new(ss->subs, uri, json_true());
    else
        json_object_del(ss->subs, uri);
    pthread_mutex_unlock(&ss->mu);
    r->result = json_object();
}

static void m_resources_subscribe(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    subscribe(ss, params, r, true);
}

static void m_resources_unsubscribe(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    subscribe(ss, params, r, false);
}

void mcp_server_resource_updated(mcp_server *s, const char *uri)
{
    json_t *msg = json_pack("{s:s, s:s, s:{s:s}}", "jsonrpc", "2.0", "method",
                            "notifications/resources/updated", "params", "uri", uri);
    pthread_mutex_lock(&s->mu);
    for (mcp_session *ss = s->sessions; ss; ss = ss->next) {
        /* sent under the session's lock: its stream cannot be taken away and
         * freed meanwhile */
        pthread_mutex_lock(&ss->mu);
        if (ss->has_stream && json_object_get(ss->subs, uri))
            mcp_send(ss, &ss->stream, msg);
        pthread_mutex_unlock(&ss->mu);
    }
    pthread_mutex_unlock(&s->mu);
    json_decref(msg);
}

/* ---- prompts ------------------------------------------------------------- */

static void m_prompts_list(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    mcp_server *s = ss->s;
    if (!no_cursor(params, r))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < s->nprompts; i++) {
        const mcp_prompt *p = s->prompts[i].p;
        json_t *o = json_pack("{s:s}", "name", p->name);
        set_opt(o, "title", p->title);
        set_opt(o, "description", p->description);
        json_t *args = json_array();
        for (size_t k = 0; k < MCP_PROMPT_MAX_ARGS && p->args[k].name; k++) {
            json_t *a =
                json_pack("{s:s, s:b}", "name", p->args[k].name, "required", p->args[k].required);
            set_opt(a, "description", p->args[k].description);
            json_array_append_new(args, a);
        }
        json_object_set_new(o, "arguments", args);
        json_array_append_new(arr, o);
    }
    r->result = json_pack("{s:o}", "prompts", arr);
}

static const mcp_prompt_arg *prompt_arg(const mcp_prompt *p, const char *name)
{
    for (size_t k = 0; k < MCP_PROMPT_MAX_ARGS && p->args[k].name; k++)
        if (strcmp(p->args[k].name, name) == 0)
            return &p->args[k];
    return NULL;
}

static void m_prompts_get(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    mcp_server *s = ss->s;
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
    for (size_t k = 0; k < MCP_PROMPT_MAX_ARGS && p->args[k].name; k++)
        if (p->args[k].required && !json_object_get(args, p->args[k].name)) {
            reply_error(r, JSONRPC_INVALID_PARAMS,
                        "Invalid params: prompt \"%s\" needs the argument \"%s\"", name,
                        p->args[k].name);
            return;
        }
    json_t *own = NULL;
    if (!json_is_object(args))
        args = own = json_object();
    mcp_call c;
    mcp_call_init(&c, ss, j, params);
    handler_lock(s);
    char *text = p->get(rp->ctx, args, &c);
    handler_unlock(s);
    json_decref(own);
    if (!text) {
        reply_error(r, c.msg ? JSONRPC_INVALID_PARAMS : JSONRPC_INTERNAL_ERROR, "%s%s",
                    c.msg ? "Invalid params: " : "Internal error: prompt failed",
                    c.msg ? c.msg : "");
        mcp_call_done(&c);
        return;
    }
    json_t *msgs = json_array();
    if (*text) {
        json_t *m = json_pack("{s:s, s:{s:s, s:s}}", "role", "user", "content", "type", "text",
                              "text", text);
        if (!m) {
            free(text);
            json_decref(msgs);
            mcp_call_done(&c);
            reply_error(r, JSONRPC_INTERNAL_ERROR, "Internal error: the prompt is not UTF-8 text");
            return;
        }
        json_array_append_new(msgs, m);
    }
    free(text);
    if (c.messages)
        json_array_extend(msgs, c.messages);
    mcp_call_done(&c);
    r->result = json_pack("{s:o}", "messages", msgs);
    set_opt(r->result, "description", p->description);
}

/* ---- completion, logging ------------------------------------------------- */

static void m_completion_complete(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    mcp_server *s = ss->s;
    json_t *ref = json_object_get(params, "ref");
    json_t *arg = json_object_get(params, "argument");
    const char *type = json_string_value(json_object_get(ref, "type"));
    const char *aname = json_string_value(json_object_get(arg, "name"));
    const char *value = json_string_value(json_object_get(arg, "value"));
    if (!type || !aname || !value) {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Invalid params: completion/complete needs \"ref\" {type, name|uri} and "
                    "\"argument\" {name, value} (strings)");
        return;
    }
    mcp_complete_fn fn = NULL;
    void *ctx = NULL;
    if (strcmp(type, "ref/prompt") == 0) {
        const char *name = json_string_value(json_object_get(ref, "name"));
        const reg_prompt *rp = name ? find_prompt(s, name) : NULL;
        if (!rp) {
            reply_error(r, JSONRPC_INVALID_PARAMS,
                        "Invalid params: no prompt \"%.200s\" (prompts/list names them)",
                        name ? name : "");
            return;
        }
        fn = rp->p->complete;
        ctx = rp->ctx;
    } else if (strcmp(type, "ref/resource") == 0) {
        const char *uri = json_string_value(json_object_get(ref, "uri"));
        const reg_resource *rr = NULL;
        for (size_t i = 0; uri && !rr && i < s->nresources; i++) {
            const mcp_resource *t = s->resources[i].r;
            if (strcmp(t->uri ? t->uri : t->uri_template, uri) == 0)
                rr = &s->resources[i];
        }
        if (!rr) {
            reply_error(r, JSONRPC_INVALID_PARAMS,
                        "Invalid params: no resource or template \"%.200s\" "
                        "(resources/templates/list names them)",
                        uri ? uri : "");
            return;
        }
        fn = rr->r->complete;
        ctx = rr->ctx;
    } else {
        reply_error(r, JSONRPC_INVALID_PARAMS,
                    "Invalid params: ref.type must be \"ref/prompt\" or \"ref/resource\"");
        return;
    }
    json_t *values = NULL;
    if (fn) {
        json_t *context = json_object_get(json_object_get(params, "context"), "arguments");
        json_t *own = json_is_object(context) ? NULL : json_object();
        mcp_call c;
        mcp_call_init(&c, ss, j, params);
        handler_lock(s);
        values = fn(ctx, aname, value, own ? own : context, &c);
        handler_unlock(s);
        json_decref(own);
        if (!values && c.msg) {
            reply_error(r, JSONRPC_INVALID_PARAMS, "Invalid params: %s", c.msg);
            mcp_call_done(&c);
            return;
        }
        mcp_call_done(&c);
    }
    if (!json_is_array(values)) {
        json_decref(values);
        values = json_array();
    }
    size_t total = json_array_size(values);
    while (json_array_size(values) > MAX_COMPLETIONS)
        json_array_remove(values, json_array_size(values) - 1);
    r->result = json_pack("{s:{s:o, s:I, s:b}}", "completion", "values", values, "total",
                          (json_int_t)total, "hasMore", total > MAX_COMPLETIONS);
}

static void m_logging_set_level(mcp_session *ss, mcp_job *j, json_t *params, reply *r)
{
    const char *level = json_string_value(json_object_get(params, "level"));
    for (size_t i = 0; level && i < NLEVELS; i++)
        if (strcmp(level, log_levels[i]) == 0) {
            pthread_mutex_lock(&ss->mu);
            ss->log_level = (int)i;
            pthread_mutex_unlock(&ss->mu);
            r->result = json_object();
            return;
        }
    reply_error(r, JSONRPC_INVALID_PARAMS,
                "Invalid params: \"level\" must be one of debug, info, notice, warning, error, "
                "critical, alert, emergency");
}

static const mcp_method methods[] = {
    {"initialize", true, true, m_initialize},
    {"ping", true, true, m_ping},
    {"tools/list", false, true, m_tools_list},
    {"tools/call", false, false, m_tools_call},
    {"resources/list", false, true, m_resources_list},
    {"resources/templates/list", false, true, m_resources_templates_list},
    {"resources/read", false, false, m_resources_read},
    {"resources/subscribe", false, true, m_resources_subscribe},
    {"resources/unsubscribe", false, true, m_resources_unsubscribe},
    {"prompts/list", false, true, m_prompts_list},
    {"prompts/get", false, false, m_prompts_get},
    {"completion/complete", false, false, m_completion_complete},
    {"logging/setLevel", false, true, m_logging_set_level},
};
#define NMETHODS (sizeof methods / sizeof methods[0])

const mcp_method *mcp_find_method(const char *name)
{
    for (size_t i = 0; i < NMETHODS; i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}
