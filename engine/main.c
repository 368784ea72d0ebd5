/* cairn-server: parse configuration, open the store and the backlog, recover,
 * listen, run. The only place where engine/ and replication/ are wired. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/commit.h"
#include "engine/config.h"
#include "engine/log.h"
#include "engine/server.h"
#include "engine/util.h"
#include "replication/backlog/backlog.h"
#include "replication/repl.h"

/* ---- the backlog behind the engine's WAL interface */
static int wal_append(void *ud, const void *p, size_t n) { return cairn_backlog_append(ud, p, n); }
static int wal_sync(void *ud) { return cairn_backlog_sync(ud); }
static void *wal_sync_begin(void *ud, uint64_t *end) {
  cairn_backlog_sync_token *t = malloc(sizeof(*t));
  if (!t) return NULL;
  if (cairn_backlog_sync_begin(ud, t) != 0) {
    int e = errno;
    free(t);
    errno = e;
    return NULL;
  }
  *end = t->end;
  return t;
}
static int wal_sync_run(void *token) {
  int rc = cairn_backlog_sync_run(token);
  int e = errno;
  free(token);
  errno = e;
  return rc;
}
static uint64_t wal_first(void *ud) { return cairn_backlog_first(ud); }
static uint64_t wal_end(void *ud) { return cairn_backlog_end(ud); }
static void *wal_cursor_open(void *ud, uint64_t off) {
  cairn_backlog_cursor *c = NULL;
  return cairn_backlog_cursor_open(ud, off, &c) == 0 ? c : NULL;
}
static long wal_cursor_next(void *cur, void *buf, size_t cap) { return cairn_backlog_cursor_next(cur, buf, cap); }
static void wal_cursor_close(void *cur) { cairn_backlog_cursor_close(cur); }
static int wal_maintain(void *ud, const cairn_wal_retention *r) {
  cairn_backlog_set_retention(ud, r->bytes, r->seconds, r->max_bytes, r->segment_size);
  cairn_backlog_pin_required(ud, "checkpoint", r->checkpoint_offset + 1);
  if (r->replicas_offset)
    cairn_backlog_pin(ud, "replicas", r->replicas_offset);
  else
    cairn_backlog_unpin(ud, "replicas");
  return cairn_backlog_maintain(ud);
}
static void wal_stats(void *ud, cairn_wal_stats *st) {
  cairn_backlog_stats b;
  cairn_backlog_get_stats(ud, &b);
  *st = (cairn_wal_stats){.first = b.first, .end = b.end, .stream_bytes = b.stream_bytes, .disk_bytes = b.disk_bytes,
                          .raw_disk_bytes = b.raw_disk_bytes, .compressed_disk_bytes = b.compressed_disk_bytes,
                          .compressed_stream_bytes = b.compressed_stream_bytes, .oldest_ms = b.oldest_ms,
                          .ratio = b.ratio, .segments = b.segments, .compressed_segments = b.compressed_segments,
                          .pending_seals = b.pending_seals, .corrupt_frames = b.corrupt_frames};
}
static void backlog_log(void *ud, int level, const char *msg) {
  (void)ud;
  if (level >= CAIRN_BACKLOG_LOG_WARNING) cairn_warning("%s", msg);
  else cairn_notice("%s", msg);
}
static int wal_reset(void *ud, uint64_t end) { return cairn_backlog_reset(ud, end); }
static uint64_t wal_disk_bytes(void *ud) { return cairn_backlog_disk_bytes(ud); }
static int wal_segments(void *ud) { return cairn_backlog_segment_count(ud); }
static int64_t wal_first_time_ms(void *ud) { return cairn_backlog_first_time_ms(ud); }

static void usage(void) {
  fprintf(stderr,
          "Usage: cairn-server [/path/to/cairn.conf] [--directive value ...]\n"
          "       cairn-server -v | --version\n"
          "       cairn-server -h | --help\n\n"
          "Examples:\n"
          "       cairn-server conf/cairn.conf\n"
          "       cairn-server --port 7001 --dir /tmp/x\n"
          "       cairn-server conf/cairn.conf --loglevel verbose --durability relaxed\n");
}

static int mkdir_p(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

int main(int argc, char **argv) {
  static cairn_server srv;
  char err[1024] = "";
  int argi = 1;

  if (argc >= 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
    printf("cairn-server v=%s (Redis %s protocol and semantics)\n", CAIRN_VERSION, CAIRN_REDIS_VERSION);
    return 0;
  }
  if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    usage();
    return 0;
  }
  cairn_config_init(&srv.cfg);
  if (argc >= 2 && strncmp(argv[1], "--", 2) != 0) {
    if (cairn_config_load_file(&srv.cfg, argv[1], err, sizeof(err)) != 0) {
      fprintf(stderr, "%s\n", err);
      cairn_config_free(&srv.cfg);
      return 1;
    }
    argi = 2;
  }
  if (cairn_config_apply_args(&srv.cfg, argc - argi, argv + argi, err, sizeof(err)) != 0) {
    fprintf(stderr, "command line: %s\n", err);
    cairn_config_free(&srv.cfg);
    return 1;
  }
  if (cairn_log_open(srv.cfg.logfile, srv.cfg.loglevel) != 0) {
    fprintf(stderr, "Can't open the log file %s: %s\n", srv.cfg.logfile, strerror(errno));
    cairn_config_free(&srv.cfg);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  cairn_notice("cairn %s starting (pid %d), Redis %s semantics", CAIRN_VERSION, (int)getpid(),
               CAIRN_REDIS_VERSION);

  int rc = 1;
  cairn_backlog *backlog = NULL;
  if (mkdir_p(srv.cfg.dir) != 0) {
    cairn_warning("Can't create the data directory %s: %s", srv.cfg.dir, strerror(errno));
    goto out;
  }
  cairn_store_options so = {.databases = srv.cfg.databases,
                            .map_size = (uint64_t)srv.cfg.lmdb_map_size,
                            .max_map_size = (uint64_t)srv.cfg.lmdb_max_map_size,
                            .writemap = srv.cfg.lmdb_writemap};
  if (cairn_store_open(srv.cfg.dir, &so, &srv.store, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  char bdir[4096];
  snprintf(bdir, sizeof(bdir), "%s/backlog", srv.cfg.dir);
  cairn_backlog_options bo = {.segment_size = (uint64_t)srv.cfg.backlog_segment_size,
                              .start_offset = cairn_store_checkpoint_offset(srv.store),
                              .log = backlog_log};
  err[0] = '\0';
  if (cairn_backlog_open(bdir, &bo, &backlog, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  if (err[0]) cairn_warning("backlog: %s", err);
  cairn_backlog_pin_required(backlog, "checkpoint", cairn_store_checkpoint_offset(srv.store) + 1);
  srv.wal = (cairn_wal){.ud = backlog,
                        .append = wal_append,
                        .sync = wal_sync,
                        .sync_begin = wal_sync_begin,
                        .sync_run = wal_sync_run,
                        .first = wal_first,
                        .end = wal_end,
                        .cursor_open = wal_cursor_open,
                        .cursor_next = wal_cursor_next,
                        .cursor_close = wal_cursor_close,
                        .maintain = wal_maintain,
                        .stats = wal_stats,
                        .reset = wal_reset,
                        .disk_bytes = wal_disk_bytes,
                        .segments = wal_segments,
                        .first_time_ms = wal_first_time_ms};
  if (cairn_commit_startup(&srv, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  if (cairn_repl_init(&srv, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  if (cairn_server_init(&srv, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  if (srv.cfg.pidfile && *srv.cfg.pidfile) {
    FILE *fp = fopen(srv.cfg.pidfile, "w");
    if (fp) {
      fprintf(fp, "%d\n", (int)getpid());
      fclose(fp);
    }
  }
  cairn_notice("Server initialized: data in %s, offset %llu, %s durability", srv.cfg.dir,
               (unsigned long long)srv.stream_offset,
               srv.cfg.durability == CAIRN_DURABILITY_STRICT ? "strict" : "relaxed");
  cairn_notice("Ready to accept connections on port %d", srv.cfg.port);
  rc = cairn_server_run(&srv);
  if (srv.cfg.pidfile && *srv.cfg.pidfile) unlink(srv.cfg.pidfile);
out:
  cairn_repl_free(&srv);
  if (srv.loop) cairn_server_free(&srv);
  if (srv.store) cairn_store_close(srv.store);
  if (backlog) cairn_backlog_close(backlog);
  cairn_config_free(&srv.cfg);
  cairn_log_close();
  return rc;
}
