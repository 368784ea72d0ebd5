"""The set type: properties that a differential test cannot check (random
replies, big sets, durability, what SPOP writes into the stream, SSCAN cursor
guarantees while the set changes).

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_set.py [name...]
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def backlog_tool():
    d = os.environ.get("CAIRN_BUILD_DIR") or os.path.dirname(os.path.abspath(os.environ.get("CAIRN_SERVER", "")))
    return os.path.join(d, "cairn-backlog")


def stream_commands(s, c):
    """The commands of the replication stream (cairn-backlog dump), as lists
    of the quoted arguments' text."""
    end = int(info_field(c, "wal_last_offset"))
    r = subprocess.run([backlog_tool(), "dump", os.path.join(s.dir, "backlog"), "--from", "1", "--to", str(end)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert_eq(r.returncode, 0, r.stderr)
    out = []
    for line in r.stdout.decode().splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            out.append(parts[2])
    return out


def smembers(c, key):
    r = c.call("SMEMBERS", key)
    assert_true(isinstance(r, list), r)
    return sorted(r)


def sscan_all(c, key, count=None, match=None, during=None):
    return scan_key(c, "SSCAN", key, count=count, match=match,
                    each=(lambda rounds, cursor: during(rounds)) if during else None)


@test
def basics_and_errors():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("SADD", "s", "a", "b", "c", "a"), 3)
        assert_eq(c.call("SADD", "s", "a"), 0)
        assert_eq(c.call("SCARD", "s"), 3)
        assert_eq(c.call("TYPE", "s"), "set")
        assert_eq(smembers(c, "s"), [b"a", b"b", b"c"])
        assert_eq(c.call("SISMEMBER", "s", "b"), 1)
        assert_eq(c.call("SMISMEMBER", "s", "b", "x", "c"), [1, 0, 1])
        assert_eq(c.call("SREM", "s", "b", "x", "b"), 1)
        assert_eq(c.call("SREM", "s", "a", "c"), 2)
        assert_eq(c.call("EXISTS", "s"), 0)
        c.call("SET", "str", "v")
        for cmd in (["SADD", "str", "a"], ["SREM", "str", "a"], ["SCARD", "str"], ["SMEMBERS", "str"],
                    ["SISMEMBER", "str", "a"], ["SPOP", "str"], ["SRANDMEMBER", "str"], ["SSCAN", "str", "0"],
                    ["SINTER", "str"], ["SUNIONSTORE", "d", "str"], ["SMOVE", "str", "d", "a"]):
            assert_error(c.call(*cmd), WRONGTYPE)
        assert_error(c.call("SADD", "s"), "ERR wrong number of arguments for 'sadd' command")
        assert_error(c.call("SPOP", "s", "-1"), "ERR value is out of range, must be positive")
        assert_error(c.call("SPOP", "s", "x"), "ERR value is out of range, must be positive")
        assert_error(c.call("SRANDMEMBER", "s", "x"), "ERR value is not an integer or out of range")
        assert_error(c.call("SRANDMEMBER", "s", "-9223372036854775808"),
                     "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        assert_error(c.call("SINTERCARD", "0", "s"), "ERR numkeys should be greater than 0")
        assert_error(c.call("SINTERCARD", "1", "s", "LIMIT", "-1"), "ERR LIMIT can't be negative")
        c.call("SADD", "s", "a")
        assert_error(c.call("SSCAN", "s", "abc"), "ERR invalid cursor")
        assert_error(c.call("SSCAN", "s", "1 "), "ERR invalid cursor")
        assert_error(c.call("SSCAN", "s", "18446744073709551616"), "ERR invalid cursor")  # > 64 bits
        assert_eq(c.call("SSCAN", "s", "-1")[0], b"0")  # strtoul: 2^64-1, past every member
        assert_error(c.call("SSCAN", "s", "0", "COUNT", "0"), "ERR syntax error")
        assert_eq(c.call("SSCAN", "nokey", "0", "COUNT", "0"), [b"0", []])  # options parsed after the lookup
        # lazy expiry
        c.call("SADD", "e", "a")
        c.call("PEXPIRE", "e", "20")
        time.sleep(0.05)
        assert_eq(c.call("SISMEMBER", "e", "a"), 0)
        assert_eq(c.call("EXISTS", "e"), 0)
        # expiry kept by writes
        c.call("SADD", "t", "a")
        c.call("EXPIRE", "t", "100")
        c.call("SADD", "t", "b")
        c.call("SREM", "t", "a")
        c.call("SPOP", "t")
        assert_eq(c.call("EXISTS", "t"), 0)
        c.call("SADD", "t", "a", "b")
        c.call("EXPIRE", "t", "100")
        c.call("SMOVE", "t", "t2", "a")
        assert_true(0 < c.call("TTL", "t") <= 100)


@test
def resp3_forms():
    with CairnServer() as s:
        c = s.conn(resp=3)
        c.call("SADD", "s", "a", "b", "c")
        c.call("SADD", "t", "b", "c", "d")
        for cmd in (["SMEMBERS", "s"], ["SINTER", "s", "t"], ["SUNION", "s", "t"], ["SDIFF", "s", "t"],
                    ["SPOP", "nokey", "2"], ["SMEMBERS", "nokey"]):
            r, raw = c.call_both(*cmd)
            assert_true(isinstance(r, Set) and raw.startswith(b"~"), (cmd, raw))
        assert_eq(c.call_raw("SINTER", "s", "nokey"), b"~0\r\n")
        assert_eq(c.call_raw("SRANDMEMBER", "s", "0"), b"*0\r\n")
        r, raw = c.call_both("SRANDMEMBER", "s", "-4")
        assert_true(raw.startswith(b"*4\r\n"), raw)
        r, raw = c.call_both("SRANDMEMBER", "s", "2")
        assert_true(raw.startswith(b"*2\r\n"), raw)
        r, raw = c.call_both("SPOP", "s", "2")
        assert_true(raw.startswith(b"~2\r\n"), raw)
        assert_eq(c.call_raw("SPOP", "nokey"), b"_\r\n")
        assert_eq(c.call_raw("SRANDMEMBER", "nokey"), b"_\r\n")
        assert_eq(c.call_raw("SSCAN", "nokey", "0"), b"*2\r\n$1\r\n0\r\n*0\r\n")
        assert_eq(c.call("SMISMEMBER", "t", "b", "x"), [1, 0])


@test
def binary_and_long_members():
    with CairnServer() as s:
        c = s.conn()
        base = b"\x00\xffprefix" + b"p" * 472
        members = [b"", b"\x00", b"\x00\x00", b"\xff", b"a\r\nb", base[:479], base[:480], base + b"x" * 1,
                   base + b"x" * 2, base + b"y" * 600, base + b"z" * 4000, base + b"z" * 4001, b"q" * 100000]
        assert_eq(c.call("SADD", "s", *members), len(members))
        assert_eq(c.call("SADD", "s", *members), 0)
        assert_eq(c.call("SCARD", "s"), len(members))
        assert_eq(smembers(c, "s"), sorted(members))
        for m in members:
            assert_eq(c.call("SISMEMBER", "s", m), 1, m[:20])
        for m in (base + b"x" * 3, base + b"z" * 3999, b"q" * 99999, base[:478]):
            assert_eq(c.call("SISMEMBER", "s", m), 0)
        for count in (1, 2, 3, 100):
            seen, _ = sscan_all(c, "s", count=count)
            assert_eq(sorted(set(seen)), sorted(members))
        assert_true(set(c.call("SRANDMEMBER", "s", "-50")) <= set(members))
        c.call("SADD", "t", base + b"z" * 4000, b"\x00", b"other")
        assert_eq(sorted(c.call("SINTER", "s", "t")), sorted([base + b"z" * 4000, b"\x00"]))
        assert_eq(c.call("SDIFFSTORE", "d", "t", "s"), 1)
        assert_eq(c.call("SMEMBERS", "d"), [b"other"])
        assert_eq(c.call("SMOVE", "s", "d", base + b"y" * 600), 1)
        assert_eq(c.call("SISMEMBER", "s", base + b"y" * 600), 0)
        assert_eq(c.call("SISMEMBER", "d", base + b"y" * 600), 1)
        assert_eq(c.call("SREM", "s", base + b"z" * 4001, base[:480]), 2)
        left = [m for m in members if m not in (base + b"z" * 4001, base[:480], base + b"y" * 600)]
        assert_eq(smembers(c, "s"), sorted(left))
        popped = c.call("SPOP", "s", "3")
        assert_eq(len(set(popped)), 3)
        assert_eq(smembers(c, "s"), sorted(set(left) - set(popped)))
        s.restart()
        c = s.conn()
        assert_eq(smembers(c, "s"), sorted(set(left) - set(popped)))


@test
def sscan_cursor_form():
    with CairnServer() as s:
        c = s.conn()
        c.call("SADD", "s", *["m%03d" % i for i in range(50)])
        cursor, items = c.call("SSCAN", "s", "0", "COUNT", "5")
        assert_eq(len(items), 5)
        # the cursor is the hash of the next member: a 64-bit decimal like SCAN's
        assert_true(cursor.isdigit() and cursor != b"0" and int(cursor) < 1 << 64, cursor)
        cursor2, items2 = c.call("SSCAN", "s", cursor, "COUNT", "5")
        assert_eq(len(items2), 5)
        assert_eq(set(items) & set(items2), set())
        assert_true(int(cursor2) > int(cursor), (cursor, cursor2))
        # the same cursor again gives the same batch: a position, not state
        assert_eq(c.call("SSCAN", "s", cursor, "COUNT", "5"), [cursor2, items2])
        # cursors stay valid: members already returned removed, others added
        c.call("SREM", "s", *items)
        c.call("SADD", "s", *["new%d" % i for i in range(20)])
        rest = []
        cur = cursor
        while True:
            cur, got = c.call("SSCAN", "s", cur, "COUNT", "7")
            rest.extend(got)
            if cur == b"0":
                break
        # every member present for the whole scan, exactly once
        old = {b"m%03d" % i for i in range(50)} - set(items)
        assert_eq(sorted(m for m in rest if m.startswith(b"m")), sorted(old))
        assert_eq(len(rest), len(set(rest)))
        # MATCH filters after COUNT: a batch may come back empty with a cursor
        cur, got = c.call("SSCAN", "s", "0", "MATCH", "zz*", "COUNT", "5")
        assert_eq(got, [])
        assert_true(cur != b"0")
        seen, rounds = sscan_all(c, "s", count=3, match="new*")
        assert_eq(sorted(seen), sorted(b"new%d" % i for i in range(20)))
        assert_true(rounds >= 20, rounds)
        # cursors survive a restart (they are hashes, not server state)
        cursor, items = c.call("SSCAN", "s", "0", "COUNT", "10")
        after = c.call("SSCAN", "s", cursor, "COUNT", "10")
        s.restart()
        c = s.conn()
        assert_eq(c.call("SSCAN", "s", cursor, "COUNT", "10"), after)


@test(timeout=300)
def big_set_100k():
    with CairnServer({"durability": "relaxed"}) as s:
        c = s.conn()
        n = 100000
        batch = 2000
        for start in range(0, n, batch):
            c.send("SADD", "big", *["member:%d" % i for i in range(start, start + batch)])
        for start in range(0, n, batch):
            assert_eq(c.read_reply(), batch)
        assert_eq(c.call("SCARD", "big"), n)
        replies = c.pipeline([["SISMEMBER", "big", "member:%d" % i] for i in range(0, n, 97)] +
                             [["SISMEMBER", "big", "member:%d" % (n + i)] for i in range(50)])
        assert_eq(replies, [1] * len(range(0, n, 97)) + [0] * 50)
        assert_eq(c.call("SMISMEMBER", "big", "member:0", "member:99999", "member:100000"), [1, 1, 0])
        # SSCAN finds every member at least once, even while the set changes
        added = []

        def churn(rnd):
            if rnd % 5 == 0:
                m = "extra:%d" % rnd
                added.append(m.encode())
                c.call("SADD", "big", m)
                c.call("SREM", "big", "extra:%d" % (rnd - 5))
        seen, rounds = sscan_all(c, "big", count=1000, during=churn)
        seen = set(seen)
        for i in range(n):
            if ("member:%d" % i).encode() not in seen:
                raise AssertionError("member:%d not returned" % i)
        assert_true(rounds >= 100, rounds)
        # plain SSCAN (COUNT 10) batches stay small
        cur, items = c.call("SSCAN", "big", "0")
        assert_eq(len(items), 10)
        # random picks on a big set (descent path)
        for count in (1, 7, 300):
            r = c.call("SRANDMEMBER", "big", count)
            assert_eq(len(r), count)
            assert_eq(len(set(r)), count)
            assert_true(all(x.startswith(b"member:") or x.startswith(b"extra:") for x in r), r[:5])
        r = c.call("SRANDMEMBER", "big", "-500")
        assert_eq(len(r), 500)
        assert_true(len(set(r)) > 50, len(set(r)))
        picks = set(c.call("SRANDMEMBER", "big") for _ in range(200))
        assert_true(len(picks) > 20, len(picks))
        card = c.call("SCARD", "big")
        # many distinct members wanted: exact walk
        r = c.call("SRANDMEMBER", "big", card - 10)
        assert_eq(len(set(r)), card - 10)
        popped = c.call("SPOP", "big", "1000")
        assert_eq(len(set(popped)), 1000)
        assert_eq(c.call("SCARD", "big"), card - 1000)
        assert_eq(c.call("SMISMEMBER", "big", *popped[:100]), [0] * 100)
        one = c.call("SPOP", "big")
        assert_eq(c.call("SISMEMBER", "big", one), 0)
        assert_eq(c.call("SCARD", "big"), card - 1001)
        # the algebra on big sets
        c.call("SADD", "small", "member:5", "member:77777", "nope")
        assert_eq(c.call("SINTERCARD", "2", "big", "small"),
                  len(c.call("SINTER", "big", "small")))
        assert_eq(c.call("SINTERCARD", "2", "big", "big", "LIMIT", "123"), 123)
        assert_eq(c.call("SDIFFSTORE", "d", "big", "big"), 0)
        assert_eq(c.call("SUNIONSTORE", "u", "big", "small"), card - 1001 + len(
            [m for m in (b"member:5", b"member:77777", b"nope") if c.call("SISMEMBER", "big", m) == 0]))
        t0 = time.time()
        assert_eq(c.call("DEL", "u"), 1)
        assert_true(time.time() - t0 < 2)


@test
def srandmember_spop_properties():
    with CairnServer() as s:
        c = s.conn()
        members = [b"e%d" % i for i in range(20)]
        c.call("SADD", "s", *members)
        for count in (1, 5, 19, 20, 25):
            r = c.call("SRANDMEMBER", "s", count)
            assert_eq(len(r), min(count, 20))
            assert_eq(len(set(r)), len(r))
            assert_true(set(r) <= set(members))
        for count in (1, 5, 50):
            r = c.call("SRANDMEMBER", "s", -count)
            assert_eq(len(r), count)
            assert_true(set(r) <= set(members))
        assert_eq(c.call("SRANDMEMBER", "s", 0), [])
        assert_eq(c.call("SCARD", "s"), 20)  # SRANDMEMBER changes nothing
        # uniform-ish on small sets: every member shows up
        seen = set(c.call("SRANDMEMBER", "s", "-2000"))
        assert_eq(seen, set(members))
        seen = set(c.call("SRANDMEMBER", "s") for _ in range(400))
        assert_eq(seen, set(members))
        # SPOP
        p = c.call("SPOP", "s")
        assert_true(p in members)
        assert_eq(c.call("SCARD", "s"), 19)
        p2 = c.call("SPOP", "s", "4")
        assert_eq(len(set(p2)), 4)
        assert_true(p not in p2)
        assert_eq(c.call("SCARD", "s"), 15)
        rest = set(smembers(c, "s"))
        assert_eq(rest | set(p2) | {p}, set(members))
        assert_eq(c.call("SPOP", "s", "0"), [])
        assert_eq(sorted(c.call("SPOP", "s", "15")), sorted(rest))
        assert_eq(c.call("EXISTS", "s"), 0)
        assert_eq(c.call("SPOP", "s"), None)
        assert_eq(c.call("SPOP", "s", "3"), [])


@test(timeout=120)
def random_picks_on_bigger_sets_spread():
    # > 1000 members: the (smoothed) random descent, not exactly uniform but
    # close on regular names: 30000 picks of 3000 members reach about all
    with CairnServer({"durability": "relaxed"}) as s:
        c = s.conn()
        c.call("SADD", "u", *["user:%06d" % i for i in range(3000)])
        r = c.call("SRANDMEMBER", "u", "-30000")
        assert_eq(len(r), 30000)
        counts = {}
        for m in r:
            counts[m] = counts.get(m, 0) + 1
        assert_true(len(counts) >= 2950, len(counts))
        assert_true(max(counts.values()) < 40, max(counts.values()))  # mean 10
        popped = set()
        for _ in range(300):
            popped.add(c.call("SPOP", "u"))
        assert_eq(len(popped), 300)
        assert_eq(c.call("SCARD", "u"), 2700)


@test(timeout=120)
def spop_propagation_and_replay():
    # no checkpoint while we work: the restart after kill -9 rebuilds the sets
    # by replaying the stream, i.e. from what SPOP propagated
    with CairnServer({"durability": "strict", "checkpoint-interval-ms": "86400000"}) as s:
        c = s.conn()
        c.call("SADD", "a", *["a%d" % i for i in range(50)])
        c.call("SADD", "b", *["b%d" % i for i in range(3000)])
        c.call("SADD", "w", "x", "y", "z")
        c.call("SADD", "one", "only")
        pa = c.call("SPOP", "a")
        pa3 = c.call("SPOP", "a", "3")
        pa40 = c.call("SPOP", "a", "40")  # most of the set
        pb = c.call("SPOP", "b", "10")
        pb1 = c.call("SPOP", "b")
        pw = c.call("SPOP", "w", "5")  # the whole set
        po = c.call("SPOP", "one")
        assert_eq(c.call("EXISTS", "w", "one"), 0)
        before = {k: smembers(c, k) for k in ("a", "b")}
        assert_eq(len(before["a"]), 50 - 44)
        assert_eq(len(before["b"]), 3000 - 11)

        cmds = stream_commands(s, c)
        spops = [x for x in cmds if "SPOP" in x.upper()]
        assert_eq(spops, [])
        assert_true('"SREM" "a" "%s"' % pa.decode() in cmds, cmds[-60:])
        for group, key in ((pa3, "a"), (pa40, "a"), (pb, "b")):
            lines = ['"SREM" "%s" "%s"' % (key, m.decode()) for m in group]
            i = cmds.index(lines[0])
            assert_eq(cmds[i - 1], '"MULTI"')
            assert_eq(cmds[i:i + len(lines)], lines)
            assert_eq(cmds[i + len(lines)], '"EXEC"')
        assert_true('"SREM" "b" "%s"' % pb1.decode() in cmds)
        assert_true('"DEL" "w"' in cmds, cmds[-20:])
        assert_true('"SREM" "one" "only"' in cmds)
        assert_eq(sorted(pw), [b"x", b"y", b"z"])
        assert_eq(po, b"only")

        s.restart(kill=True)
        c = s.conn()
        after = {k: smembers(c, k) for k in ("a", "b")}
        assert_eq(after, before)
        assert_eq(c.call("EXISTS", "w", "one"), 0)


@test(timeout=120)
def replica_sees_spop_as_srem():
    # a replica attached before the sets exist gets them from the stream only:
    # its sets must equal the master's after SPOP/SRANDMEMBER/STORE traffic
    with CairnServer() as master, CairnServer() as replica:
        rc = replica.conn()
        assert_eq(rc.call("REPLICAOF", "127.0.0.1", master.port), "OK")
        wait_link_up(replica, timeout=30)
        mc = master.conn()
        mc.call("SADD", "s", *["s%d" % i for i in range(40)])
        mc.call("SADD", "b", *["b%d" % i for i in range(2500)])
        for _ in range(5):
            mc.call("SPOP", "s")
            mc.call("SPOP", "b")
        mc.call("SPOP", "s", "7")
        mc.call("SPOP", "b", "15")
        mc.call("SPOP", "b", "2000")
        mc.call("SRANDMEMBER", "b", "5")
        mc.call("SADD", "w", "1", "2")
        mc.call("SPOP", "w", "9")
        mc.call("SINTERSTORE", "i", "s", "b")
        mc.call("SUNIONSTORE", "u", "s", "b")
        mc.call("SMOVE", "s", "m", mc.call("SRANDMEMBER", "s"))
        assert_eq(mc.call("WAIT", 1, 5000), 1)
        for k in ("s", "b", "w", "i", "u", "m"):
            assert_eq(smembers(rc, k) if rc.call("EXISTS", k) else None,
                      smembers(mc, k) if mc.call("EXISTS", k) else None, k)
        assert_eq(rc.call("SCARD", "b"), 2500 - 5 - 15 - 2000)


@test(timeout=120)
def durability_after_kill():
    with CairnServer({"durability": "strict"}) as s:
        c = s.conn()
        c.call("SADD", "s", *["m%d" % i for i in range(500)])
        c.call("SREM", "s", *["m%d" % i for i in range(0, 500, 3)])
        c.call("SADD", "t", *["m%d" % i for i in range(0, 1000, 5)])
        c.call("SINTERSTORE", "i", "s", "t")
        c.call("SUNIONSTORE", "u", "s", "t")
        c.call("SDIFFSTORE", "d", "s", "t")
        c.call("SMOVE", "s", "moved", "m1")
        c.call("SET", "str", "x")
        c.call("SUNIONSTORE", "str", "t")
        keys = ("s", "t", "i", "u", "d", "moved", "str")
        before = {k: smembers(c, k) for k in keys}
        s.restart(kill=True)
        c = s.conn()
        for k in keys:
            assert_eq(smembers(c, k), before[k], k)
            assert_eq(c.call("TYPE", k), "set")
        assert_eq(c.call("SCARD", "u"), len(before["u"]))
        assert_eq(c.call("SISMEMBER", "s", "m1"), 0)
        # a checkpoint then a kill: the same
        c.call("SADD", "s", "late")
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("SISMEMBER", "s", "late"), 1)
        assert_eq(c.call("SCARD", "s"), len(before["s"]) + 1)


if __name__ == "__main__":
    run_tests()
