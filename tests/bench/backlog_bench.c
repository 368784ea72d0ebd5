/* Backlog micro-benchmarks (built and run by tests/bench/backlog.sh):
 *   backlog_bench append DIR strict|relaxed RECORD_BYTES TOTAL_MB [STREAM_FILE]
 *       appends TOTAL_MB of stream in records of RECORD_BYTES (taken from
 *       STREAM_FILE, cycled, or a fixed pattern), fdatasync after every
 *       record (strict) or once a second (relaxed); prints MB/s.
 *   backlog_bench read DIR READS BYTES
 *       READS cursors at random offsets inside compressed segments, each
 *       reading BYTES; prints MB/s of stream (one thread). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "replication/backlog/backlog.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_append(const char *dir, int strict, size_t rec, uint64_t total_mb, const char *stream) {
  uint8_t *src = NULL;
  size_t src_len = 0;
  if (stream) {
    FILE *f = fopen(stream, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) return perror(stream), 1;
    src_len = (size_t)st.st_size;
    src = malloc(src_len);
    if (fread(src, 1, src_len, f) != src_len) return perror(stream), 1;
    fclose(f);
  } else {
    src_len = 1 << 20;
    src = malloc(src_len);
    for (size_t i = 0; i < src_len; i++) src[i] = (uint8_t)("*3\r\n$3\r\nSET\r\n$10\r\nkey:"[i % 24] + (i / 97) % 7);
  }
  if (rec > src_len) rec = src_len;
  cairn_backlog_options o = {.segment_size = 64 << 20};
  cairn_backlog *b;
  char err[512];
  if (cairn_backlog_open(dir, &o, &b, err, sizeof(err))) return fprintf(stderr, "%s\n", err), 1;
  uint64_t total = total_mb << 20, done = 0;
  size_t pos = 0;
  double t0 = now_s(), last_sync = t0;
  while (done < total) {
    if (pos + rec > src_len) pos = 0;
    if (cairn_backlog_append(b, src + pos, rec) < 0) return perror("append"), 1;
    pos += rec;
    done += rec;
    double t = strict ? 0 : now_s();
    if (strict || t - last_sync >= 1.0) {
      if (cairn_backlog_sync(b) < 0) return perror("sync"), 1;
      last_sync = t;
    }
  }
  cairn_backlog_sync(b);
  double dt = now_s() - t0;
  printf("append %s, %zu-byte records: %.1f MB/s (%.0f records/s)\n", strict ? "strict" : "relaxed", rec,
         (double)done / 1e6 / dt, (double)(done / rec) / dt);
  cairn_backlog_close(b);
  free(src);
  return 0;
}

static int bench_read(const char *dir, int reads, size_t bytes) {
  cairn_backlog_options o = {.tool = 1};
  cairn_backlog *b;
  char err[512];
  if (cairn_backlog_open(dir, &o, &b, err, sizeof(err))) return fprintf(stderr, "%s\n", err), 1;
  size_t n;
  cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
  uint64_t lo = 0, hi = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(v[i].state, "compressed") && strcmp(v[i].state, "compacted")) continue;
    if (!lo) lo = v[i].first;
    hi = v[i].last;
  }
  free(v);
  if (!lo || hi - lo < bytes) return fprintf(stderr, "no compressed segments to read\n"), 1;
  uint8_t *buf = malloc(1 << 20);
  uint64_t got_total = 0;
  srand(42);
  double t0 = now_s();
  for (int r = 0; r < reads; r++) {
    uint64_t off = lo + ((uint64_t)rand() * 65536u + (uint64_t)rand()) % (hi - lo - bytes);
    cairn_backlog_cursor *c;
    if (cairn_backlog_cursor_open(b, off, &c)) return perror("cursor"), 1;
    size_t left = bytes;
    while (left) {
      long k = cairn_backlog_cursor_next(c, buf, left < (1 << 20) ? left : (1 << 20));
      if (k <= 0) return fprintf(stderr, "read: %s\n", strerror(errno)), 1;
      left -= (size_t)k;
      got_total += (uint64_t)k;
    }
    cairn_backlog_cursor_close(c);
  }
  double dt = now_s() - t0;
  printf("read %d x %zu bytes from random offsets in compressed segments: %.1f MB/s of stream\n", reads, bytes,
         (double)got_total / 1e6 / dt);
  free(buf);
  cairn_backlog_close(b);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && !strcmp(argv[1], "append"))
    return bench_append(argv[2], !strcmp(argv[3], "strict"), (size_t)atol(argv[4]), (uint64_t)atol(argv[5]),
                        argc > 6 ? argv[6] : NULL);
  if (argc == 5 && !strcmp(argv[1], "read")) return bench_read(argv[2], atoi(argv[3]), (size_t)atol(argv[4]));
  fprintf(stderr, "usage: see the comment at the top of tests/bench/backlog_bench.c\n");
  return 2;
}
