/* RDB <-> per-member collections (see rdb_coll.h). */
#include "engine/rdb_coll.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/util.h"
#include "engine/cmd/xstream.h"

cairn_rdb_kind cairn_rdb_kind_of_type(uint8_t type) {
  switch (type) {
    case CAIRN_TYPE_LIST: return CAIRN_RDB_KIND_LIST;
    case CAIRN_TYPE_SET: return CAIRN_RDB_KIND_SET;
    case CAIRN_TYPE_ZSET: return CAIRN_RDB_KIND_ZSET;
    case CAIRN_TYPE_HASH: return CAIRN_RDB_KIND_HASH;
    case CAIRN_TYPE_STREAM: return CAIRN_RDB_KIND_STREAM;
    default: return CAIRN_RDB_KIND_STRING;
  }
}

uint8_t cairn_rdb_type_of_kind(cairn_rdb_kind kind) {
  switch (kind) {
    case CAIRN_RDB_KIND_LIST: return CAIRN_TYPE_LIST;
    case CAIRN_RDB_KIND_SET: return CAIRN_TYPE_SET;
    case CAIRN_RDB_KIND_ZSET: return CAIRN_TYPE_ZSET;
    case CAIRN_RDB_KIND_HASH: return CAIRN_TYPE_HASH;
    case CAIRN_RDB_KIND_STREAM: return CAIRN_TYPE_STREAM;
    default: return CAIRN_TYPE_STRING;
  }
}

uint64_t cairn_score_sortable(double d) {
  if (d == 0) d = 0.0;
  uint64_t u;
  memcpy(&u, &d, 8);
  return (u >> 63) ? ~u : u | (UINT64_C(1) << 63);
}

static void wr64be(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (unsigned char)v;
    v >>= 8;
  }
}

/* ---- writing ------------------------------------------------------------- */

/* Members come from the live store (DUMP) or from a snapshot (full sync). */
typedef struct src {
  cairn_store *s;
  cairn_store_snapshot *snap;
} src;

typedef int (*member_fn)(void *ud, cairn_str sub, cairn_str val);

/* Calls fn for the entries of a space in order, at most `max` of them.
 * Returns 0, fn's non-zero value, or a store error. */
static int each(const src *from, uint64_t id, int space, uint64_t max, member_fn fn, void *ud) {
  if (from->snap) {
    /* the snapshot walks the whole space; fn stops it (max is the count) */
    return cairn_store_snapshot_elems(from->snap, id, space, fn, ud);
  }
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(from->s, id, space, NULL, 0, 0, &it);
  if (rc < 0) return rc;
  cairn_str sub, val;
  uint64_t n = 0;
  while (n++ < max && (rc = cairn_elem_iter_next(it, &sub, &val)) > 0)
    if ((rc = fn(ud, sub, val)) != 0) break;
  cairn_elem_iter_close(it);
  return rc < 0 || rc > 0 ? rc : 0;
}

static double unsortable(const unsigned char *p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; i++) u = (u << 8) | p[i];
  u = (u >> 63) ? u & ~(UINT64_C(1) << 63) : ~u;
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* The encoding thresholds (hash-max-listpack-entries/value,
 * zset-max-listpack-entries/value, set-max-intset-entries), published by
 * engine/config.c whenever the configuration changes (Redis 7.0's defaults
 * 512/64, 128/64, 512 until then). A value is written compact when a Redis
 * with these settings would hold it compact; any Redis converts on load what
 * its own settings do not allow. The full-sync thread reads them too: each
 * is one relaxed atomic word. */
static long long lim_hash_entries = 512, lim_hash_value = 64, lim_zset_entries = 128, lim_zset_value = 64,
                 lim_intset_entries = 512;

void cairn_rdb_coll_set_limits(const cairn_rdb_limits *l) {
  __atomic_store_n(&lim_hash_entries, l->hash_entries, __ATOMIC_RELAXED);
  __atomic_store_n(&lim_hash_value, l->hash_value, __ATOMIC_RELAXED);
  __atomic_store_n(&lim_zset_entries, l->zset_entries, __ATOMIC_RELAXED);
  __atomic_store_n(&lim_zset_value, l->zset_value, __ATOMIC_RELAXED);
  __atomic_store_n(&lim_intset_entries, l->intset_entries, __ATOMIC_RELAXED);
}

static uint64_t lim(long long *v) {
  long long x = __atomic_load_n(v, __ATOMIC_RELAXED);
  return x < 0 ? 0 : (uint64_t)x;
}

typedef struct scan_ctx {
  uint8_t type;
  int ok;
  uint64_t max_value; /* longest field/value/member of a compact hash or zset */
  int64_t *ints;
  size_t nints, cap;
} scan_ctx;

static int scan_member(void *ud, cairn_str sub, cairn_str val) {
  scan_ctx *sc = ud;
  switch (sc->type) {
    case CAIRN_TYPE_HASH:
      if (sub.len > sc->max_value || val.len > sc->max_value) sc->ok = 0;
      break;
    case CAIRN_TYPE_ZSET:
      if (sub.len > sc->max_value) sc->ok = 0;
      break;
    case CAIRN_TYPE_SET: {
      /* An intset holds canonical 64-bit integers (Redis's string2ll). */
      long long v;
      if (!cairn_str2ll(sub.p, sub.len, &v) || sc->nints == sc->cap) sc->ok = 0;
      else sc->ints[sc->nints++] = v;
      break;
    }
  }
  return sc->ok ? 0 : 1;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Whether a value fits Redis's compact encoding (scans at most the threshold's number of members);
 * for a set, the members sorted numerically are left in sc->ints. */
static int decide(const src *from, uint8_t type, const cairn_coll *coll, scan_ctx *sc) {
  sc->type = type;
  sc->ok = 0;
  sc->ints = NULL;
  sc->nints = sc->cap = 0;
  uint64_t limit = type == CAIRN_TYPE_SET    ? lim(&lim_intset_entries)
                   : type == CAIRN_TYPE_HASH ? lim(&lim_hash_entries)
                                             : lim(&lim_zset_entries);
  sc->max_value = type == CAIRN_TYPE_HASH ? lim(&lim_hash_value) : lim(&lim_zset_value);
  if (type == CAIRN_TYPE_LIST || coll->count > limit) return 0;
  sc->ok = 1;
  if (type == CAIRN_TYPE_SET) {
    sc->ints = malloc(sizeof(int64_t) * (size_t)coll->count);
    sc->cap = (size_t)coll->count;
  }
  if (type == CAIRN_TYPE_SET && !sc->ints) return CAIRN_STORE_IO;
  int rc = each(from, coll->id, CAIRN_SPACE_MEMBERS, coll->count, scan_member, sc);
  if (rc < 0) return rc;
  if (sc->ok && sc->nints != coll->count && type == CAIRN_TYPE_SET) sc->ok = 0;
  if (sc->ok && type == CAIRN_TYPE_SET) qsort(sc->ints, sc->nints, sizeof(int64_t), cmp_i64);
  return 0;
}

/* List nodes follow Redis's list-max-listpack-size -2: a node ends before an
 * element that would take it past 8 KB (an element bigger than that gets a
 * node of its own), so the writer holds at most 8 KB or one element. */
typedef struct node_rule {
  size_t bytes;
  uint32_t n;
} node_rule;

static int node_break(node_rule *r, size_t len) {
  size_t cost = len + 11; /* entry header and back-length, at most */
  int brk = r->n > 0 && (r->bytes + cost > 8192 || r->n >= 65534);
  if (brk) {
    r->bytes = 0;
    r->n = 0;
  }
  r->bytes += cost;
  r->n++;
  return brk;
}

typedef struct count_ctx {
  node_rule rule;
  uint64_t nodes, left;
} count_ctx;

static int count_node(void *ud, cairn_str sub, cairn_str val) {
  count_ctx *cc = ud;
  if (cc->left == 0) return 2;
  cc->left--;
  if (node_break(&cc->rule, val.len) || cc->nodes == 0) cc->nodes++;
  return 0;
}

typedef struct wr_ctx {
  cairn_rdb_writer *w;
  uint8_t type;
  int space;
  uint64_t left;
  int failed;
  node_rule rule;
} wr_ctx;

static int write_member(void *ud, cairn_str sub, cairn_str val) {
  wr_ctx *wc = ud;
  if (wc->left == 0) return 2; /* the header is the truth: never more */
  wc->left--;
  int rc;
  switch (wc->type) {
    case CAIRN_TYPE_LIST:
      rc = node_break(&wc->rule, val.len) ? cairn_rdb_writer_list_node_end(wc->w) : 0;
      if (rc == 0) rc = cairn_rdb_writer_elem(wc->w, val.p, val.len);
      break;
    case CAIRN_TYPE_SET: rc = cairn_rdb_writer_elem(wc->w, sub.p, sub.len); break;
    case CAIRN_TYPE_HASH: rc = cairn_rdb_writer_field(wc->w, sub.p, sub.len, val.p, val.len); break;
    case CAIRN_TYPE_ZSET:
      if (wc->space == CAIRN_SPACE_ZSCORE) {
        if (sub.len < 8) return 0;
        rc = cairn_rdb_writer_zmember(wc->w, sub.p + 8, sub.len - 8, unsortable((const unsigned char *)sub.p));
      } else {
        double d = 0;
        if (val.len == 8) memcpy(&d, val.p, 8);
        rc = cairn_rdb_writer_zmember(wc->w, sub.p, sub.len, d);
      }
      break;
    default: rc = -1;
  }
  if (rc != 0) {
    wc->failed = 1;
    return 1;
  }
  return 0;
}

/* key == NULL: DUMP payload (dump_begin). Returns 0, -1 writer error, or a
 * store error (< -1). */
static int write_value(cairn_rdb_writer *w, const src *from, uint8_t type, const cairn_coll *coll, const void *key,
                       size_t klen, int64_t expire_ms) {
  scan_ctx sc;
  int rc = decide(from, type, coll, &sc);
  if (rc < 0) {
    free(sc.ints);
    return rc;
  }
  if (sc.ok && cairn_rdb_writer_compact(w) != 0) rc = -1;
  cairn_rdb_kind kind = cairn_rdb_kind_of_type(type);
  if (rc == 0) rc = key ? cairn_rdb_writer_key(w, kind, key, klen, expire_ms) : cairn_rdb_writer_dump_begin(w, kind);
  if (rc == 0 && type == CAIRN_TYPE_LIST) {
    /* a first pass sizes the nodes (the element sizes only: big values'
     * overflow pages are not read) */
    count_ctx cc = {{0, 0}, 0, coll->count};
    rc = each(from, coll->id, CAIRN_SPACE_LIST, coll->count, count_node, &cc);
    if (rc > 0) rc = 0;
    if (rc == 0) rc = cairn_rdb_writer_list_nodes(w, cc.nodes);
  }
  if (rc == 0) rc = cairn_rdb_writer_coll_begin(w, coll->count);
  if (rc == 0 && sc.ok && type == CAIRN_TYPE_SET) {
    for (size_t i = 0; rc == 0 && i < sc.nints; i++) {
      char b[24];
      int n = snprintf(b, sizeof b, "%lld", (long long)sc.ints[i]);
      rc = cairn_rdb_writer_elem(w, b, (size_t)n);
    }
  } else if (rc == 0) {
    /* a small zset goes in score order (a listpack is kept sorted) */
    int space = type == CAIRN_TYPE_LIST                  ? CAIRN_SPACE_LIST
                : sc.ok && type == CAIRN_TYPE_ZSET ? CAIRN_SPACE_ZSCORE
                                                   : CAIRN_SPACE_MEMBERS;
    wr_ctx wc = {w, type, space, coll->count, 0, {0, 0}};
    rc = each(from, coll->id, wc.space, coll->count, write_member, &wc);
    if (wc.failed) rc = -1;
    else if (rc > 0) rc = 0;
  }
  free(sc.ints);
  if (rc == 0) rc = cairn_rdb_writer_coll_end(w);
  return rc < -1 ? rc : rc ? -1 : 0;
}

int cairn_rdb_dump_coll(cairn_rdb_writer *w, cairn_store *s, uint8_t type, const cairn_coll *coll) {
  if (type == CAIRN_TYPE_STREAM) return cairn_stream_rdb_write(w, s, NULL, coll, NULL, 0, CAIRN_RDB_NO_EXPIRE);
  src from = {s, NULL};
  return write_value(w, &from, type, coll, NULL, 0, CAIRN_RDB_NO_EXPIRE);
}

int cairn_rdb_write_coll_key(cairn_rdb_writer *w, cairn_store_snapshot *snap, uint8_t type, const cairn_coll *coll,
                             const void *key, size_t klen, int64_t expire_ms) {
  if (type == CAIRN_TYPE_STREAM) return cairn_stream_rdb_write(w, NULL, snap, coll, key, klen, expire_ms);
  src from = {NULL, snap};
  return write_value(w, &from, type, coll, key, klen, expire_ms);
}

void cairn_coll_loader_start(cairn_coll_loader *L, cairn_store *s, uint8_t type) {
  L->s = s;
  L->type = type;
  L->stream = NULL;
  cairn_coll_init(s, &L->coll);
  L->coll.count = 0;
  if (type != CAIRN_TYPE_LIST) L->coll.head = 0;
}

int cairn_coll_loader_elem(cairn_coll_loader *L, const void *v, size_t n) {
  int rc;
  if (L->type == CAIRN_TYPE_LIST) {
    unsigned char pos[8];
    wr64be(pos, L->coll.head + L->coll.count);
    rc = cairn_elem_put(L->s, L->coll.id, CAIRN_SPACE_LIST, pos, 8, v, n);
  } else {
    rc = cairn_elem_put(L->s, L->coll.id, CAIRN_SPACE_MEMBERS, v, n, "", 0);
  }
  if (rc < 0) return rc;
  if (rc == 0) return 1; /* duplicate set member */
  L->coll.count++;
  return 0;
}

int cairn_coll_loader_field(cairn_coll_loader *L, const void *f, size_t fl, const void *v, size_t vl) {
  int rc = cairn_elem_put(L->s, L->coll.id, CAIRN_SPACE_MEMBERS, f, fl, v, vl);
  if (rc < 0) return rc;
  if (rc == 0) return 1;
  L->coll.count++;
  return 0;
}

int cairn_coll_loader_zmember(cairn_coll_loader *L, const void *m, size_t ml, double score) {
  if (isnan(score)) return 1;
  if (score == 0) score = 0.0; /* no -0.0 in the index */
  int rc = cairn_elem_put(L->s, L->coll.id, CAIRN_SPACE_MEMBERS, m, ml, &score, 8);
  if (rc < 0) return rc;
  if (rc == 0) return 1;
  unsigned char stack[256];
  unsigned char *k = ml + 8 <= sizeof(stack) ? stack : malloc(ml + 8);
  if (!k) return CAIRN_STORE_IO;
  wr64be(k, cairn_score_sortable(score));
  if (ml) memcpy(k + 8, m, ml);
  rc = cairn_elem_put(L->s, L->coll.id, CAIRN_SPACE_ZSCORE, k, ml + 8, "", 0);
  if (k != stack) free(k);
  if (rc < 0) return rc;
  L->coll.count++;
  return 0;
}

int cairn_coll_loader_purge(cairn_coll_loader *L) {
  /* spaces 0..6: a stream's too (engine/cmd/xstream.c) */
  static const int spaces[] = {CAIRN_SPACE_LIST, CAIRN_SPACE_ZSCORE, 2, 3, 4, 5, 6, CAIRN_SPACE_MEMBERS};
  cairn_coll_loader_stream_free(L);
  for (int i = 0; i < (int)(sizeof spaces / sizeof spaces[0]); i++) {
    int space = spaces[i];
    cairn_elem_iter *it;
    int rc = cairn_elem_iter_open(L->s, L->coll.id, space, NULL, 0, 0, &it);
    if (rc < 0) return rc;
    cairn_str sub, val;
    while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0)
      if ((rc = cairn_elem_iter_del(it)) < 0) break;
    cairn_elem_iter_close(it);
    if (rc < 0) return rc;
  }
  L->coll.count = 0;
  return 0;
}

/* ---- a whole snapshot ---------------------------------------------------- */

typedef struct snap_rdb_ctx {
  cairn_rdb_writer *w;
  cairn_store_snapshot *snap;
  int64_t now_ms;
} snap_rdb_ctx;

static int snap_rdb_key(void *ud, cairn_str key, const cairn_value *v) {
  snap_rdb_ctx *sc = ud;
  /* Keys already expired are left out: their DEL follows in the stream. */
  if (v->expire_ms >= 0 && v->expire_ms <= sc->now_ms) return 0;
  int64_t exp = v->expire_ms >= 0 ? v->expire_ms : CAIRN_RDB_NO_EXPIRE;
  if (v->type == CAIRN_TYPE_STRING) {
    if (cairn_rdb_writer_key(sc->w, CAIRN_RDB_KIND_STRING, key.p, key.len, exp) != 0 ||
        cairn_rdb_writer_string(sc->w, v->data, v->len) != 0)
      return -1;
    return 0;
  }
  /* A collection: its members are streamed from the snapshot, one at a
   * time (the writer holds at most one quicklist node). */
  cairn_coll coll;
  if (!cairn_type_is_coll(v->type) || cairn_coll_decode(v, &coll) != 0 || coll.count == 0) return 0;
  int rc = cairn_rdb_write_coll_key(sc->w, sc->snap, v->type, &coll, key.p, key.len, exp);
  return rc == 0 ? 0 : -1;
}

int cairn_rdb_write_snapshot(cairn_rdb_writer *w, cairn_store_snapshot *snap, const cairn_rdb_aux *aux,
                             const void *functions, size_t flen, int64_t now_ms) {
  snap_rdb_ctx sc = {.w = w, .snap = snap, .now_ms = now_ms};
  const char *fp = functions;
  int rc = cairn_rdb_writer_begin(w, aux);
  for (size_t pos = 0; rc == 0 && fp && pos + 4 <= flen;) {
    uint32_t len;
    memcpy(&len, fp + pos, 4);
    if (pos + 4 + (size_t)len > flen) break;
    rc = cairn_rdb_writer_function(w, fp + pos + 4, len);
    pos += 4 + (size_t)len;
  }
  for (int db = 0; rc == 0 && db < cairn_store_snapshot_databases(snap); db++) {
    uint64_t n = cairn_store_snapshot_dbsize(snap, db);
    if (!n) continue;
    rc = cairn_rdb_writer_select_db(w, (uint32_t)db, n, cairn_store_snapshot_expires(snap, db));
    if (rc == 0) rc = cairn_store_snapshot_scan(snap, db, snap_rdb_key, &sc);
  }
  if (rc == 0) rc = cairn_rdb_writer_end(w);
  return rc;
}
