"""Look-alike and invisible column names (the security review's
"Medium-low" finding), each attack performed on every path that adds
columns: the first batch that creates a table, inline healing under the
default policy auto, and propose_fix over MCP with SQL and with typed ops.
Characters that do not show are separators in the column-name rule, so
they never make a column of their own; a column that looks like another
one (Unicode's confusables skeleton) is never added by itself: the guard
refuses it, and the rules propose a field mapping for a person instead."""
import json

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED

TAGS = "\U000E0001\U000E0065\U000E007F"  # tag characters: invisible
FILLER = "\u3164"  # Hangul filler: blank
CODE_CYR = "\u0441\u043ed\u0435"  # "соdе": Cyrillic с, о, е around a Latin d
CODE2_CYR = CODE_CYR + "2"


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


INIT = rpc(0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "lookalike-e2e", "version": "1"}})
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def visible(name):
    """Every character of name shows: no format, space or filler."""
    return all(c.isprintable() and not c.isspace() and c not in "\u3164\u115f\u1160\uffa0\u2800"
               for c in name) and name != ""


class TestLookalike(E2E):
    def columns(self, table="t"):
        return list(self.schema(table))

    def proposals(self):
        r = self.pm("proposals", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def session(self, *messages):
        lines = [json.dumps(m) for m in (INIT, INITIALIZED) + messages]
        r = self.pm("mcp", "--db", self.db, input="\n".join(lines) + "\n", timeout=120)
        self.assertEqual(r.rc, 0, r)
        return {m["id"]: m for m in map(json.loads, r.stdout.splitlines()) if "id" in m}

    def propose(self, **args):
        resp = self.session(rpc(1, "tools/call", {"name": "propose_fix", "arguments": args}))
        return resp[1]["result"]

    def base(self):
        self.ingest("t", self.write("day1.ndjson", [{"id": i, "code": "c%d" % i} for i in range(3)]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.columns(), ["id", "code"])

    # ---- invisible characters ----------------------------------------

    def test_tag_characters_load_into_the_visible_column(self):
        self.base()
        rows = [{"id": 10, "code": "x", "email": "a@example.com"},
                {"id": 11, "code": "y", "email" + TAGS: "b@example.com"}]
        self.ingest("t", self.write("day2.ndjson", rows), expect=EXIT_LOADED)
        self.assertEqual(self.columns(), ["id", "code", "email"])
        self.assertEqual(sorted(r[0] for r in self.sql("SELECT email FROM t WHERE id >= 10")),
                         ["a@example.com", "b@example.com"])

    def test_tag_characters_beside_the_plain_field_in_one_record_are_refused(self):
        self.base()
        bad = json.dumps({"id": 12, "code": "z", "email": "a@example.com",
                          "email" + TAGS: "evil@example.com"})
        self.ingest("t", self.write("day2.ndjson", [bad]), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        e = self.assert_quarantined(q, "malformed", bad)
        self.assertIn("both become column email", e["message"] + json.dumps(e.get("findings")))
        self.assertNotIn("evil@example.com", [r[0] for r in self.sql("SELECT code FROM t")])

    def test_filler_alone_makes_no_blank_column(self):
        rows = [{"id": 1, FILLER: "hidden", "name" + FILLER: "n"}]
        self.ingest("t", self.write("day1.ndjson", rows), expect=EXIT_LOADED)
        cols = self.columns()
        self.assertEqual(cols, ["id", "c_", "name"])
        for c in cols:
            self.assertTrue(visible(c), repr(c))
        # and as drift on a live table
        self.base_and_drift_filler()

    def base_and_drift_filler(self):
        self.ingest("u", self.write("u1.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        # The field's column would be "c_", which the guard does not take
        # as a normal name (colname.h: "c_" does not normalise to itself),
        # so the row waits in quarantine; either way no blank column.
        self.ingest("u", self.write("u2.ndjson", [{"id": 2, FILLER + "\u2800\u200b": "x"}]))
        for c in self.columns("u"):
            self.assertTrue(visible(c), repr(c))
        self.assertEqual(self.count("u") + len(self.quarantine("--table", "u")), 2)

    # ---- look-alikes through the rules ---------------------------------

    def test_cyrillic_lookalike_of_a_live_column_waits_for_a_person(self):
        self.base()
        bad = json.dumps({"id": 20, CODE_CYR: "attacker"})
        good = json.dumps({"id": 21, "code": "ok", "coupon": "C1"})
        self.ingest("t", self.write("day2.ndjson", [bad, good]), expect=EXIT_QUARANTINED)
        # the plain new field healed by itself; the look-alike did not
        self.assertEqual(self.columns(), ["id", "code", "coupon"])
        q = self.quarantine()
        e = self.assert_quarantined(q, "rename", bad)
        self.assertIn("looks like column code", e["message"])
        self.assertIn("U+0441", e["message"])
        pending = [p for p in self.proposals() if p["state"] == "pending"]
        maps = [p for p in pending if p["ops"][0]["op"] == "add_field_mapping"]
        self.assertEqual(len(maps), 1, pending)
        self.assertEqual(maps[0]["ops"][0]["column"], "code")
        self.assertEqual(maps[0]["ops"][0]["field"], CODE_CYR)
        self.assertIn("looks like column code", json.dumps(maps[0], ensure_ascii=False))
        self.assertEqual([p for p in pending if p["ops"][0]["op"] == "add_column"], [])

    def test_lookalikes_in_one_record_are_malformed(self):
        self.base()
        bad = json.dumps({"id": 30, "code": "a", CODE_CYR: "b"})
        both_new = json.dumps({"id": 31, "code": "a", "zone": "z", "z\u043ene": "y"})
        self.ingest("t", self.write("day2.ndjson", [bad, both_new]), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        for raw in (bad, both_new):
            e = self.assert_quarantined(q, "malformed", raw)
            self.assertIn("look alike", json.dumps(e, ensure_ascii=False))
        for c in self.columns():
            self.assertNotIn("\u043e", c)

    def test_first_batch_creates_one_of_two_lookalikes(self):
        rows = [{"id": 1, "code": "a"}, {"id": 2, CODE_CYR: "b"}]
        self.ingest("t", self.write("day1.ndjson", rows), expect=EXIT_QUARANTINED)
        self.assertEqual(self.columns(), ["id", "code"])
        e = self.assert_quarantined(self.quarantine(), "rename", json.dumps(rows[1]))
        self.assertIn("looks like column code", e["message"])

    # ---- look-alikes through propose_fix -------------------------------

    def test_propose_fix_sql_with_two_lookalike_new_columns_is_refused(self):
        self.base()
        res = self.propose(table="t", sql="ALTER TABLE t ADD COLUMN code2 text, ADD COLUMN %s text"
                           % CODE2_CYR)
        self.assertTrue(res["isError"], res)
        text = res["content"][0]["text"]
        self.assertIn("looks like new column code2", text)
        self.assertIn(CODE2_CYR, text)
        self.assertEqual(self.proposals(), [])
        self.assertEqual(self.columns(), ["id", "code"])

    def test_propose_fix_typed_ops_with_two_lookalike_new_columns_is_refused(self):
        self.base()
        res = self.propose(table="t", ops=[{"op": "add_column", "column": "code2", "type": "text"},
                                           {"op": "add_column", "column": CODE2_CYR, "type": "text"}])
        self.assertTrue(res["isError"], res)
        self.assertIn("looks like new column code2", res["content"][0]["text"])
        self.assertEqual(self.proposals(), [])
        self.assertEqual(self.columns(), ["id", "code"])

    def test_propose_fix_lookalike_of_a_live_column_is_refused(self):
        self.base()
        res = self.propose(table="t", ops=[{"op": "add_column", "column": CODE_CYR, "type": "text"}])
        self.assertTrue(res["isError"], res)
        self.assertIn("looks like existing column code", res["content"][0]["text"])
        res = self.propose(table="t", sql="ALTER TABLE t ADD COLUMN %s text" % CODE_CYR)
        self.assertTrue(res["isError"], res)
        self.assertEqual(self.proposals(), [])
        self.assertEqual(self.columns(), ["id", "code"])
