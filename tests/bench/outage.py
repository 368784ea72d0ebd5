#!/usr/bin/env python3
"""A 24-hour replica outage in compressed time (issue 14's measurement).

One cairn master, one cairn replica and one redis-server 7.0 replica, all on
free 127.0.0.1 ports in a temp dir:

  a. warm-up: both replicas attached, the master takes a mixed load (SET,
     HSET, LPUSH/LTRIM, ZADD, XADD MAXLEN ~) over a Zipf-distributed key
     space; INFO replication (horizon, write rates) is recorded;
  b. outage: both replicas SHUTDOWN (the redis replica writes its RDB with
     its replication id and offset: `save 3600 1`); the master takes
     RATE x DAY_SECONDS bytes of replication stream, as fast as it accepts
     them (or at --pace bytes/s), sampling its horizon and backlog disk use;
  c. return: the master keeps writing at half its measured maximum while
     both replicas start again on their old dirs and ports; per replica:
     +CONTINUE or full sync, time until it holds what it missed and until
     it keeps up with the moving master, its catch-up rate against the
     master's accept rate, bytes received on the wire (ss -ti of its link),
     and the master's backlog on disk; then the master's predicted horizon
     against what happened.

Usage: python3 tests/bench/outage.py [BUILD_DIR] [--small] [options]
(stdlib only; `python3 tests/bench/outage.py -h` lists the options).
Prints markdown tables. All servers are stopped however the script ends.
"""
import argparse
import bisect
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resp  # noqa: E402
from resp import Conn, ReplyError, du, parse_info, proc_io  # noqa: E402

MB = 1e6
START_TIMEOUT = 120.0
STOP_TIMEOUT = 120.0


def note(msg):
    print("outage: %s" % msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- servers

class Server:
    """A cairn-server or redis-server started on a config file we write
    (bind 127.0.0.1, port, dir, logfile + conf lines); restartable on the
    same dir and port."""

    def __init__(self, root, name, binary, port, conf_lines):
        self.name, self.binary, self.port = name, binary, port
        self.dir = os.path.join(root, name)
        self.log = os.path.join(root, name + ".log")
        self.conf = os.path.join(root, name + ".conf")
        self.conf_lines = conf_lines
        self.proc = None
        os.makedirs(self.dir)

    def start(self):
        with open(self.conf, "w") as f:
            f.write("bind 127.0.0.1\nport %d\ndir %s\nlogfile %s\n" % (self.port, self.dir, self.log))
            f.write("".join(line + "\n" for line in self.conf_lines))
        self.proc = subprocess.Popen([self.binary, self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            resp.wait_ready(self.port, lambda: self.check("while starting"), START_TIMEOUT, 0.05)
        except TimeoutError as e:
            raise BenchError("%s: %s" % (self.name, e))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check(self, what):
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError("%s exited with %s %s; log tail:\n%s" % (self.name, self.proc.returncode, what,
                                                                      self.log_tail()))

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, pos):
        try:
            with open(self.log, "rb") as f:
                f.seek(pos)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=25):
        return "".join(self.log_since(0).splitlines(True)[-n:]) or "(empty log)"

    def cmd(self, *args, timeout=60.0):
        c = Conn(self.port, timeout)
        try:
            return c.cmd(*args)
        finally:
            c.close()

    def info(self, *sections):
        return parse_info(self.cmd("INFO", *sections))

    def shutdown(self):
        """SHUTDOWN (redis: SAVE, so its RDB carries the replication id and
        offset); bounded wait, then KILL."""
        if not self.alive():
            return
        try:
            self.cmd("SHUTDOWN", *(["SAVE"] if "redis" in self.name else []), timeout=STOP_TIMEOUT)
        except (OSError, ReplyError):
            pass  # the connection closes as the server exits
        self.wait_exit()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            self.wait_exit()

    def wait_exit(self):
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            note("%s did not exit within %.0f s; KILL" % (self.name, STOP_TIMEOUT))
            self.proc.kill()
            self.proc.wait()


def offset_of(info):
    """The replication offset a server reports (replica: what it applied)."""
    v = info.get("slave_repl_offset") or info.get("master_repl_offset") or "0"
    return int(v)


def link_rx_bytes(pids, master_port):
    """bytes_received of the pids' established TCP connections to
    master_port, {pid: {local port: bytes}}, from one `ss -tinpH`."""
    try:
        out = subprocess.run(["ss", "-tinpH", "state", "established", "( dport = :%d )" % master_port],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    res, cur = {p: {} for p in pids}, None
    for line in out.splitlines():
        if not line.startswith(("\t", " ")):
            cur = None
            m = re.search(r"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:%d\b" % master_port, line)
            pm = re.search(r"pid=(\d+),", line)
            if m and pm and int(pm.group(1)) in res:
                cur = (int(pm.group(1)), int(m.group(1)))
        elif cur is not None:
            m = re.search(r"bytes_received:(\d+)", line)
            res[cur[0]][cur[1]] = int(m.group(1)) if m else 0
    return res


# ---------------------------------------------------------------- the load

WORDS = None


def text_pool(rng, size):
    """Text-like bytes (words, numbers, punctuation) for values: zstd finds
    in them about what it finds in JSON-ish application data."""
    global WORDS
    letters = "abcdefghijklmnopqrstuvwxyz"
    WORDS = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(4000)]
    parts, n = [], 0
    while n < size:
        r = rng.random()
        w = rng.choice(WORDS) if r < 0.7 else ('"%d"' % rng.randint(0, 10 ** rng.randint(1, 9)) if r < 0.9
                                               else rng.choice(['{"', '":', ',"', '},', '[', ']']))
        parts.append(w)
        n += len(w) + 1
    return " ".join(parts).encode()


def cmd_bytes(*args):
    return resp.encode(args)


PING = cmd_bytes("PING")


def make_blocks(rng, keys, zipf_s, pool_bytes, per_block):
    """Pipelines of per_block mixed write commands, each closed by a PING
    (its +PONG marks the block done). Key ranks are Zipf(zipf_s) over keys;
    a key's type follows from its number: 50% strings, 20% hashes, 10% each
    lists, sorted sets, streams."""
    pool = text_pool(rng, 4 << 20)
    span = len(pool) - 4096
    cum = list(itertools.accumulate(1.0 / (i + 1) ** zipf_s for i in range(keys)))
    total = cum[-1]

    def val(lo, hi, median):
        n = int(min(hi, max(lo, rng.lognormvariate(0, 0.8) * median)))
        o = rng.randrange(span)
        return pool[o:o + n]

    blocks, size = [], 0
    while size < pool_bytes:
        ranks = [bisect.bisect_left(cum, rng.random() * total) for _ in range(per_block)]
        parts = []
        for k in ranks:
            t = k % 10
            if t < 5:
                if rng.random() < 0.2:
                    parts.append(cmd_bytes("SET", "s:%d" % k, val(16, 4096, 200), "EX", 86400))
                else:
                    parts.append(cmd_bytes("SET", "s:%d" % k, val(16, 4096, 200)))
            elif t < 7:
                parts.append(cmd_bytes("HSET", "h:%d" % k, "f%d" % (int(rng.paretovariate(1.2)) % 50),
                                       val(8, 512, 60)))
            elif t == 7:
                if rng.random() < 0.1:
                    parts.append(cmd_bytes("LTRIM", "l:%d" % k, 0, 499))
                else:
                    parts.append(cmd_bytes("LPUSH", "l:%d" % k, val(8, 1024, 80)))
            elif t == 8:
                parts.append(cmd_bytes("ZADD", "z:%d" % k, "%.3f" % (rng.random() * 1e6), "m%d" % rng.randrange(2000)))
            else:
                parts.append(cmd_bytes("XADD", "x:%d" % k, "MAXLEN", "~", 1000, "*", "event", rng.choice(WORDS),
                                       "payload", val(8, 512, 60)))
        parts.append(PING)
        b = b"".join(parts)
        blocks.append(b)
        size += len(b)
    return blocks


class Writer:
    """conns threads, each a connection that sends the blocks in turn (up to
    two in flight). pace: stream bytes/s for all of them together, converted
    to bytes sent with ratio (stream bytes per byte sent); None = as fast as
    the master takes them."""

    def __init__(self, port, blocks, conns, pace=None, ratio=1.0):
        self.port, self.blocks, self.pace, self.ratio = port, blocks, pace, ratio
        self.stop_ev = threading.Event()
        self.sent = [0] * conns
        self.error = None
        self.threads = [threading.Thread(target=self.run, args=(i, conns), daemon=True) for i in range(conns)]
        for t in self.threads:
            t.start()

    def run(self, i, conns):
        try:
            c = Conn(self.port, 120)
            idx = i * len(self.blocks) // conns
            inflight, tail = 0, b""
            t0 = time.monotonic()
            per_thread = self.pace / conns / self.ratio if self.pace else None
            while not self.stop_ev.is_set() or inflight:
                can_send = inflight < 2 and not self.stop_ev.is_set()
                if can_send and per_thread and self.sent[i] > per_thread * (time.monotonic() - t0):
                    if not inflight:
                        time.sleep(0.005)
                        continue
                    can_send = False
                if can_send:
                    b = self.blocks[idx % len(self.blocks)]
                    idx += 1
                    c.s.sendall(b)
                    self.sent[i] += len(b)
                    inflight += 1
                    continue
                data = c.s.recv(1 << 20)
                if not data:
                    raise ConnectionError("the master closed the connection")
                # a reply starts after \r\n (and the connection's first one
                # at 0); no bulk reply here (XADD's id) starts with '-'
                chunk = (tail or b"\r\n") + data
                j = chunk.find(b"\r\n-")
                if j >= 0:
                    raise ReplyError("error reply: %r" % chunk[j + 2:j + 200])
                inflight -= chunk.count(b"+PONG\r\n") - tail.count(b"+PONG\r\n")
                tail = chunk[-8:]
            c.close()
        except Exception as e:  # reported by check()
            self.error = e
            self.stop_ev.set()

    def check(self):
        if self.error:
            raise BenchError("writer: %s" % self.error)

    def total_sent(self):
        return sum(self.sent)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)
        self.check()


# ---------------------------------------------------------------- phases

def wait_in_sync(master, replicas, timeout):
    """Until every replica's link is up and its offset equals the master's
    (the master is idle)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mo = int(master.info("replication")["master_repl_offset"])
        ok = True
        for r in replicas:
            r.check("while syncing")
            try:
                ri = r.info("replication")
            except (OSError, ReplyError):
                ok = False
                continue
            if ri.get("master_link_status") != "up" or offset_of(ri) < mo:
                ok = False
        if ok:
            return
        time.sleep(0.2)
    raise BenchError("replicas not in sync within %.0f s" % timeout)


def slot_fields(mi):
    """repl_slotN lines of INFO replication: {name: {field: value}}."""
    out = {}
    for k, v in mi.items():
        if re.fullmatch(r"repl_slot\d+", k):
            d = dict(kv.split("=", 1) for kv in v.split(",") if "=" in kv)
            out[d.get("name", k)] = d
    return out


def write_stream(master, start_writer, nbytes, sample_every, samples, replicas_ports, tmax):
    """Start a writer (start_writer()) and stop it once the master's offset
    moved nbytes, recording a sample of INFO replication + persistence and
    the backlog's du every sample_every seconds. Returns (bytes, seconds,
    bytes sent) up to the moment the writer's last replies arrived."""
    o0 = int(master.info("replication")["master_repl_offset"])
    t0 = time.monotonic()
    writer = start_writer()
    try:
        done, sent = sample_until(master, writer, o0, t0, nbytes, sample_every, samples, replicas_ports, tmax)
    finally:
        writer.stop()
    t1 = time.monotonic()
    done = int(master.info("replication")["master_repl_offset"]) - o0
    return done, t1 - t0, writer.total_sent()


def sample_until(master, writer, o0, t0, nbytes, sample_every, samples, replicas_ports, tmax):
    next_sample = t0
    while True:
        writer.check()
        master.check("during the outage")
        now = time.monotonic()
        mi = master.info("replication", "persistence")
        done = int(mi["master_repl_offset"]) - o0
        if now >= next_sample or done >= nbytes:
            slots = slot_fields(mi)
            samples.append({
                "t": now - t0, "stream": done, "horizon": int(mi.get("repl_resume_horizon_sec", -1)),
                "rate_1m": int(mi.get("repl_write_rate_1m", 0)), "rate_1h": int(mi.get("repl_write_rate_1h", 0)),
                "wal_disk": int(mi.get("wal_disk_bytes", 0)), "wal_segments": int(mi.get("wal_segments", 0)),
                "ratio": float(mi.get("wal_compression_ratio", 0) or 0),
                "du": du(os.path.join(master.dir, "backlog")),
                "slots": {p: slots.get("127.0.0.1:%d" % p, {}) for p in replicas_ports}})
            next_sample = now + sample_every
        if done >= nbytes:
            return done, writer.total_sent()
        if now - t0 > tmax:
            raise BenchError("the master took only %.0f of %.0f MB in %.0f s" % (done / MB, nbytes / MB, tmax))
        time.sleep(0.02)


class Watch:
    """Catch-up of one restarted replica."""

    def __init__(self, server, missed_from):
        self.s = server
        self.off0 = missed_from   # its offset when it stopped
        self.t_hold = None        # it holds what the master had at the restart
        self.t_live = None        # it keeps up with the moving master
        self.off_hold = self.off_live = None
        self.rx = {}              # its link's bytes_received, per local port
        self.rx_hold = None       # ... summed, when it held the missed stream
        self.last = {}


def return_phase(master, watches, mo_restart, timeout, live_lag):
    """Poll master then replicas until each holds mo_restart and is within
    live_lag bytes of the master's moving offset."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    pids = [w.s.pid for w in watches]
    while time.monotonic() < deadline:
        master.check("during the catch-up")
        mo = int(master.info("replication")["master_repl_offset"])
        seen = []
        for w in watches:
            w.s.check("during the catch-up")
            try:
                w.last = w.s.info("replication")
                seen.append((w, time.monotonic() - t0))
            except (OSError, ReplyError):
                pass  # still starting
        rx = link_rx_bytes(pids, master.port)   # just after: bytes up to then, at most one poll more
        for w in watches:
            w.rx.update(rx.get(w.s.pid, {}))
        for w, t in seen:
            ro = offset_of(w.last)
            up = w.last.get("master_link_status") == "up"
            if w.t_hold is None and up and ro >= mo_restart:
                w.t_hold, w.off_hold, w.rx_hold = t, ro, sum(w.rx.values())
            if w.t_hold is not None and w.t_live is None and up and mo - ro <= live_lag:
                w.t_live, w.off_live = t, ro
        if all(w.t_live is not None for w in watches):
            rx = link_rx_bytes(pids, master.port)
            for w in watches:
                w.rx.update(rx.get(w.s.pid, {}))
            return
        time.sleep(0.1)
    raise BenchError("replicas did not catch up within %.0f s: %s" % (
        timeout, "; ".join("%s offset %s link %s" % (w.s.name, offset_of(w.last) if w.last else "?",
                                                     w.last.get("master_link_status")) for w in watches)))


def sync_kind(master_log, replica_log, port):
    """'+CONTINUE', 'full sync' or '?' from the master's log (lines naming
    the replica's port) and the replica's own log."""
    tag = "127.0.0.1:%d" % port
    cont = any("Partial resynchronization request from %s accepted" % tag in l for l in master_log.splitlines())
    full = any(tag in l and ("full resync" in l or "full sync instead" in l or "cost more" in l)
               for l in master_log.splitlines())
    cont = cont or "Successful partial resynchronization" in replica_log
    full = full or "Full resync from master" in replica_log
    kind = {(True, False): "+CONTINUE", (False, True): "full sync"}.get((cont, full), "both?" if cont else "?")
    # was its offset still in the backlog? (the cost rule may still pick a full sync)
    lines = [l for l in master_log.splitlines() if tag in l]
    if any("could continue from offset" in l for l in lines) or kind == "+CONTINUE":
        kind += " (offset in the backlog)" if kind != "+CONTINUE" else ""
        if "cost more" in "".join(lines):
            kind += ", chosen by repl-resync cost"
    elif any("Partial resynchronization not accepted" in l for l in lines):
        kind += " (offset no longer in the backlog)"
    return kind


def log_lines(text, pats, n=6):
    out = [l for l in text.splitlines() if any(p in l for p in pats)]
    return out[:n]


# ---------------------------------------------------------------- report

def fmt_mb(x):
    return "%.0f MB" % (x / MB) if x >= 10 * MB else "%.1f MB" % (x / MB)


def fmt_dur(s):
    if s is None or s < 0:
        return "no limit" if s is not None else "—"
    if s >= 2 * 86400:
        return "%.1f d" % (s / 86400)
    if s >= 2 * 3600:
        return "%.1f h" % (s / 3600)
    if s >= 120:
        return "%.0f min" % (s / 60)
    return "%.0f s" % s


def table(head, rows, align=None):
    align = align or ["---"] + ["--:"] * (len(head) - 1)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def predicted_bytes(horizon_s, rate):
    """Stream bytes a horizon stands for at the rate INFO used for it."""
    return None if horizon_s < 0 or rate <= 0 else horizon_s * rate


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", default="build", help="cairn build dir [build]")
    ap.add_argument("--small", action="store_true",
                    help="quick run: ~200 MB of outage stream over 20,000 keys (--rate 2315 --keys 20000)")
    ap.add_argument("--rate", type=float, help="the stated write rate, stream bytes/s [50000: 4.3 GB a day]")
    ap.add_argument("--day-seconds", type=float, default=86400, help="outage length at --rate [86400]")
    ap.add_argument("--pace", type=float, help="write the outage at this many bytes/s instead of flat out")
    ap.add_argument("--keys", type=int, help="key space [1000000; --small 20000]")
    ap.add_argument("--zipf", type=float, default=0.99, help="Zipf exponent of key popularity [0.99]")
    ap.add_argument("--warmup-bytes", type=float, help="stream bytes of the warm-up [5%% of the day, >= 20 MB]")
    ap.add_argument("--warmup-seconds", type=float,
                    help="the warm-up is paced over this long, so that INFO's write rates see it [60; --small 10]")
    ap.add_argument("--conns", type=int, default=4, help="writer connections [4]")
    ap.add_argument("--return-fraction", type=float, default=0.5,
                    help="write rate during the catch-up, fraction of the outage's accept rate [0.5]")
    ap.add_argument("--resync", default="cost", choices=["cost", "partial", "full"],
                    help="the master's repl-resync [cost, the default]")
    ap.add_argument("--cairn-config", action="append", default=[],
                    help="extra directive for the cairn master and replica, e.g. 'backlog-max-bytes 1gb'")
    ap.add_argument("--master-config", action="append", default=[], help="extra directive for the master only")
    ap.add_argument("--no-redis", action="store_true", help="leave the redis-server replica out")
    ap.add_argument("--timeout", type=float, default=3600, help="bound on each phase, seconds [3600]")
    ap.add_argument("--tmpdir", default=os.environ.get("BENCH_TMPDIR") or None, help="where the temp dir goes")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (data, logs)")
    ap.add_argument("--seed", type=int, default=14)
    a = ap.parse_args(argv)
    if a.rate is None:
        a.rate = 2315.0 if a.small else 50000.0
    if a.keys is None:
        a.keys = 20000 if a.small else 1000000
    day = a.rate * a.day_seconds
    if a.warmup_seconds is None:
        a.warmup_seconds = 10.0 if a.small else 60.0
    if a.warmup_bytes is None:
        a.warmup_bytes = max(20 * MB, 0.05 * day)
    return a


def main(argv):
    a = parse_args(argv)
    cairn_bin = os.path.abspath(os.path.join(a.build, "cairn-server"))
    redis_bin = shutil.which("redis-server")
    if not os.access(cairn_bin, os.X_OK):
        raise BenchError("no %s (build first)" % cairn_bin)
    if not a.no_redis and not redis_bin:
        raise BenchError("redis-server not found (--no-redis to leave it out)")
    day_bytes = a.rate * a.day_seconds
    root = tempfile.mkdtemp(prefix="cairn-outage.", dir=a.tmpdir)
    free = shutil.disk_usage(root).free
    if free < 3 * day_bytes + 2e9:
        note("warning: %.1f GB free under %s; the run wants about %.1f GB" % (free / 1e9, root,
                                                                            (3 * day_bytes + 2e9) / 1e9))
    rng = random.Random(a.seed)
    note("generating the load (%d keys, Zipf %.2f)" % (a.keys, a.zipf))
    blocks = make_blocks(rng, a.keys, a.zipf, (12 if a.small else 32) * MB, 1000)
    ports = resp.free_ports(3)
    master = Server(root, "cairn-master", cairn_bin, ports[0],
                    ["repl-resync %s" % a.resync] + a.cairn_config + a.master_config)
    replicaof = "replicaof 127.0.0.1 %d" % ports[0]
    reps = [Server(root, "cairn-replica", cairn_bin, ports[1], a.cairn_config + [replicaof])]
    if not a.no_redis:
        reps.append(Server(root, "redis-replica", redis_bin, ports[2],
                           ["save 3600 1", "appendonly no", "repl-diskless-load disabled", replicaof]))
    servers = [master] + reps
    writer = None
    R = {}
    try:
        for s in servers:
            s.start()
        wait_in_sync(master, reps, a.timeout)
        R["o_start"] = int(master.info("replication")["master_repl_offset"])
        # ---- a. warm-up
        note("warm-up: %.0f MB of stream over %.0f s" % (a.warmup_bytes / MB, a.warmup_seconds))
        warm = []
        # the first 2 MB unpaced, to learn the stream bytes per byte sent
        pb_, ps_, sent0 = write_stream(master, lambda: Writer(master.port, blocks, a.conns), 2 * MB, 5, warm,
                                   [r.port for r in reps], a.timeout)
        R["probe_rate"] = pb_ / ps_
        R["ratio"] = (int(master.info("replication")["master_repl_offset"]) - R.setdefault("o_start", 0)) / sent0
        wb, ws, sent = write_stream(master, lambda: Writer(master.port, blocks, a.conns, pace=a.warmup_bytes / a.warmup_seconds,
                                                           ratio=R["ratio"]), a.warmup_bytes, 5, warm,
                                    [r.port for r in reps], a.timeout)
        R["warm_rate"] = wb / ws
        R["warm_info"] = master.info("replication", "persistence")
        wait_in_sync(master, reps, a.timeout)
        R["keys"] = int(master.cmd("DBSIZE"))
        R["caps"] = {k: int(master.cmd("CONFIG", "GET", k)[1]) for k in ("backlog-max-bytes", "repl-slot-max-age")}
        note("warm-up: %.0f MB in %.1f s (%.1f MB/s), %d keys; horizon %s s" % (
            wb / MB, ws, wb / ws / MB, R["keys"], R["warm_info"].get("repl_resume_horizon_sec")))
        # ---- b. outage
        for r in reps:
            r.shutdown()
        R["stop_offset"] = int(master.info("replication")["master_repl_offset"])
        if not a.no_redis and not os.path.exists(os.path.join(reps[1].dir, "dump.rdb")):
            raise BenchError("the redis replica wrote no dump.rdb at SHUTDOWN")
        st0, io0 = master.info("stats"), proc_io(master.pid)
        note("outage: %.0f MB of stream (%s at %.0f B/s)%s" % (day_bytes / MB, fmt_dur(a.day_seconds), a.rate,
                                                               " at %.0f B/s" % a.pace if a.pace else ""))
        out = []
        est = day_bytes / (a.pace or R["probe_rate"])
        ob, os_, _ = write_stream(master, lambda: Writer(master.port, blocks, a.conns, pace=a.pace, ratio=R["ratio"]),
                                  day_bytes, max(0.25, est / 12), out, [r.port for r in reps], a.timeout)
        R["out_bytes"], R["out_s"], R["out_samples"] = ob, os_, out
        R["accept"] = ob / os_
        R["out_end_info"] = master.info("replication", "persistence")
        R["out_io"] = {k: proc_io(master.pid).get(k, 0) - io0.get(k, 0) for k in ("write_bytes", "wchar")}
        note("outage: %.0f MB in %.1f s (%.1f MB/s)" % (ob / MB, os_, R["accept"] / MB))
        # ---- c. return, the master writing at a fraction of its maximum
        max_rate = R["accept"] if not a.pace else R["probe_rate"]  # with --pace: a 2 MB burst's rate
        pace = a.return_fraction * max_rate
        writer = Writer(master.port, blocks, max(1, a.conns // 2), pace=pace, ratio=R["ratio"])
        time.sleep(1)
        writer.check()
        st1, io1 = master.info("stats"), proc_io(master.pid)
        logpos = {s.name: s.log_size() for s in servers}
        mo_restart = int(master.info("replication")["master_repl_offset"])
        R["before_restart"] = mo_restart - R["stop_offset"] - R["out_bytes"]
        t_restart = time.monotonic()
        watches = [Watch(r, R["stop_offset"]) for r in reps]
        for r in reps:
            r.start()
        note("return: replicas restarted, master writing at ~%.1f MB/s" % (pace / MB))
        return_phase(master, watches, mo_restart, a.timeout, max(1 * MB, pace * 0.5))
        t_done = time.monotonic()
        mo_done = int(master.info("replication")["master_repl_offset"])
        st2, io2 = master.info("stats"), proc_io(master.pid)
        writer.stop()
        writer = None
        R["return_rate"] = (mo_done - mo_restart) / (t_done - t_restart)
        R["return_info"] = master.info("replication", "persistence")
        wait_in_sync(master, reps, a.timeout)
        R["dbsize"] = {s.name: int(s.cmd("DBSIZE")) for s in servers}
        mlog = master.log_since(logpos[master.name])
        R["net_out"] = int(st2["total_net_output_bytes"]) - int(st1["total_net_output_bytes"])
        R["master_read_bytes"] = io2.get("read_bytes", 0) - io1.get("read_bytes", 0)
        R["sync"] = {k: int(st2.get(k, 0)) - int(st1.get(k, 0)) for k in ("sync_full", "sync_partial_ok",
                                                                         "sync_partial_err")}
        R["sync_outage"] = {k: int(st1.get(k, 0)) - int(st0.get(k, 0)) for k in ("sync_full", "sync_partial_ok")}
        R["rows"] = []
        R["logs"] = {"master": log_lines(mlog, ["resync", "Partial", "full sync", "cost more", "Full sync",
                                                "slot", "Synchronization with replica"], 12)}
        for w in watches:
            rlog = w.s.log_since(logpos[w.s.name])
            R["logs"][w.s.name] = log_lines(rlog, ["resync", "Partial", "PSYNC", "Full", "sync", "CONTINUE"], 8)
            R["rows"].append({"name": w.s.name, "kind": sync_kind(mlog, rlog, w.s.port), "t_hold": w.t_hold,
                              "t_live": w.t_live, "applied": (w.off_live or 0) - w.off0,
                              "missed": mo_restart - w.off0, "rx": sum(w.rx.values()),
                              "rx_hold": w.rx_hold,
                              "links": len(w.rx)})
        report(a, R, master)
    finally:
        if writer:
            writer.stop_ev.set()
        for s in servers:
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                note("stopping %s: %s" % (s.name, e))
        if a.keep:
            note("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def report(a, R, master):
    day = R["out_bytes"]
    wi = R["warm_info"]
    rate_w = max(int(wi.get("repl_write_rate_1m", 0)), int(wi.get("repl_write_rate_1h", 0)))
    H0 = int(wi.get("repl_resume_horizon_sec", -1))
    ratio_end = float(R["out_end_info"].get("wal_compression_ratio", 0) or 0)
    L = []
    L.append("## A %s outage at %.0f B/s in compressed time (%s stream)" % (
        fmt_dur(a.day_seconds), a.rate, fmt_mb(day)))
    L.append("")
    L.append("%d keys (Zipf %.2f over %d; strings 50%%, hashes 20%%, lists, sorted sets, streams 10%% each), "
             "master `repl-resync %s`%s. Warm-up %s at %.1f MB/s; outage written %s at %.1f MB/s "
             "(%.0fx the stated rate: %s of the day per wall second); during the return the master "
             "wrote %.1f MB/s (%.0f%% of its outage rate)." % (
                 R["keys"], a.zipf, a.keys, a.resync,
                 (", " + ", ".join("`%s`" % c for c in a.cairn_config + a.master_config))
                 if a.cairn_config or a.master_config else "",
                 fmt_mb(a.warmup_bytes), R["warm_rate"] / MB, fmt_mb(day), R["accept"] / MB,
                 R["accept"] / a.rate, fmt_dur(R["accept"] / a.rate), R["return_rate"] / MB,
                 100 * R["return_rate"] / R["accept"]))
    L.append("")
    L.append("### During the outage (master)")
    L.append("")
    head = ["written", "= day time", "wal_disk_bytes", "du backlog/", "segments", "zstd ratio",
            "repl_resume_horizon_sec", "rate_1m MB/s"]
    names = [r["name"] for r in R["rows"]]
    head += ["%s horizon_sec / lag" % n for n in names]
    rows = []
    samples = R["out_samples"]
    for s in samples:
        row = [fmt_mb(s["stream"]), fmt_dur(s["stream"] / a.rate), fmt_mb(s["wal_disk"]), fmt_mb(s["du"]),
               s["wal_segments"], "%.2f" % s["ratio"], s["horizon"], "%.1f" % (s["rate_1m"] / MB)]
        for sl in s["slots"].values():
            row.append("%s / %s" % (sl.get("horizon_sec", "—"), fmt_mb(int(sl["lag_bytes"]))
                                    if "lag_bytes" in sl else "—"))
        rows.append(row)
    L.append(table(head, rows))
    L.append("")
    L.append("### Return (both replicas restarted together; master writing meanwhile)")
    L.append("")
    head = ["replica", "resync", "missed", "holds the missed stream after", "catch-up rate (missed / that time)",
            "/ master accept rate", "keeps up after (lag < max(1 MB, 0.5 s of writes))",
            "received on its link: until it held it / in all", "links"]
    rows = []
    for r in R["rows"]:
        rate = r["missed"] / r["t_hold"] if r["t_hold"] else 0
        rows.append([r["name"], r["kind"], fmt_mb(r["missed"]),
                     "%.1f s" % r["t_hold"] if r["t_hold"] is not None else "—",
                     "%.1f MB/s" % (rate / MB), "%.2fx" % (rate / R["accept"]),
                     "%.1f s" % r["t_live"] if r["t_live"] is not None else "—", "%s / %s" % (fmt_mb(r["rx_hold"] or 0), fmt_mb(r["rx"])), r["links"]])
    L.append(table(head, rows, ["---", "---"] + ["--:"] * (len(head) - 2)))
    L.append("")
    ri = R["return_info"]
    L.append("missed = the outage's %s + %s the master took in the second between restarting its load and "
             "restarting the replicas." % (fmt_mb(R["out_bytes"]), fmt_mb(R["before_restart"])))
    L.append("")
    L.append("Master during the return: sync_partial_ok +%d, sync_full +%d, sync_partial_err +%d; "
             "total_net_output_bytes +%s; read_bytes from disk +%s; backlog on disk %s "
             "(wal_disk_bytes; %d segments, ratio %s). DBSIZE afterwards: %s." % (
                 R["sync"]["sync_partial_ok"], R["sync"]["sync_full"], R["sync"]["sync_partial_err"],
                 fmt_mb(R["net_out"]), fmt_mb(R["master_read_bytes"]),
                 fmt_mb(int(ri.get("wal_disk_bytes", 0))), int(ri.get("wal_segments", 0)),
                 ri.get("wal_compression_ratio"), ", ".join("%s %d" % kv for kv in R["dbsize"].items())))
    L.append("")
    L.append("### Predicted horizon against what happened")
    L.append("")
    caps = R["caps"]
    age = caps["repl-slot-max-age"]

    def at_rate(nbytes):
        """What nbytes of stream are at the stated rate, the age cap applied."""
        t = nbytes / a.rate
        return "%s at the stated rate%s" % (fmt_dur(min(t, age) if age else t),
                                            " (repl-slot-max-age)" if age and t > age else "")

    pb = predicted_bytes(H0, rate_w)
    rows = [["end of warm-up: repl_resume_horizon_sec",
             "%d s at %.1f MB/s (the larger of rate_1m, rate_1h)" % (H0, rate_w / MB),
             ("%s of stream, %s" % (fmt_mb(pb), at_rate(pb))) if pb else "no limit"],
            ["caps", "backlog-max-bytes %s (disk), repl-slot-max-age %s" % (fmt_mb(caps["backlog-max-bytes"]),
                                                                           fmt_dur(age) if age else "none"),
             "at the end of the outage's zstd ratio %.2f: %s of stream, %s" % (
                 ratio_end, fmt_mb(caps["backlog-max-bytes"] * max(ratio_end, 1)),
                 at_rate(caps["backlog-max-bytes"] * max(ratio_end, 1))) if caps["backlog-max-bytes"] else "no byte cap"]]
    rate_e = max(int(R["out_end_info"].get("repl_write_rate_1m", 0)),
                 int(R["out_end_info"].get("repl_write_rate_1h", 0)))
    for name, sl in slot_fields(R["out_end_info"]).items():
        h = int(sl.get("horizon_sec", -1))
        more = predicted_bytes(h, rate_e)
        rows.append(["end of outage: slot %s" % name, "horizon_sec %d at %.1f MB/s, lag %s, idle %s s" % (
            h, rate_e / MB, fmt_mb(int(sl.get("lag_bytes", 0))), sl.get("idle_sec")),
            ("%s more stream: %s more" % (fmt_mb(more), at_rate(more).replace(" at the stated rate", "")) + " at the stated rate") if more is not None else "no limit"])
    rows.append(["what happened", "missed %s (%s at the stated rate); backlog on disk %s (zstd ratio %.2f)" % (
        fmt_mb(day), fmt_dur(day / a.rate), fmt_mb(int(R["out_end_info"].get("wal_disk_bytes", 0))), ratio_end),
        "; ".join("%s: %s" % (r["name"], r["kind"]) for r in R["rows"])])
    L.append(table(["when", "INFO said", "meaning"], rows, ["---", "---", "---"]))
    L.append("")
    L.append("Log lines (since the restart):")
    L.append("")
    L.append("```")
    for who, lines in R["logs"].items():
        for l in lines:
            L.append("%s: %s" % (who, l.strip()))
    L.append("```")
    print("\n".join(L))


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (BenchError, ReplyError, OSError) as e:
        note("error: %s" % e)
        sys.exit(1)
