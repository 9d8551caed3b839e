#!/bin/sh
# bench/ingest_sqlite.sh BINARY [ROWS] - pipemend's NDJSON ingest into SQLite
# against the sqlite3 shell's CSV `.import` of the same rows into the same
# table, in one run on one machine.
#
#   sh bench/ingest_sqlite.sh build/release/pipemend            # 1,000,000 rows
#   sh bench/ingest_sqlite.sh build/release/pipemend 100000
#   RSS_ROWS=5000000 sh bench/ingest_sqlite.sh build/release/pipemend
#
# Environment:
#   RUNS=N          timed runs per side, the best one counts (default 3)
#   RSS_ROWS=N      also load N rows once with pipemend and report its peak
#                   RSS (memory should stay flat as the input grows)
#
# What it does:
#   1. builds bench/gen_orders.c into build/bench/gen_orders and writes
#      build/bench/orders-ROWS.ndjson and .csv (the same rows; reused when
#      present with the right line count and newer than the generator);
#   2. loads the first 1000 rows with pipemend into a scratch database and
#      takes the CREATE TABLE it issued (its STRICT table, from inference);
#   3. baseline: a fresh database with that table, then
#        sqlite3 DB <pipemend's PRAGMAs> ".mode csv" ".import --skip 1 CSV orders"
#      timed, best of RUNS;
#   4. pipemend: `BINARY ingest --db sqlite:FRESH.db --table orders NDJSON`
#      on a fresh database each time, timed, best of RUNS, peak RSS from
#      /usr/bin/time (or VmHWM polled from /proc when it is missing);
#   5. checks both tables hold ROWS rows, pipemend exited 0 (nothing
#      quarantined), and both tables hold the same values (a null note
#      compares equal to '': .import has no way to write NULL);
#   6. prints a summary block.
#
# The write floor: bench/sqlite_floor.c, built into build/bench/sqlite_floor,
# parses and types the CSV's rows in memory first (untimed), then inserts
# them into a fresh database with that table through one prepared INSERT,
# with pipemend's PRAGMAs and batch size (a transaction per 5000 rows):
# SQLite's own work for these rows and nothing else. Its insert time is the
# floor; its table must hold the same values as pipemend's, NULLs included.
#
# Every side runs RUNS times; the summary gives the best and the median
# run of each, and the ratios of the medians.
#
# Both sides read from the page cache (the files were just written or read
# for the line count), write to build/bench/, and use the PRAGMAs pipemend
# sets in src/store/sqlite.c. Differences that stay: .import runs one
# transaction and parses CSV; pipemend parses NDJSON, infers and validates
# every value, and commits every batch (5000 rows) with its checkpoint and
# run counters, on two threads.
set -eu

usage() {
    echo "usage: $0 BINARY [ROWS]" >&2
    exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
ROWS=${2:-1000000}
RUNS=${RUNS:-3}
RSS_ROWS=${RSS_ROWS:-}
case $ROWS in "" | *[!0-9]* | 0) usage ;; esac
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer" >&2 && exit 2 ;; esac
case $RSS_ROWS in *[!0-9]*) echo "RSS_ROWS must be a number of rows" >&2 && exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BIN" ] || {
    echo "$1: not an executable (build it with make)" >&2
    exit 2
}
OUT=$ROOT/build/bench
mkdir -p "$OUT"
# pipemend reads ./pipemend.yaml when present: run where there is none.
cd "$OUT"

command -v sqlite3 >/dev/null || {
    echo "sqlite3 (the shell) is needed for the baseline" >&2
    exit 2
}
TIME_BIN=
if [ -x /usr/bin/time ]; then
    TIME_BIN=/usr/bin/time
else
    echo "note: /usr/bin/time is missing (Debian package 'time'); peak RSS is polled from /proc" >&2
fi

log() { printf '%s\n' "$*" >&2; }
die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# Timings mean little on a busy machine: say so.
LOAD0=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')
if awk -v l="$LOAD0" -v n="$(nproc)" 'BEGIN { exit !(l + 0 > n / 2) }'; then
    log "warning: load average $LOAD0 on $(nproc) CPUs: other work will skew the timings"
fi

# ---- data ------------------------------------------------------------------

GEN=$OUT/gen_orders
# newer A B: is file A newer than file B (POSIX has no test -nt)?
newer() { [ -n "$(find "$1" -prune -newer "$2")" ]; }

if [ ! -x "$GEN" ] || newer "$ROOT/bench/gen_orders.c" "$GEN"; then
    log "building $GEN"
    "${CC:-cc}" -std=c11 -O2 -o "$GEN" "$ROOT/bench/gen_orders.c"
fi

# gen FILE LINES [--csv] ROWS: (re)writes FILE unless it is up to date.
gen() {
    g_file=$1 g_lines=$2
    shift 2
    if [ -f "$g_file" ] && newer "$g_file" "$GEN" &&
        [ "$(wc -l <"$g_file" | tr -d ' ')" = "$g_lines" ]; then
        return 0
    fi
    log "writing $g_file"
    "$GEN" "$@" >"$g_file.tmp"
    mv "$g_file.tmp" "$g_file"
}

NDJSON=$OUT/orders-$ROWS.ndjson
CSV=$OUT/orders-$ROWS.csv
gen "$NDJSON" "$ROWS" "$ROWS"
gen "$CSV" $((ROWS + 1)) --csv "$ROWS"

# ---- measuring -------------------------------------------------------------

now_ns() { date +%s%N; }

# measure LOG CMD...: runs CMD (stdout and stderr to LOG); sets M_SECS (wall
# time), M_CPU (user + system seconds, "" without /usr/bin/time), M_RSS_KB
# (peak RSS) and M_RC (exit status).
measure() {
    m_log=$1
    shift
    M_RSS_KB=0
    M_CPU=
    M_RC=0
    m_t0=$(now_ns)
    if [ -n "$TIME_BIN" ]; then
        "$TIME_BIN" -f '%M %U %S' -o "$m_log.rss" "$@" >"$m_log" 2>&1 || M_RC=$?
        m_t1=$(now_ns)
        M_RSS_KB=$(tail -n 1 "$m_log.rss" | cut -d' ' -f1)
        M_CPU=$(tail -n 1 "$m_log.rss" | awk '{ printf "%.2f", $2 + $3 }')
        rm -f "$m_log.rss"
    else
        # VmHWM is the process's own peak; the last reading before it
        # exits is the figure (polled every 20 ms).
        "$@" >"$m_log" 2>&1 &
        m_pid=$!
        while kill -0 "$m_pid" 2>/dev/null; do
            m_hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$m_pid/status" 2>/dev/null || true)
            if [ -n "$m_hwm" ] && [ "$m_hwm" -gt "$M_RSS_KB" ]; then
                M_RSS_KB=$m_hwm
            fi
            sleep 0.02
        done
        wait "$m_pid" || M_RC=$?
        m_t1=$(now_ns)
    fi
    M_SECS=$(awk -v a="$m_t0" -v b="$m_t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
}

# is_better BEST: is M_SECS below BEST ("" is no time yet)?
is_better() { [ -z "$1" ] || awk -v a="$1" -v b="$M_SECS" 'BEGIN { exit !(b < a) }'; }

# median TIMES...: the median of the times (the lower middle one of an even
# count).
median() { printf '%s\n' "$@" | sort -g | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }'; }

# show_run WHAT I: one line on stderr for a timed run.
show_run() {
    log "$1 run $2: $M_SECS s wall, ${M_CPU:--} s cpu, peak RSS $(mib "$M_RSS_KB") MiB"
}

fresh_db() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal"; }

mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

count_rows() { sqlite3 "$1" 'SELECT count(*) FROM orders;'; }

# ---- the table pipemend creates ---------------------------------------------

SCRATCH=$OUT/scratch.db
SAMPLE=$OUT/sample.ndjson
fresh_db "$SCRATCH"
head -n 1000 "$NDJSON" >"$SAMPLE"
"$BIN" ingest --db "sqlite:$SCRATCH" --table orders "$SAMPLE" >"$OUT/scratch.log" 2>&1 ||
    die "pipemend could not load the 1000-row sample (exit $?): $(cat "$OUT/scratch.log")"
DDL=$(sqlite3 "$SCRATCH" "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'orders';")
[ -n "$DDL" ] || die "pipemend created no table orders in $SCRATCH"
log "table: $DDL"

# ---- baseline: sqlite3 .import ---------------------------------------------

# Two baselines: .import as sqlite3 does it by default (rollback journal,
# synchronous=FULL, one transaction), and .import with the PRAGMAs pipemend
# sets on its connections (src/store/sqlite.c). The faster one is the
# baseline of the ratio.
SQ_DB=$OUT/sqlite3.db
SQ_BEST=
SQ_CPU=
SQ_RSS=0
SQ_LINES=
SQ_TIMES_default= SQ_TIMES_wal=
for mode in default wal; do
    TEMPLATE=$OUT/sqlite3-template-$mode.db
    fresh_db "$TEMPLATE"
    if [ "$mode" = wal ]; then
        sqlite3 "$TEMPLATE" "PRAGMA page_size=16384;" "PRAGMA journal_mode=WAL;" "$DDL;" >/dev/null
        set -- "PRAGMA journal_mode=WAL;" "PRAGMA synchronous=NORMAL;" \
            "PRAGMA cache_size=-16384;" "PRAGMA temp_store=MEMORY;"
    else
        sqlite3 "$TEMPLATE" "$DDL;" >/dev/null
        set --
    fi
    MODE_BEST=
    MODE_CPU=
    for i in $(seq "$RUNS"); do
        fresh_db "$SQ_DB"
        cp "$TEMPLATE" "$SQ_DB"
        sync
        measure "$OUT/sqlite3.log" sqlite3 -bail "$SQ_DB" "$@" \
            ".mode csv" ".import --skip 1 '$CSV' orders"
        [ "$M_RC" -eq 0 ] || die "sqlite3 .import exited $M_RC: $(head -c 2000 "$OUT/sqlite3.log")"
        if grep -v '^wal$' "$OUT/sqlite3.log" | grep -q .; then
            die "sqlite3 .import reported: $(grep -v '^wal$' "$OUT/sqlite3.log" | head -n 5)"
        fi
        show_run "sqlite3 .import ($mode)" "$i"
        eval "SQ_TIMES_$mode=\"\$SQ_TIMES_$mode $M_SECS\""
        if is_better "$MODE_BEST"; then
            MODE_BEST=$M_SECS MODE_CPU=$M_CPU
        fi
        if is_better "$SQ_BEST"; then
            SQ_BEST=$M_SECS SQ_CPU=$M_CPU SQ_MODE=$mode
        fi
        if [ "$M_RSS_KB" -gt "$SQ_RSS" ]; then SQ_RSS=$M_RSS_KB; fi
    done
    n=$(count_rows "$SQ_DB")
    [ "$n" = "$ROWS" ] || die "sqlite3 .import loaded $n rows, expected $ROWS"
    SQ_LINES="$SQ_LINES$(awk -v m="$mode" -v s="$MODE_BEST" -v c="$MODE_CPU" -v rows="$ROWS" 'BEGIN {
        printf "sqlite3 .import, %-8s %6.2f s  %5.0fk rows/s   cpu %5s s\\n", m ":", s, rows / s / 1e3, c }')"
done

# ---- the write floor: prepared inserts of rows already typed in memory -------

FLOOR=$OUT/sqlite_floor
if [ ! -x "$FLOOR" ] || newer "$ROOT/bench/sqlite_floor.c" "$FLOOR"; then
    log "building $FLOOR"
    "${CC:-cc}" -std=c11 -O2 -o "$FLOOR" "$ROOT/bench/sqlite_floor.c" -lsqlite3
fi
FL_DB=$OUT/floor.db
FL_TEMPLATE=$OUT/floor-template.db
fresh_db "$FL_TEMPLATE"
sqlite3 "$FL_TEMPLATE" "PRAGMA page_size=16384;" "PRAGMA journal_mode=WAL;" "$DDL;" >/dev/null
FL_BATCH=5000 # pipemend's SQLite batch (default_batch in src/store/sqlite.c)
FL_TIMES=
for i in $(seq "$RUNS"); do
    fresh_db "$FL_DB"
    cp "$FL_TEMPLATE" "$FL_DB"
    sync
    measure "$OUT/floor.log" "$FLOOR" "$FL_DB" "$CSV" "$FL_BATCH"
    [ "$M_RC" -eq 0 ] || die "the write floor exited $M_RC: $(head -c 2000 "$OUT/floor.log")"
    fl_s=$(sed -n 's/^insert \([0-9.]*\) s, cpu \([0-9.]*\) s, \([0-9]*\) rows$/\1/p' "$OUT/floor.log")
    fl_c=$(sed -n 's/^insert \([0-9.]*\) s, cpu \([0-9.]*\) s, \([0-9]*\) rows$/\2/p' "$OUT/floor.log")
    [ -n "$fl_s" ] || die "the write floor printed: $(head -c 2000 "$OUT/floor.log")"
    log "write floor run $i: inserts $fl_s s wall, $fl_c s cpu (process, with parsing: $M_SECS s)"
    FL_TIMES="$FL_TIMES $fl_s"
done
n=$(count_rows "$FL_DB")
[ "$n" = "$ROWS" ] || die "the write floor loaded $n rows, expected $ROWS"

# ---- pipemend ingest ---------------------------------------------------------

PM_DB=$OUT/pipemend.db
PM_BEST=
PM_CPU=
PM_RSS=0
PM_TIMES=

# pm_failed DB: what pipemend quarantined, for the failure message.
pm_failed() {
    echo "pipemend ingest exited $M_RC:"
    tail -n 5 "$OUT/pipemend.log"
    echo "quarantine (first entries):"
    "$BIN" quarantine list --db "sqlite:$1" --table orders --limit 5 --json 2>&1 | head -c 3000
}

for i in $(seq "$RUNS"); do
    fresh_db "$PM_DB"
    sync
    measure "$OUT/pipemend.log" "$BIN" ingest --db "sqlite:$PM_DB" --table orders "$NDJSON"
    [ "$M_RC" -eq 0 ] || die "$(pm_failed "$PM_DB")"
    show_run "pipemend ingest" "$i"
    PM_TIMES="$PM_TIMES $M_SECS"
    if is_better "$PM_BEST"; then
        PM_BEST=$M_SECS PM_CPU=$M_CPU
    fi
    if [ "$M_RSS_KB" -gt "$PM_RSS" ]; then PM_RSS=$M_RSS_KB; fi
done
n=$(count_rows "$PM_DB")
[ "$n" = "$ROWS" ] || die "pipemend loaded $n rows, expected $ROWS"
q=$(sqlite3 "$PM_DB" 'SELECT count(*) FROM _pipemend_quarantine;')
[ "$q" = 0 ] || die "pipemend quarantined $q rows"

# ---- same values on both sides -----------------------------------------------

COLS=$(sqlite3 "$PM_DB" "SELECT group_concat('coalesce(\"' || name || '\", '''')', ', ')
                         FROM pragma_table_info('orders');")
diff=$(sqlite3 "$PM_DB" "ATTACH '$SQ_DB' AS b;
    SELECT (SELECT count(*) FROM (SELECT $COLS FROM main.orders EXCEPT SELECT $COLS FROM b.orders))
         + (SELECT count(*) FROM (SELECT $COLS FROM b.orders EXCEPT SELECT $COLS FROM main.orders));")
[ "$diff" = 0 ] || die "the two tables differ in $diff rows"
# the floor writes NULL as NULL: the same values exactly
diff=$(sqlite3 "$PM_DB" "ATTACH '$FL_DB' AS f;
    SELECT (SELECT count(*) FROM (SELECT * FROM main.orders EXCEPT SELECT * FROM f.orders))
         + (SELECT count(*) FROM (SELECT * FROM f.orders EXCEPT SELECT * FROM main.orders));")
[ "$diff" = 0 ] || die "pipemend's table and the write floor's differ in $diff rows"

# ---- peak RSS at RSS_ROWS ----------------------------------------------------

RSS_LINE=
if [ -n "$RSS_ROWS" ]; then
    BIG=$OUT/orders-$RSS_ROWS.ndjson
    gen "$BIG" "$RSS_ROWS" "$RSS_ROWS"
    fresh_db "$PM_DB"
    measure "$OUT/pipemend.log" "$BIN" ingest --db "sqlite:$PM_DB" --table orders "$BIG"
    [ "$M_RC" -eq 0 ] || die "$(pm_failed "$PM_DB")"
    n=$(count_rows "$PM_DB")
    [ "$n" = "$RSS_ROWS" ] || die "pipemend loaded $n of $RSS_ROWS rows"
    RSS_LINE=$(awk -v r="$RSS_ROWS" -v s="$M_SECS" -v k="$M_RSS_KB" -v b="$(stat -c %s "$BIG")" \
        'BEGIN { printf "pipemend ingest at %d rows (%.0f MB NDJSON): %.2f s   %.0fk rows/s   peak RSS %.0f MiB",
                 r, b / 1e6, s, r / s / 1e3, k / 1024 }')
fi

# ---- summary -----------------------------------------------------------------

echo
awk -v rows="$ROWS" -v runs="$RUNS" -v nj="$(stat -c %s "$NDJSON")" -v csv="$(stat -c %s "$CSV")" \
    -v sq="$SQ_BEST" -v sqc="${SQ_CPU:--}" -v sqr="$SQ_RSS" \
    -v pm="$PM_BEST" -v pmc="${PM_CPU:--}" -v pmr="$PM_RSS" -v lines="$SQ_LINES" \
    -v mode="$SQ_MODE" -v sqm="$(eval "median \$SQ_TIMES_$SQ_MODE")" -v pmm="$(median $PM_TIMES)" \
    -v flm="$(median $FL_TIMES)" \
    -v fla="$(printf '%s\n' $FL_TIMES | sort -g | head -n 1)" 'BEGIN {
    printf "rows: %d (%.0f MB NDJSON, %.0f MB CSV), %d runs each\n", rows, nj / 1e6, csv / 1e6, runs
    printf "%s", lines
    printf "baseline sqlite3 .import (CSV, %s): %6.2f s  %5.0fk rows/s   peak RSS %3.0f MiB\n", mode, sq, rows / sq / 1e3, sqr / 1024
    printf "pipemend ingest (NDJSON):   %6.2f s  %5.0fk rows/s   cpu %5s s   peak RSS %3.0f MiB\n", pm, rows / pm / 1e3, pmc, pmr / 1024
    printf "write floor (typed rows, prepared INSERT): %6.2f s  %5.0fk rows/s\n", fla, rows / fla / 1e3
    printf "medians: sqlite3 .import (%s) %.2f s, write floor %.2f s, pipemend %.2f s\n", mode, sqm, flm, pmm
    r1 = sqm / pmm
    printf "speed ratio pipemend / sqlite3 .import: %.2fx on the medians, %.2fx best to best (target 1.5x): %s\n",
        r1, sq / pm, (r1 >= 1.5) ? "target met" : "BELOW THE TARGET"
    r2 = flm / pmm
    printf "speed ratio pipemend / write floor:     %.2fx on the medians, %.2fx best to best (target 0.8x): %s\n",
        r2, fla / pm, (r2 >= 0.8) ? "target met" : "BELOW THE TARGET"
}'
if [ -n "$RSS_LINE" ]; then
    echo "$RSS_LINE"
fi
printf 'machine: %s, %s CPUs, load average %s at start; %s; sqlite3 %s\n' "$(uname -m)" "$(nproc)" \
    "$LOAD0" "$("$BIN" --version 2>/dev/null | head -n 1 || echo pipemend)" \
    "$(sqlite3 --version | cut -d' ' -f1)"
