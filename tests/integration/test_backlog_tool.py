"""cairn-backlog against a backlog written by a running cairn-server.

Small segments (backlog-segment-size 1mb) so segments roll, seal and get
compressed; then ls, verify, dump (the SETs we sent), compact while the server
keeps writing (the stream must read the same byte for byte afterwards), trim
refusing what the checkpoint pin needs, and bad inputs.
"""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403


tool_path = backlog_tool_path
tool = backlog_tool


def add_pin(path, name, offset):
    """Adds a pin line to a MANIFEST, with a correct checksum."""
    with open(path, "rb") as f:
        text = f.read()
    body = text[:text.rindex(b"crc32c ")] + b"pin %s %d 0\n" % (name.encode(), offset)
    with open(path, "wb") as f:
        f.write(body + b"crc32c %08x\n" % crc32c(body))


def write_sets(c, prefix, n, size=200):
    for base in range(0, n, 500):
        cmds = [["SET", "%s:%d" % (prefix, i), ("v%d-" % i) + "x" * size] for i in range(base, min(n, base + 500))]
        for r in c.pipeline(cmds):
            assert_eq(r, "OK")


def wait_compressed(c, min_segments=2):
    def done():
        i = info(c, "persistence")
        return int(i["wal_pending_seals"]) == 0 and int(i["wal_compressed_segments"]) >= min_segments and i
    return wait_until(done, timeout=60, msg="sealed segments compressed")


@test(timeout=300)
def tool_against_running_server():
    with CairnServer({"backlog-segment-size": "1mb", "durability": "relaxed"}) as s:
        bdir = os.path.join(s.dir, "backlog")
        c = s.conn()
        write_sets(c, "key", 20000)                       # ~5 MB of stream
        c.call("SET", "quote me", 'a "b"\n\\c\x01')
        st = wait_compressed(c, 3)
        assert_true(float(st["wal_compression_ratio"]) > 2, st)

        r = tool("ls", bdir, check=0)
        out = r.stdout.decode()
        assert_true("compressed" in out and "active" in out and "checkpoint" in out, out)

        r = tool("verify", bdir, check=0)
        assert_true(r.stdout.startswith(b"ok:"), r.stdout)

        end0 = int(info(c, "persistence")["wal_last_offset"])
        r = tool("dump", bdir, "--from", 1, "--to", end0, check=0)
        lines = r.stdout.decode().splitlines()
        sets = [l for l in lines if '"SET"' in l]
        assert_eq(len(sets), 20001)
        first = sets[0].split(" ", 2)
        assert_true(first[0].isdigit() and first[1] == "[0]", sets[0])
        assert_eq(first[2], '"SET" "key:0" "v0-%s"' % ("x" * 200))
        assert_true(any(l.endswith('"SET" "quote me" "a \\"b\\"\\n\\\\c\\x01"') for l in sets), sets[-1])
        # --from in the middle of a command starts at the next one
        mid = int(sets[100].split(" ")[0])
        r = tool("dump", bdir, "--from", mid + 1, "--to", end0, check=0)
        assert_eq(r.stdout.decode().splitlines()[0], sets[101])

        before = tool("dump", bdir, "--from", 1, "--to", end0, "--raw", check=0).stdout
        assert_eq(len(before), end0)

        # compact while the server keeps writing
        stop = threading.Event()
        errors = []

        def writer():
            try:
                w = s.conn()
                k = 0
                while not stop.is_set():
                    write_sets(w, "more%d" % k, 500)
                    k += 1
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        try:
            r = tool("compact", bdir, "--level", 19, "--long", "--target-size", "4mb", check=0)
            assert_true(b"compacted into" in r.stdout, r.stdout)
        finally:
            stop.set()
            t.join()
        assert_eq(errors, [])
        wait_until(lambda: "adopted" in s.log_text(), timeout=10, msg="server adopts the new manifest")
        r = tool("ls", bdir, check=0)
        assert_true("compacted" in r.stdout.decode(), r.stdout.decode())
        tool("verify", bdir, check=0)
        after = tool("dump", bdir, "--from", 1, "--to", end0, "--raw", check=0).stdout
        assert_true(after == before, "the stream differs after compaction")
        end1 = int(info(c, "persistence")["wal_last_offset"])
        assert_true(end1 > end0)
        whole = tool("dump", bdir, "--from", 1, "--to", end1, "--raw", check=0).stdout
        assert_eq(len(whole), end1)
        assert_true(whole.startswith(before))

        # the server still serves and recovers from the compacted backlog
        assert_eq(c.call("GET", "key:19999"), ("v19999-" + "x" * 200).encode())
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("GET", "key:5"), ("v5-" + "x" * 200).encode())
        assert_eq(c.call("GET", "quote me"), b'a "b"\n\\c\x01')

        # trim: a replica's pin in the manifest (the replication work will
        # write these; here one is added by hand) stops it without --force.
        # (The checkpoint pin, never overridden, is in the active segment of a
        # server that checkpoints every 50 ms; unit tests cover that case.)
        s.stop()
        add_pin(os.path.join(bdir, "MANIFEST"), "replica-1", 1000)
        r = tool("trim", bdir, "--before", end1)
        assert_true(r.returncode != 0, r)
        assert_true(b"replica-1" in r.stderr and b"--force" in r.stderr, r.stderr)
        assert_eq(len(r.stderr.decode().strip().splitlines()), 1)
        assert_true(b"dropped" not in r.stdout, r.stdout)
        r = tool("trim", bdir, "--before", end1, "--force")
        assert_true(r.stdout.startswith(b"dropped") and b"dropped 0" not in r.stdout, (r.stdout, r.stderr))
        # what is left still covers the checkpoint (the restart below replays from it)
        # (segments older than 1 s that the checkpoint needs: refused, naming
        # the required pin; younger ones: nothing to drop -- both depend on
        # how long ago they were sealed, neither drops the checkpoint's data)
        r = tool("trim", bdir, "--older-than", "1s", "--force")
        assert_true(b"dropped 0" in r.stdout or
                    (r.returncode != 0 and b"checkpoint" in r.stderr and b"required" in r.stderr),
                    (r.returncode, r.stdout, r.stderr))
        tool("verify", bdir, check=0)
        s.start()
        c = s.conn()
        assert_eq(c.call("GET", "key:5"), ("v5-" + "x" * 200).encode())


@test(timeout=300)
def compact_while_a_replica_reads_from_an_old_offset():
    """A replica away while many segments sealed and compressed resumes from
    its old offset while `compact` rewrites those very segments and the
    master keeps writing: +CONTINUE, verify clean, data equal."""
    with CairnServer({"backlog-segment-size": "1mb"}) as m:
        mc = m.conn()
        write_sets(mc, "before", 2000)
        replica = CairnServer({"replicaof": "127.0.0.1 %d" % m.port})
        try:
            wait_link_up(replica, timeout=20)
            replica.stop()
            write_sets(mc, "away", 60000)            # ~15 MB of stream: many sealed segments
            wait_compressed(mc, min_segments=4)
            stop = threading.Event()
            def writer():
                c = m.conn()
                i = 0
                while not stop.is_set() and i < 20000:
                    c.call("SET", "during%d" % i, "x" * 100)
                    i += 1
            t = threading.Thread(target=writer)
            t.start()
            compact = subprocess.Popen([tool_path(), "compact", m.dir + "/backlog", "--target-size", "8mb"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            replica.start()
            out, err = compact.communicate(timeout=240)
            stop.set()
            t.join()
            assert_eq(compact.returncode, 0, err.decode())
            rc = replica.conn()
            def caught_up():
                a, b = info(mc, "replication"), info(rc, "replication")
                return b.get("master_link_status") == "up" and a["master_repl_offset"] == b["master_repl_offset"]
            assert_true(wait_until(caught_up, 60), "the replica did not catch up")
            assert_true("Successful partial resynchronization" in replica.log_text(),
                        "the replica should have resumed with +CONTINUE")
            assert_eq(rc.call("DBSIZE"), mc.call("DBSIZE"))
            for k in ("before:1999", "away:0", "away:59999", "during0"):
                v = mc.call("GET", k)
                assert_true(v is not None, k)
                assert_eq(rc.call("GET", k), v)
            tool("verify", m.dir + "/backlog", check=0)
        finally:
            if replica.is_running():
                replica.stop()


@test
def bad_input():
    r = tool("--help", check=0)
    assert_true(b"compact" in r.stdout)
    tmp = tempfile.mkdtemp()
    try:
        for args in (["ls", os.path.join(tmp, "missing")], ["verify", tmp], ["frobnicate", tmp],
                     ["trim", tmp], ["dump", tmp, "--from", "x"]):
            r = tool(*args)
            assert_true(r.returncode != 0, args)
            err = r.stderr.decode().strip()
            assert_true(err and len(err.splitlines()) == 1, (args, err))
        with CairnServer({"backlog-segment-size": "1mb"}) as s:
            write_sets(s.conn(), "k", 100)
            s.stop()
            src = os.path.join(s.dir, "backlog")
            bdir = os.path.join(tmp, "copy")
            shutil.copytree(src, bdir)
            # locked by another tool
            with open(os.path.join(bdir, "LOCK"), "a+") as lk:
                fcntl.flock(lk, fcntl.LOCK_EX)
                r = tool("ls", bdir)
                assert_true(r.returncode != 0 and b"locked" in r.stderr, r.stderr)
            tool("ls", bdir, check=0)
            # corrupt manifest
            with open(os.path.join(bdir, "MANIFEST"), "r+b") as f:
                f.seek(30)
                ch = f.read(1)
                f.seek(30)
                f.write(bytes([ch[0] ^ 0x20]))
            r = tool("verify", bdir)
            assert_true(r.returncode != 0 and b"corrupt manifest" in r.stderr, r.stderr)
            assert_eq(len(r.stderr.decode().strip().splitlines()), 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests()
