/* Segmented write-ahead log / replication backlog (see backlog.h).
 *
 * On-disk format (all integers little-endian):
 *
 *   segment file  <dir>/%020llu.seg, named by the offset of its first byte
 *     segment header, SEG_HDR_SIZE = 64 bytes:
 *       0  char[8] "CAIRNSEG"
 *       8  u8      version      (SEG_VERSION = 1)
 *       9  u8      format       (SEG_FORMAT_RAW = 0: plain records follow;
 *                                reserved for compressed sealed segments)
 *      10  u8      state        (SEG_STATE_ACTIVE = 0 / SEG_STATE_SEALED = 1)
 *      11  u8      reserved (0)
 *      12  u32     header size  (64; lets a later version grow the header)
 *      16  u64     first offset (must match the file name)
 *      24  i64     creation wall-clock ms
 *      32  u64     last offset  (valid when sealed: end of this segment)
 *      40  u64     record bytes (valid when sealed: file size)
 *      48  u8[12]  reserved (0)
 *      60  u32     crc32c of bytes 0..59
 *     then records, back to back, never spanning files:
 *       0  u32     type          (REC_TYPE_DATA = "CRC1" magic + type)
 *       4  u32     payload length (> 0)
 *       8  u64     offset of the payload's first byte
 *      16  i64     wall-clock ms at append
 *      24  u32     flags (0; reserved, covered by the crc)
 *      28  u32     crc32c over bytes 0..27 then the payload
 *      32  payload
 *
 * The header is rewritten once, when the segment is sealed (state, last
 * offset, size), then fsynced before its successor is created, so a sealed
 * header is a trustworthy statement of what the file holds.
 *
 * Concurrency: one writer thread, cursors on any thread. The mutex guards the
 * segment array and each segment's sparse index (the only things a cursor
 * reads from shared memory besides `end`, `first` and `gen`, which are
 * atomics). The writer touches the mutex on append only when it adds a sparse
 * index entry (every INDEX_STRIDE bytes), so appends stay lock-free in the
 * common case. Segment first offsets and the directory path never change. */
#include "replication/backlog.h"

#include "engine/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define SEG_MAGIC "CAIRNSEG"
#define SEG_HDR_SIZE 64
#define SEG_VERSION 1
#define SEG_FORMAT_RAW 0
#define SEG_STATE_ACTIVE 0
#define SEG_STATE_SEALED 1

#define REC_HDR_SIZE 32
#define REC_TYPE_DATA 0x31435243u /* "CRC1" read as little-endian u32 */
/* A length field is only 32 bits; keep header+payload representable. */
#define REC_MAX_PAYLOAD ((uint64_t)UINT32_MAX - REC_HDR_SIZE)

/* One sparse-index entry per INDEX_STRIDE bytes of file: seeking reads at most
 * this much plus one record, and memory is 16 bytes per 4 KiB of log (0.4%). */
#define INDEX_STRIDE 4096
/* Read window for scans and cursors: big sequential reads, one syscall covers
 * many small records. */
#define WINDOW_SIZE (256 * 1024)

#define SEG_NAME_LEN 24 /* 20 digits + ".seg" */

typedef struct idx_entry {
  uint64_t off; /* offset of the record's first payload byte */
  uint64_t pos; /* file position of the record header */
} idx_entry;

typedef struct segment {
  uint64_t first;    /* immutable */
  uint64_t end;      /* last offset held (first-1 when empty) */
  uint64_t size;     /* file size = position after the last good record */
  int64_t first_ms;  /* timestamp of the first record, 0 if none */
  idx_entry *idx;    /* sparse index, guarded by the backlog mutex */
  size_t nidx, idx_cap;
  uint64_t next_idx_pos; /* add an index entry at the first record at/after this */
} segment;

struct cairn_backlog {
  char *dir;
  int dirfd;
  uint64_t segment_size;
  pthread_mutex_t mu;
  segment **segs; /* oldest first; the last one is active */
  size_t nsegs, segs_cap;
  int active_fd;
  int dir_dirty;      /* a segment was created since the last sync */
  uint64_t disk_bytes;
  _Atomic uint64_t end;
  _Atomic uint64_t first;
  _Atomic uint64_t gen; /* bumped by reset: cursors from before it are stale */
};

struct cairn_backlog_cursor {
  cairn_backlog *b;
  uint64_t gen;
  int fd;                /* own fd of the segment being read */
  uint64_t seg_first;
  uint64_t off;          /* next byte to hand out */
  uint64_t file_pos;     /* file position of the next record header to load */
  uint64_t next_rec_off; /* offset the record at file_pos must carry */
  /* currently loaded record (verified), payload points into buf */
  const uint8_t *payload;
  uint64_t rec_off;
  uint32_t rec_len;
  int have_rec;
  /* read window over the file: buf[0..buf_len) holds bytes at buf_pos.. */
  uint8_t *buf;
  size_t buf_cap, buf_len;
  uint64_t buf_pos;
};

/* ---- little-endian helpers --------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static void errf(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Appends a recovery note to err (open reports repairs while succeeding);
 * notes are separated by "; " and silently truncated when err is full. */
static void note(char *err, size_t errlen, size_t *used, const char *fmt, ...) {
  if (!err || *used + 3 >= errlen) return;
  if (*used) {
    memcpy(err + *used, "; ", 3);
    *used += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err + *used, errlen - *used, fmt, ap);
  va_end(ap);
  if (n > 0) *used += (size_t)n < errlen - *used ? (size_t)n : errlen - *used - 1;
}

static void seg_name(char out[SEG_NAME_LEN + 1], uint64_t first) {
  snprintf(out, SEG_NAME_LEN + 1, "%020llu.seg", (unsigned long long)first);
}

/* ---- headers ------------------------------------------------------------ */

typedef struct seg_hdr {
  uint8_t version, format, state;
  uint64_t first, last, bytes;
  int64_t ctime_ms;
} seg_hdr;

static void seg_hdr_encode(uint8_t out[SEG_HDR_SIZE], const seg_hdr *h) {
  memset(out, 0, SEG_HDR_SIZE);
  memcpy(out, SEG_MAGIC, 8);
  out[8] = h->version;
  out[9] = h->format;
  out[10] = h->state;
  put32(out + 12, SEG_HDR_SIZE);
  put64(out + 16, h->first);
  put64(out + 24, (uint64_t)h->ctime_ms);
  put64(out + 32, h->last);
  put64(out + 40, h->bytes);
  put32(out + 60, cairn_crc32c(0, out, 60));
}

/* Returns 0 if the header is intact and understood, else a reason. */
static const char *seg_hdr_decode(const uint8_t in[SEG_HDR_SIZE], seg_hdr *h) {
  if (memcmp(in, SEG_MAGIC, 8) != 0) return "bad segment magic";
  if (get32(in + 60) != cairn_crc32c(0, in, 60)) return "segment header checksum mismatch";
  h->version = in[8];
  h->format = in[9];
  h->state = in[10];
  if (h->version != SEG_VERSION) return "unsupported segment version";
  if (h->format != SEG_FORMAT_RAW) return "unsupported segment format";
  if (get32(in + 12) != SEG_HDR_SIZE) return "unexpected segment header size";
  h->first = get64(in + 16);
  h->ctime_ms = (int64_t)get64(in + 24);
  h->last = get64(in + 32);
  h->bytes = get64(in + 40);
  return NULL;
}

static void rec_hdr_encode(uint8_t out[REC_HDR_SIZE], uint32_t len, uint64_t off, int64_t ms) {
  put32(out, REC_TYPE_DATA);
  put32(out + 4, len);
  put64(out + 8, off);
  put64(out + 16, (uint64_t)ms);
  put32(out + 24, 0);
}

/* ---- small I/O helpers ---------------------------------------------------- */

/* pread that retries short reads; returns bytes read (< n only at EOF), -1 on error. */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t pos) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(pos + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int pwrite_full(int fd, const void *buf, size_t n, uint64_t pos) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(fd, (const uint8_t *)buf + done, n - done, (off_t)(pos + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (w == 0) {
      errno = EIO;
      return -1;
    }
    done += (size_t)w;
  }
  return 0;
}

static int open_seg_file(const cairn_backlog *b, uint64_t first, int flags) {
  char name[SEG_NAME_LEN + 1];
  seg_name(name, first);
  int fd;
  do fd = openat(b->dirfd, name, flags | O_CLOEXEC, 0644);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* ---- segment bookkeeping -------------------------------------------------- */

static segment *seg_new(uint64_t first) {
  segment *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->first = first;
  s->end = first - 1;
  s->size = SEG_HDR_SIZE;
  s->next_idx_pos = SEG_HDR_SIZE;
  return s;
}

static void seg_free(segment *s) {
  if (!s) return;
  free(s->idx);
  free(s);
}

/* Adds a sparse index entry if this record starts a new stride. Allocation
 * failure only costs seek speed (seeks fall back to an earlier entry or the
 * segment start), so it is not an error. Caller decides about locking. */
static int seg_index_due(const segment *s, uint64_t pos) { return pos >= s->next_idx_pos; }

static void seg_index_add(segment *s, uint64_t off, uint64_t pos) {
  if (s->nidx == s->idx_cap) {
    size_t ncap = s->idx_cap ? s->idx_cap * 2 : 16;
    idx_entry *n = realloc(s->idx, ncap * sizeof(*n));
    if (!n) return;
    s->idx = n;
    s->idx_cap = ncap;
  }
  s->idx[s->nidx].off = off;
  s->idx[s->nidx].pos = pos;
  s->nidx++;
  s->next_idx_pos = pos + INDEX_STRIDE;
}

/* Records the bookkeeping for a record that is now part of segment s. */
static void seg_note_record(segment *s, uint64_t off, uint32_t len, uint64_t pos, int64_t ms) {
  if (s->end < s->first) s->first_ms = ms;
  s->end = off + len - 1;
  s->size = pos + REC_HDR_SIZE + len;
}

static int segs_push(cairn_backlog *b, segment *s) {
  if (b->nsegs == b->segs_cap) {
    size_t ncap = b->segs_cap ? b->segs_cap * 2 : 8;
    segment **n = realloc(b->segs, ncap * sizeof(*n));
    if (!n) return -1;
    b->segs = n;
    b->segs_cap = ncap;
  }
  b->segs[b->nsegs++] = s;
  return 0;
}

/* Index of the segment holding `off` (the last one whose first <= off), or
 * -1 if off precedes every segment. Caller holds the mutex. */
static long segs_find(const cairn_backlog *b, uint64_t off) {
  size_t lo = 0, hi = b->nsegs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->segs[mid]->first <= off) lo = mid + 1;
    else hi = mid;
  }
  return (long)lo - 1;
}

/* ---- scanning ------------------------------------------------------------- */

typedef struct window {
  int fd;
  uint8_t *buf;
  size_t cap, len;
  uint64_t pos;
} window;

/* Returns a pointer to n bytes at file position pos (n <= cap), reading a new
 * window when needed; NULL with *eof=1 if the file is shorter, NULL with
 * *eof=0 on an I/O error. */
static const uint8_t *win_get(window *w, uint64_t pos, size_t n, int *eof) {
  *eof = 0;
  if (pos >= w->pos && pos + n <= w->pos + w->len) return w->buf + (pos - w->pos);
  ssize_t r = pread_full(w->fd, w->buf, w->cap, pos);
  if (r < 0) return NULL;
  w->pos = pos;
  w->len = (size_t)r;
  if ((size_t)r < n) {
    *eof = 1;
    return NULL;
  }
  return w->buf;
}

/* Walks the records of segment s (open as fd, file_size bytes), filling s->end,
 * s->size, s->first_ms and the sparse index. With verify, every payload crc is
 * checked (newest segment); otherwise only record headers are read (older
 * segments: cheap). Returns 0 when the walk reached the end of the file, 1 when
 * it stopped at a bad or torn record (why says what), -1 on I/O error. */
static int scan_segment(segment *s, int fd, uint64_t file_size, int verify, const char **why) {
  window w = {.fd = fd, .cap = WINDOW_SIZE};
  w.buf = malloc(w.cap);
  if (!w.buf) return -1;
  uint64_t pos = SEG_HDR_SIZE, expect = s->first;
  int rc = 0, eof;
  *why = NULL;
  while (pos < file_size) {
    const uint8_t *h = win_get(&w, pos, REC_HDR_SIZE, &eof);
    if (!h) {
      if (!eof) rc = -1;
      else *why = "partial record header", rc = 1;
      break;
    }
    uint32_t type = get32(h), len = get32(h + 4), crc = get32(h + 28);
    uint64_t off = get64(h + 8);
    int64_t ms = (int64_t)get64(h + 16);
    if (type != REC_TYPE_DATA || len == 0) {
      *why = "bad record header";
      rc = 1;
      break;
    }
    if (off != expect) {
      *why = "record offset not contiguous";
      rc = 1;
      break;
    }
    if (pos + REC_HDR_SIZE + len > file_size) {
      *why = "partial record payload";
      rc = 1;
      break;
    }
    if (verify) {
      uint32_t c = cairn_crc32c(0, h, 28);
      uint64_t p = pos + REC_HDR_SIZE, left = len;
      while (left > 0) {
        size_t chunk = left < w.cap ? (size_t)left : w.cap;
        const uint8_t *d = win_get(&w, p, chunk, &eof);
        if (!d) break;
        c = cairn_crc32c(c, d, chunk);
        p += chunk;
        left -= chunk;
      }
      if (left > 0) {
        if (!eof) rc = -1;
        else *why = "partial record payload", rc = 1;
        break;
      }
      if (c != crc) {
        *why = "record checksum mismatch";
        rc = 1;
        break;
      }
    }
    if (seg_index_due(s, pos)) seg_index_add(s, off, pos);
    seg_note_record(s, off, len, pos, ms);
    expect = off + len;
    pos += REC_HDR_SIZE + (uint64_t)len;
  }
  free(w.buf);
  return rc;
}

/* ---- creating and sealing segments -------------------------------------- */

/* Writes a fresh segment file for `first` under `name` and returns its fd
 * (O_RDWR), or -1. The file is created exclusively so an existing segment is
 * never clobbered. */
static int create_seg_file(cairn_backlog *b, const char *name, uint64_t first, int64_t *ctime_ms) {
  int fd = openat(b->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  seg_hdr h = {.version = SEG_VERSION, .format = SEG_FORMAT_RAW, .state = SEG_STATE_ACTIVE,
               .first = first, .ctime_ms = cairn_mstime()};
  uint8_t buf[SEG_HDR_SIZE];
  seg_hdr_encode(buf, &h);
  if (pwrite_full(fd, buf, sizeof(buf), 0) < 0) {
    int e = errno;
    close(fd);
    unlinkat(b->dirfd, name, 0);
    errno = e;
    return -1;
  }
  if (ctime_ms) *ctime_ms = h.ctime_ms;
  return fd;
}

static int write_seg_header(int fd, const segment *s, int64_t ctime_ms, uint8_t state) {
  seg_hdr h = {.version = SEG_VERSION, .format = SEG_FORMAT_RAW, .state = state,
               .first = s->first, .ctime_ms = ctime_ms};
  if (state == SEG_STATE_SEALED) {
    h.last = s->end;
    h.bytes = s->size;
  }
  uint8_t buf[SEG_HDR_SIZE];
  seg_hdr_encode(buf, &h);
  return pwrite_full(fd, buf, sizeof(buf), 0);
}

static int64_t read_ctime(int fd) {
  uint8_t buf[SEG_HDR_SIZE];
  seg_hdr h;
  if (pread_full(fd, buf, sizeof(buf), 0) != SEG_HDR_SIZE || seg_hdr_decode(buf, &h)) return 0;
  return h.ctime_ms;
}

/* Seals the active segment (header says sealed, with its last offset and
 * size; fdatasync so the successor never exists on disk before its
 * predecessor's data) and starts a new active segment at end+1. */
static int roll(cairn_backlog *b) {
  segment *cur = b->segs[b->nsegs - 1];
  if (write_seg_header(b->active_fd, cur, read_ctime(b->active_fd), SEG_STATE_SEALED) < 0 ||
      fdatasync(b->active_fd) < 0)
    return -1;
  segment *s = seg_new(cur->end + 1);
  if (!s) {
    errno = ENOMEM;
    return -1;
  }
  char name[SEG_NAME_LEN + 1];
  seg_name(name, s->first);
  int fd = create_seg_file(b, name, s->first, NULL);
  if (fd < 0) {
    seg_free(s);
    return -1;
  }
  pthread_mutex_lock(&b->mu);
  int pushed = segs_push(b, s);
  pthread_mutex_unlock(&b->mu);
  if (pushed < 0) {
    close(fd);
    unlinkat(b->dirfd, name, 0);
    seg_free(s);
    errno = ENOMEM;
    return -1;
  }
  close(b->active_fd);
  b->active_fd = fd;
  b->disk_bytes += SEG_HDR_SIZE;
  b->dir_dirty = 1;
  return 0;
}

/* ---- open / close --------------------------------------------------------- */

static int mkdir_p(const char *dir) {
  char *p = strdup(dir);
  if (!p) return -1;
  for (char *q = p + 1; *q; q++) {
    if (*q != '/') continue;
    *q = 0;
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
      free(p);
      return -1;
    }
    *q = '/';
  }
  int rc = (mkdir(p, 0755) < 0 && errno != EEXIST) ? -1 : 0;
  free(p);
  return rc;
}

static int parse_seg_name(const char *name, uint64_t *first) {
  if (strlen(name) != SEG_NAME_LEN || strcmp(name + 20, ".seg") != 0) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9') return 0;
    uint64_t d = (uint64_t)(name[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *first = v;
  return 1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Lists segment start offsets, sorted. Stray "*.seg.tmp" files (an interrupted
 * reset) are removed. */
static int list_segments(cairn_backlog *b, uint64_t **out, size_t *n) {
  int fd = dup(b->dirfd);
  if (fd < 0) return -1;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return -1;
  }
  uint64_t *v = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    uint64_t first;
    size_t l = strlen(de->d_name);
    if (l == SEG_NAME_LEN + 4 && strcmp(de->d_name + SEG_NAME_LEN, ".tmp") == 0) {
      unlinkat(b->dirfd, de->d_name, 0);
      continue;
    }
    if (!parse_seg_name(de->d_name, &first)) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 16;
      uint64_t *nv = realloc(v, cap * sizeof(*nv));
      if (!nv) {
        free(v);
        closedir(d);
        errno = ENOMEM;
        return -1;
      }
      v = nv;
    }
    v[cnt++] = first;
  }
  closedir(d);
  if (cnt > 1) qsort(v, cnt, sizeof(*v), cmp_u64);
  *out = v;
  *n = cnt;
  return 0;
}

/* Loads segment `first` into b. newest: full verification and tail repair;
 * else header walk only. next_first is the successor's first offset (for
 * older segments) so a damaged segment can still be placed in the chain. */
static int load_segment(cairn_backlog *b, uint64_t first, int newest, uint64_t next_first,
                        char *err, size_t errlen, size_t *errused) {
  char name[SEG_NAME_LEN + 1];
  seg_name(name, first);
  int fd = open_seg_file(b, first, newest ? O_RDWR : O_RDONLY);
  if (fd < 0) {
    errf(err, errlen, "%s/%s: open: %s", b->dir, name, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    errf(err, errlen, "%s/%s: stat: %s", b->dir, name, strerror(errno));
    close(fd);
    return -1;
  }
  segment *s = seg_new(first);
  if (!s || segs_push(b, s) < 0) {
    seg_free(s);
    close(fd);
    errf(err, errlen, "%s/%s: out of memory", b->dir, name);
    return -1;
  }
  uint64_t fsize = (uint64_t)st.st_size;
  uint8_t hb[SEG_HDR_SIZE];
  seg_hdr h;
  const char *why = NULL;
  ssize_t r = pread_full(fd, hb, sizeof(hb), 0);
  if (r < 0) {
    errf(err, errlen, "%s/%s: read: %s", b->dir, name, strerror(errno));
    close(fd);
    return -1;
  }
  if (r < SEG_HDR_SIZE && newest) {
    /* Crash while the newest segment was being created: nothing can be in it
     * yet. Rewrite a fresh header. */
    int64_t now = cairn_mstime();
    if (ftruncate(fd, 0) < 0 || write_seg_header(fd, s, now, SEG_STATE_ACTIVE) < 0 ||
        fsync(fd) < 0) {
      errf(err, errlen, "%s/%s: rewriting torn header: %s", b->dir, name, strerror(errno));
      close(fd);
      return -1;
    }
    note(err, errlen, errused, "%s/%s: torn segment header (%llu bytes) rewritten", b->dir, name,
         (unsigned long long)fsize);
    b->active_fd = fd;
    b->disk_bytes += SEG_HDR_SIZE;
    return 0;
  }
  if (r < SEG_HDR_SIZE) why = "short segment header";
  else why = seg_hdr_decode(hb, &h);
  if (!why && h.first != first) why = "segment header first offset does not match file name";
  if (why) {
    errf(err, errlen, "%s/%s: %s", b->dir, name, why);
    close(fd);
    return -1;
  }

  int rc = scan_segment(s, fd, fsize, newest, &why);
  if (rc < 0) {
    errf(err, errlen, "%s/%s: read: %s", b->dir, name, strerror(errno));
    close(fd);
    return -1;
  }
  if (newest) {
    if (rc == 1) {
      uint64_t cut = fsize - s->size;
      if (ftruncate(fd, (off_t)s->size) < 0 || fsync(fd) < 0) {
        errf(err, errlen, "%s/%s: cutting torn tail: %s", b->dir, name, strerror(errno));
        close(fd);
        return -1;
      }
      note(err, errlen, errused, "%s/%s: cut %llu bytes at file position %llu (after offset %llu): %s",
           b->dir, name, (unsigned long long)cut, (unsigned long long)s->size,
           (unsigned long long)s->end, why);
    }
    if (h.state != SEG_STATE_ACTIVE) {
      /* Sealed but never succeeded (crash between seal and the next
       * segment's creation): we append to it again, so it is active. */
      if (write_seg_header(fd, s, h.ctime_ms, SEG_STATE_ACTIVE) < 0 || fdatasync(fd) < 0) {
        errf(err, errlen, "%s/%s: reopening sealed segment: %s", b->dir, name, strerror(errno));
        close(fd);
        return -1;
      }
    }
    b->active_fd = fd;
  } else {
    close(fd);
    /* A damaged older segment stays in place: what precedes the damage is
     * readable, cursors get EIO at it. Its extent comes from the sealed header
     * if present, else from the successor's name. */
    if (h.state == SEG_STATE_SEALED) {
      s->end = h.last;
    } else if (rc == 1) {
      s->end = next_first - 1;
    }
    s->size = fsize;
  }
  b->disk_bytes += s->size;
  return 0;
}

int cairn_backlog_open(const char *dir, const cairn_backlog_options *opt, cairn_backlog **out,
                       char *err, size_t errlen) {
  if (err && errlen) err[0] = 0;
  *out = NULL;
  cairn_backlog *b = calloc(1, sizeof(*b));
  if (!b || !(b->dir = strdup(dir))) {
    free(b);
    errf(err, errlen, "%s: out of memory", dir);
    return -1;
  }
  b->dirfd = -1;
  b->active_fd = -1;
  b->segment_size = opt && opt->segment_size ? opt->segment_size : 64ull << 20;
  pthread_mutex_init(&b->mu, NULL);
  uint64_t *firsts = NULL;
  size_t n = 0, used = 0;

  if (mkdir_p(dir) < 0 || (b->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    errf(err, errlen, "%s: %s", dir, strerror(errno));
    goto fail;
  }
  if (list_segments(b, &firsts, &n) < 0) {
    errf(err, errlen, "%s: listing segments: %s", dir, strerror(errno));
    goto fail;
  }
  if (n == 0) {
    uint64_t start = opt ? opt->start_offset : 0;
    segment *s = seg_new(start + 1);
    char name[SEG_NAME_LEN + 1];
    seg_name(name, start + 1);
    if (!s || segs_push(b, s) < 0) {
      seg_free(s);
      errf(err, errlen, "%s: out of memory", dir);
      goto fail;
    }
    if ((b->active_fd = create_seg_file(b, name, start + 1, NULL)) < 0 || fsync(b->dirfd) < 0) {
      errf(err, errlen, "%s/%s: create: %s", dir, name, strerror(errno));
      goto fail;
    }
    b->disk_bytes = SEG_HDR_SIZE;
  } else {
    for (size_t i = 0; i < n; i++) {
      int newest = i + 1 == n;
      if (load_segment(b, firsts[i], newest, newest ? 0 : firsts[i + 1], err, errlen, &used) < 0)
        goto fail;
      if (i > 0) {
        segment *prev = b->segs[i - 1], *cur = b->segs[i];
        if (prev->end + 1 != cur->first) {
          char a[SEG_NAME_LEN + 1], c[SEG_NAME_LEN + 1];
          seg_name(a, prev->first);
          seg_name(c, cur->first);
          errf(err, errlen,
               "%s: broken segment chain (gap or overlap): %s ends at offset %llu but %s starts at %llu",
               dir, a, (unsigned long long)prev->end, c, (unsigned long long)cur->first);
          goto fail;
        }
      }
    }
  }
  free(firsts);
  atomic_store(&b->first, b->segs[0]->first);
  atomic_store(&b->end, b->segs[b->nsegs - 1]->end);
  *out = b;
  return 0;
fail:
  free(firsts);
  cairn_backlog_close(b);
  return -1;
}

void cairn_backlog_close(cairn_backlog *b) {
  if (!b) return;
  if (b->active_fd >= 0) close(b->active_fd);
  if (b->dirfd >= 0) close(b->dirfd);
  for (size_t i = 0; i < b->nsegs; i++) seg_free(b->segs[i]);
  free(b->segs);
  pthread_mutex_destroy(&b->mu);
  free(b->dir);
  free(b);
}

/* ---- accessors ------------------------------------------------------------ */

uint64_t cairn_backlog_first(const cairn_backlog *b) {
  return atomic_load_explicit(&((cairn_backlog *)b)->first, memory_order_acquire);
}
uint64_t cairn_backlog_end(const cairn_backlog *b) {
  return atomic_load_explicit(&((cairn_backlog *)b)->end, memory_order_acquire);
}
uint64_t cairn_backlog_disk_bytes(const cairn_backlog *b) { return b->disk_bytes; }
int cairn_backlog_segment_count(const cairn_backlog *b) { return (int)b->nsegs; }

int64_t cairn_backlog_first_time_ms(const cairn_backlog *b) {
  for (size_t i = 0; i < b->nsegs; i++)
    if (b->segs[i]->end >= b->segs[i]->first) return b->segs[i]->first_ms;
  return 0;
}

/* ---- writing ------------------------------------------------------------- */

int cairn_backlog_append(cairn_backlog *b, const void *data, size_t len) {
  if (len == 0) return 0; /* nothing to log; an empty record would carry no offset */
  if ((uint64_t)len > REC_MAX_PAYLOAD) {
    errno = EMSGSIZE;
    return -1;
  }
  if (b->active_fd < 0) {
    errno = EBADF;
    return -1;
  }
  segment *s = b->segs[b->nsegs - 1];
  uint64_t rec = REC_HDR_SIZE + (uint64_t)len;
  /* Roll before a record that would push a non-empty segment past the limit;
   * a record larger than the limit gets a segment to itself. */
  if (s->end >= s->first && s->size + rec > b->segment_size) {
    if (roll(b) < 0) return -1;
    s = b->segs[b->nsegs - 1];
  }
  uint64_t off = s->end + 1, pos = s->size;
  int64_t ms = cairn_mstime();
  uint8_t hdr[REC_HDR_SIZE];
  rec_hdr_encode(hdr, (uint32_t)len, off, ms);
  uint32_t crc = cairn_crc32c(cairn_crc32c(0, hdr, 28), data, len);
  put32(hdr + 28, crc);

  struct iovec iov[2] = {{hdr, REC_HDR_SIZE}, {(void *)data, len}};
  int iovcnt = 2;
  struct iovec *v = iov;
  uint64_t done = 0;
  /* pwritev at the known size: no dependence on the fd's file position, so a
   * cut-back after failure needs only ftruncate. */
  while (done < rec) {
    ssize_t w = pwritev(b->active_fd, v, iovcnt, (off_t)(pos + done));
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      int e = w < 0 ? errno : EIO;
      /* Leave the file ending at the last complete record. */
      while (ftruncate(b->active_fd, (off_t)pos) < 0 && errno == EINTR) {
      }
      errno = e;
      return -1;
    }
    done += (uint64_t)w;
    size_t adv = (size_t)w;
    while (iovcnt > 0 && adv >= v->iov_len) {
      adv -= v->iov_len;
      v++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      v->iov_base = (uint8_t *)v->iov_base + adv;
      v->iov_len -= adv;
    }
  }
  if (seg_index_due(s, pos)) {
    /* Cursor threads read the index under the mutex (it may be realloc'd). */
    pthread_mutex_lock(&b->mu);
    seg_index_add(s, off, pos);
    pthread_mutex_unlock(&b->mu);
  }
  seg_note_record(s, off, (uint32_t)len, pos, ms);
  b->disk_bytes += rec;
  /* Release: a cursor that sees the new end also sees the bytes in the file. */
  atomic_store_explicit(&b->end, s->end, memory_order_release);
  return 0;
}

int cairn_backlog_sync(cairn_backlog *b) {
  if (b->active_fd < 0) {
    errno = EBADF;
    return -1;
  }
  if (fdatasync(b->active_fd) < 0) return -1;
  if (b->dir_dirty) {
    /* The new segment's directory entry must be durable too, or a crash could
     * lose a whole synced file. */
    if (fsync(b->dirfd) < 0) return -1;
    b->dir_dirty = 0;
  }
  return 0;
}

int cairn_backlog_sync_begin(cairn_backlog *b, cairn_backlog_sync_token *t) {
  t->fd = t->dirfd = -1;
  t->end = cairn_backlog_end(b);
  if (b->active_fd < 0) {
    errno = EBADF;
    return -1;
  }
  if ((t->fd = dup(b->active_fd)) < 0) return -1;
  if (b->dir_dirty) {
    if ((t->dirfd = dup(b->dirfd)) < 0) {
      int e = errno;
      close(t->fd);
      t->fd = -1;
      errno = e;
      return -1;
    }
    b->dir_dirty = 0;
  }
  return 0;
}

int cairn_backlog_sync_run(cairn_backlog_sync_token *t) {
  int rc = 0, e = 0;
  if (t->fd >= 0 && fdatasync(t->fd) < 0) {
    rc = -1;
    e = errno;
  }
  if (rc == 0 && t->dirfd >= 0 && fsync(t->dirfd) < 0) {
    rc = -1;
    e = errno;
  }
  if (t->fd >= 0) close(t->fd);
  if (t->dirfd >= 0) close(t->dirfd);
  t->fd = t->dirfd = -1;
  if (rc) errno = e;
  return rc;
}

int cairn_backlog_trim_before(cairn_backlog *b, uint64_t offset) {
  int removed = 0;
  pthread_mutex_lock(&b->mu);
  /* Segment i's every byte is below offset iff its successor starts at or
   * below offset (the successor's first is this segment's end+1). */
  size_t k = 0;
  while (k + 1 < b->nsegs && b->segs[k + 1]->first <= offset) k++;
  for (size_t i = 0; i < k; i++) {
    char name[SEG_NAME_LEN + 1];
    seg_name(name, b->segs[i]->first);
    /* Cursors reading this file keep their own fd: unlinking is safe. An
     * unlink that fails (already gone) is still a removal from the backlog. */
    unlinkat(b->dirfd, name, 0);
    b->disk_bytes -= b->segs[i]->size;
    seg_free(b->segs[i]);
    removed++;
  }
  if (k > 0) {
    memmove(b->segs, b->segs + k, (b->nsegs - k) * sizeof(*b->segs));
    b->nsegs -= k;
    atomic_store_explicit(&b->first, b->segs[0]->first, memory_order_release);
  }
  pthread_mutex_unlock(&b->mu);
  /* No directory fsync: a trimmed segment resurrected by a crash is still a
   * valid, contiguous part of the chain and just gets trimmed again. */
  return removed;
}

int cairn_backlog_reset(cairn_backlog *b, uint64_t end) {
  /* Build the new segment under a temporary name first, so a failure leaves
   * the old backlog intact. */
  char name[SEG_NAME_LEN + 1], tmp[SEG_NAME_LEN + 5];
  seg_name(name, end + 1);
  snprintf(tmp, sizeof(tmp), "%s.tmp", name);
  unlinkat(b->dirfd, tmp, 0);
  segment *s = seg_new(end + 1);
  if (!s) {
    errno = ENOMEM;
    return -1;
  }
  int fd = create_seg_file(b, tmp, end + 1, NULL);
  if (fd < 0 || fdatasync(fd) < 0) {
    int e = errno;
    if (fd >= 0) {
      close(fd);
      unlinkat(b->dirfd, tmp, 0);
    }
    seg_free(s);
    errno = e;
    return -1;
  }
  pthread_mutex_lock(&b->mu);
  atomic_fetch_add(&b->gen, 1);
  for (size_t i = 0; i < b->nsegs; i++) {
    char old[SEG_NAME_LEN + 1];
    seg_name(old, b->segs[i]->first);
    unlinkat(b->dirfd, old, 0);
    seg_free(b->segs[i]);
  }
  b->nsegs = 0;
  segs_push(b, s); /* cannot fail: capacity is at least 1 */
  int rc = renameat(b->dirfd, tmp, b->dirfd, name);
  int e = errno;
  if (b->active_fd >= 0) close(b->active_fd);
  b->active_fd = fd;
  b->disk_bytes = SEG_HDR_SIZE;
  atomic_store_explicit(&b->first, end + 1, memory_order_release);
  atomic_store_explicit(&b->end, end, memory_order_release);
  pthread_mutex_unlock(&b->mu);
  if (rc < 0) {
    errno = e;
    return -1;
  }
  b->dir_dirty = 0;
  return fsync(b->dirfd);
}

/* ---- cursors -------------------------------------------------------------- */

/* Points the cursor at segment index i (mutex held), at the latest indexed
 * record at or before `target`. Opens the cursor's own fd. */
static int cursor_enter(cairn_backlog_cursor *c, size_t i, uint64_t target) {
  cairn_backlog *b = c->b;
  segment *s = b->segs[i];
  int fd = open_seg_file(b, s->first, O_RDONLY);
  if (fd < 0) return -1;
  if (c->fd >= 0) close(c->fd);
  c->fd = fd;
  c->seg_first = s->first;
  c->file_pos = SEG_HDR_SIZE;
  c->next_rec_off = s->first;
  /* Binary search the sparse index for the last entry with off <= target. */
  size_t lo = 0, hi = s->nidx;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->idx[mid].off <= target) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0) {
    c->file_pos = s->idx[lo - 1].pos;
    c->next_rec_off = s->idx[lo - 1].off;
  }
  c->have_rec = 0;
  c->buf_len = 0;
  return 0;
}

int cairn_backlog_cursor_open(cairn_backlog *b, uint64_t offset, cairn_backlog_cursor **out) {
  *out = NULL;
  cairn_backlog_cursor *c = calloc(1, sizeof(*c));
  if (!c) return -1;
  c->b = b;
  c->fd = -1;
  c->buf_cap = WINDOW_SIZE;
  c->buf = malloc(c->buf_cap);
  if (!c->buf) {
    free(c);
    errno = ENOMEM;
    return -1;
  }
  pthread_mutex_lock(&b->mu);
  c->gen = atomic_load(&b->gen);
  uint64_t first = atomic_load(&b->first), end = atomic_load(&b->end);
  long i = segs_find(b, offset);
  int rc = 0;
  if (offset < first || offset > end + 1 || i < 0) {
    errno = ERANGE;
    rc = -1;
  } else {
    rc = cursor_enter(c, (size_t)i, offset);
  }
  pthread_mutex_unlock(&b->mu);
  if (rc < 0) {
    int e = errno;
    cairn_backlog_cursor_close(c);
    errno = e;
    return -1;
  }
  c->off = offset;
  *out = c;
  return 0;
}

/* Ensures buf holds n bytes at file position pos. fresh forces a re-read (the
 * window may predate the writer's latest append, or hold bytes of a failed
 * append that was since cut back and overwritten). Returns 1 ok, 0 if the file
 * has fewer bytes there (*got says how many), -1 on error. */
static int cursor_fill(cairn_backlog_cursor *c, uint64_t pos, size_t n, int fresh, size_t *got) {
  if (!fresh && pos >= c->buf_pos && pos + n <= c->buf_pos + c->buf_len) return 1;
  if (n > c->buf_cap) {
    uint8_t *nb = realloc(c->buf, n);
    if (!nb) {
      errno = ENOMEM;
      return -1;
    }
    c->buf = nb;
    c->buf_cap = n;
  }
  ssize_t r = pread_full(c->fd, c->buf, c->buf_cap, pos);
  if (r < 0) return -1;
  c->buf_pos = pos;
  c->buf_len = (size_t)r;
  *got = (size_t)r;
  return (size_t)r >= n ? 1 : 0;
}

/* Moves the cursor to the segment holding c->off after its current file ran
 * out. Returns 0, or -1 (ERANGE if trimmed or reset away, EIO if the current
 * segment should have held the byte: it is damaged or truncated). */
static int cursor_advance_segment(cairn_backlog_cursor *c) {
  cairn_backlog *b = c->b;
  int rc = 0;
  pthread_mutex_lock(&b->mu);
  long i = segs_find(b, c->next_rec_off);
  if (atomic_load(&b->gen) != c->gen || c->next_rec_off < atomic_load(&b->first) || i < 0) {
    errno = ERANGE;
    rc = -1;
  } else if (b->segs[i]->first <= c->seg_first) {
    errno = EIO;
    rc = -1;
  } else if (b->segs[i]->first != c->next_rec_off) {
    errno = EIO; /* the chain does not continue where this segment ended */
    rc = -1;
  } else {
    rc = cursor_enter(c, (size_t)i, c->next_rec_off);
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

/* Loads and verifies the record at c->file_pos into the window. Returns 1
 * loaded, 0 when this file holds no more records (caller moves on), -1 error. */
static int cursor_load(cairn_backlog_cursor *c) {
  for (int attempt = 0; attempt < 2; attempt++) {
    int fresh = attempt > 0;
    size_t got = 0;
    int r = cursor_fill(c, c->file_pos, REC_HDR_SIZE, fresh, &got);
    if (r < 0) return -1;
    if (r == 0) {
      if (got == 0 && fresh) return 0; /* clean end of this file */
      if (fresh) {
        errno = EIO; /* partial header where a complete record must be */
        return -1;
      }
      continue;
    }
    const uint8_t *h = c->buf + (c->file_pos - c->buf_pos);
    uint32_t type = get32(h), len = get32(h + 4);
    uint64_t off = get64(h + 8);
    if (type != REC_TYPE_DATA || len == 0 || off != c->next_rec_off) {
      if (fresh) {
        errno = EIO;
        return -1;
      }
      continue;
    }
    if (off + len <= c->off) {
      /* Seeking: the record lies wholly before the cursor; skip it unread. */
      c->file_pos += REC_HDR_SIZE + (uint64_t)len;
      c->next_rec_off = off + len;
      attempt = -1;
      continue;
    }
    size_t need = REC_HDR_SIZE + (size_t)len;
    if (need > c->buf_cap) {
      /* Guard the allocation against a corrupt length field. */
      struct stat st;
      if (fstat(c->fd, &st) < 0) return -1;
      if ((uint64_t)st.st_size < c->file_pos + need) {
        errno = EIO;
        return -1;
      }
    }
    r = cursor_fill(c, c->file_pos, need, 0, &got);
    if (r < 0) return -1;
    if (r == 0) {
      if (fresh) {
        errno = EIO;
        return -1;
      }
      continue;
    }
    h = c->buf + (c->file_pos - c->buf_pos);
    uint32_t crc = cairn_crc32c(cairn_crc32c(0, h, 28), h + REC_HDR_SIZE, len);
    if (crc != get32(h + 28)) {
      if (fresh) {
        errno = EIO;
        return -1;
      }
      continue;
    }
    c->payload = h + REC_HDR_SIZE;
    c->rec_off = off;
    c->rec_len = len;
    c->have_rec = 1;
    c->file_pos += need;
    c->next_rec_off = off + len;
    return 1;
  }
  errno = EIO;
  return -1;
}

long cairn_backlog_cursor_next(cairn_backlog_cursor *c, void *buf, size_t cap) {
  cairn_backlog *b = c->b;
  if (atomic_load(&b->gen) != c->gen) {
    errno = ERANGE;
    return -1;
  }
  uint64_t end = atomic_load_explicit(&b->end, memory_order_acquire);
  size_t copied = 0;
  if (cap > LONG_MAX) cap = LONG_MAX;
  while (copied < cap && c->off <= end) {
    if (c->have_rec) {
      uint64_t rec_end = c->rec_off + c->rec_len; /* one past */
      if (c->off < rec_end) {
        uint64_t avail = rec_end - c->off;
        size_t n = cap - copied < avail ? cap - copied : (size_t)avail;
        memcpy((uint8_t *)buf + copied, c->payload + (c->off - c->rec_off), n);
        copied += n;
        c->off += n;
        continue;
      }
      c->have_rec = 0;
    }
    int r = cursor_load(c);
    if (r == 0) r = cursor_advance_segment(c);
    if (r < 0) {
      if (copied > 0) break; /* hand out the good bytes; the error repeats next call */
      return -1;
    }
  }
  return (long)copied;
}

uint64_t cairn_backlog_cursor_offset(const cairn_backlog_cursor *c) { return c->off; }

void cairn_backlog_cursor_close(cairn_backlog_cursor *c) {
  if (!c) return;
  if (c->fd >= 0) close(c->fd);
  free(c->buf);
  free(c);
}
