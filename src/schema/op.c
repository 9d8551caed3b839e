/* op.c - names of the typed operations and the one-line description a
 * person reads in a proposal, an audit event or an approval prompt.
 *
 * op_describe is called on ops that have not been through the guard yet
 * (to say what was rejected), so it trusts nothing in them: a missing name
 * prints as "?", and a field name or format from a feed, which may hold
 * quotes, newlines or invalid UTF-8, is quoted and escaped so that the
 * description stays one line. */
#include "schema/op.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "schema/colname.h"

/* Longest description; a create_table of many columns is cut with "...". */
#define DESCRIBE_MAX 4096

static const char *const kind_names[OP_KIND_COUNT] = {
    [OP_CREATE_TABLE] = "create_table",           [OP_ADD_COLUMN] = "add_column",
    [OP_WIDEN_COLUMN] = "widen_column",           [OP_DROP_NOT_NULL] = "drop_not_null",
    [OP_ADD_FIELD_MAPPING] = "add_field_mapping", [OP_ADD_COERCION] = "add_coercion",
    [OP_RETYPE_COLUMN] = "retype_column",         [OP_MERGE_COLUMN] = "merge_column",
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
    case OP_MERGE_COLUMN:
        pm_buf_puts(&b, "merge column ", NULL);
        put_name(&b, op->field, false);
        pm_buf_puts(&b, " into ", NULL);
        put_column_ref(&b, op);
        pm_buf_puts(&b, " (its values where ", NULL);
        put_name(&b, op->column, false);
        pm_buf_puts(&b, " is null; then ", NULL);
        put_name(&b, op->field, false);
        pm_buf_puts(&b, " is dropped and maps to ", NULL);
        put_name(&b, op->column, false);
        pm_buf_putc(&b, ')', NULL);
        break;
    case OP_ADD_COERCION:
        pm_buf_puts(&b, "parse ", NULL);
        put_column_ref(&b, op);
        pm_buf_puts(&b, " with format ", NULL);
        put_name(&b, op->format, true);
        break;
    case OP_RETYPE_COLUMN:
        pm_buf_puts(&b, "retype ", NULL);
        put_column_ref(&b, op);
        pm_buf_puts(&b, " to ", NULL);
        put_type(&b, op->type);
        if (op->format) {
            pm_buf_puts(&b, " parsing ISO 8601 or format ", NULL);
            put_name(&b, op->format, true);
        }
        break;
    default:
        pm_buf_printf(&b, NULL, "unknown op %d", (int)op->kind);
        break;
    }
    const char *out = pm_arena_strndup(arena, b.data ? b.data : "", b.len);
    pm_buf_free(&b);
    return out;
}

static bool is_datetime(pm_type t)
{
    return t.kind == PM_T_DATE || t.kind == PM_T_TIMESTAMP || t.kind == PM_T_TIMESTAMPTZ;
}

bool op_retype_allowed(pm_type from, pm_type to)
{
    switch (from.kind) {
    case PM_T_INT16:
    case PM_T_INT32:
    case PM_T_INT64:
    case PM_T_FLOAT64:
    case PM_T_NUMERIC:
        return to.kind == PM_T_TEXT;
    case PM_T_VARCHAR:
    case PM_T_TEXT:
        return is_datetime(to);
    default:
        return false;
    }
}

/* add_field_mapping: the field's normal form (colname.h) becomes an alias
 * of column j. The planner hands over the field as the feed spells it, an
 * agent may hand over the normal form; both normalise to the same name. */
static pm_code apply_mapping(pm_table *r, int j, const pm_op *op, pm_arena *a, pm_err *err)
{
    size_t n = op->field ? strlen(op->field) : 0;
    if (n == 0 || !pm_utf8_valid(op->field, n))
        return pm_err_set(err, PM_ERR_SCHEMA, "the field mapping to %s.%s has no valid field name",
                          r->name, op->column);
    char norm[COLNAME_MAX + 1];
    size_t len = colname_normalise(op->field, n, norm);
    int k = table_find(r, norm, len);
    if (k >= 0)
        return pm_err_set(err, PM_ERR_SCHEMA, "field %s already lands in column %s.%s", norm,
                          r->name, r->cols[k].name);
    k = table_find_alias(r, norm, len);
    if (k >= 0)
        return pm_err_set(err, PM_ERR_SCHEMA, "field %s is already mapped to %s.%s", norm, r->name,
                          r->cols[k].name);
    /* a dropped column's name mapped elsewhere: its values load there now */
    table_forget_dropped(r, norm);
    if (!table_add_alias(r, a, j, norm))
        return pm_err_set(err, PM_ERR_SCHEMA, "field %s cannot be mapped to %s.%s", norm, r->name,
                          op->column);
    return PM_OK;
}

/* merge_column: r without column `from`, whose name and aliases become
 * aliases of column `into` (found again by name: indexes move). */
static pm_code apply_merge(pm_table **rp, const pm_op *op, pm_arena *a, pm_err *err)
{
    pm_table *r = *rp;
    int from = op->field ? table_find(r, op->field, strlen(op->field)) : -1;
    int into = table_find(r, op->column, strlen(op->column));
    if (from < 0 || from == into)
        return pm_err_set(err, PM_ERR_SCHEMA, "%s has no column %s to merge into %s", r->name,
                          op->field ? op->field : "?", op->column);
    pm_table *m = table_new(a, r->name);
    m->version = r->version;
    for (size_t j = 0; j < r->ncols; j++) {
        if ((int)j == from)
            continue;
        const pm_column *c = &r->cols[j];
        int k = table_add(m, a, c->name, c->type, c->nullable);
        if (k < 0)
            return pm_err_set(err, PM_ERR_SCHEMA, "cannot merge %s into %s.%s", op->field, r->name,
                              op->column);
        m->cols[k].guessed = c->guessed;
        m->cols[k].origin = c->origin;
        if (c->format)
            table_set_format(m, a, k, c->format);
        for (size_t x = 0; x < c->naliases; x++)
            table_add_alias(m, a, k, c->aliases[x]);
    }
    for (size_t i = 0; i < r->ndropped; i++)
        table_add_dropped(m, a, r->dropped[i]);
    int k = table_find(m, op->column, strlen(op->column));
    const pm_column *gone = &r->cols[from];
    bool ok = table_add_alias(m, a, k, gone->name);
    for (size_t x = 0; ok && x < gone->naliases; x++)
        ok = table_add_alias(m, a, k, gone->aliases[x]);
    if (!ok)
        return pm_err_set(err, PM_ERR_SCHEMA, "cannot map %s to %s.%s", gone->name, r->name,
                          op->column);
    *rp = m;
    return PM_OK;
}

pm_code op_result(const pm_table *t, const pm_op *ops, size_t n, pm_arena *a, pm_table **out,
                  pm_err *err)
{
    char tn[TYPE_NAME_MAX];
    pm_table *r = table_copy(t, a);
    r->version = t->version + 1;
    for (size_t i = 0; i < n; i++) {
        const pm_op *op = &ops[i];
        int j = op->column ? table_find(r, op->column, strlen(op->column)) : -1;
        pm_code rc = PM_OK;
        switch (op->kind) {
        case OP_ADD_COLUMN:
            if (j >= 0)
                return pm_err_set(err, PM_ERR_SCHEMA, "%s already has a column %s", t->name,
                                  op->column);
            if (!op->column || !*op->column)
                return pm_err_set(err, PM_ERR_SCHEMA, "add_column on %s names no column", t->name);
            j = table_find_alias(r, op->column, strlen(op->column));
            if (j >= 0)
                return pm_err_set(err, PM_ERR_SCHEMA,
                                  "%s is a field mapped to %s.%s; a column of that name would "
                                  "take its values",
                                  op->column, t->name, r->cols[j].name);
            /* a column dropped outside pipemend, added back */
            table_forget_dropped(r, op->column);
            table_add(r, a, op->column, op->type, true);
            break;
        case OP_WIDEN_COLUMN:
        case OP_DROP_NOT_NULL:
        case OP_ADD_FIELD_MAPPING:
        case OP_ADD_COERCION:
        case OP_RETYPE_COLUMN:
            if (j < 0)
                return pm_err_set(err, PM_ERR_SCHEMA, "%s has no column %s", t->name,
                                  op->column ? op->column : "?");
            if (op->kind == OP_WIDEN_COLUMN) {
                r->cols[j].type = op->type;
                /* a column widened to text takes any text: nothing to parse */
                if (!is_datetime(op->type))
                    table_set_format(r, a, j, NULL);
            } else if (op->kind == OP_DROP_NOT_NULL) {
                r->cols[j].nullable = true;
                r->cols[j].guessed = false;
            } else if (op->kind == OP_ADD_FIELD_MAPPING) {
                rc = apply_mapping(r, j, op, a, err);
            } else if (op->kind == OP_RETYPE_COLUMN) {
                if (!op_retype_allowed(r->cols[j].type, op->type))
                    return pm_err_set(err, PM_ERR_SCHEMA, "%s.%s cannot be retyped from %s to %s",
                                      t->name, op->column, type_name(r->cols[j].type, tn),
                                      type_name(op->type, (char[TYPE_NAME_MAX]){0}));
                r->cols[j].type = op->type;
                table_set_format(r, a, j, op->format && *op->format ? op->format : NULL);
            } else if (!is_datetime(r->cols[j].type)) {
                return pm_err_set(err, PM_ERR_SCHEMA,
                                  "%s.%s is %s; a coercion is for a date, timestamp or "
                                  "timestamptz column",
                                  t->name, op->column, type_name(r->cols[j].type, tn));
            } else if (!op->format || !*op->format) {
                return pm_err_set(err, PM_ERR_SCHEMA, "the coercion of %s.%s has no format",
                                  t->name, op->column);
            } else {
                table_set_format(r, a, j, op->format);
            }
            if (rc != PM_OK)
                return rc;
            break;
        case OP_MERGE_COLUMN:
            if (j < 0)
                return pm_err_set(err, PM_ERR_SCHEMA, "%s has no column %s", t->name,
                                  op->column ? op->column : "?");
            rc = apply_merge(&r, op, a, err);
            if (rc != PM_OK)
                return rc;
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
        if (ops[i].kind == OP_ADD_COLUMN || ops[i].kind == OP_WIDEN_COLUMN ||
            ops[i].kind == OP_RETYPE_COLUMN)
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
