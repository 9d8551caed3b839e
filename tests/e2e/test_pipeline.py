"""Pipelines from pipemend.yaml (`pipemend run NAME`) and the volume check."""
from e2e_util import E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED, EXIT_USAGE

CONFIG = """\
defaults:
  batch_size: 500
pipelines:
  - name: orders
    source: feed/*.ndjson
    table: orders
    owner: data@example.com
  - name: people
    source: people/*.data
    format: csv
    table: people
"""


def rows(a, b):
    return [{"order_id": i, "amount": i * 1.5, "status": "paid"} for i in range(a, b)]


class TestRunPipeline(E2E):
    def test_run_named_pipeline_with_glob(self):
        self.write_config(CONFIG)
        self.write("feed/day1.ndjson", rows(0, 30))
        self.write("feed/day2.ndjson", rows(30, 60) + ['{"order_id": "x"'])
        self.write("feed/ignored.csv", "order_id\n999\n")
        r = self.pm("run", "orders", "--db", self.db)
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        run = self.last_run()
        self.assertEqual(run["pipeline"], "orders")
        self.assertEqual(run["table"], "orders")
        self.assertEqual(run["rows_read"], 61)
        self.assertEqual(sorted(x[0] for x in self.sql("SELECT order_id FROM orders")),
                         list(range(60)))
        self.assert_invariants("orders", 61)
        # a second run: nothing new
        r = self.pm("run", "orders", "--db", self.db)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.last_run()["rows_read"], 0)
        # a new file in the glob is picked up alone
        self.write("feed/day3.ndjson", rows(60, 70))
        r = self.pm("run", "orders", "--db", self.db)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.last_run()["rows_read"], 10)
        self.assert_invariants("orders", 71)
        # runs can be filtered by pipeline
        self.assertEqual(len(self.runs("--pipeline", "orders")), 3)
        self.assertEqual(self.runs("--pipeline", "people"), [])

    def test_run_with_explicit_format(self):
        self.write_config(CONFIG)
        self.write("people/a.data", "id,name\n1,ann\n2,ben\n")
        r = self.pm("run", "people", "--db", self.db)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.sql("SELECT id, name FROM people ORDER BY id"), [(1, "ann"), (2, "ben")])

    def test_run_with_config_flag_and_db_from_config(self):
        self.write("conf/p.yaml", "db: %s\n%s" % (self.db, CONFIG))
        self.write("feed/a.ndjson", rows(0, 5))
        r = self.pm("run", "orders", "--config", self.path("conf/p.yaml"))
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.count("orders"), 5)

    def test_unknown_pipeline(self):
        self.write_config(CONFIG)
        r = self.pm("run", "nope", "--db", self.db)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.stderr.startswith('pipemend: error: no pipeline "nope" in '), r)
        self.assertIn("known: orders", r.stderr)
        self.assertIn("known: people", r.stderr)

    def test_unknown_pipeline_without_config(self):
        r = self.pm("run", "nope", "--db", self.db)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.stderr.startswith('pipemend: error: no pipeline "nope" in '), r)

    def test_source_matching_nothing(self):
        self.write_config(CONFIG)
        r = self.pm("run", "orders", "--db", self.db)  # no feed/ directory at all
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertTrue(r.stderr.startswith("pipemend: error: "), r)
        self.write("feed/readme.txt", "not a match")
        r = self.pm("run", "orders", "--db", self.db)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("pipemend: error: source feed/*.ndjson of pipeline orders matches no file",
                      r.stderr)

    def test_stdin_pipeline(self):
        self.write_config("pipelines:\n  - name: s\n    source: '-'\n    format: ndjson\n"
                          "    table: s\n")
        r = self.pm("run", "s", "--db", self.db, input=b'{"a": 1}\n{"a": 2}\n')
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.last_run()["rows_read"], 2, "stdin lines were not read: %r" % r)
        self.assertEqual(self.count("s"), 2)


class TestVolume(E2E):
    def test_volume_anomaly(self):
        for k in range(5):
            n = 1000 + 7 * k
            f = self.write("v%d.ndjson" % k, [{"id": 100000 + k * 10000 + i, "v": "x"} for i in range(n)])
            self.ingest("vol", f, pipeline="vol", expect=EXIT_LOADED)
            self.assertFalse(self.last_run()["volume_anomaly"])
        f = self.write("small.ndjson", [{"id": 900000 + i, "v": "x"} for i in range(10)])
        r = self.ingest("vol", f, pipeline="vol", extra=["--json"])
        self.assertEqual(r.rc, EXIT_LOADED, "a volume anomaly does not change the exit code: %r" % r)
        self.assertTrue(r.json()["volume_anomaly"])
        runs = self.runs("--pipeline", "vol")
        self.assertEqual(len(runs), 6)
        self.assertTrue(runs[0]["volume_anomaly"], runs[0])
        self.assertEqual(runs[0]["rows_read"], 10)
        self.assertTrue(runs[0].get("volume_note"))
        self.assertEqual([x["volume_anomaly"] for x in runs[1:]], [False] * 5)
        self.assert_invariants("vol", 5 * 1000 + 7 * 10 + 10)

    def test_no_anomaly_without_history(self):
        f = self.write("a.ndjson", [{"id": i} for i in range(1000)])
        self.ingest("vol", f, pipeline="vol", expect=EXIT_LOADED)
        f = self.write("b.ndjson", [{"id": 5000}])
        self.ingest("vol", f, pipeline="vol", expect=EXIT_LOADED)
        self.assertFalse(self.last_run()["volume_anomaly"])
