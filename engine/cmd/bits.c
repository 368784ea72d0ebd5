/* Bit commands: SETBIT GETBIT BITCOUNT BITPOS BITOP (Redis 7.0 semantics,
 * including its argument-checking order). */
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/util.h"
#include "engine/cmd/types.h"

#define ERR_BIT_OFFSET "bit offset is not an integer or out of range"
#define ERR_BIT_VALUE "bit is not an integer or out of range"

/* Redis's getBitOffsetFromArgument (without the #N form, which only BITFIELD
 * uses): a non-negative integer whose byte stays below proto-max-bulk-len. */
static int bit_offset_arg(cairn_ctx *c, cairn_str a, uint64_t *out) {
  long long off;
  if (!cairn_str2ll(a.p, a.len, &off) || off < 0 ||
      (!c->replaying && (off >> 3) >= c->srv->cfg.proto_max_bulk_len)) {
    cairn_reply_error(&c->reply, ERR_BIT_OFFSET);
    return -1;
  }
  *out = (uint64_t)off;
  return 0;
}

static void cmd_setbit(cairn_ctx *c) {
  cairn_str key = c->argv[1];
  uint64_t off;
  long long on;
  if (bit_offset_arg(c, c->argv[2], &off) != 0) return;
  if (cairn_arg_ll_msg(c, c->argv[3], &on, ERR_BIT_VALUE) != 0) return;
  if (on & ~1LL) {
    cairn_reply_error(&c->reply, ERR_BIT_VALUE);
    return;
  }
  cairn_value v;
  int rc = cairn_lookup_type(c, key, CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  size_t byte = (size_t)(off >> 3);
  int bit = 7 - (int)(off & 7);
  size_t olen = rc == 1 ? v.len : 0;
  int old = byte < olen ? (((unsigned char)v.data[byte]) >> bit) & 1 : 0;
  if (rc == 1 && byte < olen && old == on) {
    cairn_reply_int(&c->reply, old); /* nothing changes */
    return;
  }
  size_t newlen = byte + 1 > olen ? byte + 1 : olen;
  char stack[512];
  char *buf = newlen <= sizeof(stack) ? stack : cairn_xmalloc(newlen);
  if (olen) memcpy(buf, v.data, olen);
  if (newlen > olen) memset(buf + olen, 0, newlen - olen);
  unsigned char b = (unsigned char)buf[byte];
  b = (unsigned char)((b & ~(1u << bit)) | ((unsigned)on << bit));
  buf[byte] = (char)b;
  rc = cairn_key_put(c, c->db, key, CAIRN_TYPE_STRING, buf, newlen, rc == 1 ? v.expire_ms : -1);
  if (buf != stack) free(buf);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STRING, "setbit", key);
  cairn_reply_int(&c->reply, old);
}

static void cmd_getbit(cairn_ctx *c) {
  uint64_t off;
  if (bit_offset_arg(c, c->argv[2], &off) != 0) return;
  cairn_value v;
  int rc = cairn_lookup_type(c, c->argv[1], CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  size_t byte = (size_t)(off >> 3);
  int bitval = 0;
  if (rc == 1 && byte < v.len) bitval = (((unsigned char)v.data[byte]) >> (7 - (off & 7))) & 1;
  cairn_reply_int(&c->reply, bitval);
}

static long long popcount(const unsigned char *p, size_t n) {
  long long count = 0;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    count += __builtin_popcountll(w);
    p += 8;
    n -= 8;
  }
  while (n--) count += __builtin_popcount(*p++);
  return count;
}

/* Parses BYTE|BIT. Returns 0/1, or -1 after a syntax error. */
static int unit_arg(cairn_ctx *c, cairn_str a) {
  if (cairn_arg_is(a, "bit")) return 1;
  if (cairn_arg_is(a, "byte")) return 0;
  cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
  return -1;
}

/* Normalizes an inclusive [start, end] against a length like Redis does.
 * Returns 0 if the range is empty. */
static int clamp_range(long long *start, long long *end, long long total) {
  if (*start < 0) *start = total + *start;
  if (*end < 0) *end = total + *end;
  if (*start < 0) *start = 0;
  if (*end < 0) *end = 0;
  if (*end >= total) *end = total - 1;
  return *start <= *end;
}

/* Counts set bits in the bit range [sbit, ebit] of p. */
static long long count_bits(const unsigned char *p, long long sbit, long long ebit) {
  long long sb = sbit >> 3, eb = ebit >> 3;
  long long count = popcount(p + sb, (size_t)(eb - sb + 1));
  unsigned char first_mask = (unsigned char)(~((1u << (8 - (sbit & 7))) - 1) & 0xFF);
  unsigned char last_mask = (unsigned char)((1u << (7 - (ebit & 7))) - 1);
  count -= __builtin_popcount(p[sb] & first_mask);
  count -= __builtin_popcount(p[eb] & last_mask);
  return count;
}

/* BITCOUNT key [start end [BYTE|BIT]]. As in Redis 7.0 the key is looked up
 * before the arguments are checked. */
static void cmd_bitcount(cairn_ctx *c) {
  cairn_value v;
  int rc = cairn_lookup_type(c, c->argv[1], CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  long long len = (long long)v.len, start, end;
  int isbit = 0;
  if (c->argc == 4 || c->argc == 5) {
    if (cairn_arg_ll(c, c->argv[2], &start) != 0) return;
    if (cairn_arg_ll(c, c->argv[3], &end) != 0) return;
    if (start < 0 && end < 0 && start > end) {
      cairn_reply_int(&c->reply, 0);
      return;
    }
    if (c->argc == 5 && (isbit = unit_arg(c, c->argv[4])) < 0) return;
  } else if (c->argc == 2) {
    start = 0;
    end = -1;
  } else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  long long total = isbit ? len << 3 : len;
  if (!clamp_range(&start, &end, total)) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  if (!isbit) {
    start <<= 3;
    end = (end << 3) + 7;
  }
  cairn_reply_int(&c->reply, count_bits((const unsigned char *)v.data, start, end));
}

/* First bit equal to `bit` in the bit range [sbit, ebit] of p, or -1. */
static long long find_bit(const unsigned char *p, long long sbit, long long ebit, int bit) {
  long long i = sbit;
  while (i <= ebit) {
    unsigned char b = p[i >> 3];
    if (!bit) b = (unsigned char)~b;
    if ((i & 7) == 0 && b == 0 && i + 7 <= ebit) {
      i += 8; /* whole byte without a match */
      continue;
    }
    if ((b >> (7 - (i & 7))) & 1) return i;
    i++;
  }
  return -1;
}

/* BITPOS key bit [start [end [BYTE|BIT]]]. */
static void cmd_bitpos(cairn_ctx *c) {
  long long bit;
  if (cairn_arg_ll(c, c->argv[2], &bit) != 0) return;
  if (bit != 0 && bit != 1) {
    cairn_reply_error(&c->reply, "The bit argument must be 1 or 0.");
    return;
  }
  cairn_value v;
  int rc = cairn_lookup_type(c, c->argv[1], CAIRN_TYPE_STRING, &v);
  if (rc < 0) return;
  if (rc == 0) {
    /* A missing key is an infinite run of zero bits. */
    cairn_reply_int(&c->reply, bit ? -1 : 0);
    return;
  }
  long long len = (long long)v.len, start, end;
  int isbit = 0, end_given = 0;
  if (c->argc >= 4 && c->argc <= 6) {
    if (cairn_arg_ll(c, c->argv[3], &start) != 0) return;
    if (c->argc == 6 && (isbit = unit_arg(c, c->argv[5])) < 0) return;
    if (c->argc >= 5) {
      if (cairn_arg_ll(c, c->argv[4], &end) != 0) return;
      end_given = 1;
    } else {
      end = isbit ? (len << 3) + 7 : len - 1;
    }
  } else if (c->argc == 3) {
    start = 0;
    end = len - 1;
  } else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  long long total = isbit ? len << 3 : len;
  if (!clamp_range(&start, &end, total)) {
    cairn_reply_int(&c->reply, -1);
    return;
  }
  if (!isbit) {
    start <<= 3;
    end = (end << 3) + 7;
  }
  long long pos = find_bit((const unsigned char *)v.data, start, end, (int)bit);
  if (pos < 0 && bit == 0 && !end_given) {
    /* Without an explicit end the string counts as padded with zeros on the
     * right: the first clear bit is just past the range's last byte. */
    pos = ((end >> 3) + 1) << 3;
  }
  cairn_reply_int(&c->reply, pos);
}

enum { BITOP_AND, BITOP_OR, BITOP_XOR, BITOP_NOT };

/* BITOP op destkey key [key ...]. Missing keys are empty strings; the result
 * is as long as the longest source (shorter ones are zero padded); an empty
 * result deletes destkey. The result replaces destkey and drops its TTL. */
static void cmd_bitop(cairn_ctx *c) {
  cairn_str opname = c->argv[1], dest = c->argv[2];
  int op;
  if (cairn_arg_is(opname, "and"))
    op = BITOP_AND;
  else if (cairn_arg_is(opname, "or"))
    op = BITOP_OR;
  else if (cairn_arg_is(opname, "xor"))
    op = BITOP_XOR;
  else if (cairn_arg_is(opname, "not"))
    op = BITOP_NOT;
  else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  if (op == BITOP_NOT && c->argc != 4) {
    cairn_reply_error(&c->reply, "BITOP NOT must be called with a single source key.");
    return;
  }
  int nkeys = c->argc - 3;
  /* First pass: lazy expiry and type checks (these may write to the store,
   * so no pointers are kept). */
  size_t maxlen = 0;
  for (int j = 0; j < nkeys; j++) {
    cairn_value v;
    int rc = cairn_lookup_type(c, c->argv[3 + j], CAIRN_TYPE_STRING, &v);
    if (rc < 0) return;
    if (rc == 1 && v.len > maxlen) maxlen = v.len;
  }
  cairn_store *st = cairn_ctx_store(c);
  if (maxlen == 0) {
    int rc = cairn_store_del(st, c->db, dest);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      return;
    }
    if (rc == 1) {
      c->dirty++;
      cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", dest);
    }
    cairn_reply_int(&c->reply, 0);
    return;
  }
  /* Second pass: plain reads, no writes until the result is stored. */
  unsigned char *res = cairn_xmalloc(maxlen);
  for (int j = 0; j < nkeys; j++) {
    cairn_value v;
    int rc = cairn_store_get(st, c->db, c->argv[3 + j], &v);
    if (rc < 0) {
      free(res);
      cairn_store_failed(c, rc);
      return;
    }
    const unsigned char *p = rc == 1 ? (const unsigned char *)v.data : NULL;
    size_t n = rc == 1 ? v.len : 0;
    if (j == 0) {
      if (n) memcpy(res, p, n);
      memset(res + n, 0, maxlen - n);
      if (op == BITOP_NOT)
        for (size_t i = 0; i < maxlen; i++) res[i] = (unsigned char)~res[i];
      continue;
    }
    switch (op) {
    case BITOP_AND:
      for (size_t i = 0; i < n; i++) res[i] &= p[i];
      memset(res + n, 0, maxlen - n);
      break;
    case BITOP_OR:
      for (size_t i = 0; i < n; i++) res[i] |= p[i];
      break;
    case BITOP_XOR:
      for (size_t i = 0; i < n; i++) res[i] ^= p[i];
      break;
    }
  }
  int rc = cairn_key_put(c, c->db, dest, CAIRN_TYPE_STRING, res, maxlen, -1);
  free(res);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STRING, "set", dest);
  cairn_reply_int(&c->reply, (long long)maxlen);
}


/* ---------------------------------------------------------------- BITFIELD */

#define ERR_BITFIELD_TYPE \
  "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."

enum { BF_GET, BF_SET, BF_INCRBY };
enum { BF_WRAP, BF_SAT, BF_FAIL };

typedef struct bf_op {
  uint64_t offset;
  int64_t arg; /* SET value or INCRBY increment */
  int op, overflow, bits, sign;
} bf_op;

/* <i|u><bits>: i1..i64, u1..u63 (an u64 could not be replied as a signed
 * integer). */
static int bf_type_arg(cairn_ctx *c, cairn_str a, int *sign, int *bits) {
  long long n;
  if (a.len < 2 || (a.p[0] != 'i' && a.p[0] != 'u') || !cairn_str2ll(a.p + 1, a.len - 1, &n) || n < 1 ||
      n > (a.p[0] == 'i' ? 64 : 63)) {
    cairn_reply_error(&c->reply, ERR_BITFIELD_TYPE);
    return -1;
  }
  *sign = a.p[0] == 'i';
  *bits = (int)n;
  return 0;
}

/* A bit offset, or #N meaning N * bits; same limits as SETBIT's. */
static int bf_offset_arg(cairn_ctx *c, cairn_str a, int bits, uint64_t *out) {
  int hash = a.len > 0 && a.p[0] == '#';
  long long off;
  if (!cairn_str2ll(a.p + hash, a.len - hash, &off)) goto bad;
  if (hash) {
    if (__builtin_mul_overflow(off, (long long)bits, &off)) off = -1; /* out of range either way */
  }
  if (off < 0 || (!c->replaying && (off >> 3) >= c->srv->cfg.proto_max_bulk_len)) goto bad;
  *out = (uint64_t)off;
  return 0;
bad:
  cairn_reply_error(&c->reply, ERR_BIT_OFFSET);
  return -1;
}

/* Reads `bits` bits at bit `off` of p (len bytes, zero beyond), MSB first. */
static uint64_t bf_get_u(const unsigned char *p, size_t len, uint64_t off, int bits) {
  uint64_t v = 0;
  for (int j = 0; j < bits; j++, off++) {
    uint64_t byte = off >> 3;
    int bit = byte < len ? (p[byte] >> (7 - (off & 7))) & 1 : 0;
    v = (v << 1) | (uint64_t)bit;
  }
  return v;
}

static int64_t bf_get_i(const unsigned char *p, size_t len, uint64_t off, int bits) {
  uint64_t v = bf_get_u(p, len, off, bits);
  if (bits < 64 && (v >> (bits - 1)) & 1) v |= UINT64_MAX << bits; /* sign extension */
  return (int64_t)v;
}

static void bf_set(unsigned char *p, uint64_t off, int bits, uint64_t v) {
  for (int j = 0; j < bits; j++, off++) {
    int bit = (v >> (bits - 1 - j)) & 1;
    uint64_t byte = off >> 3;
    int shift = 7 - (int)(off & 7);
    p[byte] = (unsigned char)((p[byte] & ~(1u << shift)) | ((unsigned)bit << shift));
  }
}

/* Overflow of value + incr in a field of `bits` bits: 1 above, -1 below, 0
 * none; *res is the value to store under WRAP/SAT. These are Redis's tests
 * (checkUnsignedBitfieldOverflow / checkSignedBitfieldOverflow) with their
 * 64-bit wraparound: e.g. a SET of min-1 into an i63 wraps Redis's
 * "max - value" and saturates to the maximum; cairn answers the same. */
static int bf_overflow_u(uint64_t value, int64_t incr, int bits, int how, uint64_t *res) {
  uint64_t max = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
  int64_t maxincr = (int64_t)(max - value), minincr = (int64_t)((uint64_t)0 - value);
  int ow = 0;
  if (value > max || (incr > 0 && incr > maxincr))
    ow = 1;
  else if (incr < 0 && incr < minincr)
    ow = -1;
  if (ow) *res = how == BF_WRAP ? (value + (uint64_t)incr) & max : (ow > 0 ? max : 0);
  return ow;
}

static int bf_overflow_i(int64_t value, int64_t incr, int bits, int how, int64_t *res) {
  int64_t max = bits == 64 ? INT64_MAX : (int64_t)(((uint64_t)1 << (bits - 1)) - 1);
  int64_t min = -max - 1;
  int64_t maxincr = (int64_t)((uint64_t)max - (uint64_t)value), minincr = (int64_t)((uint64_t)min - (uint64_t)value);
  int ow = 0;
  if (value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr))
    ow = 1;
  else if (value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr))
    ow = -1;
  if (ow) {
    if (how == BF_WRAP) {
      uint64_t u = (uint64_t)value + (uint64_t)incr;
      if (bits < 64) {
        if ((u >> (bits - 1)) & 1)
          u |= UINT64_MAX << bits;
        else
          u &= ~(UINT64_MAX << bits);
      }
      *res = (int64_t)u;
    } else {
      *res = ow > 0 ? max : min;
    }
  }
  return ow;
}

/* BITFIELD key [GET type offset] [SET type offset value]
 * [INCRBY type offset increment] [OVERFLOW WRAP|SAT|FAIL] ...
 * Arguments are all checked first (Redis's order), then the key. The string
 * grows to the farthest bit written; like Redis, that growth counts as a
 * change (Redis keeps a grown key even when every write FAILs, but does not
 * propagate it; cairn propagates it, so replicas and the WAL agree). */
static void bitfield_generic(cairn_ctx *c, int readonly_cmd) {
  int nops = 0, how = BF_WRAP, has_write = 0;
  uint64_t highest = 0;
  bf_op *ops = cairn_xmalloc(sizeof(bf_op) * (size_t)(c->argc / 3 + 1));
  for (int j = 2; j < c->argc; j++) {
    int rem = c->argc - j - 1, op;
    cairn_str a = c->argv[j];
    if (cairn_arg_is(a, "get") && rem >= 2)
      op = BF_GET;
    else if (cairn_arg_is(a, "set") && rem >= 3)
      op = BF_SET;
    else if (cairn_arg_is(a, "incrby") && rem >= 3)
      op = BF_INCRBY;
    else if (cairn_arg_is(a, "overflow") && rem >= 1) {
      cairn_str t = c->argv[++j];
      if (cairn_arg_is(t, "wrap"))
        how = BF_WRAP;
      else if (cairn_arg_is(t, "sat"))
        how = BF_SAT;
      else if (cairn_arg_is(t, "fail"))
        how = BF_FAIL;
      else {
        cairn_reply_error(&c->reply, "Invalid OVERFLOW type specified");
        goto out;
      }
      continue;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      goto out;
    }
    bf_op *o = &ops[nops];
    memset(o, 0, sizeof(*o));
    o->op = op;
    o->overflow = how;
    if (bf_type_arg(c, c->argv[j + 1], &o->sign, &o->bits) != 0) goto out;
    if (bf_offset_arg(c, c->argv[j + 2], o->bits, &o->offset) != 0) goto out;
    if (op != BF_GET) {
      has_write = 1;
      if (highest < o->offset + (uint64_t)o->bits - 1) highest = o->offset + (uint64_t)o->bits - 1;
      long long v;
      if (cairn_arg_ll(c, c->argv[j + 3], &v) != 0) goto out;
      o->arg = v;
    }
    nops++;
    j += op == BF_GET ? 2 : 3;
  }
  if (has_write && readonly_cmd) {
    /* Redis looks the key up first only when every op is a GET. */
    cairn_reply_error(&c->reply, "BITFIELD_RO only supports the GET subcommand");
    goto out;
  }
  cairn_value v;
  int rc = cairn_lookup_type(c, c->argv[1], CAIRN_TYPE_STRING, &v);
  if (rc < 0) goto out;
  if (!has_write) {
    cairn_reply_array(&c->reply, nops);
    const unsigned char *p = rc == 1 ? (const unsigned char *)v.data : NULL;
    size_t len = rc == 1 ? v.len : 0;
    for (int i = 0; i < nops; i++) {
      if (ops[i].sign)
        cairn_reply_int(&c->reply, bf_get_i(p, len, ops[i].offset, ops[i].bits));
      else
        cairn_reply_int(&c->reply, (long long)bf_get_u(p, len, ops[i].offset, ops[i].bits));
    }
    goto out;
  }
  size_t olen = rc == 1 ? v.len : 0, need = (size_t)(highest >> 3) + 1;
  size_t len = need > olen ? need : olen;
  int64_t expire = rc == 1 ? v.expire_ms : -1;
  unsigned char *buf = cairn_xmalloc(len);
  if (olen) memcpy(buf, v.data, olen);
  if (len > olen) memset(buf + olen, 0, len - olen);
  long long changes = 0;
  int grown = rc == 0 || len > olen;
  cairn_reply_array(&c->reply, nops);
  for (int i = 0; i < nops; i++) {
    bf_op *o = &ops[i];
    if (o->op == BF_GET) {
      if (o->sign)
        cairn_reply_int(&c->reply, bf_get_i(buf, len, o->offset, o->bits));
      else
        cairn_reply_int(&c->reply, (long long)bf_get_u(buf, len, o->offset, o->bits));
      continue;
    }
    if (o->sign) {
      int64_t old = bf_get_i(buf, len, o->offset, o->bits), nv, res = 0, ret;
      int ow;
      if (o->op == BF_INCRBY) {
        ow = bf_overflow_i(old, o->arg, o->bits, o->overflow, &res);
        nv = ow ? res : (int64_t)((uint64_t)old + (uint64_t)o->arg);
        ret = nv;
      } else {
        nv = o->arg;
        ow = bf_overflow_i(nv, 0, o->bits, o->overflow, &res);
        if (ow) nv = res;
        ret = old;
      }
      if (ow && o->overflow == BF_FAIL) {
        cairn_reply_null(&c->reply);
        continue;
      }
      cairn_reply_int(&c->reply, ret);
      bf_set(buf, o->offset, o->bits, (uint64_t)nv);
      if (grown || old != nv) changes++;
    } else {
      uint64_t old = bf_get_u(buf, len, o->offset, o->bits), nv, res = 0, ret;
      int ow;
      if (o->op == BF_INCRBY) {
        ow = bf_overflow_u(old, o->arg, o->bits, o->overflow, &res);
        nv = ow ? res : old + (uint64_t)o->arg;
        ret = nv;
      } else {
        nv = (uint64_t)o->arg;
        ow = bf_overflow_u(nv, 0, o->bits, o->overflow, &res);
        if (ow) nv = res;
        ret = old;
      }
      if (ow && o->overflow == BF_FAIL) {
        cairn_reply_null(&c->reply);
        continue;
      }
      cairn_reply_int(&c->reply, (long long)ret);
      bf_set(buf, o->offset, o->bits, nv);
      if (grown || old != nv) changes++;
    }
  }
  if (changes || grown) {
    rc = cairn_store_put(cairn_ctx_store(c), c->db, c->argv[1], CAIRN_TYPE_STRING, buf, len, expire);
    if (rc < 0) {
      free(buf);
      cairn_store_failed(c, rc);
      goto out;
    }
    c->dirty += changes ? changes : 1;
  }
  free(buf);
out:
  free(ops);
}

static void cmd_bitfield(cairn_ctx *c) { bitfield_generic(c, 0); }
static void cmd_bitfield_ro(cairn_ctx *c) { bitfield_generic(c, 1); }

const cairn_command cairn_commands_bits[] = {
    CAIRN_CMD("setbit", 4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_setbit, "bitmap",
              "Sets or clears the bit at offset in the string value stored at key.", "2.2.0", "key offset value"),
    CAIRN_CMD("getbit", 3, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_getbit, "bitmap",
              "Returns the bit value at offset in the string value stored at key.", "2.2.0", "key offset"),
    CAIRN_CMD("bitcount", -2, CAIRN_F_READ, 1, 1, 1, cmd_bitcount, "bitmap", "Count set bits in a string.", "2.6.0",
              "key [start end [BYTE|BIT]]"),
    CAIRN_CMD("bitpos", -3, CAIRN_F_READ, 1, 1, 1, cmd_bitpos, "bitmap", "Find first bit set or clear in a string.",
              "2.8.7", "key bit [start [end [BYTE|BIT]]]"),
    CAIRN_CMD("bitop", -4, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 2, -1, 1, cmd_bitop, "bitmap",
              "Perform bitwise operations between strings.", "2.6.0", "operation destkey key [key ...]"),
    CAIRN_CMD("bitfield", -2, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, 1, 1, cmd_bitfield, "bitmap",
              "Perform arbitrary bitfield integer operations on strings", "3.2.0",
              "key [GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] SET encoding offset value|INCRBY encoding offset increment ...]"),
    CAIRN_CMD("bitfield_ro", -2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_bitfield_ro, "bitmap",
              "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", "6.0.0",
              "key [GET encoding offset ...]"),
    /* HyperLogLog values are strings (engine/cmd/hll.c). */
    CAIRN_CMD("pfadd", -2, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cairn_cmd_pfadd, "hyperloglog",
              "Adds the specified elements to the specified HyperLogLog.", "2.8.9", "key [element [element ...]]"),
    CAIRN_CMD("pfcount", -2, CAIRN_F_READ | CAIRN_CMD_MAY_REPLICATE, 1, -1, 1, cairn_cmd_pfcount, "hyperloglog",
              "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).", "2.8.9",
              "key [key ...]"),
    CAIRN_CMD("pfmerge", -2, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 1, -1, 1, cairn_cmd_pfmerge, "hyperloglog",
              "Merge N different HyperLogLogs into a single one.", "2.8.9", "destkey [sourcekey [sourcekey ...]]"),
    CAIRN_CMD("pfdebug", 3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_ADMIN, 2, 2, 1, cairn_cmd_pfdebug,
              "hyperloglog", "Internal commands for debugging HyperLogLog values", "2.8.9", "subcommand key"),
    CAIRN_CMD("pfselftest", 1, CAIRN_CMD_ADMIN, 0, 0, 0, cairn_cmd_pfselftest, "hyperloglog",
              "An internal command for testing HyperLogLog values", "2.8.9", ""),
    CAIRN_CMD_END,
};
