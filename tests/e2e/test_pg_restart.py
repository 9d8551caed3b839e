"""PostgreSQL that goes away in the middle of a load and comes back: a
`pg_ctl restart` (fast or immediate) one second or so into an ingest. The
run waits for the server (saying so on stderr), reconnects, writes again
the batch that was not committed, and ends with every row loaded once.

Each test starts a server of its own (tests/pg/pgserver.py), so that
restarting it disturbs no other test's database."""
import json
import os
import subprocess
import time

from e2e_util import BIN, E2E, EXIT_FAILED, EXIT_LOADED, clean_env, own_pg_server, pg_only, pgserver


@pg_only("restarts a PostgreSQL server of its own")
class TestPostgresRestart(E2E):
    def setUp(self):
        super().setUp()
        self.srv, self.db = own_pg_server(self)

    def big_file(self, rows):
        path = os.path.join(self.tmp, "big.ndjson")
        with open(path, "w") as f:
            for i in range(rows):
                f.write(json.dumps({"id": i, "email": "u%d@example.com" % i, "note": "x" * 60})
                        + "\n")
        return path

    def ingest_async(self, path, *extra):
        return subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "t", *extra, path],
                                cwd=self.tmp, env=clean_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def loaded_so_far(self):
        """Rows the load has committed so far (its runs' counters move with
        every batch's commit), through the test's own connection."""
        try:
            return int(self.sql("SELECT coalesce(sum(rows_loaded), 0) FROM _pipemend_runs")[0][0])
        except self.DBError:
            self._close_con()
            return 0  # the catalog is not there yet

    def wait_for_first_batches(self, p):
        deadline = time.time() + 120
        while p.poll() is None and self.loaded_so_far() == 0 and time.time() < deadline:
            time.sleep(0.01)

    def restart_during_load(self, mode, rows=400000):
        """Starts a load of rows rows, restarts the server once some of them
        are committed and most are not, and returns the ingest's (rc,
        stderr)."""
        # batches of 2000 rows: many commits, so the restart lands between
        # some of them and in the middle of one
        self.write_config("defaults:\n  batch_size: 2000\n")
        p = self.ingest_async(self.big_file(rows))
        self.wait_for_first_batches(p)
        self.assertIsNone(p.poll(), "the load ended before the restart")
        before = self.loaded_so_far()
        self.assertLess(before, rows, "everything was loaded before the restart")
        self._close_con()
        self.srv.restart(mode)
        out, err = p.communicate(timeout=300)
        self._close_con()  # the test's own connection did not survive either
        return p.returncode, err

    def assert_loaded_once(self, rows):
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"), [(rows, rows)])
        runs = self.sql("SELECT status, rows_read, rows_loaded, rows_quarantined "
                        "FROM _pipemend_runs ORDER BY id")
        self.assertEqual(runs, [("succeeded", rows, rows, 0)])
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine"), [(0,)])
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_fast_restart_mid_load_loads_every_row_once(self):
        rc, err = self.restart_during_load("fast")
        self.assertEqual(rc, EXIT_LOADED, err)
        self.assertIn("reconnected to PostgreSQL at 127.0.0.1:%d/w after" % self.srv.port, err)
        self.assertRegex(err, "writing it again|reading again from the checkpoints")
        self.assert_loaded_once(400000)

    def test_immediate_restart_mid_load_waits_for_recovery_and_loads_every_row_once(self):
        rc, err = self.restart_during_load("immediate")
        self.assertEqual(rc, EXIT_LOADED, err)
        # the server was gone or still recovering when the writer tried
        # again: the run said what it waited for
        self.assertIn("waiting for PostgreSQL at 127.0.0.1:%d/w to accept connections ("
                      % self.srv.port, err)
        self.assertIn("reconnected to PostgreSQL at 127.0.0.1:%d/w after" % self.srv.port, err)
        self.assert_loaded_once(400000)

    def test_server_down_longer_than_reconnect_seconds_fails_the_run_and_resumes(self):
        self.write_config("defaults:\n  batch_size: 2000\npostgres:\n  reconnect_seconds: 2\n")
        rows = 400000
        path = self.big_file(rows)
        p = self.ingest_async(path)
        self.wait_for_first_batches(p)
        self.assertIsNone(p.poll(), "the load ended before the stop")
        self._close_con()
        self.srv._run([self.srv.bin("pg_ctl"), "-D", self.srv.datadir, "-m", "immediate", "-w",
                       "stop"])
        started = time.time()
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, EXIT_FAILED, err)
        self.assertLess(time.time() - started, 60, "it waited far past reconnect_seconds")
        self.assertIn("waiting for PostgreSQL at 127.0.0.1:%d/w to accept connections"
                      % self.srv.port, err)
        self.assertIn("cannot reconnect to PostgreSQL at 127.0.0.1:%d/w after" % self.srv.port,
                      err)
        self.assertIn("postgres: reconnect_seconds (2 s)", err)
        # the server comes back: the next run resumes from the checkpoint
        self.srv._run([self.srv.bin("pg_ctl"), "-D", self.srv.datadir, "-l", self.srv.logfile,
                       "-w", "-t", "60", "-o", self.srv._options(), "start"])
        self.srv._wait_ready()
        r = self.pm("ingest", "--db", self.db, "--table", "t", path)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"), [(rows, rows)])
        statuses = [s for (s,) in self.sql("SELECT status FROM _pipemend_runs ORDER BY id")]
        self.assertEqual(statuses[-1], "succeeded", statuses)
        self.assertIn(statuses[0], ("failed", "aborted"), statuses)

    def test_serve_reads_again_on_a_new_connection_after_a_restart(self):
        """serve's background reads (the notifications outbox, every half
        second, on a connection of their own) meet the lost connection
        first: they read again on a new one instead of failing."""
        self.ingest("t", self.write("a.ndjson", [{"id": 1}, {"id": 2}]), expect=EXIT_LOADED)
        self._close_con()
        env = clean_env()
        env["PIPEMEND_MCP_TOKEN"] = "e2e-restart-token-0123456789abcdef"
        env["HOME"] = self.path("home")
        p = subprocess.Popen([BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0"],
                             cwd=self.tmp, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("at http://127.0.0.1:", p.stdout.readline())
            time.sleep(1.5)  # its reads run on their connections
            self.srv.restart("fast")
            time.sleep(2.5)  # several rounds of reads after it
        finally:
            p.terminate()
            _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("reconnected to PostgreSQL at 127.0.0.1:%d/w after" % self.srv.port, err)
        self.assertNotIn("server closed the connection", err)
        self.assertNotIn("cannot read", err)


@pg_only("starts a PostgreSQL primary and a streaming standby of its own")
class TestPostgresFailover(E2E):
    def setUp(self):
        super().setUp()
        self.primary, _ = own_pg_server(self)
        self.standby = self.primary.standby()
        self.addCleanup(self.standby.stop)
        # both hosts; libpq takes the one that accepts writes
        self.db = ("postgresql://pipemend@127.0.0.1:%d,127.0.0.1:%d/w?target_session_attrs=read-write"
                   % (self.primary.port, self.standby.port))
        self.standby_db = self.standby.url("w")

    def test_load_moves_to_the_promoted_standby_and_loads_every_row_once(self):
        rows = 300000
        path = os.path.join(self.tmp, "big.ndjson")
        with open(path, "w") as f:
            for i in range(rows):
                f.write(json.dumps({"id": i, "note": "y" * 60}) + "\n")
        self.write_config("defaults:\n  batch_size: 2000\n")
        p = subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "t", path],
                             cwd=self.tmp, env=clean_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        loaded = 0
        while p.poll() is None and not loaded and time.time() < deadline:
            try:
                out = self.primary.psql("SELECT coalesce(sum(rows_loaded), 0) FROM "
                                        "pipemend._pipemend_runs", dbname="w")
                loaded = int(out.strip() or 0)
            except pgserver.PgServerError:
                pass
            time.sleep(0.01)
        self.assertIsNone(p.poll(), "the load ended before the failover")
        # the primary dies; a moment later the standby is promoted
        self.primary._run([self.primary.bin("pg_ctl"), "-D", self.primary.datadir, "-m",
                           "immediate", "-w", "stop"])
        self.primary.running = False
        time.sleep(1)
        self.standby.promote()
        out, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, EXIT_LOADED, err)
        self.assertIn("waiting for PostgreSQL at", err)
        self.assertIn("reconnected to PostgreSQL at 127.0.0.1:%d/w after" % self.standby.port, err)
        self.db = self.standby_db
        self._close_con()
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"), [(rows, rows)])
        self.assertEqual(self.sql("SELECT status, rows_read, rows_loaded FROM _pipemend_runs"),
                         [("succeeded", rows, rows)])
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_command_waits_while_only_a_standby_is_up_until_it_is_promoted(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        time.sleep(0.5)  # let the standby replay the table
        self.primary._run([self.primary.bin("pg_ctl"), "-D", self.primary.datadir, "-m", "fast",
                           "-w", "stop"])
        self.primary.running = False
        p = subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "t",
                              self.write("b.ndjson", [{"id": 2}, {"id": 3}])],
                             cwd=self.tmp, env=clean_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        self.assertIsNone(p.poll(), "it did not wait for a server that accepts writes")
        self.standby.promote()
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, EXIT_LOADED, err)
        self.assertIn("waiting for PostgreSQL at", err)
        self.assertIn("to accept connections (", err)
        self.db = self.standby_db
        self._close_con()
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (2,), (3,)])
