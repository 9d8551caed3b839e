"""First load: pipemend infers the table from the data."""
import json

from e2e_util import E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED

INT_TYPES = ("int16", "int32", "int64")


class TestInferNdjson(E2E):
    def test_first_load_infers_types(self):
        recs = [
            {"id": 1, "name": "alice", "score": 1.5, "ok": True, "ts": "2026-11-01T10:00:00Z",
             "day": "2026-11-01", "ship": {"city": "Berlin", "geo": {"lat": 52.5}},
             "tags": ["a", "b"], "opt": "x"},
            {"id": 2, "name": "bob", "score": 2.25, "ok": False, "ts": "2026-11-02T11:30:00+01:00",
             "day": "2026-11-02", "ship": {"city": "Paris", "geo": {"lat": 48.9}},
             "tags": [], "opt": None},
            {"id": 3, "name": "carol", "score": -0.5, "ok": True, "ts": "2026-11-03T00:00:00Z",
             "day": "2026-11-03", "ship": {"city": "Rome", "geo": {"lat": 41.9}},
             "tags": [1, {"k": 2}]},
        ]
        f = self.write("a.ndjson", recs)
        r = self.ingest("t", f, expect=EXIT_LOADED)
        s = self.schema("t")
        self.assertIn(s["id"][0], INT_TYPES)
        self.assertTrue(s["name"][0].startswith("varchar(") or s["name"][0] == "text", s)
        self.assertEqual(s["score"][0], "float64")
        self.assertEqual(s["ok"][0], "bool")
        self.assertEqual(s["ts"][0], "timestamptz")
        self.assertEqual(s["day"][0], "date")
        self.assertEqual(s["tags"][0], "json")
        # nested objects become parent__child columns, at any depth
        self.assertIn("ship__city", s)
        self.assertIn("ship__geo__lat", s)
        self.assertEqual(s["ship__geo__lat"][0], "float64")
        self.assertNotIn("ship", s)
        # NOT NULL exactly when always present and non-null
        for c in ("id", "name", "score", "ok", "ts", "day", "ship__city", "tags"):
            self.assertFalse(s[c][1], "%s should be NOT NULL: %r" % (c, s))
        self.assertTrue(s["opt"][1], "opt is null/missing in some rows: nullable")

        # the rows, as a user reads them back
        rows = self.sql('SELECT id, name, score, ok, ts, day, ship__city, ship__geo__lat, tags, opt '
                        'FROM t ORDER BY id')
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[0][:8], (1, "alice", 1.5, 1, "2026-11-01T10:00:00Z", "2026-11-01",
                                       "Berlin", 52.5))
        self.assertEqual(json.loads(rows[0][8]), ["a", "b"])
        self.assertEqual(json.loads(rows[2][8]), [1, {"k": 2}])
        self.assertEqual(rows[1][3], 0)
        self.assertEqual(rows[0][9], "x")
        self.assertIsNone(rows[1][9])
        self.assertIsNone(rows[2][9])
        # the SQL table really has the columns
        self.assertEqual(sorted(self.sql_columns("t")), sorted(s))

        run = self.last_run()
        self.assertEqual(run["status"], "succeeded")
        self.assertEqual((run["rows_read"], run["rows_loaded"], run["rows_quarantined"]), (3, 3, 0))
        self.assertIsNotNone(run["finished_at"])
        self.assertEqual(run["table"], "t")
        self.assertIsNone(run["pipeline"])
        self.assert_invariants("t", 3)

    def test_int_widths_by_range(self):
        recs = [{"small": 1, "mid": 100000, "big": 3000000000, "neg": -5} for _ in range(3)]
        self.ingest("t", self.write("a.ndjson", recs), expect=EXIT_LOADED)
        s = self.schema("t")
        # new integer columns start at int32 (type.h: type_for_new_column)
        self.assertEqual(s["small"][0], "int32")
        self.assertEqual(s["mid"][0], "int32")
        self.assertEqual(s["big"][0], "int64")
        self.assertEqual(self.sql("SELECT big FROM t LIMIT 1")[0][0], 3000000000)
        self.assert_invariants("t", 3)

    def test_json_output_of_ingest(self):
        f = self.write("a.ndjson", [{"a": 1}, {"a": 2}])
        r = self.ingest("t", f, extra=["--json"], expect=EXIT_LOADED)
        j = r.json()
        self.assertEqual(j["rows_read"], 2)
        self.assertEqual(j["rows_loaded"], 2)
        self.assertEqual(j["rows_quarantined"], 0)
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["run_id"], self.last_run()["id"])

    def test_status_json(self):
        self.ingest("t", self.write("a.ndjson", [{"a": 1}, {"a": 2}, '{"a": 3']))
        r = self.pm("status", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        st = {e["table"]: e for e in r.json()}
        self.assertEqual(st["t"]["rows"], 2)
        self.assertEqual(st["t"]["quarantined"], 1)
        self.assertEqual(st["t"]["last_run"]["status"], "quarantined")


class TestInferEdges(E2E):
    def test_all_malformed_first_file_creates_no_table(self):
        # a first sample that is all malformed is not NDJSON: the run fails
        # and quarantines nothing (tests/e2e/test_formats.py has the rest)
        r = self.ingest("t", self.write("bad.ndjson", ["nope", '{"a": ', "[1]"]),
                        expect=EXIT_FAILED)
        self.assertIn("3 of its first 3 records are not ndjson", r.stderr)
        self.assertEqual(len(self.quarantine()), 0)
        r = self.pm("schema", "show", "--table", "t", "--db", self.db)
        self.assertEqual(r.rc, 1, r)
        self.ingest("t", self.write("good.ndjson", [{"a": 1}, {"a": 2}]), expect=EXIT_LOADED)
        self.assertEqual(self.count("t"), 2)
        self.assert_invariants("t", 2)

    def test_malformed_rows_do_not_shape_the_table(self):
        lines = ["{bad json", '{"id": 1, "name": "a"}', '{"id": 2, "name": "b"}']
        self.ingest("t", self.write("a.ndjson", lines), expect=EXIT_QUARANTINED)
        self.assertEqual(sorted(self.schema("t")), ["id", "name"])
        self.assert_invariants("t", 3)

    def test_empty_file(self):
        self.ingest("t", self.write("empty.ndjson", b""), expect=EXIT_LOADED)
        run = self.last_run()
        self.assertEqual((run["rows_read"], run["status"]), (0, "succeeded"))

    def test_values_beyond_the_ordinary(self):
        lines = [r'{"s": "a\u0000b", "n": 123456789012345678901234567890, "e": 1e400, '
                 r'"u": "\ud83d\ude00", "esc": "tab\there \"q\" \\ /"}',
                 r'{"s": "x", "n": 1, "e": 2.5, "u": "\u00e9", "esc": "plain"}',
                 r'{"s": "y", "n": 2, "e": 3.5, "u": "\ud800", "esc": "lone surrogate"}']
        self.ingest("t", self.write("a.ndjson", lines), expect=EXIT_QUARANTINED)
        s = self.schema("t")
        self.assertEqual(s["n"][0], "numeric")
        rows = self.sql("SELECT s, n, u, esc FROM t ORDER BY s")
        q = self.quarantine()
        if self.backend == "pg":
            # PostgreSQL text cannot hold U+0000: that row is refused, not
            # altered, and waits in quarantine with the reason
            self.assertEqual(rows, [("x", "1", "\u00e9", "plain")])
            nul = [e for e in q if "a\\u0000b" in e["raw"]]
            self.assertEqual(len(nul), 1, q)
            self.assertIn("NUL", nul[0]["message"])
        else:
            self.assertEqual(rows[0], ("a\x00b", "123456789012345678901234567890",
                                       "\U0001F600", 'tab\there "q" \\ /'))
            self.assertEqual(rows[1][2], "\u00e9")
        self.assert_quarantined(q, "malformed", lines[2])
        self.assert_invariants("t", 3)

    def test_rows_after_the_sample_are_checked_against_it(self):
        self.write_config("defaults:\n  sample_size: 10\n  batch_size: 10\n")
        lines = [{"id": i, "q": 1} for i in range(10)] + [{"id": 10, "q": 3000000000},
                                                          {"id": 11, "q": 2}]
        self.ingest("t", self.write("a.ndjson", lines), expect=EXIT_QUARANTINED,
                    extra=("--policy", "frozen"))
        self.assertEqual(self.schema("t")["q"][0], "int32")
        self.assert_quarantined(self.quarantine(), "widen", json.dumps(lines[10]))
        self.assert_invariants("t", 12)

    def test_records_wider_than_a_table_are_malformed(self):
        # A map keyed by data, flattened, would make thousands of columns:
        # a record with more fields than a table may have columns (1000)
        # is malformed and shapes nothing; the table is the other rows'.
        rec = {"k%d" % i: i for i in range(2500)}
        small = {"k%d" % i: i for i in range(10)}
        r = self.ingest("t", self.write("wide.ndjson", [rec, small, rec]))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.assertEqual(len(self.schema("t")), 10)
        q = self.quarantine()
        self.assertEqual(len(q), 2)
        self.assertTrue(all(e["kinds"] == ["malformed"] for e in q), q)
        self.assertIn("the record has 2500 fields, more than the 1000 columns", q[0]["message"])
        self.assertEqual(self.count("t"), 1)
        self.assert_invariants("t", 3)

    def test_records_without_fields_do_not_create_a_table(self):
        r = self.ingest("t", self.write("empty.ndjson", ["{}", "{}"]))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        q = self.quarantine()
        self.assertIn("no columns can be inferred", q[0]["message"])
        self.ingest("t", self.write("b.ndjson", [{"a": 1}]), expect=EXIT_LOADED)
        self.assertEqual(list(self.schema("t")), ["a"])

    def test_human_readable_views(self):
        self.ingest("t", self.write("a.ndjson", [{"a": 1}, "bad"]), expect=EXIT_QUARANTINED)
        for args in (["runs"], ["status"], ["schema", "list"], ["schema", "show", "--table", "t"],
                     ["quarantine", "list"], ["schema", "list", "--json"]):
            r = self.pm(*args, "--db", self.db)
            self.assertEqual(r.rc, 0, r)
            self.assertTrue(r.stdout.strip(), r)


class TestInferCsv(E2E):
    def test_csv_types(self):
        f = self.write("a.csv",
                       "id,price,flag,day,zip,when,name\n"
                       "1,1.5,true,2026-11-01,02134,2026-11-01 10:00:00,alice\n"
                       "2,2.0,FALSE,2026-11-02,10115,2026-11-02 11:00:00,bob\n")
        self.ingest("t", f, expect=EXIT_LOADED)
        s = self.schema("t")
        self.assertIn(s["id"][0], INT_TYPES)
        self.assertEqual(s["price"][0], "float64")
        self.assertEqual(s["flag"][0], "bool")
        self.assertEqual(s["day"][0], "date")
        # "02134" is not a number literal (leading zero): the column is textual
        self.assertTrue(s["zip"][0].startswith("varchar") or s["zip"][0] == "text",
                        "a zip code stays text: %r" % (s,))
        self.assertEqual(s["when"][0], "timestamp")
        rows = self.sql("SELECT id, price, flag, zip FROM t ORDER BY id")
        self.assertEqual(rows, [(1, 1.5, 1, "02134"), (2, 2.0, 0, "10115")])
        self.assert_invariants("t", 2)


class TestSystemColumnNames(E2E):
    """Fields named like a backend's system columns (ctid, xmin, xmax, cmin,
    cmax, tableoid, oid on PostgreSQL; rowid, _rowid_, oid on SQLite) are
    mapped to c_NAME at inference, on both backends: PostgreSQL refuses a
    user column of such a name (a feed whose first rows carried one could
    not be loaded at all) and SQLite would shadow its row id with it."""

    SYS = ["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid", "rowid", "_rowid_"]

    def test_new_feed_with_system_names_loads_under_mapped_names(self):
        recs = [dict({"id": i}, **{n: i * 10 + k for k, n in enumerate(self.SYS) if n != "_rowid_"})
                for i in range(1, 4)]
        recs.append({"id": 4, "_rowid_": 77})
        self.ingest("t", self.write("a.ndjson", recs), expect=EXIT_LOADED)
        cols = self.sql_columns("t")
        self.assertEqual(cols, ["id", "c_ctid", "c_xmin", "c_xmax", "c_cmin", "c_cmax",
                                "c_tableoid", "c_oid", "c_rowid"])
        self.assertEqual(self.count("t"), 4)
        self.assertEqual(self.sql("SELECT c_ctid, c_tableoid, c_rowid FROM t WHERE id = 2"),
                         [(20, 25, 27)])
        self.assertEqual(self.sql("SELECT c_rowid FROM t WHERE id = 4"), [(77,)])
        self.assertEqual(self.count("_pipemend_quarantine"), 0)

    def test_system_name_as_a_new_field_is_added_under_the_mapped_name(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": 2, "xmax": 5, "RowID": 6}]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.sql_columns("t"), ["id", "c_xmax", "c_rowid"])
        self.assertEqual(self.sql("SELECT c_xmax, c_rowid FROM t WHERE id = 2"), [(5, 6)])

    def test_a_mapped_name_is_stable(self):
        # c_ctid in the feed is the same column as ctid: one name, no clash
        self.ingest("t", self.write("a.ndjson", [{"id": 1, "ctid": 1}]), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": 2, "c_ctid": 2}]), expect=EXIT_LOADED)
        self.assertEqual(self.sql_columns("t"), ["id", "c_ctid"])
        self.assertEqual(self.sql("SELECT id, c_ctid FROM t ORDER BY id"), [(1, 1), (2, 2)])
