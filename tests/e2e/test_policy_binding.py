"""A proposal keeps the policy it was made under (security review: apply_fix
applied what a `review` policy held). `ingest --policy review` with no
configuration records the proposal with mode review; an MCP server started
with only --db (whose own policy is the default, auto) must not apply it
through apply_fix, nor one whose configuration says auto: every decision
takes the strictest of the recorded policy, the table's and the deciding
process's. A person still approves it. (A later run decides by the policy
its operator gave it: test_heal's frozen-then-auto replay.)"""
import json

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


class TestPolicyBinding(E2E):
    def mcp_call(self, name, **args):
        msgs = [rpc(0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                      "clientInfo": {"name": "binding-e2e", "version": "1"}}),
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                rpc(1, "tools/call", {"name": name, "arguments": args})]
        r = self.pm("mcp", "--db", self.db, input="\n".join(map(json.dumps, msgs)) + "\n")
        self.assertEqual(r.rc, 0, r)
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        return resp[1]["result"]

    def pending(self):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return [p for p in r.json() if p["state"] == "pending"]

    def test_a_held_fix_stays_held_whoever_asks(self):
        self.ingest("orders", self.write("d1.ndjson", [{"id": 1, "n": 1}]), expect=EXIT_LOADED)
        self.ingest("orders", self.write("d2.ndjson", [{"id": 2, "n": 2, "coupon": "X"}]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        pending = self.pending()
        self.assertEqual(len(pending), 1, pending)
        pid = pending[0]["id"]
        self.assertNotIn("coupon", self.column_types("orders"))

        # the MCP server has no configuration: its own policy is auto
        res = self.mcp_call("apply_fix", proposal=pid)
        self.assertFalse(res.get("isError"), res)
        out = res["structuredContent"]
        self.assertFalse(out["applied"], out)
        self.assertTrue(out["awaiting_human_approval"], out)
        self.assertNotIn("coupon", self.column_types("orders"))
        self.assertEqual([p["id"] for p in self.pending()], [pid])

        # nor the same through MCP with a configuration that says auto
        self.write_config("tables:\n  orders:\n    policy: auto\n")
        res = self.mcp_call("apply_fix", proposal=pid)
        self.assertFalse(res["structuredContent"]["applied"], res)
        self.assertNotIn("coupon", self.column_types("orders"))

        # a person approves: it applies, and the held rows load
        r = self.pm("proposals", "approve", str(pid), "--db", self.db, "--actor", "ops")
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertIn("coupon", self.column_types("orders"))
        self.assertEqual(self.count("orders"), 2)

    def test_a_fix_made_under_auto_still_heals_by_itself(self):
        # the binding only ever makes a decision stricter
        self.ingest("orders", self.write("d1.ndjson", [{"id": 1, "n": 1}]), expect=EXIT_LOADED)
        self.ingest("orders", self.write("d2.ndjson", [{"id": 2, "n": 2, "coupon": "X"}]),
                    expect=EXIT_LOADED)
        self.assertIn("coupon", self.column_types("orders"))
        self.assertEqual(self.pending(), [])
