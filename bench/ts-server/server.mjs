// server.mjs - the baseline of bench/mcp_rpc.sh: the MCP server a user would
// otherwise write, on the official TypeScript SDK, with one read-only tool
// equivalent to pipemend's list_tables.
//
//   node server.mjs --db PATH            stdio (StdioServerTransport)
//   node server.mjs --db PATH --http     Streamable HTTP on 127.0.0.1 and a
//                                        free port; prints one line
//                                        "ts-server: MCP over Streamable HTTP at URL"
//
// list_tables reads pipemend's own catalog in the same SQLite warehouse
// (src/store/sqlite.c): the newest version of every table in
// _pipemend_schema_versions, `SELECT count(*)` of each table and its rows in
// _pipemend_quarantine, and answers {tables: [{name, version, rows,
// quarantined}]} as structured content (with an outputSchema, which the SDK
// checks) and as text, as pipemend does. It is written the way the SDK's
// examples write a server, with one kindness to it: the warehouse is opened
// once and the statements are prepared once and reused (pipemend prepares
// them on every call).
//
// HTTP is the SDK's stateful pattern: a StreamableHTTPServerTransport and an
// McpServer per session, created by an initialize without Mcp-Session-Id and
// found by that header afterwards, on node:http. Needs Node 22.13+ for
// node:sqlite (package.json brings one: node_modules/.bin/node).
import { randomUUID } from "node:crypto";
import http from "node:http";
import { DatabaseSync } from "node:sqlite";

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";

const args = process.argv.slice(2);
const dbAt = args.indexOf("--db");
if (dbAt < 0 || !args[dbAt + 1]) {
  process.stderr.write("usage: node server.mjs --db PATH [--http]\n");
  process.exit(2);
}
const dbPath = args[dbAt + 1].replace(/^sqlite:/, "");
const useHttp = args.includes("--http");

const db = new DatabaseSync(dbPath);
const listStmt = db.prepare(
  "SELECT v.table_name AS name, v.version AS version FROM _pipemend_schema_versions v " +
    "WHERE v.version = (SELECT max(version) FROM _pipemend_schema_versions w " +
    "WHERE w.table_name = v.table_name) ORDER BY v.table_name",
);
const quarantineStmt = db.prepare(
  "SELECT count(*) AS n FROM _pipemend_quarantine WHERE ?1 IS NULL OR table_name = ?1",
);
const countStmts = new Map();

function countRows(name) {
  let st = countStmts.get(name);
  if (!st) {
    st = db.prepare(`SELECT count(*) AS n FROM "${name.replaceAll('"', '""')}"`);
    countStmts.set(name, st);
  }
  return Number(st.get().n);
}

function listTables() {
  const tables = listStmt.all().map((t) => ({
    name: t.name,
    version: Number(t.version),
    rows: countRows(t.name),
    quarantined: Number(quarantineStmt.get(t.name).n),
  }));
  const out = { tables };
  return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
}

function newServer() {
  const server = new McpServer({ name: "ts-server", version: "1.0.0" });
  server.registerTool(
    "list_tables",
    {
      title: "List tables",
      description:
        "Every table pipemend loads into, with its schema version, its row count " +
        "and how many of its rows wait in quarantine.",
      outputSchema: {
        tables: z.array(
          z.object({
            name: z.string(),
            version: z.number().int().describe("schema version"),
            rows: z.number().int(),
            quarantined: z.number().int().describe("rows in quarantine"),
          }),
        ),
      },
      annotations: { readOnlyHint: true },
    },
    async () => listTables(),
  );
  return server;
}

if (!useHttp) {
  await newServer().connect(new StdioServerTransport());
} else {
  const sessions = new Map(); // Mcp-Session-Id -> transport

  const readBody = (req) =>
    new Promise((resolve, reject) => {
      const parts = [];
      req.on("data", (c) => parts.push(c));
      req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
      req.on("error", reject);
    });

  const fail = (res, status, message) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
  };

  const httpServer = http.createServer(async (req, res) => {
    try {
      if (new URL(req.url, "http://x").pathname !== "/mcp") return fail(res, 404, "not found");
      const sid = req.headers["mcp-session-id"];
      if (req.method === "POST") {
        let body;
        try {
          body = JSON.parse(await readBody(req));
        } catch {
          return fail(res, 400, "parse error");
        }
        let transport = sid ? sessions.get(sid) : undefined;
        if (!transport && !sid && isInitializeRequest(body)) {
          transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: (id) => sessions.set(id, transport),
          });
          transport.onclose = () => {
            if (transport.sessionId) sessions.delete(transport.sessionId);
          };
          await newServer().connect(transport);
        }
        if (!transport) return fail(res, sid ? 404 : 400, sid ? "unknown session" : "no session");
        await transport.handleRequest(req, res, body);
      } else if (req.method === "GET" || req.method === "DELETE") {
        const transport = sid ? sessions.get(sid) : undefined;
        if (!transport) return fail(res, sid ? 404 : 400, "unknown session");
        await transport.handleRequest(req, res);
      } else {
        res.writeHead(405, { Allow: "GET, POST, DELETE" }).end();
      }
    } catch (e) {
      if (!res.headersSent) fail(res, 500, String(e));
    }
  });
  httpServer.listen(0, "127.0.0.1", () => {
    const { port } = httpServer.address();
    process.stdout.write(`ts-server: MCP over Streamable HTTP at http://127.0.0.1:${port}/mcp\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
