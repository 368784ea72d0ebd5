/* Unit tests for replication/backlog.c: every test runs in its own fresh
 * directory under /tmp, removed afterwards. Stream bytes are a function of
 * their offset, so any read can be checked without remembering what was
 * written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replication/backlog.h"

/* Same layout constants as backlog.c (the on-disk format is part of the
 * contract these tests pin down). */
#define SEG_HDR 64
#define REC_HDR 32

typedef struct fixture {
  char dir[64];
} fixture;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  if (!f) return -1;
  strcpy(f->dir, "/tmp/cairn-backlog-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

static uint8_t byte_at(uint64_t off) { return (uint8_t)(off * 131u + (off >> 9) + 7u); }

static cairn_backlog *open_bl(const char *dir, uint64_t segsize, uint64_t start, char *err, size_t errlen) {
  cairn_backlog_options o = {.segment_size = segsize, .start_offset = start, .no_compress = 1};
  cairn_backlog *b = NULL;
  char local[512];
  if (!err) err = local, errlen = sizeof(local);
  int rc = cairn_backlog_open(dir, &o, &b, err, errlen);
  if (rc != 0) fail_msg("open %s: %s", dir, err);
  return b;
}

/* Appends one record of len bytes continuing the offset-derived pattern. */
static void append_len(cairn_backlog *b, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  assert_non_null(p);
  uint64_t start = cairn_backlog_end(b) + 1;
  for (size_t i = 0; i < len; i++) p[i] = byte_at(start + i);
  assert_int_equal(cairn_backlog_append(b, p, len), 0);
  assert_int_equal(cairn_backlog_end(b), start + len - 1);
  free(p);
}

/* Reads from `from` through the current end in chunks of `cap`, checking
 * every byte. */
static void read_check(cairn_backlog *b, uint64_t from, size_t cap) {
  cairn_backlog_cursor *c;
  assert_int_equal(cairn_backlog_cursor_open(b, from, &c), 0);
  uint8_t *buf = malloc(cap);
  uint64_t off = from, end = cairn_backlog_end(b);
  while (off <= end) {
    long n = cairn_backlog_cursor_next(c, buf, cap);
    if (n <= 0) fail_msg("read at %llu returned %ld errno %d", (unsigned long long)off, n, errno);
    for (long i = 0; i < n; i++)
      if (buf[i] != byte_at(off + (uint64_t)i))
        fail_msg("byte mismatch at offset %llu", (unsigned long long)(off + (uint64_t)i));
    off += (uint64_t)n;
    assert_int_equal(cairn_backlog_cursor_offset(c), off);
  }
  assert_int_equal(off, end + 1);
  assert_int_equal(cairn_backlog_cursor_next(c, buf, cap), 0);
  free(buf);
  cairn_backlog_cursor_close(c);
}

static void seg_path(char *out, size_t n, const char *dir, uint64_t first) {
  snprintf(out, n, "%s/%020llu.seg", dir, (unsigned long long)first);
}

static int64_t file_size(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int count_seg_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strstr(de->d_name, ".seg")) n++;
  closedir(d);
  return n;
}

static void flip_byte(const char *path, uint64_t pos) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t c;
  assert_int_equal(pread(fd, &c, 1, (off_t)pos), 1);
  c ^= 0x40;
  assert_int_equal(pwrite(fd, &c, 1, (off_t)pos), 1);
  close(fd);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_new_start_offset(void **state) {
  fixture *f = *state;
  char sub[128];
  snprintf(sub, sizeof(sub), "%s/a/b", f->dir); /* created, parents too */
  cairn_backlog *b = open_bl(sub, 1 << 20, 1000, NULL, 0);
  assert_int_equal(cairn_backlog_first(b), 1001);
  assert_int_equal(cairn_backlog_end(b), 1000);
  assert_int_equal(cairn_backlog_segment_count(b), 1);
  assert_int_equal(cairn_backlog_first_time_ms(b), 0);
  assert_int_equal(cairn_backlog_disk_bytes(b), SEG_HDR);
  char p[256];
  seg_path(p, sizeof(p), sub, 1001);
  assert_int_equal(file_size(p), SEG_HDR);

  cairn_backlog_cursor *c;
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_open(b, 1000, &c), -1);
  assert_int_equal(errno, ERANGE);
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_open(b, 1002, &c), -1);
  assert_int_equal(errno, ERANGE);
  assert_int_equal(cairn_backlog_cursor_open(b, 1001, &c), 0);
  char buf[16];
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), 0);
  append_len(b, 10);
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), 10);
  for (int i = 0; i < 10; i++) assert_int_equal((uint8_t)buf[i], byte_at(1001 + (uint64_t)i));
  cairn_backlog_cursor_close(c);
  assert_true(cairn_backlog_first_time_ms(b) > 0);
  assert_int_equal(cairn_backlog_disk_bytes(b), SEG_HDR + REC_HDR + 10);
  assert_int_equal(cairn_backlog_append(b, "", 0), 0); /* empty append: no record */
  assert_int_equal(cairn_backlog_end(b), 1010);
  assert_int_equal(cairn_backlog_sync(b), 0);
  cairn_backlog_close(b);

  /* start_offset is only for a new backlog */
  b = open_bl(sub, 1 << 20, 5, NULL, 0);
  assert_int_equal(cairn_backlog_first(b), 1001);
  assert_int_equal(cairn_backlog_end(b), 1010);
  cairn_backlog_close(b);
}

/* Tiny segments and assorted record sizes; a cursor from every offset, with
 * several read sizes, must yield the exact stream. */
static void test_every_boundary(void **state) {
  fixture *f = *state;
  const uint64_t segsize = SEG_HDR + 3 * (REC_HDR + 8); /* ~3 small records */
  cairn_backlog *b = open_bl(f->dir, segsize, 0, NULL, 0);
  static const size_t lens[] = {1, 8, 8, 3, 8, 20, 1, 1, 1, 500, 8, 2, 8, 8, 8, 8, 13};
  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) append_len(b, lens[i]);
  assert_true(cairn_backlog_segment_count(b) > 4);
  /* the 500-byte record exceeds segment_size: it sits alone in its segment */
  uint64_t end = cairn_backlog_end(b);
  static const size_t caps[] = {1, 2, 7, 8, 33, 4096};
  for (uint64_t off = 1; off <= end + 1; off++)
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) read_check(b, off, caps[k]);

  /* disk_bytes agrees with the files */
  int64_t total = 0;
  DIR *d = opendir(f->dir);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strstr(de->d_name, ".seg")) continue;
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
    int64_t sz = file_size(p);
    assert_true(sz <= (int64_t)segsize || sz == SEG_HDR + REC_HDR + 500);
    total += sz;
  }
  closedir(d);
  assert_int_equal((uint64_t)total, cairn_backlog_disk_bytes(b));
  assert_int_equal(count_seg_files(f->dir), cairn_backlog_segment_count(b));
  assert_int_equal(cairn_backlog_sync(b), 0);
  cairn_backlog_close(b);
}

/* Many records per segment so the sparse index has several entries; seeks to
 * scattered offsets, plus a record bigger than the read window. */
static void test_index_and_big_records(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 256 * 1024, 0, NULL, 0);
  for (int i = 0; i < 3000; i++) append_len(b, 1 + (size_t)(i * 37) % 300);
  append_len(b, 700 * 1024); /* larger than both segment and window */
  append_len(b, 5);
  uint64_t end = cairn_backlog_end(b);
  for (uint64_t off = 1; off <= end + 1; off += 9973) read_check(b, off, 65536);
  read_check(b, end - 700 * 1024 - 3, 100000);
  read_check(b, end, 1);
  cairn_backlog_close(b);
  b = open_bl(f->dir, 256 * 1024, 0, NULL, 0);
  assert_int_equal(cairn_backlog_end(b), end);
  for (uint64_t off = 1; off <= end + 1; off += 19997) read_check(b, off, 4096);
  cairn_backlog_close(b);
}

static void test_reopen(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 300, 41, NULL, 0);
  for (int i = 0; i < 40; i++) append_len(b, 10 + (size_t)i);
  uint64_t first = cairn_backlog_first(b), end = cairn_backlog_end(b);
  int segs = cairn_backlog_segment_count(b);
  uint64_t bytes = cairn_backlog_disk_bytes(b);
  int64_t t0 = cairn_backlog_first_time_ms(b);
  assert_int_equal(cairn_backlog_sync(b), 0);
  cairn_backlog_close(b);

  char err[256] = "x";
  b = open_bl(f->dir, 300, 0, err, sizeof(err));
  assert_string_equal(err, ""); /* nothing to repair */
  assert_int_equal(cairn_backlog_first(b), first);
  assert_int_equal(cairn_backlog_end(b), end);
  assert_int_equal(cairn_backlog_segment_count(b), segs);
  assert_int_equal(cairn_backlog_disk_bytes(b), bytes);
  assert_int_equal(cairn_backlog_first_time_ms(b), t0);
  read_check(b, first, 64);
  append_len(b, 77);
  read_check(b, first, 1000);
  read_check(b, end + 1, 3);
  cairn_backlog_close(b);
}

/* Builds a backlog whose newest segment holds `pre` records then one last
 * record; returns the newest segment's path and the file sizes before/after
 * the last record. */
static void build_for_tear(const char *dir, int pre, size_t lastlen, char *path, size_t pathlen,
                           int64_t *before, int64_t *after, uint64_t *end_before) {
  cairn_backlog *b = open_bl(dir, 4096, 0, NULL, 0);
  for (int i = 0; i < 60; i++) append_len(b, 50); /* a few full older segments */
  for (;;) {                                      /* force a fresh segment */
    int n = cairn_backlog_segment_count(b);
    append_len(b, 50);
    if (cairn_backlog_segment_count(b) != n) break;
  }
  uint64_t seg_first = cairn_backlog_end(b) - 49;
  for (int i = 0; i < pre; i++) append_len(b, 17);
  seg_path(path, pathlen, dir, seg_first);
  *before = file_size(path);
  *end_before = cairn_backlog_end(b);
  append_len(b, lastlen);
  *after = file_size(path);
  assert_int_equal(cairn_backlog_sync(b), 0);
  cairn_backlog_close(b);
}

static void tear_at_every_byte(fixture *f, int pre) {
  char sub[128], path[256];
  snprintf(sub, sizeof(sub), "%s/t", f->dir);
  int64_t before, after;
  uint64_t end_before;
  const size_t lastlen = 40;
  build_for_tear(sub, pre, lastlen, path, sizeof(path), &before, &after, &end_before);
  assert_int_equal(after - before, REC_HDR + (int64_t)lastlen);
  for (int64_t len = before; len <= after; len++) {
    nftw(sub, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    build_for_tear(sub, pre, lastlen, path, sizeof(path), &before, &after, &end_before);
    assert_int_equal(truncate(path, len), 0);
    char err[512] = "";
    cairn_backlog *b = open_bl(sub, 4096, 0, err, sizeof(err));
    uint64_t want = len == after ? end_before + lastlen : end_before;
    assert_int_equal(cairn_backlog_end(b), want);
    if (len > before && len < after) {
      assert_non_null(strstr(err, "cut"));
      assert_non_null(strstr(err, ".seg"));
      assert_int_equal(file_size(path), before);
    } else {
      assert_string_equal(err, "");
    }
    read_check(b, 1, 4096);
    append_len(b, 9);
    read_check(b, want - 5, 7);
    cairn_backlog_close(b);
    b = open_bl(sub, 4096, 0, err, sizeof(err));
    assert_int_equal(cairn_backlog_end(b), want + 9);
    cairn_backlog_close(b);
  }
}

static void test_torn_tail_every_byte(void **state) {
  tear_at_every_byte(*state, 3);
  tear_at_every_byte(*state, 0); /* the torn record is the segment's only one */
}

/* A bad checksum or a garbage header at the tail is cut too; so is a newest
 * segment whose own header was never completely written. */
static void test_tail_corruption_and_torn_header(void **state) {
  fixture *f = *state;
  char path[256], err[512];
  int64_t before, after;
  uint64_t end_before;
  build_for_tear(f->dir, 2, 30, path, sizeof(path), &before, &after, &end_before);
  flip_byte(path, (uint64_t)after - 1); /* payload byte: crc mismatch */
  cairn_backlog *b = open_bl(f->dir, 4096, 0, err, sizeof(err));
  assert_int_equal(cairn_backlog_end(b), end_before);
  assert_non_null(strstr(err, "checksum"));
  read_check(b, 1, 999);
  append_len(b, 30);
  cairn_backlog_close(b);

  /* offset field of the last record rewritten: not contiguous */
  flip_byte(path, (uint64_t)before + 8);
  b = open_bl(f->dir, 4096, 0, err, sizeof(err));
  assert_int_equal(cairn_backlog_end(b), end_before);
  assert_non_null(strstr(err, "cut"));
  cairn_backlog_close(b);

  /* newest segment with a torn header: reset to an empty segment */
  for (int64_t len = 0; len < SEG_HDR; len += 13) {
    int64_t hsz = file_size(path);
    assert_true(hsz >= SEG_HDR);
    uint64_t segfirst = strtoull(strrchr(path, '/') + 1, NULL, 10);
    assert_int_equal(truncate(path, len), 0);
    b = open_bl(f->dir, 4096, 0, err, sizeof(err));
    assert_int_equal(cairn_backlog_end(b), segfirst - 1);
    assert_int_equal(file_size(path), SEG_HDR);
    read_check(b, 1, 512);
    append_len(b, 3);
    cairn_backlog_close(b);
  }
}

static void test_corrupt_old_segment(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 1024, 0, NULL, 0);
  for (int i = 0; i < 100; i++) append_len(b, 40); /* 72 bytes/record, 13 per segment */
  uint64_t end = cairn_backlog_end(b);
  assert_true(cairn_backlog_segment_count(b) > 4);
  cairn_backlog_close(b);

  /* oldest segment: flip a payload byte of its 3rd record (offsets 81..120) */
  char p[256];
  seg_path(p, sizeof(p), f->dir, 1);
  flip_byte(p, SEG_HDR + 2 * (REC_HDR + 40) + REC_HDR + 5);
  char err[512];
  b = open_bl(f->dir, 1024, 0, err, sizeof(err));
  assert_int_equal(cairn_backlog_end(b), end);

  cairn_backlog_cursor *c;
  uint8_t buf[4096];
  assert_int_equal(cairn_backlog_cursor_open(b, 1, &c), 0);
  long n = cairn_backlog_cursor_next(c, buf, sizeof(buf));
  assert_int_equal(n, 80); /* everything before the bad record */
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), -1);
  assert_int_equal(errno, EIO);
  cairn_backlog_cursor_close(c);
  assert_int_equal(cairn_backlog_cursor_open(b, 95, &c), 0); /* mid bad record */
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), -1);
  assert_int_equal(errno, EIO);
  cairn_backlog_cursor_close(c);
  read_check(b, 121, 100); /* after it, fine */
  cairn_backlog_close(b);

  /* garbage in a record header of an older segment: open still works, the
   * data before it reads, reads reaching it fail with EIO */
  seg_path(p, sizeof(p), f->dir, 13 * 40 + 1); /* second segment */
  int64_t sz = file_size(p);
  assert_true(sz > 0);
  flip_byte(p, SEG_HDR + 4 * (REC_HDR + 40) + 1); /* type field of its 5th record */
  b = open_bl(f->dir, 1024, 0, err, sizeof(err));
  assert_int_equal(cairn_backlog_end(b), end);
  assert_int_equal(cairn_backlog_cursor_open(b, 13 * 40 + 1, &c), 0);
  n = cairn_backlog_cursor_next(c, buf, sizeof(buf));
  assert_int_equal(n, 4 * 40);
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), -1);
  assert_int_equal(errno, EIO);
  cairn_backlog_cursor_close(c);
  assert_int_equal(cairn_backlog_cursor_open(b, 13 * 40 + 4 * 40 + 10, &c), 0);
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), -1);
  assert_int_equal(errno, EIO);
  cairn_backlog_cursor_close(c);
  read_check(b, 2 * 13 * 40 + 1, 333); /* third segment onwards */
  cairn_backlog_close(b);
}

static void test_gap_is_error(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 524, 0, NULL, 0);
  for (int i = 0; i < 30; i++) append_len(b, 60);
  cairn_backlog_close(b);
  /* remove the second segment: 92-byte records, 5 per 524-byte segment */
  char p[256];
  seg_path(p, sizeof(p), f->dir, 5 * 60 + 1);
  assert_int_equal(unlink(p), 0);
  cairn_backlog_options o = {.segment_size = 524, .no_compress = 1};
  char err[512] = "";
  /* the manifest names the missing file */
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), -1);
  assert_null(b);
  assert_non_null(strstr(err, "00000000000000000301.seg"));
  assert_non_null(strstr(err, "missing"));
  /* without a manifest, the chain walk finds the gap */
  char mp[300];
  snprintf(mp, sizeof(mp), "%s/MANIFEST", f->dir);
  assert_int_equal(unlink(mp), 0);
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), -1);
  assert_null(b);
  assert_non_null(strstr(err, "00000000000000000001.seg"));
  assert_non_null(strstr(err, "00000000000000000601.seg"));
}

static void test_trim_with_open_cursor(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 524, 0, NULL, 0);
  for (int i = 0; i < 30; i++) append_len(b, 60); /* 6 segments of 5 records */
  assert_int_equal(cairn_backlog_segment_count(b), 6);
  uint64_t bytes = cairn_backlog_disk_bytes(b);

  cairn_backlog_cursor *c, *c2;
  uint8_t buf[50];
  assert_int_equal(cairn_backlog_cursor_open(b, 1, &c), 0);
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), 50);

  assert_int_equal(cairn_backlog_trim_before(b, 300), 0); /* 300 is in segment 1 */
  assert_int_equal(cairn_backlog_trim_before(b, 301), 1);
  assert_int_equal(cairn_backlog_first(b), 301);
  assert_int_equal(cairn_backlog_disk_bytes(b), bytes - (SEG_HDR + 5 * (REC_HDR + 60)));
  assert_int_equal(count_seg_files(f->dir), 5);

  /* second cursor sits in segment 2, which is about to go */
  assert_int_equal(cairn_backlog_cursor_open(b, 590, &c2), 0);
  assert_int_equal(cairn_backlog_trim_before(b, UINT64_MAX), 4); /* never the active one */
  assert_int_equal(cairn_backlog_segment_count(b), 1);
  assert_int_equal(cairn_backlog_first(b), 25 * 60 + 1);
  assert_int_equal(count_seg_files(f->dir), 1);

  /* the first cursor still reads its unlinked file to its end, then ERANGE */
  uint64_t off = 51;
  long n;
  while ((n = cairn_backlog_cursor_next(c, buf, sizeof(buf))) > 0) {
    for (long i = 0; i < n; i++) assert_int_equal(buf[i], byte_at(off + (uint64_t)i));
    off += (uint64_t)n;
  }
  assert_int_equal(n, -1);
  assert_int_equal(errno, ERANGE);
  assert_int_equal(off, 301);
  cairn_backlog_cursor_close(c);
  n = cairn_backlog_cursor_next(c2, buf, sizeof(buf));
  assert_int_equal(n, 11);
  assert_int_equal(buf[0], byte_at(590));
  assert_int_equal(cairn_backlog_cursor_next(c2, buf, sizeof(buf)), -1);
  assert_int_equal(errno, ERANGE);
  cairn_backlog_cursor_close(c2);

  errno = 0;
  assert_int_equal(cairn_backlog_cursor_open(b, 25 * 60, &c), -1);
  assert_int_equal(errno, ERANGE);
  read_check(b, 25 * 60 + 1, 7);
  cairn_backlog_close(b);

  b = open_bl(f->dir, 524, 0, NULL, 0); /* trimmed state survives reopen */
  assert_int_equal(cairn_backlog_first(b), 25 * 60 + 1);
  assert_int_equal(cairn_backlog_end(b), 30 * 60);
  cairn_backlog_close(b);
}

static void test_reset(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 500, 0, NULL, 0);
  for (int i = 0; i < 12; i++) append_len(b, 60);
  cairn_backlog_cursor *c;
  assert_int_equal(cairn_backlog_cursor_open(b, 100, &c), 0);
  assert_int_equal(cairn_backlog_reset(b, 5000), 0);
  assert_int_equal(cairn_backlog_first(b), 5001);
  assert_int_equal(cairn_backlog_end(b), 5000);
  assert_int_equal(cairn_backlog_segment_count(b), 1);
  assert_int_equal(cairn_backlog_disk_bytes(b), SEG_HDR);
  assert_int_equal(cairn_backlog_first_time_ms(b), 0);
  assert_int_equal(count_seg_files(f->dir), 1);
  uint8_t buf[64];
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), -1);
  assert_int_equal(errno, ERANGE);
  cairn_backlog_cursor_close(c);
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_open(b, 100, &c), -1);
  assert_int_equal(errno, ERANGE);

  for (int i = 0; i < 12; i++) append_len(b, 60);
  read_check(b, 5001, 100);
  /* reset backwards, onto a name that existed before */
  assert_int_equal(cairn_backlog_reset(b, 0), 0);
  append_len(b, 10);
  read_check(b, 1, 3);
  assert_int_equal(cairn_backlog_sync(b), 0);
  cairn_backlog_close(b);
  b = open_bl(f->dir, 500, 77, NULL, 0);
  assert_int_equal(cairn_backlog_first(b), 1);
  assert_int_equal(cairn_backlog_end(b), 10);
  cairn_backlog_close(b);
}

/* A failed append (here: a partial write then EFBIG from RLIMIT_FSIZE) leaves
 * the file at the last complete record and end unchanged. */
static void test_append_failure_cuts_back(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 1 << 20, 0, NULL, 0);
  append_len(b, 100);
  uint64_t end = cairn_backlog_end(b);
  char p[256];
  seg_path(p, sizeof(p), f->dir, 1);
  int64_t sz = file_size(p);

  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
  lim = old;
  lim.rlim_cur = (rlim_t)sz + 50; /* room for the header and part of the payload */
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  uint8_t data[200];
  memset(data, 'x', sizeof(data));
  errno = 0;
  int rc = cairn_backlog_append(b, data, sizeof(data));
  int e = errno;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, oldsig);
  assert_int_equal(rc, -1);
  assert_int_equal(e, EFBIG);
  assert_int_equal(cairn_backlog_end(b), end);
  assert_int_equal(file_size(p), sz);

  append_len(b, 200);
  read_check(b, 1, 64);
  cairn_backlog_close(b);
  char err[256] = "";
  b = open_bl(f->dir, 1 << 20, 0, err, sizeof(err));
  assert_string_equal(err, "");
  assert_int_equal(cairn_backlog_end(b), 300);
  cairn_backlog_close(b);
}

typedef struct writer_arg {
  cairn_backlog *b;
  int records;
} writer_arg;

static void *writer_main(void *arg) {
  writer_arg *w = arg;
  uint8_t buf[3000];
  for (int i = 0; i < w->records; i++) {
    size_t len = 1 + (size_t)(i * 7919) % sizeof(buf);
    uint64_t start = cairn_backlog_end(w->b) + 1;
    for (size_t k = 0; k < len; k++) buf[k] = byte_at(start + k);
    if (cairn_backlog_append(w->b, buf, len) != 0) abort();
    if (i % 500 == 0) cairn_backlog_trim_before(w->b, cairn_backlog_first(w->b)); /* no-op, exercises lock */
  }
  return NULL;
}

static void test_concurrent_reader(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 64 * 1024, 0, NULL, 0);
  cairn_backlog_cursor *c;
  assert_int_equal(cairn_backlog_cursor_open(b, 1, &c), 0);
  writer_arg w = {.b = b, .records = 20000};
  uint64_t total = 0;
  for (int i = 0; i < w.records; i++) total += 1 + (uint64_t)(i * 7919) % 3000;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
  uint8_t buf[1500];
  uint64_t off = 1;
  while (off <= total) {
    long n = cairn_backlog_cursor_next(c, buf, sizeof(buf));
    if (n < 0) fail_msg("reader error at %llu: errno %d", (unsigned long long)off, errno);
    if (n == 0) {
      sched_yield();
      continue;
    }
    for (long i = 0; i < n; i++)
      if (buf[i] != byte_at(off + (uint64_t)i)) fail_msg("mismatch at %llu", (unsigned long long)(off + (uint64_t)i));
    off += (uint64_t)n;
  }
  pthread_join(t, NULL);
  assert_int_equal(off, total + 1);
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), 0);
  cairn_backlog_cursor_close(c);
  assert_true(cairn_backlog_segment_count(b) > 100);
  cairn_backlog_close(b);
}

static void test_append_too_big_and_sync(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_bl(f->dir, 100, 0, NULL, 0);
  for (int i = 0; i < 10; i++) {
    append_len(b, 50); /* every record rolls: sync must fsync dir + segment */
    assert_int_equal(cairn_backlog_sync(b), 0);
  }
  assert_int_equal(cairn_backlog_segment_count(b), 10);
  cairn_backlog_close(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_new_start_offset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_boundary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_index_and_big_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torn_tail_every_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tail_corruption_and_torn_header, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_old_segment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gap_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trim_with_open_cursor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_append_failure_cuts_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_reader, setup, teardown),
      cmocka_unit_test_setup_teardown(test_append_too_big_and_sync, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
