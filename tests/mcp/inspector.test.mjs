// The MCP Inspector CLI (@modelcontextprotocol/inspector-cli, headless
// `--cli` mode) listing and calling pipemend's tools over stdio, and over
// Streamable HTTP against `pipemend serve` (`--cli URL --transport http`,
// the bearer token with `--header`).
//
// Workaround: inspector-cli 1.0.3 reads its own package.json with
// fs.existsSync("../package.json") -- relative to the working directory --
// but imports it relative to its module; installed on its own (not inside
// @modelcontextprotocol/inspector) it then fails with "Cannot find module
// .../node_modules/@modelcontextprotocol/package.json" unless the working
// directory's parent holds a package.json. So it runs from DIR/inspector with
// an empty DIR/package.json.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { BIN, buildWarehouse, cleanEnv, pm, serve } from "./lib.mjs";

const require = createRequire(import.meta.url);
const CLI = path.join(path.dirname(require.resolve("@modelcontextprotocol/inspector-cli/package.json")), "build", "cli.js");

describe("MCP Inspector CLI over stdio", () => {
  let wh, cwd;
  before(() => {
    wh = buildWarehouse();
    cwd = path.join(wh.dir, "inspector");
    fs.mkdirSync(cwd);
    fs.writeFileSync(path.join(wh.dir, "package.json"), "{}\n");
  });

  function inspect(...args) {
    const r = spawnSync(process.execPath, [CLI, "--cli", BIN, "mcp", "--db", wh.db, ...args], {
      cwd, env: cleanEnv(), input: "", encoding: "utf8", timeout: 60_000,
    });
    assert.equal(r.status, 0, `inspector ${args.join(" ")} -> ${r.status}\n${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  test("tools/list", () => {
    const { tools } = inspect("--method", "tools/list");
    const names = tools.map((t) => t.name);
    assert.ok(names.includes("list_tables") && names.includes("verify_audit_log"), String(names));
    for (const t of tools) assert.equal(t.annotations?.openWorldHint, false, t.name);
  });

  test("tools/call list_tables", async () => {
    const r = inspect("--method", "tools/call", "--tool-name", "list_tables");
    assert.equal(r.isError, false);
    const status = pm(wh.dir, ["status", "--db", wh.db, "--json"], { expect: 0 }).json();
    const t = r.structuredContent.tables.find((x) => x.name === "t");
    const s = status.find((x) => x.table === "t");
    assert.equal(t.rows, s.rows);
    assert.equal(t.quarantined, s.quarantined);
  });

  test("tools/call verify_audit_log", () => {
    const r = inspect("--method", "tools/call", "--tool-name", "verify_audit_log");
    assert.equal(r.structuredContent.intact, true);
  });
});

describe("MCP Inspector CLI over Streamable HTTP", () => {
  const TOKEN = "inspector-" + "0123456789abcdef".repeat(2); // 42 characters
  let wh, cwd, srv;
  before(async () => {
    wh = buildWarehouse();
    cwd = path.join(wh.dir, "inspector");
    fs.mkdirSync(cwd);
    fs.writeFileSync(path.join(wh.dir, "package.json"), "{}\n");
    srv = await serve(wh, { token: TOKEN });
  });
  after(async () => {
    if (srv) await srv.stop();
  });

  function run(headers, ...args) {
    const hs = headers.flatMap((h) => ["--header", h]);
    return spawnSync(process.execPath, [CLI, "--cli", srv.url, "--transport", "http", ...hs, ...args], {
      cwd, env: cleanEnv(), input: "", encoding: "utf8", timeout: 60_000,
    });
  }
  function inspect(...args) {
    const r = run([`Authorization: Bearer ${TOKEN}`], ...args);
    assert.equal(r.status, 0, `inspector ${args.join(" ")} -> ${r.status}\n${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  test("tools/list", () => {
    const { tools } = inspect("--method", "tools/list");
    const names = tools.map((t) => t.name);
    assert.ok(names.includes("list_tables") && names.includes("replay_quarantine"), String(names));
    for (const t of tools) assert.equal(t.annotations?.openWorldHint, false, t.name);
  });

  test("tools/call list_tables", async () => {
    const r = inspect("--method", "tools/call", "--tool-name", "list_tables");
    assert.equal(r.isError, false);
    const status = pm(wh.dir, ["status", "--db", wh.db, "--json"], { expect: 0 }).json();
    const t = r.structuredContent.tables.find((x) => x.name === "t");
    const s = status.find((x) => x.table === "t");
    assert.equal(t.rows, s.rows);
    assert.equal(t.quarantined, s.quarantined);
    // spawnSync held the event loop: the server's stderr is read now
    for (let i = 0; i < 100 && !/client "inspector-cli" initialized/.test(srv.stderrText); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(srv.stderrText, /client "inspector-cli" initialized, protocol 2025-11-25/);
  });

  test("without the token: refused (401)", () => {
    const r = run([], "--method", "tools/list");
    assert.notEqual(r.status, 0, `the inspector got through without the token:\n${r.stdout}`);
    assert.match(r.stdout + r.stderr, /401|Unauthorized/i, r.stdout + r.stderr);
  });
});
