"""Sorted sets on cairn: every command's replies and errors (RESP2 and RESP3
forms), special scores, binary and long members, a 200k-member set (timings
printed), durability across kill -9, expiry, blocking pops.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_zset.py [name...]
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import (test, run_tests, assert_eq, assert_true, assert_error, CairnServer,  # noqa: E402
                        RedisServer, Double, wait_until, wait_link_up)

BIN = b"\x00\xff\r\nbin"
LONG = [b"P" * 600 + bytes([i]) * 3 for i in (5, 1, 9, 0, 255)]


def flat(*pairs):
    out = []
    for m, s in pairs:
        out += [m, s]
    return out


@test
def zadd_and_scores():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("ZADD", "z", "1", "a", "2", "b", "-inf", "lo", "+inf", "hi", "1.5e3", "e", "-2.5", "n"), 6)
        assert_eq(c.call("ZADD", "z", "1", "a"), 0)
        assert_eq(c.call("ZADD", "z", "CH", "7", "a", "8", "new"), 2)
        assert_eq(c.call("ZSCORE", "z", "a"), b"7")
        assert_eq(c.call("ZSCORE", "z", "lo"), b"-inf")
        assert_eq(c.call("ZSCORE", "z", "hi"), b"inf")
        assert_eq(c.call("ZSCORE", "z", "e"), b"1500")
        assert_eq(c.call("ZSCORE", "z", "n"), b"-2.5")
        assert_eq(c.call("ZINCRBY", "z", "0.1", "a"), b"7.0999999999999996")
        assert_eq(c.call("ZADD", "z", "XX", "INCR", "1", "nope"), None)
        assert_eq(c.call("ZADD", "z", "NX", "INCR", "1", "a"), None)
        assert_error(c.call("ZINCRBY", "z", "-inf", "hi"), "ERR resulting score is not a number (NaN)")
        assert_eq(c.call("ZSCORE", "z", "hi"), b"inf")
        assert_error(c.call("ZADD", "z", "NX", "XX", "1", "a"), "ERR XX and NX options at the same time are not compatible")
        assert_error(c.call("ZADD", "z", "GT", "LT", "1", "a"),
                     "ERR GT, LT, and/or NX options at the same time are not compatible")
        assert_error(c.call("ZADD", "z", "INCR", "1", "a", "2", "b"), "ERR INCR option supports a single increment-element pair")
        assert_error(c.call("ZADD", "z", "nan", "a"), "ERR value is not a valid float")
        assert_error(c.call("ZADD", "z", "1", "a", "2"), "ERR syntax error")
        assert_eq(c.call("ZADD", "z", "GT", "CH", "1", "a", "100", "b"), 1)
        assert_eq(c.call("ZSCORE", "z", "b"), b"100")
        assert_eq(c.call("ZADD", "z", "LT", "1000", "b"), 0)
        assert_eq(c.call("ZADD", "z", "-0", "negzero"), 1)
        assert_eq(c.call("ZSCORE", "z", "negzero"), b"0")
        c.call("SET", "str", "x")
        assert_error(c.call("ZADD", "str", "1", "a"), "WRONGTYPE")
        assert_eq(c.call("TYPE", "z"), "zset")
        assert_eq(c.call("ZCARD", "z"), 8)
        assert_eq(c.call("ZMSCORE", "z", "a", "missing", "lo"), [b"7.0999999999999996", None, b"-inf"])
        # RESP3: doubles
        c3 = s.conn(resp=3)
        r = c3.call("ZSCORE", "z", "a")
        assert_true(isinstance(r, Double) and r.text == "7.0999999999999996", repr(r))
        assert_eq(c3.call_raw("ZSCORE", "z", "hi"), b",inf\r\n")
        assert_eq(c3.call_raw("ZSCORE", "z", "lo"), b",-inf\r\n")
        assert_eq(c3.call_raw("ZMSCORE", "z", "e", "x"), b"*2\r\n,1500\r\n_\r\n")
        assert_eq(c3.call_raw("ZINCRBY", "z", "1", "e"), b",1501\r\n")
        assert_eq(c3.call_raw("ZADD", "z", "XX", "INCR", "1", "nope"), b"_\r\n")


@test
def ranges_and_resp3_forms():
    with CairnServer() as s:
        c = s.conn()
        c.call("ZADD", "z", "1", "a", "1", "b", "2", "c", "3", "d", "-1", "m")
        assert_eq(c.call("ZRANGE", "z", "0", "-1", "WITHSCORES"),
                  flat((b"m", b"-1"), (b"a", b"1"), (b"b", b"1"), (b"c", b"2"), (b"d", b"3")))
        assert_eq(c.call("ZRANGE", "z", "3", "(1", "BYSCORE", "REV", "LIMIT", "0", "1"), [b"d"])
        assert_eq(c.call("ZRANGEBYSCORE", "z", "1", "1"), [b"a", b"b"])
        assert_eq(c.call("ZRANK", "z", "c"), 3)
        assert_eq(c.call("ZREVRANK", "z", "c"), 1)
        assert_eq(c.call("ZRANK", "z", "zz"), None)
        assert_eq(c.call("ZCOUNT", "z", "(1", "+inf"), 2)
        assert_error(c.call("ZRANGE", "z", "0", "1", "LIMIT", "0", "1"),
                     "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        assert_error(c.call("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"),
                     "ERR syntax error, WITHSCORES not supported in combination with BYLEX")
        assert_error(c.call("ZRANGEBYSCORE", "z", "a", "b"), "ERR min or max is not a float")
        assert_error(c.call("ZRANGEBYLEX", "z", "a", "b"), "ERR min or max not valid string range item")
        c3 = s.conn(resp=3)
        # WITHSCORES pairs are nested arrays with double scores in RESP3
        assert_eq(c3.call_raw("ZRANGE", "z", "0", "1", "WITHSCORES"),
                  b"*2\r\n*2\r\n$1\r\nm\r\n,-1\r\n*2\r\n$1\r\na\r\n,1\r\n")
        assert_eq(c3.call_raw("ZPOPMIN", "z"), b"*2\r\n$1\r\nm\r\n,-1\r\n")
        assert_eq(c3.call_raw("ZPOPMAX", "z", "1"), b"*1\r\n*2\r\n$1\r\nd\r\n,3\r\n")
        assert_eq(c3.call_raw("ZRANK", "z", "nope"), b"_\r\n")
        assert_eq(c3.call_raw("ZMPOP", "1", "z", "MIN", "COUNT", "1"), b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n,1\r\n")
        assert_eq(c3.call_raw("ZMPOP", "1", "nokey", "MIN"), b"_\r\n")
        assert_eq(c.call_raw("ZMPOP", "1", "nokey", "MIN"), b"*-1\r\n")
        assert_eq(c3.call_raw("ZUNION", "1", "z", "WITHSCORES"), b"*2\r\n*2\r\n$1\r\nb\r\n,1\r\n*2\r\n$1\r\nc\r\n,2\r\n")
        r = c3.call("ZRANDMEMBER", "z", "-3", "WITHSCORES")
        assert_eq(len(r), 3)
        assert_true(all(isinstance(p, list) and isinstance(p[1], Double) for p in r), repr(r))
        r = c.call("ZRANDMEMBER", "z", "2", "WITHSCORES")
        assert_eq(sorted(zip(r[::2], r[1::2])), [(b"b", b"1"), (b"c", b"2")])


@test
def binary_and_long_members():
    with CairnServer() as s:
        c = s.conn()
        args = ["ZADD", "z", "1", BIN, "1", "", "0", b"\x00"]
        for m in LONG:
            args += ["7", m]
        assert_eq(c.call(*args), 3 + len(LONG))
        for m in LONG:
            assert_eq(c.call("ZSCORE", "z", m), b"7")
        assert_eq(c.call("ZRANGE", "z", "0", "2"), [b"\x00", b"", BIN])
        # members longer than the store's inline sub-key, sharing a 600-byte
        # prefix and their score: still in bytewise order
        srt = sorted(LONG)
        assert_eq(c.call("ZRANGEBYSCORE", "z", "7", "7"), srt)
        assert_eq(c.call("ZREVRANGEBYSCORE", "z", "7", "7"), srt[::-1])
        assert_eq(c.call("ZRANGE", "z", "3", "-1"), srt)
        assert_eq(c.call("ZRANGE", "z", "-2", "-1", "REV"), [b"", b"\x00"])
        for i, m in enumerate(srt):
            assert_eq(c.call("ZRANK", "z", m), 3 + i)
            assert_eq(c.call("ZREVRANK", "z", m), len(srt) - 1 - i)
        assert_eq(c.call("ZRANGE", "z", "4", "5"), srt[1:3])
        assert_eq(c.call("ZRANGE", "z", "1", "2", "REV"), srt[-3:-1][::-1])
        assert_eq(c.call("ZREM", "z", LONG[0], LONG[1]), 2)
        assert_eq(c.call("ZCARD", "z"), 3 + len(LONG) - 2)
        assert_eq(c.call("ZSCORE", "z", LONG[0]), None)
        assert_eq(c.call("ZSCORE", "z", LONG[2]), b"7")
        assert_eq(c.call("ZPOPMAX", "z", "2"), [LONG[4], b"7", LONG[2], b"7"])
        # lex ranges over long members that share a 600-byte prefix
        P = b"P" * 600
        c.call("ZADD", "l", "0", LONG[0], "0", LONG[1], "0", LONG[2], "0", P, "0", LONG[3])
        ls = sorted([LONG[0], LONG[1], LONG[2], LONG[3]])
        assert_eq(c.call("ZRANGEBYLEX", "l", b"(" + P, "+"), ls)
        assert_eq(c.call("ZRANGEBYLEX", "l", b"[" + P, "+"), [P] + ls)
        assert_eq(c.call("ZLEXCOUNT", "l", b"(" + P, "+"), 4)
        assert_eq(c.call("ZREVRANGEBYLEX", "l", b"[" + ls[2], b"[" + ls[0]), ls[0:3][::-1])
        assert_eq(c.call("ZREVRANGEBYLEX", "l", b"(" + ls[2], "-"), [ls[1], ls[0], P])
        assert_eq(c.call("ZRANGEBYLEX", "l", b"(" + ls[0], b"(" + ls[3]), ls[1:3])
        assert_eq(c.call("ZLEXCOUNT", "l", b"[" + ls[1], b"[" + ls[2]), 2)
        assert_eq(c.call("ZREMRANGEBYLEX", "l", b"[" + ls[1], b"[" + ls[2]), 2)
        assert_eq(c.call("ZRANGE", "l", "0", "-1"), [P, ls[0], ls[3]])
        assert_eq(c.call("ZREMRANGEBYRANK", "l", "1", "1"), 1)
        assert_eq(c.call("ZRANGE", "l", "0", "-1"), [P, ls[3]])


@test
def store_forms_and_sets_of_ops():
    with CairnServer() as s:
        c = s.conn()
        c.call("ZADD", "a", "1", "x", "2", "y", "3", "z")
        c.call("ZADD", "b", "inf", "x", "5", "y")
        assert_eq(c.call("ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "0", "1"), 3)
        assert_eq(c.call("ZRANGE", "d", "0", "-1", "WITHSCORES"), flat((b"z", b"0"), (b"y", b"5"), (b"x", b"inf")))
        assert_eq(c.call("ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "0"), 2)
        assert_eq(c.call("ZRANGE", "d", "0", "-1", "WITHSCORES"), flat((b"x", b"1"), (b"y", b"2")))
        assert_eq(c.call("ZDIFFSTORE", "d", "2", "a", "b"), 1)
        assert_eq(c.call("ZRANGE", "d", "0", "-1", "WITHSCORES"), [b"z", b"3"])
        assert_eq(c.call("ZINTERSTORE", "d", "2", "a", "nokey"), 0)
        assert_eq(c.call("EXISTS", "d"), 0)
        assert_eq(c.call("ZRANGESTORE", "d", "a", "1", "-1"), 2)
        assert_eq(c.call("ZRANGE", "d", "0", "-1"), [b"y", b"z"])
        assert_eq(c.call("ZINTERCARD", "2", "a", "b", "LIMIT", "1"), 1)
        assert_error(c.call("ZUNIONSTORE", "d", "0", "a"), "ERR at least 1 input key is needed for 'zunionstore' command")
        assert_error(c.call("ZINTERCARD", "1", "a", "LIMIT", "-1"), "ERR LIMIT can't be negative")
        # plain sets are inputs with score 1
        c.call("SADD", "plain", "x", "q")
        assert_eq(c.call("ZUNION", "2", "a", "plain", "WITHSCORES"),
                  flat((b"q", b"1"), (b"x", b"2"), (b"y", b"2"), (b"z", b"3")))
        assert_eq(c.call("ZINTERSTORE", "d", "2", "plain", "a", "WEIGHTS", "10", "1"), 1)
        assert_eq(c.call("ZRANGE", "d", "0", "-1", "WITHSCORES"), [b"x", b"11"])
        assert_eq(c.call("ZDIFF", "2", "plain", "a", "WITHSCORES"), [b"q", b"1"])
        assert_error(c.call("ZRANGE", "plain", "0", "-1"), "WRONGTYPE")
        # the destination is a source
        assert_eq(c.call("ZUNIONSTORE", "a", "2", "a", "a"), 3)
        assert_eq(c.call("ZRANGE", "a", "0", "-1", "WITHSCORES"), flat((b"x", b"2"), (b"y", b"4"), (b"z", b"6")))


@test
def scan_all_members():
    with CairnServer() as s:
        c = s.conn()
        members = [("m%04d" % i).encode() for i in range(1000)] + [BIN, b"", b"\x00\x00\x00\x00\x00\x00\x00\x00x"]
        for i in range(0, len(members), 200):
            args = ["ZADD", "z"]
            for j, m in enumerate(members[i:i + 200]):
                args += [str(i + j), m]
            c.call(*args)
        seen = {}
        cursor = b"0"
        calls = 0
        while True:
            cursor, items = c.call("ZSCAN", "z", cursor, "COUNT", "50")
            calls += 1
            for k in range(0, len(items), 2):
                seen[items[k]] = items[k + 1]
            if cursor == b"0":
                break
        assert_eq(len(seen), len(members))
        assert_eq(seen[b"m0010"], b"10")
        assert_true(calls > 5, "calls %d" % calls)
        cursor, items = c.call("ZSCAN", "z", "0", "MATCH", "m000*", "COUNT", "5000")
        assert_eq(cursor, b"0")
        assert_eq(len(items), 20)
        assert_error(c.call("ZSCAN", "z", "abc"), "ERR invalid cursor")
        # members sharing a long prefix still come in batches of about COUNT,
        # and the scan resumes exactly where it stopped even when the set
        # changes in between
        pre = b"session:" + b"x" * 40
        for i in range(0, 600, 100):
            args = ["ZADD", "s"]
            for j in range(i, i + 100):
                args += [str(j), pre + b"%04d" % j]
            c.call(*args)
        seen = set()
        cursor = b"0"
        calls = 0
        while True:
            cursor, items = c.call("ZSCAN", "s", cursor, "COUNT", "20")
            calls += 1
            assert_true(len(items) <= 2 * 20, "batch of %d" % (len(items) // 2))
            seen.update(items[0::2])
            if calls == 5:
                c.call("ZADD", "s", "1", pre + b"0000a", "1", b"a", "1", b"zzz")
                c.call("ZREM", "s", pre + b"0599")
            if cursor == b"0":
                break
        assert_true(calls >= 30, "calls %d" % calls)
        for j in range(599):
            assert_true(pre + b"%04d" % j in seen, j)
        assert_true(len(cursor) > 0)
        # long members (> 480 bytes) sharing their first 480 bytes
        longs = [b"Q" * 500 + b"%03d" % i for i in range(30)]
        args = ["ZADD", "q"]
        for m in longs:
            args += ["1", m]
        c.call(*args)
        got = []
        cursor = b"0"
        while True:
            cursor, items = c.call("ZSCAN", "q", cursor, "COUNT", "5")
            assert_true(int(cursor) < 2 ** 64)
            got += items[0::2]
            if cursor == b"0":
                break
        assert_eq(sorted(got), sorted(longs))


@test(timeout=240)
def big_zset_200k():
    with CairnServer({"durability": "relaxed"}) as s:
        c = s.conn(timeout=120)
        n = 200000
        t0 = time.time()
        batch = []
        for i in range(0, n, 2000):
            args = ["ZADD", "big"]
            for j in range(i, i + 2000):
                args += [str(j * 2), "member:%07d" % j]
            batch.append(args)
        for k in range(0, len(batch), 10):
            for r in c.pipeline(batch[k:k + 10]):
                assert_eq(r, 2000)
        t_load = time.time() - t0
        assert_eq(c.call("ZCARD", "big"), n)

        def timed(*args):
            t = time.time()
            r = c.call(*args)
            return r, (time.time() - t) * 1000

        r, t_range = timed("ZRANGE", "big", "100000", "100009", "WITHSCORES")
        assert_eq(r[0], b"member:0100000")
        assert_eq(r[1], b"200000")
        r, t_rank_mid = timed("ZRANK", "big", "member:0100000")
        assert_eq(r, 100000)
        r, t_rank_end = timed("ZRANK", "big", "member:0199990")
        assert_eq(r, 199990)
        r, t_revrank = timed("ZREVRANK", "big", "member:0000005")
        assert_eq(r, 199994)
        r, t_count_small = timed("ZCOUNT", "big", "1000", "1998")
        assert_eq(r, 500)
        r, t_count_big = timed("ZCOUNT", "big", "10", "(399000")
        assert_eq(r, 199495)
        r, t_count_mid = timed("ZCOUNT", "big", "100000", "300000")
        assert_eq(r, 100001)
        r, t_byscore = timed("ZRANGEBYSCORE", "big", "300000", "+inf", "LIMIT", "10", "5")
        assert_eq(r, [("member:%07d" % j).encode() for j in range(150010, 150015)])
        r, t_revrange = timed("ZREVRANGE", "big", "0", "4")
        assert_eq(r[0], b"member:0199999")
        r, t_tail = timed("ZRANGE", "big", "-3", "-1")
        assert_eq(r, [b"member:0199997", b"member:0199998", b"member:0199999"])
        r, t_rand_neg = timed("ZRANDMEMBER", "big", "-5000", "WITHSCORES")
        assert_eq(len(r), 10000)
        assert_true(all(int(r[i + 1]) == 2 * int(r[i][7:]) for i in range(0, 10000, 2)), "pairs")
        r, t_rand_pos = timed("ZRANDMEMBER", "big", "3000")
        assert_eq(len(set(r)), 3000)
        r, t_rand_few = timed("ZRANDMEMBER", "big", "100", "WITHSCORES")
        assert_eq(len(set(r[0::2])), 100)
        assert_true(all(int(r[i + 1]) == 2 * int(r[i][7:]) for i in range(0, 200, 2)), "pairs")
        r, t_rand_one = timed("ZRANDMEMBER", "big")
        assert_true(r.startswith(b"member:"), r)
        print("  200k zset: ZRANDMEMBER -5000 %.1fms, 3000 %.1fms, one %.1fms" % (t_rand_neg, t_rand_pos, t_rand_one))
        print("  200k zset: load %.1fs; ZRANGE mid 10 %.1fms; ZRANK mid %.1fms, near end %.1fms; ZREVRANK %.1fms; "
              "ZCOUNT 500 %.1fms, 199495 (complement) %.1fms, 100001 (half) %.1fms; ZRANGEBYSCORE LIMIT %.1fms; "
              "ZREVRANGE 0 4 %.1fms; ZRANGE -3 -1 %.1fms"
              % (t_load, t_range, t_rank_mid, t_rank_end, t_revrank, t_count_small, t_count_big, t_count_mid,
                 t_byscore, t_revrange, t_tail))
        assert_true(t_rank_end < t_rank_mid + 50, "ZRANK near the end should be cheap")
        # STORE forms write a new collection while walking the source (page
        # splits under a live cursor)
        r, t_rstore = timed("ZRANGESTORE", "half", "big", "0", "99999")
        assert_eq(r, 100000)
        r, t_ustore = timed("ZUNIONSTORE", "u", "2", "big", "half", "WEIGHTS", "1", "0.5")
        assert_eq(r, n)
        assert_eq(c.call("ZSCORE", "u", "member:0000010"), b"30")
        assert_eq(c.call("ZSCORE", "u", "member:0150000"), b"300000")
        r, t_istore = timed("ZINTERSTORE", "i", "2", "half", "big", "AGGREGATE", "MAX")
        assert_eq(r, 100000)
        assert_eq(c.call("ZRANGE", "i", "-1", "-1", "WITHSCORES"), [b"member:0099999", b"199998"])
        assert_eq(c.call("ZDIFFSTORE", "dd", "2", "big", "half"), 100000)
        assert_eq(c.call("ZRANGE", "dd", "0", "0"), [b"member:0100000"])
        print("  200k zset: ZRANGESTORE 100k %.0fms, ZUNIONSTORE 200k+100k %.0fms, ZINTERSTORE %.0fms"
              % (t_rstore, t_ustore, t_istore))
        assert_eq(c.call("ZREMRANGEBYRANK", "big", "0", "99999"), 100000)
        assert_eq(c.call("ZRANGE", "big", "0", "0"), [b"member:0100000"])
        assert_eq(c.call("ZPOPMIN", "big", "5")[0], b"member:0100000")
        assert_eq(c.call("ZCARD", "big"), 99995)
        assert_eq(c.call("DEL", "big"), 1)


@test(timeout=120)
def random_member_spread():
    # a big set (hash seeks): every member is drawn about as often
    with CairnServer() as s:
        c = s.conn(timeout=60)
        for i in range(0, 2000, 500):
            args = ["ZADD", "r"]
            for j in range(i, i + 500):
                args += [str(j), "m%d" % j]
            c.call(*args)
        r = c.call("ZRANDMEMBER", "r", "-40000")
        counts = {}
        for m in r:
            counts[m] = counts.get(m, 0) + 1
        assert_true(len(counts) >= 1990, "members drawn: %d of 2000" % len(counts))
        assert_true(max(counts.values()) < 60, "max %d (mean 20)" % max(counts.values()))
        r = c.call("ZRANDMEMBER", "r", "10")
        assert_eq(len(set(r)), 10)
        assert_eq(c.call("ZRANDMEMBER", "small"), None)
        c.call("ZADD", "small", "1", "a", "2", "b")
        seen = set(c.call("ZRANDMEMBER", "small") for _ in range(60))
        assert_eq(seen, {b"a", b"b"})


@test(timeout=120)
def durability_kill9_strict():
    with CairnServer({"durability": "strict"}) as s:
        c = s.conn()
        c.call("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f")
        c.call("ZINCRBY", "z", "10", "a")
        c.call("ZREM", "z", "b")
        c.call("ZADD", "z", "GT", "CH", "0", "c", "30", "d")
        assert_eq(c.call("ZMPOP", "1", "z", "MAX", "COUNT", "1"), [b"z", [[b"d", b"30"]]])
        assert_eq(c.call("ZPOPMIN", "z"), [b"c", b"3"])
        assert_eq(c.call("BZPOPMIN", "z", "0"), [b"z", b"e", b"5"])
        c.call("ZADD", "y", "1", "x", "2", "w")
        c.call("ZUNIONSTORE", "u", "2", "z", "y", "WEIGHTS", "2", "1")
        c.call("ZRANGESTORE", "r", "u", "0", "1")
        c.call("ZADD", "gone", "1", "x")
        c.call("ZREMRANGEBYSCORE", "gone", "-inf", "inf")
        before = {k: c.call("ZRANGE", k, "0", "-1", "WITHSCORES") for k in ("z", "y", "u", "r")}
        s.restart(kill=True)
        c = s.conn()
        for k, v in before.items():
            assert_eq(c.call("ZRANGE", k, "0", "-1", "WITHSCORES"), v, k)
        assert_eq(c.call("EXISTS", "gone"), 0)
        assert_eq(c.call("ZRANGE", "z", "0", "-1", "WITHSCORES"), flat((b"f", b"6"), (b"a", b"11")))
        s.restart()
        assert_eq(s.conn().call("ZCARD", "u"), 4)


@test
def expiry():
    with CairnServer() as s:
        c = s.conn()
        c.call("ZADD", "z", "1", "a")
        assert_eq(c.call("PEXPIRE", "z", "100"), 1)
        c.call("ZADD", "z", "2", "b")
        assert_true(c.call("PTTL", "z") > 0, "ZADD keeps the TTL")
        time.sleep(0.25)
        assert_eq(c.call("ZCARD", "z"), 0)
        assert_eq(c.call("ZSCORE", "z", "a"), None)
        assert_eq(c.call("ZADD", "z", "3", "c"), 1)
        assert_eq(c.call("ZRANGE", "z", "0", "-1"), [b"c"])
        assert_eq(c.call("TTL", "z"), -1)
        c.call("ZADD", "src", "1", "x")
        c.call("SET", "dst", "v", "EX", "100")
        c.call("ZUNIONSTORE", "dst", "1", "src")
        assert_eq(c.call("TTL", "dst"), -1)


@test(timeout=60)
def blocking_pops():
    with CairnServer() as s:
        c = s.conn()
        t = time.time()
        assert_eq(c.call("BZPOPMIN", "nokey", "0.2"), None)
        assert_true(time.time() - t < 5)
        assert_eq(c.call_raw("BZMPOP", "0.1", "1", "nokey", "MIN"), b"*-1\r\n")
        assert_error(c.call("BZPOPMIN", "k", "-1"), "ERR timeout is negative")
        assert_error(c.call("BZPOPMIN", "k", "abc"), "ERR timeout is not a float or out of range")
        # wake-up by a ZADD from another client
        waiter = s.conn()
        waiter.send("BZPOPMAX", "wk", "5")
        time.sleep(0.2)
        assert_true(not waiter.has_pending_data(0.05), "BZPOPMAX did not block")
        c.call("ZADD", "wk", "1", "a", "2", "b")
        assert_eq(waiter.read_reply(), [b"wk", b"b", b"2"])
        assert_eq(c.call("ZRANGE", "wk", "0", "-1"), [b"a"])
        waiter.send("BZMPOP", "5", "2", "e1", "e2", "MIN", "COUNT", "3")
        time.sleep(0.2)
        c.call("ZADD", "e2", "1", "x", "2", "y")
        assert_eq(waiter.read_reply(), [b"e2", [[b"x", b"1"], [b"y", b"2"]]])
        assert_eq(c.call("EXISTS", "e2"), 0)
        # a ZUNIONSTORE into the key wakes the waiter too
        waiter.send("BZPOPMIN", "u", "5")
        time.sleep(0.2)
        c.call("ZADD", "src", "7", "m")
        c.call("ZUNIONSTORE", "u", "1", "src")
        assert_eq(waiter.read_reply(), [b"u", b"m", b"7"])
        # two waiters are served in the order they blocked, one member each
        w2 = s.conn()
        waiter.send("BZPOPMIN", "fifo", "5")
        time.sleep(0.1)
        w2.send("BZPOPMIN", "fifo", "other", "5")
        time.sleep(0.1)
        c.call("ZADD", "fifo", "3", "only")
        assert_eq(waiter.read_reply(), [b"fifo", b"only", b"3"])
        assert_true(not w2.has_pending_data(0.2), "the second waiter still waits")
        c.call("ZADD", "other", "4", "o")
        assert_eq(w2.read_reply(), [b"other", b"o", b"4"])
        # a key that turns into another type: the waiter gets WRONGTYPE or keeps waiting, never a crash
        w2.send("BZPOPMAX", "wt", "0.5")
        time.sleep(0.1)
        c.call("SET", "wt", "string")
        r = w2.read_reply()
        assert_true(r is None or (hasattr(r, "message") and "WRONGTYPE" in r.message), repr(r))
        # woken by the key that became ready first: served from it, like Redis 7.0
        waiter.send("BZPOPMIN", "k1", "k2", "5")
        time.sleep(0.1)
        assert_eq(c.pipeline([["MULTI"], ["ZADD", "k2", "2", "b"], ["ZADD", "k1", "1", "a"], ["EXEC"]])[-1], [1, 1])
        assert_eq(waiter.read_reply(), [b"k2", b"b", b"2"])
        waiter.send("BZMPOP", "5", "2", "k3", "k4", "MIN", "COUNT", "2")
        time.sleep(0.1)
        c.pipeline([["MULTI"], ["ZADD", "k4", "2", "b"], ["ZADD", "k3", "1", "a"], ["EXEC"]])
        assert_eq(waiter.read_reply(), [b"k4", [[b"b", b"2"]]])
        # RESP3 timeout reply
        w3 = s.conn(resp=3)
        assert_eq(w3.call_raw("BZPOPMIN", "none", "0.1"), b"_\r\n")
        # timeout
        t = time.time()
        assert_eq(waiter.call("BZPOPMIN", "none", "0.3"), None)
        assert_true(time.time() - t >= 0.25)
        # the popped state survives a restart (propagated as ZPOPMIN/ZPOPMAX)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("ZRANGE", "wk", "0", "-1"), [b"a"])
        assert_eq(c.call("EXISTS", "e2"), 0)
        assert_eq(c.call("EXISTS", "u"), 0)


@test(timeout=120)
def propagation_to_a_redis_replica():
    # A real redis-server 7.0 replicates from cairn: every zset write reaches
    # it in a form Redis applies to the same data (blocking pops as
    # ZPOPMIN/ZPOPMAX, ZMPOP with its real count, ...).
    with CairnServer() as m:
        with RedisServer({"replicaof": ["127.0.0.1", m.port]}) as r:
            rc = r.conn()
            wait_link_up(r, timeout=30)
            c = m.conn()
            c.call("ZADD", "z", "1", "a", "2", "b", "3", "c", "1.5", "d", "-inf", "lo", "inf", "hi")
            c.call("ZADD", "z", "GT", "CH", "0", "a", "10", "b")
            c.call("ZADD", "z", "INCR", "0.1", "c")
            c.call("ZINCRBY", "z", "1e-3", "d")
            c.call("ZREM", "z", "nope", "lo")
            c.call("ZADD", "y", "5", "x", "6", "w", "7", "v")
            c.call("ZUNIONSTORE", "u", "2", "z", "y", "WEIGHTS", "0.5", "3", "AGGREGATE", "MAX")
            c.call("ZINTERSTORE", "i", "2", "z", "u")
            c.call("ZDIFFSTORE", "df", "2", "u", "z")
            c.call("ZRANGESTORE", "rs", "u", "(1", "+inf", "BYSCORE", "LIMIT", "1", "3")
            c.call("ZPOPMIN", "u")
            c.call("ZPOPMAX", "u", "2")
            c.call("ZMPOP", "2", "nokey", "y", "MAX", "COUNT", "10")
            c.call("BZPOPMIN", "z", "1")
            c.call("BZMPOP", "1", "1", "i", "MAX", "COUNT", "2")
            c.call("ZREMRANGEBYRANK", "rs", "0", "0")
            c.call("ZREMRANGEBYSCORE", "df", "-inf", "(6")
            c.call("ZADD", "lx", "0", "a", "0", "b", "0", "c", "0", "d")
            c.call("ZREMRANGEBYLEX", "lx", "(a", "[c")
            waiter = m.conn()
            waiter.send("BZPOPMAX", "wk", "5")
            time.sleep(0.2)
            c.call("ZADD", "wk", "1", "p", "2", "q")
            assert_eq(waiter.read_reply(), [b"wk", b"q", b"2"])
            c.call("SET", "flag", "1")

            def caught_up():
                return rc.call("GET", "flag") == b"1"
            wait_until(caught_up, timeout=30, msg="replica caught up")
            for k in ("z", "y", "u", "i", "df", "rs", "lx", "wk", "nokey"):
                assert_eq(rc.call("ZRANGE", k, "0", "-1", "WITHSCORES"), c.call("ZRANGE", k, "0", "-1", "WITHSCORES"), k)
            assert_eq(sorted(rc.call("KEYS", "*")), sorted(c.call("KEYS", "*")))
            assert_true(rc.call("ZCARD", "z") >= 4 and rc.call("ZCARD", "wk") == 1, "replica has the data")


if __name__ == "__main__":
    run_tests()
