"""The command line: help, usage errors with their exact text, exit codes,
hostile names, the demo."""
import os
import re

from e2e_util import (REPO, E2E, EXIT_FAILED, EXIT_LOADED, EXIT_QUARANTINED, EXIT_USAGE,
                      commands_from_def, options_from_def, sqlite_only)


class TestHelp(E2E):
    def test_help_lists_every_command(self):
        cmds = commands_from_def()
        self.assertGreater(len(cmds), 5)
        for flag in ("--help", "-h"):
            r = self.pm(flag)
            self.assertEqual(r.rc, 0, r)
            for c in cmds:
                self.assertRegex(r.stdout, r"(?m)^  %s\s" % re.escape(c),
                                 "%s output lacks command %s" % (flag, c))
        r = self.pm("help")
        self.assertEqual(r.rc, 0, r)
        for c in cmds:
            self.assertRegex(r.stdout, r"(?m)^  %s\s" % re.escape(c))

    def test_help_of_each_command(self):
        for c in commands_from_def():
            r = self.pm("help", c)
            self.assertEqual(r.rc, 0, r)
            self.assertTrue(r.stdout.startswith("Usage: pipemend %s" % c), r)
            r = self.pm(c, "--help")
            self.assertEqual(r.rc, 0, r)
            self.assertTrue(r.stdout.startswith("Usage: pipemend %s" % c), r)
            usage = r.stdout.split("\n\n")[0].split("\n")
            for line in usage:
                # each usage line whole: a choice inside (a | b) stays on its line
                self.assertRegex(line, r"^(Usage: |       )pipemend %s\b" % c, usage)
                self.assertEqual((line.count("("), line.count("[")), (line.count(")"), line.count("]")),
                                 line)

    def test_readme_mentions_every_command(self):
        readme = os.path.join(REPO, "README.md")
        if not os.path.exists(readme):
            self.skipTest("no README.md at the repository root")
        with open(readme, encoding="utf-8") as f:
            text = f.read()
        missing = [c for c in commands_from_def()
                   if not re.search(r"pipemend %s\b" % re.escape(c), text)]
        self.assertEqual(missing, [], "README.md does not mention: %s" % ", ".join(missing))

    def test_no_arguments(self):
        r = self.pm()
        self.assertEqual(r.rc, EXIT_USAGE)
        self.assertIn("Usage: pipemend COMMAND", r.stderr)

    def test_version(self):
        r = self.pm("--version")
        self.assertEqual(r.rc, 0)
        self.assertRegex(r.stdout, r"^pipemend \d+\.\d+\.\d+\n$")


class TestUsageErrors(E2E):
    def assert_usage(self, args, first_lines, env=None):
        r = self.pm(*args, env=env)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.stderr.startswith(first_lines),
                        "stderr:\n%s\nexpected to start with:\n%s" % (r.stderr, first_lines))
        return r

    def test_unknown_command(self):
        self.assert_usage(["frobnicate"], 'pipemend: error: unknown command "frobnicate"\n'
                          "  hint: run 'pipemend --help' for the list\n")

    def test_unknown_option(self):
        self.assert_usage(["runs", "--db", self.db, "--frob"],
                          'pipemend: error: unknown or incomplete option "--frob"\n'
                          "  hint: usage: pipemend runs ")

    def test_option_missing_its_value(self):
        self.assert_usage(["runs", "--db"], 'pipemend: error: unknown or incomplete option "--db"\n')

    def test_bad_limit(self):
        self.assert_usage(["runs", "--db", self.db, "--limit", "abc"],
                          'pipemend: error: --limit needs a positive number, got "abc"\n')
        self.assert_usage(["runs", "--db", self.db, "--limit", "0"],
                          'pipemend: error: --limit needs a positive number, got "0"\n')

    def test_bad_run_id(self):
        self.assert_usage(["quarantine", "list", "--db", self.db, "--run", "x"],
                          'pipemend: error: --run needs a run id, got "x"\n')

    def test_ingest_without_table_or_file(self):
        self.assert_usage(["ingest", "--db", self.db, "--table", "t"],
                          "pipemend: error: ingest needs at least one FILE (- for stdin)\n")
        self.assert_usage(["ingest", "--db", self.db, "-"],
                          "pipemend: error: ingest cannot name the table after standard input\n"
                          "  hint: pass --table NAME\n")

    def test_unknown_format(self):
        f = self.write("a.ndjson", [{"a": 1}])
        self.assert_usage(["ingest", "--db", self.db, "--table", "t", "--format", "xml", f],
                          'pipemend: error: unknown format "xml"\n  hint: use ndjson, json, csv or tsv\n')

    def test_format_not_known_from_name(self):
        f = self.write("data.txt", [{"a": 1}])
        r = self.assert_usage(["ingest", "--db", self.db, "--table", "t", f],
                              "pipemend: error: cannot tell the format of %s from its name\n" % f)
        self.assertIn("hint: pass --format ndjson or --format csv", r.stderr)

    def test_no_warehouse(self):
        f = self.write("a.ndjson", [{"a": 1}])
        self.assert_usage(["ingest", "--table", "t", f],
                          "pipemend: error: no warehouse given\n"
                          "  hint: pass --db sqlite:PATH, set PIPEMEND_DB, or put db: in pipemend.yaml\n")

    def test_warehouse_from_env_and_config(self):
        f = self.write("a.ndjson", [{"a": 1}])
        r = self.pm("ingest", "--table", "t", f, env={"PIPEMEND_DB": self.db})
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.count("t"), 1)
        self.write_config("db: %s\n" % self.db)
        r = self.pm("ingest", "--table", "u", f)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.count("u"), 1)

    def test_unrecognised_db_url(self):
        self.assert_usage(["runs", "--db", "mysql://localhost/x"],
                          'pipemend: error: unrecognised warehouse URL "mysql://localhost/x"\n')

    def test_schema_and_quarantine_subcommands(self):
        self.assert_usage(["schema", "--db", self.db],
                          'pipemend: error: schema needs "show" or "list"\n')
        self.assert_usage(["schema", "show", "--db", self.db],
                          "pipemend: error: schema show needs --table NAME\n")
        self.assert_usage(["quarantine", "--db", self.db],
                          'pipemend: error: quarantine needs "list", "show ID", "export", "discard" or '
                          '"replay"\n')
        self.assert_usage(["quarantine", "show", "abc", "--db", self.db],
                          "pipemend: error: quarantine show needs one quarantine ID")

    def test_help_for_unknown_command(self):
        self.assert_usage(["help", "frob"], 'pipemend: error: no command "frob"\n')

    def test_run_needs_one_name(self):
        self.assert_usage(["run", "--db", self.db],
                          "pipemend: error: run needs exactly one pipeline NAME\n")

    def test_config_file_missing(self):
        r = self.pm("runs", "--db", self.db, "--config", self.path("nope.yaml"))
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.stderr.startswith("pipemend: error: "), r)


class TestHostileNames(E2E):
    def test_hostile_table_name(self):
        # a table y exists; the hostile name must not touch it
        self.ingest("y", self.write("y.ndjson", [{"a": 1}]), expect=EXIT_LOADED)
        f = self.write("a.ndjson", [{"a": 1}])
        r = self.ingest("x; DROP TABLE y", f)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertEqual(r.stderr,
                         'pipemend: error: table name "x; DROP TABLE y" is not a plain identifier\n'
                         '  hint: use "x__drop_table_y" (lowercase letters, digits and _)\n')
        self.assertEqual(self.count("y"), 1)
        self.assertNotIn("x; DROP TABLE y", self.table_names())
        self.assertEqual(len(self.runs()), 1, "no run is recorded for a refused table name")

    def test_other_bad_table_names(self):
        f = self.write("a.ndjson", [{"a": 1}])
        for name in ("Orders", "or ders", '"q"', "", "_pipemend_runs", "pipemend_x", "1abc"):
            r = self.ingest(name, f)
            self.assertEqual(r.rc, EXIT_USAGE, "table %r: %r" % (name, r))
            self.assertTrue(r.stderr.startswith("pipemend: error: table name"), r)

    def test_schema_show_unknown_table(self):
        self.ingest("known", self.write("a.ndjson", [{"a": 1}]), expect=EXIT_LOADED)
        r = self.pm("schema", "show", "--table", "nope", "--db", self.db)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn('pipemend does not know a table "nope"', r.stderr)


class TestCouldNotProceed(E2E):
    def test_missing_file(self):
        r = self.ingest("t", self.path("missing.ndjson"))
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("pipemend: error: cannot open %s" % self.path("missing.ndjson"), r.stderr)
        run = self.last_run()
        self.assertEqual(run["status"], "failed")
        self.assertTrue(run["error"])

    def test_directory_as_file(self):
        os.mkdir(self.path("d.ndjson"))
        r = self.ingest("t", self.path("d.ndjson"))
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("cannot open", r.stderr)

    def test_good_file_then_missing_file_keeps_the_good_rows(self):
        good = self.write("a.ndjson", [{"a": 1}, {"a": 2}])
        r = self.ingest("t", good, self.path("missing.ndjson"))
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertEqual(self.count("t"), 2)
        run = self.last_run()
        self.assertEqual(run["status"], "failed")
        self.assertEqual(run["rows_loaded"], 2)
        self.assert_invariants("t", 2)

    def test_db_in_missing_directory(self):
        f = self.write("a.ndjson", [{"a": 1}])
        r = self.pm("ingest", "--db", "sqlite:" + self.path("no/such/dir/w.db"), "--table", "t", f)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertTrue(r.stderr.startswith("pipemend: error: "), r)

    def test_db_not_a_database(self):
        self.write("junk.db", b"this is not a database" * 100)
        f = self.write("a.ndjson", [{"a": 1}])
        r = self.pm("ingest", "--db", "sqlite:" + self.path("junk.db"), "--table", "t", f)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertTrue(r.stderr.startswith("pipemend: error: "), r)


class TestQuarantineShow(E2E):
    def test_show_and_list_filters(self):
        self.ingest("t", self.write("a.ndjson", ['{"a": 1}', '{"a": ']), expect=EXIT_QUARANTINED)
        self.ingest("u", self.write("b.ndjson", ['{"b": 1}', "nope"]), expect=EXIT_QUARANTINED)
        self.assertEqual(len(self.quarantine()), 2)
        qt = self.quarantine("--table", "t")
        self.assertEqual([e["raw"] for e in qt], ['{"a": '])
        qu = self.quarantine("--table", "u")
        self.assertEqual([e["raw"] for e in qu], ["nope"])
        r = self.pm("quarantine", "show", str(qu[0]["id"]), "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        e = r.json()
        self.assertEqual(e["raw"], "nope")
        self.assertEqual(e["table"], "u")
        self.assertEqual(e["line"], 2)
        r = self.pm("quarantine", "show", "999", "--db", self.db)
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("no quarantined row 999", r.stderr)
        # human output works too
        r = self.pm("quarantine", "list", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("malformed", r.stdout)
        r = self.pm("quarantine", "show", str(qu[0]["id"]), "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("nope", r.stdout)


class TestDemo(E2E):
    @sqlite_only("the demo always builds its own SQLite warehouse in its directory")
    def test_demo(self):
        d = self.path("demo")
        r = self.pm("demo", "--dir", d)
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(os.path.exists(os.path.join(d, "warehouse.db")))
        self.dbpath = os.path.join(d, "warehouse.db")
        self.db = "sqlite:" + self.dbpath
        self.assertIn("orders", self.table_names())
        self.assertGreater(self.count("orders"), 700)
        s = self.schema("orders")
        self.assertIn("shipping__country", s)
        q = self.quarantine()
        kinds = {k for e in q for k in e["kinds"]}
        # what no schema change can fix stays in quarantine
        for k in ("type_conflict", "contract", "malformed"):
            self.assertIn(k, kinds)
        # the demo's operator approved the field mapping (rename) and the
        # coercion (new date format): those rows were replayed and loaded
        for k in ("rename", "format", "null_violation"):
            self.assertNotIn(k, kinds)
        self.assertEqual(self.sql("SELECT customer_email FROM orders WHERE order_id = 405"),
                         [("renamed405@example.com",)])
        # 21/11/2026 10:00 +0100 through the coercion, stored in UTC (as
        # PostgreSQL stores a timestamptz)
        self.assertEqual(self.sql("SELECT created_at FROM orders WHERE order_id = 406"),
                         [("2026-11-21T09:00:00Z",)])
        self.assertFalse(s["customer_email"][1])
        ps = self.pm("proposals", "list", "--db", self.db, "--json").json()
        self.assertEqual(sorted((p["state"], p["decided_by"]) for p in ps),
                         [("applied", "human:demo-operator"), ("applied", "human:demo-operator"),
                          ("applied", "rules")])
        self.assertEqual(self.pm("audit", "verify", "--db", self.db).rc, 0)
        incidents = self.pm("incidents", "list", "--db", self.db, "--json").json()
        states = {(i["kind"], i["column"]): i["state"] for i in incidents}
        for key in (("new_field", "coupon"), ("widen", "quantity"),
                    ("rename", "customer_email"), ("format", "created_at")):
            self.assertEqual(states[key], "resolved", key)
        self.assertEqual(states[("type_conflict", "quantity")], "open")
        # the safe drift was healed inline (policy auto), not quarantined
        self.assertNotIn("widen", kinds)
        self.assertEqual(s["quantity"][0], "int64")
        self.assertIn("coupon", s)
        # 800 records in the two days: everything is in the table or quarantine
        self.assert_invariants("orders", 800)
        # the demo's own config works from its directory
        r = self.pm("status", "--json", cwd=d)
        self.assertEqual(r.rc, 0, r)
        # running it again starts over cleanly
        r = self.pm("demo", "--dir", d)
        self.assertEqual(r.rc, 0, r)
        self.assert_invariants("orders", 800)


class TestSetupCommands(E2E):
    def test_make_demo_and_check_name_only_files_that_exist(self):
        # The README's two commands: every script they run must be in the
        # tree (a missing one only shows on a fresh machine).
        import subprocess
        for target in ("demo", "check"):
            out = subprocess.run(["make", "-n", "-C", REPO, target], capture_output=True,
                                 text=True).stdout
            for m in re.finditer(r"\b(?:sh|bash|python3)\s+(\S+)", out):
                script = m.group(1)
                if script.startswith("-"):
                    continue
                self.assertTrue(os.path.exists(os.path.join(REPO, script)),
                                "make %s runs %s, which does not exist" % (target, script))
            if target == "demo":
                self.assertIn("pipemend demo", out)
            else:
                self.assertIn("tests/e2e/run.py", out)


class TestOptionTable(E2E):
    def test_every_long_option_has_its_own_code(self):
        # two options with one code: getopt hands the second's value to the
        # first's case (it happened when two branches each added one)
        with open(os.path.join(REPO, "src", "cli", "main.c")) as f:
            text = f.read()
        opts = [(name, code) for name, code, _s, _a, _c in options_from_def()]
        self.assertGreater(len(opts), 20, opts)
        codes = {}
        for name, code in opts:
            self.assertNotIn(code, codes, "--%s and --%s share '%s'" % (codes.get(code), name, code))
            codes[code] = name
        # and each code has exactly one case in the switch
        for code, name in codes.items():
            self.assertEqual(len(re.findall(r"case '%s':" % re.escape(code), text)), 1, name)
