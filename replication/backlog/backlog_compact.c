/* Compaction (cairn-backlog compact): adjacent sealed segments are merged
 * into segments of about target_size bytes on disk and recompressed.
 *
 * Order, for crash safety: every new file is written as <name>.tmp, fsynced
 * and renamed (directory fsynced); nothing names them yet, so a crash here
 * leaves them as leftovers that the next open or manifest write removes.
 * Then one manifest write switches to them (the atomic step). Then the old
 * files are removed; a crash before that leaves files no manifest names,
 * removed the same way. Readers that have an old file open keep reading it. */
#include "replication/backlog/backlog_int.h"

#include "engine/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct group {
  size_t from, to; /* segment indexes, inclusive */
  uint64_t first, last;
  zseg_writer *w;
  char name[SEG_NAME_MAX];
  int64_t size;
} group;

typedef struct prog {
  void (*fn)(void *ud, uint64_t done, uint64_t total);
  void *ud;
  uint64_t done, total;
} prog;

static void on_bytes(void *ud, uint64_t n) {
  prog *p = ud;
  p->done += n;
  if (p->fn) p->fn(p->ud, p->done, p->total);
}

int cairn_backlog_compact(cairn_backlog *b, int level, int longdist, uint64_t target_size,
                          void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud, char *err,
                          size_t errlen) {
  if (b->lock_fd < 0) {
    bl_errf(err, errlen, "compact needs a handle opened in tool mode");
    return -1;
  }
  if (!target_size) target_size = b->segment_size;
  pthread_mutex_lock(&b->mf_mu);
  pthread_mutex_lock(&b->mu);
  /* Candidates: every segment but the newest (a server may be appending to
   * it), sealed or compressed, none damaged. */
  size_t ncand = b->nsegs ? b->nsegs - 1 : 0;
  group *g = calloc(ncand ? ncand : 1, sizeof(*g));
  size_t ng = 0;
  prog pr = {.fn = progress, .ud = ud};
  for (size_t i = 0; g && i < ncand; i++) {
    segment *s = b->segs[i];
    if (s->state == SEG_STATE_ACTIVE) break;
    uint64_t sz = s->size;
    if (ng > 0 && g[ng - 1].to + 1 == i) {
      uint64_t cur = 0;
      for (size_t j = g[ng - 1].from; j <= g[ng - 1].to; j++) cur += b->segs[j]->size;
      if (cur + sz <= target_size) {
        g[ng - 1].to = i;
        g[ng - 1].last = s->end;
        pr.total += s->end + 1 - s->first;
        continue;
      }
    }
    g[ng++] = (group){.from = i, .to = i, .first = s->first, .last = s->end};
    pr.total += s->end + 1 - s->first;
  }
  pthread_mutex_unlock(&b->mu);
  if (!g) {
    pthread_mutex_unlock(&b->mf_mu);
    bl_errf(err, errlen, "out of memory");
    return -1;
  }
  int rc = 0;
  for (size_t k = 0; k < ng && rc == 0; k++) {
    pthread_mutex_lock(&b->mu);
    segment *s0 = b->segs[g[k].from];
    int64_t ctime = s0->ctime_ms, fms = s0->first_ms, sealed = b->segs[g[k].to]->sealed_ms;
    pthread_mutex_unlock(&b->mu);
    bl_zseg_name(g[k].name, g[k].first, (uint64_t)cairn_ustime());
    g[k].w = bl_zw_open(b, g[k].name, g[k].first, level, longdist, ctime, fms);
    if (!g[k].w || bl_copy_stream(b, g[k].w, g[k].first, g[k].last, 0, on_bytes, &pr) < 0 ||
        (g[k].size = bl_zw_finish(g[k].w, SEG_STATE_COMPACTED, sealed)) < 0 || bl_zw_install(g[k].w) < 0) {
      bl_errf(err, errlen, "%s: writing %s (offsets %llu..%llu): %s", b->dir, g[k].name,
              (unsigned long long)g[k].first, (unsigned long long)g[k].last,
              errno == EIO ? "a source segment is damaged (run verify)" : strerror(errno));
      if (g[k].w) bl_zw_abort(g[k].w);
      g[k].w = NULL;
      rc = -1;
    }
    g[k].w = NULL; /* installed (freed) */
  }
  if (rc < 0) {
    /* the files written so far are named by no manifest: remove them */
    bl_gc_files(b);
    pthread_mutex_unlock(&b->mf_mu);
    free(g);
    return -1;
  }
  /* Switch: replace each group's segments by the new one, then one manifest. */
  pthread_mutex_lock(&b->mu);
  segment **ns = calloc(b->nsegs, sizeof(*ns));
  size_t n = 0, gi = 0;
  uint64_t disk = 0;
  for (size_t i = 0; ns && i < b->nsegs; i++) {
    if (gi < ng && i == g[gi].from) {
      segment *s = bl_seg_new(g[gi].first);
      if (!s) break;
      snprintf(s->name, sizeof(s->name), "%s", g[gi].name);
      s->end = g[gi].last;
      s->size = (uint64_t)g[gi].size;
      s->format = SEG_FORMAT_ZSTD;
      s->state = SEG_STATE_COMPACTED;
      s->ctime_ms = b->segs[i]->ctime_ms;
      s->first_ms = b->segs[i]->first_ms ? b->segs[i]->first_ms : s->ctime_ms;
      s->sealed_ms = b->segs[g[gi].to]->sealed_ms;
      for (size_t j = g[gi].from; j <= g[gi].to; j++) bl_seg_free(b->segs[j]);
      i = g[gi].to;
      gi++;
      ns[n++] = s;
    } else {
      ns[n++] = b->segs[i];
    }
    disk += ns[n - 1]->size;
  }
  if (ns && gi == ng) {
    free(b->segs);
    b->segs = ns;
    b->nsegs = n;
    atomic_store(&b->disk_bytes, disk);
    b->mf_dirty = 1;
  } else {
    free(ns);
    rc = -1;
    bl_errf(err, errlen, "out of memory");
  }
  pthread_mutex_unlock(&b->mu);
  if (rc == 0 && bl_manifest_write(b) < 0) {
    bl_errf(err, errlen, "%s/%s: %s", b->dir, MANIFEST_NAME, strerror(errno));
    rc = -1;
  }
  pthread_mutex_unlock(&b->mf_mu);
  free(g);
  return rc < 0 ? -1 : (int)ng;
}
