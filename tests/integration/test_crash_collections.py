"""Crash test of the collection commands: every acknowledged write survives
kill -9.

One client pipelines a random stream of hash, list, set and sorted-set
writes (HSET HDEL HINCRBY, RPUSH LPUSH LPOP LSET, SADD SREM, ZADD ZINCRBY
ZREM), MULTI/EXEC blocks of them, variadic fills of big collections, DEL of
big collections, RENAME and PEXPIRE, while a timer kills the server with
SIGKILL at a random moment.

A Python model of the keyspace predicts the reply of every command. After the
restart:

1. every acknowledged command (or MULTI/EXEC block) must have had exactly the
   reply the model predicts (so the model follows the server);
2. the server's whole keyspace (type, contents, member order, scores, whether
   a TTL is set) must equal the model after the first k operations for some k
   between the number acknowledged and the number sent: the server recovers
   a prefix of what it was sent, at least everything it acknowledged, and a
   MULTI/EXEC block whole or not at all.

The state found becomes the start of the next round.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from cairn_test import encode_command, cairn_binary  # noqa: E402

ROUNDS = int(os.environ.get("CAIRN_CRASH_ROUNDS", "20"))

SMALL = 5                      # small keys per type: h:0..h:4 etc.
TYPES = ("hash", "list", "set", "zset")
PREFIX = {"hash": "h", "list": "l", "set": "s", "zset": "z"}
BIG_FILL = 1000                # members per variadic command of a big fill
BIG_MAX = 8000                 # do not grow a key past this with big fills


def keys_of(t):
    p = PREFIX[t]
    return ["%s:%d" % (p, i) for i in range(SMALL)] + ["%s:big" % p, "%s:big2" % p]


ALL_KEYS = [k for t in TYPES for k in keys_of(t)]
TYPE_OF = {k: t for t in TYPES for k in keys_of(t)}


# ---------------------------------------------------------------------------
# The model

OK = ("+", "OK")
QUEUED = ("+", "QUEUED")
NOKEY = ("-", "ERR no such key")
RANGE = ("-", "ERR index out of range")


def fmt_score(x):
    # Scores are multiples of 0.25 of modest size: %.17g prints them exactly,
    # as Redis does.
    s = "%.17g" % x
    return s.encode()


class Model(object):
    """key -> [type, value, has_ttl]; value: dict (hash: bytes->bytes,
    zset: bytes->float), list of bytes, or set of bytes."""

    def __init__(self):
        self.db = {}

    def copy(self):
        m = Model()
        for k, (t, v, ttl) in self.db.items():
            m.db[k] = [t, v.copy(), ttl]
        return m

    def _get(self, key, t, create):
        e = self.db.get(key)
        if e is None:
            if not create:
                return None
            e = [t, {"hash": dict, "list": list, "set": set, "zset": dict}[t](), False]
            self.db[key] = e
        assert e[0] == t, "model: %s is a %s, not %s" % (key, e[0], t)
        return e[1]

    def _gc(self, key):
        e = self.db.get(key)
        if e is not None and len(e[1]) == 0:
            del self.db[key]

    def apply(self, cmd):
        """Applies one command; returns (reply, touched keys)."""
        name = cmd[0]
        a = [x.encode() if isinstance(x, str) else x for x in cmd[1:]]
        key = cmd[1] if len(cmd) > 1 else None
        if name == "HSET":
            h = self._get(key, "hash", True)
            n = 0
            for i in range(1, len(a), 2):
                n += a[i] not in h
                h[a[i]] = a[i + 1]
            return n, [key]
        if name == "HDEL":
            h = self._get(key, "hash", False)
            if h is None:
                return 0, [key]
            n = 0
            for f in a[1:]:
                if f in h:
                    del h[f]
                    n += 1
            self._gc(key)
            return n, [key]
        if name == "HINCRBY":
            h = self._get(key, "hash", True)
            v = int(h.get(a[1], b"0")) + int(a[2])
            h[a[1]] = str(v).encode()
            return v, [key]
        if name in ("RPUSH", "LPUSH"):
            lst = self._get(key, "list", True)
            for e in a[1:]:
                if name == "RPUSH":
                    lst.append(e)
                else:
                    lst.insert(0, e)
            return len(lst), [key]
        if name == "LPOP":
            lst = self._get(key, "list", False)
            if len(a) == 1:
                if lst is None:
                    return None, [key]
                r = lst.pop(0)
            else:
                if lst is None:
                    return None, [key]
                cnt = int(a[1])
                r = lst[:cnt]
                del lst[:cnt]
            self._gc(key)
            return r, [key]
        if name == "LSET":
            lst = self._get(key, "list", False)
            if lst is None:
                return NOKEY, [key]
            i = int(a[1])
            if i < 0:
                i += len(lst)
            if not 0 <= i < len(lst):
                return RANGE, [key]
            lst[i] = a[2]
            return OK, [key]
        if name == "SADD":
            s = self._get(key, "set", True)
            n = 0
            for m in a[1:]:
                n += m not in s
                s.add(m)
            return n, [key]
        if name == "SREM":
            s = self._get(key, "set", False)
            if s is None:
                return 0, [key]
            n = 0
            for m in a[1:]:
                if m in s:
                    s.remove(m)
                    n += 1
            self._gc(key)
            return n, [key]
        if name == "ZADD":
            z = self._get(key, "zset", True)
            n = 0
            for i in range(1, len(a), 2):
                m = a[i + 1]
                n += m not in z
                z[m] = float(a[i])
            return n, [key]
        if name == "ZINCRBY":
            z = self._get(key, "zset", True)
            v = z.get(a[2], 0.0) + float(a[1])
            z[a[2]] = v
            return fmt_score(v), [key]
        if name == "ZREM":
            z = self._get(key, "zset", False)
            if z is None:
                return 0, [key]
            n = 0
            for m in a[1:]:
                if m in z:
                    del z[m]
                    n += 1
            self._gc(key)
            return n, [key]
        if name == "DEL":
            n = 0
            for k in cmd[1:]:
                if k in self.db:
                    del self.db[k]
                    n += 1
            return n, list(cmd[1:])
        if name == "RENAME":
            src, dst = cmd[1], cmd[2]
            if src not in self.db:
                return NOKEY, [src, dst]
            if src != dst:
                self.db[dst] = self.db.pop(src)
            return OK, [src, dst]
        if name == "PEXPIRE":
            if key not in self.db:
                return 0, [key]
            self.db[key][2] = True
            return 1, [key]
        raise AssertionError("model does not know %r" % (cmd,))

    def apply_op(self, op):
        """op: a command tuple, or ("MULTI", [cmds]). Returns (list of the
        replies the op produces on the wire, touched keys)."""
        if op[0] == "MULTI":
            replies, touched = [], []
            for c in op[1]:
                r, t = self.apply(c)
                replies.append(r)
                touched += t
            return [OK] + [QUEUED] * len(op[1]) + [replies], touched
        r, t = self.apply(op)
        return [r], t

    def view(self, key):
        """Comparable form of one key, the same shape as read_key()."""
        e = self.db.get(key)
        if e is None:
            return None
        t, v, ttl = e
        if t == "hash":
            return (t, sorted(v.items()), ttl)
        if t == "list":
            return (t, list(v), ttl)
        if t == "set":
            return (t, sorted(v), ttl)
        return (t, sorted(((m, s) for m, s in v.items()), key=lambda ms: (ms[1], ms[0])), ttl)


def op_wire(op):
    if op[0] == "MULTI":
        return (encode_command("MULTI") + b"".join(encode_command(*c) for c in op[1])
                + encode_command("EXEC"))
    return encode_command(*op)


def op_nreplies(op):
    return len(op[1]) + 2 if op[0] == "MULTI" else 1


# ---------------------------------------------------------------------------
# Reading the server's keyspace

def read_key(conn, key):
    t = conn.call("TYPE", key)
    if t == "none":
        return None
    pttl = conn.call("PTTL", key)
    assert pttl == -1 or pttl > 0, "PTTL %s = %r" % (key, pttl)
    ttl = pttl > 0
    if t == "hash":
        flat = conn.call("HGETALL", key)
        return ("hash", sorted(zip(flat[0::2], flat[1::2])), ttl)
    if t == "list":
        return ("list", conn.call("LRANGE", key, 0, -1), ttl)
    if t == "set":
        return ("set", sorted(conn.call("SMEMBERS", key)), ttl)
    if t == "zset":
        flat = conn.call("ZRANGE", key, 0, -1, "WITHSCORES")
        # ZRANGE order must already be (score, member)
        return ("zset", [(m, float(s)) for m, s in zip(flat[0::2], flat[1::2])], ttl)
    raise AssertionError("%s has unexpected type %r" % (key, t))


# ---------------------------------------------------------------------------
# The generator (works on its own copy of the model, assuming every op applies)

class Gen(object):
    def __init__(self, rnd, model):
        self.r = rnd
        self.m = model
        self.n = 0

    def uniq(self, p):
        self.n += 1
        return "%s%d.%d" % (p, self.n, self.r.randint(0, 999))

    def small_key(self, t):
        return "%s:%d" % (PREFIX[t], self.r.randrange(SMALL))

    def any_key(self, t):
        return self.r.choice(keys_of(t))

    def size(self, key):
        e = self.m.db.get(key)
        return len(e[1]) if e else 0

    def score(self):
        return "%g" % (self.r.randint(-400, 400) / 4.0)

    def command(self):
        r = self.r
        t = r.choice(TYPES)
        x = r.random()
        key = self.any_key(t) if x < 0.15 else self.small_key(t)
        e = self.m.db.get(key)
        cur = e[1] if e else None
        if x < 0.03:
            # variadic fill of a big collection
            key = r.choice(["%s:big" % PREFIX[t], "%s:big2" % PREFIX[t]])
            if self.size(key) + BIG_FILL > BIG_MAX:
                return ("DEL", key)
            base = self.uniq("b")
            if t == "hash":
                args = []
                for i in range(BIG_FILL):
                    args += ["%s.%d" % (base, i), "v%d" % i]
                return ("HSET", key) + tuple(args)
            if t == "list":
                return ("RPUSH", key) + tuple("%s.%d" % (base, i) for i in range(BIG_FILL))
            if t == "set":
                return ("SADD", key) + tuple("%s.%d" % (base, i) for i in range(BIG_FILL))
            args = []
            for i in range(BIG_FILL):
                args += [str(i % 97 - 48), "%s.%d" % (base, i)]
            return ("ZADD", key) + tuple(args)
        if x < 0.05:
            if r.random() < 0.4:     # DEL of a (possibly) big collection
                key = r.choice(["%s:big" % PREFIX[t], "%s:big2" % PREFIX[t]])
            return ("DEL", key) if r.random() < 0.7 else ("DEL", key, self.any_key(r.choice(TYPES)))
        if x < 0.08:
            return ("RENAME", key, self.any_key(t))
        if x < 0.09:
            return ("PEXPIRE", key, str(r.randint(3600000, 7200000)))
        if t == "hash":
            y = r.random()
            if y < 0.5:
                args = []
                for _ in range(r.randint(1, 3)):
                    args += ["f%d" % r.randrange(30), self.uniq("v") + " " * r.randint(0, 2)]
                return ("HSET", key) + tuple(args)
            if y < 0.75:
                fields = ["f%d" % r.randrange(30) for _ in range(r.randint(1, 3))]
                if cur and r.random() < 0.7:
                    fields.append(r.choice(sorted(cur)).decode())
                if r.random() < 0.2:
                    fields.append("c%d" % r.randrange(4))
                return ("HDEL", key) + tuple(fields)
            return ("HINCRBY", key, "c%d" % r.randrange(4), str(r.randint(-1000, 1000)))
        if t == "list":
            y = r.random()
            if y < 0.3:
                return ("RPUSH", key) + tuple(self.uniq("e") for _ in range(r.randint(1, 3)))
            if y < 0.55:
                return ("LPUSH", key) + tuple(self.uniq("e") for _ in range(r.randint(1, 3)))
            if y < 0.8:
                if r.random() < 0.3:
                    return ("LPOP", key, str(r.randint(1, 4)))
                return ("LPOP", key)
            n = len(cur) if cur else 0
            idx = r.randint(-n - 1, n) if n else r.randint(-1, 1)
            return ("LSET", key, str(idx), self.uniq("s"))
        if t == "set":
            y = r.random()
            if y < 0.6:
                return ("SADD", key) + tuple("m%d" % r.randrange(40) for _ in range(r.randint(1, 4)))
            mem = ["m%d" % r.randrange(40) for _ in range(r.randint(1, 3))]
            if cur and r.random() < 0.5:
                mem.append(r.choice(sorted(cur)).decode())
            return ("SREM", key) + tuple(mem)
        y = r.random()
        if y < 0.5:
            args = []
            for _ in range(r.randint(1, 3)):
                args += [self.score(), "m%d" % r.randrange(40)]
            return ("ZADD", key) + tuple(args)
        if y < 0.75:
            return ("ZINCRBY", key, self.score(), "m%d" % r.randrange(40))
        mem = ["m%d" % r.randrange(40) for _ in range(r.randint(1, 3))]
        if cur and r.random() < 0.5:
            mem.append(r.choice(sorted(cur)).decode())
        return ("ZREM", key) + tuple(mem)

    def op(self):
        if self.r.random() < 0.08:
            op = ("MULTI", [self.command() for _ in range(self.r.randint(1, 5))])
        else:
            op = self.command()
        self.m.apply_op(op)      # keep the generator's view current
        return op


# ---------------------------------------------------------------------------
# One round: pipeline until killed

def pipeline_until_killed(server, gen, kill_after):
    return pipeline_batches_until_killed(server, lambda: [gen.op() for _ in range(gen.r.randint(1, 60))],
                                         kill_after, wire=op_wire, nreplies=op_nreplies)


def group_replies(ops, replies):
    """Splits the flat reply list into per-op reply lists; returns the list
    for the acknowledged ops (an op is acknowledged when all of its replies
    arrived)."""
    out = []
    i = 0
    for op in ops:
        n = op_nreplies(op)
        if i + n > len(replies):
            break
        out.append(replies[i:i + n])
        i += n
    assert i == len(replies) or len(out) < len(ops), "more replies than commands sent"
    return out


def short(op):
    s = repr(op)
    return s if len(s) < 300 else s[:300] + "..."


def verify(conn, model, ops, replies):
    """Checks the acknowledged replies against the model and finds the prefix
    the server recovered. Returns (acked ops, model at the recovered state)."""
    acked = group_replies(ops, replies)
    for i, got in enumerate(acked):
        want, _ = model.apply_op(ops[i])
        if got != want:
            raise AssertionError("reply to acknowledged op #%d %s: got %r, model says %r"
                                 % (i, short(ops[i]), got, want))
    server = {k: read_key(conn, k) for k in ALL_KEYS}
    mismatched = {k for k in ALL_KEYS if server[k] != model.view(k)}
    first = sorted(mismatched)
    k = len(acked)
    while mismatched and k < len(ops):
        _, touched = model.apply_op(ops[k])
        k += 1
        for key in touched:
            if server[key] == model.view(key):
                mismatched.discard(key)
            else:
                mismatched.add(key)
    if mismatched:
        key = first[0] if first else sorted(mismatched)[0]
        raise AssertionError(
            "state after kill -9 is not the result of any prefix of the %d ops sent "
            "that includes the %d acknowledged ones; keys differing after the "
            "acknowledged prefix: %s; e.g. %s: server %r" % (
                len(ops), len(acked), first, key, str(server[key])[:400]))
    return len(acked), k


def crash_rounds(durability, rounds, seed):
    rnd = random.Random(seed)
    model = Model()
    total_acked = total_ops = beyond = 0
    if os.path.basename(cairn_binary()).startswith("redis"):
        # harness validation against redis-server: its strict mode
        conf = {"appendonly": "yes", "appendfsync": "always" if durability == "strict" else "everysec"}
    else:
        conf = {"durability": durability, "checkpoint-interval-ms": rnd.choice([5, 50, 200])}
    with CairnServer(conf) as s:
        for r in range(rounds):
            kill_after = rnd.uniform(0.05, 0.5)
            gen = Gen(rnd, model.copy())
            ops, replies = pipeline_until_killed(s, gen, kill_after)
            s.start()
            c = s.conn()
            acked, applied = verify(c, model, ops, replies)
            c.close()
            total_acked += acked
            beyond += applied - acked
            total_ops += len(ops)
    assert total_acked > 0, "no operation was ever acknowledged"
    sizes = {k: len(v[1]) for k, v in model.db.items()}
    print("  %s: %d rounds, %d ops sent, %d acknowledged ops verified, %d unacknowledged "
          "ops found applied; final key sizes: %s"
          % (durability, rounds, total_ops, total_acked, beyond,
             ", ".join("%s=%d" % kv for kv in sorted(sizes.items()))))


@test(timeout=300)
def kill9_strict_collections_lose_no_acknowledged_write():
    crash_rounds("strict", ROUNDS, 4321)


@test(timeout=200)
def kill9_relaxed_collections_lose_no_acknowledged_write():
    # relaxed only delays fdatasync: a process crash (not a power loss) loses nothing
    crash_rounds("relaxed", max(3, ROUNDS // 4), 77)


@test(timeout=120)
def model_selftest():
    # The verifier must be able to fail: a lost acknowledged write and a
    # half-applied MULTI block are both detected (no server involved).
    class Fake(object):
        def __init__(self, model):
            self.m = model

        def call(self, *a):
            key = a[1]
            v = self.m.view(key)
            if a[0] == "TYPE":
                return Status(v[0] if v else "none")
            if a[0] == "PTTL":
                return 5000 if v[2] else -1
            if a[0] == "HGETALL":
                return [x for kv in v[1] for x in kv]
            if a[0] == "LRANGE":
                return v[1]
            if a[0] == "SMEMBERS":
                return v[1]
            return [x for m, sc in v[1] for x in (m, fmt_score(sc))]

    ops = [("HSET", "h:0", "f1", "a"), ("RPUSH", "l:0", "x", "y"),
           ("MULTI", [("SADD", "s:0", "m1"), ("ZADD", "z:0", "1.5", "m1")]),
           ("LPOP", "l:0")]
    full = Model()
    replies = []
    for op in ops:
        replies += full.apply_op(op)[0]
    assert_eq(replies[:2], [1, 2])
    # server has everything: acked 2 ops, found state = all 4
    _, k = verify(Fake(full.copy()), Model(), ops, replies[:2])
    assert_eq(k, 4)
    # server lost the acknowledged RPUSH
    lost = Model()
    lost.apply_op(ops[0])
    try:
        verify(Fake(lost), Model(), ops, replies[:2])
    except AssertionError as e:
        assert "not the result of any prefix" in str(e), e
    else:
        raise AssertionError("lost write not detected")
    # half a MULTI block
    half = Model()
    half.apply_op(ops[0])
    half.apply_op(ops[1])
    half.apply(("SADD", "s:0", "m1"))
    try:
        verify(Fake(half), Model(), ops, replies[:1])
    except AssertionError as e:
        assert "not the result of any prefix" in str(e), e
    else:
        raise AssertionError("half-applied MULTI not detected")
    # a wrong reply to an acknowledged op
    bad = list(replies[:2])
    bad[1] = 3
    try:
        verify(Fake(full.copy()), Model(), ops, bad)
    except AssertionError as e:
        assert "reply to acknowledged op" in str(e), e
    else:
        raise AssertionError("wrong reply not detected")


if __name__ == "__main__":
    run_tests()
