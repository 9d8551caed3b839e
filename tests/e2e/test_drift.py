"""Each drift kind lands in quarantine with its finding kind and the row's
original bytes, while the clean rows of the same batch still load (with
`--policy frozen`, which heals nothing); and under the default `auto`
policy, new fields and lossless widenings are healed inline."""
import json

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED


def order(i, **over):
    r = {"order_id": 100000 + i, "customer_email": "user%d@example.com" % i, "status": "paid",
         "amount": 12.5 + i, "quantity": 2, "created_at": "2026-11-01T10:00:00Z",
         "note": "short note", "tag": "t%d" % i if i % 2 else None}
    for k, v in over.items():
        if v is DROP:
            del r[k]
        else:
            r[k] = v
    return r


DROP = object()
BASE = 10


class DriftBase(E2E):
    def load_base(self):
        self.ingest("orders", self.write("base.ndjson", [order(i) for i in range(BASE)]),
                    expect=EXIT_LOADED)
        s = self.schema("orders")
        self.assertEqual(s["order_id"][0], "int32")
        self.assertFalse(s["status"][1])
        self.assertTrue(s["tag"][1])
        return s

    def drift(self, *bad, fmt_lines=None):
        """Loads the base, then a file of clean, bad..., clean rows. Checks
        exit 3, the clean rows landed, the counters and the invariants;
        returns the quarantine entries of the second run."""
        self.load_base()
        lines = [order(100)]
        for b in bad:
            lines.append(b)
        lines.append(order(101))
        f = self.write("day2.ndjson", lines)
        r = self.ingest("orders", f, expect=EXIT_QUARANTINED, extra=("--policy", "frozen"))
        ids = {row[0] for row in self.sql("SELECT order_id FROM orders")}
        self.assertIn(100100, ids, "clean row before the drift must load")
        self.assertIn(100101, ids, "clean row after the drift must load")
        run = self.last_run()
        self.assertEqual(run["status"], "quarantined")
        self.assertEqual(run["rows_read"], len(lines))
        self.assertEqual(run["rows_loaded"], 2)
        self.assertEqual(run["rows_quarantined"], len(bad))
        self.assert_invariants("orders", BASE + len(lines))
        q = self.quarantine("--run", str(run["id"]))
        self.assertEqual(len(q), len(bad))
        for e in q:
            self.assertEqual(e["run_id"], run["id"])
            self.assertEqual(e["table"], "orders")
            self.assertTrue(e["message"])
            self.assertIsInstance(e["kinds"], list)
        return q

    @staticmethod
    def line(rec):
        return json.dumps(rec)

    def finding(self, entry, kind):
        fs = [f for f in entry.get("findings", []) if f.get("kind") == kind]
        self.assertTrue(fs, "no %s finding in %r" % (kind, entry))
        return fs[0]


class TestDriftKinds(DriftBase):
    def test_new_field(self):
        bad = self.line(order(50, coupon="WINTER26"))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "new_field", bad, exact_kinds=["new_field"])
        self.assertEqual(self.finding(e, "new_field").get("column"), "coupon")
        self.assertIn("coupon", e["message"])

    def test_new_field_with_null_value_is_not_drift(self):
        self.load_base()
        f = self.write("day2.ndjson", [order(60, extra=None)])
        self.ingest("orders", f, expect=EXIT_LOADED)
        self.assert_invariants("orders", BASE + 1)

    def test_widen_int32_gets_3000000000(self):
        rec = order(51)
        rec["order_id"] = 3000000000
        bad = self.line(rec)
        q = self.drift(bad)
        e = self.assert_quarantined(q, "widen", bad, exact_kinds=["widen"])
        f = self.finding(e, "widen")
        self.assertEqual(f.get("column"), "order_id")
        self.assertEqual(f.get("expected"), "int32")
        self.assertEqual(f.get("proposed"), "int64")

    def test_widen_varchar_gets_long_string(self):
        bad = self.line(order(52, note="x" * 300))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "widen", bad, exact_kinds=["widen"])
        f = self.finding(e, "widen")
        self.assertEqual(f.get("column"), "note")
        self.assertTrue(f.get("expected", "").startswith("varchar"), f)

    def test_widen_int_gets_fraction(self):
        bad = self.line(order(62, quantity=1.5))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "widen", bad, exact_kinds=["widen"])
        self.assertEqual(self.finding(e, "widen").get("proposed"), "float64")

    def test_quoted_number_fits_a_number_column(self):
        self.load_base()
        self.ingest("orders", self.write("day2.ndjson", [order(64, quantity="5")]),
                    expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT quantity FROM orders WHERE order_id = 100064"), [(5,)])

    def test_keys_that_are_data(self):
        # every record brings a key never seen before: the name cache must
        # stay bounded and every row must still be diagnosed
        self.load_base()
        n = 5000
        lines = [self.line(order(1000 + i, **{"user_%d" % i: i})) for i in range(n)]
        cols = len(self.sql_columns("orders"))
        self.ingest("orders", self.write("keys.ndjson", lines), expect=EXIT_QUARANTINED)
        # the table's budget of columns added without a person (32 a day)
        # takes the first keys; every other row waits, diagnosed
        self.assertEqual(len(self.sql_columns("orders")), cols + 32)
        q = self.quarantine()
        self.assertEqual(len(q), n - 32)
        self.assertTrue(all(e["kinds"] == ["new_field"] for e in q))
        self.assert_invariants("orders", BASE + n)

    def test_type_conflict(self):
        bad = self.line(order(53, quantity="abc"))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "type_conflict", bad, exact_kinds=["type_conflict"])
        self.assertEqual(self.finding(e, "type_conflict").get("column"), "quantity")

    def test_null_violation_null(self):
        bad = self.line(order(54, status=None))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "null_violation", bad, exact_kinds=["null_violation"])
        self.assertEqual(self.finding(e, "null_violation").get("column"), "status")

    def test_null_violation_missing_field(self):
        bad = self.line(order(55, status=DROP))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "null_violation", bad, exact_kinds=["null_violation"])
        self.assertEqual(self.finding(e, "null_violation").get("column"), "status")

    def test_missing_nullable_field_loads(self):
        self.load_base()
        self.ingest("orders", self.write("day2.ndjson", [order(61, tag=DROP)]), expect=EXIT_LOADED)
        self.assert_invariants("orders", BASE + 1)

    def test_nested_array_in_scalar_column(self):
        bad = self.line(order(56, status=["paid", "shipped"]))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "nested", bad, exact_kinds=["nested"])
        self.assertEqual(self.finding(e, "nested").get("column"), "status")

    def test_nested_object_where_scalar_was(self):
        bad = self.line(order(57, tag={"code": "x", "level": 2}))
        q = self.drift(bad)
        self.assert_quarantined(q, "nested", bad, exact_kinds=["nested"])

    def test_two_new_nested_fields_in_one_record(self):
        bad = self.line(order(63, items=[1, 2], extras=["a"]))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "nested", bad, exact_kinds=["nested"])
        self.assertEqual(len([f for f in e["findings"] if f["kind"] == "nested"]), 2, e)

    def test_rename(self):
        bad = self.line(order(58, customer_email=DROP, email="renamed@example.com"))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "rename", bad)
        f = self.finding(e, "rename")
        self.assertEqual(f.get("column"), "customer_email")
        self.assertEqual(f.get("field"), "email")
        self.assertNotIn("null_violation", e["kinds"], "a renamed field is not also a null violation")

    def test_format(self):
        bad = self.line(order(59, created_at="11/01/2026 10:00"))
        q = self.drift(bad)
        e = self.assert_quarantined(q, "format", bad, exact_kinds=["format"])
        f = self.finding(e, "format")
        self.assertEqual(f.get("column"), "created_at")
        self.assertEqual(f.get("format"), "%m/%d/%Y %H:%M")

    def test_malformed_invalid_json(self):
        bad = '{"order_id": 100070, "status": "paid",'
        q = self.drift(bad)
        self.assert_quarantined(q, "malformed", bad, exact_kinds=["malformed"])

    def test_malformed_trailing_comma_and_non_object(self):
        bad1 = '{"order_id": 100071,}'
        bad2 = '[1, 2, 3]'
        q = self.drift(bad1, bad2)
        self.assert_quarantined(q, "malformed", bad1, exact_kinds=["malformed"])
        self.assert_quarantined(q, "malformed", bad2, exact_kinds=["malformed"])

    def test_malformed_invalid_utf8_keeps_exact_bytes(self):
        self.load_base()
        good1 = json.dumps(order(100)).encode()
        bad = json.dumps(order(72, note="NOTE")).encode().replace(b"NOTE", b"bad \xff\xfe here")
        good2 = json.dumps(order(101)).encode()
        f = self.write("day2.ndjson", good1 + b"\n" + bad + b"\n" + good2 + b"\n")
        self.ingest("orders", f, expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(len(q), 1)
        e = self.assert_quarantined(q, "malformed", bad, exact_kinds=["malformed"])
        self.assertIsNotNone(e.get("raw_hex"), "non-UTF-8 raw bytes need raw_hex: %r" % e)
        # quarantine show gives the same exact bytes
        r = self.pm("quarantine", "show", str(e["id"]), "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(bytes.fromhex(r.json()["raw_hex"]), bad)
        self.assert_invariants("orders", BASE + 3)

    def test_all_kinds_in_one_batch(self):
        bad = [
            self.line(order(80, coupon="X")),
            self.line(order(81, quantity="abc")),
            self.line(order(82, status=None)),
            self.line(order(83, status=["a"])),
            self.line(order(84, created_at="11/01/2026 10:00")),
            self.line(order(85, note="y" * 500)),
            '{"broken": ',
        ]
        q = self.drift(*bad)
        kinds = ["new_field", "type_conflict", "null_violation", "nested", "format", "widen",
                 "malformed"]
        for k, b in zip(kinds, bad):
            self.assert_quarantined(q, k, b)


class TestCsvDrift(E2E):
    def test_csv_row_with_too_many_and_too_few_fields(self):
        self.ingest("c", self.write("base.csv", "id,name,qty\n1,alice,3\n2,bob,4\n"),
                    expect=EXIT_LOADED)
        f = self.write("day2.csv", "id,name,qty\n3,carol,5\n4,dave,6,extra\n5,eve\n6,frank,7\n")
        self.ingest("c", f, expect=EXIT_QUARANTINED)
        q = self.quarantine("--table", "c")
        self.assert_quarantined(q, "malformed", "4,dave,6,extra", exact_kinds=["malformed"])
        self.assert_quarantined(q, "malformed", "5,eve", exact_kinds=["malformed"])
        self.assertEqual(sorted(r[0] for r in self.sql("SELECT id FROM c")), [1, 2, 3, 6])
        self.assert_invariants("c", 6)

    def test_csv_type_conflict(self):
        self.ingest("c", self.write("base.csv", "id,qty\n1,3\n2,4\n"), expect=EXIT_LOADED)
        self.ingest("c", self.write("day2.csv", "id,qty\n3,abc\n4,5\n"), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assert_quarantined(q, "type_conflict", "3,abc", exact_kinds=["type_conflict"])
        self.assert_invariants("c", 4)


class TestInlineHeal(DriftBase):
    """Under policy auto, what the policy classes as automatic is applied
    before the batch loads, audited, and the rows load; the rest waits."""

    def test_new_field_and_widenings_heal_and_load(self):
        self.load_base()
        big = order(52)
        big["order_id"] = 3000000000
        frac = order(53, quantity=1.5)
        longer = order(54, note="x" * 200)
        lines = [order(50, coupon="WINTER26"), big, frac, longer, order(55)]
        r = self.ingest("orders", self.write("day2.ndjson", lines), expect=EXIT_LOADED)
        self.assertIn("healed orders", r.stderr)
        s = self.schema("orders")
        self.assertEqual(s["coupon"], ("varchar(16)", True))
        self.assertEqual(s["order_id"][0], "int64")
        self.assertEqual(s["quantity"][0], "float64")
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.sql("SELECT coupon FROM orders WHERE order_id = 100050"),
                         [("WINTER26",)])
        self.assertEqual(self.sql("SELECT quantity FROM orders WHERE order_id = 100053"), [(1.5,)])
        self.assert_invariants("orders", BASE + len(lines))
        ev = self.pm("audit", "log", "--db", self.db, "--json").json()
        healed = [e for e in ev if e["action"] == "schema.healed"]
        self.assertEqual(len(healed), 1)
        self.assertEqual(healed[0]["actor"], "rules")
        self.assertEqual(healed[0]["payload"]["from_version"], 1)
        self.assertEqual(healed[0]["payload"]["to_version"], 2)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_only_automatic_drift_heals(self):
        self.load_base()
        lines = [order(60, coupon="X"),                      # heals
                 order(61, quantity="abc"),                  # type conflict: waits
                 order(62, customer_email=None),             # inferred NOT NULL: relaxed
                 order(63, created_at="11/01/2026 10:00"),   # format: review, waits
                 order(64)]
        r = self.ingest("orders", self.write("day2.ndjson", lines))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        kinds = sorted(k for e in self.quarantine() for k in e["kinds"])
        self.assertEqual(kinds, ["format", "type_conflict"])
        self.assertIn("coupon", self.schema("orders"))
        # the NOT NULL came from the first file's sample: pipemend's guess
        self.assertTrue(self.schema("orders")["customer_email"][1])
        self.assert_invariants("orders", BASE + len(lines))

    def test_renamed_field_gets_no_column_of_its_own(self):
        self.load_base()
        ren = order(70, customer_email=DROP, email="renamed@example.com")
        r = self.ingest("orders", self.write("day2.ndjson", [ren, order(71)]))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.assertNotIn("email", self.schema("orders"))
        self.assertIn("rename", self.quarantine()[0]["kinds"])

    def test_frozen_and_review_change_nothing(self):
        for mode in ("frozen", "review"):
            with self.subTest(mode=mode):
                self.setUp()
                self.load_base()
                r = self.ingest("orders", self.write("d.ndjson", [order(80, coupon="X")]),
                                extra=("--policy", mode))
                self.assertEqual(r.rc, EXIT_QUARANTINED, r)
                self.assertNotIn("coupon", self.schema("orders"))

    def test_pipeline_policy_applies_and_bad_policy_is_a_usage_error(self):
        self.write_config("pipelines:\n  - name: p\n    source: feed/*.ndjson\n    table: orders\n"
                          "    policy: frozen\n")
        self.write("feed/a.ndjson", [order(i) for i in range(BASE)])
        self.pm("run", "p", "--db", self.db)
        self.write("feed/b.ndjson", [order(90, coupon="X")])
        r = self.pm("run", "p", "--db", self.db)
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.assertNotIn("coupon", self.schema("orders"))
        r = self.ingest("orders", self.write("x.ndjson", [order(91)]), extra=("--policy", "yolo"))
        self.assertEqual(r.rc, 2, r)
        self.assertIn('unknown policy "yolo"', r.stderr)

    def test_many_heals_in_one_run_keep_the_contract(self):
        self.write_config("defaults:\n  batch_size: 10\n  sample_size: 10\n"
                          "tables:\n  orders:\n    contract:\n      columns:\n"
                          "        amount: {min: 0}\n")
        self.load_base()
        lines = []
        for k in range(5):
            for i in range(10):
                rec = order(200 + 10 * k + i)
                rec["f%d" % k] = i
                lines.append(rec)
        lines.append(order(300, amount=-1))  # after every heal, the rule still holds
        r = self.ingest("orders", self.write("day2.ndjson", lines))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        s = self.schema("orders")
        for k in range(5):
            self.assertIn("f%d" % k, s)
        q = self.quarantine()
        self.assertEqual([e["kinds"] for e in q], [["contract"]])
        ev = self.pm("audit", "log", "--db", self.db, "--json").json()
        self.assertEqual(len([e for e in ev if e["action"] == "schema.healed"]), 5)
        self.assert_invariants("orders", BASE + len(lines))
