"""Differential tests: stream commands, cairn vs redis-server 7.0, replies
compared byte for byte. IDs are always explicit (`ms-seq`, `ms` or `ms-*`):
an auto `*` ID depends on the clock, so the generator never uses it.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_stream.py [name...]
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests  # noqa: E402
from differential import compare  # noqa: E402

BIN = b"\x00\xff\r\n\x01 bin"
LONGV = b"L" * 600


@test
def fixed_cases():
    for resp in (2, 3):
        compare([
            ["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "1-*", "b", BIN], ["XADD", "s", "2", "c", LONGV],
            ["XADD", "s", "2-0", "x", "y"], ["XADD", "s", "0-0", "x", "y"], ["XADD", "s", "0-*", "x", "y"],
            ["XADD", "s", "abc", "x", "y"], ["XADD", "s", "1-1-1", "x", "y"], ["XADD", "s", "-", "x", "y"],
            ["XADD", "s", "3-0", "x"], ["XADD", "s", "MAXLEN"], ["XADD", "s", "MAXLEN", "x", "4-0", "a", "b"],
            ["XADD", "s", "MAXLEN", "-1", "4-0", "a", "b"], ["XADD", "s", "LIMIT", "1", "4-0", "a", "b"],
            ["XADD", "s", "MAXLEN", "1", "LIMIT", "1", "4-0", "a", "b"],
            ["XADD", "s", "MAXLEN", "1", "MINID", "1", "4-0", "a", "b"],
            ["XADD", "nos", "NOMKSTREAM", "1-1", "a", "b"], ["EXISTS", "nos"],
            ["XRANGE", "s", "-", "+"], ["XREVRANGE", "s", "+", "-"], ["XRANGE", "s", "(1-1", "+", "COUNT", "1"],
            ["XRANGE", "s", "-", "(2-0"], ["XRANGE", "s", "(-", "+"], ["XRANGE", "s", "-", "+", "COUNT", "0"],
            ["XRANGE", "s", "-", "+", "COUNT", "-5"], ["XRANGE", "s", "-", "+", "COUNT"],
            ["XRANGE", "s", "(18446744073709551615-18446744073709551615", "+"], ["XRANGE", "s", "-", "(0-0"],
            ["XRANGE", "s", "2", "1"], ["XRANGE", "nokey", "-", "+"], ["XREVRANGE", "s", "2", "1"],
            ["XLEN", "s"], ["XLEN", "nokey"], ["XDEL", "s", "1-2", "9-9"], ["XDEL", "s", "bad"], ["XLEN", "s"],
            ["XTRIM", "s", "MAXLEN", "1"], ["XTRIM", "s", "LIMIT", "0"], ["XTRIM", "s", "LIMIT", "1"],
            ["XTRIM", "s", "MAXLEN", "1", "LIMIT", "1"], ["XTRIM", "s", "FOO", "1"], ["XTRIM", "s", "MINID", "+"],
            ["XTRIM", "nokey", "MAXLEN", "0"], ["XRANGE", "s", "-", "+"],
            ["XSETID", "s", "1-0"], ["XSETID", "s", "5-0"], ["XSETID", "nokey", "1-1"],
            ["XSETID", "s", "6-0", "ENTRIESADDED", "0"], ["XSETID", "s", "6-0", "MAXDELETEDID", "7-0"],
            ["XSETID", "s", "6-0", "ENTRIESADDED", "-1"], ["XSETID", "s", "6-0", "FOO"],
            ["XADD", "s", "5-0", "a", "b"], ["XADD", "s", "5-*", "a", "b"],
            ["XREAD", "STREAMS", "s", "0"], ["XREAD", "COUNT", "1", "STREAMS", "s", "nokey", "0", "0"],
            ["XREAD", "STREAMS", "s", "$"], ["XREAD", "STREAMS", "s", ">"], ["XREAD", "STREAMS", "s"],
            ["XREAD", "STREAMS", "s", "x", "0"], ["XREAD", "GROUP", "g", "c", "STREAMS", "s", "0"],
            ["XREAD", "NOACK", "STREAMS", "s", "0"], ["XREAD", "FOO", "STREAMS", "s", "0"],
            ["XREAD", "BLOCK", "-1", "STREAMS", "s", "0"], ["XREAD", "BLOCK", "x", "STREAMS", "s", "0"],
            ["XREAD", "COUNT", "x", "STREAMS", "s", "0"], ["XREAD", "STREAMS", "s", "-"],
            ["TYPE", "s"], ["SET", "str", "v"], ["XADD", "str", "1-1", "a", "b"], ["XRANGE", "str", "-", "+"],
            ["XREAD", "STREAMS", "str", "0"], ["XLEN", "str"],
        ], resp=resp)


def gen_commands(seed, n):
    """A seeded random sequence over a few stream keys, explicit IDs only."""
    rnd = random.Random(seed)
    keys = ["s1", "s2", "s3"]
    last = {k: [0, 0] for k in keys}     # our guess of each key's last id (may lag: errors are fine)
    cmds = []

    def rid(k):
        ms = rnd.randint(0, last[k][0] + 3)
        return "%d-%d" % (ms, rnd.randint(0, 3)) if rnd.random() < 0.8 else str(ms)

    def fields():
        out = []
        for _ in range(rnd.randint(1, 3)):
            out += [rnd.choice(["f", "g", "h", "field"]), rnd.choice(["1", "v", "", BIN, "x" * rnd.randint(0, 40)])]
        return out

    for _ in range(n):
        k = rnd.choice(keys)
        r = rnd.random()
        if r < 0.45:
            # an ID after the last most of the time
            lm, ls = last[k]
            form = rnd.random()
            if form < 0.5:
                ms, seq = lm + rnd.randint(0, 2), ls + 1 + rnd.randint(0, 2)
                idarg = "%d-%d" % (ms, seq)
            elif form < 0.75:
                ms = lm + rnd.randint(0, 2)
                idarg = "%d-*" % ms
            elif form < 0.9:
                ms = lm + rnd.randint(1, 3)
                idarg = str(ms)
            else:
                idarg = rid(k)
            m = re_ms(idarg)
            if m is not None and m >= lm:
                last[k] = [m, max(ls, 0) + 5 if m == lm else 5]
            args = ["XADD", k]
            if rnd.random() < 0.1:
                args.append("NOMKSTREAM")
            t = rnd.random()
            if t < 0.15:
                args += ["MAXLEN", rnd.choice(["=", "~"]), str(rnd.randint(0, 30))]
            elif t < 0.25:
                args += ["MINID", rnd.choice(["=", "~"]), rid(k)]
            elif t < 0.28:
                args += ["MAXLEN", "~", str(rnd.randint(0, 30)), "LIMIT", str(rnd.randint(0, 150))]
            cmds.append(args + [idarg] + fields())
        elif r < 0.6:
            a, b = sorted([rid(k), rid(k)], key=lambda x: [int(p) for p in x.split("-")])
            if rnd.random() < 0.2:
                a = "(" + a
            if rnd.random() < 0.2:
                b = "(" + b
            if rnd.random() < 0.1:
                a = "-"
            if rnd.random() < 0.1:
                b = "+"
            args = ["XRANGE", k, a, b] if rnd.random() < 0.6 else ["XREVRANGE", k, b, a]
            if rnd.random() < 0.4:
                args += ["COUNT", str(rnd.randint(-1, 5))]
            cmds.append(args)
        elif r < 0.67:
            cmds.append(["XLEN", k])
        elif r < 0.77:
            cmds.append(["XDEL", k] + [rid(k) for _ in range(rnd.randint(1, 3))])
        elif r < 0.85:
            if rnd.random() < 0.5:
                cmds.append(["XTRIM", k, "MAXLEN", rnd.choice(["=", "~"]), str(rnd.randint(0, 30))])
            else:
                cmds.append(["XTRIM", k, "MINID", rnd.choice(["=", "~"]), rid(k)])
        elif r < 0.95:
            ks = rnd.sample(keys, rnd.randint(1, 3))
            args = ["XREAD"]
            if rnd.random() < 0.5:
                args += ["COUNT", str(rnd.randint(0, 4))]
            cmds.append(args + ["STREAMS"] + ks + [rnd.choice([rid(x), "$", "0"]) for x in ks])
        elif r < 0.97:
            args = ["XSETID", k, rid(k)]
            if rnd.random() < 0.3:
                args += ["ENTRIESADDED", str(rnd.randint(0, 60))]
            cmds.append(args)
        elif r < 0.985:
            cmds.append(["DEL", k])
            last[k] = [0, 0]
        else:
            cmds.append(["XRANGE", k, "-", "+"])
    for k in keys:
        cmds.append(["XRANGE", k, "-", "+"])
        cmds.append(["XLEN", k])
    return cmds


def re_ms(idarg):
    try:
        return int(idarg.split("-")[0])
    except ValueError:
        return None


@test
def random_sequences():
    for seed in range(12):
        compare(gen_commands(seed, 400), resp=2 if seed % 3 else 3, name="seed %d" % seed)


@test
def approximate_trim_small_nodes():
    """stream-node-max-entries changes where `~` may cut: the same on both."""
    cmds = []
    for i in range(1, 301):
        cmds.append(["XADD", "s", "MAXLEN", "~", "37", "%d-1" % i, "f", str(i)])
        if i % 25 == 0:
            cmds.append(["XLEN", "s"])
            cmds.append(["XTRIM", "s", "MINID", "~", "%d" % (i - 20)])
            cmds.append(["XRANGE", "s", "-", "+", "COUNT", "1"])
    compare(cmds, cairn_config={"stream-node-max-entries": "7"}, redis_config={"stream-node-max-entries": "7"})


@test
def random_sequences_small_nodes():
    """Nodes of 5 entries, or of 120 / 300 bytes: `~` trims whole nodes while
    XDEL, XTRIM and XSETID interleave (cairn's virtual nodes, with Redis's
    listpack sizes, against Redis's radix tree)."""
    for i, cfg in enumerate(({"stream-node-max-entries": "5"}, {"stream-node-max-bytes": "120"},
                             {"stream-node-max-bytes": "300", "stream-node-max-entries": "0"})):
        for seed in range(4):
            compare(gen_commands(1000 + 10 * i + seed, 500), cairn_config=cfg, redis_config=cfg,
                    name="small nodes %r %d" % (cfg, seed))


@test
def generic_commands_on_streams():
    def scan_sorted(v):
        return [v[0], sorted(v[1])] if isinstance(v, list) and len(v) == 2 else v
    compare([
        ["XADD", "s", "1-1", "a", "1"], ["SORT", "s"], ["SORT_RO", "s"], ["OBJECT", "ENCODING", "s"], ["TYPE", "s"],
        ["COPY", "s", "s2"], ["XRANGE", "s2", "-", "+"], ["RENAME", "s2", "s3"], ["EXISTS", "s2", "s3"],
        ["LPUSH", "s", "x"], (["SCAN", "0", "TYPE", "stream"], scan_sorted), ["EXPIRE", "s", "100"], ["TTL", "s"],
        ["PERSIST", "s"], ["XADD", "s", "MAXLEN", "0", "2-1", "a", "b"], ["EXISTS", "s"], ["XLEN", "s"],
        ["DEL", "s"], ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"], ["EXISTS", "s"], ["XLEN", "s"],
        ["OBJECT", "FREQ", "s"], ["XINFO", "GROUPS", "s"], ["MOVE", "s", "1"], ["SELECT", "1"], ["XINFO", "GROUPS", "s"],
        ["UNLINK", "s"], ["EXISTS", "s"],
    ])


@test
def id_parsing_like_redis():
    """Redis's string2ull falls back to strtoull: leading zeros, '+', blanks,
    values above LLONG_MAX; an argument is read up to a NUL byte."""
    compare([
        ["XADD", "s", "01-02", "a", "1"], ["XADD", "s", "+5", "a", "1"], ["XADD", "s", " 6-1", "a", "1"],
        ["XADD", "s", "7- 1", "a", "1"], ["XADD", "s", "8-+1", "a", "1"], ["XADD", "s", "9--1", "a", "1"],
        ["XADD", "s", "10- -1", "a", "1"], ["XADD", "s", "18446744073709551615-0", "a", "1"],
        ["XADD", "s2", "18446744073709551616-0", "a", "1"], ["XADD", "s2", b"1\x00junk", "a", "1"],
        ["XADD", "s2", "2-0x1", "a", "1"], ["XADD", "s2", "-0-1", "a", "1"], ["XRANGE", "s", "-", "+"],
        ["XRANGE", "s", "0010", "+"], ["XRANGE", "s2", "-", "+"], ["XADD", "s3", "1e3", "a", "b"],
        ["XADD", "s3", "1.0", "a", "b"], ["XADD", "s3", "", "a", "b"], ["XADD", "s3", "-", "a", "b"],
        ["XRANGE", "s3", "(+", "+"], ["XDEL", "s", "018446744073709551615-0"], ["XLEN", "s"],
    ])


# ---------------------------------------------------------------------------
# consumer groups: replies compared byte for byte except idle times and
# XINFO STREAM's radix-tree-keys/nodes (cairn has no radix tree)

def no_idle(v):
    """XPENDING extended: [id, consumer, idle, deliveries] without the idle."""
    if isinstance(v, list):
        return [[e[0], e[1], e[3]] if isinstance(e, list) and len(e) == 4 else e for e in v]
    return v


def info_consumers(v):
    """XINFO CONSUMERS without idle (RESP2 flat pairs or RESP3 maps)."""
    out = []
    for x in v if isinstance(v, list) else []:
        items = list(x.items()) if hasattr(x, "items") else list(zip(x[0::2], x[1::2]))
        out.append([(k, val) for k, val in items if k != b"idle"])
    return out if isinstance(v, list) else v


def info_stream(v):
    items = list(v.items()) if hasattr(v, "items") else list(zip(v[0::2], v[1::2]))
    return [(k, val) for k, val in items if k not in (b"radix-tree-keys", b"radix-tree-nodes")]


def gen_group_commands(seed, n):
    rnd = random.Random(seed)
    key = "gs"
    groups = ["g1", "g2"]
    consumers = ["alice", "bob", "carol"]
    cmds = [["XGROUP", "CREATE", key, "g1", "$", "MKSTREAM"], ["XGROUP", "CREATE", key, "g2", "0"]]
    nid = [0]

    def some_id():
        return "%d-%d" % (rnd.randint(0, nid[0] + 2), rnd.randint(0, 1))

    for _ in range(n):
        r = rnd.random()
        g, cons = rnd.choice(groups), rnd.choice(consumers)
        if r < 0.25:
            nid[0] += rnd.randint(1, 3)
            cmds.append(["XADD", key, "%d-%d" % (nid[0], rnd.randint(0, 1)), "f", str(nid[0])])
        elif r < 0.45:
            args = ["XREADGROUP", "GROUP", g, cons]
            if rnd.random() < 0.6:
                args += ["COUNT", str(rnd.randint(1, 4))]
            if rnd.random() < 0.15:
                args.append("NOACK")
            cmds.append(args + ["STREAMS", key, ">" if rnd.random() < 0.75 else rnd.choice(["0", some_id()])])
        elif r < 0.55:
            cmds.append(["XACK", key, g] + [some_id() for _ in range(rnd.randint(1, 3))])
        elif r < 0.62:
            cmds.append(["XPENDING", key, g])
        elif r < 0.68:
            args = ["XPENDING", key, g, "-", "+", str(rnd.randint(0, 10))]
            if rnd.random() < 0.4:
                args.append(cons)
            cmds.append((args, no_idle))
        elif r < 0.74:
            args = ["XCLAIM", key, g, cons, "0"] + [some_id() for _ in range(rnd.randint(1, 3))]
            if rnd.random() < 0.5:
                args.append("JUSTID")
            if rnd.random() < 0.2:
                args.append("FORCE")
            if rnd.random() < 0.2:
                args += ["RETRYCOUNT", str(rnd.randint(0, 5))]
            cmds.append(args)
        elif r < 0.79:
            args = ["XAUTOCLAIM", key, g, cons, "0", rnd.choice(["0", "-", some_id()]), "COUNT",
                    str(rnd.randint(1, 5))]
            if rnd.random() < 0.5:
                args.append("JUSTID")
            cmds.append(args)
        elif r < 0.83:
            cmds.append(["XDEL", key, some_id()])
        elif r < 0.86:
            cmds.append(["XGROUP", "DELCONSUMER", key, g, cons])
        elif r < 0.88:
            cmds.append(["XGROUP", "CREATECONSUMER", key, g, cons])
        elif r < 0.90:
            cmds.append(["XGROUP", "SETID", key, g, rnd.choice(["0", "$", some_id()])])
        elif r < 0.93:
            cmds.append(["XINFO", "GROUPS", key])
        elif r < 0.95:
            cmds.append((["XINFO", "CONSUMERS", key, g], info_consumers))
        elif r < 0.97:
            cmds.append((["XINFO", "STREAM", key], info_stream))
        elif r < 0.98:
            cmds.append(["XTRIM", key, "MAXLEN", str(rnd.randint(0, 10))])
        else:
            cmds.append(["XGROUP", "DESTROY", key, g])
            cmds.append(["XGROUP", "CREATE", key, g, rnd.choice(["0", "$"])])
    cmds += [["XPENDING", key, "g1"], ["XPENDING", key, "g2"], ["XINFO", "GROUPS", key]]
    return cmds


@test
def group_fixed_cases():
    for resp in (2, 3):
        compare([
            ["XGROUP", "CREATE", "s", "g", "$"], ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            ["XGROUP", "CREATE", "s", "g", "$"], ["XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", "-2"],
            ["XGROUP", "CREATE", "s", "g3", "bad"], ["XGROUP", "CREATE", "s", "g4", "0", "FOO"],
            ["XGROUP", "SETID", "s", "nog", "0"], ["XGROUP", "SETID", "nokey", "g", "0"],
            ["XGROUP", "DESTROY", "s", "nog"], ["XGROUP", "CREATECONSUMER", "s", "nog", "c"],
            ["XGROUP", "DELCONSUMER", "s", "g", "nobody"], ["XGROUP", "HELP"], ["XGROUP", "HELP", "x"],
            ["XGROUP", "FOO"], ["XGROUP", "CREATE", "s"], ["XINFO", "HELP"], ["XINFO", "FOO", "s"],
            ["XINFO", "GROUPS", "nokey"], ["XINFO", "CONSUMERS", "s", "nog"], ["XINFO", "STREAM", "s", "FOO"],
            ["XINFO", "STREAM", "s", "FULL", "COUNT"], ["XINFO", "GROUPS", "s"],
            ["XADD", "s", "1-1", "a", "1"], ["XADD", "s", "2-1", "b", "2"], ["XADD", "s", "3-1", "c", "3"],
            ["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">"], ["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">"],
            ["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "$"], ["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"],
            ["XREADGROUP", "STREAMS", "s", ">"], ["XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "s", "0"],
            ["XREADGROUP", "GROUP", "g2", "c2", "NOACK", "STREAMS", "s", ">"], ["XPENDING", "s", "g2"],
            ["XPENDING", "s", "g"], ["XPENDING", "s", "nog"], ["XPENDING", "s", "g", "-"],
            ["XPENDING", "s", "g", "-", "+", "x"], ["XPENDING", "s", "g", "IDLE", "x", "-", "+", "1"],
            ["XPENDING", "s", "g", "IDLE", "1", "-", "+"], ["XPENDING", "s", "g", "(-", "+", "1"],
            ["XACK", "s", "g", "1-1", "bad"], ["XACK", "s", "g", "1-1", "1-1"], ["XACK", "nokey", "g", "1-1"],
            ["XACK", "s", "nog", "1-1"], ["XDEL", "s", "2-1"],
            ["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0"],
            ["XCLAIM", "s", "g", "c2", "0", "2-1", "3-1", "JUSTID"], ["XCLAIM", "s", "g", "c2", "x", "3-1"],
            ["XCLAIM", "s", "g", "c2", "0", "3-1", "BOGUS"], ["XCLAIM", "s", "g", "c2", "0", "3-1", "IDLE", "x"],
            ["XCLAIM", "s", "g", "c2", "0", "3-1", "TIME", "x"], ["XCLAIM", "s", "g", "c2", "0", "3-1", "RETRYCOUNT", "x"],
            ["XCLAIM", "s", "g", "c2", "0", "3-1", "LASTID", "bad"], ["XCLAIM", "s", "nog", "c2", "0", "3-1"],
            ["XCLAIM", "s", "g", "c3", "0", "1-1", "FORCE", "RETRYCOUNT", "3"],
            ["XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT", "0"], ["XAUTOCLAIM", "s", "g", "c4", "x", "0"],
            ["XAUTOCLAIM", "s", "g", "c4", "0", "bad"], ["XAUTOCLAIM", "s", "g", "c4", "0", "0", "FOO"],
            ["XAUTOCLAIM", "s", "nog", "c4", "0", "0"], ["XAUTOCLAIM", "s", "g", "c4", "0", "(18446744073709551615-18446744073709551615"],
            ["XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT", "1"], ["XAUTOCLAIM", "s", "g", "c4", "0", "-"],
            ["XPENDING", "s", "g"], ["XINFO", "GROUPS", "s"], (["XINFO", "CONSUMERS", "s", "g"], info_consumers),
            (["XINFO", "STREAM", "s"], info_stream), ["XGROUP", "SETID", "s", "g", "$", "ENTRIESREAD", "3"],
            ["XINFO", "GROUPS", "s"], ["XGROUP", "DELCONSUMER", "s", "g", "c4"], ["XPENDING", "s", "g"],
            ["XGROUP", "DESTROY", "s", "g"], ["XINFO", "GROUPS", "s"], ["SET", "str", "x"],
            ["XGROUP", "CREATE", "str", "g", "$"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "str", ">"],
            ["XPENDING", "str", "g"], ["XACK", "str", "g", "1-1"], ["XINFO", "STREAM", "str"],
        ], resp=resp)


@test
def group_pending_bookkeeping():
    """The paths that skip lookups: XREADGROUP `>` adds pending entries
    without looking them up when the group's list holds nothing past the
    last delivered ID (and looks them up when XCLAIM FORCE or XGROUP SETID
    put some there); XACK of entries of several owners writes each owner's
    count once."""
    pend = lambda key, g: (["XPENDING", key, g, "-", "+", "100"], no_idle)
    cons = lambda key, g: (["XINFO", "CONSUMERS", key, g], info_consumers)
    cmds = [["XADD", "p", "%d-1" % i, "f", str(i)] for i in range(1, 9)]
    cmds += [
        ["XGROUP", "CREATE", "p", "g", "0"],
        ["XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "p", ">"],
        ["XCLAIM", "p", "g", "bob", "0", "4-1", "6-1", "FORCE", "JUSTID"],   # pending past the last delivered
        pend("p", "g"), cons("p", "g"),
        ["XREADGROUP", "GROUP", "g", "carol", "COUNT", "3", "STREAMS", "p", ">"],  # 3-1, 4-1 (bob's), 5-1
        pend("p", "g"), cons("p", "g"), ["XPENDING", "p", "g"],
        ["XACK", "p", "g", "1-1", "4-1", "6-1", "3-1", "6-1", "9-9", "2-1"],       # alice, carol, bob, twice, absent
        pend("p", "g"), cons("p", "g"), ["XPENDING", "p", "g"],
        ["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "p", ">"],               # 6-1 (acked), 7-1, 8-1
        ["XGROUP", "SETID", "p", "g", "0"],
        ["XREADGROUP", "GROUP", "g", "bob", "COUNT", "6", "STREAMS", "p", ">"],   # takes alice's and carol's
        pend("p", "g"), cons("p", "g"), ["XPENDING", "p", "g"], ["XINFO", "GROUPS", "p"],
        ["XACK", "p", "g"] + ["%d-1" % i for i in range(1, 9)],
        ["XPENDING", "p", "g"], cons("p", "g"), (["XINFO", "STREAM", "p"], info_stream),
        ["XADD", "p", "9-1", "f", "9"], ["XREADGROUP", "GROUP", "g", "dave", "STREAMS", "p", ">"],
        pend("p", "g"), cons("p", "g"),
    ]
    for resp in (2, 3):
        compare([["DEL", "p"]] + cmds, resp=resp)


@test
def group_random_sequences():
    for seed in range(10):
        compare(gen_group_commands(seed, 300), resp=2 if seed % 2 else 3, name="group seed %d" % seed)


if __name__ == "__main__":
    run_tests()
