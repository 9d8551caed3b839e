/* tools.c - what the tool handlers share (tools.h): answering a call
 * through whichever face made it, the warehouse opened on first use, a
 * table looked up with a message that says what to call instead. */
#include "tools/tools.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "heal/promote.h"

/* A message a call fails with: long enough for a hint and a detail. */
#define TOOLS_MSG_MAX 2048

void tools_fail(tool_call *c, const char *fmt, ...)
{
    char msg[TOOLS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->ops->fail(c->face, msg);
}

void tools_fail_err(tool_call *c, const pm_err *err)
{
    tools_fail(c, "%s%s%s%s%s", err->msg[0] ? err->msg : pm_code_text(err->code),
               err->detail[0] ? "; detail: " : "", err->detail, err->hint[0] ? "; hint: " : "",
               err->hint);
}

void tools_not_found(tool_call *c, const char *fmt, ...)
{
    char msg[TOOLS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (c->ops->not_found ? c->ops->not_found : c->ops->fail)(c->face, msg);
}

bool tools_cancelled(const tool_call *c)
{
    return c->ops->cancelled && c->ops->cancelled(c->face);
}

void tools_progress(tool_call *c, double done, double total, const char *msg)
{
    if (c->ops->progress)
        c->ops->progress(c->face, done, total, msg);
}

void tools_logf(tool_call *c, tools_log_level level, const char *fmt, ...)
{
    if (!c->ops->log)
        return;
    char msg[TOOLS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->ops->log(c->face, level, msg);
}

void tools_message(tool_call *c, const char *role, json_t *content)
{
    if (c->ops->message)
        c->ops->message(c->face, role, content);
    else
        json_decref(content);
}

void tools_changed(tools_ctx *t, const char *uri)
{
    if (t->changed)
        t->changed(t->face, uri);
}

pm_store *tools_store(tools_ctx *t, tool_call *c)
{
    if (t->store)
        return t->store;
    pm_err err = {0};
    if (!t->db || !*t->db) {
        tools_fail(c, "no warehouse configured for this MCP server; hint: start it as "
                      "`pipemend mcp --db sqlite:PATH`, set PIPEMEND_DB, or put db: in "
                      "pipemend.yaml");
        return NULL;
    }
    if (store_open(t->db, &t->store, &err) != PM_OK) {
        t->store = NULL;
        tools_fail_err(c, &err);
        return NULL;
    }
    return t->store;
}

pm_table *tools_table(pm_store *s, const char *name, pm_arena *a, tool_call *c)
{
    pm_err err = {0};
    pm_table *t = NULL;
    if (store_table_load(s, name, a, &t, &err) != PM_OK) {
        tools_fail_err(c, &err);
        return NULL;
    }
    if (!t)
        tools_fail(c,
                   "no table \"%s\" in the warehouse; hint: call list_tables for the tables "
                   "pipemend loads into",
                   name);
    return t;
}

void tools_table_policy(tools_ctx *t, pm_store *s, const char *table, pm_policy *out)
{
    config_table_policy(t->cfg, table, out);
    pm_err err = {0};
    if (promote_apply(s, table, out, &err) != PM_OK)
        pm_warn("cannot read the policy promotions of %s (deciding without them): %s", table,
                err.msg);
}
