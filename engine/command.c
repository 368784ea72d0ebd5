/* The command table and the execution of one command: checks, the handler,
 * lazy expiry, propagation into the replication stream, and the retry after a
 * store error (rollback + replay, see commit.c). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/commit.h"
#include "engine/log.h"
#include "engine/server.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- table */

static const cairn_command *const tables[] = {
    cairn_commands_strings, cairn_commands_bits, cairn_commands_keys,  cairn_commands_server,
    cairn_commands_connection, cairn_commands_hash, cairn_commands_list, cairn_commands_set,
    cairn_commands_zset, cairn_commands_multi, cairn_commands_pubsub,
};

void cairn_command_table_free(void);

#define MAX_EXTRA_TABLES 8
static const cairn_command *extra_tables[MAX_EXTRA_TABLES];
static int nextra;

#define LOOKUP_SLOTS 1024 /* power of two, well above the command count */
static const cairn_command *slots[LOOKUP_SLOTS];
static const cairn_command **all;
static int nall;

static uint32_t name_hash(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)tolower((unsigned char)s[i])) * 16777619u;
  return h;
}

void cairn_command_register(const cairn_command *table) {
  if (nextra < MAX_EXTRA_TABLES) extra_tables[nextra++] = table;
  cairn_command_table_free(); /* rebuilt at the next lookup */
}

static const cairn_command *table_at(size_t t) {
  size_t nbuiltin = sizeof(tables) / sizeof(tables[0]);
  return t < nbuiltin ? tables[t] : extra_tables[t - nbuiltin];
}

static void build_table(void) {
  if (all) return;
  size_t ntables = sizeof(tables) / sizeof(tables[0]) + (size_t)nextra;
  int cap = 0;
  for (size_t t = 0; t < ntables; t++)
    for (const cairn_command *c = table_at(t); c->name; c++) cap++;
  all = cairn_xcalloc((size_t)cap, sizeof(*all));
  for (size_t t = 0; t < ntables; t++) {
    for (const cairn_command *c = table_at(t); c->name; c++) {
      all[nall++] = c;
      uint32_t h = name_hash(c->name, strlen(c->name)) & (LOOKUP_SLOTS - 1);
      while (slots[h]) h = (h + 1) & (LOOKUP_SLOTS - 1);
      slots[h] = c;
    }
  }
}

const cairn_command *cairn_command_lookup(const char *name, size_t len) {
  build_table();
  uint32_t h = name_hash(name, len) & (LOOKUP_SLOTS - 1);
  while (slots[h]) {
    const cairn_command *c = slots[h];
    if (strlen(c->name) == len && strncasecmp(c->name, name, len) == 0) return c;
    h = (h + 1) & (LOOKUP_SLOTS - 1);
  }
  return NULL;
}

int cairn_command_count(void) {
  build_table();
  return nall;
}

const cairn_command *cairn_command_at(int i) {
  build_table();
  return i < nall ? all[i] : NULL;
}

void cairn_command_table_free(void) {
  free(all);
  all = NULL;
  nall = 0;
  memset(slots, 0, sizeof(slots));
}

/* ---------------------------------------------------------------- helpers */

int cairn_arg_is(cairn_str a, const char *lit) {
  size_t n = strlen(lit);
  return a.len == n && strncasecmp(a.p, lit, n) == 0;
}

int cairn_arg_ll_msg(cairn_ctx *c, cairn_str a, long long *out, const char *msg) {
  if (cairn_str2ll(a.p, a.len, out)) return 0;
  cairn_reply_error(&c->reply, msg ? msg : CAIRN_ERR_NOTINT);
  return -1;
}

int cairn_arg_ll(cairn_ctx *c, cairn_str a, long long *out) { return cairn_arg_ll_msg(c, a, out, NULL); }

/* Redis's parseScanCursorOrReply: strtoul, no leading space, whole string
 * (up to a NUL) consumed, no overflow. "" is cursor 0, "-1" is 2^64-1. */
int cairn_arg_cursor(cairn_ctx *c, cairn_str a, uint64_t *out) {
  char *z = cairn_xmemdup(a.p, a.len);
  char *end;
  errno = 0;
  unsigned long long v = strtoull(z, &end, 10);
  int bad = isspace((unsigned char)z[0]) || *end != '\0' || errno == ERANGE;
  free(z);
  if (bad) {
    cairn_reply_error(&c->reply, "invalid cursor");
    return -1;
  }
  *out = v;
  return 0;
}

int cairn_arg_double(cairn_ctx *c, cairn_str a, double *out) {
  if (cairn_str2d(a.p, a.len, out)) return 0;
  cairn_reply_error(&c->reply, CAIRN_ERR_NOTFLOAT);
  return -1;
}

static void command_fullname(const cairn_command *cmd, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", cmd->name);
}

void cairn_reply_arity(cairn_ctx *c) {
  char name[64];
  command_fullname(c->cmd, name, sizeof(name));
  cairn_reply_errorf(&c->reply, "wrong number of arguments for '%s' command", name);
}

int cairn_store_failed(cairn_ctx *c, int rc) {
  if (c->store_rc == 0) c->store_rc = rc < 0 ? rc : CAIRN_STORE_IO;
  return -1;
}

cairn_store *cairn_ctx_store(cairn_ctx *c) { return c->srv->store; }

int cairn_lookup(cairn_ctx *c, cairn_str key, cairn_value *out) {
  int rc = cairn_store_get(c->srv->store, c->db, key, out);
  if (rc < 0) return cairn_store_failed(c, rc);
  if (rc == 1 && out->expire_ms >= 0 && out->expire_ms <= c->now_ms && !c->replaying && c->srv->replica_mode) {
    /* A replica never expires keys itself: its master's DEL will come. To
     * its readers the key is already gone. */
    rc = 0;
  } else if (rc == 1 && out->expire_ms >= 0 && out->expire_ms <= c->now_ms && !c->replaying) {
    /* Lazy expiry: only here (and in the active cycle) do keys die; the
     * deletion goes into the stream as DEL so replicas and replay agree. */
    rc = cairn_store_del(c->srv->store, c->db, key);
    if (rc < 0) return cairn_store_failed(c, rc);
    c->srv->stats.expired_keys++;
    cairn_propagate_del(c, c->db, key);
    rc = 0;
  }
  /* Like Redis's lookupKeyRead: only read commands count hits and misses. */
  if (c->cmd && (c->cmd->flags & CAIRN_CMD_READONLY)) {
    if (rc == 1)
      c->srv->stats.keyspace_hits++;
    else
      c->srv->stats.keyspace_misses++;
  }
  return rc;
}

int cairn_lookup_type(cairn_ctx *c, cairn_str key, uint8_t type, cairn_value *out) {
  int rc = cairn_lookup(c, key, out);
  if (rc == 1 && out->type != type) {
    cairn_reply_error(&c->reply, CAIRN_ERR_WRONGTYPE);
    return -1;
  }
  return rc;
}

int cairn_lookup_coll(cairn_ctx *c, cairn_str key, uint8_t type, cairn_value *val, cairn_coll *coll) {
  int rc = cairn_lookup_type(c, key, type, val);
  if (rc != 1) return rc;
  if (cairn_coll_decode(val, coll) != 0) {
    /* Only a damaged store gets here: refuse rather than guess. */
    cairn_reply_error(&c->reply, "-ERR corrupt collection header");
    return -1;
  }
  return 1;
}

void cairn_coll_scan(cairn_ctx *c, uint8_t type, int with_values, size_t (*val_text)(cairn_str raw, char *buf)) {
  uint64_t cursor;
  if (cairn_arg_cursor(c, c->argv[2], &cursor) != 0) return;
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], type, &val, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_array(&c->reply, 2);
    cairn_reply_bulk(&c->reply, "0", 1);
    cairn_reply_array(&c->reply, 0);
    return;
  }
  long long count = 10;
  cairn_str pat = {NULL, 0};
  int use_pat = 0;
  for (int i = 3; i < c->argc;) {
    int left = c->argc - i;
    if (cairn_arg_is(c->argv[i], "count") && left >= 2) {
      if (cairn_arg_ll(c, c->argv[i + 1], &count) != 0) return;
      if (count < 1) {
        cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
        return;
      }
      i += 2;
    } else if (cairn_arg_is(c->argv[i], "match") && left >= 2) {
      pat = c->argv[i + 1];
      use_pat = !(pat.len == 1 && pat.p[0] == '*');
      i += 2;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  unsigned char from[8];
  for (int k = 0; k < 8; k++) from[k] = (unsigned char)(cursor >> (56 - 8 * k));
  cairn_elem_iter *it;
  if ((rc = cairn_elem_iter_open(c->srv->store, coll.id, CAIRN_SPACE_MEMBERS, from, 8, 0, &it)) < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  /* The cursor comes first in the reply but is known last: items go to a
   * side buffer (scan replies are bulks in RESP2 and RESP3 alike). */
  cairn_buf items = {0};
  cairn_reply side = {&items, c->reply.resp};
  long long visited = 0, n = 0;
  uint64_t next = 0, last = 0;
  cairn_str sub, v;
  while ((rc = cairn_elem_iter_next(it, &sub, &v)) > 0) {
    uint64_t pos = cairn_elem_iter_pos(it);
    if (visited >= count && pos != last) {
      next = pos; /* > last >= cursor: members sharing a hash are never split */
      break;
    }
    visited++;
    last = pos;
    if (use_pat && !cairn_glob_match(pat.p, pat.len, sub.p, sub.len, 0)) continue;
    cairn_reply_bulk(&side, sub.p, sub.len);
    n++;
    if (!with_values) continue;
    if (val_text) {
      char num[128];
      cairn_reply_bulk(&side, num, val_text(v, num));
    } else {
      cairn_reply_bulk(&side, v.p, v.len);
    }
    n++;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) {
    cairn_store_failed(c, rc);
  } else {
    char cur[24];
    cairn_reply_array(&c->reply, 2);
    cairn_reply_bulk(&c->reply, cur, cairn_ull2str(cur, next));
    cairn_reply_array(&c->reply, n);
    cairn_reply_raw(&c->reply, items.p, items.len);
  }
  cairn_buf_free(&items);
}

void cairn_touch(cairn_ctx *c, cairn_str key) { cairn_store_touch(c->srv->store, c->db, key); }

int cairn_coll_save(cairn_ctx *c, cairn_str key, uint8_t type, const cairn_coll *coll, int64_t expire_ms) {
  int rc = cairn_coll_put(c->srv->store, c->db, key, type, coll, expire_ms);
  return rc < 0 ? cairn_store_failed(c, rc) : 0;
}

int cairn_coll_random(cairn_ctx *c, uint64_t id, cairn_buf *sub, cairn_buf *val) {
  unsigned char from[8];
  uint64_t r = cairn_rand64();
  for (int i = 0; i < 8; i++) from[i] = (unsigned char)(r >> (56 - 8 * i));
  uint64_t steps = cairn_rand_below(64);
  cairn_store *st = c->srv->store;
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(st, id, CAIRN_SPACE_MEMBERS, from, 8, 0, &it);
  if (rc < 0) return cairn_store_failed(c, rc);
  cairn_str s, v;
  int wrapped = 0, found = 0;
  for (uint64_t i = 0; i <= steps;) {
    rc = cairn_elem_iter_next(it, &s, &v);
    if (rc < 0) break;
    if (rc == 0) {
      cairn_elem_iter_close(it);
      it = NULL;
      if (wrapped++) break; /* empty */
      if ((rc = cairn_elem_iter_open(st, id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it)) < 0) break;
      continue;
    }
    if (i++ == steps) {
      sub->len = 0;
      cairn_buf_reserve(sub, s.len + 1);
      cairn_buf_append(sub, s.p, s.len);
      if (val) {
        val->len = 0;
        cairn_buf_reserve(val, v.len + 1);
        cairn_buf_append(val, v.p, v.len);
      }
      found = 1;
    }
  }
  if (it) cairn_elem_iter_close(it);
  return rc < 0 ? cairn_store_failed(c, rc) : found;
}

/* ---------------------------------------------------------------- propagation */

typedef struct prop_entry {
  int db;
  size_t off, len;
} prop_entry;

static prop_entry *props;
static size_t props_cap;

void cairn_propagate(cairn_ctx *c, int db, int argc, const cairn_str *argv) {
  if (c->replaying) return;
  cairn_server *srv = c->srv;
  if ((size_t)srv->nprops == props_cap) {
    props_cap = props_cap ? props_cap * 2 : 8;
    props = cairn_xrealloc(props, props_cap * sizeof(*props));
  }
  size_t off = srv->props.len;
  cairn_resp_append_command(&srv->props, argc, argv);
  props[srv->nprops].db = db;
  props[srv->nprops].off = off;
  props[srv->nprops].len = srv->props.len - off;
  srv->nprops++;
}

void cairn_propagate_del(cairn_ctx *c, int db, cairn_str key) {
  cairn_str argv[2] = {{"DEL", 3}, key};
  cairn_propagate(c, db, 2, argv);
}

static void stream_select(cairn_server *srv, int db) {
  if (srv->stream_db == db) return;
  char num[16];
  int n = snprintf(num, sizeof(num), "%d", db);
  cairn_str argv[2] = {{"SELECT", 6}, {num, (size_t)n}};
  size_t before = srv->stream.len;
  cairn_resp_append_command(&srv->stream, 2, argv);
  srv->stream_offset += srv->stream.len - before;
  srv->stream_db = db;
}

static void stream_raw(cairn_server *srv, const char *p, size_t len) {
  cairn_buf_append(&srv->stream, p, len);
  srv->stream_offset += len;
}

void cairn_stream_append_raw(cairn_server *srv, const void *p, size_t n) { stream_raw(srv, p, n); }

/* Moves the running command's propagations into the iteration's stream,
 * wrapped in MULTI/EXEC when there is more than one. */
static void flush_props(cairn_server *srv) {
  if (srv->nprops == 0) return;
  int wrap = srv->nprops > 1;
  stream_select(srv, props[0].db);
  if (wrap) stream_raw(srv, "*1\r\n$5\r\nMULTI\r\n", 15);
  for (int i = 0; i < srv->nprops; i++) {
    stream_select(srv, props[i].db);
    stream_raw(srv, srv->props.p + props[i].off, props[i].len);
  }
  if (wrap) stream_raw(srv, "*1\r\n$4\r\nEXEC\r\n", 14);
  srv->nprops = 0;
  srv->props.len = 0;
}

void cairn_propagate_flush(cairn_server *srv) { flush_props(srv); }

void cairn_propagate_free(void) {
  free(props);
  props = NULL;
  props_cap = 0;
}

int cairn_expire_key_at(cairn_ctx *c, cairn_str key, int64_t when_ms) {
  cairn_store *s = c->srv->store;
  int rc;
  if (when_ms <= c->now_ms && !c->replaying) {
    /* Already in the past: the key goes now, and the stream says DEL. */
    if ((rc = cairn_store_del(s, c->db, key)) < 0) return cairn_store_failed(c, rc);
    c->dirty++;
    cairn_propagate_del(c, c->db, key);
    c->custom_propagation = 1;
    return 0;
  }
  if (when_ms < 0) when_ms = 0; /* replaying a past time: -1 would mean "no expiry" */
  if ((rc = cairn_store_set_expire(s, c->db, key, when_ms)) < 0) return cairn_store_failed(c, rc);
  c->dirty++;
  char ms[24];
  size_t n = cairn_ll2str(ms, when_ms);
  cairn_str argv[3] = {{"PEXPIREAT", 9}, key, {ms, n}};
  cairn_propagate(c, c->db, 3, argv);
  c->custom_propagation = 1;
  return 0;
}

int cairn_persist_key(cairn_ctx *c, cairn_str key) {
  int rc = cairn_store_set_expire(c->srv->store, c->db, key, -1);
  if (rc < 0) return cairn_store_failed(c, rc);
  c->dirty++;
  cairn_str argv[2] = {{"PERSIST", 7}, key};
  cairn_propagate(c, c->db, 2, argv);
  c->custom_propagation = 1;
  return 0;
}

/* ---------------------------------------------------------------- execute */

static void reply_unknown(cairn_reply *r, int argc, cairn_str *argv) {
  /* Redis 7.0's text: the arguments part is capped at about 128 bytes. */
  cairn_buf args = {0}, msg = {0};
  for (int i = 1; i < argc && args.len < 128; i++) {
    size_t room = 128 - args.len;
    int n = (int)(argv[i].len < room ? argv[i].len : room);
    cairn_buf_printf(&args, "'%.*s' ", n, argv[i].p);
  }
  cairn_buf_printf(&msg, "unknown command '%.*s', with args beginning with: %.*s",
                   (int)(argv[0].len > 128 ? 128 : argv[0].len), argv[0].p, (int)args.len,
                   args.p ? args.p : "");
  cairn_reply_error(r, msg.p);
  cairn_buf_free(&args);
  cairn_buf_free(&msg);
}

static int is_write_command(const cairn_command *cmd) { return (cmd->flags & CAIRN_CMD_WRITE) != 0; }

static void execute(cairn_server *srv, cairn_client *client, int argc, cairn_str *argv);
static int exec_depth;
static const cairn_str *top_argv; /* argv of the top-level command running */

/* A command run by another one (EXEC's queued commands, whether through
 * cairn_execute or not) has an argv of its own. */
int cairn_ctx_is_top_level(const cairn_ctx *c) { return exec_depth == 1 && c->argv == top_argv; }

/* A top-level command that made keys ready serves the clients blocked on
 * them right away, before the next command (Redis's
 * handleClientsBlockedOnKeys). Replay (client NULL) never serves: the
 * re-runs would nest inside recovery. */
static int cmd_is(const cairn_command *cmd, const char *name) { return strcmp(cmd->name, name) == 0; }

/* The subcommand named by argv[1] of a container command, or NULL. */
static const cairn_command *find_subcommand(const cairn_command *cmd, cairn_str name) {
  for (const cairn_command *s = cmd->subcommands; s && s->name; s++) {
    const char *bar = strchr(s->name, '|');
    if (cairn_arg_is(name, bar ? bar + 1 : s->name)) return s;
  }
  return NULL;
}

/* A command refused before it ran. Inside MULTI the transaction is flagged
 * (EXEC will abort); a refused EXEC itself ends the transaction with
 * "-EXECABORT Transaction discarded because of: <the error>", like Redis's
 * rejectCommand / execCommandAbort. */
static void rejected(cairn_ctx *ctx, size_t reply_start) {
  cairn_client *client = ctx->client;
  if (!ctx->cmd || !cmd_is(ctx->cmd, "exec")) {
    if (client->flags & CAIRN_CLIENT_MULTI) client->flags |= CAIRN_CLIENT_DIRTY_EXEC;
    return;
  }
  cairn_multi_client_reset(client);
  cairn_buf *b = ctx->reply.buf;
  if (!b || b->len <= reply_start + 3) return;
  /* "-ERR text\r\n" -> "text", "-CODE text\r\n" -> "CODE text" */
  size_t from = reply_start + 1, to = b->len - 2;
  if (to - from >= 4 && memcmp(b->p + from, "ERR ", 4) == 0) from += 4;
  char *msg = cairn_xmemdup(b->p + from, to - from);
  b->len = reply_start;
  cairn_reply_errorf(&ctx->reply, "-EXECABORT Transaction discarded because of: %s", msg);
  free(msg);
}

/* Runs one command of a transaction for EXEC (engine/cmd/multi.c): its reply
 * goes into the EXEC's array, its propagation joins the EXEC's (flushed as
 * one unit when EXEC returns), and a store error becomes the EXEC's, which is
 * then rolled back and retried whole. */
void cairn_execute_queued(cairn_ctx *exec, const cairn_command *cmd, int argc, cairn_str *argv) {
  cairn_server *srv = exec->srv;
  cairn_client *client = exec->client;
  cairn_ctx ctx;
  memset(&ctx, 0, sizeof(ctx));
  ctx.srv = srv;
  ctx.client = client;
  ctx.cmd = cmd;
  ctx.argc = argc;
  ctx.argv = argv;
  ctx.db = client->db;
  ctx.reply.buf = exec->reply.buf;
  ctx.reply.resp = client->resp;
  ctx.now_ms = exec->now_ms; /* one time for the whole transaction, like Redis */
  size_t start = ctx.reply.buf ? ctx.reply.buf->len : 0;
  srv->stats.commands_processed++;
  client->last_cmd = cmd->name;
  cmd->fn(&ctx);
  if (ctx.store_rc) {
    exec->store_rc = ctx.store_rc;
    return;
  }
  if (ctx.dirty > 0 && !ctx.custom_propagation) cairn_propagate(&ctx, ctx.db, argc, argv);
  exec->dirty += ctx.dirty;
  if (ctx.reply.buf && ctx.reply.buf->len > start && ctx.reply.buf->p[start] == '-') srv->stats.total_error_replies++;
}

void cairn_execute(cairn_server *srv, cairn_client *client, int argc, cairn_str *argv) {
  if (exec_depth++ == 0) top_argv = argv;
  execute(srv, client, argc, argv);
  if (--exec_depth == 0) top_argv = NULL;
  if (exec_depth == 0 && client && cairn_blocking_pending()) cairn_blocking_serve(srv);
}

static void execute(cairn_server *srv, cairn_client *client, int argc, cairn_str *argv) {
  if (argc == 0) return;
  cairn_ctx ctx;
  memset(&ctx, 0, sizeof(ctx));
  ctx.srv = srv;
  ctx.client = client;
  ctx.argc = argc;
  ctx.argv = argv;
  ctx.replaying = client == NULL;
  ctx.db = client ? client->db : srv->replay_db;
  ctx.reply.resp = client ? client->resp : 2;
  ctx.reply.buf = NULL;
  /* CLIENT REPLY OFF/SKIP: the reply is not produced at all. */
  if (client && client->reply_mode != CAIRN_REPLY_OFF && client->reply_mode != CAIRN_REPLY_SKIP)
    ctx.reply.buf = &client->out;

  size_t reply_start = client ? client->out.len : 0;
  const cairn_command *cmd = cairn_command_lookup(argv[0].p, argv[0].len);
  ctx.cmd = cmd;
  if (client) {
    srv->stats.commands_processed++;
    if (!cmd) {
      reply_unknown(&ctx.reply, argc, argv);
      goto reject;
    }
    if ((cmd->arity > 0 && cmd->arity != argc) || argc < -cmd->arity) {
      cairn_reply_arity(&ctx);
      goto reject;
    }
    int in_multi = (client->flags & CAIRN_CLIENT_MULTI) != 0;
    int subscribed = (client->flags & CAIRN_CLIENT_PUBSUB) && client->resp == 2;
    const cairn_command *sub = NULL;
    if ((in_multi || subscribed) && cmd->subcommands && argc >= 2) {
      /* Queued commands are checked in full now, subcommand included (the
       * container's handler checks it otherwise). */
      sub = find_subcommand(cmd, argv[1]);
      if (!sub) {
        char upper[64];
        size_t n = argv[0].len < sizeof(upper) - 1 ? argv[0].len : sizeof(upper) - 1;
        for (size_t i = 0; i < n; i++) upper[i] = (char)toupper((unsigned char)argv[0].p[i]);
        upper[n] = '\0';
        cairn_reply_errorf(&ctx.reply, "unknown subcommand '%.*s'. Try %s HELP.",
                           (int)(argv[1].len > 128 ? 128 : argv[1].len), argv[1].p, upper);
        goto reject;
      }
      if ((sub->arity > 0 && sub->arity != argc) || argc < -sub->arity) {
        cairn_reply_errorf(&ctx.reply, "wrong number of arguments for '%s' command", sub->name);
        goto reject;
      }
    }
    if (srv->cfg.requirepass && !client->authenticated && !(cmd->flags & CAIRN_CMD_NO_AUTH)) {
      cairn_reply_error(&ctx.reply, "-NOAUTH Authentication required.");
      goto reject;
    }
    if (in_multi && (cmd->flags & CAIRN_CMD_NOMULTI)) {
      cairn_reply_error(&ctx.reply, "Command not allowed inside a transaction");
      goto reject;
    }
    /* EXEC writes when one of its commands does; it is refused on a stale
     * replica when one of them would be. */
    int is_write = is_write_command(cmd), deny_stale = !(cmd->flags & CAIRN_CMD_STALE);
    if (in_multi && cmd_is(cmd, "exec")) {
      uint32_t any, all;
      cairn_multi_queued_flags(client, &any, &all);
      if (any & CAIRN_CMD_WRITE) is_write = 1;
      if (!(all & CAIRN_CMD_STALE)) deny_stale = 1;
    }
    if (srv->replica_mode && srv->cfg.replica_read_only && is_write) {
      cairn_reply_error(&ctx.reply, "-READONLY You can't write against a read only replica.");
      goto reject;
    }
    if (subscribed && !cmd_is(cmd, "ping") && !cmd_is(cmd, "subscribe") && !cmd_is(cmd, "unsubscribe") &&
        !cmd_is(cmd, "psubscribe") && !cmd_is(cmd, "punsubscribe") && !cmd_is(cmd, "ssubscribe") &&
        !cmd_is(cmd, "sunsubscribe") && !cmd_is(cmd, "quit") && !cmd_is(cmd, "reset")) {
      cairn_reply_errorf(&ctx.reply,
                         "Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                         "allowed in this context",
                         sub ? sub->name : cmd->name);
      goto reject;
    }
    if (srv->replica_mode && !srv->master_link_up && !srv->cfg.replica_serve_stale_data && deny_stale) {
      cairn_reply_error(&ctx.reply, "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
      goto reject;
    }
    if (srv->cfg.min_replicas_to_write > 0 && !srv->replica_mode && is_write &&
        srv->repl_good_replicas && srv->repl_good_replicas(srv) < srv->cfg.min_replicas_to_write) {
      cairn_reply_error(&ctx.reply, "-NOREPLICAS Not enough good replicas to write.");
      goto reject;
    }
    if (srv->write_error && is_write) {
      cairn_reply_errorf(&ctx.reply,
                         "-MISCONF Errors writing to the backlog on disk (%s): writes are refused until "
                         "it works again. Check the server log.",
                         srv->write_error_msg);
      goto reject;
    }
    client->last_cmd = cmd->name;
    if (in_multi && !cmd_is(cmd, "exec") && !cmd_is(cmd, "discard") && !cmd_is(cmd, "multi") &&
        !cmd_is(cmd, "watch") && !cmd_is(cmd, "quit") && !cmd_is(cmd, "reset")) {
      cairn_multi_queue(client, cmd, argc, argv);
      cairn_reply_raw(&ctx.reply, "+QUEUED\r\n", 9);
      srv->stats.commands_processed--; /* counted when EXEC runs it, like Redis */
      goto done;
    }
  } else if (!cmd) {
    cairn_warning("replay: unknown command '%.*s' in the stream, skipped", (int)argv[0].len, argv[0].p);
    return;
  }

  size_t reply_mark = ctx.reply.buf ? ctx.reply.buf->len : 0;
  if (!srv->batch_start_us && client) srv->batch_start_us = cairn_ustime();
  for (int attempt = 0;; attempt++) {
    /* One clock read per few commands of a client's batch (net.c keeps
     * srv->now_ms fresh); a retry or a replay reads the clock itself. */
    ctx.now_ms = (client && attempt == 0 && srv->now_ms) ? srv->now_ms : cairn_mstime();
    ctx.dirty = 0;
    ctx.store_rc = 0;
    ctx.custom_propagation = 0;
    srv->nprops = 0;
    srv->props.len = 0;
    cmd->fn(&ctx);
    if (ctx.store_rc == 0) break;
    /* The store failed mid-command: nothing of it may survive. Undo its
     * replies and propagations, return the store to the state the stream
     * describes (rollback + replay), then run it again. */
    srv->nprops = 0;
    srv->props.len = 0;
    if (ctx.reply.buf) ctx.reply.buf->len = reply_mark;
    if (ctx.replaying) {
      srv->replay_rc = ctx.store_rc;
      return;
    }
    char why[256] = "store error: the command kept failing";
    if (attempt >= 16 || cairn_commit_recover(srv, ctx.store_rc, why, sizeof(why)) != 0) {
      cairn_reply_error(&ctx.reply, why);
      if (client && cmd_is(cmd, "exec")) cairn_multi_client_reset(client); /* nothing of it applied */
      break;
    }
  }
  if (ctx.dirty > 0 && !ctx.custom_propagation) cairn_propagate(&ctx, ctx.db, argc, argv);
  if (!ctx.replaying) {
    int wrote = srv->nprops > 0;
    flush_props(srv);
    if (wrote && client) {
      client->flags |= CAIRN_CLIENT_WROTE;
      client->woff = srv->stream_offset; /* what WAIT waits for */
    }
  }
  if (ctx.replaying) srv->replay_db = ctx.db;
  goto done;

reject:
  rejected(&ctx, reply_start);
done:
  if (client && client->out.len > reply_start && client->out.p[reply_start] == '-')
    srv->stats.total_error_replies++;
  if (client) {
    if (client->reply_mode == CAIRN_REPLY_SKIP_NEXT)
      client->reply_mode = CAIRN_REPLY_SKIP;
    else if (client->reply_mode == CAIRN_REPLY_SKIP)
      client->reply_mode = CAIRN_REPLY_ON;
  }
}
