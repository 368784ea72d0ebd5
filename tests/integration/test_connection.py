"""Connection-level behaviour: protocol, pipelining, RESP3, AUTH, protected
mode, limits, startup configuration."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from cairn_test import encode_command  # noqa: E402


def raw_exchange(port, data, host="127.0.0.1", wait=1.0, source=None):
    """Sends raw bytes, returns everything the server sends before it closes
    the connection or `wait` seconds pass."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(wait)
    s.connect((host, port))
    s.sendall(data)
    out = b""
    closed = False
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            closed = True
            break
        out += chunk
    s.close()
    return out, closed


@test
def ping_echo_quit():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("PING"), "PONG")
        assert_eq(c.call("PING", "hi"), b"hi")
        assert_error(c.call("PING", "a", "b"), "ERR wrong number of arguments for 'ping' command")
        assert_eq(c.call("ECHO", b"\x00\r\nbin"), b"\x00\r\nbin")
        assert_error(c.call("ECHO"), "ERR wrong number of arguments for 'echo' command")
        assert_eq(c.call("QUIT"), "OK")
        assert_true(c.is_closed_by_server(2.0), "QUIT must close the connection")


@test
def unknown_command_text():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call_raw("NOSUCH", "a", "b"),
                  b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n")
        assert_eq(c.call_raw("nosuch"), b"-ERR unknown command 'nosuch', with args beginning with: \r\n")


@test
def inline_commands_and_quotes():
    with CairnServer() as s:
        out, _ = raw_exchange(s.port, b'SET k "a b\\x41"\r\nGET k\r\nPING\r\n\r\nECHO \'it\\\'s\'\n', wait=0.5)
        assert_eq(out, b"+OK\r\n$4\r\na bA\r\n+PONG\r\n$4\r\nit's\r\n")


@test
def protocol_errors_close_the_connection():
    with CairnServer() as s:
        cases = [
            (b"*1\r\nfoo\r\n", b"-ERR Protocol error: expected '$', got 'f'\r\n"),
            (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
            (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
            (b'SET k "unbalanced\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
            (b"x" * (70 * 1024), b"-ERR Protocol error: too big inline request\r\n"),
            (b"*1\r\n$" + b"1" * (70 * 1024), b"-ERR Protocol error: too big bulk count string\r\n"),
        ]
        for data, want in cases:
            out, closed = raw_exchange(s.port, data, wait=2.0)
            assert_eq(out, want, "reply to %r" % data[:20])
            assert_true(closed, "connection must be closed after %r" % data[:20])
        # commands before the bad one are answered first
        out, closed = raw_exchange(s.port, b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n", wait=2.0)
        assert_eq(out, b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n")
        assert_true(closed)
        assert_eq(s.conn().call("PING"), "PONG")


@test
def proto_max_bulk_len():
    with CairnServer({"proto-max-bulk-len": "1mb"}) as s:
        out, closed = raw_exchange(s.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n", wait=2.0)
        assert_eq(out, b"-ERR Protocol error: invalid bulk length\r\n")
        assert_true(closed)
        c = s.conn()
        assert_eq(c.call("SET", "k", "x" * (1024 * 1024)), "OK")
        assert_eq(len(c.call("GET", "k")), 1024 * 1024)


@test
def pipelining_ten_thousand_commands():
    with CairnServer() as s:
        c = s.conn()
        cmds = []
        for i in range(10000):
            cmds.append(("SET", "p%d" % i, "v%d" % i) if i % 2 == 0 else ("GET", "p%d" % (i - 1)))
        replies = c.pipeline(cmds)
        assert_eq(len(replies), 10000)
        for i, r in enumerate(replies):
            if i % 2 == 0:
                assert_eq(r, "OK")
            else:
                assert_eq(r, ("v%d" % (i - 1)).encode())
        # one huge write in one send
        payload = b"".join(encode_command("SET", "q%d" % i, "x") for i in range(10000))
        c.send_raw(payload)
        for i in range(10000):
            assert_eq(c.read_reply(), "OK")


@test
def big_values_round_trip():
    with CairnServer() as s:
        c = s.conn()
        big = os.urandom(8 * 1024 * 1024)
        assert_eq(c.call("SET", "big", big), "OK")
        assert_eq(c.call("GET", "big"), big)
        longkey = b"k" * 5000
        assert_eq(c.call("SET", longkey, "v"), "OK")
        assert_eq(c.call("GET", longkey), b"v")
        assert_eq(c.call("GET", b"k" * 4999 + b"j"), None)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("GET", "big"), big)
        assert_eq(c.call("GET", longkey), b"v")


@test
def resp3_hello():
    with CairnServer() as s:
        c = s.conn()
        r = c.call("HELLO", "3")
        d = r.to_dict()
        assert_eq(d[b"proto"], 3)
        assert_eq(d[b"server"], b"redis")
        assert_eq(d[b"version"], b"7.0.15")
        assert_eq(d[b"role"], b"master")
        assert_eq(c.call("GET", "nokey"), None)
        assert_eq(c.call_raw("GET", "nokey"), b"_\r\n")
        assert_error(c.call("HELLO", "4"), "NOPROTO unsupported protocol version")
        assert_error(c.call("HELLO", "x"), "ERR Protocol version is not an integer or out of range")
        assert_error(c.call("HELLO", "3", "FOO"), "ERR Syntax error in HELLO option 'FOO'")
        r = c.call("HELLO", "2", "SETNAME", "me")
        assert_eq(c.call_raw("GET", "nokey"), b"$-1\r\n")
        assert_eq(c.call("CLIENT", "GETNAME"), b"me")


@test
def auth_and_requirepass():
    with CairnServer({"requirepass": "s3cret"}) as s:
        c = s.conn()
        assert_error(c.call("GET", "k"), "NOAUTH Authentication required.")
        assert_error(c.call("AUTH", "wrong"), "WRONGPASS invalid username-password pair or user is disabled.")
        assert_error(c.call("AUTH", "bob", "s3cret"), "WRONGPASS")
        assert_error(c.call("HELLO", "3"), "NOAUTH HELLO must be called with the client already authenticated")
        assert_eq(c.call("AUTH", "s3cret"), "OK")
        assert_eq(c.call("SET", "k", "v"), "OK")
        c2 = s.conn()
        r = c2.call("HELLO", "3", "AUTH", "default", "s3cret")
        assert_eq(r.to_dict()[b"proto"], 3)
        assert_eq(c2.call("GET", "k"), b"v")
        # RESET drops authentication
        assert_eq(c2.call("RESET"), "RESET")
        assert_error(c2.call("GET", "k"), "NOAUTH")
        # unauthenticated clients may not send big requests
        out, closed = raw_exchange(s.port, b"*20\r\n", wait=2.0)
        assert_eq(out, b"-ERR Protocol error: unauthenticated multibulk length\r\n")
        assert_true(closed)
    with CairnServer() as s:
        assert_error(s.conn().call("AUTH", "x"),
                     "ERR AUTH <password> called without any password configured for the default user")


@test
def protected_mode_refuses_non_loopback_clients():
    # Protected mode lets in only 127.0.0.1 and ::1 (like Redis); a client
    # coming from 127.0.0.2 plays the part of a remote one.
    with CairnServer({"bind": "127.0.0.1 127.0.0.2", "protected-mode": "yes"}) as s:
        out, closed = raw_exchange(s.port, b"PING\r\n", host="127.0.0.2", source="127.0.0.2", wait=2.0)
        assert_true(out.startswith(b"-DENIED cairn is running in protected mode"), out[:80])
        assert_true(closed)
        out, _ = raw_exchange(s.port, b"PING\r\n", wait=0.5)
        assert_eq(out, b"+PONG\r\n")
    with CairnServer({"bind": "127.0.0.1 127.0.0.2", "protected-mode": "no"}) as s:
        out, _ = raw_exchange(s.port, b"PING\r\n", host="127.0.0.2", source="127.0.0.2", wait=0.5)
        assert_eq(out, b"+PONG\r\n")
    with CairnServer({"bind": "127.0.0.1 127.0.0.2", "requirepass": "pw"}) as s:
        out, _ = raw_exchange(s.port, b"AUTH pw\r\nPING\r\n", host="127.0.0.2", source="127.0.0.2", wait=0.5)
        assert_eq(out, b"+OK\r\n+PONG\r\n")


@test
def select_and_databases():
    with CairnServer({"databases": "4"}) as s:
        c = s.conn()
        assert_eq(c.call("SELECT", "3"), "OK")
        assert_error(c.call("SELECT", "4"), "ERR DB index is out of range")
        assert_error(c.call("SELECT", "x"), "ERR value is not an integer or out of range")
        c.call("SET", "k", "three")
        c.call("SELECT", "0")
        assert_eq(c.call("GET", "k"), None)


@test
def maxclients():
    with CairnServer({"maxclients": "3"}) as s:
        keep = [s.conn() for _ in range(3)]
        for k in keep:
            assert_eq(k.call("PING"), "PONG")
        out, closed = raw_exchange(s.port, b"PING\r\n", wait=2.0)
        assert_eq(out, b"-ERR max number of clients reached\r\n")
        assert_true(closed)
        keep[0].close()
        time.sleep(0.3)
        assert_eq(s.conn().call("PING"), "PONG")


@test
def idle_timeout():
    with CairnServer({"timeout": "1"}) as s:
        c = s.conn()
        assert_eq(c.call("PING"), "PONG")
        assert_true(c.is_closed_by_server(4.0), "idle client must be closed after timeout")


@test
def query_buffer_limit():
    with CairnServer({"client-query-buffer-limit": "1mb", "proto-max-bulk-len": "1mb"}) as s:
        # a bulk bigger than the query buffer limit never completes: the client is dropped
        out, closed = raw_exchange(s.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n" + b"x" * 1000001 +
                                   b"*1\r\n$4\r\nPING\r\n" + b"*1\r\n$4\r\nPING\r\n" * 100000, wait=3.0)
        assert_eq(s.conn().call("PING"), "PONG")


@test
def unix_socket():
    with CairnServer() as s:
        pass
    d = os.path.join(s.tmp if hasattr(s, "tmp") else "/tmp", "")
    path = "/tmp/cairn-test-%d.sock" % os.getpid()
    with CairnServer({"unixsocket": path, "unixsocketperm": "700"}) as s:
        c = Conn(unix_path=path)
        assert_eq(c.call("SET", "u", "1"), "OK")
        assert_eq(s.conn().call("GET", "u"), b"1")
        assert_eq(oct(os.stat(path).st_mode & 0o777), "0o700")
    assert_true(d is not None)


@test
def command_line_overrides_and_bad_config():
    with CairnServer(args=["--maxclients", "7", "--databases", "5"]) as s:
        c = s.conn()
        r = c.call("CONFIG", "GET", "maxclients")
        assert_eq(r, [b"maxclients", b"7"])
        assert_error(c.call("SELECT", "5"), "ERR DB index is out of range")
    code, out = CairnServer.expect_start_failure(config_text="port 0\nbogus-directive 1\n")
    assert_true(code != 0)
    assert_true(":2:" in out and "bogus-directive" in out or "Bad directive" in out, out)
    code, out = CairnServer.expect_start_failure({"maxclients": "abc"})
    assert_true(code != 0)
    assert_true("maxclients" in out or "integer" in out, out)


@test
def output_buffer_limit_disconnects_a_client_that_does_not_read():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0"), "OK")
        c.call("SET", "big", "x" * 100000)
        slow = socket.create_connection(("127.0.0.1", s.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(encode_command("GET", "big") * 400)   # 40 MB of replies, never read
        def gone():
            clients = bytes(c.call("CLIENT", "LIST")).decode()
            return clients.count("\n") == 1   # only ourselves left
        assert_true(wait_until(gone, 10), "a client over the hard output limit must be closed")
        slow.close()
        assert_eq(c.call("GET", "big")[:3], b"xxx")


@test
def client_reply_off_skip():
    with CairnServer() as s:
        c = s.conn()
        c.send("CLIENT", "REPLY", "OFF")
        c.send("SET", "a", "1")
        c.send("CLIENT", "REPLY", "ON")
        assert_eq(c.read_reply(), "OK")
        c.send("CLIENT", "REPLY", "SKIP")
        c.send("GET", "a")
        c.send("PING")
        assert_eq(c.read_reply(), "PONG")


if __name__ == "__main__":
    run_tests()
