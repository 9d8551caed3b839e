#!/bin/sh
# bench/heal_sqlite.sh BINARY [ROWS] - time from drift detected to rows
# replayed for an add-column heal on SQLite, with ROWS quarantined rows
# (default 10,000; target: under 100 ms), against the sqlite3 shell's CSV
# `.import` of the same rows into the same table, in one run on one machine.
#
#   sh bench/heal_sqlite.sh build/release/pipemend            # 10,000 rows
#   RUNS=10 sh bench/heal_sqlite.sh build/release/pipemend 100000
#
# Environment:
#   RUNS=N          timed runs per side, the best one counts (default 5)
#
# The warehouse (build/bench/heal-*.db):
#   day 1: 1000 order rows (bench/gen_orders.c) loaded with pipemend: it
#          creates the table orders;
#   day 2: the next ROWS rows, each with a new field "coupon" (8 characters),
#          loaded with --policy review: every row is quarantined (exit 3), an
#          incident new_field/coupon is opened and a pending proposal
#          `add column coupon` is recorded and tried in the sandbox. This
#          state is kept (checkpointed, then copied) and restored before
#          every timed run.
#
# What is timed (wall clock of the whole process, monotonic clock: python3's
# time.perf_counter around the child; best of RUNS, runs of the sides
# interleaved, one untimed warm-up round first):
#   1. approve: `BINARY proposals approve ID --actor bench`. It loads the
#      proposal, checks guard and policy again, runs the sandbox dry run (a
#      clone of the table with up to 1000 existing rows and up to 1000 of the
#      incident's quarantined rows), applies the DDL under the migration
#      lock, records the audit events, then replays the table's whole
#      quarantine (each row parsed again, validated, inserted and taken out
#      of quarantine, in one transaction) and resolves the incident.
#      This is "drift detected to rows replayed, engine time": under the
#      review policy the drift is detected during the day-2 ingest (the
#      incident's detected_at; the proposal and its first dry run come within
#      that ingest, which this script times once, as setup), then a person
#      decides, which takes however long it takes and is no engine time;
#      the engine's part from the decision to the rows being back in the
#      table is the approve command. applied_at - planned_at in the catalog
#      is mostly the person's wait, so it is not reported. From the catalog
#      of the best run the approve is split into: process start -> the
#      incident's applied_at (start, guard and policy, dry run, DDL),
#      applied_at -> replayed_at (the replay of ROWS rows, up to its last
#      statements) and replayed_at -> process exit (the replay's commit,
#      which writes its pages to the WAL, the checkpoint on close, exit).
#      The clocks compared there are the same (the system's wall clock);
#      the stamps have millisecond resolution.
#      The approve also prints how long its own work took, on a monotonic
#      clock, from the start of the approval (guard, policy, dry run, DDL,
#      replay) to the replay's commit: the rows are back in the table and
#      durable then. That is the figure the target is about; the process
#      figure adds start-up, reading the config and the WAL checkpoint
#      SQLite runs when the last connection closes.
#   2. baseline for 1: `sqlite3 DB ".mode csv" ".import --skip 1 CSV orders"`
#      of the same ROWS rows (with their coupon) into a copy of the healed
#      table holding the same 1000 day-1 rows: the floor of just loading the
#      rows. Both with sqlite3's defaults and with pipemend's PRAGMAs
#      (src/store/sqlite.c); the faster one is the baseline.
#   3. auto heal: the same day-2 file ingested under the default policy
#      (auto) into the day-1 warehouse: the new column is added inline, the
#      rows never reach quarantine. Its baseline is the same day-2 file
#      ingested into a warehouse whose table already has the column (day 1
#      loaded with a coupon field): no drift. The ratio is the cost of
#      healing.
#   A process that does nothing (/bin/true) is timed the same way: that is
#   the cost of starting a process, included in every figure.
#
# Checks before any number is printed: every command's exit status; after
# each approve, the table holds 1000+ROWS rows, the quarantine is empty, the
# incident is resolved, the proposal applied and `audit verify` exits 0;
# after each auto heal, the same plus the column; the approved table, the
# .import table and the auto-healed table hold the same values (a null note
# compares equal to '': .import has no way to write NULL), so do the day-2
# rows of the auto-healed and the no-drift table, and the column pipemend
# added has the logical type and nullability the no-drift table has.
#
# It is a benchmark, not a test: it exits 0 whether or not the target is
# met, 1 when a check fails, 2 on a usage error.
set -eu

usage() {
    echo "usage: $0 BINARY [ROWS]" >&2
    exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
ROWS=${2:-10000}
RUNS=${RUNS:-5}
case $ROWS in "" | *[!0-9]* | 0) usage ;; esac
case $RUNS in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer" >&2 && exit 2 ;; esac
TARGET_MS=100
DAY1=1000

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

for tool in sqlite3 python3; do
    command -v "$tool" >/dev/null || {
        echo "$tool is needed (sqlite3: the baseline and the checks; python3: the timer)" >&2
        exit 2
    }
done

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

TOTAL=$((DAY1 + ROWS))
gen "$OUT/orders-$TOTAL.ndjson" "$TOTAL" "$TOTAL"
gen "$OUT/orders-$TOTAL.csv" $((TOTAL + 1)) --csv "$TOTAL"

# The generator pins its widest values into the first rows, so day 1 (the
# rows the table is inferred from) holds them and no day-2 row needs a
# wider column. Day 2 adds "coupon", 8 characters in every row (CPN00001,
# CPN00002, ...): the column the heal adds fits all of them.
DAY1_NDJSON=$OUT/heal-day1.ndjson
DAY1C_NDJSON=$OUT/heal-day1-coupon.ndjson
DAY2_NDJSON=$OUT/heal-day2-$ROWS.ndjson
DAY2_CSV=$OUT/heal-day2-$ROWS.csv
with_coupon='{ sub(/}$/, sprintf(",\"coupon\":\"CPN%05d\"}", NR % 100000)); print }'
head -n "$DAY1" "$OUT/orders-$TOTAL.ndjson" >"$DAY1_NDJSON"
# The no-drift table: day 1 with the field, null in its first row so that
# the column is created nullable, as an added column is.
head -n "$DAY1" "$OUT/orders-$TOTAL.ndjson" |
    awk "NR == 1 { sub(/}\$/, \",\\\"coupon\\\":null}\"); print; next } $with_coupon" >"$DAY1C_NDJSON"
tail -n +$((DAY1 + 1)) "$OUT/orders-$TOTAL.ndjson" | awk "$with_coupon" >"$DAY2_NDJSON"
{
    head -n 1 "$OUT/orders-$TOTAL.csv" | awk '{ sub(/\r$/, ""); printf "%s,coupon\r\n", $0 }'
    tail -n +$((DAY1 + 2)) "$OUT/orders-$TOTAL.csv" |
        awk '{ sub(/\r$/, ""); printf "%s,CPN%05d\r\n", $0, NR % 100000 }'
} >"$DAY2_CSV"
[ "$(wc -l <"$DAY2_NDJSON" | tr -d ' ')" = "$ROWS" ] || die "$DAY2_NDJSON does not hold $ROWS lines"
[ "$(wc -l <"$DAY2_CSV" | tr -d ' ')" = $((ROWS + 1)) ] || die "$DAY2_CSV does not hold $ROWS rows"

# ---- measuring -------------------------------------------------------------

# The child's wall time on a monotonic clock, its exit status, and the Unix
# time it started at (to compare with the catalog's timestamps).
TIMER='import subprocess, sys, time
with open(sys.argv[1], "wb") as log:
    start = time.time()
    t0 = time.perf_counter()
    rc = subprocess.call(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    t1 = time.perf_counter()
print("%.3f %d %.6f" % ((t1 - t0) * 1e3, rc, start))'

# measure LOG CMD...: runs CMD (stdout and stderr to LOG); sets M_MS (wall
# time in ms), M_RC (exit status) and M_START (Unix time at its start).
measure() {
    m_log=$1
    shift
    m_out=$(python3 -c "$TIMER" "$m_log" "$@") || die "could not time $1"
    # shellcheck disable=SC2086 # three words
    set -- $m_out
    M_MS=$1 M_RC=$2 M_START=$3
}

# lower A B: is A below B ("" is no time yet)?
lower() { [ -z "$2" ] || awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

fresh_db() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal"; }

# snapshot DB COPY: COPY becomes DB as it is now (WAL folded into the main
# file first; a -wal left anyway is copied too).
snapshot() {
    sqlite3 "$1" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
    fresh_db "$2"
    cp "$1" "$2"
    if [ -f "$1-wal" ]; then cp "$1-wal" "$2-wal"; fi
}

q() { sqlite3 "$1" "$2"; }

count_rows() { q "$1" 'SELECT count(*) FROM orders;'; }

# epoch_of DB TIMESTAMP_COLUMN: the incident's stamp as Unix time.
epoch_of() {
    q "$1" "SELECT printf('%.6f', (julianday($2) - 2440587.5) * 86400.0)
            FROM _pipemend_incidents WHERE id = $INCIDENT;"
}

ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1e3 }'; }

audit_ok() {
    "$BIN" audit verify --db "sqlite:$1" >"$OUT/heal-audit.log" 2>&1 ||
        die "audit verify failed on $1: $(cat "$OUT/heal-audit.log")"
}

failed() {
    printf '%s exited %s:\n' "$1" "$M_RC"
    tail -n 10 "$2"
}

# ---- the warehouses ----------------------------------------------------------

PRISTINE_DAY1=$OUT/heal-pristine-day1.db
PRISTINE_REVIEW=$OUT/heal-pristine-review.db
PRISTINE_NODRIFT=$OUT/heal-pristine-nodrift.db
WORK=$OUT/heal-work.db

fresh_db "$WORK"
measure "$OUT/heal-day1.log" "$BIN" ingest --db "sqlite:$WORK" --table orders "$DAY1_NDJSON"
[ "$M_RC" = 0 ] || die "$(failed "day-1 ingest" "$OUT/heal-day1.log")"
[ "$(count_rows "$WORK")" = "$DAY1" ] || die "day 1 loaded $(count_rows "$WORK") rows, expected $DAY1"
snapshot "$WORK" "$PRISTINE_DAY1"

measure "$OUT/heal-review.log" "$BIN" ingest --db "sqlite:$WORK" --table orders --policy review "$DAY2_NDJSON"
[ "$M_RC" = 3 ] || die "$(failed "day-2 ingest under --policy review (3 expected)" "$OUT/heal-review.log")"
REVIEW_MS=$M_MS
n=$(q "$WORK" "SELECT count(*) FROM _pipemend_quarantine WHERE table_name = 'orders';")
[ "$n" = "$ROWS" ] || die "the quarantine holds $n rows after day 2, expected $ROWS"
[ "$(count_rows "$WORK")" = "$DAY1" ] || die "day 2 under review loaded rows into orders"

# The pending proposal and its incident, from the CLI's JSON.
"$BIN" proposals list --db "sqlite:$WORK" --json >"$OUT/heal-proposals.json" ||
    die "proposals list failed"
"$BIN" incidents list --db "sqlite:$WORK" --json >"$OUT/heal-incidents.json" ||
    die "incidents list failed"
ids=$(python3 - "$OUT/heal-proposals.json" "$OUT/heal-incidents.json" "$ROWS" 2>"$OUT/heal-ids.log" <<'EOF'
import json, sys
props = json.load(open(sys.argv[1]))
incs = json.load(open(sys.argv[2]))
pending = [p for p in props if p["state"] == "pending"]
assert len(pending) == 1, "pending proposals: %d" % len(pending)
p = pending[0]
assert [(o["op"], o["column"]) for o in p["ops"]] == [("add_column", "coupon")], p["ops"]
assert p["dry_run"] and p["dry_run"]["ok"], p["dry_run"]
inc = [i for i in incs if i["id"] == p["incident"]]
assert len(inc) == 1 and inc[0]["kind"] == "new_field" and inc[0]["column"] == "coupon", inc
assert inc[0]["state"] == "awaiting_approval" and inc[0]["rows"] == int(sys.argv[3]), inc
print(p["id"], inc[0]["id"])
EOF
) || die "expected one pending proposal (add column coupon, dry run ok) and its incident \
awaiting approval with $ROWS rows: $(tail -n 1 "$OUT/heal-ids.log") (see $OUT/heal-proposals.json, \
$OUT/heal-incidents.json)"
PROPOSAL=${ids% *} INCIDENT=${ids#* }
log "pending proposal $PROPOSAL (incident $INCIDENT): add column coupon, $ROWS rows in quarantine"
snapshot "$WORK" "$PRISTINE_REVIEW"

fresh_db "$WORK"
"$BIN" ingest --db "sqlite:$WORK" --table orders "$DAY1C_NDJSON" >"$OUT/heal-nodrift.log" 2>&1 ||
    die "day-1 ingest with the coupon field failed: $(tail -n 5 "$OUT/heal-nodrift.log")"
snapshot "$WORK" "$PRISTINE_NODRIFT"

# restore PRISTINE: the work database becomes a copy of it.
restore() {
    fresh_db "$WORK"
    cp "$1" "$WORK"
    if [ -f "$1-wal" ]; then cp "$1-wal" "$WORK-wal"; fi
    sync
}

# ---- the sides ---------------------------------------------------------------

# Each sets M_MS after its checks; best values are kept by the caller.

run_approve() {
    restore "$PRISTINE_REVIEW"
    measure "$OUT/heal-approve.log" "$BIN" proposals approve "$PROPOSAL" --db "sqlite:$WORK" --actor bench
    [ "$M_RC" = 0 ] || die "$(failed "proposals approve $PROPOSAL" "$OUT/heal-approve.log")"
    n=$(count_rows "$WORK")
    [ "$n" = "$TOTAL" ] || die "after the approve orders holds $n rows, expected $TOTAL"
    n=$(q "$WORK" 'SELECT count(*) FROM _pipemend_quarantine;')
    [ "$n" = 0 ] || die "after the approve $n rows are still in quarantine"
    st=$(q "$WORK" "SELECT state FROM _pipemend_incidents WHERE id = $INCIDENT;")
    [ "$st" = resolved ] || die "after the approve incident $INCIDENT is '$st', not resolved"
    st=$(q "$WORK" "SELECT state FROM _pipemend_proposals WHERE id = $PROPOSAL;")
    [ "$st" = applied ] || die "after the approve proposal $PROPOSAL is '$st', not applied"
    audit_ok "$WORK"
    A_ENGINE=$(sed -n 's/^checks, dry run, apply and replay took \([0-9.]*\) ms$/\1/p' "$OUT/heal-approve.log")
    [ -n "$A_ENGINE" ] || die "the approve did not say how long it took (see $OUT/heal-approve.log)"
    A_APPLIED=$(epoch_of "$WORK" applied_at)
    A_REPLAYED=$(epoch_of "$WORK" replayed_at)
    if [ -z "$A_APPLIED" ] || [ -z "$A_REPLAYED" ]; then
        die "incident $INCIDENT has no applied_at or replayed_at"
    fi
}

# The copy of the healed table with the day-1 rows, for .import (one per
# mode: sqlite3's defaults, pipemend's PRAGMAs).
make_import_templates() {
    ddl=$(q "$WORK" "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'orders';")
    cols=$(q "$PRISTINE_DAY1" "SELECT group_concat('\"' || name || '\"', ', ') FROM pragma_table_info('orders');")
    for mode in default wal; do
        t=$OUT/heal-import-template-$mode.db
        fresh_db "$t"
        if [ "$mode" = wal ]; then
            set -- "PRAGMA page_size=16384;" "PRAGMA journal_mode=WAL;"
        else
            set --
        fi
        sqlite3 "$t" "$@" "$ddl;" "ATTACH '$PRISTINE_DAY1' AS d;" \
            "INSERT INTO main.orders ($cols) SELECT $cols FROM d.orders;" >/dev/null
        [ "$(count_rows "$t")" = "$DAY1" ] || die "could not copy the day-1 rows into $t"
    done
}

IMPORT_DB=$OUT/heal-import.db
run_import() { # MODE
    fresh_db "$IMPORT_DB"
    cp "$OUT/heal-import-template-$1.db" "$IMPORT_DB"
    sync
    if [ "$1" = wal ]; then
        set -- "PRAGMA journal_mode=WAL;" "PRAGMA synchronous=NORMAL;" \
            "PRAGMA cache_size=-16384;" "PRAGMA temp_store=MEMORY;"
    else
        set --
    fi
    measure "$OUT/heal-import.log" sqlite3 -bail "$IMPORT_DB" "$@" \
        ".mode csv" ".import --skip 1 '$DAY2_CSV' orders"
    [ "$M_RC" = 0 ] || die "$(failed "sqlite3 .import" "$OUT/heal-import.log")"
    if grep -v '^wal$' "$OUT/heal-import.log" | grep -q .; then
        die "sqlite3 .import reported: $(grep -v '^wal$' "$OUT/heal-import.log" | head -n 5)"
    fi
    n=$(count_rows "$IMPORT_DB")
    [ "$n" = "$TOTAL" ] || die ".import left $n rows in orders, expected $TOTAL"
}

AUTO_DB=$OUT/heal-auto.db
run_auto() {
    restore "$PRISTINE_DAY1"
    measure "$OUT/heal-auto.log" "$BIN" ingest --db "sqlite:$WORK" --table orders "$DAY2_NDJSON"
    [ "$M_RC" = 0 ] || die "$(failed "day-2 ingest under the default policy" "$OUT/heal-auto.log")"
    n=$(count_rows "$WORK")
    [ "$n" = "$TOTAL" ] || die "after the auto heal orders holds $n rows, expected $TOTAL"
    n=$(q "$WORK" 'SELECT count(*) FROM _pipemend_quarantine;')
    [ "$n" = 0 ] || die "the auto heal quarantined $n rows"
    n=$(q "$WORK" "SELECT count(*) FROM pragma_table_info('orders') WHERE name = 'coupon';")
    [ "$n" = 1 ] || die "the auto heal did not add the column coupon"
    st=$(q "$WORK" "SELECT group_concat(state) FROM _pipemend_incidents WHERE column_name = 'coupon';")
    [ "$st" = resolved ] || die "after the auto heal the coupon incident is '$st', not resolved"
    audit_ok "$WORK"
    H_DETECTED=$(q "$WORK" "SELECT printf('%.6f', (julianday(detected_at) - 2440587.5) * 86400.0)
                            FROM _pipemend_incidents WHERE column_name = 'coupon';")
    H_APPLIED=$(q "$WORK" "SELECT printf('%.6f', (julianday(applied_at) - 2440587.5) * 86400.0)
                           FROM _pipemend_incidents WHERE column_name = 'coupon';")
}

run_nodrift() {
    restore "$PRISTINE_NODRIFT"
    measure "$OUT/heal-nodrift.log" "$BIN" ingest --db "sqlite:$WORK" --table orders "$DAY2_NDJSON"
    [ "$M_RC" = 0 ] || die "$(failed "day-2 ingest into the table with the column" "$OUT/heal-nodrift.log")"
    n=$(count_rows "$WORK")
    [ "$n" = "$TOTAL" ] || die "after the no-drift ingest orders holds $n rows, expected $TOTAL"
    n=$(q "$WORK" 'SELECT count(*) FROM _pipemend_incidents;')
    [ "$n" = 0 ] || die "the no-drift ingest opened $n incidents"
}

# coalesced_cols DB: the table's columns, a null compared as ''.
coalesced_cols() {
    q "$1" "SELECT group_concat('coalesce(\"' || name || '\", '''')', ', ') FROM pragma_table_info('orders');"
}

# differ A B [WHERE]: rows of orders in one database and not the other.
differ() {
    c=$(coalesced_cols "$1")
    q "$1" "ATTACH '$2' AS b;
        SELECT (SELECT count(*) FROM (SELECT $c FROM main.orders ${3:-} EXCEPT SELECT $c FROM b.orders ${3:-}))
             + (SELECT count(*) FROM (SELECT $c FROM b.orders ${3:-} EXCEPT SELECT $c FROM main.orders ${3:-}));"
}

# ---- warm-up round (untimed), value checks ------------------------------------

log "warm-up round"
TRUE_BIN=$(command -v true)
measure /dev/null "$TRUE_BIN"
run_approve
APPROVED_DB=$OUT/heal-approved.db
snapshot "$WORK" "$APPROVED_DB"
make_import_templates
run_import default
d=$(differ "$APPROVED_DB" "$IMPORT_DB")
[ "$d" = 0 ] || die "the approved table and the .import table differ in $d rows"
run_import wal
run_auto
snapshot "$WORK" "$AUTO_DB"
d=$(differ "$APPROVED_DB" "$AUTO_DB")
[ "$d" = 0 ] || die "the approved table and the auto-healed table differ in $d rows"
run_nodrift
d=$(differ "$AUTO_DB" "$WORK" "WHERE rowid > $DAY1")
[ "$d" = 0 ] || die "the day-2 rows differ between the auto-healed and the no-drift table ($d rows)"
# coupon_type DB: the logical type of the column coupon, and its nullability.
coupon_type() {
    "$BIN" schema show --table orders --db "sqlite:$1" --json |
        python3 -c 'import json, sys
print(*[(c["type"], c["nullable"]) for c in json.load(sys.stdin)["columns"] if c["name"] == "coupon"])'
}
healed_type=$(coupon_type "$APPROVED_DB")
nodrift_type=$(coupon_type "$WORK")
if [ -z "$healed_type" ] || [ "$healed_type" != "$nodrift_type" ]; then
    die "the healed column coupon is $healed_type, the no-drift table's $nodrift_type: not comparable"
fi

# ---- timed rounds --------------------------------------------------------------

APPROVE_BEST='' IMPORT_BEST='' IMPORT_MODE='' AUTO_BEST='' NODRIFT_BEST='' TRUE_BEST='' ENGINE_BEST=''
IMPORT_DEFAULT_BEST='' IMPORT_WAL_BEST=''
for i in $(seq "$RUNS"); do
    measure /dev/null "$TRUE_BIN"
    if lower "$M_MS" "$TRUE_BEST"; then TRUE_BEST=$M_MS; fi

    run_approve
    pre=$(ms_between "$M_START" "$A_APPLIED")
    replay=$(ms_between "$A_APPLIED" "$A_REPLAYED")
    post=$(awk -v s="$M_START" -v ms="$M_MS" -v r="$A_REPLAYED" 'BEGIN { printf "%.1f", (s + ms / 1e3 - r) * 1e3 }')
    log "run $i: approve $M_MS ms (engine $A_ENGINE ms; start -> applied $pre ms, replay $replay ms, -> exit $post ms)"
    if lower "$M_MS" "$APPROVE_BEST"; then
        APPROVE_BEST=$M_MS APPROVE_PRE=$pre APPROVE_REPLAY=$replay APPROVE_POST=$post
    fi
    if lower "$A_ENGINE" "$ENGINE_BEST"; then ENGINE_BEST=$A_ENGINE; fi

    for mode in default wal; do
        run_import "$mode"
        log "run $i: sqlite3 .import ($mode) $M_MS ms"
        if [ "$mode" = default ]; then
            if lower "$M_MS" "$IMPORT_DEFAULT_BEST"; then IMPORT_DEFAULT_BEST=$M_MS; fi
        elif lower "$M_MS" "$IMPORT_WAL_BEST"; then
            IMPORT_WAL_BEST=$M_MS
        fi
        if lower "$M_MS" "$IMPORT_BEST"; then IMPORT_BEST=$M_MS IMPORT_MODE=$mode; fi
    done

    run_auto
    heal_ms=$(ms_between "$H_DETECTED" "$H_APPLIED")
    log "run $i: auto-heal ingest $M_MS ms (drift detected -> column added $heal_ms ms)"
    if lower "$M_MS" "$AUTO_BEST"; then AUTO_BEST=$M_MS AUTO_HEAL=$heal_ms; fi

    run_nodrift
    log "run $i: no-drift ingest $M_MS ms"
    if lower "$M_MS" "$NODRIFT_BEST"; then NODRIFT_BEST=$M_MS; fi
done

# ---- summary -----------------------------------------------------------------

echo
awk -v rows="$ROWS" -v day1="$DAY1" -v runs="$RUNS" -v target="$TARGET_MS" \
    -v ap="$APPROVE_BEST" -v eng="$ENGINE_BEST" -v pre="$APPROVE_PRE" -v rp="$APPROVE_REPLAY" -v post="$APPROVE_POST" \
    -v imp="$IMPORT_BEST" -v mode="$IMPORT_MODE" -v impd="$IMPORT_DEFAULT_BEST" -v impw="$IMPORT_WAL_BEST" \
    -v auto="$AUTO_BEST" -v heal="$AUTO_HEAL" -v nd="$NODRIFT_BEST" -v rev="$REVIEW_MS" \
    -v tr="$TRUE_BEST" '
function line(label, ms, rest) { printf "%-58s %7.1f ms%s\n", label ":", ms, rest }
BEGIN {
    printf "heal: add column coupon, %d quarantined rows, %d rows in the table before; best of %d runs each\n", rows, day1, runs
    line("drift detected -> rows replayed and committed (engine)", eng,
         rows == 10000 ? sprintf("   target under %d ms: %s", target, (eng < target ? "PASS" : "MISS")) \
                       : sprintf("   (the target, %d ms, is for 10000 rows)", target))
    line("approve command, process start to exit", ap, "")
    line("  process start -> applied_at (checks, dry run, DDL)", pre, "")
    line(sprintf("  applied_at -> replayed_at (replay of %d rows)", rows), rp,
         sprintf("   %.0fk rows/s", (rp > 0 ? rows / rp : 0)))
    line("  replayed_at -> exit (commit, checkpoint on close)", post, "")
    line("sqlite3 .import, default", impd, "")
    line("sqlite3 .import, wal", impw, "")
    line(sprintf("baseline sqlite3 .import of the %d rows (CSV, %s)", rows, mode), imp, "")
    printf "ratio approve / sqlite3 .import: %.2fx\n", ap / imp
    line("auto heal: day-2 ingest under policy auto", auto,
         sprintf("   (drift detected -> column added: %.1f ms)", heal))
    line("baseline: the same ingest, table already has the column", nd, "")
    printf "ratio auto heal / no drift: %.2fx\n", auto / nd
    line("setup, day-2 ingest under review (once)", rev, "")
    line("starting a process that does nothing (in every figure)", tr, "")
}'
printf 'machine: %s, %s CPUs, load average %s at start, %s at end; %s; sqlite3 %s\n' "$(uname -m)" \
    "$(nproc)" "$LOAD0" "$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')" \
    "$("$BIN" --version 2>/dev/null | head -n 1 || echo pipemend)" \
    "$(sqlite3 --version | cut -d' ' -f1)"
