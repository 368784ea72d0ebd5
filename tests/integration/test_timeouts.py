"""Timeouts of the blocking commands (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP
BZPOPMIN BZPOPMAX BZMPOP), side by side with a real redis-server 7.0.

Redis 7.0.15 reads the timeout as seconds in a long double and rounds the
milliseconds up (src/timeout.c: ceill(ftval * 1000.0)): 0.0001 is 1 ms, so
the command times out right away instead of blocking for ever (0).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403,E402

BLOCKING = [
    ("BLPOP", "missing", "{t}"),
    ("BRPOP", "missing", "missing2", "{t}"),
    ("BLMOVE", "missing", "dst", "LEFT", "RIGHT", "{t}"),
    ("BRPOPLPUSH", "missing", "dst", "{t}"),
    ("BLMPOP", "{t}", 1, "missing", "LEFT"),
    ("BZPOPMIN", "missing", "{t}"),
    ("BZPOPMAX", "missing", "{t}"),
    ("BZMPOP", "{t}", 1, "missing", "MIN"),
]


def with_timeout(cmd, t):
    return [t if a == "{t}" else a for a in cmd]


@test
def sub_millisecond_timeout_rounds_up():
    with CairnServer() as s, RedisServer() as r:
        for server in (s, r):
            c = server.conn()
            for cmd in BLOCKING:
                t0 = time.time()
                raw = c.call_raw(*with_timeout(cmd, "0.0001"))
                dt = time.time() - t0
                assert_eq(raw, b"*-1\r\n", "%s %s" % (server.kind, cmd[0]))
                assert_true(dt < 1.0, "%s %s 0.0001 took %.3f s" % (server.kind, cmd[0], dt))
            c3 = server.conn(resp=3)
            assert_eq(c3.call_raw("BLPOP", "missing", "0.0001"), b"_\r\n")


@test
def timeout_errors_as_redis():
    values = ["-1", "-0.5", "abc", "", " 1", "1 ", "nan", "1e5000", "1e30", "inf", "-inf",
              "9223372036854775.808"]
    with CairnServer() as s, RedisServer() as r:
        cs, cr = s.conn(), r.conn()
        for cmd in BLOCKING:
            for v in values:
                args = with_timeout(cmd, v)
                got, want = cs.call(*args), cr.call(*args)
                assert_true(is_error(want), "redis did not refuse %r" % (args,))
                assert_eq(got, want, repr(args))


@test
def zero_and_tiny_negative_block_for_ever():
    # 0 and -0.0001 (ceill gives -0) both mean "no timeout"
    with CairnServer() as s, RedisServer() as r:
        for server in (s, r):
            for t in ("0", "-0.0001", "0.0"):
                c = server.conn()
                c.send("BLPOP", "q", t)
                time.sleep(0.2)
                c2 = server.conn()
                assert_eq(c2.call("RPUSH", "q", "v"), 1)
                assert_eq(c.read_reply(), [b"q", b"v"], "%s BLPOP %s" % (server.kind, t))


if __name__ == "__main__":
    run_tests()
