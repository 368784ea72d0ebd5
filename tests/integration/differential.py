"""Differential testing: the same commands against cairn and a real
redis-server 7.0, replies compared byte for byte.

    from differential import compare, R, random_string_commands
    compare([["SET", "k", "v"], ["GET", "k"], (["TTL", "k"], "ttl_tolerant")])

A command is either a list of arguments (raw reply bytes must be identical)
or a tuple (args_list, normalizer) where normalizer is one of the names in
NORMALIZERS or a callable mapping one parsed reply to a comparable value.
Normalizers are only applied when neither reply is an error (errors are
always compared byte for byte).
See README.md for details.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import (CairnServer, RedisServer, Error, Status, Push, Map,  # noqa: E402
                        Set, add_cleanup)

__all__ = ["compare", "Pair", "get_pair", "R", "NORMALIZERS", "DiffMismatch",
           "random_string_commands", "random_key_commands", "fmt_cmd"]


class DiffMismatch(AssertionError):
    pass


def R(args, norm):
    """Readable spelling of (args, normalizer)."""
    return (list(args), norm)


# ---------------------------------------------------------------------------
# Normalizers
# ---------------------------------------------------------------------------

def _kind(v):
    if v is None:
        return "null"
    if isinstance(v, Error):
        return "error"
    if isinstance(v, Status):
        return "status"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "double"
    if isinstance(v, bytes):
        return "bulk"
    if isinstance(v, Map):
        return "map"
    if isinstance(v, Set):
        return "set"
    if isinstance(v, Push):
        return "push"
    if isinstance(v, list):
        return "array"
    return type(v).__name__


def _sortkey(v):
    return repr(v)


def _norm_sorted(v):
    if isinstance(v, list):
        return (_kind(v), sorted(v, key=_sortkey))
    return v


def _norm_set(v):
    if isinstance(v, list):
        return (_kind(v), sorted(set(map(_hashable, v)), key=_sortkey))
    return v


def _hashable(v):
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


def _norm_randomkey(v):
    # only whether a key came back (and the reply type)
    return _kind(v)


def _norm_type(v):
    return _kind(v)


def _norm_ignore(v):
    return None


def _norm_time(v):
    if isinstance(v, list) and len(v) == 2:
        return ("array2", [_kind(x) for x in v])
    return _kind(v)


NORMALIZERS = {
    "raw": None,
    "sorted": _norm_sorted,          # arrays compared as sorted lists (KEYS)
    "set": _norm_set,                # ... as sets
    "randomkey": _norm_randomkey,    # only null vs bulk
    "exists": _norm_randomkey,
    "type": _norm_type,              # only the reply type
    "ignore": _norm_ignore,          # nothing (but both must answer)
    "time": _norm_time,              # TIME: shape only
    "ttl_tolerant": "ttl",           # ints: -1/-2 exact, others within 1 s / 1000 ms
    "scan_all": "scan",              # iterate SCAN/SSCAN/HSCAN/ZSCAN to cursor 0, compare sets
}

_MS_TTL_CMDS = {b"PTTL", b"PEXPIRETIME"}


def _ttl_equal(cmdname, a, b):
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return all(_ttl_equal(cmdname, x, y) for x, y in zip(a, b))
    if type(a) is not int or type(b) is not int:
        return a == b
    if a < 0 or b < 0:
        return a == b
    tol = 1000 if cmdname in _MS_TTL_CMDS else 1
    return abs(a - b) <= tol


def _b(a):
    if isinstance(a, bytes):
        return a
    if isinstance(a, str):
        return a.encode()
    return str(a).encode()


def fmt_cmd(args):
    out = []
    for a in args:
        b = _b(a)
        try:
            s = b.decode("ascii")
            if s and all(32 < ord(c) < 127 for c in s) and '"' not in s:
                out.append(s)
                continue
        except UnicodeDecodeError:
            pass
        out.append(repr(b)[1:])
    return " ".join(out)


def _short(b, limit=300):
    r = repr(b)
    return r if len(r) <= limit else r[:limit] + "...(%d bytes)" % len(b)


def _scan_all(conn, args):
    """Iterates a SCAN-family command to cursor 0. Returns (ok, value)."""
    args = [_b(a) for a in args]
    name = args[0].upper()
    ci = 1 if name == b"SCAN" else 2
    cursor = b"0"
    seen = []
    rounds = 0
    while True:
        a = list(args)
        a[ci] = cursor
        parsed, raw = conn.call_both(*a)
        if isinstance(parsed, Error):
            return raw
        if not (isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[1], list)):
            return ("bad-scan-reply", raw)
        cursor = parsed[0]
        items = parsed[1]
        if name in (b"HSCAN", b"ZSCAN"):
            items = [tuple(items[i:i + 2]) for i in range(0, len(items), 2)]
        seen.extend(items)
        rounds += 1
        if cursor == b"0" or rounds > 100000:
            break
    return ("scan", sorted(set(seen), key=_sortkey))


# ---------------------------------------------------------------------------
# The server pair
# ---------------------------------------------------------------------------

class Pair(object):
    """A cairn server and a redis-server, long-lived, flushed between cases."""

    def __init__(self, cairn_config=None, redis_config=None):
        self.cairn = self.redis = None
        try:
            self.cairn = CairnServer(extra_config=cairn_config, shared=True)
            self.redis = RedisServer(extra_config=redis_config, shared=True)
        except BaseException:
            self.stop()
            raise

    def alive(self):
        return self.cairn.is_running() and self.redis.is_running()

    def conns(self, resp=2):
        return self.cairn.conn(resp=resp), self.redis.conn(resp=resp)

    def flush(self):
        for s in (self.cairn, self.redis):
            with s.conn() as c:
                r = c.call("FLUSHALL")
                if r != "OK":
                    raise DiffMismatch("FLUSHALL on %s failed: %r" % (s.kind, r))

    def stop(self):
        errs = []
        for s in (self.cairn, self.redis):
            if s is None:
                continue
            try:
                with s:
                    pass          # __exit__: graceful stop + sanitizer check + cleanup
            except AssertionError as e:
                errs.append(str(e))
        if errs:
            raise AssertionError("\n".join(errs))


_PAIR = None


def get_pair():
    """The per-script shared Pair (started on first use, stopped after the
    last test by run_tests; a broken pair is replaced)."""
    global _PAIR
    if _PAIR is not None and not _PAIR.alive():
        p, _PAIR = _PAIR, None
        p.stop()            # raises with the crash log
    if _PAIR is None:
        _PAIR = Pair()
        add_cleanup(_stop_pair)
    return _PAIR


def _stop_pair():
    global _PAIR
    p, _PAIR = _PAIR, None
    if p is not None:
        p.stop()


def _split(cmd):
    if isinstance(cmd, tuple) and len(cmd) == 2 and isinstance(cmd[0], (list, tuple)) \
            and (isinstance(cmd[1], str) or callable(cmd[1]) or cmd[1] is None):
        args, norm = list(cmd[0]), cmd[1]
    else:
        args, norm = list(cmd), None
    if isinstance(norm, str):
        if norm not in NORMALIZERS:
            raise ValueError("unknown normalizer %r" % norm)
        norm = NORMALIZERS[norm]
    if args and _b(args[0]).upper() == b"HELLO" and norm is None:
        norm = _norm_type      # HELLO replies legitimately differ
    return args, norm


def _run_one(conn, args, norm):
    """Returns (parsed, raw, comparable)."""
    if norm == "scan":
        v = _scan_all(conn, args)
        return v, v if isinstance(v, bytes) else repr(v).encode(), v
    parsed, raw = conn.call_both(*args)
    return parsed, raw, None


def _setup(conns, setup):
    if setup is None:
        return
    for c in conns:
        if callable(setup):
            setup(c)
        else:
            for cmd in setup:
                args, _ = _split(cmd)
                c.call(*args)


def compare(cmds, resp=2, setup=None, name=None, fresh=False, max_report=5,
            context=8, cairn_config=None, redis_config=None):
    """Runs cmds on cairn and on redis, compares replies command by command.

    cmds:   list of commands (arg lists, or (args, normalizer) tuples).
    resp:   2 or 3 (3 sends HELLO 3 first on both; its reply is not compared).
    setup:  list of commands, or callable(conn), run on both first (replies
            not compared).
    fresh:  use a new server pair for this case (else the shared one,
            FLUSHALL'ed first). cairn_config/redis_config imply fresh.
    Raises DiffMismatch listing up to max_report mismatches (command number,
    command, both raw replies, the preceding `context` commands). Returns
    the number of commands compared."""
    own = None
    if fresh or cairn_config is not None or redis_config is not None:
        own = Pair(cairn_config, redis_config)
        pair = own
    else:
        pair = get_pair()
        pair.flush()
    try:
        return _compare_on(pair, cmds, resp, setup, name, max_report, context)
    finally:
        if own is not None:
            own.stop()


def _compare_on(pair, cmds, resp, setup, name, max_report, context):
    cc, rc = pair.conns(resp=resp)
    mismatches = []
    n = 0
    history = []
    try:
        _setup((cc, rc), setup)
        for i, cmd in enumerate(cmds):
            args, norm = _split(cmd)
            history.append(args)
            n += 1
            try:
                cp, craw, cval = _run_one(cc, args, norm)
            except (OSError, ConnectionError) as e:
                alive = pair.cairn.is_running()
                mismatches.append((i, args, "cairn connection failed: %r (server %s)"
                                   % (e, "alive" if alive else "DEAD"), None, history[-context - 1:-1]))
                if not alive:
                    mismatches[-1] = mismatches[-1][:3] + (pair.cairn._log_excerpt(),) + mismatches[-1][4:]
                break
            rp, rraw, rval = _run_one(rc, args, norm)
            if norm is None:
                same = craw == rraw
            elif norm == "scan":
                same = cval == rval
            elif isinstance(cp, Error) or isinstance(rp, Error):
                same = craw == rraw
            elif norm == "ttl":
                same = _ttl_equal(_b(args[0]).upper(), cp, rp)
            else:
                try:
                    same = norm(cp) == norm(rp)
                except Exception as e:   # normalizer choked: report it
                    same = False
                    craw = craw + (" [normalizer error: %r]" % e).encode()
            if not same:
                mismatches.append((i, args, craw, rraw, history[-context - 1:-1]))
                if len(mismatches) >= max_report * 4:
                    break
    finally:
        cc.close()
        rc.close()
    if mismatches:
        lines = ["differential mismatch%s (resp=%d): %d%s of %d commands differ"
                 % (" in %r" % name if name else "", resp, len(mismatches),
                    "+" if len(mismatches) >= max_report * 4 else "", n)]
        for j, (i, args, craw, rraw, ctx) in enumerate(mismatches[:max_report]):
            lines.append("#%d: %s" % (i, fmt_cmd(args)))
            lines.append("    cairn: %s" % (craw if isinstance(craw, str) else _short(craw)))
            lines.append("    redis: %s" % (rraw if isinstance(rraw, str) else _short(rraw)))
            if j == 0 and ctx:
                lines.append("    preceded by:")
                for a in ctx:
                    lines.append("      %s" % fmt_cmd(a))
        raise DiffMismatch("\n".join(lines))
    return n


# ---------------------------------------------------------------------------
# Random command generators
# ---------------------------------------------------------------------------

class _Gen(object):
    """Seeded random commands over a small key space (keys collide on
    purpose). All expiries are either in the past / invalid (deterministic) or
    at least 1000 s away, so the two servers cannot diverge by timing; GT/LT
    are only used with absolute times taken from a fixed set."""

    KEYS = ["k0", "k1", "k2", "k3", b"k\x00\xff", "dst"]

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.now = int(time.time())
        self.abs_s = [self.now + d for d in (1500, 3000, 7000, 20000)]

    def key(self):
        return self.r.choice(self.KEYS)

    def keys(self, lo=1, hi=4):
        return [self.key() for _ in range(self.r.randint(lo, hi))]

    def binary(self, maxlen=16):
        n = self.r.randint(0, maxlen)
        alphabet = b"ab\x00\xff\r\n \x01z9"
        return bytes(self.r.choice(alphabet) for _ in range(n))

    def intval(self):
        return self.r.choice([
            "0", "1", "-1", "42", "-100", "1000000", "9223372036854775807",
            "-9223372036854775808", "9223372036854775806", "-9223372036854775807",
            "9223372036854775808", "-9223372036854775809", "", " 1", "1 ", "01",
            "+1", "-0", "1.5", "abc", "0x10", "1e3", str(self.r.randint(-1000, 1000))])

    def floatval(self):
        return self.r.choice([
            "0", "1", "1.5", "-0.25", "3.0e-5", "1e10", "10.50", "-1e-300", "inf",
            "-inf", "+inf", "nan", "1e400", "abc", "", " 1", "1 ", "0x10", "5e-17",
            "1.7976931348623157e308", "%d.%d" % (self.r.randint(-50, 50), self.r.randint(0, 99))])

    def value(self):
        k = self.r.random()
        if k < 0.35:
            return self.intval()
        if k < 0.5:
            return self.floatval()
        return self.binary()

    def index(self):
        return self.r.choice(["0", "1", "2", "3", "-1", "-2", "-5", "10", "100", "-100",
                              "9223372036854775807", "-9223372036854775808", "abc", "1.5",
                              str(self.r.randint(-20, 20))])

    def rel_s(self):
        return self.r.choice(["1000", "2000", "5000", "100000"])

    def rel_ms(self):
        return self.r.choice(["1000000", "2000000", "5000000"])

    def bad_expire(self):
        return self.r.choice(["0", "-1", "-100", "abc", "", "1.5",
                              "9223372036854775807", "99999999999999999999"])

    def abs_s_val(self):
        return str(self.r.choice(self.abs_s))

    def past_s(self):
        return self.r.choice(["1", "100", str(self.now - 10000)])

    def set_opts(self):
        opts = []
        r = self.r
        if r.random() < 0.45:
            c = r.randint(0, 7)
            if c == 0:
                opts += ["EX", self.rel_s()]
            elif c == 1:
                opts += ["PX", self.rel_ms()]
            elif c == 2:
                # Not a past time here: such a key lingers until expiry
                # reaches it, and when that happens depends on each server's
                # background timing (DBSIZE/RANDOMKEY would differ by luck).
                # Hand-written cases cover SET ... EXAT <past> followed by GET.
                opts += ["EXAT", self.abs_s_val()]
            elif c == 3:
                opts += ["PXAT", str(int(self.abs_s_val()) * 1000 + 17)]
            elif c == 4:
                opts += ["KEEPTTL"]
            elif c == 5:
                opts += [r.choice(["EX", "PX", "EXAT", "PXAT"]), self.bad_expire()]
            elif c == 6:
                opts += ["EX"]            # missing value: syntax error
            else:
                opts += ["EX", self.rel_s(), "PX", self.rel_ms()]
        if r.random() < 0.3:
            opts.append(r.choice(["NX", "XX"]))
        if r.random() < 0.2:
            opts.append("GET")
        if r.random() < 0.05:
            opts.append(r.choice(["NX", "XX", "FOO", "KEEPTTL", "ex"]))
        r.shuffle(opts) if r.random() < 0.1 else None
        return opts

    def expire_cmd(self):
        r = self.r
        k = self.key()
        c = r.randint(0, 9)
        if c == 0:
            cmd = ["EXPIRE", k, self.rel_s()]
        elif c == 1:
            cmd = ["PEXPIRE", k, self.rel_ms()]
        elif c in (2, 3):
            cmd = ["EXPIREAT", k, self.abs_s_val()]
        elif c == 4:
            cmd = ["PEXPIREAT", k, str(int(self.abs_s_val()) * 1000 + 5)]
        elif c == 5:
            cmd = [r.choice(["EXPIREAT", "PEXPIREAT"]), k, self.past_s()]
        elif c == 6:
            cmd = [r.choice(["EXPIRE", "PEXPIRE"]), k, r.choice(["0", "-1", "-1000"])]
        elif c == 7:
            cmd = [r.choice(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]), k,
                   r.choice(["abc", "", "1.5", "99999999999999999999", "9223372036854775807",
                             "-9223372036854775808"])]
        else:
            cmd = [r.choice(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])] + \
                  ([k] if r.random() < 0.5 else [])
        # flags: NX/XX always safe; GT/LT only with absolute times
        if len(cmd) == 3 and r.random() < 0.4:
            if cmd[0] in ("EXPIREAT", "PEXPIREAT") and c in (2, 3, 4):
                cmd.append(r.choice(["NX", "XX", "GT", "LT", "gt"]))
            else:
                cmd.append(r.choice(["NX", "XX"]))
            if r.random() < 0.1:
                cmd.append(r.choice(["XX", "GT", "LT", "NX", "BAD"]))
        return cmd

    def ttl_cmd(self):
        name = self.r.choice(["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"])
        if self.r.random() < 0.03:
            return [name]
        return ([name, self.key()], "ttl_tolerant")

    def db(self):
        return self.r.choice(["0", "1", "2", "0", "1", "15", "16", "-1", "abc"])

    def common_key_cmd(self):
        r = self.r
        c = r.randint(0, 13)
        if c == 0:
            return ["DEL"] + self.keys()
        if c == 1:
            return ["EXISTS"] + self.keys()
        if c == 2:
            return ["TYPE", self.key()]
        if c == 3:
            return self.expire_cmd()
        if c == 4:
            return self.ttl_cmd()
        if c == 5:
            return ["PERSIST", self.key()]
        if c == 6:
            return [r.choice(["RENAME", "RENAMENX"]), self.key(), self.key()]
        if c == 7:
            cmd = ["COPY", self.key(), self.key()]
            if r.random() < 0.4:
                cmd += ["DB", self.db()]
            if r.random() < 0.4:
                cmd.append("REPLACE")
            if r.random() < 0.05:
                cmd.append("BOGUS")
            return cmd
        if c == 8:
            return ["MOVE", self.key(), self.db()]
        if c == 9:
            return ["SELECT", self.db()]
        if c == 10:
            return ["DBSIZE"]
        if c == 11:
            # wrong arity
            return r.choice([["GET"], ["SET", "k0"], ["DEL"], ["EXISTS"], ["TYPE"],
                             ["RENAME", "k0"], ["TTL"], ["INCR"], ["STRLEN"], ["APPEND", "k0"],
                             ["GETRANGE", "k0", "0"], ["SETBIT", "k0", "1"], ["MSET", "k0"],
                             ["MSET", "k0", "v", "k1"], ["MGET"], ["DBSIZE", "x"],
                             ["PERSIST"], ["MOVE", "k0"], ["COPY", "k0"], ["SELECT"]])
        if c == 12:
            return r.choice([["FOOBAR"], ["FOOBAR", "a", "b"], ["getx", "k0"],
                             ["CONFIG", "NOPE"], ["CLIENT", "NOPE", "x"], ["COMMAND", "FOO"]])
        return ["UNLINK"] + self.keys()


def random_string_commands(seed, n):
    """n random string/bit/key commands (deterministic for the seed)."""
    g = _Gen(seed)
    r = g.r
    out = []
    for _ in range(n):
        c = r.randint(0, 40)
        k = g.key()
        if c <= 4:
            cmd = ["SET", k, g.value()] + g.set_opts()
        elif c == 5:
            cmd = ["GET", k]
        elif c == 6:
            cmd = ["SETNX", k, g.value()]
        elif c == 7:
            cmd = ["GETSET", k, g.value()]
        elif c == 8:
            cmd = ["GETDEL", k]
        elif c == 9:
            cmd = ["GETEX", k]
            o = r.randint(0, 6)
            if o == 1:
                cmd += ["EX", g.rel_s()]
            elif o == 2:
                cmd += ["PX", g.rel_ms()]
            elif o == 3:
                cmd += ["EXAT", g.abs_s_val()]
            elif o == 4:
                cmd += ["PERSIST"]
            elif o == 5:
                cmd += [r.choice(["EX", "PXAT", "PX"]), g.bad_expire()]
            elif o == 6:
                cmd += r.choice([["EX"], ["PERSIST", "EX", "100"], ["FOO"], ["KEEPTTL"]])
            if o in (1, 2, 3) and r.random() < 0.3:
                cmd += r.choice([["PERSIST"], ["EX", "1000"]])
            cmd = (cmd, "ttl_tolerant")
        elif c == 10:
            cmd = ["MGET"] + g.keys(1, 5)
        elif c == 11:
            cmd = ["MSET"]
            for kk in g.keys(1, 3):
                cmd += [kk, g.value()]
        elif c == 12:
            cmd = ["MSETNX"]
            for kk in g.keys(1, 3):
                cmd += [kk, g.value()]
        elif c in (13, 14):
            cmd = [r.choice(["INCR", "DECR"]), k]
        elif c in (15, 16):
            cmd = [r.choice(["INCRBY", "DECRBY"]), k, g.intval()]
        elif c == 17:
            cmd = ["INCRBYFLOAT", k, g.floatval()]
        elif c == 18:
            cmd = ["APPEND", k, g.value()]
        elif c == 19:
            cmd = ["STRLEN", k]
        elif c == 20:
            cmd = [r.choice(["GETRANGE", "SUBSTR"]), k, g.index(), g.index()]
        elif c == 21:
            cmd = ["SETRANGE", k, r.choice(["0", "1", "3", "7", "20", "100", "-1", "abc",
                                            "536870912", "9223372036854775807"]),
                   g.binary(8)]
        elif c in (22, 23):
            off = r.choice([str(r.randint(0, 200)), str(r.randint(0, 40)), "-1", "4294967296",
                            "abc", "1.0", "9223372036854775807"])
            cmd = ["SETBIT", k, off, r.choice(["0", "1", "1", "0", "2", "-1", "x"])]
        elif c == 24:
            cmd = ["GETBIT", k, r.choice([str(r.randint(0, 300)), "4294967295", "4294967296",
                                          "-1", "x"])]
        elif c == 25:
            cmd = ["BITCOUNT", k]
            if r.random() < 0.7:
                cmd += [g.index(), g.index()]
                if r.random() < 0.4:
                    cmd.append(r.choice(["BYTE", "BIT", "bit", "WORD"]))
            elif r.random() < 0.3:
                cmd += [g.index()]
        elif c == 26:
            cmd = ["BITPOS", k, r.choice(["0", "1", "1", "2", "x"])]
            if r.random() < 0.6:
                cmd.append(g.index())
                if r.random() < 0.6:
                    cmd.append(g.index())
                    if r.random() < 0.4:
                        cmd.append(r.choice(["BYTE", "BIT", "FOO"]))
        elif c == 27:
            op = r.choice(["AND", "OR", "XOR", "NOT", "and", "NOT", "FOO"])
            cmd = ["BITOP", op, g.key()] + g.keys(1, 3 if op != "NOT" else 1)
            if r.random() < 0.1:
                cmd = ["BITOP", op, g.key()]
        elif c == 28:
            cmd = ["GET", k] if r.random() < 0.5 else ["STRLEN", k]
        else:
            cmd = g.common_key_cmd()
        out.append(cmd)
    return out


def random_key_commands(seed, n):
    """n random generic key-space commands over string values."""
    g = _Gen(seed)
    r = g.r
    out = []
    for _ in range(n):
        c = r.randint(0, 30)
        if c <= 5:
            cmd = ["SET", g.key(), g.binary(6)] + (g.set_opts() if r.random() < 0.3 else [])
        elif c == 6:
            cmd = ["MSET"]
            for kk in g.keys(1, 4):
                cmd += [kk, g.binary(4)]
        elif c == 7:
            pat = r.choice(["*", "k*", "k?", "k[0-1]", "*1", "nomatch*", "k\\*", "[^k]*", "*\x00*", ""])
            cmd = (["KEYS", pat], "sorted")
        elif c == 8:
            cmd = ["SCAN", "0"]
            if r.random() < 0.5:
                cmd += ["MATCH", r.choice(["k*", "*", "d*", "x*"])]
            if r.random() < 0.5:
                cmd += ["COUNT", r.choice(["1", "2", "10", "1000"])]
            if r.random() < 0.3:
                cmd += ["TYPE", r.choice(["string", "list", "hash", "none"])]
            cmd = (cmd, "scan_all")
        elif c == 9:
            cmd = (["RANDOMKEY"], "randomkey")
        elif c == 10:
            cmd = ["SWAPDB", g.db(), g.db()]
        elif c == 11:
            cmd = ["TOUCH"] + g.keys()
        elif c == 12 and r.random() < 0.15:
            cmd = ["FLUSHDB"] + r.choice([[], ["ASYNC"], ["SYNC"], ["BAD"]])
        elif c == 13 and r.random() < 0.05:
            cmd = ["FLUSHALL"] + r.choice([[], ["SYNC"]])
        elif c == 14:
            cmd = ["GET", g.key()]
        else:
            cmd = g.common_key_cmd()
        out.append(cmd)
    return out
