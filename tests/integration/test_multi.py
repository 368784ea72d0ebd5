"""MULTI / EXEC / DISCARD / WATCH / UNWATCH: replies and errors, WATCH
invalidation (another client's write, expiry, FLUSHALL, SWAPDB, collections
when they exist), runtime errors inside EXEC, SELECT inside MULTI, no
blocking inside EXEC, CLIENT LIST, RESET; a transaction is one unit in the
replication stream (MULTI ... EXEC, nothing when nothing was written), a
cairn replica applies it all or nothing, and an acknowledged EXEC survives
kill -9."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cairn_test                       # noqa: E402
from cairn_test import *                # noqa: E402,F401,F403

_n_before = len(cairn_test._TESTS)
import test_replication_master as M     # noqa: E402
del cairn_test._TESTS[_n_before:]

EXECABORT = "EXECABORT Transaction discarded because of previous errors."


@test
def replies_and_errors():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("EXEC"), Error("ERR EXEC without MULTI"))
        assert_eq(c.call("DISCARD"), Error("ERR DISCARD without MULTI"))
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("MULTI"), Error("ERR MULTI calls can not be nested"))
        assert_eq(c.call("WATCH", "x"), Error("ERR WATCH inside MULTI is not allowed"))
        r = c.call("SET", "a", "1")
        assert_true(isinstance(r, Status) and r == "QUEUED", "queued: %r" % (r,))
        assert_eq(c.call("GET", "a"), "QUEUED")
        assert_eq(c.call("EXEC"), ["OK", b"1"])
        # errors that are not queue-time errors do not abort
        assert_eq(c.call("MULTI"), "OK")
        c.call("MULTI")
        assert_eq(c.call("EXEC"), [])
        # queue-time errors: unknown command, arity, unknown subcommand, NOMULTI
        for bad in (["FOO", "x"], ["GET"], ["CLIENT", "FOO"], ["SAVE"], ["SHUTDOWN"]):
            assert_eq(c.call("MULTI"), "OK")
            assert_eq(c.call("SET", "a", "2"), "QUEUED")
            r = c.call(*bad)
            assert_true(is_error(r), "%r refused while queueing: %r" % (bad, r))
            if bad[0] in ("SAVE", "SHUTDOWN"):
                assert_eq(r, Error("ERR Command not allowed inside a transaction"))
            assert_eq(c.call("SET", "a", "3"), "QUEUED", "still queueing after an error")
            assert_eq(c.call("EXEC"), Error(EXECABORT))
            assert_eq(c.call("GET", "a"), b"1", "aborted transaction wrote nothing (%r)" % (bad,))
            assert_eq(c.call("EXEC"), Error("ERR EXEC without MULTI"), "EXECABORT ends MULTI")
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("GET"), Error("ERR wrong number of arguments for 'get' command"))
        assert_eq(c.call("FOO"), Error("ERR unknown command 'FOO', with args beginning with: "))
        assert_eq(c.call("CLIENT", "KILL"), Error("ERR wrong number of arguments for 'client|kill' command"))
        assert_eq(c.call("DISCARD"), "OK")
        # an EXEC with arguments is refused with EXECABORT and ends the transaction
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("EXEC", "x"),
                  Error("EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"))
        assert_eq(c.call("EXEC"), Error("ERR EXEC without MULTI"))
        # DISCARD drops the queue
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("SET", "a", "9"), "QUEUED")
        assert_eq(c.call("DISCARD"), "OK")
        assert_eq(c.call("GET", "a"), b"1")
        # RESP3: EXEC's array, null on a failed WATCH
        c3 = s.conn(resp=3)
        assert_eq(c3.call("MULTI"), "OK")
        c3.call("INCR", "n")
        c3.call("SET", "m", "x")
        assert_eq(c3.call_raw("EXEC"), b"*2\r\n:1\r\n+OK\r\n")


@test
def runtime_errors_inside_exec():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "s", "abc")
        assert_eq(c.call("MULTI"), "OK")
        c.call("INCR", "s")
        c.call("SET", "t", "1")
        c.call("INCRBY", "t", "x")
        c.call("INCR", "t")
        c.call("GET", "s")
        r = c.call("EXEC")
        assert_eq(r, [Error("ERR value is not an integer or out of range"), "OK",
                      Error("ERR value is not an integer or out of range"), 2, b"abc"])
        assert_eq(c.call("GET", "t"), b"2", "commands after a runtime error still ran")


@test
def select_inside_multi():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("MULTI"), "OK")
        c.call("SELECT", "3")
        c.call("SET", "k", "in3")
        c.call("SELECT", "99")
        assert_eq(c.call("EXEC"), ["OK", "OK", Error("ERR DB index is out of range")])
        assert_eq(c.call("GET", "k"), b"in3", "the client stays in db 3 after EXEC")
        c.call("SELECT", "0")
        assert_eq(c.call("GET", "k"), None)
        s.restart()
        c = s.conn()
        c.call("SELECT", "3")
        assert_eq(c.call("GET", "k"), b"in3")


@test
def watch_invalidated_by_another_client():
    with CairnServer() as s:
        a, b = s.conn(), s.conn()
        a.call("SET", "k", "1")
        assert_eq(a.call("WATCH", "k", "other"), "OK")
        assert_eq(b.call("SET", "k", "2"), "OK")
        a.call("MULTI")
        a.call("SET", "k", "from-a")
        assert_eq(a.call("EXEC"), None)
        assert_eq(a.call("GET", "k"), b"2")
        # RESP3 null
        a3 = s.conn(resp=3)
        a3.call("WATCH", "k")
        b.call("APPEND", "k", "x")
        a3.call("MULTI")
        a3.call("GET", "k")
        assert_eq(a3.call_raw("EXEC"), b"_\r\n")
        # untouched watch: EXEC runs; the watch ends at EXEC
        a.call("WATCH", "k")
        a.call("MULTI")
        a.call("SET", "k", "3")
        assert_eq(a.call("EXEC"), ["OK"])
        b.call("SET", "k", "4")
        a.call("MULTI")
        a.call("GET", "k")
        assert_eq(a.call("EXEC"), [b"4"], "WATCH ended with the EXEC")
        # own write after WATCH invalidates too (like Redis)
        a.call("WATCH", "k")
        a.call("SET", "k", "5")
        a.call("MULTI")
        a.call("GET", "k")
        assert_eq(a.call("EXEC"), None)
        # UNWATCH and DISCARD end the watch
        a.call("WATCH", "k")
        assert_eq(a.call("UNWATCH"), "OK")
        b.call("SET", "k", "6")
        a.call("MULTI")
        a.call("GET", "k")
        assert_eq(a.call("EXEC"), [b"6"])
        a.call("WATCH", "k")
        a.call("MULTI")
        a.call("DISCARD")
        b.call("SET", "k", "7")
        a.call("MULTI")
        a.call("GET", "k")
        assert_eq(a.call("EXEC"), [b"7"])
        # deleting, expiring (EXPIRE), renaming a watched key all count
        for cmd in (["DEL", "k"], ["EXPIRE", "k", "100"], ["RENAME", "k", "k2"], ["RENAME", "k2", "k"]):
            b.call("SET", "k", "v")
            if cmd[1] == "k2":
                b.call("SET", "k2", "v")
            a.call("WATCH", "k")
            b.call(*cmd)
            a.call("MULTI")
            a.call("PING")
            assert_eq(a.call("EXEC"), None, "WATCH after %r" % (cmd,))
        # a key in another db with the same name does not count
        b.call("SET", "k", "v")
        a.call("WATCH", "k")
        b.call("SELECT", "1")
        b.call("SET", "k", "other-db")
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), ["PONG"])
        # a disconnected watcher leaves nothing behind (the next watcher works)
        x = s.conn()
        x.call("WATCH", "k")
        x.close()
        time.sleep(0.1)
        b.call("SELECT", "0")
        b.call("SET", "k", "after-close")
        assert_eq(a.call("PING"), "PONG")


@test
def watch_and_expiry():
    with CairnServer() as s:
        a, b = s.conn(), s.conn()
        # a watched key that expires (logically) before EXEC fails it, even
        # though nobody touched it
        a.call("SET", "e", "v", "PX", 150)
        a.call("WATCH", "e")
        time.sleep(0.3)
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), None, "watched key expired between WATCH and EXEC")
        # a key already expired at WATCH time: its lazy deletion is no change
        a.call("SET", "st", "v", "PX", 20)
        time.sleep(0.1)
        a.call("WATCH", "st")
        assert_eq(b.call("GET", "st"), None)     # deletes it (lazy expiry)
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), ["PONG"], "stale key deleted: EXEC runs")
        # ... but creating it again counts
        a.call("SET", "st2", "v", "PX", 20)
        time.sleep(0.1)
        a.call("WATCH", "st2")
        b.call("SET", "st2", "new")
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), None, "stale key set again")
        # active expiry deleting a watched key with a TTL
        a.call("SET", "ae", "v", "PX", 100)
        a.call("WATCH", "ae")
        wait_until(lambda: b.call("DBSIZE") == 0 or b.call("EXISTS", "ae") == 0, timeout=5)
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), None)
        # a key with a far TTL does not fail EXEC
        a.call("SET", "far", "v", "EX", 1000)
        a.call("WATCH", "far")
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), ["PONG"])


@test
def watch_flush_and_swapdb():
    with CairnServer() as s:
        a, b = s.conn(), s.conn()
        a.call("SET", "k", "v")
        a.call("WATCH", "k")
        b.call("FLUSHALL")
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), None, "FLUSHALL deleted the watched key")
        # a watched key that did not exist is not touched by FLUSHALL/FLUSHDB
        b.call("SET", "other", "v")
        a.call("WATCH", "missing")
        b.call("FLUSHALL")
        b.call("SET", "other", "v")
        b.call("FLUSHDB")
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), ["PONG"], "FLUSHALL does not touch keys that did not exist")
        # SWAPDB: invalidated when the key exists in either db
        b.call("SELECT", "1")
        b.call("SET", "sw", "in1")
        a.call("WATCH", "sw")            # absent in db 0
        b.call("SWAPDB", "0", "1")
        a.call("MULTI")
        a.call("GET", "sw")
        assert_eq(a.call("EXEC"), None, "SWAPDB brought the watched key in")
        b.call("FLUSHALL")
        b.call("SELECT", "0")
        b.call("SET", "x", "1")
        a.call("WATCH", "nope")
        b.call("SWAPDB", "0", "1")
        a.call("MULTI")
        a.call("PING")
        assert_eq(a.call("EXEC"), ["PONG"], "SWAPDB of dbs without the key")


@test
def watch_collection_change():
    """Collection commands end with cairn_coll_save, which touches the key."""
    with CairnServer() as s:
        a, b = s.conn(), s.conn()
        for add, add2, rem in ((["HSET", "h", "f", "1"], ["HSET", "h", "g", "2"], ["HDEL", "h", "f", "g"]),
                               (["SADD", "st", "m1"], ["SADD", "st", "m2"], ["SREM", "st", "m1", "m2"]),
                               (["RPUSH", "l", "x"], ["RPUSH", "l", "y"], ["LPOP", "l", "2"]),
                               (["ZADD", "z", "1", "a"], ["ZADD", "z", "2", "b"], ["ZREM", "z", "a", "b"])):
            r = b.call(*add)
            assert_true(not is_error(r), "%r: %r (collection type missing?)" % (add, r))
            key = add[1]
            a.call("WATCH", key)
            b.call(*add2)
            a.call("MULTI")
            a.call("PING")
            assert_eq(a.call("EXEC"), None, "%r on a watched key" % (add2,))
            a.call("WATCH", key)
            b.call(*rem)     # the collection goes away
            assert_eq(b.call("EXISTS", key), 0)
            a.call("MULTI")
            a.call("PING")
            assert_eq(a.call("EXEC"), None, "%r emptying a watched key" % (rem,))
            # a read of the collection is no change
            b.call(*add)
            a.call("WATCH", key)
            b.call("TYPE", key)
            a.call("MULTI")
            a.call("PING")
            assert_eq(a.call("EXEC"), ["PONG"])


@test
def no_blocking_inside_exec():
    with CairnServer() as s:
        c = s.conn()
        c.call("MULTI")
        c.call("WAIT", "1", "0")           # would wait forever outside MULTI
        c.call("SET", "a", "1")
        t0 = time.time()
        r = c.call("EXEC")
        assert_eq(r, [0, "OK"])
        assert_true(time.time() - t0 < 2, "WAIT inside EXEC did not block")
        r = c.call("BLPOP", "nolist", "0") if False else None
        c.call("MULTI")
        r = c.call("BLPOP", "l", "0")
        if r == "QUEUED":
            assert_eq(c.call("EXEC"), [None], "BLPOP inside EXEC answers as on timeout")
        else:
            c.call("DISCARD")


@test
def client_list_and_reset():
    with CairnServer() as s:
        a, b = s.conn(), s.conn()
        aid = a.call("CLIENT", "ID")
        a.call("WATCH", "k")
        a.call("MULTI")
        a.call("SET", "k", "1")
        a.call("GET", "k")

        def line():
            for l in b.call("CLIENT", "LIST").decode().splitlines():
                if l.startswith("id=%d " % aid):
                    return dict(kv.split("=", 1) for kv in l.split(" "))
        d = line()
        assert_eq(d["multi"], "2")
        assert_true("x" in d["flags"], d["flags"])
        b.call("SET", "k", "2")
        d = line()
        assert_true("d" in d["flags"], "dirty CAS flag: %s" % d["flags"])
        assert_eq(a.call("RESET"), "RESET")
        d = line()
        assert_eq(d["multi"], "-1")
        assert_eq(d["flags"], "N")
        assert_eq(a.call("EXEC"), Error("ERR EXEC without MULTI"))
        # the watch ended with RESET
        a.call("MULTI")
        a.call("GET", "k")
        assert_eq(a.call("EXEC"), [b"2"])


def stream_after(r, pred, timeout=10):
    def got():
        r.pending(0.05)
        try:
            cmds = M.without_pings(M.parse_stream(r.buf))
        except (ValueError, IndexError, AssertionError):
            return None
        return cmds if pred(cmds) else None
    return wait_until(got, timeout=timeout, interval=0.01, msg=lambda: "stream: %r" % (r.buf[-300:],))


@test(timeout=120)
def transaction_is_one_unit_in_the_stream():
    with CairnServer() as s:
        c = s.conn()
        r, replid, off, rdb, framing = M.raw_full_sync(s.port)
        try:
            c.call("MULTI")
            c.call("SET", "a", "1")
            c.call("GET", "a")
            c.call("SELECT", "2")
            c.call("INCR", "b")
            assert_eq(c.call("EXEC"), ["OK", b"1", "OK", 1])
            cmds = stream_after(r, lambda cm: any(x[0].upper() == b"EXEC" for x in cm))
            cmds = [[x[0].upper()] + x[1:] for x in cmds]
            assert_eq(cmds, [[b"SELECT", b"0"], [b"MULTI"], [b"SET", b"a", b"1"], [b"SELECT", b"2"],
                             [b"INCR", b"b"], [b"EXEC"]])
            r.buf = b""
            # nothing written: nothing in the stream; a single write: no wrapper
            c.call("MULTI")
            c.call("GET", "b")
            c.call("EXEC")
            c.call("MULTI")
            c.call("GET", "b")
            c.call("SET", "c", "1")
            c.call("EXEC")
            cmds = stream_after(r, lambda cm: any(x[0].upper() == b"SET" for x in cm))
            cmds = [[x[0].upper()] + x[1:] for x in cmds]
            assert_eq(cmds, [[b"SET", b"c", b"1"]])
        finally:
            r.close()


@test(timeout=180)
def replica_applies_transactions_whole():
    """Transactions big enough to be cut by the network: a reader on the
    replica must never see half of one (a == b always)."""
    with CairnServer() as master:
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica, timeout=20)
            mc = master.conn()
            mc.call("MSET", "a", 0, "b", 0)
            stop = threading.Event()
            seen = []
            bad = []

            def reader():
                rc = replica.conn()
                while not stop.is_set():
                    v = rc.call("MGET", "a", "b")
                    seen.append(1)
                    if v[0] != v[1]:
                        bad.append(v)
            t = threading.Thread(target=reader)
            t.start()
            try:
                pad = b"p" * 40000
                n = 150
                for i in range(n):
                    mc.pipeline([["MULTI"], ["INCR", "a"], ["SET", "pad", pad], ["SET", "pad2", pad],
                                 ["INCR", "b"], ["EXEC"]])
                wait_until(lambda: replica.conn().call("GET", "b") == str(n).encode(), timeout=30)
            finally:
                stop.set()
                t.join()
            assert_eq(bad, [], "a reader on the replica saw half a transaction")
            assert_true(len(seen) > 10, "the reader ran (%d reads)" % len(seen))
            rc = replica.conn()
            assert_eq(rc.call("MGET", "a", "b"), [str(n).encode()] * 2)
            # a WATCH on the replica is invalidated by the master's write
            rc.call("WATCH", "a")
            mc.call("INCR", "a")
            mo = info(mc, "replication")["master_repl_offset"]
            wait_until(lambda: info(rc, "replication").get("master_repl_offset") == mo, timeout=10)
            rc.call("MULTI")
            rc.call("GET", "a")
            assert_eq(rc.call("EXEC"), None, "WATCH on a replica, key written by the master")
            mc.call("DECR", "a")
            wait_until(lambda: rc.call("GET", "a") == str(n).encode(), timeout=10)
            # the replica's own WAL holds whole transactions: recovery replays them
            replica.restart(kill=True)
            rc = replica.conn()
            assert_eq(rc.call("MGET", "a", "b"), [str(n).encode()] * 2)


@test(timeout=120)
def exec_survives_kill9():
    with CairnServer({"durability": "strict"}) as s:
        c = s.conn()
        cmds = [["MULTI"]] + [["SET", "k%d" % i, "v%d" % i] for i in range(200)] + [["SELECT", "1"], ["SET", "z", "1"],
                                                                                     ["EXEC"]]
        r = c.pipeline(cmds)
        assert_eq(len(r[-1]), 202)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), 200)
        assert_eq(c.call("GET", "k199"), b"v199")
        c.call("SELECT", "1")
        assert_eq(c.call("GET", "z"), b"1")


class SplittingProxy(threading.Thread):
    """Forwards a replica's link to its master, but holds the master's bytes
    right after `marker` until resume() (or drops the link with cut())."""

    def __init__(self, master_port, marker):
        super().__init__(daemon=True)
        self.master_port, self.marker = master_port, marker
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.paused, self.go = threading.Event(), threading.Event()
        self.cut_link = False
        self.done = False

    def run(self):
        while not self.done:
            try:
                rep, _ = self.lsock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.master_port))
            threading.Thread(target=self.pump, args=(rep, up, False), daemon=True).start()
            self.pump(up, rep, True)

    def pump(self, src, dst, watch):
        seen = b""
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                if watch and not self.paused.is_set():
                    seen = (seen + d)[-(len(self.marker) + 65536):]
                    i = (seen).find(self.marker)
                    if i >= 0:
                        cut = len(d) - (len(seen) - i - len(self.marker))
                        dst.sendall(d[:cut])
                        self.paused.set()
                        self.go.wait(30)
                        if self.cut_link:
                            break
                        d = d[cut:]
                dst.sendall(d)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.close()
            except OSError:
                pass

    def resume(self):
        self.go.set()

    def cut(self):
        self.cut_link = True
        self.go.set()

    def close(self):
        self.done = True
        self.go.set()
        self.lsock.close()


@test(timeout=120)
def replica_holds_a_transaction_cut_by_the_network():
    """The master's stream stops in the middle of a transaction: the replica
    applies none of it until the rest arrives; if the link drops there, the
    half transaction is discarded and the replica resyncs from before it."""
    with CairnServer() as master:
        for mode in ("resume", "cut"):
            proxy = SplittingProxy(master.port, b"half-" + mode.encode() + b"\r\n$1\r\n1\r\n")
            proxy.start()
            try:
                with CairnServer([("replicaof", ["127.0.0.1", proxy.port])]) as replica:
                    rc = replica.conn()
                    wait_link_up(replica, timeout=20)
                    mc = master.conn()
                    r = mc.pipeline([["MULTI"], ["SET", "half-" + mode, "1"], ["SET", "other-" + mode, "2"],
                                     ["EXEC"]])
                    assert_eq(r[-1], ["OK", "OK"])
                    assert_true(proxy.paused.wait(10), "the proxy saw the transaction")
                    time.sleep(0.5)
                    assert_eq(rc.call("EXISTS", "half-" + mode, "other-" + mode), 0,
                              "half a transaction visible on the replica (%s)" % mode)
                    if mode == "resume":
                        proxy.resume()
                    else:
                        proxy.cut()
                    wait_until(lambda: rc.call("EXISTS", "half-" + mode, "other-" + mode) == 2, timeout=20,
                           msg="the whole transaction arrives (%s)" % mode)
                    mo = info(mc, "replication")["master_repl_offset"]
                    wait_until(lambda: info(rc, "replication").get("master_repl_offset") == mo, timeout=20)
            finally:
                proxy.close()


@test(timeout=300)
def exec_runs_once_while_the_map_grows():
    """A big EXEC on a small map: it runs once, into the overlay (replies,
    data and published messages show it), and the store thread grows the
    map as it writes it into LMDB."""
    with CairnServer({"lmdb-map-size": "1mb", "lmdb-max-map-size": "256mb"}) as s:
        c, sub = s.conn(), s.conn()
        sub.call("SUBSCRIBE", "tx")
        c.call("SET", "counter", "10")
        val = "v" * 4000
        cmds = [["MULTI"], ["INCR", "counter"], ["PUBLISH", "tx", "start"], ["SELECT", "1"]]
        cmds += [["SET", "k%d" % i, val] for i in range(1500)]
        cmds += [["INCR", "counter"], ["PUBLISH", "tx", "end"], ["EXEC"]]
        r = c.pipeline(cmds)[-1]
        assert_eq(len(r), 1505)
        assert_eq(r[:3], [11, 1, "OK"])
        assert_true(all(x == "OK" for x in r[3:1503]), "SETs inside EXEC")
        assert_eq(r[1503:], [1, 1], "db 1's counter is new: the EXEC ran once from its start db")
        assert_eq(c.call("SAVE"), "OK")
        assert_true(int(info_field(c, "lmdb_map_grows", "persistence")) >= 1, "the map grew")
        assert_eq(sub.read_reply(), [b"message", b"tx", b"start"])
        assert_eq(sub.read_reply(), [b"message", b"tx", b"end"])
        assert_true(not sub.has_pending_data(0.3), "no message published twice")
        assert_eq(c.call("DBSIZE"), 1501, "the client is in db 1 after EXEC")
        c.call("SELECT", "0")
        assert_eq(c.call("GET", "counter"), b"11")
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("GET", "counter"), b"11")
        c.call("SELECT", "1")
        assert_eq(c.call("DBSIZE"), 1501)


@test(timeout=300)
def exec_beyond_the_map_ceiling_is_kept_and_later_writes_refused():
    """An EXEC that LMDB cannot hold at lmdb-max-map-size: it was accepted
    into the overlay and stays readable (acknowledged writes are never
    dropped); the store says it is full and refuses writes that add data
    until room comes back; deletes still work."""
    with CairnServer({"lmdb-map-size": "1mb", "lmdb-max-map-size": "4mb"}) as s:
        c = s.conn()
        val = "x" * 3000
        cmds = [["MULTI"], ["SET", "first", "1"]] + [["SET", "b%d" % i, val] for i in range(3000)] + [["EXEC"]]
        r = c.pipeline(cmds)[-1]
        assert_eq(len(r), 3001)
        assert_error(c.call("SAVE"), "ERR writing the store failed: mdb_put: MDB_MAP_FULL")
        assert_eq(info(c, "cairn")["store_full"], "1")
        assert_error(c.call("SET", "more", "1"), "OOM command not allowed: the store is full")
        assert_eq(c.call("GET", "first"), b"1")
        assert_eq(c.call("EXISTS", "b0", "b2999"), 2)
        assert_eq(c.call("DEL", "b0"), 1)


if __name__ == "__main__":
    run_tests()
