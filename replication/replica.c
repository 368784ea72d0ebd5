/* Replication, replica side: REPLICAOF/SLAVEOF, the link that drives the
 * handshake of ../shared/PROTOCOL.md section 2 (the state machine is in
 * handshake.c), loading a full sync into fresh physical dbs while the old
 * data keeps answering, and applying the master's stream
 * through the same code as recovery, appended verbatim to our own backlog (so
 * offsets, chained replicas and a later promotion all line up). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "engine/commit.h"
#include "engine/log.h"
#include "engine/script.h"
#include "engine/server.h"
#include "engine/stream.h"
#include "engine/multi.h"
#include "engine/util.h"
#include "replication/rdb/rdb.h"
#include "engine/rdb_coll.h"
#include "engine/cmd/xstream.h"
#include "engine/tls.h"
#include "replication/handshake.h"
#include "replication/repl_int.h"
#include "replication/spool.h"

enum { L_NONE = 0, L_CONNECT, L_CONNECTING, L_HANDSHAKE, L_TRANSFER, L_CONNECTED };
static const char *link_state_names[] = {"none", "connect", "connecting", "handshake", "sync", "connected"};

typedef struct master_link {
  cairn_server *srv;
  cairn_buf functions;    /* full sync: the RDB's function libraries ([u32 len][code]...) */
  char host[256];
  int port;
  int state;
  uv_tcp_t *tcp;          /* NULL when not connected; freed by its close callback */
  cairn_tls *tls;         /* tls-replication: the session over tcp (engine/tls.h), else NULL */
  uv_connect_t creq;
  uv_getaddrinfo_t gai;
  int gai_busy;
  cairn_buf in;
  cairn_hs hs;            /* the handshake (handshake.h), in L_HANDSHAKE */
  /* full sync */
  int eof_mode;
  int ack_wanted;         /* a GETACK waits for the WAL to sync */
  char mark[40];
  long long left;         /* $<len> bytes still to read */
  uint64_t got;
  int rdb_done;
  cairn_rdb_reader *rdb;
  uint64_t sync_offset;
  char sync_replid[41];
  int stream_db;
  int load_rc;
  uint64_t loaded_keys, skipped_keys;
  cairn_coll_loader coll;  /* the collection being loaded (on_key .. on_key_end) */
  int coll_active;
  /* a full sync cut off mid-payload, kept to resume (REPLCONF resume-sync):
   * rdb, left, got, sync_replid and sync_offset stay as they were */
  int kept;
  int keep_on_close;      /* link_close may keep the load (the link broke, the load did not) */
  int header_pending;     /* +FULLRESYNC taken: the $ header comes next */
  int64_t kept_since_ms;
  /* the $<len> payload is also written to <dir>/replica-sync.spool
   * (repl-fullsync-spool, spool.h): a restart in the middle reloads it */
  int spool_fd;           /* -1: this sync is not spooled */
  char spool_path[4200];  /* <dir>/replica-sync.spool (dir cannot change while the server runs) */
  int stopping;           /* the server exits: the spool stays for the next start */
  /* reloading the spool at start (state L_CONNECT): the load is rebuilt
   * from it, off-loop reads (uv_fs_read), before the handshake asks the
   * master for the rest */
  int reload;             /* 0 none, 1 to start, 2 reading */
  int reload_busy;        /* a read is in flight */
  int reload_stalled;     /* waiting for room in the overlay (on_store_room) */
  int reload_close_fd;    /* a spool fd to close when the read in flight ends (-1) */
  uv_fs_t reload_req;
  char *reload_buf;
  uint64_t reload_have;   /* payload bytes the spool holds */
  int64_t reload_log_ms;
  int framed;             /* "+CONTINUE <id> cairn-zstd": envelopes until 'E' (master.c send_stored_frame) */
  uint8_t *zbuf;          /* a decompressed frame, applied up to zdone of zlen */
  size_t zbuf_cap, zlen, zdone;
  ZSTD_DCtx *dctx;
  /* streaming */
  cairn_apply_state apply;
  int64_t last_io_ms, down_since_ms, last_ack_ms, sync_start_ms;
  uint64_t client_id;     /* CLIENT LIST's id of the link while it streams (a new one each time) */
  int64_t streaming_since_ms;
  int read_stalled;       /* not reading: the store's overlay is at its budget */
  int slice_paused;       /* not reading: this iteration's slice of applying is used up (slice_over) */
  int64_t slice_iter, slice_end_us;
  int processing;         /* in process(): not entered again */
  uv_timer_t timer;
  uv_idle_t slice;        /* goes on applying in the next iteration */
} master_link;

static master_link *link_of(cairn_server *srv) { return srv->repl_link; }

/* ---------------------------------------------------------------- plumbing */

static void on_tcp_closed(uv_handle_t *h) { free(h); }

static void on_written(uv_write_t *req, int status) {
  (void)status;
  free(req->data);
  free(req);
}

static void link_send_raw(master_link *L, const char *p, size_t n) {
  if (!L->tcp) return;
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  int w = uv_try_write((uv_stream_t *)L->tcp, &b, 1);
  if (w == UV_EAGAIN) w = 0;
  if (w < 0 || (size_t)w == n) return;
  char *copy = cairn_xmemdup(p + w, n - (size_t)w);
  uv_write_t *req = cairn_xmalloc(sizeof(*req));
  req->data = copy;
  b = uv_buf_init(copy, (unsigned)(n - (size_t)w));
  if (uv_write(req, (uv_stream_t *)L->tcp, &b, 1, on_written) != 0) {
    free(copy);
    free(req);
  }
}

/* Ciphertext the TLS session has to send (handshake records, or what
 * link_send encrypted). */
static void link_flush_tls(master_link *L) {
  if (!L->tls || !cairn_tls_pending(L->tls)) return;
  cairn_buf b = {0};
  cairn_tls_take(L->tls, &b);
  link_send_raw(L, b.p, b.len);
  cairn_buf_free(&b);
}

static void link_send(master_link *L, const char *p, size_t n) {
  if (!L->tls) {
    link_send_raw(L, p, n);
    return;
  }
  if (cairn_tls_write(L->tls, p, n) != 0) return; /* a broken session: the read side closes the link */
  link_flush_tls(L);
}

static void send_command(master_link *L, int argc, const char **argv) {
  cairn_buf b = {0};
  cairn_str a[8];
  for (int i = 0; i < argc; i++) {
    a[i].p = argv[i];
    a[i].len = strlen(argv[i]);
  }
  cairn_resp_append_command(&b, argc, a);
  link_send(L, b.p, b.len);
  cairn_buf_free(&b);
}

static void on_marker(void *ud, int argc, const cairn_str *argv);
static void on_raw(void *ud, const char *p, size_t n);

/* ---------------------------------------------------------------- the spool */

/* Closes the spool (after the read in flight, if any); the file goes too
 * unless the server is exiting (the next start resumes from it). */
static void spool_close(master_link *L) {
  if (L->spool_fd >= 0) {
    if (L->reload_busy)
      L->reload_close_fd = L->spool_fd;
    else
      close(L->spool_fd);
    L->spool_fd = -1;
  }
  if (L->stopping) return;
  if (unlink(L->spool_path) != 0 && errno != ENOENT)
    cairn_warning("MASTER <-> REPLICA sync: cannot remove %s: %s", L->spool_path, strerror(errno));
}

/* A new $<len> payload: spooled from its first byte (a spool of an earlier
 * sync is replaced), or not at all. */
static void spool_start(master_link *L) {
  spool_close(L);
  cairn_server *srv = L->srv;
  if (L->eof_mode || !srv->cfg.repl_fullsync_spool || srv->cfg.repl_fullsync_resume_seconds <= 0) return;
  cairn_spool_header h = {.offset = L->sync_offset, .total = (uint64_t)L->left};
  memcpy(h.replid, L->sync_replid, sizeof(h.replid));
  if ((L->spool_fd = cairn_spool_create(L->spool_path, &h)) < 0)
    cairn_warning("MASTER <-> REPLICA sync: cannot create %s: %s; a restart during this full sync starts it over",
                  L->spool_path, strerror(errno));
}

/* Payload bytes p[0..n) from position L->got, into the spool. */
static void spool_append(master_link *L, const char *p, size_t n) {
  if (L->spool_fd < 0 || !n) return;
  if (cairn_spool_write(L->spool_fd, L->got, p, n) == 0) return;
  cairn_warning("MASTER <-> REPLICA sync: cannot write %s at payload byte %llu: %s; spooling stops (a restart "
                "during this full sync starts it over)",
                L->spool_path, (unsigned long long)L->got, strerror(errno));
  spool_close(L);
}

/* The link streams from here (after a full sync or +CONTINUE): Redis's
 * master client exists from this point, with a new id. */
static void link_streaming(master_link *L) {
  L->state = L_CONNECTED;
  L->srv->master_link_up = 1;
  L->client_id = ++L->srv->next_client_id;
  L->streaming_since_ms = cairn_monotonic_ms();
}

static void abort_load(master_link *L) {
  L->kept = 0;
  L->reload = 0;
  L->reload_stalled = 0;
  spool_close(L);
  if (!L->rdb) return;
  cairn_coll_loader_stream_free(&L->coll); /* a stream load cut short */
  cairn_rdb_reader_free(L->rdb);
  L->rdb = NULL;
  if (L->load_rc < 0) {
    /* The store failed under the load (map full...): back to the stream's
     * state first; the half load is then thrown away below. */
    char why[256];
    cairn_commit_recover(L->srv, L->load_rc, 0, why, sizeof(why));
    L->load_rc = 0;
  }
  if (cairn_store_loading(L->srv->store)) cairn_store_load_finish(L->srv->store, 0);
}

/* A full sync cut off by the link (not by a bad payload or the store) is
 * kept to resume: only $<len> payloads (a position means the same bytes
 * again), something loaded, the feature on. */
static int may_keep_load(const master_link *L) {
  return L->keep_on_close && L->state == L_TRANSFER && L->rdb && !L->header_pending && !L->eof_mode && L->got > 0 &&
         !L->rdb_done && L->load_rc == 0 && L->srv->cfg.repl_fullsync_resume_seconds > 0;
}

/* Drops the connection; the timer reconnects within a second. */
static void link_close(master_link *L, const char *why) {
  if (why) cairn_warning("MASTER <-> REPLICA link: %s", why);
  if (L->kept && (L->keep_on_close || L->state == L_CONNECTING)) {
    /* a reconnection failed (or could not connect): the kept load waits for
     * the next one */
  } else if (may_keep_load(L)) {
    L->kept = 1;
    L->kept_since_ms = cairn_monotonic_ms();
    cairn_notice("MASTER <-> REPLICA sync: keeping the %llu bytes loaded of %llu, to resume the full sync %s:%llu",
                 (unsigned long long)L->got, (unsigned long long)(L->got + (uint64_t)L->left), L->sync_replid,
                 (unsigned long long)L->sync_offset);
  } else {
    abort_load(L);
  }
  if (L->slice_paused) {
    L->slice_paused = 0;
    uv_idle_stop(&L->slice);
  }
  if (L->tcp) {
    uv_read_stop((uv_stream_t *)L->tcp);
    L->read_stalled = 0;
    uv_close((uv_handle_t *)L->tcp, on_tcp_closed);
    L->tcp = NULL;
  }
  cairn_tls_free(L->tls);
  L->tls = NULL;
  L->in.len = 0;
  L->zlen = L->zdone = 0;
  /* A partial command of the old connection is dropped; the hooks stay. */
  cairn_apply_free(&L->apply);
  cairn_apply_init(&L->apply);
  L->apply.ud = L;
  L->apply.on_marker = on_marker;
  L->apply.on_raw = on_raw;
  if (L->state == L_CONNECTED) L->down_since_ms = cairn_monotonic_ms();
  if (L->state != L_NONE) L->state = L_CONNECT;
  L->srv->master_link_up = 0;
}

/* REPLCONF ACK names the offset this replica has on disk (its WAL synced
 * through it), not merely applied: a WAIT that counts this replica then
 * means the write survives this replica's crash too (docs/DURABILITY.md,
 * "Across a failover"). */
static uint64_t acked_offset(const cairn_server *srv) {
  return srv->synced_offset < srv->stream_offset ? srv->synced_offset : srv->stream_offset;
}

static void send_ack(master_link *L) {
  char off[24];
  L->ack_wanted = 0;
  cairn_ll2str(off, (long long)acked_offset(L->srv));
  const char *argv[3] = {"REPLCONF", "ACK", off};
  send_command(L, 3, argv);
  L->last_ack_ms = cairn_monotonic_ms();
}

/* ---------------------------------------------------------------- streaming */

static void on_marker(void *ud, int argc, const cairn_str *argv) {
  master_link *L = ud;
  /* GETACK: answer with the offset on disk; when what came before the
   * GETACK is not synced yet, as soon as the group commit has synced it
   * (cairn_replica_synced), at the end of this iteration. */
  if (argc >= 2 && cairn_arg_is(argv[0], "replconf") && cairn_arg_is(argv[1], "getack")) {
    if (L->srv->synced_offset >= L->srv->stream_offset)
      send_ack(L);
    else
      L->ack_wanted = 1;
  }
}

void cairn_replica_synced(cairn_server *srv) {
  master_link *L = srv->repl_link;
  if (L && L->ack_wanted && L->state == L_CONNECTED) send_ack(L);
}

static void on_raw(void *ud, const char *p, size_t n) {
  master_link *L = ud;
  /* Verbatim into our own stream: same bytes, same offsets as the master. */
  cairn_stream_append_raw(L->srv, p, n);
}

static void apply_stream(master_link *L, const char *p, size_t n) {
  cairn_server *srv = L->srv;
  for (int tries = 0;; tries++) {
    srv->apply_live = 1; /* PUBLISH reaches our subscribers */
    int rc = cairn_apply(srv, &L->apply, p, n);
    srv->apply_live = 0;
    srv->stream_db = srv->replay_db;
    if (rc == 0) return;
    char why[256];
    if (tries >= 8 || cairn_commit_recover(srv, rc, 0, why, sizeof(why)) != 0) {
      link_close(L, "cannot apply the master's stream (see above); reconnecting");
      return;
    }
    p = NULL; /* retry what is still buffered */
    n = 0;
  }
}

/* ---------------------------------------------------------------- full sync load */

static int on_aux(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  master_link *L = ud;
  if (kl == 14 && !memcmp(k, "repl-stream-db", 14)) {
    long long db;
    if (cairn_str2ll((const char *)v, vl, &db)) L->stream_db = (int)db;
  }
  return 0;
}

static int on_key(void *ud, const cairn_rdb_key *k) {
  master_link *L = ud;
  if (k->db >= (uint64_t)L->srv->cfg.databases) {
    cairn_warning("Full sync: the master sent db %llu but 'databases' is %d", (unsigned long long)k->db,
                  L->srv->cfg.databases);
    return 1;
  }
  L->coll_active = 0;
  if (k->kind != CAIRN_RDB_KIND_STRING) {
    /* Members arrive one by one from the reader and go straight into a fresh
     * collection id: a big collection is never held in memory. */
    cairn_coll_loader_start(&L->coll, L->srv->store, cairn_rdb_type_of_kind(k->kind));
    L->coll_active = 1;
  }
  return 0;
}

static int on_string(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  master_link *L = ud;
  cairn_str key = {(const char *)k->key, k->key_len};
  int rc = cairn_store_load_put(L->srv->store, (int)k->db, key, CAIRN_TYPE_STRING, v, n, k->expire_ms);
  if (rc < 0) {
    L->load_rc = rc;
    return 1;
  }
  L->loaded_keys++;
  return 0;
}

/* After a member was added: the first one writes the header at once, so a
 * load abandoned half-way (link lost, crash after a checkpoint) leaves a key
 * in the loading db that the sweeper retires with its members. */
static int coll_added(master_link *L, const cairn_rdb_key *k, int rc) {
  if (rc == 1) {
    cairn_warning("Full sync: duplicate member or invalid score in key '%s'", k->key);
    return 1;
  }
  if (rc == 0 && L->coll.coll.count == 1) {
    cairn_str key = {(const char *)k->key, k->key_len};
    rc = cairn_store_load_coll(L->srv->store, (int)k->db, key, L->coll.type, &L->coll.coll, k->expire_ms);
  }
  if (rc < 0) {
    L->load_rc = rc;
    return 1;
  }
  return 0;
}

static int on_elem(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  master_link *L = ud;
  return coll_added(L, k, cairn_coll_loader_elem(&L->coll, v, n));
}

static int on_field(void *ud, const cairn_rdb_key *k, const uint8_t *f, size_t fl, const uint8_t *v, size_t vl) {
  master_link *L = ud;
  return coll_added(L, k, cairn_coll_loader_field(&L->coll, f, fl, v, vl));
}

static int on_zmember(void *ud, const cairn_rdb_key *k, const uint8_t *m, size_t ml, double score) {
  master_link *L = ud;
  return coll_added(L, k, cairn_coll_loader_zmember(&L->coll, m, ml, score));
}

static int on_stream(void *ud, const cairn_rdb_key *k, const cairn_rdb_stream_item *item) {
  master_link *L = ud;
  return coll_added(L, k, cairn_coll_loader_stream(&L->coll, item));
}

static int on_key_end(void *ud, const cairn_rdb_key *k) {
  master_link *L = ud;
  if (!L->coll_active) return 0;
  L->coll_active = 0;
  if (L->coll.type == CAIRN_TYPE_STREAM) {
    /* the stream's metadata entry, written last (engine/cmd/xstream.c) */
    int src = cairn_coll_loader_stream_end(&L->coll);
    if (src != 0) return coll_added(L, k, src);
  }
  if (L->coll.coll.count == 0) return 0; /* Redis skips empty collections too */
  cairn_str key = {(const char *)k->key, k->key_len};
  int rc = cairn_store_load_coll(L->srv->store, (int)k->db, key, L->coll.type, &L->coll.coll, k->expire_ms);
  if (rc < 0) {
    L->load_rc = rc;
    return 1;
  }
  L->loaded_keys++;
  return 0;
}

static int on_skipped(void *ud, const cairn_rdb_key *k, const char *why) {
  master_link *L = ud;
  if (L->skipped_keys++ == 0) cairn_warning("Full sync: key '%s' left out: %s", k->key, why);
  return 0;
}

/* A FUNCTION2 entry: kept until the load finishes, then the libraries
 * become the master's (none when it sent none), like Redis. */
static int on_function(void *ud, const uint8_t *code, size_t n) {
  master_link *L = ud;
  uint32_t len = (uint32_t)n;
  cairn_buf_append(&L->functions, &len, 4);
  cairn_buf_append(&L->functions, code, n);
  return 0;
}

static const cairn_rdb_callbacks load_callbacks = {.on_aux = on_aux,
                                                   .on_function = on_function,
                                                   .on_key = on_key,
                                                   .on_string = on_string,
                                                   .on_elem = on_elem,
                                                   .on_field = on_field,
                                                   .on_zmember = on_zmember,
                                                   .on_stream = on_stream,
                                                   .on_key_end = on_key_end,
                                                   .on_skipped = on_skipped};

/* The whole RDB is loaded: it becomes the data set. live: from the link
 * (which then streams), else from the spool at start (the handshake that
 * follows continues from the sync's offset). 0, or -1 with the link closed
 * and the load dropped. */
static int finish_load(master_link *L, int live) {
  cairn_server *srv = L->srv;
  cairn_rdb_reader_free(L->rdb);
  L->rdb = NULL;
  spool_close(L); /* whatever comes next, it is not needed any more */
  cairn_repl_drop_replicas(srv); /* our sub-replicas follow the new history with a full sync */
  if (cairn_store_load_finish(srv->store, 1) != 0 ||
      cairn_functions_replace_all(srv, L->functions.p, L->functions.len) != 0 ||
      cairn_commit_new_history(srv, L->sync_offset, L->stream_db < 0 ? 0 : L->stream_db) != 0) {
    link_close(L, "cannot switch to the loaded data set");
    return -1;
  }
  cairn_repl_adopt_id(srv, L->sync_replid);
  cairn_watch_touch_all(srv); /* every WATCHed key may have changed */
  cairn_notice("MASTER <-> REPLICA sync: Finished with success: %llu keys in %lld ms%s",
               (unsigned long long)L->loaded_keys, (long long)(cairn_monotonic_ms() - L->sync_start_ms),
               L->skipped_keys ? " (module values left out)" : "");
  srv->replay_db = L->stream_db < 0 ? 0 : L->stream_db;
  if (!live) return 0;
  link_streaming(L);
  if (L->eof_mode) send_ack(L); /* the master waits for it before streaming */
  return 0;
}

/* Feeds payload bytes to the load (spooling them when spool): bytes
 * consumed, or -1 with the cause in why. */
static long long feed_payload(master_link *L, const char *p, size_t n, int spool, char *why, size_t whylen) {
  size_t give = n;
  if (!L->eof_mode && (long long)give > L->left) give = (size_t)L->left;
  long long c = cairn_rdb_reader_feed(L->rdb, p, give);
  if (c < 0) {
    snprintf(why, whylen, "%s", L->load_rc ? cairn_store_errstr(L->srv->store) : cairn_rdb_reader_error(L->rdb));
    return -1;
  }
  if (spool) spool_append(L, p, (size_t)c);
  if (!L->eof_mode) L->left -= c;
  L->got += (uint64_t)c;
  if (cairn_rdb_reader_done(L->rdb)) L->rdb_done = 1;
  /* A long load checkpoints as it goes: the old data is untouched, and a
   * crash sweeps the half load at the next start. */
  if (cairn_checkpoint_needed(L->srv)) cairn_commit_checkpoint(L->srv);
  return c;
}

/* Feeds payload bytes; returns bytes consumed, or -1 after closing the link. */
static long long transfer(master_link *L, const char *p, size_t n) {
  size_t used = 0;
  if (!L->rdb_done) {
    char err[512], why[540];
    long long c = feed_payload(L, p, n, 1, err, sizeof(err));
    if (c < 0) {
      snprintf(why, sizeof(why), "full sync failed: %s", err);
      link_close(L, why);
      return -1;
    }
    used = (size_t)c;
  }
  if (L->rdb_done) {
    if (L->eof_mode) {
      if (n - used < 40) return (long long)used; /* wait for the whole mark */
      if (memcmp(p + used, L->mark, 40) != 0) {
        link_close(L, "full sync failed: the end mark does not follow the RDB");
        return -1;
      }
      used += 40;
    } else if (L->left != 0) {
      link_close(L, "full sync failed: the RDB ended before the announced length");
      return -1;
    }
    if (finish_load(L, 1) != 0) return -1;
  } else if (!L->eof_mode && L->left == 0) {
    link_close(L, "full sync failed: the payload ended inside the RDB");
    return -1;
  }
  return (long long)used;
}

/* A new load of an RDB (eof_mode and left set): the reader and the
 * store's loading dbs. 0, or -1. */
static int load_begin(master_link *L) {
  if (!L->eof_mode) {
    /* The size is known: make the map big enough now (an RDB takes about
     * twice its size in LMDB pages, plus room for the old data to stay),
     * instead of failing with a full map half-way and starting over. */
    if (cairn_commit_checkpoint(L->srv) == 0 &&
        cairn_store_make_room(L->srv->store, 3 * (uint64_t)L->left + (64u << 20)) != 0)
      cairn_notice("Full sync: the map cannot grow ahead to %llu bytes; it grows as needed",
                   (unsigned long long)(3 * (uint64_t)L->left));
  }
  L->functions.len = 0;
  L->rdb = cairn_rdb_reader_new(&load_callbacks, L, 0);
  L->rdb_done = 0;
  L->got = 0;
  L->load_rc = 0;
  L->loaded_keys = L->skipped_keys = 0;
  L->stream_db = 0;
  return cairn_store_load_begin(L->srv->store) != 0 ? -1 : 0;
}

static void start_transfer(master_link *L, const char *hdr, size_t len) {
  if (len >= 45 && !memcmp(hdr, "$EOF:", 5)) {
    L->eof_mode = 1;
    memcpy(L->mark, hdr + 5, 40);
  } else {
    long long n;
    if (!cairn_str2ll(hdr + 1, len - 1, &n) || n < 0) {
      link_close(L, "bad bulk length from the master");
      return;
    }
    L->eof_mode = 0;
    L->left = n;
  }
  if (load_begin(L) != 0) {
    link_close(L, "cannot start loading");
    return;
  }
  spool_start(L);
  cairn_notice("MASTER <-> REPLICA sync: receiving %s", L->eof_mode ? "streamed RDB ($EOF framing)" : "RDB");
}

/* The rest of a kept full sync: $<bytes left>, which must be what it lacks. */
static void resume_transfer(master_link *L, const char *hdr, size_t len) {
  long long n;
  if (!cairn_str2ll(hdr + 1, len - 1, &n) || n != L->left) {
    char why[160];
    snprintf(why, sizeof(why), "the resumed full sync announces %.40s bytes, %lld were left", hdr + 1, L->left);
    L->keep_on_close = 0;
    link_close(L, why);
    return;
  }
  cairn_notice("MASTER <-> REPLICA sync: receiving the last %lld bytes of the RDB", n);
}

/* ---------------------------------------------------------------- the spool at start */

/* A read of the spool is fed to the load in one loop iteration: small
 * enough to keep the iteration short (a few ms of loading). */
#define RELOAD_CHUNK (256 * 1024)

static void reload_next(master_link *L);
static void link_connect(master_link *L);

static void reload_fail(master_link *L, const char *why) {
  cairn_warning("MASTER <-> REPLICA sync: %s cannot be reloaded at payload byte %llu: %s; the full sync starts over",
                L->spool_path, (unsigned long long)L->got, why);
  abort_load(L); /* (the spool goes with it) */
}

static void reload_log(master_link *L, const char *what) {
  cairn_notice("MASTER <-> REPLICA sync: %s %llu of the %llu spooled bytes of full sync %s:%llu (%lld ms)", what,
               (unsigned long long)L->got, (unsigned long long)L->reload_have, L->sync_replid,
               (unsigned long long)L->sync_offset, (long long)(cairn_monotonic_ms() - L->sync_start_ms));
  L->reload_log_ms = cairn_monotonic_ms();
}

/* The spool is loaded: the load is kept as if the link had been cut there,
 * and the handshake asks the master for the rest (REPLCONF resume-sync). */
static void reload_done(master_link *L) {
  L->reload = 0;
  if (L->rdb_done) {
    /* the whole RDB was spooled: it is the data set now, and the stream
     * after it comes with a PSYNC from the sync's offset */
    if (L->left != 0) {
      reload_fail(L, "the RDB ends before the payload's announced length");
      return;
    }
    reload_log(L, "reloaded all");
    if (finish_load(L, 0) != 0) return;
    cairn_notice("MASTER <-> REPLICA sync: Finished with success from the spool: %llu keys",
                 (unsigned long long)L->loaded_keys);
  } else {
    L->kept = 1;
    L->kept_since_ms = cairn_monotonic_ms();
    reload_log(L, "reloaded");
  }
  if (L->state == L_CONNECT) { /* at once, not at the timer's next tick */
    cairn_notice("Connecting to MASTER %s:%d", L->host, L->port);
    link_connect(L);
  }
}

static void on_reload_read(uv_fs_t *req) {
  master_link *L = req->data;
  ssize_t n = (ssize_t)req->result;
  uv_fs_req_cleanup(req);
  L->reload_busy = 0;
  if (L->reload_close_fd >= 0) {
    close(L->reload_close_fd);
    L->reload_close_fd = -1;
  }
  if (L->reload != 2) return; /* dropped meanwhile (REPLICAOF, shutdown) */
  if (n <= 0) {
    reload_fail(L, n < 0 ? uv_strerror((int)n) : "the file is shorter than it was");
    return;
  }
  char err[512];
  if (feed_payload(L, L->reload_buf, (size_t)n, 0, err, sizeof(err)) < 0) {
    reload_fail(L, err);
    return;
  }
  if (cairn_monotonic_ms() - L->reload_log_ms >= 5000) reload_log(L, "reloaded");
  reload_next(L);
}

static void reload_next(master_link *L) {
  if (L->rdb_done || L->got >= L->reload_have) {
    reload_done(L);
    return;
  }
  if (cairn_store_overlay_bytes(L->srv->store) >= (uint64_t)L->srv->cfg.overlay_max_memory) {
    L->reload_stalled = 1; /* on_store_room goes on */
    return;
  }
  size_t n = L->reload_have - L->got < RELOAD_CHUNK ? (size_t)(L->reload_have - L->got) : RELOAD_CHUNK;
  if (!L->reload_buf) L->reload_buf = cairn_xmalloc(RELOAD_CHUNK);
  uv_buf_t b = uv_buf_init(L->reload_buf, (unsigned)n);
  L->reload_req.data = L;
  int rc = uv_fs_read(L->srv->loop, &L->reload_req, L->spool_fd, &b, 1, (int64_t)(CAIRN_SPOOL_HEADER + L->got),
                      on_reload_read);
  if (rc != 0) {
    reload_fail(L, uv_strerror(rc));
    return;
  }
  L->reload_busy = 1;
}

/* At start, before connecting: rebuild the load the spool holds. */
static void reload_start(master_link *L) {
  L->eof_mode = 0;
  L->sync_start_ms = cairn_monotonic_ms();
  if (load_begin(L) != 0) {
    reload_fail(L, "cannot start loading");
    return;
  }
  L->reload = 2;
  cairn_notice("MASTER <-> REPLICA sync: reloading the %llu bytes of full sync %s:%llu spooled in %s (of %lld), to "
               "resume it",
               (unsigned long long)L->reload_have, L->sync_replid, (unsigned long long)L->sync_offset, L->spool_path,
               L->left);
  L->reload_log_ms = cairn_monotonic_ms();
  reload_next(L);
}

/* At init: a spool left by the previous run (restarted during a full sync)
 * is reloaded when this server is still a replica and the master may still
 * keep that sync; otherwise it is removed, saying why. */
static void spool_found_at_start(master_link *L) {
  cairn_server *srv = L->srv;
  const char *path = L->spool_path;
  char err[256];
  cairn_spool_header h;
  uint64_t have = 0;
  int fd;
  if (cairn_spool_open(path, &fd, &h, &have, err, sizeof(err)) != 0) {
    cairn_warning("MASTER <-> REPLICA sync: %s is not a usable full-sync spool (%s); removed", path, err);
    unlink(path);
    return;
  }
  if (fd < 0) return;
  const char *why = NULL;
  struct stat st;
  if (!srv->replica_mode)
    why = "this server is not a replica";
  else if (!srv->cfg.repl_fullsync_spool)
    why = "repl-fullsync-spool is no";
  else if (srv->cfg.repl_fullsync_resume_seconds <= 0)
    why = "repl-fullsync-resume-seconds is 0";
  else if (have == 0)
    why = "it holds no payload";
  else if (fstat(fd, &st) == 0 && (long long)(time(NULL) - st.st_mtime) > srv->cfg.repl_fullsync_resume_seconds)
    why = "it is older than repl-fullsync-resume-seconds (its master no longer keeps that sync)";
  if (why) {
    cairn_notice("MASTER <-> REPLICA sync: the full-sync spool %s (%llu bytes of sync %s:%llu) is not reloaded: %s; "
                 "removed",
                 path, (unsigned long long)have, h.replid, (unsigned long long)h.offset, why);
    close(fd);
    unlink(path);
    return;
  }
  L->spool_fd = fd;
  memcpy(L->sync_replid, h.replid, sizeof(L->sync_replid));
  L->sync_offset = h.offset;
  L->reload_have = have;
  L->left = (long long)h.total; /* (what the payload lacks is worked out as the spool loads) */
  L->reload = 1;
}

/* ---------------------------------------------------------------- handshake */

/* Sends what the handshake has to send now, with the values of this moment. */
static void handshake_send(master_link *L) {
  cairn_server *srv = L->srv;
  cairn_hs_params p = {.masteruser = srv->cfg.masteruser,
                       .masterauth = srv->cfg.masterauth,
                       /* Redis: a replica over TLS announces its tls-port */
                       .listening_port = srv->cfg.tls_replication && srv->cfg.tls_port ? srv->cfg.tls_port
                                         : srv->tcp_port_bound                         ? srv->tcp_port_bound
                                                                                       : srv->cfg.port,
                       .replid = cairn_repl_replid(srv),
                       .offset = srv->stream_offset,
                       .resume_replid = L->kept ? L->sync_replid : NULL,
                       .resume_offset = L->sync_offset,
                       .resume_pos = L->got,
                       .frames = srv->cfg.repl_compressed_catchup,
                       .slot_name = srv->cfg.replica_slot_name};
  cairn_hs_cmd c;
  while (cairn_hs_next_command(&L->hs, &p, &c)) {
    if (L->hs.state == CAIRN_HS_WAIT_PSYNC)
      cairn_notice("Trying a partial resynchronization (request %s:%s).", c.argv[1], c.argv[2]);
    send_command(L, c.argc, c.argv);
  }
}

/* Feeds one reply line to the handshake and acts on it; 0 once the link is closed. */
static int handshake_reply(master_link *L, const char *line, size_t len) {
  cairn_server *srv = L->srv;
  cairn_hs_result r;
  cairn_hs_event ev = cairn_hs_feed(&L->hs, line, len, &r);
  switch (ev) {
  case CAIRN_HS_WAIT:
    break;
  case CAIRN_HS_SEND:
    handshake_send(L);
    break;
  case CAIRN_HS_FULLSYNC:
    if (L->kept && L->hs.resumed && !strcmp(L->sync_replid, r.replid) && L->sync_offset == r.offset) {
      L->kept = 0;
      L->state = L_TRANSFER;
      L->header_pending = 1;
      cairn_notice("MASTER <-> REPLICA sync: the master resumes the full sync at byte %llu", (unsigned long long)L->got);
      break;
    }
    if (L->kept) {
      cairn_notice("MASTER <-> REPLICA sync: the master starts a new full sync; the kept one is dropped");
      abort_load(L);
    }
    memcpy(L->sync_replid, r.replid, sizeof(L->sync_replid));
    L->sync_offset = r.offset;
    L->state = L_TRANSFER;
    L->rdb = NULL;
    L->header_pending = 1;
    L->sync_start_ms = cairn_monotonic_ms();
    cairn_notice("Full resync from master: %s:%llu", L->sync_replid, (unsigned long long)L->sync_offset);
    break;
  case CAIRN_HS_CONTINUE:
    if (L->kept) abort_load(L); /* the old data set goes on: the half load goes */
    if (r.new_id) {
      cairn_repl_continue_id(srv, r.replid);
      cairn_repl_drop_replicas(srv);
    }
    L->framed = r.framed;
    cairn_notice("Successful partial resynchronization with master.%s",
                 r.framed ? " The catch-up comes as the master's stored frames." : "");
    link_streaming(L);
    srv->replay_db = srv->stream_db < 0 ? 0 : srv->stream_db;
    break;
  case CAIRN_HS_RETRY:
  case CAIRN_HS_FAIL:
    L->keep_on_close = ev == CAIRN_HS_RETRY; /* the master will sync later: a kept load waits */
    link_close(L, r.why);
    L->keep_on_close = 0;
    return 0;
  }
  return 1;
}

/* The master's stream is applied for at most APPLY_SLICE_US in one loop
 * iteration: a catch-up has megabytes waiting (libuv reads a stream up to
 * 32 times an iteration, and a stored frame is 1 MB of stream), which
 * applied at once made iterations of over a second on a replica catching
 * up, with its clients, its group commit and GETACK waiting. Past the
 * slice the link stops reading and goes on in the next iteration. */
#define APPLY_SLICE_US 10000
#define APPLY_CHUNK (16 * 1024)

static void process(master_link *L);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static int slice_over(master_link *L) {
  if (!L->slice.data) return 0; /* (before the first cron tick: no handle to go on with) */
  int64_t now = cairn_ustime();
  if (L->slice_iter != L->srv->iteration_start_us) { /* a new iteration: a new slice */
    L->slice_iter = L->srv->iteration_start_us;
    L->slice_end_us = now + APPLY_SLICE_US;
    return 0;
  }
  return now >= L->slice_end_us;
}

/* An idle handle, not a timer: a 0 ms timer started in its own callback
 * runs again in the same pass over the timers (this libuv), never letting
 * the iteration end. */
static void on_slice(uv_idle_t *t) {
  master_link *L = t->data;
  uv_idle_stop(t);
  if (!L->slice_paused) return;
  L->slice_paused = 0;
  if (!L->tcp) return;
  /* idle handles run before the iteration's prepare phase, which is what
   * slice_over counts iterations by: a slice of its own */
  L->slice_iter = L->srv->iteration_start_us;
  L->slice_end_us = cairn_ustime() + APPLY_SLICE_US;
  process(L);
  if (L->tcp && !L->slice_paused && !L->read_stalled &&
      uv_read_start((uv_stream_t *)L->tcp, on_alloc, on_read) != 0)
    link_close(L, "cannot read from the master");
}

static void slice_pause(master_link *L) {
  if (L->slice_paused) return;
  L->slice_paused = 1;
  uv_read_stop((uv_stream_t *)L->tcp);
  uv_idle_start(&L->slice, on_slice);
}

/* p[*done..len) applied in APPLY_CHUNK pieces while the slice lasts (past
 * it, the link pauses): 1 all of it, 0 paused, -1 the link closed (the
 * stream could not be applied). */
static int apply_in_slices(master_link *L, const char *p, size_t len, size_t *done) {
  while (*done < len) {
    if (slice_over(L)) {
      slice_pause(L);
      return 0;
    }
    size_t n = len - *done < APPLY_CHUNK ? len - *done : APPLY_CHUNK;
    apply_stream(L, p + *done, n);
    if (!L->tcp) return -1;
    *done += n;
  }
  return 1;
}

/* What is left of the unwrapped frame (zbuf[zdone..zlen]). */
static int apply_unwrapped(master_link *L) { return apply_in_slices(L, (const char *)L->zbuf, L->zlen, &L->zdone); }

static void zbuf_reserve(master_link *L, size_t n) {
  if (L->zbuf_cap >= n) return;
  L->zbuf = cairn_xrealloc(L->zbuf, n);
  L->zbuf_cap = n;
}

/* Envelopes of a framed catch-up (see master.c send_stored_frame): their stream
 * bytes are applied like plain ones. Returns 1 when the envelopes ended
 * (plain RESP follows in L->in), 0 when more bytes are needed (or the slice
 * is used up), -1 after
 * closing the link. */
static int unwrap_frames(master_link *L) {
  for (;;) {
    int rc = apply_unwrapped(L);
    if (rc <= 0) return rc;
    if (!L->framed || !L->tcp || !L->in.len) break;
    const uint8_t *p = (const uint8_t *)L->in.p;
    if (p[0] == 'E') {
      cairn_buf_consume(&L->in, 1);
      L->framed = 0;
      cairn_notice("MASTER <-> REPLICA sync: caught up from the master's stored frames; plain stream from here");
      return 1;
    }
    if (p[0] == 'R') {
      if (L->in.len < 5) return 0;
      uint32_t n = cairn_get_le32(p + 1);
      if (L->in.len < 5 + (size_t)n) return 0;
      zbuf_reserve(L, n);
      memcpy(L->zbuf, p + 5, n);
      L->zlen = n;
      L->zdone = 0;
      cairn_buf_consume(&L->in, 5 + (size_t)n);
      continue;
    }
    if (p[0] != 'Z') {
      link_close(L, "bad frame from MASTER (not R, Z or E)");
      return -1;
    }
    if (L->in.len < 13) return 0;
    uint32_t clen = cairn_get_le32(p + 1), rlen = cairn_get_le32(p + 5), crc = cairn_get_le32(p + 9);
    if (rlen > (64u << 20) || clen > (64u << 20)) {
      link_close(L, "bad frame from MASTER (length)");
      return -1;
    }
    if (L->in.len < 13 + (size_t)clen) return 0;
    if (cairn_crc32c(0, p + 13, clen) != crc) {
      link_close(L, "a frame from MASTER fails its checksum");
      return -1;
    }
    zbuf_reserve(L, rlen);
    if (!L->dctx) L->dctx = ZSTD_createDCtx();
    size_t got = L->dctx ? ZSTD_decompressDCtx(L->dctx, L->zbuf, rlen, p + 13, clen) : 0;
    if (!L->dctx || ZSTD_isError(got) || got != rlen) {
      link_close(L, "a frame from MASTER does not decompress to its length");
      return -1;
    }
    L->zlen = rlen;
    L->zdone = 0;
    /* the frame as stored, for our own backlog: its first byte comes after
     * everything applied or waiting in the apply state (a command cut by
     * the frame's start) */
    cairn_server *srv = L->srv;
    if (srv->wal.adopt_frame)
      srv->wal.adopt_frame(srv->wal.ud, srv->stream_offset + L->apply.buf.len + 1, p + 13, clen, rlen,
                           cairn_crc32c(0, L->zbuf, rlen));
    cairn_buf_consume(&L->in, 13 + (size_t)clen);
  }
  return L->framed ? 0 : 1;
}

/* Takes one line out of L->in (without \r\n); 0 if none complete. */
static int take_line(master_link *L, char *line, size_t cap, size_t *len) {
  char *nl = memchr(L->in.p, '\n', L->in.len);
  if (!nl) return 0;
  size_t n = (size_t)(nl - L->in.p);
  size_t keep = n && L->in.p[n - 1] == '\r' ? n - 1 : n;
  if (keep >= cap) keep = cap - 1;
  memcpy(line, L->in.p, keep);
  line[keep] = '\0';
  *len = keep;
  cairn_buf_consume(&L->in, n + 1);
  return 1;
}

static void process_in(master_link *L);

static void process(master_link *L) {
  if (L->processing) return;
  L->processing = 1;
  process_in(L);
  L->processing = 0;
}

static void process_in(master_link *L) {
  char line[1024];
  size_t len;
  while (L->tcp && (L->in.len || L->zdone < L->zlen)) {
    if (L->state == L_HANDSHAKE) {
      if (!take_line(L, line, sizeof(line), &len)) return;
      if (!handshake_reply(L, line, len)) return;
    } else if (L->state == L_TRANSFER) {
      if (L->header_pending) { /* the $ header, after keepalive newlines */
        if (!take_line(L, line, sizeof(line), &len)) return;
        if (len == 0) continue;
        if (line[0] != '$') {
          char why[1100];
          snprintf(why, sizeof(why), "bad protocol from MASTER, the first byte is not '$': '%s'", line);
          link_close(L, why);
          return;
        }
        L->header_pending = 0;
        if (L->rdb)
          resume_transfer(L, line, len);
        else
          start_transfer(L, line, len);
        continue;
      }
      long long used = transfer(L, L->in.p, L->in.len);
      if (used < 0) return;
      cairn_buf_consume(&L->in, (size_t)used);
      if (L->state == L_TRANSFER) return; /* needs more bytes */
    } else if (L->state == L_CONNECTED && L->framed) {
      if (unwrap_frames(L) <= 0) return;
    } else if (L->state == L_CONNECTED) {
      size_t done = 0;
      if (apply_in_slices(L, L->in.p, L->in.len, &done) < 0) return; /* closed: L->in is dropped */
      cairn_buf_consume(&L->in, done);
      return;
    } else {
      return;
    }
  }
}

static char tls_read_buf[64 * 1024]; /* the link's ciphertext, fed to its session at once */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  master_link *L = h->data;
  if (L->tls) {
    *buf = uv_buf_init(tls_read_buf, sizeof(tls_read_buf));
    return;
  }
  cairn_buf_reserve(&L->in, 64 * 1024);
  *buf = uv_buf_init(L->in.p + L->in.len, (unsigned)(L->in.cap - L->in.len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  master_link *L = s->data;
  if ((uv_tcp_t *)s != L->tcp) return;
  if (nread < 0) {
    L->keep_on_close = 1;
    link_close(L, "connection lost");
    L->keep_on_close = 0;
    return;
  }
  L->last_io_ms = cairn_monotonic_ms();
  if (L->tls) {
    if (nread == 0) return;
    int handshook = 0;
    char err[256] = "out of memory";
    int rc = cairn_tls_feed(L->tls, buf->base, (size_t)nread) == 0
                 ? cairn_tls_read(L->tls, &L->in, &handshook, err, sizeof(err))
                 : -1;
    link_flush_tls(L);
    if (rc != 0) {
      char why[320];
      snprintf(why, sizeof(why), rc < 0 ? "TLS error with the master: %s" : "the master closed the TLS session%.0s",
               err);
      link_close(L, why);
      return;
    }
    if (handshook) {
      handshake_send(L); /* TLS is up: the replication handshake starts */
      if (!L->tcp || (uv_tcp_t *)s != L->tcp) return;
    }
  } else {
    L->in.len += (size_t)nread;
  }
  process(L);
  /* Applying faster than the store thread writes LMDB: stop reading the
   * master until a layer is on disk (the master's stream waits in its
   * socket buffer and backlog; cairn_replica_store_room resumes). */
  if (L->tcp && (uv_tcp_t *)s == L->tcp &&
      cairn_store_overlay_bytes(L->srv->store) >= (uint64_t)L->srv->cfg.overlay_max_memory) {
    uv_read_stop(s);
    L->read_stalled = 1;
    L->srv->stats.writer_stalls++; /* the master's stream is this server's writer */
  }
}

static void on_store_room(cairn_server *srv) {
  master_link *L = link_of(srv);
  if (L && L->reload == 2 && L->reload_stalled) {
    L->reload_stalled = 0;
    reload_next(L);
    return;
  }
  if (!L || !L->read_stalled || !L->tcp) return;
  L->read_stalled = 0;
  L->last_io_ms = cairn_monotonic_ms();
  if (!L->slice_paused && uv_read_start((uv_stream_t *)L->tcp, on_alloc, on_read) != 0) {
    link_close(L, "cannot read from the master");
    return;
  }
  process(L);
}

static void on_connected(uv_connect_t *req, int status) {
  master_link *L = req->data;
  if ((uv_tcp_t *)req->handle != L->tcp) return; /* a connection given up meanwhile */
  if (status < 0) {
    char why[256];
    snprintf(why, sizeof(why), "error condition on socket for SYNC: %s", uv_strerror(status));
    link_close(L, why);
    return;
  }
  cairn_notice("MASTER <-> REPLICA sync started");
  int rc = uv_tcp_nodelay(L->tcp, 1);
  if (rc != 0) cairn_verbose("TCP_NODELAY on the master link: %s", uv_strerror(rc));
  L->tcp->data = L;
  if ((rc = uv_read_start((uv_stream_t *)L->tcp, on_alloc, on_read)) != 0) {
    char why[256];
    snprintf(why, sizeof(why), "cannot read from the master: %s", uv_strerror(rc));
    link_close(L, why);
    return;
  }
  L->state = L_HANDSHAKE;
  cairn_hs_init(&L->hs);
  L->last_io_ms = cairn_monotonic_ms();
  if (L->srv->cfg.tls_replication) {
    /* The TLS handshake first: the replication handshake starts once it is
     * done (on_read). */
    if (!(L->tls = cairn_tls_new(L->srv, 0))) {
      link_close(L, "cannot create a TLS session for the master link (is TLS configured?)");
      return;
    }
    link_flush_tls(L); /* the ClientHello */
    return;
  }
  handshake_send(L);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  master_link *L = req->data;
  L->gai_busy = 0;
  if (L->state != L_CONNECTING) {
    if (res) uv_freeaddrinfo(res);
    return;
  }
  if (status < 0 || !res) {
    char why[512];
    snprintf(why, sizeof(why), "cannot resolve %s: %s", L->host, uv_strerror(status));
    if (res) uv_freeaddrinfo(res);
    link_close(L, why);
    return;
  }
  L->tcp = cairn_xcalloc(1, sizeof(uv_tcp_t));
  int rc = uv_tcp_init(L->srv->loop, L->tcp);
  if (rc != 0) {
    free(L->tcp); /* never initialised: nothing to close */
    L->tcp = NULL;
    uv_freeaddrinfo(res);
    link_close(L, uv_strerror(rc));
    return;
  }
  L->tcp->data = L;
  L->creq.data = L;
  rc = uv_tcp_connect(&L->creq, L->tcp, res->ai_addr, on_connected);
  uv_freeaddrinfo(res);
  if (rc != 0) link_close(L, uv_strerror(rc));
}

static void link_connect(master_link *L) {
  if (L->gai_busy) return;
  char port[16];
  snprintf(port, sizeof(port), "%d", L->port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  L->state = L_CONNECTING;
  L->gai.data = L;
  L->gai_busy = 1;
  L->last_io_ms = cairn_monotonic_ms();
  if (uv_getaddrinfo(L->srv->loop, &L->gai, on_resolved, L->host, port, &hints) != 0) {
    L->gai_busy = 0;
    link_close(L, "cannot resolve the master's address");
  }
}

static void on_timer(uv_timer_t *t) {
  master_link *L = t->data;
  int64_t now = cairn_monotonic_ms();
  if (L->state == L_CONNECT && L->reload) {
    if (L->reload == 1) reload_start(L); /* connects once the spool is loaded */
    return;
  }
  if (L->state == L_CONNECT) {
    cairn_notice("Connecting to MASTER %s:%d", L->host, L->port);
    link_connect(L);
    return;
  }
  if (L->state >= L_CONNECTING && L->state != L_CONNECTED &&
      now - L->last_io_ms > (int64_t)L->srv->cfg.repl_timeout * 1000) {
    L->keep_on_close = 1;
    link_close(L, "timeout connecting to or syncing with the master");
    L->keep_on_close = 0;
    return;
  }
  if (L->kept && now - L->kept_since_ms > L->srv->cfg.repl_fullsync_resume_seconds * 1000) {
    cairn_notice("MASTER <-> REPLICA sync: the kept full sync was not resumed within repl-fullsync-resume-seconds; "
                 "dropped");
    abort_load(L);
  }
  if (L->state == L_TRANSFER && L->rdb) {
    /* Keep the master from timing us out while we load (PROTOCOL.md 2). */
    link_send(L, "\n", 1);
  }
  if (L->state == L_CONNECTED) {
    if (now - L->last_io_ms > (int64_t)L->srv->cfg.repl_timeout * 1000) {
      link_close(L, "MASTER timeout: no data nor PING received");
      return;
    }
    send_ack(L);
  }
}

/* ---------------------------------------------------------------- as a client */

static int master_client(cairn_server *srv, cairn_master_client *m) {
  master_link *L = link_of(srv);
  if (!L || L->state != L_CONNECTED || !L->tcp) return 0;
  memset(m, 0, sizeof(*m));
  m->id = L->client_id;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (uv_tcp_getpeername(L->tcp, (struct sockaddr *)&ss, &len) == 0)
    cairn_format_addr(&ss, m->addr, sizeof(m->addr));
  else
    snprintf(m->addr, sizeof(m->addr), "%s:%d", L->host, L->port);
  len = sizeof(ss);
  if (uv_tcp_getsockname(L->tcp, (struct sockaddr *)&ss, &len) == 0) cairn_format_addr(&ss, m->laddr, sizeof(m->laddr));
  uv_os_fd_t fd = -1;
  m->fd = uv_fileno((uv_handle_t *)L->tcp, &fd) == 0 ? (int)fd : -1;
  m->db = srv->replay_db;
  m->created_ms = L->streaming_since_ms;
  m->last_io_ms = L->last_io_ms;
  m->qbuf = L->in.len;
  m->qbuf_cap = L->in.cap;
  return 1;
}

/* CLIENT KILL of the master link: it goes, and the timer reconnects (a
 * PSYNC that continues where the stream stopped). */
static void kill_master(cairn_server *srv) {
  master_link *L = link_of(srv);
  if (L && L->state == L_CONNECTED) link_close(L, "the master link was killed with CLIENT KILL");
}

/* ---------------------------------------------------------------- commands */

static void set_master(cairn_server *srv, const char *host, int port) {
  master_link *L = link_of(srv);
  link_close(L, NULL);
  snprintf(L->host, sizeof(L->host), "%s", host);
  L->port = port;
  L->state = L_CONNECT;
  L->down_since_ms = cairn_monotonic_ms();
  srv->replica_mode = 1;
  srv->master_link_up = 0;
  char value[300];
  snprintf(value, sizeof(value), "%s %d", host, port);
  free(srv->cfg.replicaof);
  srv->cfg.replicaof = cairn_xstrdup(value);
  cairn_repl_drop_replicas(srv); /* they re-attach and follow our new master through us */
}

static void unset_master(cairn_server *srv) {
  master_link *L = link_of(srv);
  if (!srv->replica_mode) return;
  link_close(L, NULL);
  L->state = L_NONE;
  srv->replica_mode = 0;
  srv->master_link_up = 0;
  free(srv->cfg.replicaof);
  srv->cfg.replicaof = cairn_xstrdup("");
  cairn_repl_shift_id(srv);
  cairn_repl_drop_replicas(srv);
  cairn_notice("MASTER MODE enabled (user request)");
}

static void cmd_replicaof(cairn_ctx *c) {
  cairn_server *srv = c->srv;
  if (cairn_arg_is(c->argv[1], "no") && cairn_arg_is(c->argv[2], "one")) {
    unset_master(srv);
    cairn_reply_ok(&c->reply);
    return;
  }
  long long port;
  if (cairn_arg_ll(c, c->argv[2], &port) != 0) return;
  if (port < 0 || port > 65535) {
    cairn_reply_error(&c->reply, "Invalid master port");
    return;
  }
  char host[256];
  snprintf(host, sizeof(host), "%.*s", (int)c->argv[1].len, c->argv[1].p);
  master_link *L = link_of(srv);
  if (srv->replica_mode && !strcasecmp(L->host, host) && L->port == port) {
    cairn_reply_status(&c->reply, "OK Already connected to specified master");
    return;
  }
  set_master(srv, host, (int)port);
  cairn_notice("REPLICAOF %s:%d enabled (user request)", host, (int)port);
  cairn_reply_ok(&c->reply);
}

void cairn_replica_role(cairn_ctx *c) {
  master_link *L = link_of(c->srv);
  cairn_reply_array(&c->reply, 5);
  cairn_reply_bulk_str(&c->reply, "slave");
  cairn_reply_bulk_str(&c->reply, L->host);
  cairn_reply_int(&c->reply, L->port);
  cairn_reply_bulk_str(&c->reply, link_state_names[L->state]);
  cairn_reply_int(&c->reply, L->state == L_CONNECTED ? (long long)c->srv->stream_offset : -1);
}

void cairn_replica_info(cairn_server *srv, cairn_buf *o) {
  master_link *L = link_of(srv);
  int64_t now = cairn_monotonic_ms();
  int up = L->state == L_CONNECTED;
  cairn_buf_printf(o,
                   "master_host:%s\r\n"
                   "master_port:%d\r\n"
                   "master_link_status:%s\r\n"
                   "master_last_io_seconds_ago:%lld\r\n"
                   "master_sync_in_progress:%d\r\n"
                   "slave_read_repl_offset:%llu\r\n"
                   "slave_repl_offset:%llu\r\n",
                   L->host, L->port, up ? "up" : "down",
                   L->tcp ? (long long)((now - L->last_io_ms) / 1000) : -1LL, L->state == L_TRANSFER,
                   (unsigned long long)srv->stream_offset, (unsigned long long)srv->stream_offset);
  if (L->state == L_TRANSFER)
    cairn_buf_printf(o,
                     "master_sync_total_bytes:%lld\r\nmaster_sync_read_bytes:%llu\r\nmaster_sync_left_bytes:%lld\r\n"
                     "master_sync_perc:%.2f\r\nmaster_sync_last_io_seconds_ago:%lld\r\n",
                     L->eof_mode ? -1LL : (long long)(L->got + (uint64_t)L->left), (unsigned long long)L->got,
                     L->eof_mode ? -1LL : L->left,
                     L->eof_mode || !(L->got + (uint64_t)L->left) ? 0.0
                                                                  : 100.0 * (double)L->got / (double)(L->got + (uint64_t)L->left),
                     (long long)((now - L->last_io_ms) / 1000));
  if (L->kept) /* cairn: a cut full sync kept to resume (REPLCONF resume-sync) */
    cairn_buf_printf(o, "master_sync_resumable_bytes:%llu\r\n", (unsigned long long)L->got);
  if (L->reload) /* cairn: reloading a full sync's spool at start, to resume it */
    cairn_buf_printf(o, "master_sync_spool_reloaded_bytes:%llu\r\nmaster_sync_spool_bytes:%llu\r\n",
                     (unsigned long long)L->got, (unsigned long long)L->reload_have);
  if (!up)
    cairn_buf_printf(o, "master_link_down_since_seconds:%lld\r\n",
                     L->down_since_ms ? (long long)((now - L->down_since_ms) / 1000) : -1LL);
  cairn_buf_printf(o, "slave_priority:%d\r\nslave_read_only:%d\r\nreplica_announced:1\r\n", srv->cfg.replica_priority,
                   srv->cfg.replica_read_only);
}

static const cairn_command replica_commands[] = {
    CAIRN_CMD("replicaof", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_STALE, 0, 0, 0, cmd_replicaof, "server",
              "Configure a server as replica of another, or promote it to a master.", "5.0.0", "host port"),
    CAIRN_CMD("slaveof", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_STALE, 0, 0, 0, cmd_replicaof, "server",
              "Sets a Redis server as a replica of another, or promotes it to being a master.", "1.0.0", "host port"),
    CAIRN_CMD_END,
};

/* ---------------------------------------------------------------- life cycle */

int cairn_replica_init(cairn_server *srv, char *err, size_t errlen) {
  master_link *L = cairn_xcalloc(1, sizeof(*L));
  L->srv = srv;
  L->spool_fd = L->reload_close_fd = -1;
  snprintf(L->spool_path, sizeof(L->spool_path), "%s/%s", srv->cfg.dir, CAIRN_SPOOL_FILE);
  cairn_apply_init(&L->apply);
  L->apply.ud = L;
  L->apply.on_marker = on_marker;
  L->apply.on_raw = on_raw;
  srv->repl_link = L;
  srv->repl_hooks.on_store_room = on_store_room;
  srv->repl_hooks.master_client = master_client;
  srv->repl_hooks.kill_master = kill_master;
  cairn_command_register(replica_commands);
  if (srv->cfg.replicaof && *srv->cfg.replicaof) {
    char host[256];
    int port;
    if (sscanf(srv->cfg.replicaof, "%255s %d", host, &port) != 2 || port <= 0 || port > 65535) {
      snprintf(err, errlen, "replicaof: expected 'host port', got '%s'", srv->cfg.replicaof);
      return -1;
    }
    snprintf(L->host, sizeof(L->host), "%s", host);
    L->port = port;
    L->state = L_CONNECT;
    L->down_since_ms = cairn_monotonic_ms();
    srv->replica_mode = 1;
  }
  spool_found_at_start(L);
  return 0;
}

/* The loop has ended: close the link and the timer with their owners'
 * callbacks, before the server closes whatever handles are left. */
void cairn_replica_stop(cairn_server *srv) {
  master_link *L = link_of(srv);
  if (!L) return;
  L->stopping = 1; /* a spool stays for the next start */
  link_close(L, NULL);
  L->state = L_NONE;
  if (L->timer.data && !uv_is_closing((uv_handle_t *)&L->timer)) uv_close((uv_handle_t *)&L->timer, NULL);
  if (L->slice.data && !uv_is_closing((uv_handle_t *)&L->slice)) uv_close((uv_handle_t *)&L->slice, NULL);
}

/* The timer needs the loop: started by the first cron tick. */
void cairn_replica_cron(cairn_server *srv) {
  master_link *L = link_of(srv);
  if (L && !L->timer.data) {
    int rc = uv_timer_init(srv->loop, &L->timer);
    if (rc != 0) {
      cairn_warning("replication: cannot create the master link's timer: %s (retrying)", uv_strerror(rc));
      return;
    }
    L->timer.data = L;
    if ((rc = uv_timer_start(&L->timer, on_timer, 1, 1000)) != 0)
      cairn_warning("replication: cannot start the master link's timer: %s", uv_strerror(rc));
    if (uv_idle_init(srv->loop, &L->slice) == 0) L->slice.data = L;
  }
}

void cairn_replica_free(cairn_server *srv) {
  master_link *L = link_of(srv);
  if (!L) return;
  L->stopping = 1; /* (also after a start that failed half-way) */
  abort_load(L);
  cairn_apply_free(&L->apply);
  L->apply.on_raw = NULL;
  cairn_buf_free(&L->in);
  cairn_buf_free(&L->functions);
  free(L->zbuf);
  free(L->reload_buf);
  ZSTD_freeDCtx(L->dctx);
  free(L);
  srv->repl_link = NULL;
}
