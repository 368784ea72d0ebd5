"""INFO with several sections and every section Redis 7.0 has (CPU, Modules,
Errorstats, Cluster, Commandstats, Latencystats), Redis 7.0's default / all /
everything sets, memory fields from the configuration, MEMORY USAGE."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403

DEFAULT = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules", "Errorstats",
           "Cluster", "Keyspace"]


@test
def info_section_sets():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(list(parse_info_sections(c.call("INFO"))), DEFAULT)
        assert_eq(list(parse_info_sections(c.call("INFO", "default"))), DEFAULT)
        everything = DEFAULT + ["Commandstats", "Latencystats", "Cairn"]
        assert_eq(list(parse_info_sections(c.call("INFO", "all"))), everything)
        assert_eq(list(parse_info_sections(c.call("INFO", "EVERYTHING"))), everything)
        # several names: each section once, in INFO's order, case-insensitive
        assert_eq(list(parse_info_sections(c.call("INFO", "keyspace", "CPU", "cpu", "nosuch"))), ["CPU", "Keyspace"])
        assert_eq(list(parse_info_sections(c.call("INFO", "cpu", "default"))), DEFAULT)
        assert_eq(list(parse_info_sections(c.call("INFO", "commandSTATS", "cpu"))), ["CPU", "Commandstats"])
        raw = c.call("INFO", "cpu", "all").decode()
        assert_eq(raw.count("used_cpu_user_children"), 1)
        assert_eq(c.call("INFO", "sentinel"), b"")


@test
def info_cpu_cluster_modules_memory():
    with CairnServer() as s:
        c = s.conn()
        info = parse_info_sections(c.call("INFO", "cpu", "cluster", "modules", "memory"))
        for k in ["used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children",
                  "used_cpu_sys_main_thread", "used_cpu_user_main_thread"]:
            assert_true(float(info["CPU"][k]) >= 0, k)
        assert_eq(info["Cluster"], {"cluster_enabled": "0"})
        assert_eq(info["Modules"], {})
        assert_eq(info["Memory"]["maxmemory"], "0")
        assert_eq(info["Memory"]["maxmemory_human"], "0B")
        assert_eq(info["Memory"]["maxmemory_policy"], "noeviction")
        assert_eq(c.call("CONFIG", "SET", "maxmemory", "100mb", "maxmemory-policy", "allkeys-lru"), "OK")
        mem = parse_info_sections(c.call("INFO", "memory"))["Memory"]
        assert_eq((mem["maxmemory"], mem["maxmemory_human"], mem["maxmemory_policy"]),
                  ("104857600", "100.00M", "allkeys-lru"))


def _recording(c):
    """Whether the server records per-command calls (engine/execute.c calls
    cairn_info_record_call)."""
    c.call("PING")
    return "cmdstat_ping" in c.call("INFO", "commandstats").decode()


@test
def info_commandstats_errorstats_latencystats():
    with CairnServer() as s:
        c = s.conn()
        if not _recording(c):
            print("SKIP: per-command statistics need the execute.c hook (cairn_info_record_call)")
            return
        c.call("CONFIG", "RESETSTAT")
        c.call("SET", "k", "v")
        c.call("GET", "k")
        c.call("GET", "k")
        c.call("SET")                  # rejected (arity)
        c.call("LPUSH", "k", "x")      # failed (WRONGTYPE)
        c.call("NOSUCHCOMMAND")        # unknown: errorstats only
        c.call("CONFIG", "GET", "hz")  # a subcommand counts under its full name
        info = parse_info_sections(c.call("INFO", "commandstats", "errorstats", "latencystats"))
        cs = info["Commandstats"]
        def fields(v):
            return dict(kv.split("=") for kv in v.split(","))
        get = fields(cs["cmdstat_get"])
        assert_eq((get["calls"], get["rejected_calls"], get["failed_calls"]), ("2", "0", "0"))
        st = fields(cs["cmdstat_set"])
        assert_eq((st["calls"], st["rejected_calls"], st["failed_calls"]), ("1", "1", "0"))
        lp = fields(cs["cmdstat_lpush"])
        assert_eq((lp["calls"], lp["failed_calls"]), ("1", "1"))
        assert_true("cmdstat_config|get" in cs, cs)
        assert_eq(info["Errorstats"], {"errorstat_ERR": "count=2", "errorstat_WRONGTYPE": "count=1"})
        lat = info["Latencystats"]["latency_percentiles_usec_get"]
        assert_eq([kv.split("=")[0] for kv in lat.split(",")], ["p50", "p99", "p99.9"])
        c.call("CONFIG", "SET", "latency-tracking-info-percentiles", "0 100")
        lat = parse_info_sections(c.call("INFO", "latencystats"))["Latencystats"]["latency_percentiles_usec_get"]
        assert_eq([kv.split("=")[0] for kv in lat.split(",")], ["p0", "p100"])
        # RESETSTAT clears them
        c.call("CONFIG", "RESETSTAT")
        info = parse_info_sections(c.call("INFO", "commandstats", "errorstats"))
        assert_true("cmdstat_get" not in info["Commandstats"])
        assert_eq(info["Errorstats"], {})


@test
def memory_usage():
    with CairnServer() as s:
        c = s.conn()
        assert_eq(c.call("MEMORY", "USAGE", "nokey"), None)
        c.call("SET", "s", "x" * 100)
        n = c.call("MEMORY", "USAGE", "s")
        assert_true(isinstance(n, int) and n >= 101, n)
        c.call("HSET", "h", *[str(i) for i in range(20)])
        small = c.call("MEMORY", "USAGE", "h")
        c.call("HSET", "h", *[str(i) for i in range(20, 2000)])
        assert_true(c.call("MEMORY", "USAGE", "h", "SAMPLES", "0") > small)
        assert_error(c.call("MEMORY", "USAGE", "h", "SAMPLES"), "ERR syntax error")
        assert_error(c.call("MEMORY", "USAGE", "h", "SAMPLES", "x"), "ERR value is not an integer")
        assert_error(c.call("MEMORY", "USAGE"), "ERR wrong number of arguments for 'memory|usage' command")


if __name__ == "__main__":
    run_tests(globals())
