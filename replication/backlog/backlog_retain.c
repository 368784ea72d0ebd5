/* Pins, retention, trims, history, stats and verification.
 *
 * Retention rules (docs/BACKLOG.md): the oldest sealed segments go first,
 * while the backlog is over retention-bytes or a segment's newest byte is
 * older than retention-seconds. A segment holding a byte some pin still needs
 * (offset <= its last) stays, until the files exceed max-bytes: then a
 * non-required pin gives way (logged with its name); a required pin (the
 * checkpoint) never does (logged as an error). The active segment never goes. */
#include "replication/backlog/backlog_int.h"

#include "engine/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* ---- pins and history ------------------------------------------------------ */

static int set_pin(cairn_backlog *b, const char *name, uint64_t offset, int required, int64_t seen_ms) {
  if (!name || !*name || strlen(name) >= sizeof(((pin *)0)->name) || strpbrk(name, " \t\r\n")) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock(&b->mu);
  size_t i = 0;
  while (i < b->npins && strcmp(b->pins[i].name, name)) i++;
  if (i == b->npins) {
    pin *np = realloc(b->pins, (b->npins + 1) * sizeof(*np));
    if (!np) {
      pthread_mutex_unlock(&b->mu);
      errno = ENOMEM;
      return -1;
    }
    b->pins = np;
    b->npins++;
    memset(&b->pins[i], 0, sizeof(b->pins[i]));
    snprintf(b->pins[i].name, sizeof(b->pins[i].name), "%s", name);
    b->mf_dirty = 1;
  }
  if (b->pins[i].offset != offset) b->pins_moved = 1;
  b->pins[i].offset = offset;
  b->pins[i].required = required;
  if (seen_ms) b->pins[i].seen_ms = seen_ms;
  pthread_mutex_unlock(&b->mu);
  return 0;
}

int cairn_backlog_pin(cairn_backlog *b, const char *name, uint64_t offset) { return set_pin(b, name, offset, 0, 0); }
int cairn_backlog_pin_required(cairn_backlog *b, const char *name, uint64_t offset) {
  return set_pin(b, name, offset, 1, 0);
}
int cairn_backlog_pin_seen(cairn_backlog *b, const char *name, uint64_t offset, int64_t seen_ms) {
  return set_pin(b, name, offset, 0, seen_ms);
}

int cairn_backlog_unpin(cairn_backlog *b, const char *name) {
  pthread_mutex_lock(&b->mu);
  for (size_t i = 0; i < b->npins; i++) {
    if (strcmp(b->pins[i].name, name)) continue;
    memmove(b->pins + i, b->pins + i + 1, (b->npins - i - 1) * sizeof(pin));
    b->npins--;
    b->mf_dirty = 1;
    pthread_mutex_unlock(&b->mu);
    return 0;
  }
  pthread_mutex_unlock(&b->mu);
  errno = ENOENT;
  return -1;
}

int cairn_backlog_save_pins(cairn_backlog *b) {
  int rc = bl_manifest_flush(b, 1);
  if (rc > 0) errno = EWOULDBLOCK;
  return rc == 0 ? 0 : -1;
}

size_t cairn_backlog_pins(cairn_backlog *b, char names[][64], uint64_t *offsets, int *required, int64_t *seen_ms,
                          size_t cap) {
  pthread_mutex_lock(&b->mu);
  size_t n = b->npins;
  for (size_t i = 0; i < n && i < cap; i++) {
    snprintf(names[i], 64, "%s", b->pins[i].name);
    offsets[i] = b->pins[i].offset;
    required[i] = b->pins[i].required;
    if (seen_ms) seen_ms[i] = b->pins[i].seen_ms;
  }
  pthread_mutex_unlock(&b->mu);
  return n;
}

int cairn_backlog_set_history(cairn_backlog *b, const cairn_backlog_replid *h, size_t n) {
  cairn_backlog_replid *nh = n ? malloc(n * sizeof(*nh)) : NULL;
  if (n && !nh) {
    errno = ENOMEM;
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    if (strpbrk(h[i].replid, " \t\r\n") || strpbrk(h[i].replid2, " \t\r\n")) {
      free(nh);
      errno = EINVAL;
      return -1;
    }
    nh[i] = h[i];
  }
  pthread_mutex_lock(&b->mu);
  free(b->hist);
  b->hist = nh;
  b->nhist = n;
  b->mf_dirty = 1;
  pthread_mutex_unlock(&b->mu);
  /* durable now: PSYNC decisions depend on it (waits out a tool's lock) */
  for (int tries = 0; tries < 200; tries++) {
    int rc = bl_manifest_flush(b, 1);
    if (rc <= 0) return rc;
    usleep(50000);
  }
  errno = EWOULDBLOCK;
  return -1;
}

size_t cairn_backlog_get_history(cairn_backlog *b, cairn_backlog_replid *out, size_t cap) {
  pthread_mutex_lock(&b->mu);
  size_t n = b->nhist;
  for (size_t i = 0; i < n && i < cap; i++) out[i] = b->hist[i];
  pthread_mutex_unlock(&b->mu);
  return n;
}

/* ---- dropping segments ------------------------------------------------------- */

/* Drops the k oldest segments (never the active one): manifest first, then
 * the files (cursors reading them keep their fds). Caller holds mf_mu and
 * the lock. */
static int drop_oldest(cairn_backlog *b, size_t k) {
  pthread_mutex_lock(&b->mu);
  if (k >= b->nsegs) k = b->nsegs - 1;
  uint64_t freed = 0;
  for (size_t i = 0; i < k; i++) {
    freed += b->segs[i]->size;
    bl_seg_free(b->segs[i]);
  }
  if (k > 0) {
    memmove(b->segs, b->segs + k, (b->nsegs - k) * sizeof(*b->segs));
    b->nsegs -= k;
    atomic_fetch_sub(&b->disk_bytes, freed);
    atomic_store_explicit(&b->first, b->segs[0]->first, memory_order_release);
    b->mf_dirty = 1;
  }
  pthread_mutex_unlock(&b->mu);
  if (k > 0) bl_manifest_write(b); /* also unlinks the dropped files */
  return (int)k;
}

int cairn_backlog_trim_before(cairn_backlog *b, uint64_t offset) {
  pthread_mutex_lock(&b->mf_mu);
  int lfd, n = 0;
  if (bl_lock_try(b, &lfd) == 0) {
    bl_refresh(b);
    pthread_mutex_lock(&b->mu);
    size_t k = 0;
    while (k + 1 < b->nsegs && b->segs[k + 1]->first <= offset) k++;
    pthread_mutex_unlock(&b->mu);
    n = drop_oldest(b, k);
    bl_unlock(lfd);
  }
  pthread_mutex_unlock(&b->mf_mu);
  return n;
}

/* The lowest offset a pin needs, among required pins or all of them. */
static uint64_t min_pin(cairn_backlog *b, int required_only, const char **who) {
  uint64_t m = UINT64_MAX;
  for (size_t i = 0; i < b->npins; i++) {
    if (required_only && !b->pins[i].required) continue;
    if (b->pins[i].offset < m) {
      m = b->pins[i].offset;
      if (who) *who = b->pins[i].name;
    }
  }
  return m;
}

void cairn_backlog_set_retention(cairn_backlog *b, uint64_t bytes, int64_t seconds, uint64_t max_bytes,
                                 uint64_t segment_size) {
  b->ret_bytes = bytes;
  b->ret_seconds = seconds;
  b->ret_max_bytes = max_bytes;
  if (segment_size) b->segment_size = segment_size;
}

int cairn_backlog_maintain(cairn_backlog *b) {
  if (b->read_only) return 0;
  pthread_mutex_lock(&b->mf_mu);
  int lfd, dropped = 0;
  if (bl_lock_try(b, &lfd) < 0) {
    pthread_mutex_unlock(&b->mf_mu);
    return 0; /* a tool is at work: next time */
  }
  bl_refresh(b);
  int64_t now = cairn_mstime();
  pthread_mutex_lock(&b->mu);
  uint64_t disk = atomic_load(&b->disk_bytes);
  const char *soft_who = NULL, *hard_who = NULL;
  uint64_t soft = min_pin(b, 0, &soft_who), hard = min_pin(b, 1, &hard_who);
  size_t k = 0;
  while (k + 1 < b->nsegs) {
    segment *s = b->segs[k];
    int over_bytes = b->ret_bytes && disk > b->ret_bytes;
    int too_old = b->ret_seconds && s->sealed_ms && now - s->sealed_ms > b->ret_seconds * 1000;
    int over_cap = b->ret_max_bytes && disk > b->ret_max_bytes;
    if (!over_bytes && !too_old && !over_cap) break;
    if (hard <= s->end) {
      if (over_cap && now - b->last_cap_log_ms > 10000) {
        b->last_cap_log_ms = now;
        bl_log(b, CAIRN_BACKLOG_LOG_ERROR,
               "backlog: %llu bytes on disk exceed backlog-max-bytes (%llu) but pin '%s' (offset %llu) still needs "
               "%s: kept",
               (unsigned long long)disk, (unsigned long long)b->ret_max_bytes, hard_who, (unsigned long long)hard,
               s->name);
      }
      break;
    }
    if (soft <= s->end) {
      if (!over_cap) break;
      for (size_t i = 0; i < b->npins; i++)
        if (!b->pins[i].required && b->pins[i].offset <= s->end)
          bl_log(b, CAIRN_BACKLOG_LOG_WARNING,
                 "backlog: over backlog-max-bytes: dropping %s (offsets %llu..%llu) although pin '%s' needs offset "
                 "%llu; that replica will need a full sync",
                 s->name, (unsigned long long)s->first, (unsigned long long)s->end, b->pins[i].name,
                 (unsigned long long)b->pins[i].offset);
    }
    disk -= s->size;
    k++;
  }
  pthread_mutex_unlock(&b->mu);
  if (k > 0) {
    dropped = drop_oldest(b, k);
    bl_log(b, CAIRN_BACKLOG_LOG_INFO, "backlog: retention dropped %d segment(s); first offset now %llu", dropped,
           (unsigned long long)cairn_backlog_first(b));
  }
  /* Pin moves alone reach the manifest at most every 10 s. */
  if (b->mf_dirty || (b->pins_moved && now - b->mf_written_ms >= 10000)) {
    b->pins_moved = 0;
    bl_manifest_write(b);
  }
  bl_unlock(lfd);
  pthread_mutex_unlock(&b->mf_mu);
  return dropped;
}

int cairn_backlog_drop(cairn_backlog *b, uint64_t before, int64_t older_than_ms, int force, char *err,
                       size_t errlen) {
  pthread_mutex_lock(&b->mf_mu);
  int lfd;
  if (bl_lock_try(b, &lfd) < 0) {
    pthread_mutex_unlock(&b->mf_mu);
    bl_errf(err, errlen, "%s: locked by another process", b->dir);
    return -1;
  }
  int64_t now = cairn_mstime();
  pthread_mutex_lock(&b->mu);
  size_t k = 0;
  const char *why = NULL;
  char whybuf[256];
  while (k + 1 < b->nsegs) {
    segment *s = b->segs[k];
    int want = (before && s->end < before) ||
               (older_than_ms > 0 && s->sealed_ms && now - s->sealed_ms > older_than_ms);
    if (!want || s->state == SEG_STATE_ACTIVE) break;
    for (size_t i = 0; i < b->npins && !why; i++) {
      if (b->pins[i].offset > s->end) continue;
      if (b->pins[i].required || !force) {
        snprintf(whybuf, sizeof(whybuf), "%s (offsets %llu..%llu) is needed by pin '%s' (offset %llu)%s", s->name,
                 (unsigned long long)s->first, (unsigned long long)s->end, b->pins[i].name,
                 (unsigned long long)b->pins[i].offset,
                 b->pins[i].required ? "; that pin is required (crash recovery) and --force does not override it"
                                     : "; use --force to drop it anyway");
        why = whybuf;
      }
    }
    if (why) break;
    k++;
  }
  pthread_mutex_unlock(&b->mu);
  int rc;
  if (why && k == 0) {
    bl_errf(err, errlen, "refusing to drop %s", why);
    rc = -1;
  } else {
    rc = drop_oldest(b, k);
    if (why) bl_errf(err, errlen, "stopped before %s", why);
  }
  bl_unlock(lfd);
  pthread_mutex_unlock(&b->mf_mu);
  return rc;
}

/* ---- stats and listing ----------------------------------------------------------- */

void cairn_backlog_get_stats(cairn_backlog *b, cairn_backlog_stats *st) {
  memset(st, 0, sizeof(*st));
  st->first = cairn_backlog_first(b);
  st->end = cairn_backlog_end(b);
  st->stream_bytes = st->end >= st->first ? st->end - st->first + 1 : 0;
  st->disk_bytes = cairn_backlog_disk_bytes(b);
  st->corrupt_frames = atomic_load(&b->corrupt_frames);
  st->corruptions = b->corruptions;
  st->torn_tail_bytes_cut = b->torn_tail_bytes_cut;
  st->corrupt_bytes_cut = b->corrupt_bytes_cut;
  st->spare_ready = atomic_load(&b->spare_fd) >= 0;
  st->adopted_frames = atomic_load(&b->adopted_frames);
  st->adopted_stream_bytes = atomic_load(&b->adopted_stream_bytes);
  st->adopt_mismatches = atomic_load(&b->adopt_mismatches);
  st->adopt_dropped = atomic_load(&b->adopt_dropped);
  pthread_mutex_lock(&b->mu);
  st->active_preallocated = b->active_prealloc; /* (the writer's; read for stats only) */
  st->segments = (int)b->nsegs;
  for (size_t i = 0; i < b->nsegs; i++) {
    segment *s = b->segs[i];
    if (!st->oldest_ms && st->stream_bytes) st->oldest_ms = s->first_ms ? s->first_ms : s->ctime_ms;
    if (i + 1 == b->nsegs) break; /* the active segment's fields belong to the writer */
    if (s->format == SEG_FORMAT_ZSTD) {
      st->compressed_segments++;
      st->compressed_disk_bytes += s->size;
      st->compressed_stream_bytes += s->end + 1 - s->first;
    } else if (s->queued) {
      st->pending_seals++;
    }
  }
  pthread_mutex_unlock(&b->mu);
  st->raw_disk_bytes = st->disk_bytes - st->compressed_disk_bytes;
  st->ratio = st->compressed_disk_bytes ? (double)st->compressed_stream_bytes / (double)st->compressed_disk_bytes : 0;
}

cairn_backlog_seginfo *cairn_backlog_list(cairn_backlog *b, size_t *n) {
  pthread_mutex_lock(&b->mu);
  cairn_backlog_seginfo *v = calloc(b->nsegs ? b->nsegs : 1, sizeof(*v));
  *n = v ? b->nsegs : 0;
  for (size_t i = 0; v && i < b->nsegs; i++) {
    segment *s = b->segs[i];
    int active = i + 1 == b->nsegs && s->format == SEG_FORMAT_RAW && s->state == SEG_STATE_ACTIVE;
    uint64_t end = i + 1 == b->nsegs ? cairn_backlog_end(b) : s->end;
    snprintf(v[i].file, sizeof(v[i].file), "%s", s->name);
    v[i].first = s->first;
    v[i].last = end;
    v[i].raw_bytes = end + 1 - s->first;
    v[i].disk_bytes = s->size;
    v[i].created_ms = s->ctime_ms;
    v[i].sealed_ms = active ? 0 : s->sealed_ms;
    v[i].state = bl_state_name(active ? SEG_STATE_ACTIVE : s->state);
  }
  pthread_mutex_unlock(&b->mu);
  return v;
}

/* ---- verification -------------------------------------------------------------- */

/* Opens the listed segment file si->file; one that is gone since the
 * listing was replaced (the compression thread, a compaction: si->file then
 * names the file holding its first offset now, which is opened instead) or
 * dropped (retention: -1 with *dropped set). A file the backlog still lists
 * and that is not there is -1 with errno ENOENT: damage. */
static int open_listed(cairn_backlog *b, cairn_backlog_seginfo *si, int *dropped) {
  *dropped = 0;
  for (int tries = 0;; tries++) {
    int fd = bl_open_at(b, si->file, O_RDONLY);
    if (fd >= 0 || errno != ENOENT || tries == 8) return fd;
    pthread_mutex_lock(&b->mf_mu);
    bl_refresh(b); /* (a tool's handle: what the server did meanwhile) */
    pthread_mutex_unlock(&b->mf_mu);
    size_t n;
    cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
    int listed = 0, now = -1;
    for (size_t i = 0; v && i < n; i++) {
      listed |= !strcmp(v[i].file, si->file);
      if (v[i].first <= si->first && si->first <= v[i].last) now = (int)i;
    }
    if (v && !listed && now >= 0) snprintf(si->file, sizeof(si->file), "%s", v[now].file);
    free(v);
    if (!v || listed) {
      errno = ENOENT;
      return -1;
    }
    if (now < 0) {
      *dropped = 1;
      return -1;
    }
  }
}

long cairn_backlog_verify(cairn_backlog *b, void (*cb)(void *ud, const char *file, uint64_t pos, uint64_t offset,
                                                       const char *why),
                          void (*note)(void *ud, const char *file, uint64_t pos, uint64_t offset, const char *what),
                          void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud) {
  size_t n;
  cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
  if (!v) return -1;
  uint64_t total = 0, done = 0;
  for (size_t i = 0; i < n; i++) total += v[i].disk_bytes;
  long bad = 0;
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  uint8_t *raw = malloc(ZFRAME_RAW * 64u), *cbuf = NULL;
  size_t cbuf_cap = 0;
  for (size_t i = 0; i < n && dctx && raw; i++) {
    int dropped;
    int fd = open_listed(b, &v[i], &dropped);
    if (dropped) continue;
    if (fd < 0) {
      cb(ud, v[i].file, 0, v[i].first, strerror(errno));
      bad++;
      continue;
    }
    uint64_t f0;
    if (bl_parse_name(v[i].file, &f0) == 2) {
      seg_hdr h;
      zframe *f = NULL;
      size_t nf = 0;
      const char *why = bl_zseg_load_index(fd, &h, &f, &nf);
      if (why) {
        cb(ud, v[i].file, 0, v[i].first, why);
        bad++;
      }
      for (size_t j = 0; j < nf; j++) {
        const char *w = bl_zseg_read_frame(fd, &f[j], dctx, &cbuf, &cbuf_cap, raw);
        if (w) {
          cb(ud, v[i].file, f[j].comp_pos, f[j].raw_first, w);
          bad++;
        }
        if (progress) progress(ud, done + f[j].comp_pos, total);
      }
      free(f);
    } else {
      segment *s = bl_seg_new(v[i].first);
      struct stat st;
      const char *why = NULL;
      if (s && fstat(fd, &st) == 0) {
        uint8_t hb[SEG_HDR_SIZE];
        seg_hdr h;
        if (bl_pread_full(fd, hb, SEG_HDR_SIZE, 0) != SEG_HDR_SIZE) why = "short segment header";
        else why = bl_seg_hdr_decode(hb, &h);
        if (why) {
          cb(ud, v[i].file, 0, v[i].first, why);
          bad++;
        } else {
          uint64_t size = (uint64_t)st.st_size;
          int active = !strcmp(v[i].state, "active");
          int rc = bl_scan_segment(s, fd, size, 1, &why);
          /* zeros after the last record: preallocated, not written yet */
          int ztail = rc == 1 ? bl_all_zero(fd, s->size, size) : 0;
          if (ztail == 1) rc = 0;
          /* the active segment may be growing: a torn tail there is a write
           * in progress, not damage */
          uint64_t at_pos = 0, at_off = 0, vend = 0;
          int found = ztail < 0 ? -1 : rc == 1 ? bl_find_valid_after(s, fd, size, &at_pos, &at_off, &vend) : 0;
          if (found < 0) {
            cb(ud, v[i].file, s->size, s->end + 1, strerror(errno));
            bad++;
          } else if (found) {
            /* valid records after the bad one: damage, in any segment */
            char msg[320];
            snprintf(msg, sizeof(msg),
                     "CORRUPT: %s (after offset %llu); offsets %llu..%llu unreadable, valid records follow at "
                     "file position %llu (offsets %llu..%llu)",
                     why, (unsigned long long)s->end, (unsigned long long)(s->end + 1),
                     (unsigned long long)(at_off - 1), (unsigned long long)at_pos, (unsigned long long)at_off,
                     (unsigned long long)vend);
            cb(ud, v[i].file, s->size, s->end + 1, msg);
            bad++;
          } else if (rc == 1 && active && s->end >= v[i].last) {
            /* the active segment's tail: a torn write (cut at the server's
             * next start) or one in progress */
            if (note) {
              char msg[200];
              snprintf(msg, sizeof(msg), "torn tail of %llu bytes after offset %llu: %s (no valid record after it)",
                       (unsigned long long)(size - s->size), (unsigned long long)s->end, why);
              note(ud, v[i].file, s->size, s->end + 1, msg);
            }
          } else if (rc == 1) {
            char msg[160];
            snprintf(msg, sizeof(msg), "%s (after offset %llu)", why, (unsigned long long)s->end);
            cb(ud, v[i].file, s->size, s->end + 1, msg);
            bad++;
          } else if (rc == 0 && !active && s->end != v[i].last) {
            cb(ud, v[i].file, s->size, s->end + 1, "segment ends before its recorded last offset");
            bad++;
          }
        }
      }
      bl_seg_free(s);
    }
    close(fd);
    done += v[i].disk_bytes;
    if (progress) progress(ud, done, total);
  }
  ZSTD_freeDCtx(dctx);
  free(raw);
  free(cbuf);
  free(v);
  return bad;
}
