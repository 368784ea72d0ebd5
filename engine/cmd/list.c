/* List commands, on the collection layer (engine/store.h): a list is a
 * header {id, count, head} and one entry per element in space 0, keyed by its
 * position (u64 big-endian). Elements occupy the contiguous positions
 * [head, head + count): LPUSH writes head - 1, RPUSH head + count, so the
 * ends cost O(log n) and index i is position head + i (LINDEX, LSET: one
 * B-tree lookup). LRANGE seeks to its first position and walks the entries;
 * LTRIM deletes only the trimmed ends. LINSERT and LREM must keep the
 * positions contiguous: they move the elements on the shorter side of the
 * change (O(n) like Redis's quicklist). A new list starts at
 * CAIRN_LIST_START (2^63), so 2^63 pushes at either end fit.
 *
 * Blocking variants (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) use
 * engine/blocking.c: with nothing to pop they block; when a push makes one of
 * their keys ready, the command runs again with the same argv. What they pop
 * is propagated as the non-blocking form Redis 7.0 uses: BLPOP/BRPOP ->
 * LPOP/RPOP key, BLMPOP and LMPOP -> LPOP/RPOP key count, BLMOVE -> LMOVE,
 * BRPOPLPUSH -> RPOPLPUSH. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/blocking.h"
#include "engine/util.h"

enum { HEAD = 0, TAIL = 1 };
#define SL CAIRN_SPACE_LIST

static void pos_enc(unsigned char b[8], uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    b[i] = (unsigned char)(v & 0xff);
    v >>= 8;
  }
}

static uint64_t pos_dec(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | (unsigned char)p[i];
  return v;
}

static int store_err(cairn_ctx *c, int rc) { return cairn_store_failed(c, rc); }

/* A list key: 1 found, 0 absent, -1 replied (WRONGTYPE) or store error. */
static int get_list(cairn_ctx *c, cairn_str key, cairn_value *v, cairn_coll *coll) {
  return cairn_lookup_coll(c, key, CAIRN_TYPE_LIST, v, coll);
}

/* An iterator over the list's elements from one end (where), opened at
 * that end's position rather than at the end of the list's space: beyond
 * either end lie the entries of earlier pops and trims, deleted but maybe
 * still in LMDB under the overlay's tombstones until the store thread
 * merges them, and an iterator opened at the space's end walks every one
 * (a list trimmed and pushed in turn, LPUSH + LTRIM, walked thousands). */
static int open_end(cairn_ctx *c, const cairn_coll *coll, int where, cairn_elem_iter **it) {
  unsigned char b[8];
  pos_enc(b, where == HEAD ? coll->head : coll->head + coll->count - 1);
  return cairn_elem_iter_open(cairn_ctx_store(c), coll->id, SL, b, 8, where == TAIL, it);
}

/* Pushes n elements at one end. 0, or -1 after a store error. */
static int push_elems(cairn_ctx *c, cairn_coll *coll, int where, const cairn_str *elems, int n) {
  cairn_store *s = cairn_ctx_store(c);
  unsigned char b[8];
  for (int i = 0; i < n; i++) {
    uint64_t pos = where == HEAD ? coll->head - 1 : coll->head + coll->count;
    pos_enc(b, pos);
    int rc = cairn_elem_put(s, coll->id, SL, b, 8, elems[i].p, elems[i].len);
    if (rc < 0) return store_err(c, rc);
    if (where == HEAD) coll->head--;
    coll->count++;
  }
  return 0;
}

/* Pops one element from an end into out (copied). 0, or -1 after a store
 * error. The list must not be empty. */
static int pop_one(cairn_ctx *c, cairn_coll *coll, int where, cairn_buf *out) {
  cairn_store *s = cairn_ctx_store(c);
  unsigned char b[8];
  pos_enc(b, where == HEAD ? coll->head : coll->head + coll->count - 1);
  cairn_str v;
  int rc = cairn_elem_get(s, coll->id, SL, b, 8, &v);
  if (rc < 0) return store_err(c, rc);
  out->len = 0;
  if (rc == 1) cairn_buf_append(out, v.p, v.len);
  if ((rc = cairn_elem_del(s, coll->id, SL, b, 8)) < 0) return store_err(c, rc);
  coll->count--;
  if (where == HEAD) coll->head++;
  return 0;
}

/* Replies n bulk elements popped from one end (in pop order), straight from
 * the iterator. O(n log N). 0, or -1 after a store error. */
static int pop_range_reply(cairn_ctx *c, cairn_coll *coll, int where, uint64_t n) {
  cairn_elem_iter *it;
  int rc = open_end(c, coll, where, &it);
  if (rc < 0) return store_err(c, rc);
  cairn_reply_array(&c->reply, (long long)n);
  for (uint64_t i = 0; i < n; i++) {
    cairn_str sub, val;
    rc = cairn_elem_iter_next(it, &sub, &val);
    if (rc <= 0) break;
    cairn_reply_bulk(&c->reply, val.p, val.len);
    if ((rc = cairn_elem_iter_del(it)) < 0) break;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return store_err(c, rc);
  coll->count -= n;
  if (where == HEAD) coll->head += n;
  return 0;
}

static int where_arg(cairn_str a, int *where) {
  if (cairn_arg_is(a, "left"))
    *where = HEAD;
  else if (cairn_arg_is(a, "right"))
    *where = TAIL;
  else
    return -1;
  return 0;
}

/* ---------------------------------------------------------------- push */

/* The events of a pop (Redis's): "lpop"/"rpop", then "del" if the list is gone. */
static void notify_popped(cairn_ctx *c, int where, cairn_str key, const cairn_coll *coll) {
  cairn_notify(c, CAIRN_NOTIFY_LIST, where == HEAD ? "lpop" : "rpop", key);
  if (coll->count == 0) cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
}

static void push_generic(cairn_ctx *c, int where, int xx) {
  cairn_value v;
  cairn_coll coll;
  cairn_str key = c->argv[1];
  int rc = get_list(c, key, &v, &coll);
  if (rc < 0) return;
  int64_t expire = -1;
  if (rc == 0) {
    if (xx) {
      cairn_reply_int(&c->reply, 0);
      return;
    }
    cairn_coll_init(cairn_ctx_store(c), &coll);
  } else {
    expire = v.expire_ms;
  }
  int n = c->argc - 2;
  if (push_elems(c, &coll, where, c->argv + 2, n) < 0) return;
  if (cairn_coll_save(c, key, CAIRN_TYPE_LIST, &coll, expire) < 0) return;
  c->dirty += n;
  cairn_signal_key_ready(c, key);
  cairn_notify(c, CAIRN_NOTIFY_LIST, where == HEAD ? "lpush" : "rpush", key);
  cairn_reply_int(&c->reply, (long long)coll.count);
}

static void cmd_lpush(cairn_ctx *c) { push_generic(c, HEAD, 0); }
static void cmd_rpush(cairn_ctx *c) { push_generic(c, TAIL, 0); }
static void cmd_lpushx(cairn_ctx *c) { push_generic(c, HEAD, 1); }
static void cmd_rpushx(cairn_ctx *c) { push_generic(c, TAIL, 1); }

/* ---------------------------------------------------------------- pop */

static void pop_generic(cairn_ctx *c, int where) {
  long long count = 0;
  int hascount = c->argc == 3;
  if (c->argc > 3) {
    cairn_reply_arity(c);
    return;
  }
  if (hascount) {
    if (cairn_arg_ll_msg(c, c->argv[2], &count, "value is out of range, must be positive") != 0) return;
    if (count < 0) {
      cairn_reply_error(&c->reply, "value is out of range, must be positive");
      return;
    }
  }
  cairn_value v;
  cairn_coll coll;
  cairn_str key = c->argv[1];
  int rc = get_list(c, key, &v, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    if (hascount)
      cairn_reply_null_array(&c->reply);
    else
      cairn_reply_null(&c->reply);
    return;
  }
  if (hascount && count == 0) {
    cairn_reply_array(&c->reply, 0);
    return;
  }
  cairn_store *s = cairn_ctx_store(c);
  if (!hascount) {
    unsigned char b[8];
    pos_enc(b, where == HEAD ? coll.head : coll.head + coll.count - 1);
    cairn_str val;
    if ((rc = cairn_elem_get(s, coll.id, SL, b, 8, &val)) < 0) {
      store_err(c, rc);
      return;
    }
    if (rc == 1)
      cairn_reply_bulk(&c->reply, val.p, val.len);
    else
      cairn_reply_null(&c->reply);
    if ((rc = cairn_elem_del(s, coll.id, SL, b, 8)) < 0) {
      store_err(c, rc);
      return;
    }
    coll.count--;
    if (where == HEAD) coll.head++;
    count = 1;
  } else {
    if ((uint64_t)count > coll.count) count = (long long)coll.count;
    if (pop_range_reply(c, &coll, where, (uint64_t)count) < 0) return;
  }
  if (cairn_coll_save(c, key, CAIRN_TYPE_LIST, &coll, v.expire_ms) < 0) return;
  c->dirty += count;
  notify_popped(c, where, key, &coll);
}

static void cmd_lpop(cairn_ctx *c) { pop_generic(c, HEAD); }
static void cmd_rpop(cairn_ctx *c) { pop_generic(c, TAIL); }

/* ---------------------------------------------------------------- read */

static void cmd_llen(cairn_ctx *c) {
  cairn_value v;
  cairn_coll coll;
  int rc = get_list(c, c->argv[1], &v, &coll);
  if (rc < 0) return;
  cairn_reply_int(&c->reply, rc ? (long long)coll.count : 0);
}

/* O(log n). */
static void cmd_lindex(cairn_ctx *c) {
  cairn_value v;
  cairn_coll coll;
  int rc = get_list(c, c->argv[1], &v, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_null(&c->reply);
    return;
  }
  long long idx;
  if (cairn_arg_ll(c, c->argv[2], &idx) != 0) return;
  long long n = (long long)coll.count;
  if (idx < 0) idx += n;
  if (idx < 0 || idx >= n) {
    cairn_reply_null(&c->reply);
    return;
  }
  unsigned char b[8];
  pos_enc(b, coll.head + (uint64_t)idx);
  cairn_str val;
  rc = cairn_elem_get(cairn_ctx_store(c), coll.id, SL, b, 8, &val);
  if (rc < 0) {
    store_err(c, rc);
    return;
  }
  if (rc == 1)
    cairn_reply_bulk(&c->reply, val.p, val.len);
  else
    cairn_reply_null(&c->reply);
}

/* O(log n). */
static void cmd_lset(cairn_ctx *c) {
  cairn_value v;
  cairn_coll coll;
  cairn_str key = c->argv[1];
  int rc = get_list(c, key, &v, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_error(&c->reply, "no such key");
    return;
  }
  long long idx;
  if (cairn_arg_ll(c, c->argv[2], &idx) != 0) return;
  long long n = (long long)coll.count;
  if (idx < 0) idx += n;
  if (idx < 0 || idx >= n) {
    cairn_reply_error(&c->reply, "index out of range");
    return;
  }
  unsigned char b[8];
  pos_enc(b, coll.head + (uint64_t)idx);
  rc = cairn_elem_put(cairn_ctx_store(c), coll.id, SL, b, 8, c->argv[3].p, c->argv[3].len);
  if (rc < 0) {
    store_err(c, rc);
    return;
  }
  if (cairn_coll_save(c, key, CAIRN_TYPE_LIST, &coll, v.expire_ms) < 0) return;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_LIST, "lset", key);
  cairn_reply_ok(&c->reply);
}

/* Redis's range normalisation: 0 if empty, else [*start, *end] valid. */
static int norm_range(long long *start, long long *end, long long n) {
  if (*start < 0) *start += n;
  if (*end < 0) *end += n;
  if (*start < 0) *start = 0;
  if (*start > *end || *start >= n) return 0;
  if (*end >= n) *end = n - 1;
  return 1;
}

/* One seek, then the entries in order: O(log n + m), replied straight from
 * the iterator. */
static void cmd_lrange(cairn_ctx *c) {
  long long start, end;
  if (cairn_arg_ll(c, c->argv[2], &start) != 0 || cairn_arg_ll(c, c->argv[3], &end) != 0) return;
  cairn_value v;
  cairn_coll coll;
  int rc = get_list(c, c->argv[1], &v, &coll);
  if (rc < 0) return;
  if (rc == 0 || !norm_range(&start, &end, (long long)coll.count)) {
    cairn_reply_array(&c->reply, 0);
    return;
  }
  long long m = end - start + 1;
  unsigned char b[8];
  pos_enc(b, coll.head + (uint64_t)start);
  cairn_elem_iter *it;
  rc = cairn_elem_iter_open(cairn_ctx_store(c), coll.id, SL, b, 8, 0, &it);
  if (rc < 0) {
    store_err(c, rc);
    return;
  }
  size_t mark = c->reply.buf ? c->reply.buf->len : 0;
  cairn_reply_array(&c->reply, m);
  long long i = 0;
  cairn_str sub, val;
  while (i < m && (rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    cairn_reply_bulk(&c->reply, val.p, val.len);
    i++;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) {
    if (c->reply.buf) c->reply.buf->len = mark;
    store_err(c, rc);
  }
}

/* Deletes n entries from one end (O(n log N)). 0 or -1 after a store error. */
static int trim_end(cairn_ctx *c, cairn_coll *coll, int where, uint64_t n) {
  if (!n) return 0;
  cairn_elem_iter *it;
  int rc = open_end(c, coll, where, &it);
  if (rc < 0) return store_err(c, rc);
  cairn_str sub, val;
  for (uint64_t i = 0; i < n; i++) {
    if ((rc = cairn_elem_iter_next(it, &sub, &val)) <= 0) break;
    if ((rc = cairn_elem_iter_del(it)) < 0) break;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return store_err(c, rc);
  coll->count -= n;
  if (where == HEAD) coll->head += n;
  return 0;
}

/* Deletes only the trimmed ends: O(trimmed log n); trimming everything
 * deletes the key in O(1) (the sweeper removes the entries). */
static void cmd_ltrim(cairn_ctx *c) {
  long long start, end;
  if (cairn_arg_ll(c, c->argv[2], &start) != 0 || cairn_arg_ll(c, c->argv[3], &end) != 0) return;
  cairn_value v;
  cairn_coll coll;
  cairn_str key = c->argv[1];
  int rc = get_list(c, key, &v, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_ok(&c->reply);
    return;
  }
  long long n = (long long)coll.count, ltrim, rtrim;
  if (!norm_range(&start, &end, n)) {
    ltrim = n;
    rtrim = 0;
  } else {
    ltrim = start;
    rtrim = n - end - 1;
  }
  if (ltrim == n) {
    coll.count = 0;
  } else {
    if (trim_end(c, &coll, HEAD, (uint64_t)ltrim) < 0) return;
    if (trim_end(c, &coll, TAIL, (uint64_t)rtrim) < 0) return;
  }
  if (ltrim + rtrim) {
    if (cairn_coll_save(c, key, CAIRN_TYPE_LIST, &coll, v.expire_ms) < 0) return;
    c->dirty += ltrim + rtrim;
  } else {
    cairn_touch(c, key); /* like Redis: LTRIM signals the key even when nothing goes (WATCH) */
  }
  cairn_notify(c, CAIRN_NOTIFY_LIST, "ltrim", key);
  if (coll.count == 0) cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
  cairn_reply_ok(&c->reply);
}

/* ---------------------------------------------------------------- LINSERT, LREM */

/* Moves the entries at indexes [from, to) by delta positions (-1 or +1 for
 * LINSERT, any for LREM's compaction is done inline below). O(k log n). */
static int shift_range(cairn_ctx *c, const cairn_coll *coll, uint64_t from, uint64_t to, int delta, cairn_buf *tmp) {
  if (from >= to) return 0;
  cairn_store *s = cairn_ctx_store(c);
  /* Moving down (delta < 0) walks forward, moving up walks backward, so a
   * target slot is always free (already moved or the gap). */
  int reverse = delta > 0;
  unsigned char b[8];
  pos_enc(b, coll->head + (reverse ? to - 1 : from));
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(s, coll->id, SL, b, 8, reverse, &it);
  if (rc < 0) return store_err(c, rc);
  cairn_str sub, val;
  for (uint64_t i = 0; i < to - from; i++) {
    if ((rc = cairn_elem_iter_next(it, &sub, &val)) <= 0) break;
    uint64_t pos = pos_dec(sub.p);
    tmp->len = 0;
    cairn_buf_append(tmp, val.p, val.len);
    if ((rc = cairn_elem_iter_del(it)) < 0) break;
    pos_enc(b, pos + (uint64_t)(int64_t)delta);
    if ((rc = cairn_elem_put(s, coll->id, SL, b, 8, tmp->p, tmp->len)) < 0) break;
  }
  cairn_elem_iter_close(it);
  return rc < 0 ? store_err(c, rc) : 0;
}

/* Finds the pivot (O(i)), then opens a slot by moving the shorter side
 * (O(min(i, n - i))). */
static void cmd_linsert(cairn_ctx *c) {
  int after;
  if (cairn_arg_is(c->argv[2], "after"))
    after = 1;
  else if (cairn_arg_is(c->argv[2], "before"))
    after = 0;
  else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  cairn_value v;
  cairn_coll coll;
  cairn_str key = c->argv[1], pivot = c->argv[3], elem = c->argv[4];
  int rc = get_list(c, key, &v, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  cairn_store *s = cairn_ctx_store(c);
  cairn_elem_iter *it;
  if ((rc = open_end(c, &coll, HEAD, &it)) < 0) {
    store_err(c, rc);
    return;
  }
  cairn_str sub, val;
  uint64_t idx = 0;
  int found = 0;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    if (val.len == pivot.len && memcmp(val.p, pivot.p, pivot.len) == 0) {
      found = 1;
      break;
    }
    idx++;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) {
    store_err(c, rc);
    return;
  }
  if (!found) {
    cairn_reply_int(&c->reply, -1);
    return;
  }
  uint64_t at = idx + (uint64_t)after; /* index of the new element */
  cairn_buf tmp = {0};
  unsigned char b[8];
  if (at <= coll.count - at) {
    /* [0, at) moves one position toward the head */
    rc = shift_range(c, &coll, 0, at, -1, &tmp);
    coll.head--;
  } else {
    rc = shift_range(c, &coll, at, coll.count, +1, &tmp);
  }
  cairn_buf_free(&tmp);
  if (rc < 0) return;
  pos_enc(b, coll.head + at);
  if ((rc = cairn_elem_put(s, coll.id, SL, b, 8, elem.p, elem.len)) < 0) {
    store_err(c, rc);
    return;
  }
  coll.count++;
  if (cairn_coll_save(c, key, CAIRN_TYPE_LIST, &coll, v.expire_ms) < 0) return;
  c->dirty++;
  cairn_signal_key_ready(c, key);
  cairn_notify(c, CAIRN_NOTIFY_LIST, "linsert", key);
  cairn_reply_int(&c->reply, (long long)coll.count);
}

static int elem_eq(cairn_str a, cairn_str b) { return a.len == b.len && memcmp(a.p, b.p, a.len) == 0; }

/* LREM: a first pass finds the span [lo, hi] holding the elements to remove
 * (the first |count| matches from the head for count > 0, from the tail for
 * count < 0, all of them for 0); a second pass deletes them and closes the
 * gaps by moving the kept elements on the shorter side of the span: those
 * before hi toward the tail, or those after lo toward the head. O(scanned +
 * min(hi, n - lo)). */
static void cmd_lrem(cairn_ctx *c) {
  long long count;
  if (cairn_arg_ll(c, c->argv[2], &count) != 0) return;
  cairn_value v;
  cairn_coll coll;
  cairn_str key = c->argv[1], elem = c->argv[3];
  int rc = get_list(c, key, &v, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  cairn_store *s = cairn_ctx_store(c);
  uint64_t limit = count == 0 ? UINT64_MAX : (count < 0 ? (uint64_t)(-(count + 1)) + 1 : (uint64_t)count);
  cairn_elem_iter *it;
  cairn_str sub, val;
  /* pass 1: the span of the elements to remove */
  uint64_t matches = 0, lo = UINT64_MAX, hi = 0;
  if ((rc = open_end(c, &coll, count < 0 ? TAIL : HEAD, &it)) < 0) {
    store_err(c, rc);
    return;
  }
  while (matches < limit && (rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    if (elem_eq(val, elem)) {
      uint64_t pos = pos_dec(sub.p);
      matches++;
      if (pos < lo) lo = pos;
      if (pos > hi) hi = pos;
    }
  }
  cairn_elem_iter_close(it);
  if (rc < 0) {
    store_err(c, rc);
    return;
  }
  if (matches == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  /* pass 2: toward the tail walks back from hi (the head moves up), toward
   * the head walks on from lo; kept elements move by the number of removed
   * ones met so far. Outside [lo, hi] nothing is removed (removed reaches
   * matches at the span's end). */
  int up = hi - coll.head <= coll.head + coll.count - 1 - lo;
  unsigned char b[8];
  pos_enc(b, up ? hi : lo);
  if ((rc = cairn_elem_iter_open(s, coll.id, SL, b, 8, up, &it)) < 0) {
    store_err(c, rc);
    return;
  }
  cairn_buf tmp = {0};
  uint64_t removed = 0;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    uint64_t pos = pos_dec(sub.p);
    if (removed < matches && elem_eq(val, elem)) {
      if ((rc = cairn_elem_iter_del(it)) < 0) break;
      removed++;
    } else if (removed) {
      tmp.len = 0;
      cairn_buf_append(&tmp, val.p, val.len);
      if ((rc = cairn_elem_iter_del(it)) < 0) break;
      pos_enc(b, up ? pos + removed : pos - removed);
      if ((rc = cairn_elem_put(s, coll.id, SL, b, 8, tmp.p, tmp.len)) < 0) break;
    }
  }
  cairn_elem_iter_close(it);
  cairn_buf_free(&tmp);
  if (rc < 0) {
    store_err(c, rc);
    return;
  }
  coll.count -= removed;
  if (up) coll.head += removed;
  if (cairn_coll_save(c, key, CAIRN_TYPE_LIST, &coll, v.expire_ms) < 0) return;
  c->dirty += (long long)removed;
  if (removed) {
    cairn_notify(c, CAIRN_NOTIFY_LIST, "lrem", key);
    if (coll.count == 0) cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
  }
  cairn_reply_int(&c->reply, (long long)removed);
}

/* ---------------------------------------------------------------- LPOS */

/* O(scanned). */
static void cmd_lpos(cairn_ctx *c) {
  long long rank = 1, count = -1, maxlen = 0;
  int rank_min = 0;
  cairn_str elem = c->argv[2];
  for (int j = 3; j < c->argc; j++) {
    int more = j + 1 < c->argc;
    if (cairn_arg_is(c->argv[j], "rank") && more) {
      if (cairn_arg_ll(c, c->argv[++j], &rank) != 0) return;
      if (rank == 0) {
        cairn_reply_error(&c->reply, "RANK can't be zero: use 1 to start from the first match, 2 from the "
                                     "second ... or use negative to start from the end of the list");
        return;
      }
      if (rank == LLONG_MIN) { /* 7.0's -rank wraps: matches from the tail, COUNT never reached */
        rank = -1;
        rank_min = 1;
      }
    } else if (cairn_arg_is(c->argv[j], "count") && more) {
      /* Redis's getPositiveLongFromObjectOrReply: one message for both */
      if (cairn_arg_ll_msg(c, c->argv[++j], &count, "COUNT can't be negative") != 0) return;
      if (count < 0) {
        cairn_reply_error(&c->reply, "COUNT can't be negative");
        return;
      }
    } else if (cairn_arg_is(c->argv[j], "maxlen") && more) {
      if (cairn_arg_ll_msg(c, c->argv[++j], &maxlen, "MAXLEN can't be negative") != 0) return;
      if (maxlen < 0) {
        cairn_reply_error(&c->reply, "MAXLEN can't be negative");
        return;
      }
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if (rank_min && count > 0) count = 0; /* ... so every match (Redis's overflow, reproduced) */
  cairn_value v;
  cairn_coll coll;
  int rc = get_list(c, c->argv[1], &v, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    if (count != -1)
      cairn_reply_array(&c->reply, 0);
    else
      cairn_reply_null(&c->reply);
    return;
  }
  int reverse = rank < 0;
  if (reverse) rank = -rank;
  cairn_elem_iter *it;
  if ((rc = open_end(c, &coll, reverse ? TAIL : HEAD, &it)) < 0) {
    store_err(c, rc);
    return;
  }
  size_t start = c->reply.buf ? c->reply.buf->len : 0;
  size_t mark = count != -1 ? cairn_reply_defer(&c->reply) : 0;
  long long index = 0, matches = 0, found = -1, llen = (long long)coll.count;
  cairn_str sub, val;
  while ((maxlen == 0 || index < maxlen) && (rc = cairn_elem_iter_next(it, &sub, &val)) == 1) {
    if (elem_eq(val, elem)) {
      matches++;
      if (matches >= rank) {
        long long at = reverse ? llen - index - 1 : index;
        if (count != -1) {
          cairn_reply_int(&c->reply, at);
          if (count && matches - rank + 1 >= count) break;
        } else {
          found = at;
          break;
        }
      }
    }
    index++;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) {
    if (c->reply.buf) c->reply.buf->len = start;
    store_err(c, rc);
    return;
  }
  if (count != -1) {
    cairn_reply_defer_array(&c->reply, mark, matches >= rank ? matches - rank + 1 : 0);
  } else if (found >= 0) {
    cairn_reply_int(&c->reply, found);
  } else {
    cairn_reply_null(&c->reply);
  }
}

/* ---------------------------------------------------------------- LMOVE */

static const char *where_name(int w) { return w == HEAD ? "left" : "right"; }

/* Pops from src and pushes onto dst (O(log n)). Returns 1 moved (reply
 * sent), 0 src empty (nothing sent), -1 replied an error or store error. */
static int move_one(cairn_ctx *c, cairn_str src, cairn_str dst, int from, int to) {
  cairn_value sv, dv;
  cairn_coll scoll, dcoll;
  int rc = get_list(c, src, &sv, &scoll);
  if (rc <= 0) return rc;
  int same = src.len == dst.len && memcmp(src.p, dst.p, src.len) == 0;
  int64_t dexp = -1;
  if (!same) {
    rc = get_list(c, dst, &dv, &dcoll);
    if (rc < 0) return -1;
    if (rc == 0)
      cairn_coll_init(cairn_ctx_store(c), &dcoll);
    else
      dexp = dv.expire_ms;
  }
  cairn_buf tmp = {0};
  if (pop_one(c, &scoll, from, &tmp) < 0) goto fail;
  cairn_str e = {tmp.p ? tmp.p : "", tmp.len};
  cairn_coll *dc = same ? &scoll : &dcoll;
  if (push_elems(c, dc, to, &e, 1) < 0) goto fail;
  if (!same && cairn_coll_save(c, dst, CAIRN_TYPE_LIST, &dcoll, dexp) < 0) goto fail;
  if (cairn_coll_save(c, src, CAIRN_TYPE_LIST, &scoll, sv.expire_ms) < 0) goto fail;
  c->dirty++;
  cairn_signal_key_ready(c, dst);
  cairn_notify(c, CAIRN_NOTIFY_LIST, to == HEAD ? "lpush" : "rpush", dst);
  notify_popped(c, from, src, &scoll);
  cairn_reply_bulk(&c->reply, e.p, e.len);
  cairn_buf_free(&tmp);
  return 1;
fail:
  cairn_buf_free(&tmp);
  return -1;
}

static void cmd_lmove(cairn_ctx *c) {
  int from, to;
  if (where_arg(c->argv[3], &from) != 0 || where_arg(c->argv[4], &to) != 0) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  if (move_one(c, c->argv[1], c->argv[2], from, to) == 0) cairn_reply_null(&c->reply);
}

static void cmd_rpoplpush(cairn_ctx *c) {
  if (move_one(c, c->argv[1], c->argv[2], TAIL, HEAD) == 0) cairn_reply_null(&c->reply);
}

/* ---------------------------------------------------------------- blocking */

static void propagate_pop(cairn_ctx *c, int where, cairn_str key, long long count) {
  char num[24];
  cairn_str argv[3] = {{where == HEAD ? "LPOP" : "RPOP", 4}, key, {num, 0}};
  int argc = 2;
  if (count >= 0) {
    argv[2].len = cairn_ll2str(num, count);
    argc = 3;
  }
  cairn_propagate(c, c->db, argc, argv);
  c->custom_propagation = 1;
}

/* Pops from the first non-empty list of keys: BLPOP/BRPOP (count < 0: reply
 * [key, element]) and LMPOP/BLMPOP (count >= 1: [key, [elements]]). Returns
 * 1 served, 0 all empty (nothing replied), -1 replied an error. */
static int pop_first(cairn_ctx *c, const cairn_str *keys, int nkeys, int where, long long count) {
  /* Woken by one of the keys becoming ready: that key first, like Redis 7.0
   * (then the others in order, if it is empty by now). */
  int first = -1;
  cairn_str woken;
  if (cairn_blocking_woken_key(c, &woken)) {
    for (int j = 0; j < nkeys && first < 0; j++)
      if (keys[j].len == woken.len && memcmp(keys[j].p, woken.p, woken.len) == 0) first = j;
  }
  for (int t = first < 0 ? 0 : -1; t < nkeys; t++) {
    int j = t < 0 ? first : t;
    if (t >= 0 && t == first) continue;
    cairn_value v;
    cairn_coll coll;
    int rc = get_list(c, keys[j], &v, &coll);
    if (rc < 0) return -1;
    if (rc == 0 || coll.count == 0) continue;
    long long n = 1;
    if (count < 0) {
      cairn_buf tmp = {0};
      if (pop_one(c, &coll, where, &tmp) < 0) {
        cairn_buf_free(&tmp);
        return -1;
      }
      cairn_reply_array(&c->reply, 2);
      cairn_reply_bulk(&c->reply, keys[j].p, keys[j].len);
      cairn_reply_bulk(&c->reply, tmp.p ? tmp.p : "", tmp.len);
      cairn_buf_free(&tmp);
    } else {
      n = (uint64_t)count > coll.count ? (long long)coll.count : count;
      cairn_reply_array(&c->reply, 2);
      cairn_reply_bulk(&c->reply, keys[j].p, keys[j].len);
      if (pop_range_reply(c, &coll, where, (uint64_t)n) < 0) return -1;
    }
    if (cairn_coll_save(c, keys[j], CAIRN_TYPE_LIST, &coll, v.expire_ms) < 0) return -1;
    c->dirty += n;
    propagate_pop(c, where, keys[j], count < 0 ? -1 : n);
    notify_popped(c, where, keys[j], &coll);
    return 1;
  }
  return 0;
}

static void bpop_generic(cairn_ctx *c, int where) {
  int64_t timeout;
  if (cairn_arg_timeout(c, c->argv[c->argc - 1], &timeout) != 0) return;
  int nkeys = c->argc - 2;
  if (pop_first(c, c->argv + 1, nkeys, where, -1) != 0) return;
  if (!cairn_can_block(c)) {
    cairn_reply_null_array(&c->reply);
    return;
  }
  cairn_block_for_keys(c, c->argv + 1, nkeys, timeout);
}

static void cmd_blpop(cairn_ctx *c) { bpop_generic(c, HEAD); }
static void cmd_brpop(cairn_ctx *c) { bpop_generic(c, TAIL); }

/* BLMOVE/BRPOPLPUSH: propagated as LMOVE/RPOPLPUSH. */
static void bmove_generic(cairn_ctx *c, int from, int to, int64_t timeout, int is_lmove) {
  cairn_str src = c->argv[1], dst = c->argv[2];
  int rc = move_one(c, src, dst, from, to);
  if (rc < 0) return;
  if (rc == 1) {
    if (is_lmove) {
      cairn_str argv[5] = {{"LMOVE", 5}, src, dst, {where_name(from), strlen(where_name(from))},
                           {where_name(to), strlen(where_name(to))}};
      cairn_propagate(c, c->db, 5, argv);
    } else {
      cairn_str argv[3] = {{"RPOPLPUSH", 9}, src, dst};
      cairn_propagate(c, c->db, 3, argv);
    }
    c->custom_propagation = 1;
    return;
  }
  if (!cairn_can_block(c)) {
    cairn_reply_null(&c->reply);
    return;
  }
  cairn_block_for_keys(c, &src, 1, timeout);
}

static void cmd_blmove(cairn_ctx *c) {
  int from, to;
  int64_t timeout;
  if (where_arg(c->argv[3], &from) != 0 || where_arg(c->argv[4], &to) != 0) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  if (cairn_arg_timeout(c, c->argv[5], &timeout) != 0) return;
  bmove_generic(c, from, to, timeout, 1);
}

static void cmd_brpoplpush(cairn_ctx *c) {
  int64_t timeout;
  if (cairn_arg_timeout(c, c->argv[3], &timeout) != 0) return;
  bmove_generic(c, TAIL, HEAD, timeout, 0);
}

/* LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count], at argv[first]. */
static void mpop_generic(cairn_ctx *c, int first, int blocking) {
  int64_t timeout = 0;
  long long numkeys, count = -1;
  if (!cairn_str2ll(c->argv[first].p, c->argv[first].len, &numkeys) || numkeys < 1) {
    cairn_reply_error(&c->reply, "numkeys should be greater than 0");
    return;
  }
  if (numkeys >= c->argc) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  long long where_idx = first + numkeys + 1;
  if (where_idx >= c->argc) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  int where;
  if (where_arg(c->argv[where_idx], &where) != 0) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  for (long long j = where_idx + 1; j < c->argc; j++) {
    int more = j + 1 < c->argc;
    if (count == -1 && cairn_arg_is(c->argv[j], "count") && more) {
      j++;
      if (!cairn_str2ll(c->argv[j].p, c->argv[j].len, &count) || count < 1) {
        cairn_reply_error(&c->reply, "count should be greater than 0");
        return;
      }
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if (count == -1) count = 1;
  if (blocking && cairn_arg_timeout(c, c->argv[1], &timeout) != 0) return;
  const cairn_str *keys = c->argv + first + 1;
  int rc = pop_first(c, keys, (int)numkeys, where, count);
  if (rc != 0) return;
  if (!blocking || !cairn_can_block(c)) {
    cairn_reply_null_array(&c->reply);
    return;
  }
  cairn_block_for_keys(c, keys, (int)numkeys, timeout);
}

static void cmd_lmpop(cairn_ctx *c) { mpop_generic(c, 1, 0); }
static void cmd_blmpop(cairn_ctx *c) { mpop_generic(c, 2, 1); }

/* ---------------------------------------------------------------- table */

const cairn_command cairn_commands_list[] = {
    CAIRN_CMD("lpush", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_lpush, "list",
              "Prepend one or multiple elements to a list", "1.0.0", "key element [element ...]"),
    CAIRN_CMD("rpush", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_rpush, "list",
              "Append one or multiple elements to a list", "1.0.0", "key element [element ...]"),
    CAIRN_CMD("lpushx", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_lpushx, "list",
              "Prepend an element to a list, only if the list exists", "2.2.0", "key element [element ...]"),
    CAIRN_CMD("rpushx", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_rpushx, "list",
              "Append an element to a list, only if the list exists", "2.2.0", "key element [element ...]"),
    CAIRN_CMD("lpop", -2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_lpop, "list",
              "Remove and get the first elements in a list", "1.0.0", "key [count]"),
    CAIRN_CMD("rpop", -2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_rpop, "list",
              "Remove and get the last elements in a list", "1.0.0", "key [count]"),
    CAIRN_CMD("llen", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_llen, "list", "Get the length of a list", "1.0.0",
              "key"),
    CAIRN_CMD("lindex", 3, CAIRN_F_READ, 1, 1, 1, cmd_lindex, "list", "Get an element from a list by its index",
              "1.0.0", "key index"),
    CAIRN_CMD("lset", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_lset, "list",
              "Set the value of an element in a list by its index", "1.0.0", "key index element"),
    CAIRN_CMD("lrange", 4, CAIRN_F_READ, 1, 1, 1, cmd_lrange, "list", "Get a range of elements from a list", "1.0.0",
              "key start stop"),
    CAIRN_CMD("ltrim", 4, CAIRN_F_WRITE, 1, 1, 1, cmd_ltrim, "list", "Trim a list to the specified range", "1.0.0",
              "key start stop"),
    CAIRN_CMD("linsert", 5, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_linsert, "list",
              "Insert an element before or after another element in a list", "2.2.0", "key BEFORE|AFTER pivot element"),
    CAIRN_CMD("lrem", 4, CAIRN_F_WRITE, 1, 1, 1, cmd_lrem, "list", "Remove elements from a list", "1.0.0",
              "key count element"),
    CAIRN_CMD("lpos", -3, CAIRN_F_READ, 1, 1, 1, cmd_lpos, "list", "Return the index of matching elements on a list",
              "6.0.6", "key element [RANK rank] [COUNT num-matches] [MAXLEN len]"),
    CAIRN_CMD("lmove", 5, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 2, 1, cmd_lmove, "list",
              "Pop an element from a list, push it to another list and return it", "6.2.0",
              "source destination LEFT|RIGHT LEFT|RIGHT"),
    CAIRN_CMD("rpoplpush", 3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 2, 1, cmd_rpoplpush, "list",
              "Remove the last element in a list, prepend it to another list and return it", "1.2.0",
              "source destination"),
    CAIRN_CMD("lmpop", -4, CAIRN_F_WRITE, 0, 0, 0, cmd_lmpop, "list", "Pop elements from a list", "7.0.0",
              "numkeys key [key ...] LEFT|RIGHT [COUNT count]"),
    CAIRN_CMD("blpop", -3, CAIRN_F_WRITE | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_BLOCKING, 1, -2, 1, cmd_blpop, "list",
              "Remove and get the first element in a list, or block until one is available", "2.0.0",
              "key [key ...] timeout"),
    CAIRN_CMD("brpop", -3, CAIRN_F_WRITE | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_BLOCKING, 1, -2, 1, cmd_brpop, "list",
              "Remove and get the last element in a list, or block until one is available", "2.0.0",
              "key [key ...] timeout"),
    CAIRN_CMD("blmove", 6, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_BLOCKING, 1, 2, 1,
              cmd_blmove, "list",
              "Pop an element from a list, push it to another list and return it; or block until one is available",
              "6.2.0", "source destination LEFT|RIGHT LEFT|RIGHT timeout"),
    CAIRN_CMD("brpoplpush", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_BLOCKING, 1, 2, 1,
              cmd_brpoplpush, "list",
              "Pop an element from a list, push it to another list and return it; or block until one is available",
              "2.2.0", "source destination timeout"),
    CAIRN_CMD("blmpop", -5, CAIRN_F_WRITE | CAIRN_CMD_BLOCKING, 0, 0, 0, cmd_blmpop, "list",
              "Pop elements from a list, or block until one is available", "7.0.0",
              "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]"),
    CAIRN_CMD_END,
};
