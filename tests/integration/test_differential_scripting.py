"""Differential tests: EVAL/EVALSHA/EVAL_RO/SCRIPT, cairn vs redis-server 7.0.
A corpus of scripts: conversions both ways (RESP2 and RESP3, redis.setresp),
errors (runtime, compile, sandbox, redis.call vs redis.pcall, error_reply,
status_reply), cjson/cmsgpack/struct/bit round trips, shebang flags,
scripts that write then error (their writes stay, like Redis), math.random.

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_scripting.py [name...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests  # noqa: E402
from differential import compare  # noqa: E402


def E(script, *keys_and_args, nkeys=0):
    return ["EVAL", script, str(nkeys)] + [str(a) for a in keys_and_args]


CONVERSIONS = [
    ["SET", "s", "abc"], ["RPUSH", "l", "a", "b", "c"], ["HSET", "h", "f", "v"], ["ZADD", "z", "1.5", "m"],
    E("return 1"), E("return -3.99"), E("return 'str'"), E("return true"), E("return false"), E("return nil"),
    E("return {1, 2, 3, 'x', {4, {5}}}"), E("return {1, 2, nil, 4}"), E("return {}"),
    E("return {err='custom error'}"), E("return {err=3}"), E("return {ok='fine'}"), E("return {ok='a\\r\\nb'}"),
    E("return {double=3.5}"), E("return {big_number='12345678901234567890'}"),
    E("return {map={a=1}}"), E("return {set={a=true}}"),
    E("return {verbatim_string={format='txt', string='hello'}}"),
    E("return redis.status_reply('OKAY')"), E("return redis.error_reply('MYERR something')"),
    E("return redis.error_reply('-ERR dash')"), E("return redis.error_reply('noprefix')"),
    E("return redis.call('get', KEYS[1])", "s", nkeys=1), E("return redis.call('get', 'nokey')"),
    E("return redis.call('lrange', KEYS[1], 0, -1)", "l", nkeys=1), E("return redis.call('hgetall', 'h')"),
    E("return redis.call('zrange', 'z', 0, -1, 'withscores')"), E("return redis.call('ping')"),
    E("return redis.call('set', 'x', 'y')"), E("return type(redis.call('set', 'x', 'y'))"),
    E("return redis.call('set', 'x', 'y')['ok']"), E("return redis.call('incrby', 'n', 5)"),
    E("return redis.call('set', 'f', 1.5)"), E("return redis.call('get', 'f')"),
    E("return redis.call('set', 'f', 0.1)"), E("return redis.call('get', 'f')"),
    E("return type(redis.call('get', 'nokey'))"), E("return redis.call('exists', 'nokey', 's')"),
    E("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", "k1", "k2", "a1", "a2", nkeys=2),
    E("redis.setresp(3); return redis.call('hgetall', 'h')"),
    E("redis.setresp(3); return redis.call('zscore', 'z', 'm')"),
    E("redis.setresp(3); return redis.call('get', 'nokey')"),
    E("redis.setresp(3); return {true, false}"),
    E("redis.setresp(3); return type(redis.call('get', 'nokey'))"),
    E("redis.setresp(3); local t = redis.call('hgetall', 'h'); return t['map']['f']"),
    E("redis.setresp(3); return redis.call('smembers', 'nokey')"),
    E("return redis.setresp(4)"),
    E("return redis.sha1hex('')"), E("return redis.sha1hex('hello world')"), E("return redis.sha1hex()"),
    E("return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}"),
    E("return redis.replicate_commands()"), E("return redis.breakpoint()"), E("return redis.debug('x')"),
    E("redis.set_repl(redis.REPL_ALL); return 1"), E("redis.set_repl(99); return 1"),
    E("redis.log(redis.LOG_NOTICE, 'from a script'); return 1"), E("redis.log('x', 'y')"), E("redis.log(99, 'y')"),
]


@test
def conversions_resp2():
    compare(CONVERSIONS, resp=2)


@test
def conversions_resp3():
    compare(CONVERSIONS, resp=3)


ERRORS = [
    ["SET", "s", "abc"],
    E("return redis.call('incr', 's')"), E("return redis.pcall('incr', 's')"),
    E("local r = redis.pcall('incr', 's'); return type(r)"), E("local r = redis.pcall('incr', 's'); return r['err']"),
    E("return redis.call('nosuchcommand')"), E("return redis.pcall('nosuchcommand')"),
    E("return redis.call('get')"), E("return redis.call('get', {})"), E("return redis.call()"),
    E("return redis.call('multi')"), E("return redis.pcall('eval', 'return 1', 0)"),
    E("return redis.call('lpush', 's', 'x')"),
    E("error('boom')"), E("error({err='TABLE error'})"), E("error()"), E("local x = nil; return x.y"),
    E("return pcall(function() error('inner') end)"),
    E("local ok, e = pcall(function() redis.call('incr', 's') end); return e"),
    E("local ok, e = pcall(redis.call, 'nosuch'); return {tostring(ok), e}"),
    E("retur 1"), E("return 1 +"), E("#!lua\nreturn 1"), E("#!lua flags=no-writes\nreturn redis.call('get', 's')"),
    E("#!lua flags=no-writes\nreturn redis.call('set', 's', 'x')"), E("#!lua flags=bad\nreturn 1"),
    E("#!lua foo=bar\nreturn 1"), E("#!python\nreturn 1"), E("#!lua"), E("#!lua flags=allow-oom,allow-stale\nreturn 2"),
    E("#!lua flags=no-cluster\nreturn 3"),
    ["EVAL", "return 1", "-1"], ["EVAL", "return 1", "2", "a"], ["EVAL", "return 1", "x"], ["EVAL", "return 1"],
    ["EVAL_RO", "return redis.call('set', 'a', 'b')", "0"], ["EVAL_RO", "return redis.call('get', 's')", "0"],
    ["EVAL_RO", "return redis.pcall('set', 'a', 'b')", "0"],
    ["EVAL_RO", "#!lua\nreturn redis.call('get', 's')", "0"],
    ["EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get', 's')", "0"],
    ["EVALSHA", "0000000000000000000000000000000000000000", "0"], ["EVALSHA", "abc", "0"],
    ["EVALSHA_RO", "0000000000000000000000000000000000000000", "0"],
    ["SCRIPT", "LOAD", "return 'loaded'"], ["EVALSHA", "4d2ff2e6e5e5cdf6e5bbba2c1b2fa0ab58b74c18", "0"],
    ["SCRIPT", "EXISTS", "4d2ff2e6e5e5cdf6e5bbba2c1b2fa0ab58b74c18", "0000000000000000000000000000000000000000"],
    ["SCRIPT", "LOAD", "retur"], ["SCRIPT", "KILL"], ["SCRIPT", "FLUSH", "BAD"], ["SCRIPT", "FLUSH"],
    ["SCRIPT", "EXISTS", "4d2ff2e6e5e5cdf6e5bbba2c1b2fa0ab58b74c18"], ["SCRIPT", "FOO"], ["SCRIPT"],
]


@test
def errors():
    compare(ERRORS, resp=2)


SANDBOX = [
    E("a = 1"), E("return undefined_var"), E("redis.call = nil"), E("redis = nil"), E("_G = {}"), E("_G.x = 1"),
    E("setmetatable(_G, {})"), E("local m = getmetatable(_G); m.__index = {}"), E("rawset(_G, 'x', 1)"),
    E("string.foo = 1"), E("cjson.foo = 1"), E("cmsgpack.foo = 1"), E("bit.foo = 1"), E("math.foo = 1"),
    E("table.foo = 1"), E("struct.foo = 1"), E("getmetatable('').__index = {}"), E("print('x')"),
    E("return os"), E("return io"), E("return loadfile"), E("return dofile"), E("return debug"),
    E("return type(loadstring)"), E("return loadstring('return 7')()"), E("return ('x'):rep(3)"),
    E("return string.format('%05.1f', 3.14159)"), E("return tostring(1/3)"), E("return tonumber('0x10')"),
    E("local t = {} ; t.x = 1; return t.x"), E("return {math.random(), math.random(100), math.random(5, 10)}"),
    E("math.randomseed(42); return {math.random(1000), math.random(1000)}"),
]


@test
def sandbox():
    compare(SANDBOX, resp=2)


LIBS = [
    E("return cjson.encode({1, 2, 3, {a = 1}})"), E("return cjson.encode({})"), E("return cjson.encode(1/3)"),
    E("return cjson.encode('a\\nb\"c')"), E("return cjson.decode('[1,2,{\"a\":3.5}]')[3].a"),
    E("return cjson.encode(cjson.decode('{\"a\":[1,2,3,{}],\"b\":null}'))"),
    E("return cjson.decode('{bad')"), E("return cjson.encode(cjson.decode('[true,false,null]'))"),
    E("return cmsgpack.pack({1, 2, 3, 'abc', {a = 1}}, 3.5, -1, 1000000, true, false)"),
    E("return cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129,"
      " -32768, -32769, -2147483648, -2147483649)"),
    E("return cmsgpack.pack(1.1, 0.5, string.rep('x', 31), string.rep('x', 32), string.rep('y', 300),"
      " string.rep('z', 70000))"),
    E("local t = {} for i = 1, 20 do t[i] = i end; local m = {} for i = 1, 20 do m['k' .. i] = i end;"
      " return cmsgpack.pack(t, m, {})"),
    E("local t = {cmsgpack.unpack(cmsgpack.pack({1, 2, 3, 'abc'}, 3.5, -1, 1000000, true))}"
      " return {t[1][4], tostring(t[2]), t[3], t[4], tostring(t[5])}"),
    E("local a, b = cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3)); return {a, b}"),
    E("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}"),
    E("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}"),
    E("return cmsgpack.unpack('\\196')"), E("return cmsgpack.unpack('\\193')"), E("return cmsgpack.pack()"),
    E("local d = cmsgpack.unpack(cmsgpack.pack({a = {b = {c = 'deep'}}})); return d.a.b.c"),
    E("local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)"),
    E("return struct.pack('>iHd', 1, 2, 3.5)"), E("return {struct.unpack('>iHd', struct.pack('>iHd', -1, 2, 3.5))}"),
    E("return {struct.unpack('<bBhHlL', struct.pack('<bBhHlL', -1, 255, -2, 65535, -3, 4))}"),
    E("return struct.pack('s', 'zero')"), E("return {struct.unpack('s', 'ab\\0cd')}"),
    E("return {struct.unpack('c0', struct.pack('bc0', 3, 'xyz'))}"),
    E("return {struct.unpack('bc0', struct.pack('bc0', 3, 'xyz'))}"), E("return struct.size('>iHd')"),
    E("return struct.pack('i3', 70000)"), E("return {struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))}"),
    E("return {struct.unpack('i', 'ab')}"), E("return struct.pack('q', 1)"),
    E("return {bit.tohex(65535), bit.band(7, 3), bit.bor(1, 2), bit.bxor(3, 1), bit.lshift(1, 4),"
      " bit.rshift(256, 4), bit.arshift(-256, 4), bit.bnot(0), bit.tobit(2^32 + 1), bit.tohex(-1, 4)}"),
]


@test
def libraries():
    compare(LIBS, resp=2)


WRITES = [
    # a script that writes then errors keeps its writes (no rollback), like Redis
    E("redis.call('set', 'w1', 'v'); redis.call('incr', 'w1')"), ["GET", "w1"],
    E("redis.call('set', 'w2', 'v'); error('after write')"), ["GET", "w2"],
    E("for i = 1, 100 do redis.call('rpush', 'wl', i) end; return redis.call('llen', 'wl')"),
    E("redis.call('select', 3); redis.call('set', 'in3', 'x'); return redis.call('dbsize')"), ["GET", "in3"],
    ["DBSIZE"], ["SELECT", "3"], ["GET", "in3"], ["SELECT", "0"],
    E("return redis.call('blpop', 'emptylist', 0)"), E("return redis.call('brpoplpush', 'emptylist', 'x', 0)"),
    ["MULTI"], E("return redis.call('incr', 'cnt')"), E("return redis.call('incr', 'cnt')"), ["EXEC"],
    ["GET", "cnt"],
    ["WATCH", "wk"], E("return redis.call('set', 'wk', '1')"), ["MULTI"], ["GET", "wk"], ["EXEC"],
    ["MULTI"], ["EVAL", "return 1", "x"], ["EXEC"],
]


@test
def writes_and_transactions():
    compare(WRITES, resp=2)


def _stats(text):
    """INFO errorstats + commandstats + stats, reduced to what must match:
    error counts by code, total_error_replies, and each command's calls,
    rejected_calls and failed_calls (not its times)."""
    out = {}
    for line in (text.decode() if isinstance(text, bytes) else text).splitlines():
        if line.startswith("errorstat_") or line.startswith("total_error_replies:"):
            k, v = line.split(":", 1)
            out[k] = v
        elif line.startswith("cmdstat_"):
            k, v = line.split(":", 1)
            f = dict(x.split("=") for x in v.split(","))
            out[k] = (f["calls"], f["rejected_calls"], f["failed_calls"])
    return sorted(out.items())


STATS = (["INFO", "all"], _stats)
ALLOW_OOM = "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], 'w')"
NO_WRITES = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])"
OOM = [
    # maxmemory: commands that may add data are refused with Redis's OOM
    # error while used_memory is over it (cairn evicts nothing: Redis's
    # noeviction), reads and deletes go on; scripts follow their flags
    ["SET", "x", "123"], ["CONFIG", "RESETSTAT"], ["CONFIG", "SET", "maxmemory", "1"],
    ["SET", "x", "1"], ["INCR", "n"], ["RPUSH", "l", "a"], ["GET", "x"], ["EXISTS", "x"], ["EXPIRE", "x", "100"],
    ["PERSIST", "x"], STATS,
    E("return redis.call('set', KEYS[1], 'y')", "x", nkeys=1), E("return redis.call('get', KEYS[1])", "x", nkeys=1),
    E("return redis.pcall('set', KEYS[1], 'y')", "x", nkeys=1),
    E("local t = redis.pcall('set', KEYS[1], 'y'); return t['err']", "x", nkeys=1), STATS,
    E("#!lua\nreturn 1"), E("#!lua flags=\nreturn 1"), E(ALLOW_OOM, "x", nkeys=1), ["GET", "x"],
    E(NO_WRITES, "x", nkeys=1), ["EVAL_RO", NO_WRITES, "1", "x"], STATS,
    ["MULTI"], ["GET", "x"], ["SET", "x", "2"], ["EXEC"],
    ["MULTI"], ["GET", "x"], ["DEL", "x"], ["EXEC"], STATS,
    ["CONFIG", "SET", "maxmemory", "0"], ["SET", "x", "3"], ["GET", "x"],
    E("#!lua\nreturn redis.call('set', KEYS[1], 'z')", "x", nkeys=1), STATS,
]


@test
def out_of_memory_and_error_stats():
    compare(OOM, resp=2, fresh=True)


ERROR_STATS = [
    # where a script's error is counted: once, where it arose (a rejected
    # call counts as the command's rejected call; a failed call as its failed
    # call), then only as the script's failed call when the script returns it
    ["CONFIG", "RESETSTAT"],
    ["EVAL_RO", "return redis.call('set', 'x', 'y')", "1", "x"], STATS,
    ["EVAL_RO", "return redis.pcall('set', 'x', 'y')", "1", "x"], STATS,
    ["EVAL_RO", "local t = redis.pcall('set', 'x', 'y'); return 1", "1", "x"], STATS,
    E("return redis.call('select', 99)"), E("local t = redis.pcall('select', 99); return 1"), STATS,
    E("return redis.call('nosuchcommand')"), E("return redis.pcall('get')"), STATS,
    E("return redis.error_reply('MY error')"), E("error('plain')"), STATS,
    ["MULTI"], E("return redis.call('select', 99)"), ["EXEC"], STATS,
]


@test
def script_error_stats():
    compare(ERROR_STATS, resp=2, fresh=True)


if __name__ == "__main__":
    run_tests()
