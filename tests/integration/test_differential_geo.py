"""GEO commands compared byte for byte with a real redis-server 7.0: the
scores GEOADD stores (ZRANGE WITHSCORES), GEOPOS GEODIST GEOHASH replies,
every search form with its options, STORE/STOREDIST destinations, every
error path, then seeded random point sets searched from random centres
(sorted replies compare exactly; unsorted ones compare as sets, since only
the order of equal distances may differ)."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: E402,F401,F403
from differential import compare  # noqa: E402

SICILY = ["GEOADD", "Sicily", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania",
          12.758489, 38.788135, "edge1", 17.241510, 38.788135, "edge2"]
NYC = ["GEOADD", "nyc", -73.9454966, 40.747533, "lic market", -73.9733487, 40.7648057, "central park n/q/r",
       -73.9903085, 40.7362513, "union square", -74.0131604, 40.7126674, "wtc one",
       -73.7858139, 40.6428986, "jfk", -73.9375699, 40.7498929, "q4", -73.9564142, 40.7480973, 4545]


@test
def geo_add_pos_dist_hash():
    compare([
        NYC,
        ["ZRANGE", "nyc", 0, -1, "WITHSCORES"],
        ["GEOADD", "nyc", -73.9454966, 40.747533, "lic market"],
        ["GEOADD", "nyc", "CH", 40.747533, -73.9454966, "lic market"],
        ["GEOADD", "nyc", "NX", -73.9454966, 40.747533, "lic market"],
        ["GEOADD", "nyc", "XX", -83.9454966, 40.747533, "lic market"],
        ["GEOADD", "nyc", "CH", "NX", -73.9454966, 40.747533, "lic market"],
        ["GEOADD", "nyc", "CH", "XX", -73.9454966, 40.747533, "lic market"],
        ["GEOADD", "nyc", "XX", "CH", 1, 1, "new"],
        ["ZRANGE", "nyc", 0, -1, "WITHSCORES"],
        ["GEOPOS", "nyc", "lic market", "nope", "jfk", "4545"],
        ["GEOPOS", "nyc"],
        ["GEOPOS", "nokey", "a", "b"],
        ["GEOHASH", "nyc", "lic market", "nope", "jfk"],
        ["GEOHASH", "nokey", "a"],
        ["GEOHASH", "nyc"],
        ["GEODIST", "nyc", "lic market", "jfk"],
        ["GEODIST", "nyc", "lic market", "jfk", "km"],
        ["GEODIST", "nyc", "lic market", "jfk", "MI"],
        ["GEODIST", "nyc", "lic market", "jfk", "ft"],
        ["GEODIST", "nyc", "lic market", "lic market"],
        ["GEODIST", "nyc", "lic market", "nope"],
        ["GEODIST", "nokey", "a", "b"],
        ["GEOADD", "p", -5.6, 42.6, "test", 0, 0, "zero", 180, 85.05112878, "ne", -180, -85.05112878, "sw",
         179.9999999, 0.0000001, "x"],
        ["GEOHASH", "p", "test", "zero", "ne", "sw", "x"],
        ["GEOPOS", "p", "test", "zero", "ne", "sw", "x"],
        ["ZRANGE", "p", 0, -1, "WITHSCORES"],
        ["ZADD", "p", 9007199254740992, "huge", -1, "neg", 1.5, "frac"],
        ["GEOPOS", "p", "huge", "neg", "frac"],
        ["GEOHASH", "p", "huge", "neg", "frac"],
        ["GEODIST", "p", "huge", "zero"],
    ], fresh=True, name="geoadd/geopos/geodist/geohash")


@test
def geo_add_pos_resp3():
    compare([NYC, ["GEOPOS", "nyc", "jfk", "nope"], ["GEODIST", "nyc", "jfk", "q4"],
             ["GEORADIUS", "nyc", -73.9798091, 40.7598464, 10, "km", "WITHCOORD", "WITHDIST", "WITHHASH", "ASC"],
             ["GEOSEARCH", "nyc", "FROMMEMBER", "jfk", "BYBOX", 100, 100, "km", "WITHCOORD", "ASC"]],
            resp=3, fresh=True, name="geo resp3")


@test
def geo_errors():
    compare([
        ["SET", "str", "x"],
        ["GEOADD", "str", 1, 1, "a"],
        ["GEOPOS", "str", "a"],
        ["GEODIST", "str", "a", "b"],
        ["GEOHASH", "str", "a"],
        ["GEORADIUS", "str", 1, 1, 1, "km"],
        ["GEORADIUS", "str", 1, 1, 1, "km", "STORE", "d"],
        ["GEOSEARCH", "str", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "km"],
        ["GEOSEARCHSTORE", "d", "str", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "km"],
        ["GEORADIUSBYMEMBER", "str", "m", 1, "km"],
        ["GEOADD", "g", 1, 1],
        ["GEOADD", "g", 1, 1, "a", 2],
        ["GEOADD", "g", "xx", "nx", 1, 1, "a"],
        ["GEOADD", "g", "ch", "xx", "foo", 1, 1, "a"],
        ["GEOADD", "g", 1, 1, "a", "foo", "bar", "b"],
        ["GEOADD", "g", 181, 1, "a"],
        ["GEOADD", "g", 1, 86, "a"],
        ["GEOADD", "g", "nan", 1, "a"],
        ["GEOADD", "g", "inf", 1, "a"],
        ["GEOADD", "g", "ch"],
        ["GEOADD", "g", "ch", "xx", "nx"],
        ["EXISTS", "g"],
        ["GEOADD", "g", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"],
        ["GEODIST", "g", "Palermo", "Catania", "yards"],
        ["GEODIST", "g", "Palermo", "Catania", "km", "extra"],
        ["GEORADIUS", "g", 15, 37, 200, "furlongs"],
        ["GEORADIUS", "g", 15, 37, -1, "km"],
        ["GEORADIUS", "g", 15, 37, "x", "km"],
        ["GEORADIUS", "g", "x", 37, 200, "km"],
        ["GEORADIUS", "g", 15, 91, 200, "km"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "COUNT"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "COUNT", 0],
        ["GEORADIUS", "g", 15, 37, 200, "km", "COUNT", -3],
        ["GEORADIUS", "g", 15, 37, 200, "km", "COUNT", "x"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "ANY"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "ANY", "ASC"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "bogus"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "STORE"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "STORE", "d", "WITHDIST"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "STOREDIST", "d", "WITHHASH"],
        ["GEORADIUS", "g", 15, 37, 200, "km", "STORE", "d", "WITHCOORD"],
        ["GEORADIUS_RO", "g", 15, 37, 200, "km", "STORE", "d"],
        ["GEORADIUSBYMEMBER_RO", "g", "Palermo", 200, "km", "STOREDIST", "d"],
        ["GEORADIUSBYMEMBER", "g", "nope", 200, "km"],
        ["GEORADIUSBYMEMBER", "g", "nope", 200, "km", "STORE", "d"],
        ["GEORADIUSBYMEMBER", "nokey", "nope", 200, "km", "STORE", "d"],
        ["GEORADIUSBYMEMBER", "nokey", "nope", 200, "km"],
        ["GEORADIUSBYMEMBER", "nokey", "nope", 200, "km", "bogus"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "FROMMEMBER", "Palermo", "BYBOX", 6, 6, "km"],
        ["GEOSEARCH", "g", "FROMMEMBER", "Palermo", "FROMLONLAT", 15, 37, "BYBOX", 6, 6, "km"],
        ["GEOSEARCH", "g", "BYBOX", 3, 3, "km", "ASC"],
        ["geosearch", "g", "BYBOX", 3, 3, "km", "ASC"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 3, "km", "BYBOX", 3, 3, "km"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "ASC", "WITHDIST"],
        ["GeoSearch", "g", "FROMLONLAT", 15, 37, "ASC", "WITHDIST"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYBOX", 6, 6, "km", "STOREDIST"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYBOX", 6, 6, "km", "STORE", "d"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYBOX", -6, 6, "km"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYBOX", "x", 6, "km"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYBOX", 6, "y", "km"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYBOX", 6, 6, "parsec"],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 6, "parsec"],
        ["GEOSEARCH", "g", "FROMMEMBER", "nope", "BYRADIUS", 6, "km"],
        ["GEOSEARCH", "nokey", "FROMMEMBER", "nope", "BYRADIUS", 6, "km"],
        ["GEOSEARCH", "nokey", "FROMLONLAT", 15, 37],
        ["GEOSEARCH", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 6, "km", "WITHDIST", "STORE"],
        ["GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 500, "km", "WITHDIST"],
        ["GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 500, "km", "STORE", "d"],
        ["GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 15, 37, "BYRADIUS"],
        ["EXISTS", "d"],
    ], fresh=True, name="geo errors")


@test
def geo_searches():
    base = [NYC, SICILY]
    cmds = list(base)
    centre = [-73.9798091, 40.7598464]
    for unit, r in (("km", 3), ("km", 10), ("m", 5000), ("mi", 4), ("ft", 20000)):
        for opts in ([], ["ASC"], ["DESC"], ["WITHDIST", "ASC"], ["WITHCOORD", "WITHHASH", "DESC"],
                     ["COUNT", 3], ["COUNT", 2, "DESC"], ["COUNT", 3, "ANY"], ["COUNT", 3, "ANY", "ASC"],
                     ["WITHDIST", "WITHCOORD", "WITHHASH", "COUNT", 10, "ASC"]):
            cmds.append(["GEORADIUS", "nyc"] + centre + [r, unit] + opts)
            cmds.append(["GEORADIUS_RO", "nyc"] + centre + [r, unit] + opts)
            cmds.append(["GEORADIUSBYMEMBER", "nyc", "wtc one", r, unit] + opts)
            cmds.append(["GEOSEARCH", "nyc", "FROMLONLAT"] + centre + ["BYBOX", r * 2, r, unit] + opts)
            cmds.append(["GEOSEARCH", "nyc", "FROMMEMBER", "jfk", "BYRADIUS", r * 3, unit] + opts)
    cmds += [
        ["GEORADIUS", "Sicily", 15, 37, 200, "km", "ASC"],
        ["GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYBOX", 400, 400, "km", "ASC"],
        ["GEORADIUS", "Sicily", 15, 37, 200, "km", "STORE", "st"],
        ["ZRANGE", "st", 0, -1, "WITHSCORES"],
        ["GEORADIUS", "Sicily", 15, 37, 200, "km", "STOREDIST", "st", "COUNT", 1, "DESC"],
        ["ZRANGE", "st", 0, -1, "WITHSCORES"],
        ["GEORADIUSBYMEMBER", "Sicily", "Palermo", 500, "km", "STOREDIST", "st2"],
        ["ZRANGE", "st2", 0, -1, "WITHSCORES"],
        ["GEOSEARCHSTORE", "st3", "Sicily", "FROMLONLAT", 15, 37, "BYBOX", 400, 400, "km", "STOREDIST", "ASC",
         "COUNT", 3],
        ["ZRANGE", "st3", 0, -1, "WITHSCORES"],
        ["GEOSEARCHSTORE", "st3", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 1, "m"],
        ["EXISTS", "st3"],
        ["SET", "st4", "string"],
        ["EXPIRE", "st4", 1000],
        ["GEOSEARCHSTORE", "st4", "Sicily", "FROMMEMBER", "edge1", "BYRADIUS", 1000, "km"],
        ["TYPE", "st4"],
        ["TTL", "st4"],
        ["ZRANGE", "st4", 0, -1, "WITHSCORES"],
        ["GEORADIUS", "nokey", 1, 1, 1, "km", "STORE", "st4"],
        ["EXISTS", "st4"],
        ["GEOSEARCHSTORE", "Sicily", "Sicily", "FROMMEMBER", "edge1", "BYRADIUS", 300, "km"],
        ["ZRANGE", "Sicily", 0, -1, "WITHSCORES"],
        ["GEOADD", "users", -47.271613776683807, -54.534504198047678, "user_000000"],
        ["GEORADIUS", "users", 0, 0, 50000, "km", "WITHCOORD"],
        ["GEOADD", "k1", -0.15307903289794921875, 85, "n1", 0.3515625, 85.00019260486917005437, "n2"],
        ["GEORADIUSBYMEMBER", "k1", "n1", 4891.94, "m"],
        ["GEOADD", "k2", 45, 65, "n1", -135, 85.05, "n2"],
        ["GEORADIUSBYMEMBER", "k2", "n1", 5009431, "m"],
        ["GEOADD", "pts", 179.5, 36, "point1", -179.5, 36, "point2"],
        ["GEOSEARCH", "pts", "FROMLONLAT", 179, 37, "BYBOX", 400, 400, "km", "ASC"],
        ["GEOSEARCH", "pts", "FROMLONLAT", -179, 37, "BYBOX", 400, 400, "km", "ASC", "WITHDIST"],
        ["GEORADIUS", "pts", 0, 0, 0, "km"],
        ["GEOSEARCH", "pts", "FROMMEMBER", "point1", "BYBOX", 0, 0, "km", "WITHDIST"],
    ]
    compare(cmds, fresh=True, name="geo searches")


def _sorted_reply(v):
    return sorted(v, key=repr) if isinstance(v, list) else v


def random_geo_commands(seed, npoints, nsearch):
    r = random.Random(seed)
    out = []
    argv = ["GEOADD", "pts"]
    for j in range(npoints):
        argv += [round(r.uniform(-180, 180), r.randint(0, 12)), round(r.uniform(-85, 85), r.randint(0, 12)),
                 "p%d" % j]
    out.append(argv)
    for _ in range(nsearch):
        lon, lat = r.uniform(-180, 180), r.uniform(-85, 85)
        unit = r.choice(["m", "km", "mi", "ft"])
        scale = {"m": 1000, "km": 1, "mi": 0.62, "ft": 3280}[unit]
        radius = r.choice([r.uniform(1, 200), r.uniform(200, 5000), r.uniform(0, 5)]) * scale
        opts = []
        if r.random() < 0.3:
            opts += ["WITHDIST"]
        if r.random() < 0.3:
            opts += ["WITHCOORD"]
        if r.random() < 0.3:
            opts += ["WITHHASH"]
        sort = r.choice([None, "ASC", "DESC"])
        if sort:
            opts.append(sort)
            norm = None
        else:
            norm = _sorted_reply
        if r.random() < 0.3 and sort:
            opts += ["COUNT", r.randint(1, 20)]
        kind = r.randint(0, 3)
        if kind == 0:
            cmd = ["GEORADIUS", "pts", lon, lat, radius, unit] + opts
        elif kind == 1:
            cmd = ["GEOSEARCH", "pts", "FROMLONLAT", lon, lat, "BYBOX", radius * r.uniform(0.5, 2),
                   radius * r.uniform(0.5, 2), unit] + opts
        elif kind == 2:
            cmd = ["GEORADIUSBYMEMBER", "pts", "p%d" % r.randrange(npoints), radius, unit] + opts
        else:
            cmd = ["GEOSEARCH", "pts", "FROMMEMBER", "p%d" % r.randrange(npoints), "BYRADIUS", radius, unit] + opts
        out.append((cmd, norm) if norm else cmd)
        if r.random() < 0.1:
            m = ["p%d" % r.randrange(npoints) for _ in range(3)]
            out.append(["GEOPOS", "pts"] + m)
            out.append(["GEOHASH", "pts"] + m)
            out.append(["GEODIST", "pts", m[0], m[1], unit])
    return out


for _seed in (41, 42):
    def _f(seed=_seed):
        compare(random_geo_commands(seed, 3000, 300), fresh=True, name="random geo seed=%d" % seed, max_report=5)
    test(name="random_geo_seed_%d" % _seed)(_f)


@test
def geo_is_a_zset_for_redis():
    """A geo key written by cairn restores into Redis (DUMP) and answers
    the same searches there."""
    with RedisServer() as rs, CairnServer() as cs:
        rc, cc = rs.conn(), cs.conn()
        cc.call(*NYC)
        rc.call(*NYC)
        assert_eq(rc.call("RESTORE", "copy", 0, cc.call("DUMP", "nyc")), "OK")
        q = ["-73.9798091", "40.7598464", "10", "km", "WITHDIST", "WITHHASH", "ASC"]
        assert_eq(rc.call("GEORADIUS", "copy", *q), cc.call("GEORADIUS", "nyc", *q))
        assert_eq(rc.call("GEORADIUS", "nyc", *q), cc.call("GEORADIUS", "nyc", *q))


@test
def geo_durable():
    """GEOADD (stored as its ZADD) and the STORE forms survive kill -9."""
    with CairnServer() as s:
        c = s.conn()
        c.call(*NYC)
        c.call("GEORADIUS", "nyc", "-73.9798091", "40.7598464", "10", "km", "STOREDIST", "d1")
        c.call("GEOSEARCHSTORE", "d2", "nyc", "FROMMEMBER", "jfk", "BYRADIUS", "30", "km")
        before = [c.call("ZRANGE", k, 0, -1, "WITHSCORES") for k in ("nyc", "d1", "d2")]
        s.restart(kill=True)
        c = s.conn()
        assert_eq([c.call("ZRANGE", k, 0, -1, "WITHSCORES") for k in ("nyc", "d1", "d2")], before)


if __name__ == "__main__":
    run_tests()
