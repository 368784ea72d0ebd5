"""MIGRATE between cairn and cairn, and between cairn and a real redis-server
both ways: keys of every type arrive with their TTL, are deleted at the
source unless COPY (the deletion replicated as DEL), AUTH/AUTH2, REPLACE,
KEYS, and Redis's replies for a missing key, a busy key, a wrong password,
an unreachable target and bad arguments (the same from cairn and from a
real redis-server as source)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403


def fill(c):
    c.call("SET", "s", "v")
    c.call("RPUSH", "l", "a", "b", "c")
    c.call("HSET", "h", "f", "1", "g", "2")
    c.call("SADD", "set", "x", "y")
    c.call("ZADD", "z", "1", "m", "2.5", "n")
    c.call("SET", "ttl", "t", "PX", "100000")


def contents(c):
    return [c.call("GET", "s"), c.call("LRANGE", "l", 0, -1), sorted(c.call("HGETALL", "h")),
            sorted(c.call("SMEMBERS", "set")), c.call("ZRANGE", "z", 0, -1, "WITHSCORES"), c.call("GET", "ttl")]


def session(src, dst, dst_password=None):
    """The same MIGRATE session from any source to any target."""
    sc, out = src.conn(), []
    fill(sc)
    auth = ["AUTH", dst_password] if dst_password else []
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "s", 0, 1000, *auth))
    out.append(sc.call("EXISTS", "s"))
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "", 0, 1000, *auth, "KEYS", "l", "h", "nope", "set", "z", "ttl"))
    out.append(sc.call("DBSIZE"))
    dc = dst.conn(password=dst_password)
    out.append(contents(dc))
    pttl = dc.call("PTTL", "ttl")
    out.append(90000 < pttl <= 100000)
    # COPY, REPLACE, BUSYKEY
    sc.call("SET", "c", "1")
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "c", 0, 1000, "COPY", *auth))
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "c", 0, 1000, "COPY", *auth))
    sc.call("SET", "c", "2")
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "c", 0, 1000, "REPLACE", *auth))
    out.append((sc.call("EXISTS", "c"), dc.call("GET", "c")))
    # another db of the target
    sc.call("SET", "d", "x")
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "d", 5, 1000, *auth))
    dc.call("SELECT", 5)
    out.append(dc.call("GET", "d"))
    # errors
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "nope", 0, 1000))
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "x", 0, 1000, "KEYS", "a"))
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "x", 0, 1000, "BOGUS"))
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "x", "db", 1000))
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "x", 0, "t"))
    sc.call("SET", "w", "1")
    out.append(sc.call("MIGRATE", "127.0.0.1", dst.port, "w", 0, 1000, "AUTH", "wrong-password"))
    out.append(sc.call("EXISTS", "w"))
    out.append(sc.call("MIGRATE", "127.0.0.1", free_port(), "w", 0, 200))
    return out


@test
def migrate_like_redis():
    with CairnServer() as a, CairnServer() as b:
        got = session(a, b)
    with RedisServer() as a, RedisServer() as b:
        want = session(a, b)
    assert_eq(got, want)


@test
def migrate_between_cairn_and_redis():
    with CairnServer() as a, RedisServer({"requirepass": "pw"}) as b:
        got = session(a, b, dst_password="pw")
    with RedisServer() as a, CairnServer({"requirepass": "pw"}) as b:
        back = session(a, b, dst_password="pw")
    with RedisServer() as a, RedisServer({"requirepass": "pw"}) as b:
        want = session(a, b, dst_password="pw")
    assert_eq(got, want)
    assert_eq(back, want)


@test(timeout=120)
def migrate_deletion_reaches_the_replica():
    with CairnServer() as a, CairnServer() as b:
        with CairnServer([("replicaof", ["127.0.0.1", a.port])]) as r:
            wait_link_up(r, timeout=20)
            ac = a.conn()
            ac.call("SET", "k1", "1")
            ac.call("SET", "k2", "2")
            rc = r.conn()
            assert_true(wait_until(lambda: rc.call("DBSIZE") == 2, 10))
            assert_eq(ac.call("MIGRATE", "127.0.0.1", b.port, "", 0, 1000, "KEYS", "k1", "k2"), "OK")
            assert_true(wait_until(lambda: rc.call("DBSIZE") == 0, 10), "the replica kept the migrated keys")
            assert_eq(b.conn().call("MGET", "k1", "k2"), [b"1", b"2"])
            assert_eq(info_field(ac, "migrate_cached_sockets"), "0")


if __name__ == "__main__":
    run_tests(globals())
