"""String commands: exact replies and errors of every command, RESP3 forms,
and the durability of what they propagate (values and TTLs after a graceful
restart and after SIGKILL + replay of the stream)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

NOTINT = "ERR value is not an integer or out of range"
NOTFLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
OVERFLOW = "ERR increment or decrement would overflow"
NANINF = "ERR increment would produce NaN or Infinity"
TOOBIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
LLMAX = 2 ** 63 - 1
LLMIN = -2 ** 63


err = assert_error_text
arity = assert_arity_error


def pttl(c, key):
    """PTTL of key; fails on an error reply."""
    r = c.call("PTTL", key)
    assert_true(not is_error(r), "PTTL %r: %r" % (key, r))
    return r


def other_type_key(c, key):
    """Makes `key` a non-string (a list); fails if RPUSH is refused."""
    r = c.call("RPUSH", key, "x")
    assert_true(isinstance(r, int), "RPUSH %r: %r" % (key, r))


@test
def setnx_setex_psetex():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("SETNX", "k", "v1"), 1)
        assert_eq(c.call("SETNX", "k", "v2"), 0)
        assert_eq(c.call("GET", "k"), b"v1")
        arity(c.call("SETNX", "k"), "setnx")
        assert_eq(c.call("SETEX", "e", 100, "x"), "OK")
        assert_true(isinstance(c.call("SETEX", "e", 100, "x"), Status))
        assert_eq(c.call("GET", "e"), b"x")
        assert_eq(c.call("PSETEX", "p", 100000, "y"), "OK")
        assert_eq(c.call("GET", "p"), b"y")
        for bad in (0, -1):
            err(c.call("SETEX", "e2", bad, "x"), "ERR invalid expire time in 'setex' command")
            err(c.call("PSETEX", "e2", bad, "x"), "ERR invalid expire time in 'psetex' command")
        err(c.call("SETEX", "e2", LLMAX // 1000 + 1, "x"), "ERR invalid expire time in 'setex' command")
        err(c.call("PSETEX", "e2", LLMAX, "x"), "ERR invalid expire time in 'psetex' command")
        for bad in ("abc", "1.5", "", " 1", str(2 ** 63)):
            err(c.call("SETEX", "e2", bad, "x"), NOTINT)
            err(c.call("PSETEX", "e2", bad, "x"), NOTINT)
        assert_eq(c.call("GET", "e2"), None)
        arity(c.call("SETEX", "e2", 10), "setex")
        arity(c.call("PSETEX", "e2", 10, "x", "y"), "psetex")
        # A short PSETEX really expires; SETNX on the expired key then works.
        assert_eq(c.call("PSETEX", "short", 100, "z"), "OK")
        wait_until(lambda: c.call("GET", "short") is None, timeout=5)
        assert_eq(c.call("SETNX", "short", "again"), 1)
        assert_eq(c.call("GET", "short"), b"again")


@test
def getset_getdel():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("GETSET", "k", "a"), None)
        assert_eq(c.call("GETSET", "k", "b"), b"a")
        assert_eq(c.call("GET", "k"), b"b")
        # GETSET drops the TTL like SET does.
        c.call("PSETEX", "t", 600, "old")
        assert_eq(c.call("GETSET", "t", "new"), b"old")
        time.sleep(0.9)
        assert_eq(c.call("GET", "t"), b"new")
        arity(c.call("GETSET", "k"), "getset")
        assert_eq(c.call("GETDEL", "k"), b"b")
        assert_eq(c.call("GETDEL", "k"), None)
        assert_eq(c.call("GET", "k"), None)
        assert_eq(c.call("GETDEL", "nokey"), None)
        arity(c.call("GETDEL", "k", "x"), "getdel")
        c.call("SET", "bin", b"\x00\xff\r\n")
        assert_eq(c.call("GETDEL", "bin"), b"\x00\xff\r\n")


@test
def getex():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "k", "v")
        assert_eq(c.call("GETEX", "k"), b"v")
        assert_eq(c.call("GETEX", "nokey"), None)
        assert_eq(c.call("GETEX", "nokey", "EX", "abc"), None)  # time checked after lookup
        assert_eq(c.call("GETEX", "nokey", "EX", 0), None)
        err(c.call("GETEX", "nokey", "NX"), SYNTAX)               # options before lookup
        for opts in (["EX", 10, "PX", 10], ["EX"], ["PERSIST", "EX", 10], ["EX", 10, "PERSIST"],
                     ["KEEPTTL"], ["GET"], ["XX"], ["FOO"], ["EXAT", 1, "PXAT", 1]):
            err(c.call("GETEX", "k", *opts), SYNTAX)
        err(c.call("GETEX", "k", "EX", "abc"), NOTINT)
        err(c.call("GETEX", "k", "PX", "1.5"), NOTINT)
        for opt in ("EX", "PX", "EXAT", "PXAT"):
            err(c.call("GETEX", "k", opt, 0), "ERR invalid expire time in 'getex' command")
            err(c.call("GETEX", "k", opt, -5), "ERR invalid expire time in 'getex' command")
        err(c.call("GETEX", "k", "EX", LLMAX // 1000 + 1), "ERR invalid expire time in 'getex' command")
        assert_eq(c.call("GETEX", "k", "EX", 10, "EX", 20), b"v")   # the same option twice: last wins
        assert_eq(c.call("GETEX", "k", "PX", 300), b"v")
        assert_eq(c.call("GETEX", "k", "PERSIST"), b"v")
        time.sleep(0.5)
        assert_eq(c.call("GET", "k"), b"v")                      # PERSIST removed the 300 ms TTL
        assert_eq(c.call("GETEX", "k", "PX", 200), b"v")
        wait_until(lambda: c.call("GET", "k") is None, timeout=5)
        # EXAT/PXAT in the past delete the key at once, after replying.
        c.call("SET", "k", "v")
        assert_eq(c.call("GETEX", "k", "EXAT", 1), b"v")
        assert_eq(c.call("GET", "k"), None)
        c.call("SET", "k", "v")
        assert_eq(c.call("GETEX", "k", "PXAT", int(time.time() * 1000) - 10), b"v")
        assert_eq(c.call("GET", "k"), None)
        c.call("SET", "k", "v")
        assert_eq(c.call("GETEX", "k", "pxat", int(time.time() * 1000) + 400), b"v")
        assert_eq(c.call("GET", "k"), b"v")
        wait_until(lambda: c.call("GET", "k") is None, timeout=5)
        c.call("SET", "k", "v")
        assert_eq(c.call("GETEX", "k", "exat", int(time.time()) + 1000), b"v")
        t = pttl(c, "k")
        assert_true(990000 < t <= 1000000, t)
        arity(c.call("GETEX"), "getex")


@test
def mget_mset_msetnx():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("MSET", "a", 1, "b", 2, "a", 3), "OK")
        assert_eq(c.call("MGET", "a", "b", "c", "a"), [b"3", b"2", None, b"3"])
        arity(c.call("MSET", "a", 1, "b"), "mset")
        arity(c.call("MSET", "a"), "mset")
        arity(c.call("MSETNX", "a", 1, "b"), "msetnx")
        arity(c.call("MGET"), "mget")
        assert_eq(c.call("MSETNX", "x", 1, "a", 9), 0)
        assert_eq(c.call("MGET", "x", "a"), [None, b"3"])
        assert_eq(c.call("MSETNX", "x", 1, "y", 2), 1)
        assert_eq(c.call("MGET", "x", "y"), [b"1", b"2"])
        # MSET clears TTLs; MSETNX treats an expired key as absent.
        c.call("PSETEX", "t", 400, "old")
        c.call("MSET", "t", "new")
        c.call("PSETEX", "u", 100, "old")
        time.sleep(0.6)
        assert_eq(c.call("GET", "t"), b"new")
        assert_eq(c.call("MSETNX", "u", "fresh"), 1)
        assert_eq(c.call("GET", "u"), b"fresh")
        other_type_key(c, "coll")
        assert_eq(c.call("MGET", "a", "coll"), [b"3", None])
        assert_eq(c.call("MSETNX", "coll", 1), 0)
        assert_eq(c.call("MSET", "coll", "s"), "OK")
        assert_eq(c.call("GET", "coll"), b"s")


@test
def incr_decr():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("INCR", "n"), 1)
        assert_eq(c.call("INCR", "n"), 2)
        assert_eq(c.call("DECR", "n"), 1)
        assert_eq(c.call("INCRBY", "n", 100), 101)
        assert_eq(c.call("DECRBY", "n", 200), -99)
        assert_eq(c.call("GET", "n"), b"-99")
        assert_eq(c.call("DECR", "m"), -1)
        assert_eq(c.call("INCRBY", "m", -5), -6)
        assert_eq(c.call("DECRBY", "m", -7), 1)
        c.call("SET", "n", LLMAX - 1)
        assert_eq(c.call("INCR", "n"), LLMAX)
        err(c.call("INCR", "n"), OVERFLOW)
        err(c.call("INCRBY", "n", 1), OVERFLOW)
        assert_eq(c.call("GET", "n"), str(LLMAX).encode())
        c.call("SET", "n", LLMIN + 1)
        assert_eq(c.call("DECR", "n"), LLMIN)
        err(c.call("DECR", "n"), OVERFLOW)
        err(c.call("DECRBY", "n", 1), OVERFLOW)
        err(c.call("INCRBY", "n", LLMIN), OVERFLOW)
        assert_eq(c.call("INCRBY", "n", LLMAX), -1)
        err(c.call("DECRBY", "n", LLMIN), "ERR decrement would overflow")
        for bad in ("1.5", "abc", "", " 1", "1 ", "01", "+1", "-0", str(2 ** 63), "1e3"):
            c.call("SET", "b", bad)
            err(c.call("INCR", "b"), NOTINT)
            err(c.call("DECRBY", "b", 1), NOTINT)
            assert_eq(c.call("GET", "b"), bad.encode())
            err(c.call("INCRBY", "n", bad), NOTINT)
            err(c.call("DECRBY", "n", bad), NOTINT)
        arity(c.call("INCR"), "incr")
        arity(c.call("INCRBY", "n"), "incrby")
        arity(c.call("DECR", "n", 1), "decr")
        # INCR keeps the TTL.
        c.call("PSETEX", "t", 300, 10)
        assert_eq(c.call("INCR", "t"), 11)
        wait_until(lambda: c.call("GET", "t") is None, timeout=5)
        other_type_key(c, "coll")
        for cmd in (["INCR", "coll"], ["DECR", "coll"], ["INCRBY", "coll", 1],
                    ["DECRBY", "coll", 1], ["INCRBYFLOAT", "coll", 1]):
            err(c.call(*cmd), WRONGTYPE)


@test
def incrbyfloat():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("INCRBYFLOAT", "f", "10.5"), b"10.5")
        assert_eq(c.call("INCRBYFLOAT", "f", "0.1"), b"10.6")
        assert_eq(c.call("INCRBYFLOAT", "f", "-5"), b"5.6")
        c.call("SET", "g", "5.0e3")
        assert_eq(c.call("INCRBYFLOAT", "g", "2.0e2"), b"5200")
        assert_eq(c.call("INCRBYFLOAT", "g", "-5200"), b"0")
        c.call("SET", "h", 3)
        assert_eq(c.call("INCRBYFLOAT", "h", "1.5"), b"4.5")
        assert_eq(c.call("INCRBYFLOAT", "i", "1e2"), b"100")
        assert_eq(c.call("INCRBYFLOAT", "j", "-0.0"), b"0")
        for bad in ("abc", "", " 1", "1 ", "nan", "1.5x"):
            err(c.call("INCRBYFLOAT", "f", bad), NOTFLOAT)
            c.call("SET", "b", bad)
            err(c.call("INCRBYFLOAT", "b", 1), NOTFLOAT)
        err(c.call("INCRBYFLOAT", "f", "inf"), NANINF)
        err(c.call("INCRBYFLOAT", "f", "-inf"), NANINF)
        c.call("SET", "b", "inf")
        err(c.call("INCRBYFLOAT", "b", 1), NANINF)
        assert_eq(c.call("GET", "f"), b"5.6")
        arity(c.call("INCRBYFLOAT", "f"), "incrbyfloat")
        # Bulk reply in RESP3 too (not a double).
        c3 = s.conn(resp=3)
        assert_eq(c3.call_raw("INCRBYFLOAT", "f", "1"), b"$3\r\n6.6\r\n")
        assert_eq(c.call_raw("INCRBYFLOAT", "f", "1"), b"$3\r\n7.6\r\n")
        # keeps the TTL
        c.call("PSETEX", "t", 300, "1.5")
        assert_eq(c.call("INCRBYFLOAT", "t", "1"), b"2.5")
        wait_until(lambda: c.call("GET", "t") is None, timeout=5)


@test
def append_strlen_getrange_setrange():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("APPEND", "k", "Hello"), 5)
        assert_eq(c.call("APPEND", "k", " World"), 11)
        assert_eq(c.call("APPEND", "k", ""), 11)
        assert_eq(c.call("APPEND", "e", ""), 0)
        assert_eq(c.call("GET", "e"), b"")
        assert_eq(c.call("STRLEN", "k"), 11)
        assert_eq(c.call("STRLEN", "nokey"), 0)
        assert_eq(c.call("GET", "k"), b"Hello World")
        arity(c.call("APPEND", "k"), "append")
        arity(c.call("STRLEN"), "strlen")
        c.call("SET", "s", "This is a string")
        for args, want in [((0, 3), b"This"), ((-3, -1), b"ing"), ((0, -1), b"This is a string"),
                           ((10, 100), b"string"), ((5, 3), b""), ((-1, -5), b""), ((-100, 2), b"Thi"),
                           ((100, 200), b""), ((LLMIN, LLMAX), b"This is a string"), ((-1, 0), b"")]:
            assert_eq(c.call("GETRANGE", "s", *args), want, "GETRANGE %r" % (args,))
            assert_eq(c.call("SUBSTR", "s", *args), want, "SUBSTR %r" % (args,))
        assert_eq(c.call("GETRANGE", "nokey", 0, -1), b"")
        err(c.call("GETRANGE", "s", "a", 1), NOTINT)
        err(c.call("GETRANGE", "s", 0, str(2 ** 63)), NOTINT)
        arity(c.call("GETRANGE", "s", 0), "getrange")
        arity(c.call("SUBSTR", "s", 0, 1, 2), "substr")
        assert_eq(c.call("SETRANGE", "s", 10, "STRING"), 16)
        assert_eq(c.call("GET", "s"), b"This is a STRING")
        assert_eq(c.call("SETRANGE", "s", 20, "!"), 21)
        assert_eq(c.call("GET", "s"), b"This is a STRING\x00\x00\x00\x00!")
        assert_eq(c.call("SETRANGE", "new", 3, "x"), 4)
        assert_eq(c.call("GET", "new"), b"\x00\x00\x00x")
        assert_eq(c.call("SETRANGE", "none", 5, ""), 0)
        assert_eq(c.call("GET", "none"), None)
        assert_eq(c.call("SETRANGE", "s", 100, ""), 21)
        err(c.call("SETRANGE", "s", -1, "x"), "ERR offset is out of range")
        err(c.call("SETRANGE", "s", "x", "x"), NOTINT)
        err(c.call("SETRANGE", "s", 512 * 1024 * 1024, "x"), TOOBIG)
        err(c.call("SETRANGE", "s", LLMAX, "x"), TOOBIG)
        arity(c.call("SETRANGE", "s", 1), "setrange")
        # APPEND and SETRANGE keep the TTL.
        c.call("PSETEX", "t", 300, "a")
        assert_eq(c.call("APPEND", "t", "b"), 2)
        assert_eq(c.call("SETRANGE", "t", 0, "c"), 2)
        assert_eq(c.call("GET", "t"), b"cb")
        wait_until(lambda: c.call("GET", "t") is None, timeout=5)
        other_type_key(c, "coll")
        for cmd in (["APPEND", "coll", "x"], ["STRLEN", "coll"], ["GETRANGE", "coll", 0, 1],
                    ["SETRANGE", "coll", 0, "x"], ["SETRANGE", "coll", 0, ""], ["GET", "coll"], ["GETSET", "coll", "x"],
                    ["GETDEL", "coll"], ["GETEX", "coll"], ["SET", "coll", "x", "GET"],
                    ["SETBIT", "coll", 0, 1], ["GETBIT", "coll", 0], ["BITCOUNT", "coll"]):
            err(c.call(*cmd), WRONGTYPE)
        err(c.call("LCS", "coll", "s"), "ERR The specified keys must contain string values")


@test
def proto_max_bulk_len_limit():
    with CairnServer({"proto-max-bulk-len": "1mb"}) as s:
        c = s.conn()
        mb = 1024 * 1024
        assert_eq(c.call("SETRANGE", "k", mb - 1, "x"), mb)
        err(c.call("APPEND", "k", "y"), TOOBIG)
        err(c.call("SETRANGE", "k", mb - 1, "yz"), TOOBIG)
        err(c.call("SETRANGE", "n", mb, "x"), TOOBIG)
        assert_eq(c.call("STRLEN", "k"), mb)
        err(c.call("SETBIT", "b", mb * 8, 1), "ERR bit offset is not an integer or out of range")
        err(c.call("GETBIT", "b", mb * 8), "ERR bit offset is not an integer or out of range")
        assert_eq(c.call("SETBIT", "b", mb * 8 - 1, 1), 0)
        assert_eq(c.call("STRLEN", "b"), mb)
        assert_eq(c.call("BITCOUNT", "b"), 1)
        assert_eq(c.call("BITPOS", "b", 1), mb * 8 - 1)


@test
def bits_basic():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("SETBIT", "b", 7, 1), 0)
        assert_eq(c.call("SETBIT", "b", 7, 1), 1)
        assert_eq(c.call("GET", "b"), b"\x01")
        assert_eq(c.call("GETBIT", "b", 7), 1)
        assert_eq(c.call("GETBIT", "b", 1000), 0)
        err(c.call("SETBIT", "b", -1, 1), "ERR bit offset is not an integer or out of range")
        err(c.call("SETBIT", "b", 0, 2), "ERR bit is not an integer or out of range")
        err(c.call("SETBIT", "b", 0, "x"), "ERR bit is not an integer or out of range")
        c.call("SET", "f", "foobar")
        assert_eq(c.call("BITCOUNT", "f"), 26)
        assert_eq(c.call("BITCOUNT", "f", 1, 1), 6)
        assert_eq(c.call("BITCOUNT", "f", 5, 30, "BIT"), 17)
        err(c.call("BITCOUNT", "f", 1), SYNTAX)
        assert_eq(c.call("BITPOS", "f", 0), 0)
        assert_eq(c.call("BITPOS", "f", 1, 2, -1, "BYTE"), 17)
        assert_eq(c.call("BITPOS", "f", 1, 7, 15, "BIT"), 9)
        err(c.call("BITPOS", "f", 2), "ERR The bit argument must be 1 or 0.")
        c.call("SET", "ff", b"\xff\xff")
        assert_eq(c.call("BITPOS", "ff", 0), 16)
        assert_eq(c.call("BITPOS", "ff", 0, 0, -1), -1)
        assert_eq(c.call("BITOP", "AND", "d", "f", "ff"), 6)
        assert_eq(c.call("GET", "d"), b"fo\x00\x00\x00\x00")
        assert_eq(c.call("BITOP", "NOT", "d", "ff"), 2)
        assert_eq(c.call("GET", "d"), b"\x00\x00")
        err(c.call("BITOP", "NOT", "d", "a", "b"), "ERR BITOP NOT must be called with a single source key.")
        err(c.call("BITOP", "NAND", "d", "a"), SYNTAX)
        assert_eq(c.call("BITOP", "OR", "d", "nokey"), 0)
        assert_eq(c.call("GET", "d"), None)


@test
def lcs():
    with CairnServer() as s:
        c = s.conn()
        c.call("MSET", "a", "ohmytext", "b", "mynewtext")
        assert_eq(c.call("LCS", "a", "b"), b"mytext")
        assert_eq(c.call("LCS", "a", "b", "LEN"), 6)
        assert_eq(c.call("LCS", "a", "b", "IDX"),
                  [b"matches", [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len", 6])
        assert_eq(c.call("LCS", "a", "b", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN"),
                  [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6])
        err(c.call("LCS", "a", "b", "IDX", "LEN"), "ERR If you want both the length and indexes, please just use IDX.")
        err(c.call("LCS", "a", "b", "FOO"), SYNTAX)
        assert_eq(c.call("LCS", "a", "nokey"), b"")
        c3 = s.conn(resp=3)
        r = c3.call("LCS", "a", "b", "IDX")
        assert_true(isinstance(r, Map), r)
        assert_eq(r.get(b"len"), 6)


@test
def resp3_forms():
    with CairnServer() as s:
        c = s.conn(resp=3)
        assert_eq(c.call_raw("GET", "nokey"), b"_\r\n")
        assert_eq(c.call_raw("GETDEL", "nokey"), b"_\r\n")
        assert_eq(c.call_raw("GETEX", "nokey"), b"_\r\n")
        assert_eq(c.call_raw("GETSET", "k", "v"), b"_\r\n")
        assert_eq(c.call_raw("MGET", "k", "nokey"), b"*2\r\n$1\r\nv\r\n_\r\n")
        assert_eq(c.call_raw("INCR", "n"), b":1\r\n")
        assert_eq(c.call_raw("MSETNX", "k", "x"), b":0\r\n")
        assert_eq(c.call_raw("SETNX", "k", "x"), b":0\r\n")
        assert_eq(c.call_raw("GETRANGE", "nokey", 0, 1), b"$0\r\n\r\n")
        assert_eq(c.call_raw("SETEX", "k", 0, "x"), b"-ERR invalid expire time in 'setex' command\r\n")
        c2 = s.conn()
        assert_eq(c2.call_raw("GET", "nokey"), b"$-1\r\n")
        assert_eq(c2.call_raw("MGET", "nokey"), b"*1\r\n$-1\r\n")


# --------------------------------------------------------------- durability

def _write_everything(c, now_ms):
    """Runs every string write; returns the expected values and the absolute
    expiry (ms) each key should have (None = no TTL)."""
    c.call("SET", "set", "v")
    c.call("SETNX", "setnx", "v")
    c.call("SETEX", "setex", 1000, "v")
    c.call("PSETEX", "psetex", 2000000, "v")
    c.call("SET", "getset", "old", "EX", 1000)
    c.call("GETSET", "getset", "new")
    c.call("SET", "getdel", "x")
    c.call("GETDEL", "getdel")
    c.call("SET", "getex_ex", "v")
    c.call("GETEX", "getex_ex", "EX", 3000)
    c.call("SET", "getex_px", "v")
    c.call("GETEX", "getex_px", "PX", 4000000)
    c.call("SET", "getex_exat", "v")
    c.call("GETEX", "getex_exat", "EXAT", now_ms // 1000 + 5000)
    c.call("SET", "getex_pxat", "v")
    c.call("GETEX", "getex_pxat", "PXAT", now_ms + 6000000)
    c.call("SET", "getex_persist", "v", "EX", 1000)
    c.call("GETEX", "getex_persist", "PERSIST")
    c.call("SET", "getex_past", "v")
    c.call("GETEX", "getex_past", "PXAT", 1)
    c.call("MSET", "m1", "a", "m2", "b")
    c.call("MSETNX", "mn1", "a", "mn2", "b")
    c.call("MSETNX", "mn1", "z", "mn3", "z")
    c.call("INCR", "incr")
    c.call("INCRBY", "incr", 41)
    c.call("DECR", "decr")
    c.call("DECRBY", "decr", 9)
    c.call("SET", "float", "1.1", "EX", 7000)
    c.call("INCRBYFLOAT", "float", "2.2")
    c.call("INCRBYFLOAT", "float", "0.1")
    c.call("APPEND", "append", "ab")
    c.call("APPEND", "append", "cd")
    c.call("SETRANGE", "setrange", 2, "xy")
    c.call("SETBIT", "bits", 9, 1)
    c.call("SET", "src", "\x0f")
    c.call("BITOP", "NOT", "bitop", "src")
    day = 1000
    want = {
        "set": (b"v", None), "setnx": (b"v", None), "setex": (b"v", now_ms + 1000 * day),
        "psetex": (b"v", now_ms + 2000000), "getset": (b"new", None), "getdel": (None, None),
        "getex_ex": (b"v", now_ms + 3000000), "getex_px": (b"v", now_ms + 4000000),
        "getex_exat": (b"v", (now_ms // 1000 + 5000) * 1000), "getex_pxat": (b"v", now_ms + 6000000),
        "getex_persist": (b"v", None), "getex_past": (None, None),
        "m1": (b"a", None), "m2": (b"b", None), "mn1": (b"a", None), "mn2": (b"b", None),
        "mn3": (None, None), "incr": (b"42", None), "decr": (b"-10", None),
        "float": (b"3.4", now_ms + 7000000), "append": (b"abcd", None),
        "setrange": (b"\x00\x00xy", None), "bits": (b"\x00\x40", None), "bitop": (b"\xf0", None),
    }
    return want


def _check_everything(c, want, now_ms, label):
    for k, (val, exp) in sorted(want.items()):
        assert_eq(c.call("GET", k), val, "%s: GET %s" % (label, k))
        t = pttl(c, k)
        if val is None:
            assert_eq(t, -2, "%s: PTTL %s" % (label, k))
        elif exp is None:
            assert_eq(t, -1, "%s: PTTL %s" % (label, k))
        else:
            remaining = exp - int(time.time() * 1000)
            assert_true(abs(t - remaining) < 1000, "%s: PTTL %s = %r, expected about %r"
                        % (label, k, t, remaining))


def _short_ttls(c):
    """Keys whose TTL must survive (or stay cleared) through a restart, checked
    by timing: expiries are absolute, so replaying the stream later must not
    extend them."""
    c.call("PSETEX", "short_psetex", 3500, "v")
    c.call("SET", "short_getex", "v")
    c.call("GETEX", "short_getex", "PX", 3500)
    c.call("SET", "short_float", "1", "PX", 3500)
    c.call("INCRBYFLOAT", "short_float", "1")
    c.call("SET", "short_incr", "1", "PX", 3500)
    c.call("INCR", "short_incr")
    c.call("SET", "noexp_getset", "v", "PX", 1500)
    c.call("GETSET", "noexp_getset", "w")
    c.call("SET", "noexp_persist", "v", "PX", 1500)
    c.call("GETEX", "noexp_persist", "PERSIST")
    return time.time() + 3.5


def _check_short_ttls(c, deadline):
    short = ["short_psetex", "short_getex", "short_float", "short_incr"]
    if time.time() < deadline - 0.3:
        for k in short:
            assert_true(c.call("GET", k) is not None, "%s expired too early" % k)
    # Gone close to the original deadline (a relative TTL re-applied at replay
    # time would keep them alive as long as the gap before the restart, >= 1.5 s).
    wait_until(lambda: all(c.call("GET", k) is None for k in short),
               timeout=max(0.1, deadline - time.time()) + 0.7, msg="short TTLs after restart")
    assert_eq(c.call("GET", "noexp_getset"), b"w")
    assert_eq(c.call("GET", "noexp_persist"), b"v")


@test
def propagation_survives_restart():
    with CairnServer() as s:
        c = s.conn()
        now = int(time.time() * 1000)
        deadline = _short_ttls(c)
        want = _write_everything(c, now)
        _check_everything(c, want, now, "before restart")
        time.sleep(1.5)
        s.restart()
        c = s.conn()
        _check_everything(c, want, now, "after restart")
        _check_short_ttls(c, deadline)


@test
def propagation_survives_kill9():
    # A long checkpoint interval: after SIGKILL everything comes back by
    # replaying the propagated stream from the WAL.
    with CairnServer({"durability": "strict", "checkpoint-interval-ms": 86400000}) as s:
        c = s.conn()
        now = int(time.time() * 1000)
        deadline = _short_ttls(c)
        want = _write_everything(c, now)
        time.sleep(1.5)
        s.kill9()
        s.start()
        c = s.conn()
        _check_everything(c, want, now, "after kill -9")
        _check_short_ttls(c, deadline)
        # and once more, graceful, on top of the replayed state
        s.restart()
        _check_everything(s.conn(), want, now, "after kill -9 + restart")


if __name__ == "__main__":
    run_tests()
