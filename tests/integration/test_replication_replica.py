"""Replication, REPLICA side: cairn replicas of cairn masters (and of a real
redis-server 7.0 master).

What is checked (see /work/shared/PROTOCOL.md sections 2, 3, 4, 8 and issue 4):
  * full sync cairn -> cairn (dbs 0/5/15, TTLs, binary, a 1 MB value),
    INFO replication / ROLE on the replica, same replid as the master;
  * writes made on the master while the replica loads a 200k-key snapshot;
  * partial resync after CLIENT KILL TYPE replica on the master;
  * replica restart and master restart (graceful and kill -9) -> +CONTINUE;
  * a chain A <- B <- C (offsets equal everywhere, B restarted);
  * promotion (REPLICAOF NO ONE, replid -> replid2), a sibling re-pointed
    continuing partially, and the old master coming back as a replica;
  * READONLY / MASTERDOWN;
  * WAIT on a master with cairn replicas;
  * a cairn replica of a real redis master ($EOF: and $len framings);
  * faults: kill -9 of the master while streaming, of the replica during the
    RDB load (and the link cut mid-RDB), of the replica while streaming;
  * a long outage (short CI version) that spans many sealed, compressed
    backlog segments, resumed with +CONTINUE;
  * a malformed stream from a (fake) master: commands of the wrong arity,
    reads and connection commands are skipped, the rest applies, the offset
    counts every byte.

The dataset / INFO helpers are shared with test_replication_master.py."""
import os
import random
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cairn_test                       # noqa: E402
from cairn_test import *                # noqa: E402,F401,F403

# Reuse the helpers of the master-side script without registering its tests.
_n_before = len(cairn_test._TESTS)
import test_replication_master as M     # noqa: E402
del cairn_test._TESTS[_n_before:]

stats, snapshot = M.stats, strings_snapshot
assert_same_data, random_writes = assert_same_strings, M.random_writes
partial_requests = M.partial_requests

SYNC_TIMEOUT = 20

LOG_PARTIAL_OK = "Successful partial resynchronization with master."
LOG_FULL_RESYNC = "Full resync from master"
LOG_FULL_DONE = "MASTER <-> REPLICA sync: Finished with success"

READONLY_ERR = "READONLY You can't write against a read only replica."
MASTERDOWN_ERR = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def replica_config(master, extra=None):
    cfg = [("replicaof", ["127.0.0.1", master.port])]
    if extra:
        cfg += list(extra.items()) if isinstance(extra, dict) else list(extra)
    return cfg


def start_cairn_replica(master, extra=None, **kw):
    return CairnServer(replica_config(master, extra), **kw)


def set_replicaof(server, master):
    """Rewrites the config of a stopped server so it starts as a replica of
    `master` (replaces any earlier replicaof)."""
    cfg = server.extra_config
    items = list(cfg.items()) if isinstance(cfg, dict) else list(cfg or [])
    items = [it for it in items if not (isinstance(it, tuple) and it[0] == "replicaof")]
    if master is not None:
        items.append(("replicaof", ["127.0.0.1", master.port]))
    server.extra_config = items


def log_count(server, text, all_starts=True):
    return server.log_text(all_starts=all_starts).count(text)


def counts(server, all_starts=True):
    t = server.log_text(all_starts=all_starts)
    return {"full": t.count(LOG_FULL_RESYNC), "full_done": t.count(LOG_FULL_DONE),
            "partial_ok": t.count(LOG_PARTIAL_OK)}


def wait_converged(master, *replicas, timeout=SYNC_TIMEOUT):
    """Waits until every replica's link is up and its master_repl_offset (and
    slave_repl_offset) equals the master's; returns the offset."""
    last = {}

    def same():
        m = int(server_info(master)["master_repl_offset"])
        last.clear()
        last["master"] = m
        ok = True
        for r in replicas:
            ri = server_info(r)
            last[r.port] = (ri.get("master_repl_offset"), ri.get("slave_repl_offset"),
                            ri.get("master_link_status"))
            if not (ri.get("master_link_status") == "up" and ri.get("master_repl_offset") == str(m)
                    and ri.get("slave_repl_offset") == str(m)):
                ok = False
        return (m,) if ok else None

    return wait_until(same, timeout=timeout, interval=0.1,
                msg=lambda: "offsets did not converge: %r\n%s" % (
                    last, "\n".join(log_tail(r, 3000) for r in replicas)))[0]


def load_data(master, dbs=(0, 5, 15), seed=1, big=True):
    """Strings in `dbs`: plain, binary keys/values, numbers, TTLs (far in the
    future), an empty value, and (big=True) a 1 MB value with a TTL in the
    middle db."""
    rnd = random.Random(seed)
    c = master.conn(timeout=60)
    try:
        for db in dbs:
            assert_eq(c.call("SELECT", db), "OK")
            cmds = []
            for i in range(120):
                cmds.append(["SET", b"k:%d:%d" % (db, i), b"value-%d-%d" % (db, i)])
            for i in range(30):
                k = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 30))) + b"\x00\xff%d" % i
                v = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200)))
                cmds.append(["SET", k, v])
            for i in range(25):
                cmds.append(["SET", b"ttl:%d:%d" % (db, i), b"t%d" % i, "EX", 1000 + 37 * i])
            for i in range(10):
                cmds.append(["SET", b"pttl:%d:%d" % (db, i), b"p%d" % i, "PX", 2000000 + i])
            for i in range(15):
                cmds.append(["SET", b"num:%d:%d" % (db, i), rnd.randrange(-10 ** 12, 10 ** 12)])
            cmds.append(["SET", b"empty:%d" % db, b""])
            for r in c.pipeline(cmds):
                assert_eq(r, "OK")
        if big:
            assert_eq(c.call("SELECT", dbs[len(dbs) // 2]), "OK")
            blob = bytes(rnd.randrange(256) for _ in range(4096)) * 256
            assert_eq(c.call("SET", b"big\x00value", blob), "OK")
            assert_eq(c.call("PEXPIRE", b"big\x00value", 5000000), 1)
    finally:
        c.close()


def load_many(master, n=200000, db=0, vlen=60, prefix=b"bulk"):
    """n keys via pipelined MSETs (200 keys each)."""
    c = master.conn(timeout=120)
    try:
        assert_eq(c.call("SELECT", db), "OK")
        pad = b"x" * vlen
        batch = []
        for lo in range(0, n, 200):
            args = ["MSET"]
            for i in range(lo, min(n, lo + 200)):
                args += [b"%s:%d" % (prefix, i), b"%d:%s" % (i, pad)]
            batch.append(args)
            if len(batch) == 50:
                for r in c.pipeline(batch):
                    assert_eq(r, "OK")
                batch = []
        if batch:
            for r in c.pipeline(batch):
                assert_eq(r, "OK")
    finally:
        c.close()


def dbsizes(server, dbs=range(16)):
    c = server.conn(timeout=30)
    try:
        out = {}
        for db in dbs:
            c.call("SELECT", db)
            n = c.call("DBSIZE")
            if n:
                out[db] = n
        return out
    finally:
        c.close()


def assert_bulk_equal(master, replica, n, db=0, prefix=b"bulk", sample=3000, seed=5):
    """Cheaper check for the 200k-key datasets: DBSIZE of every db, and a
    random sample of the bulk keys by value."""
    assert_eq(dbsizes(replica), dbsizes(master), "DBSIZE per db (replica vs master)")
    rnd = random.Random(seed)
    keys = [b"%s:%d" % (prefix, i) for i in rnd.sample(range(n), min(sample, n))] + [b"%s:%d" % (prefix, n - 1)]
    mc, rc = master.conn(timeout=30), replica.conn(timeout=30)
    try:
        mc.call("SELECT", db)
        rc.call("SELECT", db)
        for lo in range(0, len(keys), 500):
            cmds = [["GET", k] for k in keys[lo:lo + 500]]
            assert_eq(rc.pipeline(cmds), mc.pipeline(cmds), "sampled bulk values")
    finally:
        mc.close()
        rc.close()


class Writer(threading.Thread):
    """Writes SET <prefix>:<i> <i> one at a time on the master until stopped
    or the connection fails; `acked` holds every key whose OK was read."""

    def __init__(self, server, prefix="live", db=0, pause=0.0):
        threading.Thread.__init__(self, daemon=True)
        self.port, self.prefix, self.db, self.pause = server.port, prefix, db, pause
        self.acked = {}
        self.error = None
        self.stop_ev = threading.Event()

    def run(self):
        try:
            c = Conn("127.0.0.1", self.port, timeout=15)
            c.call("SELECT", self.db)
            i = 0
            while not self.stop_ev.is_set():
                k, v = b"%s:%d" % (self.prefix.encode(), i), b"v%d-%s" % (i, b"y" * (i % 50))
                r = c.call("SET", k, v)
                if r != "OK":
                    self.error = "SET reply %r" % (r,)
                    return
                self.acked[k] = v
                i += 1
                if self.pause:
                    time.sleep(self.pause)
        except (OSError, ConnectionError, ProtocolError) as e:
            self.error = e

    def finish(self):
        self.stop_ev.set()
        self.join(30)
        assert_true(not self.is_alive(), "writer thread did not stop")
        return self.acked


def assert_acked_present(server, acked, db=0, what="replica"):
    c = server.conn(timeout=30)
    try:
        c.call("SELECT", db)
        keys = list(acked)
        missing = []
        for lo in range(0, len(keys), 500):
            chunk = keys[lo:lo + 500]
            got = c.pipeline([["GET", k] for k in chunk])
            for k, g in zip(chunk, got):
                if g != acked[k]:
                    missing.append((k, g))
        assert_true(not missing, "%d of %d acknowledged writes missing/different on the %s, first: %r"
                    % (len(missing), len(keys), what, missing[:5]))
    finally:
        c.close()


# ---------------------------------------------------------------------------
# 1. full sync
# ---------------------------------------------------------------------------

@test(timeout=120)
def full_sync_cairn_to_cairn():
    with CairnServer() as master:
        load_data(master, dbs=(0, 5, 15))
        with start_cairn_replica(master) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            off = wait_converged(master, replica)
            snap = assert_same_data(master, replica)
            assert_eq(sorted(snap), [0, 5, 15])
            assert_eq(len(snap[5][b"big\x00value"][0]), 1 << 20, "1 MB value")
            assert_true(snap[5][b"big\x00value"][1] > 4000000, "1 MB value keeps its TTL")
            mi, ri = server_info(master), server_info(replica)
            assert_eq(ri["master_replid"], mi["master_replid"], "replica's master_replid = master's")
            assert_eq(ri.get("role"), "slave")
            assert_eq(ri.get("master_host"), "127.0.0.1")
            assert_eq(ri.get("master_port"), str(master.port))
            assert_eq(ri.get("master_sync_in_progress"), "0")
            assert_eq(ri.get("slave_repl_offset"), str(off))
            assert_true("master_link_down_since_seconds" not in ri, "no down_since while up: %r" % ri)
            assert_eq(ri.get("slave_read_only"), "1")
            rc = replica.conn()
            try:
                role = rc.call("ROLE")
                assert_eq(role[:4], [b"slave", b"127.0.0.1", master.port, b"connected"], "ROLE on the replica")
                assert_true(type(role[4]) is int and role[4] == off, "ROLE offset %r vs %d" % (role[4], off))
            finally:
                rc.close()
            c = counts(replica)
            assert_eq((c["full"], c["full_done"], c["partial_ok"]), (1, 1, 0), "replica log: one full sync")
            # the master sees its replica online with the right listening port
            assert_true(mi.get("slave0", "").startswith("ip=127.0.0.1,port=%d,state=online" % replica.port),
                        "slave0 on the master: %r" % mi.get("slave0"))
            # live writes follow, db switches included
            random_writes(master, 600, seed=3)
            wait_converged(master, replica)
            assert_same_data(master, replica)


@test(timeout=120)
def replica_ignores_maxmemory():
    """maxmemory refuses writes on a master (test_differential_scripting
    out_of_memory_and_error_stats) but a replica applies its master's stream
    whatever its own maxmemory (replica-ignore-maxmemory yes): refusing it
    would make the replica diverge."""
    with CairnServer() as master, start_cairn_replica(master, {"maxmemory": "1"}) as replica:
        wait_link_up(replica, SYNC_TIMEOUT)
        mc, rc = master.conn(), replica.conn()
        try:
            assert_eq(rc.call("CONFIG", "GET", "maxmemory"), [b"maxmemory", b"1"])
            for i in range(200):
                mc.call("SET", "k%d" % i, "v%d" % i)
            wait_converged(master, replica)
            assert_eq(rc.call("DBSIZE"), 200)
            assert_eq(rc.call("GET", "k199"), b"v199")
            assert_eq(mc.call("CONFIG", "SET", "maxmemory", "1"), "OK")
            assert_error(mc.call("SET", "more", "1"), "OOM command not allowed when used memory > 'maxmemory'.")
            assert_eq(mc.call("DEL", "k0"), 1)
            wait_converged(master, replica)
            assert_eq(rc.call("EXISTS", "k0"), 0)
        finally:
            mc.close()
            rc.close()


@test(timeout=120)
def replicaof_command_then_stream():
    """REPLICAOF at runtime (not the config file): the stream after the full
    sync must advance the replica's offset and reach its own sub-replica."""
    with CairnServer() as master, CairnServer() as replica:
        load_data(master, seed=2, big=False)
        rc = replica.conn()
        try:
            assert_eq(rc.call("REPLICAOF", "127.0.0.1", master.port), "OK")
            assert_eq(rc.call("REPLICAOF", "127.0.0.1", master.port), "OK Already connected to specified master")
        finally:
            rc.close()
        wait_link_up(replica, SYNC_TIMEOUT)
        random_writes(master, 300, seed=21)
        wait_converged(master, replica)
        assert_same_data(master, replica)
        with start_cairn_replica(replica) as sub:
            wait_link_up(sub, SYNC_TIMEOUT)
            random_writes(master, 200, seed=22)
            wait_converged(master, replica, sub)
            assert_same_data(master, sub)
        # GETACK: WAIT on the master is answered by this replica
        mc = master.conn()
        try:
            assert_eq(mc.call("SET", "acked", "1"), "OK")
            assert_eq(mc.call("WAIT", 1, 3000), 1, "WAIT 1 with a replica attached by REPLICAOF")
        finally:
            mc.close()


@test(timeout=120)
def masterauth_and_repl_timeout():
    with CairnServer({"requirepass": "s3cret", "repl-ping-replica-period": 1}) as master:
        mc = master.conn(password="s3cret")
        assert_eq(mc.call("SET", "k", "v"), "OK")
        with start_cairn_replica(master, {"masterauth": "wrong"}) as bad:
            wait_until(lambda: "AUTH" in bad.log_text(), timeout=10, msg=lambda: "no AUTH error\n" + log_tail(bad))
            time.sleep(1.5)
            assert_eq(server_info(bad).get("master_link_status"), "down", "wrong masterauth: link down")
        with start_cairn_replica(master, {"masterauth": "s3cret", "repl-timeout": 3}) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_converged(master, replica)
            rc = replica.conn()
            try:
                assert_eq(rc.call("GET", "k"), b"v")
                # the master's PINGs keep an idle link alive past repl-timeout
                time.sleep(4.5)
                assert_eq(info(rc, "replication").get("master_link_status"), "up", "idle link stays up")
                c0 = counts(replica)
                # a frozen master: the replica gives up after repl-timeout...
                os.kill(master.pid, 19)         # SIGSTOP
                try:
                    t0 = time.time()
                    wait_until(lambda: info(rc, "replication").get("master_link_status") == "down", timeout=10,
                         msg=lambda: "replica did not time out a frozen master\n" + log_tail(replica))
                    dt = time.time() - t0
                    assert_true(dt >= 1.5, "link dropped after only %.1fs (repl-timeout 3)" % dt)
                    assert_eq(rc.call("GET", "k"), b"v", "stale reads while the master is frozen")
                finally:
                    os.kill(master.pid, 18)     # SIGCONT
                # ...and continues partially once it is back
                assert_eq(mc.call("SET", "k2", "v2"), "OK")
                wait_until(lambda: counts(replica)["partial_ok"] > c0["partial_ok"] or counts(replica)["full"] > c0["full"],
                     timeout=SYNC_TIMEOUT, msg=lambda: "no resync after SIGCONT\n" + log_tail(replica))
                wait_converged(master, replica)
                assert_eq(counts(replica)["full"], c0["full"], "+CONTINUE after the frozen master came back")
                assert_eq(rc.call("GET", "k2"), b"v2")
            finally:
                rc.close()
        mc.close()


@test(timeout=120)
def stream_commands_and_expiry():
    """Commands beyond SET/DEL go through the stream (SWAPDB, MOVE, COPY,
    RENAME, FLUSHDB, INCRBYFLOAT, GETEX...; cairn has no MULTI yet), and keys that expire
    on the master disappear on the replica, which never expires on its own."""
    with CairnServer() as master:
        load_data(master, dbs=(0, 1, 5), seed=3, big=False)
        with start_cairn_replica(master) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            mc = master.conn()
            try:
                cmds = [["SELECT", 0], ["SET", "f", "1.5"], ["INCRBYFLOAT", "f", "2.25"],
                        ["SET", "g", "x", "EX", 5000], ["GETEX", "g", "PERSIST"],
                        ["SET", "h", "y", "EX", 6000], ["SET", "h", "z", "KEEPTTL"],
                        ["SETRANGE", "sr", 5, "abc"], ["APPEND", "sr", "\x00\xff"],
                        ["GETDEL", "k:0:1"], ["RENAME", "k:0:2", "renamed"],
                        ["COPY", "k:0:3", "copied", "DB", 9], ["MOVE", "k:0:4", 1],
                        ["EXPIREAT", "k:0:5", 1], ["PEXPIREAT", "k:0:6", int(time.time() * 1000) + 9000000],
                        ["SET", "tx1", "a"], ["INCR", "txc"], ["SELECT", 5], ["SET", "tx2", "b"], ["FLUSHDB"], ["SET", "after-flush", "1"],
                        ["SWAPDB", 0, 1], ["SELECT", 2], ["SET", "short", "lived", "PX", 300],
                        ["SET", "short2", "lived", "PX", 300], ["MSET", "m1", "1", "m2", "2"]]
                for cmd, r in zip(cmds, mc.pipeline(cmds)):
                    assert_true(not is_error(r), "%r on the master: %r" % (cmd, r))
                wait_converged(master, replica)
                rc = replica.conn()
                try:
                    rc.call("SELECT", 2)
                    assert_eq(rc.call("GET", "short"), b"lived", "not yet expired")
                    time.sleep(0.5)
                    # logically expired on the replica too (redis: a replica
                    # answers nil for a key past its expiry)
                    assert_eq(rc.call("GET", "short"), None, "GET of an expired key on the replica")
                    assert_eq(rc.call("EXISTS", "short2"), 0, "EXISTS of an expired key on the replica")
                    # the master expires it (GET on the master) -> DEL in the stream
                    mc.call("SELECT", 2)
                    assert_eq(mc.call("GET", "short"), None)
                    wait_converged(master, replica)
                    wait_until(lambda: master_dbsize(mc, 2) == replica_dbsize(rc, 2), timeout=15,
                         msg=lambda: "DBSIZE db 2: master %d, replica %d" % (master_dbsize(mc, 2),
                                                                           replica_dbsize(rc, 2)))
                finally:
                    rc.close()
            finally:
                mc.close()
            wait_converged(master, replica)
            snap = assert_same_data(master, replica)
            assert_true(b"renamed" in snap.get(1, {}) and b"after-flush" in snap.get(5, {}),
                        "SWAPDB/FLUSHDB effects: %r" % sorted(snap))


def master_dbsize(c, db):
    c.call("SELECT", db)
    return c.call("DBSIZE")


replica_dbsize = master_dbsize


# ---------------------------------------------------------------------------
# 2. live writes during a full sync
# ---------------------------------------------------------------------------

@test(timeout=180)
def live_writes_during_full_sync():
    N = 200000
    with CairnServer() as master:
        load_many(master, N)
        load_data(master, dbs=(2, 9), big=False)
        w = Writer(master, prefix="during", db=4)
        w.start()
        try:
            time.sleep(0.2)
            with start_cairn_replica(master) as replica:
                saw_sync = [False]

                def up():
                    i = server_info(replica)
                    if i.get("master_sync_in_progress") == "1":
                        saw_sync[0] = True
                    return i.get("master_link_status") == "up"
                n0 = len(w.acked)
                wait_until(up, timeout=SYNC_TIMEOUT, interval=0.05,
                     msg=lambda: "link did not come up\n" + log_tail(replica))
                n_during = len(w.acked) - n0
                time.sleep(0.5)
                acked = w.finish()
                assert_true(w.error is None, "writer: %r" % (w.error,))
                print("  note: %d writes while the replica synced (saw master_sync_in_progress:1: %s)"
                      % (n_during, saw_sync[0]))
                assert_true(n_during > 0, "no write happened while the replica synced")
                wait_converged(master, replica)
                assert_acked_present(replica, acked, db=4)
                assert_bulk_equal(master, replica, N)
                for db in (2, 4, 9):
                    m, r = snapshot_db(master, db), snapshot_db(replica, db)
                    assert_eq(len(r), len(m), "db %d key count" % db)
                    assert_true(r == m, "db %d differs" % db)
                assert_eq(counts(replica)["full_done"], 1)
        finally:
            w.stop_ev.set()


def snapshot_db(server, db):
    return snapshot_dbs(server, [db]).get(db, {})


def snapshot_dbs(server, dbs):
    """Like snapshot() for some dbs; PTTLs rounded to whole minutes."""
    c = server.conn(timeout=30)
    out = {}
    try:
        for db in dbs:
            c.call("SELECT", db)
            keys, cursor = set(), b"0"
            while True:
                cursor, batch = c.call("SCAN", cursor, "COUNT", 1000)
                keys.update(batch)
                if cursor == b"0":
                    break
            keys = sorted(keys)
            d = {}
            for lo in range(0, len(keys), 500):
                chunk = keys[lo:lo + 500]
                rep = c.pipeline([["GET", k] for k in chunk])
                for k, v in zip(chunk, rep):
                    d[k] = v
            if d:
                out[db] = d
    finally:
        c.close()
    return out


# ---------------------------------------------------------------------------
# 3. partial resync after the link is cut on the master
# ---------------------------------------------------------------------------

@test(timeout=120)
def partial_resync_after_client_kill():
    with CairnServer() as master:
        load_data(master, seed=3)
        with start_cairn_replica(master) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            random_writes(master, 200, seed=21)
            wait_converged(master, replica)
            mc = master.conn()
            try:
                before = stats(mc)
                assert_eq(before["sync_full"], 1)
                off0 = int(info(mc, "replication")["master_repl_offset"])
                rep = mc.pipeline([["CLIENT", "KILL", "TYPE", "replica"]]
                                  + [["SET", b"gap:%d" % i, b"v%d" % i] for i in range(100)])
                assert_eq(rep[0], 1, "CLIENT KILL TYPE replica")
                off1 = int(info(mc, "replication")["master_repl_offset"])
                random_writes(master, 300, seed=22)
                wait_until(lambda: counts(replica)["partial_ok"] == 1, timeout=SYNC_TIMEOUT,
                     msg=lambda: "no partial resync\n" + log_tail(replica))
                wait_converged(master, replica)
                after = stats(mc)
                assert_eq(after["sync_partial_ok"], before["sync_partial_ok"] + 1, "sync_partial_ok")
                assert_eq(after["sync_full"], before["sync_full"], "no second full sync (sync_full)")
                assert_eq(after["sync_partial_err"], before["sync_partial_err"], "sync_partial_err")
                # the first request (before the full sync) was for the replica's
                # own fresh history at offset 1
                req = partial_requests(replica)[1:]
                assert_eq(len(req), 1, "one PSYNC logged after the first full sync: %r" % (req,))
                assert_true(off0 < req[0][1] <= off1, "PSYNC offset %d in (%d, %d]" % (req[0][1], off0, off1))
                c = counts(replica)
                assert_eq((c["full"], c["full_done"]), (1, 1), "replica log: still one full sync")
                # twice in a row
                assert_eq(mc.call("CLIENT", "KILL", "TYPE", "slave"), 1)
                random_writes(master, 100, seed=23)
                wait_until(lambda: counts(replica)["partial_ok"] == 2, timeout=SYNC_TIMEOUT,
                     msg=lambda: "no second partial resync\n" + log_tail(replica))
                wait_converged(master, replica)
                assert_eq(stats(mc)["sync_partial_ok"], before["sync_partial_ok"] + 2)
            finally:
                mc.close()
            assert_same_data(master, replica)


# ---------------------------------------------------------------------------
# 4. restarts
# ---------------------------------------------------------------------------

@test(timeout=180)
def replica_restart_continues():
    with CairnServer() as master:
        load_data(master, seed=4)
        with start_cairn_replica(master) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            random_writes(master, 200, seed=41)
            wait_converged(master, replica)
            for kill in (False, True):
                what = "kill -9" if kill else "graceful restart"
                full0 = stats_of(master)["sync_full"]
                pok0 = stats_of(master)["sync_partial_ok"]
                if kill:
                    # writes in flight while the replica dies
                    random_writes(master, 100, seed=42)
                    replica.kill9()
                else:
                    replica.stop()
                random_writes(master, 300, seed=43 + kill)
                replica.start()
                wait_until(lambda: counts(replica, all_starts=False)["partial_ok"] == 1
                     or counts(replica, all_starts=False)["full"] > 0,
                     timeout=SYNC_TIMEOUT, msg=lambda: "replica did not resync (%s)\n%s" % (what, log_tail(replica)))
                c = counts(replica, all_starts=False)
                assert_eq((c["partial_ok"], c["full"]), (1, 0),
                          "after %s the replica resumes with +CONTINUE, no full sync\n%s" % (what, log_tail(replica)))
                wait_converged(master, replica)
                st = stats_of(master)
                assert_eq(st["sync_full"], full0, "sync_full after %s" % what)
                assert_eq(st["sync_partial_ok"], pok0 + 1, "sync_partial_ok after %s" % what)
                assert_same_data(master, replica)


def stats_of(server):
    c = server.conn()
    try:
        return stats(c)
    finally:
        c.close()


@test(timeout=180)
def master_restart_replica_continues():
    with CairnServer() as master:
        load_data(master, seed=5)
        with start_cairn_replica(master) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            random_writes(master, 200, seed=51)
            wait_converged(master, replica)
            replid = server_info(master)["master_replid"]
            for kill in (False, True):
                what = "master kill -9" if kill else "master graceful restart"
                c0 = counts(replica)
                if kill:
                    random_writes(master, 100, seed=52)
                    master.restart(kill=True)
                else:
                    master.restart()
                mi = server_info(master)
                assert_eq(mi["master_replid"], replid, "the master keeps its replid across a %s" % what)
                random_writes(master, 300, seed=53 + kill)
                wait_until(lambda: counts(replica)["partial_ok"] > c0["partial_ok"] or counts(replica)["full"] > c0["full"],
                     timeout=SYNC_TIMEOUT, msg=lambda: "replica did not resync (%s)\n%s" % (what, log_tail(replica)))
                c = counts(replica)
                assert_eq((c["partial_ok"] - c0["partial_ok"], c["full"] - c0["full"]), (1, 0),
                          "after a %s the replica resumes with +CONTINUE\n%s" % (what, log_tail(replica)))
                wait_converged(master, replica)
                st = stats_of(master)
                assert_eq((st["sync_full"], st["sync_partial_ok"]), (0, 1), "master stats after a %s" % what)
                assert_same_data(master, replica)


# ---------------------------------------------------------------------------
# 5. chain A <- B <- C
# ---------------------------------------------------------------------------

@test(timeout=180)
def chain_of_three():
    # B pings its own sub-replica period is short so that a replica that
    # wrongly injects its own PINGs into the proxied stream shows up at once.
    with CairnServer({"repl-ping-replica-period": 1}) as a, \
            start_cairn_replica(a, {"repl-ping-replica-period": 1}) as b:
        load_data(a, seed=6)
        wait_link_up(b, SYNC_TIMEOUT)
        with start_cairn_replica(b) as c:
            wait_link_up(c, SYNC_TIMEOUT)
            random_writes(a, 500, seed=61)
            time.sleep(2.5)        # a few ping periods
            off = wait_converged(a, b)
            wait_converged(a, c)
            ia, ib, ic = server_info(a), server_info(b), server_info(c)
            assert_eq((ib["master_replid"], ic["master_replid"]), (ia["master_replid"],) * 2, "replids")
            assert_same_data(a, c)
            assert_same_data(a, b)
            # restart B: B continues from A, C from B, both partially
            cb0, cc0 = counts(b), counts(c)
            b.restart()
            random_writes(a, 300, seed=62)
            wait_until(lambda: counts(b)["partial_ok"] > cb0["partial_ok"] or counts(b)["full"] > cb0["full"],
                 timeout=SYNC_TIMEOUT, msg=lambda: "B did not resync\n" + log_tail(b))
            wait_until(lambda: counts(c)["partial_ok"] > cc0["partial_ok"] or counts(c)["full"] > cc0["full"],
                 timeout=SYNC_TIMEOUT, msg=lambda: "C did not resync\n" + log_tail(c))
            wait_converged(a, b)
            wait_converged(a, c)
            cb, cc = counts(b), counts(c)
            assert_eq((cb["partial_ok"] - cb0["partial_ok"], cb["full"] - cb0["full"]), (1, 0),
                      "B resumes partially after its restart")
            assert_eq(cc["full"] - cc0["full"], 0, "C does not full-sync after B's restart\n" + log_tail(c))
            assert_true(cc["partial_ok"] > cc0["partial_ok"], "C resumes partially")
            assert_same_data(a, c)
            assert_true(off > 0)


# ---------------------------------------------------------------------------
# 6. promotion
# ---------------------------------------------------------------------------

@test(timeout=180)
def promotion_and_old_master_rejoins():
    a = CairnServer()
    try:
        load_data(a, seed=7)
        with start_cairn_replica(a) as b, start_cairn_replica(a) as c:
            wait_link_up(b, SYNC_TIMEOUT)
            wait_link_up(c, SYNC_TIMEOUT)
            random_writes(a, 300, seed=71)
            off = wait_converged(a, b, c)
            old_id = server_info(a)["master_replid"]
            a.stop()
            off_a = off
            # promote B
            bc = b.conn()
            try:
                assert_eq(bc.call("REPLICAOF", "NO", "ONE"), "OK")
                ib = info(bc, "replication")
                assert_eq(ib["role"], "master")
                assert_eq(ib["master_replid2"], old_id, "B: master_replid2 = A's old replid")
                assert_eq(ib["second_repl_offset"], str(off + 1), "B: second_repl_offset")
                assert_true(ib["master_replid"] != old_id and re.match(r"^[0-9a-f]{40}$", ib["master_replid"]),
                            "B: a new replid %r" % ib["master_replid"])
                new_id = ib["master_replid"]
                assert_eq(bc.call("SET", "after-promotion", "1"), "OK", "B accepts writes")
            finally:
                bc.close()
            # re-point C
            cc0 = counts(c)
            cconn = c.conn()
            try:
                assert_eq(cconn.call("REPLICAOF", "127.0.0.1", b.port), "OK")
            finally:
                cconn.close()
            wait_until(lambda: counts(c)["partial_ok"] > cc0["partial_ok"] or counts(c)["full"] > cc0["full"],
                 timeout=SYNC_TIMEOUT, msg=lambda: "C did not resync with B\n" + log_tail(c))
            cc = counts(c)
            assert_eq((cc["partial_ok"] - cc0["partial_ok"], cc["full"] - cc0["full"]), (1, 0),
                      "C continues partially with the promoted B\n" + log_tail(c))
            random_writes(b, 300, seed=72)
            wait_converged(b, c)
            ic = server_info(c)
            assert_eq(ic["master_replid"], new_id, "C follows B's new replid")
            assert_eq(ic["master_replid2"], old_id, "C keeps A's replid as replid2")
            assert_same_data(b, c)
            st = stats_of(b)
            assert_eq((st["sync_full"], st["sync_partial_ok"]), (0, 1), "B's sync stats")
            # A comes back as a replica of B (replicaof in its config)
            set_replicaof(a, b)
            a._fixed_port = True
            a.start()
            wait_until(lambda: counts(a, all_starts=False)["partial_ok"] > 0 or counts(a, all_starts=False)["full"] > 0,
                 timeout=SYNC_TIMEOUT, msg=lambda: "A did not resync with B\n" + log_tail(a))
            ca = counts(a, all_starts=False)
            print("  note: old master A rejoining B: partial=%d full=%d (A's offset %d, B's second_repl_offset %d)"
                  % (ca["partial_ok"], ca["full"], off_a, off + 1))
            wait_converged(b, a, c)
            assert_same_data(b, a)
            assert_eq((ca["partial_ok"], ca["full"]), (1, 0),
                      "A (history = B's replid2) should continue partially\n" + log_tail(a))
            assert_eq(stats_of(b)["sync_full"], 0, "no full sync on B")
    finally:
        a.stop()
        a.cleanup()


# ---------------------------------------------------------------------------
# 7. READONLY / MASTERDOWN
# ---------------------------------------------------------------------------

@test(timeout=120)
def readonly_and_masterdown():
    with CairnServer() as master:
        mc = master.conn()
        assert_eq(mc.call("SET", "k", "v"), "OK")
        mc.close()
        with start_cairn_replica(master) as r1, \
                start_cairn_replica(master, {"replica-serve-stale-data": "no"}) as r2, \
                start_cairn_replica(master, {"replica-read-only": "no"}) as r3:
            for r in (r1, r2, r3):
                wait_link_up(r, SYNC_TIMEOUT)
            wait_converged(master, r1, r2, r3)
            c1, c2, c3 = r1.conn(), r2.conn(), r3.conn()
            try:
                for cmd in (["SET", "x", "1"], ["DEL", "k"], ["INCR", "n"], ["EXPIRE", "k", 10],
                            ["MSET", "a", 1, "b", 2], ["FLUSHALL"]):
                    assert_eq(c1.call(*cmd), Error(READONLY_ERR), "%r on a read-only replica" % (cmd,))
                assert_eq(c1.call("GET", "k"), b"v")
                assert_eq(c2.call("GET", "k"), b"v", "serve-stale-data no, link up: reads work")
                # a writable replica: local writes (not propagated)
                assert_eq(c3.call("SET", "local", "1"), "OK")
                assert_eq(c3.call("GET", "local"), b"1")
                master.stop()
                wait_until(lambda: info(c2, "replication").get("master_link_status") == "down", timeout=15,
                     msg="replica did not notice the master is gone")
                assert_eq(c1.call("GET", "k"), b"v", "serve-stale-data yes: stale reads work")
                assert_eq(c1.call("SET", "x", "1"), Error(READONLY_ERR))
                assert_eq(c2.call("GET", "k"), Error(MASTERDOWN_ERR), "GET with the master down")
                assert_eq(c2.call("DBSIZE"), Error(MASTERDOWN_ERR), "DBSIZE with the master down")
                i2 = info(c2, "replication")
                assert_eq(i2.get("master_link_status"), "down")
                assert_true(re.match(r"^\d+$", i2.get("master_link_down_since_seconds", "")),
                            "master_link_down_since_seconds %r" % i2.get("master_link_down_since_seconds"))
                assert_eq(c2.call("ROLE")[0], b"slave")
                master._fixed_port = True     # same port again
                master.start()
                wait_until(lambda: info(c2, "replication").get("master_link_status") == "up", timeout=SYNC_TIMEOUT,
                     msg=lambda: "link did not come back\n" + log_tail(r2))
                assert_eq(c2.call("GET", "k"), b"v", "reads work again once the link is up")
            finally:
                for c in (c1, c2, c3):
                    c.close()


# ---------------------------------------------------------------------------
# 8. WAIT
# ---------------------------------------------------------------------------

@test(timeout=120)
def wait_with_cairn_replicas():
    with CairnServer() as master, start_cairn_replica(master) as r1, start_cairn_replica(master) as r2:
        wait_link_up(r1, SYNC_TIMEOUT)
        wait_link_up(r2, SYNC_TIMEOUT)
        wait_converged(master, r1, r2)
        mc = master.conn()
        try:
            assert_eq(mc.call("SET", "w", "1"), "OK")
            t0 = time.time()
            assert_eq(mc.call("WAIT", 2, 2000), 2, "WAIT 2 2000 with two replicas")
            dt = time.time() - t0
            assert_true(dt < 1.9, "WAIT 2 took %.2fs (should be answered by GETACK/ACKs)" % dt)
            assert_eq(mc.call("WAIT", 0, 0), 2, "WAIT 0 0")
            r2.stop()
            wait_until(lambda: info(mc, "replication").get("connected_slaves") == "1", timeout=10)
            assert_eq(mc.call("SET", "w", "2"), "OK")
            t0 = time.time()
            assert_eq(mc.call("WAIT", 2, 2000), 1, "WAIT 2 2000 with one replica left")
            dt = time.time() - t0
            assert_true(1.9 <= dt < 4.0, "WAIT with a missing replica returned after %.2fs" % dt)
            assert_eq(mc.call("WAIT", 1, 2000), 1)
            rc = r1.conn()
            try:
                assert_error(rc.call("WAIT", 1, 100), "ERR WAIT cannot be used with replica instances")
            finally:
                rc.close()
        finally:
            mc.close()


# ---------------------------------------------------------------------------
# 9. cairn replica of a real redis master
# ---------------------------------------------------------------------------

@test(timeout=180)
def replica_of_real_redis():
    for diskless in ("yes", "no"):
        framing = "$EOF:" if diskless == "yes" else "$<len>"
        with RedisServer({"repl-diskless-sync": diskless, "repl-diskless-sync-delay": 0}) as master:
            mc = master.conn()
            try:
                for db in (0, 7):
                    mc.call("SELECT", db)
                    cmds = [["SET", b"r:%d:%d" % (db, i), b"val\x00%d" % i] for i in range(200)]
                    cmds += [["SET", b"t:%d:%d" % (db, i), b"t", "EX", 5000 + i] for i in range(30)]
                    cmds += [["SET", b"bin\xff%d" % db, bytes(range(256)) * 20]]
                    for r in mc.pipeline(cmds):
                        assert_eq(r, "OK")
                with start_cairn_replica(master) as replica:
                    wait_link_up(replica, SYNC_TIMEOUT)
                    assert_true(("receiving streamed RDB" in replica.log_text()) == (diskless == "yes"),
                                "framing %s\n%s" % (framing, log_tail(replica)))
                    wait_converged(master, replica)
                    assert_same_data(master, replica)
                    ri, mi = server_info(replica), server_info(master)
                    assert_eq(ri["master_replid"], mi["master_replid"], "replid (%s)" % framing)
                    random_writes(master, 500, seed=91)
                    wait_converged(master, replica)
                    assert_same_data(master, replica)
                    before = stats(mc)
                    assert_eq(mc.call("CLIENT", "KILL", "TYPE", "replica"), 1)
                    random_writes(master, 300, seed=92)
                    wait_until(lambda: counts(replica)["partial_ok"] == 1 or counts(replica)["full"] > 1,
                         timeout=SYNC_TIMEOUT, msg=lambda: "no resync\n" + log_tail(replica))
                    wait_converged(master, replica)
                    after = stats(mc)
                    assert_eq(after["sync_partial_ok"], before["sync_partial_ok"] + 1,
                              "redis master: sync_partial_ok after CLIENT KILL (%s)" % framing)
                    assert_eq(after["sync_full"], before["sync_full"], "redis master: sync_full (%s)" % framing)
                    assert_same_data(master, replica)
                    # a WAIT on redis is answered by the cairn replica's ACKs
                    assert_eq(mc.call("SET", "acked", "1"), "OK")
                    assert_eq(mc.call("WAIT", 1, 5000), 1, "redis WAIT 1 with a cairn replica")
                    lt = master.log_text()
                    assert_true("Replica generated a reply" not in lt,
                                "the cairn replica answered on the replication link:\n" + lt[-3000:])
            finally:
                mc.close()


# ---------------------------------------------------------------------------
# 10. faults
# ---------------------------------------------------------------------------

@test(timeout=180)
def fault_master_kill9_while_streaming():
    with CairnServer() as master:
        load_data(master, seed=10, big=False)
        with start_cairn_replica(master) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_converged(master, replica)
            w = Writer(master, prefix="s", db=3)
            w.start()
            wait_until(lambda: len(w.acked) > 300, timeout=30, msg="writer too slow")
            master.kill9()
            w.join(20)
            acked = dict(w.acked)
            print("  note: %d writes acknowledged before the kill" % len(acked))
            c0 = counts(replica)
            master._fixed_port = True         # same port again
            master.start()
            assert_acked_present(master, acked, db=3, what="restarted master")
            random_writes(master, 100, seed=101)
            wait_until(lambda: counts(replica)["partial_ok"] > c0["partial_ok"] or counts(replica)["full"] > c0["full"],
                 timeout=SYNC_TIMEOUT, msg=lambda: "replica did not resync\n" + log_tail(replica))
            wait_converged(master, replica)
            assert_acked_present(replica, acked, db=3)
            assert_same_data(master, replica)
            c = counts(replica)
            assert_eq(c["full"] - c0["full"], 0, "a master kill -9 should end in +CONTINUE\n" + log_tail(replica))


@test(timeout=240)
def fault_master_kill9_during_full_sync():
    """The master dies (SIGKILL) while it writes or sends the RDB of a full
    sync: after its restart the replica syncs again, no acknowledged write of
    the master is lost, and the data is equal."""
    N = 200000
    with CairnServer() as master:
        load_many(master, N)
        w = Writer(master, prefix="fs", db=2)
        w.start()
        wait_until(lambda: len(w.acked) > 100, timeout=30, msg="writer too slow")
        with start_cairn_replica(master) as replica:
            wait_until(lambda: server_info(replica).get("master_sync_in_progress") == "1" or
                 "Full sync: snapshot" in master.log_text(), timeout=SYNC_TIMEOUT, interval=0.005,
                 msg=lambda: "never saw the full sync start\n" + log_tail(replica))
            master.kill9()
            w.join(20)
            acked = dict(w.acked)
            master._fixed_port = True
            master.start()
            assert_acked_present(master, acked, db=2, what="restarted master")
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_converged(master, replica)
            assert_acked_present(replica, acked, db=2)
            assert_bulk_equal(master, replica, N)
            assert_eq(dbsizes(replica), dbsizes(master))


@test(timeout=240)
def fault_replica_kill9_during_rdb_load():
    N = 200000
    with CairnServer() as master:
        load_many(master, N)
        load_data(master, dbs=(1,), seed=11, big=False)
        # the replica has old data of its own (it was a master)
        replica = CairnServer()
        try:
            rc = replica.conn()
            rc.call("SET", "old", "data")
            rc.call("SELECT", 6)
            rc.call("SET", "old6", "data")
            rc.close()

            def in_transfer():
                i = server_info(replica)
                return i.get("master_sync_in_progress") == "1" and int(i.get("master_sync_read_bytes", "0")) > 0

            # 1. cut the link mid-RDB from the master
            rc = replica.conn()
            assert_eq(rc.call("REPLICAOF", "127.0.0.1", master.port), "OK")
            rc.close()
            wait_until(in_transfer, timeout=SYNC_TIMEOUT, interval=0.01,
                 msg=lambda: "never saw the transfer\n" + log_tail(replica))
            mc = master.conn()
            killed = mc.call("CLIENT", "KILL", "TYPE", "replica")
            mc.close()
            rc = replica.conn()
            got = rc.call("GET", "old")
            rc.close()
            if killed == 1 and not link_up(replica):
                assert_eq(got, b"data", "old data answers while the load is aborted/retried")
            # 2. kill -9 during the (second) load
            wait_until(in_transfer, timeout=SYNC_TIMEOUT, interval=0.01,
                 msg=lambda: "never saw the second transfer\n" + log_tail(replica))
            replica.kill9()
            # restarted as a plain master (REPLICAOF was a command): the old
            # data must be intact, no half load visible
            replica.start()
            rc = replica.conn()
            try:
                assert_eq(rc.call("GET", "old"), b"data", "old data after kill -9 during the load")
                assert_eq(rc.call("DBSIZE"), 1, "no half-loaded keys in db 0 after kill -9 during the load")
                assert_eq(rc.call("EXISTS", "bulk:0", "bulk:%d" % (N - 1)), 0)
                # now as a replica again, through the config file
            finally:
                rc.close()
            replica.stop()
            set_replicaof(replica, master)
            replica.start()
            wait_link_up(replica, timeout=60)
            wait_converged(master, replica)
            assert_bulk_equal(master, replica, N)
            rs = snapshot_dbs(replica, [1, 6])
            ms = snapshot_dbs(master, [1, 6])
            assert_true(rs == ms, "dbs 1 and 6 equal after the sync (old data of the replica gone)")
        finally:
            replica.stop()
            replica.cleanup()


@test(timeout=180)
def fault_replica_kill9_while_streaming():
    with CairnServer() as master:
        load_data(master, seed=12, big=False)
        with start_cairn_replica(master) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_converged(master, replica)
            w = Writer(master, prefix="k9", db=0)
            w.start()
            try:
                wait_until(lambda: len(w.acked) > 200, timeout=30, msg="writer too slow")
                c0 = counts(replica)
                replica.kill9()
                n = len(w.acked)
                wait_until(lambda: len(w.acked) > n + 200, timeout=30, msg="writer too slow")
                replica.start()
                wait_until(lambda: counts(replica, all_starts=False)["partial_ok"] > 0
                     or counts(replica, all_starts=False)["full"] > 0,
                     timeout=SYNC_TIMEOUT, msg=lambda: "replica did not resync\n" + log_tail(replica))
                time.sleep(0.3)
            finally:
                acked = w.finish()
            assert_true(w.error is None, "writer: %r" % (w.error,))
            wait_converged(master, replica)
            assert_acked_present(replica, acked)
            assert_same_data(master, replica)
            c = counts(replica, all_starts=False)
            assert_eq((c["partial_ok"], c["full"]), (1, 0), "resumes with +CONTINUE after kill -9\n" + log_tail(replica))
            assert_true(counts(replica)["full"] == c0["full"])


# ---------------------------------------------------------------------------
# 11. long outage across many backlog segments
# ---------------------------------------------------------------------------

@test(timeout=180)
def long_outage_many_segments():
    with CairnServer({"backlog-segment-size": "1mb"}) as master:
        load_data(master, seed=13, big=False)
        with start_cairn_replica(master) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_converged(master, replica)
            replica.stop()
            off0 = int(server_info(master)["master_repl_offset"])
            rnd = random.Random(13)
            c = master.conn(timeout=60)
            try:
                blobs = [bytes(rnd.randrange(256) for _ in range(512)) * 8 for _ in range(8)]   # 4 KB
                target = 30 << 20
                i = 0
                while int(info(c, "replication")["master_repl_offset"]) - off0 < target:
                    cmds = []
                    for _ in range(500):
                        cmds.append(["SET", b"o:%d" % (i % 1000), blobs[i % 8] + b"%d" % i])
                        i += 1
                    for r in c.pipeline(cmds):
                        assert_eq(r, "OK")
                mi = info(c, "replication")
            finally:
                c.close()
            off1 = int(mi["master_repl_offset"])
            print("  note: %d MB of stream while the replica was down; backlog %s..%s, oldest age %ss" % (
                (off1 - off0) >> 20, mi["repl_backlog_first_byte_offset"], off1,
                mi.get("repl_backlog_oldest_age_seconds")))
            bdir = [os.path.join(dp, f) for dp, _, fs in os.walk(master.dir) for f in fs]
            print("  note: master data dir has %d files" % len(bdir))
            full0 = stats_of(master)["sync_full"]
            replica.start()
            wait_until(lambda: counts(replica, all_starts=False)["partial_ok"] > 0
                 or counts(replica, all_starts=False)["full"] > 0,
                 timeout=SYNC_TIMEOUT, msg=lambda: "replica did not resync\n" + log_tail(replica))
            cr = counts(replica, all_starts=False)
            assert_eq((cr["partial_ok"], cr["full"]), (1, 0), "+CONTINUE after the outage\n" + log_tail(replica))
            t0 = time.time()
            wait_converged(master, replica, timeout=60)
            print("  note: caught up %d MB in %.1fs" % ((off1 - off0) >> 20, time.time() - t0))
            assert_eq(stats_of(master)["sync_full"], full0, "no full sync")
            assert_same_data(master, replica)


@test(timeout=300)
def replica_with_a_tiny_overlay_budget_catches_up():
    """A replica whose store thread cannot keep up with its master's stream
    (1 MB overlay budget): it stops reading the link at the budget and goes
    on when a layer is on disk; it reaches the master's offset with every
    key, and its data survives a kill -9."""
    with CairnServer() as master:
        with start_cairn_replica(master, {"overlay-max-memory": "1mb", "checkpoint-bytes": "128kb"}) as r:
            wait_offsets_equal(master, r)
            mc = master.conn()
            for b in range(0, 30000, 3000):
                mc.pipeline([["SET", "bp:%d" % i, "v%d" % i + "y" * 100] for i in range(b, b + 3000)])
            off = wait_offsets_equal(master, r, timeout=120)
            rc = r.conn()
            assert_eq(rc.call("DBSIZE"), mc.call("DBSIZE"))
            f = info(rc, "cairn")
            assert_true(int(f["store_drains"]) > 3, f)
            assert_true(int(f["writer_stalls"]) > 0, "the link never waited for the store thread: %r" % f)
            r.restart(kill=True)
            rc = r.conn()
            assert_eq(rc.call("GET", "bp:29999"), ("v29999" + "y" * 100).encode())
            assert_eq(rc.call("DBSIZE"), 30000)
            assert_true(wait_offsets_equal(master, r) >= off)


# ---------------------------------------------------------------------------
# a malformed stream from a master
# ---------------------------------------------------------------------------

def _read_command(f):
    """One RESP array of bulk strings from a file object (the replica's
    handshake commands)."""
    line = f.readline()
    if not line.startswith(b"*"):
        return None
    args = []
    for _ in range(int(line[1:])):
        n = int(f.readline()[1:])
        args.append(f.read(n + 2)[:-2])
    return args


def _enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


@test(timeout=120)
def a_malformed_master_stream_is_skipped_command_by_command():
    # A fake master answers the handshake with an empty RDB, then streams
    # commands with the wrong number of arguments (a handler used to read past
    # them: found by tests/fuzz/fuzz_apply), commands that are neither writes
    # nor replicated (AUTH, WATCH, CLIENT, a read: replay has no client to run
    # them with), an unknown one, and good writes between them. The replica
    # skips the bad ones, applies the rest, keeps its link and counts every
    # byte in its offset (the same offsets as its master).
    import socket as _socket
    lsock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    lsock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    mport = lsock.getsockname()[1]
    add_cleanup(lsock.close)
    stream = (_enc("SELECT", 0) + _enc("SET", "before", "1") + _enc("SINTERSTORE") + _enc("INCRBY")
              + _enc("SET", "half") + _enc("AUTH", "default", "pw") + _enc("WATCH", "before")
              + _enc("CLIENT", "SETNAME", "x") + _enc("KEYS", "*") + _enc("NOSUCHCOMMAND", "a")
              + _enc("MULTI") + _enc("LPOP") + _enc("SET", "intx", "2") + _enc("EXEC")
              + _enc("SET", "after", "3"))
    replid = b"f" * 40
    conns = []

    def master():
        try:
            c, _ = lsock.accept()
        except OSError:
            return
        conns.append(c)
        f = c.makefile("rb")
        while True:
            cmd = _read_command(f)
            if cmd is None:
                return
            name = cmd[0].upper()
            if name == b"PING":
                c.sendall(b"+PONG\r\n")
            elif name in (b"REPLCONF", b"AUTH"):
                c.sendall(b"+OK\r\n")
            elif name in (b"PSYNC", b"SYNC"):
                rdb = b"REDIS0010" + b"\xff" + b"\x00" * 8  # checksum 0: not checked
                c.sendall(b"+FULLRESYNC %s 0\r\n$%d\r\n%s" % (replid, len(rdb), rdb))
                c.sendall(stream)

    th = threading.Thread(target=master, daemon=True)
    th.start()
    r = CairnServer([("replicaof", ["127.0.0.1", mport])])
    try:
        c = r.conn()
        wait_until(lambda: c.call("GET", "after") == b"3", timeout=SYNC_TIMEOUT,
                   msg=lambda: log_tail(r, 3000))
        assert_eq([c.call("GET", k) for k in ("before", "intx", "half")], [b"1", b"2", None])
        assert_eq(c.call("DBSIZE"), 3)
        i = server_info(r)
        assert_eq(i.get("master_link_status"), "up")
        assert_eq(int(i["slave_repl_offset"]), len(stream))
        log = r.log_text()
        for name in ("sinterstore", "incrby", "set", "lpop"):
            assert_true("replay: wrong number of arguments (1) for '%s'" % name in log
                        or "replay: wrong number of arguments (2) for '%s'" % name in log, name)
        for name in ("AUTH", "WATCH", "CLIENT", "KEYS"):
            assert_true("replay: '%s' is neither a write nor replicated" % name in log, name)
        assert_true("replay: unknown command 'NOSUCHCOMMAND'" in log)
    finally:
        r.stop()
        r.cleanup()
        for k in conns:
            k.close()
        lsock.close()



def client_fields(line):
    return [kv.split("=", 1)[0] for kv in line.split()]


@test(timeout=120)
def the_master_link_is_a_client():
    """CLIENT LIST shows the link to the master as Redis shows its master
    client (flags=M, the master's address, the same fields in the same
    order as a real redis-server replica's line); TYPE master lists only
    it, ID finds it; CLIENT KILL TYPE master drops it and the replica
    resumes with a partial resync under a new id."""
    with RedisServer() as rm, RedisServer([("replicaof", ["127.0.0.1", rm.port])]) as rr:
        wait_link_up(rr, 30)
        rc, mc = rr.conn(), rm.conn()
        redis_line = rc.call("CLIENT", "LIST", "TYPE", "master").decode().strip()
        redis_counts = (info_field(mc, "connected_clients"), info_field(rc, "connected_clients"))
    with CairnServer() as master, CairnServer([("replicaof", ["127.0.0.1", master.port])]) as replica:
        master.conn().call("SET", "k", "v")
        wait_link_up(replica, 30)
        wait_offsets_equal(master, replica)
        c = replica.conn()
        line = c.call("CLIENT", "LIST", "TYPE", "master").decode().strip()
        assert_eq(len(line.splitlines()), 1, line)
        f = dict(kv.split("=", 1) for kv in line.split())
        assert_eq(f["flags"], "M")
        assert_eq(f["addr"], "127.0.0.1:%d" % master.port)
        assert_eq(client_fields(line), client_fields(redis_line), "fields against redis-server's:\n%s\n%s" %
                  (line, redis_line))
        assert_true(line in c.call("CLIENT", "LIST").decode())
        assert_eq(c.call("CLIENT", "LIST", "ID", f["id"]).decode().strip(), line)
        assert_eq(c.call("CLIENT", "LIST", "TYPE", "normal").decode().count("flags=M"), 0)
        # INFO's count as Redis's: the master's leaves its replica out, the replica's has its master in
        mconn = master.conn()
        assert_eq((info_field(mconn, "connected_clients"), info_field(c, "connected_clients")),
                  redis_counts)
        partial = int(server_info(master, "stats")["sync_partial_ok"])
        assert_eq(c.call("CLIENT", "KILL", "TYPE", "master"), 1)
        wait_until(lambda: int(server_info(master, "stats")["sync_partial_ok"]) == partial + 1, timeout=30,
                   msg=lambda: log_tail(replica))
        wait_link_up(replica, 30)
        master.conn().call("SET", "k", "after")
        wait_offsets_equal(master, replica)
        assert_eq(c.call("GET", "k"), b"after")
        line2 = c.call("CLIENT", "LIST", "TYPE", "master").decode().strip()
        assert_true(dict(kv.split("=", 1) for kv in line2.split())["id"] != f["id"], "a new id after the kill")
        assert_eq(c.call("CLIENT", "KILL", "ADDR", "127.0.0.1:%d" % master.port), 1)
        wait_link_up(replica, 30)
        assert_eq(int(server_info(master, "stats")["sync_full"]), 1, "never a full sync again")
    with CairnServer() as lone:
        assert_eq(lone.conn().call("CLIENT", "LIST", "TYPE", "master"), b"")


if __name__ == "__main__":
    run_tests()
