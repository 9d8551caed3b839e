/* test_pg_catalog.c - the PostgreSQL backend's catalog on a real server:
 * opening (several processes at once on an empty database), quarantine
 * with raw bytes that are not text, checkpoints under concurrent batches,
 * runs, proposals, the audit chain under concurrent writers, incidents,
 * halts, schema versions, error classes and reconnecting.
 *
 * Skipped unless PM_TEST_PG_URL names a server (a role that may create
 * databases): each run works in a database of its own, created here and
 * dropped at the end, and reaches it through PGHOST/PGPORT/PGUSER and the
 * URL postgresql:///NAME, the environment path of store_open. Only the
 * connection-failure test runs without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/hash.h"
#include "store/pg_int.h"
#include "store/store.h"

static char dbname[64];
static char url[128];
static bool have_server;

/* A connection to the server PM_TEST_PG_URL names (not the test's own
 * database), for creating and dropping it. */
static PGconn *admin(void)
{
    PGconn *c = PQconnectdb(getenv("PM_TEST_PG_URL"));
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "PM_TEST_PG_URL: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static void admin_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static int group_setup(void **state)
{
    const char *u = getenv("PM_TEST_PG_URL");
    if (!u || !*u)
        return 0;
    PGconn *c = admin();
    if (!c)
        return -1;
    snprintf(dbname, sizeof dbname, "pm_test_catalog_%ld", (long)getpid());
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", dbname);
    admin_exec(c, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
    admin_exec(c, sql);
    /* the test's database through the environment, as a user would */
    setenv("PGHOST", PQhost(c), 1);
    setenv("PGPORT", PQport(c), 1);
    setenv("PGUSER", PQuser(c), 1);
    if (PQpass(c) && *PQpass(c))
        setenv("PGPASSWORD", PQpass(c), 1);
    PQfinish(c);
    snprintf(url, sizeof url, "postgresql:///%s", dbname);
    have_server = true;
    return 0;
}

static int group_teardown(void **state)
{
    if (!have_server)
        return 0;
    PGconn *c = admin();
    if (!c)
        return -1;
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    admin_exec(c, sql);
    PQfinish(c);
    return 0;
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (!have_server)                                                                          \
            skip();                                                                                \
    } while (0)

static pm_store *open_store(void)
{
    pm_store *s;
    pm_err err;
    pm_code rc = store_open(url, &s, &err);
    if (rc)
        fail_msg("store_open(%s): %s (%s)", url, err.msg, err.hint);
    return s;
}

/* Runs fn(i) in n child processes that start together; true if every one
 * exited 0. */
static bool in_children(int n, int (*fn)(int))
{
    int go[2];
    if (pipe(go) != 0)
        return false;
    pid_t pids[16];
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) < 0)
                _exit(3);
            _exit(fn(i));
        }
    }
    close(go[0]);
    close(go[1]); /* EOF: all start */
    bool ok = true;
    for (int i = 0; i < n; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    return ok;
}

static int open_once(int i)
{
    pm_store *s;
    pm_err err;
    if (store_open(url, &s, &err) != PM_OK) {
        fprintf(stderr, "worker %d: %s\n", i, err.msg);
        return 1;
    }
    store_close(s);
    return 0;
}

/* Runs first: the database is empty, and eight workers create the
 * catalog at once. */
static void test_open_concurrent(void **state)
{
    NEED_SERVER();
    assert_true(in_children(8, open_once));
    pm_store *s = open_store(); /* and again, with everything there */
    store_close(s);
}

static void test_connect_failure(void **state)
{
    pm_store *s;
    pm_err err;
    assert_int_equal(store_open("postgresql://pm:s3cret-pw@127.0.0.1:1/warehouse", &s, &err),
                     PM_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot connect to PostgreSQL at 127.0.0.1:1/warehouse: "));
    assert_null(strstr(err.msg, "s3cret"));
    assert_null(strstr(err.hint, "s3cret"));
    assert_null(strstr(err.detail, "s3cret"));
    assert_true(err.hint[0] != '\0');
    assert_int_equal(store_open("postgres://127.0.0.1:1/x", &s, &err), PM_ERR_IO);
}

static void test_quarantine(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    /* not text: NUL bytes, invalid UTF-8, a lone backslash */
    static const char raw[] = "{\"a\":\"x\0y\"}\xff\xfe\\x00";
    static const char header[] = "id,na\0me";
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        pm_qrow q = {.run_id = 7,
                     .table = "orders",
                     .pipeline = i % 2 ? "p1" : NULL,
                     .source = "/data/orders.ndjson",
                     .offset = 100 * i,
                     .line = i + 1,
                     .raw = raw,
                     .raw_len = sizeof raw - 1,
                     .raw_truncated = i == 4,
                     .kinds = "type_conflict",
                     .message = "\"abc\" does not fit int32",
                     .findings = "[{\"kind\":\"type_conflict\"}]",
                     .header = i == 3 ? header : NULL,
                     .header_len = i == 3 ? sizeof header - 1 : 0};
        assert_int_equal(store_quarantine_add(s, &q, &ids[i], &err), PM_OK);
        assert_true(i == 0 || ids[i] > ids[i - 1]);
    }
    pm_qrow empty = {.run_id = 8,
                     .table = "other",
                     .source = "s",
                     .kinds = "malformed",
                     .message = "empty line",
                     .findings = "[]"};
    int64_t eid;
    assert_int_equal(store_quarantine_add(s, &empty, &eid, &err), PM_OK);

    pm_qrow *rows;
    size_t n;
    assert_int_equal(store_quarantine_list(s, "orders", 0, 0, a, &rows, &n, &err), PM_OK);
    assert_int_equal(n, 5);
    assert_true(rows[0].id == ids[4]); /* newest first */
    assert_int_equal(rows[0].raw_len, sizeof raw - 1);
    assert_memory_equal(rows[0].raw, raw, sizeof raw - 1);
    assert_true(rows[0].raw_truncated);
    assert_false(rows[1].raw_truncated);
    assert_string_equal(rows[0].status, "quarantined");
    assert_string_equal(rows[0].message, "\"abc\" does not fit int32");
    assert_null(rows[0].pipeline);
    assert_string_equal(rows[1].pipeline, "p1");
    assert_int_equal(rows[1].header_len, sizeof header - 1);
    assert_memory_equal(rows[1].header, header, sizeof header - 1);
    assert_null(rows[0].header);
    /* ISO 8601 UTC with milliseconds, as SQLite writes it */
    assert_int_equal(strlen(rows[0].created_at), 24);
    assert_true(rows[0].created_at[10] == 'T' && rows[0].created_at[19] == '.' &&
                rows[0].created_at[23] == 'Z');

    assert_int_equal(store_quarantine_list(s, NULL, 8, 0, a, &rows, &n, &err), PM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].raw_len, 0);
    assert_string_equal(rows[0].raw, "");
    assert_int_equal(store_quarantine_list(s, NULL, 0, 2, a, &rows, &n, &err), PM_OK);
    assert_int_equal(n, 2);

    bool found;
    pm_qrow one;
    assert_int_equal(store_quarantine_get(s, ids[2], a, &one, &found, &err), PM_OK);
    assert_true(found);
    assert_int_equal(one.offset, 200);
    assert_int_equal(one.line, 3);

    /* paging, oldest first, only what replay reads */
    assert_int_equal(store_quarantine_page(s, "orders", 0, 2, a, &rows, &n, &err), PM_OK);
    assert_int_equal(n, 2);
    assert_true(rows[0].id == ids[0] && rows[1].id == ids[1]);
    assert_null(rows[0].message);
    assert_null(rows[0].findings);
    pm_qrow *want[] = {&rows[0], &rows[1]};
    assert_int_equal(store_quarantine_findings(s, want, 2, a, &err), PM_OK);
    assert_string_equal(rows[0].findings, "[{\"kind\":\"type_conflict\"}]");
    assert_memory_equal(rows[1].raw, raw, sizeof raw - 1);
    assert_int_equal(store_quarantine_page(s, "orders", ids[1], 0, a, &rows, &n, &err), PM_OK);
    assert_int_equal(n, 3);
    /* the page comes in binary format: every column as it went in */
    assert_true(rows[0].id == ids[2] && rows[2].id == ids[4]);
    assert_int_equal(rows[2].run_id, 7);
    assert_string_equal(rows[2].source, "/data/orders.ndjson");
    assert_int_equal(rows[2].raw_len, sizeof raw - 1);
    assert_memory_equal(rows[2].raw, raw, sizeof raw - 1);
    assert_true(rows[2].raw_truncated);
    assert_false(rows[1].raw_truncated);
    assert_null(rows[0].header);
    assert_int_equal(rows[1].header_len, sizeof header - 1);
    assert_memory_equal(rows[1].header, header, sizeof header - 1);

    assert_int_equal(store_quarantine_update(s, ids[0], "widen", "too long", "[1]", &err), PM_OK);
    assert_int_equal(store_quarantine_get(s, ids[0], a, &one, &found, &err), PM_OK);
    assert_string_equal(one.kinds, "widen");
    assert_string_equal(one.findings, "[1]");

    int64_t cnt;
    assert_int_equal(store_quarantine_count(s, "orders", &cnt, &err), PM_OK);
    assert_int_equal(cnt, 5);
    assert_int_equal(store_quarantine_count(s, NULL, &cnt, &err), PM_OK);
    assert_int_equal(cnt, 6);

    /* removal takes the incident links with the rows */
    pm_incident in = {.table = "orders", .column = "qty", .kind = "type_conflict", .run_id = 7};
    int64_t inc;
    bool created;
    assert_int_equal(store_incident_open(s, &in, &inc, &created, &err), PM_OK);
    bool linked;
    for (int i = 0; i < 5; i++)
        assert_int_equal(store_incident_link(s, inc, ids[i], &linked, &err), PM_OK);
    int64_t gone[] = {ids[0], ids[2], ids[3], 999999};
    int64_t removed = 0;
    assert_int_equal(store_quarantine_remove_many(s, gone, 4, &removed, &err), PM_OK);
    assert_int_equal(removed, 3); /* 999999 was never there */
    assert_int_equal(store_quarantine_remove(s, ids[4], &err), PM_OK);
    assert_int_equal(store_quarantine_remove_many(s, gone, 0, &removed, &err), PM_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(store_quarantine_count(s, "orders", &cnt, &err), PM_OK);
    assert_int_equal(cnt, 1);
    pm_incident *incs;
    pm_incident_filter f = {.id = inc};
    assert_int_equal(store_incidents_list(s, &f, a, &incs, &n, &err), PM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(incs[0].rows, 1);

    /* many at once, in more than one statement */
    size_t many = 25000;
    int64_t *mids = malloc(many * sizeof *mids);
    assert_int_equal(store_begin(s, &err), PM_OK);
    for (size_t i = 0; i < many; i++) {
        pm_qrow q = {.run_id = 9,
                     .table = "bulk",
                     .source = "s",
                     .raw = "x",
                     .raw_len = 1,
                     .kinds = "k",
                     .message = "m",
                     .findings = "[]"};
        assert_int_equal(store_quarantine_add(s, &q, &mids[i], &err), PM_OK);
    }
    assert_int_equal(store_commit(s, &err), PM_OK);
    assert_int_equal(store_quarantine_remove_many(s, mids, many - 1, NULL, &err), PM_OK);
    assert_int_equal(store_quarantine_count(s, "bulk", &cnt, &err), PM_OK);
    assert_int_equal(cnt, 1);
    free(mids);
    pm_arena_free(a);
    store_close(s);
}

static void test_checkpoints(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    const char *cp = NULL;
    bool found = true;
    assert_int_equal(store_checkpoint_get(s, "t", "/f", a, &cp, &found, &err), PM_OK);
    assert_false(found);
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_checkpoint_get(s, "t", "/f", a, &cp, &found, &err), PM_OK);
    assert_false(found);
    /* the position is the transport's: kept byte for byte */
    const char *w = "{\"offset\":1234,\"line\":56,\"fingerprint\":-81985529216486896}";
    assert_int_equal(store_checkpoint_set(s, "t", "/f", w, &err), PM_OK);
    assert_int_equal(store_commit(s, &err), PM_OK);
    assert_int_equal(store_checkpoint_get(s, "t", "/f", a, &cp, &found, &err), PM_OK);
    assert_true(found);
    assert_string_equal(cp, w);
    /* rolled back: not moved */
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_checkpoint_set(s, "t", "/f", "kafka:9999", &err), PM_OK);
    assert_int_equal(store_rollback(s, &err), PM_OK);
    assert_int_equal(store_checkpoint_get(s, "t", "/f", a, &cp, &found, &err), PM_OK);
    assert_string_equal(cp, w);
    pm_arena_free(a);
    store_close(s);
}

/* The read of a checkpoint in a batch's transaction waits for another
 * batch that read it first, and then sees where that one moved it. */
static int second_batch(int i)
{
    pm_store *s;
    pm_err err;
    if (store_open(url, &s, &err) || store_begin(s, &err))
        return 1;
    pm_arena *a = pm_arena_new(0);
    const char *cp = NULL;
    bool found = false;
    if (store_checkpoint_get(s, "t2", "/g", a, &cp, &found, &err))
        return 2;
    store_rollback(s, &err);
    store_close(s);
    /* what this batch saw, for the parent */
    int rc = found && strcmp(cp, "500") == 0 ? 0 : 10 + (int)found;
    pm_arena_free(a);
    return rc;
}

static void test_checkpoint_race(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    const char *cp;
    bool found;
    /* the first batch of a source: no row to lock yet */
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_checkpoint_get(s, "t2", "/g", a, &cp, &found, &err), PM_OK);
    assert_false(found);
    int done[2];
    assert_int_equal(pipe(done), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(done[0]);
        int rc = second_batch(0);
        char c = (char)rc;
        if (write(done[1], &c, 1) != 1)
            _exit(4);
        _exit(rc);
    }
    close(done[1]);
    struct pollfd pf = {.fd = done[0], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 700), 0); /* still waiting for this batch */
    assert_int_equal(store_checkpoint_set(s, "t2", "/g", "500", &err), PM_OK);
    assert_int_equal(store_commit(s, &err), PM_OK);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    close(done[0]);
    pm_arena_free(a);
    store_close(s);
}

static void test_runs(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    int64_t id, id2;
    assert_int_equal(store_run_start(s, "pipe", "orders", &id, &err), PM_OK);
    assert_int_equal(store_run_start(s, NULL, "orders", &id2, &err), PM_OK);
    assert_true(id2 > id);
    assert_int_equal(store_run_add(s, id, 10, 7, 3, &err), PM_OK);
    assert_int_equal(store_run_add(s, id, 5000000000LL, 5000000000LL, 0, &err), PM_OK);
    assert_int_equal(store_run_finish(s, id, RUN_QUARANTINED, NULL, true, "low volume", &err),
                     PM_OK);
    pm_run r;
    bool found;
    assert_int_equal(store_run_get(s, id, a, &r, &found, &err), PM_OK);
    assert_true(found);
    assert_int_equal(r.status, RUN_QUARANTINED);
    assert_string_equal(r.pipeline, "pipe");
    assert_int_equal(r.rows_read, 5000000010LL);
    assert_int_equal(r.rows_loaded, 5000000007LL);
    assert_int_equal(r.rows_quarantined, 3);
    assert_true(r.volume_anomaly);
    assert_string_equal(r.volume_note, "low volume");
    assert_null(r.error);
    assert_non_null(r.finished_at);
    pm_run *rs;
    size_t n;
    assert_int_equal(store_runs_list(s, NULL, "orders", 0, a, &rs, &n, &err), PM_OK);
    assert_int_equal(n, 2);
    assert_true(rs[0].id == id2);
    assert_null(rs[0].pipeline);
    assert_null(rs[0].finished_at);
    assert_false(rs[0].volume_anomaly);
    assert_int_equal(store_runs_list(s, "pipe", NULL, 1, a, &rs, &n, &err), PM_OK);
    assert_int_equal(n, 1);
    store_close(s);

    /* a run whose process died is reaped, once */
    pid_t pid = fork();
    if (pid == 0) {
        pm_store *c;
        int64_t cid;
        if (store_open(url, &c, &err) || store_run_start(c, "dead", "orders", &cid, &err))
            _exit(1);
        store_close(c);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_int_equal(WEXITSTATUS(st), 0);
    s = open_store();
    int64_t *ids;
    assert_int_equal(store_runs_reap(s, a, &ids, &n, &err), PM_OK);
    assert_int_equal(n, 1); /* our own running run (id2) stays */
    assert_int_equal(store_run_get(s, ids[0], a, &r, &found, &err), PM_OK);
    assert_int_equal(r.status, RUN_ABORTED);
    assert_string_equal(r.pipeline, "dead");
    assert_int_equal(store_runs_reap(s, a, &ids, &n, &err), PM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_run_get(s, id2, a, &r, &found, &err), PM_OK);
    assert_int_equal(r.status, RUN_RUNNING);
    pm_arena_free(a);
    store_close(s);
}

static void test_proposals(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    pm_proposal p = {.table = "orders",
                     .run_id = 3,
                     .version = 2,
                     .ops = "[{\"op\":\"x\"}]",
                     .why = "[\"because\"]",
                     .incident = 11};
    int64_t id, id2;
    bool created;
    assert_int_equal(store_proposal_add(s, &p, &id, &created, &err), PM_OK);
    assert_true(created);
    assert_int_equal(store_proposal_add(s, &p, &id2, &created, &err), PM_OK);
    assert_false(created);
    assert_true(id2 == id);
    /* inside a transaction too */
    assert_int_equal(store_begin(s, &err), PM_OK);
    pm_proposal q = p;
    q.ops = "[{\"op\":\"y\"}]";
    q.incident = 0;
    assert_int_equal(store_proposal_add(s, &q, &id2, &created, &err), PM_OK);
    assert_true(created);
    assert_int_equal(store_commit(s, &err), PM_OK);

    pm_proposal *ps;
    size_t n;
    assert_int_equal(
        store_proposals_list(s, "orders", &(pm_proposal_state){PROP_PENDING}, 0, a, &ps, &n, &err),
        PM_OK);
    assert_int_equal(n, 2);
    assert_true(ps[0].id == id2);
    assert_int_equal(ps[0].incident, 0);
    assert_int_equal(ps[1].incident, 11);
    assert_int_equal(ps[1].version, 2);
    assert_null(ps[1].decided_by);
    assert_null(ps[1].dry_run);
    assert_int_equal(store_proposal_set_dry_run(s, id, "{\"ok\":true}", &err), PM_OK);
    assert_int_equal(store_proposal_decide(s, id, PROP_REJECTED, "alice", &err), PM_OK);
    assert_int_equal(store_proposal_decide(s, id, PROP_APPLIED, "bob", &err), PM_ERR_BUSY);
    assert_int_equal(store_proposals_list(s, NULL, NULL, id, a, &ps, &n, &err), PM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ps[0].state, PROP_REJECTED);
    assert_string_equal(ps[0].decided_by, "alice");
    assert_non_null(ps[0].decided_at);
    assert_string_equal(ps[0].dry_run, "{\"ok\":true}");
    /* rejected: not asked again */
    assert_int_equal(store_proposal_add(s, &p, &id2, &created, &err), PM_OK);
    assert_false(created);
    assert_true(id2 == id);
    pm_arena_free(a);
    store_close(s);
}

/* Not SHA-256 (audit.c's business): any function of every field will do
 * to check the chain's linkage. */
static void test_hash(const pm_audit_event *e, char out[65])
{
    pm_buf b;
    pm_buf_init(&b, 1 << 20);
    pm_buf_printf(&b, NULL, "%lld|%s|%s|%s|%s|%s|%s", (long long)e->seq, e->at, e->actor, e->action,
                  e->subject, e->payload, e->prev_hash);
    uint64_t h = pm_hash(b.data, b.len);
    for (int i = 0; i < 4; i++)
        snprintf(out + 16 * i, 17, "%016llx", (unsigned long long)(h * (uint64_t)(i + 1)));
    pm_buf_free(&b);
}

static int audit_writer(int w)
{
    pm_store *s;
    pm_err err;
    if (store_open(url, &s, &err))
        return 1;
    for (int i = 0; i < 25; i++) {
        char subject[32];
        snprintf(subject, sizeof subject, "w%d-%d", w, i);
        pm_audit_event e = {.at = "2026-01-01T00:00:00.000Z",
                            .actor = "test",
                            .action = "x",
                            .subject = subject,
                            .payload = "{}"};
        /* half in a transaction of their own making */
        bool tx = i % 2;
        if (tx && store_begin(s, &err))
            return 2;
        if (store_audit_append(s, &e, test_hash, &err))
            return fprintf(stderr, "%s\n", err.msg), 3;
        if (tx && store_commit(s, &err))
            return 4;
    }
    store_close(s);
    return 0;
}

static void test_audit_chain(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    pm_audit_event e = {.at = "2026-01-01T00:00:00.000Z",
                        .actor = "me",
                        .action = "first",
                        .subject = "s",
                        .payload = "{\"k\":1}"};
    assert_int_equal(store_audit_append(s, &e, test_hash, &err), PM_OK);
    int64_t first = e.seq;
    /* a rolled-back append leaves no gap */
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_audit_append(s, &e, test_hash, &err), PM_OK);
    assert_int_equal(store_rollback(s, &err), PM_OK);
    assert_true(in_children(6, audit_writer));
    pm_audit_event *ev;
    size_t n;
    assert_int_equal(store_audit_list(s, 0, 0, a, &ev, &n, &err), PM_OK);
    assert_int_equal(n, first + 150);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].seq, (int64_t)i + 1);
        char want[65];
        test_hash(&ev[i], want);
        assert_string_equal(ev[i].hash, want);
        if (i)
            assert_string_equal(ev[i].prev_hash, ev[i - 1].hash);
        else
            assert_string_equal(ev[i].prev_hash, "00000000000000000000000000000000000000000000000"
                                                 "00000000000000000");
    }
    assert_int_equal(store_audit_list(s, 10, 5, a, &ev, &n, &err), PM_OK);
    assert_int_equal(n, 5);
    assert_int_equal(ev[0].seq, 11);
    pm_arena_free(a);
    store_close(s);
}

static void test_incidents_and_halts(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    pm_incident in = {
        .table = "inc", .column = "price", .kind = "widen", .run_id = 4, .message = "80 chars"};
    int64_t id, id2;
    bool created;
    assert_int_equal(store_incident_open(s, &in, &id, &created, &err), PM_OK);
    assert_true(created);
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_incident_open(s, &in, &id2, &created, &err), PM_OK);
    assert_int_equal(store_commit(s, &err), PM_OK);
    assert_false(created);
    assert_true(id2 == id);
    pm_incident other = {.table = "inc", .kind = "malformed", .run_id = 4};
    int64_t oid;
    assert_int_equal(store_incident_open(s, &other, &oid, &created, &err), PM_OK);
    assert_true(created);

    int64_t q[3];
    for (int i = 0; i < 3; i++) {
        pm_qrow r = {.run_id = 4,
                     .table = "inc",
                     .source = "/h",
                     .raw = "r",
                     .raw_len = 1,
                     .kinds = "widen",
                     .message = "m",
                     .findings = "[]",
                     .line = i};
        assert_int_equal(store_quarantine_add(s, &r, &q[i], &err), PM_OK);
        bool linked;
        assert_int_equal(store_incident_link(s, id, q[i], &linked, &err), PM_OK);
        assert_true(linked);
        assert_int_equal(store_incident_link(s, id, q[i], &linked, &err), PM_OK);
        assert_false(linked); /* there already */
    }
    pm_qrow *rows;
    size_t n;
    assert_int_equal(store_incident_rows(s, id, true, 2, a, &rows, &n, &err), PM_OK);
    assert_int_equal(n, 2);
    assert_true(rows[0].id == q[2]);
    assert_int_equal(store_incident_rows(s, id, false, 0, a, &rows, &n, &err), PM_OK);
    assert_int_equal(n, 3);
    assert_true(rows[0].id == q[0]);

    /* a halt holds while the row's incident is active */
    int64_t hq, hinc;
    bool found;
    assert_int_equal(store_halt_get(s, "inc", "/h", &hq, &hinc, &found, &err), PM_OK);
    assert_false(found);
    assert_int_equal(store_halt_set(s, "inc", "/h", q[0], &err), PM_OK);
    assert_int_equal(store_halt_set(s, "inc", "/h", q[1], &err), PM_OK);
    assert_int_equal(store_halt_get(s, "inc", "/h", &hq, &hinc, &found, &err), PM_OK);
    assert_true(found);
    assert_true(hq == q[1] && hinc == id);

    /* (timestamps have millisecond resolution: let each step take some) */
    usleep(5000);
    assert_int_equal(store_incident_set(s, id, "planned", 42, NULL, NULL, &err), PM_OK);
    usleep(5000);
    assert_int_equal(store_incident_set(s, id, "applied", 0, "dry run ok", NULL, &err), PM_OK);
    usleep(5000);
    assert_int_equal(store_incident_set(s, id, "resolved", 0, NULL, "carol", &err), PM_OK);
    assert_int_equal(store_incident_set(s, 999999, "resolved", 0, NULL, NULL, &err),
                     PM_ERR_NOTFOUND);
    assert_int_equal(store_halt_get(s, "inc", "/h", &hq, &hinc, &found, &err), PM_OK);
    assert_true(found);
    assert_int_equal(hinc, 0);
    assert_int_equal(store_halt_clear(s, "inc", "/h", &err), PM_OK);
    assert_int_equal(store_halt_get(s, "inc", "/h", &hq, &hinc, &found, &err), PM_OK);
    assert_false(found);

    pm_incident *incs;
    pm_incident_filter f = {.table = "inc"};
    assert_int_equal(store_incidents_list(s, &f, a, &incs, &n, &err), PM_OK);
    assert_int_equal(n, 2);
    assert_true(incs[0].id == oid);
    assert_string_equal(incs[0].column, "");
    assert_string_equal(incs[0].message, "");
    assert_int_equal(incs[0].proposal, 0);
    assert_null(incs[0].planned_at);
    assert_string_equal(incs[1].state, "resolved");
    assert_int_equal(incs[1].proposal, 42);
    assert_int_equal(incs[1].rows, 3);
    assert_string_equal(incs[1].note, "dry run ok");
    assert_string_equal(incs[1].decided_by, "carol");
    assert_non_null(incs[1].planned_at);
    assert_non_null(incs[1].applied_at);
    assert_non_null(incs[1].resolved_at);
    assert_null(incs[1].replayed_at);
    f.active_only = true;
    assert_int_equal(store_incidents_list(s, &f, a, &incs, &n, &err), PM_OK);
    assert_int_equal(n, 1);
    f = (pm_incident_filter){.proposal = 42};
    assert_int_equal(store_incidents_list(s, &f, a, &incs, &n, &err), PM_OK);
    assert_int_equal(n, 1);

    pm_incident_stats st;
    assert_int_equal(store_incident_stats(s, "inc", &st, &err), PM_OK);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.resolved, 1);
    assert_int_equal(st.dismissed, 0);
    assert_true(st.mttr_seconds > 0 && st.mttr_seconds < 60);
    assert_true(st.mean_to_plan_seconds > 0 && st.mean_to_plan_seconds <= st.mttr_seconds);
    assert_true(st.mean_to_apply_seconds > st.mean_to_plan_seconds);
    assert_true(st.mttr_seconds > st.mean_to_apply_seconds);
    assert_int_equal(store_incident_stats(s, "none", &st, &err), PM_OK);
    assert_int_equal(st.active + st.resolved, 0);
    assert_true(st.mttr_seconds == 0);

    /* resolved: the same drift opens a new one */
    assert_int_equal(store_incident_open(s, &in, &id2, &created, &err), PM_OK);
    assert_true(created);
    assert_true(id2 != id);
    assert_int_equal(store_incident_unlink_row(s, q[0], &err), PM_OK);
    assert_int_equal(store_incident_rows(s, id, false, 0, a, &rows, &n, &err), PM_OK);
    assert_int_equal(n, 2);
    pm_arena_free(a);
    store_close(s);
}

/* Workers hitting the same drift at once open one incident and record
 * one proposal between them. */
static int same_drift(int w)
{
    pm_store *s;
    pm_err err;
    if (store_open(url, &s, &err))
        return 1;
    pm_incident in = {.table = "race", .column = "c", .kind = "new_field", .run_id = w};
    pm_proposal p = {.table = "race", .run_id = w, .version = 1, .ops = "[\"add c\"]", .why = "[]"};
    int64_t id;
    bool created;
    if (store_begin(s, &err) || store_incident_open(s, &in, &id, &created, &err) ||
        store_proposal_add(s, &p, &id, &created, &err))
        return fprintf(stderr, "%s\n", err.msg), 2;
    usleep(20000); /* hold the batch open a little, as a load would */
    if (store_commit(s, &err))
        return 3;
    store_close(s);
    return 0;
}

static void test_same_drift_concurrent(void **state)
{
    NEED_SERVER();
    assert_true(in_children(8, same_drift));
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    pm_incident *incs;
    pm_proposal *ps;
    size_t n;
    pm_incident_filter f = {.table = "race"};
    assert_int_equal(store_incidents_list(s, &f, a, &incs, &n, &err), PM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_proposals_list(s, "race", NULL, 0, a, &ps, &n, &err), PM_OK);
    assert_int_equal(n, 1);
    pm_arena_free(a);
    store_close(s);
}

static void test_schema_versions(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pm_err err;
    pm_arena *a = pm_arena_new(0);
    pm_table *t = table_new(a, "Orders \"2026\"");
    table_add(t, a, "id", (pm_type){PM_T_INT64, 0}, false);
    table_add(t, a, "email", (pm_type){PM_T_VARCHAR, 64}, true);
    t->version = 1;
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_table_adopt(s, t, "first", &err), PM_OK);
    assert_int_equal(store_commit(s, &err), PM_OK);
    t->version = 2;
    table_add(t, a, "note", (pm_type){PM_T_TEXT, 0}, true);
    assert_int_equal(store_table_adopt(s, t, "second", &err), PM_OK);
    /* the same version twice: a worker that lost a race finds the version
     * moved under the table's lock */
    assert_int_equal(store_table_adopt(s, t, "again", &err), PM_ERR_BUSY);
    assert_non_null(strstr(err.msg, "changed since the plan was made"));
    pm_table *got;
    assert_int_equal(store_table_load(s, "Orders \"2026\"", a, &got, &err), PM_OK);
    assert_non_null(got);
    assert_int_equal(got->version, 2);
    assert_int_equal(got->ncols, 3);
    assert_int_equal(got->cols[1].type.kind, PM_T_VARCHAR);
    assert_int_equal(got->cols[1].type.len, 64);
    assert_int_equal(store_table_load(s, "nope", a, &got, &err), PM_OK);
    assert_null(got);
    pm_table *u = table_new(a, "another");
    table_add(u, a, "x", (pm_type){PM_T_BOOL, 0}, true);
    u->version = 1;
    assert_int_equal(store_table_adopt(s, u, "x", &err), PM_OK);
    pm_table **ts;
    size_t n;
    assert_int_equal(store_tables_list(s, a, &ts, &n, &err), PM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ts[0]->name, "Orders \"2026\"");
    assert_int_equal(ts[0]->version, 2);
    assert_string_equal(ts[1]->name, "another");
    pm_arena_free(a);
    store_close(s);
}

/* Every logical type, declared by pg_type_decl on a real table, reads
 * back as itself through format_type. */
static void test_types_live(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pg *p = pg_of(s);
    pm_err err;
    static const pm_type types[] = {
        {PM_T_BOOL, 0},      {PM_T_INT16, 0},
        {PM_T_INT32, 0},     {PM_T_INT64, 0},
        {PM_T_FLOAT64, 0},   {PM_T_NUMERIC, 0},
        {PM_T_VARCHAR, 1},   {PM_T_VARCHAR, 32},
        {PM_T_TEXT, 0},      {PM_T_DATE, 0},
        {PM_T_TIMESTAMP, 0}, {PM_T_TIMESTAMPTZ, 0},
        {PM_T_JSON, 0},      {PM_T_VARCHAR, TYPE_VARCHAR_MAX},
    };
    size_t nt = sizeof types / sizeof types[0];
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    pm_buf_puts(&b, "CREATE TABLE public.pm_types (", NULL);
    for (size_t i = 0; i < nt; i++) {
        char decl[32];
        pm_buf_printf(&b, NULL, "%sc%zu %s", i ? ", " : "", i, pg_type_decl(types[i], decl));
    }
    pm_buf_puts(&b, ")", NULL);
    assert_int_equal(pg_exec(p, b.data, "create", &err), PM_OK);
    pm_buf_free(&b);
    PGresult *res;
    assert_int_equal(pg_query(p,
                              "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                              "attrelid = 'public.pm_types'::regclass AND attnum > 0 ORDER BY "
                              "attnum",
                              0, NULL, &res, "read", &err),
                     PM_OK);
    assert_int_equal(PQntuples(res), nt);
    for (size_t i = 0; i < nt; i++) {
        const char *decl = PQgetvalue(res, (int)i, 0);
        pm_type got = pg_type_from_decl(decl, types[i]);
        pm_type cold = pg_type_from_decl(decl, (pm_type){PM_T_UNKNOWN, 0});
        if (got.kind != types[i].kind || got.len != types[i].len || cold.kind != got.kind ||
            cold.len != got.len)
            fail_msg("%s does not read back as the type it declares", decl);
    }
    PQclear(res);
    assert_int_equal(pg_exec(p, "DROP TABLE public.pm_types", "drop", &err), PM_OK);
    store_close(s);
}

static void test_errors(void **state)
{
    NEED_SERVER();
    pm_store *s = open_store();
    pg *p = pg_of(s);
    pm_err err;
    assert_int_equal(pg_exec(p, "SELECT 1/0", "dividing", &err), PM_ERR_PARSE);
    assert_string_equal(err.sqlstate, "22012");
    assert_string_equal(err.msg, "dividing: division by zero");
    const char *params[] = {"x"};
    assert_int_equal(pg_query(p, "SELECT $1::integer", 1, params, NULL, "casting", &err),
                     PM_ERR_PARSE);
    assert_string_equal(err.sqlstate, "22P02");
    assert_int_equal(pg_exec(p, "SELECT * FROM no_such_table", "reading", &err), PM_ERR_DB);
    assert_string_equal(err.sqlstate, "42P01");
    assert_int_equal(pg_exec(p,
                             "CREATE TEMP TABLE u (k int PRIMARY KEY); INSERT INTO u VALUES "
                             "(1), (1)",
                             "inserting", &err),
                     PM_ERR_CONSTRAINT);
    assert_string_equal(err.sqlstate, "23505");
    assert_non_null(strstr(err.detail, "Key (k)=(1) already exists"));

    /* a transaction with a failed statement does not commit */
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_begin(s, &err), PM_ERR_INTERNAL);
    const char *w = "77";
    pm_arena *a = pm_arena_new(0);
    assert_int_equal(store_checkpoint_set(s, "e", "/e", w, &err), PM_OK);
    assert_int_equal(pg_exec(p, "SELECT 1/0", "dividing", NULL), PM_ERR_PARSE);
    assert_int_equal(store_commit(s, &err), PM_ERR_DB);
    assert_non_null(strstr(err.msg, "rolled back"));
    const char *cp;
    bool found;
    assert_int_equal(store_checkpoint_get(s, "e", "/e", a, &cp, &found, &err), PM_OK);
    assert_false(found);
    assert_int_equal(store_rollback(s, &err), PM_OK); /* nothing open: fine */
    assert_int_equal(store_commit(s, &err), PM_ERR_INTERNAL);

    /* the backend killed mid-transaction: an I/O error, then the next
     * transaction reconnects */
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(p->conn));
    assert_int_equal(store_begin(s, &err), PM_OK);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    usleep(100000);
    /* inside a transaction the write waits for the next statement (the
     * commit here: pg_defer), which finds the connection gone */
    assert_int_equal(store_checkpoint_set(s, "e", "/e", w, &err), PM_OK);
    assert_int_equal(store_commit(s, &err), PM_ERR_IO);
    assert_true(err.hint[0] != '\0');
    assert_int_equal(store_rollback(s, NULL), PM_OK);
    assert_int_equal(store_begin(s, &err), PM_OK);
    assert_int_equal(store_checkpoint_set(s, "e", "/e", w, &err), PM_OK);
    assert_int_equal(store_commit(s, &err), PM_OK);
    assert_int_equal(store_checkpoint_get(s, "e", "/e", a, &cp, &found, &err), PM_OK);
    assert_true(found && strcmp(cp, "77") == 0);

    /* killed between transactions: a read that finds out reads again on a
     * new connection (it changes nothing); the writes after it go on on
     * that one */
    int64_t before = -1, cnt = -1;
    assert_int_equal(store_quarantine_count(s, NULL, &before, &err), PM_OK);
    c = PQconnectdb(url);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(p->conn));
    PQclear(PQexec(c, sql));
    PQfinish(c);
    usleep(100000);
    assert_int_equal(store_quarantine_count(s, NULL, &cnt, &err), PM_OK);
    assert_int_equal(cnt, before);
    pm_audit_event e = {.at = "2026-01-01T00:00:00.000Z",
                        .actor = "me",
                        .action = "after",
                        .subject = "s",
                        .payload = "{}"};
    assert_int_equal(store_audit_append(s, &e, test_hash, &err), PM_OK);
    assert_int_equal(store_quarantine_count(s, NULL, &cnt, &err), PM_OK);
    pm_arena_free(a);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_concurrent),
        cmocka_unit_test(test_connect_failure),
        cmocka_unit_test(test_quarantine),
        cmocka_unit_test(test_checkpoints),
        cmocka_unit_test(test_checkpoint_race),
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_proposals),
        cmocka_unit_test(test_audit_chain),
        cmocka_unit_test(test_incidents_and_halts),
        cmocka_unit_test(test_same_drift_concurrent),
        cmocka_unit_test(test_schema_versions),
        cmocka_unit_test(test_types_live),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
