/* Fault injection (see fault.h for the points and the CAIRN_FAULTS syntax). */
#include "engine/fault.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/log.h"

int cairn_faults_on;

static cairn_fault_spec specs[CAIRN_FAULT_NPOINTS];
static uint64_t calls[CAIRN_FAULT_NPOINTS], hits[CAIRN_FAULT_NPOINTS];

static const char *const point_names[CAIRN_FAULT_NPOINTS] = {
    [CAIRN_FAULT_WAL_APPEND] = "wal.append",   [CAIRN_FAULT_WAL_SYNC] = "wal.sync",
    [CAIRN_FAULT_WAL_READ] = "wal.read",       [CAIRN_FAULT_STORE_COMMIT] = "store.commit",
    [CAIRN_FAULT_STORE_PUT] = "store.put",     [CAIRN_FAULT_STORE_GROW] = "store.grow",
    [CAIRN_FAULT_STORE_SPILL] = "store.spill",
    [CAIRN_FAULT_BACKLOG_SEAL] = "backlog.seal", [CAIRN_FAULT_BACKLOG_MANIFEST] = "backlog.manifest",
    [CAIRN_FAULT_BACKLOG_SPARE] = "backlog.spare",
    [CAIRN_FAULT_NET_WRITE] = "net.write",     [CAIRN_FAULT_NET_READ] = "net.read",
};

static const struct {
  const char *name;
  int err;
  int store_only;
} errors[] = {
    {"EIO", EIO, 0},           {"ENOSPC", ENOSPC, 0},       {"EROFS", EROFS, 0},
    {"EDQUOT", EDQUOT, 0},     {"ENOMEM", ENOMEM, 0},       {"EFBIG", EFBIG, 0},
    {"EINTR", EINTR, 0},       {"EAGAIN", EAGAIN, 0},       {"EBADF", EBADF, 0},
    {"EINVAL", EINVAL, 0},     {"EPERM", EPERM, 0},         {"EACCES", EACCES, 0},
    {"MDB_TXN_FULL", MDB_TXN_FULL, 1}, {"MDB_MAP_FULL", MDB_MAP_FULL, 1}, {"MDB_CORRUPTED", MDB_CORRUPTED, 1},
    {"MDB_PANIC", MDB_PANIC, 1},       {"MDB_BAD_TXN", MDB_BAD_TXN, 1},
};

const char *cairn_fault_point_name(int p) { return p >= 0 && p < CAIRN_FAULT_NPOINTS ? point_names[p] : "?"; }

const char *cairn_fault_error_name(int err) {
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
    if (errors[i].err == err) return errors[i].name;
  return NULL;
}

static int is_store_point(int p) { return p == CAIRN_FAULT_STORE_COMMIT || p == CAIRN_FAULT_STORE_PUT; }

/* [s, s+n) without surrounding blanks. */
static void trim(const char **s, size_t *n) {
  while (*n && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* A positive decimal integer filling [s, s+n) exactly. */
static int parse_count(const char *s, size_t n, uint64_t *out) {
  if (n == 0 || n > 19) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v == 0) return -1;
  *out = v;
  return 0;
}

static int parse_one(const char *s, size_t n, cairn_fault_spec *out, char *err, size_t errlen) {
  const char *eq = memchr(s, '=', n);
  if (!eq) {
    snprintf(err, errlen, "'%.*s': expected point=N[:option...]", (int)n, s);
    return -1;
  }
  const char *name = s;
  size_t namelen = (size_t)(eq - s);
  trim(&name, &namelen);
  int p = -1;
  for (int i = 0; i < CAIRN_FAULT_NPOINTS; i++)
    if (strlen(point_names[i]) == namelen && !memcmp(point_names[i], name, namelen)) p = i;
  if (p < 0) {
    snprintf(err, errlen,
             "unknown fault point '%.*s' (known: wal.append, wal.sync, wal.read, store.commit, store.put)",
             (int)namelen, name);
    return -1;
  }
  if (out[p].armed) {
    snprintf(err, errlen, "fault point %s given twice", point_names[p]);
    return -1;
  }
  cairn_fault_spec f = {.armed = 1, .count = 0, .err = p == CAIRN_FAULT_STORE_PUT ? MDB_TXN_FULL : EIO};
  const char *q = eq + 1, *end = s + n;
  int have_count = 0, have_err = 0;
  for (int field = 0; q <= end; field++) {
    const char *c = memchr(q, ':', (size_t)(end - q));
    if (!c) c = end;
    const char *t = q;
    size_t tn = (size_t)(c - q);
    trim(&t, &tn);
    q = c + 1;
    if (field == 0) {
      if (parse_count(t, tn, &f.nth) != 0) {
        snprintf(err, errlen, "%s: '%.*s' is not a call number (1, 2, ...)", point_names[p], (int)tn, t);
        return -1;
      }
      continue;
    }
    uint64_t k = 0;
    int is_count = 1;
    if (tn == 4 && !memcmp(t, "once", 4)) k = 1;
    else if (tn == 6 && !memcmp(t, "always", 6)) k = 0;
    else if (tn >= 2 && t[0] == 'x' && parse_count(t + 1, tn - 1, &k) == 0) {}
    else is_count = 0;
    if (tn > 4 && !memcmp(t, "slow", 4)) {
      uint64_t us = 0;
      if (parse_count(t + 4, tn - 4, &us) != 0 || us > 1000000) {
        snprintf(err, errlen, "%s: '%.*s' is not slowUS with US 1-1000000 microseconds", point_names[p], (int)tn, t);
        return -1;
      }
      if (have_err++) {
        snprintf(err, errlen, "%s: slow and an error both given", point_names[p]);
        return -1;
      }
      f.slow_us = (uint32_t)us;
      continue;
    }
    if (is_count) {
      if (have_count++) {
        snprintf(err, errlen, "%s: more than one of once/always/xK", point_names[p]);
        return -1;
      }
      f.count = k;
      continue;
    }
    int found = 0;
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
      if (strlen(errors[i].name) != tn || memcmp(errors[i].name, t, tn)) continue;
      if (errors[i].store_only && !is_store_point(p)) {
        snprintf(err, errlen, "%s: %s is an LMDB error, for store points only", point_names[p], errors[i].name);
        return -1;
      }
      f.err = errors[i].err;
      found = 1;
    }
    if (!found) {
      snprintf(err, errlen, "%s: unknown option '%.*s' (once, always, xK, or an error such as EIO, ENOSPC%s)",
               point_names[p], (int)tn, t, is_store_point(p) ? ", MDB_TXN_FULL" : "");
      return -1;
    }
    if (have_err++) {
      snprintf(err, errlen, "%s: more than one error (or slow and an error)", point_names[p]);
      return -1;
    }
  }
  out[p] = f;
  return 0;
}

int cairn_fault_parse(const char *spec, cairn_fault_spec *out, char *err, size_t errlen) {
  memset(out, 0, sizeof(*out) * CAIRN_FAULT_NPOINTS);
  if (!spec || spec[strspn(spec, " \t")] == '\0') return 0;
  const char *s = spec, *end = spec + strlen(spec);
  for (;;) {
    const char *c = memchr(s, ',', (size_t)(end - s));
    if (!c) c = end;
    const char *t = s;
    size_t tn = (size_t)(c - s);
    trim(&t, &tn);
    int rc = -1;
    if (tn == 0)
      snprintf(err, errlen, "empty fault spec in '%s'", spec); /* "a,,b" or a stray comma: a typo */
    else
      rc = parse_one(t, tn, out, err, errlen);
    if (rc != 0) {
      memset(out, 0, sizeof(*out) * CAIRN_FAULT_NPOINTS);
      return -1;
    }
    if (c == end) return 0;
    s = c + 1;
  }
}

int cairn_fault_arm(const char *spec, char *err, size_t errlen) {
  cairn_fault_spec f[CAIRN_FAULT_NPOINTS];
  if (cairn_fault_parse(spec, f, err, errlen) != 0) return -1;
  cairn_fault_disarm();
  int any = 0;
  for (int p = 0; p < CAIRN_FAULT_NPOINTS; p++) {
    specs[p] = f[p];
    any |= f[p].armed;
  }
  cairn_faults_on = any;
  return 0;
}

void cairn_fault_disarm(void) {
  cairn_faults_on = 0;
  memset(specs, 0, sizeof(specs));
  for (int p = 0; p < CAIRN_FAULT_NPOINTS; p++) {
    __atomic_store_n(&calls[p], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&hits[p], 0, __ATOMIC_RELAXED);
  }
}

int cairn_fault_armed(int p) {
  if (p < 0) return cairn_faults_on;
  return p < CAIRN_FAULT_NPOINTS && specs[p].armed;
}

char *cairn_fault_describe(char *buf, size_t len) {
  size_t o = 0;
  if (len) buf[0] = '\0';
  for (int p = 0; p < CAIRN_FAULT_NPOINTS; p++) {
    const cairn_fault_spec *f = &specs[p];
    if (!f->armed || o >= len) continue;
    const char *en = cairn_fault_error_name(f->err);
    char when[64];
    if (f->count == 0)
      snprintf(when, sizeof(when), "call %llu and every call after", (unsigned long long)f->nth);
    else if (f->count == 1)
      snprintf(when, sizeof(when), "call %llu only", (unsigned long long)f->nth);
    else
      snprintf(when, sizeof(when), "calls %llu to %llu", (unsigned long long)f->nth,
               (unsigned long long)(f->nth + f->count - 1));
    int w = f->slow_us ? snprintf(buf + o, len - o, "%s%s is slowed by %u us at %s", o ? "; " : "", point_names[p],
                                  f->slow_us, when)
                       : snprintf(buf + o, len - o, "%s%s fails %s with %s", o ? "; " : "", point_names[p], when,
                                  en ? en : "?");
    if (w > 0) o += (size_t)w;
  }
  return buf;
}

uint64_t cairn_fault_calls(int p) { return __atomic_load_n(&calls[p], __ATOMIC_RELAXED); }
uint64_t cairn_fault_hits(int p) { return __atomic_load_n(&hits[p], __ATOMIC_RELAXED); }

int cairn_fault_check(int p) {
  uint64_t n = __atomic_add_fetch(&calls[p], 1, __ATOMIC_RELAXED);
  const cairn_fault_spec *f = &specs[p];
  if (!f->armed || n < f->nth || (f->count && n - f->nth >= f->count)) return 0;
  uint64_t hit = __atomic_add_fetch(&hits[p], 1, __ATOMIC_RELAXED);
  if (f->slow_us) {
    if (hit == 1)
      cairn_warning("fault injection: %s calls from %llu take %u us longer (logged once)", point_names[p],
                    (unsigned long long)n, f->slow_us);
    usleep(f->slow_us);
    return 0;
  }
  const char *en = cairn_fault_error_name(f->err);
  cairn_warning("fault injection: %s call %llu fails with %s", point_names[p], (unsigned long long)n,
                en ? en : "?");
  return f->err;
}

/* ---------------------------------------------------------------- the WAL wrapper */

static cairn_wal inner;

static int fw_append(void *ud, const void *p, size_t n) {
  int e = cairn_fault_check(CAIRN_FAULT_WAL_APPEND);
  if (e) {
    errno = e;
    return -1;
  }
  return inner.append(ud, p, n);
}

static int fw_sync(void *ud) {
  int e = cairn_fault_check(CAIRN_FAULT_WAL_SYNC);
  if (e) {
    errno = e;
    return -1;
  }
  return inner.sync(ud);
}

static int fw_sync_run(void *token) {
  int e = cairn_fault_check(CAIRN_FAULT_WAL_SYNC);
  int rc = inner.sync_run(token); /* always: it consumes the token */
  if (e) {
    errno = e;
    return -1;
  }
  return rc;
}

/* wal.read: every read of the backlog, plain or as stored frames */
static int read_fault(void) {
  int e = cairn_fault_check(CAIRN_FAULT_WAL_READ);
  if (e) errno = e;
  return e;
}

static long fw_cursor_next(void *cur, void *buf, size_t cap) {
  return read_fault() ? -1 : inner.cursor_next(cur, buf, cap);
}

static long fw_cursor_next_frame(void *cur, uint64_t limit, void *buf, size_t cap, uint32_t *raw_len, uint32_t *crc) {
  return read_fault() ? -1 : inner.cursor_next_frame(cur, limit, buf, cap, raw_len, crc);
}

void cairn_fault_wal(const cairn_wal *in, cairn_wal *out) {
  inner = *in;
  *out = *in;
  out->append = fw_append;
  out->sync = fw_sync;
  out->sync_run = fw_sync_run;
  out->cursor_next = fw_cursor_next;
  if (in->cursor_next_frame) out->cursor_next_frame = fw_cursor_next_frame;
}
