/* String commands. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/util.h"

/* SET/GETEX time options, parsed once for both commands. */
enum {
  OPT_NX = 1 << 0,
  OPT_XX = 1 << 1,
  OPT_GET = 1 << 2,
  OPT_KEEPTTL = 1 << 3,
  OPT_PERSIST = 1 << 4,
  OPT_EX = 1 << 5,
  OPT_PX = 1 << 6,
  OPT_EXAT = 1 << 7,
  OPT_PXAT = 1 << 8,
};
#define OPT_TIME (OPT_EX | OPT_PX | OPT_EXAT | OPT_PXAT)

/* Parses [NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL|PERSIST] from argv[first..]
 * into flags and the time argument (not validated yet). Like Redis, repeating
 * the same option is accepted (the last time wins); two different time options
 * are a syntax error. `allowed` limits the options to those the command
 * accepts. Replies and returns -1 on error. */
static int parse_set_flags(cairn_ctx *c, int first, int allowed, int *flags, cairn_str *timearg) {
  *flags = 0;
  timearg->p = NULL;
  timearg->len = 0;
  for (int j = first; j < c->argc; j++) {
    cairn_str a = c->argv[j];
    int more = j + 1 < c->argc;
    int f = 0;
    if (cairn_arg_is(a, "nx") && !(*flags & OPT_XX))
      f = OPT_NX;
    else if (cairn_arg_is(a, "xx") && !(*flags & OPT_NX))
      f = OPT_XX;
    else if (cairn_arg_is(a, "get"))
      f = OPT_GET;
    else if (cairn_arg_is(a, "keepttl") && !(*flags & (OPT_TIME | OPT_PERSIST)))
      f = OPT_KEEPTTL;
    else if (cairn_arg_is(a, "persist") && !(*flags & (OPT_TIME | OPT_KEEPTTL)))
      f = OPT_PERSIST;
    else if (cairn_arg_is(a, "ex") && more && !(*flags & ((OPT_TIME & ~OPT_EX) | OPT_KEEPTTL | OPT_PERSIST)))
      f = OPT_EX;
    else if (cairn_arg_is(a, "px") && more && !(*flags & ((OPT_TIME & ~OPT_PX) | OPT_KEEPTTL | OPT_PERSIST)))
      f = OPT_PX;
    else if (cairn_arg_is(a, "exat") && more &&
             !(*flags & ((OPT_TIME & ~OPT_EXAT) | OPT_KEEPTTL | OPT_PERSIST)))
      f = OPT_EXAT;
    else if (cairn_arg_is(a, "pxat") && more &&
             !(*flags & ((OPT_TIME & ~OPT_PXAT) | OPT_KEEPTTL | OPT_PERSIST)))
      f = OPT_PXAT;
    if (!f || !(f & allowed)) {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return -1;
    }
    *flags |= f;
    if (f & OPT_TIME) *timearg = c->argv[++j];
  }
  return 0;
}

static void reply_bad_expire(cairn_ctx *c) {
  cairn_reply_errorf(&c->reply, "invalid expire time in '%s' command", c->cmd->name);
}

/* Redis's getExpireMillisecondsOrReply: the time argument of a command with
 * the given unit (OPT_EX/PX relative, OPT_EXAT/PXAT absolute) as absolute ms. */
static int expire_arg_ms(cairn_ctx *c, cairn_str arg, int unit, int64_t *when_ms) {
  long long v;
  if (cairn_arg_ll(c, arg, &v) != 0) return -1;
  if (v <= 0 || ((unit & (OPT_EX | OPT_EXAT)) && v > INT64_MAX / 1000)) {
    reply_bad_expire(c);
    return -1;
  }
  if (unit & (OPT_EX | OPT_EXAT)) v *= 1000;
  if (unit & (OPT_EX | OPT_PX)) {
    if (v > INT64_MAX - c->now_ms) {
      reply_bad_expire(c);
      return -1;
    }
    v += c->now_ms;
  }
  *when_ms = v;
  return 0;
}

/* Options and validated absolute expiry in ms (-1 = none), for SET. */
static int parse_set_options(cairn_ctx *c, int first, int allowed, int *flags, int64_t *when_ms) {
  cairn_str timearg;
  *when_ms = -1;
  if (parse_set_flags(c, first, allowed, flags, &timearg) != 0) return -1;
  if (*flags & OPT_TIME) return expire_arg_ms(c, timearg, *flags & OPT_TIME, when_ms);
  return 0;
}

/* Propagates "SET key value PXAT ms" (or the plain form) so that replicas and
 * replay never depend on the time they apply it. */
static void propagate_set(cairn_ctx *c, cairn_str key, cairn_str val, int64_t when_ms, int flags) {
  if (when_ms >= 0) {
    char ms[24];
    size_t n = cairn_ll2str(ms, when_ms);
    cairn_str argv[5] = {{"SET", 3}, key, val, {"PXAT", 4}, {ms, n}};
    cairn_propagate(c, c->db, 5, argv);
  } else if (flags & OPT_KEEPTTL) {
    cairn_str argv[4] = {{"SET", 3}, key, val, {"KEEPTTL", 7}};
    cairn_propagate(c, c->db, 4, argv);
  } else {
    cairn_str argv[3] = {{"SET", 3}, key, val};
    cairn_propagate(c, c->db, 3, argv);
  }
  c->custom_propagation = 1;
}

/* The body of SET, SETNX, SETEX, PSETEX, GETSET. Returns 1 if set. */
static int set_generic(cairn_ctx *c, cairn_str key, cairn_str val, int flags, int64_t when_ms, int reply_ok) {
  if (!(flags & (OPT_NX | OPT_XX | OPT_GET | OPT_KEEPTTL))) {
    int rc = cairn_key_put_blind(c, key, val, when_ms);
    if (rc < 0) return cairn_store_failed(c, rc);
    if (rc > 0) {
      c->dirty++;
      propagate_set(c, key, val, when_ms, flags);
      if (reply_ok) cairn_reply_ok(&c->reply);
      return 1;
    }
  }
  cairn_value old;
  int found = cairn_lookup(c, key, &old);
  if (found < 0) return -1;
  if ((flags & OPT_GET) && found && old.type != CAIRN_TYPE_STRING) {
    cairn_reply_error(&c->reply, CAIRN_ERR_WRONGTYPE);
    return -1;
  }
  if ((flags & OPT_NX && found) || (flags & OPT_XX && !found)) {
    if (flags & OPT_GET) {
      if (found)
        cairn_reply_bulk(&c->reply, old.data, old.len);
      else
        cairn_reply_null(&c->reply);
    } else if (reply_ok) {
      cairn_reply_null(&c->reply);
    }
    return 0;
  }
  if (flags & OPT_GET) {
    /* Reply before writing: old.data points into pages the put may reuse. */
    if (found)
      cairn_reply_bulk(&c->reply, old.data, old.len);
    else
      cairn_reply_null(&c->reply);
  }
  int64_t exp = when_ms;
  if ((flags & OPT_KEEPTTL) && found) exp = old.expire_ms;
  int rc = cairn_key_put(c, c->db, key, CAIRN_TYPE_STRING, val.p, val.len, exp);
  if (rc < 0) return cairn_store_failed(c, rc);
  c->dirty++;
  propagate_set(c, key, val, when_ms, flags);
  cairn_notify(c, CAIRN_NOTIFY_STRING, "set", key);
  if (when_ms >= 0) cairn_notify(c, CAIRN_NOTIFY_GENERIC, "expire", key);
  if (!(flags & OPT_GET) && reply_ok) cairn_reply_ok(&c->reply);
  return 1;
}

static void cmd_set(cairn_ctx *c) {
  int flags;
  int64_t when;
  if (parse_set_options(c, 3, OPT_NX | OPT_XX | OPT_GET | OPT_KEEPTTL | OPT_TIME, &flags, &when) != 0) return;
  set_generic(c, c->argv[1], c->argv[2], flags, when, 1);
}

static void cmd_get(cairn_ctx *c) {
  cairn_value v;
  int rc = cairn_lookup_type(c, c->argv[1], CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_null(&c->reply);
    return;
  }
  cairn_reply_bulk(&c->reply, v.data, v.len);
}

/* Redis's checkStringLength: a string may not grow beyond proto-max-bulk-len
 * (not enforced while applying the stream: the master already checked). */
static int check_string_length(cairn_ctx *c, long long size, long long append) {
  if (c->replaying) return 0;
  long long total = (long long)((uint64_t)size + (uint64_t)append);
  if (total > c->srv->cfg.proto_max_bulk_len || total < size || total < append) {
    cairn_reply_error(&c->reply, "string exceeds maximum allowed size (proto-max-bulk-len)");
    return -1;
  }
  return 0;
}

static void cmd_setnx(cairn_ctx *c) {
  int rc = set_generic(c, c->argv[1], c->argv[2], OPT_NX, -1, 0);
  if (rc >= 0) cairn_reply_int(&c->reply, rc);
}

/* SETEX key seconds value / PSETEX key milliseconds value. */
static void setex_generic(cairn_ctx *c, int unit) {
  int64_t when;
  if (expire_arg_ms(c, c->argv[2], unit, &when) != 0) return;
  set_generic(c, c->argv[1], c->argv[3], 0, when, 1);
}
static void cmd_setex(cairn_ctx *c) { setex_generic(c, OPT_EX); }
static void cmd_psetex(cairn_ctx *c) { setex_generic(c, OPT_PX); }

/* GETSET is SET key value GET: the old value, the TTL cleared, propagated as
 * SET key value. */
static void cmd_getset(cairn_ctx *c) { set_generic(c, c->argv[1], c->argv[2], OPT_GET, -1, 0); }

static void cmd_getdel(cairn_ctx *c) {
  cairn_str key = c->argv[1];
  cairn_value v;
  int rc = cairn_lookup_type(c, key, CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_null(&c->reply);
    return;
  }
  cairn_reply_bulk(&c->reply, v.data, v.len); /* before the delete */
  rc = cairn_store_del(cairn_ctx_store(c), c->db, key);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  c->dirty++;
  cairn_propagate_del(c, c->db, key);
  c->custom_propagation = 1;
  cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
}

/* GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]. Like Redis: options are
 * parsed first, then the key is looked up, then the time is validated (so a
 * missing key answers nil even with a bad time). */
static void cmd_getex(cairn_ctx *c) {
  cairn_str key = c->argv[1];
  int flags;
  cairn_str timearg;
  if (parse_set_flags(c, 2, OPT_TIME | OPT_PERSIST, &flags, &timearg) != 0) return;
  cairn_value v;
  int rc = cairn_lookup_type(c, key, CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_null(&c->reply);
    return;
  }
  int64_t when = -1;
  if ((flags & OPT_TIME) && expire_arg_ms(c, timearg, flags & OPT_TIME, &when) != 0) return;
  int had_ttl = v.expire_ms >= 0;
  cairn_reply_bulk(&c->reply, v.data, v.len); /* before any write */
  if (flags & OPT_TIME)
    cairn_expire_key_at(c, key, when);
  else if ((flags & OPT_PERSIST) && had_ttl)
    cairn_persist_key(c, key);
}

static void cmd_mget(cairn_ctx *c) {
  cairn_reply_array(&c->reply, c->argc - 1);
  for (int j = 1; j < c->argc; j++) {
    cairn_value v;
    int rc = cairn_lookup(c, c->argv[j], &v);
    if (rc < 0) return;
    if (rc == 1 && v.type == CAIRN_TYPE_STRING)
      cairn_reply_bulk(&c->reply, v.data, v.len);
    else
      cairn_reply_null(&c->reply);
  }
}

static void mset_generic(cairn_ctx *c, int nx) {
  if (c->argc % 2 == 0) {
    cairn_reply_arity(c);
    return;
  }
  if (nx) {
    for (int j = 1; j < c->argc; j += 2) {
      cairn_value v;
      int rc = cairn_lookup(c, c->argv[j], &v);
      if (rc < 0) return;
      if (rc == 1) {
        cairn_reply_int(&c->reply, 0);
        return;
      }
    }
  }
  for (int j = 1; j < c->argc; j += 2) {
    cairn_str val = c->argv[j + 1];
    int rc = nx ? 0 : cairn_key_put_blind(c, c->argv[j], val, -1);
    if (rc == 0) rc = cairn_key_put(c, c->db, c->argv[j], CAIRN_TYPE_STRING, val.p, val.len, -1);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    c->dirty++;
    cairn_notify(c, CAIRN_NOTIFY_STRING, "set", c->argv[j]);
  }
  if (nx)
    cairn_reply_int(&c->reply, 1);
  else
    cairn_reply_ok(&c->reply);
}
static void cmd_mset(cairn_ctx *c) { mset_generic(c, 0); }
static void cmd_msetnx(cairn_ctx *c) { mset_generic(c, 1); }

/* INCR/DECR/INCRBY/DECRBY: the value stays a decimal string, the TTL stays. */
static void incr_generic(cairn_ctx *c, long long incr) {
  cairn_str key = c->argv[1];
  cairn_value v;
  int rc = cairn_lookup_type(c, key, CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  long long value = 0;
  int64_t exp = -1;
  if (rc == 1) {
    if (!cairn_str2ll(v.data, v.len, &value)) {
      cairn_reply_error(&c->reply, CAIRN_ERR_NOTINT);
      return;
    }
    exp = v.expire_ms;
  }
  if ((incr < 0 && value < 0 && incr < LLONG_MIN - value) ||
      (incr > 0 && value > 0 && incr > LLONG_MAX - value)) {
    cairn_reply_error(&c->reply, "increment or decrement would overflow");
    return;
  }
  value += incr;
  char buf[24];
  size_t n = cairn_ll2str(buf, value);
  rc = cairn_key_put(c, c->db, key, CAIRN_TYPE_STRING, buf, n, exp);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STRING, "incrby", key);
  cairn_reply_int(&c->reply, value);
}
static void cmd_incr(cairn_ctx *c) { incr_generic(c, 1); }
static void cmd_decr(cairn_ctx *c) { incr_generic(c, -1); }
static void cmd_incrby(cairn_ctx *c) {
  long long incr;
  if (cairn_arg_ll(c, c->argv[2], &incr) != 0) return;
  incr_generic(c, incr);
}
static void cmd_decrby(cairn_ctx *c) {
  long long incr;
  if (cairn_arg_ll(c, c->argv[2], &incr) != 0) return;
  if (incr == LLONG_MIN) {
    cairn_reply_error(&c->reply, "decrement would overflow");
    return;
  }
  incr_generic(c, -incr);
}

#define LD_CHARS (5 * 1024) /* Redis's MAX_LONG_DOUBLE_CHARS */

static void cmd_incrbyfloat(cairn_ctx *c) {
  cairn_str key = c->argv[1];
  cairn_value v;
  int rc = cairn_lookup_type(c, key, CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  long double value = 0, incr;
  int64_t exp = -1;
  if (rc == 1) exp = v.expire_ms;
  if ((rc == 1 && !cairn_str2ld(v.data, v.len, &value)) ||
      !cairn_str2ld(c->argv[2].p, c->argv[2].len, &incr)) {
    cairn_reply_error(&c->reply, CAIRN_ERR_NOTFLOAT);
    return;
  }
  value += incr;
  if (isnan(value) || isinf(value)) {
    cairn_reply_error(&c->reply, "increment would produce NaN or Infinity");
    return;
  }
  char buf[LD_CHARS];
  size_t n = cairn_ld2str(buf, sizeof(buf), value);
  rc = cairn_key_put(c, c->db, key, CAIRN_TYPE_STRING, buf, n, exp);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STRING, "incrbyfloat", key);
  cairn_reply_bulk(&c->reply, buf, n);
  cairn_str argv[4] = {{"SET", 3}, key, {buf, n}, {"KEEPTTL", 7}};
  cairn_propagate(c, c->db, 4, argv);
  c->custom_propagation = 1;
}

/* Writes key = old[0..olen) followed by zeros up to newlen, with `patch`
 * copied at `at`, keeping `exp`. old may point into the store: it is copied
 * before the write. Returns 0, or -1 after recording a store error. */
static int put_patched(cairn_ctx *c, cairn_str key, const char *old, size_t olen, size_t newlen,
                       size_t at, const char *patch, size_t plen, int64_t exp) {
  char stack[512];
  char *buf = newlen <= sizeof(stack) ? stack : cairn_xmalloc(newlen);
  if (olen) memcpy(buf, old, olen);
  if (newlen > olen) memset(buf + olen, 0, newlen - olen);
  if (plen) memcpy(buf + at, patch, plen);
  int rc = cairn_key_put(c, c->db, key, CAIRN_TYPE_STRING, buf, newlen, exp);
  if (buf != stack) free(buf);
  if (rc < 0) return cairn_store_failed(c, rc);
  return 0;
}

static void cmd_append(cairn_ctx *c) {
  cairn_str key = c->argv[1], app = c->argv[2];
  cairn_value v;
  int rc = cairn_lookup_type(c, key, CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  size_t total;
  if (rc == 0) {
    rc = cairn_key_put(c, c->db, key, CAIRN_TYPE_STRING, app.p, app.len, -1);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    total = app.len;
  } else {
    if (check_string_length(c, (long long)v.len, (long long)app.len) != 0) return;
    total = v.len + app.len;
    if (put_patched(c, key, v.data, v.len, total, v.len, app.p, app.len, v.expire_ms) != 0) return;
  }
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STRING, "append", key);
  cairn_reply_int(&c->reply, (long long)total);
}

static void cmd_strlen(cairn_ctx *c) {
  cairn_value v;
  int rc = cairn_lookup_type(c, c->argv[1], CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  cairn_reply_int(&c->reply, rc == 1 ? (long long)v.len : 0);
}

/* GETRANGE key start end (and SUBSTR): inclusive, negative from the end. */
static void cmd_getrange(cairn_ctx *c) {
  long long start, end;
  if (cairn_arg_ll(c, c->argv[2], &start) != 0) return;
  if (cairn_arg_ll(c, c->argv[3], &end) != 0) return;
  cairn_value v;
  int rc = cairn_lookup_type(c, c->argv[1], CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  if (rc == 0 || (start < 0 && end < 0 && start > end)) {
    cairn_reply_bulk(&c->reply, "", 0);
    return;
  }
  long long len = (long long)v.len;
  /* start, end >= LLONG_MIN and len >= 0: these sums cannot overflow. */
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0)
    cairn_reply_bulk(&c->reply, "", 0);
  else
    cairn_reply_bulk(&c->reply, v.data + start, (size_t)(end - start + 1));
}

static void cmd_setrange(cairn_ctx *c) {
  cairn_str key = c->argv[1], val = c->argv[3];
  long long offset;
  if (cairn_arg_ll(c, c->argv[2], &offset) != 0) return;
  if (offset < 0) {
    cairn_reply_error(&c->reply, "offset is out of range");
    return;
  }
  cairn_value v;
  int rc = cairn_lookup_type(c, key, CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  size_t olen = rc == 1 ? v.len : 0;
  if (val.len == 0) {
    cairn_reply_int(&c->reply, (long long)olen);
    return;
  }
  if (check_string_length(c, offset, (long long)val.len) != 0) return;
  size_t end = (size_t)offset + val.len;
  size_t newlen = end > olen ? end : olen;
  if (put_patched(c, key, rc == 1 ? v.data : NULL, olen, newlen, (size_t)offset, val.p, val.len,
                  rc == 1 ? v.expire_ms : -1) != 0)
    return;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STRING, "setrange", key);
  cairn_reply_int(&c->reply, (long long)newlen);
}

/* LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the classic
 * dynamic programming table, walked back from the end like Redis does (so
 * ranges come out last-first and ties resolve the same way). */
static void cmd_lcs(cairn_ctx *c) {
  cairn_store *st = cairn_ctx_store(c);
  cairn_value va, vb;
  /* Lookups (with their possible expiry deletes) first, then plain reads
   * whose pointers stay valid: nothing below writes. */
  int ra = cairn_lookup(c, c->argv[1], &va);
  if (ra < 0) return;
  int rb = cairn_lookup(c, c->argv[2], &vb);
  if (rb < 0) return;
  if ((ra == 1 && va.type != CAIRN_TYPE_STRING) || (rb == 1 && vb.type != CAIRN_TYPE_STRING)) {
    cairn_reply_error(&c->reply, "The specified keys must contain string values");
    return;
  }
  int getlen = 0, getidx = 0, withmatchlen = 0;
  long long minmatchlen = 0;
  for (int j = 3; j < c->argc; j++) {
    cairn_str o = c->argv[j];
    int more = j + 1 < c->argc;
    if (cairn_arg_is(o, "idx")) {
      getidx = 1;
    } else if (cairn_arg_is(o, "len")) {
      getlen = 1;
    } else if (cairn_arg_is(o, "withmatchlen")) {
      withmatchlen = 1;
    } else if (cairn_arg_is(o, "minmatchlen") && more) {
      if (cairn_arg_ll(c, c->argv[j + 1], &minmatchlen) != 0) return;
      if (minmatchlen < 0) minmatchlen = 0;
      j++;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if (getidx && getlen) {
    cairn_reply_error(&c->reply, "If you want both the length and indexes, please just use IDX.");
    return;
  }
  const char *a = "", *b = "";
  size_t alen0 = 0, blen0 = 0;
  if (ra == 1) {
    int rc = cairn_store_get(st, c->db, c->argv[1], &va);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    a = va.data;
    alen0 = va.len;
  }
  if (rb == 1) {
    int rc = cairn_store_get(st, c->db, c->argv[2], &vb);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    b = vb.data;
    blen0 = vb.len;
  }
  if (alen0 >= UINT32_MAX - 1 || blen0 >= UINT32_MAX - 1) {
    cairn_reply_error(&c->reply, "String too long for LCS");
    return;
  }
  uint32_t alen = (uint32_t)alen0, blen = (uint32_t)blen0;
  unsigned long long cells = (unsigned long long)(alen + 1) * (blen + 1);
  unsigned long long bytes = cells * sizeof(uint32_t);
  if (bytes > (unsigned long long)c->srv->cfg.proto_max_bulk_len) {
    cairn_reply_error(&c->reply,
                      "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    return;
  }
  uint32_t *lcs = malloc((size_t)bytes);
  if (!lcs) {
    cairn_reply_error(&c->reply, "Insufficient memory, failed allocating transient memory for LCS");
    return;
  }
#define LCS(A, B) lcs[(size_t)(B) + (size_t)(A) * (blen + 1)]
  for (uint32_t i = 0; i <= alen; i++) {
    for (uint32_t j = 0; j <= blen; j++) {
      if (i == 0 || j == 0) {
        LCS(i, j) = 0;
      } else if (a[i - 1] == b[j - 1]) {
        LCS(i, j) = LCS(i - 1, j - 1) + 1;
      } else {
        uint32_t l1 = LCS(i - 1, j), l2 = LCS(i, j - 1);
        LCS(i, j) = l1 > l2 ? l1 : l2;
      }
    }
  }
  uint32_t total = LCS(alen, blen), idx = total;
  int computelcs = getidx || !getlen;
  char *result = computelcs && total ? cairn_xmalloc(total) : NULL;
  size_t mark = 0;
  long long nranges = 0;
  if (getidx) {
    cairn_reply_map(&c->reply, 2);
    cairn_reply_bulk(&c->reply, "matches", 7);
    mark = cairn_reply_defer(&c->reply);
  }
  uint32_t as = alen, ae = 0, bs = 0, be = 0; /* as == alen: no range open */
  uint32_t i = alen, j = blen;
  while (computelcs && i > 0 && j > 0) {
    int emit = 0;
    if (a[i - 1] == b[j - 1]) {
      result[idx - 1] = a[i - 1];
      if (as == alen) {
        as = ae = i - 1;
        bs = be = j - 1;
      } else if (as == i && bs == j) {
        as--;
        bs--;
      } else {
        emit = 1;
      }
      if (as == 0 || bs == 0) emit = 1;
      idx--;
      i--;
      j--;
    } else {
      if (LCS(i - 1, j) > LCS(i, j - 1))
        i--;
      else
        j--;
      if (as != alen) emit = 1;
    }
    if (emit) {
      uint32_t mlen = ae - as + 1;
      if (getidx && (minmatchlen == 0 || mlen >= minmatchlen)) {
        cairn_reply_array(&c->reply, 2 + withmatchlen);
        cairn_reply_array(&c->reply, 2);
        cairn_reply_int(&c->reply, as);
        cairn_reply_int(&c->reply, ae);
        cairn_reply_array(&c->reply, 2);
        cairn_reply_int(&c->reply, bs);
        cairn_reply_int(&c->reply, be);
        if (withmatchlen) cairn_reply_int(&c->reply, mlen);
        nranges++;
      }
      as = alen;
    }
  }
#undef LCS
  free(lcs);
  if (getidx) {
    cairn_reply_defer_array(&c->reply, mark, nranges);
    cairn_reply_bulk(&c->reply, "len", 3);
    cairn_reply_int(&c->reply, total);
  } else if (getlen) {
    cairn_reply_int(&c->reply, total);
  } else {
    cairn_reply_bulk(&c->reply, result ? result : "", total);
  }
  free(result);
}

const cairn_command cairn_commands_strings[] = {
    CAIRN_CMD("set", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_set, "string",
              "Set the string value of a key.", "1.0.0",
              "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"),
    CAIRN_CMD("get", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_get, "string", "Get the value of a key.", "1.0.0",
              "key"),
    CAIRN_CMD("setnx", 3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_setnx, "string",
              "Set the value of a key, only if the key does not exist.", "1.0.0", "key value"),
    CAIRN_CMD("setex", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_setex, "string",
              "Set the value and expiration of a key.", "2.0.0", "key seconds value"),
    CAIRN_CMD("psetex", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_psetex, "string",
              "Set the value and expiration in milliseconds of a key.", "2.6.0", "key milliseconds value"),
    CAIRN_CMD("getset", 3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_getset, "string",
              "Set the string value of a key and return its old value.", "1.0.0", "key value"),
    CAIRN_CMD("getdel", 2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_getdel, "string",
              "Get the value of a key and delete the key.", "6.2.0", "key"),
    CAIRN_CMD("getex", -2, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_getex, "string",
              "Get the value of a key and optionally set its expiration.", "6.2.0",
              "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]"),
    CAIRN_CMD("mget", -2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, -1, 1, cmd_mget, "string",
              "Get the values of all the given keys.", "1.0.0", "key [key ...]"),
    CAIRN_CMD("mset", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, -1, 2, cmd_mset, "string",
              "Set multiple keys to multiple values.", "1.0.1", "key value [key value ...]"),
    CAIRN_CMD("msetnx", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, -1, 2, cmd_msetnx, "string",
              "Set multiple keys to multiple values, only if none of the keys exist.", "1.0.1",
              "key value [key value ...]"),
    CAIRN_CMD("incr", 2, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_incr, "string",
              "Increment the integer value of a key by one.", "1.0.0", "key"),
    CAIRN_CMD("decr", 2, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_decr, "string",
              "Decrement the integer value of a key by one.", "1.0.0", "key"),
    CAIRN_CMD("incrby", 3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_incrby, "string",
              "Increment the integer value of a key by the given amount.", "1.0.0", "key increment"),
    CAIRN_CMD("decrby", 3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_decrby, "string",
              "Decrement the integer value of a key by the given number.", "1.0.0", "key decrement"),
    CAIRN_CMD("incrbyfloat", 3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_incrbyfloat, "string",
              "Increment the float value of a key by the given amount.", "2.6.0", "key increment"),
    CAIRN_CMD("append", 3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_append, "string", "Append a value to a key.",
              "2.0.0", "key value"),
    CAIRN_CMD("strlen", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_strlen, "string",
              "Get the length of the value stored in a key.", "2.2.0", "key"),
    CAIRN_CMD("getrange", 4, CAIRN_F_READ, 1, 1, 1, cmd_getrange, "string",
              "Get a substring of the string stored at a key.", "2.4.0", "key start end"),
    CAIRN_CMD("substr", 4, CAIRN_F_READ, 1, 1, 1, cmd_getrange, "string",
              "Get a substring of the string stored at a key.", "1.0.0", "key start end"),
    CAIRN_CMD("lcs", -3, CAIRN_F_READ, 1, 2, 1, cmd_lcs, "string", "Find longest common substring.", "7.0.0",
              "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]"),
    CAIRN_CMD("setrange", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_setrange, "string",
              "Overwrite part of a string at key starting at the specified offset.", "2.2.0", "key offset value"),
    CAIRN_CMD_END,
};
