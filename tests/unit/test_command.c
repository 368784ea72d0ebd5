/* Unit tests for engine/command.c: the blocking-timeout parser (Redis
 * 7.0.15's getTimeoutFromObjectOrReply, src/timeout.c; the replies were
 * checked against a real redis-server 7.0.15), the subcommand lookup and
 * errors of container commands, and the flags of execute's special cases. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/buf.h"
#include "engine/command.h"

static const char *secs(const char *s, long long *ms) {
  *ms = -42;
  return cairn_timeout_parse(s, strlen(s), CAIRN_TIMEOUT_SECONDS, ms);
}

static void test_timeout_seconds_round_up(void **state) {
  (void)state;
  long long ms;
  /* 0.0001 s is 1 ms (ceill), not 0 = block for ever */
  assert_null(secs("0.0001", &ms));
  assert_int_equal(ms, 1);
  assert_null(secs("0", &ms));
  assert_int_equal(ms, 0);
  assert_null(secs("0.0", &ms));
  assert_int_equal(ms, 0);
  assert_null(secs("0.5", &ms));
  assert_int_equal(ms, 500);
  assert_null(secs("1", &ms));
  assert_int_equal(ms, 1000);
  assert_null(secs("1.0001", &ms));
  assert_int_equal(ms, 1001);
  assert_null(secs("1.5e1", &ms));
  assert_int_equal(ms, 15000);
  assert_null(secs("0x10", &ms)); /* strtold takes hex, like Redis's string2ld */
  assert_int_equal(ms, 16000);
  assert_null(secs("1e-400", &ms)); /* a long double, not a double: 1 ms */
  assert_int_equal(ms, 1);
  /* ceill(-0.1) is -0: 0 = for ever, as in Redis 7.0 */
  assert_null(secs("-0.0001", &ms));
  assert_int_equal(ms, 0);
  /* large but within long long */
  assert_null(secs("9223372036854775", &ms));
  assert_true(ms == 9223372036854775000LL);
}

static void test_timeout_seconds_errors(void **state) {
  (void)state;
  long long ms;
  assert_string_equal(secs("-1", &ms), "timeout is negative");
  assert_string_equal(secs("-0.5", &ms), "timeout is negative");
  assert_string_equal(secs("abc", &ms), "timeout is not a float or out of range");
  assert_string_equal(secs("", &ms), "timeout is not a float or out of range");
  assert_string_equal(secs(" 1", &ms), "timeout is not a float or out of range");
  assert_string_equal(secs("1 ", &ms), "timeout is not a float or out of range");
  assert_string_equal(secs("nan", &ms), "timeout is not a float or out of range");
  assert_string_equal(secs("1e5000", &ms), "timeout is not a float or out of range");
  /* beyond long long: the x86 conversion gives LLONG_MIN, so "negative" */
  assert_string_equal(secs("1e30", &ms), "timeout is negative");
  assert_string_equal(secs("9223372036854775.808", &ms), "timeout is negative");
  assert_string_equal(secs("inf", &ms), "timeout is negative");
  assert_string_equal(secs("-inf", &ms), "timeout is negative");
  assert_int_equal(ms, -42); /* untouched on error */
}

static void test_timeout_milliseconds(void **state) {
  (void)state;
  long long ms = -42;
  assert_null(cairn_timeout_parse("1500", 4, CAIRN_TIMEOUT_MILLISECONDS, &ms));
  assert_int_equal(ms, 1500);
  assert_null(cairn_timeout_parse("0", 1, CAIRN_TIMEOUT_MILLISECONDS, &ms));
  assert_int_equal(ms, 0);
  assert_string_equal(cairn_timeout_parse("0.5", 3, CAIRN_TIMEOUT_MILLISECONDS, &ms),
                      "timeout is not an integer or out of range");
  assert_string_equal(cairn_timeout_parse("-1", 2, CAIRN_TIMEOUT_MILLISECONDS, &ms), "timeout is negative");
}

static int arg_timeout(cairn_ctx *c, const char *s, int64_t *abs_ms) {
  cairn_str a = {s, strlen(s)};
  return cairn_arg_timeout(c, a, abs_ms);
}

static void test_arg_timeout(void **state) {
  (void)state;
  cairn_buf out = {0};
  cairn_ctx c;
  memset(&c, 0, sizeof(c));
  c.reply.buf = &out;
  c.reply.resp = 2;
  c.now_ms = 1700000000000LL;
  int64_t t = -1;
  assert_int_equal(arg_timeout(&c, "0.0001", &t), 0);
  assert_true(t == c.now_ms + 1);
  assert_int_equal(arg_timeout(&c, "0", &t), 0);
  assert_true(t == 0);
  assert_int_equal(arg_timeout(&c, "2.5", &t), 0);
  assert_true(t == c.now_ms + 2500);
  /* now + timeout beyond int64: the latest time there is (Redis 7.0 wraps
   * and blocks for ever) */
  assert_int_equal(arg_timeout(&c, "9223372036854775", &t), 0);
  assert_true(t == INT64_MAX);
  assert_int_equal(out.len, 0);
  assert_int_equal(arg_timeout(&c, "-1", &t), -1);
  assert_int_equal(arg_timeout(&c, "x", &t), -1);
  const char *want = "-ERR timeout is negative\r\n-ERR timeout is not a float or out of range\r\n";
  assert_int_equal(out.len, strlen(want));
  assert_memory_equal(out.p, want, out.len);
  cairn_buf_free(&out);
}

/* ---------------------------------------------------------------- subcommands */

static int ran; /* which fake handler ran */
static void fn_get(cairn_ctx *c) { ran = 1; }
static void fn_help(cairn_ctx *c) { ran = 2; }

static const cairn_command fake_subs[] = {
    CAIRN_CMD("fake|get", -3, 0, 0, 0, 0, fn_get, "server", "Get", "1.0.0", "parameter"),
    CAIRN_CMD("fake|help", 2, 0, 0, 0, 0, fn_help, "server", "Help", "1.0.0", ""),
    CAIRN_CMD_END,
};
static const cairn_command fake = CAIRN_CMD("fake", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "server",
                                            "A container", "1.0.0", "", .subcommands = fake_subs);

static void test_subcommand_find(void **state) {
  (void)state;
  cairn_str get = {"GeT", 3}, help = {"help", 4}, none = {"fake|get", 8};
  assert_ptr_equal(cairn_subcommand_find(&fake, get), &fake_subs[0]);
  assert_ptr_equal(cairn_subcommand_find(&fake, help), &fake_subs[1]);
  assert_null(cairn_subcommand_find(&fake, none));
  assert_null(cairn_subcommand_find(&fake_subs[0], get)); /* not a container */
}

static void dispatch(cairn_buf *out, int argc, cairn_str *argv) {
  cairn_ctx c;
  memset(&c, 0, sizeof(c));
  c.reply.buf = out;
  c.reply.resp = 2;
  c.cmd = &fake;
  c.argc = argc;
  c.argv = argv;
  ran = 0;
  fake.fn(&c);
}

static void test_subcommand_dispatch(void **state) {
  (void)state;
  cairn_buf out = {0};
  cairn_str a1[] = {{"FAKE", 4}, {"get", 3}, {"x", 1}};
  dispatch(&out, 3, a1);
  assert_int_equal(ran, 1);
  assert_int_equal(out.len, 0);
  dispatch(&out, 2, a1);
  assert_int_equal(ran, 0);
  const char *want = "-ERR wrong number of arguments for 'fake|get' command\r\n";
  assert_int_equal(out.len, strlen(want));
  assert_memory_equal(out.p, want, out.len);
  out.len = 0;
  cairn_str a2[] = {{"fake", 4}, {"nope", 4}};
  dispatch(&out, 2, a2);
  assert_int_equal(ran, 0);
  want = "-ERR unknown subcommand 'nope'. Try FAKE HELP.\r\n";
  assert_int_equal(out.len, strlen(want));
  assert_memory_equal(out.p, want, out.len);
  out.len = 0;
  /* the name in the error is capped at 128 bytes, like Redis's */
  char long_name[200];
  memset(long_name, 'a', sizeof(long_name));
  cairn_str a3[] = {{"fake", 4}, {long_name, sizeof(long_name)}};
  dispatch(&out, 2, a3);
  assert_int_equal(out.len, strlen("-ERR unknown subcommand ''. Try FAKE HELP.\r\n") + 128);
  out.len = 0;
  cairn_ctx c;
  memset(&c, 0, sizeof(c));
  c.reply.buf = &out;
  c.cmd = &fake;
  c.argc = 2;
  c.argv = a2;
  cairn_reply_subcommand_syntax_error(&c);
  want = "-ERR unknown subcommand or wrong number of arguments for 'nope'. Try FAKE HELP.\r\n";
  assert_int_equal(out.len, strlen(want));
  assert_memory_equal(out.p, want, out.len);
  cairn_buf_free(&out);
}

/* ---------------------------------------------------------------- flags */

/* The commands execute treats apart, by flag; these were the lists of names
 * it compared with before (less SSUBSCRIBE and SUNSUBSCRIBE, which cairn
 * does not have). */
static void flagged(uint32_t flag, const char *want) {
  char got[256] = "";
  for (int i = 0; i < cairn_command_count(); i++) {
    const cairn_command *c = cairn_command_at(i);
    if (!(c->flags & flag)) continue;
    if (got[0]) strcat(got, " ");
    strcat(got, c->name);
    for (const cairn_command *s = c->subcommands; s && s->name; s++) assert_false(s->flags & flag);
  }
  assert_string_equal(got, want);
}

static void test_special_flags(void **state) {
  (void)state;
  flagged(CAIRN_CMD_ALLOW_SUBSCRIBED, "ping quit reset subscribe unsubscribe psubscribe punsubscribe ssubscribe sunsubscribe");
  flagged(CAIRN_CMD_NOT_QUEUED, "quit reset multi exec discard watch");
  flagged(CAIRN_CMD_RUNS_QUEUED, "exec");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timeout_seconds_round_up), cmocka_unit_test(test_timeout_seconds_errors),
      cmocka_unit_test(test_timeout_milliseconds),     cmocka_unit_test(test_arg_timeout),
      cmocka_unit_test(test_subcommand_find),          cmocka_unit_test(test_subcommand_dispatch),
      cmocka_unit_test(test_special_flags),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
