/* Raw segment files: the header, the record walk, creating and sealing.
 *
 * Segment header, SEG_HDR_SIZE = 64 bytes, little-endian (raw and compressed
 * segments share it; docs/BACKLOG.md):
 *   0  char[8] "CAIRNSEG"
 *   8  u8      version      (1)
 *   9  u8      format       (0 raw records, 1 zstd frames)
 *  10  u8      state        (0 active, 1 sealed, 2 compressed, 3 compacted)
 *  11  u8      reserved (0)
 *  12  u32     header size  (64)
 *  16  u64     first offset (must match the file name)
 *  24  i64     creation wall-clock ms
 *  32  u64     last offset  (valid unless active)
 *  40  u64     file bytes   (valid unless active)
 *  48  i64     sealed wall-clock ms (0 if unknown: written by an older version)
 *  56  u8[4]   reserved (0)
 *  60  u32     crc32c of bytes 0..59
 * Raw records follow the header back to back, never spanning files:
 *   0 u32 type "CRC1", 4 u32 payload length (> 0), 8 u64 offset of the
 *   payload's first byte, 16 i64 wall-clock ms, 24 u32 flags (0), 28 u32
 *   crc32c over bytes 0..27 then the payload; 32 payload. */
#include "replication/backlog/backlog_int.h"

#include "engine/fault.h"
#include "engine/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

void bl_errf(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Appends a recovery note to err (open reports repairs while succeeding);
 * notes are separated by "; " and silently truncated when err is full. */
void bl_note(char *err, size_t errlen, size_t *used, const char *fmt, ...) {
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

void bl_log(cairn_backlog *b, int level, const char *fmt, ...) {
  if (!b->log) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  b->log(b->log_ud, level, msg);
}

void bl_raw_name(char out[SEG_NAME_MAX], uint64_t first) {
  snprintf(out, SEG_NAME_MAX, "%020llu.seg", (unsigned long long)first);
}

void bl_zseg_name(char out[SEG_NAME_MAX], uint64_t first, uint64_t unique) {
  snprintf(out, SEG_NAME_MAX, "%020llu-%llu.zseg", (unsigned long long)first, (unsigned long long)unique);
}

int bl_parse_name(const char *name, uint64_t *first) {
  size_t l = strlen(name);
  if (l < 24) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9') return 0;
    uint64_t d = (uint64_t)(name[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *first = v;
  if (l == 24 && strcmp(name + 20, ".seg") == 0) return 1;
  if (name[20] != '-' || l < 27 || strcmp(name + l - 5, ".zseg") != 0) return 0;
  for (size_t i = 21; i < l - 5; i++)
    if (name[i] < '0' || name[i] > '9') return 0;
  return 2;
}

void bl_seg_hdr_encode(uint8_t out[SEG_HDR_SIZE], const seg_hdr *h) {
  memset(out, 0, SEG_HDR_SIZE);
  memcpy(out, SEG_MAGIC, 8);
  out[8] = h->version;
  out[9] = h->format;
  out[10] = h->state;
  cairn_put_le32(out + 12, SEG_HDR_SIZE);
  cairn_put_le64(out + 16, h->first);
  cairn_put_le64(out + 24, (uint64_t)h->ctime_ms);
  cairn_put_le64(out + 32, h->last);
  cairn_put_le64(out + 40, h->bytes);
  cairn_put_le64(out + 48, (uint64_t)h->sealed_ms);
  cairn_put_le32(out + 60, cairn_crc32c(0, out, 60));
}

/* Returns NULL if the header is intact and understood, else a reason. */
const char *bl_seg_hdr_decode(const uint8_t in[SEG_HDR_SIZE], seg_hdr *h) {
  if (memcmp(in, SEG_MAGIC, 8) != 0) return "bad segment magic";
  if (cairn_get_le32(in + 60) != cairn_crc32c(0, in, 60)) return "segment header checksum mismatch";
  h->version = in[8];
  h->format = in[9];
  h->state = in[10];
  if (h->version != SEG_VERSION) return "unsupported segment version";
  if (h->format != SEG_FORMAT_RAW && h->format != SEG_FORMAT_ZSTD) return "unsupported segment format";
  if (h->state > SEG_STATE_COMPACTED) return "unknown segment state";
  if (cairn_get_le32(in + 12) != SEG_HDR_SIZE) return "unexpected segment header size";
  h->first = cairn_get_le64(in + 16);
  h->ctime_ms = (int64_t)cairn_get_le64(in + 24);
  h->last = cairn_get_le64(in + 32);
  h->bytes = cairn_get_le64(in + 40);
  h->sealed_ms = (int64_t)cairn_get_le64(in + 48);
  return NULL;
}

void bl_rec_hdr_encode(uint8_t out[REC_HDR_SIZE], uint32_t len, uint64_t off, int64_t ms) {
  cairn_put_le32(out, REC_TYPE_DATA);
  cairn_put_le32(out + 4, len);
  cairn_put_le64(out + 8, off);
  cairn_put_le64(out + 16, (uint64_t)ms);
  cairn_put_le32(out + 24, 0);
}

/* pread that retries short reads; returns bytes read (< n only at EOF), -1 on error. */
ssize_t bl_pread_full(int fd, void *buf, size_t n, uint64_t pos) {
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

int bl_open_at(const cairn_backlog *b, const char *name, int flags) {
  int fd;
  do fd = openat(b->dirfd, name, flags | O_CLOEXEC, 0644);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* ---- segment bookkeeping -------------------------------------------------- */

segment *bl_seg_new(uint64_t first) {
  segment *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->first = first;
  s->end = first - 1;
  s->size = SEG_HDR_SIZE;
  s->next_idx_pos = SEG_HDR_SIZE;
  s->format = SEG_FORMAT_RAW;
  s->state = SEG_STATE_ACTIVE;
  bl_raw_name(s->name, first);
  return s;
}

void bl_seg_free(segment *s) {
  if (!s) return;
  free(s->idx);
  free(s);
}

/* Allocation failure only costs seek speed (seeks fall back to an earlier
 * entry or the segment start), so it is not an error. */
int bl_seg_index_due(const segment *s, uint64_t pos) { return pos >= s->next_idx_pos; }

void bl_seg_index_add(segment *s, uint64_t off, uint64_t pos) {
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

void bl_seg_note_record(segment *s, uint64_t off, uint32_t len, uint64_t pos, int64_t ms) {
  if (s->end < s->first) s->first_ms = ms;
  s->end = off + len - 1;
  s->size = pos + REC_HDR_SIZE + len;
}

int bl_segs_push(cairn_backlog *b, segment *s) {
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
long bl_segs_find(const cairn_backlog *b, uint64_t off) {
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

static const uint8_t *win_get(window *w, uint64_t pos, size_t n, int *eof) {
  *eof = 0;
  if (pos >= w->pos && pos + n <= w->pos + w->len) return w->buf + (pos - w->pos);
  ssize_t r = bl_pread_full(w->fd, w->buf, w->cap, pos);
  if (r < 0) return NULL;
  w->pos = pos;
  w->len = (size_t)r;
  if ((size_t)r < n) {
    *eof = 1;
    return NULL;
  }
  return w->buf;
}

/* Walks the records of raw segment s (open as fd, file_size bytes), filling
 * s->end, s->size, s->first_ms and the sparse index. With verify, every
 * payload crc is checked; otherwise only record headers are read. Returns 0
 * when the walk reached the end of the file, 1 when it stopped at a bad or
 * torn record (why says what), -1 on I/O error. */
static int scan_from(segment *s, int fd, uint64_t file_size, int verify, uint64_t pos, const char **why) {
  window w = {.fd = fd, .cap = WINDOW_SIZE};
  w.buf = malloc(w.cap);
  if (!w.buf) return -1;
  uint64_t expect = s->first;
  int rc = 0, eof;
  *why = NULL;
  while (pos < file_size) {
    const uint8_t *h = win_get(&w, pos, REC_HDR_SIZE, &eof);
    if (!h) {
      if (!eof) rc = -1;
      else *why = "partial record header", rc = 1;
      break;
    }
    uint32_t type = cairn_get_le32(h), len = cairn_get_le32(h + 4), crc = cairn_get_le32(h + 28);
    uint64_t off = cairn_get_le64(h + 8);
    int64_t ms = (int64_t)cairn_get_le64(h + 16);
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
    if (bl_seg_index_due(s, pos)) bl_seg_index_add(s, off, pos);
    bl_seg_note_record(s, off, len, pos, ms);
    expect = off + len;
    pos += REC_HDR_SIZE + (uint64_t)len;
  }
  free(w.buf);
  return rc;
}

int bl_scan_segment(segment *s, int fd, uint64_t file_size, int verify, const char **why) {
  return scan_from(s, fd, file_size, verify, SEG_HDR_SIZE, why);
}

/* Is there a whole record with a valid checksum at file position q whose
 * offset could follow the good records (ending at `end`, the damage starting
 * at file position `bad`)? The records between hold at most q - bad stream
 * bytes, which keeps a record-like byte string inside a payload from
 * passing unless its offset is also plausible. 1 yes, 0 no, -1 I/O error. */
static int valid_record_at(int fd, uint64_t file_size, uint64_t q, uint64_t bad, uint64_t end, uint8_t *buf,
                           size_t cap, uint64_t *off_out) {
  uint8_t h[REC_HDR_SIZE];
  ssize_t r = bl_pread_full(fd, h, sizeof(h), q);
  if (r < 0) return -1;
  if (r < REC_HDR_SIZE) return 0;
  uint32_t len = cairn_get_le32(h + 4);
  uint64_t off = cairn_get_le64(h + 8);
  if (cairn_get_le32(h) != REC_TYPE_DATA || len == 0 || q + REC_HDR_SIZE + len > file_size) return 0;
  if (off <= end || off - (end + 1) > q - bad) return 0;
  uint32_t c = cairn_crc32c(0, h, 28);
  uint64_t p = q + REC_HDR_SIZE, left = len;
  while (left > 0) {
    size_t chunk = left < cap ? (size_t)left : cap;
    r = bl_pread_full(fd, buf, chunk, p);
    if (r < 0) return -1;
    if ((size_t)r < chunk) return 0;
    c = cairn_crc32c(c, buf, chunk);
    p += chunk;
    left -= chunk;
  }
  if (c != cairn_get_le32(h + 28)) return 0;
  *off_out = off;
  return 1;
}

int bl_find_valid_after(const segment *s, int fd, uint64_t file_size, uint64_t *at_pos, uint64_t *at_off,
                        uint64_t *valid_end) {
  const size_t cap = WINDOW_SIZE;
  uint8_t *win = malloc(cap), *tmp = malloc(cap);
  if (!win || !tmp) {
    free(win);
    free(tmp);
    return -1;
  }
  const uint8_t magic[4] = {'C', 'R', 'C', '1'}; /* REC_TYPE_DATA as stored */
  uint64_t bad = s->size, pos = bad + 1;
  int rc = 0;
  while (rc == 0 && pos + REC_HDR_SIZE <= file_size) {
    ssize_t r = bl_pread_full(fd, win, cap, pos);
    if (r < 0) {
      rc = -1;
      break;
    }
    if (r < 4) break;
    size_t i = 0;
    for (; rc == 0 && i + 4 <= (size_t)r; i++) {
      const uint8_t *m = memchr(win + i, 'C', (size_t)r - 3 - i);
      if (!m) {
        i = (size_t)r;
        break;
      }
      i = (size_t)(m - win);
      if (memcmp(m, magic, 4) != 0) continue;
      uint64_t off;
      int v = valid_record_at(fd, file_size, pos + i, bad, s->end, tmp, cap, &off);
      if (v < 0) rc = -1;
      else if (v == 1) {
        *at_pos = pos + i;
        *at_off = off;
        rc = 1;
      }
    }
    if (rc != 0) break;
    pos += (size_t)r > 3 ? (size_t)r - 3 : 1; /* the magic may straddle windows */
  }
  free(win);
  free(tmp);
  if (rc != 1) return rc;
  segment *run = bl_seg_new(*at_off);
  if (!run) return -1;
  const char *why;
  if (scan_from(run, fd, file_size, 1, *at_pos, &why) < 0) rc = -1;
  *valid_end = run->end;
  bl_seg_free(run);
  return rc;
}

/* ---- creating and sealing segments -------------------------------------- */

/* Writes a fresh segment file for `first` under `name` and returns its fd
 * (O_RDWR), or -1. Created exclusively so an existing segment is never
 * clobbered. */
int bl_create_seg_file(cairn_backlog *b, const char *name, uint64_t first, int64_t *ctime_ms) {
  int fd = openat(b->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  seg_hdr h = {.version = SEG_VERSION, .format = SEG_FORMAT_RAW, .state = SEG_STATE_ACTIVE,
               .first = first, .ctime_ms = cairn_mstime()};
  uint8_t buf[SEG_HDR_SIZE];
  bl_seg_hdr_encode(buf, &h);
  if (cairn_pwrite_all(fd, buf, sizeof(buf), 0) < 0) {
    int e = errno;
    close(fd);
    unlinkat(b->dirfd, name, 0);
    errno = e;
    return -1;
  }
  if (ctime_ms) *ctime_ms = h.ctime_ms;
  return fd;
}

int bl_write_seg_header(int fd, const segment *s, uint8_t state) {
  seg_hdr h = {.version = SEG_VERSION, .format = SEG_FORMAT_RAW, .state = state,
               .first = s->first, .ctime_ms = s->ctime_ms};
  if (state == SEG_STATE_SEALED) {
    h.last = s->end;
    h.bytes = s->size;
    h.sealed_ms = s->sealed_ms;
  }
  uint8_t buf[SEG_HDR_SIZE];
  bl_seg_hdr_encode(buf, &h);
  return cairn_pwrite_all(fd, buf, sizeof(buf), 0);
}

/* Takes the ready spare (if any) as the file of new segment s: its header
 * written, then renamed into place (never over an existing file). Returns
 * the fd, or -1 when there is no spare or it could not be used (the caller
 * creates the file as usual). */
static int take_spare(cairn_backlog *b, segment *s) {
  int fd = atomic_exchange(&b->spare_fd, -1);
  if (fd < 0) return -1;
  s->ctime_ms = cairn_mstime();
  if (bl_write_seg_header(fd, s, SEG_STATE_ACTIVE) < 0 ||
      renameat2(b->dirfd, SPARE_NAME, b->dirfd, s->name, RENAME_NOREPLACE) < 0) {
    /* (a tool's open removed it, or the disk failed): plain creation */
    bl_log(b, CAIRN_BACKLOG_LOG_WARNING, "backlog: %s/%s: the preallocated segment could not be used: %s", b->dir,
           SPARE_NAME, strerror(errno));
    close(fd);
    unlinkat(b->dirfd, SPARE_NAME, 0);
    return -1;
  }
  return fd;
}

/* Seals the active segment (header says sealed, with its last offset and
 * size; a preallocated file cut to its data; fdatasync so the successor
 * never exists on disk before its predecessor's data) and starts a new
 * active segment at end+1, in the spare when one is ready. The sealed
 * segment is then queued for compression. */
int bl_roll(cairn_backlog *b) {
  segment *cur = b->active;
  int64_t now = cairn_mstime();
  cur->sealed_ms = now;
  if (bl_write_seg_header(b->active_fd, cur, SEG_STATE_SEALED) < 0 ||
      (b->active_prealloc && ftruncate(b->active_fd, (off_t)cur->size) < 0) || fdatasync(b->active_fd) < 0)
    return -1;
  segment *s = bl_seg_new(cur->end + 1);
  if (!s) {
    errno = ENOMEM;
    return -1;
  }
  int fd = take_spare(b, s), prealloc = fd >= 0;
  if (fd < 0) fd = bl_create_seg_file(b, s->name, s->first, &s->ctime_ms);
  if (fd < 0) {
    bl_seg_free(s);
    return -1;
  }
  pthread_mutex_lock(&b->mu);
  int pushed = bl_segs_push(b, s);
  if (pushed == 0) {
    b->active = s;
    cur->state = SEG_STATE_SEALED;
    cur->queued = 1;
    b->mf_dirty = 1;
    pthread_cond_signal(&b->zcv);
  }
  pthread_mutex_unlock(&b->mu);
  if (pushed < 0) {
    close(fd);
    unlinkat(b->dirfd, s->name, 0);
    bl_seg_free(s);
    errno = ENOMEM;
    return -1;
  }
  close(b->active_fd);
  b->active_fd = fd;
  b->active_prealloc = prealloc;
  b->disk_bytes += SEG_HDR_SIZE;
  b->dir_dirty = 1;
  return 0;
}

/* A page of zeros: compared against, and written into the spare. */
static const uint8_t zero_page[4096];

int bl_all_zero(int fd, uint64_t from, uint64_t to) {
  uint8_t *buf = malloc(WINDOW_SIZE);
  if (!buf) return -1;
  int rc = 1;
  while (rc == 1 && from < to) {
    size_t n = to - from < WINDOW_SIZE ? (size_t)(to - from) : WINDOW_SIZE;
    ssize_t r = bl_pread_full(fd, buf, n, from);
    if (r < 0) rc = -1;
    else if ((size_t)r < n) rc = 0;
    for (size_t i = 0; rc == 1 && i < n; i += sizeof(zero_page))
      if (memcmp(buf + i, zero_page, n - i < sizeof(zero_page) ? n - i : sizeof(zero_page)) != 0) rc = 0;
    from += n;
  }
  free(buf);
  return rc;
}

int bl_make_spare(cairn_backlog *b) {
  pthread_mutex_lock(&b->mu);
  uint64_t size = b->segment_size;
  int wanted = b->spare_wanted && atomic_load(&b->spare_fd) < 0 && !b->zstop;
  pthread_mutex_unlock(&b->mu);
  if (!wanted) return 0;
  /* Only with room to spare: the zeros must never take the space the
   * backlog's own appends need (a full disk refuses writes, -MISCONF). */
  struct statvfs v;
  if (fstatvfs(b->dirfd, &v) == 0 && (uint64_t)v.f_bavail * v.f_frsize < 2 * size + SPARE_FREE_FLOOR) {
    errno = ENOSPC;
    return -1;
  }
  unlinkat(b->dirfd, SPARE_NAME, 0);
  int fd = openat(b->dirfd, SPARE_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  /* Written a page per call: the page cache then holds the file in
   * page-sized folios (a larger write gets large folios, and every small
   * append into one would later dirty, and write back, the whole folio:
   * 12x the bytes on ext4 with kernel 6.18). Synced 8 MB at a time, so the
   * writeback never becomes one burst the group commit's syncs queue
   * behind. */
  enum { SYNC_EVERY = 8 << 20 };
  int rc = 0, ferr = cairn_fault(CAIRN_FAULT_BACKLOG_SPARE);
  if (ferr) rc = -1, errno = ferr;
  for (uint64_t pos = 0; rc == 0 && pos < size; pos += sizeof(zero_page)) {
    size_t n = size - pos < sizeof(zero_page) ? (size_t)(size - pos) : sizeof(zero_page);
    if (cairn_pwrite_all(fd, zero_page, n, pos) < 0 || ((pos + n) % SYNC_EVERY == 0 && fdatasync(fd) < 0)) rc = -1;
    if (__atomic_load_n(&b->zstop, __ATOMIC_RELAXED)) rc = -1, errno = ECANCELED;
  }
  if (rc == 0 && fdatasync(fd) < 0) rc = -1;
  if (rc < 0) {
    int e = errno;
    close(fd);
    unlinkat(b->dirfd, SPARE_NAME, 0);
    errno = e;
    return -1;
  }
  pthread_mutex_lock(&b->mu);
  b->spare_wanted = 0;
  atomic_store(&b->spare_fd, fd);
  pthread_mutex_unlock(&b->mu);
  return 0;
}

/* Loads raw segment s (already in b->segs, name set) from its file. newest:
 * full verification and tail repair (unless the handle is a tool's); else a
 * header walk only. next_first is the successor's first offset so a damaged
 * older segment can still be placed in the chain. */
int bl_load_raw(cairn_backlog *b, segment *s, int newest, uint64_t next_first, char *err, size_t errlen,
                size_t *used) {
  int repair = newest && !b->read_only;
  int fd = bl_open_at(b, s->name, repair ? O_RDWR : O_RDONLY);
  if (fd < 0) {
    bl_errf(err, errlen, "%s/%s: open: %s", b->dir, s->name, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    bl_errf(err, errlen, "%s/%s: stat: %s", b->dir, s->name, strerror(errno));
    close(fd);
    return -1;
  }
  uint64_t fsize = (uint64_t)st.st_size;
  uint8_t hb[SEG_HDR_SIZE];
  seg_hdr h;
  const char *why = NULL;
  ssize_t r = bl_pread_full(fd, hb, sizeof(hb), 0);
  if (r < 0) {
    bl_errf(err, errlen, "%s/%s: read: %s", b->dir, s->name, strerror(errno));
    close(fd);
    return -1;
  }
  int zero_hdr = r == SEG_HDR_SIZE && memcmp(hb, zero_page, SEG_HDR_SIZE) == 0;
  if ((r < SEG_HDR_SIZE || zero_hdr) && newest) {
    /* Crash while the newest segment was being created (or a spare renamed
     * into place before its header reached the disk): nothing can be in it
     * yet. Rewrite a fresh header. */
    s->ctime_ms = cairn_mstime();
    if (repair && (ftruncate(fd, 0) < 0 || bl_write_seg_header(fd, s, SEG_STATE_ACTIVE) < 0 || fsync(fd) < 0)) {
      bl_errf(err, errlen, "%s/%s: rewriting torn header: %s", b->dir, s->name, strerror(errno));
      close(fd);
      return -1;
    }
    bl_note(err, errlen, used, "%s/%s: torn segment header (%llu bytes) rewritten", b->dir, s->name,
            (unsigned long long)fsize);
    if (repair) b->active_fd = fd;
    else close(fd);
    b->disk_bytes += SEG_HDR_SIZE;
    return 0;
  }
  if (r < SEG_HDR_SIZE) why = "short segment header";
  else why = bl_seg_hdr_decode(hb, &h);
  if (!why && h.first != s->first) why = "segment header first offset does not match file name";
  if (!why && h.format != SEG_FORMAT_RAW) why = "compressed data in a raw segment file";
  if (why) {
    bl_errf(err, errlen, "%s/%s: %s", b->dir, s->name, why);
    close(fd);
    return -1;
  }
  s->ctime_ms = h.ctime_ms;
  s->sealed_ms = h.sealed_ms;
  int rc = bl_scan_segment(s, fd, fsize, newest, &why);
  /* zeros after the last record: a preallocated file's unwritten part, not
   * a torn tail (kept in the newest segment, appends overwrite it) */
  int ztail = rc == 1 ? bl_all_zero(fd, s->size, fsize) : 0;
  if (rc < 0 || ztail < 0) {
    bl_errf(err, errlen, "%s/%s: read: %s", b->dir, s->name, strerror(errno));
    close(fd);
    return -1;
  }
  if (ztail) {
    rc = 0;
    if (newest && repair) b->active_prealloc = 1;
    if (!newest && !b->read_only) {
      /* an older segment keeps no preallocation: readers end at its EOF */
      int wfd = bl_open_at(b, s->name, O_RDWR);
      if (wfd < 0 || ftruncate(wfd, (off_t)s->size) < 0 || fdatasync(wfd) < 0) {
        bl_errf(err, errlen, "%s/%s: cutting the preallocated tail: %s", b->dir, s->name, strerror(errno));
        if (wfd >= 0) close(wfd);
        close(fd);
        return -1;
      }
      close(wfd);
    }
    fsize = s->size;
  }
  if (newest) {
    if (rc == 1 && repair) {
      /* A torn tail (a write a crash interrupted: nothing valid after it)
       * is cut with a note. A bad record with a valid one after it is
       * damage to data that was written whole: refuse, unless told to cut. */
      uint64_t at_pos = 0, at_off = 0, vend = 0, cut = fsize - s->size;
      int found = bl_find_valid_after(s, fd, fsize, &at_pos, &at_off, &vend);
      if (found < 0) {
        bl_errf(err, errlen, "%s/%s: read: %s", b->dir, s->name, strerror(errno));
        close(fd);
        return -1;
      }
      if (found) {
        b->corruptions++;
        if (!b->truncate_corrupt) {
          bl_errf(err, errlen,
                  "%s/%s: CORRUPT backlog: %s at file position %llu (after offset %llu), but valid records "
                  "follow at file position %llu (offsets %llu..%llu): this is damage, not a torn tail, and "
                  "offsets %llu..%llu cannot be read. Refusing to start. Keep a copy of the directory; run "
                  "cairn-backlog verify %s; then either restore the data (e.g. from a replica) or set "
                  "backlog-load-corrupt truncate to start with the backlog cut at file position %llu "
                  "(offsets %llu..%llu are then lost)",
                  b->dir, s->name, why, (unsigned long long)s->size, (unsigned long long)s->end,
                  (unsigned long long)at_pos, (unsigned long long)at_off, (unsigned long long)vend,
                  (unsigned long long)(s->end + 1), (unsigned long long)(at_off - 1), b->dir,
                  (unsigned long long)s->size, (unsigned long long)(s->end + 1), (unsigned long long)vend);
          close(fd);
          errno = EILSEQ;
          return -1;
        }
        bl_log(b, CAIRN_BACKLOG_LOG_ERROR,
               "backlog: %s/%s: CORRUPT backlog: %s at file position %llu (after offset %llu) with valid records "
               "after it (file position %llu, offsets %llu..%llu); backlog-load-corrupt truncate: cutting %llu "
               "bytes, offsets %llu..%llu are LOST",
               b->dir, s->name, why, (unsigned long long)s->size, (unsigned long long)s->end,
               (unsigned long long)at_pos, (unsigned long long)at_off, (unsigned long long)vend,
               (unsigned long long)cut, (unsigned long long)(s->end + 1), (unsigned long long)vend);
      }
      if (ftruncate(fd, (off_t)s->size) < 0 || fsync(fd) < 0) {
        bl_errf(err, errlen, "%s/%s: cutting %s: %s", b->dir, s->name, found ? "at the corruption" : "torn tail",
                strerror(errno));
        close(fd);
        return -1;
      }
      if (found) b->corrupt_bytes_cut += cut;
      else b->torn_tail_bytes_cut += cut;
      bl_note(err, errlen, used, "%s/%s: cut %llu bytes at file position %llu (after offset %llu): %s%s", b->dir,
              s->name, (unsigned long long)cut, (unsigned long long)s->size, (unsigned long long)s->end, why,
              found ? " (CORRUPTION, backlog-load-corrupt truncate)" : " (torn tail)");
    }
    if (h.state != SEG_STATE_ACTIVE && repair) {
      /* Sealed but never succeeded (crash between seal and the next
       * segment's creation): we append to it again, so it is active. */
      if (bl_write_seg_header(fd, s, SEG_STATE_ACTIVE) < 0 || fdatasync(fd) < 0) {
        bl_errf(err, errlen, "%s/%s: reopening sealed segment: %s", b->dir, s->name, strerror(errno));
        close(fd);
        return -1;
      }
    }
    s->state = SEG_STATE_ACTIVE;
    if (repair) b->active_fd = fd;
    else close(fd);
  } else {
    close(fd);
    /* A damaged older segment stays in place: what precedes the damage is
     * readable, cursors get EIO at it. Its extent comes from the sealed
     * header if present, else from the successor's name. */
    if (rc == 1) {
      b->corruptions++;
      bl_log(b, CAIRN_BACKLOG_LOG_ERROR,
             "backlog: %s/%s: CORRUPT older segment: %s at file position %llu (offset %llu); readers get an "
             "error there (run cairn-backlog verify)",
             b->dir, s->name, why, (unsigned long long)s->size, (unsigned long long)(s->end + 1));
    }
    if (h.state == SEG_STATE_SEALED) {
      s->end = h.last;
    } else if (rc == 1) {
      s->end = next_first - 1;
    }
    s->size = fsize;
    s->state = SEG_STATE_SEALED;
    if (!s->sealed_ms) s->sealed_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    s->queued = 1;
  }
  b->disk_bytes += s->size;
  return 0;
}
