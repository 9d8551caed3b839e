"""Reviewable widenings that change existing values show the person what
they would do, on both backends: int64 -> float64 rounds integers beyond
2^53, timestamp -> timestamptz reads each value in the session's time zone
(UTC on SQLite). The dry run (proposals show, its --json, MCP dry_run_fix)
counts the rows and gives a few values before and after, and what the
approval then writes is what it showed."""
import json
import re

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED

BIG = [9007199254740993, 4611686018427387905]  # beyond 2^53: not float64s


class TestWidenValueChanges(E2E):
    def setUp(self):
        super().setUp()
        base = [{"id": 1, "big": BIG[0], "ts": "2026-11-01 10:00:00"},
                {"id": 2, "big": BIG[1], "ts": "2026-11-02 11:30:00"},
                {"id": 3, "big": 42, "ts": "2026-11-03 00:00:00"},
                {"id": 4, "big": 9007199254740994, "ts": "2026-11-04 00:00:00"}]  # exact
        self.ingest("t", self.write("a.ndjson", base), expect=EXIT_LOADED)
        drift = [{"id": 5, "big": 1.5, "ts": "2026-11-05 00:00:00"},
                 {"id": 6, "big": 7, "ts": "2026-11-06T08:00:00+01:00"}]
        self.ingest("t", self.write("b.ndjson", drift), expect=EXIT_QUARANTINED)

    def proposal(self, column):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        ps = [p for p in r.json() if p["ops"][0].get("column") == column
              and p["ops"][0]["op"] == "widen_column"]
        self.assertEqual(len(ps), 1, r.json())
        return ps[0]

    def test_int64_to_float64_shows_the_rounded_values(self):
        p = self.proposal("big")
        self.assertEqual(p["state"], "pending")  # reviewable: waits for a person
        vc = p["dry_run"]["value_changes"]
        self.assertEqual(len(vc), 1, vc)
        self.assertEqual((vc[0]["column"], vc[0]["from"], vc[0]["to"]),
                         ("big", "int64", "float64"))
        self.assertEqual(vc[0]["rows"], 3)  # beyond 2^53; one of them is exact
        self.assertEqual(sorted((s["before"], s["after"]) for s in vc[0]["samples"]),
                         [("4611686018427387905", "4611686018427387904"),
                          ("9007199254740993", "9007199254740992")])
        self.assertIn("2^53", vc[0]["note"])
        r = self.pm("proposals", "show", str(p["id"]), "--db", self.db)
        self.assertIn("changes existing values: 3 rows of big (int64 -> float64)", r.stdout)
        self.assertIn("9007199254740993  ->  9007199254740992", r.stdout)
        # MCP's dry_run_fix shows the same
        msgs = [{"jsonrpc": "2.0", "id": 0, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "widen-e2e", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                 "params": {"name": "dry_run_fix", "arguments": {"proposal": p["id"]}}}]
        r = self.pm("mcp", "--db", self.db, input="\n".join(json.dumps(m) for m in msgs) + "\n")
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        dry = resp[1]["result"]["structuredContent"]["dry_run"]
        self.assertEqual(dry["value_changes"], vc)
        # what the approval writes is what the dry run showed
        r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        got = dict(self.sql("SELECT id, big FROM t WHERE id IN (1, 2)"))
        self.assertEqual(got, {1: 9007199254740992.0, 2: 4611686018427387904.0})

    def test_timestamp_to_timestamptz_shows_the_zone_it_reads_in(self):
        p = self.proposal("ts")
        vc = p["dry_run"]["value_changes"]
        self.assertEqual((vc[0]["column"], vc[0]["from"], vc[0]["to"], vc[0]["rows"]),
                         ("ts", "timestamp", "timestamptz", 4))
        self.assertEqual(len(vc[0]["samples"]), 4)
        first = [s for s in vc[0]["samples"] if s["before"].startswith("2026-11-01")][0]
        self.assertTrue(re.match(r"^2026-11-01 10:00:00(\.0+)?[+-]\d\d", first["after"]), first)
        self.assertIn("time zone", vc[0]["note"])
        r = self.pm("proposals", "show", str(p["id"]), "--db", self.db)
        self.assertIn("changes existing values: 4 rows of ts (timestamp -> timestamptz)", r.stdout)
        if self.backend == "pg":
            r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db, "--actor", "alice")
            self.assertEqual(r.rc, 0, r)
            # the instant the dry run named is the one stored
            self.assertEqual(self.sql("SELECT extract(epoch FROM ts) = extract(epoch FROM "
                                      "CAST(? AS timestamptz)) FROM t WHERE id = 1",
                                      (first["after"],)), [(True,)])
