/* test_pg_types.c - the PostgreSQL backend's type mapping, without a
 * server: every logical type survives the round trip through its
 * declaration as format_type() prints it back, and the declarations of a
 * table made by hand map to the logical types a user expects. Also the
 * identifier quoting and the advisory lock keys, which must not change
 * between releases (two versions of pipemend share one warehouse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/hash.h"
#include "store/pg_int.h"

static pm_type T(pm_tkind k, uint32_t len)
{
    return (pm_type){k, len};
}

static void assert_type(pm_type got, pm_type want)
{
    char g[TYPE_NAME_MAX], w[TYPE_NAME_MAX];
    if (got.kind != want.kind || got.len != want.len)
        fail_msg("got %s, want %s", type_name(got, g), type_name(want, w));
}

/* Each logical type, its declaration in DDL and its spelling by
 * format_type(atttypid, atttypmod), as PostgreSQL 15 prints it. */
static const struct {
    pm_type t;
    const char *decl, *format;
} types[] = {
    {{PM_T_BOOL, 0}, "boolean", "boolean"},
    {{PM_T_INT16, 0}, "smallint", "smallint"},
    {{PM_T_INT32, 0}, "integer", "integer"},
    {{PM_T_INT64, 0}, "bigint", "bigint"},
    {{PM_T_FLOAT64, 0}, "double precision", "double precision"},
    {{PM_T_NUMERIC, 0}, "numeric", "numeric"},
    {{PM_T_VARCHAR, 1}, "varchar(1)", "character varying(1)"},
    {{PM_T_VARCHAR, 32}, "varchar(32)", "character varying(32)"},
    {{PM_T_VARCHAR, 256}, "varchar(256)", "character varying(256)"},
    {{PM_T_VARCHAR, TYPE_VARCHAR_MAX}, "varchar(10485760)", "character varying(10485760)"},
    {{PM_T_TEXT, 0}, "text", "text"},
    {{PM_T_DATE, 0}, "date", "date"},
    {{PM_T_TIMESTAMP, 0}, "timestamp", "timestamp without time zone"},
    {{PM_T_TIMESTAMPTZ, 0}, "timestamptz", "timestamp with time zone"},
    {{PM_T_JSON, 0}, "jsonb", "jsonb"},
};

static void test_round_trip(void **state)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char buf[32];
        assert_string_equal(pg_type_decl(types[i].t, buf), types[i].decl);
        /* with the catalog's own type, and with none (a table pipemend
         * did not make): the same logical type either way */
        assert_type(pg_type_from_decl(types[i].format, types[i].t), types[i].t);
        assert_type(pg_type_from_decl(types[i].format, T(PM_T_UNKNOWN, 0)), types[i].t);
        /* the DDL spelling reads back too */
        assert_type(pg_type_from_decl(types[i].decl, T(PM_T_UNKNOWN, 0)), types[i].t);
    }
    char buf[32];
    assert_string_equal(pg_type_decl(T(PM_T_UNKNOWN, 0), buf), "text");
}

/* A table someone created before pipemend arrived. */
static void test_hand_made(void **state)
{
    static const struct {
        const char *format;
        pm_type want;
    } cases[] = {
        {"character varying(32)", {PM_T_VARCHAR, 32}},
        {"character varying", {PM_T_TEXT, 0}}, /* no length: unbounded */
        {"integer", {PM_T_INT32, 0}},
        {"bigint", {PM_T_INT64, 0}},
        {"smallint", {PM_T_INT16, 0}},
        {"double precision", {PM_T_FLOAT64, 0}},
        {"real", {PM_T_FLOAT64, 0}},
        {"numeric(10,2)", {PM_T_NUMERIC, 0}},
        {"numeric", {PM_T_NUMERIC, 0}},
        {"text", {PM_T_TEXT, 0}},
        {"character(10)", {PM_T_TEXT, 0}},
        {"boolean", {PM_T_BOOL, 0}},
        {"date", {PM_T_DATE, 0}},
        {"timestamp without time zone", {PM_T_TIMESTAMP, 0}},
        {"timestamp(3) without time zone", {PM_T_TIMESTAMP, 0}},
        {"timestamp with time zone", {PM_T_TIMESTAMPTZ, 0}},
        {"timestamp(6) with time zone", {PM_T_TIMESTAMPTZ, 0}},
        {"json", {PM_T_JSON, 0}},
        {"jsonb", {PM_T_JSON, 0}},
        /* other scalars are checked as text; the server checks the rest */
        {"uuid", {PM_T_TEXT, 0}},
        {"integer[]", {PM_T_JSON, 0}},
        {"character varying(32)[]", {PM_T_JSON, 0}},
        {"bytea", {PM_T_TEXT, 0}},
        {"time without time zone", {PM_T_TEXT, 0}},
        {"interval", {PM_T_TEXT, 0}},
        {"timestamp", {PM_T_TIMESTAMP, 0}},
        {"timestamp without time zone garbage", {PM_T_TEXT, 0}},
        {"character varying(0)", {PM_T_JSON, 0}},
        {"character varying(99999999)", {PM_T_JSON, 0}},
        {"", {PM_T_TEXT, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_type(pg_type_from_decl(cases[i].format, T(PM_T_UNKNOWN, 0)), cases[i].want);
    assert_type(pg_type_from_decl(NULL, T(PM_T_UNKNOWN, 0)), T(PM_T_JSON, 0));
}

/* The live declaration wins where it says something else than the
 * catalog: that is how a change made by hand is seen. */
static void test_catalog_differs(void **state)
{
    assert_type(pg_type_from_decl("character varying(128)", T(PM_T_VARCHAR, 64)),
                T(PM_T_VARCHAR, 128));
    assert_type(pg_type_from_decl("integer", T(PM_T_INT64, 0)), T(PM_T_INT32, 0));
    assert_type(pg_type_from_decl("text", T(PM_T_VARCHAR, 32)), T(PM_T_TEXT, 0));
    assert_type(pg_type_from_decl("json", T(PM_T_JSON, 0)), T(PM_T_JSON, 0));
    assert_type(pg_type_from_decl("real", T(PM_T_FLOAT64, 0)), T(PM_T_FLOAT64, 0));
    assert_type(pg_type_from_decl("timestamp with time zone", T(PM_T_TIMESTAMP, 0)),
                T(PM_T_TIMESTAMPTZ, 0));
}

static void test_quote_ident(void **state)
{
    pm_buf b;
    pm_err err;
    pm_buf_init(&b, 1024);
    assert_int_equal(pg_quote_ident(&b, "Order \"Lines\"; DROP TABLE x", &err), PM_OK);
    assert_string_equal(b.data, "\"Order \"\"Lines\"\"; DROP TABLE x\"");
    pm_buf_reset(&b);
    assert_int_equal(pg_quote_ident(&b, "", &err), PM_OK);
    assert_string_equal(b.data, "\"\"");
    pm_buf_free(&b);
}

static void test_lock_key(void **state)
{
    /* FNV-1a of "pipemend:" what, bit for bit: a release that changed it
     * would not exclude an older worker on the same warehouse */
    uint64_t h = pm_hash("pipemend:audit", 14);
    int64_t want;
    memcpy(&want, &h, sizeof want);
    assert_true(pg_lock_key("audit") == want);
    assert_true(pg_lock_key("audit") != pg_lock_key("catalog"));
    assert_true(pg_lock_key("table:orders") != pg_lock_key("table:order"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_hand_made),
        cmocka_unit_test(test_catalog_differs), cmocka_unit_test(test_quote_ident),
        cmocka_unit_test(test_lock_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
