/* The manifest, the lock file and garbage collection.
 *
 * MANIFEST is a text file, replaced atomically (MANIFEST.tmp, fsync, rename,
 * fsync of the directory):
 *   cairn-backlog-manifest 1
 *   generation <n>
 *   segment <first> <last> <state> <raw-bytes> <disk-bytes> <created-ms> <sealed-ms> <file>
 *   replid <replid> <replid2> <offset>
 *   pin <name> <offset> <required 0|1> [<seen-ms>]   (seen: replica slots; older
 *       manifests have none)
 *   crc32c <8 hex digits over every byte before this line>
 * The segment files named by the manifest are the backlog, plus raw segments
 * newer than the manifest's last one (rolled since its last write). Any other
 * segment file is left over from an interrupted compression, compaction or
 * trim and is removed.
 *
 * LOCK is flock()ed by whoever changes the set of files: cairn-backlog for
 * its whole run, the server briefly around each change (it skips the change
 * and retries later while a tool holds the lock). */
#include "replication/backlog/backlog_int.h"

#include "engine/buf.h"
#include "engine/fault.h"
#include "engine/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *state_name(uint8_t st) {
  static const char *n[] = {"active", "sealed", "compressed", "compacted"};
  return st <= SEG_STATE_COMPACTED ? n[st] : "?";
}

static int state_parse(const char *s) {
  for (int i = 0; i <= SEG_STATE_COMPACTED; i++)
    if (!strcmp(s, state_name((uint8_t)i))) return i;
  return -1;
}

const char *bl_state_name(uint8_t st) { return state_name(st); }

void bl_manifest_free(manifest *m) {
  free(m->segs);
  free(m->hist);
  free(m->pins);
  memset(m, 0, sizeof(*m));
}

static int grow(void **p, size_t *cap, size_t n, size_t sz) {
  if (n < *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 16;
  void *np = realloc(*p, nc * sz);
  if (!np) return -1;
  *p = np;
  *cap = nc;
  return 0;
}

int bl_manifest_read(cairn_backlog *b, manifest *m, const char **why) {
  memset(m, 0, sizeof(*m));
  *why = NULL;
  int fd = bl_open_at(b, MANIFEST_NAME, O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT) return 1;
    *why = strerror(errno);
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size > (64 << 20)) {
    close(fd);
    *why = "unreadable or too large";
    return -1;
  }
  char *text = malloc((size_t)st.st_size + 1);
  ssize_t r = text ? bl_pread_full(fd, text, (size_t)st.st_size, 0) : -1;
  close(fd);
  if (r != st.st_size) {
    free(text);
    *why = "read error";
    return -1;
  }
  text[r] = 0;
  b->mf_dev = st.st_dev;
  b->mf_ino = st.st_ino;
  char *crcline = strstr(text, "crc32c ");
  while (crcline && crcline != text && crcline[-1] != '\n') crcline = strstr(crcline + 1, "crc32c ");
  unsigned crc = 0;
  if (!crcline || sscanf(crcline, "crc32c %8x", &crc) != 1 ||
      cairn_crc32c(0, text, (size_t)(crcline - text)) != crc) {
    free(text);
    *why = "checksum mismatch (corrupt manifest)";
    return -1;
  }
  *crcline = 0;
  size_t segcap = 0, hcap = 0, pcap = 0;
  int ok = 0, line_no = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    line_no++;
    char a[128], c[128], n[SEG_NAME_MAX + 8];
    unsigned long long u1, u2, u3, u4;
    long long i1, i2;
    int i3;
    if (line_no == 1) {
      if (strcmp(line, "cairn-backlog-manifest 1") != 0) break;
      ok = 1;
      continue;
    }
    if (sscanf(line, "generation %llu", &u1) == 1) {
      m->gen = u1;
    } else if (sscanf(line, "segment %llu %llu %15s %llu %llu %lld %lld %55s", &u1, &u2, a, &u3, &u4, &i1, &i2, n) ==
               8) {
      int stv = state_parse(a);
      if (stv < 0 || strlen(n) >= SEG_NAME_MAX || grow((void **)&m->segs, &segcap, m->nsegs, sizeof(mf_seg))) {
        ok = 0;
        break;
      }
      mf_seg *s = &m->segs[m->nsegs++];
      *s = (mf_seg){.first = u1, .last = u2, .state = (uint8_t)stv, .raw_bytes = u3, .disk_bytes = u4,
                    .created_ms = i1, .sealed_ms = i2};
      memcpy(s->name, n, strlen(n) + 1);
    } else if (sscanf(line, "replid %127s %127s %llu", a, c, &u1) == 3) {
      if (strlen(a) > 40 || strlen(c) > 40 ||
          grow((void **)&m->hist, &hcap, m->nhist, sizeof(cairn_backlog_replid))) {
        ok = 0;
        break;
      }
      cairn_backlog_replid *h = &m->hist[m->nhist++];
      memcpy(h->replid, a, strlen(a) + 1);
      memcpy(h->replid2, c, strlen(c) + 1);
      if (!strcmp(h->replid, "-")) h->replid[0] = 0;
      if (!strcmp(h->replid2, "-")) h->replid2[0] = 0;
      h->offset = u1;
    } else if ((i1 = 0, sscanf(line, "pin %63s %llu %d %lld", a, &u1, &i3, &i1)) >= 3) {
      if (grow((void **)&m->pins, &pcap, m->npins, sizeof(pin))) {
        ok = 0;
        break;
      }
      pin *p = &m->pins[m->npins++];
      memcpy(p->name, a, strlen(a) + 1);
      p->offset = u1;
      p->required = i3 != 0;
      p->seen_ms = i1;
    } else {
      ok = 0;
      break;
    }
  }
  free(text);
  if (!ok) {
    bl_manifest_free(m);
    *why = "unrecognized content (corrupt manifest)";
    return -1;
  }
  return 0;
}

int bl_manifest_write(cairn_backlog *b) {
  /* Out of memory is not fatal here: the write fails, mf_dirty stays set
   * and the next attempt retries (oom collects every printf's failure). */
  cairn_buf s = {0};
  int oom = 0;
  pthread_mutex_lock(&b->mu);
  uint64_t gen = b->mf_gen + 1;
  oom |= cairn_buf_try_printf(&s, "cairn-backlog-manifest 1\ngeneration %llu\n", (unsigned long long)gen);
  for (size_t i = 0; i < b->nsegs; i++) {
    segment *g = b->segs[i];
    int active = i + 1 == b->nsegs;
    uint64_t end = active ? atomic_load(&b->end) : g->end;
    oom |= cairn_buf_try_printf(&s, "segment %llu %llu %s %llu %llu %lld %lld %s\n", (unsigned long long)g->first,
                                (unsigned long long)end, state_name(active ? SEG_STATE_ACTIVE : g->state),
                                (unsigned long long)(end + 1 - g->first), (unsigned long long)(active ? 0 : g->size),
                                (long long)g->ctime_ms, (long long)g->sealed_ms, g->name);
  }
  for (size_t i = 0; i < b->nhist; i++)
    oom |= cairn_buf_try_printf(&s, "replid %s %s %llu\n", b->hist[i].replid[0] ? b->hist[i].replid : "-",
                                b->hist[i].replid2[0] ? b->hist[i].replid2 : "-",
                                (unsigned long long)b->hist[i].offset);
  for (size_t i = 0; i < b->npins; i++)
    oom |= b->pins[i].seen_ms
               ? cairn_buf_try_printf(&s, "pin %s %llu %d %lld\n", b->pins[i].name,
                                      (unsigned long long)b->pins[i].offset, b->pins[i].required,
                                      (long long)b->pins[i].seen_ms)
               : cairn_buf_try_printf(&s, "pin %s %llu %d\n", b->pins[i].name,
                                      (unsigned long long)b->pins[i].offset, b->pins[i].required);
  b->mf_dirty = 0;
  pthread_mutex_unlock(&b->mu);
  if (!oom) oom |= cairn_buf_try_printf(&s, "crc32c %08x\n", (unsigned)cairn_crc32c(0, s.p, s.len));
  if (oom) {
    cairn_buf_free(&s);
    b->mf_dirty = 1;
    errno = ENOMEM;
    return -1;
  }
  unlinkat(b->dirfd, MANIFEST_TMP, 0);
  int fd = bl_open_at(b, MANIFEST_TMP, O_WRONLY | O_CREAT | O_EXCL);
  int rc = -1;
  if (fd >= 0) {
    struct stat st;
    int ferr = cairn_fault(CAIRN_FAULT_BACKLOG_MANIFEST);
    if (ferr) errno = ferr;
    if (!ferr && cairn_pwrite_all(fd, s.p, s.len, 0) == 0 && fsync(fd) == 0 && fstat(fd, &st) == 0 &&
        renameat(b->dirfd, MANIFEST_TMP, b->dirfd, MANIFEST_NAME) == 0 && fsync(b->dirfd) == 0) {
      rc = 0;
      b->mf_gen = gen;
      b->mf_dev = st.st_dev;
      b->mf_ino = st.st_ino;
      b->mf_written_ms = cairn_mstime();
    }
    int e = errno;
    close(fd);
    errno = e;
  }
  cairn_buf_free(&s);
  if (rc < 0) {
    int e = errno;
    unlinkat(b->dirfd, MANIFEST_TMP, 0);
    b->mf_dirty = 1;
    bl_log(b, CAIRN_BACKLOG_LOG_WARNING, "backlog: writing %s/%s failed: %s", b->dir, MANIFEST_NAME, strerror(e));
    errno = e;
    return -1;
  }
  bl_gc_files(b);
  return 0;
}

/* Removes segment files that are neither in the in-memory chain nor a
 * temp file of a writer in progress. Caller holds mf_mu and the lock. */
void bl_gc_files(cairn_backlog *b) {
  if (b->read_only && b->lock_fd < 0) return;
  int fd = dup(b->dirfd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    if (fd >= 0) close(fd);
    return;
  }
  rewinddir(d); /* the dup shares the directory position with dirfd */
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    uint64_t first;
    if (!bl_parse_name(de->d_name, &first)) continue;
    int live = 0;
    pthread_mutex_lock(&b->mu);
    long i = bl_segs_find(b, first);
    if (i >= 0 && !strcmp(b->segs[i]->name, de->d_name)) live = 1;
    /* a raw file newer than our newest segment: a server rolled it */
    if (b->nsegs && first > b->segs[b->nsegs - 1]->first) live = 1;
    pthread_mutex_unlock(&b->mu);
    if (!live) unlinkat(b->dirfd, de->d_name, 0);
  }
  closedir(d);
}

int bl_lock_try(cairn_backlog *b, int *out) {
  *out = -1;
  if (b->lock_fd >= 0) return 0; /* a tool's handle holds it for its life */
  int fd = bl_open_at(b, LOCK_NAME, O_RDWR | O_CREAT);
  if (fd < 0) return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    close(fd);
    errno = e == EWOULDBLOCK ? EWOULDBLOCK : e;
    return -1;
  }
  *out = fd;
  return 0;
}

void bl_unlock(int fd) {
  if (fd >= 0) close(fd); /* closing the only fd of the description drops the flock */
}

static int is_tool_pin(const char *name) {
  return !strncmp(name, CAIRN_BACKLOG_TOOL_PIN_PREFIX, strlen(CAIRN_BACKLOG_TOOL_PIN_PREFIX));
}

/* Under b->mu. Ours without the file's tool pins, then the file's. */
static void adopt_tool_pins(cairn_backlog *b, const manifest *m) {
  size_t k = 0, add = 0;
  for (size_t i = 0; i < m->npins; i++) add += is_tool_pin(m->pins[i].name);
  for (size_t i = 0; i < b->npins; i++)
    if (!is_tool_pin(b->pins[i].name)) b->pins[k++] = b->pins[i];
  int changed = k != b->npins || add;
  if (add) {
    pin *np = realloc(b->pins, (k + add) * sizeof(*np));
    if (!np) { /* said: retention may then drop what they kept */
      bl_log(b, CAIRN_BACKLOG_LOG_WARNING,
             "backlog: out of memory adopting the ckpt: pins of %s/%s: they are dropped (pin the checkpoints "
             "again with cairn-backlog checkpoint --pin)",
             b->dir, MANIFEST_NAME);
      b->npins = k;
      b->pins_moved = 1;
      return;
    }
    b->pins = np;
    for (size_t i = 0; i < m->npins; i++)
      if (is_tool_pin(m->pins[i].name)) b->pins[k++] = m->pins[i];
  }
  b->npins = k;
  if (changed) b->pins_moved = 1;
}

/* Adopts the manifest another process wrote: its sealed segments replace
 * ours below our newest segment that is not in it; ours continue the chain
 * after it. Keeps ours if the result would not be one contiguous chain. */
int bl_refresh(cairn_backlog *b) {
  struct stat st;
  if (fstatat(b->dirfd, MANIFEST_NAME, &st, 0) < 0) return 0;
  if (st.st_ino == b->mf_ino && st.st_dev == b->mf_dev) return 0;
  manifest m;
  const char *why;
  int rc = bl_manifest_read(b, &m, &why);
  if (rc != 0) {
    if (rc < 0) bl_log(b, CAIRN_BACKLOG_LOG_WARNING, "backlog: ignoring %s/%s: %s", b->dir, MANIFEST_NAME, why);
    return 0;
  }
  pthread_mutex_lock(&b->mu);
  segment *active = b->segs[b->nsegs - 1];
  size_t nm = 0;
  while (nm < m.nsegs && m.segs[nm].state != SEG_STATE_ACTIVE && m.segs[nm].last < active->first) nm++;
  segment **ns = calloc(nm + b->nsegs, sizeof(*ns));
  char *reused = calloc(b->nsegs, 1), *fresh = calloc(nm + b->nsegs, 1);
  size_t k = 0;
  int ok = ns && reused && fresh;
  for (size_t i = 0; ok && i < nm; i++) {
    mf_seg *g = &m.segs[i];
    long j = bl_segs_find(b, g->first);
    segment *s;
    if (j >= 0 && !reused[j] && !strcmp(b->segs[j]->name, g->name) && b->segs[j]->first == g->first) {
      s = b->segs[j];
      reused[j] = 1;
    } else {
      uint64_t f0;
      if (!(s = bl_seg_new(g->first))) {
        ok = 0;
        break;
      }
      fresh[k] = 1;
      snprintf(s->name, sizeof(s->name), "%s", g->name);
      s->end = g->last;
      s->size = g->disk_bytes;
      s->format = bl_parse_name(g->name, &f0) == 2 ? SEG_FORMAT_ZSTD : SEG_FORMAT_RAW;
      s->first_ms = g->created_ms;
      s->state = g->state;
      s->ctime_ms = g->created_ms;
      s->sealed_ms = g->sealed_ms;
      s->queued = s->format == SEG_FORMAT_RAW;
    }
    if (k > 0 && ns[k - 1]->end + 1 != s->first) ok = 0;
    ns[k++] = s;
  }
  uint64_t next = k ? ns[k - 1]->end + 1 : 0;
  for (size_t i = 0; ok && i < b->nsegs; i++) {
    segment *s = b->segs[i];
    if (reused[i] || (k && s->first < next)) continue;
    if (k && s->first != next) {
      ok = 0;
      break;
    }
    ns[k++] = s;
    reused[i] = 1;
    next = s->end + 1;
  }
  if (!ok) {
    bl_log(b, CAIRN_BACKLOG_LOG_WARNING, "backlog: %s/%s does not chain with the segments in use; ignored", b->dir,
           MANIFEST_NAME);
    for (size_t i = 0; ns && fresh && i < k; i++)
      if (fresh[i]) bl_seg_free(ns[i]);
    free(ns);
  } else {
    for (size_t i = 0; i < b->nsegs; i++)
      if (!reused[i]) bl_seg_free(b->segs[i]);
    free(b->segs);
    b->segs = ns;
    b->segs_cap = nm + b->nsegs;
    b->nsegs = k;
    uint64_t disk = 0;
    for (size_t i = 0; i + 1 < k; i++) disk += b->segs[i]->size;
    disk += b->segs[k - 1]->size;
    atomic_store(&b->disk_bytes, disk);
    atomic_store(&b->first, b->segs[0]->first);
    if (m.gen > b->mf_gen) b->mf_gen = m.gen;
    b->mf_dev = st.st_dev;
    b->mf_ino = st.st_ino;
    /* The operator's pins (cairn-backlog checkpoint --pin, unpin) are the
     * file's; every other pin is ours and stays (the tool does not know
     * about them); history is the writer's. */
    adopt_tool_pins(b, &m);
    bl_log(b, CAIRN_BACKLOG_LOG_INFO, "backlog: adopted %s/%s generation %llu (%zu segments)", b->dir, MANIFEST_NAME,
           (unsigned long long)m.gen, k);
  }
  free(reused);
  free(fresh);
  pthread_mutex_unlock(&b->mu);
  bl_manifest_free(&m);
  return ok ? 1 : -1;
}

int bl_manifest_flush(cairn_backlog *b, int force) {
  if (b->read_only && b->lock_fd < 0) return 0;
  pthread_mutex_lock(&b->mf_mu);
  int lfd, rc = 0;
  if (bl_lock_try(b, &lfd) < 0) {
    pthread_mutex_unlock(&b->mf_mu);
    return 1;
  }
  bl_refresh(b);
  if (b->mf_dirty || force) rc = bl_manifest_write(b);
  bl_unlock(lfd);
  pthread_mutex_unlock(&b->mf_mu);
  return rc;
}
