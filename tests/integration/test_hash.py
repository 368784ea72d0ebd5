"""Hash commands: replies and errors of every command, RESP3 forms, binary
and long fields, a 100k-field hash (HLEN, HGET, HSCAN, HRANDFIELD), HSCAN
cursors while the hash changes and across a restart, the propagated form of
HINCRBYFLOAT, durability (graceful restart and SIGKILL + replay) and expiry."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

NOTINT = "ERR value is not an integer or out of range"
NOTFLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
BIN = b"\x00\xff\r\n\x01 bin"


err = assert_error_text
arity = assert_arity_error


def as_dict(flat):
    assert_eq(len(flat) % 2, 0)
    return dict(zip(flat[0::2], flat[1::2]))


def scan_all(c, key, count=None, match=None, check=None):
    """Full HSCAN iteration: list of (field, value) in reply order."""
    items, _ = scan_key(c, "HSCAN", key, count=count, match=match, each=check)
    return list(zip(items[0::2], items[1::2]))


@test
def basic_replies():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("HSET", "h", "a", "1", "b", "2"), 2)
        assert_eq(c.call("HSET", "h", "a", "x", "c", "3"), 1)
        assert_eq(c.call("HGET", "h", "a"), b"x")
        assert_eq(c.call("HGET", "h", "zz"), None)
        assert_eq(c.call("HGET", "nokey", "a"), None)
        assert_eq(c.call("HSETNX", "h", "a", "y"), 0)
        assert_eq(c.call("HSETNX", "h", "d", "4"), 1)
        assert_eq(c.call("HMSET", "h", "e", "5", "f", "6"), "OK")
        assert_eq(c.call("HMGET", "h", "a", "nope", "f"), [b"x", None, b"6"])
        assert_eq(c.call("HMGET", "nokey", "a"), [None])
        assert_eq(c.call("HLEN", "h"), 6)
        assert_eq(c.call("HEXISTS", "h", "e"), 1)
        assert_eq(c.call("HEXISTS", "h", "E"), 0)
        assert_eq(c.call("HSTRLEN", "h", "a"), 1)
        assert_eq(c.call("HSTRLEN", "h", "none"), 0)
        # fields in hash order; HVALS in the same order as HKEYS
        keys = c.call("HKEYS", "h")
        assert_eq(sorted(keys), [b"a", b"b", b"c", b"d", b"e", b"f"])
        vals = dict(zip([b"a", b"b", b"c", b"d", b"e", b"f"], [b"x", b"2", b"3", b"4", b"5", b"6"]))
        assert_eq(c.call("HVALS", "h"), [vals[k] for k in keys])
        assert_eq(as_dict(c.call("HGETALL", "h")),
                  {b"a": b"x", b"b": b"2", b"c": b"3", b"d": b"4", b"e": b"5", b"f": b"6"})
        assert_eq(c.call("HDEL", "h", "a", "a", "b", "zz"), 2)
        assert_eq(c.call("HLEN", "h"), 4)
        assert_eq(c.call("HDEL", "h", "c", "d", "e", "f"), 4)
        assert_eq(c.call("EXISTS", "h"), 0)
        assert_eq(c.call("TYPE", "h"), "none")
        assert_eq(c.call("HGETALL", "h"), [])
        assert_eq(c.call("HDEL", "h", "a"), 0)
        assert_eq(c.call("HSET", "h", "a", "1"), 1)
        assert_eq(c.call("TYPE", "h"), "hash")

        # numbers
        assert_eq(c.call("HINCRBY", "n", "i", "5"), 5)
        assert_eq(c.call("HINCRBY", "n", "i", "-7"), -2)
        err(c.call("HINCRBY", "n", "i", "x"), NOTINT)
        c.call("HSET", "n", "s", "abc", "big", str(2 ** 63 - 1), "sp", " 1")
        err(c.call("HINCRBY", "n", "s", "1"), "ERR hash value is not an integer")
        err(c.call("HINCRBY", "n", "sp", "1"), "ERR hash value is not an integer")
        err(c.call("HINCRBY", "n", "big", "1"), "ERR increment or decrement would overflow")
        assert_eq(c.call("HINCRBY", "n", "big", "-1"), 2 ** 63 - 2)
        assert_eq(c.call("HINCRBYFLOAT", "n", "f", "1.5"), b"1.5")
        assert_eq(c.call("HINCRBYFLOAT", "n", "f", "1.5"), b"3")
        assert_eq(c.call("HINCRBYFLOAT", "n", "i", "0.5"), b"-1.5")
        err(c.call("HINCRBYFLOAT", "n", "s", "1"), "ERR hash value is not a float")
        err(c.call("HINCRBYFLOAT", "n", "f", "x"), NOTFLOAT)
        err(c.call("HINCRBYFLOAT", "n", "f", "inf"), "ERR value is NaN or Infinity")
        c.call("HSET", "n", "huge", "1.1e4932")
        err(c.call("HINCRBYFLOAT", "n", "huge", "1.1e4932"), "ERR increment would produce NaN or Infinity")
        assert_eq(c.call("HGET", "n", "huge"), b"1.1e4932")
        assert_eq(c.call("HGET", "n", "f"), b"3")

        # wrong type and arity
        c.call("SET", "str", "v")
        for args in (["HSET", "str", "a", "1"], ["HSETNX", "str", "a", "1"], ["HGET", "str", "a"],
                     ["HMGET", "str", "a"], ["HMSET", "str", "a", "1"], ["HDEL", "str", "a"],
                     ["HEXISTS", "str", "a"], ["HLEN", "str"], ["HSTRLEN", "str", "a"], ["HKEYS", "str"],
                     ["HVALS", "str"], ["HGETALL", "str"], ["HINCRBY", "str", "a", "1"],
                     ["HINCRBYFLOAT", "str", "a", "1"], ["HRANDFIELD", "str"], ["HRANDFIELD", "str", "2"],
                     ["HSCAN", "str", "0"]):
            err(c.call(*args), WRONGTYPE)
        assert_eq(c.call("GET", "str"), b"v")
        err(c.call("GET", "h"), WRONGTYPE)
        arity(c.call("HSET", "h", "a"), "hset")
        arity(c.call("HSET", "h", "a", "1", "b"), "hset")
        arity(c.call("HMSET", "h", "a", "1", "b"), "hmset")
        arity(c.call("HGET", "h"), "hget")
        arity(c.call("HDEL", "h"), "hdel")
        arity(c.call("HRANDFIELD"), "hrandfield")
        arity(c.call("HSCAN", "h"), "hscan")
        arity(c.call("HINCRBYFLOAT", "h", "f"), "hincrbyfloat")

        # RESP3 forms
        c3 = s.conn(resp=3)
        c3.call("DEL", "h")
        c3.call("HSET", "h", "a", "1", "b", "2")
        r = c3.call("HGETALL", "h")
        assert_true(isinstance(r, Map), r)
        assert_eq(r.to_dict(), {b"a": b"1", b"b": b"2"})
        assert_eq(c3.call_raw("HGETALL", "nokey"), b"%0\r\n")
        assert_eq(c3.call_raw("HGET", "h", "zz"), b"_\r\n")
        assert_eq(c3.call_raw("HRANDFIELD", "nokey"), b"_\r\n")
        assert_eq(c3.call_raw("HRANDFIELD", "nokey", "3"), b"*0\r\n")
        assert_eq(c3.call_raw("HMGET", "h", "a", "zz"), b"*2\r\n$1\r\n1\r\n_\r\n")
        r = c3.call("HRANDFIELD", "h", "5", "WITHVALUES")
        assert_eq(sorted(r), [[b"a", b"1"], [b"b", b"2"]])
        r = c3.call("HRANDFIELD", "h", "-4", "WITHVALUES")
        assert_eq(len(r), 4)
        for p in r:
            assert_true(p in ([b"a", b"1"], [b"b", b"2"]), r)
        r = c.call("HRANDFIELD", "h", "-4", "WITHVALUES")
        assert_eq(len(r), 8)
        assert_eq(c3.call_raw("HINCRBYFLOAT", "h", "a", "0.5"), b"$3\r\n1.5\r\n")
        r = c3.call("HSCAN", "h", "0")
        assert_eq(r[0], b"0")
        assert_eq(sorted(zip(r[1][0::2], r[1][1::2])), [(b"a", b"1.5"), (b"b", b"2")])


@test
def binary_long_and_big():
    with CairnServer() as s:
        c = s.conn()
        longs = [b"P" * 480, b"P" * 481, b"P" * 600 + b"x", b"P" * 600 + b"y", b"P" * 479 + b"\xff" * 40,
                 b"Q" * 1000, BIN * 100]
        big = os.urandom(300000)
        for i, f in enumerate(longs):
            assert_eq(c.call("HSET", "h", f, b"v%d" % i), 1)
        assert_eq(c.call("HSET", "h", BIN, BIN, b"", b"empty", b"big", big), 3)
        assert_eq(c.call("HLEN", "h"), len(longs) + 3)
        for i, f in enumerate(longs):
            assert_eq(c.call("HGET", "h", f), b"v%d" % i)
            assert_eq(c.call("HEXISTS", "h", f), 1)
        assert_eq(c.call("HGET", "h", b"P" * 600 + b"z"), None)
        assert_eq(c.call("HGET", "h", BIN), BIN)
        assert_eq(c.call("HGET", "h", b""), b"empty")
        assert_eq(c.call("HGET", "h", b"big"), big)
        assert_eq(c.call("HSTRLEN", "h", b"big"), len(big))
        want = {f: b"v%d" % i for i, f in enumerate(longs)}
        want.update({BIN: BIN, b"": b"empty", b"big": big})
        assert_eq(as_dict(c.call("HGETALL", "h")), want)
        assert_eq(sorted(c.call("HKEYS", "h")), sorted(want))
        # HSCAN one by one: long fields sharing 480 bytes come back whole
        for count in (1, 2, 3, 100):
            got = scan_all(c, "h", count=count)
            assert_eq(dict(got), want)
        assert_eq(sorted(c.call("HRANDFIELD", "h", "100")), sorted(want))
        for _ in range(20):
            assert_true(c.call("HRANDFIELD", "h") in want)
        err(c.call("HINCRBY", "h", longs[2], "3"), "ERR hash value is not an integer")
        assert_eq(c.call("HSET", "h", longs[2], "10"), 0)
        assert_eq(c.call("HINCRBY", "h", longs[2], "3"), 13)
        assert_eq(c.call("HDEL", "h", longs[2], longs[3], b"P" * 600), 2)
        assert_eq(c.call("HLEN", "h"), len(longs) + 1)
        s.restart()
        c = s.conn()
        del want[longs[2]], want[longs[3]]
        assert_eq(as_dict(c.call("HGETALL", "h")), want)


@test(timeout=300)
def hundred_thousand_fields():
    n = 100000
    with CairnServer() as s:
        c = s.conn()
        batch = 2000
        cmds = []
        for b in range(0, n, batch):
            args = ["HSET", "big"]
            for i in range(b, b + batch):
                args += ["field:%d" % i, "value:%d" % i]
            cmds.append(args)
        for r in c.pipeline(cmds):
            assert_eq(r, batch)
        assert_eq(c.call("HLEN", "big"), n)
        for i in (0, 1, 9999, 54321, n - 1):
            assert_eq(c.call("HGET", "big", "field:%d" % i), b"value:%d" % i)
        assert_eq(c.call("HGET", "big", "field:%d" % n), None)
        got = scan_all(c, "big", count=500)
        assert_eq(len(set(f for f, _ in got)), n)
        for f, v in got:
            assert_eq(v, b"value:" + f[6:])
        assert_true(len(got) <= n * 1.01, len(got))
        # cursors are decimal numbers; short ones fit 64 bits
        r = c.call("HSCAN", "big", "0", "COUNT", "10")
        assert_true(r[0].isdigit() and r[0] != b"0", r)
        matched = scan_all(c, "big", count=1000, match="field:1234?")
        assert_eq(sorted(f for f, _ in matched), sorted(b"field:1234%d" % d for d in range(10)))
        assert_eq(len(c.call("HKEYS", "big")), n)
        # HRANDFIELD on a big hash: existing fields, distinct for positive counts
        picks = c.call("HRANDFIELD", "big", "50")
        assert_eq(len(set(picks)), 50)
        for p in picks:
            assert_true(p.startswith(b"field:"), p)
        picks = c.call("HRANDFIELD", "big", "-2000", "WITHVALUES")
        assert_eq(len(picks), 4000)
        for f, v in zip(picks[0::2], picks[1::2]):
            assert_eq(v, b"value:" + f[6:])
        assert_true(len(set(picks[0::2])) > 100, "too few distinct random fields")
        picks = c.call("HRANDFIELD", "big", "40000")    # count*32 > n: selection sampling
        assert_eq(len(set(picks)), 40000)
        picks = c.call("HRANDFIELD", "big", "3000", "WITHVALUES")   # descents, distinct
        assert_eq(len(set(picks[0::2])), 3000)
        for f, v in zip(picks[0::2], picks[1::2]):
            assert_eq(v, b"value:" + f[6:])
        assert_true(c.call("HRANDFIELD", "big").startswith(b"field:"))
        assert_eq(len(c.call("HRANDFIELD", "big", str(n + 5))), n)
        # delete everything through HDEL batches: the key goes away
        fields = ["field:%d" % i for i in range(n)]
        cmds = [["HDEL", "big"] + fields[b:b + 5000] for b in range(0, n, 5000)]
        assert_eq(sum(c.pipeline(cmds)), n)
        assert_eq(c.call("EXISTS", "big"), 0)


@test(timeout=200)
def hrandfield_big_is_spread():
    """Random picks on a big hash are about uniform, also for skewed names."""
    n = 20000
    with CairnServer() as s:
        c = s.conn()
        # "k0".."k19999": unbalanced as a byte trie; hashing does not care
        cmds = [["HSET", "h"] + [x for i in range(b, b + 2000) for x in (b"k%d" % i, b"%d" % i)]
                for b in range(0, n, 2000)]
        c.pipeline(cmds)
        picks = c.call("HRANDFIELD", "h", "-20000")
        counts = {}
        for p in picks:
            counts[p] = counts.get(p, 0) + 1
        # uniform: 20000 draws of 20000 fields -> ~12640 distinct, max ~7
        assert_true(len(counts) > 11500, len(counts))
        assert_true(max(counts.values()) <= 12, max(counts.values()))
        assert_true(counts.get(b"k0", 0) <= 12, counts.get(b"k0"))  # no field favoured
        short = sum(v for k, v in counts.items() if len(k) <= 3)   # k0..k99: 0.5% of the fields
        assert_true(short < 300, short)


@test
def hscan_while_changing():
    with CairnServer() as s:
        c = s.conn()
        stable = set(b"s%05d" % i for i in range(0, 3000, 2))
        c.call("HSET", "h", *[x for f in sorted(stable) for x in (f, b"v")])
        churn = [0]

        def check(rounds, cursor):
            # between calls: add and remove other fields everywhere in the order
            i = churn[0]
            churn[0] += 1
            c.call("HSET", "h", b"s%05d" % (2 * i + 1), "n", b"a%05d" % i, "n", b"t%05d" % i, "n")
            c.call("HDEL", "h", b"s%05d" % (2 * i - 1), b"t%05d" % (i - 3))
        got = set(f for f, _ in scan_all(c, "h", count=7, check=check))
        assert_true(stable <= got, "missing %r" % sorted(stable - got)[:5])
        # a cursor survives a restart
        r = c.call("HSCAN", "h", "0", "COUNT", "100")
        cursor, seen = r[0], set(r[1][0::2])
        s.restart()
        c = s.conn()
        while cursor != b"0":
            cursor, items = c.call("HSCAN", "h", cursor, "COUNT", "100")
            seen |= set(items[0::2])
        assert_true(stable <= seen)
        # cursors: invalid forms
        err(c.call("HSCAN", "h", "abc"), "ERR invalid cursor")
        err(c.call("HSCAN", "h", "99999999999999999999"), "ERR invalid cursor")
        err(c.call("HSCAN", "h", "1" + "999" * 10), "ERR invalid cursor")
        err(c.call("HSCAN", "h", " 1"), "ERR invalid cursor")
        # any 64-bit number is a position (the hash to resume from)
        r = c.call("HSCAN", "h", str(1 << 63), "COUNT", "5")
        assert_true(isinstance(r, list) and len(r[1]) >= 10 and int(r[0]) > 1 << 63, r)
        err(c.call("HSCAN", "h", "0", "COUNT", "0"), SYNTAX)
        err(c.call("HSCAN", "h", "0", "COUNT", "x"), NOTINT)
        err(c.call("HSCAN", "h", "0", "NOVALUES"), SYNTAX)


@test
def hrandfield_small():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("HRANDFIELD", "nokey"), None)
        assert_eq(c.call("HRANDFIELD", "nokey", "-3"), [])
        c.call("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5")
        assert_eq(c.call("HRANDFIELD", "h", "0"), [])
        counts = {}
        for f in c.call("HRANDFIELD", "h", "-5000"):
            counts[f] = counts.get(f, 0) + 1
        assert_eq(sorted(counts), [b"a", b"b", b"c", b"d", b"e"])
        for f, k in counts.items():
            assert_true(800 < k < 1200, counts)        # uniform: 1000 each expected
        r = c.call("HRANDFIELD", "h", "-70000", "WITHVALUES")    # more than one chunk of picks
        assert_eq(len(r), 140000)
        assert_eq(set(zip(r[0::2], r[1::2])), {(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4"), (b"e", b"5")})
        r = c.call("HRANDFIELD", "h", "3", "WITHVALUES")
        assert_eq(len(r), 6)
        assert_eq(len(set(r[0::2])), 3)
        for f, v in zip(r[0::2], r[1::2]):
            assert_eq(v, {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4", b"e": b"5"}[f])
        orders = set(tuple(c.call("HRANDFIELD", "h", "2")) for _ in range(60))
        assert_true(len(orders) > 5, orders)
        err(c.call("HRANDFIELD", "h", "x"), NOTINT)
        err(c.call("HRANDFIELD", "h", "1", "WITHVALUE"), SYNTAX)
        err(c.call("HRANDFIELD", "h", "-9223372036854775808"),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        err(c.call("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"), "ERR value is out of range")


@test(timeout=180)
def durability_restart_and_kill():
    with CairnServer({"durability": "strict"}) as s:
        c = s.conn()
        c.call("HSET", "h", "a", "1", "b", "2", "c", "3", BIN, BIN, b"L" * 700, "long")
        c.call("HDEL", "h", "b")
        c.call("HINCRBY", "h", "a", "41")
        c.call("HINCRBYFLOAT", "h", "f", "0.1")
        c.call("HINCRBYFLOAT", "h", "f", "0.2")
        c.call("HSETNX", "h", "c", "no")
        c.call("HSET", "gone", "x", "1")
        c.call("HDEL", "gone", "x")
        want = {b"a": b"42", b"c": b"3", BIN: BIN, b"L" * 700: b"long", b"f": b"0.3"}
        assert_eq(as_dict(c.call("HGETALL", "h")), want)
        s.restart()
        c = s.conn()
        assert_eq(as_dict(c.call("HGETALL", "h")), want)
        assert_eq(c.call("HLEN", "h"), 5)
        assert_eq(c.call("EXISTS", "gone"), 0)
        # after the restart's checkpoint: more writes, then SIGKILL (replayed from the backlog)
        c.call("HSET", "h", "k1", "v1")
        c.call("HINCRBYFLOAT", "h", "f", "1e-5")
        c.call("HDEL", "h", "a")
        c.call("HMSET", "h2", "x", "1", "y", "2")
        for i in range(200):
            c.call("HSET", "many", "f%d" % i, i)
        want[b"k1"] = b"v1"
        want[b"f"] = b"0.30001"
        del want[b"a"]
        s.restart(kill=True)
        c = s.conn()
        assert_eq(as_dict(c.call("HGETALL", "h")), want)
        assert_eq(as_dict(c.call("HGETALL", "h2")), {b"x": b"1", b"y": b"2"})
        assert_eq(c.call("HLEN", "many"), 200)
        assert_eq(c.call("HGET", "many", "f199"), b"199")
        s.restart(kill=True)
        c = s.conn()
        assert_eq(as_dict(c.call("HGETALL", "h")), want)


@test
def hincrbyfloat_propagates_as_hset():
    with CairnServer({"durability": "strict"}) as s:
        c = s.conn()
        assert_eq(c.call("HINCRBYFLOAT", "h", "f", "10.5"), b"10.5")
        assert_eq(c.call("HINCRBYFLOAT", "h", "f", "0.25"), b"10.75")
        assert_eq(c.call("HINCRBY", "h", "i", "3"), 3)
        end = int(info(c, "all")["wal_last_offset"])
        tool = os.path.join(os.environ.get("CAIRN_BUILD_DIR", os.path.dirname(cairn_binary())), "cairn-backlog")
        r = subprocess.run([tool, "dump", os.path.join(s.dir, "backlog"), "--from", "1", "--to", str(end)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert_eq(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        assert_true('"HSET" "h" "f" "10.5"' in out, out)
        assert_true('"HSET" "h" "f" "10.75"' in out, out)
        assert_true('"HINCRBY" "h" "i" "3"' in out, out)
        assert_true("HINCRBYFLOAT" not in out.upper(), out)


@test(timeout=120)
def replica_from_the_stream():
    # a replica attached before the hashes exist gets them from the stream
    # only: HINCRBYFLOAT arrives as HSET, the hashes must end up equal
    with CairnServer() as master, CairnServer() as replica:
        rc = replica.conn()
        assert_eq(rc.call("REPLICAOF", "127.0.0.1", master.port), "OK")
        wait_link_up(replica, timeout=30)
        mc = master.conn()
        mc.call("HSET", "h", *[x for i in range(3000) for x in ("f%d" % i, "v%d" % i)])
        mc.call("HDEL", "h", *["f%d" % i for i in range(0, 3000, 3)])
        for i in range(20):
            mc.call("HINCRBYFLOAT", "h", "fl", "0.1")
            mc.call("HINCRBY", "h", "in", i)
        mc.call("HSETNX", "h", "f1", "no")
        mc.call("HMSET", "h2", "a", "1", "b", "2")
        mc.call("HDEL", "h2", "a", "b")
        mc.call("HSET", "h3", b"L" * 700, BIN)
        assert_eq(mc.call("WAIT", 1, 5000), 1)
        for k in ("h", "h2", "h3"):
            assert_eq(as_dict(rc.call("HGETALL", k)), as_dict(mc.call("HGETALL", k)), k)
        assert_eq(rc.call("HLEN", "h"), 2002)
        assert_eq(rc.call("HGET", "h", "fl"), mc.call("HGET", "h", "fl"))


@test
def expiry():
    with CairnServer() as s:
        c = s.conn()
        c.call("HSET", "h", "a", "1", "b", "2")
        assert_eq(c.call("PEXPIRE", "h", "300"), 1)
        c.call("HSET", "h", "c", "3")                 # writes keep the TTL
        assert_true(0 < c.call("PTTL", "h") <= 300)
        c.call("HINCRBYFLOAT", "h", "f", "1")
        c.call("HDEL", "h", "a")
        assert_true(0 < c.call("PTTL", "h") <= 300)
        assert_true(wait_until(lambda: c.call("EXISTS", "h") == 0, timeout=5))
        assert_eq(c.call("TYPE", "h"), "none")
        assert_eq(c.call("HGETALL", "h"), [])
        assert_eq(c.call("HSET", "h", "z", "9"), 1)   # a fresh hash: no old fields
        assert_eq(as_dict(c.call("HGETALL", "h")), {b"z": b"9"})
        assert_eq(c.call("TTL", "h"), -1)
        # active expiry (nobody reads the key)
        c.call("HSET", "h2", *[x for i in range(500) for x in ("f%d" % i, "v")])
        c.call("PEXPIRE", "h2", "100")
        time.sleep(0.5)
        assert_true(wait_until(lambda: c.call("DBSIZE") == 1, timeout=5), c.call("DBSIZE"))
        assert_eq(c.call("HLEN", "h2"), 0)


if __name__ == "__main__":
    run_tests()
