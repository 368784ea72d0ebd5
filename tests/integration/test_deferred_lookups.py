"""Deferred lookups (engine/store.c, "deferred lookups"): a SET or MSET of a
key that is only in LMDB does not look up the value it replaces; the reader
threads do, and the key counts, the old TTL's expiry index entry and an old
collection are settled afterwards. Checked here with the threshold at 0
(every such write defers), against a real redis-server given the same
commands: DBSIZE and INFO keyspace (keys, expires), TTLs and types, an old
TTL that passes after the overwrite (the expiry cycle must not expire the new
value), an old collection not coming back, FLUSHDB and SWAPDB in the same
pipeline as deferred writes, the same counts after a graceful restart and
after kill -9, and a replica applying its master's stream deferred."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

DEFER = {"deferred-lookups-min-keys": 0}


def load(c):
    """Keys of every kind the overwrites below meet: plain, long TTL, short
    TTL (passes after the overwrite), collections."""
    cmds = [["SET", "p%d" % i, "v%d" % i] for i in range(200)]
    cmds += [["SET", "t%d" % i, "v", "EX", 1000] for i in range(50)]
    cmds += [["SET", "s%d" % i, "v", "PX", 700] for i in range(30)]
    for i in range(10):
        cmds.append(["HSET", "h%d" % i] + ["f%d" % j for j in range(40) for _ in (0, 1)])
        cmds.append(["RPUSH", "l%d" % i] + ["e%d" % j for j in range(40)])
    return cmds


def overwrite():
    cmds = [["SET", "p%d" % i, "w%d" % i] for i in range(0, 200, 2)]
    cmds += [["SET", "t%d" % i, "w"] for i in range(0, 50, 2)]        # TTL dropped
    cmds += [["SET", "t%d" % i, "w", "EX", 2000] for i in range(1, 50, 2)]  # TTL moved
    cmds += [["SET", "s%d" % i, "w"] for i in range(30)]              # old TTL passes later
    cmds += [["SET", "h%d" % i, "str"] for i in range(10)]            # collection replaced
    cmds += [["MSET"] + [x for i in range(10) for x in ("l%d" % i, "m")]]
    cmds += [["SET", "n%d" % i, "new"] for i in range(100)]           # new keys
    cmds += [["SETEX", "n%d" % i, 500, "new"] for i in range(100, 120)]
    return cmds


def counts(c):
    ks = info(c, "keyspace").get("db0", "keys=0,expires=0")
    d = dict(kv.split("=") for kv in ks.split(","))
    return c.call("DBSIZE"), int(d["keys"]), int(d["expires"])


def snapshot(c):
    keys = sorted(c.call("KEYS", "*"))
    return [(k, c.call("TYPE", k), c.call("GET", k) if c.call("TYPE", k) == b"string" else None,
             c.call("TTL", k) > 0) for k in keys]


def loaded_and_overwritten(s, r):
    """Both servers loaded, cairn's data saved into LMDB (so the overwrites
    find nothing in the overlay), then overwritten; (cairn, redis) conns."""
    c, rc = s.conn(), r.conn()
    for conn in (c, rc):
        conn.pipeline(load(conn))
    assert_eq(c.call("SAVE"), "OK")
    before = int(info_field(c, "deferred_lookups"))
    for conn in (c, rc):
        replies = conn.pipeline(overwrite())
        assert_true(all(x == "OK" for x in replies), replies[:5])
    assert_true(int(info_field(c, "deferred_lookups")) - before >= 300, "the overwrites were not deferred")
    return c, rc


@test
def counts_ttls_and_collections_settle_like_redis():
    with CairnServer(extra_config=DEFER) as s, RedisServer() as r:
        c, rc = loaded_and_overwritten(s, r)
        assert_eq(counts(c), counts(rc))
        assert_eq(snapshot(c), snapshot(rc))
        time.sleep(1.2)  # the s* keys' old TTL has passed: their new values stay
        for i in range(30):
            assert_eq(c.call("GET", "s%d" % i), b"w")
        assert_eq(counts(c), counts(rc))
        # the replaced collections are gone, not hidden: a new one starts empty
        assert_error_text(c.call("HSET", "h0", "a", "b"),
                          "WRONGTYPE Operation against a key holding the wrong kind of value")
        c.call("DEL", "h0", "l0")
        assert_eq(c.call("HSET", "h0", "a", "b"), 1)
        assert_eq(c.call("HLEN", "h0"), 1)
        assert_eq(c.call("RPUSH", "l0", "x"), 1)
        assert_eq(c.call("LRANGE", "l0", 0, -1), [b"x"])
        rc.call("DEL", "h0", "l0")
        rc.call("HSET", "h0", "a", "b")
        rc.call("RPUSH", "l0", "x")
        want = counts(rc)
        assert_eq(counts(c), want)
        deadline = time.time() + 10
        while int(info_field(c, "collections_sweep_pending")) and time.time() < deadline:
            time.sleep(0.05)
        assert_eq(int(info_field(c, "collections_sweep_pending")), 0)
        snap = snapshot(c)
        s.restart()
        c = s.conn()
        assert_eq(counts(c), want)
        assert_eq(snapshot(c), snap)


@test
def kill9_keeps_the_counts():
    with CairnServer(extra_config=DEFER) as s, RedisServer() as r:
        c, rc = loaded_and_overwritten(s, r)
        want, snap = counts(rc), snapshot(rc)
        assert_eq(counts(c), want)
        s.restart(kill=True)  # the overwrites come back by replay, deferred again
        c = s.conn()
        assert_true(int(info_field(c, "deferred_lookups")) > 0, "the replay did not defer")
        assert_eq(counts(c), want)
        assert_eq(snapshot(c), snap)


@test
def flushdb_and_swapdb_behind_deferred_writes():
    with CairnServer(extra_config=DEFER) as s, RedisServer() as r:
        c, rc = s.conn(), r.conn()
        for conn in (c, rc):
            conn.pipeline(load(conn))
        c.call("SAVE")
        # deferred writes and the commands that read or move the counts, in
        # one pipeline: one loop iteration, the lookups still out
        seq = overwrite() + [["SWAPDB", 0, 1], ["DBSIZE"], ["SELECT", 1], ["DBSIZE"]]
        seq += [["SET", "p%d" % i, "x"] for i in range(1, 200, 2)] + [["FLUSHDB"], ["DBSIZE"], ["SELECT", 0]]
        seq += overwrite()
        got, exp = c.pipeline(seq), rc.pipeline(seq)
        assert_eq(got, exp)
        assert_eq(counts(c), counts(rc))
        for conn in (c, rc):
            conn.call("SELECT", 1)
        assert_eq(counts(c), counts(rc))
        s.restart()
        c = s.conn()
        c.call("SELECT", 1)
        assert_eq(counts(c), counts(rc))


@test
def a_replica_applies_the_stream_deferred():
    with CairnServer(extra_config=DEFER) as m, \
            CairnServer([("replicaof", ["127.0.0.1", m.port]), ("deferred-lookups-min-keys", 0)]) as rep:
        mc = m.conn()
        mc.pipeline(load(mc))
        wait_link_up(rep)
        wait_offsets_equal(m, rep)
        rc = rep.conn()
        assert_eq(rc.call("SAVE"), "OK")  # the replica's copy into its LMDB
        mc.pipeline(overwrite())
        wait_offsets_equal(m, rep)
        assert_true(int(info_field(rc, "deferred_lookups")) > 0, "the replica did not defer")
        assert_eq(counts(rc), counts(mc))
        assert_eq(snapshot(rc), snapshot(mc))


@test
def off_and_below_the_threshold_nothing_defers():
    with CairnServer(extra_config={"deferred-lookups": "no", "deferred-lookups-min-keys": 0}) as s:
        c = s.conn()
        c.pipeline(load(c))
        c.call("SAVE")
        c.pipeline(overwrite())
        assert_eq(int(info_field(c, "deferred_lookups")), 0)
        assert_eq(c.call("CONFIG", "SET", "deferred-lookups", "yes"), "OK")
        assert_eq(c.call("CONFIG", "SET", "deferred-lookups-min-keys", 1000000), "OK")
        c.call("SAVE")
        c.pipeline(overwrite())
        assert_eq(int(info_field(c, "deferred_lookups")), 0)
        c.call("CONFIG", "SET", "deferred-lookups-min-keys", 0)
        c.call("SAVE")
        c.pipeline(overwrite())
        assert_true(int(info_field(c, "deferred_lookups")) > 0)
        # while the loop prefetches (bigger than RAM), the keys were just read
        # in by the readers: no deferral either
        c.call("CONFIG", "SET", "prefetch", "yes")
        time.sleep(0.3)  # (prefetch's cron turns it on)
        c.call("SAVE")
        n = int(info_field(c, "deferred_lookups"))
        c.pipeline(overwrite())
        assert_eq(int(info_field(c, "deferred_lookups")), n)
        c.call("CONFIG", "SET", "prefetch", "auto")
        # a keyspace event needs the old value: no deferral while one is on
        c.call("CONFIG", "SET", "notify-keyspace-events", "KEA")
        c.call("SAVE")
        n = int(info_field(c, "deferred_lookups"))
        c.pipeline(overwrite())
        assert_eq(int(info_field(c, "deferred_lookups")), n)


if __name__ == "__main__":
    run_tests()
