/* The set type: SADD SREM SISMEMBER SMISMEMBER SCARD SMEMBERS SRANDMEMBER
 * SPOP SMOVE SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE
 * SDIFFSTORE SSCAN, with Redis 7.0's replies and errors.
 *
 * Storage: a set is a collection (store.h) whose hashed member space
 * (CAIRN_SPACE_MEMBERS) holds member -> "" in the order of a 64-bit hash of
 * the member; the header's count is SCARD. n below is the size of the set a
 * command works on, log n one B-tree seek (cairn_elem_get, an iterator
 * positioning). Nothing here loads a whole set into memory except
 * SRANDMEMBER/SPOP on sets of at most SMALL_SET members (bounded) and the
 * members a reply or a propagation needs anyway.
 *
 * Random picks. Sets of at most SMALL_SET (1000) members are walked with
 * uniform indexes (exactly uniform, O(n) <= 1000 steps). Bigger sets seek to
 * a uniformly random 64-bit hash, take the member at or after it and move on
 * a random 0..63 members (wrapping): O(log n + 64). Seeking alone would give
 * each member the chance of the hash gap before it (exponentially
 * distributed: 30000 picks of 3000 members reached only ~91% of them); the
 * extra steps make a member's chance the average of 64 gaps, within about
 * +-12% of uniform whatever the members are (hashes do not depend on how
 * members look). When many distinct members are
 * wanted (count * 128 > n) a single selection-sampling walk is used instead
 * (exactly uniform, O(n)).
 *
 * SSCAN cursors are the hash of the next member to visit, a plain 64-bit
 * number like SCAN's: seeking to it resumes exactly after the last member
 * returned whatever was added or removed meanwhile (members sharing a hash are
 * never split across calls), so a member present for the whole iteration is
 * returned exactly once, and cursors survive restarts and failover. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/util.h"

#define SMALL_SET 1000

/* ---------------------------------------------------------------- helpers */

static uint64_t rnd_below(uint64_t n) { return cairn_rand_below(n); }

/* A list of members copied out of the store (store pointers die at the next
 * write). */
typedef struct memlist {
  cairn_buf arena;
  size_t *off, *len;
  size_t n, cap;
} memlist;

static void ml_add(memlist *m, const void *p, size_t len) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 16;
    m->off = cairn_xrealloc(m->off, m->cap * sizeof(size_t));
    m->len = cairn_xrealloc(m->len, m->cap * sizeof(size_t));
  }
  m->off[m->n] = m->arena.len;
  m->len[m->n] = len;
  m->n++;
  cairn_buf_reserve(&m->arena, len + 1); /* never a NULL arena, even for "" */
  cairn_buf_append(&m->arena, p, len);
}

static cairn_str ml_get(const memlist *m, size_t i) {
  cairn_str s = {m->arena.p + m->off[i], m->len[i]};
  return s;
}

static void ml_swap(memlist *m, size_t i, size_t j) {
  size_t o = m->off[i], l = m->len[i];
  m->off[i] = m->off[j];
  m->len[i] = m->len[j];
  m->off[j] = o;
  m->len[j] = l;
}

static void ml_shuffle(memlist *m) {
  for (size_t i = m->n; i > 1; i--) ml_swap(m, i - 1, (size_t)rnd_below(i));
}

static void ml_free(memlist *m) {
  cairn_buf_free(&m->arena);
  free(m->off);
  free(m->len);
  memset(m, 0, sizeof(*m));
}

static void buf_set(cairn_buf *b, const void *p, size_t n) {
  b->len = 0;
  cairn_buf_reserve(b, n + 1); /* b->p is never NULL afterwards */
  cairn_buf_append(b, p, n);
}

/* Looks up a set: 1 found (coll, expiry filled), 0 absent, -1 replied. */
static int get_set(cairn_ctx *c, cairn_str key, cairn_coll *coll, int64_t *expire_ms) {
  cairn_value v;
  int rc = cairn_lookup_coll(c, key, CAIRN_TYPE_SET, &v, coll);
  if (rc == 1 && expire_ms) *expire_ms = v.expire_ms;
  return rc;
}

static int is_member(cairn_ctx *c, uint64_t id, cairn_str m) {
  cairn_str v;
  int rc = cairn_elem_get(cairn_ctx_store(c), id, CAIRN_SPACE_MEMBERS, m.p, m.len, &v);
  return rc < 0 ? cairn_store_failed(c, rc) : rc;
}

/* The first member >= from (reverse: the last <= from), copied into out.
 * 1 found, 0 none, -1 store error (recorded). */
static int seek_member(cairn_ctx *c, uint64_t id, const void *from, size_t fromlen, int reverse, cairn_buf *out) {
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), id, CAIRN_SPACE_MEMBERS, from, fromlen, reverse, &it);
  if (rc < 0) return cairn_store_failed(c, rc);
  cairn_str sub, val;
  rc = cairn_elem_iter_next(it, &sub, &val);
  if (rc == 1) buf_set(out, sub.p, sub.len);
  cairn_elem_iter_close(it);
  return rc < 0 ? cairn_store_failed(c, rc) : rc;
}

/* The member at position idx (0-based) by walking: O(idx). */
static int member_at(cairn_ctx *c, uint64_t id, uint64_t idx, cairn_buf *out) {
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it);
  if (rc < 0) return cairn_store_failed(c, rc);
  cairn_str sub, val;
  uint64_t i = 0;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    if (i++ == idx) {
      buf_set(out, sub.p, sub.len);
      break;
    }
  }
  cairn_elem_iter_close(it);
  return rc < 0 ? cairn_store_failed(c, rc) : rc;
}

static int pick_hash(cairn_ctx *c, uint64_t id, cairn_buf *out) { return cairn_coll_random(c, id, out, NULL); }

/* One random member of a non-empty set into out: 1, or -1 store error. */
static int pick_one(cairn_ctx *c, const cairn_coll *coll, cairn_buf *out) {
  if (coll->count <= SMALL_SET) {
    int rc = member_at(c, coll->id, rnd_below(coll->count), out);
    if (rc == 0) rc = seek_member(c, coll->id, NULL, 0, 0, out); /* count out of step: never */
    return rc;
  }
  return pick_hash(c, coll->id, out);
}

/* Exactly `want` distinct members chosen uniformly by one walk (selection
 * sampling), in random order: O(n). */
static int sample_walk(cairn_ctx *c, const cairn_coll *coll, uint64_t want, memlist *out) {
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), coll->id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it);
  if (rc < 0) return cairn_store_failed(c, rc);
  uint64_t left = coll->count, need = want;
  cairn_str sub, val;
  while (need > 0 && (rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    if (left == 0 || rnd_below(left) < need) {
      ml_add(out, sub.p, sub.len);
      need--;
    }
    if (left) left--;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return cairn_store_failed(c, rc);
  ml_shuffle(out);
  return 0;
}

/* A small open-addressing set of member indexes of a memlist (dedupe). */
typedef struct memset_ {
  size_t *slot; /* index + 1, 0 = empty */
  size_t cap;
} memset_;

static int ms_insert(memset_ *s, memlist *m, size_t idx) {
  cairn_str v = ml_get(m, idx);
  size_t h = (size_t)cairn_hash64(v.p, v.len, 7) & (s->cap - 1);
  while (s->slot[h]) {
    cairn_str o = ml_get(m, s->slot[h] - 1);
    if (o.len == v.len && memcmp(o.p, v.p, v.len) == 0) return 0;
    h = (h + 1) & (s->cap - 1);
  }
  s->slot[h] = idx + 1;
  return 1;
}

/* `want` (< n) distinct random members, in random order. */
static int pick_distinct(cairn_ctx *c, const cairn_coll *coll, uint64_t want, memlist *out) {
  /* A walk costs about n cursor steps, a descent a dozen seeks: descents
   * only pay when few members are wanted. */
  if (coll->count <= SMALL_SET || want * 128 > coll->count) return sample_walk(c, coll, want, out);
  /* Big set, few wanted: random hash seeks, duplicates dropped; after too
   * many duplicates (a set with a few wide hash gaps), walk instead. */
  memset_ s;
  s.cap = 16;
  while (s.cap < want * 2) s.cap *= 2;
  s.slot = cairn_xcalloc(s.cap, sizeof(size_t));
  cairn_buf one = {0};
  uint64_t tries = 0, limit = want * 4 + 64;
  int rc = 0;
  while (out->n < want && tries++ < limit) {
    if ((rc = pick_hash(c, coll->id, &one)) < 0) break;
    ml_add(out, one.p, one.len);
    if (!ms_insert(&s, out, out->n - 1)) {
      out->n--;
      out->arena.len = out->off[out->n];
    }
  }
  free(s.slot);
  cairn_buf_free(&one);
  if (rc < 0) return -1;
  if (out->n < want) {
    ml_free(out);
    return sample_walk(c, coll, want, out);
  }
  return 0;
}

/* ---------------------------------------------------------------- commands */

/* SADD key member...: O(k log n). */
/* "srem"/"spop", then "del" if the set is gone (Redis's order). */
static void notify_removed(cairn_ctx *c, const char *event, cairn_str key, const cairn_coll *coll) {
  cairn_notify(c, CAIRN_NOTIFY_SET, event, key);
  if (coll->count == 0) cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
}

static void cmd_sadd(cairn_ctx *c) {
  cairn_store *s = cairn_ctx_store(c);
  cairn_coll coll;
  int64_t exp = -1;
  int rc = get_set(c, c->argv[1], &coll, &exp);
  if (rc < 0) return;
  int fresh = rc == 0;
  if (fresh) cairn_coll_init(s, &coll);
  long long added = 0;
  for (int j = 2; j < c->argc; j++) {
    cairn_str m = c->argv[j];
    if (!fresh) { /* read first: an existing member costs no write */
      if ((rc = is_member(c, coll.id, m)) < 0) return;
      if (rc) continue;
    }
    if ((rc = cairn_elem_put(s, coll.id, CAIRN_SPACE_MEMBERS, m.p, m.len, "", 0)) < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    if (rc == 1) {
      added++;
      coll.count++;
    }
  }
  if (added) {
    if (cairn_coll_save(c, c->argv[1], CAIRN_TYPE_SET, &coll, exp) < 0) return;
    c->dirty += added;
    cairn_notify(c, CAIRN_NOTIFY_SET, "sadd", c->argv[1]);
  }
  cairn_reply_int(&c->reply, added);
}

/* SREM key member...: O(k log n). */
static void cmd_srem(cairn_ctx *c) {
  cairn_store *s = cairn_ctx_store(c);
  cairn_coll coll;
  int64_t exp = -1;
  int rc = get_set(c, c->argv[1], &coll, &exp);
  if (rc < 0) return;
  long long deleted = 0;
  if (rc == 1) {
    for (int j = 2; j < c->argc && coll.count > 0; j++) {
      if ((rc = cairn_elem_del(s, coll.id, CAIRN_SPACE_MEMBERS, c->argv[j].p, c->argv[j].len)) < 0) {
        cairn_store_failed(c, rc);
        return;
      }
      if (rc == 1) {
        deleted++;
        coll.count--;
      }
    }
    if (deleted) {
      if (cairn_coll_save(c, c->argv[1], CAIRN_TYPE_SET, &coll, exp) < 0) return;
      c->dirty += deleted;
      notify_removed(c, "srem", c->argv[1], &coll);
    }
  }
  cairn_reply_int(&c->reply, deleted);
}

static void cmd_sismember(cairn_ctx *c) {
  cairn_coll coll;
  int rc = get_set(c, c->argv[1], &coll, NULL);
  if (rc < 0) return;
  if (rc == 1 && (rc = is_member(c, coll.id, c->argv[2])) < 0) return;
  cairn_reply_int(&c->reply, rc);
}

/* SMISMEMBER: O(k log n). */
static void cmd_smismember(cairn_ctx *c) {
  cairn_coll coll;
  int rc = get_set(c, c->argv[1], &coll, NULL);
  if (rc < 0) return;
  int exists = rc;
  cairn_reply_array(&c->reply, c->argc - 2);
  for (int j = 2; j < c->argc; j++) {
    rc = 0;
    if (exists && (rc = is_member(c, coll.id, c->argv[j])) < 0) return;
    cairn_reply_int(&c->reply, rc);
  }
}

static void cmd_scard(cairn_ctx *c) {
  cairn_coll coll;
  int rc = get_set(c, c->argv[1], &coll, NULL);
  if (rc < 0) return;
  cairn_reply_int(&c->reply, rc ? (long long)coll.count : 0);
}

/* Replies every member of a set (a RESP3 set): O(n), streamed. */
static int reply_all(cairn_ctx *c, const cairn_coll *coll) {
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), coll->id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it);
  if (rc < 0) return cairn_store_failed(c, rc);
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  cairn_str sub, val;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    cairn_reply_bulk(&c->reply, sub.p, sub.len);
    n++;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return cairn_store_failed(c, rc);
  cairn_reply_defer_set(&c->reply, mark, n);
  return 0;
}

/* SMEMBERS: O(n). */
static void cmd_smembers(cairn_ctx *c) {
  cairn_coll coll;
  int rc = get_set(c, c->argv[1], &coll, NULL);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_set(&c->reply, 0);
    return;
  }
  reply_all(c, &coll);
}

/* SRANDMEMBER key [count]. One pick: O(n) <= 1000 steps for small sets, else
 * O(d log n). count > 0: O(n) walk when count * 128 > n or n <= 1000, else
 * about count picks. count < 0: |count| picks (small sets: one walk that
 * copies the <= 1000 members, then O(1) per pick). */
static void cmd_srandmember(cairn_ctx *c) {
  if (c->argc > 3) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  cairn_coll coll;
  int rc;
  if (c->argc == 2) {
    if ((rc = get_set(c, c->argv[1], &coll, NULL)) < 0) return;
    if (rc == 0) {
      cairn_reply_null(&c->reply);
      return;
    }
    cairn_buf one = {0};
    if (pick_one(c, &coll, &one) == 1) cairn_reply_bulk(&c->reply, one.p, one.len);
    cairn_buf_free(&one);
    return;
  }
  long long l;
  if (!cairn_str2ll(c->argv[2].p, c->argv[2].len, &l)) {
    cairn_reply_error(&c->reply, CAIRN_ERR_NOTINT);
    return;
  }
  if (l == INT64_MIN) {
    cairn_reply_error(&c->reply,
                      "value is out of range, value must between -9223372036854775807 and 9223372036854775807");
    return;
  }
  if ((rc = get_set(c, c->argv[1], &coll, NULL)) < 0) return;
  if (rc == 0 || l == 0) {
    cairn_reply_array(&c->reply, 0);
    return;
  }
  if (l < 0) {
    uint64_t n = (uint64_t)(-l);
    if (coll.count <= SMALL_SET) {
      memlist all = {0};
      if (sample_walk(c, &coll, coll.count, &all) < 0) {
        ml_free(&all);
        return;
      }
      if (all.n == 0) { /* count out of step with the entries: never */
        ml_free(&all);
        cairn_reply_array(&c->reply, 0);
        return;
      }
      cairn_reply_array(&c->reply, (long long)n);
      for (uint64_t i = 0; i < n; i++) {
        cairn_str m = ml_get(&all, (size_t)rnd_below(all.n));
        cairn_reply_bulk(&c->reply, m.p, m.len);
      }
      ml_free(&all);
      return;
    }
    cairn_buf one = {0};
    cairn_reply_array(&c->reply, (long long)n);
    for (uint64_t i = 0; i < n; i++) {
      if (pick_hash(c, coll.id, &one) < 0) break;
      cairn_reply_bulk(&c->reply, one.p, one.len);
    }
    cairn_buf_free(&one);
    return;
  }
  if ((uint64_t)l >= coll.count) {
    /* the whole set, in Redis's reply form for this case (an array) */
    cairn_elem_iter *it;
    if ((rc = cairn_elem_iter_open(cairn_ctx_store(c), coll.id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it)) < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    size_t mark = cairn_reply_defer(&c->reply);
    long long n = 0;
    cairn_str sub, val;
    while ((rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
      cairn_reply_bulk(&c->reply, sub.p, sub.len);
      n++;
    }
    cairn_elem_iter_close(it);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    cairn_reply_defer_array(&c->reply, mark, n);
    return;
  }
  memlist picked = {0};
  if (pick_distinct(c, &coll, (uint64_t)l, &picked) == 0) {
    cairn_reply_array(&c->reply, (long long)picked.n);
    for (size_t i = 0; i < picked.n; i++) {
      cairn_str m = ml_get(&picked, i);
      cairn_reply_bulk(&c->reply, m.p, m.len);
    }
  }
  ml_free(&picked);
}

static void propagate_srem(cairn_ctx *c, cairn_str key, cairn_str member) {
  cairn_str argv[3] = {{"SREM", 4}, key, member};
  cairn_propagate(c, c->db, 3, argv);
}

/* SPOP key [count]. Without count: one pick (see SRANDMEMBER) + O(log n),
 * propagated as SREM key member. With count < n: the picks of SRANDMEMBER
 * with a positive count + O(count log n), propagated as one SREM per member
 * (wrapped in MULTI/EXEC), like Redis 7.0; count >= n: O(n), the key is
 * deleted and the command propagates as DEL key. */
static void cmd_spop(cairn_ctx *c) {
  if (c->argc > 3) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  cairn_store *s = cairn_ctx_store(c);
  cairn_str key = c->argv[1];
  cairn_coll coll;
  int64_t exp = -1;
  int rc;
  if (c->argc == 2) {
    if ((rc = get_set(c, key, &coll, &exp)) < 0) return;
    if (rc == 0) {
      cairn_reply_null(&c->reply);
      return;
    }
    cairn_buf one = {0};
    if (pick_one(c, &coll, &one) != 1) goto out1;
    if ((rc = cairn_elem_del(s, coll.id, CAIRN_SPACE_MEMBERS, one.p, one.len)) < 0) {
      cairn_store_failed(c, rc);
      goto out1;
    }
    if (rc == 1) coll.count--;
    if (cairn_coll_save(c, key, CAIRN_TYPE_SET, &coll, exp) < 0) goto out1;
    c->dirty++;
    cairn_str m = {one.p, one.len};
    propagate_srem(c, key, m);
    c->custom_propagation = 1;
    notify_removed(c, "spop", key, &coll);
    cairn_reply_bulk(&c->reply, one.p, one.len);
  out1:
    cairn_buf_free(&one);
    return;
  }
  long long l;
  if (!cairn_str2ll(c->argv[2].p, c->argv[2].len, &l) || l < 0) {
    cairn_reply_error(&c->reply, "value is out of range, must be positive");
    return;
  }
  if ((rc = get_set(c, key, &coll, &exp)) < 0) return;
  if (rc == 0 || l == 0) {
    cairn_reply_set(&c->reply, 0);
    return;
  }
  if ((uint64_t)l >= coll.count) {
    if (reply_all(c, &coll) < 0) return;
    if ((rc = cairn_store_del(s, c->db, key)) < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    c->dirty += (long long)coll.count + 1;
    cairn_propagate_del(c, c->db, key);
    c->custom_propagation = 1;
    cairn_notify(c, CAIRN_NOTIFY_SET, "spop", key);
    cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
    return;
  }
  memlist picked = {0};
  if (pick_distinct(c, &coll, (uint64_t)l, &picked) < 0) goto out;
  for (size_t i = 0; i < picked.n; i++) {
    cairn_str m = ml_get(&picked, i);
    if ((rc = cairn_elem_del(s, coll.id, CAIRN_SPACE_MEMBERS, m.p, m.len)) < 0) {
      cairn_store_failed(c, rc);
      goto out;
    }
    if (rc == 1) coll.count--;
  }
  if (cairn_coll_save(c, key, CAIRN_TYPE_SET, &coll, exp) < 0) goto out;
  c->dirty += (long long)picked.n + 1;
  notify_removed(c, "spop", key, &coll);
  cairn_reply_set(&c->reply, (long long)picked.n);
  for (size_t i = 0; i < picked.n; i++) {
    cairn_str m = ml_get(&picked, i);
    cairn_reply_bulk(&c->reply, m.p, m.len);
    propagate_srem(c, key, m);
  }
  c->custom_propagation = 1;
out:
  ml_free(&picked);
}

/* SMOVE source destination member: O(log n). */
static void cmd_smove(cairn_ctx *c) {
  cairn_store *s = cairn_ctx_store(c);
  cairn_str src = c->argv[1], dst = c->argv[2], m = c->argv[3];
  cairn_coll sc, dc;
  int64_t sexp = -1, dexp = -1;
  int rc = get_set(c, src, &sc, &sexp);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  int dst_exists = get_set(c, dst, &dc, &dexp);
  if (dst_exists < 0) return;
  if (src.len == dst.len && memcmp(src.p, dst.p, src.len) == 0) {
    if ((rc = is_member(c, sc.id, m)) < 0) return;
    cairn_reply_int(&c->reply, rc);
    return;
  }
  if ((rc = cairn_elem_del(s, sc.id, CAIRN_SPACE_MEMBERS, m.p, m.len)) < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  sc.count--;
  if (cairn_coll_save(c, src, CAIRN_TYPE_SET, &sc, sexp) < 0) return;
  c->dirty++;
  notify_removed(c, "srem", src, &sc);
  if (!dst_exists) {
    cairn_coll_init(s, &dc);
    dexp = -1;
  }
  if ((rc = cairn_elem_put(s, dc.id, CAIRN_SPACE_MEMBERS, m.p, m.len, "", 0)) < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  if (rc == 1) {
    dc.count++;
    if (cairn_coll_save(c, dst, CAIRN_TYPE_SET, &dc, dexp) < 0) return;
    c->dirty++;
    cairn_notify(c, CAIRN_NOTIFY_SET, "sadd", dst);
  }
  cairn_reply_int(&c->reply, 1);
}

/* ---------------------------------------------------------------- algebra */

typedef struct src_set {
  cairn_coll coll;
  int exists;
} src_set;

/* Looks every key up (types first, like Redis 7.0: a wrong type anywhere is
 * an error even when another key is missing). Returns the number of missing
 * keys, or -1 after a reply / store error. */
static int load_sets(cairn_ctx *c, const cairn_str *keys, int n, src_set *out) {
  int missing = 0;
  for (int i = 0; i < n; i++) {
    int rc = get_set(c, keys[i], &out[i].coll, NULL);
    if (rc < 0) return -1;
    out[i].exists = rc;
    if (!rc) missing++;
  }
  return missing;
}

/* Writes the STORE result: replaces dst (any type; a count of 0 deletes
 * it). Replies the count. */
static void store_result(cairn_ctx *c, cairn_str dst, const cairn_coll *res) {
  int rc = cairn_coll_put(cairn_ctx_store(c), c->db, dst, CAIRN_TYPE_SET, res, -1);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  if (res->count > 0 || rc == 1) c->dirty++; /* count 0: rc 1 = a key was deleted */
  if (res->count > 0) {
    if (rc == 1) cairn_notify(c, CAIRN_NOTIFY_NEW, "new", dst);
    cairn_notify(c, CAIRN_NOTIFY_SET, c->cmd->name, dst); /* sinterstore, sunionstore, sdiffstore */
  } else if (rc == 1) {
    cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", dst);
  }
  cairn_reply_int(&c->reply, (long long)res->count);
}

enum { OUT_REPLY, OUT_STORE, OUT_CARD };

/* Intersection: iterates the smallest set and probes the others:
 * O(min(n) * k log n); stops at LIMIT for SINTERCARD. */
static void sinter_generic(cairn_ctx *c, const cairn_str *keys, int n, int mode, cairn_str dst, long long limit) {
  cairn_store *s = cairn_ctx_store(c);
  src_set *sets = cairn_xcalloc((size_t)n, sizeof(*sets));
  cairn_buf cur = {0};
  cairn_coll res = {0};
  int missing = load_sets(c, keys, n, sets);
  if (missing < 0) goto out;
  if (mode == OUT_STORE) cairn_coll_init(s, &res);
  if (missing > 0) {
    if (mode == OUT_REPLY) cairn_reply_set(&c->reply, 0);
    else if (mode == OUT_CARD) cairn_reply_int(&c->reply, 0);
    else store_result(c, dst, &res);
    goto out;
  }
  int small = 0;
  for (int i = 1; i < n; i++)
    if (sets[i].coll.count < sets[small].coll.count) small = i;
  uint64_t sid = sets[small].coll.id;
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(s, sid, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    goto out;
  }
  size_t mark = mode == OUT_REPLY ? cairn_reply_defer(&c->reply) : 0;
  long long found = 0;
  cairn_str sub, val;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    buf_set(&cur, sub.p, sub.len); /* probes and writes invalidate sub */
    cairn_str m = {cur.p, cur.len};
    int all = 1;
    for (int j = 0; j < n && all; j++) {
      if (sets[j].coll.id == sid) continue;
      int r = is_member(c, sets[j].coll.id, m);
      if (r < 0) {
        rc = -1;
        break;
      }
      all = r;
    }
    if (rc < 0) break;
    if (!all) continue;
    found++;
    if (mode == OUT_REPLY) {
      cairn_reply_bulk(&c->reply, m.p, m.len);
    } else if (mode == OUT_STORE) {
      int r = cairn_elem_put(s, res.id, CAIRN_SPACE_MEMBERS, m.p, m.len, "", 0);
      if (r < 0) {
        cairn_store_failed(c, r);
        rc = -1;
        break;
      }
      res.count += (uint64_t)r;
    } else if (limit > 0 && found >= limit) {
      break;
    }
  }
  cairn_elem_iter_close(it);
  if (rc < 0) {
    if (c->store_rc == 0) cairn_store_failed(c, rc);
    goto out;
  }
  if (mode == OUT_REPLY) cairn_reply_defer_set(&c->reply, mark, found);
  else if (mode == OUT_CARD) cairn_reply_int(&c->reply, found);
  else store_result(c, dst, &res);
out:
  cairn_buf_free(&cur);
  free(sets);
}

/* Union and difference. Union: each set in turn, a member is emitted unless
 * an earlier set holds it: O(N * k log n), N = the members of all sets
 * (STORE: O(N log n), duplicates collapse on insert). Difference: the first
 * set's members probed against the others: O(n1 * k log n). */
static void sunion_diff_generic(cairn_ctx *c, const cairn_str *keys, int n, int diff, int mode, cairn_str dst) {
  cairn_store *s = cairn_ctx_store(c);
  src_set *sets = cairn_xcalloc((size_t)n, sizeof(*sets));
  cairn_buf cur = {0};
  cairn_coll res = {0};
  if (load_sets(c, keys, n, sets) < 0) goto out;
  if (mode == OUT_STORE) cairn_coll_init(s, &res);
  size_t mark = mode == OUT_REPLY ? cairn_reply_defer(&c->reply) : 0;
  long long found = 0;
  int rc = 0;
  int nsrc = diff ? (n > 0 ? 1 : 0) : n;
  for (int i = 0; i < nsrc && rc >= 0; i++) {
    if (!sets[i].exists) continue;
    int dup = 0;
    for (int j = 0; j < i; j++)
      if (sets[j].exists && sets[j].coll.id == sets[i].coll.id) dup = 1;
    if (dup) continue;
    cairn_elem_iter *it;
    if ((rc = cairn_elem_iter_open(s, sets[i].coll.id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it)) < 0) {
      cairn_store_failed(c, rc);
      goto out;
    }
    cairn_str sub, val;
    while ((rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
      buf_set(&cur, sub.p, sub.len);
      cairn_str m = {cur.p, cur.len};
      int keep = 1;
      if (diff || mode == OUT_REPLY) {
        /* diff: not in any other set; union reply: not in an earlier one */
        int lo = diff ? 1 : 0, hi = diff ? n : i;
        for (int j = lo; j < hi && keep; j++) {
          if (!sets[j].exists) continue;
          int r = is_member(c, sets[j].coll.id, m);
          if (r < 0) {
            rc = -1;
            break;
          }
          keep = !r;
        }
        if (rc < 0) break;
      }
      if (!keep) continue;
      if (mode == OUT_REPLY) {
        cairn_reply_bulk(&c->reply, m.p, m.len);
        found++;
      } else {
        int r = cairn_elem_put(s, res.id, CAIRN_SPACE_MEMBERS, m.p, m.len, "", 0);
        if (r < 0) {
          cairn_store_failed(c, r);
          rc = -1;
          break;
        }
        res.count += (uint64_t)r;
      }
    }
    cairn_elem_iter_close(it);
  }
  if (rc < 0) {
    if (c->store_rc == 0) cairn_store_failed(c, rc);
    goto out;
  }
  if (mode == OUT_REPLY) cairn_reply_defer_set(&c->reply, mark, found);
  else store_result(c, dst, &res);
out:
  cairn_buf_free(&cur);
  free(sets);
}

static void cmd_sinter(cairn_ctx *c) {
  cairn_str none = {NULL, 0};
  sinter_generic(c, c->argv + 1, c->argc - 1, OUT_REPLY, none, 0);
}

static void cmd_sinterstore(cairn_ctx *c) { sinter_generic(c, c->argv + 2, c->argc - 2, OUT_STORE, c->argv[1], 0); }

static void cmd_sunion(cairn_ctx *c) {
  cairn_str none = {NULL, 0};
  sunion_diff_generic(c, c->argv + 1, c->argc - 1, 0, OUT_REPLY, none);
}

static void cmd_sunionstore(cairn_ctx *c) {
  sunion_diff_generic(c, c->argv + 2, c->argc - 2, 0, OUT_STORE, c->argv[1]);
}

static void cmd_sdiff(cairn_ctx *c) {
  cairn_str none = {NULL, 0};
  sunion_diff_generic(c, c->argv + 1, c->argc - 1, 1, OUT_REPLY, none);
}

static void cmd_sdiffstore(cairn_ctx *c) { sunion_diff_generic(c, c->argv + 2, c->argc - 2, 1, OUT_STORE, c->argv[1]); }

/* SINTERCARD numkeys key... [LIMIT limit]: like SINTER, stops at LIMIT. */
static void cmd_sintercard(cairn_ctx *c) {
  long long numkeys, limit = 0;
  if (!cairn_str2ll(c->argv[1].p, c->argv[1].len, &numkeys) || numkeys < 1) {
    cairn_reply_error(&c->reply, "numkeys should be greater than 0");
    return;
  }
  if (numkeys > c->argc - 2) {
    cairn_reply_error(&c->reply, "Number of keys can't be greater than number of args");
    return;
  }
  for (int i = 2 + (int)numkeys; i < c->argc;) {
    if (cairn_arg_is(c->argv[i], "limit") && i + 1 < c->argc) {
      if (!cairn_str2ll(c->argv[i + 1].p, c->argv[i + 1].len, &limit) || limit < 0) {
        cairn_reply_error(&c->reply, "LIMIT can't be negative");
        return;
      }
      i += 2;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  cairn_str none = {NULL, 0};
  sinter_generic(c, c->argv + 2, (int)numkeys, OUT_CARD, none, limit);
}

/* ---------------------------------------------------------------- SSCAN */

/* SSCAN key cursor [MATCH pattern] [COUNT count]: O(count log n) per call
 * (more when many members share SCAN_CUT_MAX bytes, see the top). */
static void cmd_sscan(cairn_ctx *c) { cairn_coll_scan(c, CAIRN_TYPE_SET, 0, NULL); }

/* ---------------------------------------------------------------- table */

const cairn_command cairn_commands_set[] = {
    CAIRN_CMD("sadd", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_sadd, "set",
              "Add one or more members to a set", "1.0.0", "key member [member ...]"),
    CAIRN_CMD("srem", -3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_srem, "set",
              "Remove one or more members from a set", "1.0.0", "key member [member ...]"),
    CAIRN_CMD("sismember", 3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_sismember, "set",
              "Determine if a given value is a member of a set", "1.0.0", "key member"),
    CAIRN_CMD("smismember", -3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_smismember, "set",
              "Returns the membership associated with the given elements for a set", "6.2.0",
              "key member [member ...]"),
    CAIRN_CMD("scard", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_scard, "set",
              "Get the number of members in a set", "1.0.0", "key"),
    CAIRN_CMD("smembers", 2, CAIRN_F_READ, 1, 1, 1, cmd_smembers, "set", "Get all the members in a set", "1.0.0",
              "key"),
    CAIRN_CMD("srandmember", -2, CAIRN_F_READ, 1, 1, 1, cmd_srandmember, "set",
              "Get one or multiple random members from a set", "1.0.0", "key [count]"),
    CAIRN_CMD("spop", -2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_spop, "set",
              "Remove and return one or multiple random members from a set", "1.0.0", "key [count]"),
    CAIRN_CMD("smove", 4, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 2, 1, cmd_smove, "set",
              "Move a member from one set to another", "1.0.0", "source destination member"),
    CAIRN_CMD("sinter", -2, CAIRN_F_READ, 1, -1, 1, cmd_sinter, "set", "Intersect multiple sets", "1.0.0",
              "key [key ...]"),
    CAIRN_CMD("sintercard", -3, CAIRN_F_READ, 0, 0, 0, cmd_sintercard, "set",
              "Intersect multiple sets and return the cardinality of the result", "7.0.0",
              "numkeys key [key ...] [LIMIT limit]"),
    CAIRN_CMD("sinterstore", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, -1, 1, cmd_sinterstore, "set",
              "Intersect multiple sets and store the resulting set in a key", "1.0.0", "destination key [key ...]"),
    CAIRN_CMD("sunion", -2, CAIRN_F_READ, 1, -1, 1, cmd_sunion, "set", "Add multiple sets", "1.0.0", "key [key ...]"),
    CAIRN_CMD("sunionstore", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, -1, 1, cmd_sunionstore, "set",
              "Add multiple sets and store the resulting set in a key", "1.0.0", "destination key [key ...]"),
    CAIRN_CMD("sdiff", -2, CAIRN_F_READ, 1, -1, 1, cmd_sdiff, "set", "Subtract multiple sets", "1.0.0",
              "key [key ...]"),
    CAIRN_CMD("sdiffstore", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, -1, 1, cmd_sdiffstore, "set",
              "Subtract multiple sets and store the resulting set in a key", "1.0.0", "destination key [key ...]"),
    CAIRN_CMD("sscan", -3, CAIRN_F_READ, 1, 1, 1, cmd_sscan, "set", "Incrementally iterate Set elements", "2.8.0",
              "key cursor [MATCH pattern] [COUNT count]"),
    CAIRN_CMD_END,
};
