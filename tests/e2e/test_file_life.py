"""Exactly once through what log shippers meet (issue 12): a file rotated
by rename, reached through a hard link, emptied by copytruncate, truncated
to a prefix, corrected in place, and checkpoints written before files had
an identity. Each file operation is done as a person or logrotate would
(os.rename, os.link, truncate, writing in place), and the rows in the
table are counted exactly."""
import hashlib
import json
import os
import shutil
import subprocess

from e2e_util import E2E, EXIT_LOADED

EXIT_FAILED = 1


def recs(a, b, pad=0):
    return [{"id": i, "msg": "line %d" % i, "pad": "p" * pad} for i in range(a, b)]


def fnv1a(data):
    h = 1469598103934665603
    for c in data:
        h ^= c
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h - (1 << 64) if h >= 1 << 63 else h


class TestFileLife(E2E):
    def ids(self, table="t"):
        return [r[0] for r in self.sql("SELECT id FROM %s ORDER BY id" % table)]

    def assert_ids(self, want, table="t"):
        got = self.ids(table)
        self.assertEqual(len(got), len(set(got)), "rows loaded twice")
        self.assertEqual(got, sorted(want))

    # ---- rotation by rename ---------------------------------------------

    def test_rotation_current_name_only_loses_nothing(self):
        app = self.write("app.ndjson", recs(0, 100))
        self.ingest("t", app, expect=EXIT_LOADED)
        # lines written after the run, then logrotate renames and a new
        # file starts under the old name
        self.write("app.ndjson", recs(100, 150), append=True)
        os.rename(app, self.path("app.1.ndjson"))
        self.write("app.ndjson", recs(1000, 1030))
        r = self.ingest("t", app, expect=EXIT_LOADED)
        self.assertIn("rotated", r.stderr)
        self.assertIn("app.1.ndjson", r.stderr)
        self.assertEqual(self.last_run()["rows_read"], 80)
        self.assert_ids(list(range(150)) + list(range(1000, 1030)))
        # again, and with both names: nothing new
        self.ingest("t", app, expect=EXIT_LOADED)
        self.ingest("t", self.path("app.1.ndjson"), app, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assert_ids(list(range(150)) + list(range(1000, 1030)))

    def test_rotation_with_a_glob_naming_both_files(self):
        app = self.write("app.ndjson", recs(0, 100))
        self.ingest("t", app, expect=EXIT_LOADED)
        self.write("app.ndjson", recs(100, 120), append=True)
        os.rename(app, self.path("app.1.ndjson"))
        self.write("app.ndjson", recs(1000, 1010))
        both = [self.path("app.1.ndjson"), app]  # the shell's sorted glob
        self.ingest("t", *both, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 30)
        self.assert_ids(list(range(120)) + list(range(1000, 1010)))
        # a second rotation: app.1 -> app.2, app -> app.1, a new app
        self.write("app.ndjson", recs(1010, 1015), append=True)
        os.rename(self.path("app.1.ndjson"), self.path("app.2.ndjson"))
        os.rename(app, self.path("app.1.ndjson"))
        self.write("app.ndjson", recs(2000, 2003))
        three = [self.path("app.1.ndjson"), self.path("app.2.ndjson"), app]
        self.ingest("t", *three, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 8)
        self.ingest("t", *three, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assert_ids(list(range(120)) + list(range(1000, 1015)) + list(range(2000, 2003)))
        self.assert_invariants("t", 120 + 15 + 3)

    def test_replaced_file_whose_old_file_is_gone_says_what_was_missed(self):
        app = self.write("app.ndjson", recs(0, 10))
        self.ingest("t", app, expect=EXIT_LOADED)
        os.rename(app, self.path("old.ndjson"))
        self.write("app.ndjson", recs(100, 105))
        os.unlink(self.path("old.ndjson"))  # compressed or shipped away
        r = self.ingest("t", app, expect=EXIT_LOADED)
        self.assertIn("warning:", r.stderr)
        self.assertIn("were not loaded", r.stderr)
        self.assert_ids(list(range(10)) + list(range(100, 105)))

    # ---- hard links -------------------------------------------------------

    def test_hard_link_is_the_same_file(self):
        a = self.write("a.ndjson", recs(0, 40))
        self.ingest("t", a, expect=EXIT_LOADED)
        b = self.path("b.ndjson")
        os.link(a, b)
        self.write("a.ndjson", recs(40, 45), append=True)
        self.ingest("t", b, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 5)
        self.ingest("t", a, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.write("a.ndjson", recs(45, 47), append=True)
        r = self.ingest("t", a, b, expect=EXIT_LOADED)
        self.assertIn("read once", r.stderr)
        self.assertEqual(self.last_run()["rows_read"], 2)
        self.assert_ids(range(47))

    # ---- copytruncate -------------------------------------------------------

    def test_copytruncate_reads_the_new_lines_from_the_top(self):
        app = self.write("app.ndjson", recs(0, 50))
        self.ingest("t", app, expect=EXIT_LOADED)
        shutil.copyfile(app, self.path("app.1.ndjson"))
        with open(app, "r+b") as f:
            f.truncate(0)
        self.write("app.ndjson", recs(500, 520), append=True)
        r = self.ingest("t", app, expect=EXIT_LOADED)
        self.assertIn("copytruncate", r.stderr)
        self.assertEqual(self.last_run()["rows_read"], 20)
        self.assert_ids(list(range(50)) + list(range(500, 520)))

    # ---- truncation and rewrites: conflicts ---------------------------------

    def conflict_then_choices(self, f, loaded, reload_ids):
        r = self.ingest("t", f, expect=EXIT_FAILED)
        self.assertIn("error: %s was " % f, r.stderr)
        for word in ("on_rewrite: reload", "skip", "stop", "--on-rewrite"):
            self.assertIn(word, r.stderr)
        self.assertEqual(self.last_run()["status"], "failed")
        self.assert_ids(loaded)
        r = self.ingest("t", f, expect=EXIT_LOADED, extra=["--on-rewrite", "skip"])
        self.assertIn("skipping it", r.stderr)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assert_ids(loaded)
        # the pipeline's policy: reload, as a new file
        self.write_config("pipelines:\n  - name: p\n    source: %s\n    table: t\n"
                          "    on_rewrite: reload\n" % f)
        r = self.pm("run", "p", "--db", self.db)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertIn("on_rewrite: reload", r.stderr)
        got = self.ids()
        self.assertEqual(sorted(got), sorted(list(loaded) + list(reload_ids)))

    def test_truncation_to_a_prefix_is_a_conflict(self):
        f = self.write("a.ndjson", recs(0, 100))
        self.ingest("t", f, expect=EXIT_LOADED)
        keep = len(b"".join((json.dumps(x) + "\n").encode() for x in recs(0, 30)))
        os.truncate(f, keep)
        self.conflict_then_choices(f, range(100), range(30))

    def test_same_size_correction_in_the_middle_is_a_conflict(self):
        rows = recs(0, 2000, pad=50)  # well past the old 4 KiB fingerprints
        f = self.write("a.ndjson", rows)
        self.ingest("t", f, expect=EXIT_LOADED)
        size = os.path.getsize(f)
        with open(f, "r+b") as fh:
            data = fh.read()
            at = data.index(b'"line 1000"')
            fh.seek(at)
            fh.write(b'"LINE 1000"')  # same size, in place
        self.assertEqual(os.path.getsize(f), size)
        r = self.ingest("t", f, expect=EXIT_FAILED)
        self.assertIn("was rewritten", r.stderr)
        self.assert_ids(range(2000))

    def test_rewrite_that_changes_size_is_a_conflict(self):
        # A snapshot export rewritten in place: same first rows, then new
        # rows, shorter than before: never silently skipped nor reloaded.
        f = self.write("export.ndjson", recs(0, 100, pad=100))
        self.ingest("t", f, expect=EXIT_LOADED)
        self.write("export.ndjson", recs(0, 50, pad=100) + recs(500, 510, pad=100))
        self.conflict_then_choices(f, range(100), list(range(50)) + list(range(500, 510)))

    # ---- checkpoints written before files had an identity ------------------

    def test_version_1_checkpoint_still_resumes(self):
        f = self.write("a.ndjson", recs(0, 20))
        self.ingest("t", f, expect=EXIT_LOADED)
        data = open(f, "rb").read()
        self.assertLess(len(data), 4096)
        v1 = json.dumps({"offset": len(data), "line": 21, "fingerprint": fnv1a(data)},
                        separators=(",", ":"))
        cps = ("pipemend." if self.backend == "pg" else "") + "_pipemend_checkpoints"
        self.sql_exec("UPDATE %s SET position = ?" % cps, (v1,))
        self.write("a.ndjson", recs(20, 25), append=True)
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 5)
        self.assert_ids(range(25))
        # and the checkpoint now has the file's identity
        pos = json.loads(self.sql("SELECT position FROM %s" % cps)[0][0])
        self.assertIn("ino", pos)
        self.assertIn("xxh3", pos)

    def sha_token(self, f, rows):
        """Loads rows into t from f and puts back the checkpoint as the
        pipemend before xxh3 wrote it: the first 8 bytes of SHA-256 over the
        loaded bytes as "prefix" (a signed 64-bit integer)."""
        path = self.write(f, rows)
        self.ingest("t", path, expect=EXIT_LOADED)
        cps = ("pipemend." if self.backend == "pg" else "") + "_pipemend_checkpoints"
        pos = json.loads(self.sql("SELECT position FROM %s" % cps)[0][0])
        data = open(path, "rb").read()[:pos["offset"]]
        h = int.from_bytes(hashlib.sha256(data).digest()[:8], "big")
        pos["prefix"] = h - (1 << 64) if h >= 1 << 63 else h
        del pos["xxh3"]
        self.sql_exec("UPDATE %s SET position = ?" % cps, (json.dumps(pos),))
        return path, cps

    def test_checkpoint_with_a_sha256_prefix_resumes_and_moves_to_xxh3(self):
        f, cps = self.sha_token("a.ndjson", recs(0, 2000, pad=50))
        self.write("a.ndjson", recs(2000, 2005, pad=50), append=True)
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 5)
        self.assert_ids(range(2005))
        pos = json.loads(self.sql("SELECT position FROM %s" % cps)[0][0])
        self.assertIn("xxh3", pos)
        self.assertNotIn("prefix", pos)
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assert_ids(range(2005))

    def test_checkpoint_with_a_sha256_prefix_still_sees_a_correction(self):
        f, _ = self.sha_token("a.ndjson", recs(0, 2000, pad=50))
        with open(f, "r+b") as fh:
            data = fh.read()
            fh.seek(data.index(b'"line 1000"'))
            fh.write(b'"LINE 1000"')  # same size, in place
        r = self.ingest("t", f, expect=EXIT_FAILED)
        self.assertIn("was rewritten", r.stderr)
        self.assert_ids(range(2000))


class TestCsvOpenQuote(E2E):
    """A CSV quote that never closes costs its own row, not the rest of the
    file (issue 12, "No silent hold-back")."""

    def csv_with_open_quote(self, n=10000, bad=10):
        lines = ["id,name"]
        for i in range(1, n + 1):
            lines.append('%d,"broken' % i if i == bad else "%d,row %d" % (i, i))
        return self.write("feed.csv", "\n".join(lines) + "\n")

    def check(self, r, why):
        self.assertEqual(r.rc, 3, r)  # quarantined, nothing lost
        run = self.last_run()
        self.assertEqual((run["rows_read"], run["rows_loaded"], run["rows_quarantined"]),
                         (10000, 9999, 1))
        self.assertEqual(run["status"], "quarantined")
        self.assertIn(why, r.stderr)
        self.assertEqual(self.count("t"), 9999)
        self.assertEqual(self.sql("SELECT count(*) FROM t WHERE id = 10"), [(0,)])
        self.assertEqual(self.sql("SELECT min(id), max(id) FROM t"), [(1, 10000)])
        (q,) = self.quarantine()
        self.assertEqual(q["line"], 11)
        self.assertIn("unterminated quoted field 2", q["message"])
        self.assertEqual(self.raw_bytes(q), b'10,"broken')
        self.assert_invariants("t", 10000)

    def test_quote_open_to_the_end_of_the_file(self):
        f = self.csv_with_open_quote()
        r = self.ingest("t", f)
        self.check(r, "before the end of the file")
        # a re-run loads nothing twice
        self.ingest("t", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(self.count("t"), 9999)

    def test_quote_open_past_the_record_size_limit(self):
        # the rest of the file is far over the limit: the record is first
        # skipped as over-long, then, its quote never closing, read again
        # as its first line alone
        self.write_config("defaults:\n  max_line_bytes: 1000\n")
        f = self.csv_with_open_quote()
        r = self.ingest("t", f)
        self.check(r, "before the end of the file")


class TestLastLine(E2E):
    """A last line that never gets its line end is visible at once and
    quarantined, with its bytes, once the file is complete."""

    TAIL = b'{"id":3,"v"'

    def feed(self):
        return self.write("a.ndjson", b'{"id":1,"v":"a"}\n{"id":2,"v":"b"}\n' + self.TAIL)

    def ids(self):
        return [r[0] for r in self.sql("SELECT id FROM t ORDER BY id")]

    def assert_quarantined_tail(self, f):
        (q,) = self.quarantine()
        self.assertEqual(q["kinds"], ["malformed"])
        self.assertEqual(q["line"], 3)
        self.assertEqual(self.raw_bytes(q), self.TAIL)
        self.assertEqual(self.ids(), [1, 2])
        self.assert_invariants("t", 3)
        # the checkpoint is past it: nothing is read twice
        self.ingest("t", f, expect=EXIT_LOADED, extra=["--final"])
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(len(self.quarantine()), 1)

    def test_waits_with_a_warning_then_final_quarantines_it(self):
        f = self.feed()
        r = self.ingest("t", f, expect=EXIT_LOADED)
        self.assertIn("warning:", r.stderr)
        self.assertIn("no line end yet", r.stderr)
        self.assertIn("--final", r.stderr)
        self.assertEqual(self.quarantine(), [])
        r = self.ingest("t", f, expect=3, extra=["--final"])
        self.assertIn("the file is complete (--final): it is quarantined as malformed", r.stderr)
        self.assert_quarantined_tail(f)

    def test_after_the_configured_time_unchanged(self):
        self.write_config("defaults:\n  last_line_wait: 60\n")
        f = self.feed()
        r = self.ingest("t", f, expect=EXIT_LOADED)
        self.assertIn("has not changed for 60 s", r.stderr)
        self.assertEqual(self.ids(), [1, 2])
        old = os.path.getmtime(f) - 61  # a minute and more without a write
        os.utime(f, (old, old))
        r = self.ingest("t", f, expect=3)
        self.assertIn("has not changed for", r.stderr)
        self.assert_quarantined_tail(f)


class TestNamedPipe(E2E):
    def test_named_pipe_is_read_once_by_the_run(self):
        # Planning a run must not open the pipe (that waits for its writer
        # and takes its data): only the read does.
        fifo = self.path("feed.ndjson")
        os.mkfifo(fifo)
        writer = subprocess.Popen(["sh", "-c", "printf '%s\\n' '{\"id\":1}' '{\"id\":2}' > " + fifo])
        try:
            r = self.pm("ingest", "--db", self.db, "--table", "t", fifo, timeout=60)
        finally:
            writer.wait(timeout=60)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.sql("SELECT id FROM t ORDER BY id"), [(1,), (2,)])
