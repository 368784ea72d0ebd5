/* The server: the state of one cairn process (configuration, store, WAL,
 * the iteration's stream, clients, statistics, replication hooks) and its
 * life cycle (engine/loop.c). Command handlers see it through cairn_ctx
 * (engine/command.h); the other contracts are client.h, keyspace.h,
 * blocking.h, multi.h, pubsub.h, commit.h and wal.h (docs/ARCHITECTURE.md).
 * engine/ never includes replication/'s internals: the write-ahead log is
 * reached through cairn_wal and the RDB codec through
 * replication/rdb/rdb.h; main.c wires the backlog and replication in.
 *
 * Threads: the loop thread owns everything here but the flusher fields
 * (fl_*, under fl_mu). */
#ifndef CAIRN_SERVER_H
#define CAIRN_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "engine/buf.h"
#include "engine/client.h"
#include "engine/command.h"
#include "engine/config.h"
#include "engine/resp.h"
#include "engine/store.h"
#include "engine/wal.h"

#define CAIRN_VERSION "0.1.0"
#define CAIRN_OPS_SAMPLES 16
#define CAIRN_REDIS_VERSION "7.0.15" /* the Redis version whose behaviour cairn follows */

typedef struct cairn_server cairn_server;
typedef struct cairn_client cairn_client;
typedef struct cairn_ctx cairn_ctx;

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
  uint64_t checkpoints;          /* layers frozen */
  uint64_t checkpoint_us_total;  /* loop time spent freezing them (WAL sync included) */
  uint64_t writer_stalls;        /* write commands held back at the overlay's budget */
  uint64_t store_writes_refused; /* -MISCONF: the store thread could not write LMDB */
  uint64_t writer_throttled;     /* ...and past half of it, by the iteration's quota */
  uint64_t longest_iteration_us; /* the loop's longest iteration since start */
  uint64_t longest_iteration_commands; /* commands it executed */
  uint64_t longest_iteration_cpu_us;   /* the loop thread's CPU time in it (the rest: waiting off the CPU) */
  uint64_t rollbacks;
  uint64_t iterations_with_writes;
  uint64_t total_error_replies;
  uint64_t sync_full, sync_partial_ok, sync_partial_err;
  uint64_t sync_full_resumed; /* cairn: a cut full sync resumed where it stopped (REPLCONF resume-sync) */
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
  uv_tcp_t *listeners[16];  /* the TCP listeners (engine/listen.c owns them) */
  int nlisteners;
  uv_pipe_t unix_listener;
  int has_unix;
  uv_tcp_t *tls_listeners[16]; /* the tls-port listeners (engine/listen.c) */
  int ntls_listeners;
  void *tls_ctx, *tls_client_ctx; /* SSL_CTX: accepted / outgoing connections (engine/tls.c) */

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
  int exec_depth;            /* cairn_execute nesting (EXEC, blocked clients re-run) */
  const cairn_str *top_argv; /* argv of the top-level command running */
  struct cairn_prop *prop_at; /* where each propagation is in props (engine/stream.c) */
  size_t prop_cap;
  int64_t last_wal_sync_ms;
  int64_t last_wal_sync_us;    /* how long the last sync took (inline, or the flusher's job as seen by the loop) */
  int64_t last_wal_maintain_ms;
  uint64_t synced_offset;   /* every stream byte up to here is durable */
  void (*on_sync)(cairn_server *srv, int event); /* held replies (cairn_sync_event, engine/commit.h) */

  /* The flusher thread runs the WAL's fdatasync while the loop goes on
   * serving; replies wait for the sync that covers what they saw
   * (engine/commit.c). mu guards token, done, err and stop. */
  struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uv_async_t async;       /* the thread's "done" to the loop */
    void *token;            /* job handed to the thread, NULL when none */
    int busy;               /* a job is in flight (loop thread's view) */
    int done, err;          /* set by the thread */
    int stop, started;
    uint64_t job_end;       /* the offset the job in flight makes durable */
    uint64_t job_history;   /* wal_history when it started */
    int64_t started_us;     /* when it was handed over */
  } fl;
  uint64_t wal_history;     /* bumped when the backlog restarts at a new offset (full sync) */
  int64_t batch_start_us;   /* when the first command since the last commit ran */
  int64_t now_ms;           /* command time, refreshed every 64 commands of a client batch */
  int wal_unsynced;         /* relaxed mode: appended but not synced */
  int64_t last_checkpoint_ms;
  uv_async_t store_async;   /* the store thread finished a drain (engine/commit.c) */
  struct cairn_prefetch *prefetch; /* engine/prefetch.c; NULL with prefetch-threads 0 */
  int prefetch_on;                 /* clients' keys are read ahead now (set by prefetch's cron) */
  uv_async_t prefetch_async;       /* a prefetch thread finished a job */
  int store_error;          /* the last drain failed: retried by the cron */
  uint64_t map_grows_seen;
  uint64_t durable_seen;    /* LMDB's durable offset when the backlog's pins were last updated */
  uint64_t run_errors_seen;     /* the store's run-file errors already logged (once a minute at most) */
  int64_t run_error_logged_ms;
  int64_t last_store_retry_ms;
  void (*on_store_room)(cairn_server *srv); /* the overlay is under budget again: resume stalled writers */
  int64_t iteration_start_us;
  uint64_t iteration_idle_us;
  uint64_t iteration_commands0; /* stats.commands_processed when the iteration began */
  int64_t iteration_cpu0;       /* the loop thread's CPU time then */
  int64_t maxmemory_checked_us; /* iteration_start_us when used_memory was last compared with maxmemory */
  int over_maxmemory;           /* ...and whether it was over */
  int reply_error_counted;      /* the error being replied was counted where it arose (a script's call): not again */
  int write_error;          /* the WAL refused a write: -MISCONF until it works */
  char write_error_msg[256];

  /* clients */
  cairn_client *clients;
  cairn_client *pending;     /* clients with held replies */
  cairn_client *resume;      /* unblocked clients with commands to run */
  cairn_client *pushed;      /* clients with pub/sub messages, sent at the iteration's end */
  cairn_client *cur_client;  /* the client whose top-level command runs (tracking's NOLOOP and order) */
  void (*touch_watch)(void *ud, int db, cairn_str key); /* WATCH's store touch hook, NULL when unused */
  struct cairn_tracking *tracking; /* engine/tracking.c */
  struct cairn_scripting *scripting; /* engine/script.c: the Lua state and script cache, NULL until used */
  struct cairn_functions *functions; /* engine/cmd/function.c: the function libraries, NULL until used */
  int stalled;               /* clients whose write waits for the overlay (CAIRN_CLIENT_STALLED) */
  int pause_type;            /* CLIENT PAUSE: CAIRN_PAUSE_OFF/WRITE/ALL (engine/client.c) */
  int64_t pause_end_ms;      /* monotonic */
  uint64_t postpone_seq;
  uv_timer_t pause_timer;
  int pause_timer_init;
  double write_tokens;       /* the write token bucket (engine/commit.c) */
  int64_t write_tokens_us;
  double drain_rate;         /* entries/s the store thread writes (averaged over its commits) */
  uint64_t drained_seen;
  int64_t drain_rate_us;
  int throttled;             /* a writer waits for a token */
  uv_timer_t throttle_timer;
  int throttle_timer_init;
  uint64_t next_client_id;
  int nclients;
  int nmonitors;             /* clients in MONITOR mode (engine/monitor.c) */

  /* replay (recovery, rollback) */
  int replay_db;             /* db selected in the stream being applied */
  int replay_rc;             /* store error met while replaying */
  char replay_error[256];    /* why the last replay failed when the backlog was the cause, else "" */
  int ckpt_stream_db;        /* stream's selected db at the last checkpoint */
  int recovering;            /* rebuilding the store from the stream: its touches are not changes (WATCH) */
  int apply_live;            /* applying our master's stream (not a replay): PUBLISH reaches our subscribers */

  /* Replication, wired by main.c (all NULL without it). The engine calls
   * these hooks; replication/ owns what `repl` points to. */
  void *repl;
  struct {
    void (*on_synced)(cairn_server *srv);          /* synced_offset moved on */
    void (*on_drained)(cairn_client *c);           /* a replica's output went out */
    void (*on_close)(cairn_client *c);             /* a replica client is closing */
    void (*cron)(cairn_server *srv);
    void (*info)(cairn_server *srv, cairn_buf *out); /* the INFO replication section */
    uint64_t (*min_offset)(cairn_server *srv);     /* oldest offset replicas need, 0 = none */
    void (*checkpoint)(cairn_server *srv);         /* before each checkpoint commit (ids into meta) */
    void (*stop)(cairn_server *srv);               /* the loop ended: close replication's handles */
    int (*good_replicas)(cairn_server *srv);       /* online and ACKed within min-replicas-max-lag */
    void (*on_store_room)(cairn_server *srv);      /* the overlay is under budget again (replica link) */
    /* replica side: the link to our master as CLIENT LIST/KILL see it
     * (Redis's master client, flags=M): 1 with *out filled while the link
     * streams, else 0; kill_master drops the link (it reconnects) */
    int (*master_client)(cairn_server *srv, cairn_master_client *out);
    void (*kill_master)(cairn_server *srv);
  } repl_hooks;

  void *repl_link;          /* replica side: the link to our master (replication/replica.c) */
  int replica_mode;          /* following a master: read-only, no expiry of its own */
  int master_link_up;

  /* Module state, owned by each module (NULL until first used). */
  struct cairn_blocking *blocking; /* engine/blocking.c */
  struct cairn_pubsub *pubsub;     /* engine/cmd/pubsub.c */
  struct cairn_acl *acl;           /* ACL users and log (engine/acl.h) */
  struct cairn_watch *watch;       /* engine/cmd/multi.c (WATCH) */
  struct cairn_callstats *callstats; /* engine/info.c: per-command and per-error counts (INFO commandstats...) */
  struct cairn_diag *diag;         /* engine/cmd/diag.c: slow log, latency monitor */

  int shutdown_requested;
  int exit_code;
  cairn_stats stats;
  struct {                   /* (time, commands) samples for instantaneous_ops_per_sec (engine/info.c) */
    struct {
      int64_t ms;
      uint64_t count;
    } ring[CAIRN_OPS_SAMPLES];
    int n, head;
  } ops;
  int64_t last_save_time;    /* unix seconds of the last checkpoint */
  uint64_t dirty;            /* changes made by commands since start (Redis's server.dirty) */
  uint64_t dirty_saved;      /* ...of which LMDB holds on disk: INFO's rdb_changes_since_last_save is the rest */
  struct {
    uint64_t offset, dirty;
  } dirty_marks[64];         /* (stream offset, dirty) at each freeze not yet on disk */
  int ndirty_marks;
};

/* engine/listen.c: makes room for maxclients connections in the process's
 * file descriptor limit (raising it as far as the hard limit allows, like
 * Redis's adjustOpenFilesLimit) and returns how many clients fit: maxclients,
 * or fewer (0 when not even the reserved descriptors fit). log: say what was
 * done or why not, in Redis's words. */
int cairn_files_for_clients(int maxclients, int log);
/* engine/listen.c: binds every configured address and the Unix socket. 0,
 * or -1 with err. */
int cairn_listeners_start(cairn_server *srv, char *err, size_t errlen);
/* CONFIG SET port/bind: closes the TCP listeners and listens on the
 * configured port and addresses; when that fails, listens again on
 * old_port/old_bind and returns -1 with err (Redis's changeListenPort /
 * changeBindAddr). */
int cairn_listeners_rebind(cairn_server *srv, int old_port, int old_tls_port, const char *old_bind, char *err,
                           size_t errlen);
/* Frees the listener handles the shutdown walk closed (cairn_server_free). */
void cairn_listeners_free(cairn_server *srv);

/* engine/loop.c. init starts listeners, the flusher, timers and signals (0,
 * or -1 with err); run runs the loop until SHUTDOWN/SIGTERM. */
int cairn_server_init(cairn_server *srv, char *err, size_t errlen);
int cairn_server_run(cairn_server *srv);
void cairn_server_free(cairn_server *srv);

#endif
