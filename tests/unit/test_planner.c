/* test_planner.c - the rule planner: which op each finding kind becomes,
 * how findings about one column merge, and what a rename keeps out; and
 * op_result, the schema version the ops make. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "heal/planner.h"
#include "heal/policy.h"

static pm_table *fixture(pm_arena *a)
{
    pm_table *t = table_new(a, "orders");
    table_add(t, a, "id", (pm_type){PM_T_INT32, 0}, false);
    table_add(t, a, "email", (pm_type){PM_T_VARCHAR, 32}, false);
    table_add(t, a, "at", (pm_type){PM_T_TIMESTAMP, 0}, true);
    return t;
}

static void test_rules_and_merging(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = fixture(a);
    pm_plan p = {0};
    pm_finding r1[] = {
        {.kind = FINDING_NEW_FIELD,
         .field = "coupon",
         .column = "coupon",
         .proposed = {PM_T_VARCHAR, 16}},
        {.kind = FINDING_WIDEN,
         .field = "id",
         .column = "id",
         .expected = {PM_T_INT32, 0},
         .proposed = {PM_T_INT64, 0}},
    };
    pm_finding r2[] = {
        {.kind = FINDING_NEW_FIELD,
         .field = "coupon",
         .column = "coupon",
         .proposed = {PM_T_VARCHAR, 64}},
        {.kind = FINDING_WIDEN,
         .field = "id",
         .column = "id",
         .expected = {PM_T_INT32, 0},
         .proposed = {PM_T_FLOAT64, 0}},
        {.kind = FINDING_NULL_VIOLATION, .column = "email"},
        {.kind = FINDING_FORMAT, .field = "at", .column = "at", .format = "%m/%d/%Y"},
        {.kind = FINDING_TYPE_CONFLICT, .field = "id", .column = "id"},
        {.kind = FINDING_MALFORMED},
    };
    planner_consider(&p, t, r1, 2, a);
    planner_consider(&p, t, r2, 6, a);
    assert_int_equal(p.n, 4);
    assert_int_equal(p.ops[0].kind, OP_ADD_COLUMN);
    assert_int_equal(p.ops[0].type.len, 64); /* joined over both rows */
    assert_int_equal(p.ops[1].kind, OP_WIDEN_COLUMN);
    assert_int_equal(p.ops[1].type.kind, PM_T_FLOAT64); /* int64 join float64 */
    assert_int_equal(p.ops[2].kind, OP_DROP_NOT_NULL);
    assert_int_equal(p.ops[3].kind, OP_ADD_COERCION);
    assert_string_equal(p.ops[3].format, "%m/%d/%Y");
    assert_non_null(strstr(p.why[0], "coupon"));
    /* the policy: the column and the widening apply by themselves, the
     * rest needs a person (int64 -> float64 is a review edge) */
    assert_int_equal(policy_class(&p.ops[0], t), CLASS_AUTO);
    assert_int_equal(policy_class(&p.ops[1], t), CLASS_AUTO); /* int32 -> float64 */
    assert_int_equal(policy_class(&p.ops[2], t), CLASS_REVIEW);
    assert_int_equal(policy_class(&p.ops[3], t), CLASS_REVIEW);
    pm_arena_free(a);
}

static void test_rename_gets_a_mapping_not_a_column(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = fixture(a);
    pm_plan p = {0};
    pm_finding r[] = {
        {.kind = FINDING_NEW_FIELD,
         .field = "mail",
         .column = "mail",
         .proposed = {PM_T_VARCHAR, 32}},
        {.kind = FINDING_RENAME, .field = "mail", .column = "email"},
    };
    planner_consider(&p, t, r, 2, a);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.ops[0].kind, OP_ADD_FIELD_MAPPING);
    assert_string_equal(p.ops[0].field, "mail");
    assert_string_equal(p.ops[0].column, "email");
    assert_int_equal(policy_class(&p.ops[0], t), CLASS_REVIEW);
    pm_arena_free(a);
}

static void test_out_of_band_gets_no_op(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = fixture(a);
    pm_plan p = {0};
    pm_finding r[] = {
        {.kind = FINDING_OUT_OF_BAND, .field = "Coupon", .column = "coupon"},
        {.kind = FINDING_TYPE_CONFLICT, .field = "id", .column = "id"},
    };
    planner_consider(&p, t, r, 2, a);
    assert_int_equal(p.n, 0);
    pm_arena_free(a);
}

static pm_code result(const pm_table *t, pm_op op, pm_arena *a, pm_table **out, pm_err *err)
{
    pm_err_clear(err);
    return op_result(t, &op, 1, a, out, err);
}

static void test_result_mapping_and_coercion(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = fixture(a);
    t->version = 3;
    pm_op ops[] = {
        {.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "email", .field = "E-Mail"},
        {.kind = OP_ADD_COERCION, .table = "orders", .column = "at", .format = "%m/%d/%Y %H:%M"},
    };
    pm_table *r;
    pm_err err;
    assert_int_equal(op_result(t, ops, 2, a, &r, &err), PM_OK);
    assert_int_equal(r->version, 4);
    assert_int_equal(r->ncols, 3);
    assert_int_equal(r->cols[1].naliases, 1);
    assert_string_equal(r->cols[1].aliases[0], "e_mail"); /* the normal form */
    assert_int_equal(table_find_field(r, "e_mail", 6), 1);
    assert_string_equal(r->cols[2].format, "%m/%d/%Y %H:%M");
    /* the version it came from is as it was */
    assert_int_equal(t->version, 3);
    assert_int_equal(t->naliases, 0);
    assert_null(t->cols[2].format);

    /* and the next version keeps them */
    pm_table *r2;
    pm_op more = {
        .kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "email", .field = "mail"};
    assert_int_equal(result(r, more, a, &r2, &err), PM_OK);
    assert_int_equal(r2->version, 5);
    assert_int_equal(r2->cols[1].naliases, 2);
    assert_string_equal(r2->cols[2].format, "%m/%d/%Y %H:%M");
    pm_op refmt = {.kind = OP_ADD_COERCION, .table = "orders", .column = "at", .format = "%D"};
    assert_int_equal(result(r2, refmt, a, &r2, &err), PM_OK);
    assert_string_equal(r2->cols[2].format, "%D");
    /* widening past date/time leaves nothing to parse */
    pm_op to_text = {
        .kind = OP_WIDEN_COLUMN, .table = "orders", .column = "at", .type = {PM_T_TEXT, 0}};
    pm_table *r3;
    assert_int_equal(result(r2, to_text, a, &r3, &err), PM_OK);
    assert_null(r3->cols[2].format);
    pm_op to_tz = {
        .kind = OP_WIDEN_COLUMN, .table = "orders", .column = "at", .type = {PM_T_TIMESTAMPTZ, 0}};
    assert_int_equal(result(r2, to_tz, a, &r3, &err), PM_OK);
    assert_string_equal(r3->cols[2].format, "%D");
    pm_arena_free(a);
}

static void test_result_refuses(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = fixture(a);
    assert_true(table_add_alias(t, a, 1, "mail"));
    pm_table *r = NULL;
    pm_err err;
    static const struct {
        pm_op op;
        const char *msg;
    } bad[] = {
        {{.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "e_mail", .field = "x"},
         "orders has no column e_mail"},
        {{.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "email", .field = "ID"},
         "field id already lands in column orders.id"},
        {{.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "email", .field = "Mail"},
         "field mail is already mapped to orders.email"},
        {{.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "at", .field = "mail"},
         "field mail is already mapped to orders.email"},
        {{.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "at", .field = ""},
         "has no valid field name"},
        {{.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "at", .field = "x\xC3"},
         "has no valid field name"},
        {{.kind = OP_ADD_COERCION, .table = "orders", .column = "shipped", .format = "%Y"},
         "orders has no column shipped"},
        {{.kind = OP_ADD_COERCION, .table = "orders", .column = "email", .format = "%Y"},
         "orders.email is varchar(32); a coercion is for a date, timestamp or timestamptz "
         "column"},
        {{.kind = OP_ADD_COERCION, .table = "orders", .column = "id", .format = "%Y"},
         "orders.id is int32"},
        {{.kind = OP_ADD_COERCION, .table = "orders", .column = "at", .format = NULL},
         "the coercion of orders.at has no format"},
        {{.kind = OP_ADD_COLUMN, .table = "orders", .column = "mail", .type = {PM_T_TEXT, 0}},
         "mail is a field mapped to orders.email"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pm_code rc = result(t, bad[i].op, a, &r, &err);
        if (rc != PM_ERR_SCHEMA || !strstr(err.msg, bad[i].msg))
            fail_msg("op %zu: expected \"%s\", got %s: %s", i, bad[i].msg, pm_code_name(rc),
                     err.msg);
    }
    /* two mappings of one field in one list: the second finds the first */
    pm_op two[] = {
        {.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "email", .field = "e mail"},
        {.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "at", .field = "E_Mail"},
    };
    assert_int_equal(op_result(t, two, 2, a, &r, &err), PM_ERR_SCHEMA);
    assert_non_null(strstr(err.msg, "field e_mail is already mapped to orders.email"));
    pm_arena_free(a);
}

/* A dropped column comes back through add_column or a mapping of its
 * name; either way it is no longer dropped. */
static void test_result_forgets_drops(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = fixture(a);
    assert_true(table_add_dropped(t, a, "coupon"));
    assert_true(table_add_dropped(t, a, "promo"));
    pm_op ops[] = {
        {.kind = OP_ADD_COLUMN, .table = "orders", .column = "coupon", .type = {PM_T_TEXT, 0}},
        {.kind = OP_ADD_FIELD_MAPPING, .table = "orders", .column = "email", .field = "Promo"},
    };
    pm_table *r;
    pm_err err;
    assert_int_equal(op_result(t, ops, 2, a, &r, &err), PM_OK);
    assert_int_equal(r->ndropped, 0);
    assert_int_equal(table_find(r, "coupon", 6), 3);
    assert_int_equal(table_find_field(r, "promo", 5), 1);
    assert_int_equal(t->ndropped, 2);
    pm_arena_free(a);
}

/* Two new fields whose columns would look alike (Cyrillic о in the second)
 * become one add_column, never two; a field that looks like a live column
 * becomes a mapping (drift's rename finding) whose reason names both. */
static void test_look_alikes(void **state)
{
    pm_arena *a = pm_arena_new(0);
    pm_table *t = fixture(a);
    pm_plan p = {0};
    pm_finding r1[] = {
        {.kind = FINDING_NEW_FIELD, .field = "zone", .column = "zone", .proposed = {PM_T_TEXT, 0}}};
    pm_finding r2[] = {{.kind = FINDING_NEW_FIELD,
                        .field = "z\xD0\xBEne",
                        .column = "z\xD0\xBEne",
                        .proposed = {PM_T_TEXT, 0}}};
    pm_finding r3[] = {{.kind = FINDING_RENAME, .field = "em\xCE\xB1il", .column = "email"}};
    planner_consider(&p, t, r1, 1, a);
    planner_consider(&p, t, r2, 1, a);
    planner_consider(&p, t, r3, 1, a);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.ops[0].kind, OP_ADD_COLUMN);
    assert_string_equal(p.ops[0].column, "zone");
    assert_int_equal(p.ops[1].kind, OP_ADD_FIELD_MAPPING);
    assert_non_null(strstr(p.why[1], "looks like column email"));
    assert_non_null(strstr(p.why[1], "U+03B1"));
    assert_int_equal(policy_class(&p.ops[1], t), CLASS_REVIEW);
    pm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_look_alikes),
        cmocka_unit_test(test_rules_and_merging),
        cmocka_unit_test(test_rename_gets_a_mapping_not_a_column),
        cmocka_unit_test(test_out_of_band_gets_no_op),
        cmocka_unit_test(test_result_mapping_and_coercion),
        cmocka_unit_test(test_result_refuses),
        cmocka_unit_test(test_result_forgets_drops),
    };
    return cmocka_run_group_tests_name("planner", tests, NULL, NULL);
}
