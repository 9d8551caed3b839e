"""Shared helpers for pipemend's end-to-end tests.

The binary under test comes from the PIPEMEND_BIN environment variable (set
by tests/e2e/run.py). Every test gets its own temporary directory, which is
also the working directory of every pipemend it starts (so no stray
pipemend.yaml or PIPEMEND_DB from the caller's environment leaks in), and its
own warehouse: `sqlite:TMP/w.db` on the SQLite backend (the default), or a
fresh database e2e_N on the PostgreSQL server that run.py started for the
run (`--backend pg`), dropped when the test ends.

Tests look at the warehouse through helpers that work on both backends:
self.sql(query, params) and self.sql_exec(stmt, params) take `?`
placeholders and return what Python's sqlite3 returns for the same query on
SQLite (see PG_TYPES below for how PostgreSQL's values are mapped);
self.count, self.sql_columns, self.column_types, self.table_names,
self.table_exists and self.warehouse_exists replace sqlite_master and
PRAGMA. On PostgreSQL the connection's search_path is `pipemend, public`, so
_pipemend_* (schema pipemend) and data tables (schema public) are named as
on SQLite. A test that cannot be portable says so with @sqlite_only(why) or
@pg_only(why).

Set PIPEMEND_E2E_KEEP=1 to keep the temporary directories (and, on
PostgreSQL, the databases and the server's directory) for inspection.
"""
import itertools
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pg"))
import pgserver  # noqa: E402  (tests/pg: the PostgreSQL servers tests start)

BIN = os.environ.get("PIPEMEND_BIN", "")
# "sqlite" or "pg"; run.py sets PM_E2E_BACKEND before it imports this module.
BACKEND = os.environ.get("PM_E2E_BACKEND", "sqlite") or "sqlite"
# On pg: the server (a PgTarget) that run.py set up for the whole run.
PG = None
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
    # nor libpq's defaults (PGHOST, PGOPTIONS, PGPASSWORD...): the warehouse
    # is the --db URL a test gives, nothing else
    for k in [k for k in env if k.startswith("PG")]:
        del env[k]
    # ASan: keep reports readable; leaks are reported (and fail the test).
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if extra:
        env.update(extra)
    return env


# ---- backends ------------------------------------------------------------------


# The incidents' links to quarantined rows as (incident, qrow) pairs, a
# subquery for the tests' SQL: the catalog keeps them as ranges of row ids
# (_pipemend_incident_ranges), and a row is linked when it is in
# quarantine and its id lies in a range of the incident.
LINKS = ("(SELECT lr.incident AS incident, lq.id AS qrow FROM _pipemend_incident_ranges lr "
         "JOIN _pipemend_quarantine lq ON lq.id >= lr.first_qrow AND lq.id <= lr.last_qrow)")


def sqlite_only(why):
    """Skips the test (or class) on any backend but SQLite, saying why: for
    what is about SQLite itself (its files, its demo warehouse)."""
    if not why:
        raise ValueError("sqlite_only needs the reason")
    return unittest.skipUnless(BACKEND == "sqlite", "SQLite only: %s" % why)


def pg_only(why):
    """Skips the test (or class) unless the backend is PostgreSQL."""
    if not why:
        raise ValueError("pg_only needs the reason")
    return unittest.skipUnless(BACKEND == "pg", "PostgreSQL only: %s" % why)


def own_pg_server(test, dbname="w"):
    """A PostgreSQL server of the test's own (tests/pg/pgserver.py), for
    tests that restart it, fail it over or log what it runs, so no other
    test's database is disturbed: started, stopped at the test's cleanup,
    with database dbname. Returns (server, URL of dbname)."""
    srv = pgserver.PgServer(quiet=True)
    srv.start()
    test.addCleanup(srv.stop)
    srv.psql("CREATE DATABASE %s" % dbname)
    return srv, srv.url(dbname)


def import_psycopg2():
    try:
        import psycopg2
        import psycopg2.extensions
    except ImportError:
        raise RuntimeError("the pg backend needs psycopg2 (Debian: apt-get install "
                           "python3-psycopg2, or sh scripts/install-test-deps-pg.sh); it is "
                           "not importable from %s" % sys.executable)
    return psycopg2


class PgTarget:
    """A PostgreSQL server the run creates its test databases on: the one
    run.py started (tests/pg/pgserver.py), or PM_E2E_PG_ADMIN_URL's. Its
    admin connection (autocommit) creates e2e_<pid>_<n> and drops it WITH
    (FORCE), so a pipemend a test killed cannot keep it alive."""

    def __init__(self, admin_url, describe):
        self.admin_url = admin_url
        self.describe = describe
        self._admin = None
        self._n = itertools.count(1)

    def url(self, dbname):
        base, _, _ = self.admin_url.rpartition("/")
        return "%s/%s" % (base, dbname)

    def admin(self):
        if self._admin is None or self._admin.closed:
            self._admin = import_psycopg2().connect(self.admin_url)
            self._admin.autocommit = True
        return self._admin

    def create_database(self):
        name = "e2e_%d_%d" % (os.getpid(), next(self._n))
        with self.admin().cursor() as c:
            c.execute('CREATE DATABASE "%s"' % name)
        return name

    def drop_database(self, name):
        with self.admin().cursor() as c:
            c.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

    def close(self):
        if self._admin is not None and not self._admin.closed:
            self._admin.close()
        self._admin = None


# How PostgreSQL's values come back from self.sql: as Python's sqlite3 gives
# what pipemend's SQLite backend stores for the same logical type, so that
# one assertion holds on both.
#   bool                  -> 1 / 0         (SQLite: INTEGER)
#   numeric               -> str, as PostgreSQL prints it (SQLite: TEXT, so no
#                            digit is lost); cast an aggregate that PostgreSQL
#                            types numeric (sum of bigint, avg) with ::bigint
#   date                  -> "2026-11-01"  (SQLite: the text)
#   timestamp             -> "2026-11-01T10:00:00[.ffffff]"
#   timestamptz           -> "2026-11-01T10:00:00[.ffffff]Z" (the session is UTC)
#                            SQLite keeps the feed's text as it came, but a
#                            leap second, an offset or a fraction past
#                            microseconds is stored as PostgreSQL gives it
#                            back (UTC with Z); the two agree when the feed
#                            wrote ISO 8601 with seconds
#   json, jsonb           -> str, the text (SQLite: TEXT); compare json.loads()
#   bytea                 -> bytes         (SQLite: BLOB)
#   int2/4/8, float8, text, varchar: as psycopg2 gives them (int, float, str)
def _pg_bool(v, cur):
    return None if v is None else int(v == "t")


def _pg_text(v, cur):
    return v


def _pg_timestamp(v, cur):
    if v is None:
        return None
    return v.replace(" ", "T", 1)


def _pg_timestamptz(v, cur):
    if v is None:
        return None
    v = v.replace(" ", "T", 1)
    m = re.search(r"([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$", v)
    if m and m.group(0) in ("+00", "-00", "+00:00"):
        return v[:m.start()] + "Z"
    if m and not m.group(3):
        return v[:m.start()] + "%s%s:00" % (m.group(1), m.group(2))
    return v


PG_TYPES = (
    ((16,), "PM_BOOL", _pg_bool),
    ((1700,), "PM_NUMERIC", _pg_text),
    ((1082,), "PM_DATE", _pg_text),
    ((1114,), "PM_TIMESTAMP", _pg_timestamp),
    ((1184,), "PM_TIMESTAMPTZ", _pg_timestamptz),
    ((114, 3802), "PM_JSON", _pg_text),
)


def pg_connect(url):
    psycopg2 = import_psycopg2()
    con = psycopg2.connect(url, options="-c search_path=pipemend,public -c TimeZone=UTC "
                                        "-c DateStyle=ISO,YMD -c client_encoding=UTF8")
    con.autocommit = True
    for oids, name, fn in PG_TYPES:
        psycopg2.extensions.register_type(psycopg2.extensions.new_type(oids, name, fn), con)
    return con


def pg_placeholders(query, params):
    """query with sqlite3's `?` placeholders for psycopg2: `?` outside
    string literals and quoted names becomes %s and every % doubles (psycopg2
    formats the whole string). Without params the query goes as written."""
    if not params:
        return query
    out = []
    quote = None
    for i, ch in enumerate(query):
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            if i + 1 < len(query) and query[i + 1].isdigit():
                raise ValueError("numbered placeholders (?1) are SQLite's only: %r" % query)
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out)


def _pg_value(v):
    return bytes(v) if isinstance(v, memoryview) else v


class E2E(unittest.TestCase):
    """Base class: a temp dir, a warehouse, and helpers to drive the CLI."""

    maxDiff = 4000

    def setUp(self):
        if not BIN:
            self.fail("PIPEMEND_BIN is not set; run through tests/e2e/run.py BINARY")
        keep = bool(os.environ.get("PIPEMEND_E2E_KEEP"))
        self.tmp = tempfile.mkdtemp(prefix="pm-e2e-")
        if not keep:
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.backend = BACKEND
        self._close_con()
        if BACKEND == "sqlite":
            self.dbpath = os.path.join(self.tmp, "w.db")
            self.db = "sqlite:" + self.dbpath
            self.DBError = sqlite3.Error
        elif BACKEND == "pg":
            if PG is None:
                self.fail("the pg backend needs its server; run through "
                          "tests/e2e/run.py BINARY --backend pg")
            self.dbpath = None  # a test that reaches for the SQLite file is not portable
            self.dbname = PG.create_database()
            self.db = PG.url(self.dbname)
            self.DBError = import_psycopg2().Error
            # cleanups run last-in first-out: the connection closes first
            if not keep:
                self.addCleanup(PG.drop_database, self.dbname)
            self.addCleanup(self._close_con)
        else:
            self.fail("unknown backend %r (sqlite or pg)" % BACKEND)

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

    # ---- the warehouse, on either backend ---------------------------------------

    def _close_con(self):
        con = getattr(self, "_con", None)
        self._con = None
        if con is not None and not con.closed:
            con.close()

    def _pg(self):
        """The test's own connection to its database (autocommit: it holds
        no lock between statements that could block pipemend)."""
        if self._con is None or self._con.closed:
            self._con = pg_connect(self.db)
        return self._con

    def sql(self, query, params=()):
        """Rows of query (a list of tuples), `?` placeholders for params."""
        if self.backend == "pg":
            with self._pg().cursor() as c:
                c.execute(pg_placeholders(query, params), tuple(params) or None)
                if c.description is None:
                    return []
                return [tuple(_pg_value(v) for v in row) for row in c.fetchall()]
        con = sqlite3.connect(self.dbpath)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def sql_exec(self, stmt, params=()):
        """Runs one statement that changes the warehouse and commits it (the
        way a person at a SQL prompt would); returns the rows it touched."""
        if self.backend == "pg":
            with self._pg().cursor() as c:
                c.execute(pg_placeholders(stmt, params), tuple(params) or None)
                return c.rowcount
        con = sqlite3.connect(self.dbpath)
        try:
            n = con.execute(stmt, params).rowcount
            con.commit()
            return n
        finally:
            con.close()

    def sql_script(self, *stmts):
        """Runs statements in one transaction and commits them: a person's
        change at the backend's console (DDL included)."""
        if self.backend == "pg":
            con = pg_connect(self.db)
            try:
                con.autocommit = False
                with con.cursor() as c:
                    for st in stmts:
                        c.execute(st)
                con.commit()
            finally:
                con.close()
            return
        con = sqlite3.connect(self.dbpath)
        try:
            con.executescript("BEGIN;\n" + ";\n".join(stmts) + ";\nCOMMIT;")
        finally:
            con.close()

    def sql_ok(self, query, params=()):
        """The first value of query's first row, or 0 when the query fails
        (say, the table does not exist yet) or returns nothing."""
        try:
            rows = self.sql(query, params)
        except self.DBError:
            return 0
        return rows[0][0] if rows else 0

    def count(self, table):
        return self.sql('SELECT count(*) FROM "%s"' % table.replace('"', '""'))[0][0]

    def warehouse_exists(self):
        """Whether the warehouse is there to be queried: the SQLite file was
        made; a PostgreSQL test database always is."""
        if self.backend == "pg":
            return True
        return os.path.exists(self.dbpath)

    def table_names(self):
        """Every table, data and _pipemend_* alike, sorted (SQLite: from
        sqlite_master, less its own sqlite_*; PostgreSQL: schemas public and
        pipemend)."""
        if self.backend == "pg":
            q = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname IN ('public', 'pipemend') AND c.relkind IN ('r', 'p') "
                 "ORDER BY c.relname")
        else:
            q = ("SELECT name FROM sqlite_master WHERE type = 'table' "
                 "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        if not self.warehouse_exists():
            return []
        return [r[0] for r in self.sql(q)]

    def table_exists(self, table):
        return table in self.table_names()

    def column_types(self, table):
        """{column: declared type} in table order, as the backend declares
        it (SQLite: INTEGER, REAL, TEXT...; PostgreSQL: format_type(), e.g.
        integer, character varying(32), timestamp with time zone)."""
        quoted = '"%s"' % table.replace('"', '""')
        if self.backend == "pg":
            rows = self.sql("SELECT a.attname, format_type(a.atttypid, a.atttypmod) "
                            "FROM pg_attribute a WHERE a.attrelid = ?::regclass AND a.attnum > 0 "
                            "AND NOT a.attisdropped ORDER BY a.attnum", (quoted,))
        else:
            rows = [(r[1], r[2]) for r in self.sql("PRAGMA table_info(%s)" % quoted)]
        return dict(rows)

    def sql_columns(self, table):
        """The table's column names, in table order."""
        return list(self.column_types(table))

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


def options_from_def():
    """[(name, code, short, arg, commands)] from src/cli/options.def;
    commands is a set of names, or {"*"} for every command."""
    with open(os.path.join(REPO, "src", "cli", "options.def")) as f:
        text = f.read()
    macros = dict(re.findall(r'#define (\w+)\s*\\?\s*\n?\s*"([^"]*)"', text))
    out = []
    for m in re.finditer(r'^OPT\("([a-z-]+)",\s*\'(.)\',\s*(NULL|"[^"]*"),\s*(NULL|"[^"]*"),\s*'
                         r'(\w+|"[^"]*")', text, re.M):
        name, code, short, arg, cmds = m.groups()
        cmds = macros[cmds] if not cmds.startswith('"') else cmds.strip('"')
        out.append((name, code, None if short == "NULL" else short.strip('"'),
                    None if arg == "NULL" else arg.strip('"'), set(cmds.split())))
    return out
