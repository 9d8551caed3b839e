// The SSE stream of a tools/call over Streamable HTTP when its connection
// drops (resumption with Last-Event-ID, as src/http/mcp_route.h promises: "Last-Event-ID
// resumes a stream"; the server's priming event tells the client to come
// back after `retry: 1000` ms), and when the server is stopped (SIGTERM)
// while a call runs.
import assert from "node:assert/strict";
import http from "node:http";
import { before, describe, test } from "node:test";

import { buildReplayableWarehouse, buildWarehouse, cloneWarehouse, connectHttp, disconnect, httpRequest, pm, serve } from "./lib.mjs";

const PROTOCOL = "2025-11-25";
const ACCEPT = "application/json, text/event-stream";
const HELD = 3500; // quarantined rows the short replays try (they stay)
const BIG = 50_000; // quarantined rows the long replays load

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tableStatus(wh) {
  const row = pm(wh.dir, ["status", "--db", wh.db, "--json"], { expect: 0 }).json().find((s) => s.table === "t");
  return { rows: row.rows, quarantined: row.quarantined };
}

function post(url, body, headers = {}) {
  return httpRequest(url, { method: "POST", headers: { "content-type": "application/json", accept: ACCEPT, ...headers }, body: JSON.stringify(body) });
}

async function session(url) {
  const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: "streams", version: "1.0.0" } } };
  const r = await post(url, init);
  assert.equal(r.status, 200, r.text);
  const sid = r.headers["mcp-session-id"];
  const n = await post(url, { jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": sid });
  assert.equal(n.status, 202, n.text);
  return { "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL };
}

/** A streaming request: onEvent(event text, req) per SSE event; resolves
 * when the response ends (or the connection does) with {status, text}. */
function sse(url, method, headers, body, onEvent = () => {}) {
  const u = new URL(url);
  return new Promise((resolve) => {
    let buf = "",
      text = "",
      status;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, headers }, (res) => {
      status = res.statusCode;
      res.setEncoding("utf8");
      res.on("data", (c) => {
        text += c;
        buf += c;
        for (let i; (i = buf.indexOf("\n\n")) >= 0; ) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          onEvent(ev, req);
        }
      });
      res.on("close", () => resolve({ status, text }));
      res.on("error", () => {});
    });
    req.on("error", (e) => resolve({ status, text, error: e }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** The JSON-RPC messages of an SSE text. */
function messages(text) {
  return text
    .split("\n")
    .filter((l) => l.startsWith("data: ") && l.length > 6)
    .map((l) => JSON.parse(l.slice(6)));
}

const replay = (id) =>
  JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "replay_quarantine", arguments: { table: "t" }, _meta: { progressToken: `p${id}` } } });

/** POSTs a replay and drops its connection right after the first progress
 * event: the last event id seen then. */
async function replayDroppedAfterFirstProgress(url, h, id) {
  let lastId;
  const r = await sse(url, "POST", { ...h, "content-type": "application/json", accept: ACCEPT }, replay(id), (ev, req) => {
    const m = ev.match(/^id: (\S+)$/m);
    if (m) lastId = m[1];
    if (ev.includes('"notifications/progress"')) req.destroy();
  });
  assert.equal(r.status, 200, r.text);
  assert.ok(lastId, `an event id before the drop: ${r.text}`);
  assert.ok(!messages(r.text).some((m) => m.id === id), "the drop came before the response");
  return lastId;
}

/** GETs with Last-Event-ID; gives up after ms (a stream that stays open). */
async function resume(url, h, lastId, ms) {
  let got = "";
  let req;
  const done = sse(url, "GET", { ...h, accept: "text/event-stream", "last-event-id": lastId }, undefined, (ev, r) => {
    req = r;
    got += `${ev}\n\n`;
  });
  let timer;
  const r = await Promise.race([done, new Promise((res) => (timer = setTimeout(() => res(null), ms)))]);
  clearTimeout(timer);
  req?.destroy();
  return r ?? { status: "open", text: got, open: true };
}

let held, big;
before(() => {
  held = buildWarehouse({ day2Rows: HELD });
  big = buildReplayableWarehouse(BIG);
});

describe("a tools/call stream resumed with Last-Event-ID", () => {
  test("while the call runs: the rest of its events, then its response", async () => {
    const wh = cloneWarehouse(big);
    const srv = await serve(wh);
    try {
      const h = await session(srv.url);
      const lastId = await replayDroppedAfterFirstProgress(srv.url, h, 7);
      const r = await resume(srv.url, h, lastId, 60_000);
      assert.equal(r.status, 200, r.text.slice(0, 500));
      const ms = messages(r.text);
      const resp = ms.find((m) => m.id === 7);
      assert.ok(resp, `the response to request 7 in the resumed stream: ${r.text.slice(-500)}`);
      assert.equal(resp.result.structuredContent.loaded, BIG);
      const seqs = [...r.text.matchAll(/^id: (\S+)-(\d+)$/gm)].map((m) => [m[1], Number(m[2])]);
      const [sid, seq] = lastId.split("-");
      assert.ok(seqs.length > 0 && seqs.every(([s]) => s === sid), `events of the same stream ${sid}: ${JSON.stringify(seqs.slice(0, 5))}`);
      assert.equal(seqs[0][1], Number(seq) + 1, "from the event after Last-Event-ID");
      const progress = ms.filter((m) => m.method === "notifications/progress").map((m) => m.params.progress);
      assert.ok(progress.length > 0 && progress[0] === 2000, `progress goes on from the second page: ${progress.slice(0, 3)}`);
    } finally {
      await srv.stop();
    }
  });

  test("after the call ended (reconnecting after the server's own retry: 1000 ms): the response is not lost", async () => {
    const wh = cloneWarehouse(held);
    const srv = await serve(wh);
    try {
      const h = await session(srv.url);
      const lastId = await replayDroppedAfterFirstProgress(srv.url, h, 8);
      await sleep(1200); // the replay of 3500 rows is long over
      const r = await resume(srv.url, h, lastId, 1000);
      const resp = messages(r.text).find((m) => m.id === 8);
      assert.ok(
        resp,
        `SERVER BUG: the response to tools/call 8 is lost. Its SSE connection dropped mid-call; reconnecting with ` +
          `Last-Event-ID: ${lastId} once the call had ended got ${r.open ? "a stream that stayed open" : `HTTP ${r.status}`} ` +
          `without it: ${JSON.stringify(r.text.slice(0, 300))}. mcp_route.c frees a call's stream as soon as its call and ` +
          `its reader are done, so a client that comes back after the retry the server itself sent gets ` +
          `the session's own GET stream (or 409) instead of the rest of the call's stream.`,
      );
      assert.equal(resp.result.structuredContent.waiting, HELD);
    } finally {
      await srv.stop();
    }
  });

  test("the SDK client whose tools/call connection drops still gets the result", async () => {
    const wh = cloneWarehouse(held);
    // the transport's POST stream of the replay breaks right after its first
    // progress event, as a network drop would
    const wrapFetch = (fetchFn) => async (url, init) => {
      const res = await fetchFn(url, init);
      if (init?.method !== "POST" || !String(init.body).includes("replay_quarantine")) return res;
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      const enc = new TextEncoder();
      let seen = "";
      const body = new ReadableStream({
        async pull(ctrl) {
          const { value, done } = await reader.read();
          if (done) return ctrl.close();
          seen += dec.decode(value, { stream: true });
          const p = seen.indexOf('"notifications/progress"');
          const end = p < 0 ? -1 : seen.indexOf("\n\n", p);
          if (end < 0) return ctrl.enqueue(value);
          const before = seen.length - dec.decode(value).length;
          ctrl.enqueue(enc.encode(seen.slice(Math.max(before, 0), end + 2)));
          reader.cancel().catch(() => {});
          ctrl.error(new TypeError("connection dropped by the test"));
        },
      });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    const conn = await connectHttp(wh, "dropped", { wrapFetch });
    try {
      const progress = [];
      let outcome;
      try {
        const r = await conn.client.callTool({ name: "replay_quarantine", arguments: { table: "t" } }, undefined, {
          onprogress: (p) => progress.push(p.progress),
          timeout: 3000,
        });
        outcome = { result: r };
      } catch (e) {
        outcome = { error: e };
      }
      assert.ok(progress.length >= 1, "the first progress came before the drop");
      assert.ok(
        outcome.result,
        `SERVER BUG (the same as above, seen from the SDK client 1.32.2): callTool(replay_quarantine) never resolves: ` +
          `${outcome.error}. The SDK reconnected as told (GET with Last-Event-ID after retry: 1000 ms) and the server ` +
          `answered ${conn.transport.errors.map(String).filter((e) => /SSE|reconnect/.test(e)).join("; ") || "with nothing"}. ` +
          `Progress seen: ${JSON.stringify(progress)}.`,
      );
      assert.equal(outcome.result.structuredContent.waiting, HELD);
    } finally {
      await disconnect(conn);
    }
  });
});

describe("pipemend serve stopped (SIGTERM) while a call runs", () => {
  test("the call either answers or changes nothing; the server exits 0", async () => {
    const wh = cloneWarehouse(big);
    const before = tableStatus(wh);
    const srv = await serve(wh);
    let signalled = false;
    const h = await session(srv.url);
    const r = await sse(srv.url, "POST", { ...h, "content-type": "application/json", accept: ACCEPT }, replay(9), (ev) => {
      if (!signalled && ev.includes('"notifications/progress"')) {
        signalled = true;
        srv.proc.kill("SIGTERM");
      }
    });
    await srv.stop(); // exit 0, no sanitizer report
    assert.ok(signalled, `SIGTERM went mid-call: ${r.text.slice(0, 300)}`);
    const resp = messages(r.text).find((m) => m.id === 9);
    const after = tableStatus(wh);
    assert.equal(after.rows + after.quarantined, wh.fed, "nothing lost");
    if (!resp)
      assert.deepEqual(
        after,
        before,
        `SERVER BUG: on SIGTERM the running replay_quarantine went on to the end and committed (table ${JSON.stringify(before)} -> ` +
          `${JSON.stringify(after)}), but its response never reached the client: the HTTP server finishes every SSE stream ` +
          `before it waits for the running calls, so the call's response is dropped. The client cannot tell that the act ` +
          `happened. Either the response should be delivered before the stream ends, or the call should be cancelled ` +
          `(rolled back) and answer nothing.`,
      );
    else if (resp.result?.isError)
      // stopped by the shutdown: it says so, and it rolled back whole
      assert.deepEqual(after, before, `the replay answered ${JSON.stringify(resp)}`);
    else assert.deepEqual(after, { rows: wh.fed, quarantined: 0 }, `the replay answered ${JSON.stringify(resp)}`);
  });
});
