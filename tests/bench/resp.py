#!/usr/bin/env python3
"""Small stdlib-only helpers for the benchmarks (run.sh calls it as a
command; the Python benches import it: Conn, parse_info, proc_io, du, ...).

  resp.py ports N                    print N distinct free TCP ports on 127.0.0.1
  resp.py cmd PORT TIMEOUT ARG...    send one command, print the reply;
                                     exit 0 = ok, 1 = error reply, 2 = no answer
  resp.py wait PORT PID TIMEOUT      poll PING until +PONG; exit 0 = up,
                                     1 = process PID died, 2 = timed out
"""
import os
import socket
import sys
import time


def free_ports(n):
    # Hold all sockets open at once so the ports are distinct, then release
    # them. There is a small window before the servers bind; the caller
    # notices a lost race because the server exits or never answers PING.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class ReplyError(Exception):
    """An error reply (-ERR ...) or a reply that is not RESP."""


class Conn:
    """One RESP2 connection to 127.0.0.1:port; cmd() sends a command and
    returns its reply decoded (str for +, int, bytes for $, lists); an error
    reply raises ReplyError."""

    def __init__(self, port, timeout=60.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.s.close()

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise ReplyError("error reply: %s" % rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ReplyError("bad reply line %r" % line)

    def cmd(self, *args):
        self.s.sendall(encode(args))
        return self.read()


def wait_ready(port, check, timeout, interval=0.1):
    """Poll PING on port until +PONG. check() is called before each try and
    raises if the server died; TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        check()
        try:
            c = Conn(port, 2)
            try:
                r = c.cmd("PING")
            finally:
                c.close()
            if r == "PONG":
                return
            last = "unexpected reply %r" % (r,)
        except (OSError, ReplyError) as e:
            last = str(e)
        time.sleep(interval)
    raise TimeoutError("no PONG within %.0f s (last: %s)" % (timeout, last))


def parse_info(text):
    """INFO's text (str or bytes) as a dict field -> string value."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    d = {}
    for line in text.split("\r\n"):
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            d[k] = v
    return d


def proc_io(pid):
    """/proc/PID/io as a dict of ints ({} once the process is gone)."""
    d = {}
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = int(v)
    except OSError:
        pass
    return d


def du(path):
    """Disk blocks used under path, in bytes (files that vanish are skipped)."""
    total = 0
    for dp, _, files in os.walk(path):
        for fn in files:
            try:
                total += os.lstat(os.path.join(dp, fn)).st_blocks * 512
            except OSError:
                pass
    return total


def read_line(sock, buf):
    while b"\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    line, rest = buf.split(b"\r\n", 1)
    return line, rest


def command(port, timeout, args):
    """Return (ok, text). Raises OSError on connection trouble/timeout.

    Only the first line of the reply is interpreted; that is enough for
    PING/FLUSHALL/simple status replies used by the benchmark."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(encode(args))
        line, _ = read_line(s, b"")
    text = line.decode(errors="replace")
    return (not text.startswith("-")), text


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; look at /proc to tell.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def main(argv):
    if len(argv) >= 2 and argv[1] == "ports":
        print(" ".join(str(p) for p in free_ports(int(argv[2]))))
        return 0
    if len(argv) >= 5 and argv[1] == "cmd":
        try:
            ok, text = command(int(argv[2]), float(argv[3]), argv[4:])
        except OSError as e:
            print("no answer: %s" % e, file=sys.stderr)
            return 2
        print(text)
        return 0 if ok else 1
    if len(argv) == 5 and argv[1] == "wait":
        port, pid, limit = int(argv[2]), int(argv[3]), float(argv[4])
        deadline = time.monotonic() + limit
        last = "no attempt"
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                print("process %d exited" % pid, file=sys.stderr)
                return 1
            try:
                ok, text = command(port, 1.0, ["PING"])
                if ok and text == "+PONG":
                    return 0
                last = "unexpected reply %r" % text
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        print("no PONG within %.0fs (last: %s)" % (limit, last), file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
