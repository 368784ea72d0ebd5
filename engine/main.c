/* cairn-server: parse configuration, open the store and the backlog, recover,
 * listen, run. The only place where engine/ and replication/ are wired. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/acl.h"
#include "engine/commit.h"
#include "engine/config.h"
#include "engine/fault.h"
#include "engine/log.h"
#include "engine/server.h"
#include "engine/tls.h"
#include "engine/util.h"
#include "replication/backlog/backlog.h"
#include "replication/repl.h"

static void backlog_log(void *ud, int level, const char *msg) {
  (void)ud;
  if (level >= CAIRN_BACKLOG_LOG_WARNING) cairn_warning("%s", msg);
  else cairn_notice("%s", msg);
}

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
  const char *faults = getenv("CAIRN_FAULTS");
  if (faults && cairn_fault_arm(faults, err, sizeof(err)) != 0) {
    cairn_warning("CAIRN_FAULTS: %s; refusing to start", err);
    cairn_config_free(&srv.cfg);
    cairn_log_close();
    return 1;
  }
  if (cairn_fault_armed(-1)) {
    char what[1024];
    cairn_warning("FAULT INJECTION ARMED by CAIRN_FAULTS: %s. This server fails on purpose: for tests only.",
                  cairn_fault_describe(what, sizeof(what)));
  }

  int rc = 1;
  cairn_backlog *backlog = NULL;
  int clients = cairn_files_for_clients(srv.cfg.maxclients, 1);
  if (clients < 1) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    cairn_warning("Your current 'ulimit -n' of %llu is not enough for the server to start. Please increase your "
                  "open file limit to at least %d. Exiting.",
                  (unsigned long long)rl.rlim_cur, srv.cfg.maxclients + 32);
    goto out;
  }
  srv.cfg.maxclients = clients;
  /* TLS before the data: a bad certificate stops the start at once (Redis
   * configures TLS before loading too). */
  if (cairn_tls_wanted(&srv.cfg) && cairn_tls_configure(&srv, err, sizeof(err)) != 0) {
    cairn_warning("Failed to configure TLS: %s", err);
    goto out;
  }
  if (mkdir_p(srv.cfg.dir) != 0) {
    cairn_warning("Can't create the data directory %s: %s", srv.cfg.dir, strerror(errno));
    goto out;
  }
  cairn_huge_blocks_cap(cairn_commit_kept_blocks(&srv.cfg));
  cairn_store_options so = {.databases = srv.cfg.databases,
                            .map_size = (uint64_t)srv.cfg.lmdb_map_size,
                            .max_map_size = (uint64_t)srv.cfg.lmdb_max_map_size,
                            .writemap = srv.cfg.lmdb_writemap,
                            .merge_bytes = (uint64_t)srv.cfg.overlay_merge_bytes,
                            .urgent_bytes = cairn_commit_urgent_bytes(&srv.cfg),
                            .gather_after_us = srv.cfg.overlay_merge_after_ms * 1000,
                            .reader_threads = srv.cfg.prefetch_threads};
  if (cairn_store_open(srv.cfg.dir, &so, &srv.store, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  if (cairn_store_open_report(srv.store)[0]) cairn_notice("store: %s", cairn_store_open_report(srv.store));
  char bdir[4096];
  snprintf(bdir, sizeof(bdir), "%s/backlog", srv.cfg.dir);
  cairn_backlog_options bo = {.segment_size = (uint64_t)srv.cfg.backlog_segment_size,
                              .preallocate = srv.cfg.backlog_preallocate,
                              .start_offset = cairn_store_checkpoint_offset(srv.store),
                              .truncate_corrupt = srv.cfg.backlog_load_corrupt == 1,
                              .log = backlog_log};
  err[0] = '\0';
  if (cairn_backlog_open(bdir, &bo, &backlog, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  if (err[0]) cairn_warning("backlog: %s", err);
  /* from LMDB's own offset, not the newest run file's: a run that turns
   * out unreadable is replayed from the backlog instead */
  cairn_backlog_pin_required(backlog, "checkpoint", cairn_store_durable_offset(srv.store) + 1);
  /* The engine reaches the backlog through srv.wal only; with a WAL fault
   * armed, through the fault wrapper in front of it. Replication gets the
   * backlog itself (the replid history in its manifest). */
  cairn_backlog_wal(backlog, &srv.wal);
  if (cairn_fault_armed(CAIRN_FAULT_WAL_APPEND) || cairn_fault_armed(CAIRN_FAULT_WAL_SYNC) ||
      cairn_fault_armed(CAIRN_FAULT_WAL_READ))
    cairn_fault_wal(&srv.wal, &srv.wal);
  if (cairn_commit_startup(&srv, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  if (cairn_repl_init(&srv, backlog, err, sizeof(err)) != 0) {
    cairn_warning("%s", err);
    goto out;
  }
  if (cairn_acl_startup(&srv, err, sizeof(err)) != 0) {
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
  if (srv.cfg.tls_port) cairn_notice("Ready to accept TLS connections on port %d", srv.cfg.tls_port);
  rc = cairn_server_run(&srv);
  if (srv.cfg.pidfile && *srv.cfg.pidfile) unlink(srv.cfg.pidfile);
out:
  cairn_repl_free(&srv);
  if (srv.loop) cairn_server_free(&srv);
  if (srv.store) cairn_store_close(srv.store);
  if (backlog) cairn_backlog_close(backlog);
  cairn_acl_free(srv.acl);
  cairn_tls_free_contexts(&srv); /* when the start stopped before the loop */
  cairn_config_free(&srv.cfg);
  cairn_log_close();
  return rc;
}
