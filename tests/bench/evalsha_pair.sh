#!/bin/sh
# EVALSHA of issue 12's rate limiter (INCR, EXPIRE on the first hit) at -P 1,
# cairn and redis-server (appendonly yes, appendfsync always) side by side,
# redis-benchmark alternating between them for ROUNDS rounds: each round's
# ratio compares two runs a few seconds apart, so the shared disk's swings
# (each -P 1 round trip waits for an fsync) hit both sides alike. Prints each
# round's ops/s and ratio and the median ratio. Run by hand:
#
#   sh tests/bench/evalsha_pair.sh build
#   PAIR_ROUNDS=8 PAIR_N=100000 PAIR_PIPELINE=1 sh tests/bench/evalsha_pair.sh build
set -u

die() { echo "evalsha_pair: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 BUILD_DIR"
CAIRN=$1/cairn-server
[ -x "$CAIRN" ] || die "'$CAIRN' is not an executable (build first)"
ROUNDS=${PAIR_ROUNDS:-8}
N=${PAIR_N:-100000}
PIPELINE=${PAIR_PIPELINE:-1}
for v in "$ROUNDS" "$N" "$PIPELINE"; do
    case "$v" in ''|*[!0-9]*) die "PAIR_ROUNDS, PAIR_N, PAIR_PIPELINE must be positive integers" ;; esac
done
command -v redis-server >/dev/null || die "redis-server not found (make test-deps)"
command -v redis-benchmark >/dev/null || die "redis-benchmark not found (make test-deps)"
SCRIPT="local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('EXPIRE', KEYS[1], 60) end return c"

PREFIX=cairn-pair
. "$(dirname "$0")/servers.sh"

start cairn "$CAIRN"
PC=$PORT
start redis redis-server --save "" --appendonly yes --appendfsync always
PR=$PORT
SHA=$(redis-cli -p "$PC" SCRIPT LOAD "$SCRIPT")
[ "$(redis-cli -p "$PR" SCRIPT LOAD "$SCRIPT")" = "$SHA" ] || die "SCRIPT LOAD gave different SHA1s"

rps() { # port -> requests/s
    redis-benchmark -p "$1" -c 50 -P "$PIPELINE" -n "$N" -r 100000 EVALSHA "$SHA" 1 'rl:__rand_int__' 2>/dev/null |
        awk '/throughput summary/ { print $3 }'
}

echo "EVALSHA rate limiter, redis-benchmark -c 50 -P $PIPELINE -n $N -r 100000, $ROUNDS rounds alternating (cairn first in odd rounds)"
echo
echo "| round | cairn req/s | redis always req/s | cairn/redis |"
echo "|--:|--:|--:|--:|"
RATIOS=""
r=1
while [ "$r" -le "$ROUNDS" ]; do
    if [ $((r % 2)) -eq 1 ]; then
        c=$(rps "$PC"); d=$(rps "$PR")
    else
        d=$(rps "$PR"); c=$(rps "$PC")
    fi
    [ -n "$c" ] && [ -n "$d" ] || die "redis-benchmark gave no figure in round $r"
    ratio=$(awk -v a="$c" -v b="$d" 'BEGIN { printf "%.3f", a / b }')
    echo "| $r | $c | $d | $ratio |"
    RATIOS="$RATIOS $ratio"
    r=$((r + 1))
done
echo
echo "median cairn/redis: $(echo "$RATIOS" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
