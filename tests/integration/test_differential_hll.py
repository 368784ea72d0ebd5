"""HyperLogLog compared byte for byte with a real redis-server 7.0: the
replies of PFADD PFCOUNT PFMERGE PFDEBUG and, after every step, GET of the
key, so the stored representation (sparse opcodes, the switch to dense,
the cached cardinality in the header) is Redis's exactly. Also corrupt
values (every error path, as the Debian redis-server 7.0.15 with the
CVE-2025-32023 fix answers them), and a value DUMPed by Redis RESTOREd into
cairn (and back). DUMP payloads themselves are not compared: Redis
LZF-compresses strings longer than 20 bytes, cairn's RDB writer does not."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from differential import compare  # noqa: E402


@test
def pf_basics():
    compare([
        ["PFADD", "h"],
        ["GET", "h"],
        ["PFCOUNT", "h"],
        ["GET", "h"],
        ["PFADD", "h", "a", "b", "c"],
        ["GET", "h"],
        ["PFADD", "h", "a", "b", "c"],
        ["PFCOUNT", "h"],
        ["GET", "h"],
        ["PFADD", "h", ""],
        ["PFADD", "h", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
        ["GET", "h"],
        ["PFCOUNT", "h"],
        ["PFCOUNT", "h"],
        ["GET", "h"],
        ["PFCOUNT", "nokey"],
        ["PFCOUNT", "h", "nokey"],
        ["PFADD", "h2", "x", "y", "a"],
        ["PFCOUNT", "h", "h2"],
        ["PFCOUNT", "h", "h2", "h"],
        ["PFMERGE", "m", "h", "h2"],
        ["GET", "m"],
        ["PFCOUNT", "m"],
        ["PFMERGE", "m"],
        ["GET", "m"],
        ["PFMERGE", "empty"],
        ["GET", "empty"],
        ["PFMERGE", "empty2", "nokey"],
        ["GET", "empty2"],
        ["PFDEBUG", "ENCODING", "h"],
        ["PFDEBUG", "DECODE", "h"],
        ["PFDEBUG", "TODENSE", "h"],
        ["PFDEBUG", "TODENSE", "h"],
        ["PFDEBUG", "ENCODING", "h"],
        ["PFDEBUG", "DECODE", "h"],
        ["GET", "h"],
        ["PFCOUNT", "h"],
        ["PFMERGE", "m2", "h2", "h"],
        ["PFDEBUG", "ENCODING", "m2"],
        ["GET", "m2"],
        ["PFDEBUG", "GETREG", "h2"],
        ["GET", "h2"],
        ["PFDEBUG", "ENCODING", "nokey"],
        ["PFDEBUG", "BAD", "h"],
        ["SET", "t", "x", "EX", 1000],
        ["DEL", "t"],
        ["PFADD", "t", "a"],
        ["EXPIRE", "t", 1000],
        ["PFADD", "t", "b"],
        ["PFCOUNT", "t"],
        (["TTL", "t"], "ttl_tolerant"),
    ], fresh=True, name="pf basics")


@test
def pf_errors():
    compare([
        ["PFADD"],
        ["PFCOUNT"],
        ["PFMERGE"],
        ["PFDEBUG", "ENCODING"],
        ["PFSELFTEST", "x"],
        ["SET", "s", "bar"],
        ["PFADD", "s", "1"],
        ["PFCOUNT", "s"],
        ["PFCOUNT", "s", "nokey"],
        ["PFMERGE", "d", "s"],
        ["PFMERGE", "s", "nokey"],
        ["PFDEBUG", "ENCODING", "s"],
        ["EXISTS", "d"],
        ["LPUSH", "l", "a"],
        ["PFADD", "l", "1"],
        ["PFCOUNT", "l"],
        ["PFMERGE", "l"],
        ["SET", "n", "12345678901234567890"],
        ["PFCOUNT", "n"],
        ["SET", "short", "HYLL"],
        ["PFCOUNT", "short"],
        # corrupt values
        ["PFADD", "c1", "a", "b", "c"],
        ["APPEND", "c1", "hello"],
        ["PFCOUNT", "c1"],
        ["PFADD", "c1", "zz"],
        ["PFCOUNT", "c1", "nokey"],
        ["PFMERGE", "dst", "c1"],
        ["PFADD", "c2", "a", "b", "c"],
        ["SETRANGE", "c2", 0, "0123"],
        ["PFCOUNT", "c2"],
        ["PFADD", "c3", "a", "b", "c"],
        ["SETRANGE", "c3", 4, "x"],
        ["PFCOUNT", "c3"],
        ["PFADD", "c4", "a", "b", "c"],
        ["SETRANGE", "c4", 4, "\x00"],
        ["PFCOUNT", "c4"],
        ["PFADD", "c5", "a"],
        ["SETRANGE", "c5", 16, "\x7f\xff"],
        ["PFCOUNT", "c5"],
        ["PFADD", "c5", "b"],
        ["PFDEBUG", "TODENSE", "c5"],
        ["PFDEBUG", "DECODE", "c5"],
        ["PFADD", "c6", "a"],
        ["SETRANGE", "c6", 16, "\xff\xff\xff\xff\xff"],
        ["PFCOUNT", "c6"],
        ["PFADD", "c6", "q"],
        ["PFADD", "c7", "a"],
        ["PFDEBUG", "TODENSE", "c7"],
        ["SETRANGE", "c7", 100, "\xff\xff\xff"],
        ["PFCOUNT", "c7"],
        ["GET", "c7"],
    ], fresh=True, name="pf errors")


def random_elements(r, n):
    return ["e%d" % r.randint(0, 10 ** 9) for _ in range(n)]


@test
def pf_sparse_to_dense():
    """Grows HLLs through the sparse encoding until they turn dense, with
    the key compared byte for byte all along (and the default and a small
    hll-sparse-max-bytes)."""
    r = random.Random(31)
    cmds = []
    for key in ("h", "g"):
        total = 0
        while total < 6000:
            n = r.choice([1, 2, 5, 20, 100])
            cmds.append(["PFADD", key] + random_elements(r, n))
            total += n
            cmds.append(["GET", key])
            if r.random() < 0.3:
                cmds.append(["PFCOUNT", key])
                cmds.append(["GET", key])
        cmds.append(["PFDEBUG", "ENCODING", key])
        cmds.append(["CONFIG", "SET", "hll-sparse-max-bytes", "300"])
    cmds.append(["PFMERGE", "m", "h", "g"])
    cmds.append(["GET", "m"])
    cmds.append(["PFCOUNT", "h", "g", "m"])
    compare(cmds, fresh=True, name="pf sparse to dense", max_report=5)


@test
def pf_merge_sparse():
    r = random.Random(32)
    cmds = [["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]]
    for i in range(30):
        for k in ("a", "b", "c"):
            cmds.append(["PFADD", k] + random_elements(r, r.randint(0, 40)))
        cmds.append(["PFMERGE", "m%d" % (i % 3), "a", "b", "c"])
        cmds.append(["GET", "m%d" % (i % 3)])
        cmds.append(["PFMERGE", "a", "b"])
        cmds.append(["GET", "a"])
        cmds.append(["PFCOUNT", "a", "b", "c", "m0"])
        cmds.append(["PFCOUNT", "m%d" % (i % 3)])
    compare(cmds, fresh=True, name="pf merge sparse")


@test
def pf_large_counts():
    r = random.Random(33)
    cmds = []
    for i in range(60):
        cmds.append(["PFADD", "big"] + random_elements(r, 500))
        if i % 5 == 0:
            cmds.append(["PFCOUNT", "big"])
    cmds.append(["GET", "big"])
    cmds.append(["PFDEBUG", "GETREG", "big"])
    compare(cmds, fresh=True, name="pf large counts")


@test
def pf_random_corruption():
    """Random bytes written over HLLs: cairn answers what Redis answers
    (INVALIDOBJ, WRONGTYPE, or a count) and never crashes."""
    r = random.Random(34)
    cmds = []
    for i in range(200):
        k = "h%d" % i
        cmds.append(["PFADD", k] + random_elements(r, r.randint(1, 300)))
        for _ in range(r.randint(1, 3)):
            cmds.append(["SETRANGE", k, r.randint(0, 40), bytes([r.randint(0, 255)]).decode("latin-1")])
        op = r.randint(0, 3)
        if op == 0:
            cmds.append(["PFCOUNT", k])
        elif op == 1:
            cmds.append(["PFADD", k] + random_elements(r, 5))
        elif op == 2:
            cmds.append(["PFMERGE", "dst", k])
        else:
            cmds.append(["PFCOUNT", k, "nokey"])
        cmds.append(["GET", k])
    compare(cmds, fresh=True, name="pf random corruption", max_report=5)


@test
def pf_restore_from_redis():
    """An HLL DUMPed by redis-server restores into cairn as the same bytes,
    and counts the same; and the other way round."""
    with RedisServer() as rs, CairnServer() as cs:
        rc, cc = rs.conn(), cs.conn()
        r = random.Random(35)
        for n in (3, 200, 5000):
            els = random_elements(r, n)
            for i in range(0, len(els), 500):
                assert_eq(type(rc.call("PFADD", "r%d" % n, *els[i:i + 500])), int)
                cc.call("PFADD", "c%d" % n, *els[i:i + 500])
            payload = rc.call("DUMP", "r%d" % n)
            assert_eq(cc.call("RESTORE", "r%d" % n, 0, payload), "OK")
            assert_eq(cc.call("GET", "r%d" % n), rc.call("GET", "r%d" % n))
            assert_eq(cc.call("PFCOUNT", "r%d" % n), rc.call("PFCOUNT", "r%d" % n))
            assert_eq(cc.call("PFCOUNT", "c%d" % n), rc.call("PFCOUNT", "r%d" % n))
            assert_eq(cc.call("GET", "c%d" % n), rc.call("GET", "r%d" % n))
            back = cc.call("DUMP", "c%d" % n)
            assert_eq(rc.call("RESTORE", "back%d" % n, 0, back), "OK")
            assert_eq(rc.call("PFCOUNT", "back%d" % n), cc.call("PFCOUNT", "c%d" % n))
            assert_eq(rc.call("PFADD", "back%d" % n, "new"), cc.call("PFADD", "c%d" % n, "new"))
            assert_eq(rc.call("GET", "back%d" % n), cc.call("GET", "c%d" % n))


@test
def pf_selftest():
    with CairnServer() as s:
        assert_eq(s.conn().call("PFSELFTEST"), "OK")


@test
def pf_durable():
    """PFADD, the PFCOUNT cache and PFMERGE survive kill -9 (they go through
    the stream like any write)."""
    with CairnServer() as s:
        c = s.conn()
        c.call("PFADD", "h", *["x%d" % i for i in range(100)])
        c.call("PFCOUNT", "h")
        c.call("PFADD", "g", "a", "b")
        c.call("PFMERGE", "m", "h", "g")
        before = [c.call("GET", k) for k in ("h", "g", "m")]
        s.restart(kill=True)
        c = s.conn()
        assert_eq([c.call("GET", k) for k in ("h", "g", "m")], before)


if __name__ == "__main__":
    run_tests()
