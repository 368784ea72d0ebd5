/* cmsgpack for the scripts' Lua state: MessagePack encoding and decoding
 * with the behaviour of the module Redis ships (lua_cmsgpack): pack(...)
 * concatenates the encodings of its arguments, unpack(s) returns every
 * value, unpack_one(s [,offset]) and unpack_limit(s, limit [,offset])
 * return the next offset (-1 at the end) then the values. Integers take the
 * smallest encoding, other numbers float32 when exact else float64; a table
 * whose keys are exactly 1..n is an array (an empty table too), else a map;
 * nesting deeper than 16 encodes nil. Written for cairn. */
#include <lauxlib.h>
#include <lua.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/script.h"

#define MP_MAX_NESTING 16

static void put_be(cairn_buf *b, unsigned char tag, uint64_t v, int bytes) {
  unsigned char tmp[9];
  tmp[0] = tag;
  for (int i = 0; i < bytes; i++) tmp[1 + i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
  cairn_buf_append(b, tmp, (size_t)bytes + 1);
}

static void enc_int(cairn_buf *b, int64_t v) {
  if (v >= 0) {
    if (v <= 127) {
      unsigned char c = (unsigned char)v;
      cairn_buf_append(b, &c, 1);
    } else if (v <= 0xff) put_be(b, 0xcc, (uint64_t)v, 1);
    else if (v <= 0xffff) put_be(b, 0xcd, (uint64_t)v, 2);
    else if (v <= 0xffffffffLL) put_be(b, 0xce, (uint64_t)v, 4);
    else put_be(b, 0xcf, (uint64_t)v, 8);
  } else {
    if (v >= -32) {
      unsigned char c = (unsigned char)(int8_t)v;
      cairn_buf_append(b, &c, 1);
    } else if (v >= -128) put_be(b, 0xd0, (uint64_t)v, 1);
    else if (v >= -32768) put_be(b, 0xd1, (uint64_t)v, 2);
    else if (v >= -2147483648LL) put_be(b, 0xd2, (uint64_t)v, 4);
    else put_be(b, 0xd3, (uint64_t)v, 8);
  }
}

static void enc_number(cairn_buf *b, lua_Number n) {
  if (!isinf(n) && !isnan(n) && n == (lua_Number)(int64_t)n && n >= -9223372036854775808.0 &&
      n < 9223372036854775808.0) {
    enc_int(b, (int64_t)n);
    return;
  }
  float f = (float)n;
  if ((double)f == n || isnan(n)) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_be(b, 0xca, u, 4);
  } else {
    uint64_t u;
    memcpy(&u, &n, 8);
    put_be(b, 0xcb, u, 8);
  }
}

static void enc_len(cairn_buf *b, size_t len, unsigned char fix, size_t fixmax, unsigned char t8,
                    unsigned char t16, unsigned char t32) {
  if (len < fixmax) {
    unsigned char c = (unsigned char)(fix | len);
    cairn_buf_append(b, &c, 1);
  } else if (t8 && len <= 0xff) put_be(b, t8, len, 1);
  else if (len <= 0xffff) put_be(b, t16, len, 2);
  else put_be(b, t32, len, 4);
}

/* The array length of the table on the top, or -1 when it is a map. */
static long table_array_len(lua_State *L) {
  long count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      return -1;
    }
    lua_Number n = lua_tonumber(L, -1);
    if (n <= 0 || n != (lua_Number)(long)n) {
      lua_pop(L, 1);
      return -1;
    }
    if ((long)n > max) max = (long)n;
    count++;
  }
  return max == count ? max : -1;
}

static void enc_value(lua_State *L, cairn_buf *b, int level);

static void enc_table(lua_State *L, cairn_buf *b, int level) {
  luaL_checkstack(L, 4, "cmsgpack: nesting too deep");
  long n = table_array_len(L);
  if (n >= 0) {
    enc_len(b, (size_t)n, 0x90, 16, 0, 0xdc, 0xdd);
    for (long i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, (int)i);
      enc_value(L, b, level + 1);
      lua_pop(L, 1);
    }
    return;
  }
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    count++;
  }
  enc_len(b, count, 0x80, 16, 0, 0xde, 0xdf);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    enc_value(L, b, level + 1);
    lua_pop(L, 1);
    enc_value(L, b, level + 1);
    lua_pop(L, 1);
  }
}

/* Encodes the value on the top (left there). */
static void enc_value(lua_State *L, cairn_buf *b, int level) {
  unsigned char c;
  switch (lua_type(L, -1)) {
  case LUA_TBOOLEAN:
    c = lua_toboolean(L, -1) ? 0xc3 : 0xc2;
    cairn_buf_append(b, &c, 1);
    return;
  case LUA_TNUMBER:
    enc_number(b, lua_tonumber(L, -1));
    return;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    enc_len(b, len, 0xa0, 32, 0xd9, 0xda, 0xdb);
    cairn_buf_append(b, s, len);
    return;
  }
  case LUA_TTABLE:
    if (level < MP_MAX_NESTING) {
      enc_table(L, b, level);
      return;
    }
    __attribute__((fallthrough)); /* too deep: nil */
  default:
    c = 0xc0;
    cairn_buf_append(b, &c, 1);
  }
}

static int mp_pack(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
  cairn_buf b = {0};
  for (int i = 1; i <= n; i++) {
    lua_pushvalue(L, i);
    enc_value(L, &b, 0);
    lua_pop(L, 1);
  }
  lua_pushlstring(L, b.p ? b.p : "", b.len);
  cairn_buf_free(&b);
  return 1;
}

/* ---------------------------------------------------------------- decode */
typedef struct {
  const unsigned char *p;
  size_t left;
  int err; /* 1 = missing bytes, 2 = bad format */
} mp_cur;

static uint64_t get_be(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = (v << 8) | p[i];
  return v;
}

static int need(mp_cur *c, size_t n) {
  if (c->left < n) {
    c->err = 1;
    return 0;
  }
  return 1;
}

static void dec_value(lua_State *L, mp_cur *c);

static void dec_str(lua_State *L, mp_cur *c, size_t hdr, size_t len) {
  if (!need(c, hdr + len)) return;
  lua_pushlstring(L, (const char *)c->p + hdr, len);
  c->p += hdr + len, c->left -= hdr + len;
}

static void dec_array(lua_State *L, mp_cur *c, size_t hdr, size_t n) {
  c->p += hdr, c->left -= hdr;
  luaL_checkstack(L, 3, "cmsgpack: nesting too deep");
  lua_newtable(L);
  for (size_t i = 1; i <= n; i++) {
    lua_pushnumber(L, (lua_Number)i);
    dec_value(L, c);
    if (c->err) return;
    lua_settable(L, -3);
  }
}

static void dec_map(lua_State *L, mp_cur *c, size_t hdr, size_t n) {
  c->p += hdr, c->left -= hdr;
  luaL_checkstack(L, 3, "cmsgpack: nesting too deep");
  lua_newtable(L);
  for (size_t i = 0; i < n; i++) {
    dec_value(L, c);
    if (c->err) return;
    dec_value(L, c);
    if (c->err) return;
    lua_settable(L, -3);
  }
}

static void dec_value(lua_State *L, mp_cur *c) {
  if (!need(c, 1)) return;
  unsigned char t = c->p[0];
  if (t <= 0x7f) {
    lua_pushnumber(L, t);
    c->p++, c->left--;
  } else if (t >= 0xe0) {
    lua_pushnumber(L, (int8_t)t);
    c->p++, c->left--;
  } else if ((t & 0xe0) == 0xa0) {
    dec_str(L, c, 1, t & 0x1f);
  } else if ((t & 0xf0) == 0x90) {
    dec_array(L, c, 1, t & 0x0f);
  } else if ((t & 0xf0) == 0x80) {
    dec_map(L, c, 1, t & 0x0f);
  } else {
    static const int fixed[] = {[0xcc - 0xc0] = 1, [0xcd - 0xc0] = 2, [0xce - 0xc0] = 4, [0xcf - 0xc0] = 8,
                                [0xd0 - 0xc0] = 1, [0xd1 - 0xc0] = 2, [0xd2 - 0xc0] = 4, [0xd3 - 0xc0] = 8,
                                [0xca - 0xc0] = 4, [0xcb - 0xc0] = 8};
    switch (t) {
    case 0xc0:
      lua_pushnil(L);
      c->p++, c->left--;
      return;
    case 0xc2:
    case 0xc3:
      lua_pushboolean(L, t == 0xc3);
      c->p++, c->left--;
      return;
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
    case 0xd0: case 0xd1: case 0xd2: case 0xd3:
    case 0xca: case 0xcb: {
      int n = fixed[t - 0xc0];
      if (!need(c, (size_t)n + 1)) return;
      uint64_t v = get_be(c->p + 1, n);
      if (t == 0xca) {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, 4);
        lua_pushnumber(L, f);
      } else if (t == 0xcb) {
        double d;
        memcpy(&d, &v, 8);
        lua_pushnumber(L, d);
      } else if (t >= 0xd0) {
        int64_t s = n == 1 ? (int8_t)v : n == 2 ? (int16_t)v : n == 4 ? (int32_t)v : (int64_t)v;
        lua_pushnumber(L, (lua_Number)s);
      } else {
        lua_pushnumber(L, (lua_Number)v);
      }
      c->p += n + 1, c->left -= (size_t)n + 1;
      return;
    }
    case 0xd9: /* str8 (no bin types: bad format, like Redis's module) */
      if (!need(c, 2)) return;
      dec_str(L, c, 2, c->p[1]);
      return;
    case 0xda:
      if (!need(c, 3)) return;
      dec_str(L, c, 3, get_be(c->p + 1, 2));
      return;
    case 0xdb:
      if (!need(c, 5)) return;
      dec_str(L, c, 5, get_be(c->p + 1, 4));
      return;
    case 0xdc:
      if (!need(c, 3)) return;
      dec_array(L, c, 3, get_be(c->p + 1, 2));
      return;
    case 0xdd:
      if (!need(c, 5)) return;
      dec_array(L, c, 5, get_be(c->p + 1, 4));
      return;
    case 0xde:
      if (!need(c, 3)) return;
      dec_map(L, c, 3, get_be(c->p + 1, 2));
      return;
    case 0xdf:
      if (!need(c, 5)) return;
      dec_map(L, c, 5, get_be(c->p + 1, 4));
      return;
    default:
      c->err = 2;
    }
  }
}

/* limit 0: every value, no offset returned; else at most limit values
 * after the next offset. */
static int unpack_full(lua_State *L, int limit, int offset) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int decode_all = (!limit && !offset);
  if (offset < 0 || limit < 0)
    return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.", offset, (int)len);
  if ((size_t)offset > len) return luaL_error(L, "Start offset %d greater than input length %d.", offset, (int)len);
  if (decode_all) limit = INT_MAX;
  mp_cur c = {.p = (const unsigned char *)s + offset, .left = len - (size_t)offset};
  int cnt;
  for (cnt = 0; c.left > 0 && cnt < limit; cnt++) {
    luaL_checkstack(L, 2, "cmsgpack: too many values");
    dec_value(L, &c);
    if (c.err == 1) return luaL_error(L, "Missing bytes in input.");
    if (c.err == 2) return luaL_error(L, "Bad data format in input.");
  }
  if (!decode_all) {
    long next = (long)(len - c.left);
    if ((size_t)next == len) next = -1;
    lua_pushnumber(L, (lua_Number)next);
    lua_insert(L, -cnt - 1);
    cnt++;
  }
  return cnt;
}

static int mp_unpack(lua_State *L) { return unpack_full(L, 0, 0); }
static int mp_unpack_one(lua_State *L) { return unpack_full(L, 1, (int)luaL_optinteger(L, 2, 0)); }
static int mp_unpack_limit(lua_State *L) {
  return unpack_full(L, (int)luaL_checkinteger(L, 2), (int)luaL_optinteger(L, 3, 0));
}

int cairn_luaopen_cmsgpack(lua_State *L) {
  static const luaL_Reg fns[] = {{"pack", mp_pack},
                                 {"unpack", mp_unpack},
                                 {"unpack_one", mp_unpack_one},
                                 {"unpack_limit", mp_unpack_limit},
                                 {NULL, NULL}};
  luaL_register(L, "cmsgpack", fns);
  lua_pushliteral(L, "lua-cmsgpack 0.4.0 (cairn)");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
