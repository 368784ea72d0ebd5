"""Server commands: INFO, CONFIG, CLIENT, COMMAND, TIME, SAVE/LASTSAVE,
SHUTDOWN, DEBUG; redis-benchmark against cairn."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403


@test
def info_sections_and_fields():
    with CairnServer() as s:
        c = s.conn()
        raw = c.call("INFO")
        assert_true(isinstance(raw, bytes))
        info = parse_info_sections(raw)
        assert_eq(list(info), ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules",
                               "Errorstats", "Cluster", "Keyspace"])
        # sections separated by exactly one blank line
        assert_true("\r\n\r\n# Clients\r\n" in raw.decode())
        srv = info["Server"]
        assert_eq(srv["redis_version"], "7.0.15")
        assert_eq(srv["redis_mode"], "standalone")
        assert_eq(srv["tcp_port"], str(s.port))
        assert_eq(srv["process_id"], str(s.pid))
        assert_eq(len(srv["run_id"]), 40)
        assert_true("cairn_version" in srv)
        assert_eq(info["Clients"]["connected_clients"], "1")
        second = s.conn()
        second.ping()
        assert_eq(parse_info_sections(c.call("INFO", "clients"))["Clients"]["connected_clients"], "2")
        assert_eq(info["Clients"]["maxclients"], "10000")
        assert_true(int(info["Memory"]["used_memory"]) > 0)
        assert_eq(info["Memory"]["mem_allocator"], "libc")
        p = info["Persistence"]
        for k in ["loading", "rdb_changes_since_last_save", "rdb_last_save_time", "aof_enabled", "durability",
                  "checkpoints", "wal_first_offset", "wal_last_offset", "wal_disk_bytes", "wal_segments",
                  "wal_syncs", "wal_sync_avg_us", "lmdb_map_size", "lmdb_used_bytes", "lmdb_map_grows"]:
            assert_true(k in p, k)
        assert_eq(p["durability"], "strict")
        rep = info["Replication"]
        assert_eq(rep["role"], "master")
        assert_eq(rep["master_replid2"], "0" * 40)
        assert_eq(rep["second_repl_offset"], "-1")
        off0 = int(rep["master_repl_offset"])
        st = info["Stats"]
        for k in ["total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
                  "total_net_input_bytes", "total_net_output_bytes", "rejected_connections", "expired_keys",
                  "keyspace_hits", "keyspace_misses"]:
            assert_true(k in st, k)
        assert_eq(info["Keyspace"], {})
        c.call("SET", "k", "v")
        c.call("GET", "k")
        c.call("GET", "nokey")
        info2 = parse_info_sections(c.call("INFO", "stats", "replication", "persistence"))
        assert_eq(list(info2), ["Persistence", "Stats", "Replication"])
        assert_true(int(info2["Replication"]["master_repl_offset"]) > off0)
        assert_eq(int(info2["Replication"]["master_repl_offset"]), int(info2["Persistence"]["wal_last_offset"]))
        assert_true(int(info2["Persistence"]["wal_syncs"]) >= 1)
        assert_true(int(info2["Stats"]["keyspace_hits"]) >= 1)
        assert_true(int(info2["Stats"]["keyspace_misses"]) >= 1)
        assert_true(int(info2["Stats"]["total_commands_processed"]) > int(st["total_commands_processed"]))
        # all / everything add the cairn section; unknown names give an empty string
        assert_true("Cairn" in parse_info_sections(c.call("INFO", "all")))
        assert_true("Cairn" in parse_info_sections(c.call("INFO", "everything")))
        assert_true("Cairn" not in parse_info_sections(c.call("INFO", "default")))
        assert_eq(c.call("INFO", "nosuchsection"), b"")
        # RESP3: verbatim string
        c3 = s.conn(resp=3)
        _, raw3 = c3.call_both("INFO", "server")
        assert_true(raw3.startswith(b"=") and b"\r\ntxt:# Server\r\n" in raw3, raw3[:40])


@test
def info_keyspace_matches_dbsize():
    with CairnServer() as s:
        c = s.conn()
        for i in range(7):
            c.call("SET", "k%d" % i, "v")
        c.call("SET", "e1", "v", "EX", 1000)
        c.call("SET", "e2", "v", "PX", 1000000)
        c.call("SELECT", 3)
        c.call("SET", "x", "y")
        ks = parse_info_sections(c.call("INFO", "keyspace"))["Keyspace"]
        assert_eq(ks, {"db0": "keys=9,expires=2,avg_ttl=0", "db3": "keys=1,expires=0,avg_ttl=0"})
        assert_eq(c.call("DBSIZE"), 1)
        c.call("SELECT", 0)
        assert_eq(c.call("DBSIZE"), 9)


@test
def config_get_set():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("CONFIG", "GET", "maxclients"), [b"maxclients", b"10000"])
        assert_eq(c.call("CONFIG", "SET", "maxclients", "100", "timeout", "30"), "OK")
        assert_eq(c.call("CONFIG", "GET", "maxclients"), [b"maxclients", b"100"])
        assert_eq(c.call("CONFIG", "GET", "timeout"), [b"timeout", b"30"])
        assert_eq(parse_info_sections(c.call("INFO", "clients"))["Clients"]["maxclients"], "100")
        # multiple patterns, glob
        r = c.call("CONFIG", "GET", "maxclient*", "hz")
        assert_eq(dict(zip(r[::2], r[1::2])), {b"maxclients": b"100", b"hz": b"10"})
        assert_eq(c.call("CONFIG", "GET", "nosuch"), [])
        # RESP3 map
        c3 = s.conn(resp=3)
        assert_eq(dict(list(c3.call("CONFIG", "GET", "maxclients"))), {b"maxclients": b"100"})
        # errors
        assert_error(c.call("CONFIG", "SET", "nosuch", "1"),
                     "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
        assert_eq(c.call("CONFIG", "SET", "maxclients", "abc"),
                  Error("ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
                        "argument couldn't be parsed into an integer"))
        assert_error(c.call("CONFIG", "SET", "dir", "/tmp"), "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set immutable config")
        assert_eq(c.call("CONFIG", "SET", "maxclients"), Error("ERR wrong number of arguments for 'config|set' command"))
        assert_eq(c.call("CONFIG", "SET", "maxclients", "1", "hz"),
                  Error("ERR wrong number of arguments for 'config|set' command"))
        assert_eq(c.call("CONFIG", "GET"), Error("ERR wrong number of arguments for 'config|get' command"))
        assert_eq(c.call("CONFIG", "foo"), Error("ERR unknown subcommand 'foo'. Try CONFIG HELP."))
        assert_eq(c.call("CONFIG"), Error("ERR wrong number of arguments for 'config' command"))
        assert_eq(c.call("CONFIG", "RESETSTAT", "x"), Error("ERR wrong number of arguments for 'config|resetstat' command"))
        # all or nothing: the valid first pair is not applied
        assert_true(is_error(c.call("CONFIG", "SET", "timeout", "50", "maxclients", "abc")))
        assert_eq(c.call("CONFIG", "GET", "timeout"), [b"timeout", b"30"])
        # loglevel takes effect
        assert_eq(c.call("CONFIG", "SET", "loglevel", "warning"), "OK")
        assert_eq(c.call("CONFIG", "GET", "loglevel"), [b"loglevel", b"warning"])
        help_ = c.call("CONFIG", "HELP")
        assert_eq(help_[0], "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        assert_true(isinstance(help_[0], Status))
        assert_eq(help_[-2:], ["HELP", "    Prints this help."])


@test
def config_resetstat():
    with CairnServer() as s:
        c = s.conn()
        for _ in range(5):
            c.call("GET", "nokey")
        assert_true(int(parse_info_sections(c.call("INFO", "stats"))["Stats"]["keyspace_misses"]) >= 5)
        assert_eq(c.call("CONFIG", "RESETSTAT"), "OK")
        st = parse_info_sections(c.call("INFO", "stats"))["Stats"]
        assert_eq(st["keyspace_misses"], "0")
        assert_true(int(st["total_commands_processed"]) <= 2)


@test
def config_rewrite_survives_restart():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("CONFIG", "SET", "maxclients", "77", "hz", "25"), "OK")
        assert_eq(c.call("CONFIG", "REWRITE"), "OK")
        text = open(s.conf_path).read()
        assert_true("maxclients 77" in text, text)
        # start again from the rewritten file (the harness would regenerate it)
        s.stop()
        s._fixed_port = True
        s.write_config = lambda: s.conf_path
        s.start()
        c = s.conn()
        assert_eq(c.call("CONFIG", "GET", "maxclients"), [b"maxclients", b"77"])
        assert_eq(c.call("CONFIG", "GET", "hz"), [b"hz", b"25"])


@test
def config_rewrite_without_file():
    tmp = "/tmp/cairn-noconf-%d" % os.getpid()
    port = free_port()
    proc = subprocess.Popen([cairn_binary(), "--port", str(port), "--dir", tmp, "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = wait_until(lambda: _try_conn(port), msg="server did not start")
        assert_eq(c.call("CONFIG", "REWRITE"), Error("ERR The server is running without a config file"))
        c.send("SHUTDOWN")
        assert_eq(proc.wait(10), 0)
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def _try_conn(port):
    try:
        c = Conn(port=port)
        return c if c.call("PING") == "PONG" else None
    except OSError:
        return None


def client_lines(reply):
    return [l for l in reply.decode().split("\n") if l]


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split(" "))


@test
def client_basics():
    with CairnServer() as s:
        c = s.conn()
        cid = c.call("CLIENT", "ID")
        assert_true(isinstance(cid, int) and cid > 0)
        assert_eq(c.call("CLIENT", "GETNAME"), None)
        assert_eq(c.call("CLIENT", "SETNAME", "worker-1"), "OK")
        assert_eq(c.call("CLIENT", "GETNAME"), b"worker-1")
        assert_eq(c.call("CLIENT", "SETNAME", "a b"),
                  Error("ERR Client names cannot contain spaces, newlines or special characters."))
        assert_eq(c.call("CLIENT", "SETNAME", "a\nb"),
                  Error("ERR Client names cannot contain spaces, newlines or special characters."))
        assert_eq(c.call("CLIENT", "GETNAME"), b"worker-1")
        info = c.call("CLIENT", "INFO").decode()
        assert_true(info.endswith("\n"))
        keys = [kv.split("=", 1)[0] for kv in info.strip().split(" ")]
        assert_eq(keys, ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub",
                         "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem",
                         "tot-mem", "events", "cmd", "user", "redir", "resp"])
        f = fields(info.strip())
        assert_eq(f["id"], str(cid))
        assert_eq(f["name"], "worker-1")
        assert_eq(f["cmd"], "client|info")
        assert_eq(f["flags"], "N")
        assert_eq(f["laddr"], "127.0.0.1:%d" % s.port)
        c.call("SELECT", 2)
        d = s.conn()
        d.call("CLIENT", "SETNAME", "other")
        lines = client_lines(c.call("CLIENT", "LIST"))
        assert_eq(len(lines), 2)
        byid = {fields(l)["id"]: fields(l) for l in lines}
        assert_eq(byid[str(cid)]["db"], "2")
        assert_eq(byid[str(cid)]["cmd"], "client|list")
        assert_eq(sorted(v["name"] for v in byid.values()), ["other", "worker-1"])
        assert_eq([fields(l)["id"] for l in client_lines(c.call("CLIENT", "LIST", "ID", cid, 999))], [str(cid)])
        assert_eq(c.call("CLIENT", "LIST", "ID", 999999), b"")
        assert_eq(len(client_lines(c.call("CLIENT", "LIST", "TYPE", "normal"))), 2)
        assert_eq(c.call("CLIENT", "LIST", "TYPE", "pubsub"), b"")
        assert_eq(c.call("CLIENT", "LIST", "TYPE", "foo"), Error("ERR Unknown client type 'foo'"))
        assert_eq(c.call("CLIENT", "LIST", "ID", "x"), Error("ERR Invalid client ID"))
        assert_eq(c.call("CLIENT", "LIST", "foo"), Error("ERR syntax error"))
        assert_eq(c.call("CLIENT", "NO-EVICT", "on"), "OK")
        assert_eq(fields(c.call("CLIENT", "INFO").decode().strip())["flags"], "e")
        assert_eq(c.call("CLIENT", "NO-EVICT", "maybe"), Error("ERR syntax error"))
        assert_eq(c.call("CLIENT", "NO-TOUCH", "on"), "OK")
        assert_eq(c.call("CLIENT", "NO-EVICT", "off"), "OK")
        assert_eq(c.call("CLIENT", "FOO"), Error("ERR unknown subcommand 'FOO'. Try CLIENT HELP."))
        assert_eq(c.call("CLIENT", "ID", "x"), Error("ERR wrong number of arguments for 'client|id' command"))
        assert_true(c.call("CLIENT", "HELP")[0].startswith("CLIENT <subcommand>"))
        # RESP3: verbatim
        c3 = s.conn(resp=3)
        _, raw = c3.call_both("CLIENT", "INFO")
        assert_true(raw.startswith(b"=") and b"txt:id=" in raw)


@test
def client_kill():
    with CairnServer() as s:
        c = s.conn()
        victims = [s.conn() for _ in range(3)]
        vinfo = [fields(v.call("CLIENT", "INFO").decode().strip()) for v in victims]
        # old form
        assert_eq(c.call("CLIENT", "KILL", "1.2.3.4:5"), Error("ERR No such client"))
        assert_eq(c.call("CLIENT", "KILL", vinfo[0]["addr"]), "OK")
        assert_true(victims[0].is_closed_by_server())
        # new form by id
        assert_eq(c.call("CLIENT", "KILL", "ID", vinfo[1]["id"]), 1)
        assert_true(victims[1].is_closed_by_server())
        assert_eq(c.call("CLIENT", "KILL", "ID", vinfo[1]["id"]), 0)
        assert_eq(c.call("CLIENT", "KILL", "ID", "0"), Error("ERR client-id should be greater than 0"))
        assert_eq(c.call("CLIENT", "KILL", "TYPE", "foo"), Error("ERR Unknown client type 'foo'"))
        assert_eq(c.call("CLIENT", "KILL", "USER", "bob"), Error("ERR No such user 'bob'"))
        assert_eq(c.call("CLIENT", "KILL", "SKIPME", "maybe"), Error("ERR syntax error"))
        assert_eq(c.call("CLIENT", "KILL", "ID", "1", "TYPE"), Error("ERR syntax error"))
        assert_eq(c.call("CLIENT", "KILL", "FOO", "bar"), Error("ERR syntax error"))
        # ADDR
        assert_eq(c.call("CLIENT", "KILL", "ADDR", vinfo[2]["addr"]), 1)
        assert_true(victims[2].is_closed_by_server())
        # LADDR + TYPE normal, skipping me by default
        others = [s.conn() for _ in range(2)]
        for o in others:
            o.ping()
        assert_eq(c.call("CLIENT", "KILL", "LADDR", "127.0.0.1:%d" % s.port, "TYPE", "normal"), 2)
        for o in others:
            assert_true(o.is_closed_by_server())
        assert_eq(c.call("CLIENT", "KILL", "TYPE", "replica"), 0)
        # MAXAGE: an old connection and a new one
        time.sleep(2.1)
        young = s.conn()
        young.ping()
        assert_eq(c.call("CLIENT", "KILL", "MAXAGE", 2, "SKIPME", "no"), 1)  # me, after the reply
        assert_true(c.is_closed_by_server())
        assert_eq(young.ping(), "PONG")
        # killing myself: the reply arrives, then the connection closes
        me = s.conn()
        myid = me.call("CLIENT", "ID")
        assert_eq(me.call("CLIENT", "KILL", "ID", myid, "SKIPME", "no"), 1)
        assert_true(me.is_closed_by_server())
        assert_eq(young.call("CLIENT", "KILL", "ID", young.call("CLIENT", "ID")), 0)  # skipme yes


@test
def client_reply_modes():
    with CairnServer() as s:
        c = s.conn()
        # OFF: no reply to itself or anything after, until ON (which replies OK)
        c.send("CLIENT", "REPLY", "OFF")
        c.send("SET", "a", "1")
        c.send("GET", "a")
        assert_true(not c.has_pending_data(wait=0.3))
        assert_eq(c.call("CLIENT", "REPLY", "ON"), "OK")
        assert_eq(c.call("GET", "a"), b"1")
        # SKIP: no reply to itself and to the next command only
        c.send("CLIENT", "REPLY", "SKIP")
        c.send("SET", "b", "2")
        assert_eq(c.call("GET", "b"), b"2")
        assert_eq(c.call("PING"), "PONG")
        assert_eq(c.call("CLIENT", "REPLY", "FOO"), Error("ERR syntax error"))


@test
def command_introspection():
    with CairnServer() as s:
        c = s.conn()
        allc = c.call("COMMAND")
        count = c.call("COMMAND", "COUNT")
        assert_eq(len(allc), count)
        names = sorted(e[0] for e in allc)
        assert_true(b"get" in names and b"config" in names and b"info" in names)
        for e in allc:
            assert_eq(len(e), 10, e[0])
            assert_true(isinstance(e[1], int) and isinstance(e[2], list) and isinstance(e[6], list))
        get = c.call("COMMAND", "INFO", "get")
        assert_eq(get, [[b"get", 2, ["readonly", "fast"], 1, 1, 1, ["@read", "@string", "@fast"], [],
                         [[b"flags", ["RO", "access"], b"begin_search", [b"type", b"index", b"spec", [b"index", 1]],
                           b"find_keys", [b"type", b"range", b"spec",
                                          [b"lastkey", 0, b"keystep", 1, b"limit", 0]]]], []]])
        r = c.call("COMMAND", "INFO", "nosuch", "config")
        assert_eq(r[0], None)
        assert_eq(r[1][0], b"config")
        subs = sorted(x[0] for x in r[1][9])
        assert_eq(subs, [b"config|get", b"config|help", b"config|resetstat", b"config|rewrite", b"config|set"])
        assert_eq(c.call("COMMAND", "INFO", "config|get")[0][:2], [b"config|get", -3])
        lst = c.call("COMMAND", "LIST")
        assert_true(b"client|kill" in lst and b"get" in lst)
        assert_eq(sorted(c.call("COMMAND", "LIST", "FILTERBY", "PATTERN", "conf*")),
                  [b"config", b"config|get", b"config|help", b"config|resetstat", b"config|rewrite", b"config|set"])
        assert_eq(c.call("COMMAND", "LIST", "FILTERBY", "MODULE", "x"), [])
        assert_eq(c.call("COMMAND", "GETKEYS", "get", "k"), [b"k"])
        assert_eq(c.call("COMMAND", "GETKEYS", "set", "k", "v", "EX", "1"), [b"k"])
        assert_eq(c.call("COMMAND", "GETKEYS", "nosuch", "k"), Error("ERR Invalid command specified"))
        assert_eq(c.call("COMMAND", "GETKEYS", "ping", "x"), Error("ERR The command has no key arguments"))
        assert_eq(c.call("COMMAND", "GETKEYS", "get", "a", "b"),
                  Error("ERR Invalid number of arguments specified for command"))
        assert_eq(c.call("COMMAND", "FOO"), Error("ERR unknown subcommand 'FOO'. Try COMMAND HELP."))


def _check_docs(name, doc):
    keys = doc.keys() if isinstance(doc, Map) else doc[::2]
    d = dict(zip(doc[::2], doc[1::2])) if not isinstance(doc, Map) else dict(list(doc))
    for k in (b"summary", b"since", b"group"):
        assert_true(isinstance(d.get(k), bytes), (name, k))
    for k in keys:
        assert_true(k in (b"summary", b"since", b"group", b"complexity", b"arguments", b"subcommands", b"history",
                          b"doc-flags"), (name, k))
    if b"arguments" in d:
        _check_args(name, d[b"arguments"])
    if b"subcommands" in d:
        sub = d[b"subcommands"]
        items = sub.items() if isinstance(sub, Map) else zip(sub[::2], sub[1::2])
        for sname, sdoc in items:
            assert_true(sname.startswith(name + b"|"), sname)
            _check_docs(sname, sdoc)


def _check_args(name, args):
    assert_true(isinstance(args, list))
    for a in args:
        d = dict(list(a)) if isinstance(a, Map) else dict(zip(a[::2], a[1::2]))
        assert_true(isinstance(d.get(b"name"), bytes), (name, a))
        assert_true(d.get(b"type") in (b"key", b"string", b"integer", b"double", b"pattern", b"unix-time",
                                       b"pure-token", b"oneof", b"block"), (name, a))
        if b"token" in d:
            assert_true(isinstance(d[b"token"], bytes))
        if b"flags" in d:
            for f in d[b"flags"]:
                assert_true(isinstance(f, Status) and f in ("optional", "multiple", "multiple_token"), f)
        if d[b"type"] in (b"oneof", b"block"):
            _check_args(name, d[b"arguments"])


@test
def command_docs_shape():
    with CairnServer() as s:
        for resp in (2, 3):
            c = s.conn(resp=resp)
            docs = c.call("COMMAND", "DOCS")
            items = docs.items() if isinstance(docs, Map) else list(zip(docs[::2], docs[1::2]))
            assert_eq(len(items), c.call("COMMAND", "COUNT"))
            for name, doc in items:
                _check_docs(name, doc)
            one = c.call("COMMAND", "DOCS", "get", "nosuch")
            d = dict(list(one)) if isinstance(one, Map) else dict(zip(one[::2], one[1::2]))
            assert_eq(list(d), [b"get"])
            g = d[b"get"]
            g = dict(list(g)) if isinstance(g, Map) else dict(zip(g[::2], g[1::2]))
            assert_eq(g[b"group"], b"string")
            arg = g[b"arguments"][0]
            arg = dict(list(arg)) if isinstance(arg, Map) else dict(zip(arg[::2], arg[1::2]))
            assert_eq(arg, {b"name": b"key", b"type": b"key", b"key_spec_index": 0})


@test
def time_lastsave_save():
    with CairnServer() as s:
        c = s.conn()
        t = c.call("TIME")
        assert_eq(len(t), 2)
        assert_true(abs(int(t[0]) - time.time()) < 5)
        assert_true(0 <= int(t[1]) < 1000000)
        last = c.call("LASTSAVE")
        assert_true(abs(last - time.time()) < 10)
        ck0 = int(parse_info_sections(c.call("INFO", "persistence"))["Persistence"]["checkpoints"])
        c.call("SET", "k", "v")
        time.sleep(1.1)
        assert_eq(c.call("SAVE"), "OK")
        p = parse_info_sections(c.call("INFO", "persistence"))["Persistence"]
        assert_true(int(p["checkpoints"]) > ck0)
        assert_eq(p["rdb_changes_since_last_save"], "0")
        assert_true(c.call("LASTSAVE") >= last + 1)
        assert_eq(c.call("BGSAVE"), "Background saving started")
        assert_eq(c.call("BGSAVE", "foo"), Error("ERR syntax error"))
        assert_eq(c.call("SAVE", "x"), Error("ERR wrong number of arguments for 'save' command"))


@test
def shutdown_keeps_data():
    with CairnServer() as s:
        c = s.conn()
        for i in range(50):
            c.call("SET", "key:%d" % i, "value:%d" % i)
        assert_eq(c.call("SHUTDOWN", "NOSAVE", "SAVE"), Error("ERR syntax error"))
        assert_eq(c.call("SHUTDOWN", "ABORT"), Error("ERR No shutdown in progress."))
        assert_eq(c.call("SHUTDOWN", "ABORT", "NOW"), Error("ERR syntax error"))
        assert_eq(c.call("SHUTDOWN", "BOGUS"), Error("ERR syntax error"))
        c.send("SHUTDOWN", "NOW")
        assert_true(c.is_closed_by_server(wait=5))
        s.wait_exit()
        # the write into LMDB before exit is said, with what and how long
        log = s.log_text()
        assert_true(re.search(r"Writing the overlay into LMDB before exit: \d+ layer\(s\), \d+ MB", log), log)
        assert_true(re.search(r"Checkpoint at offset \d+ before exit \(\d+ ms\)", log), log)
        s.start()
        c = s.conn()
        assert_eq(c.call("GET", "key:49"), b"value:49")
        assert_eq(parse_info_sections(c.call("INFO", "keyspace"))["Keyspace"]["db0"], "keys=50,expires=0,avg_ttl=0")


@test(timeout=120)
def writers_wait_for_the_store_thread_and_lose_nothing():
    # A tiny overlay budget and a store thread slowed on purpose (30 ms more
    # a merge, CAIRN_FAULTS slowUS: on a busy machine the loop alone could
    # be the slower one) that cannot keep up, so write commands wait (their
    # connection is not read) until a layer is on disk; reads go on
    # meanwhile; nothing is lost, even with kill -9.
    with faults_env("store.commit=1:always:slow30000"):
        server = CairnServer({"overlay-max-memory": "1mb", "checkpoint-bytes": "256kb"})
    with server as s:
        c, r = s.conn(), s.conn()
        n = 20000
        for b in range(0, n, 2000):
            replies = c.pipeline([["SET", "k%d" % i, "v%d" % i + "x" * 100] for i in range(b, b + 2000)])
            assert_true(all(x == "OK" for x in replies))
            assert_eq(r.call("GET", "k%d" % b), ("v%d" % b + "x" * 100).encode())
        f = info(c, "cairn")
        assert_true(int(f["writer_stalls"]) > 0, f)
        assert_true(int(f["store_drains"]) > 0, f)
        assert_eq(int(f["overlay_max_memory"]), 1024 * 1024)
        assert_true(int(f["loop_longest_iteration_us"]) > 0, f)
        # how many commands that iteration ran (a pipeline of 2000 SETs at most in one go)
        assert_true(0 < int(f["loop_longest_iteration_commands"]) <= 2000 + 20, f)
        # and the loop thread's CPU time in it: never more than its wall time
        assert_true(0 < int(f["loop_longest_iteration_cpu_us"]) <= int(f["loop_longest_iteration_us"]) + 1000, f)
        s.restart(kill=True)
        c = s.conn()
        assert_eq(c.call("DBSIZE"), n)
        for i in range(0, n, 997):
            assert_eq(c.call("GET", "k%d" % i), ("v%d" % i + "x" * 100).encode())


@test(timeout=60)
def save_waits_until_lmdb_holds_everything():
    with CairnServer({"checkpoint-interval-ms": "86400000"}) as s:
        c = s.conn()
        c.pipeline([["SET", "s%d" % i, "v"] for i in range(1000)])
        assert_true(int(info(c, "persistence")["rdb_changes_since_last_save"]) > 0)
        assert_eq(c.call("SAVE"), "OK")
        p = info(c, "persistence")
        assert_eq(p["rdb_changes_since_last_save"], "0")
        assert_eq(p["checkpoint_offset"], p["wal_last_offset"])
        f = info(c, "cairn")
        assert_eq(f["overlay_frozen_layers"], "0")
        assert_eq(f["store_offset_on_disk"], p["wal_last_offset"])
        # rdb_changes_since_last_save counts changes like Redis's dirty
        c.call("SET", "s1", "x")
        c.call("SETBIT", "bits", "3", "1")
        c.call("SETBIT", "bits", "3", "1")  # no change: not counted
        c.call("MSET", "a", "1", "b", "2")
        assert_eq(info(c, "persistence")["rdb_changes_since_last_save"], "4")


@test(timeout=60)
def freed_arena_blocks_are_kept_for_the_next_layers():
    # A layer of several MB lives in 2 MB arena blocks; once LMDB holds it
    # they are kept (INFO overlay_blocks_kept) within 3/4 of the budget, and
    # the next layers take them again.
    budget = 64 * 1024 * 1024
    with CairnServer({"checkpoint-interval-ms": "86400000", "overlay-max-memory": str(budget)}) as s:
        c = s.conn()
        for b in range(0, 40000, 4000):
            c.pipeline([["SET", "k%d" % i, "x" * 200] for i in range(b, b + 4000)])
        assert_eq(c.call("SAVE"), "OK")  # frozen, written into LMDB, freed
        kept = lambda: int(info(c, "cairn")["overlay_blocks_kept"])  # noqa: E731
        wait_until(lambda: kept() > 0, timeout=10, interval=0.05, msg="no block kept")
        first = kept()
        assert_true(first % (2 * 1024 * 1024) == 0 and first <= budget // 4 * 3, first)
        for b in range(0, 8000, 4000):
            c.pipeline([["SET", "n%d" % i, "y" * 200] for i in range(b, b + 4000)])
        assert_true(kept() < first, "the next layer took kept blocks: %d -> %d" % (first, kept()))


@test
def debug_sleep():
    with CairnServer() as s:
        c = s.conn()
        t0 = time.time()
        assert_eq(c.call("DEBUG", "SLEEP", "0.3"), "OK")
        assert_true(time.time() - t0 >= 0.29)
        assert_eq(c.call("DEBUG", "SLEEP", "x"), Error("ERR value is not a valid float"))
        assert_true(c.call("DEBUG", "HELP")[0].startswith("DEBUG <subcommand>"))
        assert_error(c.call("DEBUG", "FOO"), "ERR unknown subcommand or wrong number of arguments for 'FOO'")


@test
def redis_benchmark_runs():
    bench = shutil.which("redis-benchmark")
    assert_true(bench, "redis-benchmark is not installed (scripts/install-deps.sh --with-tests installs it)")
    with CairnServer() as s:
        out = subprocess.run([bench, "-h", "127.0.0.1", "-p", str(s.port), "-t", "ping,set,get,incr,mset", "-n", "2000", "-r", "1000", "-P", "4", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        text = out.stdout.decode(errors="replace")
        assert_eq(out.returncode, 0, text)
        for name in ("PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"):
            assert_true(name + ":" in text and "requests per second" in text, text)
        assert_true("ERR" not in text and "rror" not in text, text)
        c = s.conn()
        assert_true(1 <= c.call("DBSIZE") <= 2000, c.call("DBSIZE"))  # key:N and counter:N


if __name__ == "__main__":
    run_tests()
