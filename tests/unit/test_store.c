/* test_store.c - the SQLite backend on a real temporary database file:
 * catalog, table creation with quoted identifiers, typed inserts, unique
 * violations, quarantine, checkpoints and runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "schema/op.h"
#include "store/store.h"

static char path[64];
static char url[80];

static int setup(void **state)
{
    snprintf(path, sizeof path, "/tmp/pm_test_store_XXXXXX");
    int fd = mkstemp(path);
    close(fd);
    snprintf(url, sizeof url, "sqlite:%s", path);
    return 0;
}

static int teardown(void **state)
{
    char p[100];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

static void test_urls(void **state)
{
    pm_store *s;
    pm_err err;
    assert_int_equal(store_open("mysql://x", &s, &err), PM_ERR_USAGE);
    assert_string_equal(err.msg, "unrecognised warehouse URL \"mysql://x\"");
    assert_int_equal(store_open("postgres://127.0.0.1:1/db", &s, &err), PM_ERR_IO);
    assert_int_equal(store_open("sqlite:/nonexistent-dir/x.db", &s, &err), PM_ERR_IO);
    assert_true(store_table_name_ok("orders_2026", &err));
    assert_false(store_table_name_ok("x; DROP TABLE y", &err));
    assert_string_equal(err.hint, "use \"x__drop_table_y\" (lowercase letters, digits and _)");
    assert_false(store_table_name_ok("_pipemend_runs", &err));
}

static void test_table_insert_quarantine(void **state)
{
    pm_store *s;
    pm_err err;
    assert_int_equal(store_open(url, &s, &err), PM_OK);
    pm_arena *a = pm_arena_new(0);
    pm_table *t = table_new(a, "orders");
    table_add(t, a, "id", (pm_type){PM_T_INT64, 0}, false);
    table_add(t, a, "na\"me", (pm_type){PM_T_VARCHAR, 32}, true); /* quote inside a name */
    table_add(t, a, "amount", (pm_type){PM_T_FLOAT64, 0}, true);
    const char *key[] = {"id"};
    contract_rule unique = {.kind = RULE_UNIQUE, .name = "unique", .key = key, .nkey = 1};
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_table_create(s, t, &err), PM_OK);
    int changed;
    assert_int_equal(store_unique_ensure(s, t, &unique, &changed, &err), PM_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_insert_prepare(s, t, &err), PM_OK);
    pm_cell row[3] = {{.kind = PM_CELL_INT, .i = 1},
                      {.kind = PM_CELL_TEXT, .s = "x'); DROP TABLE orders;--", .len = 25},
                      {.kind = PM_CELL_REAL, .d = 2.5}};
    assert_int_equal(store_insert(s, row, &err), PM_OK);
    assert_int_equal(store_insert(s, row, &err), PM_ERR_CONSTRAINT); /* duplicate id */
    pm_qrow q = {.run_id = 1,
                 .table = "orders",
                 .source = "/data/x.ndjson",
                 .offset = 10,
                 .line = 2,
                 .raw = "{\"id\":\x01\xff}",
                 .raw_len = 9,
                 .kinds = "malformed",
                 .message = "bad",
                 .findings = "[]"};
    assert_int_equal(store_quarantine_add(s, &q, NULL, &err), PM_OK);
    assert_int_equal(store_commit(s, &err), PM_OK);

    int64_t n;
    assert_int_equal(store_table_count(s, "orders", &n, &err), PM_OK);
    assert_int_equal(n, 1);
    pm_table *back;
    assert_int_equal(store_table_load(s, "orders", a, &back, &err), PM_OK);
    assert_non_null(back);
    assert_int_equal(back->version, 1);
    assert_int_equal(back->ncols, 3);
    assert_string_equal(back->cols[1].name, "na\"me");
    assert_int_equal(back->cols[1].type.kind, PM_T_VARCHAR);
    assert_int_equal(back->cols[1].type.len, 32);
    assert_false(back->cols[0].nullable);
    pm_table *none;
    assert_int_equal(store_table_load(s, "missing", a, &none, &err), PM_OK);
    assert_null(none);

    pm_qrow *rows;
    size_t nq;
    assert_int_equal(store_quarantine_list(s, "orders", 0, 0, a, &rows, &nq, &err), PM_OK);
    assert_int_equal(nq, 1);
    assert_int_equal(rows[0].raw_len, 9);
    assert_memory_equal(rows[0].raw, "{\"id\":\x01\xff}", 9); /* bytes kept exactly */
    pm_arena_free(a);
    store_close(s);
}

static void test_checkpoints_and_runs(void **state)
{
    pm_store *s;
    pm_err err;
    assert_int_equal(store_open(url, &s, &err), PM_OK);
    pm_arena *a = pm_arena_new(0);
    const char *cp = NULL;
    bool found = true;
    assert_int_equal(store_checkpoint_get(s, "t", "/a", a, &cp, &found, &err), PM_OK);
    assert_false(found);
    assert_int_equal(store_checkpoint_set(s, "t", "/a", "{\"offset\":123}", &err), PM_OK);
    assert_int_equal(store_checkpoint_set(s, "t", "/a", "{\"offset\":456}", &err), PM_OK);
    assert_int_equal(store_checkpoint_get(s, "t", "/a", a, &cp, &found, &err), PM_OK);
    assert_true(found);
    assert_string_equal(cp, "{\"offset\":456}");

    int64_t id;
    assert_int_equal(store_run_start(s, "p", "t", &id, &err), PM_OK);
    assert_int_equal(store_run_add(s, id, 10, 7, 3, &err), PM_OK);
    assert_int_equal(store_run_finish(s, id, RUN_QUARANTINED, NULL, false, NULL, &err), PM_OK);
    pm_run r;
    assert_int_equal(store_run_get(s, id, a, &r, &found, &err), PM_OK);
    assert_true(found);
    assert_int_equal(r.status, RUN_QUARANTINED);
    assert_int_equal(r.rows_read, 10);
    assert_int_equal(r.rows_loaded + r.rows_quarantined, r.rows_read);
    assert_non_null(r.finished_at);
    pm_arena_free(a);
    store_close(s);
}

static int64_t sql_int(const char *q)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Typed ops on a real table with rows: in place where SQLite can, by the
 * documented rebuild where it cannot; rows, STRICT and the unique index
 * survive; a plan against an old version is refused. */
static void test_apply_ops(void **state)
{
    pm_store *s;
    pm_err err;
    assert_int_equal(store_open(url, &s, &err), PM_OK);
    pm_arena *a = pm_arena_new(0);
    pm_table *t = table_new(a, "orders");
    table_add(t, a, "id", (pm_type){PM_T_INT32, 0}, false);
    table_add(t, a, "email", (pm_type){PM_T_VARCHAR, 16}, false);
    table_add(t, a, "qty", (pm_type){PM_T_INT32, 0}, true);
    const char *key[] = {"id"};
    contract_rule unique = {.kind = RULE_UNIQUE, .name = "unique", .key = key, .nkey = 1};
    int changed;
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_table_create(s, t, &err), PM_OK);
    assert_int_equal(store_unique_ensure(s, t, &unique, &changed, &err), PM_OK);
    assert_int_equal(store_insert_prepare(s, t, &err), PM_OK);
    for (int i = 1; i <= 3; i++) {
        pm_cell row[3] = {{.kind = PM_CELL_INT, .i = i},
                          {.kind = PM_CELL_TEXT, .s = "a@b.c", .len = 5},
                          {.kind = PM_CELL_INT, .i = 10 * i}};
        assert_int_equal(store_insert(s, row, &err), PM_OK);
    }
    assert_int_equal(store_commit(s, &err), PM_OK);
    pm_table *v1;
    assert_int_equal(store_table_load(s, "orders", a, &v1, &err), PM_OK);

    /* version 2: add a column, widen a varchar (same storage class) */
    pm_op ops1[] = {
        {.kind = OP_ADD_COLUMN, .table = "orders", .column = "coupon", .type = {PM_T_VARCHAR, 16}},
        {.kind = OP_WIDEN_COLUMN, .table = "orders", .column = "email", .type = {PM_T_VARCHAR, 64}},
    };
    pm_table *v2;
    assert_int_equal(op_result(v1, ops1, 2, a, &v2, &err), PM_OK);
    assert_int_equal(store_apply_ops(s, v1, ops1, 2, v2, "test", &err), PM_OK);
    pm_table *back;
    assert_int_equal(store_table_load(s, "orders", a, &back, &err), PM_OK);
    assert_int_equal(back->version, 2);
    assert_int_equal(back->ncols, 4);
    assert_int_equal(back->cols[1].type.len, 64);
    assert_int_equal(sql_int("SELECT count(*) FROM pragma_table_info('orders') WHERE name = "
                             "'coupon'"),
                     1);

    /* a plan made against version 1 is refused now */
    assert_int_equal(store_apply_ops(s, v1, ops1, 2, v2, "stale", &err), PM_ERR_BUSY);
    assert_non_null(strstr(err.msg, "changed since the plan was made"));

    /* version 3: int32 -> float64 and drop NOT NULL need the rebuild */
    pm_op ops2[] = {
        {.kind = OP_WIDEN_COLUMN, .table = "orders", .column = "qty", .type = {PM_T_FLOAT64, 0}},
        {.kind = OP_DROP_NOT_NULL, .table = "orders", .column = "email"},
    };
    pm_table *v3;
    assert_int_equal(op_result(back, ops2, 2, a, &v3, &err), PM_OK);
    assert_int_equal(store_apply_ops(s, back, ops2, 2, v3, "test", &err), PM_OK);
    assert_int_equal(sql_int("SELECT count(*) FROM orders"), 3);
    assert_int_equal(sql_int("SELECT sum(qty) FROM orders"), 60);
    assert_int_equal(sql_int("SELECT count(*) FROM orders WHERE typeof(qty) = 'real'"), 3);
    assert_int_equal(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'orders' AND sql "
                             "LIKE '%STRICT'"),
                     1);
    assert_int_equal(sql_int("SELECT \"notnull\" FROM pragma_table_info('orders') WHERE name = "
                             "'email'"),
                     0);
    /* the unique key still holds after the rebuild */
    assert_int_equal(store_insert_prepare(s, v3, &err), PM_OK);
    pm_cell dup[4] = {{.kind = PM_CELL_INT, .i = 1},
                      {.kind = PM_CELL_NULL},
                      {.kind = PM_CELL_REAL, .d = 1.5},
                      {.kind = PM_CELL_NULL}};
    assert_int_equal(store_insert(s, dup, &err), PM_ERR_CONSTRAINT);
    dup[0].i = 4; /* and a null email is now allowed */
    assert_int_equal(store_insert(s, dup, &err), PM_OK);
    pm_arena_free(a);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test_setup_teardown(test_table_insert_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_and_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_ops, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
