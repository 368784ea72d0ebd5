/* The command table (lookup by name, registration of replication's
 * commands, iteration for COMMAND) and the argument helpers of handlers. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/client.h"
#include "engine/command.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- table */

static const cairn_command *const tables[] = {
    cairn_commands_strings, cairn_commands_bits, cairn_commands_keys,  cairn_commands_server,
    cairn_commands_connection, cairn_commands_hash, cairn_commands_list, cairn_commands_set,
    cairn_commands_zset, cairn_commands_multi, cairn_commands_pubsub, cairn_commands_diag, cairn_commands_acl,
    cairn_commands_stream, /* engine/cmd/xstream.c */
    cairn_commands_scripting, cairn_commands_function,
};

#define MAX_EXTRA_TABLES 8
#define LOOKUP_SLOTS 1024 /* power of two, well above the command count */

/* The registry is the process's, like the tables it indexes: built at the
 * first lookup, rebuilt after a registration, read-only while serving. */
static struct {
  const cairn_command *extra_tables[MAX_EXTRA_TABLES];
  int nextra;
  const cairn_command *slots[LOOKUP_SLOTS]; /* open addressing by name */
  const cairn_command **all;
  int nall;
} registry;

static uint32_t name_hash(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)tolower((unsigned char)s[i])) * 16777619u;
  return h;
}

void cairn_command_register(const cairn_command *table) {
  if (registry.nextra < MAX_EXTRA_TABLES) registry.extra_tables[registry.nextra++] = table;
  cairn_command_table_free(); /* rebuilt at the next lookup */
}

static const cairn_command *table_at(size_t t) {
  size_t nbuiltin = sizeof(tables) / sizeof(tables[0]);
  return t < nbuiltin ? tables[t] : registry.extra_tables[t - nbuiltin];
}

static void build_table(void) {
  if (registry.all) return;
  size_t ntables = sizeof(tables) / sizeof(tables[0]) + (size_t)registry.nextra;
  int cap = 0;
  for (size_t t = 0; t < ntables; t++)
    for (const cairn_command *c = table_at(t); c->name; c++) cap++;
  registry.all = cairn_xcalloc((size_t)cap, sizeof(*registry.all));
  for (size_t t = 0; t < ntables; t++) {
    for (const cairn_command *c = table_at(t); c->name; c++) {
      registry.all[registry.nall++] = c;
      uint32_t h = name_hash(c->name, strlen(c->name)) & (LOOKUP_SLOTS - 1);
      while (registry.slots[h]) h = (h + 1) & (LOOKUP_SLOTS - 1);
      registry.slots[h] = c;
    }
  }
}

const cairn_command *cairn_command_lookup(const char *name, size_t len) {
  build_table();
  uint32_t h = name_hash(name, len) & (LOOKUP_SLOTS - 1);
  while (registry.slots[h]) {
    const cairn_command *c = registry.slots[h];
    if (strlen(c->name) == len && strncasecmp(c->name, name, len) == 0) return c;
    h = (h + 1) & (LOOKUP_SLOTS - 1);
  }
  return NULL;
}

int cairn_command_count(void) {
  build_table();
  return registry.nall;
}

const cairn_command *cairn_command_at(int i) {
  build_table();
  return i < registry.nall ? registry.all[i] : NULL;
}

void cairn_command_table_free(void) {
  free(registry.all);
  registry.all = NULL;
  registry.nall = 0;
  memset(registry.slots, 0, sizeof(registry.slots));
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

const char *cairn_timeout_parse(const char *s, size_t len, int unit, long long *ms) {
  long long t;
  if (unit == CAIRN_TIMEOUT_SECONDS) {
    long double secs;
    if (!cairn_str2ld(s, len, &secs)) return "timeout is not a float or out of range";
    long double v = ceill(secs * 1000.0);
    /* (long long) of a value out of range is LLONG_MIN on x86: Redis 7.0
     * says "timeout is negative" for 1e30 or inf. */
    t = v < 9223372036854775808.0L && v >= -9223372036854775808.0L ? (long long)v : LLONG_MIN;
  } else if (!cairn_str2ll(s, len, &t)) {
    return "timeout is not an integer or out of range";
  }
  if (t < 0) return "timeout is negative";
  *ms = t;
  return NULL;
}

int cairn_arg_timeout(cairn_ctx *c, cairn_str a, int64_t *abs_ms) {
  long long t;
  const char *err = cairn_timeout_parse(a.p, a.len, CAIRN_TIMEOUT_SECONDS, &t);
  if (err) {
    cairn_reply_error(&c->reply, err);
    return -1;
  }
  /* Redis 7.0 adds the time unchecked (it wraps, and blocks for ever): the
   * same wait, without the overflow. */
  *abs_ms = t == 0 ? 0 : t > INT64_MAX - c->now_ms ? INT64_MAX : c->now_ms + t;
  return 0;
}

/* ---------------------------------------------------------------- subcommands */

const cairn_command *cairn_subcommand_find(const cairn_command *cmd, cairn_str name) {
  for (const cairn_command *s = cmd->subcommands; s && s->name; s++) {
    const char *bar = strchr(s->name, '|');
    if (cairn_arg_is(name, bar ? bar + 1 : s->name)) return s;
  }
  return NULL;
}

/* "... '<argv[1], at most 128 bytes>'. Try <CONTAINER> HELP." */
static void reply_subcommand_error(cairn_ctx *c, const char *what) {
  char upper[64];
  size_t n = strlen(c->cmd->name);
  if (n > sizeof(upper) - 1) n = sizeof(upper) - 1;
  for (size_t i = 0; i < n; i++) upper[i] = (char)toupper((unsigned char)c->cmd->name[i]);
  upper[n] = '\0';
  cairn_reply_errorf(&c->reply, "%s '%.*s'. Try %s HELP.", what, (int)(c->argv[1].len > 128 ? 128 : c->argv[1].len),
                     c->argv[1].p, upper);
}

void cairn_reply_unknown_subcommand(cairn_ctx *c) { reply_subcommand_error(c, "unknown subcommand"); }

void cairn_reply_subcommand_syntax_error(cairn_ctx *c) {
  reply_subcommand_error(c, "unknown subcommand or wrong number of arguments for");
}

void cairn_reply_help(cairn_ctx *c, const char *container, const char *const *lines, size_t n) {
  char head[128];
  snprintf(head, sizeof(head), "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", container);
  cairn_reply_array(&c->reply, (long long)n + 3);
  cairn_reply_status(&c->reply, head);
  for (size_t i = 0; i < n; i++) cairn_reply_status(&c->reply, lines[i]);
  cairn_reply_status(&c->reply, "HELP");
  cairn_reply_status(&c->reply, "    Prints this help.");
}

void cairn_subcommand_dispatch(cairn_ctx *c) {
  const cairn_command *sub = cairn_subcommand_find(c->cmd, c->argv[1]);
  if (!sub) {
    cairn_reply_unknown_subcommand(c);
    return;
  }
  if (!cairn_arity_ok(sub, c->argc)) {
    cairn_reply_arity_of(&c->reply, sub);
    return;
  }
  if (c->client) c->client->last_cmd = sub->name;
  sub->fn(c);
}

/* ---------------------------------------------------------------- errors */

void cairn_reply_arity_of(cairn_reply *r, const cairn_command *cmd) {
  cairn_reply_errorf(r, "wrong number of arguments for '%s' command", cmd->name);
}

void cairn_reply_arity(cairn_ctx *c) { cairn_reply_arity_of(&c->reply, c->cmd); }

