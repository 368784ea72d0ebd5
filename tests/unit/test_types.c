/* Unit tests for the pure parts of HyperLogLog (engine/cmd/hll.c) and the
 * geohash arithmetic (engine/cmd/geohash.c). Expected bytes and numbers
 * were produced by a real redis-server 7.0.15 (PFADD/GET, GEOADD/ZSCORE,
 * GEOPOS, GEODIST, GEOHASH). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/buf.h"
#include "engine/cmd/geohash.h"
#include "engine/cmd/hll.h"

static void test_hll_new(void **state) {
  (void)state;
  cairn_buf b = {0};
  cairn_hll_new(&b);
  static const unsigned char want[] = {'H', 'Y', 'L', 'L', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff};
  assert_int_equal(b.len, sizeof(want));
  assert_memory_equal(b.p, want, sizeof(want));
  assert_true(cairn_hll_valid(b.p, b.len));
  uint64_t card = 1;
  assert_true(cairn_hll_cache_get(b.p, &card));
  assert_int_equal(card, 0);
  int invalid = 0;
  assert_int_equal(cairn_hll_count(b.p, b.len, &invalid), 0);
  assert_int_equal(invalid, 0);
  cairn_buf_free(&b);
}

static void test_hll_redis_bytes(void **state) {
  (void)state;
  /* PFADD hx a b c; PFCOUNT hx; GET hx on redis-server 7.0.15. */
  static const unsigned char want[] = {'H', 'Y', 'L', 'L', 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
                                       0x60, 0xf3, 0x80, 0x50, 0xb1, 0x84, 0x4b, 0xfb, 0x80, 0x42, 0x5a};
  cairn_buf b = {0};
  cairn_hll_new(&b);
  assert_int_equal(cairn_hll_add(&b, "a", 1, 3000), 1);
  assert_int_equal(cairn_hll_add(&b, "b", 1, 3000), 1);
  assert_int_equal(cairn_hll_add(&b, "c", 1, 3000), 1);
  assert_int_equal(cairn_hll_add(&b, "c", 1, 3000), 0);
  uint64_t card;
  assert_false(cairn_hll_cache_get(b.p, &card)); /* stale after a change */
  int invalid = 0;
  card = cairn_hll_count(b.p, b.len, &invalid);
  assert_int_equal(card, 3);
  cairn_hll_cache_set(b.p, card);
  assert_int_equal(b.len, sizeof(want));
  assert_memory_equal(b.p, want, sizeof(want));
  cairn_buf_free(&b);
}

static void test_hll_dense_agrees(void **state) {
  (void)state;
  cairn_buf s = {0}, d = {0};
  cairn_hll_new(&s);
  cairn_hll_new(&d);
  assert_int_equal(cairn_hll_to_dense(&d), 0);
  assert_int_equal(d.len, CAIRN_HLL_DENSE_SIZE);
  assert_int_equal(d.p[4], CAIRN_HLL_DENSE);
  uint8_t *max = calloc(1, CAIRN_HLL_REGISTERS);
  for (uint64_t i = 0; i < 20000; i++) {
    cairn_hll_add(&s, &i, sizeof(i), 3000);
    cairn_hll_add(&d, &i, sizeof(i), 3000);
    if (i == 100) {
      assert_int_equal(s.p[4], CAIRN_HLL_SPARSE);
      assert_int_equal(cairn_hll_count(s.p, s.len, NULL), cairn_hll_count(d.p, d.len, NULL));
    }
  }
  assert_int_equal(s.p[4], CAIRN_HLL_DENSE); /* past hll-sparse-max-bytes */
  assert_memory_equal(s.p + CAIRN_HLL_HDR, d.p + CAIRN_HLL_HDR, CAIRN_HLL_DENSE_SIZE - CAIRN_HLL_HDR);
  uint64_t c = cairn_hll_count(d.p, d.len, NULL);
  assert_true(c > 19000 && c < 21000);
  assert_int_equal(cairn_hll_merge(max, d.p, d.len), 0);
  assert_int_equal(cairn_hll_count_raw(max), c);
  for (long i = 0; i < CAIRN_HLL_REGISTERS; i++) assert_int_equal(max[i], cairn_hll_dense_get(d.p, i));
  free(max);
  cairn_buf_free(&s);
  cairn_buf_free(&d);
}

static void test_hll_corrupt(void **state) {
  (void)state;
  cairn_buf b = {0};
  cairn_hll_new(&b);
  cairn_hll_add(&b, "a", 1, 3000);
  cairn_buf_append(&b, "hello", 5); /* opcodes past the last register */
  int invalid = 0;
  cairn_hll_count(b.p, b.len, &invalid);
  assert_int_equal(invalid, 1);
  uint8_t *max = calloc(1, CAIRN_HLL_REGISTERS);
  assert_int_equal(cairn_hll_merge(max, b.p, b.len), -1);
  assert_int_equal(cairn_hll_to_dense(&b), -1);
  free(max);
  assert_false(cairn_hll_valid("HYLL\x02", 16));
  assert_false(cairn_hll_valid("HYLX\x01", 16));
  assert_false(cairn_hll_valid("HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16)); /* dense, too short */
  cairn_buf_free(&b);
}

static void test_murmur(void **state) {
  (void)state;
  long reg;
  int n = cairn_hll_patlen("", 0, &reg);
  assert_true(n >= 1 && n <= 51);
  assert_true(reg >= 0 && reg < CAIRN_HLL_REGISTERS);
  /* Only the length and bytes count, never alignment. */
  char buf[32] = "xabcdefghijklmnop";
  assert_int_equal(cairn_hll_murmur64a(buf + 1, 16, 7), cairn_hll_murmur64a("abcdefghijklmnop", 16, 7));
}

static void test_geohash_scores(void **state) {
  (void)state;
  cairn_geohash h;
  /* GEOADD gx -5.6 42.6 test 13.361389 38.115556 Palermo: ZSCOREs. */
  assert_true(cairn_geohash_encode_wgs84(-5.6, 42.6, 26, &h));
  assert_int_equal(cairn_geohash_align52(h), 2157242200379188ULL);
  assert_true(cairn_geohash_encode_wgs84(13.361389, 38.115556, 26, &h));
  assert_int_equal(cairn_geohash_align52(h), 3479099956230698ULL);
  assert_false(cairn_geohash_encode_wgs84(181, 0, 26, &h));
  assert_false(cairn_geohash_encode_wgs84(0, 85.1, 26, &h));
  double xy[2];
  assert_true(cairn_geohash_decode_score(3479099956230698.0, xy));
  assert_true(fabs(xy[0] - 13.36138933897018433) < 1e-14);
  assert_true(fabs(xy[1] - 38.11555639549629859) < 1e-14);
  char s[12];
  assert_true(cairn_geohash_string(2157242200379188.0, s));
  assert_string_equal(s, "ezs42e44yx0");
  double a[2], b[2];
  cairn_geohash_decode_score(2157242200379188.0, a);
  cairn_geohash_decode_score(3479099956230698.0, b);
  /* GEODIST gx test Palermo: 1678521.5523 */
  assert_int_equal(llrint(cairn_geo_distance(a[0], a[1], b[0], b[1]) * 10000.0), 16785215523LL);
}

static void test_geo_boxes(void **state) {
  (void)state;
  cairn_geo_shape s = {.type = CAIRN_GEO_CIRCLE, .xy = {15, 37}, .conversion = 1000, .radius = 150};
  cairn_geohash b[9];
  cairn_geo_search_boxes(&s, b);
  assert_true(b[0].step >= 1 && b[0].step <= 26);
  /* The centre point's score falls in the centre box's range. */
  cairn_geohash h;
  cairn_geohash_encode_wgs84(15, 37, 26, &h);
  uint64_t score = cairn_geohash_align52(h), min, max;
  cairn_geohash_box_scores(b[0], &min, &max);
  assert_true(score >= min && score < max);
  double xy[2], dist;
  assert_true(cairn_geo_within(&s, (double)score, xy, &dist));
  assert_true(dist < 1);
  cairn_geohash_encode_wgs84(13.361389, 38.115556, 26, &h);
  assert_false(cairn_geo_within(&s, (double)cairn_geohash_align52(h), xy, &dist)); /* Palermo: 190.4424 km */
  s.radius = 200;
  assert_true(cairn_geo_within(&s, (double)cairn_geohash_align52(h), xy, &dist));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hll_new),       cmocka_unit_test(test_hll_redis_bytes), cmocka_unit_test(test_hll_dense_agrees),
      cmocka_unit_test(test_hll_corrupt),   cmocka_unit_test(test_murmur),          cmocka_unit_test(test_geohash_scores),
      cmocka_unit_test(test_geo_boxes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
