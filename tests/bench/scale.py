#!/usr/bin/env python3
"""Stdlib-only helpers for tests/bench/scale.sh (see tests/bench/README.md,
"At scale: make bench-scale").

  scale.py launch PIDFILE LOG PORT TIMEOUT [--get KEY VALUE] -- ARGV...
      Start ARGV (a server) with stdout/stderr to LOG, write "PID STARTTIME"
      (field 22 of /proc/PID/stat) to PIDFILE, then poll 127.0.0.1:PORT every 2 ms. Times are counted from
      just before the exec. Prints one line:
        pid=P reply_ms=R ping_ms=A get_ms=G loading=L
      reply_ms: first reply of any kind (e.g. -LOADING); ping_ms: first
      +PONG; get_ms: first GET KEY that returned VALUE (only with --get, else
      -); loading: how many -LOADING replies were seen. The server keeps
      running after this helper exits. Exit 0 = all reached, 1 = the process
      died, 2 = timed out.
  scale.py sample PID OUT [INTERVAL]
      Every INTERVAL s (default 1) read /proc/PID/status and /proc/PID/io
      (and those of PID's children: Redis's fork for AOF rewrites) and rewrite
      OUT with: max_rss_anon_kb max_rss_file_kb max_vm_rss_kb samples
      children_write_bytes. Stops when PID is gone or on SIGTERM/SIGINT.
  scale.py ackwriter PORT TOKEN OUT
      SET ack:0, ack:1, ... (value TOKEN:i) one at a time, each after the
      previous reply, until the connection fails or SIGTERM; then writes the
      index of the last +OK (-1 for none) to OUT.
  scale.py ackcheck PORT TOKEN LAST
      Check ack:0..ack:LAST hold TOKEN:i (MGET, 1000 keys per command).
      Prints "checked=N missing=M wrong=W"; exit 0 when all are there.
  scale.py info PORT [SECTION]
      Print INFO [SECTION] (the bulk reply, CRLF turned into LF).
  scale.py latency PORT
      Print LATENCY LATEST, one event a line (where the longest stalls came
      from; the bench's configs set latency-monitor-threshold 10).
  scale.py evict FILE
      fdatasync FILE and drop its clean pages from the page cache
      (posix_fadvise DONTNEED): only this file, not the whole cache.
"""
import os
import signal
import subprocess
import sys
import time


from resp import Conn, ReplyError, pid_alive  # noqa: E402  (tests/bench/resp.py)


# ---------------------------------------------------------------- launch
def reply_or_error(conn, *args):
    """The reply, or the ReplyError of an error reply (-LOADING during a
    restart is counted, not fatal)."""
    try:
        return conn.cmd(*args)
    except ReplyError as e:
        return e


def is_loading(r):
    return isinstance(r, ReplyError) and "LOADING" in str(r)


def start_time(pid):
    """Field 22 of /proc/PID/stat: with the pid, identifies the process (a
    recycled pid has another start time; exec keeps it)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[19]
    except (OSError, IndexError):
        return "?"


def cmd_launch(argv):
    try:
        sep = argv.index("--")
    except ValueError:
        return usage()
    opts, server = argv[:sep], argv[sep + 1:]
    if len(opts) not in (4, 7) or not server:
        return usage()
    pidfile, log, port, limit = opts[0], opts[1], int(opts[2]), float(opts[3])
    get = None
    if len(opts) == 7:
        if opts[4] != "--get":
            return usage()
        get = (opts[5].encode(), opts[6].encode())
    logf = open(log, "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen(server, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
    with open(pidfile + ".tmp", "w") as f:
        f.write("%d %s\n" % (proc.pid, start_time(proc.pid)))
    os.rename(pidfile + ".tmp", pidfile)
    ms = lambda: (time.monotonic() - t0) * 1000.0
    reply_ms = ping_ms = get_ms = None
    loading = 0
    conn = None
    deadline = t0 + limit
    rc = 2
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            rc = 1
            break
        try:
            if conn is None:
                conn = Conn(port, 2.0)
            if ping_ms is None:
                r = reply_or_error(conn, "PING")
                if reply_ms is None:
                    reply_ms = ms()
                if r == "PONG":
                    ping_ms = ms()
                elif is_loading(r):
                    loading += 1
            if ping_ms is not None:
                if get is None:
                    rc = 0
                    break
                r = reply_or_error(conn, "GET", get[0])
                if r == get[1]:
                    get_ms = ms()
                    rc = 0
                    break
                if is_loading(r):
                    loading += 1
        except (OSError, ValueError):
            if conn is not None:
                conn.close()
                conn = None
        time.sleep(0.002)
    if conn is not None:
        conn.close()
    f = lambda v: "-" if v is None else "%.1f" % v
    print("pid=%d reply_ms=%s ping_ms=%s get_ms=%s loading=%d"
          % (proc.pid, f(reply_ms), f(ping_ms), f(get_ms), loading))
    sys.stdout.flush()
    # The server must outlive this helper: detach from the Popen object so
    # that its finalizer does not complain about a running child.
    proc.returncode = 0
    return rc


# ---------------------------------------------------------------- sample
def read_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssFile", "VmRSS"):
                out[k] = int(v.split()[0])
    return out


def read_write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def children(pid):
    kids = set()
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def cmd_sample(argv):
    if len(argv) not in (2, 3):
        return usage()
    pid, out = int(argv[0]), argv[1]
    interval = float(argv[2]) if len(argv) == 3 else 1.0
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    mx = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
    kid_bytes = {}   # child pid -> last write_bytes seen
    n = 0

    def write():
        with open(out + ".tmp", "w") as f:
            f.write("%d %d %d %d %d\n" % (mx["RssAnon"], mx["RssFile"], mx["VmRSS"], n,
                                          sum(kid_bytes.values())))
        os.rename(out + ".tmp", out)

    while not stop and pid_alive(pid):
        try:
            st = read_status(pid)
        except OSError:
            break
        for k in mx:
            mx[k] = max(mx[k], st.get(k, 0))
        for kid in children(pid):
            try:
                kid_bytes[kid] = read_write_bytes(kid)
            except OSError:
                pass
        n += 1
        write()
        end = time.monotonic() + interval
        while not stop and time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    write()
    return 0


# ---------------------------------------------------------------- ack
def cmd_ackwriter(argv):
    if len(argv) != 3:
        return usage()
    port, token, out = int(argv[0]), argv[1], argv[2]
    last = -1
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        conn = Conn(port, 30.0)
        i = 0
        while not stop:
            r = reply_or_error(conn, "SET", "ack:%d" % i, "%s:%d" % (token, i))
            if r != "OK":
                print("ackwriter: SET ack:%d got %r" % (i, r), file=sys.stderr)
                break
            last = i
            i += 1
    except (OSError, ValueError) as e:
        print("ackwriter: stopped after ack:%d: %s" % (last, e), file=sys.stderr)
    with open(out, "w") as f:
        f.write("%d\n" % last)
    return 0


def cmd_ackcheck(argv):
    if len(argv) != 3:
        return usage()
    port, token, last = int(argv[0]), argv[1], int(argv[2])
    conn = Conn(port, 120.0)
    missing = wrong = 0
    first_bad = None
    for lo in range(0, last + 1, 1000):
        hi = min(last, lo + 999)
        r = reply_or_error(conn, "MGET", *["ack:%d" % i for i in range(lo, hi + 1)])
        if not isinstance(r, list):
            print("ackcheck: MGET got %r" % (r,), file=sys.stderr)
            return 2
        for i, v in zip(range(lo, hi + 1), r):
            if v is None:
                missing += 1
            elif v != ("%s:%d" % (token, i)).encode():
                wrong += 1
            else:
                continue
            if first_bad is None:
                first_bad = i
    print("checked=%d missing=%d wrong=%d%s" % (last + 1, missing, wrong,
          "" if first_bad is None else " first_bad=ack:%d" % first_bad))
    return 0 if missing == 0 and wrong == 0 else 1


# ---------------------------------------------------------------- misc
def cmd_info(argv):
    if len(argv) not in (1, 2):
        return usage()
    conn = Conn(int(argv[0]), 60.0)
    r = reply_or_error(conn, "INFO", *argv[1:])
    if not isinstance(r, bytes):
        print("info: got %r" % (r,), file=sys.stderr)
        return 1
    sys.stdout.write(r.decode(errors="replace").replace("\r\n", "\n"))
    return 0


def cmd_latency(argv):
    """LATENCY LATEST as lines: event latest_ms max_ms (the latency monitor's
    events, latency-monitor-threshold set in the bench's configs)."""
    if len(argv) != 1:
        return usage()
    conn = Conn(int(argv[0]), 60.0)
    r = reply_or_error(conn, "LATENCY", "LATEST")
    if not isinstance(r, list):
        print("latency: got %r" % (r,), file=sys.stderr)
        return 1
    for ev in r:
        name = ev[0].decode(errors="replace") if isinstance(ev[0], bytes) else str(ev[0])
        print("latency %s: latest %s ms, max %s ms" % (name, ev[2], ev[3]))
    return 0


def cmd_evict(argv):
    if len(argv) != 1:
        return usage()
    fd = os.open(argv[0], os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return 0


def usage():
    print(__doc__, file=sys.stderr)
    return 64


def main(argv):
    cmds = {"launch": cmd_launch, "sample": cmd_sample, "ackwriter": cmd_ackwriter,
            "ackcheck": cmd_ackcheck, "info": cmd_info, "latency": cmd_latency,
            "evict": cmd_evict}
    if len(argv) < 2 or argv[1] not in cmds:
        return usage()
    return cmds[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
