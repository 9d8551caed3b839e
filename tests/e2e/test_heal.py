"""Proposals wait for a person; approving applies them (through the guard
and the policy again), records who, and replays the quarantine; inline heals
replay rows of earlier runs."""
import json

from e2e_util import E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED, EXIT_USAGE


def rec(i, **over):
    r = {"id": i, "email": "u%d@example.com" % i, "n": i}
    r.update(over)
    return r


class TestProposals(E2E):
    def base(self):
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)

    def proposals(self):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def actions(self):
        return [(e["actor"], e["action"])
                for e in self.pm("audit", "log", "--db", self.db, "--json").json()]

    def test_review_then_approve_applies_and_replays(self):
        self.base()
        # a flag in a number column has no lossless way out: it stays
        # quarantined with nothing proposed ("x" would be offered text)
        bad = [rec(10, email=None), rec(11, coupon="C1"), rec(12, n=2.5), rec(13, n=True)]
        r = self.ingest("t", self.write("b.ndjson", bad), extra=("--policy", "review"))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.assertNotIn("coupon", self.schema("t"))
        ps = self.proposals()
        self.assertEqual(len(ps), 3)  # one per op: each can be taken or left
        self.assertTrue(all(p["state"] == "pending" for p in ps))
        self.assertEqual(sorted(p["ops"][0]["op"] for p in ps),
                         ["add_column", "drop_not_null", "widen_column"])
        self.assertIn(("rules", "proposal.created"), self.actions())
        # the same drift again proposes nothing new
        again = [rec(14, email=None), rec(15, coupon="C2"), rec(16, n=3.5)]
        self.ingest("t", self.write("c.ndjson", again), extra=("--policy", "review"))
        self.assertEqual(len(self.proposals()), 3)

        for p in sorted(ps, key=lambda p: p["id"]):
            r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db, "--actor",
                        "alice")
            self.assertEqual(r.rc, 0, r)
            self.assertIn("applied by human:alice", r.stdout)
        s = self.schema("t")
        self.assertEqual(s["coupon"], ("varchar(16)", True))
        self.assertEqual(s["n"][0], "float64")
        self.assertTrue(s["email"][1])
        # replayed: only the row that still does not fit waits
        q = self.quarantine()
        self.assertEqual([e["kinds"] for e in q], [["type_conflict"]])
        self.assertEqual(sorted(x[0] for x in self.sql("SELECT id FROM t")),
                         [0, 1, 2, 3, 4, 10, 11, 12, 14, 15, 16])
        self.assert_invariants("t", 5 + 4 + 3)
        acts = self.actions()
        self.assertIn(("human:alice", "proposal.approved"), acts)
        self.assertIn(("human:alice", "quarantine.replayed"), acts)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)
        p = self.pm("proposals", "show", str(p["id"]), "--db", self.db, "--json").json()
        self.assertEqual((p["state"], p["decided_by"]), ("applied", "human:alice"))
        # a decided proposal cannot be decided again
        r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertIn("is applied, not pending", r.stderr)

    def test_reject_changes_nothing(self):
        self.base()
        self.ingest("t", self.write("b.ndjson", [rec(10, coupon="C")]),
                    extra=("--policy", "frozen"))
        pid = self.proposals()[0]["id"]
        r = self.pm("proposals", "reject", str(pid), "--db", self.db, "--actor", "bob")
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("coupon", self.schema("t"))
        self.assertEqual(self.proposals()[0]["state"], "rejected")
        self.assertEqual(len(self.proposals()), 1)
        self.assertIn(("human:bob", "proposal.rejected"), self.actions())
        self.assertEqual(len(self.quarantine()), 1)

    def test_proposal_is_checked_again_against_the_schema_of_now(self):
        self.base()
        self.ingest("t", self.write("b.ndjson", [rec(10, email=None), rec(11, n=2.5)]),
                    extra=("--policy", "review"))
        ps = {p["ops"][0]["op"]: p["id"] for p in self.proposals()}
        # the schema moves on (an automatic heal widens n) before anyone
        # approves: the drop of NOT NULL is checked against version 2
        self.ingest("t", self.write("c.ndjson", [rec(12, n=3.5)]), expect=EXIT_LOADED)
        r = self.pm("proposals", "approve", str(ps["drop_not_null"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("planned against version 1 and checked against version 2", r.stdout)
        # the widening was the same op the automatic heal needed: the rules
        # applied that pending proposal rather than a second one
        r = self.pm("proposals", "approve", str(ps["widen_column"]), "--db", self.db)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("is applied, not pending", r.stderr)
        self.assertEqual([(p["state"], p["decided_by"]) for p in self.proposals()
                          if p["id"] == ps["widen_column"]], [("applied", "rules")])

    def test_approved_mapping_loads_the_renamed_field(self):
        self.base()
        self.ingest("t", self.write("b.ndjson", [{"id": 9, "mail": "x@y.z", "n": 1}]),
                    extra=("--policy", "review"))
        ps = self.proposals()
        self.assertEqual([o["op"] for o in ps[0]["ops"]], ["add_field_mapping"])
        self.assertTrue(ps[0]["dry_run"]["ok"], ps[0])
        self.assertEqual(ps[0]["dry_run"]["would_load"], 1)
        r = self.pm("proposals", "approve", str(ps[0]["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.sql("SELECT email FROM t WHERE id = 9"), [("x@y.z",)])
        # the feed keeps the new name: later rows load through the mapping
        self.ingest("t", self.write("c.ndjson", [{"id": 10, "mail": "a@b.c", "n": 2}]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT email FROM t WHERE id = 10"), [("a@b.c",)])
        self.assertNotIn("mail", self.schema("t"))

    def test_unknown_proposal_and_usage(self):
        self.base()
        self.assertEqual(self.pm("proposals", "show", "42", "--db", self.db).rc, EXIT_FAILED)
        self.assertEqual(self.pm("proposals", "approve", "--db", self.db).rc, EXIT_USAGE)
        self.assertEqual(self.pm("proposals", "frobnicate", "--db", self.db).rc, EXIT_USAGE)


class TestReplay(E2E):
    def test_inline_heal_replays_rows_of_earlier_runs(self):
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(3)]), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [rec(5, coupon="A")]), expect=EXIT_QUARANTINED,
                    extra=("--policy", "frozen"))
        self.assertEqual(len(self.quarantine()), 1)
        r = self.ingest("t", self.write("c.ndjson", [rec(6, coupon="B")]), expect=EXIT_LOADED)
        self.assertIn("replayed 1 quarantined rows", r.stderr)
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.sql("SELECT coupon FROM t WHERE id = 5"), [("A",)])
        self.assert_invariants("t", 5)

    def test_manual_replay(self):
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(3)]), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [rec(5, n="x")]), expect=EXIT_QUARANTINED)
        r = self.pm("quarantine", "replay", "--table", "t", "--db", self.db, "--json")
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.assertEqual(r.json(), {"loaded": 0, "waiting": 1, "skipped": 0, "incidents_resolved": 0})
        self.assertEqual(self.pm("quarantine", "replay", "--db", self.db).rc, EXIT_USAGE)


class TestLargeReplay(E2E):
    def test_replay_pages_through_a_large_quarantine(self):
        # More rows than one page of the replay (1000), with rows that still
        # do not fit spread among them: every row that fits loads once, the
        # others stay with findings that say why now.
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)
        rows = [rec(100 + i, coupon="C%d" % i, **({"n": "x"} if i % 97 == 0 else {}))
                for i in range(2500)]
        self.ingest("t", self.write("b.ndjson", rows), extra=("--policy", "review"),
                    expect=EXIT_QUARANTINED)
        self.assertEqual(len(self.quarantine()), 2500)
        ps = self.pm("proposals", "list", "--db", self.db, "--json").json()
        add = [p["id"] for p in ps if p["ops"][0]["op"] == "add_column"]
        self.assertEqual(len(add), 1, ps)
        r = self.pm("proposals", "approve", str(add[0]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        stuck = len([i for i in range(2500) if i % 97 == 0])
        self.assertIn("replayed its quarantine: %d rows loaded, %d still wait"
                      % (2500 - stuck, stuck), r.stdout)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"),
                         [(5 + 2500 - stuck, 5 + 2500 - stuck)])
        left = self.quarantine()
        self.assertEqual(len(left), stuck)
        # their findings were restated against the new schema: only the
        # conflict on n is left, not the new field
        self.assertTrue(all(e["kinds"] == ["type_conflict"] for e in left), left[:2])
        self.assert_invariants("t", 5 + 2500)
