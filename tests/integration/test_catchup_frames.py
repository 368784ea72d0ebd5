"""Frames as stored (capa cairn-zstd, docs/REPLICATION.md "Frames as
stored"): a cairn replica that missed stream held in compressed backlog
segments gets those zstd frames as they are on disk, then the plain stream
once it is within 1 MB. Offsets stay byte-exact; a replica with
repl-compressed-catchup no (or a real Redis replica) gets the plain stream."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

SYNC_TIMEOUT = 60
MASTER = {"backlog-segment-size": "1mb"}


def repl(server):
    return server_info(server, "replication")


def write_compressible(server, nbytes, prefix):
    """SETs of text-like values (compress well) over 5,000 keys, with a
    hash and a list growing too."""
    c = server.conn()
    try:
        n = nbytes // 600
        for base in range(0, n, 500):
            cmds = []
            for i in range(base, min(n, base + 500)):
                cmds.append(("SET", "%s:%d" % (prefix, i % 5000), ("value %d of %s; " % (i, prefix)) * 20))
                if i % 10 == 0:
                    cmds.append(("HSET", "%s:h" % prefix, "f%d" % (i % 3000), i))
                    cmds.append(("RPUSH", "%s:l" % prefix, i))
            c.pipeline(cmds)
    finally:
        c.close()


def wait_compressed(server, segments):
    wait_until(lambda: int(server_info(server, "persistence").get("wal_compressed_segments", 0)) >= segments,
               timeout=30, msg=lambda: "segments not compressed: %r" % server_info(server, "persistence"))


def digest(server, prefix):
    c = server.conn()
    try:
        return (c.call("DBSIZE"), c.call("GET", "%s:4999" % prefix), c.call("HLEN", "%s:h" % prefix),
                c.call("LRANGE", "%s:l" % prefix, -3, -1))
    finally:
        c.close()


def catch_up(master, replica_extra, prefix):
    """A replica is away while ~12 MB are written (compressed segments by
    then), comes back: returns the master's frame counters (frames, wire
    bytes, stream bytes) for its catch-up."""
    # the replica's segments are small too: they are sealed and compressed
    # while it catches up, so its backlog stores the frames it adopted
    extra = dict({"backlog-segment-size": "2mb"}, **replica_extra)
    with CairnServer([("replicaof", ["127.0.0.1", master.port])] + list(extra.items())) as replica:
        wait_link_up(replica, SYNC_TIMEOUT)
        wait_offsets_equal(master, replica)
        replica.stop()
        i0 = repl(master)
        write_compressible(master, 12_000_000, prefix)
        wait_compressed(master, 6)
        partial0 = int(server_info(master, "stats")["sync_partial_ok"])
        replica.start(keep_port=True)
        wait_link_up(replica, SYNC_TIMEOUT)
        wait_offsets_equal(master, replica)
        assert_eq(int(server_info(master, "stats")["sync_partial_ok"]), partial0 + 1, "+CONTINUE")
        assert_eq(digest(replica, prefix), digest(master, prefix))
        i1 = repl(master)
        wait_compressed(replica, 3)
        p = server_info(replica, "persistence")
        adopted = (int(p["wal_adopted_frames"]), int(p["wal_adopted_stream_bytes"]), int(p["wal_adopt_mismatches"]))
        r = backlog_tool("verify", os.path.join(replica.dir, "backlog"), check=0)
        assert_true(r.stdout.startswith(b"ok:"), r.stdout)
        # the replica's own backlog holds the same stream: a sub-replica of it, or
        # its restart, reads the same offsets
        replica.restart(kill=True)
        wait_link_up(replica, SYNC_TIMEOUT)
        wait_offsets_equal(master, replica)
        assert_eq(digest(replica, prefix), digest(master, prefix))
        log = replica.log_text(all_starts=True)
        return tuple(int(i1[k]) - int(i0[k]) for k in
                     ("repl_catchup_frames", "repl_catchup_frame_bytes", "repl_catchup_frame_stream_bytes")), \
            adopted, log


@test(timeout=240)
def catch_up_from_stored_frames():
    with CairnServer(MASTER) as master:
        (frames, wire, stream), (adopted, adopted_bytes, mismatches), log = catch_up(master, {}, "a")
        print("  catch-up: %d frames, %d bytes on the wire for %d bytes of stream (%.1fx); the replica's "
              "backlog stored %d of them as they came (%d bytes of stream)"
              % (frames, wire, stream, stream / max(1, wire), adopted, adopted_bytes))
        # frames spanning two of the replica's segments (2 MB here, frames
        # of 1 MiB), and those of its active segment, are compressed there;
        # the others go as they came, and the replica's `verify` (above)
        # read each one back
        assert_true(adopted >= 2, "the replica stored %d of %d frames as they came" % (adopted, frames))
        assert_true(adopted_bytes >= adopted * 500_000, "adopted frames hold %d bytes" % adopted_bytes)
        assert_eq(mismatches, 0)
        assert_true(frames >= 5, "only %d stored frames went" % frames)
        assert_true(stream >= 5_000_000, "frames carried %d bytes of stream" % stream)
        assert_true(wire * 3 < stream, "frames are not compressed: %d wire bytes for %d" % (wire, stream))
        assert_true("The catch-up comes as the master's stored frames." in log)
        assert_true("caught up from the master's stored frames; plain stream from here" in log)
        assert_true("is caught up to within" in master.log_text())


@test(timeout=240)
def plain_catch_up_when_the_replica_does_not_ask():
    with CairnServer(MASTER) as master:
        (frames, wire, stream), adopted, log = catch_up(master, {"repl-compressed-catchup": "no"}, "b")
        assert_eq((frames, wire, stream), (0, 0, 0))
        assert_eq(adopted, (0, 0, 0))
        assert_true("stored frames" not in log)


@test(timeout=300)
def a_catch_up_is_applied_in_slices():
    """A catch-up is applied a slice per loop iteration (APPLY_SLICE_US in
    replication/replica.c), not a stored frame or a socket's worth at once.
    The replica's writes are slowed on purpose (CAIRN_FAULTS store.put
    slow100: 100 us more per SET), so a frame of 1 MB of stream (~20,000
    SETs here) applied at once is a 2-second iteration; in slices the
    replica's longest iteration stays far under a second and its clients
    are answered while it catches up."""
    # (partial whatever the cost: this stream is bigger than the data)
    with CairnServer(dict(MASTER, **{"repl-resync": "partial"})) as master:
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            replica.stop()
            c = master.conn()
            try:
                for base in range(0, 40_000, 5000):
                    c.pipeline([("SET", "s:%d" % (i % 20000), "v" * 24) for i in range(base, base + 5000)])
            finally:
                c.close()
            wait_compressed(master, 1)
            with faults_env("store.put=1:always:slow100"):
                replica.start(keep_port=True)
            probe = replica.conn()
            worst, answered_behind = 0.0, 0
            try:
                deadline = time.time() + 180
                while time.time() < deadline:
                    t0 = time.time()
                    r = parse_info(probe.call("INFO", "replication"))
                    worst = max(worst, time.time() - t0)
                    behind = int(repl(master)["master_repl_offset"]) - int(r.get("slave_repl_offset", 0))
                    if r.get("master_link_status") == "up" and behind == 0:
                        break
                    answered_behind += behind > 0
                    time.sleep(0.02)
                else:
                    raise AssertionError("the replica did not catch up")
            finally:
                probe.close()
            longest = int(server_info(replica, "cairn")["loop_longest_iteration_us"])
            print("  longest iteration %d us, slowest INFO %.0f ms, %d answers while behind"
                  % (longest, worst * 1000, answered_behind))
            log = replica.log_text()
            assert_true("The catch-up comes as the master's stored frames." in log)
            assert_true("store.put calls from 1 take 100 us longer" in log)
            assert_true(longest < 1_000_000, "an iteration of %d us during the catch-up" % longest)
            assert_true(answered_behind >= 10, "only %d answers while catching up" % answered_behind)
            assert_eq(digest(replica, "s"), digest(master, "s"))

if __name__ == "__main__":
    run_tests()
