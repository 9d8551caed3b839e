// Resources and prompts through the SDK client over both transports, then
// the edges of the Streamable HTTP transport (`pipemend serve`) with raw
// HTTP requests: status codes and their JSON-RPC error bodies, sessions,
// DNS-rebinding (Host) and Origin checks, the bearer token, and the refusal
// to listen beyond loopback without one.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import http from "node:http";
import os from "node:os";
import { after, before, describe, test as nodeTest, test } from "node:test";

import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";

import { BIN, buildWarehouse, cleanEnv, connectHttp, disconnect, httpRequest, pm, SANITIZER_RE, serve, transports } from "./lib.mjs";

const PROTOCOL = "2025-11-25";
const ACCEPT = "application/json, text/event-stream";
const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: "raw-http", version: "1.0.0" } },
};

function rejectsWith(promise, code, re) {
  return assert.rejects(promise, (e) => {
    assert.ok(e instanceof McpError, String(e));
    assert.equal(e.code, code, String(e));
    if (re) assert.match(e.message, re);
    return true;
  });
}

for (const tr of transports)
  describe(`resources and prompts (${tr.name})`, () => {
    let wh, conn, client, incident;
    const test = (name, fn) => nodeTest(`${name} (${tr.name})`, fn);

    before(async () => {
      wh = buildWarehouse();
      incident = pm(wh.dir, ["incidents", "list", "--db", wh.db, "--json"], { expect: 0 }).json()[0];
      conn = await tr.connect(wh, "resources");
      client = conn.client;
    });
    after(async () => {
      if (conn) await tr.disconnect(conn);
    });

    test("resources/list and resources/templates/list", async () => {
      const { resources } = await client.listResources();
      assert.ok(resources.some((r) => r.uri === "pipemend://audit/recent" && r.mimeType === "application/json"), JSON.stringify(resources));
      const { resourceTemplates } = await client.listResourceTemplates();
      const tpl = resourceTemplates.map((r) => r.uriTemplate);
      for (const u of ["pipemend://tables/{name}/schema", "pipemend://incidents/{id}", "pipemend://runs/{id}/log"]) assert.ok(tpl.includes(u), `${u} in ${tpl}`);
    });

    test("read pipemend://tables/t/schema: the schema the CLI shows", async () => {
      const uri = "pipemend://tables/t/schema";
      const r = await client.readResource({ uri });
      assert.equal(r.contents.length, 1);
      assert.equal(r.contents[0].uri, uri);
      assert.equal(r.contents[0].mimeType, "application/json");
      const got = JSON.parse(r.contents[0].text);
      const cli = pm(wh.dir, ["schema", "show", "--db", wh.db, "--table", "t", "--json"], { expect: 0 }).json();
      assert.equal(got.version, cli.version, r.contents[0].text);
      const cols = JSON.stringify(got);
      for (const c of cli.columns) assert.ok(cols.includes(`"${c.name}"`), `column ${c.name} in ${cols}`);
    });

    test("read pipemend://audit/recent: the events the audit log holds", async () => {
      const r = await client.readResource({ uri: "pipemend://audit/recent" });
      const got = JSON.parse(r.contents[0].text);
      const events = Array.isArray(got) ? got : got.events;
      assert.ok(Array.isArray(events) && events.length > 0, r.contents[0].text.slice(0, 500));
      const n = pm(wh.dir, ["audit", "verify", "--db", wh.db, "--json"], { expect: 0 }).json().events;
      assert.equal(events.at(-1).seq, n, "the last event is the log's last");
      assert.ok(events.every((e) => typeof e.action === "string" && typeof e.hash === "string"), "events with action and hash");
    });

    test("read pipemend://incidents/{id} of a real incident", async () => {
      const uri = `pipemend://incidents/${incident.id}`;
      const r = await client.readResource({ uri });
      assert.equal(r.contents[0].uri, uri);
      assert.match(r.contents[0].text, /email/, "the incident names the new column");
    });

    test("an unknown resource is -32002", async () => {
      await rejectsWith(client.readResource({ uri: "pipemend://tables/no_such_table/schema" }), -32002);
      await rejectsWith(client.readResource({ uri: "pipemend://nothing/here" }), -32002);
    });

    test("prompts: diagnose_incident with a real incident id", async () => {
      const { prompts } = await client.listPrompts();
      const p = prompts.find((x) => x.name === "diagnose_incident");
      assert.ok(p, JSON.stringify(prompts.map((x) => x.name)));
      assert.ok(p.arguments.some((a) => a.name === "incident_id" && a.required), JSON.stringify(p.arguments));
      const r = await client.getPrompt({ name: "diagnose_incident", arguments: { incident_id: String(incident.id) } });
      assert.ok(r.messages.length >= 1);
      assert.equal(r.messages[0].role, "user");
      assert.equal(r.messages[0].content.type, "text");
      assert.match(r.messages[0].content.text, new RegExp(`incident ${incident.id}\\b`));
      assert.match(r.messages[0].content.text, new RegExp(`pipemend://incidents/${incident.id}`));
      await rejectsWith(client.getPrompt({ name: "diagnose_incident", arguments: {} }), ErrorCode.InvalidParams);
      await rejectsWith(client.getPrompt({ name: "no_such_prompt", arguments: {} }), ErrorCode.InvalidParams);
    });
  });

// ---- raw HTTP ---------------------------------------------------------------

/** POST of one JSON-RPC message (object or text) with the headers a client
 * must send, headers overriding them. */
function post(url, body, headers = {}) {
  return httpRequest(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: ACCEPT, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** An HTTP error with a JSON-RPC error body: id null, code, message. */
function assertRpcError(res, status, re, code = -32600) {
  const show = `${res.status} ${JSON.stringify(res.headers)} ${res.text.slice(0, 500)}`;
  assert.equal(res.status, status, show);
  assert.match(res.headers["content-type"] ?? "", /^application\/json/, show);
  const b = res.json();
  assert.equal(b.jsonrpc, "2.0", show);
  assert.equal(b.id, null, show);
  assert.equal(b.error?.code, code, show);
  if (re) assert.match(b.error.message, re, show);
  return b;
}

/** A session made by hand: initialize, then notifications/initialized. */
async function session(url, headers = {}) {
  const r = await post(url, INIT, headers);
  assert.equal(r.status, 200, r.text);
  const sid = r.headers["mcp-session-id"];
  assert.match(sid ?? "", /^[0-9a-f]{64}$/, JSON.stringify(r.headers));
  assert.equal(r.json().result.protocolVersion, PROTOCOL);
  const n = await post(url, { jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL, ...headers });
  assert.equal(n.status, 202, n.text);
  assert.equal(n.text, "");
  return sid;
}

/** Opens a GET stream: resolves once its headers are in, with {status,
 * headers, body(): what came so far, close()}. */
function openGet(url, headers) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "GET", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("error", () => {});
      resolve({ status: res.statusCode, headers: res.headers, body: () => text, close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("Streamable HTTP edges (raw requests to pipemend serve)", () => {
  let wh, srv, url, sid;
  const h = () => ({ "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL });

  before(async () => {
    wh = buildWarehouse();
    srv = await serve(wh);
    url = srv.url;
    sid = await session(url);
  });
  after(async () => {
    if (srv) await srv.stop();
  });

  test("serve prints its URL: loopback, the port it took", () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    assert.ok(srv.port > 0);
    assert.equal(srv.stdoutText, `pipemend: MCP over Streamable HTTP at ${url}\n`, "one line on stdout");
  });

  test("a request is answered with application/json; a notification with 202", async () => {
    const r = await post(url, { jsonrpc: "2.0", id: 2, method: "tools/list" }, h());
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers["content-type"], /^application\/json/);
    const b = r.json();
    assert.equal(b.id, 2);
    assert.ok(b.result.tools.some((t) => t.name === "list_tables"));
    const n = await post(url, { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 999 } }, h());
    assert.equal(n.status, 202, n.text);
  });

  test("tools/call is an SSE stream: priming event, then the response, then the end", async () => {
    const r = await post(url, { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "list_tables", arguments: {} } }, h());
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers["content-type"], /^text\/event-stream/);
    const events = r.text.split("\n\n").filter((e) => e.trim());
    assert.match(events[0], /^id: \S+\nretry: \d+\ndata: ?$/m, `a priming event first: ${JSON.stringify(events[0])}`);
    const data = events.flatMap((e) => e.split("\n").filter((l) => l.startsWith("data: ") && l.length > 6).map((l) => JSON.parse(l.slice(6))));
    assert.equal(data.length, 1, r.text);
    assert.equal(data[0].id, 3);
    assert.equal(data[0].result.isError, false);
    assert.equal(data[0].result.structuredContent.tables[0].name, "t");
  });

  test("POST without Mcp-Session-Id (not initialize): 400", async () => {
    assertRpcError(await post(url, { jsonrpc: "2.0", id: 4, method: "tools/list" }), 400, /Mcp-Session-Id/);
  });

  test("GET without Mcp-Session-Id: 400", async () => {
    assertRpcError(await httpRequest(url, { method: "GET", headers: { accept: "text/event-stream" } }), 400, /Mcp-Session-Id/);
  });

  test("an unknown session: 404", async () => {
    const other = crypto.randomBytes(32).toString("hex");
    assertRpcError(await post(url, { jsonrpc: "2.0", id: 5, method: "ping" }, { "mcp-session-id": other }), 404, /no session/);
  });

  test("a message that is not JSON-RPC: 400 with the JSON-RPC error", async () => {
    const r = await post(url, "{not json", h());
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().error.code, -32700, r.text);
  });

  test("DELETE ends the session: 200, then 404 for it", async () => {
    const s = await session(url);
    const d = await httpRequest(url, { method: "DELETE", headers: { "mcp-session-id": s } });
    assert.equal(d.status, 200, d.text);
    assertRpcError(await post(url, { jsonrpc: "2.0", id: 6, method: "ping" }, { "mcp-session-id": s }), 404, /no session/);
    assertRpcError(await httpRequest(url, { method: "GET", headers: { "mcp-session-id": s, accept: "text/event-stream" } }), 404);
    assertRpcError(await httpRequest(url, { method: "DELETE", headers: { "mcp-session-id": s } }), 404);
  });

  test("one GET stream per session: a second is 409", async () => {
    const s = await session(url);
    const g = await openGet(url, { "mcp-session-id": s, accept: "text/event-stream" });
    try {
      assert.equal(g.status, 200);
      assert.match(g.headers["content-type"], /^text\/event-stream/);
      assertRpcError(await httpRequest(url, { method: "GET", headers: { "mcp-session-id": s, accept: "text/event-stream" } }), 409);
    } finally {
      g.close();
    }
    assert.equal((await httpRequest(url, { method: "DELETE", headers: { "mcp-session-id": s } })).status, 200);
  });

  test("Host of another name (DNS rebinding): 403; a loopback name with the right port passes", async () => {
    assertRpcError(await post(url, INIT, { host: "evil.example.com" }), 403, /Host/);
    assertRpcError(await post(url, INIT, { host: `evil.example.com:${srv.port}` }), 403, /Host/);
    assertRpcError(await post(url, INIT, { host: `127.0.0.1:${srv.port === 1 ? 2 : 1}` }), 403, /Host/);
    const ok = await post(url, { jsonrpc: "2.0", id: 7, method: "ping" }, { ...h(), host: `localhost:${srv.port}` });
    assert.equal(ok.status, 200, ok.text);
  });

  test("Origin: a foreign one 403, http://localhost:PORT accepted", async () => {
    assertRpcError(await post(url, INIT, { origin: "http://evil.example.com" }), 403, /Origin/);
    assertRpcError(await post(url, { jsonrpc: "2.0", id: 8, method: "ping" }, { ...h(), origin: "http://evil.example.com" }), 403, /Origin/);
    assertRpcError(await post(url, INIT, { origin: "http://localhost.evil.example.com" }), 403, /Origin/);
    const ok = await post(url, INIT, { origin: `http://localhost:${srv.port}` });
    assert.equal(ok.status, 200, ok.text);
    const ok2 = await post(url, { jsonrpc: "2.0", id: 9, method: "ping" }, { ...h(), origin: `http://127.0.0.1:${srv.port}` });
    assert.equal(ok2.status, 200, ok2.text);
  });

  test("Content-Type text/plain: 415", async () => {
    assertRpcError(await post(url, { jsonrpc: "2.0", id: 10, method: "ping" }, { ...h(), "content-type": "text/plain" }), 415);
  });

  test("Accept without JSON and SSE: 406", async () => {
    assertRpcError(await post(url, { jsonrpc: "2.0", id: 11, method: "ping" }, { ...h(), accept: "text/html" }), 406);
    assertRpcError(await post(url, { jsonrpc: "2.0", id: 12, method: "ping" }, { ...h(), accept: "application/json" }), 406);
    assertRpcError(await httpRequest(url, { method: "GET", headers: { ...h(), accept: "application/json" } }), 406);
  });

  test("a 5 MiB body: 413", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 13, method: "ping", params: { pad: "x".repeat(5 << 20) } });
    assertRpcError(await post(url, body, h()), 413);
    // and the server goes on
    assert.equal((await post(url, { jsonrpc: "2.0", id: 14, method: "ping" }, h())).status, 200);
  });

  test("PUT: 405 with Allow", async () => {
    const r = await httpRequest(url, { method: "PUT", headers: { ...h(), "content-type": "application/json", accept: ACCEPT }, body: "{}" });
    assertRpcError(r, 405);
    assert.match(r.headers.allow ?? "", /GET/);
    assert.match(r.headers.allow ?? "", /POST/);
    assert.match(r.headers.allow ?? "", /DELETE/);
  });

  test("a path other than /mcp: 404", async () => {
    assertRpcError(await post(url.replace(/\/mcp$/, "/other"), INIT), 404, /\/mcp/);
  });

  test("a JSON-RPC batch under 2025-11-25 (no batches in that revision): 400 with -32600", async () => {
    const r = await post(url, [{ jsonrpc: "2.0", id: 17, method: "ping" }, { jsonrpc: "2.0", id: 18, method: "ping" }], h());
    const b = r.json();
    assert.equal(b.error?.code, -32600, r.text);
    assert.equal(
      r.status,
      400,
      `SERVER BUG: a batch the session's revision (2025-11-25) does not accept is answered HTTP ${r.status} with the ` +
        `JSON-RPC error ${r.text}; src/http/mcp_route.h says "a message that is not a valid request: 400 with the JSON-RPC error as ` +
        `body" (as a request without "method" gets), and MCP 2025-11-25 says a server that cannot accept the input ` +
        `MUST return an HTTP error status such as 400.`,
    );
  });

  test("a JSON-RPC batch under 2025-03-26: an array of the responses", async () => {
    const r0 = await post(url, { ...INIT, params: { ...INIT.params, protocolVersion: "2025-03-26" } });
    assert.equal(r0.status, 200, r0.text);
    assert.equal(r0.json().result.protocolVersion, "2025-03-26");
    const s = r0.headers["mcp-session-id"];
    assert.equal((await post(url, { jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": s })).status, 202);
    const r = await post(url, [{ jsonrpc: "2.0", id: 19, method: "ping" }, { jsonrpc: "2.0", method: "notifications/initialized" }, { jsonrpc: "2.0", id: 20, method: "tools/list" }], {
      "mcp-session-id": s,
      "mcp-protocol-version": "2025-03-26",
    });
    assert.equal(r.status, 200, r.text);
    const b = r.json();
    assert.ok(Array.isArray(b), r.text.slice(0, 300));
    assert.deepEqual(b.map((m) => m.id).sort(), [19, 20]);
    assert.ok(b.find((m) => m.id === 20).result.tools.length > 0);
  });

  test("an unsupported MCP-Protocol-Version: 400", async () => {
    assertRpcError(await post(url, { jsonrpc: "2.0", id: 15, method: "ping" }, { ...h(), "mcp-protocol-version": "1999-01-01" }), 400, /MCP-Protocol-Version/);
    const ok = await post(url, { jsonrpc: "2.0", id: 16, method: "ping" }, h());
    assert.equal(ok.status, 200, ok.text);
  });
});

describe("pipemend serve with a bearer token", () => {
  const TOKEN = crypto.randomBytes(24).toString("hex"); // 48 characters
  let wh, srv;

  before(async () => {
    wh = buildWarehouse();
    srv = await serve(wh, { token: TOKEN });
  });
  after(async () => {
    if (srv) await srv.stop();
  });

  test("no Authorization: 401 with WWW-Authenticate Bearer", async () => {
    const r = await post(srv.url, INIT);
    assertRpcError(r, 401, /Authorization/);
    assert.match(r.headers["www-authenticate"] ?? "", /^Bearer/);
  });

  test("a wrong token: 401", async () => {
    assertRpcError(await post(srv.url, INIT, { authorization: `Bearer ${TOKEN.slice(0, -1)}x` }), 401);
    assertRpcError(await post(srv.url, INIT, { authorization: `Bearer ${TOKEN}x` }), 401);
    assertRpcError(await post(srv.url, INIT, { authorization: `Bearer ${TOKEN.slice(0, 16)}` }), 401);
    assertRpcError(await post(srv.url, INIT, { authorization: `Basic ${TOKEN}` }), 401);
  });

  test("the right token: 200, and the SDK client works with it", async () => {
    const r = await post(srv.url, INIT, { authorization: `Bearer ${TOKEN}` });
    assert.equal(r.status, 200, r.text);
    const conn = await connectHttp(wh, "with-token", { token: TOKEN, server: srv });
    try {
      const lt = await conn.client.callTool({ name: "list_tables", arguments: {} });
      assert.equal(lt.isError, false);
      assert.equal(lt.structuredContent.tables[0].name, "t");
    } finally {
      await disconnect(conn);
    }
  });
});

describe("pipemend serve --allow-origin, and its session limit", () => {
  let wh, srv;
  before(async () => {
    wh = buildWarehouse();
    srv = await serve(wh, { extraArgs: ["--allow-origin", "https://app.example.com,http://tool.test:8080"] });
  });
  after(async () => {
    if (srv) await srv.stop();
  });

  test("the Origins listed pass, exactly; others 403", async () => {
    for (const origin of ["https://app.example.com", "http://tool.test:8080", `http://localhost:${srv.port}`]) {
      const r = await post(srv.url, INIT, { origin });
      assert.equal(r.status, 200, `${origin}: ${r.text}`);
    }
    for (const origin of ["https://app.example.com.evil.test", "http://app.example.com", "http://tool.test:8081", "null"])
      assertRpcError(await post(srv.url, INIT, { origin }), 403, /Origin/);
  });

  test("64 sessions at most: the next initialize is 503 until one ends", async () => {
    const ids = [];
    let r;
    for (let i = 0; i < 80; i++) {
      r = await post(srv.url, INIT);
      if (r.status !== 200) break;
      ids.push(r.headers["mcp-session-id"]);
    }
    assertRpcError(r, 503, /64 sessions/, -32603);
    // the sessions of the test above count too
    assert.ok(ids.length > 55 && ids.length <= 64, `${ids.length} sessions before the 503`);
    assert.equal((await httpRequest(srv.url, { method: "DELETE", headers: { "mcp-session-id": ids[0] } })).status, 200);
    assert.equal((await post(srv.url, INIT)).status, 200, "a session again once one ended");
  });
});

describe("pipemend serve beyond loopback", () => {
  test("--listen 0.0.0.0:0 --no-token refuses to start: exit 2, naming the token", () => {
    const wh = buildWarehouse();
    const r = spawnSync(BIN, ["serve", "--db", wh.db, "--listen", "0.0.0.0:0", "--no-token"], { cwd: wh.dir, env: cleanEnv(), encoding: "utf8", timeout: 20_000 });
    const show = `exit ${r.status ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
    assert.ok(!r.error, `${r.error} (still running after 20 s?)\n${show}`);
    assert.ok(!SANITIZER_RE.test(r.stderr), show);
    assert.equal(r.status, 2, show);
    assert.match(r.stderr, /beyond loopback, needs a token/, show);
    assert.doesNotMatch(r.stdout, /Streamable HTTP at/, show);
  });

  test("--listen [::1]:0 --no-token: IPv6 loopback, no token needed", async (t) => {
    const v6 = Object.values(os.networkInterfaces()).flat().some((i) => i?.internal && i.family === "IPv6" && i.address === "::1");
    if (!v6) return t.skip("this host has no IPv6 loopback (::1)");
    const wh = buildWarehouse();
    const srv = await serve(wh, { listen: "[::1]:0" });
    try {
      assert.match(srv.url, /^http:\/\/\[::1\]:\d+\/mcp$/);
      const r = await post(srv.url, INIT);
      assert.equal(r.status, 200, r.text);
      assertRpcError(await post(srv.url, INIT, { host: "evil.example.com" }), 403, /Host/);
    } finally {
      await srv.stop();
    }
  });

  test("--listen 0.0.0.0:0 with a token: serves, and asks for it", async () => {
    const wh = buildWarehouse();
    const token = crypto.randomBytes(20).toString("hex");
    const srv = await serve(wh, { token, listen: "0.0.0.0:0" });
    try {
      assert.match(srv.url, /^http:\/\/0\.0\.0\.0:\d+\/mcp$/);
      const local = `http://127.0.0.1:${srv.port}/mcp`;
      assertRpcError(await post(local, INIT), 401);
      const r = await post(local, INIT, { authorization: `Bearer ${token}` });
      assert.equal(r.status, 200, r.text);
    } finally {
      await srv.stop();
    }
  });
});
