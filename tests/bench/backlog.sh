#!/bin/sh
# Backlog numbers (docs/BACKLOG.md, README): append MB/s strict and relaxed,
# compression ratio of a redis-benchmark mixed stream at the default level
# and after `cairn-backlog compact --level 19 --long`, and read MB/s from
# compressed segments at random offsets.
#   sh tests/bench/backlog.sh [BUILD_DIR]       (default: build, RelWithDebInfo)
set -eu
BUILD=${1:-build}
PORT=${BENCH_PORT:-23499}
TMP=$(mktemp -d /tmp/cairn-backlog-bench.XXXXXX)
trap 'redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 >/dev/null
cc -O2 -std=gnu11 -D_GNU_SOURCE -I. tests/bench/backlog_bench.c "$BUILD/libcairn.a" \
  $(pkg-config --libs libuv libzstd) -llmdb -lpthread -lm -o "$BUILD/backlog_bench"

echo "== stream: redis-benchmark set,incr,mset (3-byte values) + set -d 100, -P 16, 1M random keys"
"$BUILD/cairn-server" --port "$PORT" --dir "$TMP/data" --backlog-segment-size 8mb --durability relaxed \
  >"$TMP/server.log" 2>&1 &
sleep 1
redis-benchmark -p "$PORT" -n 400000 -t set,incr,mset -r 1000000 -P 16 -q >/dev/null 2>&1
redis-benchmark -p "$PORT" -n 300000 -t set -d 100 -r 1000000 -P 16 -q >/dev/null 2>&1
sleep 5
redis-cli -p "$PORT" info persistence | grep -E 'wal_(stream_bytes|compressed_bytes|compression_ratio)'
redis-cli -p "$PORT" shutdown >/dev/null 2>&1 || true
sleep 1
"$BUILD/cairn-backlog" dump "$TMP/data/backlog" --raw >"$TMP/stream.bin"
echo "== compact --level 19 --long"
"$BUILD/cairn-backlog" compact "$TMP/data/backlog" --level 19 --long
echo "== read"
"$BUILD/backlog_bench" read "$TMP/data/backlog" 2000 65536
"$BUILD/backlog_bench" read "$TMP/data/backlog" 200 4194304
echo "== append (records cut from the captured stream)"
for r in 4096 65536; do
  rm -rf "$TMP/a"; "$BUILD/backlog_bench" append "$TMP/a" relaxed $r 512 "$TMP/stream.bin"
  rm -rf "$TMP/a"; "$BUILD/backlog_bench" append "$TMP/a" strict $r 64 "$TMP/stream.bin"
done
