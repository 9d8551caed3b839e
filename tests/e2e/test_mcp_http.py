"""`pipemend serve` over Streamable HTTP, on both backends: a session from
initialize, a tool call answered as an SSE stream, an acting call audited
as the client, the session ended with DELETE, and a clean exit on SIGTERM.
(The SDK client and the Inspector CLI drive it in tests/mcp; this runs the
same transport against PostgreSQL too.) Also the HTTP server under it
(src/http): /healthz beside /mcp, the guards on every path, and a refused
request answered before its body is read."""
import json
import os
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request

from e2e_util import BIN, E2E, EXIT_LOADED, EXIT_QUARANTINED, SANITIZER_RE, clean_env

ACCEPT = "application/json, text/event-stream"


TOKEN = "e2e-token-" + "0123456789abcdef" * 3


class TestMcpHttp(E2E):
    def serve_env(self, extra=None):
        """The clean environment with HOME and XDG_CONFIG_HOME in the test's
        directory (a generated token never lands in the real home), and no
        PIPEMEND_MCP_TOKEN unless extra sets it."""
        env = clean_env()
        env.pop("PIPEMEND_MCP_TOKEN", None)
        env["HOME"] = self.path("home")
        env.pop("XDG_CONFIG_HOME", None)
        env.update(extra or {})
        return env

    def start(self, token=None, args=None, env=None):
        """pipemend serve on 127.0.0.1:0: with PIPEMEND_MCP_TOKEN=token,
        else with args (default: --no-token)."""
        if token:
            env = dict(env or {}, PIPEMEND_MCP_TOKEN=token)
            args = args or []
        elif args is None:
            args = ["--no-token"]
        self.proc = subprocess.Popen(
            [BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0"] + args, cwd=self.tmp,
            env=self.serve_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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

    # ---- the token: required by default, generated when none is given ----

    def refused(self, args=(), env=None, listen="127.0.0.1:0"):
        """pipemend serve that must refuse to start: its stderr, after
        checking exit 2 and that it never listened."""
        r = subprocess.run([BIN, "serve", "--db", self.db, "--listen", listen] + list(args),
                           cwd=self.tmp, env=self.serve_env(env), capture_output=True, text=True,
                           timeout=60)
        self.assertIsNone(SANITIZER_RE.search(r.stderr), r.stderr[-4000:])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertNotIn("Streamable HTTP at", r.stdout)
        return r.stderr

    def test_token_generated_on_first_start_and_reused(self):
        path = self.path("home/.config/pipemend/serve-token")
        self.start(args=[])
        try:
            st = os.stat(path)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)
            with open(path) as f:
                token = f.read().strip()
            self.assertRegex(token, "^[0-9a-f]{64}$")
            for path_ in ("/healthz", "/mcp"):
                got = self.request("GET", path_)
                self.assertError(got, 401, "Authorization")
            status, _, _ = self.request("GET", "/healthz", {"Authorization": "Bearer " + token})
            self.assertEqual(status, 200)
            status, _, msgs = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                         "params": {"protocolVersion": "2025-06-18",
                                                    "capabilities": {},
                                                    "clientInfo": {"name": "t", "version": "1"}}})
            self.assertEqual(status, 401, msgs)
        finally:
            err = self.stop()
        # stderr says where the token is and how to send it, never the token
        self.assertIn("generated the bearer token in " + path, err)
        self.assertIn("Authorization: Bearer $(cat %s)" % path, err)
        self.assertNotIn(token, err)
        # a second start reads the same file, and does not rewrite it
        self.start(args=[])
        try:
            with open(path) as f:
                self.assertEqual(f.read().strip(), token)
            self.assertEqual(os.stat(path).st_ino, st.st_ino)
            self.assertError(self.request("GET", "/healthz"), 401, "Authorization")
            status, _, _ = self.request("GET", "/healthz", {"Authorization": "Bearer " + token})
            self.assertEqual(status, 200)
        finally:
            err = self.stop()
        self.assertIn("using the bearer token in " + path, err)
        self.assertNotIn(token, err)

    def test_token_file_under_xdg_config_home(self):
        xdg = self.path("xdg")
        self.start(args=[], env={"XDG_CONFIG_HOME": xdg})
        try:
            path = os.path.join(xdg, "pipemend", "serve-token")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            self.assertFalse(os.path.exists(self.path("home/.config")))
            self.assertError(self.request("GET", "/healthz"), 401, "Authorization")
        finally:
            self.stop()

    def test_no_token_on_loopback_only(self):
        self.start(args=["--no-token"])
        try:
            status, _, _ = self.request("GET", "/healthz")
            self.assertEqual(status, 200)
        finally:
            err = self.stop()
        self.assertIn("--no-token", err)
        self.assertFalse(os.path.exists(self.path("home/.config")))
        err = self.refused(["--no-token"], listen="0.0.0.0:0")
        self.assertIn("beyond loopback, needs a token", err)
        # --no-token with a token given is a contradiction, not a choice
        err = self.refused(["--no-token"], env={"PIPEMEND_MCP_TOKEN": TOKEN})
        self.assertIn("--no-token", err)

    def test_weak_tokens_refused(self):
        weak = {
            " " * 16: "space",
            " " * 40: "space",
            "a" * 40: "fewer than 8 distinct",
            "abcdabcdabcdabcdabcdabcdabcdabcdabcd": "fewer than 8 distinct",
            "0123456789abcdef": "shorter than 32",
            "0123456789abcdef0123456789abcde": "shorter than 32",
            "0123456789abcdef\t0123456789abcdef": "control",
        }
        for i, (tok, why) in enumerate(weak.items()):
            with self.subTest(token=tok):
                err = self.refused(env={"PIPEMEND_MCP_TOKEN": tok})
                self.assertIn("PIPEMEND_MCP_TOKEN", err)
                self.assertIn(why, err)
                self.assertIn("openssl rand -hex 32", err)
                path = self.path("weak%d" % i)
                with open(path, "w") as f:
                    f.write(tok + "\n")
                os.chmod(path, 0o600)
                err = self.refused(["--token-file", path])
                self.assertIn("the token in " + path, err)
                self.assertIn(why, err)
                self.assertIn("openssl rand -hex 32", err)
        # an empty file, and a file that is not there
        path = self.path("empty")
        open(path, "w").close()
        os.chmod(path, 0o600)
        self.assertIn("shorter than 32", self.refused(["--token-file", path]))
        self.assertIn("cannot read the token file",
                      self.refused(["--token-file", self.path("absent")]))

    def test_token_file_open_to_others_refused(self):
        path = self.path("token")
        with open(path, "w") as f:
            f.write(TOKEN + "\n")
        for mode in (0o644, 0o640, 0o604, 0o620):
            os.chmod(path, mode)
            err = self.refused(["--token-file", path])
            self.assertIn("open to group or others", err)
            self.assertIn("chmod 600", err)
            self.assertNotIn(TOKEN, err)
        os.chmod(path, 0o600)
        self.start(args=["--token-file", path])
        try:
            self.assertError(self.request("GET", "/healthz"), 401, "Authorization")
            status, _, _ = self.request("GET", "/healthz", {"Authorization": "Bearer " + TOKEN})
            self.assertEqual(status, 200)
        finally:
            self.stop()
        # the generated file too, when someone opened it up
        self.start(args=[])
        self.stop()
        gen = self.path("home/.config/pipemend/serve-token")
        os.chmod(gen, 0o640)
        self.assertIn("open to group or others", self.refused())

    # ---- limits: connections per peer and in all, the header deadline ----

    def healthz_from(self, source, token=TOKEN):
        """GET /healthz on a connection from the loopback address source:
        the answer's status line, or "" when the server closed at once."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                      source_address=(source, 0)) as s:
            s.sendall(("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "Authorization: Bearer %s\r\nConnection: close\r\n\r\n"
                       % (self.port, token)).encode())
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except (socket.timeout, ConnectionResetError):
                pass
        return data.decode(errors="replace").split("\r\n", 1)[0]

    def test_connections_bounded_per_peer_and_in_all(self):
        # one client opens connections and sends nothing: past 32 from its
        # address the next one is closed at once, while another address
        # (127.0.0.2: all of 127/8 is loopback) is still served; past 256
        # in all, every new one is closed
        self.start(token=TOKEN)
        held = []
        try:
            for _ in range(32):
                held.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
            self.assertEqual(self.healthz_from("127.0.0.1"), "")
            self.assertEqual(self.healthz_from("127.0.0.2"), "HTTP/1.1 200 OK")
            for peer in range(2, 10):  # 8 more peers of 32: 288 asked, 256 admitted
                for _ in range(32):
                    held.append(socket.create_connection(
                        ("127.0.0.1", self.port), timeout=5,
                        source_address=("127.0.0.%d" % peer, 0)))
            time.sleep(0.5)
            self.assertEqual(self.healthz_from("127.0.0.11"), "")
            # the held ones go: everyone is served again
            for s in held:
                s.close()
            held = []
            time.sleep(1)
            self.assertEqual(self.healthz_from("127.0.0.1"), "HTTP/1.1 200 OK")
            self.assertEqual(self.healthz_from("127.0.0.11"), "HTTP/1.1 200 OK")
        finally:
            for s in held:
                s.close()
            self.stop()

    def test_connection_limits_come_from_the_serve_section(self):
        # a reverse proxy is one address: its operators raise the limit.
        # (Each count is taken on a fresh server: libmicrohttpd's count per
        # address is not exact right after a served connection closes.)
        self.write_config("serve:\n  max_connections: 50\n  max_connections_per_peer: 40\n")
        for per_peer, other, admitted in ((39, 0, True), (40, 0, False), (39, 11, False)):
            self.start(token=TOKEN)
            held = []
            try:
                for _ in range(per_peer):
                    held.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
                for _ in range(other):
                    held.append(socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                                         source_address=("127.0.0.2", 0)))
                time.sleep(0.5)
                # the 40th from one address (over the default 32) is served, the 41st
                # is not; nor is the 51st in all, from a third address
                self.assertEqual(self.healthz_from("127.0.0.1" if not other else "127.0.0.3"),
                                 "HTTP/1.1 200 OK" if admitted else "",
                                 (per_peer, other))
            finally:
                for s in held:
                    s.close()
                self.stop()

    def test_header_deadline_not_reset_by_trickled_bytes(self):
        # slowloris: a header line every second, never the blank line that
        # ends the head. Each byte used to restart the 120 s idle timeout,
        # so such connections were held forever; the head now has 10 s in
        # all. A connection that sends nothing, and one idle after its
        # request, go the same way.
        self.start(token=TOKEN)
        try:
            slow = socket.create_connection(("127.0.0.1", self.port), timeout=1)
            silent = socket.create_connection(("127.0.0.1", self.port), timeout=1)
            kept = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            kept.sendall(("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                          "Authorization: Bearer %s\r\n\r\n" % (self.port, TOKEN)).encode())
            self.assertTrue(kept.recv(65536).startswith(b"HTTP/1.1 200 "))
            kept.settimeout(1)
            slow.sendall(b"GET /healthz HTTP/1.1\r\n")
            t0 = time.monotonic()
            closed = {}
            i = 0
            while len(closed) < 3 and time.monotonic() - t0 < 25:
                for name, s in (("slow", slow), ("silent", silent), ("kept", kept)):
                    if name in closed:
                        continue
                    try:
                        if name == "slow":
                            s.sendall(b"X-Trickle-%d: 1\r\n" % i)
                        if s.recv(65536) == b"":
                            closed[name] = time.monotonic() - t0
                    except socket.timeout:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        closed[name] = time.monotonic() - t0
                i += 1
            self.assertEqual(sorted(closed), ["kept", "silent", "slow"], closed)
            self.assertLess(max(closed.values()), 15, closed)
            for s in (slow, silent, kept):
                s.close()
            # a prompt client is unaffected
            status, _, _ = self.request("GET", "/healthz", {"Authorization": "Bearer " + TOKEN})
            self.assertEqual(status, 200)
        finally:
            self.stop()

    def test_transfer_encoding_with_content_length_refused(self):
        # two framings of one body: a proxy that used the other would see a
        # different next request (request smuggling)
        self.start(token=TOKEN)
        try:
            answer, took = self.raw(
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\n"
                "Accept: application/json, text/event-stream\r\n"
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                % (self.port, TOKEN))
            self.assertTrue(answer.startswith("HTTP/1.1 400 "), answer)
            self.assertIn("both Transfer-Encoding and Content-Length", answer)
            self.assertLess(took, 3, answer)
        finally:
            self.stop()

    # ---- a call whose client went away ----

    def test_call_cancelled_when_its_client_goes_away(self):
        # 20 rows wait in quarantine for a contract that is then lifted:
        # replay_quarantine would load them
        self.write_config("tables:\n  t:\n    contract:\n      columns:\n        n: {max: 10}\n")
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": 1} for i in range(5)]),
                    expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": 100 + i, "n": 50} for i in range(20)]),
                    expect=EXIT_QUARANTINED)
        os.remove(self.path("pipemend.yaml"))
        self.start()
        lock = None
        try:
            status, hdrs, _ = self.post({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "goes-away", "version": "1"}}})
            self.assertEqual(status, 200)
            self.sid = hdrs["Mcp-Session-Id"]
            self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            # the warehouse is held, so the replay waits at its first write
            if self.backend == "pg":
                from e2e_util import pg_connect
                lock = pg_connect(self.db)
                lock.autocommit = False
                lock.cursor().execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            else:
                import sqlite3
                lock = sqlite3.connect(self.dbpath, isolation_level=None)
                lock.execute("BEGIN IMMEDIATE")
            body = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                               "params": {"name": "replay_quarantine",
                                          "arguments": {"table": "t"}}})
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                s.sendall(("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Content-Type: application/json\r\nAccept: %s\r\n"
                           "Mcp-Session-Id: %s\r\nContent-Length: %d\r\n\r\n%s"
                           % (self.port, ACCEPT, self.sid, len(body), body)).encode())
                self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200 "))
            # the client is gone and does not come back for the answer
            time.sleep(7)
            lock.rollback() if self.backend == "pg" else lock.execute("ROLLBACK")
            lock.close()
            lock = None
            time.sleep(3)
            self.assertEqual(self.count("t"), 5)  # nothing replayed
            self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine "
                                      "WHERE status = 'quarantined'"), [(20,)])
        finally:
            if lock is not None:
                lock.rollback() if self.backend == "pg" else lock.execute("ROLLBACK")
                lock.close()
            err = self.stop()
        self.assertIn("the call is cancelled", err)
