#!/bin/sh
# A/B of two cairn-server binaries in the same run: both servers run side by
# side on fresh temp dirs, redis-benchmark alternates between them ROUNDS
# times per test and pipeline depth, and the table gives each side's median
# ops/s and the median of the per-round ratios B/A. Used to show that a change
# (a refactoring) did not slow cairn down; see tests/bench/README.md.
#
#   sh tests/bench/ab.sh OLD/cairn-server NEW/cairn-server
#   AB_TESTS=set,get AB_PIPELINES="1 16" AB_N=200000 AB_ROUNDS=5 sh tests/bench/ab.sh A B
set -u

die() { echo "ab: error: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $0 CAIRN_SERVER_A CAIRN_SERVER_B"
A=$1
B=$2
for b in "$A" "$B"; do [ -x "$b" ] || die "'$b' is not an executable"; done
TESTS=${AB_TESTS:-set,get}
PIPELINES=${AB_PIPELINES:-1 16}
N=${AB_N:-200000}
ROUNDS=${AB_ROUNDS:-5}
CLIENTS=${AB_CLIENTS:-50}
KEYSPACE=${AB_KEYSPACE:-1000000}
command -v redis-benchmark >/dev/null || die "redis-benchmark not found (make test-deps)"
command -v redis-cli >/dev/null || die "redis-cli not found (make test-deps)"

PREFIX=cairn-ab
. "$(dirname "$0")/servers.sh"

start a "$A"
PA=$PORT
start b "$B"
PB=$PORT

rps() { # port test pipeline -> ops/s
    redis-benchmark -p "$1" -c "$CLIENTS" -n "$N" -r "$KEYSPACE" -t "$2" -P "$3" -q --csv 2>/dev/null |
        awk -F'","' 'NR>1 || !/^"test"/ { gsub(/"/, "", $2); if ($2 + 0 > 0) print $2 + 0 }' | tail -1
}

echo "A: $A"
echo "B: $B"
echo "redis-benchmark -c $CLIENTS -n $N -r $KEYSPACE, $ROUNDS rounds alternating A and B (B first in odd rounds)"
echo
echo "| test | P | A ops/s (median) | B ops/s (median) | B/A (median of rounds) | B/A per round |"
echo "|---|--:|--:|--:|--:|---|"
for t in $(echo "$TESTS" | tr ',' ' '); do
    for p in $PIPELINES; do
        as=""
        bs=""
        ratios=""
        r=1
        while [ $r -le "$ROUNDS" ]; do
            if [ $((r % 2)) -eq 1 ]; then
                b=$(rps "$PB" "$t" "$p")
                a=$(rps "$PA" "$t" "$p")
            else
                a=$(rps "$PA" "$t" "$p")
                b=$(rps "$PB" "$t" "$p")
            fi
            [ -n "$a" ] && [ -n "$b" ] || die "redis-benchmark gave no number for $t -P $p"
            as="$as $a"
            bs="$bs $b"
            ratios="$ratios $(python3 -c "print('%.3f' % ($b / $a))")"
            r=$((r + 1))
        done
        python3 - "$t" "$p" "$as" "$bs" "$ratios" <<'EOF'
import statistics, sys
t, p, a, b, r = sys.argv[1:]
a = [float(x) for x in a.split()]
b = [float(x) for x in b.split()]
r = [float(x) for x in r.split()]
print("| %s | %s | %.0f | %.0f | %.3f | %s |" % (t.upper(), p, statistics.median(a), statistics.median(b),
      statistics.median(r), " ".join("%.2f" % x for x in r)))
EOF
    done
done
