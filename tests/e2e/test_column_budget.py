"""The budget of columns added without a person (policy
auto_columns_per_day, per table and 24 hours; 32 by default), on both
backends: past it new columns wait for a person, whether the rules heal a
run or an agent calls apply_fix; and one poisoned record (hundreds of new
fields) does not turn the batch's automatic repair into hundreds of
columns."""
import json

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED


def call(id_, name, **args):
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call",
            "params": {"name": name, "arguments": args}}


INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "budget-e2e", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class TestColumnBudget(E2E):
    def base(self, budget=None):
        if budget:
            self.write_config("tables:\n  t:\n    policy: {mode: auto, auto_columns_per_day: %d}\n"
                              % budget)
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(5)]),
                    expect=EXIT_LOADED)

    def pending(self):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return [p for p in r.json() if p["state"] == "pending"]

    def test_rules_add_columns_up_to_the_budget_then_wait(self):
        self.base(budget=3)
        rows = [{"id": 10, "n": 1, "a1": 1, "a2": 2, "a3": 3, "a4": 4, "a5": 5}]
        r = self.ingest("t", self.write("b.ndjson", rows), expect=EXIT_QUARANTINED)
        cols = self.sql_columns("t")
        self.assertEqual(cols, ["id", "n", "a1", "a2", "a3"])
        waiting = sorted(p["ops"][0]["column"] for p in self.pending())
        self.assertEqual(waiting, ["a4", "a5"])
        # the budget is spent for the day: the next new field waits too
        self.ingest("t", self.write("c.ndjson", [{"id": 11, "n": 1, "b1": 1}]),
                    expect=EXIT_QUARANTINED)
        self.assertNotIn("b1", self.sql_columns("t"))
        self.assertIn("b1", [p["ops"][0]["column"] for p in self.pending()])
        # a person is not bound by it
        pid = [p["id"] for p in self.pending() if p["ops"][0]["column"] == "b1"][0]
        r = self.pm("proposals", "approve", str(pid), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("b1", self.sql_columns("t"))
        self.assertEqual(self.sql("SELECT b1 FROM t WHERE id = 11"), [(1,)])

    def test_poisoned_record_does_not_become_hundreds_of_columns(self):
        self.base()
        good = [{"id": 100 + i, "n": i, "coupon": "C%d" % i} for i in range(50)]
        poison = dict({"id": 999, "n": 0}, **{"junk_%03d" % k: k for k in range(300)})
        r = self.ingest("t", self.write("b.ndjson", good + [poison]), expect=EXIT_QUARANTINED)
        self.assertIn("more than 16 new fields", r.stderr)
        self.assertEqual(self.sql_columns("t"), ["id", "n", "coupon"])
        self.assertEqual(self.count("t"), 55)  # every good row landed
        self.assertEqual(self.sql("SELECT line FROM _pipemend_quarantine "
                                  "WHERE status = 'quarantined'"), [(51,)])
        self.assertTrue(all(len(p["ops"]) < 20 for p in self.pending()), self.pending())

    def test_agent_apply_fix_is_held_past_the_budget(self):
        self.base(budget=2)
        ops = [{"op": "add_column", "column": "x%d" % i, "type": "text"} for i in range(3)]
        lines = [json.dumps(m) for m in (INIT, INITIALIZED, call(1, "propose_fix", table="t",
                                                               ops=ops))]
        r = self.pm("mcp", "--db", self.db, input="\n".join(lines) + "\n")
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        pid = resp[1]["result"]["structuredContent"]["proposal"]
        lines = [json.dumps(m) for m in (INIT, INITIALIZED, call(2, "apply_fix", proposal=pid))]
        r = self.pm("mcp", "--db", self.db, input="\n".join(lines) + "\n")
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        res = resp[2]["result"]["structuredContent"]
        self.assertEqual((res["applied"], res["awaiting_human_approval"]), (False, True), res)
        self.assertIn("budget of columns added without a person (2 in 24 hours, 0 used",
                      res["message"])
        self.assertEqual(self.sql_columns("t"), ["id", "n"])
        # two fit
        lines = [json.dumps(m) for m in (INIT, INITIALIZED,
                                         call(3, "propose_fix", table="t", ops=ops[:2]))]
        r = self.pm("mcp", "--db", self.db, input="\n".join(lines) + "\n")
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        pid2 = resp[3]["result"]["structuredContent"]["proposal"]
        lines = [json.dumps(m) for m in (INIT, INITIALIZED, call(4, "apply_fix", proposal=pid2))]
        r = self.pm("mcp", "--db", self.db, input="\n".join(lines) + "\n")
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        self.assertTrue(resp[4]["result"]["structuredContent"]["applied"], resp[4])
        self.assertEqual(self.sql_columns("t"), ["id", "n", "x0", "x1"])

    def test_budget_must_be_a_count(self):
        self.write_config("tables:\n  t:\n    policy: {auto_columns_per_day: 0}\n")
        r = self.pm("status", "--db", self.db, "--config", self.path("pipemend.yaml"))
        self.assertEqual(r.rc, 2, r)
        self.assertIn("auto_columns_per_day", r.stderr)
        self.assertIn("must be a positive integer", r.stderr)
