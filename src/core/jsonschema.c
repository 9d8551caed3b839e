/* jsonschema.c - checking a value against the subset of JSON Schema that
 * jsonschema.h lists. Recursion follows the schema, whose depth the
 * server's own tables fix, never the input's. */
#include "core/jsonschema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct check {
    char *msg;
    size_t n;
    char path[256];
    const char *what;
} check;

static const char *type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* Characters, as JSON Schema counts string length (jansson's strings are
 * valid UTF-8: count the bytes that start a sequence). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static bool is_type(const json_t *v, const char *t)
{
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    return strcmp(t, type_of(v)) == 0;
}

static bool fail(check *c, const char *fmt, const char *a, const char *b)
{
    char text[400];
    snprintf(text, sizeof text, fmt, a, b);
    if (c->path[0])
        snprintf(c->msg, c->n, "%s \"%s\": %s", c->what, c->path, text);
    else
        snprintf(c->msg, c->n, "%ss: %s", c->what, text);
    return false;
}

static bool check_value(check *c, const json_t *s, const json_t *v);

static bool check_type(check *c, const json_t *t, const json_t *v)
{
    if (json_is_string(t)) {
        if (is_type(v, json_string_value(t)))
            return true;
        return fail(c, "expected %s, got %s", json_string_value(t), type_of(v));
    }
    if (!json_is_array(t))
        return true;
    char want[160] = "";
    size_t i;
    json_t *e;
    json_array_foreach(t, i, e)
    {
        if (!json_is_string(e))
            continue;
        if (is_type(v, json_string_value(e)))
            return true;
        size_t l = strlen(want);
        snprintf(want + l, sizeof want - l, "%s%s", l ? " or " : "", json_string_value(e));
    }
    return fail(c, "expected %s, got %s", want, type_of(v));
}

static bool check_object(check *c, const json_t *s, const json_t *v)
{
    json_t *props = json_object_get(s, "properties");
    json_t *req = json_object_get(s, "required");
    size_t i;
    json_t *e;
    json_array_foreach(req, i, e)
    {
        const char *k = json_string_value(e);
        if (k && !json_object_get(v, k)) {
            size_t l = strlen(c->path);
            snprintf(c->path + l, sizeof c->path - l, "%s%s", l ? "." : "", k);
            return fail(c, "is required but missing%s%s", "", "");
        }
    }
    json_t *extra = json_object_get(s, "additionalProperties");
    const char *k;
    json_t *pv;
    json_object_foreach((json_t *)v, k, pv)
    {
        json_t *ps = json_object_get(props, k);
        size_t l = strlen(c->path);
        snprintf(c->path + l, sizeof c->path - l, "%s%s", l ? "." : "", k);
        if (!ps && json_is_false(extra)) {
            char known[200] = "";
            const char *pk;
            json_t *unused;
            json_object_foreach(props, pk, unused)
            {
                size_t kl = strlen(known);
                snprintf(known + kl, sizeof known - kl, "%s%s", kl ? ", " : "", pk);
            }
            return fail(c, "is not a known argument (known: %s)%s", known[0] ? known : "none", "");
        }
        if (!ps && json_is_object(extra))
            ps = extra;
        if (ps && !check_value(c, ps, pv))
            return false;
        c->path[l] = 0;
    }
    return true;
}

static bool check_value(check *c, const json_t *s, const json_t *v)
{
    if (!json_is_object(s))
        return true; /* true, {} and the like: anything goes */
    json_t *t = json_object_get(s, "type");
    if (t && !check_type(c, t, v))
        return false;
    json_t *en = json_object_get(s, "enum");
    if (json_is_array(en)) {
        size_t i;
        json_t *e;
        bool found = false;
        json_array_foreach(en, i, e) found = found || json_equal(e, (json_t *)v);
        if (!found) {
            char *list = json_dumps(en, JSON_COMPACT);
            bool r = fail(c, "must be one of %s%s", list ? list : "the listed values", "");
            free(list);
            return r;
        }
    }
    if (json_is_number(v)) {
        char a[64], b[64];
        double x = json_number_value(v);
        json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
        if (json_is_number(mn) && x < json_number_value(mn)) {
            snprintf(a, sizeof a, "%.17g", json_number_value(mn));
            snprintf(b, sizeof b, "%.17g", x);
            return fail(c, "must be at least %s, got %s", a, b);
        }
        if (json_is_number(mx) && x > json_number_value(mx)) {
            snprintf(a, sizeof a, "%.17g", json_number_value(mx));
            snprintf(b, sizeof b, "%.17g", x);
            return fail(c, "must be at most %s, got %s", a, b);
        }
    }
    if (json_is_string(v)) {
        size_t chars = utf8_chars(json_string_value(v), json_string_length(v));
        json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
        char a[32];
        if (json_is_integer(mn) && (json_int_t)chars < json_integer_value(mn)) {
            snprintf(a, sizeof a, "%lld", (long long)json_integer_value(mn));
            return fail(c, "must be at least %s characters long%s", a, "");
        }
        if (json_is_integer(mx) && (json_int_t)chars > json_integer_value(mx)) {
            snprintf(a, sizeof a, "%lld", (long long)json_integer_value(mx));
            return fail(c, "must be at most %s characters long%s", a, "");
        }
    }
    if (json_is_object(v))
        return check_object(c, s, v);
    json_t *items = json_object_get(s, "items");
    if (json_is_array(v) && json_is_object(items)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            size_t l = strlen(c->path);
            snprintf(c->path + l, sizeof c->path - l, "[%zu]", i);
            if (!check_value(c, items, e))
                return false;
            c->path[l] = 0;
        }
    }
    return true;
}

bool jsonschema_check(const json_t *schema, const json_t *v, const char *what, char *msg, size_t n)
{
    check c = {.msg = msg, .n = n, .what = what};
    if (n)
        msg[0] = 0;
    return check_value(&c, schema, v);
}
