#!/bin/sh
# The replica's full-sync spool (repl-fullsync-spool, docs/REPLICATION.md):
# what it costs on a full sync, and what it saves when the replica is
# killed (-9) half-way through the payload and restarted.
#
# usage: sh tests/bench/fullsync_spool.sh [BUILD_DIR]
# Env: SPOOL_KEYS (default 3000000 SETs of 300 bytes over as many keys),
#      SPOOL_ROUNDS (default 2: each mode alternately, both measurements).
# One cairn master loaded once, cairn replicas on fresh dirs; everything on
# free 127.0.0.1 ports in a temp dir, removed at the end.
set -eu
BUILD=${1:-build}
BIN=$(cd "$BUILD" && pwd)/cairn-server
N=${SPOOL_KEYS:-3000000}
ROUNDS=${SPOOL_ROUNDS:-2}
[ -x "$BIN" ] || { echo "fullsync_spool: no $BIN (build first)" >&2; exit 1; }
command -v redis-benchmark >/dev/null && command -v redis-cli >/dev/null ||
  { echo "fullsync_spool: needs redis-benchmark and redis-cli (make test-deps)" >&2; exit 1; }
ROOT=$(mktemp -d /tmp/cairn-spool.XXXXXX)
set -- $(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
MP=$1 RP=$2
cleanup() {
  for p in "$ROOT"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
  rm -rf "$ROOT"
}
trap cleanup EXIT INT TERM

start() { # name port conf-lines...
  n=$1 p=$2; shift 2
  mkdir -p "$ROOT/$n"
  { echo "port $p"; echo "bind 127.0.0.1"; echo "dir $ROOT/$n"; echo "logfile $ROOT/$n.log"
    for l in "$@"; do echo "$l"; done; } >"$ROOT/$n.conf"
  "$BIN" "$ROOT/$n.conf" &
  echo $! >"$ROOT/$n.pid"
  i=0
  until redis-cli -p "$p" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 600 ] || { echo "fullsync_spool: $n did not start" >&2; exit 1; }
    sleep 0.1
  done
}
stop() { # name
  pid=$(cat "$ROOT/$1.pid"); kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$ROOT/$1.pid"
}
now() { date +%s%3N; }
link_up() { redis-cli -p "$RP" info replication | grep -q "master_link_status:up"; }
wait_up() { i=0; until link_up; do i=$((i + 1)); [ $i -lt 12000 ] || exit 1; sleep 0.05; done; }

start m "$MP"
redis-benchmark -p "$MP" -t set -n "$N" -r "$N" -d 300 -P 32 -c 50 -q | tail -n 1
echo "master: $(redis-cli -p "$MP" dbsize) keys"
# a first sync makes the master's snapshot (its spool): not measured
start r "$RP" "replicaof 127.0.0.1 $MP"; wait_up; stop r; rm -rf "$ROOT/r"
echo
echo "| full sync | spool | ms to link up | MB written by the replica (/proc/PID/io) |"
echo "|---|---|--:|--:|"
for rnd in $(seq 1 "$ROUNDS"); do
  for mode in yes no; do
    t0=$(now)
    start r "$RP" "replicaof 127.0.0.1 $MP" "repl-fullsync-spool $mode"
    wait_up
    t1=$(now)
    wb=$(awk '/^write_bytes/ {print $2}' "/proc/$(cat "$ROOT/r.pid")/io")
    echo "| round $rnd | $mode | $((t1 - t0)) | $((wb / 1048576)) |"
    stop r; rm -rf "$ROOT/r" "$ROOT/r.log"
  done
done
echo
echo "| kill -9 at half the payload | spool | ms from the restart to link up | how |"
echo "|---|---|--:|---|"
for rnd in $(seq 1 "$ROUNDS"); do
  for mode in yes no; do
    start r "$RP" "replicaof 127.0.0.1 $MP" "repl-fullsync-spool $mode"
    j=0
    while :; do
      pc=$(redis-cli -p "$RP" info replication | awk -F: '/master_sync_perc/ {print int($2)}')
      [ -n "$pc" ] && [ "$pc" -ge 50 ] && break
      j=$((j + 1)); [ $j -lt 30000 ] || exit 1
      sleep 0.01
    done
    kill -9 "$(cat "$ROOT/r.pid")"; sleep 0.2
    t1=$(now)
    start r "$RP" "replicaof 127.0.0.1 $MP" "repl-fullsync-spool $mode"
    wait_up
    t2=$(now)
    how=$(grep -E -o "reloaded [0-9]+ of the [0-9]+ spooled bytes[^(]*\([0-9]+ ms\)" "$ROOT/r.log" | tail -n 1 | sed 's/ of full sync [0-9a-f]*:[0-9]*//')
    echo "| round $rnd (killed at $pc%) | $mode | $((t2 - t1)) | ${how:-a new full sync} |"
    stop r; rm -rf "$ROOT/r" "$ROOT/r.log"
  done
done
stop m
