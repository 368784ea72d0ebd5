#include "engine/commit.h"
#include "engine/pubsub.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/diag.h"
#include "engine/log.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- apply */

void cairn_apply_init(cairn_apply_state *st) {
  memset(st, 0, sizeof(*st));
  cairn_req_parser_init(&st->parser);
  cairn_req_parser_init(&st->scan);
}

void cairn_apply_free(cairn_apply_state *st) {
  cairn_req_parser_free(&st->parser);
  cairn_req_parser_free(&st->scan);
  cairn_buf_free(&st->buf);
  free(st->argv);
  memset(st, 0, sizeof(*st));
}

/* Stream commands that carry no data change (MULTI/EXEC mark transactions,
 * PING and REPLCONF keep replicas alive). */
static int is_marker(const cairn_str *a) {
  return cairn_arg_is(*a, "multi") || cairn_arg_is(*a, "exec") || cairn_arg_is(*a, "ping") ||
         cairn_arg_is(*a, "replconf");
}

static void apply_args(cairn_apply_state *st, size_t pos) {
  if (st->parser.argc > st->argv_cap) {
    st->argv_cap = st->parser.argc * 2;
    st->argv = cairn_xrealloc(st->argv, st->argv_cap * sizeof(cairn_str));
  }
  cairn_req_args(&st->parser, st->buf.p + pos, st->argv);
}

/* Looks for the EXEC closing the MULTI at buf[pos]: 1 with *end just past it,
 * 0 when more bytes are needed, -1 on a parse error. The scan resumes where
 * the previous call stopped (st->unit_scan), so a big transaction arriving in
 * many reads is scanned once. */
static int find_unit_end(cairn_apply_state *st, size_t pos, size_t *end, char *err, size_t errlen) {
  if (st->unit_scan < pos) st->unit_scan = pos;
  while (st->unit_scan < st->buf.len) {
    size_t consumed = 0;
    int r = cairn_req_parse(&st->scan, st->buf.p + st->unit_scan, st->buf.len - st->unit_scan, &consumed, err,
                            errlen);
    if (r == CAIRN_PARSE_NEED_MORE) return 0;
    if (r == CAIRN_PARSE_ERROR) return -1;
    size_t at = st->unit_scan;
    st->unit_scan += consumed;
    if (st->scan.argc == 1 && at > pos) {
      cairn_str a0;
      cairn_req_args(&st->scan, st->buf.p + at, &a0);
      if (cairn_arg_is(a0, "exec")) {
        *end = st->unit_scan;
        st->unit_scan = 0;
        return 1;
      }
    }
  }
  return 0;
}

/* A transaction of the stream (MULTI ... EXEC) is applied whole or not at
 * all: nothing of it runs before its EXEC has arrived (a master's stream can
 * be cut anywhere by the network; a WAL record always holds whole units), and
 * its bytes are passed on (on_raw: our own stream and WAL) only once all of
 * it has been applied, in one go, so it never straddles two WAL records here
 * either. A store error in the middle leaves the unit unconsumed: the caller
 * rolls back and retries it from its MULTI. */
int cairn_apply(cairn_server *srv, cairn_apply_state *st, const char *p, size_t len) {
  cairn_buf_append(&st->buf, p, len);
  size_t pos = 0;
  int rc = 0;
  while (pos < st->buf.len) {
    size_t consumed = 0;
    char err[128];
    int r = cairn_req_parse(&st->parser, st->buf.p + pos, st->buf.len - pos, &consumed, err, sizeof(err));
    if (r == CAIRN_PARSE_NEED_MORE) break;
    if (r == CAIRN_PARSE_ERROR) {
      cairn_warning("stream apply: %s at stream byte %llu", err, (unsigned long long)st->applied + 1);
      rc = CAIRN_STORE_IO;
      break;
    }
    apply_args(st, pos);
    if (st->parser.argc == 1 && cairn_arg_is(st->argv[0], "multi")) {
      size_t end = 0;
      int u = find_unit_end(st, pos, &end, err, sizeof(err));
      if (u < 0) {
        cairn_warning("stream apply: %s in a transaction after stream byte %llu", err,
                      (unsigned long long)st->applied);
        rc = CAIRN_STORE_IO;
        break;
      }
      if (u == 0) break; /* wait for the rest of the transaction */
      cairn_pubsub_hold(srv);
      size_t q = pos;
      while (q < end && rc == 0) {
        r = cairn_req_parse(&st->parser, st->buf.p + q, end - q, &consumed, err, sizeof(err));
        if (r != CAIRN_PARSE_OK) { /* scanned once already: cannot happen */
          rc = CAIRN_STORE_IO;
          break;
        }
        apply_args(st, q);
        if (st->parser.argc && is_marker(&st->argv[0])) {
          if (st->on_marker) st->on_marker(st->ud, (int)st->parser.argc, st->argv);
        } else if (st->parser.argc) {
          srv->replay_rc = 0;
          cairn_execute(srv, NULL, (int)st->parser.argc, st->argv);
          rc = srv->replay_rc;
        }
        q += consumed;
      }
      cairn_pubsub_release(srv, rc == 0);
      if (rc) break;
      if (st->on_raw) {
        for (q = pos; q < end; q += consumed) {
          cairn_req_parse(&st->parser, st->buf.p + q, end - q, &consumed, err, sizeof(err));
          st->on_raw(st->ud, st->buf.p + q, consumed);
        }
      }
      st->applied += end - pos;
      pos = end;
      continue;
    }
    if (st->parser.argc && is_marker(&st->argv[0])) {
      if (st->on_marker) st->on_marker(st->ud, (int)st->parser.argc, st->argv);
    } else if (st->parser.argc) {
      srv->replay_rc = 0;
      cairn_execute(srv, NULL, (int)st->parser.argc, st->argv);
      if (srv->replay_rc) {
        rc = srv->replay_rc;
        break;
      }
    }
    if (st->on_raw) st->on_raw(st->ud, st->buf.p + pos, consumed);
    pos += consumed;
    st->applied += consumed;
  }
  cairn_buf_consume(&st->buf, pos);
  if (st->unit_scan) st->unit_scan -= pos;
  return rc;
}

/* Replays [checkpoint+1, WAL end] and, if with_pending, the iteration's
 * stream not yet in the WAL. Returns 0 or the store error met. */
static int replay_stream(cairn_server *srv, int with_pending, int checkpoint_as_we_go);

/* The store is rebuilt to a state the clients already saw: its touches are
 * not changes (WATCH ignores them), its PUBLISHes were delivered already. */
static int replay(cairn_server *srv, int with_pending, int checkpoint_as_we_go) {
  srv->recovering++;
  int live = srv->apply_live;
  srv->apply_live = 0;
  int rc = replay_stream(srv, with_pending, checkpoint_as_we_go);
  srv->apply_live = live;
  srv->recovering--;
  return rc;
}

/* Why the last replay failed: the backlog's error when it was the backlog,
 * else the store's. */
static const char *replay_errstr(cairn_server *srv) {
  return srv->replay_error[0] ? srv->replay_error : cairn_store_errstr(srv->store);
}

static int replay_stream(cairn_server *srv, int with_pending, int checkpoint_as_we_go) {
  srv->replay_error[0] = '\0';
  uint64_t from = cairn_store_checkpoint_offset(srv->store) + 1;
  uint64_t end = srv->wal.end(srv->wal.ud);
  srv->replay_db = srv->ckpt_stream_db;
  cairn_apply_state st;
  cairn_apply_init(&st);
  int rc = 0;
  if (from <= end) {
    void *cur = srv->wal.cursor_open(srv->wal.ud, from);
    if (!cur) {
      snprintf(srv->replay_error, sizeof(srv->replay_error), "cannot read the backlog from offset %llu: %s",
               (unsigned long long)from, strerror(errno));
      cairn_warning("replay: %s", srv->replay_error);
      cairn_apply_free(&st);
      return CAIRN_STORE_IO;
    }
    size_t cap = 1 << 20;
    char *chunk = cairn_xmalloc(cap);
    uint64_t total = end - from + 1, done = 0;
    int64_t last_log = cairn_monotonic_ms();
    for (;;) {
      long n = srv->wal.cursor_next(cur, chunk, cap);
      if (n < 0) {
        snprintf(srv->replay_error, sizeof(srv->replay_error), "backlog read error at offset %llu: %s",
                 (unsigned long long)(from + done), strerror(errno));
        cairn_warning("replay: %s", srv->replay_error);
        rc = CAIRN_STORE_IO;
        break;
      }
      if (n == 0) break;
      done += (uint64_t)n;
      if ((rc = cairn_apply(srv, &st, chunk, (size_t)n)) != 0) break;
      if (checkpoint_as_we_go && st.buf.len == 0 && cairn_checkpoint_needed(srv)) {
        /* A long replay hands layers to the store thread as it goes (a
         * crash during recovery then does not start over), and waits for
         * it when the overlay reaches its budget (nothing is served yet). */
        srv->stream_db = srv->replay_db;
        srv->stream_offset = from - 1 + st.applied;
        if (cairn_commit_checkpoint(srv) != 0 && cairn_store_frozen_layers(srv->store) == 0) {
          rc = CAIRN_STORE_IO;
          break;
        }
        if (cairn_store_overlay_bytes(srv->store) >= (uint64_t)srv->cfg.overlay_max_memory &&
            cairn_store_wait(srv->store) != 0) {
          char why[200];
          cairn_store_drain_error(srv->store, why, sizeof(why));
          snprintf(srv->replay_error, sizeof(srv->replay_error), "writing the store failed: %s", why);
          rc = CAIRN_STORE_IO;
          break;
        }
      }
      int64_t now = cairn_monotonic_ms();
      if (now - last_log >= 1000) {
        cairn_notice("recovery: replayed %llu of %llu backlog bytes (%.1f%%)", (unsigned long long)done,
                     (unsigned long long)total, 100.0 * (double)done / (double)total);
        last_log = now;
      }
    }
    free(chunk);
    srv->wal.cursor_close(cur);
    if (rc == 0 && st.buf.len) {
      snprintf(srv->replay_error, sizeof(srv->replay_error),
               "the backlog ends with %zu bytes of an incomplete command", st.buf.len);
      cairn_warning("replay: %s", srv->replay_error);
      rc = CAIRN_STORE_IO;
    }
  }
  if (rc == 0 && with_pending && srv->stream.len) rc = cairn_apply(srv, &st, srv->stream.p, srv->stream.len);
  cairn_apply_free(&st);
  return rc;
}

/* Rolls back and replays until the store matches the stream again, growing
 * the map as needed. Exits the process when that is impossible: the data is
 * safe in the backlog, and a restart replays it. */
/* The remap stops the loop (LMDB unmaps and maps the file again): logged
 * with its duration, so a stall in the latency figures can be matched. */
static void log_map_grown(cairn_server *srv) {
  cairn_notice("LMDB map grown to %llu bytes (remapped in %lld ms; set lmdb-map-size to the expected size to "
               "avoid growing under load)",
               (unsigned long long)cairn_store_map_size(srv->store), (long long)cairn_store_last_grow_us(srv->store) / 1000);
}

static void restore_consistency(cairn_server *srv, int with_pending) {
  for (int tries = 0;; tries++) {
    cairn_store_rollback(srv->store);
    srv->stats.rollbacks++;
    int rc = replay(srv, with_pending, 0);
    if (rc == 0) return;
    if (rc == CAIRN_STORE_MAP_FULL && cairn_store_grow_reserve(srv->store) == 0) {
      log_map_grown(srv);
      continue;
    }
    cairn_warning("cannot restore the store to the backlog's state (%s); exiting. Nothing acknowledged "
                  "is lost: the backlog holds it and a restart replays it.",
                  replay_errstr(srv));
    exit(1);
  }
}

static int append_pending(cairn_server *srv);

int cairn_commit_recover(cairn_server *srv, int rc, int may_use_reserve, char *why, size_t whylen) {
  int toofull = 0;
  cairn_store_rollback(srv->store);
  if (rc == CAIRN_STORE_MAP_FULL) {
    if (cairn_store_grow(srv->store) == 0 || (may_use_reserve && cairn_store_grow_reserve(srv->store) == 0)) {
      log_map_grown(srv);
    } else {
      toofull = 1;
    }
  }
  restore_consistency(srv, 1);
  if (toofull && cairn_store_map_size(srv->store) < (uint64_t)srv->cfg.lmdb_max_map_size) {
    /* below the ceiling: growing failed for another reason (disk full) */
    snprintf(why, whylen,
             "-MISCONF Errors writing to disk: the store cannot grow (%s). Check the server log.",
             cairn_store_errstr(srv->store));
    return -1;
  }
  if (toofull) {
    snprintf(why, whylen,
             "-OOM command not allowed: the store is full (lmdb-max-map-size is %llu bytes)",
             (unsigned long long)srv->cfg.lmdb_max_map_size);
    return -1;
  }
  if (rc == CAIRN_STORE_TXN_FULL) {
    /* The open transaction grew too big: make what we have durable and
     * checkpoint now, then retry on a fresh transaction. */
    if (append_pending(srv) != 0 || cairn_commit_checkpoint(srv) != 0) {
      snprintf(why, whylen, "store error: %s", cairn_store_errstr(srv->store));
      return -1;
    }
    return 0;
  }
  if (rc == CAIRN_STORE_MAP_FULL) return 0;
  snprintf(why, whylen, "store error: %s", cairn_store_errstr(srv->store));
  return -1;
}

/* ---------------------------------------------------------------- commit */

static void notify(cairn_server *srv, cairn_sync_event ev) {
  if (srv->on_sync) srv->on_sync(srv, ev);
}

static void fatal_sync(cairn_server *srv, int err) {
  cairn_warning("fdatasync of the backlog failed: %s/backlog: %s. Acknowledging writes is impossible; exiting. "
                "A restart recovers everything that reached the disk.",
                srv->cfg.dir, strerror(err));
  exit(1);
}

/* Makes the WAL durable now, on the loop thread (checkpoints, relaxed mode's
 * once-a-second sync). Everything held may then go. */
static int sync_wal(cairn_server *srv) {
  int64_t t0 = cairn_ustime();
  if (srv->wal.sync(srv->wal.ud) != 0) fatal_sync(srv, errno);
  int64_t us = cairn_ustime() - t0;
  srv->stats.wal_syncs++;
  srv->stats.wal_sync_us_total += (uint64_t)us;
  srv->last_wal_sync_us = us;
  cairn_latency_sample(srv, "wal-fsync-loop", us / 1000);
  srv->wal_unsynced = 0;
  srv->last_wal_sync_ms = cairn_monotonic_ms();
  srv->synced_offset = srv->wal.end(srv->wal.ud);
  cairn_store_wal_synced(srv->store, srv->synced_offset);
  if (srv->repl_hooks.on_synced) srv->repl_hooks.on_synced(srv);
  return 0;
}

/* ---------------------------------------------------------------- flusher
 * With durability strict, fdatasync runs on this thread while the loop keeps
 * executing commands. One job at a time: a job covers every record appended
 * before it started; whatever is appended meanwhile rides on the next job, so
 * the busier the server, the more each sync covers. */

static void *flusher_main(void *arg) {
  cairn_server *srv = arg;
  pthread_mutex_lock(&srv->fl.mu);
  for (;;) {
    while (!srv->fl.token && !srv->fl.stop) pthread_cond_wait(&srv->fl.cv, &srv->fl.mu);
    if (!srv->fl.token) break;
    void *token = srv->fl.token;
    srv->fl.token = NULL;
    pthread_mutex_unlock(&srv->fl.mu);
    int rc = srv->wal.sync_run(token);
    int err = rc ? errno : 0;
    pthread_mutex_lock(&srv->fl.mu);
    srv->fl.done = 1;
    srv->fl.err = err ? err : (rc ? EIO : 0);
    uv_async_send(&srv->fl.async);
  }
  pthread_mutex_unlock(&srv->fl.mu);
  return NULL;
}

static void flusher_start_job(cairn_server *srv) {
  uint64_t end = 0;
  void *token = srv->wal.sync_begin(srv->wal.ud, &end);
  if (!token) fatal_sync(srv, errno);
  notify(srv, CAIRN_SYNC_STARTED);
  srv->fl.busy = 1;
  srv->fl.job_end = end;
  srv->fl.job_history = srv->wal_history;
  srv->fl.started_us = cairn_ustime();
  pthread_mutex_lock(&srv->fl.mu);
  srv->fl.token = token;
  pthread_cond_signal(&srv->fl.cv);
  pthread_mutex_unlock(&srv->fl.mu);
}

/* What to do with held replies now that no sync is in flight.
 *
 * Called from strict_commit (the iteration's end, after append_pending) and
 * from on_flusher_done, which runs in the middle of an iteration: the
 * flusher's wake-up is one more event of the poll phase, and a client's read
 * callback earlier in the same poll (or a client resumed by the release just
 * before) may already have executed commands whose stream is still in
 * srv->stream, not in the WAL. Releasing every reply then would acknowledge
 * writes that a kill -9 before the iteration's end loses; marking clients for
 * a new job would tie those replies to a sync that does not cover them. So
 * with stream pending (on_flusher_done appends it first; only a refused append
 * leaves it), do nothing: cairn_commit_iteration runs before the loop sleeps,
 * appends the stream and comes back here. */
static void flusher_idle(cairn_server *srv) {
  if (srv->stream.len) return;
  if (srv->wal.end(srv->wal.ud) > srv->synced_offset)
    flusher_start_job(srv);
  else
    notify(srv, CAIRN_SYNC_ALL_DURABLE);
}

/* Hand the sync to the flusher only when it can overlap with real work. A
 * small batch (the loop spent less than about one sync's time executing it)
 * means the clients are waiting for their replies and nothing will arrive
 * meanwhile: syncing inline then saves two thread wake-ups per batch.
 * Measured (SET, 50 clients, random keys): at -P 1 inline syncs gave 54-65k
 * SET/s against 41-43k through the thread; at -P 16 the thread gave 364k
 * against 238k inline. Not while the disk is slow (the last sync took over
 * INLINE_SYNC_SLOW_US: behind the store thread's writeback an inline sync
 * held the loop 34-104 ms, latency event wal-fsync-loop): the flusher's
 * wake-ups cost microseconds, and the loop serves the others meanwhile. */
#define INLINE_SYNC_BELOW_US 250
#define INLINE_SYNC_SLOW_US 5000

static void strict_commit(cairn_server *srv) {
  int64_t busy = srv->batch_start_us ? cairn_ustime() - srv->batch_start_us : 0;
  srv->batch_start_us = 0;
  if (srv->fl.busy) {
    if (srv->wal.end(srv->wal.ud) <= srv->synced_offset)
      notify(srv, CAIRN_SYNC_ALL_DURABLE); /* a checkpoint synced everything already */
    return;
  }
  if (srv->wal.end(srv->wal.ud) > srv->synced_offset && busy < INLINE_SYNC_BELOW_US &&
      srv->last_wal_sync_us < INLINE_SYNC_SLOW_US) {
    sync_wal(srv);
    srv->stats.wal_inline_syncs++;
  }
  flusher_idle(srv);
}

static void on_flusher_done(uv_async_t *a) {
  cairn_server *srv = a->data;
  pthread_mutex_lock(&srv->fl.mu);
  int done = srv->fl.done, err = srv->fl.err;
  srv->fl.done = 0;
  pthread_mutex_unlock(&srv->fl.mu);
  if (!done || !srv->fl.busy) return;
  if (err) fatal_sync(srv, err);
  srv->fl.busy = 0;
  int64_t us = cairn_ustime() - srv->fl.started_us; /* the job's whole time, as its writers waited */
  srv->stats.wal_syncs++;
  srv->stats.wal_sync_us_total += (uint64_t)us;
  srv->last_wal_sync_us = us;
  cairn_latency_sample(srv, "wal-fsync", us / 1000);
  srv->last_wal_sync_ms = cairn_monotonic_ms();
  /* A job started before the backlog restarted (a full sync on a replica)
   * synced the old history: it says nothing about the new one. */
  if (srv->fl.job_history == srv->wal_history && srv->fl.job_end > srv->synced_offset) {
    srv->synced_offset = srv->fl.job_end;
    cairn_store_wal_synced(srv->store, srv->synced_offset);
  }
  if (srv->repl_hooks.on_synced) srv->repl_hooks.on_synced(srv);
  notify(srv, CAIRN_SYNC_MARKED_DURABLE);
  /* This runs in the middle of an iteration (see flusher_idle): commands
   * that ran earlier in this poll phase, or in a client the release above
   * resumed, may have left stream that is not in the WAL yet. Append it now
   * (between commands, so every transaction stays whole) and the next job
   * covers it, instead of waiting for the iteration's end to start a sync. */
  if (srv->stream.len && append_pending(srv) != 0) return;
  flusher_idle(srv);
}

/* A script running past busy-reply-threshold holds the loop (engine/client.c:
 * cairn_clients_serve_busy): what the commands before it wrote is made
 * durable here so that their held replies can go, like at an iteration's end
 * but never with a checkpoint (the store's active layer holds the running
 * script's partial writes, which the stream does not). A flusher job in
 * flight is finished here when its thread is done (its uv_async callback
 * cannot run meanwhile); until then nothing is released. */
void cairn_commit_during_script(cairn_server *srv) {
  if (srv->fl.busy) {
    on_flusher_done(&srv->fl.async);
    if (srv->fl.busy) return;
  }
  if (append_pending(srv) != 0) return;
  if (srv->wal.end(srv->wal.ud) > srv->synced_offset) sync_wal(srv);
  notify(srv, CAIRN_SYNC_ALL_DURABLE);
}

int cairn_flusher_start(cairn_server *srv, char *err, size_t errlen) {
  int rc = uv_async_init(srv->loop, &srv->fl.async, on_flusher_done);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the backlog flusher: uv_async_init: %s", uv_strerror(rc));
    return -1;
  }
  srv->fl.async.data = srv;
  pthread_mutex_init(&srv->fl.mu, NULL);
  pthread_cond_init(&srv->fl.cv, NULL);
  if ((rc = pthread_create(&srv->fl.thread, NULL, flusher_main, srv)) != 0) {
    snprintf(err, errlen, "cannot start the backlog flusher thread: %s", strerror(rc));
    pthread_mutex_destroy(&srv->fl.mu);
    pthread_cond_destroy(&srv->fl.cv);
    return -1;
  }
  srv->fl.started = 1;
  return 0;
}

void cairn_flusher_stop(cairn_server *srv) {
  if (!srv->fl.started) return;
  pthread_mutex_lock(&srv->fl.mu);
  srv->fl.stop = 1;
  pthread_cond_signal(&srv->fl.cv);
  pthread_mutex_unlock(&srv->fl.mu);
  pthread_join(srv->fl.thread, NULL);
  srv->fl.started = 0;
  pthread_mutex_destroy(&srv->fl.mu);
  pthread_cond_destroy(&srv->fl.cv);
}

/* ---------------------------------------------------------------- commit */

/* The WAL refused the iteration's record: nothing of it may be acknowledged
 * or survive. Roll the store back to the WAL's end, drop the pending stream,
 * close the clients holding replies, and refuse writes with -MISCONF until an
 * append works again. */
static void wal_append_failed(cairn_server *srv, int err) {
  uint64_t end = srv->wal.end(srv->wal.ud);
  cairn_warning("backlog append of %zu bytes at offset %llu failed: %s/backlog: %s; refusing writes until it works",
                srv->stream.len, (unsigned long long)end + 1, srv->cfg.dir, strerror(err));
  snprintf(srv->write_error_msg, sizeof(srv->write_error_msg), "%s/backlog: %s", srv->cfg.dir, strerror(err));
  srv->write_error = 1;
  srv->stream.len = 0;
  srv->stream_offset = end;
  restore_consistency(srv, 0);
  srv->stream_db = srv->replay_db;
  notify(srv, CAIRN_SYNC_LOST);
}

static int append_pending(cairn_server *srv) {
  if (!srv->stream.len) return 0;
  int64_t t0 = cairn_ustime();
  if (srv->wal.append(srv->wal.ud, srv->stream.p, srv->stream.len) != 0) {
    wal_append_failed(srv, errno);
    return -1;
  }
  cairn_latency_sample(srv, "wal-append", (cairn_ustime() - t0) / 1000);
  srv->stats.wal_records++;
  srv->stats.wal_bytes += srv->stream.len;
  srv->stats.iterations_with_writes++;
  srv->stream.len = 0;
  cairn_buf_shrink(&srv->stream, 1 << 20);
  if (srv->cfg.durability != CAIRN_DURABILITY_STRICT) {
    /* relaxed: written (a process crash loses nothing), synced by the cron */
    srv->wal_unsynced = 1;
    srv->synced_offset = srv->wal.end(srv->wal.ud);
    if (srv->repl_hooks.on_synced) srv->repl_hooks.on_synced(srv);
  }
  return 0;
}

/* Retention is the backlog's (bytes, age, hard cap, pins); the engine's part
 * is to pin what recovery needs (everything after the checkpoint: never
 * dropped) and what attached replicas still need (kept until the hard cap). */
void cairn_commit_maintain_wal(cairn_server *srv) {
  cairn_wal_retention r = {.bytes = (uint64_t)srv->cfg.backlog_retention_bytes,
                           .max_bytes = (uint64_t)srv->cfg.backlog_max_bytes,
                           .segment_size = (uint64_t)srv->cfg.backlog_segment_size,
                           .seconds = srv->cfg.backlog_retention_seconds,
                           .checkpoint_offset = cairn_store_durable_offset(srv->store),
                           .replicas_offset = srv->repl_hooks.min_offset ? srv->repl_hooks.min_offset(srv) : 0};
  int n = srv->wal.maintain(srv->wal.ud, &r);
  if (n > 0) cairn_verbose("backlog: retention dropped %d segment(s), first offset now %llu", n,
                           (unsigned long long)srv->wal.first(srv->wal.ud));
}

/* Freezes the overlay's active layer at the stream's offset and hands it to
 * the store thread (engine/store.h): nothing here waits for the disk. The
 * store thread writes the layer once the backlog is synced past its offset
 * (cairn_store_wal_synced, told by every sync), so LMDB never gets ahead of
 * what the backlog holds on disk. */
int cairn_commit_checkpoint(cairn_server *srv) {
  if (append_pending(srv) != 0) return -1;
  int64_t t0 = cairn_ustime();
  int32_t sdb = srv->stream_db;
  if (srv->repl_hooks.checkpoint) srv->repl_hooks.checkpoint(srv);
  int rc = cairn_store_meta_put(srv->store, "stream_db", &sdb, sizeof(sdb));
  if (rc == 0) rc = cairn_store_checkpoint(srv->store, srv->stream_offset);
  if (rc == CAIRN_STORE_TXN_FULL) return -1; /* layers pile up behind a stuck drain: the active one goes on */
  if (rc != 0) {
    cairn_warning("checkpoint at offset %llu failed: %s", (unsigned long long)srv->stream_offset,
                  cairn_store_errstr(srv->store));
    char why[256];
    cairn_commit_recover(srv, rc, 0, why, sizeof(why));
    return -1;
  }
  srv->ckpt_stream_db = srv->stream_db;
  if (srv->ndirty_marks == 64) { /* keep the newest: the count is then only late */
    memmove(srv->dirty_marks, srv->dirty_marks + 1, sizeof(srv->dirty_marks[0]) * 63);
    srv->ndirty_marks--;
  }
  srv->dirty_marks[srv->ndirty_marks].offset = srv->stream_offset;
  srv->dirty_marks[srv->ndirty_marks].dirty = srv->dirty;
  srv->ndirty_marks++;
  srv->last_checkpoint_ms = cairn_monotonic_ms();
  srv->stats.checkpoints++;
  int64_t us = cairn_ustime() - t0;
  srv->stats.checkpoint_us_total += (uint64_t)us;
  cairn_latency_sample(srv, "checkpoint", us / 1000);
  return 0;
}

/* What the store thread finished: drained layers are released, the backlog
 * may drop what LMDB now holds on disk, stalled writers go on. A drain
 * error is logged (once per kind) and retried by the cron. */
void cairn_commit_poll_store(cairn_server *srv) {
  int64_t t0 = cairn_ustime();
  int n = cairn_store_poll(srv->store);
  cairn_latency_sample(srv, "store-poll", (cairn_ustime() - t0) / 1000);
  uint64_t grows = cairn_store_map_grows(srv->store);
  if (grows != srv->map_grows_seen) {
    srv->map_grows_seen = grows;
    log_map_grown(srv);
  }
  /* the changes LMDB now holds: those made up to the newest freeze it
   * covers (cairn_store_wait may have released the layers already) */
  uint64_t durable = cairn_store_durable_offset(srv->store);
  int k = 0;
  while (k < srv->ndirty_marks && srv->dirty_marks[k].offset <= durable) srv->dirty_saved = srv->dirty_marks[k++].dirty;
  if (k) {
    memmove(srv->dirty_marks, srv->dirty_marks + k, sizeof(srv->dirty_marks[0]) * (size_t)(srv->ndirty_marks - k));
    srv->ndirty_marks -= k;
    srv->last_save_time = cairn_mstime() / 1000;
  }
  if (n > 0) {
    srv->last_save_time = cairn_mstime() / 1000;
    uint64_t drained = cairn_store_drained_entries(srv->store);
    int64_t now = cairn_ustime();
    if (srv->drain_rate_us && now > srv->drain_rate_us) {
      double r = (double)(drained - srv->drained_seen) * 1e6 / (double)(now - srv->drain_rate_us);
      srv->drain_rate = srv->drain_rate > 0 ? 0.5 * srv->drain_rate + 0.5 * r : r;
    }
    srv->drained_seen = drained;
    srv->drain_rate_us = now;
    if (srv->store_error) {
      cairn_notice("the store thread writes to LMDB again (offset %llu on disk)",
                   (unsigned long long)cairn_store_durable_offset(srv->store));
      srv->store_error = 0;
    }
  } else if (n < 0 && !srv->store_error) {
    char why[512];
    cairn_store_drain_error(srv->store, why, sizeof(why));
    int blocked = cairn_store_blocked(srv->store, NULL, 0);
    cairn_warning("writing checkpoint layers into LMDB failed: %s (%s); the backlog keeps everything after "
                  "offset %llu, retrying every second",
                  why,
                  cairn_store_full(srv->store) ? "the map is at lmdb-max-map-size: writes that add data are refused"
                  : blocked                    ? "writes are refused with -MISCONF until it works again"
                                               : "see the error",
                  (unsigned long long)cairn_store_durable_offset(srv->store));
    srv->store_error = 1;
  }
  /* writers waiting at the overlay's budget go on, to their -MISCONF, while
   * the store cannot write: on every poll, not only when the error is first
   * seen (a writer that reached the budget while a retry was running, the
   * thread not paused, stalled then and was never woken again) */
  if (n < 0 && srv->stalled && srv->on_store_room && cairn_store_blocked(srv->store, NULL, 0))
    srv->on_store_room(srv);
  cairn_store_runs runs;
  cairn_store_run_stats(srv->store, &runs);
  int64_t now_ms = cairn_monotonic_ms();
  if (runs.errors != srv->run_errors_seen && (!srv->run_errors_seen || now_ms - srv->run_error_logged_ms >= 60000)) {
    srv->run_error_logged_ms = now_ms;
    cairn_warning("%s; that layer goes into LMDB without waiting for a merge, and a restart before then "
                  "replays it from the backlog (%llu run file error(s) since start)",
                  runs.last_error, (unsigned long long)runs.errors);
    srv->run_errors_seen = runs.errors;
  }
  /* LMDB holds more on disk (here, or in a cairn_store_wait that released
   * the layers itself): the backlog's checkpoint pin moves on */
  if (durable != srv->durable_seen) {
    srv->durable_seen = durable;
    cairn_commit_maintain_wal(srv);
  }
  if (cairn_store_overlay_bytes(srv->store) < (uint64_t)srv->cfg.overlay_max_memory) {
    if (srv->on_store_room) srv->on_store_room(srv);
    if (srv->repl_hooks.on_store_room) srv->repl_hooks.on_store_room(srv);
  }
}

static void on_store_async(uv_async_t *a) { cairn_commit_poll_store(a->data); }

int cairn_commit_sync_now(cairn_server *srv) {
  if (append_pending(srv) != 0) return -1;
  /* (the flusher's completion is an event a caller that waits would block) */
  if (srv->wal_unsynced || srv->wal.end(srv->wal.ud) > srv->synced_offset || srv->fl.busy) sync_wal(srv);
  return 0;
}

int cairn_commit_wait_store(cairn_server *srv) {
  /* the store thread writes only what the backlog holds on disk */
  if (cairn_commit_sync_now(srv) != 0) return -1;
  int rc = cairn_store_wait(srv->store);
  cairn_commit_poll_store(srv);
  return rc;
}
static void store_notify(void *ud) { uv_async_send(ud); }

int cairn_commit_store_start(cairn_server *srv, char *err, size_t errlen) {
  int rc = uv_async_init(srv->loop, &srv->store_async, on_store_async);
  if (rc != 0) {
    snprintf(err, errlen, "cannot watch the store thread: uv_async_init: %s", uv_strerror(rc));
    return -1;
  }
  srv->store_async.data = srv;
  cairn_store_set_notify(srv->store, store_notify, &srv->store_async);
  return 0;
}

void cairn_commit_store_stop(cairn_server *srv) {
  if (srv->store) cairn_store_set_notify(srv->store, NULL, NULL);
}

/* Writes are slowed down smoothly when the store thread falls behind (like
 * RocksDB's write stall), never by stalling the loop. Past half the
 * overlay's budget, write commands are admitted by a token bucket whose
 * rate is the store thread's measured drain rate (entries/s, averaged over
 * its last commits) times 2(1 - f)/(1/2) at fill f: twice the drain rate at
 * half, equal at three quarters (where the overlay settles), zero at the
 * budget, where every writer waits until a layer is on disk. A writer
 * without a token waits for the next loop iteration (a 1 ms timer wakes
 * the loop). Without it, writers hit the budget and waited for a whole
 * drain: 10M random SETs, max latency 701-2256 ms. */
int cairn_commit_write_admitted(cairn_server *srv) {
  uint64_t used = cairn_store_overlay_bytes(srv->store), budget = (uint64_t)srv->cfg.overlay_max_memory;
  if (used >= budget) {
    srv->stats.writer_stalls++;
    return -2;
  }
  if (used < budget / 2 || srv->drain_rate <= 0) return 0;
  int64_t now = cairn_ustime();
  double f = (double)used / (double)budget;
  double rate = srv->drain_rate * 4.0 * (1.0 - f); /* entries/s */
  srv->write_tokens += rate * (double)(now - srv->write_tokens_us) / 1e6;
  srv->write_tokens_us = now;
  if (srv->write_tokens > rate / 100 + 64) srv->write_tokens = rate / 100 + 64; /* 10 ms of burst */
  if (srv->write_tokens < 1) {
    srv->stats.writer_throttled++;
    srv->throttled = 1;
    return -1;
  }
  srv->write_tokens -= 1;
  return 0;
}

/* The overlay's size at which the store thread stops gathering a merge and
 * drains what it has: before writers would be throttled (half the budget),
 * with room for the active layer. */
uint64_t cairn_commit_urgent_bytes(const cairn_config *cfg) {
  uint64_t budget = (uint64_t)cfg->overlay_max_memory, half = budget / 2, ck = (uint64_t)cfg->checkpoint_bytes;
  return half > ck && half - ck > budget / 4 ? half - ck : budget / 4;
}

/* Freed arena blocks kept for the overlay's next layers (buf.h
 * cairn_huge_block): those in use plus those kept stay within three
 * quarters of the budget, so the process's memory stays within it. */
size_t cairn_commit_kept_blocks(const cairn_config *cfg) { return (size_t)cfg->overlay_max_memory / 4 * 3; }

static void on_throttle_timer(uv_timer_t *t) { (void)t; /* the iteration's end resumes throttled writers */ }

void cairn_commit_new_iteration(cairn_server *srv) {
  if (!srv->stalled) return;
  if (cairn_store_overlay_bytes(srv->store) < (uint64_t)srv->cfg.overlay_max_memory && srv->on_store_room) {
    srv->throttled = 0;
    srv->on_store_room(srv);
    return;
  }
}

/* Wakes the loop in 1 ms: after a writer was throttled, or while the map is
 * unmapped ahead of a growth. */
static void arm_throttle_timer(cairn_server *srv) {
  if (!srv->throttle_timer_init) {
    uv_timer_init(srv->loop, &srv->throttle_timer);
    srv->throttle_timer_init = 1;
  }
  uv_timer_start(&srv->throttle_timer, on_throttle_timer, 1, 0);
}

void cairn_commit_after_iteration(cairn_server *srv) {
  if (srv->throttled && srv->stalled) arm_throttle_timer(srv);
  if (cairn_store_growing(srv->store)) {
    cairn_commit_poll_store(srv); /* the next slice of the map's unmapping */
    /* the store thread is held meanwhile: with writers stalled for room
     * nothing else may wake the loop, so come back in 1 ms for the next */
    if (cairn_store_growing(srv->store)) arm_throttle_timer(srv);
  }
}

/* The active layer is frozen when it is as big as a checkpoint may be
 * (checkpoint-bytes, or what one LMDB transaction can take), or, with no
 * drain in flight, after checkpoint-interval-ms: while a drain runs the
 * layer grows, so overwrites of hot keys coalesce. */
int cairn_checkpoint_needed(cairn_server *srv) {
  return cairn_store_dirty(srv->store) >= (uint64_t)srv->cfg.checkpoint_bytes || cairn_store_layer_full(srv->store);
}

int cairn_checkpoint_due(cairn_server *srv, int64_t now) {
  if (!cairn_store_dirty(srv->store)) return 0;
  if (cairn_checkpoint_needed(srv)) return 1;
  /* writers wait for room: the active layer is what must go */
  if (srv->stalled && cairn_store_frozen_layers(srv->store) == 0) return 1;
  /* (with the drain stopped by an error, freeze anyway: a later layer's
   * deletes may be what lets it fit) */
  /* While layers wait for the store thread, the active one grows to
   * checkpoint-bytes (rewrites of hot keys coalesce), unless they wait for
   * a merge to gather (overlay-merge-bytes): then each interval's layer
   * goes to a run file, and a restart replays at most an interval of
   * writes. Up to 16 such layers: every read looks in each. */
  int frozen = cairn_store_frozen_layers(srv->store);
  if (frozen > 0 && !srv->store_error && (srv->cfg.overlay_merge_bytes == 0 || frozen >= 16)) return 0;
  return now - srv->last_checkpoint_ms >= srv->cfg.checkpoint_interval_ms;
}

void cairn_commit_cron(cairn_server *srv, int64_t now) {
  if (srv->wal_unsynced && now - srv->last_wal_sync_ms >= 1000) sync_wal(srv);
  if (srv->store_error && now - srv->last_store_retry_ms >= 1000) {
    srv->last_store_retry_ms = now;
    cairn_store_retry(srv->store);
  }
  cairn_commit_poll_store(srv);
  if (now - srv->last_wal_maintain_ms >= 1000) {
    /* retention by age and cairn-backlog's manifest changes, also when idle */
    srv->last_wal_maintain_ms = now;
    cairn_commit_maintain_wal(srv);
  }
  if (srv->write_error && now - srv->last_wal_sync_ms >= 1000) {
    /* Let the next write try the backlog again. */
    srv->write_error = 0;
    srv->last_wal_sync_ms = now;
  }
}

void cairn_commit_iteration(cairn_server *srv) {
  append_pending(srv);
  cairn_store_defer_poll(srv->store); /* (an error stays in the store: the next write reports it) */
  if (cairn_checkpoint_due(srv, cairn_monotonic_ms())) cairn_commit_checkpoint(srv);
  if (srv->cfg.durability != CAIRN_DURABILITY_STRICT || !srv->fl.started) {
    if (srv->wal.end(srv->wal.ud) > srv->synced_offset) sync_wal(srv);
    notify(srv, CAIRN_SYNC_ALL_DURABLE);
  } else {
    strict_commit(srv);
  }
}

int cairn_commit_new_history(cairn_server *srv, uint64_t offset, int stream_db) {
  uint64_t flag = offset + 1; /* 0 would mean "no reset pending" */
  srv->stream.len = 0;
  srv->stream_offset = offset;
  srv->stream_db = stream_db;
  int rc = cairn_store_meta_put(srv->store, "wal_reset", &flag, sizeof(flag));
  int32_t sdb = stream_db;
  if (rc == 0) rc = cairn_store_meta_put(srv->store, "stream_db", &sdb, sizeof(sdb));
  if (srv->repl_hooks.checkpoint) srv->repl_hooks.checkpoint(srv);
  /* The new history is what the store holds, not the backlog: no sync
   * stands before it, nor before the old history's layers still waiting
   * (their offsets may be past the new one). The store must hold it on
   * disk before the backlog is reset: wait for the store thread (once per
   * full sync); the gate follows the new backlog afterwards. */
  cairn_store_wal_synced(srv->store, UINT64_MAX);
  if (rc == 0) rc = cairn_store_checkpoint(srv->store, offset);
  if (rc == 0 && cairn_store_wait(srv->store) != 0) {
    char why[256];
    cairn_store_drain_error(srv->store, why, sizeof(why));
    cairn_warning("new history at offset %llu: writing the store failed: %s", (unsigned long long)offset, why);
    return -1;
  }
  if (rc != 0) {
    cairn_warning("new history at offset %llu: checkpoint failed: %s", (unsigned long long)offset,
                  cairn_store_errstr(srv->store));
    return -1;
  }
  if (srv->wal.reset(srv->wal.ud, offset) != 0) {
    cairn_warning("new history at offset %llu: backlog reset failed: %s; exiting, a restart finishes it",
                  (unsigned long long)offset, strerror(errno));
    exit(1);
  }
  /* The reset is done: the flag goes, on disk before anything of the new
   * history is written (a restart that still saw it would reset the
   * backlog again, over the new history's records). One tiny layer. */
  flag = 0;
  if (cairn_store_meta_put(srv->store, "wal_reset", &flag, sizeof(flag)) != 0 ||
      cairn_store_checkpoint(srv->store, offset) != 0 || cairn_store_wait(srv->store) != 0) {
    cairn_warning("new history at offset %llu: clearing the backlog reset mark failed: %s; exiting, a restart "
                  "finishes it", (unsigned long long)offset, cairn_store_errstr(srv->store));
    exit(1);
  }
  srv->ckpt_stream_db = stream_db < 0 ? 0 : stream_db;
  srv->replay_db = srv->ckpt_stream_db;
  srv->wal_history++;
  srv->ndirty_marks = 0; /* the new history's changes start from what the store now holds */
  srv->dirty_saved = srv->dirty;
  srv->synced_offset = offset;
  cairn_store_wal_synced(srv->store, offset);
  srv->last_checkpoint_ms = 0; /* checkpoint (and clear the flag) at the next chance */
  return 0;
}

/* ---------------------------------------------------------------- startup */

int cairn_commit_startup(cairn_server *srv, char *err, size_t errlen) {
  uint64_t ckpt = cairn_store_checkpoint_offset(srv->store);
  cairn_buf reset = {0};
  uint64_t flag = 0;
  if (cairn_store_meta_get(srv->store, "wal_reset", &reset) == 1 && reset.len == sizeof(flag))
    memcpy(&flag, reset.p, sizeof(flag));
  cairn_buf_free(&reset);
  if (flag) {
    /* A full sync's new history was committed but the backlog reset did not
     * finish: finish it now (the old backlog belongs to another history). */
    cairn_notice("finishing the backlog reset of a full sync at offset %llu", (unsigned long long)(flag - 1));
    if (srv->wal.reset(srv->wal.ud, flag - 1) != 0) {
      snprintf(err, errlen, "cannot reset the backlog to offset %llu: %s", (unsigned long long)(flag - 1),
               strerror(errno));
      return -1;
    }
    flag = 0;
    cairn_store_meta_put(srv->store, "wal_reset", &flag, sizeof(flag));
  }
  uint64_t first = srv->wal.first(srv->wal.ud), end = srv->wal.end(srv->wal.ud);
  cairn_buf b = {0};
  int32_t sdb = -1;
  if (cairn_store_meta_get(srv->store, "stream_db", &b) == 1 && b.len == sizeof(sdb)) memcpy(&sdb, b.p, sizeof(sdb));
  cairn_buf_free(&b);
  srv->ckpt_stream_db = sdb < 0 ? 0 : sdb;
  srv->stream_db = sdb;
  if (end < ckpt) {
    /* Only possible when the backlog lost its unsynced tail (durability
     * relaxed + power loss): the store is ahead and consistent on its own. */
    cairn_warning("the backlog ends at offset %llu but the store's checkpoint covers %llu: continuing from "
                  "the checkpoint; replicas will need a full sync",
                  (unsigned long long)end, (unsigned long long)ckpt);
    if (srv->wal.reset(srv->wal.ud, ckpt) != 0) {
      snprintf(err, errlen, "cannot reset the backlog to offset %llu: %s", (unsigned long long)ckpt,
               strerror(errno));
      return -1;
    }
    first = ckpt + 1;
    end = ckpt;
  }
  if (first > ckpt + 1) {
    snprintf(err, errlen,
             "the backlog starts at offset %llu but the store's checkpoint covers only up to %llu: "
             "bytes %llu..%llu are missing, refusing to start",
             (unsigned long long)first, (unsigned long long)ckpt, (unsigned long long)ckpt + 1,
             (unsigned long long)first - 1);
    return -1;
  }
  srv->stream_offset = ckpt;
  /* What the backlog holds is on disk (it was read from there): the store
   * thread may write the replayed layers as they come. */
  cairn_store_wal_synced(srv->store, end);
  if (end > ckpt) {
    cairn_notice("recovery: replaying %llu backlog bytes from offset %llu", (unsigned long long)(end - ckpt),
                 (unsigned long long)ckpt + 1);
    int64_t t0 = cairn_monotonic_ms();
    for (;;) {
      int rc = replay(srv, 0, 1);
      if (rc == 0) break;
      cairn_store_rollback(srv->store);
      srv->stats.rollbacks++; /* state kept beside the store (functions) reloads from it */
      if (rc == CAIRN_STORE_MAP_FULL && cairn_store_grow_reserve(srv->store) == 0) continue;
      snprintf(err, errlen, "recovery failed: %s", replay_errstr(srv));
      return -1;
    }
    srv->stream_db = srv->replay_db;
    srv->stream_offset = end;
    /* (with every frozen layer in use, the replayed writes stay in the
     * active layer until the store thread makes room) */
    if (cairn_commit_checkpoint(srv) != 0 && cairn_store_frozen_layers(srv->store) == 0) {
      snprintf(err, errlen, "recovery checkpoint failed: %s", cairn_store_errstr(srv->store));
      return -1;
    }
    cairn_notice("recovery: done in %lld ms, offset %llu", (long long)(cairn_monotonic_ms() - t0),
                 (unsigned long long)end);
  }
  srv->stream_offset = end;
  /* Whatever the backlog holds now is what recovery saw: make it durable
   * before anything that depends on it is acknowledged. */
  if (srv->wal.sync(srv->wal.ud) != 0) {
    snprintf(err, errlen, "cannot sync the backlog: %s", strerror(errno));
    return -1;
  }
  srv->synced_offset = end;
  cairn_store_wal_synced(srv->store, end);
  return 0;
}
