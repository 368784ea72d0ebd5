/* The Lua engine: state and sandbox, the redis.* API, RESP <-> Lua
 * conversions, running a script (see engine/script.h).
 *
 * Sandbox. Debian's Lua 5.1 has no read-only tables (Redis patches its Lua
 * for them), so the protection is built from metatables:
 *  - the scripts' globals table is an empty proxy whose __index is the real
 *    globals table G and whose __newindex raises "Attempt to modify a
 *    readonly table"; G itself raises "Script attempted to access
 *    nonexistent global variable" for a missing name; KEYS and ARGV are
 *    rawset into G by the engine;
 *  - every library table (redis, string, math, table, cjson, bit, cmsgpack,
 *    struct, coroutine) is replaced in G by such a read-only proxy, and the
 *    string metatable is shielded the same way;
 *  - setmetatable and rawset refuse read-only proxies; getmetatable of one
 *    returns a read-only view of its metatable.
 * os, io, package, print, dofile and loadfile are not there; debug is used
 * by the error handler at init and then removed, like Redis. */
#include "engine/script.h"
#include "engine/acl.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/client.h"
#include "engine/info.h"
#include "engine/log.h"
#include "engine/multi.h"
#include "engine/server.h"
#include "engine/store.h"
#include "engine/tracking.h"
#include "engine/util.h"

extern int luaopen_cjson(lua_State *L);
extern int luaopen_bit(lua_State *L);

/* ---------------------------------------------------------------- SHA1 */
/* FIPS 180-1, written for cairn. */
typedef struct {
  uint32_t h[5];
  uint64_t len;
  unsigned char buf[64];
  size_t n;
} sha1_ctx;

static uint32_t rol(uint32_t v, int b) { return (v << b) | (v >> (32 - b)); }

static void sha1_block(sha1_ctx *s, const unsigned char *p) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[i * 4] << 24 | (uint32_t)p[i * 4 + 1] << 16 | (uint32_t)p[i * 4 + 2] << 8 | p[i * 4 + 3];
  for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
    else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
    else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
    else f = b ^ c ^ d, k = 0xCA62C1D6;
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d, d = c, c = rol(b, 30), b = a, a = t;
  }
  s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

static void sha1_update(sha1_ctx *s, const unsigned char *p, size_t len) {
  s->len += len;
  while (len > 0) {
    size_t take = 64 - s->n < len ? 64 - s->n : len;
    memcpy(s->buf + s->n, p, take);
    s->n += take, p += take, len -= take;
    if (s->n == 64) {
      sha1_block(s, s->buf);
      s->n = 0;
    }
  }
}

void cairn_sha1hex(char out[41], const void *p, size_t len) {
  sha1_ctx s = {.h = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}};
  sha1_update(&s, p, len);
  uint64_t bits = s.len * 8;
  unsigned char pad = 0x80, zero = 0, lenb[8];
  sha1_update(&s, &pad, 1);
  while (s.n != 56) sha1_update(&s, &zero, 1);
  for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(bits >> (56 - 8 * i));
  sha1_update(&s, lenb, 8);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 20; i++) {
    unsigned char b = (unsigned char)(s.h[i / 4] >> (24 - 8 * (i % 4)));
    out[i * 2] = hex[b >> 4];
    out[i * 2 + 1] = hex[b & 15];
  }
  out[40] = '\0';
}

/* ---------------------------------------------------------------- flags */
static const struct {
  const char *name;
  uint32_t flag;
} script_flag_names[] = {
    {"no-writes", CAIRN_SCRIPT_NO_WRITES},         {"allow-oom", CAIRN_SCRIPT_ALLOW_OOM},
    {"allow-stale", CAIRN_SCRIPT_ALLOW_STALE},     {"no-cluster", CAIRN_SCRIPT_NO_CLUSTER},
    {"allow-cross-slot-keys", CAIRN_SCRIPT_ALLOW_CROSS_SLOT},
};

int cairn_script_flag_parse(const char *name, size_t len, uint32_t *flag) {
  for (size_t i = 0; i < sizeof(script_flag_names) / sizeof(script_flag_names[0]); i++)
    if (strlen(script_flag_names[i].name) == len && memcmp(script_flag_names[i].name, name, len) == 0) {
      *flag = script_flag_names[i].flag;
      return 0;
    }
  return -1;
}

int cairn_script_shebang(const char *body, size_t len, uint32_t *flags, size_t *shebang_len, char *err,
                         size_t errlen) {
  *flags = CAIRN_SCRIPT_EVAL_COMPAT;
  *shebang_len = 0;
  if (len < 2 || memcmp(body, "#!", 2) != 0) return 0;
  const char *nl = memchr(body, '\n', len);
  if (!nl) {
    snprintf(err, errlen, "Invalid script shebang");
    return -1;
  }
  size_t sl = (size_t)(nl - body);
  cairn_buf out = {0};
  size_t *offs = NULL, *lens = NULL, cap = 0;
  int n = cairn_split_args(body, sl, &out, &offs, &lens, &cap);
  int rc = 0;
  if (n <= 0) {
    snprintf(err, errlen, "Invalid engine in script shebang");
    rc = -1;
    goto done;
  }
  if (lens[0] != 5 || memcmp(out.p + offs[0], "#!lua", 5) != 0) {
    snprintf(err, errlen, "Unexpected engine in script shebang: %.*s", (int)lens[0], out.p + offs[0]);
    rc = -1;
    goto done;
  }
  *flags &= ~(uint32_t)CAIRN_SCRIPT_EVAL_COMPAT;
  for (int j = 1; j < n; j++) {
    const char *a = out.p + offs[j];
    size_t al = lens[j];
    if (al >= 6 && strncasecmp(a, "flags=", 6) == 0) {
      /* comma-separated; "flags=" alone declares none (Redis splits an
       * empty string into no parts) */
      const char *p = a + 6, *end = a + al;
      while (p < end || (p == end && p > a + 6)) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *fe = comma ? comma : end;
        uint32_t f;
        if (cairn_script_flag_parse(p, (size_t)(fe - p), &f) != 0) {
          snprintf(err, errlen, "Unexpected flag in script shebang: %.*s", (int)(fe - p), p);
          rc = -1;
          goto done;
        }
        *flags |= f;
        if (!comma) break;
        p = comma + 1;
      }
    } else {
      snprintf(err, errlen, "Unknown lua shebang option: %.*s", (int)al, a);
      rc = -1;
      goto done;
    }
  }
  *shebang_len = sl;
done:
  cairn_buf_free(&out);
  free(offs);
  free(lens);
  return rc;
}

/* ---------------------------------------------------------------- state */
typedef struct script_run {
  cairn_ctx *ctx;       /* the EVAL/FCALL running the script */
  const char *funcname; /* for error texts: the sha, or the function's name */
  uint32_t flags;       /* the script's flags */
  int read_only;        /* _RO command or no-writes: write commands refused */
  int eval_mode;        /* EVAL (vs FCALL) */
  int db, resp;         /* the script's own db and protocol */
  int wrote;            /* a write command ran (SCRIPT KILL refused) */
  int killed;           /* SCRIPT KILL / FUNCTION KILL asked to stop */
  int aborted;          /* a store error: the command is rolled back and re-run */
  int timedout;         /* ran past busy-reply-threshold: other clients are being answered */
  int read_keys;        /* ran a read-only command: the declared keys are tracked */
  int64_t start_ms;
} script_run;

typedef struct cairn_scripting {
  lua_State *L;      /* EVAL's state (SCRIPT FLUSH drops it) */
  lua_State *FL;     /* the functions' state, like Redis a state of its own */
  struct fn_load *loading; /* FUNCTION LOAD running the library's code, or NULL */
  long long nscripts;
  cairn_buf reply;   /* a called command's reply */
  cairn_buf args;    /* a called command's arguments */
  cairn_str *argv;
  int argv_cap;
  script_run *run;   /* the script running, or NULL */
  uint64_t rand48;   /* math.random's state (Redis's redisLrand48) */
} cairn_scripting;

static const char *REG_SERVER = "__cairn_server";
static const char *REG_FLAGS = "__cairn_script_flags";
static const char *REG_READONLY = "__cairn_readonly";

static cairn_server *lua_server(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, REG_SERVER);
  cairn_server *srv = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return srv;
}

static script_run *lua_run(lua_State *L) {
  cairn_server *srv = lua_server(L);
  return srv && srv->scripting ? srv->scripting->run : NULL;
}

/* Pushes Redis's error table {err="CODE msg"} for "-CODE msg" or "msg". */
static void push_error_table(lua_State *L, const char *s, size_t len) {
  cairn_buf b = {0};
  if (len > 0 && s[0] == '-') {
    const char *sp = memchr(s, ' ', len);
    if (!sp)
      cairn_buf_printf(&b, "ERR %.*s", (int)(len - 1), s + 1);
    else
      cairn_buf_append(&b, s + 1, len - 1);
  } else {
    cairn_buf_printf(&b, "ERR %.*s", (int)len, s);
  }
  while (b.len > 0 && (b.p[b.len - 1] == '\r' || b.p[b.len - 1] == '\n')) b.len--;
  lua_newtable(L);
  lua_pushstring(L, "err");
  lua_pushlstring(L, b.p ? b.p : "", b.len);
  lua_settable(L, -3);
  cairn_buf_free(&b);
}

static int raise_error(lua_State *L, const char *msg) {
  push_error_table(L, msg, strlen(msg));
  return lua_error(L);
}

/* ------------------------------------------------- RESP reply -> Lua value */
/* Parses one reply of b[*pos..len) (written by cairn itself, hence well
 * formed) onto the Lua stack, Redis's redisProtocolToLuaType. */
static void resp_to_lua(lua_State *L, const char *b, size_t len, size_t *pos) {
  if (*pos >= len) {
    lua_pushnil(L);
    return;
  }
  luaL_checkstack(L, 6, "reply too deep");
  char t = b[*pos];
  const char *line = b + *pos + 1;
  const char *crlf = memmem(line, len - *pos - 1, "\r\n", 2);
  size_t ll = crlf ? (size_t)(crlf - line) : len - *pos - 1;
  size_t next = (size_t)(line - b) + ll + 2;
  long long n = 0;
  if (t == '$' || t == '*' || t == '%' || t == '~' || t == '>' || t == '|' || t == '=' || t == '!' || t == ':')
    n = strtoll(line, NULL, 10);
  switch (t) {
  case ':':
    *pos = next;
    lua_pushnumber(L, (lua_Number)n);
    return;
  case '+':
    *pos = next;
    lua_newtable(L);
    lua_pushstring(L, "ok");
    lua_pushlstring(L, line, ll);
    lua_settable(L, -3);
    return;
  case '-': {
    *pos = next;
    cairn_buf e = {0};
    cairn_buf_append(&e, "-", 1);
    cairn_buf_append(&e, line, ll);
    push_error_table(L, e.p, e.len);
    cairn_buf_free(&e);
    lua_pushstring(L, "ignore_error_stats_update");
    lua_pushboolean(L, 1);
    lua_settable(L, -3);
    return;
  }
  case '$':
  case '!':
  case '=':
    if (n < 0) {
      *pos = next;
      lua_pushboolean(L, 0);
      return;
    }
    *pos = next + (size_t)n + 2;
    if (t == '=') {
      lua_newtable(L);
      lua_pushstring(L, "verbatim_string");
      lua_newtable(L);
      lua_pushstring(L, "string");
      lua_pushlstring(L, b + next + 4, n >= 4 ? (size_t)n - 4 : 0);
      lua_settable(L, -3);
      lua_pushstring(L, "format");
      lua_pushlstring(L, b + next, 3);
      lua_settable(L, -3);
      lua_settable(L, -3);
    } else if (t == '!') {
      cairn_buf e = {0};
      cairn_buf_append(&e, "-", 1);
      cairn_buf_append(&e, b + next, (size_t)n);
      push_error_table(L, e.p, e.len);
      cairn_buf_free(&e);
    } else {
      lua_pushlstring(L, b + next, (size_t)n);
    }
    return;
  case '*':
  case '>':
    *pos = next;
    if (n < 0) {
      lua_pushboolean(L, 0);
      return;
    }
    lua_newtable(L);
    for (long long i = 0; i < n; i++) {
      lua_pushnumber(L, (lua_Number)(i + 1));
      resp_to_lua(L, b, len, pos);
      lua_settable(L, -3);
    }
    return;
  case '%':
  case '~':
    *pos = next;
    lua_newtable(L);
    lua_pushstring(L, t == '%' ? "map" : "set");
    lua_newtable(L);
    for (long long i = 0; i < n; i++) {
      resp_to_lua(L, b, len, pos);
      if (t == '%')
        resp_to_lua(L, b, len, pos);
      else
        lua_pushboolean(L, 1);
      lua_settable(L, -3);
    }
    lua_settable(L, -3);
    return;
  case '|': /* attributes are skipped, the reply follows */
    *pos = next;
    for (long long i = 0; i < 2 * n; i++) {
      resp_to_lua(L, b, len, pos);
      lua_pop(L, 1);
    }
    resp_to_lua(L, b, len, pos);
    return;
  case '_':
    *pos = next;
    lua_pushnil(L);
    return;
  case '#':
    *pos = next;
    lua_pushboolean(L, ll > 0 && line[0] == 't');
    return;
  case ',': {
    *pos = next;
    char tmp[64];
    size_t k = ll < sizeof(tmp) - 1 ? ll : sizeof(tmp) - 1;
    memcpy(tmp, line, k);
    tmp[k] = '\0';
    double d = (strcmp(tmp, "inf") == 0) ? INFINITY : (strcmp(tmp, "-inf") == 0) ? -INFINITY : strtod(tmp, NULL);
    lua_newtable(L);
    lua_pushstring(L, "double");
    lua_pushnumber(L, d);
    lua_settable(L, -3);
    return;
  }
  case '(':
    *pos = next;
    lua_newtable(L);
    lua_pushstring(L, "big_number");
    lua_pushlstring(L, line, ll);
    lua_settable(L, -3);
    return;
  default:
    *pos = len;
    lua_pushnil(L);
  }
}

/* ------------------------------------------------- Lua value -> reply */
static void reply_raw_str(cairn_reply *r, char type, const char *p, size_t len) {
  cairn_buf tmp = {0};
  cairn_buf_printf(&tmp, "%c", type);
  cairn_buf_append(&tmp, p, len);
  cairn_buf_append(&tmp, "\r\n", 2);
  cairn_reply_raw(r, tmp.p, tmp.len);
  cairn_buf_free(&tmp);
}

static void mapchars_crlf(char *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i] == '\r' || p[i] == '\n') p[i] = ' ';
}

/* Builds the error reply of an error table on the top of the stack (and the
 * " script: ..., on source:line." tail when the table has them). */
static void reply_error_table(lua_State *L, cairn_reply *r, const char *funcname, int with_location) {
  cairn_buf m = {0};
  /* An error a rejected call or a command already counted (errorstats,
   * total_error_replies) is not counted again as the script's reply: only
   * as the script's failed call (Redis's ERR_REPLY_FLAG_NO_STATS_UPDATE). */
  lua_getfield(L, -1, "ignore_error_stats_update");
  if (lua_toboolean(L, -1)) lua_server(L)->reply_error_counted = 1;
  lua_pop(L, 1);
  lua_getfield(L, -1, "err");
  size_t el = 0;
  const char *e = lua_tolstring(L, -1, &el);
  cairn_buf_append(&m, "-", 1);
  if (e) cairn_buf_append(&m, e, el);
  lua_pop(L, 1);
  if (with_location) {
    lua_getfield(L, -1, "source");
    const char *src = lua_tostring(L, -1);
    lua_getfield(L, -2, "line");
    const char *line = lua_isnumber(L, -1) || lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
    if (src && line) cairn_buf_printf(&m, " script: %s, on %s:%s.", funcname, src, line);
    lua_pop(L, 2);
  }
  cairn_buf_append(&m, "", 1);
  mapchars_crlf(m.p, m.len - 1);
  cairn_reply_error(r, m.p);
  cairn_buf_free(&m);
}

/* Redis's luaReplyToRedisReply: consumes the value on the top of the stack. */
static void lua_to_reply(lua_State *L, cairn_reply *r, int script_resp) {
  if (!lua_checkstack(L, 4)) {
    cairn_reply_error(r, "reached lua stack limit");
    lua_pop(L, 1);
    return;
  }
  switch (lua_type(L, -1)) {
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    cairn_reply_bulk(r, s, len);
    break;
  }
  case LUA_TBOOLEAN:
    if (script_resp == 2) {
      if (lua_toboolean(L, -1))
        cairn_reply_int(r, 1);
      else
        cairn_reply_null(r);
    } else {
      cairn_reply_bool(r, lua_toboolean(L, -1));
    }
    break;
  case LUA_TNUMBER:
    cairn_reply_int(r, (long long)lua_tonumber(L, -1));
    break;
  case LUA_TTABLE: {
    lua_pushstring(L, "err");
    lua_rawget(L, -2);
    int t = lua_type(L, -1);
    lua_pop(L, 1);
    if (t == LUA_TSTRING) {
      reply_error_table(L, r, NULL, 0);
      break;
    }
    lua_pushstring(L, "ok");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      char *copy = cairn_xmemdup(s, len);
      mapchars_crlf(copy, len);
      reply_raw_str(r, '+', copy, len);
      free(copy);
      lua_pop(L, 2);
      return;
    }
    lua_pop(L, 1);
    lua_pushstring(L, "double");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TNUMBER) {
      cairn_reply_double(r, lua_tonumber(L, -1));
      lua_pop(L, 2);
      return;
    }
    lua_pop(L, 1);
    lua_pushstring(L, "big_number");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      char *copy = cairn_xmemdup(s, len);
      mapchars_crlf(copy, len);
      if (r->resp == 3)
        reply_raw_str(r, '(', copy, len);
      else
        cairn_reply_bulk(r, copy, len);
      free(copy);
      lua_pop(L, 2);
      return;
    }
    lua_pop(L, 1);
    lua_pushstring(L, "verbatim_string");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_getfield(L, -1, "format");
      lua_getfield(L, -2, "string");
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
        size_t fl, sl;
        const char *f = lua_tolstring(L, -2, &fl);
        const char *s = lua_tolstring(L, -1, &sl);
        if (r->resp == 3) {
          cairn_buf tmp = {0};
          cairn_buf_printf(&tmp, "=%zu\r\n%.3s:", sl + 4, fl >= 3 ? f : "txt");
          cairn_buf_append(&tmp, s, sl);
          cairn_buf_append(&tmp, "\r\n", 2);
          cairn_reply_raw(r, tmp.p, tmp.len);
          cairn_buf_free(&tmp);
        } else {
          cairn_reply_bulk(r, s, sl);
        }
        lua_pop(L, 4);
        return;
      }
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
    lua_pushstring(L, "map");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TTABLE) {
      size_t mark = cairn_reply_defer(r);
      long long n = 0;
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_to_reply(L, r, script_resp); /* key */
        lua_to_reply(L, r, script_resp); /* value */
        n++;
      }
      cairn_reply_defer_map(r, mark, n);
      lua_pop(L, 2);
      return;
    }
    lua_pop(L, 1);
    lua_pushstring(L, "set");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TTABLE) {
      size_t mark = cairn_reply_defer(r);
      long long n = 0;
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_to_reply(L, r, script_resp);
        n++;
      }
      cairn_reply_defer_set(r, mark, n);
      lua_pop(L, 2);
      return;
    }
    lua_pop(L, 1);
    size_t mark = cairn_reply_defer(r);
    long long n = 0;
    for (int j = 1;; j++) {
      lua_pushnumber(L, j);
      lua_rawget(L, -2);
      if (lua_type(L, -1) == LUA_TNIL) {
        lua_pop(L, 1);
        break;
      }
      lua_to_reply(L, r, script_resp);
      n++;
    }
    cairn_reply_defer_array(r, mark, n);
    break;
  }
  default:
    cairn_reply_null(r);
  }
  lua_pop(L, 1);
}

/* ---------------------------------------------------------------- redis.* */
static const char *const ERR_RO_SCRIPT = "Write commands are not allowed from read-only scripts.";

/* The checks Redis's scriptCall makes before running a command for a
 * script; NULL when allowed, else the error text. */
static const char *script_call_check(cairn_server *srv, script_run *run, const cairn_command *cmd, int argc,
                                     cairn_str *argv, cairn_buf *tmp) {
  uint32_t flags = cmd->flags;
  if (cmd->subcommands && argc >= 2) { /* CLUSTER RESET, SCRIPT KILL...: the subcommand's flags */
    const cairn_command *sub = cairn_subcommand_find(cmd, argv[1]);
    if (sub) flags |= sub->flags;
  }
  if (flags & CAIRN_CMD_NOSCRIPT) return "This Redis command is not allowed from script";
  if (srv->replica_mode && !srv->master_link_up && !srv->cfg.replica_serve_stale_data &&
      !(cmd->flags & CAIRN_CMD_STALE))
    return "Can not execute the command on a stale replica";
  if (run->read_only && (cmd->flags & (CAIRN_CMD_WRITE | CAIRN_CMD_MAY_REPLICATE))) return ERR_RO_SCRIPT;
  int is_master = run->ctx->client && cairn_client_type(run->ctx->client) == CAIRN_CLIENT_TYPE_MASTER;
  if ((cmd->flags & CAIRN_CMD_WRITE) && !run->wrote) {
    if (srv->replica_mode && srv->cfg.replica_read_only && !is_master)
      return "-READONLY You can't write against a read only replica.";
    if (srv->write_error) {
      cairn_buf_printf(tmp,
                       "-MISCONF Errors writing to the backlog on disk (%s): writes are refused until it works "
                       "again. Check the server log.",
                       srv->write_error_msg);
      cairn_buf_append(tmp, "", 1);
      return tmp->p;
    }
    if (srv->cfg.min_replicas_to_write > 0 && !srv->replica_mode && srv->repl_hooks.good_replicas &&
        srv->repl_hooks.good_replicas(srv) < srv->cfg.min_replicas_to_write)
      return "-NOREPLICAS Not enough good replicas to write.";
  }
  if (!(run->flags & CAIRN_SCRIPT_ALLOW_OOM) && !run->wrote && !is_master && (cmd->flags & CAIRN_CMD_DENYOOM))
    return cairn_oom_refusal(srv, run->ctx->client);
  return NULL;
}

static int redis_generic_call(lua_State *L, int raise) {
  cairn_server *srv = lua_server(L);
  script_run *run = lua_run(L);
  if (!run) return raise_error(L, "redis.call/pcall can only be called inside a script invocation");
  cairn_scripting *sc = srv->scripting;
  int argc = lua_gettop(L);
  if (argc == 0) {
    push_error_table(L, "Please specify at least one argument for this redis lib call", 60);
    return raise ? lua_error(L) : 1;
  }
  /* The arguments, copied: numbers as %.17g, like Redis. */
  sc->args.len = 0;
  size_t *offs = malloc(sizeof(size_t) * (size_t)argc * 2);
  size_t *lens = offs + argc;
  int j;
  for (j = 0; j < argc; j++) {
    offs[j] = sc->args.len;
    if (lua_type(L, j + 1) == LUA_TNUMBER) {
      char dbuf[64];
      int n = snprintf(dbuf, sizeof(dbuf), "%.17g", (double)lua_tonumber(L, j + 1));
      cairn_buf_append(&sc->args, dbuf, (size_t)n);
      lens[j] = (size_t)n;
    } else {
      size_t len;
      const char *s = lua_type(L, j + 1) == LUA_TSTRING ? lua_tolstring(L, j + 1, &len) : NULL;
      if (!s) break;
      cairn_buf_append(&sc->args, s, len);
      lens[j] = len;
    }
  }
  lua_pop(L, argc);
  if (j != argc) {
    free(offs);
    const char *m = "Lua redis lib command arguments must be strings or integers";
    push_error_table(L, m, strlen(m));
    return raise ? lua_error(L) : 1;
  }
  if (sc->argv_cap < argc) {
    sc->argv_cap = argc;
    sc->argv = realloc(sc->argv, sizeof(cairn_str) * (size_t)argc);
  }
  for (j = 0; j < argc; j++) sc->argv[j] = (cairn_str){.p = sc->args.p + offs[j], .len = lens[j]};
  free(offs);

  const char *err = NULL;
  cairn_buf tmp = {0};
  const cairn_command *cmd = cairn_command_lookup(sc->argv[0].p, sc->argv[0].len);
  if (run->aborted)
    err = "the script's command failed in the store: it is rolled back and run again";
  else if (!cmd)
    err = "Unknown Redis command called from script";
  else if (!cairn_arity_ok(cmd, argc))
    err = "Wrong number of args calling Redis command from script";
  else
    err = script_call_check(srv, run, cmd, argc, sc->argv, &tmp);
  if (err) {
    push_error_table(L, err, strlen(err));
    lua_pushstring(L, "ignore_error_stats_update");
    lua_pushboolean(L, 1);
    lua_settable(L, -3);
    cairn_buf_free(&tmp);
    if (!run->aborted) {
      /* counted here, as the refused command's rejected call (Redis's
       * scriptCall: afterErrorReply, incrCommandStatsOnError) */
      cairn_buf e = {0};
      cairn_buf_printf(&e, err[0] == '-' ? "%s" : "-ERR %s", err);
      cairn_info_record_call(srv, cmd, argc, sc->argv, 0, 1, e.p, e.len);
      srv->stats.total_error_replies++;
      cairn_buf_free(&e);
    }
    return raise ? lua_error(L) : 1;
  }
  cairn_buf_free(&tmp);
  if (cmd->flags & CAIRN_CMD_WRITE) run->wrote = 1;
  if (cmd->flags & CAIRN_CMD_READONLY) run->read_keys = 1;

  /* The arguments must outlive the call (a nested script call reuses sc->args). */
  cairn_buf own = {0};
  cairn_buf_append(&own, sc->args.p, sc->args.len);
  cairn_str *argv = malloc(sizeof(cairn_str) * (size_t)argc);
  for (j = 0; j < argc; j++) argv[j] = (cairn_str){.p = own.p + (sc->argv[j].p - sc->args.p), .len = sc->argv[j].len};
  cairn_buf out = {0};
  cairn_client *cl = run->ctx->client;
  uint32_t saved = cl ? cl->flags & CAIRN_CLIENT_IN_EXEC : 0;
  if (cl) cl->flags |= CAIRN_CLIENT_IN_EXEC; /* blocking commands answer at once */
  run->db = cairn_execute_script_call(run->ctx, cmd, argc, argv, &out, run->resp, run->db);
  if (cl) cl->flags = (cl->flags & ~(uint32_t)CAIRN_CLIENT_IN_EXEC) | saved;
  free(argv);
  cairn_buf_free(&own);
  if (run->ctx->store_rc) {
    run->aborted = 1;
    cairn_buf_free(&out);
    return raise_error(L, "the script's command failed in the store: it is rolled back and run again");
  }
  size_t pos = 0;
  int is_err = out.len > 0 && out.p[0] == '-';
  resp_to_lua(L, out.p ? out.p : "", out.len, &pos);
  cairn_buf_free(&out);
  if (raise && is_err) return lua_error(L);
  return 1;
}

static int l_redis_call(lua_State *L) { return redis_generic_call(L, 1); }
static int l_redis_pcall(lua_State *L) { return redis_generic_call(L, 0); }

/* The global pcall: an error table becomes its err string (Redis 7). */
static int l_pcall(lua_State *L) {
  int argc = lua_gettop(L);
  luaL_checkany(L, 1);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  if (lua_pcall(L, argc - 1, LUA_MULTRET, 0)) {
    lua_remove(L, 1);
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "err");
      if (lua_isstring(L, -1))
        lua_replace(L, -2);
      else
        lua_pop(L, 1);
    }
    lua_pushboolean(L, 0);
    lua_insert(L, 1);
  }
  return lua_gettop(L);
}

static int l_sha1hex(lua_State *L) {
  if (lua_gettop(L) != 1) return raise_error(L, "wrong number of arguments");
  size_t len;
  const char *s = lua_tolstring(L, 1, &len);
  char hex[41];
  cairn_sha1hex(hex, s ? s : "", s ? len : 0);
  lua_pushstring(L, hex);
  return 1;
}

static int l_error_reply(lua_State *L) {
  if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
    push_error_table(L, "wrong number or type of arguments", 33);
    return 1;
  }
  size_t len;
  const char *e = lua_tolstring(L, -1, &len);
  cairn_buf b = {0};
  if (len == 0 || e[0] != '-') cairn_buf_append(&b, "-", 1);
  cairn_buf_append(&b, e, len);
  push_error_table(L, b.p, b.len);
  cairn_buf_free(&b);
  return 1;
}

static int l_status_reply(lua_State *L) {
  if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
    push_error_table(L, "wrong number or type of arguments", 33);
    return 1;
  }
  lua_newtable(L);
  lua_pushstring(L, "ok");
  lua_pushvalue(L, -3);
  lua_settable(L, -3);
  return 1;
}

static int l_log(lua_State *L) {
  int argc = lua_gettop(L);
  if (argc < 2) return raise_error(L, "redis.log() requires two arguments or more.");
  if (!lua_isnumber(L, 1)) return raise_error(L, "First argument must be a number (log level).");
  int level = (int)lua_tonumber(L, 1);
  if (level < CAIRN_LOG_DEBUG || level > CAIRN_LOG_WARNING) return raise_error(L, "Invalid debug level.");
  cairn_buf b = {0};
  for (int j = 2; j <= argc; j++) {
    size_t len;
    const char *s = lua_tolstring(L, j, &len);
    if (!s) continue;
    if (j != 2) cairn_buf_append(&b, " ", 1);
    cairn_buf_append(&b, s, len);
  }
  cairn_log(level, "%.*s", (int)b.len, b.p ? b.p : "");
  cairn_buf_free(&b);
  return 0;
}

static int l_setresp(lua_State *L) {
  script_run *run = lua_run(L);
  if (!run) return raise_error(L, "redis.setresp can only be called inside a script invocation");
  if (lua_gettop(L) != 1) return raise_error(L, "redis.setresp() requires one argument.");
  int resp = (int)lua_tonumber(L, 1);
  if (resp != 2 && resp != 3) return raise_error(L, "RESP version must be 2 or 3.");
  run->resp = resp;
  return 0;
}

/* redis.set_repl: validated; cairn's WAL is its replication stream, so the
 * effects are always propagated (REPL_NONE cannot skip durability). */
static int l_set_repl(lua_State *L) {
  script_run *run = lua_run(L);
  if (!run) return raise_error(L, "redis.set_repl can only be called inside a script invocation");
  if (lua_gettop(L) != 1) return raise_error(L, "redis.set_repl() requires two arguments.");
  int flags = (int)lua_tonumber(L, -1);
  if ((flags & ~3) != 0) return raise_error(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
  return 0;
}

static int l_replicate_commands(lua_State *L) {
  lua_pushboolean(L, 1);
  return 1;
}

static int l_breakpoint(lua_State *L) {
  lua_pushboolean(L, 0); /* no debugger session */
  return 1;
}

static int l_debug(lua_State *L) { return 0; }

static int l_acl_check_cmd(lua_State *L) {
  script_run *run = lua_run(L);
  if (!run) return raise_error(L, "redis.acl_check_cmd can only be called inside a script invocation");
  if (lua_gettop(L) == 0) return raise_error(L, "Please specify at least one argument for this redis lib call");
  size_t len;
  const char *name = lua_tolstring(L, 1, &len);
  const cairn_command *cmd = name ? cairn_command_lookup(name, len) : NULL;
  if (!cmd) return raise_error(L, "Invalid command passed to redis.acl_check_cmd()");
  /* the calling client's user, on the arguments as given (Redis's
   * ACLCheckAllUserCommandPerm; nothing is logged) */
  int argc = lua_gettop(L);
  cairn_str *argv = cairn_xcalloc((size_t)argc, sizeof(*argv));
  for (int i = 0; i < argc; i++) {
    size_t l = 0;
    const char *p = lua_tolstring(L, i + 1, &l);
    argv[i] = (cairn_str){p ? p : "", p ? l : 0};
  }
  if (cmd->subcommands && argc >= 2) {
    const cairn_command *sub = cairn_subcommand_find(cmd, argv[1]);
    if (sub) cmd = sub;
  }
  cairn_client *c = run->ctx->client;
  int errpos = 0, ok = !c || !c->user || cairn_acl_check(c->user, cmd, argc, argv, &errpos) == CAIRN_ACL_OK;
  free(argv);
  lua_pushboolean(L, ok);
  return 1;
}

/* math.random / math.randomseed: Redis's deterministic lrand48. */
static int32_t lrand48_next(cairn_scripting *sc) {
  sc->rand48 = (sc->rand48 * 0x5DEECE66DULL + 0xB) & ((1ULL << 48) - 1);
  return (int32_t)(sc->rand48 >> 17);
}

static int l_math_random(lua_State *L) {
  cairn_server *srv = lua_server(L);
  if (!lua_run(L)) return luaL_error(L, "math.random can only be called inside a script invocation");
  lua_Number r = (lua_Number)(lrand48_next(srv->scripting) % INT32_MAX) / (lua_Number)INT32_MAX;
  switch (lua_gettop(L)) {
  case 0:
    lua_pushnumber(L, r);
    break;
  case 1: {
    int u = luaL_checkint(L, 1);
    luaL_argcheck(L, 1 <= u, 1, "interval is empty");
    lua_pushnumber(L, floor(r * u) + 1);
    break;
  }
  case 2: {
    int l = luaL_checkint(L, 1), u = luaL_checkint(L, 2);
    luaL_argcheck(L, l <= u, 2, "interval is empty");
    lua_pushnumber(L, floor(r * (u - l + 1)) + l);
    break;
  }
  default:
    return luaL_error(L, "wrong number of arguments");
  }
  return 1;
}

static int l_math_randomseed(lua_State *L) {
  cairn_server *srv = lua_server(L);
  if (!lua_run(L)) return luaL_error(L, "math.randomseed can only be called inside a script invocation");
  int32_t seed = (int32_t)luaL_checkint(L, 1);
  srv->scripting->rand48 = ((uint64_t)(uint32_t)seed << 16) | 0x330E;
  return 0;
}

/* ---------------------------------------------------------------- sandbox */
static int ro_newindex(lua_State *L) {
  luaL_where(L, 1);
  lua_pushstring(L, "Attempt to modify a readonly table");
  lua_concat(L, 2);
  return lua_error(L);
}

static int missing_global(lua_State *L) {
  const char *name = lua_tostring(L, 2);
  luaL_where(L, 1);
  lua_pushfstring(L, "Script attempted to access nonexistent global variable '%s'", name ? name : "?");
  lua_concat(L, 2);
  return lua_error(L);
}

static int is_readonly(lua_State *L, int idx) {
  if (!lua_istable(L, idx)) return 0;
  lua_pushvalue(L, idx);
  lua_getfield(L, LUA_REGISTRYINDEX, REG_READONLY);
  lua_insert(L, -2);
  lua_rawget(L, -2);
  int ro = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return ro;
}

static void mark_readonly(lua_State *L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_getfield(L, LUA_REGISTRYINDEX, REG_READONLY);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* Pushes a read-only view of the table at idx: an empty table whose
 * metatable reads through to it and refuses writes. */
static void push_readonly_view(lua_State *L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_newtable(L);              /* the view */
  lua_newtable(L);              /* its metatable */
  lua_pushvalue(L, idx);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ro_newindex);
  lua_setfield(L, -2, "__newindex");
  /* getmetatable(view) gives a read-only view of an empty table */
  lua_newtable(L);
  lua_newtable(L);
  lua_pushcfunction(L, ro_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  mark_readonly(L, -1);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  mark_readonly(L, -1);
}

static int l_setmetatable(lua_State *L) {
  if (is_readonly(L, 1)) {
    lua_pushstring(L, "Attempt to modify a readonly table");
    return lua_error(L);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, "__cairn_setmetatable");
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int l_rawset(lua_State *L) {
  if (is_readonly(L, 1)) {
    lua_pushstring(L, "Attempt to modify a readonly table");
    return lua_error(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

/* loadstring/load refuse precompiled chunks (Redis's Lua refuses them too):
 * nil and a message, so calling the result fails. */
static int l_loadstring(lua_State *L) {
  size_t len;
  const char *s = lua_tolstring(L, 1, &len);
  if (s && len > 0 && s[0] == LUA_SIGNATURE[0]) {
    lua_pushnil(L);
    lua_pushstring(L, "loading binary code is not allowed");
    return 2;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, lua_tostring(L, lua_upvalueindex(1)));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static void set_fn(lua_State *L, const char *name, lua_CFunction f) {
  lua_pushcfunction(L, f);
  lua_setfield(L, -2, name);
}

static const char *ERR_HANDLER =
    "local dbg = debug\n"
    "function __redis__err__handler(err)\n"
    "  local i = dbg.getinfo(2, 'nSl')\n"
    "  if i and i.what == 'C' then i = dbg.getinfo(3, 'nSl') end\n"
    "  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end\n"
    "  if i then err['source'] = i.source; err['line'] = i.currentline end\n"
    "  return err\n"
    "end\n";

static int l_register_function(lua_State *L);

static lua_State *state_new(cairn_server *srv, int functions) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  lua_pushlightuserdata(L, srv);
  lua_setfield(L, LUA_REGISTRYINDEX, REG_SERVER);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, REG_FLAGS);
  lua_newtable(L); /* weak-keyed set of read-only tables */
  lua_newtable(L);
  lua_pushstring(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, REG_READONLY);

  static const struct {
    const char *name;
    lua_CFunction fn;
  } libs[] = {{"", luaopen_base},          {LUA_TABLIBNAME, luaopen_table}, {LUA_STRLIBNAME, luaopen_string},
              {LUA_MATHLIBNAME, luaopen_math}, {LUA_DBLIBNAME, luaopen_debug}, {"cjson", luaopen_cjson},
              {"struct", cairn_luaopen_struct}, {"cmsgpack", cairn_luaopen_cmsgpack}, {"bit", luaopen_bit}};
  for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
    lua_pushcfunction(L, libs[i].fn);
    lua_pushstring(L, libs[i].name);
    lua_call(L, 1, 1);
    if (libs[i].name[0] && lua_istable(L, -1)) lua_setglobal(L, libs[i].name); /* cjson does not set it */
    else lua_pop(L, 1);
  }
  /* Not in Redis's sandbox. */
  static const char *const removed[] = {"print", "dofile", "loadfile", "module", "require", "package", NULL};
  for (int i = 0; removed[i]; i++) {
    lua_pushnil(L);
    lua_setglobal(L, removed[i]);
  }
  lua_pushcfunction(L, l_pcall);
  lua_setglobal(L, "pcall");
  lua_getglobal(L, "setmetatable");
  lua_setfield(L, LUA_REGISTRYINDEX, "__cairn_setmetatable");
  lua_pushcfunction(L, l_setmetatable);
  lua_setglobal(L, "setmetatable");
  lua_pushcfunction(L, l_rawset);
  lua_setglobal(L, "rawset");
  lua_getglobal(L, "loadstring");
  lua_setfield(L, LUA_REGISTRYINDEX, "__cairn_loadstring");
  lua_pushstring(L, "__cairn_loadstring");
  lua_pushcclosure(L, l_loadstring, 1);
  lua_setglobal(L, "loadstring");

  lua_newtable(L); /* redis */
  set_fn(L, "call", l_redis_call);
  set_fn(L, "pcall", l_redis_pcall);
  set_fn(L, "log", l_log);
  set_fn(L, "setresp", l_setresp);
  set_fn(L, "sha1hex", l_sha1hex);
  set_fn(L, "error_reply", l_error_reply);
  set_fn(L, "status_reply", l_status_reply);
  set_fn(L, "set_repl", l_set_repl);
  set_fn(L, "replicate_commands", l_replicate_commands);
  set_fn(L, "breakpoint", l_breakpoint);
  set_fn(L, "debug", l_debug);
  set_fn(L, "acl_check_cmd", l_acl_check_cmd);
  static const struct {
    const char *name;
    int v;
  } consts[] = {{"LOG_DEBUG", CAIRN_LOG_DEBUG}, {"LOG_VERBOSE", CAIRN_LOG_VERBOSE}, {"LOG_NOTICE", CAIRN_LOG_NOTICE},
                {"LOG_WARNING", CAIRN_LOG_WARNING}, {"REPL_NONE", 0}, {"REPL_AOF", 1}, {"REPL_SLAVE", 2},
                {"REPL_REPLICA", 2}, {"REPL_ALL", 3}};
  for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) {
    lua_pushnumber(L, consts[i].v);
    lua_setfield(L, -2, consts[i].name);
  }
  /* REDIS_VERSION / REDIS_VERSION_NUM: the version cairn follows (0x00MMmmpp). */
  int vmaj = 0, vmin = 0, vpatch = 0;
  sscanf(CAIRN_REDIS_VERSION, "%d.%d.%d", &vmaj, &vmin, &vpatch);
  lua_pushnumber(L, (vmaj << 16) | (vmin << 8) | vpatch);
  lua_setfield(L, -2, "REDIS_VERSION_NUM");
  lua_pushstring(L, CAIRN_REDIS_VERSION);
  lua_setfield(L, -2, "REDIS_VERSION");
  lua_setglobal(L, "redis");

  lua_getglobal(L, "math");
  set_fn(L, "random", l_math_random);
  set_fn(L, "randomseed", l_math_randomseed);
  lua_pop(L, 1);

  if (luaL_loadbuffer(L, ERR_HANDLER, strlen(ERR_HANDLER), "@err_handler_def") || lua_pcall(L, 0, 0, 0)) {
    cairn_warning("scripting: the error handler did not load: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  lua_setglobal(L, "debug");

  /* Library tables become read-only views; the string metatable too. */
  static const char *const ro_libs[] = {"redis", "string", "math",   "table",    "cjson",
                                        "bit",   "struct", "coroutine", "cmsgpack", NULL};
  for (int i = 0; ro_libs[i]; i++) {
    lua_getglobal(L, ro_libs[i]);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    push_readonly_view(L, -1);
    lua_setglobal(L, ro_libs[i]);
    lua_pop(L, 1);
  }
  lua_pushstring(L, "");
  if (lua_getmetatable(L, -1)) {
    lua_getglobal(L, "string");
    lua_setfield(L, -2, "__index");
    push_readonly_view(L, -1);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);

  if (functions) {
    /* While FUNCTION LOAD runs a library's code its globals are only
     * `redis` with register_function, log and the version (Redis's library
     * API); the functions it registers see the usual globals when called. */
    lua_newtable(L); /* load API */
    lua_newtable(L); /* its redis table */
    set_fn(L, "register_function", l_register_function);
    set_fn(L, "log", l_log);
    static const struct {
      const char *name;
      int v;
    } lconsts[] = {{"LOG_DEBUG", CAIRN_LOG_DEBUG}, {"LOG_VERBOSE", CAIRN_LOG_VERBOSE},
                   {"LOG_NOTICE", CAIRN_LOG_NOTICE}, {"LOG_WARNING", CAIRN_LOG_WARNING}};
    for (size_t i = 0; i < sizeof(lconsts) / sizeof(lconsts[0]); i++) {
      lua_pushnumber(L, lconsts[i].v);
      lua_setfield(L, -2, lconsts[i].name);
    }
    lua_getglobal(L, "redis");
    lua_getfield(L, -1, "REDIS_VERSION");
    lua_setfield(L, -3, "REDIS_VERSION");
    lua_getfield(L, -1, "REDIS_VERSION_NUM");
    lua_setfield(L, -3, "REDIS_VERSION_NUM");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, missing_global);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    push_readonly_view(L, -1);
    lua_setfield(L, -3, "redis");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, missing_global);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "__cairn_load_api");
  }

  /* The globals: G (the real table) errors on a missing name; the scripts
   * see a read-only view of it as their globals. */
  lua_pushvalue(L, LUA_GLOBALSINDEX); /* G */
  lua_newtable(L);
  lua_pushcfunction(L, missing_global);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  push_readonly_view(L, -1); /* G, view */
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "_G");
  lua_getmetatable(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "__cairn_G_mt"); /* FUNCTION LOAD switches its __index */
  lua_replace(L, LUA_GLOBALSINDEX); /* loaded chunks see the view */
  lua_setfield(L, LUA_REGISTRYINDEX, "__cairn_G");
  return L;
}

static cairn_scripting *scripting(cairn_server *srv) {
  if (srv->scripting && srv->scripting->L) return srv->scripting;
  if (!srv->scripting) {
    srv->scripting = calloc(1, sizeof(cairn_scripting));
    srv->scripting->rand48 = 0x1234ABCD330EULL;
  }
  srv->scripting->L = state_new(srv, 0);
  if (!srv->scripting->L) {
    cairn_warning("scripting: cannot create the Lua state (out of memory)");
    abort();
  }
  return srv->scripting;
}

void cairn_script_free(cairn_server *srv) {
  cairn_scripting *sc = srv->scripting;
  if (!sc) return;
  if (sc->L) lua_close(sc->L);
  if (sc->FL) lua_close(sc->FL);
  cairn_buf_free(&sc->reply);
  cairn_buf_free(&sc->args);
  free(sc->argv);
  free(sc);
  srv->scripting = NULL;
}

void cairn_script_flush(cairn_server *srv) {
  cairn_scripting *sc = srv->scripting;
  if (!sc || !sc->L || sc->run) return;
  lua_close(sc->L);
  sc->L = NULL;
  sc->nscripts = 0;
}

long long cairn_script_count(cairn_server *srv) { return srv->scripting ? srv->scripting->nscripts : 0; }

long long cairn_script_memory(cairn_server *srv) {
  if (!srv->scripting || !srv->scripting->L) return 0;
  return (long long)lua_gc(srv->scripting->L, LUA_GCCOUNT, 0) * 1024LL;
}

long long cairn_function_memory(cairn_server *srv) {
  if (!srv->scripting || !srv->scripting->FL) return 0;
  return (long long)lua_gc(srv->scripting->FL, LUA_GCCOUNT, 0) * 1024LL;
}

int cairn_script_running(cairn_server *srv) { return srv->scripting && srv->scripting->run; }

/* ---------------------------------------------------------------- cache */
static void funcname(char out[43], const char *sha) {
  out[0] = 'f', out[1] = '_';
  for (int i = 0; i < 40; i++) out[2 + i] = (char)((sha[i] >= 'A' && sha[i] <= 'Z') ? sha[i] + 32 : sha[i]);
  out[42] = '\0';
}

int cairn_script_exists(cairn_server *srv, const char *sha, size_t len) {
  if (len != 40 || !srv->scripting || !srv->scripting->L) return 0;
  lua_State *L = srv->scripting->L;
  char fn[43];
  funcname(fn, sha);
  lua_getfield(L, LUA_REGISTRYINDEX, fn);
  int found = lua_isfunction(L, -1);
  lua_pop(L, 1);
  return found;
}

int cairn_script_load(cairn_ctx *c, const char *body, size_t len, char sha[41]) {
  cairn_scripting *sc = scripting(c->srv);
  lua_State *L = sc->L;
  cairn_sha1hex(sha, body, len);
  if (cairn_script_exists(c->srv, sha, 40)) return 0;
  uint32_t flags;
  size_t skip;
  char err[256];
  if (cairn_script_shebang(body, len, &flags, &skip, err, sizeof(err)) != 0) {
    cairn_reply_error(&c->reply, err);
    return -1;
  }
  /* The shebang line is skipped, its line feed kept (line numbers stay). */
  if (luaL_loadbuffer(L, body + skip, len - skip, "@user_script")) {
    cairn_buf m = {0};
    cairn_buf_printf(&m, "Error compiling script (new function): %s", lua_tostring(L, -1));
    cairn_buf_append(&m, "", 1);
    mapchars_crlf(m.p, m.len - 1);
    cairn_reply_error(&c->reply, m.p);
    cairn_buf_free(&m);
    lua_pop(L, 1);
    return -1;
  }
  char fn[43];
  funcname(fn, sha);
  lua_setfield(L, LUA_REGISTRYINDEX, fn);
  lua_getfield(L, LUA_REGISTRYINDEX, REG_FLAGS);
  lua_pushnumber(L, flags);
  lua_setfield(L, -2, fn);
  lua_pop(L, 1);
  sc->nscripts++;
  return 0;
}

/* ---------------------------------------------------------------- running */
static void kill_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  script_run *run = lua_run(L);
  if (!run) return;
  cairn_server *srv = lua_server(L);
  long long limit = srv->cfg.busy_reply_threshold;
  if (!run->killed && !run->aborted && limit > 0 && cairn_mstime() - run->start_ms >= limit) {
    if (!run->timedout) {
      run->timedout = 1;
      cairn_warning("Slow script detected: still in execution after %lld milliseconds. You can try killing the "
                    "script using the %s command. Script name is: %s.",
                    (long long)(cairn_mstime() - run->start_ms), run->eval_mode ? "SCRIPT KILL" : "FUNCTION KILL",
                    run->funcname);
    }
    /* Other clients get -BUSY, SCRIPT KILL and SHUTDOWN NOSAVE are served. */
    cairn_clients_serve_busy(srv, run->ctx->client, run->eval_mode);
  }
  if (run->killed || run->aborted) {
    /* Every instruction from now on raises: pcall cannot hold it back. */
    lua_sethook(L, kill_hook, LUA_MASKLINE, 0);
    if (run->killed) {
      cairn_warning("Lua script killed by user with SCRIPT KILL.");
      raise_error(L, "Script killed by user with SCRIPT KILL...");
    }
    raise_error(L, "the script's command failed in the store: it is rolled back and run again");
  }
}

static void push_array(lua_State *L, int n, cairn_str *v) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushlstring(L, v[i].p, v[i].len);
    lua_rawseti(L, -2, i + 1);
  }
}

/* Redis's scriptPrepareForRun: the checks on the script's flags. 0, or -1
 * after replying. */
static int prepare_checks(cairn_ctx *c, uint32_t flags, int ro) {
  cairn_server *srv = c->srv;
  int stale = srv->replica_mode && !srv->master_link_up && !srv->cfg.replica_serve_stale_data;
  int is_master = c->client && cairn_client_type(c->client) == CAIRN_CLIENT_TYPE_MASTER;
  if (flags & CAIRN_SCRIPT_EVAL_COMPAT) {
    if (stale) {
      cairn_reply_error(&c->reply, "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
      return -1;
    }
    return 0;
  }
  if (stale && !(flags & CAIRN_SCRIPT_ALLOW_STALE)) {
    cairn_reply_error(&c->reply, "-MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and "
                                 "'allow-stale' flag is not set on the script.");
    return -1;
  }
  if (!(flags & CAIRN_SCRIPT_NO_WRITES)) {
    if (srv->replica_mode && srv->cfg.replica_read_only && !is_master) {
      cairn_reply_error(&c->reply, "-READONLY Can not run script with write flag on readonly replica");
      return -1;
    }
    if (srv->write_error && !is_master) {
      cairn_reply_errorf(&c->reply,
                         "-MISCONF Errors writing to the backlog on disk (%s): writable scripts are blocked. Use "
                         "'no-writes' flag for read only scripts.",
                         srv->write_error_msg);
      return -1;
    }
    if (ro) {
      cairn_reply_error(&c->reply, "Can not execute a script with write flag using *_ro command.");
      return -1;
    }
    if (srv->cfg.min_replicas_to_write > 0 && !srv->replica_mode && srv->repl_hooks.good_replicas &&
        srv->repl_hooks.good_replicas(srv) < srv->cfg.min_replicas_to_write) {
      cairn_reply_error(&c->reply, "-NOREPLICAS Not enough good replicas to write.");
      return -1;
    }
  }
  if (!(flags & (CAIRN_SCRIPT_ALLOW_OOM | CAIRN_SCRIPT_NO_WRITES)) && cairn_oom_refusal(srv, c->client)) {
    cairn_reply_error(&c->reply, "-OOM allow-oom flag is not set on the script, can not run it when used memory > "
                                 "'maxmemory'");
    return -1;
  }
  return 0;
}

/* Runs the function on the top of the stack (above the error handler) and
 * replies its result. eval_mode: KEYS/ARGV are globals, else the function
 * gets them as its two arguments. */
static void run_function(cairn_ctx *c, lua_State *L, const char *name, uint32_t flags, int ro, int eval_mode,
                         int nkeys, cairn_str *keys, int nargs, cairn_str *args) {
  cairn_scripting *sc = c->srv->scripting;
  script_run run = {.ctx = c,
                    .funcname = name,
                    .flags = flags,
                    .read_only = ro || (!(flags & CAIRN_SCRIPT_EVAL_COMPAT) && (flags & CAIRN_SCRIPT_NO_WRITES)),
                    .eval_mode = eval_mode,
                    .db = c->db,
                    .resp = 2,
                    .start_ms = cairn_mstime()};
  if (flags & CAIRN_SCRIPT_EVAL_COMPAT) run.flags &= ~(uint32_t)CAIRN_SCRIPT_ALLOW_OOM;
  sc->run = &run;
  lua_sethook(L, kill_hook, LUA_MASKCOUNT, 100000);
  int err;
  if (eval_mode) {
    lua_getfield(L, LUA_REGISTRYINDEX, "__cairn_G");
    push_array(L, nkeys, keys);
    lua_setfield(L, -2, "KEYS");
    push_array(L, nargs, args);
    lua_setfield(L, -2, "ARGV");
    lua_pop(L, 1);
    err = lua_pcall(L, 0, 1, -2);
  } else {
    push_array(L, nkeys, keys);
    push_array(L, nargs, args);
    err = lua_pcall(L, 2, 1, -4);
  }
  lua_sethook(L, NULL, 0, 0);
  sc->run = NULL;
  if (run.timedout) cairn_notice("Slow script finished after %lld milliseconds", (long long)(cairn_mstime() - run.start_ms));
  c->custom_propagation = 1; /* the script's commands were propagated, never the script */
  if (c->store_rc) {
    lua_pop(L, 1);
    return; /* rolled back and run again by cairn_execute */
  }
  if (err) {
    if (!lua_istable(L, -1)) {
      const char *msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "execution failure";
      cairn_reply_errorf(&c->reply, "Error running script %s, %.100s\n", name, msg);
    } else {
      reply_error_table(L, &c->reply, name, 1);
    }
    lua_pop(L, 1);
  } else {
    lua_to_reply(L, &c->reply, run.resp);
  }
  if (run.read_keys && c->client && c->client->tracking) cairn_tracking_script_read(c);
  static int gc_count;
  if (++gc_count == 50) {
    lua_gc(L, LUA_GCSTEP, 50);
    gc_count = 0;
  }
}

void cairn_script_eval(cairn_ctx *c, const char *sha, int ro, int nkeys, cairn_str *keys, int nargs,
                       cairn_str *args) {
  cairn_scripting *sc = scripting(c->srv);
  lua_State *L = sc->L;
  char fn[43];
  funcname(fn, sha);
  lua_getglobal(L, "__redis__err__handler");
  lua_getfield(L, LUA_REGISTRYINDEX, fn);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 2);
    cairn_reply_error(&c->reply, "-NOSCRIPT No matching script. Please use EVAL.");
    return;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, REG_FLAGS);
  lua_getfield(L, -1, fn);
  uint32_t flags = (uint32_t)lua_tonumber(L, -1);
  lua_pop(L, 2);
  if (prepare_checks(c, flags, ro) != 0) {
    lua_pop(L, 2);
    return;
  }
  run_function(c, L, fn + 2, flags, ro, 1, nkeys, keys, nargs, args);
  lua_pop(L, 1); /* the error handler */
}

void cairn_script_kill(cairn_ctx *c, int is_eval) {
  script_run *run = c->srv->scripting ? c->srv->scripting->run : NULL;
  if (!run) {
    cairn_reply_error(&c->reply, "-NOTBUSY No scripts in execution right now.");
    return;
  }
  if (run->ctx->client && cairn_client_type(run->ctx->client) == CAIRN_CLIENT_TYPE_MASTER) {
    cairn_reply_error(&c->reply, "-UNKILLABLE The busy script was sent by a master instance in the context of "
                                 "replication and cannot be killed.");
    return;
  }
  if (run->wrote) {
    cairn_reply_error(&c->reply, "-UNKILLABLE Sorry the script already executed write commands against the "
                                 "dataset. You can either wait the script termination or kill the server in a hard "
                                 "way using the SHUTDOWN NOSAVE command.");
    return;
  }
  if (is_eval && !run->eval_mode) {
    cairn_reply_error(&c->reply, "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                                 "SHUTDOWN NOSAVE.");
    return;
  }
  if (!is_eval && run->eval_mode) {
    cairn_reply_error(&c->reply, "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN "
                                 "NOSAVE.");
    return;
  }
  run->killed = 1;
  cairn_reply_ok(&c->reply);
}

/* ---------------------------------------------------------------- functions */
/* FUNCTION LOAD: the library's code runs once in the functions' state with
 * the load API as its globals; each redis.register_function adds one entry
 * here (the callback kept as a registry reference). */
typedef struct fn_load {
  cairn_fn_def *defs;
  int n, cap;
  int64_t start_ms;
} fn_load;

static lua_State *functions_state(cairn_server *srv) {
  cairn_scripting *sc = srv->scripting;
  if (!sc) {
    srv->scripting = sc = calloc(1, sizeof(cairn_scripting));
    sc->rand48 = 0x1234ABCD330EULL;
  }
  if (!sc->FL) {
    sc->FL = state_new(srv, 1);
    if (!sc->FL) {
      cairn_warning("scripting: cannot create the Lua state (out of memory)");
      abort();
    }
  }
  return sc->FL;
}

static int valid_name(const char *p, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++)
    if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
      return 0;
  return 1;
}

int cairn_function_name_valid(const char *p, size_t len) { return valid_name(p, len); }

static int load_error(lua_State *L, const char *msg) {
  push_error_table(L, msg, strlen(msg));
  return lua_error(L);
}

static int l_register_function(lua_State *L) {
  cairn_server *srv = lua_server(L);
  fn_load *ld = srv->scripting ? srv->scripting->loading : NULL;
  if (!ld) return load_error(L, "redis.register_function can only be called on FUNCTION LOAD command");
  int argc = lua_gettop(L);
  if (argc < 1 || argc > 2) return load_error(L, "wrong number of arguments to redis.register_function");
  cairn_fn_def d = {0};
  if (argc == 2) {
    if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER)
      return load_error(L, "first argument to redis.register_function must be a string");
    if (!lua_isfunction(L, 2)) return load_error(L, "second argument to redis.register_function must be a function");
    size_t nl;
    const char *name = lua_tolstring(L, 1, &nl);
    d.name = cairn_xmemdup(name, nl);
    d.name_bad = strlen(d.name) != nl; /* a NUL inside */
    d.ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the function */
  } else {
    if (!lua_istable(L, 1))
      return load_error(L, "calling redis.register_function with a single argument is only applicable to Lua table "
                           "(representing named arguments).");
    const char *err = NULL;
    int have_cb = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING) {
        err = "named argument key given to redis.register_function is not a string";
        lua_pop(L, 2);
        break;
      }
      const char *key = lua_tostring(L, -2);
      if (!strcasecmp(key, "function_name")) {
        if (!lua_isstring(L, -1)) {
          err = "function_name argument given to redis.register_function must be a string";
        } else {
          size_t nl;
          const char *v = lua_tolstring(L, -1, &nl);
          free(d.name);
          d.name = cairn_xmemdup(v, nl);
          d.name_bad = strlen(d.name) != nl;
        }
      } else if (!strcasecmp(key, "description")) {
        if (!lua_isstring(L, -1)) {
          err = "description argument given to redis.register_function must be a string";
        } else {
          size_t nl;
          const char *v = lua_tolstring(L, -1, &nl);
          free(d.desc);
          d.desc = cairn_xmemdup(v, nl);
        }
      } else if (!strcasecmp(key, "callback")) {
        if (!lua_isfunction(L, -1)) {
          err = "callback argument given to redis.register_function must be a function";
        } else {
          if (have_cb) luaL_unref(L, LUA_REGISTRYINDEX, d.ref);
          lua_pushvalue(L, -1);
          d.ref = luaL_ref(L, LUA_REGISTRYINDEX);
          have_cb = 1;
        }
      } else if (!strcasecmp(key, "flags")) {
        if (!lua_istable(L, -1)) {
          err = "flags argument to redis.register_function must be a table representing function flags";
        } else {
          for (int j = 1;; j++) {
            lua_rawgeti(L, -1, j);
            if (lua_isnil(L, -1)) {
              lua_pop(L, 1);
              break;
            }
            size_t fl;
            const char *f = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &fl) : NULL;
            uint32_t flag;
            int ok = 0;
            if (f) {
              char low[64];
              size_t k = fl < sizeof(low) - 1 ? fl : sizeof(low) - 1;
              for (size_t i = 0; i < k; i++) low[i] = (char)((f[i] >= 'A' && f[i] <= 'Z') ? f[i] + 32 : f[i]);
              ok = cairn_script_flag_parse(low, k, &flag) == 0;
            }
            lua_pop(L, 1);
            if (!ok) {
              err = "unknown flag given";
              break;
            }
            d.flags |= flag;
          }
        }
      } else {
        err = "unknown argument given to redis.register_function";
      }
      lua_pop(L, 1);
      if (err) {
        lua_pop(L, 1);
        break;
      }
    }
    if (!err && !d.name) err = "redis.register_function must get a function name argument";
    if (!err && !have_cb) err = "redis.register_function must get a callback argument";
    if (err) {
      free(d.name);
      free(d.desc);
      if (have_cb) luaL_unref(L, LUA_REGISTRYINDEX, d.ref);
      return load_error(L, err);
    }
  }
  const char *err = NULL;
  if (d.name_bad || !valid_name(d.name, strlen(d.name)))
    err = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
  for (int i = 0; !err && i < ld->n; i++)
    if (strcasecmp(ld->defs[i].name, d.name) == 0) err = "Function already exists in the library";
  if (err) {
    free(d.name);
    free(d.desc);
    luaL_unref(L, LUA_REGISTRYINDEX, d.ref);
    return load_error(L, err);
  }
  if (ld->n == ld->cap) {
    ld->cap = ld->cap ? ld->cap * 2 : 4;
    ld->defs = realloc(ld->defs, sizeof(cairn_fn_def) * (size_t)ld->cap);
  }
  ld->defs[ld->n++] = d;
  return 0;
}

static void load_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  cairn_server *srv = lua_server(L);
  fn_load *ld = srv->scripting ? srv->scripting->loading : NULL;
  if (ld && cairn_mstime() - ld->start_ms > 500) {
    lua_sethook(L, load_hook, LUA_MASKLINE, 0);
    load_error(L, "FUNCTION LOAD timeout");
  }
}

void cairn_function_defs_free(cairn_server *srv, cairn_fn_def *defs, int n) {
  lua_State *L = srv->scripting ? srv->scripting->FL : NULL;
  for (int i = 0; i < n; i++) {
    free(defs[i].name);
    free(defs[i].desc);
    if (L) luaL_unref(L, LUA_REGISTRYINDEX, defs[i].ref);
  }
  free(defs);
}

int cairn_function_compile(cairn_server *srv, const char *code, size_t len, cairn_fn_def **defs, int *n, char *err,
                           size_t errlen) {
  lua_State *L = functions_state(srv);
  cairn_scripting *sc = srv->scripting;
  *defs = NULL;
  *n = 0;
  if (luaL_loadbuffer(L, code, len, "@user_function")) {
    snprintf(err, errlen, "Error compiling function: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return -1;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, "__cairn_G_mt");
  lua_getfield(L, LUA_REGISTRYINDEX, "__cairn_load_api");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  fn_load ld = {.start_ms = cairn_mstime()};
  sc->loading = &ld;
  lua_sethook(L, load_hook, LUA_MASKCOUNT, 100000);
  int rc = 0;
  if (lua_pcall(L, 0, 0, 0)) {
    const char *msg = NULL;
    cairn_buf m = {0};
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "err");
      msg = lua_tostring(L, -1);
      cairn_buf_printf(&m, "Error registering functions: %s", msg ? msg : "?");
      lua_pop(L, 1);
    } else {
      msg = lua_tostring(L, -1);
      cairn_buf_printf(&m, "Error registering functions: ERR %s", msg ? msg : "?");
    }
    snprintf(err, errlen, "%.*s", (int)m.len, m.p);
    cairn_buf_free(&m);
    lua_pop(L, 1);
    rc = -1;
  }
  lua_sethook(L, NULL, 0, 0);
  sc->loading = NULL;
  lua_getfield(L, LUA_REGISTRYINDEX, "__cairn_G_mt");
  lua_getfield(L, LUA_REGISTRYINDEX, "__cairn_G");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  if (rc != 0) {
    cairn_function_defs_free(srv, ld.defs, ld.n);
    return -1;
  }
  *defs = ld.defs;
  *n = ld.n;
  return 0;
}

void cairn_function_call(cairn_ctx *c, const cairn_fn_def *f, int ro, int nkeys, cairn_str *keys, int nargs,
                         cairn_str *args) {
  lua_State *L = functions_state(c->srv);
  uint32_t flags = f->flags & ~(uint32_t)CAIRN_SCRIPT_EVAL_COMPAT;
  if (prepare_checks(c, flags, ro) != 0) return;
  lua_getglobal(L, "__redis__err__handler");
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
  run_function(c, L, f->name, flags, ro, 0, nkeys, keys, nargs, args);
  lua_pop(L, 1); /* the error handler */
}

const char *cairn_script_running_name(cairn_server *srv, int *eval_mode, int64_t *ms, int *argc, cairn_str **argv) {
  script_run *run = srv->scripting ? srv->scripting->run : NULL;
  if (!run) return NULL;
  *argc = run->ctx->argc;
  *argv = run->ctx->argv;
  *eval_mode = run->eval_mode;
  *ms = cairn_mstime() - run->start_ms;
  return run->funcname;
}

/* ---------------------------------------------------------------- command flags */
uint32_t cairn_script_command_flags(cairn_server *srv, const cairn_command *cmd, int argc, cairn_str *argv) {
  uint32_t flags = cmd->flags;
  const char *n = cmd->name;
  int eval = !strcmp(n, "eval") || !strcmp(n, "eval_ro"), evalsha = !strcmp(n, "evalsha") || !strcmp(n, "evalsha_ro");
  int fcall = !strcmp(n, "fcall") || !strcmp(n, "fcall_ro");
  if ((!eval && !evalsha && !fcall) || argc < 2) return flags;
  uint32_t sflags;
  if (fcall) {
    if (cairn_function_flags(srv, argv[1].p, argv[1].len, &sflags) != 0) return flags;
  } else {
    char sha[41];
    if (evalsha) {
      if (argv[1].len != 40) return flags;
      memcpy(sha, argv[1].p, 40);
      sha[40] = '\0';
    } else {
      cairn_sha1hex(sha, argv[1].p, argv[1].len);
    }
    cairn_scripting *sc = srv->scripting;
    int found = 0;
    if (sc && sc->L && cairn_script_exists(srv, sha, 40)) {
      char fn[43];
      funcname(fn, sha);
      lua_getfield(sc->L, LUA_REGISTRYINDEX, REG_FLAGS);
      lua_getfield(sc->L, -1, fn);
      sflags = (uint32_t)lua_tonumber(sc->L, -1);
      lua_pop(sc->L, 2);
      found = 1;
    }
    if (!found) {
      size_t skip;
      char err[256];
      if (evalsha || cairn_script_shebang(argv[1].p, argv[1].len, &sflags, &skip, err, sizeof(err)) != 0)
        return flags;
    }
    if (sflags & CAIRN_SCRIPT_EVAL_COMPAT) return flags;
  }
  /* Redis's scriptFlagsToCmdFlags: declared flags replace the command's. */
  flags &= ~(uint32_t)(CAIRN_CMD_STALE | CAIRN_CMD_DENYOOM | CAIRN_CMD_WRITE | CAIRN_CMD_MAY_REPLICATE);
  if (!(sflags & (CAIRN_SCRIPT_ALLOW_OOM | CAIRN_SCRIPT_NO_WRITES))) flags |= CAIRN_CMD_DENYOOM;
  if (!(sflags & CAIRN_SCRIPT_NO_WRITES)) flags |= CAIRN_CMD_WRITE;
  if (sflags & CAIRN_SCRIPT_ALLOW_STALE) flags |= CAIRN_CMD_STALE;
  return flags;
}
