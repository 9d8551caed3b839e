"""Replay in pages: an approval's replay commits a page at a time (rows
leave quarantine in the transaction that loads them), so a kill part way
leaves a loaded prefix, never a duplicate; the incident stays `applied`,
status names the command that finishes it, and the next run of the table
finishes it."""
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

from e2e_util import (BIN, E2E, EXIT_LOADED, EXIT_QUARANTINED, LINKS, clean_env, pg_connect,
                      pg_only, sqlite_only)

BASE = 10
DRIFT = 60000  # several pages on either backend (5000 / 20000 rows a page)


class TestPagedReplay(E2E):
    def drifted(self):
        """BASE clean rows loaded, DRIFT rows with a new field quarantined
        under --policy review; returns the pending proposal's id."""
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(BASE)]),
                    expect=EXIT_LOADED)
        p = self.path("b.ndjson")
        with open(p, "w") as f:
            for i in range(BASE, BASE + DRIFT):
                f.write(json.dumps({"id": i, "n": i, "coupon": "C%d" % (i % 97)}) + "\n")
        r = self.ingest("t", p, extra=("--policy", "review"))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        ps = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual(len(ps), 1, ps)
        return ps[0]["id"]

    def qcount(self):
        return self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0]

    def incident_states(self):
        return sorted(r[0] for r in self.sql("SELECT state FROM _pipemend_incidents"))

    def kill_mid_replay(self, pid_args):
        """Starts pid_args, kills it (SIGKILL) once some but not all drifted
        rows are in the table; returns the row count it saw."""
        p = subprocess.Popen(pid_args, cwd=self.tmp, env=clean_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen = None
        deadline = time.time() + 120
        try:
            while time.time() < deadline and p.poll() is None:
                try:
                    n = self.sql("SELECT count(*) FROM t")[0][0]
                except self.DBError:
                    n = 0
                if BASE < n < BASE + DRIFT:
                    p.send_signal(signal.SIGKILL)
                    seen = n
                    break
                time.sleep(0.005)
        finally:
            if p.poll() is None and seen is None:
                p.kill()
            p.wait()
            p.stderr.close()
        self._close_con()
        return seen, p.returncode

    def test_killed_approval_leaves_a_prefix_and_the_next_run_finishes_it(self):
        pid = self.drifted()
        seen, rc = self.kill_mid_replay(
            [BIN, "proposals", "approve", str(pid), "--db", self.db, "--actor", "alice"])
        self.assertIsNotNone(seen, "the replay ended before a page could be seen (rc %s)" % rc)
        self.assertEqual(rc, -signal.SIGKILL)
        # the pages committed before the kill stay: each row either loaded or
        # still quarantined, never both, never twice
        n, d = self.sql("SELECT count(*), count(DISTINCT id) FROM t")[0]
        self.assertEqual(n, d)
        self.assertGreater(n, BASE)
        self.assertLess(n, BASE + DRIFT)
        self.assertEqual(n + self.qcount(), BASE + DRIFT)
        self.assertEqual(self.incident_states(), ["applied"])
        # status says exactly which command finishes it, and writes nothing
        st = self.pm("status", "--db", self.db)
        self.assertEqual(st.rc, 0, st)
        self.assertIn("incident 1 of t is applied but its quarantine was not replayed", st.stdout)
        self.assertIn("pipemend quarantine replay --table t finishes it", st.stdout)
        js = self.pm("status", "--db", self.db, "--json").json()
        self.assertEqual(js[0]["replay_unfinished"]["command"],
                         "pipemend quarantine replay --table t")
        self.assertEqual(self.incident_states(), ["applied"])
        # re-approving says what happened and what to do
        again = self.pm("proposals", "approve", str(pid), "--db", self.db, "--actor", "alice")
        self.assertNotEqual(again.rc, 0, again)
        self.assertIn("proposal %d is applied, not pending: human:alice applied it" % pid,
                      again.stderr)
        self.assertIn("pipemend quarantine replay --table t", again.stderr)
        # the next run of the table finishes the replay
        r = self.ingest("t", self.write("c.ndjson", [{"id": BASE + DRIFT, "n": 1}]))
        self.assertEqual(r.rc, EXIT_LOADED, r)
        n, d = self.sql("SELECT count(*), count(DISTINCT id) FROM t")[0]
        self.assertEqual((n, d), (BASE + DRIFT + 1, BASE + DRIFT + 1))
        self.assertEqual(self.qcount(), 0)
        self.assertEqual(self.incident_states(), ["resolved"])
        self.assertNotIn("unfinished", self.pm("status", "--db", self.db).stdout)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_killed_replay_command_goes_on_where_it_stopped(self):
        pid = self.drifted()
        # the approval applies; the replay is the command's own
        seen, _ = self.kill_mid_replay(
            [BIN, "proposals", "approve", str(pid), "--db", self.db, "--actor", "alice"])
        self.assertIsNotNone(seen)
        left = self.qcount()
        r = self.pm("quarantine", "replay", "--table", "t", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        # only the rows still waiting are loaded: nothing replayed twice
        self.assertEqual(r.json()["loaded"], left)
        self.assertEqual(r.json()["incidents_resolved"], 1)
        n, d = self.sql("SELECT count(*), count(DISTINCT id) FROM t")[0]
        self.assertEqual((n, d), (BASE + DRIFT, BASE + DRIFT))
        self.assertEqual(self.qcount(), 0)
        self.assertEqual(self.incident_states(), ["resolved"])
        # each page is its own audit event; together they count every row
        ev = [json.loads(e["payload"]) if isinstance(e["payload"], str) else e["payload"]
              for e in self.pm("audit", "log", "--db", self.db, "--json", "--limit", "1000").json()
              if e["action"] == "quarantine.replayed"]
        self.assertEqual(sum(e["loaded"] for e in ev), DRIFT)
        self.assertGreater(len(ev), 1)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)


class TestRaces(E2E):
    def test_concurrent_approvals_the_loser_says_who_applied_it(self):
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(5)]),
                    expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": 10 + i, "n": i, "coupon": "C"}
                                                 for i in range(2000)]),
                    expect=EXIT_QUARANTINED, extra=("--policy", "review"))
        pid = self.pm("proposals", "list", "--db", self.db, "--json").json()[0]["id"]
        procs = [subprocess.Popen([BIN, "proposals", "approve", str(pid), "--db", self.db,
                                   "--actor", who], cwd=self.tmp, env=clean_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for who in ("alice", "bob")]
        outs = [p.communicate(timeout=120) for p in procs]
        rcs = [p.returncode for p in procs]
        self.assertEqual(sorted(rcs)[0], 0, outs)
        self.assertEqual(rcs.count(0), 1, outs)
        loser = outs[rcs.index(0) ^ 1][1]
        winner = ("alice", "bob")[rcs.index(0)]
        # the loser names the approval that won; it does not ask to plan again
        self.assertIn("human:%s" % winner, loser)
        self.assertNotIn("plan again", loser)
        self.assertEqual(self.count("t"), 2005)
        self.assertEqual(self.qcount(), 0)
        self.assertEqual(self.sql("SELECT state FROM _pipemend_incidents"), [("resolved",)])

    def qcount(self):
        return self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0]


@sqlite_only("the write lock is SQLite's: PostgreSQL's readers never wait for a writer")
class TestReadsDuringWrites(E2E):
    def test_status_and_runs_read_while_another_process_holds_the_write_lock(self):
        self.ingest("t", self.write("a.ndjson", [{"id": i} for i in range(5)]),
                    expect=EXIT_LOADED)
        con = sqlite3.connect(self.dbpath, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")  # what a long replay's page holds
        try:
            for cmd in (["status"], ["runs"], ["incidents", "list"], ["quarantine", "list"]):
                t0 = time.time()
                r = self.pm(*cmd, "--db", self.db)
                self.assertEqual(r.rc, 0, r)
                self.assertLess(time.time() - t0, 5, "%s waited for the write lock" % cmd)
            self.assertIn("succeeded", self.pm("runs", "--db", self.db).stdout)
        finally:
            con.execute("ROLLBACK")
            con.close()


@pg_only("several PostgreSQL workers heal one table at once")
class TestWorkersMeetingOneField(E2E):
    def test_no_incident_is_left_dry_run_failed_or_applied_or_holding_rows(self):
        n, per = 4, 2000
        for trial in range(3):
            table = "t%d" % trial
            self.ingest(table, self.write("%s-a.ndjson" % table,
                                          [{"id": i, "n": i} for i in range(10)]),
                        expect=EXIT_LOADED)
            paths = [self.write("%s-w%d.ndjson" % (table, w),
                                [{"id": 100 + w * per + i, "n": i, "x1": "v%d" % i}
                                 for i in range(per)]) for w in range(n)]
            procs = [subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", table, p],
                                      cwd=self.tmp, env=clean_env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for p in paths]
            outs = [p.communicate(timeout=180) for p in procs]
            for p, (_, err) in zip(procs, outs):
                self.assertIn(p.returncode, (EXIT_LOADED, EXIT_QUARANTINED), err)
                self.assertNotIn("already exists", err)
            # every row loaded once; none waits; the incident the heal answered
            # is resolved, never dry_run_failed nor applied without its replay
            self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM %s" % table),
                             [(10 + n * per, 10 + n * per)])
            self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine WHERE "
                                      "table_name = ?", (table,)), [(0,)])
            states = self.sql("SELECT state FROM _pipemend_incidents WHERE table_name = ?",
                              (table,))
            self.assertEqual(sorted(s[0] for s in states), ["resolved"], states)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)


class TestApprovalDuringIngest(E2E):
    def test_rows_quarantined_while_the_fix_applies_load_after_it(self):
        # The rows come through a named pipe, so the ingest is still running
        # when the approval starts however fast it loads: the first part is
        # quarantined and proposes the fix, the rest is sent while the
        # approval applies it and replays the first part.
        n = 100000 if self.backend == "sqlite" else 8000
        first = n // 5
        # batches smaller than the first part, so that it is committed and
        # proposes the fix while the ingest waits for the rest
        self.write_config("defaults:\n  batch_size: 1000\n")
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(10)]),
                    expect=EXIT_LOADED)
        p = self.path("b.ndjson")
        os.mkfifo(p)
        lines = [json.dumps({"id": 100 + i, "n": i, "coupon": "C%d" % (i % 7)}) + "\n"
                 for i in range(n)]
        go = threading.Event()

        def feed():
            with open(p, "w") as f:
                f.writelines(lines[:first])
                f.flush()
                go.wait(300)
                f.writelines(lines[first:])

        feeder = threading.Thread(target=feed)
        feeder.start()
        self.addCleanup(feeder.join, 10)
        self.addCleanup(go.set)
        ing = subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "t", "--policy",
                                "review", p], cwd=self.tmp, env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pid, deadline = None, time.time() + 120
        while pid is None and time.time() < deadline and ing.poll() is None:
            r = self.pm("proposals", "list", "--db", self.db, "--json")
            ps = r.json() if r.rc == 0 and r.stdout.strip() else []
            pid = ps[0]["id"] if ps else None
            time.sleep(0.05)
        self.assertIsNotNone(pid, "no proposal while the ingest ran")
        self.assertIsNone(ing.poll(), "the ingest ended before the approval: nothing to show")
        approve = subprocess.Popen([BIN, "proposals", "approve", str(pid), "--db", self.db,
                                    "--actor", "alice"], cwd=self.tmp, env=clean_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        go.set()  # the rest of the rows arrive while the approval applies
        aout, aerr = approve.communicate(timeout=600)
        self.assertEqual(approve.returncode, 0, aout + aerr)
        feeder.join(60)
        out, err = ing.communicate(timeout=600)
        self.assertIn(ing.returncode, (EXIT_LOADED, EXIT_QUARANTINED), err)
        # every row the approval fixes loaded, the ones quarantined after its
        # replay too; none waits, none under a resolved incident
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"),
                         [(10 + n, 10 + n)])
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine"), [(0,)])
        self.assertEqual(self.sql("SELECT count(*) FROM " + LINKS + " r JOIN "
                                  "_pipemend_incidents i ON i.id = r.incident "
                                  "WHERE i.state = 'resolved'"), [(0,)])
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incidents WHERE state NOT IN "
                                  "('resolved', 'dismissed')"), [(0,)])
        self.assertNotIn("unfinished", self.pm("status", "--db", self.db).stdout)


class TestReplayPages(E2E):
    """What a replay page reads and takes out of quarantine (issue 17: the
    replay rate): a page that loads whole leaves quarantine as one range
    of its table's ids; PostgreSQL pages by statistics taken first."""

    def drift(self, table, name, ids):
        r = self.ingest(table, self.write(name, [{"id": i, "n": i, "coupon": "C%d" % i}
                                                 for i in ids]), extra=("--policy", "review"))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)

    def test_a_page_takes_only_its_own_tables_rows_out_of_quarantine(self):
        for t in ("a", "b"):
            self.ingest(t, self.write(t + "0.ndjson", [{"id": i, "n": i} for i in range(3)]),
                        expect=EXIT_LOADED)
        # a's quarantined rows come before and after b's: the ids of a's one
        # page run around the 20 rows of b
        self.drift("a", "a1.ndjson", range(100, 130))
        self.drift("b", "b1.ndjson", range(200, 220))
        self.drift("a", "a2.ndjson", range(130, 160))
        lo, hi = self.sql("SELECT min(id), max(id) FROM _pipemend_quarantine "
                          "WHERE table_name = 'a'")[0]
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine WHERE "
                                  "table_name = 'b' AND id > ? AND id < ?", (lo, hi))[0][0], 20)
        ps = {p["table"]: p["id"] for p in
              self.pm("proposals", "list", "--db", self.db, "--json").json()
              if p["state"] == "pending"}
        self.assertEqual(sorted(ps), ["a", "b"])
        r = self.pm("proposals", "approve", str(ps["a"]), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("60 rows loaded, 0 still wait", r.stdout)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id), count(coupon) FROM a")[0],
                         (63, 63, 60))
        # b's rows, in the middle of a's page, wait under b's open incident
        self.assertEqual(self.sql("SELECT table_name, count(*) FROM _pipemend_quarantine "
                                  "GROUP BY table_name"), [("b", 20)])
        self.assertEqual(self.sql("SELECT i.table_name, i.state, count(r.qrow) FROM "
                                  "_pipemend_incidents i LEFT JOIN " + LINKS + " r ON "
                                  "r.incident = i.id GROUP BY i.table_name, i.state "
                                  "ORDER BY i.table_name"),
                         [("a", "resolved", 0), ("b", "awaiting_approval", 20)])
        self.assertEqual(self.count("b"), 3)
        # the kept counts went with the rows
        js = self.pm("status", "--db", self.db, "--json").json()
        self.assertEqual({t["table"]: (t["rows"], t["quarantined"]) for t in js},
                         {"a": (63, 0), "b": (3, 20)})
        r = self.pm("proposals", "approve", str(ps["b"]), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("20 rows loaded, 0 still wait", r.stdout)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM b")[0], (23, 23))
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0], 0)
        # no range is left over once its rows are gone
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges")[0][0], 0)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    @pg_only("the planner's statistics are PostgreSQL's")
    def test_a_large_replay_takes_the_quarantines_statistics_first(self):
        # a quarantine a run filled just now has no statistics (autovacuum
        # comes about a minute later): planned as an empty table, each page
        # read and sorted the whole rest of the quarantine
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(3)]),
                    expect=EXIT_LOADED)
        self.drift("t", "b.ndjson", range(100, 3100))
        stats = ("SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE "
                 "relname IN ('_pipemend_quarantine', '_pipemend_incident_ranges') ORDER BY relname")
        self.assertEqual(self.sql(stats),
                         [("_pipemend_incident_ranges", False), ("_pipemend_quarantine", False)])
        pid = self.pm("proposals", "list", "--db", self.db, "--json").json()[0]["id"]
        r = self.pm("proposals", "approve", str(pid), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("3000 rows loaded, 0 still wait", r.stdout)
        self.assertEqual(self.sql(stats),
                         [("_pipemend_incident_ranges", True), ("_pipemend_quarantine", True)])
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t")[0], (3003, 3003))
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0], 0)


class TestIncidentRanges(E2E):
    """An incident's quarantined rows are kept as ranges of their ids
    (catalog.c, RANGE_BLOCK): links of an earlier pipemend become ranges,
    a row that moves to another incident leaves its range, and a range
    never takes in a row it did not hold."""

    def incident_rows(self):
        return {(e["column"], e["kind"], e["state"]): e["rows"] for e in
                self.pm("incidents", "list", "--db", self.db, "--json").json()}

    def assert_ranges_sound(self):
        # every range starts and ends at a quarantined row, and no range is
        # left to a closed incident
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges r WHERE NOT "
                                  "EXISTS (SELECT 1 FROM _pipemend_quarantine q WHERE q.id = "
                                  "r.first_qrow) OR NOT EXISTS (SELECT 1 FROM "
                                  "_pipemend_quarantine q WHERE q.id = r.last_qrow)"), [(0,)])
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges r JOIN "
                                  "_pipemend_incidents i ON i.id = r.incident WHERE i.state IN "
                                  "('resolved', 'dismissed')"), [(0,)])
        # and each range's kept count is the rows it holds
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges r WHERE r.nrows "
                                  "<> (SELECT count(*) FROM _pipemend_quarantine q WHERE q.id >= "
                                  "r.first_qrow AND q.id <= r.last_qrow)"), [(0,)])

    def test_links_of_an_earlier_pipemend_become_ranges(self):
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(3)]),
                    expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": i, "n": i, "coupon": "C%d" % i}
                                                 for i in range(100, 160)]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        self.ingest("t", self.write("c.ndjson", [{"id": i, "n": "x%d" % i}
                                                 for i in range(200, 210)]),
                    expect=EXIT_QUARANTINED)
        before = self.incident_rows()
        self.assertEqual(sorted(before.values()), [10, 60])
        links = self.sql("SELECT incident, qrow FROM " + LINKS + " r ORDER BY 1, 2")
        self.assertEqual(len(links), 70)
        # the catalog as an earlier pipemend left it: a link per row
        self.sql_exec("CREATE TABLE _pipemend_incident_rows (incident bigint NOT NULL, qrow "
                      "bigint NOT NULL, PRIMARY KEY (incident, qrow))")
        self.sql_exec("INSERT INTO _pipemend_incident_rows (incident, qrow) SELECT incident, qrow "
                      "FROM " + LINKS + " r")
        self.sql_exec("DROP TABLE _pipemend_incident_ranges")
        if self.backend != "pg":
            # and SQLite's index on run_id, which no statement could use
            self.sql_exec("CREATE INDEX _pipemend_quarantine_run ON _pipemend_quarantine (run_id)")
        self._close_con()
        self.assertEqual(self.incident_rows(), before)
        if self.backend != "pg":
            self.assertEqual(self.sql("SELECT count(*) FROM sqlite_master WHERE name = "
                                      "'_pipemend_quarantine_run'"), [(0,)])
        self.assertEqual(self.sql("SELECT incident, qrow FROM " + LINKS + " r ORDER BY 1, 2"),
                         links)
        # one range per incident (their ids are runs), and the links are gone
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges"), [(2,)])
        gone = ("SELECT to_regclass('pipemend._pipemend_incident_rows') IS NULL"
                if self.backend == "pg" else
                "SELECT count(*) = 0 FROM sqlite_master WHERE name = '_pipemend_incident_rows'")
        self.assertEqual(self.sql(gone), [(True,)] if self.backend == "pg" else [(1,)])
        self.assert_ranges_sound()
        pid = [p["id"] for p in self.pm("proposals", "list", "--db", self.db, "--json").json()
               if p["state"] == "pending" and p["ops"][0]["column"] == "coupon"][0]
        r = self.pm("proposals", "approve", str(pid), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("60 rows loaded, 10 still wait", r.stdout)
        self.assertEqual(self.sql("SELECT count(*) FROM " + LINKS + " r"), [(10,)])
        self.assert_ranges_sound()
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_a_row_that_still_waits_after_a_replay_moves_to_its_other_incident(self):
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(3)]),
                    expect=EXIT_LOADED)
        # rows 120..129 also bring text in n: under both incidents, in the
        # middle of the coupon incident's range
        self.ingest("t", self.write("b.ndjson", [
            {"id": i, "n": "x%d" % i if 120 <= i < 130 else i, "coupon": "C%d" % i}
            for i in range(100, 160)]), extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        self.assertEqual(self.incident_rows(), {
            ("coupon", "new_field", "awaiting_approval"): 60,
            ("n", "type_conflict", "awaiting_approval"): 10})
        pid = [p["id"] for p in self.pm("proposals", "list", "--db", self.db, "--json").json()
               if p["state"] == "pending" and p["ops"][0]["column"] == "coupon"][0]
        r = self.pm("proposals", "approve", str(pid), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("50 rows loaded, 10 still wait", r.stdout)
        got = self.incident_rows()
        self.assertEqual(got[("coupon", "new_field", "resolved")], 0)
        self.assertEqual(got[("n", "type_conflict", "awaiting_approval")], 10)
        # the ten rows, and only they, under the type conflict
        self.assertEqual(sorted(json.loads(bytes(raw))["id"] for (raw,) in self.sql(
            "SELECT q.raw FROM " + LINKS + " r JOIN _pipemend_quarantine q ON q.id = r.qrow")),
            list(range(120, 130)))
        self.assert_ranges_sound()

    def test_rows_of_two_incidents_that_alternate(self):
        # every other row brings a, the others b: ranges of one row each,
        # and the rows of b wait on after a's repair
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(3)]),
                    expect=EXIT_LOADED)
        rows = [{"id": i, "n": i, ("a" if i % 2 else "b"): "x%d" % i} for i in range(100, 2100)]
        self.ingest("t", self.write("b.ndjson", rows), extra=("--policy", "review"),
                    expect=EXIT_QUARANTINED)
        self.assertEqual(self.incident_rows(), {("a", "new_field", "awaiting_approval"): 1000,
                                                ("b", "new_field", "awaiting_approval"): 1000})
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges"), [(2000,)])
        pid = [p["id"] for p in self.pm("proposals", "list", "--db", self.db, "--json").json()
               if p["state"] == "pending" and p["ops"][0]["column"] == "a"][0]
        r = self.pm("proposals", "approve", str(pid), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("1000 rows loaded, 1000 still wait", r.stdout)
        self.assertEqual(self.incident_rows(), {("a", "new_field", "resolved"): 0,
                                                ("b", "new_field", "awaiting_approval"): 1000})
        self.assert_ranges_sound()
        # every row has a, the even ones b too: approving a restates them
        self.ingest("t", self.write("c.ndjson", [
            dict({"id": i, "n": i, "a": "y%d" % i}, **({"c": "z"} if i % 2 == 0 else {}))
            for i in range(3000, 3400)]), extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        self.assertEqual(self.incident_rows()[("c", "new_field", "awaiting_approval")], 200)
        self.assert_ranges_sound()

    @pg_only("two PostgreSQL sessions at once; SQLite has one writer")
    def test_two_discards_at_once_keep_the_counts(self):
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(3)]),
                    expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": i, "n": i, "coupon": "C%d" % i}
                                                 for i in range(100, 120)]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        ids = [i for (i,) in self.sql("SELECT id FROM _pipemend_quarantine ORDER BY id")]
        # the audit log held: each discard waits before it commits, its
        # change of the range made (or, now, waiting to make it)
        held = pg_connect(self.db)
        held.autocommit = False
        try:
            with held.cursor() as c:
                c.execute("LOCK TABLE pipemend._pipemend_audit IN SHARE MODE")
            procs = []
            for qid in ids[:2]:
                procs.append(subprocess.Popen(
                    [BIN, "quarantine", "discard", str(qid), "--yes", "--db", self.db],
                    cwd=self.tmp, env=clean_env(), stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE))
                time.sleep(1.0)
        finally:
            held.commit()
            held.close()
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.incident_rows(), {("coupon", "new_field", "awaiting_approval"): 18})
        self.assert_ranges_sound()
        r = self.pm("quarantine", "discard", "--table", "t", "--yes", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges"), [(0,)])

    def test_an_id_given_again_is_not_taken_in_by_an_old_range(self):
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(3)]),
                    expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": i, "n": i, "coupon": "C%d" % i}
                                                 for i in range(100, 110)]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        ids = [i for (i,) in self.sql("SELECT id FROM _pipemend_quarantine ORDER BY id")]
        self.assertEqual(len(ids), 10)
        # the newest five go: SQLite gives the next row the highest id + 1,
        # one of theirs again
        for qid in ids[5:]:
            r = self.pm("quarantine", "discard", str(qid), "--yes", "--db", self.db)
            self.assertEqual(r.rc, 0, r)
        self.ingest("t", self.write("c.ndjson", [{"id": i, "n": "x%d" % i}
                                                 for i in range(200, 203)]),
                    expect=EXIT_QUARANTINED)
        self.assertEqual(self.incident_rows(), {
            ("coupon", "new_field", "awaiting_approval"): 5,
            ("n", "type_conflict", "awaiting_approval"): 3})
        self.assertEqual(self.sql("SELECT qrow FROM " + LINKS + " r JOIN _pipemend_incidents i "
                                  "ON i.id = r.incident WHERE i.column_name = 'coupon' ORDER BY "
                                  "qrow"), [(i,) for i in ids[:5]])
        self.assert_ranges_sound()
