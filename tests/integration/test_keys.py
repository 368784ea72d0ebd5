"""Generic key-space commands: DEL UNLINK EXISTS TYPE TOUCH, EXPIRE family,
TTL family, PERSIST, RENAME(NX), COPY, MOVE, KEYS, SCAN, RANDOMKEY, DBSIZE,
FLUSHDB, FLUSHALL, SWAPDB — replies, errors, expiry, durability.

    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_keys.py [name...]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import (CairnServer, Status, assert_eq, assert_error_text, assert_true,  # noqa: E402
                        info, run_tests, test, wait_until)

BIN = b"\x00\xff\r\n key"


err = assert_error_text


def status(reply, text):
    assert_true(isinstance(reply, Status), "expected status %r, got %r" % (text, reply))
    assert_eq(str(reply), text)


def mset(c, pairs, **kw):
    """SET every (key, value) pair with one pipeline (SET only: no MSET needed)."""
    extra = []
    if "px" in kw:
        extra = ["PX", kw["px"]]
    replies = c.pipeline([["SET", k, v] + extra for k, v in pairs])
    assert_true(all(r == "OK" for r in replies), "SET failed: %r" % [r for r in replies if r != "OK"][:3])


def scan_all(c, *opts, count=None, start=b"0"):
    """Iterates SCAN to the end; returns (list of keys with repeats, calls)."""
    keys, cur, calls = [], start, 0
    while True:
        args = ["SCAN", cur] + list(opts) + (["COUNT", count] if count else [])
        r = c.call(*args)
        assert_true(isinstance(r, list) and len(r) == 2, "bad SCAN reply %r" % (r,))
        cur, batch = r
        keys += batch
        calls += 1
        if cur == b"0":
            return keys, calls
        assert_true(calls < 100000, "SCAN does not terminate")


# ---------------------------------------------------------------- DEL EXISTS TYPE TOUCH

@test
def del_unlink_exists_touch():
    with CairnServer() as s:
        c = s.conn()
        mset(c, [("a", "1"), ("b", "2"), ("c", "3"), (BIN, "x")])
        assert_eq(c.call("EXISTS", "a"), 1)
        assert_eq(c.call("EXISTS", "a", "a", "b", "nokey", BIN), 4)
        assert_eq(c.call("TOUCH", "a", "a", "nokey"), 2)
        assert_eq(c.call("DEL", "a", "a", "nokey"), 1)
        assert_eq(c.call("EXISTS", "a"), 0)
        assert_eq(c.call("GET", "a"), None)
        assert_eq(c.call("UNLINK", "b", "c", BIN, "b"), 3)
        assert_eq(c.call("DBSIZE"), 0)
        assert_eq(c.call("DEL", "nokey"), 0)
        err(c.call("DEL"), "ERR wrong number of arguments for 'del' command")
        err(c.call("UNLINK"), "ERR wrong number of arguments for 'unlink' command")
        err(c.call("EXISTS"), "ERR wrong number of arguments for 'exists' command")
        err(c.call("TOUCH"), "ERR wrong number of arguments for 'touch' command")


@test
def type_command():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "s", "v")
        status(c.call("TYPE", "s"), "string")
        status(c.call("TYPE", "nokey"), "none")
        c3 = s.conn(resp=3)
        status(c3.call("TYPE", "s"), "string")
        err(c.call("TYPE", "a", "b"), "ERR wrong number of arguments for 'type' command")


# ---------------------------------------------------------------- EXPIRE / TTL

@test
def ttl_semantics():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("TTL", "nokey"), -2)
        assert_eq(c.call("PTTL", "nokey"), -2)
        assert_eq(c.call("EXPIRETIME", "nokey"), -2)
        assert_eq(c.call("PEXPIRETIME", "nokey"), -2)
        c.call("SET", "k", "v")
        assert_eq(c.call("TTL", "k"), -1)
        assert_eq(c.call("PTTL", "k"), -1)
        assert_eq(c.call("EXPIRETIME", "k"), -1)
        assert_eq(c.call("PEXPIRETIME", "k"), -1)
        assert_eq(c.call("EXPIRE", "k", 100), 1)
        t = c.call("TTL", "k")
        assert_true(99 <= t <= 100, "TTL %r" % t)
        pt = c.call("PTTL", "k")
        assert_true(98000 < pt <= 100000, "PTTL %r" % pt)
        now_ms = int(time.time() * 1000)
        pet = c.call("PEXPIRETIME", "k")
        assert_true(abs(pet - (now_ms + 100000)) < 2000, "PEXPIRETIME %r" % pet)
        # exact absolute times, and EXPIRETIME rounds to the nearest second
        far = int(time.time()) + 100000
        assert_eq(c.call("PEXPIREAT", "k", far * 1000 + 499), 1)
        assert_eq(c.call("PEXPIRETIME", "k"), far * 1000 + 499)
        assert_eq(c.call("EXPIRETIME", "k"), far)
        assert_eq(c.call("PEXPIREAT", "k", far * 1000 + 500), 1)
        assert_eq(c.call("EXPIRETIME", "k"), far + 1)
        assert_eq(c.call("EXPIREAT", "k", far), 1)
        assert_eq(c.call("PEXPIRETIME", "k"), far * 1000)
        assert_eq(c.call("PEXPIRE", "k", 5000000), 1)
        t = c.call("TTL", "k")
        assert_true(4999 <= t <= 5000, "TTL %r" % t)
        # PERSIST
        assert_eq(c.call("PERSIST", "k"), 1)
        assert_eq(c.call("PERSIST", "k"), 0)
        assert_eq(c.call("TTL", "k"), -1)
        assert_eq(c.call("PERSIST", "nokey"), 0)
        assert_eq(c.call("EXPIRE", "nokey", 100), 0)
        assert_eq(c.call("EXISTS", "nokey"), 0)
        # SET clears the TTL
        c.call("EXPIRE", "k", 100)
        c.call("SET", "k", "v2")
        assert_eq(c.call("TTL", "k"), -1)
        err(c.call("TTL"), "ERR wrong number of arguments for 'ttl' command")
        err(c.call("PERSIST", "a", "b"), "ERR wrong number of arguments for 'persist' command")


@test
def expire_past_time_deletes():
    with CairnServer() as s:
        c = s.conn()
        for cmd, arg in [("EXPIRE", 0), ("EXPIRE", -5), ("PEXPIRE", -1), ("PEXPIRE", 0), ("EXPIREAT", 1),
                         ("PEXPIREAT", 0), ("PEXPIREAT", -9223372036854775808),
                         ("EXPIREAT", int(time.time()) - 10)]:
            c.call("SET", "k", "v")
            assert_eq(c.call(cmd, "k", arg), 1, "%s %s" % (cmd, arg))
            assert_eq(c.call("EXISTS", "k"), 0, "%s %s" % (cmd, arg))
            assert_eq(c.call("DBSIZE"), 0, "%s %s: the key must really be gone" % (cmd, arg))
        # on a missing key: 0, and nothing is created
        assert_eq(c.call("EXPIRE", "k", -1), 0)
        assert_eq(c.call("DBSIZE"), 0)


@test
def expire_errors():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "k", "v")
        for cmd in ["expire", "pexpire", "expireat", "pexpireat"]:
            err(c.call(cmd, "k", "abc"), "ERR value is not an integer or out of range")
            err(c.call(cmd, "k", "1.5"), "ERR value is not an integer or out of range")
            err(c.call(cmd, "k", ""), "ERR value is not an integer or out of range")
            err(c.call(cmd, "k", "100", "NX", "XX"),
                "ERR NX and XX, GT or LT options at the same time are not compatible")
            err(c.call(cmd, "k", "100", "nx", "gt"),
                "ERR NX and XX, GT or LT options at the same time are not compatible")
            err(c.call(cmd, "k", "100", "NX", "LT"),
                "ERR NX and XX, GT or LT options at the same time are not compatible")
            err(c.call(cmd, "k", "100", "GT", "LT"), "ERR GT and LT options at the same time are not compatible")
            err(c.call(cmd, "k", "100", "XX", "gt", "lt"),
                "ERR GT and LT options at the same time are not compatible")
            err(c.call(cmd, "k", "100", "FOO"), "ERR Unsupported option FOO")
            err(c.call(cmd, "k", "100", "NX", "bar"), "ERR Unsupported option bar")
            # options are checked before the number
            err(c.call(cmd, "k", "abc", "foo"), "ERR Unsupported option foo")
            err(c.call(cmd, "k"), "ERR wrong number of arguments for '%s' command" % cmd)
        # overflow by unit conversion or by adding the base time
        err(c.call("EXPIRE", "k", "9223372036854775807"), "ERR invalid expire time in 'expire' command")
        err(c.call("EXPIRE", "k", "-9223372036854775808"), "ERR invalid expire time in 'expire' command")
        err(c.call("EXPIRE", "k", "9223372036854775"), "ERR invalid expire time in 'expire' command")
        err(c.call("PEXPIRE", "k", "9223372036854775807"), "ERR invalid expire time in 'pexpire' command")
        err(c.call("EXPIREAT", "k", "9223372036854776"), "ERR invalid expire time in 'expireat' command")
        assert_eq(c.call("TTL", "k"), -1, "failed EXPIREs must not touch the key")
        # the largest accepted values
        assert_eq(c.call("EXPIREAT", "k", "9223372036854775"), 1)
        assert_eq(c.call("PEXPIRETIME", "k"), 9223372036854775000)
        assert_eq(c.call("PEXPIREAT", "k", "9223372036854775807"), 1)
        assert_eq(c.call("PEXPIRETIME", "k"), 9223372036854775807)
        assert_eq(c.call("EXPIRETIME", "k"), 9223372036854776)  # rounded without overflow
        assert_eq(c.call("PEXPIREAT", "k", "9223372036854775308"), 1)
        assert_eq(c.call("EXPIRETIME", "k"), 9223372036854775)
        t = c.call("TTL", "k")
        assert_true(t > 9223370000000000, "TTL %r" % t)
        assert_eq(c.call("GET", "k"), b"v")


@test
def expire_nx_xx_gt_lt():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "k", "v")
        far = int(time.time()) + 100000
        # no TTL: XX and GT fail (no TTL = infinite), NX and LT succeed
        assert_eq(c.call("EXPIREAT", "k", far, "XX"), 0)
        assert_eq(c.call("EXPIREAT", "k", far, "GT"), 0)
        assert_eq(c.call("EXPIREAT", "k", far, "xx", "gt"), 0)
        assert_eq(c.call("TTL", "k"), -1)
        assert_eq(c.call("EXPIREAT", "k", far, "LT"), 1)
        assert_eq(c.call("EXPIRETIME", "k"), far)
        c.call("PERSIST", "k")
        assert_eq(c.call("EXPIREAT", "k", far, "NX"), 1)
        assert_eq(c.call("EXPIREAT", "k", far + 5, "NX"), 0)
        assert_eq(c.call("EXPIRETIME", "k"), far)
        # with a TTL
        assert_eq(c.call("EXPIREAT", "k", far + 10, "XX"), 1)
        assert_eq(c.call("EXPIRETIME", "k"), far + 10)
        assert_eq(c.call("EXPIREAT", "k", far + 10, "GT"), 0)
        assert_eq(c.call("EXPIREAT", "k", far + 5, "GT"), 0)
        assert_eq(c.call("EXPIREAT", "k", far + 20, "GT"), 1)
        assert_eq(c.call("EXPIRETIME", "k"), far + 20)
        assert_eq(c.call("EXPIREAT", "k", far + 20, "LT"), 0)
        assert_eq(c.call("EXPIREAT", "k", far + 30, "LT"), 0)
        assert_eq(c.call("EXPIREAT", "k", far + 15, "LT"), 1)
        assert_eq(c.call("EXPIRETIME", "k"), far + 15)
        assert_eq(c.call("EXPIREAT", "k", far + 30, "XX", "GT"), 1)
        assert_eq(c.call("EXPIRETIME", "k"), far + 30)
        # LT with a past time deletes
        assert_eq(c.call("PEXPIRE", "k", -1, "LT"), 1)
        assert_eq(c.call("EXISTS", "k"), 0)
        assert_eq(c.call("EXPIRE", "k", 100, "NX"), 0)


@test
def lazy_expiry_on_access():
    # hz 1: the active cycle runs rarely, so the key is found by access first
    with CairnServer({"hz": 1}) as s:
        c = s.conn()
        for cmd in [["GET", "k"], ["EXISTS", "k"], ["TTL", "k"], ["TYPE", "k"], ["PERSIST", "k"],
                    ["RENAME", "k", "k2"], ["MOVE", "k", "1"], ["COPY", "k", "k2"], ["EXPIRE", "k", "100"],
                    ["DEL", "k"]]:
            assert_eq(c.call("SET", "k", "v", "PX", 100), "OK")
            assert_eq(c.call("EXISTS", "k"), 1)
            time.sleep(0.15)
            r = c.call(*cmd)
            expected = {"GET": None, "EXISTS": 0, "TTL": -2, "TYPE": "none", "PERSIST": 0,
                        "RENAME": "ERR no such key", "MOVE": 0, "COPY": 0, "EXPIRE": 0, "DEL": 0}[cmd[0]]
            assert_eq(r, expected, "%s on an expired key" % cmd[0])
            assert_eq(c.call("EXISTS", "k2"), 0)
            c.call("SELECT", 1)
            assert_eq(c.call("EXISTS", "k"), 0)
            c.call("SELECT", 0)
        # KEYS hides logically expired keys
        c.call("SET", "e", "v", "PX", 50)
        c.call("SET", "live", "v")
        time.sleep(0.1)
        assert_eq(c.call("KEYS", "*"), [b"live"])
        keys, _ = scan_all(c)
        assert_eq(keys, [b"live"])


@test
def active_expiry_without_access():
    with CairnServer() as s:
        c = s.conn()
        mset(c, [("key:%d" % i, "v") for i in range(1000)], px=100)
        mset(c, [("keep:%d" % i, "v") for i in range(10)])
        assert_eq(c.call("DBSIZE"), 1010)
        wait_until(lambda: c.call("DBSIZE") == 10, timeout=2.5, msg="active expiry did not remove 1000 keys")
        assert_eq(sorted(c.call("KEYS", "*")), sorted(("keep:%d" % i).encode() for i in range(10)))
        s.restart()
        assert_eq(s.conn().call("DBSIZE"), 10)


@test(timeout=120)
def active_expiry_of_many_keys_keeps_pace():
    """20,000 keys expiring together, their expiry entries in frozen layers
    waiting for a merge: each search of the expiry index starts after the
    last entry it deleted (from the start, it stepped over every tombstone
    again: 13,000 keys were still there after 30 s)."""
    with CairnServer() as s:
        c = s.conn()
        for b in range(0, 20000, 1000):
            c.pipeline([["SET", "e:%d" % i, "v", "PX", "800"] for i in range(b, b + 1000)])
        t0 = time.time()
        wait_until(lambda: c.call("DBSIZE") == 0, timeout=25, msg="20,000 keys did not expire within 25 s")
        print("  20,000 keys expired %.1f s after the last SET" % (time.time() - t0))
        assert_eq(info(c, "stats")["expired_keys"], "20000")
        s.restart(kill=True)
        assert_eq(s.conn().call("DBSIZE"), 0)


# ---------------------------------------------------------------- RENAME COPY MOVE

@test
def rename_renamenx():
    with CairnServer() as s:
        c = s.conn()
        err(c.call("RENAME", "nokey", "x"), "ERR no such key")
        err(c.call("RENAME", "nokey", "nokey"), "ERR no such key")
        err(c.call("RENAMENX", "nokey", "x"), "ERR no such key")
        c.call("SET", "a", "1")
        c.call("EXPIRE", "a", 1000)
        assert_eq(c.call("RENAME", "a", "a"), "OK")
        assert_eq(c.call("RENAMENX", "a", "a"), 0)
        assert_eq(c.call("RENAME", "a", BIN), "OK")
        assert_eq(c.call("EXISTS", "a"), 0)
        assert_eq(c.call("GET", BIN), b"1")
        t = c.call("TTL", BIN)
        assert_true(990 < t <= 1000, "RENAME must keep the TTL, got %r" % t)
        # overwriting a destination with its own TTL: the source's (none) wins
        c.call("SET", "src", "s")
        c.call("SET", "dst", "d", "EX", 500)
        assert_eq(c.call("RENAME", "src", "dst"), "OK")
        assert_eq(c.call("GET", "dst"), b"s")
        assert_eq(c.call("TTL", "dst"), -1)
        c.call("SET", "src", "s2")
        assert_eq(c.call("RENAMENX", "src", "dst"), 0)
        assert_eq(c.call("GET", "src"), b"s2")
        assert_eq(c.call("GET", "dst"), b"s")
        assert_eq(c.call("RENAMENX", "src", "new"), 1)
        assert_eq(c.call("GET", "new"), b"s2")
        assert_eq(c.call("EXISTS", "src"), 0)
        assert_eq(c.call("DBSIZE"), 3)
        err(c.call("RENAME", "a"), "ERR wrong number of arguments for 'rename' command")


@test
def copy_command():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "a", "va", "EX", 1000)
        assert_eq(c.call("COPY", "a", "b"), 1)
        assert_eq(c.call("GET", "b"), b"va")
        assert_true(990 < c.call("TTL", "b") <= 1000, "COPY keeps the TTL")
        assert_eq(c.call("GET", "a"), b"va")
        c.call("SET", "c", "vc")
        assert_eq(c.call("COPY", "c", "b"), 0)
        assert_eq(c.call("GET", "b"), b"va")
        assert_eq(c.call("COPY", "c", "b", "REPLACE"), 1)
        assert_eq(c.call("GET", "b"), b"vc")
        assert_eq(c.call("TTL", "b"), -1)
        assert_eq(c.call("COPY", "nokey", "b"), 0)
        assert_eq(c.call("COPY", "a", "a", "DB", 1), 1)
        c.call("SELECT", 1)
        assert_eq(c.call("GET", "a"), b"va")
        assert_true(c.call("TTL", "a") > 990)
        c.call("SELECT", 0)
        assert_eq(c.call("COPY", "c", "a", "DB", "1"), 0)
        assert_eq(c.call("COPY", "c", "a", "db", "1", "replace"), 1)
        c.call("SELECT", 1)
        assert_eq(c.call("GET", "a"), b"vc")
        c.call("SELECT", 0)
        err(c.call("COPY", "a", "a"), "ERR source and destination objects are the same")
        err(c.call("COPY", "a", "a", "DB", 0), "ERR source and destination objects are the same")
        err(c.call("COPY", "a", "b", "DB", 16), "ERR DB index is out of range")
        err(c.call("COPY", "a", "b", "DB", -1), "ERR DB index is out of range")
        err(c.call("COPY", "a", "b", "DB", "x"), "ERR value is not an integer or out of range")
        err(c.call("COPY", "a", "b", "DB", "99999999999"),
            "ERR value is out of range, value must between -2147483648 and 2147483647")
        err(c.call("COPY", "nokey", "b", "DB", "x"), "ERR value is not an integer or out of range")
        err(c.call("COPY", "a", "b", "DB"), "ERR syntax error")
        err(c.call("COPY", "a", "b", "BOGUS"), "ERR syntax error")
        err(c.call("COPY", "a"), "ERR wrong number of arguments for 'copy' command")


@test
def move_command():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "k", "v", "EX", 1000)
        err(c.call("MOVE", "k", 0), "ERR source and destination objects are the same")
        err(c.call("MOVE", "k", 16), "ERR DB index is out of range")
        err(c.call("MOVE", "k", -1), "ERR DB index is out of range")
        err(c.call("MOVE", "k", "x"), "ERR value is not an integer or out of range")
        err(c.call("MOVE", "k", "99999999999"),
            "ERR value is out of range, value must between -2147483648 and 2147483647")
        assert_eq(c.call("MOVE", "nokey", 1), 0)
        assert_eq(c.call("MOVE", "k", 1), 1)
        assert_eq(c.call("EXISTS", "k"), 0)
        c.call("SELECT", 1)
        assert_eq(c.call("GET", "k"), b"v")
        assert_true(990 < c.call("TTL", "k") <= 1000, "MOVE keeps the TTL")
        c.call("SELECT", 0)
        c.call("SET", "k", "v0")
        assert_eq(c.call("MOVE", "k", 1), 0)
        assert_eq(c.call("GET", "k"), b"v0")
        err(c.call("MOVE", "k"), "ERR wrong number of arguments for 'move' command")


# ---------------------------------------------------------------- KEYS SCAN RANDOMKEY

@test
def keys_patterns():
    with CairnServer() as s:
        c = s.conn()
        mset(c, [(k, "v") for k in ["foo", "foobar", "bar", "k1", "k2", "k10", "a*b", BIN]])
        assert_eq(sorted(c.call("KEYS", "*")), sorted([b"foo", b"foobar", b"bar", b"k1", b"k2", b"k10", b"a*b", BIN]))
        assert_eq(sorted(c.call("KEYS", "foo*")), [b"foo", b"foobar"])
        assert_eq(sorted(c.call("KEYS", "k?")), [b"k1", b"k2"])
        assert_eq(sorted(c.call("KEYS", "k[0-1]*")), [b"k1", b"k10"])
        assert_eq(c.call("KEYS", "a\\*b"), [b"a*b"])
        assert_eq(c.call("KEYS", "\x00*"), [BIN])
        assert_eq(c.call("KEYS", "nomatch*"), [])
        assert_eq(c.call("KEYS", ""), [])
        c.call("SELECT", 1)
        assert_eq(c.call("KEYS", "*"), [])
        err(c.call("KEYS"), "ERR wrong number of arguments for 'keys' command")


@test
def scan_errors():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "k", "v")
        for bad in ["abc", " 1", "1 ", "1x", "18446744073709551616", "-18446744073709551616", "1.5"]:
            err(c.call("SCAN", bad), "ERR invalid cursor")
        err(c.call("SCAN", "0", "COUNT", "0"), "ERR syntax error")
        err(c.call("SCAN", "0", "COUNT", "-1"), "ERR syntax error")
        err(c.call("SCAN", "0", "COUNT", "x"), "ERR value is not an integer or out of range")
        err(c.call("SCAN", "0", "COUNT"), "ERR syntax error")
        err(c.call("SCAN", "0", "MATCH"), "ERR syntax error")
        err(c.call("SCAN", "0", "TYPE"), "ERR syntax error")
        err(c.call("SCAN", "0", "FOO", "bar"), "ERR syntax error")
        err(c.call("SCAN"), "ERR wrong number of arguments for 'scan' command")
        # accepted by strtoul like Redis: "" is 0, leading zeros, "+", "-1" (2^64-1)
        assert_eq(c.call("SCAN", ""), [b"0", [b"k"]])
        assert_eq(c.call("SCAN", "00"), [b"0", [b"k"]])
        for ok in ["+1", "-1", "18446744073709551615"]:
            r = c.call("SCAN", ok)
            assert_true(isinstance(r, list) and len(r) == 2, "SCAN %s -> %r" % (ok, r))
        assert_eq(c.call("SCAN", "0", "count", "1000", "match", "k", "type", "STRING"), [b"0", [b"k"]])


@test
def scan_full_iteration():
    with CairnServer() as s:
        c = s.conn()
        names = [("key:%d" % i).encode() for i in range(1500)] + [("other:%d" % i).encode() for i in range(300)]
        names.append(BIN)
        mset(c, [(k, "v") for k in names])
        for count in [None, 1, 7, 100, 100000]:
            keys, calls = scan_all(c, count=count)
            assert_eq(sorted(set(keys)), sorted(names), "COUNT %s" % count)
            if count == 1:
                assert_true(calls > 500, "COUNT 1 should take many calls, took %d" % calls)
            if count == 100000:
                assert_eq(calls, 1)
        keys, _ = scan_all(c, "MATCH", "other:*", count=50)
        assert_eq(sorted(set(keys)), sorted(k for k in names if k.startswith(b"other:")))
        keys, _ = scan_all(c, "TYPE", "string", count=50)
        assert_eq(len(set(keys)), len(names))
        keys, _ = scan_all(c, "TYPE", "list", count=50)
        assert_eq(keys, [])
        keys, _ = scan_all(c, "MATCH", "key:1?", "TYPE", "STRING")
        assert_eq(sorted(set(keys)), sorted(("key:1%d" % i).encode() for i in range(10)))
        # COUNT is a hint: about COUNT keys per call
        r = c.call("SCAN", "0", "COUNT", "20")
        assert_true(15 <= len(r[1]) <= 25, "COUNT 20 returned %d keys" % len(r[1]))
        # keys that exist for the whole iteration are returned even if others
        # are added and removed meanwhile
        cur, seen, step = b"0", set(), 0
        while True:
            cur, batch = c.call("SCAN", cur, "COUNT", 30)
            seen.update(batch)
            step += 1
            c.call("SET", "new:%d" % step, "v")
            c.call("DEL", "other:%d" % step)
            if cur == b"0":
                break
        stable = set(names) - {("other:%d" % i).encode() for i in range(step + 1)}
        assert_true(stable <= seen, "keys missed: %r" % sorted(stable - seen)[:5])
        # other dbs are separate
        c.call("SELECT", 2)
        assert_eq(c.call("SCAN", "0"), [b"0", []])


@test
def scan_continues_after_restart():
    with CairnServer({"checkpoint-interval-ms": 86400000}) as s:
        c = s.conn()
        names = [("key:%d" % i).encode() for i in range(1000)]
        mset(c, [(k, "v") for k in names])
        seen = []
        cur = b"0"
        for _ in range(10):
            cur, batch = c.call("SCAN", cur, "COUNT", 40)
            seen += batch
        assert_true(cur != b"0" and len(seen) < len(names), "iteration should be mid-way")
        s.restart()
        c = s.conn()
        keys, _ = scan_all(c, count=40, start=cur)
        seen += keys
        assert_eq(sorted(set(seen)), sorted(names))
        assert_true(len(seen) - len(set(seen)) < 40, "too many duplicates after restart: %d" % (len(seen) - len(set(seen))))
        # and after a kill -9
        seen, cur = [], b"0"
        for _ in range(5):
            cur, batch = c.call("SCAN", cur, "COUNT", 40)
            seen += batch
        s.restart(kill=True)
        keys, _ = scan_all(s.conn(), count=40, start=cur)
        assert_eq(sorted(set(seen + keys)), sorted(names))


@test
def scan_deletes_expired_keys():
    with CairnServer({"hz": 1}) as s:
        c = s.conn()
        mset(c, [("e%d" % i, "v") for i in range(20)], px=50)
        c.call("SET", "live", "v")
        time.sleep(0.1)
        keys, _ = scan_all(c, count=1000)
        assert_eq(keys, [b"live"])
        assert_eq(c.call("DBSIZE"), 1, "SCAN deletes the expired keys it meets")


@test
def randomkey():
    with CairnServer({"hz": 1}) as s:
        c = s.conn()
        assert_eq(c.call("RANDOMKEY"), None)
        names = {("k%d" % i).encode() for i in range(50)}
        mset(c, [(k, "v") for k in names])
        got = {c.call("RANDOMKEY") for _ in range(300)}
        assert_true(got <= names, "RANDOMKEY returned unknown keys %r" % (got - names))
        assert_true(len(got) > 20, "RANDOMKEY is not random: %d distinct keys" % len(got))
        c.call("SELECT", 1)
        assert_eq(c.call("RANDOMKEY"), None)
        # all keys expired: nil, and the keys met are deleted
        mset(c, [("e%d" % i, "v") for i in range(30)], px=50)
        time.sleep(0.1)
        assert_eq(c.call("RANDOMKEY"), None)
        # one live key among expired ones is always found
        mset(c, [("e%d" % i, "v") for i in range(300)], px=50)
        c.call("SET", "live", "v")
        time.sleep(0.1)
        for _ in range(5):
            assert_eq(c.call("RANDOMKEY"), b"live")
        err(c.call("RANDOMKEY", "x"), "ERR wrong number of arguments for 'randomkey' command")


# ---------------------------------------------------------------- DBSIZE FLUSH SWAPDB

@test
def dbsize_flushdb_flushall():
    with CairnServer() as s:
        c = s.conn()
        mset(c, [("a%d" % i, "v") for i in range(10)])
        c.call("SELECT", 3)
        mset(c, [("b%d" % i, "v") for i in range(5)])
        assert_eq(c.call("DBSIZE"), 5)
        err(c.call("FLUSHDB", "BAD"), "ERR syntax error")
        err(c.call("FLUSHDB", "ASYNC", "SYNC"), "ERR syntax error")
        err(c.call("FLUSHALL", "now"), "ERR syntax error")
        err(c.call("DBSIZE", "x"), "ERR wrong number of arguments for 'dbsize' command")
        assert_eq(c.call("DBSIZE"), 5)
        assert_eq(c.call("FLUSHDB"), "OK")
        assert_eq(c.call("DBSIZE"), 0)
        assert_eq(c.call("FLUSHDB", "async"), "OK")
        c.call("SELECT", 0)
        assert_eq(c.call("DBSIZE"), 10)
        assert_eq(c.call("FLUSHDB", "SYNC"), "OK")
        assert_eq(c.call("GET", "a1"), None)
        mset(c, [("a", "1")])
        c.call("SELECT", 5)
        mset(c, [("a", "5")])
        assert_eq(c.call("FLUSHALL", "ASYNC"), "OK")
        assert_eq(c.call("DBSIZE"), 0)
        c.call("SELECT", 0)
        assert_eq(c.call("DBSIZE"), 0)
        assert_eq(c.call("FLUSHALL", "sync"), "OK")
        assert_eq(c.call("FLUSHALL"), "OK")
        c.call("SET", "after", "v")
        s.restart()
        c = s.conn()
        assert_eq(c.call("KEYS", "*"), [b"after"])
        c.call("SELECT", 5)
        assert_eq(c.call("DBSIZE"), 0)


@test(timeout=600)
def flushall_big_is_fast():
    with CairnServer() as s:
        c = s.conn()
        n = 200000
        for start in range(0, n, 10000):
            mset(c, [("key:%d" % i, "value-%d" % i) for i in range(start, start + 10000)])
        c.call("SELECT", 1)
        mset(c, [("db1:%d" % i, "v") for i in range(1000)])
        c.call("SELECT", 0)
        assert_eq(c.call("DBSIZE"), n)
        times = []
        for _ in range(3):
            c.ping()
        t0 = time.time()
        assert_eq(c.call("FLUSHALL"), "OK")
        elapsed = time.time() - t0
        assert_true(elapsed < 0.05, "FLUSHALL of %d keys took %.1f ms" % (n, elapsed * 1000))
        assert_eq(c.call("DBSIZE"), 0)
        assert_eq(c.call("GET", "key:5"), None)
        # the server keeps serving while the old keys are swept
        other = s.conn()
        for i in range(100):
            t0 = time.time()
            assert_eq(other.call("SET", "new:%d" % i, i), "OK")
            times.append(time.time() - t0)
            assert_eq(c.call("GET", "new:%d" % i), str(i).encode())
        assert_true(max(times) < 0.5, "a command stalled %.0f ms during the sweep" % (max(times) * 1000))
        assert_eq(c.call("DBSIZE"), 100)
        keys, _ = scan_all(c, count=1000)
        assert_eq(len(keys), 100)
        c.call("SELECT", 1)
        assert_eq(c.call("DBSIZE"), 0)
        s.restart()
        c = s.conn()
        assert_eq(c.call("DBSIZE"), 100)
        assert_eq(c.call("GET", "key:5"), None)
        assert_eq(c.call("GET", "new:7"), b"7")
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), 100)
        assert_eq(c.call("EXISTS", "key:199999"), 0)


@test
def swapdb_visible_to_other_connections():
    with CairnServer({"checkpoint-interval-ms": 86400000}) as s:
        a, b = s.conn(), s.conn()
        a.call("SET", "k", "db0")
        a.call("SELECT", 1)
        a.call("SET", "k", "db1")
        a.call("SET", "only1", "x")
        b.call("SELECT", 0)
        assert_eq(b.call("GET", "k"), b"db0")
        assert_eq(a.call("SWAPDB", 0, 1), "OK")
        assert_eq(b.call("GET", "k"), b"db1")      # b still has db 0 selected
        assert_eq(b.call("EXISTS", "only1"), 1)
        assert_eq(a.call("GET", "k"), b"db0")
        assert_eq(a.call("DBSIZE"), 1)
        assert_eq(b.call("DBSIZE"), 2)
        assert_eq(a.call("SWAPDB", 1, 1), "OK")
        assert_eq(a.call("GET", "k"), b"db0")
        err(a.call("SWAPDB", "x", 1), "ERR invalid first DB index")
        err(a.call("SWAPDB", 1, "x"), "ERR invalid second DB index")
        err(a.call("SWAPDB", "x", "y"), "ERR invalid first DB index")
        err(a.call("SWAPDB", "99999999999", 0), "ERR invalid first DB index")
        err(a.call("SWAPDB", 0, 16), "ERR DB index is out of range")
        err(a.call("SWAPDB", -1, 0), "ERR DB index is out of range")
        err(a.call("SWAPDB", 0), "ERR wrong number of arguments for 'swapdb' command")
        s.restart()
        b = s.conn()
        assert_eq(b.call("GET", "k"), b"db1")
        s.restart(kill=True)
        assert_eq(s.conn().call("GET", "k"), b"db1")


# ---------------------------------------------------------------- durability

def _durable_state(c):
    return {
        "a": c.call("GET", "a"), "ttl_a": c.call("PEXPIRETIME", "a"),
        "b": c.call("GET", "b"), "ttl_b": c.call("PEXPIRETIME", "b"),
        "gone": c.call("EXISTS", "gone"), "deleted": c.call("EXISTS", "deleted"),
        "renamed": c.call("GET", "renamed"), "ttl_renamed": c.call("PEXPIRETIME", "renamed"),
        "copied": c.call("GET", "copied"), "persisted": c.call("PEXPIRETIME", "persisted"),
        "dbsize0": c.call("DBSIZE"),
    }


def _durable_setup(c, far):
    c.call("SET", "a", "va")
    assert_eq(c.call("PEXPIREAT", "a", far), 1)
    c.call("SET", "b", "vb")
    assert_eq(c.call("EXPIRE", "b", 5000), 1)
    c.call("SET", "gone", "x")
    assert_eq(c.call("EXPIRE", "gone", -1), 1)
    c.call("SET", "deleted", "x")
    assert_eq(c.call("DEL", "deleted"), 1)
    c.call("SET", "src", "vr", "PX", 9000000)
    assert_eq(c.call("RENAME", "src", "renamed"), "OK")
    assert_eq(c.call("COPY", "a", "copied"), 1)
    c.call("SET", "persisted", "p", "EX", 100)
    assert_eq(c.call("PERSIST", "persisted"), 1)
    c.call("SET", "mv", "m", "EX", 7000)
    assert_eq(c.call("MOVE", "mv", 2), 1)
    c.call("SELECT", 3)
    c.call("SET", "x", "y")
    assert_eq(c.call("FLUSHDB"), "OK")
    c.call("SET", "x3", "y3")
    c.call("SELECT", 0)


@test(timeout=120)
def data_and_ttls_survive_restart_and_kill9():
    far = int(time.time() * 1000) + 86400000 + 123
    for kill in [False, True]:
        # no checkpoint before the kill: recovery must replay the propagated stream
        with CairnServer({"checkpoint-interval-ms": 86400000}) as s:
            c = s.conn()
            _durable_setup(c, far)
            before = _durable_state(c)
            assert_eq(before["ttl_a"], far)
            assert_eq(before["gone"], 0)
            assert_true(before["ttl_renamed"] > 0, "RENAME kept the TTL")
            assert_eq(before["persisted"], -1)
            c.call("SELECT", 2)
            mv_ttl = c.call("PEXPIRETIME", "mv")
            assert_true(mv_ttl > 0)
            s.restart(kill=kill)
            c = s.conn()
            assert_eq(_durable_state(c), before, "after %s" % ("kill -9" if kill else "restart"))
            c.call("SELECT", 2)
            assert_eq(c.call("GET", "mv"), b"m")
            assert_eq(c.call("PEXPIRETIME", "mv"), mv_ttl)
            c.call("SELECT", 3)
            assert_eq(c.call("KEYS", "*"), [b"x3"])
            # expired while the server was down: gone after restart
            c.call("SELECT", 0)
            c.call("SET", "short", "v", "PX", 200)
            s.restart(kill=kill)
            time.sleep(0.3)
            c = s.conn()
            assert_eq(c.call("GET", "short"), None)
            assert_eq(c.call("DBSIZE"), before["dbsize0"])


if __name__ == "__main__":
    run_tests()
