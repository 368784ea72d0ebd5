#!/usr/bin/env python3
"""A tiny fake server used only by test_harness.py to exercise the harness
(sanitizer detection, hangs, start failures, replies of every RESP3 type).

Usage: fake_server.py CONFIG_FILE [--name value ...]
Config directives read: port, bind, fake-mode, fake-exit-code; anything named
bogus-* makes it fail at startup like a bad directive would.

fake-mode: clean | leak (LeakSanitizer report at shutdown) | asan (an
AddressSanitizer report printed at startup) | ubsan (runtime error at
shutdown) | hang (ignores SHUTDOWN and SIGTERM) | crash (exits on first
command). A command CANNED <n> replies with canned reply number n.
"""
import os
import signal
import socket
import sys
import threading

CANNED = [
    b"+OK\r\n",
    b"-ERR bad thing\r\n",
    b":-42\r\n",
    b"$3\r\na\x00b\r\n",
    b"$-1\r\n",
    b"*-1\r\n",
    b"*3\r\n:1\r\n$1\r\nx\r\n*0\r\n",
    b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n_\r\n",
    b"~2\r\n:2\r\n:1\r\n",
    b",3.25\r\n",
    b",inf\r\n",
    b"#t\r\n",
    b"#f\r\n",
    b"(12345678901234567890123\r\n",
    b"=8\r\ntxt:ab\r\n\r\n",
    b">2\r\n$7\r\nmessage\r\n:5\r\n",
    b"|1\r\n+ttl\r\n:10\r\n$2\r\nhi\r\n",
    b"_\r\n",
    b"!10\r\nERR a\r\nb c\r\n",
]


def main():
    conf = {}
    with open(sys.argv[1]) as f:
        for line in f:
            parts = line.split(None, 1)
            if not parts or parts[0].startswith("#"):
                continue
            conf[parts[0].lower()] = parts[1].strip() if len(parts) > 1 else ""
    args = sys.argv[2:]
    for i in range(0, len(args) - 1, 2):
        conf[args[i].lstrip("-").lower()] = args[i + 1]
    for k in conf:
        if k.startswith("bogus"):
            sys.stderr.write("fake: bad directive '%s'\n" % k)
            sys.exit(1)
    mode = conf.get("fake-mode", "clean")
    code = int(conf.get("fake-exit-code", "0"))
    if mode == "asan":
        sys.stderr.write("==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n")
        sys.stderr.flush()
    if mode == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *a: finish(mode, code))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(conf["port"])))
    ls.listen(16)
    sys.stdout.write("fake server ready on %s\n" % conf["port"])
    sys.stdout.flush()
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, mode, code), daemon=True).start()


def finish(mode, code):
    if mode == "leak":
        sys.stderr.write("==1==ERROR: LeakSanitizer: detected memory leaks\n")
    if mode == "ubsan":
        sys.stderr.write("engine/x.c:1:2: runtime error: signed integer overflow\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(code)


def serve(c, mode, code):
    f = c.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            n = int(line[1:])
            args = []
            for _ in range(n):
                ln = int(f.readline()[1:])
                args.append(f.read(ln + 2)[:-2])
            cmd = args[0].upper()
            if mode == "crash" and cmd != b"PING":
                os._exit(3)
            if cmd == b"PING":
                c.sendall(b"+PONG\r\n")
            elif cmd == b"SHUTDOWN":
                if mode == "hang":
                    c.sendall(b"-ERR not now\r\n")
                    continue
                c.close()
                finish(mode, code)
            elif cmd == b"CANNED":
                c.sendall(CANNED[int(args[1])])
            elif cmd == b"ALL":
                c.sendall(b"".join(CANNED))
            else:
                c.sendall(b"-ERR unknown command\r\n")
    except (ConnectionError, ValueError):
        return
    finally:
        try:
            c.close()
        except OSError:
            pass


if __name__ == "__main__":
    main()
