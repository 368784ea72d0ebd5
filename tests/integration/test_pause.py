"""CLIENT PAUSE / CLIENT UNPAUSE (Redis 7.0 semantics), each scenario run on
cairn and on a real redis-server 7.0 and the observations compared.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_pause.py [name...]
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403,E402


def pending(conn, wait=0.15):
    """Whether a reply is still missing after `wait` seconds."""
    conn.sock.settimeout(wait)
    try:
        data = conn.sock.recv(1, socket.MSG_PEEK)
        return not data
    except socket.timeout:
        return True
    finally:
        conn.sock.settimeout(10)


def blocked(s):
    return int(info_field(s.conn(), "blocked_clients"))


def both(scenario):
    """Runs scenario(server) on cairn and on redis-server; their observation
    lists must be equal."""
    out = {}
    for kind, cls in (("cairn", CairnServer), ("redis", RedisServer)):
        with cls() as s:
            out[kind] = scenario(s)
    assert_eq(out["cairn"], out["redis"], "cairn vs redis-server")
    return out["cairn"]


@test
def errors_and_help():
    def sc(s):
        c = s.conn()
        res = []
        for args in (["PAUSE", "abc"], ["PAUSE", "-1"], ["PAUSE", "10", "foo"], ["PAUSE", "abc", "foo"],
                     ["PAUSE", "10", "write", "x"], ["UNPAUSE", "x"], ["PAUSE"], ["PAUSE", "9223372036854775807"],
                     ["SET", "after-overflow", "1"],
                     ["PAUSE", "1.5"], ["UNPAUSE"], ["PAUSE", "0"], ["PAUSE", "0", "WRITE"], ["UNPAUSE"]):
            r = c.call(*args) if args[0] == "SET" else c.call("CLIENT", *args)
            res.append(r)
        help_ = c.call("CLIENT", "HELP")
        res.append([str(l) for l in help_ if "PAUSE" in str(l).upper()])
        res.append(c.call("PING"))
        return res
    both(sc)


@test
def write_mode_pauses_writes_and_may_replicate():
    def sc(s):
        c = s.conn()
        c.call("PFADD", "h", "a")
        res = [c.call("CLIENT", "PAUSE", 100000, "WRITE")]
        # reads, admin and connection commands are not paused
        for args in (["GET", "x"], ["PING"], ["SELECT", "1"], ["SELECT", "0"], ["CONFIG", "GET", "hz"],
                     ["MULTI"], ["GET", "x"], ["PING"], ["EXEC"]):
            res.append(c.call(*args))
        res.append(blocked(s))
        waiting = []
        for args in (["SET", "a", "1"], ["PFCOUNT", "h"], ["PUBLISH", "ch", "m"], ["EXPIRE", "h", "100"],
                     ["DEL", "nokey"], ["FLUSHALL"][:0] or ["INCR", "n"]):
            w = s.conn()
            w.send(*args)
            waiting.append(w)
        wait_until(lambda: blocked(s) == len(waiting), timeout=5, msg="all paused")
        res.append([pending(w) for w in waiting])
        lst = c.call("CLIENT", "LIST").decode().splitlines()
        res.append(sorted(l.split(" flags=")[1].split(" ")[0] + " " + l.split(" cmd=")[1].split(" ")[0]
                          for l in lst if "flags=b" in l))
        res.append(c.call("GET", "a"))
        res.append(c.call("CLIENT", "UNPAUSE"))
        res.append([w.read_reply() for w in waiting])
        res.append(blocked(s))
        res.append(c.call("GET", "a"))
        return res
    both(sc)


@test
def multi_inside_pause_and_exec():
    def sc(s):
        c = s.conn()
        res = []
        # a queued write before the pause: EXEC waits
        t = s.conn()
        res += [t.call("MULTI"), t.call("SET", "foo", "bar")]
        res.append(c.call("CLIENT", "PAUSE", 100000, "WRITE"))
        t.send("EXEC")
        # a write sent inside MULTI during the pause is not queued: it waits
        u = s.conn()
        res.append(u.call("MULTI"))
        u.send("SET", "k2", "v")
        wait_until(lambda: blocked(s) == 2, timeout=5, msg="two paused")
        res += [pending(t), pending(u)]
        res.append(c.call("CLIENT", "UNPAUSE"))
        res += [t.read_reply(), u.read_reply(), u.call("EXEC"), c.call("MGET", "foo", "k2")]
        # CLIENT PAUSE inside a transaction starts at its end
        res += [c.call("MULTI"), c.call("SET", "f1", "1"), c.call("CLIENT", "PAUSE", 100000, "WRITE"),
                c.call("SET", "f2", "2"), c.call("EXEC")]
        w = s.conn()
        w.send("SET", "f3", "3")
        wait_until(lambda: blocked(s) == 1, timeout=5, msg="one paused")
        res.append(c.call("MGET", "f1", "f2", "f3"))
        # syntax errors are answered at once
        try:
            res.append(c.call("SET", "x"))
        except Exception as e:  # noqa
            res.append(str(e))
        res.append(c.call("CLIENT", "UNPAUSE"))
        res += [w.read_reply(), c.call("GET", "f3")]
        return res
    both(sc)


@test
def all_mode_and_type_change():
    def sc(s):
        c = s.conn()
        res = [c.call("CLIENT", "PAUSE", 500, "ALL")]
        r = s.conn()
        r.send("GET", "x")
        w = s.conn()
        w.send("SET", "x", "1")
        u = s.conn()
        u.send("CLIENT", "UNPAUSE")  # paused as well: everything waits
        time.sleep(0.15)
        res += [pending(r), pending(w), pending(u), blocked(s) if False else None]
        t0 = time.time()
        res += [r.read_reply(), w.read_reply(), u.read_reply()]
        res.append(0.1 < time.time() - t0 < 3.0)
        # WRITE then ALL with a shorter timeout, in one transaction: the
        # stricter type and the later end win
        res += [c.call("MULTI"), c.call("CLIENT", "PAUSE", 1000, "WRITE"), c.call("CLIENT", "PAUSE", 10, "ALL"),
                c.call("EXEC")]
        g = s.conn()
        g.send("GET", "x")
        time.sleep(0.2)
        res.append(pending(g))
        t0 = time.time()
        res.append(g.read_reply())
        res.append(0.05 < time.time() - t0 < 3.0)
        return res
    both(sc)


@test
def expiry_waits_for_the_pause():
    def sc(s):
        c = s.conn()
        before = int(info_field(c, "expired_keys"))
        res = [c.call("MULTI"), c.call("SET", "foo", "bar", "PX", 10), c.call("SET", "bar", "foo", "PX", 10),
               c.call("CLIENT", "PAUSE", 50000, "WRITE"), c.call("EXEC")]
        time.sleep(0.3)  # the active cycle would have run
        res += [c.call("GET", "foo"), c.call("GET", "bar"), c.call("EXISTS", "foo"),
                int(info_field(c, "expired_keys")) - before]
        res.append(c.call("CLIENT", "UNPAUSE"))
        res += [c.call("GET", "foo"), c.call("GET", "bar")]
        wait_until(lambda: int(info_field(c, "expired_keys")) - before == 2, timeout=5, msg="expired after")
        res.append(int(info_field(c, "expired_keys")) - before)
        return res
    both(sc)


@test
def pause_ends_by_itself_in_order():
    def sc(s):
        c = s.conn()
        res = [c.call("CLIENT", "PAUSE", 300, "WRITE")]
        ws = []
        for i in range(5):
            w = s.conn()
            w.send("RPUSH", "l", i)
            ws.append(w)
            wait_until(lambda: blocked(s) == i + 1, timeout=5, msg="paused")
        res.append([w.read_reply() for w in ws])
        res.append(c.call("LRANGE", "l", 0, -1))
        return res
    both(sc)


if __name__ == "__main__":
    run_tests()
