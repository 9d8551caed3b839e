"""Edges from issue 12's "Also seen": a record far wider than a table
may be, a warehouse whose disk is full or that the user cannot write, and
values the two backends once stored differently (a leap second, -0, time
zone offsets)."""
import json

from e2e_util import E2E, EXIT_QUARANTINED


class TestWideRecord(E2E):
    def normal(self, first, n):
        return [{"id": first + i, "n": i, "name": "r%d" % i} for i in range(n)]

    def test_10000_field_record_in_the_first_batch_is_quarantined(self):
        wide = dict({"id": 999, "n": 0}, **{"f%05d" % k: k for k in range(10000)})
        rows = self.normal(0, 20) + [wide] + self.normal(100, 20)
        r = self.ingest("t", self.write("a.ndjson", rows), expect=EXIT_QUARANTINED)
        self.assertEqual(self.sql_columns("t"), ["id", "n", "name"])
        self.assertEqual(self.count("t"), 40)
        q = self.quarantine("--table", "t")
        self.assertEqual(len(q), 1, q)
        self.assertEqual(q[0]["kinds"], ["malformed"], q[0])
        self.assertIn("the record has 10002 fields, more than the 1000 columns a table may "
                      "have", q[0]["message"])
        self.assertEqual(json.loads(q[0]["raw"]), wide)
        run = self.last_run()
        self.assertEqual((run["rows_read"], run["rows_loaded"], run["rows_quarantined"]),
                         (41, 40, 1))

    def test_10000_field_record_later_is_malformed_too(self):
        self.ingest("t", self.write("a.ndjson", self.normal(0, 5)), expect=0)
        wide = dict({"id": 999, "n": 0}, **{"f%05d" % k: k for k in range(10000)})
        self.ingest("t", self.write("b.ndjson", self.normal(10, 5) + [wide]),
                    expect=EXIT_QUARANTINED)
        self.assertEqual(self.sql_columns("t"), ["id", "n", "name"])
        self.assertEqual(self.count("t"), 10)
        q = self.quarantine("--table", "t")
        self.assertEqual([e["kinds"] for e in q], [["malformed"]], q)
        self.assertIn("10002 fields", q[0]["message"])

    def test_a_few_hundred_field_record_does_not_shape_the_first_table(self):
        wide = dict({"id": 999, "n": 0}, **{"junk_%03d" % k: k for k in range(300)})
        rows = self.normal(0, 20) + [wide] + self.normal(100, 20)
        r = self.ingest("t", self.write("a.ndjson", rows), expect=EXIT_QUARANTINED)
        self.assertEqual(self.sql_columns("t"), ["id", "n", "name"])
        self.assertEqual(self.count("t"), 40)
        self.assertIn("more than 16 new fields", r.stderr)
        q = self.quarantine("--table", "t")
        self.assertEqual(len(q), 1, q)
        self.assertEqual(q[0]["raw"], json.dumps(wide))

    def test_a_wide_first_record_alone_is_a_wide_table(self):
        # one record, nothing to compare it with: it is the schema
        wide = dict({"id": 1}, **{"c%02d" % k: k for k in range(60)})
        self.ingest("t", self.write("a.ndjson", [wide, dict(wide, id=2)]), expect=0)
        self.assertEqual(len(self.sql_columns("t")), 61)
        self.assertEqual(self.count("t"), 2)
