"""Differential tests: CONFIG GET/SET of the Redis 7.0 parameters cairn
accepts (encoding thresholds, maxmemory*, slowlog-*, latency-*,
notify-keyspace-events, the accepted-but-ignored compatibility ones), cairn vs
redis-server 7.0: same values, same canonical forms, same error texts.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_config.py [name...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests  # noqa: E402
from differential import compare  # noqa: E402


def S(*args):
    return (list(args), "sorted")


def G(name):
    return ["CONFIG", "GET", name]


def roundtrip(name, *values):
    """SET each value then GET it back (by name)."""
    out = []
    for v in values:
        out += [["CONFIG", "SET", name, v], G(name)]
    return out


@test
def encoding_thresholds_and_aliases():
    compare([
        G("hash-max-ziplist-entries"), G("hash-max-listpack-value"), G("zset-max-ziplist-entries"),
        G("zset-max-listpack-value"), G("set-max-intset-entries"), G("list-max-ziplist-size"),
        G("list-compress-depth"), G("HASH-MAX-ZIPLIST-VALUE"),
        # glob: a name and its alias are both listed
        S("CONFIG", "GET", "hash-max-*"), S("CONFIG", "GET", "*ziplist*"), S("CONFIG", "GET", "*listpack*"),
        ["CONFIG", "SET", "hash-max-ziplist-entries", "16"], G("hash-max-listpack-entries"),
        ["CONFIG", "SET", "hash-max-listpack-value", "1k"], G("hash-max-ziplist-value"),
        ["CONFIG", "SET", "zset-max-ziplist-value", "1kb"], G("zset-max-ziplist-value"),
        ["CONFIG", "SET", "list-max-ziplist-size", "-5"], G("list-max-listpack-size"),
        ["CONFIG", "SET", "list-max-ziplist-size", "4"], ["CONFIG", "SET", "list-compress-depth", "2"],
        ["CONFIG", "SET", "set-max-intset-entries", "0"], G("set-max-intset-entries"),
        # errors name the parameter as spelled (an alias as the alias)
        ["CONFIG", "SET", "hash-max-ziplist-entries", "-1"], ["CONFIG", "SET", "Hash-Max-Ziplist-Value", "x"],
        ["CONFIG", "SET", "set-max-intset-entries", "1k"], ["CONFIG", "SET", "list-max-ziplist-size", "abc"],
        ["CONFIG", "SET", "list-compress-depth", "-1"], ["CONFIG", "SET", "zset-max-listpack-entries", ""],
        # a name and its alias in one SET are two parameters, like Redis
        ["CONFIG", "SET", "hash-max-ziplist-entries", "1", "hash-max-listpack-entries", "2"],
        G("hash-max-ziplist-entries"),
        ["CONFIG", "SET", "hash-max-ziplist-entries", "1", "hash-max-ziplist-entries", "2"],
    ], fresh=True)


@test
def memory_and_eviction():
    compare(roundtrip("maxmemory", "100mb", "1gb", "12345", "0") + roundtrip(
        "maxmemory-policy", "allkeys-lru", "VOLATILE-TTL", "noeviction") + roundtrip(
        "maxmemory-samples", "10", "5") + roundtrip("maxmemory-clients", "10%", "1mb", "0") + [
        ["CONFIG", "SET", "maxmemory", "-1"], ["CONFIG", "SET", "maxmemory", "1.5gb"],
        ["CONFIG", "SET", "maxmemory-policy", "foo"], ["CONFIG", "SET", "maxmemory-samples", "0"],
        ["CONFIG", "SET", "maxmemory-clients", "10x"], ["CONFIG", "SET", "maxmemory-clients", "-5%"],
        ["CONFIG", "SET", "maxmemory-eviction-tenacity", "101"], G("maxmemory-eviction-tenacity"),
        S("CONFIG", "GET", "maxmemory*"),
    ], fresh=True)


@test
def slowlog_latency():
    compare(roundtrip("slowlog-log-slower-than", "-1", "0", "100000") + roundtrip(
        "slowlog-max-len", "0", "1000") + roundtrip("latency-monitor-threshold", "100", "0") + roundtrip(
        "latency-tracking", "no", "yes") + roundtrip(
        "latency-tracking-info-percentiles", "1 2.5 100", "0.123456789 99.99999", "", "50 99 99.9") + [
        ["CONFIG", "SET", "slowlog-log-slower-than", "-2"], ["CONFIG", "SET", "slowlog-max-len", "-1"],
        ["CONFIG", "SET", "latency-tracking", "maybe"],
        ["CONFIG", "SET", "latency-tracking-info-percentiles", "101"],
        ["CONFIG", "SET", "latency-tracking-info-percentiles", "abc"],
        ["CONFIG", "SET", "latency-tracking-info-percentiles", "50  99"],
        G("latency-tracking-info-percentiles"),
    ], fresh=True)


@test
def notify_keyspace_events_canonical_form():
    compare(roundtrip("notify-keyspace-events", "KEA", "Ex", "g$lshzxetdKE", "g$lshzxetdnmKE", "AKEm",
                      "nA", "Elg", "m", "K", "") + [
        ["CONFIG", "SET", "notify-keyspace-events", "Q"], ["CONFIG", "SET", "notify-keyspace-events", "KE A"],
        G("notify-keyspace-events"),
    ], fresh=True)


@test
def compatibility_parameters():
    compare(roundtrip("lazyfree-lazy-user-del", "yes", "no") + roundtrip(
        "lazyfree-lazy-server-del", "yes") + roundtrip("activedefrag", "no") + roundtrip(
        "active-defrag-cycle-min", "5") + roundtrip("appendfsync", "always") + roundtrip(
        "repl-diskless-sync-delay", "0") + roundtrip("repl-backlog-size", "10mb") + roundtrip(
        "sanitize-dump-payload", "yes", "clients", "no") + roundtrip(
        "lua-time-limit", "100") + roundtrip("busy-reply-threshold", "5000") + roundtrip(
        "slave-lazy-flush", "yes") + roundtrip("stream-node-max-entries", "10") + roundtrip(
        "rdbcompression", "no") + [["CONFIG", "SET", "dbfilename", "x.rdb"], G("dbfilename")] + [
        ["CONFIG", "SET", "activedefrag", "yes"], ["CONFIG", "SET", "lazyfree-lazy-user-del", "maybe"],
        ["CONFIG", "SET", "active-defrag-cycle-min", "100"], ["CONFIG", "SET", "appendfsync", "sometimes"],
        ["CONFIG", "SET", "rdbchecksum", "no"], ["CONFIG", "SET", "appendfilename", "x"],
        ["CONFIG", "SET", "repl-backlog-size", "0"], ["CONFIG", "SET", "repl-diskless-load", "x"],
        ["CONFIG", "SET", "cluster-preferred-endpoint-type", "x"], ["CONFIG", "SET", "propagation-error-behavior", "x"],
        ["CONFIG", "SET", "acl-pubsub-default", "x"], ["CONFIG", "SET", "sanitize-dump-payload", "x"],
        G("lazyfree-lazy-expire"), G("activerehashing"), G("tracking-table-max-keys"), G("acllog-max-len"),
        G("hll-sparse-max-bytes"), G("stream-node-max-bytes"), G("cluster-enabled"), G("repl-diskless-load"),
        # hidden parameters answer only to their exact name
        ["CONFIG", "SET", "rdb-key-save-delay", "100"], G("rdb-key-save-delay"),
        S("CONFIG", "GET", "*key-save*"), ["CONFIG", "SET", "rdb-key-save-delay", "0"],
        ["CONFIG", "SET", "key-load-delay", "0"],
    ], fresh=True)


if __name__ == "__main__":
    run_tests(globals())
