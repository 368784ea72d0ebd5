"""Differential tests over all collection types (issue 5), cairn vs
redis-server 7.0: seeded random commands over hashes, lists, sets, sorted
sets, generic commands and MULTI/EXEC blocks on small key spaces (wrong types,
empty and huge collections, binary and long members, inf/negative scores,
lex ranges), every reply compared (see differential.py for the generators and
the normalisers used for unordered / random replies).

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_types.py [name...]
    CAIRN_SERVER=/usr/bin/redis-server python3 tests/integration/test_differential_types.py   # self-check
    CAIRN_DIFF_FAMILIES=hash,set ...     # only these generator families, no MULTI blocks
More seeds: tests/bench/differential_long.sh.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests, assert_true  # noqa: E402
from differential import compare, COLLECTION_FAMILIES  # noqa: E402

# The generator families this script runs, and "multi": MULTI/EXEC blocks
# inside every family (without it the blocks are left out of the streams,
# the other commands stay the same).
FAMILIES = [f for f in os.environ.get("CAIRN_DIFF_FAMILIES",
                                      "hash,list,set,zset,mixed,multi").split(",") if f]
MULTI = "multi" in FAMILIES

# (family, seed, commands, resp)
PLAN = [
    ("hash", 1, 1500, 2), ("hash", 2, 1500, 2), ("hash", 3, 700, 3),
    ("list", 1, 1500, 2), ("list", 2, 1500, 2), ("list", 3, 700, 3),
    ("set", 1, 1500, 2), ("set", 2, 1500, 2), ("set", 3, 700, 3),
    ("zset", 1, 2000, 2), ("zset", 2, 2000, 2), ("zset", 3, 1000, 3),
    ("mixed", 1, 1500, 2), ("mixed", 2, 1500, 2), ("mixed", 3, 1500, 2), ("mixed", 4, 1000, 3),
]
MIN_TOTAL = 20000


def _register(family, seed, n, resp):
    name = "random_%s_seed_%d%s" % (family, seed, "_resp3" if resp == 3 else "")

    @test(name=name, timeout=600)
    def _run():
        cmds = COLLECTION_FAMILIES[family](seed, n, multi=MULTI)
        got = compare(cmds, resp=resp, name="%s seed=%d resp=%d" % (family, seed, resp))
        assert_true(got >= n, "only %d commands compared" % got)


# ---------------------------------------------------------------------------
# Hand-written regression cases: minimal sequences of mismatches the random
# runs found against cairn (each runs only when the families it needs are in
# FAMILIES), and edge cases the random generator reaches only rarely.
# ---------------------------------------------------------------------------

LONG = "L" * 100          # a member > 64 bytes: Redis uses the big encodings


def case(*needs):
    def reg(fn):
        if all(n in FAMILIES for n in needs):
            test(fn)
        return fn
    return reg


def P(*args):
    return (list(args), "pairs")


def SET_(*args):
    return (list(args), "set")


@case("hash")
def regression_copy_replace_keeps_source_hash():
    # COPY h1 dst; COPY h2 dst REPLACE emptied h1 (fields gone, HRANDFIELD
    # answered "-ERR store error: ")
    compare([["HMSET", "h1", "f1", "v1", "f2", "v2"], ["HSET", "h2", "a", "b"],
             ["COPY", "h1", "dst", "REPLACE"], ["COPY", "h2", "dst", "REPLACE"],
             ["HEXISTS", "h1", "f1"], P("HGETALL", "h1"), ["HLEN", "h1"], ["HSET", "h1", "f1", "x", "f3", "y"],
             (["HRANDFIELD", "h1"], "type"), P("HGETALL", "dst"), ["HGET", "h1", "f2"]])


@case("hash")
def regression_rename_hash():
    # RENAME h0 str kept only one field of h0 under str
    compare([["HSET", "h0", "d", "42", "bar", "1.5", "", "9223372036854775807"], ["RENAME", "h0", "str"],
             ["HINCRBY", "str", "", "1"], P("HGETALL", "str"), ["HLEN", "str"], ["EXISTS", "h0"],
             ["HSET", "x", "a", "1"], ["RENAMENX", "x", "y"], P("HGETALL", "y"), ["MOVE", "y", "1"],
             ["SELECT", "1"], P("HGETALL", "y"), ["HLEN", "y"]])


@case("list")
def regression_copy_then_pop_list():
    # the source list shared its entries with the copy: LPOP on the copy left
    # the source's header stale and LRANGE on the source never answered
    compare([["LPUSH", "dst", "36", "6", "-29"], ["LMOVE", "dst", "src", "left", "RIGHT"],
             ["COPY", "src", "l0", "REPLACE"], ["LPOP", "l0"], ["LRANGE", "src", "0", "-1"], ["LLEN", "src"],
             ["RPUSH", "a", "1", "2", "3"], ["COPY", "a", "b"], ["RPOP", "b"], ["LPUSH", "b", "x"],
             ["LRANGE", "a", "0", "-1"], ["LRANGE", "b", "0", "-1"], ["DEL", "a"], ["LRANGE", "b", "0", "-1"]])


@case("list", "set", "zset")
def regression_copy_rename_collections():
    cmds = []
    for mk in (["RPUSH", "a", "1", "2", "3"], ["SADD", "a", "x", "y", "z"],
               ["ZADD", "a", "1", "x", "2", "y", "3", "z"], ["HSET", "a", "x", "1", "y", "2"]):
        cmds += [["FLUSHALL"], mk, ["SADD", "b", "q"], ["COPY", "a", "c"], ["COPY", "b", "c", "REPLACE"],
                 ["TYPE", "a"], ["SORT", "a", "ALPHA"], ["RENAME", "a", "d"], ["TYPE", "d"], ["SORT", "d", "ALPHA"],
                 ["COPY", "d", "e", "DB", "1"], ["DEL", "d"], ["SELECT", "1"], ["SORT", "e", "ALPHA"],
                 ["SELECT", "0"]]
    compare(cmds)


@case("list", "set")
def regression_sort_of_only_empty_elements():
    # found by tests/fuzz/fuzz_apply (clang's UBSan): with only empty
    # elements SORT's arena was never allocated and each item pointed at
    # NULL + 0; the replies were right, the pointer arithmetic undefined
    compare([["RPUSH", "l", "", ""], ["SORT", "l"], ["SORT", "l", "ALPHA"], ["SORT", "l", "BY", "nosort"],
             ["SORT", "l", "BY", "w_*", "GET", "#", "GET", "v_*"], ["SORT", "l", "ALPHA", "STORE", "dst"],
             ["LRANGE", "dst", "0", "-1"], ["SADD", "s", ""], ["SORT", "s", "DESC"]])


@case("zset")
def regression_zset_signed_zero():
    # Redis keeps -0 in its skiplist encoding (> 128 members, a member > 64
    # bytes, after SORT) but not in a listpack; cairn has one encoding and
    # keeps -0 only where a listpack would not lose it: ZUNION/ZINTER results.
    # The skiplist cases are a documented divergence (README), not checked.
    compare([["ZADD", "small", "-0", "a"], ["ZSCORE", "small", "a"], ["ZRANGE", "small", "0", "-1", "WITHSCORES"],
             ["ZADD", "z", "0", "a", "1", "b"], ["ZUNION", "1", "z", "WEIGHTS", "-1", "WITHSCORES"],
             ["ZINTER", "1", "z", "WEIGHTS", "-1", "WITHSCORES"], ["ZINCRBY", "new", "-0", "m"],
             ["ZSCORE", "new", "m"]])


@case("zset")
def regression_zset_signed_zero_resp3():
    compare([["ZADD", "big", "-0", "a", "1", LONG], ["ZRANGE", "big", "0", "-1", "WITHSCORES"],
             ["ZADD", "z", "0", "a", "1", "b"], ["ZUNION", "1", "z", "WEIGHTS", "-1", "WITHSCORES"],
             ["ZSCORE", "big", "a"]], resp=3)


@case("hash", "set", "zset")
def regression_scan_missing_key_skips_options():
    # a missing key answers an empty scan before the options are parsed
    compare([["HSCAN", "nokey", "0", "COUNT", "0"], ["SSCAN", "nokey", "0", "BOGUS"],
             ["ZSCAN", "nokey", "0", "COUNT", "0"], ["ZSCAN", "nokey", "x"],
             ["ZADD", "z", "1", "a"], ["ZSCAN", "z", "0", "COUNT", "0"], ["ZSCAN", "z", "0", "MATCH"],
             ["ZSCAN", "z", "0", "MATCH", "a", "COUNT", "100"], ["ZSCAN", "z", "0", "NOVALUES"]])


@case("list")
def regression_lpos_option_errors():
    # RANK -9223372036854775808 is accepted (nil / WRONGTYPE), COUNT and
    # MAXLEN that do not parse say "can't be negative"
    compare([["LPOS", "nokey", "a", "RANK", "-9223372036854775808"], ["RPUSH", "l", "a", "b", "a"],
             ["LPOS", "l", "a", "RANK", "-9223372036854775808"], ["LPOS", "l", "a", "RANK", "-9223372036854775807"],
             ["LPOS", "l", "a", "COUNT", "abc"], ["LPOS", "l", "a", "MAXLEN", "abc"],
             ["LPOS", "l", "a", "COUNT", "-1"], ["LPOS", "l", "a", "MAXLEN", "-1"],
             ["LPOS", "l", "a", "RANK", "abc"], ["LPOS", "l", "a", "RANK", "0"],
             ["LPOS", "l", "a", "COUNT", "-9223372036854775808"], ["LPOS", "l", "a", "RANK", "1.5"],
             ["SET", "s", "x"], ["LPOS", "s", "a", "RANK", "-9223372036854775808"],
             ["LPOS", "l", "a", "RANK", "-9223372036854775808", "COUNT", "abc", "MAXLEN", "0"]])


@case("list", "multi")
def regression_ltrim_noop_invalidates_watch():
    # Redis's LTRIM signals the key even when it removes nothing: the
    # transaction of a client WATCHing it fails (cairn ran it)
    compare([["RPUSH", "l1", "a", "b"], ["WATCH", "l1"], ["LTRIM", "l1", "0", "-1"], ["MULTI"], ["PING"],
             ["EXEC"], ["WATCH", "l1"], ["LTRIM", "l1", "-100", "9223372036854775807"], ["MULTI"],
             ["LLEN", "l1"], ["EXEC"], ["WATCH", "nokey"], ["LTRIM", "nokey", "0", "-1"], ["MULTI"], ["PING"],
             ["EXEC"]])


@case("list", "zset", "multi")
def regression_blocking_inside_multi():
    # blocking commands inside MULTI never block; an empty key gives their
    # null reply in its place in the EXEC array (also with timeout 0)
    compare([["MULTI"], ["RPOPLPUSH", "e", "x"], ["BLPOP", "e", "0"], ["BRPOPLPUSH", "e", "x", "0"],
             ["BLMOVE", "e", "x", "LEFT", "RIGHT", "0"], ["BZPOPMIN", "e", "0.01"], ["BZMPOP", "0", "1", "e", "MIN"],
             ["BLMPOP", "0", "1", "e", "LEFT"], ["LLEN", "e"], ["EXEC"],
             ["RPUSH", "l", "a"], ["MULTI"], ["BLPOP", "e", "l", "0"], ["BLPOP", "l", "0"], ["PING"], ["EXEC"]])
    compare([["MULTI"], ["BLPOP", "e", "0"], ["BZPOPMAX", "e", "0"], ["BLMOVE", "e", "x", "LEFT", "RIGHT", "0"],
             ["ECHO", "x"], ["EXEC"]], resp=3)


@case("hash", "list", "set", "zset", "multi")
def multi_exec_errors():
    compare([["MULTI"], ["HSET", "h", "a", "1"], ["LPUSH", "h", "x"], ["ZADD", "z", "nan", "m"], ["SADD", "s", "m"],
             ["EXEC"], ["MULTI"], ["HSET", "h"], ["SADD", "s", "n"], ["EXEC"], ["SISMEMBER", "s", "n"],
             ["MULTI"], ["FOOBAR"], ["EXEC"], ["EXEC"], ["DISCARD"], ["MULTI"], ["MULTI"], ["WATCH", "h"],
             ["ZADD", "z", "1", "m"], ["EXEC"], ["WATCH", "h", "z"], ["HSET", "h", "b", "2"], ["MULTI"],
             ["ZADD", "z", "2", "m"], ["EXEC"], ["ZSCORE", "z", "m"], ["WATCH", "s"], ["UNWATCH"],
             ["SADD", "s", "q"], ["MULTI"], ["SCARD", "s"], ["EXEC"]])


@case("hash", "list", "set", "zset")
def wrongtype_matrix():
    cmds = [["SET", "str", "v"], ["HSET", "h", "f", "v"], ["RPUSH", "l", "e"], ["SADD", "s", "m"],
            ["ZADD", "z", "1", "m"]]
    probes = [["HGET", "%", "f"], ["HSET", "%", "f", "v"], ["LPUSH", "%", "e"], ["LRANGE", "%", "0", "-1"],
              ["SADD", "%", "m"], ["SMEMBERS", "%"], ["ZADD", "%", "1", "m"], ["ZRANGE", "%", "0", "-1"],
              ["GET", "%"], ["APPEND", "%", "x"], ["SINTER", "s", "%"], ["ZUNION", "2", "z", "%"],
              ["SORT", "%"], ["TYPE", "%"], ["LPOS", "%", "e"], ["SMOVE", "s", "%", "m"],
              ["LMOVE", "l", "%", "LEFT", "LEFT"], ["ZRANGESTORE", "%", "z", "0", "-1"], ["TYPE", "%"]]
    for k in ("str", "h", "l", "s", "z"):
        for p in probes:
            cmds.append([k if a == "%" else a for a in p])
    compare(cmds)


@case("hash", "list", "set", "zset")
def huge_collections_ranges():
    n = 3000
    cmds = [["RPUSH", "l"] + ["e%d" % i for i in range(n)],
            ["SADD", "s"] + ["m%d" % i for i in range(n)],
            ["SADD", "is"] + [str(i) for i in range(n)],
            ["ZADD", "z"] + sum([[str(i % 97), "m%d" % i] for i in range(n)], []),
            ["ZADD", "lex"] + sum([["0", "x%05d" % i] for i in range(n)], []),
            ["HSET", "h"] + sum([["f%d" % i, "v%d" % i] for i in range(n)], [])]
    cmds += [["LRANGE", "l", "1000", "1010"], ["LINDEX", "l", "-1500"], ["LPOS", "l", "e2999"],
             ["LINSERT", "l", "BEFORE", "e1500", "new"], ["LINDEX", "l", "1500"], ["LREM", "l", "-1", "e17"],
             ["LTRIM", "l", "5", "-5"], ["LLEN", "l"], ["LRANGE", "l", "-3", "-1"],
             ["SCARD", "s"], SET_("SINTER", "s", "is"), ["SINTERCARD", "2", "s", "s", "LIMIT", "100"],
             ["SMISMEMBER", "s", "m0", "m2999", "m3000"], (["SSCAN", "s", "0", "MATCH", "m29*"], "scan_all"),
             ["ZRANGE", "z", "1500", "1510", "WITHSCORES"], ["ZRANK", "z", "m2999"], ["ZREVRANK", "z", "m5"],
             ["ZCOUNT", "z", "(10", "50"], ["ZRANGEBYSCORE", "z", "96", "+inf", "LIMIT", "5", "3"],
             ["ZLEXCOUNT", "lex", "[x01000", "(x02000"], ["ZRANGEBYLEX", "lex", "(x02990", "+"],
             ["ZREVRANGEBYLEX", "lex", "[x00010", "-", "LIMIT", "2", "3"], ["ZREMRANGEBYLEX", "lex", "[x01000", "(x02000"],
             ["ZCARD", "lex"], ["ZREMRANGEBYRANK", "z", "100", "-100"], ["ZCARD", "z"],
             ["ZPOPMAX", "z", "3"], ["ZRANGESTORE", "dst", "z", "0", "-1"], ["ZCARD", "dst"],
             ["HLEN", "h"], ["HGET", "h", "f2999"], ["HSTRLEN", "h", "f1000"], (["HRANDFIELD", "h", "-5"], "count"),
             (["HSCAN", "h", "0", "MATCH", "f299*"], "scan_all"), ["SORT", "l", "LIMIT", "0", "5", "ALPHA"],
             ["SORT", "is", "LIMIT", "10", "5", "DESC"], ["SORT", "s", "BY", "nosort", "STORE", "st"],
             ["LRANGE", "st", "0", "4"], ["DEL", "l", "s", "z", "h"], ["DBSIZE"]]
    compare(cmds)


for _f, _s, _n, _r in PLAN:
    if _f in FAMILIES:
        _register(_f, _s, _n, _r)


@test
def plan_size():
    # the generators (not only the enabled families) produce >= 20,000 commands per run
    total = sum(len(COLLECTION_FAMILIES[f](s, n)) for f, s, n, _ in PLAN)
    assert_true(total >= MIN_TOTAL, "plan has %d commands" % total)


if __name__ == "__main__":
    run_tests()
