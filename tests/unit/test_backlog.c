/* Unit tests for replication/backlog/backlog.c: every test runs in its own fresh
 * directory under /tmp, removed afterwards. Stream bytes are a function of
 * their offset, so any read can be checked without remembering what was
 * written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <zstd.h>

#include "engine/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn_unit.h"
#include "replication/backlog/backlog.h"

/* Same layout constants as backlog.c (the on-disk format is part of the
 * contract these tests pin down). */
#define SEG_HDR 64
#define REC_HDR 32

typedef struct fixture {
  cairn_tmpdir tmp;
  const char *dir; /* tmp.path */
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  if (!f) return -1;
  if (cairn_tmpdir_make(&f->tmp, "backlog") != 0) return -1;
  f->dir = f->tmp.path;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  cairn_tmpdir_remove(&f->tmp);
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
    cairn_rmtree(sub);
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

static int count_bad;
static void count_cb(void *ud, const char *file, uint64_t pos, uint64_t offset, const char *why) {
  (void)ud, (void)file, (void)pos, (void)offset, (void)why;
  count_bad++;
}

/* A bad record in the newest segment with a valid record after it is
 * corruption: open refuses (naming file, position, offsets) unless
 * truncate_corrupt, which cuts at the bad record; verify reports it. */
static void test_corruption_inside_newest_segment(void **state) {
  fixture *f = *state;
  char path[256], err[1024];
  int64_t before, after;
  uint64_t end_before;
  build_for_tear(f->dir, 3, 30, path, sizeof(path), &before, &after, &end_before);
  /* a payload byte of the third of the 3 records (17 bytes each) */
  flip_byte(path, (uint64_t)before - 5);
  cairn_backlog *b = NULL;
  cairn_backlog_options o = {.segment_size = 4096, .no_compress = 1, .tool = 1};
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  count_bad = 0;
  assert_int_equal(cairn_backlog_verify(b, count_cb, NULL, NULL, NULL), 1);
  cairn_backlog_close(b);
  o = (cairn_backlog_options){.segment_size = 4096, .no_compress = 1};
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "CORRUPT backlog"));
  assert_non_null(strstr(err, ".seg"));
  char want[128];
  snprintf(want, sizeof(want), "file position %lld", (long long)(before - 49));
  assert_non_null(strstr(err, want));
  snprintf(want, sizeof(want), "offsets %llu..%llu", (unsigned long long)(end_before - 16),
           (unsigned long long)end_before);
  assert_non_null(strstr(err, want)); /* unreadable range */
  assert_int_equal(file_size(path), after); /* nothing changed on disk */
  o.truncate_corrupt = 1;
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "CORRUPTION"));
  assert_int_equal(cairn_backlog_end(b), end_before - 17);
  assert_int_equal(file_size(path), before - 49);
  cairn_backlog_stats st;
  cairn_backlog_get_stats(b, &st);
  assert_int_equal(st.corruptions, 1);
  assert_int_equal(st.corrupt_bytes_cut, (uint64_t)(after - before + 49));
  assert_int_equal(st.torn_tail_bytes_cut, 0);
  cairn_backlog_close(b);

  /* zeros to the end after the last record: a preallocated part, not
   * written yet (test_preallocated_segments), kept and not counted */
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  char zeros[300] = {0};
  assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
  close(fd);
  o.truncate_corrupt = 0;
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  assert_null(strstr(err, "torn tail"));
  cairn_backlog_get_stats(b, &st);
  assert_int_equal(st.corruptions, 0);
  assert_int_equal(st.torn_tail_bytes_cut, 0);
  assert_int_equal(st.active_preallocated, 1);
  assert_int_equal(file_size(path), before - 49 + 300);
  /* ...and a zero byte then garbage is a torn tail again */
  cairn_backlog_close(b);
  fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "garbage", 7), 7);
  close(fd);
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "torn tail"));
  cairn_backlog_get_stats(b, &st);
  assert_int_equal(st.torn_tail_bytes_cut, 307);
  assert_int_equal(file_size(path), before - 49);
  cairn_backlog_close(b);
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

/* ---- compressed segments, manifest, retention ------------------------------ */

static cairn_backlog *open_z(const char *dir, uint64_t segsize, int tool) {
  cairn_backlog_options o = {.segment_size = segsize, .tool = tool, .no_compress = tool};
  cairn_backlog *b = NULL;
  char err[1024] = "";
  if (cairn_backlog_open(dir, &o, &b, err, sizeof(err)) != 0) fail_msg("open %s: %s", dir, err);
  return b;
}

/* Waits until the background thread compressed every sealed segment. */
static void wait_compressed(cairn_backlog *b) {
  for (int i = 0; i < 3000; i++) {
    cairn_backlog_stats st;
    cairn_backlog_get_stats(b, &st);
    if (st.pending_seals == 0 && st.compressed_segments == st.segments - 1) return;
    usleep(10000);
  }
  fail_msg("compression did not finish");
}

/* Stream bytes that compress (a text-like pattern with an offset-derived
 * byte now and then), still a function of the offset. */
static void append_z(cairn_backlog *b, size_t len) { append_len(b, len); }

/* Records of varied sizes (1..40000 bytes) until about `bytes`, then the
 * sealed segments compressed; returns the stream bytes appended. */
static uint64_t append_varied(cairn_backlog *b, uint64_t bytes) {
  uint64_t total = 0;
  for (int i = 0; total < bytes; i++) {
    size_t len = 1 + (size_t)(i * 7919) % 40000;
    append_z(b, len);
    total += len;
  }
  wait_compressed(b);
  return total;
}

static int zseg_files(const char *dir, char names[][64], int cap) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strstr(de->d_name, ".zseg") && !strstr(de->d_name, ".tmp") && n < cap && strlen(de->d_name) < 64)
      memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
  closedir(d);
  return n;
}

static void test_compress_round_trip(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_z(f->dir, 3 << 20, 0);
  /* records of varied sizes, ~10 MiB: frames (1 MiB) and segments (3 MiB)
   * cut records at many places */
  uint64_t total = append_varied(b, 10u << 20);
  cairn_backlog_stats st;
  cairn_backlog_get_stats(b, &st);
  assert_true(st.compressed_segments >= 3);
  assert_true(st.compressed_disk_bytes > 0 && st.ratio > 1.0);
  assert_int_equal(st.first, 1);
  assert_int_equal(st.end, total);
  /* every boundary: frame starts and ends, segment starts and ends */
  size_t n;
  cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
  for (size_t i = 0; i < n; i++) {
    uint64_t pts[] = {v[i].first, v[i].first + 1, v[i].last, v[i].last > 0 ? v[i].last - 1 : 1,
                      v[i].first + (1u << 20) - 1, v[i].first + (1u << 20), v[i].first + (1u << 20) + 1};
    for (size_t k = 0; k < sizeof(pts) / sizeof(pts[0]); k++) {
      if (pts[k] < st.first || pts[k] > st.end) continue;
      cairn_backlog_cursor *c;
      assert_int_equal(cairn_backlog_cursor_open(b, pts[k], &c), 0);
      uint8_t buf[3000];
      long got = cairn_backlog_cursor_next(c, buf, sizeof(buf));
      assert_true(got > 0);
      for (long j = 0; j < got; j++)
        if (buf[j] != byte_at(pts[k] + (uint64_t)j)) fail_msg("mismatch at %llu", (unsigned long long)(pts[k] + (uint64_t)j));
      cairn_backlog_cursor_close(c);
    }
  }
  free(v);
  read_check(b, 1, 777777);
  read_check(b, 2, 4096);
  cairn_backlog_close(b);
  /* and after reopening, from the manifest */
  b = open_z(f->dir, 3 << 20, 0);
  read_check(b, 1, 1 << 20);
  cairn_backlog_get_stats(b, &st);
  assert_true(st.compressed_segments >= 3);
  cairn_backlog_close(b);
}

/* Frames as stored: a cursor hands out the compressed frames of sealed
 * segments whole (checked, as on disk) from a frame start, plain bytes up to
 * the next frame from inside one, and everything decompresses to the
 * stream at the right offsets. */
static void test_next_frame(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_z(f->dir, 3 << 20, 0);
  uint64_t total = append_varied(b, 8u << 20);
  size_t cap = 2u << 20;
  uint8_t *zb = malloc(cap), *raw = malloc(cap);
  uint32_t rl, crc;
  cairn_backlog_cursor *c;
  /* inside the first frame: plain bytes up to its end */
  assert_int_equal(cairn_backlog_cursor_open(b, 2, &c), 0);
  assert_int_equal(cairn_backlog_cursor_next_frame(c, total, zb, cap, &rl, &crc), 0);
  assert_int_equal(rl, (1u << 20) - 1);
  cairn_backlog_cursor_close(c);
  /* a limit inside the frame: not whole */
  assert_int_equal(cairn_backlog_cursor_open(b, 1, &c), 0);
  assert_int_equal(cairn_backlog_cursor_next_frame(c, 1000, zb, cap, &rl, &crc), 0);
  assert_int_equal(rl, 1u << 20);
  assert_int_equal(cairn_backlog_cursor_offset(c), 1);
  /* from offset 1 to the end: frames where they are, plain bytes elsewhere */
  uint64_t off = 1;
  int frames = 0;
  while (off <= total) {
    long n = cairn_backlog_cursor_next_frame(c, total, zb, cap, &rl, &crc);
    assert_true(n >= 0);
    long got;
    if (n > 0) {
      assert_int_equal(crc, cairn_crc32c(0, zb, (size_t)n));
      size_t d = ZSTD_decompress(raw, cap, zb, (size_t)n);
      assert_false(ZSTD_isError(d));
      assert_int_equal(d, rl);
      got = (long)d;
      frames++;
    } else {
      got = cairn_backlog_cursor_next(c, raw, rl ? rl : 65536);
      assert_true(got > 0);
    }
    for (long j = 0; j < got; j++)
      if (raw[j] != byte_at(off + (uint64_t)j)) fail_msg("mismatch at %llu", (unsigned long long)(off + (uint64_t)j));
    off += (uint64_t)got;
    assert_int_equal(cairn_backlog_cursor_offset(c), off);
  }
  assert_true(frames >= 5);
  cairn_backlog_cursor_close(c);
  free(zb);
  free(raw);
  cairn_backlog_close(b);
}

typedef struct zwriter_arg {
  cairn_backlog *b;
  uint64_t total;
} zwriter_arg;

static void *zwriter_main(void *arg) {
  zwriter_arg *w = arg;
  uint64_t done = 0;
  for (int i = 0; done < w->total; i++) {
    size_t len = 1 + (size_t)(i * 104729) % 20000;
    if (done + len > w->total) len = (size_t)(w->total - done);
    append_len(w->b, len);
    done += len;
  }
  return NULL;
}

/* A reader streams from offset 1 while the writer appends, segments roll,
 * are sealed and get compressed under it: raw -> compressed boundaries. */
static void test_read_while_compressing(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_z(f->dir, 1 << 20, 0);
  zwriter_arg w = {.b = b, .total = 12u << 20};
  cairn_backlog_cursor *c;
  assert_int_equal(cairn_backlog_cursor_open(b, 1, &c), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, zwriter_main, &w), 0);
  uint8_t *buf = malloc(100000);
  uint64_t off = 1;
  while (off <= w.total) {
    long n = cairn_backlog_cursor_next(c, buf, 1 + (size_t)(off * 31) % 100000);
    if (n < 0) fail_msg("reader error at %llu: errno %d", (unsigned long long)off, errno);
    if (n == 0) {
      usleep(100);
      continue;
    }
    for (long i = 0; i < n; i++)
      if (buf[i] != byte_at(off + (uint64_t)i)) fail_msg("mismatch at %llu", (unsigned long long)(off + (uint64_t)i));
    off += (uint64_t)n;
  }
  pthread_join(t, NULL);
  cairn_backlog_cursor_close(c);
  wait_compressed(b);
  /* a second pass reads the compressed segments */
  read_check(b, 12345, 65536);
  free(buf);
  cairn_backlog_close(b);
}

static int bad_count;
static char bad_last[512];
static void on_bad(void *ud, const char *file, uint64_t pos, uint64_t offset, const char *why) {
  (void)ud;
  bad_count++;
  snprintf(bad_last, sizeof(bad_last), "%s pos %llu offset %llu: %s", file, (unsigned long long)pos,
           (unsigned long long)offset, why);
}

/* Flipped bytes in each part of a compressed segment: a frame, the index,
 * the trailer, the header. Readers get EIO for the damaged range (never
 * wrong bytes); verify names the file and offset. */
static void test_corrupt_frames(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_z(f->dir, 3 << 20, 0);
  while (cairn_backlog_end(b) < (7u << 20)) append_len(b, 30000);
  wait_compressed(b);
  cairn_backlog_close(b);
  char names[8][64];
  int nz = zseg_files(f->dir, names, 8);
  assert_true(nz >= 2);
  qsort(names, (size_t)nz, 64, (int (*)(const void *, const void *))strcmp);
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", f->dir, names[1]);
  int64_t size = file_size(path);
  uint64_t seg_first = strtoull(names[1], NULL, 10);

  /* 1: a byte inside the first frame of the second segment */
  flip_byte(path, 64 + 100);
  b = open_z(f->dir, 3 << 20, 0);
  cairn_backlog_cursor *c;
  uint8_t buf[4096];
  assert_int_equal(cairn_backlog_cursor_open(b, seg_first + 10, &c), 0);
  errno = 0;
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), -1);
  assert_int_equal(errno, EIO);
  cairn_backlog_cursor_close(c);
  /* the next frame of the same segment is fine */
  assert_int_equal(cairn_backlog_cursor_open(b, seg_first + (1u << 20) + 5, &c), 0);
  long n = cairn_backlog_cursor_next(c, buf, sizeof(buf));
  assert_true(n > 0);
  for (long i = 0; i < n; i++) assert_int_equal(buf[i], byte_at(seg_first + (1u << 20) + 5 + (uint64_t)i));
  cairn_backlog_cursor_close(c);
  /* a reader coming from the previous segment stops at the damage */
  assert_int_equal(cairn_backlog_cursor_open(b, seg_first - 100, &c), 0);
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), 100);
  assert_int_equal(cairn_backlog_cursor_next(c, buf, sizeof(buf)), -1);
  assert_int_equal(errno, EIO);
  cairn_backlog_cursor_close(c);
  cairn_backlog_stats st;
  cairn_backlog_get_stats(b, &st);
  assert_true(st.corrupt_frames >= 2);
  bad_count = 0;
  assert_int_equal(cairn_backlog_verify(b, on_bad, NULL, NULL, NULL), 1);
  assert_non_null(strstr(bad_last, names[1]));
  assert_non_null(strstr(bad_last, "pos 64 "));
  cairn_backlog_close(b);
  flip_byte(path, 64 + 100);

  /* 2: the frame index, 3: the trailer, 4: the header */
  uint64_t spots[] = {(uint64_t)size - 32 - 10, (uint64_t)size - 5, 20};
  for (int k = 0; k < 3; k++) {
    flip_byte(path, spots[k]);
    b = open_z(f->dir, 3 << 20, 0); /* open keeps it in the chain (manifest extent) */
    assert_int_equal(cairn_backlog_first(b), 1);
    assert_int_equal(cairn_backlog_cursor_open(b, seg_first + 1, &c), -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(cairn_backlog_cursor_open(b, 1, &c), 0);
    while ((n = cairn_backlog_cursor_next(c, buf, sizeof(buf))) > 0) {
    }
    assert_int_equal(n, -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(cairn_backlog_cursor_offset(c), seg_first);
    cairn_backlog_cursor_close(c);
    bad_count = 0;
    assert_true(cairn_backlog_verify(b, on_bad, NULL, NULL, NULL) >= 1);
    assert_non_null(strstr(bad_last, names[1]));
    cairn_backlog_close(b);
    flip_byte(path, spots[k]);
  }
  b = open_z(f->dir, 3 << 20, 0);
  assert_int_equal(cairn_backlog_verify(b, on_bad, NULL, NULL, NULL), 0);
  read_check(b, 1, 1 << 16);
  cairn_backlog_close(b);
}

static void copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  assert_non_null(a);
  assert_non_null(b);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
  fclose(a);
  fclose(b);
}

/* Crash points of compression and of the manifest, simulated by putting the
 * directory in the state a crash between two steps leaves. */
static void test_manifest_crash_points(void **state) {
  fixture *f = *state;
  char mf[300], mf_old[300], raw[300], raw_keep[300], p[400];
  snprintf(mf, sizeof(mf), "%s/MANIFEST", f->dir);
  snprintf(mf_old, sizeof(mf_old), "%s/../manifest-%d", f->dir, (int)getpid());
  /* written without the compression thread: sealed raw segments only */
  cairn_backlog_options o = {.segment_size = 1 << 20, .no_compress = 1};
  char err[1024];
  cairn_backlog *b = NULL;
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  /* one sealed segment (a crash interrupts one compression at a time) */
  while (cairn_backlog_end(b) < (1u << 20) + 100000) append_len(b, 20000);
  assert_int_equal(cairn_backlog_segment_count(b), 2);
  cairn_backlog_close(b);
  copy_file(mf, mf_old); /* the manifest before compression */
  seg_path(raw, sizeof(raw), f->dir, 1);
  snprintf(raw_keep, sizeof(raw_keep), "%s/../raw-%d", f->dir, (int)getpid());
  copy_file(raw, raw_keep);
  b = open_z(f->dir, 1 << 20, 0);
  wait_compressed(b);
  cairn_backlog_close(b);
  assert_int_equal(file_size(raw), -1); /* the raw copy is gone */

  /* A: crash after the compressed file's rename, before the manifest write:
   * both copies exist, the manifest names the raw one */
  copy_file(mf_old, mf);
  copy_file(raw_keep, raw);
  b = open_z(f->dir, 1 << 20, 1);
  read_check(b, 1, 1 << 16);
  size_t n;
  cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
  assert_string_equal(v[0].state, "sealed"); /* served from the raw copy */
  free(v);
  cairn_backlog_close(b);
  b = open_z(f->dir, 1 << 20, 0); /* the server: recompresses, cleans up */
  wait_compressed(b);
  read_check(b, 1, 1 << 16);
  cairn_backlog_close(b);
  assert_int_equal(file_size(raw), -1);
  char names[16][64];
  int nz = zseg_files(f->dir, names, 16);
  b = open_z(f->dir, 1 << 20, 1);
  assert_int_equal(nz, cairn_backlog_segment_count(b) - 1); /* the unnamed compressed copy went */
  cairn_backlog_close(b);

  /* B: crash after the manifest write, before the raw file's unlink */
  copy_file(raw_keep, raw);
  b = open_z(f->dir, 1 << 20, 0);
  read_check(b, 1, 1 << 16);
  cairn_backlog_close(b);
  assert_int_equal(file_size(raw), -1);

  /* C: a temp file of an interrupted writer */
  snprintf(p, sizeof(p), "%s/00000000000000000001-7.zseg.tmp", f->dir);
  copy_file(raw_keep, p);
  b = open_z(f->dir, 1 << 20, 0);
  read_check(b, 1, 1 << 16);
  cairn_backlog_close(b);
  assert_int_equal(file_size(p), -1);

  /* D: a torn manifest temp file and a corrupt manifest */
  snprintf(p, sizeof(p), "%s/MANIFEST.tmp", f->dir);
  copy_file(raw_keep, p);
  flip_byte(mf, 30);
  cairn_backlog *t = NULL;
  o = (cairn_backlog_options){.tool = 1};
  assert_int_equal(cairn_backlog_open(f->dir, &o, &t, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "corrupt manifest"));
  o = (cairn_backlog_options){.segment_size = 1 << 20};
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), -1); /* never taken for empty */
  assert_non_null(strstr(err, "CORRUPT backlog manifest"));
  assert_non_null(strstr(err, "backlog-load-corrupt truncate"));
  o = (cairn_backlog_options){.segment_size = 1 << 20, .truncate_corrupt = 1};
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "rebuilt"));
  cairn_backlog_stats cst;
  cairn_backlog_get_stats(b, &cst);
  assert_int_equal(cst.corruptions, 1);
  read_check(b, 1, 1 << 16);
  cairn_backlog_close(b);
  b = open_z(f->dir, 1 << 20, 1); /* and the rebuilt manifest is good */
  read_check(b, 1, 1 << 16);
  cairn_backlog_close(b);

  /* E: a tool holds the lock: a second tool is refused, the server waits */
  b = open_z(f->dir, 1 << 20, 1);
  o = (cairn_backlog_options){.tool = 1};
  assert_int_equal(cairn_backlog_open(f->dir, &o, &t, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "locked"));
  cairn_backlog_close(b);
  unlink(mf_old);
  unlink(raw_keep);
}

static char log_text[8192];
static void capture_log(void *ud, int level, const char *msg) {
  (void)ud, (void)level;
  size_t l = strlen(log_text);
  snprintf(log_text + l, sizeof(log_text) - l, "%s\n", msg);
}

static void test_retention_with_pins(void **state) {
  fixture *f = *state;
  cairn_backlog_options o = {.segment_size = 4096, .no_compress = 1, .log = capture_log};
  cairn_backlog *b = NULL;
  char err[512];
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  for (int i = 0; i < 40; i++) append_len(b, 1000); /* 3 records a segment: 14 segments */
  int segs = cairn_backlog_segment_count(b);
  assert_true(segs >= 13);
  /* a replica pin in the 5th segment, the checkpoint further on */
  cairn_backlog_pin_seen(b, "replica-a", 4 * 3000 + 10, 1796612515661LL);
  cairn_backlog_pin_required(b, "checkpoint", 9 * 3000 + 1);
  /* bytes retention wants everything gone: the replica pin stops it */
  cairn_backlog_set_retention(b, 1, 0, 0, 0);
  assert_int_equal(cairn_backlog_maintain(b), 4);
  assert_int_equal(cairn_backlog_first(b), 4 * 3000 + 1);
  read_check(b, cairn_backlog_first(b), 999);
  /* the pins are in the manifest, for cairn-backlog trim */
  cairn_backlog_close(b);
  b = open_z(f->dir, 4096, 1);
  char names[8][64];
  uint64_t offs[8];
  int req[8];
  int64_t seen[8];
  assert_int_equal(cairn_backlog_pins(b, names, offs, req, seen, 8), 2);
  assert_string_equal(names[0], "replica-a");
  assert_int_equal(offs[0], 4 * 3000 + 10);
  assert_int_equal(seen[0], 1796612515661LL); /* a replica slot's last-seen time survives */
  assert_int_equal(req[1], 1);
  assert_int_equal(seen[1], 0);
  /* trim refuses the replica's data without --force, never the checkpoint's */
  assert_int_equal(cairn_backlog_drop(b, 6 * 3000, 0, 0, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "replica-a"));
  assert_int_equal(cairn_backlog_drop(b, 6 * 3000 + 1, 0, 1, err, sizeof(err)), 2);
  assert_int_equal(cairn_backlog_drop(b, UINT64_MAX, 0, 1, err, sizeof(err)), 3);
  assert_non_null(strstr(err, "checkpoint"));
  assert_int_equal(cairn_backlog_first(b), 9 * 3000 + 1);
  cairn_backlog_close(b);
  /* the hard cap overrides a replica pin (logged by name), not the checkpoint */
  log_text[0] = 0;
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  for (int i = 0; i < 30; i++) append_len(b, 1000);
  cairn_backlog_pin(b, "replica-b", 9 * 3000 + 1);
  cairn_backlog_pin_required(b, "checkpoint", 13 * 3000 + 1);
  cairn_backlog_set_retention(b, 0, 0, 1, 0);
  assert_int_equal(cairn_backlog_maintain(b), 4);
  assert_int_equal(cairn_backlog_first(b), 13 * 3000 + 1);
  assert_non_null(strstr(log_text, "replica-b"));
  assert_int_equal(cairn_backlog_maintain(b), 0);
  assert_non_null(strstr(log_text, "pin 'checkpoint'"));
  /* age: sealed segments older than the limit go, up to the checkpoint */
  cairn_backlog_pin_required(b, "checkpoint", cairn_backlog_end(b));
  assert_int_equal(cairn_backlog_unpin(b, "replica-b"), 0);
  assert_int_equal(cairn_backlog_unpin(b, "replica-a"), 0); /* still there, from the manifest */
  cairn_backlog_set_retention(b, 0, 1, 0, 0);
  usleep(1100000);
  assert_true(cairn_backlog_maintain(b) > 0);
  assert_int_equal(cairn_backlog_segment_count(b), 1);
  read_check(b, cairn_backlog_first(b), 999);
  cairn_backlog_close(b);
}

static void test_history(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_z(f->dir, 1 << 20, 0);
  cairn_backlog_replid h[2] = {{.offset = 1}, {.offset = 500}};
  strcpy(h[0].replid, "8de1b7d6e4c5b0a1e2f3a4b5c6d7e8f9a0b1c2d3");
  strcpy(h[1].replid, "1111111111111111111111111111111111111111");
  strcpy(h[1].replid2, "8de1b7d6e4c5b0a1e2f3a4b5c6d7e8f9a0b1c2d3");
  assert_int_equal(cairn_backlog_set_history(b, h, 2), 0);
  cairn_backlog_close(b);
  b = open_z(f->dir, 1 << 20, 1);
  cairn_backlog_replid g[4];
  assert_int_equal(cairn_backlog_get_history(b, g, 4), 2);
  assert_string_equal(g[0].replid, h[0].replid);
  assert_string_equal(g[0].replid2, "");
  assert_string_equal(g[1].replid2, h[1].replid2);
  assert_int_equal(g[1].offset, 500);
  cairn_backlog_close(b);
}

/* Compaction merges and recompresses; the stream reads the same. */
/* Preallocated segments: the thread writes a zero-filled spare once the
 * active segment is half full; the roll renames it into place (the active
 * file is segment_size long, its zeros after the data); the sealed one is cut
 * to its data; reopening keeps the zeros (no torn tail) and appends go on
 * over them; a torn write into them is cut; a spare renamed before its
 * header reached the disk (all zeros) gets a fresh header. */
static int verify_notes;
static void count_note(void *ud, const char *file, uint64_t pos, uint64_t off, const char *what) {
  (void)ud, (void)file, (void)pos, (void)off, (void)what;
  verify_notes++;
}

static void wait_spare(cairn_backlog *b) {
  for (int i = 0; i < 2000; i++) {
    cairn_backlog_stats st;
    cairn_backlog_get_stats(b, &st);
    if (st.spare_ready) return;
    usleep(5000);
  }
  fail_msg("no spare segment after 10 s");
}

static uint64_t active_first(cairn_backlog *b, uint64_t *data_end) {
  size_t n;
  cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
  uint64_t first = v[n - 1].first;
  if (data_end) *data_end = v[n - 1].disk_bytes; /* a raw segment's: the file position after its last record */
  assert_string_equal(v[n - 1].state, "active");
  free(v);
  return first;
}

static void test_preallocated_segments(void **state) {
  fixture *f = *state;
  const uint64_t seg = 256 << 10;
  cairn_backlog_options o = {.segment_size = seg, .preallocate = 1};
  cairn_backlog *b = NULL;
  char err[1024] = "", path[512], spare[512];
  snprintf(spare, sizeof(spare), "%s/spare-segment.tmp", f->dir);
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  cairn_backlog_stats st;
  cairn_backlog_get_stats(b, &st);
  assert_int_equal(st.active_preallocated, 0); /* a new backlog's first segment */
  while (cairn_backlog_end(b) < seg / 2 + 1000) append_len(b, 1000);
  assert_int_equal(active_first(b, NULL), 1);
  wait_spare(b);
  assert_int_equal(file_size(spare), (int64_t)seg);
  /* the roll takes it (early once 1 MB is in a segment not preallocated;
   * here at segment_size, below 1 MB) */
  uint64_t first2 = 1;
  for (int i = 0; i < 1000 && first2 == 1; i++) {
    append_len(b, 1000);
    first2 = active_first(b, NULL);
  }
  assert_true(first2 > 1);
  cairn_backlog_get_stats(b, &st);
  assert_int_equal(st.active_preallocated, 1);
  assert_int_equal(file_size(spare), -1);
  seg_path(path, sizeof(path), f->dir, first2);
  assert_int_equal(file_size(path), (int64_t)seg); /* zero-filled ahead */
  char old[512];
  seg_path(old, sizeof(old), f->dir, 1);
  int64_t old_size = file_size(old);
  assert_true(old_size == -1 || old_size == (int64_t)(first2 - 1 + SEG_HDR + (first2 - 1) / 1000 * REC_HDR));
  /* through a few preallocated rolls */
  while (cairn_backlog_end(b) < 5 * seg) {
    append_len(b, 777);
    if (cairn_backlog_end(b) % 50 == 0) usleep(100);
  }
  /* end in a preallocated segment */
  for (int i = 0; i < 5000; i++) {
    cairn_backlog_get_stats(b, &st);
    if (st.spare_ready) break;
    append_len(b, 100);
    usleep(1000);
  }
  uint64_t cur = active_first(b, NULL), nf = cur;
  for (int i = 0; i < 1000 && nf == cur; i++) {
    append_len(b, 1000);
    nf = active_first(b, NULL);
  }
  assert_true(nf != cur);
  cairn_backlog_get_stats(b, &st);
  assert_int_equal(st.active_preallocated, 1);
  assert_int_equal(cairn_backlog_sync(b), 0);
  read_check(b, 1, 4096);
  uint64_t first_n, data_n;
  first_n = active_first(b, &data_n);
  seg_path(path, sizeof(path), f->dir, first_n);
  cairn_backlog_get_stats(b, &st);
  int64_t active_file = file_size(path);
  assert_int_equal(active_file, (int64_t)seg);
  assert_true(active_file > (int64_t)data_n);
  uint64_t end = cairn_backlog_end(b);
  cairn_backlog_close(b);
  assert_int_equal(file_size(spare), -1); /* close removes the spare */

  /* reopen: the zeros are kept, not a torn tail; appends go on over them */
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  assert_null(strstr(err, "torn"));
  cairn_backlog_get_stats(b, &st);
  assert_int_equal(st.torn_tail_bytes_cut, 0);
  assert_int_equal(st.active_preallocated, 1);
  assert_int_equal(cairn_backlog_end(b), end);
  assert_int_equal(file_size(path), active_file);
  append_len(b, 500);
  read_check(b, 1, 65536);
  verify_notes = 0;
  assert_int_equal(cairn_backlog_verify(b, count_cb, count_note, NULL, NULL), 0);
  assert_int_equal(verify_notes, 0);
  end = cairn_backlog_end(b);
  uint64_t data_end = 0;
  active_first(b, &data_end);
  cairn_backlog_close(b);

  {
    /* a torn write into the preallocated part: cut, the rest with it */
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "CRC1torn", 8, (off_t)data_end), 8);
    close(fd);
    if (cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)) != 0) fail_msg("open: %s", err);
    assert_non_null(strstr(err, "torn tail"));
    cairn_backlog_get_stats(b, &st);
    assert_int_equal(st.torn_tail_bytes_cut, (uint64_t)active_file - data_end);
    assert_int_equal(st.active_preallocated, 0);
    assert_int_equal(file_size(path), (int64_t)data_end);
    assert_int_equal(cairn_backlog_end(b), end);
    read_check(b, 1, 4096);
    cairn_backlog_close(b);
  }

  /* a spare renamed into place whose header never reached the disk */
  char next[512];
  seg_path(next, sizeof(next), f->dir, end + 1);
  int fd = open(next, O_WRONLY | O_CREAT | O_EXCL, 0644);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)seg), 0);
  close(fd);
  assert_int_equal(cairn_backlog_open(f->dir, &o, &b, err, sizeof(err)), 0);
  assert_non_null(strstr(err, "torn segment header"));
  assert_int_equal(cairn_backlog_end(b), end);
  append_len(b, 300);
  read_check(b, 1, 4096);
  cairn_backlog_close(b);
}

static void test_compact(void **state) {
  fixture *f = *state;
  cairn_backlog *b = open_z(f->dir, 1 << 20, 0);
  while (cairn_backlog_end(b) < (6u << 20)) append_len(b, 7000);
  wait_compressed(b);
  int before = cairn_backlog_segment_count(b);
  cairn_backlog_close(b);
  b = open_z(f->dir, 1 << 20, 1);
  char err[512];
  int n = cairn_backlog_compact(b, 19, 1, 64u << 20, NULL, NULL, err, sizeof(err));
  assert_int_equal(n, 1);
  assert_int_equal(cairn_backlog_segment_count(b), 2);
  read_check(b, 1, 1 << 16);
  assert_int_equal(cairn_backlog_verify(b, on_bad, NULL, NULL, NULL), 0);
  cairn_backlog_close(b);
  b = open_z(f->dir, 1 << 20, 0);
  assert_true(before > 2);
  assert_int_equal(cairn_backlog_segment_count(b), 2);
  read_check(b, 1, 1 << 16);
  read_check(b, 3000001, 1 << 16);
  size_t cnt;
  cairn_backlog_seginfo *v = cairn_backlog_list(b, &cnt);
  assert_string_equal(v[0].state, "compacted");
  free(v);
  append_len(b, 100);
  cairn_backlog_close(b);
}

/* A replica's adopted frames (cairn_backlog_adopt_frame): the master's
 * compressed frames go into the compressed segment as they came (same
 * bytes), the stream reads back the same; a frame whose range holds other
 * bytes, one spanning two segments and one past the memory cap are
 * compressed here instead. */
static void test_adopted_frames(void **state) {
  fixture *f = *state;
  const uint32_t FR = 200000; /* "master" frames of 200,000 stream bytes, cut anywhere */
  cairn_backlog *b = open_z(f->dir, 3 << 20, 0);
  uint8_t *raw = malloc(FR), *comp = malloc(ZSTD_compressBound(FR));
  size_t comp_cap = ZSTD_compressBound(FR);
  assert_non_null(raw);
  assert_non_null(comp);
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
  /* no content size in the frame header: the backlog's own frames have
   * one, so a frame compressed there never equals ours */
  ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
  /* what we adopted: first offset, compressed length and a copy */
  enum { NF = 45 };
  uint64_t firsts[NF];
  size_t clens[NF];
  uint8_t *copies[NF];
  int lied = 7; /* this frame's raw crc is wrong: its bytes must be compressed here */
  for (int i = 0; i < NF; i++) {
    uint64_t first = cairn_backlog_end(b) + 1;
    for (uint32_t k = 0; k < FR; k++) raw[k] = byte_at(first + k);
    size_t n = ZSTD_compress2(cc, comp, comp_cap, raw, FR);
    assert_false(ZSTD_isError(n));
    uint32_t rcrc = cairn_crc32c(0, raw, FR) ^ (i == lied ? 1u : 0u);
    assert_int_equal(cairn_backlog_adopt_frame(b, first, comp, n, FR, rcrc), 1);
    firsts[i] = first;
    clens[i] = n;
    copies[i] = malloc(n);
    memcpy(copies[i], comp, n);
    /* the frame's bytes arrive as records of other sizes (the replica's
     * iterations), the last one carrying into the next frame */
    for (uint32_t done = 0; done < FR;) {
      size_t len = 1 + (size_t)((first + done) * 7919) % 70000;
      if (len > FR - done) len = FR - done;
      append_len(b, len);
      done += (uint32_t)len;
    }
  }
  /* out of order (before the last one's end): not kept */
  assert_int_equal(cairn_backlog_adopt_frame(b, firsts[NF - 1], copies[NF - 1], clens[NF - 1], FR, 0), 0);
  append_len(b, 4 << 20); /* seals what came before */
  wait_compressed(b);
  cairn_backlog_stats st;
  cairn_backlog_get_stats(b, &st);
  assert_int_equal(st.adopt_mismatches, 1);
  assert_int_equal(st.adopt_dropped, 1);
  /* 45 frames over segments of 3 MiB: a few span two segments */
  assert_true(st.adopted_frames >= NF - 6 && st.adopted_frames <= NF - 2);
  assert_int_equal(st.adopted_stream_bytes, st.adopted_frames * FR);
  read_check(b, 1, 100000);
  /* each adopted frame is in a compressed segment byte for byte */
  int same = 0;
  for (int i = 0; i < NF; i++) {
    cairn_backlog_cursor *c;
    assert_int_equal(cairn_backlog_cursor_open(b, firsts[i], &c), 0);
    uint32_t rl = 0, crc = 0;
    long n = cairn_backlog_cursor_next_frame(c, firsts[i] + FR - 1, comp, comp_cap, &rl, &crc);
    if (n > 0 && rl == FR && (size_t)n == clens[i] && memcmp(comp, copies[i], clens[i]) == 0) same++;
    if (i == lied) assert_false(n > 0 && (size_t)n == clens[i] && memcmp(comp, copies[i], clens[i]) == 0);
    cairn_backlog_cursor_close(c);
    free(copies[i]);
  }
  assert_int_equal(same, (int)st.adopted_frames);
  /* the memory cap (half a segment's worth, at least 8 MiB): frames past it are not kept */
  int kept = 0;
  uint64_t at = cairn_backlog_end(b) + 1;
  for (int i = 0; i < 200; i++) kept += cairn_backlog_adopt_frame(b, at + (uint64_t)i * FR, comp, 100000, FR, 0) == 1;
  assert_true(kept >= 80 && kept <= 90);
  /* a reset forgets them (frames of the old history) */
  assert_int_equal(cairn_backlog_reset(b, 1000000000), 0);
  assert_int_equal(cairn_backlog_adopt_frame(b, 1000000001, comp, 100000, FR, 0), 1);
  ZSTD_freeCCtx(cc);
  free(raw);
  free(comp);
  cairn_backlog_close(b);
  /* reopened: the stream is whole and verifies */
  b = open_z(f->dir, 3 << 20, 1);
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
      cmocka_unit_test_setup_teardown(test_corruption_inside_newest_segment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_old_segment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gap_is_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trim_with_open_cursor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_append_failure_cuts_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_reader, setup, teardown),
      cmocka_unit_test_setup_teardown(test_append_too_big_and_sync, setup, teardown),
      cmocka_unit_test_setup_teardown(test_next_frame, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compress_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_while_compressing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(test_manifest_crash_points, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retention_with_pins, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_preallocated_segments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_adopted_frames, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
