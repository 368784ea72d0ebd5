#!/usr/bin/env python3
"""Scripts and streams, cairn vs redis-server (appendonly yes, appendfsync
always) in the same run (issue 12's benchmarks). Run by hand:

    python3 tests/bench/scripts_streams.py build [N] [--rounds R] [--base BUILD2]

- EVALSHA of a rate limiter (INCR, EXPIRE on the first hit) over 100,000
  keys, redis-benchmark -c 50 at -P 1 and -P 16;
- XADD with a generated ID over 1,000 streams, -P 1 and -P 16;
- XREADGROUP COUNT 100 + XACK of what was read, one client pipelining both,
  over a stream of N entries (entries consumed per second).
Prints a table of requests (or entries) per second and cairn/redis ratios.
--rounds R runs every workload R times against each server in turn and
prints medians (this machine is shared and noisy: one run is not a
figure). --base BUILD2 adds a second cairn (another build, e.g. the commit
before a change) to the same run, column "cairn base".
Servers bind 127.0.0.1 on free ports and are always stopped."""
import argparse
import statistics
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from cairn_test import Conn  # noqa: E402

RATE_LIMITER = ("local c = redis.call('INCR', KEYS[1]) "
                "if c == 1 then redis.call('EXPIRE', KEYS[1], 60) end return c")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(kind, build, tmp, name=None):
    port = free_port()
    name = name or kind
    d = os.path.join(tmp, name)
    os.makedirs(d)
    if kind == "cairn":
        args = [os.path.join(build, "cairn-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", d]
    else:
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d, "--save", "",
                "--appendonly", "yes", "--appendfsync", "always"]
    p = subprocess.Popen(args, stdout=open(os.path.join(tmp, name + ".log"), "w"), stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            c = Conn("127.0.0.1", port, timeout=2)
            if c.call("PING") == "PONG":
                c.close()
                return p, port
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit("%s did not start" % kind)


def bench(port, n, pipeline, *cmd, keyspace=100000):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(n), "-P", str(pipeline),
                          "-r", str(keyspace), "-q", *cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=1800).stdout.decode()
    m = re.findall(r"([0-9.]+) requests per second", out)
    if not m:
        raise SystemExit("redis-benchmark: %s" % out[-500:])
    return float(m[-1])


def readgroup_ack(port, entries):
    c = Conn("127.0.0.1", port, timeout=60)
    c.call("DEL", "q")
    for b in range(0, entries, 5000):
        c.pipeline([("XADD", "q", "*", "job", str(i), "payload", "x" * 50) for i in range(b, min(entries, b + 5000))])
    c.call("XGROUP", "CREATE", "q", "g", "0")
    t0, done = time.time(), 0
    while done < entries:
        r = c.call("XREADGROUP", "GROUP", "g", "worker", "COUNT", 100, "STREAMS", "q", ">")
        if not r:
            break
        ids = [e[0] for e in r[0][1]]
        c.call("XACK", "q", "g", *ids)
        done += len(ids)
    el = time.time() - t0
    c.close()
    return done / el


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("build")
    ap.add_argument("n", nargs="?", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--base", default=None)
    a = ap.parse_args()
    build, n = a.build, a.n
    if not shutil.which("redis-benchmark"):
        raise SystemExit("redis-benchmark not found (scripts/install-deps.sh --with-tests)")
    tmp = tempfile.mkdtemp(prefix="cairn-bench-ss-")
    kinds = [("cairn", build)] + ([("cairn base", a.base)] if a.base else []) + [("redis", None)]
    procs = {}
    results = {}  # workload -> kind -> [rates]
    order = []
    try:
        for kind, b in kinds:
            procs[kind] = start("cairn" if b else "redis", b, tmp, kind.replace(" ", "-"))
        sha = {}
        for kind, (_, port) in procs.items():
            sha[kind] = Conn("127.0.0.1", port).call("SCRIPT", "LOAD", RATE_LIMITER).decode()

        def add(name, kind, v):
            if name not in results:
                results[name] = {}
                order.append(name)
            results[name].setdefault(kind, []).append(v)

        for _ in range(a.rounds):
            for pipeline in (1, 16):
                nn = n if pipeline > 1 else n // 4
                for k, (_, p) in procs.items():
                    add("EVALSHA rate limiter -P %d" % pipeline, k,
                        bench(p, nn, pipeline, "EVALSHA", sha[k], "1", "rl:__rand_int__"))
                for k, (_, p) in procs.items():
                    add("XADD * -P %d" % pipeline, k,
                        bench(p, nn, pipeline, "XADD", "s:__rand_int__", "*", "f", "v", keyspace=1000))
            for k, (_, p) in procs.items():
                add("XREADGROUP COUNT 100 + XACK (entries/s)", k, readgroup_ack(p, n // 2))
    finally:
        for p, _ in procs.values():
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    names = [k for k, _ in kinds]
    cols = [k for k in names if k != "redis"]
    print("| workload | %s | redis always | %s |" % (" | ".join(cols), " | ".join("%s/redis" % k for k in cols)))
    print("|---" * (2 * len(cols) + 2) + "|")
    for name in order:
        r = {k: statistics.median(v) for k, v in results[name].items()}
        print("| %s | %s | %.0f | %s |" % (name, " | ".join("%.0f" % r[k] for k in cols), r["redis"],
                                           " | ".join("%.2fx" % (r[k] / r["redis"]) for k in cols)))
    if a.rounds > 1:
        print("\n(medians of %d rounds)" % a.rounds)


if __name__ == "__main__":
    main()
