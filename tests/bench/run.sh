#!/bin/sh
# cairn throughput/latency benchmark against redis-server at three durability
# levels. Usage: sh tests/bench/run.sh BUILD_DIR   (normally via `make bench`)
# See tests/bench/README.md for what the numbers mean and the env knobs.
# tests/bench/collections.sh runs it with BENCH_TESTS/BENCH_SERVERS/BENCH_NAME
# set for the collection commands.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() { echo "bench: error: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# ---- settings ------------------------------------------------------------
N=${BENCH_N:-500000}
TESTS=${BENCH_TESTS:-set,get,incr,mset}
CLIENTS=${BENCH_CLIENTS:-50}
PIPELINES=${BENCH_PIPELINES:-1 16}
KEYSPACE=${BENCH_KEYSPACE:-1000000}
RUN_TIMEOUT=${BENCH_TIMEOUT:-1800}         # seconds per redis-benchmark call
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}   # seconds for a server to PONG
STOP_TIMEOUT=${BENCH_STOP_TIMEOUT:-30}     # seconds between TERM and KILL
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
PY=${PYTHON:-python3}
SERVERS=${BENCH_SERVERS:-cairn always everysec nopersist}
NAME=${BENCH_NAME:-}

is_uint() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }
for v in N CLIENTS KEYSPACE RUN_TIMEOUT START_TIMEOUT STOP_TIMEOUT; do
    eval "val=\$$v"
    is_uint "$val" && [ "$val" -gt 0 ] || die "$v must be a positive integer (got '$val')"
done
for p in $PIPELINES; do
    is_uint "$p" && [ "$p" -gt 0 ] || die "BENCH_PIPELINES entries must be positive integers (got '$p')"
done
[ -n "$PIPELINES" ] || die "BENCH_PIPELINES is empty"
case "$TESTS" in
    ''|*[!a-z0-9_,]*|,*|*,|*,,*) die "BENCH_TESTS must be a comma-separated list of redis-benchmark test names (got '$TESTS')" ;;
esac
TEST_LIST=$(echo "$TESTS" | tr ',' ' ')
case " $SERVERS " in *" cairn "*) ;; *) die "BENCH_SERVERS must include cairn (got '$SERVERS')" ;; esac
for s in $SERVERS; do
    case "$s" in cairn|always|everysec|nopersist) ;; *) die "BENCH_SERVERS: unknown server '$s' (cairn always everysec nopersist)" ;; esac
done
case "$NAME" in *[!A-Za-z0-9_-]*) die "BENCH_NAME may only hold letters, digits, - and _ (got '$NAME')" ;; esac

# ---- binaries ------------------------------------------------------------
if [ -n "${CAIRN_SERVER:-}" ]; then
    CAIRN_BIN=$CAIRN_SERVER
else
    [ $# -ge 1 ] && [ -n "$1" ] || die "usage: $0 BUILD_DIR   (or set CAIRN_SERVER=/path/to/cairn-server)"
    CAIRN_BIN=$1/cairn-server
fi
case "$CAIRN_BIN" in
    */*) [ -x "$CAIRN_BIN" ] || die "cairn server binary '$CAIRN_BIN' not found or not executable (run 'make build' first)" ;;
    *) CAIRN_BIN=$(command -v "$CAIRN_BIN") || die "'${CAIRN_SERVER:-}' not found in PATH" ;;
esac
CAIRN_BIN=$(cd "$(dirname "$CAIRN_BIN")" && pwd)/$(basename "$CAIRN_BIN")
REDIS_BIN=$(command -v "$REDIS_SERVER") || die "'$REDIS_SERVER' not found (apt-get install redis-server, or set REDIS_SERVER)"
BENCH_BIN=$(command -v "$REDIS_BENCHMARK") || die "'$REDIS_BENCHMARK' not found (apt-get install redis-tools, or set REDIS_BENCHMARK)"
command -v "$PY" >/dev/null 2>&1 || die "'$PY' not found (python3 is needed for the helpers)"
if command -v timeout >/dev/null 2>&1; then
    # --foreground so Ctrl-C still reaches redis-benchmark.
    TIMEOUT_CMD="timeout --foreground -k 10 $RUN_TIMEOUT"
else
    note "coreutils 'timeout' not found; a hung redis-benchmark will not be cut off"
    TIMEOUT_CMD=""
fi

STANDIN=0
[ "$(basename "$CAIRN_BIN")" = redis-server ] && STANDIN=1

label() {
    case "$1" in
        cairn) echo cairn ;;
        *) echo "redis-$1" ;;
    esac
}

# ---- temp area and cleanup -------------------------------------------------
BASE_TMP=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
ROOT=$(mktemp -d "$BASE_TMP/cairn-bench.XXXXXX") || die "mktemp in $BASE_TMP failed"
# fsync on tmpfs is free, which would make the durable configurations look
# as fast as the non-durable one. Say so loudly rather than refuse.
FSTYPE=$(stat -f -c %T "$ROOT" 2>/dev/null || echo unknown)
case "$FSTYPE" in
    tmpfs|ramfs) note "WARNING: $BASE_TMP is $FSTYPE; fsync costs nothing there. Set BENCH_TMPDIR to a directory on a real disk." ;;
esac
ALL_PIDS=""
BENCH_PID=""

cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$BENCH_PID" ]; then
        kill -TERM "$BENCH_PID" 2>/dev/null
        wait "$BENCH_PID" 2>/dev/null
    fi
    for pid in $ALL_PIDS; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in $ALL_PIDS; do
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt $((STOP_TIMEOUT * 10)) ]; do
            # A reaped-but-not-waited child shows as a zombie; wait reaps it.
            if grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then break; fi
            sleep 0.1
            i=$((i + 1))
        done
        if kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
            note "pid $pid did not stop after ${STOP_TIMEOUT}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        note "kept server dirs and raw output in $ROOT"
    else
        rm -rf "$ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$ROOT/raw" || die "cannot create $ROOT/raw"

# ---- configs -------------------------------------------------------------
N_SERVERS=$(echo $SERVERS | wc -w)
PORTS=$("$PY" "$HERE/resp.py" ports "$N_SERVERS") || die "could not pick free ports"
set -- $PORTS
for s in $SERVERS; do
    eval "PORT_$s=$1"
    shift
done
# The preflight runs against a redis-server when there is one.
PRE=cairn
for s in $SERVERS; do [ "$s" = cairn ] || PRE=$s; done

for s in $SERVERS; do
    mkdir "$ROOT/$s" || die "cannot create $ROOT/$s"
done

write_common() { # dir port
    printf 'bind 127.0.0.1\nport %s\ndir %s\nlogfile ""\n' "$2" "$1"
}
{
    write_common "$ROOT/cairn" "$PORT_cairn"
    if [ "$STANDIN" = 1 ]; then
        echo '# durability strict omitted: redis-server is standing in for cairn'
    else
        echo 'durability strict'
    fi
} >"$ROOT/cairn.conf"
for s in $SERVERS; do
    case "$s" in
        always) {
            write_common "$ROOT/always" "$PORT_always"
            printf 'appendonly yes\nappendfsync always\nsave ""\n'
        } >"$ROOT/always.conf" ;;
        everysec) {
            write_common "$ROOT/everysec" "$PORT_everysec"
            printf 'appendonly yes\nappendfsync everysec\nsave ""\n'
        } >"$ROOT/everysec.conf" ;;
        nopersist) {
            write_common "$ROOT/nopersist" "$PORT_nopersist"
            printf 'appendonly no\nsave ""\n'
        } >"$ROOT/nopersist.conf" ;;
    esac
done

port_of() { eval "echo \$PORT_$1"; }
pid_of() { eval "echo \$PID_$1"; }

show_log() { # server
    if [ -s "$ROOT/$1/server.log" ]; then
        echo "--- last lines of $(label "$1") log ($ROOT/$1/server.log) ---" >&2
        tail -n 20 "$ROOT/$1/server.log" >&2
    fi
}

# ---- start ---------------------------------------------------------------
for s in $SERVERS; do
    if [ "$s" = cairn ]; then bin=$CAIRN_BIN; else bin=$REDIS_BIN; fi
    "$bin" "$ROOT/$s.conf" </dev/null >"$ROOT/$s/server.log" 2>&1 &
    pid=$!
    eval "PID_$s=$pid"
    ALL_PIDS="$ALL_PIDS $pid"
done
for s in $SERVERS; do
    if ! "$PY" "$HERE/resp.py" wait "$(port_of "$s")" "$(pid_of "$s")" "$START_TIMEOUT" 2>"$ROOT/$s/wait.err"; then
        show_log "$s"
        die "$(label "$s") failed to start on 127.0.0.1:$(port_of "$s"): $(cat "$ROOT/$s/wait.err")"
    fi
    note "$(label "$s") up on 127.0.0.1:$(port_of "$s") (pid $(pid_of "$s"))"
done

alive_or_die() { # server what
    pid=$(pid_of "$1")
    if ! kill -0 "$pid" 2>/dev/null || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
        show_log "$1"
        die "$(label "$1") (pid $pid) died $2"
    fi
}

flush() { # server
    alive_or_die "$1" "before FLUSHALL"
    out=$("$PY" "$HERE/resp.py" cmd "$(port_of "$1")" 120 FLUSHALL 2>&1) ||
        die "FLUSHALL on $(label "$1") failed: $out"
}

# Rotate a word list left by $1 places.
rotate() {
    k=$1; shift
    n=$#
    k=$((k % n))
    out=""
    i=0
    for w in "$@"; do
        if [ "$i" -ge "$k" ]; then out="$out $w"; fi
        i=$((i + 1))
    done
    i=0
    for w in "$@"; do
        if [ "$i" -lt "$k" ]; then out="$out $w"; fi
        i=$((i + 1))
    done
    echo $out
}

# ---- preflight: catch misspelt test names before the long runs ----------------
for t in $TEST_LIST; do
    pre=$ROOT/raw/preflight_$t
    $TIMEOUT_CMD "$BENCH_BIN" -h 127.0.0.1 -p "$(port_of "$PRE")" -c 1 -n 1 -t "$t" --csv \
        >"$pre.csv" 2>"$pre.err" || { tail -n 20 "$pre.csv" "$pre.err" >&2; die "preflight of test '$t' against $(label "$PRE") failed"; }
    [ "$(grep -c -v '^"test"' "$pre.csv")" -gt 0 ] ||
        die "redis-benchmark knows no test '$t' (BENCH_TESTS=$TESTS)"
done

# ---- benchmark -------------------------------------------------------------
MANIFEST=$ROOT/manifest
: >"$MANIFEST"
n_tests=$(echo $TEST_LIST | wc -w)
n_pipes=$(echo $PIPELINES | wc -w)
total=$((n_tests * n_pipes * N_SERVERS))
done_runs=0
round=0
for p in $PIPELINES; do
    for s in $SERVERS; do flush "$s"; done
    for t in $TEST_LIST; do
        for s in $(rotate "$round" $SERVERS); do
            alive_or_die "$s" "before test $t -P $p"
            port=$(port_of "$s")
            out=$ROOT/raw/${s}_P${p}_$t.csv
            err=$ROOT/raw/${s}_P${p}_$t.err
            done_runs=$((done_runs + 1))
            printf 'bench: [%d/%d] %-16s -t %-10s -P %-3s ' "$done_runs" "$total" "$(label "$s")" "$t" "$p" >&2
            # Run in the background and `wait`, so a TERM/INT to this script is
            # acted on at once (sh defers traps while a foreground child runs).
            # shellcheck disable=SC2086
            $TIMEOUT_CMD "$BENCH_BIN" -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$N" \
                -r "$KEYSPACE" -t "$t" -P "$p" --csv </dev/null >"$out" 2>"$err" &
            BENCH_PID=$!
            wait "$BENCH_PID"
            rc=$?
            BENCH_PID=""
            if [ "$rc" -ne 0 ]; then
                echo "FAILED" >&2
                tail -n 20 "$out" "$err" >&2
                show_log "$s"
                if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
                    die "interrupted (redis-benchmark killed by a signal)"
                fi
                if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
                    die "redis-benchmark against $(label "$s") timed out after ${RUN_TIMEOUT}s (test $t, -P $p)"
                fi
                die "redis-benchmark against $(label "$s") exited $rc (test $t, -P $p); an error reply or lost connection"
            fi
            rows=$(grep -c -v '^"test"' "$out")
            if [ "$rows" -eq 0 ]; then
                echo "FAILED" >&2
                die "redis-benchmark produced no results for test '$t' (not a redis-benchmark test name?)"
            fi
            # Show the rps of the first row as progress.
            grep -v '^"test"' "$out" | head -n 1 | cut -d, -f2 | tr -d '"' | sed 's/$/ ops\/s/' >&2
            alive_or_die "$s" "during test $t -P $p"
            echo "$(label "$s") $p $t $out" >>"$MANIFEST"
        done
        round=$((round + 1))
    done
done

# ---- memory ----------------------------------------------------------------
MEM=$ROOT/mem.md
{
    echo "| server | peak RSS (VmHWM) | data dir size at end |"
    echo "|---|--:|--:|"
    for s in $SERVERS; do
        hwm=$(awk '/^VmHWM:/ {print $2 " " $3}' "/proc/$(pid_of "$s")/status" 2>/dev/null)
        size=$(du -sk "$ROOT/$s" 2>/dev/null | awk '{print $1 " kB"}')
        echo "| $(label "$s") | ${hwm:-?} | ${size:-?} |"
    done
} >"$MEM"

# ---- report ------------------------------------------------------------------
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RESULTS=$HERE/results
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
TABLE=$ROOT/table.md
[ -n "$NAME" ] && STAMP=$NAME-$STAMP
"$PY" "$HERE/table.py" "$MANIFEST" "$RESULTS/$STAMP.csv" >"$TABLE" || die "table.py failed"

cpu=$(grep -m1 -i '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
[ -n "$cpu" ] || cpu=$(grep -m1 -i -e '^Hardware' -e '^cpu model' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
[ -n "$cpu" ] || cpu="unknown ($(uname -m))"
rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$rev" != unknown ] && ! git -C "$REPO" diff --quiet HEAD 2>/dev/null; then rev="$rev-dirty"; fi
redis_ver=$("$REDIS_BIN" --version 2>/dev/null | head -n 1)
bench_ver=$("$BENCH_BIN" --version 2>/dev/null | head -n 1)

REPORT=$RESULTS/$STAMP.md
{
    echo "# cairn benchmark $STAMP"
    echo
    if [ "$STANDIN" = 1 ]; then
        echo "> **Validation run: the \"cairn\" column is \`$CAIRN_BIN\` (redis-server) standing in for cairn, with default persistence; its numbers say nothing about cairn.**"
        echo
    fi
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- Machine: nproc=$(nproc 2>/dev/null || echo '?'), CPU: $cpu, kernel $(uname -sr)"
    echo "- cairn: \`$CAIRN_BIN\` (git $rev)"
    echo "- redis: \`$REDIS_BIN\` — $redis_ver; $bench_ver"
    echo "- Data dirs under \`$BASE_TMP\` (filesystem: $FSTYPE; device: $(df -P "$ROOT" 2>/dev/null | awk 'NR==2 {print $1}'))"
    echo "- Each server in its own fresh temp dir, 127.0.0.1 only. Per pipeline depth: FLUSHALL every server, then for each test run it against all $N_SERVERS servers (order rotated each test), so a write test fills what the next test reads or pops (SET then GET, LPUSH/RPUSH then LPOP/RPOP, SADD then SPOP, ZADD then ZPOPMIN)."
    echo "- ops/s = redis-benchmark \"rps\" (commands/s; one MSET carries 10 keys). p50/p99 in ms, per request as timed by redis-benchmark (with -P 16, a request waits for its whole pipeline batch)."
    echo
    ports=""
    for s in $SERVERS; do ports="$ports${ports:+, }$(label "$s")=$(port_of "$s")"; done
    echo "Commands (PORT per server: $ports):"
    echo
    echo '```'
    for p in $PIPELINES; do
        for t in $TEST_LIST; do
            echo "$(basename "$BENCH_BIN") -h 127.0.0.1 -p PORT -c $CLIENTS -n $N -r $KEYSPACE -t $t -P $p --csv"
        done
    done
    echo '```'
    echo
    echo "Server configs (\`SERVER CONFIG_FILE\`):"
    echo
    for s in $SERVERS; do
        echo "$(label "$s"):"
        echo
        echo '```'
        cat "$ROOT/$s.conf"
        echo '```'
        echo
    done
    echo "## Throughput and latency"
    echo
    cat "$TABLE"
    echo
    echo "Ratios are cairn ops/s divided by the other server's ops/s in this same run. Rows \"LPUSH (needed to benchmark LRANGE)\" (the fill redis-benchmark runs before each LRANGE test) are left out of the table; they are in the CSV."
    echo
    echo "## Memory"
    echo
    cat "$MEM"
} >"$REPORT" || die "cannot write $REPORT"

cat "$REPORT"
note "report saved to $REPORT (raw CSV: $RESULTS/$STAMP.csv)"
