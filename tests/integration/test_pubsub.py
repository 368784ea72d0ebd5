"""Pub/sub: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB in
RESP2 and RESP3 (push messages), counts, the RESP2 subscribed-mode
restrictions, PUBSUB subcommands, INFO and CLIENT LIST fields, the pubsub
output-buffer limit disconnecting a slow subscriber, PUBLISH inside EXEC,
and PUBLISH on a master reaching a subscriber on a cairn replica; sharded
pub/sub (SSUBSCRIBE SUNSUBSCRIBE SPUBLISH, PUBSUB SHARDCHANNELS/SHARDNUMSUB)
as Redis 7.0 has it without cluster mode, compared with a real redis-server."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *                # noqa: E402,F401,F403


CTX_ERR = ("ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
           "allowed in this context")


@test
def resp2_subscribe_publish():
    with CairnServer() as s:
        sub, pub = s.conn(), s.conn()
        assert_eq(sub.call("SUBSCRIBE", "news", "sport", "news"),
                  [b"subscribe", b"news", 1])
        assert_eq(sub.read_reply(), [b"subscribe", b"sport", 2])
        assert_eq(sub.read_reply(), [b"subscribe", b"news", 2], "a duplicate keeps the count")
        assert_eq(sub.call("PSUBSCRIBE", "n*", "s?ort"), [b"psubscribe", b"n*", 3])
        assert_eq(sub.read_reply(), [b"psubscribe", b"s?ort", 4])
        assert_eq(pub.call("PUBLISH", "news", "hello"), 2, "channel + pattern")
        assert_eq(sub.read_reply(), [b"message", b"news", b"hello"])
        assert_eq(sub.read_reply(), [b"pmessage", b"n*", b"news", b"hello"])
        assert_eq(pub.call("PUBLISH", "nothing", b"bin\x00ary"), 1)
        assert_eq(sub.read_reply(), [b"pmessage", b"n*", b"nothing", b"bin\x00ary"])
        assert_eq(pub.call("PUBLISH", "other", "x"), 0)
        assert_true(not sub.has_pending_data(0.2), "no message for an unmatched channel")
        # exact bytes of a message
        assert_eq(pub.call("PUBLISH", "sport", "goal"), 2)
        assert_eq(sub.read_raw_reply(), b"*3\r\n$7\r\nmessage\r\n$5\r\nsport\r\n$4\r\ngoal\r\n")
        assert_eq(sub.read_raw_reply(), b"*4\r\n$8\r\npmessage\r\n$5\r\ns?ort\r\n$5\r\nsport\r\n$4\r\ngoal\r\n")
        # subscribed-mode restrictions and PING
        assert_eq(sub.call("GET", "x"), Error(CTX_ERR % "get"))
        assert_eq(sub.call("PUBSUB", "NUMPAT"), Error(CTX_ERR % "pubsub|numpat"))
        assert_eq(sub.call("MULTI"), Error(CTX_ERR % "multi"))
        assert_eq(sub.call("EXEC"), Error("EXECABORT Transaction discarded because of: " + CTX_ERR[4:] % "exec"))
        assert_eq(sub.call_raw("PING"), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        assert_eq(sub.call("PING", "hi"), [b"pong", b"hi"])
        # unsubscribing
        assert_eq(sub.call("UNSUBSCRIBE", "news", "nope"), [b"unsubscribe", b"news", 3])
        assert_eq(sub.read_reply(), [b"unsubscribe", b"nope", 3])
        # unsubscribe-all order is the server's table order: compare as sets
        r = [sub.call("PUNSUBSCRIBE"), sub.read_reply()]
        assert_eq(sorted(x[1] for x in r), [b"n*", b"s?ort"])
        assert_eq(sorted(x[2] for x in r), [1, 2])
        assert_eq(sub.call("UNSUBSCRIBE"), [b"unsubscribe", b"sport", 0])
        # back to normal mode
        assert_eq(sub.call("PING"), "PONG")
        assert_eq(sub.call("GET", "x"), None)
        assert_eq(sub.call_raw("UNSUBSCRIBE"), b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n")
        assert_eq(sub.call_raw("PUNSUBSCRIBE"), b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n")
        assert_eq(pub.call("PUBLISH", "news", "x"), 0)


@test
def resp3_push_messages():
    with CairnServer() as s:
        sub, pub = s.conn(resp=3), s.conn()
        assert_eq(sub.call_raw("SUBSCRIBE", "c"), b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n")
        r = sub.call("PSUBSCRIBE", "c*")
        assert_true(isinstance(r, Push), "RESP3 subscribe reply is a push: %r" % (r,))
        # RESP3 clients may run anything while subscribed
        assert_eq(sub.call("SET", "k", "v"), "OK")
        assert_eq(sub.call("PING"), "PONG")
        assert_eq(pub.call("PUBLISH", "c", "m"), 2)
        assert_eq(sub.read_raw_reply(), b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n")
        assert_eq(sub.read_raw_reply(), b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$1\r\nc\r\n$1\r\nm\r\n")
        # publishing to itself: the messages come before the PUBLISH reply
        sub.send("PUBLISH", "c", "self")
        assert_eq(sub.read_raw_reply(), b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\nself\r\n")
        assert_eq(sub.read_raw_reply(), b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$1\r\nc\r\n$4\r\nself\r\n")
        assert_eq(sub.read_raw_reply(), b":2\r\n")
        assert_eq(sub.call_raw("UNSUBSCRIBE", "c"), b">3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:1\r\n")
        assert_eq(sub.call_raw("UNSUBSCRIBE"), b">3\r\n$11\r\nunsubscribe\r\n_\r\n:1\r\n")


@test
def pubsub_subcommands_info_client_list():
    with CairnServer() as s:
        a, b, c = s.conn(), s.conn(), s.conn()
        a.call("SUBSCRIBE", "ch1", "ch2")
        a.read_reply()
        b.call("SUBSCRIBE", "ch2", "other")
        b.read_reply()
        b.call("PSUBSCRIBE", "ch*", "x*")
        b.read_reply()
        assert_eq(sorted(c.call("PUBSUB", "CHANNELS")), [b"ch1", b"ch2", b"other"])
        assert_eq(sorted(c.call("PUBSUB", "CHANNELS", "ch*")), [b"ch1", b"ch2"])
        assert_eq(c.call("PUBSUB", "CHANNELS", "zz*"), [])
        assert_eq(c.call("PUBSUB", "NUMSUB", "ch1", "ch2", "none"), [b"ch1", 1, b"ch2", 2, b"none", 0])
        assert_eq(c.call("PUBSUB", "NUMSUB"), [])
        assert_eq(c.call("PUBSUB", "NUMPAT"), 2)
        assert_eq(c.call("PUBSUB", "SHARDCHANNELS"), [])
        assert_eq(c.call("PUBSUB", "SHARDNUMSUB", "x"), [b"x", 0])
        help_ = c.call("PUBSUB", "HELP")
        assert_eq(help_[0], "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        assert_eq(len(help_), 14)
        assert_eq(c.call("PUBSUB", "FOO"), Error("ERR unknown subcommand 'FOO'. Try PUBSUB HELP."))
        assert_eq(c.call("PUBSUB"), Error("ERR wrong number of arguments for 'pubsub' command"))
        assert_eq(c.call("PUBSUB", "NUMPAT", "x"), Error("ERR wrong number of arguments for 'pubsub|numpat' command"))
        assert_eq(c.call("PUBSUB", "CHANNELS", "a", "b"),
                  Error("ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."))
        assert_eq(c.call("PUBLISH", "ch2", "m"), 3)
        i = info(c, "stats")
        assert_eq((i["pubsub_channels"], i["pubsub_patterns"]), ("3", "2"))
        lines = c.call("CLIENT", "LIST").decode().splitlines()
        fields = [dict(kv.split("=", 1) for kv in l.split(" ")) for l in lines]
        subs = sorted((f["sub"], f["psub"], f["flags"]) for f in fields)
        assert_eq(subs, [("0", "0", "N"), ("2", "0", "P"), ("2", "2", "P")])
        assert_eq(c.call("CLIENT", "LIST", "TYPE", "pubsub").decode().count("\n"), 2)
        # a closed subscriber leaves nothing behind
        b.close()
        wait_until(lambda: c.call("PUBSUB", "NUMPAT") == 0, timeout=5)
        assert_eq(c.call("PUBSUB", "NUMSUB", "ch2", "other"), [b"ch2", 1, b"other", 0])
        assert_eq(sorted(c.call("PUBSUB", "CHANNELS")), [b"ch1", b"ch2"])
        # RESET unsubscribes quietly
        assert_eq(a.read_reply(), [b"message", b"ch2", b"m"])
        assert_eq(a.call("RESET"), "RESET")
        assert_eq(c.call("PUBSUB", "CHANNELS"), [])
        i = info(c, "stats")
        assert_eq((i["pubsub_channels"], i["pubsub_patterns"]), ("0", "0"))


@test
def publish_inside_exec():
    with CairnServer() as s:
        sub, pub = s.conn(), s.conn()
        sub.call("SUBSCRIBE", "t")
        pub.call("MULTI")
        pub.call("PUBLISH", "t", "1")
        pub.call("SET", "k", "v")
        pub.call("PUBLISH", "t", "2")
        assert_eq(pub.call("EXEC"), [1, "OK", 1])
        assert_eq(sub.read_reply(), [b"message", b"t", b"1"])
        assert_eq(sub.read_reply(), [b"message", b"t", b"2"])
        # SUBSCRIBE inside MULTI (RESP2): the client ends up subscribed
        c = s.conn()
        c.call("MULTI")
        c.call("SUBSCRIBE", "u")
        assert_eq(c.call("EXEC"), [[b"subscribe", b"u", 1]])
        assert_eq(pub.call("PUBLISH", "u", "x"), 1)
        assert_eq(c.read_reply(), [b"message", b"u", b"x"])


@test(timeout=120)
def slow_subscriber_disconnected():
    with CairnServer([("client-output-buffer-limit", ["pubsub", "1mb", "256kb", "1"])]) as s:
        pub = s.conn()
        raw = socket.create_connection(("127.0.0.1", s.port))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(encode_command("SUBSCRIBE", "flood"))
        time.sleep(0.2)
        assert_eq(pub.call("PUBSUB", "NUMSUB", "flood"), [b"flood", 1])
        msg = b"x" * 65536
        # a normal subscriber that reads keeps up
        good = s.conn()
        good.call("SUBSCRIBE", "flood")
        for i in range(200):
            pub.call("PUBLISH", "flood", msg)
            good.read_reply()
        wait_until(lambda: pub.call("PUBSUB", "NUMSUB", "flood") == [b"flood", 1], timeout=10,
                   msg="the subscriber that does not read was disconnected")
        assert_true(pub.call("PING") == "PONG")
        # the reader is still there and gets messages
        assert_eq(pub.call("PUBLISH", "flood", "last"), 1)
        assert_eq(good.read_reply(), [b"message", b"flood", b"last"])
        assert_true("closed for overcoming of output buffer limits" in s.log_text(), "log line")
        raw.close()


@test(timeout=120)
def publish_reaches_replica_subscribers():
    with CairnServer() as master:
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica, timeout=20)
            rs = replica.conn()
            rs.call("SUBSCRIBE", "events")
            rp = replica.conn(resp=3)
            rp.call("PSUBSCRIBE", "ev*")
            mc = master.conn()
            mc.call("SET", "k", "v")
            assert_eq(mc.call("PUBLISH", "events", "from-master"), 0, "no subscriber on the master")
            assert_eq(rs.read_reply(), [b"message", b"events", b"from-master"])
            assert_eq(rp.read_raw_reply(), b">4\r\n$8\r\npmessage\r\n$3\r\nev*\r\n$6\r\nevents\r\n$11\r\nfrom-master\r\n")
            # a PUBLISH on the replica stays local (the replica's stream is its master's)
            other = replica.conn()
            assert_eq(other.call("PUBLISH", "events", "local"), 2)
            assert_eq(rs.read_reply(), [b"message", b"events", b"local"])
            mo = int(info(mc, "replication")["master_repl_offset"])
            wait_until(lambda: info(other, "replication").get("master_repl_offset") == str(mo), timeout=10)
            # restarting the replica replays its WAL: no message is delivered again
            replica.restart()
            rs = replica.conn()
            rs.call("SUBSCRIBE", "events")
            assert_true(not rs.has_pending_data(0.5), "no replayed PUBLISH delivered")


def _shard_session(s):
    """The same sharded pub/sub session against any server; returns every
    reply in order."""
    out = []
    sub, pub = s.conn(), s.conn()
    out.append(sub.call("SSUBSCRIBE", "chan1", "chan2", "chan1"))
    out += [sub.read_reply(), sub.read_reply()]
    out.append(pub.call("SPUBLISH", "chan1", "hello"))
    out.append(sub.read_reply())
    out.append(pub.call("PUBLISH", "chan1", "plain"))       # another namespace: no receiver
    out.append(sorted(pub.call("PUBSUB", "SHARDCHANNELS")))  # table order
    out.append(pub.call("PUBSUB", "SHARDCHANNELS", "*2"))
    out.append(pub.call("PUBSUB", "SHARDNUMSUB", "chan1", "nope"))
    out.append(pub.call("PUBSUB", "CHANNELS"))
    out.append(sub.call("SUBSCRIBE", "plain"))               # counts channels and patterns only
    out.append(sub.call("GET", "x"))                        # subscribed context
    out.append(sub.call("SUNSUBSCRIBE", "chan2", "nope"))
    out.append(sub.read_reply())
    out.append(pub.call("SPUBLISH", "chan2", "gone"))
    out.append(sub.call("SUNSUBSCRIBE"))
    out.append(sub.call("SUNSUBSCRIBE"))
    out.append(sub.call("UNSUBSCRIBE"))
    out.append(sub.call("PING"))                            # back to normal mode
    c3 = s.conn(resp=3)
    out.append(c3.call("SSUBSCRIBE", "r3"))
    out.append(pub.call("SPUBLISH", "r3", "push"))
    out.append(c3.read_raw_reply())
    m = s.conn()
    out.append(m.call("MULTI"))
    out.append(m.call("SSUBSCRIBE", "inmulti"))
    out.append(m.call("EXEC"))
    out.append(pub.call("COMMAND", "GETKEYS", "SSUBSCRIBE", "a", "b"))
    out.append(pub.call("COMMAND", "GETKEYS", "SPUBLISH", "a", "m"))
    return out


@test
def sharded_pubsub_like_redis():
    with CairnServer() as s:
        got = _shard_session(s)
        c = s.conn()
        r = s.conn()
        r.call("SSUBSCRIBE", "a", "b")
        r.read_reply()
        assert_eq(info_field(c, "pubsubshard_channels"), "2")  # a, b (the session's clients are gone)
        assert_true("ssub=2" in c.call("CLIENT", "LIST").decode(), "CLIENT LIST ssub=")
    with RedisServer() as redis:
        want = _shard_session(redis)
    assert_eq(got, want)


@test(timeout=120)
def spublish_reaches_replica_shard_subscribers():
    with CairnServer() as master:
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica, timeout=20)
            rs = replica.conn()
            assert_eq(rs.call("SSUBSCRIBE", "orders"), [b"ssubscribe", b"orders", 1])
            assert_eq(master.conn().call("SPUBLISH", "orders", "o1"), 0)
            assert_eq(rs.read_reply(), [b"smessage", b"orders", b"o1"])


if __name__ == "__main__":
    run_tests()
