"""RDB codec against a real redis-server 7.0: files Redis writes are parsed by
cairn's reader (tools/cairn-rdb-check) and must equal what Redis itself
reports for every key; files and DUMP payloads cairn's writer makes must load
into Redis with exactly the expected keys, values and TTLs (and pass
redis-check-rdb, from redis-tools: scripts/install-deps.sh --with-tests)."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *   # noqa: E402,F401


def tool():
    bd = os.environ.get("CAIRN_BUILD_DIR")
    if not bd:
        bd = os.path.dirname(os.path.abspath(cairn_binary()))
    path = os.path.join(bd, "cairn-rdb-check")
    if not os.path.exists(path):
        raise RuntimeError("cairn-rdb-check not built in %s" % bd)
    return path


def run_tool(*args, check=True):
    p = subprocess.run([tool()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    for bad in (b"ERROR: AddressSanitizer", b"runtime error:", b"LeakSanitizer"):
        assert_true(bad not in p.stderr, "sanitizer report from cairn-rdb-check:\n" + p.stderr.decode(errors="replace"))
    if check:
        assert_eq(p.returncode, 0, "cairn-rdb-check %s failed: %s" % (args, p.stderr.decode(errors="replace")))
    return p


def esc(b):
    out = []
    for c in b:
        if 0x20 < c < 0x7f and c not in (0x5c, 0x3d):
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def fmt_score(s):
    return "%.17g" % float(s)


def value_elems(c, key, typ):
    """The canonical element list of one key, read through Redis commands."""
    if typ == "string":
        return [esc(c.call("GET", key))]
    if typ == "list":
        return [esc(x) for x in c.call("LRANGE", key, 0, -1)]
    if typ == "set":
        return sorted(esc(x) for x in c.call("SMEMBERS", key))
    if typ == "hash":
        r = c.call("HGETALL", key)
        return sorted(esc(r[i]) + "=" + esc(r[i + 1]) for i in range(0, len(r), 2))
    if typ == "zset":
        r = c.call("ZRANGE", key, 0, -1, "WITHSCORES")
        return sorted(esc(r[i]) + "=" + fmt_score(r[i + 1].decode()) for i in range(0, len(r), 2))
    if typ == "stream":
        return []
    raise AssertionError("unexpected type %r" % typ)


def redis_dump_lines(c, dbs=16):
    """Same format as cairn-rdb-check's dump, built from Redis's replies."""
    lines = []
    for db in range(dbs):
        assert_eq(c.call("SELECT", db), "OK")
        for key in c.call("KEYS", "*"):
            typ = str(c.call("TYPE", key))
            exp = c.call("PEXPIRETIME", key)
            parts = ["%d" % db, typ, esc(key), "%d" % exp] + value_elems(c, key, typ)
            lines.append(" ".join(parts))
    c.call("SELECT", 0)
    return sorted(lines, key=lambda s: s.encode())


def tool_dump_lines(path, chunk=None):
    args = ([] if chunk is None else ["--chunk", str(chunk)]) + [path]
    out = run_tool(*args).stdout.decode()
    return [l for l in out.split("\n") if l]


def populate(c):
    """Keys of every type and encoding Redis 7.0 writes."""
    far = 4102444800000
    p = []
    p.append(["SET", "str:plain", "hello"])
    for i, v in enumerate(["0", "-1", "127", "-128", "128", "32767", "-32768", "32768", "2147483647",
                           "-2147483648", "2147483648", "12345678901", "-12345678901", "007", "1e3"]):
        p.append(["SET", "str:int:%d" % i, v])
    p.append(["SET", "str:lzf", "abcdefgh" * 500])
    p.append(["SET", "str:big", os.urandom(20000)])
    p.append(["SET", b"bin\x00key\xff", b"\x00\x01\x02 \\=\r\n"])
    p.append(["SET", "str:empty", ""])
    p.append(["SET", "12345", "integer-encoded key"])
    p.append(["SET", "str:ttl", "v", "PXAT", far + 1])
    # lists: one listpack node, several nodes, every int width, plain nodes
    p.append(["RPUSH", "list:small", "a", "b", "1", "-1", "300", "-5000", "70000", "-9000000",
              "3000000000", "-9223372036854775808", "9223372036854775807", "x" * 70, "y" * 5000])
    p.append(["RPUSH", "list:many"] + ["item-%d" % i if i % 2 else "%d" % (i * 1000) for i in range(5000)])
    p.append(["RPUSH", "list:lzf"] + ["compressible-element-%03d" % (i % 10) for i in range(300)])
    p.append(["RPUSH", "list:ttl", "x"])
    p.append(["PEXPIREAT", "list:ttl", far + 2])
    # sets: intset (16/32/64-bit), hashtable, big intset -> hashtable
    p.append(["SADD", "set:int16", "1", "2", "-300", "32000"])
    p.append(["SADD", "set:int32", "1", "100000", "-2000000000"])
    p.append(["SADD", "set:int64", "1", "5000000000", "-9223372036854775808"])
    p.append(["SADD", "set:str", "a", "b", "c", "1"])
    p.append(["SADD", "set:bigint"] + ["%d" % i for i in range(1000)])
    p.append(["SADD", "set:intset:lzf"] + ["%d" % (i * 10) for i in range(300)])
    # hashes: listpack, listpack compressed, hashtable (count, long value)
    p.append(["HSET", "hash:small", "f1", "v1", "n", "12", "neg", "-7", "", "empty"])
    p.append(["HSET", "hash:lzf"] + sum([["field%02d" % i, "value-value-value"] for i in range(40)], []))
    p.append(["HSET", "hash:big"] + sum([["f%d" % i, "%d" % i] for i in range(300)], []))
    p.append(["HSET", "hash:longval", "k", "z" * 100])
    # zsets: listpack (int and text scores, inf), skiplist (count, long member)
    p.append(["ZADD", "zset:small", "1", "one", "2.5", "twohalf", "-3", "neg", "inf", "pinf", "-inf", "ninf",
              "0.1", "tenth", "1e300", "huge"])
    p.append(["ZADD", "zset:big"] + sum([["%r" % (i * 0.37 - 20), "m%d" % i] for i in range(300)], []))
    p.append(["ZADD", "zset:longmember", "5", "m" * 100])
    # a stream with a consumer group, a PEL and consumers
    p.append(["XADD", "stream:1", "1-1", "a", "1"])
    p.append(["XADD", "stream:1", "2-1", "b", "2", "c", "3"])
    p.append(["XGROUP", "CREATE", "stream:1", "g1", "0"])
    p.append(["XGROUP", "CREATE", "stream:1", "g2", "$"])
    p.append(["XREADGROUP", "GROUP", "g1", "alice", "COUNT", "1", "STREAMS", "stream:1", ">"])
    p.append(["XREADGROUP", "GROUP", "g1", "bob", "STREAMS", "stream:1", ">"])
    p.append(["XADD", "stream:empty", "MAXLEN", "0", "*", "x", "y"])
    # other dbs
    p.append(["SELECT", 1])
    p.append(["SET", "db1:key", "one"])
    p.append(["HSET", "db1:hash", "a", "b"])
    p.append(["SELECT", 15])
    p.append(["SET", "db15:key", "fifteen", "PXAT", far + 3])
    p.append(["SELECT", 0])
    for cmd in p:
        r = c.call(*cmd)
        assert_true(not is_error(r), "%r -> %r" % (cmd[:3], r))
    lib = "#!lua name=cairnlib\nredis.register_function('cairnf', function(keys, args) return 1 end)"
    assert_eq(c.call("FUNCTION", "LOAD", lib), b"cairnlib")


def check_rdb_ok(path):
    checker = shutil.which("redis-check-rdb")
    assert_true(checker is not None, "redis-check-rdb not found: install redis-tools "
                "(sh scripts/install-deps.sh --with-tests)")
    p = subprocess.run([checker, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode(errors="replace")
    assert_true(p.returncode == 0 and "RDB looks OK" in out, "redis-check-rdb %s:\n%s" % (path, out))


@test(timeout=300)
def redis_written_rdb_parses_like_redis_reads_it():
    with RedisServer({"enable-debug-command": "yes", "enable-protected-configs": "yes"}) as r:
        c = r.conn()
        # plain quicklist nodes: elements above 1000 bytes
        assert_eq(c.call("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1000"), "OK")
        populate(c)
        c.call("RPUSH", "list:plain", "small", "P" * 3000, "Q" * 1500, "small2")
        expected = redis_dump_lines(c)
        files = []
        for policy in ("noeviction", "allkeys-lru", "allkeys-lfu"):
            assert_eq(c.call("CONFIG", "SET", "maxmemory-policy", policy), "OK")
            name = "dump-%s.rdb" % policy
            assert_eq(c.call("CONFIG", "SET", "dbfilename", name), "OK")
            assert_eq(c.call("SAVE"), "OK")
            files.append(os.path.join(r.dir, name))
        assert_eq(c.call("CONFIG", "SET", "rdbcompression", "no"), "OK")
        assert_eq(c.call("CONFIG", "SET", "dbfilename", "dump-nocomp.rdb"), "OK")
        assert_eq(c.call("SAVE"), "OK")
        files.append(os.path.join(r.dir, "dump-nocomp.rdb"))
        # DUMP payloads of every key, for the payload test below
        payloads = {}
        for db in range(16):
            c.call("SELECT", db)
            for k in c.call("KEYS", "*"):
                payloads[(db, k)] = (str(c.call("TYPE", k)), c.call("DUMP", k))
        c.call("SELECT", 0)
        assert_true(any(l.split(" ")[1] == "stream" for l in expected))
        for f in files:
            data = open(f, "rb").read()
            assert_true(data.startswith(b"REDIS0010"))
            got = tool_dump_lines(f)
            assert_eq(got, expected, "cairn reader on %s" % os.path.basename(f))
        # every encoding 7.0 writes is in the fixture; IDLE/FREQ under LRU/LFU
        def types(f):
            line = [l for l in run_tool("--types", f).stdout.decode().split("\n") if l.startswith("types ")][0]
            return dict(x.split(":") for x in line.split(" ")[1:])
        t = types(files[0])
        for code in ("0", "2", "4", "5", "11", "16", "17", "18", "19"):
            assert_true(code in t, "type %s missing from Redis's file: %r" % (code, t))
        assert_eq((t["idle"], t["freq"]), ("0", "0"))
        assert_true(int(types(files[1])["idle"]) > 30)
        assert_true(int(types(files[2])["freq"]) > 30)
        # incremental parsing of a real file, odd chunk sizes
        for chunk in (1, 7, 4093):
            assert_eq(tool_dump_lines(files[0], chunk), expected, "chunk %d" % chunk)
        aux = [l for l in run_tool("--aux", files[0]).stdout.decode().split("\n") if l.startswith("aux ")]
        names = [l.split(" ")[1] for l in aux]
        assert_eq(names[:4], ["redis-ver", "redis-bits", "ctime", "used-mem"])
        assert_true("aux redis-ver 7.0.15" in aux, aux)
        # the file has LZF strings: rdbcompression=no gives a bigger one
        assert_true(os.path.getsize(files[0]) < os.path.getsize(files[-1]))
        # DUMP payloads from Redis parse to the same values
        tmp = tempfile.mkdtemp(prefix="cairn-rdb-")
        try:
            for (db, k), (typ, payload) in payloads.items():
                path = os.path.join(tmp, "p.dump")
                with open(path, "wb") as fh:
                    fh.write(payload)
                out = run_tool("--parse-dump", path).stdout.decode().rstrip("\n")
                line = [l for l in expected if l.split(" ")[0] == str(db) and l.split(" ")[2] == esc(k)][0]
                parts = line.split(" ")
                assert_eq(out, " ".join([parts[1]] + parts[4:]), "DUMP of %r" % k)
            # corrupted payload: CRC error
            bad = bytearray(payloads[(0, b"hash:small")][1])
            bad[3] ^= 1
            with open(path, "wb") as fh:
                fh.write(bytes(bad))
            p = run_tool("--parse-dump", path, check=False)
            assert_true(p.returncode == 1 and b"ERR DUMP payload version or checksum are wrong" in p.stderr, p.stderr)
        finally:
            shutil.rmtree(tmp)
        # truncations of a real file are errors, never crashes
        data = open(files[0], "rb").read()
        tmp = tempfile.mkdtemp(prefix="cairn-rdb-")
        try:
            for cut in (5, 9, 10, 100, len(data) // 2, len(data) - 9, len(data) - 1):
                path = os.path.join(tmp, "cut.rdb")
                with open(path, "wb") as fh:
                    fh.write(data[:cut])
                p = run_tool(path, check=False)
                assert_true(p.returncode == 1 and b"truncated" in p.stderr, (cut, p.stderr))
        finally:
            shutil.rmtree(tmp)


def start_with_rdb(src, name):
    d = tempfile.mkdtemp(prefix="cairn-rdb-data-")
    shutil.copy(src, os.path.join(d, name))
    return d


@test(timeout=300)
def cairn_written_rdb_loads_into_redis():
    tmp = tempfile.mkdtemp(prefix="cairn-rdb-")
    try:
        path = os.path.join(tmp, "sample.rdb")
        run_tool("--write-sample", path)
        check_rdb_ok(path)
        expected = tool_dump_lines(path)
        assert_true(len(expected) > 20)
        d = start_with_rdb(path, "sample.rdb")
        try:
            with RedisServer({"dbfilename": "sample.rdb"}, dir=d) as r:
                c = r.conn()
                got = redis_dump_lines(c)
                assert_eq(got, expected, "redis loaded cairn's RDB")
                log = r.log_text()
                assert_true("Done loading RDB" in log, log)
                # Redis picked its own compact encodings on load
                assert_eq(c.call("OBJECT", "ENCODING", "hash:small"), b"listpack")
                assert_eq(c.call("OBJECT", "ENCODING", "set:ints"), b"intset")
                assert_eq(c.call("OBJECT", "ENCODING", "zset:big"), b"skiplist")
                assert_eq(c.call("OBJECT", "ENCODING", "list:big"), b"quicklist")
        finally:
            shutil.rmtree(d)
    finally:
        shutil.rmtree(tmp)


@test(timeout=120)
def cairn_dump_payloads_restore_into_redis():
    tmp = tempfile.mkdtemp(prefix="cairn-rdb-")
    try:
        run_tool("--write-dumps", tmp)
        files = sorted(glob.glob(os.path.join(tmp, "*.dump")))
        assert_true(len(files) >= 9)
        with RedisServer() as r:
            c = r.conn()
            for f in files:
                name = os.path.basename(f)[:-5]
                payload = open(f, "rb").read()
                assert_eq(c.call("RESTORE", name, 0, payload), "OK", name)
                typ = str(c.call("TYPE", name))
                got = " ".join([typ] + value_elems(c, name, typ))
                assert_eq(got, run_tool("--parse-dump", f).stdout.decode().rstrip("\n"), name)
                # and Redis's DUMP of it parses back to the same thing
                back = os.path.join(tmp, "back.dump")
                with open(back, "wb") as fh:
                    fh.write(c.call("DUMP", name))
                assert_eq(run_tool("--parse-dump", back).stdout.decode().rstrip("\n"), got, name + " (redis DUMP)")
            bad = bytearray(open(files[0], "rb").read())
            bad[-1] ^= 0x55
            assert_error(c.call("RESTORE", "bad", 0, bytes(bad)), "ERR DUMP payload version or checksum are wrong")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    run_tests()
