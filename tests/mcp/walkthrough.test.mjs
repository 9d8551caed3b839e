// The on-call walk through the official SDK client, strict: every step calls
// the tool docs/MCP.md documents, with its documented argument names, and
// asserts the exact answer. Nothing is skipped and nothing is guessed: a
// tool that is missing, refuses or answers otherwise fails its step. Runs
// once over each transport (stdio, Streamable HTTP), each on its own
// warehouse.
//
// Set-up, in a temporary directory, with the real binary: pipemend.yaml
// (db: sqlite:..., pipelines `orders` and `refunds` with their owners,
// sources and policies); day 1 of both feeds loads clean (`pipemend run`,
// exit 0); day 2 drifts (exit 3):
//   orders (policy auto; contract amount <= 1000), run with --policy review
//   (the operator holds every change of a day they distrust):
//     1 clean row                              -> loads
//     2 rows renamed customer_email -> email   -> rename: add_field_mapping,
//                                                  which waits for a person
//     2 rows with a new field coupon           -> new_field: add_column, auto
//                                                  under the pipeline's mode,
//                                                  held by the day's review
//     1 order of 2500                          -> contract amount.max
//   refunds (policy review): 2 rows with a new field reason -> add_column,
//   which the pipeline's mode review holds for a person.
//
// The walk: list_failed_pipelines -> get_run_log -> list_incidents ->
// get_incident (samples as untrusted_feed_data) -> propose_fix (typed op
// add_field_mapping) -> dry_run_fix -> apply_fix (awaiting a person; table
// unchanged) -> `pipemend proposals approve --actor oncall-human` (replays)
// -> propose_fix + apply_fix of the new column (the proposal keeps the review
// it was made under: it awaits a person, who approves; its rows replay)
// -> replay_quarantine (nothing fits yet), then the owner raises
// the contract in pipemend.yaml, the server restarts (it reads pipemend.yaml
// when it starts) and replay_quarantine loads the last row -> apply_fix on
// refunds (its pipeline's review must hold it) -> the end state: every fed
// row in its table, the quarantine empty, the audit chain intact with the
// agent's acts as agent:walkthrough and the approvals as human:oncall-human.
//
// A failure that is the server's fault starts with "SERVER BUG:".
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test as nodeTest } from "node:test";

import { pm, tempDir, transports, BIN } from "./lib.mjs";

const CLIENT = "walkthrough";
const AGENT = `agent:${CLIENT}`;
const HUMAN = "human:oncall-human";
const ORDERS_OWNER = "oncall-team@example.com";
const REFUNDS_OWNER = "finance@example.com";

const ORDERS_DAY1 = [1, 2, 3, 4, 5].map((i) => ({ order_id: i, customer_email: `c${i}@example.com`, amount: i * 10 }));
const ORDERS_DAY2 = [
  { order_id: 6, customer_email: "c6@example.com", amount: 60 },
  { order_id: 7, email: "c7@example.com", amount: 70 },
  { order_id: 8, email: "c8@example.com", amount: 80 },
  { order_id: 9, customer_email: "c9@example.com", amount: 90, coupon: "SPRING" },
  { order_id: 10, customer_email: "c10@example.com", amount: 100, coupon: "SUMMER" },
  { order_id: 11, customer_email: "c11@example.com", amount: 2500 },
];
const RENAMED = ORDERS_DAY2.filter((r) => "email" in r);
const COUPONED = ORDERS_DAY2.filter((r) => "coupon" in r);
const OVER_LIMIT = ORDERS_DAY2.filter((r) => r.amount > 1000);
const REFUNDS_DAY1 = [1, 2, 3].map((i) => ({ refund_id: i, order_id: i, amount: i }));
const REFUNDS_DAY2 = [4, 5].map((i) => ({ refund_id: i, order_id: i, amount: i, reason: "damaged" }));

const line = (r) => JSON.stringify(r);

function config(db, maxAmount) {
  return `db: ${db}
pipelines:
  - name: orders
    source: feed/orders/*.ndjson
    table: orders
    owner: ${ORDERS_OWNER}
    policy: auto
    contract:
      columns:
        amount: {min: 0, max: ${maxAmount}}
  - name: refunds
    source: feed/refunds/*.ndjson
    table: refunds
    owner: ${REFUNDS_OWNER}
    policy: review
`;
}

function writeFeed(dir, rel, rows) {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), rows.map(line).join("\n") + "\n");
}

/** The warehouse of the walk (see the top of this file): {dir, db, file,
 * runs: {ordersDay2, refundsDay2}}. Every command runs in dir and finds the
 * warehouse through pipemend.yaml's db:. */
function buildOnCallWarehouse() {
  if (!fs.existsSync(BIN)) throw new Error(`no pipemend binary at ${BIN} (set PIPEMEND_BIN, or make BUILD=san all)`);
  const dir = tempDir();
  const file = path.join(dir, "w.db");
  const db = `sqlite:${file}`;
  fs.writeFileSync(path.join(dir, "pipemend.yaml"), config(db, 1000));
  writeFeed(dir, "feed/orders/day1.ndjson", ORDERS_DAY1);
  writeFeed(dir, "feed/refunds/day1.ndjson", REFUNDS_DAY1);
  pm(dir, ["run", "orders"], { expect: 0 });
  pm(dir, ["run", "refunds"], { expect: 0 });
  writeFeed(dir, "feed/orders/day2.ndjson", ORDERS_DAY2);
  writeFeed(dir, "feed/refunds/day2.ndjson", REFUNDS_DAY2);
  pm(dir, ["run", "orders", "--policy", "review"], { expect: 3 });
  pm(dir, ["run", "refunds"], { expect: 3 });
  return { dir, db, file };
}

const cli = (wh, args, expect = 0) => pm(wh.dir, args, { expect });
const cliJson = (wh, args) => cli(wh, [...args, "--json"]).json();
const schemaOf = (wh, table) => cliJson(wh, ["schema", "show", "--table", table]);
const statusOf = (wh, table) => {
  const all = cliJson(wh, ["status"]);
  const s = all.find((x) => x.table === table);
  assert.ok(s, `pipemend status --json has no table ${table}: ${JSON.stringify(all)}`);
  return s;
};

/** The rows of a table, read with the sqlite3 shell (not through pipemend). */
function sqliteRows(wh, sql) {
  const r = spawnSync("sqlite3", ["-json", wh.file, sql], { encoding: "utf8" });
  if (r.error) throw new Error(`sqlite3 (Debian's sqlite3 package) is needed: ${r.error}`);
  assert.equal(r.status, 0, `sqlite3 ${sql}: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

function text(r) {
  return (r.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
}

for (const tr of transports) describe(`on-call walk over MCP (${tr.name})`, () => {
  let wh, conn;
  // what the steps hand on; a step that needs what an earlier one did not
  // get fails saying so
  const st = { head: 0, acts: [] };
  const test = (name, fn) => nodeTest(`${name} (${tr.name})`, fn);
  const need = (k, step) => {
    assert.notEqual(st[k], undefined, `needs ${k} from the step "${step}", which failed`);
    return st[k];
  };

  before(async () => {
    wh = buildOnCallWarehouse();
    conn = await tr.connect(wh, CLIENT);
    st.schema1 = schemaOf(wh, "orders");
  });
  after(async () => {
    if (conn) await tr.disconnect(conn);
  });

  /** tools/call that must succeed: its structuredContent, checked against
   * its text block (the same JSON). */
  async function call(name, args) {
    const r = await conn.client.callTool({ name, arguments: args });
    assert.equal(r.isError, false, `${name} ${JSON.stringify(args)} answered isError: ${text(r)}`);
    assert.ok(r.structuredContent, `${name}: no structuredContent`);
    assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent, `${name}: the text block is not the structured result`);
    return r.structuredContent;
  }

  /** The audit events after st.head (read_audit_log, paged), moving it on. */
  async function drainAudit() {
    const out = [];
    for (;;) {
      const page = await call("read_audit_log", { after_seq: st.head, limit: 500 });
      out.push(...page.events);
      if (page.events.length) st.head = page.events.at(-1).seq;
      if (!page.more) return out;
      assert.equal(page.next_after_seq, st.head, "next_after_seq of a page with more is its last event's seq");
    }
  }

  /** An acting call: call() plus the audit events it appended (kept in
   * st.acts, checked at the end). */
  async function act(name, args) {
    await drainAudit();
    const sc = await call(name, args);
    st.acts.push({ name, args, events: await drainAudit() });
    return sc;
  }

  test("list_failed_pipelines names both pipelines, their owners, runs and next steps", async () => {
    const runs = cliJson(wh, ["runs"]);
    const ordersRun = runs.find((r) => r.pipeline === "orders" && r.status === "quarantined");
    const refundsRun = runs.find((r) => r.pipeline === "refunds" && r.status === "quarantined");
    assert.ok(ordersRun && refundsRun, JSON.stringify(runs));
    assert.deepEqual(
      [ordersRun.rows_read, ordersRun.rows_loaded, ordersRun.rows_quarantined],
      [ORDERS_DAY2.length, 1, ORDERS_DAY2.length - 1],
    );

    const t0 = Date.now();
    const f = await call("list_failed_pipelines", { hours: 24 });
    assert.equal(f.hours, 24);
    const since = Date.parse(f.since.endsWith("Z") ? f.since : `${f.since}Z`);
    assert.ok(Math.abs(t0 - 24 * 3600e3 - since) < 120e3, `since ${f.since} is not 24 h ago`);
    // newest first: refunds ran after orders; the day-1 runs succeeded
    assert.deepEqual(
      f.runs.map(({ next_step, ...r }) => r),
      [
        { ...refundsRun, owner: REFUNDS_OWNER },
        { ...ordersRun, owner: ORDERS_OWNER },
      ],
    );
    for (const r of f.runs) assert.match(r.next_step, /list_incidents|get_incident/, `next step of run ${r.id}: ${r.next_step}`);
    assert.equal(f.runs[1].status, "quarantined");
    st.run = ordersRun.id;
    st.refundsRun = refundsRun.id;

    const p = await call("list_pipelines", {});
    assert.deepEqual(p.pipelines, [
      { name: "orders", table: "orders", source: "feed/orders/*.ndjson", owner: ORDERS_OWNER, policy: "auto", last_run: ordersRun },
      { name: "refunds", table: "refunds", source: "feed/refunds/*.ndjson", owner: REFUNDS_OWNER, policy: "review", last_run: refundsRun },
    ]);
  });

  test("get_run_log shows the run and its quarantined rows by kind", async () => {
    const runId = need("run", "list_failed_pipelines");
    const log = await call("get_run_log", { run_id: runId });
    assert.deepEqual(log.run, cliJson(wh, ["runs", "--pipeline", "orders"]).find((r) => r.id === runId));
    // rows, not findings: the 2 renamed rows carry new_field (email) too
    assert.deepEqual(log.quarantine, {
      rows: RENAMED.length + COUPONED.length + OVER_LIMIT.length,
      by_kind: { contract: OVER_LIMIT.length, new_field: RENAMED.length + COUPONED.length, rename: RENAMED.length },
      truncated: false,
    });
    assert.equal(log.events_truncated, false);
    const seqs = log.events.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "events in order");
    const about = log.events.filter((e) => e.subject === `run/${runId}`);
    assert.deepEqual(about.map((e) => [e.actor, e.action]), [
      ["engine", "run.started"],
      ["engine", "rows.quarantined"],
      ["engine", "run.finished"],
    ]);
    assert.deepEqual(about[1].payload.kinds, log.quarantine.by_kind);
    assert.equal(about[1].payload.rows, log.quarantine.rows);
    assert.equal(about[1].payload.source, path.join(wh.dir, "feed/orders/day2.ndjson"));
    assert.deepEqual(
      { status: about[2].payload.status, read: about[2].payload.rows_read, loaded: about[2].payload.rows_loaded },
      { status: "quarantined", read: ORDERS_DAY2.length, loaded: 1 },
    );
    const opened = log.events.filter((e) => e.action === "incident.open");
    assert.deepEqual(
      opened.map((e) => `${e.payload.column}/${e.payload.kind}`).sort(),
      ["amount/contract", "coupon/new_field", "customer_email/rename", "email/new_field"],
    );
    for (const e of opened) assert.equal(e.payload.run, runId);
    for (const e of log.events)
      assert.ok(e.subject === `run/${runId}` || /^incident\/\d+$/.test(e.subject), `an event of another run: ${JSON.stringify(e)}`);
    st.openedIncidents = opened.map((e) => e.subject).sort();
  });

  test("list_incidents on orders gives the four incidents the CLI shows", async () => {
    const li = await call("list_incidents", { table: "orders" });
    const fromCli = cliJson(wh, ["incidents", "list", "--table", "orders"]);
    assert.deepEqual(li.incidents, fromCli);
    assert.equal(li.total, 4);
    assert.equal(li.truncated, false);
    const by = Object.fromEntries(li.incidents.map((i) => [`${i.column}/${i.kind}`, i]));
    const summary = (i) => ({ table: i.table, state: i.state, run_id: i.run_id, rows: i.rows, planned: i.proposal !== null });
    assert.deepEqual(summary(by["customer_email/rename"]), { table: "orders", state: "awaiting_approval", run_id: st.run, rows: RENAMED.length, planned: true });
    assert.deepEqual(summary(by["coupon/new_field"]), { table: "orders", state: "awaiting_approval", run_id: st.run, rows: COUPONED.length, planned: true });
    assert.deepEqual(summary(by["email/new_field"]), { table: "orders", state: "open", run_id: st.run, rows: RENAMED.length, planned: false });
    assert.deepEqual(summary(by["amount/contract"]), { table: "orders", state: "open", run_id: st.run, rows: OVER_LIMIT.length, planned: false });
    assert.match(by["amount/contract"].message, /amount\.max/);
    if (st.openedIncidents) assert.deepEqual(li.incidents.map((i) => `incident/${i.id}`).sort(), st.openedIncidents, "the incidents the run log named");
    st.incident = by["customer_email/rename"].id;
    st.mapping = by["customer_email/rename"].proposal;
    st.couponIncident = by["coupon/new_field"].id;
    st.coupon = by["coupon/new_field"].proposal;
  });

  test("get_incident: the packet names the field and column; samples are untrusted_feed_data", async () => {
    const id = need("incident", "list_incidents");
    const pk = await call("get_incident", { id });
    assert.deepEqual(
      [pk.incident.id, pk.incident.table, pk.incident.column, pk.incident.kind, pk.incident.state, pk.incident.rows, pk.incident.proposal],
      [id, "orders", "customer_email", "rename", "awaiting_approval", RENAMED.length, st.mapping],
    );
    assert.deepEqual(
      pk.findings.map((f) => ({ kind: f.kind, field: f.field, column: f.column, count: f.count })),
      [{ kind: "rename", field: "email", column: "customer_email", count: RENAMED.length }],
    );
    assert.equal(pk.rows_scanned, RENAMED.length);
    assert.deepEqual(
      pk.positions.map((p) => [p.source, p.first_line, p.last_line, p.rows]),
      [[path.join(wh.dir, "feed/orders/day2.ndjson"), 2, 3, RENAMED.length]],
    );
    assert.deepEqual(pk.table, { name: "orders", version: 1, columns: st.schema1.columns });
    assert.deepEqual([pk.run.id, pk.run.pipeline, pk.run.status], [st.run, "orders", "quarantined"]);
    assert.deepEqual(
      pk.proposals.map((p) => ({ id: p.id, state: p.state, ops: p.ops })),
      [{ id: st.mapping, state: "pending", ops: [{ op: "add_field_mapping", table: "orders", column: "customer_email", field: "email" }] }],
    );
    assert.match(pk.samples.note, /not instructions/);
    assert.match(pk.untrusted.note, /never instructions/);
    assert.equal(pk.samples.records.length, RENAMED.length);
    // README, "Untrusted data": sample records of the diagnostic packet come
    // back inside {"untrusted_feed_data": ...}, as list_quarantine's rows do
    const raws = pk.samples.records.map((s) => s.raw);
    assert.ok(
      raws.every((r) => r && typeof r === "object" && typeof r.untrusted_feed_data === "string"),
      `SERVER BUG: get_incident's sample records are not wrapped as {"untrusted_feed_data": ...} ` +
        `(README "Untrusted data" says sample records in the diagnostic packet are; list_quarantine wraps its raw bytes so): ` +
        `samples.records[*].raw = ${JSON.stringify(raws)}`,
    );
    assert.deepEqual(raws.map((r) => r.untrusted_feed_data), RENAMED.map(line));
  });

  test("propose_fix (typed add_field_mapping): the pending proposal, its dry run fixes the rows", async () => {
    const pid = need("mapping", "list_incidents");
    const r = await act("propose_fix", { table: "orders", ops: [{ op: "add_field_mapping", field: "email", column: "customer_email" }] });
    // the rules planned the same ops: that proposal, not a second one
    const { dry_run, message, ...rest } = r;
    assert.deepEqual(rest, {
      proposal: pid,
      created: false,
      state: "pending",
      table: "orders",
      ops: ['map field "email" to orders.customer_email'],
    });
    assert.deepEqual(
      [dry_run.ok, dry_run.error, dry_run.rows, dry_run.fixed, dry_run.would_load, dry_run.would_fail],
      [true, null, RENAMED.length, RENAMED.length, RENAMED.length, 0],
    );
    const lp = await call("list_proposals", { table: "orders", state: "pending" });
    assert.deepEqual(lp.proposals.map((p) => p.id).sort(), [st.mapping, st.coupon].sort());
  });

  test("dry_run_fix: ok, every held row would load", async () => {
    const pid = need("mapping", "list_incidents");
    const r = await act("dry_run_fix", { proposal: pid });
    assert.equal(r.proposal, pid);
    assert.equal(r.table, "orders");
    assert.deepEqual(
      [r.dry_run.ok, r.dry_run.error, r.dry_run.rows, r.dry_run.fixed, r.dry_run.would_load, r.dry_run.would_fail, r.dry_run.failures],
      [true, null, RENAMED.length, RENAMED.length, RENAMED.length, 0, []],
    );
    assert.equal(r.dry_run.sample_rows, ORDERS_DAY1.length + 1, "the sandbox carries the table's rows");
  });

  test("apply_fix of the mapping awaits a person; the table is unchanged", async () => {
    const pid = need("mapping", "list_incidents");
    const rowsBefore = statusOf(wh, "orders").rows;
    const r = await act("apply_fix", { proposal: pid });
    const { message, ...rest } = r;
    assert.deepEqual(rest, { applied: false, awaiting_human_approval: true, proposal: pid, table: "orders" });
    assert.ok(message.includes(`pipemend proposals approve ${pid}`), `the message names the command a person runs: ${message}`);
    assert.deepEqual(schemaOf(wh, "orders"), st.schema1, "schema show --json after apply_fix");
    assert.equal(statusOf(wh, "orders").rows, rowsBefore);
    assert.equal(rowsBefore, ORDERS_DAY1.length + 1);
    const lp = await call("list_proposals", { table: "orders", state: "pending" });
    assert.ok(lp.proposals.some((p) => p.id === pid), "still pending");
  });

  test("a person approves with the CLI: the renamed rows replay", async () => {
    const pid = need("mapping", "list_incidents");
    const out = cli(wh, ["proposals", "approve", String(pid), "--actor", "oncall-human"]).stdout;
    assert.match(out, new RegExp(`proposal ${pid} applied by ${HUMAN}: orders is at schema version 2`));
    assert.match(out, new RegExp(`replayed its quarantine: ${RENAMED.length} rows loaded, ${COUPONED.length + OVER_LIMIT.length} still wait`));
    const s = schemaOf(wh, "orders");
    assert.equal(s.version, 2);
    assert.deepEqual(s.columns.find((c) => c.name === "customer_email").aliases, ["email"]);
    const lt = await call("list_tables", {});
    assert.deepEqual(lt.tables.find((t) => t.name === "orders"), {
      name: "orders",
      version: 2,
      rows: ORDERS_DAY1.length + 1 + RENAMED.length,
      quarantined: COUPONED.length + OVER_LIMIT.length,
    });
    const li = await call("list_incidents", { table: "orders", active_only: false });
    const state = Object.fromEntries(li.incidents.map((i) => [`${i.column}/${i.kind}`, i.state]));
    assert.deepEqual(state, {
      "customer_email/rename": "resolved",
      "email/new_field": "resolved",
      "coupon/new_field": "awaiting_approval",
      "amount/contract": "open",
    });
    st.approved = true;
  });

  test("propose_fix + apply_fix of the new column: the day's review holds it; a person approves and it replays", async () => {
    need("approved", "a person approves");
    const pid = need("coupon", "list_incidents");
    const p = await act("propose_fix", { table: "orders", ops: [{ op: "add_column", column: "coupon", type: "varchar(16)" }] });
    assert.deepEqual(
      [p.proposal, p.created, p.state, p.table, p.ops, p.dry_run.ok, p.dry_run.fixed, p.dry_run.would_load],
      [pid, false, "pending", "orders", ["add column coupon varchar(16) to orders"], true, COUPONED.length, COUPONED.length],
    );
    // the rules planned it in a run the operator held with --policy review;
    // a proposal keeps the policy it was made under, so the agent cannot
    // apply it though the pipeline's own policy is auto
    const r = await act("apply_fix", { proposal: pid });
    if (r.applied !== false || r.awaiting_human_approval !== true)
      assert.fail(`SERVER BUG: apply_fix applied proposal ${pid}, which a run under --policy review held: ${JSON.stringify(r)}`);
    assert.ok(r.message.includes(`pipemend proposals approve ${pid}`), r.message);
    assert.equal(schemaOf(wh, "orders").version, 2);
    const out = cli(wh, ["proposals", "approve", String(pid), "--actor", "oncall-human"]).stdout;
    assert.match(out, new RegExp(`replayed its quarantine: ${COUPONED.length} rows loaded, ${OVER_LIMIT.length} still wait`));
    const s = schemaOf(wh, "orders");
    assert.equal(s.version, 3);
    assert.deepEqual(s.columns.at(-1), { name: "coupon", type: "varchar(16)", nullable: true });
    st.couponApplied = true;
  });

  test("replay_quarantine: nothing fits yet; after the owner raises the contract it loads the last row", async () => {
    need("couponApplied", "propose_fix + apply_fix of the new column");
    let r = await act("replay_quarantine", { table: "orders" });
    assert.deepEqual(r, { table: "orders", loaded: 0, waiting: OVER_LIMIT.length, skipped: 0, incidents_resolved: 0 });
    const q = await call("list_quarantine", { table: "orders" });
    assert.equal(q.more, false);
    assert.deepEqual(
      q.rows.map((x) => ({ kinds: x.kinds, raw: x.raw.untrusted_feed_data, run: x.run_id, line: x.line })),
      OVER_LIMIT.map((o) => ({ kinds: ["contract"], raw: line(o), run: st.run, line: ORDERS_DAY2.indexOf(o) + 1 })),
    );

    // the owner: orders of up to 5000 are real. pipemend reads pipemend.yaml
    // when it starts, so the server starts again.
    fs.writeFileSync(path.join(wh.dir, "pipemend.yaml"), config(wh.db, 5000));
    const old = conn;
    conn = null;
    await tr.disconnect(old);
    conn = await tr.connect(wh, CLIENT);

    r = await act("replay_quarantine", { table: "orders" });
    assert.deepEqual(r, { table: "orders", loaded: OVER_LIMIT.length, waiting: 0, skipped: 0, incidents_resolved: 1 });
    st.replayed = true;
  });

  test("apply_fix on refunds: its pipeline's policy (review) holds the new column for a person", async () => {
    const lp = await call("list_proposals", { table: "refunds", state: "pending" });
    assert.equal(lp.proposals.length, 1, JSON.stringify(lp));
    const p = lp.proposals[0];
    assert.deepEqual(p.ops, [{ op: "add_column", table: "refunds", column: "reason", type: "varchar(16)" }]);
    const before = schemaOf(wh, "refunds");
    const r = await act("apply_fix", { proposal: p.id });
    if (r.applied !== false || r.awaiting_human_approval !== true)
      assert.fail(
        `SERVER BUG: apply_fix applied proposal ${p.id} (add column reason to refunds) by itself although the pipeline ` +
          `refunds that loads the table has policy: review, which holds every repair for a person (its own run held it: ` +
          `incident awaiting_approval); DESIGN.md invariant 4. apply_fix (src/cli/mcp_act.c) looks the policy up with ` +
          `config_policy(cfg, NULL, table), which skips pipelines' policies. Answer: ${JSON.stringify(r)}`,
      );
    assert.ok(r.message.includes(`pipemend proposals approve ${p.id}`), r.message);
    assert.deepEqual(schemaOf(wh, "refunds"), before);
    const out = cli(wh, ["proposals", "approve", String(p.id), "--actor", "oncall-human"]).stdout;
    assert.match(out, new RegExp(`replayed its quarantine: ${REFUNDS_DAY2.length} rows loaded, 0 still wait`));
  });

  test("the end: every fed row is in its table, the quarantine is empty", async () => {
    need("replayed", "replay_quarantine");
    const s = statusOf(wh, "orders");
    assert.equal(s.rows, ORDERS_DAY1.length + ORDERS_DAY2.length, "orders: day 1 + day 2");
    assert.equal(s.quarantined, 0);
    assert.deepEqual([s.incidents.open, s.incidents.resolved, s.incidents.dismissed], [0, 4, 0]);
    const rf = statusOf(wh, "refunds");
    assert.deepEqual([rf.rows, rf.quarantined], [REFUNDS_DAY1.length + REFUNDS_DAY2.length, 0]);

    const want = [...ORDERS_DAY1, ...ORDERS_DAY2].map((o) => ({
      order_id: o.order_id,
      customer_email: o.customer_email ?? o.email,
      amount: o.amount,
      coupon: o.coupon ?? null,
    }));
    assert.deepEqual(sqliteRows(wh, "SELECT order_id, customer_email, amount, coupon FROM orders ORDER BY order_id"), want);
    assert.deepEqual(
      sqliteRows(wh, "SELECT refund_id, order_id, amount FROM refunds ORDER BY refund_id"),
      [...REFUNDS_DAY1, ...REFUNDS_DAY2].map(({ reason, ...r }) => r),
    );

    const q = await call("list_quarantine", {});
    assert.deepEqual([q.rows, q.more], [[], false], "list_quarantine of every table");
    const lt = await call("list_tables", {});
    assert.deepEqual(lt.tables.find((t) => t.name === "orders"), { name: "orders", version: 3, rows: s.rows, quarantined: 0 });
    const li = await call("list_incidents", { table: "orders", active_only: false });
    assert.deepEqual(li.incidents.map((i) => i.state), ["resolved", "resolved", "resolved", "resolved"]);
    const ps = await call("get_pipeline_status", { pipeline: "orders" });
    assert.deepEqual(
      [ps.name, ps.table, ps.owner, ps.policy, ps.rows, ps.quarantined, ps.active_incidents],
      ["orders", "orders", ORDERS_OWNER, "auto", s.rows, 0, 0],
    );
  });

  test("the audit log: intact, the agent's acts as agent:walkthrough, the approvals as human:oncall-human", async () => {
    const v = await call("verify_audit_log", {});
    const fromCli = cliJson(wh, ["audit", "verify"]);
    // no anchor file in the walk's directory: the chain alone is checked
    assert.deepEqual(v, { intact: true, events: fromCli.events, anchor_checked: false, anchors: 0 });
    assert.equal(fromCli.intact, true);

    st.head = 0;
    const events = await drainAudit();
    assert.equal(events.length, v.events);
    assert.deepEqual(events, cliJson(wh, ["audit", "log", "--limit", String(v.events + 100)]));
    const has = (actor, action, subject) => events.some((e) => e.actor === actor && e.action === action && e.subject === subject);

    // the person
    const mapping = need("mapping", "list_incidents");
    assert.ok(has(HUMAN, "proposal.approved", `proposal/${mapping}`), `${HUMAN} approved proposal ${mapping}`);
    assert.deepEqual(
      events.filter((e) => e.action === "proposal.approved").map((e) => e.actor).filter((a) => a !== HUMAN),
      [],
      "only the person approves",
    );
    // the agent's acts
    assert.ok(has(AGENT, "proposal.dry_run", `proposal/${mapping}`), "dry_run_fix");
    assert.ok(has(AGENT, "proposal.held", `proposal/${mapping}`), "apply_fix that awaits a person");
    const coupon = need("coupon", "list_incidents");
    assert.ok(has(AGENT, "proposal.held", `proposal/${coupon}`), "apply_fix of what the day's review held");
    assert.ok(has(HUMAN, "proposal.approved", `proposal/${coupon}`), `${HUMAN} approved proposal ${coupon}`);
    assert.ok(has(AGENT, "quarantine.replay_tried", "table/orders"), "replay_quarantine that loaded nothing");
    assert.ok(has(AGENT, "quarantine.replayed", "table/orders"), "replay_quarantine that loaded");
    // README: "Every acting call is an audit event by agent:<clientInfo.name>"
    const silent = st.acts.filter((a) => !a.events.some((e) => e.actor === AGENT));
    assert.deepEqual(
      silent.map((a) => `${a.name} ${JSON.stringify(a.args)}`),
      [],
      `SERVER BUG: acting calls that left no audit event by ${AGENT} (README: every acting call is an audit event ` +
        `by agent:<clientInfo.name>): ${JSON.stringify(silent.map((a) => ({ call: a.name, args: a.args, events: a.events })))}`,
    );
    const v2 = await call("verify_audit_log", {});
    assert.deepEqual(v2, v, "the read-only calls wrote nothing");
  });
});
