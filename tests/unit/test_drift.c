/* test_drift.c - each kind of finding from drift_check, on records built
 * by the real JSON scanner against a hand-made table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drift/drift.h"
#include "source/jscan.h"

typedef struct fixture {
    pm_arena *a;
    pm_table *t;
    pm_contract contract;
    contract_rule rules[1];
    drift_ctx *ctx;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->a = pm_arena_new(0);
    f->t = table_new(f->a, "orders");
    table_add(f->t, f->a, "id", (pm_type){PM_T_INT32, 0}, false);
    table_add(f->t, f->a, "email", (pm_type){PM_T_VARCHAR, 32}, false);
    table_add(f->t, f->a, "amount", (pm_type){PM_T_FLOAT64, 0}, true);
    table_add(f->t, f->a, "created_at", (pm_type){PM_T_TIMESTAMP, 0}, true);
    table_add(f->t, f->a, "note", (pm_type){PM_T_TEXT, 0}, true);
    f->rules[0] = (contract_rule){
        .kind = RULE_MIN, .name = "amount.min", .column = "amount", .text = "0", .num = 0};
    f->contract = (pm_contract){.table = "orders", .rules = f->rules, .nrules = 1};
    f->ctx = drift_ctx_new(f->a, f->t, &f->contract);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pm_arena_free(f->a);
    free(f);
    return 0;
}

/* Runs drift on one JSON line; returns the result (allocated in f->a). */
static drift_result check(fixture *f, const char *json)
{
    pm_record rec = {0};
    pm_err err;
    rec.raw = json;
    rec.raw_len = strlen(json);
    if (jscan_record(json, strlen(json), &(jscan_opts){0}, f->a, &rec, &err) != PM_OK)
        rec.malformed = pm_arena_strdup(f->a, err.msg);
    drift_result res;
    drift_check(f->ctx, &rec, f->a, &res);
    return res;
}

static bool has(const drift_result *r, pm_finding_kind k, const char *column)
{
    for (size_t i = 0; i < r->nfindings; i++)
        if (r->findings[i].kind == k &&
            (!column || (r->findings[i].column && strcmp(r->findings[i].column, column) == 0)))
            return true;
    return false;
}

static void test_clean_row_gives_cells(void **state)
{
    drift_result r = check(*state, "{\"id\":7,\"email\":\"a@b.c\",\"amount\":1.5,"
                                   "\"created_at\":\"2026-11-01 10:00:00\"}");
    assert_int_equal(r.nfindings, 0);
    assert_int_equal(r.cells[0].kind, PM_CELL_INT);
    assert_int_equal(r.cells[0].i, 7);
    assert_int_equal(r.cells[2].kind, PM_CELL_REAL);
    assert_int_equal(r.cells[4].kind, PM_CELL_NULL);
}

static void test_each_kind(void **state)
{
    fixture *f = *state;
    drift_result r;
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"coupon\":\"X1\"}");
    assert_true(has(&r, FINDING_NEW_FIELD, "coupon"));
    assert_non_null(strstr(r.findings[0].message, "adding a nullable column coupon"));

    r = check(f, "{\"id\":3000000000,\"email\":\"a@b.c\"}");
    assert_true(has(&r, FINDING_WIDEN, "id"));
    assert_int_equal(r.findings[0].proposed.kind, PM_T_INT64);

    r = check(f, "{\"id\":1,\"email\":\"0123456789012345678901234567890123456789\"}");
    assert_true(has(&r, FINDING_WIDEN, "email"));

    r = check(f, "{\"id\":\"abc\",\"email\":\"a@b.c\"}");
    assert_true(has(&r, FINDING_TYPE_CONFLICT, "id"));

    r = check(f, "{\"id\":1,\"email\":null}");
    assert_true(has(&r, FINDING_NULL_VIOLATION, "email"));

    r = check(f, "{\"id\":1}");
    assert_true(has(&r, FINDING_NULL_VIOLATION, "email"));

    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"note\":[1,2]}");
    assert_false(has(&r, FINDING_NESTED, "note")); /* arrays fit text as their JSON */

    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"amount\":[1]}");
    assert_true(has(&r, FINDING_NESTED, "amount"));

    r = check(f, "{\"id\":1,\"email\":{\"work\":\"a@b.c\"}}");
    assert_true(has(&r, FINDING_NESTED, NULL));

    r = check(f, "{\"id\":1,\"mail\":\"a@b.c\"}");
    assert_true(has(&r, FINDING_RENAME, "email"));

    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"created_at\":\"11/01/2026 10:00\"}");
    assert_true(has(&r, FINDING_FORMAT, "created_at"));
    assert_string_equal(r.findings[0].format, "%m/%d/%Y %H:%M");

    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"amount\":-2}");
    assert_true(has(&r, FINDING_CONTRACT, "amount"));
    assert_string_equal(r.findings[0].rule, "amount.min");

    r = check(f, "{\"id\":1,");
    assert_true(has(&r, FINDING_MALFORMED, NULL));

    r = check(f, "{\"id\":1,\"Email\":\"a@b.c\",\"email\":\"d@e.f\"}");
    assert_true(has(&r, FINDING_MALFORMED, "email"));
}

static void test_null_new_field_is_not_drift(void **state)
{
    drift_result r = check(*state, "{\"id\":1,\"email\":\"a@b.c\",\"extra\":null}");
    assert_int_equal(r.nfindings, 0);
}

static void test_findings_json(void **state)
{
    fixture *f = *state;
    drift_result r = check(f, "{\"id\":\"x\\\"y\",\"email\":\"a@b.c\"}");
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    assert_int_equal(drift_findings_json(&b, r.findings, r.nfindings, NULL), PM_OK);
    assert_non_null(strstr(b.data, "\"kind\":\"type_conflict\""));
    assert_non_null(strstr(b.data, "\"observed\":\"x\\\"y\""));
    assert_non_null(strstr(b.data, "\"expected\":\"int32\""));
    pm_buf_free(&b);
    assert_string_equal(drift_kinds_list(r.findings, r.nfindings, f->a), "type_conflict");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_row_gives_cells, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_new_field_is_not_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(test_findings_json, setup, teardown),
    };
    return cmocka_run_group_tests_name("drift", tests, NULL, NULL);
}
