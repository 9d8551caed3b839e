"""Crash safety: SIGKILL an ingest at random moments, then finish it; every
row must be in the table exactly once and the killed runs must show as
aborted.

PIPEMEND_E2E_SEED fixes the random kill times (the seed is printed on
failure); PIPEMEND_E2E_CRASH_ROWS changes the input size (default 200000)."""
import json
import os
import random
import signal
import subprocess
import time

from e2e_util import BIN, E2E, EXIT_LOADED, LINKS, clean_env

ROWS = int(os.environ.get("PIPEMEND_E2E_CRASH_ROWS", "200000"))
KILLS = 5


class TestCrash(E2E):
    def assert_incidents_settled(self, ctx):
        """No incident is left applied without its replay, and no row sits
        in quarantine under a resolved incident."""
        self.assertEqual(self.sql("SELECT id, table_name FROM _pipemend_incidents "
                                  "WHERE state = 'applied'"), [], ctx)
        self.assertEqual(self.sql("SELECT count(*) FROM " + LINKS + " r JOIN "
                                  "_pipemend_incidents i ON i.id = r.incident "
                                  "WHERE i.state = 'resolved'"), [(0,)], ctx)

    def test_sigkill_at_random_times_loses_and_duplicates_nothing(self):
        seed = int(os.environ.get("PIPEMEND_E2E_SEED", str(int(time.time() * 1000) % 1000000)))
        rnd = random.Random(seed)
        ctx = "seed %d (rerun with PIPEMEND_E2E_SEED=%d)" % (seed, seed)
        self.write_config("defaults:\n  batch_size: 1000\n")
        src = self.path("orders.ndjson")
        base = 1000000  # order ids are int32 from the first row on: no drift
        with open(src, "w") as f:
            for i in range(ROWS):
                f.write(json.dumps({
                    "order_id": base + i,
                    "customer_email": "user%d@example.com" % (i % 997),
                    "amount": (i % 50000) / 100 + 0.01,
                    "quantity": i % 7 + 1,
                    "created_at": "2026-11-%02dT10:%02d:00Z" % (i % 28 + 1, i % 60),
                }) + "\n")
        args = [BIN, "ingest", "--db", self.db, "--table", "orders", src]

        killed_pids = []
        for k in range(KILLS):
            p = subprocess.Popen(args, cwd=self.tmp, env=clean_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            delay = rnd.uniform(0.05, 1.5)
            try:
                p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                killed_pids.append(p.pid)
            p.wait()
            err = p.stderr.read().decode("utf-8", "replace")
            p.stderr.close()
            self.assertNotRegex(err, "runtime error:|ERROR: AddressSanitizer", ctx)
            if p.returncode != -signal.SIGKILL:
                self.assertEqual(p.returncode, EXIT_LOADED, "%s: %s" % (ctx, err))
            # at every point: no duplicates, and the counters match the table
            if self.table_exists("orders"):
                n, d = self.sql("SELECT count(*), count(DISTINCT order_id) FROM orders")[0]
                self.assertEqual(n, d, "%s: duplicates after kill %d" % (ctx, k + 1))

        r = self.ingest("orders", src)
        self.assertEqual(r.rc, EXIT_LOADED, "%s: %r" % (ctx, r))

        n, d, lo, hi = self.sql("SELECT count(*), count(DISTINCT order_id), min(order_id), "
                                "max(order_id) FROM orders")[0]
        self.assertEqual((n, d), (ROWS, ROWS), ctx)
        self.assertEqual((lo, hi), (base, base + ROWS - 1), ctx)
        self.assertEqual(self.quarantine(), [], ctx)

        runs = self.runs("--table", "orders")
        self.assertEqual(runs[0]["status"], "succeeded", ctx)
        statuses = [x["status"] for x in runs]
        self.assertNotIn("running", statuses, "%s: runs left running: %r" % (ctx, statuses))
        for x in runs:
            self.assertEqual(x["rows_read"], x["rows_loaded"] + x["rows_quarantined"], (ctx, x))
            self.assertIn(x["status"], ("succeeded", "aborted"), (ctx, x))
        # counters commit with their batches, so they add up across kills
        self.assertEqual(sum(x["rows_loaded"] for x in runs), ROWS, "%s: %r" % (ctx, runs))
        # each killed process that had started its run shows it as aborted,
        # unless the kill landed after the run had recorded its own end
        # (between run_finish and the process exiting)
        by_id = {x["id"]: x for x in runs}
        for pid in killed_pids:
            for (run_id,) in self.sql("SELECT id FROM _pipemend_runs WHERE pid = ?", (pid,)):
                self.assertIn(by_id[run_id]["status"], ("aborted", "succeeded"),
                              (ctx, by_id[run_id]))
                self.assertIsNotNone(by_id[run_id]["finished_at"], (ctx, by_id[run_id]))
        # and nothing more on a re-run
        r = self.ingest("orders", src, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0, ctx)
        self.assertEqual(self.count("orders"), ROWS, ctx)
        self.assert_incidents_settled(ctx)

    def test_sigkill_csv_with_quarantined_rows(self):
        # CSV (header re-read on every resume) with a malformed row every
        # 997 rows: after kills and a final run, every record is in the
        # table or in quarantine exactly once.
        seed = int(os.environ.get("PIPEMEND_E2E_SEED", str(int(time.time() * 1000) % 1000000)))
        rnd = random.Random(seed + 1)
        ctx = "seed %d (rerun with PIPEMEND_E2E_SEED=%d)" % (seed, seed)
        self.write_config("defaults:\n  batch_size: 1000\n")
        n = ROWS // 2
        src = self.path("orders.csv")
        bad = 0
        with open(src, "w", newline="") as f:
            f.write("order_id,customer,note,amount\r\n")
            for i in range(n):
                if i % 997 == 500:
                    f.write('%d,oops,"unterminated\r\n' % (2000000 + i))  # swallows the next row
                    f.write('x",3,4,5\r\n')
                    bad += 1
                else:
                    f.write('%d,"cust, %d","line\none",%d.5\r\n' % (2000000 + i, i % 50, i % 1000))
        args = [BIN, "ingest", "--db", self.db, "--table", "orders", src]
        for k in range(3):
            p = subprocess.Popen(args, cwd=self.tmp, env=clean_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                p.wait(timeout=rnd.uniform(0.05, 1.5))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
            p.wait()
        r = self.ingest("orders", src)
        self.assertIn(r.rc, (EXIT_LOADED, 3), "%s: %r" % (ctx, r))
        total, distinct = self.sql("SELECT count(*), count(DISTINCT order_id) FROM orders")[0]
        self.assertEqual(total, distinct, ctx)
        self.assertEqual(total, n - bad, ctx)
        q = self.quarantine()
        self.assertEqual(len(q), bad, ctx)
        self.assertEqual(len({(e["source"], e["offset"]) for e in q}), bad, ctx)
        self.assertEqual(self.sql("SELECT count(*) FROM orders WHERE note != 'line\none'"),
                         [(0,)], ctx)
        for x in self.runs():
            self.assertEqual(x["rows_read"], x["rows_loaded"] + x["rows_quarantined"], (ctx, x))
        self.assertEqual(sum(x["rows_loaded"] for x in self.runs()), n - bad, ctx)
        self.assert_incidents_settled(ctx)

    def test_sigkill_while_healing_and_replaying(self):
        # Kills land in approvals (between the apply's commit and the
        # replay's pages) and in runs that heal inline and replay the rows
        # earlier runs quarantined; a final run finishes what they left.
        seed = int(os.environ.get("PIPEMEND_E2E_SEED", str(int(time.time() * 1000) % 1000000)))
        rnd = random.Random(seed + 2)
        ctx = "seed %d (rerun with PIPEMEND_E2E_SEED=%d)" % (seed, seed)
        self.write_config("defaults:\n  batch_size: 1000\n")
        n = max(ROWS // 8, 2000)
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(10)]),
                    expect=EXIT_LOADED)
        held = self.write("held.ndjson", [{"id": 100 + i, "n": i, "coupon": "C%d" % (i % 9)}
                                          for i in range(n)])
        self.ingest("t", held, expect=3, extra=("--policy", "review"))
        pid = self.pm("proposals", "list", "--db", self.db, "--json").json()[0]["id"]
        fresh = self.write("fresh.ndjson", [{"id": 100 + n + i, "n": i, "coupon": "D",
                                             "promo": "P%d" % (i % 5)} for i in range(n)])
        steps = [[BIN, "proposals", "approve", str(pid), "--db", self.db, "--actor", "alice"]]
        steps += [[BIN, "ingest", "--db", self.db, "--table", "t", fresh]] * 3
        for args in steps:
            p = subprocess.Popen(args, cwd=self.tmp, env=clean_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                p.wait(timeout=rnd.uniform(0.05, 1.5))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
            p.wait()
        r = self.ingest("t", fresh)
        self.assertIn(r.rc, (EXIT_LOADED, 3), "%s: %r" % (ctx, r))
        total, distinct = self.sql("SELECT count(*), count(DISTINCT id) FROM t")[0]
        self.assertEqual((total, distinct), (10 + 2 * n, 10 + 2 * n), ctx)
        self.assertEqual(self.quarantine(), [], ctx)
        self.assert_incidents_settled(ctx)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0, ctx)

    def test_killed_run_shows_aborted_without_a_rerun(self):
        # An ingest that waits on stdin is 'running'; once it is killed,
        # `pipemend runs` must not go on calling it running (a monitor reading
        # the runs would wait forever for it).
        p = subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "s", "--format",
                              "ndjson", "-"], cwd=self.tmp, env=clean_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.warehouse_exists():
                    r = self.pm("runs", "--db", self.db, "--json")
                    if r.rc == 0 and r.json() and r.json()[0]["status"] == "running":
                        break
                time.sleep(0.05)
            else:
                self.fail("the ingest never showed as running")
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdin.close()
        run = self.last_run()
        self.assertEqual(run["status"], "aborted", run)
