"""What only PostgreSQL has: several workers loading one table at once, a
connection killed in the middle of a batch, rows the server itself refuses
(a trigger, a type pipemend does not know), and tables made by hand before
pipemend arrived (VARCHAR(32), NOT NULL)."""
import json
import os
import subprocess
import threading
import time

from e2e_util import BIN, E2E, EXIT_LOADED, EXIT_QUARANTINED, clean_env, pg_only


def rec(i, **over):
    r = {"id": i, "email": "u%d@example.com" % i, "n": i}
    r.update(over)
    return r


@pg_only("needs a PostgreSQL server: several connections, pg_terminate_backend, hand-made DDL")
class TestPostgres(E2E):
    def ingest_async(self, table, path, *extra):
        return subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", table, *extra, path],
                                cwd=self.tmp, env=clean_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def events(self, action):
        ev = self.pm("audit", "log", "--db", self.db, "--json").json()
        return [e for e in ev if e["action"] == action]

    def test_workers_hitting_the_same_new_field_alter_once(self):
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(10)]), expect=EXIT_LOADED)
        # four workers, each its own file, every row with the same new field
        n, per = 4, 3000
        paths = [self.write("w%d.ndjson" % w,
                            [rec(1000 + w * per + i, coupon="C%d" % i) for i in range(per)])
                 for w in range(n)]
        procs = [self.ingest_async("t", p) for p in paths]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, EXIT_LOADED, err)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"),
                         [(10 + n * per, 10 + n * per)])
        self.assertEqual(self.schema("t")["coupon"][1], True)
        # exactly one schema change added the column
        versions = self.sql("SELECT version, reason FROM _pipemend_schema_versions "
                            "WHERE table_name = 't' ORDER BY version")
        self.assertEqual(len(versions), 2, versions)
        self.assertEqual(len(self.events("schema.healed")), 1)
        self.assertEqual(len([i for i in self.pm("incidents", "list", "--db", self.db,
                                                  "--json").json()
                              if i["kind"] == "new_field"]), 1)
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)
        self.assert_invariants("t", 10 + n * per)

    def test_connection_killed_mid_batch_resumes_without_loss_or_duplicates(self):
        # transactions of 2000 rows, so that the run's counters move often
        # enough for the kills below to land mid-load
        self.write_config("defaults:\n  batch_size: 2000\n")
        rows = 200000
        path = os.path.join(self.tmp, "big.ndjson")
        with open(path, "w") as f:
            for i in range(rows):
                f.write(json.dumps(rec(i, note="x" * 40)) + "\n")
        p = self.ingest_async("t", path)
        killed = 0
        deadline = time.time() + 60
        while p.poll() is None and killed < 2 and time.time() < deadline:
            n = self.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                         "'pipemend' AND datname = current_database()")[0][0]
            loaded = self.sql("SELECT coalesce(sum(rows_loaded), 0) FROM _pipemend_runs")[0][0] \
                if "_pipemend_runs" in self.table_names() else 0
            if n and loaded and int(loaded) > (killed + 1) * 30000:
                self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                         "application_name = 'pipemend' AND datname = current_database()")
                killed += 1
            time.sleep(0.05)
        out, err = p.communicate(timeout=120)
        self.assertGreaterEqual(killed, 1, "the load ended before the test could kill it")
        self.assertEqual(p.returncode, EXIT_LOADED, err)
        # a batch is written again; batches that shared a load are read again
        self.assertRegex(err, "writing it again|reading again from the checkpoints")
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"),
                         [(rows, rows)])
        self.assert_invariants("t", rows)

    def refuse_thirteen(self):
        """A trigger on t that refuses a row whose n is 13, as the server
        would refuse a row pipemend cannot foresee."""
        self.sql_script(
            "CREATE FUNCTION public.no_thirteen() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF NEW.n = 13 THEN RAISE EXCEPTION 'thirteen is unlucky'; END IF; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER no_thirteen BEFORE INSERT ON public.t FOR EACH ROW "
            "EXECUTE FUNCTION public.no_thirteen()")

    def test_row_the_server_refuses_is_quarantined_and_the_rest_loads(self):
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)
        self.refuse_thirteen()
        rows = [rec(100 + i, n=13 if i in (7, 4000) else 20 + i) for i in range(6000)]
        self.ingest("t", self.write("b.ndjson", rows), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(sorted(json.loads(e["raw"])["id"] for e in q), [107, 4100])
        for e in q:
            self.assertIn("thirteen is unlucky", e["message"])
            self.assertIn("SQLSTATE P0001", e["message"])
        self.assertEqual(self.count("t"), 5 + 6000 - 2)
        self.assert_invariants("t", 6005)

    def test_row_refused_inside_a_load_of_several_batches(self):
        # Clean batches share one COPY and one transaction (up to 250,000
        # rows): a row the server refuses there ends that load, which is
        # rolled back and read again batch by batch; the refused row is
        # quarantined, every other row loads once, and the run counts each
        # row once.
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)
        self.refuse_thirteen()
        rows = 60000  # a dozen batches of 12 MiB of parsed rows
        path = os.path.join(self.tmp, "b.ndjson")
        with open(path, "w") as f:
            for i in range(rows):
                r = rec(100 + i, n=13 if i == 45000 else 20 + i, note="x" * 600)
                f.write(json.dumps(r) + "\n")
        r = self.ingest("t", path, expect=EXIT_QUARANTINED)
        self.assertIn("a load of several batches did not complete", r.stderr)
        self.assertIn("thirteen is unlucky", r.stderr)
        q = self.quarantine()
        self.assertEqual([json.loads(e["raw"])["id"] for e in q], [45100])
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"),
                         [(5 + rows - 1, 5 + rows - 1)])
        run = self.last_run()
        self.assertEqual((run["rows_read"], run["rows_loaded"], run["rows_quarantined"]),
                         (rows, rows - 1, 1))
        self.assert_invariants("t", 5 + rows)

    def test_row_refused_while_reading_a_named_pipe(self):
        # A pipe's bytes cannot be read twice: its batches never share a
        # load that could fail after their memory was freed. The refused
        # row is quarantined and every other row loads once.
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)
        self.refuse_thirteen()
        rows = 60000
        path = os.path.join(self.tmp, "feed")
        os.mkfifo(path)

        def feed():
            with open(path, "w") as f:
                for i in range(rows):
                    r = rec(100 + i, n=13 if i == 45000 else 20 + i, note="x" * 600)
                    f.write(json.dumps(r) + "\n")

        feeder = threading.Thread(target=feed)
        feeder.start()
        p = subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "t", "--format",
                              "ndjson", path], cwd=self.tmp, env=clean_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=300)
        feeder.join(30)
        self.assertEqual(p.returncode, EXIT_QUARANTINED, err)
        self.assertNotIn("a load of several batches", err)
        q = self.quarantine()
        self.assertEqual([json.loads(e["raw"])["id"] for e in q], [45100])
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"),
                         [(5 + rows - 1, 5 + rows - 1)])

    def test_table_made_by_hand_with_varchar_32_and_not_null(self):
        self.sql_script("CREATE TABLE public.customers (id integer NOT NULL, "
                        "name varchar(32) NOT NULL, country char(2), uid uuid)")
        rows = [{"id": 1, "name": "short", "country": "DE",
                 "uid": "123e4567-e89b-12d3-a456-426614174000"},
                {"id": 2, "name": "N" * 80, "country": "FR"},
                {"id": 3, "name": None, "country": "IT"},
                {"id": 4, "name": "ok", "uid": "not-a-uuid"}]
        r = self.ingest("customers", self.write("c.ndjson", rows), expect=EXIT_QUARANTINED)
        self.assertIn("adopted as schema version 1", r.stderr)
        s = self.schema("customers")
        # the 80 characters widened varchar(32), as a widen finding healed
        # automatically; NOT NULL is kept and a null waits for a person
        self.assertEqual(s["name"], ("varchar(256)", False))
        self.assertEqual(self.column_types("customers")["name"], "character varying(256)")
        self.assertEqual(self.sql("SELECT id FROM customers ORDER BY id"), [(1,), (2,)])
        q = {json.loads(e["raw"])["id"]: e for e in self.quarantine()}
        self.assertEqual(sorted(q), [3, 4])
        self.assertEqual(q[3]["kinds"], ["null_violation"])
        self.assertIn('invalid input syntax for type uuid: "not-a-uuid"', q[4]["message"])
        self.assertEqual(len(self.events("table.adopted")), 1)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_heal_and_approval_are_transactional_ddl(self):
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [rec(10, email=None), rec(11, n=3000000000)]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        ps = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertTrue(all(p["dry_run"]["ok"] for p in ps), ps)
        for p in ps:
            r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db)
            self.assertEqual(r.rc, 0, r)
        types = self.column_types("t")
        self.assertEqual(types["n"], "bigint")
        self.assertEqual(self.sql("SELECT is_nullable FROM information_schema.columns WHERE "
                                  "table_schema = 'public' AND table_name = 't' AND "
                                  "column_name = 'email'"), [("YES",)])
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.count("t"), 7)
        # the sandbox left nothing behind
        self.assertEqual(self.sql("SELECT count(*) FROM pg_class WHERE relname = 'pm_sandbox'"),
                         [(0,)])

    def test_dry_run_failure_that_is_no_refusal_stays_with_its_rows(self):
        # a CHECK whose function fails with an error that is no row's
        # refusal: the dry run's one COPY fails, and its rows are tried one
        # by one, so only the rows that fail say so
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)
        self.sql_script(
            "CREATE FUNCTION public.not_13(n bigint) RETURNS boolean LANGUAGE plpgsql AS $$ "
            "BEGIN IF n = 13 THEN RAISE EXCEPTION 'no thirteen here' USING ERRCODE = '42P17'; "
            "END IF; RETURN true; END $$",
            "ALTER TABLE public.t ADD CONSTRAINT t_not_13 CHECK (public.not_13(n))")
        rows = [rec(100 + i, n=13 if i in (3, 7) else 20 + i, coupon="C") for i in range(10)]
        self.ingest("t", self.write("b.ndjson", rows), extra=("--policy", "review"),
                    expect=EXIT_QUARANTINED)
        ps = [p for p in self.pm("proposals", "list", "--db", self.db, "--json").json()
              if p["state"] == "pending"]
        self.assertEqual([o["op"] for p in ps for o in p["ops"]], ["add_column"], ps)
        dr = ps[0]["dry_run"]
        self.assertEqual((dr["rows"], dr["would_load"], dr["would_fail"]), (10, 8, 2), dr)
        self.assertEqual([f["count"] for f in dr["failures"]], [2], dr)
        self.assertIn("no thirteen here", dr["failures"][0]["message"])
