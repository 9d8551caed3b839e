#!/bin/sh
# tests/pg/with-server.sh PROGRAM... - runs each PROGRAM with PM_TEST_PG_URL
# pointing at a throwaway PostgreSQL server (tests/pg/pgserver.py), and stops
# and removes the server afterwards, whether the programs pass or not. Exits
# non-zero when any program failed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/pm-pg-unit.XXXXXX)
rmdir "$dir" # pgserver.py creates it
trap 'python3 "$here/pgserver.py" stop "$dir" >/dev/null 2>&1 || true' EXIT INT TERM
url=$(python3 "$here/pgserver.py" start "$dir" | sed -n 's/^PIPEMEND_DB=//p')
[ -n "$url" ] || { echo "with-server: the server did not start" >&2; exit 1; }
PM_TEST_PG_URL=$url
export PM_TEST_PG_URL
failed=0
for prog in "$@"; do
    "$prog" || failed=1
done
exit $failed
