#!/usr/bin/env python3
"""Long differential run over all collection types: many more seeds than
`make test` (tests/integration/test_differential_types.py), cairn vs
redis-server 7.0, every reply compared.

    CAIRN_SERVER=build-test/cairn-server python3 tests/bench/differential_long.py
    CAIRN_SERVER=build-test/cairn-server python3 tests/bench/differential_long.py \\
        --families zset,mixed --seeds 1000-1099 -n 5000 --resp 2,3
    # check the generator itself (redis on both sides; every case must pass):
    CAIRN_SERVER=/usr/bin/redis-server python3 tests/bench/differential_long.py --seeds 1-20
    # what the generator produces (per-command reply kinds/errors, against redis only):
    python3 tests/bench/differential_long.py --stats --families list --seeds 1-3

Every (family, seed, resp) case runs on the shared server pair, FLUSHALLed
before it; a mismatch is printed (with the commands before it) and the run
goes on. Exit status 1 if any case failed. Reproduce one case with
--families F --seeds S --resp R.
"""
import argparse
import collections
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from cairn_test import RedisServer, Error, cairn_binary  # noqa: E402
import differential  # noqa: E402
from differential import compare, COLLECTION_FAMILIES, DiffMismatch, _split, _b  # noqa: E402


def seeds_arg(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def stats(families, seeds, n, resp):
    """Runs the generated commands on one redis-server and tallies replies."""
    per = collections.defaultdict(collections.Counter)
    errs = collections.Counter()
    total = 0
    with RedisServer() as s:
        for fam in families:
            for seed in seeds:
                with s.conn(resp=resp) as c:
                    c.call("FLUSHALL")
                    for cmd in COLLECTION_FAMILIES[fam](seed, n):
                        args, _ = _split(cmd)
                        name = _b(args[0]).upper().decode("latin-1")
                        r = c.call(*args)
                        total += 1
                        if isinstance(r, Error):
                            per[name]["error"] += 1
                            errs[str(r)[:70]] += 1
                        elif r is None or r == [] or r == 0:
                            per[name]["empty/0/null"] += 1
                        elif isinstance(r, list):
                            per[name]["len>=100" if len(r) >= 100 else "nonempty"] += 1
                        else:
                            per[name]["value"] += 1
    print("%d commands" % total)
    for name in sorted(per, key=lambda k: -sum(per[k].values())):
        cnt = per[name]
        print("  %-18s %6d  %s" % (name, sum(cnt.values()),
                                   ", ".join("%s %d" % kv for kv in sorted(cnt.items()))))
    print("errors:")
    for e, k in errs.most_common(40):
        print("  %6d  %s" % (k, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default=",".join(COLLECTION_FAMILIES))
    ap.add_argument("--seeds", default="100-159", type=seeds_arg)
    ap.add_argument("-n", type=int, default=3000, help="commands per case [3000]")
    ap.add_argument("--resp", default="2,3", help="protocol versions, each seed runs with each [2,3]")
    ap.add_argument("--no-multi", action="store_true", help="leave MULTI/EXEC blocks out")
    ap.add_argument("--stats", action="store_true")
    ap.add_argument("--max-report", type=int, default=5)
    a = ap.parse_args()
    families = [f for f in a.families.split(",") if f]
    for f in families:
        if f not in COLLECTION_FAMILIES:
            ap.error("unknown family %r (have %s)" % (f, ", ".join(COLLECTION_FAMILIES)))
    resps = [int(x) for x in a.resp.split(",") if x]
    if a.stats:
        stats(families, a.seeds, a.n, resps[0])
        return 0
    os.environ.setdefault("CAIRN_SERVER", cairn_binary())
    failed = []
    ncmds = 0
    t0 = time.time()
    try:
        for fam in families:
            for seed in a.seeds:
                for resp in resps:
                    cmds = COLLECTION_FAMILIES[fam](seed, a.n, multi=not a.no_multi)
                    label = "%s seed=%d resp=%d" % (fam, seed, resp)
                    t1 = time.time()
                    try:
                        ncmds += compare(cmds, resp=resp, name=label, max_report=a.max_report)
                        print("ok   %-28s %5d commands %6.2fs" % (label, len(cmds), time.time() - t1))
                    except DiffMismatch as e:
                        failed.append(label)
                        ncmds += len(cmds)
                        print("FAIL %s\n%s" % (label, e))
                    sys.stdout.flush()
    finally:
        differential._stop_pair()
    print("%d cases, %d commands, %.1fs, %d failed%s" % (
        len(families) * len(a.seeds) * len(resps), ncmds, time.time() - t0, len(failed),
        (": " + ", ".join(failed)) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
