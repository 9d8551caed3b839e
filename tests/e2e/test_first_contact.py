"""A new user's first contact with the command line (issue 16): options
where people type them, help that fits the command, no warehouse created by
a command that only reads, a table name from the file's name."""
import re
import shlex

from e2e_util import (E2E, EXIT_LOADED, EXIT_USAGE, commands_from_def, options_from_def)

# a value each option accepts, for the parser to get past it
VALUES = {"limit": "5", "run": "1"}


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
            self.assertLessEqual(set(listed) - {"config", "quiet", "verbose", "help"}, in_usage,
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
