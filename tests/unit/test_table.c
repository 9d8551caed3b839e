/* test_table.c - a table's columns and the by-name index: lookups by a
 * slice of a larger buffer (as the readers hand names over), misses,
 * duplicates refused, and enough columns to force the index to grow; the
 * aliases, formats and dropped columns of field mappings, coercions and
 * drops outside pipemend, and their round trip through the catalog JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "schema/table.h"

static int setup(void **state)
{
    *state = pm_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    pm_arena_free(*state);
    return 0;
}

static void test_add_find(void **state)
{
    pm_arena *a = *state;
    char tname[] = "orders";
    pm_table *t = table_new(a, tname);
    tname[0] = 'X'; /* the table keeps its own copy */
    assert_string_equal(t->name, "orders");
    assert_int_equal(t->version, 0);
    assert_int_equal(t->ncols, 0);
    assert_int_equal(table_find(t, "id", 2), -1);

    char cname[] = "id";
    assert_int_equal(table_add(t, a, cname, (pm_type){PM_T_INT64, 0}, false), 0);
    cname[0] = 'X';
    assert_int_equal(table_add(t, a, "email", (pm_type){PM_T_VARCHAR, 64}, true), 1);
    assert_int_equal(table_add(t, a, "address__city", (pm_type){PM_T_TEXT, 0}, true), 2);
    assert_int_equal(t->ncols, 3);
    assert_string_equal(t->cols[0].name, "id");
    assert_int_equal(t->cols[1].type.kind, PM_T_VARCHAR);
    assert_int_equal(t->cols[1].type.len, 64);
    assert_false(t->cols[0].nullable);
    assert_true(t->cols[1].nullable);

    assert_int_equal(table_find(t, "id", 2), 0);
    assert_int_equal(table_find(t, "email", 5), 1);
    assert_int_equal(table_find(t, "address__city", 13), 2);

    /* names arrive as slices: not NUL-terminated, maybe a prefix of more */
    const char *line = "emailaddress__city_x";
    assert_int_equal(table_find(t, line, 5), 1);
    assert_int_equal(table_find(t, line + 5, 13), 2);
    assert_int_equal(table_find(t, line, 4), -1); /* "emai" */
    assert_int_equal(table_find(t, line, 6), -1); /* "emaila" */
    assert_int_equal(table_find(t, "i", 1), -1);
    assert_int_equal(table_find(t, "", 0), -1);
    assert_int_equal(table_find(t, "id\0x", 4), -1); /* embedded NUL is not the end */
    assert_int_equal(table_find(t, "ID", 2), -1);    /* exact: names are normalised already */
}

static void test_duplicate_refused(void **state)
{
    pm_arena *a = *state;
    pm_table *t = table_new(a, "t");
    assert_int_equal(table_add(t, a, "a", (pm_type){PM_T_INT32, 0}, true), 0);
    assert_int_equal(table_add(t, a, "a", (pm_type){PM_T_TEXT, 0}, true), -1);
    assert_int_equal(t->ncols, 1);
    assert_int_equal(t->cols[0].type.kind, PM_T_INT32);
}

static void test_many_columns(void **state)
{
    pm_arena *a = *state;
    pm_table *t = table_new(a, "wide");
    char name[32];
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "col_%d", i);
        assert_int_equal(table_add(t, a, name, (pm_type){PM_T_INT16, 0}, i % 2), i);
        /* every earlier column is still found after each growth */
        if ((i & (i + 1)) == 0)
            for (int k = 0; k <= i; k++) {
                snprintf(name, sizeof name, "col_%d", k);
                assert_int_equal(table_find(t, name, strlen(name)), k);
            }
    }
    assert_int_equal(t->ncols, N);
    assert_true(t->nslots >= 2 * t->ncols);
    assert_int_equal(t->nslots & (t->nslots - 1), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "col_%d", i);
        assert_int_equal(table_find(t, name, strlen(name)), i);
        assert_string_equal(t->cols[i].name, name);
        assert_int_equal(t->cols[i].nullable, i % 2);
        snprintf(name, sizeof name, "col_%dx", i);
        assert_int_equal(table_find(t, name, strlen(name)), -1);
    }
}

static pm_type T(pm_tkind k)
{
    return (pm_type){k, 0};
}

static pm_table *orders(pm_arena *a)
{
    pm_table *t = table_new(a, "orders");
    table_add(t, a, "id", T(PM_T_INT64), false);
    table_add(t, a, "customer_email", (pm_type){PM_T_VARCHAR, 64}, false);
    table_add(t, a, "created_at", T(PM_T_TIMESTAMP), true);
    table_add(t, a, "shipped_on", T(PM_T_DATE), true);
    return t;
}

static void test_aliases_formats_dropped(void **state)
{
    pm_arena *a = *state;
    pm_table *t = orders(a);
    assert_int_equal(table_find_field(t, "email", 5), -1); /* no aliases: no alias index */
    assert_int_equal(t->naslots, 0);

    char alias[] = "email";
    assert_true(table_add_alias(t, a, 1, alias));
    alias[0] = 'X'; /* copied */
    assert_true(table_add_alias(t, a, 1, "mail"));
    assert_int_equal(t->cols[1].naliases, 2);
    assert_string_equal(t->cols[1].aliases[0], "email");
    assert_string_equal(t->cols[1].aliases[1], "mail");
    assert_int_equal(table_find_alias(t, "email", 5), 1);
    assert_int_equal(table_find_field(t, "email", 5), 1);
    assert_int_equal(table_find_field(t, "customer_email", 14), 1);
    assert_int_equal(table_find_field(t, "emailx", 5), 1); /* a slice */
    assert_int_equal(table_find(t, "email", 5), -1);       /* not a column */
    assert_int_equal(table_find_field(t, "emai", 4), -1);

    /* one name, one meaning */
    assert_false(table_add_alias(t, a, 2, "email"));          /* another column's alias */
    assert_false(table_add_alias(t, a, 1, "mail"));           /* its own alias again */
    assert_false(table_add_alias(t, a, 2, "customer_email")); /* a column */
    assert_false(table_add_alias(t, a, 4, "x"));              /* no column 4 */
    assert_false(table_add_alias(t, a, -1, "x"));
    assert_false(table_add_alias(t, a, 0, ""));
    assert_int_equal(table_add(t, a, "email", T(PM_T_TEXT), true), -1);
    assert_int_equal(t->naliases, 2);

    assert_true(table_set_format(t, a, 2, "%m/%d/%Y %H:%M"));
    assert_string_equal(t->cols[2].format, "%m/%d/%Y %H:%M");
    assert_true(table_set_format(t, a, 3, "%d.%m.%Y"));
    assert_false(table_set_format(t, a, 0, "%Y")); /* int64 */
    assert_false(table_set_format(t, a, 1, "%Y")); /* varchar */
    assert_false(table_set_format(t, a, 2, ""));
    assert_false(table_set_format(t, a, 9, "%Y"));
    assert_null(t->cols[0].format);

    assert_true(table_add_dropped(t, a, "coupon"));
    assert_true(table_is_dropped(t, "coupon", 6));
    assert_false(table_is_dropped(t, "coupo", 5));
    assert_false(table_add_dropped(t, a, "coupon")); /* twice */
    assert_false(table_add_dropped(t, a, "id"));     /* a column */
    assert_false(table_add_dropped(t, a, "mail"));   /* an alias */
    assert_false(table_add_alias(t, a, 1, "coupon"));
    assert_int_equal(table_add(t, a, "coupon", T(PM_T_TEXT), true), -1);

    /* a copy is deep: forgetting a drop in it leaves the original alone */
    pm_table *c = table_copy(t, a);
    assert_int_equal(c->version, t->version);
    assert_int_equal(c->ncols, 4);
    assert_int_equal(table_find_field(c, "mail", 4), 1);
    assert_string_equal(c->cols[2].format, "%m/%d/%Y %H:%M");
    assert_ptr_not_equal(c->cols[2].format, t->cols[2].format);
    assert_true(table_forget_dropped(c, "coupon"));
    assert_false(table_forget_dropped(c, "coupon"));
    assert_int_equal(c->ndropped, 0);
    assert_true(table_is_dropped(t, "coupon", 6));
    assert_int_equal(table_add(c, a, "coupon", T(PM_T_TEXT), true), 4);
}

/* Many aliases: the alias index grows and finds all of them. */
static void test_many_aliases(void **state)
{
    pm_arena *a = *state;
    pm_table *t = orders(a);
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "alias_%d", i);
        assert_true(table_add_alias(t, a, i % 4, name));
    }
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "alias_%d", i);
        assert_int_equal(table_find_field(t, name, strlen(name)), i % 4);
    }
    assert_true(t->naslots >= 2 * t->naliases);
    assert_int_equal(table_find_field(t, "alias_300", 9), -1);
}

static char *dump(const pm_table *t)
{
    json_t *j = table_columns_json(t);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

static void test_json_round_trip(void **state)
{
    pm_arena *a = *state;
    pm_table *t = orders(a);
    /* without mappings, coercions or drops the text is what it always was */
    char *plain = dump(t);
    assert_string_equal(plain,
                        "[{\"name\":\"id\",\"type\":\"int64\",\"nullable\":false},"
                        "{\"name\":\"customer_email\",\"type\":\"varchar(64)\",\"nullable\":false},"
                        "{\"name\":\"created_at\",\"type\":\"timestamp\",\"nullable\":true},"
                        "{\"name\":\"shipped_on\",\"type\":\"date\",\"nullable\":true}]");
    free(plain);

    table_add_alias(t, a, 1, "email");
    table_add_alias(t, a, 1, "e_mail");
    table_set_format(t, a, 2, "%a, %d %b %Y %H:%M:%S %z");
    table_add_dropped(t, a, "coupon");
    table_add_dropped(t, a, "notes");
    char *text = dump(t);
    assert_string_equal(
        text, "[{\"name\":\"id\",\"type\":\"int64\",\"nullable\":false},"
              "{\"name\":\"customer_email\",\"type\":\"varchar(64)\",\"nullable\":false,"
              "\"aliases\":[\"email\",\"e_mail\"]},"
              "{\"name\":\"created_at\",\"type\":\"timestamp\",\"nullable\":true,"
              "\"format\":\"%a, %d %b %Y %H:%M:%S %z\"},"
              "{\"name\":\"shipped_on\",\"type\":\"date\",\"nullable\":true},"
              "{\"name\":\"coupon\",\"dropped\":true},{\"name\":\"notes\",\"dropped\":true}]");

    pm_table *back = table_new(a, "orders");
    pm_err err;
    assert_int_equal(table_columns_parse(back, a, text, &err), PM_OK);
    assert_int_equal(back->ncols, 4);
    assert_int_equal(back->cols[1].naliases, 2);
    assert_string_equal(back->cols[1].aliases[1], "e_mail");
    assert_int_equal(table_find_field(back, "email", 5), 1);
    assert_string_equal(back->cols[2].format, "%a, %d %b %Y %H:%M:%S %z");
    assert_null(back->cols[3].format);
    assert_int_equal(back->ndropped, 2);
    assert_true(table_is_dropped(back, "notes", 5));
    char *again = dump(back);
    assert_string_equal(again, text);
    free(again);
    free(text);
}

static void test_old_json_parses(void **state)
{
    pm_arena *a = *state;
    pm_table *t = table_new(a, "orders");
    pm_err err;
    /* as the catalog stored it before mappings existed, spaces and all */
    const char *old = "[{\"name\": \"id\", \"type\": \"int32\", \"nullable\": false}, "
                      "{\"name\": \"at\", \"type\": \"timestamptz\", \"nullable\": true}]";
    assert_int_equal(table_columns_parse(t, a, old, &err), PM_OK);
    assert_int_equal(t->ncols, 2);
    assert_false(t->cols[0].nullable);
    assert_int_equal(t->cols[1].type.kind, PM_T_TIMESTAMPTZ);
    assert_int_equal(t->naliases, 0);
    assert_null(t->cols[1].format);
    assert_int_equal(t->ndropped, 0);
    assert_int_equal(table_columns_parse(table_new(a, "e"), a, "[]", &err), PM_OK);
}

static void test_bad_json_rejected(void **state)
{
    pm_arena *a = *state;
    static const char *const bad[] = {
        "",
        "{}",
        "[1]",
        "[{\"name\":\"id\",\"type\":\"int32\"}]",                           /* no nullable */
        "[{\"name\":\"id\",\"type\":\"int32\",\"nullable\":1}]",            /* not a boolean */
        "[{\"name\":\"id\",\"type\":\"int33\",\"nullable\":true}]",         /* no such type */
        "[{\"name\":\"\",\"type\":\"int32\",\"nullable\":true}]",           /* empty name */
        "[{\"type\":\"int32\",\"nullable\":true}]",                         /* no name */
        "[{\"name\":\"id\",\"type\":\"int32\",\"nullable\":true,\"x\":1}]", /* unknown key */
        "[{\"name\":\"id\",\"type\":\"int32\",\"nullable\":true,\"name\":\"id2\"}]",
        "[{\"name\":\"a\",\"type\":\"int32\",\"nullable\":true},"
        "{\"name\":\"a\",\"type\":\"text\",\"nullable\":true}]", /* a name twice */
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true,\"aliases\":[]}]",
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true,\"aliases\":\"b\"}]",
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true,\"aliases\":[1]}]",
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true,\"aliases\":[\"\"]}]",
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true,\"aliases\":[\"b\",\"b\"]}]",
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true,\"aliases\":[\"a\"]}]",
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true,\"aliases\":[\"b\"]},"
        "{\"name\":\"b\",\"type\":\"text\",\"nullable\":true}]", /* alias, then column */
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true,\"format\":\"%Y\"}]", /* text */
        "[{\"name\":\"a\",\"type\":\"date\",\"nullable\":true,\"format\":\"\"}]",
        "[{\"name\":\"a\",\"type\":\"date\",\"nullable\":true,\"format\":null}]",
        "[{\"name\":\"a\",\"dropped\":false}]",
        "[{\"name\":\"a\",\"dropped\":1}]",
        "[{\"name\":\"a\",\"dropped\":true,\"type\":\"text\"}]",
        "[{\"dropped\":true}]",
        "[{\"name\":\"a\",\"dropped\":true},{\"name\":\"a\",\"dropped\":true}]",
        "[{\"name\":\"a\",\"type\":\"text\",\"nullable\":true},{\"name\":\"a\",\"dropped\":true}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pm_table *t = table_new(a, "orders");
        pm_err err;
        pm_err_clear(&err);
        pm_code rc = table_columns_parse(t, a, bad[i], &err);
        if (rc != PM_ERR_DB)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err.msg, "catalog schema of orders"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases_formats_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_json_parses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_json_rejected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
