#!/usr/bin/env python3
"""Runs pipemend's end-to-end tests against one binary.

    tests/e2e/run.py BINARY [PATTERN...]

Discovers tests/e2e/test_*.py, passes BINARY to them through the
PIPEMEND_BIN environment variable, prints unittest's report, and ends with
one line `e2e: N passed, N failed` (plus `, N skipped` when some were
skipped). PATTERNs (optional) select tests by name as `unittest -k` does.
Exits 0 when nothing failed, 1 otherwise, 2 on a usage error.
"""
import os
import sys
import time
import unittest


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: %s BINARY [PATTERN...]\n" % argv[0])
        return 2
    binary = os.path.abspath(argv[1])
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        sys.stderr.write("e2e: %s is not an executable file (build it first: make)\n" % argv[1])
        return 2
    os.environ["PIPEMEND_BIN"] = binary
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import e2e_util

    e2e_util.BIN = binary

    loader = unittest.TestLoader()
    if len(argv) > 2:
        loader.testNamePatterns = ["*%s*" % p if "*" not in p else p for p in argv[2:]]
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
    print("(%.1f s against %s)" % (time.time() - t0, binary))
    print(line)
    if result.testsRun == 0:
        sys.stderr.write("e2e: no tests ran\n")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
