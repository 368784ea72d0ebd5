#!/bin/sh
# cairn at scale, side by side with redis-server (appendfsync always) in the
# same run: a big random SET load, kill -9 and restart under load, space per
# key, and (optionally) the load with cairn's memory capped below the store.
# Usage: sh tests/bench/scale.sh BUILD_DIR   (normally via `make bench-scale`)
# Knobs (SCALE_*) and how to read the report: tests/bench/README.md,
# "At scale: make bench-scale". Helpers: scale.py (launch/sample/ack...),
# resp.py (ports, one-line commands).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() { echo "scale: error: $*" >&2; exit 1; }
note() { echo "scale: $*" >&2; }

# ---- settings ------------------------------------------------------------
N=${SCALE_N:-10000000}                     # requests per load
KEYSPACE=${SCALE_KEYSPACE:-10000000}       # redis-benchmark -r
CLIENTS=${SCALE_CLIENTS:-50}
PIPELINE=${SCALE_PIPELINE:-32}
DATA=${SCALE_DATA:-100}                    # value size (-d)
PHASES=${SCALE_PHASES:-load restart space}
SERVERS=${SCALE_SERVERS:-cairn redis}
KILL_AFTER=${SCALE_KILL_AFTER:-20}         # seconds of load before kill -9
RESTART_N=${SCALE_RESTART_N:-1000000000}   # -n of the load that gets killed
SETTLE=${SCALE_SETTLE:-2}                  # seconds after a load before reading io/INFO
BIGRAM_DIVISOR=${SCALE_BIGRAM_DIVISOR:-3}  # memory limit = store size / this
BIGRAM_BUDGET=${SCALE_BIGRAM_BUDGET:-4}    # bigram phase: overlay-max-memory = memory limit / this
BIGRAM_N=${SCALE_BIGRAM_N:-$N}             # bigram phase: requests per load
RUN_TIMEOUT=${SCALE_TIMEOUT:-7200}         # seconds per redis-benchmark call
START_TIMEOUT=${SCALE_START_TIMEOUT:-900}  # seconds for a (re)start to answer
STOP_TIMEOUT=${SCALE_STOP_TIMEOUT:-60}     # seconds between TERM and KILL
CAIRN_EXTRA=${SCALE_CAIRN_CONFIG:-}        # extra cairn directives, ';'-separated
NAME=${SCALE_NAME:-scale}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
PY=${PYTHON:-python3}

is_uint() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }
val=""
for v in N KEYSPACE CLIENTS PIPELINE DATA KILL_AFTER RESTART_N BIGRAM_DIVISOR BIGRAM_BUDGET BIGRAM_N RUN_TIMEOUT START_TIMEOUT STOP_TIMEOUT; do
    eval "val=\$$v"
    if ! is_uint "$val" || [ "$val" -eq 0 ]; then die "SCALE_$v must be a positive integer (got '$val')"; fi
done
is_uint "$SETTLE" || die "SCALE_SETTLE must be a non-negative integer (got '$SETTLE')"
for p in $PHASES; do
    case "$p" in load|restart|space|bigram) ;; *) die "SCALE_PHASES: unknown phase '$p' (load restart space bigram)" ;; esac
done
[ -n "$PHASES" ] || die "SCALE_PHASES is empty"
for s in $SERVERS; do
    case "$s" in cairn|redis) ;; *) die "SCALE_SERVERS: unknown server '$s' (cairn redis)" ;; esac
done
case " $SERVERS " in *" cairn "*) ;; *) die "SCALE_SERVERS must include cairn (got '$SERVERS')" ;; esac
case "$NAME" in ''|*[!A-Za-z0-9_-]*) die "SCALE_NAME may only hold letters, digits, - and _ (got '$NAME')" ;; esac
has_phase() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---- binaries ------------------------------------------------------------
if [ -n "${CAIRN_SERVER:-}" ]; then
    CAIRN_BIN=$CAIRN_SERVER
else
    if [ $# -lt 1 ] || [ -z "$1" ]; then die "usage: $0 BUILD_DIR   (or set CAIRN_SERVER=/path/to/cairn-server)"; fi
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
[ -r /proc/self/io ] || die "/proc/PID/io is not readable here (needed for bytes written per SET)"
if command -v timeout >/dev/null 2>&1; then
    TIMEOUT_CMD="timeout --foreground -k 10 $RUN_TIMEOUT"
else
    note "coreutils 'timeout' not found; a hung redis-benchmark will not be cut off"
    TIMEOUT_CMD=""
fi
STANDIN=0
[ "$(basename "$CAIRN_BIN")" = redis-server ] && STANDIN=1

label() { case "$1" in cairn) echo cairn ;; redis) echo redis-always ;; esac; }

# ---- temp area and cleanup -------------------------------------------------
BASE_TMP=${SCALE_TMPDIR:-${TMPDIR:-/tmp}}
ROOT=$(mktemp -d "$BASE_TMP/cairn-scale.XXXXXX") || die "mktemp in $BASE_TMP failed"
FSTYPE=$(stat -f -c %T "$ROOT" 2>/dev/null || echo unknown)
case "$FSTYPE" in
    tmpfs|ramfs) note "WARNING: $BASE_TMP is $FSTYPE; fsync costs nothing there. Set SCALE_TMPDIR to a directory on a real disk." ;;
esac
# Helpers this script started in the background (cleanup stops them), and the
# cgroup the bigram phase made (removed at the end).
BENCH_PID=""
ACK_PID=""
SAMPLER_PID=""
LAUNCH_PID=""
CG_MADE=""

# Servers are started by `scale.py launch` (so the time from exec to the first
# reply can be measured), which writes "PID STARTTIME" to ROOT/pids/<server>.pid
# and leaves the server to init once it answers. A server is only signalled
# while its pid still has that start time, so a recycled pid is never hit.
proc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }
pid_of() { [ -f "$ROOT/pids/$1.pid" ] && awk '{print $1; exit}' "$ROOT/pids/$1.pid"; }
ours() { # server
    [ -f "$ROOT/pids/$1.pid" ] || return 1
    read -r opid ostart <"$ROOT/pids/$1.pid" || return 1
    [ -n "$opid" ] && [ "$(proc_start "$opid")" = "$ostart" ]
}
is_zombie() { grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null || is_zombie "$1"; }

stop_server() { # server: TERM, then KILL after STOP_TIMEOUT
    ours "$1" || return 0
    set -- "$1" "$(pid_of "$1")"
    kill -TERM "$2" 2>/dev/null
    i=0
    while ! gone "$2" && [ "$i" -lt $((STOP_TIMEOUT * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if ! gone "$2" && ours "$1"; then
        note "$(label "$1") (pid $2) did not stop after ${STOP_TIMEOUT}s; sending KILL"
        kill -KILL "$2" 2>/dev/null
        i=0
        while ! gone "$2" && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    fi
}

cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    for hp in $BENCH_PID $ACK_PID $SAMPLER_PID $LAUNCH_PID; do
        kill -TERM "$hp" 2>/dev/null
        wait "$hp" 2>/dev/null
    done
    for f in "$ROOT"/pids/*.pid; do
        [ -f "$f" ] || continue
        f=${f##*/}
        stop_server "${f%.pid}"
    done
    if [ -n "$CG_MADE" ]; then
        # (a server that just exited may still be releasing its pages in it)
        i=0
        while ! rmdir "$CG_MADE" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        [ -d "$CG_MADE" ] && note "could not remove cgroup $CG_MADE"
    fi
    if [ "${SCALE_KEEP:-0}" = 1 ]; then
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

mkdir -p "$ROOT/raw" "$ROOT/pids" || die "cannot create $ROOT/raw"

# Rough disk need: LMDB (high-water mark ~3x the live data, 1 GB map
# allocated from the start) + backlog for cairn, AOF (+ rewrite) for redis.
need_kb=$(( (N / 1000 + 1) * (DATA + 64) * 6 + 1048576 ))
avail_kb=$(df -Pk "$ROOT" 2>/dev/null | awk 'NR==2 {print $4}')
if is_uint "${avail_kb:-x}" && [ "$avail_kb" -lt "$need_kb" ]; then
    note "WARNING: $avail_kb kB free under $BASE_TMP; this run may need about $need_kb kB"
fi

# ---- results: every number goes to ROOT/results.csv and a shell variable ----
RES=$ROOT/results.csv
echo "phase,server,metric,value" >"$RES"
put() { # phase server metric value
    echo "$1,$2,$3,$4" >>"$RES"
    eval "R_$1_$2_$3=\$4"
}
get() { eval "echo \"\${R_$1_$2_$3:-}\""; }

# ---- configs -------------------------------------------------------------
N_SERVERS=$(echo "$SERVERS" | wc -w)
PORT_cairn=""
PORT_redis=""
PORTS=$("$PY" "$HERE/resp.py" ports "$N_SERVERS") || die "could not pick free ports"
# shellcheck disable=SC2086 # split into words on purpose
set -- $PORTS
for s in $SERVERS; do
    eval "PORT_$s=$1"
    shift
    mkdir "$ROOT/$s" || die "cannot create $ROOT/$s"
done
port_of() { eval "echo \$PORT_$1"; }

write_common() { # dir port
    printf 'bind 127.0.0.1\nport %s\ndir %s\nlogfile ""\nlatency-monitor-threshold 10\n' "$2" "$1"
}
{
    write_common "$ROOT/cairn" "$PORT_cairn"
    if [ "$STANDIN" = 1 ]; then
        echo '# durability strict omitted: redis-server is standing in for cairn'
    else
        echo 'durability strict'
        if [ -n "$CAIRN_EXTRA" ]; then echo "$CAIRN_EXTRA" | tr ';' '\n' | sed 's/^ *//'; fi
    fi
} >"$ROOT/cairn.conf"
if [ -n "$PORT_redis" ]; then
    {
        write_common "$ROOT/redis" "$PORT_redis"
        printf 'appendonly yes\nappendfsync always\nsave ""\n'
    } >"$ROOT/redis.conf"
fi
bin_of() { if [ "$1" = cairn ]; then echo "$CAIRN_BIN"; else echo "$REDIS_BIN"; fi; }

show_log() { # server
    if [ -s "$ROOT/$1/server.log" ]; then
        echo "--- last lines of $(label "$1") log ($ROOT/$1/server.log) ---" >&2
        tail -n 20 "$ROOT/$1/server.log" >&2
    fi
}
alive_or_die() { # server what
    ap=$(pid_of "$1")
    if [ -z "$ap" ] || gone "$ap"; then
        show_log "$1"
        die "$(label "$1") (pid ${ap:-?}) died $2"
    fi
}

# start_server SERVER TAG [KEY VALUE] [-- WRAPPER...]: start (or restart) on the
# same dir and port through scale.py launch; the wrapper, if any, goes before
# the server's argv (cgroup placement). Sets START_* from the launch line.
start_server() {
    ss=$1; stag=$2; shift 2
    sget=""
    if [ $# -ge 2 ] && [ "$1" != -- ]; then sget="--get $1 $2"; shift 2; fi
    [ $# -ge 1 ] && [ "$1" = -- ] && shift
    rm -f "$ROOT/pids/$ss.pid"
    # shellcheck disable=SC2086
    "$PY" "$HERE/scale.py" launch "$ROOT/pids/$ss.pid" "$ROOT/$ss/server.log" "$(port_of "$ss")" "$START_TIMEOUT" \
        $sget -- "$@" "$(bin_of "$ss")" "$ROOT/$ss.conf" >"$ROOT/raw/start_${stag}_$ss.out" 2>&1 &
    LAUNCH_PID=$!
    wait "$LAUNCH_PID"
    src=$?
    LAUNCH_PID=""
    sline=$(grep '^pid=' "$ROOT/raw/start_${stag}_$ss.out")
    if [ "$src" -ne 0 ] || [ -z "$sline" ]; then
        cat "$ROOT/raw/start_${stag}_$ss.out" >&2
        show_log "$ss"
        case "$src" in
            1) die "$(label "$ss") exited during start ($stag) on 127.0.0.1:$(port_of "$ss")" ;;
            2) die "$(label "$ss") did not answer within ${START_TIMEOUT}s ($stag)" ;;
            *) die "starting $(label "$ss") failed ($stag, launcher exit $src)" ;;
        esac
    fi
    for kv in $sline; do
        case "$kv" in
            reply_ms=*) START_REPLY=${kv#*=} ;;
            ping_ms=*) START_PING=${kv#*=} ;;
            get_ms=*) START_GET=${kv#*=} ;;
            loading=*) START_LOADING=${kv#*=} ;;
        esac
    done
    note "$(label "$ss") up on 127.0.0.1:$(port_of "$ss") (pid $(pid_of "$ss"), $stag: PING after ${START_PING} ms)"
}

cmd1() { # server timeout ARGS...: one command, first reply line
    cs=$1; ct=$2; shift 2
    "$PY" "$HERE/resp.py" cmd "$(port_of "$cs")" "$ct" "$@"
}
dbsize() { cmd1 "$1" 120 DBSIZE 2>/dev/null | tr -d ':\r'; }
info_field() { # server field [section]
    "$PY" "$HERE/scale.py" info "$(port_of "$1")" ${3:+"$3"} 2>/dev/null | awk -F: -v k="$2" '$1 == k {print $2; exit}'
}
write_bytes() { awk '/^write_bytes:/ {print $2}' "/proc/$1/io" 2>/dev/null; }
dir_kb() { du -sk "$1" 2>/dev/null | awk '{print $1}'; }
now_ms() { date +%s%3N; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf f "\n", a / b }'; }

# The INFO fields about overlays, iterations, checkpoints and draining that
# this build has (INFO default + INFO cairn), into FILE.
cairn_fields() { # file
    {
        "$PY" "$HERE/scale.py" info "$PORT_cairn" 2>/dev/null
        "$PY" "$HERE/scale.py" info "$PORT_cairn" cairn 2>/dev/null
    } | awk -F: 'NF >= 2 && tolower($1) ~ /overlay|iteration|checkpoint|drain|writer_|store_full|lmdb_live/ && !seen[$0]++' >"$1"
    # where the longest stalls came from (write_common sets latency-monitor-threshold)
    "$PY" "$HERE/scale.py" latency "$PORT_cairn" >>"$1" 2>/dev/null || true
}

# run_bench SERVER FILE TEST N: redis-benchmark in the background (BENCH_PID).
run_bench() {
    # shellcheck disable=SC2086
    $TIMEOUT_CMD "$BENCH_BIN" -h 127.0.0.1 -p "$(port_of "$1")" -c "$CLIENTS" -P "$PIPELINE" -d "$DATA" \
        -r "$KEYSPACE" -n "$4" -t "$3" --csv </dev/null >"$2.csv" 2>"$2.err" &
    BENCH_PID=$!
}
# finish_bench SERVER FILE WHAT: wait for it, die on failure.
finish_bench() {
    wait "$BENCH_PID"
    brc=$?
    BENCH_PID=""
    if [ "$brc" -ne 0 ]; then
        tail -n 20 "$2.csv" "$2.err" >&2
        show_log "$1"
        case "$brc" in
            130|143) die "interrupted (redis-benchmark killed by a signal)" ;;
            124|137) die "redis-benchmark against $(label "$1") timed out after ${RUN_TIMEOUT}s ($3)" ;;
        esac
        die "redis-benchmark against $(label "$1") exited $brc ($3); an error reply or lost connection"
    fi
}
# bench_row FILE TEST: "rps p50 p99 max" from redis-benchmark's --csv
# (columns: test,rps,avg,min,p50,p95,p99,max).
bench_row() {
    tr -d '"' <"$1.csv" | awk -F, -v t="$2" '$1 == t {print $2, $5, $7, $8; found=1; exit} END {if (!found) exit 1}'
}

start_sampler() { # pid file
    "$PY" "$HERE/scale.py" sample "$1" "$2" 1 2>/dev/null &
    SAMPLER_PID=$!
}
stop_sampler() {
    kill -TERM "$SAMPLER_PID" 2>/dev/null
    wait "$SAMPLER_PID" 2>/dev/null
    SAMPLER_PID=""
}

# ---- start ---------------------------------------------------------------
for s in $SERVERS; do
    start_server "$s" start
    put start "$s" ping_ms "$START_PING"
done
REDIS_VER_SEEN=""
[ -n "$PORT_redis" ] && REDIS_VER_SEEN=$(info_field redis redis_version server)
BENCH_ARGS="-c $CLIENTS -P $PIPELINE -d $DATA -r $KEYSPACE"

# ---- phase: load ---------------------------------------------------------
if has_phase load; then
    for s in $SERVERS; do
        alive_or_die "$s" "before the load"
        pid=$(pid_of "$s")
        f=$ROOT/raw/load_$s
        printf 'scale: load: %-13s %s -n %s -t set ... ' "$(label "$s")" "$BENCH_ARGS" "$N" >&2
        wb0=$(write_bytes "$pid")
        start_sampler "$pid" "$f.mem"
        t0=$(now_ms)
        run_bench "$s" "$f" set "$N"
        finish_bench "$s" "$f" "load"
        t1=$(now_ms)
        alive_or_die "$s" "during the load"
        sleep "$SETTLE"
        stop_sampler
        wb1=$(write_bytes "$pid")
        row=$(bench_row "$f" SET) || die "no SET row in $f.csv"
        # shellcheck disable=SC2086 # split into words on purpose
        set -- $row
        echo "$1 ops/s" >&2
        put load "$s" ops "$1"
        put load "$s" p50_ms "$2"
        put load "$s" p99_ms "$3"
        put load "$s" max_ms "$4"
        put load "$s" wall_s "$(div $((t1 - t0)) 1000 %.1f)"
        put load "$s" keys "$(dbsize "$s")"
        read -r anon rfile _ nsamp kidw <"$f.mem" 2>/dev/null || { anon=""; rfile=""; nsamp=0; kidw=0; }
        put load "$s" rss_anon_max_mb "$(div "$anon" 1024 %.1f)"
        put load "$s" rss_file_max_mb "$(div "$rfile" 1024 %.1f)"
        put load "$s" mem_samples "$nsamp"
        wb=$(( ${wb1:-0} - ${wb0:-0} + ${kidw:-0} ))
        put load "$s" write_bytes "$wb"
        put load "$s" children_write_bytes "${kidw:-0}"
        put load "$s" write_bytes_per_set "$(div "$wb" "$N" %.0f)"
        if [ "$s" = cairn ]; then cairn_fields "$ROOT/raw/fields_load.txt"; fi
    done
fi

# ---- phase: space (the store as the load left it) --------------------------
if has_phase space; then
    for s in $SERVERS; do
        alive_or_die "$s" "before the space readings"
        k=$(dbsize "$s")
        put space "$s" keys "$k"
        put space "$s" dir_kb "$(dir_kb "$ROOT/$s")"
        if [ "$s" = cairn ]; then
            u=$(info_field cairn lmdb_used_bytes memory)
            [ -n "$u" ] || u=$(info_field cairn used_memory memory)   # stand-in run
            put space cairn used_bytes "$u"
            put space cairn map_bytes "$(info_field cairn lmdb_map_size memory)"
            put space cairn store_kb "$(dir_kb "$ROOT/cairn/store")"
            put space cairn backlog_kb "$(dir_kb "$ROOT/cairn/backlog")"
            # The high-water mark counts free pages too; mdb_stat (lmdb-utils,
            # a read-only reader, safe while the server runs) tells them apart.
            if command -v mdb_stat >/dev/null 2>&1 && [ -f "$ROOT/cairn/store/data.mdb" ]; then
                # shellcheck disable=SC2046 # three numbers
                set -- $(mdb_stat -ef "$ROOT/cairn/store" 2>/dev/null | awk -F: '
                    /Page size/ {ps = $2} /Number of pages used/ {u = $2} /Free pages/ {f = $2}
                    END {if (ps && u) printf "%d %d %d\n", ps, u, f}')
                if [ $# -eq 3 ]; then
                    put space cairn live_bytes $(( ($2 - $3) * $1 ))
                    put space cairn free_bytes $(( $3 * $1 ))
                    put space cairn live_bytes_per_key "$(div $(( ($2 - $3) * $1 )) "$k" %.1f)"
                fi
            fi
        else
            u=$(info_field redis used_memory memory)
            put space redis used_bytes "$u"
            put space redis rss_bytes "$(info_field redis used_memory_rss memory)"
        fi
        put space "$s" bytes_per_key "$(div "$u" "$k" %.1f)"
    done
fi

# ---- phase: restart (kill -9 under load, restart on the same dir and port) --
if has_phase restart; then
    for s in $SERVERS; do
        alive_or_die "$s" "before the restart phase"
        pid=$(pid_of "$s")
        f=$ROOT/raw/restart_$s
        token=t$$-$(now_ms)-$s
        note "restart: $(label "$s"): load (-n $RESTART_N) and ack:* writer for ${KILL_AFTER}s, then kill -9 and restart"
        run_bench "$s" "$f" set "$RESTART_N"
        "$PY" "$HERE/scale.py" ackwriter "$(port_of "$s")" "$token" "$f.ack" 2>"$f.ackerr" &
        ACK_PID=$!
        sleep "$KILL_AFTER"
        if gone "$BENCH_PID"; then
            note "WARNING: the load against $(label "$s") ended before the kill (see $f.err)"
        fi
        alive_or_die "$s" "before the kill"
        ours "$s" || die "pid $pid is not $(label "$s") any more"
        kill -KILL "$pid"
        i=0
        while ! gone "$pid" && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        gone "$pid" || die "$(label "$s") (pid $pid) still there 30 s after kill -9"
        rm -f "$ROOT/pids/$s.pid"
        if [ "$s" = redis ]; then
            put restart redis load_mb "$(du -sk --apparent-size "$ROOT/redis/appendonlydir" 2>/dev/null | awk '{printf "%.1f\n", $1 / 1024}')"
        fi
        kill -TERM "$BENCH_PID" 2>/dev/null
        wait "$BENCH_PID" 2>/dev/null
        BENCH_PID=""
        # The writer stops on the closed connection by itself.
        i=0
        while ! gone "$ACK_PID" && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        kill -TERM "$ACK_PID" 2>/dev/null
        wait "$ACK_PID" 2>/dev/null
        ACK_PID=""
        last=$(cat "$f.ack" 2>/dev/null)
        is_uint "${last#-}" || last=-1
        put restart "$s" acked "$((last + 1))"
        log_lines=$(wc -l <"$ROOT/$s/server.log")
        if [ "$last" -ge 0 ]; then
            start_server "$s" restart "ack:$last" "$token:$last"
        else
            note "WARNING: no acknowledged ack:* write before the kill (see $f.ackerr)"
            start_server "$s" restart
        fi
        put restart "$s" first_reply_ms "$START_REPLY"
        put restart "$s" ping_ms "$START_PING"
        put restart "$s" get_ms "$START_GET"
        put restart "$s" loading_replies "$START_LOADING"
        if [ "$last" -ge 0 ]; then
            chk=$("$PY" "$HERE/scale.py" ackcheck "$(port_of "$s")" "$token" "$last" 2>&1)
            crc=$?
            echo "$chk" >"$f.check"
            if [ "$crc" -eq 0 ]; then put restart "$s" ack_check pass; else put restart "$s" ack_check FAIL; fi
        else
            chk="nothing acknowledged"
            put restart "$s" ack_check n/a
        fi
        note "restart: $(label "$s"): PING after $START_PING ms, GET of ack:$last after $START_GET ms; $((last + 1)) acknowledged: $chk"
        put restart "$s" keys_after "$(dbsize "$s")"
        # What the server logged about its recovery.
        tail -n +"$((log_lines + 1))" "$ROOT/$s/server.log" |
            grep -i -E 'recover|replay|loading|loaded|aof|truncat|ready' | head -n 20 >"$ROOT/raw/restart_log_$s.txt"
        if [ "$s" = cairn ]; then
            rb=$(sed -n 's/.*recovery: replaying \([0-9]*\) backlog bytes.*/\1/p' "$ROOT/raw/restart_log_cairn.txt" | head -n 1)
            put restart cairn load_mb "$(div "${rb:-0}" 1048576 %.1f)"
            cairn_fields "$ROOT/raw/fields_restart.txt"
        fi
    done
fi

# ---- phase: bigram (cairn with memory.max = store / BIGRAM_DIVISOR) ----------
BIGRAM_NOTE=""
# cg_setup BYTES: find a way to run cairn under a cgroup memory limit.
# Sets CG_MODE (systemd | dir | v1) and CG_DIR; returns 1 with BIGRAM_NOTE set
# if there is none. cgroup v2 first (systemd-run, or a child of our own
# cgroup); else a child of the v1 memory hierarchy (memory.limit_in_bytes,
# which like v2's memory.max charges the page cache of the mapped file too).
# cg_make DIR LIMIT_FILE BYTES MODE: create cgroup DIR and write its limit.
cg_make() {
    CG_DIR=$1
    if ! mkdir "$CG_DIR" 2>/dev/null; then
        BIGRAM_NOTE="cannot create $CG_DIR (not writable)"
        return 1
    fi
    CG_MADE=$CG_DIR
    if ! echo "$3" >"$CG_DIR/$2" 2>/dev/null; then
        BIGRAM_NOTE="cannot write $CG_DIR/$2"
        return 1
    fi
    CG_MODE=$4
    return 0
}
cg_setup() {
    if [ -z "${SCALE_CGROUP_PARENT:-}" ] && [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] &&
        [ -w /sys/fs/cgroup/memory ] && [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        cg_make /sys/fs/cgroup/memory/cairn-scale-$$ memory.limit_in_bytes "$1" v1
        return $?
    fi
    if [ -n "${SCALE_CGROUP_PARENT:-}" ]; then
        cg_parent=$SCALE_CGROUP_PARENT
    elif command -v systemd-run >/dev/null 2>&1 && systemd-run --scope --quiet -p MemoryMax=1G true >/dev/null 2>&1; then
        CG_MODE=systemd
        return 0
    elif [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
        cg_parent=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)
    else
        BIGRAM_NOTE="no cgroup v2 here (systemd-run --scope failed and /sys/fs/cgroup is $(stat -f -c %T /sys/fs/cgroup 2>/dev/null || echo absent), not cgroup2fs)"
        return 1
    fi
    if ! grep -qw memory "$cg_parent/cgroup.subtree_control" 2>/dev/null; then
        BIGRAM_NOTE="the memory controller is not enabled for children of $cg_parent (cgroup.subtree_control: $(cat "$cg_parent/cgroup.subtree_control" 2>/dev/null))"
        return 1
    fi
    cg_make "$cg_parent/cairn-scale-$$" memory.max "$1" dir
}
bigram_loads() { # tag: SET then GET load on cairn, rows into results
    for t in set get; do
        f=$ROOT/raw/bigram_${1}_$t
        printf 'scale: bigram (%s): cairn %s -n %s -t %s ... ' "$1" "$BENCH_ARGS" "$BIGRAM_N" "$t" >&2
        start_sampler "$(pid_of cairn)" "$f.mem"
        run_bench cairn "$f" "$t" "$BIGRAM_N"
        finish_bench cairn "$f" "bigram $1 $t"
        stop_sampler
        alive_or_die cairn "during the bigram $1 $t load"
        T=$(echo "$t" | tr '[:lower:]' '[:upper:]')
        row=$(bench_row "$f" "$T") || die "no $T row in $f.csv"
        # shellcheck disable=SC2086 # split into words on purpose
        set -- "$1" $row
        echo "$2 ops/s" >&2
        put bigram "$1" "${t}_ops" "$2"
        put bigram "$1" "${t}_p50_ms" "$3"
        put bigram "$1" "${t}_p99_ms" "$4"
        put bigram "$1" "${t}_max_ms" "$5"
        read -r anon rfile _ <"$f.mem" 2>/dev/null || { anon=""; rfile=""; }
        put bigram "$1" "${t}_rss_anon_max_mb" "$(div "$anon" 1024 %.1f)"
        put bigram "$1" "${t}_rss_file_max_mb" "$(div "$rfile" 1024 %.1f)"
    done
}
if has_phase bigram; then
    alive_or_die cairn "before the bigram phase"
    used=$(info_field cairn lmdb_used_bytes memory)
    if ! is_uint "${used:-x}" || [ "$used" -eq 0 ]; then
        BIGRAM_NOTE="no lmdb_used_bytes in cairn's INFO"
    else
        limit=$((used / BIGRAM_DIVISOR))
        put bigram free store_bytes "$used"
        put bigram capped memory_max "$limit"
        if cg_setup "$limit"; then
            # The overlay's budget must fit in the limit with room for LMDB's
            # pages (cairn warns at start when it does not): both the free
            # and the capped run get the same one.
            budget=$((limit / BIGRAM_BUDGET))
            put bigram free overlay_max_memory "$budget"
            if [ "$STANDIN" = 0 ]; then echo "overlay-max-memory $budget" >>"$ROOT/cairn.conf"; fi
            stop_server cairn
            start_server cairn bigram-free
            bigram_loads free
            # Restart cairn inside the cgroup. Its file's pages are still in
            # the page cache, charged to the cgroup that first read them:
            # drop them (this file only) so that the capped server pays for
            # what it maps.
            stop_server cairn
            rm -f "$ROOT/pids/cairn.pid"
            "$PY" "$HERE/scale.py" evict "$ROOT/cairn/store/data.mdb" || note "could not drop data.mdb from the page cache"
            if [ "$CG_MODE" = systemd ]; then
                start_server cairn bigram -- systemd-run --scope --quiet -p "MemoryMax=$limit" --
            else
                # shellcheck disable=SC2016
                start_server cairn bigram -- sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG_DIR"
            fi
            put bigram capped cgroup "$CG_MODE"
            bigram_loads capped
            if [ "$CG_MODE" = dir ]; then
                for k in memory.peak memory.current; do
                    [ -r "$CG_DIR/$k" ] && put bigram capped "$(echo "$k" | tr . _)" "$(cat "$CG_DIR/$k")"
                done
                ev=$(awk '$1 == "oom_kill" {print $2}' "$CG_DIR/memory.events" 2>/dev/null)
                put bigram capped oom_kills "${ev:-}"
            elif [ "$CG_MODE" = v1 ]; then
                put bigram capped memory_peak "$(cat "$CG_DIR/memory.max_usage_in_bytes" 2>/dev/null)"
                put bigram capped memory_current "$(cat "$CG_DIR/memory.usage_in_bytes" 2>/dev/null)"
                ev=$(awk '$1 == "oom_kill" {print $2}' "$CG_DIR/memory.oom_control" 2>/dev/null)
                put bigram capped oom_kills "${ev:-}"
                put bigram capped limit_hits "$(cat "$CG_DIR/memory.failcnt" 2>/dev/null)"
            fi
        fi
    fi
    [ -n "$BIGRAM_NOTE" ] && note "bigram phase skipped: $BIGRAM_NOTE"
fi

# ---- report ------------------------------------------------------------------
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RESULTS=$HERE/results
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
OUT=$RESULTS/$NAME-$STAMP

ratio() { # phase metric: cairn / redis
    div "$(get "$1" cairn "$2")" "$(get "$1" redis "$2")" %.2f
}
# row LABEL PHASE METRIC [noratio]
row() {
    rc_=$(get "$2" cairn "$3"); rr_=$(get "$2" redis "$3")
    if [ $# -ge 4 ]; then ra_=""; else ra_=$(ratio "$2" "$3"); fi
    echo "| $1 | ${rc_:-—} | ${rr_:-—} | ${ra_:-—} |"
}
thead() { echo "| $1 | cairn | redis-always | cairn / redis |"; echo "|---|--:|--:|--:|"; }

cpu=$(grep -m1 -i '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
[ -n "$cpu" ] || cpu="unknown ($(uname -m))"
rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$rev" != unknown ] && ! git -C "$REPO" diff --quiet HEAD 2>/dev/null; then rev="$rev-dirty"; fi
redis_ver=$("$REDIS_BIN" --version 2>/dev/null | head -n 1)
bench_ver=$("$BENCH_BIN" --version 2>/dev/null | head -n 1)
mem_total=$(awk '/^MemTotal:/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo 2>/dev/null)

{
    echo "# cairn at scale $STAMP"
    echo
    if [ "$STANDIN" = 1 ]; then
        echo "> **Validation run: the \"cairn\" column is \`$CAIRN_BIN\` (redis-server) standing in for cairn; its numbers say nothing about cairn.**"
        echo
    fi
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); phases: $PHASES"
    echo "- Machine: nproc=$(nproc 2>/dev/null || echo '?'), CPU: $cpu, RAM $mem_total, kernel $(uname -sr), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- cairn: \`$CAIRN_BIN\` (git $rev)"
    echo "- redis: \`$REDIS_BIN\` — $redis_ver${REDIS_VER_SEEN:+ (INFO: $REDIS_VER_SEEN)}; $bench_ver"
    echo "- Data dirs under \`$BASE_TMP\` (filesystem: $FSTYPE; device: $(df -P "$ROOT" 2>/dev/null | awk 'NR==2 {print $1}'); free at the start: ${avail_kb:-?} kB, at the end: $(df -Pk "$ROOT" 2>/dev/null | awk 'NR==2 {print $4}') kB)"
    echo "- Load: \`$(basename "$BENCH_BIN") -h 127.0.0.1 -p PORT $BENCH_ARGS -n $N -t set --csv\`, against each server one after the other ($SERVERS)."
    echo
    echo "Server configs (\`SERVER CONFIG_FILE\`, started through \`tests/bench/scale.py launch\`):"
    echo
    for s in $SERVERS; do
        echo "$(label "$s"):"
        echo
        echo '```'
        cat "$ROOT/$s.conf"
        echo '```'
        echo
    done
    if has_phase load; then
        echo "## Load: $N random SETs, $DATA-byte values, keyspace $KEYSPACE"
        echo
        thead "load"
        row "SET ops/s" load ops
        row "p50 ms" load p50_ms
        row "p99 ms" load p99_ms
        row "max ms" load max_ms
        row "wall time s" load wall_s
        row "keys (DBSIZE)" load keys
        row "peak RssAnon MB (1 s samples)" load rss_anon_max_mb
        row "peak RssFile MB" load rss_file_max_mb
        row "write_bytes (/proc/PID/io) per SET" load write_bytes_per_set
        echo
        echo "cairn / redis: above 1 on ops/s means cairn was faster; on ms, MB and bytes, below 1 means cairn took less."
        echo
        echo "write_bytes is /proc/PID/io's count from before the load to ${SETTLE} s after it, plus (redis) the AOF-rewrite children's own counts sampled each second ($(get load redis children_write_bytes) bytes); it counts bytes sent towards the disk, page-cache writes included, by the time they are dirtied."
        echo
        if [ -f "$ROOT/raw/fields_load.txt" ]; then
            echo "cairn INFO fields about overlay / iteration / checkpoint / drain after the load:"
            echo
            echo '```'
            if [ -s "$ROOT/raw/fields_load.txt" ]; then cat "$ROOT/raw/fields_load.txt"; else echo "(none in this build)"; fi
            echo '```'
            echo
        fi
    fi
    if has_phase space; then
        echo "## Space after the load"
        echo
        thead "space"
        row "keys" space keys
        row "bytes used (cairn: lmdb_used_bytes; redis: used_memory)" space used_bytes
        row "bytes per key" space bytes_per_key
        if [ -n "$(get space cairn live_bytes)" ]; then
            echo "| cairn live bytes per key (mdb_stat: pages used - free pages) | $(get space cairn live_bytes_per_key) | $(get space redis bytes_per_key) | $(div "$(get space cairn live_bytes_per_key)" "$(get space redis bytes_per_key)" %.2f) |"
        fi
        row "data dir on disk kB (du; cairn: store + backlog, redis: AOF)" space dir_kb
        echo
        echo "lmdb_used_bytes is LMDB's high-water mark ((last page number + 1) x page size): free pages below it (left by copy-on-write, reused later) count as used$(if [ -n "$(get space cairn free_bytes)" ]; then echo " (here $(get space cairn free_bytes) bytes free, $(get space cairn live_bytes) live)"; fi). used_memory is Redis's allocator total."
        echo
        echo "cairn: LMDB map $(get space cairn map_bytes) bytes, \`store/\` $(get space cairn store_kb) kB on disk (data.mdb is allocated up to the map size: this is the map, not the data), \`backlog/\` $(get space cairn backlog_kb) kB. redis: used_memory_rss $(get space redis rss_bytes) bytes."
        echo
    fi
    if has_phase restart; then
        echo "## Restart: kill -9 after ${KILL_AFTER} s of load, restart on the same dir and port"
        echo
        thead "restart"
        row "ms from exec to first reply of any kind" restart first_reply_ms
        row "ms from exec to +PONG" restart ping_ms
        row "ms from exec to a correct GET of the last acknowledged ack:*" restart get_ms
        row "MB to load (cairn: backlog replayed after the checkpoint; redis: AOF dir)" restart load_mb
        row "-LOADING replies seen" restart loading_replies noratio
        row "acknowledged ack:* writes before the kill" restart acked noratio
        row "every acknowledged ack:* present after restart" restart ack_check noratio
        row "keys after restart" restart keys_after noratio
        echo
        echo "During the load (\`-n $RESTART_N\`, killed with the server), a one-connection client SET ack:0, ack:1, ... each after the previous +OK; after the restart every acknowledged one must hold its value. Times are from just before the exec of the server, polling every 2 ms."
        echo
        for s in $SERVERS; do
            if [ -s "$ROOT/raw/restart_log_$s.txt" ]; then
                echo "$(label "$s") log after the restart:"
                echo
                echo '```'
                cat "$ROOT/raw/restart_log_$s.txt"
                echo '```'
                echo
            fi
        done
        if [ -f "$ROOT/raw/fields_restart.txt" ] && [ -s "$ROOT/raw/fields_restart.txt" ]; then
            echo "cairn INFO fields after the restart:"
            echo
            echo '```'
            cat "$ROOT/raw/fields_restart.txt"
            echo '```'
            echo
        fi
    fi
    if has_phase bigram; then
        echo "## Bigger than RAM: cairn with memory.max = store / $BIGRAM_DIVISOR"
        echo
        if [ -n "$BIGRAM_NOTE" ]; then
            echo "Skipped: $BIGRAM_NOTE."
        else
            echo "Store $(get bigram free store_bytes) bytes (lmdb_used_bytes), limit $(get bigram capped memory_max) bytes ($(get bigram capped cgroup)), overlay-max-memory $(get bigram free overlay_max_memory) in both runs (limit / $BIGRAM_BUDGET); data.mdb dropped from the page cache before the capped start."
            echo
            echo "| cairn | free | capped | capped / free |"
            echo "|---|--:|--:|--:|"
            for m in set_ops set_p99_ms get_ops get_p50_ms get_p99_ms get_max_ms set_rss_file_max_mb get_rss_file_max_mb; do
                a=$(get bigram free "$m"); b=$(get bigram capped "$m")
                echo "| $m | ${a:-—} | ${b:-—} | $(div "$b" "$a" %.2f) |"
            done
            pk=$(get bigram capped memory_peak)
            [ -n "$pk" ] && echo && echo "cgroup memory.peak $pk bytes, oom kills $(get bigram capped oom_kills)$(if [ -n "$(get bigram capped limit_hits)" ]; then echo ", times the limit was hit (v1 memory.failcnt) $(get bigram capped limit_hits)"; fi)."
        fi
        echo
    fi
    echo "Raw numbers: \`$(basename "$OUT").csv\` (phase, server, metric, value)."
} >"$OUT.md" || die "cannot write $OUT.md"
cp "$RES" "$OUT.csv" || die "cannot write $OUT.csv"

cat "$OUT.md"
note "report saved to $OUT.md (raw: $OUT.csv)"
