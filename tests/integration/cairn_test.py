"""cairn integration-test harness (Python 3 standard library only).

Scripts live next to this module and start with

    import os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from cairn_test import *

See README.md in this directory for the full API.

Pieces:
  * Conn            raw-socket RESP2/RESP3 client (replies parsed to Python
                    values, or returned as exact raw bytes with call_raw).
  * CairnServer     starts $CAIRN_SERVER on a free loopback port in a temp dir,
                    always stops it, and fails on sanitizer reports.
  * RedisServer     the same for a real redis-server (reference for the
                    differential tests).
  * test / run_tests / assert_eq / wait_until   a tiny test runner.
  * info / info_field / parse_info / wait_link_up / wait_offsets_equal
                    INFO parsing and replication waits shared by the scripts.
"""

import atexit
import contextlib
import ctypes
import difflib
import fnmatch
import os
import pprint
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = [
    "Conn", "Status", "Error", "Double", "BigNumber", "Verbatim", "Map", "Set",
    "Push", "Attribute", "ProtocolError", "is_error", "encode_command",
    "CairnServer", "RedisServer", "Server", "ServerFailure", "StartFailure",
    "test", "run_tests", "assert_eq", "assert_error", "assert_true",
    "wait_until", "add_cleanup", "free_port", "cairn_binary", "redis_binary",
    "SANITIZER_PATTERNS", "assert_error_text", "assert_arity_error",
    "parse_info", "parse_info_sections", "info", "info_field", "server_info",
    "link_up", "wait_link_up", "wait_offsets_equal", "log_tail", "scan_key",
    "strings_snapshot", "assert_same_strings", "backlog_tool", "backlog_tool_path", "faults_env", "crc32c",
    "Incomplete", "parse_raw_reply", "pipeline_batches_until_killed",
]

START_TIMEOUT = 10.0      # seconds to wait for PING -> PONG after spawn
STOP_TIMEOUT = 10.0       # seconds to wait for exit after SHUTDOWN / SIGTERM


# ---------------------------------------------------------------------------
# Reply types
# ---------------------------------------------------------------------------

class Status(str):
    """RESP simple string (+OK). Compares equal to the plain str."""
    __slots__ = ()

    def __repr__(self):
        return "Status(%s)" % str.__repr__(self)


class Error(str):
    """RESP error (-ERR ... or RESP3 blob error). Returned, never raised.

    It is a str (the full message without the leading '-'), so
    `r == "ERR syntax error"`, `r.startswith("WRONGTYPE")` work; use
    isinstance(r, Error) / is_error(r) to tell it from a Status."""
    __slots__ = ()

    @property
    def message(self):
        return str(self)

    @property
    def code(self):
        """First word: ERR, WRONGTYPE, NOAUTH, ..."""
        return str(self).split(" ", 1)[0]

    def __repr__(self):
        return "Error(%s)" % str.__repr__(self)


def is_error(reply):
    return isinstance(reply, Error)


class Double(float):
    """RESP3 double (,1.5). A float that keeps the server's exact text."""

    def __new__(cls, text):
        if isinstance(text, bytes):
            text = text.decode("ascii")
        self = float.__new__(cls, float(text))
        self.text = text
        return self

    def __repr__(self):
        return "Double(%r)" % self.text


class BigNumber(int):
    """RESP3 big number ((123...). An int, distinguishable from Integer."""

    def __repr__(self):
        return "BigNumber(%s)" % int.__repr__(self)


class Verbatim(bytes):
    """RESP3 verbatim string (=15\\r\\ntxt:Some string). Equal to its payload
    bytes (without the 'txt:' prefix); .format is 'txt'/'mkd'."""

    def __new__(cls, fmt, data):
        self = bytes.__new__(cls, data)
        self.format = fmt if isinstance(fmt, str) else fmt.decode("ascii")
        return self

    @property
    def data(self):
        return bytes(self)

    def __repr__(self):
        return "Verbatim(%r, %s)" % (self.format, bytes.__repr__(self))


class Map(list):
    """RESP3 map: an ordered list of (key, value) tuples.

    Equality with another Map/list is order-sensitive; equality with a dict
    compares as a dict. .get(key), .keys(), .values(), .items(), .to_dict()."""

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default

    def keys(self):
        return [k for k, _ in self]

    def values(self):
        return [v for _, v in self]

    def items(self):
        return list(self)

    def to_dict(self):
        # dict(self) would call self.keys() (we define it) and treat the Map
        # as a mapping; build from the pairs instead.
        return dict(list.__iter__(self))

    def __eq__(self, other):
        if isinstance(other, dict):
            try:
                return self.to_dict() == other
            except TypeError:
                return False
        return list.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None

    def __repr__(self):
        return "Map(%s)" % list.__repr__(self)


class Set(list):
    """RESP3 set (~). A list that keeps the server's order."""

    def __repr__(self):
        return "Set(%s)" % list.__repr__(self)


class Push(list):
    """RESP3 push (>)."""

    def __repr__(self):
        return "Push(%s)" % list.__repr__(self)


class Attribute(Map):
    """RESP3 attribute (|). Not returned as a reply: it is stored in
    Conn.last_attribute and the reply that follows it is returned."""


class ProtocolError(Exception):
    pass


# ---------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------

def _arg_bytes(a):
    if isinstance(a, bytes):
        return a
    if isinstance(a, (bytearray, memoryview)):
        return bytes(a)
    if isinstance(a, str):
        return a.encode("utf-8")
    if isinstance(a, bool):
        return b"1" if a else b"0"
    if isinstance(a, int):
        return str(a).encode()
    if isinstance(a, float):
        return repr(a).encode()
    raise TypeError("cannot encode argument %r" % (a,))


def encode_command(*args):
    """RESP array-of-bulk-strings encoding of one command."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = _arg_bytes(a)
        parts.append(b"$%d\r\n" % len(b))
        parts.append(b)
        parts.append(b"\r\n")
    return b"".join(parts)


class Conn(object):
    """Raw socket RESP client.

    Conn(host="127.0.0.1", port=6379, resp=2, timeout=10, password=None,
         unix_path=None)
    resp=3 sends HELLO 3 on connect. password sends AUTH (or HELLO 3 AUTH).
    Socket timeouts raise socket.timeout; a closed connection raises
    ConnectionError."""

    def __init__(self, host="127.0.0.1", port=6379, resp=2, timeout=10,
                 password=None, unix_path=None, username="default"):
        self.host, self.port, self.unix_path = host, port, unix_path
        self.timeout = timeout
        self.resp = 2
        self.last_attribute = None
        self.hello_reply = None
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(unix_path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self._pos = 0
        self._raw = None          # list collecting raw bytes while recording
        if resp == 3:
            self.hello_reply = self.hello(3, password=password, username=username)
            if is_error(self.hello_reply):
                raise ProtocolError("HELLO 3 failed: %s" % self.hello_reply)
        elif password is not None:
            r = self.call("AUTH", password)
            if is_error(r):
                raise ProtocolError("AUTH failed: %s" % r)

    # -- context manager ----------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- sending ------------------------------------------------------------
    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def send(self, *args):
        self.sock.sendall(encode_command(*args))

    # -- reading ------------------------------------------------------------
    def _fill(self):
        if self._pos > 65536 and self._pos > len(self._buf) // 2:
            del self._buf[:self._pos]
            self._pos = 0
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed by server")
        self._buf += chunk

    def _readline(self):
        while True:
            i = self._buf.find(b"\r\n", self._pos)
            if i >= 0:
                line = bytes(self._buf[self._pos:i])
                if self._raw is not None:
                    self._raw.append(bytes(self._buf[self._pos:i + 2]))
                self._pos = i + 2
                return line
            self._fill()

    def _readexact(self, n):
        while len(self._buf) - self._pos < n:
            self._fill()
        data = bytes(self._buf[self._pos:self._pos + n])
        if self._raw is not None:
            self._raw.append(data)
        self._pos += n
        return data

    def _read_bulk_payload(self, n):
        data = self._readexact(n + 2)
        if data[-2:] != b"\r\n":
            raise ProtocolError("bulk payload not terminated by CRLF: %r" % data[-2:])
        return data[:-2]

    def _parse(self):
        line = self._readline()
        if not line:
            raise ProtocolError("empty reply line")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return Status(rest.decode("utf-8", "surrogateescape"))
        if t == b"-":
            return Error(rest.decode("utf-8", "surrogateescape"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            return self._read_bulk_payload(n)
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._parse() for _ in range(n)]
        if t == b"_":
            return None
        if t == b",":
            return Double(rest)
        if t == b"#":
            if rest == b"t":
                return True
            if rest == b"f":
                return False
            raise ProtocolError("bad boolean %r" % line)
        if t == b"(":
            return BigNumber(int(rest))
        if t == b"!":
            return Error(self._read_bulk_payload(int(rest)).decode("utf-8", "surrogateescape"))
        if t == b"=":
            payload = self._read_bulk_payload(int(rest))
            if payload[3:4] != b":":
                raise ProtocolError("bad verbatim string %r" % payload[:8])
            return Verbatim(payload[:3], payload[4:])
        if t == b"%":
            n = int(rest)
            out = Map()
            for _ in range(n):
                k = self._parse()
                v = self._parse()
                out.append((k, v))
            return out
        if t == b"~":
            return Set(self._parse() for _ in range(int(rest)))
        if t == b">":
            return Push(self._parse() for _ in range(int(rest)))
        if t == b"|":
            n = int(rest)
            attr = Attribute()
            for _ in range(n):
                k = self._parse()
                v = self._parse()
                attr.append((k, v))
            self.last_attribute = attr
            return self._parse()
        raise ProtocolError("unknown reply type byte in line %r" % line[:80])

    def read_reply(self):
        """Reads and parses the next reply (push messages included)."""
        return self._parse()

    def read_raw_reply(self):
        """Reads the next reply and returns its exact bytes."""
        self._raw = []
        try:
            self._parse()
            return b"".join(self._raw)
        finally:
            self._raw = None

    def read_reply_and_raw(self):
        """Reads the next reply; returns (parsed, raw_bytes)."""
        self._raw = []
        try:
            v = self._parse()
            return v, b"".join(self._raw)
        finally:
            self._raw = None

    # -- commands -----------------------------------------------------------
    def call(self, *args):
        self.send(*args)
        return self._parse()

    def call_raw(self, *args):
        self.send(*args)
        return self.read_raw_reply()

    def call_both(self, *args):
        """(parsed, raw) for one command."""
        self.send(*args)
        return self.read_reply_and_raw()

    def pipeline(self, commands):
        """Writes all commands (list of arg lists) in one go, then reads one
        reply per command. Returns the list of parsed replies."""
        self.sock.sendall(b"".join(encode_command(*c) for c in commands))
        return [self._parse() for _ in commands]

    def pipeline_raw(self, commands):
        self.sock.sendall(b"".join(encode_command(*c) for c in commands))
        return [self.read_raw_reply() for _ in commands]

    def hello(self, protover=3, password=None, username="default", setname=None):
        args = ["HELLO", protover]
        if password is not None:
            args += ["AUTH", username, password]
        if setname is not None:
            args += ["SETNAME", setname]
        r = self.call(*args)
        if not is_error(r):
            self.resp = int(protover)
        return r

    def ping(self):
        return self.call("PING")

    def has_pending_data(self, wait=0.0):
        """True if reply bytes are buffered or arrive within `wait` seconds."""
        if len(self._buf) > self._pos:
            return True
        self.sock.settimeout(wait if wait > 0 else 0.000001)
        try:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return True   # EOF is "something happened"
            self._buf += chunk
            return True
        except (socket.timeout, BlockingIOError):
            return False
        finally:
            self.sock.settimeout(self.timeout)

    def is_closed_by_server(self, wait=1.0):
        """True if the server closes the connection within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return True
            self._buf += chunk
            return False
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        finally:
            self.sock.settimeout(self.timeout)


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:", "LeakSanitizer has encountered a fatal error")
_LEAK_PATTERNS = ("ERROR: LeakSanitizer", "LeakSanitizer has encountered a fatal error")


class ServerFailure(AssertionError):
    """A server crashed, hung at shutdown, exited non-zero, or reported a
    sanitizer error. Subclass of AssertionError so it fails the test."""


class StartFailure(ServerFailure):
    pass


_LIVE_SERVERS = []          # every Server whose process may be running
_TEST_SERVERS = None        # list of servers started by the current test


def _set_pdeathsig():
    # Runs in the child between fork and exec: die with the harness.
    try:
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
    except Exception:
        pass


try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


def free_port():
    """A TCP port in 20000..32767 (below the Linux ephemeral range, so client
    sockets never take it) that is bindable on 127.0.0.1 right now."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32768)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port found")


def _quote_conf_value(v):
    if isinstance(v, bytes):
        v = v.decode("utf-8", "surrogateescape")
    v = str(v) if not isinstance(v, str) else v
    if v and re.match(r'^[A-Za-z0-9_./:+\-*@,=%]+$', v):
        return v
    out = ['"']
    for ch in v:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _config_lines(extra):
    """extra: None, dict {name: value}, or list of lines / (name, value)
    tuples. A value that is a list/tuple gives several arguments; a value of
    None omits the directive (to drop a default). Returns (lines, dict of
    last value per lower-cased name)."""
    lines, seen = [], {}
    if extra is None:
        return lines, seen
    items = extra.items() if isinstance(extra, dict) else extra
    for item in items:
        if isinstance(item, str):
            lines.append(item)
            parts = item.split(None, 1)
            if parts:
                seen[parts[0].lower()] = parts[1] if len(parts) > 1 else ""
            continue
        name, value = item
        seen[name.lower()] = value
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            vals = " ".join(_quote_conf_value(x) for x in value)
        else:
            vals = _quote_conf_value(value)
        lines.append("%s %s" % (name, vals))
    return lines, seen


def cairn_binary():
    b = os.environ.get("CAIRN_SERVER")
    if not b:
        bd = os.environ.get("CAIRN_BUILD_DIR")
        if bd and os.path.exists(os.path.join(bd, "cairn-server")):
            return os.path.join(bd, "cairn-server")
        raise RuntimeError("CAIRN_SERVER is not set (path to the cairn-server binary)")
    return b


def redis_binary():
    b = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(b):
        raise RuntimeError("redis-server not found (set REDIS_SERVER); "
                           "install it with scripts/install-deps.sh --with-tests")
    return b


def _server_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


class Server(object):
    """Common machinery for CairnServer and RedisServer.

    Layout: <tmp>/ holds server.conf and server.N.log (stdout+stderr of the
    N-th start); <tmp>/data is the `dir` given to the server (or the dir
    argument, which is not deleted)."""

    kind = "server"

    def __init__(self, extra_config=None, dir=None, args=None, port=None,
                 binary=None, start=True, start_timeout=START_TIMEOUT,
                 shared=False, keep_tmp=None):
        self.binary = binary or self._default_binary()
        self.extra_config = extra_config
        self.args = list(args or [])
        self.start_timeout = start_timeout
        self.shared = shared
        self.tmp = tempfile.mkdtemp(prefix="cairn-%s-" % self.kind)
        self._own_dir = dir is None
        self.dir = os.path.abspath(dir) if dir else os.path.join(self.tmp, "data")
        os.makedirs(self.dir, exist_ok=True)
        self._fixed_port = port is not None
        self.port = port
        # args=["--port", N]: the server must listen on N although the
        # config file names another (free) port -- exercises the override.
        self._override_port = None
        for i, a in enumerate(self.args[:-1]):
            if str(a).lower() == "--port":
                self._override_port = int(self.args[i + 1])
                self.port, self._fixed_port = self._override_port, True
        self.proc = None
        self.log_path = None
        self.nstarts = 0
        self.conf_path = os.path.join(self.tmp, "server.conf")
        self.keep_tmp = keep_tmp if keep_tmp is not None else bool(os.environ.get("CAIRN_KEEP_TMP"))
        self._failed = False
        self._stopped = True        # no process, or it was stopped/killed on purpose
        _, seen = _config_lines(extra_config)
        self.password = seen.get("requirepass") or None
        if isinstance(self.password, str) and len(self.password) >= 2 and self.password[0] in "\"'":
            self.password = self.password[1:-1]
        if start:
            self.start()

    # -- hooks ----------------------------------------------------------------
    def _default_binary(self):
        raise NotImplementedError

    def _base_config(self):
        port = self.port
        if self._override_port is not None:
            port = free_port()
            while port == self._override_port:
                port = free_port()
        return [("port", port), ("bind", "127.0.0.1"), ("dir", self.dir), ("logfile", "")]

    # -- config ---------------------------------------------------------------
    def write_config(self):
        base, _ = _config_lines(self._base_config())
        extra, seen = _config_lines(self.extra_config)
        # drop base directives the caller overrides
        keep = [l for l in base if l.split(None, 1)[0].lower() not in seen]
        with open(self.conf_path, "w") as f:
            f.write("# generated by tests/integration/cairn_test.py\n")
            f.write("\n".join(keep + extra) + "\n")
        return self.conf_path

    # -- lifecycle ------------------------------------------------------------
    def start(self, keep_port=False):
        """Starts the process and waits (bounded) for PING -> PONG.
        keep_port: on the port of the previous start (a replica that comes
        back under the same address, without restart()'s stop)."""
        if self.is_running():
            raise RuntimeError("%s already running" % self.kind)
        if keep_port and self.port:
            self._fixed_port = True
        attempts = 1 if self._fixed_port else 5
        last = None
        for attempt in range(attempts):
            if not self._fixed_port:
                self.port = free_port()
            self.write_config()
            self._spawn()
            try:
                self._wait_ready()
                return self
            except StartFailure as e:
                last = e
                log = self.log_text()
                if (not self._fixed_port and self.proc.poll() is not None
                        and ("in use" in log or "EADDRINUSE" in log)):
                    continue      # raced with someone for the port: retry
                raise
        raise last

    def _spawn(self):
        self.log_path = os.path.join(self.tmp, "server.%d.log" % self.nstarts)
        self.nstarts += 1
        logf = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [self.binary, self.conf_path] + self.args,
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                cwd=self.tmp, env=_server_env(), start_new_session=True,
                preexec_fn=_set_pdeathsig if _libc is not None else None)
        finally:
            logf.close()
        self._stopped = False
        if self not in _LIVE_SERVERS:
            _LIVE_SERVERS.append(self)
        if _TEST_SERVERS is not None and not self.shared and self not in _TEST_SERVERS:
            _TEST_SERVERS.append(self)

    def _wait_ready(self):
        deadline = time.time() + self.start_timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._reap_done()
                raise StartFailure("%s exited during startup (exit code %s)\n%s"
                                   % (self.kind, rc, self._log_excerpt()))
            try:
                c = Conn("127.0.0.1", self.port, timeout=2)
                try:
                    if self.password:
                        c.call("AUTH", self.password)
                    r = c.call("PING")
                finally:
                    c.close()
                if r == "PONG" and isinstance(r, Status):
                    return
                last = r
            except (OSError, ProtocolError) as e:
                last = e
            time.sleep(0.02)
        self._force_kill()
        raise StartFailure("%s did not answer PING with PONG within %.0fs (last: %r)\n%s"
                           % (self.kind, self.start_timeout, last, self._log_excerpt()))

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def conn(self, resp=2, timeout=10, password=None):
        """A new client connection (not authenticated unless password=...)."""
        return Conn("127.0.0.1", self.port, resp=resp, timeout=timeout, password=password)

    def log_text(self, all_starts=False):
        """stdout+stderr of the current (or every) start of the process."""
        paths = ([os.path.join(self.tmp, "server.%d.log" % i) for i in range(self.nstarts)]
                 if all_starts else [self.log_path])
        out = []
        for p in paths:
            if p and os.path.exists(p):
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
        return "".join(out)

    def _log_excerpt(self, limit=20000):
        t = self.log_text()
        if len(t) > limit:
            t = "...[%d bytes cut]...\n" % (len(t) - limit) + t[-limit:]
        return "---- %s log (%s) ----\n%s\n---- end of log ----" % (self.kind, self.log_path, t)

    def sanitizer_report(self, include_leaks=True):
        """The log text if it contains a sanitizer report, else None."""
        t = self.log_text()
        pats = SANITIZER_PATTERNS if include_leaks else tuple(
            p for p in SANITIZER_PATTERNS if p not in _LEAK_PATTERNS)
        for p in pats:
            if p in t:
                return t
        return None

    def _reap_done(self):
        if self.proc is not None and self.proc.poll() is not None and self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)

    def _force_kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._reap_done()

    def _fail(self, why, include_log=True):
        self._failed = True
        msg = "%s (pid %s, port %s): %s" % (self.kind, self.pid, self.port, why)
        if include_log:
            msg += "\n" + self._log_excerpt()
        raise ServerFailure(msg)

    def wait_exit(self, timeout=STOP_TIMEOUT, expect_code=0, check_leaks=True):
        """Waits for the process to exit by itself (e.g. after a test sent
        SHUTDOWN), then checks exit code and sanitizer output."""
        self._stopped = True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._force_kill()
            self._fail("did not exit within %.0fs" % timeout)
        self._reap_done()
        self._check_exit(expect_code, check_leaks)

    def _check_exit(self, expect_code, check_leaks):
        rep = self.sanitizer_report(include_leaks=check_leaks)
        if rep is not None:
            self._fail("sanitizer report in server output")
        rc = self.proc.returncode
        if expect_code is not None and rc != expect_code:
            self._fail("exited with code %s (expected %s)" % (rc, expect_code))

    def stop(self, check=True):
        """Graceful stop: SHUTDOWN (AUTH first if requirepass was configured),
        falling back to SIGTERM; waits up to 10 s, then SIGTERM/SIGKILL and
        fails. Fails on a non-zero exit code or any sanitizer report
        (including LeakSanitizer). Returns the exit code. No-op if stopped."""
        if self.proc is None or self._stopped:
            return None if self.proc is None else self.proc.returncode
        self._stopped = True
        if self.proc.poll() is not None:
            # already exited (crash, or the test sent SHUTDOWN itself)
            self._reap_done()
            if check:
                self._check_exit(0, True)
            return self.proc.returncode
        sent = False
        try:
            c = Conn("127.0.0.1", self.port, timeout=STOP_TIMEOUT)
            try:
                if self.password:
                    c.call("AUTH", self.password)
                c.send("SHUTDOWN")
                try:
                    r = c.read_reply()
                    sent = not is_error(r)   # an error reply: fall back to SIGTERM
                except (ConnectionError, OSError):
                    sent = True              # closed without reply: shutting down
            finally:
                c.close()
        except (OSError, ProtocolError):
            sent = False
        if not sent and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(min(5.0, STOP_TIMEOUT))
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._force_kill()
            if check:
                self._fail("did not exit within %.0fs of SHUTDOWN/SIGTERM; killed" % STOP_TIMEOUT)
            return self.proc.returncode
        self._reap_done()
        if check:
            self._check_exit(0, True)
        return self.proc.returncode

    def sigterm(self, check=True):
        """Graceful stop by SIGTERM (instead of SHUTDOWN); same checks."""
        if self.proc is None:
            return None
        if self.is_running():
            self.proc.send_signal(signal.SIGTERM)
        self.wait_exit(STOP_TIMEOUT, 0 if check else None, check)
        return self.proc.returncode

    def kill9(self):
        """SIGKILL; no leak check, but fails if the log already contains an
        AddressSanitizer/UBSan report."""
        if self.proc is None:
            return
        self._stopped = True
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reap_done()
        if self.sanitizer_report(include_leaks=False) is not None:
            self._fail("sanitizer report in server output (before SIGKILL)")

    def restart(self, kill=False):
        """Stops (gracefully, checked; or SIGKILL if kill=True) and starts the
        server again with the same dir, port and config."""
        if kill:
            self.kill9()
        else:
            self.stop()
        self._fixed_port = True
        self.start()
        return self

    def cleanup(self, force=False):
        """Deletes the temp dir (kept if CAIRN_KEEP_TMP is set or a check
        failed, unless force=True). Kills the process if still running."""
        if self.is_running():
            self._force_kill()
        if not force and (self.keep_tmp or self._failed):
            sys.stderr.write("[cairn_test] kept %s files in %s\n" % (self.kind, self.tmp))
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, etype, evalue, tb):
        if etype is not None:
            self._failed = True      # keep the files (log, data) of a failing test
        try:
            if self.proc is not None:
                self.stop()
        finally:
            if self.is_running():
                self._force_kill()
            self.cleanup()
        return False

    def __repr__(self):
        return "<%s pid=%s port=%s dir=%s>" % (type(self).__name__, self.pid, self.port, self.dir)

    # -- start failures ---------------------------------------------------------
    @classmethod
    def expect_start_failure(cls, extra_config=None, args=None, config_text=None,
                             base=True, timeout=START_TIMEOUT, binary=None):
        """Runs the server with a config that must make it fail at startup.

        extra_config is appended to the usual base config (port/bind/dir/
        logfile; base=False omits it); config_text, if given, is written
        verbatim instead. Returns (exit_code, output) where output is the
        combined stdout+stderr. Raises ServerFailure if the server starts
        (answers PING or is still running after `timeout`)."""
        s = cls(extra_config=extra_config, args=args, binary=binary, start=False)
        try:
            s.port = free_port()
            if config_text is not None:
                with open(s.conf_path, "w") as f:
                    f.write(config_text)
            elif base:
                s.write_config()
            else:
                lines, _ = _config_lines(extra_config)
                with open(s.conf_path, "w") as f:
                    f.write("\n".join(lines) + "\n")
            s._spawn()
            deadline = time.time() + timeout
            while time.time() < deadline and s.proc.poll() is None:
                try:
                    c = Conn("127.0.0.1", s.port, timeout=1)
                    c.close()
                    # something listens: the server started
                    break
                except OSError:
                    pass
                time.sleep(0.02)
            if s.proc.poll() is None:
                time.sleep(0.1)
            if s.proc.poll() is None:
                s._force_kill()
                s._fail("started although its configuration should have been rejected")
            s._reap_done()
            out = s.log_text()
            if s.sanitizer_report(include_leaks=True) is not None:
                s._fail("sanitizer report while rejecting configuration")
            return s.proc.returncode, out
        finally:
            s._force_kill()
            s.cleanup(force=True)     # the output is in the return value / failure


class CairnServer(Server):
    """A cairn-server ($CAIRN_SERVER) on a free 127.0.0.1 port.

    CairnServer(extra_config=None, dir=None, args=None, port=None,
                binary=None, start=True, start_timeout=10, shared=False)

    Base config: port, bind 127.0.0.1, dir <tmp>/data, logfile "",
    lmdb-map-size 64mb (grown on demand).
    extra_config: dict or list (see _config_lines); overrides base entries of
    the same name. args: command-line overrides after the config path, e.g.
    ["--port", "7001"]. When the binary is a redis-server (harness
    validation), `save ""` and `appendonly no` are added to the base."""

    kind = "cairn"

    def _default_binary(self):
        return cairn_binary()

    def _base_config(self):
        base = Server._base_config(self)
        if os.path.basename(self.binary).startswith("redis"):
            base += [("save", ""), ("appendonly", "no")]
        else:
            # the map is reserved on disk (lmdb-writemap): 1 GB per server
            # by default, too much for dozens of test servers (and the kept
            # files of a failed test); it grows on demand from here
            base += [("lmdb-map-size", "64mb")]
        return base


class RedisServer(Server):
    """A real redis-server (REDIS_SERVER or the one on PATH) as reference:
    base config port, bind 127.0.0.1, dir tmp, logfile "", save "",
    appendonly no."""

    kind = "redis"

    def _default_binary(self):
        return redis_binary()

    def _base_config(self):
        return Server._base_config(self) + [("save", ""), ("appendonly", "no")]


def _stop_all_live(reason):
    """Stops every server still running; returns a list of failure texts."""
    failures = []
    for s in list(_LIVE_SERVERS):
        try:
            s.stop()
        except Exception as e:
            failures.append("%s left running (%s): %s" % (s, reason, e))
        finally:
            if s.is_running():
                s._force_kill()
            s._reap_done()
            try:
                s.cleanup()
            except Exception:
                pass
    return failures


def _atexit_kill():
    # Last resort (normal paths stop servers explicitly): never leave
    # processes behind. Servers are killed, then scanned for reports.
    bad = False
    for s in list(_LIVE_SERVERS):
        try:
            s._force_kill()
            if s.sanitizer_report(include_leaks=False) is not None:
                sys.stderr.write("[cairn_test] sanitizer report in %s:\n%s\n"
                                 % (s, s._log_excerpt()))
                bad = True
                s._failed = True
            s.cleanup()
        except Exception:
            pass
    if bad:
        sys.stderr.flush()
        os._exit(1)


atexit.register(_atexit_kill)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


try:
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)
except ValueError:
    pass   # not the main thread


# ---------------------------------------------------------------------------
# Test runner
# ---------------------------------------------------------------------------

_TESTS = []
_CLEANUPS = []


class TestTimeout(Exception):
    pass


def test(fn=None, name=None, timeout=300):
    """Registers a test. Use as @test or @test(name=..., timeout=seconds)."""
    def reg(f):
        _TESTS.append((name or f.__name__, f, timeout))
        return f
    if fn is not None and callable(fn):
        return reg(fn)
    return reg


def add_cleanup(fn):
    """Runs fn() after all tests (e.g. stop shared servers); a failure there
    counts as one failed 'cleanup' entry."""
    _CLEANUPS.append(fn)


def _fmt(v):
    return pprint.pformat(v, width=100).splitlines()


def assert_eq(a, b, msg=None):
    """Fails unless a == b, printing both values and a diff."""
    if a == b:
        return
    la, lb = _fmt(a), _fmt(b)
    lines = ["%sassert_eq failed" % (msg + ": " if msg else "")]
    if len(la) == 1 and len(lb) == 1:
        lines.append("  got:      %s" % la[0])
        lines.append("  expected: %s" % lb[0])
        if type(a) is not type(b):
            lines.append("  (types: %s vs %s)" % (type(a).__name__, type(b).__name__))
    else:
        lines.extend(difflib.unified_diff(la, lb, "got", "expected", lineterm="", n=2))
    if isinstance(a, (bytes, str, list)) and isinstance(b, (bytes, str, list)) and type(a) == type(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                lines.append("  first difference at index %d" % i)
                break
        else:
            lines.append("  lengths differ: %d vs %d" % (len(a), len(b)))
    raise AssertionError("\n".join(lines))


def assert_true(cond, msg="condition is false"):
    if not cond:
        raise AssertionError(msg)


def assert_error(reply, prefix=None, msg=None):
    """Fails unless reply is an Error (starting with prefix, if given)."""
    if not isinstance(reply, Error) or (prefix is not None and not reply.startswith(prefix)):
        raise AssertionError("%sexpected an error%s, got %r"
                             % (msg + ": " if msg else "",
                                " starting with %r" % prefix if prefix else "", reply))


def assert_error_text(reply, text):
    """Fails unless reply is exactly the error `text` (without the '-')."""
    assert_true(is_error(reply), "expected error %r, got %r" % (text, reply))
    assert_eq(reply.message, text)


def assert_arity_error(reply, cmd):
    """Fails unless reply is Redis's wrong-number-of-arguments error for cmd."""
    assert_error_text(reply, "ERR wrong number of arguments for '%s' command" % cmd)


def wait_until(fn, timeout=10, interval=0.05, msg=None):
    """Calls fn until it returns a truthy value (returned); AssertionError
    after `timeout` seconds. msg may be a callable, evaluated on failure (so
    a log excerpt in it is current)."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except AssertionError:
            if time.time() >= deadline:
                raise
        if time.time() >= deadline:
            text = msg() if callable(msg) else (msg or "wait_until")
            raise AssertionError("%s (timed out after %ss; last value %r)"
                                 % (text, timeout, last))
        time.sleep(interval)


def scan_key(conn, cmd, key, count=None, match=None, each=None):
    """Iterates HSCAN/SSCAN/ZSCAN `cmd` on key from cursor 0 to the end.
    Returns (all items of every reply, flat, in reply order; number of calls).
    each(calls, cursor), if given, runs after every call."""
    cursor = b"0"
    out = []
    rounds = 0
    while True:
        args = [cmd, key, cursor]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        r = conn.call(*args)
        assert_true(isinstance(r, list) and len(r) == 2, r)
        cursor, items = r
        assert_true(cursor.isdigit(), cursor)
        out.extend(items)
        rounds += 1
        if each:
            each(rounds, cursor)
        if cursor == b"0":
            return out, rounds
        assert_true(rounds < 1000000)


# ---------------------------------------------------------------------------
# INFO and replication helpers
# ---------------------------------------------------------------------------

def parse_info(text):
    """The text of an INFO reply (bytes or str) -> {field: value} (str
    values) over all its sections; '# Section' headers, blank lines and lines
    without ':' are skipped."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    out = {}
    for line in text.split("\r\n"):
        if not line or line.startswith("#") or ":" not in line:
            continue
        k, v = line.split(":", 1)
        out[k] = v
    return out


def parse_info_sections(text):
    """The text of an INFO reply -> {section title: {field: value}}; fails
    unless the text ends with CRLF."""
    if isinstance(text, bytes):
        text = text.decode()
    sections, cur = {}, None
    assert text.endswith("\r\n"), repr(text[-20:])
    for line in text.split("\r\n"):
        if line.startswith("# "):
            cur = line[2:]
            sections[cur] = {}
        elif line:
            k, _, v = line.partition(":")
            sections[cur][k] = v
    return sections


def strings_snapshot(server, dbs=16):
    """{db: {key: (value, pttl)}} of every db (strings only)."""
    c = server.conn(timeout=30)
    out = {}
    try:
        for db in range(dbs):
            assert_eq(c.call("SELECT", db), "OK")
            keys, cursor = set(), b"0"
            while True:
                r = c.call("SCAN", cursor, "COUNT", 500)
                assert_true(isinstance(r, list), "SCAN reply %r" % (r,))
                cursor, batch = r
                keys.update(batch)
                if cursor == b"0":
                    break
            keys = sorted(keys)
            d = {}
            for i in range(0, len(keys), 200):
                chunk = keys[i:i + 200]
                cmds = []
                for k in chunk:
                    cmds.append(["GET", k])
                    cmds.append(["PTTL", k])
                rep = c.pipeline(cmds)
                for j, k in enumerate(chunk):
                    d[k] = (rep[2 * j], rep[2 * j + 1])
            if d:
                out[db] = d
    finally:
        c.close()
    return out


def assert_same_strings(master, replica, expect_nonempty=True, ttl_tolerance_ms=2000):
    """Fails unless replica holds exactly master's string keys (values, and
    TTLs within ttl_tolerance_ms) in every db; returns master's snapshot."""
    m, r = strings_snapshot(master), strings_snapshot(replica)
    if expect_nonempty:
        assert_true(m, "master has no keys at all")
    assert_eq(sorted(r.keys()), sorted(m.keys()), "non-empty dbs differ (replica vs master)")
    for db in m:
        mk, rk = m[db], r[db]
        missing = sorted(set(mk) - set(rk))[:5]
        extra = sorted(set(rk) - set(mk))[:5]
        assert_true(not missing and not extra,
                    "db %d: keys differ: missing on replica %r, extra on replica %r (%d vs %d keys)"
                    % (db, missing, extra, len(rk), len(mk)))
        for k, (mv, mt) in mk.items():
            rv, rt = rk[k]
            if rv != mv:
                raise AssertionError("db %d key %r: replica value %r... (%s bytes) != master %r... (%s bytes)"
                                     % (db, k, (rv or b"")[:40], len(rv or b""), (mv or b"")[:40], len(mv or b"")))
            assert_true(isinstance(mt, int) and isinstance(rt, int),
                        "db %d key %r: PTTL replies %r / %r" % (db, k, mt, rt))
            if mt < 0 or rt < 0:
                assert_eq(rt, mt, "db %d key %r: PTTL on replica vs master" % (db, k))
            else:
                assert_true(abs(mt - rt) <= ttl_tolerance_ms,
                            "db %d key %r: PTTL replica %d vs master %d" % (db, k, rt, mt))
    return m


@contextlib.contextmanager
def faults_env(spec):
    """CAIRN_FAULTS=spec for the servers started inside the block (engine/fault.h
    has the syntax); restored after it, so later (re)starts run without."""
    old = os.environ.get("CAIRN_FAULTS")
    os.environ["CAIRN_FAULTS"] = spec
    try:
        yield
    finally:
        if old is None:
            del os.environ["CAIRN_FAULTS"]
        else:
            os.environ["CAIRN_FAULTS"] = old


def crc32c(data):
    """CRC-32C (Castagnoli) of bytes, as engine/util.c computes it (bitwise:
    for the short headers tests write)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def backlog_tool_path():
    """cairn-backlog of the build under test ($CAIRN_BUILD_DIR)."""
    return os.path.join(os.environ.get("CAIRN_BUILD_DIR", "build-test"), "cairn-backlog")


def backlog_tool(*args, check=None):
    """Runs cairn-backlog (bounded: 300 s); check: the exit code it must have."""
    r = subprocess.run([backlog_tool_path()] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    if check is not None:
        assert_eq(r.returncode, check, "cairn-backlog %s: %s%s" % (" ".join(map(str, args)), r.stdout.decode(),
                                                                   r.stderr.decode()))
    return r


def info(conn, section=None):
    """INFO [section] on conn, parsed by parse_info; fails unless the reply
    is a bulk string."""
    args = ("INFO",) if section is None else ("INFO", section)
    r = conn.call(*args)
    assert_true(isinstance(r, bytes), "INFO %s: %r" % (section, r))
    return parse_info(r)


def info_field(conn, name, section="all"):
    """One INFO field (str); AssertionError if the section has no such field."""
    i = info(conn, section)
    if name not in i:
        raise AssertionError("no %s in INFO %s" % (name, section))
    return i[name]


def server_info(server, section="replication"):
    """info() of a Server on a new connection (authenticated if the server
    has requirepass), closed afterwards."""
    c = server.conn(password=server.password)
    try:
        return info(c, section)
    finally:
        c.close()


def log_tail(server, n=5000):
    """The last n characters of the server's current log, with a header."""
    return "---- %s log tail ----\n%s" % (server.log_path, server.log_text()[-n:])


def link_up(target):
    """True if target (a Server or a Conn) is a replica whose link to its
    master is up (role:slave, master_link_status:up)."""
    i = server_info(target) if isinstance(target, Server) else info(target, "replication")
    return i.get("role") == "slave" and i.get("master_link_status") == "up"


def wait_link_up(replica, timeout=30):
    """Waits until the replica Server's link to its master is up (asked on a
    new connection each time, so a restart or dropped client does not matter)."""
    wait_until(lambda: link_up(replica), timeout=timeout, interval=0.1,
               msg=lambda: "replica link did not come up\n" + log_tail(replica))


def wait_offsets_equal(master, replica, timeout=30):
    """Waits until the replica's link is up and its master_repl_offset equals
    the master's; returns that offset."""
    mc, rc = master.conn(password=master.password), replica.conn(password=replica.password)
    last = {}

    def same():
        m = int(info(mc, "replication")["master_repl_offset"])
        ri = info(rc, "replication")
        last.update(master=m, replica=ri.get("master_repl_offset"), link=ri.get("master_link_status"))
        ok = str(m) == ri.get("master_repl_offset") and ri.get("master_link_status") == "up"
        return (m,) if ok else None     # a tuple: offset 0 is a valid answer

    try:
        return wait_until(same, timeout=timeout, interval=0.1,
                          msg=lambda: "offsets did not converge: %r\n%s" % (last, log_tail(replica, 4000)))[0]
    finally:
        mc.close()
        rc.close()


def _alarm(signum, frame):
    raise TestTimeout("test timed out")


def run_tests(argv=None):
    """Runs registered tests (those whose name contains one of the argv
    words, or matches it as a glob; all if none), prints PASS/FAIL lines and
    the final 'N passed, M failed', then exits (1 if anything failed)."""
    global _TEST_SERVERS
    if argv is None:
        argv = sys.argv[1:]
    sel = [a for a in argv if not a.startswith("-")]
    tests = [t for t in _TESTS
             if not sel or any(s in t[0] or fnmatch.fnmatch(t[0], s) for s in sel)]
    passed = failed = 0
    t_all = time.time()
    if not tests:
        print("no tests match %r" % (sel,))
        print("0 passed, 1 failed")
        sys.stdout.flush()
        sys.exit(1)
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for name, fn, timeout in tests:
            _TEST_SERVERS = []
            t0 = time.time()
            ok = True
            err = None
            try:
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    fn()
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except (Exception, TestTimeout):
                ok = False
                err = traceback.format_exc()
            # servers the test forgot to stop: stop and check them now
            for s in list(_TEST_SERVERS):
                if s.is_running() or (s.proc is not None and s in _LIVE_SERVERS):
                    try:
                        s.stop()
                    except Exception:
                        ok = False
                        err = (err or "") + "while stopping a server left running:\n" + traceback.format_exc()
                    finally:
                        s._force_kill()
                        s.cleanup()
            _TEST_SERVERS = None
            dt = time.time() - t0
            if ok:
                passed += 1
                print("PASS %s (%.2fs)" % (name, dt))
            else:
                failed += 1
                print("FAIL %s (%.2fs)" % (name, dt))
                print(err)
            sys.stdout.flush()
        # shared servers and user cleanups
        cleanup_errs = []
        for c in reversed(_CLEANUPS):
            try:
                c()
            except Exception:
                cleanup_errs.append(traceback.format_exc())
        cleanup_errs += _stop_all_live("end of script")
        if cleanup_errs:
            failed += 1
            print("FAIL cleanup")
            for e in cleanup_errs:
                print(e)
    finally:
        signal.signal(signal.SIGALRM, old)
    print("(total %.1fs)" % (time.time() - t_all))
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)


# ---------------------------------------------------------------------------
# Crash tests: raw pipelining until the server is killed
# ---------------------------------------------------------------------------

class Incomplete(Exception):
    """parse_raw_reply: the buffer ends inside the reply."""


def parse_raw_reply(buf, pos):
    """One RESP2 reply from buf at pos: (reply, next pos). Replies: int,
    bytes, None, list, ("+", text), ("-", text)."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        raise Incomplete
    t = buf[pos:pos + 1]
    line = buf[pos + 1:nl]
    pos = nl + 2
    if t in (b"+", b"-"):
        return (t.decode(), line.decode()), pos
    if t == b":":
        return int(line), pos
    if t in (b"$", b"*"):
        n = int(line)
        if n < 0:
            return None, pos
        if t == b"$":
            if len(buf) < pos + n + 2:
                raise Incomplete
            return bytes(buf[pos:pos + n]), pos + n + 2
        out = []
        for _ in range(n):
            r, pos = parse_raw_reply(buf, pos)
            out.append(r)
        return out, pos
    raise AssertionError("unexpected reply type %r at %r" % (t, bytes(buf[pos - 1:pos + 40])))


def pipeline_batches_until_killed(server, next_batch, kill_after, wire=None, nreplies=None, outstanding=50):
    """Sends batches (next_batch() -> list of items) on one connection until
    the server dies (server.kill9 runs after kill_after seconds), reading
    replies as it goes so that at most `outstanding` are pending. wire(item)
    gives an item's bytes (default: encode_command(*item)), nreplies(item)
    how many replies it produces (default 1). Returns (items sent, replies
    received, in order)."""
    import threading
    wire = wire or (lambda item: encode_command(*item))
    sent, replies = [], []
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    killer = threading.Timer(kill_after, server.kill9)
    killer.start()
    buf, pos, want = bytearray(), 0, 0
    try:
        deadline = time.time() + kill_after + 10
        while time.time() < deadline:
            batch = next_batch()
            try:
                sock.sendall(b"".join(wire(item) for item in batch))
            except OSError:
                break
            sent.extend(batch)
            want += sum(nreplies(item) for item in batch) if nreplies else len(batch)
            while len(replies) < want - outstanding or len(replies) == 0:
                try:
                    data = sock.recv(1 << 16)
                except OSError:
                    data = b""
                if not data:
                    raise ConnectionError
                buf += data
                while True:
                    try:
                        r, npos = parse_raw_reply(buf, pos)
                    except Incomplete:
                        break
                    replies.append(r)
                    pos = npos
                if pos > (1 << 20):
                    del buf[:pos]
                    pos = 0
    except ConnectionError:
        pass
    finally:
        killer.join()
        sock.close()
    return sent, replies
