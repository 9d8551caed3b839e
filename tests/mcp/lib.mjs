// Shared helpers for the MCP client tests: the binary under test, a real
// SQLite warehouse with a drifted feed, and an SDK client connected to
// `pipemend mcp` over stdio.
//
// PIPEMEND_BIN picks the binary (default build/san/pipemend, relative to the
// repository). Every warehouse lives in its own temporary directory, which is
// also the working directory of every pipemend started here (so no stray
// pipemend.yaml or PIPEMEND_DB leaks in). PIPEMEND_MCP_KEEP=1 keeps them.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "..", "..");
export const BIN = path.resolve(REPO, process.env.PIPEMEND_BIN || "build/san/pipemend");

// What the sanitizers print when they find something: a bug whatever the
// exit code says.
export const SANITIZER_RE =
  /ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/;

export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  delete env.PIPEMEND_DB;
  for (const k of Object.keys(env)) if (k.startsWith("PG")) delete env[k];
  env.ASAN_OPTIONS ??= "abort_on_error=0:detect_leaks=1";
  env.UBSAN_OPTIONS ??= "print_stacktrace=1";
  return { ...env, ...extra };
}

const dirs = [];
process.on("exit", () => {
  if (process.env.PIPEMEND_MCP_KEEP === "1") return;
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "pipemend-mcp-"));
  dirs.push(d);
  return d;
}

/** Runs the real binary in dir; returns {rc, stdout, stderr}. Fails on a
 * sanitizer report, and on an exit code other than `expect` when given. */
export function pm(dir, args, { expect, input } = {}) {
  const r = spawnSync(BIN, args, { cwd: dir, env: cleanEnv(), input, encoding: "utf8", timeout: 120_000 });
  const res = { rc: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  const show = () => `pipemend ${args.join(" ")} -> exit ${res.rc}\n--- stdout ---\n${res.stdout.slice(-3000)}\n--- stderr ---\n${res.stderr.slice(-3000)}`;
  if (r.error) throw new Error(`${show()}\n${r.error}`);
  if (SANITIZER_RE.test(res.stderr)) throw new Error(`sanitizer report:\n${show()}`);
  if (expect !== undefined && res.rc !== expect) throw new Error(`expected exit ${expect}:\n${show()}`);
  res.json = () => JSON.parse(res.stdout);
  return res;
}

function ndjson(rows) {
  return rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
}

/** A warehouse with table t: day 1 loads clean (5 rows); day 2 adds a column
 * `email` under --policy review, so its rows are quarantined behind an open
 * incident and a pending proposal. */
export function buildWarehouse() {
  if (!fs.existsSync(BIN)) throw new Error(`no pipemend binary at ${BIN} (set PIPEMEND_BIN, or make BUILD=san all)`);
  const dir = tempDir();
  const db = `sqlite:${path.join(dir, "w.db")}`;
  const day1 = [];
  for (let i = 1; i <= 5; i++) day1.push({ id: i, name: `n${i}` });
  const day2 = [];
  for (let i = 6; i <= 8; i++) day2.push({ id: i, name: `n${i}`, email: `u${i}@example.com` });
  fs.writeFileSync(path.join(dir, "day1.ndjson"), ndjson(day1));
  fs.writeFileSync(path.join(dir, "day2.ndjson"), ndjson(day2));
  pm(dir, ["ingest", "--db", db, "--table", "t", "day1.ndjson"], { expect: 0 });
  pm(dir, ["ingest", "--db", db, "--table", "t", "--policy", "review", "day2.ndjson"], { expect: 3 });
  return { dir, db, day1, day2 };
}

/** Stdio transport that keeps every message the server sent (to read the
 * negotiated protocol version off the initialize result, which the SDK's
 * Client does not expose) and everything the server wrote on stderr. */
export class RecordingTransport extends StdioClientTransport {
  constructor(params) {
    super({ ...params, stderr: "pipe" });
    this.received = [];
    this.stderrText = "";
    this.stderr?.on("data", (b) => (this.stderrText += b.toString()));
  }
  set onmessage(fn) {
    this._recordingOnmessage = (m) => {
      this.received.push(m);
      fn?.(m);
    };
  }
  get onmessage() {
    return this._recordingOnmessage;
  }
}

/** An SDK Client connected (initialize + initialized) to `pipemend mcp`. */
export async function connect(wh, clientName = "pipemend-mcp-test") {
  const transport = new RecordingTransport({
    command: BIN,
    args: ["mcp", "--db", wh.db],
    cwd: wh.dir,
    env: cleanEnv(),
  });
  const client = new Client({ name: clientName, version: "1.0.0" }, { capabilities: {} });
  await client.connect(transport);
  return { client, transport };
}

/** Closes the client (EOF to the server) and checks the server's stderr for
 * sanitizer reports once it has gone. */
export async function disconnect({ client, transport }) {
  const proc = transport._process;
  const exited = proc && proc.exitCode === null ? new Promise((r) => proc.once("exit", r)) : Promise.resolve();
  await client.close();
  let timer;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
  clearTimeout(timer);
  if (SANITIZER_RE.test(transport.stderrText)) throw new Error(`sanitizer report from pipemend mcp:\n${transport.stderrText.slice(-4000)}`);
}
