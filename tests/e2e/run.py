#!/usr/bin/env python3
"""Runs pipemend's end-to-end tests against one binary.

    tests/e2e/run.py BINARY [--backend sqlite|pg] [PATTERN...]

Discovers tests/e2e/test_*.py, passes BINARY to them through the
PIPEMEND_BIN environment variable, prints unittest's report, and ends with
one line `e2e: N passed, N failed` (plus `, N skipped` when some were
skipped). PATTERNs (optional) select tests by name as `unittest -k` does.
Exits 0 when nothing failed, 1 otherwise, 2 on a usage error.

The backend (also PM_E2E_BACKEND=sqlite|pg; the option wins) is the
warehouse every test gets:
  sqlite  (default) a SQLite file in the test's temporary directory;
  pg      a fresh database on a PostgreSQL server that this run starts
          once (tests/pg/pgserver.py: initdb into a temporary directory, a
          free loopback port, stopped and removed at the end whatever
          happens), created for each test and dropped after it. With
          PM_E2E_PG_ADMIN_URL=postgresql://USER@HOST:PORT/DB the run uses
          that server instead (USER must be allowed to CREATE DATABASE).
          Needs psycopg2 (Debian's python3-psycopg2); when the python3 that
          runs this has none and Debian's /usr/bin/python3 has it, the run
          starts again under that one.
"""
import os
import sys
import time
import unittest

BACKENDS = ("sqlite", "pg")
DEBIAN_PYTHON = "/usr/bin/python3"


def usage(argv0):
    sys.stderr.write("usage: %s BINARY [--backend sqlite|pg] [PATTERN...]\n" % argv0)
    return 2


def parse(argv):
    """(binary, backend, patterns) or None on a usage error."""
    backend = os.environ.get("PM_E2E_BACKEND") or "sqlite"
    rest = []
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            return None
        if a == "--backend":
            if i + 1 >= len(args):
                return None
            backend = args[i + 1]
            i += 2
            continue
        if a.startswith("--backend="):
            backend = a.split("=", 1)[1]
        else:
            rest.append(a)
        i += 1
    if not rest or backend not in BACKENDS:
        if backend not in BACKENDS:
            sys.stderr.write("e2e: unknown backend %r (sqlite or pg)\n" % backend)
        return None
    return rest[0], backend, rest[1:]


def ensure_psycopg2(argv):
    """Imports psycopg2, or starts the run again under Debian's python3 when
    that one has it (pyenv and the like do not see Debian's packages)."""
    try:
        import psycopg2  # noqa: F401
        return
    except ImportError:
        pass
    me = os.path.realpath(sys.executable)
    if (not os.environ.get("PM_E2E_REEXEC") and os.path.exists(DEBIAN_PYTHON)
            and os.path.realpath(DEBIAN_PYTHON) != me):
        import subprocess
        ok = subprocess.run([DEBIAN_PYTHON, "-c", "import psycopg2"],
                            stderr=subprocess.DEVNULL).returncode == 0
        if ok:
            sys.stderr.write("e2e: psycopg2 is not importable from %s; running under %s\n"
                             % (sys.executable, DEBIAN_PYTHON))
            sys.stdout.flush()
            sys.stderr.flush()
            os.environ["PM_E2E_REEXEC"] = "1"
            os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(argv[0])] + argv[1:])
    sys.stderr.write("e2e: the pg backend needs psycopg2: apt-get install python3-psycopg2 "
                     "(or sh scripts/install-test-deps-pg.sh)\n")
    sys.exit(2)


def main(argv):
    parsed = parse(argv)
    if parsed is None:
        return usage(argv[0])
    binary, backend, patterns = parsed
    binary = os.path.abspath(binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        sys.stderr.write("e2e: %s is not an executable file (build it first: make)\n" % parsed[0])
        return 2
    if backend == "pg":
        ensure_psycopg2(argv)
    os.environ["PIPEMEND_BIN"] = binary
    os.environ["PM_E2E_BACKEND"] = backend
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import e2e_util

    e2e_util.BIN = binary
    e2e_util.BACKEND = backend

    if backend == "pg":
        admin = os.environ.get("PM_E2E_PG_ADMIN_URL")
        if admin:
            e2e_util.PG = e2e_util.PgTarget(admin, "the server at %s" % admin)
            return run(binary, backend, patterns, here)
        sys.path.insert(0, os.path.join(os.path.dirname(here), "pg"))
        import pgserver

        keep = bool(os.environ.get("PIPEMEND_E2E_KEEP"))
        try:
            server = pgserver.PgServer(keep=keep, quiet=False)
            server.start()
        except pgserver.PgServerError as e:
            sys.stderr.write("e2e: cannot start PostgreSQL: %s\n" % e)
            return 1
        try:
            e2e_util.PG = e2e_util.PgTarget(
                server.url("postgres"), "PostgreSQL %s at 127.0.0.1:%d" % (server.version, server.port))
            return run(binary, backend, patterns, here)
        except KeyboardInterrupt as e:
            sys.stdout.flush()
            sys.stderr.write("\ne2e: interrupted; stopping the PostgreSQL server\n")
            return 128 + getattr(e, "signum", 2)
        finally:
            e2e_util.PG.close()
            server.stop()
    return run(binary, backend, patterns, here)


def run(binary, backend, patterns, here):
    import e2e_util

    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = ["*%s*" % p if "*" not in p else p for p in patterns]
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    t0 = time.time()
    result = runner.run(suite)
    sys.stdout.flush()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    line = "e2e: %d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    where = "SQLite" if backend == "sqlite" else e2e_util.PG.describe
    print("(%.1f s against %s, warehouse %s)" % (time.time() - t0, binary, where))
    print(line)
    if result.testsRun == 0:
        sys.stderr.write("e2e: no tests ran\n")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
