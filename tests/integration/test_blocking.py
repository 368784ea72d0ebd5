"""Blocking list commands: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.

Timeouts, fairness, wake-up in the middle of another client's pipeline,
propagation of the served pops (checked by replaying the backlog after a
kill -9), disconnects, many keys.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403,E402


def blocked_count(s, cmd):
    text = s.conn().call("CLIENT", "LIST")
    return sum(1 for line in text.decode().splitlines() if ("cmd=%s " % cmd) in line)


def wait_blocked(s, cmd, n):
    wait_until(lambda: blocked_count(s, cmd) >= n, timeout=5, msg="%d clients blocked in %s" % (n, cmd))


@test
def timeouts():
    with CairnServer() as s:
        c = s.conn()
        t0 = time.time()
        assert_eq(c.call("BLPOP", "nk", "0.3"), None)
        dt = time.time() - t0
        assert_true(0.25 <= dt < 1.5, "BLPOP 0.3 took %.3f s" % dt)
        t0 = time.time()
        assert_eq(c.call_raw("BRPOP", "nk", "nk2", "0.05"), b"*-1\r\n")
        assert_true(time.time() - t0 < 1.0)
        # every list blocking command times out with a null array (Redis 7.0)
        assert_eq(c.call_raw("BLMOVE", "nk", "d", "left", "right", "0.05"), b"*-1\r\n")
        assert_eq(c.call_raw("BRPOPLPUSH", "nk", "d", "0.05"), b"*-1\r\n")
        assert_eq(c.call_raw("BLMPOP", "0.05", 2, "nk", "nk2", "left", "count", 3), b"*-1\r\n")
        assert_eq(c.call("EXISTS", "d"), 0)
        c3 = s.conn(resp=3)
        assert_eq(c3.call_raw("BLPOP", "nk", "0.05"), b"_\r\n")
        assert_eq(c3.call_raw("BRPOPLPUSH", "nk", "d", "0.05"), b"_\r\n")
        # timeout errors
        assert_error(c.call("BLPOP", "k", "-1"), "ERR timeout is negative")
        assert_error(c.call("BLPOP", "k", "abc"), "ERR timeout is not a float or out of range")
        assert_error(c.call("BLPOP", "k", "nan"), "ERR timeout is not a float or out of range")
        assert_error(c.call("BLMOVE", "a", "b", "left", "left", "-0.5"), "ERR timeout is negative")
        assert_error(c.call("BRPOPLPUSH", "a", "b", "x"), "ERR timeout is not a float or out of range")
        assert_error(c.call("BLMPOP", "x", 1, "a", "left"), "ERR timeout is not a float or out of range")
        # a pipelined command behind a timed-out one runs after it
        c.send("BLPOP", "nk", "0.1")
        c.send("PING")
        assert_eq(c.read_reply(), None)
        assert_eq(c.read_reply(), "PONG")


@test
def served_immediately_and_on_push():
    with CairnServer() as s:
        c, p = s.conn(), s.conn()
        p.call("RPUSH", "k", "a", "b")
        assert_eq(c.call("BLPOP", "nope", "k", 0), [b"k", b"a"])
        assert_eq(c.call("BRPOP", "k", 0), [b"k", b"b"])
        assert_eq(c.call("EXISTS", "k"), 0)
        c.send("BRPOP", "k", "k2", 5)
        wait_blocked(s, "brpop", 1)
        assert_eq(p.call("LPUSH", "k2", "x", "y", "z"), 3)
        assert_eq(c.read_reply(), [b"k2", b"x"])   # served from the tail, right after the push
        assert_eq(p.call("LRANGE", "k2", 0, -1), [b"z", b"y"])
        # the blocked client's pipelined commands run once it is served
        c.send_raw(encode_command("BLPOP", "q", 0) + encode_command("PING") + encode_command("LLEN", "q"))
        wait_blocked(s, "blpop", 1)
        assert_false = not c.has_pending_data(0.1)
        assert_true(assert_false, "no reply while blocked")
        p.call("RPUSH", "q", "v")
        assert_eq(c.read_reply(), [b"q", b"v"])
        assert_eq(c.read_reply(), "PONG")
        assert_eq(c.read_reply(), 0)
        # RESP3 form of a served pop
        c3 = s.conn(resp=3)
        c3.send("BLPOP", "r3", 5)
        wait_blocked(s, "blpop", 1)
        p.call("RPUSH", "r3", "e")
        assert_eq(c3.read_raw_reply(), b"*2\r\n$2\r\nr3\r\n$1\r\ne\r\n")


@test
def fairness_three_clients():
    with CairnServer() as s:
        p = s.conn()
        cs = [s.conn() for _ in range(3)]
        for i, c in enumerate(cs):
            c.send("BLPOP", "k", 10)
            wait_blocked(s, "blpop", i + 1)   # block in a known order
        assert_eq(p.call("RPUSH", "k", "one"), 1)
        assert_eq(cs[0].read_reply(), [b"k", b"one"])
        assert_true(not cs[1].has_pending_data(0.1) and not cs[2].has_pending_data(0))
        # the client that blocked first is served first, once each
        assert_eq(p.call("RPUSH", "k", "two", "three", "four"), 3)
        assert_eq(cs[1].read_reply(), [b"k", b"two"])
        assert_eq(cs[2].read_reply(), [b"k", b"three"])
        assert_eq(p.call("LRANGE", "k", 0, -1), [b"four"])
        # a client that is not served keeps its place: c0 and c1 block, one
        # element is pushed (c0 served), c2 blocks, the next goes to c1
        p.call("DEL", "k")
        cs[0].send("BLPOP", "k", 10)
        wait_blocked(s, "blpop", 1)
        cs[1].send("BLPOP", "k", 10)
        wait_blocked(s, "blpop", 2)
        p.call("RPUSH", "k", "a")
        assert_eq(cs[0].read_reply(), [b"k", b"a"])
        cs[2].send("BLPOP", "k", 10)
        wait_blocked(s, "blpop", 2)
        p.call("RPUSH", "k", "b")
        assert_eq(cs[1].read_reply(), [b"k", b"b"])
        assert_true(not cs[2].has_pending_data(0.1))
        p.call("RPUSH", "k", "c")
        assert_eq(cs[2].read_reply(), [b"k", b"c"])
        # BLMPOP with COUNT takes what there is; the next waiter waits on
        cs[0].send("BLMPOP", 10, 1, "m", "left", "count", 5)
        wait_blocked(s, "blmpop", 1)
        cs[1].send("BLPOP", "m", 10)
        wait_blocked(s, "blpop", 1)
        p.call("RPUSH", "m", 1, 2)
        assert_eq(cs[0].read_reply(), [b"m", [b"1", b"2"]])
        assert_true(not cs[1].has_pending_data(0.1))
        p.call("RPUSH", "m", 3)
        assert_eq(cs[1].read_reply(), [b"m", b"3"])


@test
def wakeup_inside_pipeline():
    with CairnServer() as s:
        c, p = s.conn(), s.conn()
        c.send("BLPOP", "k", 10)
        wait_blocked(s, "blpop", 1)
        # the blocked client is served right after RPUSH, before LLEN runs
        r = p.pipeline([["RPUSH", "k", "a"], ["LLEN", "k"], ["RPUSH", "k", "b", "c"], ["LRANGE", "k", 0, -1]])
        assert_eq(r, [1, 0, 2, [b"b", b"c"]])
        assert_eq(c.read_reply(), [b"k", b"a"])
        # a pushing LMOVE wakes a client blocked on its destination
        c.send("BRPOP", "dst", 10)
        wait_blocked(s, "brpop", 1)
        r = p.pipeline([["LMOVE", "k", "dst", "left", "left"], ["EXISTS", "dst"], ["LRANGE", "k", 0, -1]])
        assert_eq(r, [b"b", 0, [b"c"]])
        assert_eq(c.read_reply(), [b"dst", b"b"])


@test
def blmove_between_lists():
    with CairnServer() as s:
        p = s.conn()
        a, b, c = s.conn(), s.conn(), s.conn()
        a.send("BLMOVE", "l1", "l2", "right", "left", 10)
        wait_blocked(s, "blmove", 1)
        b.send("BRPOPLPUSH", "l2", "l3", 10)
        wait_blocked(s, "brpoplpush", 1)
        c.send("BLPOP", "l3", 10)
        wait_blocked(s, "blpop", 1)
        # one push travels down the chain l1 -> l2 -> l3 -> c
        assert_eq(p.call("RPUSH", "l1", "x", "y"), 2)
        assert_eq(a.read_reply(), b"y")
        assert_eq(b.read_reply(), b"y")
        assert_eq(c.read_reply(), [b"l3", b"y"])
        assert_eq(p.call("LRANGE", "l1", 0, -1), [b"x"])
        assert_eq(p.call("EXISTS", "l2", "l3"), 0)
        # served immediately, and onto the same list (rotation)
        assert_eq(a.call("BLMOVE", "l1", "l1", "left", "right", 0), b"x")
        p.call("RPUSH", "rot", 1, 2, 3)
        assert_eq(a.call("BLMOVE", "rot", "rot", "left", "right", 0), b"1")
        assert_eq(p.call("LRANGE", "rot", 0, -1), [b"2", b"3", b"1"])
        # wrong type destination: the woken client gets WRONGTYPE
        p.call("SET", "str", "v")
        a.send("BLMOVE", "src", "str", "left", "left", 10)
        wait_blocked(s, "blmove", 1)
        p.call("RPUSH", "src", "e")
        assert_error(a.read_reply(), "WRONGTYPE")
        assert_eq(p.call("LRANGE", "src", 0, -1), [b"e"])


@test(timeout=120)
def propagation_replayed_after_kill():
    with CairnServer({"durability": "strict"}) as s:
        p = s.conn()
        c1, c2, c3, c4 = s.conn(), s.conn(), s.conn(), s.conn()
        c1.send("BLPOP", "k", 10)
        wait_blocked(s, "blpop", 1)
        c2.send("BRPOP", "k", 10)
        wait_blocked(s, "brpop", 1)
        c3.send("BLMPOP", 10, 1, "k", "left", "count", 2)
        wait_blocked(s, "blmpop", 1)
        c4.send("BLMOVE", "k", "moved", "right", "left", 10)
        wait_blocked(s, "blmove", 1)
        assert_eq(p.call("RPUSH", "k", *"abcdefg"), 7)
        got = [c1.read_reply(), c2.read_reply(), c3.read_reply(), c4.read_reply()]
        assert_eq(got, [[b"k", b"a"], [b"k", b"g"], [b"k", [b"b", b"c"]], b"f"])
        rest = p.call("LRANGE", "k", 0, -1)
        assert_eq(rest, [b"d", b"e"])
        # served immediately: same propagation path
        assert_eq(c1.call("BLMPOP", 0, 1, "k", "right", "count", 1), [b"k", [b"e"]])
        assert_eq(c1.call("BRPOPLPUSH", "k", "moved", 0), b"d")
        s.restart(kill=True)
        # the stream holds the non-blocking forms Redis 7.0 propagates
        tool = os.path.join(os.environ.get("CAIRN_BUILD_DIR", os.path.dirname(cairn_binary())), "cairn-backlog")
        out = subprocess.run([tool, "dump", os.path.join(s.dir, "backlog")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE).stdout.decode()
        cmds = [line.split(" ", 2)[2] for line in out.splitlines() if line[:1].isdigit()]
        assert_eq(cmds, ['"SELECT" "0"', '"RPUSH" "k" "a" "b" "c" "d" "e" "f" "g"', '"LPOP" "k"', '"RPOP" "k"',
                         '"LPOP" "k" "2"', '"LMOVE" "k" "moved" "right" "left"', '"RPOP" "k" "1"',
                         '"RPOPLPUSH" "k" "moved"'])
        q = s.conn()
        assert_eq(q.call("EXISTS", "k"), 0)
        assert_eq(q.call("LRANGE", "moved", 0, -1), [b"d", b"f"])
        s.restart()
        assert_eq(s.conn().call("LRANGE", "moved", 0, -1), [b"d", b"f"])


@test
def disconnect_while_blocked():
    with CairnServer() as s:
        p = s.conn()
        c = s.conn()
        c.send("BLPOP", "k", 0)
        wait_blocked(s, "blpop", 1)
        c.close()
        wait_until(lambda: blocked_count(s, "blpop") == 0, timeout=5)
        assert_eq(p.call("RPUSH", "k", "a"), 1)
        assert_eq(p.call("LLEN", "k"), 1)
        # CLIENT KILL of a blocked client
        c = s.conn()
        cid = c.call("CLIENT", "ID")
        c.send("BRPOP", "k2", "k3", 0)
        wait_blocked(s, "brpop", 1)
        assert_eq(p.call("CLIENT", "KILL", "ID", cid), 1)
        assert_true(c.is_closed_by_server(2.0))
        assert_eq(p.call("RPUSH", "k2", "x"), 1)
        assert_eq(p.call("LLEN", "k2"), 1)
        # a killed client among others: the next in line is served
        a, b = s.conn(), s.conn()
        aid = a.call("CLIENT", "ID")
        a.send("BLPOP", "q", 0)
        wait_blocked(s, "blpop", 1)
        b.send("BLPOP", "q", 0)
        wait_blocked(s, "blpop", 2)
        p.call("CLIENT", "KILL", "ID", aid)
        p.call("RPUSH", "q", "v")
        assert_eq(b.read_reply(), [b"q", b"v"])


@test
def many_keys_and_clients():
    with CairnServer() as s:
        p = s.conn()
        c = s.conn()
        keys = ["key:%d" % i for i in range(200)]
        c.send("BLPOP", *keys, 10)
        wait_blocked(s, "blpop", 1)
        p.call("RPUSH", "key:157", "v")
        assert_eq(c.read_reply(), [b"key:157", b"v"])
        # the client left every other key's queue
        p.call("RPUSH", "key:3", "w")
        assert_eq(p.call("LLEN", "key:3"), 1)
        # 50 clients, each on its own key, all woken by one pipeline
        cs = [s.conn() for _ in range(50)]
        for i, cc in enumerate(cs):
            cc.send("BRPOP", "w:%d" % i, "shared", 10)
        wait_blocked(s, "brpop", 50)
        p.pipeline([["RPUSH", "w:%d" % i, "v%d" % i] for i in range(50)])
        for i, cc in enumerate(cs):
            assert_eq(cc.read_reply(), [("w:%d" % i).encode(), ("v%d" % i).encode()])
        # same key twice in one BLPOP
        c.send("BLPOP", "dup", "dup", 10)
        wait_blocked(s, "blpop", 1)
        p.call("RPUSH", "dup", 1, 2)
        assert_eq(c.read_reply(), [b"dup", b"1"])
        assert_eq(p.call("LRANGE", "dup", 0, -1), [b"2"])
        # select: blocking is per db
        c.call("SELECT", 1)
        c.send("BLPOP", "dbk", 10)
        wait_blocked(s, "blpop", 1)
        p.call("RPUSH", "dbk", "db0")
        assert_true(not c.has_pending_data(0.1))
        p.call("SELECT", 1)
        p.call("RPUSH", "dbk", "db1")
        assert_eq(c.read_reply(), [b"dbk", b"db1"])
        assert_eq(p.call("LLEN", "dbk"), 0)


@test(timeout=120)
def served_on_writable_replica():
    # Redis serves clients blocked on a replica when the master's stream
    # makes their key ready (only possible with replica-read-only no)
    with CairnServer() as m:
        with CairnServer([("replicaof", ["127.0.0.1", m.port]), ("replica-read-only", "no")]) as r:
            wait_link_up(r, timeout=30)
            c = r.conn()
            c.send("BLPOP", "k", 10)
            wait_blocked(r, "blpop", 1)
            m.conn().call("RPUSH", "k", "a", "b")
            assert_eq(c.read_reply(), [b"k", b"a"])
            wait_until(lambda: r.conn().call("LRANGE", "k", 0, -1) == [b"b"], timeout=5)
            assert_eq(m.conn().call("LRANGE", "k", 0, -1), [b"a", b"b"])
            # read-only replica: blocking pops are writes, refused
            r.conn().call("CONFIG", "SET", "replica-read-only", "yes")
            assert_error(r.conn().call("BLPOP", "k", 1), "READONLY")


@test
def multi_exec_serves_after_exec():
    with CairnServer() as s:
        p = s.conn()
        assert_true(p.call("COMMAND", "INFO", "multi") != [None], "MULTI is missing from this build")
        c = s.conn()
        c.send("BLPOP", "q", 10)
        wait_blocked(s, "blpop", 1)
        # the blocked client is served after EXEC, not in the middle of it
        r = p.pipeline([["MULTI"], ["RPUSH", "q", "a"], ["LLEN", "q"], ["RPUSH", "q", "b"], ["EXEC"],
                        ["LRANGE", "q", 0, -1]])
        assert_eq(r[4], [1, 1, 2])
        assert_eq(r[5], [b"b"])
        assert_eq(c.read_reply(), [b"q", b"a"])
        # inside MULTI a blocking pop never blocks
        r = p.pipeline([["MULTI"], ["BLPOP", "none", 0], ["BRPOPLPUSH", "none", "d", 0], ["EXEC"]])
        assert_eq(r[3], [None, None])


@test(timeout=180)
def stress_conservation():
    """Clients block, time out, get served, disconnect while blocked, in
    random order, while pushes land on a few keys: every pushed element is
    popped exactly once or still in a list."""
    import random
    import select
    rnd = random.Random(7)
    keys = ["s%d" % i for i in range(4)]
    with CairnServer() as s:
        p = s.conn()
        pushed, popped = [], []
        conns = [s.conn() for _ in range(20)]
        busy = {}
        deadline = time.time() + 8
        seq = 0
        while time.time() < deadline:
            for i, c in enumerate(conns):
                if i in busy:
                    continue
                op = rnd.choice(["BLPOP", "BRPOP", "BLMOVE", "BLMPOP"])
                ks = rnd.sample(keys, rnd.randint(1, 3))
                t = rnd.choice(["0.05", "0.2", "1"])
                if op in ("BLPOP", "BRPOP"):
                    c.send(op, *ks, t)
                elif op == "BLMOVE":
                    c.send(op, ks[0], rnd.choice(keys), "left", "right", t)
                else:
                    c.send(op, t, len(ks), *ks, "right", "count", rnd.randint(1, 3))
                busy[i] = op
            vals = []
            for _ in range(rnd.randint(1, 5)):
                seq += 1
                vals.append("v%d" % seq)
            pushed.extend(vals)
            p.call(rnd.choice(["RPUSH", "LPUSH"]), rnd.choice(keys), *vals)
            # collect what is ready
            ready, _, _ = select.select([conns[i].sock for i in busy], [], [], 0.02)
            for i in list(busy):
                c = conns[i]
                if c.sock in ready or c.has_pending_data(0):
                    r = c.read_reply()
                    op = busy.pop(i)
                    if r is None or op == "BLMOVE":
                        continue          # timed out, or moved within our keys
                    if op == "BLMPOP":
                        popped.extend(x.decode() for x in r[1])
                    else:
                        popped.append(r[1].decode())
            if rnd.random() < 0.1 and busy:
                i = rnd.choice(list(busy))
                conns[i].close()          # disconnect while (maybe) blocked
                busy.pop(i)
                conns[i] = s.conn()
        for i in list(busy):
            r = conns[i].read_reply()
            op = busy.pop(i)
            if r is not None and op != "BLMOVE":
                popped.extend(x.decode() for x in (r[1] if op == "BLMPOP" else [r[1]]))
        rest = []
        for k in keys:
            rest.extend(x.decode() for x in p.call("LRANGE", k, 0, -1))
        # a client closed right after being served took its element with it:
        # everything else is accounted for exactly once
        seen = popped + rest
        assert_eq(len(seen), len(set(seen)), "an element was delivered twice")
        assert_true(set(seen) <= set(pushed))
        lost = len(pushed) - len(seen)
        print("  pushed %d, popped %d, left %d, unaccounted %d" % (len(pushed), len(popped), len(rest), lost))
        assert_true(lost <= 40, "%d elements unaccounted for" % lost)
        assert_true(len(popped) > 100, "only %d pops served" % len(popped))


@test(timeout=120)
def replica_follows_served_pops():
    with CairnServer() as m:
        with CairnServer([("replicaof", ["127.0.0.1", m.port])]) as r:
            wait_link_up(r, timeout=30)
            p = m.conn()
            a, b, c = m.conn(), m.conn(), m.conn()
            a.send("BRPOP", "k", 10)
            wait_blocked(m, "brpop", 1)
            b.send("BLMPOP", 10, 1, "k", "left", "count", 2)
            wait_blocked(m, "blmpop", 1)
            c.send("BLMOVE", "k", "d", "left", "left", 10)
            wait_blocked(m, "blmove", 1)
            p.call("RPUSH", "k", *"uvwxyz")
            assert_eq([a.read_reply(), b.read_reply(), c.read_reply()], [[b"k", b"z"], [b"k", [b"u", b"v"]], b"w"])
            want = (p.call("LRANGE", "k", 0, -1), p.call("LRANGE", "d", 0, -1))
            assert_eq(want, ([b"x", b"y"], [b"w"]))
            wait_until(lambda: (r.conn().call("LRANGE", "k", 0, -1), r.conn().call("LRANGE", "d", 0, -1)) == want,
                       timeout=10, msg="replica converges")


@test
def served_from_the_ready_key():
    # Redis 7.0 serves a multi-key pop from the key that became ready: X moves
    # b -> a first (a becomes non-empty), Y (BLPOP a b) woken by b still pops b
    with CairnServer() as s:
        p, x, y = s.conn(), s.conn(), s.conn()
        x.send("BLMOVE", "b", "a", "right", "left", 10)
        wait_blocked(s, "blmove", 1)
        y.send("BLPOP", "a", "b", 10)
        wait_blocked(s, "blpop", 1)
        assert_eq(p.call("RPUSH", "b", "v1", "v2"), 2)
        assert_eq(x.read_reply(), b"v2")
        assert_eq(y.read_reply(), [b"b", b"v1"])
        assert_eq(p.call("LRANGE", "a", 0, -1), [b"v2"])
        assert_eq(p.call("EXISTS", "b"), 0)


@test
def info_counts_blocked_clients():
    with CairnServer() as s:
        c = s.conn()
        assert_true(b"blocked_clients:0\r\n" in c.call("INFO", "clients"))
        b1, b2 = s.conn(), s.conn()
        b1.send("BLPOP", "q1", "0")
        b2.send("BLPOP", "q2", "30")
        wait_until(lambda: b"blocked_clients:2\r\n" in c.call("INFO", "clients"))
        info = c.call("INFO", "clients")
        assert_true(b"clients_in_timeout_table:1\r\n" in info, info)
        c.call("RPUSH", "q1", "x")
        assert_eq(b1.read_reply(), [b"q1", b"x"])
        wait_until(lambda: b"blocked_clients:1\r\n" in c.call("INFO", "clients"))
        b2.close()
        wait_until(lambda: b"blocked_clients:0\r\n" in c.call("INFO", "clients"))


if __name__ == "__main__":
    run_tests()
