"""The LMDB map grows on demand; at lmdb-max-map-size writes get -OOM and the
store stays exactly as the stream describes (nothing half-applied)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403


@test(timeout=300)
def map_grows_under_writes_and_after_restart():
    with CairnServer({"lmdb-map-size": "1mb", "lmdb-max-map-size": "256mb"}) as s:
        c = s.conn()
        val = "v" * 4000
        for batch in range(10):
            replies = c.pipeline([("SET", "k%d" % (batch * 500 + i), val) for i in range(500)])
            assert_true(all(r == "OK" for r in replies), "a SET failed while growing: %r" %
                        [r for r in replies if r != "OK"][:3])
        assert_true(int(info_field(c, "lmdb_map_size", "persistence")) > 16 * 1024 * 1024)
        assert_true(int(info_field(c, "lmdb_map_grows", "persistence")) >= 1)
        assert_eq(c.call("DBSIZE"), 5000)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), 5000)
        assert_eq(c.call("GET", "k4999"), val.encode())
        assert_eq(c.call("SET", "after", "1"), "OK")


@test(timeout=300)
def full_map_refuses_writes_without_half_applying():
    with CairnServer({"lmdb-map-size": "1mb", "lmdb-max-map-size": "4mb"}) as s:
        c = s.conn()
        val = "x" * 3000
        first_oom = None
        for i in range(3000):
            r = c.call("SET", "f%d" % i, val)
            if is_error(r):
                assert_error(r, "OOM command not allowed: the store is full")
                first_oom = i
                break
        assert_true(first_oom is not None, "4mb map never filled")
        # everything acknowledged before the refusal is there, nothing after it
        assert_eq(c.call("DBSIZE"), first_oom)
        assert_eq(c.call("GET", "f%d" % (first_oom - 1)), val.encode())
        assert_eq(c.call("GET", "f%d" % first_oom), None)
        # an MSET that does not fit is refused whole
        r = c.call("MSET", *sum([["m%d" % i, val] for i in range(50)], []))
        assert_error(r, "OOM")
        assert_eq(c.call("EXISTS", "m0"), 0)
        # reads and deletes still work; deleting makes room again
        assert_eq(c.call("DEL", *["f%d" % i for i in range(first_oom // 2)]), first_oom // 2)
        assert_eq(c.call("SET", "again", "1"), "OK")
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), first_oom - first_oom // 2 + 1)
        assert_eq(c.call("GET", "again"), b"1")


if __name__ == "__main__":
    run_tests()
