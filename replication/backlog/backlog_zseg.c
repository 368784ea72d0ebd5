/* Compressed segment files and the background compression thread.
 *
 * A compressed segment (<first>-<n>.zseg) holds the same stream bytes as the
 * raw segment it replaces, without record framing:
 *   0   the 64-byte segment header (format 1, state compressed/compacted,
 *       first, last, file bytes, created and sealed ms)
 *   64  independent zstd frames, each ZFRAME_RAW (1 MiB) of stream or less,
 *       with zstd's content checksum
 *   P   frame index, ZIDX_ENTRY = 32 bytes per frame:
 *         0 u64 offset of the frame's first stream byte
 *         8 u64 file position of the frame
 *        16 u32 stream bytes in the frame
 *        20 u32 compressed bytes
 *        24 u32 crc32c of the compressed bytes
 *        28 u32 the frame's time: the newest wall-clock ms of the records
 *           it holds bytes of, as ms after the header's created ms, plus
 *           1; 0 unknown (files written before frame times were kept, a
 *           time before created or more than 49 days after it)
 *   trailer, ZTRAILER_SIZE = 32 bytes, at the end of the file:
 *         0 char[8] "CAIRNZIX"
 *         8 u64 P (index position)
 *        16 u32 frame count
 *        20 u32 crc32c of the index
 *        24 u32 reserved (0)
 *        28 u32 crc32c of trailer bytes 0..27
 * A reader finds the frame holding an offset by binary search in the index
 * and decompresses only it. A frame whose crc32c or zstd checksum fails is
 * never served: the cursor gets EIO. */
#include "replication/backlog/backlog_int.h"

#include "engine/fault.h"
#include "engine/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

struct zseg_writer {
  cairn_backlog *b;
  char name[SEG_NAME_MAX], tmp[SEG_NAME_MAX + 8];
  int fd;
  ZSTD_CCtx *cctx;
  uint64_t first, next_off, pos;
  int64_t ctime_ms, first_ms;
  uint8_t *raw, *comp;
  size_t raw_len, comp_cap;
  int64_t frame_ms;      /* newest time of the bytes in raw */
  int frame_ms_unknown;  /* some of them have no time */
  zframe *frames;
  size_t nframes, frames_cap;
};

zseg_writer *bl_zw_open(cairn_backlog *b, const char *name, uint64_t first, int level, int longdist,
                        int64_t ctime_ms, int64_t first_ms) {
  zseg_writer *w = calloc(1, sizeof(*w));
  if (!w) return NULL;
  w->b = b;
  snprintf(w->name, sizeof(w->name), "%s", name);
  snprintf(w->tmp, sizeof(w->tmp), "%s.tmp", name);
  w->first = w->next_off = first;
  w->pos = SEG_HDR_SIZE;
  w->ctime_ms = ctime_ms;
  w->first_ms = first_ms;
  w->comp_cap = ZSTD_compressBound(ZFRAME_RAW);
  w->raw = malloc(ZFRAME_RAW);
  w->comp = malloc(w->comp_cap);
  w->cctx = ZSTD_createCCtx();
  unlinkat(b->dirfd, w->tmp, 0);
  w->fd = openat(b->dirfd, w->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (!w->raw || !w->comp || !w->cctx || w->fd < 0) {
    int e = w->fd < 0 ? errno : ENOMEM;
    bl_zw_abort(w);
    errno = e;
    return NULL;
  }
  ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
  if (longdist) ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_enableLongDistanceMatching, 1);
  return w;
}

/* Appends compressed frame comp (n bytes, crc its crc32c) holding raw_len
 * stream bytes from next_off, with time ms (0 unknown). */
static int zw_append_frame(zseg_writer *w, const void *comp, size_t n, uint32_t raw_len, uint32_t crc, int64_t ms) {
  int ferr = cairn_fault(CAIRN_FAULT_BACKLOG_SEAL);
  if (ferr) {
    errno = ferr;
    return -1;
  }
  if (cairn_pwrite_all(w->fd, comp, n, w->pos) < 0) return -1;
  if (w->nframes == w->frames_cap) {
    size_t ncap = w->frames_cap ? w->frames_cap * 2 : 64;
    zframe *nf = realloc(w->frames, ncap * sizeof(*nf));
    if (!nf) {
      errno = ENOMEM;
      return -1;
    }
    w->frames = nf;
    w->frames_cap = ncap;
  }
  zframe *f = &w->frames[w->nframes++];
  f->raw_first = w->next_off;
  f->comp_pos = w->pos;
  f->raw_len = raw_len;
  f->comp_len = (uint32_t)n;
  f->crc = crc;
  f->ms = ms;
  w->pos += n;
  w->next_off += raw_len;
  return 0;
}

static int zw_flush_frame(zseg_writer *w) {
  if (w->raw_len == 0) return 0;
  size_t n = ZSTD_compress2(w->cctx, w->comp, w->comp_cap, w->raw, w->raw_len);
  if (ZSTD_isError(n)) {
    errno = EIO;
    return -1;
  }
  if (zw_append_frame(w, w->comp, n, (uint32_t)w->raw_len, cairn_crc32c(0, w->comp, n),
                      w->frame_ms_unknown ? 0 : w->frame_ms) < 0)
    return -1;
  w->frame_ms = 0;
  w->frame_ms_unknown = 0;
  w->raw_len = 0;
  return 0;
}

/* Writes an already compressed frame (an adopted one) as the writer's next
 * frame, after what it holds as a frame of its own. */
static int zw_put_frame(zseg_writer *w, const void *comp, uint32_t clen, uint32_t raw_len, uint32_t crc, int64_t ms) {
  if (zw_flush_frame(w) < 0) return -1;
  return zw_append_frame(w, comp, clen, raw_len, crc, ms);
}

int bl_zw_write(zseg_writer *w, const void *p, size_t n, int64_t ms) {
  const uint8_t *s = p;
  while (n > 0) {
    size_t room = ZFRAME_RAW - w->raw_len, k = n < room ? n : room;
    if (ms <= 0) w->frame_ms_unknown = 1;
    else if (ms > w->frame_ms) w->frame_ms = ms;
    memcpy(w->raw + w->raw_len, s, k);
    w->raw_len += k;
    s += k;
    n -= k;
    if (w->raw_len == ZFRAME_RAW && zw_flush_frame(w) < 0) return -1;
  }
  return 0;
}

int64_t bl_zw_finish(zseg_writer *w, uint8_t state, int64_t sealed_ms) {
  if (zw_flush_frame(w) < 0) return -1;
  size_t ilen = w->nframes * ZIDX_ENTRY;
  uint8_t *idx = calloc(1, ilen + ZTRAILER_SIZE);
  if (!idx) {
    errno = ENOMEM;
    return -1;
  }
  for (size_t i = 0; i < w->nframes; i++) {
    uint8_t *e = idx + i * ZIDX_ENTRY;
    cairn_put_le64(e, w->frames[i].raw_first);
    cairn_put_le64(e + 8, w->frames[i].comp_pos);
    cairn_put_le32(e + 16, w->frames[i].raw_len);
    cairn_put_le32(e + 20, w->frames[i].comp_len);
    cairn_put_le32(e + 24, w->frames[i].crc);
    int64_t d = w->frames[i].ms - w->ctime_ms;
    cairn_put_le32(e + 28, w->frames[i].ms > 0 && d >= 0 && d < (int64_t)UINT32_MAX ? (uint32_t)d + 1 : 0);
  }
  uint8_t *t = idx + ilen;
  memcpy(t, ZTRAILER_MAGIC, 8);
  cairn_put_le64(t + 8, w->pos);
  cairn_put_le32(t + 16, (uint32_t)w->nframes);
  cairn_put_le32(t + 20, cairn_crc32c(0, idx, ilen));
  cairn_put_le32(t + 28, cairn_crc32c(0, t, 28));
  uint64_t size = w->pos + ilen + ZTRAILER_SIZE;
  seg_hdr h = {.version = SEG_VERSION, .format = SEG_FORMAT_ZSTD, .state = state, .first = w->first,
               .last = w->next_off - 1, .bytes = size, .ctime_ms = w->ctime_ms, .sealed_ms = sealed_ms};
  uint8_t hb[SEG_HDR_SIZE];
  bl_seg_hdr_encode(hb, &h);
  int rc = cairn_pwrite_all(w->fd, idx, ilen + ZTRAILER_SIZE, w->pos);
  free(idx);
  if (rc < 0 || cairn_pwrite_all(w->fd, hb, SEG_HDR_SIZE, 0) < 0 || fdatasync(w->fd) < 0) return -1;
  return (int64_t)size;
}

void bl_zw_abort(zseg_writer *w) {
  if (!w) return;
  if (w->fd >= 0) {
    close(w->fd);
    unlinkat(w->b->dirfd, w->tmp, 0);
  }
  ZSTD_freeCCtx(w->cctx);
  free(w->raw);
  free(w->comp);
  free(w->frames);
  free(w);
}

uint64_t bl_zw_last(const zseg_writer *w) { return w->next_off - 1; }

int bl_zw_install(zseg_writer *w) {
  if (renameat(w->b->dirfd, w->tmp, w->b->dirfd, w->name) < 0 || fsync(w->b->dirfd) < 0) return -1;
  close(w->fd);
  w->fd = -1;
  bl_zw_abort(w);
  return 0;
}

/* ---- reading --------------------------------------------------------------- */

const char *bl_zseg_load_index(int fd, seg_hdr *h, zframe **frames, size_t *n) {
  *frames = NULL;
  *n = 0;
  uint8_t hb[SEG_HDR_SIZE], t[ZTRAILER_SIZE];
  if (bl_pread_full(fd, hb, SEG_HDR_SIZE, 0) != SEG_HDR_SIZE) return "short segment header";
  const char *why = bl_seg_hdr_decode(hb, h);
  if (why) return why;
  if (h->format != SEG_FORMAT_ZSTD) return "not a compressed segment";
  if (h->bytes < SEG_HDR_SIZE + ZTRAILER_SIZE || h->last + 1 < h->first) return "bad compressed segment header";
  if (bl_pread_full(fd, t, ZTRAILER_SIZE, h->bytes - ZTRAILER_SIZE) != ZTRAILER_SIZE)
    return "truncated compressed segment";
  if (memcmp(t, ZTRAILER_MAGIC, 8) != 0 || cairn_get_le32(t + 28) != cairn_crc32c(0, t, 28))
    return "frame index trailer damaged";
  uint64_t ipos = cairn_get_le64(t + 8);
  uint32_t cnt = cairn_get_le32(t + 16);
  if (ipos < SEG_HDR_SIZE || ipos + (uint64_t)cnt * ZIDX_ENTRY + ZTRAILER_SIZE != h->bytes)
    return "frame index trailer inconsistent";
  size_t ilen = (size_t)cnt * ZIDX_ENTRY;
  uint8_t *ib = malloc(ilen ? ilen : 1);
  zframe *f = calloc(cnt ? cnt : 1, sizeof(*f));
  if (!ib || !f) {
    free(ib);
    free(f);
    return "out of memory";
  }
  why = NULL;
  if (bl_pread_full(fd, ib, ilen, ipos) != (ssize_t)ilen) why = "truncated frame index";
  else if (cairn_crc32c(0, ib, ilen) != cairn_get_le32(t + 20)) why = "frame index checksum mismatch";
  uint64_t expect = h->first, pos = SEG_HDR_SIZE;
  for (uint32_t i = 0; !why && i < cnt; i++) {
    const uint8_t *e = ib + (size_t)i * ZIDX_ENTRY;
    f[i].raw_first = cairn_get_le64(e);
    f[i].comp_pos = cairn_get_le64(e + 8);
    f[i].raw_len = cairn_get_le32(e + 16);
    f[i].comp_len = cairn_get_le32(e + 20);
    f[i].crc = cairn_get_le32(e + 24);
    uint32_t t = cairn_get_le32(e + 28);
    f[i].ms = t ? h->ctime_ms + (int64_t)t - 1 : 0;
    if (f[i].raw_first != expect || f[i].comp_pos != pos || f[i].raw_len == 0 || f[i].raw_len > ZFRAME_RAW * 64u)
      why = "frame index inconsistent";
    expect += f[i].raw_len;
    pos += f[i].comp_len;
  }
  if (!why && (expect != h->last + 1 || pos != ipos)) why = "frame index does not cover the segment";
  free(ib);
  if (why) {
    free(f);
    return why;
  }
  *frames = f;
  *n = cnt;
  return NULL;
}

const char *bl_zseg_read_frame(int fd, const zframe *f, void *dctx, uint8_t **cbuf, size_t *cbuf_cap,
                               uint8_t *out) {
  if (*cbuf_cap < f->comp_len) {
    uint8_t *nb = realloc(*cbuf, f->comp_len);
    if (!nb) return "out of memory";
    *cbuf = nb;
    *cbuf_cap = f->comp_len;
  }
  ssize_t r = bl_pread_full(fd, *cbuf, f->comp_len, f->comp_pos);
  if (r < 0) return "read error";
  if ((size_t)r != f->comp_len) return "truncated frame";
  if (cairn_crc32c(0, *cbuf, f->comp_len) != f->crc) return "frame checksum mismatch";
  size_t n = ZSTD_decompressDCtx(dctx, out, f->raw_len, *cbuf, f->comp_len);
  if (ZSTD_isError(n)) return "frame does not decompress";
  if (n != f->raw_len) return "frame decompresses to the wrong length";
  return NULL;
}

/* ---- the compression thread ------------------------------------------------ */

/* ---- adopted frames ---------------------------------------------------------
 * A replica catching up receives its master's stored frames (master.c
 * send_stored_frame) and applies their bytes, which reach this backlog as
 * plain records like any stream. It also hands the compressed frames here:
 * when the compression thread compresses the sealed segment holding a
 * frame's range, it writes the frame as it came instead of compressing the
 * same bytes again, once the records it reads for that range have the
 * crc32c the replica computed over the decompressed frame. Held in memory
 * until then, at most adopt_max() compressed bytes (half a segment's worth); a
 * frame past that, one that spans two segments, or one whose range does not
 * match is simply not adopted: its bytes are compressed here as before. */
typedef struct adopted {
  struct adopted *next;
  uint64_t first;
  uint32_t raw_len, clen, raw_crc, crc;
  uint8_t data[];
} adopted;

#define ADOPT_MAX_RAW (4u * ZFRAME_RAW) /* larger frames are compressed here */

/* Half a segment's worth of compressed bytes (a segment of stream at a
 * ratio of 2), between 8 and 32 MiB: process memory stays within the
 * overlay's budget plus 64 MB (issue 10's target 6). */
static uint64_t adopt_max(const cairn_backlog *b) {
  uint64_t half = b->segment_size / 2;
  return half < (8u << 20) ? 8u << 20 : half > (32u << 20) ? 32u << 20 : half;
}

int cairn_backlog_adopt_frame(cairn_backlog *b, uint64_t first, const void *comp, size_t clen, uint32_t raw_len,
                              uint32_t raw_crc) {
  if (b->read_only || !b->zthread_started || raw_len == 0 || raw_len > ADOPT_MAX_RAW || clen == 0 ||
      clen > UINT32_MAX) {
    atomic_fetch_add(&b->adopt_dropped, 1);
    return 0;
  }
  pthread_mutex_lock(&b->adopt_mu);
  int full = b->adopt_bytes + clen > adopt_max(b) || (b->adopt_tail && first < b->adopt_tail->first + b->adopt_tail->raw_len);
  pthread_mutex_unlock(&b->adopt_mu);
  if (full) { /* (or out of order: the older ones are useless now) */
    atomic_fetch_add(&b->adopt_dropped, 1);
    return 0;
  }
  adopted *a = malloc(sizeof(*a) + clen);
  if (!a) return -1;
  a->next = NULL;
  a->first = first;
  a->raw_len = raw_len;
  a->clen = (uint32_t)clen;
  a->raw_crc = raw_crc;
  memcpy(a->data, comp, clen);
  a->crc = cairn_crc32c(0, a->data, clen);
  pthread_mutex_lock(&b->adopt_mu);
  if (b->adopt_tail)
    b->adopt_tail->next = a;
  else
    b->adopt_head = a;
  b->adopt_tail = a;
  b->adopt_bytes += clen;
  pthread_mutex_unlock(&b->adopt_mu);
  return 1;
}

/* Unlinks the oldest adopted frame (adopt_mu held; the caller frees it). */
static adopted *adopt_unlink_head(cairn_backlog *b) {
  adopted *a = b->adopt_head;
  b->adopt_head = a->next;
  if (!b->adopt_head) b->adopt_tail = NULL;
  b->adopt_bytes -= a->clen;
  return a;
}

void bl_adopt_clear(cairn_backlog *b) {
  pthread_mutex_lock(&b->adopt_mu);
  adopted *a = b->adopt_head;
  b->adopt_head = b->adopt_tail = NULL;
  b->adopt_bytes = 0;
  pthread_mutex_unlock(&b->adopt_mu);
  while (a) {
    adopted *n = a->next;
    free(a);
    a = n;
  }
}

/* Frees the adopted frames that start before off (their range went by)
 * and says where the next one starts if it ends by last (0: none). */
static uint64_t adopt_next(cairn_backlog *b, uint64_t off, uint64_t last) {
  pthread_mutex_lock(&b->adopt_mu);
  while (b->adopt_head && b->adopt_head->first < off) free(adopt_unlink_head(b));
  adopted *a = b->adopt_head;
  uint64_t at = a && a->first + a->raw_len - 1 <= last ? a->first : 0;
  pthread_mutex_unlock(&b->adopt_mu);
  return at;
}

/* The adopted frame starting at off, taken out of the queue (the caller
 * frees it), or NULL (a reset cleared the queue meanwhile). */
static adopted *adopt_take(cairn_backlog *b, uint64_t off) {
  pthread_mutex_lock(&b->adopt_mu);
  adopted *a = b->adopt_head && b->adopt_head->first == off ? adopt_unlink_head(b) : NULL;
  pthread_mutex_unlock(&b->adopt_mu);
  return a;
}

/* Reads exactly n stream bytes from c into buf: the newest time of their
 * records in *ms (0 if any is unknown). 0, or -1 (errno). */
static int read_exactly(cairn_backlog_cursor *c, uint8_t *buf, size_t n, int64_t *ms) {
  size_t got = 0;
  int unknown = 0;
  *ms = 0;
  while (got < n) {
    int64_t t;
    int exact;
    long k = cairn_backlog_cursor_next_timed(c, buf + got, n - got, &t, &exact);
    if (k <= 0) {
      if (k == 0) errno = EIO;
      return -1;
    }
    if (t <= 0) unknown = 1;
    else if (t > *ms) *ms = t;
    got += (size_t)k;
  }
  if (unknown) *ms = 0;
  return 0;
}

/* Copies stream [first, last] of b into w through a cursor (which checks
 * every record's or frame's checksum), with the times of the records (or,
 * from compressed segments, of the frames). progress may be NULL. */
int bl_copy_stream(cairn_backlog *b, zseg_writer *w, uint64_t first, uint64_t last, int adopt,
                   void (*progress)(void *ud, uint64_t n), void *ud) {
  cairn_backlog_cursor *c;
  if (cairn_backlog_cursor_open(b, first, &c) < 0) return -1;
  size_t cap = adopt ? ADOPT_MAX_RAW : 1 << 20;
  uint8_t *buf = malloc(cap);
  int rc = buf ? 0 : -1;
  uint64_t off = first;
  while (rc == 0 && off <= last) {
    uint64_t want = last - off + 1;
    uint64_t next = adopt ? adopt_next(b, off, last) : 0;
    adopted *a = next == off ? adopt_take(b, off) : NULL;
    if (a) {
      int64_t ms;
      if (read_exactly(c, buf, a->raw_len, &ms) < 0) {
        free(a);
        rc = -1;
        break;
      }
      if (cairn_crc32c(0, buf, a->raw_len) == a->raw_crc) {
        if (zw_put_frame(w, a->data, a->clen, a->raw_len, a->crc, ms) < 0) rc = -1;
        atomic_fetch_add(&b->adopted_frames, 1);
        atomic_fetch_add(&b->adopted_stream_bytes, a->raw_len);
      } else {
        atomic_fetch_add(&b->adopt_mismatches, 1);
        if (bl_zw_write(w, buf, a->raw_len, ms) < 0) rc = -1;
      }
      off += a->raw_len;
      if (progress) progress(ud, a->raw_len);
      free(a);
      continue;
    }
    if (next > off && next - off < want) want = next - off; /* up to the adopted frame */
    int64_t ms;
    int exact;
    /* one record or frame at a time: each frame keeps the time of its bytes */
    long n = cairn_backlog_cursor_next_timed(c, buf, want < cap ? (size_t)want : cap, &ms, &exact);
    if (n <= 0) {
      if (n == 0) errno = EIO; /* the segment ends early */
      rc = -1;
      break;
    }
    if (bl_zw_write(w, buf, (size_t)n, ms) < 0) rc = -1;
    off += (uint64_t)n;
    if (progress) progress(ud, (uint64_t)n);
  }
  int e = errno;
  free(buf);
  cairn_backlog_cursor_close(c);
  errno = e;
  return rc;
}

int bl_compress_one(cairn_backlog *b) {
  pthread_mutex_lock(&b->mu);
  segment *s = NULL;
  for (size_t i = 0; i + 1 < b->nsegs && !s; i++)
    if (b->segs[i]->queued && b->segs[i]->format == SEG_FORMAT_RAW) s = b->segs[i];
  if (!s) {
    pthread_mutex_unlock(&b->mu);
    return 1;
  }
  uint64_t first = s->first, last = s->end;
  int64_t ctime = s->ctime_ms, fms = s->first_ms, sealed = s->sealed_ms;
  char oldname[SEG_NAME_MAX], name[SEG_NAME_MAX];
  snprintf(oldname, sizeof(oldname), "%s", s->name);
  pthread_mutex_unlock(&b->mu);
  bl_zseg_name(name, first, (uint64_t)cairn_ustime());
  zseg_writer *w = bl_zw_open(b, name, first, b->zlevel, 0, ctime, fms);
  if (!w) return -1;
  int64_t size = -1;
  if (bl_copy_stream(b, w, first, last, 1, NULL, NULL) < 0 || (size = bl_zw_finish(w, SEG_STATE_COMPRESSED, sealed)) < 0) {
    int e = errno;
    bl_zw_abort(w);
    pthread_mutex_lock(&b->mu);
    long i = bl_segs_find(b, first);
    int same = i >= 0 && !strcmp(b->segs[i]->name, oldname);
    if (same && e == EIO) b->segs[i]->queued = 0; /* damaged: stays raw, readers get EIO at the damage */
    pthread_mutex_unlock(&b->mu);
    if (same && e == EIO)
      bl_log(b, CAIRN_BACKLOG_LOG_ERROR, "backlog: %s/%s is damaged; left uncompressed", b->dir, oldname);
    return same && e != EIO && e != ERANGE ? -1 : 0;
  }
  /* Install: under the manifest mutex and the directory lock, only if the
   * raw segment is still what we compressed (no trim, reset or compaction
   * meanwhile). Rename, directory fsync, manifest; the raw file goes last. */
  pthread_mutex_lock(&b->mf_mu);
  int lfd;
  if (bl_lock_try(b, &lfd) < 0) {
    pthread_mutex_unlock(&b->mf_mu);
    bl_zw_abort(w);
    return 1; /* a tool is at work: later */
  }
  bl_refresh(b);
  pthread_mutex_lock(&b->mu);
  long i = bl_segs_find(b, first);
  int same = i >= 0 && (size_t)i + 1 < b->nsegs && !strcmp(b->segs[i]->name, oldname) && b->segs[i]->end == last;
  pthread_mutex_unlock(&b->mu);
  int rc = 0;
  if (!same) {
    bl_zw_abort(w);
  } else if (bl_zw_install(w) < 0) {
    rc = -1;
    bl_zw_abort(w);
  } else {
    pthread_mutex_lock(&b->mu);
    s = b->segs[i];
    atomic_fetch_sub(&b->disk_bytes, s->size);
    atomic_fetch_add(&b->disk_bytes, (uint64_t)size);
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->format = SEG_FORMAT_ZSTD;
    s->state = SEG_STATE_COMPRESSED;
    s->size = (uint64_t)size;
    s->queued = 0;
    free(s->idx);
    s->idx = NULL;
    s->nidx = s->idx_cap = 0;
    b->mf_dirty = 1;
    pthread_mutex_unlock(&b->mu);
    bl_manifest_write(b); /* then removes the raw file */
  }
  bl_unlock(lfd);
  pthread_mutex_unlock(&b->mf_mu);
  return rc;
}

void *bl_compress_main(void *arg) {
  cairn_backlog *b = arg;
  int backoff = 0;
  pthread_mutex_lock(&b->mu);
  while (!b->zstop) {
    if (b->spare_wanted && atomic_load(&b->spare_fd) < 0 && !backoff) {
      /* the next roll's zero-filled segment first: a roll without it
       * falls back to a file whose syncs commit the filesystem journal */
      pthread_mutex_unlock(&b->mu);
      int rc = bl_make_spare(b);
      int e = errno;
      pthread_mutex_lock(&b->mu);
      if (rc < 0 && !b->zstop) {
        backoff = 1;
        if (!b->spare_error_logged) {
          b->spare_error_logged = 1;
          pthread_mutex_unlock(&b->mu);
          char room[80] = "";
          if (e == ENOSPC)
            snprintf(room, sizeof(room), ": the filesystem must keep two segments and %u MB free",
                     SPARE_FREE_FLOOR >> 20);
          bl_log(b, CAIRN_BACKLOG_LOG_WARNING,
                 "backlog: %s/%s: cannot preallocate the next segment (%s%s); segments are written without "
                 "preallocation until it works (retried every second)",
                 b->dir, SPARE_NAME, strerror(e), room);
          pthread_mutex_lock(&b->mu);
        }
      } else if (rc == 0) {
        b->spare_error_logged = 0;
      }
      continue;
    }
    int pending = 0;
    for (size_t i = 0; i + 1 < b->nsegs; i++)
      if (b->segs[i]->queued && b->segs[i]->format == SEG_FORMAT_RAW) pending = 1;
    if (!pending || backoff) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += backoff ? 1 : 5;
      pthread_cond_timedwait(&b->zcv, &b->mu, &ts);
      backoff = 0;
      continue;
    }
    pthread_mutex_unlock(&b->mu);
    int rc = bl_compress_one(b);
    if (rc != 0) backoff = 1; /* lock busy or error: retry in a second */
    if (rc < 0) bl_log(b, CAIRN_BACKLOG_LOG_WARNING, "backlog: compressing a sealed segment failed: %s", strerror(errno));
    pthread_mutex_lock(&b->mu);
  }
  pthread_mutex_unlock(&b->mu);
  return NULL;
}
