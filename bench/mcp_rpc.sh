#!/bin/sh
# bench/mcp_rpc.sh [BINARY] - MCP round trips against pipemend's server, over
# stdio and over Streamable HTTP with concurrent clients, beside the same
# load against a minimal server on the official TypeScript SDK
# (bench/ts-server/server.mjs) that exposes an equivalent read-only tool, in
# one run on one machine.
#
#   sh bench/mcp_rpc.sh                          # builds build/release/pipemend
#   sh bench/mcp_rpc.sh build/release/pipemend
#   CALLS=10000 sh bench/mcp_rpc.sh
#
# Environment:
#   CALLS=N       measured calls per method and server (default 100000)
#   TS_CALLS=N    the same for the TypeScript server (default CALLS)
#   TS_BUDGET=S   seconds a TypeScript phase may take: when its warm-up rate
#                 says TS_CALLS would take longer, it makes fewer calls and
#                 the output says so (default 120, 0 for none; calls/s
#                 compares anyway)
#   CLIENTS=K     concurrent HTTP clients, each with its own session and
#                 keep-alive connection (default 8)
#   WARMUP=N      warm-up calls per method and client, not counted (default 200)
#
# Target (the issue): pipemend at least 10x the TypeScript server's
# throughput at a lower p99, with flat memory over 100,000 calls.
#
# What it does:
#   1. builds pipemend (`make -j2`, when no BINARY is given) and
#      bench/mcp_load.c into build/bench/mcp_load (-O2, libcurl; the Debian
#      package libcurl4-openssl-dev is installed when it is missing);
#   2. makes a warehouse, build/bench/mcp/w.db, with pipemend ingest: orders
#      (2000 rows of bench/gen_orders.c), users (500 rows) and events (1000
#      rows, then 100 rows with a new field under --policy review: they wait
#      in quarantine), so list_tables answers three tables, one with
#      quarantined rows;
#   3. installs bench/ts-server's packages with `npm ci` (the SDK, pinned,
#      and a Node 22 for node:sqlite) unless they are up to date;
#   4. runs the same load against four servers, one after the other:
#        stdio  pipemend   BINARY mcp --db sqlite:w.db
#        stdio  TS SDK     node server.mjs --db w.db
#        HTTP   pipemend   BINARY serve --db sqlite:w.db --listen 127.0.0.1:0 --no-token
#        HTTP   TS SDK     node server.mjs --db w.db --http
#      each as two phases, tools/call list_tables then ping, each after a
#      warm-up: stdio as sequential round trips from one client, HTTP from
#      CLIENTS threads that each initialize their own session (bench/
#      mcp_load.c says what is measured and how every answer is checked);
#   5. checks every answer was right (an error fails the run) and that the
#      four servers' structured content agrees and holds the warehouse's
#      counts;
#   6. prints one table: calls, errors, calls/s, p50 and p99 latency and the
#      server's CPU time per call; the servers' memory (VmRSS once warm,
#      after 10% and 100% of the tools/call phase, after the ping phase,
#      and the peak, VmHWM); and the ratios pipemend / TS SDK with PASS or
#      FAIL against the target.
#
# The client runs on the same machine as the server (2 cores here, shared
# with whatever else runs): a round trip includes the client's own time, and
# with CLIENTS threads the client competes with the server for the cores.
# The server's CPU per call (utime + stime of its process over the phase)
# does not depend on that. It is a benchmark, not a test: it exits 0 whether
# or not the target is met, 1 when a check fails, 2 on a usage error.
set -eu

usage() {
    echo "usage: $0 [BINARY]" >&2
    exit 2
}
[ $# -le 1 ] || usage

CALLS=${CALLS:-100000}
TS_CALLS=${TS_CALLS:-$CALLS}
TS_BUDGET=${TS_BUDGET:-120}
CLIENTS=${CLIENTS:-8}
WARMUP=${WARMUP:-200}
# number NAME VALUE: VALUE is a whole number (above 0 but for WARMUP and
# TS_BUDGET, where 0 is none).
number() {
    case $2 in '' | *[!0-9]*)
        echo "$1 must be a number" >&2
        exit 2
        ;;
    esac
    if [ "$1" != WARMUP ] && [ "$1" != TS_BUDGET ] && [ "$2" -eq 0 ]; then
        echo "$1 must be above 0" >&2
        exit 2
    fi
}
number CALLS "$CALLS"
number TS_CALLS "$TS_CALLS"
number TS_BUDGET "$TS_BUDGET"
number CLIENTS "$CLIENTS"
number WARMUP "$WARMUP"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/bench/mcp
mkdir -p "$OUT"

log() { printf '%s\n' "$*" >&2; }
die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

LOAD0=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')
if awk -v l="$LOAD0" -v n="$(nproc)" 'BEGIN { exit !(l + 0 > n / 2) }'; then
    log "warning: load average $LOAD0 on $(nproc) CPUs: other work will skew the timings"
fi

# ---- pipemend and the load generator ----------------------------------------

if [ $# -eq 1 ]; then
    BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
    BIN=$ROOT/build/release/pipemend
    log "building $BIN"
    if ! make -C "$ROOT" -j2 BUILD=release >"$OUT/make.log" 2>&1; then
        [ -x "$BIN" ] || die "make failed: $(tail -n 20 "$OUT/make.log")"
        log "warning: make failed (see $OUT/make.log); using the binary already built"
    fi
fi
[ -x "$BIN" ] || {
    echo "$BIN: not an executable (build it with make)" >&2
    exit 2
}

for tool in cc npm python3; do
    command -v "$tool" >/dev/null || {
        echo "$tool is needed (cc: the load generator; npm: the TypeScript server; python3: the checks)" >&2
        exit 2
    }
done

if ! dpkg-query -W -f='${Status}' libcurl4-openssl-dev 2>/dev/null | grep -q "install ok installed" &&
    [ ! -f /usr/include/curl/curl.h ] && [ ! -f "/usr/include/$(uname -m)-linux-gnu/curl/curl.h" ]; then
    log "installing the Debian package libcurl4-openssl-dev (the load generator's HTTP client)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        libcurl4-openssl-dev >/dev/null
fi

# newer A B: is file A newer than file B (POSIX has no test -nt)?
newer() { [ -n "$(find "$1" -prune -newer "$2")" ]; }

LOADGEN=$ROOT/build/bench/mcp_load
if [ ! -x "$LOADGEN" ] || newer "$ROOT/bench/mcp_load.c" "$LOADGEN"; then
    log "building $LOADGEN"
    "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -pthread -o "$LOADGEN" "$ROOT/bench/mcp_load.c" -lcurl
fi

GEN=$ROOT/build/bench/gen_orders
if [ ! -x "$GEN" ] || newer "$ROOT/bench/gen_orders.c" "$GEN"; then
    log "building $GEN"
    "${CC:-cc}" -std=c11 -O2 -o "$GEN" "$ROOT/bench/gen_orders.c"
fi

# ---- the warehouse --------------------------------------------------------------

# pipemend reads ./pipemend.yaml and PIPEMEND_DB when present: run where there
# is none, without it.
cd "$OUT"
unset PIPEMEND_DB
DB=$OUT/w.db
rm -f "$DB" "$DB-wal" "$DB-shm"
"$GEN" 2000 >orders.ndjson
awk 'BEGIN { for (i = 1; i <= 500; i++)
    printf "{\"user_id\":%d,\"name\":\"user %d\",\"email\":\"u%d@example.org\",\"plan\":\"%s\"}\n",
           i, i, i, i % 3 ? "free" : "pro" }' >users.ndjson
awk 'BEGIN { for (i = 1; i <= 1000; i++)
    printf "{\"event_id\":%d,\"kind\":\"%s\",\"at\":\"2026-01-01T00:%02d:%02dZ\"}\n",
           i, i % 2 ? "view" : "click", i / 60 % 60, i % 60 }' >events-1.ndjson
awk 'BEGIN { for (i = 1001; i <= 1100; i++)
    printf "{\"event_id\":%d,\"kind\":\"view\",\"at\":\"2026-01-02T00:00:00Z\",\"coupon\":\"C%05d\"}\n",
           i, i }' >events-2.ndjson
ingest() { # ingest EXPECTED_EXIT ARGS...
    i_want=$1
    shift
    i_rc=0
    "$BIN" ingest --db "sqlite:$DB" "$@" >ingest.log 2>&1 || i_rc=$?
    [ "$i_rc" = "$i_want" ] || die "pipemend ingest $* exited $i_rc, expected $i_want: $(tail -n 5 ingest.log)"
}
ingest 0 --table orders orders.ndjson
ingest 0 --table users users.ndjson
ingest 0 --table events events-1.ndjson
ingest 3 --table events --policy review events-2.ndjson
NTABLES=3

# ---- the TypeScript server --------------------------------------------------------

TS=$ROOT/bench/ts-server
if [ ! -f "$TS/node_modules/.package-lock.json" ] ||
    newer "$TS/package-lock.json" "$TS/node_modules/.package-lock.json"; then
    log "installing $TS/node_modules (npm ci)"
    (cd "$TS" && npm ci --no-audit --no-fund >"$OUT/npm.log" 2>&1) ||
        die "npm ci failed: $(tail -n 20 "$OUT/npm.log")"
fi
NODE=$TS/node_modules/.bin/node
"$NODE" -e 'const [a, b] = process.versions.node.split(".").map(Number);
            process.exit(a > 22 || (a === 22 && b >= 13) ? 0 : 1)' ||
    die "$NODE is not Node 22.13 or later (node:sqlite)"
SDK_VERSION=$("$NODE" -p 'require(process.argv[1]).version' \
    "$TS/node_modules/@modelcontextprotocol/sdk/package.json")

# ---- the runs ----------------------------------------------------------------------

PIDS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_http NAME CMD...: starts an HTTP server; sets SRV_PID and SRV_URL.
start_http() {
    s_name=$1
    shift
    "$@" >"$OUT/$s_name.out" 2>"$OUT/$s_name.err" &
    SRV_PID=$!
    PIDS="$PIDS $SRV_PID"
    SRV_URL=
    for _ in $(seq 100); do
        SRV_URL=$(sed -n 's/^.* at \(http:[^ ]*\)$/\1/p' "$OUT/$s_name.out")
        [ -n "$SRV_URL" ] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    die "$s_name did not start: $(tail -n 5 "$OUT/$s_name.err")"
}

stop_http() {
    kill -TERM "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$SRV_PID" | tr '\n' ' ')
}

# load NAME ARGS...: runs the load generator; its records go to NAME.txt.
load() {
    l_name=$1
    shift
    log "running $l_name"
    l_rc=0
    "$LOADGEN" "$@" >"$OUT/$l_name.txt" 2>"$OUT/$l_name.log" || l_rc=$?
    if [ "$l_rc" -ne 0 ]; then
        cat "$OUT/$l_name.txt" >&2
        die "$l_name: not every call was answered right (exit $l_rc): $(head -n 12 "$OUT/$l_name.log")"
    fi
    grep '^note ' "$OUT/$l_name.txt" | sed "s/^note /note: $l_name: /" >&2 || true
}

COMMON="-w $WARMUP -T $NTABLES"
TS_NODE="$NODE --disable-warning=ExperimentalWarning $TS/server.mjs"

# shellcheck disable=SC2086 # COMMON and TS_NODE are word lists
load stdio-pipemend stdio $COMMON -n "$CALLS" -o "$OUT/answer-stdio-pipemend.json" \
    -e "$OUT/stdio-pipemend.err" -- "$BIN" mcp --db "sqlite:$DB"
# shellcheck disable=SC2086
load stdio-ts stdio $COMMON -n "$TS_CALLS" -b "$TS_BUDGET" -o "$OUT/answer-stdio-ts.json" \
    -e "$OUT/stdio-ts.err" -- $TS_NODE --db "$DB"

start_http http-pipemend "$BIN" serve --db "sqlite:$DB" --listen 127.0.0.1:0 --no-token
# shellcheck disable=SC2086
load http-pipemend http $COMMON -n "$CALLS" -c "$CLIENTS" -p "$SRV_PID" \
    -o "$OUT/answer-http-pipemend.json" "$SRV_URL"
stop_http

# shellcheck disable=SC2086
start_http http-ts $TS_NODE --db "$DB" --http
# shellcheck disable=SC2086
load http-ts http $COMMON -n "$TS_CALLS" -b "$TS_BUDGET" -c "$CLIENTS" -p "$SRV_PID" \
    -o "$OUT/answer-http-ts.json" "$SRV_URL"
stop_http

# ---- the answers agree ----------------------------------------------------------------

python3 - "$OUT" <<'EOF' || die "the servers' answers differ or do not match the warehouse"
import json, sys
out = sys.argv[1]
want = {"orders": (2000, 0), "users": (500, 0), "events": (1000, 100)}
answers = {}
for run in ("stdio-pipemend", "stdio-ts", "http-pipemend", "http-ts"):
    with open(f"{out}/answer-{run}.json") as f:
        answers[run] = json.load(f)
first = answers["stdio-pipemend"]
got = {t["name"]: (t["rows"], t["quarantined"]) for t in first["tables"]}
if got != want:
    sys.exit(f"pipemend's list_tables: {got}, the warehouse holds {want}")
for run, a in answers.items():
    if a != first:
        sys.exit(f"{run} answered {a}, stdio-pipemend {first}")
EOF

# ---- summary -----------------------------------------------------------------------

# field RUN METHOD KEY: one number from a run's records.
field() {
    awk -v m="method=$2" -v k="$3" '$1 == "phase" && $2 == m {
        for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$OUT/$1.txt"
}
memf() {
    awk -v k="$2" '$1 == "mem" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' \
        "$OUT/$1.txt"
}

echo
printf 'MCP round trips: tools/call list_tables (3 tables), then ping; stdio: 1 client, sequential;\n'
printf 'HTTP: %s clients, each its own session and keep-alive connection; %s warm-up calls per method\n' \
    "$CLIENTS" "$WARMUP"
printf 'and client first, not counted. Baseline: TS SDK = @modelcontextprotocol/sdk %s on Node %s\n' \
    "$SDK_VERSION" "$("$NODE" -p process.versions.node)"
printf '(bench/ts-server/server.mjs).\n\n'
printf '%-9s %-9s %-11s %8s %6s %9s %9s %9s %12s\n' transport server method calls errors calls/s \
    "p50 us" "p99 us" "srv cpu us"
for tr in stdio http; do
    for m in tools/call ping; do
        for s in pipemend ts; do
            r=$tr-$s
            label=pipemend
            [ "$s" = ts ] && label="TS SDK"
            printf '%-9s %-9s %-11s %8s %6s %9.0f %9.1f %9.1f %12.1f\n' "$tr" "$label" "$m" \
                "$(field "$r" "$m" calls)" "$(field "$r" "$m" errors)" "$(field "$r" "$m" rps)" \
                "$(field "$r" "$m" p50_us)" "$(field "$r" "$m" p99_us)" "$(field "$r" "$m" srv_cpu_us)"
        done
    done
done
echo "(srv cpu us: the server process's user + system CPU time per call)"
for r in stdio-pipemend stdio-ts http-pipemend http-ts; do
    grep '^note ' "$OUT/$r.txt" | sed "s/^note /note: $r: /" || true
done

echo
echo "server memory, VmRSS MiB: warm -> 10% -> 100% of the tools/call phase -> after ping; peak (VmHWM)"
for r in stdio-pipemend stdio-ts http-pipemend http-ts; do
    awk -v r="$r" -v calls="$(field "$r" tools/call calls)" -v a="$(memf "$r" start_kb)" \
        -v b="$(memf "$r" p10_kb)" -v c="$(memf "$r" p100_kb)" -v d="$(memf "$r" end_kb)" \
        -v h="$(memf "$r" hwm_kb)" 'BEGIN {
        g = c - b
        printf "%-15s %7.1f -> %7.1f -> %7.1f -> %7.1f   peak %7.1f   10%%..100%%: %+.1f MiB over %d calls (%s)\n",
            r, a / 1024, b / 1024, c / 1024, d / 1024, h / 1024, g / 1024, calls * 0.9,
            g <= 1024 ? "flat" : "grows"
    }'
done

echo
echo "pipemend / TS SDK (target: >= 10x calls/s and a lower p99; memory flat over $CALLS calls)"
echo "(p99 and server cpu: below 1 is pipemend doing better)"
VERDICT=PASS
for tr in stdio http; do
    for m in tools/call ping; do
        line=$(awk -v tr="$tr" -v m="$m" -v pr="$(field "$tr-pipemend" "$m" rps)" \
            -v tsr="$(field "$tr-ts" "$m" rps)" -v pp="$(field "$tr-pipemend" "$m" p99_us)" \
            -v tp="$(field "$tr-ts" "$m" p99_us)" -v pc="$(field "$tr-pipemend" "$m" srv_cpu_us)" \
            -v tc="$(field "$tr-ts" "$m" srv_cpu_us)" 'BEGIN {
            x = pr / tsr
            ok = x >= 10 && pp < tp
            printf "%-5s %-11s calls/s %6.2fx   p99 %5.2fx %-11s   server cpu per call %5.2fx   %s\n",
                tr, m, x, pp / tp, pp < tp ? "(lower)" : "(not lower)", pc / tc, ok ? "PASS" : "FAIL"
        }')
        echo "$line"
        case $line in *FAIL) VERDICT=FAIL ;; esac
    done
done
GROWTH=$(for r in stdio-pipemend http-pipemend; do
    awk -v b="$(memf "$r" p10_kb)" -v c="$(memf "$r" p100_kb)" 'BEGIN { print c - b }'
done | sort -n | tail -n 1)
if [ "$GROWTH" -gt 1024 ]; then
    MEM=FAIL
    VERDICT=FAIL
else
    MEM=PASS
fi
printf 'memory: pipemend grew by at most %s KiB from 10%% to 100%% of its tools/call phase: %s\n' \
    "$GROWTH" "$MEM"
echo "target: $VERDICT"
printf 'machine: %s, %s CPUs shared by the client and the server (and whatever else runs), load average %s at start; %s\n' \
    "$(uname -m)" "$(nproc)" "$LOAD0" "$("$BIN" --version 2>/dev/null | head -n 1 || echo pipemend)"
