// Shared helpers for the MCP client tests: the binary under test, a real
// SQLite warehouse with a drifted feed, and an SDK client connected to
// pipemend over either transport: `pipemend mcp` over stdio, or `pipemend
// serve` over Streamable HTTP (`transports` lists both, to run one test body
// against each).
//
// PIPEMEND_BIN picks the binary (default build/san/pipemend, relative to the
// repository). Every warehouse lives in its own temporary directory, which is
// also the working directory of every pipemend started here (so no stray
// pipemend.yaml or PIPEMEND_DB leaks in). PIPEMEND_MCP_KEEP=1 keeps them.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

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
  delete env.PIPEMEND_MCP_TOKEN;
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
 * `email` under --policy review, so its rows (3, or day2Rows) are quarantined
 * behind an open incident and a pending proposal. */
export function buildWarehouse({ day2Rows = 3 } = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`no pipemend binary at ${BIN} (set PIPEMEND_BIN, or make BUILD=san all)`);
  const dir = tempDir();
  const db = `sqlite:${path.join(dir, "w.db")}`;
  const day1 = [];
  for (let i = 1; i <= 5; i++) day1.push({ id: i, name: `n${i}` });
  const day2 = [];
  for (let i = 6; i < 6 + day2Rows; i++) day2.push({ id: i, name: `n${i}`, email: `u${i}@example.com` });
  fs.writeFileSync(path.join(dir, "day1.ndjson"), ndjson(day1));
  fs.writeFileSync(path.join(dir, "day2.ndjson"), ndjson(day2));
  pm(dir, ["ingest", "--db", db, "--table", "t", "day1.ndjson"], { expect: 0 });
  pm(dir, ["ingest", "--db", db, "--table", "t", "--policy", "review", "day2.ndjson"], { expect: 3 });
  return { dir, db, day1, day2 };
}

/** A warehouse whose quarantine a replay would load in full: table t gets 5
 * clean rows, then `rows` rows whose amount breaks the contract in
 * pipemend.yaml (amount >= 0) and are quarantined; then the contract goes
 * (pipemend.yaml is removed), so every quarantined row now fits. */
export function buildReplayableWarehouse(rows) {
  if (!fs.existsSync(BIN)) throw new Error(`no pipemend binary at ${BIN} (set PIPEMEND_BIN, or make BUILD=san all)`);
  const dir = tempDir();
  const db = `sqlite:${path.join(dir, "w.db")}`;
  const day1 = [];
  for (let i = 1; i <= 5; i++) day1.push({ id: i, name: `n${i}`, amount: i });
  let big = "";
  for (let i = 6; i < 6 + rows; i++) big += `{"id":${i},"name":"n${i}","amount":-${i}}\n`;
  fs.writeFileSync(path.join(dir, "day1.ndjson"), ndjson(day1));
  fs.writeFileSync(path.join(dir, "big.ndjson"), big);
  const cfg = path.join(dir, "pipemend.yaml");
  fs.writeFileSync(cfg, "tables:\n  t:\n    contract:\n      columns:\n        amount: {min: 0}\n");
  pm(dir, ["ingest", "--db", db, "--table", "t", "day1.ndjson"], { expect: 0 });
  pm(dir, ["ingest", "--db", db, "--table", "t", "big.ndjson"], { expect: 3 });
  fs.rmSync(cfg);
  return { dir, db, fed: 5 + rows, quarantined: rows };
}

/** A copy of a warehouse (its whole directory) to spoil independently. */
export function cloneWarehouse(wh) {
  const dir = tempDir();
  fs.cpSync(wh.dir, dir, { recursive: true });
  return { ...wh, dir, db: wh.db.replace(wh.dir, dir) };
}

/** Adds recording to a client transport class: every message the server
 * sent (received, to read the negotiated protocol version off the
 * initialize result, which the SDK's Client does not expose, and to see
 * what arrived for a cancelled request), every message the client sent
 * (sent), and every error the transport reported (errors). */
function recording(Base) {
  return class extends Base {
    constructor(...args) {
      super(...args);
      this.received = [];
      this.sent = [];
      this.errors = [];
    }
    set onmessage(fn) {
      this._recordingOnmessage = (m, extra) => {
        this.received.push(m);
        fn?.(m, extra);
      };
    }
    get onmessage() {
      return this._recordingOnmessage;
    }
    set onerror(fn) {
      this._recordingOnerror = (e) => {
        this.errors?.push(e);
        fn?.(e);
      };
    }
    get onerror() {
      return this._recordingOnerror;
    }
    async send(message, options) {
      this.sent.push(message);
      return super.send(message, options);
    }
  };
}

/** Stdio transport that records (above) and keeps everything the server
 * wrote on stderr. */
export class RecordingTransport extends recording(StdioClientTransport) {
  constructor(params) {
    super({ ...params, stderr: "pipe" });
    this.stderrText = "";
    this.stderr?.on("data", (b) => (this.stderrText += b.toString()));
  }
}

/** Streamable HTTP transport that records (above); stderrText is the
 * server's. */
export class RecordingHttpTransport extends recording(StreamableHTTPClientTransport) {
  constructor(url, opts, server) {
    super(url, opts);
    this.server = server;
  }
  get stderrText() {
    return this.server?.stderrText ?? "";
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
  return { kind: "stdio", client, transport };
}

/** Closes the client and checks the server: over stdio, EOF to `pipemend
 * mcp` and its stderr for sanitizer reports once it has gone; over HTTP,
 * DELETE of the session (must be answered 200), then `pipemend serve`
 * stopped (stop() below). */
export async function disconnect(conn) {
  if (conn.kind === "http") return disconnectHttp(conn);
  const { client, transport } = conn;
  const proc = transport._process;
  const exited = proc && proc.exitCode === null ? new Promise((r) => proc.once("exit", r)) : Promise.resolve();
  await client.close();
  let timer;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
  clearTimeout(timer);
  if (SANITIZER_RE.test(transport.stderrText)) throw new Error(`sanitizer report from pipemend mcp:\n${transport.stderrText.slice(-4000)}`);
}

// ---- Streamable HTTP ------------------------------------------------------

const servers = new Set();
process.on("exit", () => {
  for (const p of servers) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]);
}

/** Starts `pipemend serve --db DB --listen 127.0.0.1:0` in wh.dir (clean
 * environment, XDG_CONFIG_HOME in wh.dir so that a generated token never
 * lands in the real home; PIPEMEND_MCP_TOKEN=token when given, else
 * --no-token unless extraArgs or env choose a token) and waits for its one
 * stdout line "pipemend: MCP over Streamable HTTP at URL". Returns {url,
 * port, proc, stdoutText, stderrText, exit, stop()}; stop() sends SIGTERM,
 * waits for the exit and fails unless the exit code is 0 and stderr holds no
 * sanitizer report (call it once the clients are done). */
export async function serve(wh, { token, extraArgs = [], listen = "127.0.0.1:0", env = {} } = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`no pipemend binary at ${BIN} (set PIPEMEND_BIN, or make BUILD=san all)`);
  const chosen = token || env.PIPEMEND_MCP_TOKEN || extraArgs.some((a) => a === "--token-file" || a === "--no-token");
  const args = ["serve", "--db", wh.db, "--listen", listen, ...extraArgs, ...(chosen ? [] : ["--no-token"])];
  const proc = spawn(BIN, args, {
    cwd: wh.dir,
    env: cleanEnv({ XDG_CONFIG_HOME: path.join(wh.dir, "xdg"), ...(token ? { PIPEMEND_MCP_TOKEN: token } : {}), ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  servers.add(proc);
  const srv = { proc, args, stdoutText: "", stderrText: "", exit: null };
  proc.stdout.on("data", (b) => (srv.stdoutText += b));
  proc.stderr.on("data", (b) => (srv.stderrText += b));
  // "close": the exit, and both pipes read to their end
  srv.closed = new Promise((resolve) =>
    proc.once("close", (code, signal) => {
      servers.delete(proc);
      resolve((srv.exit = { code, signal }));
    }),
  );
  srv.show = () =>
    `pipemend ${args.join(" ")} -> ${srv.exit ? `exit ${srv.exit.code ?? srv.exit.signal}` : "running"}\n--- stdout ---\n${srv.stdoutText.slice(-2000)}\n--- stderr ---\n${srv.stderrText.slice(-4000)}`;
  srv.url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pipemend serve did not say where it listens within 30 s\n${srv.show()}`)), 30_000);
    const check = () => {
      const m = srv.stdoutText.match(/^pipemend: MCP over Streamable HTTP at (http:\/\/\S+\/mcp)\r?\n/m);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on("data", check);
    proc.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start pipemend serve: ${e}`));
    });
    srv.closed.then(() => {
      clearTimeout(timer);
      reject(new Error(`pipemend serve ended before it listened\n${srv.show()}`));
    });
  });
  srv.port = Number(new URL(srv.url).port);
  let stopping;
  srv.stop = () =>
    (stopping ??= (async () => {
      if (!srv.exit) proc.kill("SIGTERM");
      try {
        await withTimeout(srv.closed, 20_000, "pipemend serve after SIGTERM");
      } catch {
        proc.kill("SIGKILL");
        await srv.closed;
        throw new Error(`pipemend serve did not stop within 20 s of SIGTERM (killed)\n${srv.show()}`);
      }
      if (SANITIZER_RE.test(srv.stderrText)) throw new Error(`sanitizer report from pipemend serve:\n${srv.show()}`);
      if (srv.exit.code !== 0) throw new Error(`pipemend serve stopped with exit ${srv.exit.code ?? srv.exit.signal}, not 0\n${srv.show()}`);
    })());
  return srv;
}

/** An SDK Client connected with StreamableHTTPClientTransport to a
 * `pipemend serve` started for it (or to server when given), and holding the
 * session's GET stream: the SDK opens it after initialized without waiting,
 * so this waits for it, for notifications not tied to a request (resource
 * updates) to have their way. token: sent as Authorization: Bearer, and the
 * server started with it; wrapFetch(fetch) -> fetch: what the transport
 * fetches with (to spoil a connection); clientOpts: more options of the
 * transport. */
export async function connectHttp(wh, clientName = "pipemend-mcp-test", { token, server, serverOpts = {}, wrapFetch, clientOpts = {} } = {}) {
  const srv = server ?? (await serve(wh, { token, ...serverOpts }));
  let getAnswered;
  const getStream = new Promise((r) => (getAnswered = r));
  const base = wrapFetch ? wrapFetch(fetch) : fetch;
  const fetchFn = async (url, init) => {
    const res = await base(url, init);
    if ((init?.method ?? "GET") === "GET") getAnswered(res.status);
    return res;
  };
  const transport = new RecordingHttpTransport(
    new URL(srv.url),
    { fetch: fetchFn, requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined, ...clientOpts },
    srv,
  );
  const client = new Client({ name: clientName, version: "1.0.0" }, { capabilities: {} });
  try {
    await client.connect(transport);
    const status = await withTimeout(getStream, 10_000, "the session's GET stream");
    if (status !== 200) throw new Error(`GET ${srv.url} (the session's SSE stream) -> ${status}, not 200`);
  } catch (e) {
    await client.close().catch(() => {});
    if (!server) await srv.stop().catch(() => {});
    throw e;
  }
  return { kind: "http", client, transport, server: srv, ownServer: !server };
}

async function disconnectHttp({ client, transport, server, ownServer }) {
  let err;
  try {
    await transport.terminateSession();
  } catch (e) {
    err = new Error(`DELETE of the session: ${e.message}`);
  }
  await client.close();
  if (ownServer) await server.stop();
  if (err) throw err;
}

/** The two transports, to run one test body against each: connect(wh,
 * clientName, opts) -> conn, disconnect(conn). */
export const transports = [
  { name: "stdio", connect: (wh, clientName) => connect(wh, clientName), disconnect },
  { name: "http", connect: connectHttp, disconnect },
];

/** One raw HTTP request (node:http, so that any header, Host included, goes
 * as given): {status, headers, text, json()}. */
export function httpRequest(url, { method = "POST", headers = {}, body } = {}) {
  const u = new URL(url);
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: u.hostname.replace(/^\[(.*)\]$/, "$1"), port: u.port, path: u.pathname, method, headers },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c) => (text += c));
          res.on("end", () =>
            resolve({
              status: res.statusCode,
              headers: res.headers,
              text,
              json() {
                try {
                  return JSON.parse(text);
                } catch {
                  throw new Error(`${method} ${url} -> ${res.statusCode}: body is not JSON: ${JSON.stringify(text.slice(0, 500))}`);
                }
              },
            }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      if (body !== undefined) req.write(body);
      req.end();
    }),
    30_000,
    `${method} ${url}`,
  );
}
