"""Differential tests: the set type, cairn vs redis-server 7.0.

Unordered replies (SMEMBERS, SINTER, SUNION, SDIFF, SPOP/SRANDMEMBER with a
count covering the whole set) are compared with the "sorted" normaliser, which
still tells a RESP3 set from an array; SSCAN is iterated to cursor 0
("scan_all"); random replies are compared by shape only ("type").

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_set.py [name...]
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests  # noqa: E402
from differential import compare  # noqa: E402

BIN = b"\x00\xff\r\n mem"
LONG = b"L" * 600
LONG2 = b"L" * 600 + b"x"


def S(*args):
    return (list(args), "sorted")


def SHAPE(*args):
    return (list(args), "type")


def SCAN(*args):
    return (list(args), "scan_all")


BASE = [
    ["SADD", "s1", "a", "b", "c", "d", "e"],
    ["SADD", "s2", "c", "d", "e", "f", "g"],
    ["SADD", "s3", "a", "c", "e", "g", "i"],
    ["SADD", "n1", "1", "2", "3", "100", "-5"],
    ["SET", "str", "x"],
    ["SET", "lst", "a"],
]


def both(cmds, setup=None):
    compare(cmds, resp=2, setup=setup)
    compare(cmds, resp=3, setup=setup)


@test
def sadd_srem_scard():
    both([
        ["SADD", "s", "a"], ["SADD", "s", "a"], ["SADD", "s", "b", "c", "b", "a"], ["SCARD", "s"],
        ["SADD", "s", ""], ["SCARD", "s"], ["SADD", "s", BIN, LONG, LONG2], ["SCARD", "s"],
        ["SISMEMBER", "s", BIN], ["SISMEMBER", "s", LONG], ["SISMEMBER", "s", LONG2], ["SISMEMBER", "s", b"L" * 601],
        ["SREM", "s", "a", "a", "zz"], ["SREM", "s", "nothing"], ["SCARD", "s"], ["SREM", "nokey", "a"],
        ["SREM", "s", LONG, b"L" * 599], ["SISMEMBER", "s", LONG], ["SISMEMBER", "s", LONG2],
        ["SREM", "s", "b", "c", "", BIN, LONG2], ["EXISTS", "s"], ["TYPE", "s"], ["SCARD", "s"],
        ["SCARD", "nokey"], ["SADD", "ints", "1", "2", "3"], ["SADD", "ints", "x"], ["SCARD", "ints"],
        S("SMEMBERS", "ints"),
        # errors
        ["SADD", "s"], ["SADD"], ["SREM", "s"], ["SCARD"], ["SCARD", "a", "b"],
        ["SET", "str", "v"], ["SADD", "str", "a"], ["SREM", "str", "a"], ["SCARD", "str"],
        ["SISMEMBER", "str", "a"], ["SMISMEMBER", "str", "a"], ["SMEMBERS", "str"],
    ])


@test
def sismember_smismember_smembers():
    both(BASE + [
        ["SISMEMBER", "s1", "a"], ["SISMEMBER", "s1", "z"], ["SISMEMBER", "nokey", "a"],
        ["SISMEMBER", "n1", "100"], ["SISMEMBER", "n1", "0100"], ["SISMEMBER", "n1", "-5"],
        ["SMISMEMBER", "s1", "a", "z", "e", "a"], ["SMISMEMBER", "nokey", "a", "b"], ["SMISMEMBER", "n1", "3"],
        S("SMEMBERS", "s1"), S("SMEMBERS", "n1"), S("SMEMBERS", "nokey"),
        ["SISMEMBER", "s1"], ["SISMEMBER", "s1", "a", "b"], ["SMISMEMBER", "s1"], ["SMEMBERS"],
        ["SMEMBERS", "s1", "s2"], ["SISMEMBER", "lst", "a"], ["SMEMBERS", "lst"],
    ])


@test
def smove():
    both(BASE + [
        ["SMOVE", "s1", "s2", "a"], S("SMEMBERS", "s1"), S("SMEMBERS", "s2"),
        ["SMOVE", "s1", "s2", "a"], ["SMOVE", "s1", "s2", "c"], S("SMEMBERS", "s2"),
        ["SMOVE", "s1", "new", "b"], ["TYPE", "new"], S("SMEMBERS", "new"),
        ["SMOVE", "s1", "s1", "d"], ["SMOVE", "s1", "s1", "zz"], ["SMOVE", "nokey", "s1", "a"],
        ["SMOVE", "nokey", "str", "a"], ["SMOVE", "s1", "str", "d"], ["SMOVE", "str", "s1", "d"],
        ["SMOVE", "s1", "lst", "zz"], ["SMOVE", "s1", "s2", "zz"],
        ["SADD", "one", "only"], ["SMOVE", "one", "two", "only"], ["EXISTS", "one"], S("SMEMBERS", "two"),
        ["SMOVE", "two", "s1", "only"], ["EXISTS", "two"], ["SCARD", "s1"],
        ["SMOVE", "s1", BIN, LONG], ["SADD", "s1", LONG], ["SMOVE", "s1", BIN, LONG], S("SMEMBERS", BIN),
        ["SMOVE", "s1", "s2"], ["SMOVE", "s1", "s2", "a", "b"],
        ["SET", "k", "v"], ["EXPIRE", "s2", "100"], ["SMOVE", "s1", "s2", "d"], ["TTL", "s2"],
    ])


@test
def sinter_sunion_sdiff():
    both(BASE + [
        S("SINTER", "s1", "s2"), S("SINTER", "s1", "s2", "s3"), S("SINTER", "s1"), S("SINTER", "s1", "s1"),
        S("SINTER", "s1", "nokey"), S("SINTER", "nokey", "s1"), S("SINTER", "s1", "n1"),
        S("SUNION", "s1", "s2"), S("SUNION", "s1", "s2", "s3", "n1"), S("SUNION", "nokey"),
        S("SUNION", "nokey", "s1", "s1"), S("SUNION", "s1"),
        S("SDIFF", "s1", "s2"), S("SDIFF", "s1", "s2", "s3"), S("SDIFF", "s1", "s1"), S("SDIFF", "s1"),
        S("SDIFF", "nokey", "s1"), S("SDIFF", "s1", "nokey"), S("SDIFF", "s2", "s1", "nokey", "s3"),
        # types are checked on every key, even after a missing one
        ["SINTER", "nokey", "str"], ["SINTER", "str", "nokey"], ["SINTER", "s1", "lst"],
        ["SUNION", "s1", "str"], ["SDIFF", "nokey", "str"], ["SDIFF", "s1", "nokey", "str"],
        ["SINTER"], ["SUNION"], ["SDIFF"],
    ])


@test
def sintercard():
    both(BASE + [
        ["SINTERCARD", "2", "s1", "s2"], ["SINTERCARD", "3", "s1", "s2", "s3"], ["SINTERCARD", "1", "s1"],
        ["SINTERCARD", "2", "s1", "s1"], ["SINTERCARD", "2", "s1", "nokey"], ["SINTERCARD", "1", "nokey"],
        ["SINTERCARD", "2", "s1", "s2", "LIMIT", "0"], ["SINTERCARD", "2", "s1", "s2", "LIMIT", "1"],
        ["SINTERCARD", "2", "s1", "s2", "LIMIT", "2"], ["SINTERCARD", "2", "s1", "s2", "limit", "100"],
        ["SINTERCARD", "1", "s1", "LIMIT", "2", "LIMIT", "3"],
        ["SINTERCARD", "0", "s1"], ["SINTERCARD", "-1", "s1"], ["SINTERCARD", "abc", "s1"],
        ["SINTERCARD", "3", "s1", "s2"], ["SINTERCARD", "2", "s1"], ["SINTERCARD", "1", "s1", "LIMIT", "-1"],
        ["SINTERCARD", "1", "s1", "LIMIT", "x"], ["SINTERCARD", "1", "s1", "LIMIT"],
        ["SINTERCARD", "1", "s1", "FOO"], ["SINTERCARD", "1", "s1", "s2"], ["SINTERCARD", "1"],
        ["SINTERCARD", "2", "nokey", "str"], ["SINTERCARD", "2", "str", "s1"],
        ["SINTERCARD", "9223372036854775808", "s1"],
    ])


@test
def store_forms():
    both(BASE + [
        ["SINTERSTORE", "d", "s1", "s2"], S("SMEMBERS", "d"), ["TYPE", "d"],
        ["SUNIONSTORE", "d", "s1", "s2"], S("SMEMBERS", "d"), ["SCARD", "d"],
        ["SDIFFSTORE", "d", "s1", "s2"], S("SMEMBERS", "d"),
        # destination of another type is replaced
        ["SINTERSTORE", "str", "s1", "s3"], ["TYPE", "str"], S("SMEMBERS", "str"),
        ["SUNIONSTORE", "lst", "s1"], ["TYPE", "lst"], S("SMEMBERS", "lst"),
        # empty result deletes the destination
        ["SINTERSTORE", "d", "s1", "nokey"], ["EXISTS", "d"], ["SDIFFSTORE", "lst", "s1", "s1"], ["EXISTS", "lst"],
        ["SUNIONSTORE", "str", "nokey"], ["EXISTS", "str"], ["SINTERSTORE", "nokey2", "nokey"],
        ["EXISTS", "nokey2"],
        # destination is also a source
        ["SUNIONSTORE", "s1", "s1", "s2"], S("SMEMBERS", "s1"), ["SINTERSTORE", "s2", "s2", "s3"],
        S("SMEMBERS", "s2"), ["SDIFFSTORE", "s3", "s3", "s2"], S("SMEMBERS", "s3"),
        ["SINTERSTORE", "s1", "s1"], S("SMEMBERS", "s1"), ["SDIFFSTORE", "s1", "s1"], S("SMEMBERS", "s1"),
        ["SDIFFSTORE", "n1", "n1", "n1"], ["EXISTS", "n1"],
        # expiry of the old destination does not survive
        ["SADD", "e", "x"], ["EXPIRE", "e", "100"], ["SUNIONSTORE", "e", "s1"], ["TTL", "e"],
        # errors: nothing is written
        ["SET", "str", "x"], ["SINTERSTORE", "d2", "s1", "str"], ["EXISTS", "d2"],
        ["SUNIONSTORE", "d2", "str"], ["SDIFFSTORE", "d2", "nokey", "str"], ["EXISTS", "d2"],
        ["SINTERSTORE", "d2"], ["SUNIONSTORE", "d2"], ["SDIFFSTORE"],
        ["SADD", "big1"] + ["m%d" % i for i in range(300)], ["SADD", "big2"] + ["m%d" % i for i in range(0, 600, 2)],
        ["SINTERSTORE", "bi", "big1", "big2"], ["SCARD", "bi"], ["SDIFFSTORE", "bd", "big1", "big2"],
        ["SCARD", "bd"], ["SUNIONSTORE", "bu", "big1", "big2"], ["SCARD", "bu"],
        ["SINTERCARD", "2", "big1", "big2", "LIMIT", "17"],
    ])


@test
def spop_srandmember_deterministic():
    both(BASE + [
        # count covering the whole set: deterministic content
        S("SPOP", "s1", "5"), ["EXISTS", "s1"], S("SPOP", "s2", "100"), ["EXISTS", "s2"],
        S("SRANDMEMBER", "s3", "5"), S("SRANDMEMBER", "s3", "1000"), ["SCARD", "s3"],
        ["SPOP", "s3", "0"], ["SRANDMEMBER", "s3", "0"], ["SPOP", "nokey", "3"], ["SRANDMEMBER", "nokey", "3"],
        ["SPOP", "nokey"], ["SRANDMEMBER", "nokey"], ["SPOP", "nokey", "0"], ["SRANDMEMBER", "nokey", "-3"],
        ["SADD", "one", "x"], ["SRANDMEMBER", "one"], ["SRANDMEMBER", "one", "-3"], ["SRANDMEMBER", "one", "1"],
        ["SPOP", "one"], ["EXISTS", "one"], ["SADD", "one", "y"], ["SPOP", "one", "1"], ["EXISTS", "one"],
        # shapes of random replies
        SHAPE("SRANDMEMBER", "s3"), SHAPE("SRANDMEMBER", "s3", "2"), SHAPE("SRANDMEMBER", "s3", "-7"),
        SHAPE("SPOP", "s3"), SHAPE("SPOP", "s3", "2"), ["SCARD", "s3"],
        # errors
        ["SPOP", "s3", "-1"], ["SPOP", "s3", "abc"], ["SPOP", "s3", "1.5"], ["SPOP", "s3", "9223372036854775808"],
        ["SPOP", "s3", "1", "2"], ["SPOP", "nokey", "-1"], ["SPOP", "str", "-1"], ["SPOP", "str"],
        ["SPOP", "str", "0"], ["SPOP"],
        ["SRANDMEMBER", "s3", "abc"], ["SRANDMEMBER", "s3", "-9223372036854775808"],
        ["SRANDMEMBER", "s3", "9223372036854775808"], ["SRANDMEMBER", "s3", "1", "2"],
        ["SRANDMEMBER", "str"], ["SRANDMEMBER", "str", "0"], ["SRANDMEMBER", "nokey", "abc"], ["SRANDMEMBER"],
        ["SCARD", "s3"],
    ])


@test
def sscan():
    members = ["m%d" % i for i in range(200)] + ["x", "xy", "xyz", "", "\x00", "\xff"]
    both(BASE + [
        ["SADD", "big"] + members, ["SADD", "bin", BIN, LONG, LONG2, "a"],
        SCAN("SSCAN", "big", "0"), SCAN("SSCAN", "big", "0", "COUNT", "3"), SCAN("SSCAN", "big", "0", "COUNT", "1"),
        SCAN("SSCAN", "big", "0", "MATCH", "m1*"), SCAN("SSCAN", "big", "0", "MATCH", "x*", "COUNT", "2"),
        SCAN("SSCAN", "big", "0", "MATCH", "*"), SCAN("SSCAN", "bin", "0", "COUNT", "1"),
        SCAN("SSCAN", "s1", "0", "COUNT", "1000"), SCAN("SSCAN", "n1", "0"), SCAN("SSCAN", "nokey", "0"),
        ["SSCAN", "nokey", "0"], ["SSCAN", "nokey", "0", "COUNT", "0"], ["SSCAN", "s1", "abc"],
        ["SSCAN", "s1", "0", "COUNT", "0"], ["SSCAN", "s1", "0", "COUNT", "-1"], ["SSCAN", "s1", "0", "COUNT", "x"],
        ["SSCAN", "s1", "0", "MATCH"], ["SSCAN", "s1", "0", "FOO", "bar"], ["SSCAN", "s1", "0", "NOVALUES"],
        ["SSCAN", "str", "0"], ["SSCAN", "str", "abc"], ["SSCAN", "s1"],
        ["SSCAN", "nokey", "0", "MATCH", "*", "COUNT", "5"],
    ])


@test
def expiry_and_overwrite():
    both(BASE + [
        ["SADD", "t", "a", "b"], ["SINTERSTORE", "u", "t", "s1"], ["SCARD", "u"],
        ["SADD", "ex", "a"], ["PEXPIREAT", "ex", "1"], ["SISMEMBER", "ex", "a"], ["SCARD", "ex"], ["EXISTS", "ex"],
        ["SADD", "ttl", "a"], ["EXPIRE", "ttl", "100"], ["SADD", "ttl", "b"], ["SREM", "ttl", "a"], ["TTL", "ttl"],
        ["SPOP", "ttl"], ["EXISTS", "ttl"], ["DEL", "s3"], ["SCARD", "s3"], ["SADD", "s3", "new"], S("SMEMBERS", "s3"),
        ["SET", "s3", "str"], ["TYPE", "s3"], ["SADD", "s3", "x"],
    ])


def random_set_commands(seed, n):
    rnd = random.Random(seed)
    keys = ["k1", "k2", "k3", "k4", "str"]
    pool = ["a", "b", "c", "d", "e", "1", "2", "10", "", "\x00", "x" * 500, "x" * 501]

    def k():
        return rnd.choice(keys)

    def ms(lo=1, hi=4):
        return [rnd.choice(pool) for _ in range(rnd.randint(lo, hi))]

    def ks(lo=1, hi=3):
        return [k() for _ in range(rnd.randint(lo, hi))]
    cmds = [["SET", "str", "v"]]
    for _ in range(n):
        r = rnd.random()
        if r < 0.25:
            cmds.append(["SADD", k()] + ms())
        elif r < 0.35:
            cmds.append(["SREM", k()] + ms())
        elif r < 0.42:
            cmds.append(["SMOVE", k(), k(), rnd.choice(pool)])
        elif r < 0.50:
            cmds.append([rnd.choice(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), k()] + ks())
        elif r < 0.58:
            cmds.append(S(rnd.choice(["SINTER", "SUNION", "SDIFF"]), *ks()))
        elif r < 0.64:
            keys_ = ks()
            cmd = ["SINTERCARD", str(len(keys_))] + keys_
            if rnd.random() < 0.5:
                cmd += ["LIMIT", str(rnd.randint(0, 4))]
            cmds.append(cmd)
        elif r < 0.72:
            cmds.append(["SISMEMBER", k(), rnd.choice(pool)])
        elif r < 0.78:
            cmds.append(["SMISMEMBER", k()] + ms())
        elif r < 0.84:
            cmds.append(["SCARD", k()])
        elif r < 0.90:
            cmds.append(S("SMEMBERS", k()))
        elif r < 0.94:
            cmds.append(SCAN("SSCAN", k(), "0", "COUNT", str(rnd.randint(1, 5))))
        elif r < 0.97:
            cmds.append(S("SPOP", k(), "100"))
        else:
            cmds.append(["DEL", k()])
    return cmds


@test
def random_sequences():
    for seed in (1, 2, 3):
        cmds = random_set_commands(seed, 250)
        compare(cmds, resp=2)
        compare(cmds, resp=3)


if __name__ == "__main__":
    run_tests()
