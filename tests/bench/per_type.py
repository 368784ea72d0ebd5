#!/usr/bin/env python3
"""Write throughput per command type, cairn against redis-server in the same
run (`make bench-types`).

The commands, values and key distribution of the outage bench
(tests/bench/outage.py: Zipf-popular keys, text-like values), one command
type at a time, pipelined over 4 connections (blocks of 200 commands closed
by a PING): each type's blocks go to cairn, then the same blocks to redis.
A type much further from 1.0 than the others points at a cost of its own
(this is how LPUSH + LTRIM walking its earlier trims was found: 0.18x).
Prints a markdown table: MB/s of commands accepted, the ratio, commands/s,
and the tombstones cairn's iterators stepped over per command (INFO
overlay_tombstones_skipped).

Usage: python3 tests/bench/per_type.py [BUILD_DIR] [--keys N] [--mb MB]
       [--types a,b] [--redis-persist always|none]
All servers are stopped however the script ends.
"""
import argparse
import bisect
import itertools
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import outage  # noqa: E402
import resp  # noqa: E402
from outage import PING, BenchError, Server, Writer, cmd_bytes, text_pool  # noqa: E402

PER_BLOCK = 200


class Gen:
    """Commands of one type over Zipf-popular keys, values as outage.py's."""

    def __init__(self, rng, keys, zipf):
        self.rng = rng
        self.pool = text_pool(rng, 4 << 20)
        self.span = len(self.pool) - 4096
        self.cum = list(itertools.accumulate(1.0 / (i + 1) ** zipf for i in range(keys)))
        self.ctr = 0

    def key(self):
        return bisect.bisect_left(self.cum, self.rng.random() * self.cum[-1])

    def val(self, lo, hi, median):
        n = int(min(hi, max(lo, self.rng.lognormvariate(0, 0.8) * median)))
        o = self.rng.randrange(self.span)
        return self.pool[o:o + n]

    def command(self, t):
        r, k = self.rng, self.key()
        self.ctr += 1
        if t == "set":
            return cmd_bytes("SET", "s:%d" % k, self.val(16, 4096, 200))
        if t == "set-ex":
            return cmd_bytes("SET", "s:%d" % k, self.val(16, 4096, 200), "EX", 86400)
        if t == "hset":
            return cmd_bytes("HSET", "h:%d" % k, "f%d" % (int(r.paretovariate(1.2)) % 50), self.val(8, 512, 60))
        if t == "lpush":
            return cmd_bytes("LPUSH", "lp:%d" % k, self.val(8, 1024, 80))
        if t == "lpush-ltrim":  # a capped list, as in the outage mix
            if r.random() < 0.1:
                return cmd_bytes("LTRIM", "l:%d" % k, 0, 499)
            return cmd_bytes("LPUSH", "l:%d" % k, self.val(8, 1024, 80))
        if t == "zadd":
            return cmd_bytes("ZADD", "z:%d" % k, "%.3f" % (r.random() * 1e6), "m%d" % r.randrange(2000))
        if t == "zadd-zpopmin":  # a job queue: run-at times, popped when due
            if r.random() < 0.55:
                return cmd_bytes("ZADD", "q:%d" % k, self.ctr, "j%d" % self.ctr)
            return cmd_bytes("ZPOPMIN", "q:%d" % k)
        if t == "zadd-window":  # a sliding-window rate limiter: stamp, drop what left the window
            if r.random() < 0.5:
                return cmd_bytes("ZADD", "rl:%d" % k, self.ctr, "r%d" % self.ctr)
            return cmd_bytes("ZREMRANGEBYSCORE", "rl:%d" % k, "-inf", "(%d" % (self.ctr - 20000))
        if t == "xadd-approx":
            return cmd_bytes("XADD", "x:%d" % k, "MAXLEN", "~", 1000, "*", "event", r.choice(outage.WORDS),
                             "payload", self.val(8, 512, 60))
        if t == "xadd-exact":
            return cmd_bytes("XADD", "xe:%d" % k, "MAXLEN", 1000, "*", "event", r.choice(outage.WORDS),
                             "payload", self.val(8, 512, 60))
        if t == "sadd-srem":
            if r.random() < 0.4:
                return cmd_bytes("SREM", "st:%d" % k, "m%d" % r.randrange(500))
            return cmd_bytes("SADD", "st:%d" % k, "m%d" % r.randrange(500))
        raise BenchError("unknown type %r" % t)


TYPES = ["set", "set-ex", "hset", "lpush", "lpush-ltrim", "zadd", "zadd-zpopmin", "zadd-window", "xadd-approx",
         "xadd-exact", "sadd-srem"]


def blocks_for(gen, t, nbytes):
    blocks, size = [], 0
    while size < nbytes:
        b = b"".join([gen.command(t) for _ in range(PER_BLOCK)] + [PING])
        blocks.append(b)
        size += len(b)
    return blocks


def run(server, blocks, conns=4):
    """Sends every block once over conns connections: bytes/s."""
    total = sum(len(b) for b in blocks)
    w = Writer(server.port, blocks, conns)
    t0 = time.monotonic()
    while sum(w.sent) < total and w.error is None:
        time.sleep(0.005)
    w.stop()
    dt = time.monotonic() - t0
    if w.error is not None:
        raise BenchError("%s: %s" % (server.name, w.error))
    return sum(w.sent) / dt, dt


def skipped(server):
    return int(server.info("cairn").get("overlay_tombstones_skipped", 0))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--keys", type=int, default=20000, help="key space per type [20000]")
    ap.add_argument("--zipf", type=float, default=0.99)
    ap.add_argument("--mb", type=float, default=20, help="MB of commands per type [20]")
    ap.add_argument("--types", default=",".join(TYPES), help="comma-separated, of: " + " ".join(TYPES))
    ap.add_argument("--redis-persist", default="always", choices=["always", "none"],
                    help="redis-server with appendfsync always (cairn's guarantee) or no persistence [always]")
    ap.add_argument("--cairn-config", action="append", default=[])
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args(argv)
    cairn_bin = os.path.abspath(os.path.join(a.build, "cairn-server"))
    redis_bin = shutil.which("redis-server")
    if not os.access(cairn_bin, os.X_OK):
        raise BenchError("no %s (build first)" % cairn_bin)
    if not redis_bin:
        raise BenchError("redis-server not found (make test-deps installs it)")
    types = [t for t in a.types.split(",") if t]
    root = tempfile.mkdtemp(prefix="cairn-types.")
    ports = resp.free_ports(2)
    redis_conf = (["appendonly yes", "appendfsync always", "save ''"] if a.redis_persist == "always"
                  else ["appendonly no", "save ''"])
    cairn = Server(root, "cairn", cairn_bin, ports[0], a.cairn_config)
    redis = Server(root, "redis", redis_bin, ports[1], redis_conf)
    gen = Gen(random.Random(a.seed), a.keys, a.zipf)
    rows = []
    try:
        cairn.start()
        redis.start()
        for t in types:
            blocks = blocks_for(gen, t, a.mb * 1e6)
            ncmd = PER_BLOCK * len(blocks)
            s0 = skipped(cairn)
            c_rate, c_dt = run(cairn, blocks)
            skip = (skipped(cairn) - s0) / ncmd
            r_rate, _ = run(redis, blocks)
            rows.append((t, c_rate / 1e6, r_rate / 1e6, c_rate / r_rate, ncmd / c_dt, skip))
            print("per_type: %-13s cairn %6.1f MB/s  redis %6.1f MB/s  %.2fx" % (t, c_rate / 1e6, r_rate / 1e6,
                                                                             c_rate / r_rate),
                  file=sys.stderr, flush=True)
    finally:
        for s in (cairn, redis):
            s.stop()
        shutil.rmtree(root, ignore_errors=True)
    print("Per command type, %d Zipf(%.2f) keys, %.0f MB of commands each, 4 connections, blocks of %d; "
          "cairn (%s) against redis-server 7.0 (%s), same run:\n" % (
              a.keys, a.zipf, a.mb, PER_BLOCK, "default config" if not a.cairn_config else "; ".join(a.cairn_config),
              "appendfsync always" if a.redis_persist == "always" else "no persistence"))
    print("| type | cairn MB/s | redis MB/s | cairn / redis | cairn commands/s | tombstones stepped over per command |")
    print("|---|--:|--:|--:|--:|--:|")
    for t, c, r, ratio, cps, skip in rows:
        print("| %s | %.1f | %.1f | %.2f | %.0f | %.2f |" % (t, c, r, ratio, cps, skip))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print("per_type: %s" % e, file=sys.stderr)
        sys.exit(1)
