"""The audit log: every decision of a run is an event, the events form a
SHA-256 chain, and `pipemend audit verify` names the first event that was
edited, removed or reordered. Against whoever can write the warehouse (and
so re-hash the whole chain or cut its tail), an anchor file kept outside it
(`pipemend audit anchor`) and the warehouse's own runs are the checks."""
import hashlib
import json
import os
import stat

from e2e_util import E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED


def event_hash(seq, at, actor, action, subject, payload, prev):
    """The documented encoding of audit.h."""
    out = b"pipemend-audit-v1;"
    for f in (seq, at, actor, action, subject, payload, prev):
        b = str(f).encode()
        out += str(len(b)).encode() + b":" + b + b";"
    return hashlib.sha256(out).hexdigest()


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
        self.assertEqual(r.json(), {"intact": True, "events": 8, "anchor": None, "anchors": 0})
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


class TestAuditAgainstTheWarehouseWriter(E2E):
    """Each attack of someone who can write the warehouse, with and without
    an anchor kept outside it."""

    def setUp(self):
        super().setUp()
        self.anchor = self.path("outside/audit.anchor")
        os.makedirs(os.path.dirname(self.anchor), exist_ok=True)

    def load_some(self):
        good = [{"id": i, "name": "n%d" % i} for i in range(20)]
        self.ingest("t", self.write("a.ndjson", good), expect=EXIT_LOADED)
        bad = [{"id": 100, "name": "x"}, {"id": "oops", "name": "y"}, "{broken"]
        self.ingest("t", self.write("b.ndjson", bad), expect=EXIT_QUARANTINED)

    def verify(self, *args, env=None):
        return self.pm("audit", "verify", "--db", self.db, "--json", *args, env=env)

    def anchor_head(self, *args, env=None):
        return self.pm("audit", "anchor", "--db", self.db, *args, env=env)

    def rehash_all(self):
        """Re-computes every hash and prev_hash of the log, as an attacker
        who read audit.h would after editing events."""
        rows = self.sql("SELECT seq, at, actor, action, subject, payload FROM _pipemend_audit "
                        "ORDER BY seq")
        prev = "0" * 64
        for seq, at, actor, action, subject, payload in rows:
            h = event_hash(seq, at, actor, action, subject, payload, prev)
            self.sql_exec("UPDATE _pipemend_audit SET prev_hash = '%s', hash = '%s' WHERE seq = %d"
                          % (prev, h, seq))
            prev = h

    def test_untouched_log_is_intact_with_and_without_an_anchor(self):
        self.load_some()
        r = self.verify()
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json(), {"intact": True, "events": 8, "anchor": None, "anchors": 0})
        r = self.pm("audit", "verify", "--db", self.db)
        self.assertIn("no anchor checked", r.stdout)
        r = self.anchor_head("--anchor", self.anchor)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("anchored event 8", r.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(self.anchor).st_mode), 0o600)
        head = self.sql("SELECT hash, at FROM _pipemend_audit WHERE seq = 8")[0]
        with open(self.anchor) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith("seq=8 hash=%s at=%s anchored=" % head), lines)
        r = self.verify("--anchor", self.anchor)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json(), {"intact": True, "events": 8, "anchor": self.anchor,
                                    "anchors": 1})
        # the log grows past the anchor; a second anchoring appends a line
        self.ingest("t", self.write("c.ndjson", [{"id": 300, "name": "z"}]), expect=EXIT_LOADED)
        self.assertEqual(self.anchor_head("--anchor", self.anchor, "--json").json()["seq"], 10)
        with open(self.anchor) as f:
            self.assertEqual(len(f.read().splitlines()), 2)
        r = self.verify("--anchor", self.anchor)
        self.assertEqual((r.rc, r.json()["anchors"]), (0, 2), r)

    def test_rehashed_chain_is_caught_only_by_an_anchor(self):
        self.load_some()
        self.assertEqual(self.anchor_head("--anchor", self.anchor).rc, 0)
        self.sql_exec("UPDATE _pipemend_audit SET actor = 'human:mallory' WHERE seq = 3")
        self.rehash_all()
        r = self.verify()
        self.assertEqual(r.rc, 0, r)  # without an anchor the rewrite is a valid chain
        self.assertTrue(r.json()["intact"])
        r = self.verify("--anchor", self.anchor)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 8)
        self.assertIn("event 8 is not the event anchored at %s:1" % self.anchor,
                      r.json()["problem"])
        self.assertIn("re-hashed", r.json()["problem"])
        self.assertIn("audit log broken at event 8", r.stderr)
        # anchoring a log that no longer fits its anchors writes nothing
        r = self.anchor_head("--anchor", self.anchor)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        with open(self.anchor) as f:
            self.assertEqual(len(f.read().splitlines()), 1)

    def test_deleted_newest_events_are_caught_by_an_anchor(self):
        self.load_some()
        self.assertEqual(self.anchor_head("--anchor", self.anchor).rc, 0)
        self.sql_exec("DELETE FROM _pipemend_audit WHERE seq >= 7")
        # the newest run's run.started (event 4) is still there: without an
        # anchor a cut tail after it goes unseen
        self.assertEqual(self.verify().rc, 0)
        r = self.verify("--anchor", self.anchor)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 8)
        self.assertIn("event 8, anchored at %s:1, is gone: the log ends at event 6"
                      % self.anchor, r.json()["problem"])

    def test_emptied_log_is_caught_without_an_anchor(self):
        self.load_some()
        self.sql_exec("DELETE FROM _pipemend_audit")
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 1)
        self.assertIn("the audit log is empty, but the warehouse has run 2", r.json()["problem"])
        self.assertIn("audit log broken at event 1", r.stderr)
        r = self.anchor_head("--anchor", self.anchor)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertFalse(os.path.exists(self.anchor))

    def test_log_cut_before_the_newest_run_is_caught_without_an_anchor(self):
        self.load_some()
        self.sql_exec("DELETE FROM _pipemend_audit WHERE seq >= 4")
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 4)
        self.assertIn("no event names run 2, the newest run (no run.started for it)",
                      r.json()["problem"])

    def test_an_empty_warehouse_verifies_and_has_nothing_to_anchor(self):
        if self.backend == "sqlite":
            # an empty file is an empty SQLite database; no file is no
            # warehouse, which audit refuses (test_first_contact)
            open(self.dbpath, "wb").close()
        self.assertEqual(self.verify().json()["intact"], True)
        r = self.anchor_head("--anchor", self.anchor)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("empty", r.stderr)

    def test_default_and_configured_anchor(self):
        self.load_some()
        # the default: pipemend-audit.anchor next to the configuration (here
        # the working directory); verify checks it once it exists
        r = self.anchor_head()
        self.assertEqual(r.rc, 0, r)
        default = self.path("pipemend-audit.anchor")
        self.assertTrue(os.path.exists(default))
        self.assertEqual(self.verify().json()["anchor"], "pipemend-audit.anchor")
        # the environment names another one, which must exist for verify
        env = {"PIPEMEND_AUDIT_ANCHOR": self.anchor}
        r = self.verify(env=env)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("cannot read the anchor file", r.stderr)
        self.assertEqual(self.anchor_head(env=env).rc, 0)
        self.assertEqual(self.verify(env=env).json()["anchor"], self.anchor)
        # audit_anchor: in the file, relative to the file
        os.makedirs(self.path("conf"))
        with open(self.path("conf/pipemend.yaml"), "w") as f:
            f.write("audit_anchor: a.anchor\n")
        cfg = ("--config", self.path("conf/pipemend.yaml"))
        self.assertEqual(self.anchor_head(*cfg).rc, 0)
        self.assertTrue(os.path.exists(self.path("conf/a.anchor")))
        self.assertEqual(self.verify(*cfg).json()["anchors"], 1)

    def test_a_malformed_anchor_file_is_an_error(self):
        self.load_some()
        with open(self.anchor, "w") as f:
            f.write("# kept by ops\nseq=1 hash=nothex\n")
        r = self.verify("--anchor", self.anchor)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("%s:2: not an anchor" % self.anchor, r.stderr)

    def mcp_verify(self, env=None):
        msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "e2e-audit", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                 "params": {"name": "verify_audit_log", "arguments": {}}}]
        r = self.pm("mcp", "--db", self.db, env=env,
                    input="\n".join(json.dumps(m) for m in msgs) + "\n")
        self.assertEqual(r.rc, 0, r)
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        res = resp[2]["result"]
        self.assertFalse(res["isError"], res)
        return res["structuredContent"]

    def test_mcp_gives_the_same_verdict(self):
        self.load_some()
        self.assertEqual(self.mcp_verify(), {"intact": True, "events": 8,
                                             "anchor_checked": False, "anchors": 0})
        env = {"PIPEMEND_AUDIT_ANCHOR": self.anchor}
        self.assertEqual(self.anchor_head(env=env).rc, 0)
        self.assertEqual(self.mcp_verify(env)["anchor_checked"], True)
        self.sql_exec("UPDATE _pipemend_audit SET actor = 'human:mallory' WHERE seq = 3")
        self.rehash_all()
        self.assertTrue(self.mcp_verify()["intact"])
        v = self.mcp_verify(env)
        self.assertEqual((v["intact"], v["anchor_checked"], v["broken_seq"]), (False, True, 8))
        self.assertIn("re-hashed", v["problem"])
        self.sql_exec("DELETE FROM _pipemend_audit")
        v = self.mcp_verify()
        self.assertEqual((v["intact"], v["anchor_checked"]), (False, False))
        self.assertIn("the audit log is empty, but the warehouse has run 2", v["problem"])


KEY = "k3y-" + "5e1f" * 12


def keyed_hash(key, seq, at, actor, action, subject, payload, prev):
    """The keyed encoding of audit.h: HMAC-SHA256 under the key."""
    import hmac
    out = b"pipemend-audit-hmac-v1;"
    for f in (seq, at, actor, action, subject, payload, prev):
        b = str(f).encode()
        out += str(len(b)).encode() + b":" + b + b";"
    return hmac.new(key.encode(), out, hashlib.sha256).hexdigest()


class TestKeyedAudit(E2E):
    """A key kept outside the warehouse (the variable audit_key_env names)
    makes each new event's hash an HMAC: someone who can write the warehouse
    but lacks the key cannot recompute the chain so that it verifies."""

    KEYED = {"PM_AUDIT_KEY": KEY}

    def setUp(self):
        super().setUp()
        self.write_config("audit_key_env: PM_AUDIT_KEY\n")

    def load(self, name, rows, expect, env=KEYED):
        r = self.pm("ingest", "--db", self.db, "--table", "t", self.write(name, rows), env=env)
        self.assertEqual(r.rc, expect, r)

    def load_some(self):
        self.load("a.ndjson", [{"id": i, "name": "n%d" % i} for i in range(20)], EXIT_LOADED)
        self.load("b.ndjson", [{"id": 100, "name": "x"}, {"id": "oops", "name": "y"}],
                  EXIT_QUARANTINED)

    def verify(self, env=KEYED):
        return self.pm("audit", "verify", "--db", self.db, "--json", env=env)

    def no_key(self):
        env = dict(os.environ)
        env.pop("PM_AUDIT_KEY", None)
        return {k: v for k, v in env.items()}

    def rewrite(self, keyed_flag):
        """Edits event 3 and recomputes the whole chain with plain SHA-256,
        as someone with write access but not the key can; keyed_flag is
        what the rewriter leaves in the keyed column."""
        self.sql_exec("UPDATE _pipemend_audit SET actor = 'human:mallory' WHERE seq = 3")
        rows = self.sql("SELECT seq, at, actor, action, subject, payload FROM _pipemend_audit "
                        "ORDER BY seq")
        prev = "0" * 64
        for seq, at, actor, action, subject, payload in rows:
            h = event_hash(seq, at, actor, action, subject, payload, prev)
            self.sql_exec("UPDATE _pipemend_audit SET prev_hash = '%s', hash = '%s', keyed = %d "
                          "WHERE seq = %d" % (prev, h, keyed_flag, seq))
            prev = h

    def test_events_are_keyed_and_verify_with_the_key(self):
        self.load_some()
        rows = self.sql("SELECT seq, at, actor, action, subject, payload, prev_hash, hash, keyed "
                        "FROM _pipemend_audit ORDER BY seq")
        self.assertEqual(len(rows), 7)
        for seq, at, actor, action, subject, payload, prev, h, keyed in rows:
            self.assertEqual(keyed, 1)
            self.assertEqual(h, keyed_hash(KEY, seq, at, actor, action, subject, payload, prev))
            self.assertNotEqual(h, event_hash(seq, at, actor, action, subject, payload, prev))
        r = self.verify()
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json(), {"intact": True, "events": 7, "anchor": None, "anchors": 0,
                                    "keyed": 7, "key_env": "PM_AUDIT_KEY", "key_checked": True,
                                    "keyed_unchecked": 0})
        r = self.pm("audit", "verify", "--db", self.db, env=self.KEYED)
        self.assertIn("key $PM_AUDIT_KEY: all 7 keyed events carry its HMAC", r.stdout)
        # the key is nowhere in the warehouse
        for (payload,) in self.sql("SELECT payload FROM _pipemend_audit"):
            self.assertNotIn(KEY, payload)

    def test_chain_recomputed_without_the_key_fails_with_it(self):
        # the rewriter leaves keyed = 1 but can only make plain SHA-256
        self.load_some()
        self.rewrite(1)
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 1)
        self.assertIn("event 1 was changed after it was written", r.json()["problem"])
        self.assertIn("audit log broken at event 1", r.stderr)
        # without the key, verify cannot tell, and says what it left out
        r = self.pm("audit", "verify", "--db", self.db, env=self.no_key())
        self.assertEqual(r.rc, 0, r)
        self.assertIn("NOT CHECKED: 7 keyed events, whose HMAC needs the audit key "
                      "($PM_AUDIT_KEY is not set)", r.stdout)
        v = self.verify(self.no_key()).json()
        self.assertEqual((v["intact"], v["key_checked"], v["keyed_unchecked"]), (True, False, 7))

    def test_chain_downgraded_to_plain_fails_with_the_key(self):
        # the rewriter marks every event unkeyed and recomputes plain SHA-256
        self.load_some()
        self.rewrite(0)
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("no event is keyed, though the key is set", r.json()["problem"])
        self.assertTrue(self.verify(self.no_key()).json()["intact"])  # undetectable without it

    def test_old_unkeyed_events_keep_verifying_and_cannot_be_rewritten(self):
        # events written before the key: plain SHA-256
        os.remove(self.path("pipemend.yaml"))
        self.load("a.ndjson", [{"id": i, "name": "n%d" % i} for i in range(5)], EXIT_LOADED)
        self.write_config("audit_key_env: PM_AUDIT_KEY\n")
        self.load("c.ndjson", [{"id": 50, "name": "later"}], EXIT_LOADED)
        keyed = [k for (k,) in self.sql("SELECT keyed FROM _pipemend_audit ORDER BY seq")]
        self.assertEqual(keyed, [0, 0, 0, 1, 1])
        r = self.verify()
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((r.json()["events"], r.json()["keyed"]), (5, 2))
        # the rewriter edits an old plain event and recomputes the chain
        self.rewrite(0)
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("no event is keyed", r.json()["problem"])

    def test_plain_event_after_keyed_ones_fails(self):
        self.load_some()
        os.remove(self.path("pipemend.yaml"))  # a pipemend run without the key
        self.load("d.ndjson", [{"id": 51, "name": "x"}], EXIT_LOADED, env=self.no_key())
        self.write_config("audit_key_env: PM_AUDIT_KEY\n")
        r = self.verify()
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(r.json()["broken_seq"], 8)
        self.assertIn("event 8 is not keyed, though events before it are", r.json()["problem"])

    def test_catalog_of_an_earlier_pipemend_is_upgraded(self):
        # a warehouse whose audit table predates the keyed column: opening
        # it adds the column, its old events read as plain and still verify
        os.remove(self.path("pipemend.yaml"))
        self.load("a.ndjson", [{"id": i} for i in range(3)], EXIT_LOADED)
        self.sql_script("ALTER TABLE _pipemend_audit DROP COLUMN keyed")
        self.assertNotIn("keyed", self.sql_columns("_pipemend_audit"))
        self.write_config("audit_key_env: PM_AUDIT_KEY\n")
        self.load("b.ndjson", [{"id": 9}], EXIT_LOADED)
        keyed = [k for (k,) in self.sql("SELECT keyed FROM _pipemend_audit ORDER BY seq")]
        self.assertEqual(keyed, [None, None, None, 1, 1])
        r = self.verify()
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((r.json()["events"], r.json()["keyed"]), (5, 2))

    def test_missing_or_short_key(self):
        r = self.pm("ingest", "--db", self.db, "--table", "t",
                    self.write("a.ndjson", [{"id": 1}]), env=self.no_key())
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("the audit log is keyed (audit_key_env: PM_AUDIT_KEY), but $PM_AUDIT_KEY "
                      "is not set", r.stderr)
        r = self.pm("ingest", "--db", self.db, "--table", "t",
                    self.write("a.ndjson", [{"id": 1}]), env={"PM_AUDIT_KEY": "short"})
        self.assertEqual(r.rc, 2, r)
        self.assertIn("shorter than 32 characters", r.stderr)
        self.assertNotIn("short", r.stdout)
        self.assertEqual(self.count("_pipemend_audit") if self.warehouse_exists() else 0, 0)
        # the config names a variable, never holds the key
        self.write_config("audit_key_env: 'not a name'\n")
        r = self.pm("audit", "verify", "--db", self.db, env=self.KEYED)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("audit_key_env", r.stderr)
