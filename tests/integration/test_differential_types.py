"""Differential tests over all collection types (issue 5), cairn vs
redis-server 7.0: seeded random commands over hashes, lists, sets, sorted
sets, generic commands and MULTI/EXEC blocks on small key spaces (wrong types,
empty and huge collections, binary and long members, inf/negative scores,
lex ranges), every reply compared (see differential.py for the generators and
the normalisers used for unordered / random replies).

Run by hand:
    CAIRN_SERVER=build-test/cairn-server python3 tests/integration/test_differential_types.py [name...]
    CAIRN_SERVER=/usr/bin/redis-server python3 tests/integration/test_differential_types.py   # self-check
    CAIRN_DIFF_FAMILIES=hash,set ...     # only these generator families
More seeds: tests/bench/differential_long.sh.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import test, run_tests, assert_true  # noqa: E402
from differential import compare, COLLECTION_FAMILIES  # noqa: E402

# The families this script runs (all of them once every type is on main).
FAMILIES = [f for f in os.environ.get("CAIRN_DIFF_FAMILIES", "hash,list,set,zset,mixed").split(",") if f]

# (family, seed, commands, resp)
PLAN = [
    ("hash", 1, 1500, 2), ("hash", 2, 1500, 2), ("hash", 3, 700, 3),
    ("list", 1, 1500, 2), ("list", 2, 1500, 2), ("list", 3, 700, 3),
    ("set", 1, 1500, 2), ("set", 2, 1500, 2), ("set", 3, 700, 3),
    ("zset", 1, 2000, 2), ("zset", 2, 2000, 2), ("zset", 3, 1000, 3),
    ("mixed", 1, 1500, 2), ("mixed", 2, 1500, 2), ("mixed", 3, 1500, 2), ("mixed", 4, 1000, 3),
]
MIN_TOTAL = 20000


def _register(family, seed, n, resp):
    name = "random_%s_seed_%d%s" % (family, seed, "_resp3" if resp == 3 else "")

    @test(name=name, timeout=600)
    def _run():
        cmds = COLLECTION_FAMILIES[family](seed, n)
        got = compare(cmds, resp=resp, name="%s seed=%d resp=%d" % (family, seed, resp))
        assert_true(got >= n, "only %d commands compared" % got)


for _f, _s, _n, _r in PLAN:
    if _f in FAMILIES:
        _register(_f, _s, _n, _r)


@test
def plan_size():
    # the generators (not only the enabled families) produce >= 20,000 commands per run
    total = sum(len(COLLECTION_FAMILIES[f](s, n)) for f, s, n, _ in PLAN)
    assert_true(total >= MIN_TOTAL, "plan has %d commands" % total)


if __name__ == "__main__":
    run_tests()
