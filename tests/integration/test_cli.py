"""redis-cli against cairn: one-shot mode, and interactive mode (hints built
from COMMAND DOCS) through tmux. Both redis-cli (redis-tools) and tmux are
installed by scripts/install-deps.sh --with-tests; a missing one fails."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403

CLI = shutil.which("redis-cli")
INSTALL_HINT = "install it with: sh scripts/install-deps.sh --with-tests"


def require_tool(name, path):
    """Fails the test (instead of passing without checking anything) when
    a tool it drives is missing."""
    assert_true(path, "%s not found on PATH: %s" % (name, INSTALL_HINT))


def cli(s, *args, stdin=None):
    out = subprocess.run([CLI, "-h", "127.0.0.1", "-p", str(s.port)] + [str(a) for a in args],
                         input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return out.returncode, out.stdout.decode(errors="replace")


@test
def one_shot_commands():
    require_tool("redis-cli", CLI)
    with CairnServer() as s:
        assert_eq(cli(s, "PING"), (0, "PONG\n"))
        assert_eq(cli(s, "SET", "greeting", "hello world"), (0, "OK\n"))
        assert_eq(cli(s, "GET", "greeting"), (0, "hello world\n"))
        assert_eq(cli(s, "--no-raw", "GET", "greeting"), (0, '"hello world"\n'))
        assert_eq(cli(s, "GET", "missing"), (0, "\n"))
        assert_eq(cli(s, "--no-raw", "GET", "missing"), (0, "(nil)\n"))
        code, out = cli(s, "CONFIG", "GET", "maxclients")
        assert_eq(out, "maxclients\n10000\n")
        code, out = cli(s, "INFO", "server")
        assert_eq(code, 0)
        assert_true(out.startswith("# Server\r\n") or out.startswith("# Server\n"), out[:40])
        assert_true("redis_version:7.0.15" in out)
        code, out = cli(s, "CLIENT", "LIST")
        assert_true(out.startswith("id=") and "cmd=client|list" in out, out)
        code, out = cli(s, "COMMAND", "COUNT")
        assert_eq(int(out), s.conn().call("COMMAND", "COUNT"))
        code, out = cli(s, "--no-raw", "CONFIG", "SET", "nosuch", "1")
        assert_eq(out, "(error) ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\n")
        # RESP3 through redis-cli -3: the verbatim INFO string is shown as text
        code, out = cli(s, "-3", "INFO", "clients")
        assert_true("connected_clients:1" in out, out)
        # commands from stdin
        code, out = cli(s, stdin=b"SET a 1\nSET a 2\nGET a\n")
        assert_eq(code, 0)
        assert_true(out.endswith("2\n"), out)


def _tmux(*args):
    return subprocess.run(["tmux"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=10).stdout.decode(errors="replace")


@test(timeout=120)
def interactive_hints():
    require_tool("redis-cli", CLI)
    require_tool("tmux", shutil.which("tmux"))
    with CairnServer() as s:
        session = "cairn-cli-%d" % os.getpid()
        env_home = os.path.join(s.tmp, "home")
        os.makedirs(env_home, exist_ok=True)
        cmd = "HOME=%s %s -h 127.0.0.1 -p %d" % (env_home, CLI, s.port)
        _tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "30", cmd)
        try:
            def screen():
                return _tmux("capture-pane", "-p", "-t", session)
            wait_until(lambda: "127.0.0.1:%d>" % s.port in screen(), msg="no prompt")
            # partial command: the hint comes from COMMAND DOCS
            _tmux("send-keys", "-t", session, "set k")
            wait_until(lambda: "set k value [NX|XX] [GET]" in screen(), msg="no hint: " + screen())
            _tmux("send-keys", "-t", session, " v", "Enter")
            wait_until(lambda: "OK" in screen(), msg="SET did not answer: " + screen())
            _tmux("send-keys", "-t", session, "client kill ")
            time.sleep(0.3)
            _tmux("send-keys", "-t", session, "C-u")
            _tmux("send-keys", "-t", session, "help config get", "Enter")
            wait_until(lambda: "summary: Get the values of configuration parameters" in screen(),
                       msg="help failed: " + screen())
            _tmux("send-keys", "-t", session, "get k", "Enter")
            wait_until(lambda: '"v"' in screen(), msg="GET failed: " + screen())
            assert_true(s.is_running(), "server died")
            assert_eq(s.conn().call("GET", "k"), b"v")
            # the cli process is still alive (no assert in its COMMAND DOCS walk)
            _tmux("send-keys", "-t", session, "ping", "Enter")
            wait_until(lambda: "PONG" in screen(), msg="cli died: " + screen())
        finally:
            _tmux("kill-session", "-t", session)


if __name__ == "__main__":
    run_tests()
