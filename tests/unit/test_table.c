/* test_table.c - a table's columns and the by-name index: lookups by a
 * slice of a larger buffer (as the readers hand names over), misses,
 * duplicates refused, and enough columns to force the index to grow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_columns, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
