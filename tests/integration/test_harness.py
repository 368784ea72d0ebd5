"""Self-tests of the harness itself (cairn_test.py), using fake_server.py:
reply parsing for every RESP2/RESP3 type, sanitizer-report detection,
hang/crash handling, start failures. Does not need CAIRN_SERVER.

    python3 tests/integration/test_harness.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cairn_test  # noqa: E402
from cairn_test import (test, run_tests, assert_eq, assert_true, assert_error, CairnServer,  # noqa: E402
                        ServerFailure, Status, Error, Double, BigNumber, Verbatim, Map, Set, Push,
                        encode_command, wait_until)

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_server.py")


def fake(mode="clean", **kw):
    return CairnServer(extra_config={"fake-mode": mode}, binary=FAKE, **kw)


def expect_failure(fn, *needles):
    try:
        fn()
    except ServerFailure as e:
        for n in needles:
            assert_true(n in str(e), "%r not in failure message:\n%s" % (n, e))
        return str(e)
    raise AssertionError("expected a ServerFailure")


@test
def encode():
    assert_eq(encode_command("SET", b"k\x00", 12, 1.5),
              b"*4\r\n$3\r\nSET\r\n$2\r\nk\x00\r\n$2\r\n12\r\n$3\r\n1.5\r\n")
    assert_eq(encode_command(["GET", "k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")


@test
def parse_every_type():
    with fake() as s:
        c = s.conn()
        r = [c.call("CANNED", i) for i in range(19)]
        assert_eq(r[0], "OK")
        assert_true(isinstance(r[0], Status) and not isinstance(r[0], Error))
        assert_true(isinstance(r[1], Error) and r[1].message == "ERR bad thing" and r[1].code == "ERR")
        assert_eq(r[2], -42)
        assert_eq(r[3], b"a\x00b")
        assert_eq(r[4], None)
        assert_eq(r[5], None)
        assert_eq(r[6], [1, b"x", []])
        assert_true(isinstance(r[7], Map))
        assert_eq(r[7], Map([("a", 1), (b"b", None)]))
        assert_eq(r[7].get(b"b", "dflt"), None)
        assert_eq(r[7].get("a"), 1)
        assert_true(r[7] != Map([(b"b", None), ("a", 1)]), "Map equality must be ordered")
        assert_true(isinstance(r[8], Set) and r[8] == [2, 1])
        assert_true(isinstance(r[9], Double) and r[9] == 3.25 and r[9].text == "3.25")
        assert_true(r[10] == float("inf"))
        assert_true(r[11] is True and r[12] is False)
        assert_true(isinstance(r[13], BigNumber) and r[13] == 12345678901234567890123)
        assert_true(isinstance(r[14], Verbatim) and r[14].format == "txt" and r[14] == b"ab\r\n")
        assert_true(isinstance(r[15], Push) and r[15] == [b"message", 5])
        assert_eq(r[16], b"hi")
        assert_eq(c.last_attribute, Map([("ttl", 10)]))
        assert_eq(r[17], None)
        assert_true(isinstance(r[18], Error) and r[18] == "ERR a\r\nb c")
        # raw bytes are exact, including across a pipeline
        from fake_server import CANNED
        assert_eq([c.call_raw("CANNED", i) for i in range(19)], CANNED)
        assert_eq(c.pipeline_raw([["CANNED", i] for i in range(19)]), CANNED)
        assert_eq(c.pipeline([["PING"], ["CANNED", 2]]), ["PONG", -42])
        c.send("ALL")
        assert_eq([c.read_raw_reply() for _ in range(19)], CANNED)


@test
def clean_stop_and_restart():
    with fake() as s:
        port, d = s.port, s.dir
        assert_eq(s.conn().call("PING"), "PONG")
        s.restart()
        assert_eq((s.port, s.dir), (port, d))
        assert_eq(s.conn().call("PING"), "PONG")
        s.kill9()
        s.restart()
        assert_eq(s.conn().call("PING"), "PONG")
        assert_true("fake server ready" in s.log_text())
        assert_true(s.log_text(all_starts=True).count("fake server ready") == 3)
    assert_true(not os.path.exists(s.tmp), "temp dir not removed")


@test
def leak_report_fails_graceful_stop():
    s = fake("leak")
    msg = expect_failure(s.stop, "sanitizer report", "ERROR: LeakSanitizer")
    assert_true("detected memory leaks" in msg)
    s.cleanup(force=True)


@test
def leak_report_fails_sigterm():
    s = fake("leak")
    expect_failure(s.sigterm, "ERROR: LeakSanitizer")
    s.cleanup(force=True)


@test
def ubsan_report_fails_stop():
    s = fake("ubsan")
    expect_failure(s.stop, "runtime error:")
    s.cleanup(force=True)


@test
def asan_report_fails_even_after_kill9():
    s = fake("asan")
    expect_failure(s.kill9, "ERROR: AddressSanitizer")
    s.cleanup(force=True)


@test
def kill9_skips_leak_check():
    s = fake("leak")
    s.kill9()          # the leak report would only come at exit: nothing to find
    s.cleanup(force=True)


@test
def with_block_fails_on_report():
    box = []

    def body():
        with fake("leak") as s:
            box.append(s)
            s.conn().ping()
    expect_failure(body, "LeakSanitizer")
    assert_true(os.path.exists(box[0].tmp), "files of a failed server are kept")
    box[0].cleanup(force=True)


@test
def nonzero_exit_fails():
    s = CairnServer(extra_config={"fake-exit-code": 7}, binary=FAKE)
    expect_failure(s.stop, "exited with code 7")
    s.cleanup(force=True)


@test
def crash_is_detected_at_stop():
    s = fake("crash")
    c = s.conn()
    c.send("GET", "x")
    assert_true(c.is_closed_by_server(5))
    wait_until(lambda: not s.is_running(), 5)
    expect_failure(s.stop, "exited with code 3")
    s.cleanup(force=True)


@test(timeout=60)
def hang_at_shutdown_is_killed_and_fails():
    old = cairn_test.STOP_TIMEOUT
    cairn_test.STOP_TIMEOUT = 1.0
    try:
        s = fake("hang")
        expect_failure(s.stop, "did not exit")
        assert_true(not s.is_running())
        s.cleanup(force=True)
    finally:
        cairn_test.STOP_TIMEOUT = old


@test
def start_failure_reports_output():
    code, out = CairnServer.expect_start_failure({"bogus-directive": "x"}, binary=FAKE)
    assert_eq(code, 1)
    assert_true("bad directive 'bogus-directive'" in out, out)
    code, out = CairnServer.expect_start_failure(args=["--bogus", "1"], binary=FAKE)
    assert_eq(code, 1)
    # a config that starts fine is reported as a failure of the expectation
    expect_failure(lambda: CairnServer.expect_start_failure({"fake-mode": "clean"}, binary=FAKE),
                   "started although")


@test
def start_failure_raises_at_construction():
    msg = expect_failure(lambda: CairnServer(extra_config={"bogus-x": "1"}, binary=FAKE),
                         "exited during startup", "bad directive")
    # the files are kept for debugging; the log path is in the message
    import re
    import shutil
    m = re.search(r"log \((/\S+)/server\.0\.log\)", msg)
    assert_true(m is not None, msg)
    shutil.rmtree(m.group(1))


@test
def command_line_override():
    port = cairn_test.free_port()
    with CairnServer(args=["--port", str(port)], binary=FAKE) as s:
        assert_eq(s.port, port)
        assert_eq(s.conn().ping(), "PONG")
        with open(s.conf_path) as f:
            assert_true("port %d\n" % port not in f.read(), "config file should name another port")


@test
def config_quoting():
    lines, seen = cairn_test._config_lines([("logfile", ""), ("requirepass", 'a b"c'),
                                            ("save", ["900", "1"]), "loglevel debug",
                                            ("dropme", None)])
    assert_eq(lines, ['logfile ""', 'requirepass "a b\\"c"', "save 900 1", "loglevel debug"])
    assert_eq(seen["requirepass"], 'a b"c')


@test
def assert_eq_message():
    try:
        assert_eq([1, 2, 3], [1, 2, 4], "lists")
    except AssertionError as e:
        assert_true("lists" in str(e) and "first difference at index 2" in str(e), str(e))
    else:
        raise AssertionError("assert_eq did not fail")
    assert_error(Error("ERR x"), "ERR")


if __name__ == "__main__":
    run_tests()
