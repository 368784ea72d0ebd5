"""Redis Sentinel fails cairn nodes over, under write load.

Three real redis-sentinel processes (redis-server --sentinel) watch a cairn
master with two cairn replicas. A writer sends SETs and records every one
that was acknowledged; the master is killed with kill -9 in the middle of
the load; the sentinels promote a replica; the writer finds the new master
through the sentinels and goes on. Then the test counts the acknowledged
writes the promoted replica lacks, for three ways of writing:

- plain:   SET, acknowledged by the master alone (Redis promises nothing);
- wait:    SET then WAIT 1 100, counted only when one replica confirmed it;
- minrepl: the master has min-replicas-to-write 1 (writes refused without a
           replica in sync).

Replication is asynchronous, so plain writes may be lost across a failover
(as with Redis); a write confirmed by WAIT must not be. The old master,
restarted, is turned into a replica of the new one by the sentinels and
converges to its data set. The figures go to stdout (docs/DURABILITY.md
quotes a run)."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403


class SentinelServer(Server):
    """A real redis-server in sentinel mode watching `master_port`."""

    kind = "sentinel"

    def __init__(self, master_port, **kw):
        self.master_port = master_port
        Server.__init__(self, args=["--sentinel"], **kw)

    def _default_binary(self):
        return redis_binary()

    def _base_config(self):
        return Server._base_config(self) + [
            "sentinel resolve-hostnames no",
            "sentinel monitor mymaster 127.0.0.1 %d 2" % self.master_port,
            "sentinel down-after-milliseconds mymaster 1000",
            "sentinel failover-timeout mymaster 20000",
            "sentinel parallel-syncs mymaster 2",
        ]


def master_addr(sentinels):
    for s in sentinels:
        try:
            c = s.conn(timeout=2)
            try:
                r = c.call("SENTINEL", "get-master-addr-by-name", "mymaster")
            finally:
                c.close()
            if isinstance(r, list) and len(r) == 2:
                return int(r[1])
        except (OSError, ProtocolError):
            pass
    return None


class Writer(threading.Thread):
    """SETs w:<i> = <i>, following the master the sentinels name; records
    which were acknowledged (and, with WAIT, confirmed by a replica)."""

    def __init__(self, sentinels, mode):
        threading.Thread.__init__(self, daemon=True)
        self.sentinels, self.mode = sentinels, mode
        self.acked, self.refused, self.errors = [], 0, 0
        self.stop_at = None
        self.halt = False

    def run(self):
        i = 0
        conn, port = None, None
        while not self.halt:
            try:
                if conn is None:
                    port = master_addr(self.sentinels)
                    if port is None:
                        time.sleep(0.05)
                        continue
                    conn = Conn("127.0.0.1", port, timeout=2)
                    if conn.call("ROLE")[0] != b"master":
                        conn.close()
                        conn = None
                        time.sleep(0.05)
                        continue
                i += 1
                r = conn.call("SET", "w:%d" % i, str(i))
                if is_error(r):
                    self.refused += 1  # e.g. NOREPLICAS, READONLY during the switch
                    if "READONLY" in r:
                        conn.close()
                        conn = None
                    continue
                if self.mode == "wait":
                    n = conn.call("WAIT", 1, 100)
                    if n >= 1:
                        self.acked.append(i)
                else:
                    self.acked.append(i)
            except (OSError, ProtocolError):
                self.errors += 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.02)
        if conn:
            conn.close()


def failover_round(mode):
    extra = {"min-replicas-to-write": "1", "min-replicas-max-lag": "10"} if mode == "minrepl" else None
    master = CairnServer(extra)
    replicas = [CairnServer(extra) for _ in range(2)]
    sentinels = []
    try:
        for r in replicas:
            rc = r.conn()
            assert_eq(rc.call("REPLICAOF", "127.0.0.1", master.port), "OK")
        mc = master.conn()
        assert_true(wait_until(lambda: info_field(mc, "connected_slaves") == "2", 20), "replicas did not attach")
        sentinels = [SentinelServer(master.port) for _ in range(3)]

        def sentinels_ready():
            for s in sentinels:
                c = s.conn()
                try:
                    if len(c.call("SENTINEL", "replicas", "mymaster")) != 2:
                        return False
                    if len(c.call("SENTINEL", "sentinels", "mymaster")) != 2:
                        return False
                finally:
                    c.close()
            return True
        assert_true(wait_until(sentinels_ready, 30), "sentinels did not discover the replicas and each other")

        w = Writer(sentinels, mode)
        w.start()
        assert_true(wait_until(lambda: len(w.acked) >= 300, 30), "the writer made no progress")
        killed_at = len(w.acked)
        master.kill9()
        old_port = master.port
        t0 = time.time()
        assert_true(wait_until(lambda: master_addr(sentinels) not in (None, old_port), 60), "no failover")
        failover_s = time.time() - t0
        new_port = master_addr(sentinels)
        new = [r for r in replicas if r.port == new_port][0]
        nc = new.conn()
        assert_true(wait_until(lambda: nc.call("ROLE")[0] == b"master", 30))
        after = len(w.acked)
        assert_true(wait_until(lambda: len(w.acked) >= after + 200, 30), "no writes accepted after the failover")
        w.halt = True
        w.join(30)
        missing = [i for i in w.acked if nc.call("GET", "w:%d" % i) != str(i).encode()]
        # the other replica follows the new master and converges
        other = [r for r in replicas if r is not new][0]
        oc = other.conn()
        last = w.acked[-1]
        assert_true(wait_until(lambda: oc.call("GET", "w:%d" % last) == str(last).encode(), 30),
                    "the other replica does not follow the new master")
        # the old master comes back and is made a replica of the new one
        master._fixed_port = True  # back on its own port, where the sentinels look for it
        master.start()

        def old_master_follows():
            # a fresh connection each time: the sentinels' reconfiguration
            # ends with CLIENT KILL TYPE normal, as with Redis
            c = master.conn()
            try:
                return (c.call("ROLE")[0] == b"slave" and c.call("GET", "w:%d" % last) == str(last).encode()
                        and c.call("DBSIZE") == nc.call("DBSIZE"))
            except (OSError, ProtocolError):
                return False
            finally:
                c.close()
        assert_true(wait_until(old_master_follows, 60),
                    "the old master was not turned into a replica of the new one")
        print("%-8s acked %5d (%d before the kill), lost %d, refused %d, failover %.1f s"
              % (mode, len(w.acked), killed_at, len(missing), w.refused, failover_s))
        return len(w.acked), missing
    finally:
        for s in sentinels:
            s.stop(check=False)
            s.cleanup()
        for s in [master] + replicas:
            s.stop(check=False)
            s.cleanup()


@test(timeout=600)
def sentinel_failover_plain_writes():
    acked, missing = failover_round("plain")
    assert_true(acked > 500)
    # asynchronous replication: a few may be lost, as with Redis; reported


@test(timeout=600)
def sentinel_failover_with_wait():
    acked, missing = failover_round("wait")
    assert_eq(missing, [], "writes confirmed by WAIT 1 were lost in the failover")


@test(timeout=600)
def sentinel_failover_with_min_replicas():
    acked, missing = failover_round("minrepl")
    assert_true(acked > 500)


if __name__ == "__main__":
    run_tests(globals())
