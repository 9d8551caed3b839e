"""`pipemend mcp` over a pipe, as an MCP client launches it: the handshake,
tools/list, and the read-only tools against a real warehouse, with nothing
but protocol on stdout and a clean exit at end of input."""
import json

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


INIT = rpc(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "e2e", "version": "1"}})
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
# What pipemend's server offers: completions because its resource templates
# and prompts complete their arguments (mcp_resources.c).
CAPABILITIES = {"tools": {"listChanged": False}, "logging": {},
                "resources": {"subscribe": True, "listChanged": False},
                "prompts": {"listChanged": False}, "completions": {}}


class TestMcpStdio(E2E):
    def session(self, *messages, db=None):
        """Sends messages (dicts, or raw str lines) to one `pipemend mcp`;
        returns its responses, parsed, and the process's result."""
        lines = [m if isinstance(m, str) else json.dumps(m) for m in messages]
        r = self.pm("mcp", "--db", db or self.db, input="\n".join(lines) + "\n", timeout=60)
        self.assertEqual(r.rc, 0, r)
        out = r.stdout.splitlines()
        return [json.loads(line) for line in out], r

    def test_handshake_list_and_call(self):
        self.ingest("orders", self.write("a.ndjson", [{"id": i, "sku": "s%d" % i} for i in range(5)]),
                    expect=EXIT_LOADED)
        self.ingest("orders", self.write("b.ndjson", [{"id": "oops", "sku": "x"}, {"id": 9, "sku": "y"}]),
                    expect=EXIT_QUARANTINED)
        resp, r = self.session(
            INIT, INITIALIZED,
            rpc(2, "tools/list"),
            rpc(3, "tools/call", {"name": "list_tables", "arguments": {}}),
            rpc(4, "tools/call", {"name": "verify_audit_log"}),
            rpc(5, "tools/call", {"name": "no_such_tool"}),
            rpc(6, "tools/call", {"name": "list_tables", "arguments": {"limit": 3}}),
        )
        self.assertEqual([m["id"] for m in resp], [1, 2, 3, 4, 5, 6])
        init = resp[0]["result"]
        self.assertEqual(init["protocolVersion"], "2025-11-25")
        self.assertEqual(init["serverInfo"]["name"], "pipemend")
        self.assertEqual(init["capabilities"], CAPABILITIES)

        tools = {t["name"]: t for t in resp[1]["result"]["tools"]}
        self.assertLessEqual({"list_tables", "verify_audit_log"}, set(tools))
        self.assertFalse([n for n in tools if "approve" in n], "no tool approves: a person does")
        for name in ("list_tables", "verify_audit_log"):
            self.assertTrue(tools[name]["annotations"]["readOnlyHint"], tools[name])
        for t in tools.values():
            self.assertFalse(t["annotations"]["openWorldHint"], t)
            self.assertEqual(t["inputSchema"]["type"], "object")
            self.assertEqual(t["outputSchema"]["type"], "object")

        call = resp[2]["result"]
        self.assertFalse(call["isError"])
        self.assertEqual(call["structuredContent"],
                         {"tables": [{"name": "orders", "version": 1, "rows": 6, "quarantined": 1}]})
        self.assertEqual(json.loads(call["content"][0]["text"]), call["structuredContent"])
        # the same numbers the CLI gives
        status = {t["table"]: t for t in self.pm("status", "--db", self.db, "--json").json()}
        self.assertEqual(status["orders"]["rows"], 6)
        self.assertEqual(status["orders"]["quarantined"], 1)

        audit = resp[3]["result"]["structuredContent"]
        self.assertTrue(audit["intact"])
        self.assertEqual(audit["events"], self.pm("audit", "verify", "--db", self.db, "--json").json()["events"])

        self.assertEqual(resp[4]["error"]["code"], -32602)
        self.assertTrue(resp[5]["result"]["isError"])
        self.assertIn('argument "limit": is not a known argument', resp[5]["result"]["content"][0]["text"])
        self.assertIn("initialized, protocol 2025-11-25", r.stderr)

    def test_framing_on_the_wire(self):
        resp, r = self.session(
            rpc(1, "tools/list"),  # before initialize
            "{not json",
            INIT, INITIALIZED,
            "",
            '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}',
            '[{"jsonrpc":"2.0","id":7,"method":"ping"}]',
        )
        self.assertEqual(resp[0]["error"]["code"], -32600)
        self.assertEqual(resp[1], {"jsonrpc": "2.0", "id": None,
                                   "error": {"code": -32700, "message": resp[1]["error"]["message"]}})
        self.assertEqual(resp[3]["id"], 123456789012345678901234567890)
        self.assertEqual(resp[4]["error"]["code"], -32600)  # no batches after 2025-03-26
        self.assertEqual(len(resp), 5)
        self.assertIn('"id":123456789012345678901234567890,', r.stdout)

    def test_duplicate_keys_refused(self):
        # A key twice in one object, at any depth, would be read as its last
        # value here and maybe its first elsewhere: the message is refused as
        # a parse error (id null: which id it has is as ambiguous) and nothing
        # it asked for happens.
        dups = [
            '{"jsonrpc":"2.0","id":2,"method":"tools/call","method":"ping"}',
            '{"jsonrpc":"2.0","id":3,"id":4,"method":"ping"}',
            '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list_tables",'
            '"arguments":{},"name":"trigger_pipeline"}}',
            '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"list_tables",'
            '"arguments":{"x":[{"deep":{"k":1,"k":2}}]}}}',
            '{"jsonrpc":"2.0","id":7,"method":"ping","params":{"a":1,"\\u0061":2}}',
        ]
        resp, r = self.session(INIT, INITIALIZED, *dups, rpc(8, "ping"))
        self.assertEqual(len(resp), len(dups) + 2, resp)
        for m in resp[1:-1]:
            self.assertEqual((m["id"], m["error"]["code"]), (None, -32700), m)
            self.assertRegex(m["error"]["message"], "^Parse error: duplicate object key")
        self.assertEqual(resp[-1], {"jsonrpc": "2.0", "id": 8, "result": {}})

    def test_missing_warehouse_is_a_tool_error(self):
        # the server still starts; the tool says what to fix
        r = self.pm("mcp", input=json.dumps(INIT) + "\n" + json.dumps(
            rpc(2, "tools/call", {"name": "list_tables"})) + "\n", timeout=60)
        self.assertEqual(r.rc, 0, r)
        resp = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertTrue(resp[1]["result"]["isError"])
        self.assertIn("--db", resp[1]["result"]["content"][0]["text"])
