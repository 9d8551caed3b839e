/* test_drift.c - each kind of finding from drift_check, on records built
 * by the real JSON scanner against a hand-made table; and what field
 * mappings, coercions and dropped columns of a schema version change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drift/drift.h"
#include "schema/op.h"
#include "heal/planner.h"
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

/* Cells are NULL for a null value and for a field the record lacks, even
 * in arena memory that held something else before (drift_check does not
 * zero the cells it writes one by one). */
static void test_null_cells_in_reused_memory(void **state)
{
    fixture *f = *state;
    pm_arena *a = pm_arena_new(0);
    const char *json = "{\"id\":7,\"email\":\"a@b.c\",\"amount\":null}";
    for (int round = 0; round < 3; round++) {
        memset(pm_arena_alloc(a, 60000), 0xA5, 60000);
        pm_arena_reset(a); /* the first block is kept: what comes next reuses it */
        pm_record rec = {0};
        pm_err err;
        assert_int_equal(jscan_record(json, strlen(json), &(jscan_opts){0}, a, &rec, &err), PM_OK);
        drift_result r;
        drift_check(f->ctx, &rec, a, &r);
        assert_int_equal(r.nfindings, 0);
        assert_int_equal(r.cells[0].kind, PM_CELL_INT);
        assert_int_equal(r.cells[0].i, 7);
        assert_int_equal(r.cells[1].kind, PM_CELL_TEXT);
        for (int c = 2; c < 5; c++) /* amount: null; created_at and note: absent */
            assert_int_equal(r.cells[c].kind, PM_CELL_NULL);
    }
    pm_arena_free(a);
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

static const char *cell_text(const drift_result *r, int col)
{
    assert_int_equal(r->cells[col].kind, PM_CELL_TEXT);
    static char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)r->cells[col].len, r->cells[col].s);
    return buf;
}

/* The fixture's table after ops, and the context pointed at it. */
static pm_table *heal(fixture *f, const pm_op *ops, size_t n)
{
    pm_table *next;
    pm_err err;
    if (op_result(f->t, ops, n, f->a, &next, &err) != PM_OK)
        fail_msg("op_result: %s", err.msg);
    drift_ctx_retarget(f->ctx, next);
    f->t = next;
    return next;
}

static void test_mapping_loads_alias(void **state)
{
    fixture *f = *state;
    const char *rec = "{\"id\":1,\"Mail\":\"a@b.c\"}";
    drift_result r = check(f, rec); /* fills the name cache with Mail: no column */
    assert_true(has(&r, FINDING_RENAME, "email"));
    pm_plan plan = {0};
    planner_consider(&plan, f->t, r.findings, r.nfindings, f->a);
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.ops[0].kind, OP_ADD_FIELD_MAPPING);
    assert_string_equal(plan.ops[0].field, "Mail"); /* as the feed spells it */
    pm_table *t = heal(f, plan.ops, plan.n);
    assert_string_equal(t->cols[1].aliases[0], "mail");

    /* the retargeted context resolves the alias: the value is in email */
    r = check(f, rec);
    assert_int_equal(r.nfindings, 0);
    assert_string_equal(cell_text(&r, 1), "a@b.c");
    r = check(f, "{\"id\":2,\"mail\":\"x@y.z\",\"amount\":2}");
    assert_int_equal(r.nfindings, 0);
    assert_string_equal(cell_text(&r, 1), "x@y.z");
    /* the column's own name still loads */
    r = check(f, "{\"id\":3,\"email\":\"c@d.e\"}");
    assert_int_equal(r.nfindings, 0);
    assert_string_equal(cell_text(&r, 1), "c@d.e");
    /* the mapped value is checked against the column like any other */
    r = check(f, "{\"id\":4,\"mail\":\"0123456789012345678901234567890123456789\"}");
    assert_true(has(&r, FINDING_WIDEN, "email"));
    assert_string_equal(r.findings[0].field, "mail");
    r = check(f, "{\"id\":4,\"mail\":null}");
    assert_true(has(&r, FINDING_NULL_VIOLATION, "email"));

    /* both the alias and the column in one record: which one is meant? */
    r = check(f, "{\"id\":5,\"email\":\"a@b.c\",\"mail\":\"d@e.f\"}");
    assert_int_equal(r.nfindings, 1);
    assert_true(has(&r, FINDING_MALFORMED, "email"));
    assert_non_null(
        strstr(r.findings[0].message, "fields \"email\" and \"mail\" both become column email"));
    r = check(f, "{\"id\":5,\"mail\":\"d@e.f\",\"email\":\"a@b.c\"}");
    assert_true(has(&r, FINDING_MALFORMED, "email"));
}

static void test_coercion_loads_canonical_text(void **state)
{
    fixture *f = *state;
    const char *rec = "{\"id\":1,\"email\":\"a@b.c\",\"created_at\":\"11/01/2026 10:00\"}";
    drift_result r = check(f, rec);
    assert_true(has(&r, FINDING_FORMAT, "created_at"));
    pm_plan plan = {0};
    planner_consider(&plan, f->t, r.findings, r.nfindings, f->a);
    assert_int_equal(plan.n, 1);
    assert_int_equal(plan.ops[0].kind, OP_ADD_COERCION);
    pm_table *t = heal(f, plan.ops, plan.n);
    assert_string_equal(t->cols[3].format, "%m/%d/%Y %H:%M");

    r = check(f, rec);
    assert_int_equal(r.nfindings, 0);
    assert_string_equal(cell_text(&r, 3), "2026-11-01T10:00:00");
    /* ISO still loads as it is */
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"created_at\":\"2026-11-02 08:00:00\"}");
    assert_int_equal(r.nfindings, 0);
    assert_string_equal(cell_text(&r, 3), "2026-11-02 08:00:00");
    /* a date that does not exist: no format, no coercion, a conflict */
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"created_at\":\"02/30/2026 10:00\"}");
    assert_int_equal(r.nfindings, 1);
    assert_true(has(&r, FINDING_TYPE_CONFLICT, "created_at"));
    /* another layout still is a format finding, naming that layout */
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"created_at\":\"01.11.2026 10:00\"}");
    assert_int_equal(r.nfindings, 1);
    assert_true(has(&r, FINDING_FORMAT, "created_at"));
    assert_string_equal(r.findings[0].format, "%d.%m.%Y %H:%M");
    /* trailing garbage */
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"created_at\":\"11/01/2026 10:00x\"}");
    assert_true(has(&r, FINDING_TYPE_CONFLICT, "created_at"));
}

/* A column whose coercion cannot make its type (no zone for timestamptz):
 * the value is a conflict, not a format finding that would propose the
 * same coercion again. */
static void test_coercion_that_cannot_fit(void **state)
{
    fixture *f = *state;
    pm_table *t = table_new(f->a, "events");
    table_add(t, f->a, "at", (pm_type){PM_T_TIMESTAMPTZ, 0}, true);
    table_set_format(t, f->a, 0, "%m/%d/%Y %H:%M");
    drift_ctx *ctx = drift_ctx_new(f->a, t, NULL);
    const char *json = "{\"at\":\"11/01/2026 10:00\"}";
    pm_record rec = {.raw = json, .raw_len = strlen(json)};
    pm_err err;
    assert_int_equal(jscan_record(json, strlen(json), &(jscan_opts){0}, f->a, &rec, &err), PM_OK);
    drift_result r;
    drift_check(ctx, &rec, f->a, &r);
    assert_int_equal(r.nfindings, 1);
    assert_true(has(&r, FINDING_TYPE_CONFLICT, "at"));
}

static void test_dropped_column_is_out_of_band(void **state)
{
    fixture *f = *state;
    pm_table *t = table_copy(f->t, f->a);
    assert_true(table_add_dropped(t, f->a, "coupon"));
    drift_ctx_retarget(f->ctx, t);
    f->t = t;

    drift_result r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"Coupon\":\"X1\"}");
    assert_int_equal(r.nfindings, 1);
    assert_int_equal(r.findings[0].kind, FINDING_OUT_OF_BAND);
    assert_string_equal(r.findings[0].column, "coupon");
    assert_string_equal(r.findings[0].field, "Coupon");
    assert_string_equal(r.findings[0].observed, "X1");
    assert_non_null(strstr(r.findings[0].message,
                           "column coupon was dropped from orders outside pipemend; rows with a "
                           "value for it are quarantined"));
    assert_string_equal(drift_kinds_list(r.findings, r.nfindings, f->a), "out_of_band");
    /* nothing proposes the column again */
    pm_plan plan = {0};
    planner_consider(&plan, f->t, r.findings, r.nfindings, f->a);
    assert_int_equal(plan.n, 0);

    /* null is no value: nothing is lost */
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"coupon\":null}");
    assert_int_equal(r.nfindings, 0);
    /* a dropped column is no NOT NULL column gone missing */
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\"}");
    assert_int_equal(r.nfindings, 0);

    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"coupon\":7}");
    assert_int_equal(drift_findings_json(&b, r.findings, r.nfindings, NULL), PM_OK);
    assert_non_null(strstr(b.data, "\"kind\":\"out_of_band\""));
    pm_buf_free(&b);
    pm_finding_kind k;
    assert_true(drift_kind_parse("out_of_band", &k));
    assert_int_equal(k, FINDING_OUT_OF_BAND);
    assert_string_equal(drift_kind_name(FINDING_OUT_OF_BAND), "out_of_band");
    assert_true(drift_kind_parse("volume", &k));
    assert_int_equal(k, FINDING_VOLUME);

    /* adding the column back (an add_column) ends it */
    pm_op add = {
        .kind = OP_ADD_COLUMN, .table = "orders", .column = "coupon", .type = {PM_T_VARCHAR, 16}};
    heal(f, &add, 1);
    assert_int_equal(f->t->ndropped, 0);
    r = check(f, "{\"id\":1,\"email\":\"a@b.c\",\"coupon\":\"X1\"}");
    assert_int_equal(r.nfindings, 0);
    assert_string_equal(cell_text(&r, 5), "X1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_row_gives_cells, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_cells_in_reused_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_new_field_is_not_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(test_findings_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mapping_loads_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coercion_loads_canonical_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coercion_that_cannot_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_column_is_out_of_band, setup, teardown),
    };
    return cmocka_run_group_tests_name("drift", tests, NULL, NULL);
}
