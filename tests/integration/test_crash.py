"""Crash tests: every acknowledged write survives kill -9.

A client pipelines writes and records which ones were acknowledged (a reply
came back). The server is killed with SIGKILL at a random moment. After a
restart every acknowledged write must be there with its value; writes that
were sent but not acknowledged may or may not be there, but if they are, they
must be whole and correct.
"""
import glob
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from cairn_test import encode_command  # noqa: E402

ROUNDS = int(os.environ.get("CAIRN_CRASH_ROUNDS", "20"))


def pipeline_until_killed(port, round_no, rnd, kill_after, server):
    """Writes in pipelined batches until the connection dies. Returns the list
    of commands sent and the number acknowledged (replies are in order)."""
    sent = []
    acked = 0
    replies = []
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    killer = threading.Timer(kill_after, server.kill9)
    killer.start()
    buf = b""
    try:
        i = 0
        deadline = time.time() + kill_after + 10
        while time.time() < deadline:
            batch = []
            for _ in range(rnd.randint(1, 200)):
                kind = rnd.random()
                if kind < 0.6:
                    cmd = ("SET", "r%d:k%d" % (round_no, i), "v%d-%d" % (i, rnd.randint(0, 1 << 30)))
                elif kind < 0.8:
                    cmd = ("INCR", "ctr")
                elif kind < 0.9:
                    cmd = ("SET", "hot", "h%d:%d" % (round_no, i))
                else:
                    cmd = ("SET", "r%d:t%d" % (round_no, i), "x" * rnd.randint(0, 3000), "PX", "3600000")
                batch.append(cmd)
                i += 1
            payload = b"".join(encode_command(*c) for c in batch)
            try:
                sock.sendall(payload)
            except OSError:
                break
            sent.extend(batch)
            # read what is available of the replies (at least one per batch)
            while acked < len(sent):
                try:
                    data = sock.recv(1 << 16)
                except OSError:
                    data = b""
                if not data:
                    raise ConnectionError
                buf += data
                while True:
                    nl = buf.find(b"\r\n")
                    if nl < 0:
                        break
                    replies.append(buf[:nl])
                    buf = buf[nl + 2:]
                    acked += 1
                if acked >= len(sent) - 50:
                    break
    except ConnectionError:
        pass
    finally:
        killer.join()
        sock.close()
    return sent, replies


def verify(conn, round_no, sent, replies, state):
    acked = len(replies)
    last_hot_acked = None
    hot_values = []
    for idx, cmd in enumerate(sent):
        ok = idx < acked
        if cmd[0] == "SET" and cmd[1] == "hot":
            hot_values.append((idx, cmd[2]))
            if ok:
                last_hot_acked = idx
        elif cmd[0] == "INCR":
            if ok:
                v = int(replies[idx][1:])
                state["ctr_acked"] = max(state["ctr_acked"], v)
            state["ctr_sent"] += 1
        elif cmd[0] == "SET":
            got = conn.call("GET", cmd[1])
            if ok:
                assert_eq(replies[idx], b"+OK", "reply to %r" % (cmd,))
                assert_eq(got, cmd[2].encode(), "acknowledged %r lost after kill -9" % (cmd[1],))
                if len(cmd) > 3:
                    ttl = conn.call("PTTL", cmd[1])
                    assert ttl > 0, "TTL of %s lost: %r" % (cmd[1], ttl)
            elif got is not None:
                assert_eq(got, cmd[2].encode(), "unacknowledged %r came back corrupt" % (cmd[1],))
    ctr = conn.call("GET", "ctr")
    ctr = int(ctr) if ctr is not None else 0
    assert state["ctr_acked"] <= ctr <= state["ctr_sent"], \
        "ctr=%d not within [acked %d, sent %d]" % (ctr, state["ctr_acked"], state["ctr_sent"])
    state["ctr_acked"] = ctr  # what is there now is the new floor
    state["ctr_sent"] = ctr
    hot = conn.call("GET", "hot")
    if last_hot_acked is not None:
        allowed = [v.encode() for (i, v) in hot_values if i >= last_hot_acked]
        assert hot in allowed, "hot=%r, expected one of the values from the last acked on" % (hot,)
    return acked


def crash_rounds(durability, rounds, seed):
    rnd = random.Random(seed)
    state = {"ctr_acked": 0, "ctr_sent": 0}
    total_acked = 0
    with CairnServer({"durability": durability, "checkpoint-interval-ms": rnd.choice([5, 50, 200])}) as s:
        for r in range(rounds):
            kill_after = rnd.uniform(0.05, 0.6)
            sent, replies = pipeline_until_killed(s.port, r, rnd, kill_after, s)
            s.start()
            c = s.conn()
            total_acked += verify(c, r, sent, replies, state)
            c.close()
    print("  %s: %d rounds, %d acknowledged writes verified" % (durability, rounds, total_acked))


@test(timeout=600)
def kill9_strict_loses_no_acknowledged_write():
    crash_rounds("strict", ROUNDS, 1234)


@test(timeout=600)
def kill9_while_the_store_thread_writes_lmdb():
    """The store thread is writing a frozen layer into LMDB (its commit in
    flight) when the process dies: every acknowledged write is there after
    the restart, nothing else changed. A preloaded keyspace makes each drain
    take a while; small layers keep one in flight most of the time; the
    killer waits until INFO shows a frozen layer before it kills."""
    rnd = random.Random(4242)
    state = {"ctr_acked": 0, "ctr_sent": 0}
    cfg = {"checkpoint-interval-ms": 5, "checkpoint-bytes": "512kb"}
    in_flight = 0
    rounds = max(4, ROUNDS // 2)
    with CairnServer(cfg) as s:
        c = s.conn()
        for b in range(0, 60000, 2000):
            c.pipeline([["MSET"] + sum([["pre:%d" % i, "p" * 100] for i in range(b, b + 200)], [])
                        for _ in range(1)] + [["SET", "pre:%d" % i, "q%d" % i] for i in range(b + 200, b + 2000)])
        c.close()
        for r in range(rounds):
            watcher = s.conn()
            seen = []
            orig = s.kill9

            def kill_when_draining():
                deadline = time.time() + 2
                while time.time() < deadline:
                    f = info(watcher, "cairn")
                    if int(f["overlay_frozen_layers"]) > 0:
                        seen.append(1)
                        break
                orig()

            s.kill9 = kill_when_draining
            try:
                sent, replies = pipeline_until_killed(s.port, 1000 + r, rnd, rnd.uniform(0.1, 0.4), s)
            finally:
                s.kill9 = orig
            in_flight += len(seen)
            s.start()
            c = s.conn()
            verify(c, 1000 + r, sent, replies, state)
            assert_eq(c.call("GET", "pre:59999"), b"q59999")
            assert_eq(c.call("GET", "pre:0"), b"p" * 100)
            c.close()
    assert_true(in_flight * 2 >= rounds, "a drain was in flight at only %d of %d kills" % (in_flight, rounds))
    print("  %d rounds, a layer in the store thread's hands at %d kills" % (rounds, in_flight))


def crash_rounds_with_runs(rounds, seed, faults=None):
    """Layers wait for a merge (overlay-merge-bytes far above what the rounds
    write) with their run files on disk when the process dies: the restart
    loads the runs, then replays the rest of the backlog. Returns the
    servers' logs of every start."""
    rnd = random.Random(seed)
    state = {"ctr_acked": 0, "ctr_sent": 0}
    cfg = {"checkpoint-interval-ms": 20, "checkpoint-bytes": "256kb", "overlay-merge-bytes": "1gb",
           "overlay-merge-after-ms": "0"}  # gather from the first layer (small data drains fast)
    loaded = 0
    s = CairnServer(cfg, start=False)
    try:
        for r in range(rounds):
            if faults:
                os.environ["CAIRN_FAULTS"] = faults
            try:
                s.start()
            finally:
                os.environ.pop("CAIRN_FAULTS", None)
            if r:
                c = s.conn()
                verify(c, r - 1, sent, replies, state)
                c.close()
                loaded += "run file(s) loaded" in s.log_text() and " 0 run file(s) loaded" not in s.log_text()
            sent, replies = pipeline_until_killed(s.port, r, rnd, rnd.uniform(0.3, 0.8), s)
        s.start()
        c = s.conn()
        verify(c, rounds - 1, sent, replies, state)
        c.close()
        return s.log_text(all_starts=True), loaded
    finally:
        s.stop()
        s.cleanup()


@test(timeout=600)
def kill9_with_layers_in_run_files():
    """Frozen layers wait in run files for a big merge when the process
    dies: the restart loads them (the log says so) and every acknowledged
    write is there, nothing else changed."""
    rounds = max(4, ROUNDS // 3)
    log, loaded = crash_rounds_with_runs(rounds, 777)
    assert_true(loaded * 2 >= rounds, "runs were loaded at only %d of %d restarts:\n%s" % (loaded, rounds, log[-3000:]))
    print("  %d rounds, run files loaded at %d restarts" % (rounds, loaded))


@test(timeout=600)
def kill9_when_run_files_cannot_be_written():
    """Every run file fails to be written (fault store.spill): the layers go
    into LMDB without waiting, the error is logged naming the file, and kill
    -9 still loses nothing acknowledged (the backlog replays)."""
    rounds = max(3, ROUNDS // 5)
    log, loaded = crash_rounds_with_runs(rounds, 778, faults="store.spill=1:always:ENOSPC")
    assert_true("run file" in log and "No space left on device" in log,
                "no log line names the run file and its error:\n%s" % log[-3000:])
    assert_eq(loaded, 0)


@test(timeout=120)
def merges_gather_only_once_drains_are_slow():
    """A small server's drains are fast: each layer goes into LMDB at once
    (no run file written, memory back within a second). With
    overlay-merge-after-ms 0 the layers gather in run files instead, and
    go into LMDB once the writes pause."""
    with CairnServer({"checkpoint-interval-ms": 20, "overlay-merge-bytes": "1gb"}) as s:
        c = s.conn()

        def write(prefix):
            for b in range(10):
                replies = c.pipeline([("SET", "%s:%d" % (prefix, b * 200 + i), "v" * 50) for i in range(200)])
                assert_true(all(r == "OK" for r in replies), "a SET failed: %r" % replies[:3])
                time.sleep(0.03)

        def stat(name):
            return int(info_field(c, name, "cairn"))

        write("fast")
        wait_until(lambda: stat("overlay_frozen_layers") == 0 and stat("store_drains") > 0, timeout=10,
                   msg=lambda: "fast drains left layers waiting: %s" % c.call("INFO", "cairn"))
        assert_eq(stat("store_runs_written"), 0, "run files written though drains are fast")
        assert_eq(c.call("CONFIG", "SET", "overlay-merge-after-ms", "0"), "OK")
        write("gather")
        wait_until(lambda: stat("store_runs_written") > 0, timeout=10,
                   msg=lambda: "no run file with overlay-merge-after-ms 0: %s" % c.call("INFO", "cairn"))
        # the writes stopped: the gathered layers go into LMDB within seconds, not after 60 s
        wait_until(lambda: stat("overlay_frozen_layers") == 0 and stat("store_runs") == 0, timeout=15,
                   msg=lambda: "gathered layers still waiting after the writes paused: %s" % c.call("INFO", "cairn"))
        assert_eq(c.call("DBSIZE"), 4000)
        c.close()


@test(timeout=300)
def kill9_relaxed_loses_no_acknowledged_write():
    # relaxed only delays fdatasync: a process crash (not a power loss) loses nothing
    crash_rounds("relaxed", max(4, ROUNDS // 4), 99)


def last_segment(dirpath):
    segs = sorted(glob.glob(os.path.join(dirpath, "backlog", "*.seg")))
    assert segs, "no backlog segment in %s" % dirpath
    return segs[-1]


@test(timeout=180)
def kill9_in_a_preallocated_segment():
    """backlog-preallocate: once 1 MB is written the active segment moves to a
    zero-filled file of backlog-segment-size; kill -9 and restart keep every
    acknowledged write and the zeros (no torn tail); garbage written into them
    (a torn write) is cut. With "no", segments grow by appending."""
    def info(c):
        return parse_info(c.call("INFO", "persistence"))

    def data_end(path):
        with open(path, "rb") as f:
            b = f.read()
        return len(b.rstrip(b"\0"))

    seg = 4 << 20
    with CairnServer({"backlog-segment-size": "4mb"}) as s:
        c = s.conn()
        n = 0

        def write(k):
            nonlocal n
            for _ in range(k):
                c.send("SET", "p%d" % n, ("v%d-" % n) * 20)
                n += 1
            for _ in range(k):
                assert_eq(c.read_reply(), "OK")

        write(5000)   # ~1 MB of stream
        wait_until(lambda: (write(100), info(c)["wal_preallocated"] == "1")[1], timeout=30,
                   msg=lambda: "no preallocated segment: %r" % info(c))
        write(2000)
        last = last_segment(s.dir)
        assert_eq(os.path.getsize(last), seg)
        end = data_end(last)
        assert 0 < end < seg, end
        s.kill9()
        s.start()
        c = s.conn()
        assert_eq(info(c)["backlog_torn_tail_bytes_cut"], "0")
        assert_eq(info(c)["wal_preallocated"], "1")
        assert_eq(os.path.getsize(last), seg)
        for i in range(0, n, 97):
            assert_eq(c.call("GET", "p%d" % i), (("v%d-" % i) * 20).encode())
        assert_eq(c.call("DBSIZE"), n)
        write(500)
        # a torn write into the zeros: cut at restart, nothing acknowledged lost
        s.kill9()
        end = data_end(last)
        with open(last, "r+b") as f:
            f.seek(end)
            f.write(b"CRC1" + os.urandom(500))
        s.start()
        c = s.conn()
        assert_eq(c.call("DBSIZE"), n)
        assert_eq(c.call("GET", "p%d" % (n - 1)), (("v%d-" % (n - 1)) * 20).encode())
        assert_eq(int(info(c)["backlog_torn_tail_bytes_cut"]), seg - end)
        assert_eq(os.path.getsize(last), end)
        c.close()

    with CairnServer({"backlog-segment-size": "4mb", "backlog-preallocate": "no"}) as s:
        c = s.conn()
        n = 0
        write(12000)
        time.sleep(0.5)
        assert_eq(info(c)["wal_preallocated"], "0")
        assert_eq(info(c)["wal_spare_ready"], "0")
        assert not os.path.exists(os.path.join(s.dir, "backlog", "spare-segment.tmp"))
        last = last_segment(s.dir)
        assert_eq(os.path.getsize(last), data_end(last))
        assert_error(c.call("CONFIG", "SET", "backlog-preallocate", "yes"), "ERR CONFIG SET failed")


@test(timeout=120)
def garbage_after_the_last_record_is_cut():
    with CairnServer() as s:
        c = s.conn()
        for i in range(200):
            c.call("SET", "g%d" % i, "val%d" % i)
        s.kill9()
        with open(last_segment(s.dir), "ab") as f:
            f.write(os.urandom(777))
        s.start()
        c = s.conn()
        for i in range(200):
            assert_eq(c.call("GET", "g%d" % i), ("val%d" % i).encode())
        assert_eq(c.call("SET", "after", "1"), "OK")
        s.restart(kill=True)
        assert_eq(s.conn().call("GET", "after"), b"1")


@test(timeout=120)
def torn_last_record_is_cut_and_the_rest_kept():
    # A torn tail can only come from a write that was never synced (so never
    # acknowledged); simulate it by truncating into the last record.
    with CairnServer({"checkpoint-interval-ms": 86400000, "checkpoint-bytes": "1gb"}) as s:
        c = s.conn()
        for i in range(100):
            c.call("SET", "t%d" % i, "val%d" % i)
        c.call("SET", "last", "x" * 5000)
        s.kill9()
        seg = last_segment(s.dir)
        size = os.path.getsize(seg)
        with open(seg, "r+b") as f:
            f.truncate(size - 1000)
        s.start()
        c = s.conn()
        for i in range(100):
            assert_eq(c.call("GET", "t%d" % i), ("val%d" % i).encode())
        assert_eq(c.call("GET", "last"), None)
        assert_eq(c.call("SET", "last", "y"), "OK")
        s.restart(kill=True)
        assert_eq(s.conn().call("GET", "last"), b"y")


@test(timeout=120)
def restart_keeps_ttls_and_dbs():
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "a", "1", "EX", "1000")
        c.call("SELECT", "5")
        c.call("SET", "b", "2")
        c.call("SET", "gone", "3", "PX", "100")
        time.sleep(0.3)
        s.restart()
        c = s.conn()
        ttl = c.call("TTL", "a")
        assert 990 <= ttl <= 1000, ttl
        c.call("SELECT", "5")
        assert_eq(c.call("GET", "b"), b"2")
        assert_eq(c.call("GET", "gone"), None)
        s.restart(kill=True)
        c = s.conn()
        assert 990 <= c.call("TTL", "a") <= 1000
        c.call("SELECT", "5")
        assert_eq(c.call("GET", "b"), b"2")


@test(timeout=120)
def reply_released_by_the_flusher_waits_for_the_iterations_append():
    # Regression (kill9_strict_collections_lose_no_acknowledged_write lost 27
    # acknowledged ops once): with durability strict the flusher thread's
    # wake-up is an event of the poll phase like a client's read. When a
    # client's commands ran earlier in the same poll, their stream was still
    # in memory when on_flusher_done -> flusher_idle released every held
    # reply; a kill -9 before the iteration's end then lost acknowledged
    # writes. The events are lined up with DEBUG SLEEP so that one poll
    # returns [B's SET, the flusher's wake-up, D's DEBUG SLEEP], and the
    # server stalls in D's sleep right after the release.
    #   E: BLPOP q 0.3 + DEBUG SLEEP 1: its timeout (cron, after A's sleep)
    #      resumes it in the next iteration's prepare hook, before the poll:
    #      the flusher's sync of A's record finishes during that sleep.
    #   A: SET a + DEBUG SLEEP 0.6: a long batch, so its sync goes to the
    #      flusher thread at the iteration's end.
    #   B: SET x, sent during A's sleep: readable before the flusher's
    #      wake-up, so it runs first in the same poll.
    #   D: DEBUG SLEEP 2, sent during E's sleep: after the wake-up.
    # B's reply must not arrive before SET x is in the backlog (with the bug it
    # came at ~1.65s, during D's sleep, which ends at ~3.65s), so x must
    # survive a kill -9 right after the reply. Under heavy load the events
    # may line up differently; the test then passes without exercising the
    # race, it never fails a correct server.
    with CairnServer({"durability": "strict", "checkpoint-interval-ms": 100000,
                      "hz": 10}) as s:
        conns = {n: s.conn(timeout=15) for n in "ABDE"}
        for c in conns.values():
            assert_eq(c.call("PING"), "PONG")
        t0 = time.time()

        def at(t):
            time.sleep(max(0.0, t0 + t - time.time()))

        conns["E"].send_raw(encode_command("BLPOP", "q", "0.3") + encode_command("DEBUG", "SLEEP", "1"))
        at(0.05)
        conns["A"].send_raw(encode_command("SET", "a", "1") + encode_command("DEBUG", "SLEEP", "0.6"))
        at(0.3)
        conns["B"].send_raw(encode_command("SET", "x", "1"))
        at(1.0)
        conns["D"].send_raw(encode_command("DEBUG", "SLEEP", "2"))
        assert_eq(conns["B"].read_reply(), "OK")
        got = time.time() - t0
        s.kill9()
        s.start()
        assert_eq(s.conn().call("GET", "x"), b"1",
                  "SET x was acknowledged %.2fs after the start (D's sleep ends at about 3.65s) "
                  "and lost by kill -9" % got)


if __name__ == "__main__":
    run_tests()
