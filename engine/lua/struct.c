/* struct for the scripts' Lua state: struct.pack(fmt, ...),
 * struct.unpack(fmt, s [, pos]) (the values then the next position) and
 * struct.size(fmt), with the format language of Roberto Ierusalimschy's
 * struct library that Redis ships: '>' big endian, '<' little endian, '='
 * native, '![n]' alignment, 'x' a pad byte, 'b'/'B' char, 'h'/'H' short,
 * 'l'/'L' long, 'T' size_t, 'i'/'I'[n] an integer of n bytes (default int),
 * 'f' float, 'd' double, 's' a zero-terminated string, 'c'[n] n chars (c0:
 * the length is the previous unpacked number, or the whole string when
 * packing), ' ' ignored. Written for cairn. */
#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/script.h"

#define MAXINTSIZE 32
#define MAXALIGN 8

typedef struct {
  int little;
  int align;
} fmt_state;

static int native_little(void) {
  int one = 1;
  return *(char *)&one == 1;
}

static int getnum(const char **f, int df) {
  if (!isdigit((unsigned char)**f)) return df;
  int a = 0;
  do {
    if (a > (INT_MAX / 10) || a * 10 > (INT_MAX - (**f - '0'))) return df; /* overflow: keep the default */
    a = a * 10 + *((*f)++) - '0';
  } while (isdigit((unsigned char)**f));
  return a;
}

static size_t optsize(lua_State *L, char opt, const char **f) {
  switch (opt) {
  case 'B': case 'b': return 1;
  case 'H': case 'h': return sizeof(short);
  case 'L': case 'l': return sizeof(long);
  case 'T': return sizeof(size_t);
  case 'f': return sizeof(float);
  case 'd': return sizeof(double);
  case 'x': return 1;
  case 'c': return (size_t)getnum(f, 1);
  case 'i': case 'I': {
    int sz = getnum(f, sizeof(int));
    if (sz > MAXINTSIZE) luaL_error(L, "integral size %d is larger than limit of %d", sz, MAXINTSIZE);
    return (size_t)sz;
  }
  default: return 0;
  }
}

static int gettoalign(size_t len, fmt_state *h, int opt, size_t size) {
  if (size == 0 || opt == 'c') return 0;
  if (size > (size_t)h->align) size = (size_t)h->align;
  return (int)((size - (len & (size - 1))) & (size - 1));
}

static void controloptions(lua_State *L, int opt, const char **f, fmt_state *h) {
  switch (opt) {
  case ' ': return;
  case '>': h->little = 0; return;
  case '<': h->little = 1; return;
  case '=': h->little = native_little(); return;
  case '!': {
    int a = getnum(f, MAXALIGN);
    if (a == 0 || (a & (a - 1)) != 0) luaL_argerror(L, 1, lua_pushfstring(L, "alignment %d is not a power of 2", a));
    h->align = a;
    return;
  }
  default: luaL_argerror(L, 1, lua_pushfstring(L, "invalid format option '%c'", opt));
  }
}

static void putinteger(lua_State *L, cairn_buf *b, int arg, int little, int size) {
  lua_Number n = luaL_checknumber(L, arg);
  uint64_t value = n < 0 ? (uint64_t)(int64_t)n : (uint64_t)n;
  unsigned char buff[MAXINTSIZE];
  for (int i = 0; i < size; i++) {
    buff[little ? i : size - 1 - i] = (unsigned char)(i < 8 ? value & 0xff : (n < 0 ? 0xff : 0));
    if (i < 8) value >>= 8;
  }
  cairn_buf_append(b, buff, (size_t)size);
}

static void correctbytes(char *p, int size, int little) {
  if (little != native_little())
    for (int i = 0; i < size / 2; i++) {
      char t = p[i];
      p[i] = p[size - 1 - i];
      p[size - 1 - i] = t;
    }
}

static int b_pack(lua_State *L) {
  cairn_buf b = {0};
  const char *fmt = luaL_checkstring(L, 1);
  fmt_state h = {native_little(), 1};
  int arg = 2;
  size_t totalsize = 0;
  lua_pushnil(L); /* mark to separate arguments from string buffer */
  while (*fmt != '\0') {
    int opt = *fmt++;
    size_t size = optsize(L, (char)opt, &fmt);
    int toalign = gettoalign(totalsize, &h, opt, size);
    totalsize += (size_t)toalign;
    while (toalign-- > 0) cairn_buf_append(&b, "", 1);
    switch (opt) {
    case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I':
      putinteger(L, &b, arg++, h.little, (int)size);
      break;
    case 'x':
      cairn_buf_append(&b, "", 1);
      break;
    case 'f': {
      float f = (float)luaL_checknumber(L, arg++);
      correctbytes((char *)&f, (int)size, h.little);
      cairn_buf_append(&b, &f, size);
      break;
    }
    case 'd': {
      double d = luaL_checknumber(L, arg++);
      correctbytes((char *)&d, (int)size, h.little);
      cairn_buf_append(&b, &d, size);
      break;
    }
    case 'c': case 's': {
      size_t l;
      const char *s = luaL_checklstring(L, arg++, &l);
      if (size == 0) size = l;
      luaL_argcheck(L, l >= size, arg, "string too short");
      cairn_buf_append(&b, s, size);
      if (opt == 's') {
        cairn_buf_append(&b, "", 1);
        size++;
      }
      break;
    }
    default:
      controloptions(L, opt, &fmt, &h);
    }
    totalsize += size;
  }
  lua_pushlstring(L, b.p ? b.p : "", b.len);
  cairn_buf_free(&b);
  return 1;
}

static lua_Number getinteger(const char *buff, int little, int issigned, int size) {
  uint64_t l = 0;
  for (int i = 0; i < size; i++) {
    unsigned char c = (unsigned char)buff[little ? size - 1 - i : i];
    l = (l << 8) | c;
  }
  if (!issigned) return (lua_Number)l;
  if (size < 8) {
    uint64_t mask = (uint64_t)1 << (size * 8 - 1);
    return (lua_Number)(int64_t)((l ^ mask) - mask);
  }
  return (lua_Number)(int64_t)l;
}

static int b_unpack(lua_State *L) {
  fmt_state h = {native_little(), 1};
  const char *fmt = luaL_checkstring(L, 1);
  size_t ld;
  const char *data = luaL_checklstring(L, 2, &ld);
  size_t pos = (size_t)luaL_optinteger(L, 3, 1);
  luaL_argcheck(L, pos > 0, 3, "offset must be 1 or greater");
  pos--;
  int n = 0;
  while (*fmt) {
    int opt = *fmt++;
    size_t size = optsize(L, (char)opt, &fmt);
    pos += (size_t)gettoalign(pos, &h, opt, size);
    luaL_argcheck(L, size <= ld && pos <= ld - size, 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");
    switch (opt) {
    case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I': {
      int issigned = islower(opt);
      lua_pushnumber(L, getinteger(data + pos, h.little, issigned, (int)size));
      n++;
      break;
    }
    case 'x':
      break;
    case 'f': {
      float f;
      memcpy(&f, data + pos, size);
      correctbytes((char *)&f, sizeof(f), h.little);
      lua_pushnumber(L, f);
      n++;
      break;
    }
    case 'd': {
      double d;
      memcpy(&d, data + pos, size);
      correctbytes((char *)&d, sizeof(d), h.little);
      lua_pushnumber(L, d);
      n++;
      break;
    }
    case 'c': {
      if (size == 0) {
        if (n == 0 || !lua_isnumber(L, -1)) luaL_error(L, "format 'c0' needs a previous size");
        size = (size_t)lua_tonumber(L, -1);
        lua_pop(L, 1);
        n--;
        luaL_argcheck(L, size <= ld && pos <= ld - size, 2, "data string too short");
      }
      lua_pushlstring(L, data + pos, size);
      n++;
      break;
    }
    case 's': {
      const char *e = memchr(data + pos, '\0', ld - pos);
      if (e == NULL) luaL_error(L, "unfinished string in data");
      size = (size_t)(e - (data + pos)) + 1;
      lua_pushlstring(L, data + pos, size - 1);
      n++;
      break;
    }
    default:
      controloptions(L, opt, &fmt, &h);
    }
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)pos + 1);
  return n + 1;
}

static int b_size(lua_State *L) {
  fmt_state h = {native_little(), 1};
  const char *fmt = luaL_checkstring(L, 1);
  size_t pos = 0;
  while (*fmt) {
    int opt = *fmt++;
    size_t size = optsize(L, (char)opt, &fmt);
    pos += (size_t)gettoalign(pos, &h, opt, size);
    if (opt == 's')
      luaL_argerror(L, 1, "options 's' has no fixed size");
    else if (opt == 'c' && size == 0)
      luaL_argerror(L, 1, "options 'c0' has no fixed size");
    if (!isalnum(opt)) controloptions(L, opt, &fmt, &h);
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

int cairn_luaopen_struct(lua_State *L) {
  static const luaL_Reg fns[] = {{"pack", b_pack}, {"unpack", b_unpack}, {"size", b_size}, {NULL, NULL}};
  luaL_register(L, "struct", fns);
  return 1;
}
