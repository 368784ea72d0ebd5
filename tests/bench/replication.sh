#!/bin/sh
# Replication benchmarks of issue 4 ("Performance"), run by hand:
#   1. full sync of a ~1 GB data set, cairn -> cairn vs redis -> redis
#      (disk-based and diskless): sync time, master write throughput during
#      the sync relative to idle, master peak memory relative to before;
#   2. resume of a stopped cairn replica after N GB of writes (N = 1, 4)
#      against a forced full sync of the same data, and Redis with a 1 MB
#      backlog for contrast.
# Usage: sh tests/bench/replication.sh [BUILD_DIR]     (default: build)
# Quick check: BENCH_REPL_GB=0.1 sh tests/bench/replication.sh build
# See tests/bench/README.md ("Replication") for the knobs and the columns.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() { echo "repl-bench: error: $*" >&2; exit 1; }
note() { echo "repl-bench: $*" >&2; }

BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
CAIRN_BIN=${CAIRN_SERVER:-$BUILD/cairn-server}
[ -x "$CAIRN_BIN" ] || die "cairn server binary '$CAIRN_BIN' not found (cmake --build $BUILD first)"
REDIS_BIN=$(command -v "${REDIS_SERVER:-redis-server}") || die "redis-server not found (set REDIS_SERVER)"
BENCH_BIN=$(command -v "${REDIS_BENCHMARK:-redis-benchmark}") || die "redis-benchmark not found (set REDIS_BENCHMARK)"
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || die "'$PY' not found"
export CAIRN_BIN REDIS_BIN BENCH_BIN

GB=${BENCH_REPL_GB:-1}
RESUME=${BENCH_REPL_RESUME_GB:-}
export BENCH_REPL_GB=$GB

# Temp dirs on a real disk: /work if it exists (the default /tmp may be tmpfs).
if [ -n "${BENCH_TMPDIR:-}" ]; then BASE_TMP=$BENCH_TMPDIR
elif [ -d /work ] && [ -w /work ]; then BASE_TMP=/work
else BASE_TMP=${TMPDIR:-/tmp}; fi
ROOT=$(mktemp -d "$BASE_TMP/cairn-repl-bench.XXXXXX") || die "mktemp in $BASE_TMP failed"
FSTYPE=$(stat -f -c %T "$ROOT" 2>/dev/null || echo unknown)
case "$FSTYPE" in
    tmpfs|ramfs) note "WARNING: $BASE_TMP is $FSTYPE: disk reads and fsync cost nothing there; set BENCH_TMPDIR" ;;
esac
: >"$ROOT/pids"
DRIVER_PID=""

cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$DRIVER_PID" ]; then
        kill -TERM "$DRIVER_PID" 2>/dev/null
        wait "$DRIVER_PID" 2>/dev/null
    fi
    # Whatever the driver started and did not stop (it stops its servers
    # itself unless it was killed). Only pids it recorded, one by one.
    for pid in $(cat "$ROOT/pids" 2>/dev/null); do
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        kill -0 "$pid" 2>/dev/null && { note "pid $pid ignored TERM; KILL"; kill -KILL "$pid" 2>/dev/null; }
    done
    keep=${BENCH_KEEP:-}
    [ -z "$keep" ] && [ "$rc" -ne 0 ] && keep=1   # a failed run keeps its logs unless BENCH_KEEP=0
    if [ "$keep" = 1 ]; then
        note "kept server dirs and logs in $ROOT"
    else
        rm -rf "$ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- disk space ------------------------------------------------------------
free_kb=$(df -Pk "$ROOT" | awk 'NR==2 {print $4}')
note "free space under $BASE_TMP: $((free_kb / 1024 / 1024)) GB ($FSTYPE); per-case checks refuse a resume case with less than 3x its need"
# The full-sync part alone: two copies (master, replica) of the data in
# LMDB plus the backlog, redis alike, with headroom.
need_kb=$("$PY" -c "print(int($GB * 8 * 1e6))")
[ "$free_kb" -ge $((need_kb * 3)) ] || die "need about 3 x $((need_kb / 1024)) MB free under $BASE_TMP for BENCH_REPL_GB=$GB, have $((free_kb / 1024)) MB"

# ---- run -------------------------------------------------------------------
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RESULTS=$HERE/results
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
PREFIX=$RESULTS/replication-$STAMP

"$PY" "$HERE/repl_bench.py" "$ROOT" "$PREFIX" &
DRIVER_PID=$!
wait "$DRIVER_PID"
drc=$?
DRIVER_PID=""

cpu=$(grep -m1 -i '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
REPORT=$PREFIX.md
{
    echo "# cairn replication benchmark $STAMP"
    echo
    [ "$drc" -eq 0 ] || { echo "> **The run failed (exit $drc); tables are partial. See the driver log below.**"; echo; }
    echo "- Machine: nproc=$(nproc), CPU: ${cpu:-?}, RAM $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), kernel $(uname -sr)"
    echo "- cairn: \`$CAIRN_BIN\` (git $rev), durability ${BENCH_REPL_DURABILITY:-strict}"
    echo "- redis: $("$REDIS_BIN" --version | head -n 1)"
    echo "- Data dirs under \`$BASE_TMP\` ($FSTYPE, $(df -P "$ROOT" | awk 'NR==2 {print $1}')); all servers 127.0.0.1, free ports; master and replica on the same machine"
    echo "- Command: \`BENCH_REPL_GB=$GB${RESUME:+ BENCH_REPL_RESUME_GB=\"$RESUME\"} sh tests/bench/replication.sh\`"
    echo
    cat "$PREFIX.tables.md" 2>/dev/null
    echo
    echo "## Driver log"
    echo
    echo '```'
    cat "$ROOT/driver.log" 2>/dev/null
    echo '```'
} >"$REPORT"
cat "$REPORT"
note "report saved to $REPORT (raw numbers: $PREFIX.json)"
if [ "$drc" -ne 0 ]; then
    for f in "$ROOT"/*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $f ---" >&2
        tail -n 20 "$f" >&2
    done
    exit "$drc"
fi
