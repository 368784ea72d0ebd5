"""Differential tests: MULTI/EXEC/DISCARD/WATCH/UNWATCH and the
deterministic parts of pub/sub (one connection: subscription replies, the
subscribed-mode errors, PUBSUB NUMSUB/NUMPAT), cairn vs redis-server 7.0.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_multi.py [name...]
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests  # noqa: E402
from differential import compare, random_string_commands  # noqa: E402

BIN = b"\x00\xff\r\n key"


def S(*args):
    return (list(args), "sorted")


TX_ERRORS = [
    ["EXEC"], ["DISCARD"], ["MULTI"], ["MULTI"], ["WATCH", "x"], ["SET", "a", "1"], ["FOO", "bar"], ["GET"],
    ["CLIENT", "FOO"], ["CLIENT", "KILL"], ["CLIENT"], ["SAVE"], ["SHUTDOWN", "NOSAVE"], ["SET", "a", "2"],
    ["EXEC"], ["EXEC"], ["GET", "a"],
    ["MULTI"], ["EXEC", "extra"], ["EXEC"],
    ["MULTI"], ["SET", "a", "3"], ["DISCARD"], ["DISCARD"], ["GET", "a"],
    ["MULTI"], ["EXEC"],
    ["UNWATCH"], ["WATCH"], ["WATCH", "a", "b", "a"], ["UNWATCH"],
]


@test
def transaction_errors_resp2():
    compare(TX_ERRORS, resp=2)


@test
def transaction_errors_resp3():
    compare(TX_ERRORS, resp=3)


EXEC_CASES = [
    ["MULTI"], ["SET", "s", "abc"], ["INCR", "s"], ["GET", "s"], ["SET", "n", "10"], ["INCRBY", "n", "x"],
    ["INCRBY", "n", "5"], ["APPEND", "s", BIN], ["STRLEN", "s"], ["PING"], ["ECHO", "e"], ["EXEC"],
    ["GET", "n"],
    ["MULTI"], ["SELECT", "2"], ["SET", "in2", "1"], ["SELECT", "100"], ["DBSIZE"], ["EXEC"],
    ["GET", "in2"], ["SELECT", "0"], ["GET", "in2"],
    # a watched key untouched: EXEC runs
    ["WATCH", "n"], ["MULTI"], ["INCR", "n"], ["EXEC"],
    # own write after WATCH: null
    ["WATCH", "n"], ["SET", "n", "1"], ["MULTI"], ["INCR", "n"], ["EXEC"], ["GET", "n"],
    # UNWATCH clears it
    ["WATCH", "n"], ["SET", "n", "1"], ["UNWATCH"], ["MULTI"], ["INCR", "n"], ["EXEC"],
    # keys expired at WATCH time, FLUSHALL of a key that did not exist
    ["SET", "gone", "v", "PX", "1"], ["DEBUG", "SLEEP", "0"], ["WATCH", "nothere"], ["FLUSHALL"], ["MULTI"],
    ["PING"], ["EXEC"],
    ["SET", "k", "v"], ["WATCH", "k"], ["FLUSHALL"], ["MULTI"], ["PING"], ["EXEC"],
    ["SET", "k", "v"], ["WATCH", "k"], ["FLUSHDB"], ["MULTI"], ["PING"], ["EXEC"],
    ["WATCH", "k"], ["SWAPDB", "0", "1"], ["MULTI"], ["PING"], ["EXEC"],
    ["SET", "k", "v"], ["WATCH", "k"], ["DEL", "k"], ["MULTI"], ["PING"], ["EXEC"],
    ["SET", "k", "v"], ["WATCH", "k"], ["EXPIRE", "k", "1000"], ["MULTI"], ["PING"], ["EXEC"],
    # an empty transaction, a transaction of reads
    ["MULTI"], ["EXEC"], ["MULTI"], ["GET", "k"], ["TTL", "nokey"], ["EXISTS", "k"], ["EXEC"],
    # WAIT inside MULTI does not block
    ["MULTI"], ["WAIT", "0", "0"], ["EXEC"],
    # collections inside a transaction (WRONGTYPE is a runtime error)
    ["SET", "str", "v"], ["MULTI"], ["SADD", "set1", "a", "b", "a"], ["SCARD", "set1"], ["SADD", "str", "x"],
    ["SISMEMBER", "set1", "b"], ["EXEC"],
    ["WATCH", "set1"], ["SREM", "set1", "a"], ["MULTI"], ["SCARD", "set1"], ["EXEC"],
]


@test
def exec_results_resp2():
    compare([c for c in EXEC_CASES if c[0] != "DEBUG"], resp=2)


@test
def exec_results_resp3():
    compare([c for c in EXEC_CASES if c[0] != "DEBUG"], resp=3)


PUBSUB_ONE_CONN = [
    ["UNSUBSCRIBE"], ["PUNSUBSCRIBE"], ["PUBSUB", "NUMPAT"], ["PUBSUB", "NUMSUB", "a", "b"],
    ["PUBSUB", "CHANNELS"], ["PUBSUB", "HELP"], ["PUBSUB", "FOO"], ["PUBSUB"], ["PUBSUB", "NUMPAT", "x"],
    ["PUBSUB", "CHANNELS", "a", "b"], ["PUBSUB", "SHARDCHANNELS"], ["PUBSUB", "SHARDNUMSUB", "x", "y"],
    ["PUBLISH", "nobody", "m"], ["PUBLISH", "x"], ["SUBSCRIBE"], ["PSUBSCRIBE"],
    ["SUBSCRIBE", "a"], ["SUBSCRIBE", "b"], ["SUBSCRIBE", "a"], ["PSUBSCRIBE", "a*"], ["PSUBSCRIBE", BIN],
    ["PING"], ["PING", "msg"], ["UNSUBSCRIBE", "b"], ["UNSUBSCRIBE", "zz"], ["PUNSUBSCRIBE", "a*"],
    ["PUNSUBSCRIBE", BIN], ["UNSUBSCRIBE", "a"], ["PING"],
    ["MULTI"], ["SUBSCRIBE", "m"], ["EXEC"], ["UNSUBSCRIBE", "m"],
]

PUBSUB_RESP2_ONLY = [
    ["SUBSCRIBE", "ch"], ["GET", "x"], ["SET", "x", "1"], ["PUBSUB", "NUMPAT"], ["PUBSUB", "FOO"],
    ["MULTI"], ["EXEC"], ["DISCARD"], ["WATCH", "x"], ["SELECT", "1"], ["HELLO"], ["CLIENT", "ID"],
    ["PING"], ["UNSUBSCRIBE"], ["GET", "x"],
]

PUBSUB_RESP3_ONLY = [
    ["SUBSCRIBE", "ch"], ["GET", "x"], ["SET", "x", "1"], ["PUBSUB", "NUMSUB", "ch"], ["PUBSUB", "NUMPAT"],
    ["PING"], ["PING", "m"], ["UNSUBSCRIBE"], ["UNSUBSCRIBE"],
]


@test
def pubsub_single_connection_resp2():
    compare(PUBSUB_ONE_CONN + PUBSUB_RESP2_ONLY, resp=2)


@test
def pubsub_single_connection_resp3():
    compare(PUBSUB_ONE_CONN + PUBSUB_RESP3_ONLY, resp=3)


def random_transactions(seed, n):
    """The random string/key commands (about 30% errors: wrong arity, unknown
    commands, bad arguments) grouped into transactions: queue-time errors make
    EXECABORT, runtime errors are elements of EXEC's array; some transactions
    are discarded, some watch keys that a later transaction writes."""
    r = random.Random(seed)
    cmds = [c for c in random_string_commands(seed, n) if isinstance(c, list)]
    out, i = [], 0
    while i < len(cmds):
        k = r.randint(1, 8)
        if r.random() < 0.2:
            out.append(["WATCH", "k%d" % r.randint(0, 3), "k%d" % r.randint(0, 3)])
        if r.random() < 0.15:
            out.append(cmds[i])      # a write between WATCH and MULTI
            i += 1
        out.append(["MULTI"])
        out.extend(cmds[i:i + k])
        out.append(["DISCARD"] if r.random() < 0.1 else ["EXEC"])
        i += k
    return out


@test
def random_transactions_resp2():
    for seed in (11, 12):
        compare(random_transactions(seed, 1200), resp=2, name="random transactions seed=%d" % seed)


@test
def random_transactions_resp3():
    compare(random_transactions(13, 800), resp=3, name="random transactions resp3 seed=13")


if __name__ == "__main__":
    run_tests()
