/* Generic key-space commands: DEL UNLINK EXISTS TYPE TOUCH, the EXPIRE family
 * and TTL family, PERSIST, RENAME(NX), COPY, MOVE, KEYS, SCAN, RANDOMKEY,
 * DBSIZE, FLUSHDB, FLUSHALL, SWAPDB.
 *
 * Replies and errors follow Redis 7.0 byte for byte. The store orders keys by
 * a 64-bit hash inside each db, so a SCAN cursor is "the next hash to visit":
 * it survives restarts and never misses a key that exists for the whole
 * iteration.
 *
 * Values: a string is one store entry. A collection (list, set, zset, hash)
 * is a key whose payload is a small header naming a collection id, its
 * members being entries of their own (engine/store.h): RENAME and MOVE hand
 * the same header to the new key and drop the old key with
 * cairn_store_del_keep (O(1), no member is touched); COPY gives the copy a
 * fresh id and copies every member (O(n)); DEL, UNLINK, expiry and
 * overwrites retire the id, and big collections are removed by the sweeper
 * in the background (O(1) in the command).
 *
 * OBJECT, DUMP, RESTORE (engine/cmd/dump.c) and SORT (engine/cmd/sort.c)
 * live in their own files; their handlers are listed in this table. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/cmd/generic.h"
#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/tracking.h"
#include "engine/blocking.h"
#include "engine/util.h"

#define ERR_SAMEOBJ "source and destination objects are the same"
#define ERR_NOKEY "no such key"
#define ERR_DBRANGE "DB index is out of range"

/* ---------------------------------------------------------------- helpers */

/* A list or sorted set appeared under key (in db): clients blocked on it
 * (BLPOP, BZPOPMIN...) may be served. */
static void signal_new_value(cairn_ctx *c, int db, cairn_str key, uint8_t type) {
  if (type != CAIRN_TYPE_LIST && type != CAIRN_TYPE_ZSET) return;
  int saved = c->db;
  c->db = db;
  cairn_signal_key_ready(c, key);
  c->db = saved;
}

static const char *type_name(int found, uint8_t type) {
  if (!found) return "none";
  switch (type) {
    case CAIRN_TYPE_STRING: return "string";
    case CAIRN_TYPE_LIST: return "list";
    case CAIRN_TYPE_SET: return "set";
    case CAIRN_TYPE_ZSET: return "zset";
    case CAIRN_TYPE_HASH: return "hash";
    case CAIRN_TYPE_STREAM: return "stream";
    default: return "unknown";
  }
}

static int same_bytes(cairn_str a, cairn_str b) { return a.len == b.len && memcmp(a.p, b.p, a.len) == 0; }

/* Length of an argument as a C string (Redis compares options with strcasecmp
 * and formats them with %s: both stop at the first NUL). */
static int cstr_len(cairn_str a) {
  const char *z = memchr(a.p, 0, a.len);
  size_t n = z ? (size_t)(z - a.p) : a.len;
  return n > INT_MAX ? INT_MAX : (int)n;
}

/* strcasecmp semantics against an argument that may hold NUL bytes. */
static int cstr_is(cairn_str a, const char *lit) {
  cairn_str t = {a.p, (size_t)cstr_len(a)};
  return cairn_arg_is(t, lit);
}

/* Redis's getIntFromObjectOrReply: msg replaces both errors when given. */
static int arg_int(cairn_ctx *c, cairn_str a, int *out, const char *msg) {
  long long v;
  if (cairn_arg_ll_msg(c, a, &v, msg) != 0) return -1;
  if (v < INT_MIN || v > INT_MAX) {
    if (msg)
      cairn_reply_error(&c->reply, msg);
    else
      cairn_reply_errorf(&c->reply, "value is out of range, value must between %d and %d", INT_MIN, INT_MAX);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int db_valid(cairn_ctx *c, int id) { return id >= 0 && id < cairn_store_databases(cairn_ctx_store(c)); }

/* cairn_lookup in another db (lazy expiry and its DEL go to that db). */
static int lookup_in(cairn_ctx *c, int db, cairn_str key, cairn_value *out) {
  int saved = c->db;
  c->db = db;
  int rc = cairn_lookup(c, key, out);
  c->db = saved;
  return rc;
}

/* A value copied out of the store (store pointers die at the next write). */
typedef struct owned_value {
  uint8_t type;
  int64_t expire_ms;
  char *data;
  size_t len;
} owned_value;

static void own(owned_value *o, const cairn_value *v) {
  o->type = v->type;
  o->expire_ms = v->expire_ms;
  o->len = v->len;
  o->data = cairn_xmalloc(v->len ? v->len : 1);
  if (v->len) memcpy(o->data, v->data, v->len);
}

/* Writes a copied value under key in db, replacing what is there. 0 or -1
 * (store error recorded). */
static int put_owned(cairn_ctx *c, int db, cairn_str key, const owned_value *o) {
  int rc = cairn_store_put(cairn_ctx_store(c), db, key, o->type, o->data, o->len, o->expire_ms);
  if (rc < 0) return cairn_store_failed(c, rc);
  /* Redis deletes what dst held and adds the key anew: always 'new'. */
  cairn_notify_db(c, db, CAIRN_NOTIFY_NEW, "new", key);
  return 0;
}

/* COPY (duplicate = 1) and MOVE (duplicate = 0): src (in the current db) to
 * dst in dst_db, TTL and type kept. Returns 1 copied, 0 not (src missing, or
 * dst exists and !replace), -1 after a store error.
 *
 * A collection copied by COPY gets a fresh id and its members are copied
 * (O(n) in the members); MOVE hands the same header over (O(1)): the caller
 * then drops src with cairn_store_del_keep. */
static int copy_key(cairn_ctx *c, cairn_str src, int dst_db, cairn_str dst, int replace, int duplicate,
                    uint8_t *type_out) {
  cairn_value v;
  int rc = cairn_lookup(c, src, &v);
  if (rc <= 0) return rc;
  owned_value o;
  own(&o, &v);
  rc = lookup_in(c, dst_db, dst, &v);
  if (rc == 0 || (rc == 1 && replace)) {
    cairn_coll coll;
    cairn_value ov = {o.type, o.expire_ms, o.data, o.len};
    if (duplicate && cairn_type_is_coll(o.type) && cairn_coll_decode(&ov, &coll) == 0) {
      cairn_store *s = cairn_ctx_store(c);
      cairn_coll src_coll = coll;
      uint64_t from = coll.id;
      cairn_coll_init(s, &coll);
      coll.count = src_coll.count; /* same members, same list positions */
      coll.head = src_coll.head;
      int src_rc = cairn_coll_copy(s, from, coll.id);
      if (src_rc < 0) rc = cairn_store_failed(c, src_rc);
      else if ((src_rc = cairn_coll_put(s, dst_db, dst, o.type, &coll, o.expire_ms)) < 0)
        rc = cairn_store_failed(c, src_rc);
      else
        rc = 1;
      if (rc == 1) cairn_notify_db(c, dst_db, CAIRN_NOTIFY_NEW, "new", dst);
    } else {
      rc = put_owned(c, dst_db, dst, &o) == 0 ? 1 : -1;
    }
  } else if (rc == 1) {
    rc = 0;
  }
  if (rc == 1) c->dirty++;
  *type_out = o.type;
  free(o.data);
  return rc;
}

/* ---------------------------------------------------------------- DEL, EXISTS, TYPE, TOUCH */

static void del_generic(cairn_ctx *c) {
  long long n = 0;
  for (int j = 1; j < c->argc; j++) {
    cairn_value v;
    int rc = cairn_lookup(c, c->argv[j], &v); /* expired keys die here (and are not counted) */
    if (rc < 0) return;
    if (rc == 0) continue;
    rc = cairn_store_del(cairn_ctx_store(c), c->db, c->argv[j]);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    if (rc > 0) {
      c->dirty++;
      n++;
      cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", c->argv[j]);
    }
  }
  cairn_reply_int(&c->reply, n);
}

static void cmd_del(cairn_ctx *c) { del_generic(c); }
static void cmd_unlink(cairn_ctx *c) { del_generic(c); }

/* EXISTS and TOUCH: how many of the arguments exist (repeats count). */
static void count_existing(cairn_ctx *c) {
  long long n = 0;
  for (int j = 1; j < c->argc; j++) {
    cairn_value v;
    int rc = cairn_lookup(c, c->argv[j], &v);
    if (rc < 0) return;
    n += rc;
  }
  cairn_reply_int(&c->reply, n);
}

static void cmd_exists(cairn_ctx *c) { count_existing(c); }
static void cmd_touch(cairn_ctx *c) { count_existing(c); }

static void cmd_type(cairn_ctx *c) {
  cairn_value v;
  int rc = cairn_lookup(c, c->argv[1], &v);
  if (rc < 0) return;
  cairn_reply_status(&c->reply, type_name(rc, v.type));
}

/* ---------------------------------------------------------------- EXPIRE family */

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

/* basetime: 0 for the *AT forms, now otherwise; seconds: unit of argv[2]. */
static void expire_generic(cairn_ctx *c, int64_t basetime, int seconds) {
  cairn_str key = c->argv[1];
  int flags = 0;
  for (int j = 3; j < c->argc; j++) {
    cairn_str a = c->argv[j];
    if (cstr_is(a, "nx"))
      flags |= EXP_NX;
    else if (cstr_is(a, "xx"))
      flags |= EXP_XX;
    else if (cstr_is(a, "gt"))
      flags |= EXP_GT;
    else if (cstr_is(a, "lt"))
      flags |= EXP_LT;
    else {
      cairn_reply_errorf(&c->reply, "Unsupported option %.*s", cstr_len(a), a.p);
      return;
    }
  }
  if ((flags & EXP_NX) && (flags & (EXP_XX | EXP_GT | EXP_LT))) {
    cairn_reply_error(&c->reply, "NX and XX, GT or LT options at the same time are not compatible");
    return;
  }
  if ((flags & EXP_GT) && (flags & EXP_LT)) {
    cairn_reply_error(&c->reply, "GT and LT options at the same time are not compatible");
    return;
  }
  long long when;
  if (cairn_arg_ll(c, c->argv[2], &when) != 0) return;
  /* Negative times are allowed (they delete); only overflow is an error. */
  if (seconds) {
    if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
      cairn_reply_errorf(&c->reply, "invalid expire time in '%s' command", c->cmd->name);
      return;
    }
    when *= 1000;
  }
  if (when > LLONG_MAX - basetime) {
    cairn_reply_errorf(&c->reply, "invalid expire time in '%s' command", c->cmd->name);
    return;
  }
  when += basetime;

  cairn_value v;
  int rc = cairn_lookup(c, key, &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  int64_t cur = v.expire_ms;
  /* A key without a TTL counts as an infinite TTL for GT and LT. */
  if (((flags & EXP_NX) && cur != -1) || ((flags & EXP_XX) && cur == -1) ||
      ((flags & EXP_GT) && (cur == -1 || when <= cur)) || ((flags & EXP_LT) && cur != -1 && when >= cur)) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  if (cairn_expire_key_at(c, key, when) != 0) return;
  cairn_reply_int(&c->reply, 1);
}

static void cmd_expire(cairn_ctx *c) { expire_generic(c, c->now_ms, 1); }
static void cmd_pexpire(cairn_ctx *c) { expire_generic(c, c->now_ms, 0); }
static void cmd_expireat(cairn_ctx *c) { expire_generic(c, 0, 1); }
static void cmd_pexpireat(cairn_ctx *c) { expire_generic(c, 0, 0); }

/* TTL PTTL EXPIRETIME PEXPIRETIME. */
static void ttl_generic(cairn_ctx *c, int ms, int absolute) {
  cairn_value v;
  int rc = cairn_lookup(c, c->argv[1], &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, -2);
    return;
  }
  if (v.expire_ms == -1) {
    cairn_reply_int(&c->reply, -1);
    return;
  }
  long long t = absolute ? v.expire_ms : v.expire_ms - c->now_ms;
  if (t < 0) t = 0;
  /* Rounded to the nearest second, computed without overflow (t + 500 can
   * exceed LLONG_MAX; Redis's build yields the exact value there too). */
  cairn_reply_int(&c->reply, ms ? t : (long long)(((unsigned long long)t + 500) / 1000));
}

static void cmd_ttl(cairn_ctx *c) { ttl_generic(c, 0, 0); }
static void cmd_pttl(cairn_ctx *c) { ttl_generic(c, 1, 0); }
static void cmd_expiretime(cairn_ctx *c) { ttl_generic(c, 0, 1); }
static void cmd_pexpiretime(cairn_ctx *c) { ttl_generic(c, 1, 1); }

static void cmd_persist(cairn_ctx *c) {
  cairn_value v;
  int rc = cairn_lookup(c, c->argv[1], &v);
  if (rc < 0) return;
  if (rc == 0 || v.expire_ms == -1) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  if (cairn_persist_key(c, c->argv[1]) != 0) return;
  cairn_reply_int(&c->reply, 1);
}

/* ---------------------------------------------------------------- RENAME, COPY, MOVE */

static void rename_generic(cairn_ctx *c, int nx) {
  cairn_str src = c->argv[1], dst = c->argv[2];
  cairn_value v;
  int rc = cairn_lookup(c, src, &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_error(&c->reply, ERR_NOKEY);
    return;
  }
  if (same_bytes(src, dst)) {
    if (nx)
      cairn_reply_int(&c->reply, 0);
    else
      cairn_reply_ok(&c->reply);
    return;
  }
  owned_value o;
  own(&o, &v);
  rc = cairn_lookup(c, dst, &v);
  if (rc < 0) goto out;
  if (rc == 1 && nx) {
    cairn_reply_int(&c->reply, 0);
    goto out;
  }
  /* The value keeps its type and TTL; put replaces whatever dst held (a
   * collection there is retired). A collection's header moves as is: the
   * members stay where they are, src's entry goes without retiring them. */
  if (put_owned(c, c->db, dst, &o) != 0) goto out;
  rc = cairn_store_del_keep(cairn_ctx_store(c), c->db, src);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    goto out;
  }
  c->dirty++;
  signal_new_value(c, c->db, dst, o.type);
  cairn_notify(c, CAIRN_NOTIFY_GENERIC, "rename_from", src);
  cairn_notify(c, CAIRN_NOTIFY_GENERIC, "rename_to", dst);
  if (nx)
    cairn_reply_int(&c->reply, 1);
  else
    cairn_reply_ok(&c->reply);
out:
  free(o.data);
}

static void cmd_rename(cairn_ctx *c) { rename_generic(c, 0); }
static void cmd_renamenx(cairn_ctx *c) { rename_generic(c, 1); }

/* COPY source destination [DB destination-db] [REPLACE] */
static void cmd_copy(cairn_ctx *c) {
  int replace = 0, dst_db = c->db;
  for (int j = 3; j < c->argc; j++) {
    int more = c->argc - j - 1;
    if (cstr_is(c->argv[j], "replace")) {
      replace = 1;
    } else if (cstr_is(c->argv[j], "db") && more >= 1) {
      int id;
      if (arg_int(c, c->argv[j + 1], &id, NULL) != 0) return;
      if (!db_valid(c, id)) {
        cairn_reply_error(&c->reply, ERR_DBRANGE);
        return;
      }
      dst_db = id;
      j++;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  cairn_str src = c->argv[1], dst = c->argv[2];
  if (dst_db == c->db && same_bytes(src, dst)) {
    cairn_reply_error(&c->reply, ERR_SAMEOBJ);
    return;
  }
  uint8_t type;
  int rc = copy_key(c, src, dst_db, dst, replace, 1, &type);
  if (rc == 1) {
    signal_new_value(c, dst_db, dst, type);
    cairn_notify_db(c, dst_db, CAIRN_NOTIFY_GENERIC, "copy_to", dst);
  }
  if (rc >= 0) cairn_reply_int(&c->reply, rc);
}

static void cmd_move(cairn_ctx *c) {
  int dst_db;
  if (arg_int(c, c->argv[2], &dst_db, NULL) != 0) return;
  if (!db_valid(c, dst_db)) {
    cairn_reply_error(&c->reply, ERR_DBRANGE);
    return;
  }
  if (dst_db == c->db) {
    cairn_reply_error(&c->reply, ERR_SAMEOBJ);
    return;
  }
  cairn_str key = c->argv[1];
  uint8_t type;
  int rc = copy_key(c, key, dst_db, key, 0, 0, &type);
  if (rc == 1 && (rc = cairn_store_del_keep(cairn_ctx_store(c), c->db, key)) < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  if (rc == 1) {
    signal_new_value(c, dst_db, key, type);
    cairn_notify(c, CAIRN_NOTIFY_GENERIC, "move_from", key);
    cairn_notify_db(c, dst_db, CAIRN_NOTIFY_GENERIC, "move_to", key);
  }
  if (rc >= 0) cairn_reply_int(&c->reply, rc);
}

/* ---------------------------------------------------------------- KEYS, SCAN, RANDOMKEY */

static int key_expired(cairn_ctx *c, const cairn_value *v) {
  return v->expire_ms >= 0 && v->expire_ms <= c->now_ms && !c->replaying;
}

static void cmd_keys(cairn_ctx *c) {
  cairn_str pat = c->argv[1];
  int all = pat.len == 1 && pat.p[0] == '*';
  cairn_store_iter *it;
  int rc = cairn_store_iter_open(cairn_ctx_store(c), c->db, 0, &it);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  /* KEYS only reads: replying straight from the iterator is safe (no store
   * write happens before the iterator is closed). Expired keys are hidden,
   * not deleted (like Redis). */
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  cairn_str k;
  cairn_value v;
  while ((rc = cairn_store_iter_next(it, &k, &v, NULL)) > 0) {
    if (!all && !cairn_glob_match(pat.p, pat.len, k.p, k.len, 0)) continue;
    if (key_expired(c, &v)) continue;
    cairn_reply_bulk(&c->reply, k.p, k.len);
    n++;
  }
  cairn_store_iter_close(it);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  cairn_reply_defer_array(&c->reply, mark, n);
}

typedef struct scan_item {
  size_t off, len; /* key bytes in the arena */
  uint8_t type;
  int64_t expire_ms;
} scan_item;

static void cmd_scan(cairn_ctx *c) {
  uint64_t cursor;
  if (cairn_arg_cursor(c, c->argv[1], &cursor) != 0) return;
  long long count = 10;
  cairn_str pat = {NULL, 0}, typ = {NULL, 0};
  int use_pat = 0, use_type = 0;
  for (int i = 2; i < c->argc;) {
    int left = c->argc - i;
    cairn_str a = c->argv[i];
    if (cstr_is(a, "count") && left >= 2) {
      if (cairn_arg_ll(c, c->argv[i + 1], &count) != 0) return;
      if (count < 1) {
        cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
        return;
      }
      i += 2;
    } else if (cstr_is(a, "match") && left >= 2) {
      pat = c->argv[i + 1];
      use_pat = !(pat.len == 1 && pat.p[0] == '*');
      i += 2;
    } else if (cstr_is(a, "type") && left >= 2) {
      typ = c->argv[i + 1];
      use_type = 1;
      i += 2;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }

  /* Collect about `count` keys from the cursor on, finishing every key that
   * shares the hash of the last one so the next cursor skips nothing. Keys are
   * copied: filtering may delete expired keys, which invalidates the
   * iterator's pointers. */
  cairn_store_iter *it;
  int rc = cairn_store_iter_open(cairn_ctx_store(c), c->db, cursor, &it);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  cairn_buf arena = {0};
  scan_item *items = NULL;
  size_t nitems = 0, cap = 0;
  uint64_t next = 0, last_hash = 0;
  long long visited = 0;
  cairn_str k;
  cairn_value v;
  uint64_t h;
  while ((rc = cairn_store_iter_next(it, &k, &v, &h)) > 0) {
    if (visited >= count && h != last_hash) {
      next = h; /* > last_hash >= cursor, hence never 0 */
      break;
    }
    visited++;
    last_hash = h;
    if (use_pat && !cairn_glob_match(pat.p, pat.len, k.p, k.len, 0)) continue;
    if (nitems == cap) {
      cap = cap ? cap * 2 : 16;
      items = cairn_xrealloc(items, cap * sizeof(*items));
    }
    items[nitems].off = arena.len;
    items[nitems].len = k.len;
    items[nitems].type = v.type;
    items[nitems].expire_ms = v.expire_ms;
    nitems++;
    cairn_buf_append(&arena, k.p, k.len);
  }
  cairn_store_iter_close(it);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    goto out;
  }

  /* Filter like Redis: type (an expired key reads as "none" and is deleted by
   * that lookup), then expiry (expired keys are deleted lazily). */
  size_t kept = 0;
  for (size_t i = 0; i < nitems; i++) {
    scan_item *e = &items[i];
    cairn_str key = {arena.p + e->off, e->len};
    int expired = e->expire_ms >= 0 && e->expire_ms <= c->now_ms;
    int gone = 0, keep = 1;
    if (use_type) {
      int found = 1;
      if (expired) {
        cairn_value tv;
        found = cairn_lookup(c, key, &tv);
        if (found < 0) goto out;
        gone = !found;
      }
      const char *tn = type_name(found, e->type);
      if (!(cstr_len(typ) == (int)strlen(tn) && strncasecmp(typ.p, tn, strlen(tn)) == 0)) keep = 0;
    }
    if (keep && expired && !gone) {
      cairn_value tv;
      int found = cairn_lookup(c, key, &tv);
      if (found < 0) goto out;
      if (!found) keep = 0;
    }
    if (keep) items[kept++] = *e;
  }

  cairn_reply_array(&c->reply, 2);
  char num[24];
  size_t n = cairn_ull2str(num, next);
  cairn_reply_bulk(&c->reply, num, n);
  cairn_reply_array(&c->reply, (long long)kept);
  for (size_t i = 0; i < kept; i++) cairn_reply_bulk(&c->reply, arena.p + items[i].off, items[i].len);
out:
  free(items);
  cairn_buf_free(&arena);
}

/* Finds the first key at or after `from`, wrapping to the start of the db.
 * Copies it into key (and its expiry into *exp). 1 found, 0 db empty, <0. */
static int key_at_or_after(cairn_ctx *c, uint64_t from, cairn_buf *key, int64_t *exp) {
  for (int pass = 0; pass < 2; pass++) {
    cairn_store_iter *it;
    int rc = cairn_store_iter_open(cairn_ctx_store(c), c->db, pass ? 0 : from, &it);
    if (rc < 0) return rc;
    cairn_str k;
    cairn_value v;
    rc = cairn_store_iter_next(it, &k, &v, NULL);
    if (rc > 0) {
      key->len = 0;
      cairn_buf_append(key, k.p, k.len);
      *exp = v.expire_ms;
    }
    cairn_store_iter_close(it);
    if (rc != 0) return rc;
  }
  return 0;
}

static void cmd_randomkey(cairn_ctx *c) {
  cairn_buf key = {0};
  int found = 0;
  /* Like Redis: a random key that turns out to be expired is deleted and
   * another one drawn; after 100 draws, walk the db for the first live key. */
  for (int tries = 0; tries < 100 && !found; tries++) {
    uint64_t from;
    cairn_random_bytes(&from, sizeof(from));
    int64_t exp;
    int rc = key_at_or_after(c, from, &key, &exp);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      goto out;
    }
    if (rc == 0) break; /* empty db */
    cairn_value v;
    if (exp < 0 || exp > c->now_ms || c->replaying) {
      found = 1;
      break;
    }
    rc = cairn_lookup(c, (cairn_str){key.p, key.len}, &v); /* deletes it, propagates DEL */
    if (rc < 0) goto out;
    found = rc;
  }
  if (!found && cairn_store_dbsize(cairn_ctx_store(c), c->db) > 0) {
    cairn_store_iter *it;
    int rc = cairn_store_iter_open(cairn_ctx_store(c), c->db, 0, &it);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      goto out;
    }
    cairn_str k;
    cairn_value v;
    while ((rc = cairn_store_iter_next(it, &k, &v, NULL)) > 0) {
      if (!key_expired(c, &v)) {
        key.len = 0;
        cairn_buf_append(&key, k.p, k.len);
        found = 1;
        break;
      }
    }
    cairn_store_iter_close(it);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      goto out;
    }
  }
  if (found)
    cairn_reply_bulk(&c->reply, key.p, key.len);
  else
    cairn_reply_null(&c->reply);
out:
  cairn_buf_free(&key);
}

/* ---------------------------------------------------------------- DBSIZE, FLUSH*, SWAPDB */

static void cmd_dbsize(cairn_ctx *c) {
  cairn_reply_int(&c->reply, (long long)cairn_store_dbsize(cairn_ctx_store(c), c->db));
}

static int flush_args_ok(cairn_ctx *c) {
  if (c->argc == 1 || (c->argc == 2 && (cstr_is(c->argv[1], "sync") || cstr_is(c->argv[1], "async"))))
    return 1;
  cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
  return 0;
}

/* O(1): the db gets a fresh physical id; the cron sweeps the old one. Always
 * propagated, even on an empty db (like Redis). */
static void cmd_flushdb(cairn_ctx *c) {
  if (!flush_args_ok(c)) return;
  int rc = cairn_store_flushdb(cairn_ctx_store(c), c->db);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  cairn_tracking_flush(c);
  c->dirty++;
  cairn_reply_ok(&c->reply);
}

static void cmd_flushall(cairn_ctx *c) {
  if (!flush_args_ok(c)) return;
  cairn_store *s = cairn_ctx_store(c);
  int n = cairn_store_databases(s);
  for (int db = 0; db < n; db++) {
    int rc = cairn_store_flushdb(s, db);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
  }
  cairn_tracking_flush(c);
  c->dirty++;
  cairn_reply_ok(&c->reply);
}

static void cmd_swapdb(cairn_ctx *c) {
  int a, b;
  if (arg_int(c, c->argv[1], &a, "invalid first DB index") != 0) return;
  if (arg_int(c, c->argv[2], &b, "invalid second DB index") != 0) return;
  if (!db_valid(c, a) || !db_valid(c, b)) {
    cairn_reply_error(&c->reply, ERR_DBRANGE);
    return;
  }
  if (a != b) {
    int rc = cairn_store_swapdb(cairn_ctx_store(c), a, b);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    /* Clients blocked on a key that the swap brought in wake up (Redis 7.0). */
    cairn_signal_db_ready(c, a);
    cairn_signal_db_ready(c, b);
  }
  c->dirty++;
  cairn_reply_ok(&c->reply);
}

/* ---------------------------------------------------------------- table */

const cairn_command cairn_commands_keys[] = {
    CAIRN_CMD("del", -2, CAIRN_F_WRITE, 1, -1, 1, cmd_del, "generic", "Delete a key.", "1.0.0", "key [key ...]"),
    CAIRN_CMD("unlink", -2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, -1, 1, cmd_unlink, "generic",
              "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", "4.0.0",
              "key [key ...]"),
    CAIRN_CMD("exists", -2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, -1, 1, cmd_exists, "generic",
              "Determine if a key exists.", "1.0.0", "key [key ...]"),
    CAIRN_CMD("type", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_type, "generic",
              "Determine the type stored at key.", "1.0.0", "key"),
    CAIRN_CMD("touch", -2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, -1, 1, cmd_touch, "generic",
              "Alters the last access time of a key(s). Returns the number of existing keys specified.", "3.2.1",
              "key [key ...]"),
    CAIRN_CMD("expire", -3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_expire, "generic",
              "Set a key's time to live in seconds.", "1.0.0", "key seconds [NX|XX|GT|LT]"),
    CAIRN_CMD("pexpire", -3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_pexpire, "generic",
              "Set a key's time to live in milliseconds.", "2.6.0", "key milliseconds [NX|XX|GT|LT]"),
    CAIRN_CMD("expireat", -3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_expireat, "generic",
              "Set the expiration for a key as a UNIX timestamp.", "1.2.0", "key unix-time-seconds [NX|XX|GT|LT]"),
    CAIRN_CMD("pexpireat", -3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_pexpireat, "generic",
              "Set the expiration for a key as a UNIX timestamp specified in milliseconds.", "2.6.0",
              "key unix-time-milliseconds [NX|XX|GT|LT]"),
    CAIRN_CMD("ttl", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_ttl, "generic",
              "Get the time to live for a key in seconds.", "1.0.0", "key"),
    CAIRN_CMD("pttl", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_pttl, "generic",
              "Get the time to live for a key in milliseconds.", "2.6.0", "key"),
    CAIRN_CMD("expiretime", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_expiretime, "generic",
              "Get the expiration Unix timestamp for a key.", "7.0.0", "key"),
    CAIRN_CMD("pexpiretime", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_pexpiretime, "generic",
              "Get the expiration Unix timestamp for a key in milliseconds.", "7.0.0", "key"),
    CAIRN_CMD("persist", 2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_persist, "generic",
              "Remove the expiration from a key.", "2.2.0", "key"),
    CAIRN_CMD("rename", 3, CAIRN_F_WRITE, 1, 2, 1, cmd_rename, "generic", "Rename a key.", "1.0.0", "key newkey"),
    CAIRN_CMD("renamenx", 3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 2, 1, cmd_renamenx, "generic",
              "Rename a key, only if the new key does not exist.", "1.0.0", "key newkey"),
    CAIRN_CMD("copy", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 2, 1, cmd_copy, "generic", "Copy a key.", "6.2.0",
              "source destination [DB destination-db] [REPLACE]"),
    CAIRN_CMD("move", 3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_move, "generic",
              "Move a key to another database.", "1.0.0", "key db"),
    CAIRN_CMD("keys", 2, CAIRN_F_READ, 0, 0, 0, cmd_keys, "generic", "Find all keys matching the given pattern.",
              "1.0.0", "pattern"),
    CAIRN_CMD("scan", -2, CAIRN_F_READ, 0, 0, 0, cmd_scan, "generic", "Incrementally iterate the keys space.", "2.8.0",
              "cursor [MATCH pattern] [COUNT count] [TYPE type]"),
    CAIRN_CMD("randomkey", 1, CAIRN_F_READ, 0, 0, 0, cmd_randomkey, "generic", "Return a random key from the keyspace.",
              "1.0.0", ""),
    CAIRN_CMD("dbsize", 1, CAIRN_F_READ | CAIRN_CMD_FAST, 0, 0, 0, cmd_dbsize, "server",
              "Return the number of keys in the selected database", "1.0.0", ""),
    CAIRN_CMD("flushdb", -1, CAIRN_F_WRITE, 0, 0, 0, cmd_flushdb, "server", "Remove all keys from the current database",
              "1.0.0", "[ASYNC|SYNC]"),
    CAIRN_CMD("flushall", -1, CAIRN_F_WRITE, 0, 0, 0, cmd_flushall, "server", "Remove all keys from all databases",
              "1.0.0", "[ASYNC|SYNC]"),
    CAIRN_CMD("swapdb", 3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 0, 0, 0, cmd_swapdb, "server", "Swaps two Redis databases",
              "4.0.0", "index1 index2"),
    CAIRN_CMD("object", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "generic",
              "A container for object introspection commands", "2.2.3", "", .subcommands = cairn_object_subcommands),
    CAIRN_CMD("dump", 2, CAIRN_F_READ, 1, 1, 1, cairn_cmd_dump, "generic",
              "Return a serialized version of the value stored at the specified key.", "2.6.0", "key"),
    CAIRN_CMD("restore", -4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cairn_cmd_restore, "generic",
              "Create a key using the provided serialized value, previously obtained using DUMP.", "2.6.0",
              "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]"),
    CAIRN_CMD("migrate", -6, CAIRN_F_WRITE, 3, 3, 1, cairn_cmd_migrate, "generic",
              "Atomically transfer a key from a Redis instance to another one.", "2.6.0",
              "host port key|\"\" destination-db timeout [COPY] [REPLACE] [AUTH password] "
              "[AUTH2 username password] [KEYS key [key ...]]"),
    CAIRN_CMD("sort", -2, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cairn_cmd_sort, "generic",
              "Sort the elements in a list, set or sorted set", "1.0.0",
              "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]"),
    CAIRN_CMD("sort_ro", -2, CAIRN_F_READ, 1, 1, 1, cairn_cmd_sort_ro, "generic",
              "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", "7.0.0",
              "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]"),
    CAIRN_CMD_END,
};
