#!/bin/sh
# bench/ingest_pg.sh BINARY [ROWS] - pipemend's NDJSON ingest into PostgreSQL
# against what PostgreSQL offers itself for the same rows into the same
# table, in one run on one machine and one server:
#   - psql's `\copy orders FROM 'orders.csv' WITH (FORMAT csv, HEADER true)`
#     of the same rows as CSV (the fastest a user gets from PostgreSQL);
#   - the floor: `\copy orders FROM 'orders.pgbin' WITH (FORMAT binary)`
#     of the same rows already encoded in COPY's binary format, and the
#     server-side `COPY orders FROM '/path/orders.pgbin' (FORMAT binary)`
#     of the same file (no client at all): the server's own work for these
#     rows with nothing to parse or convert;
#   - the pure-SQL path: `\copy` the NDJSON lines into a staging table
#     (line jsonb), then `INSERT INTO orders SELECT (line->>'col')::type, ...
#     FROM staging`.
#
#   sh bench/ingest_pg.sh build/release/pipemend            # 1,000,000 rows
#   sh bench/ingest_pg.sh build/release/pipemend 100000
#   RSS_ROWS=5000000 sh bench/ingest_pg.sh build/release/pipemend
#
# Environment:
#   RUNS=N          timed runs per side, the best one counts (default 3)
#   RSS_ROWS=N      also load N rows once with pipemend and report its time
#                   and peak RSS (memory should stay flat as the input grows)
#   PG_FSYNC=on|off the server's fsync (default on, see below)
#   ASYNC_COMMIT=1  also time pipemend with synchronous_commit=off (through
#                   PGOPTIONS, its commits then do not wait for their WAL
#                   flush): not a baseline, it shows what those waits cost
#
# What it does:
#   1. builds bench/gen_orders.c into build/bench/gen_orders and writes
#      build/bench/orders-ROWS.ndjson and .csv (the same rows; reused when
#      present with the right line count and newer than the generator);
#   2. starts one throwaway PostgreSQL server for the whole run with
#      tests/pg/pgserver.py (stopped and removed at exit, also on failure or
#      Ctrl-C). pgserver.py starts it with fsync=off and takes no settings,
#      so with PG_FSYNC=on (the default) the script restarts it with the
#      same options and fsync=on: with synchronous_commit=on (the default)
#      every commit waits for its WAL flush, as in production. Autovacuum is
#      turned off (ALTER SYSTEM) so that no vacuum or analyze of a freshly
#      loaded table lands inside a timed run; a CHECKPOINT and a sync run
#      before every timed run, so none inherits the previous one's dirty
#      pages;
#   3. loads the first 1000 rows with pipemend into a scratch database and
#      takes the table it created (from inference) from the catalogs: column
#      names, types with their modifiers, NOT NULL; it checks the table is
#      logged and has no index or constraint (pipemend creates none);
#   4. timed, RUNS rounds, each round one run of each side in turn (so
#      that what else the machine does falls on all three alike), each run
#      in a fresh database:
#        a. psql \copy of the CSV, into a database created from a template
#           holding that table;
#        b. the pure-SQL path, from the same template, which also holds
#           `staging (line jsonb)`, UNLOGGED (the fastest place to stage:
#           no WAL). The lines are read with
#             \copy staging(line) FROM 'orders.ndjson'
#                   WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02')
#           : CSV mode does not interpret backslashes (text mode would turn
#           the JSON escape \" into "), and with a quote and a delimiter
#           byte that never occur in the file (checked: JSON has no raw
#           control characters) each line is one field, verbatim. Then
#             INSERT INTO orders (cols) SELECT (line->>'order_id')::integer,
#               ..., (line->'shipping'->>'method')::character varying, ...
#           one cast per column, generated from the table: a nested field is
#           flattened as pipemend does (parent__child from
#           line->'parent'->>'child'); varchar columns are cast to
#           unbounded varchar, so that the assignment to varchar(n) checks
#           the length (an explicit ::varchar(n) would cut silently). Both
#           statements run in one psql and are timed together;
#        b2. the binary floor: psql \copy of orders.pgbin (FORMAT binary),
#           then the server's own COPY FROM of the same file, each into a
#           database created from the template. orders.pgbin is written
#           once before the timed runs, untimed, by the server itself:
#           \copy (SELECT cols FROM orders) TO 'orders.pgbin' (FORMAT
#           binary) out of a table loaded from the CSV; the server's own
#           send functions are the reference encoder of its binary format,
#           so the file holds exactly the values the CSV gives;
#        c. pipemend: `BINARY ingest --db URL --table orders NDJSON` into an
#           empty database (no table, no catalog: it creates both, as in the
#           scratch run, and loads everything), peak RSS from /usr/bin/time
#           (or VmHWM polled from /proc when it is missing);
#      the server's CPU time during each run is read from /proc (the
#      postmaster's own and reaped children's times plus those of its live
#      children);
#   5. checks that every pipemend run exited 0, loaded ROWS rows and
#      quarantined nothing, and, on the last run of each side, that pipemend
#      created the same table as in the scratch run, the staging table holds
#      ROWS lines, and all three tables hold ROWS rows and the same values.
#      The tables are in different databases, so instead of EXCEPT queries
#      each one is written out in full as text, ordered by every column, and
#      the three outputs must be byte for byte the same (a multiset
#      comparison that also counts duplicates). Nothing needs normalising:
#      PostgreSQL's text output of a value does not depend on how it
#      arrived (float8 in its shortest exact form, timestamptz in the
#      session's zone, UTC here), and NULL (\N) stays apart from '' (CSV
#      writes a null note as an empty unquoted field, which COPY reads as
#      NULL, and '' quoted);
#   6. prints a summary block: rows/s of each (best run), the median run
#      of each, the ratios on the medians pipemend / \copy (target 1.2x,
#      floor 0.9x), pipemend / binary-COPY floor (target 0.75x) and
#      pipemend / pure SQL (target 3x).
#
# All three read their input from the page cache (the files were just
# written or read for the line count) and talk to the server over TCP on
# 127.0.0.1 with the same URL. Differences that stay: \copy sends the CSV
# as it is and the server parses it, in one transaction; pipemend parses
# NDJSON, infers and validates every value, encodes it in COPY's binary
# format on the client and commits every batch (5000 rows) with its
# checkpoint and run counters, each commit waiting for its WAL flush.
set -eu

usage() {
    echo "usage: $0 BINARY [ROWS]" >&2
    exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
ROWS=${2:-1000000}
RUNS=${RUNS:-3}
RSS_ROWS=${RSS_ROWS:-}
PG_FSYNC=${PG_FSYNC:-on}
case $ROWS in "" | *[!0-9]* | 0) usage ;; esac
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer" >&2 && exit 2 ;; esac
case $RSS_ROWS in *[!0-9]*) echo "RSS_ROWS must be a number of rows" >&2 && exit 2 ;; esac
case $PG_FSYNC in on | off) ;; *) echo "PG_FSYNC must be on or off" >&2 && exit 2 ;; esac
ASYNC_COMMIT=${ASYNC_COMMIT:-}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BIN" ] || {
    echo "$1: not an executable (build it with make)" >&2
    exit 2
}
OUT=$ROOT/build/bench
mkdir -p "$OUT"
case $OUT in *"'"*) echo "$OUT: a quote in the path would break psql's \\copy" >&2 && exit 2 ;; esac
# pipemend reads ./pipemend.yaml when present: run where there is none.
cd "$OUT"

for tool in psql python3; do
    command -v "$tool" >/dev/null || {
        echo "$tool is needed (Debian packages postgresql-client, python3; make bench installs them)" >&2
        exit 2
    }
done
TIME_BIN=
if [ -x /usr/bin/time ]; then
    TIME_BIN=/usr/bin/time
else
    echo "note: /usr/bin/time is missing (Debian package 'time'); peak RSS is polled from /proc" >&2
fi

# Nothing of the caller's libpq environment (PGOPTIONS, PGSERVICE, ...) may
# change what psql or pipemend do (PG_FSYNC is ours, not libpq's, and stays);
# the dumps below print timestamps in UTC.
for v in $(env | sed -n 's/^\(PG[A-Z][A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
PGTZ=UTC
export PGTZ

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
# The pure-SQL path stages lines with \x01 as CSV quote and \x02 as
# delimiter: neither may occur in the file.
if LC_ALL=C grep -q "$(printf '[\001\002]')" "$NDJSON"; then
    die "$NDJSON holds a \\x01 or \\x02 byte: the staging \\copy would not read its lines verbatim"
fi

# ---- the server ----------------------------------------------------------------

PGDIR=$(mktemp -d /tmp/pm-bench-pg.XXXXXX)
rmdir "$PGDIR" # pgserver.py creates it
cleanup() { python3 "$ROOT/tests/pg/pgserver.py" stop "$PGDIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
log "starting PostgreSQL in $PGDIR"
START_OUT=$(python3 "$ROOT/tests/pg/pgserver.py" start "$PGDIR") || die "the server did not start"
URL=$(printf '%s\n' "$START_OUT" | sed -n 's/^PIPEMEND_DB=//p')
[ -n "$URL" ] || die "pgserver.py printed no PIPEMEND_DB=: $START_OUT"
URL_BASE=${URL%/*} # postgresql://user@127.0.0.1:PORT
db_url() { printf '%s/%s' "$URL_BASE" "$1"; }

# info KEY: a field of the server's pgserver.json.
info() {
    python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print("" if v is None else v)' \
        "$PGDIR/pgserver.json" "$1"
}
PG_BINDIR=$(info bindir)
PG_PORT=$(info port)
PG_USER=$(info user) # the server's OS user when we are root, else empty
# as_server CMD...: runs one of the server's programs as its user.
as_server() {
    if [ -n "$PG_USER" ]; then
        (cd "$PGDIR" && LC_ALL=C runuser -u "$PG_USER" -- "$@")
    else
        (cd "$PGDIR" && LC_ALL=C "$@")
    fi
}


# q DB SQL...: runs each SQL in turn in one psql session (unaligned, tuples
# only, stopping at the first error) and prints what they return.
q() {
    q_db=$1
    shift
    q_n=$#
    for q_sql in "$@"; do set -- "$@" -c "$q_sql"; done
    shift "$q_n"
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -A -t -v ON_ERROR_STOP=1 \
        -d "$(db_url "$q_db")" "$@"
}

if [ "$PG_FSYNC" = on ]; then
    log "restarting it with fsync=on"
    as_server "$PG_BINDIR/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 -m fast \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PGDIR -c fsync=on" restart >/dev/null ||
        die "pg_ctl restart failed: $(tail -n 20 "$PGDIR/server.log")"
fi
q postgres "ALTER SYSTEM SET autovacuum = off" "SELECT pg_reload_conf()" >/dev/null
i=0
while [ "$(q postgres 'SHOW autovacuum')" != off ]; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || die "the server does not take autovacuum = off"
    sleep 0.1
done
[ "$(q postgres 'SHOW fsync')" = "$PG_FSYNC" ] || die "the server's fsync is not $PG_FSYNC"
PG_VERSION=$(q postgres "SELECT split_part(current_setting('server_version'), ' ', 1)")
PG_SETTINGS=$(q postgres "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY ord)
    FROM unnest(ARRAY['fsync', 'synchronous_commit', 'full_page_writes', 'wal_level',
                      'shared_buffers', 'max_wal_size', 'autovacuum']) WITH ORDINALITY AS s(name, ord)")
log "server: PostgreSQL $PG_VERSION, $PG_SETTINGS"

# The server's CPU time, in seconds since it started: the postmaster's own
# and that of the children it reaped (backends that exited), plus that of
# its live children (backends, checkpointer, WAL writer, ...). The command
# name is cut out of /proc/PID/stat first: it may hold spaces.
POSTMASTER=$(head -n 1 "$PGDIR/data/postmaster.pid")
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
server_cpu() {
    cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^\([0-9]*\) (.*) /\1 /' |
        awk -v pm="$POSTMASTER" -v hz="$CLK_TCK" '
            $1 == pm || $3 == pm { t += $13 + $14 + $15 + $16 }
            END { printf "%.2f", t / hz }'
}

# ---- measuring -------------------------------------------------------------

now_ns() { date +%s%N; }

# measure LOG CMD...: runs CMD (stdout and stderr to LOG); sets M_SECS (wall
# time), M_CPU (user + system seconds, "" without /usr/bin/time), M_RSS_KB
# (peak RSS), M_RC (exit status) and M_SRV (the server's CPU seconds).
measure() {
    m_log=$1
    shift
    M_RSS_KB=0
    M_CPU=
    M_RC=0
    m_s0=$(server_cpu)
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
    # the client's backend exits when it hangs up: let the postmaster reap it
    sleep 0.2
    M_SRV=$(awk -v a="$m_s0" -v b="$(server_cpu)" 'BEGIN { printf "%.2f", b - a }')
    M_SECS=$(awk -v a="$m_t0" -v b="$m_t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
}

# is_better BEST: is M_SECS below BEST ("" is no time yet)?
is_better() { [ -z "$1" ] || awk -v a="$1" -v b="$M_SECS" 'BEGIN { exit !(b < a) }'; }

# show_run WHAT I: one line on stderr for a timed run.
show_run() {
    log "$1 run $2: $M_SECS s wall, ${M_CPU:--} s cpu, server cpu $M_SRV s, peak RSS $(mib "$M_RSS_KB") MiB"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

# fresh_db NAME [TEMPLATE]: (re)creates database NAME, empty or as a copy of
# TEMPLATE, then writes every dirty page out (CHECKPOINT, sync) so that the
# run that follows pays for its own writes only.
fresh_db() {
    q postgres "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
        "CREATE DATABASE $1 TEMPLATE ${2:-template0}" "CHECKPOINT"
    sync
}

count_rows() { q "$1" 'SELECT count(*) FROM public.orders'; }

# ---- the table pipemend creates ---------------------------------------------

SAMPLE=$OUT/sample.ndjson
head -n 1000 "$NDJSON" >"$SAMPLE"
q postgres "CREATE DATABASE bench_scratch"
"$BIN" ingest --db "$(db_url bench_scratch)" --table orders "$SAMPLE" >"$OUT/pg-scratch.log" 2>&1 ||
    die "pipemend could not load the 1000-row sample (exit $?): $(cat "$OUT/pg-scratch.log")"
[ -n "$(q bench_scratch "SELECT to_regclass('public.orders')")" ] ||
    die "pipemend created no table public.orders"

COLS_OF_ORDERS="FROM pg_attribute WHERE attrelid = 'public.orders'::regclass AND attnum > 0 AND NOT attisdropped"
DDL_SQL="SELECT 'CREATE TABLE public.orders (' || string_agg(quote_ident(attname) || ' ' ||
    format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END, ', '
    ORDER BY attnum) || ')' $COLS_OF_ORDERS"
DDL=$(q bench_scratch "$DDL_SQL")
log "table: $DDL"
# logged (relpersistence p), no index, no constraint but NOT NULL, no trigger
SHAPE=$(q bench_scratch "SELECT c.relpersistence::text
    || ' ' || (SELECT count(*) FROM pg_index WHERE indrelid = c.oid)
    || ' ' || (SELECT count(*) FROM pg_constraint WHERE conrelid = c.oid AND contype <> 'n')
    || ' ' || (SELECT count(*) FROM pg_trigger WHERE tgrelid = c.oid)
    FROM pg_class c WHERE c.oid = 'public.orders'::regclass")
[ "$SHAPE" = "p 0 0 0" ] ||
    die "pipemend's table is not a logged table without indexes, constraints and triggers (persistence, indexes, constraints, triggers: $SHAPE)"

COLLIST=$(q bench_scratch "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) $COLS_OF_ORDERS")
NCOLS=$(q bench_scratch "SELECT count(*) $COLS_OF_ORDERS")
ORDER_BY=$(seq -s, 1 "$NCOLS")
# One expression per column: a__b__c is line->'a'->'b'->>'c', cast to the
# column's type without its modifier (varchar(n) to varchar: the
# assignment then refuses a value that is too long instead of cutting it).
SELECT_LIST=$(q bench_scratch "SELECT string_agg('(line' || (
        SELECT string_agg(CASE WHEN u.o < cardinality(k.path) THEN '->' ELSE '->>' END
                          || quote_literal(u.p), '' ORDER BY u.o)
        FROM unnest(k.path) WITH ORDINALITY AS u(p, o)) || ')::' || format_type(k.atttypid, NULL),
    ', ' ORDER BY k.attnum)
    FROM (SELECT attnum, atttypid, string_to_array(attname, '__') AS path $COLS_OF_ORDERS) k")
INSERT_SQL="INSERT INTO public.orders ($COLLIST) SELECT $SELECT_LIST FROM public.staging"
log "pure SQL: $INSERT_SQL"

q postgres "CREATE DATABASE bench_template"
q bench_template "$DDL" "CREATE UNLOGGED TABLE public.staging (line jsonb)"

# The floor's input, untimed: the CSV's rows in COPY's binary format, as the
# server itself encodes them. A copy lives in the server's directory, owned
# by its user, for the server-side COPY FROM.
PGBIN=$OUT/orders-$ROWS.pgbin
fresh_db bench_floor_src bench_template
psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url bench_floor_src)" \
    -c "\\copy public.orders FROM '$CSV' WITH (FORMAT csv, HEADER true)" \
    -c "\\copy (SELECT $COLLIST FROM public.orders) TO '$PGBIN' WITH (FORMAT binary)" ||
    die "cannot write the binary COPY file $PGBIN"
q postgres "DROP DATABASE bench_floor_src WITH (FORCE)"
SRV_PGBIN=$PGDIR/orders.pgbin
cp "$PGBIN" "$SRV_PGBIN"
if [ -n "$PG_USER" ]; then chown "$PG_USER" "$SRV_PGBIN"; fi
log "floor input: $PGBIN ($(stat -c %s "$PGBIN") bytes)"

# ---- timed runs ----------------------------------------------------------------

COPY_BEST='' COPY_CPU='' COPY_SRV='' COPY_RSS=0
SQL_BEST='' SQL_CPU='' SQL_SRV='' SQL_STAGE='' SQL_INSERT='' SQL_RSS=0
PM_BEST='' PM_CPU='' PM_SRV='' PM_RSS=0
ASYNC_BEST=''
BIN_BEST='' BIN_CPU='' BIN_SRV='' BIN_RSS=0
SRVBIN_BEST='' SRVBIN_SRV=''
COPY_TIMES='' SQL_TIMES='' PM_TIMES='' BIN_TIMES='' SRVBIN_TIMES=''

# median TIMES...: the median of the times (the lower middle one of an even
# count).
median() { printf '%s\n' "$@" | sort -g | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }'; }

# pm_failed DB: what pipemend said and quarantined, for the failure message.
pm_failed() {
    echo "pipemend ingest exited $M_RC:"
    tail -n 5 "$OUT/pg-pipemend.log"
    echo "quarantine (first entries):"
    "$BIN" quarantine list --db "$(db_url "$1")" --table orders --limit 5 --json 2>&1 | head -c 3000
}

# pm_check DB ROWS: pipemend exited 0, loaded ROWS rows, quarantined none.
pm_check() {
    [ "$M_RC" -eq 0 ] || die "$(pm_failed "$1")"
    c_n=$(count_rows "$1")
    [ "$c_n" = "$2" ] || die "pipemend loaded $c_n rows, expected $2"
    c_q=$(q "$1" 'SELECT count(*) FROM pipemend._pipemend_quarantine')
    [ "$c_q" = 0 ] || die "pipemend quarantined $c_q rows"
}

for i in $(seq "$RUNS"); do
    # a. psql \copy of the CSV
    fresh_db bench_copy bench_template
    measure "$OUT/pg-copy.log" psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url bench_copy)" \
        -c "\\copy public.orders FROM '$CSV' WITH (FORMAT csv, HEADER true)"
    [ "$M_RC" -eq 0 ] || die "psql \\copy exited $M_RC: $(head -c 2000 "$OUT/pg-copy.log")"
    [ ! -s "$OUT/pg-copy.log" ] || die "psql \\copy reported: $(head -n 5 "$OUT/pg-copy.log")"
    show_run "psql \\copy" "$i"
    COPY_TIMES="$COPY_TIMES $M_SECS"
    if is_better "$COPY_BEST"; then COPY_BEST=$M_SECS COPY_CPU=$M_CPU COPY_SRV=$M_SRV; fi
    if [ "$M_RSS_KB" -gt "$COPY_RSS" ]; then COPY_RSS=$M_RSS_KB; fi

    # b2. the floor: the same rows pre-encoded, by psql and by the server
    fresh_db bench_bin bench_template
    measure "$OUT/pg-bin.log" psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url bench_bin)" \
        -c "\\copy public.orders ($COLLIST) FROM '$PGBIN' WITH (FORMAT binary)"
    [ "$M_RC" -eq 0 ] || die "psql \\copy (FORMAT binary) exited $M_RC: $(head -c 2000 "$OUT/pg-bin.log")"
    [ ! -s "$OUT/pg-bin.log" ] || die "psql \\copy (FORMAT binary) reported: $(head -n 5 "$OUT/pg-bin.log")"
    show_run "binary floor, psql \\copy" "$i"
    BIN_TIMES="$BIN_TIMES $M_SECS"
    if is_better "$BIN_BEST"; then BIN_BEST=$M_SECS BIN_CPU=$M_CPU BIN_SRV=$M_SRV; fi
    if [ "$M_RSS_KB" -gt "$BIN_RSS" ]; then BIN_RSS=$M_RSS_KB; fi
    [ "$(count_rows bench_bin)" = "$ROWS" ] || die "the binary \\copy loaded $(count_rows bench_bin) rows, expected $ROWS"
    fresh_db bench_srvbin bench_template
    measure "$OUT/pg-srvbin.log" psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url bench_srvbin)" \
        -c "COPY public.orders ($COLLIST) FROM '$SRV_PGBIN' WITH (FORMAT binary)"
    [ "$M_RC" -eq 0 ] || die "the server-side COPY FROM exited $M_RC: $(head -c 2000 "$OUT/pg-srvbin.log")"
    show_run "binary floor, server-side COPY FROM" "$i"
    SRVBIN_TIMES="$SRVBIN_TIMES $M_SECS"
    if is_better "$SRVBIN_BEST"; then SRVBIN_BEST=$M_SECS SRVBIN_SRV=$M_SRV; fi
    [ "$(count_rows bench_srvbin)" = "$ROWS" ] || die "the server-side COPY loaded $(count_rows bench_srvbin) rows, expected $ROWS"
    q postgres "DROP DATABASE bench_srvbin WITH (FORCE)"

    # b. the pure-SQL path: stage the lines as jsonb, then INSERT ... SELECT
    fresh_db bench_sql bench_template
    measure "$OUT/pg-sql.log" psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url bench_sql)" -c '\timing on' \
        -c "\\copy public.staging(line) FROM '$NDJSON' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" \
        -c "$INSERT_SQL"
    [ "$M_RC" -eq 0 ] || die "the pure-SQL path exited $M_RC: $(head -c 2000 "$OUT/pg-sql.log")"
    if grep -v '^Time: ' "$OUT/pg-sql.log" | grep -q .; then
        die "the pure-SQL path reported: $(grep -v '^Time: ' "$OUT/pg-sql.log" | head -n 5)"
    fi
    stage_s=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$OUT/pg-sql.log" | awk 'NR == 1 { printf "%.2f", $1 / 1e3 }')
    insert_s=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$OUT/pg-sql.log" | awk 'NR == 2 { printf "%.2f", $1 / 1e3 }')
    SQL_TIMES="$SQL_TIMES $M_SECS"
    log "pure SQL run $i: $M_SECS s wall (staging $stage_s s + INSERT ... SELECT $insert_s s), server cpu $M_SRV s"
    if is_better "$SQL_BEST"; then
        SQL_BEST=$M_SECS SQL_CPU=$M_CPU SQL_SRV=$M_SRV SQL_STAGE=$stage_s SQL_INSERT=$insert_s
    fi
    if [ "$M_RSS_KB" -gt "$SQL_RSS" ]; then SQL_RSS=$M_RSS_KB; fi

    # c. pipemend, into an empty database: it creates the table and its catalog
    fresh_db bench_pm
    measure "$OUT/pg-pipemend.log" "$BIN" ingest --db "$(db_url bench_pm)" --table orders "$NDJSON"
    pm_check bench_pm "$ROWS"
    show_run "pipemend ingest" "$i"
    PM_TIMES="$PM_TIMES $M_SECS"
    if is_better "$PM_BEST"; then PM_BEST=$M_SECS PM_CPU=$M_CPU PM_SRV=$M_SRV; fi
    if [ "$M_RSS_KB" -gt "$PM_RSS" ]; then PM_RSS=$M_RSS_KB; fi

    # d. (ASYNC_COMMIT=1) the same, commits not waiting for the WAL flush
    if [ -n "$ASYNC_COMMIT" ]; then
        fresh_db bench_pm_async
        measure "$OUT/pg-pipemend.log" env PGOPTIONS='-c synchronous_commit=off' \
            "$BIN" ingest --db "$(db_url bench_pm_async)" --table orders "$NDJSON"
        pm_check bench_pm_async "$ROWS"
        show_run "pipemend ingest, synchronous_commit=off" "$i"
        if is_better "$ASYNC_BEST"; then ASYNC_BEST=$M_SECS ASYNC_CPU=$M_CPU ASYNC_SRV=$M_SRV; fi
        q postgres "DROP DATABASE bench_pm_async WITH (FORCE)"
    fi
done

# ---- same rows, same values on all sides -----------------------------------------

[ "$(q bench_pm "$DDL_SQL")" = "$DDL" ] ||
    die "pipemend created a different table this time: $(q bench_pm "$DDL_SQL")"
for db in bench_copy bench_sql; do
    n=$(count_rows "$db")
    [ "$n" = "$ROWS" ] || die "$db holds $n rows, expected $ROWS"
done
n=$(q bench_sql 'SELECT count(*) FROM public.staging')
[ "$n" = "$ROWS" ] || die "the staging table holds $n lines, expected $ROWS"
for db in bench_copy bench_sql bench_pm bench_bin; do
    psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url "$db")" -o "$OUT/pg-dump-$db.txt" \
        -c "\\copy (SELECT $COLLIST FROM public.orders ORDER BY $ORDER_BY) TO STDOUT" ||
        die "cannot write out the table of $db"
    n=$(wc -l <"$OUT/pg-dump-$db.txt" | tr -d ' ')
    [ "$n" = "$ROWS" ] || die "the table of $db was written out as $n lines, expected $ROWS"
done
for db in bench_copy bench_sql bench_bin; do
    if ! cmp -s "$OUT/pg-dump-bench_pm.txt" "$OUT/pg-dump-$db.txt"; then
        die "pipemend's table and $db's differ (< pipemend, > $db):
$(diff "$OUT/pg-dump-bench_pm.txt" "$OUT/pg-dump-$db.txt" | head -n 10 | cut -c 1-300)"
    fi
done
rm -f "$OUT"/pg-dump-bench_*.txt
log "checked: $ROWS rows with the same values in all four tables"

# ---- peak RSS at RSS_ROWS ----------------------------------------------------

RSS_LINE=
if [ -n "$RSS_ROWS" ]; then
    BIG=$OUT/orders-$RSS_ROWS.ndjson
    gen "$BIG" "$RSS_ROWS" "$RSS_ROWS"
    q postgres "DROP DATABASE bench_copy WITH (FORCE)" "DROP DATABASE bench_sql WITH (FORCE)" \
        "DROP DATABASE bench_bin WITH (FORCE)"
    fresh_db bench_pm
    measure "$OUT/pg-pipemend.log" "$BIN" ingest --db "$(db_url bench_pm)" --table orders "$BIG"
    pm_check bench_pm "$RSS_ROWS"
    show_run "pipemend ingest of $RSS_ROWS rows" 1
    RSS_LINE=$(awk -v r="$RSS_ROWS" -v s="$M_SECS" -v k="$M_RSS_KB" -v b="$(stat -c %s "$BIG")" \
        'BEGIN { printf "pipemend ingest at %d rows (%.0f MB NDJSON): %.2f s   %.0fk rows/s   peak RSS %.0f MiB",
                 r, b / 1e6, s, r / s / 1e3, k / 1024 }')
fi

# ---- summary -----------------------------------------------------------------

echo
awk -v rows="$ROWS" -v runs="$RUNS" -v nj="$(stat -c %s "$NDJSON")" -v csv="$(stat -c %s "$CSV")" \
    -v ver="$PG_VERSION" -v set="$PG_SETTINGS" \
    -v cp="$COPY_BEST" -v cpc="${COPY_CPU:--}" -v cps="$COPY_SRV" -v cpr="$COPY_RSS" \
    -v sq="$SQL_BEST" -v sqc="${SQL_CPU:--}" -v sqs="$SQL_SRV" -v sqr="$SQL_RSS" \
    -v sqst="$SQL_STAGE" -v sqin="$SQL_INSERT" \
    -v pm="$PM_BEST" -v pmc="${PM_CPU:--}" -v pms="$PM_SRV" -v pmr="$PM_RSS" \
    -v bn="$BIN_BEST" -v bnc="${BIN_CPU:--}" -v bns="$BIN_SRV" -v bnr="$BIN_RSS" \
    -v sb="$SRVBIN_BEST" -v sbs="$SRVBIN_SRV" \
    -v cpm="$(median $COPY_TIMES)" -v sqm="$(median $SQL_TIMES)" -v pmm="$(median $PM_TIMES)" \
    -v bnm="$(median $BIN_TIMES)" -v sbm="$(median $SRVBIN_TIMES)" 'BEGIN {
    printf "rows: %d (%.0f MB NDJSON, %.0f MB CSV), best of %d runs each, the sides in turn\n",
        rows, nj / 1e6, csv / 1e6, runs
    printf "server: PostgreSQL %s on 127.0.0.1 (TCP), %s\n", ver, set
    printf "                                      wall       rate    client cpu  server cpu  peak RSS\n"
    printf "psql \\copy (CSV):                  %6.2f s  %4.0fk rows/s  %5s s    %5.2f s    %3.0f MiB\n",
        cp, rows / cp / 1e3, cpc, cps, cpr / 1024
    printf "floor: psql \\copy (FORMAT binary): %6.2f s  %4.0fk rows/s  %5s s    %5.2f s    %3.0f MiB\n",
        bn, rows / bn / 1e3, bnc, bns, bnr / 1024
    printf "floor: server COPY FROM (binary):  %6.2f s  %4.0fk rows/s      -      %5.2f s\n",
        sb, rows / sb / 1e3, sbs
    printf "pure SQL (jsonb staging + INSERT):  %6.2f s  %4.0fk rows/s  %5s s    %5.2f s    %3.0f MiB\n",
        sq, rows / sq / 1e3, sqc, sqs, sqr / 1024
    printf "  (staging %.2f s + INSERT ... SELECT %.2f s)\n", sqst, sqin
    printf "pipemend ingest (NDJSON):           %6.2f s  %4.0fk rows/s  %5s s    %5.2f s    %3.0f MiB\n",
        pm, rows / pm / 1e3, pmc, pms, pmr / 1024
    printf "medians: psql \\copy %.2f s, binary floor %.2f s (server-side %.2f s), pure SQL %.2f s, pipemend %.2f s\n",
        cpm, bnm, sbm, sqm, pmm
    r1 = cpm / pmm
    v1 = (r1 >= 1.2) ? "target met" : ((r1 >= 0.9) ? "above the floor, below the target" : "BELOW THE FLOOR")
    printf "speed ratio pipemend / psql \\copy:  %.2fx on the medians, %.2fx best to best (target 1.2x, floor 0.9x): %s\n",
        r1, cp / pm, v1
    r3 = bnm / pmm
    printf "speed ratio pipemend / binary floor: %.2fx on the medians, %.2fx best to best (target 0.75x): %s\n",
        r3, bn / pm, (r3 >= 0.75) ? "target met" : "BELOW THE TARGET"
    printf "speed ratio pipemend / server-side binary COPY: %.2fx on the medians\n", sbm / pmm
    r2 = sqm / pmm
    v2 = (r2 >= 3) ? "target met" : "BELOW THE TARGET"
    printf "speed ratio pipemend / pure SQL:    %.2fx on the medians (target 3x): %s\n", r2, v2
    printf "speed ratio psql \\copy / pure SQL:  %.2fx\n", sq / cp
}'
if [ -n "$ASYNC_BEST" ]; then
    awk -v rows="$ROWS" -v s="$ASYNC_BEST" -v c="$ASYNC_CPU" -v srv="$ASYNC_SRV" -v pm="$PM_BEST" \
        -v cp="$COPY_BEST" 'BEGIN {
        printf "pipemend, synchronous_commit=off:   %6.2f s  %4.0fk rows/s  %5s s    %5.2f s   (not a baseline)\n",
            s, rows / s / 1e3, c, srv
        printf "  difference to pipemend above: %.2f s of %.2f s (the commits%s WAL flush, and noise);" \
            " %.2fx of psql \\copy\n", pm - s, pm, "\047", cp / s }'
fi
if [ -n "$RSS_LINE" ]; then
    echo "$RSS_LINE"
fi
printf 'machine: %s, %s CPUs, load average %s at start, %s at the end; %s; psql %s\n' "$(uname -m)" "$(nproc)" \
    "$LOAD0" "$(cut -d' ' -f1 /proc/loadavg)" "$("$BIN" --version 2>/dev/null | head -n 1 || echo pipemend)" \
    "$(psql --version | awk '{ print $3 }')"
