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
    assert_int_equal(store_open("postgres://localhost/db", &s, &err), PM_ERR_USAGE);
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
    assert_int_equal(store_quarantine_add(s, &q, &err), PM_OK);
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
    pm_checkpoint cp = {0};
    bool found = true;
    assert_int_equal(store_checkpoint_get(s, "t", "/a", &cp, &found, &err), PM_OK);
    assert_false(found);
    pm_checkpoint next = {.offset = 123, .line = 4, .fingerprint = 0xfeedfacecafebeefULL};
    assert_int_equal(store_checkpoint_set(s, "t", "/a", &next, &err), PM_OK);
    next.offset = 456;
    next.line = 9;
    assert_int_equal(store_checkpoint_set(s, "t", "/a", &next, &err), PM_OK);
    assert_int_equal(store_checkpoint_get(s, "t", "/a", &cp, &found, &err), PM_OK);
    assert_true(found);
    assert_int_equal(cp.offset, 456);
    assert_int_equal(cp.line, 9);
    assert_true(cp.fingerprint == 0xfeedfacecafebeefULL);

    int64_t id;
    assert_int_equal(store_run_start(s, "p", "t", &id, &err), PM_OK);
    assert_int_equal(store_run_add(s, id, 10, 7, 3, &err), PM_OK);
    assert_int_equal(store_run_finish(s, id, "quarantined", NULL, false, NULL, &err), PM_OK);
    pm_arena *a = pm_arena_new(0);
    pm_run r;
    assert_int_equal(store_run_get(s, id, a, &r, &found, &err), PM_OK);
    assert_true(found);
    assert_string_equal(r.status, "quarantined");
    assert_int_equal(r.rows_read, 10);
    assert_int_equal(r.rows_loaded + r.rows_quarantined, r.rows_read);
    assert_non_null(r.finished_at);
    pm_arena_free(a);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test_setup_teardown(test_table_insert_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_and_runs, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
