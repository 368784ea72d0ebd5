"""A full disk, for real: the data directory on a small tmpfs this test mounts.

Writes go on until the disk is full. The error must name the real cause (the
path and "No space left on device", never the lmdb-max-map-size ceiling),
writes are refused (-MISCONF) instead of growing the backlog without bound or
hanging at the overlay's budget, reads keep working, INFO tells the truth.
Then the tmpfs is grown: writes are accepted again by themselves (the store
thread's retry), and after a restart every acknowledged write is there.

Needs root (mount -t tmpfs); without it each test prints SKIP and passes.
The fault-injection side (ENOSPC on the backlog append, on the store thread's
LMDB commit) is in test_faults.py and below.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from cairn_test import encode_command  # noqa: E402

NOSPACE = "No space left on device"


class Tmpfs(object):
    def __init__(self, size):
        self.dir = tempfile.mkdtemp(prefix="cairn-diskfull-")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", self.mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.mounted = r.returncode == 0
        self.why = r.stdout.decode().strip()

    def resize(self, size):
        r = subprocess.run(["mount", "-o", "remount,size=%s" % size, self.mnt], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        assert_eq(r.returncode, 0, r.stdout.decode())

    def close(self):
        if self.mounted:
            for _ in range(50):
                if subprocess.run(["umount", self.mnt], timeout=30).returncode == 0:
                    break
                time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


def with_tmpfs(size, fn):
    fs = Tmpfs(size)
    try:
        if not fs.mounted:
            print("SKIP: cannot mount a tmpfs here (%s): the real full-disk test did not run" % fs.why)
            return
        fn(fs)
    finally:
        fs.close()


def fill(s, acked, prefix, size, limit_s=120):
    """Pipelines SETs of random values until the server refuses writes for
    good. acked: dict key -> value of every acknowledged SET. Returns the
    error replies seen."""
    errors = []
    deadline = time.time() + limit_s
    i = 0
    c = s.conn(timeout=30)
    while time.time() < deadline:
        batch = []
        for _ in range(50):
            batch.append(("%s%d" % (prefix, i), os.urandom(size)))
            i += 1
        try:
            c.send_raw(b"".join(encode_command("SET", k, v) for k, v in batch))
            replies = [c.read_reply() for _ in batch]
        except (ConnectionError, OSError, ProtocolError):
            # a backlog append failed: the clients of that iteration are
            # disconnected (their writes were never acknowledged)
            c.close()
            c = s.conn(timeout=30)
            continue
        n_err = 0
        for (k, v), r in zip(batch, replies):
            if r == "OK":
                acked[k] = v
            else:
                assert_true(is_error(r), r)
                errors.append(str(r))
                n_err += 1
        if n_err == len(batch) and len(errors) >= 200:
            break
    c.close()
    assert_true(errors, "the disk never filled up")
    return errors


def write_refused(s):
    """A SET is refused: an error reply, or (a retried backlog append that
    failed again) the connection closed without one."""
    c = s.conn()
    try:
        return is_error(c.call("SET", "refused", "1"))
    except (ConnectionError, OSError, ProtocolError):
        return True
    finally:
        c.close()


def check_all(s, acked):
    c = s.conn(timeout=60)
    keys = list(acked)
    for base in range(0, len(keys), 500):
        part = keys[base:base + 500]
        got = c.pipeline([("GET", k) for k in part])
        for k, g in zip(part, got):
            if g != acked[k]:
                raise AssertionError("acknowledged write lost: %s (got %r)" % (k, None if g is None else len(g)))
    c.close()


def full_disk_scenario(fs, extra, expect_store, wal=False, data_file=False):
    data = os.path.join(fs.mnt, "data")
    conf = dict({"lmdb-map-size": "32mb", "backlog-segment-size": "1mb", "overlay-max-memory": "16mb",
                 "checkpoint-bytes": "4mb"}, **extra)
    with CairnServer(conf, dir=data) as s:
        acked = {}
        errors = fill(s, acked, "k", 1000)
        last = errors[-1]
        # the cause, named: the path and ENOSPC, never the map's ceiling
        assert_true(last.startswith("MISCONF Errors writing to "), last)
        assert_true(NOSPACE in last and data in last, last)
        assert_true("lmdb-max-map-size" not in " ".join(errors), errors[:3])
        if expect_store:
            assert_true("the store cannot write to LMDB" in last and "data.mdb" in last, last)
        if data_file and "Errors writing to the backlog" in last:
            # without writemap, LMDB's file and the backlog grow together:
            # the backlog may be the one that meets the full disk
            wal = True
        elif data_file:
            assert_true(last.startswith("MISCONF Errors writing to disk: the store cannot write to LMDB "
                                        "(mdb_txn_commit: %s/store/data.mdb: %s" % (data, NOSPACE)), last)
        if wal:
            assert_eq(last, "MISCONF Errors writing to the backlog on disk (%s/backlog: %s): writes are refused "
                            "until it works again. Check the server log." % (data, NOSPACE))
        c = s.conn()
        # reads keep working
        k0 = next(iter(acked))
        assert_eq(c.call("GET", k0), acked[k0])
        if wal:
            # The backlog's refusal lasts a second, then a write tries the
            # append again: a small one may fit in what the failed (cut
            # back) append left. test_faults.py checks INFO for this path.
            assert_true("backlog append of" in s.log_text() and NOSPACE in s.log_text())
        else:
            assert_true(write_refused(s))
            ip = info(c, "persistence")
            ic = info(c, "cairn")
            assert_eq(ip["rdb_last_bgsave_status"], "err")
            assert_eq(ic["store_drain_error"], "1")
            assert_true(int(ic["store_writes_refused"]) > 0, ic)
            assert_eq(ic["store_full"], "0")
            log = s.log_text()
            assert_true("# writing checkpoint layers into LMDB failed: " in log and NOSPACE in log and
                        "writes are refused with -MISCONF" in log, log[-3000:])
            if expect_store:
                assert_true("growing the LMDB map: cannot reserve" in log, log[-3000:])
            # the backlog does not grow while writes are refused
            wal1 = int(ip["wal_last_offset"])
            time.sleep(1.5)
            assert_true(write_refused(s))
            assert_eq(int(info(c, "persistence")["wal_last_offset"]), wal1)
        c.close()

        if expect_store:
            # growing the map by hand cannot work either, and says why
            c = s.conn()
            r = c.call("CONFIG", "SET", "lmdb-map-size", "128mb")
            assert_true(is_error(r) and r.startswith("ERR CONFIG SET failed (possibly related to argument "
                                                     "'lmdb-map-size') - cannot reserve") and NOSPACE in r, r)
            assert_eq(c.call("CONFIG", "GET", "lmdb-map-size"), [b"lmdb-map-size", b"33554432"])
            c.close()

        # space comes back: writes are accepted again by themselves
        fs.resize("256m")
        if expect_store:
            c = s.conn()
            assert_eq(c.call("CONFIG", "SET", "lmdb-map-size", "128mb"), "OK")
            assert_eq(info(c, "persistence")["lmdb_map_size"], str(128 << 20))
            c.close()

        def writes_again():
            cc = s.conn()
            try:
                return cc.call("SET", "after", "1") == "OK"
            except (ConnectionError, OSError, ProtocolError):
                return False
            finally:
                cc.close()
        wait_until(writes_again, timeout=20, msg=lambda: "writes never came back\n" + s.log_text()[-3000:])
        acked["after"] = b"1"
        c = s.conn()
        wait_until(lambda: info(c, "persistence")["rdb_last_bgsave_status"] == "ok" and
                   info(c, "persistence")["aof_last_write_status"] == "ok", timeout=20,
                   msg="INFO still reports the error")
        for i in range(200):
            v = os.urandom(1000)
            assert_eq(c.call("SET", "later%d" % i, v), "OK")
            acked["later%d" % i] = v
        c.close()
        check_all(s, acked)
        s.restart()
        check_all(s, acked)
        s.restart(kill=True)
        check_all(s, acked)


@test(timeout=400)
def disk_full_on_map_growth_refuses_writes_and_recovers():
    # small backlog retention: the disk fills when LMDB's map must grow
    # (lmdb-writemap yes reserves the map on disk)
    with_tmpfs("64m", lambda fs: full_disk_scenario(fs, {"backlog-retention-bytes": "1mb"}, True))


@test(timeout=400)
def disk_full_with_a_growing_backlog_refuses_writes_and_recovers():
    # the backlog keeps everything (default retention) and the map, reserved
    # at start, has room: the backlog's append meets the full disk
    with_tmpfs("64m", lambda fs: full_disk_scenario(fs, {"lmdb-map-size": "48mb"}, False, wal=True))


@test(timeout=400)
def disk_full_without_writemap_names_the_data_file():
    # lmdb-writemap no: LMDB writes its pages with pwrite at commit, where
    # ENOSPC comes from
    with_tmpfs("64m", lambda fs: full_disk_scenario(
        fs, {"lmdb-writemap": "no", "backlog-retention-bytes": "1mb", "lmdb-map-size": "1gb"}, False,
        data_file=True))



@test(timeout=200)
def no_preallocation_without_room_to_spare():
    """backlog-preallocate: the zero-filled next segment is written only
    while the filesystem keeps two segments and 16 MB free, so the zeros never
    take the room the backlog's own appends need; without it the segments are
    written by appending, with a log line naming the cause."""
    def scenario(fs):
        data = os.path.join(fs.mnt, "data")
        # 64 MB, 16 MB of it the LMDB map: 2 x 20 MB + 16 MB do not fit
        conf = {"lmdb-map-size": "16mb", "backlog-segment-size": "20mb", "overlay-max-memory": "16mb"}
        with CairnServer(conf, dir=data) as s:
            c = s.conn()
            for i in range(0, 6000, 100):
                assert_eq(c.pipeline([("SET", "n%d" % j, "x" * 300) for j in range(i, i + 100)]), ["OK"] * 100)
            wait_until(lambda: "cannot preallocate the next segment" in s.log_text(), timeout=20,
                       msg="no log line about the preallocation")
            line = [ln for ln in s.log_text().splitlines() if "cannot preallocate" in ln][0]
            assert_true(NOSPACE in line and "two segments and 16 MB free" in line, line)
            p = parse_info(c.call("INFO", "persistence"))
            assert_eq((p["wal_preallocated"], p["wal_spare_ready"]), ("0", "0"))
            assert_true(not os.path.exists(os.path.join(data, "backlog", "spare-segment.tmp")))
            assert_eq(c.call("SET", "after", "1"), "OK")
            c.close()
        fs.resize("256m")
        with CairnServer(conf, dir=data) as s:
            c = s.conn()
            assert_eq(c.call("DBSIZE"), 6001)
            for i in range(0, 30000, 100):
                c.pipeline([("SET", "m%d" % j, "x" * 300) for j in range(i, i + 100)])
            wait_until(lambda: parse_info(c.call("INFO", "persistence"))["wal_preallocated"] == "1", timeout=30,
                       msg="no preallocation once there is room")
            c.close()

    with_tmpfs("64m", scenario)


if __name__ == "__main__":
    run_tests()
