/* op.c - names of the typed operations and the one-line description a
 * person reads in a proposal, an audit event or an approval prompt.
 *
 * op_describe is called on ops that have not been through the guard yet
 * (to say what was rejected), so it trusts nothing in them: a missing name
 * prints as "?", and a field name or format from a feed, which may hold
 * quotes, newlines or invalid UTF-8, is quoted and escaped so that the
 * description stays one line. */
#include "heal/op.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"

/* Longest description; a create_table of many columns is cut with "...". */
#define DESCRIBE_MAX 4096

static const char *const kind_names[OP_KIND_COUNT] = {
    [OP_CREATE_TABLE] = "create_table",           [OP_ADD_COLUMN] = "add_column",
    [OP_WIDEN_COLUMN] = "widen_column",           [OP_DROP_NOT_NULL] = "drop_not_null",
    [OP_ADD_FIELD_MAPPING] = "add_field_mapping", [OP_ADD_COERCION] = "add_coercion",
};

const char *op_kind_name(pm_op_kind k)
{
    return (unsigned)k < OP_KIND_COUNT ? kind_names[k] : "unknown";
}

bool op_kind_parse(const char *name, pm_op_kind *out)
{
    if (!name)
        return false;
    for (int k = 0; k < OP_KIND_COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            if (out)
                *out = (pm_op_kind)k;
            return true;
        }
    }
    return false;
}

/* Appends s as it reads when it is plain (printable ASCII or valid UTF-8
 * letters, no quote or backslash), otherwise between double quotes with
 * control characters, quotes and invalid bytes escaped. quote forces the
 * quotes, for field names and formats whose spaces matter. */
static void put_name(pm_buf *b, const char *s, bool quote)
{
    if (!s) {
        pm_buf_putc(b, '?', NULL);
        return;
    }
    size_t n = strlen(s);
    bool plain = !quote && n > 0 && pm_utf8_valid(s, n);
    for (size_t i = 0; plain && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '_'))
            plain = false;
    }
    if (plain) {
        pm_buf_append(b, s, n, NULL);
        return;
    }
    pm_buf_putc(b, '"', NULL);
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : pm_utf8_seq_len(s + i, n - i);
        if (c == '"' || c == '\\') {
            pm_buf_putc(b, '\\', NULL);
            pm_buf_putc(b, (char)c, NULL);
        } else if (c == '\n') {
            pm_buf_puts(b, "\\n", NULL);
        } else if (c == '\t') {
            pm_buf_puts(b, "\\t", NULL);
        } else if (c < 0x20 || c == 0x7F || k == 0) {
            pm_buf_printf(b, NULL, "\\x%02x", c);
        } else {
            pm_buf_append(b, s + i, k, NULL);
            i += k;
            continue;
        }
        i++;
    }
    pm_buf_putc(b, '"', NULL);
}

static void put_type(pm_buf *b, pm_type t)
{
    char name[TYPE_NAME_MAX];
    pm_buf_puts(b, type_name(t, name), NULL);
}

static void put_column_ref(pm_buf *b, const pm_op *op)
{
    put_name(b, op->table, false);
    pm_buf_putc(b, '.', NULL);
    put_name(b, op->column, false);
}

const char *op_describe(const pm_op *op, pm_arena *arena)
{
    pm_buf b;
    /* Appends past the maximum fail and leave the buffer as it was, which
     * cuts a long description; the "..." below says so. */
    pm_buf_init(&b, DESCRIBE_MAX);
    switch (op->kind) {
    case OP_CREATE_TABLE:
        pm_buf_puts(&b, "create table ", NULL);
        put_name(&b, op->table, false);
        pm_buf_puts(&b, " (", NULL);
        for (size_t i = 0; i < op->ncols && op->cols; i++) {
            if (b.len + 64 > DESCRIBE_MAX) {
                pm_buf_puts(&b, ", ...", NULL);
                break;
            }
            if (i > 0)
                pm_buf_puts(&b, ", ", NULL);
            put_name(&b, op->cols[i].name, false);
            pm_buf_putc(&b, ' ', NULL);
            put_type(&b, op->cols[i].type);
            if (!op->cols[i].nullable)
                pm_buf_puts(&b, " not null", NULL);
        }
        pm_buf_putc(&b, ')', NULL);
        break;
    case OP_ADD_COLUMN:
        pm_buf_puts(&b, "add column ", NULL);
        put_name(&b, op->column, false);
        pm_buf_putc(&b, ' ', NULL);
        put_type(&b, op->type);
        pm_buf_puts(&b, " to ", NULL);
        put_name(&b, op->table, false);
        break;
    case OP_WIDEN_COLUMN:
        pm_buf_puts(&b, "widen ", NULL);
        put_column_ref(&b, op);
        pm_buf_puts(&b, " to ", NULL);
        put_type(&b, op->type);
        break;
    case OP_DROP_NOT_NULL:
        pm_buf_puts(&b, "drop not null on ", NULL);
        put_column_ref(&b, op);
        break;
    case OP_ADD_FIELD_MAPPING:
        pm_buf_puts(&b, "map field ", NULL);
        put_name(&b, op->field, true);
        pm_buf_puts(&b, " to ", NULL);
        put_column_ref(&b, op);
        break;
    case OP_ADD_COERCION:
        pm_buf_puts(&b, "parse ", NULL);
        put_column_ref(&b, op);
        pm_buf_puts(&b, " with format ", NULL);
        put_name(&b, op->format, true);
        break;
    default:
        pm_buf_printf(&b, NULL, "unknown op %d", (int)op->kind);
        break;
    }
    const char *out = pm_arena_strndup(arena, b.data ? b.data : "", b.len);
    pm_buf_free(&b);
    return out;
}

pm_code op_result(const pm_table *t, const pm_op *ops, size_t n, pm_arena *a, pm_table **out,
                  pm_err *err)
{
    pm_table *r = table_new(a, t->name);
    r->version = t->version + 1;
    for (size_t i = 0; i < t->ncols; i++)
        table_add(r, a, t->cols[i].name, t->cols[i].type, t->cols[i].nullable);
    for (size_t i = 0; i < n; i++) {
        const pm_op *op = &ops[i];
        int j = op->column ? table_find(r, op->column, strlen(op->column)) : -1;
        switch (op->kind) {
        case OP_ADD_COLUMN:
            if (j >= 0)
                return pm_err_set(err, PM_ERR_SCHEMA, "%s already has a column %s", t->name,
                                  op->column);
            table_add(r, a, op->column, op->type, true);
            break;
        case OP_WIDEN_COLUMN:
        case OP_DROP_NOT_NULL:
        case OP_ADD_FIELD_MAPPING:
        case OP_ADD_COERCION:
            if (j < 0)
                return pm_err_set(err, PM_ERR_SCHEMA, "%s has no column %s", t->name,
                                  op->column ? op->column : "?");
            if (op->kind == OP_WIDEN_COLUMN)
                r->cols[j].type = op->type;
            else if (op->kind == OP_DROP_NOT_NULL)
                r->cols[j].nullable = true;
            break;
        case OP_CREATE_TABLE:
        default:
            return pm_err_set(err, PM_ERR_SCHEMA, "%s cannot be applied to the existing table %s",
                              op_kind_name(op->kind), t->name);
        }
    }
    *out = r;
    return PM_OK;
}

char *ops_to_json(const pm_op *ops, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char tn[TYPE_NAME_MAX];
        json_t *o = json_pack("{s:s, s:s}", "op", op_kind_name(ops[i].kind), "table",
                              ops[i].table ? ops[i].table : "");
        if (ops[i].column)
            json_object_set_new(o, "column", json_string(ops[i].column));
        if (ops[i].kind == OP_ADD_COLUMN || ops[i].kind == OP_WIDEN_COLUMN)
            json_object_set_new(o, "type", json_string(type_name(ops[i].type, tn)));
        if (ops[i].field)
            json_object_set_new(o, "field", json_string(ops[i].field));
        if (ops[i].format)
            json_object_set_new(o, "format", json_string(ops[i].format));
        json_array_append_new(arr, o);
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

static const char *opt_str(json_t *o, const char *key, pm_arena *a)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? pm_arena_strdup(a, s) : NULL;
}

pm_code ops_from_json(const char *text, pm_arena *a, pm_op **out, size_t *n, pm_err *err)
{
    json_t *arr = json_loads(text, 0, NULL);
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        json_decref(arr);
        return pm_err_set(err, PM_ERR_PARSE, "the proposal's operations are unreadable");
    }
    size_t count = json_array_size(arr);
    pm_op *ops = pm_arena_calloc(a, count * sizeof *ops);
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_array_get(arr, i);
        const char *kind = json_string_value(json_object_get(o, "op"));
        const char *type = json_string_value(json_object_get(o, "type"));
        if (!kind || !op_kind_parse(kind, &ops[i].kind) ||
            (type && !type_parse(type, &ops[i].type))) {
            json_decref(arr);
            return pm_err_set(err, PM_ERR_PARSE, "operation %zu of the proposal is unreadable",
                              i + 1);
        }
        ops[i].table = opt_str(o, "table", a);
        ops[i].column = opt_str(o, "column", a);
        ops[i].field = opt_str(o, "field", a);
        ops[i].format = opt_str(o, "format", a);
    }
    json_decref(arr);
    *out = ops;
    *n = count;
    return PM_OK;
}
