"""Differential tests: the ACL command family, cairn vs redis-server 7.0:
SETUSER (and its error texts), GETUSER, LIST, USERS, CAT, DRYRUN, DELUSER,
WHOAMI, GENPASS/LOG argument errors, and AUTH / NOPERM after it, in RESP2 and
RESP3.

Rules are chosen so that Redis 7.0's best-fit description of the command
rules (ACL LIST, GETUSER "commands") only involves categories whose command
sets cairn has in full (cairn has no stream, scripting, function, module or
cluster commands; a category holding those can be described differently).

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_acl.py [name...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests  # noqa: E402
from differential import compare  # noqa: E402

HASH = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"  # sha256("password")

def _rules_run_sorted(text):
    """Redis 7.0 emits the single-command rules after the categories in its
    command dict's hash order (cairn: its table order): each run of
    +cmd/-cmd tokens is compared sorted."""
    toks = text.split(b" ")
    out, run = [], []

    def flush():
        if run:
            closing = run[-1].endswith(b")")
            items = sorted(t.rstrip(b")") for t in run)
            if closing:
                items[-1] += b")"
            out.extend(items)
            del run[:]
    for t in toks:
        core = t.rstrip(b")")
        if core[:1] in (b"+", b"-") and core[1:2] != b"@":
            run.append(t)
            if t.endswith(b")"):
                flush()
        else:
            flush()
            out.append(t)
    flush()
    return b" ".join(out)


def norm_rules(v):
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return _rules_run_sorted(v) if b"@all" in v else v
    if isinstance(v, dict):
        return sorted((norm_rules(k), norm_rules(x)) for k, x in v.items())
    if isinstance(v, list):
        return [norm_rules(x) for x in v]
    if isinstance(v, tuple):
        return tuple(norm_rules(x) for x in v)
    return v


def N(*args):
    return (list(args), norm_rules)


USERS = [
    ["ACL", "SETUSER", "alice", "on", ">pw", "~k*", "+get", "+set"],
    ["ACL", "SETUSER", "bob", "on", "nopass", "%R~r*", "%W~w*", "&ch*", "+@hash", "+@string", "-hset"],
    ["ACL", "SETUSER", "carol", "+@all", "-@dangerous", "allkeys", "allchannels"],
    ["ACL", "SETUSER", "dave", "reset"],
    ["ACL", "SETUSER", "erin", "on", "#" + HASH, ">other", "(+get ~s*)", "(+set", "~t*", "&x)"],
    ["ACL", "SETUSER", "frank", "+config|get", "+client|id", "+client|setname", "%RW~x", "%R~y", "%W~y"],
    ["ACL", "SETUSER", "gina", "+@all", "-config|set", "-client", "+client|id"],
    ["ACL", "SETUSER", "henry", "+@list", "+@set", "-@write", "~*", "resetkeys", "~a", "~a"],
    ["ACL", "SETUSER", "ivy", "on", ">a", ">b", "<a", "+get", "-get", "nocommands", "+@geo", "clearselectors",
     "(+get)", "clearselectors", "(+set ~q)"],
]


@test
def setuser_list_getuser():
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "henry", "ivy", "nosuch", "default"]
    for resp in (2, 3):
        compare(USERS + [
            N("ACL", "LIST"), ["ACL", "USERS"],
        ] + [N("ACL", "GETUSER", n) for n in names] + [
            # rules applied on top of an existing user
            ["ACL", "SETUSER", "alice", "off", "resetpass", "-set", "&news"], N("ACL", "GETUSER", "alice"),
            ["ACL", "SETUSER", "alice", "reset"], N("ACL", "GETUSER", "alice"),
            ["ACL", "SETUSER", "default", "resetchannels", "&a"], N("ACL", "GETUSER", "default"),
            N("ACL", "LIST"),
        ], resp=resp, fresh=True)


@test
def setuser_errors():
    compare([
        ["ACL", "SETUSER", "e", "on", "+nosuch"], ["ACL", "SETUSER", "e", "+@nosuch"],
        ["ACL", "SETUSER", "e", "~*", "~x"], ["ACL", "SETUSER", "e", "&*", "&x"],
        ["ACL", "SETUSER", "e", "#abc"], ["ACL", "SETUSER", "e", "#" + HASH.upper()],
        ["ACL", "SETUSER", "e", "<nothere"], ["ACL", "SETUSER", "e", "!" + HASH],
        ["ACL", "SETUSER", "e", "(+get"], ["ACL", "SETUSER", "e", "(+get", "~x"],
        ["ACL", "SETUSER", "e", "bogus"], ["ACL", "SETUSER", "e", "+config|get|x"],
        ["ACL", "SETUSER", "e", "+select|"], ["ACL", "SETUSER", "e", "%X~a"], ["ACL", "SETUSER", "e", "%R"],
        ["ACL", "SETUSER", "e", "-config|nosuch"], ["ACL", "SETUSER", "e", "+config|nosuch"],
        ["ACL", "SETUSER", "a b", "on"], ["ACL", "SETUSER", "e", "(+get ~x", "bogus)"],
        # nothing of a failed SETUSER is applied
        ["ACL", "USERS"],
        ["ACL", "SETUSER", "e", "on", "+get"], ["ACL", "SETUSER", "e", "off", "+nosuch"], ["ACL", "GETUSER", "e"],
        ["ACL", "DELUSER", "default"], ["ACL", "DELUSER", "e", "nosuch", "e"], ["ACL", "DELUSER", "x", "default"],
        ["ACL", "GETUSER"], ["ACL", "SETUSER"], ["ACL", "NOSUCH"], ["ACL", "WHOAMI", "x"],
        ["ACL", "GENPASS", "0"], ["ACL", "GENPASS", "4097"], ["ACL", "GENPASS", "x"], ["ACL", "GENPASS", "1", "2"],
        ["ACL", "LOG", "x"], ["ACL", "LOG", "1", "2"], ["ACL", "CAT", "nosuch"], ["ACL", "CAT", "a", "b"],
        ["ACL", "LOAD"], ["ACL", "SAVE"], ["ACL", "WHOAMI"], ["ACL", "LOG"],
    ], fresh=True)


@test
def cat():
    same = ["set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo", "transaction"]
    compare([["ACL", "CAT"], (["ACL", "CAT", "HASH"], "sorted")] + [(["ACL", "CAT", c], "sorted") for c in same])


@test
def dryrun():
    compare(USERS + [
        ["ACL", "DRYRUN", "alice", "get", "k1"], ["ACL", "DRYRUN", "alice", "get", "x"],
        ["ACL", "DRYRUN", "alice", "hset", "k1", "a", "b"], ["ACL", "DRYRUN", "alice", "get"],
        ["ACL", "DRYRUN", "alice", "nosuch"], ["ACL", "DRYRUN", "nosuch", "get", "x"],
        ["ACL", "DRYRUN", "bob", "get", "r1"], ["ACL", "DRYRUN", "bob", "get", "w1"],
        ["ACL", "DRYRUN", "bob", "set", "w1", "v"], ["ACL", "DRYRUN", "bob", "append", "w1", "v"],
        ["ACL", "DRYRUN", "bob", "mget", "r1", "r2", "w3"], ["ACL", "DRYRUN", "bob", "hset", "w1", "a", "b"],
        ["ACL", "DRYRUN", "bob", "hget", "r1", "a"], ["ACL", "DRYRUN", "bob", "publish", "ch1", "m"],
        ["ACL", "DRYRUN", "carol", "flushall"], ["ACL", "DRYRUN", "carol", "publish", "any", "m"],
        ["ACL", "DRYRUN", "erin", "get", "s1"], ["ACL", "DRYRUN", "erin", "get", "t1"],
        ["ACL", "DRYRUN", "erin", "set", "t1", "v"], ["ACL", "DRYRUN", "erin", "set", "s1", "v"],
        ["ACL", "DRYRUN", "frank", "config", "get", "x"], ["ACL", "DRYRUN", "frank", "config", "set", "x", "y"],
        ["ACL", "DRYRUN", "frank", "client", "id"], ["ACL", "DRYRUN", "frank", "client", "kill", "x"],
        ["ACL", "DRYRUN", "gina", "config", "set", "a", "b"], ["ACL", "DRYRUN", "gina", "client", "id"],
        ["ACL", "DRYRUN", "gina", "client", "list"], ["ACL", "DRYRUN", "henry", "lrange", "a", "0", "1"],
        ["ACL", "DRYRUN", "henry", "lpush", "a", "1"], ["ACL", "DRYRUN", "henry", "smembers", "b"],
    ], fresh=True)


@test
def auth_and_noperm():
    compare(USERS + [
        ["SET", "k1", "v"], ["AUTH", "alice", "wrong"], ["AUTH", "nosuch", "pw"], ["AUTH", "pw"],
        ["AUTH", "alice", "pw"], ["GET", "k1"], ["GET", "x"], ["HSET", "k1", "a", "b"],
        ["ACL", "WHOAMI"], ["CONFIG", "GET", "port"], ["MGET", "k1", "x"],
        ["MULTI"], ["GET", "x"], ["SET", "k2", "v"], ["EXEC"],
        ["AUTH", "dave", "x"], ["AUTH", "bob", "anything"], ["PUBLISH", "ch1", "m"], ["PUBLISH", "no", "m"],
        ["SUBSCRIBE", "no"], ["AUTH", "default", "whatever"], ["ACL", "WHOAMI"],
    ], fresh=True)


@test
def sort_patterns_need_full_read_access():
    compare([
        ["SET", "v1", "1"], ["LPUSH", "mylist", "1"],
        ["ACL", "SETUSER", "tsa", "on", "nopass", "(+sort ~mylist)", "(+sort ~mylist %R~*)", "+acl|setuser"],
        ["ACL", "SETUSER", "tsb", "on", "nopass", "(+sort ~mylist ~v*)", "(+sort ~mylist %W~*)"],
        ["AUTH", "tsb", "x"], ["SORT", "mylist", "BY", "v*"], ["SORT", "mylist", "GET", "#"],
        ["SORT", "mylist", "BY", "nosort"], ["SORT", "mylist"],
        ["AUTH", "tsa", "x"], ["SORT", "mylist", "BY", "v*"], ["SORT", "mylist", "GET", "v*"],
    ], fresh=True)


def D(*args):
    return ["ACL", "DRYRUN", "ct"] + list(args)


@test
def key_permissions_by_key_spec():
    """%R~ / %W~ against the key specs' access/insert/update/delete flags
    (the cases of Redis 7.0's unit/acl-v2, which runs only on a server it
    starts itself)."""
    cmds = [["ACL", "SETUSER", "ct", "+@all", "%R~read*", "%W~write*", "%RW~rw*"], N("ACL", "GETUSER", "ct")]
    for k in ("read", "write", "rw", "nothing"):
        cmds += [D("GET", k), D("SET", k, "v"), D("SET", k, "v", "GET"), D("APPEND", k, "v"), D("INCR", k),
                 D("DEL", k), D("EXISTS", k), D("TOUCH", k), D("TYPE", k), D("MEMORY", "USAGE", k),
                 D("HEXISTS", k, "f"), D("HSTRLEN", k, "f"), D("SISMEMBER", k, "m"), D("STRLEN", k),
                 D("HLEN", k), D("LLEN", k), D("SCARD", k), D("ZCARD", k), D("ZCOUNT", k, "0", "1"),
                 D("PFCOUNT", k, "read"), D("SINTERCARD", "2", k, "read"), D("ZINTERCARD", "2", k, "read"),
                 D("BITFIELD", k, "GET", "u8", "0"), D("BITFIELD", k, "SET", "u8", "0", "1"),
                 D("BITFIELD_RO", k, "GET", "u8", "0"), D("LMOVE", k, "write", "LEFT", "RIGHT"),
                 D("RENAME", k, "write"), D("COPY", k, "write"), D("SORT", k, "STORE", "write"),
                 D("SORT", "read", "STORE", k), D("GEORADIUS", k, "0", "0", "1", "m", "STORE", "write"),
                 D("GEORADIUS", "read", "0", "0", "1", "m", "STOREDIST", k),
                 D("ZUNIONSTORE", k, "1", "read"), D("ZUNIONSTORE", "write", "2", "read", k),
                 D("OBJECT", "ENCODING", k), D("DUMP", k), D("RESTORE", k, "0", "x")]
    cmds += [D("SET", "v"), D("SET"), ["ACL", "DRYRUN", "nouser", "GET", "x"], D("nosuchcmd", "x"),
             D("CONFIG", "GET", "x"), D("CONFIG"), D("CONFIG", "NOSUCH")]
    compare(cmds, fresh=True)


@test
def selectors_and_their_log():
    compare([
        ["ACL", "SETUSER", "s2", "(~key1 +get )", "( ~key2 +get )", "( ~key3 +get)", "(~key4 +get)"],
        ["ACL", "SETUSER", "s2", "(~key5", "+get", ")", "(", "~key6", "+get", ")", "(", "~key7", "+get)"],
        N("ACL", "GETUSER", "s2"),
        ["ACL", "SETUSER", "bad", " () "], ["ACL", "SETUSER", "bad", "("], ["ACL", "SETUSER", "bad", ")"],
        ["ACL", "SETUSER", "bad", "on", "(this-is-invalid)"], ["ACL", "SETUSER", "bad", "on", "(&* &fail)"],
        ["ACL", "GETUSER", "bad"],
        ["ACL", "SETUSER", "sd", "(~x +get)", "(~y +set)"], ["ACL", "SETUSER", "sd", "clearselectors"],
        N("ACL", "GETUSER", "sd"),
        ["ACL", "SETUSER", "info", "-@all", "+get", "resetchannels", "&channel1", "%R~foo1", "%W~bar1", "~baz1"],
        ["ACL", "SETUSER", "info", "(-@all +set resetchannels &channel2 %R~foo2 %W~bar2 ~baz2)"],
        N("ACL", "GETUSER", "info"), N("ACL", "LIST"),
        ["ACL", "SETUSER", "lt", "on", "nopass", "+mget", "~key", "(+mget ~key ~otherkey)"],
        ["ACL", "SETUSER", "lt2", "on", "nopass", "+get", "%R~a*", "(+set %W~a*)"],
        ["ACL", "LOG", "RESET"],
        ["AUTH", "lt", "x"], ["GET", "key"], ["MGET", "otherkey", "someotherkey"],
        ["MGET", "key", "otherkey", "someotherkey"], ["MGET", "key", "otherkey"],
        ["AUTH", "lt2", "x"], ["SET", "a1", "v"], ["GET", "a1"], ["APPEND", "a1", "v"], ["SET", "b", "v"],
        ["AUTH", "default", "x"],
        (["ACL", "LOG"], lambda v: [[x for i, x in enumerate(e) if i % 2 == 1 and e[i - 1] in
                                      (b"count", b"reason", b"context", b"object", b"username")]
                                     for e in v] if isinstance(v, list) else v),
    ], fresh=True)


if __name__ == "__main__":
    run_tests(globals())
