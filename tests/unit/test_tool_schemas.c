/* test_tool_schemas.c - the tools' JSON Schemas (src/tools/schemas, embedded
 * by scripts/embed_schemas.c as gen/tool_schemas.h) against the tool
 * tables: every tool of tools_read_table and tools_act_table names its two
 * files' strings, and every file belongs to a tool (none orphaned, none
 * under a misspelt name). Each file is a JSON Schema of type object written
 * with the keywords pipemend uses and nothing else, so a misspelt keyword
 * ("requried") fails here instead of being ignored by every client; each
 * "default" fits its own schema; and every input schema is closed
 * (additionalProperties false), so a misspelt argument is refused rather
 * than silently dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "gen/tool_schemas.h"
#include "core/jsonschema.h"
#include "tools/tools.h"

static const struct {
    const tool_def *table;
    const size_t *n;
} tables[] = {{tools_read_table, &tools_read_n}, {tools_act_table, &tools_act_n}};

/* The embedded file for tool's kind, or NULL. */
static const tool_schema_file *schema_file(const char *tool, const char *kind)
{
    for (size_t i = 0; i < tool_schemas_n; i++)
        if (strcmp(tool_schemas[i].tool, tool) == 0 && strcmp(tool_schemas[i].kind, kind) == 0)
            return &tool_schemas[i];
    return NULL;
}

static const tool_def *tool_named(const char *name)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (size_t i = 0; i < *tables[t].n; i++)
            if (strcmp(tables[t].table[i].name, name) == 0)
                return &tables[t].table[i];
    return NULL;
}

static void test_every_tool_has_its_files(void **state)
{
    size_t tools = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (size_t i = 0; i < *tables[t].n; i++, tools++) {
            const tool_def *d = &tables[t].table[i];
            const tool_schema_file *in = schema_file(d->name, "input");
            const tool_schema_file *out = schema_file(d->name, "output");
            if (!in || !out)
                fail_msg("tool %s: src/tools/schemas/%s.%s.json is missing", d->name, d->name,
                         in ? "output" : "input");
            /* the table names the file's string, not a copy of it */
            if (d->input_schema != in->text || d->output_schema != out->text)
                fail_msg("tool %s: its table row does not name tool_schema_%s_input and "
                         "tool_schema_%s_output",
                         d->name, d->name, d->name);
        }
    assert_int_equal(tool_schemas_n, 2 * tools);
}

static void test_no_file_is_orphaned(void **state)
{
    for (size_t i = 0; i < tool_schemas_n; i++)
        if (!tool_named(tool_schemas[i].tool))
            fail_msg("%s: no tool is called %s (tools_read.c, tools_act.c)", tool_schemas[i].path,
                     tool_schemas[i].tool);
}

/* ---- a JSON Schema in the words pipemend uses ------------------------------- */

static bool is_type_name(const json_t *v)
{
    static const char *names[] = {"object", "array",   "string", "integer",
                                  "number", "boolean", "null"};
    for (size_t i = 0; json_is_string(v) && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(json_string_value(v), names[i]) == 0)
            return true;
    return false;
}

static bool is_count(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* Fails the test with path and why when schema s is not well formed. */
static void check_schema(const char *file, const char *path, const json_t *s)
{
    if (!json_is_object(s))
        fail_msg("%s: %s is not a schema (an object)", file, path);
    const char *key;
    const json_t *v;
    char sub[512];
    json_object_foreach((json_t *)s, key, v)
    {
        bool ok = false;
        if (strcmp(key, "type") == 0) {
            ok = is_type_name(v);
            if (json_is_array(v)) {
                size_t i;
                const json_t *x;
                ok = json_array_size(v) > 0;
                json_array_foreach(v, i, x) ok = ok && is_type_name(x);
            }
        } else if (strcmp(key, "properties") == 0) {
            ok = json_is_object(v);
            const char *name;
            const json_t *p;
            json_object_foreach((json_t *)v, name, p)
            {
                snprintf(sub, sizeof sub, "%s.properties.%s", path, name);
                check_schema(file, sub, p);
            }
        } else if (strcmp(key, "required") == 0 || strcmp(key, "enum") == 0) {
            ok = json_is_array(v) && json_array_size(v) > 0;
            size_t i;
            const json_t *x;
            json_array_foreach(v, i, x) ok = ok && (key[0] == 'e' || json_is_string(x));
        } else if (strcmp(key, "additionalProperties") == 0) {
            ok = true;
            if (!json_is_boolean(v)) {
                snprintf(sub, sizeof sub, "%s.additionalProperties", path);
                check_schema(file, sub, v);
            }
        } else if (strcmp(key, "items") == 0) {
            ok = true;
            snprintf(sub, sizeof sub, "%s.items", path);
            check_schema(file, sub, v);
        } else if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0) {
            ok = json_is_number(v);
        } else if (strcmp(key, "minLength") == 0 || strcmp(key, "maxLength") == 0 ||
                   strcmp(key, "minItems") == 0) {
            ok = is_count(v);
        } else if (strcmp(key, "description") == 0) {
            ok = json_is_string(v) && json_string_length(v) > 0;
        } else if (strcmp(key, "default") == 0) {
            char why[256];
            ok = jsonschema_check(s, v, "default", why, sizeof why);
            if (!ok)
                fail_msg("%s: %s: the default does not fit: %s", file, path, why);
        } else {
            fail_msg("%s: %s: keyword \"%s\" is not one pipemend uses (a typo?); add it to "
                     "this test if it is meant",
                     file, path, key);
        }
        if (!ok)
            fail_msg("%s: %s: \"%s\" is not well formed", file, path, key);
    }
}

static void test_every_file_is_an_object_schema(void **state)
{
    assert_true(tool_schemas_n > 0);
    for (size_t i = 0; i < tool_schemas_n; i++) {
        const tool_schema_file *f = &tool_schemas[i];
        json_error_t je;
        json_t *s = json_loads(f->text, JSON_REJECT_DUPLICATES, &je);
        if (!s)
            fail_msg("%s: not JSON: %s", f->path, je.text);
        if (!json_is_object(s) || !json_is_string(json_object_get(s, "type")) ||
            strcmp(json_string_value(json_object_get(s, "type")), "object") != 0)
            fail_msg("%s: a tool's schema is an object of \"type\": \"object\"", f->path);
        check_schema(f->path, "$", s);
        if (strcmp(f->kind, "input") == 0 &&
            (!json_is_object(json_object_get(s, "properties")) ||
             !json_is_false(json_object_get(s, "additionalProperties"))))
            fail_msg("%s: an input schema lists its properties and sets "
                     "\"additionalProperties\": false",
                     f->path);
        json_decref(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_tool_has_its_files),
        cmocka_unit_test(test_no_file_is_orphaned),
        cmocka_unit_test(test_every_file_is_an_object_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
