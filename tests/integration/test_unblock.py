"""CLIENT UNBLOCK and SWAPDB waking blocked clients, each scenario run on
cairn and on a real redis-server 7.0 and the observations compared.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_unblock.py [name...]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403,E402


def blocked(s):
    return int(info_field(s.conn(), "blocked_clients"))


def wait_blocked(s, n):
    wait_until(lambda: blocked(s) == n, timeout=5, msg="%d blocked" % n)


def both(scenario):
    out = {}
    for kind, cls in (("cairn", CairnServer), ("redis", RedisServer)):
        with cls() as s:
            out[kind] = scenario(s)
    assert_eq(out["cairn"], out["redis"], "cairn vs redis-server")
    return out["cairn"]


def reply_or_error(conn):
    try:
        return conn.read_reply()
    except Exception as e:  # noqa
        return "error: %s" % e


@test
def client_unblock():
    def sc(s):
        c = s.conn()
        w = s.conn()
        wid = w.call("CLIENT", "ID")
        res = []
        for pop in (["BLPOP", "l", 0], ["BRPOP", "l", 0], ["BLMOVE", "l", "d", "LEFT", "RIGHT", 0],
                    ["BZPOPMIN", "z", 0], ["BLMPOP", 0, 1, "l", "LEFT"], ["WAIT", 3, 0]):
            for mode in ([], ["TIMEOUT"], ["ERROR"], ["timeout"], ["error"]):
                w.send(*pop)
                wait_blocked(s, 1)
                res.append(c.call("CLIENT", "UNBLOCK", wid, *mode))
                r = w.read_raw_reply()
                res.append(r)
                res.append(blocked(s))
        for args in (["asd"], [wid], [c.call("CLIENT", "ID")], [99999], [-1], [wid, "foo"], [wid, "error", "x"], []):
            res.append(c.call("CLIENT", "UNBLOCK", *args))
        # still functional afterwards
        w.send("BLPOP", "l", 0)
        wait_blocked(s, 1)
        res.append(c.call("LPUSH", "l", "foo"))
        res.append(w.read_reply())
        err = c.call("INFO", "errorstats")
        res.append([l for l in err.decode().splitlines() if "UNBLOCKED" in l])
        # CLIENT REPLY OFF: nothing is sent
        w.send("CLIENT", "REPLY", "OFF")
        w.send("BLPOP", "l", 0)
        wait_blocked(s, 1)
        res.append(c.call("CLIENT", "UNBLOCK", wid, "ERROR"))
        res.append(blocked(s))
        w.send("CLIENT", "REPLY", "ON")
        res.append(w.read_reply())
        # inside MULTI nothing blocks: nothing to unblock
        return res
    both(sc)


@test
def swapdb_wakes_blocked_clients():
    def sc(s):
        c = s.conn()
        res = [c.call("SELECT", 1), c.call("RPUSH", "k", "hello"), c.call("ZADD", "z", 1, "m"),
               c.call("SET", "str", "v"), c.call("SELECT", 9)]
        w1, w2, w3, w4 = s.conn(), s.conn(), s.conn(), s.conn()
        for w in (w1, w2, w3, w4):
            w.call("SELECT", 9)
        w3id = w3.call("CLIENT", "ID")
        w1.send("BRPOP", "k", 5)
        w2.send("BZPOPMIN", "z", 5)
        w3.send("BLPOP", "str", 5)  # wrong type: stays blocked
        w4.send("BLPOP", "z", 1)    # a zset for a list pop: stays blocked, times out
        wait_blocked(s, 4)
        res.append(c.call("SWAPDB", 1, 9))
        res += [w1.read_reply(), w2.read_reply()]
        res.append(blocked(s))
        res.append(w4.read_reply())
        res.append(c.call("SWAPDB", 9, 9))
        res.append(c.call("CLIENT", "UNBLOCK", w3id))
        res.append(reply_or_error(w3))
        res.append(c.call("DBSIZE"))
        return res
    both(sc)


if __name__ == "__main__":
    run_tests()
