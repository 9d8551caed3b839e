"""pipemend's last MCP tools over `pipemend mcp`: get_run_log (a run, its
audit events and its quarantine by kind), diff_payload_schema (a payload
checked against a table's schema and contract, nothing loaded) and
trigger_pipeline (a pipeline run as `pipemend run` runs it: refused while
one runs and within 60 s of the last start, audited as agent:<client>).
The pipeline's pipemend.yaml sets no db: every session passes --db."""
import json
import os

from e2e_util import E2E, EXIT_QUARANTINED

CLIENT = "more-e2e"

CONFIG = """\
pipelines:
  - name: orders
    source: feed/*.ndjson
    table: orders
    owner: data@example.com
    policy: review
    contract:
      columns:
        amount: {min: 0, max: 1000}
"""


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


def call(id_, name, **args):
    return rpc(id_, "tools/call", {"name": name, "arguments": args})


INIT = rpc(0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": CLIENT, "version": "1"}})
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def order(i, **over):
    r = {"id": i, "email": "u%d@example.com" % i, "amount": i * 10}
    r.update(over)
    return r


class TestMcpMore(E2E):
    def setUp(self):
        super().setUp()
        self.write_config(CONFIG)

    def session(self, *messages):
        """The responses of one session by id; the notifications the server
        sent on the way (a tool's log messages) are kept in
        self.notifications."""
        lines = [json.dumps(m) for m in (INIT, INITIALIZED) + messages]
        r = self.pm("mcp", "--db", self.db, input="\n".join(lines) + "\n", timeout=120)
        self.assertEqual(r.rc, 0, r)
        out = list(map(json.loads, r.stdout.splitlines()))
        self.notifications = [m for m in out if "id" not in m]
        for n in self.notifications:
            self.assertTrue(n["method"].startswith("notifications/"), n)
        resp = {m["id"]: m for m in out if "id" in m}
        self.assertEqual(resp[0]["result"]["serverInfo"]["name"], "pipemend")
        return resp

    def result(self, resp, id_, error=False):
        self.assertIn("result", resp[id_], resp[id_])
        res = resp[id_]["result"]
        self.assertEqual(res.get("isError", False), error, res)
        if error:
            return res["content"][0]["text"]
        self.assertEqual(json.loads(res["content"][0]["text"]), res["structuredContent"])
        return res["structuredContent"]

    def one(self, name, error=False, **args):
        return self.result(self.session(call(1, name, **args)), 1, error)

    def audit(self):
        return self.pm("audit", "log", "--db", self.db, "--json").json()

    def day2(self):
        """Day 1 loads clean; day 2 has a new field (held for review under
        policy review), a type conflict and a contract violation."""
        self.write("feed/day1.ndjson", [order(i) for i in range(1, 4)])
        r = self.pm("run", "--db", self.db, "orders")
        self.assertEqual(r.rc, 0, r)
        self.write("feed/day2.ndjson", [order(4, coupon="C"), order(5, amount="lots"),
                                        order(6, amount=5000), order(7)])
        r = self.pm("run", "--db", self.db, "orders", "--json")
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        return r.json()["run_id"]

    def test_listed_with_honest_hints(self):
        tools = {t["name"]: t for t in self.session(rpc(1, "tools/list"))[1]["result"]["tools"]}
        for name in ("get_run_log", "diff_payload_schema"):
            a = tools[name]["annotations"]
            self.assertTrue(a["readOnlyHint"], name)
            self.assertFalse(a["openWorldHint"], name)
        a = tools["trigger_pipeline"]["annotations"]
        self.assertEqual((a["readOnlyHint"], a["destructiveHint"], a["idempotentHint"],
                          a["openWorldHint"]), (False, False, False, False))
        for name in ("get_run_log", "diff_payload_schema", "trigger_pipeline"):
            self.assertTrue(tools[name]["title"], name)
            self.assertEqual(tools[name]["outputSchema"]["type"], "object")

    def test_get_run_log(self):
        run_id = self.day2()
        before = self.audit()
        log = self.one("get_run_log", run_id=run_id)
        self.assertEqual(log["run"], [r for r in self.runs() if r["id"] == run_id][0])
        self.assertEqual(log["run"]["status"], "quarantined")
        actions = [e["action"] for e in log["events"]]
        self.assertEqual(actions[0], "run.started")
        self.assertIn("rows.quarantined", actions)
        self.assertIn("incident.open", actions)
        for e in log["events"]:
            self.assertTrue(e["subject"] == "run/%d" % run_id or e["payload"].get("run") == run_id,
                            e)
        self.assertFalse(log["events_truncated"])
        q = log["quarantine"]
        self.assertEqual(q["rows"], len(self.quarantine("--run", str(run_id))))
        self.assertEqual(q["rows"], 3)
        self.assertEqual(q["by_kind"].get("type_conflict"), 1, q)
        self.assertEqual(q["by_kind"].get("new_field"), 1, q)
        self.assertEqual(sum(q["by_kind"].values()), 3, q)
        self.assertEqual(self.audit(), before)  # read-only

        # the first run: no quarantine, and none of day 2's events
        first = self.one("get_run_log", run_id=run_id - 1)
        self.assertEqual(first["quarantine"], {"rows": 0, "by_kind": {}, "truncated": False})
        self.assertNotIn("incident.open", [e["action"] for e in first["events"]])

        msg = self.one("get_run_log", error=True, run_id=9999)
        self.assertIn("no run 9999", msg)
        msg = self.one("get_run_log", error=True, run_id=0)
        self.assertIn("run_id", msg)

    def test_diff_payload_schema(self):
        self.day2()
        fits = self.one("diff_payload_schema", table="orders", payload=order(50))
        self.assertIn("$.findings[*].field", fits.pop("untrusted")["paths"])
        self.assertEqual(fits, {"fits": True, "findings": [], "table_version": 1})
        fits = self.one("diff_payload_schema", table="orders", payload=order(50))
        # a string holding the object is the same
        self.assertEqual(self.one("diff_payload_schema", table="orders",
                                  payload=json.dumps(order(51))), fits)
        r = self.one("diff_payload_schema", table="orders",
                     payload=order(52, amount="lots", region="eu"))
        self.assertFalse(r["fits"])
        kinds = sorted(f["kind"] for f in r["findings"])
        self.assertEqual(kinds, ["new_field", "type_conflict"], r)
        self.assertTrue(all(f.get("message") for f in r["findings"]), r)
        # the contract is checked too
        r = self.one("diff_payload_schema", table="orders", payload=order(53, amount=5000))
        self.assertFalse(r["fits"])
        self.assertEqual([f["kind"] for f in r["findings"]], ["contract"], r)
        self.assertEqual(self.count("orders"), 4)  # nothing loaded

        for bad in ("[1, 2]", "not json", '{"id": 1} {"id": 2}', '{"id": 1}\n{"id": 2}'):
            msg = self.one("diff_payload_schema", error=True, table="orders", payload=bad)
            self.assertIn("not one JSON object", msg, bad)
        msg = self.one("diff_payload_schema", error=True, table="orders", payload=[1])
        self.assertIn("payload", msg)
        msg = self.one("diff_payload_schema", error=True, table="nope", payload={})
        self.assertIn("list_tables", msg)

    def test_trigger_pipeline_progress(self):
        # enough rows for the run to report more than once (every 0.2 s)
        rows = [order(i, amount=i % 1000) for i in range(1, 300001)]
        size = os.path.getsize(self.write("feed/day1.ndjson", rows))
        m = call(1, "trigger_pipeline", pipeline="orders")
        m["params"]["_meta"] = {"progressToken": "run-1"}
        res = self.result(self.session(m), 1)
        self.assertEqual((res["status"], res["rows_loaded"]), ("succeeded", 300000), res)
        prog = [n["params"] for n in self.notifications
                if n["method"] == "notifications/progress"]
        self.assertGreaterEqual(len(prog), 1, self.notifications)
        for p in prog:
            self.assertEqual(p["progressToken"], "run-1")
            self.assertEqual(p["total"], size)
            self.assertRegex(p["message"], r"^\d+ rows committed$")
        done = [p["progress"] for p in prog]
        self.assertEqual(done, sorted(set(done)), "progress grows from one to the next")
        self.assertEqual(done[-1], size, "the last one: every byte read")
        # without a token: none
        self.sql_exec("UPDATE _pipemend_runs SET started_at = ?", ("2000-01-01T00:00:00.000Z",))
        self.write("feed/day2.ndjson", [order(300001)])
        self.result(self.session(call(1, "trigger_pipeline", pipeline="orders")), 1)
        self.assertEqual([n for n in self.notifications
                          if n["method"] == "notifications/progress"], [])

    def test_trigger_pipeline(self):
        self.write("feed/day1.ndjson", [order(i) for i in range(1, 4)] + [order(4, amount="x")])
        r = self.one("trigger_pipeline", pipeline="orders")
        run_id = r["run_id"]
        self.assertEqual(r, {"run_id": run_id, "status": "quarantined", "rows_read": 4,
                             "rows_loaded": 3, "rows_quarantined": 1})
        self.assertEqual(self.count("orders"), 3)
        run = self.last_run()
        self.assertEqual((run["id"], run["pipeline"], run["status"]),
                         (run_id, "orders", "quarantined"))
        ev = [e for e in self.audit() if e["action"] == "pipeline.triggered"]
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual((ev[0]["actor"], ev[0]["subject"]), ("agent:" + CLIENT, "pipeline/orders"))

        # again at once: rate-limited, nothing runs
        msg = self.one("trigger_pipeline", error=True, pipeline="orders")
        self.assertIn("retry in", msg)
        self.assertEqual(len(self.runs()), 1)

        # a minute later it runs again, from the checkpoint
        self.sql_exec("UPDATE _pipemend_runs SET started_at = ? WHERE id = ?",
                      ("2000-01-01T00:00:00.000Z", run_id))
        self.write("feed/day2.ndjson", [order(5)])
        r = self.one("trigger_pipeline", pipeline="orders")
        self.assertEqual((r["status"], r["rows_read"], r["rows_loaded"]), ("succeeded", 1, 1), r)
        self.assertEqual(self.count("orders"), 4)

        # refused while a run of it is running (a live process: this one)
        self.sql_exec("UPDATE _pipemend_runs SET status = 'running', finished_at = NULL, "
                      "started_at = ?, pid = ? WHERE id = ?",
                      ("2000-01-01T00:00:00.000Z", os.getpid(), r["run_id"]))
        msg = self.one("trigger_pipeline", error=True, pipeline="orders")
        self.assertIn("running", msg)
        self.assertEqual(len(self.runs()), 2)

        msg = self.one("trigger_pipeline", error=True, pipeline="nope")
        self.assertIn("list_pipelines", msg)
        self.assertEqual(len([e for e in self.audit() if e["action"] == "pipeline.triggered"]), 2)
