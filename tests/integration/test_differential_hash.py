"""Differential tests: hash commands, cairn vs redis-server 7.0.

Field order differs by design (cairn: byte order; Redis: insertion order or
random), so whole-hash replies are compared sorted ("sorted") or by pairs
(hgetall_pairs below), and HSCAN by full iteration ("scan_all").

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_hash.py [name...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests, Map  # noqa: E402
from differential import compare  # noqa: E402

BIN = b"\x00\xff\r\n\x01 bin"
LONGF = b"L" * 600                     # > CAIRN_ELEM_INLINE (480)
LONGF2 = b"L" * 600 + b"2"
BIGV = b"v" * 100000


def pairs(v):
    """HGETALL (RESP2 flat array or RESP3 map) as a sorted list of pairs, with
    the reply kind."""
    if isinstance(v, Map):
        return ("map", sorted(v.items()))
    if isinstance(v, list):
        return ("array", sorted(zip(v[0::2], v[1::2])))
    return v


def randpairs(v):
    """HRANDFIELD ... WITHVALUES: shape only, plus the number of entries."""
    if isinstance(v, list):
        return ("array", len(v), sorted({type(x).__name__ for x in v}))
    return v


def S(*args):
    return (list(args), "sorted")


def P(*args):
    return (list(args), pairs)


SCAN = "scan_all"


@test
def hset_hget_basic():
    for resp in (2, 3):
        compare([
            ["HSET", "h", "a", "1"], ["HSET", "h", "a", "2", "b", "3"], ["HGET", "h", "a"], ["HGET", "h", "b"],
            ["HGET", "h", "nofield"], ["HGET", "nokey", "a"], ["HSET", "h", "a", "x", "a", "y"], ["HGET", "h", "a"],
            ["HLEN", "h"], ["HLEN", "nokey"], ["HSET", "h", BIN, BIN], ["HGET", "h", BIN], ["HSET", "h", "", ""],
            ["HGET", "h", ""], ["HSTRLEN", "h", ""], ["HSET", "h", "big", BIGV], ["HGET", "h", "big"],
            ["HSTRLEN", "h", "big"], ["HSET", "h", LONGF, "long"], ["HSET", "h", LONGF2, "long2"],
            ["HGET", "h", LONGF], ["HGET", "h", LONGF2], ["HGET", "h", b"L" * 600 + b"3"], ["HEXISTS", "h", LONGF],
            ["HEXISTS", "h", b"L" * 480], ["HLEN", "h"], ["HSTRLEN", "h", LONGF2], ["TYPE", "h"],
            ["hset", "lower", "f", "v"], ["HgEt", "lower", "f"], ["HSET", "n", "f", 12345], ["HGET", "n", "f"],
        ], resp=resp)


@test
def hsetnx_hmset_hmget():
    for resp in (2, 3):
        compare([
            ["HSETNX", "h", "a", "1"], ["HSETNX", "h", "a", "2"], ["HGET", "h", "a"], ["HSETNX", "h", "b", BIN],
            ["HMSET", "h", "a", "9", "c", "3"], ["HMGET", "h", "a", "b", "c", "nofield", "a"],
            ["HMGET", "nokey", "a", "b"], ["HMSET", "h2", LONGF, BIGV], ["HMGET", "h2", LONGF, "x"],
            ["HLEN", "h"], ["HSETNX", "h", LONGF, "l"], ["HSETNX", "h", LONGF, "m"], ["HGET", "h", LONGF],
        ], resp=resp)


@test
def hdel_hexists_hstrlen():
    compare([
        ["HSET", "h", "a", "1", "b", "22", "c", "333"], ["HEXISTS", "h", "a"], ["HEXISTS", "h", "z"],
        ["HEXISTS", "nokey", "a"], ["HSTRLEN", "h", "c"], ["HSTRLEN", "h", "z"], ["HSTRLEN", "nokey", "z"],
        ["HDEL", "h", "a", "a", "z"], ["HDEL", "h", "a"], ["HDEL", "nokey", "a"], ["HLEN", "h"],
        ["HDEL", "h", "b", "c", "d"], ["EXISTS", "h"], ["TYPE", "h"], ["HLEN", "h"], ["HGETALL", "h"],
        ["HSET", "h", LONGF, "1", LONGF2, "2"], ["HDEL", "h", LONGF], ["HEXISTS", "h", LONGF],
        ["HEXISTS", "h", LONGF2], ["HDEL", "h", b"L" * 480], ["HDEL", "h", LONGF2], ["EXISTS", "h"],
    ])
    compare([["HEXISTS", "h", "a"], ["HSET", "h", "a", "1"], ["HEXISTS", "h", "a"]], resp=3)


@test
def whole_hash_replies():
    for resp in (2, 3):
        compare([
            ["HSET", "h", "b", "2", "a", "1", BIN, BIN, LONGF, "l", "c", ""],
            S("HKEYS", "h"), S("HVALS", "h"), P("HGETALL", "h"),
            ["HKEYS", "nokey"], ["HVALS", "nokey"], ["HGETALL", "nokey"],
            ["HSET", "one", "f", "v"], ["HKEYS", "one"], ["HVALS", "one"], ["HGETALL", "one"],
        ], resp=resp)


@test
def hincrby():
    compare([
        ["HINCRBY", "h", "a", "5"], ["HINCRBY", "h", "a", "-12"], ["HGET", "h", "a"], ["HINCRBY", "h", "a", "0"],
        ["HINCRBY", "h", "a", "abc"], ["HINCRBY", "h", "a", "1.5"], ["HINCRBY", "h", "a", ""],
        ["HINCRBY", "h", "a", "99999999999999999999"], ["HINCRBY", "h", "a", " 1"],
        ["HSET", "h", "s", "abc", "sp", " 1", "z", "01", "m", "-0", "e", "", "f", "1.0"],
        ["HINCRBY", "h", "s", "1"], ["HINCRBY", "h", "sp", "1"], ["HINCRBY", "h", "z", "1"],
        ["HINCRBY", "h", "m", "1"], ["HINCRBY", "h", "e", "1"], ["HINCRBY", "h", "f", "1"],
        ["HSET", "h", "max", "9223372036854775807", "min", "-9223372036854775808"],
        ["HINCRBY", "h", "max", "1"], ["HINCRBY", "h", "max", "0"], ["HINCRBY", "h", "max", "-1"],
        ["HINCRBY", "h", "min", "-1"], ["HINCRBY", "h", "min", "1"], ["HINCRBY", "h", "new", "-9223372036854775808"],
        ["HINCRBY", "h", "new", "-1"], ["HINCRBY", "h", "new", "9223372036854775807"], ["HGET", "h", "new"],
        ["HINCRBY", "h", LONGF, "7"], ["HGET", "h", LONGF], ["HLEN", "h"],
    ])


@test
def hincrbyfloat():
    compare([
        ["HINCRBYFLOAT", "h", "a", "1.5"], ["HINCRBYFLOAT", "h", "a", "3.0"], ["HINCRBYFLOAT", "h", "a", "-0.0001"],
        ["HINCRBYFLOAT", "h", "a", "1e3"], ["HINCRBYFLOAT", "h", "a", "0x10"], ["HINCRBYFLOAT", "h", "a", "abc"],
        ["HINCRBYFLOAT", "h", "a", ""], ["HINCRBYFLOAT", "h", "a", " 1"], ["HINCRBYFLOAT", "h", "a", "inf"],
        ["HINCRBYFLOAT", "h", "a", "-inf"], ["HINCRBYFLOAT", "h", "a", "nan"], ["HGET", "h", "a"],
        ["HSET", "h", "s", "abc", "sp", " 1", "i", "10", "e", "", "big", "1e308"],
        ["HINCRBYFLOAT", "h", "s", "1"], ["HINCRBYFLOAT", "h", "sp", "1"], ["HINCRBYFLOAT", "h", "e", "1"],
        ["HINCRBYFLOAT", "h", "i", "0.25"], ["HINCRBYFLOAT", "h", "big", "1e308"], ["HGET", "h", "big"],
        ["HINCRBYFLOAT", "h", "z", "1e-400"], ["HINCRBYFLOAT", "h", "z", "5.0e3"], ["HINCRBYFLOAT", "h", "z", "-5000"],
        ["HINCRBYFLOAT", "h", "y", "1.1e4932"], ["HINCRBYFLOAT", "h", "y", "1.1e4932"], ["HEXISTS", "h", "y"],
        ["HINCRBYFLOAT", "h", "n", "10.5"], ["HINCRBY", "h", "n", "1"], ["HINCRBY", "h", "i", "1"],
        ["HINCRBYFLOAT", "h", LONGF, "0.5"], ["HGET", "h", LONGF],
    ])
    compare([["HINCRBYFLOAT", "h", "a", "2.5"], ["HINCRBYFLOAT", "h", "a", "2.5"], ["HGET", "h", "a"]], resp=3)


@test
def number_forms():
    cmds = [["HSET", "h", "i", "7", "neg", "-7", "z", "0", "f", "-0.0", "e", "1.5e3", "d", "10e-1", "big", "1e20"]]
    for inc in ("+1", "-0", "007", "1 ", "0x1", "1e3", "9223372036854775807", "-9223372036854775808"):
        cmds.append(["HINCRBY", "h", "i", inc])
    for fld in ("i", "neg", "z", "f", "e", "d", "big", "new"):
        for inc in ("+1.5", "1.", ".5", "1e", "-0", "0", "1e-3", "-1e-3", "3.0000000000000001", "1e20"):
            cmds.append(["HINCRBYFLOAT", "h", fld, inc])
        cmds += [["HGET", "h", fld], ["HSTRLEN", "h", fld]]
    cmds += [["HINCRBYFLOAT", "h", "x", "0.1"], ["HINCRBYFLOAT", "h", "x", "0.2"], ["HGET", "h", "x"],
             ["HINCRBYFLOAT", "h", "y", "-5"], ["HINCRBYFLOAT", "h", "y", "5"], ["HGET", "h", "y"],
             ["HINCRBYFLOAT", "h", "w", "123456789012345678"], ["HINCRBYFLOAT", "h", "w", "0.5"]]
    compare(cmds)


@test
def hrandfield():
    for resp in (2, 3):
        compare([
            ["HRANDFIELD", "nokey"], ["HRANDFIELD", "nokey", "5"], ["HRANDFIELD", "nokey", "-5"],
            ["HRANDFIELD", "nokey", "5", "WITHVALUES"], ["HRANDFIELD", "nokey", "0"],
            ["HSET", "one", "f", "v"], ["HRANDFIELD", "one"], ["HRANDFIELD", "one", "1"], ["HRANDFIELD", "one", "5"],
            ["HRANDFIELD", "one", "-3"], ["HRANDFIELD", "one", "-3", "WITHVALUES"], ["HRANDFIELD", "one", "0"],
            ["HRANDFIELD", "one", "0", "WITHVALUES"], ["HRANDFIELD", "one", "2", "withvalues"],
            ["HRANDFIELD", "one", "1", "WITHVALUES", "x"], ["HRANDFIELD", "one", "1", "WITHVALUE"],
            ["HRANDFIELD", "one", "x"], ["HRANDFIELD", "one", "1.5"], ["HRANDFIELD", "one", ""],
            ["HRANDFIELD", "one", "-9223372036854775808"], ["HRANDFIELD", "one", "9223372036854775808"],
            ["HRANDFIELD", "one", "-4611686018427387904", "WITHVALUES"],
            ["HRANDFIELD", "one", "4611686018427387904", "WITHVALUES"],
            ["HRANDFIELD", "one", "4611686018427387903", "WITHVALUES"],
            ["HRANDFIELD", "one", "9223372036854775807"],
            ["HSET", "h", "a", "1", "b", "2", "c", "3"],
            S("HRANDFIELD", "h", "3"), S("HRANDFIELD", "h", "10"), (["HRANDFIELD", "h", "10", "WITHVALUES"], pairs if resp == 2 else "sorted"),
            (["HRANDFIELD", "h", "-7"], randpairs), (["HRANDFIELD", "h", "-7", "WITHVALUES"], randpairs),
            (["HRANDFIELD", "h", "2"], randpairs), (["HRANDFIELD", "h", "2", "WITHVALUES"], randpairs),
            (["HRANDFIELD", "h"], "type"),
        ], resp=resp)


@test
def hscan():
    fields = []
    for i in range(300):
        fields += ["f%d" % i, "v%d" % i]
    for resp in (2, 3):
        compare([
            ["HSCAN", "nokey", "0"], ["HSCAN", "nokey", "0", "FOO"], ["HSCAN", "nokey", "abc"],
            ["HSET", "one", "f", "v"], ["HSCAN", "one", "0"], ["HSCAN", "one", "0", "COUNT", "100"],
            ["HSCAN", "one", "0", "MATCH", "f*"], ["HSCAN", "one", "0", "MATCH", "x*"], ["HSCAN", "one", "abc"],
            ["HSCAN", "one", "-abc"], ["HSCAN", "one", " 0"], ["HSCAN", "one", "99999999999999999999"],
            ["HSCAN", "one", "0", "COUNT", "0"], ["HSCAN", "one", "0", "COUNT", "-1"], ["HSCAN", "one", "0", "COUNT", "x"],
            ["HSCAN", "one", "0", "MATCH"], ["HSCAN", "one", "0", "FOO", "bar"], ["HSCAN", "one", "0", "TYPE", "hash"],
            ["HSCAN", "one", "0", "NOVALUES"],
            ["HSET", "h", "a", "1", "b", "2", BIN, BIN, LONGF, "l", LONGF2, "l2", "c", ""],
            (["HSCAN", "h", "0"], SCAN), (["HSCAN", "h", "0", "COUNT", "1"], SCAN),
            (["HSCAN", "h", "0", "MATCH", "*"], SCAN), (["HSCAN", "h", "0", "MATCH", "L*", "COUNT", "1"], SCAN),
            ["HMSET", "big"] + fields, (["HSCAN", "big", "0"], SCAN), (["HSCAN", "big", "0", "COUNT", "7"], SCAN),
            (["HSCAN", "big", "0", "MATCH", "f1*", "COUNT", "3"], SCAN),
            (["HSCAN", "big", "0", "MATCH", "f1[0-2]?", "COUNT", "1000"], SCAN),
        ], resp=resp)


@test
def wrong_type_and_arity():
    cmds = [["SET", "s", "v"]]
    for cmd in (["HSET", "s", "a", "1"], ["HSETNX", "s", "a", "1"], ["HGET", "s", "a"], ["HMGET", "s", "a"],
                ["HMSET", "s", "a", "1"], ["HDEL", "s", "a"], ["HEXISTS", "s", "a"], ["HLEN", "s"],
                ["HSTRLEN", "s", "a"], ["HKEYS", "s"], ["HVALS", "s"], ["HGETALL", "s"], ["HINCRBY", "s", "a", "1"],
                ["HINCRBYFLOAT", "s", "a", "1"], ["HRANDFIELD", "s"], ["HRANDFIELD", "s", "1"],
                ["HRANDFIELD", "s", "0"], ["HRANDFIELD", "s", "-1", "WITHVALUES"], ["HSCAN", "s", "0"],
                ["HSCAN", "s", "0", "COUNT", "0"], ["HSCAN", "s", "abc"],
                # argument errors come before the type check for these
                ["HINCRBY", "s", "a", "x"], ["HINCRBYFLOAT", "s", "a", "x"], ["HINCRBYFLOAT", "s", "a", "inf"],
                ["HRANDFIELD", "s", "x"], ["HRANDFIELD", "s", "1", "bad"]):
        cmds.append(cmd)
    cmds += [["GET", "s"], ["HSET", "h", "f", "v"], ["GET", "h"], ["INCR", "h"], ["APPEND", "h", "x"]]
    cmds += [["HSET"], ["HSET", "h"], ["HSET", "h", "f"], ["HSET", "h", "f", "v", "g"], ["HSETNX", "h", "f"],
             ["HSETNX", "h", "f", "v", "x"], ["HGET", "h"], ["HGET", "h", "f", "g"], ["HMGET", "h"],
             ["HMSET", "h", "f"], ["HMSET", "h", "f", "v", "g"], ["HDEL", "h"], ["HEXISTS", "h"], ["HLEN"],
             ["HLEN", "h", "x"], ["HSTRLEN", "h"], ["HKEYS"], ["HKEYS", "h", "x"], ["HVALS"], ["HGETALL"],
             ["HGETALL", "h", "x"], ["HINCRBY", "h", "f"], ["HINCRBYFLOAT", "h", "f"], ["HRANDFIELD"],
             ["HSCAN", "h"], ["HGETALL", "h"]]
    compare(cmds)
    compare(cmds, resp=3)


@test
def expiry_and_keyspace():
    compare([
        ["HSET", "h", "a", "1", "b", "2"], ["EXPIRE", "h", "100"], (["TTL", "h"], "ttl_tolerant"),
        ["HSET", "h", "c", "3"], (["TTL", "h"], "ttl_tolerant"), ["HDEL", "h", "a"], (["TTL", "h"], "ttl_tolerant"),
        ["HINCRBY", "h", "n", "1"], (["TTL", "h"], "ttl_tolerant"), ["HINCRBYFLOAT", "h", "n", "1.5"],
        (["TTL", "h"], "ttl_tolerant"), ["PERSIST", "h"], ["TTL", "h"], ["TYPE", "h"], ["DEL", "h"],
        ["HGETALL", "h"], ["HSET", "h", "a", "1"], ["HGETALL", "h"],
    ])


if __name__ == "__main__":
    run_tests()
