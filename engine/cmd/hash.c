/* Hash commands (Redis 7.0 semantics).
 *
 * A hash is a collection (engine/store.h): the key holds a header {id, count},
 * each field is an entry of the hashed member space (CAIRN_SPACE_MEMBERS),
 * field -> value, in the order of a 64-bit hash of the field. Single-field
 * commands cost O(log n) (a B-tree read or write per field); commands that
 * return the whole hash (HKEYS, HVALS, HGETALL) stream it from an iterator in
 * O(n) without materialising it; HSCAN and HRANDFIELD are described at their
 * handlers. Replies list fields in hash order, where Redis uses insertion
 * order (small hashes) or its own hash order (big ones): both are unordered
 * as far as Redis documents. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/util.h"

#define LD_CHARS (5 * 1024) /* Redis's MAX_LONG_DOUBLE_CHARS */

static int hash_lookup(cairn_ctx *c, cairn_str key, cairn_value *val, cairn_coll *coll) {
  return cairn_lookup_coll(c, key, CAIRN_TYPE_HASH, val, coll);
}

/* Lookup for writing: an absent key gets a fresh collection (count 0) and
 * no expiry. 1 existed, 0 created, -1 after an error reply. */
static int hash_lookup_write(cairn_ctx *c, cairn_str key, cairn_coll *coll, int64_t *expire_ms) {
  cairn_value val;
  int rc = hash_lookup(c, key, &val, coll);
  if (rc < 0) return -1;
  if (rc == 0) {
    cairn_coll_init(cairn_ctx_store(c), coll);
    *expire_ms = -1;
    return 0;
  }
  *expire_ms = val.expire_ms;
  return 1;
}

static int failed(cairn_ctx *c, int rc) { return cairn_store_failed(c, rc); }

/* ---------------------------------------------------------------- HSET & co */

/* HSET / HMSET: O(k log n) for k pairs. */
static void hset_generic(cairn_ctx *c, int hmset) {
  if (c->argc % 2 == 1) {
    cairn_reply_arity(c);
    return;
  }
  cairn_str key = c->argv[1];
  cairn_coll coll;
  int64_t exp;
  if (hash_lookup_write(c, key, &coll, &exp) < 0) return;
  cairn_store *st = cairn_ctx_store(c);
  long long created = 0;
  for (int i = 2; i < c->argc; i += 2) {
    int rc = cairn_elem_put(st, coll.id, CAIRN_SPACE_MEMBERS, c->argv[i].p, c->argv[i].len, c->argv[i + 1].p, c->argv[i + 1].len);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    created += rc;
  }
  coll.count += (uint64_t)created;
  if (cairn_coll_save(c, key, CAIRN_TYPE_HASH, &coll, exp) < 0) return;
  c->dirty += (c->argc - 2) / 2;
  cairn_notify(c, CAIRN_NOTIFY_HASH, "hset", key);
  if (hmset)
    cairn_reply_ok(&c->reply);
  else
    cairn_reply_int(&c->reply, created);
}

static void cmd_hset(cairn_ctx *c) { hset_generic(c, 0); }
static void cmd_hmset(cairn_ctx *c) { hset_generic(c, 1); }

static void cmd_hsetnx(cairn_ctx *c) {
  cairn_str key = c->argv[1], field = c->argv[2], value = c->argv[3];
  cairn_coll coll;
  int64_t exp;
  int rc = hash_lookup_write(c, key, &coll, &exp);
  if (rc < 0) return;
  cairn_store *st = cairn_ctx_store(c);
  if (rc == 1) {
    cairn_str v;
    rc = cairn_elem_get(st, coll.id, CAIRN_SPACE_MEMBERS, field.p, field.len, &v);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    if (rc == 1) {
      cairn_reply_int(&c->reply, 0);
      return;
    }
  }
  rc = cairn_elem_put(st, coll.id, CAIRN_SPACE_MEMBERS, field.p, field.len, value.p, value.len);
  if (rc < 0) {
    failed(c, rc);
    return;
  }
  coll.count++;
  if (cairn_coll_save(c, key, CAIRN_TYPE_HASH, &coll, exp) < 0) return;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_HASH, "hset", key);
  cairn_reply_int(&c->reply, 1);
}

static void cmd_hget(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int rc = hash_lookup(c, c->argv[1], &val, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_null(&c->reply);
    return;
  }
  cairn_str v;
  rc = cairn_elem_get(cairn_ctx_store(c), coll.id, CAIRN_SPACE_MEMBERS, c->argv[2].p, c->argv[2].len, &v);
  if (rc < 0) {
    failed(c, rc);
    return;
  }
  if (rc == 0)
    cairn_reply_null(&c->reply);
  else
    cairn_reply_bulk(&c->reply, v.p, v.len);
}

/* O(k log n). */
static void cmd_hmget(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int rc = hash_lookup(c, c->argv[1], &val, &coll);
  if (rc < 0) return;
  int found = rc;
  cairn_reply_array(&c->reply, c->argc - 2);
  for (int i = 2; i < c->argc; i++) {
    cairn_str v;
    rc = found ? cairn_elem_get(cairn_ctx_store(c), coll.id, CAIRN_SPACE_MEMBERS, c->argv[i].p, c->argv[i].len, &v) : 0;
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    if (rc == 0)
      cairn_reply_null(&c->reply);
    else
      cairn_reply_bulk(&c->reply, v.p, v.len);
  }
}

/* O(k log n). Deleting the last field deletes the key. */
static void cmd_hdel(cairn_ctx *c) {
  cairn_str key = c->argv[1];
  cairn_value val;
  cairn_coll coll;
  int rc = hash_lookup(c, key, &val, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  int64_t exp = val.expire_ms;
  long long deleted = 0;
  for (int i = 2; i < c->argc && coll.count > (uint64_t)deleted; i++) {
    rc = cairn_elem_del(cairn_ctx_store(c), coll.id, CAIRN_SPACE_MEMBERS, c->argv[i].p, c->argv[i].len);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    deleted += rc;
  }
  if (deleted) {
    coll.count -= (uint64_t)deleted;
    if (cairn_coll_save(c, key, CAIRN_TYPE_HASH, &coll, exp) < 0) return;
    c->dirty += deleted;
    cairn_notify(c, CAIRN_NOTIFY_HASH, "hdel", key);
    if (coll.count == 0) cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
  }
  cairn_reply_int(&c->reply, deleted);
}

static void cmd_hexists(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int rc = hash_lookup(c, c->argv[1], &val, &coll);
  if (rc < 0) return;
  if (rc == 1) {
    cairn_str v;
    rc = cairn_elem_get(cairn_ctx_store(c), coll.id, CAIRN_SPACE_MEMBERS, c->argv[2].p, c->argv[2].len, &v);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
  }
  cairn_reply_int(&c->reply, rc);
}

static void cmd_hlen(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int rc = hash_lookup(c, c->argv[1], &val, &coll);
  if (rc < 0) return;
  cairn_reply_int(&c->reply, rc ? (long long)coll.count : 0);
}

static void cmd_hstrlen(cairn_ctx *c) {
  cairn_value val;
  cairn_coll coll;
  int rc = hash_lookup(c, c->argv[1], &val, &coll);
  if (rc < 0) return;
  cairn_str v = {NULL, 0};
  if (rc == 1) {
    rc = cairn_elem_get(cairn_ctx_store(c), coll.id, CAIRN_SPACE_MEMBERS, c->argv[2].p, c->argv[2].len, &v);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
  }
  cairn_reply_int(&c->reply, rc ? (long long)v.len : 0);
}

/* ---------------------------------------------------------------- whole hash */

enum { WANT_KEYS = 1, WANT_VALS = 2 };

/* HKEYS, HVALS, HGETALL: one ordered pass, O(n), streamed into the reply. */
static void getall_generic(cairn_ctx *c, int what) {
  cairn_value val;
  cairn_coll coll;
  int rc = hash_lookup(c, c->argv[1], &val, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    if (what == (WANT_KEYS | WANT_VALS))
      cairn_reply_map(&c->reply, 0);
    else
      cairn_reply_array(&c->reply, 0);
    return;
  }
  if (!c->reply.buf) return; /* nobody reads it */
  cairn_elem_iter *it;
  if ((rc = cairn_elem_iter_open(cairn_ctx_store(c), coll.id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it)) < 0) {
    failed(c, rc);
    return;
  }
  /* The header is written after the elements (with their real number). */
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  cairn_str f, v;
  while ((rc = cairn_elem_iter_next(it, &f, &v)) > 0) {
    if (what & WANT_KEYS) cairn_reply_bulk(&c->reply, f.p, f.len);
    if (what & WANT_VALS) cairn_reply_bulk(&c->reply, v.p, v.len);
    n++;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) {
    failed(c, rc);
    return;
  }
  if (what == (WANT_KEYS | WANT_VALS))
    cairn_reply_defer_map(&c->reply, mark, n);
  else
    cairn_reply_defer_array(&c->reply, mark, n);
}

static void cmd_hkeys(cairn_ctx *c) { getall_generic(c, WANT_KEYS); }
static void cmd_hvals(cairn_ctx *c) { getall_generic(c, WANT_VALS); }
static void cmd_hgetall(cairn_ctx *c) { getall_generic(c, WANT_KEYS | WANT_VALS); }

/* ---------------------------------------------------------------- HINCRBY* */

/* The current value of field for HINCRBY*: 1 found (v), 0 absent (or the
 * hash is new: existed == 0), -1 after a store error. */
static int incr_field_get(cairn_ctx *c, const cairn_coll *coll, int existed, cairn_str field, cairn_str *v) {
  if (!existed) return 0;
  int rc = cairn_elem_get(cairn_ctx_store(c), coll->id, CAIRN_SPACE_MEMBERS, field.p, field.len, v);
  return rc < 0 ? failed(c, rc) : rc;
}

/* Writes the new value of field and the header. 0, or -1 after an error. */
static int incr_field_put(cairn_ctx *c, cairn_str key, cairn_coll *coll, int64_t exp, cairn_str field,
                          int exists, const char *buf, size_t n) {
  int rc = cairn_elem_put(cairn_ctx_store(c), coll->id, CAIRN_SPACE_MEMBERS, field.p, field.len, buf, n);
  if (rc < 0) return failed(c, rc);
  if (!exists) coll->count++;
  if (cairn_coll_save(c, key, CAIRN_TYPE_HASH, coll, exp) < 0) return -1;
  c->dirty++;
  return 0;
}

static void cmd_hincrby(cairn_ctx *c) {
  cairn_str key = c->argv[1], field = c->argv[2];
  long long incr, value = 0;
  if (cairn_arg_ll(c, c->argv[3], &incr) != 0) return;
  cairn_coll coll;
  int64_t exp;
  int rc = hash_lookup_write(c, key, &coll, &exp);
  if (rc < 0) return;
  cairn_str v;
  int exists = incr_field_get(c, &coll, rc, field, &v);
  if (exists < 0) return;
  if (exists && !cairn_str2ll(v.p, v.len, &value)) {
    cairn_reply_error(&c->reply, "hash value is not an integer");
    return;
  }
  if ((incr < 0 && value < 0 && incr < LLONG_MIN - value) || (incr > 0 && value > 0 && incr > LLONG_MAX - value)) {
    cairn_reply_error(&c->reply, "increment or decrement would overflow");
    return;
  }
  value += incr;
  char buf[24];
  size_t n = cairn_ll2str(buf, value);
  if (incr_field_put(c, key, &coll, exp, field, exists, buf, n) < 0) return;
  cairn_notify(c, CAIRN_NOTIFY_HASH, "hincrby", key);
  cairn_reply_int(&c->reply, value);
}

/* Long double arithmetic like Redis; propagated as HSET key field result so
 * replicas and replay never redo the floating-point work (Redis 7.0 does the
 * same). */
static void cmd_hincrbyfloat(cairn_ctx *c) {
  cairn_str key = c->argv[1], field = c->argv[2];
  long double value = 0, incr;
  if (!cairn_str2ld(c->argv[3].p, c->argv[3].len, &incr)) {
    cairn_reply_error(&c->reply, CAIRN_ERR_NOTFLOAT);
    return;
  }
  if (isnan(incr) || isinf(incr)) {
    cairn_reply_error(&c->reply, "value is NaN or Infinity");
    return;
  }
  cairn_coll coll;
  int64_t exp;
  int rc = hash_lookup_write(c, key, &coll, &exp);
  if (rc < 0) return;
  cairn_str v;
  int exists = incr_field_get(c, &coll, rc, field, &v);
  if (exists < 0) return;
  if (exists && !cairn_str2ld(v.p, v.len, &value)) {
    cairn_reply_error(&c->reply, "hash value is not a float");
    return;
  }
  value += incr;
  if (isnan(value) || isinf(value)) {
    cairn_reply_error(&c->reply, "increment would produce NaN or Infinity");
    return;
  }
  char *buf = cairn_xmalloc(LD_CHARS);
  size_t n = cairn_ld2str(buf, LD_CHARS, value);
  if (incr_field_put(c, key, &coll, exp, field, exists, buf, n) < 0) {
    free(buf);
    return;
  }
  cairn_notify(c, CAIRN_NOTIFY_HASH, "hincrbyfloat", key);
  cairn_reply_bulk(&c->reply, buf, n);
  cairn_str argv[4] = {{"HSET", 4}, key, field, {buf, n}};
  cairn_propagate(c, c->db, 4, argv);
  c->custom_propagation = 1;
  free(buf);
}

/* ---------------------------------------------------------------- HRANDFIELD
 *
 * The store has no rank index (LMDB cannot seek to the k-th entry), so:
 *  - hashes of up to RAND_WALK_MAX fields: exact uniform picks of indexes,
 *    served by one ordered walk, O(n + m log m) for m picks;
 *  - bigger hashes: a pick is cairn_coll_random (a seek to a random hash
 *    plus up to 63 steps: O(log n), within ~12% of uniform whatever the
 *    fields look like). Positive counts need distinct fields: when
 *    count * RAND_SAMPLE_RATIO > n we walk the hash once and keep each field
 *    with the exact probability of selection sampling (Knuth's algorithm S),
 *    O(n) = O(32 count); otherwise a field already taken (tracked in a hash
 *    set) is drawn again up to 8 times, then the next field not taken yet is
 *    used (wrapping), so O(count log n) unless the picks pile up.
 * Negative counts pick with repetition (any size, like Redis; like Redis
 * 7.0, a huge count builds a huge reply). The reply order of distinct picks
 * is random, except for the algorithm S walk (byte order). */
#define RAND_WALK_MAX 1000
#define RAND_SAMPLE_RATIO 32

static uint64_t rnd_below(uint64_t n) { return cairn_rand_below(n); }

static void reply_pair(cairn_ctx *c, cairn_str f, cairn_str v, int withvalues) {
  if (withvalues && c->reply.resp >= 3) cairn_reply_array(&c->reply, 2);
  cairn_reply_bulk(&c->reply, f.p, f.len);
  if (withvalues) cairn_reply_bulk(&c->reply, v.p, v.len);
}

typedef struct pick {
  uint64_t idx;  /* index of the field in byte order */
  uint64_t slot; /* position in the reply */
} pick;

static int pick_cmp(const void *a, const void *b) {
  const pick *x = a, *y = b;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct span {
  size_t off, flen, vlen;
} span;

/* Small hash: serves picks (indexes) with one walk. The picked fields are
 * copied (once each) and replied in slot order. */
static int reply_picks_walk(cairn_ctx *c, const cairn_coll *coll, pick *picks, uint64_t m, int withvalues) {
  qsort(picks, m, sizeof(*picks), pick_cmp);
  span *slots = cairn_xmalloc(m * sizeof(*slots));
  cairn_buf arena = {0};
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), coll->id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it);
  if (rc < 0) {
    free(slots);
    return failed(c, rc);
  }
  uint64_t pos = 0, j = 0;
  cairn_str f, v;
  while (j < m && (rc = cairn_elem_iter_next(it, &f, &v)) > 0) {
    if (picks[j].idx == pos) {
      span s = {arena.len, f.len, withvalues ? v.len : 0};
      cairn_buf_append(&arena, f.p, f.len);
      if (withvalues) cairn_buf_append(&arena, v.p, v.len);
      while (j < m && picks[j].idx == pos) slots[picks[j++].slot] = s;
    }
    pos++;
  }
  cairn_elem_iter_close(it);
  if (rc < 0 || j < m) {
    free(slots);
    cairn_buf_free(&arena);
    return rc < 0 ? failed(c, rc) : failed(c, CAIRN_STORE_IO); /* count/header mismatch */
  }
  for (uint64_t i = 0; i < m; i++) {
    cairn_str fs = {arena.p + slots[i].off, slots[i].flen};
    cairn_str vs = {arena.p + slots[i].off + slots[i].flen, slots[i].vlen};
    reply_pair(c, fs, vs, withvalues);
  }
  free(slots);
  cairn_buf_free(&arena);
  return 0;
}

/* A set of byte strings (the fields already picked). */
typedef struct strset {
  cairn_buf arena;
  size_t *off, *len; /* slot: off = SIZE_MAX when empty */
  size_t cap, n;
} strset;

static void strset_init(strset *s, size_t expect) {
  memset(s, 0, sizeof(*s));
  s->cap = 16;
  while (s->cap < expect * 2) s->cap *= 2;
  s->off = cairn_xmalloc(s->cap * sizeof(size_t));
  s->len = cairn_xmalloc(s->cap * sizeof(size_t));
  for (size_t i = 0; i < s->cap; i++) s->off[i] = SIZE_MAX;
}

static void strset_free(strset *s) {
  free(s->off);
  free(s->len);
  cairn_buf_free(&s->arena);
}

/* 1 added, 0 already there. */
static int strset_add(strset *s, cairn_str x) {
  size_t i = (size_t)cairn_hash64(x.p, x.len, 17) & (s->cap - 1);
  while (s->off[i] != SIZE_MAX) {
    if (s->len[i] == x.len && memcmp(s->arena.p + s->off[i], x.p, x.len) == 0) return 0;
    i = (i + 1) & (s->cap - 1);
  }
  s->off[i] = s->arena.len;
  s->len[i] = x.len;
  cairn_buf_append(&s->arena, x.p, x.len);
  s->n++; /* sized for every pick up front: never more than half full */
  return 1;
}

static void cmd_hrandfield(cairn_ctx *c) {
  long long l = 0;
  int withvalues = 0, with_count = c->argc >= 3;
  if (with_count) {
    if (cairn_arg_ll(c, c->argv[2], &l) != 0) return;
    if (l < -LLONG_MAX) {
      cairn_reply_error(&c->reply,
                        "value is out of range, value must between -9223372036854775807 and 9223372036854775807");
      return;
    }
    if (c->argc > 4 || (c->argc == 4 && !cairn_arg_is(c->argv[3], "withvalues"))) {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
    if (c->argc == 4) {
      withvalues = 1;
      if (l < -(LLONG_MAX / 2) || l > LLONG_MAX / 2) {
        cairn_reply_error(&c->reply, "value is out of range");
        return;
      }
    }
  }
  cairn_value val;
  cairn_coll coll;
  int rc = hash_lookup(c, c->argv[1], &val, &coll);
  if (rc < 0) return;
  if (rc == 0 || (with_count && l == 0)) {
    if (with_count)
      cairn_reply_array(&c->reply, 0);
    else
      cairn_reply_null(&c->reply);
    return;
  }
  if (!c->reply.buf) return;
  uint64_t n = coll.count;
  int unique = l > 0;
  uint64_t m = !with_count ? 1 : l > 0 ? (uint64_t)l : (uint64_t)(-l);
  cairn_store *st = cairn_ctx_store(c);
  cairn_elem_iter *it = NULL;
  cairn_str f = {NULL, 0}, v = {NULL, 0};

  if (unique && m >= n) { /* the whole hash */
    if ((rc = cairn_elem_iter_open(st, coll.id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it)) < 0) {
      failed(c, rc);
      return;
    }
    size_t mark = cairn_reply_defer(&c->reply);
    long long k = 0;
    while ((rc = cairn_elem_iter_next(it, &f, &v)) > 0) {
      reply_pair(c, f, v, withvalues);
      k++;
    }
    cairn_elem_iter_close(it);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    cairn_reply_defer_array(&c->reply, mark, withvalues && c->reply.resp < 3 ? k * 2 : k);
    return;
  }

  if (n <= RAND_WALK_MAX) {
    /* Picks go in chunks (one walk each) so that a huge negative count does
     * not need a huge array besides the reply. */
    if (with_count) cairn_reply_array(&c->reply, withvalues && c->reply.resp < 3 ? (long long)m * 2 : (long long)m);
    uint64_t chunk = m < 65536 ? m : 65536;
    pick *picks = cairn_xmalloc((size_t)chunk * sizeof(*picks));
    for (uint64_t done = 0; done < m; done += chunk) {
      uint64_t k = m - done < chunk ? m - done : chunk;
      if (unique) { /* partial Fisher-Yates over 0..n-1 (m < n: one chunk) */
        uint64_t *perm = cairn_xmalloc((size_t)n * sizeof(*perm));
        for (uint64_t i = 0; i < n; i++) perm[i] = i;
        for (uint64_t i = 0; i < k; i++) {
          uint64_t j = i + rnd_below(n - i), t = perm[i];
          perm[i] = perm[j];
          perm[j] = t;
          picks[i].idx = perm[i];
          picks[i].slot = i;
        }
        free(perm);
      } else {
        for (uint64_t i = 0; i < k; i++) {
          picks[i].idx = rnd_below(n);
          picks[i].slot = i;
        }
      }
      if (reply_picks_walk(c, &coll, picks, k, withvalues) < 0) break;
    }
    free(picks);
    return;
  }

  if (unique && m * RAND_SAMPLE_RATIO > n) { /* selection sampling: exact, one walk */
    if ((rc = cairn_elem_iter_open(st, coll.id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it)) < 0) {
      failed(c, rc);
      return;
    }
    size_t mark = cairn_reply_defer(&c->reply);
    uint64_t seen = 0, taken = 0;
    while (taken < m && seen < n && (rc = cairn_elem_iter_next(it, &f, &v)) > 0) {
      if (rnd_below(n - seen) < m - taken) {
        reply_pair(c, f, v, withvalues);
        taken++;
      }
      seen++;
    }
    cairn_elem_iter_close(it);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    cairn_reply_defer_array(&c->reply, mark,
                            withvalues && c->reply.resp < 3 ? (long long)taken * 2 : (long long)taken);
    return;
  }

  /* Big hash: random picks (cairn_coll_random). */
  cairn_buf fb = {0}, vb = {0};
  strset seen;
  if (unique) strset_init(&seen, (size_t)m);
  if (with_count) cairn_reply_array(&c->reply, withvalues && c->reply.resp < 3 ? (long long)m * 2 : (long long)m);
  for (uint64_t i = 0; i < m; i++) {
    int fresh = 0;
    for (int t = 0; t < 9 && !fresh; t++) { /* taken already: draw again a few times */
      if ((rc = cairn_coll_random(c, coll.id, &fb, withvalues ? &vb : NULL)) <= 0) {
        if (rc == 0) failed(c, CAIRN_STORE_IO); /* count says it is not empty */
        fresh = -1;
        break;
      }
      f.p = fb.p;
      f.len = fb.len;
      fresh = !unique || strset_add(&seen, f);
    }
    if (fresh < 0) break;
    v.p = vb.p;
    v.len = vb.len;
    if (!fresh) {
      /* Still taken: the next field not taken yet from there, wrapping at
       * the end (there is one: m < n). */
      unsigned char from[8];
      uint64_t h = cairn_elem_hash(fb.p, fb.len);
      for (int k = 0; k < 8; k++) from[k] = (unsigned char)(h >> (56 - 8 * k));
      if ((rc = cairn_elem_iter_open(st, coll.id, CAIRN_SPACE_MEMBERS, from, 8, 0, &it)) < 0) {
        failed(c, rc);
        break;
      }
      int wrapped = 0;
      for (;;) {
        rc = cairn_elem_iter_next(it, &f, &v);
        if (rc == 0 && !wrapped) {
          wrapped = 1;
          cairn_elem_iter_close(it);
          if ((rc = cairn_elem_iter_open(st, coll.id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it)) < 0) {
            it = NULL;
            break;
          }
          continue;
        }
        if (rc <= 0 || strset_add(&seen, f)) break;
      }
      if (rc <= 0) {
        if (it) cairn_elem_iter_close(it);
        failed(c, rc < 0 ? rc : CAIRN_STORE_IO);
        break;
      }
      reply_pair(c, f, v, withvalues);
      cairn_elem_iter_close(it);
      it = NULL;
      continue;
    }
    if (with_count)
      reply_pair(c, f, v, withvalues);
    else
      cairn_reply_bulk(&c->reply, f.p, f.len);
  }
  if (unique) strset_free(&seen);
  cairn_buf_free(&fb);
  cairn_buf_free(&vb);
}

/* ---------------------------------------------------------------- HSCAN
 *
 * Cursor = the hash of the next field to visit (fields are stored in hash
 * order), a plain 64-bit number like SCAN's: any field present for the whole
 * scan is returned exactly once whatever is added or removed meanwhile
 * (fields sharing a hash are never split across calls), and cursors survive
 * restarts. Cost: O(count log n) per call. */

static void cmd_hscan(cairn_ctx *c) { cairn_coll_scan(c, CAIRN_TYPE_HASH, 1, NULL); }

const cairn_command cairn_commands_hash[] = {
    CAIRN_CMD("hset", -4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_hset, "hash",
              "Set the string value of a hash field.", "2.0.0", "key field value [field value ...]"),
    CAIRN_CMD("hsetnx", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_hsetnx, "hash",
              "Set the value of a hash field, only if the field does not exist.", "2.0.0", "key field value"),
    CAIRN_CMD("hget", 3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_hget, "hash", "Get the value of a hash field.",
              "2.0.0", "key field"),
    CAIRN_CMD("hmget", -3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_hmget, "hash",
              "Get the values of all the given hash fields.", "2.0.0", "key field [field ...]"),
    CAIRN_CMD("hmset", -4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_hmset, "hash",
              "Set multiple hash fields to multiple values.", "2.0.0", "key field value [field value ...]"),
    CAIRN_CMD("hdel", -3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_hdel, "hash", "Delete one or more hash fields.",
              "2.0.0", "key field [field ...]"),
    CAIRN_CMD("hexists", 3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_hexists, "hash",
              "Determine if a hash field exists.", "2.0.0", "key field"),
    CAIRN_CMD("hlen", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_hlen, "hash",
              "Get the number of fields in a hash.", "2.0.0", "key"),
    CAIRN_CMD("hstrlen", 3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_hstrlen, "hash",
              "Get the length of the value of a hash field.", "3.2.0", "key field"),
    CAIRN_CMD("hkeys", 2, CAIRN_F_READ, 1, 1, 1, cmd_hkeys, "hash", "Get all the fields in a hash.", "2.0.0", "key"),
    CAIRN_CMD("hvals", 2, CAIRN_F_READ, 1, 1, 1, cmd_hvals, "hash", "Get all the values in a hash.", "2.0.0", "key"),
    CAIRN_CMD("hgetall", 2, CAIRN_F_READ, 1, 1, 1, cmd_hgetall, "hash", "Get all the fields and values in a hash.",
              "2.0.0", "key"),
    CAIRN_CMD("hincrby", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_hincrby, "hash",
              "Increment the integer value of a hash field by the given number.", "2.0.0", "key field increment"),
    CAIRN_CMD("hincrbyfloat", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_hincrbyfloat, "hash",
              "Increment the float value of a hash field by the given amount.", "2.6.0", "key field increment"),
    CAIRN_CMD("hrandfield", -2, CAIRN_F_READ, 1, 1, 1, cmd_hrandfield, "hash",
              "Get one or multiple random fields from a hash.", "6.2.0", "key [count [WITHVALUES]]"),
    CAIRN_CMD("hscan", -3, CAIRN_F_READ, 1, 1, 1, cmd_hscan, "hash",
              "Incrementally iterate hash fields and associated values.", "2.8.0",
              "key cursor [MATCH pattern] [COUNT count]"),
    CAIRN_CMD_END,
};
