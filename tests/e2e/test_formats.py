"""What feeds are: gzip and zstd files (told by their bytes), JSON documents
that are one array of objects, CSV with other delimiters, declared
encodings, and never a silent success when the input is not what it was
said to be. Each test builds a small realistic dataset (movies, airports,
penguins) and checks the rows in the table, exit codes and messages."""
import gzip
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

from e2e_util import BIN, E2E, EXIT_FAILED, EXIT_LOADED, EXIT_USAGE, clean_env

GENRES = ["Drama", "Comedy", "Action", "Horror", "Documentary", None]


def movies(n, start=0):
    """Rows shaped like vega-datasets' movies.json."""
    out = []
    for i in range(start, start + n):
        out.append({
            "Title": "Movie %d: The %s" % (i, ["Return", "Beginning", "End"][i % 3]),
            "US Gross": 1000000 + i * 7919,
            "Release Date": "%d-%02d-%02d" % (1990 + i % 30, i % 12 + 1, i % 28 + 1),
            "Major Genre": GENRES[i % len(GENRES)],
            "IMDB Rating": round(1 + (i % 90) / 10, 1),
        })
    return out


def ndjson(rows):
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def have_zstd():
    return shutil.which("zstd") is not None


class TestCompressed(E2E):
    def check_movies(self, table, n):
        self.assertEqual(self.count(table), n)
        self.assertEqual(self.sql('SELECT "title", "us_gross", "major_genre", "imdb_rating" FROM %s '
                                  'ORDER BY "us_gross" LIMIT 2' % table),
                         [("Movie 0: The Return", 1000000, "Drama", 1.0),
                          ("Movie 1: The Beginning", 1007919, "Comedy", 1.1)])
        self.assertEqual(self.quarantine("--table", table), [])

    def test_gzip_by_name_and_rerun_loads_nothing_twice(self):
        f = self.write("movies.ndjson.gz", gzip.compress(ndjson(movies(3000))))
        self.ingest("movies", f, expect=EXIT_LOADED)
        self.check_movies("movies", 3000)
        r = self.ingest("movies", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0, r)
        self.assertEqual(self.count("movies"), 3000)
        self.assert_invariants("movies", 3000)

    def test_gzip_told_by_its_bytes_not_its_name(self):
        # a rotated log with no .gz suffix, and the same bytes on stdin
        f = self.write("movies.ndjson", gzip.compress(ndjson(movies(1200))))
        self.ingest("movies", f, expect=EXIT_LOADED)
        self.check_movies("movies", 1200)
        data = gzip.compress(ndjson(movies(50)))
        self.ingest("from_stdin", "-", fmt="ndjson", input=data, expect=EXIT_LOADED)
        self.assertEqual(self.count("from_stdin"), 50)
        self.assertEqual(self.quarantine("--table", "from_stdin"), [])

    def test_gzip_that_grows_by_a_member_loads_only_the_new_rows(self):
        f = self.write("movies.ndjson.gz", gzip.compress(ndjson(movies(2000))))
        self.ingest("movies", f, expect=EXIT_LOADED)
        # producers append a gzip member (cat more.gz >> movies.ndjson.gz)
        self.write("movies.ndjson.gz", gzip.compress(ndjson(movies(500, start=2000))), append=True)
        r = self.ingest("movies", f, expect=EXIT_LOADED)
        self.assertIn("resuming after byte", r.stderr)
        self.assertEqual(self.last_run()["rows_read"], 500)
        self.assertEqual(self.sql('SELECT count(*), count(DISTINCT "title") FROM movies'),
                         [(2500, 2500)])
        self.assert_invariants("movies", 2500)

    def test_sigkill_mid_gzip_then_resume_loads_every_row_once(self):
        rows = 150000
        self.write_config("defaults:\n  batch_size: 1000\n")
        f = self.write("movies.ndjson.gz", gzip.compress(ndjson(movies(rows)), 1))
        p = subprocess.Popen([BIN, "ingest", "--db", self.db, "--table", "movies", f],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=self.tmp, env=clean_env())
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            try:
                if self.table_exists("movies") and self.count("movies") >= 5000:
                    break
            except self.DBError:
                pass
            self._close_con()
            time.sleep(0.02)
        self._close_con()
        if p.poll() is not None:
            self.skipTest("the run ended before it could be killed (a fast machine)")
        p.send_signal(signal.SIGKILL)
        p.wait()
        before = self.count("movies")
        self._close_con()
        self.assertLess(before, rows)
        r = self.ingest("movies", f, expect=EXIT_LOADED)
        self.assertIn("of the decompressed stream", r.stderr)
        self.assertEqual(self.sql('SELECT count(*), count(DISTINCT "title") FROM movies'),
                         [(rows, rows)])
        self.assertEqual(self.quarantine("--table", "movies"), [])

    def test_truncated_gzip_fails_after_loading_what_it_could(self):
        full = gzip.compress(ndjson(movies(20000)))
        f = self.write("movies.ndjson.gz", full[: len(full) // 2])
        r = self.ingest("movies", f, expect=EXIT_FAILED)
        self.assertIn("movies.ndjson.gz ends inside a gzip member", r.stderr)
        n = self.count("movies")
        self.assertGreater(n, 1000)
        self.assertLess(n, 20000)

    @unittest.skipUnless(have_zstd(), "the zstd command is missing (scripts/install-test-deps-e2e.sh)")
    def test_zstd_by_its_bytes(self):
        plain = self.write("airports.csv", "iata,name,city,state,country,latitude,longitude\n"
                           "00M,Thigpen ,Bay Springs,MS,USA,31.95376472,-89.23450472\n"
                           "ORD,Chicago O'Hare International,Chicago,IL,USA,41.979595,-87.90446417\n"
                           "SFO,San Francisco International,San Francisco,CA,USA,37.61900194,-122.3748433\n")
        subprocess.run(["zstd", "-q", "-f", plain, "-o", self.path("airports.csv.zst")], check=True)
        os.unlink(plain)
        self.ingest("airports", self.path("airports.csv.zst"), expect=EXIT_LOADED)
        self.assertEqual(self.sql('SELECT iata, city, latitude FROM airports ORDER BY iata'),
                         [("00M", "Bay Springs", 31.95376472), ("ORD", "Chicago", 41.979595),
                          ("SFO", "San Francisco", 37.61900194)])
        r = self.ingest("airports", self.path("airports.csv.zst"), expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0, r)
