/* Unit tests for engine/util.c. Expected values were checked against a real
 * redis-server 7.0 (INCRBY, INCRBYFLOAT, ZADD/ZSCORE, KEYS). */
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
#include "engine/util.h"

static int ll(const char *s, long long *out) { return cairn_str2ll(s, strlen(s), out); }

static void test_str2ll_accepts(void **state) {
  (void)state;
  long long v = 42;
  assert_true(ll("0", &v));
  assert_int_equal(v, 0);
  assert_true(ll("1", &v));
  assert_int_equal(v, 1);
  assert_true(ll("-1", &v));
  assert_int_equal(v, -1);
  assert_true(ll("9223372036854775807", &v));
  assert_true(v == LLONG_MAX);
  assert_true(ll("-9223372036854775808", &v));
  assert_true(v == LLONG_MIN);
  assert_true(ll("1234567890", &v));
  assert_int_equal(v, 1234567890);
  /* Only len bytes are read. */
  assert_true(cairn_str2ll("12abc", 2, &v));
  assert_int_equal(v, 12);
  /* NULL out is allowed (validation only). */
  assert_true(cairn_str2ll("5", 1, NULL));
}

static void test_str2ll_rejects(void **state) {
  (void)state;
  long long v = 7;
  const char *bad[] = {"",   "-0", "+1", " 1",   "1 ", "007",  "00", "-",  "--1", "1a", "a1", "0x10", "1.0",
                       "1e3", "9223372036854775808", "-9223372036854775809", "99999999999999999999",
                       "-01", "\t1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    v = 7;
    assert_false(ll(bad[i], &v));
    assert_int_equal(v, 7); /* untouched on failure */
  }
  assert_false(cairn_str2ll("1\0002", 3, &v));
}

/* The edges every caller relies on (command arguments, intset members in
 * RDB files, listpack integer entries). */
static void test_str2ll_edges(void **state) {
  (void)state;
  long long v = 7;
  assert_false(cairn_str2ll("", 0, &v));
  assert_false(ll("-", &v));
  assert_false(ll("-0", &v));
  assert_false(ll("007", &v));
  assert_false(ll(" 1", &v));
  assert_false(ll("1 ", &v));
  assert_int_equal(v, 7);
  assert_true(ll("9223372036854775807", &v));
  assert_true(v == LLONG_MAX);
  assert_false(ll("9223372036854775808", &v));
  assert_true(ll("-9223372036854775808", &v));
  assert_true(v == LLONG_MIN);
  assert_false(ll("-9223372036854775809", &v));
  /* 21 digits, 21 characters with a minus, and a long run of digits. */
  assert_false(ll("100000000000000000000", &v));
  assert_false(ll("999999999999999999999", &v));
  assert_false(ll("-10000000000000000000", &v));
  assert_false(ll("-100000000000000000000", &v));
  assert_false(ll("123456789012345678901234567890", &v));
  assert_true(v == LLONG_MIN);
  /* "0" alone is canonical; a 20-digit value over the range is not. */
  assert_true(ll("0", &v));
  assert_int_equal(v, 0);
  assert_false(ll("18446744073709551615", &v));
  assert_false(ll("18446744073709551616", &v));
}

static void test_str2ull(void **state) {
  (void)state;
  unsigned long long v;
  assert_true(cairn_str2ull("18446744073709551615", 20, &v));
  assert_true(v == ULLONG_MAX);
  assert_true(cairn_str2ull("0", 1, &v));
  assert_true(v == 0);
  assert_false(cairn_str2ull("18446744073709551616", 20, &v));
  assert_false(cairn_str2ull("-1", 2, &v));
  assert_false(cairn_str2ull("+1", 2, &v));
  assert_false(cairn_str2ull("01", 2, &v));
  assert_false(cairn_str2ull("", 0, &v));
}

static void test_ll2str(void **state) {
  (void)state;
  char buf[32];
  assert_int_equal(cairn_ll2str(buf, 0), 1);
  assert_string_equal(buf, "0");
  assert_int_equal(cairn_ll2str(buf, -42), 3);
  assert_string_equal(buf, "-42");
  assert_int_equal(cairn_ll2str(buf, LLONG_MIN), 20);
  assert_string_equal(buf, "-9223372036854775808");
  assert_int_equal(cairn_ll2str(buf, LLONG_MAX), 19);
  assert_string_equal(buf, "9223372036854775807");
  assert_int_equal(cairn_ull2str(buf, ULLONG_MAX), 20);
  assert_string_equal(buf, "18446744073709551615");
}

static void test_str2ld(void **state) {
  (void)state;
  long double v;
  assert_true(cairn_str2ld("10.5", 4, &v));
  assert_true(v == 10.5L);
  assert_true(cairn_str2ld("inf", 3, &v));
  assert_true(isinf(v) && v > 0);
  assert_true(cairn_str2ld("-inf", 4, &v));
  assert_true(isinf(v) && v < 0);
  assert_true(cairn_str2ld("3.0e3", 5, &v));
  assert_true(v == 3000.0L);
  assert_true(cairn_str2ld(".5", 2, &v));
  assert_false(cairn_str2ld("", 0, &v));
  assert_false(cairn_str2ld(" 1", 2, &v));
  assert_false(cairn_str2ld("1 ", 2, &v));
  assert_false(cairn_str2ld("1x", 2, &v));
  assert_false(cairn_str2ld("nan", 3, &v));
  assert_false(cairn_str2ld("NaN", 3, &v));
  assert_false(cairn_str2ld("1e99999", 7, &v)); /* overflow */
  assert_false(cairn_str2ld("1\0", 2, &v));
}

static void test_str2d(void **state) {
  (void)state;
  double v;
  assert_true(cairn_str2d("1.5", 3, &v));
  assert_true(v == 1.5);
  assert_true(cairn_str2d("+inf", 4, &v));
  assert_true(isinf(v) && v > 0);
  assert_true(cairn_str2d("-inf", 4, &v));
  assert_true(cairn_str2d("+1", 2, &v)); /* strtod accepts a plus sign */
  assert_true(v == 1.0);
  assert_true(cairn_str2d("1e-320", 6, &v)); /* subnormal: ERANGE but not zero */
  assert_false(cairn_str2d("1e-400", 6, &v)); /* underflow to zero */
  assert_false(cairn_str2d("1e309", 5, &v));
  assert_false(cairn_str2d("nan", 3, &v));
  assert_false(cairn_str2d(" 1", 2, &v));
  assert_false(cairn_str2d("1 ", 2, &v));
  assert_false(cairn_str2d("", 0, &v));
  assert_false(cairn_str2d("abc", 3, &v));
  /* A long but valid input takes the heap path. */
  char big[400];
  memset(big, '0', sizeof(big));
  big[0] = '2';
  big[1] = '.';
  big[sizeof(big) - 1] = '1';
  assert_true(cairn_str2d(big, sizeof(big), &v));
  assert_true(v == 2.0);
  big[sizeof(big) - 1] = 'x';
  assert_false(cairn_str2d(big, sizeof(big), &v));
}

static void ld_is(long double v, const char *want) {
  char buf[256];
  size_t n = cairn_ld2str(buf, sizeof(buf), v);
  assert_int_equal(n, strlen(want));
  assert_string_equal(buf, want);
}

static void test_ld2str(void **state) {
  (void)state;
  long double a, b;
  assert_true(cairn_str2ld("10.5", 4, &a));
  assert_true(cairn_str2ld("0.1", 3, &b));
  ld_is(a + b, "10.6");
  assert_true(cairn_str2ld("3.0e3", 5, &a));
  ld_is(a, "3000");
  assert_true(cairn_str2ld("5.0e3", 5, &a));
  ld_is(a, "5000");
  ld_is(0.0L, "0");
  ld_is(-0.0L, "0");
  ld_is(-1.5L, "-1.5");
  ld_is(1e-18L, "0"); /* below 17 decimals: rounds to 0 */
  ld_is(-1e-18L, "0");
  ld_is(100.0L, "100");
  char buf[128];
  assert_int_equal(cairn_ld2str(buf, sizeof(buf), INFINITY), 0);
  assert_int_equal(cairn_ld2str(buf, sizeof(buf), -INFINITY), 0);
  assert_int_equal(cairn_ld2str(buf, sizeof(buf), NAN), 0);
  assert_int_equal(cairn_ld2str(buf, 4, 12345.0L), 0); /* no room */
}

static void d_is(double v, const char *want) {
  char buf[64];
  size_t n = cairn_d2str(buf, sizeof(buf), v);
  assert_int_equal(n, strlen(want));
  assert_string_equal(buf, want);
}

static void test_d2str(void **state) {
  (void)state;
  d_is(1.5, "1.5");
  d_is(0.1, "0.10000000000000001");
  d_is(3.0, "3");
  d_is(1e300, "1.0000000000000001e+300");
  d_is(INFINITY, "inf");
  d_is(-INFINITY, "-inf");
  d_is(-0.0, "-0");
  char buf[3];
  assert_int_equal(cairn_d2str(buf, sizeof(buf), 123.0), 0);
}

static int gm(const char *p, const char *s, int nocase) { return cairn_glob_match(p, strlen(p), s, strlen(s), nocase); }

static void test_glob(void **state) {
  (void)state;
  assert_true(gm("*", "anything", 0));
  assert_true(gm("h?llo", "hello", 0));
  assert_true(gm("h?llo", "hallo", 0));
  assert_false(gm("h?llo", "hllo", 0));
  assert_true(gm("h*llo", "heeeello", 0));
  assert_true(gm("h[ae]llo", "hello", 0));
  assert_false(gm("h[ae]llo", "hillo", 0));
  assert_true(gm("h[^e]llo", "hallo", 0));
  assert_false(gm("h[^e]llo", "hello", 0));
  assert_true(gm("h[a-b]llo", "hbllo", 0));
  assert_true(gm("h[b-a]llo", "hallo", 0)); /* reversed range */
  assert_false(gm("h[a-b]llo", "hcllo", 0));
  assert_true(gm("h\\*llo", "h*llo", 0));
  assert_false(gm("h\\*llo", "hello", 0));
  assert_true(gm("[\\]]", "]", 0));
  assert_true(gm("a\\", "a\\", 0)); /* trailing backslash is literal */
  assert_true(gm("[abc", "a", 0));  /* unterminated class ends the pattern */
  assert_true(gm("*a*", "bab", 0));
  assert_true(gm("a**", "a", 0));
  assert_false(gm("*", "", 0)); /* Redis: an empty subject matches nothing... */
  assert_true(gm("", "", 0));   /* ...but the empty pattern */
  assert_false(gm("a", "", 0));
  /* nocase */
  assert_true(gm("HELLO", "hello", 1));
  assert_false(gm("HELLO", "hello", 0));
  assert_true(gm("[A-C]x", "bX", 1));
  assert_true(gm("port*", "PORT", 1));
  /* Pathological pattern must finish quickly (skip-longer-matches). */
  char s[200], p[200];
  memset(s, 'a', 150);
  s[150] = '\0';
  strcpy(p, "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b");
  assert_false(gm(p, s, 0));
  /* Explicit lengths: bytes past plen are ignored. */
  assert_true(cairn_glob_match("ab*zz", 3, "abc", 3, 0));
}

static void test_crc32c(void **state) {
  (void)state;
  assert_true(cairn_crc32c(0, "123456789", 9) == 0xE3069283u);
  assert_true(cairn_crc32c(0, "", 0) == 0);
  /* Incremental over every split point and alignment equals one shot. */
  unsigned char data[300];
  for (size_t i = 0; i < sizeof(data); i++) data[i] = (unsigned char)(i * 31 + 7);
  uint32_t whole = cairn_crc32c(0, data, sizeof(data));
  for (size_t cut = 0; cut <= sizeof(data); cut += 7) {
    uint32_t c = cairn_crc32c(0, data, cut);
    c = cairn_crc32c(c, data + cut, sizeof(data) - cut);
    assert_true(c == whole);
  }
  for (size_t off = 1; off < 8; off++) {
    unsigned char copy[310];
    memcpy(copy + off, data, sizeof(data));
    assert_true(cairn_crc32c(0, copy + off, sizeof(data)) == whole);
  }
  /* 32 zero bytes: the iSCSI (RFC 3720) test vector. */
  unsigned char zeros[32] = {0};
  assert_true(cairn_crc32c(0, zeros, 32) == 0x8A9136AAu);
}

static void test_hash64(void **state) {
  (void)state;
  const char *a = "hello world";
  uint64_t h1 = cairn_hash64(a, strlen(a), 0);
  assert_true(h1 == cairn_hash64(a, strlen(a), 0));
  assert_true(h1 != cairn_hash64(a, strlen(a), 1));
  assert_true(h1 != cairn_hash64("hello worle", 11, 0));
  assert_true(cairn_hash64("", 0, 0) != cairn_hash64("\0", 1, 0));
  /* Every length 0..64 of a buffer hashes differently (covers tail paths). */
  unsigned char buf[64] = {0};
  uint64_t seen[65];
  for (int n = 0; n <= 64; n++) {
    seen[n] = cairn_hash64(buf, (size_t)n, 42);
    for (int k = 0; k < n; k++) assert_true(seen[k] != seen[n]);
  }
  /* Single-bit flips change roughly half of the output bits. */
  unsigned char msg[24];
  memset(msg, 0x5a, sizeof(msg));
  uint64_t base = cairn_hash64(msg, sizeof(msg), 0);
  int total = 0;
  for (int bit = 0; bit < 24 * 8; bit++) {
    msg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    total += __builtin_popcountll(base ^ cairn_hash64(msg, sizeof(msg), 0));
    msg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
  }
  double avg = (double)total / (24 * 8);
  assert_true(avg > 26 && avg < 38);
}

static int mem(const char *s, long long *v) { return cairn_parse_memory(s, v); }

static void test_parse_memory(void **state) {
  (void)state;
  long long v;
  assert_true(mem("1024", &v));
  assert_int_equal(v, 1024);
  assert_true(mem("1k", &v));
  assert_int_equal(v, 1000);
  assert_true(mem("1kb", &v));
  assert_int_equal(v, 1024);
  assert_true(mem("1KB", &v));
  assert_int_equal(v, 1024);
  assert_true(mem("1m", &v));
  assert_int_equal(v, 1000000);
  assert_true(mem("1mb", &v));
  assert_int_equal(v, 1048576);
  assert_true(mem("1g", &v));
  assert_int_equal(v, 1000000000LL);
  assert_true(mem("1gb", &v));
  assert_int_equal(v, 1073741824LL);
  assert_true(mem("1Gb", &v));
  assert_true(mem("1tb", &v));
  assert_int_equal(v, 1099511627776LL);
  assert_true(mem("512mb", &v));
  assert_int_equal(v, 536870912LL);
  assert_true(mem("7b", &v));
  assert_int_equal(v, 7);
  assert_true(mem("0", &v));
  assert_int_equal(v, 0);
  assert_true(mem("9223372036854775807", &v));
  assert_true(v == LLONG_MAX);
  assert_false(mem("", &v));
  assert_false(mem("kb", &v));
  assert_false(mem("-1", &v));
  assert_false(mem("+1", &v));
  assert_false(mem("1x", &v));
  assert_false(mem("1 kb", &v));
  assert_false(mem(" 1", &v));
  assert_false(mem("1.5gb", &v));
  assert_false(mem("9223372036854775808", &v));
  assert_false(mem("9000000000gb", &v));
  assert_false(mem(NULL, &v));
}

static void test_time_and_random(void **state) {
  (void)state;
  int64_t ms = cairn_mstime(), us = cairn_ustime();
  assert_true(ms > 1600000000000LL);
  assert_true(us / 1000 >= ms);
  int64_t m1 = cairn_monotonic_ms(), m2 = cairn_monotonic_ms();
  assert_true(m2 >= m1);
  char a[41], b[41];
  cairn_random_hex40(a);
  cairn_random_hex40(b);
  assert_int_equal(strlen(a), 40);
  assert_true(strspn(a, "0123456789abcdef") == 40);
  assert_string_not_equal(a, b);
  unsigned char buf[1000] = {0};
  cairn_random_bytes(buf, sizeof(buf));
  int nonzero = 0;
  for (size_t i = 0; i < sizeof(buf); i++) nonzero += buf[i] != 0;
  assert_true(nonzero > 900);
}

/* The cairn_buf helpers that config.c, the backlog manifest and
 * cairn-backlog share. */
static void test_buf_text(void **state) {
  (void)state;
  cairn_buf b = {0};
  char *s = cairn_buf_take_str(&b);
  assert_string_equal(s, "");
  free(s);
  assert_int_equal(cairn_buf_try_printf(&b, "%s %d", "gen", 42), 0);
  cairn_buf_printf(&b, "|%0300d|", 7);
  assert_int_equal(b.len, 6 + 302);
  assert_string_equal(cairn_buf_cstr(&b) + 300, "0000007|");
  assert_int_equal(b.len, 6 + 302);
  cairn_buf_free(&b);
  const char raw[] = "a\\\"\n\r\t\a\b\x01\x7f\xff ~";
  cairn_buf_append_repr(&b, raw, sizeof(raw) - 1);
  s = cairn_buf_take_str(&b);
  assert_string_equal(s, "\"a\\\\\\\"\\n\\r\\t\\a\\b\\x01\\x7f\\xff ~\"");
  assert_null(b.p);
  assert_int_equal(b.len, 0);
  free(s);
}

/* Freed huge blocks are reused while in use + kept stays within the cap;
 * past it they are unmapped, and lowering the cap drops kept ones. */
static void test_huge_blocks_kept(void **state) {
  (void)state;
  size_t used, kept;
  cairn_huge_blocks_cap(3 * CAIRN_HUGE_BLOCK);
  void *a = cairn_huge_block(), *b = cairn_huge_block(), *c = cairn_huge_block(), *d = cairn_huge_block();
  assert_int_equal((uintptr_t)a % CAIRN_HUGE_BLOCK, 0);
  memset(a, 0x5a, CAIRN_HUGE_BLOCK); /* the whole block is ours */
  cairn_huge_blocks_stats(&used, &kept);
  assert_int_equal(used, 4 * CAIRN_HUGE_BLOCK);
  assert_int_equal(kept, 0);
  cairn_huge_block_free(d); /* 3 in use: at the cap, not kept */
  cairn_huge_block_free(c);
  cairn_huge_blocks_stats(&used, &kept);
  assert_int_equal(used, 2 * CAIRN_HUGE_BLOCK);
  assert_int_equal(kept, CAIRN_HUGE_BLOCK);
  void *e = cairn_huge_block(); /* reused, not mapped again */
  assert_ptr_equal(e, c);
  cairn_huge_blocks_stats(&used, &kept);
  assert_int_equal(kept, 0);
  cairn_huge_block_free(e);
  cairn_huge_block_free(b);
  cairn_huge_blocks_stats(&used, &kept);
  assert_int_equal(used, CAIRN_HUGE_BLOCK);
  assert_int_equal(kept, 2 * CAIRN_HUGE_BLOCK);
  cairn_huge_blocks_cap(2 * CAIRN_HUGE_BLOCK); /* one kept block dropped */
  cairn_huge_blocks_stats(&used, &kept);
  assert_int_equal(kept, CAIRN_HUGE_BLOCK);
  assert_int_equal(((unsigned char *)a)[CAIRN_HUGE_BLOCK - 1], 0x5a);
  cairn_huge_block_free(a);
  cairn_huge_blocks_cap(0);
  cairn_huge_blocks_stats(&used, &kept);
  assert_int_equal(used, 0);
  assert_int_equal(kept, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_str2ll_accepts), cmocka_unit_test(test_str2ll_rejects),
      cmocka_unit_test(test_str2ll_edges), cmocka_unit_test(test_buf_text), cmocka_unit_test(test_str2ull),
      cmocka_unit_test(test_ll2str),         cmocka_unit_test(test_str2ld),         cmocka_unit_test(test_str2d),
      cmocka_unit_test(test_ld2str),         cmocka_unit_test(test_d2str),          cmocka_unit_test(test_glob),
      cmocka_unit_test(test_crc32c),         cmocka_unit_test(test_hash64),         cmocka_unit_test(test_parse_memory),
      cmocka_unit_test(test_time_and_random), cmocka_unit_test(test_huge_blocks_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
