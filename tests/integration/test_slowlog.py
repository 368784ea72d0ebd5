"""SLOWLOG and LATENCY: entries (id, time, duration, arguments trimmed to 32
and 128 bytes, address, name), max length, GET counts and errors, EXEC not
logged but its commands, a served blocked command logged once with its own
argv, secrets redacted; LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR/HISTOGRAM
and HELP, compared in shape (and errors and HELP byte for byte) with a real
redis-server 7.0."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *                # noqa: E402,F401,F403
from differential import compare, get_pair      # noqa: E402


@test
def slowlog_entries():
    with CairnServer() as s:
        c = s.conn()
        c.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
        c.call("CLIENT", "SETNAME", "me")
        assert_eq(c.call("SLOWLOG", "RESET"), "OK")
        t0 = int(time.time())
        c.call("SET", "k", "v")
        log = c.call("SLOWLOG", "GET")
        assert_eq(len(log), 2, "SLOWLOG RESET itself then SET")
        e = log[0]
        assert_eq(len(e), 6)
        assert_eq(e[3], [b"SET", b"k", b"v"])
        assert_true(abs(e[1] - t0) <= 2 and e[2] >= 0)
        assert_eq(e[5], b"me")
        assert_true(e[4].startswith(b"127.0.0.1:"), e[4])
        assert_eq(log[1][3], [b"SLOWLOG", b"RESET"])
        assert_eq(e[0], log[1][0] + 1, "ids grow")
        # trimming
        c.call("SLOWLOG", "RESET")
        c.call("SADD", "set", *[str(i) for i in range(3, 34)])
        c.call("SADD", "set", "foo", "A" * 129)
        log = c.call("SLOWLOG", "GET", "-1")
        assert_eq(log[1][3][-1], b"... (2 more arguments)")
        assert_eq(len(log[1][3]), 32)
        assert_eq(log[0][3], [b"SADD", b"set", b"foo", b"A" * 128 + b"... (1 more bytes)"])
        # counts
        assert_eq(c.call("SLOWLOG", "GET", "-2"), Error("ERR count should be greater than or equal to -1"))
        assert_eq(c.call("SLOWLOG", "GET", "x"), Error("ERR count should be greater than or equal to -1"))
        assert_eq(len(c.call("SLOWLOG", "GET", "0")), 0)
        assert_eq(len(c.call("SLOWLOG", "GET", "1")), 1)
        # max len
        c.call("CONFIG", "SET", "slowlog-max-len", "10")
        for _ in range(30):
            c.call("PING")
        assert_eq(c.call("SLOWLOG", "LEN"), 10)
        # disabled
        c.call("CONFIG", "SET", "slowlog-log-slower-than", "-1")
        c.call("SLOWLOG", "RESET")
        c.call("PING")
        assert_eq(c.call("SLOWLOG", "LEN"), 0)
        c.call("CONFIG", "SET", "slowlog-log-slower-than", "1000000")
        c.call("PING")
        assert_eq(c.call("SLOWLOG", "LEN"), 0, "a fast command is not logged")


@test
def slowlog_exec_blocked_and_redaction():
    with CairnServer() as s:
        c, b = s.conn(), s.conn()
        c.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
        c.call("SLOWLOG", "RESET")
        c.call("MULTI")
        c.call("SET", "a", "1")
        c.call("INCRBYFLOAT", "a", "1.0")
        c.call("EXEC")
        log = [e[3] for e in c.call("SLOWLOG", "GET")]
        assert_eq(log[:2], [[b"INCRBYFLOAT", b"a", b"1.0"], [b"SET", b"a", b"1"]], "no EXEC, original argv")
        assert_true([b"EXEC"] not in log)
        b.send("BLPOP", "l", "0")
        wait_until(lambda: info(c, "clients")["blocked_clients"] == "1")
        c.call("SLOWLOG", "RESET")
        c.call("LPUSH", "l", "foo")
        assert_eq(b.read_reply(), [b"l", b"foo"])
        log = [e[3] for e in c.call("SLOWLOG", "GET")]
        assert_eq(log[0], [b"BLPOP", b"l", b"0"])
        assert_eq(log.count([b"BLPOP", b"l", b"0"]), 1, "logged once, when served")
        c.call("SLOWLOG", "RESET")
        c.call("AUTH", "secret")
        c.call("CONFIG", "SET", "requirepass", "")
        c.call("CONFIG", "SET", "masterauth", "pw")
        c.call("HELLO", "2", "AUTH", "default", "x")
        log = [e[3] for e in c.call("SLOWLOG", "GET")]
        assert_eq(log[0], [b"HELLO", b"2", b"AUTH", b"(redacted)", b"(redacted)"])
        assert_eq(log[1], [b"CONFIG", b"SET", b"masterauth", b"(redacted)"])
        assert_eq(log[2], [b"CONFIG", b"SET", b"requirepass", b"(redacted)"])
        assert_eq(log[3], [b"AUTH", b"(redacted)"])


@test
def latency_monitor():
    with CairnServer() as s:
        c = s.conn()
        assert_true(c.call("LATENCY", "DOCTOR").startswith(b"I'm sorry, Dave"))
        assert_eq(c.call("LATENCY", "LATEST"), [])
        assert_eq(c.call("LATENCY", "GRAPH", "command"), Error("ERR No samples available for event 'command'"))
        c.call("CONFIG", "SET", "latency-monitor-threshold", "100")
        t0 = int(time.time())
        c.call("DEBUG", "SLEEP", "0.15")
        latest = c.call("LATENCY", "LATEST")
        assert_eq(len(latest), 1)
        assert_eq(latest[0][0], b"command")
        assert_true(abs(latest[0][1] - t0) <= 2 and latest[0][2] >= 100 and latest[0][3] == latest[0][2], latest)
        hist = c.call("LATENCY", "HISTORY", "command")
        assert_eq(len(hist), 1)
        assert_eq(hist[0][1], latest[0][2])
        assert_eq(c.call("LATENCY", "HISTORY", "nothing"), [])
        graph = c.call("LATENCY", "GRAPH", "command")
        assert_true(graph.startswith(b"command - high "), graph)
        assert_true(b"#" in graph or b"_" in graph)
        doctor = c.call("LATENCY", "DOCTOR")
        assert_true(b"1. command: 1 latency spikes" in doctor, doctor)
        c.call("PING")
        assert_eq(len(c.call("LATENCY", "LATEST")), 1, "a fast command below the threshold adds nothing")
        assert_eq(c.call("LATENCY", "RESET", "nothing"), 0)
        assert_eq(c.call("LATENCY", "RESET"), 1)
        assert_eq(c.call("LATENCY", "LATEST"), [])
        # HISTOGRAM from the per-command histograms
        c.call("CONFIG", "RESETSTAT")
        for _ in range(5):
            c.call("SET", "k", "v")
        c.call("CONFIG", "GET", "port")
        h = c.call("LATENCY", "HISTOGRAM", "set", "config", "nosuch")
        d = {h[i]: h[i + 1] for i in range(0, len(h), 2)}
        assert_eq(sorted(d), [b"config|get", b"config|resetstat", b"set"])
        assert_eq(d[b"set"][0:2], [b"calls", 5])
        buckets = d[b"set"][3]
        counts = buckets[1::2]
        assert_eq(counts[-1], 5)
        assert_eq(counts, sorted(counts))
        assert_true(all(u in (1, 2, 4, 8, 16, 32, 65, 131, 262, 524, 1048, 2097, 4194, 8388, 16777)
                        for u in buckets[0::2]), buckets)
        allh = c.call("LATENCY", "HISTOGRAM")
        assert_true(b"set" in allh[0::2] and b"latency|histogram" in allh[0::2])
        with s.conn(resp=3) as c3:
            m = c3.call("LATENCY", "HISTOGRAM", "set")
            assert_true(isinstance(m, Map))


@test
def latency_events_of_the_write_path():
    """Besides Redis's events, the latency monitor names the parts of a write
    that can hold the loop: wal-append (the iteration's record into the
    backlog), wal-fsync (a group commit's sync, as its writers waited),
    checkpoint (freezing the overlay's layer), store-poll (taking what the
    store thread finished, and growing the map), expire-cycle."""
    with faults_env("wal.append=1:always:slow30000"):
        with CairnServer() as s:
            c = s.conn()
            c.call("CONFIG", "SET", "latency-monitor-threshold", "20")
            c.call("SET", "k", "v")
            latest = {e[0]: e for e in c.call("LATENCY", "LATEST")}
            assert_true(b"wal-append" in latest, latest)
            assert_true(latest[b"wal-append"][2] >= 20, latest)
            assert_true(b"command" not in latest, "the append is not the command's own time")
            hist = c.call("LATENCY", "HISTORY", "wal-append")
            assert_true(len(hist) >= 1 and hist[-1][1] >= 20, hist)
            c.call("CONFIG", "SET", "latency-monitor-threshold", "0")
            c.call("LATENCY", "RESET")
            c.call("SET", "k2", "v")
            assert_eq(c.call("LATENCY", "LATEST"), [], "monitor off: no samples")


@test
def differential_help_and_errors():
    compare([["SLOWLOG", "HELP"], ["LATENCY", "HELP"], ["SLOWLOG", "GET", "-5"], ["SLOWLOG", "NOPE"],
             ["LATENCY", "NOPE"], ["LATENCY", "GRAPH", "nothing"], ["LATENCY", "HISTORY", "nothing"],
             ["SLOWLOG", "LEN", "x"], ["SLOWLOG"], ["LATENCY", "RESET", "x", "y"],
             ["SLOWLOG", "GET", "1", "2"]])


if __name__ == "__main__":
    run_tests()
