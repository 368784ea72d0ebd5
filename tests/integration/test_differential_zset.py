"""Differential tests: sorted-set commands, cairn vs redis-server 7.0.

Every deterministic command, RESP2 and RESP3, hand-written sequences with
ties, lex ranges, +inf/-inf, LIMIT beyond the end, WEIGHTS with inf,
AGGREGATE, error cases. Random replies (ZRANDMEMBER) are compared by shape.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_zset.py [name...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests, Conn, assert_true  # noqa: E402
from differential import compare, get_pair  # noqa: E402

BIN = b"\x00\xff\r\n m"
LONG1 = b"L" * 500 + b"a"
LONG2 = b"L" * 500 + b"b"
LONG3 = b"L" * 300 + b"\x00" * 250


def both(cmds, setup=None, name=None):
    """The same sequence in RESP2 and RESP3."""
    compare(cmds, resp=2, setup=setup, name=(name or "") + " resp2")
    compare(cmds, resp=3, setup=setup, name=(name or "") + " resp3")


def SCAN(*args):
    return (list(args), "scan_all")


def SET(*args):
    return (list(args), "set")


POP = [["ZADD", "z", "1", "a", "2", "b", "3", "c", "3", "cc", "3", "ca", "-1.5", "neg", "+inf", "top",
        "-inf", "bottom", "1e3", "k", "0.1", "tenth", "-0", "zero"]]
LEX = [["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "foo", "0", "bar", "0", "zap",
        "0", "", "0", BIN, "0", "A"]]


@test
def zadd_flags_and_errors():
    both([
        ["ZADD", "z", "1", "a"], ["ZADD", "z", "NX", "2", "a", "3", "b"], ["ZSCORE", "z", "a"],
        ["ZADD", "z", "XX", "5", "a", "5", "nope"], ["ZSCORE", "z", "a"], ["ZSCORE", "z", "nope"],
        ["ZADD", "z", "CH", "5", "a", "6", "b", "7", "c"], ["ZADD", "z", "GT", "CH", "4", "a", "10", "b"],
        ["ZADD", "z", "LT", "CH", "4", "a", "100", "b"], ["ZADD", "z", "XX", "GT", "1", "a"],
        ["ZADD", "z", "XX", "LT", "1", "a"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        ["ZADD", "z", "INCR", "2.5", "a"], ["ZADD", "z", "INCR", "NX", "2.5", "a"],
        ["ZADD", "z", "INCR", "XX", "1", "missing"], ["ZADD", "z", "INCR", "GT", "-1", "a"],
        ["ZADD", "z", "NX", "XX", "1", "a"], ["ZADD", "z", "NX", "GT", "1", "a"], ["ZADD", "z", "GT", "LT", "1", "a"],
        ["ZADD", "z", "NX", "LT", "1", "a"],
        ["ZADD", "z", "INCR", "1", "a", "2", "b"], ["ZADD", "z", "1"], ["ZADD", "z", "1", "a", "2"],
        ["ZADD", "z", "x", "a"], ["ZADD", "z", "nan", "a"], ["ZADD", "z", "1", "a", "bad", "b"],
        ["ZADD", "z"], ["ZADD", "z", "CH"], ["ZADD", "z", "NX", "XX"],
        ["ZADD", "newkey", "XX", "1", "a"], ["EXISTS", "newkey"], ["ZADD", "newkey", "XX", "INCR", "1", "a"],
        ["ZADD", "z", "inf", "i"], ["ZADD", "z", "INCR", "-inf", "i"], ["ZSCORE", "z", "i"],
        ["ZINCRBY", "z", "-inf", "i"], ["ZADD", "z", "1e308", "big"], ["ZINCRBY", "z", "1e308", "big"],
        ["ZADD", "z", "0x10", "hex"], ["ZSCORE", "z", "hex"], ["ZADD", "z", " 1", "sp"],
        ["ZADD", "z", "1.5e-3", "e"], ["ZADD", "z", "-0", "negz"], ["ZSCORE", "z", "negz"],
        ["ZINCRBY", "z", "-0", "negz2"], ["ZSCORE", "z", "negz2"], ["ZINCRBY", "z", "0", "negz"],
        ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        ["SET", "s", "x"], ["ZADD", "s", "1", "a"], ["ZADD", "s", "x", "a"], ["ZADD", "s", "XX", "NX", "1", "a"],
        ["ZINCRBY", "s", "1", "a"], ["ZINCRBY", "z", "x", "a"], ["ZINCRBY", "z", "nx", "a"],
        ["ZINCRBY", "z", "1"], ["ZINCRBY", "nokey", "1.5", "m"], ["ZINCRBY", "nokey", "1.1", "m"],
        ["ZADD", "z", "1", BIN, "2", LONG1, "2", LONG2, "2", LONG3], ["ZSCORE", "z", LONG1], ["ZRANGE", "z", "-5", "-1"],
        ["ZCARD", "z"], ["ZCARD", "nokey"], ["ZCARD", "s"],
    ])


@test
def zrem_zscore_zmscore():
    both(POP + [
        ["ZREM", "z", "a", "nope", "a", "b"], ["ZREM", "nokey", "a"], ["ZCARD", "z"],
        ["ZMSCORE", "z", "c", "nope", "top", "bottom", "neg", "tenth", "zero"], ["ZMSCORE", "nokey", "a", "b"],
        ["ZSCORE", "z", "k"], ["ZSCORE", "nokey", "k"], ["ZMSCORE", "z"],
        ["ZADD", "t", "1", "x", "2", "y"], ["ZREM", "t", "x", "y", "z"], ["EXISTS", "t"],
        ["SET", "s", "1"], ["ZREM", "s", "a"], ["ZSCORE", "s", "a"], ["ZMSCORE", "s", "a"],
    ])


@test
def zrange_by_rank():
    both(POP + [
        ["ZRANGE", "z", "0", "-1"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["ZRANGE", "z", "2", "4"],
        ["ZRANGE", "z", "-3", "-1", "WITHSCORES"], ["ZRANGE", "z", "-100", "100"], ["ZRANGE", "z", "5", "2"],
        ["ZRANGE", "z", "20", "30"], ["ZRANGE", "z", "0", "0", "REV"], ["ZRANGE", "z", "1", "3", "REV", "WITHSCORES"],
        ["ZREVRANGE", "z", "0", "-1", "WITHSCORES"], ["ZREVRANGE", "z", "-2", "-1"], ["ZREVRANGE", "z", "0", "x"],
        ["ZRANGE", "z", "a", "1"], ["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"], ["ZRANGE", "z", "0", "1", "BOGUS"],
        ["ZRANGE", "z", "0", "1", "REV", "REV"], ["ZRANGE", "nokey", "0", "-1"], ["ZREVRANGE", "z", "0", "1", "WITHSCORES", "x"],
        ["ZRANGE", "z", "0", "-1", "withscores", "withscores"],
        ["SET", "s", "1"], ["ZRANGE", "s", "0", "-1"], ["ZRANGE", "z", "9223372036854775807", "-9223372036854775808"],
    ])


@test
def zrange_by_score():
    both(POP + [
        ["ZRANGEBYSCORE", "z", "-inf", "+inf"], ["ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"],
        ["ZRANGEBYSCORE", "z", "1", "3"], ["ZRANGEBYSCORE", "z", "(1", "3"], ["ZRANGEBYSCORE", "z", "(1", "(3"],
        ["ZRANGEBYSCORE", "z", "3", "3"], ["ZRANGEBYSCORE", "z", "(3", "3"], ["ZRANGEBYSCORE", "z", "5", "1"],
        ["ZRANGEBYSCORE", "z", "inf", "inf"], ["ZRANGEBYSCORE", "z", "-inf", "-inf", "WITHSCORES"],
        ["ZRANGEBYSCORE", "z", "(-inf", "(inf"], ["ZRANGEBYSCORE", "z", "-1e10", "1e10", "LIMIT", "2", "3"],
        ["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "0", "-1"], ["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "100", "2"],
        ["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "-1", "2"], ["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "3", "0"],
        ["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "10", "5", "WITHSCORES"],
        ["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "11", "5"], ["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "12", "5"],
        ["ZREVRANGEBYSCORE", "z", "+inf", "-inf"], ["ZREVRANGEBYSCORE", "z", "3", "1", "WITHSCORES"],
        ["ZREVRANGEBYSCORE", "z", "(3", "(1"], ["ZREVRANGEBYSCORE", "z", "1", "3"], ["ZREVRANGEBYSCORE", "z", "3", "3"],
        ["ZREVRANGEBYSCORE", "z", "inf", "-inf", "LIMIT", "1", "3", "WITHSCORES"],
        ["ZRANGE", "z", "1", "3", "BYSCORE"], ["ZRANGE", "z", "3", "1", "BYSCORE", "REV", "WITHSCORES"],
        ["ZRANGE", "z", "(1", "+inf", "BYSCORE", "LIMIT", "1", "2"], ["ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "LIMIT", "1", "2"],
        ["ZRANGEBYSCORE", "z", "x", "1"], ["ZRANGEBYSCORE", "z", "1", "(x"], ["ZRANGEBYSCORE", "z", "nan", "1"],
        ["ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "x", "1"], ["ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "1"],
        ["ZRANGEBYSCORE", "z", "", "0"], ["ZRANGEBYSCORE", "z", "(", "5"], ["ZRANGEBYSCORE", "z", "0x1", "0x3"],
        ["ZRANGEBYSCORE", "z", "1", "3", "BYSCORE"], ["ZRANGEBYSCORE", "nokey", "1", "2"],
        ["ZRANGEBYSCORE", "z", "-0", "0", "WITHSCORES"], ["ZRANGEBYSCORE", "z", "(-0", "0"],
        ["ZRANGEBYSCORE", "z", " 1", "3"], ["ZRANGEBYSCORE", "z", "1 ", "3"],
    ])


@test
def zrange_by_lex():
    both(LEX + [
        ["ZRANGEBYLEX", "l", "-", "+"], ["ZRANGEBYLEX", "l", "[a", "[c"], ["ZRANGEBYLEX", "l", "(a", "(c"],
        ["ZRANGEBYLEX", "l", "[b", "+"], ["ZRANGEBYLEX", "l", "-", "(foo"], ["ZRANGEBYLEX", "l", "[foo", "[foo"],
        ["ZRANGEBYLEX", "l", "(foo", "[foo"], ["ZRANGEBYLEX", "l", "[z", "[a"], ["ZRANGEBYLEX", "l", "+", "-"],
        ["ZRANGEBYLEX", "l", "-", "-"], ["ZRANGEBYLEX", "l", "+", "+"], ["ZRANGEBYLEX", "l", "[", "[b"],
        ["ZRANGEBYLEX", "l", "(", "+"], ["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "2", "3"],
        ["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "20", "3"], ["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "0", "-5"],
        ["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "-1", "3"], ["ZREVRANGEBYLEX", "l", "+", "-"],
        ["ZREVRANGEBYLEX", "l", "[e", "(b"], ["ZREVRANGEBYLEX", "l", "+", "-", "LIMIT", "1", "2"],
        ["ZREVRANGEBYLEX", "l", "-", "+"], ["ZRANGE", "l", "[b", "[e", "BYLEX"], ["ZRANGE", "l", "[e", "[b", "BYLEX", "REV"],
        ["ZRANGE", "l", "-", "+", "BYLEX", "LIMIT", "3", "2"], ["ZRANGE", "l", "-", "+", "BYLEX", "WITHSCORES"],
        ["ZRANGEBYLEX", "l", "a", "[c"], ["ZRANGEBYLEX", "l", "[a", "c"], ["ZRANGEBYLEX", "l", "", "+"],
        ["ZRANGEBYLEX", "l", "-x", "+"], ["ZRANGEBYLEX", "l", "-", "+x"], ["ZRANGEBYLEX", "l", "1", "2"],
        ["ZRANGEBYLEX", "nokey", "-", "+"], ["ZRANGEBYLEX", "l", "[" + "\x00", "+"],
        ["ZRANGEBYLEX", "l", b"[" + BIN, b"(" + BIN + b"x"], ["ZRANGEBYLEX", "l", "-", "+", "WITHSCORES"],
        ["ZLEXCOUNT", "l", "-", "+"], ["ZLEXCOUNT", "l", "[b", "[foo"], ["ZLEXCOUNT", "l", "(b", "(foo"],
        ["ZLEXCOUNT", "l", "+", "-"], ["ZLEXCOUNT", "l", "[z", "[a"], ["ZLEXCOUNT", "l", "x", "+"],
        ["ZLEXCOUNT", "nokey", "-", "+"], ["ZLEXCOUNT", "l", "[a", "[a"], ["ZLEXCOUNT", "l", "(a", "[a"],
        ["ZREMRANGEBYLEX", "l", "[b", "(e"], ["ZRANGE", "l", "0", "-1"], ["ZREMRANGEBYLEX", "l", "x", "+"],
        ["ZREMRANGEBYLEX", "l", "+", "-"], ["ZREMRANGEBYLEX", "l", "-", "+"], ["EXISTS", "l"],
        ["ZADD", "m", "0", LONG1, "0", LONG2, "0", LONG3, "0", "L"], ["ZRANGEBYLEX", "m", "-", "+"],
        ["ZRANGEBYLEX", "m", b"[" + LONG1, "+"], ["ZRANGEBYLEX", "m", b"(" + LONG1, "+"],
        ["ZREVRANGEBYLEX", "m", b"[" + LONG2, "-"], ["ZLEXCOUNT", "m", b"(" + LONG3, b"[" + LONG2],
    ])


@test
def zcount_zrank():
    both(POP + [
        ["ZCOUNT", "z", "-inf", "+inf"], ["ZCOUNT", "z", "1", "3"], ["ZCOUNT", "z", "(1", "3"], ["ZCOUNT", "z", "(1", "(3"],
        ["ZCOUNT", "z", "3", "1"], ["ZCOUNT", "z", "3", "3"], ["ZCOUNT", "z", "(3", "3"], ["ZCOUNT", "z", "inf", "inf"],
        ["ZCOUNT", "z", "-inf", "-inf"], ["ZCOUNT", "z", "-1", "0.5"], ["ZCOUNT", "z", "x", "1"], ["ZCOUNT", "nokey", "1", "2"],
        ["ZCOUNT", "z", "1000", "1000"], ["ZCOUNT", "z", "(-inf", "(inf"], ["ZCOUNT", "z", "0", "0"],
        ["ZRANK", "z", "bottom"], ["ZRANK", "z", "top"], ["ZRANK", "z", "c"], ["ZRANK", "z", "ca"], ["ZRANK", "z", "cc"],
        ["ZRANK", "z", "nope"], ["ZRANK", "nokey", "a"], ["ZREVRANK", "z", "bottom"], ["ZREVRANK", "z", "top"],
        ["ZREVRANK", "z", "cc"], ["ZREVRANK", "z", "nope"], ["ZRANK", "z", "zero"], ["ZRANK", "z", "tenth"],
        ["SET", "s", "1"], ["ZRANK", "s", "a"], ["ZCOUNT", "s", "1", "2"], ["ZLEXCOUNT", "s", "-", "+"],
    ])


@test
def zremrange():
    both(POP + [
        ["ZREMRANGEBYRANK", "z", "0", "1"], ["ZRANGE", "z", "0", "-1"], ["ZREMRANGEBYRANK", "z", "-2", "-1"],
        ["ZRANGE", "z", "0", "-1"], ["ZREMRANGEBYRANK", "z", "5", "1"], ["ZREMRANGEBYRANK", "z", "100", "200"],
        ["ZREMRANGEBYRANK", "z", "x", "1"], ["ZREMRANGEBYSCORE", "z", "(1", "3"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        ["ZREMRANGEBYSCORE", "z", "x", "3"], ["ZREMRANGEBYSCORE", "z", "5", "1"], ["ZREMRANGEBYSCORE", "nokey", "1", "2"],
        ["ZREMRANGEBYSCORE", "z", "-inf", "+inf"], ["EXISTS", "z"],
    ] + POP + [
        ["ZREMRANGEBYRANK", "z", "0", "-1"], ["EXISTS", "z"], ["ZREMRANGEBYRANK", "nokey", "0", "-1"],
        ["ZADD", "y", "1", "a", "2", "b", "3", "c", "4", "d"], ["ZREMRANGEBYRANK", "y", "1", "-2"], ["ZRANGE", "y", "0", "-1"],
        ["ZREMRANGEBYRANK", "y", "-100", "0"], ["ZRANGE", "y", "0", "-1"], ["ZREMRANGEBYSCORE", "y", "4", "4"], ["EXISTS", "y"],
        ["SET", "s", "1"], ["ZREMRANGEBYRANK", "s", "0", "1"], ["ZREMRANGEBYSCORE", "s", "0", "1"],
        ["ZREMRANGEBYLEX", "s", "-", "+"],
    ])


@test
def zpop_and_zmpop():
    both(POP + [
        ["ZPOPMIN", "z"], ["ZPOPMAX", "z"], ["ZPOPMIN", "z", "2"], ["ZPOPMAX", "z", "3"], ["ZPOPMIN", "z", "0"],
        ["ZPOPMIN", "z", "-1"], ["ZPOPMIN", "z", "x"], ["ZPOPMIN", "z", "1", "2"], ["ZPOPMIN", "nokey"],
        ["ZPOPMIN", "nokey", "3"], ["ZPOPMAX", "z", "100"], ["EXISTS", "z"],
    ] + POP + [
        ["ZMPOP", "1", "z", "MIN"], ["ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "2"], ["ZMPOP", "1", "nokey", "MIN"],
        ["ZMPOP", "1", "z", "min", "count", "1000"], ["EXISTS", "z"], ["ZMPOP", "0", "z", "MIN"], ["ZMPOP", "-1", "z", "MIN"],
        ["ZMPOP", "x", "z", "MIN"], ["ZMPOP", "1", "z", "MIDDLE"], ["ZMPOP", "2", "z", "MIN"], ["ZMPOP", "1", "z", "MIN", "COUNT"],
        ["ZMPOP", "1", "z", "MIN", "COUNT", "0"], ["ZMPOP", "1", "z", "MIN", "COUNT", "-1"], ["ZMPOP", "1", "z", "MIN", "COUNT", "x"],
        ["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"], ["ZMPOP", "1", "z", "MIN", "FOO"],
        ["SET", "s", "1"], ["ZPOPMIN", "s"], ["ZMPOP", "2", "nokey", "s", "MIN"], ["ZMPOP", "2", "s", "nokey", "MIN"],
        ["ZADD", "q", "1", "a"], ["ZMPOP", "2", "q", "s", "MIN"],
        # blocking forms that do not block (data present, or timeout errors)
        ["ZADD", "b", "1", "x", "2", "y", "3", "z"], ["BZPOPMIN", "nokey", "b", "0"], ["BZPOPMAX", "b", "0.01"],
        ["BZMPOP", "0", "2", "nokey", "b", "MIN", "COUNT", "5"], ["BZPOPMIN", "b", "-1"], ["BZPOPMIN", "b", "x"],
        ["BZMPOP", "x", "1", "b", "MIN"], ["BZMPOP", "0", "0", "b", "MIN"], ["BZPOPMIN", "s", "0"],
        # inside MULTI the blocking forms never block: nothing to pop answers as on timeout
        ["MULTI"], ["BZPOPMIN", "nokey", "0"], ["BZMPOP", "0", "1", "nokey", "MAX"], ["ZADD", "q2", "1", "a", "2", "b"],
        ["BZPOPMAX", "q2", "0"], ["BZMPOP", "0", "1", "q2", "MIN", "COUNT", "5"], ["EXEC"], ["EXISTS", "q2"],
        # WATCH: a change aborts EXEC, a no-op write does not
        ["ZADD", "w", "1", "a"], ["WATCH", "w"], ["ZADD", "w", "1", "a"], ["ZREM", "w", "nope"], ["ZINCRBY", "w", "0", "a"],
        ["MULTI"], ["ZCARD", "w"], ["EXEC"],
        ["WATCH", "w"], ["ZADD", "w", "2", "a"], ["MULTI"], ["ZCARD", "w"], ["EXEC"],
        ["WATCH", "w"], ["ZUNIONSTORE", "w", "1", "q"], ["MULTI"], ["ZCARD", "w"], ["EXEC"],
        ["WATCH", "w"], ["ZPOPMIN", "w"], ["MULTI"], ["ZCARD", "w"], ["EXEC"], ["EXISTS", "w"],
    ])


@test
def zrangestore():
    both(POP + [
        ["ZRANGESTORE", "d", "z", "0", "2"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        ["ZRANGESTORE", "d", "z", "1", "3", "BYSCORE", "LIMIT", "1", "2"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        ["ZRANGESTORE", "d", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "3"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        ["ZRANGESTORE", "d", "z", "5", "1"], ["EXISTS", "d"], ["ZRANGESTORE", "d", "nokey", "0", "-1"],
        ["ZRANGESTORE", "z", "z", "0", "1"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        ["ZRANGESTORE", "d", "z", "0", "1", "WITHSCORES"], ["ZRANGESTORE", "d", "z", "x", "1"],
        ["SET", "str", "v"], ["ZRANGESTORE", "str", "z", "0", "-1"], ["TYPE", "str"], ["ZRANGESTORE", "d", "str", "0", "1"],
        ["ZADD", "lx", "0", "a", "0", "b", "0", "c"], ["ZRANGESTORE", "d", "lx", "[b", "+", "BYLEX"], ["ZRANGE", "d", "0", "-1"],
        ["SET", "e", "v", "EX", "1000"], ["ZRANGESTORE", "e", "lx", "0", "0"], ["TTL", "e"],
    ])


@test
def zunion_zinter_zdiff():
    setup = [["ZADD", "a", "1", "x", "2", "y", "3", "z"], ["ZADD", "b", "10", "y", "20", "z", "30", "w"],
             ["ZADD", "c", "inf", "x", "-inf", "y", "5", "z"], ["ZADD", "t1", "0", "m", "0", "n"]]
    both([
        ["ZUNION", "2", "a", "b"], ["ZUNION", "2", "a", "b", "WITHSCORES"], ["ZINTER", "2", "a", "b", "WITHSCORES"],
        ["ZDIFF", "2", "a", "b", "WITHSCORES"], ["ZDIFF", "2", "b", "a"], ["ZDIFF", "1", "a"], ["ZDIFF", "2", "a", "a"],
        ["ZUNION", "3", "a", "b", "c", "WITHSCORES"], ["ZINTER", "3", "a", "b", "c", "WITHSCORES"],
        ["ZUNION", "2", "a", "c", "WEIGHTS", "2", "0", "WITHSCORES"], ["ZINTER", "2", "a", "c", "WEIGHTS", "0", "1", "WITHSCORES"],
        ["ZUNION", "2", "c", "c", "WEIGHTS", "1", "-1", "WITHSCORES"], ["ZINTER", "2", "c", "c", "WITHSCORES"],
        ["ZUNION", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"], ["ZUNION", "2", "a", "b", "AGGREGATE", "max", "WITHSCORES"],
        ["ZINTER", "2", "a", "c", "AGGREGATE", "MAX", "WITHSCORES"], ["ZINTER", "2", "a", "c", "AGGREGATE", "MIN", "WITHSCORES"],
        ["ZUNION", "2", "a", "b", "WEIGHTS", "1.5", "-2", "AGGREGATE", "SUM", "WITHSCORES"],
        ["ZUNION", "2", "a", "nokey", "WITHSCORES"], ["ZINTER", "2", "a", "nokey"], ["ZDIFF", "2", "nokey", "a"],
        ["ZUNION", "0", "a"], ["ZUNION", "-1", "a"], ["ZUNION", "x", "a"], ["ZUNION", "3", "a", "b"],
        ["ZUNION", "2", "a", "b", "WEIGHTS", "1"], ["ZUNION", "2", "a", "b", "WEIGHTS", "1", "x"],
        ["ZUNION", "2", "a", "b", "AGGREGATE", "AVG"], ["ZUNION", "2", "a", "b", "AGGREGATE"], ["ZUNION", "2", "a", "b", "FOO"],
        ["ZDIFF", "2", "a", "b", "WEIGHTS", "1", "2"], ["ZDIFF", "2", "a", "b", "AGGREGATE", "MIN"],
        ["ZINTER", "2", "a", "b", "WITHSCORES", "WITHSCORES"],
        ["ZUNIONSTORE", "d", "2", "a", "b"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        ["ZUNIONSTORE", "d", "2", "a", "b", "WITHSCORES"], ["ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "2", "3"],
        ["ZRANGE", "d", "0", "-1", "WITHSCORES"], ["ZINTERSTORE", "d", "2", "a", "t1"], ["EXISTS", "d"],
        ["ZDIFFSTORE", "d", "2", "b", "a"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"], ["ZDIFFSTORE", "d", "1", "nokey"],
        ["EXISTS", "d"], ["ZUNIONSTORE", "a", "2", "a", "b", "AGGREGATE", "MAX"], ["ZRANGE", "a", "0", "-1", "WITHSCORES"],
        ["ZINTERSTORE", "d", "0", "a"], ["ZUNIONSTORE", "d", "3", "a"], ["ZINTERSTORE", "d", "2", "a", "c", "AGGREGATE", "SUM"],
        ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        ["ZINTERCARD", "2", "a", "b"], ["ZINTERCARD", "2", "a", "b", "LIMIT", "1"], ["ZINTERCARD", "2", "a", "b", "LIMIT", "0"],
        ["ZINTERCARD", "2", "a", "b", "LIMIT", "-1"], ["ZINTERCARD", "2", "a", "b", "LIMIT", "x"], ["ZINTERCARD", "0", "a"],
        ["ZINTERCARD", "1", "nokey"], ["ZINTERCARD", "2", "a", "b", "WITHSCORES"], ["ZINTERCARD", "3", "a", "b"],
        ["SET", "s", "v"], ["ZUNION", "2", "a", "s"], ["ZINTER", "2", "nokey", "s"], ["ZUNIONSTORE", "d", "1", "s"],
        ["ZDIFF", "2", "s", "a"], ["ZINTERCARD", "1", "s"],
        ["SET", "ttl", "v", "EX", "1000"], ["ZUNIONSTORE", "ttl", "1", "a"], ["TTL", "ttl"], ["TYPE", "ttl"],
    ], setup=setup)


@test
def set_inputs():
    # plain sets count with score 1 (needs SADD)
    p = get_pair()
    c = Conn(port=p.cairn.port)
    r = c.call("SADD", "probe", "x")
    c.close()
    assert_true(isinstance(r, int), "SADD is missing from this build: %r" % (r,))
    setup = [["SADD", "s1", "x", "y", "q"], ["ZADD", "a", "1", "x", "2", "y", "3", "z"]]
    both([
        ["ZUNION", "2", "a", "s1", "WITHSCORES"], ["ZINTER", "2", "s1", "a", "WITHSCORES"],
        ["ZDIFF", "2", "s1", "a", "WITHSCORES"], ["ZUNION", "1", "s1", "WEIGHTS", "inf", "WITHSCORES"],
        ["ZINTERSTORE", "d", "2", "s1", "a", "WEIGHTS", "3", "1"], ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        ["ZINTERCARD", "2", "s1", "a"], ["ZRANGE", "s1", "0", "-1"],
    ], setup=setup)


@test
def zscan_and_random():
    both(POP + [
        SCAN("ZSCAN", "z", "0"), SCAN("ZSCAN", "z", "0", "COUNT", "2"), SCAN("ZSCAN", "z", "0", "MATCH", "c*"),
        SCAN("ZSCAN", "z", "0", "MATCH", "*", "COUNT", "1"), ["ZSCAN", "nokey", "0"], ["ZSCAN", "z", "x"],
        ["ZSCAN", "z", "0", "COUNT", "0"], ["ZSCAN", "z", "0", "COUNT", "x"], ["ZSCAN", "z", "0", "FOO", "1"],
        ["ZSCAN", "z", "-1", "MATCH"], ["SET", "s", "v"], ["ZSCAN", "s", "0"],
        (["ZRANDMEMBER", "z"], lambda v: isinstance(v, bytes)), ["ZRANDMEMBER", "nokey"],
        (["ZRANDMEMBER", "z", "5"], lambda v: len(v)), SET("ZRANDMEMBER", "z", "100"),
        SET("ZRANDMEMBER", "z", "100", "WITHSCORES"), (["ZRANDMEMBER", "z", "-30"], lambda v: len(v)),
        (["ZRANDMEMBER", "z", "-3", "WITHSCORES"], lambda v: (len(v), type(v[0]).__name__)),
        ["ZRANDMEMBER", "z", "0"], ["ZRANDMEMBER", "nokey", "5"], ["ZRANDMEMBER", "z", "1", "FOO"],
        ["ZRANDMEMBER", "z", "x"], ["ZRANDMEMBER", "z", "1", "WITHSCORES", "x"],
        ["ZRANDMEMBER", "z", "-9223372036854775808"], ["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"],
        ["ZRANDMEMBER", "s"], ["ZRANDMEMBER", "s", "1"],
    ])


@test
def arity_errors():
    both([
        ["ZADD", "z"], ["ZINCRBY", "z", "1"], ["ZREM", "z"], ["ZSCORE", "z"], ["ZMSCORE", "z"], ["ZCARD"],
        ["ZCOUNT", "z", "1"], ["ZLEXCOUNT", "z", "-"], ["ZRANK", "z"], ["ZREVRANK", "z"], ["ZRANGE", "z", "0"],
        ["ZRANGESTORE", "d", "z", "0"], ["ZRANGEBYSCORE", "z", "0"], ["ZREVRANGEBYLEX", "z", "+"],
        ["ZREMRANGEBYRANK", "z", "0"], ["ZPOPMIN"], ["BZPOPMIN", "z"], ["ZMPOP", "1", "z"], ["BZMPOP", "0", "1", "z"],
        ["ZRANDMEMBER"], ["ZUNION", "1"], ["ZUNIONSTORE", "d", "1"], ["ZINTERCARD", "1"], ["ZSCAN", "z"],
    ])


@test
def big_set_crosses_encodings():
    # 300 members: past Redis's listpack limit (128), so Redis uses its skiplist
    setup = [["ZADD", "big"] + [x for i in range(300) for x in (str((i * 37) % 101 - 50), "m%03d" % i)]]
    both([
        ["ZRANGE", "big", "0", "9", "WITHSCORES"], ["ZRANGE", "big", "140", "160"], ["ZREVRANGE", "big", "0", "5"],
        ["ZRANGE", "big", "-10", "-1", "REV"], ["ZRANK", "big", "m150"], ["ZREVRANK", "big", "m001"],
        ["ZCOUNT", "big", "-10", "10"], ["ZCOUNT", "big", "(-50", "50"], ["ZCOUNT", "big", "-50", "-50"],
        ["ZRANGEBYSCORE", "big", "0", "3", "LIMIT", "2", "5", "WITHSCORES"],
        ["ZREVRANGEBYSCORE", "big", "3", "0", "LIMIT", "2", "5"], ["ZRANGEBYSCORE", "big", "-inf", "inf", "LIMIT", "299", "5"],
        ["ZREMRANGEBYRANK", "big", "100", "109"], ["ZCARD", "big"], ["ZREMRANGEBYSCORE", "big", "40", "45"],
        ["ZRANGE", "big", "-20", "-1", "WITHSCORES"], ["ZPOPMIN", "big", "3"], ["ZPOPMAX", "big", "3"],
        ["ZINCRBY", "big", "1000", "m000"], ["ZRANGE", "big", "-1", "-1", "WITHSCORES"],
        SCAN("ZSCAN", "big", "0"), SCAN("ZSCAN", "big", "0", "MATCH", "m1*", "COUNT", "7"),
        ["ZUNIONSTORE", "u", "2", "big", "big", "WEIGHTS", "1", "0.5"], ["ZRANGE", "u", "0", "20", "WITHSCORES"],
        ["ZINTERCARD", "2", "big", "u"],
    ], setup=setup)


# ---------------------------------------------------------------------------
# Seeded random sequences (small sets: Redis keeps them in its listpack
# encoding, whose lex-range behaviour on mixed scores cairn follows)

KEYS = ["z1", "z2", "z3", "str", "st"]
MEMBERS = ["a", "b", "c", "d", "e", "aa", "ab", "", b"\x00x", b"\xffz", "zz", "m1", "m2"]
SCORES = ["0", "1", "-1", "2", "2.5", "-2.5", "inf", "-inf", "+inf", "1e3", "0.1", "-0", "3", "7", "1.1"]
BAD_SCORES = ["x", "nan", "1e400", "", "1 "]
RANGE_ITEMS = ["-inf", "+inf", "(1", "1", "(2.5", "0", "3", "(inf", "(-inf", "2", "-1", "(0"]
LEX_ITEMS = ["-", "+", "[a", "(a", "[b", "(c", "[", "(", "[zz", "(ab", "[m", "[d"]


def random_zset_commands(seed, n):
    import random
    rnd = random.Random(seed)
    out = []

    def key():
        return rnd.choice(KEYS) if rnd.random() < 0.93 else "nokey"

    def score():
        return rnd.choice(BAD_SCORES) if rnd.random() < 0.03 else rnd.choice(SCORES)

    def rng():
        return rnd.choice(RANGE_ITEMS) if rnd.random() < 0.97 else "x"

    def lex():
        return rnd.choice(LEX_ITEMS) if rnd.random() < 0.97 else "a"

    def limit():
        return ["LIMIT", str(rnd.randint(-1, 6)), str(rnd.randint(-1, 4))]

    for _ in range(n):
        r = rnd.random()
        k = key()
        if r < 0.22:
            flags = [f for f in ("NX", "XX", "GT", "LT", "CH", "INCR") if rnd.random() < 0.12]
            rnd.shuffle(flags)
            pairs = []
            for _ in range(1 if "INCR" in flags and rnd.random() < 0.9 else rnd.randint(1, 4)):
                pairs += [score(), rnd.choice(MEMBERS)]
            out.append(["ZADD", k] + flags + pairs)
        elif r < 0.27:
            out.append(["ZINCRBY", k, score(), rnd.choice(MEMBERS)])
        elif r < 0.31:
            out.append(["ZREM", k] + rnd.sample(MEMBERS, rnd.randint(1, 3)))
        elif r < 0.36:
            c = rnd.choice(["ZSCORE", "ZRANK", "ZREVRANK"])
            out.append([c, k, rnd.choice(MEMBERS)])
        elif r < 0.38:
            out.append(["ZMSCORE", k] + rnd.sample(MEMBERS, 3))
        elif r < 0.40:
            out.append(["ZCARD", k])
        elif r < 0.44:
            out.append(["ZCOUNT", k, rng(), rng()])
        elif r < 0.47:
            out.append(["ZLEXCOUNT", k, lex(), lex()])
        elif r < 0.57:
            kind = rnd.choice(["rank", "score", "lex"])
            if kind == "rank":
                args = [str(rnd.randint(-6, 6)), str(rnd.randint(-6, 6))]
            elif kind == "score":
                args = [rng(), rng(), "BYSCORE"]
            else:
                args = [lex(), lex(), "BYLEX"]
            if rnd.random() < 0.4:
                args.append("REV")
            if kind != "rank" and rnd.random() < 0.4:
                args += limit()
            if kind != "lex" and rnd.random() < 0.5:
                args.append("WITHSCORES")
            if rnd.random() < 0.2:
                out.append(["ZRANGESTORE", rnd.choice(KEYS), k] + [a for a in args if a != "WITHSCORES"])
            else:
                out.append(["ZRANGE", k] + args)
        elif r < 0.63:
            c = rnd.choice(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZREVRANGE"])
            if c == "ZREVRANGE":
                args = [str(rnd.randint(-6, 6)), str(rnd.randint(-6, 6))]
            elif "LEX" in c:
                args = [lex(), lex()]
            else:
                args = [rng(), rng()]
            if c != "ZREVRANGE" and rnd.random() < 0.4:
                args += limit()
            if "LEX" not in c and rnd.random() < 0.5:
                args.append("WITHSCORES")
            out.append([c, k] + args)
        elif r < 0.68:
            c = rnd.choice(["ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZREMRANGEBYLEX"])
            if c == "ZREMRANGEBYRANK":
                out.append([c, k, str(rnd.randint(-5, 5)), str(rnd.randint(-5, 5))])
            elif c == "ZREMRANGEBYSCORE":
                out.append([c, k, rng(), rng()])
            else:
                out.append([c, k, lex(), lex()])
        elif r < 0.73:
            c = rnd.choice(["ZPOPMIN", "ZPOPMAX"])
            out.append([c, k] + ([str(rnd.randint(-1, 4))] if rnd.random() < 0.5 else []))
        elif r < 0.76:
            ks = rnd.sample(KEYS + ["nokey"], rnd.randint(1, 3))
            extra = ["COUNT", str(rnd.randint(0, 4))] if rnd.random() < 0.5 else []
            out.append(["ZMPOP", str(len(ks))] + ks + [rnd.choice(["MIN", "MAX", "max"])] + extra)
        elif r < 0.90:
            op = rnd.choice(["ZUNION", "ZINTER", "ZDIFF", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZINTERCARD"])
            ks = [rnd.choice(KEYS + ["nokey"]) for _ in range(rnd.randint(1, 3))]
            args = [str(len(ks))] + ks
            if op not in ("ZDIFF", "ZDIFFSTORE", "ZINTERCARD"):
                if rnd.random() < 0.4:
                    args += ["WEIGHTS"] + [rnd.choice(["1", "0", "-1", "2.5", "inf", "-inf", "0.5"]) for _ in ks]
                if rnd.random() < 0.4:
                    args += ["AGGREGATE", rnd.choice(["SUM", "MIN", "MAX", "min"])]
            if op == "ZINTERCARD" and rnd.random() < 0.5:
                args += ["LIMIT", str(rnd.randint(0, 3))]
            if op in ("ZUNION", "ZINTER", "ZDIFF") and rnd.random() < 0.6:
                args.append("WITHSCORES")
            if op.endswith("STORE"):
                args = [rnd.choice(KEYS)] + args
            out.append([op] + args)
        elif r < 0.93:
            out.append((["ZSCAN", k, "0"] + (["MATCH", rnd.choice(["a*", "*", "m?"])] if rnd.random() < 0.5 else [])
                        + (["COUNT", str(rnd.randint(1, 5))] if rnd.random() < 0.5 else []), "scan_all"))
        elif r < 0.95:
            out.append(["DEL", k])
        elif r < 0.97:
            out.append((["ZRANDMEMBER", k] + ([str(rnd.randint(-3, 20))] if rnd.random() < 0.7 else []),
                        lambda v: len(v) if isinstance(v, list) else type(v).__name__))
        else:
            out.append(["ZRANGE", k, "0", "-1", "WITHSCORES"])
    return out


def _random(seed, n=2000, resp=2):
    compare(random_zset_commands(seed, n), resp=resp, setup=[["SET", "str", "v"], ["SADD", "st", "a", "b", "zz", "m1", ""]],
            name="random seed %d" % seed)


@test
def random_seed_1():
    _random(1)


@test
def random_seed_2():
    _random(2)


@test
def random_seed_3():
    _random(3)


@test
def random_resp3_seed_4():
    _random(4, 1500, resp=3)


if __name__ == "__main__":
    run_tests()
