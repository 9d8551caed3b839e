"""Shared helpers for pipemend's end-to-end tests.

The binary under test comes from the PIPEMEND_BIN environment variable (set
by tests/e2e/run.py). Every test gets its own temporary directory, which is
also the working directory of every pipemend it starts (so no stray
pipemend.yaml or PIPEMEND_DB from the caller's environment leaks in), and its
own warehouse `sqlite:TMP/w.db`.

Set PIPEMEND_E2E_KEEP=1 to keep the temporary directories for inspection.
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

BIN = os.environ.get("PIPEMEND_BIN", "")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

EXIT_LOADED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_QUARANTINED = 3

# What the sanitizers print when they find something. A sanitizer report is
# a bug whatever the exit code says.
SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)|"
    r"runtime error:|SUMMARY: UndefinedBehaviorSanitizer"
)


class Result:
    def __init__(self, args, rc, out, err):
        self.args = args
        self.rc = rc
        self.out = out  # bytes
        self.err = err  # bytes

    @property
    def stdout(self):
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "pipemend %s -> exit %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(self.args),
            self.rc,
            self.stdout[-3000:],
            self.stderr[-3000:],
        )


def clean_env(extra=None):
    env = dict(os.environ)
    env.pop("PIPEMEND_DB", None)
    # ASan: keep reports readable; leaks are reported (and fail the test).
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if extra:
        env.update(extra)
    return env


class E2E(unittest.TestCase):
    """Base class: a temp dir, a warehouse, and helpers to drive the CLI."""

    maxDiff = 4000

    def setUp(self):
        if not BIN:
            self.fail("PIPEMEND_BIN is not set; run through tests/e2e/run.py BINARY")
        self.tmp = tempfile.mkdtemp(prefix="pm-e2e-")
        if not os.environ.get("PIPEMEND_E2E_KEEP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.dbpath = os.path.join(self.tmp, "w.db")
        self.db = "sqlite:" + self.dbpath

    # ---- files --------------------------------------------------------

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, content, append=False):
        """Writes content (str, bytes, or a list of records / lines) to
        TMP/name and returns its path. A list of dicts becomes NDJSON."""
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if isinstance(content, list):
            parts = []
            for item in content:
                if isinstance(item, (dict, list)):
                    item = json.dumps(item)
                if isinstance(item, str):
                    item = item.encode("utf-8")
                parts.append(item + b"\n")
            content = b"".join(parts)
        if isinstance(content, str):
            content = content.encode("utf-8")
        with open(p, "ab" if append else "wb") as f:
            f.write(content)
        return p

    def write_config(self, text):
        return self.write("pipemend.yaml", text)

    # ---- running pipemend --------------------------------------------------

    def pm(self, *args, input=None, env=None, cwd=None, timeout=300, check_sanitizer=True):
        args = [str(a) for a in args]
        p = subprocess.run(
            [BIN] + args,
            input=input if input is None or isinstance(input, bytes) else input.encode(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd or self.tmp,
            env=clean_env(env),
            timeout=timeout,
        )
        r = Result(args, p.returncode, p.stdout, p.stderr)
        if check_sanitizer:
            m = SANITIZER_RE.search(r.stderr)
            if m:
                self.fail("sanitizer report from pipemend %s:\n%s" % (" ".join(args), r.stderr[-6000:]))
            self.assertGreaterEqual(r.rc, 0, "pipemend died of signal %d: %r" % (-r.rc, r))
        return r

    def ingest(self, table, *paths, fmt=None, pipeline=None, input=None, expect=None, extra=()):
        args = ["ingest", "--db", self.db, "--table", table]
        if fmt:
            args += ["--format", fmt]
        if pipeline:
            args += ["--pipeline", pipeline]
        args += list(extra)
        args += list(paths)
        r = self.pm(*args, input=input)
        if expect is not None:
            self.assertEqual(r.rc, expect, "unexpected exit code: %r" % r)
        return r

    def runs(self, *filters):
        r = self.pm("runs", "--db", self.db, "--json", "--limit", "100000", *filters)
        self.assertEqual(r.rc, 0, r)
        return r.json()

    def last_run(self, *filters):
        runs = self.runs(*filters)
        self.assertTrue(runs, "no runs recorded")
        return runs[0]  # newest first

    def quarantine(self, *filters):
        r = self.pm("quarantine", "list", "--db", self.db, "--json", "--limit", "1000000", *filters)
        self.assertEqual(r.rc, 0, r)
        q = r.json()
        for e in q:
            for k in ("id", "run_id", "table", "kinds", "message", "raw"):
                self.assertIn(k, e, "quarantine entry lacks %s: %r" % (k, e))
        return q

    def schema(self, table):
        """{column name: (type, nullable)} in table order, from schema show."""
        r = self.pm("schema", "show", "--table", table, "--db", self.db, "--json")
        self.assertEqual(r.rc, 0, r)
        s = r.json()
        self.assertEqual(s["table"], table)
        return {c["name"]: (c["type"], c["nullable"]) for c in s["columns"]}

    def sql(self, query, params=()):
        con = sqlite3.connect(self.dbpath)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def count(self, table):
        return self.sql('SELECT count(*) FROM "%s"' % table.replace('"', '""'))[0][0]

    def sql_columns(self, table):
        return [r[1] for r in self.sql('PRAGMA table_info("%s")' % table.replace('"', '""'))]

    # ---- assertions ----------------------------------------------------------

    def raw_bytes(self, q):
        """The original bytes of a quarantine entry (raw_hex when not UTF-8)."""
        if q.get("raw_hex") is not None:
            return bytes.fromhex(q["raw_hex"])
        return q["raw"].encode("utf-8")

    def assert_invariants(self, table, records):
        """rows_read == rows_loaded + rows_quarantined for every run of the
        table, and table rows + quarantined rows == records in the input."""
        for run in self.runs("--table", table):
            for k in ("id", "pipeline", "table", "status", "started_at", "finished_at",
                      "rows_read", "rows_loaded", "rows_quarantined"):
                self.assertIn(k, run)
            self.assertEqual(
                run["rows_read"], run["rows_loaded"] + run["rows_quarantined"],
                "run %d breaks rows_read == rows_loaded + rows_quarantined: %r" % (run["id"], run))
        q = self.quarantine("--table", table)
        n = self.count(table)
        self.assertEqual(n + len(q), records,
                         "table %s has %d rows and %d quarantined, input had %d records"
                         % (table, n, len(q), records))

    def find_q(self, q, kind):
        """Quarantine entries with the given finding kind."""
        return [e for e in q if kind in e["kinds"]]

    def assert_quarantined(self, q, kind, raw, exact_kinds=None):
        """Exactly one entry whose raw bytes are raw; it has finding kind.
        Returns the entry."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        hits = [e for e in q if self.raw_bytes(e) == raw]
        self.assertEqual(len(hits), 1, "expected one quarantined row with raw %r; quarantine: %s"
                         % (raw[:200], json.dumps([(e["kinds"], e["raw"][:120]) for e in q], indent=1)))
        e = hits[0]
        self.assertIn(kind, e["kinds"], "row %r: kinds %r, message %r" % (raw[:200], e["kinds"], e["message"]))
        if exact_kinds is not None:
            self.assertEqual(sorted(e["kinds"]), sorted(exact_kinds), e)
        return e


def commands_from_def():
    """Command names from src/cli/commands.def."""
    with open(os.path.join(REPO, "src", "cli", "commands.def")) as f:
        return re.findall(r"^CMD\((\w+),", f.read(), re.M)
