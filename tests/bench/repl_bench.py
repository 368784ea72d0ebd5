#!/usr/bin/env python3
"""Replication benchmark driver for tests/bench/replication.sh (issue 4,
"Performance"). Stdlib only. Starts and stops its own servers; every pid it
starts is appended to ROOT/pids so the shell's trap can stop them if this
process dies.

  repl_bench.py ROOT RESULTS_PREFIX

All settings come from the environment (see replication.sh / README.md).
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

E = os.environ
ROOT = sys.argv[1]
PREFIX = sys.argv[2]
CAIRN_BIN = E.get("CAIRN_BIN", "")
REDIS_BIN = E.get("REDIS_BIN", "")
BENCH_BIN = E.get("BENCH_BIN", "")
GB = float(E.get("BENCH_REPL_GB", "1"))
VSIZE = int(E.get("BENCH_REPL_VALUE", "1000"))
NKEYS = int(E.get("BENCH_REPL_KEYS", "0")) or max(1000, int(round(GB * 1e9 / VSIZE)))
RESUME = [float(x) for x in E.get("BENCH_REPL_RESUME_GB", "").split()] or [GB * 1, GB * 4]
IDLE_S = float(E.get("BENCH_REPL_IDLE_SECONDS", "10"))
SYNC_TIMEOUT = float(E.get("BENCH_REPL_SYNC_TIMEOUT", "1800"))
START_TIMEOUT = float(E.get("BENCH_START_TIMEOUT", "60"))
STOP_TIMEOUT = float(E.get("BENCH_STOP_TIMEOUT", "60"))
DURABILITY = E.get("BENCH_REPL_DURABILITY", "strict")
DISKLESS_DELAY = E.get("BENCH_REPL_REDIS_DISKLESS_DELAY", "5")
CLIENTS = int(E.get("BENCH_REPL_CLIENTS", "50"))
PIPELINE = int(E.get("BENCH_REPL_PIPELINE", "16"))
SYSTEMS = E.get("BENCH_REPL_SYSTEMS", "cairn redis-disk redis-diskless").split()
LOAD_GIVE_UP = float(E.get("BENCH_REPL_LOAD_GIVE_UP", "120"))
SKIP_RESUME = E.get("BENCH_REPL_SKIP_RESUME", "0") == "1"
SEED = 4

LOG = open(os.path.join(ROOT, "driver.log"), "a")


def note(msg):
    line = "repl-bench: %s" % msg
    print(line, file=sys.stderr, flush=True)
    print(time.strftime("%H:%M:%S ") + line, file=LOG, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- RESP client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp import Conn, ReplyError, encode, parse_info, free_ports, proc_io, du, wait_ready  # noqa: E402,F401


# ---------------------------------------------------------------- processes

def register_pid(pid):
    with open(os.path.join(ROOT, "pids"), "a") as f:
        f.write("%d\n" % pid)


def proc_status(pid):
    d = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                v = v.split()
                if v and v[-1] == "kB":
                    d[k] = int(v[0]) * 1024
                elif k == "State":
                    d[k] = v[0] if v else "?"
    except OSError:
        pass
    return d


def proc_smaps(pid):
    d = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                v = v.split()
                if len(v) == 2 and v[1] == "kB":
                    d[k] = int(v[0]) * 1024
    except OSError:
        pass
    return d


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                st = f.read()
            fields = st.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(name))
        except (OSError, IndexError, ValueError):
            pass
    return out


ALL_SERVERS = []


class Server:
    def __init__(self, kind, name, conf_lines, port=None):
        ALL_SERVERS.append(self)
        self.kind = kind  # "cairn" or "redis"
        self.name = name
        self.port = port or free_ports(1)[0]
        self.dir = os.path.join(ROOT, name)
        self.conf_lines = conf_lines
        self.proc = None
        self.n_starts = 0

    def start(self, fresh=True, extra=()):
        if fresh and os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(ROOT, self.name + ".conf")
        with open(conf, "w") as f:
            f.write("bind 127.0.0.1\nport %d\ndir %s\nlogfile \"\"\n" % (self.port, self.dir))
            for l in list(self.conf_lines) + list(extra):
                f.write(l + "\n")
        self.n_starts += 1
        log = open(os.path.join(ROOT, "%s.log" % self.name), "a")
        log.write("\n===== start %d (%s) =====\n" % (self.n_starts, time.strftime("%H:%M:%S")))
        log.flush()
        binary = CAIRN_BIN if self.kind == "cairn" else REDIS_BIN
        self.proc = subprocess.Popen([binary, conf], stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        register_pid(self.proc.pid)
        try:
            wait_ready(self.port, lambda: self.check_alive("while starting"), START_TIMEOUT)
        except TimeoutError as e:
            raise BenchError("%s did not answer: %s" % (self.name, e))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self, what):
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError("%s (pid %d) exited with %s %s; log tail:\n%s" % (
                self.name, self.proc.pid, self.proc.returncode, what, self.log_tail()))

    def log_tail(self, n=30):
        try:
            with open(os.path.join(ROOT, "%s.log" % self.name), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            note("%s did not stop within %.0fs of TERM; KILL" % (self.name, STOP_TIMEOUT))
            self.proc.kill()
            self.proc.wait()

    def cmd(self, *args, timeout=60.0):
        c = Conn(self.port, timeout)
        try:
            return c.cmd(*args)
        finally:
            c.close()

    def info(self, section=None, conn=None):
        args = ("INFO", section) if section else ("INFO",)
        return parse_info(conn.cmd(*args) if conn else self.cmd(*args))


# ---------------------------------------------------------------- data

def load(server, nkeys, vsize):
    """Pipelined SET key:%012d <vsize pseudo-random bytes> for 0..nkeys-1.
    Same key names as redis-benchmark -r, so its SETs overwrite these keys;
    values from a seeded pool, so every server gets the same bytes (and
    LZF in Redis's RDB gets nothing to compress)."""
    pool = random.Random(SEED).randbytes(8 << 20)
    span = len(pool) - vsize
    c = Conn(server.port, 300)
    batch = 2000
    pending = 0
    t0 = time.monotonic()
    hdr = b"$%d\r\n" % vsize
    for start in range(0, nkeys, batch):
        end = min(nkeys, start + batch)
        parts = []
        for i in range(start, end):
            o = (i * 7919) % span
            parts.append(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n%s%s\r\n" % (i, hdr, pool[o:o + vsize]))
        c.s.sendall(b"".join(parts))
        # Keep one batch in flight: read the previous batch's replies.
        for _ in range(pending):
            r = c.read()
            if r != "OK":
                raise BenchError("load: unexpected reply %r" % (r,))
        pending = end - start
    for _ in range(pending):
        c.read()
    c.close()
    dt = time.monotonic() - t0
    note("%s: loaded %d keys x %d B in %.1fs" % (server.name, nkeys, vsize, dt))
    return dt


class Load:
    """redis-benchmark SET load (values of VSIZE bytes over the loaded key
    range) in the background until stopped."""

    def __init__(self, server, tag):
        self.server = server
        self.out = open(os.path.join(ROOT, "load-%s-%s.txt" % (server.name, tag)), "w")
        self.p = subprocess.Popen(
            [BENCH_BIN, "-h", "127.0.0.1", "-p", str(server.port), "-c", str(CLIENTS), "-P", str(PIPELINE),
             "-t", "set", "-d", str(VSIZE), "-r", str(NKEYS), "-n", "2000000000", "-q"],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT)
        register_pid(self.p.pid)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()  # SIGINT takes redis-benchmark seconds; the load just has to stop now
            self.p.wait()
        self.out.close()
        if self.p.returncode not in (0, -signal.SIGINT, 130, -signal.SIGKILL):
            raise BenchError("redis-benchmark load against %s exited %s" % (self.server.name, self.p.returncode))


def write_bytes(server, nbytes):
    """Drive at least nbytes of replication stream into server with
    redis-benchmark SETs (counted by master_repl_offset)."""
    off0 = int(server.info("replication")["master_repl_offset"])
    # one SET of a VSIZE value over the key range is about VSIZE + 50 bytes of stream
    t0 = time.monotonic()
    while True:
        off = int(server.info("replication")["master_repl_offset"])
        left = nbytes - (off - off0)
        if left <= 0:
            break
        n = max(1000, int(left / (VSIZE + 45)) + 1000)
        r = subprocess.run([BENCH_BIN, "-h", "127.0.0.1", "-p", str(server.port), "-c", str(CLIENTS),
                            "-P", str(PIPELINE), "-t", "set", "-d", str(VSIZE), "-r", str(NKEYS), "-n", str(n), "-q"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise BenchError("redis-benchmark against %s failed: %s" % (server.name, r.stdout[-500:]))
        server.check_alive("while taking writes")
    dt = time.monotonic() - t0
    off = int(server.info("replication")["master_repl_offset"])
    note("%s: wrote %.2f GB of stream in %.1fs" % (server.name, (off - off0) / 1e9, dt))
    return off - off0, dt


# ---------------------------------------------------------------- sampling

class Sampler(threading.Thread):
    """Every 100 ms: the master's VmRSS/RssAnon (+ smaps Pss/Private_Dirty of
    any child, i.e. a fork), commands processed, and the replica's link
    state and offset."""

    def __init__(self, master, replica=None, period=0.1):
        super().__init__(daemon=True)
        self.master, self.replica, self.period = master, replica, period
        self.samples = []
        self.stop_ev = threading.Event()
        self.error = None
        self.mc = Conn(master.port, 30)
        self.rc = Conn(replica.port, 30) if replica else None

    def sample(self):
        t = time.monotonic()
        st = proc_status(self.master.pid)
        kids = children_of(self.master.pid)
        kid_rss = kid_anon = kid_pd = 0
        for k in kids:
            ks = proc_status(k)
            kid_rss += ks.get("VmRSS", 0)
            kid_anon += ks.get("RssAnon", 0)
            kid_pd += proc_smaps(k).get("Private_Dirty", 0)
        mi = self.master.info(conn=self.mc)
        s = {"t": t, "rss": st.get("VmRSS", 0), "anon": st.get("RssAnon", 0), "file": st.get("RssFile", 0),
             "kids": len(kids), "kid_rss": kid_rss, "kid_anon": kid_anon, "kid_pd": kid_pd,
             "cmds": int(mi.get("total_commands_processed", 0)), "moff": int(mi.get("master_repl_offset", 0)),
             "net_out": int(mi.get("total_net_output_bytes", 0))}
        rc = self.rc
        if rc:
            ri = self.replica.info("replication", conn=rc)
            s["link"] = ri.get("master_link_status", "?")
            s["roff"] = int(ri.get("slave_repl_offset", ri.get("master_repl_offset", "0")) or 0)
            s["loading"] = ri.get("master_sync_in_progress", "0")
        self.samples.append(s)
        return s

    def run(self):
        try:
            while not self.stop_ev.is_set():
                self.sample()
                self.stop_ev.wait(self.period)
        except Exception as e:  # surfaced by the caller
            self.error = e

    def finish(self):
        self.stop_ev.set()
        if self.is_alive():
            self.join()
        self.mc.close()
        if self.rc:
            self.rc.close()
        if self.error:
            raise BenchError("sampler: %s" % self.error)

    def last(self):
        return self.samples[-1] if self.samples else None


def cmds_rate(samples, t0, t1):
    a = [s for s in samples if t0 <= s["t"] <= t1]
    if len(a) < 2:
        return None
    return (a[-1]["cmds"] - a[0]["cmds"]) / (a[-1]["t"] - a[0]["t"])


def wait_synced(master, replica, sampler, t_start, need_equal=True, on_up=None, give_up=None):
    """Poll (via the sampler's samples) until the replica's link is up and its
    offset equals the master's. Returns (t_up, t_equal) relative to t_start.
    give_up = (seconds, callback): called once if the link is not up by then
    (the load is stopped so that the sync can finish at all)."""
    t_up = t_eq = None
    deadline = time.monotonic() + SYNC_TIMEOUT
    last_report = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        master.check_alive("during sync")
        replica.check_alive("during sync")
        if sampler.error:
            raise BenchError("sampler: %s" % sampler.error)
        if give_up and t_up is None and time.monotonic() - t_start > give_up[0]:
            give_up[1]()
            give_up = None
        s = sampler.last()
        if not s or s["t"] < t_start or "link" not in s:
            continue
        if t_up is None and s["link"] == "up":
            t_up = s["t"] - t_start
            if on_up:
                on_up()
        if t_up is not None and need_equal:
            # Fresh pair of readings, master first, then replica.
            mo = int(master.info("replication")["master_repl_offset"])
            ri = replica.info("replication")
            ro = int(ri.get("slave_repl_offset", "0") or 0)
            if ri.get("master_link_status") == "up" and ro == mo:
                t_eq = time.monotonic() - t_start
                return t_up, t_eq
        elif t_up is not None:
            return t_up, None
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            note("  ... %.0fs: link=%s replica offset=%s master offset=%s" % (
                time.monotonic() - t_start, s.get("link"), s.get("roff"), s.get("moff")))
    raise BenchError("replica %s did not sync with %s within %.0fs; last sample %r\nmaster log:\n%s\nreplica log:\n%s" % (
        replica.name, master.name, SYNC_TIMEOUT, sampler.last(), master.log_tail(), replica.log_tail()))


# ---------------------------------------------------------------- configs

# The initial LMDB map: at this commit a replica whose full-sync load
# outgrows the map fails it with MDB_MAP_FULL, grows the map and starts over
# (and the link drop that comes with it triggers the REPLICAOF bug); a map
# big enough from the start keeps the benchmark on the normal path.
CAIRN_MAP = E.get("BENCH_REPL_CAIRN_MAP") or "%dgb" % max(1, int(GB * 4 + 0.999))


def cairn_conf():
    return ["durability %s" % DURABILITY, "lmdb-map-size %s" % CAIRN_MAP]


def redis_master_conf(diskless):
    c = ["appendonly no", 'save ""']
    if diskless:
        c += ["repl-diskless-sync yes", "repl-diskless-sync-delay %s" % DISKLESS_DELAY]
    else:
        c += ["repl-diskless-sync no"]
    return c


def redis_replica_conf():
    return ["appendonly no", 'save ""']


# ---------------------------------------------------------------- benchmark 1

def start_replica(master, replica, fresh, sampler):
    """Start the replica with `replicaof` in its config file (the clock runs
    from just before the process starts). Not the REPLICAOF command: on cairn
    at this commit a REPLICAOF resets the stream-apply callbacks (see
    README), after which the replica's offset never advances."""
    sf = master.info("stats")
    sampler.sync_full0 = int(sf.get("sync_full", 0))
    replica.start(fresh=fresh, extra=["replicaof 127.0.0.1 %d" % master.port])
    sampler.replica = replica
    sampler.rc = Conn(replica.port, 30)


def one_sync(master, replica, loaded, kind):
    """Fresh replica started with `replicaof`, measure. loaded: run the SET
    load from IDLE_S seconds before the replica starts until its link is up."""
    sampler = Sampler(master, None)
    sampler.sample()
    base = sampler.last()
    sampler.start()
    load = None
    res = {}
    try:
        if loaded:
            load = Load(master, replica.name)
            time.sleep(2)  # warm-up
            t_idle0 = time.monotonic()
            time.sleep(IDLE_S)
            t_idle1 = time.monotonic()
            base = sampler.last()
        # Memory "before" = the highest reading in the second before REPLICAOF.
        time.sleep(0.3)
        pre = [s for s in sampler.samples if s["t"] >= time.monotonic() - 1.0] or [sampler.last()]
        before_rss = max(s["rss"] for s in pre)
        before_anon = max(s["anon"] for s in pre)
        before_tree = max(s["anon"] + s["kid_pd"] for s in pre)
        net0 = sampler.last()["net_out"]
        t0 = time.monotonic()
        start_replica(master, replica, True, sampler)
        t_up_abs = []

        def on_up():
            t_up_abs.append(time.monotonic())
            if load:
                load.stop()

        gave_up = []

        def stop_load():
            gave_up.append(time.monotonic())
            note("  link not up after %.0fs under load: stopping the load" % (gave_up[0] - t0))
            load.stop()

        t_up, t_eq = wait_synced(master, replica, sampler, t0, on_up=on_up,
                                 give_up=(LOAD_GIVE_UP, stop_load) if load else None)
        t_end = gave_up[0] if gave_up else t0 + t_up
        res["gave_up"] = (gave_up[0] - t0) if gave_up else None
        during = [s for s in sampler.samples if t0 <= s["t"] <= t0 + t_eq]
        res.update({
            "t_up": t_up, "t_eq": t_eq,
            "before_rss": before_rss, "before_anon": before_anon, "before_tree": before_tree,
            "peak_rss": max(s["rss"] for s in during), "peak_anon": max(s["anon"] for s in during),
            "peak_kid_rss": max(s["kid_rss"] for s in during), "peak_kid_pd": max(s["kid_pd"] for s in during),
            "peak_tree": max(s["anon"] + s["kid_pd"] for s in during),
            "net_sent": sampler.last()["net_out"] - net0,
        })
        if loaded:
            res["idle_rate"] = cmds_rate(sampler.samples, t_idle0, t_idle1)
            res["sync_rate"] = cmds_rate(sampler.samples, t0, t_end)
        res["stream_during"] = sampler.last()["moff"] - base["moff"]
    finally:
        if load and load.p.poll() is None:
            load.stop()
        sampler.finish()
    mi = master.info("stats")
    res["sync_full"] = int(mi.get("sync_full", 0)) - getattr(sampler, "sync_full0", 0)
    note("  %s %s: link up %.1fs, offsets equal %.1fs, master RSS %.0f -> %.0f MB, anon %.0f -> %.0f MB, fork child peak RSS %.0f MB (private dirty %.0f MB)%s" % (
        kind, "under load" if loaded else "idle", res["t_up"], res["t_eq"], res["before_rss"] / 1e6,
        res["peak_rss"] / 1e6, res["before_anon"] / 1e6, res["peak_anon"] / 1e6, res["peak_kid_rss"] / 1e6,
        res["peak_kid_pd"] / 1e6,
        (", writes %.0f/s idle vs %.0f/s during sync" % (res["idle_rate"], res["sync_rate"])) if loaded else ""))
    return res


def bench_full(results):
    out = {}
    masters = {}
    for sysname in SYSTEMS:
        if sysname == "cairn":
            m = Server("cairn", "cairn-master", cairn_conf())
            rep = Server("cairn", "cairn-replica", cairn_conf())
        else:
            diskless = sysname == "redis-diskless"
            m = Server("redis", sysname + "-master", redis_master_conf(diskless))
            rep = Server("redis", sysname + "-replica", redis_replica_conf())
        note("== full sync: %s" % sysname)
        m.start()
        masters[sysname] = (m, rep)
        load_s = load(m, NKEYS, VSIZE)
        if m.kind == "cairn":
            time.sleep(3)  # let the routine checkpoints after the load finish
        mem = m.info("memory")
        ks = m.info("keyspace")
        r = {"load_s": load_s, "used_memory": int(mem.get("used_memory", 0)), "keyspace": ks.get("db0", "?")}
        r["idle"] = one_sync(m, rep, False, sysname)
        rep.stop()
        r["loaded"] = one_sync(m, rep, True, sysname)
        r["master_dir"] = du(m.dir)
        out[sysname] = r
        results["full"] = out
        if sysname == "cairn" and not SKIP_RESUME:
            results["resume_cairn"] = bench_resume_cairn(m, rep)
        elif sysname == "redis-disk" and not SKIP_RESUME:
            results["resume_redis"] = bench_resume_redis(m, rep)
        rep.stop()
        m.stop()
        save(results)
    return out


# ---------------------------------------------------------------- benchmark 2

def df_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def measure_catchup(master, replica, kind, fresh):
    """Start the replica (fresh: empty dir; False: its old dir) or, with
    fresh=None, REPLICAOF on the running one; measure until caught up."""
    io0 = proc_io(master.pid)
    st0 = master.info("stats")
    sampler = Sampler(master, None)
    sampler.sample()
    sampler.start()
    t0 = time.monotonic()
    try:
        if fresh is None:  # redis: detached with REPLICAOF NO ONE, re-attach
            r = replica.cmd("REPLICAOF", "127.0.0.1", master.port)
            if r != "OK":
                raise BenchError("REPLICAOF: %r" % (r,))
            sampler.replica = replica
            sampler.rc = Conn(replica.port, 30)
        else:
            start_replica(master, replica, fresh, sampler)
        t_up, t_eq = wait_synced(master, replica, sampler, t0)
    finally:
        sampler.finish()
    io1 = proc_io(master.pid)
    st1 = master.info("stats")
    during = [s for s in sampler.samples if s["t"] >= t0]
    res = {
        "t_up": t_up, "t_eq": t_eq,
        "read_bytes": io1.get("read_bytes", 0) - io0.get("read_bytes", 0),
        "rchar": io1.get("rchar", 0) - io0.get("rchar", 0),
        "net_sent": int(st1["total_net_output_bytes"]) - int(st0["total_net_output_bytes"]),
        "full": int(st1.get("sync_full", 0)) - int(st0.get("sync_full", 0)),
        "partial": int(st1.get("sync_partial_ok", 0)) - int(st0.get("sync_partial_ok", 0)),
        "peak_rss": max(s["rss"] for s in during), "peak_anon": max(s["anon"] for s in during),
        "before_rss": sampler.samples[0]["rss"], "before_anon": sampler.samples[0]["anon"],
    }
    note("  %s: %s, caught up in %.1fs, master read_bytes %.1f MB (rchar %.1f MB), sent %.1f MB" % (
        kind, "partial" if res["partial"] else ("FULL" if res["full"] else "?"), t_eq,
        res["read_bytes"] / 1e6, res["rchar"] / 1e6, res["net_sent"] / 1e6))
    return res


def bench_resume_cairn(master, replica):
    rows = []
    for n in RESUME:
        nbytes = int(n * 1e9)
        # master backlog + replica backlog for the missed stream, plus a full copy of the data set
        need = 2 * nbytes + 3 * NKEYS * (VSIZE + 100)
        free = df_free(ROOT)
        if free < 3 * need:
            note("resume %.2f GB: SKIPPED, %.1f GB free < 3 x %.1f GB needed" % (n, free / 1e9, need / 1e9))
            rows.append({"gb": n, "skipped": "%.1f GB free < 3 x %.1f GB needed" % (free / 1e9, need / 1e9)})
            continue
        note("== resume after %.2f GB (cairn)" % n)
        # The replica is in sync here; stop it (TERM: a clean shutdown).
        replica.stop()
        written, wdt = write_bytes(master, nbytes)
        time.sleep(2)
        res = measure_catchup(master, replica, "cairn resume %.2f GB" % n, False)
        # Same data, forced full sync: delete the replica's dir.
        replica.stop()
        full = measure_catchup(master, replica, "cairn forced full sync", True)
        rows.append({"gb": n, "written": written, "write_s": wdt, "resume": res, "full": full})
        rows[-1]["backlog_dir"] = du(os.path.join(master.dir, "backlog"))
    return rows


def bench_resume_redis(master, replica):
    """Redis contrast: repl-backlog-size 1mb. The replica is detached with
    REPLICAOF NO ONE (it keeps its data and replid, so it asks for PSYNC)."""
    rows = []
    master.cmd("CONFIG", "SET", "repl-backlog-size", "1mb")
    for n in RESUME:
        note("== redis after %.2f GB, repl-backlog-size 1mb" % n)
        nbytes = int(n * 1e9)
        replica.cmd("REPLICAOF", "NO", "ONE")
        written, wdt = write_bytes(master, nbytes)
        res = measure_catchup(master, replica, "redis after %.2f GB" % n, None)
        rows.append({"gb": n, "written": written, "write_s": wdt, "resume": res})
    return rows


# ---------------------------------------------------------------- report

def save(results):
    with open(PREFIX + ".json", "w") as f:
        json.dump(results, f, indent=1)


def mb(x):
    return "%.0f MB" % (x / 1e6) if x is not None else "?"


def ratio(a, b):
    return "%.2fx" % (a / b) if a is not None and b else "?"


def pct(a, b):
    return "%.0f%%" % (100.0 * a / b) if a is not None and b else "?"


def report(results):
    L = []
    full = results.get("full", {})
    if full:
        L.append("## Full sync of %d keys x %d B (one master, one fresh replica)" % (NKEYS, VSIZE))
        L.append("")
        L.append("Sync time (no other load), from starting the replica process (`replicaof` in its config):")
        L.append("")
        L.append("| master | master used_memory | link up | offsets equal | bytes sent | master peak VmRSS / before | cairn RssAnon peak / before | fork child peak VmRSS | fork child Private_Dirty peak | master anon + child Private_Dirty, peak / before |")
        L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for k, r in full.items():
            if "idle" not in r:
                continue
            i = r["idle"]
            L.append("| %s | %s | %.1f s | %.1f s | %s | %s / %s = %s | %s | %s | %s | %s |" % (
                k, mb(r["used_memory"]), i["t_up"], i["t_eq"], mb(i["net_sent"]), mb(i["peak_rss"]), mb(i["before_rss"]),
                ratio(i["peak_rss"], i["before_rss"]),
                ("%s / %s = %s" % (mb(i["peak_anon"]), mb(i["before_anon"]), ratio(i["peak_anon"], i["before_anon"]))) if k == "cairn" else "—",
                mb(i["peak_kid_rss"]) if k != "cairn" else "—", mb(i["peak_kid_pd"]) if k != "cairn" else "—",
                ratio(i["peak_tree"], i["before_tree"])))
        L.append("")
        L.append("Under write load (`redis-benchmark -c %d -P %d -t set -d %d -r %d` against the master, from %.0f s before the replica is started until its link is up; then killed):" % (
            CLIENTS, PIPELINE, VSIZE, NKEYS, IDLE_S + 2))
        L.append("")
        L.append("| master | SET/s idle | SET/s during sync | during / idle | full syncs | link up | offsets equal (after load stopped) | stream written during | master peak VmRSS / before | cairn RssAnon peak / before | fork child peak VmRSS | fork child Private_Dirty peak | master anon + child Private_Dirty, peak / before |")
        L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for k, r in full.items():
            if "loaded" not in r:
                continue
            i = r["loaded"]
            L.append("| %s | %.0f | %.0f | %s | %s | %.1f s%s | %.1f s | %s | %s / %s = %s | %s | %s | %s | %s |" % (
                k, i["idle_rate"] or 0, i["sync_rate"] or 0, pct(i["sync_rate"], i["idle_rate"]), i.get("sync_full", "?"),
                i["t_up"], (" (load stopped at %.0f s, link still down)" % i["gave_up"]) if i.get("gave_up") else "", i["t_eq"],
                mb(i["stream_during"]),
                mb(i["peak_rss"]), mb(i["before_rss"]), ratio(i["peak_rss"], i["before_rss"]),
                ("%s / %s = %s" % (mb(i["peak_anon"]), mb(i["before_anon"]), ratio(i["peak_anon"], i["before_anon"]))) if k == "cairn" else "—",
                mb(i["peak_kid_rss"]) if k != "cairn" else "—", mb(i["peak_kid_pd"]) if k != "cairn" else "—",
                ratio(i["peak_tree"], i["before_tree"])))
        L.append("")
    rc = results.get("resume_cairn")
    if rc:
        L.append("## Resume after missing N GB of writes (cairn master, cairn replica stopped meanwhile)")
        L.append("")
        L.append("| missed | how | time to caught up | master read_bytes (disk) | master rchar (read syscalls) | bytes sent | master RssAnon peak / before |")
        L.append("|---|---|--:|--:|--:|--:|--:|")
        for row in rc:
            if "skipped" in row:
                L.append("| %.2f GB | skipped: %s | | | | | |" % (row["gb"], row["skipped"]))
                continue
            for how, r in (("resume", row["resume"]), ("forced full sync", row["full"])):
                kind = "+CONTINUE" if r["partial"] and not r["full"] else ("FULLRESYNC" if r["full"] else "?")
                L.append("| %.2f GB (%s of stream) | %s (%s) | %.1f s | %s | %s | %s | %s / %s |" % (
                    row["gb"], mb(row["written"]), how, kind, r["t_eq"], mb(r["read_bytes"]), mb(r["rchar"]),
                    mb(r["net_sent"]), mb(r["peak_anon"]), mb(r["before_anon"])))
        L.append("")
    rr = results.get("resume_redis")
    if rr:
        L.append("## Redis for contrast: `repl-backlog-size 1mb`, disk-based sync, replica detached with REPLICAOF NO ONE")
        L.append("")
        L.append("| missed | what Redis did | time to caught up | master read_bytes (disk) | bytes sent |")
        L.append("|---|---|--:|--:|--:|")
        for row in rr:
            r = row["resume"]
            kind = "+CONTINUE" if r["partial"] and not r["full"] else ("full sync" if r["full"] else "?")
            L.append("| %.2f GB (%s of stream) | %s | %.1f s | %s | %s |" % (
                row["gb"], mb(row["written"]), kind, r["t_eq"], mb(r["read_bytes"]), mb(r["net_sent"])))
        L.append("")
    return "\n".join(L)


def main():
    if len(sys.argv) > 3 and sys.argv[3] == "--report":
        with open(PREFIX + ".json") as f:
            sys.stdout.write(report(json.load(f)) + "\n")
        return 0
    results = {"nkeys": NKEYS, "vsize": VSIZE, "resume_gb": RESUME, "systems": SYSTEMS}
    try:
        bench_full(results)
    finally:
        save(results)
        for srv in ALL_SERVERS:
            try:
                srv.stop()
            except Exception as e:
                note("stopping %s: %s" % (srv.name, e))
        with open(PREFIX + ".tables.md", "w") as f:
            f.write(report(results) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, ReplyError) as e:
        note("error: %s" % e)
        sys.exit(1)
