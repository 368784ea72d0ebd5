/* Unit tests for replication/spool.c: the replica's full-sync spool file
 * (header encoding, torn and damaged headers, payload bytes kept). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "replication/spool.h"
#include "cairn_unit.h"

#define ID "0123456789abcdef0123456789abcdef01234567"

static cairn_spool_header header(uint64_t total) {
  cairn_spool_header h = {.offset = 123456789012ULL, .total = total};
  memcpy(h.replid, ID, 41);
  return h;
}

static void header_round_trip(void **state) {
  (void)state;
  cairn_spool_header h = header(1ULL << 40), g;
  uint8_t b[CAIRN_SPOOL_HEADER];
  char err[128];
  cairn_spool_header_encode(b, &h);
  assert_int_equal(cairn_spool_header_decode(b, sizeof(b), &g, err, sizeof(err)), 0);
  assert_string_equal(g.replid, ID);
  assert_true(g.offset == h.offset && g.total == h.total);
}

static void damaged_headers_are_refused_with_their_cause(void **state) {
  (void)state;
  cairn_spool_header h = header(10), g;
  uint8_t b[CAIRN_SPOOL_HEADER];
  char err[128];
  cairn_spool_header_encode(b, &h);
  assert_int_equal(cairn_spool_header_decode(b, 79, &g, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "shorter than its 80-byte header"));
  for (int i = 0; i < 72; i++) { /* any byte the checksum covers (magic first) */
    uint8_t c[CAIRN_SPOOL_HEADER];
    memcpy(c, b, sizeof(c));
    c[i] ^= 0x01;
    if (cairn_spool_header_decode(c, sizeof(c), &g, err, sizeof(err)) != -1) fail_msg("byte %d flipped: accepted", i);
    if (i >= 8 && !strstr(err, "checksum")) fail_msg("byte %d flipped: '%s'", i, err);
  }
  b[0] = 'X';
  assert_int_equal(cairn_spool_header_decode(b, sizeof(b), &g, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "bad magic"));
}

static void file_keeps_payload_bytes_up_to_the_total(void **state) {
  (void)state;
  cairn_tmpdir dir;
  assert_int_equal(cairn_tmpdir_make(&dir, "spool"), 0);
  char path[sizeof(dir.path) + 32];
  snprintf(path, sizeof(path), "%s/%s", dir.path, CAIRN_SPOOL_FILE);
  cairn_spool_header h = header(10), g;
  uint64_t have = 99;
  int fd;
  char err[128];
  /* no file: 0, fd -1 */
  assert_int_equal(cairn_spool_open(path, &fd, &g, &have, err, sizeof(err)), 0);
  assert_int_equal(fd, -1);
  int w = cairn_spool_create(path, &h);
  assert_true(w >= 0);
  assert_int_equal(cairn_spool_write(w, 0, "abcd", 4), 0);
  assert_int_equal(cairn_spool_write(w, 4, "efg", 3), 0);
  close(w);
  assert_int_equal(cairn_spool_open(path, &fd, &g, &have, err, sizeof(err)), 0);
  assert_true(fd >= 0);
  assert_int_equal(have, 7);
  char buf[8] = {0};
  assert_int_equal(pread(fd, buf, 7, CAIRN_SPOOL_HEADER), 7);
  assert_string_equal(buf, "abcdefg");
  /* appended through the reopened fd; bytes past the total are not counted */
  assert_int_equal(cairn_spool_write(fd, 7, "hijklm", 6), 0);
  close(fd);
  assert_int_equal(cairn_spool_open(path, &fd, &g, &have, err, sizeof(err)), 0);
  assert_int_equal(have, 10);
  close(fd);
  /* create replaces: an empty payload */
  w = cairn_spool_create(path, &h);
  close(w);
  assert_int_equal(cairn_spool_open(path, &fd, &g, &have, err, sizeof(err)), 0);
  assert_int_equal(have, 0);
  close(fd);
  /* a torn header: refused, fd -1 */
  assert_int_equal(truncate(path, 40), 0);
  assert_int_equal(cairn_spool_open(path, &fd, &g, &have, err, sizeof(err)), -1);
  assert_int_equal(fd, -1);
  assert_non_null(strstr(err, "40 bytes"));
  assert_int_equal(cairn_tmpdir_remove(&dir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(header_round_trip),
      cmocka_unit_test(damaged_headers_are_refused_with_their_cause),
      cmocka_unit_test(file_keeps_payload_bytes_up_to_the_total),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
