"""WAIT counts a cairn replica only for what is on that replica's disk.

A replica acknowledges (REPLCONF ACK) the offset its WAL has synced, never
one it has only applied (replication/replica.c, acked_offset): a write that
WAIT confirmed survives the replica's own crash. Here the replica's WAL
appends start failing in the middle of a SET + WAIT 1 loop (fault
injection); the replica is then killed and restarted on its own data, and
every write WAIT confirmed must be there."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_test import *  # noqa: F401,F403


def start_with_faults(config, faults):
    old = os.environ.get("CAIRN_FAULTS")
    os.environ["CAIRN_FAULTS"] = faults
    try:
        return CairnServer(config)
    finally:
        if old is None:
            del os.environ["CAIRN_FAULTS"]
        else:
            os.environ["CAIRN_FAULTS"] = old


@test(timeout=120)
def wait_confirms_only_what_the_replica_synced():
    with CairnServer() as master:
        replica = start_with_faults({"replicaof": ["127.0.0.1", master.port]}, "wal.append=12:always:EIO")
        try:
            mc = master.conn()
            assert_true(wait_until(lambda: info_field(mc, "connected_slaves") == "1", 20))
            rc = replica.conn()
            assert_true(wait_until(lambda: info_field(rc, "master_link_status") == "up", 20))
            confirmed, refused = [], 0
            for i in range(40):
                assert_eq(mc.call("SET", "k%d" % i, "v%d" % i), "OK")
                if mc.call("WAIT", 1, 200) == 1:
                    confirmed.append(i)
                else:
                    refused += 1
            assert_true(confirmed, "no write was confirmed before the fault")
            assert_true(refused > 0, "the fault did not stop the replica's acknowledgements")
            assert_true(wait_until(lambda: "wal.append call 12 fails" in replica.log_text(), 10))
            replica.kill9()
            # back on its own data, not following the master any more
            replica.extra_config = None
            replica.start()
            rc = replica.conn()
            missing = [i for i in confirmed if rc.call("GET", "k%d" % i) != ("v%d" % i).encode()]
            assert_eq(missing, [], "writes confirmed by WAIT are missing from the replica's disk")
        finally:
            replica.stop(check=False)
            replica.cleanup()


if __name__ == "__main__":
    run_tests(globals())
