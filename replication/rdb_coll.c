/* RDB <-> per-member collections (see rdb_coll.h). */
#include "replication/rdb_coll.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

cairn_rdb_kind cairn_rdb_kind_of_type(uint8_t type) {
  switch (type) {
    case CAIRN_TYPE_LIST: return CAIRN_RDB_KIND_LIST;
    case CAIRN_TYPE_SET: return CAIRN_RDB_KIND_SET;
    case CAIRN_TYPE_ZSET: return CAIRN_RDB_KIND_ZSET;
    case CAIRN_TYPE_HASH: return CAIRN_RDB_KIND_HASH;
    default: return CAIRN_RDB_KIND_STRING;
  }
}

uint8_t cairn_rdb_type_of_kind(cairn_rdb_kind kind) {
  switch (kind) {
    case CAIRN_RDB_KIND_LIST: return CAIRN_TYPE_LIST;
    case CAIRN_RDB_KIND_SET: return CAIRN_TYPE_SET;
    case CAIRN_RDB_KIND_ZSET: return CAIRN_TYPE_ZSET;
    case CAIRN_RDB_KIND_HASH: return CAIRN_TYPE_HASH;
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

/* One member of space 0 to the writer. */
static int write_member(cairn_rdb_writer *w, uint8_t type, cairn_str sub, cairn_str val) {
  switch (type) {
    case CAIRN_TYPE_LIST: return cairn_rdb_writer_elem(w, val.p, val.len);
    case CAIRN_TYPE_SET: return cairn_rdb_writer_elem(w, sub.p, sub.len);
    case CAIRN_TYPE_HASH: return cairn_rdb_writer_field(w, sub.p, sub.len, val.p, val.len);
    case CAIRN_TYPE_ZSET: {
      double d = 0;
      if (val.len == 8) memcpy(&d, val.p, 8);
      return cairn_rdb_writer_zmember(w, sub.p, sub.len, d);
    }
    default: return -1;
  }
}

int cairn_rdb_write_coll(cairn_rdb_writer *w, cairn_store *s, uint8_t type, const cairn_coll *coll) {
  if (cairn_rdb_writer_coll_begin(w, coll->count) != 0) return -1;
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(s, coll->id, 0, NULL, 0, 0, &it);
  if (rc < 0) return rc;
  cairn_str sub, val;
  uint64_t n = 0;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    if (n++ == coll->count) break; /* the header is the truth: never more */
    if (write_member(w, type, sub, val) != 0) {
      cairn_elem_iter_close(it);
      return -1;
    }
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return rc;
  return cairn_rdb_writer_coll_end(w) == 0 ? 0 : -1;
}

typedef struct snap_ctx {
  cairn_rdb_writer *w;
  uint8_t type;
  int failed;
} snap_ctx;

static int snap_member(void *ud, cairn_str sub, cairn_str val) {
  snap_ctx *sc = ud;
  if (write_member(sc->w, sc->type, sub, val) != 0) {
    sc->failed = 1;
    return 1;
  }
  return 0;
}

int cairn_rdb_write_coll_snap(cairn_rdb_writer *w, cairn_store_snapshot *snap, uint8_t type,
                              const cairn_coll *coll) {
  if (cairn_rdb_writer_coll_begin(w, coll->count) != 0) return -1;
  snap_ctx sc = {w, type, 0};
  int rc = cairn_store_snapshot_elems(snap, coll->id, 0, snap_member, &sc);
  if (sc.failed) return -1;
  if (rc < 0) return rc;
  return cairn_rdb_writer_coll_end(w) == 0 ? 0 : -1;
}

void cairn_coll_loader_start(cairn_coll_loader *L, cairn_store *s, uint8_t type) {
  L->s = s;
  L->type = type;
  cairn_coll_init(s, &L->coll);
  L->coll.count = 0;
  if (type != CAIRN_TYPE_LIST) L->coll.head = 0;
}

int cairn_coll_loader_elem(cairn_coll_loader *L, const void *v, size_t n) {
  int rc;
  if (L->type == CAIRN_TYPE_LIST) {
    unsigned char pos[8];
    wr64be(pos, L->coll.head + L->coll.count);
    rc = cairn_elem_put(L->s, L->coll.id, 0, pos, 8, v, n);
  } else {
    rc = cairn_elem_put(L->s, L->coll.id, 0, v, n, "", 0);
  }
  if (rc < 0) return rc;
  if (rc == 0) return 1; /* duplicate set member */
  L->coll.count++;
  return 0;
}

int cairn_coll_loader_field(cairn_coll_loader *L, const void *f, size_t fl, const void *v, size_t vl) {
  int rc = cairn_elem_put(L->s, L->coll.id, 0, f, fl, v, vl);
  if (rc < 0) return rc;
  if (rc == 0) return 1;
  L->coll.count++;
  return 0;
}

int cairn_coll_loader_zmember(cairn_coll_loader *L, const void *m, size_t ml, double score) {
  if (isnan(score)) return 1;
  if (score == 0) score = 0.0; /* no -0.0 in the index */
  int rc = cairn_elem_put(L->s, L->coll.id, 0, m, ml, &score, 8);
  if (rc < 0) return rc;
  if (rc == 0) return 1;
  unsigned char stack[256];
  unsigned char *k = ml + 8 <= sizeof(stack) ? stack : malloc(ml + 8);
  if (!k) return CAIRN_STORE_IO;
  wr64be(k, cairn_score_sortable(score));
  if (ml) memcpy(k + 8, m, ml);
  rc = cairn_elem_put(L->s, L->coll.id, 1, k, ml + 8, "", 0);
  if (k != stack) free(k);
  if (rc < 0) return rc;
  L->coll.count++;
  return 0;
}

int cairn_coll_loader_purge(cairn_coll_loader *L) {
  for (int space = 0; space < 2; space++) {
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
