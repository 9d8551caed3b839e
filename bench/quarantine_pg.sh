#!/bin/sh
# bench/quarantine_pg.sh BINARY [ROWS] - how fast pipemend writes quarantined
# rows into PostgreSQL, beside how fast it loads clean ones, on one server.
#
#   sh bench/quarantine_pg.sh build/release/pipemend           # 200,000 rows
#   sh bench/quarantine_pg.sh build/release/pipemend 1000000
#
# Three runs, each of ROWS NDJSON rows {"id": N, "v": N, "note": "..."},
# each into a fresh database:
#   load        every row loads (the baseline rate);
#   quarantine  the table exists with v integer and every row's v is text:
#               every row is quarantined (type_conflict) with its bytes,
#               findings and incident link;
#   redeliver   the same ROWS rows again into a table whose contract
#               declares unique: [id], after they were loaded once: every
#               row is refused by the unique index and quarantined (the
#               server refuses the whole batch first; pipemend finds the
#               refused rows).
# It checks the counts (rows loaded, rows quarantined) of every run and
# prints each rate and the ratio quarantine / load (target >= 0.5x) and
# redeliver / load; and the floor of the quarantine: the rows pipemend
# stored, pre-encoded, in one psql \copy into an empty table with the
# quarantine's columns and indexes (what the server itself needs for them).
#
# The server comes from tests/pg/pgserver.py (fsync=off: a throwaway
# server; what is measured is round trips and the server's work, not the
# disk), over TCP on 127.0.0.1.
set -eu

usage() {
    echo "usage: $0 BINARY [ROWS]" >&2
    exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
ROWS=${2:-200000}
case $ROWS in "" | *[!0-9]* | 0) usage ;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BIN" ] || {
    echo "$1: not an executable (build it with make)" >&2
    exit 2
}
OUT=$ROOT/build/bench/quarantine
mkdir -p "$OUT"
cd "$OUT" # pipemend reads ./pipemend.yaml: the one written below
for v in $(env | sed -n 's/^\(PG[A-Z][A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done

log() { printf '%s\n' "$*" >&2; }
die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

PGDIR=$(mktemp -d /tmp/pm-bench-q.XXXXXX)
rmdir "$PGDIR"
cleanup() { python3 "$ROOT/tests/pg/pgserver.py" stop "$PGDIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
START_OUT=$(python3 "$ROOT/tests/pg/pgserver.py" start "$PGDIR") || die "the server did not start"
URL=$(printf '%s\n' "$START_OUT" | sed -n 's/^PIPEMEND_DB=//p')
URL_BASE=${URL%/*}
db_url() { printf '%s/%s' "$URL_BASE" "$1"; }
q() {
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$(db_url "$1")" -c "$2"
}
fresh_db() { q postgres "DROP DATABASE IF EXISTS $1 WITH (FORCE)" && q postgres "CREATE DATABASE $1"; }

CLEAN=$OUT/clean-$ROWS.ndjson
DRIFT=$OUT/drift-$ROWS.ndjson
if [ ! -f "$CLEAN" ] || [ "$(wc -l <"$CLEAN" | tr -d ' ')" != "$ROWS" ]; then
    log "writing $CLEAN and $DRIFT"
    awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++)
        printf "{\"id\":%d,\"v\":%d,\"note\":\"row %d of the quarantine bench\"}\n", i, i, i }' >"$CLEAN"
    awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++)
        printf "{\"id\":%d,\"v\":\"x%d\",\"note\":\"row %d of the quarantine bench\"}\n", i, i, i }' >"$DRIFT"
fi
printf '{"id":0,"v":0,"note":"row 0 of the quarantine bench"}\n' >"$OUT/first.ndjson"

now_ns() { date +%s%N; }
# timed DB EXPECT_RC FILE: ingests FILE into table t of DB; sets SECS.
timed() {
    t0=$(now_ns)
    rc=0
    "$BIN" ingest --db "$(db_url "$1")" --table t "$3" >"$OUT/run.log" 2>&1 || rc=$?
    t1=$(now_ns)
    [ "$rc" = "$2" ] || die "ingest of $3 exited $rc, expected $2: $(tail -n 5 "$OUT/run.log")"
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
}
counts() { printf '%s %s' "$(q "$1" 'SELECT count(*) FROM public.t')" \
    "$(q "$1" 'SELECT count(*) FROM pipemend._pipemend_quarantine')"; }

rm -f pipemend.yaml
fresh_db bq_load
timed bq_load 0 "$CLEAN"
LOAD=$SECS
[ "$(counts bq_load)" = "$ROWS 0" ] || die "load: rows, quarantined = $(counts bq_load), expected $ROWS 0"
log "load: $LOAD s"

fresh_db bq_quarantine
timed bq_quarantine 0 "$OUT/first.ndjson"
timed bq_quarantine 3 "$DRIFT"
QUAR=$SECS
[ "$(counts bq_quarantine)" = "1 $ROWS" ] ||
    die "quarantine: rows, quarantined = $(counts bq_quarantine), expected 1 $ROWS"
log "quarantine: $QUAR s"

# The floor of the quarantine: the rows pipemend stored, already encoded
# (COPY's binary format, exported untimed), in one psql \copy into an
# empty table with the quarantine's columns and indexes. No client could
# store these rows faster on this server; pipemend writes them in one COPY
# per batch, within its batches' transactions.
FLOORQ=$OUT/quarantine-$ROWS.pgbin
q bq_quarantine "\\copy (SELECT * FROM pipemend._pipemend_quarantine ORDER BY id) TO '$FLOORQ' WITH (FORMAT binary)"
q bq_quarantine 'CREATE TABLE public.floor_q (LIKE pipemend._pipemend_quarantine INCLUDING INDEXES)'
t0=$(now_ns)
q bq_quarantine "\\copy public.floor_q FROM '$FLOORQ' WITH (FORMAT binary)"
t1=$(now_ns)
FLOOR=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
[ "$(q bq_quarantine 'SELECT count(*) FROM public.floor_q')" = "$ROWS" ] || die "floor: rows missing"
log "quarantine floor: $FLOOR s ($(stat -c %s "$FLOORQ") bytes)"
rm -f "$FLOORQ"

printf 'tables:\n  t:\n    contract:\n      unique: [id]\n' >pipemend.yaml
fresh_db bq_redeliver
timed bq_redeliver 0 "$CLEAN"
cp "$CLEAN" "$OUT/again.ndjson" # another file: its checkpoint starts at 0
timed bq_redeliver 3 "$OUT/again.ndjson"
REDELIVER=$SECS
rm -f pipemend.yaml
[ "$(counts bq_redeliver)" = "$ROWS $ROWS" ] ||
    die "redeliver: rows, quarantined = $(counts bq_redeliver), expected $ROWS $ROWS"
log "redeliver: $REDELIVER s"

echo
awk -v n="$ROWS" -v l="$LOAD" -v q="$QUAR" -v r="$REDELIVER" -v f="$FLOOR" 'BEGIN {
    printf "rows: %d, PostgreSQL on 127.0.0.1 (TCP), fsync=off\n", n
    printf "load (every row loads):              %7.2f s  %6.0fk rows/s\n", l, n / l / 1e3
    printf "quarantine (every row drifts):       %7.2f s  %6.0fk rows/s\n", q, n / q / 1e3
    printf "floor: the same rows, one \\copy:     %7.2f s  %6.0fk rows/s\n", f, n / f / 1e3
    printf "redeliver (every row repeats a key): %7.2f s  %6.0fk rows/s\n", r, n / r / 1e3
    x = l / q
    v = (x >= 0.5) ? "target met" : "BELOW THE TARGET"
    printf "quarantine rate / load rate: %.2fx (target 0.5x): %s\n", x, v
    printf "floor rate / load rate:      %.2fx (the best any client could do with these rows)\n", l / f
    printf "pipemend / floor:            %.2fx\n", f / q
    printf "redeliver rate / load rate:  %.2fx\n", l / r
}'
printf 'machine: %s, %s CPUs, load average %s; %s\n' "$(uname -m)" "$(nproc)" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$("$BIN" --version 2>/dev/null | head -n 1)"
