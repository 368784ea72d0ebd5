#!/usr/bin/env python3
"""Big-collection benchmark of issue 5 (run by hand, not in CI).

Builds one sorted set (`bigz`) and one hash (`bigh`) of SIZE members each
(default 10,000,000) with pipelined variadic ZADD / HSET (BATCH members per
command, DEPTH commands in flight), and reports

- the server process's RssAnon / RssFile / VmRSS from /proc/PID/status,
  sampled every 0.25 s: peak during the load, peak during the measurements,
  and at the end (target for cairn: RssAnon < 100 MB; LMDB's mapped file
  pages are page cache and show as RssFile);
- ops/s of ZADD, ZSCORE, ZRANGE (head, by score with LIMIT, and by a rank in
  the middle), HSET, HGET with redis-benchmark at the start (after the first
  1% of the members is loaded) and at the end (all members loaded);
- load rate (members/s) and total time; the data dir size at the end.

Members are `m:%012d` (zset, score = the number) and fields `f:%012d` (hash,
8-byte value), the format of redis-benchmark's __rand_int__, so
`-r LOADED` makes ZSCORE/HGET hit. The first 1% is inserted in a shuffled
order within [0, SIZE/100), the rest shuffled within [SIZE/100, SIZE).

usage: bigcoll.py BUILD_DIR [--size N] [--servers cairn,redis] ...
       (python3 tests/bench/bigcoll.py build --size 1000000 for a quick run)

cairn runs with `durability strict`; redis-server (for contrast, with
--servers cairn,redis) with `appendonly yes`, `appendfsync always`.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp import du  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PERM = 2654435761          # prime: i -> a + (i * PERM) % n permutes [a, a+n)


def log(msg):
    print("bigcoll: %s" % msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader(object):
    """Minimal RESP reader for the loader: counts replies, fails on errors."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            d = self.sock.recv(1 << 16)
            if not d:
                raise ConnectionError("server closed the connection")
            self.buf += d

    def reply(self):
        line = self._line()
        t = line[:1]
        if t == b"-":
            raise RuntimeError("error reply: %s" % line.decode(errors="replace"))
        if t in (b"+", b":"):
            return line[1:]
        if t == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                d = self.sock.recv(1 << 16)
                if not d:
                    raise ConnectionError("server closed the connection")
                self.buf += d
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            n = int(line[1:])
            return [self.reply() for _ in range(max(n, 0))]
        raise RuntimeError("unexpected reply %r" % line)


class Conn(object):
    def __init__(self, port, timeout=600):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.r = Reader(self.sock)

    def call(self, *args):
        self.sock.sendall(enc(*args))
        return self.r.reply()

    def close(self):
        self.sock.close()


def proc_mem(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "RssFile", "VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])        # kB
    except OSError:
        pass
    return out


class Sampler(threading.Thread):
    def __init__(self, pid):
        threading.Thread.__init__(self, daemon=True)
        self.pid = pid
        self.phase = "idle"
        self.peak = {}            # phase -> {field: max kB}
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            m = proc_mem(self.pid)
            p = self.peak.setdefault(self.phase, {})
            for k, v in m.items():
                if v > p.get(k, 0):
                    p[k] = v
            self.stop_ev.wait(0.25)

    def stop(self):
        self.stop_ev.set()
        self.join()


class Server(object):
    def __init__(self, kind, binary, root, extra=()):
        self.kind = kind
        self.dir = os.path.join(root, kind)
        os.makedirs(self.dir)
        self.port = free_port()
        conf = os.path.join(root, kind + ".conf")
        with open(conf, "w") as f:
            f.write("bind 127.0.0.1\nport %d\ndir %s\nlogfile \"\"\n" % (self.port, self.dir))
            if kind == "cairn":
                f.write("durability strict\n")
            else:
                f.write("appendonly yes\nappendfsync always\nsave \"\"\n")
            for line in extra:
                f.write(line + "\n")
        self.logf = open(os.path.join(root, kind + ".log"), "wb")
        self.proc = subprocess.Popen([binary, conf], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise SystemExit("%s exited at start; log in %s" % (kind, self.logf.name))
            try:
                c = Conn(self.port, 2)
                if c.call("PING") == b"PONG":
                    c.close()
                    break
                c.close()
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("%s did not answer PING" % kind)
            time.sleep(0.1)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def load(port, kind, lo, hi, batch, depth, progress):
    """Inserts ids lo..hi-1 (shuffled within the range) into bigz or bigh."""
    n = hi - lo
    c = Conn(port)
    inflight = 0
    i = 0
    last = time.time()
    value = b"v" * 8
    while i < n or inflight:
        while i < n and inflight < depth:
            k = min(batch, n - i)
            ids = [lo + ((i + x) * PERM) % n for x in range(k)]
            if kind == "zset":
                parts = [b"ZADD", b"bigz"]
                for j in ids:
                    parts.append(b"%d" % j)
                    parts.append(b"m:%012d" % j)
            else:
                parts = [b"HSET", b"bigh"]
                for j in ids:
                    parts.append(b"f:%012d" % j)
                    parts.append(value)
            c.sock.sendall(enc(*parts))
            inflight += 1
            i += k
        c.r.reply()
        inflight -= 1
        if progress and time.time() - last > 10:
            last = time.time()
            log("  %s: %d / %d loaded" % (kind, lo + i, hi))
    c.close()


def bench_ops(bench_bin, port, loaded, args):
    """redis-benchmark runs; returns {name: {P: rps}}."""
    # (name, command, pipeline depths, requests per run)
    mid = loaded // 2
    ops = [
        ("ZADD (new member)", ["ZADD", "bigz", "__rand_int__", "x:__rand_int__"], None),
        ("ZSCORE", ["ZSCORE", "bigz", "m:__rand_int__"], None),
        ("ZRANGE 0 9 WITHSCORES", ["ZRANGE", "bigz", "0", "9", "WITHSCORES"], None),
        ("ZRANGE BYSCORE rand LIMIT 0 10", ["ZRANGE", "bigz", "__rand_int__", "+inf", "BYSCORE",
                                           "LIMIT", "0", "10"], None),
        ("ZRANGE by rank LOADED/2..+9", ["ZRANGE", "bigz", str(mid), str(mid + 9)],
         args.slow_n),
        ("HSET (new field)", ["HSET", "bigh", "x:__rand_int__", "v"], None),
        ("HGET", ["HGET", "bigh", "f:__rand_int__"], None),
    ]
    out = {}
    for name, cmd, n_override in ops:
        if ("zset" if cmd[1] == "bigz" else "hash") not in args.colls:
            continue
        for p in args.pipelines:
            n = n_override or (args.n16 if p > 1 else args.n1)
            argv = [bench_bin, "-h", "127.0.0.1", "-p", str(port), "-c", str(args.clients),
                    "-n", str(n), "-r", str(loaded), "-P", str(p), "--csv"] + cmd
            try:
                res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     timeout=args.op_timeout)
                text = res.stdout.decode(errors="replace")
                rows = [l for l in text.splitlines() if l.startswith('"') and not l.startswith('"test"')]
                if res.returncode != 0 or not rows:
                    log("  %s -P %d failed (exit %d): %s" % (name, p, res.returncode, text[-300:]))
                    rps = None
                else:
                    rps = float(rows[-1].split(",")[1].strip('"'))
            except subprocess.TimeoutExpired:
                log("  %s -P %d: no result within %ds" % (name, p, args.op_timeout))
                rps = None
            out.setdefault(name, {})[p] = rps
            log("  %-36s -P %-2d %s ops/s" % (name, p, "%.0f" % rps if rps else "-"))
    return out


def run_one(kind, binary, root, args):
    log("%s: starting %s" % (kind, binary))
    s = Server(kind, binary, root, args.cairn_config if kind == "cairn" else args.redis_config)
    sampler = Sampler(s.proc.pid)
    sampler.start()
    res = {"kind": kind}
    time.sleep(1)
    res["mem_idle_start"] = proc_mem(s.proc.pid)
    t_all = time.time()
    try:
        first = max(1, args.size // 100)
        sampler.phase = "load"
        t0 = time.time()
        for coll in args.colls:
            load(s.port, coll, 0, first, args.batch, args.depth, False)
        res["load_first_s"] = time.time() - t0
        sampler.phase = "bench-start"
        log("%s: %d members each loaded; measuring (start)" % (kind, first))
        res["start"] = bench_ops(args.bench, s.port, first, args)
        res["mem_after_start_bench"] = proc_mem(s.proc.pid)
        sampler.phase = "load"
        t1 = time.time()
        for coll in args.colls:
            tc = time.time()
            load(s.port, coll, first, args.size, args.batch, args.depth, True)
            res["load_%s_s" % coll] = time.time() - tc
            log("%s: %s loaded in %.1fs, RssAnon now %s kB" % (
                kind, coll, res["load_%s_s" % coll], proc_mem(s.proc.pid).get("RssAnon")))
        res["load_rest_s"] = time.time() - t1
        res["mem_after_load"] = proc_mem(s.proc.pid)
        c = Conn(s.port)
        res["zcard"] = int(c.call("ZCARD", "bigz")) if "zset" in args.colls else 0
        res["hlen"] = int(c.call("HLEN", "bigh")) if "hash" in args.colls else 0
        c.close()
        sampler.phase = "bench-end"
        log("%s: ZCARD %d HLEN %d; measuring (end)" % (kind, res["zcard"], res["hlen"]))
        res["end"] = bench_ops(args.bench, s.port, args.size, args)
        sampler.phase = "idle-end"
        time.sleep(3)
        res["mem_end"] = proc_mem(s.proc.pid)
        c = Conn(s.port)
        info = c.call("INFO", "stats").decode(errors="replace")
        res["info"] = dict(l.split(":", 1) for l in info.splitlines() if ":" in l)
        res["zcard_end"] = int(c.call("ZCARD", "bigz")) if "zset" in args.colls else 0
        res["hlen_end"] = int(c.call("HLEN", "bigh")) if "hash" in args.colls else 0
        c.close()
        res["total_s"] = time.time() - t_all
        res["dir_bytes"] = du(s.dir)
        if not s.alive():
            raise SystemExit("%s died" % kind)
    finally:
        sampler.stop()
        res["peaks"] = sampler.peak
        s.stop()
    return res


def mb(kb):
    return "%.1f MB" % (kb / 1024.0) if kb is not None else "?"


def report(results, args, started):
    L = []
    L.append("# cairn big-collection benchmark %s" % time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(started)))
    L.append("")
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
    except OSError:
        rev = "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else "?"
    except OSError:
        pass
    L.append("- %d members in zset `bigz` and %d fields in hash `bigh`, variadic ZADD/HSET of %d "
             "members per command, %d commands in flight, one connection." % (
                 args.size, args.size, args.batch, args.depth))
    L.append("- cairn `durability strict` (git %s, `%s`); redis-server `appendonly yes`, "
             "`appendfsync always` when run. Machine: nproc=%d, %s. Data under `%s`." % (
                 rev, args.cairn, os.cpu_count() or 0, cpu, args.tmpdir))
    if args.cairn_config or args.redis_config:
        L.append("- extra config: cairn %r, redis %r" % (args.cairn_config, args.redis_config))
    L.append("- ops/s: `redis-benchmark -c %d -r LOADED -P p --csv CMD`, -n %d at -P 1, %d at -P 16 "
             "(the mid-rank ZRANGE: -n %d); \"start\" = after the first %d members of each, "
             "\"end\" = all loaded." % (args.clients, args.n1, args.n16, args.slow_n,
                                        max(1, args.size // 100)))
    L.append("")
    L.append("## Memory (from /proc/PID/status)")
    L.append("")
    L.append("| server | RssAnon idle at start | RssAnon peak during load | RssAnon peak during measurements "
             "| RssAnon at end | RssFile at end | VmRSS peak | data dir at end |")
    L.append("|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in results:
        pk = r.get("peaks", {})
        during = max(pk.get("load", {}).get("RssAnon", 0), 0)
        bench = max(pk.get("bench-start", {}).get("RssAnon", 0), pk.get("bench-end", {}).get("RssAnon", 0))
        vmrss = max([v.get("VmRSS", 0) for v in pk.values()] or [0])
        end = r.get("mem_end", {})
        L.append("| %s | %s | %s | %s | %s | %s | %s | %.2f GB |" % (
            r["kind"], mb(r.get("mem_idle_start", {}).get("RssAnon")), mb(during), mb(bench), mb(end.get("RssAnon")), mb(end.get("RssFile")),
            mb(vmrss), r.get("dir_bytes", 0) / 1e9))
    L.append("")
    L.append("## Load")
    L.append("")
    L.append("| server | first 1% (both) | zset rest | hash rest | members/s (rest, zset / hash) | total run time |")
    L.append("|---|--:|--:|--:|--:|--:|")
    rest = args.size - max(1, args.size // 100)
    def secs(r, k):
        return "%.1f s" % r[k] if k in r else "-"

    def rate(r, k):
        return "%.0f" % (rest / r[k]) if r.get(k) else "-"
    for r in results:
        L.append("| %s | %s | %s | %s | %s / %s | %s |" % (
            r["kind"], secs(r, "load_first_s"), secs(r, "load_zset_s"), secs(r, "load_hash_s"),
            rate(r, "load_zset_s"), rate(r, "load_hash_s"), secs(r, "total_s")))
    L.append("")
    L.append("## Speed at the start vs the end (ops/s)")
    L.append("")
    head = ["command", "P"]
    for r in results:
        head += ["%s start" % r["kind"], "%s end" % r["kind"], "%s end/start" % r["kind"]]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
    names = list(results[0]["start"].keys())
    for name in names:
        for p in args.pipelines:
            cells = [name, str(p)]
            for r in results:
                a = r["start"].get(name, {}).get(p)
                b = r["end"].get(name, {}).get(p)
                cells += ["%.0f" % a if a else "-", "%.0f" % b if b else "-",
                          "%.2f" % (b / a) if a and b else "-"]
            L.append("| " + " | ".join(cells) + " |")
    L.append("")
    for r in results:
        info = r.get("info", {})
        if "checkpoints" in info:
            L.append("- %s: %s LMDB checkpoints, %.0f ms each on average (the loop waits for them)." % (
                r["kind"], info["checkpoints"].strip(), int(info.get("checkpoint_avg_us", "0")) / 1000.0))
        L.append("- %s: ZCARD %d / HLEN %d after the load, %d / %d at the end (the ZADD/HSET "
                 "measurements add new members `x:...`)." % (
                     r["kind"], r.get("zcard", 0), r.get("hlen", 0), r.get("zcard_end", 0), r.get("hlen_end", 0)))
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", nargs="?", default="build", help="build dir holding cairn-server")
    ap.add_argument("--size", type=int, default=10000000)
    ap.add_argument("--batch", type=int, default=1000, help="members per ZADD/HSET [1000]")
    ap.add_argument("--depth", type=int, default=16, help="commands in flight during the load [16]")
    ap.add_argument("--servers", default="cairn", help="comma list of cairn,redis [cairn]")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--n1", type=int, default=20000, help="requests per -P 1 run [20000]")
    ap.add_argument("--n16", type=int, default=200000, help="requests per -P 16 run [200000]")
    ap.add_argument("--slow-n", type=int, default=200, help="requests for the mid-rank ZRANGE [200]")
    ap.add_argument("--cairn-config", action="append", default=[],
                    help="extra cairn.conf line, e.g. 'checkpoint-interval-ms 200' (repeatable)")
    ap.add_argument("--redis-config", action="append", default=[], help="extra redis.conf line")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--colls", default="zset,hash", help="which collections to build [zset,hash]")
    ap.add_argument("--op-timeout", type=int, default=300)
    ap.add_argument("--tmpdir", default=os.environ.get("BENCH_TMPDIR") or
                    ("/work" if os.access("/work", os.W_OK) else tempfile.gettempdir()))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.pipelines = [int(x) for x in args.pipelines.split(",")]
    args.colls = [x for x in args.colls.split(",") if x]
    if not args.colls or any(x not in ("zset", "hash") for x in args.colls):
        raise SystemExit("--colls: zset and/or hash")
    args.cairn = os.environ.get("CAIRN_SERVER") or os.path.join(args.build, "cairn-server")
    args.redis = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    args.bench = os.environ.get("REDIS_BENCHMARK") or shutil.which("redis-benchmark")
    if not args.bench:
        raise SystemExit("redis-benchmark not found (redis-tools)")
    servers = [x for x in args.servers.split(",") if x]
    for k in servers:
        if k not in ("cairn", "redis"):
            raise SystemExit("unknown server %r" % k)
        b = args.cairn if k == "cairn" else args.redis
        if not b or not os.access(b, os.X_OK):
            raise SystemExit("%s binary %r not found" % (k, b))
    st = os.statvfs(args.tmpdir)
    free_gb = st.f_bavail * st.f_frsize / 1e9
    need_gb = max(2.0, args.size / 1e6 * 1.5) * len(servers)
    if free_gb < need_gb:
        raise SystemExit("only %.1f GB free in %s; want %.0f GB for this size" % (free_gb, args.tmpdir, need_gb))
    root = tempfile.mkdtemp(prefix="cairn-bigcoll.", dir=args.tmpdir)
    started = time.time()
    results = []
    try:
        for k in servers:
            results.append(run_one(k, args.cairn if k == "cairn" else args.redis, root, args))
    finally:
        if args.keep:
            log("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    text = report(results, args, started)
    outdir = os.path.join(HERE, "results")
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "bigcoll-%s.md" % time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(started)))
    with open(path, "w") as f:
        f.write(text)
    print(text)
    log("report saved to %s" % path)


if __name__ == "__main__":
    main()
