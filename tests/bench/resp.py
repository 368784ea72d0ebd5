#!/usr/bin/env python3
"""Small stdlib-only helpers for tests/bench/run.sh.

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
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


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
