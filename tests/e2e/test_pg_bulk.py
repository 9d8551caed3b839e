"""PostgreSQL writes a batch's quarantined rows in bulk, and finds the rows
it refuses in a bounded number of round trips: a feed whose every row
drifts, or a re-delivery of rows under a unique key, must not cost a
statement (or a bisection step) per row. The test's own server logs every
statement it runs (log_statement = all), so the test counts what pipemend
sent, not how long it took."""
import json
import os
import re

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED, LINKS, own_pg_server, pg_only


@pg_only("counts the statements a PostgreSQL server of its own logs")
class TestPostgresBulk(E2E):
    def setUp(self):
        super().setUp()
        self.srv, self.db = own_pg_server(self)
        self.srv.psql("ALTER SYSTEM SET log_statement = 'all'")
        self.srv.psql("SELECT pg_reload_conf()")

    def log_mark(self):
        return os.path.getsize(self.srv.logfile)

    def statements_since(self, mark, pattern):
        with open(self.srv.logfile, errors="replace") as f:
            f.seek(mark)
            text = f.read()
        return len(re.findall(pattern, text))

    def test_every_row_drifting_is_quarantined_without_a_statement_per_row(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 0, "v": 0}]), expect=EXIT_LOADED)
        rows = 5000
        mark = self.log_mark()
        self.ingest("t", self.write("b.ndjson", [{"id": i, "v": "x%d" % i}
                                                 for i in range(1, rows + 1)]),
                    expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(len(q), rows)
        self.assertEqual(sorted(json.loads(e["raw"])["id"] for e in q), list(range(1, rows + 1)))
        for e in q:
            self.assertEqual(e["kinds"], ["type_conflict"])
        # every row is linked to the one open incident, by ranges of at most
        # 256 ids (a block each: 20 or 21 for 5,000 ids in a run)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT incident) FROM " + LINKS +
                                  " r"), [(rows, 1)])
        ranges = self.sql("SELECT count(*), count(*) FILTER (WHERE first_qrow / 256 <> "
                          "last_qrow / 256) FROM _pipemend_incident_ranges")[0]
        self.assertIn(ranges[0], (20, 21))
        self.assertEqual(ranges[1], 0)
        self.assertEqual(self.sql("SELECT rows_read, rows_loaded, rows_quarantined FROM "
                                  "_pipemend_runs ORDER BY id DESC LIMIT 1"), [(rows, 0, rows)])
        # ids ascend in the order of the file
        ids = [i for (i,) in self.sql("SELECT id FROM _pipemend_quarantine ORDER BY line")]
        self.assertEqual(ids, sorted(ids))
        # one COPY per batch, not an INSERT per row
        self.assertEqual(self.statements_since(mark, r"INSERT INTO pipemend\._pipemend_quarantine"),
                         0)
        self.assertGreaterEqual(self.statements_since(mark, r"COPY pipemend\._pipemend_quarantine"), 1)
        # the links go as ranges, one statement per batch, not per row
        self.assertLessEqual(
            self.statements_since(mark, r"INSERT INTO pipemend\._pipemend_incident_ranges"), 5)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)
        self.assert_invariants("t", rows + 1)

    def test_rows_with_two_findings_link_to_both_incidents_when_ids_are_not_a_run(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 0, "v": 0, "w": 0}]), expect=EXIT_LOADED)
        # other sessions take ids between ours: the ids a batch gets are
        # not one run (here every third)
        self.srv.psql("ALTER SEQUENCE pipemend._pipemend_quarantine_id_seq INCREMENT BY 3",
                      dbname="w")
        rows = 3000
        self.ingest("t", self.write("b.ndjson", [{"id": i, "v": "x%d" % i, "w": "y"}
                                                 for i in range(1, rows + 1)]),
                    expect=EXIT_QUARANTINED)
        got = self.sql("SELECT id, line FROM _pipemend_quarantine ORDER BY line")
        self.assertEqual(len(got), rows)
        ids = [i for (i, _) in got]
        self.assertEqual([b - a for a, b in zip(ids, ids[1:])], [3] * (rows - 1))
        for e in self.quarantine()[:5]:
            self.assertEqual(sorted(e["kinds"]), ["type_conflict"])
        # each row under both incidents (v and w), once each, and every link
        # names a quarantined row
        self.assertEqual(self.sql("SELECT i.column_name, count(*), count(DISTINCT r.qrow) FROM " +
                                  LINKS + " r JOIN _pipemend_incidents i ON "
                                  "i.id = r.incident GROUP BY i.column_name ORDER BY 1"),
                         [("v", rows, rows), ("w", rows, rows)])
        # ids that are not a run are ranges of one row each, and every
        # range starts and ends at a quarantined row
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges"), [(2 * rows,)])
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_incident_ranges r WHERE NOT "
                                  "EXISTS (SELECT 1 FROM _pipemend_quarantine q WHERE q.id = "
                                  "r.first_qrow) OR NOT EXISTS (SELECT 1 FROM "
                                  "_pipemend_quarantine q WHERE q.id = r.last_qrow)"), [(0,)])
        self.assert_invariants("t", rows + 1)

    def test_redelivery_under_a_unique_key_finds_the_refused_rows_in_a_few_round_trips(self):
        self.write_config("tables:\n  t:\n    contract:\n      unique: [id]\n")
        rows = 3000
        self.ingest("t", self.write("a.ndjson", [{"id": i, "n": i} for i in range(rows)]),
                    expect=EXIT_LOADED)
        # the same rows again in another file, plus two new ones and a key
        # repeated inside the file: the first of two equal keys wins
        again = [{"id": i, "n": i} for i in range(rows)]
        again[10:10] = [{"id": 100000, "n": 1}]
        again[2000:2000] = [{"id": 100001, "n": 2}, {"id": 100001, "n": 3}]
        mark = self.log_mark()
        self.ingest("t", self.write("b.ndjson", again), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(len(q), rows + 1)
        self.assertEqual(sorted(json.loads(e["raw"])["id"] for e in q),
                         sorted(list(range(rows)) + [100001]))
        for e in q:
            self.assertIn("a row with the same unique key (id=%d)" % json.loads(e["raw"])["id"],
                          e["message"])
            self.assertIn("(rule unique)", e["message"])
        self.assertEqual(self.sql("SELECT n FROM t WHERE id >= 100000 ORDER BY id"), [(1,), (2,)])
        self.assertEqual(self.count("t"), rows + 2)
        # bisection would take thousands of savepoints and COPYs; the stage
        # takes one pass on the server
        self.assertLess(self.statements_since(mark, r"SAVEPOINT pm_load_"), 20)
        self.assertLess(self.statements_since(mark, r'COPY "public"\."t"'), 5)
        self.assert_invariants("t", 2 * rows + 3)
