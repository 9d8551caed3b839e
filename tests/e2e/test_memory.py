"""Memory stays bounded by the batch, whatever the width of the rows: a
batch is handed to the writer at batch_size rows or at 12 MiB of parsed
rows, whichever comes first, so wide rows make more, smaller batches
instead of one that holds the whole file."""
import os
import subprocess
import time

from e2e_util import BIN, E2E, EXIT_LOADED, clean_env

ROWS = 2500
WIDTH = 16000  # bytes of text a row: 40 MB of NDJSON in all

# Under AddressSanitizer (make check) the heap costs more: shadow memory,
# redzones and the allocator's own books. Its quarantine of freed blocks,
# which would hold every freed batch, is turned off for these runs, and the
# bound allows for the rest; one batch holding the whole file (about 100 MiB
# before the byte limit, more under ASan) still exceeds it.
ASAN = b"libasan" in subprocess.run(["ldd", BIN], capture_output=True).stdout
PEAK_MIB = 110 if ASAN else 75


class TestMemory(E2E):
    def ingest_peak_rss(self, path):
        """Runs pipemend ingest on path; returns (exit code, stderr, its
        own peak RSS in MiB). The peak is VmHWM, read from /proc while it
        runs: the ru_maxrss wait4 reports would include what the child
        inherited from this process before exec. VmHWM only grows and the
        batches reach their size early, so the last reading is the peak."""
        with open(self.path("ingest.err"), "wb") as err:
            p = subprocess.Popen(
                [BIN, "ingest", "--db", self.db, "--table", "t", path],
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=self.tmp,
                env=clean_env({"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:"
                                               "quarantine_size_mb=0"} if ASAN else None),
            )
            peak_kb = 0
            while p.poll() is None:
                try:
                    with open("/proc/%d/status" % p.pid) as st:
                        for line in st:
                            if line.startswith("VmHWM:"):
                                peak_kb = max(peak_kb, int(line.split()[1]))
                except (OSError, ValueError):
                    pass
                time.sleep(0.005)
        with open(self.path("ingest.err"), errors="replace") as f:
            return p.returncode, f.read(), peak_kb / 1024

    def test_wide_rows_are_loaded_in_bounded_memory(self):
        # a small sample, so that the first batch (which holds the sample
        # whole) is small too; the batch size in rows stays the store's
        # default (5000 on SQLite, 20000 on PostgreSQL): more than the file
        self.write_config("defaults:\n  sample_size: 100\n")
        # written a row at a time, not held whole in this process
        f = self.path("wide.ndjson")
        with open(f, "w") as out:
            for i in range(ROWS):
                out.write('{"id": %d, "blob": "%05d%s"}\n' % (i, i, "x" * WIDTH))
        self.assertGreater(os.path.getsize(f), 40_000_000)
        rc, err, peak = self.ingest_peak_rss(f)
        self.assertEqual(rc, EXIT_LOADED, err)
        # Every row arrived, whole, once.
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id), min(length(blob)), "
                                  "max(length(blob)) FROM t")[0],
                         (ROWS, ROWS, WIDTH + 5, WIDTH + 5))
        run = self.last_run()
        self.assertEqual((run["rows_read"], run["rows_loaded"]), (ROWS, ROWS))
        # All 2500 rows in one batch, as before the byte limit, held about
        # 100 MiB (raw bytes, parsed values, cells); two batches of at most
        # 12 MiB and the program itself stay far below 75 (PEAK_MIB).
        self.assertGreater(peak, 0, "no reading of the peak RSS")
        self.assertLess(peak, PEAK_MIB, "peak RSS %.0f MiB" % peak)
        # A second run finds the checkpoint at the end: nothing twice.
        rc, err, _ = self.ingest_peak_rss(f)
        self.assertEqual(rc, EXIT_LOADED, err)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(self.sql("SELECT count(*) FROM t")[0][0], ROWS)

    def test_the_wal_is_checkpointed_while_a_load_runs(self):
        """SQLite: the -wal file of a long load is folded into the database
        while the load runs (by a thread of its own, beside the writer), so
        it never holds the whole load; the data ends up in the database."""
        if self.backend != "sqlite":
            self.skipTest("SQLite's write-ahead log")
        f = self.path("rows.ndjson")
        with open(f, "w") as out:
            for i in range(300_000):
                out.write('{"id": %d, "note": "row %d %s"}\n' % (i, i, "y" * 400))
        wal = self.dbpath + "-wal"
        with open(self.path("ingest.err"), "wb") as err:
            p = subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "t", f],
                                 stdout=subprocess.DEVNULL, stderr=err, cwd=self.tmp,
                                 env=clean_env())
            peak = 0
            while p.poll() is None:
                try:
                    peak = max(peak, os.path.getsize(wal))
                except OSError:
                    pass
                time.sleep(0.002)
        self.assertEqual(p.returncode, EXIT_LOADED, open(self.path("ingest.err")).read())
        self.assertEqual(self.sql("SELECT count(*), count(DISTINCT id) FROM t")[0],
                         (300_000, 300_000))
        self.assertEqual(self.sql("PRAGMA integrity_check")[0][0], "ok")
        size = os.path.getsize(self.dbpath)
        self.assertGreater(size, 120_000_000)
        self.assertGreater(peak, 0, "no -wal file seen")
        # a thread checkpoints every 1000 pages (16 MiB) of WAL, the writer
        # every 4000 (64 MiB): the WAL restarts from its top, far below the
        # 120+ MB the load wrote
        self.assertLess(peak, size * 0.6, "WAL peaked at %d bytes, database %d" % (peak, size))
