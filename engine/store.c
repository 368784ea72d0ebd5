#include "engine/store.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <dirent.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/fault.h"
#include "engine/overlay.h"
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
  uint64_t seq;                       /* the layer that made this state (run files: their chain), 0 none */
  int nloading;                       /* a full sync being loaded: its dbs, not yet visible */
  db_state loading[MAX_DATABASES];
  uint64_t next_coll;                 /* next collection id (never reused) */
  uint64_t dead_colls;                /* retired collections queued in `dead` */
} meta_state;

/* A frozen layer of the overlay: every write between two checkpoints, with
 * the keyspace state and the stream offset they end at. The store thread
 * drains it into LMDB in one transaction; the loop releases it once the
 * commit is visible to its read snapshot. */
typedef struct layer {
  ov_layer *ov;
  meta_state *meta;
  struct layer *next;   /* newer */
  int drained;          /* set by the store thread (under mu) */
  int64_t drain_us;
  uint64_t base;        /* the offset of the state below it (the previous layer's, or LMDB's) */
  uint64_t prev_seq;    /* the seq of that state (meta_state.seq) */
  int spilled;          /* its run file is on disk (1), could not be written (-1), not yet (0); under mu */
  int64_t frozen_ms;    /* when it was frozen (monotonic): how long it has waited for a merge */
  int pins;             /* full-sync snapshots and the run writer reading it (under mu): released, it waits
                           in `pinned` */
} layer;

#define MAX_FROZEN 32
#define LAYER_MAX_PAGES (1 << 22) /* see cairn_store_layer_full */
#define PEND_MAX_READ 65536 /* an active layer read in order: its keys wait unordered, at most */
#define MERGE_MAX_BYTES (1024ull << 20) /* layers merged into one transaction, at most (one layer always) */
#define MERGE_MAX_WAIT_MS 60000          /* a frozen layer waits at most this long for a merge to gather */
#define MERGE_IDLE_MS 1500               /* ...or until no layer has been frozen for this long */
#define RANGE_GROUPS 256 /* dead ranges: sets of RANGE_WAYS, chosen by the keys' prefix (range_group) */
#define RANGE_WAYS 4
#define RANGE_KEY 528

/* A run of keys known to be absent ([lo, hi], both inclusive) in the merged
 * view: a seek that lands in it jumps past it instead of stepping over the
 * tombstones one by one (a queue popped from its head, the expiry index
 * drained from its start, a sweep: each would otherwise be quadratic).
 * Both ends share the dbi's prefix (range_prefix: a collection's id and
 * space in elems, the physical db elsewhere), which chooses the set of
 * RANGE_WAYS slots the range lives in: thousands of queues each keep their
 * run (with 8 slots for everything, 20k popped zsets stepped over 31M
 * tombstones where they now jump). */
typedef struct dead_range {
  int used;
  unsigned dbi;
  uint64_t last_use;  /* s->range_clock at its last record or jump: the set's least recent goes first */
  size_t lolen, hilen;
  unsigned char lo[RANGE_KEY], hi[RANGE_KEY];
} dead_range;

/* One remembered lookup (see kv_get). */
#define MEMO_KEYS 4
typedef struct memo_ent {
  int used;
  unsigned dbi;
  uint64_t h;
  size_t klen;
  unsigned char key[64];
  ov_node *node;            /* the active layer's answer */
  int have_result;          /* kv_get's whole answer below: */
  int rc;                   /* 0 or MDB_NOTFOUND */
  MDB_val v;                /* the value, in a layer or the snapshot */
} memo_ent;

struct cairn_store {
  MDB_env *env;
  MDB_dbi keys, expires, meta, elems, dead;
  MDB_txn *rtxn;          /* the loop's read snapshot of the last drained commit */
  int failed;
  meta_state cur, committed;
  uint64_t map_size, max_map_size;
  int writemap;
  uint64_t checkpoints;
  int64_t last_checkpoint_ms;
  char errstr[512];
  cairn_store_touch_fn touch;
  void *touch_ud;

  /* the overlay: the active layer (written by commands) above the frozen
   * ones (oldest first), above LMDB */
  ov_layer *active;
  layer *oldest, *newest;
  layer *to_free;         /* released by the loop, freed by the store thread (under mu) */
  layer *pinned;          /* released while a snapshot reads them: to_free when the last one closes (mu) */
  uint64_t pinned_bytes;  /* their memory (in free_pending_bytes too; under mu) */
  uint64_t free_pending_bytes; /* their memory, counted in the overlay until freed (mu; read relaxed) */
  int nfrozen;
  uint64_t frozen_bytes;
  uint64_t layer_seq;
  uint64_t fail_seq;      /* layer_seq when a drain last failed at the map's ceiling */
  int fail_seen;          /* the loop has dealt with the last drain error */
  int open_cursors;       /* merged cursors alive: layers are not released under them */
  struct {                /* the last lookups of keys (layers_find_h, kv_get) */
    int valid;              /* 0: every entry below is forgotten (a freeze, rollback, snapshot renewal) */
    int next;               /* the entry the next new key replaces */
    memo_ent e[MEMO_KEYS];
  } memo;
  /* where the expiry cycle's next search starts: the entry it returned
   * last (every entry before it is deleted). Dropped when an entry before
   * it is added or a rollback brings deleted ones back. */
  int exp_hint_valid;
  size_t exp_hint_len;
  unsigned char exp_hint[8 + 2 + MAX_ENCODED_KEY];
  dead_range ranges[RANGE_GROUPS * RANGE_WAYS];
  int nranges;
  uint64_t range_clock;
  uint64_t range_jumps;
  uint64_t tombs_skipped;  /* tombstones iterators stepped over (INFO overlay_tombstones_skipped) */

  /* the store thread and the run writer (fields under mu) */
  pthread_t thread;
  pthread_t run_thread;    /* writes the run files (run_writer_thread) */
  pthread_mutex_t mu;
  pthread_cond_t cv;       /* wakes both (broadcast) */
  pthread_rwlock_t map_lock; /* reader threads hold it shared; a remap of the map, exclusive */
  /* the reader threads (fields under rmu) */
  pthread_mutex_t rmu;
  pthread_cond_t rcv, rdone;
  cairn_store_readjob *rhead, *rtail;
  /* the owner (done) of the job each reader works on, until its done
   * returned; NULL when idle (never the job itself: done frees it) */
  void (**rinflight)(cairn_store_readjob *j);
  int rstop;
  pthread_t *rthreads;
  int nreaders, readers_started;
  uint64_t reader_faults;  /* atomic */
  int ra_on;               /* the store thread reads its merges' keys ahead (atomic) */
  int ra_mode;             /* 0 when merges wait for the disk, 1 always, 2 never (atomic) */
  uint64_t ra_keys;        /* keys read ahead for merges (atomic) */
  pthread_cond_t done_cv;  /* wakes cairn_store_wait */
  int thread_started, run_thread_started, stop; /* stop: written under mu, read atomically while a run is written */
  int (*drain_hook)(void *ud);
  void *drain_hook_ud;
  layer *draining;         /* the layer the thread works on */
  int drain_rc;            /* error of the last drain (the thread then pauses) */
  char drain_err[512];
  int paused;
  int hold;                /* quiesce: do not start a drain */
  int notifying;           /* the thread is calling notify */
  int wal_gate;            /* drain only layers at or below wal_synced (set once the server tells) */
  uint64_t wal_synced;
  int full;                /* the map is at its ceiling */
  int grow_failed;         /* the map could not grow below its ceiling (disk full...): drain_err says why */
  char path[4096];         /* the LMDB data file, for error messages */
  void (*notify)(void *ud);
  void *notify_ud;
  uint64_t drains_failed;
  uint64_t grows;
  /* merges and runs (under mu): the thread gathers merge_bytes of frozen
   * layers before one transaction (bigger merges touch each LMDB page for
   * more keys), unless the overlay passes urgent_bytes, a layer has waited
   * MERGE_MAX_WAIT_MS or none was frozen for MERGE_IDLE_MS (the writes
   * paused), or someone waits (cairn_store_wait). Meanwhile each
   * frozen layer is written to a run file, so a restart loads it instead
   * of replaying its part of the backlog. */
  uint64_t merge_bytes, urgent_bytes;
  int64_t gather_after_us;  /* merges gather only once a drain took this long (the thread is the bottleneck) */
  int64_t last_drain_us;    /* how long the last drain took */
  uint64_t next_seq;       /* the last layer number given (layers are numbered across restarts) */
  int waiters;
  uint64_t spills, spill_errors, runs_on_disk;
  char spill_err[512];
  char dir[4096];          /* the store's directory (run files) */
  char open_report[512];   /* what open found of the run files, for the log */
  uint64_t last_drain_entries;
  int grow_ahead_failed;       /* growing ahead failed: not again until a growth works */
  uint64_t unmapped_ahead;     /* bytes of the map unmapped ahead of the next growth (grow_ahead) */
  int unmapping;               /* a growth ahead is unmapping the map (the thread held meanwhile) */
  char *unmap_addr;            /* the map being unmapped ahead (found in /proc/self/maps), NULL before */
  uint64_t unmap_len;
  uint64_t reserved_ahead;     /* the data file is reserved on disk up to here (writemap) */
  int snapshots;               /* open snapshots (atomic): their read transactions pin the map's address */
  int64_t last_grow_us;        /* how long the last map growth stopped the loop */
  uint64_t free_pages;     /* on LMDB's free list after the last commit (under mu) */
  uint64_t entries_drained;

  /* deferred lookups (cairn_store_put_deferred): the keys whose old value
   * is still to be looked up, in jobs for the reader threads */
  struct defer_job *dcur;   /* being filled by the loop */
  struct defer_job *dfree;  /* looked up and applied: reused (loop) */
  struct defer_job *ddone;  /* looked up, not applied yet (under dmu) */
  int dinflight;            /* jobs submitted and not applied (loop) */
  pthread_mutex_t dmu;
  pthread_cond_t dcv;
  uint64_t deferred_puts, deferred_waits, deferred_wait_us, deferred_on_loop;
};

static inline void touched(cairn_store *s, int db, cairn_str key) {
  if (s->touch) s->touch(s->touch_ud, db, key);
}

static int retire_value(cairn_store *s, const MDB_val *old, uint8_t new_type, const void *new_data, size_t new_len,
                        int queue_only);
static int retire_coll(cairn_store *s, const cairn_coll *c, int queue_only);
static void defer_free(cairn_store *s);
static void defer_discard(cairn_store *s);

struct kv_cursor;
struct cairn_store_iter {
  cairn_store *s;
  struct kv_cursor *cur;
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
static inline void wr32le(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static inline uint32_t rd32le(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static inline void wr16le(unsigned char *p, uint16_t v) { memcpy(p, &v, 2); }
static inline uint16_t rd16le(const unsigned char *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}
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

/* ------------------------------------------------------------ the merged view
 *
 * Every read and write of the keyspace goes through these: a write lands in
 * the active layer of the overlay; a read looks in the active layer, then
 * the frozen ones from the newest, then the loop's LMDB read snapshot. A
 * tombstone in a layer hides what is below it. */

static int check_failed(cairn_store *s) { return s->failed ? CAIRN_STORE_IO : 0; }

/* The key's hash is computed once for every layer; what the layers said
 * is remembered for the few keys looked up last, so a command that reads
 * keys and then writes them (a collection command reads its header, an
 * entry, then writes both) does not probe again: a put uses the node the
 * lookup found (or knows the key is absent from the active layer), a
 * second read is answered from the memo. A write of a key forgets that
 * key's entry only (no other key's answer changes); a freeze, a rollback or
 * a snapshot renewal forgets them all (memo.valid = 0). */
static memo_ent *memo_find(cairn_store *s, unsigned dbi, uint64_t h, const void *k, size_t kl) {
  if (!s->memo.valid) {
    for (int i = 0; i < MEMO_KEYS; i++) s->memo.e[i].used = 0;
    s->memo.valid = 1;
    return NULL;
  }
  for (int i = 0; i < MEMO_KEYS; i++) {
    memo_ent *e = &s->memo.e[i];
    if (e->used && e->h == h && e->dbi == dbi && e->klen == kl && memcmp(e->key, k, kl) == 0) return e;
  }
  return NULL;
}

/* The frozen layers newest first (the list runs oldest to newest): how many. */
static int frozen_newest_first(const cairn_store *s, layer **out) {
  int n = 0;
  for (layer *L = s->oldest; L && n < MAX_FROZEN; L = L->next) out[n++] = L;
  for (int i = 0; i < n / 2; i++) {
    layer *t = out[i];
    out[i] = out[n - 1 - i];
    out[n - 1 - i] = t;
  }
  return n;
}

static ov_node *layers_find_h(cairn_store *s, uint64_t h, MDB_dbi dbi, const void *k, size_t kl, memo_ent **memo) {
  ov_node *n = ov_find_h(s->active, h, dbi, k, kl);
  *memo = NULL;
  if (kl <= sizeof(s->memo.e[0].key)) {
    memo_ent *e = memo_find(s, dbi, h, k, kl);
    if (!e) {
      for (int i = 0; i < MEMO_KEYS && !e; i++)
        if (!s->memo.e[i].used) e = &s->memo.e[i];
      if (!e) {
        e = &s->memo.e[s->memo.next];
        s->memo.next = (s->memo.next + 1) % MEMO_KEYS;
      }
    }
    e->used = 1;
    e->have_result = 0;
    e->dbi = dbi;
    e->h = h;
    e->klen = kl;
    memcpy(e->key, k, kl);
    e->node = n;
    *memo = e;
  }
  if (n || !s->oldest) return n;
  /* frozen layers, newest first: the first match wins. A key rewritten
   * often is in most layers, and each probe that finds it reads its slot
   * and its node (two cache misses): oldest first, all of them were read. */
  layer *fz[MAX_FROZEN];
  int nf = frozen_newest_first(s, fz);
  for (int i = 0; i < nf; i++)
    if ((n = ov_find_h(fz[i]->ov, h, dbi, k, kl))) return n;
  return NULL;
}

static unsigned char *active_put(cairn_store *s, MDB_dbi dbi, const void *k, size_t kl, size_t vlen, int tomb) {
  uint64_t h = ov_hash(dbi, k, kl);
  memo_ent *e = kl <= sizeof(s->memo.e[0].key) ? memo_find(s, dbi, h, k, kl) : NULL;
  unsigned char *p = ov_put_h(s->active, h, e ? e->node : NULL, e && e->node == NULL, dbi, k, kl, vlen, tomb, NULL);
  if (e) e->used = 0;
  return p;
}

/* 0 (v filled) or MDB_NOTFOUND, or an LMDB error of the snapshot read. */
/* A command reads a key and then writes it (SET looks the old value up, then
 * put_in reads it again for its type and TTL): the second lookup is answered
 * from the memo. Pointers stay valid meanwhile (layers are append-only, the
 * snapshot does not move; cairn_elem_set's in-place rewrite forgets the
 * key's memo, and its callers hold no pointer to the old value). */
static int kv_get(cairn_store *s, MDB_dbi dbi, const MDB_val *k, MDB_val *v) {
  uint64_t h = ov_hash(dbi, k->mv_data, k->mv_size);
  memo_ent *e = k->mv_size <= sizeof(s->memo.e[0].key) ? memo_find(s, dbi, h, k->mv_data, k->mv_size) : NULL;
  if (e && e->have_result) {
    if (e->rc == 0) *v = e->v;
    return e->rc;
  }
  ov_node *n = layers_find_h(s, h, dbi, k->mv_data, k->mv_size, &e);
  int rc;
  if (n) {
    rc = ov_is_tomb(n) ? MDB_NOTFOUND : 0;
    if (rc == 0) {
      v->mv_data = (void *)n->val;
      v->mv_size = n->vlen;
    }
  } else {
    MDB_val kk = *k;
    rc = mdb_get(s->rtxn, dbi, &kk, v);
  }
  if ((rc == 0 || rc == MDB_NOTFOUND) && e) {
    e->have_result = 1;
    e->rc = rc;
    if (rc == 0) e->v = *v;
  }
  return rc;
}

/* The bytes every key of a dead range shares: a collection's id and space
 * (elems), else the physical db (keys, expires: its first two bytes). */
static size_t range_prefix(const cairn_store *s, unsigned dbi) { return dbi == s->elems ? 9 : 2; }

/* The set of slots for keys starting like k; NULL if k is shorter than the
 * prefix (no range holds it). */
static dead_range *range_group(cairn_store *s, unsigned dbi, const void *k, size_t kl) {
  size_t p = range_prefix(s, dbi);
  if (kl < p) return NULL;
  return &s->ranges[(ov_hash(dbi, k, p) % RANGE_GROUPS) * RANGE_WAYS];
}

static void range_invalidate(cairn_store *s, MDB_dbi dbi, const void *k, size_t kl) {
  dead_range *g = range_group(s, dbi, k, kl);
  if (!g) return;
  for (int i = 0; i < RANGE_WAYS; i++) {
    dead_range *r = &g[i];
    if (!r->used || r->dbi != dbi) continue;
    if (ov_cmp(dbi, r->lo, r->lolen, dbi, k, kl) <= 0 && ov_cmp(dbi, k, kl, dbi, r->hi, r->hilen) <= 0) {
      r->used = 0;
      s->nranges--;
    }
  }
}

/* Writes k in the active layer: a value of v->mv_size bytes, copied from
 * v->mv_data, or left for the caller to fill when reserve (v->mv_data is
 * then set to the area). */
static int kv_put(cairn_store *s, MDB_dbi dbi, const MDB_val *k, MDB_val *v, int reserve) {
  if (s->nranges) range_invalidate(s, dbi, k->mv_data, k->mv_size);
  unsigned char *p = active_put(s, dbi, k->mv_data, k->mv_size, v->mv_size, 0);
  if (!reserve && v->mv_size) memcpy(p, v->mv_data, v->mv_size);
  v->mv_data = p;
  return 0;
}

/* Writes a tombstone (whether or not k exists below). */
static void kv_tomb(cairn_store *s, MDB_dbi dbi, const void *k, size_t kl) { active_put(s, dbi, k, kl, 0, 1); }

/* 0 deleted, MDB_NOTFOUND absent. */
static int kv_del(cairn_store *s, MDB_dbi dbi, const MDB_val *k) {
  MDB_val v;
  int rc = kv_get(s, dbi, k, &v);
  if (rc) return rc;
  kv_tomb(s, dbi, k->mv_data, k->mv_size);
  return 0;
}

/* ---- merged cursor */

typedef struct kv_cursor {
  cairn_store *s;
  MDB_dbi dbi;
  MDB_cursor *base;
  int bok;                 /* base positioned on an entry */
  MDB_val bk, bv;
  int n;                   /* overlay layers, newest first; ov[0] is the active one */
  ov_layer *ov[MAX_FROZEN + 1];
  ov_pos pos[MAX_FROZEN + 1]; /* frozen layers' stay valid; the active one's until it gains a key */
  uint64_t ver;            /* version of the active layer when pos[0] was set */
  int dir;                 /* 1 forward, -1 backward */
  int have;
  const unsigned char *ck; /* the current entry */
  size_t ckl;
  MDB_val cv;
} kv_cursor;

static int kv_cursor_open(cairn_store *s, MDB_dbi dbi, kv_cursor **out) {
  kv_cursor *c = cairn_xcalloc(1, sizeof(*c));
  int rc = mdb_cursor_open(s->rtxn, dbi, &c->base);
  if (rc) {
    free(c);
    return rc;
  }
  c->s = s;
  c->dbi = dbi;
  c->ov[c->n++] = s->active;
  layer *fz[MAX_FROZEN];
  int nf = frozen_newest_first(s, fz);
  for (int i = 0; i < nf; i++) c->ov[c->n++] = fz[i]->ov;
  s->open_cursors++;
  *out = c;
  return 0;
}

static void kv_cursor_close(kv_cursor *c) {
  if (!c) return;
  mdb_cursor_close(c->base);
  c->s->open_cursors--;
  free(c);
}

static inline int in_dbi(const kv_cursor *c, const ov_node *n) { return n && n->dbi == c->dbi; }

enum { SEEK_GE, SEEK_GT, SEEK_LE, SEEK_LT };

static ov_pos ov_seek_mode(ov_layer *L, unsigned dbi, const void *k, size_t kl, int mode) {
  switch (mode) {
  case SEEK_GE: return ov_seek_ge(L, dbi, k, kl);
  case SEEK_GT: return ov_seek_gt(L, dbi, k, kl);
  case SEEK_LE: return ov_seek_le(L, dbi, k, kl);
  default: return ov_seek_lt(L, dbi, k, kl);
  }
}

/* Positions the base cursor; k == NULL: the first (GE) or last (LE/LT) entry. */
static int base_seek(kv_cursor *c, const void *k, size_t kl, int mode) {
  int rc;
  if (!k || !kl) {
    rc = mdb_cursor_get(c->base, &c->bk, &c->bv, mode == SEEK_GE || mode == SEEK_GT ? MDB_FIRST : MDB_LAST);
  } else {
    c->bk.mv_data = (void *)k;
    c->bk.mv_size = kl;
    rc = mdb_cursor_get(c->base, &c->bk, &c->bv, MDB_SET_RANGE);
    if (rc == 0) {
      int cmp = ov_cmp(0, c->bk.mv_data, c->bk.mv_size, 0, k, kl);
      if (mode == SEEK_GT && cmp == 0) rc = mdb_cursor_get(c->base, &c->bk, &c->bv, MDB_NEXT);
      else if ((mode == SEEK_LE && cmp > 0) || mode == SEEK_LT)
        rc = mdb_cursor_get(c->base, &c->bk, &c->bv, MDB_PREV);
    } else if (rc == MDB_NOTFOUND && (mode == SEEK_LE || mode == SEEK_LT)) {
      rc = mdb_cursor_get(c->base, &c->bk, &c->bv, MDB_LAST);
    }
  }
  c->bok = rc == 0;
  return rc == MDB_NOTFOUND ? 0 : rc;
}

static void range_record(cairn_store *s, unsigned dbi, const void *lo, size_t lolen, const void *hi, size_t hilen) {
  if (lolen > RANGE_KEY || hilen > RANGE_KEY) return;
  size_t p = range_prefix(s, dbi);
  if (lolen < p || hilen < p || memcmp(lo, hi, p) != 0) return; /* (across prefixes: not kept) */
  dead_range *g = range_group(s, dbi, lo, lolen);
  /* extend a range it touches */
  for (int i = 0; i < RANGE_WAYS; i++) {
    dead_range *r = &g[i];
    if (!r->used || r->dbi != dbi) continue;
    if (ov_cmp(dbi, lo, lolen, dbi, r->hi, r->hilen) <= 0 && ov_cmp(dbi, r->lo, r->lolen, dbi, hi, hilen) <= 0) {
      if (ov_cmp(dbi, lo, lolen, dbi, r->lo, r->lolen) < 0) {
        memmove(r->lo, lo, lolen);
        r->lolen = lolen;
      }
      if (ov_cmp(dbi, hi, hilen, dbi, r->hi, r->hilen) > 0) {
        memmove(r->hi, hi, hilen);
        r->hilen = hilen;
      }
      r->last_use = ++s->range_clock;
      return;
    }
  }
  /* a free slot, else the least recently used: a hot queue's run stays
   * while the set's other slots turn over */
  dead_range *r = &g[0];
  for (int i = 1; i < RANGE_WAYS && r->used; i++)
    if (!g[i].used || g[i].last_use < r->last_use) r = &g[i];
  if (!r->used) s->nranges++;
  r->used = 1;
  r->last_use = ++s->range_clock;
  r->dbi = dbi;
  memcpy(r->lo, lo, lolen);
  r->lolen = lolen;
  memcpy(r->hi, hi, hilen);
  r->hilen = hilen;
}

static const dead_range *range_find(cairn_store *s, unsigned dbi, const void *k, size_t kl) {
  if (!s->nranges) return NULL;
  dead_range *g = range_group(s, dbi, k, kl);
  if (!g) return NULL;
  for (int i = 0; i < RANGE_WAYS; i++) {
    dead_range *r = &g[i];
    if (r->used && r->dbi == dbi && ov_cmp(dbi, r->lo, r->lolen, dbi, k, kl) <= 0 &&
        ov_cmp(dbi, k, kl, dbi, r->hi, r->hilen) <= 0) {
      r->last_use = ++s->range_clock;
      return r;
    }
  }
  return NULL;
}

/* Settles on the next live entry in the cursor's direction, skipping
 * tombstones. from/fromlen: where the move started (recorded with the
 * skipped tombstones as a dead range). 0, MDB_NOTFOUND, or an error. */
static int kv_resolve(kv_cursor *c, const void *from, size_t fromlen) {
  const unsigned char *first_skip = NULL, *last_skip = NULL;
  size_t first_len = 0, last_len = 0;
  int rc = 0;
  for (;;) {
    /* the best candidate: smallest key forward, largest backward; on a tie
     * the newest layer (lowest index) wins, the base last */
    int best = -2; /* -2 none, -1 base, i overlay */
    const unsigned char *bk = NULL;
    size_t bl = 0;
    for (int i = 0; i < c->n; i++) {
      ov_node *p = ov_at(c->pos[i]);
      if (!in_dbi(c, p)) continue;
      if (best == -2 || c->dir * ov_cmp(0, ov_key(p), p->klen, 0, bk, bl) < 0) {
        best = i;
        bk = ov_key(p);
        bl = p->klen;
      }
    }
    if (c->bok && (best == -2 || c->dir * ov_cmp(0, c->bk.mv_data, c->bk.mv_size, 0, bk, bl) < 0)) {
      best = -1;
      bk = c->bk.mv_data;
      bl = c->bk.mv_size;
    }
    if (best == -2) {
      c->have = 0;
      rc = MDB_NOTFOUND;
      break;
    }
    if (best >= 0 && ov_is_tomb(ov_at(c->pos[best]))) {
      c->s->tombs_skipped++;
      if (!first_skip) {
        first_skip = bk;
        first_len = bl;
      }
      last_skip = bk;
      last_len = bl;
      /* step every source standing on this key */
      for (int i = 0; i < c->n; i++) {
        ov_node *p = ov_at(c->pos[i]);
        if (in_dbi(c, p) && ov_cmp(0, ov_key(p), p->klen, 0, bk, bl) == 0)
          c->pos[i] = c->dir > 0 ? ov_pos_next(c->pos[i]) : ov_pos_prev(c->pos[i]);
      }
      if (c->bok && ov_cmp(0, c->bk.mv_data, c->bk.mv_size, 0, bk, bl) == 0) {
        int r = mdb_cursor_get(c->base, &c->bk, &c->bv, c->dir > 0 ? MDB_NEXT : MDB_PREV);
        c->bok = r == 0;
        if (r && r != MDB_NOTFOUND) return r;
      }
      continue;
    }
    c->have = 1;
    c->ck = bk;
    c->ckl = bl;
    if (best >= 0) {
      ov_node *w = ov_at(c->pos[best]);
      c->cv.mv_data = (void *)w->val;
      c->cv.mv_size = w->vlen;
    } else {
      c->cv = c->bv;
    }
    break;
  }
  if (last_skip) {
    /* everything from the start of the move to the last tombstone is gone */
    const void *a = from ? from : first_skip, *b = last_skip;
    size_t al = from ? fromlen : first_len, bl = last_len;
    if (c->dir < 0) {
      a = last_skip;
      al = last_len;
      b = from ? from : first_skip;
      bl = from ? fromlen : first_len;
    }
    range_record(c->s, c->dbi, a, al, b, bl);
  }
  return rc;
}

/* Seeks in mode (SEEK_GE/GT forward, SEEK_LE/LT backward); k NULL or empty:
 * the first (forward) or the last (backward) entry of the dbi. */
static int kv_seek(kv_cursor *c, const void *k, size_t kl, int mode) {
  unsigned char last[1];
  c->dir = mode == SEEK_GE || mode == SEEK_GT ? 1 : -1;
  /* GE/LE include k: no live key lies between it and the first tombstone */
  const void *from = mode == SEEK_GE || mode == SEEK_LE ? k : NULL;
  size_t fromlen = from ? kl : 0;
  const dead_range *r = k && kl ? range_find(c->s, c->dbi, k, kl) : NULL;
  if (r) {
    c->s->range_jumps++;
    if (c->dir > 0) {
      from = r->lo;
      fromlen = r->lolen;
      k = r->hi;
      kl = r->hilen;
      mode = SEEK_GT;
    } else {
      from = r->hi;
      fromlen = r->hilen;
      k = r->lo;
      kl = r->lolen;
      mode = SEEK_LT;
    }
  }
  for (int i = 0; i < c->n; i++) {
    if (k && kl) {
      c->pos[i] = ov_seek_mode(c->ov[i], c->dbi, k, kl, mode);
    } else if (c->dir > 0) {
      c->pos[i] = ov_seek_ge(c->ov[i], c->dbi, last, 0);
    } else {
      c->pos[i] = ov_seek_lt(c->ov[i], c->dbi + 1, last, 0);
    }
  }
  c->ver = ov_layer_version(c->ov[0]);
  int rc = base_seek(c, k, kl, mode);
  if (rc) return rc;
  /* a range jump: remember the range's edge as this move's start, so the
   * tombstones found next extend the same range */
  return kv_resolve(c, from, from ? fromlen : 0);
}

/* Moves one live entry in the cursor's direction (after writes in between:
 * the active layer is looked up again from the current key). */
static int kv_step(kv_cursor *c) {
  if (!c->have) return MDB_NOTFOUND;
  const unsigned char *ck = c->ck;
  size_t ckl = c->ckl;
  int fwd = c->dir > 0;
  for (int i = 0; i < c->n; i++) {
    if (i == 0 && ov_layer_version(c->ov[0]) != c->ver) {
      c->pos[0] = fwd ? ov_seek_gt(c->ov[0], c->dbi, ck, ckl) : ov_seek_lt(c->ov[0], c->dbi, ck, ckl);
      c->ver = ov_layer_version(c->ov[0]);
      continue;
    }
    ov_node *p = ov_at(c->pos[i]);
    if (in_dbi(c, p) && ov_cmp(0, ov_key(p), p->klen, 0, ck, ckl) == 0)
      c->pos[i] = fwd ? ov_pos_next(c->pos[i]) : ov_pos_prev(c->pos[i]);
  }
  if (c->bok && ov_cmp(0, c->bk.mv_data, c->bk.mv_size, 0, ck, ckl) == 0) {
    int r = mdb_cursor_get(c->base, &c->bk, &c->bv, fwd ? MDB_NEXT : MDB_PREV);
    c->bok = r == 0;
    if (r && r != MDB_NOTFOUND) return r;
  }
  return kv_resolve(c, NULL, 0);
}

/* The current entry: 0, or MDB_NOTFOUND when the cursor is off the end. */
static int kv_current(const kv_cursor *c, MDB_val *k, MDB_val *v) {
  if (!c->have) return MDB_NOTFOUND;
  k->mv_data = (void *)c->ck;
  k->mv_size = c->ckl;
  if (v) *v = c->cv;
  return 0;
}

/* Deletes the current entry; the next kv_step goes on after it. */
static void kv_cursor_del(kv_cursor *c) {
  if (c->have) kv_tomb(c->s, c->dbi, c->ck, c->ckl);
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

/* snprintf for messages that may be cut (paths in them) */
static void msgf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *out, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, len, fmt, ap);
  va_end(ap);
}

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
  msgf(s->errstr, sizeof(s->errstr), "cannot reserve %llu bytes for the LMDB data file %s: %s",
       (unsigned long long)bytes, s->path, strerror(rc));
  return -1;
}

static void *store_thread(void *arg);
static void *run_writer_thread(void *arg);
static void readers_start(cairn_store *s, int n);
static void readers_stop(cairn_store *s);
static void free_layers(struct layer *L);
static void end_unmapping(cairn_store *s);

/* ------------------------------------------------------------ run files
 *
 * A frozen layer, written to <dir>/store/layer-<seq>.run by the store
 * thread while it waits for its merge into LMDB: a restart loads the runs
 * that continue LMDB's state instead of replaying their part of the
 * backlog through the commands (docs/DURABILITY.md "Run files"). A run is
 * never the only copy of anything: it is written only once the backlog is
 * synced past its offset (like a drain), the backlog keeps everything
 * after LMDB's own offset, and a run that is missing, torn or corrupt ends
 * the chain there: the backlog replays the rest.
 *
 * Layout (little-endian):
 *   header  "CAIRNRUN" u32 version, u8 dbis[8] (the LMDB handles of keys,
 *           expires, meta, elems, dead), u64 base (the offset of the state
 *           it applies to), u64 offset (the state it ends at), u64 prev_seq
 *           (the layer that made the state it applies to: the chain; two
 *           layers may end at the same offset), u64 seq (its own number,
 *           also in its meta record "seq": LMDB knows the last it holds)
 *   entries u8 dbi, u8 tombstone, u16 key length, u32 value length, key,
 *           value (key order, as in the layer)
 *   trailer "CAIRNEND" u64 entries, u32 crc32c of every byte before it */
#define RUN_MAGIC "CAIRNRUN"
#define RUN_END "CAIRNEND"
#define RUN_VERSION 1
#define RUN_HDR 52
#define RUN_TRAILER 20

static void run_path(const cairn_store *s, uint64_t seq, const char *suffix, char *out, size_t len) {
  msgf(out, len, "%s/layer-%016llx.run%s", s->dir, (unsigned long long)seq, suffix);
}

static void run_dbis(const cairn_store *s, unsigned char d[8]) {
  memset(d, 0, 8);
  d[0] = (unsigned char)s->keys;
  d[1] = (unsigned char)s->expires;
  d[2] = (unsigned char)s->meta;
  d[3] = (unsigned char)s->elems;
  d[4] = (unsigned char)s->dead;
}

typedef struct run_writer {
  int fd;
  uint32_t crc;
  unsigned char buf[1 << 20];
  size_t n;
  int err;
} run_writer;

static void rw_flush(run_writer *w) {
  size_t off = 0;
  while (!w->err && off < w->n) {
    ssize_t k = write(w->fd, w->buf + off, w->n - off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) w->err = errno;
    else off += (size_t)k;
  }
  w->n = 0;
}

static void rw_put(run_writer *w, const void *p, size_t len) {
  w->crc = cairn_crc32c(w->crc, p, len);
  while (len && !w->err) {
    if (w->n == sizeof(w->buf)) rw_flush(w);
    size_t k = sizeof(w->buf) - w->n < len ? sizeof(w->buf) - w->n : len;
    memcpy(w->buf + w->n, p, k);
    w->n += k;
    p = (const unsigned char *)p + k;
    len -= k;
  }
}

/* Writes L's run file (temporary name, synced, renamed, directory synced).
 * On the run writer's thread, without mu (L is pinned). 0, or -1 with
 * spill_err set; -1 with nothing said when the store is closing. */
static int spill_layer(cairn_store *s, layer *L) {
  char tmp[4200], path[4200];
  run_path(s, L->meta->seq, ".tmp", tmp, sizeof(tmp));
  run_path(s, L->meta->seq, "", path, sizeof(path));
  run_writer *w = cairn_xmalloc(sizeof(*w));
  w->crc = 0;
  w->n = 0;
  w->err = cairn_fault(CAIRN_FAULT_STORE_SPILL);
  w->fd = w->err ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!w->err && w->fd < 0) w->err = errno;
  const char *what = "writing";
  if (!w->err) {
    unsigned char h[RUN_HDR];
    memcpy(h, RUN_MAGIC, 8);
    wr32le(h + 8, RUN_VERSION);
    run_dbis(s, h + 12);
    wr64le(h + 20, L->base);
    wr64le(h + 28, L->meta->offset);
    wr64le(h + 36, L->prev_seq);
    wr64le(h + 44, L->meta->seq);
    rw_put(w, h, sizeof(h));
    uint64_t count = 0;
    for (ov_pos p = ov_first(L->ov); ov_at(p) && !w->err; p = ov_pos_next(p), count++) {
      if ((count & 4095) == 0 && __atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
        w->err = ECANCELED; /* closing: the backlog has it all */
        break;
      }
      ov_node *n = ov_at(p);
      unsigned char e[8];
      e[0] = n->dbi;
      e[1] = ov_is_tomb(n);
      wr16le(e + 2, n->klen);
      wr32le(e + 4, (uint32_t)(ov_is_tomb(n) ? 0 : n->vlen));
      rw_put(w, e, 8);
      rw_put(w, ov_key(n), n->klen);
      if (!ov_is_tomb(n)) rw_put(w, n->val, n->vlen);
    }
    unsigned char t[RUN_TRAILER];
    memcpy(t, RUN_END, 8);
    wr64le(t + 8, count);
    rw_put(w, t, 16);
    wr32le(t + 16, w->crc);
    w->crc = 0;
    rw_put(w, t + 16, 4);
    rw_flush(w);
    if (!w->err && fdatasync(w->fd) != 0) {
      w->err = errno;
      what = "syncing";
    }
  }
  if (w->fd >= 0 && close(w->fd) != 0 && !w->err) w->err = errno;
  if (!w->err && rename(tmp, path) != 0) {
    w->err = errno;
    what = "renaming";
  }
  if (!w->err) {
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
      w->err = errno;
      what = "syncing the directory of";
    }
    if (dfd >= 0) close(dfd);
  }
  int err = w->err;
  free(w);
  if (!err) return 0;
  unlink(tmp);
  if (err == ECANCELED) return -1;
  pthread_mutex_lock(&s->mu);
  msgf(s->spill_err, sizeof(s->spill_err), "%s run file %s: %s", what, path, strerror(err));
  pthread_mutex_unlock(&s->mu);
  return -1;
}

/* The three meta records a checkpoint puts in its layer (and LMDB holds for
 * the committed state) into m. NULL vals are absent records. */
static int meta_load(meta_state *m, const MDB_val *state, const MDB_val *offset, const MDB_val *colls,
                     const MDB_val *seq, int databases) {
  memset(m, 0, sizeof(*m));
  if (!state) {
    m->databases = databases;
    for (int i = 0; i < databases; i++) m->db[i].phys = (uint16_t)i;
    m->next_phys = (uint16_t)databases;
  } else if (meta_parse(m, state->mv_data, state->mv_size, databases) != 0) {
    return -1;
  }
  if (offset && offset->mv_size == 8) m->offset = rd64le(offset->mv_data);
  if (seq && seq->mv_size == 8) m->seq = rd64le(seq->mv_data);
  m->next_coll = 1;
  if (colls && colls->mv_size == 16) {
    m->next_coll = rd64le(colls->mv_data);
    m->dead_colls = rd64le((const unsigned char *)colls->mv_data + 8);
  }
  return 0;
}

/* A full sync was being loaded when the process stopped: its half-loaded
 * dbs are swept like flushed ones; the data served before stays. */
static void meta_drop_loading(meta_state *m) {
  for (int i = 0; i < m->nloading && m->ngarbage < MAX_GARBAGE; i++) m->garbage[m->ngarbage++] = m->loading[i].phys;
  m->nloading = 0;
}

/* Reads one run file into a new layer. NULL with why set when it is not a
 * whole, intact run of this store. */
static layer *load_run(cairn_store *s, const char *path, uint64_t *base, uint64_t *offset, uint64_t *prev_seq,
                       uint64_t *seq, char *why, size_t whylen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    msgf(why, whylen, "%s", strerror(errno));
    if (fd >= 0) close(fd);
    return NULL;
  }
  size_t len = (size_t)st.st_size;
  if (len < RUN_HDR + RUN_TRAILER) {
    close(fd);
    msgf(why, whylen, "%zu bytes, shorter than a header and a trailer (torn)", len);
    return NULL;
  }
  unsigned char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    msgf(why, whylen, "mmap: %s", strerror(errno));
    return NULL;
  }
  madvise(p, len, MADV_SEQUENTIAL);
  layer *L = NULL;
  unsigned char d[8];
  run_dbis(s, d);
  const unsigned char *t = p + len - RUN_TRAILER;
  if (memcmp(p, RUN_MAGIC, 8) != 0 || rd32le(p + 8) != RUN_VERSION) {
    msgf(why, whylen, "not a run file of this version");
  } else if (memcmp(p + 12, d, 8) != 0) {
    msgf(why, whylen, "written for other LMDB handles");
  } else if (memcmp(t, RUN_END, 8) != 0) {
    msgf(why, whylen, "no trailer (torn)");
  } else if (cairn_crc32c(0, p, len - 4) != rd32le(t + 16)) {
    msgf(why, whylen, "checksum mismatch");
  } else {
    *base = rd64le(p + 20);
    *offset = rd64le(p + 28);
    *prev_seq = rd64le(p + 36);
    *seq = rd64le(p + 44);
    uint64_t count = rd64le(t + 8), n = 0;
    ov_layer *ov = ov_layer_new();
    if (count < len / 8) ov_layer_reserve(ov, (size_t)count);
    const unsigned char *q = p + RUN_HDR, *end = t, *prev = NULL;
    int bad = 0;
    while (q < end) {
      if (end - q < 8) { bad = 1; break; }
      unsigned dbi = q[0];
      int tomb = q[1];
      size_t kl = rd16le(q + 2), vl = rd32le(q + 4);
      if ((size_t)(end - q - 8) < kl + vl || dbi >= 16) { bad = 1; break; }
      /* strictly ascending, as a layer is: each key is new to the layer */
      if (prev && ov_cmp(prev[0], prev + 8, rd16le(prev + 2), dbi, q + 8, kl) >= 0) { bad = 1; break; }
      int created;
      unsigned char *v = ov_put_h(ov, ov_hash(dbi, q + 8, kl), NULL, 1, dbi, q + 8, kl, vl, tomb, &created);
      if (!tomb) memcpy(v, q + 8 + kl, vl);
      prev = q;
      q += 8 + kl + vl;
      n++;
    }
    if (bad || n != count) {
      msgf(why, whylen, "entries do not match the trailer or are out of order");
      ov_layer_free(ov);
    } else {
      L = cairn_xcalloc(1, sizeof(*L));
      L->ov = ov;
      L->base = *base;
      L->prev_seq = *prev_seq;
      L->spilled = 1;
      L->meta = cairn_xmalloc(sizeof(meta_state));
    }
  }
  munmap(p, len);
  return L;
}

static int run_name_seq(const char *name, uint64_t *off) {
  unsigned long long v;
  char tail[8];
  if (strlen(name) != 6 + 16 + 4 || sscanf(name, "layer-%16llx%7s", &v, tail) != 2 || strcmp(tail, ".run") != 0)
    return 0;
  *off = v;
  return 1;
}

/* L becomes the newest frozen layer (under mu once the thread runs). */
static void push_frozen(cairn_store *s, layer *L) {
  ov_layer_seal(L->ov); /* before anyone else reads it, and before its bytes are counted */
  if (s->newest)
    s->newest->next = L;
  else
    s->oldest = L;
  s->newest = L;
  s->nfrozen++;
  s->frozen_bytes += ov_layer_bytes(L->ov);
}

/* Run files are read and checked by a few threads at once (each run is a
 * layer of its own; parsing them is the restart's main cost); the chain is
 * then checked in order. */
typedef struct run_load {
  cairn_store *s;
  char path[4200];
  layer *L;
  uint64_t base, off, prev_seq, seq;
  char why[256];
} run_load;

typedef struct run_loader {
  run_load *jobs;
  int n, next;
  pthread_mutex_t mu;
} run_loader;

static void *run_load_worker(void *arg) {
  run_loader *rl = arg;
  for (;;) {
    pthread_mutex_lock(&rl->mu);
    int i = rl->next++;
    pthread_mutex_unlock(&rl->mu);
    if (i >= rl->n) return NULL;
    run_load *j = &rl->jobs[i];
    j->L = load_run(j->s, j->path, &j->base, &j->off, &j->prev_seq, &j->seq, j->why, sizeof(j->why));
  }
}

static void load_runs_parallel(run_load *jobs, int n) {
  run_loader rl = {.jobs = jobs, .n = n, .next = 0};
  pthread_mutex_init(&rl.mu, NULL);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int nt = cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
  if (nt > n) nt = n;
  pthread_t th[4];
  int started = 0;
  for (int i = 1; i < nt; i++)
    if (pthread_create(&th[started], NULL, run_load_worker, &rl) == 0) started++;
  run_load_worker(&rl);
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
  pthread_mutex_destroy(&rl.mu);
}

/* At open, before the thread starts: the runs that continue LMDB's state
 * (base = LMDB's offset, then each next one's base = the previous offset)
 * become frozen layers; every other run file (merged already, cut off by a
 * bad one, temporary) is deleted. What it did goes to open_report. */
static int load_runs(cairn_store *s, int databases) {
  DIR *d = opendir(s->dir);
  if (!d) return 0;
  uint64_t seqs[4096];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    uint64_t seq;
    size_t nl = strlen(e->d_name);
    if (run_name_seq(e->d_name, &seq) && n < 4096) {
      seqs[n++] = seq;
    } else if (nl > 8 && strncmp(e->d_name, "layer-", 6) == 0 && strcmp(e->d_name + nl - 4, ".tmp") == 0) {
      char path[4400];
      msgf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
      unlink(path);
    }
  }
  closedir(d);
  /* in the order they were frozen: the chain goes upwards */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && seqs[j - 1] > seqs[j]; j--) {
      uint64_t x = seqs[j];
      seqs[j] = seqs[j - 1];
      seqs[j - 1] = x;
    }
  int64_t t0 = cairn_ustime();
  uint64_t at = s->committed.offset, at_seq = s->committed.seq, entries = 0;
  int loaded = 0, dropped = 0;
  char stop[700] = "";
  run_load *jobs = cairn_xcalloc((size_t)n + 1, sizeof(*jobs));
  int first = 0;
  while (first < n && seqs[first] <= at_seq) first++;
  for (int i = first; i < n; i++) {
    jobs[i].s = s;
    run_path(s, seqs[i], "", jobs[i].path, sizeof(jobs[i].path));
  }
  load_runs_parallel(jobs + first, n - first);
  for (int i = 0; i < n; i++) {
    char path[4200];
    run_path(s, seqs[i], "", path, sizeof(path));
    if (loaded == MAX_FROZEN - 8 && seqs[i] > at_seq && !stop[0]) /* room for the replay's own layers */
      msgf(stop, sizeof(stop), "%s: %d runs loaded, the most open takes; the backlog replays from offset %llu",
           path, loaded, (unsigned long long)at + 1);
    if (seqs[i] <= at_seq || stop[0]) { /* merged into LMDB already, or past a break in the chain */
      if (jobs[i].L) free_layers(jobs[i].L);
      unlink(path);
      dropped++;
      continue;
    }
    uint64_t base = jobs[i].base, off = jobs[i].off;
    char why[256];
    snprintf(why, sizeof(why), "%s", jobs[i].why);
    layer *L = jobs[i].L;
    if (L && (jobs[i].prev_seq != at_seq || base != at || jobs[i].seq != seqs[i])) {
      msgf(why, sizeof(why), "it continues layer %llu at offset %llu, not layer %llu at offset %llu",
           (unsigned long long)jobs[i].prev_seq, (unsigned long long)base, (unsigned long long)at_seq,
           (unsigned long long)at);
      free_layers(L);
      L = NULL;
    }
    if (L) {
      ov_node *st = ov_find(L->ov, s->meta, "state", 5), *of = ov_find(L->ov, s->meta, "offset", 6),
              *co = ov_find(L->ov, s->meta, "colls", 5), *sq = ov_find(L->ov, s->meta, "seq", 3);
      MDB_val sv = {0, NULL}, ovv = {0, NULL}, cv = {0, NULL}, qv = {0, NULL};
      if (st && !ov_is_tomb(st)) sv = (MDB_val){st->vlen, (void *)st->val};
      if (of && !ov_is_tomb(of)) ovv = (MDB_val){of->vlen, (void *)of->val};
      if (co && !ov_is_tomb(co)) cv = (MDB_val){co->vlen, (void *)co->val};
      if (sq && !ov_is_tomb(sq)) qv = (MDB_val){sq->vlen, (void *)sq->val};
      if (!sv.mv_data || !ovv.mv_data || !qv.mv_data ||
          meta_load(L->meta, &sv, &ovv, cv.mv_data ? &cv : NULL, &qv, databases) != 0 || L->meta->offset != off ||
          L->meta->seq != seqs[i]) {
        msgf(why, sizeof(why), "its keyspace state record is missing or corrupt");
        free_layers(L);
        L = NULL;
      }
    }
    if (!L) {
      msgf(stop, sizeof(stop), "%s: %s; the backlog replays from offset %llu", path, why, (unsigned long long)at + 1);
      unlink(path);
      dropped++;
      continue;
    }
    push_frozen(s, L);
    s->runs_on_disk++;
    entries += ov_layer_entries(L->ov);
    at = off;
    at_seq = seqs[i];
    loaded++;
  }
  /* new layers are numbered after every run seen, loaded or not */
  s->next_seq = at_seq;
  for (int i = 0; i < n; i++)
    if (seqs[i] > s->next_seq) s->next_seq = seqs[i];
  free(jobs);
  if (loaded || dropped)
    msgf(s->open_report, sizeof(s->open_report),
         "%d run file(s) loaded (%llu entries, offsets up to %llu) in %lld ms, %d deleted%s%s", loaded,
         (unsigned long long)entries, (unsigned long long)at, (long long)(cairn_ustime() - t0) / 1000, dropped,
         stop[0] ? "; stopped at " : "", stop);
  if (s->newest) {
    s->cur = *s->newest->meta;
    s->layer_seq++;
  }
  return loaded;
}

int cairn_store_open(const char *dir, const cairn_store_options *opt, cairn_store **out, char *err,
                     size_t errlen) {
  cairn_store *s = cairn_xcalloc(1, sizeof(*s));
  pthread_rwlockattr_t rwa; /* a remap waits for the readers' jobs, not for a stream of new ones */
  pthread_rwlockattr_init(&rwa);
  pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&s->map_lock, &rwa);
  pthread_rwlockattr_destroy(&rwa);
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
  msgf(s->path, sizeof(s->path), "%s/data.mdb", path);
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
  MDB_val k = {5, "state"}, v, ov, cv;
  rc = mdb_get(t, s->meta, &k, &v);
  if (rc && rc != MDB_NOTFOUND) {
    mdb_txn_abort(t);
    goto lmdb_fail;
  }
  MDB_val ok = {6, "offset"}, ck = {5, "colls"}, qk = {3, "seq"}, qv;
  int has_state = rc == 0, has_off = mdb_get(t, s->meta, &ok, &ov) == 0, has_colls = mdb_get(t, s->meta, &ck, &cv) == 0;
  int has_seq = mdb_get(t, s->meta, &qk, &qv) == 0;
  if (meta_load(&s->cur, has_state ? &v : NULL, has_off ? &ov : NULL, has_colls ? &cv : NULL, has_seq ? &qv : NULL,
                databases) != 0) {
    mdb_txn_abort(t);
    snprintf(err, errlen, "%s: corrupt keyspace state record", path);
    mdb_env_close(s->env);
    free(s);
    return -1;
  }
  if ((rc = mdb_txn_commit(t))) goto lmdb_fail;
  meta_drop_loading(&s->cur);
  s->committed = s->cur;
  msgf(s->dir, sizeof(s->dir), "%s", path);
  s->merge_bytes = opt->merge_bytes;
  s->urgent_bytes = opt->urgent_bytes;
  s->gather_after_us = opt->gather_after_us;
  s->drain_hook = opt->drain_hook;
  s->drain_hook_ud = opt->drain_hook_ud;
  s->next_seq = s->committed.seq;
  load_runs(s, databases);
  for (layer *L = s->oldest; L; L = L->next) L->frozen_ms = cairn_monotonic_ms();
  if (s->newest) {
    meta_drop_loading(s->newest->meta);
    s->cur = *s->newest->meta;
  }
  /* Keep every stored db reachable; refuse to silently hide data. */
  for (int i = databases; i < s->cur.databases; i++) {
    if (s->cur.db[i].keys) {
      snprintf(err, errlen, "%s: database %d holds keys but 'databases' is %d", path, i, databases);
      free_layers(s->oldest);
      mdb_env_close(s->env);
      free(s);
      return -1;
    }
  }
  if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn))) goto lmdb_fail;
  s->active = ov_layer_new();
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_cond_init(&s->done_cv, NULL);
  pthread_mutex_init(&s->dmu, NULL);
  pthread_cond_init(&s->dcv, NULL);
  readers_start(s, opt->reader_threads);
  s->readers_started = 1;
  if ((rc = pthread_create(&s->thread, NULL, store_thread, s)) != 0) {
    snprintf(err, errlen, "cannot start the store thread: %s", strerror(rc));
    readers_stop(s);
    mdb_txn_abort(s->rtxn);
    ov_layer_free(s->active);
    mdb_env_close(s->env);
    free(s);
    return -1;
  }
  s->thread_started = 1;
  if ((rc = pthread_create(&s->run_thread, NULL, run_writer_thread, s)) != 0) {
    snprintf(err, errlen, "cannot start the run writer thread: %s", strerror(rc));
    cairn_store_close(s);
    return -1;
  }
  s->run_thread_started = 1;
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
  end_unmapping(s);
  if (s->thread_started) {
    /* the layer being drained finishes; the others are left to the WAL */
    pthread_mutex_lock(&s->mu);
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    if (s->run_thread_started) pthread_join(s->run_thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->done_cv);
  }
  if (s->readers_started) readers_stop(s); /* after the store thread: its merges use them */
  defer_free(s);
  free_layers(s->to_free);
  free_layers(s->pinned);
  free_layers(s->oldest);
  ov_layer_free(s->active);
  if (s->rtxn) mdb_txn_abort(s->rtxn);
  mdb_env_close(s->env);
  pthread_rwlock_destroy(&s->map_lock);
  free(s);
}

/* ------------------------------------------------------------ readers */

int cairn_store_readjob_add(cairn_store *s, cairn_store_readjob *j, int db, cairn_str key) {
  if (j->n >= CAIRN_STORE_READJOB_KEYS) return -1;
  cairn_buf_reserve(&j->keys, MAX_ENCODED_KEY);
  size_t n = cairn_store_encode_key(s->cur.db[db].phys, key.p, key.len, (unsigned char *)j->keys.p + j->keys.len);
  j->keys.len += n;
  j->dbis[j->n] = (uint8_t)s->keys;
  j->lens[j->n++] = (uint16_t)n;
  return 0;
}

int cairn_store_read_submit(cairn_store *s, cairn_store_readjob *j) {
  if (!s->nreaders) return -1;
  j->next = NULL;
  j->found = 0;
  j->looked = 0;
  pthread_mutex_lock(&s->rmu);
  if (s->rtail)
    s->rtail->next = j;
  else
    s->rhead = j;
  s->rtail = j;
  pthread_cond_signal(&s->rcv);
  pthread_mutex_unlock(&s->rmu);
  return 0;
}

uint64_t cairn_store_reader_faults(cairn_store *s) { return __atomic_load_n(&s->reader_faults, __ATOMIC_RELAXED); }
int cairn_store_reader_threads(const cairn_store *s) { return s->nreaders; }
/* Whether the next merge reads ahead. */
static int readahead_next(cairn_store *s) {
  int mode = __atomic_load_n(&s->ra_mode, __ATOMIC_RELAXED);
  return mode == 1 || (mode == 0 && __atomic_load_n(&s->ra_on, __ATOMIC_RELAXED));
}

void cairn_store_set_readahead(cairn_store *s, int mode) { __atomic_store_n(&s->ra_mode, mode, __ATOMIC_RELAXED); }

uint64_t cairn_store_readahead_keys(cairn_store *s, int *on) {
  *on = readahead_next(s) && s->nreaders;
  return __atomic_load_n(&s->ra_keys, __ATOMIC_RELAXED);
}

/* A reader thread: looks up each job's keys in its own read transaction
 * (renewed per job, under the map lock) and reads a byte of every page of
 * their values (big values live on overflow pages). */
typedef struct reader_arg {
  cairn_store *s;
  int self;
} reader_arg;

static void *reader_thread(void *arg) {
  cairn_store *s = ((reader_arg *)arg)->s;
  int self = ((reader_arg *)arg)->self;
  free(arg);
  MDB_txn *txn = NULL;
  pthread_rwlock_rdlock(&s->map_lock);
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc == 0) mdb_txn_reset(txn);
  pthread_rwlock_unlock(&s->map_lock);
  uint64_t faults = cairn_thread_major_faults();
  pthread_mutex_lock(&s->rmu);
  for (;;) {
    while (!s->rstop && !s->rhead) pthread_cond_wait(&s->rcv, &s->rmu);
    if (s->rstop) break;
    cairn_store_readjob *j = s->rhead;
    s->rhead = j->next;
    if (!s->rhead) s->rtail = NULL;
    s->rinflight[self] = j->done;
    pthread_mutex_unlock(&s->rmu);
    pthread_rwlock_rdlock(&s->map_lock);
    if (rc == 0 && mdb_txn_renew(txn) == 0) {
      const unsigned char *k = (const unsigned char *)j->keys.p;
      for (int i = 0; i < j->n; i++) {
        MDB_val key = {j->lens[i], (void *)k}, v;
        k += j->lens[i];
        int r = mdb_get(txn, j->dbis[i], &key, &v);
        if (j->heads) {
          unsigned char *h = j->heads + (size_t)i * CAIRN_STORE_HEAD;
          h[0] = r == 0 ? 1 : r == MDB_NOTFOUND ? 0 : 2;
          if (r == 0) {
            size_t n = v.mv_size < CAIRN_STORE_HEAD - 2 ? v.mv_size : CAIRN_STORE_HEAD - 2;
            h[1] = (unsigned char)n;
            memcpy(h + 2, v.mv_data, n);
          }
          continue;
        }
        if (r != 0) continue;
        j->found++;
        volatile const unsigned char *p = v.mv_data;
        unsigned sum = 0;
        for (size_t off = 0; off < v.mv_size; off += 4096) sum += p[off];
        (void)sum;
      }
      mdb_txn_reset(txn);
      if (j->heads) j->looked = 1;
    }
    pthread_rwlock_unlock(&s->map_lock);
    uint64_t now = cairn_thread_major_faults();
    __atomic_add_fetch(&s->reader_faults, now - faults, __ATOMIC_RELAXED);
    faults = now;
    j->done(j); /* the job is its owner's from here */
    pthread_mutex_lock(&s->rmu);
    s->rinflight[self] = NULL;
    pthread_cond_broadcast(&s->rdone);
  }
  pthread_mutex_unlock(&s->rmu);
  if (txn) mdb_txn_abort(txn);
  return NULL;
}

static void readers_start(cairn_store *s, int n) {
  pthread_mutex_init(&s->rmu, NULL);
  pthread_cond_init(&s->rcv, NULL);
  pthread_cond_init(&s->rdone, NULL);
  s->rthreads = cairn_xcalloc(n > 0 ? (size_t)n : 1, sizeof(pthread_t));
  s->rinflight = cairn_xcalloc(n > 0 ? (size_t)n : 1, sizeof(*s->rinflight));
  for (int i = 0; i < n; i++) {
    reader_arg *a = cairn_xmalloc(sizeof(*a));
    a->s = s;
    a->self = s->nreaders;
    if (pthread_create(&s->rthreads[s->nreaders], NULL, reader_thread, a) == 0)
      s->nreaders++;
    else
      free(a);
  }
}

/* Takes back the jobs of one owner (those whose done is fn): the queued ones
 * come back through done (found = 0), and it waits for those a reader
 * works on. Any thread but a reader. */
void cairn_store_read_cancel(cairn_store *s, void (*fn)(cairn_store_readjob *j)) {
  if (!s->nreaders) return;
  cairn_store_readjob *back = NULL;
  pthread_mutex_lock(&s->rmu);
  cairn_store_readjob **pp = &s->rhead, *last = NULL;
  while (*pp) {
    cairn_store_readjob *j = *pp;
    if (j->done == fn) {
      *pp = j->next;
      j->next = back;
      back = j;
    } else {
      last = j;
      pp = &j->next;
    }
  }
  s->rtail = last;
  for (;;) {
    int busy = 0;
    for (int i = 0; i < s->nreaders; i++) busy |= s->rinflight[i] == fn;
    if (!busy) break;
    pthread_cond_wait(&s->rdone, &s->rmu);
  }
  pthread_mutex_unlock(&s->rmu);
  while (back) {
    cairn_store_readjob *next = back->next;
    back->done(back);
    back = next;
  }
}

/* Jobs still queued are handed back through their done (found = 0). */
static void readers_stop(cairn_store *s) {
  pthread_mutex_lock(&s->rmu);
  s->rstop = 1;
  pthread_cond_broadcast(&s->rcv);
  pthread_mutex_unlock(&s->rmu);
  for (int i = 0; i < s->nreaders; i++) pthread_join(s->rthreads[i], NULL);
  for (cairn_store_readjob *j = s->rhead, *next; j; j = next) {
    next = j->next;
    j->done(j);
  }
  s->rhead = s->rtail = NULL;
  free(s->rthreads);
  free(s->rinflight);
  pthread_mutex_destroy(&s->rmu);
  pthread_cond_destroy(&s->rcv);
  pthread_cond_destroy(&s->rdone);
}

/* ------------------------------------------------------------ keys */

static int expire_index(cairn_store *s, uint16_t phys, const unsigned char *ek, size_t eklen,
                        int64_t ms, int add) {
  unsigned char buf[8 + 2 + MAX_ENCODED_KEY];
  wr64be(buf, (uint64_t)ms);
  wr16be(buf + 8, phys);
  memcpy(buf + 10, ek, eklen);
  MDB_val k = {10 + eklen, buf}, v = {0, ""};
  if (add && s->exp_hint_valid && key_compare(&k, &(MDB_val){s->exp_hint_len, s->exp_hint}) < 0)
    s->exp_hint_valid = 0;
  if (add)
    kv_put(s, s->expires, &k, &v, 0);
  else
    kv_tomb(s, s->expires, buf, 10 + eklen);
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

/* ------------------------------------------------------------ deferred lookups
 *
 * A SET replaces a key's value whatever it was; what it needs of the old one
 * is only bookkeeping: whether the key existed (the db's key count), its TTL
 * (the expiry index entry to remove, the expires count) and whether it was a
 * collection (to retire). When the key is in no overlay layer, finding that
 * out is a descent of LMDB's B+tree, cache misses all the way at millions of
 * keys: most of the loop's time in a random SET load. cairn_store_put_deferred
 * writes the new value as if nothing was there and queues the key for the
 * reader threads, which look its old value up in LMDB; the loop applies what
 * they found (defer_apply) at the end of an iteration, and waits for all of
 * it (cairn_store_settle) before anything reads the counts or the state
 * (DBSIZE, INFO keyspace, a checkpoint, FLUSHDB/SWAPDB, a load) or drops the
 * active layer (rollback).
 *
 * Why the answer is right whenever it comes: the key was in no layer, so the
 * value LMDB holds for it stays the same until the layer holding the new
 * value is drained, and that layer is not frozen before its lookups are
 * applied. Applying is additive (counts) or guarded: the old TTL's index
 * entry is removed unless the key's value now has that very TTL (then the
 * entry is the current value's), and the old collection is retired unless the
 * value now is that collection. Meanwhile the expiry cycle may meet the old
 * index entry: it checks every entry against the key's value
 * (cairn_store_next_expired), so a stale entry never expires the new value. */
typedef struct defer_job {
  cairn_store_readjob rj;
  cairn_store *s;
  struct defer_job *next;
  unsigned char heads[CAIRN_STORE_READJOB_KEYS * CAIRN_STORE_HEAD];
} defer_job;

static void defer_done(cairn_store_readjob *j) {
  defer_job *d = j->ud;
  cairn_store *s = d->s;
  pthread_mutex_lock(&s->dmu);
  d->next = s->ddone;
  s->ddone = d;
  pthread_cond_signal(&s->dcv);
  pthread_mutex_unlock(&s->dmu);
}

/* The old value below one deferred key, as the readers found it or, when
 * they could not (stopping, an error), from the loop's snapshot. */
static int defer_old(cairn_store *s, defer_job *d, int i, const unsigned char *ek, size_t eklen, MDB_val *old) {
  const unsigned char *h = d->heads + (size_t)i * CAIRN_STORE_HEAD;
  if (d->rj.looked && h[0] != 2) {
    old->mv_size = h[1];
    old->mv_data = (void *)(h + 2);
    return h[0] ? 0 : MDB_NOTFOUND;
  }
  s->deferred_on_loop++;
  MDB_val k = {eklen, (void *)ek};
  return mdb_get(s->rtxn, s->keys, &k, old);
}

/* An applied or forgotten job, empty, kept for the next keys. */
static void defer_recycle(cairn_store *s, defer_job *d) {
  d->rj.n = 0;
  d->rj.keys.len = 0;
  d->next = s->dfree;
  s->dfree = d;
}

static int defer_apply(cairn_store *s, defer_job *d) {
  const unsigned char *ek = (const unsigned char *)d->rj.keys.p;
  int rc = 0;
  for (int i = 0; i < d->rj.n && rc == 0; ek += d->rj.lens[i], i++) {
    size_t eklen = d->rj.lens[i];
    MDB_val old, cur, k = {eklen, (void *)ek};
    int orc = defer_old(s, d, i, ek, eklen, &old);
    if (orc != 0 && orc != MDB_NOTFOUND) {
      rc = store_error(s, "mdb_get (deferred lookup)", orc);
      break;
    }
    int l = logical_of(&s->cur, rd16be(ek));
    if (l < 0) continue; /* (settled before any flush or swap: not expected) */
    db_state *db = &s->cur.db[l];
    if (orc == MDB_NOTFOUND) {
      db->keys++;
      continue;
    }
    int crc = kv_get(s, s->keys, &k, &cur);
    if (crc != 0 && crc != MDB_NOTFOUND) {
      rc = store_error(s, "mdb_get", crc);
      break;
    }
    int64_t old_exp = (int64_t)rd64le((const unsigned char *)old.mv_data + 2);
    if (old_exp >= 0) {
      if (db->expires) db->expires--;
      if (crc != 0 || (int64_t)rd64le((const unsigned char *)cur.mv_data + 2) != old_exp)
        rc = expire_index(s, db->phys, ek, eklen, old_exp, 0);
    }
    if (rc == 0) {
      cairn_value cv = {0};
      if (crc == 0) decode_value(&cur, &cv, NULL);
      rc = retire_value(s, &old, cv.type, crc == 0 ? cv.data : NULL, crc == 0 ? cv.len : 0, 0);
    }
  }
  defer_recycle(s, d);
  return rc;
}

/* Hands the job being filled to the readers (applied at once when there
 * are none). */
static int defer_submit(cairn_store *s) {
  defer_job *d = s->dcur;
  if (!d || d->rj.n == 0) return 0;
  s->dcur = NULL;
  d->rj.heads = d->heads;
  if (cairn_store_read_submit(s, &d->rj) != 0) return defer_apply(s, d);
  s->dinflight++;
  return 0;
}

static int defer_collect(cairn_store *s, int most, int apply);
/* A full job: to the readers, and what they finished back, waiting for
 * them while DEFER_MAX_INFLIGHT jobs are out (a replay runs no loop
 * iterations to apply them meanwhile). */
#define DEFER_MAX_INFLIGHT 32
static int defer_full(cairn_store *s) {
  int rc = defer_submit(s);
  if (rc == 0) rc = defer_collect(s, DEFER_MAX_INFLIGHT - 1, 1);
  return rc;
}

/* Takes back the jobs the readers are done with, waiting for them while
 * more than most are out (-1: no wait), and applies them (or, apply 0,
 * forgets them). */
static int defer_collect(cairn_store *s, int most, int apply) {
  int rc = 0;
  int64_t t0 = 0;
  if (apply && most >= 0 && s->dinflight > most) {
    s->deferred_waits++;
    t0 = cairn_ustime();
  }
  for (;;) {
    pthread_mutex_lock(&s->dmu);
    while (most >= 0 && !s->ddone && s->dinflight > most) pthread_cond_wait(&s->dcv, &s->dmu);
    defer_job *list = s->ddone;
    s->ddone = NULL;
    pthread_mutex_unlock(&s->dmu);
    if (!list) break;
    while (list) {
      defer_job *next = list->next;
      s->dinflight--;
      int r = 0;
      if (apply)
        r = defer_apply(s, list);
      else
        defer_recycle(s, list);
      if (rc == 0) rc = r;
      list = next;
    }
  }
  if (t0) s->deferred_wait_us += (uint64_t)(cairn_ustime() - t0);
  return rc;
}

int cairn_store_settle(cairn_store *s) {
  int rc = defer_submit(s);
  int r = defer_collect(s, 0, 1);
  return rc ? rc : r;
}

int cairn_store_defer_poll(cairn_store *s) {
  int rc = defer_submit(s);
  int r = s->dinflight ? defer_collect(s, -1, 1) : 0;
  return rc ? rc : r;
}

/* Forgets the lookups not applied yet (their values are being dropped). */
static void defer_discard(cairn_store *s) {
  if (s->dcur) {
    s->dcur->rj.n = 0;
    s->dcur->rj.keys.len = 0;
  }
  defer_collect(s, 0, 0);
}

static void defer_free(cairn_store *s) {
  defer_discard(s);
  for (defer_job *d = s->dfree, *next; d; d = next) {
    next = d->next;
    cairn_buf_free(&d->rj.keys);
    free(d);
  }
  if (s->dcur) {
    cairn_buf_free(&s->dcur->rj.keys);
    free(s->dcur);
  }
  s->dfree = s->dcur = NULL;
}

void cairn_store_deferred_stats(const cairn_store *s, cairn_store_deferred *out) {
  out->puts = s->deferred_puts;
  out->pending = (uint64_t)s->dinflight * CAIRN_STORE_READJOB_KEYS + (s->dcur ? (uint64_t)s->dcur->rj.n : 0);
  out->waits = s->deferred_waits;
  out->wait_us = s->deferred_wait_us;
  out->on_loop = s->deferred_on_loop;
}

int cairn_store_get(cairn_store *s, int db, cairn_str key, cairn_value *out) {
  int rc = check_failed(s);
  if (rc) return rc;
  unsigned char ek[MAX_ENCODED_KEY];
  MDB_val k = {cairn_store_encode_key(s->cur.db[db].phys, key.p, key.len, ek), ek}, v;
  rc = kv_get(s, s->keys, &k, &v);
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
  int rc = check_failed(s);
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
  rc = kv_get(s, s->keys, &k, &v);
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
  kv_put(s, s->keys, &k, &v, 1);
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
  touched(s, db, key);
  return created;
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

static int put_in(cairn_store *s, db_state *d, cairn_str key, uint8_t type, const void *data, size_t len,
                  int64_t expire_ms) {
  int rc = check_failed(s);
  if (rc) return rc;
  if ((rc = cairn_fault(CAIRN_FAULT_STORE_PUT))) return store_error(s, "store put", rc);
  unsigned char ek[MAX_ENCODED_KEY];
  size_t eklen = cairn_store_encode_key(d->phys, key.p, key.len, ek);
  size_t hdr = VALUE_HEADER + (key.len > CAIRN_STORE_INLINE_KEY ? 4 + key.len : 0);
  MDB_val k = {eklen, ek}, v;
  rc = kv_get(s, s->keys, &k, &v);
  int created = rc == MDB_NOTFOUND;
  if (rc && !created) return store_error(s, "mdb_get", rc);
  if (created) {
    d->keys++;
    if (expire_ms >= 0) {
      if ((rc = expire_index(s, d->phys, ek, eklen, expire_ms, 1))) return rc;
      d->expires++;
    }
  } else {
    int64_t old_exp = (int64_t)rd64le((const unsigned char *)v.mv_data + 2);
    if ((rc = retire_value(s, &v, type, data, len, 0))) return rc;
    if ((rc = move_expiry(s, d, ek, eklen, old_exp, expire_ms))) return rc;
  }
  v.mv_size = hdr + len;
  kv_put(s, s->keys, &k, &v, 1);
  /* data may be the old value itself: it stays valid (the overlay never
   * overwrites in place, LMDB's snapshot never changes under us) */
  fill_value(v.mv_data, type, key, expire_ms, data, len);
  return created;
}

int cairn_store_put(cairn_store *s, int db, cairn_str key, uint8_t type, const void *data, size_t len,
                    int64_t expire_ms) {
  int rc = put_in(s, &s->cur.db[db], key, type, data, len, expire_ms);
  if (rc >= 0) touched(s, db, key);
  return rc;
}

int cairn_store_put_deferred(cairn_store *s, int db, cairn_str key, uint8_t type, const void *data, size_t len,
                             int64_t expire_ms, int64_t min_keys) {
  db_state *d = &s->cur.db[db];
  if (min_keys < 0 || d->keys < (uint64_t)min_keys || !s->nreaders || key.len > CAIRN_STORE_INLINE_KEY) return 0;
  int rc = check_failed(s);
  if (rc) return rc;
  unsigned char ek[MAX_ENCODED_KEY];
  size_t eklen = cairn_store_encode_key(d->phys, key.p, key.len, ek);
  uint64_t h = ov_hash(s->keys, ek, eklen);
  memo_ent *e = memo_find(s, s->keys, h, ek, eklen);
  if ((e && (e->node || e->have_result)) || layers_find_h(s, h, s->keys, ek, eklen, &e))
    return 0; /* the old value is at hand: the caller looks it up as usual */
  if ((rc = cairn_fault(CAIRN_FAULT_STORE_PUT))) return store_error(s, "store put", rc);
  if (!s->dcur) {
    if (s->dfree) {
      s->dcur = s->dfree;
      s->dfree = s->dcur->next;
    } else {
      s->dcur = cairn_xcalloc(1, sizeof(defer_job));
      s->dcur->s = s;
      s->dcur->rj.done = defer_done;
      s->dcur->rj.ud = s->dcur;
    }
  }
  cairn_store_readjob *j = &s->dcur->rj;
  cairn_buf_append(&j->keys, ek, eklen);
  j->dbis[j->n] = (uint8_t)s->keys;
  j->lens[j->n++] = (uint16_t)eklen;
  if (expire_ms >= 0) {
    if ((rc = expire_index(s, d->phys, ek, eklen, expire_ms, 1))) return rc;
    d->expires++;
  }
  MDB_val k = {eklen, ek}, v = {VALUE_HEADER + len, NULL};
  kv_put(s, s->keys, &k, &v, 1);
  fill_value(v.mv_data, type, key, expire_ms, data, len);
  s->deferred_puts++;
  touched(s, db, key);
  if (j->n == CAIRN_STORE_READJOB_KEYS && (rc = defer_full(s))) return rc;
  return 1;
}

/* ------------------------------------------------------------ loading a full sync */

static uint16_t fresh_phys(meta_state *m) {
  uint16_t p = m->next_phys;
  while (phys_in_use(m, p)) p++;
  m->next_phys = (uint16_t)(p + 1);
  return p;
}

int cairn_store_load_begin(cairn_store *s) {
  int rc = cairn_store_settle(s);
  if (rc == 0) rc = check_failed(s);
  if (rc) return rc;
  meta_state *m = &s->cur;
  if (m->nloading) cairn_store_load_finish(s, 0);
  for (int i = 0; i < m->databases; i++) {
    m->loading[i].phys = fresh_phys(m);
    m->loading[i].keys = m->loading[i].expires = 0;
  }
  m->nloading = m->databases;
  return 0;
}

int cairn_store_load_put(cairn_store *s, int db, cairn_str key, uint8_t type, const void *data, size_t len,
                         int64_t expire_ms) {
  if (db < 0 || db >= s->cur.nloading) return CAIRN_STORE_IO;
  return put_in(s, &s->cur.loading[db], key, type, data, len, expire_ms);
}

int cairn_store_load_finish(cairn_store *s, int commit) {
  int rc = cairn_store_settle(s);
  if (rc == 0) rc = check_failed(s);
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
  return 0;
}

int cairn_store_loading(const cairn_store *s) { return s->cur.nloading > 0; }

static int del_in(cairn_store *s, int db, cairn_str key, int keep) {
  int rc = check_failed(s);
  if (rc) return rc;
  db_state *d = &s->cur.db[db];
  unsigned char ek[MAX_ENCODED_KEY];
  size_t eklen = cairn_store_encode_key(d->phys, key.p, key.len, ek);
  MDB_val k = {eklen, ek}, v;
  rc = kv_get(s, s->keys, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_get", rc);
  int64_t exp = (int64_t)rd64le((const unsigned char *)v.mv_data + 2);
  cairn_value old;
  cairn_coll oc;
  decode_value(&v, &old, NULL);
  int coll = !keep && cairn_coll_decode(&old, &oc) == 0;
  kv_tomb(s, s->keys, ek, eklen);
  d->keys--;
  if (exp >= 0) {
    if ((rc = expire_index(s, d->phys, ek, eklen, exp, 0))) return rc;
    d->expires--;
  }
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
  /* val.data stays valid while the put rewrites the key (see put_in) */
  rc = cairn_store_put(s, db, key, val.type, val.data, val.len, expire_ms);
  return rc < 0 ? rc : 1;
}

uint64_t cairn_store_dbsize(cairn_store *s, int db) {
  cairn_store_settle(s);
  return s->cur.db[db].keys;
}
uint64_t cairn_store_expires_count(cairn_store *s, int db) {
  cairn_store_settle(s);
  return s->cur.db[db].expires;
}
int cairn_store_databases(const cairn_store *s) { return s->cur.databases; }

/* ------------------------------------------------------------ flush / swap / sweep */

int cairn_store_flushdb(cairn_store *s, int db) {
  int rc = cairn_store_settle(s);
  if (rc == 0) rc = check_failed(s);
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
  return 0;
}

int cairn_store_swapdb(cairn_store *s, int a, int b) {
  int rc = cairn_store_settle(s);
  if (rc == 0) rc = check_failed(s);
  if (rc) return rc;
  touched(s, a, (cairn_str){NULL, 0});
  if (b != a) touched(s, b, (cairn_str){NULL, 0});
  db_state t = s->cur.db[a];
  s->cur.db[a] = s->cur.db[b];
  s->cur.db[b] = t;
  return 0;
}

int cairn_store_sweep_pending(const cairn_store *s) { return s->cur.ngarbage + (s->cur.dead_colls > 0); }

static long sweep_dead(cairn_store *s, long budget);

long cairn_store_sweep(cairn_store *s, long budget) {
  if (s->cur.ngarbage == 0 && s->cur.dead_colls == 0) return 0;
  int rc = check_failed(s);
  if (rc) return rc;
  long done = 0;
  while (s->cur.ngarbage > 0 && done < budget) {
    uint16_t phys = s->cur.garbage[0];
    kv_cursor *c;
    if ((rc = kv_cursor_open(s, s->keys, &c))) return store_error(s, "mdb_cursor_open", rc);
    unsigned char start[2];
    wr16be(start, phys);
    MDB_val k = {0, NULL}, v = {0, NULL};
    rc = kv_seek(c, start, 2, SEEK_GE);
    while (rc == 0 && done < budget && kv_current(c, &k, &v) == 0 && k.mv_size >= 2 && rd16be(k.mv_data) == phys) {
      int64_t exp = (int64_t)rd64le((const unsigned char *)v.mv_data + 2);
      cairn_value old;
      cairn_coll oc;
      decode_value(&v, &old, NULL);
      if (cairn_coll_decode(&old, &oc) == 0 && (rc = retire_coll(s, &oc, 1))) {
        kv_cursor_close(c);
        return rc;
      }
      if (exp >= 0 && (rc = expire_index(s, phys, k.mv_data, k.mv_size, exp, 0))) {
        kv_cursor_close(c);
        return rc;
      }
      kv_cursor_del(c);
      done++;
      rc = kv_step(c);
    }
    int gone = rc == MDB_NOTFOUND || (rc == 0 && (kv_current(c, &k, NULL) != 0 || k.mv_size < 2 ||
                                                  rd16be(k.mv_data) != phys));
    kv_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND) return store_error(s, "sweep", rc);
    if (gone) {
      /* This flushed db is gone: forget it. */
      memmove(s->cur.garbage, s->cur.garbage + 1, sizeof(uint16_t) * (size_t)(s->cur.ngarbage - 1));
      s->cur.ngarbage--;
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
  int rc = check_failed(s);
  if (rc) return rc;
  unsigned char ek[ELEM_LONG];
  MDB_val k = {elem_key(id, space, sub, sublen, ek), ek}, v;
  rc = kv_get(s, s->elems, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_get(elems)", rc);
  cairn_str full;
  elem_split(&k, &v, &full, val);
  if (sublen > CAIRN_ELEM_INLINE && (full.len != sublen || memcmp(full.p, sub, sublen))) return 0;
  return 1;
}

/* mode: 0 a put, 1 known_new (cairn_elem_add), 2 in place (cairn_elem_set). */
static int elem_put_in(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, const void *val,
                       size_t vallen, int mode) {
  int rc = check_failed(s);
  if (rc) return rc;
  if ((rc = cairn_fault(CAIRN_FAULT_STORE_PUT))) return store_error(s, "store put(elems)", rc);
  unsigned char ek[ELEM_LONG];
  MDB_val k = {elem_key(id, space, sub, sublen, ek), ek};
  size_t extra = sublen > CAIRN_ELEM_INLINE ? 4 + sublen : 0;
  MDB_val v;
  int created = 1;
  if (mode != 1) {
    rc = kv_get(s, s->elems, &k, &v);
    if (rc && rc != MDB_NOTFOUND) return store_error(s, "mdb_get(elems)", rc);
    created = rc == MDB_NOTFOUND;
  }
  if (mode == 2 && !created && !extra && k.mv_size <= sizeof(s->memo.e[0].key)) {
    /* the value is in the active layer with the same size: overwritten
     * where it is (kv_get just remembered its node) */
    memo_ent *e = memo_find(s, s->elems, ov_hash(s->elems, ek, k.mv_size), ek, k.mv_size);
    if (e && e->node && e->node->val && e->node->vlen == vallen) {
      if (vallen) memcpy((unsigned char *)e->node->val, val, vallen);
      e->used = 0;
      return 0;
    }
  }
  v.mv_size = extra + vallen;
  kv_put(s, s->elems, &k, &v, 1);
  unsigned char *p = v.mv_data;
  if (extra) {
    uint32_t sl = (uint32_t)sublen;
    memcpy(p, &sl, 4);
    memcpy(p + 4, sub, sublen);
    p += extra;
  }
  if (vallen) memcpy(p, val, vallen);
  return created;
}

int cairn_elem_put(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, const void *val,
                   size_t vallen) {
  return elem_put_in(s, id, space, sub, sublen, val, vallen, 0);
}

int cairn_elem_add(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, const void *val,
                   size_t vallen) {
  return elem_put_in(s, id, space, sub, sublen, val, vallen, 1);
}

int cairn_elem_set(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, const void *val,
                   size_t vallen) {
  return elem_put_in(s, id, space, sub, sublen, val, vallen, 2);
}

int cairn_elem_del(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen) {
  int rc = check_failed(s);
  if (rc) return rc;
  unsigned char ek[ELEM_LONG];
  MDB_val k = {elem_key(id, space, sub, sublen, ek), ek};
  if (sublen > CAIRN_ELEM_INLINE) {
    cairn_str tmp;
    if ((rc = cairn_elem_get(s, id, space, sub, sublen, &tmp)) <= 0) return rc;
  }
  rc = kv_del(s, s->elems, &k);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_del(elems)", rc);
  return 1;
}

struct cairn_elem_iter {
  cairn_store *s;
  kv_cursor *cur;
  unsigned char prefix[ELEM_PREFIX];
  int reverse, started;
  unsigned char seek[ELEM_LONG];
  size_t seeklen;
  uint64_t pos; /* hashed spaces: hash of the entry last returned */
};

int cairn_elem_iter_open(cairn_store *s, uint64_t id, int space, const void *from, size_t fromlen, int reverse,
                         cairn_elem_iter **out) {
  int rc = check_failed(s);
  if (rc) return rc;
  cairn_elem_iter *it = cairn_xcalloc(1, sizeof(*it));
  it->s = s;
  it->reverse = reverse;
  wr64be(it->prefix, id);
  it->prefix[8] = (unsigned char)space;
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
  if ((rc = kv_cursor_open(s, s->elems, &it->cur))) {
    free(it);
    return store_error(s, "mdb_cursor_open(elems)", rc);
  }
  *out = it;
  return 0;
}

/* Positions on the first entry >= from (forward) or the last <= from (reverse). */
static int elem_iter_seek(cairn_elem_iter *it) {
  if (!it->reverse) {
    if (it->seeklen) return kv_seek(it->cur, it->seek, it->seeklen, SEEK_GE);
    return kv_seek(it->cur, it->prefix, ELEM_PREFIX, SEEK_GE);
  }
  if (it->seeklen) return kv_seek(it->cur, it->seek, it->seeklen, SEEK_LE);
  /* Just past the space: [id][space + 1] (space < 255). */
  unsigned char end[ELEM_PREFIX];
  memcpy(end, it->prefix, ELEM_PREFIX);
  end[8]++;
  return kv_seek(it->cur, end, ELEM_PREFIX, SEEK_LT);
}

int cairn_elem_iter_next(cairn_elem_iter *it, cairn_str *sub, cairn_str *val) {
  int rc;
  if (!it->started) {
    it->started = 1;
    rc = elem_iter_seek(it);
  } else {
    rc = kv_step(it->cur);
  }
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(it->s, "mdb_cursor_get(elems)", rc);
  MDB_val k = {0, NULL}, v = {0, NULL};
  kv_current(it->cur, &k, &v);
  if (!elem_prefix_is(&k, it->prefix, ELEM_PREFIX)) return 0;
  if ((it->prefix[8] & CAIRN_SPACE_HASHED) && k.mv_size >= ELEM_PREFIX + ELEM_HASH)
    it->pos = rd64be((const unsigned char *)k.mv_data + ELEM_PREFIX);
  elem_split(&k, &v, sub, val);
  return 1;
}

uint64_t cairn_elem_iter_pos(const cairn_elem_iter *it) { return it->pos; }

int cairn_elem_iter_del(cairn_elem_iter *it) {
  MDB_val k = {0, NULL};
  if (kv_current(it->cur, &k, NULL) != 0) return store_error(it->s, "mdb_cursor_del(elems)", EINVAL);
  kv_cursor_del(it->cur);
  return 0;
}

void cairn_elem_iter_close(cairn_elem_iter *it) {
  if (!it) return;
  kv_cursor_close(it->cur);
  free(it);
}

/* Deletes up to budget entries of collection id (all spaces). Returns the
 * number deleted; *gone = 1 when none is left. */
static long delete_entries(cairn_store *s, uint64_t id, long budget, int *gone) {
  kv_cursor *c;
  int rc = kv_cursor_open(s, s->elems, &c);
  if (rc) return store_error(s, "mdb_cursor_open(elems)", rc);
  unsigned char pre[8];
  wr64be(pre, id);
  MDB_val k = {0, NULL};
  long n = 0;
  *gone = 0;
  rc = kv_seek(c, pre, 8, SEEK_GE);
  while (rc == 0 && kv_current(c, &k, NULL) == 0 && elem_prefix_is(&k, pre, 8)) {
    if (n >= budget) {
      kv_cursor_close(c);
      return n;
    }
    kv_cursor_del(c);
    n++;
    rc = kv_step(c);
  }
  kv_cursor_close(c);
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
  MDB_val k = {8, k8}, v;
  int rc = kv_get(s, s->dead, &k, &v);
  if (rc == 0) return 0;
  if (rc != MDB_NOTFOUND) return store_error(s, "mdb_get(dead)", rc);
  v.mv_size = 0;
  v.mv_data = "";
  kv_put(s, s->dead, &k, &v, 0);
  s->cur.dead_colls++;
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
  return retire_coll(s, &oc, queue_only);
}

static long sweep_dead(cairn_store *s, long budget) {
  kv_cursor *c;
  int rc = kv_cursor_open(s, s->dead, &c);
  if (rc) return store_error(s, "mdb_cursor_open(dead)", rc);
  MDB_val k = {0, NULL};
  rc = kv_seek(c, NULL, 0, SEEK_GE);
  unsigned char k8[8];
  if (rc == 0) {
    kv_current(c, &k, NULL);
    memcpy(k8, k.mv_data, 8);
  }
  kv_cursor_close(c);
  if (rc == MDB_NOTFOUND) {
    s->cur.dead_colls = 0; /* the count drifted: the table is the truth */
    return 0;
  }
  if (rc) return store_error(s, "mdb_cursor_get(dead)", rc);
  int gone = 0;
  long n = delete_entries(s, rd64be(k8), budget, &gone);
  if (n < 0) return n;
  if (gone) {
    kv_tomb(s, s->dead, k8, 8);
    if (s->cur.dead_colls) s->cur.dead_colls--;
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

/* Entries go to a higher id, after the ones being read: the cursor follows
 * the merged view, so it re-finds its place after each write. */
int cairn_coll_copy(cairn_store *s, uint64_t from, uint64_t to) {
  int rc = check_failed(s);
  if (rc) return rc;
  unsigned char pre[8];
  wr64be(pre, from);
  kv_cursor *c;
  if ((rc = kv_cursor_open(s, s->elems, &c))) return store_error(s, "mdb_cursor_open(elems)", rc);
  unsigned char nk[ELEM_LONG];
  MDB_val k = {0, NULL}, v = {0, NULL};
  rc = kv_seek(c, pre, 8, SEEK_GE);
  while (rc == 0 && kv_current(c, &k, &v) == 0 && elem_prefix_is(&k, pre, 8)) {
    memcpy(nk, k.mv_data, k.mv_size);
    wr64be(nk, to);
    MDB_val kk = {k.mv_size, nk}, vv = v;
    kv_put(s, s->elems, &kk, &vv, 0);
    rc = kv_step(c);
  }
  kv_cursor_close(c);
  if (rc && rc != MDB_NOTFOUND) return store_error(s, "coll_copy", rc);
  return 0;
}

int cairn_store_snapshot_elems(cairn_store_snapshot *snap, uint64_t id, int space, cairn_store_elem_fn fn,
                               void *ud);

/* ------------------------------------------------------------ iteration */

int cairn_store_iter_open(cairn_store *s, int db, uint64_t from, cairn_store_iter **out) {
  int rc = check_failed(s);
  if (rc) return rc;
  cairn_store_iter *it = cairn_xcalloc(1, sizeof(*it));
  it->s = s;
  it->phys = s->cur.db[db].phys;
  wr16be(it->seek, it->phys);
  wr64be(it->seek + 2, from);
  if ((rc = kv_cursor_open(s, s->keys, &it->cur))) {
    free(it);
    return store_error(s, "mdb_cursor_open", rc);
  }
  *out = it;
  return 0;
}

int cairn_store_iter_next(cairn_store_iter *it, cairn_str *key, cairn_value *val, uint64_t *hash) {
  MDB_val k = {0, NULL}, v = {0, NULL};
  int rc;
  if (!it->started) {
    it->started = 1;
    rc = kv_seek(it->cur, it->seek, KEY_PREFIX, SEEK_GE);
  } else {
    rc = kv_step(it->cur);
  }
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(it->s, "mdb_cursor_get", rc);
  kv_current(it->cur, &k, &v);
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
  kv_cursor_close(it->cur);
  free(it);
}

/* ------------------------------------------------------------ expiry */

/* Whether any key may have a TTL (the expiry index may hold an entry). */
static int any_expires(const meta_state *m) {
  if (m->ngarbage) return 1; /* (swept dbs: their entries go with them) */
  for (int i = 0; i < m->databases; i++)
    if (m->db[i].expires) return 1;
  for (int i = 0; i < m->nloading; i++)
    if (m->loading[i].expires) return 1;
  return 0;
}

int cairn_store_next_expired(cairn_store *s, int64_t now_ms, int *db, cairn_buf *keybuf) {
  int rc = check_failed(s);
  if (rc) return rc;
  /* no seek when no key has a TTL: a seek orders the active layer
   * (overlay.h), ten times a second for nothing */
  if (!any_expires(&s->cur)) return 0;
  for (;;) {
    kv_cursor *c;
    if ((rc = kv_cursor_open(s, s->expires, &c))) return store_error(s, "mdb_cursor_open", rc);
    MDB_val k = {0, NULL};
    unsigned char kb[8 + 2 + MAX_ENCODED_KEY];
    /* from the last entry returned (deleted since: the tombstones behind
     * it form a dead range the seek jumps), not from the start, which would
     * step over every tombstone of the layers each time */
    rc = s->exp_hint_valid ? kv_seek(c, s->exp_hint, s->exp_hint_len, SEEK_GE) : kv_seek(c, NULL, 0, SEEK_GE);
    if (rc == 0) {
      kv_current(c, &k, NULL);
      memcpy(kb, k.mv_data, k.mv_size);
      k.mv_data = kb;
    }
    kv_cursor_close(c);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return store_error(s, "mdb_cursor_get", rc);
    const unsigned char *p = k.mv_data;
    if ((int64_t)rd64be(p) > now_ms) return 0;
    memcpy(s->exp_hint, k.mv_data, k.mv_size);
    s->exp_hint_len = k.mv_size;
    s->exp_hint_valid = 1;
    uint16_t phys = rd16be(p + 8);
    int l = logical_of(&s->cur, phys);
    if (l < 0) {
      /* Belongs to a flushed db being swept: drop the index entry only. */
      kv_tomb(s, s->expires, k.mv_data, k.mv_size);
      continue;
    }
    const unsigned char *ek = p + 10;
    size_t eklen = k.mv_size - 10;
    keybuf->len = 0;
    /* an entry whose key no longer has this TTL is stale (a deferred
     * lookup's not applied yet): dropped, never the key */
    MDB_val kk = {eklen, (void *)ek}, vv;
    rc = kv_get(s, s->keys, &kk, &vv);
    if (rc && rc != MDB_NOTFOUND) return store_error(s, "mdb_get", rc);
    if (rc == MDB_NOTFOUND || (int64_t)rd64le((const unsigned char *)vv.mv_data + 2) != (int64_t)rd64be(p)) {
      kv_tomb(s, s->expires, k.mv_data, k.mv_size);
      continue;
    }
    if (eklen == MAX_ENCODED_KEY) {
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

/* ------------------------------------------------------------ meta */

int cairn_store_meta_get(cairn_store *s, const char *name, cairn_buf *out) {
  int rc = check_failed(s);
  if (rc) return rc;
  MDB_val k = {strlen(name), (void *)name}, v;
  rc = kv_get(s, s->meta, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return store_error(s, "mdb_get(meta)", rc);
  out->len = 0;
  cairn_buf_append(out, v.mv_data, v.mv_size);
  return 1;
}

int cairn_store_meta_put(cairn_store *s, const char *name, const void *p, size_t len) {
  int rc = check_failed(s);
  if (rc) return rc;
  MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)p};
  kv_put(s, s->meta, &k, &v, 0);
  return 0;
}

/* ------------------------------------------------------------ the store thread
 *
 * It owns LMDB's write transaction. It takes the oldest frozen layer that is
 * not drained, writes its entries in key order (the layer is sorted: pages
 * are visited in order, each touched once), commits (synced: LMDB's commit
 * syncs the data pages, then the meta page), marks the layer drained and
 * tells the loop (notify). An error pauses it until the loop has dealt with
 * it (cairn_store_poll): a full map is grown there, where no reader is in
 * the middle of a command. */

/* The drain error for an errno from LMDB, naming the data file. LMDB turns
 * a short write (the disk filled in the middle of it) into EIO: when the
 * file system then has (almost) no space left, that is the cause named. */
static void describe_errno(cairn_store *s, const char *what, int rc) {
  struct statvfs fs;
  if (rc == EIO && statvfs(s->path, &fs) == 0 && (uint64_t)fs.f_bavail * fs.f_frsize < (1u << 20)) {
    msgf(s->drain_err, sizeof(s->drain_err), "%s: %s: %s (LMDB reported: %s; %llu bytes free)", what, s->path,
         strerror(ENOSPC), strerror(rc), (unsigned long long)fs.f_bavail * fs.f_frsize);
    return;
  }
  msgf(s->drain_err, sizeof(s->drain_err), "%s: %s: %s", what, s->path, strerror(rc));
}

/* Writes layers[0..n) (oldest first, consecutive) in one transaction: a
 * merge in key order where the newest layer's entry wins. Several layers
 * at once when the thread is behind (more rewrites coalesce) or after the
 * map filled up (a later layer's deletes may be what makes it fit); the
 * commit's offset is the newest layer's, true of all of them. */
/* The next key of the merged layers (the newest layer wins ties; every
 * layer standing on that key moves on), or NULL at the end. */
static ov_node *merge_next(layer **layers, int nl, ov_pos *pos) {
  ov_node *n = NULL;
  for (int i = nl - 1; i >= 0; i--) {
    ov_node *e = ov_at(pos[i]);
    if (e && (!n || ov_cmp(e->dbi, ov_key(e), e->klen, n->dbi, ov_key(n), n->klen) < 0)) n = e;
  }
  if (!n) return NULL;
  for (int i = 0; i < nl; i++) {
    ov_node *e = ov_at(pos[i]);
    if (e && (e == n || ov_cmp(e->dbi, ov_key(e), e->klen, n->dbi, ov_key(n), n->klen) == 0))
      pos[i] = ov_pos_next(pos[i]);
  }
  return n;
}

/* Drain readahead: when the last merge waited for the disk (the data set is
 * bigger than RAM: each put's leaf page had to be read first, one after the
 * other), the reader threads look up the merge's next keys, RA_AHEAD ahead
 * of it in RA_JOBS jobs, so the store thread finds their pages cached. */
#define RA_JOB_KEYS 64
#define RA_JOBS 64
#define RA_AHEAD (RA_JOB_KEYS * RA_JOBS)
#define RA_MIN_FAULTS 256

typedef struct ra_slot {
  cairn_store_readjob job;
  int busy; /* submitted, not yet done (atomic) */
} ra_slot;

typedef struct merge_readahead {
  layer **layers;
  int nl, end;
  ov_pos pos[MAX_FROZEN]; /* the cursor ahead of the merge */
  uint64_t submitted;     /* keys handed to the readers */
  ra_slot *slots;
} merge_readahead;

static void ra_done(cairn_store_readjob *j) { __atomic_store_n(&((ra_slot *)j->ud)->busy, 0, __ATOMIC_RELEASE); }

/* Keeps RA_AHEAD keys read ahead of `merged` (keys the merge has put). */
static void ra_fill(cairn_store *s, merge_readahead *ra, uint64_t merged) {
  for (int i = 0; i < RA_JOBS && !ra->end && ra->submitted < merged + RA_AHEAD; i++) {
    ra_slot *sl = &ra->slots[i];
    if (__atomic_load_n(&sl->busy, __ATOMIC_ACQUIRE)) continue;
    cairn_store_readjob *j = &sl->job;
    j->n = 0;
    j->keys.len = 0;
    while (j->n < RA_JOB_KEYS) {
      ov_node *n = merge_next(ra->layers, ra->nl, ra->pos);
      if (!n) {
        ra->end = 1;
        break;
      }
      if (n->dbi == s->meta) continue;
      cairn_buf_append(&j->keys, ov_key(n), n->klen);
      j->dbis[j->n] = (uint8_t)n->dbi;
      j->lens[j->n++] = n->klen;
    }
    if (!j->n) break;
    ra->submitted += (uint64_t)j->n;
    __atomic_add_fetch(&s->ra_keys, (uint64_t)j->n, __ATOMIC_RELAXED);
    __atomic_store_n(&sl->busy, 1, __ATOMIC_RELAXED);
    if (cairn_store_read_submit(s, j) != 0) {
      sl->busy = 0;
      ra->end = 1;
    }
  }
}

static int drain_layers(cairn_store *s, layer **layers, int nl) {
  MDB_txn *w;
  int rc = mdb_txn_begin(s->env, NULL, 0, &w);
  if (rc) {
    if (rc > 0)
      describe_errno(s, "mdb_txn_begin", rc);
    else
      snprintf(s->drain_err, sizeof(s->drain_err), "mdb_txn_begin: %s", mdb_strerror(rc));
    return rc;
  }
  const char *what = "mdb_put";
  MDB_cursor *curs[16] = {0};
  ov_pos pos[MAX_FROZEN];
  for (int i = 0; i < nl; i++) pos[i] = ov_first(layers[i]->ov);
  merge_readahead ra = {.layers = layers, .nl = nl};
  int use_ra = readahead_next(s) && s->nreaders;
  if (use_ra) {
    memcpy(ra.pos, pos, sizeof(pos[0]) * (size_t)nl);
    ra.slots = cairn_xcalloc(RA_JOBS, sizeof(ra_slot));
    for (int i = 0; i < RA_JOBS; i++) {
      ra.slots[i].job.done = ra_done;
      ra.slots[i].job.ud = &ra.slots[i];
    }
    ra_fill(s, &ra, 0);
  }
  uint64_t merged = 0;
  for (;;) {
    ov_node *n = merge_next(layers, nl, pos);
    if (!n) break;
    if (use_ra && (++merged % RA_JOB_KEYS) == 0) ra_fill(s, &ra, merged);
    MDB_val k = {n->klen, (void *)ov_key(n)};
    /* One cursor per dbi, kept across puts: the keys come in order, and
     * LMDB's cursor lookup starts from the current page when the key falls
     * in it (a descent from the root otherwise). */
    if (n->dbi >= 16) {
      rc = EINVAL;
      break;
    }
    if (!curs[n->dbi] && (rc = mdb_cursor_open(w, n->dbi, &curs[n->dbi]))) {
      what = "mdb_cursor_open";
      break;
    }
    MDB_cursor *cur = curs[n->dbi];
    if (ov_is_tomb(n)) {
      MDB_val v;
      rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
      if (rc == 0) rc = mdb_cursor_del(cur, 0);
      if (rc == MDB_NOTFOUND) rc = 0;
      what = "mdb_del";
    } else {
      MDB_val v = {n->vlen, (void *)n->val};
      rc = mdb_cursor_put(cur, &k, &v, 0);
      what = "mdb_put";
    }
    if (rc) break;
  }
  if (use_ra) { /* nothing of the layers is read after this */
    cairn_store_read_cancel(s, ra_done);
    for (int i = 0; i < RA_JOBS; i++) cairn_buf_free(&ra.slots[i].job.keys);
    free(ra.slots);
  }
  for (int i = 0; i < 16; i++)
    if (curs[i]) mdb_cursor_close(curs[i]);
  if (!rc && (rc = cairn_fault(CAIRN_FAULT_STORE_COMMIT))) {
    what = "mdb_txn_commit";
    mdb_txn_abort(w);
  } else if (!rc) {
    what = "mdb_txn_commit";
    rc = mdb_txn_commit(w);
  } else {
    mdb_txn_abort(w);
  }
  if (rc > 0) /* an errno (ENOSPC, EIO...): name the file */
    describe_errno(s, what, rc);
  else if (rc)
    snprintf(s->drain_err, sizeof(s->drain_err), "%s: %s", what, mdb_strerror(rc));
  return rc;
}

/* Pages on LMDB's free list (reusable once no reader sees them): what
 * mdb_stat -f sums. Read after each commit, on this thread. */
static uint64_t count_free_pages(cairn_store *s) {
  MDB_txn *t;
  if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t)) return 0;
  MDB_cursor *c;
  uint64_t n = 0;
  if (mdb_cursor_open(t, 0, &c) == 0) {
    MDB_val k, v;
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
      if (v.mv_size >= sizeof(size_t)) n += *(const size_t *)v.mv_data;
    mdb_cursor_close(c);
  }
  mdb_txn_abort(t);
  return n;
}

static void free_layers(layer *L) {
  while (L) {
    layer *next = L->next;
    ov_layer_free(L->ov);
    free(L->meta);
    free(L);
    L = next;
  }
}

/* Gathering pays only when the thread is what limits the writes: a drain
 * that takes a while. Otherwise each layer goes at once (memory comes back
 * sooner, no run files written for nothing). Under mu. */
static int gathering_merges(const cairn_store *s) {
  return s->merge_bytes && s->last_drain_us >= s->gather_after_us;
}

/* A pin is dropped (under mu): a layer released meanwhile may now be freed
 * by the store thread. */
static void unpin_layer(cairn_store *s, layer *L) {
  if (--L->pins > 0) return;
  for (layer **pp = &s->pinned; *pp; pp = &(*pp)->next)
    if (*pp == L) {
      *pp = L->next;
      s->pinned_bytes -= ov_layer_bytes(L->ov);
      L->next = s->to_free;
      s->to_free = L;
      pthread_cond_broadcast(&s->cv);
      break;
    }
}

/* Under mu: builds the order of a frozen layer that has none yet (the
 * loop, reading it in order, would otherwise sort it itself), with mu let
 * go meanwhile and the layer pinned, as a layer whose run is being
 * written. The store thread and the run writer both call it, so a layer
 * frozen during a merge of seconds is ordered too. 1 when it did one. */
static int order_a_frozen_layer(cairn_store *s) {
  layer *u = NULL;
  for (layer *x = s->oldest; x && !u; x = x->next)
    if (!x->drained && ov_layer_needs_order(x->ov)) u = x;
  if (!u) return 0;
  u->pins++;
  pthread_mutex_unlock(&s->mu);
  ov_layer_order(u->ov);
  pthread_mutex_lock(&s->mu);
  unpin_layer(s, u);
  return 1;
}

/* The next layer to write a run file for (under mu): the oldest undrained
 * one without a run, if every older undrained layer has its own (a run
 * continues the one before) and the backlog holds it on disk, like a
 * drain. NULL when none, when merges do not gather, or when someone waits
 * for everything to be drained. */
static layer *next_to_spill(cairn_store *s) {
  if (!gathering_merges(s) || s->waiters) return NULL;
  for (layer *x = s->oldest; x; x = x->next) {
    if (x->drained || x->spilled == 1) continue;
    if (x->spilled < 0 || (s->wal_gate && x->meta->offset > s->wal_synced)) return NULL;
    return x;
  }
  return NULL;
}

/* The run writer: its own thread, so that the layers frozen while a long
 * merge runs (seconds at millions of keys) get their run files too, and a
 * restart after a kill in the middle of a merge replays about one
 * checkpoint interval of the backlog, not the whole merge's worth. The
 * layer it writes is pinned: the store thread may drain it and the loop
 * release it meanwhile; the run of a layer drained meanwhile is deleted. */
static void *run_writer_thread(void *arg) {
  cairn_store *s = arg;
  pthread_mutex_lock(&s->mu);
  while (!s->stop) {
    if (order_a_frozen_layer(s)) continue; /* (while the store thread is in a merge) */
    layer *x = next_to_spill(s);
    if (!x) {
      pthread_cond_wait(&s->cv, &s->mu);
      continue;
    }
    x->pins++;
    pthread_mutex_unlock(&s->mu);
    int rc = spill_layer(s, x);
    pthread_mutex_lock(&s->mu);
    if (rc == 0 && x->drained) { /* LMDB holds it already */
      char path[4200];
      run_path(s, x->meta->seq, "", path, sizeof(path));
      unlink(path);
      s->spills++;
    } else if (!x->drained) {
      x->spilled = rc == 0 ? 1 : -1;
      if (rc == 0) {
        s->spills++;
        s->runs_on_disk++;
      } else if (!s->stop) {
        s->spill_errors++;
        pthread_cond_broadcast(&s->cv); /* the store thread merges it at once */
      }
    }
    unpin_layer(s, x);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void *store_thread(void *arg) {
  cairn_store *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    if (s->to_free) {
      layer *F = s->to_free;
      s->to_free = NULL;
      uint64_t bytes = 0;
      for (layer *x = F; x; x = x->next) bytes += ov_layer_bytes(x->ov);
      pthread_mutex_unlock(&s->mu);
      free_layers(F);
      pthread_mutex_lock(&s->mu);
      __atomic_sub_fetch(&s->free_pending_bytes, bytes, __ATOMIC_RELAXED);
      pthread_cond_broadcast(&s->done_cv);
      if (s->notify) { /* memory came back: writers may go on */
        s->notifying = 1;
        void (*notify)(void *) = s->notify;
        void *ud = s->notify_ud;
        pthread_mutex_unlock(&s->mu);
        notify(ud);
        pthread_mutex_lock(&s->mu);
        s->notifying = 0;
        pthread_cond_broadcast(&s->done_cv);
      }
    }
    layer *L = NULL;
    /* the undrained layers waiting, as many as one transaction takes, and
     * only those the backlog holds on disk (LMDB must never be ahead of
     * it: the loop tells how far it synced, cairn_store_wal_synced) */
    layer *batch[MAX_FROZEN];
    int nb = 0;
    while (!s->stop) {
      L = NULL;
      nb = 0;
      if (order_a_frozen_layer(s)) continue;
      /* a layer whose run file could not be written (a restart would
       * replay it from the backlog) goes at once */
      int chain_broken = 0;
      int gathering = gathering_merges(s);
      for (layer *x = s->oldest; x && gathering; x = x->next) {
        if (x->drained || x->spilled == 1) continue;
        chain_broken = x->spilled < 0;
        break;
      }
      if (!s->paused && !s->hold)
        for (L = s->oldest; L && L->drained; L = L->next) {
        }
      uint64_t pages = 0, merged = 0;
      for (layer *x = L; x && nb < MAX_FROZEN; x = x->next) {
        if (s->wal_gate && x->meta->offset > s->wal_synced) break;
        uint64_t p = ov_layer_entries(x->ov) + ov_layer_bytes(x->ov) / 4096;
        if (nb && pages + p > 2 * LAYER_MAX_PAGES - LAYER_MAX_PAGES / 4) break;
        /* a merge stays short enough that writers waiting at the budget
         * do not wait long for its commit */
        if (nb && merged + ov_layer_bytes(x->ov) > MERGE_MAX_BYTES) break;
        merged += ov_layer_bytes(x->ov);
        batch[nb++] = x;
        pages += p;
      }
      /* A merge gathers merge_bytes first: a random write dirties a whole
       * LMDB page, and a bigger merge puts more keys on each page it
       * touches (4M random SETs: 2,315 bytes written per SET draining
       * each layer at once, 681 gathering 384 MB; docs/DECISIONS.md). It
       * goes at once when the overlay is under pressure, when someone waits
       * for it, when a layer has no run file (a restart would replay it
       * from the backlog), when the map is at its ceiling (deletes make
       * room only once drained), or when its oldest layer has waited long
       * enough. */
      int64_t wait_ms = 0;
      if (nb && gathering && merged < s->merge_bytes && !s->waiters && !chain_broken &&
          !__atomic_load_n(&s->full, __ATOMIC_RELAXED) && /* at the ceiling, deletes make room once drained */
          !(s->urgent_bytes && s->frozen_bytes >= s->urgent_bytes) &&
          s->nfrozen < MAX_FROZEN - 4) {
        /* until the oldest has waited long enough, or the writes pause
         * (no layer frozen for MERGE_IDLE_MS: under writes one is frozen
         * every checkpoint interval): then memory and LMDB catch up */
        int64_t now = cairn_monotonic_ms(), idle = s->newest->frozen_ms + MERGE_IDLE_MS - now;
        wait_ms = L->frozen_ms + MERGE_MAX_WAIT_MS - now;
        if (idle < wait_ms) wait_ms = idle;
        if (wait_ms > 0) {
          nb = 0;
          struct timespec ts;
          clock_gettime(CLOCK_REALTIME, &ts);
          ts.tv_sec += wait_ms / 1000;
          ts.tv_nsec += (wait_ms % 1000) * 1000000;
          if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
          }
          if (s->to_free) break;
          pthread_cond_timedwait(&s->cv, &s->mu, &ts);
          continue;
        }
      }
      if (nb || s->to_free) break;
      pthread_cond_wait(&s->cv, &s->mu);
    }
    if (s->stop) break;
    if (!nb) continue; /* woken to free layers */
    s->draining = L;
    pthread_mutex_unlock(&s->mu);
    int64_t t0 = cairn_ustime();
    uint64_t faults0 = cairn_thread_major_faults() + cairn_store_reader_faults(s);
    int rc = s->drain_hook ? s->drain_hook(s->drain_hook_ud) : 0;
    if (rc)
      snprintf(s->drain_err, sizeof(s->drain_err), "drain hook: %s", mdb_strerror(rc));
    else
      rc = drain_layers(s, batch, nb);
    int64_t took = cairn_ustime() - t0;
    /* Waited for the disk (a major fault for one key in 8, this thread's or
     * the readers' on its behalf, and more than a few: a small merge's
     * first touches of new pages are not a data set bigger than RAM): the
     * next merge reads ahead. */
    uint64_t faults = cairn_thread_major_faults() + cairn_store_reader_faults(s) - faults0, keys = 0;
    for (int i = 0; i < nb; i++) keys += ov_layer_entries(batch[i]->ov);
    __atomic_store_n(&s->ra_on, faults >= RA_MIN_FAULTS && faults * 8 > keys, __ATOMIC_RELAXED);
    uint64_t free_pages = rc ? 0 : count_free_pages(s);
    pthread_mutex_lock(&s->mu);
    s->last_drain_us = took;
    if (!rc) s->free_pages = free_pages;
    s->draining = NULL;
    if (rc) {
      s->drain_rc = rc;
      s->paused = 1;
      s->fail_seen = 0;
      s->drains_failed++;
    } else {
      uint64_t entries = 0;
      for (int i = 0; i < nb; i++) {
        batch[i]->drained = 1;
        batch[i]->drain_us = s->last_drain_us;
        entries += ov_layer_entries(batch[i]->ov);
      }
      s->last_drain_entries = entries;
      /* LMDB holds them on disk (the commit synced): their runs go (a run
       * being written meanwhile is deleted by the writer when it ends) */
      for (int i = 0; i < nb; i++) {
        if (batch[i]->spilled != 1) continue;
        char path[4200];
        run_path(s, batch[i]->meta->seq, "", path, sizeof(path));
        pthread_mutex_unlock(&s->mu);
        unlink(path);
        pthread_mutex_lock(&s->mu);
        batch[i]->spilled = 0;
        s->runs_on_disk--;
      }
    }
    pthread_cond_broadcast(&s->done_cv);
    void (*notify)(void *) = s->notify;
    void *ud = s->notify_ud;
    s->notifying = 1;
    pthread_mutex_unlock(&s->mu);
    if (notify) notify(ud);
    pthread_mutex_lock(&s->mu);
    s->notifying = 0;
    pthread_cond_broadcast(&s->done_cv);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Waits for a notify call in progress: once this returns with fn == NULL,
 * the old ud is never touched again (the loop may close its handle). */
void cairn_store_wal_synced(cairn_store *s, uint64_t offset) {
  pthread_mutex_lock(&s->mu);
  s->wal_gate = 1;
  s->wal_synced = offset;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

void cairn_store_set_notify(cairn_store *s, void (*fn)(void *ud), void *ud) {
  pthread_mutex_lock(&s->mu);
  while (s->notifying) pthread_cond_wait(&s->done_cv, &s->mu);
  s->notify = fn;
  s->notify_ud = ud;
  pthread_mutex_unlock(&s->mu);
}

/* The loop's snapshot moves to the newest commit. Nothing may point into the
 * old one: called between commands, with no cursor open. */
static int renew_snapshot(cairn_store *s) {
  s->memo.valid = 0;
  mdb_txn_reset(s->rtxn);
  int rc = mdb_txn_renew(s->rtxn);
  if (rc) return store_error(s, "mdb_txn_renew", rc);
  return 0;
}

static int grow_to(cairn_store *s, uint64_t limit);

/* After the thread stopped on MDB_MAP_FULL (so no write transaction is
 * open): doubles the map where no reader holds a pointer into it. 1 grown,
 * 0 not grown: at the ceiling (the store is then full) or because growing
 * failed below it (the disk is full: grow_failed, the drain error says
 * so, never the ceiling), -1 the snapshot is lost. */
static int grow_between_commands(cairn_store *s) {
  s->memo.valid = 0;
  mdb_txn_reset(s->rtxn);
  int at_ceiling = s->map_size >= s->max_map_size;
  int grew = !at_ceiling && grow_to(s, s->max_map_size) == 0;
  int rc = mdb_txn_renew(s->rtxn);
  if (rc) {
    store_error(s, "mdb_txn_renew", rc);
    return -1;
  }
  s->full = at_ceiling;
  s->grow_failed = !grew && !at_ceiling;
  if (s->grow_failed) {
    pthread_mutex_lock(&s->mu);
    msgf(s->drain_err, sizeof(s->drain_err), "growing the LMDB map: %s", s->errstr);
    pthread_mutex_unlock(&s->mu);
  }
  return grew;
}

/* Lets the paused store thread go on. */
static void resume_thread(cairn_store *s) {
  pthread_mutex_lock(&s->mu);
  s->paused = 0;
  s->drain_rc = 0;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* The remap's own cost is unmapping the old map: tearing down a page-table
 * entry for every page of it that was touched (measured: 514 ms at 8 GB,
 * while every client waited), then reserving the file's new part on disk.
 * Before a growth, both are done ahead in slices of at most UNMAP_SLICE_US
 * a call: the new part reserved (posix_fallocate beyond the map changes
 * nothing LMDB sees), the map unmapped (MADV_DONTNEED: the pages stay in
 * the page cache, dirty ones are still written back; a reader touching one
 * maps it again), so the remap itself only unmaps what was touched since. */
#define UNMAP_SLICE_US 2000
#define UNMAP_CHUNK ((uint64_t)16 << 20)

/* Full-sync snapshots are reading the map through their own transactions:
 * it must not move (mdb_env_set_mapsize wants no transaction open). */
static int snapshots_open(const cairn_store *s) { return __atomic_load_n(&s->snapshots, __ATOMIC_SEQ_CST); }

/* The map moved (or a growth ahead is given up): unmapping starts over,
 * the thread is let go. */
static void end_unmapping(cairn_store *s) {
  s->unmapped_ahead = 0;
  s->unmap_addr = NULL;
  if (!s->unmapping) return;
  s->unmapping = 0;
  pthread_mutex_lock(&s->mu);
  s->hold--;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* The map's address and length, from /proc/self/maps (LMDB does not say
 * where it mapped the file unless MDB_FIXEDMAP): 0, or -1. */
static int find_map(const cairn_store *s, char **addr, uint64_t *len) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  char line[4400 + 128];
  int rc = -1;
  size_t plen = strlen(s->path);
  while (rc != 0 && fgets(line, sizeof(line), f)) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = 0;
    unsigned long lo, hi;
    if (n < plen || strcmp(line + n - plen, s->path) != 0 || sscanf(line, "%lx-%lx", &lo, &hi) != 2) continue;
    *addr = (char *)lo;
    *len = hi - lo;
    rc = 0;
  }
  fclose(f);
  return rc;
}

/* The file's new part, a slice per call: 1 once all of it is reserved. */
static int reserve_ahead(cairn_store *s) {
  int64_t t0 = cairn_ustime();
  uint64_t target = s->map_size * 2 < s->max_map_size ? s->map_size * 2 : s->max_map_size;
  if (s->reserved_ahead < s->map_size) s->reserved_ahead = s->map_size;
  int fd;
  if (!s->writemap || mdb_env_get_fd(s->env, &fd) != 0) s->reserved_ahead = target;
  while (s->reserved_ahead < target && cairn_ustime() - t0 < UNMAP_SLICE_US) {
    uint64_t left = target - s->reserved_ahead, n = left < UNMAP_CHUNK ? left : UNMAP_CHUNK;
    if (posix_fallocate(fd, (off_t)s->reserved_ahead, (off_t)n) != 0) s->reserved_ahead = target; /* the growth says why */
    else s->reserved_ahead += n;
  }
  return s->reserved_ahead >= target;
}

/* The old map, a slice per call: 1 once all of it is unmapped. */
static int unmap_ahead(cairn_store *s) {
  if (!s->unmap_addr && find_map(s, &s->unmap_addr, &s->unmap_len) != 0) return 1; /* advice: remap as before */
  int64_t t0 = cairn_ustime();
  while (s->unmapped_ahead < s->unmap_len && cairn_ustime() - t0 < UNMAP_SLICE_US) {
    uint64_t left = s->unmap_len - s->unmapped_ahead, n = left < UNMAP_CHUNK ? left : UNMAP_CHUNK;
    if (madvise(s->unmap_addr + s->unmapped_ahead, n, MADV_DONTNEED) != 0) return 1;
    s->unmapped_ahead += n;
  }
  return s->unmapped_ahead >= s->unmap_len;
}

/* Grows the map before a merge runs out of it (MDB_MAP_FULL aborts the
 * whole transaction: seconds of the thread's work at millions of keys),
 * while the thread is idle (gathering a merge, most of the time) and no
 * reader is mid-command. A merge may need room for a copy of every page it
 * touches besides the pages it replaces (copy-on-write): twice what waits.
 * The remap is still a stall of the loop, made short by reserving the
 * file's new part first (reserve_ahead, also while the thread merges) and
 * unmapping the map (unmap_ahead, a slice per call: cairn_store_growing
 * asks for a call each iteration meanwhile) with the thread held so that
 * its writes do not map pages again: one per doubling, logged with its
 * duration. */
static void grow_ahead(cairn_store *s) {
  if (!s->unmapping) {
    if (s->map_size >= s->max_map_size || s->grow_ahead_failed) return;
    pthread_mutex_lock(&s->mu);
    uint64_t waiting = s->frozen_bytes;
    int busy = s->draining != NULL || s->paused;
    pthread_mutex_unlock(&s->mu);
    uint64_t need = cairn_store_used_bytes(s) + 2 * (waiting + ov_layer_bytes(s->active));
    if (need <= s->map_size - s->map_size / 8) return;
    /* while the thread merges too (the new part is beyond what LMDB sees):
     * a growth it forces (MDB_MAP_FULL) then finds the file reserved */
    if (!reserve_ahead(s) || busy || snapshots_open(s)) return;
    pthread_mutex_lock(&s->mu);
    if (s->draining || s->paused) {
      pthread_mutex_unlock(&s->mu);
      return;
    }
    s->hold++;
    pthread_mutex_unlock(&s->mu);
    s->unmapping = 1;
  }
  if (!unmap_ahead(s)) return;
  if (snapshots_open(s)) { /* a full sync began meanwhile: after it */
    end_unmapping(s);
    return;
  }
  /* A failure (the disk is full) is left to the drain that needs the room:
   * it refuses writes, names the cause and retries; no second attempt
   * ahead until a growth works. */
  if (grow_between_commands(s) == 0) s->grow_ahead_failed = 1;
  s->grow_failed = 0; /* a drain that needs the room will say so itself */
  end_unmapping(s);
}

int cairn_store_growing(const cairn_store *s) { return s->unmapping; }

int cairn_store_poll(cairn_store *s) {
  if (s->open_cursors) return 0;
  if (!s->failed) grow_ahead(s);
  else end_unmapping(s); /* a growth under way is given up: the thread is not held for it */
  pthread_mutex_lock(&s->mu);
  int drained = 0;
  for (layer *L = s->oldest; L && L->drained; L = L->next) drained++;
  int rc = s->paused ? s->drain_rc : 0;
  pthread_mutex_unlock(&s->mu);
  if (drained) {
    if (renew_snapshot(s) != 0) return -1;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < drained; i++) {
      layer *L = s->oldest;
      s->oldest = L->next;
      if (!s->oldest) s->newest = NULL;
      s->nfrozen--;
      s->frozen_bytes -= ov_layer_bytes(L->ov);
      s->entries_drained += ov_layer_entries(L->ov);
      s->committed = *L->meta;
      s->checkpoints++;
      s->last_checkpoint_ms = L->drain_us / 1000;
      /* freed by the store thread: releasing a layer's arena and hash
       * table (hundreds of MB) is not the loop's work */
      if (L->pins) { /* a snapshot still reads it */
        L->next = s->pinned;
        s->pinned = L;
        s->pinned_bytes += ov_layer_bytes(L->ov);
      } else {
        L->next = s->to_free;
        s->to_free = L;
      }
      __atomic_add_fetch(&s->free_pending_bytes, ov_layer_bytes(L->ov), __ATOMIC_RELAXED); /* held until freed */
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* Full when the map cannot grow and what LMDB holds (free pages not
     * counted) reaches 7/8 of it: the last eighth is kept for writes that
     * may not be refused (deletes, expiry, replay), whose drains free
     * pages again. */
    s->full = s->map_size >= s->max_map_size && cairn_store_live_bytes(s) > s->max_map_size - s->max_map_size / 8;
    if (s->full) { /* the thread stops gathering merges */
      pthread_mutex_lock(&s->mu);
      pthread_cond_broadcast(&s->cv);
      pthread_mutex_unlock(&s->mu);
    }
  }
  if (rc && s->fail_seen) return -1; /* known: cairn_store_retry deals with it */
  if (rc) {
    s->fail_seen = 1;
    if (rc != MDB_MAP_FULL) return -1; /* stays paused: the caller logs and retries later */
    int grew = grow_between_commands(s);
    if (grew < 0) return -1;
    if (!grew) {
      s->fail_seq = s->layer_seq;
      return -1; /* stays paused: cairn_store_retry once a new layer may make it fit */
    }
    resume_thread(s);
  }
  return drained;
}

int cairn_store_blocked(const cairn_store *s, char *out, size_t len) {
  pthread_mutex_lock((pthread_mutex_t *)&s->mu);
  int rc = s->paused ? s->drain_rc : 0;
  int blocked = rc && (rc != MDB_MAP_FULL || s->grow_failed);
  if (blocked && out) snprintf(out, len, "%s", s->drain_err);
  pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
  return blocked;
}

int cairn_store_drain_error(const cairn_store *s, char *out, size_t len) {
  pthread_mutex_lock((pthread_mutex_t *)&s->mu);
  int rc = s->paused ? s->drain_rc : 0;
  if (rc && out) snprintf(out, len, "%s", s->drain_err);
  pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
  return rc ? (rc == MDB_MAP_FULL ? CAIRN_STORE_MAP_FULL : CAIRN_STORE_IO) : 0;
}

void cairn_store_retry(cairn_store *s) {
  pthread_mutex_lock(&s->mu);
  int rc = s->paused ? s->drain_rc : 0;
  pthread_mutex_unlock(&s->mu);
  if (!rc) return;
  if (rc == MDB_MAP_FULL && s->open_cursors == 0) {
    int grew = grow_between_commands(s);
    if (grew < 0) return;
    /* at the ceiling: try again only with a layer frozen since (its
     * deletes, drained with the failed layer, may make it fit) */
    if (!grew && s->fail_seq == s->layer_seq) return;
    s->fail_seq = s->layer_seq;
  }
  resume_thread(s);
}

static int store_wait(cairn_store *s);

/* Drains everything now: no merge gathers while someone waits. */
int cairn_store_wait(cairn_store *s) {
  while (s->unmapping) grow_ahead(s); /* the thread is held until the growth: finish it first */
  pthread_mutex_lock(&s->mu);
  s->waiters++;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  int rc = store_wait(s);
  pthread_mutex_lock(&s->mu);
  s->waiters--;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static int store_wait(cairn_store *s) {
  for (;;) {
    int n = cairn_store_poll(s);
    if (n < 0) return -1;
    /* the poll may have begun a growth (the thread idle between two
     * merges): it holds the thread until the map is remapped, and only
     * polls move it on, so finish it before waiting for the thread (a
     * shutdown just after a start with run files to merge and a small
     * lmdb-map-size waited forever: test_backlog_tool in CI) */
    while (s->unmapping) grow_ahead(s);
    pthread_mutex_lock(&s->mu);
    int left = s->nfrozen, paused = s->paused, undrained = 0;
    for (layer *L = s->oldest; L; L = L->next) undrained += !L->drained;
    /* (layers a snapshot pins are freed when it closes, not waited for) */
    int freeing = s->to_free != NULL || s->free_pending_bytes > s->pinned_bytes;
    if ((left && undrained && !paused) || (!left && freeing)) pthread_cond_wait(&s->done_cv, &s->mu);
    freeing = s->to_free != NULL || s->free_pending_bytes > s->pinned_bytes;
    pthread_mutex_unlock(&s->mu);
    if (!left && !freeing) return 0; /* on disk, and the memory given back */
    if (!left) continue;
    if (paused) {
      cairn_store_poll(s);
      pthread_mutex_lock(&s->mu);
      paused = s->paused;
      pthread_mutex_unlock(&s->mu);
      if (paused) return -1;
    }
  }
}

/* ------------------------------------------------------------ checkpoints */

uint64_t cairn_store_checkpoint_offset(const cairn_store *s) {
  return s->newest ? s->newest->meta->offset : s->committed.offset;
}
uint64_t cairn_store_durable_offset(const cairn_store *s) { return s->committed.offset; }

uint64_t cairn_store_dirty(const cairn_store *s) {
  return ov_layer_entries(s->active) ? ov_layer_bytes(s->active) : 0;
}
uint64_t cairn_store_dirty_entries(const cairn_store *s) { return ov_layer_entries(s->active); }

/* A layer goes into LMDB in one transaction (its offset is only true of
 * all of it). LMDB's dirty-page limit (128Ki pages) does not bind here: it
 * spills, or with MDB_WRITEMAP tracks no dirty list beyond it (measured:
 * 1.5M random puts into a 1.5M-key tree in one transaction commit, both
 * modes); this cap only keeps a transaction's work bounded (about 4M
 * entries) when checkpoint-bytes is set huge. */
int cairn_store_layer_full(const cairn_store *s) {
  return ov_layer_entries(s->active) + ov_layer_bytes(s->active) / 4096 >= LAYER_MAX_PAGES;
}
uint64_t cairn_store_overlay_bytes(const cairn_store *s) {
  return ov_layer_bytes(s->active) + s->frozen_bytes + __atomic_load_n(&s->free_pending_bytes, __ATOMIC_RELAXED);
}
int cairn_store_frozen_layers(const cairn_store *s) { return s->nfrozen; }
int cairn_store_full(const cairn_store *s) { return s->full; }
uint64_t cairn_store_drains_failed(const cairn_store *s) { return s->drains_failed; }
uint64_t cairn_store_range_jumps(const cairn_store *s) { return s->range_jumps; }
uint64_t cairn_store_tombstones_skipped(const cairn_store *s) { return s->tombs_skipped; }
uint64_t cairn_store_drained_entries(const cairn_store *s) { return s->entries_drained; }

void cairn_store_set_merge(cairn_store *s, uint64_t merge_bytes, uint64_t urgent_bytes, int64_t gather_after_us) {
  pthread_mutex_lock(&s->mu);
  s->merge_bytes = merge_bytes;
  s->urgent_bytes = urgent_bytes;
  s->gather_after_us = gather_after_us;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

void cairn_store_run_stats(cairn_store *s, cairn_store_runs *out) {
  pthread_mutex_lock(&s->mu);
  out->on_disk = s->runs_on_disk;
  out->written = s->spills;
  out->errors = s->spill_errors;
  out->last_drain_entries = s->last_drain_entries;
  out->unordered = 0;
  for (layer *L = s->oldest; L; L = L->next) out->unordered += (uint64_t)ov_layer_needs_order(L->ov);
  snprintf(out->last_error, sizeof(out->last_error), "%s", s->spill_err);
  pthread_mutex_unlock(&s->mu);
}

const char *cairn_store_open_report(const cairn_store *s) { return s->open_report; }

static void reset_ranges(cairn_store *s) {
  for (int i = 0; s->nranges && i < RANGE_GROUPS * RANGE_WAYS; i++) s->ranges[i].used = 0;
  s->nranges = 0;
  s->exp_hint_valid = 0;
}

/* Freezes the active layer as the state at `offset` and hands it to the
 * store thread. */
int cairn_store_checkpoint(cairn_store *s, uint64_t offset) {
  if (s->failed) return CAIRN_STORE_IO;
  int src = cairn_store_settle(s); /* the state frozen with the layer counts every key of it */
  if (src) return src;
  if (ov_layer_entries(s->active) == 0 && offset == cairn_store_checkpoint_offset(s)) return 0;
  if (s->nfrozen >= MAX_FROZEN) return CAIRN_STORE_TXN_FULL; /* the drain is stuck: keep writing the active one */
  uint64_t prev_seq = s->cur.seq;
  s->cur.offset = offset;
  s->cur.seq = ++s->next_seq;
  unsigned char sq[8];
  wr64le(sq, s->cur.seq);
  cairn_store_meta_put(s, "seq", sq, 8);
  cairn_buf blob = {0};
  meta_serialize(&s->cur, &blob);
  cairn_store_meta_put(s, "state", blob.p, blob.len);
  cairn_buf_free(&blob);
  unsigned char off[8];
  wr64le(off, offset);
  cairn_store_meta_put(s, "offset", off, 8);
  unsigned char colls[16];
  wr64le(colls, s->cur.next_coll);
  wr64le(colls + 8, s->cur.dead_colls);
  cairn_store_meta_put(s, "colls", colls, 16);
  layer *L = cairn_xcalloc(1, sizeof(*L));
  L->ov = s->active;
  L->meta = cairn_xmalloc(sizeof(meta_state));
  *L->meta = s->cur;
  L->base = cairn_store_checkpoint_offset(s);
  L->prev_seq = prev_seq;
  L->frozen_ms = cairn_monotonic_ms();
  s->active = ov_layer_new();
  /* the next layer takes about as many keys: its hash index is sized for
   * them at once, not grown (and moved) on the way */
  ov_layer_reserve(s->active, ov_layer_entries(L->ov));
  /* read in order meanwhile (a collection, SCAN, the expiry index): the
   * next one keeps its unordered keys few (ov_layer_bound_pending) */
  if (ov_layer_was_read_in_order(L->ov)) ov_layer_bound_pending(s->active, PEND_MAX_READ);
  s->layer_seq++;
  s->memo.valid = 0;
  ov_layer_seal(L->ov); /* outside the mutex: the store thread goes on meanwhile */
  pthread_mutex_lock(&s->mu);
  push_frozen(s, L);
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return 0;
}

/* Back to the newest frozen state (or the committed one): the active layer
 * is dropped. */
void cairn_store_rollback(cairn_store *s) {
  defer_discard(s);
  ov_layer_free(s->active);
  s->active = ov_layer_new();
  s->layer_seq++;
  s->memo.valid = 0;
  s->failed = 0;
  s->cur = s->newest ? *s->newest->meta : s->committed;
  reset_ranges(s);
}

/* The map can only change size with no transaction alive in the process
 * (mdb_env_set_mapsize may move the mapping): the store thread is idle
 * (paused by an error, or held by quiesce) and the loop's snapshot reset. */
static int set_map_to(cairn_store *s, uint64_t n) {
  int ferr = cairn_fault(CAIRN_FAULT_STORE_GROW);
  if (ferr) {
    msgf(s->errstr, sizeof(s->errstr), "cannot reserve %llu bytes for the LMDB data file %s: %s",
         (unsigned long long)n, s->path, strerror(ferr));
    return -1;
  }
  int snaps = snapshots_open(s);
  if (snaps) {
    msgf(s->errstr, sizeof(s->errstr),
         "the LMDB map cannot grow while %d full-sync snapshot(s) read it; it grows once they end", snaps);
    return -1;
  }
  int64_t t0 = cairn_ustime();
  pthread_rwlock_wrlock(&s->map_lock); /* no reader in the map while it moves */
  int rc = mdb_env_set_mapsize(s->env, n);
  pthread_rwlock_unlock(&s->map_lock);
  s->last_grow_us = cairn_ustime() - t0;
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
  s->grows++;
  end_unmapping(s); /* a new map */
  s->grow_ahead_failed = 0;
  return 0;
}

static int grow_to(cairn_store *s, uint64_t limit) {
  if (s->map_size >= limit) {
    snprintf(s->errstr, sizeof(s->errstr), "the LMDB map is at its ceiling (lmdb-max-map-size, %llu bytes)",
             (unsigned long long)s->max_map_size);
    return -1;
  }
  uint64_t n = s->map_size * 2;
  if (n > limit) n = limit;
  return set_map_to(s, n);
}

uint64_t cairn_store_map_grows(const cairn_store *s) { return s->grows; }
int64_t cairn_store_last_grow_us(const cairn_store *s) { return s->last_grow_us; }

/* Commands may use the map up to 7/8 of the ceiling; the last eighth is kept
 * for what must never fail for lack of room: replaying acknowledged writes
 * after a rollback or a restart, and the checkpoint commit itself (LMDB needs
 * pages to save its free list). */
static void quiesce(cairn_store *s) {
  pthread_mutex_lock(&s->mu);
  s->hold++;
  while (s->draining) pthread_cond_wait(&s->done_cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  s->memo.valid = 0;
  mdb_txn_reset(s->rtxn);
}

static void unquiesce(cairn_store *s) {
  int rc = mdb_txn_renew(s->rtxn);
  if (rc) store_error(s, "mdb_txn_renew", rc);
  pthread_mutex_lock(&s->mu);
  s->hold--;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static int grow_held(cairn_store *s, uint64_t limit) {
  quiesce(s);
  int rc = grow_to(s, limit);
  unquiesce(s);
  if (rc == 0) s->full = 0;
  return rc;
}

int cairn_store_grow(cairn_store *s) {
  uint64_t soft = s->max_map_size - s->max_map_size / 8;
  return grow_held(s, soft > s->map_size ? soft : s->map_size);
}

int cairn_store_grow_reserve(cairn_store *s) { return grow_held(s, s->max_map_size); }

int cairn_store_make_room(cairn_store *s, uint64_t bytes) {
  uint64_t want = cairn_store_used_bytes(s) + bytes;
  while (s->map_size < want)
    if (cairn_store_grow(s) != 0) return -1;
  return 0;
}

uint64_t cairn_store_map_size(const cairn_store *s) { return s->map_size; }

int cairn_store_set_map_limits(cairn_store *s, uint64_t map_size, uint64_t max_map_size) {
  s->max_map_size = max_map_size > s->map_size ? max_map_size : s->map_size;
  uint64_t target = map_size < s->max_map_size ? map_size : s->max_map_size;
  int rc = 0;
  if (target > s->map_size) {
    quiesce(s);
    rc = set_map_to(s, target);
    unquiesce(s);
  }
  s->full = s->map_size >= s->max_map_size && cairn_store_live_bytes(s) > s->max_map_size - s->max_map_size / 8;
  /* a drain stopped by the full map tries again at once (and grows the
   * map below the new ceiling if it still needs to) */
  pthread_mutex_lock(&s->mu);
  int stuck = s->paused && s->drain_rc == MDB_MAP_FULL;
  pthread_mutex_unlock(&s->mu);
  if (stuck && s->open_cursors == 0) {
    s->grow_failed = 0;
    resume_thread(s);
  }
  return rc;
}

uint64_t cairn_store_used_bytes(cairn_store *s) {
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(s->env, &info);
  mdb_env_stat(s->env, &st);
  return (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
}

uint64_t cairn_store_checkpoints(const cairn_store *s) { return s->checkpoints; }

uint64_t cairn_store_live_bytes(cairn_store *s) {
  uint64_t used = cairn_store_used_bytes(s);
  pthread_mutex_lock(&s->mu);
  uint64_t fp = s->free_pages;
  pthread_mutex_unlock(&s->mu);
  MDB_stat st;
  mdb_env_stat(s->env, &st);
  uint64_t fb = fp * st.ms_psize;
  return fb < used ? used - fb : 0;
}
int64_t cairn_store_last_checkpoint_ms(const cairn_store *s) { return s->last_checkpoint_ms; }

/* ------------------------------------------------------------ snapshots */

/* A snapshot is LMDB's state in a read transaction plus the frozen layers
 * above it when it was opened (pinned: released layers wait in `pinned`
 * until the last snapshot reading them closes), merged as the loop's reads
 * merge them. No waiting for the store thread: a layer already in LMDB
 * when the transaction began only repeats what LMDB holds (the newest
 * layer holding a key wins, and LMDB has every layer up to its commit). */
struct cairn_store_snapshot {
  cairn_store *s;
  MDB_txn *txn;
  meta_state m;
  int stream_db;
  int nl;
  layer *layers[MAX_FROZEN]; /* newest first */
};

/* Ordered iteration of a snapshot over the raw keys of dbi that start with
 * pre: the layers' entries and LMDB's, the newest winning, tombstones
 * hiding what is below. */
typedef struct snap_iter {
  cairn_store_snapshot *snap;
  MDB_dbi dbi;
  const unsigned char *pre;
  size_t prelen;
  MDB_cursor *c;
  int lrc;          /* LMDB cursor: 0 positioned (lk, lv), else at its end */
  MDB_val lk, lv;
  ov_pos pos[MAX_FROZEN];
} snap_iter;

static int in_prefix(const void *k, size_t kl, const unsigned char *pre, size_t prelen) {
  return kl >= prelen && memcmp(k, pre, prelen) == 0;
}

static int snap_iter_open(snap_iter *it, cairn_store_snapshot *snap, MDB_dbi dbi, const unsigned char *pre,
                          size_t prelen, const void *start, size_t startlen) {
  it->snap = snap;
  it->dbi = dbi;
  it->pre = pre;
  it->prelen = prelen;
  if (mdb_cursor_open(snap->txn, dbi, &it->c)) return CAIRN_STORE_IO;
  it->lk = (MDB_val){startlen, (void *)start};
  it->lrc = mdb_cursor_get(it->c, &it->lk, &it->lv, MDB_SET_RANGE);
  if (it->lrc && it->lrc != MDB_NOTFOUND) {
    mdb_cursor_close(it->c);
    return CAIRN_STORE_IO;
  }
  for (int i = 0; i < snap->nl; i++) it->pos[i] = ov_seek_ge(snap->layers[i]->ov, dbi, start, startlen);
  return 0;
}

/* 1 with the next live entry in k, v; 0 at the end; <0 an LMDB error. */
static int snap_iter_next(snap_iter *it, MDB_val *k, MDB_val *v) {
  for (;;) {
    ov_node *best = NULL;
    int from_lmdb = 0;
    for (int i = 0; i < it->snap->nl; i++) { /* newest first: it wins ties */
      ov_node *e = ov_at(it->pos[i]);
      if (!e || e->dbi != it->dbi || !in_prefix(ov_key(e), e->klen, it->pre, it->prelen)) continue;
      if (!best || ov_cmp(e->dbi, ov_key(e), e->klen, best->dbi, ov_key(best), best->klen) < 0) best = e;
    }
    int lmdb_ok = it->lrc == 0 && in_prefix(it->lk.mv_data, it->lk.mv_size, it->pre, it->prelen);
    if (lmdb_ok && (!best || ov_cmp(it->dbi, it->lk.mv_data, it->lk.mv_size, best->dbi, ov_key(best), best->klen) < 0))
      from_lmdb = 1;
    if (!best && !from_lmdb) return 0;
    if (from_lmdb) {
      *k = it->lk;
      *v = it->lv;
      it->lrc = mdb_cursor_get(it->c, &it->lk, &it->lv, MDB_NEXT);
      if (it->lrc && it->lrc != MDB_NOTFOUND) return CAIRN_STORE_IO;
      return 1;
    }
    /* every layer and LMDB standing on that key move on */
    for (int i = 0; i < it->snap->nl; i++) {
      ov_node *e = ov_at(it->pos[i]);
      if (e && (e == best || (e->dbi == best->dbi && ov_cmp(e->dbi, ov_key(e), e->klen, best->dbi, ov_key(best), best->klen) == 0)))
        it->pos[i] = ov_pos_next(it->pos[i]);
    }
    if (lmdb_ok && ov_cmp(it->dbi, it->lk.mv_data, it->lk.mv_size, best->dbi, ov_key(best), best->klen) == 0) {
      it->lrc = mdb_cursor_get(it->c, &it->lk, &it->lv, MDB_NEXT);
      if (it->lrc && it->lrc != MDB_NOTFOUND) return CAIRN_STORE_IO;
    }
    if (ov_is_tomb(best)) continue;
    *k = (MDB_val){best->klen, (void *)ov_key(best)};
    *v = (MDB_val){best->vlen, (void *)best->val};
    return 1;
  }
}

static void snap_iter_close(snap_iter *it) { mdb_cursor_close(it->c); }

/* A meta record as of the snapshot: the newest layer holding it, else LMDB. */
static int snap_meta_get(cairn_store_snapshot *snap, const char *name, MDB_val *v) {
  size_t nl = strlen(name);
  for (int i = 0; i < snap->nl; i++) {
    ov_node *n = ov_find(snap->layers[i]->ov, snap->s->meta, name, nl);
    if (n) {
      if (ov_is_tomb(n)) return MDB_NOTFOUND;
      *v = (MDB_val){n->vlen, (void *)n->val};
      return 0;
    }
  }
  MDB_val k = {nl, (void *)name};
  return mdb_get(snap->txn, snap->s->meta, &k, v);
}

int cairn_store_snapshot_open(cairn_store *s, cairn_store_snapshot **out) {
  cairn_store_snapshot *snap = cairn_xcalloc(1, sizeof(*snap));
  snap->s = s;
  snap->stream_db = -1;
  /* the layers first: whatever the thread commits meanwhile, LMDB then
   * holds at least what the unpinned (released) layers held */
  pthread_mutex_lock(&s->mu);
  for (layer *L = s->oldest; L && snap->nl < MAX_FROZEN; L = L->next) {
    L->pins++;
    memmove(snap->layers + 1, snap->layers, sizeof(layer *) * (size_t)snap->nl);
    snap->layers[0] = L;
    snap->nl++;
  }
  pthread_mutex_unlock(&s->mu);
  __atomic_add_fetch(&s->snapshots, 1, __ATOMIC_SEQ_CST); /* before its transaction: no remap from here */
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &snap->txn);
  if (rc) {
    snap->txn = NULL;
    cairn_store_snapshot_close(snap);
    snprintf(s->errstr, sizeof(s->errstr), "mdb_txn_begin(snapshot): %s", mdb_strerror(rc));
    return CAIRN_STORE_IO;
  }
  MDB_val v;
  if (snap_meta_get(snap, "state", &v) == 0) {
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
  if (snap_meta_get(snap, "offset", &v) == 0 && v.mv_size == 8) snap->m.offset = rd64le(v.mv_data);
  if (snap_meta_get(snap, "stream_db", &v) == 0 && v.mv_size == 4) {
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
  uint16_t phys = snap->m.db[db].phys;
  unsigned char start[2];
  wr16be(start, phys);
  snap_iter it;
  if (snap_iter_open(&it, snap, snap->s->keys, start, 2, start, 2)) return CAIRN_STORE_IO;
  MDB_val k, v;
  int ret = 0, rc;
  while ((rc = snap_iter_next(&it, &k, &v)) == 1) {
    if (k.mv_size < KEY_PREFIX) continue;
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
  }
  snap_iter_close(&it);
  if (ret) return ret;
  return rc < 0 ? CAIRN_STORE_IO : 0;
}

void cairn_store_snapshot_close(cairn_store_snapshot *snap) {
  if (!snap) return;
  if (snap->txn) mdb_txn_abort(snap->txn);
  cairn_store *s = snap->s;
  __atomic_sub_fetch(&s->snapshots, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < snap->nl; i++) unpin_layer(s, snap->layers[i]);
  pthread_mutex_unlock(&s->mu);
  free(snap);
}

int cairn_store_snapshot_elems(cairn_store_snapshot *snap, uint64_t id, int space, cairn_store_elem_fn fn,
                               void *ud) {
  return cairn_store_snapshot_elems_from(snap, id, space, NULL, 0, fn, ud);
}

int cairn_store_snapshot_elems_from(cairn_store_snapshot *snap, uint64_t id, int space, const void *from,
                                    size_t fromlen, cairn_store_elem_fn fn, void *ud) {
  if (space & CAIRN_SPACE_HASHED) fromlen = 0; /* positions of hashed spaces: not needed yet */
  if (fromlen > CAIRN_ELEM_INLINE) fromlen = CAIRN_ELEM_INLINE;
  unsigned char pre[ELEM_PREFIX], start[ELEM_PREFIX + CAIRN_ELEM_INLINE];
  wr64be(pre, id);
  pre[8] = (unsigned char)space;
  memcpy(start, pre, ELEM_PREFIX);
  if (fromlen) memcpy(start + ELEM_PREFIX, from, fromlen);
  snap_iter it;
  if (snap_iter_open(&it, snap, snap->s->elems, pre, ELEM_PREFIX, start, ELEM_PREFIX + fromlen)) return CAIRN_STORE_IO;
  MDB_val k, v;
  int ret = 0, rc;
  while ((rc = snap_iter_next(&it, &k, &v)) == 1) {
    cairn_str sub, val;
    elem_split(&k, &v, &sub, &val);
    if ((ret = fn(ud, sub, val)) != 0) break;
  }
  snap_iter_close(&it);
  if (ret) return ret;
  return rc < 0 ? CAIRN_STORE_IO : 0;
}
