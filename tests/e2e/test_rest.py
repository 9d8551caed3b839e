"""The REST API of `pipemend serve` (/api/v1/, src/daemon/rest.c) and who
may use it (src/daemon/users.c, serve_auth.c), on both backends: every
route against a warehouse with runs, incidents, proposals and quarantined
rows; its errors (400, 401, 403, 404, 405, 409) in one JSON shape; the
quarantine's cursor pages and the audit log's pages; roles per route (a
viewer or an agent cannot approve, the server's token names no one who
could, a forged actor in the body is ignored and the audit log names the
authenticated user); `pipemend users` and the users file serve follows;
and /api/v1/openapi.json checked against the routes that answer."""
import hashlib
import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from e2e_util import BIN, E2E, EXIT_QUARANTINED, SANITIZER_RE, clean_env

TOKEN = "rest-server-token-" + "0123456789abcdef" * 3

# What the assignment names, as (method, path below /api/v1): each must be
# a route and be documented.
EXPECTED = {
    ("get", "/pipelines"), ("get", "/pipelines/{name}"), ("get", "/pipelines/{name}/history"),
    ("post", "/pipelines/{name}/trigger"), ("get", "/runs"), ("get", "/runs/{id}/log"),
    ("get", "/tables"), ("get", "/tables/{name}"), ("post", "/tables/{name}/replay"),
    ("get", "/incidents"), ("get", "/incidents/{id}"), ("post", "/incidents/{id}/dismiss"), ("get", "/proposals"), ("get", "/proposals/{id}"),
    ("post", "/proposals/{id}/approve"), ("post", "/proposals/{id}/reject"),
    ("get", "/quarantine"), ("get", "/audit"), ("get", "/audit/verify"), ("get", "/metrics"),
    ("get", "/openapi.json"), ("get", "/agent/sessions"), ("get", "/agent/sessions/{id}"),
}

CONFIG = """\
users_file: users.yaml
pipelines:
  - name: orders
    table: orders
    source: orders.ndjson
    policy: {overrides: {drop_not_null: review}}
  - name: customers
    table: customers
    source: customers.ndjson
    policy: {overrides: {drop_not_null: review}}
  - name: events
    table: events
    source: events.ndjson
"""


def strings(v):
    """Every string in a JSON value."""
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        v = list(v.values())
    return [s for x in v for s in strings(x)] if isinstance(v, list) else []


class TestRest(E2E):
    def env(self, extra=None):
        env = clean_env()
        env.pop("PIPEMEND_MCP_TOKEN", None)
        env.pop("PIPEMEND_USERS_FILE", None)
        env["HOME"] = self.path("home")
        env.pop("XDG_CONFIG_HOME", None)
        env.update(extra or {})
        return env

    def users_add(self, name, role):
        r = self.pm("users", "add", name, "--role", role, env=self.env())
        self.assertEqual(r.rc, 0, r)
        token = r.stdout.strip()
        self.assertRegex(token, r"^[0-9a-f]{64}$")
        return token

    def setUp(self):
        super().setUp()
        self.write_config(CONFIG)
        # orders: one null name (a review-class proposal); customers: the
        # same; events: clean, for trigger
        self.write("orders.ndjson", [{"id": i, "name": "n%d" % i} for i in range(1, 4)])
        self.write("customers.ndjson", [{"id": 1, "email": "a@x"}, {"id": 2, "email": "b@x"}])
        self.write("events.ndjson", [{"id": 1, "kind": "click"}])
        for p in ("orders", "customers"):
            r = self.pm("run", "--db", self.db, p, env=self.env())
            self.assertEqual(r.rc, 0, r)
        # a null where the tables learned NOT NULL, whose drop this configuration
        # holds for review: quarantined, a proposal for a person
        self.write("orders.ndjson", [{"id": 5, "name": None}], append=True)
        self.write("customers.ndjson", [{"id": 4, "email": None}], append=True)
        for p in ("orders", "customers"):
            r = self.pm("run", "--db", self.db, p, env=self.env())
            self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.alice = self.users_add("alice", "operator")
        self.vic = self.users_add("vic", "viewer")
        self.bot = self.users_add("bot", "agent")
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.stop()

    def start(self, extra_env=None, args=()):
        env = self.env(dict({"PIPEMEND_MCP_TOKEN": TOKEN}, **(extra_env or {})))
        self.proc = subprocess.Popen(
            [BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0"] + list(args), cwd=self.tmp,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.assertIn("at http://127.0.0.1:", line, self.proc.stderr.read() if not line else "")
        self.base = line.strip().rsplit(" ", 1)[1][:-len("/mcp")]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.fail("serve did not stop on SIGTERM")
        self.assertEqual(self.proc.returncode, 0, err)
        self.assertIsNone(SANITIZER_RE.search(err), err)

    def call(self, method, path, token=None, body=None, headers=None, prefix="/api/v1"):
        """(status, headers, parsed JSON body) of one request."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + prefix + path, data, h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, hdrs, text = r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            status, hdrs, text = e.code, e.headers, e.read().decode()
        return status, hdrs, (json.loads(text) if text else None)

    def get(self, path, token=None):
        status, _, body = self.call("GET", path, token or self.vic)
        self.assertEqual(status, 200, body)
        return body

    def assertRestError(self, got, status, pattern):
        code, hdrs, body = got
        self.assertEqual(code, status, body)
        self.assertTrue(hdrs["Content-Type"].startswith("application/json"), hdrs)
        self.assertEqual(set(body["error"]), {"message", "detail", "hint"}, body)
        self.assertRegex(body["error"]["message"], pattern)
        return body["error"]

    def pending(self, table):
        rows = self.sql("SELECT id FROM _pipemend_proposals WHERE table_name = ? AND state = "
                        "'pending'", (table,))
        self.assertEqual(len(rows), 1, rows)
        return rows[0][0]

    def audit(self):
        r = self.pm("audit", "log", "--db", self.db, "--json", env=self.env())
        return r.json()

    # ---- reading ---------------------------------------------------------------

    def test_every_read_route_answers_from_the_warehouse(self):
        self.start()
        names = [p["name"] for p in self.get("/pipelines")["pipelines"]]
        self.assertEqual(sorted(names), ["customers", "events", "orders"])
        st = self.get("/pipelines/orders")
        self.assertEqual((st["name"], st["last_run"]["status"]), ("orders", "quarantined"))
        hist = self.get("/pipelines/orders/history?limit=1")["runs"]
        self.assertEqual(len(hist), 1)
        self.assertEqual(len(self.get("/pipelines/orders/history")["runs"]), 2)

        runs = self.get("/runs")
        self.assertEqual(len(runs["runs"]), 4)
        self.assertFalse(runs["more"])
        page = self.get("/runs?limit=3&pipeline=orders")
        self.assertEqual([r["pipeline"] for r in page["runs"]], ["orders", "orders"])
        self.assertEqual(len(self.get("/runs?limit=3")["runs"]), 3)
        self.assertTrue(self.get("/runs?limit=3")["more"])
        last = self.sql("SELECT max(id) FROM _pipemend_runs WHERE pipeline = 'orders'")[0][0]
        log = self.get("/runs/%d/log" % last)
        self.assertEqual((log["run"]["id"], log["run"]["rows_quarantined"]), (last, 1))

        tables = {t["name"]: t for t in self.get("/tables")["tables"]}
        self.assertEqual((tables["orders"]["rows"], tables["orders"]["quarantined"]), (3, 1))
        schema = self.get("/tables/orders")
        self.assertEqual([c["name"] for c in schema["columns"]], ["id", "name"])

        inc = self.get("/incidents")
        self.assertEqual(inc["total"], 2)
        iid = [i for i in inc["incidents"] if i["table"] == "orders"][0]["id"]
        self.assertEqual([i["table"] for i in self.get("/incidents?table=orders")["incidents"]],
                         ["orders"])
        packet = self.get("/incidents/%d" % iid)
        # people get the bytes exactly, not wrapped for a model
        self.assertIn('{"id": 5, "name": null}', strings(packet))

        props = self.get("/proposals?state=pending")["proposals"]
        self.assertEqual(sorted(p["table"] for p in props), ["customers", "orders"])
        pid = self.pending("orders")
        one = self.get("/proposals/%d" % pid)
        self.assertEqual((one["id"], one["state"], one["ops"][0]["op"]),
                         (pid, "pending", "drop_not_null"))

        self.assertTrue(self.get("/audit/verify")["intact"])
        m = self.get("/metrics")
        self.assertEqual(m["incidents"]["active"], 2)
        self.assertEqual(m["runs"]["total"], 4)

    def test_audit_pages_cover_the_log_once_in_order(self):
        self.start()
        seqs, after = [], 0
        for _ in range(100):
            page = self.get("/audit?limit=3&after=%d" % after)
            seqs += [e["seq"] for e in page["events"]]
            self.assertLessEqual(len(page["events"]), 3)
            if not page["more"]:
                break
            after = page["next_after_seq"]
        self.assertEqual(seqs, [e["seq"] for e in self.audit()])

    def test_quarantine_cursor_pages_and_filters(self):
        # more quarantined rows of several kinds and runs
        self.write("orders.ndjson", [{"id": "x%d" % i, "name": "t"} for i in range(5)] +
                   [{"id": 10 + i, "name": None} for i in range(3)], append=True)
        self.assertEqual(self.pm("run", "--db", self.db, "orders", env=self.env()).rc,
                         EXIT_QUARANTINED)
        self.start()
        want = [r[0] for r in self.sql("SELECT id FROM _pipemend_quarantine ORDER BY id DESC")]
        self.assertEqual(len(want), 10)
        got, cursor, pages = [], None, 0
        while True:
            page = self.get("/quarantine?limit=4" + ("&cursor=" + cursor if cursor else ""))
            pages += 1
            got += [r["id"] for r in page["rows"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual((got, pages), (want, 3))
        nulls = self.get("/quarantine?kind=null_violation&table=orders&limit=1000")["rows"]
        self.assertEqual(len(nulls), 4)
        self.assertTrue(all("null_violation" in r["kinds"] for r in nulls))
        conflicts = self.get("/quarantine?kind=type_conflict")["rows"]
        self.assertEqual(len(conflicts), 5)
        self.assertEqual(self.get("/quarantine?kind=widen")["rows"], [])
        run = conflicts[0]["run_id"]
        by_run = self.get("/quarantine?run=%d" % run)["rows"]
        self.assertEqual({r["run_id"] for r in by_run}, {run})
        self.assertEqual(len(by_run), 8)
        self.assertEqual(len(self.get("/quarantine?table=customers")["rows"]), 1)
        # exact bytes for people
        self.assertIn(by_run[0]["raw"], ['{"id": 12, "name": null}'])

    # ---- errors ------------------------------------------------------------------

    def test_errors_have_one_shape_and_the_right_status(self):
        self.start()
        self.assertEqual(self.call("GET", "/tables")[0], 401)
        self.assertEqual(self.call("GET", "/tables", "not-a-token-of-anyone-0123456789ab")[0], 401)
        self.assertRestError(self.call("GET", "/nope", self.vic), 404, "^Not Found")
        self.assertRestError(self.call("GET", "/pipelines/nope", self.vic), 404,
                             'no pipeline "nope"')
        self.assertRestError(self.call("POST", "/pipelines/nope/trigger", self.alice), 404,
                             'no pipeline "nope"')
        self.assertRestError(self.call("GET", "/tables/nope", self.vic), 404, "nope")
        self.assertRestError(self.call("GET", "/incidents/999", self.vic), 404, "no incident 999")
        self.assertRestError(self.call("GET", "/proposals/999", self.vic), 404, "no proposal 999")
        self.assertRestError(self.call("POST", "/proposals/999/approve", self.alice), 404,
                             "no proposal 999")
        self.assertRestError(self.call("GET", "/runs/999/log", self.vic), 404, "no run 999")
        self.assertRestError(self.call("GET", "/runs/abc/log", self.vic), 404, "no run")
        # bytes that are not UTF-8 name nothing, and are answered as JSON
        self.assertRestError(self.call("GET", "/tables/%FF", self.vic), 404, "^Not Found")
        self.assertRestError(self.call("GET", "/incidents?table=%FF", self.vic), 400,
                             "^table is not UTF-8$")
        self.assertRestError(self.call("GET", "/pipelines/%C3%A9t%C3%A9", self.vic), 404,
                             'no pipeline "été"')
        code, hdrs, _ = got = self.call("DELETE", "/tables", self.alice)
        self.assertRestError(got, 405, "Method Not Allowed")
        self.assertEqual(hdrs["Allow"], "GET")
        got = self.call("GET", "/proposals/1/approve", self.alice)
        self.assertRestError(got, 405, "takes POST")
        for q, pat in (("/quarantine?limit=0", "limit must be an integer from 1 to 1000"),
                       ("/quarantine?limit=abc", "limit must be"),
                       ("/quarantine?cursor=-1", "cursor must be"),
                       ("/quarantine?kind=bogus", 'kind "bogus" is not a finding kind'),
                       ("/proposals?state=bogus", 'state "bogus" is not a proposal state'),
                       ("/incidents?active_only=maybe", "active_only must be true or false"),
                       ("/audit?after=x", "after must be")):
            self.assertRestError(self.call("GET", q, self.vic), 400, pat)
        # a proposal decided already: 409
        pid = self.pending("orders")
        self.assertEqual(self.call("POST", "/proposals/%d/reject" % pid, self.alice)[0], 200)
        self.assertRestError(self.call("POST", "/proposals/%d/approve" % pid, self.alice), 409,
                             "not pending")

    # ---- roles ------------------------------------------------------------------------

    def test_only_a_named_operator_approves_and_the_body_names_no_one(self):
        self.start()
        pid = self.pending("orders")
        forged = json.dumps({"actor": "human:mallory", "decided_by": "mallory"})
        for token, who in ((self.vic, "vic is a viewer"), (self.bot, "bot is an agent"),
                           (TOKEN, "the server's token names no one")):
            err = self.assertRestError(
                self.call("POST", "/proposals/%d/approve" % pid, token, forged), 403, who)
            self.assertIn("users add", err["hint"])
        self.assertEqual(self.sql("SELECT state FROM _pipemend_proposals WHERE id = ?", (pid,)),
                         [("pending",)])
        status, _, body = self.call("POST", "/proposals/%d/approve" % pid, self.alice, forged)
        self.assertEqual(status, 200, body)
        self.assertEqual((body["decided_by"], body["proposal"]["state"], body["replayed"]),
                         ("human:alice", "applied", 1))
        self.assertEqual(self.sql("SELECT decided_by FROM _pipemend_proposals WHERE id = ?",
                                  (pid,)), [("human:alice",)])
        self.assertEqual(self.count("orders"), 4)  # the null name replayed
        events = self.audit()
        approved = [e for e in events if e["action"] == "proposal.approved"]
        self.assertEqual([e["actor"] for e in approved], ["human:alice"])
        self.assertNotIn("mallory", json.dumps(events))
        # reject: the same rule
        cid = self.pending("customers")
        self.assertEqual(self.call("POST", "/proposals/%d/reject" % cid, self.bot)[0], 403)
        status, _, body = self.call("POST", "/proposals/%d/reject" % cid, self.alice, forged)
        self.assertEqual((status, body["proposal"]["state"], body["decided_by"]),
                         (200, "rejected", "human:alice"))
        self.assertTrue(self.get("/audit/verify")["intact"])

    def assertServerRefusal(self, got, status, pattern):
        """The server's own refusal (before any route: the one shape of
        every path's 401/403, http/server.c)."""
        code, _, body = got
        self.assertEqual(code, status, body)
        self.assertRegex(body["error"]["message"], pattern)

    def proxy_config(self, proxies):
        self.write_config(CONFIG + "serve:\n  proxy_user_header: X-Forwarded-User\n"
                          "  trusted_proxies: [%s]\n" % proxies)

    def test_a_trusted_proxy_names_the_user_and_the_users_file_gives_the_role(self):
        self.proxy_config("10.9.9.9, 127.0.0.0/8")
        self.start()
        pid = self.pending("orders")
        as_user = lambda name: {"X-Forwarded-User": name}
        # no token: the proxy authenticated them; the role is the file's
        status, _, body = self.call("GET", "/incidents", headers=as_user("vic"))
        self.assertEqual(status, 200, body)
        self.assertRestError(self.call("POST", "/proposals/%d/approve" % pid,
                                       headers=as_user("vic")), 403, "vic is a viewer")
        self.assertServerRefusal(self.call("GET", "/incidents", headers=as_user("mallory")), 403,
                                 'the proxy names the user "mallory", whom the users file '
                                 'does not have; add them with pipemend users add')
        # the header wins over a token the proxy passed on
        status, _, body = self.call("POST", "/proposals/%d/approve" % pid, TOKEN,
                                    headers=as_user("alice"))
        self.assertEqual((status, body["decided_by"]), (200, "human:alice"), body)
        self.assertEqual(self.sql("SELECT decided_by FROM _pipemend_proposals WHERE id = ?",
                                  (pid,)), [("human:alice",)])
        # a viewer named by the proxy may not use MCP
        status, _, body = self.call("POST", "", headers=dict(as_user("vic"), Accept=
                                    "application/json, text/event-stream"), body=json.dumps(
                                    {"jsonrpc": "2.0", "id": 1, "method": "ping"}), prefix="/mcp")
        self.assertEqual(status, 403, body)

    def test_the_proxy_header_from_an_untrusted_address_is_ignored(self):
        self.proxy_config("10.9.9.9")
        self.start()
        self.assertServerRefusal(self.call("GET", "/incidents",
                                           headers={"X-Forwarded-User": "alice"}),
                                 401, "Unauthorized")
        pid = self.pending("orders")
        # a viewer's token with the header naming an operator stays a viewer
        self.assertRestError(self.call("POST", "/proposals/%d/approve" % pid, self.vic,
                                       headers={"X-Forwarded-User": "alice"}), 403, "vic")
        self.assertEqual(self.sql("SELECT state FROM _pipemend_proposals WHERE id = ?", (pid,)),
                         [("pending",)])

    def test_proxy_settings_are_checked_when_the_file_is_read(self):
        for serve, pattern in (
                ("  proxy_user_header: X-Forwarded-User\n",
                 "proxy_user_header and trusted_proxies go together"),
                ("  proxy_user_header: X-Forwarded-User\n  trusted_proxies: [10.0.0.300]\n",
                 "an IP address or a range"),
                ("  proxy_user_header: X-Forwarded-User\n  trusted_proxies: [10.0.0.0/33]\n",
                 "an IP address or a range"),
                ("  proxy_user_header: 'X User'\n  trusted_proxies: [10.0.0.1]\n",
                 "an HTTP header name"),
                ("  max_connections: 8\n  max_connections_per_peer: 9\n",
                 r"max_connections_per_peer \(9\) is more than its max_connections \(8\)")):
            self.write_config(CONFIG + "serve:\n" + serve)
            r = self.pm("serve", "--db", self.db, "--listen", "127.0.0.1:0", env=self.env())
            self.assertEqual(r.rc, 2, r)
            self.assertRegex(r.stderr, pattern)

    def test_a_page_read_again_is_never_stale(self):
        # pages are kept while the warehouse does not change; any commit,
        # by this server or another process, makes them read again
        self.start()
        first = self.get("/incidents")
        for _ in range(8):  # every connection of the server has it now
            self.assertEqual(self.get("/incidents"), first)
        before = {i["id"]: i["state"] for i in first["incidents"]}
        victim = sorted(before)[0]
        r = self.pm("incidents", "dismiss", str(victim), "--db", self.db,
                    env=self.env())
        self.assertEqual(r.rc, 0, r)
        for _ in range(8):
            now = self.get("/incidents")
            self.assertNotIn(victim, [i["id"] for i in now["incidents"]])
            self.assertEqual(now["total"], first["total"] - 1)
        every = self.get("/incidents?active_only=false")
        self.assertEqual([i["state"] for i in every["incidents"] if i["id"] == victim],
                         ["dismissed"])
        # a change made through the server itself
        pid = self.pending("customers")
        self.assertEqual(self.get("/proposals/%d" % pid)["state"], "pending")
        status, _, body = self.call("POST", "/proposals/%d/reject" % pid, self.alice)
        self.assertEqual(status, 200, body)
        for _ in range(8):
            self.assertEqual(self.get("/proposals/%d" % pid)["state"], "rejected")

    def test_incident_pages_count_all_and_read_only_the_page(self):
        self.write("events.ndjson", [{"id": 2, "kind": "click", "x%d" % i: "v"}
                                     for i in range(1)], append=True)
        for i in range(6):  # six tables, each with a type conflict that waits for a person
            name = "t%d" % i
            self.write(name + ".ndjson", [{"id": 1, "v": 7}])
            self.assertEqual(self.pm("ingest", name + ".ndjson", "--table", name, "--db", self.db,
                                     env=self.env()).rc, 0)
            self.write(name + ".ndjson", [{"id": 2, "v": "seven"}], append=True)
            self.assertEqual(self.pm("ingest", name + ".ndjson", "--table", name, "--db", self.db,
                                     env=self.env()).rc, EXIT_QUARANTINED)
        active = self.sql("SELECT count(*) FROM _pipemend_incidents WHERE state NOT IN "
                          "('resolved', 'dismissed')")[0][0]
        self.assertGreaterEqual(active, 8)
        self.start()
        page = self.get("/incidents?limit=3")
        self.assertEqual((len(page["incidents"]), page["total"], page["truncated"]),
                         (3, active, True))
        newest = [r[0] for r in self.sql(
            "SELECT id FROM _pipemend_incidents WHERE state NOT IN ('resolved', 'dismissed') "
            "ORDER BY id DESC LIMIT 3")]
        self.assertEqual([i["id"] for i in page["incidents"]], newest)
        whole = self.get("/incidents?limit=500")
        self.assertEqual((len(whole["incidents"]), whole["total"], whole["truncated"]),
                         (active, active, False))
        one = self.get("/incidents?limit=5&table=t3")
        self.assertEqual((len(one["incidents"]), one["total"], one["truncated"]), (1, 1, False))
        self.assertEqual(one["incidents"][0]["table"], "t3")

    def test_only_a_named_operator_dismisses_with_a_reason_from_the_body(self):
        self.start()
        iid = self.sql("SELECT id FROM _pipemend_incidents WHERE table_name = 'orders'")[0][0]
        body = json.dumps({"reason": "upstream bug, fixed tomorrow", "actor": "human:mallory"})
        for token in (self.vic, self.bot, TOKEN):
            self.assertRestError(self.call("POST", "/incidents/%d/dismiss" % iid, token, body), 403,
                                 "Forbidden")
        self.assertRestError(self.call("POST", "/incidents/%d/dismiss" % iid, self.alice,
                                       "not json"), 400, "not a JSON object")
        self.assertRestError(self.call("POST", "/incidents/%d/dismiss" % iid, self.alice,
                                       '{"reason": 5}'), 400, "string reason")
        status, _, got = self.call("POST", "/incidents/%d/dismiss" % iid, self.alice, body)
        self.assertEqual(status, 200, got)
        self.assertEqual((got["incident"]["state"], got["dismissed_by"]),
                         ("dismissed", "human:alice"))
        ev = [e for e in self.audit() if e["action"] == "incident.dismissed"]
        self.assertEqual([e["actor"] for e in ev], ["human:alice"])
        self.assertIn("upstream bug, fixed tomorrow", json.dumps(ev[0]["payload"]))
        self.assertNotIn("mallory", json.dumps(self.audit()))
        # its row stays in quarantine; dismissing again is refused by its state
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine WHERE table_name = "
                                  "'orders'"), [(1,)])
        self.assertRestError(self.call("POST", "/incidents/%d/dismiss" % iid, self.alice), 409,
                             "dismissed already")
        self.assertRestError(self.call("POST", "/incidents/999/dismiss", self.alice), 404,
                             "no incident 999")

    def test_replay_needs_operator_or_agent(self):
        # a contract quarantines a row; the contract relaxed, replay loads it
        strict = CONFIG + "    contract:\n      columns:\n        kind: {allowed: [click]}\n"
        self.write_config(strict)
        self.write("events.ndjson", [{"id": 2, "kind": "view"}], append=True)
        r = self.pm("run", "--db", self.db, "events", env=self.env())
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.write_config(CONFIG)
        self.start()
        self.assertRestError(self.call("POST", "/tables/events/replay", self.vic), 403,
                             "vic is a viewer")
        self.assertRestError(self.call("POST", "/tables/nope/replay", self.bot), 404,
                             'no table "nope"')
        status, _, got = self.call("POST", "/tables/events/replay", self.bot)
        self.assertEqual(status, 200, got)
        self.assertEqual((got["table"], got["loaded"], got["waiting"]), ("events", 1, 0))
        self.assertEqual(self.count("events"), 2)
        ev = [e for e in self.audit() if e["action"] == "quarantine.replayed"]
        self.assertEqual([e["actor"] for e in ev], ["agent:bot"])
        # nothing left: the server's token may replay too
        status, _, got = self.call("POST", "/tables/events/replay", TOKEN)
        self.assertEqual((status, got["loaded"]), (200, 0))

    def test_trigger_needs_operator_or_agent(self):
        self.start()
        err = self.assertRestError(self.call("POST", "/pipelines/events/trigger", self.vic), 403,
                                   "vic is a viewer")
        self.assertIsNone(err["hint"])
        status, _, body = self.call("POST", "/pipelines/events/trigger", self.bot)
        self.assertEqual(status, 200, body)
        self.assertEqual((body["status"], body["rows_loaded"]), ("succeeded", 1))
        self.assertEqual(self.count("events"), 1)
        started = [e for e in self.audit() if e["action"] == "pipeline.triggered"]
        self.assertEqual([e["actor"] for e in started], ["agent:bot"])
        # within 60 s of its last start: the state forbids it
        self.assertRestError(self.call("POST", "/pipelines/events/trigger", self.alice), 409,
                             "at most once every 60 s")
        self.assertEqual(self.count("events"), 1)

    def test_mcp_admits_agents_operators_and_the_token_not_viewers(self):
        self.start()
        init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                      "clientInfo": {"name": "t", "version": "1"}}})
        h = {"Accept": "application/json, text/event-stream"}
        for token, status in ((self.vic, 403), (self.bot, 200), (self.alice, 200), (TOKEN, 200),
                              (None, 401)):
            code, _, body = self.call("POST", "", token, init, h, prefix="/mcp")
            self.assertEqual(code, status, (token, body))
        code, _, body = self.call("POST", "", self.vic, init, h, prefix="/mcp")
        self.assertIn("vic is a viewer", body["error"]["message"])
        # /healthz: any known token
        self.assertEqual(self.call("GET", "", self.vic, prefix="/healthz")[0], 200)

    # ---- users -----------------------------------------------------------------------------

    def test_users_file_keeps_hashes_and_serve_follows_it(self):
        path = self.path("users.yaml")
        text = open(path).read()
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        for token in (self.alice, self.vic, self.bot):
            self.assertNotIn(token, text)
            self.assertIn(hashlib.sha256(token.encode()).hexdigest(), text)
        r = self.pm("users", "list", "--json", env=self.env())
        self.assertEqual([(u["name"], u["role"]) for u in r.json()["users"]],
                         [("alice", "operator"), ("vic", "viewer"), ("bot", "agent")])
        self.assertNotIn(self.alice, r.stdout)
        r = self.pm("users", "add", "alice", "--role", "viewer", env=self.env())
        self.assertEqual(r.rc, 2)
        self.assertIn("there is a user alice already", r.stderr)
        r = self.pm("users", "add", "eve", env=self.env())
        self.assertEqual(r.rc, 2)
        self.assertIn("--role viewer|operator|agent", r.stderr)
        r = self.pm("users", "add", "bad name", "--role", "viewer", env=self.env())
        self.assertEqual(r.rc, 2)

        self.start()
        self.assertEqual(self.call("GET", "/tables", self.vic)[0], 200)
        # removed while serving: refused at the next request
        self.assertEqual(self.pm("users", "remove", "vic", env=self.env()).rc, 0)
        self.assertEqual(self.call("GET", "/tables", self.vic)[0], 401)
        # added while serving: admitted at once
        dora = self.users_add("dora", "viewer")
        self.assertEqual(self.call("GET", "/tables", dora)[0], 200)
        r = self.pm("users", "remove", "vic", env=self.env())
        self.assertEqual(r.rc, 1)
        self.assertIn("no user vic", r.stderr)

    def test_a_users_file_others_may_write_is_refused(self):
        os.chmod(self.path("users.yaml"), 0o620)
        r = subprocess.run([BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0"],
                           cwd=self.tmp, env=self.env({"PIPEMEND_MCP_TOKEN": TOKEN}),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no one else may write", r.stderr)
        self.assertEqual(self.pm("users", "list", env=self.env()).rc, 2)

    def test_users_file_default_path_and_environment(self):
        # without users_file: in the config, beside serve's generated token
        self.write_config(CONFIG.replace("users_file: users.yaml\n", ""))
        self.users_add("zed", "viewer")
        self.assertTrue(os.path.exists(self.path("home/.config/pipemend/users.yaml")))
        env = self.env({"XDG_CONFIG_HOME": self.path("xdg")})
        self.assertEqual(self.pm("users", "add", "yan", "--role", "agent", env=env).rc, 0)
        self.assertTrue(os.path.exists(self.path("xdg/pipemend/users.yaml")))
        env = self.env({"PIPEMEND_USERS_FILE": self.path("other.yaml")})
        self.assertEqual(self.pm("users", "add", "xia", "--role", "agent", env=env).rc, 0)
        self.assertIn("xia", open(self.path("other.yaml")).read())

    # ---- the document -----------------------------------------------------------------

    def test_openapi_document_agrees_with_the_routes(self):
        self.start()
        doc = self.get("/openapi.json")
        self.assertEqual(doc["openapi"], "3.1.0")
        self.assertEqual(doc["servers"], [{"url": "/api/v1"}])
        self.assertEqual(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer")
        ops = {(m, p): op for p, item in doc["paths"].items() for m, op in item.items()}
        self.assertEqual(set(ops), EXPECTED)
        ids = [op["operationId"] for op in ops.values()]
        self.assertEqual(len(ids), len(set(ids)))
        pid = self.pending("orders")
        iid = self.sql("SELECT min(id) FROM _pipemend_incidents")[0][0]
        rid = self.sql("SELECT max(id) FROM _pipemend_runs")[0][0]
        # a session of the agent, as `agent run` records one
        self.sql_exec("INSERT INTO _pipemend_agent_sessions (incident, provider, model, "
                      "prompt_sha256, outcome, steps, input_tokens, output_tokens, started_at, "
                      "pid, host) VALUES (%s, 'anthropic', 'm', 'x', 'escalated', 0, 0, 0, "
                      "'2026-12-06T00:00:00.000Z', 1, 'h')" % iid)
        sid = self.sql("SELECT max(id) FROM _pipemend_agent_sessions")[0][0]
        values = {"name": None, "id": None}
        for (method, path), op in sorted(ops.items()):
            # every {param} of the path is documented as a path parameter, and back
            in_path = set(re.findall(r"{(\w+)}", path))
            self.assertEqual({p["name"] for p in op["parameters"] if p["in"] == "path"}, in_path)
            self.assertTrue(op["x-pipemend-roles"], op)
            for code in ("200", "401", "500"):
                self.assertIn(code, op["responses"])
            # every documented route answers (a viewer: reads 200, acts 403)
            values["name"] = "events" if "/pipelines" in path else "orders"
            values["id"] = {"runs": rid, "incidents": iid, "proposals": pid, "agent": sid}.get(
                path.split("/")[1])
            url = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), path)
            status, _, body = self.call(method.upper(), url, self.vic)
            if "viewer" in op["x-pipemend-roles"]:
                self.assertEqual(status, 200, (method, url, body))
            else:
                self.assertEqual(status, 403, (method, url, body))
                self.assertIn("403", op["responses"])
            # query parameters it documents are the ones it checks
            for p in op["parameters"]:
                if p["in"] == "query" and p["schema"]["type"] == "integer":
                    bad = self.call(method.upper(), url + "?" + p["name"] + "=x", self.vic)
                    self.assertEqual(bad[0], 400, (url, p["name"], bad[2]))
        # and a route that is not documented does not answer
        self.assertEqual(self.call("GET", "/pipelines/orders/nope", self.vic)[0], 404)
        try:
            from openapi_spec_validator import validate  # where installed
        except ImportError:
            return
        validate(doc)
