"""Notifications: events write their notifications to the outbox in the
same transaction (an ingest with serve not running queues them), and
`pipemend serve` delivers them to a local webhook receiver: the JSON
notification or a Slack message with blocks, signed with HMAC-SHA256 over
"timestamp.body", retried while the receiver fails or is down, and still
delivered after serve was killed with SIGKILL. Both backends."""
import hashlib
import hmac
import json
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from e2e_util import BIN, E2E, EXIT_QUARANTINED, clean_env

SECRET = "whsec-" + "0123456789abcdef" * 2
TOKEN = "notify-token-" + "0123456789abcdef" * 3


class Receiver:
    """A webhook receiver on loopback: records each request; answers 500 to
    the first `fail` ones."""

    def __init__(self, fail=0, port=0):
        self.got, self.fail, self.lock = [], fail, threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.got.append((dict(self.headers), body))
                    failing = outer.fail > 0
                    if failing:
                        outer.fail -= 1
                self.send_response(500 if failing else 204)
                self.end_headers()

        self.srv = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class TestNotify(E2E):
    def setUp(self):
        super().setUp()
        self.serve_proc = None
        rows = [{"id": i, "amount": 1} for i in range(10)]
        self.write("d1.ndjson", "".join(json.dumps(r) + "\n" for r in rows))
        bad = [{"id": 100 + i, "amount": "many"} for i in range(4)]
        self.write("d2.ndjson", "".join(json.dumps(r) + "\n" for r in bad))

    def tearDown(self):
        if self.serve_proc and self.serve_proc.poll() is None:
            self.serve_proc.kill()
            self.serve_proc.communicate()
        super().tearDown()

    def config(self, url, fmt="json", events=None):
        self.write_config(
            "pipelines:\n"
            "  - name: orders\n    source: d1.ndjson\n    table: orders\n"
            "  - name: late\n    source: d2.ndjson\n    table: orders\n"
            "notify:\n"
            "  - name: oncall\n    url: %s\n    format: %s\n    secret_env: HOOK_SECRET\n"
            "    timeout: 5\n    link_base: http://pipemend.example:8765\n%s"
            % (url, fmt, "    events: [%s]\n" % ", ".join(events) if events else ""))

    def serve(self):
        env = clean_env({"HOOK_SECRET": SECRET, "PIPEMEND_MCP_TOKEN": TOKEN,
                         "HOME": self.path("home")})
        env.pop("XDG_CONFIG_HOME", None)
        self.serve_proc = subprocess.Popen(
            [BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0"], cwd=self.tmp, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertIn("http://127.0.0.1:", self.serve_proc.stdout.readline())

    def stop_serve(self):
        self.serve_proc.send_signal(signal.SIGTERM)
        out, err = self.serve_proc.communicate(timeout=60)
        return err

    def outbox(self):
        r = self.pm("notifications", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def wait_for(self, pred, what, timeout=40):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return
            time.sleep(0.2)
        self.fail("timed out waiting for %s; outbox: %s" % (what, self.outbox()))

    def make_incident(self):
        self.assertEqual(self.pm("run", "orders", "--db", self.db).rc, 0)
        self.assertEqual(self.pm("run", "late", "--db", self.db).rc, EXIT_QUARANTINED)

    def check_signature(self, headers, body):
        ts = headers["X-Pipemend-Timestamp"]
        want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        self.assertEqual(headers["X-Pipemend-Signature"], want)
        self.assertLess(abs(int(ts) - time.time()), 120)

    def test_events_queue_while_serve_is_down_and_go_out_signed_when_it_runs(self):
        rcv = Receiver()
        self.addCleanup(rcv.close)
        self.config(rcv.url("/hook"))
        self.make_incident()
        pending = self.outbox()
        self.assertTrue(pending, "an incident was opened: its notification waits in the outbox")
        self.assertEqual({n["state"] for n in pending}, {"pending"})
        self.assertIn("incident.opened", {n["event"] for n in pending})
        self.serve()
        self.wait_for(lambda: all(n["state"] == "delivered" for n in self.outbox()),
                      "every notification delivered")
        events = {}
        for headers, body in rcv.got:
            self.check_signature(headers, body)
            n = json.loads(body)
            events[n["event"]] = n
            self.assertEqual(headers["X-Pipemend-Event"], n["event"])
        inc = events["incident.opened"]
        self.assertEqual(inc["details"]["table"], "orders")
        self.assertEqual(inc["details"]["kind"], "type_conflict")
        self.assertTrue(inc["subject"].startswith("incident/"))
        # delivered once each: the same delivery id is never sent twice when it succeeded
        ids = [h["X-Pipemend-Delivery"] for h, _ in rcv.got]
        self.assertEqual(len(ids), len(set(ids)))
        self.stop_serve()

    def test_retried_while_the_receiver_fails(self):
        rcv = Receiver(fail=2)
        self.addCleanup(rcv.close)
        self.config(rcv.url("/hook"), events=["incident.opened"])
        self.make_incident()
        self.serve()
        self.wait_for(lambda: all(n["state"] == "delivered" for n in self.outbox()),
                      "delivery after two failures", timeout=60)
        n = [x for x in self.outbox() if x["event"] == "incident.opened"][0]
        self.assertEqual(n["attempts"], 3)
        self.assertEqual(len(rcv.got), 3)
        self.assertEqual(len({h["X-Pipemend-Delivery"] for h, _ in rcv.got}), 1)
        self.stop_serve()

    def test_delivered_after_serve_is_killed_while_the_receiver_is_down(self):
        probe = Receiver()
        port = probe.port
        probe.close()  # nothing listens there now
        self.config("http://127.0.0.1:%d/hook" % port, events=["incident.opened"])
        self.make_incident()
        self.serve()
        self.wait_for(lambda: any(n["attempts"] >= 1 and n["last_error"] for n in self.outbox()),
                      "a failed attempt")
        self.serve_proc.kill()
        self.serve_proc.communicate()
        self.assertEqual({n["state"] for n in self.outbox()}, {"pending"})
        rcv = Receiver(port=port)
        self.addCleanup(rcv.close)
        self.serve()
        self.wait_for(lambda: all(n["state"] == "delivered" for n in self.outbox()),
                      "delivery after the restart", timeout=60)
        self.assertEqual([json.loads(b)["event"] for _, b in rcv.got], ["incident.opened"])
        self.stop_serve()

    def test_slack_format_has_blocks_with_the_proposal_and_a_link(self):
        rcv = Receiver()
        self.addCleanup(rcv.close)
        self.config(rcv.url("/slack"), fmt="slack", events=["proposal.awaiting"])
        rows = [{"id": i, "email": "u%d@x" % i} for i in range(10)]
        self.write("d1.ndjson", "".join(json.dumps(r) + "\n" for r in rows))
        renamed = [{"id": 100 + i, "email_address": "v%d@x" % i} for i in range(10)]
        self.write("d2.ndjson", "".join(json.dumps(r) + "\n" for r in renamed))
        self.assertEqual(self.pm("run", "orders", "--db", self.db).rc, 0)
        self.assertEqual(self.pm("run", "late", "--db", self.db).rc, EXIT_QUARANTINED)
        self.serve()
        self.wait_for(lambda: rcv.got, "a Slack message")
        headers, body = rcv.got[0]
        self.check_signature(headers, body)
        msg = json.loads(body)
        self.assertIn("waits for a person", msg["text"])
        text = json.dumps(msg["blocks"])
        self.assertIn("`orders.email`", text)
        self.assertIn("Proposal", text)
        self.assertIn("http://pipemend.example:8765/api/v1/proposals/", text)
        self.stop_serve()

    def test_a_bad_sink_is_a_config_error(self):
        # run reads the whole configuration (status would go on past it)
        pipe = "pipelines:\n  - name: orders\n    source: d1.ndjson\n    table: orders\n"
        self.write_config(pipe + "notify:\n  - name: x\n    url: ftp://nope\n")
        r = self.pm("run", "orders", "--db", self.db)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("url in notify sink #1 must be an http:// or https:// URL", r.stderr)
        self.write_config(pipe + "notify:\n  - name: x\n    url: http://h/\n"
                          "    events: [incident.open]\n")
        r = self.pm("run", "orders", "--db", self.db)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("incident.opened", r.stderr)  # the hint lists the events there are
        if self.warehouse_exists():  # a PostgreSQL test database exists from the start
            self.assertEqual(self.runs(), [])  # nothing ran
