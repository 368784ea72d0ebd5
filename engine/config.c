/* Table-driven configuration: see config.h.
 *
 * One static table describes every directive. The same per-type parse and
 * format routines serve the config file, command-line overrides, CONFIG
 * GET/SET/REWRITE and the defaults (which are written in the table as the
 * text a user would type and parsed at init, so a default can never disagree
 * with what the parser accepts).
 *
 * Values travel through a small "pval" (parsed value) so that CONFIG SET can
 * validate every pair without touching the live configuration and then
 * commit them all; nothing is ever half-applied.
 *
 * Redis compatibility directives. Clients and tools probe a few redis.conf
 * settings that mean nothing to cairn; they are accepted, stored and reported
 * but change nothing:
 *   save        default "" (cairn has no RDB snapshots; its own write-ahead
 *               backlog plus LMDB make every write durable). redis-benchmark
 *               and others run CONFIG GET save; "" tells them no snapshotting
 *               is configured, which is the honest answer.
 *   appendonly  default "no" (there is no AOF; reporting "yes" would invite
 *               tools to look for AOF files or run BGREWRITEAOF).
 *   daemonize   only "no" is accepted: cairn always runs in the foreground.
 *   io-threads  accepted (1..128), cairn's I/O model ignores it.
 * and the rest of Redis 7.0's parameters that its test suite and common tools
 * set or read (lazyfree-*, activedefrag, aof-*, repl-diskless-*, cluster-*,
 * ...), each validated exactly like Redis validates it (same bounds, same
 * error text) and documented in conf/cairn.conf as accepted-but-ignored.
 * cairn_config has no fields for these, so they live in one file-static
 * block shared by every cairn_config (the server has exactly one).
 * Parameters cairn may act on (encoding thresholds, maxmemory*, slowlog-*,
 * latency-*, notify-keyspace-events) have fields in cairn_config. */
#include "engine/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/rdb_coll.h"
#include "engine/cmd/xstream.h"
#include "engine/resp.h"
#include "engine/util.h"

/* ------------------------------------------------------------------------ */
/* Small infrastructure                                                     */
/* ------------------------------------------------------------------------ */

/* One argument: bytes plus length (quoted config arguments may hold NULs). */
typedef struct carg {
  const char *p;
  size_t len;
} carg;

/* A vector of owned arguments produced by splitting a line. */
typedef struct argvec {
  int argc;
  char **argv;
  size_t *lens;
} argvec;

static void argvec_push(argvec *v, const char *p, size_t n) {
  v->argv = cairn_xrealloc(v->argv, sizeof(char *) * (size_t)(v->argc + 1));
  v->lens = cairn_xrealloc(v->lens, sizeof(size_t) * (size_t)(v->argc + 1));
  v->argv[v->argc] = cairn_xmemdup(p, n);
  v->lens[v->argc] = n;
  v->argc++;
}

static void argvec_free(argvec *v) {
  for (int i = 0; i < v->argc; i++) free(v->argv[i]);
  free(v->argv);
  free(v->lens);
  memset(v, 0, sizeof(*v));
}

/* Splits a config line into arguments with the rules of Redis's
 * sdssplitargs (cairn_split_args, which inline commands use too): blanks
 * separate arguments; "double quotes" understand \n \r \t \b \a \xHH and
 * backslash-anything; 'single quotes' understand only \'; a closing quote must
 * be followed by a blank or the end of the line; a quote may open in the
 * middle of a token (ab"c d" is one argument "abc d"). Returns 0, or -1 for
 * unbalanced quotes (out is then left empty). */
static int split_args(const char *line, argvec *out) {
  memset(out, 0, sizeof(*out));
  cairn_buf text = {0};
  size_t *offs = NULL, *lens = NULL, cap = 0;
  int argc = cairn_split_args(line, strlen(line), &text, &offs, &lens, &cap);
  for (int i = 0; i < argc; i++) argvec_push(out, text.p ? text.p + offs[i] : "", lens[i]);
  cairn_buf_free(&text);
  free(offs);
  free(lens);
  return argc < 0 ? -1 : 0;
}

/* Splits a CONFIG SET value of a multi-argument directive on single spaces,
 * like Redis's sdssplitlen(value, " "): "" gives no argument, "a  b" gives
 * "a", "", "b". The pieces point into s. */
static int split_spaces(const char *s, size_t len, carg **out) {
  *out = NULL;
  if (len == 0) return 0;
  int n = 1;
  for (size_t i = 0; i < len; i++)
    if (s[i] == ' ') n++;
  carg *a = cairn_xmalloc(sizeof(carg) * (size_t)n);
  int k = 0;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == ' ') {
      a[k].p = s + start;
      a[k].len = i - start;
      k++;
      start = i + 1;
    }
  }
  *out = a;
  return n;
}

/* Appends s bare when it reads back unchanged, quoted otherwise. */
static void append_arg(cairn_buf *b, const char *s) {
  int plain = *s != '\0';
  for (const char *p = s; *p && plain; p++)
    if (!isgraph((unsigned char)*p) || *p == '"' || *p == '\'' || *p == '\\') plain = 0;
  if (plain)
    cairn_buf_append_str(b, s);
  else
    cairn_buf_append_repr(b, s, strlen(s));
}

/* Memory values in CONFIG REWRITE use the largest binary unit that divides
 * them exactly, as Redis does ("1gb", "64mb", "1000" stays "1000"). */
static void append_memory(cairn_buf *b, long long v) {
  const long long kb = 1024, mb = kb * 1024, gb = mb * 1024;
  if (v && v % gb == 0)
    cairn_buf_printf(b, "%lldgb", v / gb);
  else if (v && v % mb == 0)
    cairn_buf_printf(b, "%lldmb", v / mb);
  else if (v && v % kb == 0)
    cairn_buf_printf(b, "%lldkb", v / kb);
  else
    cairn_buf_printf(b, "%lld", v);
}

/* ------------------------------------------------------------------------ */
/* The directive table                                                      */
/* ------------------------------------------------------------------------ */

enum dtype {
  DT_BOOL,   /* int field, yes/no */
  DT_INT,    /* int field, bounds */
  DT_LL,     /* long long field, bounds */
  DT_MEM,    /* long long field, memory units, bounds */
  DT_ENUM,   /* int field, index into enums */
  DT_STRING, /* char * field, one argument */
  DT_BIND,   /* char * field, 0..16 addresses joined by spaces */
  DT_OBUF,   /* cairn_obuf_limit[3], groups of <class> <hard> <soft> <secs> */
  DT_SAVE,   /* char * field, pairs of <seconds> <changes> (compat only) */
  DT_NOTIFY, /* int field, notify-keyspace-events class letters */
  DT_PCTL,   /* char * field, percentiles 0..100 separated by spaces */
};

#define F_IMMUTABLE 0x01  /* CONFIG SET refuses it */
#define F_OCTAL 0x02      /* integer read and shown in octal */
#define F_EMPTY_NULL 0x04 /* an empty string is stored as NULL */
#define F_COMPAT 0x08     /* lives in the compat block, not in cairn_config */
#define F_ONLY_NO 0x10    /* boolean that only accepts "no" (why: the directive's note) */
#define F_HIDDEN 0x20     /* CONFIG GET shows it only when asked by exact name (Redis's HIDDEN_CONFIG) */
#define F_PERCENT 0x40    /* memory value that also takes "N%" (stored as -N) */
#define F_PROTECTED 0x80  /* CONFIG SET refuses it (Redis's PROTECTED_CONFIG with enable-protected-configs no) */
#define F_SAME_ONLY 0x100 /* cairn's own startup-only number or boolean: CONFIG SET accepts only the value in
                           * effect (a no-op, so that a CONFIG GET * / CONFIG SET round trip works), any other
                           * value is refused as immutable */

typedef struct directive {
  const char *name;
  const char *alias;
  enum dtype type;
  int flags;
  size_t off;              /* offset in cairn_config (or compat block) */
  const char *def;         /* default, as it would be written in the file */
  long long min, max;      /* accepted range (numbers) */
  long long lo, hi;        /* stored value is clamped into [lo, hi] when hi > 0 */
  const char *const *enums;
  const char *note;        /* F_ONLY_NO: the reason "yes" is refused */
} directive;

typedef struct compat_block {
  char *save;
  int appendonly;
  int daemonize;
  int io_threads;
  /* memory and lazy freeing */
  int lazyfree_lazy_eviction, lazyfree_lazy_expire, lazyfree_lazy_server_del, lazyfree_lazy_user_del,
      lazyfree_lazy_user_flush, replica_lazy_flush;
  int activedefrag, active_defrag_cycle_min, active_defrag_cycle_max, active_defrag_threshold_lower,
      active_defrag_threshold_upper;
  long long active_defrag_ignore_bytes, active_defrag_max_scan_fields;
  int activerehashing, dynamic_hz, jemalloc_bg_thread, lfu_log_factor, lfu_decay_time;
  long long hll_sparse_max_bytes, stream_node_max_bytes, stream_node_max_entries;
  long long acllog_max_len;
  int acl_pubsub_default, sanitize_dump_payload;
  /* RDB and AOF */
  int rdbcompression, rdbchecksum, rdb_del_sync_files, rdb_save_incremental_fsync, stop_writes_on_bgsave_error;
  char *dbfilename, *appendfilename, *appenddirname;
  int appendfsync, aof_load_truncated, aof_use_rdb_preamble, aof_timestamp_enabled, aof_rewrite_incremental_fsync,
      aof_disable_auto_gc, no_appendfsync_on_rewrite, auto_aof_rewrite_percentage;
  long long auto_aof_rewrite_min_size;
  /* replication */
  long long repl_backlog_size, repl_backlog_ttl;
  int repl_diskless_sync, repl_diskless_sync_delay, repl_diskless_sync_max_replicas, repl_diskless_load,
      repl_disable_tcp_nodelay, replica_announce_port, replica_announced, replica_ignore_maxmemory,
      replica_ignore_disk_write_errors, propagation_error_behavior;
  char *replica_announce_ip;
  /* cluster */
  int cluster_enabled, cluster_port, cluster_announce_port, cluster_announce_bus_port, cluster_announce_tls_port,
      cluster_replica_validity_factor, cluster_migration_barrier, cluster_require_full_coverage,
      cluster_replica_no_failover, cluster_allow_reads_when_down, cluster_allow_pubsubshard_when_down,
      cluster_allow_replica_migration, cluster_preferred_endpoint_type;
  long long cluster_node_timeout, cluster_link_sendbuf_limit;
  char *cluster_config_file, *cluster_announce_ip, *cluster_announce_hostname;
  /* process */
  int shutdown_timeout, crash_log_enabled, crash_memcheck_enabled, io_threads_do_reads;
  char *proc_title_template, *ignore_warnings, *bind_source_addr;
  /* hidden (test hooks in Redis) */
  int rdb_key_save_delay, key_load_delay, watchdog_period;
  long long loading_process_events_interval_bytes;
} compat_block;

static compat_block compat;

static const char *const loglevel_names[] = {"debug", "verbose", "notice", "warning", NULL};
static const char *const durability_names[] = {"strict", "relaxed", NULL};
static const char *const maxmemory_policy_names[] = {"volatile-lru",   "volatile-lfu", "volatile-random",
                                                     "volatile-ttl",   "allkeys-lru",  "allkeys-lfu",
                                                     "allkeys-random", "noeviction",   NULL};
static const char *const appendfsync_names[] = {"everysec", "always", "no", NULL};
static const char *const diskless_load_names[] = {"disabled", "on-empty-db", "swapdb", NULL};
static const char *const endpoint_type_names[] = {"ip", "hostname", "unknown-endpoint", NULL};
static const char *const propagation_error_names[] = {"ignore", "panic", "panic-on-replicas", NULL};
static const char *const acl_pubsub_names[] = {"allchannels", "resetchannels", NULL};
static const char *const sanitize_names[] = {"no", "yes", "clients", NULL};
static const char *const load_corrupt_names[] = {"refuse", "truncate", NULL};
static const char *const resync_names[] = {"cost", "partial", "full", NULL};
static const char *const prefetch_names[] = {"auto", "yes", "no", NULL};
static const char *const tls_auth_names[] = {"no", "yes", "optional", NULL};

#define CF(field) offsetof(cairn_config, field)
#define CP(field) offsetof(compat_block, field)
/* Compatibility entries (no effect, see the top), by type. */
#define XB(name, alias, fl, field, def) {name, alias, DT_BOOL, F_COMPAT | (fl), CP(field), def, 0, 1, 0, 0, NULL, NULL}
#define XI(name, alias, fl, field, def, lo, hi) {name, alias, DT_INT, F_COMPAT | (fl), CP(field), def, lo, hi, 0, 0, NULL, NULL}
#define XL(name, alias, fl, field, def, lo, hi) {name, alias, DT_LL, F_COMPAT | (fl), CP(field), def, lo, hi, 0, 0, NULL, NULL}
#define XM(name, alias, fl, field, def, lo, hi) {name, alias, DT_MEM, F_COMPAT | (fl), CP(field), def, lo, hi, 0, 0, NULL, NULL}
#define XE(name, alias, fl, field, def, names) {name, alias, DT_ENUM, F_COMPAT | (fl), CP(field), def, 0, 0, 0, 0, names, NULL}
#define XS(name, alias, fl, field, def) {name, alias, DT_STRING, F_COMPAT | (fl), CP(field), def, 0, 0, 0, 0, NULL, NULL}
#define GB (1024LL * 1024 * 1024)
#define MB (1024LL * 1024)

/* Order here is the order of CONFIG GET replies and of appended REWRITE lines. */
static const directive table[] = {
    {"bind", NULL, DT_BIND, 0, CF(bind), "127.0.0.1", 0, 0, 0, 0, NULL, NULL},
    {"port", NULL, DT_INT, 0, CF(port), "6379", 0, 65535, 0, 0, NULL, NULL},
    {"unixsocket", NULL, DT_STRING, F_IMMUTABLE | F_EMPTY_NULL, CF(unixsocket), "", 0, 0, 0, 0, NULL, NULL},
    {"unixsocketperm", NULL, DT_INT, F_IMMUTABLE | F_OCTAL, CF(unixsocketperm), "0", 0, 0777, 0, 0, NULL, NULL},
    {"tcp-backlog", NULL, DT_INT, F_IMMUTABLE, CF(tcp_backlog), "511", 0, INT_MAX, 0, 0, NULL, NULL},
    {"tcp-keepalive", NULL, DT_INT, 0, CF(tcp_keepalive), "300", 0, INT_MAX, 0, 0, NULL, NULL},
    {"timeout", NULL, DT_INT, 0, CF(timeout), "0", 0, INT_MAX, 0, 0, NULL, NULL},
    /* Redis checks maxclients as an unsigned int; cairn stores an int. */
    {"maxclients", NULL, DT_INT, 0, CF(maxclients), "10000", 1, 4294967295LL, 1, INT_MAX, NULL, NULL},
    {"protected-mode", NULL, DT_BOOL, 0, CF(protected_mode), "yes", 0, 1, 0, 0, NULL, NULL},
    {"requirepass", NULL, DT_STRING, F_EMPTY_NULL, CF(requirepass), "", 0, 0, 0, 0, NULL, NULL},
    {"proto-max-bulk-len", NULL, DT_MEM, 0, CF(proto_max_bulk_len), "512mb", MB, LLONG_MAX, 0, 0, NULL, NULL},
    {"client-query-buffer-limit", NULL, DT_MEM, 0, CF(client_query_buffer_limit), "1gb", MB, LLONG_MAX, 0, 0,
     NULL, NULL},
    {"client-output-buffer-limit", NULL, DT_OBUF, 0, CF(obuf_limits),
     "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60", 0, 0, 0, 0, NULL, NULL},
    {"dir", NULL, DT_STRING, F_IMMUTABLE, CF(dir), ".", 0, 0, 0, 0, NULL, NULL},
    {"logfile", NULL, DT_STRING, F_IMMUTABLE, CF(logfile), "", 0, 0, 0, 0, NULL, NULL},
    {"loglevel", NULL, DT_ENUM, 0, CF(loglevel), "notice", 0, 0, 0, 0, loglevel_names, NULL},
    {"pidfile", NULL, DT_STRING, F_IMMUTABLE | F_EMPTY_NULL, CF(pidfile), "", 0, 0, 0, 0, NULL, NULL},
    {"databases", NULL, DT_INT, F_IMMUTABLE, CF(databases), "16", 1, 256, 0, 0, NULL, NULL},
    /* Like Redis: any non-negative value is accepted and clamped to 1..500. */
    {"hz", NULL, DT_INT, 0, CF(hz), "10", 0, INT_MAX, 1, 500, NULL, NULL},
    {"durability", NULL, DT_ENUM, 0, CF(durability), "strict", 0, 0, 0, 0, durability_names, NULL},
    {"checkpoint-interval-ms", NULL, DT_LL, 0, CF(checkpoint_interval_ms), "1000", 1, 86400000, 0, 0, NULL, NULL},
    {"checkpoint-bytes", NULL, DT_MEM, 0, CF(checkpoint_bytes), "64mb", 1, LLONG_MAX, 0, 0, NULL, NULL},
    {"overlay-max-memory", NULL, DT_MEM, 0, CF(overlay_max_memory), "1gb", MB, LLONG_MAX, 0, 0, NULL, NULL},
    {"prefetch", NULL, DT_ENUM, 0, CF(prefetch), "auto", 0, 0, 0, 0, prefetch_names, NULL},
    {"prefetch-threads", NULL, DT_INT, F_SAME_ONLY, CF(prefetch_threads), "8", 0, 64, 0, 0, NULL, NULL},
    {"deferred-lookups", NULL, DT_BOOL, 0, CF(deferred_lookups), "yes", 0, 0, 0, 0, NULL, NULL},
    {"deferred-lookups-min-keys", NULL, DT_LL, 0, CF(deferred_lookups_min_keys), "1000000", 0, LLONG_MAX, 0, 0, NULL, NULL},
    {"overlay-merge-bytes", NULL, DT_MEM, 0, CF(overlay_merge_bytes), "384mb", 0, LLONG_MAX, 0, 0, NULL, NULL},
    {"overlay-merge-after-ms", NULL, DT_LL, 0, CF(overlay_merge_after_ms), "1000", 0, 86400000, 0, 0, NULL, NULL},
    {"lmdb-map-size", NULL, DT_MEM, 0, CF(lmdb_map_size), "1gb", MB, LLONG_MAX, 0, 0, NULL, NULL},
    {"lmdb-max-map-size", NULL, DT_MEM, 0, CF(lmdb_max_map_size), "1tb", MB, LLONG_MAX, 0, 0, NULL, NULL},
    {"lmdb-writemap", NULL, DT_BOOL, F_SAME_ONLY, CF(lmdb_writemap), "yes", 0, 1, 0, 0, NULL, NULL},
    {"backlog-segment-size", NULL, DT_MEM, 0, CF(backlog_segment_size), "64mb", MB, 4 * GB, 0, 0, NULL, NULL},
    {"backlog-preallocate", NULL, DT_BOOL, F_SAME_ONLY, CF(backlog_preallocate), "yes", 0, 1, 0, 0, NULL, NULL},
    {"backlog-retention-bytes", NULL, DT_MEM, 0, CF(backlog_retention_bytes), "16gb", 0, LLONG_MAX, 0, 0, NULL, NULL},
    {"backlog-retention-seconds", NULL, DT_LL, 0, CF(backlog_retention_seconds), "604800", 0, LLONG_MAX, 0, 0,
     NULL, NULL},
    {"backlog-max-bytes", NULL, DT_MEM, 0, CF(backlog_max_bytes), "64gb", 0, LLONG_MAX, 0, 0, NULL, NULL},
    {"backlog-load-corrupt", NULL, DT_ENUM, 0, CF(backlog_load_corrupt), "refuse", 0, 0, 0, 0, load_corrupt_names,
     NULL},
    {"active-expire-effort", NULL, DT_INT, 0, CF(active_expire_effort), "1", 1, 10, 0, 0, NULL, NULL},
    {"repl-ping-replica-period", "repl-ping-slave-period", DT_INT, 0, CF(repl_ping_replica_period), "10", 1, INT_MAX, 0, 0, NULL, NULL},
    {"repl-timeout", NULL, DT_INT, 0, CF(repl_timeout), "60", 1, INT_MAX, 0, 0, NULL, NULL},
    {"repl-slots", NULL, DT_BOOL, 0, CF(repl_slots), "yes", 0, 1, 0, 0, NULL, NULL},
    {"repl-slot-max-age", NULL, DT_LL, 0, CF(repl_slot_max_age), "604800", 0, LLONG_MAX, 0, 0, NULL, NULL},
    {"repl-slot-warn-horizon", NULL, DT_LL, 0, CF(repl_slot_warn_horizon), "3600", 0, LLONG_MAX, 0, 0, NULL, NULL},
    {"repl-fullsync-resume-seconds", NULL, DT_LL, 0, CF(repl_fullsync_resume_seconds), "300", 0, 86400 * 7, 0, 0,
     NULL, NULL},
    {"repl-fullsync-spool", NULL, DT_BOOL, 0, CF(repl_fullsync_spool), "yes", 0, 1, 0, 0, NULL, NULL},
    {"replica-slot-name", NULL, DT_STRING, F_EMPTY_NULL, CF(replica_slot_name), "", 0, 0, 0, 0, NULL, NULL},
    {"repl-compressed-catchup", NULL, DT_BOOL, 0, CF(repl_compressed_catchup), "yes", 0, 1, 0, 0, NULL, NULL},
    {"repl-resync", NULL, DT_ENUM, 0, CF(repl_resync), "cost", 0, 0, 0, 0, resync_names, NULL},
    {"min-replicas-to-write", "min-slaves-to-write", DT_INT, 0, CF(min_replicas_to_write), "0", 0, INT_MAX, 0, 0, NULL, NULL},
    {"min-replicas-max-lag", "min-slaves-max-lag", DT_INT, 0, CF(min_replicas_max_lag), "10", 0, INT_MAX, 0, 0, NULL, NULL},
    {"replicaof", "slaveof", DT_BIND, F_IMMUTABLE, CF(replicaof), "", 0, 0, 0, 0, NULL, NULL},
    {"masterauth", NULL, DT_STRING, F_EMPTY_NULL, CF(masterauth), "", 0, 0, 0, 0, NULL, NULL},
    {"masteruser", NULL, DT_STRING, F_EMPTY_NULL, CF(masteruser), "", 0, 0, 0, 0, NULL, NULL},
    {"aclfile", NULL, DT_STRING, F_IMMUTABLE | F_EMPTY_NULL, CF(aclfile), "", 0, 0, 0, 0, NULL, NULL},
    {"replica-read-only", "slave-read-only", DT_BOOL, 0, CF(replica_read_only), "yes", 0, 1, 0, 0, NULL, NULL},
    {"replica-serve-stale-data", "slave-serve-stale-data", DT_BOOL, 0, CF(replica_serve_stale_data), "yes", 0, 1,
     0, 0, NULL, NULL},
    {"replica-priority", "slave-priority", DT_INT, 0, CF(replica_priority), "100", 0, INT_MAX, 0, 0, NULL, NULL},
    /* Redis encoding thresholds and other parameters with a field in
     * cairn_config (conf/cairn.conf says what each does in cairn). */
    {"hash-max-listpack-entries", "hash-max-ziplist-entries", DT_LL, 0, CF(hash_max_listpack_entries), "512", 0,
     LONG_MAX, 0, 0, NULL, NULL},
    {"hash-max-listpack-value", "hash-max-ziplist-value", DT_MEM, 0, CF(hash_max_listpack_value), "64", 0, LONG_MAX,
     0, 0, NULL, NULL},
    {"zset-max-listpack-entries", "zset-max-ziplist-entries", DT_LL, 0, CF(zset_max_listpack_entries), "128", 0,
     LONG_MAX, 0, 0, NULL, NULL},
    {"zset-max-listpack-value", "zset-max-ziplist-value", DT_MEM, 0, CF(zset_max_listpack_value), "64", 0, LONG_MAX,
     0, 0, NULL, NULL},
    {"set-max-intset-entries", NULL, DT_LL, 0, CF(set_max_intset_entries), "512", 0, LONG_MAX, 0, 0, NULL, NULL},
    {"list-max-listpack-size", "list-max-ziplist-size", DT_INT, 0, CF(list_max_listpack_size), "-2", INT_MIN,
     INT_MAX, 0, 0, NULL, NULL},
    {"list-compress-depth", NULL, DT_INT, 0, CF(list_compress_depth), "0", 0, INT_MAX, 0, 0, NULL, NULL},
    {"maxmemory", NULL, DT_MEM, 0, CF(maxmemory), "0", 0, LLONG_MAX, 0, 0, NULL, NULL},
    {"maxmemory-policy", NULL, DT_ENUM, 0, CF(maxmemory_policy), "noeviction", 0, 0, 0, 0, maxmemory_policy_names,
     NULL},
    {"maxmemory-samples", NULL, DT_INT, 0, CF(maxmemory_samples), "5", 1, INT_MAX, 0, 0, NULL, NULL},
    {"maxmemory-eviction-tenacity", NULL, DT_INT, 0, CF(maxmemory_eviction_tenacity), "10", 0, 100, 0, 0, NULL,
     NULL},
    {"maxmemory-clients", NULL, DT_MEM, F_PERCENT, CF(maxmemory_clients), "0", -100, LLONG_MAX, 0, 0, NULL, NULL},
    {"slowlog-log-slower-than", NULL, DT_LL, 0, CF(slowlog_log_slower_than), "10000", -1, LLONG_MAX, 0, 0, NULL,
     NULL},
    {"slowlog-max-len", NULL, DT_LL, 0, CF(slowlog_max_len), "128", 0, LONG_MAX, 0, 0, NULL, NULL},
    {"latency-monitor-threshold", NULL, DT_LL, 0, CF(latency_monitor_threshold), "0", 0, LLONG_MAX, 0, 0, NULL,
     NULL},
    {"latency-tracking", NULL, DT_BOOL, 0, CF(latency_tracking), "yes", 0, 1, 0, 0, NULL, NULL},
    {"latency-tracking-info-percentiles", NULL, DT_PCTL, 0, CF(latency_tracking_info_percentiles), "50 99 99.9", 0,
     0, 0, 0, NULL, NULL},
    {"notify-keyspace-events", NULL, DT_NOTIFY, 0, CF(notify_keyspace_events), "", 0, 0, 0, 0, NULL, NULL},
    /* TLS (engine/tls.c; Redis 7.0's names, defaults and bounds) */
    {"tls-port", NULL, DT_INT, 0, CF(tls_port), "0", 0, 65535, 0, 0, NULL, NULL},
    {"tls-cert-file", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_cert_file), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-key-file", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_key_file), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-key-file-pass", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_key_file_pass), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-client-cert-file", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_client_cert_file), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-client-key-file", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_client_key_file), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-client-key-file-pass", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_client_key_file_pass), "", 0, 0, 0, 0, NULL,
     NULL},
    {"tls-dh-params-file", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_dh_params_file), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-ca-cert-file", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_ca_cert_file), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-ca-cert-dir", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_ca_cert_dir), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-protocols", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_protocols), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-ciphers", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_ciphers), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-ciphersuites", NULL, DT_STRING, F_EMPTY_NULL, CF(tls_ciphersuites), "", 0, 0, 0, 0, NULL, NULL},
    {"tls-prefer-server-ciphers", NULL, DT_BOOL, 0, CF(tls_prefer_server_ciphers), "no", 0, 1, 0, 0, NULL, NULL},
    {"tls-session-caching", NULL, DT_BOOL, 0, CF(tls_session_caching), "yes", 0, 1, 0, 0, NULL, NULL},
    {"tls-session-cache-size", NULL, DT_INT, 0, CF(tls_session_cache_size), "20480", 0, INT_MAX, 0, 0, NULL, NULL},
    {"tls-session-cache-timeout", NULL, DT_INT, 0, CF(tls_session_cache_timeout), "300", 0, INT_MAX, 0, 0, NULL,
     NULL},
    {"tls-replication", NULL, DT_BOOL, 0, CF(tls_replication), "no", 0, 1, 0, 0, NULL, NULL},
    {"tls-cluster", NULL, DT_BOOL, 0, CF(tls_cluster), "no", 0, 1, 0, 0, NULL, NULL},
    {"tls-auth-clients", NULL, DT_ENUM, 0, CF(tls_auth_clients), "yes", 0, 0, 0, 0, tls_auth_names, NULL},
    /* Redis compatibility: stored and reported, no effect (see the top). */
    {"save", NULL, DT_SAVE, F_COMPAT, CP(save), "", 0, 0, 0, 0, NULL, NULL},
    {"appendonly", NULL, DT_BOOL, F_COMPAT, CP(appendonly), "no", 0, 1, 0, 0, NULL, NULL},
    {"daemonize", NULL, DT_BOOL, F_COMPAT | F_IMMUTABLE | F_ONLY_NO, CP(daemonize), "no", 0, 1, 0, 0, NULL,
     "argument must be 'no' (cairn always runs in the foreground)"},
    {"io-threads", NULL, DT_INT, F_COMPAT | F_IMMUTABLE, CP(io_threads), "1", 1, 128, 0, 0, NULL, NULL},
    XB("io-threads-do-reads", NULL, F_IMMUTABLE, io_threads_do_reads, "no"),
    XB("lazyfree-lazy-eviction", NULL, 0, lazyfree_lazy_eviction, "no"),
    XB("lazyfree-lazy-expire", NULL, 0, lazyfree_lazy_expire, "no"),
    XB("lazyfree-lazy-server-del", NULL, 0, lazyfree_lazy_server_del, "no"),
    XB("lazyfree-lazy-user-del", NULL, 0, lazyfree_lazy_user_del, "no"),
    XB("lazyfree-lazy-user-flush", NULL, 0, lazyfree_lazy_user_flush, "no"),
    XB("replica-lazy-flush", "slave-lazy-flush", 0, replica_lazy_flush, "no"),
    {"activedefrag", NULL, DT_BOOL, F_COMPAT | F_ONLY_NO, CP(activedefrag), "no", 0, 1, 0, 0, NULL,
     "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like "
     "the one shipped by default with the Redis source distribution"},
    XI("active-defrag-cycle-min", NULL, 0, active_defrag_cycle_min, "1", 1, 99),
    XI("active-defrag-cycle-max", NULL, 0, active_defrag_cycle_max, "25", 1, 99),
    XI("active-defrag-threshold-lower", NULL, 0, active_defrag_threshold_lower, "10", 0, 1000),
    XI("active-defrag-threshold-upper", NULL, 0, active_defrag_threshold_upper, "100", 0, 1000),
    XM("active-defrag-ignore-bytes", NULL, 0, active_defrag_ignore_bytes, "104857600", 1, LLONG_MAX),
    XL("active-defrag-max-scan-fields", NULL, 0, active_defrag_max_scan_fields, "1000", 1, LONG_MAX),
    XB("activerehashing", NULL, 0, activerehashing, "yes"),
    XB("dynamic-hz", NULL, 0, dynamic_hz, "yes"),
    XB("jemalloc-bg-thread", NULL, 0, jemalloc_bg_thread, "yes"),
    XI("lfu-log-factor", NULL, 0, lfu_log_factor, "10", 0, INT_MAX),
    XI("lfu-decay-time", NULL, 0, lfu_decay_time, "1", 0, INT_MAX),
    XM("hll-sparse-max-bytes", NULL, 0, hll_sparse_max_bytes, "3000", 0, LONG_MAX),
    XM("stream-node-max-bytes", NULL, 0, stream_node_max_bytes, "4096", 0, LONG_MAX),
    XL("stream-node-max-entries", NULL, 0, stream_node_max_entries, "100", 0, LLONG_MAX),
    {"tracking-table-max-keys", NULL, DT_LL, 0, CF(tracking_table_max_keys), "1000000", 0, LONG_MAX, 0, 0, NULL, NULL},
    {"busy-reply-threshold", "lua-time-limit", DT_LL, 0, CF(busy_reply_threshold), "5000", 0, LONG_MAX, 0, 0, NULL, NULL},
    XL("acllog-max-len", NULL, 0, acllog_max_len, "128", 0, LONG_MAX),
    XE("acl-pubsub-default", NULL, 0, acl_pubsub_default, "resetchannels", acl_pubsub_names),
    XE("sanitize-dump-payload", NULL, 0, sanitize_dump_payload, "no", sanitize_names),
    XB("rdbcompression", NULL, 0, rdbcompression, "yes"),
    XB("rdbchecksum", NULL, F_IMMUTABLE, rdbchecksum, "yes"),
    XB("rdb-del-sync-files", NULL, 0, rdb_del_sync_files, "no"),
    XB("rdb-save-incremental-fsync", NULL, 0, rdb_save_incremental_fsync, "yes"),
    XB("stop-writes-on-bgsave-error", NULL, 0, stop_writes_on_bgsave_error, "yes"),
    XS("dbfilename", NULL, F_PROTECTED, dbfilename, "dump.rdb"),
    XS("appendfilename", NULL, F_IMMUTABLE, appendfilename, "appendonly.aof"),
    XS("appenddirname", NULL, F_IMMUTABLE, appenddirname, "appendonlydir"),
    XE("appendfsync", NULL, 0, appendfsync, "everysec", appendfsync_names),
    XB("aof-load-truncated", NULL, 0, aof_load_truncated, "yes"),
    XB("aof-use-rdb-preamble", NULL, 0, aof_use_rdb_preamble, "yes"),
    XB("aof-timestamp-enabled", NULL, 0, aof_timestamp_enabled, "no"),
    XB("aof-rewrite-incremental-fsync", NULL, 0, aof_rewrite_incremental_fsync, "yes"),
    XB("aof-disable-auto-gc", NULL, 0, aof_disable_auto_gc, "no"),
    XB("no-appendfsync-on-rewrite", NULL, 0, no_appendfsync_on_rewrite, "no"),
    XI("auto-aof-rewrite-percentage", NULL, 0, auto_aof_rewrite_percentage, "100", 0, INT_MAX),
    XM("auto-aof-rewrite-min-size", NULL, 0, auto_aof_rewrite_min_size, "64mb", 0, LLONG_MAX),
    XM("repl-backlog-size", NULL, 0, repl_backlog_size, "1mb", 1, LLONG_MAX),
    XL("repl-backlog-ttl", NULL, 0, repl_backlog_ttl, "3600", 0, LONG_MAX),
    XB("repl-diskless-sync", NULL, 0, repl_diskless_sync, "yes"),
    XI("repl-diskless-sync-delay", NULL, 0, repl_diskless_sync_delay, "5", 0, INT_MAX),
    XI("repl-diskless-sync-max-replicas", NULL, 0, repl_diskless_sync_max_replicas, "0", 0, INT_MAX),
    XE("repl-diskless-load", NULL, 0, repl_diskless_load, "disabled", diskless_load_names),
    XB("repl-disable-tcp-nodelay", NULL, 0, repl_disable_tcp_nodelay, "no"),
    XS("replica-announce-ip", "slave-announce-ip", F_EMPTY_NULL, replica_announce_ip, ""),
    XI("replica-announce-port", "slave-announce-port", 0, replica_announce_port, "0", 0, 65535),
    XB("replica-announced", NULL, 0, replica_announced, "yes"),
    XB("replica-ignore-maxmemory", "slave-ignore-maxmemory", 0, replica_ignore_maxmemory, "yes"),
    XB("replica-ignore-disk-write-errors", NULL, 0, replica_ignore_disk_write_errors, "no"),
    XE("propagation-error-behavior", NULL, 0, propagation_error_behavior, "ignore", propagation_error_names),
    {"cluster-enabled", NULL, DT_BOOL, F_COMPAT | F_IMMUTABLE | F_ONLY_NO, CP(cluster_enabled), "no", 0, 1, 0, 0, NULL,
     "argument must be 'no' (cairn has no cluster mode)"},
    XS("cluster-config-file", NULL, F_IMMUTABLE, cluster_config_file, "nodes.conf"),
    XI("cluster-port", NULL, F_IMMUTABLE, cluster_port, "0", 0, 65535),
    XL("cluster-node-timeout", NULL, 0, cluster_node_timeout, "15000", 0, LLONG_MAX),
    XS("cluster-announce-ip", NULL, F_EMPTY_NULL, cluster_announce_ip, ""),
    XS("cluster-announce-hostname", NULL, F_EMPTY_NULL, cluster_announce_hostname, ""),
    XI("cluster-announce-port", NULL, 0, cluster_announce_port, "0", 0, 65535),
    XI("cluster-announce-bus-port", NULL, 0, cluster_announce_bus_port, "0", 0, 65535),
    XI("cluster-announce-tls-port", NULL, 0, cluster_announce_tls_port, "0", 0, 65535),
    XI("cluster-replica-validity-factor", "cluster-slave-validity-factor", 0, cluster_replica_validity_factor, "10", 0,
       INT_MAX),
    XI("cluster-migration-barrier", NULL, 0, cluster_migration_barrier, "1", 0, INT_MAX),
    XB("cluster-require-full-coverage", NULL, 0, cluster_require_full_coverage, "yes"),
    XB("cluster-replica-no-failover", "cluster-slave-no-failover", 0, cluster_replica_no_failover, "no"),
    XB("cluster-allow-reads-when-down", NULL, 0, cluster_allow_reads_when_down, "no"),
    XB("cluster-allow-pubsubshard-when-down", NULL, 0, cluster_allow_pubsubshard_when_down, "yes"),
    XB("cluster-allow-replica-migration", NULL, 0, cluster_allow_replica_migration, "yes"),
    XM("cluster-link-sendbuf-limit", NULL, 0, cluster_link_sendbuf_limit, "0", 0, LLONG_MAX),
    XE("cluster-preferred-endpoint-type", NULL, 0, cluster_preferred_endpoint_type, "ip", endpoint_type_names),
    XI("shutdown-timeout", NULL, 0, shutdown_timeout, "10", 0, INT_MAX),
    XB("crash-log-enabled", NULL, 0, crash_log_enabled, "yes"),
    XB("crash-memcheck-enabled", NULL, 0, crash_memcheck_enabled, "yes"),
    XS("proc-title-template", NULL, 0, proc_title_template, "{title} {listen-addr} {server-mode}"),
    XS("ignore-warnings", NULL, 0, ignore_warnings, ""),
    XS("bind-source-addr", NULL, F_EMPTY_NULL, bind_source_addr, ""),
    XI("rdb-key-save-delay", NULL, F_HIDDEN, rdb_key_save_delay, "0", INT_MIN, INT_MAX),
    XI("key-load-delay", NULL, F_HIDDEN, key_load_delay, "0", INT_MIN, INT_MAX),
    XI("watchdog-period", NULL, F_HIDDEN, watchdog_period, "0", 0, INT_MAX),
    XL("loading-process-events-interval-bytes", NULL, F_HIDDEN, loading_process_events_interval_bytes, "2097152",
       1024, INT_MAX),
};

#define NDIRECTIVES ((int)(sizeof(table) / sizeof(table[0])))

static const char *const obuf_class_names[CAIRN_CLIENT_CLASS_COUNT] = {"normal", "replica", "pubsub"};
/* CONFIG GET spells the replica class "slave", like Redis 7.0 does. */
static const char *const obuf_get_names[CAIRN_CLIENT_CLASS_COUNT] = {"normal", "slave", "pubsub"};

static int is_multi_arg(const directive *d) {
  return d->type == DT_BIND || d->type == DT_OBUF || d->type == DT_SAVE || d->type == DT_PCTL;
}

static int is_string_type(const directive *d) {
  return d->type == DT_STRING || d->type == DT_BIND || d->type == DT_SAVE || d->type == DT_PCTL;
}

/* The directive called name (or its alias); *matched, when given, gets the
 * table's spelling of the name that matched (Redis names an alias in its
 * errors as the alias). */
static const directive *lookup_as(const char *name, size_t len, const char **matched) {
  for (int i = 0; i < NDIRECTIVES; i++) {
    const directive *d = &table[i];
    const char *hit = NULL;
    if (strlen(d->name) == len && strncasecmp(d->name, name, len) == 0)
      hit = d->name;
    else if (d->alias && strlen(d->alias) == len && strncasecmp(d->alias, name, len) == 0)
      hit = d->alias;
    if (hit) {
      if (matched) *matched = hit;
      return d;
    }
  }
  return NULL;
}

static const directive *lookup(const char *name, size_t len) { return lookup_as(name, len, NULL); }

const char *cairn_config_directive_name(int i) { return i >= 0 && i < NDIRECTIVES ? table[i].name : NULL; }

/* Redis's keyspaceEventsStringToFlags: -1 for an unknown letter. */
static int notify_parse(const char *p, size_t n) {
  int flags = 0;
  for (size_t i = 0; i < n; i++) {
    switch (p[i]) {
    case 'A': flags |= CAIRN_NOTIFY_ALL; break;
    case 'g': flags |= CAIRN_NOTIFY_GENERIC; break;
    case '$': flags |= CAIRN_NOTIFY_STRING; break;
    case 'l': flags |= CAIRN_NOTIFY_LIST; break;
    case 's': flags |= CAIRN_NOTIFY_SET; break;
    case 'h': flags |= CAIRN_NOTIFY_HASH; break;
    case 'z': flags |= CAIRN_NOTIFY_ZSET; break;
    case 'x': flags |= CAIRN_NOTIFY_EXPIRED; break;
    case 'e': flags |= CAIRN_NOTIFY_EVICTED; break;
    case 'K': flags |= CAIRN_NOTIFY_KEYSPACE; break;
    case 'E': flags |= CAIRN_NOTIFY_KEYEVENT; break;
    case 't': flags |= CAIRN_NOTIFY_STREAM; break;
    case 'm': flags |= CAIRN_NOTIFY_KEY_MISS; break;
    case 'd': flags |= CAIRN_NOTIFY_MODULE; break;
    case 'n': flags |= CAIRN_NOTIFY_NEW; break;
    default: return -1;
    }
  }
  return flags;
}

/* Redis's keyspaceEventsFlagsToString: "A" when every class of A is set,
 * else the class letters in a fixed order; then K, E and m. */
void cairn_config_notify_format(int flags, char *buf) {
  static const struct {
    int bit;
    char c;
  } classes[] = {{CAIRN_NOTIFY_GENERIC, 'g'}, {CAIRN_NOTIFY_STRING, '$'},  {CAIRN_NOTIFY_LIST, 'l'},
                 {CAIRN_NOTIFY_SET, 's'},     {CAIRN_NOTIFY_HASH, 'h'},    {CAIRN_NOTIFY_ZSET, 'z'},
                 {CAIRN_NOTIFY_EXPIRED, 'x'}, {CAIRN_NOTIFY_EVICTED, 'e'}, {CAIRN_NOTIFY_STREAM, 't'},
                 {CAIRN_NOTIFY_MODULE, 'd'},  {CAIRN_NOTIFY_NEW, 'n'}};
  int n = 0;
  if ((flags & CAIRN_NOTIFY_ALL) == CAIRN_NOTIFY_ALL) {
    buf[n++] = 'A'; /* n is not shown next to A (Redis 7.0 does the same) */
  } else {
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
      if (flags & classes[i].bit) buf[n++] = classes[i].c;
  }
  if (flags & CAIRN_NOTIFY_KEYSPACE) buf[n++] = 'K';
  if (flags & CAIRN_NOTIFY_KEYEVENT) buf[n++] = 'E';
  if (flags & CAIRN_NOTIFY_KEY_MISS) buf[n++] = 'm';
  buf[n] = '\0';
}

/* A percentile the way Redis prints latency-tracking-info-percentiles:
 * "%f" with trailing zeros (and a trailing dot) removed. */
static void append_percentile(cairn_buf *b, double v) {
  char t[128];
  int n = snprintf(t, sizeof(t), "%f", v);
  if (strchr(t, '.')) {
    while (n > 0 && t[n - 1] == '0') n--;
    if (n > 0 && t[n - 1] == '.') n--;
  }
  cairn_buf_append(b, t, (size_t)n);
}

/* Tells the RDB writer (DUMP, full sync) the encoding thresholds. */
static void publish_limits(const cairn_config *c) {
  cairn_rdb_limits l = {c->hash_max_listpack_entries, c->hash_max_listpack_value, c->zset_max_listpack_entries,
                        c->zset_max_listpack_value, c->set_max_intset_entries};
  cairn_rdb_coll_set_limits(&l);
  cairn_stream_set_node_limits(compat.stream_node_max_entries, compat.stream_node_max_bytes); /* XADD's nodes */
}

/* The storage of d: inside c, or inside the compat block. */
static void *field_of(const cairn_config *c, const directive *d) {
  char *base = (d->flags & F_COMPAT) ? (char *)&compat : (char *)c;
  return base + d->off;
}

/* ------------------------------------------------------------------------ */
/* Parsed values                                                            */
/* ------------------------------------------------------------------------ */

typedef struct pval {
  long long n;
  char *s;
  cairn_obuf_limit ob[CAIRN_CLIENT_CLASS_COUNT];
} pval;

static void pval_free(pval *v) {
  free(v->s);
  v->s = NULL;
}

/* Copies the current value of d out of c (strings duplicated). */
static void get_value(const cairn_config *c, const directive *d, pval *v) {
  memset(v, 0, sizeof(*v));
  void *f = field_of(c, d);
  switch (d->type) {
  case DT_BOOL:
  case DT_INT:
  case DT_NOTIFY:
  case DT_ENUM: v->n = *(int *)f; break;
  case DT_LL:
  case DT_MEM: v->n = *(long long *)f; break;
  case DT_STRING:
  case DT_BIND:
  case DT_PCTL:
  case DT_SAVE: {
    const char *s = *(char **)f;
    v->s = cairn_xstrdup(s ? s : "");
    break;
  }
  case DT_OBUF: memcpy(v->ob, f, sizeof(v->ob)); break;
  }
}

/* Stores v into c, taking ownership of v->s. Cannot fail. */
static void set_value(cairn_config *c, const directive *d, pval *v) {
  void *f = field_of(c, d);
  switch (d->type) {
  case DT_BOOL:
  case DT_INT:
  case DT_NOTIFY:
  case DT_ENUM: *(int *)f = (int)v->n; break;
  case DT_LL:
  case DT_MEM: *(long long *)f = v->n; break;
  case DT_STRING:
  case DT_BIND:
  case DT_PCTL:
  case DT_SAVE: {
    char **sp = f;
    free(*sp);
    if ((d->flags & F_EMPTY_NULL) && v->s && v->s[0] == '\0') {
      free(v->s);
      *sp = NULL;
    } else {
      *sp = v->s;
    }
    v->s = NULL;
    break;
  }
  case DT_OBUF: memcpy(f, v->ob, sizeof(v->ob)); break;
  }
}

/* The CONFIG GET text of a value; a heap string. */
static char *format_value(const directive *d, const pval *v) {
  cairn_buf b = {0};
  switch (d->type) {
  case DT_BOOL: cairn_buf_append_str(&b, v->n ? "yes" : "no"); break;
  case DT_INT:
  case DT_LL:
  case DT_MEM:
    if (d->flags & F_OCTAL)
      cairn_buf_printf(&b, "%llo", (unsigned long long)v->n);
    else if ((d->flags & F_PERCENT) && v->n < 0)
      cairn_buf_printf(&b, "%lld%%", -v->n);
    else
      cairn_buf_printf(&b, "%lld", v->n);
    break;
  case DT_ENUM: cairn_buf_append_str(&b, d->enums[v->n]); break;
  case DT_NOTIFY: {
    char t[24];
    cairn_config_notify_format((int)v->n, t);
    cairn_buf_append_str(&b, t);
    break;
  }
  case DT_STRING:
  case DT_BIND:
  case DT_PCTL:
  case DT_SAVE: cairn_buf_append_str(&b, v->s ? v->s : ""); break;
  case DT_OBUF:
    for (int k = 0; k < CAIRN_CLIENT_CLASS_COUNT; k++)
      cairn_buf_printf(&b, "%s%s %lld %lld %lld", k ? " " : "", obuf_get_names[k], v->ob[k].hard_bytes, v->ob[k].soft_bytes,
                v->ob[k].soft_seconds);
    break;
  }
  return cairn_buf_take_str(&b);
}

static int values_equal(const directive *d, const pval *a, const pval *b) {
  char *x = format_value(d, a), *y = format_value(d, b);
  int eq = strcmp(x, y) == 0;
  free(x);
  free(y);
  return eq;
}

/* A memory argument the way Redis's memtoull reads it: note that an empty
 * argument is 0 there (it then usually fails the range check). */
static int arg_memory(carg a, long long *out) {
  char buf[64];
  if (a.len == 0) {
    *out = 0;
    return 1;
  }
  if (a.len >= sizeof(buf) || memchr(a.p, '\0', a.len)) return 0;
  memcpy(buf, a.p, a.len);
  buf[a.len] = '\0';
  return cairn_parse_memory(buf, out);
}

/* Strict octal: one or more digits 0-7. */
static int arg_octal(carg a, long long *out) {
  if (a.len == 0 || a.len > 20) return 0;
  long long v = 0;
  for (size_t i = 0; i < a.len; i++) {
    if (a.p[i] < '0' || a.p[i] > '7') return 0;
    v = v * 8 + (a.p[i] - '0');
  }
  *out = v;
  return 1;
}

/* A decimal the way Redis reads save parameters and soft seconds with
 * strtoll: optional blanks and sign, then digits, nothing after. */
static int arg_strtoll(carg a, long long *out) {
  char buf[64];
  if (a.len == 0 || a.len >= sizeof(buf) || memchr(a.p, '\0', a.len)) return 0;
  memcpy(buf, a.p, a.len);
  buf[a.len] = '\0';
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (errno || *end != '\0' || end == buf) return 0;
  *out = v;
  return 1;
}

static int arg_is(carg a, const char *word) { return strlen(word) == a.len && strncasecmp(a.p, word, a.len) == 0; }

/* Parses argc arguments for d on top of v (which holds the current value:
 * client-output-buffer-limit only changes the classes it names, and a save
 * line read from a file adds to earlier ones when append is set). On error
 * writes the reason, worded as Redis words it, into reason. */
static int parse_value(const directive *d, pval *v, int argc, const carg *argv, int append, char *reason,
                       size_t rlen) {
  if (!is_multi_arg(d) && argc != 1) {
    snprintf(reason, rlen, "wrong number of arguments");
    return 0;
  }
  switch (d->type) {
  case DT_BOOL:
    if (arg_is(argv[0], "yes")) {
      if (d->flags & F_ONLY_NO) {
        snprintf(reason, rlen, "%s", d->note);
        return 0;
      }
      v->n = 1;
    } else if (arg_is(argv[0], "no")) {
      v->n = 0;
    } else {
      snprintf(reason, rlen, "argument must be 'yes' or 'no'");
      return 0;
    }
    return 1;
  case DT_INT:
  case DT_LL:
  case DT_MEM: {
    long long n;
    if (d->flags & F_OCTAL) {
      if (!arg_octal(argv[0], &n)) {
        snprintf(reason, rlen, "argument couldn't be parsed as an octal number");
        return 0;
      }
    } else if ((d->flags & F_PERCENT) && argv[0].len > 1 && argv[0].p[argv[0].len - 1] == '%') {
      /* Redis's PERCENT_CONFIG: "N%" is stored as -N */
      if (!cairn_str2ll(argv[0].p, argv[0].len - 1, &n) || n < 0) {
        snprintf(reason, rlen, "argument must be a memory or percent value");
        return 0;
      }
      n = -n;
    } else if (d->type == DT_MEM) {
      if (!arg_memory(argv[0], &n)) {
        if (d->flags & F_PERCENT) {
          snprintf(reason, rlen, "argument must be a memory or percent value");
          return 0;
        }
        snprintf(reason, rlen, "argument must be a memory value");
        return 0;
      }
    } else if (!cairn_str2ll(argv[0].p, argv[0].len, &n)) {
      snprintf(reason, rlen, "argument couldn't be parsed into an integer");
      return 0;
    }
    if (n < d->min || n > d->max) {
      if ((d->flags & F_PERCENT) && n < 0)
        snprintf(reason, rlen, "percentage argument must be less or equal to %lld", -d->min);
      else if (d->flags & F_OCTAL)
        snprintf(reason, rlen, "argument must be between %llo and %llo inclusive", (unsigned long long)d->min,
                 (unsigned long long)d->max);
      else
        snprintf(reason, rlen, "argument must be between %lld and %lld inclusive", d->min, d->max);
      return 0;
    }
    if (d->hi > 0) {
      if (n < d->lo) n = d->lo;
      if (n > d->hi) n = d->hi;
    }
    v->n = n;
    return 1;
  }
  case DT_ENUM:
    for (int i = 0; d->enums[i]; i++) {
      if (arg_is(argv[0], d->enums[i])) {
        v->n = i;
        return 1;
      }
    }
    {
      cairn_buf b = {0};
      cairn_buf_append_str(&b, "argument(s) must be one of the following: ");
      for (int i = 0; d->enums[i]; i++) cairn_buf_printf(&b, "%s%s", i ? ", " : "", d->enums[i]);
      snprintf(reason, rlen, "%s", cairn_buf_cstr(&b));
      cairn_buf_free(&b);
    }
    return 0;
  case DT_STRING:
    free(v->s);
    v->s = cairn_xmemdup(argv[0].p, argv[0].len);
    return 1;
  case DT_NOTIFY: {
    int flags = notify_parse(argv[0].p, argv[0].len);
    if (flags < 0) {
      snprintf(reason, rlen, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
      return 0;
    }
    v->n = flags;
    return 1;
  }
  case DT_PCTL: {
    /* Redis's setConfigLatencyTrackingInfoPercentilesOutputOption: a
     * single "" (or nothing) is the empty list. */
    if (argc == 1 && argv[0].len == 0) argc = 0;
    cairn_buf b = {0};
    for (int i = 0; i < argc; i++) {
      double p;
      if (!cairn_str2d(argv[i].p, argv[i].len, &p)) {
        cairn_buf_free(&b);
        snprintf(reason, rlen, "Invalid latency-tracking-info-percentiles parameters");
        return 0;
      }
      if (p > 100.0 || p < 0.0) {
        cairn_buf_free(&b);
        snprintf(reason, rlen, "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]");
        return 0;
      }
      if (i) cairn_buf_append(&b, " ", 1);
      append_percentile(&b, p);
    }
    free(v->s);
    v->s = cairn_buf_take_str(&b);
    return 1;
  }
  case DT_BIND: {
    if (argc > 16) {
      snprintf(reason, rlen, "Too many bind addresses specified.");
      return 0;
    }
    if (argc == 1 && argv[0].len == 0) argc = 0;
    cairn_buf b = {0};
    for (int i = 0; i < argc; i++) {
      if (i) cairn_buf_append(&b, " ", 1);
      cairn_buf_append(&b, argv[i].p, argv[i].len);
    }
    free(v->s);
    v->s = cairn_buf_take_str(&b);
    return 1;
  }
  case DT_SAVE: {
    if (argc == 1 && argv[0].len == 0) argc = 0;
    long long nums[2];
    cairn_buf b = {0};
    if (argc % 2) goto bad_save;
    for (int i = 0; i < argc; i += 2) {
      if (!arg_strtoll(argv[i], &nums[0]) || !arg_strtoll(argv[i + 1], &nums[1]) || nums[0] < 1 || nums[1] < 0)
        goto bad_save;
      cairn_buf_printf(&b, "%s%lld %lld", b.len ? " " : "", nums[0], nums[1]);
    }
    if (append && argc && v->s && v->s[0]) {
      cairn_buf all = {0};
      cairn_buf_printf(&all, "%s %s", v->s, cairn_buf_cstr(&b));
      cairn_buf_free(&b);
      b = all;
    }
    /* With no pairs (`save ""`) everything read so far is cleared. */
    free(v->s);
    v->s = cairn_buf_take_str(&b);
    return 1;
  bad_save:
    cairn_buf_free(&b);
    snprintf(reason, rlen, "Invalid save parameters");
    return 0;
  }
  case DT_OBUF: {
    if (argc % 4) {
      snprintf(reason, rlen, "Wrong number of arguments in buffer limit configuration.");
      return 0;
    }
    cairn_obuf_limit next[CAIRN_CLIENT_CLASS_COUNT];
    memcpy(next, v->ob, sizeof(next));
    for (int i = 0; i < argc; i += 4) {
      int cls = -1;
      if (arg_is(argv[i], "normal"))
        cls = CAIRN_CLIENT_CLASS_NORMAL;
      else if (arg_is(argv[i], "replica") || arg_is(argv[i], "slave"))
        cls = CAIRN_CLIENT_CLASS_REPLICA;
      else if (arg_is(argv[i], "pubsub"))
        cls = CAIRN_CLIENT_CLASS_PUBSUB;
      if (cls < 0) {
        snprintf(reason, rlen, "Invalid client class specified in buffer limit configuration.");
        return 0;
      }
      long long hard, soft, secs;
      if (!arg_memory(argv[i + 1], &hard) || !arg_memory(argv[i + 2], &soft) || !arg_strtoll(argv[i + 3], &secs) ||
          secs < 0) {
        snprintf(reason, rlen, "Error in hard, soft or soft_seconds setting in buffer limit configuration.");
        return 0;
      }
      next[cls].hard_bytes = hard;
      next[cls].soft_bytes = soft;
      next[cls].soft_seconds = secs;
    }
    memcpy(v->ob, next, sizeof(next));
    return 1;
  }
  }
  return 0;
}

/* The default of d, parsed from the table's text. A default the parser
 * rejects is a bug in the table: abort so tests catch it immediately. */
static void default_value(const directive *d, pval *v) {
  memset(v, 0, sizeof(*v));
  char reason[256];
  argvec av;
  int ok;
  if (is_multi_arg(d)) {
    if (split_args(d->def, &av) != 0) abort();
  } else {
    memset(&av, 0, sizeof(av));
    argvec_push(&av, d->def, strlen(d->def));
  }
  carg *args = cairn_xcalloc((size_t)av.argc + 1, sizeof(carg));
  for (int i = 0; i < av.argc; i++) args[i] = (carg){av.argv[i], av.lens[i]};
  ok = parse_value(d, v, av.argc, args, 0, reason, sizeof(reason));
  free(args);
  argvec_free(&av);
  if (!ok) {
    fprintf(stderr, "cairn: bad default for %s: %s\n", d->name, reason);
    abort();
  }
  if (!v->s && is_string_type(d)) v->s = cairn_xstrdup("");
}

/* ------------------------------------------------------------------------ */
/* Init / free                                                              */
/* ------------------------------------------------------------------------ */

void cairn_config_init(cairn_config *c) {
  memset(c, 0, sizeof(*c));
  for (int i = 0; i < NDIRECTIVES; i++) {
    pval v;
    default_value(&table[i], &v);
    set_value(c, &table[i], &v); /* frees a compat string left by an earlier init */
    pval_free(&v);
  }
  publish_limits(c);
}

void cairn_config_free(cairn_config *c) {
  for (int i = 0; i < NDIRECTIVES; i++) {
    const directive *d = &table[i];
    /* The compat block is shared by every cairn_config (tests hold several
     * at once): its strings stay, reachable, until the next init. */
    if (is_string_type(d) && !(d->flags & F_COMPAT)) {
      char **sp = field_of(c, d);
      free(*sp);
      *sp = NULL;
    }
  }
  free(c->config_file);
  c->config_file = NULL;
  for (int i = 0; i < c->nacl_users; i++) {
    for (char **a = c->acl_users[i]; *a; a++) free(*a);
    free(c->acl_users[i]);
  }
  free(c->acl_users);
  c->acl_users = NULL;
  c->nacl_users = 0;
}

/* ------------------------------------------------------------------------ */
/* File and command line                                                    */
/* ------------------------------------------------------------------------ */

/* State of one loading pass (a file, or the command line): the first save
 * directive replaces the value, later ones add to it, as in redis.conf. */
typedef struct load_session {
  int save_seen;
} load_session;

/* `user <name> <rules...>` (repeatable, kept in order for engine/acl.c at
 * startup, like Redis's ACLAppendUserForLoading). 1: it was one (0 added,
 * -1 malformed in *bad), 0: another directive. */
static int take_user_directive(cairn_config *c, const argvec *av, int *bad) {
  *bad = 0;
  if (av->argc < 1 || strcasecmp(av->argv[0], "user") != 0) return 0;
  if (av->argc < 2) {
    *bad = 1;
    return 1;
  }
  char **u = cairn_xcalloc((size_t)av->argc, sizeof(char *));
  for (int i = 1; i < av->argc; i++) u[i - 1] = cairn_xmemdup(av->argv[i], av->lens[i]);
  c->acl_users = cairn_xrealloc(c->acl_users, sizeof(char **) * (size_t)(c->nacl_users + 1));
  c->acl_users[c->nacl_users++] = u;
  return 1;
}

/* Applies one directive read from a file or the command line. */
static int apply_directive(cairn_config *c, const directive *d, int argc, char **argv, const size_t *lens,
                           load_session *ls, char *reason, size_t rlen) {
  carg *args = cairn_xcalloc((size_t)argc + 1, sizeof(carg));
  for (int i = 0; i < argc; i++) args[i] = (carg){argv[i], lens[i]};
  pval v;
  get_value(c, d, &v);
  int append = d->type == DT_SAVE && ls->save_seen;
  int ok = parse_value(d, &v, argc, args, append, reason, rlen);
  free(args);
  if (ok) {
    if (d->type == DT_SAVE) ls->save_seen = 1;
    set_value(c, d, &v);
  }
  pval_free(&v);
  return ok ? 0 : -1;
}

/* Reads a whole file into lines (trailing "\n" and "\r\n" removed). Returns
 * 0, or -1 with errno set. A missing file is reported as such (ENOENT). */
static int read_lines(const char *path, char ***lines_out, int *n_out) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char **lines = NULL;
  int n = 0;
  char *buf = NULL;
  size_t cap = 0;
  ssize_t len;
  errno = 0;
  while ((len = getline(&buf, &cap, f)) >= 0) {
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
    lines = cairn_xrealloc(lines, sizeof(char *) * (size_t)(n + 1));
    lines[n++] = cairn_xmemdup(buf, (size_t)len);
  }
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  free(buf);
  fclose(f);
  if (err) {
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
    errno = err;
    return -1;
  }
  *lines_out = lines;
  *n_out = n;
  return 0;
}

static void free_lines(char **lines, int n) {
  for (int i = 0; i < n; i++) free(lines[i]);
  free(lines);
}

/* Trims blanks like Redis's sdstrim(line, " \t\r\n") and reports whether
 * what remains is a directive (not empty, not a comment). */
static const char *directive_text(const char *line, char *scratch, size_t cap, int *is_directive) {
  while (*line == ' ' || *line == '\t' || *line == '\r' || *line == '\n') line++;
  size_t n = strlen(line);
  while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r' || line[n - 1] == '\n')) n--;
  *is_directive = n > 0 && line[0] != '#';
  if (n + 1 > cap) n = cap - 1;
  memcpy(scratch, line, n);
  scratch[n] = '\0';
  return scratch;
}

int cairn_config_load_file(cairn_config *c, const char *path, char *err, size_t errlen) {
  char **lines;
  int n;
  if (read_lines(path, &lines, &n) != 0) {
    snprintf(err, errlen, "%s:0: can't open config file: %s", path, strerror(errno));
    return -1;
  }
  load_session ls = {0};
  char reason[512];
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    int is_dir;
    size_t cap = strlen(lines[i]) + 1;
    char *text = cairn_xmalloc(cap);
    directive_text(lines[i], text, cap, &is_dir);
    if (is_dir) {
      argvec av;
      if (split_args(text, &av) != 0) {
        snprintf(err, errlen, "%s:%d: Unbalanced quotes in configuration line", path, i + 1);
        rc = -1;
      } else {
        const directive *d = av.argc ? lookup(av.argv[0], av.lens[0]) : NULL;
        int bad_user;
        if (take_user_directive(c, &av, &bad_user)) {
          if (bad_user) {
            snprintf(err, errlen, "%s:%d: Bad directive or wrong number of arguments", path, i + 1);
            rc = -1;
          }
        } else if (!d) {
          snprintf(err, errlen, "%s:%d: Bad directive or wrong number of arguments", path, i + 1);
          rc = -1;
        } else if (apply_directive(c, d, av.argc - 1, av.argv + 1, av.lens + 1, &ls, reason, sizeof(reason)) != 0) {
          snprintf(err, errlen, "%s:%d: %s", path, i + 1, reason);
          rc = -1;
        }
        argvec_free(&av);
      }
    }
    free(text);
  }
  free_lines(lines, n);
  publish_limits(c);
  if (rc == 0) {
    /* Absolute, because the server may chdir into `dir` before a REWRITE. */
    char *abs = realpath(path, NULL);
    free(c->config_file);
    c->config_file = abs ? abs : cairn_xstrdup(path);
  }
  return rc;
}

/* Command-line overrides, grouped like redis-server groups them: "--name"
 * starts a directive and every following argument not starting with "--"
 * belongs to it. The first argument after "--name" is always a value (so
 * "--requirepass --secret" works), except that "--save" directly followed by
 * another option, or last, means save "". "--port 6380" given as a single
 * argument is split like a config line. */
int cairn_config_apply_args(cairn_config *c, int argc, char **argv, char *err, size_t errlen) {
  load_session ls = {0};
  char reason[512];
  int i = 0;
  while (i < argc) {
    const char *a = argv[i];
    if (a[0] != '-' || a[1] != '-' || a[2] == '\0') {
      snprintf(err, errlen, "'%s': expected an option like --name value", a);
      return -1;
    }
    argvec av;
    if (split_args(a + 2, &av) != 0) {
      snprintf(err, errlen, "'%s': Unbalanced quotes in configuration line", a);
      return -1;
    }
    if (av.argc == 0) {
      argvec_free(&av);
      snprintf(err, errlen, "'%s': expected an option like --name value", a);
      return -1;
    }
    i++;
    if (av.argc == 1) {
      int is_save = strcasecmp(av.argv[0], "save") == 0;
      if (is_save && (i == argc || (argv[i][0] == '-' && argv[i][1] == '-'))) {
        argvec_push(&av, "", 0);
      } else if (i < argc) {
        argvec_push(&av, argv[i], strlen(argv[i]));
        i++;
      }
    }
    while (i < argc && !(argv[i][0] == '-' && argv[i][1] == '-')) {
      argvec_push(&av, argv[i], strlen(argv[i]));
      i++;
    }
    const directive *d = lookup(av.argv[0], av.lens[0]);
    int rc = 0, bad_user;
    if (take_user_directive(c, &av, &bad_user)) {
      if (bad_user) {
        snprintf(err, errlen, "--user: Bad directive or wrong number of arguments");
        rc = -1;
      }
    } else if (!d) {
      snprintf(err, errlen, "--%s: Bad directive or wrong number of arguments", av.argv[0]);
      rc = -1;
    } else if (apply_directive(c, d, av.argc - 1, av.argv + 1, av.lens + 1, &ls, reason, sizeof(reason)) != 0) {
      snprintf(err, errlen, "--%s: %s", d->name, reason);
      rc = -1;
    }
    argvec_free(&av);
    publish_limits(c);
    if (rc) return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* CONFIG SET / GET                                                         */
/* ------------------------------------------------------------------------ */

/* Validation happens in the order Redis 7.0 uses, so the same request gets
 * the same error: unknown name (reported with the name as typed, and winning
 * if it comes first), then immutable / duplicate (name as typed), then each
 * value is parsed (error names the directive canonically). Only when every
 * value parsed are they stored, so a failure leaves c untouched. */
int cairn_config_set(cairn_config *c, int npairs, const char **names, const size_t *namelens, const char **values,
                     const size_t *valuelens, char *err, size_t errlen) {
  if (npairs <= 0) {
    snprintf(err, errlen, "ERR wrong number of arguments for 'config|set' command");
    return -1;
  }
  const directive **ds = cairn_xmalloc(sizeof(*ds) * (size_t)npairs);
  const char **as = cairn_xmalloc(sizeof(*as) * (size_t)npairs);
  pval *vals = cairn_xmalloc(sizeof(*vals) * (size_t)npairs);
  int unknown = -1, bad = -1, parsed = 0, rc = 0;
  const char *why = NULL;
  for (int i = 0; i < npairs; i++) {
    ds[i] = lookup_as(names[i], namelens[i], &as[i]);
    if (!ds[i]) {
      if (unknown < 0 && bad < 0) unknown = i;
      continue;
    }
    if (unknown >= 0 || bad >= 0) continue;
    if (ds[i]->flags & F_IMMUTABLE) {
      why = "can't set immutable config";
      bad = i;
      continue;
    }
    if (ds[i]->flags & F_PROTECTED) {
      why = "can't set protected config";
      bad = i;
      continue;
    }
    /* Like Redis, a name and its alias are different parameters here. */
    for (int j = 0; j < i; j++) {
      if (ds[j] == ds[i] && as[j] == as[i]) {
        why = "duplicate parameter";
        bad = i;
        break;
      }
    }
  }
  if (unknown >= 0) {
    snprintf(err, errlen, "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'", (int)namelens[unknown],
             names[unknown]);
    rc = -1;
    goto done;
  }
  if (bad >= 0) {
    snprintf(err, errlen, "ERR CONFIG SET failed (possibly related to argument '%.*s') - %s", (int)namelens[bad],
             names[bad], why);
    rc = -1;
    goto done;
  }
  for (int i = 0; i < npairs; i++) {
    const directive *d = ds[i];
    char reason[512];
    carg one = {values[i], valuelens[i]};
    carg *args = &one;
    int argc = 1;
    if (is_multi_arg(d)) argc = split_spaces(values[i], valuelens[i], &args);
    get_value(c, d, &vals[i]);
    parsed++;
    int ok = parse_value(d, &vals[i], argc, args, 0, reason, sizeof(reason));
    if (args != &one) free(args);
    if (!ok) {
      snprintf(err, errlen, "ERR CONFIG SET failed (possibly related to argument '%s') - %s", as[i], reason);
      rc = -1;
      goto done;
    }
    if (d->flags & F_SAME_ONLY) {
      pval cur;
      memset(&cur, 0, sizeof(cur));
      get_value(c, d, &cur);
      int same = cur.n == vals[i].n;
      pval_free(&cur);
      if (!same) {
        snprintf(err, errlen, "ERR CONFIG SET failed (possibly related to argument '%.*s') - can't set immutable config",
                 (int)namelens[i], names[i]);
        rc = -1;
        goto done;
      }
    }
  }
  for (int i = 0; i < npairs; i++) set_value(c, ds[i], &vals[i]);
  publish_limits(c);
done:
  for (int i = 0; i < parsed; i++) pval_free(&vals[i]);
  free(vals);
  free(as);
  free(ds);
  return rc;
}

static int has_glob(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] == '*' || p[i] == '?' || p[i] == '[') return 1;
  return 0;
}

/* Like Redis: a pattern without glob characters is a direct (case-insensitive)
 * lookup and the reply echoes the name as it was asked; a glob is matched
 * against every name and every alias, and a name and its alias are separate
 * parameters (CONFIG GET * lists both hash-max-listpack-entries and
 * hash-max-ziplist-entries). Hidden directives answer only to their exact
 * name. Slot 2i is directive i's name, 2i+1 its alias. */
int cairn_config_get(const cairn_config *c, int npatterns, const char **patterns, const size_t *patlens,
                     cairn_config_emit_fn emit, void *ud) {
  char asked[2 * NDIRECTIVES][64];
  const char *show[2 * NDIRECTIVES] = {0};
  for (int p = 0; p < npatterns; p++) {
    const char *pat = patterns[p];
    size_t plen = patlens[p];
    if (!has_glob(pat, plen)) {
      const char *matched;
      const directive *d = lookup_as(pat, plen, &matched);
      if (!d) continue;
      int slot = 2 * (int)(d - table) + (matched == d->alias);
      if (show[slot]) continue;
      memcpy(asked[slot], pat, plen); /* plen == strlen(name or alias) < 64 */
      asked[slot][plen] = '\0';
      show[slot] = asked[slot];
      continue;
    }
    for (int i = 0; i < NDIRECTIVES; i++) {
      const directive *d = &table[i];
      if (d->flags & F_HIDDEN) continue;
      if (!show[2 * i] && cairn_glob_match(pat, plen, d->name, strlen(d->name), 1)) show[2 * i] = d->name;
      if (d->alias && !show[2 * i + 1] && cairn_glob_match(pat, plen, d->alias, strlen(d->alias), 1))
        show[2 * i + 1] = d->alias;
    }
  }
  int emitted = 0;
  for (int slot = 0; slot < 2 * NDIRECTIVES; slot++) {
    if (!show[slot]) continue;
    const directive *d = &table[slot / 2];
    pval v;
    get_value(c, d, &v);
    char *text = format_value(d, &v);
    pval_free(&v);
    if (emit) emit(ud, show[slot], text, strlen(text));
    free(text);
    emitted++;
  }
  return emitted;
}

int cairn_config_format(const cairn_config *c, const char *name, char *buf, size_t cap) {
  const directive *d = lookup(name, strlen(name));
  if (!d) return -1;
  pval v;
  get_value(c, d, &v);
  char *text = format_value(d, &v);
  pval_free(&v);
  size_t n = strlen(text);
  int rc = -1;
  if (n + 1 <= cap && n <= INT_MAX) {
    memcpy(buf, text, n + 1);
    rc = (int)n;
  }
  free(text);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* CONFIG REWRITE                                                           */
/* ------------------------------------------------------------------------ */

#define REWRITE_SIGNATURE "# Generated by CONFIG REWRITE"

/* A list of owned lines. */
typedef struct linelist {
  char **v;
  int n;
} linelist;

static void ll_add(linelist *l, char *line) {
  l->v = cairn_xrealloc(l->v, sizeof(char *) * (size_t)(l->n + 1));
  l->v[l->n++] = line;
}

static void ll_free(linelist *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

/* The file lines that express value v of d. For client-output-buffer-limit,
 * a class gets a line when it differs from the default or when want_class
 * says the file already had a line for it. */
static void render_lines(const directive *d, const pval *v, const pval *def, const int *want_class, linelist *out) {
  cairn_buf b = {0};
  switch (d->type) {
  case DT_BOOL: cairn_buf_printf(&b, "%s %s", d->name, v->n ? "yes" : "no"); break;
  case DT_INT:
  case DT_LL:
    if (d->flags & F_OCTAL)
      cairn_buf_printf(&b, "%s %llo", d->name, (unsigned long long)v->n);
    else
      cairn_buf_printf(&b, "%s %lld", d->name, v->n);
    break;
  case DT_MEM:
    cairn_buf_printf(&b, "%s ", d->name);
    if ((d->flags & F_PERCENT) && v->n < 0)
      cairn_buf_printf(&b, "%lld%%", -v->n);
    else
      append_memory(&b, v->n);
    break;
  case DT_ENUM: cairn_buf_printf(&b, "%s %s", d->name, d->enums[v->n]); break;
  case DT_NOTIFY: {
    char t[24];
    cairn_config_notify_format((int)v->n, t);
    cairn_buf_printf(&b, "%s ", d->name);
    cairn_buf_append_repr(&b, t, strlen(t));
    break;
  }
  case DT_PCTL:
    if (v->s && v->s[0])
      cairn_buf_printf(&b, "%s %s", d->name, v->s);
    else
      cairn_buf_printf(&b, "%s \"\"", d->name);
    break;
  case DT_STRING:
    cairn_buf_printf(&b, "%s ", d->name);
    cairn_buf_append_repr(&b, v->s ? v->s : "", v->s ? strlen(v->s) : 0);
    break;
  case DT_BIND: {
    cairn_buf_append_str(&b, d->name);
    argvec av;
    if (v->s && v->s[0] && split_args(v->s, &av) == 0) {
      for (int i = 0; i < av.argc; i++) {
        cairn_buf_append(&b, " ", 1);
        append_arg(&b, av.argv[i]);
      }
      argvec_free(&av);
    } else {
      cairn_buf_append_str(&b, " \"\"");
    }
    break;
  }
  case DT_SAVE: {
    const char *s = v->s ? v->s : "";
    if (!*s) {
      cairn_buf_printf(&b, "%s \"\"", d->name);
      break;
    }
    /* One line per <seconds> <changes> pair, like Redis writes them. */
    long long a, n;
    int off = 0;
    while (sscanf(s, "%lld %lld%n", &a, &n, &off) == 2) {
      cairn_buf l = {0};
      cairn_buf_printf(&l, "%s %lld %lld", d->name, a, n);
      ll_add(out, cairn_buf_take_str(&l));
      s += off;
    }
    cairn_buf_free(&b);
    return;
  }
  case DT_OBUF:
    for (int k = 0; k < CAIRN_CLIENT_CLASS_COUNT; k++) {
      const cairn_obuf_limit *o = &v->ob[k], *z = &def->ob[k];
      int differs = o->hard_bytes != z->hard_bytes || o->soft_bytes != z->soft_bytes ||
                    o->soft_seconds != z->soft_seconds;
      if (!differs && !(want_class && want_class[k])) continue;
      cairn_buf l = {0};
      cairn_buf_printf(&l, "%s %s ", d->name, obuf_class_names[k]);
      append_memory(&l, o->hard_bytes);
      cairn_buf_append(&l, " ", 1);
      append_memory(&l, o->soft_bytes);
      cairn_buf_printf(&l, " %lld", o->soft_seconds);
      ll_add(out, cairn_buf_take_str(&l));
    }
    cairn_buf_free(&b);
    return;
  }
  ll_add(out, cairn_buf_take_str(&b));
}

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename over path, then fsync of the directory so the rename itself
 * survives a crash. The file keeps the old file's permission bits. */
static int write_atomically(const char *path, const char *data, size_t len) {
  size_t plen = strlen(path);
  char *tmp = cairn_xmalloc(plen + 16);
  snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    free(tmp);
    return -1;
  }
  struct stat st;
  mode_t mode;
  if (stat(path, &st) == 0) {
    mode = st.st_mode & 07777;
  } else {
    mode_t um = umask(0);
    umask(um);
    mode = 0644 & ~um;
  }
  int saved;
  size_t off = 0;
  if (fchmod(fd, mode) != 0) goto fail;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      goto fail;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0) goto fail;
  if (close(fd) != 0) {
    fd = -1;
    goto fail;
  }
  fd = -1;
  if (rename(tmp, path) != 0) goto fail;
  free(tmp);
  {
    char *dir = cairn_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
      slash[1] = '\0';
    else if (slash)
      *slash = '\0';
    else
      strcpy(dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    free(dir);
  }
  return 0;
fail:
  saved = errno;
  if (fd >= 0) close(fd);
  unlink(tmp);
  free(tmp);
  errno = saved;
  return -1;
}

/* Keeps every comment, blank line and line order. A directive already in the
 * file whose lines still describe its current value is left byte for byte;
 * otherwise its lines are replaced in place (extra new lines go right after
 * its last old line, surplus old lines are dropped). Directives not in the
 * file are appended, under the signature comment, only when they differ from
 * their default. */
int cairn_config_rewrite(const cairn_config *c, char *err, size_t errlen) {
  return cairn_config_rewrite_users(c, NULL, 0, err, errlen);
}

#define OWNER_USER (-2) /* a `user` line, replaced by the current users */

int cairn_config_rewrite_users(const cairn_config *c, char *const *users, int nusers, char *err, size_t errlen) {
  if (!c->config_file) {
    snprintf(err, errlen, "ERR The server is running without a config file");
    return -1;
  }
  char **lines = NULL;
  int n = 0;
  if (read_lines(c->config_file, &lines, &n) != 0) {
    if (errno != ENOENT) {
      snprintf(err, errlen, "ERR Rewriting config file: %s", strerror(errno));
      return -1;
    }
    lines = NULL;
    n = 0;
  }

  /* Which directive owns each line (-1: comment, blank or unparseable). */
  int *owner = cairn_xmalloc(sizeof(int) * (size_t)(n + 1));
  int has_signature = 0;
  for (int i = 0; i < n; i++) {
    owner[i] = -1;
    int is_dir;
    size_t cap = strlen(lines[i]) + 1;
    char *text = cairn_xmalloc(cap);
    directive_text(lines[i], text, cap, &is_dir);
    if (!is_dir) {
      if (strcmp(text, REWRITE_SIGNATURE) == 0) has_signature = 1;
    } else {
      argvec av;
      if (split_args(text, &av) == 0) {
        const directive *d = av.argc ? lookup(av.argv[0], av.lens[0]) : NULL;
        if (d) owner[i] = (int)(d - table);
        if (users && av.argc && strcasecmp(av.argv[0], "user") == 0) owner[i] = OWNER_USER;
        argvec_free(&av);
      }
    }
    free(text);
  }

  /* New lines per directive; keep[i] when its file lines are still right. */
  linelist fresh[NDIRECTIVES];
  int keep[NDIRECTIVES], present[NDIRECTIVES], last_line[NDIRECTIVES];
  memset(fresh, 0, sizeof(fresh));
  linelist appended = {0};
  for (int i = 0; i < NDIRECTIVES; i++) {
    const directive *d = &table[i];
    keep[i] = 0;
    present[i] = 0;
    last_line[i] = -1;
    int want_class[CAIRN_CLIENT_CLASS_COUNT] = {0};
    pval cur, def, file;
    get_value(c, d, &cur);
    default_value(d, &def);
    default_value(d, &file);
    int file_ok = 1;
    load_session ls = {0};
    for (int k = 0; k < n; k++) {
      if (owner[k] != i) continue;
      present[i]++;
      last_line[i] = k;
      argvec av;
      char reason[256];
      if (split_args(lines[k], &av) != 0) continue;
      if (d->type == DT_OBUF && av.argc >= 2) {
        if (strcasecmp(av.argv[1], "normal") == 0) want_class[CAIRN_CLIENT_CLASS_NORMAL] = 1;
        if (strcasecmp(av.argv[1], "replica") == 0 || strcasecmp(av.argv[1], "slave") == 0)
          want_class[CAIRN_CLIENT_CLASS_REPLICA] = 1;
        if (strcasecmp(av.argv[1], "pubsub") == 0) want_class[CAIRN_CLIENT_CLASS_PUBSUB] = 1;
      }
      carg *args = cairn_xcalloc((size_t)av.argc + 1, sizeof(carg));
      for (int a = 1; a < av.argc; a++) args[a - 1] = (carg){av.argv[a], av.lens[a]};
      int append = d->type == DT_SAVE && ls.save_seen;
      if (!parse_value(d, &file, av.argc - 1, args, append, reason, sizeof(reason)))
        file_ok = 0;
      else if (d->type == DT_SAVE)
        ls.save_seen = 1;
      free(args);
      argvec_free(&av);
    }
    if (present[i] && file_ok && values_equal(d, &file, &cur)) {
      keep[i] = 1;
    } else if (present[i] || !values_equal(d, &cur, &def)) {
      render_lines(d, &cur, &def, want_class, &fresh[i]);
      if (!present[i])
        for (int k = 0; k < fresh[i].n; k++) ll_add(&appended, cairn_xstrdup(fresh[i].v[k]));
    }
    pval_free(&cur);
    pval_free(&def);
    pval_free(&file);
  }

  cairn_buf out = {0};
  int seen[NDIRECTIVES] = {0};
  int users_written = 0;
  for (int k = 0; k < n; k++) {
    int i = owner[k];
    if (i == OWNER_USER) {
      /* the users go where the first user line was (Redis's
       * rewriteConfigUserOption); the other user lines go away */
      for (int j = 0; j < nusers && !users_written; j++) {
        cairn_buf_append_str(&out, users[j]);
        cairn_buf_append(&out, "\n", 1);
      }
      users_written = 1;
      continue;
    }
    if (i < 0 || keep[i]) {
      cairn_buf_append_str(&out, lines[k]);
      cairn_buf_append(&out, "\n", 1);
      continue;
    }
    int slot = seen[i]++;
    if (slot < fresh[i].n) {
      cairn_buf_append_str(&out, fresh[i].v[slot]);
      cairn_buf_append(&out, "\n", 1);
    }
    if (k == last_line[i]) {
      for (int j = slot + 1; j < fresh[i].n; j++) {
        cairn_buf_append_str(&out, fresh[i].v[j]);
        cairn_buf_append(&out, "\n", 1);
      }
    }
  }
  if (users && !users_written)
    for (int j = 0; j < nusers; j++) ll_add(&appended, cairn_xstrdup(users[j]));
  if (appended.n) {
    if (!has_signature) {
      if (n > 0 && lines[n - 1][0] != '\0') cairn_buf_append(&out, "\n", 1);
      cairn_buf_append_str(&out, REWRITE_SIGNATURE "\n");
    }
    for (int k = 0; k < appended.n; k++) {
      cairn_buf_append_str(&out, appended.v[k]);
      cairn_buf_append(&out, "\n", 1);
    }
  }

  int rc = 0;
  if (write_atomically(c->config_file, out.p ? out.p : "", out.len) != 0) {
    snprintf(err, errlen, "ERR Rewriting config file: %s", strerror(errno));
    rc = -1;
  }
  cairn_buf_free(&out);
  ll_free(&appended);
  for (int i = 0; i < NDIRECTIVES; i++) ll_free(&fresh[i]);
  free(owner);
  free_lines(lines, n);
  return rc;
}
