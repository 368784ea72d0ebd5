/* Unit tests for engine/resp.c: the incremental request parser, inline
 * argument splitting and every reply writer (RESP2 and RESP3, byte for byte).
 *
 * Inputs handed to the parser are copied into heap blocks of exactly the fed
 * length, so under -fsanitize=address any read past what was fed is caught. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/buf.h"
#include "engine/resp.h"

/* ------------------------------------------------------------ helpers */

#define ERRLEN 128

/* Parses buf[0..len) in one call from a fresh parser, on an exact-size heap
 * copy. Returns the status; fills consumed/err/argv (up to maxargs). */
typedef struct result {
  int rc;
  size_t consumed;
  char err[ERRLEN];
  size_t argc;
  cairn_str argv[64];
  char *copy; /* argv may point into it (multibulk) */
} result;

static void result_free(result *r) {
  free(r->copy);
  r->copy = NULL;
}

static void parse_with(cairn_req_parser *p, const char *buf, size_t len, result *r) {
  memset(r, 0, sizeof(*r));
  r->copy = malloc(len ? len : 1);
  assert_non_null(r->copy);
  if (len) memcpy(r->copy, buf, len);
  r->rc = cairn_req_parse(p, r->copy, len, &r->consumed, r->err, sizeof(r->err));
  if (r->rc == CAIRN_PARSE_OK) {
    r->argc = p->argc;
    assert_true(r->argc <= 64);
    cairn_req_args(p, r->copy, r->argv);
  }
}

static void parse_once(const char *buf, size_t len, result *r) {
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  parse_with(&p, buf, len, r);
  /* argv may point into the parser's inline buffer: keep a copy in r->copy
   * instead (after the input bytes). */
  if (r->rc == CAIRN_PARSE_OK && p.is_inline) {
    size_t total = 0;
    for (size_t i = 0; i < r->argc; i++) total += r->argv[i].len;
    char *c = malloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; i < r->argc; i++) {
      if (r->argv[i].len) memcpy(c + o, r->argv[i].p, r->argv[i].len);
      r->argv[i].p = c + o;
      o += r->argv[i].len;
    }
    free(r->copy);
    r->copy = c;
  }
  cairn_req_parser_free(&p);
}

#define S(lit) lit, sizeof(lit) - 1

static void assert_arg(const cairn_str *a, const char *p, size_t len) {
  if (a->len != len || (len && memcmp(a->p, p, len) != 0)) {
    fail_msg("argument mismatch: got %zu bytes '%.*s', want %zu bytes '%.*s'", a->len, (int)a->len,
             a->p ? a->p : "", len, (int)len, p);
  }
}
#define ASSERT_ARG(a, lit) assert_arg((a), lit, sizeof(lit) - 1)

/* ------------------------------------------------------------ multibulk */

static void test_multibulk_basic(void **state) {
  (void)state;
  result r;
  parse_once(S("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.consumed, 31);
  assert_int_equal(r.argc, 3);
  ASSERT_ARG(&r.argv[0], "SET");
  ASSERT_ARG(&r.argv[1], "k");
  ASSERT_ARG(&r.argv[2], "value");
  result_free(&r);

  /* Only the first command of a pipeline is consumed. */
  parse_once(S("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.consumed, 14);
  assert_int_equal(r.argc, 1);
  ASSERT_ARG(&r.argv[0], "PING");
  result_free(&r);

  /* Empty bulk. */
  parse_once(S("*2\r\n$0\r\n\r\n$1\r\nx\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 2);
  ASSERT_ARG(&r.argv[0], "");
  ASSERT_ARG(&r.argv[1], "x");
  result_free(&r);

  /* Nothing fed yet. */
  parse_once("", 0, &r);
  assert_int_equal(r.rc, CAIRN_PARSE_NEED_MORE);
  result_free(&r);
}

static void test_multibulk_empty(void **state) {
  (void)state;
  result r;
  parse_once(S("*0\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 0);
  assert_int_equal(r.consumed, 4);
  result_free(&r);

  parse_once(S("*-1\r\n*1\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 0);
  assert_int_equal(r.consumed, 5);
  result_free(&r);

  /* Redis's string2ll accepts any negative count here too. */
  parse_once(S("*-5\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 0);
  assert_int_equal(r.consumed, 5);
  result_free(&r);

  /* Header not complete yet. */
  parse_once(S("*0\r"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_NEED_MORE);
  result_free(&r);
  parse_once(S("*0"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_NEED_MORE);
  result_free(&r);
}

static void test_multibulk_binary_args(void **state) {
  (void)state;
  result r;
  static const char cmd[] = "*3\r\n$3\r\nSET\r\n$4\r\n\r\n\r\n\r\n$6\r\na\0b\r\nc\r\n";
  parse_once(cmd, sizeof(cmd) - 1, &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.consumed, sizeof(cmd) - 1);
  assert_int_equal(r.argc, 3);
  ASSERT_ARG(&r.argv[1], "\r\n\r\n");
  ASSERT_ARG(&r.argv[2], "a\0b\r\nc");
  result_free(&r);

  /* A bulk whose trailing CRLF is missing: the parser only counts bytes. */
  parse_once(S("*1\r\n$3\r\nabc"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_NEED_MORE);
  result_free(&r);
  parse_once(S("*1\r\n$3\r\nabc\r"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_NEED_MORE);
  result_free(&r);
}

/* Feeds every prefix of cmd (same buffer start, growing length) to one parser:
 * all but the full command must ask for more; the full one parses. */
static void test_incremental_prefixes(void **state) {
  (void)state;
  static const char cmd[] = "*4\r\n$4\r\nMSET\r\n$11\r\nkey\r\n\r\nkey2\r\n$0\r\n\r\n$12\r\n123456789012\r\n";
  size_t n = sizeof(cmd) - 1;
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  for (size_t i = 0; i < n; i++) {
    /* A fresh heap copy per call: offsets must survive the buffer moving. */
    char *b = malloc(i ? i : 1);
    memcpy(b, cmd, i);
    size_t consumed = 12345;
    char err[ERRLEN];
    assert_int_equal(cairn_req_parse(&p, b, i, &consumed, err, sizeof(err)), CAIRN_PARSE_NEED_MORE);
    free(b);
  }
  char *b = malloc(n);
  memcpy(b, cmd, n);
  size_t consumed = 0;
  char err[ERRLEN];
  assert_int_equal(cairn_req_parse(&p, b, n, &consumed, err, sizeof(err)), CAIRN_PARSE_OK);
  assert_int_equal(consumed, n);
  assert_int_equal(p.argc, 4);
  cairn_str argv[4];
  cairn_req_args(&p, b, argv);
  ASSERT_ARG(&argv[0], "MSET");
  ASSERT_ARG(&argv[1], "key\r\n\r\nkey2");
  ASSERT_ARG(&argv[2], "");
  ASSERT_ARG(&argv[3], "123456789012");
  free(b);
  cairn_req_parser_free(&p);
}

/* A pipeline of multibulk and inline commands arriving one byte at a time
 * into a query buffer that is reallocated as it grows. */
typedef struct expect_cmd {
  const char *wire;
  size_t wirelen;
  int argc;
  const char *args[6];
  size_t lens[6];
} expect_cmd;

static void test_pipeline_byte_by_byte(void **state) {
  (void)state;
  static const expect_cmd cmds[] = {
      {S("*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n"), 3, {"SET", "foo", "bar"}, {3, 3, 3}},
      {S("PING\r\n"), 1, {"PING"}, {4}},
      {S("*0\r\n"), 0, {0}, {0}},
      {S("\r\n"), 0, {0}, {0}},
      {S("set \"a b\" 'c\\'d' \"\\x41\\n\"\n"), 4, {"set", "a b", "c'd", "A\n"}, {3, 3, 3, 2}},
      {S("*2\r\n$3\r\nGET\r\n$5\r\n\r\n\0\r\n\r\n"), 2, {"GET", "\r\n\0\r\n"}, {3, 5}},
      {S("*-1\r\n"), 0, {0}, {0}},
      {S("*1\r\n$0\r\n\r\n"), 1, {""}, {0}},
      {S("\n"), 0, {0}, {0}},
      {S("  QUIT  \r\n"), 1, {"QUIT"}, {4}},
      {S("*2\r\n$4\r\nECHO\r\n$20\r\n01234567890123456789\r\n"), 2, {"ECHO", "01234567890123456789"}, {4, 20}},
  };
  const size_t ncmds = sizeof(cmds) / sizeof(cmds[0]);
  cairn_buf wire = {0};
  for (size_t i = 0; i < ncmds; i++) cairn_buf_append(&wire, cmds[i].wire, cmds[i].wirelen);

  cairn_req_parser p;
  cairn_req_parser_init(&p);
  cairn_buf qb = {0};
  size_t qpos = 0, next = 0;
  for (size_t fed = 0; fed < wire.len; fed++) {
    cairn_buf_putc(&qb, wire.p[fed]);
    /* Move the buffer on every byte so stale pointers would be caught. */
    char *moved = malloc(qb.cap);
    memcpy(moved, qb.p, qb.len);
    free(qb.p);
    qb.p = moved;
    for (;;) {
      size_t consumed = 0;
      char err[ERRLEN];
      int rc = cairn_req_parse(&p, qb.p + qpos, qb.len - qpos, &consumed, err, sizeof(err));
      if (rc == CAIRN_PARSE_NEED_MORE) break;
      assert_int_equal(rc, CAIRN_PARSE_OK);
      assert_true(next < ncmds);
      const expect_cmd *e = &cmds[next];
      assert_int_equal(consumed, e->wirelen);
      /* A command is complete exactly when its last byte arrives. */
      assert_int_equal(qpos + consumed, fed + 1);
      assert_int_equal(p.argc, (size_t)e->argc);
      cairn_str argv[6];
      cairn_req_args(&p, qb.p + qpos, argv);
      for (int a = 0; a < e->argc; a++) assert_arg(&argv[a], e->args[a], e->lens[a]);
      qpos += consumed;
      next++;
      if (qpos == qb.len) break;
    }
  }
  assert_int_equal(next, ncmds);
  assert_int_equal(qpos, wire.len);
  cairn_buf_free(&qb);
  cairn_buf_free(&wire);
  cairn_req_parser_free(&p);
}

/* ------------------------------------------------------------ errors */

static void expect_error(cairn_req_parser *p, const char *buf, size_t len, const char *msg) {
  result r;
  parse_with(p, buf, len, &r);
  if (r.rc != CAIRN_PARSE_ERROR) fail_msg("expected error '%s', got rc %d for '%.*s'", msg, r.rc, (int)len, buf);
  assert_string_equal(r.err, msg);
  result_free(&r);
  /* The parser was reset: a valid command parses next. */
  parse_with(p, S("*1\r\n$4\r\nPING\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 1);
  ASSERT_ARG(&r.argv[0], "PING");
  result_free(&r);
}

static void expect_error_once(const char *buf, size_t len, const char *msg) {
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  expect_error(&p, buf, len, msg);
  cairn_req_parser_free(&p);
}

static void expect_need_more(cairn_req_parser *p, const char *buf, size_t len) {
  result r;
  parse_with(p, buf, len, &r);
  if (r.rc != CAIRN_PARSE_NEED_MORE) fail_msg("expected NEED_MORE, got %d (%s)", r.rc, r.err);
  result_free(&r);
  cairn_req_parser_free(p);
  cairn_req_parser_init(p);
}

static void test_multibulk_count_errors(void **state) {
  (void)state;
  const char *m = "Protocol error: invalid multibulk length";
  expect_error_once(S("*\r\n"), m);
  expect_error_once(S("*abc\r\n"), m);
  expect_error_once(S("*1x\r\n"), m);
  expect_error_once(S("*01\r\n"), m);
  expect_error_once(S("*+1\r\n"), m);
  expect_error_once(S("* 1\r\n"), m);
  expect_error_once(S("*2147483648\r\n"), m);        /* > INT_MAX */
  expect_error_once(S("*9223372036854775807\r\n"), m);
  expect_error_once(S("*9223372036854775808\r\n"), m); /* overflows long long */
  expect_error_once(S("*99999999999999999999999\r\n"), m);
  expect_error_once(S("*-\r\n"), m);
  /* INT_MAX itself is a valid count: the parser then waits for the args. */
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  expect_need_more(&p, S("*2147483647\r\n"));
  expect_need_more(&p, S("*2147483647\r\n$1\r\na\r\n"));
  cairn_req_parser_free(&p);
}

static void test_bulk_length_errors(void **state) {
  (void)state;
  const char *m = "Protocol error: invalid bulk length";
  expect_error_once(S("*1\r\n$\r\n"), m);
  expect_error_once(S("*1\r\n$-1\r\n"), m);
  expect_error_once(S("*1\r\n$abc\r\n"), m);
  expect_error_once(S("*1\r\n$01\r\n"), m);
  expect_error_once(S("*1\r\n$9223372036854775808\r\n"), m);
  expect_error_once(S("*2\r\n$1\r\na\r\n$x\r\n"), m);

  cairn_req_parser p;
  cairn_req_parser_init(&p);
  /* Unlimited (master link): a huge declared length just waits for bytes. */
  expect_need_more(&p, S("*1\r\n$9223372036854775807\r\nabc"));

  p.max_bulk_len = 100;
  expect_error(&p, S("*1\r\n$101\r\n"), m);
  p.max_bulk_len = 100;
  expect_error(&p, S("*1\r\n$9223372036854775807\r\n"), m);
  /* The limit is kept across a reset. */
  assert_true(p.max_bulk_len == 100);
  result r;
  char arg[100];
  memset(arg, 'z', sizeof(arg));
  cairn_buf b = {0};
  cairn_buf_append_str(&b, "*1\r\n$100\r\n");
  cairn_buf_append(&b, arg, sizeof(arg));
  cairn_buf_append(&b, "\r\n", 2);
  parse_with(&p, b.p, b.len, &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argv[0].len, 100);
  result_free(&r);
  cairn_buf_free(&b);
  cairn_req_parser_free(&p);
}

static void test_expected_dollar(void **state) {
  (void)state;
  expect_error_once(S("*1\r\nx3\r\nfoo\r\n"), "Protocol error: expected '$', got 'x'");
  expect_error_once(S("*2\r\n$1\r\na\r\n:1\r\n"), "Protocol error: expected '$', got ':'");
  expect_error_once(S("*1\r\n\r\n"), "Protocol error: expected '$', got '\r'");
  /* Like Redis, the check waits until the line is complete. */
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  expect_need_more(&p, S("*1\r\nx"));
  expect_need_more(&p, S("*1\r\nx3\r"));
  cairn_req_parser_free(&p);
}

static void test_too_big_requests(void **state) {
  (void)state;
  const size_t max = CAIRN_PROTO_INLINE_MAX_SIZE;
  char *big = malloc(max + 16);
  cairn_req_parser p;
  cairn_req_parser_init(&p);

  /* Inline without a newline. */
  memset(big, 'a', max + 16);
  expect_need_more(&p, big, max);
  expect_error(&p, big, max + 1, "Protocol error: too big inline request");
  /* With a newline, a long inline line is fine. */
  big[max + 10] = '\n';
  result r;
  parse_with(&p, big, max + 11, &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.consumed, max + 11);
  assert_int_equal(p.argc, 1);
  result_free(&r);

  /* Multibulk count without its CR. */
  memset(big, '1', max + 16);
  big[0] = '*';
  expect_need_more(&p, big, max);
  expect_error(&p, big, max + 1, "Protocol error: too big mbulk count string");

  /* Bulk count without its CR: counted from the bulk header's start. */
  memset(big, '9', max + 16);
  memcpy(big, "*1\r\n$", 5);
  expect_need_more(&p, big, 4 + max);
  expect_error(&p, big, 4 + max + 1, "Protocol error: too big bulk count string");
  /* Same for the second argument. */
  memcpy(big, "*2\r\n$1\r\na\r\n$", 12);
  expect_need_more(&p, big, 11 + max);
  expect_error(&p, big, 11 + max + 1, "Protocol error: too big bulk count string");

  cairn_req_parser_free(&p);
  free(big);
}

static void test_unauthenticated_limits(void **state) {
  (void)state;
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  p.unauthenticated = 1;
  expect_error(&p, S("*11\r\n"), "Protocol error: unauthenticated multibulk length");
  assert_int_equal(p.unauthenticated, 1);
  expect_need_more(&p, S("*10\r\n"));
  p.unauthenticated = 1;
  expect_error(&p, S("*2\r\n$4\r\nAUTH\r\n$16385\r\n"), "Protocol error: unauthenticated bulk length");
  expect_need_more(&p, S("*2\r\n$4\r\nAUTH\r\n$16384\r\n"));

  /* Once authenticated the same commands are accepted. */
  p.unauthenticated = 0;
  expect_need_more(&p, S("*11\r\n"));
  expect_need_more(&p, S("*1\r\n$16385\r\n"));
  /* Invalid beats unauthenticated (the order Redis checks them in). */
  p.unauthenticated = 1;
  expect_error(&p, S("*2147483648\r\n"), "Protocol error: invalid multibulk length");
  p.unauthenticated = 1;
  p.max_bulk_len = 1000;
  expect_error(&p, S("*1\r\n$20000\r\n"), "Protocol error: invalid bulk length");
  cairn_req_parser_free(&p);
}

/* Redis's string2ll rejects "-0", so "*-0" and "$-0" are protocol errors. */
static void test_negative_zero(void **state) {
  (void)state;
  expect_error_once(S("*-0\r\n"), "Protocol error: invalid multibulk length");
  expect_error_once(S("*1\r\n$-0\r\n\r\n"), "Protocol error: invalid bulk length");
}

/* ------------------------------------------------------------ inline */

static void test_inline_basic(void **state) {
  (void)state;
  result r;
  parse_once(S("SET key value\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.consumed, 15);
  assert_int_equal(r.argc, 3);
  ASSERT_ARG(&r.argv[0], "SET");
  ASSERT_ARG(&r.argv[1], "key");
  ASSERT_ARG(&r.argv[2], "value");
  result_free(&r);

  /* LF alone ends a line too; tabs and runs of spaces separate. */
  parse_once(S("a\t b   c\nPING\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.consumed, 9);
  assert_int_equal(r.argc, 3);
  ASSERT_ARG(&r.argv[2], "c");
  result_free(&r);

  /* No newline yet. */
  parse_once(S("PING\r"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_NEED_MORE);
  result_free(&r);
  parse_once(S("PING"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_NEED_MORE);
  result_free(&r);

  /* Only empty quoted arguments: nothing was copied, yet every argument
   * points somewhere (found by fuzz_resp under UBSan). */
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  char line[] = "\"\" ''\r\n";
  size_t consumed;
  char err[ERRLEN];
  assert_int_equal(cairn_req_parse(&p, line, strlen(line), &consumed, err, sizeof(err)), CAIRN_PARSE_OK);
  assert_int_equal(p.argc, 2);
  cairn_str argv[2];
  cairn_req_args(&p, line, argv);
  assert_non_null(argv[0].p);
  assert_non_null(argv[1].p);
  assert_int_equal(argv[0].len + argv[1].len, 0);
  cairn_req_parser_free(&p);
}

static void test_inline_empty_lines(void **state) {
  (void)state;
  result r;
  static const struct {
    const char *s;
    size_t len, consumed;
  } cases[] = {{S("\r\n"), 2}, {S("\n"), 1}, {S("   \r\n"), 5}, {S("\t \n"), 3}, {S("\n\n"), 1}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    parse_once(cases[i].s, cases[i].len, &r);
    assert_int_equal(r.rc, CAIRN_PARSE_OK);
    assert_int_equal(r.argc, 0);
    assert_int_equal(r.consumed, cases[i].consumed);
    result_free(&r);
  }
}

static void test_inline_quotes(void **state) {
  (void)state;
  result r;
  parse_once(S("set \"hello world\" 'single quoted' \"\"\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 4);
  ASSERT_ARG(&r.argv[1], "hello world");
  ASSERT_ARG(&r.argv[2], "single quoted");
  ASSERT_ARG(&r.argv[3], "");
  result_free(&r);

  /* Escapes inside double quotes. */
  parse_once(S("x \"\\x41\\x7a\\xFF\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 2);
  ASSERT_ARG(&r.argv[1], "Az\xff\n\r\t\b\a\\\"q");
  result_free(&r);

  /* \x with bad hex digits is just an escaped 'x'. */
  parse_once(S("\"\\xZ1\" \"\\x4\"\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 2);
  ASSERT_ARG(&r.argv[0], "xZ1");
  ASSERT_ARG(&r.argv[1], "x4");
  result_free(&r);

  /* Single quotes: only \' is an escape. */
  parse_once(S("'it\\'s' 'a\\nb'\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 2);
  ASSERT_ARG(&r.argv[0], "it's");
  ASSERT_ARG(&r.argv[1], "a\\nb");
  result_free(&r);

  /* A quote inside an unquoted word opens a quoted part. */
  parse_once(S("ab\"c d\"\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 1);
  ASSERT_ARG(&r.argv[0], "abc d");
  result_free(&r);

  /* Embedded CR inside quotes on a CRLF line: only the final CR is dropped. */
  parse_once(S("\"a\rb\"\r\n"), &r);
  assert_int_equal(r.rc, CAIRN_PARSE_OK);
  assert_int_equal(r.argc, 1);
  ASSERT_ARG(&r.argv[0], "a\rb");
  result_free(&r);
}

static void test_inline_unbalanced(void **state) {
  (void)state;
  const char *m = "Protocol error: unbalanced quotes in request";
  expect_error_once(S("set \"abc\r\n"), m);
  expect_error_once(S("set 'abc\n"), m);
  expect_error_once(S("\"abc\"def\n"), m);  /* closing quote must end the word */
  expect_error_once(S("'abc'def\n"), m);
  expect_error_once(S("\"abc\\\"\n"), m);   /* escaped quote does not close */
  expect_error_once(S("\"abc\\\n"), m);     /* trailing backslash */
  expect_error_once(S("'abc\\'\n"), m);
  expect_error_once(S("\"\\x4\n"), m);
}

static void test_split_args(void **state) {
  (void)state;
  cairn_buf out = {0};
  size_t *offs = NULL, *lens = NULL, cap = 0;
  assert_int_equal(cairn_split_args("", 0, &out, &offs, &lens, &cap), 0);
  assert_int_equal(cairn_split_args("   ", 3, &out, &offs, &lens, &cap), 0);
  /* Only len bytes are read. */
  assert_int_equal(cairn_split_args("a b c", 3, &out, &offs, &lens, &cap), 2);
  /* Many arguments: the arrays grow. */
  cairn_buf line = {0};
  for (int i = 0; i < 100; i++) cairn_buf_printf(&line, "arg%d ", i);
  assert_int_equal(cairn_split_args(line.p, line.len, &out, &offs, &lens, &cap), 100);
  assert_true(cap >= 100);
  char want[16];
  for (int i = 0; i < 100; i++) {
    int n = snprintf(want, sizeof(want), "arg%d", i);
    assert_int_equal(lens[i], (size_t)n);
    assert_memory_equal(out.p + offs[i], want, (size_t)n);
  }
  /* Quoted arguments next to each other need a separator. */
  assert_int_equal(cairn_split_args("\"a\" \"b\"", 7, &out, &offs, &lens, &cap), 2);
  assert_int_equal(cairn_split_args("\"a\"\"b\"", 6, &out, &offs, &lens, &cap), -1);
  cairn_buf_free(&line);
  cairn_buf_free(&out);
  free(offs);
  free(lens);
}

/* ------------------------------------------------------------ fuzz */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

/* Mostly protocol-shaped bytes so the deep paths are reached. */
static void random_input(char *b, size_t n) {
  static const char alphabet[] = "*$\r\n0123456789- \"'\\xaZ";
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rnd();
    if (r % 4 == 0)
      b[i] = (char)(r >> 8);
    else
      b[i] = alphabet[(r >> 8) % (sizeof(alphabet) - 1)];
  }
  /* Sometimes make it a well-formed prefix. */
  if (n > 12 && rnd() % 3 == 0) memcpy(b, "*2\r\n$3\r\nGET\r\n", 12);
}

typedef struct outcome {
  int rc;
  size_t consumed;
  char err[ERRLEN];
  size_t argc;
  cairn_buf args; /* len-prefixed concatenation */
} outcome;

/* Parses a stream from data[start..) feeding it with the given split points;
 * records the first non-NEED_MORE outcome. Every call gets an exact-size
 * heap copy of what has arrived. */
static void run_split(cairn_req_parser *p, const char *data, size_t len, const size_t *cuts, size_t ncuts,
                      outcome *o) {
  o->rc = CAIRN_PARSE_NEED_MORE;
  o->args.len = 0;
  for (size_t c = 0; c <= ncuts; c++) {
    size_t have = c < ncuts ? cuts[c] : len;
    char *b = malloc(have ? have : 1);
    memcpy(b, data, have);
    size_t consumed = SIZE_MAX;
    int rc = cairn_req_parse(p, b, have, &consumed, o->err, sizeof(o->err));
    if (rc == CAIRN_PARSE_OK) {
      assert_true(consumed > 0 && consumed <= have);
      o->consumed = consumed;
      o->argc = p->argc;
      cairn_str *argv = calloc(p->argc ? p->argc : 1, sizeof(*argv));
      cairn_req_args(p, b, argv);
      for (size_t i = 0; i < p->argc; i++) {
        if (!p->is_inline) {
          /* Multibulk args point into what was fed. */
          assert_true(argv[i].p >= b && argv[i].p + argv[i].len <= b + consumed);
        }
        uint32_t l = (uint32_t)argv[i].len;
        cairn_buf_append(&o->args, &l, 4);
        cairn_buf_append(&o->args, argv[i].p, argv[i].len);
      }
      free(argv);
    }
    free(b);
    if (rc != CAIRN_PARSE_NEED_MORE) {
      o->rc = rc;
      return;
    }
  }
}

static void test_fuzz_garbage(void **state) {
  (void)state;
  enum { ROUNDS = 50000, MAXLEN = 300 };
  char data[MAXLEN];
  size_t cuts[MAXLEN];
  cairn_req_parser whole, split;
  outcome a = {0}, b = {0};
  for (int round = 0; round < ROUNDS; round++) {
    size_t len = (size_t)(rnd() % MAXLEN);
    random_input(data, len);
    cairn_req_parser_init(&whole);
    cairn_req_parser_init(&split);
    whole.max_bulk_len = split.max_bulk_len = (long long)(rnd() % 3 == 0 ? 0 : rnd() % 64);
    whole.unauthenticated = split.unauthenticated = (int)(rnd() % 2);
    /* Walk the whole stream: each command parsed in one call vs in random
     * pieces must give identical results. */
    size_t pos = 0;
    for (int cmd = 0; cmd < 64 && pos <= len; cmd++) {
      size_t rest = len - pos;
      run_split(&whole, data + pos, rest, NULL, 0, &a);
      size_t ncuts = 0, at = 0;
      while (rest && at < rest && rnd() % 3) {
        at += 1 + (size_t)(rnd() % 8);
        if (at < rest) cuts[ncuts++] = at;
      }
      run_split(&split, data + pos, rest, cuts, ncuts, &b);
      assert_int_equal(a.rc, b.rc);
      if (a.rc == CAIRN_PARSE_ERROR) {
        assert_string_equal(a.err, b.err);
        break;
      }
      if (a.rc == CAIRN_PARSE_NEED_MORE) break;
      assert_int_equal(a.consumed, b.consumed);
      assert_int_equal(a.argc, b.argc);
      assert_int_equal(a.args.len, b.args.len);
      if (a.args.len) assert_memory_equal(a.args.p, b.args.p, a.args.len);
      pos += a.consumed;
    }
    cairn_req_parser_free(&whole);
    cairn_req_parser_free(&split);
  }
  cairn_buf_free(&a.args);
  cairn_buf_free(&b.args);
}

/* ------------------------------------------------------------ replies */

static cairn_buf out2, out3;
static cairn_reply r2 = {&out2, 2}, r3 = {&out3, 3}, rnull = {NULL, 3}, rnull2 = {NULL, 2};

static int reply_setup(void **state) {
  (void)state;
  out2.len = out3.len = 0;
  return 0;
}

static int reply_teardown(void **state) {
  (void)state;
  cairn_buf_free(&out2);
  cairn_buf_free(&out3);
  return 0;
}

static void expect_bytes(cairn_buf *b, const char *want, size_t len) {
  if (b->len != len || memcmp(b->p, want, len) != 0) {
    fail_msg("reply mismatch: got %zu bytes '%.*s', want %zu bytes '%.*s'", b->len, (int)b->len, b->p ? b->p : "",
             len, (int)len, want);
  }
  b->len = 0;
}
#define EXPECT2(lit) expect_bytes(&out2, lit, sizeof(lit) - 1)
#define EXPECT3(lit) expect_bytes(&out3, lit, sizeof(lit) - 1)
/* Calls a writer on the RESP2 reply, the RESP3 reply and both discarding ones. */
#define BOTH(fn, ...)       \
  do {                      \
    fn(&r2, __VA_ARGS__);   \
    fn(&r3, __VA_ARGS__);   \
    fn(&rnull, __VA_ARGS__); \
    fn(&rnull2, __VA_ARGS__); \
  } while (0)
#define BOTH0(fn)  \
  do {             \
    fn(&r2);       \
    fn(&r3);       \
    fn(&rnull);    \
    fn(&rnull2);   \
  } while (0)

static void test_reply_simple(void **state) {
  (void)state;
  BOTH(cairn_reply_status, "PONG");
  EXPECT2("+PONG\r\n");
  EXPECT3("+PONG\r\n");
  BOTH(cairn_reply_status, "");
  EXPECT2("+\r\n");
  EXPECT3("+\r\n");
  BOTH0(cairn_reply_ok);
  EXPECT2("+OK\r\n");
  EXPECT3("+OK\r\n");
  BOTH(cairn_reply_raw, "abc\0", 4);
  EXPECT2("abc\0");
  EXPECT3("abc\0");
  BOTH(cairn_reply_raw, "", 0);
  EXPECT2("");
  EXPECT3("");
}

static void test_reply_error(void **state) {
  (void)state;
  BOTH(cairn_reply_error, "syntax error");
  EXPECT2("-ERR syntax error\r\n");
  EXPECT3("-ERR syntax error\r\n");
  BOTH(cairn_reply_error, "-WRONGTYPE Operation against a key holding the wrong kind of value");
  EXPECT2("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  EXPECT3("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  BOTH(cairn_reply_error, "line one\r\nline two\n\r");
  EXPECT2("-ERR line one  line two  \r\n");
  EXPECT3("-ERR line one  line two  \r\n");
  BOTH(cairn_reply_error, "-NOSCRIPT a\rb\nc");
  EXPECT2("-NOSCRIPT a b c\r\n");
  EXPECT3("-NOSCRIPT a b c\r\n");
  BOTH(cairn_reply_error, "");
  EXPECT2("-ERR \r\n");
  EXPECT3("-ERR \r\n");
  BOTH(cairn_reply_error, "-");
  EXPECT2("-\r\n");
  EXPECT3("-\r\n");
  BOTH(cairn_reply_errorf, "unknown command '%s', with args beginning with: %d", "FOO", 7);
  EXPECT2("-ERR unknown command 'FOO', with args beginning with: 7\r\n");
  EXPECT3("-ERR unknown command 'FOO', with args beginning with: 7\r\n");
  BOTH(cairn_reply_errorf, "-BUSYKEY %s\n", "x");
  EXPECT2("-BUSYKEY x \r\n");
  EXPECT3("-BUSYKEY x \r\n");
  /* A very long formatted error is cut but stays one well-formed line. */
  char big[3000];
  memset(big, 'e', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  cairn_reply_errorf(&r2, "%s", big);
  assert_true(out2.len > 5 && out2.len < 1100);
  assert_memory_equal(out2.p, "-ERR eee", 8);
  assert_memory_equal(out2.p + out2.len - 2, "\r\n", 2);
  for (size_t i = 5; i < out2.len - 2; i++) assert_int_equal(out2.p[i], 'e');
  out2.len = 0;
}

static void test_reply_int_bulk(void **state) {
  (void)state;
  BOTH(cairn_reply_int, 0);
  EXPECT2(":0\r\n");
  EXPECT3(":0\r\n");
  BOTH(cairn_reply_int, -42);
  EXPECT2(":-42\r\n");
  EXPECT3(":-42\r\n");
  BOTH(cairn_reply_int, LLONG_MAX);
  EXPECT2(":9223372036854775807\r\n");
  EXPECT3(":9223372036854775807\r\n");
  BOTH(cairn_reply_int, LLONG_MIN);
  EXPECT2(":-9223372036854775808\r\n");
  EXPECT3(":-9223372036854775808\r\n");

  BOTH(cairn_reply_bulk, "hello", 5);
  EXPECT2("$5\r\nhello\r\n");
  EXPECT3("$5\r\nhello\r\n");
  BOTH(cairn_reply_bulk, "", 0);
  EXPECT2("$0\r\n\r\n");
  EXPECT3("$0\r\n\r\n");
  BOTH(cairn_reply_bulk, NULL, 0);
  EXPECT2("$0\r\n\r\n");
  EXPECT3("$0\r\n\r\n");
  BOTH(cairn_reply_bulk, "a\r\n\0b", 5);
  EXPECT2("$5\r\na\r\n\0b\r\n");
  EXPECT3("$5\r\na\r\n\0b\r\n");
  BOTH(cairn_reply_bulk_str, "bar");
  EXPECT2("$3\r\nbar\r\n");
  EXPECT3("$3\r\nbar\r\n");
  BOTH(cairn_reply_bulk_ll, LLONG_MIN);
  EXPECT2("$20\r\n-9223372036854775808\r\n");
  EXPECT3("$20\r\n-9223372036854775808\r\n");
  BOTH(cairn_reply_bulk_ll, 7);
  EXPECT2("$1\r\n7\r\n");
  EXPECT3("$1\r\n7\r\n");

  /* A bulk bigger than the buffer's growth step. */
  size_t n = 3 << 20;
  char *big = malloc(n);
  memset(big, 'q', n);
  cairn_reply_bulk(&r2, big, n);
  assert_int_equal(out2.len, 10 + n + 2);
  assert_memory_equal(out2.p, "$3145728\r\n", 10);
  assert_memory_equal(out2.p + 10 + n, "\r\n", 2);
  out2.len = 0;
  free(big);
}

static void test_reply_nulls_aggregates(void **state) {
  (void)state;
  BOTH0(cairn_reply_null);
  EXPECT2("$-1\r\n");
  EXPECT3("_\r\n");
  BOTH0(cairn_reply_null_array);
  EXPECT2("*-1\r\n");
  EXPECT3("_\r\n");
  BOTH(cairn_reply_array, 3);
  EXPECT2("*3\r\n");
  EXPECT3("*3\r\n");
  BOTH(cairn_reply_array, 0);
  EXPECT2("*0\r\n");
  EXPECT3("*0\r\n");
  BOTH(cairn_reply_map, 2);
  EXPECT2("*4\r\n");
  EXPECT3("%2\r\n");
  BOTH(cairn_reply_map, 0);
  EXPECT2("*0\r\n");
  EXPECT3("%0\r\n");
  BOTH(cairn_reply_set, 5);
  EXPECT2("*5\r\n");
  EXPECT3("~5\r\n");
  BOTH(cairn_reply_push, 3);
  EXPECT2("*3\r\n");
  EXPECT3(">3\r\n");
  BOTH(cairn_reply_array, 1234567890123LL);
  EXPECT2("*1234567890123\r\n");
  EXPECT3("*1234567890123\r\n");
}

static void test_reply_double(void **state) {
  (void)state;
  BOTH(cairn_reply_double, 1.5);
  EXPECT2("$3\r\n1.5\r\n");
  EXPECT3(",1.5\r\n");
  BOTH(cairn_reply_double, 0.1);
  EXPECT2("$19\r\n0.10000000000000001\r\n");
  EXPECT3(",0.10000000000000001\r\n");
  BOTH(cairn_reply_double, INFINITY);
  EXPECT2("$3\r\ninf\r\n");
  EXPECT3(",inf\r\n");
  BOTH(cairn_reply_double, -INFINITY);
  EXPECT2("$4\r\n-inf\r\n");
  EXPECT3(",-inf\r\n");
  BOTH(cairn_reply_double, 0.0);
  EXPECT2("$1\r\n0\r\n");
  EXPECT3(",0\r\n");
  BOTH(cairn_reply_double, -2.0);
  EXPECT2("$2\r\n-2\r\n");
  EXPECT3(",-2\r\n");
  BOTH(cairn_reply_double, 1e300);
  EXPECT2("$23\r\n1.0000000000000001e+300\r\n");
  EXPECT3(",1.0000000000000001e+300\r\n");
  BOTH(cairn_reply_double, 3.0e-5);
  EXPECT2("$22\r\n3.0000000000000001e-05\r\n");
  EXPECT3(",3.0000000000000001e-05\r\n");
  BOTH(cairn_reply_double, 123456789.0);
  EXPECT2("$9\r\n123456789\r\n");
  EXPECT3(",123456789\r\n");
}

static void test_reply_bool_verbatim(void **state) {
  (void)state;
  BOTH(cairn_reply_bool, 1);
  EXPECT2(":1\r\n");
  EXPECT3("#t\r\n");
  BOTH(cairn_reply_bool, 0);
  EXPECT2(":0\r\n");
  EXPECT3("#f\r\n");
  BOTH(cairn_reply_bool, 7);
  EXPECT2(":1\r\n");
  EXPECT3("#t\r\n");
  BOTH(cairn_reply_verbatim, "# Server\r\nredis_version:7.0.0\r\n", 31);
  EXPECT2("$31\r\n# Server\r\nredis_version:7.0.0\r\n\r\n");
  EXPECT3("=35\r\ntxt:# Server\r\nredis_version:7.0.0\r\n\r\n");
  BOTH(cairn_reply_verbatim, "", 0);
  EXPECT2("$0\r\n\r\n");
  EXPECT3("=4\r\ntxt:\r\n");
}

static void test_reply_deferred(void **state) {
  (void)state;
  /* Deferred array after some earlier output. */
  cairn_reply_ok(&r2);
  size_t m = cairn_reply_defer(&r2);
  assert_int_equal(m, 5);
  cairn_reply_bulk_str(&r2, "a");
  cairn_reply_int(&r2, 1);
  cairn_reply_defer_array(&r2, m, 2);
  EXPECT2("+OK\r\n*2\r\n$1\r\na\r\n:1\r\n");

  /* Map: pairs in RESP3, 2n elements in RESP2. */
  size_t m2 = cairn_reply_defer(&r2), m3 = cairn_reply_defer(&r3);
  assert_int_equal(m2, 0);
  for (int i = 0; i < 3; i++) {
    cairn_reply_bulk_str(&r2, "k");
    cairn_reply_int(&r2, i);
    cairn_reply_bulk_str(&r3, "k");
    cairn_reply_int(&r3, i);
  }
  cairn_reply_defer_map(&r2, m2, 3);
  cairn_reply_defer_map(&r3, m3, 3);
  EXPECT2("*6\r\n$1\r\nk\r\n:0\r\n$1\r\nk\r\n:1\r\n$1\r\nk\r\n:2\r\n");
  EXPECT3("%3\r\n$1\r\nk\r\n:0\r\n$1\r\nk\r\n:1\r\n$1\r\nk\r\n:2\r\n");

  /* Set, empty. */
  m2 = cairn_reply_defer(&r2);
  m3 = cairn_reply_defer(&r3);
  cairn_reply_defer_set(&r2, m2, 0);
  cairn_reply_defer_set(&r3, m3, 0);
  EXPECT2("*0\r\n");
  EXPECT3("~0\r\n");

  /* Nested: the inner header is filled in first, then the outer one. */
  size_t outer = cairn_reply_defer(&r3);
  cairn_reply_int(&r3, 1);
  size_t inner = cairn_reply_defer(&r3);
  cairn_reply_bulk_str(&r3, "x");
  cairn_reply_bulk_str(&r3, "y");
  cairn_reply_defer_set(&r3, inner, 2);
  cairn_reply_defer_array(&r3, outer, 2);
  EXPECT3("*2\r\n:1\r\n~2\r\n$1\r\nx\r\n$1\r\ny\r\n");

  /* A large count and a large body (the insert moves many bytes). */
  m2 = cairn_reply_defer(&r2);
  for (int i = 0; i < 10000; i++) cairn_reply_int(&r2, i % 10);
  cairn_reply_defer_array(&r2, m2, 10000);
  assert_memory_equal(out2.p, "*10000\r\n:0\r\n:1\r\n", 16);
  assert_int_equal(out2.len, 8 + 10000 * 4);
  out2.len = 0;

  /* Discarding replies: marks are harmless. */
  size_t z = cairn_reply_defer(&rnull);
  assert_int_equal(z, 0);
  cairn_reply_bulk_str(&rnull, "ignored");
  cairn_reply_defer_array(&rnull, z, 1);
  cairn_reply_defer_map(&rnull, z, 1);
  cairn_reply_defer_set(&rnull, z, 1);
  cairn_reply_defer_map(&rnull2, cairn_reply_defer(&rnull2), 1);
}

static void test_append_command(void **state) {
  (void)state;
  cairn_buf b = {0};
  cairn_resp_append_command(&b, 0, NULL);
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.p, "*0\r\n", 4);
  b.len = 0;

  cairn_str argv[3] = {{"SET", 3}, {"k\r\n", 3}, {"", 0}};
  cairn_resp_append_command(&b, 3, argv);
  static const char want[] = "*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\n";
  assert_int_equal(b.len, sizeof(want) - 1);
  assert_memory_equal(b.p, want, sizeof(want) - 1);

  /* Appends (does not overwrite), and round-trips through the parser. */
  cairn_str argv2[2] = {{"DEL", 3}, {"\0\xff", 2}};
  cairn_resp_append_command(&b, 2, argv2);
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  size_t consumed;
  char err[ERRLEN];
  assert_int_equal(cairn_req_parse(&p, b.p, b.len, &consumed, err, sizeof(err)), CAIRN_PARSE_OK);
  assert_int_equal(consumed, sizeof(want) - 1);
  assert_int_equal(p.argc, 3);
  assert_int_equal(cairn_req_parse(&p, b.p + consumed, b.len - consumed, &consumed, err, sizeof(err)),
                   CAIRN_PARSE_OK);
  assert_int_equal(p.argc, 2);
  cairn_str got[2];
  cairn_req_args(&p, b.p + (sizeof(want) - 1), got);
  assert_arg(&got[1], "\0\xff", 2);

  /* Random argument vectors round-trip exactly. */
  for (int round = 0; round < 500; round++) {
    b.len = 0;
    int argc = 1 + (int)(rnd() % 8);
    cairn_str av[8];
    char store[8][300];
    for (int i = 0; i < argc; i++) {
      size_t l = (size_t)(rnd() % 300);
      for (size_t j = 0; j < l; j++) store[i][j] = (char)rnd();
      av[i].p = store[i];
      av[i].len = l;
    }
    cairn_resp_append_command(&b, argc, av);
    assert_int_equal(cairn_req_parse(&p, b.p, b.len, &consumed, err, sizeof(err)), CAIRN_PARSE_OK);
    assert_int_equal(consumed, b.len);
    assert_int_equal(p.argc, (size_t)argc);
    cairn_str parsed[8];
    cairn_req_args(&p, b.p, parsed);
    for (int i = 0; i < argc; i++) assert_arg(&parsed[i], av[i].p, av[i].len);
  }
  cairn_req_parser_free(&p);
  cairn_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_multibulk_basic),
      cmocka_unit_test(test_multibulk_empty),
      cmocka_unit_test(test_multibulk_binary_args),
      cmocka_unit_test(test_incremental_prefixes),
      cmocka_unit_test(test_pipeline_byte_by_byte),
      cmocka_unit_test(test_multibulk_count_errors),
      cmocka_unit_test(test_bulk_length_errors),
      cmocka_unit_test(test_expected_dollar),
      cmocka_unit_test(test_too_big_requests),
      cmocka_unit_test(test_unauthenticated_limits),
      cmocka_unit_test(test_negative_zero),
      cmocka_unit_test(test_inline_basic),
      cmocka_unit_test(test_inline_empty_lines),
      cmocka_unit_test(test_inline_quotes),
      cmocka_unit_test(test_inline_unbalanced),
      cmocka_unit_test(test_split_args),
      cmocka_unit_test(test_fuzz_garbage),
      cmocka_unit_test_setup_teardown(test_reply_simple, reply_setup, NULL),
      cmocka_unit_test_setup_teardown(test_reply_error, reply_setup, NULL),
      cmocka_unit_test_setup_teardown(test_reply_int_bulk, reply_setup, NULL),
      cmocka_unit_test_setup_teardown(test_reply_nulls_aggregates, reply_setup, NULL),
      cmocka_unit_test_setup_teardown(test_reply_double, reply_setup, NULL),
      cmocka_unit_test_setup_teardown(test_reply_bool_verbatim, reply_setup, NULL),
      cmocka_unit_test_setup_teardown(test_reply_deferred, reply_setup, NULL),
      cmocka_unit_test(test_append_command),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  reply_teardown(NULL);
  return rc;
}
