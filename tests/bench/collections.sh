#!/bin/sh
# Collection-command benchmark of issue 5: redis-benchmark's default tests
# LPUSH RPUSH LPOP RPOP SADD HSET SPOP ZADD ZPOPMIN LRANGE_100/300/500/600 MSET
# at -P 1 and -P 16, cairn (durability strict) against redis-server with
# appendfsync always, both started by run.sh in the same run. Targets: writes
# >= 1.0x of redis-always, LRANGE >= 0.8x.
#
# Usage: sh tests/bench/collections.sh BUILD_DIR      (`make bench` runs it)
#        BENCH_N=100000 sh tests/bench/collections.sh build    # quicker
# Every knob of run.sh applies (see tests/bench/README.md); this script only
# changes the defaults of BENCH_TESTS, BENCH_SERVERS and BENCH_NAME.
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_TESTS=${BENCH_TESTS:-lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_300,lrange_500,lrange_600,mset}
BENCH_SERVERS=${BENCH_SERVERS:-cairn always}
BENCH_NAME=${BENCH_NAME:-collections}
export BENCH_TESTS BENCH_SERVERS BENCH_NAME
exec sh "$HERE/run.sh" "$@"
