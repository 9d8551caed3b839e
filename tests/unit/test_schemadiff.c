/* test_schemadiff.c - the catalog against the live table: no change, each
 * kind of change with the verdict an operator needs (do the rows that
 * loaded before still load?), the order changes come in, and what SQLite's
 * declared types stand for given the catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/arena.h"
#include "schema/schemadiff.h"
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

static pm_type ty(const char *name)
{
    pm_type t;
    if (!type_parse(name, &t))
        fail_msg("bad type %s", name);
    return t;
}

/* A table from "name type [notnull]" triples: cols is a NULL-terminated
 * list of "name", "type", "null" / "notnull". */
static pm_table *mk(pm_arena *a, const char *const *cols)
{
    pm_table *t = table_new(a, "orders");
    for (size_t i = 0; cols[i]; i += 3)
        assert_true(table_add(t, a, cols[i], ty(cols[i + 1]), strcmp(cols[i + 2], "null") == 0) >=
                    0);
    return t;
}

static const char *const base[] = {"id",   "int32", "notnull", "email", "varchar(64)",
                                   "null", "note",  "text",    "null",  NULL};

static void assert_type(pm_type got, const char *want)
{
    char buf[TYPE_NAME_MAX];
    assert_string_equal(type_name(got, buf), want);
}

static void test_no_change(void **state)
{
    pm_arena *a = *state;
    pm_change *ch = (pm_change *)&ch;
    assert_int_equal(schemadiff(mk(a, base), mk(a, base), a, &ch), 0);
    assert_null(ch);

    /* Order does not matter, names do. */
    const char *const shuffled[] = {"note",    "text",  "null",        "id",   "int32",
                                    "notnull", "email", "varchar(64)", "null", NULL};
    assert_int_equal(schemadiff(mk(a, base), mk(a, shuffled), a, &ch), 0);

    /* Two empty tables. */
    assert_int_equal(schemadiff(table_new(a, "x"), table_new(a, "x"), a, &ch), 0);
    assert_null(ch);
}

static void test_column_added(void **state)
{
    pm_arena *a = *state;
    const char *const live[] = {"id",     "int32", "notnull", "email",  "varchar(64)", "null",
                                "note",   "text",  "null",    "coupon", "text",        "null",
                                "region", "int64", "notnull", NULL};
    pm_change *ch;
    assert_int_equal(schemadiff(mk(a, base), mk(a, live), a, &ch), 2);

    assert_int_equal(ch[0].kind, CHANGE_COLUMN_ADDED);
    assert_string_equal(ch[0].column, "coupon");
    assert_true(ch[0].compatible); /* nullable: old rows just lack it */
    assert_int_equal(ch[0].from.kind, PM_T_UNKNOWN);
    assert_int_equal(ch[0].to.kind, PM_T_UNKNOWN);
    assert_string_equal(ch[0].message, "column \"coupon\" (text, nullable) was added outside "
                                       "pipemend");

    assert_int_equal(ch[1].kind, CHANGE_COLUMN_ADDED);
    assert_string_equal(ch[1].column, "region");
    assert_false(ch[1].compatible); /* NOT NULL: rows without it are refused */
    assert_string_equal(ch[1].message, "column \"region\" (int64, NOT NULL) was added outside "
                                       "pipemend: rows without a value for it will not load");
}

static void test_column_dropped(void **state)
{
    pm_arena *a = *state;
    const char *const live[] = {"id", "int32", "notnull", "note", "text", "null", NULL};
    pm_change *ch;
    assert_int_equal(schemadiff(mk(a, base), mk(a, live), a, &ch), 1);
    assert_int_equal(ch[0].kind, CHANGE_COLUMN_DROPPED);
    assert_string_equal(ch[0].column, "email");
    assert_false(ch[0].compatible);
    assert_int_equal(ch[0].from.kind, PM_T_UNKNOWN);
    assert_string_equal(ch[0].message, "column \"email\" (varchar(64)) was dropped outside "
                                       "pipemend: rows with a value for it will not load");

    /* Everything dropped. */
    assert_int_equal(schemadiff(mk(a, base), table_new(a, "orders"), a, &ch), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ch[i].kind, CHANGE_COLUMN_DROPPED);
    assert_string_equal(ch[2].column, "note");
}

/* A column the catalog already knows was dropped is no column: absent, it
 * is no news; back, it was added again. */
static void test_known_dropped(void **state)
{
    pm_arena *a = *state;
    pm_table *cat = mk(a, base);
    assert_true(table_add_dropped(cat, a, "legacy"));
    pm_change *ch;
    assert_int_equal(schemadiff(cat, mk(a, base), a, &ch), 0);

    pm_table *live = mk(a, base);
    assert_true(table_add(live, a, "legacy", ty("text"), true) >= 0);
    assert_int_equal(schemadiff(cat, live, a, &ch), 1);
    assert_int_equal(ch[0].kind, CHANGE_COLUMN_ADDED);
    assert_string_equal(ch[0].column, "legacy");
}

static void expect_type_change(pm_arena *a, const char *from, const char *to, bool compatible)
{
    const char *const cat[] = {"n", from, "null", NULL};
    const char *const live[] = {"n", to, "null", NULL};
    pm_change *ch;
    assert_int_equal(schemadiff(mk(a, cat), mk(a, live), a, &ch), 1);
    assert_int_equal(ch[0].kind, CHANGE_TYPE_CHANGED);
    assert_string_equal(ch[0].column, "n");
    assert_type(ch[0].from, from);
    assert_type(ch[0].to, to);
    if (ch[0].compatible != compatible)
        fail_msg("%s -> %s: compatible %d, want %d", from, to, ch[0].compatible, compatible);
}

static void test_type_changed(void **state)
{
    pm_arena *a = *state;
    /* Widenings along the lattice, automatic or for review. */
    expect_type_change(a, "int32", "int64", true);
    expect_type_change(a, "bool", "int16", true);
    expect_type_change(a, "varchar(16)", "varchar(64)", true);
    expect_type_change(a, "varchar(64)", "text", true);
    expect_type_change(a, "date", "timestamp", true);
    expect_type_change(a, "int64", "float64", true);         /* review */
    expect_type_change(a, "timestamp", "timestamptz", true); /* review */
    expect_type_change(a, "int32", "text", true);            /* review */
    /* Narrowings and changes with no path. */
    expect_type_change(a, "text", "int64", false);
    expect_type_change(a, "int64", "int32", false);
    expect_type_change(a, "varchar(64)", "varchar(16)", false);
    expect_type_change(a, "float64", "int64", false);
    expect_type_change(a, "timestamp", "date", false);
    expect_type_change(a, "json", "int64", false);

    const char *const cat[] = {"n", "int32", "null", NULL};
    const char *const wider[] = {"n", "int64", "null", NULL};
    const char *const text[] = {"n", "text", "null", NULL};
    pm_change *ch;
    schemadiff(mk(a, cat), mk(a, wider), a, &ch);
    assert_string_equal(ch[0].message, "column \"n\" was changed from int32 to int64 outside "
                                       "pipemend (a widening: rows that loaded before still "
                                       "load)");
    schemadiff(mk(a, text), mk(a, wider), a, &ch);
    assert_string_equal(ch[0].message, "column \"n\" was changed from text to int64 outside "
                                       "pipemend: values that loaded before may not fit");
}

static void test_not_null(void **state)
{
    pm_arena *a = *state;
    /* email becomes NOT NULL, id becomes nullable. */
    const char *const live[] = {"id",      "int32", "null", "email", "varchar(64)",
                                "notnull", "note",  "text", "null",  NULL};
    pm_change *ch;
    assert_int_equal(schemadiff(mk(a, base), mk(a, live), a, &ch), 2);
    assert_int_equal(ch[0].kind, CHANGE_NOT_NULL_DROPPED);
    assert_string_equal(ch[0].column, "id");
    assert_true(ch[0].compatible);
    assert_int_equal(ch[0].from.kind, PM_T_UNKNOWN);
    assert_string_equal(ch[0].message, "column \"id\" was made nullable outside pipemend");
    assert_int_equal(ch[1].kind, CHANGE_NOT_NULL_ADDED);
    assert_string_equal(ch[1].column, "email");
    assert_false(ch[1].compatible);
    assert_string_equal(ch[1].message, "column \"email\" was made NOT NULL outside pipemend: "
                                       "rows without a value for it will not load");
}

/* Catalog columns first in catalog order (type before nullability for one
 * column), then the added ones in live order. */
static void test_order_and_kinds(void **state)
{
    pm_arena *a = *state;
    const char *const live[] = {"zeta", "text", "null", "note",  "int64",   "notnull", "alpha",
                                "bool", "null", "id",   "int64", "notnull", NULL};
    pm_change *ch;
    size_t n = schemadiff(mk(a, base), mk(a, live), a, &ch);
    assert_int_equal(n, 6);
    const struct {
        pm_change_kind kind;
        const char *column;
        const char *kind_name;
    } want[] = {
        {CHANGE_TYPE_CHANGED, "id", "type_changed"},
        {CHANGE_COLUMN_DROPPED, "email", "column_dropped"},
        {CHANGE_TYPE_CHANGED, "note", "type_changed"},
        {CHANGE_NOT_NULL_ADDED, "note", "not_null_added"},
        {CHANGE_COLUMN_ADDED, "zeta", "column_added"},
        {CHANGE_COLUMN_ADDED, "alpha", "column_added"},
    };
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ch[i].kind, want[i].kind);
        assert_string_equal(ch[i].column, want[i].column);
        assert_string_equal(schemadiff_kind_name(ch[i].kind), want[i].kind_name);
        assert_non_null(ch[i].message);
    }
    assert_string_equal(schemadiff_kind_name(CHANGE_NOT_NULL_DROPPED), "not_null_dropped");
    assert_string_equal(schemadiff_kind_name((pm_change_kind)99), "unknown");
}

/* The changes own their names: the tables may go before the changes do. */
static void test_names_copied(void **state)
{
    pm_arena *a = *state;
    pm_arena *tables = pm_arena_new(0);
    const char *const live[] = {"id", "int32", "notnull", "coupon", "text", "null", NULL};
    pm_change *ch;
    assert_int_equal(schemadiff(mk(tables, base), mk(tables, live), a, &ch), 3);
    pm_arena_free(tables);
    assert_string_equal(ch[0].column, "email");
    assert_string_equal(ch[1].column, "note");
    assert_string_equal(ch[2].column, "coupon");
}

static void expect_from_sqlite(const char *decl, const char *catalog, const char *want)
{
    pm_type cat = catalog ? ty(catalog) : (pm_type){PM_T_UNKNOWN, 0};
    char buf[TYPE_NAME_MAX];
    const char *got = type_name(schemadiff_type_from_sqlite(decl, cat), buf);
    if (strcmp(got, want) != 0)
        fail_msg("%s given %s: %s, want %s", decl ? decl : "(null)", catalog ? catalog : "none",
                 got, want);
}

static void test_type_from_sqlite(void **state)
{
    /* INTEGER: the catalog's integer-family type stands; else int64. */
    expect_from_sqlite("INTEGER", "bool", "bool");
    expect_from_sqlite("INTEGER", "int16", "int16");
    expect_from_sqlite("INTEGER", "int32", "int32");
    expect_from_sqlite("INTEGER", "int64", "int64");
    expect_from_sqlite("INTEGER", NULL, "int64");
    expect_from_sqlite("INTEGER", "text", "int64");
    expect_from_sqlite("INTEGER", "numeric", "int64"); /* numeric is stored as TEXT */
    expect_from_sqlite("INTEGER", "float64", "int64");
    expect_from_sqlite("INT", "int32", "int32");
    expect_from_sqlite("integer", "int32", "int32");
    expect_from_sqlite("BIGINT", NULL, "int64");

    /* REAL */
    expect_from_sqlite("REAL", "float64", "float64");
    expect_from_sqlite("REAL", NULL, "float64");
    expect_from_sqlite("REAL", "int64", "float64");
    expect_from_sqlite("DOUBLE PRECISION", "float64", "float64");
    expect_from_sqlite("FLOAT", NULL, "float64");

    /* TEXT holds varchar(n), numeric, dates and times, json. */
    expect_from_sqlite("TEXT", "varchar(64)", "varchar(64)");
    expect_from_sqlite("TEXT", "text", "text");
    expect_from_sqlite("TEXT", "numeric", "numeric");
    expect_from_sqlite("TEXT", "date", "date");
    expect_from_sqlite("TEXT", "timestamp", "timestamp");
    expect_from_sqlite("TEXT", "timestamptz", "timestamptz");
    expect_from_sqlite("TEXT", "json", "json");
    expect_from_sqlite("TEXT", NULL, "text");
    expect_from_sqlite("TEXT", "int32", "text");
    expect_from_sqlite("TEXT", "float64", "text");
    expect_from_sqlite("text", "bool", "text");
    expect_from_sqlite("VARCHAR(10)", "varchar(64)", "varchar(64)");
    expect_from_sqlite("CLOB", NULL, "text");

    /* Anything else: json. */
    expect_from_sqlite("BLOB", NULL, "json");
    expect_from_sqlite("BLOB", "text", "json");
    expect_from_sqlite("ANY", "int64", "json");
    expect_from_sqlite("ANY", "json", "json");
    expect_from_sqlite("NUMERIC", "numeric", "json"); /* not STRICT: NUMERIC affinity */
    expect_from_sqlite("", "text", "json");
    expect_from_sqlite(NULL, "text", "json");
}

/* What the run start will do: introspect, map the declared types, compare.
 * A varchar(64) stored as TEXT is unchanged; INTEGER where int32 was is
 * unchanged; TEXT where int32 was is a compatible change to text; a
 * column added by hand as REAL is float64. */
static void test_with_sqlite_types(void **state)
{
    pm_arena *a = *state;
    pm_table *cat = mk(a, base);
    const struct {
        const char *name, *decl;
        bool nullable;
    } pragma[] = {{"id", "TEXT", false},
                  {"email", "TEXT", true},
                  {"note", "TEXT", true},
                  {"score", "REAL", true}};
    pm_table *live = table_new(a, "orders");
    for (size_t i = 0; i < sizeof pragma / sizeof pragma[0]; i++) {
        int c = table_find(cat, pragma[i].name, strlen(pragma[i].name));
        pm_type t = schemadiff_type_from_sqlite(
            pragma[i].decl, c >= 0 ? cat->cols[c].type : (pm_type){PM_T_UNKNOWN, 0});
        assert_true(table_add(live, a, pragma[i].name, t, pragma[i].nullable) >= 0);
    }
    pm_change *ch;
    assert_int_equal(schemadiff(cat, live, a, &ch), 2);
    assert_int_equal(ch[0].kind, CHANGE_TYPE_CHANGED);
    assert_string_equal(ch[0].column, "id");
    assert_type(ch[0].from, "int32");
    assert_type(ch[0].to, "text");
    assert_true(ch[0].compatible);
    assert_int_equal(ch[1].kind, CHANGE_COLUMN_ADDED);
    assert_string_equal(ch[1].column, "score");
    assert_true(ch[1].compatible);
    assert_non_null(strstr(ch[1].message, "(float64, nullable)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_column_added, setup, teardown),
        cmocka_unit_test_setup_teardown(test_column_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_and_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_copied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_from_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_with_sqlite_types, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
