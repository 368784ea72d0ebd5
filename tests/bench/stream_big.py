#!/usr/bin/env python3
"""A 10-million-entry stream, cairn vs redis-server (appendonly yes,
appendfsync always) in the same run (issue 12). Run by hand, not in CI:

    python3 tests/bench/stream_big.py build                     # 10,000,000 entries (~10 min)
    python3 tests/bench/stream_big.py build --entries 1000000   # a quick check

For each server, one stream `s` is filled with `XADD s * f <8 bytes>`
(redis-benchmark, pipelined) to ENTRIES entries, and measured with
redis-benchmark -c 50 -P 16:

- XADD rate over the first WINDOW entries (0-100k) and over the last
  WINDOW (9.9M-10M), each the median of 4 runs of WINDOW/4, so "keeps its
  speed" is the ratio end/start;
- `XRANGE s - + COUNT 100` (the head) and `XREVRANGE s + - COUNT 100` (the
  tail) at the start (after the first WINDOW) and at the end (medians of 3
  runs of READS requests);
- the fill rate of everything between (-c FILL_CLIENTS -P FILL_PIPELINE);
- the server's RssAnon (/proc/PID/status, sampled every 0.25 s): at the
  start, its peak during the fill and the measurements, at the end. cairn's
  target: under 100 MB (its entries live in LMDB's mapped file, page cache,
  RssFile); redis-server's RssAnon is its data.

The servers are filled in turns of CHUNK entries so both see the same
background load. Prints a markdown table. Servers bind 127.0.0.1 on free
ports in a temp dir, always stopped and removed.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resp  # noqa: E402  (tests/bench/resp.py: ports, one-line commands)


def log(msg):
    print("stream_big: %s" % msg, file=sys.stderr, flush=True)


def free_port():
    return resp.free_ports(1)[0]


def call(port, *args):
    """One command over a fresh connection (the reply's first line only)."""
    return resp.command(port, 30, [str(a) for a in args])[1]


def rss(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "RssFile"):
                    out[k] = int(v.split()[0])  # kB
    except OSError:
        pass
    return out


class Sampler(threading.Thread):
    """Peak RssAnon/RssFile of one process, per phase."""

    def __init__(self, pid):
        threading.Thread.__init__(self, daemon=True)
        self.pid = pid
        self.phase = "start"
        self.peak = {}
        self.ev = threading.Event()

    def run(self):
        while not self.ev.is_set():
            m = rss(self.pid)
            p = self.peak.setdefault(self.phase, {})
            for k, v in m.items():
                p[k] = max(p.get(k, 0), v)
            self.ev.wait(0.25)

    def stop(self):
        self.ev.set()
        self.join()


class Server(object):
    def __init__(self, kind, build, root):
        self.kind = kind
        self.port = free_port()
        d = os.path.join(root, kind)
        os.makedirs(d)
        if kind == "cairn":
            argv = [os.path.join(build, "cairn-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                    "--dir", d]
        else:
            argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", d, "--save", "",
                    "--appendonly", "yes", "--appendfsync", "always"]
        self.logf = open(os.path.join(root, kind + ".log"), "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise SystemExit("%s exited at start (log: %s)" % (kind, self.logf.name))
            try:
                if call(self.port, "PING") == "+PONG":
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("%s did not answer PING" % kind)
            time.sleep(0.1)
        self.sampler = Sampler(self.proc.pid)
        self.sampler.start()

    def stop(self):
        self.sampler.stop()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def bench(port, n, clients, pipeline, *cmd):
    """redis-benchmark: requests per second."""
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n", str(n),
                          "-P", str(pipeline), "-q"] + list(cmd), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=3600).stdout.decode(errors="replace")
    m = re.findall(r"([0-9.]+) requests per second", out)
    if not m:
        raise SystemExit("redis-benchmark failed: %s" % out[-500:])
    return float(m[-1])


XADD = ("XADD", "s", "*", "f", "v:12345")


def reads(srv, n):
    """Reads change nothing: each is run 3 times, the median kept."""
    med = lambda f: statistics.median(f() for _ in range(3))
    return {"XRANGE - + COUNT 100": med(lambda: bench(srv.port, n, 50, 16, "XRANGE", "s", "-", "+", "COUNT", "100")),
            "XREVRANGE + - COUNT 100": med(lambda: bench(srv.port, n, 50, 16, "XREVRANGE", "s", "+", "-", "COUNT",
                                                         "100"))}


def xadds(srv, window):
    """The window's entries in 4 runs of window/4: the median rate (one
    hiccup of a shared machine does not make the figure)."""
    return statistics.median(bench(srv.port, window // 4, 50, 16, *XADD) for _ in range(4))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", help="cairn build directory (holds cairn-server)")
    ap.add_argument("--entries", type=int, default=10000000)
    ap.add_argument("--window", type=int, default=100000, help="entries of the start and end XADD measurements")
    ap.add_argument("--reads", type=int, default=20000, help="XRANGE/XREVRANGE requests per measurement")
    ap.add_argument("--chunk", type=int, default=1000000, help="entries per fill turn")
    ap.add_argument("--fill-clients", type=int, default=8)
    ap.add_argument("--fill-pipeline", type=int, default=64)
    ap.add_argument("--servers", default="cairn,redis")
    a = ap.parse_args()
    if not shutil.which("redis-benchmark"):
        raise SystemExit("redis-benchmark not found (scripts/install-deps.sh --with-tests)")
    if a.entries < 3 * a.window:
        raise SystemExit("--entries must be at least 3 x --window")
    kinds = a.servers.split(",")
    root = tempfile.mkdtemp(prefix="cairn-bench-xbig-")
    srv, res = {}, {k: {} for k in kinds}
    t_start = time.time()
    try:
        for k in kinds:
            srv[k] = Server(k, a.build, root)
            res[k]["rss_idle"] = rss(srv[k].proc.pid).get("RssAnon", 0)
        # the start: the first window, then reads of a stream of that size
        for k in kinds:
            srv[k].sampler.phase = "measure"
            res[k]["xadd_start"] = xadds(srv[k], a.window)
            res[k]["reads_start"] = reads(srv[k], a.reads)
            log("%s start: XADD %.0f/s, %s" % (k, res[k]["xadd_start"], res[k]["reads_start"]))
        # the fill, in turns
        fill_to = a.entries - a.window
        have = {k: a.window for k in kinds}
        fill_s = {k: 0.0 for k in kinds}
        while any(have[k] < fill_to for k in kinds):
            for k in kinds:
                n = min(a.chunk, fill_to - have[k])
                if n <= 0:
                    continue
                srv[k].sampler.phase = "fill"
                t0 = time.time()
                bench(srv[k].port, n, a.fill_clients, a.fill_pipeline, *XADD)
                fill_s[k] += time.time() - t0
                have[k] += n
                log("%s: %d entries (RssAnon %s kB)" % (k, have[k], rss(srv[k].proc.pid).get("RssAnon")))
        # the end: the last window, then reads
        for k in kinds:
            srv[k].sampler.phase = "measure"
            res[k]["fill_rate"] = (fill_to - a.window) / fill_s[k] if fill_s[k] else 0
            res[k]["xadd_end"] = xadds(srv[k], a.window)
            res[k]["reads_end"] = reads(srv[k], a.reads)
            res[k]["xlen"] = call(srv[k].port, "XLEN", "s")
            res[k]["rss_end"] = rss(srv[k].proc.pid)
            log("%s end: XADD %.0f/s, %s, XLEN %s" % (k, res[k]["xadd_end"], res[k]["reads_end"], res[k]["xlen"]))
            # (redis-benchmark may send a few more than -n when pipelining)
            if not res[k]["xlen"].startswith(":") or int(res[k]["xlen"][1:]) < a.entries:
                raise SystemExit("%s: XLEN %s, expected at least %d" % (k, res[k]["xlen"], a.entries))
    finally:
        for s in srv.values():
            s.stop()
        shutil.rmtree(root, ignore_errors=True)
    for k in kinds:
        res[k]["peak"] = srv[k].sampler.peak
    mb = lambda kb: "%.1f MB" % (kb / 1024.0)
    print("\n%d entries, window %d, %s, %.0f s\n" % (a.entries, a.window, time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                        time.gmtime()),
                                                 time.time() - t_start))
    print("| | " + " | ".join(kinds) + (" | cairn/redis |" if len(kinds) == 2 else " |"))
    print("|---" * (len(kinds) + 1 + (len(kinds) == 2)) + "|")

    def row(name, vals, fmt="%.0f/s", ratio=True):
        cells = [fmt % v if isinstance(v, float) else str(v) for v in vals]
        extra = []
        if len(kinds) == 2:
            extra = ["%.2fx" % (vals[0] / vals[1]) if ratio and vals[1] else "-"]
        print("| %s | %s |" % (name, " | ".join(cells + extra)))

    win = "%dk" % (a.window // 1000)
    endw = "%.1fM-%.1fM" % ((a.entries - a.window) / 1e6, a.entries / 1e6)
    row("XADD, first %s (-c 50 -P 16)" % win, [res[k]["xadd_start"] for k in kinds])
    row("XADD, %s" % endw, [res[k]["xadd_end"] for k in kinds])
    row("XADD end / start", [res[k]["xadd_end"] / res[k]["xadd_start"] for k in kinds], "%.2f", False)
    for op in ("XRANGE - + COUNT 100", "XREVRANGE + - COUNT 100"):
        row("%s at %s" % (op, win), [res[k]["reads_start"][op] for k in kinds])
        row("%s at %.1fM" % (op, a.entries / 1e6), [res[k]["reads_end"][op] for k in kinds])
        row("%s end / start" % op.split()[0], [res[k]["reads_end"][op] / res[k]["reads_start"][op] for k in kinds],
            "%.2f", False)
    row("XLEN at the end", [res[k]["xlen"][1:] for k in kinds], ratio=False)
    row("fill rate (-c %d -P %d)" % (a.fill_clients, a.fill_pipeline), [res[k]["fill_rate"] for k in kinds])
    row("RssAnon idle at start", [mb(res[k]["rss_idle"]) for k in kinds], ratio=False)
    row("RssAnon peak (fill / measurements)", ["%s / %s" % (mb(res[k]["peak"].get("fill", {}).get("RssAnon", 0)),
                                                           mb(res[k]["peak"].get("measure", {}).get("RssAnon", 0)))
                                               for k in kinds], ratio=False)
    row("RssAnon / RssFile at the end", ["%s / %s" % (mb(res[k]["rss_end"].get("RssAnon", 0)),
                                                      mb(res[k]["rss_end"].get("RssFile", 0))) for k in kinds],
        ratio=False)


if __name__ == "__main__":
    main()
