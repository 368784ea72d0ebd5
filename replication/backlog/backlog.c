/* The backlog: opening (manifest + directory, with repair), appending,
 * syncing, reset and cursors. Formats and the crash-safety argument are in
 * docs/BACKLOG.md; raw segment files are backlog_segment.c, compressed ones
 * backlog_zseg.c, the manifest backlog_manifest.c, retention and stats
 * backlog_retain.c, compaction backlog_compact.c.
 *
 * Concurrency: one writer thread, cursors on any thread, one compression
 * thread. The mutex guards the segment array and each raw segment's sparse
 * index; `end`, `first`, `gen` and `disk_bytes` are atomics. The writer
 * touches the mutex on append only when it adds a sparse index entry. */
#include "replication/backlog/backlog_int.h"

#include "engine/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

struct cairn_backlog_cursor {
  cairn_backlog *b;
  uint64_t gen;
  int fd;                /* own fd of the segment file being read */
  char name[SEG_NAME_MAX];
  uint8_t format;
  uint64_t seg_first, seg_last; /* seg_last: compressed files only */
  int64_t seg_sealed_ms; /* compressed files: stands in for frames without a time */
  uint64_t off;          /* next byte to hand out */
  /* raw files */
  uint64_t file_pos;     /* file position of the next record header to load */
  uint64_t next_rec_off; /* offset the record at file_pos must carry */
  const uint8_t *payload;
  uint64_t rec_off;
  uint32_t rec_len;
  int64_t rec_ms;        /* the loaded record's wall-clock ms */
  int have_rec;
  uint8_t *buf;
  size_t buf_cap, buf_len;
  uint64_t buf_pos;
  /* compressed files */
  zframe *frames;
  size_t nframes;
  long frame;            /* index of the decompressed frame in raw, -1 none */
  uint8_t *raw, *cbuf;
  size_t raw_cap, cbuf_cap;
  ZSTD_DCtx *dctx;
};

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

typedef struct dfile {
  uint64_t first;
  int kind; /* 1 raw, 2 compressed */
  char name[SEG_NAME_MAX];
} dfile;

static int cmp_dfile(const void *a, const void *b) {
  const dfile *x = a, *y = b;
  if (x->first != y->first) return x->first < y->first ? -1 : 1;
  return x->kind - y->kind;
}

/* Lists segment files, sorted by first offset (raw before compressed).
 * Stray temp files of interrupted writers are removed unless read_only. */
static int list_files(cairn_backlog *b, dfile **out, size_t *n) {
  int fd = dup(b->dirfd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    if (fd >= 0) close(fd);
    return -1;
  }
  rewinddir(d); /* the dup shares the directory position with dirfd */
  dfile *v = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    uint64_t first;
    if (l > 4 && !strcmp(de->d_name + l - 4, ".tmp")) {
      if (!b->read_only) unlinkat(b->dirfd, de->d_name, 0);
      continue;
    }
    int kind = bl_parse_name(de->d_name, &first);
    if (!kind || l >= SEG_NAME_MAX) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 16;
      dfile *nv = realloc(v, cap * sizeof(*nv));
      if (!nv) {
        free(v);
        closedir(d);
        errno = ENOMEM;
        return -1;
      }
      v = nv;
    }
    v[cnt].first = first;
    v[cnt].kind = kind;
    memcpy(v[cnt].name, de->d_name, l + 1);
    cnt++;
  }
  closedir(d);
  if (cnt > 1) qsort(v, cnt, sizeof(*v), cmp_dfile);
  *out = v;
  *n = cnt;
  return 0;
}

/* Loads a compressed segment: header, trailer and index must check out; a
 * damaged one keeps its place in the chain (extent from the manifest) and
 * readers get EIO inside it. */
static int load_zseg(cairn_backlog *b, segment *s, const mf_seg *mf, char *err, size_t errlen, size_t *used) {
  int fd = bl_open_at(b, s->name, O_RDONLY);
  if (fd < 0) {
    bl_errf(err, errlen, "%s/%s: open: %s", b->dir, s->name, strerror(errno));
    return -1;
  }
  struct stat st;
  seg_hdr h;
  zframe *f = NULL;
  size_t nf = 0;
  const char *why = fstat(fd, &st) < 0 ? strerror(errno) : bl_zseg_load_index(fd, &h, &f, &nf);
  close(fd);
  free(f);
  s->format = SEG_FORMAT_ZSTD;
  s->size = (uint64_t)st.st_size;
  if (!why && h.first != s->first) why = "segment header first offset does not match file name";
  if (why) {
    if (!mf) {
      bl_errf(err, errlen, "%s/%s: %s", b->dir, s->name, why);
      return -1;
    }
    bl_note(err, errlen, used, "%s/%s: %s (readers get an error inside it)", b->dir, s->name, why);
    bl_log(b, CAIRN_BACKLOG_LOG_ERROR, "backlog: %s/%s: %s", b->dir, s->name, why);
    s->end = mf->last;
    s->state = mf->state;
    s->ctime_ms = mf->created_ms;
    s->sealed_ms = mf->sealed_ms;
  } else {
    s->end = h.last;
    s->state = h.state;
    s->ctime_ms = h.ctime_ms;
    s->sealed_ms = h.sealed_ms;
  }
  s->first_ms = s->ctime_ms;
  atomic_fetch_add(&b->disk_bytes, s->size);
  return 0;
}

static int adopt_file(cairn_backlog *b, const char *name, uint64_t first, int kind, int newest, uint64_t next_first,
                      const mf_seg *mf, char *err, size_t errlen, size_t *used) {
  segment *s = bl_seg_new(first);
  if (!s || bl_segs_push(b, s) < 0) {
    bl_seg_free(s);
    bl_errf(err, errlen, "%s: out of memory", b->dir);
    return -1;
  }
  snprintf(s->name, sizeof(s->name), "%s", name);
  if (kind == 2) return load_zseg(b, s, mf, err, errlen, used);
  uint64_t before = atomic_load(&b->disk_bytes);
  int rc = bl_load_raw(b, s, newest, next_first, err, errlen, used);
  (void)before;
  return rc;
}

static const dfile *find_file(const dfile *v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(v[i].name, name)) return &v[i];
  return NULL;
}

/* Builds the chain: the manifest's sealed segments, then raw files that
 * continue it (rolled after its last write); without a manifest, a walk over
 * the files from the oldest, preferring at each offset the compressed file
 * reaching furthest (a finished compaction) over raw ones. */
static int build_chain(cairn_backlog *b, const manifest *m, int have_m, const dfile *v, size_t n, char *err,
                       size_t errlen, size_t *used) {
  uint64_t next = 0;
  int started = 0;
  if (have_m) {
    for (size_t i = 0; i < m->nsegs; i++) {
      const mf_seg *g = &m->segs[i];
      if (g->state == SEG_STATE_ACTIVE || bl_parse_name(g->name, &(uint64_t){0}) == 0) break;
      const dfile *f = find_file(v, n, g->name);
      if (!f) {
        /* a raw segment the manifest still lists may have been replaced by
         * a compressed copy whose manifest write did not happen: both exist
         * then, so a missing listed file is damage */
        bl_errf(err, errlen, "%s: %s lists %s but the file is missing", b->dir, MANIFEST_NAME, g->name);
        return -1;
      }
      if (started && g->first != next) {
        bl_errf(err, errlen, "%s: %s is not one chain at %s", b->dir, MANIFEST_NAME, g->name);
        return -1;
      }
      if (adopt_file(b, g->name, g->first, f->kind, 0, g->last + 1, g, err, errlen, used) < 0) return -1;
      segment *s = b->segs[b->nsegs - 1];
      if (f->kind == 1) s->state = SEG_STATE_SEALED;
      next = s->end + 1;
      started = 1;
    }
  }
  /* the rest: raw files continuing the chain (all of them without a manifest) */
  for (size_t i = 0; i < n; i++) {
    const dfile *f = &v[i];
    if (started && f->first < next) continue; /* superseded or already in */
    if (started && f->first != next) {
      if (f->kind == 2) continue; /* unfinished compaction output */
      bl_errf(err, errlen, "%s: broken segment chain (gap or overlap): %s ends at offset %llu but %s starts at %llu",
              b->dir, b->segs[b->nsegs - 1]->name, (unsigned long long)(next - 1), f->name,
              (unsigned long long)f->first);
      return -1;
    }
    if (f->kind == 2 && have_m) continue; /* not in the manifest: left over */
    /* without a manifest, a compressed file at the same offset beats raw */
    size_t j = i;
    if (!have_m)
      for (size_t k = i + 1; k < n && v[k].first == f->first; k++) j = k;
    f = &v[j];
    size_t nx = j + 1;
    while (nx < n && v[nx].first == f->first) nx++;
    int newest = f->kind == 1 && nx >= n;
    if (f->kind == 1 && !newest) {
      /* the next raw file decides whether this one is the newest */
      newest = 1;
      for (size_t k = nx; k < n; k++)
        if (v[k].kind == 1) newest = 0;
    }
    uint64_t nf = 0;
    for (size_t k = nx; k < n; k++)
      if (v[k].kind == 1 || !have_m) {
        nf = v[k].first;
        break;
      }
    if (adopt_file(b, f->name, f->first, f->kind, newest, nf, NULL, err, errlen, used) < 0) return -1;
    next = b->segs[b->nsegs - 1]->end + 1;
    started = 1;
    i = nx - 1;
  }
  return 0;
}

int cairn_backlog_open(const char *dir, const cairn_backlog_options *opt, cairn_backlog **out, char *err,
                       size_t errlen) {
  if (err && errlen) err[0] = 0;
  *out = NULL;
  cairn_backlog *b = calloc(1, sizeof(*b));
  if (!b || !(b->dir = strdup(dir))) {
    free(b);
    bl_errf(err, errlen, "%s: out of memory", dir);
    return -1;
  }
  b->dirfd = b->active_fd = b->lock_fd = -1;
  atomic_init(&b->spare_fd, -1);
  b->segment_size = opt && opt->segment_size ? opt->segment_size : 64ull << 20;
  b->read_only = opt && opt->tool;
  b->truncate_corrupt = opt && opt->truncate_corrupt;
  b->zlevel = opt && opt->compress_level ? opt->compress_level : 3;
  b->ret_bytes = 16ull << 30;
  b->ret_seconds = 7 * 86400;
  b->ret_max_bytes = 64ull << 30;
  if (opt) {
    b->log = opt->log;
    b->log_ud = opt->log_ud;
  }
  pthread_mutex_init(&b->mu, NULL);
  pthread_mutex_init(&b->adopt_mu, NULL);
  pthread_mutex_init(&b->mf_mu, NULL);
  pthread_cond_init(&b->zcv, NULL);
  dfile *files = NULL;
  size_t n = 0, used = 0;
  manifest m = {0};
  const char *why = NULL;

  if (b->read_only) {
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
      bl_errf(err, errlen, "%s: %s", dir, stat(dir, &st) < 0 ? strerror(errno) : "not a directory");
      goto fail;
    }
  }
  if ((!b->read_only && mkdir_p(dir) < 0) || (b->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    bl_errf(err, errlen, "%s: %s", dir, strerror(errno));
    goto fail;
  }
  if (b->read_only) {
    int fd = bl_open_at(b, LOCK_NAME, O_RDWR | O_CREAT);
    int tries = 0;
    while (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK && ++tries < 40) usleep(50000);
    if (fd < 0 || tries >= 40) {
      bl_errf(err, errlen, "%s: locked: another cairn-backlog is working on this backlog", dir);
      if (fd >= 0) close(fd);
      errno = EWOULDBLOCK;
      goto fail;
    }
    b->lock_fd = fd;
  }
  int mrc = bl_manifest_read(b, &m, &why);
  if (mrc < 0) {
    /* The manifest is only ever replaced whole (write, fsync, rename), so
     * a bad one is damage, never a torn write nor an empty backlog. */
    b->corruptions++;
    if (b->read_only) {
      bl_errf(err, errlen, "%s/%s: %s", dir, MANIFEST_NAME, why);
      goto fail;
    }
    if (!b->truncate_corrupt) {
      bl_errf(err, errlen,
              "%s/%s: CORRUPT backlog manifest: %s. Refusing to start. Keep a copy of the directory; set "
              "backlog-load-corrupt truncate to rebuild the manifest from the segment files (the replid "
              "history and the pins are lost: replicas will need a full sync)",
              dir, MANIFEST_NAME, why);
      errno = EILSEQ;
      goto fail;
    }
    bl_log(b, CAIRN_BACKLOG_LOG_ERROR,
           "backlog: %s/%s: CORRUPT backlog manifest: %s; backlog-load-corrupt truncate: rebuilding it from the "
           "segment files (replid history and pins lost)",
           dir, MANIFEST_NAME, why);
    bl_note(err, errlen, &used, "%s/%s: %s; rebuilt from the segment files (replid history and pins lost)", dir,
            MANIFEST_NAME, why);
    b->mf_dirty = 1;
  }
  if (mrc == 0) {
    b->mf_gen = m.gen;
    b->hist = m.hist;
    b->nhist = m.nhist;
    b->pins = m.pins;
    b->npins = m.npins;
    m.hist = NULL;
    m.pins = NULL;
  } else {
    b->mf_dirty = 1;
  }
  if (list_files(b, &files, &n) < 0) {
    bl_errf(err, errlen, "%s: listing segments: %s", dir, strerror(errno));
    goto fail;
  }
  if (b->read_only && n == 0 && mrc != 0) {
    bl_errf(err, errlen, "%s: not a backlog directory (no %s, no segment files)", dir, MANIFEST_NAME);
    goto fail;
  }
  if (n == 0) {
    uint64_t start = opt ? opt->start_offset : 0;
    segment *s = bl_seg_new(start + 1);
    if (!s || bl_segs_push(b, s) < 0) {
      bl_seg_free(s);
      bl_errf(err, errlen, "%s: out of memory", dir);
      goto fail;
    }
    if ((b->active_fd = bl_create_seg_file(b, s->name, start + 1, &s->ctime_ms)) < 0 || fsync(b->dirfd) < 0) {
      bl_errf(err, errlen, "%s/%s: create: %s", dir, s->name, strerror(errno));
      goto fail;
    }
    atomic_store(&b->disk_bytes, SEG_HDR_SIZE);
  } else if (build_chain(b, &m, mrc == 0, files, n, err, errlen, &used) < 0) {
    goto fail;
  }
  if (b->nsegs == 0) {
    bl_errf(err, errlen, "%s: no usable segment", dir);
    goto fail;
  }
  segment *last = b->segs[b->nsegs - 1];
  if (last->format != SEG_FORMAT_RAW || (!b->read_only && b->active_fd < 0)) {
    /* every segment is compressed (a compaction or the tool covered all):
     * start a fresh active one after it */
    if (b->read_only) goto done;
    segment *s = bl_seg_new(last->end + 1);
    if (!s || bl_segs_push(b, s) < 0) {
      bl_seg_free(s);
      bl_errf(err, errlen, "%s: out of memory", dir);
      goto fail;
    }
    if ((b->active_fd = bl_create_seg_file(b, s->name, s->first, &s->ctime_ms)) < 0 || fsync(b->dirfd) < 0) {
      bl_errf(err, errlen, "%s/%s: create: %s", dir, s->name, strerror(errno));
      goto fail;
    }
    atomic_fetch_add(&b->disk_bytes, SEG_HDR_SIZE);
  }
  b->segs[b->nsegs - 1]->queued = 0;
done:
  b->active = b->segs[b->nsegs - 1];
  free(files);
  bl_manifest_free(&m);
  atomic_store(&b->first, b->segs[0]->first);
  atomic_store(&b->end, b->segs[b->nsegs - 1]->end);
  if (!b->read_only) {
    /* Records what open found (and removes leftovers) before anything new
     * happens; a tool holding the lock just leaves that for later. */
    bl_manifest_flush(b, 1);
    if (!(opt && opt->no_compress) && pthread_create(&b->zthread, NULL, bl_compress_main, b) == 0) {
      b->zthread_started = 1;
      b->prealloc = opt && opt->preallocate;
    }
  }
  *out = b;
  return 0;
fail:
  free(files);
  bl_manifest_free(&m);
  cairn_backlog_close(b);
  return -1;
}

void cairn_backlog_close(cairn_backlog *b) {
  if (!b) return;
  if (b->zthread_started) {
    pthread_mutex_lock(&b->mu);
    b->zstop = 1;
    pthread_cond_signal(&b->zcv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->zthread, NULL);
  }
  int spare = atomic_exchange(&b->spare_fd, -1);
  if (spare >= 0) {
    close(spare);
    unlinkat(b->dirfd, SPARE_NAME, 0);
  }
  if (!b->read_only && b->dirfd >= 0 && b->nsegs && b->mf_dirty) bl_manifest_flush(b, 0);
  if (b->active_fd >= 0) close(b->active_fd);
  if (b->lock_fd >= 0) close(b->lock_fd);
  if (b->dirfd >= 0) close(b->dirfd);
  for (size_t i = 0; i < b->nsegs; i++) bl_seg_free(b->segs[i]);
  free(b->segs);
  free(b->hist);
  free(b->pins);
  bl_adopt_clear(b);
  pthread_mutex_destroy(&b->adopt_mu);
  pthread_mutex_destroy(&b->mu);
  pthread_mutex_destroy(&b->mf_mu);
  pthread_cond_destroy(&b->zcv);
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
uint64_t cairn_backlog_disk_bytes(const cairn_backlog *b) { return atomic_load(&((cairn_backlog *)b)->disk_bytes); }
int cairn_backlog_segment_count(const cairn_backlog *b) {
  pthread_mutex_lock(&((cairn_backlog *)b)->mu);
  int n = (int)b->nsegs;
  pthread_mutex_unlock(&((cairn_backlog *)b)->mu);
  return n;
}

int64_t cairn_backlog_first_time_ms(const cairn_backlog *b) {
  cairn_backlog_stats st;
  cairn_backlog_get_stats((cairn_backlog *)b, &st);
  return st.oldest_ms;
}

/* ---- writing ------------------------------------------------------------- */

int cairn_backlog_append(cairn_backlog *b, const void *data, size_t len) {
  return cairn_backlog_append_at(b, data, len, cairn_mstime());
}

int cairn_backlog_append_at(cairn_backlog *b, const void *data, size_t len, int64_t ms) {
  if (len == 0) return 0; /* nothing to log; an empty record would carry no offset */
  if ((uint64_t)len > REC_MAX_PAYLOAD) {
    errno = EMSGSIZE;
    return -1;
  }
  if (b->active_fd < 0) {
    errno = EBADF;
    return -1;
  }
  segment *s = b->active;
  uint64_t rec = REC_HDR_SIZE + (uint64_t)len;
  /* Roll before a record that would push a non-empty segment past the limit;
   * a record larger than the limit gets a segment to itself. */
  uint64_t early = b->segment_size < PREALLOC_EARLY_ROLL ? b->segment_size : PREALLOC_EARLY_ROLL;
  int spare_ready = atomic_load_explicit(&b->spare_fd, memory_order_relaxed) >= 0;
  if (s->end >= s->first &&
      (s->size + rec > b->segment_size || (!b->active_prealloc && spare_ready && s->size >= early))) {
    if (bl_roll(b) < 0) return -1;
    s = b->active;
    spare_ready = 0;
  }
  if (b->prealloc && !spare_ready && !b->spare_wanted &&
      s->size >= (b->active_prealloc ? b->segment_size : early) / 2) {
    /* the next roll's spare: asked for once the active segment is half
     * full (or, not preallocated, half the way to its early roll) */
    pthread_mutex_lock(&b->mu);
    b->spare_wanted = 1;
    pthread_cond_signal(&b->zcv);
    pthread_mutex_unlock(&b->mu);
  }
  uint64_t off = s->end + 1, pos = s->size;
  uint8_t hdr[REC_HDR_SIZE];
  bl_rec_hdr_encode(hdr, (uint32_t)len, off, ms);
  uint32_t crc = cairn_crc32c(cairn_crc32c(0, hdr, 28), data, len);
  cairn_put_le32(hdr + 28, crc);

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
      b->active_prealloc = 0; /* (the file now ends at pos) */
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
  if (bl_seg_index_due(s, pos)) {
    /* Cursor threads read the index under the mutex (it may be realloc'd). */
    pthread_mutex_lock(&b->mu);
    bl_seg_index_add(s, off, pos);
    pthread_mutex_unlock(&b->mu);
  }
  bl_seg_note_record(s, off, (uint32_t)len, pos, ms);
  atomic_fetch_add(&b->disk_bytes, rec);
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

int cairn_backlog_reset(cairn_backlog *b, uint64_t end) {
  /* Build the new segment under a temporary name first, so a failure leaves
   * the old backlog intact. A tool's lock is waited for (a few seconds). */
  char name[SEG_NAME_MAX], tmp[SEG_NAME_MAX + 8];
  bl_raw_name(name, end + 1);
  snprintf(tmp, sizeof(tmp), "%s.tmp", name);
  unlinkat(b->dirfd, tmp, 0);
  segment *s = bl_seg_new(end + 1);
  if (!s) {
    errno = ENOMEM;
    return -1;
  }
  pthread_mutex_lock(&b->mf_mu);
  int lfd = -1;
  for (int tries = 0; bl_lock_try(b, &lfd) < 0; tries++) {
    if (errno != EWOULDBLOCK || tries > 100) {
      int e = errno;
      pthread_mutex_unlock(&b->mf_mu);
      bl_seg_free(s);
      errno = e;
      return -1;
    }
    usleep(50000);
  }
  int fd = bl_create_seg_file(b, tmp, end + 1, &s->ctime_ms);
  if (fd < 0 || fdatasync(fd) < 0) {
    int e = errno;
    if (fd >= 0) {
      close(fd);
      unlinkat(b->dirfd, tmp, 0);
    }
    bl_unlock(lfd);
    pthread_mutex_unlock(&b->mf_mu);
    bl_seg_free(s);
    errno = e;
    return -1;
  }
  pthread_mutex_lock(&b->mu);
  atomic_fetch_add(&b->gen, 1);
  for (size_t i = 0; i < b->nsegs; i++) {
    unlinkat(b->dirfd, b->segs[i]->name, 0);
    bl_seg_free(b->segs[i]);
  }
  b->nsegs = 0;
  bl_segs_push(b, s); /* cannot fail: capacity is at least 1 */
  b->active = s;
  int rc = renameat(b->dirfd, tmp, b->dirfd, name);
  int e = errno;
  if (b->active_fd >= 0) close(b->active_fd);
  b->active_fd = fd;
  b->active_prealloc = 0;
  atomic_store(&b->disk_bytes, SEG_HDR_SIZE);
  atomic_store_explicit(&b->first, end + 1, memory_order_release);
  atomic_store_explicit(&b->end, end, memory_order_release);
  b->mf_dirty = 1;
  pthread_mutex_unlock(&b->mu);
  if (rc == 0) rc = fsync(b->dirfd), e = errno;
  if (rc == 0) bl_manifest_write(b);
  bl_unlock(lfd);
  pthread_mutex_unlock(&b->mf_mu);
  if (rc < 0) {
    errno = e;
    return -1;
  }
  b->dir_dirty = 0;
  bl_adopt_clear(b); /* frames of the old history */
  return 0;
}

/* ---- cursors -------------------------------------------------------------- */

/* Points the cursor at segment index i (mutex held), at the latest indexed
 * record (raw) at or before `target`. Opens the cursor's own fd. -1 with
 * ENOENT if the file is gone (another process changed the backlog). */
static int cursor_enter(cairn_backlog_cursor *c, size_t i, uint64_t target) {
  cairn_backlog *b = c->b;
  segment *s = b->segs[i];
  int fd = bl_open_at(b, s->name, O_RDONLY);
  if (fd < 0) return -1;
  if (s->format == SEG_FORMAT_ZSTD) {
    seg_hdr h;
    zframe *f = NULL;
    size_t nf = 0;
    const char *why = bl_zseg_load_index(fd, &h, &f, &nf);
    if (why) {
      close(fd);
      atomic_fetch_add(&b->corrupt_frames, 1);
      bl_log(b, CAIRN_BACKLOG_LOG_ERROR, "backlog: %s/%s: %s; not served", b->dir, s->name, why);
      errno = EIO;
      return -1;
    }
    if (!c->dctx && !(c->dctx = ZSTD_createDCtx())) {
      close(fd);
      free(f);
      errno = ENOMEM;
      return -1;
    }
    free(c->frames);
    c->frames = f;
    c->nframes = nf;
    c->frame = -1;
    c->seg_last = h.last;
    c->seg_sealed_ms = h.sealed_ms;
  }
  if (c->fd >= 0) close(c->fd);
  c->fd = fd;
  c->format = s->format;
  snprintf(c->name, sizeof(c->name), "%s", s->name);
  c->seg_first = s->first;
  c->file_pos = SEG_HDR_SIZE;
  c->next_rec_off = s->first;
  if (s->format == SEG_FORMAT_RAW) {
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
  }
  c->have_rec = 0;
  c->buf_len = 0;
  return 0;
}

/* Finds and enters the segment holding c->off. Files that vanished mean
 * another process switched the manifest: adopt it and try again. */
static int cursor_seek(cairn_backlog_cursor *c, int advancing) {
  cairn_backlog *b = c->b;
  for (int attempt = 0;; attempt++) {
    int rc;
    pthread_mutex_lock(&b->mu);
    long i = bl_segs_find(b, c->off);
    if (atomic_load(&b->gen) != c->gen || c->off < atomic_load(&b->first) || i < 0 ||
        c->off > atomic_load(&b->end) + 1) {
      errno = ERANGE;
      rc = -1;
    } else if (advancing && !strcmp(b->segs[i]->name, c->name)) {
      errno = EIO; /* the file we read should have held this byte */
      rc = -1;
    } else {
      rc = cursor_enter(c, (size_t)i, c->off);
    }
    pthread_mutex_unlock(&b->mu);
    if (rc == 0 || errno != ENOENT || attempt >= 3) return rc;
    pthread_mutex_lock(&b->mf_mu);
    bl_refresh(b);
    pthread_mutex_unlock(&b->mf_mu);
  }
}

int cairn_backlog_cursor_open(cairn_backlog *b, uint64_t offset, cairn_backlog_cursor **out) {
  *out = NULL;
  cairn_backlog_cursor *c = calloc(1, sizeof(*c));
  if (!c) return -1;
  c->b = b;
  c->fd = -1;
  c->frame = -1;
  c->buf_cap = WINDOW_SIZE;
  c->buf = malloc(c->buf_cap);
  if (!c->buf) {
    free(c);
    errno = ENOMEM;
    return -1;
  }
  c->gen = atomic_load(&b->gen);
  c->off = offset;
  if (cursor_seek(c, 0) < 0) {
    int e = errno;
    cairn_backlog_cursor_close(c);
    errno = e;
    return -1;
  }
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
  ssize_t r = bl_pread_full(c->fd, c->buf, c->buf_cap, pos);
  if (r < 0) return -1;
  c->buf_pos = pos;
  c->buf_len = (size_t)r;
  *got = (size_t)r;
  return (size_t)r >= n ? 1 : 0;
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
    uint32_t type = cairn_get_le32(h), len = cairn_get_le32(h + 4);
    uint64_t off = cairn_get_le64(h + 8);
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
    if (crc != cairn_get_le32(h + 28)) {
      if (fresh) {
        errno = EIO;
        return -1;
      }
      continue;
    }
    c->payload = h + REC_HDR_SIZE;
    c->rec_ms = (int64_t)cairn_get_le64(h + 16);
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

/* A frame that failed its checks is never served: logged, counted, EIO. */
static int frame_bad(cairn_backlog_cursor *c, const zframe *f, const char *why) {
  atomic_fetch_add(&c->b->corrupt_frames, 1);
  bl_log(c->b, CAIRN_BACKLOG_LOG_ERROR, "backlog: %s/%s: %s at file position %llu (offsets %llu..%llu); not served",
         c->b->dir, c->name, why, (unsigned long long)f->comp_pos, (unsigned long long)f->raw_first,
         (unsigned long long)(f->raw_first + f->raw_len - 1));
  errno = EIO;
  return -1;
}

/* The index of the frame holding c->off in a compressed file, or -1 (EIO). */
static long frame_at(const cairn_backlog_cursor *c) {
  size_t lo = 0, hi = c->nframes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->frames[mid].raw_first <= c->off) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) {
    errno = EIO;
    return -1;
  }
  return (long)(lo - 1);
}

/* Makes the frame holding c->off current in a compressed file. */
static int cursor_frame(cairn_backlog_cursor *c) {
  long fi = frame_at(c);
  if (fi < 0) return -1;
  const zframe *f = &c->frames[fi];
  if (c->raw_cap < f->raw_len) {
    uint8_t *nb = realloc(c->raw, f->raw_len);
    if (!nb) {
      errno = ENOMEM;
      return -1;
    }
    c->raw = nb;
    c->raw_cap = f->raw_len;
  }
  c->frame = -1;
  const char *why = bl_zseg_read_frame(c->fd, f, c->dctx, &c->cbuf, &c->cbuf_cap, c->raw);
  if (why) return frame_bad(c, f, why);
  c->frame = fi;
  return 0;
}

/* one_unit: stop after the bytes of one record (raw) or frame (compressed)
 * and tell its time through *ms and *exact. */
static long cursor_read(cairn_backlog_cursor *c, void *buf, size_t cap, int one_unit, int64_t *ms, int *exact) {
  cairn_backlog *b = c->b;
  if (atomic_load(&b->gen) != c->gen) {
    errno = ERANGE;
    return -1;
  }
  uint64_t end = atomic_load_explicit(&b->end, memory_order_acquire);
  size_t copied = 0;
  if (cap > LONG_MAX) cap = LONG_MAX;
  while (copied < cap && c->off <= end) {
    int r;
    if (c->format == SEG_FORMAT_ZSTD) {
      if (c->frame >= 0) {
        const zframe *f = &c->frames[c->frame];
        if (c->off >= f->raw_first && c->off < f->raw_first + f->raw_len) {
          uint64_t avail = f->raw_first + f->raw_len - c->off;
          size_t n = cap - copied < avail ? cap - copied : (size_t)avail;
          memcpy((uint8_t *)buf + copied, c->raw + (c->off - f->raw_first), n);
          copied += n;
          c->off += n;
          if (one_unit) {
            *ms = f->ms ? f->ms : c->seg_sealed_ms;
            *exact = 0;
            break;
          }
          continue;
        }
      }
      r = c->off > c->seg_last ? cursor_seek(c, 1) : cursor_frame(c);
    } else {
      if (c->have_rec) {
        uint64_t rec_end = c->rec_off + c->rec_len; /* one past */
        if (c->off < rec_end) {
          uint64_t avail = rec_end - c->off;
          size_t n = cap - copied < avail ? cap - copied : (size_t)avail;
          memcpy((uint8_t *)buf + copied, c->payload + (c->off - c->rec_off), n);
          copied += n;
          c->off += n;
          if (one_unit) {
            *ms = c->rec_ms;
            *exact = 1;
            break;
          }
          continue;
        }
        c->have_rec = 0;
      }
      r = cursor_load(c);
      if (r == 0) r = cursor_seek(c, 1);
    }
    if (r < 0) {
      if (copied > 0) break; /* hand out the good bytes; the error repeats next call */
      return -1;
    }
  }
  return (long)copied;
}

long cairn_backlog_cursor_next_frame(cairn_backlog_cursor *c, uint64_t limit, void *buf, size_t cap,
                                     uint32_t *raw_len, uint32_t *crc) {
  cairn_backlog *b = c->b;
  *raw_len = 0;
  if (atomic_load(&b->gen) != c->gen) {
    errno = ERANGE;
    return -1;
  }
  if (c->off > atomic_load_explicit(&b->end, memory_order_acquire)) return 0;
  if (c->format == SEG_FORMAT_ZSTD && c->off > c->seg_last && cursor_seek(c, 1) < 0) return -1;
  if (c->format != SEG_FORMAT_ZSTD) return 0;
  long fi = frame_at(c);
  if (fi < 0) return -1;
  const zframe *f = &c->frames[fi];
  if (f->raw_first != c->off) { /* inside a frame: plain bytes up to the next one */
    *raw_len = (uint32_t)(f->raw_first + f->raw_len - c->off);
    return 0;
  }
  if (f->raw_first + f->raw_len - 1 > limit || f->comp_len > cap) {
    *raw_len = f->raw_len; /* not all of it may go, or it does not fit: plain */
    return 0;
  }
  ssize_t r = bl_pread_full(c->fd, buf, f->comp_len, f->comp_pos);
  const char *why = r < 0 ? "read error" : (size_t)r != f->comp_len ? "truncated frame"
                    : cairn_crc32c(0, buf, f->comp_len) != f->crc ? "frame checksum mismatch" : NULL;
  if (why) return frame_bad(c, f, why);
  *raw_len = f->raw_len;
  *crc = f->crc;
  c->off += f->raw_len;
  return (long)f->comp_len;
}

long cairn_backlog_cursor_next(cairn_backlog_cursor *c, void *buf, size_t cap) {
  int64_t ms;
  int exact;
  return cursor_read(c, buf, cap, 0, &ms, &exact);
}

long cairn_backlog_cursor_next_timed(cairn_backlog_cursor *c, void *buf, size_t cap, int64_t *ms, int *exact) {
  *ms = 0;
  *exact = 0;
  return cursor_read(c, buf, cap, 1, ms, exact);
}

uint64_t cairn_backlog_cursor_offset(const cairn_backlog_cursor *c) { return c->off; }

void cairn_backlog_cursor_close(cairn_backlog_cursor *c) {
  if (!c) return;
  if (c->fd >= 0) close(c->fd);
  free(c->buf);
  free(c->frames);
  free(c->raw);
  free(c->cbuf);
  ZSTD_freeDCtx(c->dctx);
  free(c);
}
