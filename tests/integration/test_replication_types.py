"""Full sync of every type (issue 5):
  * a real redis 7.0 master holding every type and encoding (listpack,
    intset, quicklist with compressed nodes, hashtable, skiplist, big
    collections) -> cairn replica, both framings ($EOF: diskless and $len);
  * a cairn master -> real redis replica, and -> cairn replica;
  * a collection large enough that the RDB must stream it member by member;
  * commands after the sync (RESTORE, RENAME, COPY, DEL of collections) reach
    the replica through the stream.
Values are compared member by member in a real redis: a cairn value is
DUMPed and RESTOREd into the reference redis, then read there."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cairn_test                       # noqa: E402
from cairn_test import *                # noqa: E402,F401,F403
from generic_data import build_all, contents  # noqa: E402

_n_before = len(cairn_test._TESTS)
import test_replication_master as M     # noqa: E402
del cairn_test._TESTS[_n_before:]

BIG = int(os.environ.get("CAIRN_BIG_COLL_REPL", "200000"))

_ref = {}


def ref():
    if "srv" not in _ref:
        srv = RedisServer(shared=True)
        _ref["srv"], _ref["conn"] = srv, srv.conn(timeout=120)
    return _ref["conn"]


def read_value(conn, key, is_cairn):
    """contents() of key on conn; for cairn through a DUMP into the
    reference redis (cairn's type commands are not needed)."""
    if not is_cairn:
        return contents(conn, key)
    p = conn.call("DUMP", key)
    if p is None:
        return ("none", None)
    r = ref()
    assert_eq(r.call("RESTORE", "cmp", 0, p, "REPLACE"), "OK", key)
    return contents(r, "cmp")


def snapshot(conn, is_cairn, dbs=(0, 4)):
    out = {}
    for db in dbs:
        conn.call("SELECT", db)
        for k in sorted(conn.call("KEYS", "*")):
            ttl = conn.call("PTTL", k)
            out[(db, k)] = (read_value(conn, k, is_cairn), ttl > 0 if ttl != -1 else False)
    conn.call("SELECT", 0)
    return out


def fill_master_redis(mc):
    build_all(mc)
    mc.call("EXPIRE", "list:big", 5000)
    mc.call("PEXPIRE", "hash:lp", 9000000)
    mc.call("SELECT", 4)
    mc.call("SADD", "db4set", "x", "y")
    mc.call("ZADD", "db4z", 1, "a")
    mc.call("SELECT", 0)


def fill_master_cairn(mc):
    """The same data on a cairn master: payloads DUMPed by the reference."""
    r = ref()
    r.call("SELECT", 11)
    r.call("FLUSHDB")
    encs = build_all(r)
    for k in encs:
        assert_eq(mc.call("RESTORE", k, 0, r.call("DUMP", k)), "OK", k)
    r.call("FLUSHDB")
    r.call("SADD", "db4set", "x", "y")
    r.call("ZADD", "db4z", 1, "a")
    p1, p2 = r.call("DUMP", "db4set"), r.call("DUMP", "db4z")
    r.call("FLUSHDB")
    r.call("SELECT", 0)
    mc.call("EXPIRE", "list:big", 5000)
    mc.call("PEXPIRE", "hash:lp", 9000000)
    mc.call("SELECT", 4)
    mc.call("RESTORE", "db4set", 0, p1)
    mc.call("RESTORE", "db4z", 0, p2)
    mc.call("SELECT", 0)


def assert_same(master, m_cairn, replica, r_cairn):
    mc, rc = master.conn(timeout=60), replica.conn(timeout=60)
    a, b = snapshot(mc, m_cairn), snapshot(rc, r_cairn)
    assert_eq(sorted(b.keys()), sorted(a.keys()), "same keys")
    for k in a:
        assert_eq(b[k], a[k], "key %r" % (k,))
    assert_true(len(a) >= 20, "data set too small: %d" % len(a))
    return a


def later_writes(mc, r):
    """Collection writes after the sync go through the stream."""
    r.call("SELECT", 12)
    r.call("RPUSH", "tmp", "p", "q")
    p = r.call("DUMP", "tmp")
    r.call("FLUSHDB")
    r.call("SELECT", 0)
    for cmd in [["RESTORE", "late", 100000, p], ["RENAME", "set:str", "set:renamed"],
                ["COPY", "zset:lp", "zset:copy"], ["DEL", "hash:big"], ["MOVE", "set:intset", 4],
                ["RESTORE", "list:small", 0, p, "REPLACE"]]:
        res = mc.call(*cmd)
        assert_true(not is_error(res), "%r: %r" % (cmd[:2], res))


@test(timeout=300)
def redis_master_to_cairn_replica():
    for diskless in ("yes", "no"):
        with RedisServer({"repl-diskless-sync": diskless, "repl-diskless-sync-delay": 0}) as master:
            mc = master.conn(timeout=60)
            fill_master_redis(mc)
            with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
                wait_link_up(replica)
                wait_offsets_equal(master, replica)
                assert_same(master, False, replica, True)
                later_writes(mc, ref())
                wait_offsets_equal(master, replica)
                assert_same(master, False, replica, True)
                replica.restart()
                wait_link_up(replica)
                wait_offsets_equal(master, replica)
                assert_same(master, False, replica, True)


@test(timeout=300)
def cairn_master_to_redis_replica():
    with CairnServer() as master:
        mc = master.conn(timeout=60)
        fill_master_cairn(mc)
        with M.start_replica(master) as replica:
            wait_link_up(replica)
            wait_offsets_equal(master, replica)
            assert_same(master, True, replica, False)
            later_writes(mc, ref())
            wait_offsets_equal(master, replica)
            assert_same(master, True, replica, False)
            rc = replica.conn()
            # redis chose its own encodings when it loaded cairn's RDB
            assert_eq(rc.call("OBJECT", "ENCODING", "zset:lp"), b"listpack")
            assert_eq(rc.call("OBJECT", "ENCODING", "zset:big"), b"skiplist")
            assert_eq(rc.call("OBJECT", "ENCODING", "hash:lp"), b"listpack")
            rc.call("SELECT", 4)
            assert_eq(rc.call("OBJECT", "ENCODING", "set:intset"), b"intset")


@test(timeout=300)
def cairn_master_to_cairn_replica():
    with CairnServer() as master:
        mc = master.conn(timeout=60)
        fill_master_cairn(mc)
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica)
            wait_offsets_equal(master, replica)
            assert_same(master, True, replica, True)
            later_writes(mc, ref())
            wait_offsets_equal(master, replica)
            assert_same(master, True, replica, True)
            replica.restart(kill=True)
            wait_link_up(replica)
            wait_offsets_equal(master, replica)
            assert_same(master, True, replica, True)


def big_payload():
    r = ref()
    if "big" not in _ref:
        r.call("SELECT", 13)
        r.call("EVAL", "for i=1,tonumber(ARGV[1]) do redis.call('ZADD',KEYS[1],i,'member:'..i) end", 1, "bigz", BIG)
        r.call("EVAL", "for i=1,tonumber(ARGV[1]) do redis.call('RPUSH',KEYS[1],'e'..i) end", 1, "bigl", BIG)
        _ref["big"] = (r.call("DUMP", "bigz"), r.call("DUMP", "bigl"))
        _ref["bigsum"] = (r.call("ZSCORE", "bigz", "member:%d" % (BIG // 2)), r.call("LINDEX", "bigl", BIG // 3))
        r.call("FLUSHDB")
        r.call("SELECT", 0)
    return _ref["big"]


@test(timeout=600)
def big_collections_stream_both_ways():
    pz, pl = big_payload()
    with CairnServer() as master:
        mc = master.conn(timeout=300)
        assert_eq(mc.call("RESTORE", "bigz", 0, pz), "OK")
        assert_eq(mc.call("RESTORE", "bigl", 0, pl), "OK")
        # cairn -> redis: counts and sample members in redis itself
        with M.start_replica(master) as replica:
            wait_link_up(replica, timeout=120)
            wait_offsets_equal(master, replica, timeout=120)
            rc = replica.conn()
            assert_eq(rc.call("ZCARD", "bigz"), BIG)
            assert_eq(rc.call("LLEN", "bigl"), BIG)
            assert_eq((rc.call("ZSCORE", "bigz", "member:%d" % (BIG // 2)), rc.call("LINDEX", "bigl", BIG // 3)),
                      _ref["bigsum"])
            # redis -> cairn: the replica of the redis replica
            rc.call("REPLICAOF", "NO", "ONE")
            with CairnServer([("replicaof", ["127.0.0.1", replica.port])]) as cr:
                wait_link_up(cr, timeout=120)
                wait_offsets_equal(replica, cr, timeout=120)
                crc = cr.conn(timeout=300)
                assert_eq(crc.call("TYPE", "bigz"), "zset")
                # DUMP on the cairn replica is what the cairn master dumps
                assert_eq(crc.call("DUMP", "bigz"), mc.call("DUMP", "bigz"))
                assert_eq(crc.call("DUMP", "bigl"), mc.call("DUMP", "bigl"))
                log = cr.log_text()
                assert_true("Finished with success: 2 keys" in log, log[-2000:])


@test(timeout=300)
def native_sets_and_hashes_full_sync():
    """Sets and hashes made by cairn's own commands (small and over the
    compact limits) reach a real redis replica and a cairn replica."""
    with CairnServer() as master:
        mc = master.conn(timeout=60)
        mc.pipeline([["SADD", "bigset"] + ["m%d" % i for i in range(j, j + 1000)] for j in range(0, 20000, 1000)])
        mc.pipeline([["HSET", "bighash"] + sum([["f%d" % i, "v%d" % i] for i in range(j, j + 500)], [])
                     for j in range(0, 10000, 500)])
        mc.call("SADD", "ints", 3, 1, 2, -9)
        mc.call("SADD", "strs", "b", "a")
        mc.call("HSET", "small", "x", "1", "y", "long" * 20)
        mc.call("EXPIRE", "small", 1000)
        with M.start_replica(master) as replica, \
                CairnServer([("replicaof", ["127.0.0.1", master.port])]) as cr:
            wait_link_up(replica)
            wait_link_up(cr)
            wait_offsets_equal(master, replica)
            wait_offsets_equal(master, cr)
            for conn in (replica.conn(), cr.conn()):
                assert_eq(conn.call("SCARD", "bigset"), 20000)
                assert_eq(sorted(conn.call("SMEMBERS", "bigset")), sorted(mc.call("SMEMBERS", "bigset")))
                assert_eq(conn.call("HLEN", "bighash"), 10000)
                assert_eq(conn.call("HGET", "bighash", "f9999"), b"v9999")
                for k in ["ints", "strs"]:
                    assert_eq(sorted(conn.call("SMEMBERS", k)), sorted(mc.call("SMEMBERS", k)))
                assert_eq(sorted(conn.call("HGETALL", "small")), sorted(mc.call("HGETALL", "small")))
                assert_true(conn.call("TTL", "small") > 900)
            rc = replica.conn()
            assert_eq(rc.call("OBJECT", "ENCODING", "ints"), b"intset")
            assert_eq(rc.call("OBJECT", "ENCODING", "small"), b"hashtable")  # a value over 64 bytes
            assert_eq(rc.call("OBJECT", "ENCODING", "bigset"), b"hashtable")


@test(timeout=300)
def native_lists_and_zsets_full_sync():
    """Lists and sorted sets made by cairn's own commands reach a real redis
    replica and a cairn replica (runs once those commands exist)."""
    with CairnServer() as master:
        mc = master.conn(timeout=60)
        assert_true(mc.call("COMMAND", "INFO", "rpush")[0] is not None and mc.call("COMMAND", "INFO", "zadd")[0] is not None,
                    "RPUSH/ZADD missing from this build")
        mc.pipeline([["RPUSH", "biglist"] + ["e%d" % i for i in range(j, j + 1000)] for j in range(0, 20000, 1000)])
        mc.call("LPUSH", "biglist", "x" * 20000, "head")
        mc.pipeline([["ZADD", "bigz"] + sum([[i / 7.0, "m%d" % i] for i in range(j, j + 500)], [])
                     for j in range(0, 5000, 500)])
        mc.call("ZADD", "smallz", 1, "a", "-inf", "b", 2.5, "c")
        mc.call("RPUSH", "smalll", 1, "two", 3)
        mc.call("PEXPIRE", "smalll", 900000)
        with M.start_replica(master) as replica, \
                CairnServer([("replicaof", ["127.0.0.1", master.port])]) as cr:
            wait_link_up(replica)
            wait_link_up(cr)
            wait_offsets_equal(master, replica)
            wait_offsets_equal(master, cr)
            for conn in (replica.conn(), cr.conn()):
                for k in ["biglist", "smalll"]:
                    assert_eq(conn.call("LRANGE", k, 0, -1), mc.call("LRANGE", k, 0, -1), k)
                for k in ["bigz", "smallz"]:
                    assert_eq(conn.call("ZRANGE", k, 0, -1, "WITHSCORES"), mc.call("ZRANGE", k, 0, -1, "WITHSCORES"), k)
                assert_true(conn.call("PTTL", "smalll") > 800000)
            rc = replica.conn()
            assert_eq(rc.call("OBJECT", "ENCODING", "smallz"), b"listpack")
            assert_eq(rc.call("OBJECT", "ENCODING", "bigz"), b"skiplist")


if __name__ == "__main__":
    run_tests()
