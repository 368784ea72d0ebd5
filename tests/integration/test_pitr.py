"""Point-in-time restore with cairn-backlog: checkpoint, restore, dump by
time, export-aof.

Known values are written before and after each cut; the restored directory
is started with cairn-server and must hold exactly the data at the cut. A
cut inside MULTI/EXEC or inside a command is rounded down; a checkpoint
taken while writes go on restores consistently; an export loads in a real
redis-server 7.0 with the same data as cairn; bad inputs fail with one
clear line and a non-zero exit.
"""
import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from generic_data import contents  # noqa: E402

# Checkpoints reach LMDB quickly (so a checkpoint holds data, and the backlog
# after it is what a restore replays); small segments roll and compress.
FAST = {"checkpoint-interval-ms": "50", "overlay-merge-bytes": "0", "backlog-segment-size": "1mb"}


tool = backlog_tool


@contextlib.contextmanager
def pitr_server(extra=None):
    """A cairn-server with fast checkpoints, its connection and a scratch directory."""
    tmp = tempfile.mkdtemp()
    try:
        with CairnServer(dict(FAST, **(extra or {}))) as s:
            yield s, s.conn(), tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def refused(args, *words):
    """The tool fails with one line on stderr holding every word."""
    r = tool(*args)
    err = r.stderr.decode().strip()
    assert_true(r.returncode != 0, ("should fail", args, r.stdout))
    assert_true(len(err.splitlines()) == 1, (args, err))
    for w in words:
        assert_true(w in err, (args, w, err))
    return err


def offset(c):
    return int(info(c, "replication")["master_repl_offset"])


def checkpoint(server, out):
    r = tool("checkpoint", server.dir, out, check=0)
    m = re.search(r"stream offset (\d+)", r.stdout.decode())
    assert_true(m, r.stdout)
    ck = int(m.group(1))
    with open(os.path.join(out, "CHECKPOINT")) as f:
        assert_true("offset %d\n" % ck in f.read())
    return ck


def wait_ckpt_past(c, off, timeout=20):
    """LMDB holds offset off (a checkpoint then covers it)."""
    wait_until(lambda: int(info(c, "cairn")["store_offset_on_disk"]) >= off, timeout=timeout,
               msg="LMDB reaches offset %d" % off)


def checkpoint_now(s, c, tmp):
    """Once LMDB holds everything written so far: a checkpoint in tmp/ck, and its offset."""
    wait_ckpt_past(c, offset(c))
    ck = os.path.join(tmp, "ck")
    return ck, checkpoint(s, ck)


def restore(tmp, ck_dir, server, name, *cut):
    out = os.path.join(tmp, name)
    r = tool("restore", "--checkpoint", ck_dir, "--backlog", os.path.join(server.dir, "backlog"), *cut,
             "--out", out, check=0)
    return out, r.stdout.decode()


def cut_of(text):
    return int(re.search(r"cut at offset (\d+)", text).group(1))


def write_keys(c, prefix, n, value):
    cmds = [["SET", "%s:%d" % (prefix, i), value] for i in range(n)]
    for r in c.pipeline(cmds):
        assert_eq(r, "OK")


def dump_lines(bdir, *args):
    r = tool("dump", bdir, *args, check=0)
    return [l for l in r.stdout.decode().splitlines() if l]


@test(timeout=300)
def restore_to_an_offset_holds_exactly_the_data_there():
    with pitr_server() as (s, c, tmp):
        write_keys(c, "a", 200, "v1")
        c.call("HSET", "h", "f1", "1")
        ck, ck_off = checkpoint_now(s, c, tmp)
        assert_true(ck_off >= 1, ck_off)
        # after the checkpoint, before the cut
        write_keys(c, "b", 100, "v2")
        c.call("SELECT", 3)
        c.call("SET", "in3", "x")
        c.call("SELECT", 0)
        c.call("DEL", "a:0")
        c.call("HSET", "h", "f2", "2")
        c.call("SET", "ttl", "t", "EX", 1000)
        cut = offset(c)
        # after the cut
        write_keys(c, "a", 200, "v3")
        write_keys(c, "c", 50, "v4")
        c.call("DEL", "b:1")
        c.call("SELECT", 3)
        c.call("DEL", "in3")
        c.call("SELECT", 0)
        c.call("FLUSHDB")
        out, text = restore(tmp, ck, s, "new", "--to-offset", cut)
        assert_eq(cut_of(text), cut, text)
        assert_true("note:" not in text, text)
        with CairnServer(dir=out) as r:
            rc = r.conn()
            assert_eq(rc.call("DBSIZE"), 200 - 1 + 100 + 2)
            assert_eq(rc.call("GET", "a:0"), None)
            assert_eq(rc.call("GET", "a:1"), b"v1")
            assert_eq(rc.call("GET", "a:199"), b"v1")
            assert_eq(rc.call("GET", "b:1"), b"v2")
            assert_eq(rc.call("GET", "c:0"), None)
            assert_eq(sorted(rc.call("HGETALL", "h")), sorted([b"f1", b"1", b"f2", b"2"]))
            assert_true(900 < rc.call("TTL", "ttl") <= 1000)
            rc.call("SELECT", 3)
            assert_eq(rc.call("GET", "in3"), b"x")
            rep = info(rc, "replication")
            assert_eq(int(rep["master_repl_offset"]), cut)
            # a new history that shares the old one up to the cut
            assert_eq(rep["master_replid2"], info(c, "replication")["master_replid"])
            assert_eq(int(rep["second_repl_offset"]), cut + 1)
            # it takes writes and survives a restart on its own
            rc.call("SELECT", 0)
            rc.call("SET", "after", "restore")
            r.restart(kill=True)
            assert_eq(r.conn().call("GET", "after"), b"restore")
            assert_eq(r.conn().call("GET", "a:5"), b"v1")
        # the cut at the checkpoint itself: the checkpoint's data alone
        out, text = restore(tmp, ck, s, "at-ck", "--to-offset", ck_off)
        assert_eq(cut_of(text), ck_off)
        with CairnServer(dir=out) as r:
            rc = r.conn()
            assert_eq(rc.call("DBSIZE"), 201)
            assert_eq(rc.call("GET", "b:0"), None)
            assert_eq(rc.call("GET", "a:0"), b"v1")


@test(timeout=300)
def a_cut_inside_multi_exec_or_a_command_is_rounded_down():
    with pitr_server() as (s, c, tmp):
        c.call("SET", "before", "1")
        ck, _ = checkpoint_now(s, c, tmp)
        c.call("SET", "k1", "one")
        before_multi = offset(c)
        assert_eq(c.call("MULTI"), "OK")
        c.call("SET", "t1", "x")
        c.call("INCR", "t2")
        c.call("SET", "t3", "y" * 100)
        assert_eq(c.call("EXEC"), ["OK", 1, "OK"])
        after_multi = offset(c)
        c.call("SET", "k2", "two")
        after_k2 = offset(c)
        lines = dump_lines(os.path.join(s.dir, "backlog"), "--from", before_multi + 1)
        assert_true(lines[0].endswith('"MULTI"'), lines)
        inner = [l for l in lines if '"INCR"' in l][0]
        inner_off = int(inner.split(" ")[0])
        # a cut anywhere inside the transaction: before its MULTI
        for n in (before_multi + 1, inner_off + 3, after_multi - 1):
            out, text = restore(tmp, ck, s, "m%d" % n, "--to-offset", n)
            assert_eq(cut_of(text), before_multi, text)
            assert_true("MULTI/EXEC that starts at offset %d" % (before_multi + 1) in text, text)
            with CairnServer(dir=out) as r:
                rc = r.conn()
                assert_eq(rc.call("GET", "k1"), b"one")
                assert_eq([rc.call("EXISTS", k) for k in ("t1", "t2", "t3")], [0, 0, 0])
        # its end: the whole transaction
        out, text = restore(tmp, ck, s, "whole", "--to-offset", after_multi)
        assert_eq(cut_of(text), after_multi, text)
        with CairnServer(dir=out) as r:
            rc = r.conn()
            assert_eq([rc.call("GET", k) for k in ("t1", "t2", "t3")], [b"x", b"1", b"y" * 100])
            assert_eq(rc.call("GET", "k2"), None)
        # inside a command: before it
        out, text = restore(tmp, ck, s, "mid", "--to-offset", after_k2 - 3)
        assert_eq(cut_of(text), after_multi, text)
        assert_true("falls inside the command at offsets %d..%d" % (after_multi + 1, after_k2) in text, text)
        with CairnServer(dir=out) as r:
            assert_eq(r.conn().call("GET", "k2"), None)


def utc_text(sec):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec))


@test(timeout=300)
def restore_and_dump_by_time():
    with pitr_server() as (s, c, tmp):
        c.call("SET", "base", "1")
        ck, _ = checkpoint_now(s, c, tmp)
        time.sleep(0.05)
        write_keys(c, "early", 50, "e")
        # T: a whole second after every early write, before every late one
        sec = int(time.time()) + 1
        time.sleep(max(0, sec + 0.3 - time.time()))
        write_keys(c, "late", 50, "l")
        t_ms = sec * 1000
        for spec in (utc_text(sec), str(t_ms)):
            out, text = restore(tmp, ck, s, "t%d" % len(spec), "--to-time", spec)
            assert_true("note:" not in text, text)
            with CairnServer(dir=out) as r:
                rc = r.conn()
                assert_eq(rc.call("EXISTS", *["early:%d" % i for i in range(50)]), 50)
                assert_eq(rc.call("EXISTS", *["late:%d" % i for i in range(50)]), 0)
                assert_eq(rc.call("GET", "base"), b"1")
        # the restored backlog keeps the original times: dumping it by time agrees
        bdir = os.path.join(s.dir, "backlog")
        early = [l for l in dump_lines(bdir, "--to-time", t_ms) if '"SET"' in l]
        late = [l for l in dump_lines(bdir, "--from-time", t_ms) if '"SET"' in l]
        assert_eq(len([l for l in early if "early:" in l]), 50)
        assert_eq([l for l in early if "late:" in l], [])
        assert_eq(len(late), 50)
        assert_true(all('"late:' in l for l in late), late[:3])
        new = os.path.join(tmp, "t%d" % len(str(t_ms)), "backlog")
        assert_eq(len([l for l in dump_lines(new, "--to-time", t_ms) if '"SET"' in l]), 50)
        # relative: an hour ago is before the checkpoint
        refused(["restore", "--checkpoint", ck, "--backlog", bdir, "--to-time", "-1h", "--out",
                 os.path.join(tmp, "rel")], "before the checkpoint")
        assert_true(not os.path.exists(os.path.join(tmp, "rel")))
        # relative: now holds everything
        out, text = restore(tmp, ck, s, "now", "--to-time", "-0s")
        assert_eq(cut_of(text), offset(c))


@test(timeout=400)
def a_cut_by_time_in_compressed_segments_is_rounded_down_to_a_frame():
    """Segments of 4 MiB, compressed: each 1 MiB frame keeps its time.
    Batches are written with their times noted; a cut between two batches in
    the middle of a compressed segment holds a prefix of the writes,
    everything written by T except at most one frame's worth (a time per
    segment would lose up to 4 MiB here), and nothing written after T."""
    with pitr_server({"backlog-segment-size": "4mb"}) as (s, c, tmp):
        c.call("SET", "base", "1")
        ck, _ = checkpoint_now(s, c, tmp)
        value = "x" * 400
        times = []                       # (batch, ms before, ms after)
        for b in range(60):              # 60 x 200 x 440 bytes: ~5.3 MB
            t0 = int(time.time() * 1000)
            write_keys(c, "b%d" % b, 200, value)
            times.append((b, t0, int(time.time() * 1000)))
            time.sleep(0.01)
        write_keys(c, "tail", 12000, value)  # the segments above seal and compress
        wait_until(lambda: int(info(c, "persistence")["wal_compressed_segments"]) >= 1
                   and int(info(c, "persistence")["wal_pending_seals"]) == 0, timeout=60,
                   msg="segments compressed")
        ls = tool("ls", os.path.join(s.dir, "backlog"), check=0).stdout.decode()
        assert_true("compressed" in ls, ls)
        k = 30                           # ~2.6 MB in: inside the first 4 MiB segment
        t_ms = (times[k][2] + times[k + 1][1]) // 2
        out, text = restore(tmp, ck, s, "frame", "--to-time", t_ms)
        with CairnServer(dir=out) as r:
            rc = r.conn()
            have = [rc.call("EXISTS", *["b%d:%d" % (b, i) for i in range(200)]) for b in range(60)]
        # nothing written after T
        assert_true(all(h == 0 for h in have[k + 1:]), have)
        # a prefix of the writes
        full = [h == 200 for h in have]
        first_short = full.index(False) if False in full else 60
        assert_true(all(h == 0 for h in have[first_short + 1:]), have)
        # at most one 1 MiB frame of the stream missing before T
        missing = sum(200 - h for h in have[:k + 1])
        assert_true(missing * 440 <= (1 << 20) + 100000, (missing, have))
        # the cut was decided by a frame's time, and said so
        assert_true("compressed frame" in text, text)
        print("frame cut: %d writes of batches 0..%d left out; %s" % (missing, k, text.strip().replace("\n", " | ")))


@test(timeout=300)
def a_checkpoint_taken_while_writes_go_on_restores_consistently():
    """Writers run transactions that keep a == b and a log list whose length
    equals a; the checkpoint is taken in the middle. Restored at the
    checkpoint's own offset and at the end, the invariants hold, and at the
    end the data equals the live server's."""
    with pitr_server() as (s, c, tmp):
        stop = threading.Event()
        errors = []

        def writer(n):
            try:
                w = s.conn()
                i = 0
                while not stop.is_set():
                    w.pipeline([["MULTI"], ["INCR", "a"], ["INCR", "b"], ["RPUSH", "log", "%d-%d" % (n, i)],
                                ["EXEC"]])
                    w.call("SET", "w%d:%d" % (n, i), "v" * 50)
                    i += 1
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            ck = os.path.join(tmp, "ck")
            ck_off = checkpoint(s, ck)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert_eq(errors, [])
        c = s.conn()
        end = offset(c)
        assert_true(end > ck_off)

        def consistent(rc):
            a, b, n = rc.call("GET", "a"), rc.call("GET", "b"), rc.call("LLEN", "log")
            assert_eq(a, b)
            assert_eq(int(a or 0), n)
            return n

        for cut in (ck_off, end):
            out, text = restore(tmp, ck, s, "c%d" % cut, "--to-offset", cut)
            assert_eq(cut_of(text), cut, text)
            with CairnServer(dir=out) as r:
                rc = r.conn()
                n = consistent(rc)
                if cut == end:
                    assert_eq(n, c.call("LLEN", "log"))
                    assert_eq(rc.call("DBSIZE"), c.call("DBSIZE"))
                    assert_eq(rc.call("LRANGE", "log", 0, -1), c.call("LRANGE", "log", 0, -1))
                else:
                    assert_true(0 < n < c.call("LLEN", "log"), n)


def snapshot(conn, dbs=(0, 2)):
    """Every key of the dbs: (type, value read member by member, TTL in seconds)."""
    out = {}
    for db in dbs:
        conn.call("SELECT", db)
        for k in conn.call("KEYS", "*"):
            t, v = contents(conn, k)
            if t == "stream":
                v = (conn.call("XRANGE", k, "-", "+"), [g[1] for g in conn.call("XINFO", "GROUPS", k)])
            out[(db, k)] = (t, v, conn.call("TTL", k))
    conn.call("SELECT", 0)
    return out


def assert_same_data(got, want):
    assert_eq(sorted(got.keys()), sorted(want.keys()))
    for k in want:
        assert_eq(got[k][:2], want[k][:2], k)
        g, w = got[k][2], want[k][2]
        assert_true((g < 0) == (w < 0) and abs(g - w) <= 5, (k, "TTL", g, w))


def fill(c, tag):
    c.call("SET", "s:" + tag, "v" + tag)
    c.call("SET", "n:" + tag, 12345)
    c.call("HSET", "h:" + tag, "f1", "1", "f2", "x" * 100)
    c.call("RPUSH", "l:" + tag, "a", "b", "c", 7)
    c.call("SADD", "set:" + tag, "m1", "m2", 3)
    c.call("ZADD", "z:" + tag, 1.5, "a", -2, "b", 3, "c")
    c.call("XADD", "x:" + tag, "1-1", "f", "v")
    c.call("XADD", "x:" + tag, "*", "g", "w")
    c.call("XGROUP", "CREATE", "x:" + tag, "grp", "0")
    c.call("SET", "ttl:" + tag, "t", "EX", 5000)
    c.call("HSET", "httl:" + tag, "f", "v")
    c.call("EXPIRE", "httl:" + tag, 9000)
    c.call("SELECT", 2)
    c.call("SET", "db2:" + tag, "two")
    c.call("SELECT", 0)


LIB = "#!lua name=%s\nredis.register_function('%s_f', function(keys, args) return 1 end)"


def load_in_redis(aof_dir):
    parent, name = os.path.split(aof_dir.rstrip("/"))
    return RedisServer({"appendonly": "yes", "appenddirname": name, "dir": parent})


@test(timeout=300)
def export_aof_loads_in_redis_with_the_same_data():
    with pitr_server() as (s, c, tmp):
        fill(c, "base")
        c.call("SET", "gone", "1")
        assert_eq(c.call("FUNCTION", "LOAD", LIB % ("libbase", "libbase")), b"libbase")
        ck, _ = checkpoint_now(s, c, tmp)
        # after the checkpoint: the incr file
        fill(c, "incr")
        assert_eq(c.call("FUNCTION", "LOAD", LIB % ("libincr", "libincr")), b"libincr")
        c.call("DEL", "gone")
        c.call("HSET", "h:base", "f3", "3")
        c.call("LPOP", "l:base")
        c.call("ZINCRBY", "z:base", 10, "a")
        c.call("XADD", "x:base", "*", "more", "1")
        c.call("PUBLISH", "chan", "not data")
        c.call("MULTI")
        c.call("INCR", "ctr")
        c.call("SELECT", 2)
        c.call("INCR", "ctr2")
        c.call("EXEC")
        c.call("SELECT", 0)
        c.call("PEXPIRE", "s:base", 7000000)
        cut = offset(c)
        c.call("SET", "after", "cut")
        want_cut = snapshot(c)
        want_cut.pop((0, b"after"))
        # from a checkpoint, to an offset
        aof = os.path.join(tmp, "aof1")
        r = tool("export-aof", "--checkpoint", ck, "--backlog", os.path.join(s.dir, "backlog"), "--out", aof,
                 "--to-offset", cut, check=0)
        text = r.stdout.decode()
        assert_true("cut at offset %d" % cut in text, text)
        with open(os.path.join(aof, "appendonly.aof.manifest")) as f:
            assert_eq(f.read(), "file appendonly.aof.1.base.rdb seq 1 type b\n"
                                "file appendonly.aof.1.incr.aof seq 1 type i\n")
        with open(os.path.join(aof, "appendonly.aof.1.incr.aof"), "rb") as f:
            incr = f.read()
        for word in (b"PING", b"REPLCONF", b"PUBLISH", b"ping", b"publish"):
            assert_true(word not in incr, word)
        assert_true(incr.startswith(b"*2\r\n$6\r\nSELECT\r\n"), incr[:40])
        with load_in_redis(aof) as red:
            rc = red.conn()
            assert_same_data(snapshot(rc), want_cut)
            # the libraries: one from the base's RDB, one loaded by the incr file
            assert_eq(rc.call("FCALL", "libbase_f", 0), 1)
            assert_eq(rc.call("FCALL", "libincr_f", 0), 1)
            assert_true("DB loaded from incr file" in red.log_text(), red.log_text()[-2000:])
        # from the running server's directory, everything
        aof = os.path.join(tmp, "aof2")
        tool("export-aof", s.dir, "--out", aof, check=0)
        assert_eq(sorted(os.listdir(aof)), ["appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof",
                                            "appendonly.aof.manifest"])
        with load_in_redis(aof) as red:
            assert_same_data(snapshot(red.conn()), snapshot(c))


@test(timeout=300)
def bad_inputs_fail_with_a_clear_message():
    with pitr_server() as (s, c, tmp):
        write_keys(c, "k", 100, "v")
        bdir = os.path.join(s.dir, "backlog")
        ck, ck_off = checkpoint_now(s, c, tmp)
        write_keys(c, "m", 100, "v")
        end = offset(c)
        out = os.path.join(tmp, "out")
        base = ["restore", "--checkpoint", ck, "--backlog", bdir]
        refused(base + ["--to-offset", end + 1000, "--out", out], "outside the backlog")
        refused(base + ["--to-offset", ck_off - 1, "--out", out], "before the checkpoint")
        refused(base + ["--to-time", "yesterday", "--out", out], "not a time")
        refused(base + ["--to-time", "2024-13-01 00:00:00", "--out", out], "not a time")
        refused(base + ["--to-offset", end, "--to-time", "-1s", "--out", out], "exclude each other")
        refused(base + ["--out", out], "--to-offset N or --to-time T")
        refused(["restore", "--checkpoint", tmp, "--backlog", bdir, "--to-offset", end, "--out", out],
                "CHECKPOINT")
        assert_true(not os.path.exists(out), "nothing created on a refusal")
        os.makedirs(out)
        with open(os.path.join(out, "junk"), "w") as f:
            f.write("x")
        refused(base + ["--to-offset", end, "--out", out], "not empty")
        refused(["checkpoint", s.dir, out], "not empty")
        refused(["checkpoint", tmp, os.path.join(tmp, "ck2")], "data.mdb", "cairn data directory")
        refused(["export-aof", s.dir, "--out", out], "not empty")
        refused(["export-aof", "--checkpoint", ck, "--out", os.path.join(tmp, "x")], "--backlog")
        # a backlog that no longer holds the checkpoint's offset + 1: segments
        # sealed, LMDB far ahead, the old ones trimmed
        write_keys(c, "big", 12000, "x" * 300)
        final = offset(c)
        wait_ckpt_past(c, final)
        # the manifest's copy of the checkpoint pin moves within about 10 s;
        # trim (while the server runs) refuses until then
        def trimmed():
            out = tool("trim", bdir, "--before", final, "--force").stdout
            return out.startswith(b"dropped") and b"dropped 0" not in out
        wait_until(trimmed, timeout=40, interval=1, msg="trim drops the segments before the checkpoint pin")
        refused(base + ["--to-offset", end, "--out", os.path.join(tmp, "o2")], "no longer holds offset %d"
                % (ck_off + 1), "newer checkpoint")


def first_offset(c):
    return int(info(c, "replication")["repl_backlog_first_byte_offset"])


def write_random(c, prefix, mb):
    """About mb MB of stream that does not compress (retention counts bytes on disk)."""
    for base in range(0, mb * 1000, 250):
        write_keys_values(c, [("%s:%d" % (prefix, i), os.urandom(500).hex()) for i in range(base, base + 250)])


def write_keys_values(c, pairs):
    for r in c.pipeline([["SET", k, v] for k, v in pairs]):
        assert_eq(r, "OK")


@test(timeout=300)
def a_pinned_checkpoint_keeps_its_backlog_until_unpinned():
    """checkpoint --pin NAME: the server adopts the pin ckpt:NAME from the
    manifest and retention keeps the stream from the checkpoint on, across a
    restart, until cairn-backlog unpin; then retention drops it and a restore
    from that checkpoint is refused. The server's own pins cannot be unpinned."""
    with pitr_server({"backlog-retention-bytes": "1mb"}) as (s, c, tmp):
        bdir = os.path.join(s.dir, "backlog")
        write_keys(c, "a", 100, "v1")
        wait_ckpt_past(c, offset(c))
        ck = os.path.join(tmp, "ck")
        r = tool("checkpoint", s.dir, ck, "--pin", "nightly", check=0)
        out = r.stdout.decode()
        ck_off = int(re.search(r"stream offset (\d+)", out).group(1))
        assert_true("pinned ckpt:nightly at offset %d" % (ck_off + 1) in out, out)
        assert_true("ckpt:nightly" in tool("ls", bdir).stdout.decode())
        write_random(c, "r", 4)
        wait_ckpt_past(c, offset(c))
        # retention ran (the checkpoint pin moved on with LMDB), the operator's pin held
        time.sleep(2)
        assert_true(first_offset(c) <= ck_off + 1, (first_offset(c), ck_off))
        s.restart(kill=True)
        c = s.conn()
        assert_true("ckpt:nightly" in tool("ls", bdir).stdout.decode(), "the pin did not survive a restart")
        write_random(c, "q", 3)
        cut = offset(c)
        wait_ckpt_past(c, cut)
        time.sleep(2)
        assert_true(first_offset(c) <= ck_off + 1, (first_offset(c), ck_off))
        restored, text = restore(tmp, ck, s, "new", "--to-offset", cut)
        assert_eq(cut_of(text), cut, text)
        with CairnServer(dir=restored) as rs:
            rc = rs.conn()
            assert_eq(rc.call("GET", "a:99"), b"v1")
            assert_eq(rc.call("GET", "q:2999"), c.call("GET", "q:2999"))
        # the server's pins are not the operator's
        refused(("unpin", bdir, "checkpoint"), "server's own recovery point")
        refused(("unpin", bdir, "slot:10.0.0.1:6379"), "is the server's")
        refused(("unpin", bdir, "weekly"), "has no pin ckpt:weekly")
        refused(("checkpoint", s.dir, os.path.join(tmp, "ck2"), "--pin", "bad name"), "is not a pin name")
        out = tool("unpin", bdir, "nightly").stdout.decode()
        assert_true("unpinned ckpt:nightly" in out, out)
        write_random(c, "p", 2)
        wait_until(lambda: first_offset(c) > ck_off + 1, timeout=30,
                   msg=lambda: "retention kept offset %d after unpin" % first_offset(c))
        assert_true("ckpt:nightly" not in tool("ls", bdir).stdout.decode())
        refused(("restore", "--checkpoint", ck, "--backlog", bdir, "--to-offset", str(offset(c)), "--out",
                 os.path.join(tmp, "new2")), "no longer holds offset")


if __name__ == "__main__":
    run_tests()
