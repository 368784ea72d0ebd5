"""Differential tests: list commands (non-blocking forms, and the blocking ones
where they do not block), cairn vs redis-server 7.0, RESP2 and RESP3.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_list.py [name...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests, assert_true  # noqa: E402
from differential import compare  # noqa: E402

BIN = b"\x00\xff\r\n\x01 bin"
LONG = b"L" * 600 + b"\x00" + b"z" * 100  # longer than CAIRN_ELEM_INLINE


def both(cmds, **kw):
    compare(cmds, resp=2, **kw)
    compare(cmds, resp=3, **kw)


@test
def push_pop_basic():
    both([
        ["LPUSH", "l", "a"], ["LPUSH", "l", "b", "c"], ["RPUSH", "l", "x", "y"], ["LRANGE", "l", 0, -1],
        ["LLEN", "l"], ["LPOP", "l"], ["RPOP", "l"], ["LRANGE", "l", 0, -1], ["LPUSHX", "l", "p", "q"],
        ["RPUSHX", "l", "r"], ["LPUSHX", "nokey", "a"], ["RPUSHX", "nokey", "a"], ["EXISTS", "nokey"],
        ["LRANGE", "l", 0, -1], ["LPOP", "nokey"], ["RPOP", "nokey"], ["LLEN", "nokey"],
        ["RPUSH", "b", BIN, LONG, ""], ["LRANGE", "b", 0, -1], ["LPOP", "b"], ["RPOP", "b"], ["LPOP", "b"],
        ["EXISTS", "b"], ["TYPE", "l"],
    ])


@test
def pop_count_forms():
    both([
        ["LPOP", "nokey", 0], ["LPOP", "nokey", 2], ["RPOP", "nokey", 1], ["LPOP", "nokey", -1],
        ["RPUSH", "l", 1, 2, 3, 4, 5], ["LPOP", "l", 0], ["LPOP", "l", -1], ["LPOP", "l", "x"],
        ["LPOP", "l", 2], ["RPOP", "l", 2], ["LPOP", "l", 10], ["EXISTS", "l"],
        ["RPUSH", "l", "a"], ["LPOP", "l", 1, 2], ["RPOP", "l", "1.5"], ["RPOP", "l", 100], ["LPOP", "l"],
        ["LPOP"], ["RPOP"],
    ])


@test
def wrongtype_and_arity():
    both([
        ["SET", "s", "v"], ["LPUSH", "s", "a"], ["RPUSH", "s", "a"], ["LPUSHX", "s", "a"], ["LPOP", "s"],
        ["RPOP", "s", 2], ["LLEN", "s"], ["LINDEX", "s", 0], ["LSET", "s", 0, "x"], ["LRANGE", "s", 0, 1],
        ["LTRIM", "s", 0, 1], ["LINSERT", "s", "before", "a", "b"], ["LREM", "s", 0, "a"], ["LPOS", "s", "a"],
        ["LMOVE", "s", "d", "left", "right"], ["RPUSH", "d", "x"], ["LMOVE", "d", "s", "left", "right"],
        ["LRANGE", "d", 0, -1], ["RPOPLPUSH", "s", "d"], ["RPOPLPUSH", "d", "s"], ["LMPOP", 1, "s", "left"],
        ["BLPOP", "s", 0], ["BRPOP", "d", "s", 0], ["BLMPOP", 0, 1, "s", "left"],
        ["LPUSH"], ["LPUSH", "l"], ["LLEN"], ["LINDEX", "l"], ["LSET", "l", 0], ["LRANGE", "l", 0],
        ["LTRIM", "l"], ["LINSERT", "l", "before", "a"], ["LREM", "l", 0], ["LPOS", "l"], ["LMOVE", "a", "b"],
        ["RPOPLPUSH", "a"], ["LMPOP", 1, "l"], ["BLPOP", "l"], ["BLMOVE", "a", "b", "left", "left"],
        ["BRPOPLPUSH", "a", "b"], ["BLMPOP", 0, 1, "l"],
    ])


@test
def lindex_lset():
    both([
        ["RPUSH", "l", "a", "b", "c", LONG], ["LINDEX", "l", 0], ["LINDEX", "l", -1], ["LINDEX", "l", 3],
        ["LINDEX", "l", 4], ["LINDEX", "l", -5], ["LINDEX", "l", "x"], ["LINDEX", "nokey", 0],
        ["LINDEX", "nokey", "x"], ["LSET", "l", 1, "B"], ["LSET", "l", -1, BIN], ["LSET", "l", 4, "x"],
        ["LSET", "l", -5, "x"], ["LSET", "l", "x", "y"], ["LSET", "nokey", 0, "x"], ["LSET", "nokey", "x", "x"],
        ["LRANGE", "l", 0, -1], ["LINDEX", "l", "9223372036854775807"], ["LINDEX", "l", "-9223372036854775808"],
    ])


@test
def lrange_edges():
    both([
        ["RPUSH", "l", *range(10)], ["LRANGE", "l", 0, -1], ["LRANGE", "l", 2, 4], ["LRANGE", "l", -3, -1],
        ["LRANGE", "l", -100, 2], ["LRANGE", "l", 5, 100], ["LRANGE", "l", 5, 4], ["LRANGE", "l", 10, 20],
        ["LRANGE", "l", -1, -2], ["LRANGE", "l", "a", 1], ["LRANGE", "l", 0, "b"], ["LRANGE", "nokey", 0, -1],
        ["LRANGE", "nokey", "a", 1], ["LRANGE", "l", "-9223372036854775808", "9223372036854775807"],
    ])


@test
def ltrim_cases():
    both([
        ["RPUSH", "l", *range(10)], ["LTRIM", "l", 2, -3], ["LRANGE", "l", 0, -1], ["LTRIM", "l", 1, 1],
        ["LRANGE", "l", 0, -1], ["LTRIM", "l", 5, 10], ["EXISTS", "l"], ["RPUSH", "l", 1, 2, 3],
        ["LTRIM", "l", 0, -1], ["LRANGE", "l", 0, -1], ["LTRIM", "l", -2, -1], ["LRANGE", "l", 0, -1],
        ["LTRIM", "l", 1, 0], ["EXISTS", "l"], ["LTRIM", "nokey", 0, 1], ["LTRIM", "l", "a", 1],
        ["LTRIM", "nokey", "a", 1], ["RPUSH", "m", 1, 2, 3], ["LTRIM", "m", -100, 100], ["LRANGE", "m", 0, -1],
    ])


@test
def linsert_cases():
    both([
        ["RPUSH", "l", "a", "b", "c", "d", "e"], ["LINSERT", "l", "before", "a", "0"],
        ["LINSERT", "l", "after", "e", "9"], ["LINSERT", "l", "BEFORE", "d", "x"], ["LINSERT", "l", "AFTER", "b", "y"],
        ["LRANGE", "l", 0, -1], ["LINSERT", "l", "after", "nope", "z"], ["LINSERT", "l", "middle", "a", "z"],
        ["LINSERT", "nokey", "before", "a", "z"], ["LINSERT", "nokey", "bad", "a", "z"], ["EXISTS", "nokey"],
        ["RPUSH", "dup", "a", "b", "a"], ["LINSERT", "dup", "after", "a", LONG], ["LRANGE", "dup", 0, -1],
        ["LINSERT", "dup", "before", "a", BIN], ["LRANGE", "dup", 0, -1], ["LINDEX", "dup", 1], ["LLEN", "dup"],
        ["LPOP", "dup"], ["RPOP", "dup"], ["LRANGE", "dup", 0, -1],
    ])


@test
def lrem_cases():
    both([
        ["RPUSH", "l", "a", "b", "a", "c", "a", "d", "a"], ["LREM", "l", 2, "a"], ["LRANGE", "l", 0, -1],
        ["RPUSH", "l", "a", "x", "a"], ["LREM", "l", -2, "a"], ["LRANGE", "l", 0, -1], ["LREM", "l", 0, "a"],
        ["LRANGE", "l", 0, -1], ["LREM", "l", 0, "zz"], ["LREM", "l", 1, "b"], ["LRANGE", "l", 0, -1],
        ["LREM", "nokey", 0, "a"], ["LREM", "l", "x", "a"], ["LREM", "nokey", "x", "a"],
        ["RPUSH", "only", "q", "q"], ["LREM", "only", 0, "q"], ["EXISTS", "only"],
        ["RPUSH", "m", 1, 2, 1, 2, 1, 2, 1], ["LREM", "m", -1, 2], ["LRANGE", "m", 0, -1], ["LREM", "m", 100, 1],
        ["LRANGE", "m", 0, -1], ["LINDEX", "m", 0], ["LPUSH", "m", "h"], ["RPUSH", "m", "t"], ["LRANGE", "m", 0, -1],
        ["LREM", "m", "-9223372036854775808", 2], ["LRANGE", "m", 0, -1],
    ])


@test
def lpos_cases():
    both([
        ["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"], ["LPOS", "l", "c"], ["LPOS", "l", "c", "RANK", 2],
        ["LPOS", "l", "c", "RANK", -1], ["LPOS", "l", "c", "RANK", -3], ["LPOS", "l", "c", "RANK", 4],
        ["LPOS", "l", "c", "COUNT", 0], ["LPOS", "l", "c", "COUNT", 2], ["LPOS", "l", "c", "COUNT", 0, "RANK", -1],
        ["LPOS", "l", "c", "COUNT", 0, "RANK", 2], ["LPOS", "l", "c", "MAXLEN", 3], ["LPOS", "l", "c", "MAXLEN", 2],
        ["LPOS", "l", "c", "COUNT", 0, "MAXLEN", 7], ["LPOS", "l", "x"], ["LPOS", "l", "x", "COUNT", 0],
        ["LPOS", "nokey", "x"], ["LPOS", "nokey", "x", "COUNT", 1], ["LPOS", "l", "c", "RANK", 0],
        ["LPOS", "l", "c", "COUNT", -1], ["LPOS", "l", "c", "MAXLEN", -1], ["LPOS", "l", "c", "RANK"],
        ["LPOS", "l", "c", "FOO", 1], ["LPOS", "l", "c", "RANK", "x"], ["LPOS", "l", "c", "COUNT", 1, "COUNT", 0],
        ["LPOS", "l", "c", "RANK", "-9223372036854775808"], ["LPOS", "l", "c", "RANK", 5, "COUNT", 1],
    ])


@test
def lmove_rpoplpush():
    both([
        ["RPUSH", "s", "a", "b", "c"], ["LMOVE", "s", "d", "left", "right"], ["LMOVE", "s", "d", "RIGHT", "LEFT"],
        ["LRANGE", "s", 0, -1], ["LRANGE", "d", 0, -1], ["LMOVE", "s", "s", "left", "right"],
        ["RPOPLPUSH", "s", "d"], ["EXISTS", "s"], ["LRANGE", "d", 0, -1], ["LMOVE", "s", "d", "left", "left"],
        ["RPOPLPUSH", "nokey", "d"], ["LMOVE", "d", "d", "left", "up"], ["LMOVE", "d", "d", "down", "left"],
        ["RPUSH", "r", 1, 2, 3], ["RPOPLPUSH", "r", "r"], ["LRANGE", "r", 0, -1], ["LMOVE", "r", "r", "right", "left"],
        ["LMOVE", "r", "r", "left", "left"], ["LRANGE", "r", 0, -1], ["RPUSH", "one", LONG],
        ["LMOVE", "one", "one", "left", "right"], ["LRANGE", "one", 0, -1],
        ["BLMOVE", "r", "d", "left", "right", 0], ["BRPOPLPUSH", "r", "d", 0], ["LRANGE", "d", 0, -1],
        ["BLMOVE", "r", "d", "left", "right", -1], ["BLMOVE", "r", "d", "left", "right", "x"],
        ["BLMOVE", "r", "d", "x", "right", "x"], ["BRPOPLPUSH", "r", "d", "nan"],
    ])


@test
def lmpop_cases():
    both([
        ["RPUSH", "a", 1, 2, 3], ["RPUSH", "b", 4, 5], ["LMPOP", 2, "x", "a", "left"],
        ["LMPOP", 2, "x", "a", "right", "count", 5], ["LMPOP", 2, "a", "b", "left", "COUNT", 1], ["EXISTS", "a"],
        ["LMPOP", 1, "x", "left"], ["LMPOP", 1, "x", "left", "count", 2], ["LMPOP", 0, "a", "left"],
        ["LMPOP", -1, "a", "left"], ["LMPOP", "x", "a", "left"], ["LMPOP", 5, "a", "left"], ["LMPOP", 1, "a", "up"],
        ["LMPOP", 1, "a", "left", "count"], ["LMPOP", 1, "a", "left", "count", 0], ["LMPOP", 1, "a", "left", "count", -1],
        ["LMPOP", 1, "a", "left", "count", 1, "count", 1], ["LMPOP", 1, "a", "left", "foo"],
        ["LMPOP", 2, "b", "left"], ["LMPOP", "9223372036854775807", "b", "left"],
        ["RPUSH", "c", "x"], ["BLMPOP", 0, 1, "c", "right", "count", 3], ["BLMPOP", "x", 1, "c", "left"],
        ["BLMPOP", -1, 1, "c", "left"], ["BLMPOP", 0, 0, "c", "left"], ["BLMPOP", "x", 1, "c", "up"],
        ["RPUSH", "d", 1, 2], ["BLPOP", "nokey", "d", 0], ["BRPOP", "d", 0], ["EXISTS", "d"],
        ["BLPOP", "d", "x"], ["BLPOP", "d", -1], ["BLPOP", "d", "-0.5"], ["BLPOP", "d", "inf"],
        ["BLPOP", "d", " 1"], ["BLPOP", "d", "1e30"],
    ])


@test
def multi_blocking_forms():
    # inside MULTI a blocking command never blocks: it answers as on timeout
    from cairn_test import CairnServer
    with CairnServer() as s:
        assert_true(s.conn().call("COMMAND", "INFO", "multi") != [None], "MULTI is missing from this build")
    both([
        ["MULTI"], ["BLPOP", "nk", 0], ["BRPOP", "nk", 0], ["BLMOVE", "nk", "d", "left", "left", 0],
        ["BRPOPLPUSH", "nk", "d", 0], ["BLMPOP", 0, 1, "nk", "left"], ["RPUSH", "nk", "v"], ["BLPOP", "nk", 0],
        ["EXEC"],
    ])


@test
def expiry_kept():
    both([
        ["RPUSH", "l", 1, 2, 3], ["EXPIRE", "l", 1000], ["LPUSH", "l", 0], (["TTL", "l"], "ttl_tolerant"),
        ["LPOP", "l"], ["LSET", "l", 0, "x"], ["LINSERT", "l", "before", "x", "w"], ["LREM", "l", 1, "w"],
        ["LTRIM", "l", 0, 1], (["TTL", "l"], "ttl_tolerant"), ["LMOVE", "l", "m", "left", "right"],
        (["TTL", "m"], "ttl_tolerant"), (["TTL", "l"], "ttl_tolerant"), ["LRANGE", "l", 0, -1],
    ])


def random_list_commands(seed, n):
    import random
    rnd = random.Random(seed)
    keys = ["a", "b", "c"]
    vals = ["x", "y", "z", "", "1", BIN, "w" * 500]

    def v():
        return rnd.choice(vals)

    def i():
        return str(rnd.randint(-8, 8))

    out = []
    for _ in range(n):
        k, k2 = rnd.choice(keys), rnd.choice(keys)
        side = rnd.choice(["LEFT", "RIGHT", "left"])
        out.append(rnd.choice([
            ["LPUSH", k] + [v() for _ in range(rnd.randint(1, 4))],
            ["RPUSH", k] + [v() for _ in range(rnd.randint(1, 4))],
            ["LPUSHX", k, v()], ["RPUSHX", k, v()],
            ["LPOP", k], ["RPOP", k], ["LPOP", k, str(rnd.randint(0, 4))], ["RPOP", k, str(rnd.randint(0, 4))],
            ["LLEN", k], ["LINDEX", k, i()], ["LSET", k, i(), v()], ["LRANGE", k, i(), i()],
            ["LTRIM", k, i(), str(rnd.randint(-3, 12))],
            ["LINSERT", k, rnd.choice(["BEFORE", "AFTER"]), v(), v()],
            ["LREM", k, str(rnd.randint(-3, 3)), v()],
            ["LPOS", k, v()], ["LPOS", k, v(), "RANK", rnd.choice(["1", "-1", "2", "-2"]), "COUNT", str(rnd.randint(0, 3))],
            ["LPOS", k, v(), "MAXLEN", str(rnd.randint(0, 5)), "COUNT", "0"],
            ["LMOVE", k, k2, side, rnd.choice(["LEFT", "RIGHT"])], ["RPOPLPUSH", k, k2],
            ["LMPOP", "2", k, k2, side, "COUNT", str(rnd.randint(1, 3))],
            ["BLMPOP", "0.01", "1", k, side], ["BRPOPLPUSH", k, k2, "0.01"], ["BLPOP", k, k2, "0.01"],
            ["EXISTS", k], ["TYPE", k],
        ]))
    for k in keys:
        out.append(["LRANGE", k, "0", "-1"])
    return out


@test(timeout=300)
def random_sequences():
    for seed in range(4):
        cmds = random_list_commands(seed, 600)
        # blocking forms with 10 ms timeouts: on an empty key both servers
        # time out (nothing else runs meanwhile)
        compare(cmds, resp=2 if seed % 2 == 0 else 3, setup=[["RPUSH", k, "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"] for k in "abc"],
                name="random seed %d" % seed)


if __name__ == "__main__":
    run_tests()
