"""Type conflicts with a lossless way out (issue 13): values that leave a
number column's type class - codes that were numbers and become
alphanumeric (A123), amounts written as "$51,107,785" - are quarantined as
before, but get a proposal for a person: retype the column to text, every
existing value kept as its exact decimal text, the same on both backends,
with the cost stated (rows, size, the lock the rewrite holds). Approved,
the quarantined rows replay. Values no lossless change holds stay in
quarantine with no proposal, as before."""
import datetime
import json
import os

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED


class TestLosslessRetype(E2E):
    def proposals(self):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def approve(self, pid):
        r = self.pm("proposals", "approve", str(pid), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        return r

    def assert_audit_intact(self):
        r = self.pm("audit", "verify", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("audit log intact", r.stdout)

    def test_numeric_code_that_becomes_alphanumeric(self):
        old = [{"id": 1, "code": 7}, {"id": 2, "code": 42}, {"id": 3, "code": -120},
               {"id": 4, "code": None}]
        self.ingest("parts", self.write("a.ndjson", old), expect=EXIT_LOADED)
        new = [{"id": 5, "code": "A123"}, {"id": 6, "code": 8}, {"id": 7, "code": "B-7"}]
        self.ingest("parts", self.write("b.ndjson", new), expect=EXIT_QUARANTINED)
        self.assertEqual(sorted(r[0] for r in self.sql("SELECT id FROM parts")), [1, 2, 3, 4, 6])
        q = self.quarantine()
        self.assertEqual([e["kinds"] for e in q], [["type_conflict"], ["type_conflict"]])
        self.assertIn("retyping the column to text would hold it", q[0]["message"])

        ps = self.proposals()
        self.assertEqual(len(ps), 1, ps)
        p = ps[0]
        self.assertEqual(p["state"], "pending")  # reviewable: waits for a person
        self.assertEqual(p["ops"], [{"op": "retype_column", "table": "parts", "column": "code",
                                     "type": "text"}])
        self.assertTrue(p["dry_run"]["ok"], p["dry_run"])
        self.assertEqual((p["dry_run"]["rows"], p["dry_run"]["fixed"]), (2, 2))
        rw = p["dry_run"]["rewrite"]
        self.assertEqual(len(rw), 1, rw)
        self.assertEqual((rw[0]["column"], rw[0]["from"], rw[0]["to"], rw[0]["rows"]),
                         ("code", "int32", "text", 4))  # as the run proposed it
        self.assertGreater(rw[0]["bytes"], 0)
        self.assertEqual(rw[0]["lock"], "ACCESS EXCLUSIVE" if self.backend == "pg"
                         else "the database's write lock")
        r = self.pm("proposals", "show", str(p["id"]), "--db", self.db)
        self.assertIn("retype parts.code to text", r.stdout)
        self.assertIn("rewrites the table: code int32 -> text, 4 rows", r.stdout)
        inc = self.pm("incidents", "list", "--db", self.db, "--json").json()
        self.assertEqual([(i["column"], i["kind"], i["state"]) for i in inc],
                         [("code", "type_conflict", "awaiting_approval")])

        r = self.approve(p["id"])
        self.assertIn("2 rows loaded, 0 still wait", r.stdout)
        self.assertEqual(self.schema("parts")["code"][0], "text")
        self.assertEqual(self.sql("SELECT id, code FROM parts ORDER BY id"),
                         [(1, "7"), (2, "42"), (3, "-120"), (4, None), (5, "A123"), (6, "8"),
                          (7, "B-7")])
        self.assertEqual(self.quarantine(), [])
        self.assert_audit_intact()
        # later runs load both shapes as text
        self.ingest("parts", self.write("c.ndjson", [{"id": 8, "code": 9}, {"id": 9, "code": "C1"}]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT code FROM parts WHERE id >= 8 ORDER BY id"),
                         [("9",), ("C1",)])

    def test_a_view_over_the_retyped_column_is_carried_through(self):
        """A view over the column (PostgreSQL refuses ALTER COLUMN TYPE under
        one): the dry run lists it, the apply re-creates it in its
        transaction, and it shows the new values as text."""
        self.ingest("parts", self.write("a.ndjson", [{"id": 1, "code": 7}, {"id": 2, "code": 42}]),
                    expect=EXIT_LOADED)
        self.sql_script("CREATE VIEW part_codes AS SELECT id, code FROM parts")
        self.ingest("parts", self.write("b.ndjson", [{"id": 3, "code": "A123"}]),
                    expect=EXIT_QUARANTINED)
        p = self.proposals()[0]
        self.assertTrue(p["dry_run"]["ok"], p["dry_run"])
        if self.backend == "pg":
            self.assertEqual([(d["name"].split(".")[-1], d["action"])
                              for d in p["dry_run"]["dependents"]],
                             [("part_codes", "re-created")], p["dry_run"])
        self.approve(p["id"])
        self.assertEqual(self.sql("SELECT id, code FROM part_codes ORDER BY id"),
                         [(1, "7"), (2, "42"), (3, "A123")])
        self.assert_audit_intact()

    def test_currency_text_in_a_number_column(self):
        # float64 values as their shortest exact text, PostgreSQL's spelling
        # on both backends (SQLite's own CAST would write 100.0 and 1.0e+20)
        old = [{"title": "a", "gross": 51107785.5}, {"title": "b", "gross": 100.0},
               {"title": "c", "gross": 0.1}, {"title": "d", "gross": 1e20},
               {"title": "e", "gross": 1.25e-7}]
        self.ingest("movies", self.write("a.ndjson", old), expect=EXIT_LOADED)
        self.assertEqual(self.schema("movies")["gross"][0], "float64")
        self.ingest("movies", self.write("b.ndjson", [{"title": "f", "gross": "$51,107,785"}]),
                    expect=EXIT_QUARANTINED)
        ps = self.proposals()
        self.assertEqual([(p["ops"][0]["op"], p["ops"][0]["column"], p["ops"][0]["type"])
                          for p in ps], [("retype_column", "gross", "text")])
        rw = ps[0]["dry_run"]["rewrite"][0]
        self.assertEqual((rw["from"], rw["to"], rw["rows"]), ("float64", "text", 5))
        self.approve(ps[0]["id"])
        self.assertEqual(dict(self.sql("SELECT title, gross FROM movies")),
                         {"a": "51107785.5", "b": "100", "c": "0.1", "d": "1e+20",
                          "e": "1.25e-07", "f": "$51,107,785"})
        self.assertEqual(self.count("movies"), 6)
        self.assertEqual(self.quarantine(), [])
        self.assert_audit_intact()

    def test_what_no_lossless_change_holds_stays_quarantined(self):
        old = [{"id": 1, "day": "2026-01-02", "qty": 3}]
        self.ingest("orders", self.write("a.ndjson", old), expect=EXIT_LOADED)
        bad = [{"id": 2, "day": "soon", "qty": 4},   # a date column: no retype offered
               {"id": 3, "day": "2026-01-03", "qty": True},  # a flag is not a number
               {"id": 4, "day": "2026-01-04", "qty": "n/a"}]  # a placeholder, not a code
        self.ingest("orders", self.write("b.ndjson", bad), expect=EXIT_QUARANTINED)
        self.assertEqual(self.proposals(), [])
        q = self.quarantine()
        self.assertEqual([e["kinds"] for e in q], [["type_conflict"]] * 3)
        self.assertEqual(self.count("orders"), 1)
        inc = self.pm("incidents", "list", "--db", self.db, "--json").json()
        self.assertEqual(sorted((i["column"], i["state"]) for i in inc),
                         [("day", "open"), ("qty", "open")])

    def propose_fix(self, ops):
        msgs = [{"jsonrpc": "2.0", "id": 0, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "lossless-e2e", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                 "params": {"name": "propose_fix", "arguments": {"table": "orders", "ops": ops}}}]
        r = self.pm("mcp", "--db", self.db, input="\n".join(json.dumps(m) for m in msgs) + "\n")
        resp = {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}
        return resp[1]["result"]

    def test_the_guard_refuses_a_retype_that_is_not_lossless(self):
        self.ingest("orders", self.write("a.ndjson", [{"id": 1, "day": "2026-01-02", "n": 2}]),
                    expect=EXIT_LOADED)
        res = self.propose_fix([{"op": "retype_column", "column": "day", "type": "int64"}])
        self.assertTrue(res["isError"], res)
        self.assertIn("orders.day cannot be retyped from date to int64", res["content"][0]["text"])
        res = self.propose_fix([{"op": "retype_column", "column": "n", "type": "text",
                                 "format": "%Y"}])
        self.assertTrue(res["isError"], res)
        self.assertIn("takes no format", res["content"][0]["text"])
        # an agent may propose the lossless one; it waits for a person
        res = self.propose_fix([{"op": "retype_column", "column": "n", "type": "text"}])
        self.assertFalse(res.get("isError"), res)
        self.assertEqual(self.schema("orders")["n"][0], "int32")
        ps = self.proposals()
        self.assertEqual([(p["state"], p["ops"][0]["op"]) for p in ps],
                         [("pending", "retype_column")])


class TestTextFormats(E2E):
    """Formats in text columns (issue 13): a text column whose dates switch
    layout (2015-01-01, then 01/31/2015) loads as before - text takes both
    - but the run warns, and the retype of the column to date with the
    coercion that reads both layouts is proposed for a person. Approved,
    every value is a date; a value neither layout reads keeps it from
    applying, named in the refusal."""

    def setUp(self):
        super().setUp()
        # a table a person made, with its dates in a text column
        self.sql_script("CREATE TABLE visits (id bigint, day text)")
        old = [{"id": 1, "day": "2015-01-01"}, {"id": 2, "day": "2015-01-02"},
               {"id": 3, "day": None}]
        self.ingest("visits", self.write("a.ndjson", old), expect=EXIT_LOADED)

    def proposals(self):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def incidents(self):
        r = self.pm("incidents", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return [(i["column"], i["kind"], i["state"]) for i in r.json()]

    def switch(self, rows):
        r = self.ingest("visits", self.write("b.ndjson", rows), expect=EXIT_LOADED)
        self.assertIn("format drift in visits: values of day were dates like \"2015-01-01\" "
                      "(ISO 8601 date) and now arrive as \"01/31/2015\" (%m/%d/%Y); they still "
                      "load, as text", r.stderr)
        self.assertEqual(self.quarantine(), [])  # a warning, not a quarantine
        ps = self.proposals()
        self.assertEqual(len(ps), 1, ps)
        self.assertEqual(ps[0]["state"], "pending")
        self.assertEqual(ps[0]["ops"], [{"op": "retype_column", "table": "visits",
                                         "column": "day", "type": "date",
                                         "format": "%m/%d/%Y"}])
        self.assertEqual(self.incidents(), [("day", "format", "awaiting_approval")])
        return ps[0]

    def test_switch_of_date_layout_then_retype_to_date(self):
        p = self.switch([{"id": 4, "day": "01/31/2015"}, {"id": 5, "day": "2/1/2015"}])
        self.assertEqual(self.sql("SELECT day FROM visits WHERE id >= 4 ORDER BY id"),
                         [("01/31/2015",), ("2/1/2015",)])
        r = self.pm("proposals", "show", str(p["id"]), "--db", self.db)
        self.assertIn('retype visits.day to date parsing ISO 8601 or format "%m/%d/%Y"', r.stdout)
        out = self.path("export")
        os.mkdir(out)
        x = self.pm("proposals", "export", str(p["id"]), "--dir", out, "--db", self.db)
        self.assertEqual(x.rc, 0, x)
        sql = open(os.path.join(out, [f for f in os.listdir(out) if f.endswith(".sql")][0])).read()
        if self.backend == "pg":
            # run by hand, the ALTER alone would misread or refuse 01/31/2015
            self.assertIn("-- the values of day written as %m/%d/%Y are made ISO 8601 by "
                          "pipemend's apply before this ALTER", sql)
        self.assertIn("rewrites the table: day text -> date", r.stdout)
        r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.schema("visits")["day"][0], "date")
        self.assertEqual(self.column_types("visits")["day"],
                         "date" if self.backend == "pg" else "TEXT")
        self.assertEqual(self.sql("SELECT id, day FROM visits ORDER BY id"),
                         [(1, "2015-01-01"), (2, "2015-01-02"), (3, None), (4, "2015-01-31"),
                          (5, "2015-02-01")])
        self.assertEqual(self.incidents(), [("day", "format", "resolved")])
        # both layouts load as dates from now on
        self.ingest("visits", self.write("c.ndjson", [{"id": 6, "day": "03/04/2015"},
                                                      {"id": 7, "day": "2015-03-05"}]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT day FROM visits WHERE id >= 6 ORDER BY id"),
                         [("2015-03-04",), ("2015-03-05",)])
        r = self.pm("audit", "verify", "--db", self.db)
        self.assertEqual(r.rc, 0, r)

    def test_an_indexed_column_retypes_with_its_values_converted_in_the_dry_run(self):
        """An index on the column makes PostgreSQL's dry run rehearse on the
        real table: the values are made ISO there too, as in the apply, so
        day-first dates do not fail the rehearsal."""
        self.sql_script("CREATE INDEX visits_day ON visits (day)")
        r = self.ingest("visits", self.write("b.ndjson", [{"id": 4, "day": "31/01/2015"},
                                                          {"id": 5, "day": "13/02/2015"}]),
                        expect=EXIT_LOADED)
        ps = self.proposals()
        self.assertEqual(len(ps), 1, (r.stderr, ps))
        self.assertEqual(ps[0]["ops"][0]["format"], "%d/%m/%Y", ps)
        self.assertTrue(ps[0]["dry_run"]["ok"], ps[0]["dry_run"])
        r = self.pm("proposals", "approve", str(ps[0]["id"]), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.sql("SELECT id, day FROM visits WHERE id >= 4 ORDER BY id"),
                         [(4, "2015-01-31"), (5, "2015-02-13")])

    def test_a_varchar_column_retypes_to_timestamp_its_iso_text_need_not_fit(self):
        """"1/5/2015 9:30" fits a varchar(16); its ISO text, 19 characters,
        does not: the values go through the ALTER itself, not back into
        the column. With an index (the dry run rehearses on the table) and
        a view over the column (carried through the ALTER)."""
        t = "public.seen" if self.backend == "pg" else "seen"
        self.sql_script("CREATE TABLE %s (id bigint, at varchar(16))" % t,
                        "CREATE INDEX seen_at ON %s (at)" % t,
                        "CREATE VIEW %s_days AS SELECT id, at FROM %s" % (t, t))
        self.ingest("seen", self.write("s1.ndjson", [{"id": 1, "at": "2015-01-01T10:00"},
                                                     {"id": 2, "at": "2015-01-02T11:30"},
                                                     {"id": 3, "at": None}]),
                    expect=EXIT_LOADED)
        self.ingest("seen", self.write("s2.ndjson", [{"id": 4, "at": "1/5/2015 9:30"},
                                                     {"id": 5, "at": "12/25/2015 18:05"}]),
                    expect=EXIT_LOADED)
        ps = [p for p in self.proposals() if p["table"] == "seen"]
        self.assertEqual([(p["ops"][0]["op"], p["ops"][0]["type"], p["ops"][0]["format"])
                          for p in ps], [("retype_column", "timestamp", "%m/%d/%Y %H:%M")])
        r = self.pm("proposals", "approve", str(ps[0]["id"]), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.schema("seen")["at"][0], "timestamp")
        want = [(1, "2015-01-01T10:00:00"), (2, "2015-01-02T11:30:00"), (3, None),
                (4, "2015-01-05T09:30:00"), (5, "2015-12-25T18:05:00")]
        got = self.sql("SELECT id, at FROM seen_days ORDER BY id")
        # SQLite keeps an ISO value as it came (10:00), PostgreSQL as a timestamp
        self.assertEqual([(i, datetime.datetime.fromisoformat(v).isoformat() if v else v)
                          for i, v in got], want)
        if self.backend == "pg":
            self.assertEqual(self.column_types("seen")["at"], "timestamp without time zone")

    def test_a_value_neither_layout_reads_refuses_the_retype(self):
        p = self.switch([{"id": 4, "day": "01/31/2015"}, {"id": 5, "day": "sometime in May"},
                         {"id": 6, "day": "02/01/2015"}])
        r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 1, r)
        self.assertIn('value "sometime in May" of visits.day is not a date in ISO 8601 nor in '
                      'format %m/%d/%Y; retyping the column would lose it', r.stderr)
        # nothing changed: still text, every value as it was
        self.assertEqual(self.schema("visits")["day"][0], "text")
        self.assertEqual(self.sql("SELECT id, day FROM visits ORDER BY id"),
                         [(1, "2015-01-01"), (2, "2015-01-02"), (3, None), (4, "01/31/2015"),
                          (5, "sometime in May"), (6, "02/01/2015")])
        self.assertEqual([q["state"] for q in self.proposals()], ["pending"])
        self.assertEqual(self.incidents(), [("day", "format", "dry_run_failed")])
        # a person fixes the value; the same proposal then applies
        self.sql_exec("UPDATE visits SET day = ? WHERE id = 5", ("05/15/2015",))
        r = self.pm("proposals", "approve", str(p["id"]), "--db", self.db, "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.sql("SELECT day FROM visits WHERE id >= 4 ORDER BY id"),
                         [("2015-01-31",), ("2015-05-15",), ("2015-02-01",)])
        self.assertEqual(self.incidents(), [("day", "format", "resolved")])
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_free_text_is_not_a_layout(self):
        # a column that already held words and dates has no layout to drift from
        self.ingest("visits", self.write("b.ndjson", [{"id": 4, "day": "tomorrow"}]),
                    expect=EXIT_LOADED)
        r = self.ingest("visits", self.write("c.ndjson", [{"id": 5, "day": "01/31/2015"}]),
                        expect=EXIT_LOADED)
        self.assertNotIn("format drift", r.stderr)
        self.assertEqual(self.proposals(), [])
