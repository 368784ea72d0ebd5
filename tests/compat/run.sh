#!/bin/sh
# make compat: runs Redis 7.0.15's own Tcl test suite (../shared/redis-suite,
# external-server mode) against a freshly started cairn and prints each unit's
# count next to real redis-server 7.0.15's count with the same flags.
#
# usage: tests/compat/run.sh BUILD_DIR [UNIT... | @core | @extra | @all]
# Env: SUITE (the suite folder, default ../shared/redis-suite beside the
# checkout), COMPAT_PORT (default: a free port), UNIT_TIMEOUT (passed on).
set -eu
BUILD=${1:-build}; shift || true
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=${SUITE:-$ROOT/../shared/redis-suite}
if [ ! -x "$SUITE/run-external.sh" ]; then
  echo "compat: Redis's test suite is expected at $SUITE (run-external.sh and redis-7.0/);"
  echo "compat: not found, so no score. Set SUITE=/path/to/redis-suite to run it."
  exit 0
fi
command -v tclsh >/dev/null 2>&1 || sh "$ROOT/scripts/install-deps.sh" --with-compat
[ $# -gt 0 ] || set -- @all
PORT=${COMPAT_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
DIR=$(mktemp -d /tmp/cairn-compat.XXXXXX)
# COMPAT_WORK: keep the suite's logs there (default: removed with the run)
WORK=${COMPAT_WORK:-$DIR/suite}
"$ROOT/$BUILD/cairn-server" --port "$PORT" --bind 127.0.0.1 --dir "$DIR/data" \
  --lmdb-map-size 1gb >"$DIR/server.log" 2>&1 &
SRV=$!
cleanup() { kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
i=0
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 100 ] || { echo "compat: cairn did not start"; cat "$DIR/server.log"; exit 1; }
  sleep 0.1
done
WORK_DIR=$WORK "$SUITE/run-external.sh" "$PORT" "$@" | tee "$DIR/out.txt"
# Real redis-server 7.0.15's counts: the table in the suite's README.
python3 - "$SUITE/README.md" "$DIR/out.txt" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" <<'PY'
import re, sys, datetime
readme, out, rev = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
ref = {u: int(n) for u, n in re.findall(r"\|\s*([a-z0-9/_-]+)\s*\|\s*(\d+)\s*", readme)}
print(f"\n| unit | cairn ok | cairn err | redis 7.0.15 ok |   ({datetime.date.today()}, {rev})")
print("|---|---|---|---|")
tot = [0, 0, 0]
for m in re.finditer(r"^unit/(\S+): (\d+) ok, (\d+) err(.*)$", out, re.M):
    u, ok, err, note = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4).strip()
    r = ref.get(u)
    tot[0] += ok; tot[1] += err; tot[2] += r or 0
    print(f"| {u} | {ok} | {err} | {r if r is not None else '?'} | {note}")
print(f"| total | {tot[0]} | {tot[1]} | {tot[2]} |")
PY
