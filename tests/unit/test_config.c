/* Unit tests for engine/config.c. Error texts were checked against a real
 * redis-server 7.0 (CONFIG SET and config-file errors). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cairn_unit.h"
#include "engine/config.h"

/* ---- helpers ------------------------------------------------------------ */

static void tmpdir_make(cairn_tmpdir *t) { assert_int_equal(cairn_tmpdir_make(t, "test-config"), 0); }

static void tmpdir_remove(cairn_tmpdir *t) { assert_int_equal(cairn_tmpdir_remove(t), 0); }

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Returns a heap copy of the file; caller frees. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void expect_conf(const cairn_config *c, const char *name, const char *want) {
  char buf[512];
  int n = cairn_config_format(c, name, buf, sizeof(buf));
  assert_int_equal(n, (int)strlen(want));
  assert_string_equal(buf, want);
}

/* CONFIG SET with NUL-terminated pairs: set(c, err, "name", "value", ..., NULL). */
static int set_pairs(cairn_config *c, char *err, size_t errlen, ...) {
  const char *names[16], *values[16];
  size_t nl[16], vl[16];
  int n = 0;
  va_list ap;
  va_start(ap, errlen);
  const char *name;
  while ((name = va_arg(ap, const char *)) != NULL) {
    names[n] = name;
    values[n] = va_arg(ap, const char *);
    nl[n] = strlen(names[n]);
    vl[n] = strlen(values[n]);
    n++;
  }
  va_end(ap);
  err[0] = '\0';
  return cairn_config_set(c, n, names, nl, values, vl, err, errlen);
}

#define SET_OK(c, ...)                                                    \
  do {                                                                    \
    char e_[512];                                                         \
    int r_ = set_pairs((c), e_, sizeof(e_), __VA_ARGS__, NULL);           \
    if (r_ != 0) fail_msg("CONFIG SET failed unexpectedly: %s", e_);      \
  } while (0)

#define SET_ERR(c, want, ...)                                             \
  do {                                                                    \
    char e_[512];                                                         \
    assert_int_equal(set_pairs((c), e_, sizeof(e_), __VA_ARGS__, NULL), -1); \
    assert_string_equal(e_, (want));                                      \
  } while (0)

/* Collects CONFIG GET output as "name=value;..." */
typedef struct collect {
  char text[8192];
  int count;
} collect;

static void collect_emit(void *ud, const char *name, const char *value, size_t len) {
  collect *c = ud;
  size_t used = strlen(c->text);
  snprintf(c->text + used, sizeof(c->text) - used, "%s=%.*s;", name, (int)len, value);
  c->count++;
}

static int get(const cairn_config *c, collect *out, int n, const char **pats) {
  size_t lens[16];
  for (int i = 0; i < n; i++) lens[i] = strlen(pats[i]);
  memset(out, 0, sizeof(*out));
  int r = cairn_config_get(c, n, pats, lens, collect_emit, out);
  assert_int_equal(r, out->count);
  return r;
}

/* ---- defaults ----------------------------------------------------------- */

static void test_defaults(void **state) {
  (void)state;
  cairn_config c;
  cairn_config_init(&c);
  assert_string_equal(c.bind, "127.0.0.1");
  assert_int_equal(c.port, 6379);
  assert_null(c.unixsocket);
  assert_int_equal(c.unixsocketperm, 0);
  assert_int_equal(c.tcp_backlog, 511);
  assert_int_equal(c.tcp_keepalive, 300);
  assert_int_equal(c.timeout, 0);
  assert_int_equal(c.maxclients, 10000);
  assert_int_equal(c.protected_mode, 1);
  assert_null(c.requirepass);
  assert_int_equal(c.proto_max_bulk_len, 512LL * 1024 * 1024);
  assert_int_equal(c.client_query_buffer_limit, 1024LL * 1024 * 1024);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_NORMAL].hard_bytes, 0);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_REPLICA].hard_bytes, 256LL * 1024 * 1024);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_REPLICA].soft_bytes, 64LL * 1024 * 1024);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_REPLICA].soft_seconds, 60);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_PUBSUB].hard_bytes, 32LL * 1024 * 1024);
  assert_string_equal(c.dir, ".");
  assert_string_equal(c.logfile, "");
  assert_int_equal(c.loglevel, CAIRN_LOG_NOTICE);
  assert_null(c.pidfile);
  assert_int_equal(c.databases, 16);
  assert_int_equal(c.hz, 10);
  assert_int_equal(c.durability, CAIRN_DURABILITY_STRICT);
  assert_int_equal(c.checkpoint_interval_ms, 1000);
  assert_int_equal(c.checkpoint_bytes, 64LL * 1024 * 1024);
  assert_int_equal(c.lmdb_map_size, 1024LL * 1024 * 1024);
  assert_int_equal(c.lmdb_max_map_size, 1024LL * 1024 * 1024 * 1024);
  assert_int_equal(c.backlog_segment_size, 64LL * 1024 * 1024);
  assert_int_equal(c.backlog_retention_bytes, 16LL * 1024 * 1024 * 1024);
  assert_int_equal(c.backlog_retention_seconds, 604800);
  assert_int_equal(c.backlog_max_bytes, 64LL * 1024 * 1024 * 1024);
  assert_int_equal(c.active_expire_effort, 1);
  assert_null(c.config_file);
  expect_conf(&c, "client-output-buffer-limit",
               "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
  expect_conf(&c, "save", "");
  expect_conf(&c, "appendonly", "no");
  expect_conf(&c, "daemonize", "no");
  expect_conf(&c, "io-threads", "1");
  expect_conf(&c, "protected-mode", "yes");
  expect_conf(&c, "proto-max-bulk-len", "536870912");
  expect_conf(&c, "durability", "strict");
  expect_conf(&c, "requirepass", "");
  char small[4];
  assert_int_equal(cairn_config_format(&c, "proto-max-bulk-len", small, sizeof(small)), -1);
  assert_int_equal(cairn_config_format(&c, "no-such-thing", small, sizeof(small)), -1);
  cairn_config_free(&c);
  cairn_config_free(&c); /* idempotent */
}

/* ---- config file -------------------------------------------------------- */

static void test_load_good_file(void **state) {
  (void)state;
  cairn_tmpdir t;
  tmpdir_make(&t);
  char path[128];
  snprintf(path, sizeof(path), "%s/cairn.conf", t.path);
  write_file(path,
             "# a comment\n"
             "\n"
             "   # indented comment\n"
             "PORT 7001\r\n"
             "bind 127.0.0.1 \"::1\"\n"
             "  dir '/tmp/with space'  \n"
             "requirepass \"p\\x41ss\\n\\\"q\\\"\"\n"
             "logfile ''\n"
             "loglevel WARNING\n"
             "protected-mode no\n"
             "proto-max-bulk-len 2mb\n"
             "client-output-buffer-limit pubsub 1mb 512kb 30\n"
             "client-output-buffer-limit slave 1gb 1gb 0\n"
             "save 900 1\n"
             "save 300 10\n"
             "unixsocket /tmp/cairn.sock\n"
             "unixsocketperm 700\n"
             "durability relaxed\n"
             "hz 1000\n"
             "io-threads 4\n"
             "daemonize no\n"
             "appendonly yes\n");
  cairn_config c;
  cairn_config_init(&c);
  char err[256] = "";
  assert_int_equal(cairn_config_load_file(&c, path, err, sizeof(err)), 0);
  assert_int_equal(c.port, 7001);
  assert_string_equal(c.bind, "127.0.0.1 ::1");
  assert_string_equal(c.dir, "/tmp/with space");
  assert_string_equal(c.requirepass, "pAss\n\"q\"");
  assert_string_equal(c.logfile, "");
  assert_int_equal(c.loglevel, CAIRN_LOG_WARNING);
  assert_int_equal(c.protected_mode, 0);
  assert_int_equal(c.proto_max_bulk_len, 2 * 1024 * 1024);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_PUBSUB].hard_bytes, 1024 * 1024);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_PUBSUB].soft_bytes, 512 * 1024);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_PUBSUB].soft_seconds, 30);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_REPLICA].hard_bytes, 1024LL * 1024 * 1024);
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_NORMAL].hard_bytes, 0); /* untouched */
  expect_conf(&c, "save", "900 1 300 10");                                 /* lines accumulate */
  assert_string_equal(c.unixsocket, "/tmp/cairn.sock");
  assert_int_equal(c.unixsocketperm, 0700);
  expect_conf(&c, "unixsocketperm", "700");
  assert_int_equal(c.durability, CAIRN_DURABILITY_RELAXED);
  assert_int_equal(c.hz, 500); /* clamped like Redis */
  expect_conf(&c, "io-threads", "4");
  expect_conf(&c, "appendonly", "yes");
  assert_non_null(c.config_file);
  assert_true(c.config_file[0] == '/');
  assert_non_null(strstr(c.config_file, "cairn.conf"));
  cairn_config_free(&c);
  tmpdir_remove(&t);
}

/* Loads a one-file config and expects the error text exactly. */
static void expect_file_error(const char *text, const char *want_suffix) {
  cairn_tmpdir t;
  tmpdir_make(&t);
  char path[128], want[512];
  snprintf(path, sizeof(path), "%s/bad.conf", t.path);
  write_file(path, text);
  snprintf(want, sizeof(want), "%s:%s", path, want_suffix);
  cairn_config c;
  cairn_config_init(&c);
  char err[512] = "";
  assert_int_equal(cairn_config_load_file(&c, path, err, sizeof(err)), -1);
  assert_string_equal(err, want);
  assert_null(c.config_file);
  cairn_config_free(&c);
  tmpdir_remove(&t);
}

static void test_load_errors(void **state) {
  (void)state;
  expect_file_error("port 7000\n# x\nfoo bar\n", "3: Bad directive or wrong number of arguments");
  expect_file_error("# c\nport \"abc\"\n", "2: argument couldn't be parsed into an integer");
  expect_file_error("port \"0\n", "1: Unbalanced quotes in configuration line");
  expect_file_error("port '0\n", "1: Unbalanced quotes in configuration line");
  expect_file_error("port \"0\"x\n", "1: Unbalanced quotes in configuration line");
  expect_file_error("port 0 1\n", "1: wrong number of arguments");
  expect_file_error("port\n", "1: wrong number of arguments");
  expect_file_error("port 65536\n", "1: argument must be between 0 and 65535 inclusive");
  expect_file_error("port 007\n", "1: argument couldn't be parsed into an integer");
  expect_file_error("protected-mode maybe\n", "1: argument must be 'yes' or 'no'");
  expect_file_error("loglevel x\n",
                    "1: argument(s) must be one of the following: debug, verbose, notice, warning");
  expect_file_error("durability fast\n", "1: argument(s) must be one of the following: strict, relaxed");
  expect_file_error("save 1\n", "1: Invalid save parameters");
  expect_file_error("client-output-buffer-limit normal 1\n",
                    "1: Wrong number of arguments in buffer limit configuration.");
  expect_file_error("client-output-buffer-limit master 1 2 3\n",
                    "1: Invalid client class specified in buffer limit configuration.");
  expect_file_error("proto-max-bulk-len 1x\n", "1: argument must be a memory value");
  expect_file_error("unixsocketperm 999\n", "1: argument couldn't be parsed as an octal number");
  expect_file_error("unixsocketperm 7777\n", "1: argument must be between 0 and 777 inclusive");
  expect_file_error("databases 0\n", "1: argument must be between 1 and 256 inclusive");
  expect_file_error("daemonize yes\n", "1: argument must be 'no' (cairn always runs in the foreground)");
  expect_file_error("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n", "1: Too many bind addresses specified.");

  cairn_config c;
  cairn_config_init(&c);
  char err[256];
  assert_int_equal(cairn_config_load_file(&c, "/nonexistent/cairn.conf", err, sizeof(err)), -1);
  assert_string_equal(err, "/nonexistent/cairn.conf:0: can't open config file: No such file or directory");
  cairn_config_free(&c);
}

/* ---- command line ------------------------------------------------------- */

static int apply(cairn_config *c, char *err, size_t errlen, int argc, const char **argv) {
  err[0] = '\0';
  return cairn_config_apply_args(c, argc, (char **)argv, err, errlen);
}

static void test_args(void **state) {
  (void)state;
  cairn_config c;
  cairn_config_init(&c);
  char err[256];
  const char *a1[] = {"--port", "7001", "--dir", "/tmp/x", "--save", "", "--bind", "10.0.0.1", "10.0.0.2"};
  assert_int_equal(apply(&c, err, sizeof(err), 9, a1), 0);
  assert_int_equal(c.port, 7001);
  assert_string_equal(c.dir, "/tmp/x");
  expect_conf(&c, "save", "");
  assert_string_equal(c.bind, "10.0.0.1 10.0.0.2");

  /* A value may start with "--" when it directly follows its option. */
  const char *a2[] = {"--requirepass", "--secret", "--maxclients", "50"};
  assert_int_equal(apply(&c, err, sizeof(err), 4, a2), 0);
  assert_string_equal(c.requirepass, "--secret");
  assert_int_equal(c.maxclients, 50);

  /* --save followed by another option, or last, means save "". */
  const char *a3[] = {"--save", "100", "1", "200", "2"};
  assert_int_equal(apply(&c, err, sizeof(err), 5, a3), 0);
  expect_conf(&c, "save", "100 1 200 2");
  const char *a4[] = {"--save", "--port", "7002"};
  assert_int_equal(apply(&c, err, sizeof(err), 3, a4), 0);
  expect_conf(&c, "save", "");
  assert_int_equal(c.port, 7002);
  const char *a5[] = {"--save", "5", "1", "--save"};
  assert_int_equal(apply(&c, err, sizeof(err), 4, a5), 0);
  expect_conf(&c, "save", "");

  /* "--port 6380" as one argument. */
  const char *a6[] = {"--port 6380", "--loglevel", "debug"};
  assert_int_equal(apply(&c, err, sizeof(err), 3, a6), 0);
  assert_int_equal(c.port, 6380);
  assert_int_equal(c.loglevel, CAIRN_LOG_DEBUG);

  const char *b1[] = {"--port", "abc"};
  assert_int_equal(apply(&c, err, sizeof(err), 2, b1), -1);
  assert_string_equal(err, "--port: argument couldn't be parsed into an integer");
  const char *b2[] = {"--nope", "1"};
  assert_int_equal(apply(&c, err, sizeof(err), 2, b2), -1);
  assert_string_equal(err, "--nope: Bad directive or wrong number of arguments");
  const char *b3[] = {"7001"};
  assert_int_equal(apply(&c, err, sizeof(err), 1, b3), -1);
  assert_string_equal(err, "'7001': expected an option like --name value");
  const char *b4[] = {"--port"};
  assert_int_equal(apply(&c, err, sizeof(err), 1, b4), -1);
  assert_string_equal(err, "--port: wrong number of arguments");
  const char *b5[] = {"--port", "1", "2"};
  assert_int_equal(apply(&c, err, sizeof(err), 3, b5), -1);
  assert_string_equal(err, "--port: wrong number of arguments");
  assert_int_equal(c.port, 6380);

  /* File then args: args win. */
  cairn_tmpdir t;
  tmpdir_make(&t);
  char path[128];
  snprintf(path, sizeof(path), "%s/c.conf", t.path);
  write_file(path, "port 1000\ntimeout 5\n");
  assert_int_equal(cairn_config_load_file(&c, path, err, sizeof(err)), 0);
  const char *a7[] = {"--port", "2000"};
  assert_int_equal(apply(&c, err, sizeof(err), 2, a7), 0);
  assert_int_equal(c.port, 2000);
  assert_int_equal(c.timeout, 5);
  cairn_config_free(&c);
  tmpdir_remove(&t);
}

/* ---- CONFIG SET --------------------------------------------------------- */

static void test_set_ok(void **state) {
  (void)state;
  cairn_config c;
  cairn_config_init(&c);
  SET_OK(&c, "timeout", "30", "MaxClients", "123", "loglevel", "VERBOSE", "protected-mode", "NO");
  assert_int_equal(c.timeout, 30);
  assert_int_equal(c.maxclients, 123);
  assert_int_equal(c.loglevel, CAIRN_LOG_VERBOSE);
  assert_int_equal(c.protected_mode, 0);
  SET_OK(&c, "proto-max-bulk-len", "2mb", "checkpoint-bytes", "1k", "lmdb-map-size", "2gb");
  assert_int_equal(c.proto_max_bulk_len, 2 * 1024 * 1024);
  assert_int_equal(c.checkpoint_bytes, 1000);
  assert_int_equal(c.lmdb_map_size, 2LL * 1024 * 1024 * 1024);
  SET_OK(&c, "requirepass", "s3cret");
  assert_string_equal(c.requirepass, "s3cret");
  SET_OK(&c, "requirepass", "");
  assert_null(c.requirepass);
  SET_OK(&c, "hz", "0");
  assert_int_equal(c.hz, 1);
  SET_OK(&c, "hz", "1000");
  assert_int_equal(c.hz, 500);
  SET_OK(&c, "maxclients", "4294967295");
  assert_int_equal(c.maxclients, INT_MAX);
  SET_OK(&c, "durability", "relaxed");
  assert_int_equal(c.durability, CAIRN_DURABILITY_RELAXED);
  /* Output buffer limits: only the named classes change; both replica names. */
  SET_OK(&c, "client-output-buffer-limit", "replica 1mb 2mb 3");
  expect_conf(&c, "client-output-buffer-limit",
               "normal 0 0 0 slave 1048576 2097152 3 pubsub 33554432 8388608 60");
  SET_OK(&c, "client-output-buffer-limit", "NORMAL 1 2 3 slave 4 5 6");
  expect_conf(&c, "client-output-buffer-limit", "normal 1 2 3 slave 4 5 6 pubsub 33554432 8388608 60");
  SET_OK(&c, "client-output-buffer-limit", "");
  expect_conf(&c, "client-output-buffer-limit", "normal 1 2 3 slave 4 5 6 pubsub 33554432 8388608 60");
  SET_OK(&c, "save", "100 1 200 2");
  expect_conf(&c, "save", "100 1 200 2");
  SET_OK(&c, "save", "");
  expect_conf(&c, "save", "");
  SET_OK(&c, "appendonly", "yes");
  expect_conf(&c, "appendonly", "yes");
  cairn_config_free(&c);
}

static void test_set_errors(void **state) {
  (void)state;
  cairn_config c;
  cairn_config_init(&c);
  SET_ERR(&c, "ERR Unknown option or number of arguments for CONFIG SET - 'foo'", "foo", "1");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into "
              "an integer",
          "MAXCLIENTS", "abc");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and "
              "4294967295 inclusive",
          "maxclients", "0");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and "
              "4294967295 inclusive",
          "maxclients", "-1");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'Databases') - can't set immutable config",
          "Databases", "7");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config",
          "daemonize", "no");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'durability') - argument(s) must be one of the "
              "following: strict, relaxed",
          "durability", "fast");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter", "timeout", "1",
          "timeout", "2");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'",
          "protected-mode", "");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an "
              "integer",
          "timeout", " 1");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an "
              "integer",
          "timeout", "+1");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and "
              "2147483647 inclusive",
          "timeout", "-1");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between "
              "1048576 and 9223372036854775807 inclusive",
          "proto-max-bulk-len", "10");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between "
              "1048576 and 9223372036854775807 inclusive",
          "proto-max-bulk-len", "");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be a memory "
              "value",
          "proto-max-bulk-len", "-1");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'active-expire-effort') - argument must be between "
              "1 and 10 inclusive",
          "active-expire-effort", "11");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of "
              "arguments in buffer limit configuration.",
          "client-output-buffer-limit", "normal  1 2 3");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Invalid client "
              "class specified in buffer limit configuration.",
          "client-output-buffer-limit", "foo 1 2 3");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Error in hard, "
              "soft or soft_seconds setting in buffer limit configuration.",
          "client-output-buffer-limit", "normal 1x 2 3");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Error in hard, "
              "soft or soft_seconds setting in buffer limit configuration.",
          "client-output-buffer-limit", "normal 1 2 -3");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters", "save", "100");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters", "save",
          "100  1");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters", "save",
          "0 1");
  /* Ordering of errors mirrors Redis 7.0. */
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config",
          "maxclients", "10", "daemonize", "yes", "foo", "1");
  SET_ERR(&c, "ERR Unknown option or number of arguments for CONFIG SET - 'foo'", "foo", "1", "daemonize", "yes");
  SET_ERR(&c, "ERR Unknown option or number of arguments for CONFIG SET - 'foo'", "timeout", "x", "foo", "1");
  /* Duplicate detection is per directive, whatever the spelling. */
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter", "hz", "5", "HZ",
          "6");
  char err[256];
  assert_int_equal(cairn_config_set(&c, 0, NULL, NULL, NULL, NULL, err, sizeof(err)), -1);
  assert_string_equal(err, "ERR wrong number of arguments for 'config|set' command");
  cairn_config_free(&c);
}

static void test_set_all_or_nothing(void **state) {
  (void)state;
  cairn_config c;
  cairn_config_init(&c);
  SET_OK(&c, "requirepass", "old", "save", "10 1");
  char *before_pass = c.requirepass;
  /* Valid values first, the last one invalid: nothing may change. */
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an "
              "integer",
          "timeout", "99", "requirepass", "new", "save", "20 2", "client-output-buffer-limit", "normal 1 1 1",
          "loglevel", "debug", "hz", "fast");
  assert_int_equal(c.timeout, 0);
  assert_ptr_equal(c.requirepass, before_pass); /* not even reallocated */
  assert_string_equal(c.requirepass, "old");
  expect_conf(&c, "save", "10 1");
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_NORMAL].hard_bytes, 0);
  assert_int_equal(c.loglevel, CAIRN_LOG_NOTICE);
  assert_int_equal(c.hz, 10);
  /* The same set without the bad pair applies everything. */
  SET_OK(&c, "timeout", "99", "requirepass", "new", "save", "20 2", "client-output-buffer-limit", "normal 1 1 1",
         "loglevel", "debug", "hz", "20");
  assert_int_equal(c.timeout, 99);
  assert_string_equal(c.requirepass, "new");
  expect_conf(&c, "save", "20 2");
  assert_int_equal(c.obuf_limits[CAIRN_CLIENT_CLASS_NORMAL].hard_bytes, 1);
  assert_int_equal(c.loglevel, CAIRN_LOG_DEBUG);
  assert_int_equal(c.hz, 20);
  cairn_config_free(&c);
}

/* ---- CONFIG GET --------------------------------------------------------- */

static void test_get(void **state) {
  (void)state;
  cairn_config c;
  cairn_config_init(&c);
  collect out;
  const char *all[] = {"*"};
  /* every directive but the 4 hidden ones, and every alias (listed apart) */
  assert_int_equal(get(&c, &out, 1, all), 200);
  assert_true(strncmp(out.text, "bind=127.0.0.1;port=6379;", 25) == 0);

  const char *one[] = {"port"};
  assert_int_equal(get(&c, &out, 1, one), 1);
  assert_string_equal(out.text, "port=6379;");
  /* A plain name is echoed as asked, like Redis. */
  const char *upper[] = {"PORT"};
  assert_int_equal(get(&c, &out, 1, upper), 1);
  assert_string_equal(out.text, "PORT=6379;");

  const char *max[] = {"min-*-max-lag"};
  assert_int_equal(get(&c, &out, 1, max), 2);
  assert_string_equal(out.text, "min-replicas-max-lag=10;min-slaves-max-lag=10;");
  /* a name and its alias are two parameters of a glob's answer */
  const char *hash[] = {"hash-max-*"};
  assert_int_equal(get(&c, &out, 1, hash), 4);
  assert_string_equal(out.text, "hash-max-listpack-entries=512;hash-max-ziplist-entries=512;"
                                "hash-max-listpack-value=64;hash-max-ziplist-value=64;");
  /* hidden directives answer only to their exact name */
  const char *hidden[] = {"rdb-key-save-*"};
  assert_int_equal(get(&c, &out, 1, hidden), 0);
  const char *hidden_exact[] = {"rdb-key-save-delay"};
  assert_int_equal(get(&c, &out, 1, hidden_exact), 1);
  assert_string_equal(out.text, "rdb-key-save-delay=0;");

  /* Several patterns, overlapping: each directive once, in table order. */
  const char *many[] = {"timeout", "tcp-*", "TIMEOUT", "nothing", "t?meout", "hz"};
  assert_int_equal(get(&c, &out, 6, many), 4);
  assert_string_equal(out.text, "tcp-backlog=511;tcp-keepalive=300;timeout=0;hz=10;");

  const char *cls[] = {"[cd]*"};
  assert_int_equal(get(&c, &out, 1, cls), 34);
  const char *none[] = {"zzz*"};
  assert_int_equal(get(&c, &out, 1, none), 0);
  assert_string_equal(out.text, "");

  const char *misc[] = {"save", "appendonly", "client-output-buffer-limit", "unixsocket", "requirepass"};
  get(&c, &out, 5, misc);
  assert_string_equal(out.text, "unixsocket=;requirepass=;client-output-buffer-limit=normal 0 0 0 slave 268435456 "
                                "67108864 60 pubsub 33554432 8388608 60;save=;appendonly=no;");
  /* A NULL emitter just counts. */
  size_t l = 1;
  assert_int_equal(cairn_config_get(&c, 1, all, &l, NULL, NULL), 200);
  cairn_config_free(&c);
}

static void all_values(const cairn_config *c, collect *out);

/* ---- Redis 7.0 parameters (texts checked against redis-server 7.0.15) ---- */

static void test_redis_params(void **state) {
  (void)state;
  cairn_config c;
  cairn_config_init(&c);
  assert_int_equal(c.hash_max_listpack_entries, 512);
  assert_int_equal(c.zset_max_listpack_entries, 128);
  assert_int_equal(c.maxmemory_policy, CAIRN_MAXMEMORY_NOEVICTION);
  SET_OK(&c, "hash-max-ziplist-entries", "16", "zset-max-ziplist-value", "1k");
  assert_int_equal(c.hash_max_listpack_entries, 16);
  assert_int_equal(c.zset_max_listpack_value, 1000);
  SET_ERR(&c,
          "ERR CONFIG SET failed (possibly related to argument 'hash-max-ziplist-entries') - argument must be "
          "between 0 and 9223372036854775807 inclusive",
          "HASH-MAX-ZIPLIST-ENTRIES", "-1");
  /* notify-keyspace-events: Redis's canonical form */
  SET_OK(&c, "notify-keyspace-events", "KEA");
  expect_conf(&c, "notify-keyspace-events", "AKE");
  assert_int_equal(c.notify_keyspace_events, CAIRN_NOTIFY_ALL | CAIRN_NOTIFY_KEYSPACE | CAIRN_NOTIFY_KEYEVENT);
  SET_OK(&c, "notify-keyspace-events", "Exn");
  expect_conf(&c, "notify-keyspace-events", "xnE");
  SET_ERR(&c,
          "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class "
          "character. Use 'Ag$lshzxeKEtmdn'.",
          "notify-keyspace-events", "KQ");
  expect_conf(&c, "notify-keyspace-events", "xnE");
  /* percentiles: "%f" trimmed */
  SET_OK(&c, "latency-tracking-info-percentiles", "0.123456789 2.50 100");
  expect_conf(&c, "latency-tracking-info-percentiles", "0.123457 2.5 100");
  SET_ERR(&c,
          "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - "
          "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
          "latency-tracking-info-percentiles", "50 100.5");
  SET_ERR(&c,
          "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid "
          "latency-tracking-info-percentiles parameters",
          "latency-tracking-info-percentiles", "50  99");
  SET_OK(&c, "latency-tracking-info-percentiles", "");
  expect_conf(&c, "latency-tracking-info-percentiles", "");
  /* percent memory */
  SET_OK(&c, "maxmemory-clients", "10%");
  expect_conf(&c, "maxmemory-clients", "10%");
  SET_ERR(&c,
          "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - argument must be a memory or "
          "percent value",
          "maxmemory-clients", "x%");
  /* refusals */
  SET_ERR(&c,
          "ERR CONFIG SET failed (possibly related to argument 'activedefrag') - Active defragmentation cannot be "
          "enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default "
          "with the Redis source distribution",
          "activedefrag", "yes");
  SET_ERR(&c, "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config",
          "dbfilename", "x.rdb");
  cairn_config_free(&c);
}

/* The new kinds of value survive CONFIG REWRITE and a reload. */
static void test_rewrite_redis_params(void **state) {
  (void)state;
  cairn_tmpdir t;
  tmpdir_make(&t);
  char path[128];
  snprintf(path, sizeof(path), "%s/cairn.conf", t.path);
  write_file(path, "port 7001\n");
  cairn_config c, d;
  cairn_config_init(&c);
  char err[256];
  assert_int_equal(cairn_config_load_file(&c, path, err, sizeof(err)), 0);
  SET_OK(&c, "notify-keyspace-events", "Kx", "latency-tracking-info-percentiles", "50 99.5", "maxmemory-clients",
         "5%", "hash-max-ziplist-value", "1kb", "maxmemory-policy", "allkeys-lru", "lazyfree-lazy-user-del", "yes");
  assert_int_equal(cairn_config_rewrite(&c, err, sizeof(err)), 0);
  cairn_config_init(&d);
  assert_int_equal(cairn_config_load_file(&d, path, err, sizeof(err)), 0);
  collect a, b;
  all_values(&c, &a);
  all_values(&d, &b);
  assert_string_equal(a.text, b.text);
  expect_conf(&d, "notify-keyspace-events", "xK");
  expect_conf(&d, "hash-max-listpack-value", "1024");
  cairn_config_free(&c);
  cairn_config_free(&d);
  tmpdir_remove(&t);
}

/* ---- CONFIG REWRITE ----------------------------------------------------- */

/* `user` directives: kept in order for ACL; a rewrite with users replaces
 * them where the first one was, a plain rewrite keeps them. */
static void test_user_directives(void **state) {
  (void)state;
  cairn_tmpdir t;
  tmpdir_make(&t);
  char path[128];
  snprintf(path, sizeof(path), "%s/cairn.conf", t.path);
  write_file(path, "port 7001\nuser alice on >pw ~a*\nhz 20\nuser \"bob\" on \"(+get ~b*)\"\n");
  cairn_config c;
  cairn_config_init(&c);
  char err[256];
  assert_int_equal(cairn_config_load_file(&c, path, err, sizeof(err)), 0);
  assert_int_equal(c.nacl_users, 2);
  assert_string_equal(c.acl_users[0][0], "alice");
  assert_string_equal(c.acl_users[0][2], ">pw");
  assert_null(c.acl_users[0][4]);
  assert_string_equal(c.acl_users[1][2], "(+get ~b*)");
  SET_OK(&c, "hz", "30");
  assert_int_equal(cairn_config_rewrite(&c, err, sizeof(err)), 0);
  FILE *f = fopen(path, "r");
  char text[512] = {0};
  assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
  fclose(f);
  assert_non_null(strstr(text, "user alice on >pw ~a*\nhz 30\nuser \"bob\""));
  char *users[] = {"user default on nopass ~* &* +@all", "user carol off resetchannels -@all"};
  assert_int_equal(cairn_config_rewrite_users(&c, users, 2, err, sizeof(err)), 0);
  f = fopen(path, "r");
  memset(text, 0, sizeof(text));
  assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
  fclose(f);
  assert_string_equal(text, "port 7001\nuser default on nopass ~* &* +@all\nuser carol off resetchannels -@all\nhz 30\n");
  cairn_config_free(&c);
  write_file(path, "user\n");
  cairn_config_init(&c);
  assert_int_equal(cairn_config_load_file(&c, path, err, sizeof(err)), -1);
  assert_non_null(strstr(err, ":1: Bad directive or wrong number of arguments"));
  cairn_config_free(&c);
  tmpdir_remove(&t);
}

static void test_rewrite_no_file(void **state) {
  (void)state;
  cairn_config c;
  cairn_config_init(&c);
  char err[256];
  assert_int_equal(cairn_config_rewrite(&c, err, sizeof(err)), -1);
  assert_string_equal(err, "ERR The server is running without a config file");
  cairn_config_free(&c);
}

/* Every directive's CONFIG GET text, for comparing two configurations. */
static void all_values(const cairn_config *c, collect *out) {
  const char *all[] = {"*"};
  get(c, out, 1, all);
}

static void test_rewrite_round_trip(void **state) {
  (void)state;
  cairn_tmpdir t;
  tmpdir_make(&t);
  char path[128];
  snprintf(path, sizeof(path), "%s/cairn.conf", t.path);
  write_file(path,
             "# Header comment\n"
             "\n"
             "port 7001\n"
             "proto-max-bulk-len 512mb\n"
             "# about timeouts\n"
             "timeout   10\n"
             "save 900 1\n"
             "save 300 10\n"
             "client-output-buffer-limit normal 0 0 0\n"
             "loglevel notice\n"
             "dir \"/tmp\"\n"
             "timeout 11\n"
             "# trailing comment\n");
  chmod(path, 0640);
  cairn_config c;
  cairn_config_init(&c);
  char err[256];
  assert_int_equal(cairn_config_load_file(&c, path, err, sizeof(err)), 0);
  assert_int_equal(c.timeout, 11);
  /* Rewrite with nothing changed keeps the file byte for byte. */
  char *orig = read_file(path);
  assert_int_equal(cairn_config_rewrite(&c, err, sizeof(err)), 0);
  char *same = read_file(path);
  assert_string_equal(same, orig);
  free(orig);
  free(same);

  SET_OK(&c, "timeout", "42", "save", "60 5 120 6 180 7", "client-output-buffer-limit", "pubsub 1mb 1000 3",
         "requirepass", "a b\"c", "hz", "25", "checkpoint-bytes", "1536kb", "loglevel", "warning");
  assert_int_equal(cairn_config_rewrite(&c, err, sizeof(err)), 0);
  char *text = read_file(path);
  assert_string_equal(text,
                      "# Header comment\n"
                      "\n"
                      "port 7001\n"
                      "proto-max-bulk-len 512mb\n"
                      "# about timeouts\n"
                      "timeout 42\n"
                      "save 60 5\n"
                      "save 120 6\n"
                      "save 180 7\n"
                      "client-output-buffer-limit normal 0 0 0\n"
                      "client-output-buffer-limit pubsub 1mb 1000 3\n"
                      "loglevel warning\n"
                      "dir \"/tmp\"\n"
                      "# trailing comment\n"
                      "\n"
                      "# Generated by CONFIG REWRITE\n"
                      "requirepass \"a b\\\"c\"\n"
                      "hz 25\n"
                      "checkpoint-bytes 1536kb\n");
  free(text);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);

  /* Loading the rewritten file reproduces the configuration exactly. */
  cairn_config d;
  cairn_config_init(&d);
  assert_int_equal(cairn_config_load_file(&d, path, err, sizeof(err)), 0);
  collect a, b;
  all_values(&c, &a);
  all_values(&d, &b);
  assert_string_equal(a.text, b.text);
  cairn_config_free(&d);

  /* A second rewrite adds under the existing signature, no second one;
   * a directive back at its default keeps its line (with the new value). */
  SET_OK(&c, "durability", "relaxed", "hz", "10");
  assert_int_equal(cairn_config_rewrite(&c, err, sizeof(err)), 0);
  text = read_file(path);
  const char *sig = strstr(text, "# Generated by CONFIG REWRITE");
  assert_non_null(sig);
  assert_null(strstr(sig + 1, "# Generated by CONFIG REWRITE"));
  assert_non_null(strstr(text, "\nhz 10\n"));
  const char *tail = "\nhz 10\ncheckpoint-bytes 1536kb\ndurability relaxed\n";
  assert_true(strlen(text) > strlen(tail));
  assert_string_equal(text + strlen(text) - strlen(tail), tail);
  free(text);

  /* No temporary files are left behind. */
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", t.path);
  assert_int_equal(system(cmd), 0);
  cairn_config_free(&c);
  tmpdir_remove(&t);
}

static void test_rewrite_missing_file(void **state) {
  (void)state;
  cairn_tmpdir t;
  tmpdir_make(&t);
  char path[128];
  snprintf(path, sizeof(path), "%s/cairn.conf", t.path);
  write_file(path, "");
  cairn_config c;
  cairn_config_init(&c);
  char err[256];
  assert_int_equal(cairn_config_load_file(&c, path, err, sizeof(err)), 0);
  unlink(path);
  SET_OK(&c, "timeout", "7");
  assert_int_equal(cairn_config_rewrite(&c, err, sizeof(err)), 0);
  char *text = read_file(path);
  assert_string_equal(text, "# Generated by CONFIG REWRITE\ntimeout 7\n");
  free(text);
  cairn_config_free(&c);
  tmpdir_remove(&t);
}

/* The shipped conf/cairn.conf loads, mentions every directive, and differs
 * from the built-in defaults only where intended (dir). */
static void test_shipped_conf(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof(path), "%s", __FILE__);
  char *slash = strstr(path, "tests/unit/test_config.c");
  assert_non_null(slash);
  strcpy(slash, "conf/cairn.conf");
  cairn_config c, d;
  cairn_config_init(&c);
  cairn_config_init(&d);
  char err[512] = "";
  if (cairn_config_load_file(&c, path, err, sizeof(err)) != 0) fail_msg("%s", err);
  assert_string_equal(c.bind, "127.0.0.1");
  assert_int_equal(c.port, 6379);
  assert_string_equal(c.dir, "./data");
  assert_int_equal(c.durability, CAIRN_DURABILITY_STRICT);
  free(c.dir);
  c.dir = strdup(".");
  collect a, b;
  all_values(&c, &a);
  all_values(&d, &b);
  assert_string_equal(a.text, b.text);
  /* Every directive (hidden ones too) has a line in the file. */
  char *text = read_file(path);
  const char *name;
  for (int i = 0; (name = cairn_config_directive_name(i)) != NULL; i++) {
    char line[80];
    snprintf(line, sizeof(line), "\n%s ", name);
    if (!strstr(text, line)) fail_msg("directive missing from conf/cairn.conf: %s", line + 1);
  }
  /* CONFIG REWRITE of an unchanged shipped file changes nothing. */
  cairn_tmpdir t;
  tmpdir_make(&t);
  char copy[128];
  snprintf(copy, sizeof(copy), "%s/cairn.conf", t.path);
  write_file(copy, text);
  cairn_config e;
  cairn_config_init(&e);
  assert_int_equal(cairn_config_load_file(&e, copy, err, sizeof(err)), 0);
  assert_int_equal(cairn_config_rewrite(&e, err, sizeof(err)), 0);
  char *again = read_file(copy);
  assert_string_equal(again, text);
  free(again);
  cairn_config_free(&e);
  tmpdir_remove(&t);
  free(text);
  cairn_config_free(&c);
  cairn_config_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),        cmocka_unit_test(test_load_good_file),
      cmocka_unit_test(test_load_errors),     cmocka_unit_test(test_args),
      cmocka_unit_test(test_set_ok),          cmocka_unit_test(test_set_errors),
      cmocka_unit_test(test_set_all_or_nothing), cmocka_unit_test(test_get), cmocka_unit_test(test_redis_params),
      cmocka_unit_test(test_rewrite_redis_params),
      cmocka_unit_test(test_user_directives), cmocka_unit_test(test_rewrite_no_file), cmocka_unit_test(test_rewrite_round_trip),
      cmocka_unit_test(test_rewrite_missing_file), cmocka_unit_test(test_shipped_conf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
