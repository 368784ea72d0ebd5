"""Differential tests: string and bit commands, cairn vs redis-server 7.0.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_strings.py [name...]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests  # noqa: E402
from differential import compare, random_string_commands  # noqa: E402

BIN = b"\x00\xff\r\n\x01 bin"
FAR = str(int(time.time()) + 100000)          # absolute expiry far in the future
FAR_MS = str((int(time.time()) + 100000) * 1000 + 123)


def T(*args):
    return (list(args), "ttl_tolerant")


@test
def get_set_basic():
    compare([
        ["GET", "k"], ["SET", "k", "v"], ["GET", "k"], ["SET", "k", BIN], ["GET", "k"],
        ["SET", BIN, "binkey"], ["GET", BIN], ["SET", "empty", ""], ["GET", "empty"],
        ["STRLEN", "empty"], ["SET", "k", "x" * 10000], ["GET", "k"], ["STRLEN", "k"],
        ["set", "lower", "case"], ["GeT", "lower"], ["SET", "n", 12345], ["GET", "n"],
        ["SET", "f", "1.5"], ["GET", "f"], ["SET", "neg", "-0"], ["GET", "neg"],
    ])


@test
def get_set_arity_and_syntax():
    compare([
        ["GET"], ["GET", "a", "b"], ["SET"], ["SET", "k"], ["SET", "k", "v", "FOO"],
        ["SET", "k", "v", "NX", "XX"], ["SET", "k", "v", "EX"], ["SET", "k", "v", "EX", "10", "PX", "100"],
        ["SET", "k", "v", "EX", "abc"], ["SET", "k", "v", "EX", "0"], ["SET", "k", "v", "EX", "-5"],
        ["SET", "k", "v", "PX", "0"], ["SET", "k", "v", "EX", "1.5"], ["SET", "k", "v", "EXAT", "0"],
        ["SET", "k", "v", "PXAT", "-1"], ["SET", "k", "v", "KEEPTTL", "EX", "10"],
        ["SET", "k", "v", "EX", "10", "KEEPTTL"], ["SET", "k", "v", "EX", "9223372036854775807"],
        ["SET", "k", "v", "PX", "9223372036854775807"], ["SET", "k", "v", "EX", "99999999999999999999"],
        ["SET", "k", "v", "GET", "GET"], ["SET", "k", "v", "ex", "100", "ex", "200"],
        ["SET", "k", "v", "NX", "NX"], ["SET", "k", "v", "XX", "XX"], ["GET", "k"],
        ["SETNX"], ["SETNX", "k"], ["GETSET", "k"], ["GETDEL"], ["GETDEL", "a", "b"],
        ["MGET"], ["MSET"], ["MSET", "a"], ["MSET", "a", "1", "b"], ["MSETNX", "a"],
        ["STRLEN"], ["APPEND", "a"], ["GETRANGE", "a", "0"], ["SETRANGE", "a", "0"],
    ])


@test
def set_options():
    compare([
        ["SET", "k", "v1", "NX"], ["SET", "k", "v2", "NX"], ["GET", "k"],
        ["SET", "k", "v3", "XX"], ["SET", "nokey", "v", "XX"], ["GET", "k"], ["EXISTS", "nokey"],
        ["SET", "k", "v4", "GET"], ["SET", "new", "v", "GET"], ["SET", "k", "v5", "NX", "GET"],
        ["SET", "k2", "v5", "NX", "GET"], ["SET", "k", "v6", "XX", "GET"], ["SET", "nokey2", "v", "XX", "GET"],
        ["SET", "k", "v", "EX", "1000"], T("TTL", "k"), T("PTTL", "k"),
        ["SET", "k", "v", "PX", "1000000"], T("PTTL", "k"),
        ["SET", "k", "v", "EXAT", FAR], ["EXPIRETIME", "k"], T("TTL", "k"),
        ["SET", "k", "v", "PXAT", FAR_MS], ["PEXPIRETIME", "k"], ["EXPIRETIME", "k"],
        ["SET", "k", "v2", "KEEPTTL"], ["PEXPIRETIME", "k"], ["GET", "k"],
        ["SET", "k", "v3"], ["TTL", "k"], ["SET", "k", "v", "KEEPTTL"], ["TTL", "k"],
        ["SET", "k", "v", "exat", "1"], ["GET", "k"], ["EXISTS", "k"],
        ["SET", "k", "v", "pxat", "1"], ["GET", "k"],
        ["SET", "k", "v", "EX", "1000", "NX"], ["SET", "k", "v", "EX", "1000", "XX", "GET"], T("TTL", "k"),
        ["SET", "k", "v", "xx", "keepttl", "get"], T("TTL", "k"),
    ])


@test
def setnx_getset_getdel():
    compare([
        ["SETNX", "k", "a"], ["SETNX", "k", "b"], ["GET", "k"], ["GETSET", "k", "c"], ["GET", "k"],
        ["GETSET", "nokey", "x"], ["GET", "nokey"], ["SET", "t", "v", "EX", "1000"], ["GETSET", "t", "w"],
        ["TTL", "t"], ["GETDEL", "k"], ["GETDEL", "k"], ["EXISTS", "k"], ["GETDEL", "t"],
        ["SETNX", BIN, BIN], ["GETDEL", BIN],
    ])


@test
def getex():
    compare([
        ["GETEX", "nokey"], ["GETEX", "nokey", "EX", "100"], ["SET", "k", "v"], ["GETEX", "k"], ["TTL", "k"],
        ["GETEX", "k", "EX", "1000"], T("TTL", "k"), ["GETEX", "k", "PERSIST"], ["TTL", "k"],
        ["GETEX", "k", "PX", "1000000"], T("PTTL", "k"), ["GETEX", "k", "EXAT", FAR], ["EXPIRETIME", "k"],
        ["GETEX", "k", "PXAT", FAR_MS], ["PEXPIRETIME", "k"],
        ["GETEX", "k", "EX"], ["GETEX", "k", "EX", "0"], ["GETEX", "k", "EX", "-1"], ["GETEX", "k", "EX", "abc"],
        ["GETEX", "k", "PX", "0"], ["GETEX", "k", "EXAT", "0"], ["GETEX", "k", "FOO"],
        ["GETEX", "k", "EX", "10", "PX", "100"], ["GETEX", "k", "PERSIST", "EX", "10"],
        ["GETEX", "k", "KEEPTTL"], ["GETEX", "k", "EX", "9223372036854775807"], ["GETEX"],
        ["GETEX", "k", "EXAT", "1"], ["GET", "k"], ["EXISTS", "k"],
    ])


@test
def mget_mset_msetnx():
    compare([
        ["MSET", "a", "1", "b", "2", "c", BIN], ["MGET", "a", "b", "c", "nokey", "a"],
        ["MSET", "a", "x", "a", "y"], ["GET", "a"], ["MSETNX", "a", "1", "z", "2"], ["EXISTS", "z"],
        ["MSETNX", "y", "1", "z", "2"], ["MGET", "y", "z"], ["MSETNX", "q", "1", "q", "2"], ["GET", "q"],
        ["SET", "e", "v", "EX", "1000"], ["MSET", "e", "w"], ["TTL", "e"], ["MGET", "e"],
    ])


@test
def incr_decr():
    compare([
        ["INCR", "n"], ["INCR", "n"], ["DECR", "n"], ["DECR", "m"], ["INCRBY", "n", "10"],
        ["INCRBY", "n", "-20"], ["DECRBY", "n", "5"], ["DECRBY", "n", "-5"], ["GET", "n"],
        ["SET", "s", "abc"], ["INCR", "s"], ["DECR", "s"], ["INCRBY", "s", "1"],
        ["SET", "s", " 1"], ["INCR", "s"], ["SET", "s", "1 "], ["INCR", "s"], ["SET", "s", "01"], ["INCR", "s"],
        ["SET", "s", "+1"], ["INCR", "s"], ["SET", "s", "-0"], ["INCR", "s"], ["SET", "s", ""], ["INCR", "s"],
        ["SET", "s", "1.0"], ["INCR", "s"], ["SET", "s", "0x10"], ["INCR", "s"],
        ["INCRBY", "n", "abc"], ["INCRBY", "n", "1.5"], ["INCRBY", "n", ""], ["INCRBY", "n", "9223372036854775808"],
        ["SET", "big", "9223372036854775807"], ["INCR", "big"], ["INCRBY", "big", "1"], ["INCRBY", "big", "0"],
        ["DECRBY", "big", "-1"], ["SET", "small", "-9223372036854775808"], ["DECR", "small"],
        ["DECRBY", "small", "1"], ["INCRBY", "small", "-1"], ["DECRBY", "n", "-9223372036854775808"],
        ["DECRBY", "small", "-9223372036854775807"], ["GET", "small"],
        ["SET", "t", "5", "EX", "1000"], ["INCR", "t"], T("TTL", "t"),
        ["SET", "t2", "9223372036854775808"], ["INCR", "t2"],
        ["INCR"], ["INCR", "a", "b"], ["INCRBY", "a"], ["DECRBY", "a"], ["DECR"],
    ])


@test
def incrbyfloat():
    vals = ["1.5", "-0.25", "3.0e-5", "1e10", "10.50", "0", "5e-17", "-1e-300", "1.7976931348623157e308",
            "inf", "-inf", "+inf", "nan", "1e400", "abc", "", " 1", "1 ", "0x10", "1,5", "1e", ".5", "5.",
            "-.5", "+.5", "00001", "1.23456789012345678901234567890"]
    cmds = [["INCRBYFLOAT", "f", "0.1"], ["INCRBYFLOAT", "f", "0.2"], ["GET", "f"]]
    for v in vals:
        cmds.append(["INCRBYFLOAT", "f", v])
        cmds.append(["GET", "f"])
    cmds += [
        ["SET", "g", "abc"], ["INCRBYFLOAT", "g", "1"], ["SET", "g", "1.5e3"], ["INCRBYFLOAT", "g", "1"],
        ["SET", "g", " 1"], ["INCRBYFLOAT", "g", "1"], ["SET", "g", "inf"], ["INCRBYFLOAT", "g", "1"],
        ["SET", "g", "1.7976931348623157e308"], ["INCRBYFLOAT", "g", "1.7976931348623157e308"],
        ["SET", "g", "10"], ["INCRBYFLOAT", "g", "-10"], ["GET", "g"], ["INCRBYFLOAT", "g", "-0.0"],
        ["SET", "g", "3"], ["INCRBYFLOAT", "g", "1.1"], ["INCRBYFLOAT", "g", "1e-20"],
        ["SET", "g", "9223372036854775807"], ["INCRBYFLOAT", "g", "1"], ["INCR", "f"],
        ["INCRBYFLOAT", "g"], ["INCRBYFLOAT"],
    ]
    compare(cmds)


@test
def append_strlen():
    compare([
        ["APPEND", "a", "hello"], ["APPEND", "a", " world"], ["GET", "a"], ["STRLEN", "a"],
        ["APPEND", "a", ""], ["APPEND", "a", BIN], ["STRLEN", "a"], ["STRLEN", "nokey"],
        ["SET", "n", "10"], ["APPEND", "n", "5"], ["INCR", "n"], ["STRLEN", "n"],
        ["SET", "t", "v", "EX", "1000"], ["APPEND", "t", "x"], T("TTL", "t"), ["APPEND", "e", ""],
        ["EXISTS", "e"], ["GET", "e"], ["STRLEN", "a", "b"],
    ])


@test
def getrange_substr():
    idx = ["0", "1", "3", "-1", "-3", "-100", "100", "10", "9223372036854775807", "-9223372036854775808",
           "abc", "1.5", ""]
    cmds = [["SET", "s", "Hello, World"], ["SET", "e", ""], ["SET", "n", "12345"]]
    for a in idx:
        for b in idx[:10]:
            cmds.append(["GETRANGE", "s", a, b])
    cmds += [["GETRANGE", "e", "0", "-1"], ["GETRANGE", "e", "0", "0"], ["GETRANGE", "nokey", "0", "-1"],
             ["GETRANGE", "n", "1", "2"], ["SUBSTR", "s", "0", "4"], ["SUBSTR", "s", "-5", "-1"],
             ["SUBSTR", "s", "5", "2"], ["SUBSTR", "nokey", "0", "1"], ["SUBSTR", "s", "0"],
             ["GETRANGE", "s", "0", "1", "2"]]
    compare(cmds)


@test
def setrange():
    compare([
        ["SETRANGE", "s", "0", "Hello"], ["GET", "s"], ["SETRANGE", "s", "6", "World"], ["GET", "s"],
        ["SETRANGE", "s", "1", "EE"], ["GET", "s"], ["SETRANGE", "s", "20", BIN], ["GET", "s"], ["STRLEN", "s"],
        ["SETRANGE", "s", "0", ""], ["SETRANGE", "nokey", "5", ""], ["EXISTS", "nokey"],
        ["SETRANGE", "nokey", "0", ""], ["SETRANGE", "s", "-1", "x"], ["SETRANGE", "s", "abc", "x"],
        ["SETRANGE", "s", "536870912", "x"], ["SETRANGE", "s", "536870911", ""],
        ["SETRANGE", "s", "536870912", ""], ["SETRANGE", "s", "9223372036854775807", "x"],
        ["SETRANGE", "n", "3", "x"], ["SET", "n", "123"], ["SETRANGE", "n", "1", "9"], ["INCR", "n"],
        ["SETRANGE", "s", "0"], ["SETRANGE", "s", "0", "a", "b"], ["SET", "t", "v", "EX", "1000"],
        ["SETRANGE", "t", "3", "y"], ["GET", "t"], T("TTL", "t"),
    ])


@test
def setbit_getbit():
    cmds = [["SETBIT", "b", "7", "1"], ["GET", "b"], ["SETBIT", "b", "7", "0"], ["GET", "b"],
            ["SETBIT", "b", "0", "1"], ["SETBIT", "b", "100", "1"], ["GET", "b"], ["STRLEN", "b"]]
    for off in ["0", "1", "7", "8", "100", "101", "1000", "4294967295", "4294967296", "-1", "abc", "1.0", ""]:
        cmds.append(["GETBIT", "b", off])
    for off, v in [("5", "2"), ("5", "-1"), ("5", "x"), ("5", ""), ("-1", "1"), ("4294967296", "1"),
                   ("abc", "1"), ("9223372036854775807", "1"), ("1", "1")]:
        cmds.append(["SETBIT", "b", off, v])
    cmds += [["GETBIT", "nokey", "5"], ["SETBIT", "s", "3", "1"], ["SET", "s", "abc"], ["SETBIT", "s", "3", "1"],
             ["GET", "s"], ["SETBIT", "b"], ["SETBIT", "b", "1"], ["GETBIT", "b"], ["GETBIT", "b", "1", "2"],
             ["SETBIT", "z", "0", "0"], ["GET", "z"]]
    compare(cmds)


@test
def bitcount():
    idx = ["0", "1", "-1", "-2", "5", "100", "-100", "abc", "9223372036854775807", "-9223372036854775808"]
    cmds = [["SET", "s", "foobar"], ["BITCOUNT", "s"], ["BITCOUNT", "nokey"], ["BITCOUNT", "nokey", "0", "1"]]
    for a in idx:
        for b in idx[:7]:
            cmds.append(["BITCOUNT", "s", a, b])
            cmds.append(["BITCOUNT", "s", a, b, "BIT"])
        cmds.append(["BITCOUNT", "s", a, "-1", "BYTE"])
    cmds += [["BITCOUNT", "s", "0"], ["BITCOUNT", "s", "0", "1", "WORD"], ["BITCOUNT", "s", "0", "1", "bit"],
             ["BITCOUNT", "s", "0", "1", "BIT", "x"], ["BITCOUNT"], ["SET", "e", ""], ["BITCOUNT", "e"],
             ["BITCOUNT", "e", "0", "-1"], ["BITCOUNT", "e", "0", "-1", "BIT"], ["SET", "b", BIN], ["BITCOUNT", "b"]]
    compare(cmds)


@test
def bitpos():
    idx = ["0", "1", "-1", "2", "-3", "100", "-100", "abc"]
    cmds = [["SET", "a", b"\xff\xf0\x00"], ["SET", "z", b"\x00\x00\x00"], ["SET", "o", b"\xff\xff\xff"],
            ["SET", "e", ""]]
    for k in ["a", "z", "o", "e", "nokey"]:
        for bit in ["0", "1"]:
            cmds.append(["BITPOS", k, bit])
            for s in idx:
                cmds.append(["BITPOS", k, bit, s])
                for e in idx[:6]:
                    cmds.append(["BITPOS", k, bit, s, e])
                    cmds.append(["BITPOS", k, bit, s, e, "BIT"])
            cmds.append(["BITPOS", k, bit, "0", "-1", "BYTE"])
    cmds += [["BITPOS", "a", "2"], ["BITPOS", "a", "x"], ["BITPOS", "a", "1", "0", "1", "FOO"],
             ["BITPOS", "a"], ["BITPOS", "a", "1", "0", "1", "BIT", "x"]]
    compare(cmds)


@test
def bitop():
    compare([
        ["SET", "a", b"\xff\x0f"], ["SET", "b", b"\xf0"], ["SET", "c", b"\x01\x02\x03"],
        ["BITOP", "AND", "d", "a", "b"], ["GET", "d"], ["BITOP", "OR", "d", "a", "b", "c"], ["GET", "d"],
        ["BITOP", "XOR", "d", "a", "c"], ["GET", "d"], ["BITOP", "NOT", "d", "a"], ["GET", "d"],
        ["BITOP", "and", "d", "a", "nokey"], ["GET", "d"], ["BITOP", "OR", "d", "nokey", "nokey2"],
        ["EXISTS", "d"], ["BITOP", "NOT", "d", "a", "b"], ["BITOP", "NOT", "d"], ["BITOP", "FOO", "d", "a"],
        ["BITOP", "AND", "d"], ["BITOP", "AND"], ["BITOP"], ["BITOP", "XOR", "a", "a", "a"], ["GET", "a"],
        ["SET", "t", "v", "EX", "1000"], ["BITOP", "OR", "t", "b"], ["TTL", "t"], ["GET", "t"],
        ["BITOP", "NOT", "e", "nokey"], ["EXISTS", "e"],
    ])


@test
def lcs():
    compare([
        ["MSET", "k1", "ohmytext", "k2", "mynewtext"], ["LCS", "k1", "k2"], ["LCS", "k1", "k2", "LEN"],
        ["LCS", "k1", "k2", "IDX"], ["LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4"],
        ["LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"], ["LCS", "k1", "nokey"],
        ["LCS", "k1", "k2", "LEN", "IDX"], ["LCS", "k1"], ["LCS", "k1", "k2", "FOO"],
    ])


@test
def unknown_commands():
    compare([
        ["FOOBAR"], ["FOOBAR", "a", "b", "c"], ["foobar", "x" * 200], ["GETX", "k"],
        ["CONFIG", "NOPE"], ["CLIENT", "NOPE"], ["COMMAND", "FOO"],
    ])


@test
def resp3_strings():
    cmds = [["SET", "k", "v"], ["GET", "k"], ["GET", "nokey"], ["MGET", "k", "nokey"], ["INCR", "n"],
            ["INCRBYFLOAT", "f", "1.5"], ["SET", "k", "v", "GET"], ["SET", "k2", "v", "NX", "GET"],
            ["GETEX", "k", "PERSIST"], ["GETDEL", "k"], ["STRLEN", "nokey"], ["SETBIT", "b", "3", "1"],
            ["BITCOUNT", "b"], ["BITPOS", "b", "1"], ["LCS", "k2", "n", "IDX"], ["GET"], ["INCR", "k2"],
            ["FOOBAR"], ["SET", "k", "v", "EX", "1000"], T("TTL", "k"), ["EXISTS", "k"], ["TYPE", "k"]]
    compare(cmds, resp=3)


def _random(seed, n=2000):
    compare(random_string_commands(seed, n), name="random strings seed=%d" % seed)


@test
def random_seed_1():
    _random(1)


@test
def random_seed_2():
    _random(2)


@test
def random_seed_3():
    _random(3)


@test
def random_seed_4():
    _random(4)


@test
def random_resp3_seed_5():
    compare(random_string_commands(5, 800), resp=3, name="random strings resp3 seed=5")


if __name__ == "__main__":
    run_tests()
