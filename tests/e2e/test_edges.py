"""Edges from issue 12's "Also seen": a record far wider than a table
may be, a warehouse whose disk is full or that the user cannot write, and
values the two backends once stored differently (a leap second, -0, time
zone offsets)."""
import json
import math
import os
import subprocess

from e2e_util import BIN, E2E, EXIT_FAILED, EXIT_QUARANTINED, Result, clean_env, sqlite_only


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

    def test_records_that_share_nothing_are_all_the_schema(self):
        a = {"a%02d" % k: k for k in range(20)}
        b = {"b%02d" % k: k for k in range(20)}
        self.ingest("t", self.write("a.ndjson", [a, b]), expect=0)
        self.assertEqual(len(self.sql_columns("t")), 40)
        self.assertEqual(self.count("t"), 2)


@sqlite_only("a full disk under a SQLite file; PostgreSQL's disk is its server's")
class TestFullDisk(E2E):
    """The warehouse on a small tmpfs of its own, filled to the last byte."""

    def setUp(self):
        super().setUp()
        self.disk = self.path("disk")
        os.mkdir(self.disk)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", self.disk],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs to fill (needs root or CAP_SYS_ADMIN): %s"
                          % r.stderr.decode(errors="replace").strip())
        self.addCleanup(subprocess.run, ["umount", "-l", self.disk])
        self.dbpath = os.path.join(self.disk, "w.db")
        self.db = "sqlite:" + self.dbpath

    def fill(self, leave=0):
        """Fills the disk but for leave bytes (about: tmpfs counts pages)."""
        filler = os.path.join(self.disk, "filler")
        if os.path.exists(filler):
            os.unlink(filler)
        st = os.statvfs(self.disk)
        want = max(st.f_bavail * st.f_frsize - leave, 0)
        with open(filler, "wb") as f:
            try:
                while want > 0:
                    n = min(want, 1 << 16)
                    f.write(b"\0" * n)
                    f.flush()
                    want -= n
            except OSError:
                pass
        if leave == 0:  # to the last byte
            try:
                with open(filler, "ab") as f:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
            except OSError:
                pass
            self.assertEqual(os.statvfs(self.disk).f_bavail, 0)

    def free(self):
        os.unlink(os.path.join(self.disk, "filler"))

    def read(self, *args):
        r = self.pm(*args, "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        return r

    def status(self):
        return {t["table"]: t for t in json.loads(self.read("status", "--json").stdout)}

    def test_reads_work_and_a_load_fails_clearly_then_resumes_exactly_once(self):
        first = [{"id": i, "n": i, "s": "x" * 20} for i in range(200)]
        bad = [{"id": 200, "n": "not a number", "s": "x"}]
        self.ingest("t", self.write("a.ndjson", first), expect=0)
        self.ingest("t", self.write("bad.ndjson", bad), expect=EXIT_QUARANTINED)
        big = [{"id": i, "n": i, "s": "y" * 40} for i in range(1000, 21000)]
        b = self.write("b.ndjson", big)
        self.fill()

        # every read command answers, with what is there
        st = self.status()["t"]
        self.assertEqual((st["rows"], st["quarantined"]), (200, 1), st)
        runs = json.loads(self.read("runs", "--json").stdout)
        self.assertEqual([(r["id"], r["rows_read"], r["rows_loaded"], r["rows_quarantined"])
                          for r in runs], [(2, 1, 0, 1), (1, 200, 200, 0)])
        self.assertIn("t", self.read("schema", "list").stdout)
        self.assertEqual(list(json.loads(self.read("schema", "show", "--table", "t",
                                                   "--json").stdout)["columns"][0].values())[0],
                         "id")
        q = json.loads(self.read("quarantine", "list", "--json").stdout)
        self.assertEqual([json.loads(e["raw"]) for e in q], bad)
        shown = json.loads(self.read("quarantine", "show", str(q[0]["id"]), "--json").stdout)
        self.assertEqual(json.loads(shown["raw"]), bad[0])
        inc = json.loads(self.read("incidents", "list", "--json").stdout)
        self.assertEqual([(i["column"], i["kind"]) for i in inc], [("n", "type_conflict")])
        self.read("incidents", "show", str(inc[0]["id"]))
        self.assertIn("intact", self.read("audit", "verify").stdout)

        # a load fails and says why, and loses nothing
        r = self.ingest("t", b)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("the disk is full", r.stderr)
        self.assertIn("free room on it", r.stderr)
        self.assertEqual(self.status()["t"]["rows"], 200)

        # room for part of the file: the run stops part way, and says why
        self.free()
        self.fill(leave=1 << 20)
        r = self.ingest("t", b)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("the disk is full", r.stderr)
        part = self.status()["t"]["rows"]
        self.assertLess(part, 20200)

        # room again: the rerun loads the rest, each row once
        self.free()
        self.ingest("t", b, expect=0)
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t"), [(20200, 20200)])
        self.assertEqual(self.sql("SELECT min(id), max(id) FROM t WHERE id >= 1000"),
                         [(1000, 20999)])
        for run in self.runs():
            self.assertEqual(run["rows_read"], run["rows_loaded"] + run["rows_quarantined"], run)
        self.assertIn("intact", self.read("audit", "verify").stdout)


@sqlite_only("file modes of a SQLite warehouse; PostgreSQL's read-only is its grants")
class TestReadOnlyWarehouse(E2E):
    """A warehouse the user cannot write: run as nobody (root ignores file
    modes), or with no write bit on the file (which pipemend heeds even for
    root)."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root to run pipemend as nobody (setpriv)")
        import pwd
        self.nobody = pwd.getpwnam("nobody")
        os.chmod(self.tmp, 0o755)
        self.wh = self.path("wh")
        os.mkdir(self.wh)
        self.dbpath = os.path.join(self.wh, "w.db")
        self.db = "sqlite:" + self.dbpath
        rows = [{"id": i, "n": i} for i in range(50)]
        self.ingest("t", self.write("a.ndjson", rows), expect=0)
        self.ingest("t", self.write("bad.ndjson", [{"id": 50, "n": "x"}]),
                    expect=EXIT_QUARANTINED)
        for f in ("a.ndjson", "bad.ndjson"):
            os.chmod(self.path(f), 0o644)

    def as_nobody(self, *args):
        args = [str(a) for a in args]
        p = subprocess.run(["setpriv", "--reuid=%d" % self.nobody.pw_uid,
                            "--regid=%d" % self.nobody.pw_gid, "--clear-groups", BIN] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.wh,
                           env=clean_env({"HOME": self.wh}), timeout=120)
        return Result(args, p.returncode, p.stdout, p.stderr)

    def side_files(self):
        return sorted(f for f in os.listdir(self.wh) if f != "w.db")

    def assert_reads(self, run):
        r = run("status", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        st = json.loads(r.stdout)[0]
        self.assertEqual((st["table"], st["rows"], st["quarantined"]), ("t", 50, 1), st)
        r = run("runs", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([x["rows_loaded"] for x in json.loads(r.stdout)], [0, 50])
        r = run("schema", "show", "--table", "t", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([c["name"] for c in json.loads(r.stdout)["columns"]], ["id", "n"])
        r = run("quarantine", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([json.loads(e["raw"]) for e in json.loads(r.stdout)],
                         [{"id": 50, "n": "x"}])
        r = run("quarantine", "list", "--run", "2", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([(e["run_id"], json.loads(e["raw"])) for e in json.loads(r.stdout)],
                         [(2, {"id": 50, "n": "x"})])
        r = run("incidents", "list", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([i["kind"] for i in json.loads(r.stdout)], ["type_conflict"])
        r = run("audit", "verify", "--db", self.db)
        self.assertEqual(r.rc, 0, r)

    def assert_write_refused(self, r):
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("read-only", r.stderr)
        self.assertIn("make both writable", r.stderr)
        self.assertNotIn("disk", r.stderr)

    def test_a_warehouse_nobody_cannot_write_is_read_not_touched(self):
        # the file and its directory are root's, 0644 and 0755
        self.assert_reads(self.as_nobody)
        self.assertEqual(self.side_files(), [])
        r = self.as_nobody("ingest", "--db", self.db, "--table", "t", self.path("a.ndjson"))
        self.assert_write_refused(r)
        r = self.as_nobody("quarantine", "discard", "--table", "t", "--yes", "--db", self.db)
        self.assert_write_refused(r)
        self.assertEqual(self.side_files(), [])
        self.assertEqual(self.count("t"), 50)

    def test_a_warehouse_of_an_earlier_pipemend_is_read_not_touched(self):
        """Made before pipemend kept counts (no _pipemend_table_counts) and
        CSV rows' delimiters, now read-only: the reads count in memory and
        see no delimiter, nothing is written."""
        self.sql_script("DROP TABLE _pipemend_table_counts",
                        "ALTER TABLE _pipemend_quarantine DROP COLUMN delimiter")
        self.assert_reads(self.as_nobody)
        self.assertEqual(self.side_files(), [])
        self.assertNotIn("_pipemend_table_counts",
                         [r[0] for r in self.sql("SELECT name FROM sqlite_master")])
        self.assertNotIn("delimiter", [r[1] for r in self.sql(
            "SELECT * FROM pragma_table_info('_pipemend_quarantine')")])

    def test_a_warehouse_without_the_runs_spans_is_read_not_touched(self):
        """Made before the kept counts held each run's span of quarantine
        ids, now read-only: a run's rows are still found (the span is not
        known, the whole quarantine is read), nothing is written."""
        self.sql_script("ALTER TABLE _pipemend_table_counts DROP COLUMN first_qrow",
                        "ALTER TABLE _pipemend_table_counts DROP COLUMN last_qrow")
        self.assert_reads(self.as_nobody)
        self.assertEqual(self.side_files(), [])
        self.assertNotIn("first_qrow", [r[1] for r in self.sql(
            "SELECT * FROM pragma_table_info('_pipemend_table_counts')")])

    def test_a_file_without_write_bits_is_read_only_even_for_root(self):
        os.chmod(self.dbpath, 0o444)
        self.assert_reads(self.pm)
        self.assertEqual(self.side_files(), [])  # no -wal/-shm at 0444 left behind
        r = self.ingest("t", self.write("b.ndjson", [{"id": 60, "n": 1}]))
        self.assert_write_refused(r)
        os.chmod(self.dbpath, 0o644)
        self.ingest("t", self.path("b.ndjson"), expect=0)
        self.assertEqual(self.count("t"), 51)

    def test_side_files_left_at_0444_do_not_stop_their_owner(self):
        # nobody's warehouse; a writer of nobody's died and left -wal and
        # -shm, which someone then made 0444
        for root, dirs, files in os.walk(self.wh):
            for n in [root] + [os.path.join(root, f) for f in files]:
                os.chown(n, self.nobody.pw_uid, self.nobody.pw_gid)
        p = subprocess.run(["setpriv", "--reuid=%d" % self.nobody.pw_uid,
                            "--regid=%d" % self.nobody.pw_gid, "--clear-groups",
                            "/usr/bin/python3", "-c",
                            "import sqlite3, os\n"
                            "c = sqlite3.connect(%r)\n"
                            "c.execute('PRAGMA journal_mode=WAL')\n"
                            "c.execute('INSERT INTO t (id, n) VALUES (99, 99)')\n"
                            "c.commit()\n"
                            "os._exit(0)\n" % self.dbpath], capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.side_files(), ["w.db-shm", "w.db-wal"])
        for f in self.side_files():
            os.chmod(os.path.join(self.wh, f), 0o444)
        r = self.as_nobody("ingest", "--db", self.db, "--table", "t",
                           self.write("c.ndjson", [{"id": 70, "n": 7}]))
        self.assertEqual(r.rc, 0, r)
        r = self.as_nobody("status", "--db", self.db, "--json")
        # the rows pipemend loaded, 50 and 70 (99 came from another program)
        self.assertEqual(json.loads(r.stdout)[0]["rows"], 51, r)
        self.assertEqual(self.count("t"), 52)
        for f in self.side_files():
            self.assertEqual(os.stat(os.path.join(self.wh, f)).st_mode & 0o777, 0o644, f)


class TestSameValuesOnBothBackends(E2E):
    """A leap second, -0 and time zone offsets: what PostgreSQL stores,
    SQLite stores too (the harness reads PostgreSQL's values back in
    SQLite's shapes: T between date and time, Z for UTC)."""

    def load(self, lines):
        first = ['{"id": 0, "ts": "2026-01-01T10:00:00", "tz": "2026-01-01T10:00:00Z", '
                 '"f": 1.5, "num": 12345678901234567890.5, "i": 7}']
        self.ingest("t", self.write("a.ndjson", first), expect=0)
        self.assertEqual([t for t, _ in self.schema("t").values()],
                         ["int32", "timestamp", "timestamptz", "float64", "numeric", "int32"])
        return self.ingest("t", self.write("b.ndjson", lines))

    def test_leap_seconds_are_the_next_minute_and_past_midnight_is_refused(self):
        r = self.load(['{"id": 1, "ts": "2016-12-31T23:59:60", "tz": "2016-12-31T23:59:60Z"}',
                       '{"id": 2, "ts": "2026-06-30 12:30:60.25", "tz": "2016-12-31T23:59:60+01:00"}',
                       '{"id": 3, "ts": "2016-12-31T23:59:60.5"}'])
        self.assertEqual(r.rc, EXIT_QUARANTINED, r)
        self.assertEqual(self.sql("SELECT id, ts, tz FROM t WHERE id > 0 ORDER BY id"),
                         [(1, "2017-01-01T00:00:00", "2017-01-01T00:00:00Z"),
                          (2, "2026-06-30T12:31:00.25", "2016-12-31T23:00:00Z")])
        q = self.quarantine()
        self.assertEqual([(json.loads(e["raw"])["id"], e["kinds"]) for e in q],
                         [(3, ["type_conflict"])])

    def test_offsets_are_stored_in_utc(self):
        self.load(['{"id": 1, "tz": "2026-03-01T10:00:00+02:00"}',
                   '{"id": 2, "tz": "2026-03-01T00:30:00.5-05:30"}',
                   '{"id": 3, "tz": "2026-01-01T01:00:00+0200"}',
                   '{"id": 4, "tz": "2026-01-01T01:00:00+00:00"}',
                   '{"id": 5, "tz": "2026-01-01T01:00:00-03"}',
                   '{"id": 6, "tz": "2026-01-01T01:00:00Z"}'])
        self.assertEqual(self.sql("SELECT id, tz FROM t WHERE id > 0 ORDER BY id"),
                         [(1, "2026-03-01T08:00:00Z"), (2, "2026-03-01T06:00:00.5Z"),
                          (3, "2025-12-31T23:00:00Z"), (4, "2026-01-01T01:00:00Z"),
                          (5, "2026-01-01T04:00:00Z"), (6, "2026-01-01T01:00:00Z")])

    def test_fractions_are_microseconds(self):
        self.load(['{"id": 1, "ts": "2026-01-01T10:00:00.123456789"}',
                   '{"id": 2, "ts": "2026-01-01T10:00:00.500", "tz": "2026-01-01T10:00:00.120Z"}',
                   '{"id": 3, "ts": "2026-12-31T23:59:59.9999999"}'])
        self.assertEqual(self.sql("SELECT id, ts, tz FROM t WHERE id > 0 ORDER BY id"),
                         [(1, "2026-01-01T10:00:00.123457", None),
                          (2, "2026-01-01T10:00:00.5", "2026-01-01T10:00:00.12Z"),
                          (3, "2027-01-01T00:00:00", None)])

    def test_negative_zero_is_zero(self):
        r = self.load(['{"id": 1, "f": -0.0, "num": -0.00, "i": -0}',
                       '{"id": 2, "f": "-0", "num": "-0", "i": "-0"}',
                       '{"id": 3, "f": -0e3, "num": -0.5, "i": 0}'])
        self.assertEqual(r.rc, 0, r)
        rows = self.sql("SELECT id, f, num, i FROM t WHERE id > 0 ORDER BY id")
        self.assertEqual(rows, [(1, 0.0, "0.00", 0), (2, 0.0, "0", 0), (3, 0.0, "-0.5", 0)])
        for row in rows:
            self.assertEqual(math.copysign(1.0, row[1]), 1.0, row)  # not -0.0
