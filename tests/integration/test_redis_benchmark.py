"""redis-benchmark with no -t runs every default test against cairn without
an error (issue 5).

redis-benchmark (package redis-tools, installed by
`scripts/install-deps.sh --with-tests`) exits 1 at the first error reply
("Error from server: ...") and warns when it cannot read the server's
CONFIG. Any error or warning line, a non-zero exit, or a default test missing
from the output fails the test.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from cairn_test import cairn_binary  # noqa: E402

N = int(os.environ.get("CAIRN_REDIS_BENCHMARK_N", "2000"))

# The default test list of redis-benchmark 7.0 (no -t), as printed with -q.
DEFAULT_TESTS = [
    "PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH",
    "LPOP", "RPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)", "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)", "MSET (10 keys)",
]


def benchmark_binary():
    b = os.environ.get("REDIS_BENCHMARK") or shutil.which("redis-benchmark")
    if not b:
        raise RuntimeError("redis-benchmark not found: install redis-tools "
                           "(sh scripts/install-deps.sh --with-tests)")
    return b


def server_config():
    if os.path.basename(cairn_binary()).startswith("redis"):
        # harness validation against redis-server: durable like cairn
        return {"appendonly": "yes", "appendfsync": "always"}
    return None


def run_benchmark(port, args, timeout=240):
    p = subprocess.run([benchmark_binary(), "-h", "127.0.0.1", "-p", str(port)] + args,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    # -q rewrites its progress line with \r; keep the final text of each line
    lines = []
    for raw in p.stdout.decode("utf-8", "replace").split("\n"):
        parts = [x.strip() for x in raw.split("\r") if x.strip()]
        lines.extend(parts)
    return p.returncode, lines


def check_output(rc, lines, expected):
    text = "\n".join(lines)
    bad = [l for l in lines if re.search(r"error|warning|unknown|wrong", l, re.I)]
    assert not bad, "redis-benchmark reported:\n%s\n--- full output ---\n%s" % ("\n".join(bad), text)
    assert rc == 0, "redis-benchmark exited %d\n%s" % (rc, text)
    results = {}
    for l in lines:
        m = re.match(r"^(.*): ([0-9.]+) requests per second", l)
        if m:
            results[m.group(1)] = float(m.group(2))
    missing = [t for t in expected if t not in results]
    assert not missing, "tests missing from the output: %s\n%s" % (missing, text)
    zero = [t for t in expected if results[t] <= 0]
    assert not zero, "tests with no throughput: %s\n%s" % (zero, text)
    return results


@test(timeout=400)
def all_default_tests_run_without_error():
    with CairnServer(server_config()) as s:
        rc, lines = run_benchmark(s.port, ["-q", "-n", str(N)])
        results = check_output(rc, lines, DEFAULT_TESTS)
        print("  " + ", ".join("%s %.0f/s" % (t.split(" ")[0], results[t]) for t in DEFAULT_TESTS))
        # the data it left behind has the right types and survives a restart
        c = s.conn()
        assert_eq(c.call("TYPE", "mylist"), "list")
        assert_eq(c.call("TYPE", "myhash"), "hash")
        assert_eq(c.call("HLEN", "myhash"), 1)      # HSET myhash element:__rand_int__ without -r
        # LPUSH N, RPUSH N, LPOP N, RPOP N, then LPUSH N before the LRANGEs
        n = c.call("LLEN", "mylist")
        assert_eq(n, N, "LLEN mylist")
        head = c.call("LRANGE", "mylist", 0, 2)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("LLEN", "mylist"), n)
        assert_eq(c.call("LRANGE", "mylist", 0, 2), head)
        assert_eq(c.call("HLEN", "myhash"), 1)


@test(timeout=400)
def default_tests_with_random_keys_and_pipeline():
    # -r spreads SET/GET/INCR/SADD/HSET/ZADD/MSET over many keys and members,
    # -P 16 sends them pipelined
    with CairnServer(server_config()) as s:
        rc, lines = run_benchmark(s.port, ["-q", "-n", str(N), "-r", "1000", "-P", "16"])
        check_output(rc, lines, DEFAULT_TESTS)
        c = s.conn()
        assert 0 < c.call("HLEN", "myhash") <= 1000
        assert 0 <= c.call("SCARD", "myset") <= 1000


@test(timeout=60)
def checker_rejects_errors():
    # the output check must be able to fail
    bad = ["PING_INLINE: 100.00 requests per second, p50=0.1 msec",
           "Error from server: ERR unknown command 'LPUSH', with args beginning with: 'mylist'"]
    try:
        check_output(1, bad, ["PING_INLINE"])
    except AssertionError as e:
        assert "Error from server" in str(e)
    else:
        raise AssertionError("error line not detected")
    try:
        check_output(0, bad[:1], ["PING_INLINE", "SET"])
    except AssertionError as e:
        assert "missing" in str(e)
    else:
        raise AssertionError("missing test not detected")


if __name__ == "__main__":
    run_tests()
