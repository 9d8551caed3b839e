"""GET /metrics of `pipemend serve`: the Prometheus text format, checked by
Prometheus's own promtool, and scraped by a real Prometheus server the test
starts on loopback, which must answer a query for pipemend's rows-loaded
counter with the rows the warehouse holds. Runs on both backends (the
counters come from the warehouse)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from e2e_util import BIN, E2E, EXIT_LOADED, EXIT_QUARANTINED, clean_env

TOKEN = "metrics-token-" + "0123456789abcdef" * 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestMetrics(E2E):
    def setUp(self):
        super().setUp()
        for tool in ("promtool", "prometheus"):
            if not shutil.which(tool):
                self.fail("%s is missing: make e2e installs Debian's prometheus package "
                          "(scripts/install-test-deps-e2e.sh)" % tool)
        rows = [{"id": i, "amount": i * 1.5} for i in range(40)]
        self.write("orders.ndjson", "".join(json.dumps(r) + "\n" for r in rows))
        bad = [{"id": 100 + i, "amount": "lots"} for i in range(3)]
        self.write("late.ndjson", "".join(json.dumps(r) + "\n" for r in bad))
        self.write_config("pipelines:\n"
                          "  - name: orders\n    source: orders.ndjson\n    table: orders\n"
                          "  - name: late\n    source: late.ndjson\n    table: orders\n")
        self.assertEqual(self.pm("run", "orders", "--db", self.db).rc, EXIT_LOADED)
        self.assertEqual(self.pm("run", "late", "--db", self.db).rc, EXIT_QUARANTINED)
        env = clean_env({"PIPEMEND_MCP_TOKEN": TOKEN, "HOME": self.path("home")})
        env.pop("XDG_CONFIG_HOME", None)
        self.proc = subprocess.Popen([BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0"],
                                     cwd=self.tmp, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.assertIn("http://127.0.0.1:", line)
        self.base = line.strip().rsplit(" ", 1)[1][:-len("/mcp")]
        self.prom = None

    def tearDown(self):
        for p in (self.proc, self.prom):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
        super().tearDown()

    def get(self, path, token=TOKEN):
        req = urllib.request.Request(self.base + path,
                                     headers={"Authorization": "Bearer " + token} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def test_exposition_passes_promtool_and_counts_what_the_warehouse_holds(self):
        code, hdrs, body = self.get("/metrics")
        self.assertEqual(code, 200, body)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain; version=0.0.4"), hdrs)
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = body.splitlines()
        self.assertIn('pipemend_rows_loaded_total{pipeline="orders",table="orders"} 40', lines)
        self.assertIn('pipemend_rows_quarantined_total{pipeline="late",table="orders"} 3', lines)
        self.assertIn('pipemend_runs_total{pipeline="late",status="quarantined"} 1', lines)
        self.assertIn('pipemend_incidents_open{table="orders",kind="type_conflict"} 1', lines)
        self.assertTrue(any(l.startswith('pipemend_last_success_timestamp_seconds{pipeline="orders"} ')
                            for l in lines), body)
        self.assertTrue(any(l.startswith("pipemend_audit_events_total ") for l in lines), body)
        # the token guards /metrics like every path
        self.assertEqual(self.get("/metrics", token=None)[0], 401)
        # a POST is refused for its method
        req = urllib.request.Request(self.base + "/metrics", b"x", method="POST",
                                     headers={"Authorization": "Bearer " + TOKEN})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=30)
        self.assertEqual(cm.exception.code, 405)

    def test_a_real_prometheus_scrapes_it(self):
        port = free_port()
        host = self.base.split("//", 1)[1]
        self.write("token", TOKEN)
        self.write("prometheus.yml",
                   "global:\n  scrape_interval: 1s\n"
                   "scrape_configs:\n"
                   "  - job_name: pipemend\n"
                   "    authorization:\n      credentials_file: %s\n"
                   "    static_configs:\n      - targets: ['%s']\n" % (self.path("token"), host))
        self.prom = subprocess.Popen(
            ["prometheus", "--config.file=" + self.path("prometheus.yml"),
             "--storage.tsdb.path=" + self.path("tsdb"),
             "--web.listen-address=127.0.0.1:%d" % port],
            cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        q = urllib.parse.quote('pipemend_rows_loaded_total{pipeline="orders"}')
        deadline, last = time.time() + 60, None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?query=%s"
                                            % (port, q), timeout=5) as r:
                    last = json.loads(r.read())
                res = last["data"]["result"]
                if res:
                    self.assertEqual(res[0]["metric"]["table"], "orders")
                    self.assertEqual(res[0]["value"][1], "40")
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        self.fail("Prometheus never had the counter; last answer: %s" % last)
