"""Replication, MASTER side: cairn (CAIRN_SERVER) is the master, a real
redis-server 7.0 (RedisServer) or a raw socket plays the replica.

Every test also passes with CAIRN_SERVER=/usr/bin/redis-server (the master is
then a real redis), which is how the tests themselves were validated:

    CAIRN_SERVER=/usr/bin/redis-server python3 tests/integration/test_replication_master.py

What is checked (see /work/shared/PROTOCOL.md sections 2, 3, 4, 5, 8):
  * a real replica full-syncs (strings in several dbs, TTLs, binary data, a
    1 MB value) and then follows live writes until its offset equals ours;
  * after the link is cut it comes back with a partial resync (+CONTINUE)
    and sync_partial_ok counts it;
  * INFO replication / ROLE on the master;
  * the handshake, FULLRESYNC + RDB payload framing, the stream, REPLCONF
    ACK/unknown options and +CONTINUE with the exact backlog bytes, by hand;
  * PSYNC with an out-of-range offset or an unknown replid gets FULLRESYNC;
  * replicas that vanish (FIN or RST) while their full sync is being
    prepared or sent do not hurt the master;
  * a restarted master still accepts the replica's PSYNC (cairn: same replid,
    on-disk backlog; redis, with `save`: the old replid as replid2).

Only string keys are written (cairn has only strings so far)."""
import os
import random
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *   # noqa: E402,F401

SYNC_TIMEOUT = 30          # seconds for a replica link to come up / catch up

# Lines a real redis 7.0 replica logs (replication.c), checked on redis 7.0.15.
LOG_PARTIAL_ACCEPTED = "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization."
LOG_PARTIAL_OK = "Successful partial resynchronization with master."
LOG_FULL_RESYNC = "Full resync from master"
LOG_FULL_DONE = "MASTER <-> REPLICA sync: Finished with success"


def master_is_redis():
    return os.path.basename(cairn_binary()).startswith("redis")


def master_config(diskless_delay=0):
    """Extra config for the master. A real redis master (harness validation)
    defaults to diskless sync with a 5 s delay for more replicas; drop the
    delay to keep the tests fast. cairn gets no extra directives."""
    if master_is_redis() and diskless_delay is not None:
        return {"repl-diskless-sync-delay": diskless_delay}
    return None


def start_replica(master):
    """A real redis-server replicating from `master` (disk load, so the
    payload goes through a temp RDB file like a default 7.0 replica)."""
    return RedisServer({"replicaof": ["127.0.0.1", master.port],
                        "repl-diskless-load": "disabled"})


# ---------------------------------------------------------------------------
# Dataset helpers
# ---------------------------------------------------------------------------

def load_initial_data(master, seed=1):
    """Strings in dbs 0, 3 and 15: plain, binary keys/values, numbers, some
    with TTLs (all far in the future), and one 1 MB value."""
    rnd = random.Random(seed)
    c = master.conn(timeout=30)
    n = 0
    try:
        for db in (0, 3, 15):
            assert_eq(c.call("SELECT", db), "OK")
            cmds = []
            for i in range(150):
                k = b"k:%d:%d" % (db, i)
                v = b"value-%d-%d" % (db, i)
                cmds.append(["SET", k, v])
            for i in range(40):
                k = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 30))) + b"\x00\xff%d" % i
                v = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200)))
                cmds.append(["SET", k, v])
            for i in range(30):
                cmds.append(["SET", b"ttl:%d:%d" % (db, i), b"t%d" % i, "EX", 1000 + 37 * i])
            for i in range(10):
                cmds.append(["SET", b"pttl:%d:%d" % (db, i), b"p%d" % i, "PX", 2000000 + i])
            for i in range(20):
                cmds.append(["SET", b"num:%d:%d" % (db, i), rnd.randrange(-10 ** 12, 10 ** 12)])
            cmds.append(["SET", b"empty:%d" % db, b""])
            for r in c.pipeline(cmds):
                assert_eq(r, "OK")
            n += len(cmds)
        assert_eq(c.call("SELECT", 3), "OK")
        big = bytes(rnd.randrange(256) for _ in range(4096)) * 256   # 1 MB
        assert_eq(c.call("SET", b"big\x00value", big), "OK")
        assert_eq(c.call("PEXPIRE", b"big\x00value", 5000000), 1)
        n += 1
    finally:
        c.close()
    return n


def random_writes(master, n=1000, seed=7):
    """n writes on the master: SET (some with EX/PX), DEL, INCR, EXPIRE,
    PERSIST, APPEND, spread over several dbs with SELECT in between."""
    rnd = random.Random(seed)
    c = master.conn(timeout=30)
    dbs = [0, 3, 15, 7]
    cur = None
    try:
        cmds = []
        for i in range(n):
            if cur is None or rnd.random() < 0.08:
                cur = rnd.choice(dbs)
                cmds.append(["SELECT", cur])
                continue
            key = b"w:%d" % rnd.randrange(60) if rnd.random() < 0.8 else b"k:%d:%d" % (cur, rnd.randrange(150))
            op = rnd.random()
            if op < 0.30:
                v = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
                cmd = ["SET", key, v]
                r2 = rnd.random()
                if r2 < 0.2:
                    cmd += ["EX", rnd.randrange(1000, 100000)]
                elif r2 < 0.3:
                    cmd += ["PX", rnd.randrange(1000000, 100000000)]
                cmds.append(cmd)
            elif op < 0.45:
                cmds.append(["DEL", key])
            elif op < 0.65:
                cmds.append(["INCR", b"ctr:%d" % rnd.randrange(20)])
            elif op < 0.72:
                cmds.append(["INCRBY", b"ctr:%d" % rnd.randrange(20), rnd.randrange(-1000, 1000)])
            elif op < 0.85:
                cmds.append(["EXPIRE", key, rnd.randrange(1000, 100000)])
            elif op < 0.88:
                cmds.append(["PERSIST", key])
            elif op < 0.90:
                cmds.append(["EXPIRE", b"w:%d" % rnd.randrange(60), 0])     # deletes (past time)
            else:
                cmds.append(["APPEND", key, b"+%d" % i])
        for lo in range(0, len(cmds), 100):
            for r in c.pipeline(cmds[lo:lo + 100]):
                assert_true(not is_error(r) or "not an integer" in r,
                            "write failed on the master: %r" % (r,))
        return len(cmds)
    finally:
        c.close()


def replica_log_counts(replica):
    t = replica.log_text()
    return {"full": t.count(LOG_FULL_RESYNC), "full_done": t.count(LOG_FULL_DONE),
            "partial_accepted": t.count(LOG_PARTIAL_ACCEPTED),
            "partial_ok": t.count(LOG_PARTIAL_OK)}


PARTIAL_REQUEST_RE = re.compile(r"Trying a partial resynchronization \(request ([0-9a-f]{40}):(\d+)\)")


def partial_requests(replica):
    """[(replid, offset)] of every PSYNC the replica logged."""
    return [(m.group(1), int(m.group(2))) for m in PARTIAL_REQUEST_RE.finditer(replica.log_text())]


def stats(conn):
    i = info(conn, "stats")
    for k in ("sync_full", "sync_partial_ok", "sync_partial_err"):
        assert_true(k in i, "INFO stats has no %s field" % k)
    return {k: int(i[k]) for k in ("sync_full", "sync_partial_ok", "sync_partial_err")}


# ---------------------------------------------------------------------------
# Raw replica
# ---------------------------------------------------------------------------

class RawReplica(object):
    """A socket that plays a replica by hand."""

    def __init__(self, port, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, *args):
        self.sock.sendall(encode_command(*args))

    def _fill(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        d = self.sock.recv(1 << 16)
        if not d:
            raise ConnectionError("master closed the replication connection")
        self.buf += d

    def readline(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line[:-1] if line.endswith(b"\r") else line

    def read_line_skip_keepalives(self, deadline_s=30):
        """The next non-empty line; bare '\\n' keepalives are skipped."""
        end = time.time() + deadline_s
        while time.time() < end:
            line = self.readline()
            if line != b"":
                return line
        raise AssertionError("only keepalives for %ss" % deadline_s)

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read_payload(self):
        """Reads the `$<len>` or `$EOF:<mark>` framed RDB; returns
        (rdb_bytes, framing). Bytes after it stay in self.buf."""
        hdr = self.read_line_skip_keepalives()
        assert_true(hdr.startswith(b"$"), "bulk header expected, got %r" % (hdr[:80],))
        if hdr.startswith(b"$EOF:"):
            mark = hdr[5:]
            assert_eq(len(mark), 40, "EOF mark length")
            while True:
                i = self.buf.find(mark)
                if i >= 0:
                    rdb, self.buf = self.buf[:i], self.buf[i + 40:]
                    return rdb, "eof"
                self._fill()
        n = int(hdr[1:])
        return self.read_exact(n), "len"

    def pending(self, wait):
        """Reads whatever arrives within `wait` seconds into buf."""
        end = time.time() + wait
        while True:
            left = end - time.time()
            if left <= 0:
                return
            try:
                self._fill(timeout=left)
            except socket.timeout:
                return
            finally:
                self.sock.settimeout(20)

    def read_at_least(self, n, timeout=10):
        end = time.time() + timeout
        while len(self.buf) < n:
            left = end - time.time()
            if left <= 0:
                raise AssertionError("expected %d stream bytes, got %d: %r" % (n, len(self.buf), self.buf[-200:]))
            try:
                self._fill(timeout=left)
            except socket.timeout:
                pass
            finally:
                self.sock.settimeout(20)


def parse_stream(data):
    """Parses a replication stream (RESP multibulk commands) into a list of
    argument lists. Fails on anything else (a reply, a stray '\\n')."""
    cmds, pos = [], 0
    while pos < len(data):
        assert_true(data[pos:pos + 1] == b"*", "stream: expected '*' at %d, got %r" % (pos, data[pos:pos + 40]))
        e = data.index(b"\r\n", pos)
        n = int(data[pos + 1:e])
        pos = e + 2
        args = []
        for _ in range(n):
            assert_true(data[pos:pos + 1] == b"$", "stream: expected '$' at %d: %r" % (pos, data[pos:pos + 40]))
            e = data.index(b"\r\n", pos)
            ln = int(data[pos + 1:e])
            args.append(data[e + 2:e + 2 + ln])
            assert_eq(data[e + 2 + ln:e + 4 + ln], b"\r\n", "stream: bulk terminator")
            pos = e + 4 + ln
        cmds.append(args)
    return cmds


def without_pings(cmds):
    return [c for c in cmds if not (len(c) == 1 and c[0].upper() == b"PING")]


FULLRESYNC_RE = re.compile(rb"^\+FULLRESYNC ([0-9a-f]{40}) (\d+)$")


def raw_handshake(r, port=1234):
    r.send("PING")
    assert_eq(r.readline(), b"+PONG")
    # pipelined, like a real 7.0 replica
    r.sock.sendall(encode_command("REPLCONF", "listening-port", port)
                   + encode_command("REPLCONF", "capa", "eof", "capa", "psync2"))
    assert_eq(r.readline(), b"+OK", "REPLCONF listening-port")
    assert_eq(r.readline(), b"+OK", "REPLCONF capa")


def raw_full_sync(port, listening_port=1234):
    """Connects, handshakes, PSYNC ? -1; returns (RawReplica, replid, offset,
    rdb, framing)."""
    r = RawReplica(port)
    try:
        raw_handshake(r, listening_port)
        r.send("PSYNC", "?", "-1")
        line = r.read_line_skip_keepalives()
        m = FULLRESYNC_RE.match(line)
        assert_true(m, "PSYNC ? -1 reply: %r" % (line,))
        rdb, framing = r.read_payload()
        assert_true(rdb.startswith(b"REDIS0010"), "RDB payload starts with %r" % (rdb[:16],))
        return r, m.group(1).decode(), int(m.group(2)), rdb, framing
    except BaseException:
        r.close()
        raise


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

@test(timeout=120)
def real_redis_replica_full_sync():
    with CairnServer(master_config()) as master:
        load_initial_data(master)
        with start_replica(master) as replica:
            wait_link_up(replica)
            wait_offsets_equal(master, replica)
            snap = assert_same_strings(master, replica)
            assert_eq(sorted(snap.keys()), [0, 3, 15])
            assert_true(len(snap[3][b"big\x00value"][0]) == 1 << 20, "1 MB value")
            assert_true(snap[3][b"big\x00value"][1] > 4000000, "1 MB value has its TTL")
            lc = replica_log_counts(replica)
            assert_eq(lc["full_done"], 1, "replica log: one completed full sync")


@test(timeout=120)
def live_writes_follow():
    with CairnServer(master_config()) as master:
        load_initial_data(master, seed=2)
        with start_replica(master) as replica:
            wait_link_up(replica)
            # the last writes before the sync were in db 3 (load_initial_data);
            # the first ones after it go to db 3 and db 15: each must land in
            # its own db on the replica, whatever repl-stream-db / SELECT say
            c = master.conn()
            try:
                assert_eq(c.call("SELECT", 3), "OK")
                assert_eq(c.call("SET", "first-after-sync", "in-db-3"), "OK")
                assert_eq(c.call("SELECT", 15), "OK")
                assert_eq(c.call("SET", "second-after-sync", "in-db-15"), "OK")
            finally:
                c.close()
            wait_offsets_equal(master, replica)
            rc = replica.conn()
            try:
                assert_eq(rc.call("SELECT", 3), "OK")
                assert_eq(rc.call("GET", "first-after-sync"), b"in-db-3")
                assert_eq(rc.call("SELECT", 15), "OK")
                assert_eq(rc.call("GET", "second-after-sync"), b"in-db-15")
            finally:
                rc.close()
            random_writes(master, 1000, seed=11)
            off = wait_offsets_equal(master, replica)
            assert_true(off > 0, "master_repl_offset advanced")
            snap = assert_same_strings(master, replica)
            assert_true(7 in snap, "writes to db 7 arrived")
            # a second round, db switches included, still follows
            random_writes(master, 300, seed=12)
            wait_offsets_equal(master, replica)
            assert_same_strings(master, replica)
            assert_eq(replica_log_counts(replica)["full_done"], 1, "no second full sync")


@test(timeout=120)
def partial_resync_after_link_cut():
    with CairnServer(master_config()) as master:
        load_initial_data(master, seed=3)
        with start_replica(master) as replica:
            wait_link_up(replica)
            random_writes(master, 200, seed=21)
            wait_offsets_equal(master, replica)
            mc = master.conn()
            try:
                before = stats(mc)
                assert_eq(before["sync_full"], 1, "sync_full after the first sync")
                lc0 = replica_log_counts(replica)
                assert_eq(lc0["partial_ok"], 0)
                off0 = int(info(mc, "replication")["master_repl_offset"])
                # the kill and 100 writes in one pipeline: the writes are done
                # before the replica can reconnect, so +CONTINUE must be
                # followed by backlog bytes
                rep = mc.pipeline([["CLIENT", "KILL", "TYPE", "replica"]]
                                  + [["SET", b"gap:%d" % i, b"v%d" % i] for i in range(100)])
                assert_eq(rep[0], 1, "CLIENT KILL TYPE replica")
                assert_true(all(x == "OK" for x in rep[1:]), "writes after the kill")
                off1 = int(info(mc, "replication")["master_repl_offset"])
                # more writes while the link is being re-established
                random_writes(master, 300, seed=22)
                wait_until(lambda: replica_log_counts(replica)["partial_ok"] == 1,
                     timeout=SYNC_TIMEOUT, interval=0.1,
                     msg=lambda: "no partial resync in the replica log\n" + replica.log_text()[-4000:])
                wait_link_up(replica)
                lc = replica_log_counts(replica)
                assert_eq(lc["partial_accepted"], 1, "replica log: master accepted a partial resync")
                req = partial_requests(replica)
                assert_eq(len(req), 1, "replica log: one partial resync request")
                assert_eq(req[0][0], info(mc, "replication")["master_replid"], "PSYNC replid")
                # the writes pipelined after the kill can only have reached the
                # replica through the backlog after +CONTINUE
                assert_true(off0 < req[0][1] < off1,
                            "the replica asked for offset %d; the master was at %d before the kill and %d after "
                            "100 writes pipelined behind it (a killed replica must not get them)"
                            % (req[0][1], off0, off1))
                assert_eq(lc["full"], lc0["full"], "replica log: no second full resync")
                assert_eq(lc["full_done"], 1, "replica log: no second full sync")
                wait_offsets_equal(master, replica)
                after = stats(mc)
                assert_eq(after["sync_partial_ok"], before["sync_partial_ok"] + 1, "sync_partial_ok")
                assert_eq(after["sync_full"], before["sync_full"], "sync_full")
                assert_eq(after["sync_partial_err"], before["sync_partial_err"], "sync_partial_err")
                # the alias `slave` works too
                assert_eq(mc.call("CLIENT", "KILL", "TYPE", "slave"), 1, "CLIENT KILL TYPE slave")
                random_writes(master, 100, seed=23)
                wait_until(lambda: replica_log_counts(replica)["partial_ok"] == 2,
                     timeout=SYNC_TIMEOUT, interval=0.1,
                     msg=lambda: "no second partial resync\n" + replica.log_text()[-4000:])
                wait_offsets_equal(master, replica)
                assert_eq(stats(mc)["sync_partial_ok"], before["sync_partial_ok"] + 2)
            finally:
                mc.close()
            assert_same_strings(master, replica)
            assert_eq(replica_log_counts(replica)["full_done"], 1, "still only one full sync")


@test(timeout=120)
def info_and_role_on_master():
    with CairnServer(master_config()) as master:
        mc = master.conn()
        try:
            i = info(mc, "replication")
            assert_eq(i.get("role"), "master")
            assert_eq(i.get("connected_slaves"), "0")
            assert_eq(mc.call("ROLE")[0], b"master")
            assert_eq(mc.call("ROLE")[2], [])
            assert_eq(mc.call("SET", "a", "1"), "OK")
            with start_replica(master) as replica:
                wait_link_up(replica)
                wait_until(lambda: "state=online" in info(mc, "replication").get("slave0", ""),
                     timeout=SYNC_TIMEOUT, interval=0.1, msg="slave0 not online")
                assert_eq(mc.call("SET", "b", "2"), "OK")
                off = wait_offsets_equal(master, replica)
                # wait for an ACK that covers the SET (the replica ACKs every second)
                def acked():
                    m = re.search(r",offset=(\d+),", info(mc, "replication").get("slave0", ""))
                    return m is not None and int(m.group(1)) >= off
                wait_until(acked, timeout=10, msg="ACK offset did not reach %d" % off)
                i = info(mc, "replication")
                assert_eq(i.get("role"), "master")
                assert_eq(i.get("connected_slaves"), "1")
                m = re.match(r"^ip=127\.0\.0\.1,port=(\d+),state=online,offset=(\d+),lag=(\d+)$", i.get("slave0", ""))
                assert_true(m, "slave0 line: %r" % (i.get("slave0"),))
                assert_eq(int(m.group(1)), replica.port, "slave0 port = the replica's listening port")
                ack = int(m.group(2))
                mro = int(i["master_repl_offset"])
                assert_true(off <= ack <= mro, "ack offset %d within [%d, %d]" % (ack, off, mro))
                assert_true(int(m.group(3)) <= 5, "lag %s" % m.group(3))
                assert_true(re.match(r"^[0-9a-f]{40}$", i.get("master_replid", "")),
                            "master_replid %r" % (i.get("master_replid"),))
                assert_true(re.match(r"^[0-9a-f]{40}$", i.get("master_replid2", "")),
                            "master_replid2 %r" % (i.get("master_replid2"),))
                assert_eq(i.get("repl_backlog_active"), "1")
                first = int(i["repl_backlog_first_byte_offset"])
                hist = int(i["repl_backlog_histlen"])
                assert_true(first >= 1 and hist >= 0, "backlog first=%d histlen=%d" % (first, hist))
                assert_eq(first + hist - 1, mro, "backlog ends at master_repl_offset")
                assert_true(int(i["repl_backlog_size"]) > 0, "repl_backlog_size")
                assert_true(int(i["second_repl_offset"]) >= -1, "second_repl_offset")
                # the replica reports the same replid and offset
                rc = replica.conn()
                try:
                    ri = info(rc, "replication")
                finally:
                    rc.close()
                assert_eq(ri["master_replid"], i["master_replid"], "replica's replid = master's")
                # ROLE
                role = mc.call("ROLE")
                assert_true(isinstance(role, list) and len(role) == 3, "ROLE %r" % (role,))
                assert_eq(role[0], b"master")
                assert_true(type(role[1]) is int and role[1] >= off, "ROLE offset %r" % (role[1],))
                assert_true(isinstance(role[2], list) and len(role[2]) == 1, "ROLE replicas %r" % (role[2],))
                rep = role[2][0]
                assert_eq(len(rep), 3)
                assert_eq(rep[0], b"127.0.0.1")
                assert_eq(rep[1], str(replica.port).encode())
                assert_true(isinstance(rep[2], bytes) and rep[2].isdigit() and int(rep[2]) >= off,
                            "ROLE replica offset %r (>= %d)" % (rep[2], off))
            # replica gone: connected_slaves drops back to 0
            wait_until(lambda: info(mc, "replication").get("connected_slaves") == "0",
                 timeout=10, interval=0.1, msg="connected_slaves did not drop to 0")
            assert_eq(mc.call("ROLE")[2], [])
        finally:
            mc.close()


@test(timeout=120)
def handshake_by_hand():
    # A real redis master keeps its default 5 s diskless delay here, so the
    # keepalive skipping and the $EOF: framing are exercised against it.
    with CairnServer(master_config(diskless_delay=None)) as master:
        mc = master.conn()
        r = r2 = None
        try:
            assert_eq(mc.call("SET", "before", "x"), "OK")
            r, replid, off, rdb, framing = raw_full_sync(master.port, 1234)
            assert_true(len(rdb) > 9, "RDB payload length %d" % len(rdb))
            # ACK the snapshot like a real replica (a master using $EOF: starts the
            # stream only after the first ACK). No reply may come back.
            r.send("REPLCONF", "ACK", off)
            r.pending(0.5)
            assert_true(not r.buf.startswith((b"+", b"-", b":")), "REPLCONF ACK got a reply: %r" % (r.buf[:80],))
            # a write on the master shows up on the stream
            assert_eq(mc.call("SET", "k", "v"), "OK")
            want = [[b"SELECT", b"0"], [b"SET", b"k", b"v"]]

            last_ack = [time.time()]

            def got_stream():
                # like a real replica, ACK once in a while: a master using $EOF:
                # may ignore an ACK that arrives before it marks us online
                if time.time() - last_ack[0] > 0.5:
                    r.send("REPLCONF", "ACK", off)
                    last_ack[0] = time.time()
                r.pending(0.1)
                try:
                    cmds = without_pings(parse_stream(r.buf))
                except (ValueError, IndexError, AssertionError):
                    return None    # incomplete
                return cmds if any(c[0].upper() == b"SET" for c in cmds) else None
            cmds = wait_until(got_stream, timeout=10, interval=0.01,
                        msg=lambda: "SELECT + SET did not arrive on the stream: %r" % (r.buf[:200],))
            cmds = [[c[0].upper()] + c[1:] for c in cmds]
            assert_eq(cmds, want, "stream after SET k v (a SELECT must come first after a FULLRESYNC)")
            stream1 = r.buf
            # the master's own view of the offset covers it
            mro = int(info(mc, "replication")["master_repl_offset"])
            assert_true(mro >= off + len(stream1), "master_repl_offset %d >= %d + %d" % (mro, off, len(stream1)))
            # ACK again with the new offset: no reply; the master records it
            ack = off + len(stream1)
            r.send("REPLCONF", "ACK", ack)
            r.pending(0.5)
            tail = r.buf[len(stream1):]
            assert_true(not tail.startswith((b"+", b"-", b":")), "REPLCONF ACK got a reply: %r" % (tail[:80],))
            parse_stream(r.buf)      # only commands (pings) after it
            slave0 = "ip=127.0.0.1,port=1234,state=online,offset=%d," % ack
            wait_until(lambda: info(mc, "replication").get("slave0", "").startswith(slave0),
                 timeout=5, interval=0.05,
                 msg=lambda: "slave0 line %r, expected %r..." % (info(mc, "replication").get("slave0"), slave0))
            # unknown REPLCONF option (on a normal connection: a replica that
            # generates a reply gets disconnected by a real master)
            assert_eq(mc.call("REPLCONF", "foo", "bar"), Error("ERR Unrecognized REPLCONF option: foo"))
            assert_eq(mc.call("REPLCONF", "listening-port", 4321), "OK")
            # second raw replica: partial resync from just after the FULLRESYNC offset
            r2 = RawReplica(master.port)
            raw_handshake(r2, 1235)
            r2.send("PSYNC", replid, off + 1)
            line = r2.read_line_skip_keepalives()
            assert_eq(line, b"+CONTINUE " + replid.encode(), "PSYNC <replid> <offset+1>")
            # both must now hold exactly the stream bytes (off, master_repl_offset]
            mro = int(info(mc, "replication")["master_repl_offset"])
            n = mro - off
            r.read_at_least(n)
            r2.read_at_least(n)
            assert_true(n >= len(stream1), "backlog has at least the bytes replica 1 received")
            assert_eq(r2.buf[:n], r.buf[:n], "+CONTINUE stream vs what replica 1 received")
            assert_eq(r2.buf[:len(stream1)], stream1)
            # and both keep receiving the same new writes
            assert_eq(mc.call("SELECT", 5), "OK")
            assert_eq(mc.call("SET", "k5", "v5"), "OK")
            mro2 = int(info(mc, "replication")["master_repl_offset"])
            r.read_at_least(mro2 - off)
            r2.read_at_least(mro2 - off)
            assert_eq(r2.buf[:mro2 - off], r.buf[:mro2 - off], "new writes on both raw replicas")
            tail = [[c[0].upper()] + c[1:] for c in without_pings(parse_stream(r.buf[:mro2 - off]))]
            assert_eq(tail[-2:], [[b"SELECT", b"5"], [b"SET", b"k5", b"v5"]])
            assert_eq(info(mc, "replication").get("connected_slaves"), "2")
        finally:
            for x in (r, r2):
                if x is not None:
                    x.close()
            mc.close()


@test(timeout=120)
def psync_out_of_range_gets_full_sync():
    with CairnServer(master_config()) as master:
        mc = master.conn()
        conns = []
        try:
            assert_eq(mc.call("SET", "a", "1"), "OK")
            # a first replica creates the backlog and the replid
            r, replid, off, _, _ = raw_full_sync(master.port, 1111)
            conns.append(r)
            r.send("REPLCONF", "ACK", off)
            assert_eq(mc.call("SET", "b", "2"), "OK")
            i = info(mc, "replication")
            assert_eq(i["master_replid"], replid)
            mro = int(i["master_repl_offset"])
            assert_true(mro > off, "offset advanced after a write")
            before = stats(mc)
            cases = [(replid, 999999999, "offset far in the future"),
                     (replid, mro + 2, "offset just past the end"),
                     ("0123456789abcdef0123456789abcdef01234567", 1, "unknown replid"),
                     ("?", -1, "? -1")]
            for i_, (rid, roff, what) in enumerate(cases):
                x = RawReplica(master.port)
                conns.append(x)
                raw_handshake(x, 2000 + i_)
                x.send("PSYNC", rid, roff)
                line = x.read_line_skip_keepalives()
                m = FULLRESYNC_RE.match(line)
                assert_true(m, "PSYNC %s %s (%s): %r" % (rid, roff, what, line))
                assert_eq(m.group(1).decode(), replid, "FULLRESYNC keeps the current replid (%s)" % what)
                assert_true(int(m.group(2)) >= mro, "FULLRESYNC offset (%s)" % what)
                x.close()
            after = stats(mc)
            assert_eq(after["sync_full"], before["sync_full"] + len(cases), "sync_full")
            # 3 rejected partial requests (`?` is not a partial request)
            assert_eq(after["sync_partial_err"], before["sync_partial_err"] + 3, "sync_partial_err")
            assert_eq(after["sync_partial_ok"], before["sync_partial_ok"])
            # positive control: the end of the backlog is still accepted
            x = RawReplica(master.port)
            conns.append(x)
            raw_handshake(x, 2100)
            mro = int(info(mc, "replication")["master_repl_offset"])
            x.send("PSYNC", replid.upper(), mro + 1)
            line = x.read_line_skip_keepalives()
            assert_eq(line, b"+CONTINUE " + replid.encode(), "PSYNC <REPLID> <master_repl_offset+1>")
            assert_eq(stats(mc)["sync_partial_ok"], before["sync_partial_ok"] + 1)
        finally:
            for x in conns:
                x.close()
            mc.close()


@test(timeout=120)
def replica_disconnects_during_full_sync():
    """Raw replicas that go away while their snapshot is being prepared or
    sent (closed, or reset with SO_LINGER 0): the master survives (no crash,
    no sanitizer report at shutdown) and a real replica still syncs."""
    with CairnServer(master_config()) as master:
        mc = master.conn()
        try:
            assert_eq(mc.call("SET", "small", "dataset"), "OK")
            for i in range(160):
                if i == 120:
                    # first a tiny RDB (written in one go), then a 1 MB one
                    load_initial_data(master, seed=9)
                r = RawReplica(master.port)
                try:
                    raw_handshake(r, 3000 + i)
                    r.send("PSYNC", "?", "-1")
                    # 0: close at once or after 1-4 ms (FIN: the master's first
                    #    writes still succeed, a later one fails)
                    # 1: read +FULLRESYNC, then close
                    # 2: read +FULLRESYNC and maybe part of the payload, then reset
                    # 3: reset at once
                    mode = (0, 0, 1, 0, 0, 2, 0, 0, 3)[i % 9]
                    if mode == 0 and i % 5:
                        time.sleep(0.001 * (i % 5))
                    if mode in (1, 2):
                        line = r.read_line_skip_keepalives()
                        assert_true(FULLRESYNC_RE.match(line), "PSYNC ? -1 reply: %r" % (line,))
                    if mode == 2:
                        r.pending(0.02)
                    if mode in (2, 3):
                        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                finally:
                    r.close()
                # the master keeps serving clients
                assert_eq(mc.call("SET", b"between:%d" % i, i), "OK")
        finally:
            mc.close()
        time.sleep(0.5)
        mc = master.conn()
        try:
            assert_eq(mc.call("PING"), "PONG")
            assert_eq(mc.call("SET", "after", "drops"), "OK")
            wait_until(lambda: info(mc, "replication").get("connected_slaves") == "0", timeout=10,
                 msg=lambda: "dropped replicas still counted: %r" % (info(mc, "replication"),))
        finally:
            mc.close()
        with start_replica(master) as replica:
            wait_link_up(replica)
            wait_offsets_equal(master, replica)
            assert_same_strings(master, replica)


@test(timeout=180)
def master_restart_replica_continues():
    # cairn keeps its replid/offset and the backlog on disk. A real redis 7.0
    # master only manages this through the RDB it writes at SHUTDOWN (repl-id
    # / repl-offset aux fields, restored as replid2): so for the harness
    # validation run give it `save`, and the test passes there too.
    cfg = master_config() or {}
    if master_is_redis():
        cfg["save"] = "3600 1"
        print("  note: master_restart_replica_continues: the master is %s; running it with "
              "save 3600 1 (redis restores replid2 from its RDB)" % cairn_binary())
    with CairnServer(cfg or None) as master:
        load_initial_data(master, seed=5)
        with start_replica(master) as replica:
            wait_link_up(replica)
            random_writes(master, 300, seed=31)
            off = wait_offsets_equal(master, replica)
            mc = master.conn()
            try:
                replid = info(mc, "replication")["master_replid"]
            finally:
                mc.close()
            lc0 = replica_log_counts(replica)
            master.restart()
            mc = master.conn()
            try:
                i = info(mc, "replication")
                # either the same history, or (what redis does) a new replid
                # with the old one kept as replid2 valid past our offset
                same = i["master_replid"] == replid
                shifted = (i["master_replid2"] == replid and int(i["second_repl_offset"]) >= off + 1)
                assert_true(same or shifted,
                            "after the restart neither master_replid nor master_replid2 is the old replid %s "
                            "(valid up to %d): %r" % (replid, off + 1, i))
                assert_true(int(i["master_repl_offset"]) >= off, "offset survives the restart")
            finally:
                mc.close()
            random_writes(master, 300, seed=32)
            wait_until(lambda: replica_log_counts(replica)["partial_ok"] == lc0["partial_ok"] + 1,
                 timeout=SYNC_TIMEOUT, interval=0.1,
                 msg=lambda: "replica did not resume with a partial resync\n" + replica.log_text()[-4000:])
            wait_offsets_equal(master, replica)
            req = partial_requests(replica)
            assert_true(req and req[-1][0] == replid and req[-1][1] >= off + 1,
                        "the replica's last PSYNC %r should be for %s from %d on" % (req[-1:], replid, off + 1))
            lc = replica_log_counts(replica)
            assert_eq(lc["full"], lc0["full"], "no second full resync after the master restart")
            assert_eq(lc["full_done"], 1)
            mc = master.conn()
            try:
                st = stats(mc)
                assert_eq(st["sync_partial_ok"], 1, "sync_partial_ok after the restart")
            finally:
                mc.close()
            assert_same_strings(master, replica)


@test(timeout=120)
def min_replicas_to_write_and_wait():
    with CairnServer(master_config()) as master:
        m = master.conn()
        assert_eq(m.call("CONFIG", "SET", "min-replicas-to-write", "1"), "OK")
        assert_error(m.call("SET", "k", "v"), "NOREPLICAS Not enough good replicas to write.")
        assert_eq(m.call("GET", "k"), None)            # reads are fine
        assert_eq(m.call("WAIT", "0", "0"), 0)
        replica = start_replica(master)
        try:
            wait_link_up(replica)
            wait_until(lambda: m.call("SET", "k", "v") == "OK", msg="writes allowed once a replica is online")
            t0 = time.time()
            assert_eq(m.call("WAIT", "1", "5000"), 1)
            assert_true(time.time() - t0 < 4, "WAIT 1 returned only at the timeout")
            t0 = time.time()
            assert_eq(m.call("WAIT", "2", "300"), 1)     # only one replica: the timeout answers
            assert_true(time.time() - t0 >= 0.25)
            assert_error(m.call("WAIT", "x", "0"), "ERR value is not an integer or out of range")
            assert_error(m.call("WAIT", "1", "-1"), "ERR timeout is negative")
        finally:
            replica.stop()
        wait_until(lambda: is_error(m.call("SET", "k2", "v")), timeout=20,
             msg="writes refused again once the replica is gone")


if __name__ == "__main__":
    run_tests()
