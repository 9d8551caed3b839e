"""`pipemend serve` runs pipelines by themselves (src/daemon/scheduler.c), on
both backends: `every:` fires when due and never overlaps a pipeline's runs,
a missed `schedule:` slot runs once in the pipeline's `timezone:`, `watch:`
picks up a new file and a grown one, a bad schedule is refused at start,
SIGTERM mid-run ends the run `stopped` and the next start loses and
duplicates nothing, SIGHUP reloads pipemend.yaml (a broken one is kept out
and logged). SQLite: a second serve on the same file schedules nothing
until the first stops. PostgreSQL: two and three replicas share ten
pipelines, each run executed once; a replica killed with SIGKILL mid-run
hands its pipelines to another within the lease.

Every wait is bounded (wait_for); intervals are seconds, leases a few."""
import datetime
import json
import os
import signal
import subprocess
import time
import urllib.request

try:
    import zoneinfo
except ImportError:  # pragma: no cover
    zoneinfo = None

from e2e_util import BIN, E2E, SANITIZER_RE, clean_env, pg_only, sqlite_only


def iso(t):
    """Epoch seconds as the runs table writes them (UTC, milliseconds, Z)."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Serve:
    """One `pipemend serve` process; its stderr goes to a file the test
    reads while it runs."""

    def __init__(self, test, name="serve", extra_env=None, args=(), db=None, wrap=()):
        self.test = test
        self.errpath = test.path(name + ".stderr")
        self.errfile = open(self.errpath, "w")
        env = clean_env(extra_env)
        env["HOME"] = test.path("home")
        env.pop("PIPEMEND_MCP_TOKEN", None)
        self.proc = subprocess.Popen(
            list(wrap) +
            [BIN, "serve", "--db", db or test.db, "--listen", "127.0.0.1:0", "--no-token"] +
            list(args),
            cwd=test.tmp, env=env, stdout=subprocess.PIPE, stderr=self.errfile, text=True)
        test.addCleanup(self.kill)
        line = self.proc.stdout.readline()
        test.assertIn("MCP over Streamable HTTP at http://127.0.0.1:", line, self.stderr())
        self.base = line.strip().rsplit(" ", 1)[1][:-len("/mcp")]
        self.pid = self.proc.pid

    def stderr(self):
        with open(self.errpath) as f:
            return f.read()

    def get(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=60):
        """SIGTERM; the exit code and stderr after checking that no
        sanitizer spoke."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.test.fail("pipemend serve did not stop on SIGTERM within %ds" % timeout)
        err = self.stderr()
        self.test.assertIsNone(SANITIZER_RE.search(err), err[-4000:])
        return self.proc.returncode, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.errfile.close()


class TestServeSchedule(E2E):
    def wait_for(self, what, fn, timeout=30, every=0.2):
        """fn()'s first truthy value within timeout seconds, else a failure
        naming what was awaited."""
        end = time.time() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.time() > end:
                self.fail("waited %ds for %s (last: %r)" % (timeout, what, v))
            time.sleep(every)

    def records(self, n, start=0):
        return [{"id": i, "v": "value-%d" % i} for i in range(start, start + n)]

    def catalog(self, query, params=()):
        """self.sql, but no rows before serve has made the catalog."""
        try:
            return self.sql(query, params)
        except self.DBError as e:
            if "_pipemend_" not in str(e):
                raise
            return []

    def runs_of(self, pipeline):
        """(id, status, started_at, finished_at, pid, rows_read, rows_loaded),
        oldest first."""
        return self.catalog("SELECT id, status, started_at, finished_at, pid, rows_read, "
                            "rows_loaded FROM _pipemend_runs WHERE pipeline = ? ORDER BY id",
                            (pipeline,))

    def rows(self, table):
        if not self.table_exists(table):
            return 0
        return self.sql('SELECT count(*) FROM "%s"' % table)[0][0]

    def assert_exact(self, table, n):
        """count(*) = count(DISTINCT id) = n: nothing lost, nothing twice."""
        got = self.sql('SELECT count(*), count(DISTINCT id) FROM "%s"' % table)[0]
        self.assertEqual(tuple(got), (n, n), "rows of %s (count, distinct ids)" % table)

    def assert_no_overlap(self, pipeline, every=None):
        """No two runs of pipeline overlap in time; with every, no two start
        closer than the interval (each due run executed once)."""
        runs = self.runs_of(pipeline)
        for prev, nxt in zip(runs, runs[1:]):
            self.assertIsNotNone(prev[3], "run %s still running: %r" % (prev[0], runs))
            self.assertGreaterEqual(parse_iso(nxt[2]), parse_iso(prev[3]),
                                    "runs %s and %s of %s overlap: %r" %
                                    (prev[0], nxt[0], pipeline, runs))
            if every:
                gap = parse_iso(nxt[2]) - parse_iso(prev[2])
                # the scheduler compares whole seconds; a start can come up
                # to a second early against the millisecond stamps
                self.assertGreaterEqual(gap, every - 1.0,
                                        "runs %s and %s of %s %.3fs apart (every %ds): %r" %
                                        (prev[0], nxt[0], pipeline, gap, every, runs))
        return runs

    # ---- every: ----------------------------------------------------------------

    def test_every_fires_when_due_without_overlap(self):
        self.write("a.ndjson", self.records(10))
        self.write_config("pipelines:\n"
                          "  - name: ticker\n    source: a.ndjson\n    table: ticker\n"
                          "    every: 2s\n"
                          "  - name: manual\n    source: a.ndjson\n    table: manual\n")
        s = Serve(self)
        self.assertIn("scheduling 1 of 2 pipelines", self.wait_for(
            "the scheduler's start line",
            lambda: "scheduling" in s.stderr() and s.stderr()))
        # the first run at once (it never ran), then one every two seconds
        self.wait_for("three runs of ticker", lambda: len(self.runs_of("ticker")) >= 3, 20)
        rc, err = s.stop()
        self.assertEqual(rc, 0, err)
        runs = self.assert_no_overlap("ticker", every=2)
        self.assertLessEqual(len(runs), 12, runs)
        self.assertTrue(all(r[1] == "succeeded" for r in runs), runs)
        self.assertEqual([r[6] for r in runs[:2]], [10, 0], runs)  # exactly once
        self.assert_exact("ticker", 10)
        # a pipeline without a trigger is not run
        self.assertEqual(self.runs_of("manual"), [])
        self.assertIn("serve: stopped", err)

    def test_at_most_max_concurrent_runs_at_once(self):
        n = 40000
        cfg = "serve:\n  max_concurrent: 2\ndefaults:\n  batch_size: 2000\npipelines:\n"
        for i in range(4):
            self.big_file("c%d.ndjson" % i, n)
            cfg += ("  - name: c%d\n    source: c%d.ndjson\n    table: c%d\n    every: 1h\n" %
                    (i, i, i))
        self.write_config(cfg)
        s = Serve(self)
        self.wait_for("the four runs", lambda: all(
            [r[1] for r in self.runs_of("c%d" % i)] == ["succeeded"] for i in range(4)), 120,
            every=0.5)
        rc, err = s.stop()
        self.assertEqual(rc, 0, err)
        spans = [(parse_iso(r[2]), parse_iso(r[3])) for i in range(4) for r in self.runs_of(
            "c%d" % i)]
        # how many runs were in progress at each start
        most = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
        self.assertEqual(most, 2, spans)
        for i in range(4):
            self.assert_exact("c%d" % i, n)

    # ---- schedule: and timezone: -------------------------------------------------

    def test_missed_slot_runs_once_in_its_time_zone(self):
        if zoneinfo is None:
            self.skipTest("needs Python's zoneinfo")
        now = time.time()
        # a slot ten minutes ago in Asia/Kolkata (UTC+05:30): the same
        # expression in UTC fires five and a half hours away from it
        slot = datetime.datetime.fromtimestamp(now - 600, zoneinfo.ZoneInfo("Asia/Kolkata"))
        cron = "%d %d * * *" % (slot.minute, slot.hour)
        self.write("a.ndjson", self.records(5))
        self.write_config(
            "pipelines:\n"
            "  - name: kolkata\n    source: a.ndjson\n    table: kolkata\n"
            "    schedule: \"%s\"\n    timezone: Asia/Kolkata\n"
            "  - name: utc\n    source: a.ndjson\n    table: utc\n    schedule: \"%s\"\n"
            "  - name: hourly\n    source: a.ndjson\n    table: hourly\n    every: 10m\n" %
            (cron, cron))
        for p in ("kolkata", "utc", "hourly"):
            r = self.pm("run", "--db", self.db, p)
            self.assertEqual(r.rc, 0, r)
        # the service was down: kolkata's last run before its slot, hourly's
        # six intervals ago (six missed slots), utc's before a slot that is
        # not in the window
        self.sql_exec("UPDATE _pipemend_runs SET started_at = ?, finished_at = ? "
                      "WHERE pipeline IN ('kolkata', 'utc')", (iso(now - 1200), iso(now - 1199)))
        self.sql_exec("UPDATE _pipemend_runs SET started_at = ?, finished_at = ? "
                      "WHERE pipeline = 'hourly'", (iso(now - 3600), iso(now - 3599)))
        s = Serve(self)
        self.wait_for("the missed runs", lambda: len(self.runs_of("kolkata")) == 2 and
                      len(self.runs_of("hourly")) == 2 and
                      all(r[1] == "succeeded" for r in self.runs_of("hourly")), 20)
        time.sleep(3)  # a run per missed slot would show by now
        rc, err = s.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.runs_of("kolkata")), 2, self.runs_of("kolkata"))
        self.assertEqual(len(self.runs_of("hourly")), 2, self.runs_of("hourly"))
        self.assertEqual(len(self.runs_of("utc")), 1, self.runs_of("utc"))
        self.assertRegex(err, r"serve: starting kolkata \(schedule\)")
        self.assertRegex(err, r"serve: starting hourly \(every\)")
        for t in ("kolkata", "utc", "hourly"):
            self.assert_exact(t, 5)

    def test_bad_schedule_refused_at_start(self):
        self.write("a.ndjson", self.records(1))
        cases = (
            ("    schedule: \"0 6 * *\"\n", r"pipemend\.yaml:\d+:\d+: .*(field|five)"),
            ("    schedule: \"0 25 * * *\"\n", r"pipemend\.yaml:\d+:\d+: .*hour"),
            ("    schedule: \"0 6 * * *\"\n    timezone: Mars/Olympus_Mons\n",
             r"pipemend\.yaml:\d+:\d+: .*Mars/Olympus_Mons"),
            ("    every: soon\n", r"pipemend\.yaml:\d+:\d+: .*every"),
        )
        for body, pattern in cases:
            with self.subTest(body=body):
                self.write_config("pipelines:\n  - name: p\n    source: a.ndjson\n"
                                  "    table: t\n" + body)
                r = self.pm("serve", "--db", self.db, "--listen", "127.0.0.1:0", "--no-token",
                            timeout=30, env={"HOME": self.path("home")})
                self.assertNotEqual(r.rc, 0, r)
                self.assertRegex(r.stderr, pattern, r)
                self.assertNotIn("MCP over Streamable HTTP", r.stdout, r)
        # and a good one in a zone is accepted
        self.write_config("pipelines:\n  - name: p\n    source: a.ndjson\n    table: t\n"
                          "    schedule: \"30 2 * * 0\"\n    timezone: Europe/Paris\n")
        s = Serve(self)
        self.wait_for("the scheduler's start line",
                      lambda: "scheduling 1 of 1 pipelines" in s.stderr())
        rc, err = s.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.runs_of("p"), [])  # not due in the next seconds

    # ---- watch: -------------------------------------------------------------------

    def test_watch_picks_up_new_and_grown_files(self):
        os.makedirs(self.path("in"))
        self.write("in/ignored.csv", "id,v\n1,x\n")
        self.write_config("pipelines:\n  - name: w\n    source: in/*.ndjson\n    table: w\n"
                          "    watch: true\n")
        s = Serve(self)
        self.wait_for("the scheduler's start line", lambda: "scheduling 1 of 1" in s.stderr())
        time.sleep(1.5)
        self.assertEqual(self.runs_of("w"), [])  # nothing written yet, nothing run
        self.write("in/a.ndjson", self.records(5))
        self.wait_for("a run for the new file", lambda: self.rows("w") == 5, 20)
        self.write("in/a.ndjson", self.records(3, 5), append=True)
        self.wait_for("a run for the grown file", lambda: self.rows("w") == 8, 20)
        self.write("in/b.ndjson", self.records(2, 8))
        self.wait_for("a run for the second file", lambda: self.rows("w") == 10, 20)
        # a file that does not match the pattern starts nothing
        self.wait_for("the runs to finish", lambda: all(
            r[1] == "succeeded" for r in self.runs_of("w")), 20)
        n = len(self.runs_of("w"))
        self.write("in/other.csv", "id,v\n2,y\n")
        time.sleep(2.5)
        self.assertEqual(len(self.runs_of("w")), n)
        rc, err = s.stop()
        self.assertEqual(rc, 0, err)
        self.assertIn("serve: starting w (watch)", err)
        self.assert_no_overlap("w")
        self.assert_exact("w", 10)

    # ---- SIGTERM mid-run ---------------------------------------------------------

    def big_file(self, name, n):
        with open(self.path(name), "w") as f:
            for i in range(n):
                f.write('{"id": %d, "v": "value-%d", "pad": "%s"}\n' % (i, i, "p" * 40))
        return n

    def test_sigterm_mid_run_stops_then_resumes_exactly_once(self):
        n = self.big_file("big.ndjson", 300000)
        self.write_config("defaults:\n  batch_size: 2000\n"
                          "pipelines:\n  - name: big\n    source: big.ndjson\n    table: big\n"
                          "    every: 1h\n")
        s = Serve(self)
        self.wait_for("the run under way", lambda: self.rows("big") > 0, 60, every=0.05)
        rc, err = s.stop(timeout=30)
        self.assertEqual(rc, 0, err)
        runs = self.runs_of("big")
        self.assertEqual(len(runs), 1, runs)
        self.assertEqual(runs[0][1], "stopped", (runs, err[-3000:]))
        loaded = self.rows("big")
        self.assertLess(loaded, n, "the run finished before SIGTERM; make the file bigger")
        self.assertEqual(runs[0][6], loaded, runs)  # its batches committed with it
        # the next start resumes at once (every: 1h is not due) from the checkpoint
        s = Serve(self, "serve2")
        self.wait_for("the resumed run", lambda: len(self.runs_of("big")) == 2 and
                      self.runs_of("big")[1][1] == "succeeded", 120)
        rc, err = s.stop()
        self.assertEqual(rc, 0, err)
        self.assertIn("serve: starting big (resume)", err)
        runs = self.runs_of("big")
        self.assertEqual(runs[0][6] + runs[1][6], n, runs)
        self.assert_exact("big", n)

    # ---- SIGHUP -------------------------------------------------------------------

    def test_sighup_reloads_and_keeps_the_old_config_when_broken(self):
        self.write("a.ndjson", self.records(4))
        self.write("b.ndjson", self.records(6))
        good = ("pipelines:\n  - name: first\n    source: a.ndjson\n    table: first\n"
                "    every: 1h\n")
        self.write_config(good)
        s = Serve(self)
        self.wait_for("first's run", lambda: self.rows("first") == 4, 20)
        self.write_config(good + "  - name: second\n    sourc: b.ndjson\n")
        s.signal(signal.SIGHUP)
        self.wait_for("the reload refused in the log",
                      lambda: "pipemend.yaml not reloaded" in s.stderr(), 10)
        err = s.stderr()
        self.assertRegex(err, r"not reloaded, the configuration in use stays: .*pipemend\.yaml:"
                              r"\d+:\d+: .*sourc")
        self.assertIsNone(s.proc.poll(), err)
        self.assertEqual(s.get("/healthz")[0], 200)
        self.assertFalse(self.table_exists("second"))
        # a good file: the new pipeline runs
        self.write_config(good + "  - name: second\n    source: b.ndjson\n    table: second\n"
                                 "    every: 1h\n")
        s.signal(signal.SIGHUP)
        self.wait_for("second's run", lambda: self.rows("second") == 6, 20)
        self.assertIn("configuration reloaded: scheduling 2 of 2 pipelines", s.stderr())
        rc, err = s.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.runs_of("first")), 1)  # every: 1h, not run again
        self.assert_exact("first", 4)
        self.assert_exact("second", 6)

    # ---- one SQLite file, two serves -------------------------------------------------

    @sqlite_only("a SQLite warehouse is one process's; PostgreSQL shares it between replicas")
    def test_second_serve_on_sqlite_schedules_nothing_until_the_first_stops(self):
        self.write("a.ndjson", self.records(3))
        self.write_config("serve:\n  lease_seconds: 3\n"
                          "pipelines:\n  - name: tick\n    source: a.ndjson\n    table: tick\n"
                          "    every: 1s\n")
        first = Serve(self, "first")
        self.wait_for("first's runs", lambda: len(self.runs_of("tick")) >= 1, 20)
        second = Serve(self, "second")
        self.wait_for("the second's refusal", lambda: "schedules nothing" in second.stderr(), 10)
        self.assertRegex(second.stderr(),
                         r"warning: serve: another pipemend serve \(.*:%d:.*\) schedules this "
                         r"SQLite warehouse; this one serves MCP but schedules nothing" % first.pid)
        self.assertEqual(second.get("/healthz")[0], 200)
        time.sleep(3)
        self.assertEqual({r[4] for r in self.runs_of("tick")}, {first.pid})
        rc, err = first.stop()
        self.assertEqual(rc, 0, err)
        self.wait_for("the second to take over",
                      lambda: "this one schedules now" in second.stderr(), 10)
        self.wait_for("a run by the second",
                      lambda: second.pid in {r[4] for r in self.runs_of("tick")}, 10)
        rc, err = second.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual({r[4] for r in self.runs_of("tick")}, {first.pid, second.pid})
        self.assert_no_overlap("tick", every=1)
        self.assert_exact("tick", 3)

    # ---- /readyz and --log-format json --------------------------------------------------

    def test_readyz_says_warehouse_and_scheduler(self):
        self.write("a.ndjson", self.records(2))
        self.write_config("pipelines:\n  - name: p\n    source: a.ndjson\n    table: p\n"
                          "    every: 1h\n")
        s = Serve(self)
        self.assertEqual(s.get("/healthz"), (200, '{"status":"ok"}'))
        code, body = self.wait_for("ready", lambda: s.get("/readyz")[0] == 200 and
                                   s.get("/readyz"), 10)
        self.assertEqual(json.loads(body),
                         {"status": "ready", "warehouse": "ok", "scheduler": "active"})
        req = urllib.request.Request(s.base + "/readyz", b"", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(cm.exception.code, 405)
        if self.backend == "sqlite":
            # a second serve on the file is alive but not ready: it schedules nothing
            second = Serve(self, "second")
            self.wait_for("the second's refusal", lambda: "schedules nothing" in second.stderr())
            code, body = second.get("/readyz")
            self.assertEqual(code, 503, body)
            b = json.loads(body)
            self.assertEqual((b["status"], b["warehouse"], b["scheduler"]),
                             ("not ready", "ok", "standby"), b)
            self.assertEqual(second.get("/healthz")[0], 200)
            self.assertEqual(second.stop()[0], 0)
        self.assertEqual(s.stop()[0], 0)
        # a warehouse that cannot be reached: alive, not ready, and why
        bad = Serve(self, "bad", db="sqlite:" + self.path("no/such/dir/w.db"))
        code, body = bad.get("/readyz")
        self.assertEqual(code, 503, body)
        b = json.loads(body)
        self.assertEqual((b["status"], b["warehouse"]), ("not ready", "unreachable"), b)
        self.assertTrue(b["detail"], b)
        self.assertEqual(bad.get("/healthz")[0], 200)
        self.assertEqual(bad.stop()[0], 0)

    def test_log_format_json(self):
        self.write("a.ndjson", self.records(3))
        self.write_config("pipelines:\n  - name: p\n    source: a.ndjson\n    table: p\n"
                          "    every: 1h\n")
        s = Serve(self, args=["--log-format", "json"])
        self.wait_for("p's run", lambda: self.rows("p") == 3, 20)
        self.wait_for("its log line", lambda: "serve: p: run" in s.stderr(), 10)
        rc, err = s.stop()
        self.assertEqual(rc, 0, err)
        lines = [json.loads(l) for l in err.splitlines()]  # every line one object
        self.assertTrue(lines)
        for o in lines:
            self.assertEqual(set(o) - {"detail", "hint"}, {"time", "level", "message"}, o)
            self.assertRegex(o["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(o["level"], ("error", "warning", "info", "debug"))
        msgs = [o["message"] for o in lines]
        self.assertIn("serve: starting p (every)", msgs)
        self.assertIn("serve: p: run 1 succeeded: 3 read, 3 loaded, 0 quarantined", msgs)
        self.assertIn({"level": "warning", "message": "serve: --no-token: any local user can "
                       "use every tool of this server"},
                      [{"level": o["level"], "message": o["message"]} for o in lines])
        # an error at start is one object too, with its detail and hint
        self.write_config("pipelines:\n  - name: p\n    source: a.ndjson\n    table: p\n"
                          "    every: soon\n")
        r = self.pm("serve", "--db", self.db, "--no-token", "--log-format", "json",
                    env={"HOME": self.path("home")})
        self.assertEqual(r.rc, 2, r)
        objs = [json.loads(l) for l in r.stderr.splitlines()]
        self.assertEqual(len(objs), 1, r)
        self.assertEqual(objs[0]["level"], "error")
        self.assertRegex(objs[0]["message"], r"pipemend\.yaml:\d+:\d+: .*every")
        # errors that carry more lines in text carry them in the object
        self.write_config("pipelines:\n  - name: p\n    source: a.ndjson\n    table: p\n")
        r = self.pm("run", "--db", self.db, "--log-format", "json", "nope")
        self.assertEqual(r.rc, 2, r)
        self.assertEqual([json.loads(l)["hint"] for l in r.stderr.splitlines()], ["known: p"], r)
        r = self.pm("runs", "--db", self.db, "--log-format", "json", "--bogus")
        self.assertEqual(r.rc, 2, r)
        objs = [json.loads(l) for l in r.stderr.splitlines()]
        self.assertEqual(len(objs), 1, r)
        self.assertTrue(objs[0]["hint"].startswith("usage: pipemend runs "), objs)
        # and a format pipemend does not know is a usage error
        r = self.pm("serve", "--db", self.db, "--log-format", "xml")
        self.assertEqual(r.rc, 2, r)
        self.assertIn('--log-format takes text or json, got "xml"', r.stderr)

    def test_sd_notify_ready_and_stopping(self):
        """Type=notify (contrib/pipemend.service): READY=1 once serve listens,
        STOPPING=1 on SIGTERM, to $NOTIFY_SOCKET as systemd gives it."""
        import socket
        for name in (self.path("notify.sock"), "@pm-e2e-notify-%d" % os.getpid()):
            with self.subTest(socket=name):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.bind("\0" + name[1:] if name.startswith("@") else name)
                sock.settimeout(20)
                try:
                    s = Serve(self, "notify", extra_env={"NOTIFY_SOCKET": name})
                    self.assertEqual(sock.recv(4096), b"READY=1")
                    self.assertEqual(s.get("/healthz")[0], 200)  # it serves when it says so
                    rc, err = s.stop()
                    self.assertEqual(rc, 0, err)
                    self.assertEqual(sock.recv(4096), b"STOPPING=1")
                finally:
                    sock.close()

    @sqlite_only("checks a file of the repository, not the warehouse")
    def test_unit_file_is_valid(self):
        import shutil
        unit = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "contrib", "pipemend.service")
        with open(unit) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^Type=notify$")
        self.assertRegex(text, r"(?m)^ExecReload=/bin/kill -HUP \$MAINPID$")
        self.assertRegex(text, r"(?m)^ExecStart=/usr/local/bin/pipemend serve ")
        if not shutil.which("systemd-analyze"):
            self.skipTest("no systemd-analyze to check the unit with")
        mine = self.write("pipemend.service", text.replace("/usr/local/bin/pipemend", BIN))
        r = subprocess.run(["systemd-analyze", "verify", mine], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual((r.returncode, r.stderr.strip()), (0, ""), r)

    @sqlite_only("a SQLite warehouse is one process's; PostgreSQL shares it between replicas")
    def test_second_serve_on_sqlite_takes_over_after_a_crash(self):
        # big enough that an optimised build is still loading when the first is killed
        n = self.big_file("big.ndjson", 1500000)
        self.write_config("serve:\n  lease_seconds: 3\ndefaults:\n  batch_size: 2000\n"
                          "pipelines:\n  - name: big\n    source: big.ndjson\n    table: big\n"
                          "    every: 1h\n")
        first = Serve(self, "first")
        self.wait_for("first's run under way", lambda: self.rows("big") > 0, 60, every=0.05)
        second = Serve(self, "second")
        self.wait_for("the second's refusal", lambda: "schedules nothing" in second.stderr(), 10)
        first.proc.kill()  # no lease given back, a run left `running`
        first.proc.wait()
        killed = time.time()
        self.wait_for("the second to take over",
                      lambda: "this one schedules now" in second.stderr(), 10, every=0.1)
        self.assertLess(time.time() - killed, 3 + 2)
        self.wait_for("the run resumed and finished", lambda: len(self.runs_of("big")) == 2 and
                      self.runs_of("big")[1][1] == "succeeded", 120)
        rc, err = second.stop()
        self.assertEqual(rc, 0, err)
        self.assertIn("serve: starting big (resume)", err)
        runs = self.runs_of("big")
        self.assertEqual([r[1] for r in runs], ["aborted", "succeeded"], runs)
        self.assertEqual([r[4] for r in runs], [first.pid, second.pid], runs)
        self.assertEqual(runs[0][6] + runs[1][6], n, runs)
        self.assert_exact("big", n)

    # ---- replicas on PostgreSQL ---------------------------------------------------------

    def ten_pipelines(self, every, rows, lease=3, max_concurrent=2, batch=None):
        cfg = "serve:\n  lease_seconds: %d\n  max_concurrent: %d\n" % (lease, max_concurrent)
        if batch:
            cfg += "defaults:\n  batch_size: %d\n" % batch
        cfg += "pipelines:\n"
        for i in range(10):
            if isinstance(rows, int):
                self.write("p%d.ndjson" % i, self.records(rows))
            cfg += ("  - name: p%d\n    source: p%d.ndjson\n    table: t%d\n    every: %s\n" %
                    (i, i, i, every))
        self.write_config(cfg)

    def replicas(self, n):
        self.ten_pipelines("2s", 50)
        reps = [Serve(self, "replica%d" % i) for i in range(n)]
        self.wait_for("three runs of every pipeline", lambda: all(
            len(self.runs_of("p%d" % i)) >= 3 for i in range(10)), 60, every=0.5)
        for r in reps:
            rc, err = r.stop()
            self.assertEqual(rc, 0, err)
        pids = set()
        for i in range(10):
            runs = self.assert_no_overlap("p%d" % i, every=2)
            self.assertTrue(all(r[1] == "succeeded" for r in runs), runs)
            self.assertEqual(runs[0][6], 50, runs)
            self.assertEqual(sum(r[6] for r in runs), 50, runs)
            self.assert_exact("t%d" % i, 50)
            pids |= {r[4] for r in runs}
        # the replicas shared the work
        self.assertGreater(len(pids), 1, pids)
        self.assertLessEqual(pids, {r.pid for r in reps})

    @pg_only("replicas share a PostgreSQL warehouse")
    def test_two_replicas_run_each_run_once(self):
        self.replicas(2)

    @pg_only("replicas share a PostgreSQL warehouse")
    def test_three_replicas_run_each_run_once(self):
        self.replicas(3)

    @pg_only("replicas share a PostgreSQL warehouse")
    def test_killed_replica_hands_its_pipelines_over_within_the_lease(self):
        self.killed_replica_hands_over(())

    @pg_only("replicas share a PostgreSQL warehouse")
    def test_replica_killed_on_another_host_hands_its_pipelines_over(self):
        # a's runs carry another host's name: b cannot look at a's pid, only
        # at the pipeline's lease that a stopped renewing
        wrap = ["unshare", "--uts", "sh", "-c", 'hostname pipemend-other-host && exec "$@"', "sh"]
        probe = subprocess.run(wrap + ["hostname"], capture_output=True, text=True)
        if probe.returncode != 0 or probe.stdout.strip() != "pipemend-other-host":
            self.skipTest("cannot run a process under another host name here (unshare --uts): "
                          + probe.stderr.strip())
        self.killed_replica_hands_over(wrap)
        hosts = {r[0] for r in self.sql(
            "SELECT host FROM _pipemend_runs WHERE status = 'aborted'")}
        self.assertEqual(hosts, {"pipemend-other-host"})

    def killed_replica_hands_over(self, wrap_a):
        # big enough that a is still loading when it is killed: an optimised
        # build on a quiet machine loads 120,000 rows in about a second
        asan = b"libasan" in subprocess.run(["ldd", BIN], capture_output=True).stdout
        n = 400000 if asan else 600000
        for i in range(10):
            self.big_file("p%d.ndjson" % i, n)
        self.ten_pipelines("1h", None, lease=3, max_concurrent=5, batch=2000)
        a = Serve(self, "a", wrap=wrap_a)
        self.wait_for("a's runs under way", lambda: self.catalog(
            "SELECT 1 FROM _pipemend_runs WHERE status = 'running' AND pid = ? "
            "AND rows_loaded > 0", (a.pid,)), 60, every=0.05)
        # b has room for all ten (a for five): a's pipelines need not wait
        # for b's own runs to end, however slow the machine
        with open(self.path("pipemend.yaml")) as f:
            self.write("b.yaml", f.read().replace("max_concurrent: 5", "max_concurrent: 10"))
        b = Serve(self, "b", args=["--config", self.path("b.yaml")])
        # b looks for dead runs when it starts; a's die after that
        self.wait_for("b's scheduler", lambda: "scheduling 10 of 10" in b.stderr())
        time.sleep(1.5)
        a_running = [r[0] for r in self.sql(
            "SELECT pipeline FROM _pipemend_runs WHERE status = 'running' AND pid = ?", (a.pid,))]
        self.assertTrue(a_running)
        a.proc.kill()
        a.proc.wait()
        killed = time.time()
        # within the lease (3s) and a tick or two, b resumes each of them
        self.wait_for("b resuming a's pipelines", lambda: all(
            any(r[4] == b.pid for r in self.runs_of(p)) for p in a_running), 15, every=0.1)
        took = time.time() - killed
        self.assertLess(took, 3 + 3, "took %.1fs" % took)
        self.wait_for("every pipeline loaded", lambda: all(
            self.runs_of("p%d" % i) and self.runs_of("p%d" % i)[-1][1] == "succeeded"
            for i in range(10)), 300, every=1)
        rc, err = b.stop()
        self.assertEqual(rc, 0, err)
        for i in range(10):
            runs = self.runs_of("p%d" % i)
            self.assertEqual(sum(r[6] for r in runs), n, runs)
            self.assert_exact("t%d" % i, n)
            if "p%d" % i in a_running:
                self.assertEqual(runs[0][1], "aborted", runs)
                self.assertEqual(runs[-1][4], b.pid, runs)
        self.assert_no_overlap("p0")
