#!/bin/sh
# bench/ingest_gzip.sh BINARY [ROWS] - pipemend's ingest of a gzip-compressed
# NDJSON feed against the same feed uncompressed, into SQLite, in one run on
# one machine.
#
#   sh bench/ingest_gzip.sh build/release/pipemend            # 1,000,000 rows
#   sh bench/ingest_gzip.sh build/release/pipemend 100000
#
# Environment: RUNS=N timed runs per side, the best one counts (default 3).
#
# What it does: writes build/bench/orders-ROWS.ndjson with bench/gen_orders.c
# (as bench/ingest_sqlite.sh does) and its gzip -6 copy; loads each with
# `BINARY ingest --db sqlite:FRESH.db --table orders FILE` into a fresh
# database, best of RUNS; checks both hold ROWS rows and nothing was
# quarantined; prints both speeds and the ratio gzip / plain (target: at
# least 0.8x). Decompression runs on the reader thread while the writer
# thread inserts, so most of its cost hides behind the inserts.
set -eu

usage() {
    echo "usage: $0 BINARY [ROWS]" >&2
    exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
ROWS=${2:-1000000}
RUNS=${RUNS:-3}
case $ROWS in "" | *[!0-9]* | 0) usage ;; esac
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer" >&2 && exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BIN" ] || {
    echo "$1: not an executable (build it with make)" >&2
    exit 2
}
command -v gzip >/dev/null || {
    echo "gzip is needed to write the compressed feed" >&2
    exit 2
}
command -v sqlite3 >/dev/null || {
    echo "sqlite3 (the shell) is needed to count the rows" >&2
    exit 2
}
OUT=$ROOT/build/bench
mkdir -p "$OUT"
cd "$OUT" # pipemend reads ./pipemend.yaml when present: run where there is none

log() { printf '%s\n' "$*" >&2; }
die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

LOAD0=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')
if awk -v l="$LOAD0" -v n="$(nproc)" 'BEGIN { exit !(l + 0 > n / 2) }'; then
    log "warning: load average $LOAD0 on $(nproc) CPUs: other work will skew the timings"
fi

GEN=$OUT/gen_orders
newer() { [ -n "$(find "$1" -prune -newer "$2")" ]; }
if [ ! -x "$GEN" ] || newer "$ROOT/bench/gen_orders.c" "$GEN"; then
    log "building $GEN"
    "${CC:-cc}" -std=c11 -O2 -o "$GEN" "$ROOT/bench/gen_orders.c"
fi
NDJSON=$OUT/orders-$ROWS.ndjson
if ! { [ -f "$NDJSON" ] && newer "$NDJSON" "$GEN" &&
    [ "$(wc -l <"$NDJSON" | tr -d ' ')" = "$ROWS" ]; }; then
    log "writing $NDJSON"
    "$GEN" "$ROWS" >"$NDJSON.tmp"
    mv "$NDJSON.tmp" "$NDJSON"
fi
GZ=$OUT/orders-$ROWS.ndjson.gz
if [ ! -f "$GZ" ] || newer "$NDJSON" "$GZ"; then
    log "writing $GZ"
    gzip -6 -c "$NDJSON" >"$GZ.tmp"
    mv "$GZ.tmp" "$GZ"
fi

now_ns() { date +%s%N; }
fresh_db() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal"; }

# best FILE: the best wall time of RUNS loads of FILE, in seconds.
best() {
    b_best=
    for i in $(seq "$RUNS"); do
        fresh_db "$OUT/gzip-bench.db"
        sync
        t0=$(now_ns)
        "$BIN" ingest --db "sqlite:$OUT/gzip-bench.db" --table orders "$1" >"$OUT/gzip-bench.log" 2>&1 ||
            die "pipemend ingest $1 exited $?: $(tail -n 5 "$OUT/gzip-bench.log")"
        t1=$(now_ns)
        s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
        log "$(basename "$1") run $i: $s s"
        if [ -z "$b_best" ] || awk -v a="$b_best" -v b="$s" 'BEGIN { exit !(b < a) }'; then
            b_best=$s
        fi
        n=$(sqlite3 "$OUT/gzip-bench.db" 'SELECT count(*) FROM orders;')
        [ "$n" = "$ROWS" ] || die "$(basename "$1"): $n rows loaded, expected $ROWS"
        q=$(sqlite3 "$OUT/gzip-bench.db" 'SELECT count(*) FROM _pipemend_quarantine;')
        [ "$q" = 0 ] || die "$(basename "$1"): $q rows quarantined"
    done
    echo "$b_best"
}

PLAIN=$(best "$NDJSON")
GZIP=$(best "$GZ")

echo
awk -v rows="$ROWS" -v runs="$RUNS" -v nb="$(stat -c %s "$NDJSON")" -v gb="$(stat -c %s "$GZ")" \
    -v p="$PLAIN" -v g="$GZIP" 'BEGIN {
    printf "rows: %d (%.0f MB NDJSON, %.0f MB gzip -6), best of %d runs each\n", rows, nb / 1e6, gb / 1e6, runs
    printf "baseline pipemend ingest (NDJSON):      %6.2f s  %5.0fk rows/s\n", p, rows / p / 1e3
    printf "pipemend ingest (NDJSON, gzip):         %6.2f s  %5.0fk rows/s\n", g, rows / g / 1e3
    printf "speed ratio gzip / plain: %.2fx (floor 0.8x)\n", p / g
}'
printf 'machine: %s, %s CPUs, load average %s at start; %s\n' "$(uname -m)" "$(nproc)" "$LOAD0" \
    "$("$BIN" --version 2>/dev/null | head -n 1 || echo pipemend)"
