/* HyperLogLog: the representation (engine/cmd/hll.h) and the commands
 * PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST.
 *
 * An HLL is a plain string value (TYPE says "string", GET returns its bytes),
 * so it needs nothing from the store: each command reads the value, works
 * on a copy and writes it back (at most 12304 bytes).
 *
 * Costs: PFADD O(1) per element on a dense value, O(sparse bytes) (at most
 * hll-sparse-max-bytes) on a sparse one; PFCOUNT O(1) with a valid cache,
 * else O(16384), and O(16384 * keys) for several keys; PFMERGE O(16384 *
 * keys).
 *
 * PFCOUNT of one key stores the estimate in the header like Redis (and is
 * propagated, so replicas hold the same bytes), except on a replica, where
 * it only computes: a replica's data is what its master sends. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/util.h"
#include "engine/cmd/hll.h"
#include "engine/cmd/types.h"

#define HLL_P 14
#define HLL_Q (64 - HLL_P)
#define HLL_REGS CAIRN_HLL_REGISTERS
#define HLL_MAXREG 63
#define ALPHA_INF 0.721347520444481703680 /* 0.5 / ln(2) */
#define SPARSE_VAL_MAX 32
#define SPARSE_VAL_MAXLEN 4
#define SPARSE_ZERO_MAXLEN 64
#define SPARSE_XZERO_MAXLEN 16384

#define ERR_INVALID_HLL "-INVALIDOBJ Corrupted HLL object detected"
#define ERR_NOT_HLL "-WRONGTYPE Key is not a valid HyperLogLog string value."

/* ---------------------------------------------------------------- opcodes */

static int is_zero(const uint8_t *p) { return (*p & 0xc0) == 0; }
static int is_xzero(const uint8_t *p) { return (*p & 0xc0) == 0x40; }
static int is_val(const uint8_t *p) { return (*p & 0x80) != 0; }
static int zero_len(const uint8_t *p) { return (*p & 0x3f) + 1; }
/* An XZERO's second byte; one cut off by the end of the value reads as 0
 * (what Redis reads there: the string's terminating NUL). */
static int xzero_len(const uint8_t *p, const uint8_t *end) {
  return (((*p & 0x3f) << 8) | (p + 1 < end ? p[1] : 0)) + 1;
}
static int val_value(const uint8_t *p) { return ((*p >> 2) & 0x1f) + 1; }
static int val_len(const uint8_t *p) { return (*p & 0x3) + 1; }
static void set_val(uint8_t *p, int val, int len) { *p = (uint8_t)(((val - 1) << 2 | (len - 1)) | 0x80); }
static void set_zero(uint8_t *p, int len) { *p = (uint8_t)(len - 1); }
static void set_xzero(uint8_t *p, int len) {
  int l = len - 1;
  p[0] = (uint8_t)((l >> 8) | 0x40);
  p[1] = (uint8_t)(l & 0xff);
}

/* ---------------------------------------------------------------- dense registers */

uint8_t cairn_hll_dense_get(const void *p, long i) {
  const uint8_t *r = (const uint8_t *)p + CAIRN_HLL_HDR;
  unsigned long byte = (unsigned long)i * 6 / 8, fb = (unsigned long)i * 6 & 7;
  unsigned long b0 = r[byte], b1 = byte + 1 < CAIRN_HLL_REGISTERS * 6 / 8 ? r[byte + 1] : 0;
  return (uint8_t)(((b0 >> fb) | (b1 << (8 - fb))) & HLL_MAXREG);
}

static void dense_put(void *p, long i, uint8_t v) {
  uint8_t *r = (uint8_t *)p + CAIRN_HLL_HDR;
  unsigned long byte = (unsigned long)i * 6 / 8, fb = (unsigned long)i * 6 & 7;
  r[byte] = (uint8_t)((r[byte] & ~(HLL_MAXREG << fb)) | ((unsigned long)v << fb));
  if (byte + 1 < CAIRN_HLL_REGISTERS * 6 / 8)
    r[byte + 1] = (uint8_t)((r[byte + 1] & ~(HLL_MAXREG >> (8 - fb))) | ((unsigned long)v >> (8 - fb)));
}

static int dense_set(void *p, long i, uint8_t count) {
  if (count <= cairn_hll_dense_get(p, i)) return 0;
  dense_put(p, i, count);
  return 1;
}

/* ---------------------------------------------------------------- header */

int cairn_hll_valid(const void *v, size_t len) {
  const uint8_t *p = v;
  if (len < CAIRN_HLL_HDR || memcmp(p, "HYLL", 4) != 0 || p[4] > CAIRN_HLL_SPARSE) return 0;
  if (p[4] == CAIRN_HLL_DENSE && len != CAIRN_HLL_DENSE_SIZE) return 0;
  return 1;
}

int cairn_hll_cache_get(const void *v, uint64_t *card) {
  const uint8_t *p = (const uint8_t *)v + 8;
  if (p[7] & 0x80) return 0;
  uint64_t c = 0;
  for (int i = 7; i >= 0; i--) c = (c << 8) | p[i];
  *card = c;
  return 1;
}

void cairn_hll_cache_set(void *v, uint64_t card) {
  uint8_t *p = (uint8_t *)v + 8;
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(card >> (8 * i));
}

void cairn_hll_cache_invalidate(void *v) { ((uint8_t *)v)[15] |= 0x80; }

void cairn_hll_new(cairn_buf *b) {
  b->len = 0;
  uint8_t hdr[CAIRN_HLL_HDR] = {'H', 'Y', 'L', 'L', CAIRN_HLL_SPARSE};
  cairn_buf_append(b, hdr, sizeof(hdr));
  for (int left = HLL_REGS; left > 0;) {
    int n = left > SPARSE_XZERO_MAXLEN ? SPARSE_XZERO_MAXLEN : left;
    uint8_t op[2];
    set_xzero(op, n);
    cairn_buf_append(b, op, 2);
    left -= n;
  }
}

/* ---------------------------------------------------------------- hashing */

uint64_t cairn_hll_murmur64a(const void *key, size_t len, uint32_t seed) {
  const uint64_t m = 0xc6a4a7935bd1e995ULL;
  const int r = 47;
  uint64_t h = seed ^ ((uint64_t)(int)len * m);
  const uint8_t *data = key, *end = data + (len - (len & 7));
  while (data != end) {
    uint64_t k = 0;
    for (int i = 7; i >= 0; i--) k = (k << 8) | data[i];
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
    data += 8;
  }
  switch (len & 7) {
  case 7: h ^= (uint64_t)data[6] << 48; /* fall through */
  case 6: h ^= (uint64_t)data[5] << 40; /* fall through */
  case 5: h ^= (uint64_t)data[4] << 32; /* fall through */
  case 4: h ^= (uint64_t)data[3] << 24; /* fall through */
  case 3: h ^= (uint64_t)data[2] << 16; /* fall through */
  case 2: h ^= (uint64_t)data[1] << 8;  /* fall through */
  case 1:
    h ^= (uint64_t)data[0];
    h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

int cairn_hll_patlen(const void *ele, size_t len, long *reg) {
  uint64_t hash = cairn_hll_murmur64a(ele, len, 0xadc83b19U);
  *reg = (long)(hash & (HLL_REGS - 1));
  hash >>= HLL_P;
  hash |= (uint64_t)1 << HLL_Q; /* the run ends at Q+1 at the latest */
  return __builtin_ctzll(hash) + 1;
}

/* ---------------------------------------------------------------- sparse */

int cairn_hll_to_dense(cairn_buf *b) {
  const uint8_t *p = (const uint8_t *)b->p + CAIRN_HLL_HDR, *end = (const uint8_t *)b->p + b->len;
  if (b->p[4] == CAIRN_HLL_DENSE) return 0;
  uint8_t *dense = cairn_xcalloc(1, CAIRN_HLL_DENSE_SIZE);
  memcpy(dense, b->p, CAIRN_HLL_HDR); /* magic and cache */
  dense[4] = CAIRN_HLL_DENSE;
  long idx = 0;
  int valid = 1;
  while (p < end) {
    int run = is_zero(p) ? zero_len(p) : is_xzero(p) ? xzero_len(p, end) : val_len(p);
    if (idx + run > HLL_REGS) {
      valid = 0; /* an opcode past the last register */
      break;
    }
    if (is_val(p)) {
      int v = val_value(p);
      while (run--) dense_put(dense, idx++, (uint8_t)v);
    } else {
      idx += run;
    }
    p += is_xzero(p) ? 2 : 1;
  }
  if (!valid || idx != HLL_REGS) {
    free(dense);
    return -1;
  }
  b->len = 0;
  cairn_buf_append(b, dense, CAIRN_HLL_DENSE_SIZE);
  free(dense);
  return 0;
}

/* Redis's hllSparseSet, step by step (the bytes it leaves are the format:
 * where runs split and which neighbours merge must be the same). */
static int sparse_set(cairn_buf *b, long index, uint8_t count, size_t sparse_max) {
  if (count > SPARSE_VAL_MAX) goto promote;
  cairn_buf_reserve(b, 8); /* a split grows the value by 3 bytes at most */
  uint8_t *sparse = (uint8_t *)b->p + CAIRN_HLL_HDR, *p = sparse, *end = (uint8_t *)b->p + b->len;
  uint8_t *prev = NULL, *next;
  long first = 0, span = 0;
  while (p < end) {
    long oplen = 1;
    if (is_zero(p))
      span = zero_len(p);
    else if (is_val(p))
      span = val_len(p);
    else {
      span = xzero_len(p, end);
      oplen = 2;
    }
    if (index <= first + span - 1) break;
    prev = p;
    p += oplen;
    first += span;
  }
  if (span == 0 || p >= end) return -1;
  next = is_xzero(p) ? p + 2 : p + 1;
  if (next >= end) next = NULL;
  int zero = 0, xzero = 0, val = 0;
  long runlen;
  if (is_zero(p)) {
    zero = 1;
    runlen = zero_len(p);
  } else if (is_xzero(p)) {
    xzero = 1;
    runlen = xzero_len(p, end);
  } else {
    val = 1;
    runlen = val_len(p);
  }
  if (val) {
    if (val_value(p) >= count) return 0;
    if (runlen == 1) {
      set_val(p, count, 1);
      goto updated;
    }
  }
  if (zero && runlen == 1) {
    set_val(p, count, 1);
    goto updated;
  }
  {
    /* Split the opcode around the register: at most XZERO VAL XZERO. */
    uint8_t seq[5], *n = seq;
    long last = first + span - 1, len;
    if (zero || xzero) {
      if (index != first) {
        len = index - first;
        if (len > SPARSE_ZERO_MAXLEN) {
          set_xzero(n, (int)len);
          n += 2;
        } else {
          set_zero(n++, (int)len);
        }
      }
      set_val(n++, count, 1);
      if (index != last) {
        len = last - index;
        if (len > SPARSE_ZERO_MAXLEN) {
          set_xzero(n, (int)len);
          n += 2;
        } else {
          set_zero(n++, (int)len);
        }
      }
    } else {
      int cur = val_value(p);
      if (index != first) set_val(n++, cur, (int)(index - first));
      set_val(n++, count, 1);
      if (index != last) set_val(n++, cur, (int)(last - index));
    }
    long seqlen = n - seq, oldlen = xzero ? 2 : 1, delta = seqlen - oldlen;
    if (delta > 0 && b->len + (size_t)delta > sparse_max) goto promote;
    if (delta && next) memmove(next + delta, next, (size_t)(end - next));
    b->len = (size_t)((long)b->len + delta);
    memcpy(p, seq, (size_t)seqlen);
    end += delta;
  }
updated:
  /* Merge neighbouring VAL opcodes of one value, looking at up to five
   * opcodes from the one before the change. */
  p = prev ? prev : sparse;
  for (int scan = 5; p < end && scan--;) {
    if (is_xzero(p)) {
      p += 2;
      continue;
    }
    if (is_zero(p)) {
      p++;
      continue;
    }
    if (p + 1 < end && is_val(p + 1)) {
      int v1 = val_value(p), v2 = val_value(p + 1);
      if (v1 == v2) {
        int len = val_len(p) + val_len(p + 1);
        if (len <= SPARSE_VAL_MAXLEN) {
          set_val(p + 1, v1, len);
          memmove(p, p + 1, (size_t)(end - p));
          b->len--;
          end--;
          continue;
        }
      }
    }
    p++;
  }
  cairn_hll_cache_invalidate(b->p);
  return 1;

promote:
  if (cairn_hll_to_dense(b) != 0) return -1;
  return dense_set(b->p, index, count);
}

int cairn_hll_set(cairn_buf *b, long idx, uint8_t count, size_t sparse_max) {
  switch (b->p[4]) {
  case CAIRN_HLL_DENSE: return dense_set(b->p, idx, count);
  case CAIRN_HLL_SPARSE: return sparse_set(b, idx, count, sparse_max);
  default: return -1;
  }
}

int cairn_hll_add(cairn_buf *b, const void *ele, size_t len, size_t sparse_max) {
  long idx;
  uint8_t count = (uint8_t)cairn_hll_patlen(ele, len, &idx);
  return cairn_hll_set(b, idx, count, sparse_max);
}

/* ---------------------------------------------------------------- counting */

/* Ertl's sigma and tau ("New cardinality estimation algorithms for
 * HyperLogLog sketches", arXiv:1702.01284), as Redis iterates them. */
static double hll_sigma(double x) {
  if (x == 1.) return INFINITY;
  double zp, y = 1, z = x;
  do {
    x *= x;
    zp = z;
    z += x * y;
    y += y;
  } while (zp != z);
  return z;
}

static double hll_tau(double x) {
  if (x == 0. || x == 1.) return 0.;
  double zp, y = 1.0, z = 1 - x;
  do {
    x = sqrt(x);
    zp = z;
    y *= 0.5;
    z -= pow(1 - x, 2) * y;
  } while (zp != z);
  return z / 3;
}

static uint64_t estimate(const int *histo) {
  double m = HLL_REGS;
  double z = m * hll_tau((m - histo[HLL_Q + 1]) / m);
  for (int j = HLL_Q; j >= 1; --j) {
    z += histo[j];
    z *= 0.5;
  }
  z += m * hll_sigma(histo[0] / m);
  return (uint64_t)llroundl(ALPHA_INF * m * m / z);
}

uint64_t cairn_hll_count(const void *v, size_t len, int *invalid) {
  int histo[64] = {0};
  const uint8_t *p = v;
  if (p[4] == CAIRN_HLL_DENSE) {
    for (long i = 0; i < HLL_REGS; i++) histo[cairn_hll_dense_get(p, i)]++;
  } else {
    const uint8_t *q = p + CAIRN_HLL_HDR, *end = p + len;
    long idx = 0;
    while (q < end) {
      if (is_zero(q)) {
        int run = zero_len(q);
        idx += run;
        histo[0] += run;
        q++;
      } else if (is_xzero(q)) {
        int run = xzero_len(q, end);
        idx += run;
        histo[0] += run;
        q += 2;
      } else {
        int run = val_len(q);
        idx += run;
        histo[val_value(q)] += run;
        q++;
      }
    }
    if (idx != HLL_REGS && invalid) *invalid = 1;
  }
  return estimate(histo);
}

uint64_t cairn_hll_count_raw(const uint8_t *regs) {
  int histo[64] = {0};
  for (long i = 0; i < HLL_REGS; i++) histo[regs[i] & 63]++;
  return estimate(histo);
}

int cairn_hll_merge(uint8_t *max, const void *v, size_t len) {
  const uint8_t *p = v;
  if (p[4] == CAIRN_HLL_DENSE) {
    for (long i = 0; i < HLL_REGS; i++) {
      uint8_t r = cairn_hll_dense_get(p, i);
      if (r > max[i]) max[i] = r;
    }
    return 0;
  }
  const uint8_t *q = p + CAIRN_HLL_HDR, *end = p + len;
  long i = 0;
  while (q < end) {
    int run = is_zero(q) ? zero_len(q) : is_xzero(q) ? xzero_len(q, end) : val_len(q);
    if (i + run > HLL_REGS) return -1; /* an opcode past the last register */
    if (is_val(q)) {
      int val = val_value(q);
      while (run--) {
        if (val > max[i]) max[i] = (uint8_t)val;
        i++;
      }
    } else {
      i += run;
    }
    q += is_xzero(q) ? 2 : 1;
  }
  return i == HLL_REGS ? 0 : -1;
}

/* ---------------------------------------------------------------- commands */

static size_t sparse_max_bytes(cairn_ctx *c) {
  char buf[64];
  if (cairn_config_format(&c->srv->cfg, "hll-sparse-max-bytes", buf, sizeof(buf)) > 0) {
    long long v;
    if (cairn_str2ll(buf, strlen(buf), &v) && v >= 0) return (size_t)v;
  }
  return 3000;
}

/* Looks key up as an HLL and copies it into b. 1 found, 0 absent, -1 after
 * replying (WRONGTYPE of either kind) or a store error. */
static int hll_lookup(cairn_ctx *c, cairn_str key, cairn_buf *b, int64_t *expire) {
  cairn_value v;
  int rc = cairn_lookup_type(c, key, CAIRN_TYPE_STRING, &v);
  if (rc <= 0) return rc;
  if (!cairn_hll_valid(v.data, v.len)) {
    cairn_reply_error(&c->reply, ERR_NOT_HLL);
    return -1;
  }
  b->len = 0;
  cairn_buf_append(b, v.data, v.len);
  if (expire) *expire = v.expire_ms;
  return 1;
}

static int hll_store(cairn_ctx *c, cairn_str key, const cairn_buf *b, int64_t expire) {
  int rc = cairn_key_put(c, c->db, key, CAIRN_TYPE_STRING, b->p, b->len, expire); /* fires "new" */
  if (rc < 0) return cairn_store_failed(c, rc);
  return 0;
}

void cairn_cmd_pfadd(cairn_ctx *c) {
  cairn_buf b = {0};
  int64_t expire = -1;
  long long updated = 0;
  int rc = hll_lookup(c, c->argv[1], &b, &expire);
  if (rc < 0) goto out;
  if (rc == 0) {
    cairn_hll_new(&b);
    updated++;
  }
  size_t smax = sparse_max_bytes(c);
  for (int j = 2; j < c->argc; j++) {
    int r = cairn_hll_add(&b, c->argv[j].p, c->argv[j].len, smax);
    if (r < 0) {
      /* Like Redis, what the elements before the corrupt spot changed
       * stays (and is propagated: replaying the command does the same). */
      if (updated && hll_store(c, c->argv[1], &b, expire) < 0) goto out;
      c->dirty += updated;
      cairn_reply_error(&c->reply, ERR_INVALID_HLL);
      goto out;
    }
    updated += r;
  }
  if (updated) {
    cairn_hll_cache_invalidate(b.p);
    if (hll_store(c, c->argv[1], &b, expire) < 0) goto out;
    c->dirty += updated;
    cairn_notify(c, CAIRN_NOTIFY_STRING, "pfadd", c->argv[1]);
  }
  cairn_reply_int(&c->reply, updated ? 1 : 0);
out:
  cairn_buf_free(&b);
}

void cairn_cmd_pfcount(cairn_ctx *c) {
  cairn_buf b = {0};
  if (c->argc > 2) {
    uint8_t *max = cairn_xcalloc(1, HLL_REGS);
    for (int j = 1; j < c->argc; j++) {
      int rc = hll_lookup(c, c->argv[j], &b, NULL);
      if (rc < 0) goto multi_out;
      if (rc == 0) continue;
      if (cairn_hll_merge(max, b.p, b.len) != 0) {
        cairn_reply_error(&c->reply, ERR_INVALID_HLL);
        goto multi_out;
      }
    }
    cairn_reply_int(&c->reply, (long long)cairn_hll_count_raw(max));
  multi_out:
    free(max);
    cairn_buf_free(&b);
    return;
  }
  int64_t expire = -1;
  int rc = hll_lookup(c, c->argv[1], &b, &expire);
  if (rc < 0) goto out;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    goto out;
  }
  uint64_t card;
  if (!cairn_hll_cache_get(b.p, &card)) {
    int invalid = 0;
    card = cairn_hll_count(b.p, b.len, &invalid);
    if (invalid) {
      cairn_reply_error(&c->reply, ERR_INVALID_HLL);
      goto out;
    }
    if (!c->srv->replica_mode || c->replaying) {
      cairn_hll_cache_set(b.p, card);
      if (hll_store(c, c->argv[1], &b, expire) < 0) goto out;
      c->dirty++;
    }
  }
  cairn_reply_int(&c->reply, (long long)card);
out:
  cairn_buf_free(&b);
}

void cairn_cmd_pfmerge(cairn_ctx *c) {
  uint8_t *max = cairn_xcalloc(1, HLL_REGS);
  cairn_buf b = {0};
  int use_dense = 0;
  for (int j = 1; j < c->argc; j++) {
    int rc = hll_lookup(c, c->argv[j], &b, NULL);
    if (rc < 0) goto out;
    if (rc == 0) continue;
    if (b.p[4] == CAIRN_HLL_DENSE) use_dense = 1;
    if (cairn_hll_merge(max, b.p, b.len) != 0) {
      cairn_reply_error(&c->reply, ERR_INVALID_HLL);
      goto out;
    }
  }
  int64_t expire = -1;
  int rc = hll_lookup(c, c->argv[1], &b, &expire);
  if (rc < 0) goto out;
  if (rc == 0) cairn_hll_new(&b);
  if (use_dense && cairn_hll_to_dense(&b) != 0) {
    cairn_reply_error(&c->reply, ERR_INVALID_HLL);
    goto out;
  }
  size_t smax = sparse_max_bytes(c);
  for (long j = 0; j < HLL_REGS; j++)
    if (max[j]) cairn_hll_set(&b, j, max[j], smax); /* like Redis, a corrupt destination is not reported */
  cairn_hll_cache_invalidate(b.p);
  if (hll_store(c, c->argv[1], &b, expire) < 0) goto out;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STRING, "pfadd", c->argv[1]); /* PFMERGE's event, as in Redis */
  cairn_reply_ok(&c->reply);
out:
  free(max);
  cairn_buf_free(&b);
}

/* PFDEBUG GETREG|DECODE|ENCODING|TODENSE key. GETREG and TODENSE convert a
 * sparse value to dense (and propagate, like Redis). */
void cairn_cmd_pfdebug(cairn_ctx *c) {
  cairn_str sub = c->argv[1];
  cairn_buf b = {0};
  int64_t expire = -1;
  cairn_value v;
  int rc = cairn_lookup(c, c->argv[2], &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_error(&c->reply, "The specified key does not exist");
    return;
  }
  rc = hll_lookup(c, c->argv[2], &b, &expire);
  if (rc <= 0) goto out;
  if (cairn_arg_is(sub, "getreg") || cairn_arg_is(sub, "todense")) {
    int conv = 0;
    if (b.p[4] == CAIRN_HLL_SPARSE) {
      if (cairn_hll_to_dense(&b) != 0) {
        cairn_reply_error(&c->reply, ERR_INVALID_HLL);
        goto out;
      }
      if (hll_store(c, c->argv[2], &b, expire) < 0) goto out;
      c->dirty++;
      conv = 1;
    }
    if (cairn_arg_is(sub, "todense")) {
      cairn_reply_int(&c->reply, conv);
    } else {
      cairn_reply_array(&c->reply, HLL_REGS);
      for (long j = 0; j < HLL_REGS; j++) cairn_reply_int(&c->reply, cairn_hll_dense_get(b.p, j));
    }
  } else if (cairn_arg_is(sub, "decode")) {
    if (b.p[4] != CAIRN_HLL_SPARSE) {
      cairn_reply_error(&c->reply, "HLL encoding is not sparse");
      goto out;
    }
    cairn_buf d = {0};
    const uint8_t *p = (const uint8_t *)b.p + CAIRN_HLL_HDR, *end = (const uint8_t *)b.p + b.len;
    while (p < end) {
      if (d.len) cairn_buf_putc(&d, ' ');
      if (is_zero(p)) {
        cairn_buf_printf(&d, "z:%d", zero_len(p));
        p++;
      } else if (is_xzero(p)) {
        cairn_buf_printf(&d, "Z:%d", xzero_len(p, end));
        p += 2;
      } else {
        cairn_buf_printf(&d, "v:%d,%d", val_value(p), val_len(p));
        p++;
      }
    }
    cairn_reply_bulk(&c->reply, d.p ? d.p : "", d.len);
    cairn_buf_free(&d);
  } else if (cairn_arg_is(sub, "encoding")) {
    cairn_reply_status(&c->reply, b.p[4] == CAIRN_HLL_DENSE ? "dense" : "sparse");
  } else {
    cairn_reply_errorf(&c->reply, "Unknown PFDEBUG subcommand '%.*s'", (int)sub.len, sub.p);
  }
out:
  cairn_buf_free(&b);
}

/* PFSELFTEST: the register accessors, then dense and sparse agreeing and
 * the error staying within bounds up to 10M elements (like Redis's). */
void cairn_cmd_pfselftest(cairn_ctx *c) {
  uint8_t *dense = cairn_xcalloc(1, CAIRN_HLL_DENSE_SIZE);
  uint8_t *bytes = cairn_xmalloc(HLL_REGS);
  cairn_buf sparse = {0};
  memcpy(dense, "HYLL", 4);
  for (int j = 0; j < 1000; j++) {
    for (long i = 0; i < HLL_REGS; i++) {
      uint8_t r = (uint8_t)(cairn_rand64() & HLL_MAXREG);
      bytes[i] = r;
      dense_put(dense, i, r);
    }
    for (long i = 0; i < HLL_REGS; i++) {
      uint8_t got = cairn_hll_dense_get(dense, i);
      if (got != bytes[i]) {
        cairn_reply_errorf(&c->reply, "TESTFAILED Register %ld should be %d but is %d", i, bytes[i], got);
        goto out;
      }
    }
  }
  memset(dense + CAIRN_HLL_HDR, 0, CAIRN_HLL_DENSE_SIZE - CAIRN_HLL_HDR);
  cairn_hll_new(&sparse);
  size_t smax = sparse_max_bytes(c);
  double relerr = 1.04 / sqrt(HLL_REGS);
  int64_t checkpoint = 1;
  uint64_t seed = cairn_rand64();
  for (int64_t j = 1; j <= 10000000; j++) {
    uint64_t ele = (uint64_t)j ^ seed;
    long idx;
    uint8_t count = (uint8_t)cairn_hll_patlen(&ele, sizeof(ele), &idx);
    dense_set(dense, idx, count);
    cairn_hll_add(&sparse, &ele, sizeof(ele), smax);
    if (j != checkpoint) continue;
    if (j < (int64_t)smax / 2 && sparse.p[4] != CAIRN_HLL_SPARSE) {
      cairn_reply_error(&c->reply, "TESTFAILED sparse encoding not used");
      goto out;
    }
    uint64_t dc = cairn_hll_count(dense, CAIRN_HLL_DENSE_SIZE, NULL);
    if (dc != cairn_hll_count(sparse.p, sparse.len, NULL)) {
      cairn_reply_error(&c->reply, "TESTFAILED dense/sparse disagree");
      goto out;
    }
    int64_t abserr = checkpoint - (int64_t)dc;
    uint64_t maxerr = (uint64_t)ceil(relerr * 6 * (double)checkpoint);
    if (j == 10) maxerr = 1;
    if (abserr < 0) abserr = -abserr;
    if (abserr > (int64_t)maxerr) {
      cairn_reply_errorf(&c->reply, "TESTFAILED Too big error. card:%llu abserr:%llu",
                         (unsigned long long)checkpoint, (unsigned long long)abserr);
      goto out;
    }
    checkpoint *= 10;
  }
  cairn_reply_ok(&c->reply);
out:
  free(dense);
  free(bytes);
  cairn_buf_free(&sparse);
}
