"""Shared helpers for test_generic_types.py and test_replication_types.py:
values of every type and encoding built in a real redis-server 7.0, their
DUMP payloads, reading a value back member by member, and CRC-64 (Jones) to
forge payloads."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403


def _crc64_table():
    poly = 0x95AC9329AC4BC9B5  # reflected 0xad93d23594c935a9
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc64_table()


def crc64(data, crc=0):
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def forge(body, version=10):
    """A DUMP payload: body + version (2 bytes LE) + CRC64 (8 bytes LE)."""
    p = body + bytes([version & 0xFF, version >> 8])
    return p + crc64(p).to_bytes(8, "little")


def build_all(r, big=True):
    """Creates one key per type/encoding in redis connection r (db 0) and
    returns {key: expected redis OBJECT ENCODING}."""
    rnd = random.Random(5)
    cmds = [
        ["SET", "str:int", "12345"],
        ["SET", "str:neg", "-42"],
        ["SET", "str:emb", "hello"],
        ["SET", "str:raw", "x" * 100],               # LZF-compressed in the payload
        ["SET", "str:bin", bytes(rnd.randrange(256) for _ in range(300))],
        ["SET", "str:empty", ""],
        ["SET", "str:big", "abc" * 100000],
        ["RPUSH", "list:small", "a", "b", "1", "-2", "3000000000", "", "-9223372036854775808", "1.5"],
        ["RPUSH", "list:ints"] + [str(i * 37 - 500) for i in range(200)],
        ["RPUSH", "list:bigelem"] + ["e%d" % i + "y" * 10000 for i in range(5)],
        ["SADD", "set:intset", "1", "2", "-7", "9223372036854775807", "-9223372036854775808", "70000"],
        ["SADD", "set:str", "a", "b", "", "c\x00d"],
        ["ZADD", "zset:lp", "1", "a", "2.5", "b", "-inf", "c", "inf", "d", "0", "e", "-3", "f", "1e300", "g"],
        ["ZADD", "zset:longmember", "1", "m" * 100, "2", "n"],
        ["HSET", "hash:lp", "f1", "v1", "f2", "2", "", "empty", "n", "-5"],
        ["HSET", "hash:longval", "f", "v" * 100, "g", "1"],
    ]
    if big:
        cmds += [
            ["RPUSH", "list:big"] + ["item%d" % i if i % 3 else str(i) for i in range(5000)],
            ["SADD", "set:bigint"] + [str(i * 3) for i in range(1000)],
            ["SADD", "set:big"] + ["member:%d" % i for i in range(3000)],
            ["ZADD", "zset:big"] + sum([[str(i / 7.0), "z%d" % i] for i in range(2000)], []),
            ["HSET", "hash:big"] + sum([["field%d" % i, "value%d" % i] for i in range(2000)], []),
        ]
    for cmd in cmds:
        res = r.call(*cmd)
        assert_true(not is_error(res), "%r: %r" % (cmd[:2], res))
    # a list made of several small nodes, some LZF-compressed
    r.call("CONFIG", "SET", "list-max-listpack-size", "4")
    r.call("CONFIG", "SET", "list-compress-depth", "1")
    r.call("RPUSH", "list:compressed", *["compressible-" + "q" * 50 + str(i) for i in range(40)])
    r.call("CONFIG", "SET", "list-max-listpack-size", "-2")
    r.call("CONFIG", "SET", "list-compress-depth", "0")
    keys = [k for k in sorted(r.call("KEYS", "*"))]
    return {k: r.call("OBJECT", "ENCODING", k) for k in keys}


def contents(conn, key):
    """The value of key read member by member (type-specific commands), as a
    comparable tuple. Works on real redis (and on cairn once the type
    commands exist)."""
    t = conn.call("TYPE", key)
    t = t if isinstance(t, str) else str(t)
    if t == "string":
        v = conn.call("GET", key)
    elif t == "list":
        v = conn.call("LRANGE", key, 0, -1)
    elif t == "set":
        v = sorted(conn.call("SMEMBERS", key))
    elif t == "zset":
        v = conn.call("ZRANGE", key, 0, -1, "WITHSCORES")
    elif t == "hash":
        h = conn.call("HGETALL", key)
        v = sorted(zip(h[0::2], h[1::2]))
    else:
        v = None
    return (t, v)


# ---- legacy encodings (what Redis < 7.0 wrote; Redis 7.0 still loads them)

def rdb_len(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    return b"\x80" + n.to_bytes(4, "big")


def rdb_str(b):
    return rdb_len(len(b)) + b


def _zl_entry(prevlen, v):
    pl = bytes([prevlen]) if prevlen < 254 else b"\xfe" + prevlen.to_bytes(4, "little")
    if isinstance(v, int):
        if 0 <= v <= 12:
            enc = bytes([0xF1 + v])
        elif -128 <= v < 128:
            enc = b"\xfe" + v.to_bytes(1, "little", signed=True)
        elif -32768 <= v < 32768:
            enc = b"\xc0" + v.to_bytes(2, "little", signed=True)
        elif -(1 << 23) <= v < (1 << 23):
            enc = b"\xf0" + v.to_bytes(3, "little", signed=True)
        elif -(1 << 31) <= v < (1 << 31):
            enc = b"\xd0" + v.to_bytes(4, "little", signed=True)
        else:
            enc = b"\xe0" + v.to_bytes(8, "little", signed=True)
    else:
        n = len(v)
        if n < 64:
            enc = bytes([n]) + v
        elif n < 16384:
            enc = bytes([0x40 | (n >> 8), n & 0xFF]) + v
        else:
            enc = b"\x80" + n.to_bytes(4, "big") + v
    return pl + enc


def ziplist(vals):
    body, prev, tail = b"", 0, 10
    for v in vals:
        e = _zl_entry(prev, v)
        tail = 10 + len(body)
        body += e
        prev = len(e)
    total = 10 + len(body) + 1
    return (total.to_bytes(4, "little") + tail.to_bytes(4, "little") + min(len(vals), 65535).to_bytes(2, "little")
            + body + b"\xff")


def zipmap(pairs, free=0):
    def zl(n):
        return bytes([n]) if n < 254 else b"\xfe" + n.to_bytes(4, "little")
    out = bytes([min(len(pairs), 254)])
    for k, v in pairs:
        out += zl(len(k)) + k + zl(len(v)) + bytes([free]) + v + b"\x00" * free
    return out + b"\xff"


def legacy_payloads():
    """{name: payload} of every legacy encoding, forged."""
    return {
        "zl:list": forge(b"\x0a" + rdb_str(ziplist([b"a", 5, -1000, 1 << 40, b"x" * 100, 12, 0, -(1 << 63),
                                                   100000, -(1 << 20), b"", b"y" * 300]))),
        "zl:zset": forge(b"\x0c" + rdb_str(ziplist([b"m3", b"-inf", b"m1", b"1.5", b"m2", 3, b"m4", b"1e10"]))),
        "zl:hash": forge(b"\x0d" + rdb_str(ziplist([b"f1", b"v1", b"f2", 77, b"", b"empty", b"big", b"z" * 70]))),
        "zm:hash": forge(b"\x09" + rdb_str(zipmap([(b"k1", b"v1"), (b"k2", b""), (b"long", b"w" * 300)]))),
        "zm:free": forge(b"\x09" + rdb_str(zipmap([(b"a", b"1"), (b"b", b"22")], free=2))),
        "ql:list": forge(b"\x0e" + rdb_len(2) + rdb_str(ziplist([b"n1", 1, 2])) + rdb_str(ziplist([b"n2", -3]))),
    }
