"""The Prometheus redis exporter (Debian's prometheus-redis-exporter) scrapes
cairn as it scrapes Redis: every scrape succeeds, its log has no error or
warning (it used to log "unknown command 'LATENCY'"), and the metrics carry
the keyspace, commands and replication figures a dashboard reads."""
import os
import shutil
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403

EXPORTER = shutil.which("prometheus-redis-exporter")


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read().decode()


def metric(text, name):
    """The value of the first sample of metric `name` (labels ignored)."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


@test
def exporter_scrapes_cleanly():
    assert_true(EXPORTER, "prometheus-redis-exporter is not installed (scripts/install-deps.sh --with-tests)")
    with CairnServer() as s:
        c = s.conn()
        c.call("SET", "k", "v")
        c.call("RPUSH", "l", "a", "b")
        c.call("EXPIRE", "l", 1000)
        c.call("SELECT", 3)
        c.call("SADD", "s", "x")
        port = free_port()
        log = open(os.path.join(s.dir, "exporter.log"), "w+")
        p = subprocess.Popen([EXPORTER, "-redis.addr", "redis://127.0.0.1:%d" % s.port,
                              "-web.listen-address", "127.0.0.1:%d" % port,
                              "-include-system-metrics", "-check-keys", "l,s,k"],
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            text = None
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    text = scrape(port)
                    break
                except OSError:
                    time.sleep(0.1)
            assert_true(text is not None, "the exporter never answered")
            text = scrape(port)  # a second scrape: the same connection reused
            assert_eq(metric(text, "redis_up"), 1.0)
            assert_eq(metric(text, "redis_exporter_last_scrape_error"), 0.0)
            assert_true('redis_db_keys{db="db0"} 2' in text, "db0 keys")
            assert_true('redis_db_keys{db="db3"} 1' in text, "db3 keys")
            assert_true('redis_db_keys_expiring{db="db0"} 1' in text, "expiring keys")
            assert_true('redis_commands_total{cmd="rpush"} 1' in text, "commandstats")
            assert_true(metric(text, "redis_connected_clients") >= 1)
            assert_true(metric(text, "redis_uptime_in_seconds") is not None)
            assert_true(metric(text, "redis_master_repl_offset") is not None)
            assert_true('redis_key_size{db="db0",key="l"} 2' in text, "-check-keys on a list")
        finally:
            p.terminate()
            p.wait(timeout=10)
        log.seek(0)
        out = log.read()
        bad = [l for l in out.splitlines() if "level=error" in l or "level=warn" in l]
        assert_eq(bad, [], "exporter log:\n" + out)


if __name__ == "__main__":
    run_tests(globals())
