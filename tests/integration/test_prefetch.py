#!/usr/bin/env python3
"""Prefetch (engine/prefetch.h): clients' keys read by the store's reader
threads before their commands run, and the store thread's merges read ahead
(drain readahead). `prefetch yes` forces both on, so these tests run the
paths a data set bigger than RAM takes (the page faults themselves cannot be
made here). What must hold: the replies are exactly those of a server
without prefetch, a client that goes away while its keys are read leaves
nothing behind, and `auto` stays off while the data is in RAM."""
import random
import socket
import time

from cairn_test import (CairnServer, Conn, assert_eq, assert_true, encode_command, info_field, run_tests, test,
                        wait_until)

SMALL_LAYERS = {"checkpoint-interval-ms": 20, "checkpoint-bytes": "64kb", "overlay-merge-bytes": "0"}


def workload(seed, nbatches):
    """Pipelined batches of mixed commands over a few dbs, seeded."""
    rnd = random.Random(seed)
    batches = []
    for b in range(nbatches):
        cmds = []
        for _ in range(rnd.randint(1, 120)):
            k = "k%d" % rnd.randint(0, 400)
            r = rnd.random()
            if r < 0.20:
                cmds.append(("SET", k, "v%d" % rnd.randint(0, 10 ** 6)))
            elif r < 0.35:
                cmds.append(("GET", k))
            elif r < 0.42:
                cmds.append(("MSET", k, "m1", "k%d" % rnd.randint(0, 400), "m2"))
            elif r < 0.50:
                cmds.append(("MGET", k, "k%d" % rnd.randint(0, 400), "k%d" % rnd.randint(0, 400)))
            elif r < 0.55:
                cmds.append(("DEL", k))
            elif r < 0.62:
                cmds.append(("INCR", "n%d" % rnd.randint(0, 50)))
            elif r < 0.68:
                cmds.append(("HSET", "h%d" % rnd.randint(0, 30), "f%d" % rnd.randint(0, 9), "x"))
            elif r < 0.72:
                cmds.append(("HGETALL", "h%d" % rnd.randint(0, 30)))
            elif r < 0.76:
                cmds.append(("LPUSH", "l%d" % rnd.randint(0, 20), "e"))
            elif r < 0.79:
                cmds.append(("LRANGE", "l%d" % rnd.randint(0, 20), "0", "-1"))
            elif r < 0.83:
                cmds.append(("SELECT", str(rnd.randint(0, 3))))
            elif r < 0.86:
                cmds.append(("EXISTS", k, "k%d" % rnd.randint(0, 400)))
            elif r < 0.89:
                cmds.append(("EXPIRE", k, "1000"))
            elif r < 0.92:
                cmds.append(("MULTI",))
                cmds.append(("SET", k, "tx"))
                cmds.append(("GET", k))
                cmds.append(("EXEC",))
            elif r < 0.95:
                cmds.append(("TYPE", k))
            else:
                cmds.append(("PING",))
        batches.append(cmds)
    return batches


def run_batches(port, batches, chunked):
    """Each batch on one connection as one pipeline (sent whole, or in
    small pieces so commands are split across reads); the replies."""
    out = []
    with Conn(port=port) as c:
        for cmds in batches:
            if chunked:
                data = b"".join(encode_command(*cmd) for cmd in cmds)
                for i in range(0, len(data), 7):
                    c.send_raw(data[i:i + 7])
                out.append([c.read_reply() for _ in cmds])
            else:
                out.append(c.pipeline(cmds))
    return out


@test(timeout=180)
def replies_are_those_of_a_server_without_prefetch():
    """The same seeded pipelines against prefetch yes and prefetch no: the
    same replies, byte for byte in order; and the yes server did read keys
    ahead for clients and for merges."""
    batches = workload(101, 300)
    with CairnServer(dict(SMALL_LAYERS, prefetch="yes")) as yes, CairnServer(dict(SMALL_LAYERS, prefetch="no")) as no:
        for chunked in (False, True):
            a = run_batches(yes.port, batches, chunked)
            b = run_batches(no.port, batches, chunked)
            for i, (x, y) in enumerate(zip(a, b)):
                assert_eq(x, y, "batch %d (chunked=%s): %r" % (i, chunked, batches[i][:5]))
        c = yes.conn()
        jobs = int(info_field(c, "prefetch_jobs", "cairn"))
        keys = int(info_field(c, "prefetch_keys", "cairn"))
        assert_true(jobs > 0 and keys >= jobs, "no read-ahead with prefetch yes: %s" % c.call("INFO", "cairn"))
        assert_eq(info_field(c, "prefetch_active", "cairn"), "1")
        wait_until(lambda: int(info_field(c, "store_readahead_keys", "cairn")) > 0, timeout=10,
                   msg=lambda: "merges read nothing ahead with prefetch yes: %s" % c.call("INFO", "cairn"))
        n = no.conn()
        assert_eq(info_field(n, "prefetch_jobs", "cairn"), "0")
        assert_eq(info_field(n, "store_readahead_keys", "cairn"), "0")
        c.close()
        n.close()


@test(timeout=120)
def clients_gone_while_their_keys_are_read():
    """Clients send big pipelines and close at once, many times: the server
    stays up and correct (the sanitizers check the jobs that outlive their
    clients)."""
    with CairnServer(dict(SMALL_LAYERS, prefetch="yes")) as s:
        data = b"".join(encode_command("SET", "gone%d" % i, "x" * 50) for i in range(2000))
        data += b"".join(encode_command("GET", "gone%d" % i) for i in range(2000))
        for _ in range(60):
            sock = socket.create_connection(("127.0.0.1", s.port))
            sock.sendall(data)
            sock.close()
        c = s.conn()
        assert_eq(c.call("PING"), "PONG")
        c.call("SET", "after", "1")
        assert_eq(c.call("GET", "after"), b"1")
        c.close()


@test(timeout=120)
def auto_stays_off_in_ram_and_config_set_switches():
    """prefetch auto (the default): data in RAM takes no major faults, so
    nothing is read ahead; CONFIG SET prefetch yes turns it on at once, no
    turns it off."""
    with CairnServer(SMALL_LAYERS) as s:
        c = s.conn()
        assert_eq(c.call("CONFIG", "GET", "prefetch"), [b"prefetch", b"auto"])
        for b in range(20):
            c.pipeline([("SET", "a%d" % (b * 100 + i), "v") for i in range(100)])
        time.sleep(0.3)  # a few crons
        assert_eq(info_field(c, "prefetch_active", "cairn"), "0")
        assert_eq(info_field(c, "prefetch_jobs", "cairn"), "0")
        assert_eq(c.call("CONFIG", "SET", "prefetch", "yes"), "OK")
        wait_until(lambda: info_field(c, "prefetch_active", "cairn") == "1", timeout=5)
        replies = c.pipeline([("GET", "a%d" % i) for i in range(100)])
        assert_eq(replies, [b"v"] * 100)
        assert_true(int(info_field(c, "prefetch_jobs", "cairn")) > 0, "no job after CONFIG SET prefetch yes")
        assert_eq(c.call("CONFIG", "SET", "prefetch", "no"), "OK")
        wait_until(lambda: info_field(c, "prefetch_active", "cairn") == "0", timeout=5)
        c.close()


@test(timeout=60)
def a_waiting_client_is_not_read_meanwhile():
    """While a client's commands wait for their keys, its connection is not
    read: a 1 MB SET followed by 1.4 MB of PINGs under a 1 MB
    client-query-buffer-limit is served whole, as without prefetch (reading
    on would have counted the PINGs against the limit while the SET could
    not run, and closed the client)."""
    with CairnServer({"prefetch": "yes", "client-query-buffer-limit": "1mb", "proto-max-bulk-len": "1mb"}) as s:
        c = s.conn()
        pings = 100000
        c.send_raw(encode_command("SET", "big", "x" * 1000000) + encode_command("PING") * pings)
        assert_eq(c.read_reply(), "OK")
        for i in range(pings):
            r = c.read_reply()
            if r != "PONG":
                assert_eq(r, "PONG", "reply %d" % i)
        assert_eq(c.call("STRLEN", "big"), 1000000)
        assert_true(int(info_field(c, "prefetch_jobs", "cairn")) > 1, "the pipeline was not read ahead")
        c.close()


@test(timeout=60)
def no_reader_threads_no_prefetch():
    """prefetch-threads 0: no reader threads, prefetch yes does nothing and
    says so in INFO."""
    with CairnServer({"prefetch": "yes", "prefetch-threads": 0}) as s:
        c = s.conn()
        c.pipeline([("SET", "x%d" % i, "1") for i in range(50)])
        assert_eq(c.call("GET", "x7"), b"1")
        assert_eq(info_field(c, "prefetch_threads", "cairn"), "0")
        assert_eq(info_field(c, "prefetch_jobs", "cairn"), "0")
        c.close()


if __name__ == "__main__":
    run_tests()
