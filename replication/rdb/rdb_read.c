/* Incremental RDB reader (see rdb.h for the contract).
 *
 * The parse is a sequence of "steps", each reading a small, bounded unit (an
 * opcode with its payload, a key record's type and name, one collection
 * element, one blob, ...). A step either completes, or finds the input short
 * and reports how many bytes it needs; it is then retried from its first byte
 * once they are there. Callbacks run only after every read of a step
 * succeeded, so a retried step never delivers anything twice. Input is parsed
 * in place; only an incomplete step's bytes are copied into r->buf, and then
 * only as many as the step asks for, so the reader never consumes a byte past
 * the end of the RDB.
 */
#include "replication/rdb/rdb.h"
#include "replication/rdb/rdb_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_VALUE ((size_t)512 * 1024 * 1024 + 65536)

enum { OK = 0, MORE = 1, ERR = -1, DONE = 2 };

enum {
  ST_MAGIC,
  ST_OP,             /* opcode or key record */
  ST_VALUE,          /* value head (depends on key.rdb_type) */
  ST_ELEMS,          /* r->remaining elements of types 1..5 */
  ST_QL_NODE,        /* r->remaining quicklist nodes */
  ST_MODULE_OPS,     /* module opcodes up to 0; then r->module_ret */
  ST_SS_NODE,        /* stream skipping */
  ST_SS_META,
  ST_SS_GROUP,
  ST_SS_GPEL,
  ST_SS_CONS_COUNT,
  ST_SS_CONS,
  ST_SS_CPEL,
  ST_CRC,
  ST_DUMP_TYPE,
  ST_DONE,
};

typedef struct cur {
  const uint8_t *p;
  size_t n, pos, need;
} cur;

typedef struct slot {
  uint8_t *p;          /* LZF output */
  size_t cap;
  char ibuf[24];       /* integer-encoded strings as text */
} slot;

struct cairn_rdb_reader {
  cairn_rdb_callbacks cb;
  void *ud;
  size_t maxlen;
  int st;
  int version;
  int failed, done, dump;
  int module_ret_value;  /* module ops belong to a value (1) or MODULE_AUX (0) */
  int no_crc;            /* the current step's bytes are the checksum itself */
  uint64_t off;          /* bytes consumed */
  uint64_t crc;
  uint8_t *buf;          /* an incomplete step's bytes */
  size_t blen, bcap, need;
  slot slots[2];
  cairn_rdb_key key;
  uint8_t *keybuf;
  size_t keycap;
  uint64_t db;
  int64_t pend_expire, pend_idle;
  int pend_freq;
  uint64_t remaining, module_id;
  uint64_t s_groups, s_pel, s_consumers, s_cpel;
  uint64_t s_node;       /* stream: listpack nodes delivered */
  char err[256];
};

#define TRY(x)               \
  do {                       \
    int _rc = (x);           \
    if (_rc != OK) return _rc; \
  } while (0)

static int perr(cairn_rdb_reader *r, const cur *c, const char *fmt, ...) {
  char m[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  snprintf(r->err, sizeof r->err, "RDB error at offset %llu: %s",
           (unsigned long long)(r->off + (c ? c->pos : 0)), m);
  return ERR;
}

static int cb_fail(cairn_rdb_reader *r, const cur *c, int v) {
  return perr(r, c, "aborted by callback (%d)", v);
}
#define CB(call)                          \
  do {                                    \
    int _v = (call);                      \
    if (_v != 0) return cb_fail(r, c, _v); \
  } while (0)

/* ---- primitives ---------------------------------------------------------- */

static int rd_bytes(cur *c, size_t k, const uint8_t **out) {
  if (c->n - c->pos < k) {
    c->need = c->pos + k;
    return MORE;
  }
  *out = c->p + c->pos;
  c->pos += k;
  return OK;
}

static int rd_u8(cur *c, unsigned *v) {
  const uint8_t *p;
  *v = 0;
  TRY(rd_bytes(c, 1, &p));
  *v = p[0];
  return OK;
}

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int rd_le(cur *c, int n, uint64_t *v) {
  const uint8_t *p;
  *v = 0;
  TRY(rd_bytes(c, (size_t)n, &p));
  *v = le(p, n);
  return OK;
}

/* Length encoding; *enc = 1 for a special string encoding (value = kind). */
static int rd_len_enc(cairn_rdb_reader *r, cur *c, uint64_t *v, int *enc) {
  unsigned b0;
  const uint8_t *p;
  *v = 0;
  *enc = 0;
  TRY(rd_u8(c, &b0));
  switch (b0 >> 6) {
    case 0: *v = b0 & 0x3f; return OK;
    case 1:
      TRY(rd_bytes(c, 1, &p));
      *v = ((uint64_t)(b0 & 0x3f) << 8) | p[0];
      return OK;
    case 2:
      if (b0 == 0x80) {
        TRY(rd_bytes(c, 4, &p));
        *v = ((uint64_t)p[0] << 24) | ((uint64_t)p[1] << 16) | ((uint64_t)p[2] << 8) | p[3];
        return OK;
      }
      if (b0 == 0x81) {
        TRY(rd_bytes(c, 8, &p));
        uint64_t x = 0;
        for (int i = 0; i < 8; i++) x = (x << 8) | p[i];
        *v = x;
        return OK;
      }
      c->pos--;
      return perr(r, c, "bad length encoding byte 0x%02x", b0);
    default:
      *enc = 1;
      *v = b0 & 0x3f;
      return OK;
  }
}

static int rd_len(cairn_rdb_reader *r, cur *c, uint64_t *v) {
  int enc;
  TRY(rd_len_enc(r, c, v, &enc));
  if (enc) {
    c->pos--;
    return perr(r, c, "string encoding where a length was expected");
  }
  return OK;
}

static int slot_reserve(cairn_rdb_reader *r, cur *c, slot *s, size_t n) {
  if (s->cap >= n && s->p) return OK;
  size_t cap = s->cap ? s->cap : 64;
  while (cap < n) cap *= 2;
  uint8_t *p = realloc(s->p, cap);
  if (!p) return perr(r, c, "out of memory (%zu bytes)", n);
  s->p = p;
  s->cap = cap;
  return OK;
}

/* A string in any encoding; the result is valid until the slot is reused. */
static int rd_string(cairn_rdb_reader *r, cur *c, int si, const uint8_t **s, size_t *n) {
  uint64_t v;
  int enc;
  size_t start = c->pos;
  TRY(rd_len_enc(r, c, &v, &enc));
  slot *sl = &r->slots[si];
  if (!enc) {
    if (v > r->maxlen) {
      c->pos = start;
      return perr(r, c, "string of %llu bytes exceeds the limit of %zu", (unsigned long long)v, r->maxlen);
    }
    *n = (size_t)v;
    return rd_bytes(c, (size_t)v, s);
  }
  int64_t iv;
  uint64_t u;
  switch (v) {
    case 0: TRY(rd_le(c, 1, &u)); iv = (int8_t)u; break;
    case 1: TRY(rd_le(c, 2, &u)); iv = (int16_t)u; break;
    case 2: TRY(rd_le(c, 4, &u)); iv = (int32_t)u; break;
    case 3: {
      uint64_t clen, ulen;
      const uint8_t *cp;
      TRY(rd_len(r, c, &clen));
      TRY(rd_len(r, c, &ulen));
      if (clen > r->maxlen || ulen > r->maxlen) {
        c->pos = start;
        return perr(r, c, "LZF string of %llu/%llu bytes exceeds the limit of %zu",
                    (unsigned long long)clen, (unsigned long long)ulen, r->maxlen);
      }
      TRY(rd_bytes(c, (size_t)clen, &cp));
      TRY(slot_reserve(r, c, sl, (size_t)ulen + 1));
      if (cairn_rdb_lzf_decompress(cp, (size_t)clen, sl->p, (size_t)ulen) != 0) {
        c->pos = start;
        return perr(r, c, "invalid LZF data (%llu -> %llu bytes)", (unsigned long long)clen,
                    (unsigned long long)ulen);
      }
      *s = sl->p;
      *n = (size_t)ulen;
      return OK;
    }
    default:
      c->pos = start;
      return perr(r, c, "unknown string encoding %llu", (unsigned long long)v);
  }
  int k = snprintf(sl->ibuf, sizeof sl->ibuf, "%lld", (long long)iv);
  *s = (const uint8_t *)sl->ibuf;
  *n = (size_t)k;
  return OK;
}

/* ---- blobs ---------------------------------------------------------------- */


typedef struct lpent {
  const uint8_t *s;   /* string data, or NULL for an integer */
  size_t len;
  int64_t v;
} lpent;

/* Decodes the entry at p (avail bytes before the terminator). Returns its
 * total size (with backlen) or 0 if malformed. */
static size_t lp_decode(const uint8_t *p, size_t avail, lpent *e) {
  size_t el, dl = 0;
  uint64_t u;
  if (avail < 1) return 0;
  uint8_t b = p[0];
  e->s = NULL;
  if ((b & 0x80) == 0) {
    el = 1;
    e->v = b & 0x7f;
  } else if ((b & 0xC0) == 0x80) {
    el = 1;
    dl = b & 0x3f;
  } else if ((b & 0xE0) == 0xC0) {
    if (avail < 2) return 0;
    el = 2;
    u = ((uint64_t)(b & 0x1f) << 8) | p[1];
    e->v = u >= 4096 ? (int64_t)u - 8192 : (int64_t)u;
  } else if ((b & 0xF0) == 0xE0) {
    if (avail < 2) return 0;
    el = 2;
    dl = ((size_t)(b & 0x0f) << 8) | p[1];
  } else {
    int w;
    switch (b) {
      case 0xF0:
        if (avail < 5) return 0;
        el = 5;
        dl = (size_t)le(p + 1, 4);
        goto str;
      case 0xF1: w = 2; break;
      case 0xF2: w = 3; break;
      case 0xF3: w = 4; break;
      case 0xF4: w = 8; break;
      default: return 0;
    }
    if (avail < (size_t)w + 1) return 0;
    el = (size_t)w + 1;
    u = le(p + 1, w);
    if (w < 8 && (u >> (8 * w - 1))) u -= (uint64_t)1 << (8 * w);   /* sign */
    e->v = (int64_t)u;
  }
str:
  if ((b & 0xC0) == 0x80 || (b & 0xF0) == 0xE0 || b == 0xF0) {
    if (dl > avail - el) return 0;
    e->s = p + el;
    e->len = dl;
  }
  uint8_t bl[5];
  size_t bn = cairn_rdb_lp_backlen(bl, el + dl);
  if (avail - el - dl < bn || memcmp(p + el + dl, bl, bn) != 0) return 0;
  return el + dl + bn;
}

static const uint8_t *lp_text(const lpent *e, char *buf, size_t *n) {
  if (e->s) {
    *n = e->len;
    return e->s;
  }
  *n = (size_t)snprintf(buf, 24, "%lld", (long long)e->v);
  return (const uint8_t *)buf;
}

enum { LP_LIST, LP_HASH, LP_ZSET };

/* Hands the i-th entry e of a listpack or ziplist to the callbacks: an
 * element (list), or with the entry before it (*a) a field/value pair (hash)
 * or a member/score pair (zset). Even entries of pairs are kept in *a. */
static int emit_entry(cairn_rdb_reader *r, cur *c, int mode, uint64_t i, lpent *a, const lpent *e,
                      const char *what) {
  char ab[24], eb[24], sb[128];
  size_t an, en;
  if (mode == LP_LIST) {
    const uint8_t *s = lp_text(e, eb, &en);
    r->key.nelems++;
    if (r->cb.on_elem) CB(r->cb.on_elem(r->ud, &r->key, s, en));
    return OK;
  }
  if ((i & 1) == 0) {
    *a = *e;
    return OK;
  }
  const uint8_t *as = lp_text(a, ab, &an);
  r->key.nelems++;
  if (mode == LP_HASH) {
    const uint8_t *es = lp_text(e, eb, &en);
    if (r->cb.on_field) CB(r->cb.on_field(r->ud, &r->key, as, an, es, en));
    return OK;
  }
  double score;
  if (e->s) {
    memcpy(sb, e->s, e->len);
    sb[e->len] = 0;
    char *end;
    score = strtod(sb, &end);
    if (end == sb) return perr(r, c, "invalid zset score in %s", what);
  } else {
    score = (double)e->v;
  }
  if (r->cb.on_zmember) CB(r->cb.on_zmember(r->ud, &r->key, as, an, score));
  return OK;
}


static int parse_listpack(cairn_rdb_reader *r, cur *c, const uint8_t *p, size_t n, int mode) {
  if (n < 7 || le(p, 4) != n || p[n - 1] != 0xFF) return perr(r, c, "invalid listpack header");
  uint64_t hdr_count = le(p + 4, 2);
  /* First pass validates the whole blob so a corrupt one delivers nothing. */
  uint64_t count = 0;
  for (size_t pos = 6; pos < n - 1; count++) {
    lpent e = {0};
    size_t k = lp_decode(p + pos, n - 1 - pos, &e);
    if (!k) return perr(r, c, "invalid listpack entry at blob offset %zu", pos);
    if (mode == LP_ZSET && (count & 1) && e.s) {
      if (e.len == 0 || e.len > 127) return perr(r, c, "invalid zset score in listpack");
    }
    pos += k;
  }
  if (hdr_count != 65535 && hdr_count != count) return perr(r, c, "listpack count mismatch");
  if (mode != LP_LIST && (count & 1)) return perr(r, c, "odd listpack entry count for a hash/zset");
  lpent a = {0}, e = {0};
  int rc;
  uint64_t i = 0;
  for (size_t pos = 6; pos < n - 1; i++) {
    pos += lp_decode(p + pos, n - 1 - pos, &e);
    if ((rc = emit_entry(r, c, mode, i, &a, &e, "listpack")) != OK) return rc;
  }
  return OK;
}

static int parse_intset(cairn_rdb_reader *r, cur *c, const uint8_t *p, size_t n) {
  if (n < 8) return perr(r, c, "invalid intset");
  uint64_t w = le(p, 4), count = le(p + 4, 4);
  if ((w != 2 && w != 4 && w != 8) || (n - 8) / w != count || (n - 8) % w != 0)
    return perr(r, c, "invalid intset header");
  int64_t prev = 0;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t u = le(p + 8 + i * w, (int)w);
    int64_t v = w == 2 ? (int16_t)u : w == 4 ? (int32_t)u : (int64_t)u;
    if (i && v <= prev) return perr(r, c, "intset not strictly increasing");
    prev = v;
  }
  char b[24];
  for (uint64_t i = 0; i < count; i++) {
    uint64_t u = le(p + 8 + i * w, (int)w);
    int64_t v = w == 2 ? (int16_t)u : w == 4 ? (int32_t)u : (int64_t)u;
    int k = snprintf(b, sizeof b, "%lld", (long long)v);
    r->key.nelems++;
    if (r->cb.on_elem) CB(r->cb.on_elem(r->ud, &r->key, (const uint8_t *)b, (size_t)k));
  }
  return OK;
}

/* ---- legacy blobs: ziplist (Redis < 7.0) and zipmap (Redis < 2.6) ---------- */

/* Decodes the ziplist entry at p (avail bytes before the terminator): its
 * total size, or 0 if malformed. prev is the previous entry's size. */
static size_t zl_decode(const uint8_t *p, size_t avail, size_t prev, lpent *e) {
  size_t pl, hl, dl = 0;
  if (avail < 2) return 0;
  if (p[0] < 254) {
    pl = 1;
    if (p[0] != prev) return 0;
  } else if (p[0] == 254) {
    if (avail < 5) return 0;
    pl = 5;
    if (le(p + 1, 4) != prev) return 0;
  } else {
    return 0;
  }
  const uint8_t *q = p + pl;
  size_t left = avail - pl;
  uint8_t b = q[0];
  e->s = NULL;
  switch (b >> 6) {
    case 0: hl = 1; dl = b & 0x3f; break;
    case 1:
      if (left < 2) return 0;
      hl = 2;
      dl = ((size_t)(b & 0x3f) << 8) | q[1];
      break;
    case 2:
      if (b != 0x80 || left < 5) return 0;
      hl = 5;
      dl = ((size_t)q[1] << 24) | ((size_t)q[2] << 16) | ((size_t)q[3] << 8) | q[4];
      break;
    default: {
      int w;
      switch (b) {
        case 0xC0: w = 2; break;
        case 0xD0: w = 4; break;
        case 0xE0: w = 8; break;
        case 0xF0: w = 3; break;
        case 0xFE: w = 1; break;
        default:
          if (b >= 0xF1 && b <= 0xFD) {
            e->v = (int64_t)(b & 0x0f) - 1;
            return pl + 1;
          }
          return 0;
      }
      if (left < (size_t)w + 1) return 0;
      uint64_t u = le(q + 1, w);
      if (w < 8 && (u >> (8 * w - 1))) u -= (uint64_t)1 << (8 * w);
      e->v = (int64_t)u;
      return pl + 1 + (size_t)w;
    }
  }
  if (dl > left - hl) return 0;
  e->s = q + hl;
  e->len = dl;
  return pl + hl + dl;
}

/* mode: LP_LIST, LP_HASH or LP_ZSET, like parse_listpack. */
static int parse_ziplist(cairn_rdb_reader *r, cur *c, const uint8_t *p, size_t n, int mode) {
  if (n < 11 || le(p, 4) != n || p[n - 1] != 0xFF || le(p + 4, 4) > n - 1) return perr(r, c, "invalid ziplist header");
  uint64_t hdr_count = le(p + 8, 2);
  uint64_t count = 0;
  size_t prev = 0;
  for (size_t pos = 10; pos < n - 1; count++) {
    lpent e = {0};
    size_t k = zl_decode(p + pos, n - 1 - pos, prev, &e);
    if (!k) return perr(r, c, "invalid ziplist entry at blob offset %zu", pos);
    if (mode == LP_ZSET && (count & 1) && e.s && (e.len == 0 || e.len > 127))
      return perr(r, c, "invalid zset score in ziplist");
    prev = k;
    pos += k;
  }
  if (hdr_count != 65535 && hdr_count != count) return perr(r, c, "ziplist count mismatch");
  if (mode != LP_LIST && (count & 1)) return perr(r, c, "odd ziplist entry count for a hash/zset");
  lpent a = {0}, e = {0};
  int rc;
  prev = 0;
  uint64_t i = 0;
  for (size_t pos = 10; pos < n - 1; i++) {
    size_t k = zl_decode(p + pos, n - 1 - pos, prev, &e);
    prev = k;
    pos += k;
    if ((rc = emit_entry(r, c, mode, i, &a, &e, "ziplist")) != OK) return rc;
  }
  return OK;
}

/* A zipmap length: one byte below 254, or 254 and 4 bytes LE. Returns the
 * bytes used, 0 if malformed. */
static size_t zm_len(const uint8_t *p, size_t avail, size_t *len) {
  if (avail < 1 || p[0] == 255) return 0;
  if (p[0] < 254) {
    *len = p[0];
    return 1;
  }
  if (avail < 5) return 0;
  *len = (size_t)le(p + 1, 4);
  return 5;
}

static int parse_zipmap(cairn_rdb_reader *r, cur *c, const uint8_t *p, size_t n) {
  if (n < 2 || p[n - 1] != 0xFF) return perr(r, c, "invalid zipmap");
  for (int pass = 0; pass < 2; pass++) {
    size_t pos = 1;
    uint64_t count = 0;
    while (pos < n - 1) {
      size_t kl, vl, h, avail = n - 1 - pos;
      if (!(h = zm_len(p + pos, avail, &kl)) || kl > avail - h) return perr(r, c, "invalid zipmap key");
      const uint8_t *k = p + pos + h;
      pos += h + kl;
      avail = n - 1 - pos;
      if (!(h = zm_len(p + pos, avail, &vl)) || avail - h < 1 || vl + p[pos + h] > avail - h - 1)
        return perr(r, c, "invalid zipmap value");
      const uint8_t *v = p + pos + h + 1;
      pos += h + 1 + vl + p[pos + h];
      count++;
      if (pass == 1) {
        r->key.nelems++;
        if (r->cb.on_field) CB(r->cb.on_field(r->ud, &r->key, k, kl, v, vl));
      }
    }
    if (pass == 0 && p[0] < 254 && p[0] != count) return perr(r, c, "zipmap count mismatch");
  }
  return OK;
}

/* ---- steps ------------------------------------------------------------------ */

static void reset_pending(cairn_rdb_reader *r) {
  r->pend_expire = CAIRN_RDB_NO_EXPIRE;
  r->pend_idle = -1;
  r->pend_freq = -1;
}

static int finish_value(cairn_rdb_reader *r, cur *c, const char *skipped) {
  if (skipped) {
    if (r->cb.on_skipped) CB(r->cb.on_skipped(r->ud, &r->key, skipped));
  } else if (r->cb.on_key_end) {
    CB(r->cb.on_key_end(r->ud, &r->key));
  }
  reset_pending(r);
  r->st = r->dump ? ST_DONE : ST_OP;
  if (r->dump) r->done = 1;
  return OK;
}

static cairn_rdb_kind kind_of(unsigned t) {
  switch (t) {
    case CAIRN_RDB_TYPE_STRING: return CAIRN_RDB_KIND_STRING;
    case CAIRN_RDB_TYPE_LIST:
    case CAIRN_RDB_TYPE_LIST_ZIPLIST:
    case CAIRN_RDB_TYPE_LIST_QUICKLIST:
    case CAIRN_RDB_TYPE_LIST_QUICKLIST_2: return CAIRN_RDB_KIND_LIST;
    case CAIRN_RDB_TYPE_SET:
    case CAIRN_RDB_TYPE_SET_INTSET: return CAIRN_RDB_KIND_SET;
    case CAIRN_RDB_TYPE_ZSET:
    case CAIRN_RDB_TYPE_ZSET_2:
    case CAIRN_RDB_TYPE_ZSET_ZIPLIST:
    case CAIRN_RDB_TYPE_ZSET_LISTPACK: return CAIRN_RDB_KIND_ZSET;
    case CAIRN_RDB_TYPE_HASH:
    case CAIRN_RDB_TYPE_HASH_ZIPMAP:
    case CAIRN_RDB_TYPE_HASH_ZIPLIST:
    case CAIRN_RDB_TYPE_HASH_LISTPACK: return CAIRN_RDB_KIND_HASH;
    case CAIRN_RDB_TYPE_STREAM_LISTPACKS:
    case CAIRN_RDB_TYPE_STREAM_LISTPACKS_2: return CAIRN_RDB_KIND_STREAM;
    case CAIRN_RDB_TYPE_MODULE_2: return CAIRN_RDB_KIND_MODULE;
    default: return (cairn_rdb_kind)-1;
  }
}

static int check_type(cairn_rdb_reader *r, cur *c, unsigned t) {
  if ((int)kind_of(t) >= 0) return OK;
  c->pos--;
  if (t == CAIRN_RDB_TYPE_MODULE) return perr(r, c, "module value type 6 cannot be skipped");
  return perr(r, c, "unknown type or opcode %u", t);
}

static void set_key_type(cairn_rdb_reader *r, unsigned t) {
  r->key.db = r->db;
  r->key.rdb_type = (uint8_t)t;
  r->key.kind = kind_of(t);
  r->key.expire_ms = r->pend_expire;
  r->key.lru_idle = r->pend_idle;
  r->key.lfu_freq = r->pend_freq;
  r->key.nelems = 0;
}

static int store_key(cairn_rdb_reader *r, cur *c, const uint8_t *k, size_t n) {
  if (r->keycap < n + 1) {
    size_t cap = r->keycap ? r->keycap : 64;
    while (cap < n + 1) cap *= 2;
    uint8_t *p = realloc(r->keybuf, cap);
    if (!p) return perr(r, c, "out of memory");
    r->keybuf = p;
    r->keycap = cap;
  }
  if (n) memcpy(r->keybuf, k, n);
  r->keybuf[n] = 0;
  r->key.key = r->keybuf;
  r->key.key_len = n;
  return OK;
}

static int begin_key_value(cairn_rdb_reader *r, cur *c) {
  r->st = ST_VALUE;
  if (r->key.kind == CAIRN_RDB_KIND_MODULE) return OK;
  if (r->key.kind == CAIRN_RDB_KIND_STREAM && !r->cb.on_stream) return OK; /* skipped */
  if (r->cb.on_key) CB(r->cb.on_key(r->ud, &r->key));
  return OK;
}

static int step_op(cairn_rdb_reader *r, cur *c) {
  unsigned op;
  uint64_t a, b;
  const uint8_t *s1, *s2;
  size_t n1, n2;
  TRY(rd_u8(c, &op));
  switch (op) {
    case CAIRN_RDB_OP_AUX:
      TRY(rd_string(r, c, 0, &s1, &n1));
      TRY(rd_string(r, c, 1, &s2, &n2));
      if (r->cb.on_aux) CB(r->cb.on_aux(r->ud, s1, n1, s2, n2));
      return OK;
    case CAIRN_RDB_OP_SELECTDB:
      TRY(rd_len(r, c, &a));
      r->db = a;
      if (r->cb.on_select_db) CB(r->cb.on_select_db(r->ud, a));
      return OK;
    case CAIRN_RDB_OP_RESIZEDB:
      TRY(rd_len(r, c, &a));
      TRY(rd_len(r, c, &b));
      if (r->cb.on_resize_db) CB(r->cb.on_resize_db(r->ud, a, b));
      return OK;
    case CAIRN_RDB_OP_EXPIRETIME_MS:
      TRY(rd_le(c, 8, &a));
      r->pend_expire = (int64_t)a;
      return OK;
    case CAIRN_RDB_OP_EXPIRETIME:
      TRY(rd_le(c, 4, &a));
      r->pend_expire = (int64_t)(int32_t)a * 1000;
      return OK;
    case CAIRN_RDB_OP_IDLE:
      TRY(rd_len(r, c, &a));
      r->pend_idle = (int64_t)(a > INT64_MAX ? INT64_MAX : a);
      return OK;
    case CAIRN_RDB_OP_FREQ:
      TRY(rd_u8(c, &op));
      r->pend_freq = (int)op;
      return OK;
    case CAIRN_RDB_OP_FUNCTION2:
      TRY(rd_string(r, c, 0, &s1, &n1));
      if (r->cb.on_function) CB(r->cb.on_function(r->ud, s1, n1));
      return OK;
    case CAIRN_RDB_OP_FUNCTION:   /* 7.0-rc: name, engine, [description], body: skipped */
      TRY(rd_string(r, c, 0, &s1, &n1));
      TRY(rd_string(r, c, 0, &s1, &n1));
      TRY(rd_len(r, c, &a));
      if (a) TRY(rd_string(r, c, 0, &s1, &n1));
      TRY(rd_string(r, c, 0, &s1, &n1));
      return OK;
    case CAIRN_RDB_OP_MODULE_AUX:
      TRY(rd_len(r, c, &r->module_id));
      TRY(rd_len(r, c, &a));
      if (a != 2) return perr(r, c, "module aux 'when' opcode is %llu, not 2", (unsigned long long)a);
      TRY(rd_len(r, c, &b));
      r->module_ret_value = 0;
      r->st = ST_MODULE_OPS;
      return OK;
    case CAIRN_RDB_OP_EOF:
      if (r->version >= 5) {
        r->st = ST_CRC;
      } else {
        if (r->cb.on_eof) CB(r->cb.on_eof(r->ud, 0, 0));
        r->st = ST_DONE;
        r->done = 1;
      }
      return OK;
    default:
      TRY(check_type(r, c, op));
      TRY(rd_string(r, c, 0, &s1, &n1));
      set_key_type(r, op);
      TRY(store_key(r, c, s1, n1));
      return begin_key_value(r, c);
  }
}

static int step_value(cairn_rdb_reader *r, cur *c) {
  const uint8_t *s;
  size_t n;
  switch (r->key.rdb_type) {
    case CAIRN_RDB_TYPE_STRING:
      TRY(rd_string(r, c, 0, &s, &n));
      r->key.nelems = 1;
      if (r->cb.on_string) CB(r->cb.on_string(r->ud, &r->key, s, n));
      return finish_value(r, c, NULL);
    case CAIRN_RDB_TYPE_LIST:
    case CAIRN_RDB_TYPE_SET:
    case CAIRN_RDB_TYPE_ZSET:
    case CAIRN_RDB_TYPE_HASH:
    case CAIRN_RDB_TYPE_ZSET_2:
      TRY(rd_len(r, c, &r->remaining));
      if (r->remaining == 0) return finish_value(r, c, NULL);
      r->st = ST_ELEMS;
      return OK;
    case CAIRN_RDB_TYPE_SET_INTSET:
      TRY(rd_string(r, c, 0, &s, &n));
      TRY(parse_intset(r, c, s, n));
      return finish_value(r, c, NULL);
    case CAIRN_RDB_TYPE_HASH_LISTPACK:
    case CAIRN_RDB_TYPE_ZSET_LISTPACK:
      TRY(rd_string(r, c, 0, &s, &n));
      TRY(parse_listpack(r, c, s, n, r->key.rdb_type == CAIRN_RDB_TYPE_HASH_LISTPACK ? LP_HASH : LP_ZSET));
      return finish_value(r, c, NULL);
    case CAIRN_RDB_TYPE_HASH_ZIPMAP:
      TRY(rd_string(r, c, 0, &s, &n));
      TRY(parse_zipmap(r, c, s, n));
      return finish_value(r, c, NULL);
    case CAIRN_RDB_TYPE_LIST_ZIPLIST:
    case CAIRN_RDB_TYPE_ZSET_ZIPLIST:
    case CAIRN_RDB_TYPE_HASH_ZIPLIST:
      TRY(rd_string(r, c, 0, &s, &n));
      TRY(parse_ziplist(r, c, s, n,
                        r->key.rdb_type == CAIRN_RDB_TYPE_LIST_ZIPLIST   ? LP_LIST
                        : r->key.rdb_type == CAIRN_RDB_TYPE_HASH_ZIPLIST ? LP_HASH
                                                                         : LP_ZSET));
      return finish_value(r, c, NULL);
    case CAIRN_RDB_TYPE_LIST_QUICKLIST:
    case CAIRN_RDB_TYPE_LIST_QUICKLIST_2:
      TRY(rd_len(r, c, &r->remaining));
      if (r->remaining == 0) return finish_value(r, c, NULL);
      r->st = ST_QL_NODE;
      return OK;
    case CAIRN_RDB_TYPE_STREAM_LISTPACKS:
    case CAIRN_RDB_TYPE_STREAM_LISTPACKS_2:
      TRY(rd_len(r, c, &r->remaining));
      r->s_node = 0;
      r->st = r->remaining ? ST_SS_NODE : ST_SS_META;
      return OK;
    case CAIRN_RDB_TYPE_MODULE_2:
      TRY(rd_len(r, c, &r->module_id));
      r->module_ret_value = 1;
      r->st = ST_MODULE_OPS;
      return OK;
  }
  return perr(r, c, "internal: bad value type %u", r->key.rdb_type);
}

static int step_elem(cairn_rdb_reader *r, cur *c) {
  const uint8_t *s1, *s2;
  size_t n1, n2;
  TRY(rd_string(r, c, 0, &s1, &n1));
  switch (r->key.rdb_type) {
    case CAIRN_RDB_TYPE_LIST:
    case CAIRN_RDB_TYPE_SET:
      r->key.nelems++;
      if (r->cb.on_elem) CB(r->cb.on_elem(r->ud, &r->key, s1, n1));
      break;
    case CAIRN_RDB_TYPE_HASH:
      TRY(rd_string(r, c, 1, &s2, &n2));
      r->key.nelems++;
      if (r->cb.on_field) CB(r->cb.on_field(r->ud, &r->key, s1, n1, s2, n2));
      break;
    case CAIRN_RDB_TYPE_ZSET_2: {
      uint64_t u;
      double d;
      TRY(rd_le(c, 8, &u));
      memcpy(&d, &u, 8);
      r->key.nelems++;
      if (r->cb.on_zmember) CB(r->cb.on_zmember(r->ud, &r->key, s1, n1, d));
      break;
    }
    case CAIRN_RDB_TYPE_ZSET: {
      unsigned l;
      double d;
      TRY(rd_u8(c, &l));
      if (l == 253) d = NAN;
      else if (l == 254) d = INFINITY;
      else if (l == 255) d = -INFINITY;
      else {
        const uint8_t *t;
        char b[256], *end;
        TRY(rd_bytes(c, l, &t));
        memcpy(b, t, l);
        b[l] = 0;
        d = strtod(b, &end);
        if (l == 0 || end != b + l) return perr(r, c, "invalid zset score text");
      }
      r->key.nelems++;
      if (r->cb.on_zmember) CB(r->cb.on_zmember(r->ud, &r->key, s1, n1, d));
      break;
    }
  }
  if (--r->remaining == 0) return finish_value(r, c, NULL);
  return OK;
}

static int step_ql_node(cairn_rdb_reader *r, cur *c) {
  uint64_t container;
  const uint8_t *s;
  size_t n;
  if (r->key.rdb_type == CAIRN_RDB_TYPE_LIST_QUICKLIST) { /* nodes are ziplists */
    TRY(rd_string(r, c, 0, &s, &n));
    TRY(parse_ziplist(r, c, s, n, LP_LIST));
    if (--r->remaining == 0) return finish_value(r, c, NULL);
    return OK;
  }
  TRY(rd_len(r, c, &container));
  if (container != 1 && container != 2)
    return perr(r, c, "invalid quicklist container %llu", (unsigned long long)container);
  TRY(rd_string(r, c, 0, &s, &n));
  if (container == 1) {
    r->key.nelems++;
    if (r->cb.on_elem) CB(r->cb.on_elem(r->ud, &r->key, s, n));
  } else {
    TRY(parse_listpack(r, c, s, n, LP_LIST));
  }
  if (--r->remaining == 0) return finish_value(r, c, NULL);
  return OK;
}

static int step_module_op(cairn_rdb_reader *r, cur *c) {
  uint64_t op, v;
  const uint8_t *s;
  size_t n;
  TRY(rd_len(r, c, &op));
  switch (op) {
    case 0:
      if (r->module_ret_value) return finish_value(r, c, "module value (no module loaded)");
      r->st = ST_OP;
      if (r->cb.on_module_aux) CB(r->cb.on_module_aux(r->ud, r->module_id));
      return OK;
    case 1:
    case 2: return rd_len(r, c, &v);
    case 3: return rd_bytes(c, 4, &s);
    case 4: return rd_bytes(c, 8, &s);
    case 5: return rd_string(r, c, 0, &s, &n);
    default: return perr(r, c, "unknown module opcode %llu", (unsigned long long)op);
  }
}

#define STREAM_FLAG_DELETED 1
#define STREAM_FLAG_SAMEFIELDS 2

/* One stream listpack node (Redis's t_stream.c layout): a master entry
 * [count, deleted, n, field 1..n, 0], then per entry [flags, ms delta, seq
 * delta, (n, field, value)* | value* (SAMEFIELDS), lp-count]. The whole node
 * is checked before any entry is delivered. */
static int parse_stream_node(cairn_rdb_reader *r, cur *c, const uint8_t *key, const uint8_t *p, size_t n) {
  if (n < 7 || le(p, 4) != n || p[n - 1] != 0xFF) return perr(r, c, "invalid stream listpack header");
  size_t count = 0;
  for (size_t pos = 6; pos < n - 1; count++) {
    lpent e = {0};
    size_t k = lp_decode(p + pos, n - 1 - pos, &e);
    if (!k) return perr(r, c, "invalid stream listpack entry at blob offset %zu", pos);
    pos += k;
  }
  if (count == 0) return perr(r, c, "empty listpack inside stream");
  lpent *e = malloc(count * sizeof(lpent));
  const uint8_t **txt = malloc(count * sizeof(uint8_t *));
  size_t *tlen = malloc(count * sizeof(size_t));
  char *ibuf = malloc(count * 24);
  const uint8_t **fv = malloc(count * sizeof(uint8_t *));
  size_t *fvl = malloc(count * sizeof(size_t));
  int rc = OK;
  if (!e || !txt || !tlen || !ibuf || !fv || !fvl) {
    rc = perr(r, c, "out of memory");
    goto out;
  }
  size_t i = 0;
  for (size_t pos = 6; pos < n - 1; i++) {
    pos += lp_decode(p + pos, n - 1 - pos, &e[i]);
    txt[i] = lp_text(&e[i], ibuf + 24 * i, &tlen[i]);
  }
#define NEED(k) \
  do { if (i + (k) > count) { rc = perr(r, c, "truncated stream listpack node"); goto out; } } while (0)
#define INT(x, what) \
  do { if (e[x].s) { rc = perr(r, c, "stream listpack: %s is not an integer", what); goto out; } } while (0)
  i = 0;
  NEED(3);
  INT(0, "entry count");
  INT(1, "deleted count");
  INT(2, "master field count");
  int64_t mf = e[2].v;
  if (mf < 0 || (uint64_t)mf > count) {
    rc = perr(r, c, "stream listpack: bad master field count");
    goto out;
  }
  size_t master = 3;
  i = 3 + (size_t)mf;
  NEED(1);
  INT(i, "master entry terminator");
  i++;
  uint64_t mms = 0, mseq = 0;
  for (int b = 0; b < 8; b++) mms = (mms << 8) | key[b];
  for (int b = 8; b < 16; b++) mseq = (mseq << 8) | key[b];
  int64_t live = 0;
  while (i < count) {
    NEED(3);
    INT(i, "entry flags");
    INT(i + 1, "entry ID delta");
    INT(i + 2, "entry ID delta");
    int64_t flags = e[i].v;
    uint64_t ms = mms + (uint64_t)e[i + 1].v, seq = mseq + (uint64_t)e[i + 2].v;
    i += 3;
    uint64_t nf;
    if (flags & STREAM_FLAG_SAMEFIELDS) {
      nf = (uint64_t)mf;
      NEED(nf);
      for (uint64_t f = 0; f < nf; f++) {
        fv[2 * f] = txt[master + f];
        fvl[2 * f] = tlen[master + f];
        fv[2 * f + 1] = txt[i + f];
        fvl[2 * f + 1] = tlen[i + f];
      }
      i += nf;
    } else {
      NEED(1);
      INT(i, "entry field count");
      if (e[i].v < 0 || (uint64_t)e[i].v > count) {
        rc = perr(r, c, "stream listpack: bad entry field count");
        goto out;
      }
      nf = (uint64_t)e[i].v;
      i++;
      NEED(2 * nf);
      for (uint64_t f = 0; f < 2 * nf; f++) {
        fv[f] = txt[i + f];
        fvl[f] = tlen[i + f];
      }
      i += 2 * nf;
    }
    NEED(1);
    INT(i, "entry lp-count");
    i++;
    if (flags & STREAM_FLAG_DELETED) continue;
    live++;
    cairn_rdb_stream_item it = {.what = CAIRN_RDB_STREAM_ENTRY, .ms = ms, .seq = seq, .node = r->s_node,
                                .nfields = nf, .fv = fv, .fvlen = fvl};
    r->key.nelems++;
    int v = r->cb.on_stream(r->ud, &r->key, &it);
    if (v != 0) {
      rc = cb_fail(r, c, v);
      goto out;
    }
  }
  if (live != e[0].v) rc = perr(r, c, "stream listpack: %lld live entries, the master entry says %lld",
                                (long long)live, (long long)e[0].v);
#undef NEED
#undef INT
out:
  free(e);
  free(txt);
  free(tlen);
  free(ibuf);
  free(fv);
  free(fvl);
  r->s_node++;
  return rc;
}

static int step_stream(cairn_rdb_reader *r, cur *c) {
  const uint8_t *s, *s2;
  size_t n, n2;
  uint64_t v, m[8];
  int v2 = r->key.rdb_type == CAIRN_RDB_TYPE_STREAM_LISTPACKS_2;
  int deliver = r->cb.on_stream != NULL;
  cairn_rdb_stream_item it = {.v2 = v2};
  switch (r->st) {
    case ST_SS_NODE:
      TRY(rd_string(r, c, 0, &s, &n));
      if (n != 16) return perr(r, c, "stream node key is %zu bytes, not 16", n);
      TRY(rd_string(r, c, 1, &s2, &n2));
      if (deliver) {
        uint8_t key[16];
        memcpy(key, s, 16); /* slot 0 may be reused below */
        TRY(parse_stream_node(r, c, key, s2, n2));
      }
      if (--r->remaining == 0) r->st = ST_SS_META;
      return OK;
    case ST_SS_META:
      for (int i = 0; i < (v2 ? 8 : 3); i++) TRY(rd_len(r, c, &m[i]));
      TRY(rd_len(r, c, &r->s_groups));
      if (deliver) {
        it.what = CAIRN_RDB_STREAM_META;
        it.length = m[0];
        it.last_ms = m[1];
        it.last_seq = m[2];
        if (v2) {
          it.first_ms = m[3];
          it.first_seq = m[4];
          it.maxdel_ms = m[5];
          it.maxdel_seq = m[6];
          it.entries_added = m[7];
        }
        it.groups = r->s_groups;
        CB(r->cb.on_stream(r->ud, &r->key, &it));
      }
      r->st = ST_SS_GROUP;
      return OK;
    case ST_SS_GROUP:
      if (r->s_groups == 0) return finish_value(r, c, deliver ? NULL : "stream");
      TRY(rd_string(r, c, 0, &s, &n));
      for (int i = 0; i < (v2 ? 3 : 2); i++) TRY(rd_len(r, c, &m[i]));
      TRY(rd_len(r, c, &r->s_pel));
      if (deliver) {
        it.what = CAIRN_RDB_STREAM_GROUP;
        it.name = s;
        it.name_len = n;
        it.ms = m[0];
        it.seq = m[1];
        it.entries_read = v2 && (int64_t)m[2] >= 0 ? (int64_t)m[2] : INT64_MIN;
        it.pending = r->s_pel;
        CB(r->cb.on_stream(r->ud, &r->key, &it));
      }
      r->st = r->s_pel ? ST_SS_GPEL : ST_SS_CONS_COUNT;
      return OK;
    case ST_SS_GPEL:
      TRY(rd_bytes(c, 16 + 8, &s));
      TRY(rd_len(r, c, &v));
      if (deliver) {
        it.what = CAIRN_RDB_STREAM_NACK;
        it.id = s;
        it.time = (int64_t)le(s + 16, 8);
        it.count = v;
        CB(r->cb.on_stream(r->ud, &r->key, &it));
      }
      if (--r->s_pel == 0) r->st = ST_SS_CONS_COUNT;
      return OK;
    case ST_SS_CONS_COUNT:
      TRY(rd_len(r, c, &r->s_consumers));
      r->st = ST_SS_CONS;
      return OK;
    case ST_SS_CONS:
      if (r->s_consumers == 0) {
        r->s_groups--;
        r->st = ST_SS_GROUP;
        return OK;
      }
      TRY(rd_string(r, c, 0, &s, &n));
      TRY(rd_bytes(c, 8, &s2));
      TRY(rd_len(r, c, &r->s_cpel));
      if (deliver) {
        it.what = CAIRN_RDB_STREAM_CONSUMER;
        it.name = s;
        it.name_len = n;
        it.time = (int64_t)le(s2, 8);
        it.pending = r->s_cpel;
        CB(r->cb.on_stream(r->ud, &r->key, &it));
      }
      if (r->s_cpel == 0) r->s_consumers--;
      else r->st = ST_SS_CPEL;
      return OK;
    case ST_SS_CPEL:
      TRY(rd_bytes(c, 16, &s));
      if (deliver) {
        it.what = CAIRN_RDB_STREAM_CNACK;
        it.id = s;
        CB(r->cb.on_stream(r->ud, &r->key, &it));
      }
      if (--r->s_cpel == 0) {
        r->s_consumers--;
        r->st = ST_SS_CONS;
      }
      return OK;
  }
  return perr(r, c, "internal: bad stream state");
}

static int step_magic(cairn_rdb_reader *r, cur *c) {
  const uint8_t *p;
  TRY(rd_bytes(c, 9, &p));
  if (memcmp(p, "REDIS", 5) != 0) {
    c->pos = 0;
    return perr(r, c, "not an RDB file (no REDIS magic)");
  }
  int v = 0;
  for (int i = 5; i < 9; i++) {
    if (p[i] < '0' || p[i] > '9') {
      c->pos = 0;
      return perr(r, c, "bad RDB version digits");
    }
    v = v * 10 + (p[i] - '0');
  }
  if (v < 1 || v > CAIRN_RDB_VERSION) {
    c->pos = 5;
    return perr(r, c, "can't handle RDB format version %d", v);
  }
  r->version = v;
  r->st = ST_OP;
  return OK;
}

static int step_crc(cairn_rdb_reader *r, cur *c) {
  uint64_t stored;
  TRY(rd_le(c, 8, &stored));
  r->no_crc = 1;
  if (stored != 0 && stored != r->crc) {
    c->pos = 0;
    return perr(r, c, "wrong RDB checksum: stored %016llx, computed %016llx", (unsigned long long)stored,
                (unsigned long long)r->crc);
  }
  if (r->cb.on_eof) CB(r->cb.on_eof(r->ud, stored, stored != 0));
  r->st = ST_DONE;
  r->done = 1;
  return OK;
}

static int step_dump_type(cairn_rdb_reader *r, cur *c) {
  unsigned t;
  TRY(rd_u8(c, &t));
  TRY(check_type(r, c, t));
  set_key_type(r, t);
  TRY(store_key(r, c, (const uint8_t *)"", 0));
  return begin_key_value(r, c);
}

static int step(cairn_rdb_reader *r, cur *c) {
  switch (r->st) {
    case ST_MAGIC: return step_magic(r, c);
    case ST_OP: return step_op(r, c);
    case ST_VALUE: return step_value(r, c);
    case ST_ELEMS: return step_elem(r, c);
    case ST_QL_NODE: return step_ql_node(r, c);
    case ST_MODULE_OPS: return step_module_op(r, c);
    case ST_CRC: return step_crc(r, c);
    case ST_DUMP_TYPE: return step_dump_type(r, c);
    default: return step_stream(r, c);
  }
}

/* Runs steps over p[0..n); *used = bytes of completed steps. */
static int run(cairn_rdb_reader *r, const uint8_t *p, size_t n, size_t *used) {
  size_t off = 0;
  for (;;) {
    if (r->st == ST_DONE) {
      *used = off;
      return DONE;
    }
    cur c = {p + off, n - off, 0, 0};
    r->no_crc = 0;
    int rc = step(r, &c);
    if (rc == ERR) return ERR;
    if (rc == MORE) {
      *used = off;
      r->need = c.need;
      return MORE;
    }
    if (!r->no_crc && c.pos) r->crc = cairn_rdb_crc64(r->crc, c.p, c.pos);
    r->off += c.pos;
    off += c.pos;
  }
}

static int buf_append(cairn_rdb_reader *r, const uint8_t *p, size_t n) {
  if (r->blen + n > r->bcap) {
    size_t cap = r->bcap ? r->bcap : 256;
    while (cap < r->blen + n) cap *= 2;
    uint8_t *b = realloc(r->buf, cap);
    if (!b) return perr(r, NULL, "out of memory buffering %zu bytes", r->blen + n);
    r->buf = b;
    r->bcap = cap;
  }
  memcpy(r->buf + r->blen, p, n);
  r->blen += n;
  return OK;
}

long long cairn_rdb_reader_feed(cairn_rdb_reader *r, const void *data, size_t n) {
  if (r->failed) return -1;
  const uint8_t *in = data;
  size_t left = n;
  while (!r->done) {
    size_t used = 0;
    int rc;
    if (r->blen == 0) {
      rc = run(r, in, left, &used);
      in += used;
      left -= used;
      if (rc == ERR) break;
      if (rc == MORE && left) {
        if (buf_append(r, in, left) != OK) break;
        in += left;
        left = 0;
      }
      if (rc == MORE) return (long long)n;
      continue;   /* DONE */
    }
    if (left == 0) return (long long)n;
    size_t want = r->need > r->blen ? r->need - r->blen : 1;
    size_t take = want < left ? want : left;
    if (buf_append(r, in, take) != OK) break;
    in += take;
    left -= take;
    if (r->blen < r->need) continue;   /* loops back to return when left == 0 */
    rc = run(r, r->buf, r->blen, &used);
    if (rc == ERR) break;
    memmove(r->buf, r->buf + used, r->blen - used);
    r->blen -= used;
  }
  if (r->done) return (long long)(n - left);
  r->failed = 1;
  return -1;
}

cairn_rdb_reader *cairn_rdb_reader_new(const cairn_rdb_callbacks *cb, void *ud, size_t max_value_len) {
  cairn_rdb_reader *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  if (cb) r->cb = *cb;
  r->ud = ud;
  r->maxlen = max_value_len ? max_value_len : DEFAULT_MAX_VALUE;
  r->st = ST_MAGIC;
  reset_pending(r);
  return r;
}

void cairn_rdb_reader_free(cairn_rdb_reader *r) {
  if (!r) return;
  free(r->buf);
  free(r->keybuf);
  for (int i = 0; i < 2; i++) free(r->slots[i].p);
  free(r);
}

int cairn_rdb_reader_done(const cairn_rdb_reader *r) { return r->done; }
int cairn_rdb_reader_version(const cairn_rdb_reader *r) { return r->version; }
uint64_t cairn_rdb_reader_offset(const cairn_rdb_reader *r) { return r->off; }
const char *cairn_rdb_reader_error(const cairn_rdb_reader *r) { return r->err[0] ? r->err : NULL; }

int cairn_rdb_reader_finish(cairn_rdb_reader *r) {
  if (r->failed) return -1;
  if (r->done) return 0;
  snprintf(r->err, sizeof r->err, "RDB error at offset %llu: truncated (input ended, %zu bytes of an incomplete item buffered)",
           (unsigned long long)r->off, r->blen);
  r->failed = 1;
  return -1;
}

/* ---- DUMP payloads ---------------------------------------------------------- */

int cairn_rdb_dump_verify(const void *p, size_t n) {
  const uint8_t *b = p;
  if (n < 10) return -1;
  unsigned ver = (unsigned)b[n - 10] | ((unsigned)b[n - 9] << 8);
  if (ver > CAIRN_RDB_VERSION) return -1;
  return cairn_rdb_crc64(0, b, n - 8) == le(b + n - 8, 8) ? 0 : -1;
}

int cairn_rdb_dump_parse(const void *p, size_t n, const cairn_rdb_callbacks *cb, void *ud,
                         size_t max_value_len, const char **errmsg, char *detail, size_t detail_len) {
  if (detail && detail_len) detail[0] = 0;
  if (cairn_rdb_dump_verify(p, n) != 0) {
    *errmsg = CAIRN_RDB_DUMP_BAD;
    return -1;
  }
  const uint8_t *b = p;
  cairn_rdb_reader *r = cairn_rdb_reader_new(cb, ud, max_value_len);
  if (!r) {
    *errmsg = "ERR out of memory";
    return -1;
  }
  r->dump = 1;
  r->version = (int)((unsigned)b[n - 10] | ((unsigned)b[n - 9] << 8));
  r->st = ST_DUMP_TYPE;
  long long used = cairn_rdb_reader_feed(r, b, n - 10);
  int rc = 0;
  if (used < 0 || !r->done || (size_t)used != n - 10) {
    if (detail && detail_len) {
      if (used >= 0 && r->done)
        snprintf(detail, detail_len, "%zu bytes after the value", n - 10 - (size_t)used);
      else if (used >= 0)
        snprintf(detail, detail_len, "value truncated at offset %llu", (unsigned long long)r->off);
      else
        snprintf(detail, detail_len, "%s", r->err);
    }
    *errmsg = CAIRN_RDB_DUMP_BAD_FORMAT;
    rc = -1;
  }
  cairn_rdb_reader_free(r);
  return rc;
}
