"""Hostile and messy input: BOMs, CRLF, blank lines, over-long lines, deep
nesting, duplicate keys, odd column names, CSV corner cases, stdin."""
import json
import os
import subprocess
import sys

from e2e_util import BIN, E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED, EXIT_USAGE, clean_env


class TestLineHandling(E2E):
    def test_bom_is_not_data(self):
        f = self.write("a.ndjson", b'\xef\xbb\xbf{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n')
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(list(self.schema("t")), ["id", "name"])
        self.assertEqual(self.sql("SELECT id, name FROM t ORDER BY id"), [(1, "a"), (2, "b")])
        self.assert_invariants("t", 2)

    def test_bom_on_csv_header(self):
        f = self.write("a.csv", b"\xef\xbb\xbfid,name\r\n1,a\r\n2,b\r\n")
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(list(self.schema("t")), ["id", "name"])
        self.assertEqual(self.sql("SELECT id, name FROM t ORDER BY id"), [(1, "a"), (2, "b")])

    def test_crlf_line_ends(self):
        f = self.write("a.ndjson", b'{"id": 1, "name": "a"}\r\n{"id": 2, "name": "b"}\r\n{"id": 3,\r\n')
        self.ingest("t", f, expect=EXIT_QUARANTINED)
        self.assertEqual(self.sql("SELECT id, name FROM t ORDER BY id"), [(1, "a"), (2, "b")])
        q = self.quarantine()
        # the raw bytes are the record without its line end
        self.assert_quarantined(q, "malformed", '{"id": 3,')
        self.assert_invariants("t", 3)

    def test_crlf_csv_last_field_has_no_cr(self):
        f = self.write("a.csv", b'id,name\r\n1,alice\r\n2,"bob"\r\n')
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT id, name FROM t ORDER BY id"), [(1, "alice"), (2, "bob")])

    def test_empty_lines_are_not_rows(self):
        f = self.write("a.ndjson", b'\n{"id": 1}\n\n   \n\t\n{"id": 2}\r\n\r\n\n{"id": 3}\n\n')
        self.ingest("t", f, expect=EXIT_LOADED)
        run = self.last_run()
        self.assertEqual(run["rows_read"], 3)
        self.assertEqual(self.count("t"), 3)
        self.assertEqual(self.quarantine(), [])
        self.assert_invariants("t", 3)

    def test_last_line_without_newline(self):
        f = self.write("a.ndjson", b'{"id": 1}\n{"id": 2}')
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.count("t"), 2)


class TestLongLine(E2E):
    LINE_MB = 20

    def test_over_long_line_is_quarantined_and_memory_stays_bounded(self):
        self.write_config("defaults:\n  max_line_bytes: 1048576\n")
        p = self.path("big.ndjson")
        with open(p, "wb") as f:
            f.write(b'{"id": 1, "blob": "small"}\n')
            f.write(b'{"id": 2, "blob": "')
            chunk = b"x" * (1 << 20)
            for _ in range(self.LINE_MB):
                f.write(chunk)
            f.write(b'"}\n')
            f.write(b'{"id": 3, "blob": "after"}\n')
            f.write(b'{"id": 4, "blob": "after too"}\n')
        # Run pipemend under a small Python parent so that RUSAGE_CHILDREN
        # measures this one process and nothing else.
        code = ("import resource, subprocess, sys\n"
                "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
                "sys.stderr.buffer.write(p.stderr)\n"
                "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
        w = subprocess.run([sys.executable, "-c", code, BIN, "ingest", "--db", self.db, "--table",
                            "t", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           cwd=self.tmp, env=clean_env(), timeout=300)
        self.assertNotRegex(w.stderr.decode("utf-8", "replace"), "runtime error:|ERROR: AddressSanitizer")
        rc, maxrss_kib = map(int, w.stdout.split())
        self.assertEqual(rc, EXIT_QUARANTINED, w.stderr.decode("utf-8", "replace"))
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (3,), (4,)])
        q = self.quarantine()
        self.assertEqual(len(q), 1)
        e = q[0]
        self.assertEqual(e["kinds"], ["malformed"])
        self.assertTrue(e["raw_truncated"], e)
        raw = self.raw_bytes(e)
        self.assertLess(len(raw), 1 << 20, "the raw kept of an over-long line is a prefix")
        self.assertTrue(raw.startswith(b'{"id": 2, "blob": "xxxx'), raw[:40])
        self.assertIn("max_line_bytes", e["message"])
        run = self.last_run()
        self.assertEqual((run["rows_read"], run["rows_loaded"], run["rows_quarantined"]), (4, 3, 1))
        self.assert_invariants("t", 4)
        # Peak RSS well below the line size (ASan's shadow memory included).
        self.assertLess(maxrss_kib * 1024, 64 << 20,
                        "peak RSS %.1f MiB while skipping a %d MiB line" % (maxrss_kib / 1024, self.LINE_MB))


    def test_line_length_boundary(self):
        self.write_config("defaults:\n  max_line_bytes: 100\n")

        def rec(n, i):  # a JSON record of exactly n bytes
            head = '{"id":%d,"p":"' % i
            return head + "x" * (n - len(head) - 2) + '"}'
        lines = [rec(100, 1), rec(101, 2), rec(100, 3)]
        self.ingest("t", self.write("a.ndjson", ("\r\n".join(lines) + "\r\n").encode()),
                    expect=EXIT_QUARANTINED)
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (3,)])
        e = self.quarantine()[0]
        self.assertEqual(e["kinds"], ["malformed"])
        self.assertIn("max_line_bytes", e["message"])
        self.assert_invariants("t", 3)

    def test_over_long_csv_record_with_quoted_newlines(self):
        self.write_config("defaults:\n  max_line_bytes: 1048576\n")
        p = self.path("long.csv")
        with open(p, "wb") as f:
            f.write(b'id,note\n1,ok\n2,"')
            for i in range(40000):  # ~1.5 MB inside one quoted field
                f.write(b'line %d, with a comma and ""quotes""\n' % i)
            f.write(b'end"\n3,after\n4,"x\ny"\n')
        self.ingest("t", p, expect=EXIT_QUARANTINED)
        self.assertEqual(self.sql("SELECT id, note FROM t ORDER BY id"),
                         [(1, "ok"), (3, "after"), (4, "x\ny")])
        e = self.quarantine()[0]
        self.assertEqual(e["kinds"], ["malformed"])
        self.assertTrue(e["raw_truncated"])
        self.assertTrue(self.raw_bytes(e).startswith(b'2,"line 0, with a comma'))
        self.assert_invariants("t", 4)


class TestJsonEdgeCases(E2E):
    def test_100000_deep_nesting(self):
        deep_obj = '{"a":' * 100000 + "1" + "}" * 100000
        deep_arr = '{"id": 9, "x": ' + "[" * 100000 + "]" * 100000 + "}"
        lines = ['{"id": 1}', deep_obj, deep_arr, '{"id": 2}']
        self.ingest("t", self.write("a.ndjson", lines), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assert_quarantined(q, "malformed", deep_obj, exact_kinds=["malformed"])
        self.assert_quarantined(q, "malformed", deep_arr, exact_kinds=["malformed"])
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (2,)])
        self.assert_invariants("t", 4)

    def test_duplicate_keys(self):
        dup = '{"id": 3, "id": 4}'
        dup_flat = '{"id": 5, "a__b": 1, "a": {"b": 2}}'
        lines = ['{"id": 1}', dup, dup_flat, '{"id": 2}']
        self.ingest("t", self.write("a.ndjson", lines), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assert_quarantined(q, "malformed", dup, exact_kinds=["malformed"])
        self.assert_quarantined(q, "malformed", dup_flat, exact_kinds=["malformed"])
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (2,)])
        self.assert_invariants("t", 4)

    def test_column_names_are_normalised(self):
        rec = {"Customer Name": "a", "it's": 1, "a;b": 2, "MixedCase": 3, "Größe": 4,
               "naïve name": 5, "1st": 6, " padded ": 7, "dot.name": 8, 'x"y': 9,
               "DROP TABLE t; --": 10, "Customer\u00a0Email": "e@x", "Ça va": 11,
               "UPPER_snake__Case": 12}
        expect = {"customer_name": "a", "it_s": 1, "a_b": 2, "mixedcase": 3, "größe": 4,
                  "naïve_name": 5, "c_1st": 6, "padded": 7, "dot_name": 8, "x_y": 9,
                  "drop_table_t": 10, "customer_email": "e@x", "Ça_va": 11,
                  "upper_snake__case": 12}
        self.ingest("t", self.write("a.ndjson", [rec, rec]), expect=EXIT_LOADED)
        s = self.schema("t")
        self.assertEqual(sorted(s), sorted(expect))
        self.assertEqual(sorted(self.sql_columns("t")), sorted(expect))
        cols = list(expect)
        row = self.sql("SELECT %s FROM t LIMIT 1" % ", ".join('"%s"' % c for c in cols))[0]
        self.assertEqual(dict(zip(cols, row)), expect)
        # a second file with the same odd names loads into the same columns
        self.ingest("t", self.write("b.ndjson", [rec]), expect=EXIT_LOADED)
        self.assert_invariants("t", 3)

    def test_long_column_names_are_cut_to_63_bytes(self):
        rec = {"x" * 70: 1, "a" * 62 + "\u00e9tail": 2, "b" * 62 + "_c": 3, "Z" * 63: 4}
        self.ingest("t", self.write("a.ndjson", [rec]), expect=EXIT_LOADED)
        cols = sorted(self.schema("t"))
        self.assertEqual(cols, sorted(["x" * 63, "a" * 62, "b" * 62, "z" * 63]))
        for c in cols:
            self.assertLessEqual(len(c.encode()), 63)
        self.assertEqual(sorted(self.sql_columns("t")), cols)

    def test_name_collision_after_normalisation(self):
        base = [{"id": 1, "email": "a@x"}, {"id": 2, "email": "b@x"}]
        coll = '{"id": 3, "Email": "c@x", "email": "d@x"}'
        self.ingest("t", self.write("a.ndjson", base), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", ['{"id": 4, "email": "e@x"}', coll]),
                    expect=EXIT_QUARANTINED)
        q = self.quarantine()
        e = self.assert_quarantined(q, "malformed", coll, exact_kinds=["malformed"])
        self.assertIn("email", e["message"])
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (2,), (4,)])
        self.assert_invariants("t", 4)

    def test_name_collision_on_first_load(self):
        coll = '{"id": 3, "Email": "c@x", "email": "d@x"}'
        lines = ['{"id": 1, "email": "a@x"}', coll, '{"id": 2, "email": "b@x"}']
        self.ingest("t", self.write("a.ndjson", lines), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assert_quarantined(q, "malformed", coll, exact_kinds=["malformed"])
        self.assertEqual(self.sql("SELECT id, email FROM t ORDER BY id"), [(1, "a@x"), (2, "b@x")])
        self.assert_invariants("t", 3)

    def test_name_collision_of_new_fields(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        coll = '{"id": 2, "Coupon": "A", "coupon": "B"}'
        self.ingest("t", self.write("b.ndjson", [coll]), expect=EXIT_QUARANTINED)
        e = self.assert_quarantined(self.quarantine(), "malformed", coll)
        self.assertIn("coupon", e["message"])


class TestCsv(E2E):
    def test_quotes_newlines_commas_and_empty_vs_quoted_empty(self):
        data = (b'id,name,comment\n'
                b'1,alice,"hello, world"\n'
                b'2,bob,"line one\nline two"\n'
                b'3,carol,"she said ""hi"""\n'
                b'4,,""\n'
                b'5,"",\n')
        self.ingest("t", self.write("a.csv", data), expect=EXIT_LOADED)
        rows = self.sql("SELECT id, name, comment FROM t ORDER BY id")
        self.assertEqual(rows, [
            (1, "alice", "hello, world"),
            (2, "bob", "line one\nline two"),
            (3, "carol", 'she said "hi"'),
            (4, None, ""),
            (5, "", None),
        ])
        s = self.schema("t")
        self.assertTrue(s["name"][1] and s["comment"][1])
        self.assertFalse(s["id"][1])
        run = self.last_run()
        self.assertEqual(run["rows_read"], 5)
        self.assert_invariants("t", 5)

    def test_header_names_are_normalised(self):
        data = '"Order ID",Größe,"a,b","Say ""hi"""\n1,2,3,4\n'.encode()
        self.ingest("t", self.write("a.csv", data), expect=EXIT_LOADED)
        self.assertEqual(list(self.schema("t")), ["order_id", "größe", "a_b", "say__hi"])
        self.assertEqual(self.sql("SELECT order_id, \"größe\", a_b, say__hi FROM t"), [(1, 2, 3, 4)])

    def test_multiline_csv_record_keeps_its_raw_bytes(self):
        data = b'id,note\n1,"a\nb"\n2,"multi\nline",extra\n3,ok\n'
        self.ingest("t", self.write("a.csv", data), expect=EXIT_QUARANTINED)
        self.assert_quarantined(self.quarantine(), "malformed", b'2,"multi\nline",extra')
        self.assertEqual(self.sql("SELECT id, note FROM t ORDER BY id"), [(1, "a\nb"), (3, "ok")])
        self.assert_invariants("t", 3)

    def test_bad_quoting_is_malformed_and_later_rows_load(self):
        data = b'id,h\n1,"ok"\n2,5\'10" tall\n3,"x"y\n4,fine\n'
        self.ingest("t", self.write("a.csv", data), expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assert_quarantined(q, "malformed", "2,5'10\" tall")
        self.assert_quarantined(q, "malformed", '3,"x"y')
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (4,)])
        self.assert_invariants("t", 4)

    def test_invalid_utf8_in_csv_row(self):
        data = b"id,name\n1,ok\n2,bad\xff\xfe\n3,fine\n"
        self.ingest("t", self.write("a.csv", data), expect=EXIT_QUARANTINED)
        e = self.assert_quarantined(self.quarantine(), "malformed", b"2,bad\xff\xfe")
        self.assertIsNotNone(e.get("raw_hex"))
        self.assert_invariants("t", 3)

    def test_header_required(self):
        r = self.ingest("t", self.write("empty.csv", b""))
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("no CSV header row", r.stderr)
        self.assertEqual(self.last_run()["status"], "failed")

    def test_header_only_loads_nothing(self):
        r = self.ingest("t", self.write("h.csv", b"id,name\n"), expect=EXIT_LOADED)
        run = self.last_run()
        self.assertEqual(run["rows_read"], 0)


class TestStdin(E2E):
    def test_stdin_ndjson(self):
        data = b'{"id": 1}\n{"id": 2}\n{"id": \n'
        r = self.ingest("t", "-", fmt="ndjson", input=data, expect=EXIT_QUARANTINED)
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (2,)])
        q = self.quarantine()
        self.assert_quarantined(q, "malformed", '{"id": ')
        self.assert_invariants("t", 3)
        # stdin has no identity to checkpoint: a second run reads it again
        self.ingest("t", "-", fmt="ndjson", input=b'{"id": 3}\n', expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 1)

    def test_stdin_csv(self):
        self.ingest("t", "-", fmt="csv", input=b"id,name\n1,a\n2,b\n", expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT id, name FROM t ORDER BY id"), [(1, "a"), (2, "b")])

    def test_stdin_needs_format(self):
        r = self.ingest("t", "-", input=b'{"id": 1}\n')
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertIn("pipemend: error: cannot tell the format of - from its name", r.stderr)
        self.assertIn("hint: pass --format ndjson or --format csv", r.stderr)
