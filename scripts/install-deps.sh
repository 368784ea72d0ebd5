#!/bin/sh
# Installs the Debian packages cairn needs to build, test and benchmark.
# Idempotent: does nothing (and needs no network) when everything is present.
set -eu
BUILD_PKGS="build-essential cmake pkg-config liblmdb-dev libzstd-dev libuv1-dev libcmocka-dev liblua5.1-0-dev lua-cjson-dev lua-bitop-dev libssl-dev"
# Tests: redis-server is the differential reference; redis-tools gives redis-cli,
# redis-benchmark and redis-check-rdb; tmux drives redis-cli interactively
# (test_cli.py). A test whose tool is missing fails, it does not skip.
# clang and its runtime (libFuzzer, sanitizers) build the fuzz targets.
# prometheus-redis-exporter: test_exporter.py scrapes cairn with it; nftables:
# test_netfaults.py drops packets inside the network namespaces it makes;
# openssl (the CLI): test_tls.py makes its CA and certificates with it.
TEST_PKGS="python3 openssl redis-server redis-tools libhiredis-dev lmdb-utils tmux clang libclang-rt-dev prometheus-redis-exporter nftables"
want="$BUILD_PKGS"
[ "${1:-}" = "--with-tests" ] && want="$want $TEST_PKGS"
# make compat: Redis's own Tcl test suite needs tclsh (and tcl-tls for its
# --tls mode, unit/tls).
[ "${1:-}" = "--with-compat" ] && want="$want $TEST_PKGS tcl tcl-tls"
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# redis-server's and the exporter's packages start system services on install;
# cairn's tests start their own instances on free ports, so keep the packaged
# ones from auto-starting.
if echo "$missing" | grep -qE "redis-server|prometheus-redis-exporter" && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing
