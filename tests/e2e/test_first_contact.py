"""A new user's first contact with the command line (issue 16): options
where people type them, help that fits the command, no warehouse created by
a command that only reads, a table name from the file's name."""
import json
import os
import re
import shlex
import shutil
import socket
import subprocess

from e2e_util import (BIN, REPO, E2E, EXIT_LOADED, EXIT_USAGE, LINKS, clean_env,
                      commands_from_def, options_from_def, sqlite_only)

# a value each option accepts, for the parser to get past it
VALUES = {"limit": "5", "run": "1", "incident": "1", "log-format": "text"}


def help_sections(text):
    """(usage lines, option names, example lines) of a command's --help."""
    usage, opts, examples, part = [], [], [], "usage"
    for line in text.splitlines():
        if line.startswith("Options"):
            part = "options"
        elif line.startswith("Examples"):
            part = "examples"
        elif line.startswith("Exit codes"):
            part = None
        elif part == "usage" and re.match(r"^(Usage: |       )pipemend ", line):
            usage.append(line.split("pipemend ", 1)[1])
        elif part == "options":
            m = re.match(r"^  (?:-\w, )?--([a-z-]+)", line)
            if m:
                opts.append(m.group(1))
        elif part == "examples" and line.startswith("  "):
            examples.append(line.strip())
    return usage, opts, examples


class TestOptionsAnywhere(E2E):
    def test_global_options_before_or_after_the_command(self):
        f = self.write("orders.ndjson", [{"id": 1}, {"id": 2}])
        # before the command, in both spellings
        r = self.pm("--db", self.db, "ingest", "--table", "orders", f)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.count("orders"), 2)
        before = self.pm("--db", self.db, "status")
        after = self.pm("status", "--db", self.db)
        self.assertEqual(before.rc, 0, before)
        self.assertEqual(before.stdout, after.stdout)
        self.assertRegex(before.stdout, r"(?m)^orders\s+1\s+2\s")
        r = self.pm("--db=%s" % self.db, "--json", "status")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([t["table"] for t in r.json()], ["orders"])
        r = self.pm("-q", "--db", self.db, "runs", "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()[0]["rows_loaded"], 2)
        # a subcommand's arguments stay where they are
        r = self.pm("--db", self.db, "schema", "show", "--table", "orders", "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()["table"], "orders")

    def test_mistakes_before_the_command(self):
        r = self.pm("--frob", "status")
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.stderr.startswith('pipemend: error: unknown or incomplete option "--frob"'), r)
        r = self.pm("--db", self.db)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.stderr.startswith("pipemend: error: no command given\n"), r)
        # an option the command does not take is refused, wherever it stands
        for args in (["--listen", "x:1", "status"], ["status", "--listen", "x:1"]):
            r = self.pm(*args)
            self.assertEqual(r.rc, EXIT_USAGE, r)
            self.assertTrue(r.stderr.startswith("pipemend: error: status takes no option --listen\n"), r)
            self.assertIn("see: pipemend help status", r.stderr)
        r = self.pm("--db", self.db, "--help")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("Usage: pipemend COMMAND", r.stdout)
        r = self.pm("--db", self.db, "ingest", "--help")
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(r.stdout.startswith("Usage: pipemend ingest"), r)


class TestHelpFitsTheCommand(E2E):
    """Each command's --help, its usage line and the parser agree: an
    option is listed exactly when the command accepts it."""

    def test_help_lists_what_the_parser_accepts(self):
        options = options_from_def()
        self.assertGreater(len(options), 15)
        for c in commands_from_def():
            r = self.pm(c, "--help")
            self.assertEqual(r.rc, 0, r)
            usage, listed, _ = help_sections(r.stdout)
            self.assertTrue(usage, r.stdout)
            for name, _code, _short, arg, _cmds in options:
                args = [c, "--" + name] + ([VALUES.get(name, "x")] if arg else []) + ["--help"]
                rr = self.pm(*args)
                if name in listed:
                    self.assertEqual(rr.rc, 0, "help of %s lists --%s, the parser refuses it: %r"
                                     % (c, name, rr))
                else:
                    self.assertEqual(rr.rc, EXIT_USAGE, "help of %s omits --%s, the parser takes it"
                                     % (c, name))
                    self.assertIn("%s takes no option --%s" % (c, name), rr.stderr)
            # the usage lines name only what the command takes, and everything
            # it takes beyond the options every warehouse command shares
            in_usage = set(re.findall(r"--([a-z-]+)", " ".join(usage)))
            self.assertLessEqual(in_usage, set(listed), c)
            self.assertLessEqual(set(listed) - {"config", "quiet", "verbose", "help", "log-format"}, in_usage,
                                 "usage of %s omits options it takes" % c)
            # the common -q, -v, -h are listed for every command, nothing else for all
            for common in ("quiet", "verbose", "help"):
                self.assertIn(common, listed, c)
        # no command's help lists the whole table any more
        _, ingest, _ = help_sections(self.pm("ingest", "--help").stdout)
        for name in ("print-grants", "listen", "token-file", "anchor", "dir"):
            self.assertNotIn(name, ingest)
        self.assertIn("json", ingest)

    def test_examples_parse(self):
        """Every command shows an example, and each example's options are
        ones its command takes (checked by the parser, with --help)."""
        for c in commands_from_def():
            _, _, examples = help_sections(self.pm("help", c).stdout)
            self.assertTrue(examples, "no example for %s" % c)
            for ex in examples:
                # the pipemend part of a shell line (before a pipe or a comment)
                self.assertIn("pipemend ", ex)
                tail = ex[ex.rindex("pipemend ") + len("pipemend "):]
                args = shlex.split(re.split(r"\s[|#]", tail)[0])
                self.assertIn(c, args, ex)
                r = self.pm(*(args + ["--help"]))
                self.assertEqual(r.rc, 0, "example %r: %r" % (ex, r))
                self.assertTrue(r.stdout.startswith("Usage: pipemend %s" % c), ex)


# the commands that only read, or act on what is there, with their arguments
READERS = [["status"], ["runs"], ["schema", "list"], ["schema", "show", "--table", "t"],
           ["quarantine", "list"], ["quarantine", "show", "1"],
           ["quarantine", "replay", "--table", "t"],
           ["incidents", "list"], ["incidents", "show", "1"], ["incidents", "dismiss", "1"],
           ["proposals", "list"], ["proposals", "show", "1"], ["proposals", "approve", "1"],
           ["proposals", "reject", "1"], ["audit", "log"], ["audit", "verify"],
           ["audit", "anchor"]]


@sqlite_only("a PostgreSQL database is never created by pipemend; this is about SQLite files")
class TestNoWarehouseByAccident(E2E):
    def test_readers_on_a_missing_path_create_nothing(self):
        missing = self.path("typo.db")
        for args in READERS:
            r = self.pm(*(args + ["--db", "sqlite:" + missing]))
            self.assertEqual(r.rc, EXIT_USAGE, r)
            self.assertEqual(r.stderr,
                             "pipemend: error: no warehouse at %s: the file does not exist\n"
                             "  hint: check --db (or PIPEMEND_DB, db: in pipemend.yaml); pipemend "
                             "ingest or pipemend run creates the warehouse on its first load\n"
                             % missing, r)
            self.assertEqual(r.stdout, "")
            self.assertFalse(os.path.exists(missing), args)
        # from the environment and the configuration as from --db
        r = self.pm("status", env={"PIPEMEND_DB": "sqlite:" + missing})
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.write_config("db: sqlite:%s\n" % missing)
        r = self.pm("runs")
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertFalse(os.path.exists(missing))

    def test_loaders_create_it_and_then_readers_read_it(self):
        f = self.write("a.ndjson", [{"id": 1}])
        self.assertFalse(os.path.exists(self.dbpath))
        r = self.pm("ingest", "--db", self.db, "--table", "t", f)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        r = self.pm("status", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.stdout, r"(?m)^t\s+1\s+1\s")
        # run makes its warehouse too
        other = self.path("other.db")
        self.write_config("db: sqlite:%s\npipelines:\n  - name: p\n    table: t\n"
                          "    source: %s\n" % (other, f))
        r = self.pm("run", "p")
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertTrue(os.path.exists(other))

    def test_mcp_says_at_start_that_the_warehouse_is_missing(self):
        missing = self.path("typo.db")
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "e2e", "version": "1"}}}
        r = self.pm("mcp", "--db", "sqlite:" + missing, input=json.dumps(init) + "\n")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.stdout.splitlines()[0])["id"], 1)  # it still serves
        self.assertIn("pipemend: warning: mcp: no warehouse at %s: the file does not exist\n"
                      % missing, r.stderr)
        self.assertFalse(os.path.exists(missing))
        # nothing said when it is there
        self.pm("ingest", "--db", self.db, "--table", "t", self.write("a.ndjson", [{"id": 1}]))
        r = self.pm("mcp", "--db", self.db, input=json.dumps(init) + "\n")
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("warning", r.stderr)
        # and without any warehouse
        r = self.pm("mcp", input=json.dumps(init) + "\n")
        self.assertIn("pipemend: warning: mcp: no warehouse given", r.stderr)

    def test_serve_says_at_start_that_the_warehouse_is_missing(self):
        # the port is taken, so serve stops after its start: what it said by then
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            missing = self.path("typo.db")
            r = self.pm("serve", "--db", "sqlite:" + missing, "--no-token",
                        "--listen", "127.0.0.1:%d" % port, timeout=30)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("pipemend: warning: serve: no warehouse at %s: the file does not exist\n"
                      % missing, r.stderr)
        self.assertFalse(os.path.exists(missing))


class TestServerSaysUnreachable(E2E):
    def test_mcp_says_at_start_that_postgresql_is_unreachable(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        r = self.pm("mcp", "--db", "postgresql://nobody@127.0.0.1:%d/x" % port, input="\n")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("pipemend: warning: mcp: cannot connect to PostgreSQL at 127.0.0.1:%d/x" % port,
                      r.stderr)
        self.assertIn("the server starts anyway: each tool call tries again", r.stderr)


class TestTableFromFileName(E2E):
    def test_ingest_without_table_names_it_after_the_file(self):
        os.mkdir(self.path("exports"))
        f = self.write("exports/Weather-2026.csv", "station,temp\nA,1.5\nB,2\n")
        r = self.pm("ingest", "--db", self.db, f)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertIn("pipemend: info: loading into table weather_2026, named after %s "
                      "(--table NAME chooses another)\n" % f, r.stderr)
        self.assertEqual(self.count("weather_2026"), 2)
        self.assertEqual(self.sql("SELECT station, temp FROM weather_2026 ORDER BY station"),
                         [("A", 1.5), ("B", 2.0)])
        # a second file of the same feed lands in the same table, without a word with -q
        g = self.write("weather-2026.csv", "station,temp\nC,3\n")
        r = self.pm("ingest", "-q", "--db", self.db, g)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(r.stderr, "")
        self.assertEqual(self.count("weather_2026"), 3)
        # a name that would start with a digit gets the column rule's prefix
        h = self.write("2026 orders.ndjson", [{"id": 1}])
        r = self.pm("ingest", "--db", self.db, h)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.count("c_2026_orders"), 1)
        # --table still wins
        r = self.pm("ingest", "--db", self.db, "--table", "mine", h)
        self.assertEqual(r.rc, EXIT_LOADED, r)
        self.assertEqual(self.count("mine"), 1)


def mcp_session(test, *calls):
    """Runs tools/call for each (name, arguments) in one `pipemend mcp`;
    returns the results in order."""
    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "e2e", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    for i, (name, args) in enumerate(calls):
        msgs.append({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
                     "params": {"name": name, "arguments": args}})
    r = test.pm("mcp", "--db", test.db, input="\n".join(json.dumps(m) for m in msgs) + "\n")
    test.assertEqual(r.rc, 0, r)
    out = {m["id"]: m for m in map(json.loads, r.stdout.splitlines())}
    return [out[10 + i]["result"] for i in range(len(calls))]


class TestTableDroppedByHand(E2E):
    def test_status_and_list_tables_show_it_missing_and_the_rest_as_usual(self):
        self.ingest("kept", self.write("k.ndjson", [{"id": 1}, {"id": 2}]), expect=EXIT_LOADED)
        self.ingest("gone", self.write("g.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.ingest("gone", self.write("g2.ndjson", [{"id": "x"}]), expect=3)
        self.sql_exec('DROP TABLE "gone"')
        r = self.pm("status", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stderr, "")
        self.assertRegex(r.stdout, r"(?m)^gone\s+1\s+missing\s+1\s+1\s+quarantined\s")
        self.assertRegex(r.stdout, r"(?m)^kept\s+1\s+2\s+0\s+0\s+succeeded\s")
        self.assertIn("missing: 1 table pipemend loads into is not in the database (dropped "
                      "outside pipemend)", r.stdout)
        r = self.pm("status", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        st = {t["table"]: t for t in r.json()}
        self.assertEqual((st["gone"]["missing"], st["gone"]["rows"], st["gone"]["quarantined"]),
                         (True, 0, 1))
        self.assertNotIn("missing", st["kept"])
        self.assertEqual(st["kept"]["rows"], 2)
        (lt,) = mcp_session(self, ("list_tables", {}))
        self.assertFalse(lt["isError"], lt)
        self.assertEqual(lt["structuredContent"]["tables"],
                         [{"name": "gone", "version": 1, "rows": 0, "quarantined": 1,
                           "missing": True},
                          {"name": "kept", "version": 1, "rows": 2, "quarantined": 0}])


class TestStatusAlignment(E2E):
    def test_columns_align_with_long_table_names(self):
        long = "a_table_name_longer_than_twenty_characters"
        self.ingest(long, self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": 1}, {"id": 2}]), expect=EXIT_LOADED)
        lines = self.pm("status", "--db", self.db).stdout.splitlines()[:3]
        self.assertTrue(lines[0].startswith("TABLE"), lines)
        # every value starts (ROWS: ends) where its header does
        for word in ("VERSION", "ROWS", "LAST RUN"):
            at = lines[0].index(word)
            end = at + len(word)
            for line in lines[1:]:
                if word == "ROWS":
                    ok = line[end - 1] != " " and line[end] == " "
                else:
                    ok = line[at - 1] == " " and line[at] != " "
                self.assertTrue(ok, "%r misaligned under %s:\n%s" % (line, word, "\n".join(lines)))
        self.assertRegex(lines[1], r"^%s 1 " % long)


class TestQuarantineLifecycle(E2E):
    def load(self):
        """orders: 1 clean row, then 3 rows whose id does not fit (run 2);
        people (CSV): 1 clean row, then 1 that does not fit (run 4)."""
        self.ingest("orders", self.write("o1.ndjson", [{"id": 1, "sku": "a"}]), expect=EXIT_LOADED)
        self.ingest("orders", self.write("o2.ndjson", [{"id": "x" + c, "sku": "b"} for c in "abc"]
                                         + [{"id": 7, "sku": "c"}]), expect=3)
        self.ingest("people", self.write("p1.csv", "id,name\n1,ann\n"), expect=EXIT_LOADED)
        self.ingest("people", self.write("p2.csv", 'id,name\n"two\nlines",bob\n'), expect=3)

    def events(self, action):
        r = self.pm("audit", "log", "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        return [e for e in r.json() if e["action"] == action]

    def test_list_says_how_many_in_all_and_how_many_the_limit_hid(self):
        self.load()
        r = self.pm("quarantine", "list", "--db", self.db, "--limit", "2")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(len(re.findall(r"(?m)^#\d+", r.stdout)), 2)
        self.assertIn("2 of 4 quarantined rows shown (the newest); 2 more: --limit N shows more, "
                      "quarantine export writes them all\n", r.stdout)
        r = self.pm("quarantine", "list", "--db", self.db, "--table", "orders")
        self.assertTrue(r.stdout.endswith("\n3 quarantined rows\n"), r)
        r = self.pm("quarantine", "list", "--db", self.db, "--limit", "1", "--json")
        self.assertEqual(len(r.json()), 1)  # stdout stays the array
        self.assertIn("1 of 4 quarantined rows shown", r.stderr)

    def test_export_writes_the_original_bytes_to_fix_and_ingest_again(self):
        self.load()
        r = self.pm("quarantine", "export", "--db", self.db, "--table", "orders")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, b"".join(b'{"id": "x%s", "sku": "b"}\n' % c for c in (b"a", b"b", b"c")))
        self.assertIn("exported 3 quarantined rows", r.stderr)
        # CSV: the header before the rows, the quoted newline kept
        r = self.pm("quarantine", "export", "--db", self.db, "--table", "people")
        self.assertEqual(r.out, b'id,name\n"two\nlines",bob\n')
        # by run, into a new file; an existing one is never overwritten
        out = self.path("fix.ndjson")
        r = self.pm("quarantine", "export", "--db", self.db, "--run", "2", "--output", out)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, b"")
        with open(out, "rb") as f:
            exported = f.read()
        self.assertEqual(exported.count(b"\n"), 3)
        r = self.pm("quarantine", "export", "--db", self.db, "--output", out)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("cannot create %s: File exists" % out, r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), exported)
        # fixed by hand, ingested again
        with open(out, "wb") as f:
            f.write(exported.replace(b'"xa"', b'"10"').replace(b'"xb"', b'"11"')
                    .replace(b'"xc"', b'"12"'))
        self.ingest("orders", out, expect=EXIT_LOADED)
        self.assertEqual(self.count("orders"), 5)
        r = self.pm("quarantine", "export", "--db", self.db, "--limit", "3")
        self.assertEqual(r.rc, EXIT_USAGE, r)

    def test_discard_asks_or_needs_yes_and_is_audited(self):
        self.load()
        before = self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0]
        self.assertEqual(before, 4)
        # without a filter, or without --yes and no terminal: nothing happens
        r = self.pm("quarantine", "discard", "--db", self.db, "--yes")
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertIn("quarantine discard needs a filter", r.stderr)
        r = self.pm("quarantine", "discard", "--db", self.db, "--table", "orders", input="y\n")
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertEqual(r.stderr,
                         "pipemend: error: discard 3 quarantined rows of table orders cannot be "
                         "undone, and there is no terminal to ask on\n"
                         "  hint: pass --yes to do it without being asked\n")
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0], 4)
        # one row by id: its incident keeps the other two
        ids = [i for (i,) in self.sql("SELECT id FROM _pipemend_quarantine WHERE table_name = 'orders' "
                                      "ORDER BY id")]
        r = self.pm("quarantine", "discard", str(ids[0]), "--db", self.db, "--yes", "--actor", "ann")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("discarded 1 quarantined row (by human:ann, recorded in the audit log); 0 "
                      "incidents dismissed", r.stdout)
        inc = {i["table"]: i for i in self.pm("incidents", "list", "--db", self.db, "--json").json()}
        self.assertEqual((inc["orders"]["state"], inc["orders"]["rows"]), ("open", 2))
        # the rest of the table: rows, findings and links gone, the incident dismissed
        r = self.pm("quarantine", "discard", "--table", "orders", "--db", self.db, "--yes",
                    "--actor", "ann", "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json(), {"discarded": 2, "incidents_dismissed": 1})
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine WHERE table_name = "
                                  "'orders'")[0][0], 0)
        self.assertEqual(self.sql("SELECT count(*) FROM " + LINKS + " r JOIN "
                                  "_pipemend_incidents i ON i.id = r.incident WHERE i.table_name = "
                                  "'orders'")[0][0], 0)
        inc = {i["table"]: i for i in self.pm("incidents", "list", "--db", self.db, "--json").json()}
        self.assertEqual((inc["orders"]["state"], inc["orders"]["rows"]), ("dismissed", 0))
        self.assertEqual((inc["people"]["state"], inc["people"]["rows"]), ("open", 1))
        ev = self.events("quarantine.discarded")
        self.assertEqual([(e["actor"], e["payload"]) for e in ev],
                         [("human:ann", {"rows": 1, "id": ids[0]}),
                          ("human:ann", {"rows": 2, "table": "orders"})])
        dismissed = self.events("incident.dismissed")
        self.assertEqual(len(dismissed), 1)
        self.assertEqual(dismissed[0]["actor"], "human:ann")
        self.assertIn("discarded by human:ann", dismissed[0]["payload"]["note"])
        # loaded rows untouched, the chain intact, nothing left to discard
        self.assertEqual(self.count("orders"), 2)
        self.assertTrue(self.pm("audit", "verify", "--db", self.db, "--json").json()["intact"])
        r = self.pm("quarantine", "discard", "--table", "orders", "--db", self.db, "--yes")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("no quarantined row matches", r.stderr)
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0], 1)


def rec(i, **over):
    r = {"id": i, "email": "u%d@example.com" % i, "n": i}
    r.update(over)
    return r


class TestBulkDecisions(E2E):
    def setUp(self):
        super().setUp()
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(5)]), expect=EXIT_LOADED)
        bad = [rec(10, email=None), rec(11, coupon="C1"), rec(12, n=2.5), rec(13, n="x")]
        self.ingest("t", self.write("b.ndjson", bad), extra=("--policy", "review"), expect=3)
        # another table's proposal is not touched by --table t
        self.ingest("u", self.write("u1.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.ingest("u", self.write("u2.ndjson", [{"id": 2, "extra": "x"}]),
                    extra=("--policy", "review"), expect=3)

    def proposals(self, table):
        r = self.pm("proposals", "list", "--db", self.db, "--table", table, "--json")
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def test_approve_all_applies_each_one_by_one(self):
        ps = self.proposals("t")
        self.assertEqual(len(ps), 3)
        r = self.pm("proposals", "approve", "--table", "t", "--all", "--db", self.db,
                    "--actor", "alice")
        self.assertEqual(r.rc, 0, r)
        for p in ps:  # each its own apply, in id order
            self.assertIn("proposal %d applied by human:alice" % p["id"], r.stdout)
        self.assertEqual([int(x) for x in re.findall(r"proposal (\d+) applied", r.stdout)],
                         sorted(p["id"] for p in ps))
        self.assertTrue(r.stdout.endswith("approve t --all: 3 of 3 pending proposals of t applied, "
                                          "0 failed, 0 skipped\n"), r.stdout)
        self.assertEqual({p["state"] for p in self.proposals("t")}, {"applied"})
        self.assertEqual([p["state"] for p in self.proposals("u")], ["pending"])
        # applied and replayed: only the row that fits no repair waits
        self.assertEqual(sorted(x[0] for x in self.sql("SELECT id FROM t")),
                         [0, 1, 2, 3, 4, 10, 11, 12])
        acts = [(e["actor"], e["action"], e["subject"])
                for e in self.pm("audit", "log", "--db", self.db, "--json").json()]
        for p in ps:
            self.assertIn(("human:alice", "proposal.approved", "proposal/%d" % p["id"]), acts)
        self.assertGreaterEqual(sum(1 for a in acts if a[1] == "quarantine.replayed"), 3)
        self.assertTrue(self.pm("audit", "verify", "--db", self.db, "--json").json()["intact"])
        # nothing left to approve
        r = self.pm("proposals", "approve", "--table", "t", "--all", "--db", self.db)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("no pending proposal for table t", r.stderr)

    def test_reject_all_and_usage(self):
        r = self.pm("proposals", "reject", "--table", "t", "--all", "--db", self.db, "--actor", "bob")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(len(re.findall(r"(?m)^proposal \d+ rejected by human:bob$", r.stdout)), 3)
        self.assertIn("3 of 3 pending proposals of t rejected", r.stdout)
        self.assertEqual({p["state"] for p in self.proposals("t")}, {"rejected"})
        self.assertEqual([p["state"] for p in self.proposals("u")], ["pending"])
        self.assertNotIn("coupon", self.sql_columns("t"))
        for args, msg in ((["approve", "--all"], "proposals approve --all takes --table NAME and no ID"),
                          (["approve", "1", "--table", "t", "--all"],
                           "proposals approve --all takes --table NAME and no ID"),
                          (["list", "--all"], "--all goes with proposals approve or reject")):
            r = self.pm("proposals", *args, "--db", self.db)
            self.assertEqual(r.rc, EXIT_USAGE, r)
            self.assertTrue(r.stderr.startswith("pipemend: error: " + msg), r)


def option_names_for(command):
    return {name for name, _c, _s, _a, cmds in options_from_def() if "*" in cmds or command in cmds}


class TestManPageAndCompletion(E2E):
    def complete(self, *words):
        """What bash's completion offers for the command line words (the last
        one being completed), with this build's pipemend first on PATH."""
        script = self.pm("help", "--completion", "bash").stdout
        path = self.write("pipemend.bash", script)
        bindir = self.path("bin")
        os.makedirs(bindir, exist_ok=True)
        link = os.path.join(bindir, "pipemend")
        if not os.path.exists(link):
            os.symlink(os.path.abspath(BIN), link)
        p = subprocess.run(
            ["bash", "-c", 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pipemend; '
             'printf "%s\\n" "${COMPREPLY[@]}"', path, "pipemend"] + list(words),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp,
            env=dict(clean_env(None), PATH=bindir + os.pathsep + os.environ["PATH"]), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b"")
        return [w for w in p.stdout.decode().split("\n") if w]

    def test_completion_offers_commands_options_tables_and_ids(self):
        self.assertEqual(self.complete("qu"), ["quarantine"])
        self.assertEqual(self.complete("quarantine", ""), ["list", "show", "export", "discard", "replay"])
        self.assertEqual(self.complete("audit", ""), ["log", "verify", "anchor"])
        self.assertEqual(self.complete("ingest", "--format", ""), ["ndjson", "json", "csv", "tsv"])
        for c in commands_from_def():  # each command's options, from the same table as the parser
            self.assertEqual(set(self.complete(c, "--")), {"--" + o for o in option_names_for(c)}, c)
        # from the warehouse: its tables, and the ids of what it holds
        self.ingest("orders", self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.ingest("orders", self.write("b.ndjson", [{"id": "x"}, {"id": "y"}]), expect=3)
        self.ingest("people", self.write("c.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.assertEqual(sorted(self.complete("--db", self.db, "schema", "show", "--table", "")),
                         ["orders", "people"])
        self.assertEqual(self.complete("schema", "show", "--db=" + self.db, "--table", "p"), ["people"])
        self.assertEqual(sorted(self.complete("--db", self.db, "table", "reset", "")), ["orders", "people"])
        qids = sorted(str(i) for (i,) in self.sql("SELECT id FROM _pipemend_quarantine"))
        self.assertEqual(sorted(self.complete("--db", self.db, "quarantine", "show", "")), qids)
        iids = [str(i["id"]) for i in self.pm("incidents", "list", "--db", self.db, "--json").json()]
        self.assertEqual(sorted(self.complete("--db", self.db, "incidents", "dismiss", "")), sorted(iids))

    def test_man_page_documents_what_the_parser_takes(self):
        r = self.pm("help", "--man")
        self.assertEqual(r.rc, 0, r)
        man = r.stdout
        self.assertTrue(man.startswith(".\\\" pipemend.1"), man[:200])
        self.assertIn('.TH PIPEMEND 1 "" "pipemend ', man)
        sections = re.split(r"(?m)^\.SS ", man)[1:]
        self.assertEqual([s.split("\n", 1)[0] for s in sections], commands_from_def())
        for sec in sections:
            c = sec.split("\n", 1)[0]
            body = sec.split("\n.SH ", 1)[0]
            listed = set(re.findall(r'(?m)^\.BI? "(?:\\-\w, )?\\-\\-([a-z\\-]+)', body))
            listed = {n.replace("\\-", "-") for n in listed}
            self.assertEqual(listed, option_names_for(c), c)
        if shutil.which("groff"):
            p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=r.out,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual((p.returncode, p.stderr), (0, b""))

    def test_make_install_into_a_destdir(self):
        build = os.path.dirname(os.path.abspath(BIN))
        if os.path.dirname(build) != os.path.join(REPO, "build") or \
                os.path.basename(BIN) != "pipemend":
            self.skipTest("the binary under test is not one this repository's make built")
        dest = self.path("dest")
        p = subprocess.run(["make", "-C", REPO, "-o", os.path.relpath(os.path.abspath(BIN), REPO),
                            "BUILD=" + os.path.basename(build), "install", "DESTDIR=" + dest,
                            "PREFIX=/opt/pm"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        root = os.path.join(dest, "opt", "pm")
        binary = os.path.join(root, "bin", "pipemend")
        man = os.path.join(root, "share", "man", "man1", "pipemend.1")
        comp = os.path.join(root, "share", "bash-completion", "completions", "pipemend")
        self.assertEqual(oct(os.stat(binary).st_mode & 0o777), "0o755")
        for f in (man, comp):
            self.assertEqual(oct(os.stat(f).st_mode & 0o777), "0o644", f)
        v = subprocess.run([binary, "--version"], stdout=subprocess.PIPE)
        self.assertEqual(v.stdout, self.pm("--version").out)
        with open(man, "rb") as f:
            self.assertEqual(f.read(), self.pm("help", "--man").out)
        with open(comp, "rb") as f:
            self.assertEqual(f.read(), self.pm("help", "--completion", "bash").out)
        # nothing else, nowhere else
        found = sorted(os.path.relpath(os.path.join(d, f), dest)
                       for d, _, fs in os.walk(dest) for f in fs)
        self.assertEqual(found, ["opt/pm/bin/pipemend", "opt/pm/share/bash-completion/completions/pipemend",
                                 "opt/pm/share/man/man1/pipemend.1"])


class TestErrorsThatNameTheThing(E2E):
    def test_typed_op_takes_the_sql_type_names_and_names_an_unknown_one(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        ok, alias, bad = mcp_session(
            self,
            ("propose_fix", {"table": "t", "ops": [{"op": "add_column", "column": "a", "type": "int64"}]}),
            ("propose_fix", {"table": "t", "ops": [{"op": "add_column", "column": "b", "type": "BIGINT"},
                                                   {"op": "add_column", "column": "c",
                                                    "type": "character varying(20)"}]}),
            ("propose_fix", {"table": "t", "ops": [{"op": "add_column", "column": "d", "type": "bigintt"}]}))
        self.assertFalse(ok["isError"], ok)
        self.assertFalse(alias["isError"], alias)
        ops = json.loads(self.sql("SELECT ops FROM _pipemend_proposals WHERE id = ?",
                                  (alias["structuredContent"]["proposal"],))[0][0])
        self.assertEqual([(o["column"], o["type"]) for o in ops], [("b", "int64"), ("c", "varchar(20)")])
        self.assertTrue(bad["isError"], bad)
        text = bad["content"][0]["text"]
        self.assertIn('argument "ops[0]": unknown type "bigintt"; accepted: bool, int16, int32, int64, '
                      "float64, numeric, varchar(n), text", text)
        self.assertIn("bigint", text.split("accepted:")[1])


class TestLastRunReflectsReplays(E2E):
    def test_last_run_is_cleared_once_its_rows_are_replayed(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": 2, "coupon": "X"}]),
                    extra=("--policy", "review"), expect=3)
        def last():
            r = self.pm("status", "--db", self.db)
            self.assertEqual(r.rc, 0, r)
            row = [l for l in r.stdout.splitlines() if l.startswith("t ")][0]
            js = self.pm("status", "--db", self.db, "--json").json()[0]["last_run"]
            return row.split()[5], js["status"], js.get("rows_waiting")
        self.assertEqual(last(), ("quarantined", "quarantined", 1))
        r = self.pm("proposals", "approve", "--table", "t", "--all", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.count("t"), 2)
        # the run's record keeps what happened; status says its rows left quarantine
        self.assertEqual(last(), ("cleared", "quarantined", 0))


class TestConfigThatMatchesNothing(E2E):
    def test_a_typo_in_a_table_or_column_is_a_warning_and_a_status_finding(self):
        self.write_config("tables:\n"
                          "  weather:\n"
                          "    contract:\n"
                          "      columns:\n"
                          "        temp: {min: -100}\n"
                          "        tempp: {max: 60}\n"
                          "  weathr:\n"
                          "    policy: review\n")
        f = self.write("w.ndjson", [{"station": "A", "temp": 1.5}])
        # the first load of weather: the table it names is coming, no word about it
        r = self.ingest("weather", f, expect=EXIT_LOADED)
        self.assertIn("pipemend: warning: pipemend.yaml: tables: weathr is neither a table of the "
                      "warehouse nor one a pipeline loads into (a typo?); its policy applies to "
                      "nothing\n", r.stderr)
        self.assertNotIn("tables: weather is", r.stderr)
        r = self.pm("status", "--db", self.db)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("config: pipemend.yaml: tables: weathr is neither", r.stdout)
        self.assertIn("config: pipemend.yaml: the contract of weather names column tempp, which the "
                      "table does not have (rule tempp.max never applies)\n", r.stdout)
        self.assertNotIn("column temp,", r.stdout)
        r = self.pm("status", "--db", self.db, "--json")
        self.assertEqual([t["table"] for t in r.json()], ["weather"])
        self.assertIn("warning: pipemend.yaml: the contract of weather names column tempp", r.stderr)
        # fixed: nothing said
        self.write_config("tables:\n  weather:\n    contract:\n      columns:\n        temp: {min: -100}\n")
        r = self.pm("status", "--db", self.db)
        self.assertNotIn("config:", r.stdout)
        self.assertEqual(r.stderr, "")

    def test_a_broken_config_does_not_stop_a_command_that_reads_none(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.write_config("pipelines: [this is not\n")
        for args in (["status"], ["runs"], ["schema", "list"], ["quarantine", "list"],
                     ["incidents", "list"], ["proposals", "list"], ["audit", "log"]):
            r = self.pm(*(args + ["--db", self.db]))
            self.assertEqual(r.rc, 0, r)
            self.assertTrue(r.stderr.startswith("pipemend: warning: ignored: pipemend.yaml:2:1: "), r)
            self.assertIn("(%s reads nothing from it)" % " ".join(args[:1 if args[0] in
                                                                      ("runs", "schema") else 2]),
                          r.stderr)
        r = self.pm("status", env={"PIPEMEND_DB": self.db})
        self.assertEqual(r.rc, 0, r)
        # what reads it, what has no warehouse but from it, and what named it, stop
        for args in (["ingest", "--table", "t", self.path("a.ndjson"), "--db", self.db],
                     ["quarantine", "replay", "--table", "t", "--db", self.db],
                     ["audit", "verify", "--db", self.db],
                     ["status"],
                     ["status", "--db", self.db, "--config", "pipemend.yaml"]):
            r = self.pm(*args)
            self.assertEqual(r.rc, EXIT_USAGE, r)
            self.assertTrue(r.stderr.startswith("pipemend: error: pipemend.yaml:2:1: "), r)


class TestTableResetAndDrop(E2E):
    def setUp(self):
        super().setUp()
        self.ingest("t", self.write("a.ndjson", [rec(i) for i in range(3)]), expect=EXIT_LOADED)
        self.b = self.write("b.ndjson", [rec(10, coupon="C"), rec(11, n="x")])
        self.ingest("t", self.b, extra=("--policy", "review"), expect=3)
        self.ingest("other", self.write("o.ndjson", [{"id": 1}]), expect=EXIT_LOADED)

    def n(self, sql, *params):
        return self.sql(sql, params)[0][0]

    def events(self, action):
        return [e for e in self.pm("audit", "log", "--db", self.db, "--json").json()
                if e["action"] == action]

    def test_reset_starts_the_table_over_and_keeps_its_schema(self):
        version = self.pm("schema", "show", "--table", "t", "--db", self.db, "--json").json()["version"]
        r = self.pm("table", "reset", "t", "--db", self.db)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertIn("there is no terminal to ask on", r.stderr)
        self.assertEqual(self.count("t"), 3)
        r = self.pm("table", "reset", "t", "--db", self.db, "--yes", "--actor", "ann")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("table t reset by human:ann: 3 rows deleted, 2 quarantined rows discarded, 2 "
                      "checkpoints forgotten, 2 incidents dismissed, 1 proposals rejected", r.stdout)
        self.assertEqual(self.count("t"), 0)
        self.assertEqual(self.n("SELECT count(*) FROM _pipemend_quarantine WHERE table_name = 't'"), 0)
        self.assertEqual(self.n("SELECT count(*) FROM _pipemend_checkpoints WHERE table_name = 't'"), 0)
        self.assertEqual(self.n("SELECT count(*) FROM _pipemend_incidents WHERE table_name = 't' AND "
                                "state NOT IN ('resolved', 'dismissed')"), 0)
        self.assertEqual(self.n("SELECT count(*) FROM _pipemend_proposals WHERE table_name = 't' AND "
                                "state = 'pending'"), 0)
        self.assertEqual(self.pm("schema", "show", "--table", "t", "--db", self.db, "--json").json()["version"],
                         version)
        # the other table is untouched
        self.assertEqual(self.count("other"), 1)
        self.assertEqual(self.n("SELECT count(*) FROM _pipemend_checkpoints WHERE table_name = 'other'"), 1)
        # the same files load again, once
        self.ingest("t", self.path("a.ndjson"), expect=EXIT_LOADED)
        self.ingest("t", self.path("a.ndjson"), expect=EXIT_LOADED)
        self.assertEqual(self.count("t"), 3)
        ev = self.events("table.reset")
        self.assertEqual([(e["actor"], e["subject"], e["payload"]) for e in ev],
                         [("human:ann", "table/t", {"rows": 3, "quarantined": 2, "checkpoints": 2,
                                                     "incidents_dismissed": 2, "proposals_rejected": 1})])
        self.assertEqual(len([e for e in self.events("proposal.rejected") if e["actor"] == "human:ann"]), 1)
        self.assertTrue(self.pm("audit", "verify", "--db", self.db, "--json").json()["intact"])

    def test_drop_forgets_the_table_and_a_later_ingest_creates_it_anew(self):
        r = self.pm("table", "drop", "t", "--db", self.db, "--yes", "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()["dropped"], True)
        self.assertFalse(self.table_exists("t"))
        self.assertEqual(self.n("SELECT count(*) FROM _pipemend_schema_versions WHERE table_name = 't'"), 0)
        st = self.pm("status", "--db", self.db, "--json").json()
        self.assertEqual([s["table"] for s in st], ["other"])
        self.assertEqual(len(self.events("table.dropped")), 1)
        # a new table of that name, from scratch
        self.ingest("t", self.write("c.ndjson", [{"name": "fresh"}]), expect=EXIT_LOADED)
        s = self.pm("schema", "show", "--table", "t", "--db", self.db, "--json").json()
        self.assertEqual((s["version"], [c["name"] for c in s["columns"]]), (1, ["name"]))
        self.assertTrue(self.pm("audit", "verify", "--db", self.db, "--json").json()["intact"])

    def test_a_table_dropped_by_hand_can_be_dropped_not_reset(self):
        self.sql_exec('DROP TABLE "t"')
        r = self.pm("table", "reset", "t", "--db", self.db, "--yes")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("table t is missing from the database (dropped outside pipemend)", r.stderr)
        self.assertIn("hint: pipemend table drop NAME forgets it", r.stderr)
        r = self.pm("table", "drop", "t", "--db", self.db, "--yes")
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("missing", self.pm("status", "--db", self.db).stdout)
        for args, rc, msg in ((["table", "drop", "nope"], 1, 'pipemend does not know a table "nope"'),
                              (["table", "drop"], EXIT_USAGE, "table drop needs one table NAME"),
                              (["table", "empty", "t"], EXIT_USAGE,
                               'table needs "reset NAME" or "drop NAME"')):
            r = self.pm(*(args + ["--db", self.db, "--yes"]))
            self.assertEqual(r.rc, rc, r)
            self.assertIn(msg, r.stderr)


class TestConfirmOnATerminal(E2E):
    def ask(self, answer, *args):
        """Runs pipemend with a terminal on stdin and stderr, answers its
        question with answer; returns (exit code, what the terminal showed)."""
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([BIN] + list(args), stdin=slave, stderr=slave, stdout=subprocess.PIPE,
                             cwd=self.tmp, env=clean_env(None))
        os.close(slave)
        seen = b""
        while b"[y/N] " not in seen:
            chunk = os.read(master, 4096)
            self.assertTrue(chunk, seen)
            seen += chunk
        os.write(master, answer + b"\n")
        out, _ = p.communicate(timeout=60)
        try:
            while True:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                seen += chunk
        except OSError:
            pass
        os.close(master)
        return p.returncode, seen.decode("utf-8", "replace"), out.decode()

    def test_discard_and_reset_ask_on_a_terminal(self):
        self.ingest("t", self.write("a.ndjson", [{"id": 1}]), expect=EXIT_LOADED)
        self.ingest("t", self.write("b.ndjson", [{"id": "x"}]), expect=3)
        rc, tty, _ = self.ask(b"n", "quarantine", "discard", "--table", "t", "--db", self.db)
        self.assertEqual(rc, 1, tty)
        self.assertIn("discard 1 quarantined row of table t? This cannot be undone. [y/N] ", tty)
        self.assertIn("nothing done", tty)
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0], 1)
        rc, tty, out = self.ask(b"y", "quarantine", "discard", "--table", "t", "--db", self.db)
        self.assertEqual(rc, 0, tty)
        self.assertIn("discarded 1 quarantined row", out)
        self.assertEqual(self.sql("SELECT count(*) FROM _pipemend_quarantine")[0][0], 0)
        rc, tty, out = self.ask(b"y", "table", "reset", "t", "--db", self.db)
        self.assertEqual(rc, 0, tty)
        self.assertIn("reset table t: delete its 1 rows", tty)
        self.assertEqual(self.count("t"), 0)
