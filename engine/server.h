/* The server: event loop, clients, command execution, group commit.
 *
 * Only the pieces other modules need are here; each command file sees the
 * context of the command it runs (cairn_ctx) and the server through a few
 * accessors. engine/ never includes replication/: the write-ahead log is
 * reached through cairn_wal (wired by main.c). */
#ifndef CAIRN_SERVER_H
#define CAIRN_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "engine/buf.h"
#include "engine/config.h"
#include "engine/resp.h"
#include "engine/store.h"
#include "engine/wal.h"

#define CAIRN_VERSION "0.1.0"
#define CAIRN_REDIS_VERSION "7.0.15" /* the Redis version whose behaviour cairn follows */

typedef struct cairn_server cairn_server;
typedef struct cairn_client cairn_client;
typedef struct cairn_ctx cairn_ctx;

/* ---------------------------------------------------------------- commands */
enum {
  CAIRN_CMD_WRITE = 1 << 0,
  CAIRN_CMD_READONLY = 1 << 1,
  CAIRN_CMD_DENYOOM = 1 << 2,
  CAIRN_CMD_ADMIN = 1 << 3,
  CAIRN_CMD_PUBSUB = 1 << 4,
  CAIRN_CMD_NOSCRIPT = 1 << 5,
  CAIRN_CMD_LOADING = 1 << 6,
  CAIRN_CMD_STALE = 1 << 7,
  CAIRN_CMD_FAST = 1 << 8,
  CAIRN_CMD_NO_AUTH = 1 << 9,   /* allowed before AUTH (AUTH, HELLO, QUIT...) */
  CAIRN_CMD_KEYSPACE = 1 << 10, /* reads or writes keys */
  CAIRN_CMD_BLOCKING = 1 << 11,
  CAIRN_CMD_NOMULTI = 1 << 12,
};

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

/* Each command file exports one table, terminated by an entry with name NULL. */
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

const cairn_command *cairn_command_lookup(const char *name, size_t len);
/* Iterates every top-level command (for COMMAND, COMMAND COUNT...). */
int cairn_command_count(void);
const cairn_command *cairn_command_at(int i);

/* ---------------------------------------------------------------- clients */
enum {
  CAIRN_CLIENT_CLOSE_AFTER_REPLY = 1 << 0,
  CAIRN_CLIENT_CLOSING = 1 << 1,
  CAIRN_CLIENT_PENDING_WRITE = 1 << 2,
  CAIRN_CLIENT_UNIX = 1 << 3,
  CAIRN_CLIENT_NO_EVICT = 1 << 4,
  CAIRN_CLIENT_NO_TOUCH = 1 << 5,
  CAIRN_CLIENT_WROTE = 1 << 6,       /* wrote in this iteration: its acks wait for the WAL */
  CAIRN_CLIENT_READ_PAUSED = 1 << 7, /* output stuck: not reading its commands */
  CAIRN_CLIENT_DRAINING = 1 << 8,    /* last reply sent, FIN sent, waiting for the peer's EOF */
  CAIRN_CLIENT_REPLICA = 1 << 9,     /* a replica attached by SYNC/PSYNC: fed the stream */
  CAIRN_CLIENT_BLOCKED = 1 << 10,    /* waiting (WAIT): its next commands wait too */
  CAIRN_CLIENT_RESUME = 1 << 11,     /* unblocked: run its pending commands at the iteration's end */
  /* MULTI/EXEC (engine/cmd/multi.c). MULTI stays set while EXEC runs the
   * queue; a blocking command must not block when either is set (see
   * cairn_can_block). */
  CAIRN_CLIENT_MULTI = 1 << 12,      /* inside MULTI: commands are queued */
  CAIRN_CLIENT_DIRTY_CAS = 1 << 13,  /* a WATCHed key changed: EXEC answers a null array */
  CAIRN_CLIENT_DIRTY_EXEC = 1 << 14, /* a command was refused while queueing: EXEC aborts */
  CAIRN_CLIENT_IN_EXEC = 1 << 15,    /* EXEC is running the queued commands */
  CAIRN_CLIENT_PUBSUB = 1 << 16,     /* subscribed to a channel or a pattern (engine/cmd/pubsub.c) */
  CAIRN_CLIENT_PUSHED = 1 << 17,     /* on srv->pushed: has pub/sub messages to send */
};

enum { CAIRN_REPLY_ON = 0, CAIRN_REPLY_OFF, CAIRN_REPLY_SKIP_NEXT, CAIRN_REPLY_SKIP };

struct cairn_client {
  uint64_t id;
  cairn_server *srv;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uint32_t flags;
  int resp;                /* 2 or 3 */
  int db;
  int authenticated;
  int reply_mode;
  char *name;              /* CLIENT SETNAME, or NULL */
  char addr[64];           /* ip:port of the peer */
  char laddr[64];
  int64_t created_ms;
  int64_t last_interaction_ms;
  const char *last_cmd;

  cairn_buf query;         /* bytes read, not yet executed: [0, query.len) */
  size_t qpos;             /* start of the command being parsed */
  cairn_req_parser parser;
  cairn_str *argv;
  size_t argv_cap;

  cairn_buf out;           /* replies: [0, released) may be sent, the rest waits for the WAL */
  size_t released;
  size_t sync_mark;        /* out bytes that the in-flight WAL sync will release */
  cairn_buf inflight;      /* bytes handed to uv_write, not yet confirmed */
  uv_write_t write_req;
  int writing;
  int64_t obuf_soft_since; /* when the soft output limit was first exceeded */
  int64_t drain_since_ms;
  uint64_t woff;           /* stream offset after its last command (what WAIT waits for) */
  int64_t block_deadline_ms; /* monotonic; 0 = no timeout */
  void (*on_block_timeout)(cairn_client *c);
  long long block_arg;     /* the blocker's own datum (WAIT: replicas wanted) */
  cairn_client *resume_next;

  void *repl;              /* replication state of a replica client (replication/) */
  void *blocking;          /* blocked on keys: engine/blocking.c's record */
  void *mstate;            /* MULTI queue (engine/cmd/multi.c), NULL when none */
  void *watched;           /* WATCHed keys (engine/cmd/multi.c), NULL when none */
  void *pubsub;            /* subscriptions (engine/cmd/pubsub.c), NULL when none */
  cairn_client *push_next; /* on srv->pushed */

  cairn_client *prev, *next;      /* all clients */
  cairn_client *pending_next;     /* clients with held replies */
};

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

/* Store access for handlers: the key space of ctx->db with lazy expiry.
 * Returns 1 found (expired keys are deleted, propagated as DEL, and reported
 * absent), 0 absent, <0 store error (also recorded in ctx->store_rc: return
 * from the handler at once; the server rolls back and retries). */
int cairn_lookup(cairn_ctx *c, cairn_str key, cairn_value *out);
/* Same, but a key of another type gives the WRONGTYPE reply and returns -1
 * with store_rc untouched (so: `if (rc < 0) return;`). */
int cairn_lookup_type(cairn_ctx *c, cairn_str key, uint8_t type, cairn_value *out);
/* Collections (see store.h): lookup of a key that must hold `type` with its
 * header decoded. 1 found, 0 absent, -1 after WRONGTYPE or a store error. */
int cairn_lookup_coll(cairn_ctx *c, cairn_str key, uint8_t type, cairn_value *val, cairn_coll *coll);
/* Writes a collection's header back (every modifying command ends with it;
 * count 0 deletes the key). 0, or -1 after a store error. */
int cairn_coll_save(cairn_ctx *c, cairn_str key, uint8_t type, const cairn_coll *coll, int64_t expire_ms);

/* Blocking commands (BLPOP, BLMOVE, BLMPOP, BZPOPMIN, BZMPOP...), see
 * engine/blocking.c. A handler with nothing to serve calls
 * cairn_block_for_keys and returns without replying: the client waits until
 * a write signals one of the keys ready, then its command runs again with
 * the same argv (blocked clients of a key are served in the order they
 * blocked, right after the command that made the key ready, in the same
 * batch), or until timeout_ms (absolute unix ms, 0 = forever) when it gets a
 * null array. Inside MULTI (c->client->flags & (CAIRN_CLIENT_MULTI |
 * CAIRN_CLIENT_IN_EXEC)) or when replaying, a blocking command must not
 * block: cairn_can_block says so, and the handler then answers as on timeout. Every command that adds elements to a list or a
 * sorted set calls cairn_signal_key_ready (cheap when nobody waits). */
int cairn_can_block(cairn_ctx *c);
void cairn_block_for_keys(cairn_ctx *c, const cairn_str *keys, int nkeys, int64_t timeout_ms);
void cairn_signal_key_ready(cairn_ctx *c, cairn_str key);
/* Core hooks of engine/blocking.c: net.c calls client_closed for a closing
 * client blocked on keys; cairn_execute calls serve after each top-level
 * command. A command run from inside another (EXEC's queued commands) is not
 * top level (cairn_ctx_is_top_level: its argv is not the one cairn_execute
 * was given at depth 1) and never blocks. */
void cairn_blocking_client_closed(cairn_client *c);
/* When c re-runs a blocked command woken by a ready key: 1 and that key
 * (Redis 7.0 serves a multi-key pop from the key that became ready, so try it
 * first), else 0. */
int cairn_blocking_woken_key(const cairn_ctx *c, cairn_str *key);
int cairn_blocking_pending(void);
void cairn_blocking_serve(cairn_server *srv);
int cairn_ctx_is_top_level(const cairn_ctx *c);

/* A near-uniform random member of a collection's hashed member space
 * (CAIRN_SPACE_MEMBERS): the member at or after a random hash, then a random
 * 0..63 members further, wrapping (O(log n + 64); a member's chance is the
 * average of 64 hash gaps, within ~12% of uniform whatever the members are).
 * Copies the member into sub and, if val is not NULL, its value into val.
 * 1 found, 0 empty, -1 store error (recorded). */
int cairn_coll_random(cairn_ctx *c, uint64_t id, cairn_buf *sub, cairn_buf *val);

/* HSCAN / SSCAN / ZSCAN: `<cmd> key cursor [MATCH p] [COUNT n]` over the
 * hashed member space of a collection of `type`. The cursor is the next
 * member's 64-bit hash, so a member present for the whole scan is returned
 * exactly once and cursors survive restarts; O(log n + count) per call.
 * with_values: each member is followed by its value, formatted by val_text
 * (NULL: the raw bytes). Like Redis, a missing key replies an empty scan
 * before the options are parsed. */
void cairn_coll_scan(cairn_ctx *c, uint8_t type, int with_values, size_t (*val_text)(cairn_str raw, char *buf));

/* Signals key (in c->db) as modified for WATCH without writing it. */
void cairn_touch(cairn_ctx *c, cairn_str key);

/* Records a store error; always returns -1. */
int cairn_store_failed(cairn_ctx *c, int rc);
cairn_store *cairn_ctx_store(cairn_ctx *c);

/* Propagation. A write handler that changed data (c->dirty > 0) propagates
 * its own argv unless it called cairn_propagate with the deterministic form
 * (PXAT instead of EX, SET instead of INCRBYFLOAT...). Several propagations of
 * one command go out wrapped in MULTI/EXEC. */
void cairn_propagate(cairn_ctx *c, int db, int argc, const cairn_str *argv);
/* Convenience: propagate a command given as C strings and cairn_str mix. */
void cairn_propagate_del(cairn_ctx *c, int db, cairn_str key);

/* Expiry changes with their stream form, shared by EXPIRE*, GETEX, SET...:
 * an absolute time already past deletes the key (stream: DEL) unless
 * replaying; otherwise the expiry is set (stream: PEXPIREAT key ms). PERSIST
 * removes it (stream: PERSIST key). The key must exist. 0, or -1 after a
 * store error. */
int cairn_expire_key_at(cairn_ctx *c, cairn_str key, int64_t when_ms);
int cairn_persist_key(cairn_ctx *c, cairn_str key);

/* Replies (shorthands over cairn_reply_*). */
#define CAIRN_ERR_WRONGTYPE "-WRONGTYPE Operation against a key holding the wrong kind of value"
#define CAIRN_ERR_SYNTAX "syntax error"
#define CAIRN_ERR_NOTINT "value is not an integer or out of range"
#define CAIRN_ERR_NOTFLOAT "value is not a valid float"
void cairn_reply_arity(cairn_ctx *c);  /* wrong number of arguments for '<cmd>' command */

/* argument helpers: case-insensitive compare, integer parsing with the
 * standard error reply. Return 0 on success, -1 after replying. */
int cairn_arg_is(cairn_str a, const char *lit);
int cairn_arg_ll(cairn_ctx *c, cairn_str a, long long *out);
int cairn_arg_ll_msg(cairn_ctx *c, cairn_str a, long long *out, const char *msg);
int cairn_arg_double(cairn_ctx *c, cairn_str a, double *out);
/* A SCAN-family cursor (Redis's strtoul rules; "invalid cursor"). */
int cairn_arg_cursor(cairn_ctx *c, cairn_str a, uint64_t *out);

/* ---------------------------------------------------------------- server */
typedef struct cairn_stats {
  uint64_t connections_received;
  uint64_t commands_processed;
  uint64_t rejected_connections;
  uint64_t expired_keys;
  uint64_t keyspace_hits, keyspace_misses;
  uint64_t net_input_bytes, net_output_bytes;
  uint64_t wal_syncs;
  uint64_t wal_inline_syncs;
  uint64_t wal_sync_us_total;
  uint64_t wal_records;
  uint64_t wal_bytes;
  uint64_t checkpoints;
  uint64_t checkpoint_us_total;
  uint64_t map_grows;
  uint64_t rollbacks;
  uint64_t iterations_with_writes;
  uint64_t total_error_replies;
  uint64_t sync_full, sync_partial_ok, sync_partial_err;
} cairn_stats;

struct cairn_server {
  uv_loop_t *loop;
  cairn_config cfg;
  cairn_store *store;
  cairn_wal wal;
  char run_id[41];
  int64_t start_ms;
  uint16_t tcp_port_bound;

  /* listeners */
  uv_tcp_t listeners[16];
  int nlisteners;
  uv_pipe_t unix_listener;
  int has_unix;

  /* the iteration's commit */
  uv_prepare_t prepare;
  uv_check_t check;
  uv_timer_t cron;
  uv_signal_t sigterm, sigint;

  /* replication stream of the current iteration, not yet in the WAL */
  cairn_buf stream;
  uint64_t stream_offset;   /* master_repl_offset including `stream` */
  int stream_db;            /* db of the last SELECT written, -1 = none */
  cairn_buf props;          /* propagations of the running command */
  int nprops;
  int64_t last_wal_sync_ms;
  int64_t last_wal_maintain_ms;
  uint64_t synced_offset;   /* every stream byte up to here is durable */

  /* The flusher thread runs the WAL's fdatasync while the loop goes on
   * serving; replies wait for the sync that covers what they saw. */
  pthread_t flusher;
  pthread_mutex_t fl_mu;
  pthread_cond_t fl_cv;
  uv_async_t fl_async;
  void *fl_token;           /* job handed to the thread, NULL when none */
  int fl_busy;              /* a job is in flight (loop thread's view) */
  int fl_done, fl_err;      /* set by the thread */
  int fl_stop, fl_started;
  uint64_t fl_job_end;
  uint64_t wal_history;     /* bumped when the backlog restarts at a new offset (full sync) */
  uint64_t fl_job_history;
  int64_t batch_start_us;   /* when the first command since the last commit ran */
  int64_t now_ms;           /* command time, refreshed every 64 commands of a client batch */
  int wal_unsynced;         /* relaxed mode: appended but not synced */
  int64_t last_checkpoint_ms;
  int write_error;          /* the WAL refused a write: -MISCONF until it works */
  char write_error_msg[256];

  /* clients */
  cairn_client *clients;
  cairn_client *pending;     /* clients with held replies */
  cairn_client *resume;      /* unblocked clients with commands to run */
  cairn_client *pushed;      /* clients with pub/sub messages, sent at the iteration's end */
  uint64_t next_client_id;
  int nclients;

  /* replay (recovery, rollback) */
  int replay_db;             /* db selected in the stream being applied */
  int replay_rc;             /* store error met while replaying */
  int ckpt_stream_db;        /* stream's selected db at the last checkpoint */
  int in_checkpoint_retry;
  int recovering;            /* rebuilding the store from the stream: its touches are not changes (WATCH) */
  int apply_live;            /* applying our master's stream (not a replay): PUBLISH reaches our subscribers */

  /* Replication, wired by main.c (all NULL without it). The engine calls
   * these hooks; replication/ owns what `repl` points to. */
  void *repl;
  void (*repl_on_synced)(cairn_server *srv);          /* synced_offset moved on */
  void (*repl_on_drained)(cairn_client *c);           /* a replica's output went out */
  void (*repl_on_close)(cairn_client *c);             /* a replica client is closing */
  void (*repl_cron)(cairn_server *srv);
  void (*repl_info)(cairn_server *srv, cairn_buf *out); /* the INFO replication section */
  uint64_t (*repl_min_offset)(cairn_server *srv);     /* oldest offset replicas need, 0 = none */
  void (*repl_checkpoint)(cairn_server *srv);         /* before each checkpoint commit (ids into meta) */
  void (*repl_stop)(cairn_server *srv);               /* the loop ended: close replication's handles */
  int (*repl_good_replicas)(cairn_server *srv);       /* online and ACKed within min-replicas-max-lag */

  void *repl_link;          /* replica side: the link to our master (replication/replica.c) */
  int replica_mode;          /* following a master: read-only, no expiry of its own */
  int master_link_up;

  int shutdown_requested;
  int exit_code;
  cairn_stats stats;
  int64_t last_save_time;    /* unix seconds of the last checkpoint */
};

/* Starts listeners, recovers, runs the loop until SHUTDOWN/SIGTERM. */
int cairn_server_init(cairn_server *srv, char *err, size_t errlen);
int cairn_server_run(cairn_server *srv);
void cairn_server_free(cairn_server *srv);

/* Executes one parsed command for a client (or for replay when client is
 * NULL). */
void cairn_execute(cairn_server *srv, cairn_client *client, int argc, cairn_str *argv);

void cairn_client_close(cairn_client *c);
cairn_client *cairn_client_by_id(cairn_server *srv, uint64_t id);
/* Blocking: the client's reply (and its following commands) wait until
 * cairn_client_unblock; on_timeout runs at the deadline (0 = none) and must
 * reply and unblock. */
void cairn_client_block(cairn_client *c, int64_t deadline_ms, void (*on_timeout)(cairn_client *c));
void cairn_client_unblock(cairn_client *c);

enum { CAIRN_CLIENT_TYPE_NORMAL = 0, CAIRN_CLIENT_TYPE_REPLICA, CAIRN_CLIENT_TYPE_MASTER, CAIRN_CLIENT_TYPE_PUBSUB };
int cairn_client_type(const cairn_client *c);
/* Appends bytes to a client's output as already durable (released at once)
 * and tries to send them: how replication feeds a replica. */
void cairn_client_send(cairn_client *c, const void *p, size_t n);
/* Bytes queued for a client and not yet written to its socket. */
size_t cairn_client_pending_bytes(const cairn_client *c);
/* Appends raw bytes to the replication stream (PING, REPLCONF GETACK): they
 * count in the offset but carry no data change and need no SELECT. */
void cairn_stream_append_raw(cairn_server *srv, const void *p, size_t n);
/* Adds a table of commands (replication's SYNC, PSYNC, ...) before the first
 * lookup; main.c calls it. */
void cairn_command_register(const cairn_command *table);

/* Out-of-band output (pub/sub messages): appended after whatever the client
 * already has, released at once when nothing of it waits for the WAL, and
 * written at the end of the loop iteration without waiting for a WAL sync.
 * The output-buffer limit of the client's class applies (a client over it is
 * closed at that point). */
void cairn_client_push(cairn_client *c, const void *p, size_t n);

/* Transactions (engine/cmd/multi.c). cairn_execute queues the commands of a
 * client in MULTI; EXEC runs each through cairn_execute_queued, which gathers
 * their propagation into the EXEC's (one MULTI/EXEC unit in the stream) and
 * hands a store error to the EXEC so that the whole transaction is retried. */
void cairn_multi_queue(cairn_client *c, const cairn_command *cmd, int argc, const cairn_str *argv);
/* Flags of the queued commands OR-ed (any) and AND-ed (all); 0/~0 if none. */
void cairn_multi_queued_flags(const cairn_client *c, uint32_t *any, uint32_t *all);
int cairn_multi_count(const cairn_client *c);     /* queued commands, -1 outside MULTI */
size_t cairn_multi_memory(const cairn_client *c); /* bytes held by the queue */
/* Leaves MULTI and drops every WATCH (disconnect, RESET, EXEC, DISCARD). */
void cairn_multi_client_reset(cairn_client *c);
/* Every watching client fails its next EXEC (a full sync replaced the data). */
void cairn_watch_touch_all(cairn_server *srv);
void cairn_execute_queued(cairn_ctx *exec, const cairn_command *cmd, int argc, cairn_str *argv);

/* Pub/sub (engine/cmd/pubsub.c). */
void cairn_pubsub_client_reset(cairn_client *c); /* unsubscribe from everything, no replies */
void cairn_pubsub_client_counts(const cairn_client *c, long *channels, long *patterns);
void cairn_pubsub_counts(long *channels, long *patterns); /* server-wide, for INFO */
/* Messages published while held are delivered at cairn_pubsub_release(1) or
 * dropped at cairn_pubsub_release(0): what a command that may be retried
 * (EXEC, a transaction of the master's stream) publishes waits until it
 * succeeded. Nests. */
void cairn_pubsub_hold(void);
void cairn_pubsub_release(int deliver);

/* CLIENT LIST / CLIENT INFO line for one client. */
void cairn_client_describe(cairn_client *c, cairn_buf *out);

/* INFO text for a section ("default", "all", a section name). */
void cairn_info(cairn_server *srv, const char *section, cairn_buf *out);

/* Active expiry, bounded by a time budget. Returns keys expired. */
long cairn_expire_cycle(cairn_server *srv, int64_t budget_us);

#endif
