"""Contracts from pipemend.yaml: a row that breaks a declared rule is
quarantined as `contract` with the rule's name in its message."""
import resource
import time

from e2e_util import E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED, EXIT_USAGE

CONTRACT = """\
tables:
  orders:
    contract:
      unique: [order_id]
      columns:
        amount: {min: 0, max: 1000}
        status: {allowed: [new, paid, shipped], not_null: true}
        customer_email: {regex: '^[^@ ]+@[^@ ]+$', max_length: 20}
        coupon: {not_null: true}
"""


def rec(i, **over):
    r = {"order_id": 1000 + i, "customer_email": "u%d@example.com" % i, "status": "paid",
         "amount": 10.5, "coupon": "C%d" % i}
    r.update(over)
    return r


class TestContract(E2E):
    def run_contract(self, first_load):
        n0 = 0
        if not first_load:
            # loaded before the contract exists; coupon is nullable in the table
            base = [rec(i) for i in range(4)] + [rec(4, coupon=None)]
            self.ingest("orders", self.write("base.ndjson", base), expect=EXIT_LOADED)
            self.assertTrue(self.schema("orders")["coupon"][1])
            n0 = 5
        self.write_config(CONTRACT)
        cases = [
            (rec(10, amount=-5), "amount.min"),
            (rec(11, amount=5000), "amount.max"),
            (rec(12, customer_email="not an email"), "customer_email.regex"),
            (rec(13, status="lost"), "status.allowed"),
            (rec(14, customer_email="a" * 14 + "@example.com"), "customer_email.max_length"),
            (rec(15, coupon=None), "coupon.not_null"),
        ]
        clean = [rec(20), rec(21), rec(22)]
        dup = rec(20, status="new")  # same order_id as a clean row before it
        # (unique on a table created before the contract: see the test below)
        dups = [dup] if first_load else []
        lines = [clean[0]] + [c[0] for c in cases] + [clean[1]] + dups + [clean[2]]
        import json
        f = self.write("day.ndjson", lines)
        r = self.ingest("orders", f, expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(len(q), len(cases) + len(dups), q)
        for record, rule in cases:
            e = self.assert_quarantined(q, "contract", json.dumps(record), exact_kinds=["contract"])
            self.assertIn(rule, e["message"])
            self.assertIn(rule, [f.get("rule") for f in e["findings"]])
        for d in dups:
            e = self.assert_quarantined(q, "contract", json.dumps(d), exact_kinds=["contract"])
            self.assertIn("unique", e["message"])
        ids = sorted(x[0] for x in self.sql("SELECT order_id FROM orders"))
        self.assertEqual(ids, sorted([r["order_id"] for r in clean] + [1000 + i for i in range(n0)]))
        self.assert_invariants("orders", n0 + len(lines))

    def test_contract_on_first_load(self):
        self.run_contract(first_load=True)

    def test_contract_on_existing_table(self):
        self.run_contract(first_load=False)

    def test_unique_rule_added_after_the_table_exists(self):
        # The table is created before the contract declares unique: [order_id];
        # once declared, the rule must hold for later runs (or the run must
        # refuse to go on), never be silently ignored.
        self.ingest("orders", self.write("a.ndjson", [rec(1), rec(2)]), expect=EXIT_LOADED)
        self.write_config("tables:\n  orders:\n    contract:\n      unique: [order_id]\n")
        r = self.ingest("orders", self.write("b.ndjson", [rec(2), rec(3)]))
        self.assertIn(r.rc, (EXIT_QUARANTINED, EXIT_USAGE, EXIT_FAILED), r)
        ids = [x[0] for x in self.sql("SELECT order_id FROM orders")]
        self.assertEqual(len(ids), len(set(ids)),
                         "unique: [order_id] is declared but order_id %r was loaded twice" % ids)

    def test_unique_across_runs(self):
        self.write_config(CONTRACT)
        self.ingest("orders", self.write("a.ndjson", [rec(1), rec(2)]), expect=EXIT_LOADED)
        self.ingest("orders", self.write("b.ndjson", [rec(2), rec(3)]), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(len(q), 1)
        self.assertIn("unique", q[0]["message"])
        self.assert_invariants("orders", 4)

    def test_pipeline_contract(self):
        self.write_config("""\
pipelines:
  - name: feed
    source: in/*.ndjson
    table: events
    contract:
      columns:
        amount: {min: 0}
""")
        self.write("in/a.ndjson", [{"id": 1, "amount": 5}, {"id": 2, "amount": -1}])
        r = self.pm("run", "feed", "--db", self.db)
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        q = self.quarantine()
        self.assertEqual(len(q), 1)
        self.assertIn("amount.min", q[0]["message"])
        self.assertEqual(q[0]["kinds"], ["contract"])
        self.assert_invariants("events", 2)

    def test_catastrophic_regexes_are_bounded(self):
        # glibc's engine ran a backreference pattern for over 12 minutes on a
        # 200-character value and overflowed its stack on (|)(\1\1)*. Under
        # PCRE2's limits each value is decided (or reported as over them) at
        # once: the run finishes, the process survives, nothing is lost.
        self.write_config("""\
tables:
  t:
    contract:
      columns:
        a: {regex: '(|)(\\1\\1)*'}
        b: {regex: '^(a|a?)+$'}
        c: {regex: '^((a*)*b)*\\2\\1c$'}
        d: {regex: '^[^@ ]+@[^@ ]+$'}
        e: {regex: '(a*)*(a*)*\\1\\2\\1\\2b'}
""")
        evil = "a" * 199 + "!"
        rows = [{"id": i, "a": evil, "b": evil, "c": evil, "d": "u%d@example.com" % i, "e": evil}
                for i in range(20)]
        rows.append({"id": 99, "a": "x", "b": "aaaa", "c": None, "d": "x" * 70000 + "@y"})
        rows.append({"id": 100, "a": "x", "b": "aaaa", "c": None, "d": "ok@example.com"})
        t0 = time.monotonic()
        r = self.ingest("t", self.write("evil.ndjson", rows), expect=EXIT_QUARANTINED)
        took = time.monotonic() - t0
        self.assertLess(took, 60, r)
        q = self.quarantine()
        self.assertEqual(len(q), 21, q)
        msgs = [f["message"] for e in q for f in e["findings"]]
        self.assertTrue(any("over the regex limits (rule b.regex)" in m for m in msgs), msgs)
        self.assertTrue(any("too long to check against" in m and "d.regex" in m for m in msgs),
                        msgs)
        self.assertEqual([x[0] for x in self.sql("SELECT id FROM t")], [100])
        self.assert_invariants("t", len(rows))

    def test_bad_regex_is_config_error(self):
        self.write_config("tables:\n  t:\n    contract:\n      columns:\n"
                          "        email: {regex: 'a(b'}\n")
        r = self.ingest("t", self.write("a.ndjson", [{"email": "ab"}]))
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertRegex(r.stderr, r"pipemend\.yaml:5:24: regex \"a\(b\" in column \"email\" "
                                   r"of contract of table \"t\" does not compile: missing closing "
                                   r"parenthesis at offset 3")

    def test_typo_in_contract_is_config_error(self):
        self.write_config("tables:\n  orders:\n    contract:\n      columns:\n"
                          "        amount: {minimum: 0}\n")
        r = self.ingest("orders", self.write("a.ndjson", [rec(1)]))
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertRegex(r.stderr, r"^pipemend: error: .*pipemend\.yaml:5:\d+: ")
        self.assertIn("minimum", r.stderr)


class TestUniqueKeyFollowsTheContract(E2E):
    def test_changed_and_removed_unique_key(self):
        self.write_config("tables:\n  t:\n    contract:\n      unique: [id]\n")
        self.ingest("t", self.write("a.ndjson", [{"id": 1, "region": "us"}]), expect=EXIT_LOADED)
        # the key becomes (id, region): (1, eu) is new, (1, us) is not
        self.write_config("tables:\n  t:\n    contract:\n      unique: [id, region]\n")
        self.ingest("t", self.write("b.ndjson", [{"id": 1, "region": "eu"}]), expect=EXIT_LOADED)
        r = self.ingest("t", self.write("c.ndjson", [{"id": 1, "region": "us"}]))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.assertIn("(id=1, region=us)", self.quarantine()[0]["message"])
        # no key at all: duplicates load
        self.write_config("tables:\n  t:\n    contract: {}\n")
        self.ingest("t", self.write("d.ndjson", [{"id": 1, "region": "us"}]), expect=EXIT_LOADED)
        self.assertEqual(self.count("t"), 3)
        actions = [e["action"] for e in self.pm("audit", "log", "--db", self.db, "--json").json()]
        self.assertEqual(actions.count("unique_key.enforced"), 3)
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)

    def test_similar_names_do_not_share_an_index(self):
        # table a__b keyed on c, and table a keyed on b__c: distinct indexes
        self.write_config("tables:\n  a__b:\n    contract:\n      unique: [c]\n"
                          "  a:\n    contract:\n      unique: [b__c]\n")
        self.ingest("a__b", self.write("x.ndjson", [{"c": 1}]), expect=EXIT_LOADED)
        r = self.ingest("a", self.write("y.ndjson", [{"b__c": 1}, {"b__c": 1}]))
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.assertEqual(self.count("a"), 1)


class TestHostileConfig(E2E):
    """Generated pipemend.yaml files built to exhaust the loader: each now
    fails at once with file:line:col, in little memory."""

    def refused(self, text, pattern):
        self.write_config(text)
        t0 = time.monotonic()
        # a file named by --config is always read (./pipemend.yaml alone would
        # be passed over, with a warning, by a command given --db)
        r = self.pm("status", "--db", self.db, "--config", self.path("pipemend.yaml"))
        took = time.monotonic() - t0
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertRegex(r.stderr, pattern)
        self.assertLess(took, 30, r)
        # the largest child so far, sanitizer included: far from the
        # gigabytes these files took before
        self.assertLess(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 512 * 1024)

    def test_alias_bomb(self):
        # 460 KB: one column's rules with a 1000-value allowed list, named
        # by 40,000 columns (2.37 GB of memory before)
        vals = ", ".join("v%d" % i for i in range(1000))
        lines = ["tables:", "  t:", "    contract:", "      columns:",
                 "        c0: &r {allowed: [%s]}" % vals]
        lines += ["        c%d: *r" % i for i in range(1, 40000)]
        self.refused("\n".join(lines) + "\n",
                     r"pipemend\.yaml:15:14: the aliases up to here expand to more than 10000 nodes")
        # billion laughs
        bl = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        bl += ["a%d: &a%d [%s]" % (k, k, ", ".join(["*a%d" % (k - 1)] * 10)) for k in range(1, 10)]
        self.refused("\n".join(bl) + "\n", r"pipemend\.yaml:4:\d+: the aliases up to here expand")

    def test_deep_nesting(self):
        self.refused("db: " + "[" * 100000 + "]" * 100000 + "\n",
                     r"pipemend\.yaml:1:36: nested more than 32 levels deep")
        self.refused("".join(" " * i + "k:\n" for i in range(1000)),
                     r"pipemend\.yaml:33:33: nested more than 32 levels deep")

    def test_too_large(self):
        self.refused("#" * (1 << 20) + "\n", r"pipemend\.yaml: is 1048577 bytes; a config file is at "
                                             r"most 1048576")
