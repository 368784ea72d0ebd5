/* SORT and SORT_RO on lists, sets and sorted sets, with Redis 7.0's rules:
 * numeric order by default (elements parsed with strtod; one that does not
 * parse fails the command), ALPHA for byte order, ASC/DESC, LIMIT, BY pattern
 * (weights read from other keys, "key->field" for a hash field; a pattern
 * without '*' means "do not sort"), GET patterns ("#" is the element), and
 * STORE into a new list.
 *
 * Cost: O(n + n log n) time and O(n) memory in the sorted key's members
 * (plus one lookup per element per BY/GET pattern), like Redis: sorting needs
 * every element. The "do not sort" forms on a list or a sorted set read only
 * the LIMIT range: a seek plus the range for a list, the skipped prefix plus
 * the range for a sorted set. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/acl.h"
#include "engine/cmd/generic.h"
#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/script.h"
#include "engine/pubsub.h"
#include "engine/blocking.h"
#include "engine/util.h"

typedef struct sort_item {
  size_t off, len;       /* element bytes in the arena */
  double score;
  long long cmp_off;     /* BY value (ALPHA) in the arena, -1 = none */
  size_t cmp_len;
} sort_item;

typedef struct sort_state {
  cairn_buf arena;
  sort_item *items;
  size_t n, cap;
  int desc, alpha, bypattern;
} sort_state;

static void add_item(sort_state *st, const char *p, size_t len) {
  if (st->n == st->cap) {
    st->cap = st->cap ? st->cap * 2 : 64;
    st->items = cairn_xrealloc(st->items, st->cap * sizeof(sort_item));
  }
  sort_item *it = &st->items[st->n++];
  it->off = st->arena.len;
  it->len = len;
  it->score = 0;
  it->cmp_off = -1;
  it->cmp_len = 0;
  /* the arena exists once there is an item, empty ones included: items
   * point into it (arena.p + off), and NULL + 0 is undefined behaviour */
  cairn_buf_reserve(&st->arena, len ? len : 1);
  cairn_buf_append(&st->arena, p, len);
}

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
  size_t m = al < bl ? al : bl;
  int r = m ? memcmp(a, b, m) : 0;
  if (r) return r;
  return al < bl ? -1 : al > bl ? 1 : 0;
}

static int sort_compare(const void *x, const void *y, void *ud) {
  const sort_state *st = ud;
  const sort_item *a = x, *b = y;
  const char *base = st->arena.p;
  int cmp;
  if (!st->alpha) {
    if (a->score > b->score)
      cmp = 1;
    else if (a->score < b->score)
      cmp = -1;
    else /* same score: the elements decide, so the order is deterministic */
      cmp = bytes_cmp(base + a->off, a->len, base + b->off, b->len);
  } else if (st->bypattern) {
    if (a->cmp_off < 0 || b->cmp_off < 0) /* a missing weight sorts first */
      cmp = (a->cmp_off < 0) == (b->cmp_off < 0) ? 0 : a->cmp_off < 0 ? -1 : 1;
    else
      cmp = bytes_cmp(base + a->cmp_off, a->cmp_len, base + b->cmp_off, b->cmp_len);
  } else {
    cmp = bytes_cmp(base + a->off, a->len, base + b->off, b->len);
  }
  return st->desc ? -cmp : cmp;
}

/* Redis's lookupKeyByPattern: "#" is the element itself; otherwise the first
 * '*' of the pattern is replaced by the element, and "->field" after it reads
 * a hash field. The value is appended to out. Returns 1 found, 0 not (missing
 * key, wrong type, no '*'), -1 after a store error. */
static int lookup_by_pattern(cairn_ctx *c, cairn_str pat, const char *elem, size_t elen, cairn_buf *out) {
  /* Redis handles patterns as C strings. */
  const char *z = memchr(pat.p, 0, pat.len);
  size_t plen = z ? (size_t)(z - pat.p) : pat.len;
  if (plen == 1 && pat.p[0] == '#') {
    cairn_buf_append(out, elem, elen);
    return 1;
  }
  const char *star = memchr(pat.p, '*', plen);
  if (!star) return 0;
  const char *field = NULL;
  size_t fieldlen = 0;
  const char *rest = star + 1;
  size_t restlen = plen - (size_t)(rest - pat.p);
  const char *arrow = restlen >= 2 ? memmem(rest, restlen, "->", 2) : NULL;
  if (arrow && arrow + 2 < pat.p + plen) {
    field = arrow + 2;
    fieldlen = (size_t)(pat.p + plen - field);
  }
  size_t prefixlen = (size_t)(star - pat.p);
  size_t postfixlen = plen - prefixlen - 1 - (field ? fieldlen + 2 : 0);
  cairn_buf key = {0};
  cairn_buf_append(&key, pat.p, prefixlen);
  cairn_buf_append(&key, elem, elen);
  cairn_buf_append(&key, rest, postfixlen);
  cairn_value v;
  int rc = cairn_lookup(c, (cairn_str){key.p, key.len}, &v);
  int found = 0;
  if (rc < 0) {
    found = -1;
  } else if (rc == 1) {
    if (field) {
      cairn_coll coll;
      if (v.type == CAIRN_TYPE_HASH && cairn_coll_decode(&v, &coll) == 0) {
        cairn_str fv;
        rc = cairn_elem_get(cairn_ctx_store(c), coll.id, CAIRN_SPACE_MEMBERS, field, fieldlen, &fv);
        if (rc < 0) {
          found = cairn_store_failed(c, rc);
        } else if (rc == 1) {
          cairn_buf_append(out, fv.p, fv.len);
          found = 1;
        }
      }
    } else if (v.type == CAIRN_TYPE_STRING) {
      cairn_buf_append(out, v.data, v.len);
      found = 1;
    }
  }
  cairn_buf_free(&key);
  return found;
}

/* Reads a list's or zset's elements in their own order (reversed for DESC),
 * skipping `start` and keeping at most `count` (< 0: all). */
static int load_ordered(cairn_ctx *c, uint8_t type, const cairn_coll *coll, int desc, long long start,
                        long long count, sort_state *st) {
  cairn_store *s = cairn_ctx_store(c);
  cairn_elem_iter *it;
  int rc;
  unsigned char from[8];
  int space = type == CAIRN_TYPE_ZSET ? CAIRN_SPACE_ZSCORE : CAIRN_SPACE_LIST;
  long long skip = start;
  if (type == CAIRN_TYPE_LIST) {
    /* positions are contiguous: seek straight to the first wanted one */
    uint64_t pos = desc ? coll->head + coll->count - 1 - (uint64_t)start : coll->head + (uint64_t)start;
    for (int i = 7; i >= 0; i--) {
      from[i] = (unsigned char)pos;
      pos >>= 8;
    }
    rc = cairn_elem_iter_open(s, coll->id, CAIRN_SPACE_LIST, from, 8, desc, &it);
    skip = 0;
  } else {
    rc = cairn_elem_iter_open(s, coll->id, space, NULL, 0, desc, &it);
  }
  if (rc < 0) return cairn_store_failed(c, rc);
  cairn_str sub, val;
  while ((count < 0 || (long long)st->n < count) && (rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    if (skip > 0) {
      skip--;
      continue;
    }
    if (type == CAIRN_TYPE_LIST)
      add_item(st, val.p, val.len);
    else if (sub.len >= 8)
      add_item(st, sub.p + 8, sub.len - 8);
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return cairn_store_failed(c, rc);
  return 0;
}

static int load_all(cairn_ctx *c, const cairn_coll *coll, uint8_t type, sort_state *st) {
  cairn_elem_iter *it;
  int space = type == CAIRN_TYPE_LIST ? CAIRN_SPACE_LIST : CAIRN_SPACE_MEMBERS;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), coll->id, space, NULL, 0, 0, &it);
  if (rc < 0) return cairn_store_failed(c, rc);
  cairn_str sub, val;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    if (type == CAIRN_TYPE_LIST)
      add_item(st, val.p, val.len);
    else
      add_item(st, sub.p, sub.len);
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return cairn_store_failed(c, rc);
  return 0;
}

static void sort_generic(cairn_ctx *c, int readonly) {
  long long limit_start = 0, limit_count = -1;
  int desc = 0, alpha = 0, dontsort = 0;
  cairn_str sortby = {NULL, 0}, storekey = {NULL, 0};
  int has_sortby = 0, has_store = 0;
  int *gets = NULL, getop = 0;
  for (int j = 2; j < c->argc; j++) {
    int left = c->argc - j - 1;
    cairn_str a = c->argv[j];
    if (cairn_arg_is(a, "asc")) {
      desc = 0;
    } else if (cairn_arg_is(a, "desc")) {
      desc = 1;
    } else if (cairn_arg_is(a, "alpha")) {
      alpha = 1;
    } else if (cairn_arg_is(a, "limit") && left >= 2) {
      if (cairn_arg_ll(c, c->argv[j + 1], &limit_start) != 0 || cairn_arg_ll(c, c->argv[j + 2], &limit_count) != 0)
        goto out;
      j += 2;
    } else if (!readonly && cairn_arg_is(a, "store") && left >= 1) {
      storekey = c->argv[++j];
      has_store = 1;
    } else if (cairn_arg_is(a, "by") && left >= 1) {
      sortby = c->argv[++j];
      has_sortby = 1;
      const char *z = memchr(sortby.p, 0, sortby.len);
      size_t l = z ? (size_t)(z - sortby.p) : sortby.len;
      dontsort = memchr(sortby.p, '*', l) == NULL;
      /* a pattern reads keys the ACL check did not see (Redis 7.0) */
      if (!dontsort && !cairn_acl_client_reads_any_key(c)) {
        cairn_reply_error(&c->reply, "BY option of SORT denied due to insufficient ACL permissions.");
        goto out;
      }
    } else if (cairn_arg_is(a, "get") && left >= 1) {
      if (!cairn_acl_client_reads_any_key(c)) {
        cairn_reply_error(&c->reply, "GET option of SORT denied due to insufficient ACL permissions.");
        goto out;
      }
      gets = cairn_xrealloc(gets, sizeof(int) * (size_t)(getop + 1));
      gets[getop++] = ++j;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      goto out;
    }
  }

  sort_state st = {0};
  cairn_buf val = {0};
  cairn_value v;
  cairn_coll coll = {0};
  int rc = cairn_lookup(c, c->argv[1], &v);
  if (rc < 0) goto out;
  uint8_t type = CAIRN_TYPE_LIST;
  if (rc == 1) {
    if (v.type != CAIRN_TYPE_LIST && v.type != CAIRN_TYPE_SET && v.type != CAIRN_TYPE_ZSET) {
      cairn_reply_error(&c->reply, CAIRN_ERR_WRONGTYPE);
      goto out;
    }
    type = v.type;
    if (cairn_coll_decode(&v, &coll) != 0) coll.count = 0;
  }
  /* A set has no order of its own: with STORE, or called by a script, sort
   * it (bytewise) so the result is the same everywhere (Redis's rule). */
  if (dontsort && type == CAIRN_TYPE_SET && (has_store || cairn_script_running(c->srv))) {
    dontsort = 0;
    alpha = 1;
    has_sortby = 0;
  }
  long long vectorlen = (long long)coll.count;
  long long start = limit_start < 0 ? 0 : limit_start;
  if (start > vectorlen) start = vectorlen;
  if (limit_count < -1) limit_count = -1;
  if (limit_count > vectorlen) limit_count = vectorlen;
  long long end = limit_count < 0 ? vectorlen - 1 : start + limit_count - 1;
  if (start >= vectorlen) {
    start = vectorlen - 1;
    end = vectorlen - 2;
  }
  if (end >= vectorlen) end = vectorlen - 1;

  if (rc == 1) {
    if (dontsort && (type == CAIRN_TYPE_LIST || type == CAIRN_TYPE_ZSET)) {
      if (end >= start) {
        if (load_ordered(c, type, &coll, desc, start, end - start + 1, &st) != 0) goto done;
        end -= start;
        start = 0;
      }
    } else if (load_all(c, &coll, type, &st) != 0) {
      goto done;
    }
  }

  int conversion_error = 0;
  if (!dontsort) {
    for (size_t j = 0; j < st.n; j++) {
      sort_item *it = &st.items[j];
      val.len = 0;
      if (has_sortby) {
        int f = lookup_by_pattern(c, sortby, st.arena.p + it->off, it->len, &val);
        if (f < 0) goto done;
        if (!f) continue;
      } else {
        cairn_buf_append(&val, st.arena.p + it->off, it->len);
      }
      if (alpha) {
        if (has_sortby) {
          /* appended to the arena: take the offsets before it may move */
          size_t off = st.arena.len;
          cairn_buf_append(&st.arena, val.p, val.len);
          it = &st.items[j];
          it->cmp_off = (long long)off;
          it->cmp_len = val.len;
        }
      } else {
        /* strtod on the value as a C string, like Redis */
        cairn_buf_append(&val, "", 1);
        char *eptr;
        errno = 0;
        it->score = strtod(val.p, &eptr);
        if (eptr[0] != '\0' || errno == ERANGE || isnan(it->score)) conversion_error = 1;
      }
    }
    st.desc = desc;
    st.alpha = alpha;
    st.bypattern = has_sortby;
    if (st.n > 1) qsort_r(st.items, st.n, sizeof(sort_item), sort_compare, &st);
  }

  long long outputlen = getop ? getop * (end - start + 1) : end - start + 1;
  if (conversion_error) {
    cairn_reply_error(&c->reply, "One or more scores can't be converted into double");
  } else if (!has_store) {
    /* The reply is built as we go: a lookup may delete an expired key, and
     * every value is copied into the reply before the next lookup. */
    cairn_reply_array(&c->reply, outputlen);
    for (long long j = start; j <= end; j++) {
      sort_item *it = &st.items[j];
      if (!getop) cairn_reply_bulk(&c->reply, st.arena.p + it->off, it->len);
      for (int g = 0; g < getop; g++) {
        val.len = 0;
        int f = lookup_by_pattern(c, c->argv[gets[g]], st.arena.p + it->off, it->len, &val);
        if (f < 0) goto done;
        if (f)
          cairn_reply_bulk(&c->reply, val.p, val.len);
        else
          cairn_reply_null(&c->reply);
      }
    }
  } else {
    cairn_store *s = cairn_ctx_store(c);
    cairn_coll out;
    cairn_coll_init(s, &out);
    out.count = 0;
    for (long long j = start; j <= end; j++) {
      sort_item *it = &st.items[j];
      for (int g = 0; g < (getop ? getop : 1); g++) {
        val.len = 0;
        if (!getop) {
          cairn_buf_append(&val, st.arena.p + it->off, it->len);
        } else {
          int f = lookup_by_pattern(c, c->argv[gets[g]], st.arena.p + it->off, it->len, &val);
          if (f < 0) goto done; /* a missing value is stored as "" */
        }
        unsigned char pos[8];
        uint64_t p = out.head + out.count;
        for (int i = 7; i >= 0; i--) {
          pos[i] = (unsigned char)p;
          p >>= 8;
        }
        rc = cairn_elem_put(s, out.id, CAIRN_SPACE_LIST, pos, 8, val.p ? val.p : "", val.len);
        if (rc < 0) {
          cairn_store_failed(c, rc);
          goto done;
        }
        out.count++;
      }
    }
    if (outputlen) {
      if (cairn_coll_save(c, storekey, CAIRN_TYPE_LIST, &out, -1) != 0) goto done;
      c->dirty += outputlen;
      cairn_signal_key_ready(c, storekey);
      cairn_notify(c, CAIRN_NOTIFY_LIST, "sortstore", storekey);
    } else {
      cairn_value dv;
      rc = cairn_lookup(c, storekey, &dv);
      if (rc < 0) goto done;
      if (rc == 1) {
        rc = cairn_store_del(s, c->db, storekey);
        if (rc < 0) {
          cairn_store_failed(c, rc);
          goto done;
        }
        c->dirty++;
        cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", storekey);
      }
    }
    cairn_reply_int(&c->reply, outputlen);
  }
done:
  free(st.items);
  cairn_buf_free(&st.arena);
  cairn_buf_free(&val);
out:
  free(gets);
}

void cairn_cmd_sort(cairn_ctx *c) { sort_generic(c, 0); }
void cairn_cmd_sort_ro(cairn_ctx *c) { sort_generic(c, 1); }
