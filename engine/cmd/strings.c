/* String commands. */
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
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
 * into flags and an absolute expiry in ms (-1 = none). `allowed` limits the
 * options to those the command accepts. Replies and returns -1 on error. */
static int parse_set_options(cairn_ctx *c, int first, int allowed, int *flags, int64_t *when_ms) {
  *flags = 0;
  *when_ms = -1;
  cairn_str timearg = {NULL, 0};
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
    else if (cairn_arg_is(a, "ex") && more && !(*flags & (OPT_TIME | OPT_KEEPTTL | OPT_PERSIST)))
      f = OPT_EX;
    else if (cairn_arg_is(a, "px") && more && !(*flags & (OPT_TIME | OPT_KEEPTTL | OPT_PERSIST)))
      f = OPT_PX;
    else if (cairn_arg_is(a, "exat") && more && !(*flags & (OPT_TIME | OPT_KEEPTTL | OPT_PERSIST)))
      f = OPT_EXAT;
    else if (cairn_arg_is(a, "pxat") && more && !(*flags & (OPT_TIME | OPT_KEEPTTL | OPT_PERSIST)))
      f = OPT_PXAT;
    if (!f || !(f & allowed)) {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return -1;
    }
    *flags |= f;
    if (f & OPT_TIME) timearg = c->argv[++j];
  }
  if (*flags & OPT_TIME) {
    long long v;
    if (cairn_arg_ll(c, timearg, &v) != 0) return -1;
    const char *cmd = c->cmd->name;
    if (v <= 0 || ((*flags & (OPT_EX | OPT_EXAT)) && v > INT64_MAX / 1000)) {
      cairn_reply_errorf(&c->reply, "invalid expire time in '%s' command", cmd);
      return -1;
    }
    if (*flags & (OPT_EX | OPT_EXAT)) v *= 1000;
    if (*flags & (OPT_EX | OPT_PX)) {
      if (v > INT64_MAX - c->now_ms) {
        cairn_reply_errorf(&c->reply, "invalid expire time in '%s' command", cmd);
        return -1;
      }
      v += c->now_ms;
    }
    *when_ms = v;
  }
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
  int rc = cairn_store_put(cairn_ctx_store(c), c->db, key, CAIRN_TYPE_STRING, val.p, val.len, exp);
  if (rc < 0) return cairn_store_failed(c, rc);
  c->dirty++;
  propagate_set(c, key, val, when_ms, flags);
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
    c->srv->stats.keyspace_misses++;
    cairn_reply_null(&c->reply);
    return;
  }
  c->srv->stats.keyspace_hits++;
  cairn_reply_bulk(&c->reply, v.data, v.len);
}

#define F_W (CAIRN_CMD_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_KEYSPACE)
#define F_R (CAIRN_CMD_READONLY | CAIRN_CMD_KEYSPACE)

const cairn_command cairn_commands_strings[] = {
    {"set", -3, F_W, 1, 1, 1, cmd_set, "string", "Set the string value of a key.", "1.0.0",
     "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
     NULL},
    {"get", 2, F_R | CAIRN_CMD_FAST, 1, 1, 1, cmd_get, "string", "Get the value of a key.", "1.0.0", "key", NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
