"""Frames as stored (capa cairn-zstd, docs/REPLICATION.md "Frames as
stored"): a cairn replica that missed stream held in compressed backlog
segments gets those zstd frames as they are on disk, then the plain stream
once it is within 1 MB. Offsets stay byte-exact; a replica with
repl-compressed-catchup no (or a real Redis replica) gets the plain stream."""
import os
import sys

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
    with CairnServer([("replicaof", ["127.0.0.1", master.port])] + list(replica_extra.items())) as replica:
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
        # the replica's own backlog holds the same stream: a sub-replica of it, or
        # its restart, reads the same offsets
        replica.restart(kill=True)
        wait_link_up(replica, SYNC_TIMEOUT)
        wait_offsets_equal(master, replica)
        assert_eq(digest(replica, prefix), digest(master, prefix))
        log = replica.log_text(all_starts=True)
        return tuple(int(i1[k]) - int(i0[k]) for k in
                     ("repl_catchup_frames", "repl_catchup_frame_bytes", "repl_catchup_frame_stream_bytes")), log


@test(timeout=240)
def catch_up_from_stored_frames():
    with CairnServer(MASTER) as master:
        (frames, wire, stream), log = catch_up(master, {}, "a")
        print("  catch-up: %d frames, %d bytes on the wire for %d bytes of stream (%.1fx)"
              % (frames, wire, stream, stream / max(1, wire)))
        assert_true(frames >= 5, "only %d stored frames went" % frames)
        assert_true(stream >= 5_000_000, "frames carried %d bytes of stream" % stream)
        assert_true(wire * 3 < stream, "frames are not compressed: %d wire bytes for %d" % (wire, stream))
        assert_true("The catch-up comes as the master's stored frames." in log)
        assert_true("caught up from the master's stored frames; plain stream from here" in log)
        assert_true("is caught up to within" in master.log_text())


@test(timeout=240)
def plain_catch_up_when_the_replica_does_not_ask():
    with CairnServer(MASTER) as master:
        (frames, wire, stream), log = catch_up(master, {"repl-compressed-catchup": "no"}, "b")
        assert_eq((frames, wire, stream), (0, 0, 0))
        assert_true("stored frames" not in log)


if __name__ == "__main__":
    run_tests()
