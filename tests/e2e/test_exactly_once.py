"""Exactly once: checkpoints make re-runs load nothing twice, appended
lines load alone, and a replaced file is read again from the start."""
import json
import os
import subprocess

from e2e_util import BIN, clean_env

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED


def recs(a, b, pad=0):
    return [{"id": i, "name": "row %d" % i, "pad": "p" * pad} for i in range(a, b)]


class TestExactlyOnce(E2E):
    def ids(self, table="t"):
        return [r[0] for r in self.sql("SELECT id FROM %s ORDER BY id" % table)]

    def test_same_file_twice_loads_nothing_the_second_time(self):
        f = self.write("a.ndjson", recs(0, 50) + ['{"broken": '])
        self.ingest("t", f, expect=EXIT_QUARANTINED)
        r = self.ingest("t", f, expect=EXIT_LOADED)
        run = self.last_run()
        self.assertEqual(run["rows_read"], 0)
        self.assertEqual(run["rows_loaded"], 0)
        self.assertEqual(run["status"], "succeeded")
        self.assertEqual(self.ids(), list(range(50)))
        self.assertEqual(len(self.quarantine()), 1, "the quarantined row is not quarantined twice")
        self.assert_invariants("t", 51)

    def check_append(self, pad):
        f = self.write("a.ndjson", recs(0, 5, pad))
        self.ingest("t", f, expect=EXIT_LOADED)
        self.write("a.ndjson", recs(5, 8, pad), append=True)
        self.ingest("t", f, expect=EXIT_LOADED)
        run = self.last_run()
        self.assertEqual(run["rows_read"], 3, "only the appended lines are read: %r" % run)
        self.assertEqual(self.ids(), list(range(8)))
        self.write("a.ndjson", recs(8, 9, pad), append=True)
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 1)
        self.assertEqual(self.ids(), list(range(9)))
        self.assert_invariants("t", 9)

    def test_append_to_small_file_loads_only_new_lines(self):
        # the whole file is smaller than pipemend's 4 KiB fingerprint
        self.check_append(pad=0)

    def test_append_to_large_file_loads_only_new_lines(self):
        self.check_append(pad=2000)

    def test_append_after_last_line_without_newline(self):
        f = self.write("a.ndjson", b'{"id": 0}\n{"id": 1}')
        self.ingest("t", f, expect=EXIT_LOADED)
        self.write("a.ndjson", b'\n{"id": 2}\n', append=True)
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.ids(), [0, 1, 2])

    def test_append_to_csv(self):
        f = self.write("a.csv", "id,name\n0,a\n1,b\n")
        self.ingest("t", f, expect=EXIT_LOADED)
        self.write("a.csv", "2,c\n3,d\n", append=True)
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 2)
        self.assertEqual(self.sql("SELECT id, name FROM t ORDER BY id"),
                         [(0, "a"), (1, "b"), (2, "c"), (3, "d")])
        self.assert_invariants("t", 4)

    def test_replaced_file_is_read_from_the_start(self):
        f = self.write("a.ndjson", recs(0, 20, pad=300))
        self.ingest("t", f, expect=EXIT_LOADED)
        os.unlink(f)
        # different content, shorter and longer variants alike
        self.write("a.ndjson", recs(100, 103))
        r = self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 3)
        self.assertEqual(self.ids(), list(range(20)) + [100, 101, 102])
        self.write("a.ndjson", recs(200, 240, pad=300))
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 40)
        self.assertEqual(self.ids(), list(range(20)) + [100, 101, 102] + list(range(200, 240)))
        self.assert_invariants("t", 63)

    def test_rewritten_shorter_file_with_same_beginning_is_not_skipped(self):
        # A snapshot export rewritten in place: same first rows (more than
        # the 4 KiB fingerprint), then new rows, and shorter than before.
        # Its new rows must not be skipped as "nothing new".
        f = self.write("export.ndjson", recs(0, 100, pad=100))
        self.ingest("t", f, expect=EXIT_LOADED)
        self.write("export.ndjson", recs(0, 50, pad=100) + recs(500, 510, pad=100))
        # the rewrite is a conflict (test_file_life.py), never "nothing new"
        r = self.ingest("t", f, expect=1)
        self.assertIn("was truncated", r.stderr)
        self.ingest("t", f, extra=["--on-rewrite", "reload"], expect=EXIT_LOADED)
        ids = set(self.ids())
        self.assertTrue(set(range(500, 510)) <= ids,
                        "new rows of the rewritten file were skipped: %r" % self.last_run())

    def test_checkpoints_are_per_table(self):
        f = self.write("a.ndjson", recs(0, 10))
        self.ingest("t", f, expect=EXIT_LOADED)
        self.ingest("u", f, expect=EXIT_LOADED)
        self.assertEqual(self.ids("u"), list(range(10)))
        self.ingest("u", f, expect=EXIT_LOADED)
        self.assertEqual(self.ids("u"), list(range(10)))

    def test_several_files_in_one_run(self):
        a = self.write("a.ndjson", recs(0, 10))
        b = self.write("b.ndjson", recs(10, 20))
        self.ingest("t", a, b, expect=EXIT_LOADED)
        self.write("b.ndjson", recs(20, 25), append=True)
        self.ingest("t", a, b, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 5)
        self.assertEqual(self.ids(), list(range(25)))
        self.assert_invariants("t", 25)

    def test_same_file_by_relative_and_absolute_path(self):
        f = self.write("a.ndjson", recs(0, 10))
        self.ingest("t", f, expect=EXIT_LOADED)
        self.ingest("t", "a.ndjson", expect=EXIT_LOADED)  # cwd is the temp dir
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(self.ids(), list(range(10)))

    def test_many_batches_then_append(self):
        self.write_config("defaults:\n  batch_size: 100\n  sample_size: 100\n")
        f = self.write("a.ndjson", recs(0, 1050))
        self.ingest("t", f, expect=EXIT_LOADED)
        self.write("a.ndjson", recs(1050, 1234), append=True)
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 184)
        self.assertEqual(self.ids(), list(range(1234)))
        self.assert_invariants("t", 1234)

    def test_same_file_twice_in_one_command(self):
        f = self.write("a.ndjson", recs(0, 10))
        self.ingest("t", f, f, expect=EXIT_LOADED)
        self.assertEqual(self.ids(), list(range(10)))
        self.assertEqual(self.last_run()["rows_read"], 10)

    def test_symlink_and_target_are_one_source(self):
        f = self.write("day1.ndjson", recs(0, 10))
        os.symlink(f, self.path("current.ndjson"))
        self.ingest("t", self.path("current.ndjson"), expect=EXIT_LOADED)
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(self.ids(), list(range(10)))

    def test_concurrent_runs_of_the_same_file_load_it_once(self):
        # Two overlapping runs (a cron job fired twice): the second may wait,
        # resume after the first, or refuse to run, but no row may land twice.
        self.write_config("defaults:\n  batch_size: 500\n")
        n = 40000
        # the table exists already (the usual case for a scheduled job)
        self.ingest("t", self.write("seed.ndjson", [{"id": 999999, "v": "x" * 20}]),
                    expect=EXIT_LOADED)
        f = self.write("a.ndjson", [{"id": 1000000 + i, "v": "x" * 20} for i in range(n)])
        args = [BIN, "ingest", "--db", self.db, "--table", "t", f]
        procs = [subprocess.Popen(args, cwd=self.tmp, env=clean_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for _ in range(2)]
        errs = []
        for p in procs:
            errs.append(p.communicate(timeout=300)[1].decode("utf-8", "replace"))
            self.assertIn(p.returncode, (EXIT_LOADED, 1), errs[-1])
        for e in errs:
            self.assertNotRegex(e, "runtime error:|ERROR: AddressSanitizer")
        total, distinct = self.sql("SELECT count(*), count(DISTINCT id) FROM t WHERE id > 999999")[0]
        self.assertEqual(distinct, n, errs)
        self.assertEqual(total, n, "%d rows loaded twice by two concurrent runs; stderr: %r"
                         % (total - n, errs))


class TestResumeSafety(E2E):
    """A checkpoint resumes only the file it was taken on, at a record
    boundary; a record still being written is left for the next run."""

    def ids(self):
        return [r[0] for r in self.sql("SELECT id FROM t ORDER BY id")]

    def test_rewrite_keeping_the_first_4k_but_shifting_rows_is_a_conflict(self):
        # Rows 0..299 (well over 4 KiB), loaded; then the file is rewritten
        # with row 250 shortened and rows 300..349 appended. Resuming at the
        # old offset would start in the middle of a row.
        rows = [{"id": i, "status": "new", "name": "order number %d" % i} for i in range(300)]
        f = self.write("a.ndjson", rows)
        self.ingest("t", f, expect=EXIT_LOADED)
        rows[250]["status"] = "n"
        rows += [{"id": i, "status": "new", "name": "order number %d" % i}
                 for i in range(300, 350)]
        self.write("a.ndjson", rows)
        r = self.ingest("t", f, expect=1)
        self.assertIn("was rewritten", r.stderr)
        self.assertEqual(sorted(self.ids()), list(range(300)))
        # never resumed in the middle of a row; reloaded when a person says
        # so: the first 300 are duplicates of loaded rows
        # (no unique key declared), nothing is cut or mangled
        self.ingest("t", f, extra=["--on-rewrite", "reload"], expect=EXIT_LOADED)
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(sorted(set(self.ids())), list(range(350)))
        self.assertEqual(self.sql("SELECT count(*) FROM t WHERE name NOT LIKE 'order number %'"),
                         [(0,)])

    def test_line_still_being_written_is_left_for_the_next_run(self):
        f = self.write("a.ndjson", b'{"id":1,"v":"a"}\n{"id":2,"v":"b"}\n{"id":3,"v"')
        r = self.ingest("t", f, expect=EXIT_LOADED)
        self.assertIn("warning: %s: its last line (line 3, 11 bytes from byte 34) has no line "
                      "end yet" % f, r.stderr)
        self.assertEqual(self.ids(), [1, 2])
        self.assertEqual(self.last_run()["rows_read"], 2)
        with open(f, "ab") as fh:
            fh.write(b':"c"}\n{"id":4,"v":"d"}\n')
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.ids(), [1, 2, 3, 4])
        self.assertEqual(self.quarantine(), [])
        self.assert_invariants("t", 4)

    def test_complete_last_line_without_line_end_loads(self):
        f = self.write("a.ndjson", b'{"id":1}\n{"id":2}')
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.ids(), [1, 2])
        with open(f, "ab") as fh:
            fh.write(b'\n{"id":3}\n')
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.ids(), [1, 2, 3])

    def test_line_numbers_continue_after_a_resume(self):
        f = self.write("a.ndjson", [{"id": i} for i in range(5)] + [""])
        self.ingest("t", f, expect=EXIT_LOADED)  # lines 1-5, and a blank line 6
        with open(f, "ab") as fh:
            fh.write(b'{"id": 5}\n{"id": "bad"}\n')
        self.ingest("t", f, expect=EXIT_QUARANTINED)
        q = self.quarantine()
        self.assertEqual(len(q), 1)
        self.assertEqual(q[0]["line"], 8)


class TestOldCheckpoints(E2E):
    """Warehouses written before a checkpoint held its transport's position
    kept a file's byte offset, fingerprint and line in columns of their own.
    Opening one upgrades it in place, and every file resumes exactly where
    it stood."""

    def catalog_name(self):
        return ("pipemend." if self.backend == "pg" else "") + "_pipemend_checkpoints"

    def checkpoint_columns(self):
        if self.backend == "pg":
            return [r[0] for r in self.sql(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'pipemend' AND table_name = '_pipemend_checkpoints' ORDER BY ordinal_position")]
        return [r[1] for r in self.sql("PRAGMA table_info(_pipemend_checkpoints)")]

    def positions(self):
        return {src: json.loads(pos) for src, pos in
                self.sql("SELECT source, position FROM _pipemend_checkpoints")}

    def make_old(self):
        """Rewrites the checkpoints as an earlier pipemend kept them: the
        same positions, as byte_offset, fingerprint and line columns."""
        rows = self.sql("SELECT table_name, source, position, updated_at FROM "
                        "_pipemend_checkpoints ORDER BY table_name, source")
        self.assertTrue(rows)
        if self.backend == "pg":
            shape = ("table_name text NOT NULL, source text NOT NULL, byte_offset bigint NOT "
                     "NULL, fingerprint bigint NOT NULL, line bigint NOT NULL, updated_at text "
                     "NOT NULL, PRIMARY KEY (table_name, source))")
        else:
            shape = ("table_name TEXT NOT NULL, source TEXT NOT NULL, byte_offset INTEGER NOT "
                     "NULL, fingerprint INTEGER NOT NULL, line INTEGER NOT NULL, updated_at TEXT "
                     "NOT NULL, PRIMARY KEY (table_name, source)) STRICT")
        stmts = ["DROP TABLE " + self.catalog_name(),
                 "CREATE TABLE %s (%s" % (self.catalog_name(), shape)]
        for table, source, position, at in rows:
            p = json.loads(position)
            stmts.append("INSERT INTO %s VALUES ('%s', '%s', %d, %d, %d, '%s')" % (
                self.catalog_name(), table, source, p["offset"], p["fingerprint"], p["line"], at))
        self.sql_script(*stmts)
        self.assertIn("byte_offset", self.checkpoint_columns())
        return {source: json.loads(position) for _, source, position, _ in rows}

    def ids(self, table):
        return [r[0] for r in self.sql("SELECT id FROM %s ORDER BY id" % table)]

    def test_an_old_checkpoint_resumes_with_no_row_loaded_twice(self):
        # well over the 4 KiB the fingerprint hashes at the head and before
        # the offset, and a CSV file beside it in another table
        rows = [{"id": i, "name": "order number %d" % i, "pad": "p" * 40} for i in range(300)]
        f = self.write("a.ndjson", rows)
        c = self.write("b.csv", "id,name\n" + "".join("%d,n%d\n" % (i, i) for i in range(40)))
        self.ingest("t", f, expect=EXIT_LOADED)
        self.ingest("c", c, expect=EXIT_LOADED)
        old = self.make_old()
        self.assertEqual(sorted(p["offset"] for p in old.values()),
                         sorted([os.path.getsize(f), os.path.getsize(c)]))

        self.write("a.ndjson", [{"id": i, "name": "order number %d" % i, "pad": "p" * 40}
                                for i in range(300, 350)], append=True)
        with open(c, "a") as out:
            out.write("".join("%d,n%d\n" % (i, i) for i in range(40, 45)))
        r = self.ingest("t", f, expect=EXIT_LOADED)
        self.assertIn("resuming after byte %d" % old[os.path.realpath(f)]["offset"], r.stderr)
        self.assertEqual(self.last_run()["rows_read"], 50)
        self.ingest("c", c, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 5)
        self.assertEqual(self.ids("t"), list(range(350)))
        self.assertEqual(self.ids("c"), list(range(45)))

        # the catalog holds positions now, and the old columns are gone
        self.assertEqual(sorted(self.checkpoint_columns()),
                         ["position", "source", "table_name", "updated_at"])
        now = self.positions()
        self.assertEqual(now[os.path.realpath(f)]["offset"], os.path.getsize(f))
        self.assertEqual(now[os.path.realpath(f)]["line"], 351)
        self.assertEqual(now[os.path.realpath(c)]["offset"], os.path.getsize(c))
        r = self.ingest("t", f, expect=EXIT_LOADED)
        self.assertIn("nothing new since the last run (checkpoint at byte %d)"
                      % os.path.getsize(f), r.stderr)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(self.ids("t"), list(range(350)))
        self.pm("audit", "verify")

    def test_an_old_checkpoint_keeps_its_fingerprint(self):
        # the same size, other bytes: the upgraded checkpoint still tells
        # that the file was rewritten
        f = self.write("a.ndjson", [{"id": i, "name": "row %d" % i} for i in range(20)])
        self.ingest("t", f, expect=EXIT_LOADED)
        self.make_old()
        self.write("a.ndjson", [{"id": i, "name": "ROW %d" % i} for i in range(20)])
        r = self.ingest("t", f, expect=EXIT_LOADED)
        self.assertIn("changed since it was last loaded", r.stderr)
        self.assertEqual(self.last_run()["rows_read"], 20)
