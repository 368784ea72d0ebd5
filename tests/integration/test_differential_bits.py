"""Bit commands (SETBIT GETBIT BITCOUNT BITPOS BITOP) compared byte for byte
with a real redis-server 7.0: hand-written sequences with every error path,
then seeded random sequences (>= 2,000 bit commands each).

Every case runs on a fresh server pair so that the script only needs the
string and bit commands (no FLUSHALL/DEL)."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from differential import compare  # noqa: E402

BIG = str(2 ** 63)           # overflows long long
HUGE_OFF = str(512 * 1024 * 1024 * 8)  # first bit past 512MB


@test
def setbit_getbit():
    compare([
        ["SETBIT", "k", 7, 1],
        ["GET", "k"],
        ["SETBIT", "k", 7, 1],
        ["SETBIT", "k", 7, 0],
        ["GET", "k"],
        ["SETBIT", "k", 0, 1],
        ["SETBIT", "k", 100, 1],
        ["GET", "k"],
        ["STRLEN", "k"],
        ["GETBIT", "k", 0],
        ["GETBIT", "k", 1],
        ["GETBIT", "k", 100],
        ["GETBIT", "k", 101],
        ["GETBIT", "k", 100000],
        ["GETBIT", "nokey", 0],
        ["SET", "s", "\xff\x00A"],
        ["GETBIT", "s", 0], ["GETBIT", "s", 8], ["GETBIT", "s", 17], ["GETBIT", "s", 23],
        ["SETBIT", "s", 9, 1],
        ["GET", "s"],
        ["SET", "n", "12345"],
        ["SETBIT", "n", 2, 1],
        ["GET", "n"],
        ["INCR", "n"],
        ["SETBIT", "e", 0, 0],
        ["GET", "e"],
        ["SET", "ttl", "x", "EX", 1000],
        ["SETBIT", "ttl", 3, 1],
        ["GET", "ttl"],
    ], fresh=True, name="setbit/getbit")


@test
def setbit_getbit_errors():
    compare([
        ["SETBIT", "k", -1, 1],
        ["SETBIT", "k", "abc", 1],
        ["SETBIT", "k", "1.5", 1],
        ["SETBIT", "k", BIG, 1],
        ["SETBIT", "k", HUGE_OFF, 1],
        ["SETBIT", "k", str(512 * 1024 * 1024 * 8 - 1), "2"],
        ["SETBIT", "k", 0, 2],
        ["SETBIT", "k", 0, -1],
        ["SETBIT", "k", 0, "x"],
        ["SETBIT", "k", 0, ""],
        ["SETBIT", "k", 0, BIG],
        ["SETBIT", "k", "", 1],
        ["SETBIT", "k", " 1", 1],
        ["SETBIT", "k", "01", 1],
        ["SETBIT", "k", 0],
        ["SETBIT", "k", 0, 1, 1],
        ["GETBIT", "k", -1],
        ["GETBIT", "k", "x"],
        ["GETBIT", "k", HUGE_OFF],
        ["GETBIT", "k"],
        ["GETBIT", "k", 1, 2],
        ["GET", "k"],
    ], fresh=True, name="setbit/getbit errors")


@test
def bitcount_cases():
    cmds = [["SET", "k", "foobar"], ["SET", "e", ""], ["SETBIT", "b", 70, 1]]
    for key in ("k", "e", "b", "nokey"):
        cmds.append(["BITCOUNT", key])
        for s, e in [(0, 0), (1, 1), (0, -1), (-2, -1), (-1, -2), (5, 30), (-100, 100),
                     (2, 1), (-3, 2), (0, 0x7fffffffffffffff), (-0x8000000000000000, -1)]:
            cmds.append(["BITCOUNT", key, s, e])
            for unit in ("BYTE", "BIT", "bit", "byte"):
                cmds.append(["BITCOUNT", key, s, e, unit])
        for s, e in [(5, 30), (1, 5), (7, 8), (0, 47), (3, 3), (-5, -1), (-9, -8), (40, 1000)]:
            cmds.append(["BITCOUNT", key, s, e, "BIT"])
    cmds += [
        ["BITCOUNT", "k", 0],
        ["BITCOUNT", "k", 0, 1, "BITS"],
        ["BITCOUNT", "k", 0, 1, "BIT", "x"],
        ["BITCOUNT", "k", "a", 1],
        ["BITCOUNT", "k", 1, "b"],
        ["BITCOUNT", "k", BIG, 1],
        ["BITCOUNT", "k", -1, -2, "FOO"],
        ["BITCOUNT", "nokey", 0],
        ["BITCOUNT", "nokey", "a", "b", "c", "d"],
        ["BITCOUNT"],
    ]
    compare(cmds, fresh=True, name="bitcount")


@test
def bitpos_cases():
    cmds = [["SET", "ff", "\xff\xff\xff"], ["SET", "zz", "\x00\x00\x00"],
            ["SET", "mix", "\x00\xff\xf0\x0f\x00"], ["SET", "e", ""], ["SET", "one", "\x80"]]
    ranges = [(), (0,), (1,), (-1,), (-100,), (5,), (0, 0), (0, -1), (1, 2), (-2, -1), (2, 1),
              (-1, -2), (3, 100), (0, 0x7fffffffffffffff)]
    for key in ("ff", "zz", "mix", "e", "one", "nokey"):
        for bit in (0, 1):
            for rg in ranges:
                cmds.append(["BITPOS", key, bit] + list(rg))
                if len(rg) == 2:
                    for unit in ("BYTE", "BIT"):
                        cmds.append(["BITPOS", key, bit] + list(rg) + [unit])
            for rg in [(0, 7), (1, 6), (3, 13), (7, 8), (9, 9), (12, 23), (-5, -1), (-12, -9),
                       (0, 39), (36, 39), (8, 15), (4, 3), (20, 100)]:
                cmds.append(["BITPOS", key, bit, rg[0], rg[1], "BIT"])
    cmds += [
        ["BITPOS", "mix", 2],
        ["BITPOS", "mix", -1],
        ["BITPOS", "mix", "x"],
        ["BITPOS", "nokey", 2],
        ["BITPOS", "mix", 1, "a"],
        ["BITPOS", "mix", 1, 0, "b"],
        ["BITPOS", "mix", 1, 0, 1, "bits"],
        ["BITPOS", "mix", 1, 0, 1, "BIT", "x"],
        ["BITPOS", "nokey", 1, 0, 1, "BIT", "x"],
        ["BITPOS", "nokey", 0, "a", "b", "c"],
        ["BITPOS", "mix"],
    ]
    compare(cmds, fresh=True, name="bitpos")


@test
def bitop_cases():
    compare([
        ["SET", "a", "foobar"],
        ["SET", "b", "abcdef"],
        ["SET", "c", "\xff"],
        ["BITOP", "AND", "d", "a", "b"],
        ["GET", "d"],
        ["BITOP", "or", "d", "a", "b", "c"],
        ["GET", "d"],
        ["BITOP", "Xor", "d", "a", "c"],
        ["GET", "d"],
        ["BITOP", "XOR", "d", "a", "a"],
        ["GET", "d"],
        ["BITOP", "NOT", "d", "a"],
        ["GET", "d"],
        ["BITOP", "AND", "d", "c", "a", "nokey"],
        ["GET", "d"],
        ["BITOP", "OR", "d", "nokey", "c"],
        ["GET", "d"],
        ["BITOP", "NOT", "d", "nokey"],
        ["GET", "d"],
        ["BITOP", "AND", "d", "nokey", "nokey2"],
        ["GET", "d"],
        ["SET", "d", "v", "EX", 1000],
        ["BITOP", "OR", "d", "a"],
        ["GET", "d"],
        ["BITOP", "NOT", "d", "a", "b"],
        ["BITOP", "NOT", "d"],
        ["BITOP", "NAND", "d", "a"],
        ["BITOP", "AND", "d"],
        ["BITOP", "AND"],
        ["BITOP", "AND", "a", "a", "b"],
        ["GET", "a"],
        ["BITOP", "OR", "self", "self"],
        ["SET", "e", ""],
        ["BITOP", "OR", "f", "e"],
        ["GET", "f"],
    ], fresh=True, name="bitop")


def _probe_other_type(conn):
    """A list key if this cairn build has RPUSH, else None."""
    r = conn.call("RPUSH", "__probe", "x")
    return None if is_error(r) else r


@test
def wrongtype():
    with CairnServer() as s:
        assert_true(_probe_other_type(s.conn()) is not None, "RPUSH is missing from this build")
    compare([
        ["RPUSH", "l", "a"],
        ["SETBIT", "l", 0, 1],
        ["GETBIT", "l", 0],
        ["BITCOUNT", "l"],
        ["BITCOUNT", "l", 0, 1],
        ["BITPOS", "l", 1],
        ["BITPOS", "l", 2],
        ["SET", "s", "x"],
        ["BITOP", "AND", "d", "s", "l"],
        ["BITOP", "NOT", "l", "s"],
        ["LRANGE", "l", 0, -1],
        ["BITOP", "AND", "l", "nokey"],
        ["LRANGE", "l", 0, -1],
    ], fresh=True, name="wrongtype")


@test
def resp3_bits():
    compare([
        ["SETBIT", "k", 3, 1],
        ["GETBIT", "k", 3],
        ["BITCOUNT", "k"],
        ["BITPOS", "k", 1],
        ["BITOP", "NOT", "d", "k"],
        ["GET", "d"],
        ["SETBIT", "k", -1, 1],
        ["BITPOS", "k", 5],
    ], resp=3, fresh=True, name="resp3")


def random_bit_commands(seed, n):
    """n random bit commands (plus a few SET/APPEND/SETRANGE/GET to shape the
    strings) over a small key space so that keys collide."""
    r = random.Random(seed)
    keys = ["a", "b", "c", "d", "e"]

    def off():
        x = r.random()
        if x < 0.6:
            return r.randint(0, 80)
        if x < 0.85:
            return r.randint(0, 4000)
        if x < 0.9:
            return r.choice([-1, "x", "", BIG, HUGE_OFF, "1.0", " 3", "+3", "-0"])
        return r.randint(0, 300)

    def idx():
        x = r.random()
        if x < 0.75:
            return r.randint(-30, 30)
        if x < 0.9:
            return r.randint(-500, 500)
        if x < 0.95:
            return r.choice([0x7fffffffffffffff, -0x8000000000000000])
        return r.choice(["x", "1.5", BIG])

    def val():
        return bytes(r.randint(0, 255) for _ in range(r.randint(0, 12)))

    out = []
    bitcmds = 0
    while bitcmds < n:
        k = r.choice(keys)
        c = r.randint(0, 19)
        if c <= 4:
            v = r.choice([0, 1, 0, 1, 0, 1, 2, -1, "x"])
            out.append(["SETBIT", k, off(), v])
        elif c <= 6:
            out.append(["GETBIT", k, off()])
        elif c <= 9:
            cmd = ["BITCOUNT", k]
            m = r.randint(0, 5)
            if m >= 1:
                cmd += [idx(), idx()]
            if m >= 3:
                cmd.append(r.choice(["BIT", "BYTE", "bit", "Byte", "BAD"]))
            if m == 5 and r.random() < 0.3:
                cmd = cmd[:3] if r.random() < 0.5 else cmd + ["extra"]
            out.append(cmd)
        elif c <= 13:
            b = r.choice([0, 1, 0, 1, 2, "x"])
            cmd = ["BITPOS", k, b]
            m = r.randint(0, 4)
            if m >= 1:
                cmd.append(idx())
            if m >= 2:
                cmd.append(idx())
            if m >= 3:
                cmd.append(r.choice(["BIT", "BYTE", "BIT", "BYTE", "no"]))
            if m == 4 and r.random() < 0.2:
                cmd.append("extra")
            out.append(cmd)
        elif c <= 16:
            op = r.choice(["AND", "OR", "XOR", "NOT", "and", "not", "NAND"])
            nsrc = 1 if op.upper() == "NOT" and r.random() < 0.9 else r.randint(1, 4)
            out.append(["BITOP", op, k] + [r.choice(keys + ["nokey"]) for _ in range(nsrc)])
        else:
            x = r.randint(0, 4)
            if x == 0:
                out.append(["SET", k, val()])
                bitcmds -= 1
            elif x == 1:
                out.append(["APPEND", k, val()])
                bitcmds -= 1
            elif x == 2:
                out.append(["SETRANGE", k, r.randint(0, 20), val()])
                bitcmds -= 1
            else:
                out.append(["GET", k])
                bitcmds -= 1
        bitcmds += 1
    for k in keys:
        out.append(["GET", k])
    return out


for _seed in (11, 12, 13):
    def _f(seed=_seed):
        cmds = random_bit_commands(seed, 2000)
        compare(cmds, fresh=True, name="random bits seed=%d" % seed, max_report=8)
    test(name="random_bits_seed_%d" % _seed)(_f)


@test
def random_bits_resp3():
    compare(random_bit_commands(14, 600), resp=3, fresh=True, name="random bits resp3")


if __name__ == "__main__":
    run_tests()
