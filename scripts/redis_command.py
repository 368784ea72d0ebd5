"""One command to a running redis-server, its reply as Python values (the
scripts that generate interface data from Redis's COMMAND INFO share it)."""
import socket


def call(port, *args):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args)))
    f = s.makefile("rb")

    def rd():
        line = f.readline()[:-2]
        t, r = line[:1], line[1:]
        if t == b"+":
            return r.decode()
        if t == b"-":
            raise RuntimeError(r.decode())
        if t == b":":
            return int(r)
        if t == b"$":
            n = int(r)
            return None if n < 0 else f.read(n + 2)[:-2].decode()
        if t == b"*":
            n = int(r)
            return None if n < 0 else [rd() for _ in range(n)]
        raise RuntimeError(line)
    return rd()
