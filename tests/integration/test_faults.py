"""Failure paths of the WAL and the store, driven by fault injection.

The server reads CAIRN_FAULTS at startup (engine/fault.h has the syntax):
  wal.append / wal.sync / wal.read / store.commit / store.put = N[:once|:always|:xK][:ERROR]
Each test arms one point, checks what the server does at that moment (exact
replies, log lines, exit codes) and then restarts it without faults to check
that nothing acknowledged was lost.

Call counting, for a fresh data dir: the startup sync is wal.sync call 1; a
client writing one command at a time makes one append (and, with durability
strict, one inline sync) per command; cairn_store_put & co. count one
store.put per key written; every checkpoint commit is a store.commit call.
"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from cairn_test import encode_command  # noqa: E402

NO_CHECKPOINTS = {"checkpoint-interval-ms": 86400000, "checkpoint-bytes": "1gb"}
# These tests fail the store thread's commits and map growths: each frozen
# layer goes into LMDB at once (no merge gathered first), so the fault hits
# at a known moment. Run files and gathered merges have their own tests
# (test_crash.py, test_store's unit tests, the store.spill fault below).
AT_ONCE = {"overlay-merge-bytes": "0"}


def start_with_faults(server_or_config, faults, **kw):
    """Starts a CairnServer (a new one from a config dict, or a stopped one)
    with CAIRN_FAULTS set in its environment; the variable is removed again
    at once, so later (re)starts run without faults."""
    with faults_env(faults):
        if isinstance(server_or_config, CairnServer):
            server_or_config.start()
            return server_or_config
        return CairnServer(server_or_config, **kw)


def log_lines(server, pattern, all_starts=False):
    return [l for l in server.log_text(all_starts).splitlines() if re.search(pattern, l)]


def assert_log(server, pattern, count=None, all_starts=False):
    got = log_lines(server, pattern, all_starts)
    if count is None:
        assert_true(got, "no log line matches %r\n%s" % (pattern, server.log_text(all_starts)))
    else:
        assert_eq(len(got), count, "log lines matching %r:\n%s" % (pattern, "\n".join(got)))
    return got


def write_gets_no_reply(conn, *cmd):
    """Sends one command; True if the server closed the connection without a
    reply (the write was never acknowledged)."""
    try:
        r = conn.call(*cmd)
    except (ConnectionError, OSError):
        return True
    raise AssertionError("%r got a reply: %r" % (cmd, r))


def check_keys(conn, present, absent=()):
    for k, v in present.items():
        assert_eq(conn.call("GET", k), v.encode() if isinstance(v, str) else v, "GET %s" % k)
    for k in absent:
        assert_eq(conn.call("GET", k), None, "GET %s (never acknowledged)" % k)


def armed_warning(server, text):
    assert_log(server, re.escape("FAULT INJECTION ARMED by CAIRN_FAULTS: %s. This server fails on purpose" % text), 1)


# --------------------------------------------------------------------- arming

@test(timeout=60)
def a_bad_spec_refuses_to_start():
    code, out = None, None
    old = os.environ.get("CAIRN_FAULTS")
    os.environ["CAIRN_FAULTS"] = "wal.apend=3"
    try:
        code, out = CairnServer.expect_start_failure()
    finally:
        if old is None:
            del os.environ["CAIRN_FAULTS"]
        else:
            os.environ["CAIRN_FAULTS"] = old
    assert_eq(code, 1)
    assert_true("CAIRN_FAULTS: unknown fault point 'wal.apend' (known: wal.append, wal.sync, wal.read, "
                "store.commit, store.put); refusing to start" in out, out)


@test(timeout=60)
def no_faults_no_warning():
    with CairnServer() as s:
        assert_eq(s.conn().call("SET", "k", "v"), "OK")
        assert_log(s, "FAULT INJECTION", 0)
        assert_log(s, "fault injection", 0)


# ------------------------------------------------------ (a) WAL append failure

def MISCONF(s):
    return ("MISCONF Errors writing to the backlog on disk (%s/backlog: No space left on device): writes are "
            "refused until it works again. Check the server log." % s.dir)


@test(timeout=120)
def wal_append_failure_gives_misconf_then_recovers():
    # appends 1-3 work, 4-6 fail with ENOSPC, 7 on work again
    with start_with_faults({"durability": "strict"}, "wal.append=4:x3:ENOSPC") as s:
        armed_warning(s, "wal.append fails calls 4 to 6 with ENOSPC")
        c = s.conn()
        for i in (1, 2, 3):
            assert_eq(c.call("SET", "k%d" % i, "v%d" % i), "OK")
        # The 4th append fails: the client holding the reply is disconnected,
        # it never sees +OK.
        assert_true(write_gets_no_reply(c, "SET", "k4", "v4"))
        # Writes are refused with -MISCONF for about a second after that. If
        # the machine was so slow that the window passed, the next write tries
        # the backlog again and fails the same way (appends 5 and 6), which is
        # what the loop allows; a later one must then see -MISCONF.
        misconf, dropped = None, 1
        for attempt in range(3):
            c = s.conn()
            try:
                r = c.call("SET", "k5", "v5")
            except (ConnectionError, OSError):
                dropped += 1
                continue
            misconf = r
            break
        assert_true(is_error(misconf), "no -MISCONF reply: %r" % (misconf,))
        assert_eq(misconf, MISCONF(s))
        assert_log(s, r"# backlog append of \d+ bytes at offset \d+ failed: " + re.escape(s.dir) +
                      r"/backlog: No space left on device; "
                      r"refusing writes until it works", dropped)
        # Reads still work, and the failed write is gone (rolled back).
        check_keys(c, {"k1": "v1", "k2": "v2", "k3": "v3"}, absent=["k4", "k5"])
        ip = info(c, "persistence")
        assert_eq(ip["wal_write_error"], "1")
        assert_eq(ip["aof_last_write_status"], "err")
        # Writes that only read pass: -MISCONF is for writes.
        assert_eq(c.call("EXISTS", "k1"), 1)
        # After a second the backlog is tried again: the fault is spent
        # (appends 5 and 6 were the retries or are used up here).
        def write_works():
            try:
                r = s.conn().call("SET", "after", "ok")
            except (ConnectionError, OSError):
                return False
            return r == "OK"
        wait_until(write_works, timeout=15, msg="writes never worked again")
        c = s.conn()
        assert_eq(info(c, "persistence")["wal_write_error"], "0")
        assert_eq(c.call("SET", "after2", "ok2"), "OK")
        s.restart()  # graceful, checked
        c = s.conn()
        check_keys(c, {"k1": "v1", "k2": "v2", "k3": "v3", "after": "ok", "after2": "ok2"}, absent=["k4", "k5"])
        assert_log(s, "FAULT INJECTION", 0)  # the restart runs without faults


@test(timeout=120)
def wal_append_failure_inside_a_pipeline_drops_the_whole_iteration():
    # A pipeline lands in one loop iteration, so one record: when its append
    # fails none of its writes may be acknowledged or survive.
    with start_with_faults(NO_CHECKPOINTS, "wal.append=2:once:EIO") as s:
        c = s.conn()
        assert_eq(c.call("SET", "before", "1"), "OK")
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.sendall(b"".join(encode_command("SET", "p%d" % i, "x") for i in range(20)))
        data = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        sock.close()
        assert_eq(data, b"", "replies of a failed append reached the client")
        c = s.conn()
        for i in range(20):
            assert_eq(c.call("GET", "p%d" % i), None)
        assert_log(s, r"backlog append of \d+ bytes at offset \d+ failed: .*/backlog: Input/output error", 1)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("GET", "before"), b"1")
        assert_eq(c.call("DBSIZE"), 1)


# ------------------------------------------------------ (b) fsync failure

FATAL_SYNC = (r"# fdatasync of the backlog failed: .*/backlog: Input/output error\. Acknowledging writes is "
              r"impossible; exiting\. A restart recovers everything that reached the disk\.")


@test(timeout=120)
def wal_sync_failure_exits_without_acknowledging():
    # sync 1 is the startup sync, 2-4 the writes of k1-k3 (inline syncs), 5 fails
    with start_with_faults({"durability": "strict"}, "wal.sync=5:once") as s:
        c = s.conn()
        for i in (1, 2, 3):
            assert_eq(c.call("SET", "k%d" % i, "v%d" % i), "OK")
        assert_true(write_gets_no_reply(c, "SET", "k4", "v4"))
        s.wait_exit(timeout=10, expect_code=1)
        assert_log(s, FATAL_SYNC + "$", 1)
        assert_log(s, r"fault injection: wal.sync call 5 fails with EIO$", 1)
        s.start()
        c = s.conn()
        # every acknowledged write is back; k4 was appended (only its sync
        # failed, and a kill loses no page cache), so it may be there, whole
        check_keys(c, {"k1": "v1", "k2": "v2", "k3": "v3"})
        assert_true(c.call("GET", "k4") in (None, b"v4"))
        assert_eq(c.call("SET", "k5", "v5"), "OK")


@test(timeout=120)
def a_slow_disk_moves_small_batches_off_the_loop():
    # Every sync slowed by 20 ms: a one-command batch is synced inline only
    # while the last sync was fast; after a slow one they go to the flusher
    # thread (the loop serves others meanwhile), each write still
    # acknowledged after its sync.
    with start_with_faults({"durability": "strict"}, "wal.sync=1:always:slow20000") as s:
        c = s.conn()
        for i in range(20):
            assert_eq(c.call("SET", "k%d" % i, "v%d" % i), "OK")
        st = info(c, "persistence")
        syncs, inline = int(st["wal_syncs"]), int(st["wal_inline_syncs"])
        assert_true(syncs >= 20, st)
        assert_true(inline <= 2, "inline syncs after a slow one: %d of %d" % (inline, syncs))
    with CairnServer({"durability": "strict"}) as s:  # a fast disk: inline
        c = s.conn()
        for i in range(20):
            assert_eq(c.call("SET", "k%d" % i, "v%d" % i), "OK")
        st = info(c, "persistence")
        assert_true(int(st["wal_inline_syncs"]) >= 10, st)


@test(timeout=180)
def wal_sync_failure_under_pipelining_loses_no_acknowledged_write():
    # Pipelined batches: syncs run on the flusher thread (sync_run) as well as
    # inline; the 30th sync fails wherever it runs.
    with start_with_faults({"durability": "strict"}, "wal.sync=30") as s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sent, acked, buf, i = [], 0, b"", 0
        deadline = time.time() + 60
        try:
            while time.time() < deadline:
                batch = []
                for _ in range(50):
                    batch.append(("SET", "p%d" % i, "v%d" % i))
                    i += 1
                sock.sendall(b"".join(encode_command(*b) for b in batch))
                sent.extend(batch)
                while acked < len(sent) - 25:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError
                    buf += chunk
                    n = buf.count(b"\r\n")
                    cut = buf.rfind(b"\r\n") + 2 if n else 0
                    assert_eq(buf[:cut], b"+OK\r\n" * n)
                    acked += n
                    buf = buf[cut:]
        except (ConnectionError, OSError):
            pass
        finally:
            sock.close()
        assert_true(time.time() < deadline, "the server never failed its 30th sync")
        s.wait_exit(timeout=10, expect_code=1)
        assert_log(s, FATAL_SYNC + "$", 1)
        assert_true(acked < len(sent), "every write was acknowledged although a sync failed")
        s.start()
        c = s.conn()
        for _, k, v in sent[:acked]:
            assert_eq(c.call("GET", k), v.encode(), "acknowledged %s lost" % k)
        for _, k, v in sent[acked:]:
            assert_true(c.call("GET", k) in (None, v.encode()))


@test(timeout=120)
def wal_sync_failure_in_relaxed_mode_exits_from_the_cron():
    # relaxed: acknowledged once written, synced about once a second by the
    # cron (commit.c's cairn_commit_cron), through the same sync as every
    # other (sync_wal): a failure exits with the same log line.
    with start_with_faults(dict(NO_CHECKPOINTS, durability="relaxed"), "wal.sync=2") as s:
        c = s.conn()
        for i in range(5):
            assert_eq(c.call("SET", "r%d" % i, "v%d" % i), "OK")
        s.wait_exit(timeout=10, expect_code=1)
        assert_log(s, r"# fdatasync of the backlog failed: .*/backlog: Input/output error\. Acknowledging writes is "
                      r"impossible; exiting\. A restart recovers everything that reached the disk\.$", 1)
        s.start()
        check_keys(s.conn(), {"r%d" % i: "v%d" % i for i in range(5)})


# ------------------------------------------------------ (c) checkpoint commit failure

CKPT_FAILED = r"# writing checkpoint layers into LMDB failed: mdb_txn_commit: .*/store/data\.mdb: Input/output error "


@test(timeout=120)
def failed_checkpoint_is_retried_and_loses_nothing():
    with start_with_faults(dict(AT_ONCE, **{"checkpoint-interval-ms": 50}), "store.commit=1:once") as s:
        c = s.conn()
        # one iteration: all of them are taken before the first drain can fail
        # (after a failed drain, writes get -MISCONF until the retry works)
        replies = c.pipeline([("SET", "c%d" % i, "v%d" % i) for i in range(10)])
        assert_eq(replies, ["OK"] * 10)
        wait_until(lambda: log_lines(s, CKPT_FAILED), timeout=10, msg="no failed checkpoint")
        # the failed layer stays in the overlay (the data is all there) and
        # the store thread writes it again a second later
        check_keys(c, {"c%d" % i: "v%d" % i for i in range(10)})
        def all_checkpointed():
            ip = info(c, "persistence")
            return int(ip["checkpoints"]) >= 1 and ip["checkpoint_offset"] == ip["wal_last_offset"]
        wait_until(all_checkpointed, timeout=10, msg="no checkpoint after the failure")
        ic = info(c, "cairn")
        assert_true(int(ic["store_drains_failed"]) >= 1, ic)
        assert_eq(ic["store_drain_error"], "0")
        assert_log(s, r"\* the store thread writes to LMDB again", 1)
        assert_eq(c.call("SET", "later", "x"), "OK")
        s.restart(kill=True)
        c = s.conn()
        check_keys(c, dict({"c%d" % i: "v%d" % i for i in range(10)}, later="x"))
        assert_log(s, CKPT_FAILED, 1, all_starts=True)


@test(timeout=120)
def checkpoints_failing_forever_leave_everything_in_the_backlog():
    # Retention would keep only ~1 MB of backlog; the checkpoint pin keeps
    # everything after the last good checkpoint (there is none).
    # The first checkpoint is due at 4 MB of writes; once it has failed,
    # writes are refused (-MISCONF) while the store thread cannot write.
    cfg = dict(AT_ONCE, **{"checkpoint-interval-ms": 86400000, "checkpoint-bytes": "4mb",
                           "backlog-segment-size": "1mb", "backlog-retention-bytes": "1mb"})
    with start_with_faults(cfg, "store.commit=1") as s:
        c = s.conn()
        # Incompressible (retention counts disk bytes). The writes stay in
        # the overlay while the store thread fails (retried every second).
        values, refused = [], None
        for i in range(60):
            v = os.urandom(90000)
            r = c.call("SET", "f%d" % i, v)
            if is_error(r):
                refused = r
                break
            assert_eq(r, "OK")
            values.append(v)
            if i >= 45:
                wait_until(lambda: log_lines(s, CKPT_FAILED), timeout=10, msg="no failed checkpoint")
        assert_true(refused is not None and len(values) >= 25, "acked %d, refused %r" % (len(values), refused))
        assert_true(refused.startswith("MISCONF Errors writing to disk: the store cannot write to LMDB (mdb_txn_commit: "
                                       "%s/store/data.mdb: Input/output error)" % s.dir), refused)
        assert_eq(c.call("GET", "f0"), values[0])  # reads go on
        time.sleep(1.5)  # retention runs once a second
        ip = info(c, "persistence")
        assert_eq(info(c, "cairn")["store_drains"], "0")
        assert_eq(ip["rdb_last_bgsave_status"], "err")
        assert_eq(ip["checkpoint_offset"], "0")
        assert_eq(ip["wal_first_offset"], "1")
        assert_true(int(ip["wal_segments"]) >= 3, ip)
        assert_true(int(info(c, "cairn")["store_drains_failed"]) >= 2)
        assert_eq(len(log_lines(s, CKPT_FAILED)), 1)  # once, not once a second
        err = c.call("SAVE")
        assert_error(err, "ERR writing the store failed: mdb_txn_commit: %s/store/data.mdb: Input/output error" % s.dir)
        # the checkpoint at shutdown fails too; the exit is still clean (0)
        s.stop()
        assert_log(s, "Checkpoint at offset .* before exit", 0)
        assert_log(s, r"# the last checkpoint could not be written into LMDB; the backlog holds everything after "
                      r"offset 0 and the next start replays it$")
        s.start()
        assert_log(s, r"\* recovery: replaying \d+ backlog bytes from offset 1$", 1)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), len(values))
        for i, v in enumerate(values):
            assert_eq(c.call("GET", "f%d" % i), v)
        # the replayed layers reach LMDB in the background
        wait_until(lambda: info(c, "persistence")["checkpoint_offset"] == info(c, "persistence")["wal_last_offset"],
                   timeout=10, msg="the replayed backlog never reached LMDB")
        # once a checkpoint works, retention drops what it no longer needs
        wait_until(lambda: int(info(c, "persistence")["wal_first_offset"]) > 1, timeout=10,
                   msg="retention never dropped a segment: the test proves nothing")


@test(timeout=120)
def enospc_on_the_store_commit_refuses_writes_then_recovers_by_itself():
    # calls 1 to 3 of the store thread's commit fail with ENOSPC (the first
    # drain and two retries, a second apart); then it works again
    with start_with_faults(dict(NO_CHECKPOINTS, **AT_ONCE), "store.commit=1:x3:ENOSPC") as s:
        c = s.conn()
        acked = {}
        for i in range(10):
            assert_eq(c.call("SET", "e%d" % i, "v%d" % i), "OK")
            acked["e%d" % i] = "v%d" % i
        assert_eq(c.call("CONFIG", "SET", "checkpoint-interval-ms", "50"), "OK")  # now a checkpoint
        wait_until(lambda: log_lines(s, r"# writing checkpoint layers into LMDB failed"), timeout=10,
                   msg="no failed checkpoint")
        cause = "mdb_txn_commit: %s/store/data.mdb: No space left on device" % s.dir
        assert_log(s, r"# writing checkpoint layers into LMDB failed: " + re.escape(cause) +
                      r" \(writes are refused with -MISCONF until it works again\)", 1)
        r = c.call("SET", "refused", "1")
        assert_eq(r, "MISCONF Errors writing to disk: the store cannot write to LMDB (%s): commands that may "
                     "modify the data set are refused until it works again (retried every second). Check the "
                     "server log." % cause)
        assert_true(is_error(c.call("INCR", "e-counter")))
        check_keys(c, acked, absent=["refused", "e-counter"])  # reads go on
        ip, ic = info(c, "persistence"), info(c, "cairn")
        assert_eq(ip["rdb_last_bgsave_status"], "err")
        assert_eq(ic["store_drain_error"], "1")
        assert_eq(ic["store_full"], "0")
        assert_true(int(ic["store_writes_refused"]) >= 2, ic)
        # the retries spend the fault: writes are accepted again, no restart
        def writes_again():
            return c.call("SET", "after", "1") == "OK"
        wait_until(writes_again, timeout=15, msg="writes never accepted again")
        acked["after"] = "1"
        assert_log(s, r"\* the store thread writes to LMDB again", 1)
        assert_eq(info(c, "persistence")["rdb_last_bgsave_status"], "ok")
        assert_eq(info(c, "cairn")["store_drain_error"], "0")
        s.restart(kill=True)
        check_keys(s.conn(), acked, absent=["refused"])


@test(timeout=120)
def writers_at_the_overlay_budget_get_misconf_instead_of_waiting():
    # the store thread never writes: a pipelining writer fills the overlay's
    # budget (1 MB); every command still gets a reply (OK, then -MISCONF)
    with start_with_faults(dict(AT_ONCE, **{"overlay-max-memory": "1mb", "checkpoint-interval-ms": 50}), "store.commit=1:ENOSPC") as s:
        c = s.conn(timeout=20)
        value = b"x" * 10000
        cmds = [("SET", "w%d" % i, value) for i in range(600)]  # 6 MB
        replies = c.pipeline(cmds)
        ok = [i for i, r in enumerate(replies) if r == "OK"]
        refused = [r for r in replies if is_error(r)]
        assert_eq(len(ok) + len(refused), len(cmds))
        assert_true(refused and all(r.startswith("MISCONF Errors writing to disk") for r in refused), refused[:2])
        assert_true(ok == list(range(len(ok))), "a write was accepted after a refusal")
        assert_eq(c.call("DBSIZE"), len(ok))
        s.restart(kill=True)
        assert_eq(s.conn().call("DBSIZE"), len(ok))


# ------------------------------------------------------ (d) MDB_TXN_FULL from a put

@test(timeout=120)
def txn_full_is_retried_after_rollback_and_replay():
    with start_with_faults(NO_CHECKPOINTS, "store.put=3:once") as s:
        c = s.conn()
        armed_warning(s, "store.put fails call 3 only with MDB_TXN_FULL")
        assert_eq(c.call("SET", "a", "1"), "OK")  # put 1
        assert_eq(c.call("SET", "b", "2"), "OK")  # put 2
        ip = info(c, "persistence")
        assert_eq(ip["checkpoints"], "0")
        assert_eq(c.call("SET", "c", "3"), "OK")  # put 3 fails, the retry works
        assert_log(s, "fault injection: store.put call 3 fails with MDB_TXN_FULL", 1)
        ip = info(c, "persistence")
        assert_eq(ip["rollbacks"], "1")
        # TXN_FULL checkpoints at once (a fresh transaction for the retry)
        assert_eq(ip["checkpoints"], "1")
        check_keys(c, {"a": "1", "b": "2", "c": "3"})
        assert_eq(c.call("DBSIZE"), 3)
        s.restart(kill=True)
        c = s.conn()
        check_keys(c, {"a": "1", "b": "2", "c": "3"})
        assert_eq(c.call("DBSIZE"), 3)


@test(timeout=120)
def txn_full_in_the_middle_of_exec_runs_it_once():
    with start_with_faults(NO_CHECKPOINTS, "store.put=3:once") as s:
        c = s.conn()
        assert_eq(c.call("SET", "before", "0"), "OK")  # put 1
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("INCR", "n"), "QUEUED")      # put 2
        assert_eq(c.call("INCR", "n"), "QUEUED")      # put 3 fails: EXEC runs again
        assert_eq(c.call("RPUSH", "l", "a", "b"), "QUEUED")
        assert_eq(c.call("EXEC"), [1, 2, 2])
        assert_eq(c.call("GET", "n"), b"2")
        assert_eq(c.call("LRANGE", "l", 0, -1), [b"a", b"b"])
        assert_eq(info(c, "persistence")["rollbacks"], "1")
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("GET", "n"), b"2")
        assert_eq(c.call("LRANGE", "l", 0, -1), [b"a", b"b"])
        assert_eq(c.call("GET", "before"), b"0")


@test(timeout=120)
def a_put_that_keeps_failing_gives_an_error_and_changes_nothing():
    # Every put fails (also those of the replay): the store cannot be brought
    # back to the backlog's state, so the server exits; the backlog has every
    # acknowledged write.
    with start_with_faults(NO_CHECKPOINTS, "store.put=2:always:EIO") as s:
        c = s.conn()
        assert_eq(c.call("SET", "a", "1"), "OK")
        assert_true(write_gets_no_reply(c, "SET", "b", "2"))
        s.wait_exit(timeout=10, expect_code=1)
        assert_log(s, r"# cannot restore the store to the backlog's state \(store put: Input/output error\); "
                      r"exiting\. Nothing acknowledged is lost: the backlog holds it and a restart replays it\.$", 1)
        s.start()
        c = s.conn()
        check_keys(c, {"a": "1"}, absent=["b"])


# ------------------------------------------------------ (e) read failure during recovery

@test(timeout=120)
def wal_read_failure_during_recovery_refuses_to_start():
    with CairnServer(NO_CHECKPOINTS) as s:
        c = s.conn()
        for i in range(50):
            assert_eq(c.call("SET", "r%d" % i, "v%d" % i), "OK")
        assert_eq(info(c, "persistence")["checkpoint_offset"], "0")
        s.kill9()  # no checkpoint: a restart must replay the backlog
        try:
            start_with_faults(s, "wal.read=1:once")
            raise AssertionError("the server started although recovery could not read the backlog")
        except StartFailure:
            pass
        assert_eq(s.proc.returncode, 1)
        assert_log(s, r"# replay: backlog read error at offset 1: Input/output error$", 1)
        # The reason is the backlog's, not the (empty) store error.
        assert_log(s, r"# recovery failed: backlog read error at offset 1: Input/output error$", 1)
        assert_log(s, "Ready to accept connections", 0)
        s.start()
        c = s.conn()
        check_keys(c, {"r%d" % i: "v%d" % i for i in range(50)})


@test(timeout=120)
def a_failed_socket_write_closes_only_that_connection():
    # Write 1 is the harness's PING at start; write 2 is this client's reply.
    s = start_with_faults(None, "net.write=2:once")
    try:
        k = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        k.sendall(encode_command("SET", "k", "v"))
        assert_eq(k.recv(64), b"", "the connection whose write failed is closed")
        k.close()
        assert_log(s, r"fault injection: net.write call 2 fails", 1)
        c = s.conn()
        assert_eq(c.call("GET", "k"), b"v")  # applied and in the WAL before the reply
        s.restart(kill=True)
        assert_eq(s.conn().call("GET", "k"), b"v")
    finally:
        s.stop(check=False)
        s.cleanup()


@test(timeout=180)
def a_map_growth_that_fails_refuses_writes_then_recovers():
    # The map must grow (1 MB) and growing fails three times with ENOSPC:
    # writes are refused naming the file and the cause, reads go on, and the
    # store's retry (every second) brings writes back by itself.
    s = start_with_faults(dict(AT_ONCE, **{"lmdb-map-size": "1mb", "overlay-max-memory": "64mb",
                                              "checkpoint-bytes": "256kb"}), "store.grow=1:x3:ENOSPC")
    try:
        c = s.conn()
        acked, refused = [], None
        for i in range(4000):
            r = c.call("SET", "g%d" % i, "x" * 500)
            if is_error(r):
                refused = r
                break
            acked.append(i)
        assert_true(refused is not None, "no write was refused while the map could not grow")
        assert_true("MISCONF" in refused and "No space left on device" in refused and "data.mdb" in refused, refused)
        assert_eq(c.call("GET", "g0"), b"x" * 500)  # reads go on
        def writes_back():
            return c.call("SET", "after", "1") == "OK"
        assert_true(wait_until(writes_back, 30), "writes never came back after the map could grow")
        assert_log(s, r"fault injection: store.grow call 3 fails", 1)
        s.restart(kill=True)
        c = s.conn()
        missing = [i for i in acked if c.call("EXISTS", "g%d" % i) != 1]
        assert_eq(missing, [])
        assert_eq(c.call("GET", "after"), b"1")
    finally:
        s.stop(check=False)
        s.cleanup()


@test(timeout=180)
def sealing_and_manifest_failures_lose_nothing():
    # The compression thread's frame writes fail three times (ENOSPC) and two
    # MANIFEST writes fail (EIO): raw segments stay and are served, the
    # compression and the MANIFEST are retried, nothing is lost.
    s = start_with_faults({"backlog-segment-size": "1mb"}, "backlog.seal=1:x3:ENOSPC,backlog.manifest=2:x2:EIO")
    try:
        c = s.conn()
        for b in range(0, 4000, 500):
            c.pipeline([["SET", "s%d" % i, "%d" % i + "y" * 1000] for i in range(b, b + 500)])
        assert_true(wait_until(lambda: int(info(c, "persistence")["wal_compressed_segments"]) >= 2, 60),
                    "compression never succeeded after the faults cleared")
        assert_log(s, r"fault injection: backlog.seal call 3 fails with ENOSPC", 1)
        assert_log(s, r"compressing a sealed segment failed: No space left on device")
        assert_log(s, r"fault injection: backlog.manifest call 3 fails with EIO", 1)
        assert_log(s, r"MANIFEST failed: Input/output error")
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), 4000)
        for i in range(0, 4000, 397):
            assert_eq(c.call("GET", "s%d" % i), ("%d" % i + "y" * 1000).encode())
        tool = os.path.join(os.environ.get("CAIRN_BUILD_DIR", ""), "cairn-backlog")
        s.stop()
        r = subprocess.run([tool, "verify", os.path.join(s.dir, "backlog")], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        assert_eq(r.returncode, 0, r.stdout.decode(errors="replace"))
    finally:
        s.stop(check=False)
        s.cleanup()


@test(timeout=180)
def preallocation_failures_fall_back_to_appending():
    # Writing the zero-filled next segment fails twice (EIO): a warning names
    # the error once, the backlog appends as without preallocation, nothing
    # is lost; the retry a second later works and the active segment moves
    # into the preallocated file.
    s = start_with_faults({"backlog-segment-size": "4mb"}, "backlog.spare=1:x2:EIO")
    try:
        c = s.conn()
        n = 0
        for b in range(0, 3000, 500):
            c.pipeline([["SET", "p%d" % i, "%d" % i + "z" * 1000] for i in range(b, b + 500)])
            n = b + 500
        assert_true(wait_until(lambda: log_lines(s, r"fault injection: backlog.spare call 2 fails"), 20),
                    "the spare was not retried")
        assert_log(s, r"cannot preallocate the next segment \(Input/output error\)", 1)
        spare = os.path.join(s.dir, "backlog", "spare-segment.tmp")

        def preallocated():
            nonlocal n
            c.pipeline([["SET", "p%d" % i, "%d" % i + "z" * 1000] for i in range(n, n + 100)])
            n += 100
            return info(c, "persistence")["wal_preallocated"] == "1"

        assert_true(wait_until(preallocated, 30), "no preallocated segment after the faults cleared")
        assert_true(not os.path.exists(spare) or os.path.getsize(spare) in (0, 4 << 20))
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), n)
        for i in range(0, n, 397):
            assert_eq(c.call("GET", "p%d" % i), ("%d" % i + "z" * 1000).encode())
    finally:
        s.stop(check=False)
        s.cleanup()


if __name__ == "__main__":
    run_tests()
