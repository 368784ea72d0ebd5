"""Scripting (EVAL/EVALSHA/SCRIPT) on cairn: transactions around scripts,
the effects of a script replicated to a cairn replica as one MULTI/EXEC unit
(never the EVAL itself), readonly-replica rules, and kill -9 while scripts
that write many keys run: after restart each script's effects are there
whole or not at all, every acknowledged one whole.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_scripting.py [name...]
"""
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

WRITE_MANY = "for i = 1, tonumber(ARGV[2]) do redis.call('set', ARGV[1] .. ':' .. i, ARGV[1]) end return 1"


@test
def script_cache_and_transactions():
    with CairnServer() as s:
        c = s.conn()
        sha = c.call("SCRIPT", "LOAD", "return redis.call('incr', KEYS[1])")
        assert_eq(c.call("SCRIPT", "EXISTS", sha, "0" * 40), [1, 0])
        assert_eq(c.call("EVALSHA", sha, "1", "n"), 1)
        assert_eq(c.call("EVALSHA", sha.upper(), "1", "n"), 2)
        # inside MULTI: queued, run at EXEC
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("EVALSHA", sha, "1", "n"), "QUEUED")
        assert_eq(c.call("EVAL", "return redis.call('get', KEYS[1])", "1", "n"), "QUEUED")
        assert_eq(c.call("EXEC"), [3, b"3"])
        # WATCH across EVAL: the script's write fails the transaction
        other = s.conn()
        assert_eq(c.call("WATCH", "n"), "OK")
        other.call("EVALSHA", sha, "1", "n")
        assert_eq(c.call("MULTI"), "OK")
        c.call("GET", "n")
        assert_eq(c.call("EXEC"), None)
        # SELECT inside a script moves the script's db only
        assert_eq(c.call("EVAL", "redis.call('select', 5); return redis.call('set', 'in5', 'x')", "0"), "OK")
        assert_eq(c.call("GET", "in5"), None)
        c.call("SELECT", "5")
        assert_eq(c.call("GET", "in5"), b"x")
        # blocking commands are refused (noscript), like Redis 7.0
        r = c.call("EVAL", "return redis.call('blpop', 'nolist', 0)", "0")
        assert_true(is_error(r) and "not allowed from script" in str(r), repr(r))
        assert_eq(c.call("SCRIPT", "FLUSH"), "OK")
        assert_eq(c.call("SCRIPT", "EXISTS", sha), [0])
        assert_error_text(c.call("EVALSHA", sha, "1", "n"), "NOSCRIPT No matching script. Please use EVAL.")
        assert_error_text(c.call("SCRIPT", "KILL"), "NOTBUSY No scripts in execution right now.")
        c.close()
        other.close()


@test(timeout=120)
def effects_replicate_to_a_cairn_replica():
    with CairnServer() as master:
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica)
            c = master.conn()
            assert_eq(c.call("EVAL", WRITE_MANY, "0", "rep", "50"), 1)
            # non-deterministic inputs are replicated as their effects
            c.call("EVAL", "redis.call('set', 'when', redis.call('time')[1]); redis.call('incrbyfloat', 'f', '1.5')", "0")
            c.call("EVAL", "redis.call('select', 9); redis.call('rpush', 'l9', 'a', 'b')", "0")
            # a script that writes then fails keeps (and replicates) its writes
            r = c.call("EVAL", "redis.call('set', 'before', '1'); error('late')", "0")
            assert_true(is_error(r), "the script failed")
            c.call("EVAL_RO", "return redis.call('get', 'before')", "0")
            wait_offsets_equal(master, replica)
            rc = replica.conn()
            assert_eq(rc.call("DBSIZE"), c.call("DBSIZE"))
            for i in (1, 25, 50):
                assert_eq(rc.call("GET", "rep:%d" % i), b"rep")
            assert_eq(rc.call("GET", "when"), c.call("GET", "when"))
            assert_eq(rc.call("GET", "f"), b"1.5")
            assert_eq(rc.call("GET", "before"), b"1")
            rc.call("SELECT", "9")
            assert_eq(rc.call("LRANGE", "l9", "0", "-1"), [b"a", b"b"])
            # the replica ran the effects, never a script: its script cache is empty
            assert_eq(rc.call("SCRIPT", "EXISTS", c.call("SCRIPT", "LOAD", WRITE_MANY)), [0])
            # writes refused on the read-only replica
            r = rc.call("EVAL", "return redis.call('set', 'x', '1')", "0")
            assert_true(is_error(r) and str(r).startswith("READONLY You can't write against a read only replica. "
                                                          "script: "), repr(r))
            # a script declaring flags without no-writes is a write command (Redis's getCommandFlags)
            assert_error_text(rc.call("EVAL", "#!lua\nreturn redis.call('set', 'x', '1')", "0"),
                              "READONLY You can't write against a read only replica.")
            assert_eq(rc.call("EVAL", "#!lua flags=no-writes\nreturn redis.call('llen', 'l9')", "0"), 2)
            rc.close()
            c.close()


def run_scripts_until_killed(server, rnd, round_no, nkeys):
    """Pipelines EVALs, each writing nkeys keys named s<round>-<i>:<j>, until
    the server is SIGKILLed. Returns (scripts sent, scripts acknowledged)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    killer = threading.Timer(rnd.uniform(0.1, 0.5), server.kill9)
    killer.start()
    sent = acked = 0
    buf = b""
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            batch = b"".join(encode_command("EVAL", WRITE_MANY, "0", "s%d-%d" % (round_no, sent + k), str(nkeys))
                             for k in range(8))
            try:
                sock.sendall(batch)
            except OSError:
                break
            sent += 8
            while acked < sent:
                try:
                    data = sock.recv(1 << 16)
                except OSError:
                    data = b""
                if not data:
                    deadline = 0
                    break
                buf += data
                n = buf.count(b"\r\n")
                acked += n
                buf = buf[buf.rfind(b"\r\n") + 2:]
    finally:
        killer.join()
        sock.close()
    return sent, min(acked, sent)


@test(timeout=300)
def kill9_script_effects_whole_or_absent():
    rnd = random.Random(int(os.environ.get("CAIRN_SEED", "12")))
    nkeys = 100
    with CairnServer() as s:
        for round_no in range(4):
            sent, acked = run_scripts_until_killed(s, rnd, round_no, nkeys)
            s.restart(kill=False) if s.proc is not None and s.proc.poll() is None else s.start()
            c = s.conn()
            whole = 0
            for i in range(sent):
                prefix = "s%d-%d" % (round_no, i)
                found = sum(1 for v in c.call("MGET", *["%s:%d" % (prefix, j) for j in range(1, nkeys + 1)])
                            if v is not None)
                assert_true(found in (0, nkeys), "script %s left %d of %d keys" % (prefix, found, nkeys))
                if i < acked:
                    assert_eq(found, nkeys, "acknowledged script %s lost after kill -9" % prefix)
                whole += found == nkeys
            print("  round %d: %d scripts sent, %d acknowledged, %d whole after restart" % (round_no, sent, acked,
                                                                                          whole))
            c.close()


@test(timeout=120)
def recovery_is_never_refused_for_maxmemory():
    """maxmemory refuses clients' writes over it, never the WAL's replay at
    start: a restart with maxmemory 1 brings back every acknowledged write,
    a script's effects included, then refuses new writes."""
    with CairnServer() as s:
        c = s.conn()
        for i in range(300):
            c.send("SET", "r%d" % i, "v%d" % i)
        for i in range(300):
            assert_eq(c.read_reply(), "OK")
        assert_eq(c.call("EVAL", "for i = 1, 50 do redis.call('RPUSH', KEYS[1], i) end return 1", "1", "list"), 1)
        s.kill9()
        s.extra_config = {"maxmemory": "1"}
        s.start()
        c = s.conn()
        assert_eq(c.call("DBSIZE"), 301)
        assert_eq(c.call("LLEN", "list"), 50)
        assert_eq(c.call("GET", "r299"), b"v299")
        assert_error(c.call("SET", "new", "1"), "OOM command not allowed when used memory > 'maxmemory'.")
        assert_eq(c.call("DEL", "r0"), 1)


@test
def monitor_and_tracking_see_scripts_like_redis():
    with CairnServer() as s:
        m, c = s.conn(), s.conn()
        assert_eq(m.call("MONITOR"), "OK")
        c.call("EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "foo", "bar")
        first, second = m.read_reply(), m.read_reply()
        assert_true('"EVAL" "return redis.call(\'set\', KEYS[1], ARGV[1])" "1" "foo" "bar"' in first, first)
        assert_true(second.endswith('[0 lua] "set" "foo" "bar"'), second)
        m.close()
        # tracking: a script that read something tracks its declared keys
        t = s.conn(resp=3)
        assert_eq(t.call("CLIENT", "TRACKING", "on"), "OK")
        t.call("EVAL", "return redis.call('set', 'other', '1')", "1", "k1")  # no read: nothing tracked
        c.call("SET", "k1", "x")
        t.call("EVAL", "return redis.call('get', 'other')", "1", "k1")
        c.call("SET", "k1", "y")
        push = t.read_reply()
        assert_eq(list(push), [b"invalidate", [b"k1"]])
        assert_eq(t.call("PING"), "PONG")
        t.close()
        c.close()


@test(timeout=120)
def busy_scripts_answer_others_and_can_be_killed():
    with CairnServer() as s:
        a, b = s.conn(), s.conn()
        assert_eq(b.call("CONFIG", "SET", "busy-reply-threshold", "100"), "OK")
        assert_eq(b.call("SET", "before", "1"), "OK")
        a.send("EVAL", "local i = 0 while true do i = i + 1 end", "0")
        time.sleep(0.4)
        busy = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
        assert_error_text(b.call("PING"), busy)
        assert_error_text(b.call("GET", "before"), busy)
        late = s.conn()  # a connection made while the script runs is served too
        assert_error_text(late.call("PING"), busy)
        stats = b.call("FUNCTION", "STATS")
        assert_eq(stats[1], None)
        assert_error_text(b.call("FUNCTION", "KILL"),
                          "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
        assert_eq(b.call("SCRIPT", "KILL"), "OK")
        r = a.read_reply()
        assert_true(is_error(r) and str(r).startswith("ERR Script killed by user with SCRIPT KILL..."), repr(r))
        assert_eq(a.call("PING"), "PONG")
        assert_eq(late.call("GET", "before"), b"1")
        # a script that wrote cannot be killed; SHUTDOWN NOSAVE stops the
        # server and the script's write is not there after the restart
        a.send("EVAL", "redis.call('set', 'partial', '1') local i = 0 while true do i = i + 1 end", "0")
        time.sleep(0.4)
        r = b.call("SCRIPT", "KILL")
        assert_true(is_error(r) and str(r).startswith("UNKILLABLE Sorry the script already executed write commands"),
                    repr(r))
        b.send("SHUTDOWN", "NOSAVE")
        wait_until(lambda: s.proc.poll() is not None, 10, msg="the server exits on SHUTDOWN NOSAVE")
        for conn in (a, b, late):
            conn.close()
        s.start()
        c = s.conn()
        assert_eq(c.call("GET", "before"), b"1")
        assert_eq(c.call("GET", "partial"), None)
        c.close()


def _acl_and_streams_session(s):
    """redis.acl_check_cmd under an ACL user, XREAD/XREADGROUP BLOCK refused
    inside a script, COMMAND GETKEYS of a script without keys."""
    c, out = s.conn(), []
    out.append(c.call("ACL", "SETUSER", "bob", "on", ">123", "+@scripting", "+set", "~x*"))
    out.append(c.call("AUTH", "bob", "123"))
    out.append(c.call("EVAL", "return redis.acl_check_cmd('set','xx',1)", 1, "xx"))
    out.append(c.call("EVAL", "return redis.acl_check_cmd('hset','xx','f',1)", 1, "xx"))
    out.append(c.call("EVAL", "return redis.acl_check_cmd('set','yy',1)", 1, "xx"))
    out.append(c.call("EVAL", "return redis.acl_check_cmd('nosuchcommand')", 0))
    out.append(c.call("AUTH", "default", "nopass-ignored"))
    d = s.conn()
    d.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    out.append(d.call("EVAL", "return redis.pcall('xread','STREAMS','s','$')", 1, "s"))
    out.append(d.call("EVAL", "return redis.pcall('xread','BLOCK',0,'STREAMS','s','$')", 1, "s"))
    out.append(d.call("EVAL", "return redis.pcall('xreadgroup','group','g','c','BLOCK',0,'STREAMS','s','>')", 1, "s"))
    out.append(d.call("COMMAND", "GETKEYS", "EVAL", "return 1", 0))
    out.append(d.call("COMMAND", "GETKEYS", "FCALL", "f", 2, "a", "b"))
    return out


@test
def acl_check_cmd_stream_block_and_getkeys_like_redis():
    with CairnServer() as s:
        got = _acl_and_streams_session(s)
    with RedisServer() as r:
        want = _acl_and_streams_session(r)
    assert_eq(got, want)


if __name__ == "__main__":
    run_tests()
