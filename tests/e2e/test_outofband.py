"""Changes made to a table by hand, outside pipemend: found at the start of
the next run, audited, opened as out_of_band incidents, and adopted as a new
schema version; compatible ones resolve at once, incompatible ones stay open
and quarantine the rows they affect. The DDL is what an operator would type
in the backend's console: SQLite rebuilds a table where PostgreSQL alters
it."""
from e2e_util import E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED


def rec(i, **over):
    r = {"id": i, "email": "u%d@example.com" % i, "n": i}
    r.update(over)
    return r


class TestOutOfBand(E2E):
    def base(self):
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)

    def hand(self, *stmts):
        self.sql_script(*stmts)

    def incidents(self):
        r = self.pm("incidents", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def events(self, action):
        ev = self.pm("audit", "log", "--db", self.db, "--json").json()
        return [e["payload"] for e in ev if e["action"] == action]

    def version(self):
        r = self.pm("schema", "show", "--table", "t", "--db", self.db, "--json")
        return r.json()["version"]

    def test_column_added_by_hand_is_adopted(self):
        self.base()
        self.hand('ALTER TABLE t ADD COLUMN note TEXT')
        r = self.ingest("t", self.write("b.ndjson", [rec(10, note="hello")]), expect=EXIT_LOADED)
        self.assertIn('column "note" (text, nullable) was added outside pipemend', r.stderr)
        self.assertEqual(self.schema("t")["note"], ("text", True))
        self.assertEqual(self.version(), 2)
        self.assertEqual(self.sql("SELECT note FROM t WHERE id = 10"), [("hello",)])
        ev = self.events("schema.out_of_band")
        self.assertEqual([(e["change"], e["column"], e["compatible"]) for e in ev],
                         [("column_added", "note", True)])
        inc = [i for i in self.incidents() if i["kind"] == "out_of_band"]
        self.assertEqual([(i["column"], i["state"]) for i in inc], [("note", "resolved")])
        # nothing changed since: the next run adopts nothing
        self.ingest("t", self.write("c.ndjson", [rec(11)]), expect=EXIT_LOADED)
        self.assertEqual(len(self.events("schema.out_of_band")), 1)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_not_null_dropped_by_hand_loads_the_waiting_rows(self):
        self.base()
        self.ingest("t", self.write("b.ndjson", [rec(10, email=None)]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        # an operator drops NOT NULL on email (SQLite: rebuilds the table without it)
        if self.backend == "pg":
            self.hand("ALTER TABLE t ALTER COLUMN email DROP NOT NULL")
        else:
            self.hand("CREATE TABLE t2 (id INTEGER NOT NULL, email TEXT, n INTEGER NOT NULL) STRICT",
                      "INSERT INTO t2 SELECT id, email, n FROM t", "DROP TABLE t",
                      "ALTER TABLE t2 RENAME TO t")
        r = self.ingest("t", self.write("c.ndjson", [rec(11, email=None)]), expect=EXIT_LOADED)
        self.assertIn('was made nullable outside pipemend', r.stderr)
        self.assertTrue(self.schema("t")["email"][1])
        # the row quarantined before the change fits now and was replayed
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.count("t"), 7)
        self.assert_invariants("t", 7)
        # the proposal that waited for a person has nothing left to do
        props = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual([p["state"] for p in props], ["superseded"], props)

    def test_pending_add_column_made_by_hand_is_superseded_not_left_pending(self):
        """A new field waits for a person's approval; an operator adds the
        column by hand instead: the rows load, the incident resolves, and the
        proposal that would add the column again is superseded, audited, and
        approving it says why it cannot be."""
        self.base()
        self.ingest("t", self.write("b.ndjson", [rec(10, note="hi")]),
                    extra=("--policy", "review"), expect=EXIT_QUARANTINED)
        props = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual([p["state"] for p in props], ["pending"], props)
        pid = props[0]["id"]
        self.hand("ALTER TABLE t ADD COLUMN note TEXT")
        self.ingest("t", self.write("c.ndjson", [rec(11)]), expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT id, note FROM t WHERE id >= 10 ORDER BY id"),
                         [(10, "hi"), (11, None)])
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(sorted((i["kind"], i["state"]) for i in self.incidents()),
                         [("new_field", "resolved"), ("out_of_band", "resolved")])
        props = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual([(p["id"], p["state"], p["decided_by"]) for p in props],
                         [(pid, "superseded", "rules")], props)
        ev = self.events("proposal.superseded")
        self.assertEqual(len(ev), 1, ev)
        self.assertIn("already exists", ev[0]["reason"])
        r = self.pm("proposals", "approve", str(pid), "--db", self.db)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("proposal %d is superseded, not pending" % pid, r.stderr)
        self.assertIn("made another way", r.stderr)
        self.assertEqual(self.version(), 2)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_column_dropped_by_hand_quarantines_its_values(self):
        self.ingest("t", self.write("a.ndjson", [rec(i, note="x") for i in range(5)]),
                    expect=EXIT_LOADED)
        self.hand("ALTER TABLE t DROP COLUMN note")
        r = self.ingest("t", self.write("b.ndjson", [rec(10, note="y"), rec(11)]),
                        expect=EXIT_QUARANTINED)
        self.assertIn('incompatible: incident open', r.stderr)
        self.assertNotIn("note", self.schema("t"))
        q = self.quarantine()
        self.assertEqual([e["kinds"] for e in q], [["out_of_band"]])
        self.assertIn("was dropped from t outside pipemend", q[0]["message"])
        # under auto the dropped column is not added back
        self.assertNotIn("note", self.sql_columns("t"))
        inc = [(i["column"], i["state"]) for i in self.incidents() if i["kind"] == "out_of_band"]
        self.assertEqual(inc, [("note", "open")])
        self.assertEqual(self.sql("SELECT id FROM t WHERE id >= 10"), [(11,)])
        self.assert_invariants("t", 7)

    def test_table_dropped_by_hand_stops_the_run(self):
        self.base()
        self.hand("DROP TABLE t")
        r = self.ingest("t", self.write("b.ndjson", [rec(10)]), expect=EXIT_FAILED)
        self.assertIn("is in pipemend's catalog (schema version 1) but not in the warehouse",
                      r.stderr)
        self.assertIn("hint: restore the table (pipemend schema show --table t lists its columns), "
                      "or let pipemend forget it: pipemend table drop t", r.stderr)
        # recorded: an out_of_band incident for the table, once
        inc = [(i["column"], i["state"]) for i in self.incidents() if i["kind"] == "out_of_band"]
        self.assertEqual(inc, [("", "open")])
        self.ingest("t", self.write("c.ndjson", [rec(11)]), expect=EXIT_FAILED)
        ev = [e for e in self.pm("audit", "log", "--db", self.db, "--json").json()
              if e["action"] == "schema.out_of_band"]
        self.assertEqual([(e["subject"], e["payload"]["change"]) for e in ev], [("table/t", "table_dropped")])
        self.assertEqual(len([i for i in self.incidents() if i["kind"] == "out_of_band"]), 1)
        # a person lets it go: the incident is dismissed, the name free again
        r = self.pm("table", "drop", "t", "--db", self.db, "--yes")
        self.assertEqual(r.rc, 0, r)
        inc = [(i["column"], i["state"]) for i in self.incidents() if i["kind"] == "out_of_band"]
        self.assertEqual(inc, [("", "dismissed")])
        self.ingest("t", self.write("d.ndjson", [rec(12)]), expect=EXIT_LOADED)

    def test_check_constraint_added_by_hand_quarantines_refused_rows(self):
        self.base()
        if self.backend == "pg":
            self.hand("ALTER TABLE t ADD CONSTRAINT n_below_100 CHECK (n < 100)")
        else:
            self.hand("CREATE TABLE t2 (id INTEGER NOT NULL, email TEXT NOT NULL, "
                      "n INTEGER NOT NULL CHECK (n < 100)) STRICT",
                      "INSERT INTO t2 SELECT id, email, n FROM t", "DROP TABLE t",
                      "ALTER TABLE t2 RENAME TO t")
        r = self.ingest("t", self.write("b.ndjson", [rec(10), rec(11, n=500), rec(12)]),
                        expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(len(q), 1, q)
        self.assertEqual(q[0]["kinds"], ["contract"])
        self.assertIn("the warehouse refused the row", q[0]["message"])
        # the server's own words
        self.assertIn({"sqlite": "CHECK constraint failed",
                       "pg": 'violates check constraint "n_below_100"'}[self.backend],
                      q[0]["message"])
        self.assertEqual(self.sql("SELECT id FROM t WHERE id >= 10 ORDER BY id"), [(10,), (12,)])
        self.assert_invariants("t", 8)
        del r
