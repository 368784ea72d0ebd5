"""Client-side caching: CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO
and the invalidation messages, each scenario run on cairn and on a real
redis-server 7.0 and the raw bytes each connection receives compared.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_tracking.py [name...]
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403,E402


def drain(conn, wait=0.2):
    """Every byte the server sent to conn within `wait` seconds."""
    out = b""
    conn.sock.settimeout(wait)
    try:
        while True:
            data = conn.sock.recv(65536)
            if not data:
                break
            out += data
    except socket.timeout:
        pass
    finally:
        conn.sock.settimeout(10)
    return out


def send(conn, *args):
    conn.send(*args)


def both(scenario):
    out = {}
    for kind, cls in (("cairn", CairnServer), ("redis", RedisServer)):
        with cls() as s:
            out[kind] = scenario(s)
    assert_eq(out["cairn"], out["redis"], "cairn vs redis-server")
    return out["cairn"]


def ids_out(b, *ids):
    for i, v in enumerate(ids):
        b = b.replace(b":%d\r\n" % v, b":ID%d\r\n" % i)
    return b


@test
def errors():
    def sc(s):
        c = s.conn()
        other = s.conn()
        oid = other.call("CLIENT", "ID")
        res = []
        for args in (["foo"], ["on", "foo"], ["on", "prefix", "a"], ["on", "optin", "optout"],
                     ["on", "bcast", "optin"], ["on", "redirect", "999999"], ["on", "redirect", "x"],
                     ["on", "redirect", oid, "redirect", oid], ["on", "bcast", "prefix", "ab", "prefix", "a"],
                     ["on", "bcast", "prefix", "a", "prefix", "a"], ["on", "redirect"], ["off", "bcast"]):
            send(c, "CLIENT", "TRACKING", *args)
            res.append(drain(c, 0.05))
        for args in (["CACHING", "yes"], ["CACHING", "no"], ["GETREDIR"], ["TRACKINGINFO"]):
            send(c, "CLIENT", *args)
            res.append(drain(c, 0.05))
        for args in (["TRACKING", "on", "optin"], ["CACHING", "no"], ["CACHING", "maybe"], ["CACHING", "yes"],
                     ["TRACKINGINFO"], ["TRACKING", "on", "optout"], ["TRACKING", "on", "bcast"],
                     ["TRACKING", "off"], ["TRACKING", "on", "bcast", "prefix", "a:"],
                     ["TRACKING", "on", "bcast", "prefix", "a:b"], ["TRACKING", "on", "bcast", "prefix", "b:"],
                     ["TRACKINGINFO"], ["GETREDIR"], ["TRACKING", "on"], ["TRACKING", "off"],
                     ["TRACKING", "on", "redirect", oid, "noloop"], ["GETREDIR"], ["TRACKINGINFO"]):
            send(c, "CLIENT", *args)
            res.append(ids_out(drain(c, 0.05), oid))
        send(c, "HELLO", "3")
        drain(c, 0.05)
        send(c, "CLIENT", "TRACKINGINFO")
        res.append(ids_out(drain(c, 0.05), oid))
        send(c, "RESET")
        drain(c, 0.05)
        send(c, "CLIENT", "TRACKINGINFO")
        res.append(drain(c, 0.05))
        return res
    both(sc)


@test
def resp3_and_redirect_invalidation():
    def sc(s):
        res = []
        w = s.conn()
        a = s.conn(resp=3)
        r = s.conn()
        rid = r.call("CLIENT", "ID")
        r.call("SUBSCRIBE", "__redis__:invalidate")
        b = s.conn()
        a.call("CLIENT", "TRACKING", "on")
        b.call("CLIENT", "TRACKING", "on", "REDIRECT", rid)
        w.call("MSET", "k1", "1", "k2", "2", "h", "x")
        w.call("DEL", "h")
        w.call("HSET", "h", "f", "v")
        a.call("MGET", "k1", "k2")
        a.call("HGET", "h", "f")
        b.call("GET", "k1")
        w.call("SET", "k1", "x")       # both told
        w.call("SET", "k1", "y")       # nobody: the entry is gone
        w.call("HSET", "h", "f", "w")
        w.call("EXPIRE", "k2", "100")
        res += [drain(a), drain(r), drain(b)]
        # own writes: the message comes after the reply
        a.call("GET", "k1")
        send(a, "SET", "k1", "z")
        res.append(drain(a))
        a.call("GET", "k1")
        a.call("GET", "k2")
        send(a, "MULTI")
        send(a, "SET", "k1", "1")
        send(a, "SET", "k2", "1")
        send(a, "EXEC")
        res.append(drain(a))
        # FLUSHALL: a null to every tracking client
        a.call("GET", "k1")
        w.call("FLUSHALL")
        res += [drain(a), drain(r), drain(b)]
        send(a, "FLUSHDB")
        res.append(drain(a))
        # a broken redirection
        b.call("GET", "k1")
        r.close()
        time.sleep(0.1)
        w.call("SET", "k1", "v")
        b3 = s.conn(resp=3)
        r3 = s.conn(resp=3)
        r3id = r3.call("CLIENT", "ID")
        b3.call("CLIENT", "TRACKING", "on", "REDIRECT", r3id)
        b3.call("GET", "k1")
        r3.close()
        time.sleep(0.1)
        w.call("SET", "k1", "w")
        res.append(ids_out(drain(b3), r3id))
        send(b3, "CLIENT", "TRACKINGINFO")
        res.append(ids_out(drain(b3), r3id))
        res.append(ids_out(drain(b), rid))
        return res
    both(sc)


@test
def bcast_optin_optout_noloop():
    def sc(s):
        res = []
        w = s.conn()
        a = s.conn(resp=3)
        a.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:", "PREFIX", "b:")
        n = s.conn(resp=3)
        n.call("CLIENT", "TRACKING", "on", "BCAST", "NOLOOP")
        w.call("MSET", "a:1", "1", "b:1", "2", "c:1", "3", "a:2", "4")
        w.call("SET", "a:1", "again")
        res += [drain(a), drain(n)]
        send(n, "SET", "x", "1")
        res.append(drain(n))
        w.call("SET", "y", "1")
        res.append(drain(n))
        # OPTIN: only after CACHING yes, for the next command
        o = s.conn(resp=3)
        o.call("CLIENT", "TRACKING", "on", "OPTIN")
        o.call("GET", "k1")
        o.call("CLIENT", "CACHING", "yes")
        o.call("GET", "k2")
        o.call("GET", "k3")
        w.call("MSET", "k1", "1", "k2", "2", "k3", "3")
        res.append(drain(o))
        o.call("CLIENT", "CACHING", "yes")
        o.call("MULTI")
        o.call("GET", "k1")
        o.call("GET", "k3")
        o.call("EXEC")
        w.call("MSET", "k1", "1", "k2", "2", "k3", "3")
        res.append(drain(o))
        # OPTOUT: except after CACHING no
        p = s.conn(resp=3)
        p.call("CLIENT", "TRACKING", "on", "OPTOUT")
        p.call("CLIENT", "CACHING", "no")
        p.call("GET", "k1")
        p.call("GET", "k2")
        w.call("MSET", "k1", "1", "k2", "2")
        res.append(drain(p))
        # INFO
        inf = parse_info(w.call("INFO", "all").decode())
        res.append([inf.get(f) for f in ("tracking_clients", "tracking_total_keys", "tracking_total_items",
                                         "tracking_total_prefixes")])
        cl = w.call("CLIENT", "LIST").decode().splitlines()
        res.append(sorted(l.split(" flags=")[1].split(" ")[0] for l in cl))
        return res
    both(sc)


@test
def table_limit_and_expiry():
    def sc(s):
        res = []
        w = s.conn()
        a = s.conn(resp=3)
        a.call("CLIENT", "TRACKING", "on")
        w.call("SET", "e", "1", "PX", "50")
        a.call("GET", "e")
        time.sleep(0.4)  # the active cycle deletes it
        res.append(drain(a, 0.3))
        w.call("SET", "e", "1", "PX", "20")
        a.call("GET", "e")
        time.sleep(0.05)
        send(a, "GET", "e")  # lazily expired by its own read: the reply, then the invalidation
        res.append(drain(a, 0.3)[:20])
        for i in range(5):
            a.call("GET", "t%d" % i)
        w.call("CONFIG", "SET", "tracking-table-max-keys", "2")
        time.sleep(0.3)
        w.call("PING")
        res.append(int(info_field(w, "tracking_total_keys")))
        got = drain(a, 0.3)
        res.append(got.count(b"invalidate"))
        w.call("CONFIG", "SET", "tracking-table-max-keys", "0")
        return res
    both(sc)


if __name__ == "__main__":
    run_tests()
