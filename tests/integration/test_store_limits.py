"""The LMDB map grows on demand; at lmdb-max-map-size writes get -OOM and the
store stays exactly as the stream describes (nothing half-applied)."""
import os
import re
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
        assert_eq(c.call("SAVE"), "OK")  # the store thread grows the map as it writes
        assert_true(int(info_field(c, "lmdb_map_size", "persistence")) > 16 * 1024 * 1024)
        assert_true(int(info_field(c, "lmdb_map_grows", "persistence")) >= 1)
        assert_true(re.search(r"\* LMDB map grown to \d+ bytes \(remapped in \d+ ms", s.log_text()), "no map growth logged")
        assert_eq(c.call("DBSIZE"), 5000)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), 5000)
        assert_eq(c.call("GET", "k4999"), val.encode())
        assert_eq(c.call("SET", "after", "1"), "OK")


@test(timeout=300)
def raising_the_ceiling_with_config_set_lets_writes_in_again():
    # -OOM names the ceiling (it is the cause here); CONFIG SET
    # lmdb-max-map-size raises it at runtime, and the map grows again
    with CairnServer({"lmdb-map-size": "1mb", "lmdb-max-map-size": "4mb"}) as s:
        c = s.conn()
        val = "x" * 3000
        acked = 0
        refused = None
        for b in range(0, 3000, 100):
            replies = c.pipeline([["SET", "f%d" % i, val] for i in range(b, b + 100)])
            ok = [r for r in replies if r == "OK"]
            acked += len(ok)
            if len(ok) < len(replies):
                refused = replies[len(ok)]
                break
            assert_eq(c.call("SAVE"), "OK")
        assert_eq(refused, "OOM command not allowed: the store is full (the LMDB map is at lmdb-max-map-size, "
                           "4194304 bytes)")
        assert_eq(c.call("CONFIG", "SET", "lmdb-max-map-size", "64mb"), "OK")
        assert_eq(c.call("CONFIG", "GET", "lmdb-max-map-size"), [b"lmdb-max-map-size", b"67108864"])
        wait_until(lambda: c.call("SET", "again", val) == "OK", timeout=15, msg="writes never came back")
        for i in range(acked, acked + 300):
            assert_eq(c.call("SET", "f%d" % i, val), "OK")
        assert_eq(info(c, "cairn")["store_full"], "0")
        assert_eq(c.call("SAVE"), "OK")
        assert_true(int(info(c, "persistence")["lmdb_map_size"]) > 4 << 20)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), acked + 300 + 1)


@test(timeout=300)
def full_map_refuses_writes_and_recovers_after_deletes():
    # At lmdb-max-map-size, once LMDB holds 7/8 of the map (free pages not
    # counted), writes that add data are refused (-OOM); the last eighth
    # takes what was acknowledged, deletes and expiry; deleting makes room
    # again once the deletes are on disk.
    with CairnServer({"lmdb-map-size": "1mb", "lmdb-max-map-size": "4mb"}) as s:
        c = s.conn()
        val = "x" * 3000
        first_oom = None
        acked = 0
        for b in range(0, 3000, 100):
            replies = c.pipeline([["SET", "f%d" % i, val] for i in range(b, b + 100)])
            ok = [r for r in replies if r == "OK"]
            for r in replies[len(ok):]:
                assert_error(r, "OOM command not allowed: the store is full")
            acked += len(ok)
            if len(ok) < len(replies):
                first_oom = acked
                break
            assert_eq(c.call("SAVE"), "OK")  # the reserve takes what was acknowledged
        assert_true(first_oom is not None, "4mb map never filled")
        # everything acknowledged is there, nothing refused
        assert_eq(c.call("DBSIZE"), first_oom)
        assert_eq(c.call("GET", "f%d" % (first_oom - 1)), val.encode())
        # an MSET is refused whole
        r = c.call("MSET", *sum([["m%d" % i, val] for i in range(50)], []))
        assert_error(r, "OOM")
        assert_eq(c.call("EXISTS", "m0"), 0)
        # reads and deletes still work; deleting makes room again
        assert_eq(c.call("DEL", *["f%d" % i for i in range(first_oom // 2)]), first_oom // 2)
        wait_until(lambda: info(c, "cairn")["store_full"] == "0", timeout=15,
                   msg="the store never recovered after the deletes")
        assert_eq(c.call("SET", "again", "1"), "OK")
        assert_eq(c.call("SAVE"), "OK")
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), first_oom - first_oom // 2 + 1)
        assert_eq(c.call("GET", "again"), b"1")


if __name__ == "__main__":
    run_tests()
