#!/usr/bin/env python3
"""Shrinks a failing differential case to a minimal command sequence.

    CAIRN_SERVER=build-test/cairn-server python3 tests/bench/differential_minimize.py \\
        --family hash --seed 1 -n 1500 [--resp 3] [--no-multi] [--skip 2]

Runs the generated commands on cairn and redis, takes the first mismatch
(or the (skip+1)-th), then removes commands (delta debugging) as long as the
shortened sequence still ends in a mismatch on its last command. Prints the
sequence as a Python list (ready for a regression case) and both replies.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import differential  # noqa: E402
from differential import COLLECTION_FAMILIES, _split, _run_one, _b, fmt_cmd  # noqa: E402
from cairn_test import Error, cairn_binary  # noqa: E402


def run(pair, cmds, resp):
    """Returns the index of the first mismatching command, or None."""
    pair.flush()
    cc, rc = pair.conns(resp=resp)
    try:
        for i, cmd in enumerate(cmds):
            args, norm = _split(cmd)
            try:
                cp, craw, cval = _run_one(cc, args, norm)
            except (OSError, ConnectionError):
                return i
            rp, rraw, rval = _run_one(rc, args, norm)
            if norm is None:
                same = craw == rraw
            elif norm in ("scan", "zscan"):
                same = cval == rval
            elif isinstance(cp, Error) or isinstance(rp, Error):
                same = craw == rraw
            elif norm == "ttl":
                same = differential._ttl_equal(_b(args[0]).upper(), cp, rp)
            else:
                try:
                    same = norm(cp) == norm(rp)
                except Exception:
                    same = False
            if not same:
                return i
    finally:
        cc.close()
        rc.close()
    if not pair.alive():
        return len(cmds) - 1
    return None


def fails(pair, seq, resp):
    i = run(pair, seq, resp)
    return i is not None and i == len(seq) - 1


def ddmin(pair, seq, resp):
    """seq[-1] is the mismatching command; minimise seq[:-1]."""
    head, last = list(seq[:-1]), seq[-1]
    n = 2
    while len(head) >= 1:
        chunk = max(1, len(head) // n)
        reduced = False
        for start in range(0, len(head), chunk):
            cand = head[:start] + head[start + chunk:]
            if fails(pair, cand + [last], resp):
                head = cand
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(head), n * 2)
    return head + [last]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", required=True, choices=sorted(COLLECTION_FAMILIES))
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("-n", type=int, default=1500)
    ap.add_argument("--resp", type=int, default=2)
    ap.add_argument("--no-multi", action="store_true")
    ap.add_argument("--skip", type=int, default=0, help="minimise the (skip+1)-th mismatch")
    a = ap.parse_args()
    os.environ.setdefault("CAIRN_SERVER", cairn_binary())
    cmds = COLLECTION_FAMILIES[a.family](a.seed, a.n, multi=not a.no_multi)
    pair = differential.get_pair()
    try:
        seq = cmds
        for _ in range(a.skip + 1):
            i = run(pair, seq, a.resp)
            if i is None:
                print("no mismatch")
                return 0
            if _ is not a.skip:
                seq = seq[:i] + seq[i + 1:]     # drop it, look for the next one
        seq = seq[:i + 1]
        print("first mismatch at #%d: %s" % (i, fmt_cmd(_split(seq[-1])[0])), file=sys.stderr)
        small = ddmin(pair, seq, a.resp)
        print("minimal (%d commands):" % len(small))
        for c in small:
            print("    %r," % (c,))
        pair.flush()
        cc, rc = pair.conns(resp=a.resp)
        for c in small:
            args, _n = _split(c)
            craw = cc.call_raw(*args)
            rraw = rc.call_raw(*args)
            print("  %-60s cairn %-30r redis %r" % (fmt_cmd(args)[:60], craw[:200], rraw[:200]))
        cc.close()
        rc.close()
    finally:
        differential._stop_pair()
    return 0


if __name__ == "__main__":
    sys.exit(main())
