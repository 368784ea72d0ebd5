"""TLS like Redis 7.0 (engine/tls.c).

The test makes its own CA, a server certificate, a second server
certificate (for the reload), a client certificate and a certificate from
another CA, with the openssl CLI, in a temp dir. Then:
  * redis-cli --tls (--cacert/--cert/--key): PING, SET, GET; CONFIG GET
    tls-port; CLIENT LIST shows laddr on the TLS port; the plain port still
    works beside it;
  * pipelining (2000 commands in one write) and a 1 MB value round trip over
    TLS (Python's ssl module);
  * tls-auth-clients yes refuses a client without a certificate (logged
    "Error accepting a client connection" with its address), optional and no
    accept it; a certificate from another CA is refused;
  * a plain-TCP client on the TLS port is dropped, once logged, and a TLS
    client connected meanwhile is not harmed;
  * port 0: TLS only;
  * a real redis-server replica over TLS (tls-replication yes) of a cairn
    master's tls-port, and a cairn replica over TLS of a real redis-server
    master with TLS;
  * CONFIG SET tls-cert-file to a missing file, or to a certificate that
    does not match the key, is refused with Redis's error and the old
    context keeps serving; a good new certificate is loaded for new
    connections;
  * startup with a missing key file is refused with a message naming the file
    and OpenSSL's reason; startup with tls-port and no certificate likewise;
  * pub/sub and BLPOP over TLS; a cairn replica of a cairn master over TLS
    (WAIT, partial resync); a replica refusing a master certificate signed by
    an unknown CA;
  * an encrypted key with tls-key-file-pass (a wrong passphrase refused),
    tls-dh-params-file, and session resumption following tls-session-caching;
  * injected socket faults (CAIRN_FAULTS, engine/fault.h) on TLS connections:
    a failed write (net.write) or read (net.read) drops that client only,
    others go on, and nothing acknowledged is lost across kill -9.
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from cairn_test import encode_command  # noqa: E402

CERTS = None


def sh(*args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, **kw)


def make_certs():
    """ca, server, server2, client (signed by ca) and rogue (its own CA)."""
    global CERTS
    if CERTS:
        return CERTS
    if not shutil.which("openssl"):
        raise AssertionError("the openssl CLI is needed (scripts/install-deps.sh --with-tests)")
    d = tempfile.mkdtemp(prefix="cairn-tls-certs-")
    add_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))

    def p(name):
        return os.path.join(d, name)

    def ca(name):
        sh("openssl", "genrsa", "-out", p(name + ".key"), "2048")
        sh("openssl", "req", "-x509", "-new", "-nodes", "-sha256", "-key", p(name + ".key"), "-days", "30",
           "-subj", "/O=cairn test/CN=%s" % name, "-out", p(name + ".crt"))

    def leaf(name, ca_name):
        sh("openssl", "genrsa", "-out", p(name + ".key"), "2048")
        sh("openssl", "req", "-new", "-sha256", "-key", p(name + ".key"), "-subj", "/O=cairn test/CN=%s" % name,
           "-out", p(name + ".csr"))
        sh("openssl", "x509", "-req", "-sha256", "-in", p(name + ".csr"), "-CA", p(ca_name + ".crt"), "-CAkey",
           p(ca_name + ".key"), "-CAcreateserial", "-days", "30", "-out", p(name + ".crt"))

    ca("ca")
    ca("rogueca")
    leaf("server", "ca")
    leaf("server2", "ca")
    leaf("client", "ca")
    leaf("rogue", "rogueca")
    CERTS = p
    return p


def tls_config(extra=None, tls_port=None):
    c = make_certs()
    cfg = [("tls-port", tls_port or free_port()), ("tls-cert-file", c("server.crt")),
           ("tls-key-file", c("server.key")), ("tls-ca-cert-file", c("ca.crt"))]
    return cfg + list(extra or [])


def cfg_value(cfg, name):
    for k, v in cfg:
        if k == name:
            return v
    return None


def tls_server(extra=None, **kw):
    cfg = tls_config(extra)
    s = CairnServer(extra_config=cfg, **kw)
    s.tls_port = cfg_value(cfg, "tls-port")
    return s


def client_ctx(cert="client", ca="ca"):
    c = make_certs()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(c(ca + ".crt"))
    if cert:
        ctx.load_cert_chain(c(cert + ".crt"), c(cert + ".key"))
    return ctx


class TlsConn(Conn):
    """Conn over TLS (Python's ssl module)."""

    def __init__(self, port, cert="client", timeout=10):
        self.host, self.port, self.unix_path = "127.0.0.1", port, None
        self.timeout = timeout
        self.resp = 2
        self.last_attribute = None
        self.hello_reply = None
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = client_ctx(cert).wrap_socket(raw)
        except Exception:
            raw.close()
            raise
        self._buf = bytearray()
        self._pos = 0
        self._raw = None


def cli(port, *args, cert="client", timeout=20):
    """redis-cli --tls; returns (exit code, stdout, stderr)."""
    c = make_certs()
    cmd = ["redis-cli", "-p", str(port), "--tls", "--cacert", c("ca.crt")]
    if cert:
        cmd += ["--cert", c(cert + ".crt"), "--key", c(cert + ".key")]
    r = subprocess.run(cmd + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace").strip(), r.stderr.decode(errors="replace").strip()


def tls_refused(port, cert):
    """True if a TLS client with that certificate (None: without) cannot run
    a command."""
    try:
        with TlsConn(port, cert=cert, timeout=5) as c:
            r = c.call("PING")
            return r != "PONG"
    except (ssl.SSLError, ConnectionError, OSError, ProtocolError):
        return True


@test
def redis_cli_ping_set_get():
    s = tls_server()
    assert_eq(cli(s.tls_port, "PING")[1], "PONG")
    assert_eq(cli(s.tls_port, "SET", "k", "v over tls")[1], "OK")
    assert_eq(cli(s.tls_port, "GET", "k")[1], "v over tls")
    assert_eq(cli(s.tls_port, "CONFIG", "GET", "tls-port")[1].split("\n"), ["tls-port", str(s.tls_port)])
    # the plain port serves beside it, the same data
    with s.conn() as c:
        assert_eq(c.call("GET", "k"), b"v over tls")
    with TlsConn(s.tls_port) as t:
        lines = t.call("CLIENT", "LIST").decode().strip().split("\n")
        me = [l for l in lines if "cmd=client|list" in l]
        assert_eq(len(me), 1)
        assert_true("laddr=127.0.0.1:%d " % s.tls_port in me[0], me[0])


@test
def pipelining_and_big_value():
    s = tls_server()
    with TlsConn(s.tls_port) as c:
        n = 2000
        payload = b"".join(encode_command("SET", "p%d" % i, "v%d" % i) for i in range(n))
        payload += b"".join(encode_command("GET", "p%d" % i) for i in range(n))
        c.send_raw(payload)
        for i in range(n):
            assert_eq(c.read_reply(), "OK")
        for i in range(n):
            assert_eq(c.read_reply(), b"v%d" % i)
        big = os.urandom(1 << 20)
        assert_eq(c.call("SET", "big", big), "OK")
        assert_eq(c.call("GET", "big"), big)
        assert_eq(c.call("STRLEN", "big"), 1 << 20)
    with s.conn() as c:
        assert_eq(c.call("GET", "big"), big)


@test
def auth_clients_yes_optional_no():
    s = tls_server()  # tls-auth-clients defaults to yes, like Redis
    rc, out, err = cli(s.tls_port, "PING", cert=None)
    assert_true(out != "PONG", (rc, out, err))
    wait_until(lambda: "Error accepting a client connection" in s.log_text(), timeout=5, msg=lambda: log_tail(s))
    assert_true("peer did not return a certificate" in s.log_text(), log_tail(s))
    assert_true("addr=127.0.0.1:" in s.log_text(), log_tail(s))
    assert_true(tls_refused(s.tls_port, "rogue"), "a certificate of another CA was accepted")
    assert_eq(cli(s.tls_port, "PING")[1], "PONG")
    with s.conn() as c:
        assert_eq(c.call("CONFIG", "SET", "tls-auth-clients", "optional"), "OK")
        assert_eq(c.call("CONFIG", "GET", "tls-auth-clients"), [b"tls-auth-clients", b"optional"])
    assert_eq(cli(s.tls_port, "PING", cert=None)[1], "PONG")
    assert_eq(cli(s.tls_port, "PING")[1], "PONG")
    assert_true(tls_refused(s.tls_port, "rogue"), "optional: a certificate of another CA was accepted")
    with s.conn() as c:
        assert_eq(c.call("CONFIG", "SET", "tls-auth-clients", "no"), "OK")
        assert_error(c.call("CONFIG", "SET", "tls-auth-clients", "maybe"))
    assert_eq(cli(s.tls_port, "PING", cert=None)[1], "PONG")
    with s.conn() as c:
        assert_eq(c.call("CONFIG", "SET", "tls-auth-clients", "yes"), "OK")
    assert_true(tls_refused(s.tls_port, None), "yes again: a client without a certificate was accepted")


@test
def plain_client_on_tls_port_is_dropped():
    s = tls_server()
    with TlsConn(s.tls_port) as good:
        assert_eq(good.call("SET", "a", "1"), "OK")
        raw = socket.create_connection(("127.0.0.1", s.tls_port), timeout=5)
        raw.sendall(encode_command("PING"))
        got = b""
        try:
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        raw.close()
        assert_true(b"PONG" not in got, got)
        wait_until(lambda: "wrong version number" in s.log_text(), timeout=5, msg=lambda: log_tail(s))
        assert_eq(s.log_text().count("Error accepting a client connection"), 1)
        # the TLS client connected meanwhile goes on
        assert_eq(good.call("GET", "a"), b"1")
        assert_eq(good.call("INCR", "a"), 2)
    with s.conn() as c:
        assert_eq(c.call("PING"), "PONG")


@test
def tls_only_port_zero():
    cfg = tls_config([("port", 0)])
    s = CairnServer(extra_config=cfg, start=False)
    s.port = free_port()  # written first in the file; "port 0" later wins
    s.write_config()
    s._spawn()
    tp = cfg_value(cfg, "tls-port")

    def up():
        try:
            with TlsConn(tp, timeout=2) as c:
                return c.call("PING") == "PONG"
        except (OSError, ConnectionError, ssl.SSLError):
            return False

    wait_until(up, timeout=10, msg=lambda: log_tail(s))
    with TlsConn(tp) as c:
        assert_eq(c.call("CONFIG", "GET", "port"), [b"port", b"0"])
    try:
        socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        raise AssertionError("a plain listener with port 0")
    except OSError:
        pass
    s.stop()


@test(timeout=120)
def redis_replica_over_tls():
    m = tls_server()
    c = make_certs()
    with TlsConn(m.tls_port) as mc:
        for i in range(100):
            mc.call("SET", "before%d" % i, "x" * i)
        mc.call("RPUSH", "list", "a", "b", "c")
    rport = free_port()
    r = RedisServer(extra_config=[("port", 0), ("tls-port", rport), ("tls-cert-file", c("server.crt")),
                                  ("tls-key-file", c("server.key")), ("tls-ca-cert-file", c("ca.crt")),
                                  ("tls-replication", "yes"), ("replicaof", ["127.0.0.1", m.tls_port])],
                    start=False)
    r.port = free_port()
    r.write_config()
    r._spawn()

    def rget(*args):
        try:
            with TlsConn(rport, timeout=2) as rc:
                return rc.call(*args)
        except (OSError, ConnectionError, ssl.SSLError):
            return None

    wait_until(lambda: rget("GET", "before99") == b"x" * 99, timeout=30, msg=lambda: log_tail(m) + log_tail(r))
    assert_eq(rget("LRANGE", "list", 0, -1), [b"a", b"b", b"c"])
    with TlsConn(m.tls_port) as mc:
        for i in range(100):
            mc.call("SET", "after%d" % i, str(i))
        mc.call("SET", "big", "y" * (1 << 20))
        info = mc.call("INFO", "replication").decode()
        assert_true("port=%d,state=online" % rport in info, info)
    wait_until(lambda: rget("GET", "after99") == b"99", timeout=20, msg=lambda: log_tail(r))
    assert_eq(rget("STRLEN", "big"), 1 << 20)
    assert_true("master_link_status:up" in rget("INFO", "replication").decode())
    r.stop()


@test(timeout=120)
def cairn_replica_of_redis_tls_master():
    c = make_certs()
    mport = free_port()
    m = RedisServer(extra_config=[("port", 0), ("tls-port", mport), ("tls-cert-file", c("server.crt")),
                                  ("tls-key-file", c("server.key")), ("tls-ca-cert-file", c("ca.crt")),
                                  ("repl-diskless-sync-delay", 0)], start=False)
    m.port = free_port()
    m.write_config()
    m._spawn()

    def mcall(*args):
        with TlsConn(mport, timeout=5) as mc:
            return mc.call(*args)

    def m_up():
        try:
            return mcall("PING") == "PONG"
        except (OSError, ConnectionError, ssl.SSLError):
            return False

    wait_until(m_up, timeout=10, msg=lambda: log_tail(m))
    for i in range(100):
        mcall("SET", "pre%d" % i, str(i))
    mcall("HSET", "h", "f", "v")
    r = tls_server([("tls-replication", "yes"), ("replicaof", ["127.0.0.1", mport])])
    with r.conn() as rc:
        wait_until(lambda: rc.call("GET", "pre99") == b"99", timeout=30, msg=lambda: log_tail(r))
        assert_eq(rc.call("HGET", "h", "f"), b"v")
        mcall("SET", "streamed", "yes")
        mcall("SET", "bigs", "z" * (1 << 20))
        wait_until(lambda: rc.call("GET", "streamed") == b"yes", timeout=20, msg=lambda: log_tail(r))
        wait_until(lambda: rc.call("STRLEN", "bigs") == 1 << 20, timeout=20, msg=lambda: log_tail(r))
        assert_eq(info_field(rc, "master_link_status", "replication"), "up")
    info = mcall("INFO", "replication").decode()
    # a replica over TLS announces its tls-port, like Redis
    assert_true("port=%d,state=online" % r.tls_port in info, info)
    r.stop()
    m.stop()


@test
def replica_without_tls_replication_cannot_sync_from_tls_port():
    m = tls_server()
    r = CairnServer(extra_config=[("replicaof", ["127.0.0.1", m.tls_port])])
    with m.conn() as mc:
        mc.call("SET", "k", "v")
    time.sleep(1.5)
    with r.conn() as rc:
        assert_eq(info_field(rc, "master_link_status", "replication"), "down")
        assert_eq(rc.call("GET", "k"), None)


@test
def config_set_certificates():
    s = tls_server()
    c = make_certs()
    with s.conn() as cc:
        r = cc.call("CONFIG", "SET", "tls-cert-file", c("missing.crt"))
        assert_eq(r, Error("ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update "
                           "TLS configuration. Check server logs."))
        assert_true(c("missing.crt") in s.log_text(), log_tail(s))
        assert_eq(cc.call("CONFIG", "GET", "tls-cert-file"), [b"tls-cert-file", c("server.crt").encode()])
        # a certificate that does not match the key
        assert_error(cc.call("CONFIG", "SET", "tls-cert-file", c("client.crt")))
        assert_true("key values mismatch" in s.log_text(), log_tail(s))
        assert_error(cc.call("CONFIG", "SET", "tls-protocols", "TLSv9"))
        assert_error(cc.call("CONFIG", "SET", "tls-ciphersuites", "NOPE"))
    # the old context serves on
    assert_eq(cli(s.tls_port, "PING")[1], "PONG")
    with TlsConn(s.tls_port) as t:
        cn = t.sock.getpeercert()["subject"]
        assert_true(((("commonName", "server"),) in cn), cn)
        with s.conn() as cc:
            assert_eq(cc.call("CONFIG", "SET", "tls-cert-file", c("server2.crt"), "tls-key-file", c("server2.key")),
                      "OK")
        assert_eq(t.call("PING"), "PONG")  # an open connection keeps its session
    with TlsConn(s.tls_port) as t:
        cn = t.sock.getpeercert()["subject"]
        assert_true(((("commonName", "server2"),) in cn), cn)
    with s.conn() as cc:
        assert_eq(cc.call("CONFIG", "SET", "tls-protocols", "TLSv1.3"), "OK")
    with TlsConn(s.tls_port) as t:
        assert_eq(t.sock.version(), "TLSv1.3")
    # CONFIG SET tls-port moves the listener
    newport = free_port()
    with s.conn() as cc:
        assert_eq(cc.call("CONFIG", "SET", "tls-port", newport), "OK")
    assert_eq(cli(newport, "PING")[1], "PONG")
    assert_true(tls_refused(s.tls_port, "client"), "the old tls-port still listens")


@test
def startup_refused_with_bad_key():
    c = make_certs()
    s = CairnServer(extra_config=[("tls-port", free_port()), ("tls-cert-file", c("server.crt")),
                                  ("tls-key-file", c("missing.key")), ("tls-ca-cert-file", c("ca.crt"))],
                    start=False)
    try:
        s.start()
        raise AssertionError("started with a missing key file")
    except StartFailure:
        pass
    log = s.log_text()
    assert_true("Failed to load private key: %s" % c("missing.key") in log, log)
    assert_true("No such file or directory" in log, log)
    s2 = CairnServer(extra_config=[("tls-port", free_port())], start=False)
    try:
        s2.start()
        raise AssertionError("started with tls-port and no certificate")
    except StartFailure:
        pass
    assert_true("No tls-cert-file configured" in s2.log_text(), s2.log_text())


@test
def pubsub_and_blocking_over_tls():
    s = tls_server()
    with TlsConn(s.tls_port) as sub, TlsConn(s.tls_port) as blocked, s.conn() as plain:
        assert_eq(sub.call("SUBSCRIBE", "ch"), [b"subscribe", b"ch", 1])
        blocked.send("BLPOP", "q", 10)
        time.sleep(0.2)
        assert_eq(plain.call("PUBLISH", "ch", "hello"), 1)
        assert_eq(sub.read_reply(), [b"message", b"ch", b"hello"])
        assert_eq(plain.call("RPUSH", "q", "item"), 1)
        assert_eq(blocked.read_reply(), [b"q", b"item"])
        big = b"m" * (300 * 1024)
        assert_eq(plain.call("PUBLISH", "ch", big), 1)
        assert_eq(sub.read_reply(), [b"message", b"ch", big])


@test(timeout=120)
def cairn_replica_of_cairn_over_tls():
    m = tls_server()
    with m.conn() as mc:
        for i in range(200):
            mc.call("SET", "k%d" % i, "v%d" % i)
    r = tls_server([("tls-replication", "yes"), ("replicaof", ["127.0.0.1", m.tls_port])])
    with r.conn() as rc, m.conn() as mc:
        wait_until(lambda: rc.call("GET", "k199") == b"v199", timeout=30, msg=lambda: log_tail(r))
        mc.call("SET", "live", "1")
        wait_until(lambda: rc.call("GET", "live") == b"1", timeout=20, msg=lambda: log_tail(r))
        # WAIT counts the TLS replica's acknowledgements
        mc.call("SET", "acked", "1")
        assert_eq(mc.call("WAIT", 1, 5000), 1)
        # the link drops and resumes partially
        mc.call("CLIENT", "KILL", "TYPE", "replica")
        mc.call("SET", "after-kill", "1")
        wait_until(lambda: rc.call("GET", "after-kill") == b"1", timeout=20, msg=lambda: log_tail(r))
    assert_true("Successful partial resynchronization with master." in r.log_text(), log_tail(r))


@test
def replica_refuses_master_certificate_of_unknown_ca():
    m = tls_server()
    c = make_certs()
    r = CairnServer(extra_config=tls_config([("tls-replication", "yes"), ("replicaof", ["127.0.0.1", m.tls_port])])
                    + [("tls-ca-cert-file", c("rogueca.crt"))])
    with m.conn() as mc:
        mc.call("SET", "k", "v")
    wait_until(lambda: "certificate verify failed" in r.log_text(), timeout=10, msg=lambda: log_tail(r))
    with r.conn() as rc:
        assert_eq(info_field(rc, "master_link_status", "replication"), "down")
        assert_eq(rc.call("GET", "k"), None)


@test
def encrypted_key_dh_params_and_session_cache():
    c = make_certs()
    d = tempfile.mkdtemp(prefix="cairn-tls-extra-")
    add_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    enc = os.path.join(d, "server.enc.key")
    sh("openssl", "rsa", "-in", c("server.key"), "-out", enc, "-aes256", "-passout", "pass:s3cret")
    dh = os.path.join(d, "dh.pem")
    sh("openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "dh_param:ffdhe2048", "-out", dh)
    # startup with an encrypted key and its passphrase
    s = tls_server([("tls-key-file", enc), ("tls-key-file-pass", "s3cret"), ("tls-dh-params-file", dh)])
    assert_eq(cli(s.tls_port, "PING")[1], "PONG")
    with s.conn() as cc:
        # the wrong passphrase is refused, the old context serves on
        r = cc.call("CONFIG", "SET", "tls-key-file-pass", "wrong")
        assert_error_text(r, "ERR CONFIG SET failed (possibly related to argument 'tls-key-file-pass') - Unable to "
                             "update TLS configuration. Check server logs.")
        assert_eq(cc.call("CONFIG", "GET", "tls-key-file-pass"), [b"tls-key-file-pass", b"s3cret"])
        assert_error(cc.call("CONFIG", "SET", "tls-dh-params-file", c("ca.crt")))
        assert_true("Failed to load DH params file: %s" % c("ca.crt") in s.log_text(), log_tail(s))
        assert_eq(cc.call("CONFIG", "SET", "tls-dh-params-file", ""), "OK")
        # session resumption (TLSv1.2 session ids) follows tls-session-caching
        assert_eq(cc.call("CONFIG", "SET", "tls-protocols", "TLSv1.2"), "OK")
    assert_eq(cli(s.tls_port, "PING")[1], "PONG")

    def resumed():
        ctx = client_ctx()
        raw = socket.create_connection(("127.0.0.1", s.tls_port), timeout=5)
        sock = ctx.wrap_socket(raw)
        sock.sendall(encode_command("PING"))
        sock.recv(100)
        sess = sock.session
        sock.close()
        raw2 = socket.create_connection(("127.0.0.1", s.tls_port), timeout=5)
        sock2 = ctx.wrap_socket(raw2, session=sess)
        sock2.sendall(encode_command("PING"))
        got = sock2.recv(100)
        again = sock2.session_reused
        sock2.close()
        assert_eq(got, b"+PONG\r\n")
        return again

    assert_true(resumed(), "tls-session-caching yes: the session was not resumed")
    with s.conn() as cc:
        assert_eq(cc.call("CONFIG", "SET", "tls-session-caching", "no"), "OK")
    assert_true(not resumed(), "tls-session-caching no: a session was resumed")


@test
def net_counters_count_protocol_bytes():
    # Like Redis: total_net_input_bytes / total_net_output_bytes count what
    # the clients sent and got, not the TLS records around it.
    s = tls_server()
    with TlsConn(s.tls_port) as c:
        def counters():
            raw = c.call_raw("INFO", "stats")
            i = parse_info(raw.split(b"\r\n", 1)[1])
            return int(i["total_net_input_bytes"]), int(i["total_net_output_bytes"]), len(raw)
        in0, out0, info0_len = counters()
        value = "v" * 5000
        assert_eq(c.call("SET", "k", value), "OK")
        assert_eq(c.call("GET", "k"), value.encode())
        in1, out1, _ = counters()
        # in: SET, GET and the second INFO (the first was read before it ran)
        assert_eq(in1 - in0, len(encode_command("SET", "k", value)) + len(encode_command("GET", "k"))
                  + len(encode_command("INFO", "stats")))
        # out: the first INFO's reply (written after it ran), +OK, the bulk
        assert_eq(out1 - out0, info0_len + len(b"+OK\r\n") + len(b"$5000\r\n") + 5000 + 2)


def tls_server_with_faults(faults, extra=None):
    """A TLS server with CAIRN_FAULTS (engine/fault.h) set for its first
    start only (like test_faults.py's start_with_faults)."""
    old = os.environ.get("CAIRN_FAULTS")
    os.environ["CAIRN_FAULTS"] = faults
    try:
        return tls_server(extra)
    finally:
        if old is None:
            del os.environ["CAIRN_FAULTS"]
        else:
            os.environ["CAIRN_FAULTS"] = old


def dropped(conn):
    """True once the server has closed this TLS connection."""
    try:
        conn.sock.settimeout(10)
        return conn.sock.recv(64) == b""
    except (ssl.SSLError, ConnectionError, OSError):
        return True


def assert_fault_logged(s, pattern):
    lines = [l for l in s.log_text().splitlines() if re.search(pattern, l)]
    assert_eq(len(lines), 1, "log lines matching %r:\n%s" % (pattern, s.log_text()))


@test(timeout=120)
def a_failed_tls_write_drops_only_that_client():
    # net.write covers TLS connections too (their ciphertext, handshake
    # records included). TLS 1.2, so that a handshake is exactly two server
    # writes, both done when the client's handshake returns. net.write calls:
    # 1 the harness's PING (plain port); 2-3 t's handshake; 4 t's +OK;
    # 5-6 k's handshake; 7 k's reply to SET k, which fails.
    s = tls_server_with_faults("net.write=7:once", [("tls-protocols", "TLSv1.2")])
    try:
        t = TlsConn(s.tls_port)
        assert_eq(t.call("SET", "a", "1"), "OK")
        k = TlsConn(s.tls_port)
        k.send_raw(encode_command("SET", "k", "v"))
        assert_true(dropped(k), "the TLS connection whose write failed is still open")
        k.close()
        assert_fault_logged(s, r"fault injection: net\.write call 7 fails")
        # the other TLS client goes on; k's write was applied (and in the WAL)
        # before its reply was written
        assert_eq(t.call("GET", "k"), b"v")
        assert_eq(t.call("SET", "b", "2"), "OK")
        t.close()
        s.restart(kill=True)
        with TlsConn(s.tls_port) as c:
            assert_eq([c.call("GET", x) for x in ("a", "b", "k")], [b"1", b"2", b"v"])
    finally:
        s.stop(check=False)
        s.cleanup()


@test(timeout=120)
def a_failed_tls_read_drops_only_that_client():
    # net.read covers TLS connections too: the bytes read are dropped and the
    # connection closed. Read 1 is the harness's PING (plain port); read 2
    # is k's ClientHello: its handshake fails, nothing of it runs.
    s = tls_server_with_faults("net.read=2:once")
    try:
        try:
            k = TlsConn(s.tls_port, timeout=10)
            refused = dropped(k) or k.call("PING") != "PONG"
            k.close()
        except (ssl.SSLError, ConnectionError, OSError, ProtocolError):
            refused = True
        assert_true(refused, "a TLS client whose read failed was served")
        assert_fault_logged(s, r"fault injection: net\.read call 2 fails")
        with TlsConn(s.tls_port) as t:
            assert_eq(t.call("SET", "r", "1"), "OK")
            assert_eq(t.call("INCR", "r"), 2)
        s.restart(kill=True)
        with TlsConn(s.tls_port) as c:
            assert_eq(c.call("GET", "r"), b"2")
    finally:
        s.stop(check=False)
        s.cleanup()


if __name__ == "__main__":
    run_tests()
