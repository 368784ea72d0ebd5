"""Functions (FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/STATS, FCALL,
FCALL_RO) on cairn: replies against a real redis-server, persistence across
a restart and a kill -9 (the libraries live in the store with the data),
FUNCTION commands replicated to a cairn replica, and the libraries carried
by full sync both ways (RDB FUNCTION2 entries): real Redis master -> cairn
replica and cairn master -> real Redis replica; FUNCTION DUMP/RESTORE
payloads exchanged with a real Redis.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_functions.py [name...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from differential import compare  # noqa: E402

LIB1 = """#!lua name=lib1
redis.register_function('setter', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function{function_name='getter', callback=function(keys, args) return redis.call('get', keys[1]) end,
  flags={'no-writes'}, description='reads a key'}
"""
LIB2 = """#!lua name=lib2
redis.register_function('counter', function(keys) return redis.call('incr', keys[1]) end)
"""


def libs_of(conn):
    out = {}
    for lib in conn.call("FUNCTION", "LIST", "WITHCODE"):
        d = dict(zip(lib[0::2], lib[1::2]))
        out[d[b"library_name"]] = d[b"library_code"]
    return out


CASES = [
    ["FUNCTION", "LOAD", LIB1], ["FCALL", "setter", "1", "k", "v"], ["FCALL", "getter", "1", "k"],
    ["FCALL_RO", "getter", "1", "k"], ["FCALL_RO", "setter", "1", "k", "v"], ["FCALL", "nosuch", "0"],
    ["FCALL", "getter", "x"], ["FCALL", "getter", "-1"], ["FCALL", "getter", "5", "a"],
    ["FUNCTION", "LOAD", LIB1], ["FUNCTION", "LOAD", "REPLACE", LIB1], ["FUNCTION", "LOAD", "BAD", LIB1],
    ["FUNCTION", "LOAD"], ["FUNCTION", "LOAD", "return 1"], ["FUNCTION", "LOAD", "#!lua name=x\nreturn 1"],
    ["FUNCTION", "LOAD", "#!lua name=x\nredis.call('ping')"], ["FUNCTION", "LOAD", "#!js name=x\n"],
    ["FUNCTION", "LOAD", "#!lua name=x foo=bar\n"], ["FUNCTION", "LOAD", "#!lua\n"],
    ["FUNCTION", "LOAD", "#!lua name=bad-name\nredis.register_function('f', function() return 1 end)"],
    ["FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('setter', function() return 1 end)"],
    ["FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('f', function() end)\n"
                         "redis.register_function('f', function() end)"],
    ["FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='g', callback=function() end,"
                         " flags={'bad'}}"],
    ["FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('g', 5)"],
    ["FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='g'}"],
    ["FUNCTION", "LOAD", "#!lua name=x\nlocal s = string.len('abc')"],
    ["FUNCTION", "LOAD", "#!lua name=x\nretur"],
    ["FUNCTION", "LOAD", LIB2], ["FCALL", "counter", "1", "c"], ["FCALL", "counter", "1", "c"],
    ["FUNCTION", "LIST", "LIBRARYNAME", "lib2"], ["FUNCTION", "LIST", "LIBRARYNAME", "lib2", "WITHCODE"],
    ["FUNCTION", "LIST", "LIBRARYNAME"], ["FUNCTION", "LIST", "FOO"],
    ["FUNCTION", "STATS"], ["FUNCTION", "KILL"], ["FUNCTION", "DELETE", "nosuch"], ["FUNCTION", "DELETE", "lib2"],
    ["FCALL", "counter", "1", "c"], ["FUNCTION", "RESTORE", "bad"], ["FUNCTION", "FLUSH", "BAD"],
    ["FUNCTION", "LOAD", "#!lua name=e\nredis.register_function('boom', function() error('boom') end)\n"
                         "redis.register_function('rerr', function() return redis.call('incr', 'k') end)"],
    ["FCALL", "boom", "0"], ["FCALL", "rerr", "0"],
    ["FUNCTION", "FLUSH"], ["FUNCTION", "LIST"], ["FCALL", "getter", "1", "k"],
]


@test
def replies_match_redis():
    compare(CASES, resp=2)
    compare(CASES[:6], resp=3, fresh=True)


@test(timeout=120)
def libraries_survive_restart_and_kill9():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("FUNCTION", "LOAD", LIB1), b"lib1")
        assert_eq(c.call("FUNCTION", "LOAD", LIB2), b"lib2")
        assert_eq(c.call("FUNCTION", "DELETE", "lib2"), "OK")
        c.close()
        s.restart()
        c = s.conn()
        assert_eq(sorted(libs_of(c)), [b"lib1"])
        assert_eq(c.call("FCALL", "setter", "1", "k", "v1"), "OK")
        assert_eq(c.call("FUNCTION", "LOAD", LIB2), b"lib2")
        c.close()
        s.restart(kill=True)  # the WAL replays the FUNCTION LOAD after the checkpoint
        c = s.conn()
        assert_eq(sorted(libs_of(c)), [b"lib1", b"lib2"])
        assert_eq(c.call("FCALL", "counter", "1", "n"), 1)
        assert_eq(c.call("SAVE"), "OK")
        assert_eq(c.call("FUNCTION", "FLUSH"), "OK")
        c.close()
        s.restart(kill=True)
        c = s.conn()
        assert_eq(libs_of(c), {})
        c.close()


@test(timeout=120)
def function_commands_replicate_to_a_cairn_replica():
    with CairnServer() as master:
        mc = master.conn()
        mc.call("FUNCTION", "LOAD", LIB1)  # before the full sync: carried by the RDB
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica)
            mc.call("FUNCTION", "LOAD", LIB2)  # after: through the stream
            mc.call("FCALL", "counter", "1", "c")
            wait_offsets_equal(master, replica)
            rc = replica.conn()
            assert_eq(libs_of(rc), libs_of(mc))
            assert_eq(rc.call("FCALL_RO", "getter", "1", "c"), b"1")
            r = rc.call("FCALL", "counter", "1", "c")
            assert_true(is_error(r) and str(r).startswith("READONLY"), repr(r))
            mc.call("FUNCTION", "DELETE", "lib1")
            wait_offsets_equal(master, replica)
            assert_eq(sorted(libs_of(rc)), [b"lib2"])
            rc.close()
        mc.close()


@test(timeout=120)
def full_sync_carries_functions_both_ways():
    # a real Redis master, a cairn replica
    with RedisServer() as master:
        mc = master.conn()
        mc.call("FUNCTION", "LOAD", LIB1)
        mc.call("FUNCTION", "LOAD", LIB2)
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica)
            rc = replica.conn()
            assert_eq(libs_of(rc), libs_of(mc))
            assert_eq(rc.call("FCALL_RO", "getter", "1", "nokey"), None)
            rc.close()
        mc.close()
    # a cairn master, a real Redis replica
    with CairnServer() as master:
        mc = master.conn()
        mc.call("FUNCTION", "LOAD", LIB1)
        with RedisServer({"replicaof": ["127.0.0.1", master.port]}) as replica:
            wait_link_up(replica)
            rc = replica.conn()
            assert_eq(libs_of(rc), libs_of(mc))
            rc.close()
        mc.close()


@test(timeout=60)
def dump_restore_with_redis():
    with RedisServer() as redis, CairnServer() as cairn:
        r, c = redis.conn(), cairn.conn()
        r.call("FUNCTION", "LOAD", LIB1)
        c.call("FUNCTION", "LOAD", LIB2)
        from_redis, from_cairn = r.call("FUNCTION", "DUMP"), c.call("FUNCTION", "DUMP")
        assert_eq(c.call("FUNCTION", "RESTORE", from_redis), "OK")
        assert_eq(sorted(libs_of(c)), [b"lib1", b"lib2"])
        assert_true(is_error(c.call("FUNCTION", "RESTORE", from_redis)), "APPEND refuses an existing library")
        assert_eq(c.call("FUNCTION", "RESTORE", from_redis, "REPLACE"), "OK")
        assert_eq(r.call("FUNCTION", "RESTORE", from_cairn), "OK")
        assert_eq(sorted(libs_of(r)), [b"lib1", b"lib2"])
        assert_eq(c.call("FUNCTION", "RESTORE", from_redis, "FLUSH"), "OK")
        assert_eq(sorted(libs_of(c)), [b"lib1"])
        r.close()
        c.close()


if __name__ == "__main__":
    run_tests()
