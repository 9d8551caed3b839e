/* test_planner.c - the rule planner: which op each finding kind becomes,
 * how findings about one column merge, and what a rename keeps out. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_and_merging),
        cmocka_unit_test(test_rename_gets_a_mapping_not_a_column),
    };
    return cmocka_run_group_tests_name("planner", tests, NULL, NULL);
}
