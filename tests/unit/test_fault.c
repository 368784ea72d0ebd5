/* Unit tests for engine/fault.c: the CAIRN_FAULTS parser, the call counting
 * (always / once / xK) and the WAL wrapper table. */
#include <errno.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "engine/fault.h"

static cairn_fault_spec f[CAIRN_FAULT_NPOINTS];
static char err[256];

static int parse(const char *s) {
  err[0] = '\0';
  return cairn_fault_parse(s, f, err, sizeof(err));
}

static int armed_count(void) {
  int n = 0;
  for (int p = 0; p < CAIRN_FAULT_NPOINTS; p++) n += f[p].armed;
  return n;
}

static void test_parse_defaults(void **state) {
  (void)state;
  assert_int_equal(parse("wal.append=5"), 0);
  assert_int_equal(armed_count(), 1);
  assert_true(f[CAIRN_FAULT_WAL_APPEND].armed);
  assert_int_equal(f[CAIRN_FAULT_WAL_APPEND].nth, 5);
  assert_int_equal(f[CAIRN_FAULT_WAL_APPEND].count, 0); /* always */
  assert_int_equal(f[CAIRN_FAULT_WAL_APPEND].err, EIO);
  assert_int_equal(parse("store.put=1"), 0);
  assert_int_equal(f[CAIRN_FAULT_STORE_PUT].err, MDB_TXN_FULL);
  assert_int_equal(parse("store.commit=2"), 0);
  assert_int_equal(f[CAIRN_FAULT_STORE_COMMIT].err, EIO);
  assert_int_equal(parse("net.read=3:once"), 0);
  assert_true(f[CAIRN_FAULT_NET_READ].armed);
  assert_int_equal(f[CAIRN_FAULT_NET_READ].nth, 3);
  assert_int_equal(f[CAIRN_FAULT_NET_READ].err, EIO);
  assert_string_equal(cairn_fault_point_name(CAIRN_FAULT_NET_READ), "net.read");
  assert_int_equal(parse("backlog.spare=1:x2:ENOSPC"), 0);
  assert_string_equal(cairn_fault_point_name(CAIRN_FAULT_BACKLOG_SPARE), "backlog.spare");
}

static void test_parse_options(void **state) {
  (void)state;
  assert_int_equal(parse("wal.append=5,store.commit=3:once"), 0);
  assert_int_equal(armed_count(), 2);
  assert_int_equal(f[CAIRN_FAULT_WAL_APPEND].nth, 5);
  assert_int_equal(f[CAIRN_FAULT_WAL_APPEND].count, 0);
  assert_int_equal(f[CAIRN_FAULT_STORE_COMMIT].nth, 3);
  assert_int_equal(f[CAIRN_FAULT_STORE_COMMIT].count, 1);
  assert_int_equal(parse(" wal.sync = 2 : x3 : ENOSPC , wal.read=1:always:EROFS "), 0);
  assert_int_equal(f[CAIRN_FAULT_WAL_SYNC].nth, 2);
  assert_int_equal(f[CAIRN_FAULT_WAL_SYNC].count, 3);
  assert_int_equal(f[CAIRN_FAULT_WAL_SYNC].err, ENOSPC);
  assert_int_equal(f[CAIRN_FAULT_WAL_READ].count, 0);
  assert_int_equal(f[CAIRN_FAULT_WAL_READ].err, EROFS);
  /* the error may come before the count */
  assert_int_equal(parse("store.put=7:MDB_MAP_FULL:once"), 0);
  assert_int_equal(f[CAIRN_FAULT_STORE_PUT].err, MDB_MAP_FULL);
  assert_int_equal(f[CAIRN_FAULT_STORE_PUT].count, 1);
  assert_int_equal(parse("store.put=7:EIO"), 0);
  assert_int_equal(f[CAIRN_FAULT_STORE_PUT].err, EIO);
  assert_int_equal(parse("wal.append=1:x1"), 0);
  assert_int_equal(f[CAIRN_FAULT_WAL_APPEND].count, 1);
  assert_int_equal(parse("store.commit=18446744073709551:once"), 0); /* 17 digits */
  assert_true(f[CAIRN_FAULT_STORE_COMMIT].nth == 18446744073709551ULL);
  assert_int_equal(f[CAIRN_FAULT_STORE_COMMIT].slow_us, 0);
  assert_int_equal(parse("store.put=1:always:slow250"), 0);
  assert_int_equal(f[CAIRN_FAULT_STORE_PUT].slow_us, 250);
  assert_int_equal(f[CAIRN_FAULT_STORE_PUT].count, 0);
}

static void test_parse_empty(void **state) {
  (void)state;
  assert_int_equal(parse(NULL), 0);
  assert_int_equal(armed_count(), 0);
  assert_int_equal(parse(""), 0);
  assert_int_equal(armed_count(), 0);
  assert_int_equal(parse("  \t "), 0);
  assert_int_equal(armed_count(), 0);
}

static void expect_reject(const char *spec, const char *msg) {
  assert_int_equal(parse(spec), -1);
  assert_int_equal(armed_count(), 0); /* nothing half-parsed */
  if (!strstr(err, msg)) fail_msg("spec '%s': error '%s' does not contain '%s'", spec, err, msg);
}

static void test_parse_rejects(void **state) {
  (void)state;
  expect_reject("wal.apend=3", "unknown fault point 'wal.apend'");
  expect_reject("wal.append", "expected point=N");
  expect_reject("wal.append=", "is not a call number");
  expect_reject("wal.append=0", "'0' is not a call number");
  expect_reject("wal.append=-1", "is not a call number");
  expect_reject("wal.append=3x", "is not a call number");
  expect_reject("wal.append=99999999999999999999", "is not a call number");
  expect_reject("wal.append=3:twice", "unknown option 'twice'");
  expect_reject("wal.append=3:", "unknown option ''");
  expect_reject("wal.append=3:x0", "unknown option 'x0'");
  expect_reject("wal.append=3:once:always", "more than one of once/always/xK");
  expect_reject("wal.append=3:EIO:ENOSPC", "more than one error");
  expect_reject("wal.append=3:MDB_TXN_FULL", "for store points only");
  expect_reject("wal.append=3:eio", "unknown option 'eio'");
  expect_reject("wal.append=3,wal.append=4", "given twice");
  expect_reject("wal.append=3,,store.put=1", "empty fault spec");
  expect_reject("wal.append=3,", "empty fault spec");
  expect_reject("store.put=1,wal.sync=zz", "wal.sync: 'zz' is not a call number");
  expect_reject("store.put=1:slow", "unknown option 'slow'");
  expect_reject("store.put=1:slow0", "is not slowUS");
  expect_reject("store.put=1:slow1000001", "is not slowUS");
  expect_reject("store.put=1:slow10:EIO", "slow and an error");
  expect_reject("store.put=1:EIO:slow10", "slow and an error both given");
}

static void test_counting(void **state) {
  (void)state;
  assert_int_equal(cairn_fault_arm("wal.append=3:once:ENOSPC,wal.sync=2:x2,store.commit=4", err, sizeof(err)), 0);
  assert_true(cairn_fault_armed(-1));
  assert_true(cairn_fault_armed(CAIRN_FAULT_WAL_APPEND));
  assert_false(cairn_fault_armed(CAIRN_FAULT_WAL_READ));
  int got[8];
  for (int i = 0; i < 8; i++) got[i] = cairn_fault(CAIRN_FAULT_WAL_APPEND);
  int want_once[8] = {0, 0, ENOSPC, 0, 0, 0, 0, 0};
  assert_memory_equal(got, want_once, sizeof(got));
  for (int i = 0; i < 8; i++) got[i] = cairn_fault(CAIRN_FAULT_WAL_SYNC);
  int want_x2[8] = {0, EIO, EIO, 0, 0, 0, 0, 0};
  assert_memory_equal(got, want_x2, sizeof(got));
  for (int i = 0; i < 8; i++) got[i] = cairn_fault(CAIRN_FAULT_STORE_COMMIT);
  int want_always[8] = {0, 0, 0, EIO, EIO, EIO, EIO, EIO};
  assert_memory_equal(got, want_always, sizeof(got));
  /* an unarmed point counts but never fails */
  for (int i = 0; i < 3; i++) assert_int_equal(cairn_fault(CAIRN_FAULT_WAL_READ), 0);
  assert_int_equal(cairn_fault_calls(CAIRN_FAULT_WAL_APPEND), 8);
  assert_int_equal(cairn_fault_hits(CAIRN_FAULT_WAL_APPEND), 1);
  assert_int_equal(cairn_fault_hits(CAIRN_FAULT_WAL_SYNC), 2);
  assert_int_equal(cairn_fault_hits(CAIRN_FAULT_STORE_COMMIT), 5);
  assert_int_equal(cairn_fault_calls(CAIRN_FAULT_WAL_READ), 3);
  char d[512];
  assert_string_equal(cairn_fault_describe(d, sizeof(d)),
                      "wal.append fails call 3 only with ENOSPC; wal.sync fails calls 2 to 3 with EIO; "
                      "store.commit fails call 4 and every call after with EIO");
  /* slowed calls do not fail, and take the time */
  assert_int_equal(cairn_fault_arm("wal.read=2:x2:slow20000", err, sizeof(err)), 0);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < 4; i++) assert_int_equal(cairn_fault(CAIRN_FAULT_WAL_READ), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  assert_true(took >= 0.039);
  assert_int_equal(cairn_fault_hits(CAIRN_FAULT_WAL_READ), 2);
  assert_string_equal(cairn_fault_describe(d, sizeof(d)), "wal.read is slowed by 20000 us at calls 2 to 3");
  assert_int_equal(cairn_fault_arm("wal.append=3:once:ENOSPC,wal.sync=2:x2,store.commit=4", err, sizeof(err)), 0);
  /* a bad spec changes nothing */
  assert_int_equal(cairn_fault_arm("wal.append=1:bogus", err, sizeof(err)), -1);
  assert_true(cairn_fault_armed(CAIRN_FAULT_STORE_COMMIT));
  cairn_fault_disarm();
  assert_false(cairn_fault_armed(-1));
  assert_int_equal(cairn_fault(CAIRN_FAULT_STORE_COMMIT), 0);
  assert_int_equal(cairn_fault_calls(CAIRN_FAULT_STORE_COMMIT), 0); /* disarmed: not even counted */
  assert_string_equal(cairn_fault_describe(d, sizeof(d)), "");
}

/* ---- the WAL wrapper around a fake backend */

static int appends, syncs, runs, nexts;
static int fake_append(void *ud, const void *p, size_t n) {
  (void)p;
  (void)n;
  assert_ptr_equal(ud, &appends);
  appends++;
  return 0;
}
static int fake_sync(void *ud) {
  (void)ud;
  syncs++;
  return 0;
}
static int fake_sync_run(void *token) {
  assert_ptr_equal(token, &runs);
  runs++;
  return 0;
}
static long fake_next(void *cur, void *buf, size_t cap) {
  (void)cur;
  (void)buf;
  nexts++;
  return (long)cap;
}
static uint64_t fake_end(void *ud) {
  (void)ud;
  return 42;
}

static void test_wal_wrapper(void **state) {
  (void)state;
  cairn_wal real = {.ud = &appends,
                    .append = fake_append,
                    .sync = fake_sync,
                    .sync_run = fake_sync_run,
                    .cursor_next = fake_next,
                    .end = fake_end};
  cairn_wal w;
  assert_int_equal(cairn_fault_arm("wal.append=2:once:ENOSPC,wal.sync=2:once,wal.read=3:EROFS", err, sizeof(err)), 0);
  cairn_fault_wal(&real, &w);
  assert_ptr_equal(w.ud, real.ud);
  assert_ptr_equal(w.end, real.end); /* unwrapped operations go straight through */
  assert_int_equal(w.append(w.ud, "x", 1), 0);
  errno = 0;
  assert_int_equal(w.append(w.ud, "x", 1), -1);
  assert_int_equal(errno, ENOSPC);
  assert_int_equal(w.append(w.ud, "x", 1), 0);
  assert_int_equal(appends, 2); /* the failed call did not reach the backend */
  /* wal.sync counts sync and sync_run together */
  assert_int_equal(w.sync(w.ud), 0);
  errno = 0;
  assert_int_equal(w.sync_run(&runs), -1); /* call 2 */
  assert_int_equal(errno, EIO);
  assert_int_equal(runs, 1); /* ran anyway: it consumes the token */
  assert_int_equal(w.sync(w.ud), 0);
  assert_int_equal(syncs, 2);
  char buf[8];
  assert_int_equal(w.cursor_next(NULL, buf, 8), 8);
  assert_int_equal(w.cursor_next(NULL, buf, 8), 8);
  assert_int_equal(w.cursor_next(NULL, buf, 8), -1);
  assert_int_equal(errno, EROFS);
  assert_int_equal(w.cursor_next(NULL, buf, 8), -1);
  assert_int_equal(nexts, 2);
  cairn_fault_disarm();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_defaults), cmocka_unit_test(test_parse_options),
      cmocka_unit_test(test_parse_empty),    cmocka_unit_test(test_parse_rejects),
      cmocka_unit_test(test_counting),       cmocka_unit_test(test_wal_wrapper),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
