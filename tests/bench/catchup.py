#!/usr/bin/env python3
"""Replica catch-up after an outage (issue 10, target 3), cairn master and
cairn replica on this machine, same run:

  1. preload the master with random SETs (CATCHUP_KEYS distinct keys), wait
     until the replica has everything;
  2. stop the replica (SHUTDOWN), write CATCHUP_N more random SETs on the
     master: the master's accept rate is stream bytes / wall time;
  3. restart the replica: it must resume with +CONTINUE (partial resync);
     its apply rate is the missed stream bytes / time until its offset
     equals the master's;
  4. (CATCHUP_CONCURRENT=1) the same outage again, but while the replica
     catches up the master keeps writing at about half its accept rate: the
     replica must still reach the master's offset.
  5. (CATCHUP_FRAMES=1) the idle-master outage twice more: the replica
     asking for the master's stored zstd frames (repl-compressed-catchup
     yes, the default) and not: bytes on the wire, master CPU and time per
     GB of stream caught up.

Usage: python3 tests/bench/catchup.py BUILD_DIR   (stdlib only; needs
redis-benchmark). Knobs (environment): CATCHUP_KEYS [2000000], CATCHUP_N
[4000000], CATCHUP_DATA [100], CATCHUP_PIPELINE [32], CATCHUP_CLIENTS [50],
CATCHUP_CONCURRENT [1], CATCHUP_TIMEOUT [1800], CATCHUP_REPLICA_ARGS [extra
command-line directives for the replica, e.g. "--deferred-lookups no"],
CATCHUP_PERF [unset: a
file name makes `perf record -g` profile the replica while it catches up in
the first outage]. Prints a markdown table;
servers run on free 127.0.0.1 ports in a temp dir and are always stopped.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp import Conn, ReplyError, free_ports, parse_info  # noqa: E402

E = os.environ
BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
CAIRN = os.path.abspath(os.path.join(BUILD, "cairn-server"))
BENCH = shutil.which("redis-benchmark")
KEYS = int(E.get("CATCHUP_KEYS", "2000000"))
N = int(E.get("CATCHUP_N", "4000000"))
DATA = int(E.get("CATCHUP_DATA", "100"))
PIPE = int(E.get("CATCHUP_PIPELINE", "32"))
CLIENTS = int(E.get("CATCHUP_CLIENTS", "50"))
CONCURRENT = E.get("CATCHUP_CONCURRENT", "1") == "1"
FRAMES = E.get("CATCHUP_FRAMES", "1") == "1"
TIMEOUT = float(E.get("CATCHUP_TIMEOUT", "1800"))
PERF = E.get("CATCHUP_PERF")
REPLICA_ARGS = E.get("CATCHUP_REPLICA_ARGS", "").split()


def call(port, *args):
    """One command on a fresh connection: its parsed reply (resp.Conn)."""
    c = Conn(port, 30)
    try:
        return c.cmd(*args)
    finally:
        c.close()


def info(port, section):
    return parse_info(call(port, "INFO", section))


class Server:
    def __init__(self, root, name, extra):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.port = free_ports(1)[0]
        self.extra = extra
        self.proc = None
        self.log = os.path.join(self.dir, "log")

    def start(self):
        args = [CAIRN, "--port", str(self.port), "--dir", self.dir, "--logfile", self.log] + self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while time.time() - t0 < 120:
            try:
                if call(self.port, "PING") == "PONG":
                    return
            except (OSError, ReplyError):
                pass
            time.sleep(0.01)
        raise RuntimeError("%s did not start" % self.dir)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                call(self.port, "SHUTDOWN")
            except (OSError, ReplyError):
                pass
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def load(port, n, wait=True, rps_cap=None):
    args = [BENCH, "-h", "127.0.0.1", "-p", str(port), "-c", str(CLIENTS), "-P", str(PIPE), "-d", str(DATA),
            "-r", str(KEYS), "-n", str(n), "-t", "set", "-q"]
    if rps_cap:
        # redis-benchmark has no rate limit: fewer clients and no pipeline
        # slow it down; the achieved rate is what is reported
        args = [BENCH, "-h", "127.0.0.1", "-p", str(port), "-c", "4", "-P", str(max(1, PIPE // 8)), "-d",
                str(DATA), "-r", str(KEYS), "-n", str(n), "-t", "set", "-q"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait:
        p.wait()
    return p


def offsets(m, r):
    mo = int(info(m.port, "replication")["master_repl_offset"])
    try:
        ro = int(info(r.port, "replication").get("slave_repl_offset", "0"))
    except OSError:
        ro = -1
    return mo, ro


def wait_caught_up(m, r, deadline, target=None):
    while time.time() < deadline:
        mo, ro = offsets(m, r)
        if ro >= (target if target is not None else mo) and (target is not None or ro == mo):
            return ro
        time.sleep(0.05)
    raise RuntimeError("the replica did not catch up in time")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def outage(m, r, n, concurrent, replica_extra=None):
    r.stop()
    if replica_extra is not None:
        r.extra = replica_extra
    mo0 = int(info(m.port, "replication")["master_repl_offset"])
    t0 = time.time()
    load(m.port, n)
    accept_s = time.time() - t0
    mo1 = int(info(m.port, "replication")["master_repl_offset"])
    missed = mo1 - mo0
    bg = load(m.port, 10 ** 9, wait=False, rps_cap=True) if concurrent else None
    accepted0 = open(m.log, errors="replace").read().count("accepted, sending")
    cpu0, net0 = cpu_seconds(m.proc.pid), int(info(m.port, "stats")["total_net_output_bytes"])
    t1 = time.time()
    r.start()
    start_s = time.time() - t1
    perf = None
    if PERF and not getattr(outage, "profiled", False):
        outage.profiled = True
        perf = subprocess.Popen(["perf", "record", "-g", "-o", PERF, "-p", str(r.proc.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if concurrent:
            # catch up to where the master is when the replica started,
            # then to the master's moving offset within a second
            wait_caught_up(m, r, t1 + TIMEOUT, target=mo1)
            catch_s = time.time() - t1
            t2 = time.time()
            while time.time() - t2 < TIMEOUT:
                mo, ro = offsets(m, r)
                if mo - ro < 1 << 20:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the replica never reached the moving master")
            bg_mo0 = mo1
            during = int(info(m.port, "replication")["master_repl_offset"]) - bg_mo0
            during_s = time.time() - t1
        else:
            wait_caught_up(m, r, t1 + TIMEOUT)
            catch_s = time.time() - t1
            during, during_s = 0, 0
        cpu = cpu_seconds(m.proc.pid) - cpu0
        net = int(info(m.port, "stats")["total_net_output_bytes"]) - net0
    finally:
        if perf:
            perf.send_signal(2)
            perf.wait()
        if bg:
            bg.kill()
            bg.wait()
    cont = open(m.log, errors="replace").read().count("accepted, sending") > accepted0
    ri = info(r.port, "cairn")
    ri.update(info(r.port, "persistence"))
    print("catchup: replica answered PING %.2f s after its start; after catch-up: %s" % (start_s, ", ".join(
        "%s=%s" % (k, ri.get(k)) for k in ("store_drains", "store_drain_last_ms", "writer_stalls",
                                           "loop_longest_iteration_us", "overlay_bytes", "wal_adopted_frames",
                                           "wal_adopt_mismatches", "wal_pending_seals"))), file=sys.stderr)
    # where the replica's longest stalls came from (latency-monitor-threshold 10)
    lat = call(r.port, "LATENCY", "LATEST")
    print("catchup: replica LATENCY LATEST: %s" % ", ".join(
        "%s max %s ms" % (e[0].decode() if isinstance(e[0], bytes) else e[0], e[3]) for e in lat), file=sys.stderr)
    call(r.port, "LATENCY", "RESET")
    return {"missed_bytes": missed, "accept_s": accept_s, "catch_s": catch_s, "continue": cont,
            "during_bytes": during, "during_s": during_s, "cpu_s": cpu, "net_bytes": net}


def main():
    if not BENCH:
        sys.exit("catchup: redis-benchmark not found")
    root = tempfile.mkdtemp(prefix="cairn-catchup.")
    # resume by offset whatever the missed stream costs against a snapshot
    # (repl-resync cost could pick a full sync): catch-up is what is measured
    m = Server(root, "master", ["--repl-resync", "partial"])
    r = None
    try:
        m.start()
        r = Server(root, "replica", ["--replicaof", "127.0.0.1 %d" % m.port, "--latency-monitor-threshold", "10"] + REPLICA_ARGS)
        r.start()
        t0 = time.time()
        load(m.port, int(KEYS * 1.6))
        wait_caught_up(m, r, time.time() + TIMEOUT)
        keys = call(m.port, "DBSIZE")
        print("catchup: preloaded %d keys in %.1f s; replica in sync" % (keys, time.time() - t0), file=sys.stderr)
        a = outage(m, r, N, False)
        rows = [("replica stopped, master idle during catch-up", a)]
        if CONCURRENT:
            b = outage(m, r, N, True)
            rows.append(("replica stopped, master writing during catch-up", b))
        print("| outage | keys | stream missed MB | master accept MB/s | replica apply MB/s | apply / accept "
              "| +CONTINUE | writes during catch-up MB |")
        print("|---|--:|--:|--:|--:|--:|---|--:|")
        for name, x in rows:
            acc = x["missed_bytes"] / x["accept_s"] / 1e6
            app = x["missed_bytes"] / x["catch_s"] / 1e6
            print("| %s | %d | %.0f | %.1f | %.1f | %.2f | %s | %.0f |" %
                  (name, keys, x["missed_bytes"] / 1e6, acc, app, app / acc, "yes" if x["continue"] else "NO",
                   x["during_bytes"] / 1e6))
        print("\ncatch-up time: %s" % ", ".join("%.1f s" % x["catch_s"] for _, x in rows))
        if FRAMES:
            base = ["--replicaof", "127.0.0.1 %d" % m.port]
            fr = [("stored zstd frames (repl-compressed-catchup yes)", outage(m, r, N, False, base)),
                  ("plain stream (repl-compressed-catchup no)",
                   outage(m, r, N, False, base + ["--repl-compressed-catchup", "no"]))]
            print("\n| catch-up, master idle | stream missed MB | bytes on the wire per stream byte "
                  "| master CPU s per GB | catch-up s per GB | +CONTINUE |")
            print("|---|--:|--:|--:|--:|---|")
            for name, x in fr:
                gb = x["missed_bytes"] / 1e9
                print("| %s | %.0f | %.3f | %.2f | %.2f | %s |" %
                      (name, x["missed_bytes"] / 1e6, x["net_bytes"] / x["missed_bytes"], x["cpu_s"] / gb,
                       x["catch_s"] / gb, "yes" if x["continue"] else "NO"))
    finally:
        if r:
            r.stop()
        m.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
