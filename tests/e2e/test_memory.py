"""Memory stays bounded by the batch, whatever the width of the rows: a
batch is handed to the writer at batch_size rows or at 12 MiB of parsed
rows, whichever comes first, so wide rows make more, smaller batches
instead of one that holds the whole file."""
import os
import subprocess

from e2e_util import BIN, E2E, EXIT_LOADED, clean_env

ROWS = 2500
WIDTH = 16000  # bytes of text a row: 40 MB of NDJSON in all


class TestMemory(E2E):
    def ingest_peak_rss(self, path):
        """Runs pipemend ingest on path; returns (exit code, stderr, its
        own peak RSS in MiB)."""
        p = subprocess.Popen(
            [BIN, "ingest", "--db", self.db, "--table", "t", path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.tmp,
            env=clean_env(),
        )
        err = p.stderr.read()
        p.stderr.close()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        return p.returncode, err.decode(errors="replace"), usage.ru_maxrss / 1024

    def test_wide_rows_are_loaded_in_bounded_memory(self):
        # a small sample, so that the first batch (which holds the sample
        # whole) is small too; the batch size in rows stays the store's
        # default (5000 on SQLite, 20000 on PostgreSQL): more than the file
        self.write_config("defaults:\n  sample_size: 100\n")
        # written a row at a time: the RSS a child reports includes what it
        # inherited from this process before exec, so this one stays small
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
        # 12 MiB and the program itself stay far below 75.
        self.assertLess(peak, 75, "peak RSS %.0f MiB" % peak)
        # A second run finds the checkpoint at the end: nothing twice.
        rc, err, _ = self.ingest_peak_rss(f)
        self.assertEqual(rc, EXIT_LOADED, err)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(self.sql("SELECT count(*) FROM t")[0][0], ROWS)
