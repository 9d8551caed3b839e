// The official MCP TypeScript SDK's Client driving pipemend against a real
// SQLite warehouse with a drifted feed, over both transports: `pipemend mcp`
// (stdio) and `pipemend serve` (Streamable HTTP).
import assert from "node:assert/strict";
import { after, before, describe, test as nodeTest } from "node:test";

import { ErrorCode, LATEST_PROTOCOL_VERSION, McpError } from "@modelcontextprotocol/sdk/types.js";

import { buildWarehouse, pm, transports } from "./lib.mjs";

const PROTOCOL = "2025-11-25";

for (const tr of transports) describe(`pipemend with the SDK client (${tr.name})`, () => {
  let wh, conn, client;
  const test = (name, fn) => nodeTest(`${name} (${tr.name})`, fn);

  before(async () => {
    wh = buildWarehouse();
    conn = await tr.connect(wh);
    client = conn.client;
  });
  after(async () => {
    if (conn) await tr.disconnect(conn);
  });

  test("initialize negotiates 2025-11-25", async () => {
    assert.equal(LATEST_PROTOCOL_VERSION, PROTOCOL, "the pinned SDK asks for 2025-11-25");
    const init = conn.transport.received.find((m) => m.result && m.result.protocolVersion);
    assert.ok(init, "an initialize result");
    assert.equal(init.result.protocolVersion, PROTOCOL);
    assert.equal(client.getServerVersion().name, "pipemend");
    assert.ok(client.getServerCapabilities().tools, "tools capability");
    // stderr is a pipe of its own: its line may come after the result
    for (let i = 0; i < 100 && !/initialized, protocol/.test(conn.transport.stderrText ?? ""); i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.match(conn.transport.stderrText, /initialized, protocol 2025-11-25/);
  });

  test("listTools: every tool is described honestly", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of ["list_tables", "verify_audit_log"]) assert.ok(names.includes(n), `${n} in ${names}`);
    assert.equal(new Set(names).size, names.length, "no duplicate names");
    for (const t of tools) {
      assert.equal(typeof t.title, "string", `${t.name}: title`);
      assert.ok(t.title.length > 0, `${t.name}: title`);
      assert.equal(typeof t.description, "string", `${t.name}: description`);
      assert.equal(t.inputSchema?.type, "object", `${t.name}: inputSchema`);
      assert.equal(t.outputSchema?.type, "object", `${t.name}: outputSchema`);
      const a = t.annotations;
      assert.ok(a, `${t.name}: annotations`);
      for (const h of ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"])
        assert.equal(typeof a[h], "boolean", `${t.name}: ${h} is a boolean`);
      assert.equal(a.openWorldHint, false, `${t.name}: openWorldHint`);
      if (a.readOnlyHint) assert.equal(a.destructiveHint, false, `${t.name}: read-only yet destructive`);
    }
    for (const n of ["list_tables", "verify_audit_log"]) assert.equal(tools.find((t) => t.name === n).annotations.readOnlyHint, true);
  });

  test("list_tables matches `pipemend status --json`", async () => {
    // callTool validates structuredContent against the tool's outputSchema
    const r = await client.callTool({ name: "list_tables", arguments: {} });
    assert.equal(r.isError, false);
    assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent);
    const status = pm(wh.dir, ["status", "--db", wh.db, "--json"], { expect: 0 }).json();
    assert.equal(r.structuredContent.tables.length, status.length);
    for (const s of status) {
      const t = r.structuredContent.tables.find((x) => x.name === s.table);
      assert.ok(t, `table ${s.table}`);
      assert.equal(t.version, s.version);
      assert.equal(t.rows, s.rows);
      assert.equal(t.quarantined, s.quarantined);
    }
    const t = r.structuredContent.tables.find((x) => x.name === "t");
    assert.equal(t.rows, wh.day1.length);
    assert.equal(t.quarantined, wh.day2.length);
  });

  test("verify_audit_log: intact, as the CLI says", async () => {
    const r = await client.callTool({ name: "verify_audit_log", arguments: {} });
    assert.equal(r.isError, false);
    assert.equal(r.structuredContent.intact, true);
    const cli = pm(wh.dir, ["audit", "verify", "--db", wh.db, "--json"], { expect: 0 }).json();
    assert.equal(r.structuredContent.events, cli.events);
  });

  test("an unknown tool is JSON-RPC -32602", async () => {
    await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }), (e) => {
      assert.ok(e instanceof McpError, String(e));
      assert.equal(e.code, ErrorCode.InvalidParams);
      assert.equal(e.code, -32602);
      return true;
    });
  });

  test("arguments outside the input schema are a tool error", async () => {
    const r = await client.callTool({ name: "list_tables", arguments: { limit: 3 } });
    assert.equal(r.isError, true);
    assert.match(r.content[0].text, /limit/);
  });

  test("ping", async () => {
    assert.deepEqual(await client.ping(), {});
  });

  if (tr.name === "http")
    test("the session: a 32-byte hex Mcp-Session-Id, the negotiated MCP-Protocol-Version sent back", () => {
      assert.match(conn.transport.sessionId ?? "", /^[0-9a-f]{64}$/);
      assert.equal(conn.transport.protocolVersion, PROTOCOL);
    });
});
