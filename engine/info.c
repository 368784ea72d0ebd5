/* INFO text (cairn_info) and the CLIENT LIST / CLIENT INFO line
 * (cairn_client_describe). Field names and section order follow Redis 7.0;
 * fields cairn cannot give a meaningful value for are left out rather than
 * faked, except the few that clients commonly parse (they get the value a
 * fresh Redis reports, e.g. blocked_clients:0). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "engine/acl.h"
#include "engine/commit.h"
#include "engine/info.h"
#include "engine/prefetch.h"
#include "engine/script.h"
#include "engine/server.h"
#include "engine/tracking.h"
#include "engine/multi.h"
#include "engine/pubsub.h"
#include "engine/store.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- helpers */

/* Redis's bytesToHuman: B, K, M, G, T, P with two decimals. */
static void bytes_human(char *out, size_t cap, unsigned long long n) {
  double d = (double)n;
  if (n < 1024)
    snprintf(out, cap, "%lluB", n);
  else if (n < 1024ULL * 1024)
    snprintf(out, cap, "%.2fK", d / 1024);
  else if (n < 1024ULL * 1024 * 1024)
    snprintf(out, cap, "%.2fM", d / (1024.0 * 1024));
  else if (n < 1024ULL * 1024 * 1024 * 1024)
    snprintf(out, cap, "%.2fG", d / (1024.0 * 1024 * 1024));
  else if (n < 1024ULL * 1024 * 1024 * 1024 * 1024)
    snprintf(out, cap, "%.2fT", d / (1024.0 * 1024 * 1024 * 1024));
  else
    snprintf(out, cap, "%.2fP", d / (1024.0 * 1024 * 1024 * 1024 * 1024));
}

/* Resident set size from /proc/self/statm (second field, in pages). */
static unsigned long long rss_bytes(void) {
  unsigned long long size = 0, resident = 0;
  FILE *fp = fopen("/proc/self/statm", "r");
  if (!fp) return 0;
  if (fscanf(fp, "%llu %llu", &size, &resident) != 2) resident = 0;
  fclose(fp);
  long page = sysconf(_SC_PAGESIZE);
  return resident * (unsigned long long)(page > 0 ? page : 4096);
}

/* used_memory: bytes currently allocated through malloc, as glibc's
 * mallinfo2 reports them (in-use small chunks + mmapped chunks). Unlike Redis
 * this is not an exact count kept by a wrapping allocator, and it does NOT
 * include the LMDB map (the keyspace lives in a memory-mapped file whose pages
 * the kernel manages; see used_memory_rss and lmdb_used_bytes). Under
 * sanitizers malloc is replaced and mallinfo2 reports 0: then the RSS is the
 * only honest number, and it is reported instead. */
static unsigned long long heap_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  return (unsigned long long)mi.uordblks + (unsigned long long)mi.hblkhd;
#else
  return 0;
#endif
}

unsigned long long cairn_used_memory(void) {
  unsigned long long heap = heap_bytes();
  return heap ? heap : rss_bytes();
}

static void executable_path(char *out, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  out[n > 0 ? n : 0] = '\0';
}

/* instantaneous_ops_per_sec without a cron: every INFO call records a
 * (time, commands processed) sample (at most one per 100 ms, 16 kept); the
 * rate is measured against the oldest sample of the last 5 seconds. The first
 * INFO after a quiet period therefore reports 0: the number only means
 * something when INFO is polled, which is how monitoring tools use it. */
#define OPS_SAMPLES CAIRN_OPS_SAMPLES

static long long ops_per_sec(cairn_server *srv) {
  int64_t now = cairn_monotonic_ms();
  uint64_t count = srv->stats.commands_processed;
  long long rate = 0;
  for (int i = 0; i < srv->ops.n; i++) {
    int idx = (srv->ops.head - srv->ops.n + i + OPS_SAMPLES) % OPS_SAMPLES;
    int64_t dt = now - srv->ops.ring[idx].ms;
    if (dt > 5000) continue;
    if (dt >= 100) rate = (long long)((count - srv->ops.ring[idx].count) * 1000 / (uint64_t)dt);
    break;
  }
  int last = (srv->ops.head - 1 + OPS_SAMPLES) % OPS_SAMPLES;
  if (srv->ops.n == 0 || now - srv->ops.ring[last].ms >= 100) {
    srv->ops.ring[srv->ops.head].ms = now;
    srv->ops.ring[srv->ops.head].count = count;
    srv->ops.head = (srv->ops.head + 1) % OPS_SAMPLES;
    if (srv->ops.n < OPS_SAMPLES) srv->ops.n++;
  }
  return rate;
}

/* ---------------------------------------------------------------- call statistics */

/* Latency histogram of one command: log-linear buckets over nanoseconds,
 * 32 sub-buckets per power of two (values within about 3% share a bucket),
 * from 1 ns to 2^40 ns (18 minutes; longer calls land in the last bucket).
 * A percentile is reported as the upper edge of the bucket that holds it,
 * like HdrHistogram's value_at_percentile (Redis uses 2 significant digits;
 * cairn's numbers are coarser, never invented). */
#define LAT_SUB_BITS 5
#define LAT_SUB (1 << LAT_SUB_BITS)
#define LAT_EXPS 41
#define LAT_BUCKETS (LAT_EXPS * LAT_SUB)

typedef struct callstat {
  const cairn_command *cmd; /* NULL: free slot */
  uint64_t calls, ns, rejected, failed;
  uint32_t *hist;           /* LAT_BUCKETS counters, allocated at the first timed call */
  uint64_t hist_count;
} callstat;

typedef struct errorstat {
  char code[32];            /* "" : free slot */
  uint64_t count;
} errorstat;

#define CALLSTAT_SLOTS 1024 /* more than every command and subcommand */
#define ERRORSTAT_SLOTS 128 /* Redis caps distinct error codes at 128 too */

struct cairn_callstats {
  callstat cmds[CALLSTAT_SLOTS];
  errorstat errs[ERRORSTAT_SLOTS];
  int nerrs;
};

static int lat_bucket(uint64_t ns) {
  if (ns < LAT_SUB) return (int)ns;
  int e = 63 - __builtin_clzll(ns); /* >= LAT_SUB_BITS */
  int sub = (int)((ns >> (e - LAT_SUB_BITS)) & (LAT_SUB - 1));
  int idx = (e - LAT_SUB_BITS + 1) * LAT_SUB + sub;
  return idx < LAT_BUCKETS ? idx : LAT_BUCKETS - 1;
}

/* The largest value that falls into bucket idx. */
static uint64_t lat_bucket_top(int idx) {
  if (idx < LAT_SUB) return (uint64_t)idx;
  int e = idx / LAT_SUB - 1 + LAT_SUB_BITS, sub = idx % LAT_SUB;
  uint64_t lo = ((uint64_t)(LAT_SUB + sub)) << (e - LAT_SUB_BITS);
  return lo + (UINT64_C(1) << (e - LAT_SUB_BITS)) - 1;
}

static callstat *callstat_of(struct cairn_callstats *cs, const cairn_command *cmd) {
  uintptr_t h = ((uintptr_t)cmd >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 20;
  for (int i = 0; i < CALLSTAT_SLOTS; i++) {
    callstat *e = &cs->cmds[(h + (uintptr_t)i) & (CALLSTAT_SLOTS - 1)];
    if (e->cmd == cmd) return e;
    if (!e->cmd) {
      e->cmd = cmd;
      return e;
    }
  }
  return NULL;
}

static void errorstat_add(struct cairn_callstats *cs, const char *reply, size_t len) {
  /* "-CODE message\r\n": the code is the first word */
  size_t n = 0;
  while (1 + n < len && n < sizeof(cs->errs[0].code) - 1 && reply[1 + n] != ' ' && reply[1 + n] != '\r') n++;
  for (int i = 0; i < cs->nerrs; i++) {
    if (strlen(cs->errs[i].code) == n && memcmp(cs->errs[i].code, reply + 1, n) == 0) {
      cs->errs[i].count++;
      return;
    }
  }
  if (cs->nerrs == ERRORSTAT_SLOTS) return; /* like Redis: codes past the 128th are not tracked */
  errorstat *e = &cs->errs[cs->nerrs++];
  memcpy(e->code, reply + 1, n);
  e->code[n] = '\0';
  e->count = 1;
}

void cairn_info_record_call(cairn_server *srv, const cairn_command *cmd, int argc, const cairn_str *argv, uint64_t ns,
                            int rejected, const char *reply, size_t len) {
  if (!srv->callstats) srv->callstats = cairn_xcalloc(1, sizeof(*srv->callstats));
  struct cairn_callstats *cs = srv->callstats;
  int is_error = reply && len > 0 && reply[0] == '-';
  if (is_error && !srv->reply_error_counted) errorstat_add(cs, reply, len);
  if (!cmd) return;
  if (cmd->subcommands && argc >= 2) {
    const cairn_command *sub = cairn_subcommand_find(cmd, argv[1]);
    if (sub) cmd = sub;
  }
  callstat *e = callstat_of(cs, cmd);
  if (!e) return;
  if (rejected) {
    e->rejected++;
    return;
  }
  e->calls++;
  e->ns += ns;
  if (is_error) e->failed++;
  if (srv->cfg.latency_tracking) {
    if (!e->hist) e->hist = cairn_xcalloc(LAT_BUCKETS, sizeof(uint32_t));
    e->hist[lat_bucket(ns)]++;
    e->hist_count++;
  }
}

static int sorted_calls(cairn_server *srv, const callstat **out);

int cairn_info_latency_cdf(cairn_server *srv, const cairn_command *cmd, uint64_t *calls, uint64_t *usec, uint64_t *cum,
                           int cap) {
  if (!srv->callstats) return -1;
  callstat *e = NULL;
  for (int i = 0; i < CALLSTAT_SLOTS && !e; i++)
    if (srv->callstats->cmds[i].cmd == cmd) e = &srv->callstats->cmds[i];
  if (!e || !e->hist || !e->hist_count) return -1;
  *calls = e->hist_count;
  int n = 0, b = 0;
  uint64_t seen = 0, prev = 0;
  /* Redis's hdr_iter_log(1024 ns, base 2): the cumulative count below
   * 1024 * 2^k ns, reported in microseconds, where it grew. 2^(10+k) is a
   * bucket edge here, so the counts are exact. */
  for (int k = 0; k + 10 < LAT_EXPS && n < cap && seen < e->hist_count; k++) {
    uint64_t edge = UINT64_C(1) << (10 + k);
    while (b < LAT_BUCKETS && (lat_bucket_top(b) < edge || b == LAT_BUCKETS - 1)) seen += e->hist[b++];
    if (seen > prev) {
      usec[n] = edge / 1000;
      cum[n++] = seen;
    }
    prev = seen;
  }
  return n;
}

int cairn_info_timed_commands(cairn_server *srv, const cairn_command **out, int cap) {
  const callstat *v[CALLSTAT_SLOTS];
  int n = sorted_calls(srv, v), m = 0;
  for (int i = 0; i < n && m < cap; i++)
    if (v[i]->hist && v[i]->hist_count) out[m++] = v[i]->cmd;
  return m;
}

void cairn_info_free_calls(cairn_server *srv) {
  if (!srv->callstats) return;
  for (int i = 0; i < CALLSTAT_SLOTS; i++) free(srv->callstats->cmds[i].hist);
  free(srv->callstats);
  srv->callstats = NULL;
}

void cairn_info_reset_calls(cairn_server *srv) { cairn_info_free_calls(srv); }

/* Redis's section order: by command name. */
static int cmp_callstat(const void *a, const void *b) {
  const callstat *x = *(const callstat *const *)a, *y = *(const callstat *const *)b;
  return strcmp(x->cmd->name, y->cmd->name);
}

static int sorted_calls(cairn_server *srv, const callstat **out) {
  int n = 0;
  if (!srv->callstats) return 0;
  for (int i = 0; i < CALLSTAT_SLOTS; i++) {
    const callstat *e = &srv->callstats->cmds[i];
    if (e->cmd && (e->calls || e->rejected || e->failed)) out[n++] = e;
  }
  qsort(out, (size_t)n, sizeof(*out), cmp_callstat);
  return n;
}

/* Redis's trimDoubleString of "%f". */
static void percentile_name(char *buf, size_t cap, double p) {
  int n = snprintf(buf, cap, "%f", p);
  if (strchr(buf, '.')) {
    while (n > 0 && buf[n - 1] == '0') buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.') buf[--n] = '\0';
  }
}

static uint64_t hist_value_at(const callstat *e, double pct) {
  double exact = pct / 100.0 * (double)e->hist_count;
  uint64_t want = (uint64_t)exact;
  if ((double)want < exact || want == 0) want++;
  uint64_t seen = 0;
  for (int i = 0; i < LAT_BUCKETS; i++) {
    seen += e->hist[i];
    if (seen >= want) return lat_bucket_top(i);
  }
  return lat_bucket_top(LAT_BUCKETS - 1);
}

static void sec_commandstats(cairn_server *srv, cairn_buf *o) {
  const callstat *v[CALLSTAT_SLOTS];
  int n = sorted_calls(srv, v);
  cairn_buf_append_str(o, "# Commandstats\r\n");
  for (int i = 0; i < n; i++) {
    const callstat *e = v[i];
    uint64_t usec = e->ns / 1000;
    cairn_buf_printf(o, "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,failed_calls=%llu\r\n",
                     e->cmd->name, (unsigned long long)e->calls, (unsigned long long)usec,
                     e->calls ? (double)usec / (double)e->calls : 0.0, (unsigned long long)e->rejected,
                     (unsigned long long)e->failed);
  }
}

static void sec_errorstats(cairn_server *srv, cairn_buf *o) {
  cairn_buf_append_str(o, "# Errorstats\r\n");
  if (!srv->callstats) return;
  for (int i = 0; i < srv->callstats->nerrs; i++)
    cairn_buf_printf(o, "errorstat_%s:count=%llu\r\n", srv->callstats->errs[i].code,
                     (unsigned long long)srv->callstats->errs[i].count);
}

static void sec_latencystats(cairn_server *srv, cairn_buf *o) {
  const callstat *v[CALLSTAT_SLOTS];
  int n = sorted_calls(srv, v);
  cairn_buf_append_str(o, "# Latencystats\r\n");
  const char *pcts = srv->cfg.latency_tracking_info_percentiles ? srv->cfg.latency_tracking_info_percentiles : "";
  for (int i = 0; i < n; i++) {
    const callstat *e = v[i];
    if (!e->hist || !e->hist_count) continue;
    cairn_buf_printf(o, "latency_percentiles_usec_%s:", e->cmd->name);
    const char *p = pcts;
    int first = 1;
    while (*p) {
      char *end;
      double pct = strtod(p, &end);
      if (end == p) break;
      char name[64];
      percentile_name(name, sizeof(name), pct);
      cairn_buf_printf(o, "%sp%s=%.3f", first ? "" : ",", name, (double)hist_value_at(e, pct) / 1000.0);
      first = 0;
      p = end;
      while (*p == ' ') p++;
    }
    cairn_buf_append_str(o, "\r\n");
  }
}

static void sec_cpu(cairn_server *srv, cairn_buf *o) {
  struct rusage self, children;
  memset(&self, 0, sizeof(self));
  memset(&children, 0, sizeof(children));
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
#define TV(t) ((double)(t).tv_sec + (double)(t).tv_usec / 1000000.0)
  cairn_buf_printf(o,
                   "# CPU\r\n"
                   "used_cpu_sys:%.6f\r\n"
                   "used_cpu_user:%.6f\r\n"
                   "used_cpu_sys_children:%.6f\r\n"
                   "used_cpu_user_children:%.6f\r\n",
                   TV(self.ru_stime), TV(self.ru_utime), TV(children.ru_stime), TV(children.ru_utime));
#ifdef RUSAGE_THREAD
  struct rusage main_thread;
  memset(&main_thread, 0, sizeof(main_thread));
  /* INFO runs on the loop thread: this is the main thread's share */
  getrusage(RUSAGE_THREAD, &main_thread);
  cairn_buf_printf(o, "used_cpu_sys_main_thread:%.6f\r\nused_cpu_user_main_thread:%.6f\r\n", TV(main_thread.ru_stime),
                   TV(main_thread.ru_utime));
#endif
#undef TV
}

static void sec_modules(cairn_server *srv, cairn_buf *o) { cairn_buf_append_str(o, "# Modules\r\n"); }

static void sec_cluster(cairn_server *srv, cairn_buf *o) { cairn_buf_append_str(o, "# Cluster\r\ncluster_enabled:0\r\n"); }

/* ---------------------------------------------------------------- sections */

static void sec_server(cairn_server *srv, cairn_buf *o) {
  struct utsname un;
  if (uname(&un) != 0) memset(&un, 0, sizeof(un));
  char exe[1024];
  executable_path(exe, sizeof(exe));
  int64_t uptime = (cairn_mstime() - srv->start_ms) / 1000;
  cairn_buf_printf(o,
                   "# Server\r\n"
                   "redis_version:%s\r\n"
                   "cairn_version:%s\r\n"
                   "redis_git_sha1:00000000\r\n"
                   "redis_git_dirty:0\r\n"
                   "redis_mode:standalone\r\n"
                   "os:%s %s %s\r\n"
                   "arch_bits:%d\r\n"
                   "multiplexing_api:libuv %s\r\n"
                   "process_id:%ld\r\n"
                   "process_supervised:no\r\n"
                   "run_id:%s\r\n"
                   "tcp_port:%d\r\n"
                   "server_time_usec:%lld\r\n"
                   "uptime_in_seconds:%lld\r\n"
                   "uptime_in_days:%lld\r\n"
                   "hz:%d\r\n"
                   "configured_hz:%d\r\n"
                   "executable:%s\r\n"
                   "config_file:%s\r\n"
                   "io_threads_active:0\r\n",
                   CAIRN_REDIS_VERSION, CAIRN_VERSION, un.sysname, un.release, un.machine,
                   (int)(sizeof(void *) * 8), uv_version_string(), (long)getpid(), srv->run_id,
                   srv->tcp_port_bound ? srv->tcp_port_bound : srv->cfg.port, (long long)cairn_ustime(),
                   (long long)uptime, (long long)(uptime / 86400), srv->cfg.hz, srv->cfg.hz, exe,
                   srv->cfg.config_file ? srv->cfg.config_file : "");
}

static void sec_clients(cairn_server *srv, cairn_buf *o) {
  /* Blocked clients (BLPOP & co, WAIT) counted here: INFO is rare, the
   * blocking paths stay free of bookkeeping. */
  int blocked = 0, timed = 0, replicas = 0;
  for (cairn_client *c = srv->clients; c; c = c->next) {
    if (c->flags & CAIRN_CLIENT_REPLICA) replicas++;
    if (!(c->flags & (CAIRN_CLIENT_BLOCKED | CAIRN_CLIENT_POSTPONED))) continue; /* paused: Redis counts them */
    blocked++;
    if (c->block_deadline_ms) timed++;
  }
  cairn_buf_printf(o,
                   "# Clients\r\n"
                   "connected_clients:%d\r\n"
                   "cluster_connections:0\r\n"
                   "maxclients:%d\r\n"
                   "blocked_clients:%d\r\n"
                   "tracking_clients:%d\r\n"
                   "clients_in_timeout_table:%d\r\n",
                   /* Redis's count: replicas out, the master link in */
                   srv->nclients - replicas + (srv->master_link_up ? 1 : 0), srv->cfg.maxclients, blocked,
                   cairn_tracking_clients(srv), timed);
}

/* MEMORY STATS: the fields of Redis 7.0's that cairn measures (no
 * allocator of its own, so no allocator.* or fragmentation fields; the data
 * set is LMDB's live bytes, on disk and in the page cache, not the heap). */
void cairn_info_memory_stats(cairn_server *srv, cairn_reply *r) {
  unsigned long long rss = rss_bytes(), used = cairn_used_memory();
  unsigned long long clients = 0, replicas = 0;
  for (cairn_client *c = srv->clients; c; c = c->next) {
    unsigned long long b = c->query.cap + c->out.cap + c->inflight.cap;
    if (c->flags & CAIRN_CLIENT_REPLICA)
      replicas += b;
    else
      clients += b;
  }
  unsigned long long keys = 0;
  for (int db = 0; db < srv->cfg.databases; db++) keys += cairn_store_dbsize(srv->store, db);
  unsigned long long dataset = cairn_store_live_bytes(srv->store);
  long long lua = cairn_script_memory(srv), fn = cairn_function_memory(srv);
  cairn_reply_map(r, 11);
  cairn_reply_bulk_str(r, "total.allocated");
  cairn_reply_int(r, (long long)used);
  cairn_reply_bulk_str(r, "replication.backlog");
  cairn_reply_int(r, 0); /* the backlog is on disk (replication/backlog) */
  cairn_reply_bulk_str(r, "clients.slaves");
  cairn_reply_int(r, (long long)replicas);
  cairn_reply_bulk_str(r, "clients.normal");
  cairn_reply_int(r, (long long)clients);
  cairn_reply_bulk_str(r, "lua.caches");
  cairn_reply_int(r, lua);
  cairn_reply_bulk_str(r, "functions.caches");
  cairn_reply_int(r, fn);
  cairn_reply_bulk_str(r, "overlay.bytes"); /* cairn's: writes not in LMDB yet */
  cairn_reply_int(r, (long long)cairn_store_overlay_bytes(srv->store));
  cairn_reply_bulk_str(r, "keys.count");
  cairn_reply_int(r, (long long)keys);
  cairn_reply_bulk_str(r, "keys.bytes-per-key");
  cairn_reply_int(r, keys ? (long long)(dataset / keys) : 0);
  cairn_reply_bulk_str(r, "dataset.bytes"); /* LMDB's live bytes */
  cairn_reply_int(r, (long long)dataset);
  cairn_reply_bulk_str(r, "rss.bytes");
  cairn_reply_int(r, (long long)rss);
}

/* MEMORY DOCTOR: Redis's texts for "too little to tell" and "no issue";
 * the issue cairn can see is a write overlay near its budget. */
void cairn_info_memory_doctor(cairn_server *srv, cairn_buf *out) {
  unsigned long long used = cairn_used_memory();
  uint64_t ov = cairn_store_overlay_bytes(srv->store);
  long long budget = srv->cfg.overlay_max_memory;
  if (budget > 0 && ov * 10 >= (uint64_t)budget * 9) {
    cairn_buf_printf(out,
                     "Sam, I detected a few issues in this cairn instance memory implants:\n\n"
                     " * The write overlay holds %llu bytes, %.0f%% of overlay-max-memory (%lld): the store "
                     "thread is behind LMDB's writes, and writers are being slowed down (INFO cairn: "
                     "writer_throttled, writer_stalls, store_drain_last_ms). A bigger overlay-max-memory "
                     "absorbs longer bursts; a faster disk drains them.\n\n"
                     "I'm here to keep you safe, Sam. I want to help you.\n",
                     (unsigned long long)ov, 100.0 * (double)ov / (double)budget, budget);
  } else if (used < 5 * 1024 * 1024) {
    cairn_buf_printf(out, "Hi Sam, this instance is empty or is using very little memory, my issues detector can't "
                          "be used in these conditions. Please, leave for your mission on Earth and fill it with "
                          "some data. The new Sam and I will be back to our programming as soon as I finished "
                          "rebooting.\n");
  } else {
    cairn_buf_printf(out, "Hi Sam, I can't find any memory issue in your instance. I can only account for what "
                          "occurs on this base.\n");
  }
}

static void sec_memory(cairn_server *srv, cairn_buf *o) {
  unsigned long long rss = rss_bytes(), used = cairn_used_memory();
  char h_used[32], h_rss[32];
  bytes_human(h_used, sizeof(h_used), used);
  bytes_human(h_rss, sizeof(h_rss), rss);
  /* maxmemory refuses commands that may add data while used_memory is over
   * it (cairn_oom_refusal); the keyspace itself is bounded by
   * lmdb-max-map-size, see conf/cairn.conf */
  /* Lua: EVAL's state and the functions' state (engine/script.c) */
  long long lua_eval = cairn_script_memory(srv), lua_fn = cairn_function_memory(srv), nlibs = 0, nfuncs = 0;
  cairn_functions_counts(srv, &nlibs, &nfuncs);
  char h_lua[32], h_lua_total[32];
  bytes_human(h_lua, sizeof(h_lua), (unsigned long long)lua_eval);
  bytes_human(h_lua_total, sizeof(h_lua_total), (unsigned long long)(lua_eval + lua_fn));
  char h_max[32], policy[24];
  bytes_human(h_max, sizeof(h_max), (unsigned long long)srv->cfg.maxmemory);
  cairn_config_format(&srv->cfg, "maxmemory-policy", policy, sizeof(policy));
  cairn_buf_printf(o,
                   "# Memory\r\n"
                   "used_memory:%llu\r\n"
                   "used_memory_human:%s\r\n"
                   "used_memory_rss:%llu\r\n"
                   "used_memory_rss_human:%s\r\n"
                   "used_memory_lua:%lld\r\n"
                   "used_memory_vm_eval:%lld\r\n"
                   "used_memory_lua_human:%s\r\n"
                   "number_of_cached_scripts:%lld\r\n"
                   "number_of_functions:%lld\r\n"
                   "number_of_libraries:%lld\r\n"
                   "used_memory_vm_functions:%lld\r\n"
                   "used_memory_vm_total:%lld\r\n"
                   "used_memory_vm_total_human:%s\r\n"
                   "maxmemory:%lld\r\n"
                   "maxmemory_human:%s\r\n"
                   "maxmemory_policy:%s\r\n"
                   "mem_allocator:libc\r\n"
                   "lazyfree_pending_objects:0\r\n"
                   "lmdb_map_size:%llu\r\n"
                   "lmdb_used_bytes:%llu\r\n",
                   used, h_used, rss, h_rss, lua_eval, lua_eval, h_lua, cairn_script_count(srv), nfuncs, nlibs,
                   lua_fn, lua_eval + lua_fn, h_lua_total, srv->cfg.maxmemory, h_max, policy,
                   (unsigned long long)cairn_store_map_size(srv->store),
                   (unsigned long long)cairn_store_used_bytes(srv->store));
}

static void sec_persistence(cairn_server *srv, cairn_buf *o) {
  cairn_stats *st = &srv->stats;
  uint64_t first = srv->wal.first(srv->wal.ud), end = srv->wal.end(srv->wal.ud);
  uint64_t ckpt = cairn_store_durable_offset(srv->store);
  /* rdb_changes_since_last_save: Redis's count of changes (server.dirty)
   * made since the last checkpoint LMDB holds on disk. */
  uint64_t changes = srv->dirty - srv->dirty_saved;
  cairn_wal_stats ws;
  srv->wal.stats(srv->wal.ud, &ws);
  int64_t age = ws.oldest_ms ? (cairn_mstime() - ws.oldest_ms) / 1000 : 0;
  cairn_buf_printf(o,
                   "# Persistence\r\n"
                   "loading:0\r\n"
                   "async_loading:0\r\n"
                   "rdb_changes_since_last_save:%llu\r\n"
                   "rdb_bgsave_in_progress:0\r\n"
                   "rdb_last_save_time:%lld\r\n"
                   "rdb_last_bgsave_status:%s\r\n"
                   "rdb_last_bgsave_time_sec:-1\r\n"
                   "rdb_current_bgsave_time_sec:-1\r\n"
                   "aof_enabled:0\r\n"
                   "aof_rewrite_in_progress:0\r\n"
                   "aof_rewrite_scheduled:0\r\n"
                   "aof_last_write_status:%s\r\n"
                   "durability:%s\r\n"
                   "checkpoints:%llu\r\n"
                   "checkpoint_avg_us:%llu\r\n"
                   "checkpoint_offset:%llu\r\n"
                   "wal_first_offset:%llu\r\n"
                   "wal_last_offset:%llu\r\n"
                   "wal_disk_bytes:%llu\r\n"
                   "wal_segments:%d\r\n"
                   "wal_oldest_age_sec:%lld\r\n"
                   "wal_stream_bytes:%llu\r\n"
                   "wal_raw_disk_bytes:%llu\r\n"
                   "wal_compressed_bytes:%llu\r\n"
                   "wal_compressed_segments:%d\r\n"
                   "wal_compression_ratio:%.2f\r\n"
                   "wal_pending_seals:%d\r\n"
                   "wal_corrupt_frames:%llu\r\n"
                   "wal_preallocated:%d\r\n"
                   "wal_spare_ready:%d\r\n"
                   "wal_adopted_frames:%llu\r\n"
                   "wal_adopted_stream_bytes:%llu\r\n"
                   "wal_adopt_mismatches:%llu\r\n"
                   "backlog_corruptions:%llu\r\n"
                   "backlog_torn_tail_bytes_cut:%llu\r\n"
                   "backlog_corrupt_bytes_cut:%llu\r\n"
                   "wal_records:%llu\r\n"
                   "wal_bytes:%llu\r\n"
                   "wal_syncs:%llu\r\n"
                   "wal_inline_syncs:%llu\r\n"
                   "wal_sync_avg_us:%llu\r\n"
                   "wal_write_error:%d\r\n"
                   "lmdb_map_size:%llu\r\n"
                   "lmdb_used_bytes:%llu\r\n"
                   "lmdb_live_bytes:%llu\r\n"
                   "lmdb_map_grows:%llu\r\n"
                   "rollbacks:%llu\r\n"
                   "flushed_dbs_sweeping:%d\r\n",
                   (unsigned long long)changes, (long long)srv->last_save_time,
                   srv->store_error ? "err" : "ok", srv->write_error ? "err" : "ok",
                   srv->cfg.durability == CAIRN_DURABILITY_STRICT ? "strict" : "relaxed",
                   (unsigned long long)st->checkpoints,
                   (unsigned long long)(st->checkpoints ? st->checkpoint_us_total / st->checkpoints : 0),
                   (unsigned long long)ckpt, (unsigned long long)first, (unsigned long long)end,
                   (unsigned long long)ws.disk_bytes, ws.segments, (long long)age,
                   (unsigned long long)ws.stream_bytes, (unsigned long long)ws.raw_disk_bytes,
                   (unsigned long long)ws.compressed_disk_bytes, ws.compressed_segments, ws.ratio, ws.pending_seals,
                   (unsigned long long)ws.corrupt_frames, ws.active_preallocated, ws.spare_ready,
                   (unsigned long long)ws.adopted_frames, (unsigned long long)ws.adopted_stream_bytes,
                   (unsigned long long)ws.adopt_mismatches,
                   (unsigned long long)ws.corruptions,
                   (unsigned long long)ws.torn_tail_bytes_cut, (unsigned long long)ws.corrupt_bytes_cut,
                   (unsigned long long)st->wal_records, (unsigned long long)st->wal_bytes,
                   (unsigned long long)st->wal_syncs, (unsigned long long)st->wal_inline_syncs,
                   (unsigned long long)(st->wal_syncs ? st->wal_sync_us_total / st->wal_syncs : 0),
                   srv->write_error, (unsigned long long)cairn_store_map_size(srv->store),
                   (unsigned long long)cairn_store_used_bytes(srv->store),
                   (unsigned long long)cairn_store_live_bytes(srv->store), (unsigned long long)cairn_store_map_grows(srv->store),
                   (unsigned long long)st->rollbacks, cairn_store_sweep_pending(srv->store));
}

static void sec_stats(cairn_server *srv, cairn_buf *o) {
  cairn_stats *st = &srv->stats;
  long channels = 0, patterns = 0, shard_channels = 0;
  cairn_pubsub_counts(srv, &channels, &patterns, &shard_channels);
  cairn_buf_printf(o,
                   "# Stats\r\n"
                   "total_connections_received:%llu\r\n"
                   "total_commands_processed:%llu\r\n"
                   "instantaneous_ops_per_sec:%lld\r\n"
                   "total_net_input_bytes:%llu\r\n"
                   "total_net_output_bytes:%llu\r\n"
                   "rejected_connections:%llu\r\n"
                   "sync_full:%llu\r\n"
                   "sync_partial_ok:%llu\r\n"
                   "sync_partial_err:%llu\r\n"
                   "sync_full_resumed:%llu\r\n"
                   "expired_keys:%llu\r\n"
                   "evicted_keys:0\r\n"
                   "keyspace_hits:%llu\r\n"
                   "keyspace_misses:%llu\r\n"
                   "pubsub_channels:%ld\r\n"
                   "pubsub_patterns:%ld\r\n"
                   "pubsubshard_channels:%ld\r\n"
                   "migrate_cached_sockets:0\r\n" /* MIGRATE keeps no connection (engine/cmd/dump.c) */
                   "tracking_total_keys:%llu\r\n"
                   "tracking_total_items:%llu\r\n"
                   "tracking_total_prefixes:%llu\r\n"
                   "total_error_replies:%llu\r\n"
                   "iterations_with_writes:%llu\r\n",
                   (unsigned long long)st->connections_received, (unsigned long long)st->commands_processed,
                   ops_per_sec(srv), (unsigned long long)st->net_input_bytes,
                   (unsigned long long)st->net_output_bytes, (unsigned long long)st->rejected_connections,
                   (unsigned long long)st->sync_full, (unsigned long long)st->sync_partial_ok,
                   (unsigned long long)st->sync_partial_err, (unsigned long long)st->sync_full_resumed,
                   (unsigned long long)st->expired_keys, (unsigned long long)st->keyspace_hits,
                   (unsigned long long)st->keyspace_misses, channels, patterns, shard_channels,
                   cairn_tracking_total_keys(srv),
                   cairn_tracking_total_items(srv), cairn_tracking_total_prefixes(srv),
                   (unsigned long long)st->total_error_replies,
                   (unsigned long long)st->iterations_with_writes);
}

static void sec_replication(cairn_server *srv, cairn_buf *o) {
  if (srv->repl_hooks.info) {
    srv->repl_hooks.info(srv, o);
    return;
  }
  uint64_t first = srv->wal.first(srv->wal.ud), end = srv->wal.end(srv->wal.ud);
  uint64_t histlen = end >= first ? end - first + 1 : 0;
  /* master_replid: replication ids arrive with the replication work; until
   * then the run id stands in (it changes at every start, which is what a
   * replid without persistence would do too). */
  cairn_buf_printf(o,
                   "# Replication\r\n"
                   "role:master\r\n"
                   "connected_slaves:0\r\n"
                   "master_failover_state:no-failover\r\n"
                   "master_replid:%s\r\n"
                   "master_replid2:0000000000000000000000000000000000000000\r\n"
                   "master_repl_offset:%llu\r\n"
                   "second_repl_offset:-1\r\n"
                   "repl_backlog_active:1\r\n"
                   "repl_backlog_size:%lld\r\n"
                   "repl_backlog_first_byte_offset:%llu\r\n"
                   "repl_backlog_histlen:%llu\r\n",
                   srv->run_id, (unsigned long long)srv->stream_offset, srv->cfg.backlog_retention_bytes,
                   (unsigned long long)first, (unsigned long long)histlen);
}

static void sec_keyspace(cairn_server *srv, cairn_buf *o) {
  cairn_buf_append_str(o, "# Keyspace\r\n");
  for (int db = 0; db < cairn_store_databases(srv->store); db++) {
    uint64_t keys = cairn_store_dbsize(srv->store, db);
    if (!keys) continue;
    cairn_buf_printf(o, "db%d:keys=%llu,expires=%llu,avg_ttl=0\r\n", db, (unsigned long long)keys,
                     (unsigned long long)cairn_store_expires_count(srv->store, db));
  }
}

static void sec_cairn(cairn_server *srv, cairn_buf *o) {
  size_t used, kept;
  cairn_huge_blocks_stats(&used, &kept);
  cairn_buf_printf(o,
                   "# Cairn\r\n"
                   "cairn_version:%s\r\n"
                   "durability:%s\r\n"
                   "checkpoint_interval_ms:%lld\r\n"
                   "checkpoint_bytes:%lld\r\n"
                   "checkpoint_last_ms:%lld\r\n"
                   "store_dirty:%llu\r\n"
                   "overlay_bytes:%llu\r\n"
                   "overlay_max_memory:%lld\r\n"
                   "overlay_blocks_kept:%llu\r\n"
                   "overlay_active_entries:%llu\r\n"
                   "overlay_frozen_layers:%d\r\n"
                   "overlay_dead_range_jumps:%llu\r\n"
                   "overlay_tombstones_skipped:%llu\r\n"
                   "store_drains:%llu\r\n"
                   "store_drain_last_ms:%lld\r\n"
                   "store_drains_failed:%llu\r\n"
                   "store_drain_error:%d\r\n"
                   "store_writes_refused:%llu\r\n"
                   "store_full:%d\r\n"
                   "store_offset_on_disk:%llu\r\n"
                   "writer_stalls:%llu\r\n"
                   "writer_throttled:%llu\r\n"
                   "loop_longest_iteration_us:%llu\r\n"
                   "loop_longest_iteration_commands:%llu\r\n"
                   "loop_longest_iteration_cpu_us:%llu\r\n"
                   "flush_sweep_pending:%d\r\n"
                   "collections_sweep_pending:%llu\r\n",
                   CAIRN_VERSION, srv->cfg.durability == CAIRN_DURABILITY_STRICT ? "strict" : "relaxed",
                   srv->cfg.checkpoint_interval_ms, srv->cfg.checkpoint_bytes,
                   (long long)cairn_store_last_checkpoint_ms(srv->store),
                   (unsigned long long)cairn_store_dirty(srv->store),
                   (unsigned long long)cairn_store_overlay_bytes(srv->store), srv->cfg.overlay_max_memory,
                   (unsigned long long)kept, (unsigned long long)cairn_store_dirty_entries(srv->store),
                   cairn_store_frozen_layers(srv->store), (unsigned long long)cairn_store_range_jumps(srv->store),
                   (unsigned long long)cairn_store_tombstones_skipped(srv->store),
                   (unsigned long long)cairn_store_checkpoints(srv->store), (long long)cairn_store_last_checkpoint_ms(srv->store),
                   (unsigned long long)cairn_store_drains_failed(srv->store), srv->store_error,
                   (unsigned long long)srv->stats.store_writes_refused,
                   cairn_store_full(srv->store), (unsigned long long)cairn_store_durable_offset(srv->store),
                   (unsigned long long)srv->stats.writer_stalls, (unsigned long long)srv->stats.writer_throttled,
                   (unsigned long long)srv->stats.longest_iteration_us,
                   (unsigned long long)srv->stats.longest_iteration_commands,
                   (unsigned long long)srv->stats.longest_iteration_cpu_us,
                   cairn_store_sweep_pending(srv->store), (unsigned long long)cairn_store_coll_garbage(srv->store));
  cairn_store_runs runs;
  cairn_store_run_stats(srv->store, &runs);
  cairn_buf_printf(o,
                   "overlay_merge_bytes:%lld\r\n"
                   "store_drain_last_entries:%llu\r\n"
                   "store_runs:%llu\r\n"
                   "store_runs_written:%llu\r\n"
                   "store_run_errors:%llu\r\n",
                   srv->cfg.overlay_merge_bytes, (unsigned long long)runs.last_drain_entries,
                   (unsigned long long)runs.on_disk, (unsigned long long)runs.written, (unsigned long long)runs.errors);
  cairn_store_deferred dl;
  cairn_store_deferred_stats(srv->store, &dl);
  cairn_buf_printf(o,
                   "deferred_lookups:%llu\r\n"
                   "deferred_lookups_pending:%llu\r\n"
                   "deferred_lookups_waits:%llu\r\n"
                   "deferred_lookups_wait_us:%llu\r\n"
                   "deferred_lookups_on_loop:%llu\r\n",
                   (unsigned long long)dl.puts, (unsigned long long)dl.pending, (unsigned long long)dl.waits,
                   (unsigned long long)dl.wait_us, (unsigned long long)dl.on_loop);
  cairn_prefetch_info(srv, o);
}

typedef struct section {
  const char *name;
  void (*fn)(cairn_server *, cairn_buf *);
  int in_default;
  int in_all;    /* "all" has every section but the modules' own ("everything" has those too) */
} section;

/* Redis 7.0's order and default set (server clients memory persistence
 * stats replication cpu module_list errorstats cluster keyspace), then
 * commandstats and latencystats (in "all"), then cairn's own. Redis's
 * "modules" section is the module list (cairn has none: an empty section). */
static const section sections[] = {
    {"server", sec_server, 1, 1},           {"clients", sec_clients, 1, 1},
    {"memory", sec_memory, 1, 1},           {"persistence", sec_persistence, 1, 1},
    {"stats", sec_stats, 1, 1},             {"replication", sec_replication, 1, 1},
    {"cpu", sec_cpu, 1, 1},                 {"modules", sec_modules, 1, 1},
    {"errorstats", sec_errorstats, 1, 1},   {"cluster", sec_cluster, 1, 1},
    {"keyspace", sec_keyspace, 1, 1},       {"commandstats", sec_commandstats, 0, 1},
    {"latencystats", sec_latencystats, 0, 1}, {"cairn", sec_cairn, 0, 1},
};
#define NSECTIONS ((int)(sizeof(sections) / sizeof(sections[0])))

/* section: a name, "default", "all" or "everything" (case-insensitive).
 * Appends the sections in the fixed order, each after a blank line except the
 * first; an unknown name adds nothing (Redis replies an empty string). */
void cairn_info(cairn_server *srv, const char *section, cairn_buf *out) {
  int all = !strcasecmp(section, "all") || !strcasecmp(section, "everything");
  int def = !strcasecmp(section, "default");
  for (int i = 0; i < NSECTIONS; i++) {
    const struct section *s = &sections[i];
    if (!((all && s->in_all) || (def && s->in_default) || !strcasecmp(section, s->name))) continue;
    if (out->len) cairn_buf_append(out, "\r\n", 2);
    s->fn(srv, out);
  }
}

/* Used by INFO with several section names: each section at most once. */
int cairn_info_section_index(const char *name) {
  for (int i = 0; i < NSECTIONS; i++)
    if (!strcasecmp(name, sections[i].name)) return i;
  return -1;
}

int cairn_info_section_count(void) { return NSECTIONS; }
const char *cairn_info_section_name(int i) { return sections[i].name; }
int cairn_info_section_default(int i) { return sections[i].in_default; }

/* ---------------------------------------------------------------- CLIENT LIST */

void cairn_client_describe(cairn_client *c, cairn_buf *out) {
  char flags[16];
  int nf = 0;
  if (c->flags & CAIRN_CLIENT_REPLICA) flags[nf++] = 'S';
  if (c->flags & CAIRN_CLIENT_MONITOR) flags[nf++] = 'O';
  if (c->flags & CAIRN_CLIENT_PUBSUB) flags[nf++] = 'P';
  if (c->flags & CAIRN_CLIENT_MULTI) flags[nf++] = 'x';
  if (c->flags & (CAIRN_CLIENT_BLOCKED | CAIRN_CLIENT_POSTPONED)) flags[nf++] = 'b';
  cairn_tracking_flags(c, flags, &nf);
  if (c->flags & CAIRN_CLIENT_DIRTY_CAS) flags[nf++] = 'd';
  if (c->flags & CAIRN_CLIENT_CLOSE_AFTER_REPLY) flags[nf++] = 'c';
  if (c->flags & CAIRN_CLIENT_UNIX) flags[nf++] = 'U';
  if (c->flags & CAIRN_CLIENT_NO_EVICT) flags[nf++] = 'e';
  if (c->flags & CAIRN_CLIENT_NO_TOUCH) flags[nf++] = 'T';
  if (nf == 0) flags[nf++] = 'N';
  flags[nf] = '\0';
  int64_t now = cairn_monotonic_ms();
  uv_os_fd_t fd = -1;
  if (uv_fileno(&c->h.handle, &fd) != 0) fd = -1;
  size_t qbuf = c->query.len - c->qpos;
  size_t qfree = c->query.cap - c->query.len;
  size_t mmem = cairn_multi_memory(c);
  size_t tot = sizeof(*c) + c->query.cap + c->out.cap + c->inflight.cap + c->argv_cap * sizeof(cairn_str) + mmem;
  long nsub = 0, npsub = 0, nssub = 0;
  cairn_pubsub_client_counts(c, &nsub, &npsub, &nssub);
  cairn_buf_printf(out,
                   "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=%d sub=%ld psub=%ld ssub=%ld "
                   "multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=%zu rbs=%zu rbp=%zu obl=%zu oll=0 "
                   "omem=%zu tot-mem=%zu events=r%s cmd=%s user=%s redir=%lld resp=%d\n",
                   (unsigned long long)c->id, c->addr, c->laddr, (int)fd, c->name ? c->name : "",
                   (long long)((now - c->created_ms) / 1000), (long long)((now - c->last_interaction_ms) / 1000),
                   flags, c->db, nsub, npsub, nssub, cairn_multi_count(c), qbuf, qfree, mmem, c->out.cap, c->out.cap,
                   c->out.len, c->inflight.len, tot,
                   c->writing ? "w" : "", c->last_cmd ? c->last_cmd : "NULL", cairn_acl_client_username(c), cairn_tracking_redir(c), c->resp);
}

/* The master link's line: Redis's fields for its master client (flags=M,
 * user (superuser)); cmd is not tracked for the stream (NULL). */
void cairn_master_client_describe(const cairn_master_client *m, cairn_buf *out) {
  int64_t now = cairn_monotonic_ms();
  cairn_buf_printf(out,
                   "id=%llu addr=%s laddr=%s fd=%d name= age=%lld idle=%lld flags=M db=%d sub=0 psub=0 ssub=0 "
                   "multi=-1 qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu rbp=%zu obl=0 oll=0 omem=0 "
                   "tot-mem=%zu events=r cmd=NULL user=(superuser) redir=-1 resp=2\n",
                   (unsigned long long)m->id, m->addr, m->laddr, m->fd, (long long)((now - m->created_ms) / 1000),
                   (long long)((now - m->last_io_ms) / 1000), m->db, m->qbuf, m->qbuf_cap - m->qbuf, m->qbuf_cap,
                   m->qbuf_cap, m->qbuf_cap);
}
