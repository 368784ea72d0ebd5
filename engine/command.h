/* Commands: the table every command file exports, and the contract of a
 * handler (cairn_ctx: its arguments, its reply, its db; argument helpers;
 * propagation into the replication stream). Execution and its checks are
 * engine/execute.c; key access for handlers is engine/keyspace.h.
 *
 * Threads: everything here runs on the loop thread. */
#ifndef CAIRN_COMMAND_H
#define CAIRN_COMMAND_H

#include <stdint.h>

#include "engine/resp.h"

typedef struct cairn_server cairn_server;
typedef struct cairn_client cairn_client;
typedef struct cairn_ctx cairn_ctx;

/* ---------------------------------------------------------------- commands */
/* Command flags: one property each. A name in quotes is Redis's flag,
 * listed by COMMAND INFO under that name; KEYSPACE gives the @keyspace
 * category; the last three mark execute's special cases and are not shown. */
enum {
  CAIRN_CMD_WRITE = 1 << 0,     /* may change keys ("write") */
  CAIRN_CMD_READONLY = 1 << 1,  /* reads keys, never changes them ("readonly") */
  CAIRN_CMD_DENYOOM = 1 << 2,   /* may grow the data set ("denyoom") */
  CAIRN_CMD_ADMIN = 1 << 3,     /* "admin" */
  CAIRN_CMD_PUBSUB = 1 << 4,    /* "pubsub" */
  CAIRN_CMD_NOSCRIPT = 1 << 5,  /* "noscript" */
  CAIRN_CMD_LOADING = 1 << 6,   /* runs while the data set loads ("loading") */
  CAIRN_CMD_STALE = 1 << 7,     /* runs on a replica whose link is down ("stale") */
  CAIRN_CMD_FAST = 1 << 8,      /* O(1) or O(log N) ("fast") */
  CAIRN_CMD_NO_AUTH = 1 << 9,   /* allowed before AUTH (AUTH, HELLO, QUIT...) ("no_auth") */
  CAIRN_CMD_KEYSPACE = 1 << 10, /* reads or writes keys (the @keyspace category) */
  CAIRN_CMD_BLOCKING = 1 << 11, /* may block the client ("blocking") */
  CAIRN_CMD_NOMULTI = 1 << 12,  /* refused inside MULTI ("no_multi") */
  /* cairn's own, for execute's special cases: */
  CAIRN_CMD_ALLOW_SUBSCRIBED = 1 << 13, /* allowed in RESP2 subscribed mode */
  CAIRN_CMD_NOT_QUEUED = 1 << 14,       /* runs at once inside MULTI, never queued */
  CAIRN_CMD_RUNS_QUEUED = 1 << 15,      /* EXEC: runs the queued commands; writes when one of them
                                         * does; refused, it discards the transaction */
  CAIRN_CMD_MAY_REPLICATE = 1 << 16,    /* not a write but may reach the replication stream (PUBLISH,
                                         * PFCOUNT...): paused by CLIENT PAUSE WRITE, Redis's
                                         * CMD_MAY_REPLICATE */
  CAIRN_CMD_ALLOW_BUSY = 1 << 17,       /* served while a script runs past busy-reply-threshold
                                         * ("allow_busy"; engine/client.c:cairn_clients_serve_busy) */
  CAIRN_CMD_RUNS_SCRIPT = 1 << 18,      /* EVAL, FCALL...: shows itself to MONITOR before the commands
                                         * the script calls (not execute after it ran); tracked by
                                         * what the script read (engine/tracking.c) */
  CAIRN_CMD_NO_MANDATORY_KEYS = 1 << 19, /* may name no key at all: COMMAND GETKEYS answers an empty
                                          * array, not an error ("no_mandatory_keys": EVAL, FCALL...) */
};

/* Shorthands for the tables, one meaning each. */
#define CAIRN_F_WRITE (CAIRN_CMD_WRITE | CAIRN_CMD_KEYSPACE)   /* a write command on keys */
#define CAIRN_F_READ (CAIRN_CMD_READONLY | CAIRN_CMD_KEYSPACE) /* a read-only command on keys */
#define CAIRN_F_LOADING_STALE (CAIRN_CMD_LOADING | CAIRN_CMD_STALE) /* needs no current data set */

typedef void (*cairn_cmd_fn)(cairn_ctx *c);

typedef struct cairn_command {
  const char *name;   /* lower case */
  int arity;          /* >0 exact, <0 at least -arity */
  uint32_t flags;
  int first_key, last_key, key_step;  /* like Redis's legacy key spec */
  cairn_cmd_fn fn;
  const char *group;    /* "string", "generic", "server", "connection", ... */
  const char *summary;  /* for COMMAND DOCS */
  const char *since;
  const char *args;     /* argument synopsis for COMMAND DOCS hints, e.g. "key value [EX seconds]" */
  const struct cairn_command *subcommands; /* NULL-name terminated, or NULL */
} cairn_command;

/* One table entry, in the struct's order; a container adds
 * `.subcommands = table` after args. Unnamed fields are zero. */
#define CAIRN_CMD(name_, arity_, flags_, first_, last_, step_, fn_, group_, summary_, since_, args_, ...) \
  {.name = (name_),                                                                                    \
   .arity = (arity_),                                                                                  \
   .flags = (flags_),                                                                                  \
   .first_key = (first_),                                                                              \
   .last_key = (last_),                                                                                \
   .key_step = (step_),                                                                                \
   .fn = (fn_),                                                                                        \
   .group = (group_),                                                                                  \
   .summary = (summary_),                                                                              \
   .since = (since_),                                                                                  \
   .args = (args_),                                                                                    \
   __VA_ARGS__}
/* The entry that ends a table. */
#define CAIRN_CMD_END {.name = NULL}

/* Each command file exports one table, terminated by CAIRN_CMD_END. */
extern const cairn_command cairn_commands_strings[];
extern const cairn_command cairn_commands_bits[];
extern const cairn_command cairn_commands_keys[];
extern const cairn_command cairn_commands_server[];
extern const cairn_command cairn_commands_connection[];
extern const cairn_command cairn_commands_hash[];
extern const cairn_command cairn_commands_list[];
extern const cairn_command cairn_commands_set[];
extern const cairn_command cairn_commands_zset[];
extern const cairn_command cairn_commands_multi[];  /* MULTI EXEC DISCARD WATCH UNWATCH */
extern const cairn_command cairn_commands_pubsub[];
extern const cairn_command cairn_commands_diag[];   /* SLOWLOG LATENCY */
extern const cairn_command cairn_commands_acl[];    /* ACL (engine/cmd/acl.c) */
extern const cairn_command cairn_commands_stream[]; /* X* (engine/cmd/xstream.c) */
extern const cairn_command cairn_commands_scripting[]; /* EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT */
extern const cairn_command cairn_commands_function[];  /* FUNCTION FCALL FCALL_RO */

/* Case-insensitive lookup by name: the command, or NULL. */
const cairn_command *cairn_command_lookup(const char *name, size_t len);
/* Frees the lookup index (rebuilt at the next lookup); at shutdown. */
void cairn_command_table_free(void);
/* Iterates every top-level command (for COMMAND, COMMAND COUNT...). */
int cairn_command_count(void);
const cairn_command *cairn_command_at(int i);

/* Adds a table of commands (replication's SYNC, PSYNC, ...) before the first
 * lookup; main.c calls it. */
void cairn_command_register(const cairn_command *table);

/* Subcommands. A container command (CONFIG, CLIENT, OBJECT...) has a table
 * of entries named "container|sub", like Redis's full names. */
/* The subcommand of container `cmd` named `name` (case-insensitive, without
 * the "container|" part), or NULL. */
const cairn_command *cairn_subcommand_find(const cairn_command *cmd, cairn_str name);
/* Redis's "unknown subcommand '<argv[1]>'. Try <CONTAINER> HELP." */
void cairn_reply_unknown_subcommand(cairn_ctx *c);
/* Redis's addReplySubcommandSyntaxError: "unknown subcommand or wrong
 * number of arguments for '<argv[1]>'. Try <CONTAINER> HELP." */
void cairn_reply_subcommand_syntax_error(cairn_ctx *c);
/* The handler of a container: runs the subcommand argv[1] names after
 * checking its arity (replies an error otherwise). */
void cairn_subcommand_dispatch(cairn_ctx *c);
/* The reply to a container's HELP, as Redis words it: a header naming the
 * container, the n lines, then HELP itself. */
void cairn_reply_help(cairn_ctx *c, const char *container, const char *const *lines, size_t n);


/* ---------------------------------------------------------------- context */
struct cairn_ctx {
  cairn_server *srv;
  cairn_client *client;   /* NULL while replaying the stream */
  const cairn_command *cmd;
  cairn_reply reply;
  int argc;
  cairn_str *argv;
  int db;
  int replaying;          /* applying a stream: no expiry deletes, no propagation */
  int64_t now_ms;         /* the command's time (one clock read per command) */
  long long dirty;        /* changes made */
  int store_rc;           /* first store error (<0), or 0 */
  int custom_propagation; /* the handler already called cairn_propagate */
};

/* Replies (shorthands over cairn_reply_*). */
#define CAIRN_ERR_WRONGTYPE "-WRONGTYPE Operation against a key holding the wrong kind of value"
#define CAIRN_ERR_SYNTAX "syntax error"
#define CAIRN_ERR_NOTINT "value is not an integer or out of range"
#define CAIRN_ERR_NOTFLOAT "value is not a valid float"
/* Whether argc arguments (the name included) fit cmd's arity: exactly
 * `arity` when > 0, at least -arity otherwise. */
static inline int cairn_arity_ok(const cairn_command *cmd, int argc) {
  return cmd->arity > 0 ? argc == cmd->arity : argc >= -cmd->arity;
}
/* "wrong number of arguments for '<name>' command", for cmd (a subcommand's
 * name is "container|sub", as Redis says it). */
void cairn_reply_arity_of(cairn_reply *r, const cairn_command *cmd);
void cairn_reply_arity(cairn_ctx *c); /* the same for the running command */

/* argument helpers: case-insensitive compare, integer parsing with the
 * standard error reply. Return 0 on success, -1 after replying. */
int cairn_arg_is(cairn_str a, const char *lit);
int cairn_arg_ll(cairn_ctx *c, cairn_str a, long long *out);
int cairn_arg_ll_msg(cairn_ctx *c, cairn_str a, long long *out, const char *msg);
int cairn_arg_double(cairn_ctx *c, cairn_str a, double *out);
/* A SCAN-family cursor (Redis's strtoul rules; "invalid cursor"). */
int cairn_arg_cursor(cairn_ctx *c, cairn_str a, uint64_t *out);

/* A blocking command's timeout, Redis 7.0.15's getTimeoutFromObjectOrReply
 * (src/timeout.c). CAIRN_TIMEOUT_SECONDS: a long double (string2ld rules)
 * times 1000, rounded up (ceill: 0.0001 is 1 ms, not 0 = forever);
 * CAIRN_TIMEOUT_MILLISECONDS: an integer. A value beyond long long converts
 * to LLONG_MIN as on x86, hence "timeout is negative". Returns NULL with
 * *ms >= 0 (relative, 0 = forever), or the error text. */
enum { CAIRN_TIMEOUT_SECONDS, CAIRN_TIMEOUT_MILLISECONDS };
const char *cairn_timeout_parse(const char *s, size_t len, int unit, long long *ms);
/* The same for handlers, in seconds: *abs_ms is the unix time in ms when it
 * expires (c->now_ms + timeout, capped at INT64_MAX), 0 = forever. 0, or -1
 * after replying the error. */
int cairn_arg_timeout(cairn_ctx *c, cairn_str a, int64_t *abs_ms);

/* Propagation. A write handler that changed data (c->dirty > 0) propagates
 * its own argv unless it called cairn_propagate with the deterministic form
 * (PXAT instead of EX, SET instead of INCRBYFLOAT...). Several propagations of
 * one command go out wrapped in MULTI/EXEC. */
void cairn_propagate(cairn_ctx *c, int db, int argc, const cairn_str *argv);
/* Convenience: propagate a command given as C strings and cairn_str mix. */
void cairn_propagate_del(cairn_ctx *c, int db, cairn_str key);

/* Why commands that may add data (DENYOOM; scripts without allow-oom or
 * no-writes) are refused now, as an error reply ("-OOM ..."), or NULL: the
 * LMDB map at lmdb-max-map-size, or maxmemory set and used_memory over it
 * (Redis's noeviction rule; cairn evicts for no policy, see
 * conf/cairn.conf). used_memory is measured once per loop iteration; a
 * replica and its master's stream ignore maxmemory (replica-ignore-maxmemory
 * yes), and so does the WAL's replay (client NULL). */
const char *cairn_oom_refusal(cairn_server *srv, const cairn_client *client);

/* Executes one parsed command for a client (or for replay when client is
 * NULL). */
void cairn_execute(cairn_server *srv, cairn_client *client, int argc, cairn_str *argv);

#endif
