"""ACL (Redis 7.0 semantics): NOPERM texts, the ACL LOG, ACLs checked again
at EXEC, clients disconnected when their user goes or loses a channel,
CLIENT LIST user= / CLIENT KILL USER, requirepass as the default user's
password, HELLO AUTH, the aclfile (SAVE/LOAD round trip, a bad file refused
naming file and line, users kept across a restart), `user` directives, and a
replica authenticating to its master with masteruser/masterauth.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_acl.py [name...]
"""
import hashlib
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403,E402

NOPERM_KEY = "NOPERM this user has no permissions to access one of the keys used as arguments"
NOPERM_CHAN = "NOPERM this user has no permissions to access one of the channels used as arguments"


def as_user(s, user, pw, resp=2):
    c = s.conn(resp=resp)
    assert_eq(c.call("AUTH", user, pw), "OK")
    return c


def log_entries(c, n=10):
    out = []
    for e in c.call("ACL", "LOG", str(n)):
        d = dict(zip(e[0::2], e[1::2])) if isinstance(e, list) else dict(e.items())
        out.append({(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()})
    return out


def s_(v):
    return v.decode() if isinstance(v, bytes) else v


@test
def noperm_texts_and_log():
    with CairnServer() as s:
        a = s.conn()
        assert_eq(a.call("ACL", "SETUSER", "u", "on", ">pw", "~k*", "&news", "+get", "+set", "+publish", "+multi",
                         "+exec", "+subscribe"), "OK")
        c = as_user(s, "u", "pw")
        assert_eq(c.call("SET", "k1", "v"), "OK")
        assert_error_text(c.call("GET", "x"), NOPERM_KEY)
        assert_error_text(c.call("HSET", "k1", "a", "b"),
                          "NOPERM this user has no permissions to run the 'hset' command")
        assert_error_text(c.call("CONFIG", "GET", "port"),
                          "NOPERM this user has no permissions to run the 'config|get' command")
        assert_error_text(c.call("PUBLISH", "other", "m"), NOPERM_CHAN)
        assert_eq(c.call("PUBLISH", "news", "m"), 0)
        assert_error(c.call("AUTH", "u", "bad"), "WRONGPASS invalid username-password pair or user is disabled.")
        log = log_entries(a)
        assert_eq([(s_(e["reason"]), s_(e["context"]), s_(e["object"]), s_(e["username"])) for e in log], [
            ("auth", "toplevel", "AUTH", "u"),
            ("channel", "toplevel", "other", "u"),
            ("command", "toplevel", "config|get", "u"),
            ("command", "toplevel", "hset", "u"),
            ("key", "toplevel", "x", "u"),
        ])
        e = log[1]
        assert_eq(e["count"], 1)
        assert_true(0 <= float(s_(e["age-seconds"])) < 5, "age-seconds %r" % e["age-seconds"])
        assert_true("user=u" in s_(e["client-info"]) and "cmd=publish" in s_(e["client-info"]), e["client-info"])
        # the same event again is counted in the same entry
        c.call("GET", "x")
        assert_eq(log_entries(a)[0]["count"], 2)
        # queued inside MULTI: context multi
        assert_eq(c.call("MULTI"), "OK")
        assert_error_text(c.call("GET", "y"), NOPERM_KEY)
        assert_error(c.call("EXEC"), "EXECABORT")
        top = log_entries(a, 1)[0]
        assert_eq((s_(top["reason"]), s_(top["context"]), s_(top["object"])), ("key", "multi", "y"))
        # acllog-max-len bounds the log; RESET empties it
        assert_eq(a.call("CONFIG", "SET", "acllog-max-len", "2"), "OK")
        for i in range(5):
            c.call("GET", "z%d" % i)
        assert_eq(len(log_entries(a, 100)), 2)
        assert_eq(a.call("ACL", "LOG", "RESET"), "OK")
        assert_eq(a.call("ACL", "LOG"), [])


@test
def acl_checked_again_at_exec():
    with CairnServer() as s:
        a = s.conn()
        a.call("ACL", "SETUSER", "u", "on", ">pw", "~*", "+get", "+set", "+multi", "+exec")
        c = as_user(s, "u", "pw")
        assert_eq(c.call("MULTI"), "OK")
        assert_eq(c.call("SET", "k", "v"), "QUEUED")
        assert_eq(c.call("GET", "k"), "QUEUED")
        a.call("ACL", "SETUSER", "u", "-get")
        r = c.call("EXEC")
        assert_eq(r[0], "OK")
        assert_error_text(r[1], "NOPERM ACLs rules changed between the moment the transaction was accumulated and "
                                "its execution. The user is no longer able to execute the command: no permission "
                                "to execute the command or subcommand")
        top = log_entries(a, 1)[0]
        assert_eq((s_(top["reason"]), s_(top["context"]), s_(top["object"])), ("command", "multi", "get"))


@test
def clients_of_removed_users_and_revoked_channels():
    with CairnServer() as s:
        a = s.conn()
        a.call("ACL", "SETUSER", "u", "on", ">pw", "allkeys", "&a*", "+@all")
        a.call("ACL", "SETUSER", "v", "on", ">pw", "allkeys", "allchannels", "+@all")
        c1 = as_user(s, "u", "pw")
        c2 = as_user(s, "v", "pw")
        sub = as_user(s, "u", "pw")
        assert_eq(sub.call("SUBSCRIBE", "abc")[0], b"subscribe")
        listing = s_(a.call("CLIENT", "LIST"))
        assert_true("user=u " in listing and "user=v " in listing and "user=default " in listing, listing)
        assert_eq(s_(c1.call("ACL", "WHOAMI")), "u")
        # still allowed: the subscriber stays
        a.call("ACL", "SETUSER", "u", "&b*")
        assert_true(not sub.is_closed_by_server(0.3), "subscriber closed although its channel is still allowed")
        # revoked: the subscriber goes, the other client of u stays
        a.call("ACL", "SETUSER", "u", "resetchannels", "&b*")
        assert_true(sub.is_closed_by_server(2), "subscriber not closed after its channel was revoked")
        assert_eq(c1.call("PING"), "PONG")
        # CLIENT KILL USER
        assert_error(a.call("CLIENT", "KILL", "USER", "nosuch"), "ERR No such user 'nosuch'")
        assert_eq(a.call("CLIENT", "KILL", "USER", "v"), 1)
        assert_true(c2.is_closed_by_server(2), "CLIENT KILL USER v left its client")
        # ACL DELUSER closes the user's clients
        assert_eq(a.call("ACL", "DELUSER", "u"), 1)
        assert_true(c1.is_closed_by_server(2), "client of a deleted user still connected")
        assert_eq(a.call("PING"), "PONG")
        # a client deleting its own user gets the reply, then is closed
        a.call("ACL", "SETUSER", "w", "on", ">pw", "+@all")
        c3 = as_user(s, "w", "pw")
        assert_eq(c3.call("ACL", "DELUSER", "w"), 1)
        assert_true(c3.is_closed_by_server(2), "client that deleted its own user still connected")


@test
def requirepass_is_the_default_users_password():
    with CairnServer() as s:
        a = s.conn()
        assert_eq(a.call("CONFIG", "SET", "requirepass", "s3cret"), "OK")
        c = s.conn()
        assert_error(c.call("GET", "k"), "NOAUTH Authentication required.")
        assert_eq(c.call("AUTH", "s3cret"), "OK")
        assert_eq(c.call("AUTH", "default", "s3cret"), "OK")
        u = a.call("ACL", "GETUSER", "default")
        d = dict(zip(u[0::2], u[1::2]))
        assert_eq(d[b"passwords"], [hashlib.sha256(b"s3cret").hexdigest().encode()])
        # HELLO AUTH as another user
        a.call("ACL", "SETUSER", "h", "on", ">hp", "+@all", "~*")
        h = s.conn()
        assert_error(h.call("HELLO", "3"), "NOAUTH HELLO must be called with the client already authenticated")
        r = h.call("HELLO", "3", "AUTH", "h", "hp")
        assert_eq(r.get(b"proto") if hasattr(r, "get") else None, 3)
        assert_eq(s_(h.call("ACL", "WHOAMI")), "h")
        assert_error(s.conn().call("HELLO", "3", "AUTH", "h", "bad"), "WRONGPASS")
        # RESET goes back to the default user (not authenticated: it has a password)
        assert_eq(h.call("RESET"), "RESET")
        assert_error(h.call("GET", "k"), "NOAUTH Authentication required.")
        # a password given by ACL SETUSER stays when another parameter is set
        assert_eq(a.call("AUTH", "s3cret"), "OK")
        assert_eq(a.call("ACL", "SETUSER", "default", ">other"), "OK")
        assert_eq(a.call("CONFIG", "SET", "hz", "11"), "OK")
        assert_eq(s.conn().call("AUTH", "other"), "OK")
        # no password again: every connection is the authenticated default user
        assert_eq(c.call("CONFIG", "SET", "requirepass", ""), "OK")
        assert_eq(s.conn().call("GET", "k"), None)
        assert_error(s.conn().call("AUTH", "x"), "ERR AUTH <password> called without any password configured")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


@test
def aclfile_save_load_restart():
    tmp = os.path.abspath(os.path.join(os.environ.get("TMPDIR", "/tmp"), "cairn-acltest-%d" % os.getpid()))
    os.makedirs(tmp, exist_ok=True)
    add_cleanup(lambda: shutil.rmtree(tmp, ignore_errors=True))
    path = os.path.join(tmp, "users.acl")
    write(path, "user default on nopass ~* &* +@all\nuser alice on >pw ~a* +get\n")
    with CairnServer({"aclfile": path}) as s:
        a = s.conn()
        assert_eq(sorted(s_(x) for x in a.call("ACL", "USERS")), ["alice", "default"])
        assert_eq(a.call("ACL", "SETUSER", "bob", "on", ">bp", "%R~r*", "(+set ~s*)", "+@read"), "OK")
        assert_eq(a.call("ACL", "SAVE"), "OK")
        saved = open(path).read()
        listed = [s_(x) for x in a.call("ACL", "LIST")]
        assert_eq(saved, "\n".join(listed) + "\n")
        assert_true(not [f for f in os.listdir(tmp) if ".tmp-" in f], "temp file left behind")
        # LOAD replaces the users with the file's; their clients are closed
        b = as_user(s, "bob", "bp")
        write(path, saved + "user carol on nopass +@all ~*\n")
        assert_eq(a.call("ACL", "LOAD"), "OK")
        assert_eq(sorted(s_(x) for x in a.call("ACL", "USERS")), ["alice", "bob", "carol", "default"])
        assert_true(b.is_closed_by_server(2), "client of a reloaded user still connected")
        # a bad file: nothing changes, the error names file and line
        write(path, "user dave on >x ~*\n\nuser erin on +nosuchcommand\n")
        r = a.call("ACL", "LOAD")
        assert_error(r, "ERR %s:3: Unknown command or category name in ACL. WARNING: ACL errors detected, no "
                        "change to the previously active ACL rules was performed" % path)
        assert_eq(sorted(s_(x) for x in a.call("ACL", "USERS")), ["alice", "bob", "carol", "default"])
        write(path, "user frank on >x ~*\nnot a user line\n")
        assert_error(a.call("ACL", "LOAD"), "ERR %s:2 should start with user keyword followed by the username." % path)
        write(path, saved + "user carol on nopass +@all ~*\n")
        a.call("ACL", "LOAD")
        # restart: the users come back from the file
        s.restart()
        a = s.conn()
        assert_eq(sorted(s_(x) for x in a.call("ACL", "USERS")), ["alice", "bob", "carol", "default"])
        assert_eq(as_user(s, "carol", "any").call("PING"), "PONG")
        assert_error(as_user(s, "bob", "bp").call("SET", "r1", "v"),
                     "NOPERM this user has no permissions to access one of the keys used as arguments")
    # a bad file at startup: refused, naming file and line
    write(path, "user ok on nopass +@all\nuser bad on +@nosuch\n")
    code, out = CairnServer.expect_start_failure({"aclfile": path})
    assert_true(code != 0 and ("%s:2: Unknown command or category name in ACL" % path) in out, out)
    write(path, "user a on nopass +@all\n")
    code, out = CairnServer.expect_start_failure([("aclfile", path), "user b on nopass +@all"])
    assert_true("either an ACL file or declare users directly" in out, out)
    code, out = CairnServer.expect_start_failure({"aclfile": os.path.join(tmp, "missing.acl")})
    assert_true("Error loading ACLs, opening file" in out, out)


@test
def relative_aclfile_is_in_dir():
    with CairnServer({"aclfile": "users.acl"}, start=False) as s:
        write(os.path.join(s.dir, "users.acl"), "user zed on nopass +@all ~*\n")
        s.start()
        a = s.conn()
        assert_eq(sorted(s_(x) for x in a.call("ACL", "USERS")), ["default", "zed"])
        assert_eq(a.call("ACL", "SETUSER", "yan", "on"), "OK")
        assert_eq(a.call("ACL", "SAVE"), "OK")
        assert_true("user yan on" in open(os.path.join(s.dir, "users.acl")).read(), "ACL SAVE wrote elsewhere")


@test
def user_directives():
    with CairnServer(["user default on nopass ~* &* +@all -flushall", "user ro on >r %R~* +@read",
                      'user "sp" on nopass "(+get ~x)"']) as s:
        a = s.conn()
        listed = [s_(x) for x in a.call("ACL", "LIST")]
        # like Redis, a redefined default user is reset first (hence sanitize-payload)
        assert_eq(listed, ["user default on nopass sanitize-payload ~* &* +@all -flushall",
                           "user ro on #%s %%R~* resetchannels -@all +@read"
                           % hashlib.sha256(b"r").hexdigest(),
                           "user sp on nopass resetchannels -@all (~x resetchannels -@all +get)"])
        assert_error(a.call("FLUSHALL"), "NOPERM this user has no permissions to run the 'flushall' command")
        assert_error(a.call("ACL", "SAVE"), "ERR This Redis instance is not configured to use an ACL file.")
        # CONFIG REWRITE writes the current users in place of the user lines
        assert_eq(a.call("ACL", "SETUSER", "new", "on", ">np", "+get", "~n*"), "OK")
        assert_eq(a.call("ACL", "DELUSER", "sp"), 1)
        assert_eq(a.call("CONFIG", "REWRITE"), "OK")
        text = open(s.conf_path).read()
        users = [l for l in text.splitlines() if l.startswith("user ")]
        assert_eq(users, ["user " + x for x in [s_(y)[5:] for y in a.call("ACL", "LIST")]])
    # (the harness writes its own config at each start: the rewritten lines
    # are given to a new server)
    with CairnServer(users) as s2:
        a = s2.conn()
        assert_eq(sorted(s_(x) for x in a.call("ACL", "USERS")), ["default", "new", "ro"])
        assert_error(a.call("FLUSHALL"), "NOPERM this user has no permissions to run the 'flushall' command")
        assert_eq(as_user(s2, "new", "np").call("GET", "n1"), None)
    code, out = CairnServer.expect_start_failure(["user x on +nosuch"])
    assert_true("Unknown command or category name in ACL" in out, out)


@test
def replica_authenticates_with_masteruser():
    master_cfg = ["requirepass mpw",
                  "user repl on >rpw +psync +replconf +ping"]
    with CairnServer(master_cfg) as m:
        ma = m.conn(password="mpw")
        ma.call("SET", "before", "1")
        with CairnServer([("replicaof", ["127.0.0.1", m.port]), ("masteruser", "repl"),
                          ("masterauth", "rpw")]) as r:
            wait_link_up(r, 30)
            ma.call("SET", "after", "2")
            rc = r.conn()
            wait_until(lambda: rc.call("GET", "after") == b"2", timeout=20, msg="write not replicated")
            assert_eq(rc.call("GET", "before"), b"1")
            listing = s_(ma.call("CLIENT", "LIST", "TYPE", "replica"))
            assert_true("user=repl" in listing, listing)
        # a wrong password: the link does not come up, the master logs the failure
        with CairnServer([("replicaof", ["127.0.0.1", m.port]), ("masteruser", "repl"),
                          ("masterauth", "bad")]) as r:
            time.sleep(1.5)
            assert_true(not link_up(r), "link up with a wrong password")
            log = log_entries(ma, 1)[0]
            assert_eq((s_(log["reason"]), s_(log["username"])), ("auth", "repl"))


if __name__ == "__main__":
    run_tests(globals())
