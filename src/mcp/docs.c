/* docs.c - the Markdown reference of what the server offers: every tool
 * (title, description, hints, arguments and result), resource, URI template
 * and prompt.
 *
 * The tools come from mcp_server_tools_json(), the very objects tools/list
 * sends, so the reference cannot say something the server does not; the
 * resources and prompts come from the same registered rows that
 * resources/list, resources/templates/list and prompts/list answer from.
 * Everything is written in registration order (and schema properties in
 * the order their JSON gives them), so one set of tables always renders the
 * same bytes and the generated file can be checked in and compared. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_int.h"

/* A Markdown writer whose first failure sticks: the rendering goes on
 * without writing, and the caller reads one code at the end. */
typedef struct md {
    pm_buf *out;
    pm_code rc;
} md;

static void emit(md *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(md *m, const char *fmt, ...)
{
    if (m->rc != PM_OK)
        return;
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        m->rc = PM_ERR_NOMEM;
        return;
    }
    m->rc = pm_buf_append(m->out, s, (size_t)n, NULL);
    free(s);
}

/* Text for a table cell: a '|' would end the cell (GFM wants it escaped
 * even inside a code span) and a line break would end the row. */
static void cell(md *m, const char *s)
{
    for (; s && *s && m->rc == PM_OK; s++) {
        if (*s == '|')
            m->rc = pm_buf_puts(m->out, "\\|", NULL);
        else
            m->rc = pm_buf_putc(m->out, *s == '\n' || *s == '\r' ? ' ' : *s, NULL);
    }
}

/* A JSON value (an enum member, a bound, a default) as compact JSON in a
 * code span, inside a table cell. */
static void cell_json(md *m, json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        m->rc = PM_ERR_NOMEM;
        return;
    }
    emit(m, "`");
    cell(m, s);
    emit(m, "`");
    free(s);
}

static const char *yes_no(json_t *v)
{
    return json_is_true(v) ? "yes" : "no";
}

/* A schema's type: "string", "object or null", "array of string"; "any"
 * when it names none. */
static void type_of(md *m, json_t *schema)
{
    json_t *t = json_object_get(schema, "type");
    if (json_is_string(t)) {
        emit(m, "%s", json_string_value(t));
        const char *item =
            json_string_value(json_object_get(json_object_get(schema, "items"), "type"));
        if (strcmp(json_string_value(t), "array") == 0 && item)
            emit(m, " of %s", item);
    } else if (json_is_array(t)) {
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v)
        {
            emit(m, "%s%s", i ? " or " : "", json_is_string(v) ? json_string_value(v) : "?");
        }
    } else {
        emit(m, "any");
    }
}

/* The Values cell: allowed values, bounds and default, where the schema
 * states them. */
static void constraints(md *m, json_t *p)
{
    static const struct {
        const char *key, *label;
    } bounds[] = {{"minimum", "min"},          {"maximum", "max"},
                  {"minLength", "min length"}, {"maxLength", "max length"},
                  {"minItems", "min items"},   {"maxItems", "max items"},
                  {"default", "default"}};
    const char *sep = "";
    json_t *e = json_object_get(p, "enum");
    if (json_is_array(e)) {
        size_t i;
        json_t *v;
        emit(m, "one of ");
        json_array_foreach(e, i, v)
        {
            emit(m, "%s", i ? ", " : "");
            cell_json(m, v);
        }
        sep = "; ";
    }
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        json_t *v = json_object_get(p, bounds[i].key);
        if (!v)
            continue;
        emit(m, "%s%s ", sep, bounds[i].label);
        cell_json(m, v);
        sep = "; ";
    }
}

static bool is_required(json_t *required, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(required, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

static void tool_arguments(md *m, json_t *input)
{
    json_t *props = json_object_get(input, "properties");
    if (!json_object_size(props)) {
        emit(m, "Arguments: none.\n\n");
        return;
    }
    json_t *required = json_object_get(input, "required");
    emit(m, "Arguments:\n\n"
            "| Name | Type | Required | Description | Values |\n"
            "|------|------|----------|-------------|--------|\n");
    const char *name;
    json_t *p;
    json_object_foreach(props, name, p)
    {
        emit(m, "| `");
        cell(m, name);
        emit(m, "` | ");
        type_of(m, p);
        emit(m, " | %s | ", is_required(required, name) ? "yes" : "no");
        cell(m, json_string_value(json_object_get(p, "description")));
        emit(m, " | ");
        constraints(m, p);
        emit(m, " |\n");
    }
    emit(m, "\n");
}

static void tool_result(md *m, json_t *output)
{
    json_t *props = json_object_get(output, "properties");
    if (!json_object_size(props))
        return;
    emit(m, "Result:\n\n");
    const char *name;
    json_t *p;
    json_object_foreach(props, name, p)
    {
        emit(m, "- `%s` (", name);
        type_of(m, p);
        emit(m, ")");
        const char *d = json_string_value(json_object_get(p, "description"));
        if (d)
            emit(m, ": %s", d);
        emit(m, "\n");
    }
    emit(m, "\n");
}

static void tool_section(md *m, json_t *t)
{
    const char *title = json_string_value(json_object_get(t, "title"));
    const char *desc = json_string_value(json_object_get(t, "description"));
    json_t *a = json_object_get(t, "annotations");
    emit(m, "### %s\n\n", json_string_value(json_object_get(t, "name")));
    if (title)
        emit(m, "**%s**\n\n", title);
    if (desc)
        emit(m, "%s\n\n", desc);
    emit(m, "Annotations: read-only %s, destructive %s, idempotent %s, open-world %s.\n\n",
         yes_no(json_object_get(a, "readOnlyHint")), yes_no(json_object_get(a, "destructiveHint")),
         yes_no(json_object_get(a, "idempotentHint")), yes_no(json_object_get(a, "openWorldHint")));
    tool_arguments(m, json_object_get(t, "inputSchema"));
    tool_result(m, json_object_get(t, "outputSchema"));
}

/* One table of the static resources (templates false) or of the URI
 * templates, as the two list methods split them. */
static void resource_table(md *m, const mcp_server *s, bool templates)
{
    emit(m, "%s\n\n",
         templates ? "URI templates (resources/templates/list):" : "Resources (resources/list):");
    size_t n = 0;
    for (size_t i = 0; i < s->nresources; i++) {
        const mcp_resource *r = s->resources[i].r;
        if (!r->uri != templates)
            continue;
        if (n++ == 0)
            emit(m,
                 "| %s | Name | Title | Description | MIME type |\n"
                 "|-----|------|-------|-------------|-----------|\n",
                 templates ? "URI template" : "URI");
        emit(m, "| `");
        cell(m, templates ? r->uri_template : r->uri);
        emit(m, "` | `");
        cell(m, r->name);
        emit(m, "` | ");
        cell(m, r->title);
        emit(m, " | ");
        cell(m, r->description);
        emit(m, " | ");
        cell(m, r->mime_type);
        emit(m, " |\n");
    }
    emit(m, "%s\n", n ? "" : "None.\n");
}

static void prompt_section(md *m, const mcp_prompt *p)
{
    emit(m, "### %s\n\n", p->name);
    if (p->title)
        emit(m, "**%s**\n\n", p->title);
    if (p->description)
        emit(m, "%s\n\n", p->description);
    if (!p->args[0].name) {
        emit(m, "Arguments: none.\n\n");
        return;
    }
    emit(m, "Arguments:\n\n"
            "| Name | Required | Description |\n"
            "|------|----------|-------------|\n");
    for (size_t k = 0; k < MCP_PROMPT_MAX_ARGS && p->args[k].name; k++) {
        emit(m, "| `");
        cell(m, p->args[k].name);
        emit(m, "` | %s | ", p->args[k].required ? "yes" : "no");
        cell(m, p->args[k].description);
        emit(m, " |\n");
    }
    emit(m, "\n");
}

pm_code mcp_server_docs(const mcp_server *s, pm_buf *out)
{
    md m = {out, PM_OK};
    json_t *tools = mcp_server_tools_json(s);
    if (!tools)
        return PM_ERR_NOMEM;
    /* The product's command is named as its server (`pipemend mcp docs`). */
    emit(&m,
         "# %s MCP reference\n\n"
         "Generated by `%s mcp docs` from the tables the server answers from; "
         "do not edit by hand.\n\n",
         s->info.title ? s->info.title : s->info.name, s->info.name);

    emit(&m, "## Tools\n\n");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        tool_section(&m, t);
    }
    json_decref(tools);

    emit(&m, "## Resources\n\n");
    resource_table(&m, s, false);
    resource_table(&m, s, true);

    emit(&m, "## Prompts\n\n");
    if (!s->nprompts)
        emit(&m, "None.\n\n");
    for (size_t k = 0; k < s->nprompts; k++)
        prompt_section(&m, s->prompts[k].p);
    /* one newline at the end of the file, not a blank line */
    if (m.rc == PM_OK && out->len >= 2 && out->data[out->len - 1] == '\n' &&
        out->data[out->len - 2] == '\n')
        out->data[--out->len] = 0;
    return m.rc;
}
