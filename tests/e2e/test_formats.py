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


class TestJsonDocuments(E2E):
    def expect_movies(self, table, n):
        self.assertEqual(self.count(table), n)
        self.assertEqual(self.sql('SELECT "title", "us_gross", "release_date", "major_genre", '
                                  '"imdb_rating" FROM %s ORDER BY "us_gross" LIMIT 2' % table),
                         [("Movie 0: The Return", 1000000, "1990-01-01", "Drama", 1.0),
                          ("Movie 1: The Beginning", 1007919, "1991-02-02", "Comedy",
                           1.1)])
        self.assertEqual(self.quarantine("--table", table), [])
        self.assert_invariants(table, n)

    def test_one_line_array_of_objects(self):
        # vega-datasets' movies.json: one array on one line, no line end
        f = self.write("movies.json", json.dumps(movies(2500)))
        r = self.ingest("movies", f, expect=EXIT_LOADED)
        self.expect_movies("movies", 2500)
        run = self.last_run()
        self.assertEqual((run["status"], run["rows_read"]), ("succeeded", 2500), r)
        # unchanged: nothing new, nothing twice
        self.ingest("movies", f, expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(self.count("movies"), 2500)

    def test_pretty_printed_array(self):
        f = self.write("movies.json", json.dumps(movies(1500), indent=2) + "\n")
        self.ingest("movies", f, expect=EXIT_LOADED)
        self.expect_movies("movies", 1500)

    def test_array_given_as_ndjson_and_on_stdin(self):
        f = self.write("movies.ndjson", json.dumps(movies(1200)))
        r = self.ingest("movies", f, fmt="ndjson", expect=EXIT_LOADED)
        self.assertIn("is a JSON array of objects, not NDJSON", r.stderr)
        self.expect_movies("movies", 1200)
        self.ingest("piped", "-", fmt="json", input=json.dumps(movies(40), indent=1),
                    expect=EXIT_LOADED)
        self.assertEqual(self.count("piped"), 40)

    def test_gzip_compressed_array(self):
        f = self.write("movies.json.gz", gzip.compress(json.dumps(movies(1100)).encode()))
        self.ingest("movies", f, expect=EXIT_LOADED)
        self.expect_movies("movies", 1100)

    def test_pretty_printed_objects_one_after_another(self):
        f = self.write("movies.json", "".join(json.dumps(m, indent=4) + "\n" for m in movies(1001)))
        self.ingest("movies", f, expect=EXIT_LOADED)
        self.expect_movies("movies", 1001)

    def test_bad_element_is_quarantined_with_its_own_bytes_and_line(self):
        rows = movies(1000)
        doc = "[\n" + ",\n".join(json.dumps(m, indent=2) for m in rows)
        doc += ',\n  42,\n  {"Title": "Broken", "US Gross": }\n]\n'
        f = self.write("movies.json", doc)
        r = self.ingest("movies", f)
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(self.count("movies"), 1000)
        q = self.quarantine("--table", "movies")
        self.assertEqual(sorted(e["raw"] for e in q), ['42', '{"Title": "Broken", "US Gross": }'])
        lines = sorted(e["line"] for e in q if "line" in e)
        if lines:
            self.assertEqual(lines, [doc.count("\n", 0, doc.index(",\n  42,")) + 2,
                                     doc.count("\n", 0, doc.index('{"Title": "Broken"')) + 1])
        self.assert_invariants("movies", 1002)

    def test_multi_line_element_exports_as_one_ndjson_line_that_ingests_again(self):
        self.assertEqual(self.ingest("t", self.write("a.json", '[{"id": 1, "n": 5}]')).rc, 0)
        doc = '[\n {"id": 2,\n  "n": "abc"},\n {"id": 3, "n": 7}\n]\n'
        self.assertEqual(self.ingest("t", self.write("b.json", doc)).rc, 3)
        out = self.path("fix.ndjson")
        r = self.pm("quarantine", "export", "--db", self.db, "--table", "t", "--output", out)
        self.assertEqual(r.rc, 0, r)
        with open(out) as f:
            text = f.read()
        self.assertEqual(text.count("\n"), 1, "one record, one line: %r" % text)
        self.assertEqual(json.loads(text), {"id": 2, "n": "abc"})
        with open(out, "w") as f:
            f.write(text.replace('"abc"', "4"))
        self.assertEqual(self.ingest("t", out).rc, 0)
        self.assertEqual(self.sql("SELECT id, n FROM t ORDER BY id"), [(1, 5), (2, 4), (3, 7)])

    def test_halt_mid_array_resumes_after_the_element(self):
        cfg = self.write_config("tables:\n  movies:\n    policy:\n      mode: review\n"
                                "      on_incident: halt\n")
        self.ingest("movies", self.write("day1.json", json.dumps(movies(1000), indent=2)),
                    expect=EXIT_LOADED)
        day2 = movies(6, start=1000)
        day2[2]["US Gross"] = 3000000000  # int32 no more: a widen waits for a person
        f = self.write("day2.json", json.dumps(day2, indent=2) + "\n")
        r = self.ingest("movies", f, expect=3)
        self.assertIn("halted at line", r.stderr)
        self.assertEqual(self.count("movies"), 1002)
        inc = [i for i in self.pm("incidents", "list", "--db", self.db, "--json").json()
               if i["state"] != "resolved"]
        self.assertEqual(len(inc), 1, inc)
        self.assertEqual(self.pm("incidents", "dismiss", str(inc[0]["id"]), "--db", self.db).rc, 0)
        self.ingest("movies", f, expect=EXIT_LOADED)
        self.assertEqual(self.sql('SELECT count(*), count(DISTINCT "title") FROM movies'),
                         [(1005, 1005)])
        titles = [t for (t,) in self.sql('SELECT "title" FROM movies WHERE "us_gross" > 1007919000 '
                                         'OR "title" LIKE \'Movie 100_:%\' ORDER BY "title"')]
        self.assertEqual(titles, sorted(m["Title"] for i, m in enumerate(day2) if i != 2))
        self.assertEqual(len(self.quarantine("--table", "movies")), 1)
        self.assert_invariants("movies", 1006)


PENGUINS = [
    ("Adelie", "Torgersen", "39.1", "18.7", "181", "3750", "MALE"),
    ("Adelie", "Torgersen", "39.5", "17.4", "186", "3800", "FEMALE"),
    ("Chinstrap", "Dream", "46.5", "17.9", "192", "3500", "FEMALE"),
    ("Gentoo", "Biscoe", "46.1", "13.2", "211", "4500", "FEMALE"),
    ("Gentoo", "Biscoe", "50.0", "16.3", "230", "5700", "MALE"),
]
PENGUIN_COLS = ["Species", "Island", "Beak Length (mm)", "Beak Depth (mm)",
                "Flipper Length (mm)", "Body Mass (g)", "Sex"]


def penguins_text(delim, rows=PENGUINS):
    return "".join(delim.join(r) + "\n" for r in [PENGUIN_COLS] + list(rows))


class TestDelimiters(E2E):
    def expect_penguins(self, table):
        self.assertEqual(list(self.schema(table)),
                         ["species", "island", "beak_length__mm", "beak_depth__mm",
                          "flipper_length__mm", "body_mass__g", "sex"])
        self.assertEqual(self.sql('SELECT species, island, beak_length__mm, body_mass__g, sex '
                                  'FROM %s ORDER BY body_mass__g' % table),
                         [("Chinstrap", "Dream", 46.5, 3500, "FEMALE"),
                          ("Adelie", "Torgersen", 39.1, 3750, "MALE"),
                          ("Adelie", "Torgersen", 39.5, 3800, "FEMALE"),
                          ("Gentoo", "Biscoe", 46.1, 4500, "FEMALE"),
                          ("Gentoo", "Biscoe", 50.0, 5700, "MALE")])
        self.assertEqual(self.quarantine("--table", table), [])

    def test_tsv_file_is_tab_separated(self):
        self.ingest("penguins", self.write("penguins.tsv", penguins_text("\t")),
                    expect=EXIT_LOADED)
        self.expect_penguins("penguins")

    def test_delimiter_told_from_the_header(self):
        for name, d in (("semi", ";"), ("tabbed", "\t"), ("piped", "|")):
            self.ingest(name, self.write(name + ".csv", penguins_text(d)), expect=EXIT_LOADED)
            self.expect_penguins(name)

    def test_semicolon_csv_with_decimal_commas_in_quotes(self):
        # European exports: ';' between fields, ',' inside quoted values
        f = self.write("airports.csv", 'iata;name;city;lat\n'
                       'ORD;"Chicago O\'Hare International; Terminal 5";Chicago;"41,97"\n'
                       'SFO;San Francisco International;San Francisco;"37,61"\n')
        self.ingest("airports", f, expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT iata, name, city, lat FROM airports ORDER BY iata"),
                         [("ORD", "Chicago O'Hare International; Terminal 5", "Chicago", "41,97"),
                          ("SFO", "San Francisco International", "San Francisco", "37,61")])

    def test_delimiter_option_and_pipeline_key(self):
        # one '|' and one ',' in the header: the sniffer would take ','
        f = self.write("airports.txt", "IATA|City, State\nORD|Chicago, IL\nSFO|San Francisco, CA\n")
        self.ingest("airports", f, fmt="csv", extra=("--delimiter", "|"), expect=EXIT_LOADED)
        self.assertEqual(self.sql("SELECT iata, city__state FROM airports ORDER BY iata"),
                         [("ORD", "Chicago, IL"), ("SFO", "San Francisco, CA")])
        cfg = self.write_config("pipelines:\n  - name: penguins\n    source: feed/*.txt\n"
                                "    format: csv\n    delimiter: tab\n    table: penguins\n")
        self.write("feed/day1.txt", penguins_text("\t"))
        r = self.pm("run", "penguins", "--db", self.db, "--config", cfg)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.expect_penguins("penguins")
        r = self.ingest("x", f, extra=("--delimiter", "colon"), expect=EXIT_USAGE)
        self.assertIn('unknown delimiter "colon"', r.stderr)

    def test_one_column_header_holding_a_delimiter_is_an_error(self):
        f = self.write("penguins.csv", penguins_text(";"))
        r = self.ingest("penguins", f, extra=("--delimiter", ","))
        self.assertIn(r.rc, (EXIT_FAILED, EXIT_USAGE), r)
        self.assertIn("is one column that holds ';' (read with delimiter ',')", r.stderr)
        self.assertIn("pass --delimiter ';'", r.stderr)
        self.assertFalse(self.table_exists("penguins"))

    def test_quarantined_semicolon_row_replays_with_its_delimiter(self):
        self.write_config("tables:\n  penguins:\n    policy:\n      mode: review\n")
        self.ingest("penguins", self.write("day1.csv", penguins_text(";")), expect=EXIT_LOADED)
        big = ("Gentoo", "Biscoe", "49.9", "16.1", "213", "3000000000", "MALE")
        self.ingest("penguins", self.write("day2.csv", penguins_text(";", [big])), expect=3)
        q = self.quarantine("--table", "penguins")
        self.assertEqual([e["raw"] for e in q], [";".join(big)])
        props = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual(len(props), 1, props)
        r = self.pm("proposals", "approve", str(props[0]["id"]), "--db", self.db, "--actor", "ann")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.sql("SELECT species, beak_length__mm, body_mass__g FROM penguins "
                                  "WHERE body_mass__g > 10000"), [("Gentoo", 49.9, 3000000000)])
        self.assertEqual(self.quarantine("--table", "penguins"), [])
        self.assert_invariants("penguins", 6)


    def test_quarantined_row_of_a_forced_delimiter_replays_with_it(self):
        # the header holds one '|' and two ',': read back alone it would say
        # ','; the row keeps the '|' it was read with
        self.write_config("tables:\n  airports:\n    policy:\n      mode: review\n")
        head = "IATA|City, State, Country|Runways\n"
        self.ingest("airports", self.write("day1.txt", head + "ORD|Chicago, IL, US|8\n"),
                    fmt="csv", extra=("--delimiter", "|"), expect=EXIT_LOADED)
        self.ingest("airports", self.write("day2.txt", head + "SFO|San Francisco, CA, US|4\n"
                                           "DXB|Dubai, Dubai, AE|2.5\n"),
                    fmt="csv", extra=("--delimiter", "|"), expect=3)
        self.assertEqual([e["raw"] for e in self.quarantine("--table", "airports")],
                         ["DXB|Dubai, Dubai, AE|2.5"])
        # exported to be fixed by hand, it says how to ingest it again
        r = self.pm("quarantine", "export", "--table", "airports", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stdout, head + "DXB|Dubai, Dubai, AE|2.5\n")
        self.assertIn("read with delimiter '|': ingest them again with --delimiter '|'", r.stderr)
        props = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual(len(props), 1, props)
        r = self.pm("proposals", "approve", str(props[0]["id"]), "--db", self.db, "--actor", "ann")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.sql("SELECT iata, city__state__country, runways FROM airports "
                                  "ORDER BY iata"),
                         [("DXB", "Dubai, Dubai, AE", 2.5), ("ORD", "Chicago, IL, US", 8),
                          ("SFO", "San Francisco, CA, US", 4)])
        self.assertEqual(self.quarantine("--table", "airports"), [])
        self.assert_invariants("airports", 3)

AIRPORTS_1252 = ("iata,name,city,country\n"
                 "CDG,Aéroport Charles-de-Gaulle,Roissy-en-France,France\n"
                 "ZRH,Zürich Flughafen,Zürich,Switzerland\n"
                 "LHR,Heathrow “London”,London,United Kingdom\n"
                 "OSL,Oslo lufthavn – Gardermoen,Gardermoen,Norway\n")


class TestEncodings(E2E):
    def expect_airports(self, table, quotes="“London”", dash="–"):
        self.assertEqual(self.sql("SELECT iata, name, city FROM %s ORDER BY iata" % table),
                         [("CDG", "Aéroport Charles-de-Gaulle", "Roissy-en-France"),
                          ("LHR", "Heathrow %s" % quotes, "London"),
                          ("OSL", "Oslo lufthavn %s Gardermoen" % dash, "Gardermoen"),
                          ("ZRH", "Zürich Flughafen", "Zürich")])
        self.assertEqual(self.quarantine("--table", table), [])

    def test_windows_1252_csv_is_converted(self):
        f = self.write("airports.csv", AIRPORTS_1252.encode("cp1252"))
        self.ingest("airports", f, extra=("--encoding", "windows-1252"), expect=EXIT_LOADED)
        self.expect_airports("airports")
        # a re-run finds nothing new: the checkpoint is in converted bytes
        self.ingest("airports", f, extra=("--encoding", "windows-1252"), expect=EXIT_LOADED)
        self.assertEqual(self.last_run()["rows_read"], 0)
        self.assertEqual(self.count("airports"), 4)

    def test_latin1_ndjson_gzip_from_a_pipeline(self):
        text = "".join(json.dumps({"iata": i, "name": n, "city": c}, ensure_ascii=False) + "\n"
                       for i, n, c in (("CDG", "Aéroport Charles-de-Gaulle", "Roissy-en-France"),
                                       ("ZRH", "Zürich Flughafen", "Zürich")))
        self.write("feed/day1.ndjson.gz", gzip.compress(text.encode("latin1")))
        cfg = self.write_config("pipelines:\n  - name: airports\n    source: feed/*.ndjson.gz\n"
                                "    encoding: latin1\n    table: airports\n")
        r = self.pm("run", "airports", "--db", self.db, "--config", cfg)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.sql("SELECT iata, name, city FROM airports ORDER BY iata"),
                         [("CDG", "Aéroport Charles-de-Gaulle", "Roissy-en-France"),
                          ("ZRH", "Zürich Flughafen", "Zürich")])

    def test_undefined_byte_stays_a_finding_and_unknown_charset_is_refused(self):
        # 0x81 means nothing in windows-1252: that row is malformed, the rest load
        rows = AIRPORTS_1252.encode("cp1252") + b"XXX,Bad \x81 byte,Nowhere,None\n"
        f = self.write("airports.csv", rows)
        self.ingest("airports", f, extra=("--encoding", "windows-1252"), expect=3)
        self.assertEqual(self.count("airports"), 4)
        q = self.quarantine("--table", "airports")
        self.assertEqual(len(q), 1)
        self.assertEqual(self.raw_bytes(q[0]), b"XXX,Bad \x81 byte,Nowhere,None")
        self.assertIn("invalid UTF-8", q[0]["message"])
        r = self.ingest("other", f, extra=("--encoding", "klingon"), expect=EXIT_USAGE)
        self.assertIn('unknown encoding "klingon"', r.stderr)
        cfg = self.write("bad.yaml", "pipelines:\n  - name: a\n    source: airports.csv\n"
                                     "    encoding: klingon\n    table: a\n")
        r = self.pm("run", "a", "--db", self.db, "--config", cfg)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertIn("encoding", r.stderr)


class TestNeverASilentSuccess(E2E):
    def assert_refused(self, r, table, *phrases):
        self.assertEqual(r.rc, EXIT_FAILED, r)
        for ph in phrases:
            self.assertIn(ph, r.stderr)
        run = self.last_run()
        self.assertEqual((run["status"], run["rows_loaded"], run["rows_quarantined"]),
                         ("failed", 0, 0), run)
        self.assertEqual(self.quarantine("--table", table), [])

    def test_pretty_printed_json_given_as_ndjson(self):
        f = self.write("movies.ndjson", "".join(json.dumps(m, indent=2) + "\n" for m in movies(300)))
        r = self.ingest("movies", f, fmt="ndjson")
        self.assert_refused(r, "movies", "records are not ndjson, it looks like pretty-printed JSON",
                            "nothing of it was loaded", "hint: pass --format json")
        self.assertFalse(self.table_exists("movies"))
        self.ingest("movies", f, fmt="json", expect=EXIT_LOADED)
        self.assertEqual(self.count("movies"), 300)
        self.assert_invariants("movies", 300)

    def test_later_file_in_the_wrong_shape_leaves_the_table_alone(self):
        self.ingest("movies", self.write("day1.ndjson", ndjson(movies(50))), expect=EXIT_LOADED)
        day2 = self.write("day2.ndjson", "".join(json.dumps(m, indent=2) + "\n"
                                                 for m in movies(20, start=50)))
        r = self.ingest("movies", day2)
        self.assert_refused(r, "movies", "looks like pretty-printed JSON")
        self.assertEqual(self.count("movies"), 50)

    def test_undeclared_windows_1252_names_the_encoding(self):
        f = self.write("airports.csv", AIRPORTS_1252.encode("cp1252"))
        r = self.ingest("airports", f)
        self.assert_refused(r, "airports", "4 of its first 4 records are not csv",
                            "text that is not UTF-8",
                            "--encoding windows-1252")
        self.assertFalse(self.table_exists("airports"))

    def test_bzip2_is_named_not_quarantined_as_garbage(self):
        import bz2
        f = self.write("movies.ndjson.bz2", bz2.compress(ndjson(movies(2000))))
        r = self.ingest("movies", f, fmt="ndjson")
        self.assert_refused(r, "movies", "it looks like bzip2-compressed data",
                            "convert or decompress it first")

    def test_json_given_as_csv(self):
        f = self.write("movies.txt", json.dumps(movies(10)))
        r = self.ingest("movies", f, fmt="csv")
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("it looks like JSON, not CSV: pass --format json", r.stderr)
        self.assertFalse(self.table_exists("movies"))

    def test_csv_given_as_ndjson(self):
        f = self.write("penguins.ndjson", penguins_text(","))
        r = self.ingest("penguins", f)
        self.assert_refused(r, "penguins", "6 of its first 6 records are not ndjson",
                            "delimited text (CSV or TSV), not JSON", "--format csv")

    def test_input_whose_only_line_does_not_parse(self):
        f = self.write("movies.ndjson", '{"Title": "Movie 0", "US Gross": 1000000')
        r = self.ingest("movies", f)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("is not empty but holds no ndjson record", r.stderr)
        self.assertEqual(self.last_run()["status"], "failed")

    def test_a_few_bad_lines_are_still_quarantined(self):
        # two bad lines among good ones: the rows' problem, not the input's
        rows = ndjson(movies(20)) + b'{"Title": "x",}\n' + b"not json\n"
        self.ingest("movies", self.write("movies.ndjson", rows), expect=3)
        self.assertEqual(self.count("movies"), 20)
        self.assertEqual(len(self.quarantine("--table", "movies")), 2)

    def test_empty_array_and_header_only_csv_load_nothing_quietly(self):
        self.ingest("movies", self.write("movies.json", "[]\n"), expect=EXIT_LOADED)
        r = self.ingest("penguins", self.write("penguins.csv", penguins_text(",", [])),
                        expect=EXIT_LOADED)
        self.assertIn("has a header row and no rows", r.stderr)
