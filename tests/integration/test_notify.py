"""Keyspace notifications (notify-keyspace-events): the same command
sequences against cairn and a real redis-server 7.0, with a PSUBSCRIBE *
client on each, and the events (channel and payload, in order) compared;
class masks, K/E, 'new', 'keymiss', expired events (lazy and active), events
of a served blocked client, events on a replica applying its master's stream,
and none replayed from the WAL at restart."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *                # noqa: E402,F401,F403
from differential import get_pair      # noqa: E402


def drain(sub, wait=0.3):
    out = []
    while sub.has_pending_data(wait):
        m = sub.read_reply()
        out.append(tuple(m[2:]))  # (channel, payload) of a pmessage
        wait = 0.1
    return out


def events_of(flags, cmds, setup=()):
    """Runs cmds on cairn and on redis with notify-keyspace-events = flags;
    returns (cairn events, redis events)."""
    pair = get_pair()
    pair.flush()
    res = []
    for srv in (pair.cairn, pair.redis):
        with srv.conn() as c, srv.conn() as sub:
            for cmd in setup:
                c.call(*cmd)
            assert_eq(c.call("CONFIG", "SET", "notify-keyspace-events", flags), "OK")
            assert_eq(sub.call("PSUBSCRIBE", "*"), [b"psubscribe", b"*", 1])
            for cmd in cmds:
                c.call(*cmd)
            res.append(drain(sub))
            c.call("CONFIG", "SET", "notify-keyspace-events", "")
    return res


def same_events(flags, cmds, setup=(), name=None):
    got, want = events_of(flags, cmds, setup)
    assert_eq(got, want, name or repr(cmds[:3]))
    return got


@test
def differential_every_family():
    cases = [
        # strings
        [["SET", "s", "v"], ["SET", "s", "v", "EX", "100"], ["SETNX", "s", "x"], ["SETNX", "s2", "x"],
         ["SETEX", "s3", "10", "v"], ["PSETEX", "s4", "10000", "v"], ["GETSET", "s", "w"], ["GETDEL", "s2"],
         ["GETEX", "s3", "PERSIST"], ["GETEX", "s3", "EX", "50"], ["GETEX", "s3", "PXAT", "1"],
         ["MSET", "a", "1", "b", "2"], ["MSETNX", "a", "1", "c", "3"], ["MSETNX", "d", "1", "e", "3"],
         ["INCR", "n"], ["DECR", "n"], ["INCRBY", "n", "5"], ["DECRBY", "n", "2"], ["INCRBYFLOAT", "n", "1.5"],
         ["APPEND", "ap", "x"], ["APPEND", "ap", "y"], ["SETRANGE", "sr", "3", "abc"], ["SETRANGE", "sr", "0", ""],
         ["SETBIT", "bt", "7", "1"], ["SETBIT", "bt", "7", "1"], ["BITOP", "OR", "bo", "bt", "a"],
         ["BITOP", "AND", "bo", "nokey"], ["SET", "k", "v", "KEEPTTL"], ["SET", "k", "v", "NX"]],
        # generic
        [["SET", "g", "v"], ["EXPIRE", "g", "100"], ["PEXPIRE", "g", "200000", "GT"], ["EXPIRE", "g", "1", "NX"],
         ["PERSIST", "g"], ["PERSIST", "g"], ["EXPIREAT", "g", "1"], ["SET", "g", "v"], ["RENAME", "g", "g2"],
         ["SET", "g3", "x"], ["RENAMENX", "g2", "g3"], ["RENAME", "g2", "g3"], ["COPY", "g3", "g4"],
         ["COPY", "g3", "g4", "REPLACE"], ["COPY", "g3", "g5", "DB", "1"], ["MOVE", "g4", "2"],
         ["DEL", "g3", "nokey", "g5"], ["UNLINK", "g4"], ["SET", "h", "x"], ["PEXPIREAT", "h", "1"],
         ["LPUSH", "ll", "a"], ["RENAME", "ll", "ll2"], ["COPY", "ll2", "ll3"]],
        # lists
        [["LPUSH", "l", "a", "b", "c"], ["RPUSH", "l", "d"], ["LPUSHX", "nol", "x"], ["RPUSHX", "l", "e"],
         ["LPOP", "l"], ["RPOP", "l", "2"], ["LINSERT", "l", "BEFORE", "b", "z"], ["LINSERT", "l", "BEFORE", "q", "z"],
         ["LSET", "l", "0", "y"], ["LREM", "l", "0", "nothing"], ["LREM", "l", "0", "y"], ["LMOVE", "l", "m", "LEFT", "RIGHT"],
         ["RPOPLPUSH", "m", "m"], ["LTRIM", "m", "0", "-1"], ["LTRIM", "m", "5", "10"], ["RPUSH", "p", "1", "2"],
         ["LMPOP", "2", "nol", "p", "RIGHT", "COUNT", "5"], ["RPUSH", "q", "1"], ["BLPOP", "q", "0"],
         ["RPUSH", "q", "1", "2"], ["BRPOPLPUSH", "q", "r", "0"], ["BLMOVE", "q", "r", "RIGHT", "LEFT", "0"],
         ["RPUSH", "t", "x"], ["LREM", "t", "1", "x"]],
        # sets
        [["SADD", "s", "a", "b", "c"], ["SADD", "s", "a"], ["SREM", "s", "x"], ["SREM", "s", "a"],
         ["SMOVE", "s", "t", "b"], ["SMOVE", "s", "t", "nothing"], ["SMOVE", "s", "t", "c"], ["SADD", "u", "1"],
         ["SPOP", "u"], ["SADD", "u", "1", "2", "3"], ["SPOP", "u", "1"], ["SPOP", "u", "5"],
         ["SADD", "v", "1", "2"], ["SINTERSTORE", "w", "v", "t"], ["SUNIONSTORE", "w", "v", "t"],
         ["SDIFFSTORE", "w", "v", "v"], ["SDIFFSTORE", "w", "v", "v"], ["SINTERSTORE", "w2", "v", "nokey"]],
        # sorted sets
        [["ZADD", "z", "1", "a", "2", "b", "3", "c"], ["ZADD", "z", "1", "a"], ["ZADD", "z", "5", "a"],
         ["ZINCRBY", "z", "1", "b"], ["ZADD", "z", "INCR", "1", "c"], ["ZREM", "z", "x"], ["ZREM", "z", "a"],
         ["ZADD", "y", "1", "a", "2", "b", "3", "c", "4", "d"], ["ZREMRANGEBYSCORE", "y", "1", "1"],
         ["ZREMRANGEBYRANK", "y", "0", "0"], ["ZREMRANGEBYLEX", "y", "-", "+"], ["ZADD", "y", "1", "a", "2", "b"],
         ["ZPOPMIN", "y"], ["ZPOPMAX", "y", "3"], ["ZADD", "x", "1", "a", "2", "b"], ["BZPOPMIN", "x", "0"],
         ["ZMPOP", "1", "x", "MAX"], ["ZADD", "x", "1", "a"], ["ZUNIONSTORE", "u", "2", "x", "z"],
         ["ZINTERSTORE", "u", "2", "x", "z"], ["ZDIFFSTORE", "u", "1", "x"], ["ZINTERSTORE", "u", "2", "x", "nokey"],
         ["ZRANGESTORE", "r", "z", "0", "-1"], ["ZRANGESTORE", "r", "z", "5", "6"], ["ZRANGESTORE", "r", "z", "5", "6"]],
        # hashes
        [["HSET", "h", "a", "1", "b", "2"], ["HSET", "h", "a", "1"], ["HMSET", "h", "c", "3"], ["HSETNX", "h", "a", "1"],
         ["HSETNX", "h", "d", "1"], ["HINCRBY", "h", "n", "2"], ["HINCRBYFLOAT", "h", "f", "1.5"],
         ["HDEL", "h", "zz"], ["HDEL", "h", "a", "b", "c", "d", "n"], ["HDEL", "h", "f"]],
        # sort and restore
        [["RPUSH", "sl", "3", "1", "2"], ["SORT", "sl", "STORE", "dst"], ["SORT", "nokey", "STORE", "dst"],
         ["SORT", "nokey", "STORE", "dst"], ["SET", "str", "abc"]],
        # HyperLogLog and geo (on strings and sorted sets)
        [["PFADD", "hll", "a", "b"], ["PFADD", "hll", "a"], ["PFADD", "hll2", "c"], ["PFMERGE", "hll3", "hll", "hll2"],
         ["PFCOUNT", "hll"], ["GEOADD", "g", "13.36", "38.11", "p", "15.08", "37.50", "c"],
         ["GEOSEARCHSTORE", "gs", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"],
         ["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gr"],
         ["GEOSEARCHSTORE", "gs", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"]],
    ]
    for i, cmds in enumerate(cases):
        got = same_events("KEA", cmds, name="case %d" % i)
        assert_true(len(got) > 4, "case %d has events" % i)
    # new (not part of A)
    for i, cmds in enumerate(cases):
        same_events("KEn", cmds, name="n case %d" % i)
    # keymiss (m, not part of A): misses of read-only commands
    same_events("KEm", [["GET", "missing"], ["HGET", "missing", "f"], ["EXISTS", "missing"], ["LRANGE", "m", "0", "1"],
                        ["SET", "here", "1"], ["GET", "here"], ["SMEMBERS", "m2"], ["ZSCORE", "m3", "a"]])


@test
def differential_restore_and_masks():
    pair = get_pair()
    pair.flush()
    with pair.redis.conn() as r:
        r.call("RPUSH", "src", "a", "b")
        r.call("SET", "str", "hello")
        dl = r.call("DUMP", "src")
        ds = r.call("DUMP", "str")
    cmds = [["RESTORE", "k1", "0", dl], ["RESTORE", "k1", "0", ds, "REPLACE"], ["RESTORE", "k2", "0", ds],
            ["RESTORE", "k2", "1", ds, "REPLACE", "ABSTTL"], ["RESTORE", "k3", "100000", ds]]
    for flags in ("KEA", "KEgn", "Eg", "Kl", "K$", "E", "KEx", "gls"):
        same_events(flags, cmds, name="restore with " + flags)
    basic = [["SET", "a", "1"], ["LPUSH", "l", "x"], ["SADD", "s", "x"], ["HSET", "h", "f", "v"], ["ZADD", "z", "1", "m"],
             ["EXPIRE", "a", "100"], ["DEL", "l", "s", "h", "z"], ["INCR", "a"]]
    for flags in ("KA", "EA", "KEg", "KE$", "KEl", "KEs", "KEh", "KEz", "KEx", "KEe", "KEt", "Kgz", "A", "K", ""):
        same_events(flags, basic, name="mask " + flags)


@test
def expired_events_lazy_and_active():
    with CairnServer() as s:
        c, sub = s.conn(), s.conn()
        c.call("CONFIG", "SET", "notify-keyspace-events", "KEx")
        sub.call("PSUBSCRIBE", "*")
        # active expiry
        c.call("PSETEX", "a", "50", "1")
        assert_eq(sub.read_reply(), [b"pmessage", b"*", b"__keyspace@0__:a", b"expired"])
        assert_eq(sub.read_reply(), [b"pmessage", b"*", b"__keyevent@0__:expired", b"a"])
        # lazy expiry on access (before the cycle gets to it), in db 3
        c.call("SELECT", "3")
        c.call("SET", "b", "1", "PX", "1")
        time.sleep(0.01)
        c.call("GET", "b")
        got = drain(sub)
        assert_eq(got, [(b"__keyspace@3__:b", b"expired"), (b"__keyevent@3__:expired", b"b")])
        # EXPIRE in the past is a 'del' (g), not 'expired'
        c.call("CONFIG", "SET", "notify-keyspace-events", "KEgx")
        c.call("SET", "c", "1")
        c.call("EXPIRE", "c", "-1")
        assert_eq(drain(sub), [(b"__keyspace@3__:c", b"del"), (b"__keyevent@3__:del", b"c")])


@test
def served_blocked_client_events():
    with CairnServer() as s:
        c, sub, blk = s.conn(), s.conn(), s.conn()
        c.call("CONFIG", "SET", "notify-keyspace-events", "KEl")
        sub.call("PSUBSCRIBE", "__keyevent*")
        blk.send("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0")
        time.sleep(0.2)
        c.call("LPUSH", "src", "v")
        assert_eq(blk.read_reply(), b"v")
        assert_eq(drain(sub), [(b"__keyevent@0__:lpush", b"src"), (b"__keyevent@0__:rpush", b"dst"),
                               (b"__keyevent@0__:lpop", b"src")])


@test
def events_in_multi_and_resp3():
    with CairnServer() as s:
        c, sub = s.conn(), s.conn(resp=3)
        c.call("CONFIG", "SET", "notify-keyspace-events", "E$")
        assert_eq(sub.call("SUBSCRIBE", "__keyevent@0__:set"), Push([b"subscribe", b"__keyevent@0__:set", 1]))
        c.call("MULTI")
        c.call("SET", "a", "1")
        c.call("SET", "b", "1")
        assert_eq(c.call("EXEC"), ["OK", "OK"])
        assert_eq(sub.read_reply(), Push([b"message", b"__keyevent@0__:set", b"a"]))
        assert_eq(sub.read_reply(), Push([b"message", b"__keyevent@0__:set", b"b"]))
        # a discarded transaction notifies nothing
        c.call("MULTI")
        c.call("SET", "a", "1")
        c.call("DISCARD")
        assert_true(not sub.has_pending_data(0.3))


@test
def subscribe_confirmations_under_reply_off():
    with CairnServer() as s:
        sub = s.conn()
        sub.send("CLIENT", "REPLY", "OFF")
        assert_eq(sub.call("SUBSCRIBE", "ch"), [b"subscribe", b"ch", 1])
        assert_eq(sub.call("UNSUBSCRIBE", "ch"), [b"unsubscribe", b"ch", 0])
        assert_eq(sub.call("PSUBSCRIBE", "p*"), [b"psubscribe", b"p*", 1])
        with s.conn() as c:
            assert_eq(c.call("PUBLISH", "px", "m"), 1)
        assert_eq(sub.read_reply(), [b"pmessage", b"p*", b"px", b"m"])


@test
def replica_notifies_applied_writes_not_replayed_ones():
    with CairnServer() as master:
        with CairnServer([("replicaof", ["127.0.0.1", master.port]),
                          ("notify-keyspace-events", "KEA")]) as replica:
            wait_link_up(replica, timeout=20)
            rs = replica.conn()
            rs.call("PSUBSCRIBE", "__keyevent@0__:*")
            mc = master.conn()
            mc.call("SET", "k", "v")
            mc.call("LPUSH", "l", "a")
            mc.call("DEL", "k")
            assert_eq(drain(rs, 5), [(b"__keyevent@0__:set", b"k"), (b"__keyevent@0__:lpush", b"l"),
                                     (b"__keyevent@0__:del", b"k")])
            mo = int(info(mc, "replication")["master_repl_offset"])
            other = replica.conn()
            wait_until(lambda: info(other, "replication").get("master_repl_offset") == str(mo), timeout=10)
            replica.restart()
            rs = replica.conn()
            rs.call("PSUBSCRIBE", "*")
            assert_true(not rs.has_pending_data(0.5), "the WAL replay notifies nobody")


if __name__ == "__main__":
    run_tests()
