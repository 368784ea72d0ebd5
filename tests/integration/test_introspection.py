"""Introspection, differential against redis-server 7.0 where the replies are
deterministic: MONITOR (what is shown, in which order, with which db,
redactions), ...

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_introspection.py [name...]
"""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403,E402
from differential import get_pair  # noqa: E402


def _monitor_lines(server, commands):
    """Runs commands on a fresh connection while another one MONITORs;
    returns what the monitor received, timestamps and ports masked."""
    m = server.conn()
    assert_eq(m.call("MONITOR"), "OK")
    m.send("MONITOR")          # a second MONITOR is ignored, without a reply
    assert_eq(m.call("PING"), "PONG")
    c = server.conn()
    for cmd in commands:
        c.call(*cmd)
    c.call("SELECT", "0")
    c.call("ECHO", "the-end")
    lines = []
    while True:
        r = m.read_reply()
        line = re.sub(r"^(\d+)\.(\d{6}) \[(\d+) 127\.0\.0\.1:\d+\] ", r"T [\3 A] ", str(r))
        assert_true(line.startswith("T ["), "bad monitor line %r" % r)
        lines.append(line)
        if line.endswith('"ECHO" "the-end"'):
            break
    m.close()
    c.close()
    return lines


MONITOR_CASES = [
    ["MULTI"], ["SET", "foo", "bar"], ["EXEC"],
    ["MULTI"], ["SYNTAX", "err"], ["EXEC"],
    ["MULTI"], ["SET", "a"], ["EXEC"],
    ["CONFIG", "GET", "maxmemory"], ["CLIENT", "LIST"], ["CLIENT", "ID"],
    ["AUTH", "x"], ["AUTH", "a", "b"], ["HELLO", "2", "AUTH", "x", "y"],
    ["HELLO", "2", "SETNAME", "n", "AUTH", "x", "y"],
    ["WATCH", "a"], ["SET", b"a\x01\"b\n\\\t", "b", "EX", "100"], ["GET", "nosuch"],
    ["SELECT", "3"], ["SET", "x", "y"],
    ["MULTI"], ["MONITOR"], ["SELECT", "4"], ["EXEC"],
    ["nocommand"], ["GET"],
]


@test
def monitor_shows_commands_like_redis():
    pair = get_pair()
    got = _monitor_lines(pair.cairn, MONITOR_CASES)
    want = _monitor_lines(pair.redis, MONITOR_CASES)
    assert_eq(got, want)
    # spot checks of the interesting parts
    assert_true('T [0 A] "SET" "foo" "bar"' in got)
    assert_true('T [0 A] "AUTH" "(redacted)" "(redacted)"' in got)
    assert_true('T [3 A] "SET" "x" "y"' in got)
    assert_true(not any('"CONFIG"' in l or '"LIST"' in l for l in got))  # admin: not shown


@test
def monitor_client_flags_reset_and_close():
    with CairnServer() as s:
        m = s.conn()
        assert_eq(m.call("MONITOR"), "OK")
        c = s.conn()
        line = [l for l in c.call("CLIENT", "LIST").decode().splitlines() if "cmd=monitor" in l]
        assert_eq(len(line), 1)
        assert_true(" flags=O " in line[0], line[0])
        # MONITOR inside MULTI is refused at EXEC
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("MONITOR"), "QUEUED")
        r = c.call("EXEC")
        assert_eq(r, [Error("ERR MONITOR isn't allowed for DENY BLOCKING client")])
        c.call("ECHO", "sync")
        while "sync" not in str(m.read_reply()):
            pass
        # RESET ends monitoring: nothing more arrives
        assert_eq(m.call("RESET"), "RESET")
        c.call("SET", "k", "v")
        assert_eq(m.call("PING"), "PONG")
        # a closed monitor is forgotten
        m2 = s.conn()
        m2.call("MONITOR")
        m2.close()
        time.sleep(0.1)
        assert_eq(c.call("SET", "k", "v2"), "OK")
        # a blocked command is shown once, when it is sent
        m3 = s.conn()
        m3.call("MONITOR")
        b = s.conn()
        b.send("BLPOP", "list", "0")
        time.sleep(0.1)
        c.call("RPUSH", "list", "x")
        assert_eq(b.read_reply(), [b"list", b"x"])
        c.call("ECHO", "end")
        lines = []
        while not lines or "ECHO" not in lines[-1]:
            lines.append(str(m3.read_reply()))
        assert_eq([l.split("] ", 1)[1] for l in lines],
                  ['"BLPOP" "list" "0"', '"RPUSH" "list" "x"', '"ECHO" "end"'])


@test
def config_set_port_and_bind_at_runtime():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "k", "v")
        new = free_port()
        assert_eq(c.call("CONFIG", "SET", "port", str(new)), "OK")
        # the connection made before stays; new ones go to the new port
        assert_eq(c.call("GET", "k"), b"v")
        with Conn(port=new) as c2:
            assert_eq(c2.call("GET", "k"), b"v")
            assert_eq(parse_info_sections(c2.call("INFO", "server"))["Server"]["tcp_port"], str(new))
        try:
            Conn(port=s.port, timeout=1).ping()
            raise AssertionError("the old port still accepts connections")
        except OSError:
            pass
        # a port in use: the whole CONFIG SET is undone, the listener stays
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        used = busy.getsockname()[1]
        maxmem = c.call("CONFIG", "GET", "maxmemory")
        r = c.call("CONFIG", "SET", "maxmemory", "10000001", "port", str(used), "client-query-buffer-limit", "10m")
        assert_eq(r, Error("ERR CONFIG SET failed (possibly related to argument 'port') - "
                           "Unable to listen on this port. Check server logs."))
        assert_eq(c.call("CONFIG", "GET", "maxmemory"), maxmem)
        assert_eq(c.call("CONFIG", "GET", "port"), [b"port", str(new).encode()])
        with Conn(port=new) as c2:
            assert_eq(c2.ping(), "PONG")
        busy.close()
        # bind: an address that is not ours fails and is undone
        r = c.call("CONFIG", "SET", "bind", "192.0.2.1")
        assert_eq(r, Error("ERR CONFIG SET failed (possibly related to argument 'bind') - "
                           "Failed to bind to specified addresses."))
        assert_eq(c.call("CONFIG", "GET", "bind"), [b"bind", b"127.0.0.1"])
        assert_eq(c.call("CONFIG", "SET", "bind", "127.0.0.1 -::1", "port", str(s.port)), "OK")
        with Conn(port=s.port) as c2:
            assert_eq(c2.ping(), "PONG")
        # the harness stops the server on its configured port
        assert_eq(c.call("CONFIG", "SET", "bind", "127.0.0.1"), "OK")


@test
def config_set_percent_and_round_trip():
    pair = get_pair()
    for srv in (pair.cairn, pair.redis):
        with srv.conn() as c:
            r = c.call("CONFIG", "SET", "maxmemory", "10000001", "maxmemory-clients", "200%",
                       "client-query-buffer-limit", "invalid")
            assert_eq(r, Error("ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - "
                               "percentage argument must be less or equal to 100"), srv.kind)
            assert_eq(c.call("CONFIG", "GET", "maxmemory"), [b"maxmemory", b"0"], srv.kind)
            assert_eq(c.call("CONFIG", "SET", "maxmemory-clients", "-5"),
                      Error("ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - "
                            "argument must be a memory or percent value"), srv.kind)
    # every parameter CONFIG GET * lists can be set to the value it has
    # (what config tools do), except Redis's own startup-only ones
    startup_only = {"daemonize", "io-threads", "io-threads-do-reads", "tcp-backlog", "unixsocket", "unixsocketperm",
                    "pidfile", "logfile", "dir", "dbfilename", "databases", "rdbchecksum", "appendfilename",
                    "appenddirname", "cluster-enabled", "cluster-config-file", "cluster-port", "replicaof",
                    "slaveof", "supervised", "syslog-enabled", "syslog-ident", "syslog-facility", "always-show-logo",
                    "disable-thp", "set-proc-title", "aclfile", "enable-protected-configs", "enable-debug-command",
                    "enable-module-command", "oom-score-adj", "oom-score-adj-values", "requirepass",
                    "socket-mark-id"}
    with pair.cairn.conn() as c:
        r = c.call("CONFIG", "GET", "*")
        before = dict(zip(r[::2], r[1::2]))
        for k, v in before.items():
            if k.decode() in startup_only or k.decode().startswith("tls-"):
                continue
            assert_eq(c.call("CONFIG", "SET", k, v), "OK", k)
        r = c.call("CONFIG", "GET", "*")
        assert_eq(dict(zip(r[::2], r[1::2])), before)
        assert_eq(c.call("CONFIG", "SET", "lmdb-writemap", "no" if before[b"lmdb-writemap"] == b"yes" else "yes"),
                  Error("ERR CONFIG SET failed (possibly related to argument 'lmdb-writemap') - "
                        "can't set immutable config"))


GETKEYS_CASES = [
    ("set", "k", "v"), ("set", "k", "v", "nx", "get"), ("mset", "k1", "v1", "k2", "v2"),
    ("LMOVE", "k1", "k2", "left", "right"), ("sort", "k1", "store", "k2", "get", "x", "store", "k3"),
    ("sort", "k1", "limit", "store", "x", "store", "k3"), ("sort_ro", "k", "by", "x"),
    ("zunionstore", "t", "2", "a", "b"), ("zunionstore", "t", "x", "a"), ("zunionstore", "t", "5", "a"),
    ("zunionstore", "t", "-1", "a"), ("zinter", "0", "a"), ("zdiff", "2", "a", "b", "withscores"),
    ("lmpop", "2", "a", "b", "left"), ("blmpop", "0", "1", "a", "left"), ("bzmpop", "1", "2", "a", "b", "min"),
    ("sintercard", "2", "a", "b", "limit", "1"), ("memory", "usage", "k"), ("config", "get", "x"),
    ("config", "nosuch", "x"), ("lcs", "k1", "k2"), ("get", "k", "x"), ("set", "k"), ("del", "a", "b", "c"),
    ("rename", "a", "b"), ("object", "encoding", "k"), ("hset", "h", "f", "v"), ("ping",), ("nosuch",),
    ("cluster", "info"), ("zunionstore", "t", "260") + tuple("key%d" % i for i in range(260)),
]


@test
def command_getkeys_and_flags_like_redis():
    pair = get_pair()
    a, b = pair.cairn.conn(), pair.redis.conn()
    for cmd in GETKEYS_CASES:
        for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
            assert_eq(a.call_raw("COMMAND", sub, *cmd), b.call_raw("COMMAND", sub, *cmd), repr((sub,) + cmd))
    a3, b3 = pair.cairn.conn(resp=3), pair.redis.conn(resp=3)
    assert_eq(a3.call_raw("COMMAND", "GETKEYSANDFLAGS", "lmove", "a", "b", "left", "left"),
              b3.call_raw("COMMAND", "GETKEYSANDFLAGS", "lmove", "a", "b", "left", "left"))


@test
def command_info_key_specs_and_movablekeys():
    pair = get_pair()
    a, b = pair.cairn.conn(), pair.redis.conn()
    for name in ["zunionstore", "sort", "sort_ro", "zdiff", "zinter", "sintercard", "lmpop", "blmpop", "zmpop",
                 "bzmpop", "zintercard", "set", "get", "lmove", "mset"]:
        x, y = a.call("COMMAND", "INFO", name)[0], b.call("COMMAND", "INFO", name)[0]
        assert_eq(x[2], y[2], name)     # flags, movablekeys included
        assert_eq(x[8], y[8], name)     # key specs
    # CLUSTER exists as in a Redis without cluster mode
    for cmd in [("cluster", "info"), ("cluster", "help"), ("cluster", "info", "x"), ("cluster", "nosuch"),
                ("cluster",)]:
        assert_eq(a.call_raw(*cmd), b.call_raw(*cmd), repr(cmd))
    cmd = ("command", "list", "filterby", "pattern", "cl*help")   # Redis lists in its dict's order
    assert_eq(sorted(a.call(*cmd)), sorted(b.call(*cmd)))


@test
def lolwut():
    with CairnServer() as s:
        c = s.conn()
        out = c.call("LOLWUT")
        assert_true(out.endswith(b"cairn ver. 0.1.0 (Redis 7.0.15 semantics)\n"), out)
        assert_eq(c.call("LOLWUT", "VERSION", "5", "1", "1", "1"), out)
        assert_error(c.call("LOLWUT", "VERSION", "x"), "ERR value is not an integer or out of range")
        assert_error(c.call("LOLWUT", "VERSION", "6", "ten"), "ERR value is not an integer or out of range")
        c3 = s.conn(resp=3)
        r = c3.call_raw("LOLWUT")
        assert_true(r.startswith(b"=") and b"txt:" in r[:12], r[:20])


@test
def memory_stats_doctor_and_modules():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "a", "1")
        c.call("RPUSH", "l", "x", "y")
        st = c.call("MEMORY", "STATS")
        d = dict(zip(st[::2], st[1::2]))
        for f in [b"total.allocated", b"replication.backlog", b"clients.normal", b"lua.caches", b"keys.count",
                  b"dataset.bytes", b"overlay.bytes"]:
            assert_true(f in d, "MEMORY STATS lacks %r" % f)
        assert_eq(d[b"keys.count"], 2)
        assert_true(d[b"total.allocated"] > 0 and d[b"clients.normal"] > 0)
        c3 = s.conn(resp=3)
        assert_true(isinstance(c3.call("MEMORY", "STATS"), Map), "a map in RESP3")
        assert_true(c.call("MEMORY", "DOCTOR").startswith(b"Hi Sam"))
        assert_eq(c.call("MEMORY", "MALLOC-STATS"), b"Stats not supported for the current allocator")
        assert_eq(c.call("MEMORY", "PURGE"), "OK")
        # cairn loads no Redis modules: an empty list, and Redis's error (the reason in the log)
        assert_eq(c.call("MODULE", "LIST"), [])
        assert_error(c.call("MODULE", "LOAD", "/nonexistent.so"),
                     "ERR Error loading the extension. Please check the server logs.")
        assert_true("cairn does not load Redis modules" in s.log_text())
        assert_error(c.call("MODULE", "UNLOAD", "x"), "ERR Error unloading module: no such module with that name")
    with RedisServer() as r:  # the same empty list (LOAD/UNLOAD are refused there by enable-module-command no)
        assert_eq(r.conn().call("MODULE", "LIST"), [])


if __name__ == "__main__":
    run_tests()
