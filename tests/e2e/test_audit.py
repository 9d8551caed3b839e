"""The audit log: every decision of a run is an event, the events form a
SHA-256 chain, and `pipemend audit verify` names the first event that was
edited, removed or reordered."""

from e2e_util import E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED


class TestAudit(E2E):
    def load_some(self):
        good = [{"id": i, "name": "n%d" % i} for i in range(20)]
        self.ingest("t", self.write("a.ndjson", good), expect=EXIT_LOADED)
        bad = [{"id": 100, "name": "x"}, {"id": "oops", "name": "y"}, "{broken"]
        self.ingest("t", self.write("b.ndjson", bad), expect=EXIT_QUARANTINED)

    def events(self):
        r = self.pm("audit", "log", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def verify(self):
        return self.pm("audit", "verify", "--db", self.db, "--json")

    def test_runs_leave_a_verifiable_chain(self):
        self.load_some()
        ev = self.events()
        actions = [e["action"] for e in ev]
        # the second run's quarantined rows open two incidents (a type
        # conflict on id, a malformed line) in the batch's transaction
        self.assertEqual(actions, ["run.started", "table.created", "run.finished",
                                   "run.started", "incident.open", "incident.open",
                                   "rows.quarantined", "run.finished"])
        self.assertEqual([e["seq"] for e in ev], list(range(1, 9)))
        self.assertEqual(ev[0]["prev_hash"], "0" * 64)
        for prev, e in zip(ev, ev[1:]):
            self.assertEqual(e["prev_hash"], prev["hash"])
        self.assertTrue(all(e["actor"] == "engine" for e in ev))
        self.assertEqual({(e["payload"]["kind"], e["payload"]["column"]) for e in ev[4:6]},
                         {("type_conflict", "id"), ("malformed", "")})
        q = ev[6]["payload"]
        self.assertEqual(q["rows"], 2)
        self.assertEqual(q["kinds"], {"type_conflict": 1, "malformed": 1})
        fin = ev[7]["payload"]
        self.assertEqual((fin["rows_read"], fin["rows_loaded"], fin["rows_quarantined"]), (3, 1, 2))
        r = self.verify()
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(r.json(), {"intact": True, "events": 8})
        self.assertEqual(self.pm("audit", "log", "--db", self.db, "--json", "--limit", "2").json(),
                         ev[6:])

    def test_edited_event_is_named(self):
        self.load_some()
        self.sql_exec("UPDATE _pipemend_audit SET payload = replace(payload, '\"rows\":2', "
                      "'\"rows\":0') WHERE seq = 7")
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 7)
        self.assertIn("event 7 was changed after it was written", r.json()["problem"])
        self.assertIn("audit log broken at event 7", r.stderr)

    def test_edit_that_also_rehashes_is_caught_by_the_next_event(self):
        self.load_some()
        # An attacker who edits event 3 and recomputes its hash with the
        # documented encoding (audit.h) cannot fix event 4, which chained to
        # the old hash.
        import hashlib
        seq, at, actor, action, subject, payload, prev = self.sql(
            "SELECT seq, at, actor, action, subject, payload, prev_hash FROM _pipemend_audit "
            "WHERE seq = 3")[0]
        orig = self.sql("SELECT hash FROM _pipemend_audit WHERE seq = 3")[0][0]

        def enc(fields):
            out = b"pipemend-audit-v1;"
            for f in fields:
                b = str(f).encode()
                out += str(len(b)).encode() + b":" + b + b";"
            return hashlib.sha256(out).hexdigest()

        self.assertEqual(enc([seq, at, actor, action, subject, payload, prev]), orig)
        forged = enc([seq, at, "human:mallory", action, subject, payload, prev])
        self.sql_exec("UPDATE _pipemend_audit SET actor = 'human:mallory', hash = '%s' "
                      "WHERE seq = 3" % forged)
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 4)
        self.assertIn("event 4 does not follow event 3", r.json()["problem"])

    def test_removed_event_is_named(self):
        self.load_some()
        self.sql_exec("DELETE FROM _pipemend_audit WHERE seq = 2")
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 2)
        self.assertIn("event 2 is missing", r.json()["problem"])

    def test_reordered_events_are_named(self):
        self.load_some()
        # swap the contents of events 2 and 3, keeping the sequence numbers
        self.sql_exec("UPDATE _pipemend_audit SET seq = -2 WHERE seq = 2")
        self.sql_exec("UPDATE _pipemend_audit SET seq = 2 WHERE seq = 3")
        self.sql_exec("UPDATE _pipemend_audit SET seq = 3 WHERE seq = -2")
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 2)
        self.assertIn("does not follow event 1", r.json()["problem"])

    def test_renumbered_deletion_is_caught(self):
        self.load_some()
        # remove event 3 and renumber the rest so that there is no gap
        self.sql_exec("DELETE FROM _pipemend_audit WHERE seq = 3")
        for s in range(4, 7):
            self.sql_exec("UPDATE _pipemend_audit SET seq = %d WHERE seq = %d" % (s - 1, s))
        r = self.verify()
        self.assertEqual(r.json()["broken_seq"], 3)

    def test_killed_run_is_audited_as_aborted(self):
        import signal
        import subprocess
        import time
        from e2e_util import BIN, clean_env
        p = subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "s", "--format",
                              "ndjson", "-"], cwd=self.tmp, env=clean_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.sql_ok("SELECT count(*) FROM _pipemend_runs WHERE status = 'running'"):
                    break
                time.sleep(0.05)
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdin.close()
        self.runs()  # reading the runs reaps the dead one
        actions = [e["action"] for e in self.events()]
        self.assertEqual(actions, ["run.started", "run.aborted"])
        self.assertEqual(self.verify().rc, EXIT_LOADED)
