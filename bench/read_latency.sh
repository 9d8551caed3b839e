#!/bin/sh
# bench/read_latency.sh BINARY - how long the reads every face makes again
# and again take on a small and on a large warehouse: `pipemend status`,
# MCP list_tables and MCP get_pipeline_status (over stdio), and `quarantine
# list` of the oldest run and of the oldest table, on SQLite and on
# PostgreSQL, at 10,000 rows and at 5,000,000 rows with 2,200,000 of them
# quarantined (the warehouse of issue 12; the rows it grew by belong to a
# newer run than the seeds'), with the ratio large / small.
# Target (issue 12): within 2x. These reads use the counts pipemend keeps
# with its writes (src/store/counts.c), not count(*).
#
#   sh bench/read_latency.sh build/release/pipemend
#   LARGE_ROWS=1000000 LARGE_QUARANTINED=440000 sh bench/read_latency.sh build/release/pipemend
#   BASELINE_BIN=/path/to/older/pipemend sh bench/read_latency.sh build/release/pipemend
#
# Environment:
#   SMALL_ROWS, SMALL_QUARANTINED  the small warehouse (default 10000, 4400)
#   LARGE_ROWS, LARGE_QUARANTINED  the large one (default 5000000, 2200000)
#   REPEAT=N       timed reads of each kind, the median counts (default 9)
#   BACKENDS       "sqlite pg" (default), or one of them
#   KEEP=1         keep the SQLite warehouses (build/bench/reads/*.db)
#   BASELINE_BIN   also time the same reads with another pipemend (one that
#                  counts rows, say main before the kept counts) on the same
#                  warehouses: the figures the kept counts replace
#
# How a warehouse is made: pipemend itself loads a seed (560 rows of
# {"id", "v", "note"}, then 440 rows whose v is text: quarantined as a
# type_conflict under one incident), and the same into a second table, o;
# SQL then grows t and the quarantine to the size asked (rows like the
# seed's, each quarantined row a copy of t's first with its own id and
# position, of a run of its own, linked to t's incident), which takes seconds where ingesting 7.2M rows would take
# minutes; and the counts' mark is deleted, so that the next pipemend to
# open the warehouse counts it once, as on the first open of a warehouse
# made by a pipemend before the kept counts. That first open is timed too
# ("first open"). The PostgreSQL server comes from tests/pg/pgserver.py
# (fsync=off, 127.0.0.1); the tables are ANALYZEd once grown.
#
# It checks that every read gives the warehouse's counts (status --json's
# rows and quarantined equal count(*)), prints one line per backend, size and
# read (median and best of REPEAT, in ms) and the ratios. A benchmark, not
# a test: it exits 0 whether or not the target is met, 1 when a check
# fails, 2 on a usage error.
set -eu

[ $# -eq 1 ] || {
    echo "usage: $0 BINARY" >&2
    exit 2
}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BIN" ] || {
    echo "$1: not an executable (build it with make)" >&2
    exit 2
}
SMALL_ROWS=${SMALL_ROWS:-10000}
SMALL_QUARANTINED=${SMALL_QUARANTINED:-4400}
LARGE_ROWS=${LARGE_ROWS:-5000000}
LARGE_QUARANTINED=${LARGE_QUARANTINED:-2200000}
REPEAT=${REPEAT:-9}
BACKENDS=${BACKENDS:-sqlite pg}
BASELINE_BIN=${BASELINE_BIN:-}
for n in "$SMALL_ROWS" "$SMALL_QUARANTINED" "$LARGE_ROWS" "$LARGE_QUARANTINED" "$REPEAT"; do
    case $n in "" | *[!0-9]*) echo "$0: sizes and REPEAT are numbers" >&2 && exit 2 ;; esac
done
[ "$SMALL_ROWS" -ge 560 ] && [ "$SMALL_QUARANTINED" -ge 440 ] || {
    echo "$0: a warehouse holds at least the seed (560 rows, 440 quarantined)" >&2
    exit 2
}
OUT=$ROOT/build/bench/reads
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT" # pipemend reads ./pipemend.yaml: the one written below
for v in $(env | sed -n 's/^\(PG[A-Z][A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
unset PIPEMEND_DB || true

log() { printf '%s\n' "$*" >&2; }
die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

PGDIR=
cleanup() {
    [ -z "$PGDIR" ] || python3 "$ROOT/tests/pg/pgserver.py" stop "$PGDIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

cat >pipemend.yaml <<'EOF'
pipelines:
  - name: orders
    source: feed/*.ndjson
    table: t
EOF
mkdir -p feed
# ids and values past 2^31, so that the columns are bigint whatever the size
awk 'BEGIN { for (i = 1; i <= 560; i++)
    printf "{\"id\":3%09d,\"v\":3%09d,\"note\":\"a row of the read bench\"}\n", i, i }' >seed-a.ndjson
awk 'BEGIN { for (i = 561; i <= 1000; i++)
    printf "{\"id\":3%09d,\"v\":\"x%d\",\"note\":\"a row of the read bench\"}\n", i, i }' >seed-b.ndjson

# seed DB: pipemend loads the seed into DB (a URL)
seed() {
    rm -f feed/*
    cp seed-a.ndjson feed/a.ndjson
    "$BIN" run orders --db "$1" >"$OUT/seed.log" 2>&1 || die "seed: $(tail -n 3 "$OUT/seed.log")"
    cp seed-b.ndjson feed/b.ndjson
    rc=0
    "$BIN" run orders --db "$1" >>"$OUT/seed.log" 2>&1 || rc=$?
    [ "$rc" = 3 ] || die "seed: the drifted rows were not quarantined (exit $rc)"
    # a second, small table, older than every row the warehouse grows by
    "$BIN" ingest --db "$1" --table o seed-a.ndjson >>"$OUT/seed.log" 2>&1 ||
        die "seed: $(tail -n 3 "$OUT/seed.log")"
    rc=0
    "$BIN" ingest --db "$1" --table o seed-b.ndjson >>"$OUT/seed.log" 2>&1 || rc=$?
    [ "$rc" = 3 ] || die "seed: the drifted rows of o were not quarantined (exit $rc)"
}

# grow_sqlite FILE ROWS QUARANTINED
grow_sqlite() {
    sqlite3 "$1" <<EOF
BEGIN;
INSERT INTO _pipemend_runs (pipeline, table_name, status, started_at, finished_at, rows_read,
    rows_loaded, rows_quarantined, pid, host)
SELECT pipeline, table_name, status, started_at, finished_at, $3 - 440, 0, $3 - 440, pid, host
FROM _pipemend_runs WHERE id = 2;
WITH RECURSIVE c(x) AS (SELECT 1001 UNION ALL SELECT x + 1 FROM c WHERE x < 1000 + $2 - 560)
INSERT INTO t (id, v, note) SELECT 3000000000 + x, 3000000000 + x, 'a row of the read bench'
FROM c;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $3 - 440)
INSERT INTO _pipemend_quarantine (run_id, table_name, pipeline, source, byte_offset, line, raw,
    raw_truncated, kinds, message, findings, status, created_at, header)
SELECT (SELECT max(id) FROM _pipemend_runs), q.table_name, q.pipeline, q.source,
    q.byte_offset + 100 * x, q.line + x, q.raw, q.raw_truncated, q.kinds, q.message, q.findings,
    q.status, q.created_at, q.header
FROM c, (SELECT * FROM _pipemend_quarantine WHERE table_name = 't' ORDER BY id LIMIT 1) q;
INSERT INTO _pipemend_incident_ranges (incident, first_qrow, last_qrow, nrows)
SELECT (SELECT min(incident) FROM _pipemend_incident_ranges), min(id), max(id), count(*)
FROM _pipemend_quarantine WHERE id > (SELECT max(last_qrow) FROM _pipemend_incident_ranges)
GROUP BY id / 256;
DELETE FROM _pipemend_table_counts WHERE table_name = '';
COMMIT;
ANALYZE;
EOF
}

# grow_pg URL ROWS QUARANTINED
grow_pg() {
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<EOF
BEGIN;
INSERT INTO pipemend._pipemend_runs (pipeline, table_name, status, started_at, finished_at,
    rows_read, rows_loaded, rows_quarantined, pid, host)
SELECT pipeline, table_name, status, started_at, finished_at, $3 - 440, 0, $3 - 440, pid, host
FROM pipemend._pipemend_runs WHERE id = 2;
INSERT INTO public.t (id, v, note)
SELECT 3000000000 + x, 3000000000 + x, 'a row of the read bench'
FROM generate_series(1001, 1000 + $2 - 560) x;
INSERT INTO pipemend._pipemend_quarantine (run_id, table_name, pipeline, source, byte_offset,
    line, raw, raw_truncated, kinds, message, findings, status, created_at, header)
SELECT (SELECT max(id) FROM pipemend._pipemend_runs), q.table_name, q.pipeline, q.source,
    q.byte_offset + 100 * x, q.line + x, q.raw, q.raw_truncated, q.kinds, q.message, q.findings,
    q.status, q.created_at, q.header
FROM generate_series(1, $3 - 440) x,
    (SELECT * FROM pipemend._pipemend_quarantine WHERE table_name = 't' ORDER BY id LIMIT 1) q;
INSERT INTO pipemend._pipemend_incident_ranges (incident, first_qrow, last_qrow, nrows)
SELECT (SELECT min(incident) FROM pipemend._pipemend_incident_ranges), min(id), max(id), count(*)
FROM pipemend._pipemend_quarantine
WHERE id > (SELECT max(last_qrow) FROM pipemend._pipemend_incident_ranges)
GROUP BY id / 256;
DELETE FROM pipemend._pipemend_table_counts WHERE table_name = '';
COMMIT;
VACUUM ANALYZE;
EOF
}

now_ns() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }

# status_ms BIN URL: REPEAT timed `status`, "median best" in ms
status_ms() {
    "$1" status --db "$2" >/dev/null 2>&1 || die "status failed on $2"
    : >"$OUT/times"
    i=0
    while [ $i -lt "$REPEAT" ]; do
        t0=$(now_ns)
        "$1" status --db "$2" >/dev/null 2>"$OUT/status.err" || die "status failed on $2"
        ms_since "$t0" >>"$OUT/times"
        echo >>"$OUT/times"
        i=$((i + 1))
    done
    sort -n "$OUT/times" | awk 'NF { a[n++] = $1 } END { printf "%s %s", a[int(n / 2)], a[0] }'
}

# mcp_ms BIN URL: one `mcp` session; REPEAT timed round trips of
# list_tables and of get_pipeline_status after two untimed ones each:
# "median best median best" in ms
mcp_ms() {
    python3 - "$1" "$2" "$REPEAT" <<'EOF'
import json, subprocess, sys, time
bin_, url, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = subprocess.Popen([bin_, "mcp", "--db", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
n = [0]
def call(method, params=None, note=False):
    m = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        m["params"] = params
    if not note:
        n[0] += 1
        m["id"] = n[0]
    p.stdin.write((json.dumps(m) + "\n").encode())
    p.stdin.flush()
    if note:
        return None
    while True:
        r = json.loads(p.stdout.readline())
        if r.get("id") == n[0]:
            if "error" in r or r["result"].get("isError"):
                sys.exit("mcp %s failed: %s" % (method, r))
            return r["result"]
call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "read-bench", "version": "1"}})
call("notifications/initialized", note=True)
out = []
for tool, args in (("list_tables", {}), ("get_pipeline_status", {"pipeline": "orders"})):
    for _ in range(2):
        call("tools/call", {"name": tool, "arguments": args})
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call("tools/call", {"name": tool, "arguments": args})
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    out += ["%.2f" % ts[len(ts) // 2], "%.2f" % ts[0]]
p.stdin.close()
p.wait()
print(" ".join(out))
EOF
}

# list_ms BIN URL FLAG VALUE FIELD: REPEAT timed `quarantine list FLAG VALUE
# --limit 20` (--run 2: the newest rows of the seed's run, 440 rows, the
# oldest run; --table o: the small table seeded before every row the
# warehouse grew by), each row's FIELD checked to be VALUE, "median best" in ms
list_ms() {
    n=$("$1" quarantine list --db "$2" "$3" "$4" --limit 20 --json 2>/dev/null | python3 -c '
import json, sys
rows = json.load(sys.stdin)
print(len(rows) if all(str(r[sys.argv[1]]) == sys.argv[2] for r in rows) else -1)' "$5" "$4") ||
        n=x
    [ "$n" = 20 ] || die "quarantine list $3 $4 on $2 did not give 20 rows of it ($n)"
    : >"$OUT/times"
    i=0
    while [ $i -lt "$REPEAT" ]; do
        t0=$(now_ns)
        "$1" quarantine list --db "$2" "$3" "$4" --limit 20 >/dev/null 2>&1 ||
            die "list failed on $2"
        ms_since "$t0" >>"$OUT/times"
        echo >>"$OUT/times"
        i=$((i + 1))
    done
    sort -n "$OUT/times" | awk 'NF { a[n++] = $1 } END { printf "%s %s", a[int(n / 2)], a[0] }'
}

# check URL ROWS QUARANTINED: status --json says what the warehouse holds
check() {
    got=$("$BIN" status --db "$1" --json 2>/dev/null | python3 -c '
import json, sys
t = [x for x in json.load(sys.stdin) if x["table"] == "t"][0]
print(t["rows"], t["quarantined"])')
    [ "$got" = "$2 $3" ] || die "status --json says rows, quarantined = $got, expected $2 $3"
}

RESULTS=$OUT/results
: >"$RESULTS"

# measure BACKEND SIZE URL ROWS QUARANTINED
measure() {
    t0=$(now_ns)
    "$BIN" status --db "$3" >/dev/null 2>&1 || die "status failed on $3"
    first=$(ms_since "$t0")
    check "$3" "$4" "$5"
    set -- "$1" "$2" "$3" "$(status_ms "$BIN" "$3")" "$(mcp_ms "$BIN" "$3")" "$first" \
        "$(list_ms "$BIN" "$3" --run 2 run_id)" "$(list_ms "$BIN" "$3" --table o table)"
    echo "$1 $2 new $4 $5 $7 $8 $6" >>"$RESULTS"
    if [ -n "$BASELINE_BIN" ]; then
        echo "$1 $2 baseline $(status_ms "$BASELINE_BIN" "$3") $(mcp_ms "$BASELINE_BIN" "$3")" \
            "$(list_ms "$BASELINE_BIN" "$3" --run 2 run_id)" \
            "$(list_ms "$BASELINE_BIN" "$3" --table o table) -" >>"$RESULTS"
    fi
}

for backend in $BACKENDS; do
    for size in small large; do
        if [ $size = small ]; then rows=$SMALL_ROWS quar=$SMALL_QUARANTINED; else
            rows=$LARGE_ROWS quar=$LARGE_QUARANTINED
        fi
        t0=$(now_ns)
        case $backend in
        sqlite)
            url="sqlite:$OUT/$size.db"
            seed "$url"
            grow_sqlite "$OUT/$size.db" "$rows" "$quar"
            ;;
        pg)
            if [ -z "$PGDIR" ]; then
                PGDIR=$(mktemp -d /tmp/pm-bench-reads.XXXXXX)
                rmdir "$PGDIR"
                START_OUT=$(python3 "$ROOT/tests/pg/pgserver.py" start "$PGDIR") ||
                    die "the server did not start"
                PGURL=$(printf '%s\n' "$START_OUT" | sed -n 's/^PIPEMEND_DB=//p')
            fi
            url="${PGURL%/*}/reads_$size"
            PGOPTIONS='-c client_min_messages=warning' psql -X -q -d "$PGURL" \
                -c "DROP DATABASE IF EXISTS reads_$size" -c "CREATE DATABASE reads_$size"
            seed "$url"
            grow_pg "$url" "$rows" "$quar"
            ;;
        *) echo "$0: BACKENDS are sqlite and pg" >&2 && exit 2 ;;
        esac
        log "$backend $size: $rows rows, $quar quarantined, made in $(ms_since "$t0") ms"
        measure "$backend" "$size" "$url" "$rows" "$quar"
    done
    [ -n "${KEEP:-}" ] || rm -f "$OUT"/*.db "$OUT"/*.db-wal "$OUT"/*.db-shm
done

echo
printf 'small: %s rows, %s quarantined; large: %s rows, %s quarantined; median (best) of %s, ms\n' \
    "$SMALL_ROWS" "$SMALL_QUARANTINED" "$LARGE_ROWS" "$LARGE_QUARANTINED" "$REPEAT"
awk '
{ k = $1 " " $3; seen[k] = 1; order[++n] = k
  st[k, $2] = $4; stb[k, $2] = $5; lt[k, $2] = $6; ltb[k, $2] = $7
  gp[k, $2] = $8; gpb[k, $2] = $9; ql[k, $2] = $10; qlb[k, $2] = $11
  qt[k, $2] = $12; qtb[k, $2] = $13; fo[k, $2] = $14 }
function row(name, s, sb, l, lb) {
    r = (s > 0) ? l / s : 0
    printf "  %-22s %9.2f (%7.2f) %9.2f (%7.2f) %7.2fx  %s\n", name, s, sb, l, lb, r,
        (r <= 2) ? "within 2x" : "OVER 2x"
}
END {
    printf "  %-22s %19s %19s %8s\n", "", "small", "large", "ratio"
    for (i = 1; i <= n; i++) {
        k = order[i]
        if (done[k]++) continue
        printf "%s%s\n", k, (k ~ /baseline/) ? " (BASELINE_BIN)" : ""
        row("status", st[k, "small"], stb[k, "small"], st[k, "large"], stb[k, "large"])
        row("mcp list_tables", lt[k, "small"], ltb[k, "small"], lt[k, "large"], ltb[k, "large"])
        row("mcp get_pipeline_status", gp[k, "small"], gpb[k, "small"], gp[k, "large"], gpb[k, "large"])
        row("list --run (oldest)", ql[k, "small"], qlb[k, "small"], ql[k, "large"], qlb[k, "large"])
        row("list --table (oldest)", qt[k, "small"], qtb[k, "small"], qt[k, "large"], qtb[k, "large"])
        if (fo[k, "small"] != "-")
            printf "  %-22s %9.1f           %9.1f            (counts the warehouse once)\n",
                "first open (status)", fo[k, "small"], fo[k, "large"]
    }
}' "$RESULTS"
printf 'machine: %s, %s CPUs, load average %s; %s\n' "$(uname -m)" "$(nproc)" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$("$BIN" --version 2>/dev/null | head -n 1)"
