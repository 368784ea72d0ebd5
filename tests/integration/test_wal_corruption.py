"""Corruption in the backlog (the WAL) is never taken for a torn tail.

A torn tail (an incomplete last record, or zeros/garbage to the end of the
newest segment with no valid record after it) is cut at startup with a log
line. A bad record with a valid record after it is corruption: the server
refuses to start, naming the file, the file position and the offsets, unless
backlog-load-corrupt truncate. cairn-backlog verify reports corruption with
exit 1 and a torn tail as a note with exit 0. The same for a corrupt MANIFEST
and a compressed frame that fails its checksum. INFO counts what startup
found and cut (docs/DURABILITY.md, "Damage in the backlog").
"""
import glob
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

NO_CHECKPOINT = {"checkpoint-interval-ms": 86400000, "checkpoint-bytes": "1gb"}


def tool(*args):
    path = os.path.join(os.environ.get("CAIRN_BUILD_DIR", "build-test"), "cairn-backlog")
    r = subprocess.run([path] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return r.returncode, r.stdout.decode() + r.stderr.decode()


def active_segment(data_dir):
    segs = sorted(glob.glob(os.path.join(data_dir, "backlog", "*.seg")))
    assert segs, "no raw segment in %s" % data_dir
    return segs[-1]


def records(path):
    """(file position, payload length, offset) of each record of a raw segment."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 64
    while pos + 32 <= len(data):
        typ, ln, off = struct.unpack_from("<4sIQ", data, pos)
        if typ != b"CRC1" or pos + 32 + ln > len(data):
            break
        out.append((pos, ln, off))
        pos += 32 + ln
    return out, len(data)


def flip(path, pos, n=3):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(n)
        f.seek(pos)
        f.write(bytes(x ^ 0x5A for x in b))


def write_keys(s, prefix, n):
    c = s.conn()
    for i in range(n):  # one record per command: no pipelining
        assert_eq(c.call("SET", "%s%d" % (prefix, i), "value-%d" % i), "OK")
    c.close()


def start_refused(s):
    try:
        s.start()
    except StartFailure:
        s._stopped = True  # it exited on purpose
        assert_eq(s.proc.returncode, 1)
        log = s.log_text()
        assert_true(s.sanitizer_report() is None, log)
        return log
    raise AssertionError("the server started on a corrupt backlog")


@test(timeout=180)
def corrupt_record_with_valid_records_after_refuses_to_start():
    with CairnServer(NO_CHECKPOINT) as s:
        write_keys(s, "k", 300)
        s.kill9()
        seg = active_segment(s.dir)
        recs, size = records(seg)
        assert_true(len(recs) >= 300, "records: %d" % len(recs))
        pos, ln, off = recs[150]
        flip(seg, pos + 32 + ln // 2)  # three payload bytes: a checksum mismatch
        with open(seg, "rb") as f:
            before = f.read()

        rc, out = tool("verify", os.path.join(s.dir, "backlog"))
        assert_eq(rc, 1, out)
        assert_true("CORRUPT" in out and os.path.basename(seg) in out, out)
        assert_true("file position %d" % pos in out, out)
        assert_true("offsets %d..%d unreadable" % (off, off + ln - 1) in out, out)

        log = start_refused(s)
        assert_true("CORRUPT backlog" in log, log)
        assert_true(os.path.basename(seg) in log, log)
        assert_true("file position %d" % pos in log, log)
        assert_true("offsets %d..%d cannot be read" % (off, off + ln - 1) in log, log)
        assert_true("backlog-load-corrupt truncate" in log and "Refusing to start" in log, log)
        with open(seg, "rb") as f:
            assert_true(f.read() == before, "the refused start changed the segment")

        # the operator's way out: truncate at the corruption, loudly
        s.extra_config = dict(NO_CHECKPOINT, **{"backlog-load-corrupt": "truncate"})
        s.start()
        log = s.log_text()
        assert_true("LOST" in log and "backlog-load-corrupt truncate" in log, log)
        c = s.conn()
        for i in range(150):
            assert_eq(c.call("GET", "k%d" % i), ("value-%d" % i).encode())
        for i in (150, 151, 299):
            assert_eq(c.call("GET", "k%d" % i), None)
        i = info(c, "persistence")
        assert_eq(int(i["backlog_corruptions"]), 1)
        assert_eq(int(i["backlog_corrupt_bytes_cut"]), size - pos)
        assert_eq(int(i["backlog_torn_tail_bytes_cut"]), 0)
        assert_eq(os.path.getsize(seg), pos)
        assert_eq(c.call("SET", "after", "1"), "OK")
        c.close()
        s.restart(kill=True)
        assert_eq(s.conn().call("GET", "after"), b"1")
        rc, out = tool("verify", os.path.join(s.dir, "backlog"))
        assert_eq(rc, 0, out)


@test(timeout=180)
def corrupt_record_header_is_corruption_too():
    # the length field of a record in the middle: the walk cannot step over
    # it, the forward scan still finds the valid records after it
    with CairnServer(NO_CHECKPOINT) as s:
        write_keys(s, "h", 100)
        s.kill9()
        seg = active_segment(s.dir)
        recs, _ = records(seg)
        pos, ln, off = recs[40]
        flip(seg, pos + 4, 2)
        rc, out = tool("verify", os.path.join(s.dir, "backlog"))
        assert_eq(rc, 1, out)
        log = start_refused(s)
        assert_true("CORRUPT backlog" in log and "file position %d" % pos in log, log)


@test(timeout=120)
def torn_tail_is_cut_with_a_log_line():
    with CairnServer(NO_CHECKPOINT) as s:
        write_keys(s, "t", 100)
        s.kill9()
        seg = active_segment(s.dir)
        recs, size = records(seg)
        assert_eq(size, recs[-1][0] + 32 + recs[-1][1])
        with open(seg, "ab") as f:
            f.write(b"\0" * 4096 + os.urandom(333))
        rc, out = tool("verify", os.path.join(s.dir, "backlog"))
        assert_eq(rc, 0, out)
        assert_true("note:" in out and "torn tail of 4429 bytes" in out and out.startswith("note:"), out)
        s.start()
        log = s.log_text()
        assert_true(re.search(r"cut 4429 bytes at file position %d .*\(torn tail\)" % size, log), log)
        assert_true("CORRUPT" not in log, log)
        c = s.conn()
        for i in range(100):
            assert_eq(c.call("GET", "t%d" % i), ("value-%d" % i).encode())
        i = info(c, "persistence")
        assert_eq(int(i["backlog_torn_tail_bytes_cut"]), 4429)
        assert_eq(int(i["backlog_corruptions"]), 0)
        c.close()
        s.stop()
        # a torn last record (its payload cut short) is a torn tail as well
        recs, size = records(seg)
        with open(seg, "r+b") as f:
            f.truncate(size - 5)
        rc, out = tool("verify", os.path.join(s.dir, "backlog"))
        assert_eq(rc, 0, out)
        assert_true("torn tail" in out, out)
        s.start()
        assert_true("(torn tail)" in s.log_text(), s.log_text())


@test(timeout=120)
def corrupt_manifest_refuses_to_start():
    with CairnServer() as s:
        write_keys(s, "m", 50)
        s.stop()
        mf = os.path.join(s.dir, "backlog", "MANIFEST")
        flip(mf, 30, 1)
        rc, out = tool("verify", os.path.join(s.dir, "backlog"))
        assert_eq(rc, 1, out)
        assert_true("MANIFEST" in out and "corrupt manifest" in out, out)
        log = start_refused(s)
        assert_true("CORRUPT backlog manifest" in log and mf in log, log)
        # an empty MANIFEST is not an empty backlog either
        open(mf, "wb").close()
        log = start_refused(s)
        assert_true("CORRUPT backlog manifest" in log, log)
        s.extra_config = {"backlog-load-corrupt": "truncate"}
        s.start()
        assert_true("rebuilding it from the segment files" in s.log_text(), s.log_text())
        c = s.conn()
        for i in range(50):
            assert_eq(c.call("GET", "m%d" % i), ("value-%d" % i).encode())
        assert_eq(int(info(c, "persistence")["backlog_corruptions"]), 1)
        c.close()
        s.stop()
        rc, out = tool("verify", os.path.join(s.dir, "backlog"))
        assert_eq(rc, 0, out)


@test(timeout=240)
def corrupt_compressed_frame_is_never_an_end():
    conf = dict(NO_CHECKPOINT, **{"backlog-segment-size": "1mb"})
    with CairnServer(conf) as s:
        c = s.conn()
        for base in range(0, 12000, 500):
            for r in c.pipeline([["SET", "z%d" % i, "v%d-" % i + "y" * 200] for i in range(base, base + 500)]):
                assert_eq(r, "OK")

        def compressed():
            i = info(c, "persistence")
            return int(i["wal_pending_seals"]) == 0 and int(i["wal_compressed_segments"]) >= 1
        wait_until(compressed, timeout=60, msg="a sealed segment compressed")
        c.close()
        s.kill9()  # no checkpoint yet: recovery must read the compressed segment
        zsegs = sorted(glob.glob(os.path.join(s.dir, "backlog", "*.zseg")))
        assert_true(zsegs, "no compressed segment")
        flip(zsegs[0], 64 + 1000, 4)  # inside the first frame's compressed bytes
        rc, out = tool("verify", os.path.join(s.dir, "backlog"))
        assert_eq(rc, 1, out)
        assert_true(os.path.basename(zsegs[0]) in out and "file position 64" in out, out)
        log = start_refused(s)
        assert_true(os.path.basename(zsegs[0]) in log and "not served" in log, log)
        assert_true("recovery failed" in log, log)


if __name__ == "__main__":
    run_tests()
