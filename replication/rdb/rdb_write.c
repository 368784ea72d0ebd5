/* Streaming RDB writer (see rdb.h for the contract). */
#include "replication/rdb/rdb.h"
#include "replication/rdb/rdb_int.h"

#include "engine/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTBUF 16384

enum { PH_NEW, PH_AUX, PH_DB, PH_VALUE, PH_COLL, PH_DUMP_DONE, PH_END, PH_FAILED };

struct cairn_rdb_writer {
  cairn_rdb_write_fn fn;
  void *ud;
  uint64_t crc;
  uint64_t total;             /* bytes emitted (buffered or written) */
  int phase;
  int dump;                   /* writing a DUMP payload */
  int node_elems;             /* per PACKED list node; 0 = PLAIN nodes */
  cairn_rdb_kind kind;
  uint64_t count, done;       /* declared and written elements of the collection */
  uint8_t *lp;                /* list: the quicklist node (listpack) being filled */
  size_t lplen, lpcap;
  uint32_t lpcount;
  uint64_t nodes_next;        /* cairn_rdb_writer_list_nodes() for the next list, 0 = none */
  uint64_t nodes, nodes_done; /* this list: nodes declared by the caller (0 = by node_elems) */
  int compact_next;           /* cairn_rdb_writer_compact() was called for the next value */
  int compact;                /* this value: listpack (hash, zset) or intset (set) */
  uint64_t s_ms, s_seq;       /* stream: the node's master ID */
  uint64_t s_entries;         /* stream: entries in the node being built (w->lp holds them) */
  uint64_t s_mfields;         /* stream: the master entry's fields ([len u32 LE][bytes] each in s_master) */
  uint8_t *s_master;
  size_t s_mlen, s_mcap;
  char err[160];
  size_t olen;
  uint8_t out[OUTBUF];
};

static int fail(cairn_rdb_writer *w, const char *fmt, ...) {
  if (w->phase != PH_FAILED) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    w->phase = PH_FAILED;
  }
  return -1;
}

static int flush(cairn_rdb_writer *w) {
  if (w->olen) {
    if (w->fn(w->ud, w->out, w->olen) != 0) return fail(w, "write callback failed");
    w->olen = 0;
  }
  return 0;
}

/* Appends bytes; crc selects whether they count in the checksum. */
static int put_raw(cairn_rdb_writer *w, const void *p, size_t n, int crc) {
  if (w->phase == PH_FAILED) return -1;
  if (crc) w->crc = cairn_rdb_crc64(w->crc, p, n);
  w->total += n;
  if (n > OUTBUF - w->olen) {
    if (flush(w)) return -1;
    if (n >= OUTBUF) {
      if (w->fn(w->ud, p, n) != 0) return fail(w, "write callback failed");
      return 0;
    }
  }
  memcpy(w->out + w->olen, p, n);
  w->olen += n;
  return 0;
}
static int put(cairn_rdb_writer *w, const void *p, size_t n) { return put_raw(w, p, n, 1); }
static int put_u8(cairn_rdb_writer *w, uint8_t b) { return put(w, &b, 1); }

static size_t enc_len(uint8_t *b, uint64_t v) {
  if (v < 64) {
    b[0] = (uint8_t)v;
    return 1;
  }
  if (v < 16384) {
    b[0] = (uint8_t)(0x40 | (v >> 8));
    b[1] = (uint8_t)v;
    return 2;
  }
  if (v <= UINT32_MAX) {
    b[0] = 0x80;
    for (int i = 0; i < 4; i++) b[1 + i] = (uint8_t)(v >> (24 - 8 * i));
    return 5;
  }
  b[0] = 0x81;
  for (int i = 0; i < 8; i++) b[1 + i] = (uint8_t)(v >> (56 - 8 * i));
  return 9;
}

static int put_len(cairn_rdb_writer *w, uint64_t v) {
  uint8_t b[9];
  return put(w, b, enc_len(b, v));
}

static void put_le(uint8_t *b, uint64_t v, int n) {
  for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
}

/* Canonical decimal integer (what Redis's string2ll + ll2string round trip
 * accepts): optional '-', no leading zeros, no "-0", fits int64. */
static int canonical_int(const uint8_t *s, size_t n, int64_t *out) {
  long long v;
  if (!cairn_str2ll((const char *)s, n, &v)) return 0;
  *out = v;
  return 1;
}

/* rdbSaveRawString without compression: int8/16/32 for canonical integers of
 * up to 11 characters, else length + bytes. */
static int put_string(cairn_rdb_writer *w, const void *p, size_t n) {
  int64_t v;
  if (n <= 11 && canonical_int(p, n, &v)) {
    uint8_t b[5];
    if (v >= INT8_MIN && v <= INT8_MAX) {
      b[0] = 0xC0;
      b[1] = (uint8_t)v;
      return put(w, b, 2);
    }
    if (v >= INT16_MIN && v <= INT16_MAX) {
      b[0] = 0xC1;
      put_le(b + 1, (uint64_t)v, 2);
      return put(w, b, 3);
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
      b[0] = 0xC2;
      put_le(b + 1, (uint64_t)v, 4);
      return put(w, b, 5);
    }
  }
  if (put_len(w, n)) return -1;
  return put(w, p, n);
}

cairn_rdb_writer *cairn_rdb_writer_new(cairn_rdb_write_fn fn, void *ud, int list_node_elems) {
  cairn_rdb_writer *w = calloc(1, sizeof(*w));
  if (!w) return NULL;
  w->fn = fn;
  w->ud = ud;
  w->node_elems = list_node_elems < 0 ? 128 : list_node_elems;
  if (w->node_elems > 65534) w->node_elems = 65534;
  return w;
}

static int s_master_append(cairn_rdb_writer *w, const void *p, size_t n);

void cairn_rdb_writer_free(cairn_rdb_writer *w) {
  if (!w) return;
  free(w->lp);
  free(w->s_master);
  free(w);
}

const char *cairn_rdb_writer_error(const cairn_rdb_writer *w) { return w->err[0] ? w->err : NULL; }
uint64_t cairn_rdb_writer_bytes(const cairn_rdb_writer *w) { return w->total; }

static int misuse(cairn_rdb_writer *w, const char *what) {
  return fail(w, "writer misuse: %s not allowed here", what);
}

int cairn_rdb_writer_aux(cairn_rdb_writer *w, const char *key, const void *val, size_t vlen) {
  if (w->phase != PH_AUX) return misuse(w, "aux");
  if (put_u8(w, CAIRN_RDB_OP_AUX) || put_string(w, key, strlen(key))) return -1;
  return put_string(w, val, vlen);
}

int cairn_rdb_writer_function(cairn_rdb_writer *w, const void *code, size_t len) {
  if (w->phase != PH_AUX) return misuse(w, "function");
  if (put_u8(w, CAIRN_RDB_OP_FUNCTION2)) return -1;
  return put_string(w, code, len);
}

int cairn_rdb_writer_aux_int(cairn_rdb_writer *w, const char *key, int64_t val) {
  char b[24];
  int n = snprintf(b, sizeof b, "%lld", (long long)val);
  return cairn_rdb_writer_aux(w, key, b, (size_t)n);
}

int cairn_rdb_writer_begin(cairn_rdb_writer *w, const cairn_rdb_aux *aux) {
  if (w->phase != PH_NEW || w->dump) return misuse(w, "begin");
  char hdr[10];
  snprintf(hdr, sizeof hdr, "REDIS%04d", CAIRN_RDB_VERSION);
  if (put(w, hdr, 9)) return -1;
  w->phase = PH_AUX;
  if (!aux) return 0;
  const char *ver = aux->redis_ver ? aux->redis_ver : "7.0.15";
  if (cairn_rdb_writer_aux(w, "redis-ver", ver, strlen(ver)) ||
      cairn_rdb_writer_aux_int(w, "redis-bits", (int64_t)sizeof(void *) * 8) ||
      cairn_rdb_writer_aux_int(w, "ctime", aux->ctime) ||
      cairn_rdb_writer_aux_int(w, "used-mem", aux->used_mem))
    return -1;
  if (aux->with_repl) {
    const char *id = aux->repl_id ? aux->repl_id : "";
    if (cairn_rdb_writer_aux_int(w, "repl-stream-db", aux->repl_stream_db) ||
        cairn_rdb_writer_aux(w, "repl-id", id, strlen(id)) ||
        cairn_rdb_writer_aux_int(w, "repl-offset", aux->repl_offset))
      return -1;
  }
  return cairn_rdb_writer_aux_int(w, "aof-base", 0);
}

int cairn_rdb_writer_select_db(cairn_rdb_writer *w, uint32_t db, uint64_t nkeys, uint64_t nexpires) {
  if (w->phase != PH_AUX && w->phase != PH_DB) return misuse(w, "select_db");
  if (put_u8(w, CAIRN_RDB_OP_SELECTDB) || put_len(w, db) || put_u8(w, CAIRN_RDB_OP_RESIZEDB) ||
      put_len(w, nkeys) || put_len(w, nexpires))
    return -1;
  w->phase = PH_DB;
  return 0;
}

static int type_byte(cairn_rdb_kind kind, int compact) {
  switch (kind) {
    case CAIRN_RDB_KIND_STRING: return CAIRN_RDB_TYPE_STRING;
    case CAIRN_RDB_KIND_LIST: return CAIRN_RDB_TYPE_LIST_QUICKLIST_2;
    case CAIRN_RDB_KIND_SET: return compact ? CAIRN_RDB_TYPE_SET_INTSET : CAIRN_RDB_TYPE_SET;
    case CAIRN_RDB_KIND_ZSET: return compact ? CAIRN_RDB_TYPE_ZSET_LISTPACK : CAIRN_RDB_TYPE_ZSET_2;
    case CAIRN_RDB_KIND_HASH: return compact ? CAIRN_RDB_TYPE_HASH_LISTPACK : CAIRN_RDB_TYPE_HASH;
    case CAIRN_RDB_KIND_STREAM: return CAIRN_RDB_TYPE_STREAM_LISTPACKS_2;
    default: return -1;
  }
}

/* Takes the compact flag for the value about to start. */
static int take_compact(cairn_rdb_writer *w, cairn_rdb_kind kind) {
  int c = w->compact_next &&
          (kind == CAIRN_RDB_KIND_SET || kind == CAIRN_RDB_KIND_ZSET || kind == CAIRN_RDB_KIND_HASH);
  w->compact_next = 0;
  w->compact = c;
  return c;
}

int cairn_rdb_writer_compact(cairn_rdb_writer *w) {
  if (w->phase != PH_NEW && w->phase != PH_DB) return misuse(w, "compact");
  w->compact_next = 1;
  return 0;
}

int cairn_rdb_writer_key(cairn_rdb_writer *w, cairn_rdb_kind kind, const void *key, size_t klen,
                         int64_t expire_ms) {
  if (w->phase != PH_DB) return misuse(w, "key");
  int t = type_byte(kind, take_compact(w, kind));
  if (t < 0) return fail(w, "writer misuse: kind %d cannot be written", (int)kind);
  if (expire_ms != CAIRN_RDB_NO_EXPIRE) {
    uint8_t b[9];
    b[0] = CAIRN_RDB_OP_EXPIRETIME_MS;
    put_le(b + 1, (uint64_t)expire_ms, 8);
    if (put(w, b, 9)) return -1;
  }
  if (put_u8(w, (uint8_t)t) || put_string(w, key, klen)) return -1;
  w->kind = kind;
  w->phase = PH_VALUE;
  return 0;
}

int cairn_rdb_writer_dump_begin(cairn_rdb_writer *w, cairn_rdb_kind kind) {
  if (w->phase != PH_NEW) return misuse(w, "dump_begin");
  int t = type_byte(kind, take_compact(w, kind));
  if (t < 0) return fail(w, "writer misuse: kind %d cannot be written", (int)kind);
  w->dump = 1;
  w->crc = 0;
  if (put_u8(w, (uint8_t)t)) return -1;
  w->kind = kind;
  w->phase = PH_VALUE;
  return 0;
}

static void value_done(cairn_rdb_writer *w) { w->phase = w->dump ? PH_DUMP_DONE : PH_DB; }

int cairn_rdb_writer_string(cairn_rdb_writer *w, const void *val, size_t len) {
  if (w->phase != PH_VALUE || w->kind != CAIRN_RDB_KIND_STRING) return misuse(w, "string");
  if (put_string(w, val, len)) return -1;
  value_done(w);
  return 0;
}

int cairn_rdb_writer_coll_begin(cairn_rdb_writer *w, uint64_t count) {
  if (w->phase != PH_VALUE || w->kind == CAIRN_RDB_KIND_STRING) return misuse(w, "coll_begin");
  if (count == 0) return fail(w, "writer misuse: empty collection");
  uint64_t header = count;
  w->nodes = w->kind == CAIRN_RDB_KIND_LIST && w->node_elems > 0 ? w->nodes_next : 0;
  w->nodes_next = 0;
  w->nodes_done = 0;
  if (w->nodes)
    header = w->nodes;
  else if (w->kind == CAIRN_RDB_KIND_LIST && w->node_elems > 0)
    header = (count + (uint64_t)w->node_elems - 1) / (uint64_t)w->node_elems;
  if (w->compact) {
    /* one blob, written at coll_end */
    uint64_t limit = w->kind == CAIRN_RDB_KIND_SET ? 65536 : 32767;
    if (count > limit) return fail(w, "writer misuse: %llu elements in a compact encoding", (unsigned long long)count);
  } else if (put_len(w, header)) {
    return -1;
  }
  w->count = count;
  w->done = 0;
  w->lplen = 0;
  w->lpcount = 0;
  w->phase = PH_COLL;
  return 0;
}

static int coll_elem_check(cairn_rdb_writer *w, cairn_rdb_kind kind, const char *what) {
  if (w->phase != PH_COLL || w->kind != kind) return misuse(w, what);
  if (w->done >= w->count) return fail(w, "writer misuse: more elements than the declared %llu",
                                       (unsigned long long)w->count);
  return 0;
}

/* ---- listpack (one quicklist node) -------------------------------------- */

static int lp_reserve(cairn_rdb_writer *w, size_t extra) {
  if (w->lplen + extra <= w->lpcap) return 0;
  size_t cap = w->lpcap ? w->lpcap : 1024;
  while (cap < w->lplen + extra) cap *= 2;
  uint8_t *p = realloc(w->lp, cap);
  if (!p) return fail(w, "out of memory");
  w->lp = p;
  w->lpcap = cap;
  return 0;
}


static int lp_append(cairn_rdb_writer *w, const uint8_t *s, size_t n) {
  uint8_t enc[9];
  size_t el;
  int64_t v;
  const uint8_t *data = s;
  size_t dlen = n;
  if (canonical_int(s, n, &v)) {
    data = NULL;
    dlen = 0;
    uint64_t u = (uint64_t)v;
    if (v >= 0 && v <= 127) {
      enc[0] = (uint8_t)v;
      el = 1;
    } else if (v >= -4096 && v <= 4095) {
      u &= 0x1fff;
      enc[0] = (uint8_t)(0xC0 | (u >> 8));
      enc[1] = (uint8_t)u;
      el = 2;
    } else if (v >= INT16_MIN && v <= INT16_MAX) {
      enc[0] = 0xF1;
      put_le(enc + 1, u, 2);
      el = 3;
    } else if (v >= -8388608 && v <= 8388607) {
      enc[0] = 0xF2;
      put_le(enc + 1, u, 3);
      el = 4;
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      enc[0] = 0xF3;
      put_le(enc + 1, u, 4);
      el = 5;
    } else {
      enc[0] = 0xF4;
      put_le(enc + 1, u, 8);
      el = 9;
    }
  } else if (n < 64) {
    enc[0] = (uint8_t)(0x80 | n);
    el = 1;
  } else if (n < 4096) {
    enc[0] = (uint8_t)(0xE0 | (n >> 8));
    enc[1] = (uint8_t)n;
    el = 2;
  } else {
    if (n > UINT32_MAX - 64) return fail(w, "list element too large for a listpack");
    enc[0] = 0xF0;
    put_le(enc + 1, n, 4);
    el = 5;
  }
  uint8_t bl[5];
  size_t bn = cairn_rdb_lp_backlen(bl, el + dlen);
  if (lp_reserve(w, el + dlen + bn + 1)) return -1;
  if ((uint64_t)w->lplen + el + dlen + bn + 1 > UINT32_MAX) return fail(w, "list node too large");
  memcpy(w->lp + w->lplen, enc, el);
  if (dlen) memcpy(w->lp + w->lplen + el, data, dlen);
  memcpy(w->lp + w->lplen + el + dlen, bl, bn);
  w->lplen += el + dlen + bn;
  w->lpcount++;
  return 0;
}

static int lp_flush_node(cairn_rdb_writer *w) {
  w->lp[w->lplen++] = 0xFF;
  put_le(w->lp, w->lplen, 4);
  put_le(w->lp + 4, w->lpcount < 65535 ? w->lpcount : 65535, 2);
  if (put_len(w, 2) || put_len(w, w->lplen) || put(w, w->lp, w->lplen)) return -1;
  w->lplen = 0;
  w->lpcount = 0;
  w->nodes_done++;
  return 0;
}

int cairn_rdb_writer_list_nodes(cairn_rdb_writer *w, uint64_t nodes) {
  if (w->phase != PH_NEW && w->phase != PH_DB && w->phase != PH_VALUE) return misuse(w, "list_nodes");
  w->nodes_next = nodes;
  return 0;
}

int cairn_rdb_writer_list_node_end(cairn_rdb_writer *w) {
  if (w->phase != PH_COLL || w->kind != CAIRN_RDB_KIND_LIST || !w->nodes) return misuse(w, "list_node_end");
  if (!w->lpcount) return fail(w, "writer misuse: empty list node");
  if (w->nodes_done >= w->nodes) return fail(w, "writer misuse: more list nodes than declared");
  return lp_flush_node(w);
}

int cairn_rdb_writer_elem(cairn_rdb_writer *w, const void *v, size_t n) {
  if (w->phase == PH_COLL && w->kind == CAIRN_RDB_KIND_SET && w->compact) {
    if (coll_elem_check(w, CAIRN_RDB_KIND_SET, "elem")) return -1;
    int64_t iv, prev;
    if (!canonical_int((const uint8_t *)v, n, &iv)) return fail(w, "writer misuse: intset member is not an integer");
    if (w->lplen && (memcpy(&prev, w->lp + w->lplen - 8, 8), prev >= iv))
      return fail(w, "writer misuse: intset members not strictly increasing");
    if (lp_reserve(w, 8)) return -1;
    memcpy(w->lp + w->lplen, &iv, 8);
    w->lplen += 8;
    w->done++;
    return 0;
  }
  if (w->phase == PH_COLL && w->kind == CAIRN_RDB_KIND_SET) {
    if (coll_elem_check(w, CAIRN_RDB_KIND_SET, "elem")) return -1;
    if (put_string(w, v, n)) return -1;
    w->done++;
    return 0;
  }
  if (coll_elem_check(w, CAIRN_RDB_KIND_LIST, "elem")) return -1;
  if (w->node_elems == 0) {
    if (put_len(w, 1) || put_string(w, v, n)) return -1;
  } else {
    if (w->lplen == 0) {
      if (lp_reserve(w, 6)) return -1;
      w->lplen = 6;                    /* header, filled at flush */
    }
    if (lp_append(w, v, n)) return -1;
    if (!w->nodes && w->lpcount == (uint32_t)w->node_elems && lp_flush_node(w)) return -1;
    if (w->nodes && w->lpcount == 65534) return fail(w, "writer misuse: list node of more than 65534 elements");
  }
  w->done++;
  return 0;
}

int cairn_rdb_writer_field(cairn_rdb_writer *w, const void *f, size_t fl, const void *v, size_t vl) {
  if (coll_elem_check(w, CAIRN_RDB_KIND_HASH, "field")) return -1;
  if (w->compact) {
    if (w->lplen == 0) {
      if (lp_reserve(w, 6)) return -1;
      w->lplen = 6;
    }
    if (lp_append(w, f, fl) || lp_append(w, v, vl)) return -1;
    w->done++;
    return 0;
  }
  if (put_string(w, f, fl) || put_string(w, v, vl)) return -1;
  w->done++;
  return 0;
}

int cairn_rdb_writer_zmember(cairn_rdb_writer *w, const void *m, size_t ml, double score) {
  if (coll_elem_check(w, CAIRN_RDB_KIND_ZSET, "zmember")) return -1;
  if (score != score) return fail(w, "NaN score");
  if (w->compact) {
    /* the score as Redis's listpack holds it: text (d2string), which the
     * listpack stores as an integer when it is one */
    char sb[32];
    int sn;
    if (isinf(score))
      sn = snprintf(sb, sizeof sb, "%s", score > 0 ? "inf" : "-inf");
    else if (score == (double)(long long)score && fabs(score) < 9007199254740992.0)
      sn = snprintf(sb, sizeof sb, "%lld", (long long)score);
    else
      sn = snprintf(sb, sizeof sb, "%.17g", score);
    if (w->lplen == 0) {
      if (lp_reserve(w, 6)) return -1;
      w->lplen = 6;
    }
    if (lp_append(w, m, ml) || lp_append(w, (const uint8_t *)sb, (size_t)sn)) return -1;
    w->done++;
    return 0;
  }
  uint64_t bits;
  memcpy(&bits, &score, 8);
  uint8_t b[8];
  put_le(b, bits, 8);
  if (put_string(w, m, ml) || put(w, b, 8)) return -1;
  w->done++;
  return 0;
}

int cairn_rdb_writer_coll_end(cairn_rdb_writer *w) {
  if (w->phase != PH_COLL) return misuse(w, "coll_end");
  if (w->done != w->count)
    return fail(w, "writer misuse: %llu elements written, %llu declared", (unsigned long long)w->done,
                (unsigned long long)w->count);
  if (w->kind == CAIRN_RDB_KIND_LIST && w->lpcount && lp_flush_node(w)) return -1;
  if (w->nodes && w->nodes_done != w->nodes)
    return fail(w, "writer misuse: %llu list nodes written, %llu declared", (unsigned long long)w->nodes_done,
                (unsigned long long)w->nodes);
  w->nodes = 0;
  if (w->compact && w->kind == CAIRN_RDB_KIND_SET) {
    /* intset: encoding (width), length, then the values LE, ascending */
    size_t nv = w->lplen / 8;
    int64_t lo, hi;
    memcpy(&lo, w->lp, 8);
    memcpy(&hi, w->lp + w->lplen - 8, 8);
    unsigned width = (lo >= INT16_MIN && hi <= INT16_MAX) ? 2 : (lo >= INT32_MIN && hi <= INT32_MAX) ? 4 : 8;
    size_t blen = 8 + nv * width;
    uint8_t *blob = malloc(blen);
    if (!blob) return fail(w, "out of memory");
    put_le(blob, width, 4);
    put_le(blob + 4, nv, 4);
    for (size_t i = 0; i < nv; i++) {
      int64_t v;
      memcpy(&v, w->lp + i * 8, 8);
      put_le(blob + 8 + i * width, (uint64_t)v, (int)width);
    }
    int rc = put_len(w, blen) || put(w, blob, blen);
    free(blob);
    if (rc) return -1;
    w->lplen = 0;
  } else if (w->compact) {
    /* hash / zset listpack: 2 entries per element */
    w->lp[w->lplen++] = 0xFF;
    put_le(w->lp, w->lplen, 4);
    put_le(w->lp + 4, w->count * 2 < 65535 ? w->count * 2 : 65535, 2);
    if (put_len(w, w->lplen) || put(w, w->lp, w->lplen)) return -1;
    w->lplen = 0;
  }
  w->compact = 0;
  value_done(w);
  return 0;
}

/* ---- streams (type 19) -------------------------------------------------- */

static int s_master_append(cairn_rdb_writer *w, const void *p, size_t n) {
  if (w->s_mlen + n > w->s_mcap) {
    size_t cap = w->s_mcap ? w->s_mcap : 256;
    while (cap < w->s_mlen + n) cap *= 2;
    uint8_t *b = realloc(w->s_master, cap);
    if (!b) return fail(w, "out of memory");
    w->s_master = b;
    w->s_mcap = cap;
  }
  memcpy(w->s_master + w->s_mlen, p, n);
  w->s_mlen += n;
  return 0;
}

static int lp_append_int(cairn_rdb_writer *w, int64_t v) {
  char b[24];
  int n = snprintf(b, sizeof b, "%lld", (long long)v);
  return lp_append(w, (const uint8_t *)b, (size_t)n);
}

int cairn_rdb_writer_stream_begin(cairn_rdb_writer *w, uint64_t nodes) {
  if (w->phase != PH_VALUE || w->kind != CAIRN_RDB_KIND_STREAM) return misuse(w, "stream_begin");
  if (put_len(w, nodes)) return -1;
  w->nodes = nodes;
  w->nodes_done = 0;
  w->lplen = 0;
  w->lpcount = 0;
  w->s_entries = 0;
  w->phase = PH_COLL;
  return 0;
}

int cairn_rdb_writer_stream_entry(cairn_rdb_writer *w, uint64_t ms, uint64_t seq, uint64_t nfields,
                                  const void *const *fv, const size_t *fvlen) {
  if (w->phase != PH_COLL || w->kind != CAIRN_RDB_KIND_STREAM) return misuse(w, "stream_entry");
  if (w->s_entries == 0) {
    /* the node's master entry: this entry's ID and fields */
    w->s_ms = ms;
    w->s_seq = seq;
    w->s_mlen = 0;
    w->s_mfields = nfields;
    for (uint64_t f = 0; f < nfields; f++) {
      uint8_t l[4];
      put_le(l, fvlen[2 * f], 4);
      if (s_master_append(w, l, 4) || s_master_append(w, fv[2 * f], fvlen[2 * f])) return -1;
    }
  }
  /* same fields as the master entry? */
  int same = nfields == w->s_mfields;
  const uint8_t *m = w->s_master;
  for (uint64_t f = 0; same && f < nfields; f++) {
    size_t l = (size_t)(m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24);
    if (l != fvlen[2 * f] || memcmp(m + 4, fv[2 * f], l) != 0) same = 0;
    m += 4 + l;
  }
  if (lp_append_int(w, same ? 2 : 0) || lp_append_int(w, (int64_t)(ms - w->s_ms)) ||
      lp_append_int(w, (int64_t)(seq - w->s_seq)))
    return -1;
  if (!same && lp_append_int(w, (int64_t)nfields)) return -1;
  for (uint64_t f = 0; f < nfields; f++) {
    if (!same && lp_append(w, fv[2 * f], fvlen[2 * f])) return -1;
    if (lp_append(w, fv[2 * f + 1], fvlen[2 * f + 1])) return -1;
  }
  if (lp_append_int(w, (int64_t)(same ? nfields + 3 : 2 * nfields + 4))) return -1;
  w->s_entries++;
  return 0;
}

int cairn_rdb_writer_stream_node_end(cairn_rdb_writer *w) {
  if (w->phase != PH_COLL || w->kind != CAIRN_RDB_KIND_STREAM || !w->s_entries) return misuse(w, "stream_node_end");
  if (w->nodes_done >= w->nodes) return fail(w, "writer misuse: more stream nodes than declared");
  /* the master entry goes in front of the entries written so far */
  uint8_t *body = w->lp;
  size_t blen = w->lplen;
  uint32_t bcount = w->lpcount;
  w->lp = NULL;
  w->lplen = w->lpcap = 0;
  w->lpcount = 0;
  int rc = lp_reserve(w, 6) ? -1 : 0;
  if (rc == 0) w->lplen = 6;
  if (rc == 0) rc = lp_append_int(w, (int64_t)w->s_entries) || lp_append_int(w, 0) ||
                    lp_append_int(w, (int64_t)w->s_mfields);
  const uint8_t *m = w->s_master;
  for (uint64_t f = 0; rc == 0 && f < w->s_mfields; f++) {
    size_t l = (size_t)(m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24);
    rc = lp_append(w, m + 4, l);
    m += 4 + l;
  }
  if (rc == 0) rc = lp_append_int(w, 0);
  if (rc == 0) rc = lp_reserve(w, blen + 1);
  if (rc == 0) {
    memcpy(w->lp + w->lplen, body, blen);
    w->lplen += blen;
    w->lpcount += bcount;
    w->lp[w->lplen++] = 0xFF;
    put_le(w->lp, w->lplen, 4);
    put_le(w->lp + 4, w->lpcount < 65535 ? w->lpcount : 65535, 2);
    uint8_t key[16];
    for (int i = 0; i < 8; i++) {
      key[i] = (uint8_t)(w->s_ms >> (56 - 8 * i));
      key[8 + i] = (uint8_t)(w->s_seq >> (56 - 8 * i));
    }
    rc = put_len(w, 16) || put(w, key, 16) || put_len(w, w->lplen) || put(w, w->lp, w->lplen);
  }
  /* keep the bigger buffer for the next node */
  free(body);
  w->lplen = 0;
  w->lpcount = 0;
  w->s_entries = 0;
  w->nodes_done++;
  return rc ? -1 : 0;
}

int cairn_rdb_writer_stream_meta(cairn_rdb_writer *w, const cairn_rdb_stream_item *m) {
  if (w->phase != PH_COLL || w->kind != CAIRN_RDB_KIND_STREAM || w->s_entries) return misuse(w, "stream_meta");
  if (w->nodes_done != w->nodes)
    return fail(w, "writer misuse: %llu stream nodes written, %llu declared", (unsigned long long)w->nodes_done,
                (unsigned long long)w->nodes);
  w->nodes = 0;
  if (put_len(w, m->length) || put_len(w, m->last_ms) || put_len(w, m->last_seq) || put_len(w, m->first_ms) ||
      put_len(w, m->first_seq) || put_len(w, m->maxdel_ms) || put_len(w, m->maxdel_seq) ||
      put_len(w, m->entries_added) || put_len(w, m->groups))
    return -1;
  return 0;
}

int cairn_rdb_writer_stream_group(cairn_rdb_writer *w, const void *name, size_t n, uint64_t last_ms,
                                  uint64_t last_seq, int64_t entries_read, uint64_t pending) {
  if (w->phase != PH_COLL || w->kind != CAIRN_RDB_KIND_STREAM) return misuse(w, "stream_group");
  uint64_t er = entries_read == INT64_MIN ? UINT64_MAX : (uint64_t)entries_read; /* -1: unknown */
  if (put_string(w, name, n) || put_len(w, last_ms) || put_len(w, last_seq) || put_len(w, er) ||
      put_len(w, pending))
    return -1;
  return 0;
}

int cairn_rdb_writer_stream_nack(cairn_rdb_writer *w, const uint8_t id[16], int64_t time, uint64_t count) {
  uint8_t b[24];
  memcpy(b, id, 16);
  put_le(b + 16, (uint64_t)time, 8);
  if (put(w, b, 24) || put_len(w, count)) return -1;
  return 0;
}

int cairn_rdb_writer_stream_consumers(cairn_rdb_writer *w, uint64_t n) { return put_len(w, n); }

int cairn_rdb_writer_stream_consumer(cairn_rdb_writer *w, const void *name, size_t n, int64_t seen,
                                     uint64_t pending) {
  uint8_t b[8];
  put_le(b, (uint64_t)seen, 8);
  if (put_string(w, name, n) || put(w, b, 8) || put_len(w, pending)) return -1;
  return 0;
}

int cairn_rdb_writer_stream_cnack(cairn_rdb_writer *w, const uint8_t id[16]) { return put(w, id, 16); }

int cairn_rdb_writer_stream_end(cairn_rdb_writer *w) {
  if (w->phase != PH_COLL || w->kind != CAIRN_RDB_KIND_STREAM) return misuse(w, "stream_end");
  value_done(w);
  return 0;
}

int cairn_rdb_writer_end(cairn_rdb_writer *w) {
  if (w->dump || (w->phase != PH_AUX && w->phase != PH_DB)) return misuse(w, "end");
  if (put_u8(w, CAIRN_RDB_OP_EOF)) return -1;
  uint8_t b[8];
  put_le(b, w->crc, 8);
  if (put_raw(w, b, 8, 0) || flush(w)) return -1;
  w->phase = PH_END;
  return 0;
}

int cairn_rdb_writer_dump_end(cairn_rdb_writer *w) {
  if (!w->dump || w->phase != PH_DUMP_DONE) return misuse(w, "dump_end");
  uint8_t v[2] = {CAIRN_RDB_VERSION & 0xff, CAIRN_RDB_VERSION >> 8};
  if (put(w, v, 2)) return -1;
  uint8_t b[8];
  put_le(b, w->crc, 8);
  if (put_raw(w, b, 8, 0) || flush(w)) return -1;
  w->phase = PH_END;
  return 0;
}
