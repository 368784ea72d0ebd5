"""BITFIELD and BITFIELD_RO compared byte for byte with a real
redis-server 7.0: every type width, signed and unsigned, the three
OVERFLOW modes at their limits, #N offsets, every error path, then seeded
random sequences (the value of the key is compared after every few ops)."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from differential import compare  # noqa: E402

I64_MAX = 2 ** 63 - 1
I64_MIN = -2 ** 63


@test
def bitfield_basics():
    compare([
        ["BITFIELD", "b", "SET", "i8", 0, -100],
        ["BITFIELD", "b", "SET", "i8", 0, 101],
        ["BITFIELD", "b", "GET", "i8", 0],
        ["BITFIELD", "b", "SET", "u8", 0, 255, "INCRBY", "u8", 0, 100, "GET", "u8", 0],
        ["BITFIELD", "b"],
        ["BITFIELD", "nokey"],
        ["EXISTS", "nokey"],
        ["BITFIELD", "nokey", "GET", "u8", 0, "GET", "i64", 100],
        ["EXISTS", "nokey"],
        ["BITFIELD", "h", "SET", "u8", "#0", 65, "SET", "u8", "#1", 66, "SET", "u8", "#2", 67],
        ["GET", "h"],
        ["BITFIELD", "h", "GET", "u4", "#3", "GET", "i5", "#2", "INCRBY", "u2", "#100", 1],
        ["GET", "h"],
        ["BITFIELD", "x", "SET", "i8", 0, 10, "SET", "i8", 64, 10, "INCRBY", "i8", 10, 99900],
        ["GET", "x"],
        ["SET", "s", "1"],
        ["BITFIELD", "s", "GET", "u1", 0, "GET", "u8", 0],
        ["BITFIELD", "s", "SET", "u3", 5, 7],
        ["GET", "s"],
        ["SET", "t", "abc", "EX", 1000],
        ["BITFIELD", "t", "SET", "u8", 40, 1],
        ["GET", "t"],
        (["TTL", "t"], "ttl_tolerant"),
        ["BITFIELD_RO", "h", "GET", "u8", 0, "get", "I8", 8],
        ["BITFIELD_RO", "h", "GET", "u8", 0, "get", "i8", 8],
        ["BITFIELD_RO", "h"],
        ["BITFIELD_RO", "nokey", "GET", "i64", 0],
    ], fresh=True, name="bitfield basics")


@test
def bitfield_overflow_limits():
    cmds = []
    for bits in (1, 2, 7, 8, 13, 31, 32, 33, 62, 63, 64):
        for sign in ("i", "u"):
            if sign == "u" and bits == 64:
                continue
            t = sign + str(bits)
            lo = -(2 ** (bits - 1)) if sign == "i" else 0
            hi = (2 ** (bits - 1) - 1) if sign == "i" else 2 ** bits - 1
            for how in ("WRAP", "SAT", "FAIL"):
                for v in (lo, hi, lo - 1, hi + 1, 0, -1):
                    v = max(I64_MIN, min(I64_MAX, v))
                    cmds.append(["BITFIELD", "k", "OVERFLOW", how, "SET", t, 3, v, "GET", t, 3])
                    for inc in (1, -1, hi, lo, I64_MAX, I64_MIN, 0):
                        cmds.append(["BITFIELD", "k", "OVERFLOW", how, "INCRBY", t, 3, inc, "GET", t, 3])
            cmds.append(["GET", "k"])
    compare(cmds, fresh=True, name="bitfield overflow limits")


@test
def bitfield_errors():
    compare([
        ["BITFIELD"],
        ["BITFIELD", "k", "GET"],
        ["BITFIELD", "k", "GET", "u8"],
        ["BITFIELD", "k", "SET", "u8", 0],
        ["BITFIELD", "k", "INCRBY", "u8", 0],
        ["BITFIELD", "k", "OVERFLOW"],
        ["BITFIELD", "k", "OVERFLOW", "bad", "GET", "u8", 0],
        ["BITFIELD", "k", "bad", "u8", 0],
        ["BITFIELD", "k", "GET", "u64", 0],
        ["BITFIELD", "k", "GET", "i65", 0],
        ["BITFIELD", "k", "GET", "u0", 0],
        ["BITFIELD", "k", "GET", "x8", 0],
        ["BITFIELD", "k", "GET", "i", 0],
        ["BITFIELD", "k", "GET", "", 0],
        ["BITFIELD", "k", "GET", "u8", -1],
        ["BITFIELD", "k", "GET", "u8", "x"],
        ["BITFIELD", "k", "GET", "u8", "#x"],
        ["BITFIELD", "k", "GET", "u8", "#-1"],
        ["BITFIELD", "k", "GET", "u8", str(2 ** 32)],
        ["BITFIELD", "k", "GET", "u8", str(512 * 1024 * 1024 * 8)],
        ["BITFIELD", "k", "GET", "u8", "#" + str(2 ** 40)],
        ["BITFIELD", "k", "SET", "u8", 0, "x"],
        ["BITFIELD", "k", "SET", "u8", 0, str(2 ** 64)],
        ["BITFIELD", "k", "INCRBY", "u8", 0, "1.5"],
        ["BITFIELD", "k", "SET", "u8", 0, 1, "GET", "u99", 0],
        ["EXISTS", "k"],
        ["BITFIELD_RO"],
        ["BITFIELD_RO", "k", "SET", "u8", 0, 1],
        ["BITFIELD_RO", "k", "INCRBY", "u8", 0, 1, "GET", "u8", 0],
        ["BITFIELD_RO", "k", "OVERFLOW", "SAT", "GET", "u8", 0],
        ["BITFIELD_RO", "k", "SET", "u99", 0, 1],
        ["BITFIELD_RO", "k", "SET", "u8", 0, "x"],
        ["LPUSH", "l", "a"],
        ["BITFIELD", "l", "GET", "u8", 0],
        ["BITFIELD", "l", "SET", "u8", 0, 1],
        ["BITFIELD", "l", "SET", "u99", 0, 1],
        ["BITFIELD_RO", "l", "GET", "u8", 0],
        ["BITFIELD", "l"],
    ], fresh=True, name="bitfield errors")


def random_bitfield_commands(seed, n):
    r = random.Random(seed)
    keys = ["a", "b", "c"]
    out = []

    def typ():
        if r.random() < 0.05:
            return r.choice(["u64", "i0", "x3", "u"])
        s = r.choice("iu")
        return s + str(r.randint(1, 64 if s == "i" else 63))

    def off():
        if r.random() < 0.3:
            return "#%d" % r.randint(0, 12)
        return r.randint(0, 100)

    def val():
        x = r.random()
        if x < 0.3:
            return r.randint(-300, 300)
        if x < 0.6:
            return r.randint(-2 ** 40, 2 ** 40)
        if x < 0.97:
            return r.randint(I64_MIN, I64_MAX)
        return "x"

    for i in range(n):
        k = r.choice(keys)
        cmd = [r.choice(["BITFIELD"] * 9 + ["BITFIELD_RO"]), k]
        for _ in range(r.randint(0, 4)):
            op = r.randint(0, 9)
            if op <= 2:
                cmd += ["GET", typ(), off()]
            elif op <= 5:
                cmd += ["SET", typ(), off(), val()]
            elif op <= 8:
                cmd += ["INCRBY", typ(), off(), val()]
            else:
                cmd += ["OVERFLOW", r.choice(["WRAP", "SAT", "FAIL", "wrap", "sat", "fail"])]
        out.append(cmd)
        if i % 10 == 9:
            out.append(["GET", k])
        if r.random() < 0.02:
            out.append(["DEL", k])
    for k in keys:
        out.append(["GET", k])
    return out


for _seed in (21, 22, 23):
    def _f(seed=_seed):
        compare(random_bitfield_commands(seed, 1500), fresh=True, name="random bitfield seed=%d" % seed,
                max_report=8)
    test(name="random_bitfield_seed_%d" % _seed)(_f)


@test
def random_bitfield_resp3():
    compare(random_bitfield_commands(24, 500), resp=3, fresh=True, name="random bitfield resp3")


if __name__ == "__main__":
    run_tests()
