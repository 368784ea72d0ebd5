#!/bin/sh
# Runs one libFuzzer target for SECONDS on its seed corpus
# (tests/fuzz/corpus/NAME, read only) plus a scratch corpus in a temporary
# directory (with tests/fuzz/NAME.dict as libFuzzer's dictionary when it
# exists), and fails on any crash, leak, sanitizer report or timeout. The
# report (executions, coverage, findings) goes to stdout.
# usage: run.sh path/to/fuzz_NAME SECONDS [extra libFuzzer flags]
set -eu
BIN=$1; SECONDS_=$2; shift 2
NAME=$(basename "$BIN")
HERE=$(cd "$(dirname "$0")" && pwd)
SEEDS=$HERE/corpus/$NAME
[ -d "$SEEDS" ] || { echo "fuzz: no seed corpus at $SEEDS"; exit 1; }
# a dictionary of the input's words (command names...), when the target has one
if [ -f "$HERE/$NAME.dict" ]; then set -- -dict="$HERE/$NAME.dict" "$@"; fi
WORK=$(mktemp -d /tmp/cairn-fuzz-$NAME.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
mkdir corpus
rc=0
"$BIN" -max_total_time="$SECONDS_" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$WORK/" "$@" corpus "$SEEDS" >log 2>&1 || rc=$?
grep -E "^(stat::|#[0-9]+ +DONE)|Done [0-9]+ runs" log | sed "s/^/$NAME: /" || true
# the last progress line: coverage (cov: edges, ft: features) and corpus size
grep -E "^#[0-9]+" log | tail -1 | sed "s/^/$NAME: last: /" || true
if [ $rc -ne 0 ]; then
  tail -60 log
  for f in "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* "$WORK"/oom-*; do
    [ -e "$f" ] || continue
    mkdir -p /tmp/cairn-fuzz-findings
    cp "$f" /tmp/cairn-fuzz-findings/"$NAME-$(basename "$f")"
    echo "fuzz: $NAME: finding kept at /tmp/cairn-fuzz-findings/$NAME-$(basename "$f") (replay: $BIN FILE)"
  done
  exit 1
fi
echo "fuzz: $NAME: ${SECONDS_} s, no findings"
