/* Unit tests for engine/sha256.c (FIPS 180-4 test vectors) and the pure
 * parts of engine/acl.c: rule parsing and its errors, ACL LIST's
 * description (strings checked against a real redis-server 7.0.15), key,
 * channel and command matching, selectors, the log, and aclfile
 * save/load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/acl.h"
#include "engine/resp.h"
#include "engine/sha256.h"
#include "cairn_unit.h"

static void test_sha256_vectors(void **state) {
  (void)state;
  char h[65];
  cairn_sha256_hex("", 0, h);
  assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  cairn_sha256_hex("abc", 3, h);
  assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits: padding spills */
  cairn_sha256_hex(two, strlen(two), h);
  assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  /* one million 'a', fed in uneven pieces */
  char *m = malloc(1000000);
  memset(m, 'a', 1000000);
  cairn_sha256 s;
  uint8_t d[32];
  cairn_sha256_init(&s);
  size_t off = 0, step = 1;
  while (off < 1000000) {
    size_t n = step < 1000000 - off ? step : 1000000 - off;
    cairn_sha256_update(&s, m + off, n);
    off += n;
    step = step * 3 % 1000 + 1;
  }
  cairn_sha256_final(&s, d);
  free(m);
  static const uint8_t want[32] = {0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
                                   0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97,
                                   0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
  assert_memory_equal(d, want, 32);
  /* Redis's hash of "password" (ACL docs) */
  cairn_sha256_hex("password", 8, h);
  assert_string_equal(h, "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8");
}

/* SETUSER with ops given as one space-separated string. */
static int setuser(cairn_acl *acl, const char *name, const char *ops, char *err, size_t errlen) {
  cairn_str v[64];
  int n = 0;
  char *copy = strdup(ops), *save = NULL;
  for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) v[n++] = (cairn_str){t, strlen(t)};
  int rc = cairn_acl_setuser(acl, name, strlen(name), n, v, err, errlen);
  free(copy);
  return rc;
}

static void assert_describes(cairn_acl *acl, const char *name, const char *want) {
  cairn_acl_user *u = cairn_acl_user_get(acl, name, strlen(name));
  assert_non_null(u);
  char *d = cairn_acl_describe_user(u);
  assert_string_equal(d, want);
  free(d);
}

static void test_describe_like_redis(void **state) {
  (void)state;
  char err[512];
  cairn_acl *acl = cairn_acl_new();
  assert_describes(acl, "default", "on nopass ~* &* +@all");
  assert_int_equal(setuser(acl, "u1",
                           "on >p1 #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 +get -get +set "
                           "+@string -@hash +client|id %R~r* %W~w* ~k* &ch* (+get ~s*)",
                           err, sizeof(err)),
                   0);
  assert_describes(acl, "u1",
                   "on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a "
                   "#5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 %R~r* %W~w* ~k* resetchannels "
                   "&ch* -@all +@string +client|id (~s* resetchannels -@all +get)");
  assert_int_equal(setuser(acl, "u2", "+@all -get +client -client|kill allchannels resetchannels &a -@string", err,
                           sizeof(err)),
                   0);
  assert_describes(acl, "u2", "off resetchannels &a +@all -@string -client|kill");
  /* %RW~ is ~; the same pattern twice merges its permissions */
  assert_int_equal(setuser(acl, "u3", "reset %RW~x %R~y %W~y", err, sizeof(err)), 0);
  assert_describes(acl, "u3", "off sanitize-payload ~x ~y resetchannels -@all");
  assert_int_equal(cairn_acl_user_count(acl), 4);
  assert_string_equal(cairn_acl_user_name(cairn_acl_user_at(acl, 0)), "default");
  assert_string_equal(cairn_acl_user_name(cairn_acl_user_at(acl, 3)), "u3");
  cairn_acl_free(acl);
}

static void test_rule_errors(void **state) {
  (void)state;
  char err[512];
  cairn_acl *acl = cairn_acl_new();
  assert_int_equal(setuser(acl, "e", "on +nosuchcmd", err, sizeof(err)), -1);
  assert_string_equal(err, "Error in ACL SETUSER modifier '+nosuchcmd': Unknown command or category name in ACL");
  /* nothing applied: the user was not even created */
  assert_null(cairn_acl_user_get(acl, "e", 1));
  assert_int_equal(setuser(acl, "e", "+@nosuch", err, sizeof(err)), -1);
  assert_int_equal(setuser(acl, "e", "bogus", err, sizeof(err)), -1);
  assert_string_equal(err, "Error in ACL SETUSER modifier 'bogus': Syntax error");
  assert_int_equal(setuser(acl, "e", "~* ~foo", err, sizeof(err)), -1);
  assert_non_null(strstr(err, "Try 'resetkeys'"));
  assert_int_equal(setuser(acl, "e", "&* &foo", err, sizeof(err)), -1);
  assert_non_null(strstr(err, "Try 'resetchannels'"));
  assert_int_equal(setuser(acl, "e", "#abc", err, sizeof(err)), -1);
  assert_non_null(strstr(err, "exactly 64 characters"));
  assert_int_equal(setuser(acl, "e", "<notthere", err, sizeof(err)), -1);
  assert_non_null(strstr(err, "does not exist"));
  assert_int_equal(setuser(acl, "e", "+config|get|x", err, sizeof(err)), -1);
  assert_int_equal(setuser(acl, "e", "%X~a", err, sizeof(err)), -1);
  assert_int_equal(setuser(acl, "e", "(+get", err, sizeof(err)), -1);
  assert_string_equal(err, "Unmatched parenthesis in acl selector starting at '(+get'.");
  assert_int_equal(setuser(acl, "a b", "on", err, sizeof(err)), -1);
  cairn_acl_free(acl);
}

static int check(cairn_acl *acl, const char *user, const char *cmdline, int *pos) {
  cairn_str v[16];
  int n = 0;
  char *copy = strdup(cmdline), *save = NULL;
  for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) v[n++] = (cairn_str){t, strlen(t)};
  const cairn_command *cmd = cairn_command_lookup(v[0].p, v[0].len);
  assert_non_null(cmd);
  if (cmd->subcommands) cmd = cairn_subcommand_find(cmd, v[1]);
  assert_non_null(cmd);
  *pos = -1;
  int r = cairn_acl_check(cairn_acl_user_get(acl, user, strlen(user)), cmd, n, v, pos);
  free(copy);
  return r;
}

static void test_matching(void **state) {
  (void)state;
  char err[512];
  int pos;
  cairn_acl *acl = cairn_acl_new();
  assert_int_equal(setuser(acl, "u",
                           "on nopass +@read +@write +@pubsub -flushall +config|get +select|0 %R~r* %W~w* ~rw* &news.* "
                           "(+hset ~h*)",
                           err, sizeof(err)),
                   0);
  assert_int_equal(check(acl, "u", "get r1", &pos), CAIRN_ACL_OK);
  assert_int_equal(check(acl, "u", "get w1", &pos), CAIRN_ACL_DENIED_KEY);
  assert_int_equal(pos, 1);
  assert_int_equal(check(acl, "u", "set w1 v", &pos), CAIRN_ACL_OK);
  assert_int_equal(check(acl, "u", "set r1 v", &pos), CAIRN_ACL_DENIED_KEY);
  /* read and write: only ~rw* has both */
  assert_int_equal(check(acl, "u", "incr w1", &pos), CAIRN_ACL_DENIED_KEY);
  assert_int_equal(check(acl, "u", "incr rw1", &pos), CAIRN_ACL_OK);
  /* the second key is the refused one */
  assert_int_equal(check(acl, "u", "mget r1 x", &pos), CAIRN_ACL_DENIED_KEY);
  assert_int_equal(pos, 2);
  assert_int_equal(check(acl, "u", "flushall", &pos), CAIRN_ACL_DENIED_CMD);
  assert_int_equal(check(acl, "u", "config get maxmemory", &pos), CAIRN_ACL_OK);
  assert_int_equal(check(acl, "u", "config set maxmemory 1", &pos), CAIRN_ACL_DENIED_CMD);
  assert_int_equal(check(acl, "u", "select 0", &pos), CAIRN_ACL_OK);
  assert_int_equal(check(acl, "u", "select 1", &pos), CAIRN_ACL_DENIED_CMD);
  assert_int_equal(check(acl, "u", "publish news.a hi", &pos), CAIRN_ACL_OK);
  assert_int_equal(check(acl, "u", "publish other hi", &pos), CAIRN_ACL_DENIED_CHANNEL);
  assert_int_equal(check(acl, "u", "subscribe news.x other", &pos), CAIRN_ACL_DENIED_CHANNEL);
  assert_int_equal(pos, 2);
  /* a PSUBSCRIBE pattern must be one of the user's patterns literally */
  assert_int_equal(check(acl, "u", "psubscribe news.*", &pos), CAIRN_ACL_OK);
  assert_int_equal(check(acl, "u", "psubscribe news.a*", &pos), CAIRN_ACL_DENIED_CHANNEL);
  /* the selector allows HSET on h* only; the root allows it on rw* (write) */
  assert_int_equal(check(acl, "u", "hset h1 f v", &pos), CAIRN_ACL_OK);
  assert_int_equal(check(acl, "u", "hset x f v", &pos), CAIRN_ACL_DENIED_KEY);
  /* commands allowed to everyone */
  assert_int_equal(check(acl, "u", "auth a b", &pos), CAIRN_ACL_OK);
  assert_int_equal(cairn_acl_check(NULL, cairn_command_lookup("flushall", 8), 1, (cairn_str[]){{"flushall", 8}}, &pos),
                   CAIRN_ACL_OK);
  cairn_acl_free(acl);
}

static void test_passwords(void **state) {
  (void)state;
  char err[512];
  cairn_acl *acl = cairn_acl_new();
  cairn_acl_user *d = cairn_acl_default_user(acl);
  assert_true(cairn_acl_check_password(d, "anything", 8));
  cairn_acl_set_default_password(acl, "secret");
  assert_false(cairn_acl_user_nopass(d));
  assert_true(cairn_acl_check_password(d, "secret", 6));
  assert_false(cairn_acl_check_password(d, "secreT", 6));
  assert_int_equal(setuser(acl, "p", "on >a >b", err, sizeof(err)), 0);
  cairn_acl_user *u = cairn_acl_user_get(acl, "p", 1);
  assert_true(cairn_acl_check_password(u, "a", 1));
  assert_true(cairn_acl_check_password(u, "b", 1));
  assert_int_equal(setuser(acl, "p", "<a", err, sizeof(err)), 0);
  assert_false(cairn_acl_check_password(u, "a", 1));
  assert_int_equal(setuser(acl, "p", "off", err, sizeof(err)), 0);
  assert_false(cairn_acl_check_password(u, "b", 1));
  assert_int_equal(setuser(acl, "p", "on resetpass", err, sizeof(err)), 0);
  assert_false(cairn_acl_check_password(u, "b", 1));
  assert_int_equal(setuser(acl, "p", "nopass", err, sizeof(err)), 0);
  assert_true(cairn_acl_check_password(u, "whatever", 8));
  cairn_acl_set_default_password(acl, NULL);
  assert_true(cairn_acl_user_nopass(d));
  cairn_acl_free(acl);
}

static void test_log_grouping(void **state) {
  (void)state;
  cairn_acl *acl = cairn_acl_new();
  cairn_acl_log_add(acl, CAIRN_ACL_DENIED_CMD, CAIRN_ACL_CTX_TOPLEVEL, "get", 3, "u", 1, "id=1", 128, 1000);
  cairn_acl_log_add(acl, CAIRN_ACL_DENIED_CMD, CAIRN_ACL_CTX_TOPLEVEL, "get", 3, "u", 1, "id=2", 128, 2000);
  cairn_acl_log_add(acl, CAIRN_ACL_DENIED_KEY, CAIRN_ACL_CTX_MULTI, "k", 1, "u", 1, "id=3", 128, 3000);
  /* more than 60 s later: a new entry */
  cairn_acl_log_add(acl, CAIRN_ACL_DENIED_KEY, CAIRN_ACL_CTX_MULTI, "k", 1, "u", 1, "id=4", 2, 100000);
  cairn_buf b = {0};
  cairn_reply r = {&b, 2};
  cairn_acl_log_reply(acl, &r, 10, 100000);
  cairn_buf_putc(&b, '\0');
  /* max length 2: the oldest (the grouped "get", count 2) went away */
  assert_non_null(strstr(b.p, "*2\r\n"));
  assert_null(strstr(b.p, "$3\r\nget\r\n"));
  assert_non_null(strstr(b.p, "id=4"));
  assert_non_null(strstr(b.p, "$5\r\nmulti\r\n"));
  cairn_buf_free(&b);
  cairn_acl_log_reset(acl);
  cairn_acl_log_add(acl, CAIRN_ACL_DENIED_CMD, CAIRN_ACL_CTX_TOPLEVEL, "get", 3, "u", 1, "id=1", 128, 1000);
  cairn_acl_log_add(acl, CAIRN_ACL_DENIED_CMD, CAIRN_ACL_CTX_TOPLEVEL, "get", 3, "u", 1, "id=2", 128, 2000);
  cairn_acl_log_reply(acl, &r, 10, 2000);
  cairn_buf_putc(&b, '\0');
  assert_non_null(strstr(b.p, "*1\r\n"));
  assert_non_null(strstr(b.p, "$5\r\ncount\r\n:2\r\n"));
  assert_non_null(strstr(b.p, "id=2"));
  cairn_buf_free(&b);
  cairn_acl_free(acl);
}

static void test_aclfile(void **state) {
  (void)state;
  char err[512];
  cairn_tmpdir t;
  assert_int_equal(cairn_tmpdir_make(&t, "acl"), 0);
  char path[128];
  snprintf(path, sizeof(path), "%s/users.acl", t.path);
  cairn_acl *acl = cairn_acl_new();
  assert_int_equal(setuser(acl, "alice", "on >pw ~a* +@read (+set ~s*)", err, sizeof(err)), 0);
  cairn_acl_set_default_password(acl, "dpw");
  assert_int_equal(cairn_acl_save_file(acl, path), 0);
  cairn_acl *other = cairn_acl_new();
  cairn_acl_user *dflt = cairn_acl_default_user(other);
  assert_null(cairn_acl_load_file(other, path, NULL, NULL));
  assert_ptr_equal(cairn_acl_default_user(other), dflt); /* the same object, updated */
  assert_true(cairn_acl_check_password(dflt, "dpw", 3));
  char *a = cairn_acl_describe_user(cairn_acl_user_get(acl, "alice", 5));
  assert_describes(other, "alice", a);
  free(a);
  /* a bad line: nothing changes, the error names file and line */
  FILE *f = fopen(path, "w");
  fprintf(f, "user bob on >x ~*\n\nuser carol on +nosuch\n");
  fclose(f);
  char *e = cairn_acl_load_file(other, path, NULL, NULL);
  assert_non_null(e);
  char want[256];
  snprintf(want, sizeof(want), "%s:3: Unknown command or category name in ACL. ", path);
  assert_non_null(strstr(e, want));
  assert_non_null(strstr(e, "no change to the previously active ACL rules was performed"));
  free(e);
  assert_null(cairn_acl_user_get(other, "bob", 3));
  assert_non_null(cairn_acl_user_get(other, "alice", 5));
  cairn_acl_free(acl);
  cairn_acl_free(other);
  assert_int_equal(cairn_rmtree(t.path), 0);
}

static void test_categories(void **state) {
  (void)state;
  assert_int_equal(cairn_acl_category_lookup("SortedSet", 9), CAIRN_ACL_CAT_SORTEDSET);
  assert_int_equal(cairn_acl_category_lookup("nosuch", 6), -1);
  uint32_t get = cairn_acl_command_categories(cairn_command_lookup("get", 3));
  assert_int_equal(get, (1u << CAIRN_ACL_CAT_READ) | (1u << CAIRN_ACL_CAT_STRING) | (1u << CAIRN_ACL_CAT_FAST));
  uint32_t keys = cairn_acl_command_categories(cairn_command_lookup("keys", 4));
  assert_true(keys & (1u << CAIRN_ACL_CAT_DANGEROUS));
  assert_true(keys & (1u << CAIRN_ACL_CAT_KEYSPACE));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_describe_like_redis),
      cmocka_unit_test(test_rule_errors),    cmocka_unit_test(test_matching),
      cmocka_unit_test(test_passwords),      cmocka_unit_test(test_log_grouping),
      cmocka_unit_test(test_aclfile),        cmocka_unit_test(test_categories),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
