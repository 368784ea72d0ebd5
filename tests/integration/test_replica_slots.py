"""Replica slots, the resume horizon and the cost-based resync
(docs/REPLICATION.md "Replica slots").

A replica's slot pins its acknowledged offset in the master's backlog: it
survives the replica's absence and the master's restart, and keeps what
retention would otherwise drop, up to backlog-max-bytes and
repl-slot-max-age. Tested with cairn replicas, a real redis-server replica
and a raw socket (REPLCONF slot-name)."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403

SYNC_TIMEOUT = 60
PARTIAL_OK = "Partial resynchronization request from 127.0.0.1:%d accepted"
# retention would keep ~2 MB of stream: a replica that misses more needs its slot
SMALL_BACKLOG = {"backlog-segment-size": "1mb", "backlog-retention-bytes": "2mb", "backlog-retention-seconds": 0}


def replica_cfg(master, extra=None):
    cfg = [("replicaof", ["127.0.0.1", master.port])]
    return cfg + list((extra or {}).items())


def repl(server):
    return server_info(server, "replication")


def slot_of(server, replica_port):
    i = repl(server)
    for k, v in i.items():
        if k.startswith("repl_slot") and k[len("repl_slot"):].isdigit() and \
                ("name=127.0.0.1:%d," % replica_port) in v:
            return dict(kv.split("=", 1) for kv in v.split(","))
    return None


def write_stream(server, nbytes, prefix="w", value_size=4000):
    """About nbytes of stream: SETs of random (incompressible) values over 256
    keys."""
    c = server.conn()
    try:
        n = max(1, nbytes // (value_size + 40))
        for base in range(0, n, 200):
            cmds = [("SET", "%s:%d" % (prefix, i % 256), os.urandom(value_size))
                    for i in range(base, min(n, base + 200))]
            replies = c.pipeline(cmds)
            assert_true(all(r == "OK" for r in replies), "a SET failed: %r" % [r for r in replies if r != "OK"][:2])
    finally:
        c.close()


def backlog_first(server):
    return int(repl(server)["repl_backlog_first_byte_offset"])


def wait_first_past(server, offset, timeout=20):
    """Waits until retention dropped the backlog up to past offset (or
    fails): proves the slot, not retention, is what keeps a replica's data."""
    wait_until(lambda: backlog_first(server) > offset, timeout=timeout,
               msg=lambda: "retention kept offset %d: first %d" % (offset, backlog_first(server)))


def outage_held_by_slot(master, off, nbytes, prefix):
    """Writes nbytes while the replica (acknowledged up to off) is away and
    waits until retention has run on them (it dropped what came before the
    slot's offset): the backlog must still hold off + 1."""
    before = backlog_first(master)
    write_stream(master, nbytes, prefix)
    wait_until(lambda: backlog_first(master) > before, timeout=20,
               msg=lambda: "retention dropped nothing after the outage (first %d)" % backlog_first(master))
    time.sleep(1.2)  # one more retention round
    assert_true(backlog_first(master) <= off + 1,
                "the backlog dropped what the slot needs (first %d, slot at %d)" % (backlog_first(master), off))


def assert_same_keys(master, replica, *keys):
    rc, mc = replica.conn(), master.conn()
    try:
        for k in keys:
            v = mc.call("GET", k)
            assert_true(v is not None, "key %s missing on the master" % k)
            assert_eq(rc.call("GET", k), v, "key %s" % k)
    finally:
        rc.close()
        mc.close()


def stat(server, name):
    return int(server_info(server, "stats")[name])


@test(timeout=240)
def slot_keeps_the_backlog_across_replica_and_master_restarts():
    with CairnServer(SMALL_BACKLOG) as master:
        write_stream(master, 200_000, "pre")
        replica = CairnServer(replica_cfg(master))
        try:
            wait_link_up(replica, SYNC_TIMEOUT)
            write_stream(master, 3_000_000, "live")  # sealed segments before the replica's offset
            off = wait_offsets_equal(master, replica)
            wait_until(lambda: int((slot_of(master, replica.port) or {}).get("offset", -1)) >= off, timeout=10,
                       msg=lambda: "the slot does not follow the replica's ACKs: %r" % repl(master))
            replica.stop()
            wait_until(lambda: (slot_of(master, replica.port) or {}).get("connected") == "0", timeout=10)
            # far more than retention keeps, and a master restart (kill -9) in the middle
            outage_held_by_slot(master, off, 4_000_000, "away1")
            master.restart(kill=True)
            s = slot_of(master, replica.port)
            assert_true(s is not None, "the slot did not survive the master's restart: %r" % repl(master))
            assert_eq(s["connected"], "0")
            write_stream(master, 3_000_000, "away2")
            time.sleep(1.5)  # retention rounds after the restart
            assert_true(backlog_first(master) <= off + 1, "after the restart the backlog dropped what the slot "
                        "needs (first %d, slot at %d)" % (backlog_first(master), off))
            # the tool shows what the slot pins
            out = subprocess.run([os.path.join(os.environ.get("CAIRN_BUILD_DIR", ""), "cairn-backlog"), "ls",
                                  os.path.join(master.dir, "backlog")], capture_output=True, text=True, timeout=60)
            assert_true(re.search(r"slot:127\.0\.0\.1:%d needs offset %d and later, last seen .*: pins \d+ segment"
                                  % (replica.port, off + 1), out.stdout),
                        "cairn-backlog ls does not show the slot's pin:\n" + out.stdout + out.stderr)
            partial0 = stat(master, "sync_partial_ok")
            replica.start(keep_port=True)
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            assert_eq(stat(master, "sync_partial_ok"), partial0 + 1, "the replica did not resume with +CONTINUE")
            assert_eq(stat(master, "sync_full"), 0, "a full sync happened")
            assert_same_keys(master, replica, "away1:7", "away2:255", "pre:3")
        finally:
            replica.stop(check=False)
            replica.cleanup()


@test(timeout=240)
def without_its_slot_a_replica_needs_a_full_sync():
    """The same outage after REPLICASLOT DROP: retention drops the replica's
    offset and it gets a full sync. DROP refuses a connected replica's slot."""
    with CairnServer(SMALL_BACKLOG) as master:
        with CairnServer(replica_cfg(master)) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            off = wait_offsets_equal(master, replica)
            name = "127.0.0.1:%d" % replica.port
            mc = master.conn()
            try:
                assert_error_text(mc.call("REPLICASLOT", "DROP", name),
                                  "ERR Replica slot '%s' is in use by a connected replica (CLIENT KILL TYPE replica first)" % name)
                assert_error_text(mc.call("REPLICASLOT", "DROP", "nope"), "ERR No such replica slot 'nope'")
            finally:
                mc.close()
            replica.stop()
            wait_until(lambda: (slot_of(master, replica.port) or {}).get("connected") == "0", timeout=10)
            mc = master.conn()
            try:
                assert_eq(mc.call("REPLICASLOT", "DROP", name), "OK")
                assert_eq(mc.call("REPLICASLOT", "LIST"), [])
                assert_eq(int(info(mc, "replication")["repl_slots_dropped"]), 1)
            finally:
                mc.close()
            assert_true("Replica slot '%s' dropped" % name in master.log_text(), "no log line for the drop")
            write_stream(master, 3_000_000, "away")
            wait_first_past(master, off + 1)
            full0 = stat(master, "sync_full")
            replica.start(keep_port=True)
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            assert_eq(stat(master, "sync_full"), full0 + 1, "expected a full sync without the slot")


@test(timeout=120)
def slot_dropped_after_max_age_and_at_backlog_max_bytes():
    cfg = dict(SMALL_BACKLOG, **{"repl-slot-max-age": 2})
    with CairnServer(cfg) as master:
        with CairnServer(replica_cfg(master)) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            replica.stop()
            wait_until(lambda: slot_of(master, replica.port) is None, timeout=10,
                       msg=lambda: "slot kept past repl-slot-max-age: %r" % repl(master))
            assert_true(re.search(r"Replica slot '127\.0\.0\.1:%d' dropped .*not seen for \d+ s \(repl-slot-max-age 2\)"
                                  % replica.port, master.log_text()), "no log line naming repl-slot-max-age")
            assert_eq(int(repl(master)["repl_slots_dropped"]), 1)
    cfg = dict(SMALL_BACKLOG, **{"backlog-max-bytes": "3mb"})
    with CairnServer(cfg) as master:
        with CairnServer(replica_cfg(master)) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            off = wait_offsets_equal(master, replica)
            replica.stop()
            wait_until(lambda: (slot_of(master, replica.port) or {}).get("connected") == "0", timeout=10)
            write_stream(master, 8_000_000, "away")
            wait_until(lambda: slot_of(master, replica.port) is None, timeout=20,
                       msg=lambda: "slot kept past backlog-max-bytes: %r" % repl(master))
            assert_true(backlog_first(master) > off + 1)
            assert_true(re.search(r"Replica slot '127\.0\.0\.1:%d' dropped .*backlog-max-bytes\); its replica will "
                                  r"need a full sync" % replica.port, master.log_text()),
                        "no log line naming backlog-max-bytes:\n" + log_tail(master))
            full0 = stat(master, "sync_full")
            replica.start(keep_port=True)
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            assert_eq(stat(master, "sync_full"), full0 + 1)


@test(timeout=120)
def horizon_follows_the_write_rate_and_warns():
    """INFO's write rate and horizon: with backlog-max-bytes 64 MB and about
    1 MB/s written, a slot can be away about a minute (raw stream: values
    are incompressible); the warning names the slot when it falls under
    repl-slot-warn-horizon."""
    cfg = dict(SMALL_BACKLOG, **{"backlog-max-bytes": "64mb", "repl-slot-warn-horizon": 100000})
    with CairnServer(cfg) as master:
        i = repl(master)
        assert_eq(i["repl_resume_horizon_sec"], "604800", "no writes: the age cap (repl-slot-max-age)")
        with CairnServer(replica_cfg(master)) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            for _ in range(4):
                t0 = time.time()
                write_stream(master, 1_000_000, "r")
                time.sleep(max(0, 1 - (time.time() - t0)))
            i = repl(master)
            rate = int(i["repl_write_rate_1m"])
            assert_true(500_000 <= rate <= 2_000_000, "write rate %d for ~1 MB/s" % rate)
            h = int(i["repl_resume_horizon_sec"])
            expect = 64 * 1024 * 1024 / max(rate, int(i["repl_write_rate_1h"]))
            assert_true(0.5 * expect <= h <= 1.5 * expect, "horizon %d s, expected about %d s" % (h, expect))
            replica.stop()
            wait_until(lambda: "can stay away" in master.log_text(), timeout=10,
                       msg=lambda: "no horizon warning:\n" + log_tail(master))
            assert_true(re.search(r"Replica slot '127\.0\.0\.1:%d': its replica \(away \d+ s, \d+ bytes behind\) can "
                                  r"stay away \d+ s more" % replica.port, master.log_text()))
            s = slot_of(master, replica.port)
            assert_true(0 < int(s["horizon_sec"]) < 604800, "disconnected slot's horizon %r" % s)


@test(timeout=180)
def real_redis_replica_keeps_its_slot_across_its_restart():
    """A real redis-server replica (saving its RDB with the replication id at
    SHUTDOWN) is away while far more than retention keeps is written; its
    slot lets it resume with +CONTINUE."""
    with CairnServer(SMALL_BACKLOG) as master:
        write_stream(master, 100_000, "pre")
        rep = RedisServer({"replicaof": ["127.0.0.1", master.port], "save": "3600 1",
                           "repl-diskless-load": "disabled"})
        try:
            wait_link_up(rep, SYNC_TIMEOUT)
            write_stream(master, 3_000_000, "live")
            off = wait_offsets_equal(master, rep)
            wait_until(lambda: int((slot_of(master, rep.port) or {}).get("offset", -1)) >= off, timeout=10,
                       msg=lambda: "no slot following the redis replica's ACKs: %r" % repl(master))
            rep.stop()  # SHUTDOWN: redis saves its RDB with repl-id/offset
            outage_held_by_slot(master, off, 4_000_000, "away")
            partial0, full0 = stat(master, "sync_partial_ok"), stat(master, "sync_full")
            rep.start(keep_port=True)
            wait_link_up(rep, SYNC_TIMEOUT)
            wait_offsets_equal(master, rep)
            assert_eq(stat(master, "sync_partial_ok"), partial0 + 1, "redis did not resume with +CONTINUE:\n"
                      + log_tail(rep))
            assert_eq(stat(master, "sync_full"), full0)
            assert_same_keys(master, rep, "away:17", "live:3")
        finally:
            rep.stop(check=False)
            rep.cleanup()


@test(timeout=180)
def cost_based_resync_and_the_directive():
    """A replica that missed far more stream than the data set gets a full
    sync (logged with both estimates); repl-resync partial forces +CONTINUE,
    full forces a full sync."""
    with CairnServer({"repl-resync": "cost"}) as master:
        with CairnServer(replica_cfg(master)) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            replica.stop()
            write_stream(master, 24_000_000, "same", value_size=8000)  # 256 keys rewritten: ~2 MB of data
            # the estimate counts the overlay's memory (an upper bound: overwritten
            # values stay in a layer until it is drained): let it drain first
            wait_until(lambda: int(server_info(master, "cairn")["overlay_bytes"]) < 4_000_000, timeout=20,
                       msg=lambda: "the overlay was not drained: %r" % server_info(master, "cairn"))
            full0 = stat(master, "sync_full")
            replica.start(keep_port=True)
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            assert_eq(stat(master, "sync_full"), full0 + 1, "the cheaper full sync was not chosen")
            assert_true(re.search(r"but the \d+ bytes of stream it missed cost more than a snapshot of about \d+ bytes: "
                                  r"full sync instead \(repl-resync cost\)", master.log_text()),
                        "no log line with both estimates:\n" + log_tail(master))
            mc = master.conn()
            try:
                assert_eq(mc.call("CONFIG", "SET", "repl-resync", "partial"), "OK")
            finally:
                mc.close()
            replica.stop()
            write_stream(master, 24_000_000, "same", value_size=8000)
            partial0 = stat(master, "sync_partial_ok")
            replica.start(keep_port=True)
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            assert_eq(stat(master, "sync_partial_ok"), partial0 + 1, "repl-resync partial: +CONTINUE")
            mc = master.conn()
            try:
                assert_eq(mc.call("CONFIG", "SET", "repl-resync", "full"), "OK")
            finally:
                mc.close()
            replica.stop()
            write_stream(master, 10_000, "small")
            full0 = stat(master, "sync_full")
            replica.start(keep_port=True)
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            assert_eq(stat(master, "sync_full"), full0 + 1, "repl-resync full: a full sync")
            assert_true("(repl-resync full)" in master.log_text())
            assert_same_strings(master, replica)


@test(timeout=120)
def replica_slot_name_survives_an_address_change():
    """replica-slot-name names the slot: the replica comes back on another
    port (another address) and still resumes from its slot; a Redis master
    ignores the name."""
    with CairnServer(SMALL_BACKLOG) as master:
        replica = CairnServer(replica_cfg(master, {"replica-slot-name": "dc2-replica"}))
        try:
            wait_link_up(replica, SYNC_TIMEOUT)
            write_stream(master, 3_000_000, "live")
            off = wait_offsets_equal(master, replica)
            mc = master.conn()
            try:
                assert_eq([s[1] for s in mc.call("REPLICASLOT", "LIST")], [b"dc2-replica"])
                # its ACKs (once a second) have moved the slot up to here
                wait_until(lambda: mc.call("REPLICASLOT", "LIST")[0][5] >= off, timeout=10)
            finally:
                mc.close()
            replica.stop()
            outage_held_by_slot(master, off, 4_000_000, "away")
            partial0 = stat(master, "sync_partial_ok")
            replica.start()  # a new port: ip:port would be another slot
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(master, replica)
            assert_eq(stat(master, "sync_partial_ok"), partial0 + 1, "no +CONTINUE under the slot's name")
            assert_same_keys(master, replica, "away:5", "live:7")
        finally:
            replica.stop(check=False)
            replica.cleanup()
    with RedisServer() as rmaster:
        rmaster.conn().call("SET", "k", "v")
        with CairnServer(replica_cfg(rmaster, {"replica-slot-name": "x1"})) as replica:
            wait_link_up(replica, SYNC_TIMEOUT)
            wait_offsets_equal(rmaster, replica)
            assert_eq(replica.conn().call("GET", "k"), b"v")


@test(timeout=60)
def replconf_slot_name_and_slots_off():
    with CairnServer() as master:
        mc = master.conn()
        try:
            help_ = mc.call("REPLICASLOT", "HELP")
            assert_eq(help_[0], "REPLICASLOT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
            assert_true("LIST" in help_ and "DROP <name>" in help_ and help_[-2] == "HELP", help_)
            assert_error_text(mc.call("REPLICASLOT", "NOPE"),
                              "ERR unknown subcommand 'NOPE'. Try REPLICASLOT HELP.")
            assert_error_text(mc.call("REPLCONF", "slot-name", "bad name!"),
                              "ERR REPLCONF slot-name must be 1-48 characters of A-Z a-z 0-9 . : - _ [ ]")
        finally:
            mc.close()
        def slot_names():
            c = master.conn()
            try:
                return [s[1] for s in c.call("REPLICASLOT", "LIST")]  # RESP2: name, <name>, ...
            finally:
                c.close()

        r = master.conn()
        try:
            assert_eq(r.call("REPLCONF", "slot-name", "backup-tool.1"), "OK")
            r.sock.sendall(encode_command("PSYNC", "?", "-1"))
            wait_until(lambda: slot_names() == [b"backup-tool.1"], timeout=10,
                       msg=lambda: "no slot named by REPLCONF slot-name: %r" % slot_names())
        finally:
            r.close()
        wait_until(lambda: "name=backup-tool.1,connected=0" in str(repl(master)), timeout=10)
        mc = master.conn()
        try:
            assert_eq(mc.call("CONFIG", "SET", "repl-slots", "no"), "OK")
            wait_until(lambda: mc.call("REPLICASLOT", "LIST") == [], timeout=10,
                       msg=lambda: "repl-slots no kept a disconnected slot")
            assert_true("Replica slot 'backup-tool.1' dropped (it needed offset" in master.log_text()
                        and "repl-slots is no" in master.log_text())
        finally:
            mc.close()


if __name__ == "__main__":
    run_tests()
