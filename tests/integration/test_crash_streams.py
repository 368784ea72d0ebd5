"""Crash test of the stream commands: every acknowledged XADD, XREADGROUP
and XACK survives kill -9.

One client pipelines XADD (explicit increasing IDs), XREADGROUP `>` of a
few consumers of one group and XACK of some pending entries (of several
owners at once), while a timer kills the server with SIGKILL at a random
moment. A model predicts every reply. After the restart:

1. every acknowledged command had the reply the model predicts;
2. the stream's entries, the group's last delivered ID, its pending entries
   with their owners and each consumer's pending count equal the model
   after the first k commands, for some k between the number acknowledged
   and the number sent.

The state found becomes the start of the next round.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403


ROUNDS = int(os.environ.get("CAIRN_CRASH_ROUNDS", "20"))
CONSUMERS = ("alice", "bob", "carol")


class Model(object):
    def __init__(self):
        self.ids = []          # entry IDs n (as n-1), in order
        self.last = 0          # the group's last delivered n
        self.pending = {}      # n -> owner
        self.consumers = {}    # name -> pending count
        self.next = 1

    def copy(self):
        m = Model()
        m.ids, m.last, m.pending, m.consumers, m.next = (list(self.ids), self.last, dict(self.pending),
                                                         dict(self.consumers), self.next)
        return m

    def apply(self, cmd):
        if cmd[0] == "XADD":
            n = int(cmd[2].split("-")[0])
            self.ids.append(n)
            self.next = max(self.next, n + 1)
            return ("%d-1" % n).encode()
        if cmd[0] == "XREADGROUP":
            c, count = cmd[3], int(cmd[5])
            self.consumers.setdefault(c, 0)
            got = [n for n in self.ids if n > self.last][:count]
            for n in got:
                old = self.pending.get(n)
                if old is not None:
                    self.consumers[old] -= 1
                self.pending[n] = c
                self.consumers[c] += 1
                self.last = n
            return [[b"s", [["%d-1" % n] for n in got]]] if got else None
        if cmd[0] == "XACK":
            acked = 0
            for a in cmd[3:]:
                n = int(a.split("-")[0])
                owner = self.pending.pop(n, None)
                if owner is not None:
                    self.consumers[owner] -= 1
                    acked += 1
            return acked
        raise AssertionError(cmd)

    def view(self):
        return (self.ids, self.last, self.pending, self.consumers)


def reply_view(cmd, r):
    """The reply with what the model predicts (XREADGROUP: the IDs only)."""
    if cmd[0] == "XREADGROUP" and isinstance(r, list):
        return [[s[0], [[e[0].decode() if isinstance(e[0], bytes) else e[0]] for e in s[1]]] for s in r]
    return r


class Gen(object):
    def __init__(self, rnd, model):
        self.r = rnd
        self.m = model

    def command(self):
        r, m = self.r, self.m
        x = r.random()
        if x < 0.55:
            cmd = ("XADD", "s", "%d-1" % m.next, "f", "v%d" % m.next)
        elif x < 0.9:
            cmd = ("XREADGROUP", "GROUP", "g", r.choice(CONSUMERS), "COUNT", str(r.randint(1, 20)),
                   "STREAMS", "s", ">")
        else:
            pend = sorted(m.pending)
            ids = r.sample(pend, min(len(pend), r.randint(1, 6)))
            ids += [r.randint(1, m.next + 2) for _ in range(r.randint(0 if ids else 1, 2))]  # maybe not pending
            cmd = ("XACK", "s", "g") + tuple("%s-1" % i for i in ids)
        m.apply(cmd)
        return cmd


def pipeline_until_killed(server, gen, kill_after):
    return pipeline_batches_until_killed(server, lambda: [gen.command() for _ in range(gen.r.randint(1, 60))],
                                         kill_after)


def read_state(c):
    ids = [int(e[0].decode().split("-")[0]) for e in c.call("XRANGE", "s", "-", "+")]
    groups = c.call("XINFO", "GROUPS", "s")
    assert_eq(len(groups), 1)
    g = dict(zip(groups[0][0::2], groups[0][1::2]))
    last = int(g[b"last-delivered-id"].decode().split("-")[0])
    pending = {int(p[0].decode().split("-")[0]): p[1].decode() for p in c.call("XPENDING", "s", "g", "-", "+",
                                                                                 1000000)}
    assert_eq(g[b"pending"], len(pending), "the group's pending count")
    consumers = {}
    for x in c.call("XINFO", "CONSUMERS", "s", "g"):
        d = dict(zip(x[0::2], x[1::2]))
        consumers[d[b"name"].decode()] = d[b"pending"]
    return (ids, last, pending, consumers)


def verify(c, model, cmds, replies):
    for i, got in enumerate(replies):
        want = model.apply(cmds[i])
        if reply_view(cmds[i], got) != want:
            raise AssertionError("reply to acknowledged command #%d %s: got %r, model says %r"
                                 % (i, cmds[i], got, want))
    server = read_state(c)
    k = len(replies)
    while server != model.view() and k < len(cmds):
        model.apply(cmds[k])
        k += 1
    if server != model.view():
        raise AssertionError("state after kill -9 is not the result of any prefix of the %d commands sent that "
                             "includes the %d acknowledged: server %r" % (len(cmds), len(replies),
                                                                          str(server)[:600]))
    return k


def crash_rounds(durability, rounds, seed):
    rnd = random.Random(seed)
    model = Model()
    total_acked = total = 0
    conf = {"durability": durability, "checkpoint-interval-ms": rnd.choice([5, 50, 200])}
    with CairnServer(conf) as s:
        c = s.conn()
        assert_eq(c.call("XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"), "OK")
        c.close()
        for _ in range(rounds):
            gen = Gen(rnd, model.copy())
            cmds, replies = pipeline_until_killed(s, gen, rnd.uniform(0.05, 0.5))
            s.start()
            c = s.conn()
            verify(c, model, cmds, replies)
            c.close()
            total_acked += len(replies)
            total += len(cmds)
    assert total_acked > 0, "nothing was ever acknowledged"
    print("  %s: %d rounds, %d commands sent, %d acknowledged verified; %d entries, %d pending"
          % (durability, rounds, total, total_acked, len(model.ids), len(model.pending)))


@test(timeout=300)
def kill9_strict_streams_lose_no_acknowledged_write():
    crash_rounds("strict", ROUNDS, 1212)


@test(timeout=120)
def model_selftest():
    # The verifier must be able to fail: a lost acknowledged XACK is detected.
    class Fake(object):
        def __init__(self, state):
            self.state = state

    cmds = [("XADD", "s", "1-1", "f", "v1"), ("XREADGROUP", "GROUP", "g", "bob", "COUNT", "5", "STREAMS", "s", ">"),
            ("XACK", "s", "g", "1-1")]
    full = Model()
    replies = [full.apply(x) for x in cmds]
    assert_eq(replies[2], 1)
    lost = Model()
    lost.apply(cmds[0])
    lost.apply(cmds[1])
    global read_state
    real = read_state
    try:
        read_state = lambda c: c.state
        assert_eq(verify(Fake(full.view()), Model(), cmds, replies), 3)
        try:
            verify(Fake(lost.view()), Model(), cmds, replies)
        except AssertionError as e:
            assert "not the result of any prefix" in str(e), e
        else:
            raise AssertionError("lost XACK not detected")
    finally:
        read_state = real


if __name__ == "__main__":
    run_tests()
