/* The server's life cycle and its loop: start-up (listeners, flusher,
 * timers, signals), the end of each iteration (serve unblocked clients, send
 * pub/sub pushes, commit), the cron, shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/blocking.h"
#include "engine/tracking.h"
#include "engine/client.h"
#include "engine/commit.h"
#include "engine/diag.h"
#include "engine/info.h"
#include "engine/keyspace.h"
#include "engine/log.h"
#include "engine/multi.h"
#include "engine/prefetch.h"
#include "engine/pubsub.h"
#include "engine/server.h"
#include "engine/script.h"
#include "engine/stream.h"
#include "engine/util.h"

static void stop_server(cairn_server *srv);

static void on_iteration_end(cairn_server *srv) {
  /* Keys made ready by the master's stream (a replica): serve them now. */
  if (cairn_blocking_pending(srv)) cairn_blocking_serve(srv);
  cairn_commit_new_iteration(srv); /* a new write quota; throttled writers go on */
  cairn_clients_resume(srv);
  if (srv->tracking) cairn_tracking_iteration_end(srv); /* BCAST, tracking-table-max-keys */
  cairn_clients_flush_pushed(srv);
  /* Releasing replies can resume a paused client, whose commands then make
   * new replies: commit again so nothing waits for the next wake-up. */
  cairn_commit_iteration(srv);
  for (int i = 0; i < 16 && srv->stream.len; i++) cairn_commit_iteration(srv);
  cairn_commit_after_iteration(srv);
  if (srv->shutdown_requested) stop_server(srv);
}

/* The loop's longest iteration (INFO cairn loop_longest_iteration_us): the
 * time between two prepare phases (the loop about to poll) minus the time
 * spent waiting in poll. */
static void measure_iteration(cairn_server *srv) {
  int64_t now = cairn_ustime(), cpu = cairn_thread_cpu_us();
  uint64_t idle = uv_metrics_idle_time(srv->loop) / 1000;
  if (srv->iteration_start_us) {
    int64_t busy = now - srv->iteration_start_us - (int64_t)(idle - srv->iteration_idle_us);
    if (busy > 0 && (uint64_t)busy > srv->stats.longest_iteration_us) {
      srv->stats.longest_iteration_us = (uint64_t)busy;
      srv->stats.longest_iteration_commands = srv->stats.commands_processed - srv->iteration_commands0;
      srv->stats.longest_iteration_cpu_us = (uint64_t)(cpu - srv->iteration_cpu0);
    }
  }
  srv->iteration_commands0 = srv->stats.commands_processed;
  srv->iteration_cpu0 = cpu;
  srv->iteration_start_us = now;
  srv->iteration_idle_us = idle;
}

static void on_prepare(uv_prepare_t *h) {
  on_iteration_end(h->data);
  measure_iteration(h->data);
}
static void on_check(uv_check_t *h) { on_iteration_end(h->data); }

static void on_cron(uv_timer_t *t) {
  cairn_server *srv = t->data;
  int64_t now = cairn_monotonic_ms();
  for (cairn_client *c = srv->clients, *next; c; c = next) {
    next = c->next;
    if ((c->flags & CAIRN_CLIENT_DRAINING) && now - c->drain_since_ms > 2000) cairn_client_close(c);
    else if ((c->flags & CAIRN_CLIENT_BLOCKED) && c->block_deadline_ms && now >= c->block_deadline_ms &&
             c->on_block_timeout)
      c->on_block_timeout(c);
  }
  if (srv->cfg.timeout > 0) {
    for (cairn_client *c = srv->clients, *next; c; c = next) {
      next = c->next;
      if (now - c->last_interaction_ms > (int64_t)srv->cfg.timeout * 1000 && !c->writing &&
          !(c->flags & (CAIRN_CLIENT_REPLICA | CAIRN_CLIENT_BLOCKED | CAIRN_CLIENT_POSTPONED))) {
        cairn_verbose("Closing idle client id=%llu addr=%s", (unsigned long long)c->id, c->addr);
        cairn_client_close(c);
      }
    }
  }
  cairn_commit_cron(srv, now);
  cairn_prefetch_cron(srv, now);
  int64_t budget_us = 25000LL * srv->cfg.active_expire_effort / (srv->cfg.hz > 0 ? srv->cfg.hz : 10);
  if (budget_us > 100000) budget_us = 100000;
  int64_t t_exp = cairn_ustime();
  cairn_expire_cycle(srv, budget_us);
  cairn_latency_sample(srv, "expire-cycle", (cairn_ustime() - t_exp) / 1000);
  if (cairn_store_sweep_pending(srv->store)) {
    int64_t t0 = cairn_ustime();
    while (cairn_store_sweep_pending(srv->store) && cairn_ustime() - t0 < 5000) {
      long n = cairn_store_sweep(srv->store, 1000);
      if (n < 0) {
        char why[256];
        cairn_commit_recover(srv, (int)n, 1, why, sizeof(why));
        break;
      }
    }
  }
  if (cairn_checkpoint_due(srv, now)) cairn_commit_checkpoint(srv);
  if (srv->repl_hooks.cron) srv->repl_hooks.cron(srv);
}

static void on_signal(uv_signal_t *s, int signum) {
  cairn_server *srv = s->data;
  cairn_warning("Received %s scheduling shutdown...", signum == SIGINT ? "SIGINT" : "SIGTERM");
  srv->shutdown_requested = 1;
}

static void close_walk(uv_handle_t *h, void *arg) {
  cairn_server *srv = arg;
  if (uv_is_closing(h)) return;
  /* Clients close through their own path (it frees them). */
  for (cairn_client *c = srv->clients; c; c = c->next) {
    if (&c->h.handle == h) {
      cairn_client_close(c);
      return;
    }
  }
  uv_close(h, NULL);
}

static void stop_server(cairn_server *srv) {
  if (srv->shutdown_requested == 2) return;
  srv->shutdown_requested = 2;
  if (cairn_commit_checkpoint(srv) == 0 || cairn_store_frozen_layers(srv->store)) {
    /* at millions of keys, or bigger than RAM, this can take a while:
     * said before, with what it writes, and after, with how long */
    int64_t t0 = cairn_monotonic_ms();
    cairn_notice("Writing the overlay into LMDB before exit: %d layer(s), %llu MB (a kill meanwhile loses "
                 "nothing: the backlog holds it and the next start replays it)",
                 cairn_store_frozen_layers(srv->store),
                 (unsigned long long)(cairn_store_overlay_bytes(srv->store) >> 20));
    if (cairn_commit_wait_store(srv) == 0)
      cairn_notice("Checkpoint at offset %llu before exit (%lld ms)", (unsigned long long)srv->stream_offset,
                   (long long)(cairn_monotonic_ms() - t0));
    else
      cairn_warning("the last checkpoint could not be written into LMDB; the backlog holds everything after "
                    "offset %llu and the next start replays it",
                    (unsigned long long)cairn_store_durable_offset(srv->store));
  }
  uv_stop(srv->loop);
}

int cairn_server_run(cairn_server *srv) {
  uv_run(srv->loop, UV_RUN_DEFAULT); /* returns after uv_stop (shutdown) */
  cairn_commit_store_stop(srv);       /* the store thread no longer wakes the loop */
  cairn_prefetch_stop(srv);           /* nor do the prefetch threads */
  if (srv->repl_hooks.stop) srv->repl_hooks.stop(srv); /* its handles have owners to free them */
  uv_walk(srv->loop, close_walk, srv);
  uv_run(srv->loop, UV_RUN_DEFAULT);
  cairn_notice("cairn is now ready to exit, bye bye...");
  return srv->exit_code;
}

/* ---------------------------------------------------------------- init */

int cairn_server_init(cairn_server *srv, char *err, size_t errlen) {
  srv->loop = uv_default_loop();
  srv->start_ms = cairn_mstime();
  cairn_random_hex40(srv->run_id);
  srv->stream_db = -1;
  srv->last_checkpoint_ms = cairn_monotonic_ms();
  srv->last_wal_sync_ms = cairn_monotonic_ms();
  srv->last_save_time = cairn_mstime() / 1000;
  if (cairn_listeners_start(srv, err, errlen) != 0) return -1;
  for (int i = 0; i < srv->nlisteners; i++) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(srv->listeners[i], (struct sockaddr *)&ss, &len) == 0)
      srv->tcp_port_bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  srv->on_sync = cairn_clients_on_sync;
  srv->on_store_room = cairn_clients_unstall;
  if (uv_loop_configure(srv->loop, UV_METRICS_IDLE_TIME) != 0) cairn_verbose("no loop idle-time metrics");
  if (cairn_flusher_start(srv, err, errlen) != 0) return -1;
  if (cairn_commit_store_start(srv, err, errlen) != 0) return -1;
  if (cairn_prefetch_start(srv, err, errlen) != 0) return -1;
  int hz = srv->cfg.hz > 0 ? srv->cfg.hz : 10;
  int rc;
  const char *what = "prepare handle";
  srv->prepare.data = srv->check.data = srv->cron.data = srv->sigterm.data = srv->sigint.data = srv;
  if ((rc = uv_prepare_init(srv->loop, &srv->prepare)) || (rc = uv_prepare_start(&srv->prepare, on_prepare))) goto fail;
  what = "check handle";
  if ((rc = uv_check_init(srv->loop, &srv->check)) || (rc = uv_check_start(&srv->check, on_check))) goto fail;
  what = "cron timer";
  if ((rc = uv_timer_init(srv->loop, &srv->cron)) ||
      (rc = uv_timer_start(&srv->cron, on_cron, (uint64_t)(1000 / hz), (uint64_t)(1000 / hz))))
    goto fail;
  what = "SIGTERM handler";
  if ((rc = uv_signal_init(srv->loop, &srv->sigterm)) || (rc = uv_signal_start(&srv->sigterm, on_signal, SIGTERM)))
    goto fail;
  what = "SIGINT handler";
  if ((rc = uv_signal_init(srv->loop, &srv->sigint)) || (rc = uv_signal_start(&srv->sigint, on_signal, SIGINT)))
    goto fail;
  return 0;
fail:
  snprintf(err, errlen, "cannot start the event loop's %s: %s", what, uv_strerror(rc));
  return -1;
}

void cairn_server_free(cairn_server *srv) {
  cairn_prefetch_stop(srv); /* (start-up failed half-way) */
  int rc = uv_loop_close(srv->loop);
  if (rc == UV_EBUSY) {
    /* Start-up failed half-way (cairn_server_run never ran): close what
     * was opened, then the loop. */
    uv_walk(srv->loop, close_walk, srv);
    uv_run(srv->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(srv->loop);
  }
  if (rc != 0) cairn_warning("event loop closed with handles still open: %s", uv_strerror(rc));
  if (rc == 0) cairn_listeners_free(srv);
  cairn_stream_free(srv);
  cairn_blocking_free(srv);
  cairn_tracking_free(srv);
  cairn_functions_free(srv); /* the function libraries (engine/cmd/function.c) */
  cairn_script_free(srv);    /* the Lua states (engine/script.c) */
  cairn_pubsub_free(srv);
  cairn_watch_free(srv);
  cairn_info_free_calls(srv);
  cairn_diag_free(srv);
  cairn_command_table_free();
  cairn_flusher_stop(srv);
}
