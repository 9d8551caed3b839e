"""`pipemend serve` over Streamable HTTP, on both backends: a session from
initialize, a tool call answered as an SSE stream, an acting call audited
as the client, the session ended with DELETE, and a clean exit on SIGTERM.
(The SDK client and the Inspector CLI drive it in tests/mcp; this runs the
same transport against PostgreSQL too.) Also the HTTP server under it
(src/http): /healthz beside /mcp, the guards on every path, and a refused
request answered before its body is read."""
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from e2e_util import BIN, E2E, EXIT_LOADED, EXIT_QUARANTINED, SANITIZER_RE, clean_env

ACCEPT = "application/json, text/event-stream"


TOKEN = "e2e-token-0123456789abcdef"


class TestMcpHttp(E2E):
    def start(self, token=None):
        env = clean_env({"PIPEMEND_MCP_TOKEN": token} if token else None)
        if not token:
            env.pop("PIPEMEND_MCP_TOKEN", None)
        self.proc = subprocess.Popen(
            [BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0"], cwd=self.tmp,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.assertIn("MCP over Streamable HTTP at http://127.0.0.1:", line)
        self.url = line.strip().rsplit(" ", 1)[1]
        self.base = self.url[:-len("/mcp")]
        self.port = int(self.base.rsplit(":", 1)[1])
        self.sid = None

    def request(self, method, path, headers=None, body=None):
        """(status, headers, body text) of one request to this server."""
        req = urllib.request.Request(self.base + path, body, headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def assertError(self, got, status, pattern):
        """A refusal by the server: status and its JSON error body."""
        code, hdrs, body = got
        self.assertEqual(code, status, body)
        self.assertTrue(hdrs["Content-Type"].startswith("application/json"), hdrs)
        err = json.loads(body)
        self.assertEqual((err["jsonrpc"], err["id"], err["error"]["code"]), ("2.0", None, -32600))
        self.assertRegex(err["error"]["message"], pattern)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.fail("pipemend serve did not stop on SIGTERM")
        self.assertIsNone(SANITIZER_RE.search(err), err[-4000:])
        self.assertEqual(self.proc.returncode, 0, err[-2000:])
        return err

    def post(self, msg, sid=True):
        """POSTs one message; returns (status, headers, JSON messages: the
        body's, or each SSE event's)."""
        headers = {"Content-Type": "application/json", "Accept": ACCEPT}
        if sid and self.sid:
            headers["Mcp-Session-Id"] = self.sid
        req = urllib.request.Request(self.url, json.dumps(msg).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, hdrs, body = r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            status, hdrs, body = e.code, e.headers, e.read().decode()
        if (hdrs.get("Content-Type") or "").startswith("text/event-stream"):
            msgs = [json.loads(line[6:]) for line in body.splitlines()
                    if line.startswith("data: ") and line[6:].strip()]
        else:
            msgs = [json.loads(body)] if body else []
        return status, hdrs, msgs

    def call(self, id_, name, **args):
        status, hdrs, msgs = self.post({"jsonrpc": "2.0", "id": id_, "method": "tools/call",
                                        "params": {"name": name, "arguments": args}})
        self.assertEqual(status, 200, msgs)
        self.assertTrue(hdrs["Content-Type"].startswith("text/event-stream"))
        resp = [m for m in msgs if m.get("id") == id_]
        self.assertEqual(len(resp), 1, msgs)
        return resp[0]["result"]

    def test_session_over_http(self):
        self.ingest("orders", self.write("a.ndjson", [{"id": i, "sku": "s%d" % i} for i in range(5)]),
                    expect=EXIT_LOADED)
        self.ingest("orders", self.write("b.ndjson", [{"id": 9, "sku": "y", "coupon": "C"}]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        self.start()
        try:
            # no session yet: only initialize opens one
            status, _, msgs = self.post({"jsonrpc": "2.0", "id": 1, "method": "ping"})
            self.assertEqual(status, 400)
            self.assertEqual(msgs[0]["error"]["code"], -32600)
            status, hdrs, msgs = self.post({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "e2e-http", "version": "1"}}})
            self.assertEqual(status, 200, msgs)
            self.sid = hdrs["Mcp-Session-Id"]
            self.assertRegex(self.sid, r"^[0-9a-f]{64}$")
            self.assertEqual(msgs[0]["result"]["protocolVersion"], "2025-11-25")
            status, _, msgs = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            self.assertEqual((status, msgs), (202, []))

            tables = self.call(2, "list_tables")["structuredContent"]["tables"]
            self.assertEqual([(t["name"], t["rows"], t["quarantined"]) for t in tables],
                             [("orders", 5, 1)])
            props = self.call(3, "list_proposals", table="orders")["structuredContent"]
            pid = props["proposals"][0]["id"]
            res = self.call(4, "apply_fix", proposal=pid)["structuredContent"]
            # the run that made it held every change (--policy review), and a
            # proposal keeps the policy it was made under: it waits for a
            # person, though the server's own policy (the default) is auto
            self.assertEqual((res["applied"], res["awaiting_human_approval"]), (False, True), res)
            self.assertEqual(self.count("orders"), 5)

            status, _, _ = self.post({"jsonrpc": "2.0", "id": 5, "method": "ping"}, sid=False)
            self.assertEqual(status, 400)
            req = urllib.request.Request(self.url, method="DELETE",
                                         headers={"Mcp-Session-Id": self.sid})
            with urllib.request.urlopen(req, timeout=30) as r:
                self.assertEqual(r.status, 200)
            status, _, msgs = self.post({"jsonrpc": "2.0", "id": 6, "method": "ping"})
            self.assertEqual(status, 404, msgs)
        finally:
            err = self.stop()
        self.assertIn('client "e2e-http" initialized', err)
        events = self.pm("audit", "log", "--db", self.db, "--json").json()
        acts = [e["action"] for e in events if e["actor"] == "agent:e2e-http"]
        self.assertIn("proposal.held", acts, events)
        verdict = self.pm("audit", "verify", "--db", self.db, "--json").json()
        self.assertTrue(verdict["intact"], verdict)

    def post_raw(self, body):
        """POSTs body bytes as they are (json.dumps cannot write a key
        twice); returns (status, the JSON answer)."""
        headers = {"Content-Type": "application/json", "Accept": ACCEPT,
                   "Mcp-Session-Id": self.sid}
        req = urllib.request.Request(self.url, body.encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, body = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode()
        return status, json.loads(body)

    def test_duplicate_keys_refused(self):
        self.start()
        try:
            status, hdrs, msgs = self.post({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "e2e-http", "version": "1"}}})
            self.assertEqual(status, 200, msgs)
            self.sid = hdrs["Mcp-Session-Id"]
            self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            for body in ('{"jsonrpc":"2.0","id":2,"method":"tools/call","method":"ping"}',
                         '{"jsonrpc":"2.0","id":3,"id":4,"method":"ping"}',
                         '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":'
                         '"list_tables","arguments":{"x":{"k":1,"k":2}}}}'):
                status, err = self.post_raw(body)
                self.assertEqual(status, 400, err)
                self.assertEqual((err["id"], err["error"]["code"]), (None, -32700), err)
                self.assertRegex(err["error"]["message"], "^Parse error: duplicate object key")
            status, _, msgs = self.post({"jsonrpc": "2.0", "id": 6, "method": "ping"})
            self.assertEqual((status, msgs[-1]), (200, {"jsonrpc": "2.0", "id": 6, "result": {}}))
        finally:
            self.stop()

    def test_stops_on_sigterm_while_idle(self):
        self.start()
        time.sleep(0.2)
        self.stop()

    def test_healthz_beside_mcp(self):
        self.start()
        try:
            status, hdrs, body = self.request("GET", "/healthz")
            self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))
            self.assertTrue(hdrs["Content-Type"].startswith("application/json"), hdrs)
            # the same guards as /mcp: a foreign Host (DNS rebinding), a
            # foreign Origin
            self.assertError(self.request("GET", "/healthz", {"Host": "evil.example.com"}),
                             403, "Host")
            self.assertError(self.request("GET", "/healthz",
                                          {"Origin": "http://evil.example.com"}), 403, "Origin")
            status, hdrs, _ = self.request("POST", "/healthz", {"Content-Type": "text/plain"}, b"x")
            self.assertEqual((status, hdrs["Allow"]), (405, "GET, HEAD"))
            # a path nothing is mounted at: 404 with a JSON error naming what is
            self.assertError(self.request("GET", "/nothing/here"), 404, "/mcp.*/healthz")
            self.assertError(self.request("POST", "/", {"Content-Type": "application/json"},
                                          b"{}"), 404, "/mcp")
            # and MCP still answers beside it
            status, _, msgs = self.post({"jsonrpc": "2.0", "id": 1, "method": "ping"})
            self.assertEqual(status, 400, msgs)
        finally:
            self.stop()

    def test_token_guards_every_path(self):
        self.start(token=TOKEN)
        try:
            auth = {"Authorization": "Bearer " + TOKEN}
            for path in ("/healthz", "/mcp", "/nothing"):
                got = self.request("GET", path)
                self.assertError(got, 401, "Authorization")
                self.assertRegex(got[1]["WWW-Authenticate"], "^Bearer")
                self.assertError(self.request("GET", path, {"Authorization": "Bearer wrong"}),
                                 401, "Authorization")
            status, _, body = self.request("GET", "/healthz", auth)
            self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))
            # past the token, an unknown path is 404; a foreign Host is still 403
            self.assertError(self.request("GET", "/nothing", auth), 404, "/healthz")
            self.assertError(self.request("GET", "/healthz", dict(auth, Host="evil.example.com")),
                             403, "Host")
        finally:
            self.stop()

    def raw(self, head, wait=5):
        """Sends the request head only (no body byte) and returns what the
        server answers within wait seconds, and how long it took."""
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as s:
            s.sendall(head.encode())
            data = b""
            try:
                while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                pass
        return data.decode(errors="replace"), time.monotonic() - t0

    def test_duplicate_headers_refused(self):
        # libmicrohttpd keeps every copy of a header and answers lookups with
        # the first; a proxy may have used the last. Each header a guard or
        # a route reads as one value is refused when sent twice, on every
        # path, before anything else is checked.
        self.start(token=TOKEN)
        try:
            host = "Host: 127.0.0.1:%d\r\n" % self.port
            auth = "Authorization: Bearer %s\r\n" % TOKEN
            cases = [
                # the loopback Host passes the DNS-rebinding check, the
                # second names the site the page came from
                ("GET /healthz", host + "Host: evil.example.com\r\n" + auth, "Host"),
                ("GET /healthz", "host: evil.example.com\r\n" + host + auth, "Host"),
                ("GET /healthz", host + auth + "Authorization: Bearer wrong\r\n",
                 "Authorization"),
                ("GET /nothing", host + auth + "Origin: http://localhost\r\n"
                 "Origin: http://evil.example.com\r\n", "Origin"),
                ("POST /mcp", host + auth + "Content-Type: application/json\r\n"
                 "Accept: application/json, text/event-stream\r\n"
                 "Mcp-Session-Id: a\r\nMcp-Session-Id: b\r\nContent-Length: 2\r\n", "Mcp-Session-Id"),
                ("POST /mcp", host + auth + "Content-Type: application/json\r\n"
                 "Accept: application/json, text/event-stream\r\n"
                 "Content-Length: 2\r\nContent-Length: 2\r\n", "Content-Length"),
            ]
            for line, headers, name in cases:
                answer, took = self.raw("%s HTTP/1.1\r\n%s\r\n" % (line, headers))
                self.assertTrue(answer.startswith("HTTP/1.1 400 "), (line, name, answer))
                body = json.loads(answer.split("\r\n\r\n", 1)[1])
                self.assertEqual((body["id"], body["error"]["code"]), (None, -32600), body)
                self.assertIn("more than one %s header" % name, body["error"]["message"])
                self.assertLess(took, 3, answer)
            # once each, the same request is served
            answer, _ = self.raw("GET /healthz HTTP/1.1\r\n%s%sConnection: close\r\n\r\n"
                                 % (host, auth))
            self.assertTrue(answer.startswith("HTTP/1.1 200 "), answer)
        finally:
            self.stop()

    def test_refused_before_the_body_is_read(self):
        self.start(token=TOKEN)
        try:
            # a wrong token and a 100 MB body that never comes: the 401 is
            # sent on the headers alone (a server that read the body first
            # would wait for it until the client gave up)
            for path in ("/mcp", "/healthz", "/nothing"):
                answer, took = self.raw(
                    "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                    "Authorization: Bearer wrong\r\nContent-Type: application/json\r\n"
                    "Accept: application/json, text/event-stream\r\n"
                    "Content-Length: 100000000\r\n\r\n" % (path, self.port))
                self.assertTrue(answer.startswith("HTTP/1.1 401 "), (path, answer))
                self.assertIn('"Unauthorized: ', answer)
                self.assertLess(took, 3, answer)
            # the same with Expect: 100-continue: no 100, the 401 at once
            answer, took = self.raw(
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nExpect: 100-continue\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
                % self.port)
            self.assertTrue(answer.startswith("HTTP/1.1 401 "), answer)
            self.assertLess(took, 3, answer)
            # with the token, a body over /mcp's limit is 413 on its
            # Content-Length, also before a byte of it
            answer, took = self.raw(
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\n"
                "Accept: application/json, text/event-stream\r\n"
                "Content-Length: 100000000\r\n\r\n" % (self.port, TOKEN))
            self.assertTrue(answer.startswith("HTTP/1.1 413 "), answer)
            self.assertIn("100000000 bytes", answer)
            self.assertLess(took, 3, answer)
            # and the server still serves
            status, _, body = self.request("GET", "/healthz", {"Authorization": "Bearer " + TOKEN})
            self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))
        finally:
            self.stop()
