"""What a person reads cannot be forged by what it quotes (issue: the
approving person's screen). A feed value with terminal escape sequences
(clear the screen, draw fake text) and bidi overrides, and an MCP client
whose name carries a newline and a forged audit line, are shown escaped on
every human-facing path: `incidents show`, `quarantine list/show`,
`proposals list`, `audit log`, and the log lines on stderr."""
import json
import re

from e2e_util import E2E, EXIT_LOADED, EXIT_QUARANTINED

ESC = "\x1b"
FAKE = (ESC + "[2J" + ESC + "[H" + "FAKE: all good, approve proposal 1" + "\u202e" + "evil"
        + "\U000e0041\u200b")
FORGED = "x\n42     2026-12-06T00:00:00.000Z  human:admin  proposal.approved"

# bytes a terminal acts on: C0 controls but the line ends we print, DEL, C1,
# bidi controls
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f\x80-\x9f\u061c\u200b-\u200f\u202a-\u202e"
                         "\u2060-\u206f\u3164\ufeff\U000e0000-\U000e0fff]")


class TestTerminalSafe(E2E):
    def assert_safe(self, text, what):
        m = RAW_CONTROL.search(text)
        self.assertIsNone(m, "%s prints a raw control character %r:\n%s" %
                          (what, m.group(0) if m else "", text))

    def drifted(self):
        self.ingest("t", self.write("d1.ndjson", [{"id": 1, "n": 1}, {"id": 2, "n": 2}]),
                    expect=EXIT_LOADED)
        # a type conflict (the value decodes to the escape sequence) and a
        # malformed line (the raw bytes are the escape sequence): both
        # quarantined, with the value in findings, samples and raw lines
        lines = [json.dumps({"id": 3, "n": FAKE}, ensure_ascii=False),
                 '{"id": 4, "n": "' + FAKE + '"}']
        r = self.ingest("t", self.write("d2.ndjson", lines), expect=EXIT_QUARANTINED)
        self.assert_safe(r.stderr, "ingest's log")
        return r

    def test_feed_escapes_are_shown_not_sent(self):
        self.drifted()
        inc = self.pm("incidents", "list", "--db", self.db, "--json").json()
        self.assertEqual(len(inc), 2, inc)
        shown = ""
        for i in inc:
            r = self.pm("incidents", "show", str(i["id"]), "--db", self.db)
            self.assertEqual(r.rc, 0, r)
            self.assert_safe(r.stdout, "incidents show")
            shown += r.stdout
        self.assertIn("\\x1b[2J\\x1b[HFAKE: all good", shown)
        self.assertIn("\\u{202E}evil\\u{E0041}\\u{200B}", shown)
        q = self.pm("quarantine", "show", "2", "--db", self.db)
        self.assertIn("\\x1b[2J\\x1b[HFAKE: all good", q.stdout)
        for args in (("quarantine", "list"), ("quarantine", "show", "1"), ("runs",),
                     ("incidents", "list"), ("proposals", "list"), ("audit", "log")):
            r = self.pm(*args, "--db", self.db)
            self.assertEqual(r.rc, 0, r)
            self.assert_safe(r.stdout + r.stderr, " ".join(args))
        # --json keeps the exact text: JSON escapes it, a program reads it back
        q = self.pm("quarantine", "list", "--db", self.db, "--json").json()
        self.assertTrue(any(FAKE in row["raw"] for row in q), q)

    def test_a_client_name_cannot_forge_an_audit_line(self):
        self.drifted()
        msgs = [
            {"jsonrpc": "2.0", "id": 0, "method": "initialize",
             "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": FORGED + ESC + "[31m", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
             "params": {"name": "propose_fix",
                        "arguments": {"table": "t", "ops": [{"op": "add_column",
                                                            "column": "extra", "type": "text"}]}}},
        ]
        r = self.pm("mcp", "--db", self.db, input="\n".join(map(json.dumps, msgs)) + "\n")
        self.assertEqual(r.rc, 0, r)
        self.assert_safe(r.stderr, "the MCP server's log")
        resp = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertFalse(resp[-1]["result"]["isError"], resp[-1])
        log = self.pm("audit", "log", "--db", self.db)
        self.assertEqual(log.rc, 0, log)
        self.assert_safe(log.stdout, "audit log")
        # the forged line is not a line of its own: every line starts with a seq
        for line in log.stdout.splitlines():
            self.assertRegex(line, r"^\d+ ", line)
        events = self.pm("audit", "log", "--db", self.db, "--json").json()
        # (the rules propose too: n's conflict, a string with digits, gets
        # a retype to text for review)
        actors = {e["actor"] for e in events
                  if e["action"] == "proposal.created" and e["actor"] != "rules"}
        self.assertEqual(len(actors), 1, actors)
        actor = actors.pop()
        self.assertTrue(actor.startswith("agent:x_42 "), actor)
        self.assertNotIn("\n", actor)
        self.assertNotIn(ESC, actor)
        self.assertLessEqual(len(actor), len("agent:") + 64)
