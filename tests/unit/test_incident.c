/* test_incident.c - the incident state machine (every move of the
 * diagram, and none other), incident bookkeeping on a real SQLite file
 * (open joins the active incident, links, moves with their audit events,
 * times and statistics) and the sandbox (a clone that takes the ops and
 * refuses what the table would refuse, thrown away afterwards). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "heal/heal.h"
#include "heal/incident.h"
#include "store/store.h"

static char path[64];
static char url[80];

static int setup(void **state)
{
    snprintf(path, sizeof path, "/tmp/pm_test_incident_XXXXXX");
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

static void test_names(void **state)
{
    for (int i = 0; i < INC_STATE_COUNT; i++) {
        pm_incident_state s;
        assert_true(incident_state_parse(incident_state_name((pm_incident_state)i), &s));
        assert_int_equal(s, i);
    }
    pm_incident_state s;
    assert_false(incident_state_parse("fixed", &s));
    assert_false(incident_state_parse(NULL, &s));
    assert_true(incident_is_active(INC_AWAITING_APPROVAL));
    assert_false(incident_is_active(INC_RESOLVED));
    assert_false(incident_is_active(INC_DISMISSED));
}

/* The diagram of incident.h, written out again: a change to the code's
 * table that is not a change to the diagram fails here. */
static void test_moves_are_the_diagram(void **state)
{
    static const char *const allowed[] = {
        "open>planned",
        "open>resolved",
        "open>dismissed",
        "planned>awaiting_approval",
        "planned>dry_run_failed",
        "planned>applied",
        "planned>open",
        "planned>resolved",
        "planned>dismissed",
        "awaiting_approval>applied",
        "awaiting_approval>dry_run_failed",
        "awaiting_approval>planned",
        "awaiting_approval>open",
        "awaiting_approval>resolved",
        "awaiting_approval>dismissed",
        "dry_run_failed>planned",
        "dry_run_failed>open",
        "dry_run_failed>resolved",
        "dry_run_failed>dismissed",
        "applied>replayed",
        "replayed>resolved",
        "replayed>planned",
        "replayed>dismissed",
    };
    int count = 0;
    for (int f = 0; f < INC_STATE_COUNT; f++) {
        for (int t = 0; t < INC_STATE_COUNT; t++) {
            char key[64];
            snprintf(key, sizeof key, "%s>%s", incident_state_name((pm_incident_state)f),
                     incident_state_name((pm_incident_state)t));
            bool want = false;
            for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
                want |= strcmp(allowed[i], key) == 0;
            if (incident_can_move((pm_incident_state)f, (pm_incident_state)t) != want)
                fail_msg("move %s: expected %s", key, want ? "allowed" : "refused");
            count += want;
        }
    }
    assert_int_equal(count, (int)(sizeof allowed / sizeof allowed[0]));
    /* applied is reached only from a plan (invariant 3); closed is final */
    assert_false(incident_can_move(INC_OPEN, INC_APPLIED));
    assert_false(incident_can_move(INC_RESOLVED, INC_OPEN));
    assert_false(incident_can_move(INC_DISMISSED, INC_OPEN));
}

static pm_incident get(pm_store *s, int64_t id, pm_arena *a)
{
    pm_incident *in;
    size_t n;
    pm_err err;
    pm_incident_filter f = {.id = id};
    assert_int_equal(store_incidents_list(s, &f, a, &in, &n, &err), PM_OK);
    assert_int_equal(n, 1);
    return in[0];
}

static void test_bookkeeping(void **state)
{
    pm_store *s;
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    assert_int_equal(store_open(url, &s, &err), PM_OK);
    pm_incident key = {
        .table = "t", .column = "qty", .kind = "widen", .run_id = 1, .message = "too big"};
    int64_t id, id2;
    bool created;
    assert_int_equal(store_incident_open(s, &key, &id, &created, &err), PM_OK);
    assert_true(created);
    /* invariant 1: the same key joins the active incident */
    assert_int_equal(store_incident_open(s, &key, &id2, &created, &err), PM_OK);
    assert_false(created);
    assert_int_equal(id2, id);

    pm_qrow q = {.run_id = 1,
                 .table = "t",
                 .source = "/x.ndjson",
                 .raw = "{}",
                 .raw_len = 2,
                 .kinds = "widen",
                 .message = "m",
                 .findings = "[]"};
    int64_t q1, q2;
    assert_int_equal(store_quarantine_add(s, &q, &q1, &err), PM_OK);
    assert_int_equal(store_quarantine_add(s, &q, &q2, &err), PM_OK);
    bool linked;
    assert_int_equal(store_incident_link(s, id, q1, &linked, &err), PM_OK);
    assert_true(linked);
    assert_int_equal(store_incident_link(s, id, q1, &linked, &err), PM_OK); /* idempotent */
    assert_false(linked);
    assert_int_equal(store_incident_link(s, id, q2, &linked, &err), PM_OK);
    pm_incident in = get(s, id, a);
    assert_int_equal(in.rows, 2);
    assert_string_equal(in.state, "open");
    assert_null(in.planned_at);

    /* a move the diagram does not have is refused and changes nothing */
    assert_int_equal(incident_move(s, &in, INC_APPLIED, 0, NULL, "rules", &err), PM_ERR_USAGE);
    assert_string_equal(err.msg, "incident 1 is open; it cannot become applied");
    assert_string_equal(get(s, id, a).state, "open");

    assert_int_equal(incident_move(s, &in, INC_PLANNED, 7, NULL, "rules", &err), PM_OK);
    assert_int_equal(incident_move(s, &in, INC_AWAITING_APPROVAL, 0, NULL, "rules", &err), PM_OK);
    in = get(s, id, a);
    assert_string_equal(in.state, "awaiting_approval");
    assert_int_equal(in.proposal, 7);
    assert_non_null(in.planned_at);

    /* rows leave quarantine by loading: their links go with them */
    assert_int_equal(store_quarantine_remove(s, q1, &err), PM_OK);
    assert_int_equal(get(s, id, a).rows, 1);
    assert_int_equal(incident_move(s, &in, INC_APPLIED, 0, NULL, "human:ann", &err), PM_OK);
    assert_int_equal(incident_move(s, &in, INC_REPLAYED, 0, NULL, "human:ann", &err), PM_OK);
    assert_int_equal(store_quarantine_remove(s, q2, &err), PM_OK);
    assert_int_equal(incident_move(s, &in, INC_RESOLVED, 0, NULL, "human:ann", &err), PM_OK);
    in = get(s, id, a);
    assert_string_equal(in.state, "resolved");
    assert_int_equal(in.rows, 0);
    assert_non_null(in.applied_at);
    assert_non_null(in.replayed_at);
    assert_non_null(in.resolved_at);

    /* invariant 2: closed is final; the same drift opens a new incident */
    assert_int_equal(incident_move(s, &in, INC_OPEN, 0, NULL, "rules", &err), PM_ERR_USAGE);
    assert_string_equal(err.hint, "it is closed; new drift of the same kind opens a new incident");
    assert_int_equal(store_incident_open(s, &key, &id2, &created, &err), PM_OK);
    assert_true(created);
    assert_int_not_equal(id2, id);

    pm_incident_stats st;
    assert_int_equal(store_incident_stats(s, "t", &st, &err), PM_OK);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.resolved, 1);
    assert_int_equal(st.dismissed, 0);
    assert_true(st.mttr_seconds >= 0);

    /* invariant 6: each move is an audit event */
    pm_audit_event *ev;
    size_t nev;
    assert_int_equal(store_audit_list(s, 0, 0, a, &ev, &nev, &err), PM_OK);
    const char *want[] = {"incident.planned", "incident.awaiting_approval", "incident.applied",
                          "incident.replayed", "incident.resolved"};
    assert_int_equal(nev, 5);
    for (size_t i = 0; i < nev; i++) {
        assert_string_equal(ev[i].action, want[i]);
        assert_string_equal(ev[i].subject, "incident/1");
    }
    assert_string_equal(ev[2].actor, "human:ann");
    store_close(s);
    pm_arena_free(a);
}

static void test_cache_links_once_per_key(void **state)
{
    pm_store *s;
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    assert_int_equal(store_open(url, &s, &err), PM_OK);
    incident_cache *c = incident_cache_new(a, "t", 3);
    pm_finding f[2] = {{.kind = FINDING_WIDEN, .column = "qty", .message = "big"},
                       {.kind = FINDING_MALFORMED, .message = "bad json"}};
    pm_qrow q = {.run_id = 3,
                 .table = "t",
                 .source = "/x.ndjson",
                 .raw = "{",
                 .raw_len = 1,
                 .kinds = "widen",
                 .message = "m",
                 .findings = "[]"};
    for (int i = 0; i < 3; i++) {
        int64_t qid;
        assert_int_equal(store_quarantine_add(s, &q, &qid, &err), PM_OK);
        assert_int_equal(incident_cache_link(c, s, qid, f, 2, &err), PM_OK);
    }
    pm_incident *in;
    size_t n;
    pm_incident_filter all = {.table = "t"};
    assert_int_equal(store_incidents_list(s, &all, a, &in, &n, &err), PM_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(in[i].rows, 3);
        assert_int_equal(in[i].run_id, 3);
    }
    assert_string_equal(in[0].kind, "malformed");
    assert_string_equal(in[0].column, "");
    pm_audit_event *ev;
    size_t nev;
    assert_int_equal(store_audit_list(s, 0, 0, a, &ev, &nev, &err), PM_OK);
    assert_int_equal(nev, 2); /* two incident.open events, not six */
    store_close(s);
    pm_arena_free(a);
}

static void test_sandbox(void **state)
{
    pm_store *s;
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    assert_int_equal(store_open(url, &s, &err), PM_OK);
    pm_table *t = table_new(a, "t");
    table_add(t, a, "id", (pm_type){PM_T_INT32, 0}, false);
    table_add(t, a, "qty", (pm_type){PM_T_INT32, 0}, false);
    t->version = 1;
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_table_create(s, t, &err), PM_OK);
    assert_int_equal(store_insert_prepare(s, t, &err), PM_OK);
    for (int i = 0; i < 5; i++) {
        pm_cell c[2] = {{.kind = PM_CELL_INT, .i = i}, {.kind = PM_CELL_INT, .i = i * 10}};
        assert_int_equal(store_insert(s, c, &err), PM_OK);
    }
    assert_int_equal(store_commit(s, &err), PM_OK);

    pm_op op = {.kind = OP_DROP_NOT_NULL, .table = "t", .column = "qty"};
    pm_table *to;
    assert_int_equal(op_result(t, &op, 1, a, &to, &err), PM_OK);
    int64_t copied;
    assert_int_equal(store_sandbox_begin(s, t, &op, 1, to, 3, &copied, &err), PM_OK);
    assert_int_equal(copied, 3);
    /* the clone takes a null now; the real table still would not */
    pm_cell row[2] = {{.kind = PM_CELL_INT, .i = 99}, {.kind = PM_CELL_NULL}};
    pm_load_row lr = {.cells = row};
    assert_int_equal(store_sandbox_load(s, &lr, 1, a, &err), PM_OK);
    assert_false(lr.refused);
    store_sandbox_end(s);
    int64_t n;
    assert_int_equal(store_table_count(s, "t", &n, &err), PM_OK);
    assert_int_equal(n, 5);
    pm_table *now;
    assert_int_equal(store_table_load(s, "t", a, &now, &err), PM_OK);
    assert_int_equal(now->version, 1);
    assert_false(now->cols[1].nullable);

    /* without the op, the clone refuses the null as the table would */
    assert_int_equal(store_sandbox_begin(s, t, NULL, 0, t, 10, &copied, &err), PM_OK);
    assert_int_equal(copied, 5);
    lr = (pm_load_row){.cells = row};
    assert_int_equal(store_sandbox_load(s, &lr, 1, a, &err), PM_OK);
    assert_true(lr.refused);
    store_sandbox_end(s);
    store_sandbox_end(s); /* twice is harmless */
    assert_int_equal(store_sandbox_load(s, &lr, 1, a, &err), PM_ERR_INTERNAL);
    store_close(s);
    pm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_moves_are_the_diagram),
        cmocka_unit_test_setup_teardown(test_bookkeeping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_links_once_per_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
