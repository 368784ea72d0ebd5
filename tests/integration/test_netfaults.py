"""Replication over bad networks: partitions, packet loss, bandwidth limits
and delay between a master and its replicas, under write load.

The test makes its own network namespace per replica (ip netns) joined to
the host by a veth pair: the master runs in the host namespace and listens on
127.0.0.1 and the veth's host address; the replica runs inside the
namespace. Faults are put on that link only, and only on the master's port,
so the test's own connections to the replica are untouched:

- partition: nftables in the namespace drops the master's traffic;
- loss:      nftables drops a random share of it (numgen random);
- bandwidth: a tbf qdisc on both ends of the veth;
- delay:     this kernel has no sch_netem, so a small proxy run by the test
             delays every chunk in both directions with jitter (order kept:
             TCP never shows reordering to the application, so reordering
             is seen by the servers only as uneven delay).

After each fault heals, the replica must reach the master's offset and hold
exactly the master's data (key by key, values and TTLs); a partition shorter
than the backlog resumes with a partial resync (+CONTINUE); a partition
longer than repl-timeout makes both sides drop the link like Redis. Real
redis-server replicas go through the same partition. Needs root (ip netns,
nft, tc); where namespaces cannot be made it says so and passes nothing."""
import ctypes
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403

NFT, IP, TC = shutil.which("nft"), shutil.which("ip"), shutil.which("tc")
_seq = [0]


def sh(*args, check=True):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(args), r.stdout.decode(errors="replace")))
    return r


class Link(object):
    """A namespace joined to the host by a veth pair (host 10.23X.N.1, inside
    10.23X.N.2)."""

    def __init__(self):
        _seq[0] += 1
        tag = "%d%d" % (os.getpid() % 100000, _seq[0])
        self.ns, self.host_if, self.ns_if = "cnf" + tag, "cnh" + tag, "cnn" + tag
        net = (os.getpid() + _seq[0]) % 250 + 1
        self.host_ip, self.ns_ip = "10.231.%d.1" % net, "10.231.%d.2" % net
        sh(IP, "netns", "add", self.ns)
        try:
            sh(IP, "netns", "exec", self.ns, IP, "link", "set", "lo", "up")
            sh(IP, "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            sh(IP, "link", "set", self.ns_if, "netns", self.ns)
            sh(IP, "addr", "add", self.host_ip + "/30", "dev", self.host_if)
            sh(IP, "link", "set", self.host_if, "up")
            sh(IP, "netns", "exec", self.ns, IP, "addr", "add", self.ns_ip + "/30", "dev", self.ns_if)
            sh(IP, "netns", "exec", self.ns, IP, "link", "set", self.ns_if, "up")
        except Exception:
            self.close()
            raise

    def in_ns(self, *args, check=True):
        return sh(IP, "netns", "exec", self.ns, *args, check=check)

    def nft_drop(self, port, percent=100):
        """Drops the master's traffic (both directions) on this link."""
        self.heal()
        rule = ["numgen", "random", "mod", "100", "<", str(percent)] if percent < 100 else []
        self.in_ns(NFT, "add", "table", "inet", "cairnfault")
        for chain, hook, match in (("cin", "input", "sport"), ("cout", "output", "dport")):
            self.in_ns(NFT, "add", "chain", "inet", "cairnfault", chain,
                       "{ type filter hook %s priority 0 ; }" % hook)
            self.in_ns(NFT, "add", "rule", "inet", "cairnfault", chain, "tcp", match, str(port), *rule, "drop")

    def heal(self):
        self.in_ns(NFT, "delete", "table", "inet", "cairnfault", check=False)

    def bandwidth(self, rate):
        for cmd in ([TC, "qdisc", "replace", "dev", self.host_if],
                    [IP, "netns", "exec", self.ns, TC, "qdisc", "replace", "dev", self.ns_if]):
            sh(*(cmd + ["root", "tbf", "rate", rate, "burst", "32kbit", "latency", "2000ms"]))

    def unlimited(self):
        sh(TC, "qdisc", "del", "dev", self.host_if, "root", check=False)
        self.in_ns(TC, "qdisc", "del", "dev", self.ns_if, "root", check=False)

    def close(self):
        sh(IP, "link", "del", self.host_if, check=False)
        sh(IP, "netns", "del", self.ns, check=False)


def namespaces_work():
    if os.geteuid() != 0 or not (NFT and IP and TC):
        return "needs root and ip, tc, nft (scripts/install-deps.sh --with-tests installs nftables)"
    try:
        Link().close()
    except Exception as e:
        return "cannot make a network namespace here: %s" % e
    return None


def in_namespace(base):
    """A server class (CairnServer or RedisServer) whose process runs in a
    Link's namespace, listening on 127.0.0.1 there and on the link's address,
    reached by the test through that address."""

    class NsServer(base):
        def __init__(self, link, extra_config=None, **kw):
            self.link = link
            self.wrap_dir = tempfile.mkdtemp(prefix="cairn-netns-")
            real = cairn_binary() if base is CairnServer else redis_binary()
            script = os.path.join(self.wrap_dir, "in-ns")
            with open(script, "w") as f:
                f.write("#!/bin/sh\nexec %s netns exec %s %s \"$@\"\n" % (IP, link.ns, real))
            os.chmod(script, 0o755)
            base.__init__(self, extra_config, binary=script, **kw)

        def _base_config(self):
            out = []
            for k, v in base._base_config(self):
                out.append((k, ["127.0.0.1", self.link.ns_ip]) if k == "bind" else (k, v))
            # the test reaches it through the link's address, not loopback
            return out + [("protected-mode", "no")]

        def conn(self, resp=2, timeout=10, password=None):
            return Conn(self.link.ns_ip, self.port, resp=resp, timeout=timeout, password=password)

        def _wait_ready(self):
            deadline = time.time() + self.start_timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise StartFailure("exited during startup\n" + self._log_excerpt())
                try:
                    c = self.conn(timeout=2)
                    try:
                        if c.call("PING") == "PONG":
                            return
                    finally:
                        c.close()
                except (OSError, ProtocolError):
                    pass
                time.sleep(0.05)
            self._force_kill()
            raise StartFailure("did not answer PING\n" + self._log_excerpt())

        def cleanup(self, force=False):
            base.cleanup(self, force)
            shutil.rmtree(self.wrap_dir, ignore_errors=True)

    return NsServer


NsCairn = in_namespace(CairnServer)
NsRedis = in_namespace(RedisServer)


class DelayProxy(threading.Thread):
    """Listens on (host, port) and forwards to target, holding every chunk
    delay_ms +- jitter_ms in each direction (order kept per direction)."""

    def __init__(self, host, target, delay_ms, jitter_ms):
        threading.Thread.__init__(self, daemon=True)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.target, self.delay, self.jitter = target, delay_ms / 1000.0, jitter_ms / 1000.0
        self.stop = False
        self.socks = []

    def pipe(self, src, dst):
        queue, cv, done = [], threading.Condition(), [False]

        def sender():
            last = 0.0
            while True:
                with cv:
                    while not queue and not done[0]:
                        cv.wait(0.2)
                    if not queue and done[0]:
                        break
                    due, data = queue.pop(0)
                now = time.time()
                if due > now:
                    time.sleep(due - now)
                try:
                    dst.sendall(data)
                except OSError:
                    break
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        last_due = 0.0
        while not self.stop:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            due = max(last_due, time.time() + max(0.0, self.delay + random.uniform(-self.jitter, self.jitter)))
            last_due = due
            with cv:
                queue.append((due, data))
                cv.notify()
        with cv:
            done[0] = True
            cv.notify()

    def run(self):
        self.lsock.settimeout(0.2)
        while not self.stop:
            try:
                a, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            b = socket.create_connection(self.target)
            self.socks += [a, b]
            threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()
            threading.Thread(target=self.pipe, args=(b, a), daemon=True).start()

    def close(self):
        self.stop = True
        self.lsock.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


class Load(threading.Thread):
    """Pipelined writes to the master (SET, INCR, APPEND, SETRANGE, EXPIRE,
    DEL over 2,000 keys: order-sensitive, so a gap or a replay shows)."""

    def __init__(self, master, value_size=200):
        threading.Thread.__init__(self, daemon=True)
        self.master, self.value = master, "v" * value_size
        self.halt, self.batches = False, 0
        self.rng = random.Random(42)

    def run(self):
        c = self.master.conn(timeout=30)
        try:
            while not self.halt:
                cmds = []
                for _ in range(100):
                    k, r = "k%d" % self.rng.randrange(2000), self.rng.random()
                    if r < 0.4:
                        cmds.append(("SET", k, self.value + str(self.rng.random())))
                    elif r < 0.6:
                        cmds.append(("INCR", "n%d" % self.rng.randrange(200)))
                    elif r < 0.75:
                        cmds.append(("APPEND", "a%d" % self.rng.randrange(200), str(self.rng.randrange(100))))
                    elif r < 0.85:
                        cmds.append(("SETRANGE", "a%d" % self.rng.randrange(200), self.rng.randrange(50), "xy"))
                    elif r < 0.95:
                        cmds.append(("EXPIRE", k, 100000))
                    else:
                        cmds.append(("DEL", k))
                c.pipeline(cmds)
                self.batches += 1
        finally:
            c.close()


def offset(conn, field):
    return int(info_field(conn, field))


def converge(master, replica, timeout=90):
    mc, rc = master.conn(), replica.conn()
    target = offset(mc, "master_repl_offset")
    ok = wait_until(lambda: offset(rc, "master_repl_offset") >= target and
                    info_field(rc, "master_link_status") == "up", timeout)
    assert_true(ok, "replica stuck at %s of %d (link %s)" % (info_field(rc, "master_repl_offset"), target,
                                                              info_field(rc, "master_link_status")))
    assert_same_strings(master, replica)


def with_setup(fn, replica_cls=NsCairn, master_extra=None, replica_extra=None):
    why = namespaces_work()
    if why:
        print("netfaults: not run: %s" % why)
        return
    link = Link()
    master = replica = None
    try:
        mconf = {"bind": ["127.0.0.1", link.host_ip], "protected-mode": "no", "repl-timeout": "4",
                 "repl-ping-replica-period": "1"}
        mconf.update(master_extra or {})
        master = CairnServer(mconf)
        rconf = {"replicaof": [link.host_ip, master.port], "repl-timeout": "4"}
        rconf.update(replica_extra or {})
        replica = replica_cls(link, rconf)
        mc = master.conn()
        assert_true(wait_until(lambda: info_field(mc, "connected_slaves") == "1", 30), "replica did not attach")
        fn(link, master, replica)
    finally:
        for s in (replica, master):
            if s is not None:
                s.stop(check=False)
                s.cleanup()
        link.close()


# The load writes megabytes of stream a second over ~400 KB of data: after a
# few seconds apart a full sync is the cheaper resync and repl-resync cost
# (the default) takes it. These tests are about resuming by offset.
BY_OFFSET = {"repl-resync": "partial"}


def partition_then_heal(replica_cls, seconds):
    def run(link, master, replica):
        mc = master.conn()
        load = Load(master)
        load.start()
        time.sleep(1)
        partial_before = offset(mc, "sync_partial_ok")
        full_before = offset(mc, "sync_full")
        link.nft_drop(master.port)
        time.sleep(seconds)
        link.heal()
        time.sleep(1)
        load.halt = True
        load.join(30)
        converge(master, replica)
        partial, full = offset(mc, "sync_partial_ok") - partial_before, offset(mc, "sync_full") - full_before
        print("partition %ds (%s replica): %d batches, partial resyncs %d, full syncs %d"
              % (seconds, "redis" if replica_cls is NsRedis else "cairn", load.batches, partial, full))
        if seconds > 4:  # longer than repl-timeout: the link was dropped and resumed by offset
            assert_true(partial >= 1, "no partial resync after the partition")
        assert_eq(full, 0, "a partition must not cost a full sync")
    return run


@test(timeout=300)
def partition_shorter_than_repl_timeout():
    with_setup(partition_then_heal(NsCairn, 2), master_extra=BY_OFFSET)


@test(timeout=300)
def partition_longer_than_repl_timeout_resumes_by_offset():
    with_setup(partition_then_heal(NsCairn, 8), master_extra=BY_OFFSET)


@test(timeout=300)
def partition_with_a_real_redis_replica():
    with_setup(partition_then_heal(NsRedis, 8), replica_cls=NsRedis, master_extra=BY_OFFSET)


@test(timeout=300)
def repl_timeout_drops_the_link_on_both_sides():
    def run(link, master, replica):
        mc, rc = master.conn(), replica.conn()
        link.nft_drop(master.port)
        t0 = time.time()
        assert_true(wait_until(lambda: info_field(mc, "connected_slaves") == "0", 20),
                    "the master kept a replica it has not heard from for repl-timeout")
        master_drop = time.time() - t0
        assert_true(wait_until(lambda: info_field(rc, "master_link_status") == "down", 20),
                    "the replica kept a link it has not heard from for repl-timeout")
        replica_drop = time.time() - t0
        print("repl-timeout 4 s: master dropped the replica after %.1f s, the replica its link after %.1f s"
              % (master_drop, replica_drop))
        assert_true(3 <= master_drop <= 12 and 3 <= replica_drop <= 12, "timeouts out of range")
        link.heal()
        assert_true(wait_until(lambda: info_field(rc, "master_link_status") == "up", 30))
        assert_true(wait_until(lambda: info_field(mc, "connected_slaves") == "1", 30))
    with_setup(run)


@test(timeout=300)
def packet_loss_during_load():
    def run(link, master, replica):
        load = Load(master)
        load.start()
        link.nft_drop(master.port, percent=10)
        time.sleep(5)
        link.heal()
        load.halt = True
        load.join(30)
        converge(master, replica)
        print("10%% loss for 5 s: %d batches, replica converged" % load.batches)
    with_setup(run)


@test(timeout=300)
def bandwidth_limit_during_load():
    def run(link, master, replica):
        rc = replica.conn()
        link.bandwidth("2mbit")
        load = Load(master, value_size=1000)
        load.start()
        time.sleep(5)
        load.halt = True
        load.join(30)
        mc = master.conn()
        lag = offset(mc, "master_repl_offset") - offset(rc, "master_repl_offset")
        link.unlimited()
        converge(master, replica)
        print("2 Mbit/s for 5 s: replica %d bytes behind at the end of the load, then converged" % lag)
    with_setup(run)


@test(timeout=300)
def delay_and_jitter_through_a_proxy():
    why = namespaces_work()
    if why:
        print("netfaults: not run: %s" % why)
        return
    link = Link()
    master = replica = proxy = None
    try:
        master = CairnServer({"bind": ["127.0.0.1", link.host_ip], "protected-mode": "no", "repl-timeout": "10"})
        proxy = DelayProxy(link.host_ip, ("127.0.0.1", master.port), 80, 60)
        proxy.start()
        replica = NsCairn(link, {"replicaof": [link.host_ip, proxy.port], "repl-timeout": "10"})
        mc = master.conn()
        assert_true(wait_until(lambda: info_field(mc, "connected_slaves") == "1", 30))
        load = Load(master)
        load.start()
        time.sleep(4)
        load.halt = True
        load.join(30)
        converge(master, replica)
        rc = replica.conn()
        assert_eq(info_field(rc, "master_link_status"), "up")
        print("80 +- 60 ms each way: %d batches, replica converged, link up" % load.batches)
    finally:
        for s in (replica, master):
            if s is not None:
                s.stop(check=False)
                s.cleanup()
        if proxy:
            proxy.close()
        link.close()


if __name__ == "__main__":
    run_tests(globals())
