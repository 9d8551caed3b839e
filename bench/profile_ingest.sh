#!/bin/sh
# bench/profile_ingest.sh BINARY [ROWS] - where pipemend's client spends its
# CPU during an NDJSON ingest into PostgreSQL, per stage.
#
#   sh bench/profile_ingest.sh build/release/pipemend            # 1,000,000 rows
#   sh bench/profile_ingest.sh build/release/pipemend 200000
#
# It writes (or reuses) build/bench/orders-ROWS.ndjson as ingest_pg.sh does,
# starts a throwaway server with tests/pg/pgserver.py, and runs
#   perf record -F 1999 -- BINARY ingest --db URL --table orders NDJSON
# (both threads of pipemend, user and kernel time; the server is another
# process and not sampled). Each sample is charged to a stage by where its
# function lives: pipemend's own functions by their source file (from the
# binary's debug information, `nm -l`), libraries by name:
#   read+scan      src/source (file reads, the NDJSON/JSON scanner)
#   validate       src/drift, src/schema, src/contract (type_fits, cells)
#   pipeline       src/pipeline (batches, the two threads)
#   encode         src/store/pg_copy.c (COPY's binary format)
#   store          the rest of src/store (COPY framing, catalog writes)
#   core           src/core (arenas, buffers, UTF-8)
#   libpq          sending (PQputCopyData and what it calls)
#   libc           memcpy, malloc and the like (called from every stage)
#   kernel         system calls (read, send), page faults
# and prints the client's CPU per thread, in all and per row (the target
# for this data is 0.8 us/row), per stage, then the 25 hottest functions.
# Needs perf (Debian package linux-perf: make bench installs it) and
# permission to profile (root, or kernel.perf_event_paranoid <= 2).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BINARY [ROWS]" >&2
    exit 2
fi
ROWS=${2:-1000000}
case $ROWS in "" | *[!0-9]* | 0) echo "ROWS must be a positive number" >&2 && exit 2 ;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BIN" ] || {
    echo "$1: not an executable (build it with make)" >&2
    exit 2
}
command -v perf >/dev/null || {
    echo "perf is needed (Debian package linux-perf)" >&2
    exit 2
}
OUT=$ROOT/build/bench
mkdir -p "$OUT"
cd "$OUT"
for v in $(env | sed -n 's/^\(PG[A-Z][A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done

GEN=$OUT/gen_orders
if [ ! -x "$GEN" ] || [ -n "$(find "$ROOT/bench/gen_orders.c" -prune -newer "$GEN")" ]; then
    "${CC:-cc}" -std=c11 -O2 -o "$GEN" "$ROOT/bench/gen_orders.c"
fi
NDJSON=$OUT/orders-$ROWS.ndjson
if [ ! -f "$NDJSON" ] || [ -n "$(find "$GEN" -prune -newer "$NDJSON")" ] ||
    [ "$(wc -l <"$NDJSON" | tr -d ' ')" != "$ROWS" ]; then
    "$GEN" "$ROWS" >"$NDJSON.tmp"
    mv "$NDJSON.tmp" "$NDJSON"
fi

PGDIR=$(mktemp -d /tmp/pm-profile-pg.XXXXXX)
rmdir "$PGDIR"
cleanup() { python3 "$ROOT/tests/pg/pgserver.py" stop "$PGDIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
URL=$(python3 "$ROOT/tests/pg/pgserver.py" start "$PGDIR" | sed -n 's/^PIPEMEND_DB=//p')
[ -n "$URL" ] || {
    echo "the server did not start" >&2
    exit 1
}

DATA=$OUT/profile.perf
perf record -q -F 1999 -o "$DATA" -- "$BIN" ingest --db "$URL" --table orders "$NDJSON" \
    >"$OUT/profile.log" 2>&1 || {
    echo "pipemend ingest (under perf) failed:" >&2
    tail -n 5 "$OUT/profile.log" >&2
    exit 1
}

# symbol -> source file of pipemend's own functions
nm -l --defined-only "$BIN" 2>/dev/null |
    awk 'NF >= 4 && ($2 == "t" || $2 == "T") { f = $4; sub(/:[0-9]+$/, "", f); print $3, f }' \
        >"$OUT/profile.syms"

# CPU per thread: the sampled event is cpu-clock, whose period is in ns.
perf script -i "$DATA" -F tid,period 2>/dev/null |
    awk '{ t[$1] += $2; all += $2 } END {
        for (k in t) printf "thread %s: %.3f s of CPU\n", k, t[k] / 1e9
        printf "%.6f\n", all / 1e9 > "/dev/stderr" }' 2>"$OUT/profile.cpu"
CPU=$(cat "$OUT/profile.cpu")
awk -v c="$CPU" -v r="$ROWS" 'BEGIN { printf "client CPU: %.3f s, %.2f us/row (target 0.8)\n", c, c / r * 1e6 }'

perf report -i "$DATA" --stdio -q --no-children --sort dso,sym --percent-limit 0 2>/dev/null |
    awk -v rows="$ROWS" -v symfile="$OUT/profile.syms" -v cpu="$CPU" '
    BEGIN {
        while ((getline l < symfile) > 0) { split(l, a, " "); file[a[1]] = a[2] }
    }
    $1 ~ /%$/ {
        pct = $1; sub(/%/, "", pct)
        dso = $2; sym = $4
        for (i = 5; i <= NF; i++) sym = sym " " $i
        f = file[sym]
        if (f ~ /src\/source\//) st = "read+scan"
        else if (f ~ /src\/(drift|schema|contract)\//) st = "validate"
        else if (f ~ /src\/pipeline\//) st = "pipeline"
        else if (f ~ /src\/store\/pg_copy\.c/) st = "encode"
        else if (f ~ /src\/store\//) st = "store"
        else if (f ~ /src\/core\//) st = "core"
        else if (f != "") st = "other pipemend"
        else if (dso ~ /libpq/) st = "libpq"
        else if (dso ~ /^libc[.-]|ld-linux/) st = "libc"
        else if (dso ~ /kernel/) st = "kernel"
        else st = dso
        stage[st] += pct
        total += pct
        if (n < 25) { hot[++n] = sprintf("%6.2f%%  %-14s %s", pct, st, sym) }
    }
    END {
        printf "client CPU by stage (%d rows; %% of the samples of both threads):\n", rows
        for (s in stage)
            printf "  %-15s %6.2f%%  %5.2f us/row\n", s, stage[s], stage[s] / 100 * cpu / rows * 1e6 | "sort -k2 -nr"
        close("sort -k2 -nr")
        printf "hottest functions:\n"
        for (i = 1; i <= n; i++) print "  " hot[i]
    }'
tail -n 1 "$OUT/profile.log"
