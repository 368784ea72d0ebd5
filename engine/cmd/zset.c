/* Sorted sets: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT ZRANK
 * ZREVRANK ZRANGE ZRANGESTORE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE
 * ZRANGEBYLEX ZREVRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX
 * ZPOPMIN ZPOPMAX BZPOPMIN BZPOPMAX ZMPOP BZMPOP ZRANDMEMBER ZUNION ZINTER
 * ZDIFF ZUNIONSTORE ZINTERSTORE ZDIFFSTORE ZINTERCARD ZSCAN.
 *
 * Layout (engine/store.h, collections): CAIRN_SPACE_MEMBERS (hashed: in
 * the order of a 64-bit hash of the member) member -> score (the double's 8
 * bytes, host order), CAIRN_SPACE_ZSCORE [sortable score u64 BE][member] ->
 * "" where sortable flips the sign bit of positives and every bit of
 * negatives (so memcmp order is numeric order). -0.0 is stored as 0.0 (what
 * Redis's small encoding does: ZSCORE says "0"). Every write changes both
 * spaces together; NaN is never stored.
 *
 * Costs (n = members, m = members returned or removed, log n = one B-tree
 * seek). LMDB keeps no subtree counts, so anything by rank walks entries
 * (a step of a walk is a cursor move, ~50 ns on a warm cache):
 *   ZADD ZINCRBY ZREM ZSCORE ZMSCORE   O(log n) per member
 *   ZCARD                              O(1) (the header keeps the count)
 *   ZRANK ZREVRANK                     O(min(r, n-r)): walks from both ends at
 *                                      once, stops at whichever reaches the
 *                                      member (at most 2*min(r, n-r) steps)
 *   ZCOUNT ZLEXCOUNT                   O(log n + min(k, n-k)) for k members in
 *                                      range: counts the range and, at the same
 *                                      pace, what lies before and after it;
 *                                      answers from whichever finishes first
 *   ZRANGE/ZREVRANGE by rank           O(min(s, n-s) + m), s = the start rank
 *   ZRANGE BYSCORE/BYLEX, ZRANGEBYSCORE, ZRANGEBYLEX and REV forms
 *                                      O(log n + offset + m) (a seek, then a
 *                                      walk; LIMIT's offset is walked, as in
 *                                      Redis). BYLEX on a set whose scores
 *                                      differ can not seek: O(n)
 *   ZRANGESTORE                        as ZRANGE, plus O(log n) per member stored
 *   ZREMRANGEBYSCORE/LEX               O(log n + m log n)
 *   ZREMRANGEBYRANK                    O(min(s, n-s) + m log n); the whole set
 *                                      is O(1) (the collection is retired and
 *                                      swept in the background)
 *   ZPOPMIN ZPOPMAX ZMPOP BZ*          O(log n) per member popped (all of
 *                                      them: O(1), retired like above)
 *   ZRANDMEMBER                        up to 1000 members: exactly uniform
 *                                      walks (no count: O(min(r, n-r)); a count:
 *                                      one walk per 1000 draws). Bigger sets:
 *                                      a seek to a random member hash plus up
 *                                      to 64 steps, O(log n + 64) per draw
 *                                      (near uniform, see pick_hash); a
 *                                      positive count with count*128 > n (or
 *                                      >= n) is one O(n) walk (selection
 *                                      sampling, or the whole set)
 *   ZUNION ZINTER ZDIFF (reply forms)  O(N log n) for N input members looked up
 *                                      elsewhere, memory for the result only
 *   ZUNIONSTORE ZINTERSTORE ZDIFFSTORE O(N log n), streamed through the store:
 *                                      neither inputs nor result are held in
 *                                      memory
 *   ZINTERCARD                         O(S * K * log n), S = smallest input,
 *                                      K = inputs (LIMIT stops early)
 *   ZSCAN                              O(log n + count) per call
 * Members longer than CAIRN_ELEM_INLINE - 8 (472) bytes that share their
 * first 472 bytes and their score are stored by hash order (store.h); the
 * iterator reads such a group whole and sorts it, so the order is still
 * Redis's, at the price of holding that group in memory while it is walked.
 *
 * Known divergences: BYLEX on a set whose
 * scores differ behaves like Redis's small (listpack) encoding (Redis's
 * skiplist gives layout-dependent answers there); a sorted set never stores
 * -0 (Redis's skiplist encoding, used above 128 members, keeps it and ZSCORE
 * says "-0"). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/blocking.h"
#include "engine/util.h"
#include "engine/cmd/types.h"

#define ERR_NAN "resulting score is not a number (NaN)"
#define ERR_MINMAX_FLOAT "min or max is not a float"
#define ERR_MINMAX_LEX "min or max not valid string range item"

/* ---------------------------------------------------------------- encoding */

static uint64_t dbits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

static double bitsd(uint64_t u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}

static uint64_t sortable(double d) {
  if (d == 0) d = 0.0; /* -0.0 ties with 0 */
  uint64_t u = dbits(d);
  return (u & 0x8000000000000000ULL) ? ~u : (u | 0x8000000000000000ULL);
}

static double unsortable(uint64_t u) {
  return bitsd((u & 0x8000000000000000ULL) ? (u & ~0x8000000000000000ULL) : ~u);
}

static void wr64be(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (unsigned char)v;
    v >>= 8;
  }
}

static uint64_t rd64be(const void *q) {
  const unsigned char *p = q;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

/* [sortable score][member] into b (reset). */
static void skey(cairn_buf *b, double score, const void *m, size_t mlen) {
  b->len = 0;
  unsigned char k[8];
  wr64be(k, sortable(score));
  cairn_buf_append(b, k, 8);
  if (mlen) cairn_buf_append(b, m, mlen);
}

static int same(cairn_str a, cairn_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0); }

/* Bytewise compare like sdscmp. */
static int bcmp_str(const char *a, size_t al, const char *b, size_t bl) {
  size_t n = al < bl ? al : bl;
  int r = n ? memcmp(a, b, n) : 0;
  if (r) return r;
  return al < bl ? -1 : al > bl ? 1 : 0;
}

static cairn_store *ST(cairn_ctx *c) { return cairn_ctx_store(c); }

/* -1 is no store code: an inconsistent collection (a member missing from
 * one space); report it as an I/O error. */
static int failed(cairn_ctx *c, int rc) { return cairn_store_failed(c, rc == -1 ? CAIRN_STORE_IO : rc); }

/* ---------------------------------------------------------------- member ops */

/* Score of member: 1 found, 0 absent, <0 store error. */
static int z_score(cairn_store *s, uint64_t id, const void *m, size_t mlen, double *out) {
  cairn_str v;
  int rc = cairn_elem_get(s, id, CAIRN_SPACE_MEMBERS, m, mlen, &v);
  if (rc <= 0) return rc;
  if (v.len != 8) return 0;
  uint64_t u;
  memcpy(&u, v.p, 8);
  *out = bitsd(u);
  return 1;
}

/* A space-1 key for one store call: on the stack for members of up to 248
 * bytes (no allocation per member on the write path), on the heap beyond. */
typedef struct zkey {
  unsigned char small[256];
  unsigned char *p;
  size_t len;
} zkey;

static void zkey_make(zkey *k, double score, const void *m, size_t mlen) {
  k->len = 8 + mlen;
  k->p = k->len <= sizeof(k->small) ? k->small : cairn_xmalloc(k->len);
  wr64be(k->p, sortable(score));
  if (mlen) memcpy(k->p + 8, m, mlen);
}

static void zkey_done(zkey *k) {
  if (k->p != k->small) free(k->p);
}

static int z_put(cairn_store *s, uint64_t id, const void *m, size_t mlen, double score) {
  if (score == 0) score = 0.0; /* Redis's small encoding stores -0 as the integer 0 */
  uint64_t u = dbits(score);
  int rc = cairn_elem_put(s, id, CAIRN_SPACE_MEMBERS, m, mlen, &u, 8);
  if (rc < 0) return rc;
  zkey k;
  zkey_make(&k, score, m, mlen);
  rc = cairn_elem_put(s, id, CAIRN_SPACE_ZSCORE, k.p, k.len, "", 0);
  zkey_done(&k);
  return rc < 0 ? rc : 0;
}

/* Changes the score of an existing member. */
static int z_move(cairn_store *s, uint64_t id, const void *m, size_t mlen, double old, double score) {
  if (sortable(old) != sortable(score)) {
    zkey k;
    zkey_make(&k, old, m, mlen);
    int rc = cairn_elem_del(s, id, CAIRN_SPACE_ZSCORE, k.p, k.len);
    zkey_done(&k);
    if (rc < 0) return rc;
  }
  return z_put(s, id, m, mlen, score);
}

static int z_del(cairn_store *s, uint64_t id, const void *m, size_t mlen, double score) {
  int rc = cairn_elem_del(s, id, CAIRN_SPACE_MEMBERS, m, mlen);
  if (rc < 0) return rc;
  zkey k;
  zkey_make(&k, score, m, mlen);
  rc = cairn_elem_del(s, id, CAIRN_SPACE_ZSCORE, k.p, k.len);
  zkey_done(&k);
  return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- ordered iterator
 * Walks CAIRN_SPACE_ZSCORE in score order (or reverse), copying each member out so the
 * caller may write to the store between steps.
 *
 * The store orders long sub-keys (> CAIRN_ELEM_INLINE bytes) that share
 * their first CAIRN_ELEM_INLINE bytes by hash; such entries are contiguous,
 * so the iterator reads each such group whole and returns it sorted
 * bytewise: the order is Redis's (score, then member bytes) for every
 * member. */
typedef struct zent {
  char *sub;
  size_t len;
} zent;

typedef struct zit {
  cairn_store *s;
  uint64_t id;
  int reverse;
  cairn_elem_iter *it;
  double score;
  cairn_buf mem;
  int pending; /* the current entry is returned again by the next zit_next */
  int at_cursor; /* the current entry is the one the store cursor stands on */
  zent *grp;     /* a sorted group of long sub-keys being served */
  size_t ngrp, gpos, gcap;
  cairn_buf la;  /* lookahead: the entry read just after a group */
  int has_la, la_eof;
  int scores_only; /* counting by score: members are neither copied nor grouped */
} zit;

static int zit_open(zit *z, cairn_store *s, uint64_t id, int reverse, const void *from, size_t fromlen) {
  memset(z, 0, sizeof(*z));
  z->s = s;
  z->id = id;
  z->reverse = reverse;
  if (from && reverse && fromlen > CAIRN_ELEM_INLINE) {
    /* The store seeks a long key by its inline prefix only: backwards, start
     * just past every key sharing that prefix (callers skip what is above
     * their bound). */
    unsigned char succ[CAIRN_ELEM_INLINE];
    size_t n = CAIRN_ELEM_INLINE;
    memcpy(succ, from, n);
    while (n > 0 && succ[n - 1] == 0xff) n--;
    if (n == 0) return cairn_elem_iter_open(s, id, CAIRN_SPACE_ZSCORE, NULL, 0, 1, &z->it);
    succ[n - 1]++;
    return cairn_elem_iter_open(s, id, CAIRN_SPACE_ZSCORE, succ, n, 1, &z->it);
  }
  return cairn_elem_iter_open(s, id, CAIRN_SPACE_ZSCORE, from, fromlen, reverse, &z->it);
}

static void zit_free_grp(zit *z) {
  for (size_t i = 0; i < z->ngrp; i++) free(z->grp[i].sub);
  z->ngrp = z->gpos = 0;
}

static void zit_close(zit *z) {
  cairn_elem_iter_close(z->it);
  z->it = NULL;
  zit_free_grp(z);
  free(z->grp);
  z->grp = NULL;
  cairn_buf_free(&z->mem);
  cairn_buf_free(&z->la);
}

static int zent_cmp(const void *x, const void *y) {
  const zent *a = x, *b = y;
  return bcmp_str(a->sub, a->len, b->sub, b->len);
}

static int zent_cmp_rev(const void *x, const void *y) { return -zent_cmp(x, y); }

static void zit_set(zit *z, const char *sub, size_t len) {
  z->score = unsortable(rd64be(sub));
  z->mem.len = 0;
  cairn_buf_append(&z->mem, sub + 8, len - 8);
}

static void grp_push(zit *z, const char *sub, size_t len) {
  if (z->ngrp == z->gcap) {
    z->gcap = z->gcap ? z->gcap * 2 : 8;
    z->grp = cairn_xrealloc(z->grp, z->gcap * sizeof(zent));
  }
  z->grp[z->ngrp].sub = cairn_xmemdup(sub, len);
  z->grp[z->ngrp].len = len;
  z->ngrp++;
}

static int zit_next(zit *z) {
  if (z->pending) {
    z->pending = 0;
    return 1;
  }
  if (z->gpos < z->ngrp) {
    zent *e = &z->grp[z->gpos++];
    zit_set(z, e->sub, e->len);
    z->at_cursor = 0;
    return 1;
  }
  zit_free_grp(z);
  cairn_str sub, val;
  int rc;
  if (z->has_la) {
    z->has_la = 0;
    if (z->la_eof) return 0;
    sub.p = z->la.p;
    sub.len = z->la.len;
    rc = 1;
  } else {
    rc = cairn_elem_iter_next(z->it, &sub, &val);
    if (rc <= 0) return rc;
  }
  if (sub.len < 8) return -1;
  z->at_cursor = 1;
  if (z->scores_only) {
    z->score = unsortable(rd64be(sub.p));
    return 1;
  }
  if (sub.len <= CAIRN_ELEM_INLINE) {
    zit_set(z, sub.p, sub.len);
    return 1;
  }
  /* A long sub-key: read its whole group, sort it. */
  grp_push(z, sub.p, sub.len);
  for (;;) {
    rc = cairn_elem_iter_next(z->it, &sub, &val);
    if (rc < 0) return rc;
    if (rc == 0) {
      z->has_la = z->la_eof = 1;
      break;
    }
    if (sub.len > CAIRN_ELEM_INLINE && memcmp(sub.p, z->grp[0].sub, CAIRN_ELEM_INLINE) == 0) {
      grp_push(z, sub.p, sub.len);
      continue;
    }
    z->la.len = 0;
    cairn_buf_append(&z->la, sub.p, sub.len);
    z->has_la = 1;
    z->la_eof = 0;
    break;
  }
  qsort(z->grp, z->ngrp, sizeof(zent), z->reverse ? zent_cmp_rev : zent_cmp);
  z->gpos = 1;
  zit_set(z, z->grp[0].sub, z->grp[0].len);
  z->at_cursor = z->ngrp == 1 && !z->has_la;
  return 1;
}

/* Deletes the member last returned (both spaces). */
static int zit_del(zit *z) {
  int rc;
  if (z->at_cursor) {
    rc = cairn_elem_iter_del(z->it);
  } else {
    static cairn_buf k;
    skey(&k, z->score, z->mem.p, z->mem.len);
    rc = cairn_elem_del(z->s, z->id, CAIRN_SPACE_ZSCORE, k.p, k.len);
  }
  if (rc < 0) return rc;
  rc = cairn_elem_del(z->s, z->id, CAIRN_SPACE_MEMBERS, z->mem.p, z->mem.len);
  return rc < 0 ? rc : 0;
}

/* Steps over k entries (1 if done, -1 if the collection ends first) without
 * copying them; a long entry ends the raw stepping (it goes through zit_next
 * with its group, whose order matters for where the walk stops). */
static int zit_skip(zit *z, uint64_t k) {
  while (k > 0 && !z->pending && z->gpos >= z->ngrp && !z->has_la) {
    cairn_str sub, val;
    int rc = cairn_elem_iter_next(z->it, &sub, &val);
    if (rc <= 0) return rc < 0 ? rc : -1;
    if (sub.len > CAIRN_ELEM_INLINE) {
      z->la.len = 0;
      cairn_buf_append(&z->la, sub.p, sub.len);
      z->has_la = 1;
      z->la_eof = 0;
      break;
    }
    k--;
  }
  for (; k > 0; k--) {
    int rc = zit_next(z);
    if (rc <= 0) return rc < 0 ? rc : -1;
  }
  return 1;
}

/* Opens z in direction `reverse` so that the next zit_next returns the member
 * of ascending rank r (0 <= r < n). Walks min(r, n-1-r) entries. */
static int zit_open_rank(zit *z, cairn_store *s, uint64_t id, uint64_t n, uint64_t r, int reverse) {
  uint64_t fwd = r, bwd = n - 1 - r;
  int walk_rev = bwd < fwd;
  uint64_t steps = walk_rev ? bwd : fwd;
  int rc = zit_open(z, s, id, walk_rev, NULL, 0);
  if (rc < 0) return rc;
  if ((rc = zit_skip(z, steps)) < 0) return rc;
  rc = zit_next(z);
  if (rc <= 0) return rc < 0 ? rc : -1;
  if (walk_rev == reverse) {
    z->pending = 1;
    return 0;
  }
  /* Turn around: seek the member found in the other direction. */
  if (z->mem.len + 8 > CAIRN_ELEM_INLINE) {
    /* A long sub-key can not be sought exactly backwards: walk the other way. */
    zit_close(z);
    steps = reverse ? bwd : fwd;
    if ((rc = zit_open(z, s, id, reverse, NULL, 0)) < 0) return rc;
    if ((rc = zit_skip(z, steps)) < 0) return rc;
    rc = zit_next(z);
    if (rc <= 0) return rc < 0 ? rc : -1;
    z->pending = 1;
    return 0;
  }
  cairn_buf key = {0};
  skey(&key, z->score, z->mem.p, z->mem.len);
  cairn_elem_iter_close(z->it);
  z->it = NULL;
  z->pending = 0;
  z->has_la = z->la_eof = 0;
  zit_free_grp(z);
  z->reverse = reverse;
  rc = cairn_elem_iter_open(s, id, CAIRN_SPACE_ZSCORE, key.p, key.len, reverse, &z->it);
  cairn_buf_free(&key);
  if (rc < 0) return rc;
  rc = zit_next(z);
  if (rc <= 0) return rc < 0 ? rc : -1;
  z->pending = 1;
  return 0;
}

/* ---------------------------------------------------------------- ranges */

typedef struct zrange_spec {
  double min, max;
  int minex, maxex;
} zrange_spec;

/* zslParseRange: strtod of the C string after an optional '(' (the whole
 * rest must be consumed; "" reads as 0 like in Redis), NaN refused. */
static int parse_score_item(cairn_str a, double *out, int *ex) {
  char *z = cairn_xmemdup(a.p, a.len);
  char *p = z, *end;
  *ex = 0;
  if (p[0] == '(') {
    p++;
    *ex = 1;
  }
  double v = strtod(p, &end);
  int ok = end[0] == '\0' && !isnan(v);
  free(z);
  if (!ok) return -1;
  *out = v;
  return 0;
}

static int parse_score_range(cairn_str min, cairn_str max, zrange_spec *r) {
  if (parse_score_item(min, &r->min, &r->minex) != 0) return -1;
  if (parse_score_item(max, &r->max, &r->maxex) != 0) return -1;
  return 0;
}

static int score_gte_min(double v, const zrange_spec *r) { return r->minex ? v > r->min : v >= r->min; }
static int score_lte_max(double v, const zrange_spec *r) { return r->maxex ? v < r->max : v <= r->max; }

/* Lex bounds: kind 0 = string, -1 = "-" (minus infinity), 1 = "+". */
typedef struct lex_item {
  int kind, ex;
  char *p;
  size_t len;
} lex_item;

typedef struct lex_spec {
  lex_item min, max;
} lex_spec;

static int parse_lex_item(cairn_str a, lex_item *it) {
  memset(it, 0, sizeof(*it));
  if (a.len == 0) return -1;
  switch (a.p[0]) {
    case '+':
      if (a.len > 1 && a.p[1] != '\0') return -1;
      it->kind = 1;
      it->ex = 1;
      return 0;
    case '-':
      if (a.len > 1 && a.p[1] != '\0') return -1;
      it->kind = -1;
      it->ex = 1;
      return 0;
    case '(':
    case '[':
      it->ex = a.p[0] == '(';
      it->len = a.len - 1;
      it->p = cairn_xmemdup(a.p + 1, a.len - 1);
      return 0;
    default:
      return -1;
  }
}

static void lex_free(lex_spec *l) {
  free(l->min.p);
  free(l->max.p);
  l->min.p = l->max.p = NULL;
}

static int parse_lex_range(cairn_str min, cairn_str max, lex_spec *l) {
  memset(l, 0, sizeof(*l));
  if (parse_lex_item(min, &l->min) != 0 || parse_lex_item(max, &l->max) != 0) {
    lex_free(l);
    return -1;
  }
  return 0;
}

/* sdscmplex of a member against a bound. */
static int lex_cmp(const char *m, size_t mlen, const lex_item *b) {
  if (b->kind == -1) return 1;
  if (b->kind == 1) return -1;
  return bcmp_str(m, mlen, b->p, b->len);
}

static int lex_gte_min(const char *m, size_t n, const lex_spec *l) {
  int c = lex_cmp(m, n, &l->min);
  return l->min.ex ? c > 0 : c >= 0;
}

static int lex_lte_max(const char *m, size_t n, const lex_spec *l) {
  int c = lex_cmp(m, n, &l->max);
  return l->max.ex ? c < 0 : c <= 0;
}

/* Compare two bounds like sdscmplex(min, max). */
static int lex_empty(const lex_spec *l) {
  int cmp;
  if (l->min.kind == l->max.kind && l->min.kind != 0)
    cmp = 0;
  else if (l->min.kind == -1 || l->max.kind == 1)
    cmp = -1;
  else if (l->min.kind == 1 || l->max.kind == -1)
    cmp = 1;
  else
    cmp = bcmp_str(l->min.p, l->min.len, l->max.p, l->max.len);
  return cmp > 0 || (cmp == 0 && (l->min.ex || l->max.ex));
}

static int score_empty(const zrange_spec *r) {
  return r->min > r->max || (r->min == r->max && (r->minex || r->maxex));
}

/* A range walker: score or lex range over one zset, in either direction. */
typedef struct zwalk {
  int lex;
  const zrange_spec *sr;
  const lex_spec *lr;
  int reverse;
  int sorted; /* lex only: all scores equal, seeks work */
  double lexscore;
} zwalk;

static int in_start(const zwalk *w, const zit *z) {
  if (w->lex) return w->reverse ? lex_lte_max(z->mem.p, z->mem.len, w->lr) : lex_gte_min(z->mem.p, z->mem.len, w->lr);
  return w->reverse ? score_lte_max(z->score, w->sr) : score_gte_min(z->score, w->sr);
}

static int in_end(const zwalk *w, const zit *z) {
  if (w->lex) return w->reverse ? lex_gte_min(z->mem.p, z->mem.len, w->lr) : lex_lte_max(z->mem.p, z->mem.len, w->lr);
  return w->reverse ? score_gte_min(z->score, w->sr) : score_lte_max(z->score, w->sr);
}

/* Reads the first or last member's score: 1, 0 (empty), <0. */
static int edge_score(cairn_store *s, uint64_t id, int last, double *out) {
  zit z;
  int rc = zit_open(&z, s, id, last, NULL, 0);
  if (rc >= 0) rc = zit_next(&z);
  if (rc > 0) *out = z.score;
  zit_close(&z);
  return rc;
}

/* Prepares a walker: for lex ranges checks whether every score is the same
 * (first == last), which makes seeks possible. */
static int zwalk_init(zwalk *w, cairn_store *s, uint64_t id, int lex, const zrange_spec *sr, const lex_spec *lr,
                      int reverse) {
  memset(w, 0, sizeof(*w));
  w->lex = lex;
  w->sr = sr;
  w->lr = lr;
  w->reverse = reverse;
  if (lex) {
    double a = 0, b = 0;
    int rc = edge_score(s, id, 0, &a);
    if (rc < 0) return rc;
    if (rc == 0) return 0;
    if ((rc = edge_score(s, id, 1, &b)) < 0) return rc;
    w->sorted = sortable(a) == sortable(b);
    w->lexscore = a;
  }
  return 0;
}

/* Opens z at the start of the walker's range: the next zit_next returns the
 * first member in range (returns 1), or 0 when the range is empty. */
static int zwalk_open(const zwalk *w, zit *z, cairn_store *s, uint64_t id) {
  unsigned char k[8];
  cairn_buf from = {0};
  int use_from = 0;
  if (!w->lex) {
    if (!w->reverse) {
      wr64be(k, sortable(w->sr->min));
      cairn_buf_append(&from, k, 8);
      use_from = 1;
    } else {
      uint64_t u = sortable(w->sr->max);
      if (u != UINT64_MAX) {
        wr64be(k, u + 1);
        cairn_buf_append(&from, k, 8);
        use_from = 1;
      }
    }
  } else if (w->sorted) {
    const lex_item *b = w->reverse ? &w->lr->max : &w->lr->min;
    uint64_t u = sortable(w->lexscore);
    if (b->kind == 0) {
      wr64be(k, u);
      cairn_buf_append(&from, k, 8);
      cairn_buf_append(&from, b->p, b->len);
      use_from = 1;
    } else if (b->kind == -1 && !w->reverse) {
      wr64be(k, u);
      cairn_buf_append(&from, k, 8);
      use_from = 1;
    } else if (b->kind == 1 && w->reverse && u != UINT64_MAX) {
      wr64be(k, u + 1);
      cairn_buf_append(&from, k, 8);
      use_from = 1;
    }
  }
  memset(z, 0, sizeof(*z));
  if (w->lex && !w->sorted) {
    /* Mixed scores: no seek is possible; like Redis's small encoding
     * (zzlIsInLexRange), nothing is in range unless the first member is
     * <= max and the last >= min, then walk from the end. */
    for (int last = 0; last < 2; last++) {
      zit e;
      int rc = zit_open(&e, s, id, last, NULL, 0);
      if (rc >= 0) rc = zit_next(&e);
      int ok = rc > 0 && (last ? lex_gte_min(e.mem.p, e.mem.len, w->lr) : lex_lte_max(e.mem.p, e.mem.len, w->lr));
      zit_close(&e);
      if (rc < 0) {
        cairn_buf_free(&from);
        return rc;
      }
      if (!ok) {
        cairn_buf_free(&from);
        return 0;
      }
    }
  }
  int rc = zit_open(z, s, id, w->reverse, use_from ? from.p : NULL, from.len);
  cairn_buf_free(&from);
  if (rc < 0) return rc;
  while ((rc = zit_next(z)) > 0) {
    if (!in_start(w, z)) continue;
    if (!in_end(w, z)) return 0;
    break;
  }
  if (rc <= 0) return rc;
  z->pending = 1;
  return 1;
}

/* ---------------------------------------------------------------- replies */

static void reply_score(cairn_ctx *c, double d) { cairn_reply_double(&c->reply, d); }

/* Result emission for ZRANGE* (to the client, or into a new collection). */
typedef struct emitter {
  cairn_ctx *c;
  int store, withscores;
  cairn_coll dst;
  long long n;
  size_t mark;
  const char *event; /* the store's keyspace event: zrangestore, or geo's */
} emitter;

static void emit_begin(emitter *e, cairn_ctx *c, int store, int withscores) {
  memset(e, 0, sizeof(*e));
  e->c = c;
  e->store = store;
  e->withscores = withscores;
  if (store)
    cairn_coll_init(ST(c), &e->dst);
  else
    e->mark = cairn_reply_defer(&c->reply);
}

static int emit_one(emitter *e, const char *m, size_t len, double score) {
  cairn_ctx *c = e->c;
  e->n++;
  if (e->store) {
    int rc = z_put(ST(c), e->dst.id, m, len, score);
    if (rc < 0) return failed(c, rc);
    e->dst.count++;
    return 0;
  }
  if (e->withscores && c->reply.resp > 2) cairn_reply_array(&c->reply, 2);
  cairn_reply_bulk(&c->reply, m, len);
  if (e->withscores) reply_score(c, score);
  return 0;
}

/* Finishes: reply (array, or the stored count; ZRANGESTORE of nothing deletes
 * the destination). */
static void emit_end(emitter *e, cairn_str dstkey) {
  cairn_ctx *c = e->c;
  if (!e->store) {
    cairn_reply_defer_array(&c->reply, e->mark, (e->withscores && c->reply.resp == 2) ? e->n * 2 : e->n);
    return;
  }
  if (e->n) {
    if (cairn_coll_save(c, dstkey, CAIRN_TYPE_ZSET, &e->dst, -1) < 0) return;
    c->dirty++;
    cairn_signal_key_ready(c, dstkey);
    cairn_notify(c, CAIRN_NOTIFY_ZSET, e->event ? e->event : "zrangestore", dstkey);
    cairn_reply_int(&c->reply, e->n);
    return;
  }
  cairn_value v;
  int rc = cairn_lookup(c, dstkey, &v);
  if (rc < 0) return;
  if (rc > 0) {
    rc = cairn_store_del(ST(c), c->db, dstkey);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    c->dirty++;
    cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", dstkey);
  }
  cairn_reply_int(&c->reply, 0);
}

/* A removal's events (Redis's): the command's, then "del" if the set is gone. */
static void notify_removed(cairn_ctx *c, const char *event, cairn_str key, const cairn_coll *coll) {
  cairn_notify(c, CAIRN_NOTIFY_ZSET, event, key);
  if (coll->count == 0) cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
}

/* ---------------------------------------------------------------- ZADD ZINCRBY */

enum { ZF_NX = 1, ZF_XX = 2, ZF_GT = 4, ZF_LT = 8, ZF_INCR = 16 };

static void zadd_generic(cairn_ctx *c, int flags) {
  cairn_str key = c->argv[1];
  int ch = 0, idx = 2;
  while (idx < c->argc) {
    cairn_str o = c->argv[idx];
    if (cairn_arg_is(o, "nx"))
      flags |= ZF_NX;
    else if (cairn_arg_is(o, "xx"))
      flags |= ZF_XX;
    else if (cairn_arg_is(o, "ch"))
      ch = 1;
    else if (cairn_arg_is(o, "incr"))
      flags |= ZF_INCR;
    else if (cairn_arg_is(o, "gt"))
      flags |= ZF_GT;
    else if (cairn_arg_is(o, "lt"))
      flags |= ZF_LT;
    else
      break;
    idx++;
  }
  int incr = !!(flags & ZF_INCR), nx = !!(flags & ZF_NX), xx = !!(flags & ZF_XX), gt = !!(flags & ZF_GT),
      lt = !!(flags & ZF_LT);
  int elements = c->argc - idx;
  if (elements % 2 || !elements) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  elements /= 2;
  if (nx && xx) {
    cairn_reply_error(&c->reply, "XX and NX options at the same time are not compatible");
    return;
  }
  if ((gt && nx) || (lt && nx) || (gt && lt)) {
    cairn_reply_error(&c->reply, "GT, LT, and/or NX options at the same time are not compatible");
    return;
  }
  if (incr && elements > 1) {
    cairn_reply_error(&c->reply, "INCR option supports a single increment-element pair");
    return;
  }
  double *scores = cairn_xmalloc(sizeof(double) * (size_t)elements);
  for (int j = 0; j < elements; j++)
    if (cairn_arg_double(c, c->argv[idx + j * 2], &scores[j]) != 0) goto out;

  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, key, CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) goto out;
  int64_t expire = rc ? val.expire_ms : -1;
  long long added = 0, updated = 0, processed = 0;
  double score = 0;
  if (rc == 0) {
    if (xx) goto reply;
    cairn_coll_init(ST(c), &coll);
  }
  for (int j = 0; j < elements; j++) {
    cairn_str m = c->argv[idx + 1 + j * 2];
    double sc = scores[j], cur;
    rc = z_score(ST(c), coll.id, m.p, m.len, &cur);
    if (rc < 0) {
      failed(c, rc);
      goto out;
    }
    if (rc) {
      if (nx) continue;
      if (incr) {
        sc += cur;
        if (isnan(sc)) {
          cairn_reply_error(&c->reply, ERR_NAN);
          goto save;
        }
      }
      if ((lt && sc >= cur) || (gt && sc <= cur)) continue;
      score = sc;
      processed++;
      if (sc != cur) {
        if ((rc = z_move(ST(c), coll.id, m.p, m.len, cur, sc)) < 0) {
          failed(c, rc);
          goto out;
        }
        updated++;
      }
    } else if (!xx) {
      if ((rc = z_put(ST(c), coll.id, m.p, m.len, sc)) < 0) {
        failed(c, rc);
        goto out;
      }
      coll.count++;
      added++;
      processed++;
      score = sc;
    }
  }
reply:
  if (incr) {
    if (processed)
      reply_score(c, score);
    else
      cairn_reply_null(&c->reply);
  } else {
    cairn_reply_int(&c->reply, ch ? added + updated : added);
  }
save:
  if (added || updated) {
    if (cairn_coll_save(c, key, CAIRN_TYPE_ZSET, &coll, expire) < 0) goto out;
    c->dirty += added + updated;
    if (added) cairn_signal_key_ready(c, key);
    cairn_notify(c, CAIRN_NOTIFY_ZSET, (flags & ZF_INCR) ? "zincr" : "zadd", key);
  }
out:
  free(scores);
}

static void cmd_zadd(cairn_ctx *c) { zadd_generic(c, 0); }
static void cmd_zincrby(cairn_ctx *c) { zadd_generic(c, ZF_INCR); }

/* ---------------------------------------------------------------- ZREM ZSCORE ZMSCORE ZCARD */

static void cmd_zrem(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  int64_t expire = val.expire_ms;
  long long deleted = 0;
  for (int j = 2; j < c->argc && coll.count; j++) {
    double sc;
    rc = z_score(ST(c), coll.id, c->argv[j].p, c->argv[j].len, &sc);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    if (!rc) continue;
    if (coll.count > 1 && (rc = z_del(ST(c), coll.id, c->argv[j].p, c->argv[j].len, sc)) < 0) {
      failed(c, rc);
      return;
    }
    coll.count--; /* the last member goes with the collection */
    deleted++;
  }
  if (deleted) {
    if (cairn_coll_save(c, c->argv[1], CAIRN_TYPE_ZSET, &coll, expire) < 0) return;
    c->dirty += deleted;
    notify_removed(c, "zrem", c->argv[1], &coll);
  }
  cairn_reply_int(&c->reply, deleted);
}

static void cmd_zscore(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) return;
  double sc;
  if (rc) rc = z_score(ST(c), coll.id, c->argv[2].p, c->argv[2].len, &sc);
  if (rc < 0) {
    failed(c, rc);
    return;
  }
  if (rc)
    reply_score(c, sc);
  else
    cairn_reply_null(&c->reply);
}

static void cmd_zmscore(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int found = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (found < 0) return;
  cairn_reply_array(&c->reply, c->argc - 2);
  for (int j = 2; j < c->argc; j++) {
    double sc;
    int rc = found ? z_score(ST(c), coll.id, c->argv[j].p, c->argv[j].len, &sc) : 0;
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    if (rc)
      reply_score(c, sc);
    else
      cairn_reply_null(&c->reply);
  }
}

static void cmd_zcard(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) return;
  cairn_reply_int(&c->reply, rc ? (long long)coll.count : 0);
}

/* ---------------------------------------------------------------- ZRANK */

/* Rank of member (ascending), walking from both ends at once. A member
 * whose space-1 key is inline is matched on the raw entries (no copy, and
 * the order inside long-member groups does not change a count); a long one
 * goes through zit for its group's order. */
static int z_rank(cairn_store *s, const cairn_coll *coll, cairn_str m, double score, uint64_t *rank) {
  cairn_buf want = {0};
  skey(&want, score, m.p, m.len);
  int rc;
  if (want.len <= CAIRN_ELEM_INLINE) {
    cairn_elem_iter *it[2] = {NULL, NULL};
    rc = cairn_elem_iter_open(s, coll->id, CAIRN_SPACE_ZSCORE, NULL, 0, 0, &it[0]);
    if (rc >= 0) rc = cairn_elem_iter_open(s, coll->id, CAIRN_SPACE_ZSCORE, NULL, 0, 1, &it[1]);
    for (uint64_t i = 0; rc >= 0 && i < coll->count; i++) {
      for (int dir = 0; dir < 2; dir++) {
        cairn_str sub, val;
        rc = cairn_elem_iter_next(it[dir], &sub, &val);
        if (rc <= 0) {
          rc = rc < 0 ? rc : -1;
          break;
        }
        if (sub.len == want.len && memcmp(sub.p, want.p, want.len) == 0) {
          *rank = dir ? coll->count - 1 - i : i;
          rc = 2;
          break;
        }
      }
      if (rc == 2) break;
    }
    cairn_elem_iter_close(it[0]);
    cairn_elem_iter_close(it[1]);
    cairn_buf_free(&want);
    return rc == 2 ? 1 : rc < 0 ? rc : -1;
  }
  zit f, b;
  rc = zit_open(&f, s, coll->id, 0, NULL, 0);
  if (rc < 0) goto done1;
  rc = zit_open(&b, s, coll->id, 1, NULL, 0);
  if (rc < 0) goto done2;
  for (uint64_t i = 0; i < coll->count; i++) {
    for (int dir = 0; dir < 2; dir++) {
      zit *z = dir ? &b : &f;
      rc = zit_next(z);
      if (rc <= 0) {
        rc = rc < 0 ? rc : -1;
        goto done2;
      }
      if (same((cairn_str){z->mem.p, z->mem.len}, m) && sortable(z->score) == sortable(score)) {
        *rank = dir ? coll->count - 1 - i : i;
        rc = 1;
        goto done2;
      }
    }
  }
  rc = -1;
done2:
  zit_close(&b);
done1:
  zit_close(&f);
  cairn_buf_free(&want);
  return rc;
}

static void zrank_generic(cairn_ctx *c, int reverse) {
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) return;
  double sc;
  if (rc) rc = z_score(ST(c), coll.id, c->argv[2].p, c->argv[2].len, &sc);
  if (rc < 0) {
    failed(c, rc);
    return;
  }
  if (!rc) {
    cairn_reply_null(&c->reply);
    return;
  }
  uint64_t r = 0;
  rc = z_rank(ST(c), &coll, c->argv[2], sc, &r);
  if (rc < 0) {
    failed(c, rc == -1 ? CAIRN_STORE_IO : rc);
    return;
  }
  cairn_reply_int(&c->reply, (long long)(reverse ? coll.count - 1 - r : r));
}

static void cmd_zrank(cairn_ctx *c) { zrank_generic(c, 0); }
static void cmd_zrevrank(cairn_ctx *c) { zrank_generic(c, 1); }

/* ---------------------------------------------------------------- ZCOUNT ZLEXCOUNT */

/* Counts the members in range: walks the range (A) and, at the same pace,
 * the parts before it (B, from the first member) and after it (C, from the
 * last); the first to finish gives the answer: O(min(k, n-k)). */
static int z_count(cairn_store *s, const cairn_coll *coll, int lex, const zrange_spec *sr, const lex_spec *lr,
                   uint64_t *out) {
  zwalk w;
  int rc = zwalk_init(&w, s, coll->id, lex, sr, lr, 0);
  if (rc < 0) return rc;
  if (lex && !w.sorted) {
    /* Mixed scores: like Redis's small encoding, count from the first
     * member >= min while members stay <= max. */
    zit a;
    uint64_t n = 0;
    rc = zwalk_open(&w, &a, s, coll->id);
    while (rc > 0 && (rc = zit_next(&a)) > 0 && in_end(&w, &a)) n++;
    zit_close(&a);
    if (rc < 0) return rc;
    *out = n;
    return 0;
  }
  zwalk wr;
  zwalk_init(&wr, s, coll->id, lex, sr, lr, 1);
  wr.sorted = w.sorted;
  wr.lexscore = w.lexscore;
  zit a, b, e;
  int adone = 0, bdone = 0, edone = 0;
  uint64_t na = 0, nb = 0, ne = 0;
  rc = zwalk_open(&w, &a, s, coll->id);
  if (rc < 0) {
    zit_close(&a);
    return rc;
  }
  if (rc == 0) adone = 1;
  zit_open(&b, s, coll->id, 0, NULL, 0);
  zit_open(&e, s, coll->id, 1, NULL, 0);
  a.scores_only = b.scores_only = e.scores_only = !lex;
  while (!adone && !(bdone && edone)) {
    if (!adone) {
      rc = zit_next(&a);
      if (rc < 0) break;
      if (rc == 0 || !in_end(&w, &a))
        adone = 1;
      else
        na++;
    }
    if (!bdone) {
      rc = zit_next(&b);
      if (rc < 0) break;
      if (rc == 0 || in_start(&w, &b))
        bdone = 1;
      else
        nb++;
    }
    if (!edone) {
      rc = zit_next(&e);
      if (rc < 0) break;
      if (rc == 0 || in_start(&wr, &e))
        edone = 1;
      else
        ne++;
    }
  }
  zit_close(&a);
  zit_close(&b);
  zit_close(&e);
  if (rc < 0) return rc;
  if (adone)
    *out = na;
  else
    *out = nb + ne >= coll->count ? 0 : coll->count - nb - ne;
  return 0;
}

static void cmd_zcount(cairn_ctx *c) {
  zrange_spec r;
  if (parse_score_range(c->argv[2], c->argv[3], &r) != 0) {
    cairn_reply_error(&c->reply, ERR_MINMAX_FLOAT);
    return;
  }
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) return;
  uint64_t n = 0;
  if (rc && !score_empty(&r) && (rc = z_count(ST(c), &coll, 0, &r, NULL, &n)) < 0) {
    failed(c, rc);
    return;
  }
  cairn_reply_int(&c->reply, (long long)n);
}

static void cmd_zlexcount(cairn_ctx *c) {
  lex_spec l;
  if (parse_lex_range(c->argv[2], c->argv[3], &l) != 0) {
    cairn_reply_error(&c->reply, ERR_MINMAX_LEX);
    return;
  }
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) goto out;
  uint64_t n = 0;
  if (rc && !lex_empty(&l) && (rc = z_count(ST(c), &coll, 1, NULL, &l, &n)) < 0) {
    failed(c, rc);
    goto out;
  }
  cairn_reply_int(&c->reply, (long long)n);
out:
  lex_free(&l);
}

/* ---------------------------------------------------------------- ZRANGE family */

enum { RT_AUTO = 0, RT_RANK, RT_SCORE, RT_LEX };
enum { DIR_AUTO = 0, DIR_FWD, DIR_REV };

static void range_by_rank(cairn_ctx *c, emitter *e, const cairn_coll *coll, long long start, long long end,
                          int reverse) {
  long long llen = (long long)coll->count;
  if (start < 0) start = llen + start;
  if (end < 0) end = llen + end;
  if (start < 0) start = 0;
  if (start > end || start >= llen) return;
  if (end >= llen) end = llen - 1;
  long long rangelen = end - start + 1;
  /* ascending rank of the first member emitted */
  uint64_t r = reverse ? (uint64_t)(llen - 1 - start) : (uint64_t)start;
  zit z;
  int rc = zit_open_rank(&z, ST(c), coll->id, coll->count, r, reverse);
  while (rc >= 0 && rangelen-- > 0) {
    rc = zit_next(&z);
    if (rc <= 0) break;
    if (emit_one(e, z.mem.p, z.mem.len, z.score) < 0) {
      rc = 0;
      break;
    }
  }
  zit_close(&z);
  if (rc < 0) failed(c, rc);
}

static void range_by_walk(cairn_ctx *c, emitter *e, const cairn_coll *coll, int lex, const zrange_spec *sr,
                          const lex_spec *lr, long long offset, long long limit, int reverse) {
  if (offset > 0 && (uint64_t)offset >= coll->count) return;
  if (offset < 0) return; /* Redis skips to the end */
  zwalk w;
  int rc = zwalk_init(&w, ST(c), coll->id, lex, sr, lr, reverse);
  if (rc < 0) {
    failed(c, rc);
    return;
  }
  zit z;
  rc = zwalk_open(&w, &z, ST(c), coll->id);
  if (rc > 0) {
    /* offset: skipped without checking the range (like Redis) */
    while (offset > 0 && (rc = zit_next(&z)) > 0) offset--;
    while (rc > 0 && limit != 0) {
      rc = zit_next(&z);
      if (rc <= 0) break;
      if (!in_end(&w, &z)) break;
      if (emit_one(e, z.mem.p, z.mem.len, z.score) < 0) {
        rc = 0;
        break;
      }
      if (limit > 0) limit--;
    }
  }
  zit_close(&z);
  if (rc < 0) failed(c, rc);
}

/* ZRANGE / ZRANGESTORE and the legacy forms. argstart: index of the source
 * key; store: ZRANGESTORE (dst = argv[1]). */
static void zrange_generic(cairn_ctx *c, int argstart, int store, int rangetype, int direction) {
  cairn_str key = c->argv[argstart];
  int minidx = argstart + 1, maxidx = argstart + 2;
  long long opt_start = 0, opt_end = 0, opt_offset = 0, opt_limit = -1;
  int withscores = 0;
  for (int j = argstart + 3; j < c->argc; j++) {
    int left = c->argc - j - 1;
    cairn_str a = c->argv[j];
    if (!store && cairn_arg_is(a, "withscores")) {
      withscores = 1;
    } else if (cairn_arg_is(a, "limit") && left >= 2) {
      if (cairn_arg_ll(c, c->argv[j + 1], &opt_offset) != 0 || cairn_arg_ll(c, c->argv[j + 2], &opt_limit) != 0)
        return;
      j += 2;
    } else if (direction == DIR_AUTO && cairn_arg_is(a, "rev")) {
      direction = DIR_REV;
    } else if (rangetype == RT_AUTO && cairn_arg_is(a, "bylex")) {
      rangetype = RT_LEX;
    } else if (rangetype == RT_AUTO && cairn_arg_is(a, "byscore")) {
      rangetype = RT_SCORE;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if (direction == DIR_AUTO) direction = DIR_FWD;
  if (rangetype == RT_AUTO) rangetype = RT_RANK;
  if (opt_limit != -1 && rangetype == RT_RANK) {
    cairn_reply_error(&c->reply, "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    return;
  }
  if (withscores && rangetype == RT_LEX) {
    cairn_reply_error(&c->reply, "syntax error, WITHSCORES not supported in combination with BYLEX");
    return;
  }
  int reverse = direction == DIR_REV;
  if (reverse && (rangetype == RT_SCORE || rangetype == RT_LEX)) {
    int t = maxidx;
    maxidx = minidx;
    minidx = t;
  }
  zrange_spec sr;
  lex_spec lr;
  memset(&lr, 0, sizeof(lr));
  if (rangetype == RT_RANK) {
    if (cairn_arg_ll(c, c->argv[minidx], &opt_start) != 0 || cairn_arg_ll(c, c->argv[maxidx], &opt_end) != 0)
      return;
  } else if (rangetype == RT_SCORE) {
    if (parse_score_range(c->argv[minidx], c->argv[maxidx], &sr) != 0) {
      cairn_reply_error(&c->reply, ERR_MINMAX_FLOAT);
      return;
    }
  } else {
    if (parse_lex_range(c->argv[minidx], c->argv[maxidx], &lr) != 0) {
      cairn_reply_error(&c->reply, ERR_MINMAX_LEX);
      return;
    }
  }
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, key, CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) goto out;
  emitter e;
  if (rc == 0) {
    if (store) {
      emit_begin(&e, c, 1, 1);
      emit_end(&e, c->argv[1]);
    } else {
      cairn_reply_array(&c->reply, 0);
    }
    goto out;
  }
  emit_begin(&e, c, store, withscores || store);
  int rc0 = c->store_rc;
  if (rangetype == RT_RANK)
    range_by_rank(c, &e, &coll, opt_start, opt_end, reverse);
  else if (rangetype == RT_SCORE) {
    if (!score_empty(&sr)) range_by_walk(c, &e, &coll, 0, &sr, NULL, opt_offset, opt_limit, reverse);
  } else {
    if (!lex_empty(&lr)) range_by_walk(c, &e, &coll, 1, NULL, &lr, opt_offset, opt_limit, reverse);
  }
  if (c->store_rc != rc0 && c->store_rc < 0) goto out;
  emit_end(&e, c->argv[1]);
out:
  lex_free(&lr);
}

static void cmd_zrange(cairn_ctx *c) { zrange_generic(c, 1, 0, RT_AUTO, DIR_AUTO); }
static void cmd_zrangestore(cairn_ctx *c) { zrange_generic(c, 2, 1, RT_AUTO, DIR_AUTO); }
static void cmd_zrevrange(cairn_ctx *c) { zrange_generic(c, 1, 0, RT_RANK, DIR_REV); }
static void cmd_zrangebyscore(cairn_ctx *c) { zrange_generic(c, 1, 0, RT_SCORE, DIR_FWD); }
static void cmd_zrevrangebyscore(cairn_ctx *c) { zrange_generic(c, 1, 0, RT_SCORE, DIR_REV); }
static void cmd_zrangebylex(cairn_ctx *c) { zrange_generic(c, 1, 0, RT_LEX, DIR_FWD); }
static void cmd_zrevrangebylex(cairn_ctx *c) { zrange_generic(c, 1, 0, RT_LEX, DIR_REV); }

/* ---------------------------------------------------------------- ZREMRANGEBY* */

static void zremrange_generic(cairn_ctx *c, int rangetype) {
  cairn_str key = c->argv[1];
  long long start = 0, end = 0;
  zrange_spec sr;
  lex_spec lr;
  memset(&lr, 0, sizeof(lr));
  if (rangetype == RT_RANK) {
    if (cairn_arg_ll(c, c->argv[2], &start) != 0 || cairn_arg_ll(c, c->argv[3], &end) != 0) return;
  } else if (rangetype == RT_SCORE) {
    if (parse_score_range(c->argv[2], c->argv[3], &sr) != 0) {
      cairn_reply_error(&c->reply, ERR_MINMAX_FLOAT);
      return;
    }
  } else if (parse_lex_range(c->argv[2], c->argv[3], &lr) != 0) {
    cairn_reply_error(&c->reply, ERR_MINMAX_LEX);
    return;
  }
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, key, CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) goto out;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    goto out;
  }
  int64_t expire = val.expire_ms;
  uint64_t deleted = 0;
  zit z;
  memset(&z, 0, sizeof(z));
  if (rangetype == RT_RANK) {
    long long llen = (long long)coll.count;
    if (start < 0) start = llen + start;
    if (end < 0) end = llen + end;
    if (start < 0) start = 0;
    if (start > end || start >= llen) {
      cairn_reply_int(&c->reply, 0);
      goto out;
    }
    if (end >= llen) end = llen - 1;
    uint64_t m = (uint64_t)(end - start + 1);
    if (m == coll.count) {
      deleted = m; /* everything: retire the collection */
    } else {
      rc = zit_open_rank(&z, ST(c), coll.id, coll.count, (uint64_t)start, 0);
      while (rc >= 0 && deleted < m) {
        if ((rc = zit_next(&z)) <= 0) break;
        if ((rc = zit_del(&z)) < 0) break;
        deleted++;
      }
    }
  } else {
    int lex = rangetype == RT_LEX;
    if (lex ? lex_empty(&lr) : score_empty(&sr)) {
      cairn_reply_int(&c->reply, 0);
      goto out;
    }
    zwalk w;
    rc = zwalk_init(&w, ST(c), coll.id, lex, &sr, &lr, 0);
    if (rc >= 0) rc = zwalk_open(&w, &z, ST(c), coll.id);
    while (rc > 0) {
      if ((rc = zit_next(&z)) <= 0) break;
      if (!in_end(&w, &z)) break;
      int drc = zit_del(&z);
      if (drc < 0) {
        rc = drc;
        break;
      }
      deleted++;
    }
  }
  zit_close(&z);
  if (rc < 0) {
    failed(c, rc);
    goto out;
  }
  if (deleted) {
    coll.count -= deleted;
    if (cairn_coll_save(c, key, CAIRN_TYPE_ZSET, &coll, expire) < 0) goto out;
    c->dirty += (long long)deleted;
    notify_removed(c, c->cmd->name, key, &coll); /* zremrangebyrank, ...byscore, ...bylex */
  }
  cairn_reply_int(&c->reply, (long long)deleted);
out:
  lex_free(&lr);
}

static void cmd_zremrangebyrank(cairn_ctx *c) { zremrange_generic(c, RT_RANK); }
static void cmd_zremrangebyscore(cairn_ctx *c) { zremrange_generic(c, RT_SCORE); }
static void cmd_zremrangebylex(cairn_ctx *c) { zremrange_generic(c, RT_LEX); }

/* ---------------------------------------------------------------- pops */

/* Pops up to count members of key (which holds coll) from the min or max end
 * and writes the reply. shape: 0 = flat [m, s, ...]; 1 = nested pairs
 * (RESP3 ZPOP with count); 2 = [key, m, s] (BZPOP); 3 = [key, [[m, s]...]]
 * (ZMPOP). Returns members popped, <0 after a store error. */
static long long zpop(cairn_ctx *c, cairn_str key, cairn_coll *coll, int64_t expire, int max, long long count,
                      int shape) {
  long long n = count > (long long)coll->count ? (long long)coll->count : count;
  switch (shape) {
    case 0: cairn_reply_array(&c->reply, n * 2); break;
    case 1: cairn_reply_array(&c->reply, n); break;
    case 2:
      cairn_reply_array(&c->reply, n * 2 + 1);
      cairn_reply_bulk(&c->reply, key.p, key.len);
      break;
    default:
      cairn_reply_array(&c->reply, 2);
      cairn_reply_bulk(&c->reply, key.p, key.len);
      cairn_reply_array(&c->reply, n);
  }
  zit z;
  int rc = zit_open(&z, ST(c), coll->id, max, NULL, 0);
  int whole = n == (long long)coll->count;
  for (long long i = 0; rc >= 0 && i < n; i++) {
    if ((rc = zit_next(&z)) <= 0) {
      if (rc == 0) rc = CAIRN_STORE_IO;
      break;
    }
    if (!whole && (rc = zit_del(&z)) < 0) break;
    if (shape == 1 || shape == 3) cairn_reply_array(&c->reply, 2);
    cairn_reply_bulk(&c->reply, z.mem.p, z.mem.len);
    reply_score(c, z.score);
  }
  zit_close(&z);
  if (rc < 0) return failed(c, rc);
  coll->count -= (uint64_t)n;
  if (cairn_coll_save(c, key, CAIRN_TYPE_ZSET, coll, expire) < 0) return -1;
  c->dirty += n;
  if (n > 0) notify_removed(c, max ? "zpopmax" : "zpopmin", key, coll);
  return n;
}

static void propagate_pop(cairn_ctx *c, cairn_str key, int max, long long count) {
  char num[24];
  cairn_str argv[3] = {{max ? "ZPOPMAX" : "ZPOPMIN", 7}, key, {num, 0}};
  int argc = 2;
  if (count >= 0) {
    argv[2].len = cairn_ll2str(num, count);
    argc = 3;
  }
  cairn_propagate(c, c->db, argc, argv);
  c->custom_propagation = 1;
}

static void zpop_minmax(cairn_ctx *c, int max) {
  if (c->argc > 3) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  long long count = -1;
  if (c->argc == 3) {
    if (cairn_arg_ll_msg(c, c->argv[2], &count, "value is out of range, must be positive") != 0) return;
    if (count < 0) {
      cairn_reply_error(&c->reply, "value is out of range, must be positive");
      return;
    }
  }
  int nested = c->reply.resp > 2 && count != -1;
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) return;
  if (rc == 0 || count == 0) {
    cairn_reply_array(&c->reply, 0);
    return;
  }
  zpop(c, c->argv[1], &coll, val.expire_ms, max, count == -1 ? 1 : count, nested ? 1 : 0);
}

static void cmd_zpopmin(cairn_ctx *c) { zpop_minmax(c, 0); }
static void cmd_zpopmax(cairn_ctx *c) { zpop_minmax(c, 1); }

/* BZPOPMIN/BZPOPMAX/BZMPOP core: keys[0..nkeys). count -1 = single pop. */
static void bzpop_generic(cairn_ctx *c, const cairn_str *keys, int nkeys, int max, long long count, int64_t timeout,
                          int zmpop) {
  /* Woken by a key that became ready: serve from that key first, like
   * Redis 7.0 (then the others in order, if it is empty by now). */
  int first = -1;
  cairn_str woken;
  if (cairn_blocking_woken_key(c, &woken)) {
    for (int j = 0; j < nkeys && first < 0; j++)
      if (same(keys[j], woken)) first = j;
  }
  for (int t = first < 0 ? 0 : -1; t < nkeys; t++) {
    int j = t < 0 ? first : t;
    if (t >= 0 && t == first) continue;
    cairn_value val;
    cairn_coll coll;
    int rc = cairn_lookup_coll(c, keys[j], CAIRN_TYPE_ZSET, &val, &coll);
    if (rc < 0) return;
    if (rc == 0 || coll.count == 0) continue;
    long long n = zpop(c, keys[j], &coll, val.expire_ms, max, count == -1 ? 1 : count, zmpop ? 3 : 2);
    if (n < 0) return;
    propagate_pop(c, keys[j], max, count == -1 ? -1 : n);
    return;
  }
  if (!cairn_can_block(c)) {
    cairn_reply_null_array(&c->reply);
    return;
  }
  cairn_block_for_keys(c, keys, nkeys, timeout);
}

static void bzpop_minmax(cairn_ctx *c, int max) {
  int64_t timeout;
  if (cairn_arg_timeout(c, c->argv[c->argc - 1], &timeout) != 0) return;
  bzpop_generic(c, c->argv + 1, c->argc - 2, max, -1, timeout, 0);
}

static void cmd_bzpopmin(cairn_ctx *c) { bzpop_minmax(c, 0); }
static void cmd_bzpopmax(cairn_ctx *c) { bzpop_minmax(c, 1); }

static void zmpop_generic(cairn_ctx *c, int numidx, int block) {
  long long numkeys;
  if (cairn_arg_ll_msg(c, c->argv[numidx], &numkeys, "numkeys should be greater than 0") != 0) return;
  if (numkeys < 1) {
    cairn_reply_error(&c->reply, "numkeys should be greater than 0");
    return;
  }
  long long where_idx = numidx + numkeys + 1;
  if (where_idx >= c->argc) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  int max;
  if (cairn_arg_is(c->argv[where_idx], "min"))
    max = 0;
  else if (cairn_arg_is(c->argv[where_idx], "max"))
    max = 1;
  else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  long long count = -1;
  for (long long j = where_idx + 1; j < c->argc; j++) {
    int more = (c->argc - 1) - (int)j;
    if (count == -1 && cairn_arg_is(c->argv[j], "count") && more) {
      j++;
      if (cairn_arg_ll_msg(c, c->argv[j], &count, "count should be greater than 0") != 0) return;
      if (count < 1) {
        cairn_reply_error(&c->reply, "count should be greater than 0");
        return;
      }
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if (count == -1) count = 1;
  const cairn_str *keys = c->argv + numidx + 1;
  if (block) {
    int64_t timeout;
    if (cairn_arg_timeout(c, c->argv[1], &timeout) != 0) return;
    bzpop_generic(c, keys, (int)numkeys, max, count, timeout, 1);
    return;
  }
  for (int j = 0; j < numkeys; j++) {
    cairn_value val;
    cairn_coll coll;
    int rc = cairn_lookup_coll(c, keys[j], CAIRN_TYPE_ZSET, &val, &coll);
    if (rc < 0) return;
    if (rc == 0) continue;
    long long n = zpop(c, keys[j], &coll, val.expire_ms, max, count, 3);
    if (n < 0) return;
    propagate_pop(c, keys[j], max, n);
    return;
  }
  cairn_reply_null_array(&c->reply);
}

static void cmd_zmpop(cairn_ctx *c) { zmpop_generic(c, 1, 0); }
static void cmd_bzmpop(cairn_ctx *c) { zmpop_generic(c, 2, 1); }

/* ---------------------------------------------------------------- ZUNION ZINTER ZDIFF */

enum { OP_UNION, OP_INTER, OP_DIFF };
enum { AGG_SUM, AGG_MIN, AGG_MAX };

typedef struct zsrc {
  int exists;
  uint8_t type; /* CAIRN_TYPE_ZSET or CAIRN_TYPE_SET */
  cairn_coll coll;
  double weight;
  int argi; /* argument position (same key twice = same subject) */
} zsrc;

static uint64_t src_len(const zsrc *s) { return s->exists ? s->coll.count : 0; }

/* Score of member in a source: 1 found, 0 absent, <0 error. */
static int src_find(cairn_store *st, const zsrc *s, const char *m, size_t len, double *out) {
  if (!s->exists) return 0;
  if (s->type == CAIRN_TYPE_ZSET) return z_score(st, s->coll.id, m, len, out);
  cairn_str v;
  int rc = cairn_elem_get(st, s->coll.id, CAIRN_SPACE_MEMBERS, m, len, &v);
  if (rc > 0) *out = 1.0;
  return rc;
}

/* Iterates a source's members (the hashed member space), copied out. */
typedef struct srcit {
  cairn_elem_iter *it;
  const zsrc *src;
  cairn_buf mem;
  double score;
} srcit;

static int srcit_open(srcit *si, cairn_store *st, const zsrc *s) {
  memset(si, 0, sizeof(*si));
  si->src = s;
  return cairn_elem_iter_open(st, s->coll.id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &si->it);
}

static int srcit_next(srcit *si) {
  cairn_str sub, val;
  int rc = cairn_elem_iter_next(si->it, &sub, &val);
  if (rc <= 0) return rc;
  si->mem.len = 0;
  cairn_buf_append(&si->mem, sub.p, sub.len);
  if (si->src->type == CAIRN_TYPE_ZSET && val.len == 8) {
    uint64_t u;
    memcpy(&u, val.p, 8);
    si->score = bitsd(u);
  } else {
    si->score = 1.0;
  }
  return 1;
}

static void srcit_close(srcit *si) {
  cairn_elem_iter_close(si->it);
  cairn_buf_free(&si->mem);
}

static void aggregate(double *target, double val, int agg) {
  if (agg == AGG_SUM) {
    *target = *target + val;
    if (isnan(*target)) *target = 0.0;
  } else if (agg == AGG_MIN) {
    *target = val < *target ? val : *target;
  } else {
    *target = val > *target ? val : *target;
  }
}

/* The result being built: in memory (reply forms) or in a new collection
 * (STORE forms, so big inputs are never copied into memory). */
typedef struct acc_ent {
  char *m;
  size_t len;
  double score;
  uint64_t h;
} acc_ent;

typedef struct acc {
  int store;
  cairn_store *s;
  cairn_coll coll;
  acc_ent *ents;
  size_t n, cap;
  size_t *slots; /* index+1, 0 = empty */
  size_t nslots;
} acc;

static uint64_t mhash(const char *m, size_t len) { return cairn_hash64(m, len, 0x243f6a8885a308d3ULL); }

static void acc_grow(acc *a) {
  size_t ns = a->nslots ? a->nslots * 2 : 64;
  free(a->slots);
  a->slots = cairn_xcalloc(ns, sizeof(size_t));
  a->nslots = ns;
  for (size_t i = 0; i < a->n; i++) {
    size_t j = a->ents[i].h & (ns - 1);
    while (a->slots[j]) j = (j + 1) & (ns - 1);
    a->slots[j] = i + 1;
  }
}

/* Finds member: its index, or -1 with *slot = the free slot for it. */
static long acc_find(acc *a, const char *m, size_t len, uint64_t h, size_t *slot) {
  size_t j = h & (a->nslots - 1);
  while (a->slots[j]) {
    acc_ent *e = &a->ents[a->slots[j] - 1];
    if (e->h == h && e->len == len && (len == 0 || memcmp(e->m, m, len) == 0)) return (long)(a->slots[j] - 1);
    j = (j + 1) & (a->nslots - 1);
  }
  *slot = j;
  return -1;
}

/* Adds member, or aggregates its score into the one already there. */
static int acc_add(acc *a, const char *m, size_t len, double score, int agg, int may_exist) {
  if (a->store) {
    double cur;
    int rc = may_exist ? z_score(a->s, a->coll.id, m, len, &cur) : 0;
    if (rc < 0) return rc;
    if (rc == 0) {
      if ((rc = z_put(a->s, a->coll.id, m, len, score)) < 0) return rc;
      a->coll.count++;
      return 0;
    }
    double nv = cur;
    aggregate(&nv, score, agg);
    if (dbits(nv) != dbits(cur)) return z_move(a->s, a->coll.id, m, len, cur, nv);
    return 0;
  }
  if ((a->n + 1) * 2 > a->nslots) acc_grow(a);
  uint64_t h = mhash(m, len);
  size_t slot = 0;
  long i = acc_find(a, m, len, h, &slot);
  if (i >= 0) {
    aggregate(&a->ents[i].score, score, agg);
    return 0;
  }
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 16;
    a->ents = cairn_xrealloc(a->ents, a->cap * sizeof(acc_ent));
  }
  a->ents[a->n] = (acc_ent){cairn_xmemdup(m, len), len, score, h};
  a->slots[slot] = ++a->n;
  return 0;
}

static void acc_free(acc *a) {
  for (size_t i = 0; i < a->n; i++) free(a->ents[i].m);
  free(a->ents);
  free(a->slots);
}

static int acc_ent_cmp(const void *x, const void *y) {
  const acc_ent *a = x, *b = y;
  if (a->score < b->score) return -1;
  if (a->score > b->score) return 1;
  return bcmp_str(a->m, a->len, b->m, b->len);
}

static void zsetop_generic(cairn_ctx *c, int has_dst, int numidx, int op, int card_only) {
  long long setnum;
  if (cairn_arg_ll(c, c->argv[numidx], &setnum) != 0) return;
  if (setnum < 1) {
    cairn_reply_errorf(&c->reply, "at least 1 input key is needed for '%s' command", c->cmd->name);
    return;
  }
  if (setnum > c->argc - (numidx + 1)) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  zsrc *src = cairn_xcalloc((size_t)setnum, sizeof(zsrc));
  acc a;
  memset(&a, 0, sizeof(a));
  int i, j;
  for (i = 0, j = numidx + 1; i < setnum; i++, j++) {
    cairn_value v;
    int rc = cairn_lookup(c, c->argv[j], &v);
    if (rc < 0) goto out;
    src[i].weight = 1.0;
    src[i].argi = j;
    if (rc) {
      if (v.type != CAIRN_TYPE_ZSET && v.type != CAIRN_TYPE_SET) {
        cairn_reply_error(&c->reply, CAIRN_ERR_WRONGTYPE);
        goto out;
      }
      if (cairn_coll_decode(&v, &src[i].coll) != 0) {
        cairn_reply_error(&c->reply, "-ERR corrupt collection header");
        goto out;
      }
      src[i].exists = 1;
      src[i].type = v.type;
      /* The same key twice is the same subject (for INTER's self check). */
      for (int q = 0; q < i; q++)
        if (src[q].exists && src[q].coll.id == src[i].coll.id) src[i].argi = src[q].argi;
    }
  }
  int agg = AGG_SUM, withscores = 0;
  long long limit = 0;
  int remaining = c->argc - j;
  while (remaining > 0) {
    cairn_str o = c->argv[j];
    if (op != OP_DIFF && !card_only && remaining >= setnum + 1 && cairn_arg_is(o, "weights")) {
      j++;
      remaining--;
      for (i = 0; i < setnum; i++, j++, remaining--) {
        if (!cairn_str2d(c->argv[j].p, c->argv[j].len, &src[i].weight)) {
          cairn_reply_error(&c->reply, "weight value is not a float");
          goto out;
        }
      }
    } else if (op != OP_DIFF && !card_only && remaining >= 2 && cairn_arg_is(o, "aggregate")) {
      j++;
      remaining--;
      if (cairn_arg_is(c->argv[j], "sum"))
        agg = AGG_SUM;
      else if (cairn_arg_is(c->argv[j], "min"))
        agg = AGG_MIN;
      else if (cairn_arg_is(c->argv[j], "max"))
        agg = AGG_MAX;
      else {
        cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
        goto out;
      }
      j++;
      remaining--;
    } else if (remaining >= 1 && !has_dst && !card_only && cairn_arg_is(o, "withscores")) {
      j++;
      remaining--;
      withscores = 1;
    } else if (card_only && remaining >= 2 && cairn_arg_is(o, "limit")) {
      j++;
      remaining--;
      if (!cairn_str2ll(c->argv[j].p, c->argv[j].len, &limit) || limit < 0) {
        cairn_reply_error(&c->reply, "LIMIT can't be negative");
        goto out;
      }
      j++;
      remaining--;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      goto out;
    }
  }
  if (op != OP_DIFF) {
    /* smallest first, stable (glibc's qsort is a merge sort: Redis gets the
     * same order, which matters for floating-point sums) */
    for (i = 1; i < setnum; i++) {
      zsrc t = src[i];
      int q = i - 1;
      while (q >= 0 && src_len(&src[q]) > src_len(&t)) {
        src[q + 1] = src[q];
        q--;
      }
      src[q + 1] = t;
    }
  }
  cairn_store *st = ST(c);
  a.store = has_dst;
  a.s = st;
  if (has_dst) cairn_coll_init(st, &a.coll);
  uint64_t card = 0;
  int rc = 0;
  srcit si;
  if (op == OP_INTER) {
    if (src_len(&src[0]) > 0) {
      if ((rc = srcit_open(&si, st, &src[0])) < 0) goto fail;
      while ((rc = srcit_next(&si)) > 0) {
        double score = src[0].weight * si.score;
        if (isnan(score)) score = 0;
        for (i = 1; i < setnum; i++) {
          double value;
          if (src[i].argi == src[0].argi) {
            value = si.score * src[i].weight;
            aggregate(&score, value, agg);
          } else if ((rc = src_find(st, &src[i], si.mem.p, si.mem.len, &value)) > 0) {
            value *= src[i].weight;
            aggregate(&score, value, agg);
          } else {
            break;
          }
        }
        if (rc < 0) break;
        if (i == setnum) {
          if (card_only) {
            card++;
            if (limit && card >= (uint64_t)limit) break;
          } else if ((rc = acc_add(&a, si.mem.p, si.mem.len, score, agg, 0)) < 0) {
            break;
          }
        }
      }
      srcit_close(&si);
      if (rc < 0) goto fail;
    }
  } else if (op == OP_UNION) {
    for (i = 0; i < setnum; i++) {
      if (src_len(&src[i]) == 0) continue;
      if ((rc = srcit_open(&si, st, &src[i])) < 0) goto fail;
      while ((rc = srcit_next(&si)) > 0) {
        double score = src[i].weight * si.score;
        if (isnan(score)) score = 0;
        if ((rc = acc_add(&a, si.mem.p, si.mem.len, score, agg, i > 0)) < 0) break;
      }
      srcit_close(&si);
      if (rc < 0) goto fail;
    }
  } else { /* DIFF */
    int skip = src_len(&src[0]) == 0;
    for (i = 1; i < setnum && !skip; i++)
      if (src[i].exists && src[i].argi == src[0].argi) skip = 1;
    if (!skip) {
      if ((rc = srcit_open(&si, st, &src[0])) < 0) goto fail;
      while ((rc = srcit_next(&si)) > 0) {
        for (i = 1; i < setnum; i++) {
          double value;
          if ((rc = src_find(st, &src[i], si.mem.p, si.mem.len, &value)) != 0) break;
        }
        if (rc < 0) break;
        if (i == setnum && (rc = acc_add(&a, si.mem.p, si.mem.len, si.score, agg, 0)) < 0) break;
      }
      srcit_close(&si);
      if (rc < 0) goto fail;
    }
  }

  if (has_dst) {
    cairn_str dst = c->argv[1];
    if (a.coll.count) {
      if (cairn_coll_save(c, dst, CAIRN_TYPE_ZSET, &a.coll, -1) < 0) goto out;
      c->dirty++;
      cairn_signal_key_ready(c, dst);
      cairn_notify(c, CAIRN_NOTIFY_ZSET, c->cmd->name, dst); /* zunionstore, zinterstore, zdiffstore */
      cairn_reply_int(&c->reply, (long long)a.coll.count);
    } else {
      cairn_value v;
      rc = cairn_lookup(c, dst, &v);
      if (rc < 0) goto out;
      if (rc > 0) {
        if ((rc = cairn_store_del(st, c->db, dst)) < 0) goto fail;
        c->dirty++;
        cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", dst);
      }
      cairn_reply_int(&c->reply, 0);
    }
  } else if (card_only) {
    cairn_reply_int(&c->reply, (long long)card);
  } else {
    if (a.n) qsort(a.ents, a.n, sizeof(acc_ent), acc_ent_cmp);
    cairn_reply_array(&c->reply, (long long)((withscores && c->reply.resp == 2) ? a.n * 2 : a.n));
    for (size_t q = 0; q < a.n; q++) {
      if (withscores && c->reply.resp > 2) cairn_reply_array(&c->reply, 2);
      cairn_reply_bulk(&c->reply, a.ents[q].m, a.ents[q].len);
      if (withscores) reply_score(c, a.ents[q].score);
    }
  }
  goto out;
fail:
  failed(c, rc);
out:
  acc_free(&a);
  free(src);
}

static void cmd_zunionstore(cairn_ctx *c) { zsetop_generic(c, 1, 2, OP_UNION, 0); }
static void cmd_zinterstore(cairn_ctx *c) { zsetop_generic(c, 1, 2, OP_INTER, 0); }
static void cmd_zdiffstore(cairn_ctx *c) { zsetop_generic(c, 1, 2, OP_DIFF, 0); }
static void cmd_zunion(cairn_ctx *c) { zsetop_generic(c, 0, 1, OP_UNION, 0); }
static void cmd_zinter(cairn_ctx *c) { zsetop_generic(c, 0, 1, OP_INTER, 0); }
static void cmd_zdiff(cairn_ctx *c) { zsetop_generic(c, 0, 1, OP_DIFF, 0); }
static void cmd_zintercard(cairn_ctx *c) { zsetop_generic(c, 0, 1, OP_INTER, 1); }

/* ---------------------------------------------------------------- ZRANDMEMBER */

static uint64_t rnd_below(uint64_t n) { return n ? cairn_rand_below(n) : 0; }

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct picked {
  char *m;
  size_t len;
  double score;
} picked;

/* Members at the given sorted ascending ranks (repeats allowed), in one walk
 * from the start. */
static int pick_ranks(cairn_store *s, const cairn_coll *coll, const uint64_t *ranks, size_t k, picked *out) {
  zit z;
  int rc = zit_open(&z, s, coll->id, 0, NULL, 0);
  uint64_t pos = 0;
  size_t i = 0;
  while (rc >= 0 && i < k) {
    if ((rc = zit_next(&z)) <= 0) {
      if (rc == 0) rc = CAIRN_STORE_IO;
      break;
    }
    while (i < k && ranks[i] == pos) {
      out[i].m = cairn_xmemdup(z.mem.p, z.mem.len);
      out[i].len = z.mem.len;
      out[i].score = z.score;
      i++;
    }
    pos++;
  }
  zit_close(&z);
  return rc < 0 ? rc : 0;
}

static void reply_picked(cairn_ctx *c, const picked *p, int withscores) {
  if (withscores && c->reply.resp > 2) cairn_reply_array(&c->reply, 2);
  cairn_reply_bulk(&c->reply, p->m, p->len);
  if (withscores) reply_score(c, p->score);
}

#define SMALL_ZSET 1000
#define PICK_SMOOTH 64

/* A random member (with its score) of a non-empty set: cairn_coll_random
 * (a seek to a random member hash, then 0..63 steps: O(log n + 64), within
 * ~12% of uniform). 1, or -1 after a store error (recorded). */
static int pick_hash(cairn_ctx *c, uint64_t id, picked *out) {
  cairn_buf sb = {0}, vb = {0};
  int rc = cairn_coll_random(c, id, &sb, &vb);
  if (rc == 0) failed(c, -1); /* empty while the header says otherwise */
  if (rc > 0) {
    out->m = cairn_xmemdup(sb.p, sb.len);
    out->len = sb.len;
    out->score = 0;
    if (vb.len == 8) {
      uint64_t u;
      memcpy(&u, vb.p, 8);
      out->score = bitsd(u);
    }
  }
  cairn_buf_free(&sb);
  cairn_buf_free(&vb);
  return rc > 0 ? 1 : -1;
}

static void cmd_zrandmember(cairn_ctx *c) {
  long long l = 0;
  int withscores = 0, with_count = c->argc >= 3;
  if (with_count) {
    if (cairn_arg_ll(c, c->argv[2], &l) != 0) return;
    if (l < -LLONG_MAX) {
      cairn_reply_errorf(&c->reply, "value is out of range, value must between %lld and %lld", -LLONG_MAX, LLONG_MAX);
      return;
    }
    if (c->argc > 4 || (c->argc == 4 && !cairn_arg_is(c->argv[3], "withscores"))) {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
    if (c->argc == 4) {
      withscores = 1;
      if (l < -LLONG_MAX / 2 || l > LLONG_MAX / 2) {
        cairn_reply_error(&c->reply, "value is out of range");
        return;
      }
    }
  }
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], CAIRN_TYPE_ZSET, &val, &coll);
  if (rc < 0) return;
  if (!with_count) {
    if (rc == 0) {
      cairn_reply_null(&c->reply);
      return;
    }
    if (coll.count > SMALL_ZSET) {
      picked p;
      if (pick_hash(c, coll.id, &p) < 0) return;
      cairn_reply_bulk(&c->reply, p.m, p.len);
      free(p.m);
      return;
    }
    zit z; /* small: exactly uniform, a walk of at most SMALL_ZSET/2 */
    rc = zit_open_rank(&z, ST(c), coll.id, coll.count, rnd_below(coll.count), 0);
    if (rc >= 0) rc = zit_next(&z);
    if (rc > 0) cairn_reply_bulk(&c->reply, z.mem.p, z.mem.len);
    zit_close(&z);
    if (rc <= 0) failed(c, rc == 0 ? -1 : rc);
    return;
  }
  if (rc == 0 || l == 0) {
    cairn_reply_array(&c->reply, 0);
    return;
  }
  uint64_t size = coll.count;
  int uniq = l > 0;
  uint64_t count = uniq ? (uint64_t)l : (uint64_t)(-l);
  if (uniq && count >= size) {
    /* the whole set, in order */
    cairn_reply_array(&c->reply, (long long)((withscores && c->reply.resp == 2) ? size * 2 : size));
    zit z;
    rc = zit_open(&z, ST(c), coll.id, 0, NULL, 0);
    while (rc >= 0 && (rc = zit_next(&z)) > 0) {
      picked p = {z.mem.p, z.mem.len, z.score};
      reply_picked(c, &p, withscores);
    }
    zit_close(&z);
    if (rc < 0) failed(c, rc);
    return;
  }
  if (uniq && size > SMALL_ZSET && count * 128 <= size) {
    /* Few wanted from a big set: random hash picks, duplicates dropped;
     * after too many duplicates, the walk below. */
    acc seen;
    memset(&seen, 0, sizeof(seen));
    uint64_t tries = 0, limit = count * 4 + 64;
    rc = 0;
    while (seen.n < count && tries++ < limit) {
      picked p;
      if ((rc = pick_hash(c, coll.id, &p)) < 0) break;
      acc_add(&seen, p.m, p.len, p.score, AGG_MAX, 1);
      free(p.m);
    }
    if (rc < 0) {
      acc_free(&seen);
      return;
    }
    if (seen.n == count) {
      cairn_reply_array(&c->reply, (long long)((withscores && c->reply.resp == 2) ? count * 2 : count));
      for (size_t j = 0; j < seen.n; j++) {
        picked p = {seen.ents[j].m, seen.ents[j].len, seen.ents[j].score};
        reply_picked(c, &p, withscores);
      }
      acc_free(&seen);
      return;
    }
    acc_free(&seen);
  }
  if (uniq) {
    /* Selection sampling (Knuth's algorithm S) in one walk, then shuffled:
     * Redis's order is random too. */
    picked *p = cairn_xcalloc(count, sizeof(picked));
    uint64_t got = 0, seen = 0;
    zit z;
    rc = zit_open(&z, ST(c), coll.id, 0, NULL, 0);
    while (rc >= 0 && got < count && (rc = zit_next(&z)) > 0) {
      if (rnd_below(size - seen) < count - got) {
        p[got].m = cairn_xmemdup(z.mem.p, z.mem.len);
        p[got].len = z.mem.len;
        p[got].score = z.score;
        got++;
      }
      seen++;
    }
    zit_close(&z);
    if (rc < 0) {
      failed(c, rc);
    } else {
      for (uint64_t j = got; j > 1; j--) {
        uint64_t t = rnd_below(j);
        picked tmp = p[j - 1];
        p[j - 1] = p[t];
        p[t] = tmp;
      }
      cairn_reply_array(&c->reply, (long long)((withscores && c->reply.resp == 2) ? got * 2 : got));
      for (uint64_t j = 0; j < got; j++) reply_picked(c, &p[j], withscores);
    }
    for (uint64_t j = 0; j < got; j++) free(p[j].m);
    free(p);
    return;
  }
  if (size > SMALL_ZSET) {
    /* With repeats from a big set: one hash pick per draw. */
    cairn_reply_array(&c->reply, (long long)((withscores && c->reply.resp == 2) ? count * 2 : count));
    for (uint64_t j = 0; j < count; j++) {
      picked p;
      if (pick_hash(c, coll.id, &p) < 0) return;
      reply_picked(c, &p, withscores);
      free(p.m);
    }
    return;
  }
  /* With repeats from a small set: batches of random ranks, each batch
   * picked in one walk and answered in draw order (exactly uniform). */
  cairn_reply_array(&c->reply, (long long)((withscores && c->reply.resp == 2) ? count * 2 : count));
  /* Draws per walk: at least 1000, up to n/4 so a walk costs a few steps
   * per member drawn, at most 1M (memory). */
  uint64_t chunk = size / 4;
  if (chunk < 1000) chunk = 1000;
  if (chunk > 1000000) chunk = 1000000;
  if (chunk > count) chunk = count;
  const size_t CHUNK = (size_t)chunk;
  uint64_t *ranks = cairn_xmalloc(sizeof(uint64_t) * CHUNK);
  uint64_t *drawn = cairn_xmalloc(sizeof(uint64_t) * CHUNK);
  picked *p = cairn_xcalloc(CHUNK, sizeof(picked));
  while (count > 0) {
    size_t k = count > CHUNK ? CHUNK : (size_t)count;
    count -= k;
    for (size_t j = 0; j < k; j++) drawn[j] = ranks[j] = rnd_below(size);
    qsort(ranks, k, sizeof(uint64_t), cmp_u64);
    if ((rc = pick_ranks(ST(c), &coll, ranks, k, p)) < 0) {
      failed(c, rc);
      break;
    }
    for (size_t j = 0; j < k; j++) {
      /* the pick of drawn[j]: binary search in the sorted ranks */
      size_t lo = 0, hi = k - 1;
      while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ranks[mid] < drawn[j])
          lo = mid + 1;
        else
          hi = mid;
      }
      reply_picked(c, &p[lo], withscores);
    }
    for (size_t j = 0; j < k; j++) {
      free(p[j].m);
      p[j].m = NULL;
    }
  }
  for (size_t j = 0; j < CHUNK; j++) free(p[j].m); /* after a store error */
  free(p);
  free(drawn);
  free(ranks);
}

/* ---------------------------------------------------------------- ZSCAN */

/* ZSCAN: the member space is in the order of a 64-bit hash of the member
 * (CAIRN_SPACE_MEMBERS), so the cursor is the hash of the next member to
 * visit, a plain 64-bit number like SCAN's: seeking to it resumes exactly
 * after the last member returned whatever was added or removed meanwhile
 * (members sharing a hash are never split across calls), so a member present
 * for the whole iteration is returned exactly once, and cursors survive
 * restarts. O(log n + count) per call. */
/* A stored score (8 bytes) as Redis prints it in ZSCAN. */
static size_t score_text(cairn_str raw, char *buf) {
  double d = 0;
  if (raw.len == 8) {
    uint64_t u;
    memcpy(&u, raw.p, 8);
    d = bitsd(u);
  }
  return cairn_d2str(buf, 128, d);
}

static void cmd_zscan(cairn_ctx *c) { cairn_coll_scan(c, CAIRN_TYPE_ZSET, 1, score_text); }

/* ---------------------------------------------------------------- for geo.c (engine/cmd/types.h) */

void cairn_zset_zadd_argv(cairn_ctx *c, int argc, cairn_str *argv) {
  int oargc = c->argc;
  cairn_str *oargv = c->argv;
  long long before = c->dirty;
  c->argc = argc;
  c->argv = argv;
  zadd_generic(c, 0);
  c->argc = oargc;
  c->argv = oargv;
  if (c->dirty > before && c->store_rc == 0) {
    cairn_propagate(c, c->db, argc, argv);
    c->custom_propagation = 1;
  }
}

int cairn_zset_open(cairn_ctx *c, cairn_str key, uint64_t *id) {
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, key, CAIRN_TYPE_ZSET, &val, &coll);
  if (rc == 1) *id = coll.id;
  return rc;
}

int cairn_zset_score(cairn_ctx *c, uint64_t id, cairn_str member, double *out) {
  int rc = z_score(ST(c), id, member.p, member.len, out);
  return rc < 0 ? failed(c, rc) : rc;
}

int cairn_zset_range(cairn_ctx *c, uint64_t id, double min, double max, cairn_zset_range_fn fn, void *ud) {
  unsigned char from[8];
  wr64be(from, sortable(min));
  zit z;
  int rc = zit_open(&z, ST(c), id, 0, from, 8);
  if (rc < 0) {
    zit_close(&z);
    return failed(c, rc);
  }
  while ((rc = zit_next(&z)) > 0) {
    if (!(z.score < max)) break;
    if (z.score < min) continue;
    if (fn(ud, z.mem.p, z.mem.len, z.score)) break;
  }
  zit_close(&z);
  return rc < 0 ? failed(c, rc) : 0;
}

void cairn_zset_store(cairn_ctx *c, cairn_str dst, size_t n, const cairn_str *members, const double *scores,
                      const char *event) {
  emitter e;
  emit_begin(&e, c, 1, 0);
  e.event = event;
  for (size_t i = 0; i < n; i++)
    if (emit_one(&e, members[i].p, members[i].len, scores[i]) < 0) return;
  emit_end(&e, dst);
}

/* ---------------------------------------------------------------- table */

const cairn_command cairn_commands_zset[] = {
    CAIRN_CMD("zadd", -4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_zadd, "sorted-set",
              "Add one or more members to a sorted set, or update its score if it already exists", "1.2.0",
              "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]"),
    CAIRN_CMD("zincrby", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_zincrby, "sorted-set",
              "Increment the score of a member in a sorted set", "1.2.0", "key increment member"),
    CAIRN_CMD("zrem", -3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_zrem, "sorted-set",
              "Remove one or more members from a sorted set", "1.2.0", "key member [member ...]"),
    CAIRN_CMD("zscore", 3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_zscore, "sorted-set",
              "Get the score associated with the given member in a sorted set", "1.2.0", "key member"),
    CAIRN_CMD("zmscore", -3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_zmscore, "sorted-set",
              "Get the score associated with the given members in a sorted set", "6.2.0", "key member [member ...]"),
    CAIRN_CMD("zcard", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_zcard, "sorted-set",
              "Get the number of members in a sorted set", "1.2.0", "key"),
    CAIRN_CMD("zcount", 4, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_zcount, "sorted-set",
              "Count the members in a sorted set with scores within the given values", "2.0.0", "key min max"),
    CAIRN_CMD("zlexcount", 4, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_zlexcount, "sorted-set",
              "Count the number of members in a sorted set between a given lexicographical range", "2.8.9",
              "key min max"),
    CAIRN_CMD("zrank", 3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_zrank, "sorted-set",
              "Determine the index of a member in a sorted set", "2.0.0", "key member"),
    CAIRN_CMD("zrevrank", 3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_zrevrank, "sorted-set",
              "Determine the index of a member in a sorted set, with scores ordered from high to low", "2.0.0",
              "key member"),
    CAIRN_CMD("zrange", -4, CAIRN_F_READ, 1, 1, 1, cmd_zrange, "sorted-set",
              "Return a range of members in a sorted set", "1.2.0",
              "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]"),
    CAIRN_CMD("zrangestore", -5, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 2, 1, cmd_zrangestore, "sorted-set",
              "Store a range of members from sorted set into another key", "6.2.0",
              "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]"),
    CAIRN_CMD("zrevrange", -4, CAIRN_F_READ, 1, 1, 1, cmd_zrevrange, "sorted-set",
              "Return a range of members in a sorted set, by index, with scores ordered from high to low", "1.2.0",
              "key start stop [WITHSCORES]"),
    CAIRN_CMD("zrangebyscore", -4, CAIRN_F_READ, 1, 1, 1, cmd_zrangebyscore, "sorted-set",
              "Return a range of members in a sorted set, by score", "1.0.5",
              "key min max [WITHSCORES] [LIMIT offset count]"),
    CAIRN_CMD("zrevrangebyscore", -4, CAIRN_F_READ, 1, 1, 1, cmd_zrevrangebyscore, "sorted-set",
              "Return a range of members in a sorted set, by score, with scores ordered from high to low", "2.2.0",
              "key max min [WITHSCORES] [LIMIT offset count]"),
    CAIRN_CMD("zrangebylex", -4, CAIRN_F_READ, 1, 1, 1, cmd_zrangebylex, "sorted-set",
              "Return a range of members in a sorted set, by lexicographical range", "2.8.9",
              "key min max [LIMIT offset count]"),
    CAIRN_CMD("zrevrangebylex", -4, CAIRN_F_READ, 1, 1, 1, cmd_zrevrangebylex, "sorted-set",
              "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
              "2.8.9", "key max min [LIMIT offset count]"),
    CAIRN_CMD("zremrangebyrank", 4, CAIRN_F_WRITE, 1, 1, 1, cmd_zremrangebyrank, "sorted-set",
              "Remove all members in a sorted set within the given indexes", "2.0.0", "key start stop"),
    CAIRN_CMD("zremrangebyscore", 4, CAIRN_F_WRITE, 1, 1, 1, cmd_zremrangebyscore, "sorted-set",
              "Remove all members in a sorted set within the given scores", "1.2.0", "key min max"),
    CAIRN_CMD("zremrangebylex", 4, CAIRN_F_WRITE, 1, 1, 1, cmd_zremrangebylex, "sorted-set",
              "Remove all members in a sorted set between the given lexicographical range", "2.8.9", "key min max"),
    CAIRN_CMD("zpopmin", -2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_zpopmin, "sorted-set",
              "Remove and return members with the lowest scores in a sorted set", "5.0.0", "key [count]"),
    CAIRN_CMD("zpopmax", -2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_zpopmax, "sorted-set",
              "Remove and return members with the highest scores in a sorted set", "5.0.0", "key [count]"),
    CAIRN_CMD("bzpopmin", -3, CAIRN_F_WRITE | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_FAST | CAIRN_CMD_BLOCKING, 1, -2, 1, cmd_bzpopmin, "sorted-set",
              "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
              "5.0.0", "key [key ...] timeout"),
    CAIRN_CMD("bzpopmax", -3, CAIRN_F_WRITE | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_FAST | CAIRN_CMD_BLOCKING, 1, -2, 1, cmd_bzpopmax, "sorted-set",
              "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
              "5.0.0", "key [key ...] timeout"),
    CAIRN_CMD("zmpop", -4, CAIRN_F_WRITE, 0, 0, 0, cmd_zmpop, "sorted-set",
              "Remove and return members with scores in a sorted set", "7.0.0",
              "numkeys key [key ...] MIN|MAX [COUNT count]"),
    CAIRN_CMD("bzmpop", -5, CAIRN_F_WRITE | CAIRN_CMD_BLOCKING, 0, 0, 0, cmd_bzmpop, "sorted-set",
              "Remove and return members with scores in a sorted set or block until one is available", "7.0.0",
              "timeout numkeys key [key ...] MIN|MAX [COUNT count]"),
    CAIRN_CMD("zrandmember", -2, CAIRN_F_READ, 1, 1, 1, cmd_zrandmember, "sorted-set",
              "Get one or multiple random elements from a sorted set", "6.2.0", "key [count [WITHSCORES]]"),
    CAIRN_CMD("zunion", -3, CAIRN_F_READ, 0, 0, 0, cmd_zunion, "sorted-set", "Add multiple sorted sets", "6.2.0",
              "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]"),
    CAIRN_CMD("zinter", -3, CAIRN_F_READ, 0, 0, 0, cmd_zinter, "sorted-set", "Intersect multiple sorted sets", "6.2.0",
              "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]"),
    CAIRN_CMD("zdiff", -3, CAIRN_F_READ, 0, 0, 0, cmd_zdiff, "sorted-set", "Subtract multiple sorted sets", "6.2.0",
              "numkeys key [key ...] [WITHSCORES]"),
    CAIRN_CMD("zunionstore", -4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_zunionstore, "sorted-set",
              "Add multiple sorted sets and store the resulting sorted set in a new key", "2.0.0",
              "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]"),
    CAIRN_CMD("zinterstore", -4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_zinterstore, "sorted-set",
              "Intersect multiple sorted sets and store the resulting sorted set in a new key", "2.0.0",
              "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]"),
    CAIRN_CMD("zdiffstore", -4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_zdiffstore, "sorted-set",
              "Subtract multiple sorted sets and store the resulting sorted set in a new key", "6.2.0",
              "destination numkeys key [key ...]"),
    CAIRN_CMD("zintercard", -3, CAIRN_F_READ, 0, 0, 0, cmd_zintercard, "sorted-set",
              "Intersect multiple sorted sets and return the cardinality of the result", "7.0.0",
              "numkeys key [key ...] [LIMIT limit]"),
    CAIRN_CMD("zscan", -3, CAIRN_F_READ, 1, 1, 1, cmd_zscan, "sorted-set",
              "Incrementally iterate sorted sets elements and associated scores", "2.8.0",
              "key cursor [MATCH pattern] [COUNT count]"),
    /* GEO indexes are sorted sets (engine/cmd/geo.c). */
    CAIRN_CMD("geoadd", -5, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cairn_cmd_geoadd, "geo",
              "Add one or more geospatial items in the geospatial index represented using a sorted set", "3.2.0",
              "key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]"),
    CAIRN_CMD("geodist", -4, CAIRN_F_READ, 1, 1, 1, cairn_cmd_geodist, "geo",
              "Returns the distance between two members of a geospatial index", "3.2.0",
              "key member1 member2 [M|KM|FT|MI]"),
    CAIRN_CMD("geohash", -2, CAIRN_F_READ, 1, 1, 1, cairn_cmd_geohash, "geo",
              "Returns members of a geospatial index as standard geohash strings", "3.2.0", "key [member [member ...]]"),
    CAIRN_CMD("geopos", -2, CAIRN_F_READ, 1, 1, 1, cairn_cmd_geopos, "geo",
              "Returns longitude and latitude of members of a geospatial index", "3.2.0", "key [member [member ...]]"),
    CAIRN_CMD("georadius", -6, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cairn_cmd_georadius, "geo",
              "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance "
              "from a point",
              "3.2.0",
              "key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] "
              "[ASC|DESC] [STORE key] [STOREDIST key]"),
    CAIRN_CMD("georadius_ro", -6, CAIRN_F_READ, 1, 1, 1, cairn_cmd_georadius_ro, "geo",
              "A read-only variant for GEORADIUS", "3.2.10",
              "key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] "
              "[ASC|DESC]"),
    CAIRN_CMD("georadiusbymember", -5, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cairn_cmd_georadiusbymember, "geo",
              "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance "
              "from a member",
              "3.2.0",
              "key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC] "
              "[STORE key] [STOREDIST key]"),
    CAIRN_CMD("georadiusbymember_ro", -5, CAIRN_F_READ, 1, 1, 1, cairn_cmd_georadiusbymember_ro, "geo",
              "A read-only variant for GEORADIUSBYMEMBER", "3.2.10",
              "key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC]"),
    CAIRN_CMD("geosearch", -7, CAIRN_F_READ, 1, 1, 1, cairn_cmd_geosearch, "geo",
              "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a "
              "circle.",
              "6.2.0",
              "key FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius M|KM|FT|MI|BYBOX width height "
              "M|KM|FT|MI [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]"),
    CAIRN_CMD("geosearchstore", -8, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 2, 1, cairn_cmd_geosearchstore, "geo",
              "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a "
              "circle, and store the result in another key.",
              "6.2.0",
              "destination source FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius M|KM|FT|MI|BYBOX "
              "width height M|KM|FT|MI [ASC|DESC] [COUNT count [ANY]] [STOREDIST]"),
    CAIRN_CMD_END,
};
