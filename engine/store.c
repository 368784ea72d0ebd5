#include "engine/store.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "engine/buf.h"
#include "engine/fault.h"
#include "engine/util.h"

#define VALUE_HEADER 10          /* [type][flags][expire i64 LE] */
#define FLAG_LONGKEY 0x01
#define MAX_DATABASES 256
#define MAX_GARBAGE 1024
#define META_VERSION 1
#define KEY_PREFIX 10            /* [phys u16][hash u64] */
#define MAX_ENCODED_KEY (KEY_PREFIX + CAIRN_STORE_INLINE_KEY + 8)

typedef struct db_state {
  uint16_t phys;
  uint64_t keys;
  uint64_t expires;
} db_state;

/* Everything about the keyspace that lives in memory and is written with
 * each checkpoint; a rollback restores the committed copy. */
typedef struct meta_state {
  int databases;
  db_state db[MAX_DATABASES];
  int ngarbage;
  uint16_t garbage[MAX_GARBAGE];
  uint16_t next_phys;
  uint64_t offset;
  int nloading;                       /* a full sync being loaded: its dbs, not yet visible */
  db_state loading[MAX_DATABASES];
  uint64_t next_coll;                 /* next collection id (never reused) */
  uint64_t dead_colls;                /* retired collections queued in `dead` */
} meta_state;

struct cairn_store {
  MDB_env *env;
  MDB_dbi keys, expires, meta, elems, dead;
  MDB_txn *txn;
  MDB_cursor *kcur;       /* on `keys`, lives and dies with txn */
  int failed;
  meta_state cur, committed;
  uint64_t dirty;
  uint64_t map_size, max_map_size;
  int writemap;
  uint64_t checkpoints;
  int64_t last_checkpoint_ms;
  cairn_buf scratch;
  char errstr[256];
  cairn_store_touch_fn touch;
  void *touch_ud;
};

static inline void touched(cairn_store *s, int db, cairn_str key) {
  if (s->touch) s->touch(s->touch_ud, db, key);
}

static int retire_value(cairn_store *s, const MDB_val *old, uint8_t new_type, const void *new_data, size_t new_len,
                        int queue_only);
static int retire_coll(cairn_store *s, const cairn_coll *c, int queue_only);

struct cairn_store_iter {
  cairn_store *s;
  MDB_cursor *cur;
  uint16_t phys;
  int started;
  unsigned char seek[KEY_PREFIX];
};

/* ------------------------------------------------------------ encoding */

static inline uint64_t rd64le(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v; /* x86/arm little-endian hosts; the format is little-endian */
}
static inline void wr64le(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static inline void wr64be(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (unsigned char)v;
    v >>= 8;
  }
}
static inline uint64_t rd64be(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
static inline void wr16be(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}
static inline uint16_t rd16be(const unsigned char *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/* The on-disk key order depends on this function: it must never change.
 * 8 bytes at a time through a multiply-xorshift mixer (murmur3 finalizer). */
static uint64_t hash_seeded(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = seed ^ (len * 0x9E3779B97F4A7C15ULL);
  while (len >= 8) {
    uint64_t k;
    memcpy(&k, p, 8);
    h = (h ^ mix64(k)) * 0x9E3779B97F4A7C15ULL;
    h = (h << 29) | (h >> 35);
    p += 8;
    len -= 8;
  }
  uint64_t t = 0;
  for (size_t i = 0; i < len; i++) t |= (uint64_t)p[i] << (8 * i);
  h ^= mix64(t ^ 0xA5A5A5A5A5A5A5A5ULL);
  return mix64(h);
}

uint64_t cairn_store_key_hash(const void *key, size_t len) { return hash_seeded(key, len, 0); }

size_t cairn_store_encode_key(uint16_t phys, const void *key, size_t len, unsigned char *out) {
  wr16be(out, phys);
  wr64be(out + 2, cairn_store_key_hash(key, len));
  if (len <= CAIRN_STORE_INLINE_KEY) {
    memcpy(out + KEY_PREFIX, key, len);
    return KEY_PREFIX + len;
  }
  /* Long key: a prefix plus a second, independent hash of the whole key. The
   * encoded length (466) is longer than any inline key's, so the two forms
   * never collide; the full key lives in the value and is checked on read. */
  memcpy(out + KEY_PREFIX, key, CAIRN_STORE_INLINE_KEY);
  wr64be(out + KEY_PREFIX + CAIRN_STORE_INLINE_KEY, hash_seeded(key, len, 0x5bd1e9955bd1e995ULL));
  return MAX_ENCODED_KEY;
}

/* The same order as LMDB's default (memcmp, then shorter first), but the
 * first 8 bytes — [phys db][hash] or [expiry ms], which decide almost every
 * comparison — are compared as one big-endian word instead of through a libc
 * call: the B-tree search of every lookup runs this ~20 times (measured 8% of
 * a GET-heavy profile in memcmp). Being the same order, tools that open the
 * file with the default comparator (mdb_dump, mdb_stat) still see it sorted. */
static int key_compare(const MDB_val *a, const MDB_val *b) {
  size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
  const unsigned char *x = a->mv_data, *y = b->mv_data;
  if (n >= 8) {
    uint64_t u = rd64be(x), v = rd64be(y);
    if (u != v) return u < v ? -1 : 1;
    int r = memcmp(x + 8, y + 8, n - 8);
    if (r) return r;
  } else {
    int r = memcmp(x, y, n);
    if (r) return r;
  }
  return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* Decodes a stored value. For long keys, the full key is in the value after
 * the header as [u32 len][key]; *fullkey gets it. */
static void decode_value(const MDB_val *v, cairn_value *out, cairn_str *fullkey) {
  const unsigned char *p = v->mv_data;
  out->type = p[0];
  out->expire_ms = (int64_t)rd64le(p + 2);
  size_t off = VALUE_HEADER;
  if (p[1] & FLAG_LONGKEY) {
    uint32_t kl;
    memcpy(&kl, p + off, 4);
    if (fullkey) {
      fullkey->p = (const char *)p + off + 4;
      fullkey->len = kl;
    }
    off += 4 + kl;
  } else if (fullkey) {
    fullkey->p = NULL;
    fullkey->len = 0;
  }
  out->data = (const char *)p + off;
  out->len = v->mv_size - off;
}

/* ------------------------------------------------------------ errors */

static int store_error(cairn_store *s, const char *what, int rc) {
  snprintf(s->errstr, sizeof(s->errstr), "%s: %s", what, mdb_strerror(rc));
  if (rc == MDB_NOTFOUND) return 0;
  s->failed = 1;
  if (rc == MDB_MAP_FULL) return CAIRN_STORE_MAP_FULL;
  if (rc == MDB_TXN_FULL) return CAIRN_STORE_TXN_FULL;
  return CAIRN_STORE_IO;
}

const char *cairn_store_errstr(const cairn_store *s) { return s->errstr; }

static int txn(cairn_store *s) {
  if (s->failed) return CAIRN_STORE_IO;
  if (s->txn) return 0;
  int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
  if (rc) {
    s->txn = NULL;
    return store_error(s, "mdb_txn_begin", rc);
  }
  return 0;
}

/* ------------------------------------------------------------ meta blob */

static void meta_serialize(const meta_state *m, cairn_buf *b) {
  b->len = 0;
  unsigned char tmp[32];
  tmp[0] = META_VERSION;
  tmp[1] = (unsigned char)(m->databases - 1);
  wr16be(tmp + 2, (uint16_t)m->ngarbage);
  wr16be(tmp + 4, m->next_phys);
  cairn_buf_append(b, tmp, 6);
  for (int i = 0; i < m->databases; i++) {
    wr16be(tmp, m->db[i].phys);
    wr64le(tmp + 2, m->db[i].keys);
    wr64le(tmp + 10, m->db[i].expires);
    cairn_buf_append(b, tmp, 18);
  }
  for (int i = 0; i < m->ngarbage; i++) {
    wr16be(tmp, m->garbage[i]);
    cairn_buf_append(b, tmp, 2);
  }
  if (m->nloading) { /* optional trailing section */
    tmp[0] = (unsigned char)m->nloading;
    cairn_buf_append(b, tmp, 1);
    for (int i = 0; i < m->nloading; i++) {
      wr16be(tmp, m->loading[i].phys);
      wr64le(tmp + 2, m->loading[i].keys);
      wr64le(tmp + 10, m->loading[i].expires);
      cairn_buf_append(b, tmp, 18);
    }
  }
}

static int meta_parse(meta_state *m, const unsigned char *p, size_t len, int databases) {
  if (len < 6 || p[0] != META_VERSION) return -1;
  int stored = p[1] + 1;
  int ng = rd16be(p + 2);
  size_t base = 6 + (size_t)stored * 18 + (size_t)ng * 2;
  if (len < base || ng > MAX_GARBAGE) return -1;
  m->nloading = 0;
  if (len > base) {
    int nl = p[base];
    if (len != base + 1 + (size_t)nl * 18) return -1;
    const unsigned char *l = p + base + 1;
    for (int i = 0; i < nl; i++, l += 18) {
      m->loading[i].phys = rd16be(l);
      m->loading[i].keys = rd64le(l + 2);
      m->loading[i].expires = rd64le(l + 10);
    }
    m->nloading = nl;
  }
  m->next_phys = rd16be(p + 4);
  const unsigned char *q = p + 6;
  for (int i = 0; i < stored; i++, q += 18) {
    m->db[i].phys = rd16be(q);
    m->db[i].keys = rd64le(q + 2);
    m->db[i].expires = rd64le(q + 10);
  }
  m->ngarbage = ng;
  for (int i = 0; i < ng; i++, q += 2) m->garbage[i] = rd16be(q);
  m->databases = stored;
  /* More databases configured than stored: the new ones start empty. */
  for (int i = stored; i < databases; i++) {
    m->db[i].phys = m->next_phys++;
    m->db[i].keys = m->db[i].expires = 0;
  }
  if (databases > stored) m->databases = databases;
  return 0;
}

static int phys_in_use(const meta_state *m, uint16_t phys) {
  for (int i = 0; i < m->databases; i++)
    if (m->db[i].phys == phys) return 1;
  for (int i = 0; i < m->nloading; i++)
    if (m->loading[i].phys == phys) return 1;
  for (int i = 0; i < m->ngarbage; i++)
    if (m->garbage[i] == phys) return 1;
  return 0;
}

static int logical_of(const meta_state *m, uint16_t phys) {
  for (int i = 0; i < m->databases; i++)
    if (m->db[i].phys == phys) return i;
  return -1;
}

/* ------------------------------------------------------------ open/close */

/* With MDB_WRITEMAP LMDB writes pages straight into the mapped file, which it
 * only extends with ftruncate (a sparse file): a page written where the disk
 * has no room would raise SIGBUS. Allocating the blocks up to the map size
 * turns that into an error here, where growth can fail cleanly. */
static int reserve_file(cairn_store *s, uint64_t bytes) {
  if (!s->writemap) return 0;
  int fd;
  if (mdb_env_get_fd(s->env, &fd) != 0) return 0;
  int rc = posix_fallocate(fd, 0, (off_t)bytes);
  if (rc == 0 || rc == EOPNOTSUPP || rc == EINVAL) return 0; /* no fallocate on this fs: as before */
  snprintf(s->errstr, sizeof(s->errstr), "cannot reserve %llu bytes for the LMDB data file: %s",
           (unsigned long long)bytes, strerror(rc));
  return -1;
}

int cairn_store_open(const char *dir, const cairn_store_options *opt, cairn_store **out, char *err,
                     size_t errlen) {
  cairn_store *s = cairn_xcalloc(1, sizeof(*s));
  int rc;
  char path[4096];
  snprintf(path, sizeof(path), "%s/store", dir);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    free(s);
    return -1;
  }
  s->map_size = opt->map_size;
  s->writemap = opt->writemap;
  s->max_map_size = opt->max_map_size < opt->map_size ? opt->map_size : opt->max_map_size;
  /* No map size before mdb_env_open: LMDB then adopts the size recorded in
   * the file, so a grown map persists. (A size set beforehand would win, cut
   * down only to the pages in use, and the first write would hit MAP_FULL.)
   * Only then raise it to the configured size. */
  if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 16)) ||
      (rc = mdb_env_open(s->env, path, MDB_NOTLS | MDB_NORDAHEAD | (s->writemap ? MDB_WRITEMAP : 0), 0644))) {
    snprintf(err, errlen, "cannot open LMDB environment %s: %s", path, mdb_strerror(rc));
    if (s->env) mdb_env_close(s->env);
    free(s);
    return -1;
  }
  MDB_envinfo info;
  mdb_env_info(s->env, &info);
  if (info.me_mapsize > s->map_size) {
    s->map_size = info.me_mapsize; /* a grown map persists */
  } else if (info.me_mapsize < s->map_size && (rc = mdb_env_set_mapsize(s->env, s->map_size))) {
    snprintf(err, errlen, "cannot set the LMDB map size of %s: %s", path, mdb_strerror(rc));
    mdb_env_close(s->env);
    free(s);
    return -1;
  }
  if (reserve_file(s, s->map_size) != 0) {
    snprintf(err, errlen, "%s (lmdb-writemap yes reserves the whole map on disk: free space, lower lmdb-map-size or set lmdb-writemap no)",
             s->errstr);
    mdb_env_close(s->env);
    free(s);
    return -1;
  }
  if (mdb_env_get_maxkeysize(s->env) < MAX_ENCODED_KEY) {
    snprintf(err, errlen, "LMDB max key size %d is below the %d bytes cairn needs",
             mdb_env_get_maxkeysize(s->env), MAX_ENCODED_KEY);
    mdb_env_close(s->env);
    free(s);
    return -1;
  }
  MDB_txn *t;
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &t))) goto lmdb_fail;
  if ((rc = mdb_dbi_open(t, "keys", MDB_CREATE, &s->keys)) ||
      (rc = mdb_dbi_open(t, "expires", MDB_CREATE, &s->expires)) ||
      (rc = mdb_dbi_open(t, "meta", MDB_CREATE, &s->meta)) ||
      (rc = mdb_dbi_open(t, "elems", MDB_CREATE, &s->elems)) ||
      (rc = mdb_dbi_open(t, "dead", MDB_CREATE, &s->dead)) || (rc = mdb_set_compare(t, s->elems, key_compare)) ||
      (rc = mdb_set_compare(t, s->keys, key_compare)) || (rc = mdb_set_compare(t, s->expires, key_compare))) {
    mdb_txn_abort(t);
    goto lmdb_fail;
  }
  int databases = opt->databases < 1 ? 16 : opt->databases > MAX_DATABASES ? MAX_DATABASES : opt->databases;
  MDB_val k = {5, "state"}, v;
  rc = mdb_get(t, s->meta, &k, &v);
  memset(&s->cur, 0, sizeof(s->cur));
  if (rc == MDB_NOTFOUND) {
    s->cur.databases = databases;
    for (int i = 0; i < databases; i++) s->cur.db[i].phys = (uint16_t)i;
    s->cur.next_phys = (uint16_t)databases;
  } else if (rc) {
    mdb_txn_abort(t);
    goto lmdb_fail;
  } else if (meta_parse(&s->cur, v.mv_data, v.mv_size, databases) != 0) {
    mdb_txn_abort(t);
    snprintf(err, errlen, "%s: corrupt keyspace state record", path);
    mdb_env_close(s->env);
    free(s);
    return -1;
  } else if (s->cur.databases > databases) {
    /* Keep every stored db reachable; refuse to silently hide data. */
    for (int i = databases; i < s->cur.databases; i++) {
      if (s->cur.db[i].keys) {
        mdb_txn_abort(t);
        snprintf(err, errlen, "%s: database %d holds keys but 'databases' is %d", path, i, databases);
        mdb_env_close(s->env);
        free(s);
        return -1;
      }
    }
  }
  MDB_val ok = {6, "offset"};
  if (mdb_get(t, s->meta, &ok, &v) == 0 && v.mv_size == 8) s->cur.offset = rd64le(v.mv_data);
  MDB_val ck = {5, "colls"};
  s->cur.next_coll = 1;
  if (mdb_get(t, s->meta, &ck, &v) == 0 && v.mv_size == 16) {
    s->cur.next_coll = rd64le(v.mv_data);
    s->cur.dead_colls = rd64le((const unsigned char *)v.mv_data + 8);
  }
  if ((rc = mdb_txn_commit(t))) goto lmdb_fail;
  /* A full sync was being loaded when the process stopped: its half-loaded
   * dbs are swept like flushed ones; the data served before stays. */
  for (int i = 0; i < s->cur.nloading && s->cur.ngarbage < MAX_GARBAGE; i++)
    s->cur.garbage[s->cur.ngarbage++] = s->cur.loading[i].phys;
  s->cur.nloading = 0;
  s->committed = s->cur;
  *out = s;
  return 0;
lmdb_fail:
  snprintf(err, errlen, "cannot open LMDB database in %s: %s", path, mdb_strerror(rc));
  mdb_env_close(s->env);
  free(s);
  return -1;
}

void cairn_store_close(cairn_store *s) {
  if (!s) return;
  if (s->txn) mdb_txn_abort(s->txn);
  mdb_env_close(s->env);
  cairn_buf_free(&s->scratch);
  free(s);
}

/* ------------------------------------------------------------ keys */

static int expire_index(cairn_store *s, uint16_t phys, const unsigned char *ek, size_t eklen,
                        int64_t ms, int add) {
  unsigned char buf[8 + 2 + MAX_ENCODED_KEY];
  wr64be(buf, (uint64_t)ms);
  wr16be(buf + 8, phys);
  memcpy(buf + 10, ek, eklen);
  MDB_val k = {10 + eklen, buf}, v = {0, ""};
  int rc = add ? mdb_put(s->txn, s->expires, &k, &v, 0) : mdb_del(s->txn, s->expires, &k, NULL);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, add ? "mdb_put(expires)" : "mdb_del(expires)", rc);
  return 0;
}

/* Moves a key's expiry index entry from old_ms to new_ms (-1 = none) and
 * keeps the db's expires count. */
static int move_expiry(cairn_store *s, db_state *d, const unsigned char *ek, size_t eklen, int64_t old_ms,
                       int64_t new_ms) {
  int rc;
  if (old_ms == new_ms) return 0;
  if (old_ms >= 0) {
    if ((rc = expire_index(s, d->phys, ek, eklen, old_ms, 0))) return rc;
    d->expires--;
  }
  if (new_ms >= 0) {
    if ((rc = expire_index(s, d->phys, ek, eklen, new_ms, 1))) return rc;
    d->expires++;
  }
  return 0;
}

int cairn_store_get(cairn_store *s, int db, cairn_str key, cairn_value *out) {
  int rc = txn(s);
  if (rc) return rc;
  unsigned char ek[MAX_ENCODED_KEY];
  MDB_val k = {cairn_store_encode_key(s->cur.db[db].phys, key.p, key.len, ek), ek}, v;
  rc = mdb_get(s->txn, s->keys, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_get", rc);
  cairn_str full;
  decode_value(&v, out, &full);
  if (key.len > CAIRN_STORE_INLINE_KEY && (full.len != key.len || memcmp(full.p, key.p, key.len)))
    return 0; /* a different long key with the same prefix and both hashes */
  return 1;
}

/* Every other write happens before the value's MDB_RESERVE put, and the
 * caller fills the reserved area before its next store call: LMDB may spill
 * dirty pages on a later write, so a reserved area does not outlive it. */
int cairn_store_put_reserve(cairn_store *s, int db, cairn_str key, uint8_t type, size_t len,
                            int64_t expire_ms, char **payload) {
  int rc = txn(s);
  if (rc) return rc;
  if ((rc = cairn_fault(CAIRN_FAULT_STORE_PUT))) return store_error(s, "mdb_put", rc);
  db_state *d = &s->cur.db[db];
  unsigned char ek[MAX_ENCODED_KEY];
  size_t eklen = cairn_store_encode_key(d->phys, key.p, key.len, ek);
  int longkey = key.len > CAIRN_STORE_INLINE_KEY;
  size_t hdr = VALUE_HEADER + (longkey ? 4 + key.len : 0);
  MDB_val k = {eklen, ek}, v;
  int created = 1;
  int64_t old_exp = -1;
  rc = mdb_get(s->txn, s->keys, &k, &v);
  if (rc == 0) {
    created = 0;
    old_exp = (int64_t)rd64le((const unsigned char *)v.mv_data + 2);
    if ((rc = retire_value(s, &v, type, NULL, 0, 0))) return rc;
  } else if (rc != MDB_NOTFOUND) {
    return store_error(s, "mdb_get", rc);
  }
  if ((rc = move_expiry(s, d, ek, eklen, old_exp, expire_ms))) return rc;
  v.mv_size = hdr + len;
  v.mv_data = NULL;
  if ((rc = mdb_put(s->txn, s->keys, &k, &v, MDB_RESERVE))) return store_error(s, "mdb_put", rc);
  unsigned char *p = v.mv_data;
  p[0] = type;
  p[1] = longkey ? FLAG_LONGKEY : 0;
  wr64le(p + 2, (uint64_t)expire_ms);
  if (longkey) {
    uint32_t kl = (uint32_t)key.len;
    memcpy(p + VALUE_HEADER, &kl, 4);
    memcpy(p + VALUE_HEADER + 4, key.p, key.len);
  }
  *payload = (char *)p + hdr;
  if (created) d->keys++;
  s->dirty += eklen + hdr + len + 64;
  touched(s, db, key);
  return created;
}

/* The transaction's cursor on `keys`: LMDB keeps pages under a tracked
 * cursor from being spilled, so a position found by one call stays usable
 * across writes to other dbis; it is closed with the transaction. */
static int keys_cursor(cairn_store *s, MDB_cursor **out) {
  if (!s->kcur) {
    int rc = mdb_cursor_open(s->txn, s->keys, &s->kcur);
    if (rc) {
      s->kcur = NULL;
      return store_error(s, "mdb_cursor_open", rc);
    }
  }
  *out = s->kcur;
  return 0;
}

static void fill_value(unsigned char *p, uint8_t type, cairn_str key, int64_t expire_ms, const void *data,
                       size_t len) {
  int longkey = key.len > CAIRN_STORE_INLINE_KEY;
  p[0] = type;
  p[1] = longkey ? FLAG_LONGKEY : 0;
  wr64le(p + 2, (uint64_t)expire_ms);
  size_t off = VALUE_HEADER;
  if (longkey) {
    uint32_t kl = (uint32_t)key.len;
    memcpy(p + off, &kl, 4);
    memcpy(p + off + 4, key.p, key.len);
    off += 4 + key.len;
  }
  if (len) memcpy(p + off, data, len);
}

/* One B-tree descent whether the key is new or not: the insert attempt with
 * MDB_NOOVERWRITE either inserts, or leaves the cursor on the existing entry,
 * which MDB_CURRENT then replaces in place. */
static int put_in(cairn_store *s, db_state *d, cairn_str key, uint8_t type, const void *data, size_t len,
                  int64_t expire_ms) {
  int rc = txn(s);
  if (rc) return rc;
  if ((rc = cairn_fault(CAIRN_FAULT_STORE_PUT))) return store_error(s, "mdb_cursor_put", rc);
  MDB_cursor *c = NULL;
  if ((rc = keys_cursor(s, &c))) return rc;
  unsigned char ek[MAX_ENCODED_KEY];
  size_t eklen = cairn_store_encode_key(d->phys, key.p, key.len, ek);
  size_t hdr = VALUE_HEADER + (key.len > CAIRN_STORE_INLINE_KEY ? 4 + key.len : 0);
  MDB_val k = {eklen, ek}, v = {hdr + len, NULL};
  rc = mdb_cursor_put(c, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
  if (rc == 0) {
    fill_value(v.mv_data, type, key, expire_ms, data, len);
    d->keys++;
    if (expire_ms >= 0) {
      if ((rc = expire_index(s, d->phys, ek, eklen, expire_ms, 1))) return rc;
      d->expires++;
    }
    s->dirty += eklen + hdr + len + 64;
    return 1;
  }
  if (rc != MDB_KEYEXIST) return store_error(s, "mdb_cursor_put", rc);
  int64_t old_exp = (int64_t)rd64le((const unsigned char *)v.mv_data + 2);
  if ((rc = retire_value(s, &v, type, data, len, 0))) return rc;
  if ((rc = move_expiry(s, d, ek, eklen, old_exp, expire_ms))) return rc;
  k.mv_size = eklen;
  k.mv_data = ek;
  v.mv_size = hdr + len;
  v.mv_data = NULL;
  if ((rc = mdb_cursor_put(c, &k, &v, MDB_CURRENT | MDB_RESERVE))) return store_error(s, "mdb_cursor_put", rc);
  fill_value(v.mv_data, type, key, expire_ms, data, len);
  s->dirty += eklen + hdr + len + 64;
  return 0;
}

int cairn_store_put(cairn_store *s, int db, cairn_str key, uint8_t type, const void *data, size_t len,
                    int64_t expire_ms) {
  int rc = put_in(s, &s->cur.db[db], key, type, data, len, expire_ms);
  if (rc >= 0) touched(s, db, key);
  return rc;
}

/* ------------------------------------------------------------ loading a full sync */

static uint16_t fresh_phys(meta_state *m) {
  uint16_t p = m->next_phys;
  while (phys_in_use(m, p)) p++;
  m->next_phys = (uint16_t)(p + 1);
  return p;
}

int cairn_store_load_begin(cairn_store *s) {
  int rc = txn(s);
  if (rc) return rc;
  meta_state *m = &s->cur;
  if (m->nloading) cairn_store_load_finish(s, 0);
  for (int i = 0; i < m->databases; i++) {
    m->loading[i].phys = fresh_phys(m);
    m->loading[i].keys = m->loading[i].expires = 0;
  }
  m->nloading = m->databases;
  s->dirty += 64;
  return 0;
}

int cairn_store_load_put(cairn_store *s, int db, cairn_str key, uint8_t type, const void *data, size_t len,
                         int64_t expire_ms) {
  if (db < 0 || db >= s->cur.nloading) return CAIRN_STORE_IO;
  return put_in(s, &s->cur.loading[db], key, type, data, len, expire_ms);
}

int cairn_store_load_finish(cairn_store *s, int commit) {
  int rc = txn(s);
  if (rc) return rc;
  meta_state *m = &s->cur;
  for (int i = 0; i < m->nloading; i++) {
    db_state gone = commit ? m->db[i] : m->loading[i];
    if (commit) m->db[i] = m->loading[i];
    while (m->ngarbage >= MAX_GARBAGE) {
      long n = cairn_store_sweep(s, 1 << 20);
      if (n < 0) return (int)n;
    }
    if (gone.keys || gone.expires || commit) m->garbage[m->ngarbage++] = gone.phys;
  }
  m->nloading = 0;
  s->dirty += 64;
  return 0;
}

int cairn_store_loading(const cairn_store *s) { return s->cur.nloading > 0; }

static int del_in(cairn_store *s, int db, cairn_str key, int keep) {
  int rc = txn(s);
  if (rc) return rc;
  db_state *d = &s->cur.db[db];
  unsigned char ek[MAX_ENCODED_KEY];
  size_t eklen = cairn_store_encode_key(d->phys, key.p, key.len, ek);
  MDB_val k = {eklen, ek}, v;
  MDB_cursor *c = NULL;
  if ((rc = keys_cursor(s, &c))) return rc;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_cursor_get", rc);
  int64_t exp = (int64_t)rd64le((const unsigned char *)v.mv_data + 2);
  cairn_value old;
  cairn_coll oc;
  decode_value(&v, &old, NULL);
  int coll = !keep && cairn_coll_decode(&old, &oc) == 0;
  if ((rc = mdb_cursor_del(c, 0))) return store_error(s, "mdb_cursor_del", rc);
  d->keys--;
  if (exp >= 0) {
    if ((rc = expire_index(s, d->phys, ek, eklen, exp, 0))) return rc;
    d->expires--;
  }
  s->dirty += eklen + 64;
  if (coll && (rc = retire_coll(s, &oc, 0))) return rc;
  touched(s, db, key);
  return 1;
}

int cairn_store_del(cairn_store *s, int db, cairn_str key) { return del_in(s, db, key, 0); }
int cairn_store_del_keep(cairn_store *s, int db, cairn_str key) { return del_in(s, db, key, 1); }

int cairn_store_set_expire(cairn_store *s, int db, cairn_str key, int64_t expire_ms) {
  cairn_value val;
  int rc = cairn_store_get(s, db, key, &val);
  if (rc <= 0) return rc;
  if (val.expire_ms == expire_ms) return 1;
  /* The payload points into LMDB's pages: copy it before rewriting. */
  s->scratch.len = 0;
  cairn_buf_append(&s->scratch, val.data, val.len);
  rc = cairn_store_put(s, db, key, val.type, s->scratch.p, s->scratch.len, expire_ms);
  cairn_buf_shrink(&s->scratch, 1 << 20);
  return rc < 0 ? rc : 1;
}

uint64_t cairn_store_dbsize(const cairn_store *s, int db) { return s->cur.db[db].keys; }
uint64_t cairn_store_expires_count(const cairn_store *s, int db) { return s->cur.db[db].expires; }
int cairn_store_databases(const cairn_store *s) { return s->cur.databases; }

/* ------------------------------------------------------------ flush / swap / sweep */

int cairn_store_flushdb(cairn_store *s, int db) {
  int rc = txn(s);
  if (rc) return rc;
  meta_state *m = &s->cur;
  if (m->db[db].keys == 0 && m->db[db].expires == 0) return 0;
  touched(s, db, (cairn_str){NULL, 0});
  if (m->ngarbage >= MAX_GARBAGE) {
    /* Too many flushes pending: sweep synchronously until one slot frees. */
    while (m->ngarbage >= MAX_GARBAGE) {
      long n = cairn_store_sweep(s, 1 << 20);
      if (n < 0) return (int)n;
    }
  }
  m->garbage[m->ngarbage++] = m->db[db].phys;
  uint16_t p = m->next_phys;
  while (phys_in_use(m, p)) p++;
  m->db[db].phys = p;
  m->next_phys = (uint16_t)(p + 1);
  m->db[db].keys = m->db[db].expires = 0;
  s->dirty += 64;
  return 0;
}

int cairn_store_swapdb(cairn_store *s, int a, int b) {
  int rc = txn(s);
  if (rc) return rc;
  touched(s, a, (cairn_str){NULL, 0});
  if (b != a) touched(s, b, (cairn_str){NULL, 0});
  db_state t = s->cur.db[a];
  s->cur.db[a] = s->cur.db[b];
  s->cur.db[b] = t;
  s->dirty += 64;
  return 0;
}

int cairn_store_sweep_pending(const cairn_store *s) { return s->cur.ngarbage + (s->cur.dead_colls > 0); }

static long sweep_dead(cairn_store *s, long budget);

long cairn_store_sweep(cairn_store *s, long budget) {
  if (s->cur.ngarbage == 0 && s->cur.dead_colls == 0) return 0;
  int rc = txn(s);
  if (rc) return rc;
  long done = 0;
  while (s->cur.ngarbage > 0 && done < budget) {
    uint16_t phys = s->cur.garbage[0];
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(s->txn, s->keys, &c))) return store_error(s, "mdb_cursor_open", rc);
    unsigned char start[2];
    wr16be(start, phys);
    MDB_val k = {2, start}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && done < budget && k.mv_size >= 2 && rd16be(k.mv_data) == phys) {
      int64_t exp = (int64_t)rd64le((const unsigned char *)v.mv_data + 2);
      cairn_value old;
      cairn_coll oc;
      decode_value(&v, &old, NULL);
      if (cairn_coll_decode(&old, &oc) == 0 && (rc = retire_coll(s, &oc, 1))) {
        mdb_cursor_close(c);
        return rc;
      }
      if (exp >= 0) {
        unsigned char ek[MAX_ENCODED_KEY];
        size_t eklen = k.mv_size;
        memcpy(ek, k.mv_data, eklen);
        if ((rc = mdb_cursor_del(c, 0))) break;
        mdb_cursor_close(c);
        if ((rc = expire_index(s, phys, ek, eklen, exp, 0))) return rc;
        if ((rc = mdb_cursor_open(s->txn, s->keys, &c))) return store_error(s, "mdb_cursor_open", rc);
        k.mv_size = eklen;
        k.mv_data = ek;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
      } else {
        if ((rc = mdb_cursor_del(c, 0))) break;
        rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
        if (rc == EINVAL || rc == MDB_NOTFOUND) rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
      }
      done++;
      s->dirty += 64;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND) return store_error(s, "sweep", rc);
    if (rc == MDB_NOTFOUND || k.mv_size < 2 || rd16be(k.mv_data) != phys) {
      /* This flushed db is gone: forget it. */
      memmove(s->cur.garbage, s->cur.garbage + 1, sizeof(uint16_t) * (size_t)(s->cur.ngarbage - 1));
      s->cur.ngarbage--;
      s->dirty += 64;
    }
  }
  while (s->cur.dead_colls > 0 && done < budget) {
    long n = sweep_dead(s, budget - done);
    if (n < 0) return n;
    done += n;
  }
  return done;
}


/* ------------------------------------------------------------ collections */

#define ELEM_PREFIX 9 /* [id u64 BE][space] */
#define ELEM_HASH 8   /* hashed spaces: [hash64(sub) BE] after the prefix */
#define ELEM_LONG (ELEM_PREFIX + ELEM_HASH + CAIRN_ELEM_INLINE + 8) /* the longest encoded key */
static inline size_t elem_hoff(int space) { return (space & CAIRN_SPACE_HASHED) ? ELEM_HASH : 0; }
static inline size_t elem_longlen(int space) { return ELEM_PREFIX + elem_hoff(space) + CAIRN_ELEM_INLINE + 8; }

uint64_t cairn_elem_hash(const void *sub, size_t len) { return hash_seeded(sub, len, 0x2545F4914F6CDD1DULL); }
#define RETIRE_INLINE 64 /* collections up to this many members are removed at once */

void cairn_store_touch(cairn_store *s, int db, cairn_str key) { touched(s, db, key); }

void cairn_store_set_touch(cairn_store *s, cairn_store_touch_fn fn, void *ud) {
  s->touch = fn;
  s->touch_ud = ud;
}

static inline void wr64le_u(unsigned char *p, uint64_t v) { wr64le(p, v); }

int cairn_coll_decode(const cairn_value *v, cairn_coll *out) {
  if (!cairn_type_is_coll(v->type) || v->len < CAIRN_COLL_HEADER) return -1;
  const unsigned char *p = (const unsigned char *)v->data;
  out->id = rd64le(p);
  out->count = rd64le(p + 8);
  out->head = rd64le(p + 16);
  return 0;
}

static void coll_encode(const cairn_coll *c, unsigned char *p) {
  wr64le_u(p, c->id);
  wr64le_u(p + 8, c->count);
  wr64le_u(p + 16, c->head);
}

void cairn_coll_init(cairn_store *s, cairn_coll *out) {
  out->id = s->cur.next_coll++;
  out->count = 0;
  out->head = CAIRN_LIST_START;
  s->dirty += 8;
}

uint64_t cairn_store_coll_garbage(const cairn_store *s) { return s->cur.dead_colls; }

/* Encodes an entry key; returns its length. out holds ELEM_LONG bytes. */
static size_t elem_key(uint64_t id, int space, const void *sub, size_t sublen, unsigned char *out) {
  wr64be(out, id);
  out[8] = (unsigned char)space;
  size_t off = ELEM_PREFIX;
  if (space & CAIRN_SPACE_HASHED) {
    wr64be(out + off, cairn_elem_hash(sub, sublen));
    off += ELEM_HASH;
  }
  if (sublen <= CAIRN_ELEM_INLINE) {
    if (sublen) memcpy(out + off, sub, sublen);
    return off + sublen;
  }
  memcpy(out + off, sub, CAIRN_ELEM_INLINE);
  wr64be(out + off + CAIRN_ELEM_INLINE, hash_seeded(sub, sublen, 0x5bd1e9955bd1e995ULL));
  return off + CAIRN_ELEM_INLINE + 8;
}

/* Splits a stored entry into sub-key and value (long sub-keys live in the
 * value as [u32 len][sub][value]). */
static void elem_split(const MDB_val *k, const MDB_val *v, cairn_str *sub, cairn_str *val) {
  int space = ((const unsigned char *)k->mv_data)[8];
  if (k->mv_size == elem_longlen(space)) {
    uint32_t sl;
    memcpy(&sl, v->mv_data, 4);
    sub->p = (const char *)v->mv_data + 4;
    sub->len = sl;
    val->p = sub->p + sl;
    val->len = v->mv_size - 4 - sl;
  } else {
    sub->p = (const char *)k->mv_data + ELEM_PREFIX + elem_hoff(space);
    sub->len = k->mv_size - ELEM_PREFIX - elem_hoff(space);
    val->p = v->mv_data;
    val->len = v->mv_size;
  }
}

static int elem_prefix_is(const MDB_val *k, const unsigned char *prefix, size_t n) {
  return k->mv_size >= n && memcmp(k->mv_data, prefix, n) == 0;
}

int cairn_elem_get(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, cairn_str *val) {
  int rc = txn(s);
  if (rc) return rc;
  unsigned char ek[ELEM_LONG];
  MDB_val k = {elem_key(id, space, sub, sublen, ek), ek}, v;
  rc = mdb_get(s->txn, s->elems, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_get(elems)", rc);
  cairn_str full;
  elem_split(&k, &v, &full, val);
  if (sublen > CAIRN_ELEM_INLINE && (full.len != sublen || memcmp(full.p, sub, sublen))) return 0;
  return 1;
}

int cairn_elem_put(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, const void *val,
                   size_t vallen) {
  int rc = txn(s);
  if (rc) return rc;
  if ((rc = cairn_fault(CAIRN_FAULT_STORE_PUT))) return store_error(s, "mdb_put(elems)", rc);
  unsigned char ek[ELEM_LONG];
  MDB_val k = {elem_key(id, space, sub, sublen, ek), ek};
  size_t extra = sublen > CAIRN_ELEM_INLINE ? 4 + sublen : 0;
  MDB_val v = {extra + vallen, NULL};
  int created = 1;
  rc = mdb_put(s->txn, s->elems, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
  if (rc == MDB_KEYEXIST) {
    created = 0;
    k.mv_size = elem_key(id, space, sub, sublen, ek);
    k.mv_data = ek;
    v.mv_size = extra + vallen;
    v.mv_data = NULL;
    rc = mdb_put(s->txn, s->elems, &k, &v, MDB_RESERVE);
  }
  if (rc) return store_error(s, "mdb_put(elems)", rc);
  unsigned char *p = v.mv_data;
  if (extra) {
    uint32_t sl = (uint32_t)sublen;
    memcpy(p, &sl, 4);
    memcpy(p + 4, sub, sublen);
    p += extra;
  }
  if (vallen) memcpy(p, val, vallen);
  s->dirty += k.mv_size + extra + vallen + 32;
  return created;
}

int cairn_elem_del(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen) {
  int rc = txn(s);
  if (rc) return rc;
  unsigned char ek[ELEM_LONG];
  MDB_val k = {elem_key(id, space, sub, sublen, ek), ek};
  if (sublen > CAIRN_ELEM_INLINE) {
    cairn_str tmp;
    if ((rc = cairn_elem_get(s, id, space, sub, sublen, &tmp)) <= 0) return rc;
  }
  rc = mdb_del(s->txn, s->elems, &k, NULL);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_del(elems)", rc);
  s->dirty += k.mv_size + 32;
  return 1;
}

struct cairn_elem_iter {
  cairn_store *s;
  MDB_cursor *cur;
  unsigned char prefix[ELEM_PREFIX];
  int reverse, state; /* state: 0 = seek pending, 1 = positioned, 2 = reseek after a delete */
  unsigned char seek[ELEM_LONG];
  size_t seeklen;
  int has_from;
  uint64_t pos; /* hashed spaces: hash of the entry last returned */
};

int cairn_elem_iter_open(cairn_store *s, uint64_t id, int space, const void *from, size_t fromlen, int reverse,
                         cairn_elem_iter **out) {
  int rc = txn(s);
  if (rc) return rc;
  cairn_elem_iter *it = cairn_xcalloc(1, sizeof(*it));
  it->s = s;
  it->reverse = reverse;
  wr64be(it->prefix, id);
  it->prefix[8] = (unsigned char)space;
  it->has_from = from != NULL;
  if (from && (space & CAIRN_SPACE_HASHED)) {
    /* Hashed space: from is raw key bytes after the prefix (a position). */
    size_t n = fromlen > ELEM_HASH + CAIRN_ELEM_INLINE ? ELEM_HASH + CAIRN_ELEM_INLINE : fromlen;
    memcpy(it->seek, it->prefix, ELEM_PREFIX);
    memcpy(it->seek + ELEM_PREFIX, from, n);
    it->seeklen = ELEM_PREFIX + n;
  } else if (from) {
    /* A long from is cut to its inline prefix: exact only up to it. */
    size_t n = fromlen > CAIRN_ELEM_INLINE ? CAIRN_ELEM_INLINE : fromlen;
    it->seeklen = elem_key(id, space, from, n, it->seek);
  }
  if ((rc = mdb_cursor_open(s->txn, s->elems, &it->cur))) {
    free(it);
    return store_error(s, "mdb_cursor_open(elems)", rc);
  }
  *out = it;
  return 0;
}

/* Positions on the first entry >= key (forward) or the last <= key (reverse). */
static int elem_iter_seek(cairn_elem_iter *it, MDB_val *k, MDB_val *v) {
  int rc;
  unsigned char end[ELEM_PREFIX];
  if (!it->reverse) {
    if (it->seeklen) {
      k->mv_size = it->seeklen;
      k->mv_data = it->seek;
    } else {
      k->mv_size = ELEM_PREFIX;
      k->mv_data = it->prefix;
    }
    return mdb_cursor_get(it->cur, k, v, MDB_SET_RANGE);
  }
  MDB_val want;
  if (it->seeklen) {
    want.mv_size = it->seeklen;
    want.mv_data = it->seek;
  } else {
    /* Just past the space: [id][space + 1] (space < 255). */
    memcpy(end, it->prefix, ELEM_PREFIX);
    end[8]++;
    want.mv_size = ELEM_PREFIX;
    want.mv_data = end;
  }
  *k = want;
  rc = mdb_cursor_get(it->cur, k, v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) return mdb_cursor_get(it->cur, k, v, MDB_LAST);
  if (rc) return rc;
  if (it->seeklen && key_compare(k, &want) == 0) return 0;
  return mdb_cursor_get(it->cur, k, v, MDB_PREV);
}

int cairn_elem_iter_next(cairn_elem_iter *it, cairn_str *sub, cairn_str *val) {
  MDB_val k, v;
  int rc;
  if (it->state == 0) {
    rc = elem_iter_seek(it, &k, &v);
  } else if (it->state == 2) {
    /* After a delete: find the neighbour again from the deleted key. For
     * reverse, the last entry < the deleted one. */
    k.mv_size = it->seeklen;
    k.mv_data = it->seek;
    rc = mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE);
    if (it->reverse) rc = rc == MDB_NOTFOUND ? mdb_cursor_get(it->cur, &k, &v, MDB_LAST)
                                             : rc ? rc : mdb_cursor_get(it->cur, &k, &v, MDB_PREV);
  } else {
    rc = mdb_cursor_get(it->cur, &k, &v, it->reverse ? MDB_PREV : MDB_NEXT);
  }
  it->state = 1;
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(it->s, "mdb_cursor_get(elems)", rc);
  if (!elem_prefix_is(&k, it->prefix, ELEM_PREFIX)) return 0;
  if ((it->prefix[8] & CAIRN_SPACE_HASHED) && k.mv_size >= ELEM_PREFIX + ELEM_HASH)
    it->pos = rd64be((const unsigned char *)k.mv_data + ELEM_PREFIX);
  elem_split(&k, &v, sub, val);
  return 1;
}

uint64_t cairn_elem_iter_pos(const cairn_elem_iter *it) { return it->pos; }

int cairn_elem_iter_del(cairn_elem_iter *it) {
  MDB_val k, v;
  int rc = mdb_cursor_get(it->cur, &k, &v, MDB_GET_CURRENT);
  if (rc) return store_error(it->s, "mdb_cursor_get(elems)", rc);
  memcpy(it->seek, k.mv_data, k.mv_size);
  it->seeklen = k.mv_size;
  if ((rc = mdb_cursor_del(it->cur, 0))) return store_error(it->s, "mdb_cursor_del(elems)", rc);
  it->s->dirty += it->seeklen + 32;
  it->state = 2;
  return 0;
}

void cairn_elem_iter_close(cairn_elem_iter *it) {
  if (!it) return;
  mdb_cursor_close(it->cur);
  free(it);
}

/* Deletes up to budget entries of collection id (all spaces). Returns the
 * number deleted; *gone = 1 when none is left. */
static long delete_entries(cairn_store *s, uint64_t id, long budget, int *gone) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(s->txn, s->elems, &c);
  if (rc) return store_error(s, "mdb_cursor_open(elems)", rc);
  unsigned char pre[8];
  wr64be(pre, id);
  MDB_val k = {8, pre}, v;
  long n = 0;
  *gone = 0;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && elem_prefix_is(&k, pre, 8)) {
    if (n >= budget) {
      mdb_cursor_close(c);
      return n;
    }
    if ((rc = mdb_cursor_del(c, 0))) break;
    n++;
    s->dirty += 48;
    /* Seek again rather than trust the cursor's position after a delete
     * that may have merged pages. */
    k.mv_size = 8;
    k.mv_data = pre;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  }
  mdb_cursor_close(c);
  if (rc && rc != MDB_NOTFOUND) return store_error(s, "sweep(elems)", rc);
  *gone = 1;
  return n;
}

static int retire_coll(cairn_store *s, const cairn_coll *c, int queue_only) {
  if (!queue_only && c->count <= RETIRE_INLINE) {
    int gone = 0;
    long n = delete_entries(s, c->id, LONG_MAX, &gone);
    return n < 0 ? (int)n : 0;
  }
  unsigned char k8[8];
  wr64be(k8, c->id);
  MDB_val k = {8, k8}, v = {0, ""};
  int rc = mdb_put(s->txn, s->dead, &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return 0;
  if (rc) return store_error(s, "mdb_put(dead)", rc);
  s->cur.dead_colls++;
  s->dirty += 64;
  return 0;
}

/* An existing value `old` is being replaced by (new_type, new_data): retire
 * its collection unless the new value is the same collection's header. */
static int retire_value(cairn_store *s, const MDB_val *old, uint8_t new_type, const void *new_data, size_t new_len,
                        int queue_only) {
  cairn_value ov;
  cairn_coll oc;
  decode_value(old, &ov, NULL);
  if (cairn_coll_decode(&ov, &oc) != 0) return 0;
  if (cairn_type_is_coll(new_type) && new_data && new_len >= 8 && rd64le(new_data) == oc.id) return 0;
  /* The old value's pages are about to be overwritten: oc is a copy. */
  return retire_coll(s, &oc, queue_only);
}

static long sweep_dead(cairn_store *s, long budget) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(s->txn, s->dead, &c);
  if (rc) return store_error(s, "mdb_cursor_open(dead)", rc);
  MDB_val k, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  mdb_cursor_close(c);
  if (rc == MDB_NOTFOUND) {
    s->cur.dead_colls = 0; /* the count drifted: the table is the truth */
    return 0;
  }
  if (rc) return store_error(s, "mdb_cursor_get(dead)", rc);
  unsigned char k8[8];
  memcpy(k8, k.mv_data, 8);
  int gone = 0;
  long n = delete_entries(s, rd64be(k8), budget, &gone);
  if (n < 0) return n;
  if (gone) {
    MDB_val dk = {8, k8};
    if ((rc = mdb_del(s->txn, s->dead, &dk, NULL)) && rc != MDB_NOTFOUND) return store_error(s, "mdb_del(dead)", rc);
    if (s->cur.dead_colls) s->cur.dead_colls--;
    s->dirty += 64;
    if (n == 0) n = 1; /* progress, so callers looping on the return value go on */
  }
  return n;
}

static int coll_put_in(cairn_store *s, db_state *d, cairn_str key, uint8_t type, const cairn_coll *c,
                       int64_t expire_ms) {
  unsigned char h[CAIRN_COLL_HEADER];
  coll_encode(c, h);
  return put_in(s, d, key, type, h, sizeof(h), expire_ms);
}

int cairn_coll_put(cairn_store *s, int db, cairn_str key, uint8_t type, const cairn_coll *c, int64_t expire_ms) {
  if (c->count == 0) return cairn_store_del(s, db, key);
  int rc = coll_put_in(s, &s->cur.db[db], key, type, c, expire_ms);
  if (rc >= 0) touched(s, db, key);
  return rc;
}

int cairn_store_load_coll(cairn_store *s, int db, cairn_str key, uint8_t type, const cairn_coll *c,
                          int64_t expire_ms) {
  if (db < 0 || db >= s->cur.nloading) return CAIRN_STORE_IO;
  if (c->count == 0) return 0;
  return coll_put_in(s, &s->cur.loading[db], key, type, c, expire_ms);
}

int cairn_coll_copy(cairn_store *s, uint64_t from, uint64_t to) {
  int rc = txn(s);
  if (rc) return rc;
  /* Entries go to a higher id, after the ones being read: copy in batches
   * through a buffer so the read cursor never sees pages being split. */
  unsigned char pre[8];
  wr64be(pre, from);
  unsigned char resume[ELEM_LONG];
  size_t resumelen = 8;
  memcpy(resume, pre, 8);
  int skip_first = 0;
  cairn_buf batch = {0};
  for (;;) {
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(s->txn, s->elems, &c))) {
      cairn_buf_free(&batch);
      return store_error(s, "mdb_cursor_open(elems)", rc);
    }
    MDB_val k = {resumelen, resume}, v;
    batch.len = 0;
    int n = 0;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && skip_first) rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    while (rc == 0 && elem_prefix_is(&k, pre, 8) && n < 256 && batch.len < (1 << 20)) {
      uint32_t kl = (uint32_t)k.mv_size;
      uint64_t vl = v.mv_size;
      cairn_buf_append(&batch, &kl, 4);
      cairn_buf_append(&batch, &vl, 8);
      cairn_buf_append(&batch, k.mv_data, k.mv_size);
      cairn_buf_append(&batch, v.mv_data, v.mv_size);
      n++;
      rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND) {
      cairn_buf_free(&batch);
      return store_error(s, "coll_copy", rc);
    }
    size_t off = 0;
    while (off < batch.len) {
      uint32_t kl;
      uint64_t vl;
      memcpy(&kl, batch.p + off, 4);
      memcpy(&vl, batch.p + off + 4, 8);
      unsigned char *kp = (unsigned char *)batch.p + off + 12;
      memcpy(resume, kp, kl);
      resumelen = kl;
      wr64be(kp, to);
      MDB_val nk = {kl, kp}, nv = {vl, kp + kl};
      if ((rc = mdb_put(s->txn, s->elems, &nk, &nv, 0))) {
        cairn_buf_free(&batch);
        return store_error(s, "mdb_put(elems)", rc);
      }
      s->dirty += kl + vl + 32;
      off += 12 + kl + vl;
    }
    skip_first = 1;
    if (n < 256 && batch.len < (1 << 20)) break;
  }
  cairn_buf_free(&batch);
  return 0;
}

int cairn_store_snapshot_elems(cairn_store_snapshot *snap, uint64_t id, int space, cairn_store_elem_fn fn,
                               void *ud);

/* ------------------------------------------------------------ iteration */

int cairn_store_iter_open(cairn_store *s, int db, uint64_t from, cairn_store_iter **out) {
  int rc = txn(s);
  if (rc) return rc;
  cairn_store_iter *it = cairn_xcalloc(1, sizeof(*it));
  it->s = s;
  it->phys = s->cur.db[db].phys;
  wr16be(it->seek, it->phys);
  wr64be(it->seek + 2, from);
  if ((rc = mdb_cursor_open(s->txn, s->keys, &it->cur))) {
    free(it);
    return store_error(s, "mdb_cursor_open", rc);
  }
  *out = it;
  return 0;
}

int cairn_store_iter_next(cairn_store_iter *it, cairn_str *key, cairn_value *val, uint64_t *hash) {
  MDB_val k, v;
  int rc;
  if (!it->started) {
    it->started = 1;
    k.mv_size = KEY_PREFIX;
    k.mv_data = it->seek;
    rc = mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE);
  } else {
    rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
  }
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(it->s, "mdb_cursor_get", rc);
  const unsigned char *kp = k.mv_data;
  if (k.mv_size < KEY_PREFIX || rd16be(kp) != it->phys) return 0;
  cairn_str full;
  decode_value(&v, val, &full);
  if (full.p) {
    *key = full;
  } else {
    key->p = (const char *)kp + KEY_PREFIX;
    key->len = k.mv_size - KEY_PREFIX;
  }
  if (hash) *hash = rd64be(kp + 2);
  return 1;
}

void cairn_store_iter_close(cairn_store_iter *it) {
  if (!it) return;
  mdb_cursor_close(it->cur);
  free(it);
}

/* ------------------------------------------------------------ expiry */

int cairn_store_next_expired(cairn_store *s, int64_t now_ms, int *db, cairn_buf *keybuf) {
  int rc = txn(s);
  if (rc) return rc;
  for (;;) {
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(s->txn, s->expires, &c))) return store_error(s, "mdb_cursor_open", rc);
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return store_error(s, "mdb_cursor_get", rc);
    const unsigned char *p = k.mv_data;
    if ((int64_t)rd64be(p) > now_ms) return 0;
    uint16_t phys = rd16be(p + 8);
    int l = logical_of(&s->cur, phys);
    if (l < 0) {
      /* Belongs to a flushed db being swept: drop the index entry only. */
      if ((rc = mdb_del(s->txn, s->expires, &k, NULL))) return store_error(s, "mdb_del(expires)", rc);
      continue;
    }
    const unsigned char *ek = p + 10;
    size_t eklen = k.mv_size - 10;
    keybuf->len = 0;
    if (eklen == MAX_ENCODED_KEY) {
      MDB_val kk = {eklen, (void *)ek}, vv;
      if ((rc = mdb_get(s->txn, s->keys, &kk, &vv))) return store_error(s, "mdb_get", rc);
      cairn_value val;
      cairn_str full;
      decode_value(&vv, &val, &full);
      cairn_buf_append(keybuf, full.p, full.len);
    } else {
      cairn_buf_append(keybuf, ek + KEY_PREFIX, eklen - KEY_PREFIX);
    }
    *db = l;
    return 1;
  }
}

/* ------------------------------------------------------------ meta & txn */

uint64_t cairn_store_checkpoint_offset(const cairn_store *s) { return s->committed.offset; }

int cairn_store_meta_get(cairn_store *s, const char *name, cairn_buf *out) {
  int rc = txn(s);
  if (rc) return rc;
  MDB_val k = {strlen(name), (void *)name}, v;
  rc = mdb_get(s->txn, s->meta, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_get(meta)", rc);
  out->len = 0;
  cairn_buf_append(out, v.mv_data, v.mv_size);
  return 1;
}

int cairn_store_meta_put(cairn_store *s, const char *name, const void *p, size_t len) {
  int rc = txn(s);
  if (rc) return rc;
  MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)p};
  if ((rc = mdb_put(s->txn, s->meta, &k, &v, 0))) return store_error(s, "mdb_put(meta)", rc);
  s->dirty += len + 64;
  return 0;
}

uint64_t cairn_store_dirty(const cairn_store *s) { return s->dirty; }

int cairn_store_checkpoint(cairn_store *s, uint64_t offset) {
  if (s->failed) return CAIRN_STORE_IO;
  if (!s->txn) {
    if (offset == s->committed.offset) return 0;
    int rc = txn(s);
    if (rc) return rc;
  }
  int64_t t0 = cairn_monotonic_ms();
  s->cur.offset = offset;
  cairn_buf blob = {0};
  meta_serialize(&s->cur, &blob);
  MDB_val k = {5, "state"}, v = {blob.len, blob.p};
  unsigned char off[8];
  wr64le(off, offset);
  MDB_val ok = {6, "offset"}, ov = {8, off};
  unsigned char colls[16];
  wr64le(colls, s->cur.next_coll);
  wr64le(colls + 8, s->cur.dead_colls);
  MDB_val ck = {5, "colls"}, cv = {16, colls};
  int rc = mdb_put(s->txn, s->meta, &k, &v, 0);
  if (!rc) rc = mdb_put(s->txn, s->meta, &ok, &ov, 0);
  if (!rc) rc = mdb_put(s->txn, s->meta, &ck, &cv, 0);
  cairn_buf_free(&blob);
  if (rc) return store_error(s, "mdb_put(meta)", rc);
  if ((rc = cairn_fault(CAIRN_FAULT_STORE_COMMIT)))
    mdb_txn_abort(s->txn); /* injected: as a failed commit, which frees the transaction too */
  else
    rc = mdb_txn_commit(s->txn);
  s->txn = NULL;
  s->kcur = NULL;
  if (rc) {
    s->failed = 1;
    return store_error(s, "mdb_txn_commit", rc);
  }
  s->committed = s->cur;
  s->dirty = 0;
  s->checkpoints++;
  s->last_checkpoint_ms = cairn_monotonic_ms() - t0;
  return 0;
}

void cairn_store_rollback(cairn_store *s) {
  if (s->txn) mdb_txn_abort(s->txn);
  s->txn = NULL;
  s->kcur = NULL;
  s->failed = 0;
  s->cur = s->committed;
  s->dirty = 0;
}

static int grow_to(cairn_store *s, uint64_t limit) {
  if (s->txn) return -1;
  if (s->map_size >= limit) return -1;
  uint64_t n = s->map_size * 2;
  if (n > limit) n = limit;
  int rc = mdb_env_set_mapsize(s->env, n);
  if (rc) {
    snprintf(s->errstr, sizeof(s->errstr), "mdb_env_set_mapsize(%llu): %s", (unsigned long long)n,
             mdb_strerror(rc));
    return -1;
  }
  if (reserve_file(s, n) != 0) {
    mdb_env_set_mapsize(s->env, s->map_size); /* back to the size the disk holds */
    return -1;
  }
  s->map_size = n;
  return 0;
}

/* Commands may use the map up to 7/8 of the ceiling; the last eighth is kept
 * for what must never fail for lack of room: replaying acknowledged writes
 * after a rollback or a restart, and the checkpoint commit itself (LMDB needs
 * pages to save its free list). */
int cairn_store_grow(cairn_store *s) {
  uint64_t soft = s->max_map_size - s->max_map_size / 8;
  return grow_to(s, soft > s->map_size ? soft : s->map_size);
}

int cairn_store_grow_reserve(cairn_store *s) { return grow_to(s, s->max_map_size); }

int cairn_store_make_room(cairn_store *s, uint64_t bytes) {
  uint64_t want = cairn_store_used_bytes(s) + bytes;
  while (s->map_size < want)
    if (cairn_store_grow(s) != 0) return -1;
  return 0;
}

uint64_t cairn_store_map_size(const cairn_store *s) { return s->map_size; }

uint64_t cairn_store_used_bytes(cairn_store *s) {
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(s->env, &info);
  mdb_env_stat(s->env, &st);
  return (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
}

uint64_t cairn_store_checkpoints(const cairn_store *s) { return s->checkpoints; }
int64_t cairn_store_last_checkpoint_ms(const cairn_store *s) { return s->last_checkpoint_ms; }

/* ------------------------------------------------------------ snapshots */

struct cairn_store_snapshot {
  cairn_store *s;
  MDB_txn *txn;
  meta_state m;
  int stream_db;
};

int cairn_store_snapshot_open(cairn_store *s, cairn_store_snapshot **out) {
  cairn_store_snapshot *snap = cairn_xcalloc(1, sizeof(*snap));
  snap->s = s;
  snap->stream_db = -1;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &snap->txn);
  if (rc) {
    free(snap);
    snprintf(s->errstr, sizeof(s->errstr), "mdb_txn_begin(snapshot): %s", mdb_strerror(rc));
    return CAIRN_STORE_IO;
  }
  MDB_val k = {5, "state"}, v;
  if (mdb_get(snap->txn, s->meta, &k, &v) == 0) {
    if (meta_parse(&snap->m, v.mv_data, v.mv_size, s->cur.databases) != 0) {
      cairn_store_snapshot_close(snap);
      snprintf(s->errstr, sizeof(s->errstr), "snapshot: corrupt keyspace state record");
      return CAIRN_STORE_IO;
    }
  } else {
    /* Nothing checkpointed yet: every db empty under its initial id. */
    snap->m.databases = s->cur.databases;
    for (int i = 0; i < snap->m.databases; i++) snap->m.db[i].phys = (uint16_t)i;
  }
  MDB_val ok = {6, "offset"};
  if (mdb_get(snap->txn, s->meta, &ok, &v) == 0 && v.mv_size == 8) snap->m.offset = rd64le(v.mv_data);
  MDB_val sk = {9, "stream_db"};
  if (mdb_get(snap->txn, s->meta, &sk, &v) == 0 && v.mv_size == 4) {
    int32_t d;
    memcpy(&d, v.mv_data, 4);
    snap->stream_db = d;
  }
  *out = snap;
  return 0;
}

uint64_t cairn_store_snapshot_offset(const cairn_store_snapshot *snap) { return snap->m.offset; }
int cairn_store_snapshot_stream_db(const cairn_store_snapshot *snap) { return snap->stream_db; }
int cairn_store_snapshot_databases(const cairn_store_snapshot *snap) { return snap->m.databases; }
uint64_t cairn_store_snapshot_dbsize(const cairn_store_snapshot *snap, int db) { return snap->m.db[db].keys; }
uint64_t cairn_store_snapshot_expires(const cairn_store_snapshot *snap, int db) { return snap->m.db[db].expires; }

int cairn_store_snapshot_scan(cairn_store_snapshot *snap, int db, cairn_store_snapshot_fn fn, void *ud) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(snap->txn, snap->s->keys, &c);
  if (rc) return CAIRN_STORE_IO;
  uint16_t phys = snap->m.db[db].phys;
  unsigned char start[2];
  wr16be(start, phys);
  MDB_val k = {2, start}, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  int ret = 0;
  while (rc == 0 && k.mv_size >= KEY_PREFIX && rd16be(k.mv_data) == phys) {
    cairn_value val;
    cairn_str full, key;
    decode_value(&v, &val, &full);
    if (full.p) {
      key = full;
    } else {
      key.p = (const char *)k.mv_data + KEY_PREFIX;
      key.len = k.mv_size - KEY_PREFIX;
    }
    if ((ret = fn(ud, key, &val)) != 0) break;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (ret) return ret;
  if (rc != 0 && rc != MDB_NOTFOUND) return CAIRN_STORE_IO;
  return 0;
}

void cairn_store_snapshot_close(cairn_store_snapshot *snap) {
  if (!snap) return;
  mdb_txn_abort(snap->txn);
  free(snap);
}

int cairn_store_snapshot_elems(cairn_store_snapshot *snap, uint64_t id, int space, cairn_store_elem_fn fn,
                               void *ud) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(snap->txn, snap->s->elems, &c);
  if (rc) return CAIRN_STORE_IO;
  unsigned char pre[ELEM_PREFIX];
  wr64be(pre, id);
  pre[8] = (unsigned char)space;
  MDB_val k = {ELEM_PREFIX, pre}, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  int ret = 0;
  while (rc == 0 && elem_prefix_is(&k, pre, ELEM_PREFIX)) {
    cairn_str sub, val;
    elem_split(&k, &v, &sub, &val);
    if ((ret = fn(ud, sub, val)) != 0) break;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (ret) return ret;
  if (rc != 0 && rc != MDB_NOTFOUND) return CAIRN_STORE_IO;
  return 0;
}
