/* Server configuration: one table of directives (name, type, default, bounds,
 * whether CONFIG SET may change it) drives the config file parser, command-line
 * overrides, CONFIG GET/SET/REWRITE and the documentation in conf/cairn.conf.
 * Directive names follow redis.conf wherever the meaning is the same. */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum cairn_durability { CAIRN_DURABILITY_STRICT = 0, CAIRN_DURABILITY_RELAXED = 1 };
/* repl-resync: the cheaper of +CONTINUE and a full sync, or always one */
enum cairn_resync { CAIRN_RESYNC_COST = 0, CAIRN_RESYNC_PARTIAL = 1, CAIRN_RESYNC_FULL = 2 };
/* prefetch: keys read ahead by the prefetch threads never, always, or while
 * the loop waits for the disk (major page faults) */
enum cairn_prefetch_mode { CAIRN_PREFETCH_AUTO = 0, CAIRN_PREFETCH_YES = 1, CAIRN_PREFETCH_NO = 2 };
enum cairn_loglevel { CAIRN_LOG_DEBUG = 0, CAIRN_LOG_VERBOSE, CAIRN_LOG_NOTICE, CAIRN_LOG_WARNING };

/* Output-buffer limit for one client class (normal, replica, pubsub): hard
 * limit in bytes, soft limit in bytes, soft seconds. 0 means no limit. */
typedef struct cairn_obuf_limit {
  long long hard_bytes;
  long long soft_bytes;
  long long soft_seconds;
} cairn_obuf_limit;

enum { CAIRN_CLIENT_CLASS_NORMAL = 0, CAIRN_CLIENT_CLASS_REPLICA, CAIRN_CLIENT_CLASS_PUBSUB, CAIRN_CLIENT_CLASS_COUNT };

/* maxmemory-policy values, in Redis's order. */
enum cairn_maxmemory_policy {
  CAIRN_MAXMEMORY_VOLATILE_LRU = 0, CAIRN_MAXMEMORY_VOLATILE_LFU, CAIRN_MAXMEMORY_VOLATILE_RANDOM,
  CAIRN_MAXMEMORY_VOLATILE_TTL, CAIRN_MAXMEMORY_ALLKEYS_LRU, CAIRN_MAXMEMORY_ALLKEYS_LFU,
  CAIRN_MAXMEMORY_ALLKEYS_RANDOM, CAIRN_MAXMEMORY_NOEVICTION
};

/* notify-keyspace-events classes: Redis's bits (server.h NOTIFY_*). */
#define CAIRN_NOTIFY_KEYSPACE (1 << 0) /* K */
#define CAIRN_NOTIFY_KEYEVENT (1 << 1) /* E */
#define CAIRN_NOTIFY_GENERIC (1 << 2)  /* g */
#define CAIRN_NOTIFY_STRING (1 << 3)   /* $ */
#define CAIRN_NOTIFY_LIST (1 << 4)     /* l */
#define CAIRN_NOTIFY_SET (1 << 5)      /* s */
#define CAIRN_NOTIFY_HASH (1 << 6)     /* h */
#define CAIRN_NOTIFY_ZSET (1 << 7)     /* z */
#define CAIRN_NOTIFY_EXPIRED (1 << 8)  /* x */
#define CAIRN_NOTIFY_EVICTED (1 << 9)  /* e */
#define CAIRN_NOTIFY_STREAM (1 << 10)  /* t */
#define CAIRN_NOTIFY_KEY_MISS (1 << 11) /* m */
#define CAIRN_NOTIFY_MODULE (1 << 13)  /* d */
#define CAIRN_NOTIFY_NEW (1 << 14)     /* n */
/* A: every class but m and n */
#define CAIRN_NOTIFY_ALL                                                                                         \
  (CAIRN_NOTIFY_GENERIC | CAIRN_NOTIFY_STRING | CAIRN_NOTIFY_LIST | CAIRN_NOTIFY_SET | CAIRN_NOTIFY_HASH |        \
   CAIRN_NOTIFY_ZSET | CAIRN_NOTIFY_EXPIRED | CAIRN_NOTIFY_EVICTED | CAIRN_NOTIFY_STREAM | CAIRN_NOTIFY_MODULE)

/* tls-auth-clients */
enum { CAIRN_TLS_AUTH_NO = 0, CAIRN_TLS_AUTH_YES, CAIRN_TLS_AUTH_OPTIONAL };

typedef struct cairn_config {
  /* network */
  char *bind;                     /* space separated addresses, "127.0.0.1 -::1" like redis */
  int port;                       /* 0 = no TCP listener */
  char *unixsocket;               /* NULL/"" = none */
  int unixsocketperm;             /* octal mode, 0 = leave as created */
  int tcp_backlog;
  int tcp_keepalive;              /* seconds, 0 = off */
  int timeout;                    /* idle client timeout, seconds, 0 = never */
  int maxclients;
  int protected_mode;             /* yes/no */
  char *requirepass;              /* NULL = no password */
  long long proto_max_bulk_len;
  long long client_query_buffer_limit;
  long long tracking_table_max_keys; /* CLIENT TRACKING's table (engine/tracking.c); 0 = no limit */
  cairn_obuf_limit obuf_limits[CAIRN_CLIENT_CLASS_COUNT];

  /* process */
  char *dir;                      /* working directory: data lives here */
  char *logfile;                  /* "" = stderr */
  int loglevel;                   /* enum cairn_loglevel */
  char *pidfile;                  /* NULL/"" = none */
  int databases;                  /* 1..256, default 16 */
  int hz;                         /* cron frequency, 1..500 */

  /* durability and storage */
  int durability;                 /* enum cairn_durability */
  long long checkpoint_interval_ms; /* LMDB checkpoint at most this often when writing */
  long long checkpoint_bytes;     /* ...or when the overlay's active layer holds this much */
  long long overlay_max_memory;   /* the write overlay's budget: writers wait beyond it */
  int prefetch;                   /* CAIRN_PREFETCH_*: clients' keys read ahead on other threads */
  int prefetch_threads;           /* threads that read ahead (fixed at start) */
  int deferred_lookups;           /* SET/MSET leave the old value's lookup to the reader threads */
  long long deferred_lookups_min_keys; /* ... in a db of at least this many keys */
  long long overlay_merge_bytes;  /* frozen layers the store thread gathers before one LMDB transaction */
  long long overlay_merge_after_ms; /* ...once a drain took this long */
  long long lmdb_map_size;        /* initial LMDB map size, bytes; grows on demand */
  long long lmdb_max_map_size;    /* hard ceiling for growth; writes fail with an error beyond it */
  int lmdb_writemap;              /* MDB_WRITEMAP + data file reserved up to the map size */

  /* backlog (the write-ahead log / replication backlog) */
  long long backlog_segment_size;
  int backlog_preallocate;        /* segments zero-filled ahead (replication/backlog, options.preallocate) */
  long long backlog_retention_bytes;
  long long backlog_retention_seconds;
  long long backlog_max_bytes;
  int backlog_load_corrupt;       /* 0 refuse, 1 truncate (read at startup) */

  /* expiry */
  int active_expire_effort;       /* 1..10 like redis */

  /* replication (master side) */
  int repl_ping_replica_period;   /* seconds between PINGs in the stream while replicas are attached */
  int repl_timeout;               /* seconds without an ACK before an online replica is dropped */
  int repl_slots;                 /* replicas get persistent slots (their offset pinned in the backlog) */
  long long repl_slot_max_age;    /* seconds a disconnected slot is kept (0 = until backlog-max-bytes) */
  long long repl_slot_warn_horizon; /* warn when a disconnected slot's horizon falls under this (0 = never) */
  int repl_resync;                /* CAIRN_RESYNC_*: how a PSYNC that could continue is answered */
  char *replica_slot_name;        /* replica: REPLCONF slot-name to its master (NULL: its address names the slot) */
  int repl_compressed_catchup;    /* replica: announce capa cairn-zstd (a catch-up as the master's stored frames) */
  long long repl_fullsync_resume_seconds; /* a cut full sync's spool (master) / half load (replica) is kept this long (0 = off) */
  int repl_fullsync_spool;        /* replica: a $<len> full sync is also written to <dir>/replica-sync.spool (resumable after a restart) */
  int min_replicas_to_write;      /* refuse writes with fewer good replicas than this (0 = off) */
  int min_replicas_max_lag;       /* a replica is good if it ACKed within this many seconds */

  /* replication (replica side) */
  char *replicaof;                /* "host port", or NULL/"" for none */
  char *masterauth;
  char *masteruser;
  int replica_read_only;
  int replica_serve_stale_data;
  int replica_priority;

  /* Redis encoding thresholds. cairn keeps every collection in its one
   * per-member layout whatever these say; DUMP and full sync use them to
   * choose the RDB encoding a Redis would have (engine/rdb_coll.c). */
  long long hash_max_listpack_entries;
  long long hash_max_listpack_value;
  long long zset_max_listpack_entries;
  long long zset_max_listpack_value;
  long long set_max_intset_entries;
  int list_max_listpack_size;
  int list_compress_depth;

  /* memory (accepted and reported; see conf/cairn.conf for what applies) */
  long long maxmemory;
  int maxmemory_policy;           /* enum cairn_maxmemory_policy */
  int maxmemory_samples;
  int maxmemory_eviction_tenacity;
  long long maxmemory_clients;    /* bytes, or -percent */

  /* monitoring */
  long long slowlog_log_slower_than; /* microseconds, -1 = off */
  long long busy_reply_threshold;    /* ms a script runs before other clients get -BUSY (0 = never) */
  long long slowlog_max_len;
  long long latency_monitor_threshold; /* milliseconds, 0 = off */
  int latency_tracking;           /* per-command latency histograms (INFO latencystats) */
  char *latency_tracking_info_percentiles; /* canonical "50 99 99.9" */
  int notify_keyspace_events;     /* CAIRN_NOTIFY_* bits */

  /* ACL (engine/acl.h) */
  char *aclfile;                  /* NULL/"" = users live in the configuration (user directives) */
  char ***acl_users;              /* `user <name> <rules...>` directives in order: each a NULL-terminated
                                   * argv starting with the name */
  int nacl_users;

  /* TLS (engine/tls.h); NULL strings = not set */
  int tls_port;                   /* 0 = no TLS listener */
  char *tls_cert_file, *tls_key_file, *tls_key_file_pass;
  char *tls_client_cert_file, *tls_client_key_file, *tls_client_key_file_pass;
  char *tls_dh_params_file, *tls_ca_cert_file, *tls_ca_cert_dir;
  char *tls_protocols, *tls_ciphers, *tls_ciphersuites;
  int tls_prefer_server_ciphers, tls_session_caching, tls_session_cache_size, tls_session_cache_timeout;
  int tls_replication, tls_cluster;
  int tls_auth_clients;           /* enum cairn_tls_auth */

  /* the file the configuration was loaded from (for CONFIG REWRITE), or NULL */
  char *config_file;
} cairn_config;

/* Fills every field with its default. Strings are heap copies owned by c. */
void cairn_config_init(cairn_config *c);

/* Frees owned strings. */
void cairn_config_free(cairn_config *c);

/* Loads directives from a redis.conf-style file (one directive a line, '#'
 * comments, quoted arguments like redis: "a b", 'a b', \x41 escapes).
 * On error returns -1 and writes "path:line: reason" into err; c may be
 * partially updated (startup then exits). Remembers path for CONFIG REWRITE. */
int cairn_config_load_file(cairn_config *c, const char *path, char *err, size_t errlen);

/* Applies directives given as "--name value [value...]" command-line
 * arguments (argv excludes the program name and the config file). On error
 * returns -1 with "reason" in err. */
int cairn_config_apply_args(cairn_config *c, int argc, char **argv, char *err, size_t errlen);

/* CONFIG SET name value [name value ...]: validates every pair first; applies
 * all or none. On error returns -1 with the exact Redis 7.0 error text (without
 * the leading "-") in err, e.g.
 *   "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
 *   "ERR CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer"
 * Immutable directives fail with "... - can't set immutable config". */
int cairn_config_set(cairn_config *c, int npairs, const char **names, const size_t *namelens,
                     const char **values, const size_t *valuelens, char *err, size_t errlen);

/* CONFIG GET pattern...: calls emit(name, value) once for each directive whose
 * name (or alias) matches any pattern (glob, case-insensitive), each directive
 * at most once, in table order. Returns the number emitted. */
typedef void (*cairn_config_emit_fn)(void *ud, const char *name, const char *value, size_t valuelen);
int cairn_config_get(const cairn_config *c, int npatterns, const char **patterns, const size_t *patlens,
                     cairn_config_emit_fn emit, void *ud);

/* CONFIG REWRITE: rewrites the loaded file keeping comments and order, updating
 * changed directives in place and appending new ones. -1 + err on failure
 * (e.g. "ERR The server is running without a config file"). */
int cairn_config_rewrite(const cairn_config *c, char *err, size_t errlen);
/* The same, with the `user` lines replaced by users[0..nusers) (full
 * "user <name> <rules>" lines, in place of the first user line, or appended):
 * Redis's rewrite of the ACL users. users NULL: the file's user lines stay. */
int cairn_config_rewrite_users(const cairn_config *c, char *const *users, int nusers, char *err, size_t errlen);

/* The i-th directive's canonical name (0 <= i), NULL past the last: for
 * tests and documentation checks. */
const char *cairn_config_directive_name(int i);

/* The canonical text of notify-keyspace-events flags (Redis's
 * keyspaceEventsFlagsToString), into buf (at least 20 bytes). */
void cairn_config_notify_format(int flags, char *buf);

/* Human form of one directive's value (as CONFIG GET shows it) into buf. */
int cairn_config_format(const cairn_config *c, const char *name, char *buf, size_t cap);

#endif
