/* serve_mcp.c - the tools as an MCP server (serve_mcp.h). The MCP tables
 * are made from the tools' at start: one row per tool, resource and prompt,
 * each registered with its own binding so that one trampoline serves all. */
#include "daemon/serve_mcp.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/arena.h"

/* A row of the tools' tables and the server it serves in. */
typedef struct binding {
    serve_mcp *m;
    const tool_def *tool;
    const tool_resource *resource;
    const tool_prompt *prompt;
} binding;

struct serve_mcp {
    tools_ctx *t;
    mcp_server *server;
    mcp_tool *tools;
    mcp_resource *resources;
    mcp_prompt *prompts;
    binding *bindings;
};

/* ---- a tool_call answered over MCP --------------------------------------- */

static void call_fail(void *face, const char *msg)
{
    mcp_call_fail(face, "%s", msg);
}

static void call_not_found(void *face, const char *msg)
{
    mcp_call_not_found(face, "%s", msg);
}

static bool call_cancelled(void *face)
{
    return mcp_call_cancelled(face);
}

static void call_progress(void *face, double done, double total, const char *msg)
{
    mcp_call_progress(face, done, total, msg);
}

static void call_log(void *face, tools_log_level level, const char *msg)
{
    static const mcp_log_level levels[] = {[TOOLS_LOG_DEBUG] = MCP_LOG_DEBUG,
                                           [TOOLS_LOG_INFO] = MCP_LOG_INFO,
                                           [TOOLS_LOG_NOTICE] = MCP_LOG_NOTICE,
                                           [TOOLS_LOG_WARNING] = MCP_LOG_WARNING,
                                           [TOOLS_LOG_ERROR] = MCP_LOG_ERROR};
    mcp_call_logf(face, levels[level], "pipemend", "%s", msg);
}

static void call_message(void *face, const char *role, json_t *content)
{
    mcp_call_message(face, role, content);
}

static const tool_call_ops mcp_call_ops = {
    .fail = call_fail,
    .not_found = call_not_found,
    .cancelled = call_cancelled,
    .progress = call_progress,
    .log = call_log,
    .message = call_message,
};

/* Longest client name kept in an actor ("agent:" + name). */
#define ACTOR_MAX 200

static tool_call call_of(mcp_call *mc, char actor[ACTOR_MAX])
{
    const char *name = mcp_call_client_name(mc);
    snprintf(actor, ACTOR_MAX, "agent:%s", name && *name ? name : "unknown");
    return (tool_call){.ops = &mcp_call_ops, .face = mc, .actor = actor};
}

/* ---- the trampolines ---------------------------------------------------------- */

static json_t *tool_trampoline(void *ctx, json_t *args, mcp_call *mc)
{
    binding *b = ctx;
    char actor[ACTOR_MAX];
    tool_call c = call_of(mc, actor);
    return b->tool->call(b->m->t, args, &c);
}

static char *resource_trampoline(void *ctx, const char *uri, json_t *vars, mcp_call *mc)
{
    binding *b = ctx;
    char actor[ACTOR_MAX];
    tool_call c = call_of(mc, actor);
    return b->resource->read(b->m->t, uri, vars, &c);
}

static json_t *complete_trampoline(void *ctx, const char *arg, const char *value, json_t *context,
                                   mcp_call *mc)
{
    binding *b = ctx;
    char actor[ACTOR_MAX];
    tool_call c = call_of(mc, actor);
    tool_complete_fn fn = b->resource ? b->resource->complete : b->prompt->complete;
    return fn(b->m->t, arg, value, context, &c);
}

static char *prompt_trampoline(void *ctx, json_t *args, mcp_call *mc)
{
    binding *b = ctx;
    char actor[ACTOR_MAX];
    tool_call c = call_of(mc, actor);
    return b->prompt->get(b->m->t, args, &c);
}

/* ---- what the tools may tell the face ----------------------------------------- */

static void on_changed(void *face, const char *uri)
{
    serve_mcp *m = face;
    mcp_server_resource_updated(m->server, uri);
}

static json_t *on_call_stats(void *face, time_t *since)
{
    serve_mcp *m = face;
    *since = mcp_server_started(m->server);
    return mcp_server_tool_stats(m->server);
}

/* ---- the server ------------------------------------------------------------------- */

serve_mcp *serve_mcp_new(tools_ctx *t, const char *version, bool serialize, pm_err *err)
{
    const struct {
        const tool_def *rows;
        size_t n;
    } tables[] = {{tools_read_table, tools_read_n}, {tools_act_table, tools_act_n}};
    size_t ntools = tools_read_n + tools_act_n;
    size_t nbind = ntools + tools_resources_n + tools_prompts_n;
    serve_mcp *m = pm_xcalloc(1, sizeof *m);
    m->t = t;
    m->tools = pm_xcalloc(ntools, sizeof *m->tools);
    m->resources = pm_xcalloc(tools_resources_n, sizeof *m->resources);
    m->prompts = pm_xcalloc(tools_prompts_n, sizeof *m->prompts);
    m->bindings = pm_xcalloc(nbind, sizeof *m->bindings);
    mcp_server_info info = {.name = "pipemend",
                            .title = "pipemend",
                            .version = version,
                            .instructions = TOOLS_INSTRUCTIONS,
                            .serialize = serialize};
    m->server = mcp_server_new(&info);
    if (!m->server) {
        pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        serve_mcp_free(m);
        return NULL;
    }
    t->changed = on_changed;
    t->call_stats = on_call_stats;
    t->face = m;

    pm_code rc = PM_OK;
    size_t k = 0, b = 0;
    for (size_t ti = 0; ti < sizeof tables / sizeof tables[0]; ti++) {
        for (size_t i = 0; !rc && i < tables[ti].n; i++, k++, b++) {
            const tool_def *d = &tables[ti].rows[i];
            m->bindings[b] = (binding){.m = m, .tool = d};
            m->tools[k] = (mcp_tool){.name = d->name,
                                     .title = d->title,
                                     .description = d->description,
                                     .input_schema = d->input_schema,
                                     .output_schema = d->output_schema,
                                     .hints = {.read_only = d->hints.read_only,
                                               .destructive = d->hints.destructive,
                                               .idempotent = d->hints.idempotent,
                                               .open_world = d->hints.open_world},
                                     .call = tool_trampoline};
            rc = mcp_server_add_tools(m->server, &m->tools[k], 1, &m->bindings[b], err);
        }
    }
    for (size_t i = 0; !rc && i < tools_resources_n; i++, b++) {
        const tool_resource *r = &tools_resources_table[i];
        m->bindings[b] = (binding){.m = m, .resource = r};
        m->resources[i] = (mcp_resource){.uri = r->uri,
                                         .uri_template = r->uri_template,
                                         .name = r->name,
                                         .title = r->title,
                                         .description = r->description,
                                         .mime_type = r->mime_type,
                                         .read = resource_trampoline,
                                         .complete = r->complete ? complete_trampoline : NULL};
        rc = mcp_server_add_resources(m->server, &m->resources[i], 1, &m->bindings[b], err);
    }
    for (size_t i = 0; !rc && i < tools_prompts_n; i++, b++) {
        const tool_prompt *p = &tools_prompts_table[i];
        m->bindings[b] = (binding){.m = m, .prompt = p};
        mcp_prompt *q = &m->prompts[i];
        *q = (mcp_prompt){.name = p->name,
                          .title = p->title,
                          .description = p->description,
                          .get = prompt_trampoline,
                          .complete = p->complete ? complete_trampoline : NULL};
        for (size_t a = 0; a < TOOL_PROMPT_MAX_ARGS && a < MCP_PROMPT_MAX_ARGS && p->args[a].name;
             a++)
            q->args[a] = (mcp_prompt_arg){.name = p->args[a].name,
                                          .description = p->args[a].description,
                                          .required = p->args[a].required};
        rc = mcp_server_add_prompts(m->server, q, 1, &m->bindings[b], err);
    }
    if (rc) {
        serve_mcp_free(m);
        return NULL;
    }
    return m;
}

mcp_server *serve_mcp_server(serve_mcp *m)
{
    return m->server;
}

void serve_mcp_free(serve_mcp *m)
{
    if (!m)
        return;
    if (m->server)
        mcp_server_free(m->server);
    free(m->tools);
    free(m->resources);
    free(m->prompts);
    free(m->bindings);
    free(m);
}
