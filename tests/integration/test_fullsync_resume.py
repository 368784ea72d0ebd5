"""A full sync cut off in the middle of its payload resumes where it stopped
(REPLCONF resume-sync, docs/REPLICATION.md "Resumable full sync"), between
cairn nodes; a master that cannot (the spool is gone, or a real Redis)
answers with an error and the replica starts over.

The link runs through a proxy in this process that cuts each connection
after a given number of bytes from the master."""
import os
import re
import shutil
import socket
import struct
import tempfile
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

SYNC_TIMEOUT = 90


class CuttingProxy(object):
    """127.0.0.1:port -> the master. Connection i is cut (both ends closed)
    once cuts[i] bytes went from the master to the replica; connections
    past the list are not cut. refuse_for: seconds during which new
    connections are closed at once, from the first cut on."""

    def __init__(self, master_port, cuts, refuse_for=0.0, record=False):
        self.master_port = master_port
        self.recorded = bytearray() if record else None  # connection 0's bytes from the master
        self.cuts = list(cuts)
        self.refuse_for = refuse_for
        self.refuse_until = 0.0
        self.conns = 0
        self.cut_done = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if time.time() < self.refuse_until:
                c.close()
                continue
            i = self.conns
            self.conns += 1
            limit = self.cuts[i] if i < len(self.cuts) else None
            try:
                m = socket.create_connection(("127.0.0.1", self.master_port), timeout=10)
            except OSError:
                c.close()
                continue
            threading.Thread(target=self._pipe, args=(c, m, limit, i == 0), daemon=True).start()

    def _pipe(self, c, m, limit, first):
        sent = [0]
        done = threading.Event()

        def up():  # replica -> master
            try:
                while not done.is_set():
                    d = c.recv(65536)
                    if not d:
                        break
                    m.sendall(d)
            except OSError:
                pass
            done.set()

        t = threading.Thread(target=up, daemon=True)
        t.start()
        try:
            while not done.is_set():
                d = m.recv(65536 if limit is None else max(1, min(65536, limit - sent[0])))
                if not d:
                    break
                c.sendall(d)
                if first and self.recorded is not None:
                    self.recorded += d
                sent[0] += len(d)
                if limit is not None and sent[0] >= limit:
                    self.cut_done += 1
                    if self.refuse_for:
                        self.refuse_until = time.time() + self.refuse_for
                    break
        except OSError:
            pass
        done.set()
        for s in (c, m):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.stopping = True
        self.lsock.close()


def load(master, nkeys=1500, size=10000):
    """About nkeys * size bytes of RDB: strings, and a hash, a list and a
    zset of a thousand members each."""
    c = master.conn()
    try:
        for base in range(0, nkeys, 250):
            c.pipeline([("SET", "s:%d" % i, os.urandom(size)) for i in range(base, min(nkeys, base + 250))])
        c.pipeline([("HSET", "h", "f%d" % i, "v%d" % i) for i in range(1000)]
                   + [("RPUSH", "l", "e%d" % i) for i in range(1000)]
                   + [("ZADD", "z", i, "m%d" % i) for i in range(1000)])
        assert_eq(c.call("DBSIZE"), nkeys + 3)
    finally:
        c.close()


def same_data(master, replica, nkeys):
    mc, rc = master.conn(), replica.conn()
    try:
        assert_eq(rc.call("DBSIZE"), mc.call("DBSIZE"))
        for k in ("s:0", "s:%d" % (nkeys // 2), "s:%d" % (nkeys - 1), "after:1"):
            assert_eq(rc.call("GET", k), mc.call("GET", k), "key %s" % k)
        assert_eq(rc.call("HLEN", "h"), 1000)
        assert_eq(rc.call("LINDEX", "l", 999), b"e999")
        assert_eq(rc.call("ZSCORE", "z", "m777"), b"777")
    finally:
        mc.close()
        rc.close()


def stats(server):
    return server_info(server, "stats")


@test(timeout=300)
def full_sync_cut_three_times_resumes_each_time():
    nkeys = 1500
    with CairnServer() as master:
        load(master, nkeys)
        # a resumed connection carries only what is left: cuts at about 3, 7
        # and 10 MB of the ~15 MB payload
        proxy = CuttingProxy(master.port, [3_000_000, 4_000_000, 3_000_000])
        try:
            with CairnServer([("replicaof", ["127.0.0.1", proxy.port])]) as replica:
                # writes while the sync is cut and resumed: the stream after the snapshot follows
                mc = master.conn()
                try:
                    wait_until(lambda: proxy.cut_done >= 1, timeout=SYNC_TIMEOUT,
                               msg=lambda: "the proxy never cut the sync\n" + log_tail(replica))
                    mc.call("SET", "after:1", "written during the sync")
                finally:
                    mc.close()
                wait_link_up(replica, SYNC_TIMEOUT)
                wait_offsets_equal(master, replica)
                assert_eq(proxy.cut_done, 3, "cuts made")
                st = stats(master)
                assert_eq(int(st["sync_full"]), 1, "one snapshot")
                assert_eq(int(st["sync_full_resumed"]), 3, "three resumes")
                log = replica.log_text()
                assert_eq(log.count("keeping the"), 3, "the replica kept its load at each cut:\n" + log_tail(replica))
                assert_eq(log.count("the master resumes the full sync at byte"), 3)
                same_data(master, replica, nkeys)
                # the restarted replica holds it all (the resumed load was committed)
                replica.restart(kill=True)
                wait_link_up(replica, SYNC_TIMEOUT)
                wait_offsets_equal(master, replica)
                same_data(master, replica, nkeys)
        finally:
            proxy.close()


@test(timeout=300)
def resume_refused_when_the_spool_is_gone():
    """repl-fullsync-resume-seconds 1 on the master and a proxy that keeps
    the replica away for 3 s: the master answers resume-sync with an
    error naming the cause, and the replica starts a new full sync."""
    nkeys = 1000
    with CairnServer({"repl-fullsync-resume-seconds": 1}) as master:
        load(master, nkeys)
        proxy = CuttingProxy(master.port, [4_000_000], refuse_for=3.0)
        try:
            with CairnServer([("replicaof", ["127.0.0.1", proxy.port])]) as replica:
                wait_until(lambda: proxy.cut_done >= 1, timeout=SYNC_TIMEOUT)
                master.conn().call("SET", "after:1", "x")
                wait_link_up(replica, SYNC_TIMEOUT)
                wait_offsets_equal(master, replica)
                st = stats(master)
                assert_eq(int(st["sync_full"]), 2, "a new full sync")
                assert_eq(int(st["sync_full_resumed"]), 0)
                assert_true("no replica resumed it; removing" in master.log_text())
                assert_true("cannot resume full sync" in master.log_text() and
                            "repl-fullsync-resume-seconds" in master.log_text(),
                            "the refusal is not logged with its cause:\n" + log_tail(master))
                assert_true("the kept one is dropped" in replica.log_text())
                same_data(master, replica, nkeys)
        finally:
            proxy.close()


@test(timeout=120)
def master_and_replica_stop_with_a_kept_sync():
    """Both sides stop cleanly (exit 0, no sanitizer report) while a cut
    full sync is kept: the master's spool file goes with it, the replica's
    half load is dropped (its old data set, here empty, is what restarts)."""
    with CairnServer() as master:
        load(master, 600)
        proxy = CuttingProxy(master.port, [2_000_000], refuse_for=60.0)
        try:
            with CairnServer([("replicaof", ["127.0.0.1", proxy.port])]) as replica:
                wait_until(lambda: "keeping the" in replica.log_text(), timeout=SYNC_TIMEOUT,
                           msg=lambda: log_tail(replica))
                wait_until(lambda: "for the replica cut off during its transfer to resume" in master.log_text(),
                           timeout=10, msg=lambda: log_tail(master))
                assert_true(int(server_info(replica, "replication").get("master_sync_resumable_bytes", 0)) > 0)
                spools = [f for f in os.listdir(master.dir) if f.startswith("fullsync-")]
                assert_eq(len(spools), 1, "the kept spool: %r" % spools)
                replica.stop()
                replica.start(keep_port=True)  # proxy still refuses: no master
                assert_eq(replica.conn().call("DBSIZE"), 0)
                replica.stop()
            master.stop()
            assert_eq([f for f in os.listdir(master.dir) if f.startswith("fullsync-")], [], "spool left behind")
        finally:
            proxy.close()


@test(timeout=300)
def redis_master_refuses_and_the_replica_starts_over():
    """A real redis-server master (disk-based sync: a $<len> payload) does
    not know REPLCONF resume-sync: the cut load is dropped and a new full
    sync loads everything."""
    nkeys = 1000
    with RedisServer({"repl-diskless-sync": "no"}) as master:
        load(master, nkeys)
        proxy = CuttingProxy(master.port, [4_000_000])
        try:
            with CairnServer([("replicaof", ["127.0.0.1", proxy.port])]) as replica:
                wait_until(lambda: proxy.cut_done >= 1, timeout=SYNC_TIMEOUT)
                master.conn().call("SET", "after:1", "x")
                wait_link_up(replica, SYNC_TIMEOUT)
                wait_offsets_equal(master, replica)
                log = replica.log_text()
                assert_true("keeping the" in log, "the cut load was not kept:\n" + log_tail(replica))
                assert_true("the kept one is dropped" in log)
                assert_eq(int(stats(master)["sync_full"]), 2)
                same_data(master, replica, nkeys)
        finally:
            proxy.close()


# ---- across a replica restart: the spool (repl-fullsync-spool) ----

SPOOL = "replica-sync.spool"
SPOOL_HEADER = 80


def spool_header(replid, offset, total):
    h = b"CAIRNRSS" + struct.pack("<I", 1) + replid + struct.pack("<QQ", offset, total)
    return h + struct.pack("<I", crc32c(h)) + bytes(SPOOL_HEADER - len(h) - 4)


def kept_bytes(replica):
    return int(server_info(replica, "replication").get("master_sync_resumable_bytes", 0))


def wait_kept(replica):
    """Waits for the replica to keep a cut full sync: the bytes it kept."""
    wait_until(lambda: "keeping the" in replica.log_text(), timeout=SYNC_TIMEOUT, msg=lambda: log_tail(replica))
    return kept_bytes(replica)


@test(timeout=300)
def replica_restarted_mid_sync_resumes_from_its_spool():
    """The link is cut at ~5 MB and the proxy keeps the replica away; the
    replica is killed (-9), restarted (reloads its spool while the master is
    still unreachable), stopped cleanly, started again: it reloads the spool
    once more and the master resumes the same full sync where the spool
    ends. One snapshot, one resume, the spool gone after the load."""
    nkeys = 1500
    with CairnServer() as master:
        load(master, nkeys)
        proxy = CuttingProxy(master.port, [5_000_000], refuse_for=600.0)
        try:
            with CairnServer([("replicaof", ["127.0.0.1", proxy.port])]) as replica:
                kept = wait_kept(replica)
                spool = os.path.join(replica.dir, SPOOL)
                assert_true(kept >= 4_000_000, "kept %d bytes" % kept)
                assert_eq(os.path.getsize(spool), SPOOL_HEADER + kept, "the spool holds what was loaded")
                master.conn().call("SET", "after:1", "written while the replica is away")
                replica.kill9()
                replica.start(keep_port=True)
                wait_until(lambda: kept_bytes(replica) == kept, timeout=SYNC_TIMEOUT,
                           msg=lambda: "the spool was not reloaded after kill -9\n" + log_tail(replica))
                assert_true("reloading the %d bytes of full sync" % kept in replica.log_text())
                assert_eq(replica.conn().call("DBSIZE"), 0, "the old (empty) data set is served meanwhile")
                replica.stop()
                assert_eq(os.path.getsize(spool), SPOOL_HEADER + kept, "a clean stop keeps the spool")
                proxy.refuse_until = 0.0
                replica.start(keep_port=True)
                wait_link_up(replica, SYNC_TIMEOUT)
                wait_offsets_equal(master, replica)
                log = replica.log_text()
                assert_true("reloaded %d of the %d spooled bytes" % (kept, kept) in log, log_tail(replica))
                assert_true("the master resumes the full sync at byte %d" % kept in log, log_tail(replica))
                st = stats(master)
                assert_eq(int(st["sync_full"]), 1, "one snapshot")
                assert_eq(int(st["sync_full_resumed"]), 1, "resumed from the spool")
                same_data(master, replica, nkeys)
                assert_true(not os.path.exists(spool), "the spool outlived its load")
        finally:
            proxy.close()


@test(timeout=300)
def a_damaged_spool_never_loads_wrong_data():
    """One payload byte of the spool flipped while the replica is down: the
    RDB's checksum (or its parse) refuses the resumed load, the replica
    starts over and ends with the master's data."""
    nkeys = 1000
    with CairnServer() as master:
        load(master, nkeys)
        proxy = CuttingProxy(master.port, [6_000_000], refuse_for=600.0)
        try:
            with CairnServer([("replicaof", ["127.0.0.1", proxy.port])]) as replica:
                kept = wait_kept(replica)
                replica.kill9()
                with open(os.path.join(replica.dir, SPOOL), "r+b") as f:
                    f.seek(SPOOL_HEADER + kept // 2)
                    b = f.read(1)
                    f.seek(SPOOL_HEADER + kept // 2)
                    f.write(bytes([b[0] ^ 0x5A]))
                proxy.refuse_until = 0.0
                replica.start(keep_port=True)
                master.conn().call("SET", "after:1", "x")
                wait_link_up(replica, SYNC_TIMEOUT)
                wait_offsets_equal(master, replica)
                log = replica.log_text()
                assert_true("full sync failed" in log or "cannot be reloaded" in log,
                            "the damage went unnoticed:\n" + log_tail(replica))
                assert_eq(int(stats(master)["sync_full"]), 2, "a new snapshot")
                same_data(master, replica, nkeys)
        finally:
            proxy.close()


@test(timeout=120)
def a_spool_that_cannot_be_used_is_removed_at_start():
    """A bad header, and a good one on a server that is not a replica: each
    removed at start with a log line naming the file and the cause."""
    with CairnServer() as master:
        master.conn().call("SET", "k", "v")
        with CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            replica.stop()
            spool = os.path.join(replica.dir, SPOOL)
            with open(spool, "wb") as f:
                f.write(b"CAIRNRSS" + bytes(100))
            replica.start(keep_port=True)
            wait_link_up(replica, SYNC_TIMEOUT)
            assert_true("is not a usable full-sync spool (its header fails its checksum); removed"
                        in replica.log_text(), log_tail(replica))
            assert_true(not os.path.exists(spool))
            assert_eq(replica.conn().call("GET", "k"), b"v")
        with CairnServer() as lone:
            lone.stop()
            with open(os.path.join(lone.dir, SPOOL), "wb") as f:
                f.write(spool_header(b"a" * 40, 0, 10) + b"x" * 5)
            lone.start(keep_port=True)
            assert_true("is not reloaded: this server is not a replica; removed" in lone.log_text(),
                        log_tail(lone))
            assert_true(not os.path.exists(os.path.join(lone.dir, SPOOL)))


@test(timeout=300)
def a_spool_holding_the_whole_rdb_loads_and_continues():
    """A replica that died with the whole payload spooled but not yet loaded
    (made here from the bytes another replica received): it loads the spool,
    takes the sync's id and offset, and its PSYNC continues (+CONTINUE) with
    no second snapshot."""
    nkeys = 300
    with CairnServer() as master:
        load(master, nkeys)
        proxy = CuttingProxy(master.port, [], record=True)
        try:
            with CairnServer([("replicaof", ["127.0.0.1", proxy.port])]) as first:
                wait_link_up(first, SYNC_TIMEOUT)
        finally:
            proxy.close()
        rec = bytes(proxy.recorded)
        m = re.search(rb"\+FULLRESYNC ([0-9a-f]{40}) (\d+)\r\n\n*\$(\d+)\r\n", rec)
        assert_true(m is not None, "no full sync in the recorded bytes: %r" % rec[:200])
        total = int(m.group(3))
        payload = rec[m.end():m.end() + total]
        assert_eq(len(payload), total)
        master.conn().call("SET", "after:1", "written after the snapshot")
        d = tempfile.mkdtemp(prefix="cairn-spool-")
        add_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
        with open(os.path.join(d, SPOOL), "wb") as f:
            f.write(spool_header(m.group(1), int(m.group(2)), total) + payload)
        with CairnServer([("replicaof", ["127.0.0.1", master.port])], dir=d) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            log = replica.log_text()
            assert_true("Finished with success from the spool" in log, log_tail(replica))
            assert_true("Successful partial resynchronization" in log, log_tail(replica))
            assert_eq(int(stats(master)["sync_full"]), 1, "the first replica's only")
            same_data(master, replica, nkeys)
            assert_true(not os.path.exists(os.path.join(replica.dir, SPOOL)))


if __name__ == "__main__":
    run_tests()
