/* test_store_contract.c - what store.h promises about pipemend's catalog,
 * checked the same way against every backend: a temporary SQLite file
 * always, and PostgreSQL when PM_TEST_PG_URL names a server (a role that
 * may create databases; each test gets a database of its own, dropped at
 * the end). Every test goes through store.h only and reads back the values
 * it wrote: runs, checkpoints, quarantine, incidents and their rows, halts,
 * proposals, schema versions, the audit chain and transactions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "schema/op.h"
#include "store/store.h"

typedef struct backend {
    const char *name;
    bool pg;
    char path[64]; /* SQLite: the file */
    char db[64];   /* PostgreSQL: the test's database */
    char url[160];
    pm_store *s;
    pm_arena *a;
} backend;

static backend sqlite_be = {.name = "sqlite"};
static backend pg_be = {.name = "postgresql", .pg = true};
static int serial;

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

/* A fresh warehouse for each test. */
static int setup(void **state)
{
    backend *b = *state;
    pm_err err;
    if (b->pg) {
        const char *u = getenv("PM_TEST_PG_URL");
        if (!u || !*u)
            return 0;
        PGconn *c = admin();
        if (!c)
            return -1;
        snprintf(b->db, sizeof b->db, "pm_test_contract_%ld_%d", (long)getpid(), serial++);
        char sql[160];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", b->db);
        admin_exec(c, sql);
        setenv("PGHOST", PQhost(c), 1);
        setenv("PGPORT", PQport(c), 1);
        setenv("PGUSER", PQuser(c), 1);
        if (PQpass(c) && *PQpass(c))
            setenv("PGPASSWORD", PQpass(c), 1);
        PQfinish(c);
        snprintf(b->url, sizeof b->url, "postgresql:///%s", b->db);
    } else {
        snprintf(b->path, sizeof b->path, "/tmp/pm_test_contract_XXXXXX");
        int fd = mkstemp(b->path);
        close(fd);
        snprintf(b->url, sizeof b->url, "sqlite:%s", b->path);
    }
    if (store_open(b->url, &b->s, &err) != PM_OK) {
        fprintf(stderr, "store_open(%s): %s\n", b->url, err.msg);
        return -1;
    }
    b->a = pm_arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    backend *b = *state;
    if (!b->s)
        return 0;
    store_close(b->s);
    b->s = NULL;
    pm_arena_free(b->a);
    if (b->pg) {
        PGconn *c = admin();
        if (!c)
            return -1;
        char sql[160];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", b->db);
        admin_exec(c, sql);
        PQfinish(c);
    } else {
        char p[100];
        unlink(b->path);
        snprintf(p, sizeof p, "%s-wal", b->path);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", b->path);
        unlink(p);
    }
    return 0;
}

/* The test's store, or a skip when its backend is not there. */
static pm_store *store_of(void **state)
{
    backend *b = *state;
    if (!b->s)
        skip();
    return b->s;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        pm_err e_;                                                                                 \
        pm_code rc_ = (call);                                                                      \
        if (rc_ != PM_OK)                                                                          \
            fail_msg("%s: %s (%s)", #call, e_.msg, e_.hint);                                       \
    } while (0)
/* the error variable OK() declares is the one passed as err */
#define E (&e_)

/* ---- the sandbox ------------------------------------------------------------ */

/* A dry run's sample goes into the clone at once: the rows it refuses are
 * marked, in place, and the others load (PostgreSQL halves the COPY around
 * them). */
static void test_sandbox_load(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    pm_table *t = table_new(a, "t");
    table_add(t, a, "id", (pm_type){PM_T_INT32, 0}, false);
    table_add(t, a, "qty", (pm_type){PM_T_INT32, 0}, false);
    t->version = 1;
    OK(store_begin(s, E));
    OK(store_table_create(s, t, E));
    OK(store_commit(s, E));
    enum { N = 9 };
    pm_cell cells[N][2];
    pm_load_row rows[N];
    for (int i = 0; i < N; i++) {
        cells[i][0] = (pm_cell){.kind = PM_CELL_INT, .i = i};
        /* rows 2, 3 and 7 have no qty */
        cells[i][1] = i == 2 || i == 3 || i == 7 ? (pm_cell){.kind = PM_CELL_NULL}
                                                 : (pm_cell){.kind = PM_CELL_INT, .i = i};
        rows[i] = (pm_load_row){.cells = cells[i]};
    }
    int64_t copied;
    /* as the table is: the clone refuses the three rows, and only them */
    OK(store_sandbox_begin(s, t, NULL, 0, t, 10, &copied, E));
    OK(store_sandbox_load(s, rows, N, a, E));
    for (int i = 0; i < N; i++) {
        bool bad = i == 2 || i == 3 || i == 7;
        assert_int_equal(rows[i].refused, bad);
        assert_false(rows[i].unique);
        if (bad)
            assert_non_null(strstr(rows[i].why, "qty"));
        else
            assert_null(rows[i].why);
    }
    store_sandbox_end(s);
    /* with qty nullable, the clone takes them all */
    pm_op op = {.kind = OP_DROP_NOT_NULL, .table = "t", .column = "qty"};
    pm_table *to;
    OK(op_result(t, &op, 1, a, &to, E));
    for (int i = 0; i < N; i++)
        rows[i] = (pm_load_row){.cells = cells[i]};
    OK(store_sandbox_begin(s, t, &op, 1, to, 10, &copied, E));
    OK(store_sandbox_load(s, rows, N, a, E));
    for (int i = 0; i < N; i++)
        assert_false(rows[i].refused);
    store_sandbox_end(s);
    int64_t n;
    OK(store_table_count(s, "t", &n, E));
    assert_int_equal(n, 0);
    pm_err err;
    assert_int_equal(store_sandbox_load(s, rows, 1, a, &err), PM_ERR_INTERNAL);
}

/* ---- runs ------------------------------------------------------------------ */

static void test_runs(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    int64_t r1, r2, r3;
    OK(store_run_start(s, "orders_feed", "orders", &r1, E));
    OK(store_run_start(s, NULL, "events", &r2, E));
    OK(store_run_start(s, "orders_feed", "orders", &r3, E));
    assert_true(r1 > 0 && r2 > r1 && r3 > r2);
    OK(store_run_add(s, r1, 10, 7, 3, E));
    OK(store_run_add(s, r1, 5, 5, 0, E));
    OK(store_run_finish(s, r1, RUN_QUARANTINED, NULL, true, "far below the usual 1000 rows", E));
    OK(store_run_finish(s, r2, RUN_FAILED, "the source vanished", false, NULL, E));

    pm_run run;
    bool found;
    OK(store_run_get(s, r1, a, &run, &found, E));
    assert_true(found);
    assert_int_equal(run.id, r1);
    assert_string_equal(run.pipeline, "orders_feed");
    assert_string_equal(run.table, "orders");
    assert_int_equal(run.status, RUN_QUARANTINED);
    assert_int_equal(run.rows_read, 15);
    assert_int_equal(run.rows_loaded, 12);
    assert_int_equal(run.rows_quarantined, 3);
    assert_null(run.error);
    assert_true(run.volume_anomaly);
    assert_string_equal(run.volume_note, "far below the usual 1000 rows");
    assert_non_null(run.started_at);
    assert_non_null(run.finished_at);
    assert_int_equal(strlen(run.started_at), 24); /* 2026-01-02T03:04:05.678Z */
    assert_int_equal(run.started_at[23], 'Z');
    assert_true(strcmp(run.finished_at, run.started_at) >= 0);

    OK(store_run_get(s, r2, a, &run, &found, E));
    assert_true(found);
    assert_null(run.pipeline);
    assert_int_equal(run.status, RUN_FAILED);
    assert_string_equal(run.error, "the source vanished");
    assert_false(run.volume_anomaly);
    assert_null(run.volume_note);

    OK(store_run_get(s, r3, a, &run, &found, E));
    assert_int_equal(run.status, RUN_RUNNING);
    assert_null(run.finished_at);
    assert_int_equal(run.rows_read, 0);
    OK(store_run_get(s, r3 + 100, a, &run, &found, E));
    assert_false(found);

    pm_run *runs;
    size_t n;
    OK(store_runs_list(s, NULL, NULL, 0, a, &runs, &n, E));
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].id, r3); /* newest first */
    assert_int_equal(runs[2].id, r1);
    OK(store_runs_list(s, "orders_feed", NULL, 0, a, &runs, &n, E));
    assert_int_equal(n, 2);
    OK(store_runs_list(s, NULL, "events", 0, a, &runs, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, r2);
    OK(store_runs_list(s, "orders_feed", "orders", 1, a, &runs, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, r3);
    OK(store_runs_list(s, "nothing", NULL, 0, a, &runs, &n, E));
    assert_int_equal(n, 0);

    /* a run whose process is gone is reaped; ours (alive) is not */
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t child = fork();
    if (child == 0) {
        pm_store *cs;
        pm_err ce;
        int64_t id = 0;
        close(go[0]);
        if (store_open(((backend *)*state)->url, &cs, &ce) ||
            store_run_start(cs, "gone", "orders", &id, &ce))
            _exit(1);
        store_close(cs);
        if (write(go[1], &id, sizeof id) != sizeof id)
            _exit(2);
        _exit(0);
    }
    close(go[1]);
    int64_t dead = 0;
    assert_int_equal(read(go[0], &dead, sizeof dead), sizeof dead);
    close(go[0]);
    int st;
    waitpid(child, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int64_t *ids;
    OK(store_runs_reap(s, a, &ids, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], dead);
    OK(store_run_get(s, dead, a, &run, &found, E));
    assert_int_equal(run.status, RUN_ABORTED);
    assert_non_null(strstr(run.error, "ended before it finished"));
    assert_non_null(run.finished_at);
    OK(store_run_get(s, r3, a, &run, &found, E));
    assert_int_equal(run.status, RUN_RUNNING);
    OK(store_runs_reap(s, a, &ids, &n, E)); /* each run once */
    assert_int_equal(n, 0);
}

/* ---- checkpoints and halts ------------------------------------------------ */

static void test_checkpoints(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    const char *cp = NULL;
    bool found = true;
    OK(store_checkpoint_get(s, "orders", "/data/a.ndjson", a, &cp, &found, E));
    assert_false(found);
    assert_null(cp);
    /* the transport's position, kept byte for byte: the store never reads
     * inside it */
    const char *w = "{\"offset\":4096,\"line\":12,\"fingerprint\":-81985529216486896}";
    OK(store_checkpoint_set(s, "orders", "/data/a.ndjson", w, E));
    OK(store_checkpoint_get(s, "orders", "/data/a.ndjson", a, &cp, &found, E));
    assert_true(found);
    assert_string_equal(cp, w);
    /* moving it replaces it; another source or table is another checkpoint */
    const char *w2 = "{\"offset\":8192,\"line\":30,\"fingerprint\":1}";
    OK(store_begin_batch(s, E));
    OK(store_checkpoint_get(s, "orders", "/data/a.ndjson", a, &cp, &found, E));
    assert_string_equal(cp, w);
    OK(store_checkpoint_set(s, "orders", "/data/a.ndjson", w2, E));
    OK(store_commit(s, E));
    OK(store_checkpoint_set(s, "events", "/data/a.ndjson", "kafka:orders/3@17", E));
    OK(store_checkpoint_get(s, "orders", "/data/a.ndjson", a, &cp, &found, E));
    assert_string_equal(cp, w2);
    OK(store_checkpoint_get(s, "events", "/data/a.ndjson", a, &cp, &found, E));
    assert_string_equal(cp, "kafka:orders/3@17");
    /* a position longer than a checkpoint holds is refused, not cut */
    char *big = pm_arena_alloc(a, STORE_POSITION_MAX + 1);
    memset(big, 'x', STORE_POSITION_MAX);
    big[STORE_POSITION_MAX] = '\0';
    pm_err err;
    assert_int_equal(store_checkpoint_set(s, "orders", "/data/a.ndjson", big, &err),
                     PM_ERR_INTERNAL);
    OK(store_checkpoint_get(s, "orders", "/data/a.ndjson", a, &cp, &found, E));
    assert_string_equal(cp, w2);
}

static void test_halts(void **state)
{
    pm_store *s = store_of(state);
    int64_t qrow, incident, q1, inc;
    bool found = true, created;
    OK(store_halt_get(s, "orders", "src", &qrow, &incident, &found, E));
    assert_false(found);
    pm_qrow q = {.run_id = 1,
                 .table = "orders",
                 .source = "src",
                 .raw = "{}",
                 .raw_len = 2,
                 .kinds = "type_conflict",
                 .message = "m",
                 .findings = "[]"};
    OK(store_quarantine_add(s, &q, &q1, E));
    OK(store_halt_set(s, "orders", "src", q1, E));
    OK(store_halt_get(s, "orders", "src", &qrow, &incident, &found, E));
    assert_true(found);
    assert_int_equal(qrow, q1);
    assert_int_equal(incident, 0); /* no incident holds it */
    pm_incident in = {
        .table = "orders", .column = "qty", .kind = "type_conflict", .run_id = 1, .message = "m"};
    OK(store_incident_open(s, &in, &inc, &created, E));
    bool linked;
    OK(store_incident_link(s, inc, q1, &linked, E));
    OK(store_halt_get(s, "orders", "src", &qrow, &incident, &found, E));
    assert_int_equal(incident, inc);
    /* set again replaces the row */
    OK(store_halt_set(s, "orders", "src", q1 + 7, E));
    OK(store_halt_get(s, "orders", "src", &qrow, &incident, &found, E));
    assert_int_equal(qrow, q1 + 7);
    assert_int_equal(incident, 0);
    OK(store_halt_set(s, "orders", "src", q1, E));
    OK(store_incident_set(s, inc, "resolved", 0, NULL, NULL, E));
    OK(store_halt_get(s, "orders", "src", &qrow, &incident, &found, E));
    assert_true(found);
    assert_int_equal(incident, 0); /* a closed incident holds nothing */
    OK(store_halt_clear(s, "orders", "src", E));
    OK(store_halt_get(s, "orders", "src", &qrow, &incident, &found, E));
    assert_false(found);
}

/* ---- quarantine ----------------------------------------------------------- */

static const char raw_bytes[] = "{\"a\":\"\xff\xfe\"}\0tail"; /* invalid UTF-8 and a NUL */

static int64_t qadd(pm_store *s, int64_t run, const char *table, int64_t offset)
{
    pm_qrow q = {.run_id = run,
                 .table = table,
                 .pipeline = "feed",
                 .source = "/data/in.ndjson",
                 .offset = offset,
                 .line = offset / 10,
                 .raw = raw_bytes,
                 .raw_len = sizeof raw_bytes - 1,
                 .raw_truncated = offset % 2,
                 .kinds = "type_conflict,widen",
                 .message = "qty: \"abc\" is not an integer",
                 .findings = "[{\"kind\":\"type_conflict\"}]"};
    int64_t id = 0;
    OK(store_quarantine_add(s, &q, &id, E));
    assert_true(id > 0);
    return id;
}

static void test_quarantine(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    int64_t ids[6];
    for (int i = 0; i < 5; i++)
        ids[i] = qadd(s, i < 3 ? 1 : 2, i < 4 ? "orders" : "events", 100 * (i + 1) + i);
    /* a CSV row keeps its header */
    pm_qrow csv = {.run_id = 2,
                   .table = "orders",
                   .source = "/data/in.csv",
                   .offset = 9,
                   .line = 2,
                   .raw = "1,x",
                   .raw_len = 3,
                   .kinds = "malformed",
                   .message = "m",
                   .findings = "[]",
                   .header = "id,qty",
                   .header_len = 6};
    OK(store_quarantine_add(s, &csv, &ids[5], E));
    assert_true(ids[5] > ids[4]);
    OK(store_quarantine_add(s, &csv, NULL, E)); /* id may be NULL */

    int64_t n;
    OK(store_quarantine_count(s, "orders", &n, E));
    assert_int_equal(n, 6);
    OK(store_quarantine_count(s, NULL, &n, E));
    assert_int_equal(n, 7);
    OK(store_quarantine_count(s, "nothing", &n, E));
    assert_int_equal(n, 0);

    pm_qrow *rows;
    size_t k;
    OK(store_quarantine_list(s, NULL, 0, 0, a, &rows, &k, E));
    assert_int_equal(k, 7);
    assert_true(rows[0].id > rows[1].id); /* newest first */
    OK(store_quarantine_list(s, "orders", 1, 0, a, &rows, &k, E));
    assert_int_equal(k, 3);
    OK(store_quarantine_list(s, "orders", 0, 2, a, &rows, &k, E));
    assert_int_equal(k, 2);

    pm_qrow r;
    bool found;
    OK(store_quarantine_get(s, ids[1], a, &r, &found, E));
    assert_true(found);
    assert_int_equal(r.id, ids[1]);
    assert_int_equal(r.run_id, 1);
    assert_string_equal(r.table, "orders");
    assert_string_equal(r.pipeline, "feed");
    assert_string_equal(r.source, "/data/in.ndjson");
    assert_int_equal(r.offset, 201);
    assert_int_equal(r.line, 20);
    assert_int_equal(r.raw_len, sizeof raw_bytes - 1);
    assert_memory_equal(r.raw, raw_bytes, sizeof raw_bytes - 1); /* byte for byte */
    assert_true(r.raw_truncated);
    assert_string_equal(r.kinds, "type_conflict,widen");
    assert_string_equal(r.message, "qty: \"abc\" is not an integer");
    assert_string_equal(r.findings, "[{\"kind\":\"type_conflict\"}]");
    assert_string_equal(r.status, "quarantined");
    assert_int_equal(strlen(r.created_at), 24);
    assert_null(r.header);
    OK(store_quarantine_get(s, ids[0], a, &r, &found, E));
    assert_false(r.raw_truncated);
    OK(store_quarantine_get(s, ids[5], a, &r, &found, E));
    assert_int_equal(r.header_len, 6);
    assert_memory_equal(r.header, "id,qty", 6);
    assert_null(r.pipeline);
    OK(store_quarantine_get(s, ids[5] + 100, a, &r, &found, E));
    assert_false(found);

    /* paging: oldest first, after an id, only what replay reads */
    OK(store_quarantine_page(s, "orders", 0, 2, a, &rows, &k, E));
    assert_int_equal(k, 2);
    assert_int_equal(rows[0].id, ids[0]);
    assert_int_equal(rows[1].id, ids[1]);
    assert_memory_equal(rows[1].raw, raw_bytes, sizeof raw_bytes - 1);
    assert_string_equal(rows[1].source, "/data/in.ndjson");
    assert_null(rows[1].kinds);
    assert_null(rows[1].findings); /* read after, for the rows that need them */
    pm_qrow *want[] = {&rows[0], &rows[1]};
    OK(store_quarantine_findings(s, want, 2, a, E));
    assert_string_equal(rows[1].findings, "[{\"kind\":\"type_conflict\"}]");
    assert_null(rows[1].status);
    OK(store_quarantine_page(s, "orders", ids[1], 0, a, &rows, &k, E));
    assert_int_equal(k, 4);
    assert_int_equal(rows[0].id, ids[2]);
    assert_int_equal(rows[2].id, ids[5]);
    assert_int_equal(rows[2].header_len, 6);

    /* replay replaces findings, or takes rows out */
    OK(store_quarantine_update(s, ids[2], "null_violation", "qty is null", "[1]", E));
    OK(store_quarantine_get(s, ids[2], a, &r, &found, E));
    assert_string_equal(r.kinds, "null_violation");
    assert_string_equal(r.message, "qty is null");
    assert_string_equal(r.findings, "[1]");
    OK(store_quarantine_remove(s, ids[0], E));
    OK(store_quarantine_get(s, ids[0], a, &r, &found, E));
    assert_false(found);
    int64_t many[] = {ids[1], ids[2], ids[4]};
    OK(store_quarantine_remove_many(s, many, 3, NULL, E));
    OK(store_quarantine_count(s, NULL, &n, E));
    assert_int_equal(n, 3);
    OK(store_quarantine_count(s, "events", &n, E));
    assert_int_equal(n, 0);
    OK(store_quarantine_remove_many(s, many, 0, NULL, E));

    /* a range of one table's ids (a replay page that loaded whole): the
     * rows of other tables in the range stay, the kept counts follow */
    int64_t ev = qadd(s, 2, "events", 900);
    int64_t last = qadd(s, 3, "orders", 901);
    pm_table_counts before, after;
    OK(store_table_counts(s, "orders", &before, E));
    assert_int_equal(before.quarantined, 3 + 1);
    int64_t removed = 0;
    OK(store_begin(s, E));
    OK(store_quarantine_remove_range(s, "orders", ids[3], last, &removed, E));
    OK(store_commit(s, E));
    assert_int_equal(removed, 4); /* ids[3], ids[5], the csv row without an id, last */
    OK(store_quarantine_count(s, "orders", &n, E));
    assert_int_equal(n, 0);
    OK(store_quarantine_count(s, "events", &n, E));
    assert_int_equal(n, 1);
    OK(store_quarantine_get(s, ev, a, &r, &found, E));
    assert_true(found);
    OK(store_table_counts(s, "orders", &after, E));
    assert_int_equal(after.quarantined, 0);
    assert_int_equal(after.replayed, before.replayed + 4);
    int64_t waiting;
    OK(store_run_waiting(s, "orders", 3, &waiting, E));
    assert_int_equal(waiting, 0);
    OK(store_run_waiting(s, "orders", 2, &waiting, E));
    assert_int_equal(waiting, 0);
    /* a rollback takes the removal and its counts back */
    OK(store_begin(s, E));
    OK(store_quarantine_remove_range(s, "events", ev, ev, &removed, E));
    assert_int_equal(removed, 1);
    OK(store_rollback(s, E));
    OK(store_quarantine_count(s, "events", &n, E));
    assert_int_equal(n, 1);
    OK(store_table_counts(s, "events", &after, E));
    assert_int_equal(after.quarantined, 1);
}

/* ---- incidents ------------------------------------------------------------ */

static void test_incidents(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    pm_incident in = {.table = "orders",
                      .column = "qty",
                      .kind = "type_conflict",
                      .run_id = 4,
                      .message = "qty: not an integer"};
    int64_t i1, again, i2, i3;
    bool created;
    OK(store_incident_open(s, &in, &i1, &created, E));
    assert_true(created);
    OK(store_incident_open(s, &in, &again, &created, E));
    assert_false(created);
    assert_int_equal(again, i1);
    in.column = NULL; /* malformed: no column */
    in.kind = "malformed";
    OK(store_incident_open(s, &in, &i2, &created, E));
    assert_true(created && i2 != i1);
    pm_incident other = {.table = "events", .column = "at", .kind = "format", .run_id = 5};
    OK(store_incident_open(s, &other, &i3, &created, E));

    int64_t q[4];
    bool linked;
    for (int i = 0; i < 4; i++)
        q[i] = qadd(s, 4, "orders", i * 10);
    for (int i = 0; i < 3; i++)
        OK(store_incident_link(s, i1, q[i], &linked, E));
    OK(store_incident_link(s, i1, q[0], &linked, E)); /* idempotent */
    OK(store_incident_link(s, i2, q[3], &linked, E));
    OK(store_incident_link(s, i2, q[2], &linked, E));

    pm_incident *list;
    size_t n;
    pm_incident_filter f = {.id = i1};
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, i1);
    assert_string_equal(list[0].table, "orders");
    assert_string_equal(list[0].column, "qty");
    assert_string_equal(list[0].kind, "type_conflict");
    assert_string_equal(list[0].state, "open");
    assert_int_equal(list[0].run_id, 4);
    assert_int_equal(list[0].proposal, 0);
    assert_int_equal(list[0].rows, 3);
    assert_string_equal(list[0].message, "qty: not an integer");
    assert_int_equal(strlen(list[0].detected_at), 24);
    assert_null(list[0].planned_at);
    assert_null(list[0].resolved_at);
    assert_null(list[0].note);
    f = (pm_incident_filter){.id = i2};
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_string_equal(list[0].column, "");
    assert_int_equal(list[0].rows, 2);

    /* rows of an incident, oldest or newest first */
    pm_qrow *rows;
    size_t k;
    OK(store_incident_rows(s, i1, false, 0, a, &rows, &k, E));
    assert_int_equal(k, 3);
    assert_int_equal(rows[0].id, q[0]);
    assert_memory_equal(rows[0].raw, raw_bytes, sizeof raw_bytes - 1);
    OK(store_incident_rows(s, i1, true, 2, a, &rows, &k, E));
    assert_int_equal(k, 2);
    assert_int_equal(rows[0].id, q[2]);
    assert_int_equal(rows[1].id, q[1]);

    OK(store_incident_unlink_row(s, q[2], E)); /* from both incidents */
    OK(store_incident_rows(s, i1, false, 0, a, &rows, &k, E));
    assert_int_equal(k, 2);
    OK(store_incident_rows(s, i2, false, 0, a, &rows, &k, E));
    assert_int_equal(k, 1);
    assert_int_equal(rows[0].id, q[3]);
    OK(store_quarantine_remove(s, q[3], E)); /* takes its links along */
    OK(store_incident_rows(s, i2, false, 0, a, &rows, &k, E));
    assert_int_equal(k, 0);

    /* moves stamp their times once; proposal, note and actor stick */
    OK(store_incident_set(s, i1, "planned", 42, "rules planned a fix", NULL, E));
    f = (pm_incident_filter){.id = i1};
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_string_equal(list[0].state, "planned");
    assert_int_equal(list[0].proposal, 42);
    assert_string_equal(list[0].note, "rules planned a fix");
    assert_non_null(list[0].planned_at);
    const char *planned = list[0].planned_at;
    OK(store_incident_set(s, i1, "awaiting_approval", 0, NULL, NULL, E));
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_string_equal(list[0].state, "awaiting_approval");
    assert_int_equal(list[0].proposal, 42);
    assert_string_equal(list[0].note, "rules planned a fix");
    assert_string_equal(list[0].planned_at, planned);
    OK(store_incident_set(s, i1, "applied", 0, NULL, NULL, E));
    OK(store_incident_set(s, i1, "replayed", 0, NULL, NULL, E));
    OK(store_incident_set(s, i1, "resolved", 0, NULL, NULL, E));
    OK(store_incident_set(s, i2, "dismissed", 0, "not ours", "alice", E));
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_non_null(list[0].applied_at);
    assert_non_null(list[0].replayed_at);
    assert_non_null(list[0].resolved_at);
    assert_null(list[0].decided_by);
    f.id = i2;
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_string_equal(list[0].state, "dismissed");
    assert_string_equal(list[0].decided_by, "alice");
    assert_string_equal(list[0].note, "not ours");
    assert_non_null(list[0].resolved_at);
    pm_err err;
    assert_int_equal(store_incident_set(s, i3 + 100, "planned", 0, NULL, NULL, &err),
                     PM_ERR_NOTFOUND);

    /* a closed incident is not the active one: the same drift opens anew */
    in.column = "qty";
    in.kind = "type_conflict";
    int64_t i4;
    OK(store_incident_open(s, &in, &i4, &created, E));
    assert_true(created && i4 > i3);

    /* filters, newest first */
    f = (pm_incident_filter){0};
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_int_equal(n, 4);
    assert_int_equal(list[0].id, i4);
    f = (pm_incident_filter){.active_only = true};
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_int_equal(n, 2);
    f = (pm_incident_filter){.table = "orders", .active_only = true};
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, i4);
    f = (pm_incident_filter){.proposal = 42};
    OK(store_incidents_list(s, &f, a, &list, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, i1);

    pm_incident_stats st;
    OK(store_incident_stats(s, NULL, &st, E));
    assert_int_equal(st.active, 2);
    assert_int_equal(st.resolved, 1);
    assert_int_equal(st.dismissed, 1);
    assert_true(st.mttr_seconds >= 0 && st.mttr_seconds < 60);
    assert_true(st.mean_to_plan_seconds >= 0 && st.mean_to_plan_seconds < 60);
    OK(store_incident_stats(s, "events", &st, E));
    assert_int_equal(st.active, 1);
    assert_int_equal(st.resolved, 0);
    assert_true(st.mttr_seconds == 0);
}

/* ---- proposals ------------------------------------------------------------ */

static void test_proposals(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    pm_proposal p = {.table = "orders",
                     .run_id = 3,
                     .incident = 9,
                     .version = 2,
                     .ops = "[{\"op\":\"add_column\",\"column\":\"coupon\"}]",
                     .why = "[\"coupon appeared\"]"};
    int64_t p1, p2, same;
    bool created;
    OK(store_proposal_add(s, &p, &p1, &created, E));
    assert_true(created);
    OK(store_proposal_add(s, &p, &same, &created, E));
    assert_false(created);
    assert_int_equal(same, p1);
    pm_proposal q = p;
    q.ops = "[{\"op\":\"drop_not_null\",\"column\":\"qty\"}]";
    q.incident = 0;
    OK(store_proposal_add(s, &q, &p2, &created, E));
    assert_true(created && p2 > p1);

    pm_proposal *list;
    size_t n;
    OK(store_proposals_list(s, NULL, NULL, p1, a, &list, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, p1);
    assert_string_equal(list[0].table, "orders");
    assert_int_equal(list[0].run_id, 3);
    assert_int_equal(list[0].incident, 9);
    assert_int_equal(list[0].version, 2);
    assert_int_equal(list[0].state, PROP_PENDING);
    assert_string_equal(list[0].ops, p.ops);
    assert_string_equal(list[0].why, p.why);
    assert_int_equal(strlen(list[0].created_at), 24);
    assert_null(list[0].decided_by);
    assert_null(list[0].decided_at);
    assert_null(list[0].dry_run);
    OK(store_proposals_list(s, NULL, NULL, p2, a, &list, &n, E));
    assert_int_equal(list[0].incident, 0);

    OK(store_proposal_set_dry_run(s, p1, "{\"ok\":true,\"rows\":5}", E));
    OK(store_proposal_decide(s, p2, PROP_REJECTED, "bob", E));
    pm_err err;
    assert_int_equal(store_proposal_decide(s, p2, PROP_APPLIED, "bob", &err), PM_ERR_BUSY);
    OK(store_proposals_list(s, NULL, NULL, p2, a, &list, &n, E));
    assert_int_equal(list[0].state, PROP_REJECTED);
    assert_string_equal(list[0].decided_by, "bob");
    assert_non_null(list[0].decided_at);
    /* a rejected proposal is not asked again */
    OK(store_proposal_add(s, &q, &same, &created, E));
    assert_false(created);
    assert_int_equal(same, p2);
    /* an applied one is: the same change may be needed again later */
    OK(store_proposal_decide(s, p1, PROP_APPLIED, "auto", E));
    int64_t p3;
    OK(store_proposal_add(s, &p, &p3, &created, E));
    assert_true(created && p3 > p2);

    OK(store_proposals_list(s, NULL, NULL, 0, a, &list, &n, E));
    assert_int_equal(n, 3);
    assert_int_equal(list[0].id, p3);
    OK(store_proposals_list(s, "orders", &(pm_proposal_state){PROP_APPLIED}, 0, a, &list, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, p1);
    assert_string_equal(list[0].dry_run, "{\"ok\":true,\"rows\":5}");
    OK(store_proposals_list(s, "events", NULL, 0, a, &list, &n, E));
    assert_int_equal(n, 0);
}

/* ---- schema versions ------------------------------------------------------ */

static void test_schema_versions(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    pm_table *t = table_new(a, "orders");
    table_add(t, a, "id", (pm_type){PM_T_INT64, 0}, false);
    table_add(t, a, "email", (pm_type){PM_T_VARCHAR, 16}, true);
    pm_table *none = t;
    OK(store_table_load(s, "orders", a, &none, E));
    assert_null(none);
    OK(store_begin(s, E));
    OK(store_table_create(s, t, E));
    OK(store_commit(s, E));
    pm_table *v1;
    OK(store_table_load(s, "orders", a, &v1, E));
    assert_non_null(v1);
    assert_int_equal(v1->version, 1);
    assert_int_equal(v1->ncols, 2);
    assert_string_equal(v1->cols[1].name, "email");
    assert_int_equal(v1->cols[1].type.kind, PM_T_VARCHAR);
    assert_int_equal(v1->cols[1].type.len, 16);
    assert_false(v1->cols[0].nullable);

    /* rows go in */
    OK(store_insert_prepare(s, v1, E));
    pm_cell c1[2] = {{.kind = PM_CELL_INT, .i = 1}, {.kind = PM_CELL_TEXT, .s = "a@b.c", .len = 5}};
    pm_cell c2[2] = {{.kind = PM_CELL_INT, .i = 2}, {.kind = PM_CELL_NULL}};
    pm_load_row rows[2] = {{.cells = c1}, {.cells = c2}};
    OK(store_begin_batch(s, E));
    OK(store_load(s, rows, 2, a, E));
    OK(store_commit(s, E));
    assert_false(rows[0].refused || rows[1].refused);
    int64_t count;
    OK(store_table_count(s, "orders", &count, E));
    assert_int_equal(count, 2);

    /* version 2 by typed ops, outside a transaction */
    pm_op ops[] = {
        {.kind = OP_ADD_COLUMN, .table = "orders", .column = "coupon", .type = {PM_T_TEXT, 0}},
        {.kind = OP_WIDEN_COLUMN, .table = "orders", .column = "email", .type = {PM_T_VARCHAR, 64}},
    };
    pm_table *v2;
    OK(op_result(v1, ops, 2, a, &v2, E));
    /* rendered first: the DDL as it would run, and nothing changes */
    pm_buf ddl;
    pm_buf_init(&ddl, 1 << 20);
    OK(store_render_ddl(s, v1, ops, 2, v2, &ddl, E));
    assert_non_null(ddl.data);
    assert_non_null(strstr(ddl.data, "\"coupon\""));
    assert_non_null(strstr(ddl.data, ";\n"));
    pm_buf_free(&ddl);
    pm_table *still;
    OK(store_table_load(s, "orders", a, &still, E));
    assert_int_equal(still->version, 1);
    assert_int_equal(still->ncols, 2);
    OK(store_apply_ops(s, v1, ops, 2, v2, "coupon appeared", E));
    pm_err err;
    assert_int_equal(store_apply_ops(s, v1, ops, 2, v2, "again", &err), PM_ERR_BUSY);
    pm_table *back;
    OK(store_table_load(s, "orders", a, &back, E));
    assert_int_equal(back->version, 2);
    assert_int_equal(back->ncols, 3);
    assert_int_equal(back->cols[1].type.len, 64);
    pm_table *live;
    bool exists;
    OK(store_table_live(s, back, a, &live, &exists, E));
    assert_true(exists);
    assert_int_equal(live->ncols, 3);
    assert_string_equal(live->cols[2].name, "coupon");
    assert_int_equal(live->version, 3);

    /* an adoption planned against version 1 (a worker that read the
     * catalog before another's change) finds the version moved: busy, not
     * a duplicate version */
    pm_table stale = *live;
    stale.version = 2;
    OK(store_begin(s, E));
    assert_int_equal(store_table_adopt(s, &stale, "seen before the change", &err), PM_ERR_BUSY);
    assert_non_null(strstr(err.msg, "changed since"));
    OK(store_rollback(s, E));

    /* version 3 adopted, in the caller's transaction */
    OK(store_begin(s, E));
    OK(store_table_adopt(s, live, "changed by hand", E));
    OK(store_commit(s, E));
    OK(store_table_load(s, "orders", a, &back, E));
    assert_int_equal(back->version, 3);

    /* the new columns load */
    OK(store_insert_prepare(s, back, E));
    pm_cell c3[3] = {{.kind = PM_CELL_INT, .i = 3},
                     {.kind = PM_CELL_NULL},
                     {.kind = PM_CELL_TEXT, .s = "SAVE10", .len = 6}};
    pm_load_row r3 = {.cells = c3};
    OK(store_begin_batch(s, E));
    OK(store_load(s, &r3, 1, a, E));
    OK(store_commit(s, E));
    OK(store_table_count(s, "orders", &count, E));
    assert_int_equal(count, 3);

    pm_table *other = table_new(a, "events");
    table_add(other, a, "at", (pm_type){PM_T_TEXT, 0}, true);
    OK(store_begin(s, E));
    OK(store_table_create(s, other, E));
    OK(store_commit(s, E));
    pm_table **list;
    size_t n;
    OK(store_tables_list(s, a, &list, &n, E));
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->name, "events");
    assert_int_equal(list[0]->version, 1);
    assert_string_equal(list[1]->name, "orders");
    assert_int_equal(list[1]->version, 3);
    assert_int_equal(list[1]->ncols, 3);
    OK(store_tables_brief(s, a, &list, &n, E));
    assert_int_equal(n, 2);
    assert_string_equal(list[1]->name, "orders");
    assert_int_equal(list[1]->version, 3);
}

/* ---- audit ---------------------------------------------------------------- */

static void fake_hash(const pm_audit_event *e, char out[65])
{
    /* not SHA-256: the store only chains what it is given */
    snprintf(out, 65, "%064llx", (unsigned long long)(e->seq * 1000 + strlen(e->action)));
}

static void test_audit(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    const char *actions[] = {"run.started", "row.quarantined", "run.finished"};
    for (int i = 0; i < 3; i++) {
        pm_audit_event e = {.at = "2026-01-02T03:04:05.678Z",
                            .actor = "cli:alice",
                            .action = actions[i],
                            .subject = "orders",
                            .payload = "{\"n\":1}"};
        if (i == 1)
            OK(store_begin(s, E)); /* joins the caller's transaction */
        OK(store_audit_append(s, &e, fake_hash, E));
        if (i == 1)
            OK(store_commit(s, E));
        assert_int_equal(e.seq, i + 1);
    }
    pm_audit_event *ev;
    size_t n;
    OK(store_audit_list(s, 0, 0, a, &ev, &n, E));
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        char want[65];
        fake_hash(&ev[i], want);
        assert_int_equal(ev[i].seq, i + 1);
        assert_string_equal(ev[i].action, actions[i]);
        assert_string_equal(ev[i].actor, "cli:alice");
        assert_string_equal(ev[i].subject, "orders");
        assert_string_equal(ev[i].payload, "{\"n\":1}");
        assert_string_equal(ev[i].at, "2026-01-02T03:04:05.678Z");
        assert_string_equal(ev[i].hash, want);
        assert_string_equal(ev[i].prev_hash,
                            i ? ev[i - 1].hash
                              : "0000000000000000000000000000000000000000000000000000000000000000");
    }
    const char *third = ev[2].hash;
    OK(store_audit_list(s, 1, 1, a, &ev, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].seq, 2);
    /* an append rolled back with its transaction leaves no gap */
    pm_audit_event e = {.at = "x", .actor = "a", .action = "b", .subject = "c", .payload = "{}"};
    OK(store_begin(s, E));
    OK(store_audit_append(s, &e, fake_hash, E));
    OK(store_rollback(s, E));
    OK(store_audit_append(s, &e, fake_hash, E));
    assert_int_equal(e.seq, 4);
    OK(store_audit_list(s, 3, 0, a, &ev, &n, E));
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].prev_hash, third);
}

/* ---- transactions --------------------------------------------------------- */

static void test_transactions(void **state)
{
    pm_store *s = store_of(state);
    pm_arena *a = ((backend *)*state)->a;
    int64_t run, n;
    OK(store_run_start(s, "p", "orders", &run, E));
    /* a rolled back batch leaves nothing: rows, counters, checkpoint */
    const char *cp = "{\"offset\":100}";
    OK(store_begin_batch(s, E));
    qadd(s, run, "orders", 1);
    OK(store_run_add(s, run, 10, 9, 1, E));
    OK(store_checkpoint_set(s, "orders", "src", cp, E));
    OK(store_rollback(s, E));
    OK(store_quarantine_count(s, NULL, &n, E));
    assert_int_equal(n, 0);
    pm_run r;
    bool found;
    OK(store_run_get(s, run, a, &r, &found, E));
    assert_int_equal(r.rows_read, 0);
    OK(store_checkpoint_get(s, "orders", "src", a, &cp, &found, E));
    assert_false(found);
    /* a committed one keeps all of it */
    cp = "{\"offset\":100}";
    OK(store_begin_batch(s, E));
    qadd(s, run, "orders", 1);
    OK(store_run_add(s, run, 10, 9, 1, E));
    OK(store_checkpoint_set(s, "orders", "src", cp, E));
    OK(store_commit(s, E));
    OK(store_begin(s, E));
    qadd(s, run, "orders", 2);
    OK(store_commit(s, E));
    OK(store_quarantine_count(s, NULL, &n, E));
    assert_int_equal(n, 2);
    OK(store_run_get(s, run, a, &r, &found, E));
    assert_int_equal(r.rows_read, 10);
    assert_int_equal(r.rows_quarantined, 1);
    OK(store_checkpoint_get(s, "orders", "src", a, &cp, &found, E));
    assert_true(found);
    assert_string_equal(cp, "{\"offset\":100}");
    /* a run started inside a transaction goes with it */
    int64_t gone;
    OK(store_begin(s, E));
    OK(store_run_start(s, "p", "orders", &gone, E));
    OK(store_rollback(s, E));
    OK(store_run_get(s, gone, a, &r, &found, E));
    assert_false(found);
    /* PostgreSQL: committing with nothing open is a mistake, rolling back
     * is not (SQLite says both are) */
    pm_err err;
    if (((backend *)*state)->pg) {
        OK(store_rollback(s, E));
        assert_int_equal(store_commit(s, &err), PM_ERR_INTERNAL);
    } else {
        assert_int_not_equal(store_commit(s, &err), PM_OK);
    }
    assert_true(store_default_batch(s) == (((backend *)*state)->pg ? 20000u : 5000u));
}

#define CONTRACT(group, be)                                                                        \
    const struct CMUnitTest group[] = {                                                            \
        cmocka_unit_test_prestate_setup_teardown(test_runs, setup, teardown, &be),                 \
        cmocka_unit_test_prestate_setup_teardown(test_checkpoints, setup, teardown, &be),          \
        cmocka_unit_test_prestate_setup_teardown(test_halts, setup, teardown, &be),                \
        cmocka_unit_test_prestate_setup_teardown(test_quarantine, setup, teardown, &be),           \
        cmocka_unit_test_prestate_setup_teardown(test_incidents, setup, teardown, &be),            \
        cmocka_unit_test_prestate_setup_teardown(test_proposals, setup, teardown, &be),            \
        cmocka_unit_test_prestate_setup_teardown(test_schema_versions, setup, teardown, &be),      \
        cmocka_unit_test_prestate_setup_teardown(test_audit, setup, teardown, &be),                \
        cmocka_unit_test_prestate_setup_teardown(test_transactions, setup, teardown, &be),         \
        cmocka_unit_test_prestate_setup_teardown(test_sandbox_load, setup, teardown, &be),         \
    }

int main(void)
{
    CONTRACT(on_sqlite, sqlite_be);
    CONTRACT(on_pg, pg_be);
    int failed = cmocka_run_group_tests_name("store contract: sqlite", on_sqlite, NULL, NULL);
    failed += cmocka_run_group_tests_name("store contract: postgresql", on_pg, NULL, NULL);
    return failed;
}
