/* Replication, master side: SYNC, PSYNC, REPLCONF, ROLE, full sync from an
 * LMDB snapshot, partial resync and live feeding from the backlog. See
 * replication/repl.h for the design and ../shared/PROTOCOL.md sections 2-5
 * and 8 for the bytes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/commit.h"
#include "engine/log.h"
#include "engine/script.h"
#include "engine/server.h"
#include "engine/stream.h"
#include "engine/store.h"
#include "engine/util.h"
#include "replication/backlog/backlog.h"
#include "replication/rdb/rdb.h"
#include "engine/rdb_coll.h"
#include "replication/repl.h"
#include "replication/repl_int.h"

#define FEED_CHUNK (64 * 1024)
#define FEED_HIGH_WATER (1024 * 1024) /* stop feeding a replica whose socket holds this much */
#define FRAME_BUF (2u << 20)           /* one stored frame (up to 1 MiB of stream, compressed) */
#define ZERO_ID "0000000000000000000000000000000000000000"

enum { R_HANDSHAKE = 0, R_WAIT_BGSAVE, R_SEND_BULK, R_ONLINE };
static const char *state_names[] = {"handshake", "wait_bgsave", "send_bulk", "online"};

typedef struct fullsync fullsync;

typedef struct replica {
  cairn_client *c;
  int state;
  int listening_port;
  char ip[64];
  int capa_eof, capa_psync2;
  int capa_frames;       /* capa cairn-zstd: a catch-up may go as stored frames */
  int framed;            /* the stream goes in frames now (until it is live: 'E') */
  int old_sync;          /* attached with SYNC: sends no ACKs */
  uint64_t ack_off;
  int64_t ack_time_ms;   /* monotonic */
  fullsync *job;
  int bulk_fd;
  uint64_t bulk_pos;
  void *cursor;          /* backlog cursor, opened at feed_off */
  uint64_t feed_off;     /* next stream offset to send */
  cairn_slot *slot;      /* its replica slot, or NULL */
  fullsync *resume_job;  /* REPLCONF resume-sync accepted: PSYNC continues this job's payload */
  fullsync *unacked;     /* its payload was all sent but not yet acknowledged (the link may
                          * break before the last bytes arrive): held for a resume */
  uint64_t resume_pos;   /* ...from this byte */
  char slot_name[CAIRN_SLOT_NAME_MAX + 1]; /* REPLCONF slot-name, or "" (then ip:port) */
  struct replica *next;
} replica;

/* One RDB spooled from one snapshot, shared by every replica that asks for a
 * full sync while it is being written or sent. */
struct fullsync {
  cairn_server *srv;
  cairn_store_snapshot *snap;
  uint64_t offset;
  int stream_db;
  char replid[41];
  cairn_buf functions;   /* the function libraries at the snapshot ([u32 len][code]...) */
  char path[4096];
  pthread_t thread;
  uv_async_t async;
  atomic_int done;       /* set by the thread */
  int finished;          /* seen by the loop */
  int failed;
  char err[4096 + 512];
  uint64_t size;
  int users;             /* replicas attached */
  int closing;
  int64_t started_ms;
  int cut;               /* a replica was cut off during its transfer: kept for a resume */
  int64_t keep_until_ms; /* kept with no user until then (monotonic), 0 = not kept */
  struct fullsync *next; /* every live job, for shutdown */
};

typedef struct repl_state {
  char replid[41];
  char replid2[41];
  int64_t second_off;
  replica *replicas;
  fullsync *job;         /* the job new full syncs join, or NULL */
  fullsync *jobs;        /* every job not yet freed */
  int64_t last_ping_ms;
  int64_t last_keepalive_ms;
  int getack_pending;    /* a GETACK went into the stream since the last sync */
  cairn_backlog *backlog; /* behind srv->wal (main.c): for the replid history and the slots' pins */
  cairn_slots *slots;
  uint8_t *fbuf;         /* FRAME_BUF, for frames as stored */
  uint64_t frames_sent, frame_bytes_sent, frame_stream_bytes; /* since start */
  char buf[FEED_CHUNK];
} repl_state;

static repl_state *state_of(cairn_server *srv) { return srv->repl; }

/* ---------------------------------------------------------------- jobs */

static void job_release(fullsync *job);

static int spool_write(void *ud, const void *p, size_t n) { return cairn_write_all(*(int *)ud, p, n); }

/* The full-sync thread: the snapshot as an RDB into the spool file. */
static void *spool_main(void *arg) {
  fullsync *job = arg;
  int fd = open(job->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(job->err, sizeof(job->err), "cannot create %s: %s", job->path, strerror(errno));
    job->failed = 1;
    atomic_store(&job->done, 1);
    uv_async_send(&job->async);
    return NULL;
  }
  cairn_rdb_writer *w = cairn_rdb_writer_new(spool_write, &fd, -1);
  cairn_rdb_aux aux = {.ctime = cairn_mstime() / 1000,
                       .with_repl = 1,
                       .repl_stream_db = job->stream_db < 0 ? 0 : job->stream_db,
                       .repl_id = job->replid,
                       .repl_offset = (int64_t)job->offset};
  int rc = w ? cairn_rdb_write_snapshot(w, job->snap, &aux, job->functions.p, job->functions.len, cairn_mstime()) : -1;
  if (rc != 0)
    snprintf(job->err, sizeof(job->err), "writing %s: %s", job->path,
             w && cairn_rdb_writer_error(w) ? cairn_rdb_writer_error(w) : strerror(errno));
  else
    job->size = cairn_rdb_writer_bytes(w);
  cairn_rdb_writer_free(w);
  if (close(fd) != 0 && rc == 0) {
    snprintf(job->err, sizeof(job->err), "closing %s: %s", job->path, strerror(errno));
    rc = -1;
  }
  job->failed = rc != 0;
  atomic_store(&job->done, 1);
  uv_async_send(&job->async);
  return NULL;
}

static void pump(cairn_server *srv, replica *r);
static int send_stored_frame(cairn_server *srv, replica *r, uint64_t want, uint64_t *take);
static void drop_replica(replica *r, const char *why);

/* The payload from byte pos on (0, or where a resumed transfer stopped). */
static void start_bulk(cairn_server *srv, replica *r, uint64_t pos) {
  fullsync *job = r->job;
  r->bulk_fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (r->bulk_fd < 0) {
    drop_replica(r, "cannot open the spooled RDB");
    return;
  }
  char hdr[32];
  int n = snprintf(hdr, sizeof(hdr), "$%llu\r\n", (unsigned long long)(job->size - pos));
  r->state = R_SEND_BULK;
  cairn_client *c = r->c;
  cairn_client_send(c, hdr, (size_t)n);
  if (c->flags & CAIRN_CLIENT_CLOSING) return; /* r is gone with it */
  r->bulk_pos = pos;
  pump(srv, r);
}

static void on_job_done(uv_async_t *a) {
  fullsync *job = a->data;
  if (job->finished || !atomic_load(&job->done)) return;
  job->finished = 1;
  pthread_join(job->thread, NULL);
  cairn_store_snapshot_close(job->snap);
  job->snap = NULL;
  cairn_server *srv = job->srv;
  repl_state *st = state_of(srv);
  if (job->failed) {
    cairn_warning("Full sync: %s; disconnecting the replicas waiting for it", job->err);
  } else {
    cairn_notice("Full sync: RDB of %llu bytes at offset %llu ready in %lld ms", (unsigned long long)job->size,
                 (unsigned long long)job->offset, (long long)(cairn_monotonic_ms() - job->started_ms));
  }
  job->users++; /* hold the job while the replicas below start or go */
  for (replica *r = st->replicas, *next; r; r = next) {
    next = r->next;
    if (r->job != job || r->state != R_WAIT_BGSAVE) continue;
    if (job->failed)
      drop_replica(r, "the full sync failed");
    else
      start_bulk(srv, r, 0);
  }
  /* Later full syncs take a fresh snapshot: this one is getting old. */
  if (st->job == job) st->job = NULL;
  job_release(job);
}

static void job_unlink(fullsync *job) {
  repl_state *st = state_of(job->srv);
  if (!st) return;
  for (fullsync **pp = &st->jobs; *pp; pp = &(*pp)->next) {
    if (*pp == job) {
      *pp = job->next;
      break;
    }
  }
}

static void on_job_closed(uv_handle_t *h) {
  fullsync *job = h->data;
  job_unlink(job);
  cairn_buf_free(&job->functions);
  free(job);
}

static void job_free_now(fullsync *job);

/* A job whose replica was cut off mid-transfer is kept (its spool file)
 * for repl-fullsync-resume-seconds after its last user left: the replica
 * may come back with REPLCONF resume-sync. */
static void job_release(fullsync *job) {
  if (--job->users > 0 || !job->finished || job->closing) return;
  cairn_server *srv = job->srv;
  if (job->cut && !job->failed && srv->cfg.repl_fullsync_resume_seconds > 0) {
    job->keep_until_ms = cairn_monotonic_ms() + srv->cfg.repl_fullsync_resume_seconds * 1000;
    cairn_notice("Full sync at offset %llu: keeping %s (%llu bytes) for %lld s, for the replica cut off during "
                 "its transfer to resume",
                 (unsigned long long)job->offset, job->path, (unsigned long long)job->size,
                 srv->cfg.repl_fullsync_resume_seconds);
    return;
  }
  job_free_now(job);
}

static void job_free_now(fullsync *job) {
  cairn_server *srv = job->srv;
  repl_state *st = state_of(srv);
  if (st && st->job == job) st->job = NULL;
  unlink(job->path);
  job->closing = 1;
  uv_close((uv_handle_t *)&job->async, on_job_closed);
}

/* Freezes the overlay's active layer, so the snapshot's offset is the
 * current offset (what FULLRESYNC announces, like Redis's BGSAVE start),
 * syncs the backlog up to it (a replica never gets what a crash could
 * take back), opens the snapshot (LMDB plus the frozen layers, pinned: no
 * wait for the store thread) and starts the spool thread. */
static fullsync *job_start(cairn_server *srv) {
  repl_state *st = state_of(srv);
  if (cairn_commit_checkpoint(srv) != 0) {
    /* layers pile up behind a stuck drain (the active one could not be
     * frozen): the snapshot waits for the store thread, as before */
    if (cairn_commit_wait_store(srv) != 0 || cairn_commit_checkpoint(srv) != 0) {
      char why[256];
      cairn_store_drain_error(srv->store, why, sizeof(why));
      cairn_warning("Full sync: the snapshot cannot be taken, writing the store failed: %s", why);
      return NULL;
    }
  }
  if (cairn_commit_sync_now(srv) != 0) {
    cairn_warning("Full sync: the snapshot cannot be taken: the backlog cannot be synced");
    return NULL;
  }
  fullsync *job = cairn_xcalloc(1, sizeof(*job));
  job->srv = srv;
  if (cairn_store_snapshot_open(srv->store, &job->snap) != 0) {
    cairn_buf_free(&job->functions);
    free(job);
    return NULL;
  }
  job->offset = cairn_store_snapshot_offset(job->snap);
  job->stream_db = cairn_store_snapshot_stream_db(job->snap);
  memcpy(job->replid, st->replid, sizeof(job->replid));
  cairn_functions_blob(srv, &job->functions); /* the libraries, as of the snapshot just taken */
  job->started_ms = cairn_monotonic_ms();
  snprintf(job->path, sizeof(job->path), "%s/fullsync-%llu-%d.rdb", srv->cfg.dir, (unsigned long long)job->offset,
           (int)getpid());
  int rc = uv_async_init(srv->loop, &job->async, on_job_done);
  if (rc != 0) {
    cairn_warning("Full sync: cannot start the snapshot writer: uv_async_init: %s", uv_strerror(rc));
    cairn_store_snapshot_close(job->snap);
    cairn_buf_free(&job->functions);
    free(job);
    return NULL;
  }
  job->async.data = job;
  if ((rc = pthread_create(&job->thread, NULL, spool_main, job)) != 0) {
    cairn_warning("Full sync: cannot start the snapshot writer thread: %s", strerror(rc));
    cairn_store_snapshot_close(job->snap);
    job->finished = 1;
    job->closing = 1;
    uv_close((uv_handle_t *)&job->async, on_job_closed);
    return NULL;
  }
  /* Like Redis after a full resync: the next command in the stream starts
   * with a SELECT, whatever the RDB's repl-stream-db said. */
  srv->stream_db = -1;
  cairn_notice("Full sync: snapshot at offset %llu, writing %s", (unsigned long long)job->offset, job->path);
  st->job = job;
  job->next = st->jobs;
  st->jobs = job;
  return job;
}

/* ---------------------------------------------------------------- replicas */

static replica *replica_of(cairn_client *c) {
  if (!c->repl) {
    replica *r = cairn_xcalloc(1, sizeof(*r));
    r->c = c;
    r->bulk_fd = -1;
    /* The peer's address until REPLCONF ip-address says otherwise. */
    snprintf(r->ip, sizeof(r->ip), "%s", c->addr);
    char *colon = strrchr(r->ip, ':');
    if (colon) *colon = '\0';
    c->repl = r;
  }
  return c->repl;
}

/* need: the first offset the replica will be fed. A replica gets a slot
 * unless it is a tool (SYNC, or no listening port and no slot name). */
static void attach(cairn_server *srv, replica *r, uint64_t need) {
  repl_state *st = state_of(srv);
  if (r->c->flags & CAIRN_CLIENT_REPLICA) return;
  r->c->flags |= CAIRN_CLIENT_REPLICA;
  r->next = st->replicas;
  st->replicas = r;
  r->ack_time_ms = cairn_monotonic_ms();
  if (!r->old_sync && (r->slot_name[0] || r->listening_port)) {
    char name[CAIRN_SLOT_NAME_MAX + 16];
    if (r->slot_name[0])
      snprintf(name, sizeof(name), "%s", r->slot_name);
    else
      snprintf(name, sizeof(name), strchr(r->ip, ':') ? "[%s]:%d" : "%s:%d", r->ip, r->listening_port);
    r->slot = cairn_slot_attach(srv, st->slots, name, need);
  }
}

static void detach(cairn_server *srv, replica *r) {
  repl_state *st = state_of(srv);
  for (replica **pp = &st->replicas; *pp; pp = &(*pp)->next) {
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  }
  if (r->bulk_fd >= 0) close(r->bulk_fd);
  if (r->cursor) srv->wal.cursor_close(r->cursor);
  if (r->slot) cairn_slot_detach(st->slots, r->slot);
  r->slot = NULL;
  if (r->job && r->state == R_SEND_BULK && r->bulk_pos > 0 && r->bulk_pos < r->job->size) r->job->cut = 1;
  if (r->unacked) {
    r->unacked->cut = 1; /* sent, but maybe not all received */
    job_release(r->unacked);
    r->unacked = NULL;
  }
  fullsync *job = r->job;
  r->job = NULL;
  r->cursor = NULL;
  r->bulk_fd = -1;
  if (job) job_release(job);
}

static void drop_replica(replica *r, const char *why) {
  cairn_warning("Disconnecting replica %s:%d: %s", r->ip, r->listening_port, why);
  cairn_client_close(r->c); /* calls on_close, which detaches */
}

static void on_close(cairn_client *c) {
  replica *r = c->repl;
  if (!r) return;
  if (c->flags & CAIRN_CLIENT_REPLICA) {
    cairn_notice("Connection with replica %s:%d lost.", r->ip, r->listening_port);
    detach(c->srv, r);
  }
  if (r->resume_job) job_release(r->resume_job); /* accepted, but no PSYNC came */
  c->repl = NULL;
  free(r);
}

/* Sends what the replica may have next, until its socket holds enough:
 * the spooled RDB, then durable stream bytes from the backlog. */
/* A failed send closes the client, and closing frees r: after each send,
 * check the client (which lives until the loop's close callback) first. */
static void pump(cairn_server *srv, replica *r) {
  repl_state *st = state_of(srv);
  cairn_client *c = r->c;
  while (!(c->flags & CAIRN_CLIENT_CLOSING) && cairn_client_pending_bytes(c) < FEED_HIGH_WATER) {
    if (r->state == R_SEND_BULK) {
      fullsync *job = r->job;
      uint64_t left = job->size - r->bulk_pos;
      if (left) {
        ssize_t n = pread(r->bulk_fd, st->buf, left < FEED_CHUNK ? left : FEED_CHUNK, (off_t)r->bulk_pos);
        if (n <= 0) {
          drop_replica(r, "cannot read the spooled RDB");
          return;
        }
        r->bulk_pos += (uint64_t)n;
        cairn_client_send(c, st->buf, (size_t)n);
        continue;
      }
      close(r->bulk_fd);
      r->bulk_fd = -1;
      r->state = R_ONLINE;
      r->feed_off = job->offset + 1;
      r->ack_time_ms = cairn_monotonic_ms();
      r->job = NULL;
      cairn_notice("Synchronization with replica %s:%d succeeded", r->ip, r->listening_port);
      if (r->old_sync)
        job_release(job); /* SYNC: it never acknowledges */
      else
        r->unacked = job; /* released by its first ACK of the snapshot's offset */
      continue;
    }
    if (r->state != R_ONLINE || r->feed_off > srv->synced_offset) return;
    if (!r->cursor) {
      r->cursor = srv->wal.cursor_open(srv->wal.ud, r->feed_off);
      if (!r->cursor) {
        drop_replica(r, "its offset is no longer in the backlog");
        return;
      }
    }
    uint64_t want = srv->synced_offset - r->feed_off + 1;
    uint64_t take = want < FEED_CHUNK ? want : FEED_CHUNK;
    if (r->framed) {
      int k = send_stored_frame(srv, r, want, &take);
      if (k < 0) return;
      if (k > 0) continue;
    }
    long n = srv->wal.cursor_next(r->cursor, st->buf, (size_t)take);
    if (n < 0) {
      drop_replica(r, errno == EIO ? "a corrupt backlog record (see the backlog log lines)" : "backlog read error");
      return;
    }
    if (n == 0) return;
    r->feed_off += (uint64_t)n;
    if (r->framed) { /* plain bytes inside an 'R' envelope */
      uint8_t hdr[5] = {'R'};
      cairn_put_le32(hdr + 1, (uint32_t)n);
      cairn_client_send(c, hdr, 5);
      if (c->flags & CAIRN_CLIENT_CLOSING) return;
    }
    cairn_client_send(c, st->buf, (size_t)n);
  }
}

/* Frames as stored (capa cairn-zstd, after "+CONTINUE <id> cairn-zstd"):
 * while the replica is more than FEED_HIGH_WATER behind, the stream goes as
 * envelopes, none of which counts in the offsets (the stream bytes inside
 * them do):
 *   'Z' u32 compressed length, u32 stream length, u32 crc32c of the
 *       compressed bytes, then a zstd frame as the backlog stores it
 *       (sealed segments: no decompression, no recompression here)
 *   'R' u32 length, then plain stream bytes (up to the next frame, or from
 *       a raw segment)
 *   'E' the end of the envelopes: plain RESP from here on, like any replica
 * All little-endian. Sends an 'E' or a 'Z' and returns 1; or returns 0 for
 * pump to send plain bytes in an 'R' (at most *take: up to the next frame,
 * which may then go whole); -1 once r is gone. */
static int send_stored_frame(cairn_server *srv, replica *r, uint64_t want, uint64_t *take) {
  repl_state *st = state_of(srv);
  cairn_client *c = r->c;
  uint8_t hdr[13];
  if (want <= FEED_HIGH_WATER) {
    cairn_client_send(c, "E", 1);
    r->framed = 0;
    cairn_notice("Replica %s:%d is caught up to within %llu bytes: plain stream from offset %llu", r->ip,
                 r->listening_port, (unsigned long long)want, (unsigned long long)r->feed_off);
    return (c->flags & CAIRN_CLIENT_CLOSING) ? -1 : 1;
  }
  if (!st->fbuf) st->fbuf = cairn_xmalloc(FRAME_BUF);
  uint32_t raw_len = 0, crc = 0;
  long n = srv->wal.cursor_next_frame
               ? srv->wal.cursor_next_frame(r->cursor, srv->synced_offset, st->fbuf, FRAME_BUF, &raw_len, &crc)
               : 0;
  if (n < 0) {
    drop_replica(r, errno == EIO ? "a corrupt backlog frame (see the backlog log lines)" : "backlog read error");
    return -1;
  }
  if (n > 0) {
    hdr[0] = 'Z';
    cairn_put_le32(hdr + 1, (uint32_t)n);
    cairn_put_le32(hdr + 5, raw_len);
    cairn_put_le32(hdr + 9, crc);
    cairn_client_send(c, hdr, 13);
    if (c->flags & CAIRN_CLIENT_CLOSING) return -1;
    cairn_client_send(c, st->fbuf, (size_t)n);
    r->feed_off += raw_len;
    st->frames_sent++;
    st->frame_bytes_sent += (uint64_t)n + 13;
    st->frame_stream_bytes += raw_len;
    return (c->flags & CAIRN_CLIENT_CLOSING) ? -1 : 1;
  }
  if (raw_len && raw_len < *take) *take = raw_len;
  return 0;
}

static void on_synced(cairn_server *srv) {
  repl_state *st = state_of(srv);
  st->getack_pending = 0;
  for (replica *r = st->replicas, *next; r; r = next) {
    next = r->next;
    if (r->state == R_ONLINE) pump(srv, r);
  }
  cairn_replica_synced(srv);
}

static void on_drained(cairn_client *c) {
  if (c->repl) pump(c->srv, c->repl);
}

static uint64_t min_offset(cairn_server *srv) {
  repl_state *st = state_of(srv);
  uint64_t m = 0;
  for (replica *r = st->replicas; r; r = r->next) {
    uint64_t need = r->job ? r->job->offset + 1 : r->feed_off;
    if (need && (!m || need < m)) m = need;
  }
  if (st->job && (!m || st->job->offset + 1 < m)) m = st->job->offset + 1;
  return m;
}

static void cron(cairn_server *srv) {
  repl_state *st = state_of(srv);
  cairn_replica_cron(srv);
  cairn_slots_cron(srv, st->slots);
  int64_t now = cairn_monotonic_ms();
  for (fullsync *job = st->jobs, *next; job; job = next) {
    next = job->next;
    if (job->users == 0 && job->keep_until_ms && now >= job->keep_until_ms && !job->closing) {
      cairn_notice("Full sync at offset %llu: no replica resumed it; removing %s", (unsigned long long)job->offset,
                   job->path);
      job_free_now(job);
    }
  }
  if (!st->replicas) return;
  if (now - st->last_keepalive_ms >= 1000) {
    /* Keepalive newlines only before the payload starts (PROTOCOL.md 3). */
    st->last_keepalive_ms = now;
    for (replica *r = st->replicas, *next; r; r = next) {
      next = r->next;
      if (r->state == R_WAIT_BGSAVE) cairn_client_send(r->c, "\n", 1);
    }
  }
  /* A replica passes its master's stream on unchanged: it adds no PING of
   * its own (its offsets must stay its master's). */
  if (!srv->replica_mode && now - st->last_ping_ms >= (int64_t)srv->cfg.repl_ping_replica_period * 1000) {
    st->last_ping_ms = now;
    cairn_stream_append_raw(srv, "*1\r\n$4\r\nping\r\n", 14);
  }
  for (replica *r = st->replicas, *next; r; r = next) {
    next = r->next;
    if (r->state == R_ONLINE && !r->old_sync && now - r->ack_time_ms > (int64_t)srv->cfg.repl_timeout * 1000)
      drop_replica(r, "timeout (no REPLCONF ACK within repl-timeout)");
    else
      pump(srv, r);
  }
}

static void put_ids(cairn_server *srv) {
  repl_state *st = state_of(srv);
  cairn_store_meta_put(srv->store, "replid", st->replid, 40);
  cairn_store_meta_put(srv->store, "replid2", st->replid2, 40);
  cairn_store_meta_put(srv->store, "second_off", &st->second_off, sizeof(st->second_off));
}

/* The backlog's manifest keeps the replid history for operators
 * (`cairn-backlog ls`): from which offset on the stream belongs to which id.
 * The authoritative ids live in LMDB (put_ids); main.c hands us the backlog
 * (cairn_repl_init), the stream itself is read through srv->wal. */
#define HISTORY_MAX 32
static void record_history(cairn_server *srv) {
  repl_state *st = state_of(srv);
  cairn_backlog_replid h[HISTORY_MAX];
  size_t n = cairn_backlog_get_history(st->backlog, h, HISTORY_MAX);
  if (n > HISTORY_MAX) n = HISTORY_MAX;
  if (n && !strcmp(h[n - 1].replid, st->replid)) return;
  if (n == HISTORY_MAX) {
    memmove(h, h + 1, sizeof(h[0]) * (HISTORY_MAX - 1));
    n--;
  }
  memset(&h[n], 0, sizeof(h[n]));
  memcpy(h[n].replid, st->replid, 41);
  memcpy(h[n].replid2, st->replid2, 41);
  h[n].offset = srv->stream_offset + 1;
  if (cairn_backlog_set_history(st->backlog, h, n + 1) != 0)
    cairn_warning("could not record the replication id history in the backlog manifest");
}

/* ---------------------------------------------------------------- INFO, ROLE */

static int good_replicas(cairn_server *srv) {
  int64_t now = cairn_monotonic_ms();
  int n = 0;
  for (replica *r = state_of(srv)->replicas; r; r = r->next)
    if (r->state == R_ONLINE && now - r->ack_time_ms <= (int64_t)srv->cfg.min_replicas_max_lag * 1000) n++;
  return n;
}


static void info(cairn_server *srv, cairn_buf *o) {
  repl_state *st = state_of(srv);
  int n = 0;
  for (replica *r = st->replicas; r; r = r->next) n++;
  uint64_t first = srv->wal.first(srv->wal.ud), end = srv->wal.end(srv->wal.ud);
  uint64_t histlen = end >= first ? end - first + 1 : 0;
  if (srv->replica_mode) {
    cairn_buf_append_str(o, "# Replication\r\nrole:slave\r\n");
    cairn_replica_info(srv, o);
    cairn_buf_printf(o, "connected_slaves:%d\r\n", n);
  } else {
    cairn_buf_printf(o, "# Replication\r\nrole:master\r\nconnected_slaves:%d\r\n", n);
  }
  if (srv->cfg.min_replicas_to_write > 0) cairn_buf_printf(o, "min_slaves_good_slaves:%d\r\n", good_replicas(srv));
  int64_t now = cairn_monotonic_ms();
  int i = 0;
  for (replica *r = st->replicas; r; r = r->next, i++)
    cairn_buf_printf(o, "slave%d:ip=%s,port=%d,state=%s,offset=%llu,lag=%lld\r\n", i, r->ip, r->listening_port,
                     state_names[r->state], (unsigned long long)r->ack_off,
                     r->state == R_ONLINE ? (long long)((now - r->ack_time_ms) / 1000) : 0LL);
  int64_t age = srv->wal.first_time_ms(srv->wal.ud);
  cairn_buf_printf(o,
                   "master_failover_state:no-failover\r\n"
                   "master_replid:%s\r\n"
                   "master_replid2:%s\r\n"
                   "master_repl_offset:%llu\r\n"
                   "second_repl_offset:%lld\r\n"
                   "repl_backlog_active:1\r\n"
                   "repl_backlog_size:%lld\r\n"
                   "repl_backlog_first_byte_offset:%llu\r\n"
                   "repl_backlog_histlen:%llu\r\n"
                   "repl_backlog_oldest_age_seconds:%lld\r\n",
                   st->replid, st->replid2, (unsigned long long)srv->stream_offset, (long long)st->second_off,
                   srv->cfg.backlog_retention_bytes, (unsigned long long)first, (unsigned long long)histlen,
                   age > 0 ? (long long)((cairn_mstime() - age) / 1000) : 0LL);
  cairn_slots_info(srv, st->slots, o);
  cairn_buf_printf(o, "repl_catchup_frames:%llu\r\nrepl_catchup_frame_bytes:%llu\r\nrepl_catchup_frame_stream_bytes:%llu\r\n",
                   (unsigned long long)st->frames_sent, (unsigned long long)st->frame_bytes_sent,
                   (unsigned long long)st->frame_stream_bytes);
  i = 0;
  for (replica *r = st->replicas; r; r = r->next, i++) {
    uint64_t behind = r->state == R_ONLINE && srv->stream_offset + 1 > r->feed_off
                          ? srv->stream_offset + 1 - r->feed_off
                          : 0;
    cairn_buf_printf(o, "replica%d_bytes_behind:%llu\r\nreplica%d_feeding:%s\r\n", i, (unsigned long long)behind, i,
                     r->state != R_ONLINE ? "rdb" : behind > FEED_HIGH_WATER ? "disk" : "live");
  }
}

static void cmd_role(cairn_ctx *c) {
  repl_state *st = state_of(c->srv);
  if (c->srv->replica_mode) {
    cairn_replica_role(c);
    return;
  }
  cairn_reply_array(&c->reply, 3);
  cairn_reply_bulk_str(&c->reply, "master");
  cairn_reply_int(&c->reply, (long long)c->srv->stream_offset);
  int n = 0;
  for (replica *r = st->replicas; r; r = r->next)
    if (r->state == R_ONLINE) n++;
  cairn_reply_array(&c->reply, n);
  for (replica *r = st->replicas; r; r = r->next) {
    if (r->state != R_ONLINE) continue;
    cairn_reply_array(&c->reply, 3);
    cairn_reply_bulk_str(&c->reply, r->ip);
    cairn_reply_bulk_ll(&c->reply, r->listening_port);
    cairn_reply_bulk_ll(&c->reply, (long long)r->ack_off);
  }
}

/* ---------------------------------------------------------------- commands */

/* ---------------------------------------------------------------- WAIT */

static int count_acked(repl_state *st, uint64_t off) {
  int n = 0;
  for (replica *r = st->replicas; r; r = r->next)
    if (r->state == R_ONLINE && r->ack_off >= off) n++;
  return n;
}

static void wait_reply(cairn_client *c, int n) {
  cairn_reply r = {&c->out, c->resp};
  cairn_reply_int(&r, n);
  cairn_client_unblock(c);
}

static void wait_timeout(cairn_client *c) { wait_reply(c, count_acked(state_of(c->srv), c->woff)); }

/* A replica acknowledged more: wake the WAITs it satisfies. */
static void check_waits(cairn_server *srv) {
  repl_state *st = state_of(srv);
  for (cairn_client *c = srv->clients; c; c = c->next) {
    if (!(c->flags & CAIRN_CLIENT_BLOCKED) || c->on_block_timeout != wait_timeout) continue;
    int n = count_acked(st, c->woff);
    if (n >= c->block_arg) wait_reply(c, n);
  }
}

static void cmd_wait(cairn_ctx *c) {
  repl_state *st = state_of(c->srv);
  long long want, timeout;
  if (cairn_arg_ll(c, c->argv[1], &want) != 0) return;
  const char *terr = cairn_timeout_parse(c->argv[2].p, c->argv[2].len, CAIRN_TIMEOUT_MILLISECONDS, &timeout);
  if (terr) {
    cairn_reply_error(&c->reply, terr);
    return;
  }
  if (c->srv->replica_mode) {
    cairn_reply_error(&c->reply, "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 "
                                 "if a replica is configured to be writable (which is not the default) writes to "
                                 "replicas are just local and are not propagated.");
    return;
  }
  if (!c->client) return;
  int n = count_acked(st, c->client->woff);
  if (n >= want || (c->client->flags & (CAIRN_CLIENT_MULTI | CAIRN_CLIENT_IN_EXEC))) { /* no blocking in EXEC */
    cairn_reply_int(&c->reply, n);
    return;
  }
  c->client->block_arg = want;
  cairn_client_block(c->client, timeout ? cairn_monotonic_ms() + timeout : 0, wait_timeout);
  /* Ask the replicas where they are (one GETACK serves every WAIT until
   * the next sync round). */
  if (!st->getack_pending) {
    st->getack_pending = 1;
    cairn_stream_append_raw(c->srv, "*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n", 37);
  }
}

/* REPLCONF resume-sync <replid> <offset> <pos> (cairn): the replica kept
 * the first pos bytes of the full sync +FULLRESYNC <replid> <offset> gave
 * it. +OK when that spool is still here and the backlog still holds the
 * offset after it: the next PSYNC then continues the payload at pos. */
static void replconf_resume(cairn_ctx *c, replica *r) {
  repl_state *st = state_of(c->srv);
  cairn_str id = c->argv[2];
  unsigned long long off, pos;
  if (!cairn_str2ull(c->argv[3].p, c->argv[3].len, &off) || !cairn_str2ull(c->argv[4].p, c->argv[4].len, &pos)) {
    cairn_reply_error(&c->reply, "REPLCONF resume-sync <replid> <offset> <position>: bad number");
    return;
  }
  fullsync *job = st->jobs;
  while (job && !(job->finished && !job->failed && !job->closing && job->offset == off && id.len == 40 &&
                  !strncasecmp(job->replid, id.p, 40)))
    job = job->next;
  const char *why = NULL;
  if (!job)
    why = "that full sync's snapshot is gone (repl-fullsync-resume-seconds)";
  else if (pos > job->size)
    why = "the position is past the end of the payload";
  else if (c->srv->wal.first(c->srv->wal.ud) > off + 1)
    why = "the backlog no longer holds the stream after that snapshot";
  if (why) {
    cairn_notice("Replica %s:%d cannot resume full sync %.40s:%llu at byte %llu: %s", r->ip, r->listening_port,
                 id.len >= 40 ? id.p : "?", off, pos, why);
    cairn_reply_errorf(&c->reply, "cannot resume that full sync: %s", why);
    return;
  }
  if (r->resume_job) job_release(r->resume_job);
  job->users++;
  job->keep_until_ms = 0;
  r->resume_job = job;
  r->resume_pos = pos;
  cairn_reply_ok(&c->reply);
}

static void cmd_replconf(cairn_ctx *c) {
  if (!c->client) return;
  if (c->argc == 5 && cairn_arg_is(c->argv[1], "resume-sync")) {
    replconf_resume(c, replica_of(c->client));
    return;
  }
  if (c->argc % 2 == 0) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  replica *r = replica_of(c->client);
  for (int j = 1; j < c->argc; j += 2) {
    cairn_str opt = c->argv[j], val = c->argv[j + 1];
    if (cairn_arg_is(opt, "ack")) {
      /* No reply, ever: the replica does not read one. */
      long long off;
      if ((c->client->flags & CAIRN_CLIENT_REPLICA) && cairn_str2ll(val.p, val.len, &off) && off >= 0) {
        if ((uint64_t)off > r->ack_off) r->ack_off = (uint64_t)off;
        r->ack_time_ms = cairn_monotonic_ms();
        if (r->unacked && r->ack_off >= r->unacked->offset) {
          job_release(r->unacked); /* the replica holds the whole payload */
          r->unacked = NULL;
        }
        if (r->slot) cairn_slot_ack(state_of(c->srv)->slots, r->slot, r->ack_off + 1);
        check_waits(c->srv);
      }
      return;
    } else if (cairn_arg_is(opt, "getack")) {
      return; /* only meaningful for a replica; no reply */
    } else if (cairn_arg_is(opt, "listening-port")) {
      long long port;
      if (cairn_arg_ll(c, val, &port) != 0) return;
      r->listening_port = (int)port;
    } else if (cairn_arg_is(opt, "ip-address")) {
      if (val.len >= sizeof(r->ip)) {
        cairn_reply_error(&c->reply, "REPLCONF ip-address provided by replica instance is too long");
        return;
      }
      memcpy(r->ip, val.p, val.len);
      r->ip[val.len] = '\0';
    } else if (cairn_arg_is(opt, "slot-name")) {
      /* cairn: the name of this replica's slot (instead of ip:port) */
      if (!cairn_slot_name_valid(val.p, val.len)) {
        cairn_reply_errorf(&c->reply, "REPLCONF slot-name must be 1-%d characters of A-Z a-z 0-9 . : - _ [ ]",
                           CAIRN_SLOT_NAME_MAX);
        return;
      }
      memcpy(r->slot_name, val.p, val.len);
      r->slot_name[val.len] = '\0';
    } else if (cairn_arg_is(opt, "capa")) {
      if (cairn_arg_is(val, "eof")) r->capa_eof = 1;
      if (cairn_arg_is(val, "psync2")) r->capa_psync2 = 1;
      if (cairn_arg_is(val, "cairn-zstd")) r->capa_frames = 1;
    } else if (cairn_arg_is(opt, "rdb-only") || cairn_arg_is(opt, "rdb-filter-only")) {
      /* accepted, like Redis; cairn always sends the whole data set */
    } else {
      cairn_reply_errorf(&c->reply, "Unrecognized REPLCONF option: %.*s", (int)opt.len, opt.p);
      return;
    }
  }
  cairn_reply_ok(&c->reply);
}

static void full_sync(cairn_ctx *c, replica *r) {
  cairn_server *srv = c->srv;
  repl_state *st = state_of(srv);
  fullsync *job = st->job;
  if (!job || job->failed) job = job_start(srv);
  if (!job) {
    cairn_reply_error(&c->reply, "could not start the full sync: see the server log");
    return;
  }
  srv->stats.sync_full++;
  attach(srv, r, job->offset + 1);
  r->job = job;
  job->users++;
  r->state = R_WAIT_BGSAVE;
  cairn_notice("Replica %s:%d asks for synchronization; full resync from offset %llu", r->ip, r->listening_port,
               (unsigned long long)job->offset);
  if (!r->old_sync) {
    char line[96];
    int n = snprintf(line, sizeof(line), "+FULLRESYNC %s %llu\r\n", job->replid, (unsigned long long)job->offset);
    cairn_reply_raw(&c->reply, line, (size_t)n);
  }
  if (job->finished) start_bulk(srv, r, 0);
}

static int refuse_sync(cairn_ctx *c) {
  if (c->srv->replica_mode && !c->srv->master_link_up) {
    cairn_reply_error(&c->reply, "-NOMASTERLINK Can't SYNC while not connected with my master");
    return 1;
  }
  return 0;
}

/* repl-resync: a PSYNC that could continue gets a full sync when that is
 * cheaper: the stream to send (and apply) is larger than twice the estimated
 * snapshot, and more than 16 MB (below that either is quick). Or always, or
 * never, by the directive. The estimate is LMDB's live pages plus the
 * overlay's memory: an upper bound (a layer keeps overwritten values until
 * it is drained), so while much waits in the overlay it leans to
 * +CONTINUE, the safe side. */
#define RESYNC_MIN_STREAM (16ull << 20)
static int prefer_full_sync(cairn_server *srv, replica *r, uint64_t off) {
  if (srv->cfg.repl_resync == CAIRN_RESYNC_PARTIAL) return 0;
  uint64_t missed = srv->stream_offset + 1 - off;
  if (srv->cfg.repl_resync == CAIRN_RESYNC_FULL) {
    cairn_notice("Replica %s:%d could continue from offset %llu (%llu bytes behind): full sync instead "
                 "(repl-resync full)",
                 r->ip, r->listening_port, (unsigned long long)off, (unsigned long long)missed);
    return 1;
  }
  uint64_t snap = cairn_store_live_bytes(srv->store) + cairn_store_overlay_bytes(srv->store);
  if (missed <= RESYNC_MIN_STREAM || missed <= 2 * snap) return 0;
  cairn_notice("Replica %s:%d could continue from offset %llu, but the %llu bytes of stream it missed cost more "
               "than a snapshot of about %llu bytes: full sync instead (repl-resync cost)",
               r->ip, r->listening_port, (unsigned long long)off, (unsigned long long)missed,
               (unsigned long long)snap);
  return 1;
}

static void cmd_psync(cairn_ctx *c) {
  if (!c->client || (c->client->flags & CAIRN_CLIENT_REPLICA)) return;
  if (refuse_sync(c)) return;
  cairn_server *srv = c->srv;
  repl_state *st = state_of(srv);
  replica *r = replica_of(c->client);
  if (r->resume_job) {
    /* the full sync it was cut off from, from where it stopped */
    fullsync *job = r->resume_job;
    r->resume_job = NULL;
    srv->stats.sync_full_resumed++;
    attach(srv, r, job->offset + 1);
    r->job = job; /* its use of the job is the one REPLCONF resume-sync took */
    cairn_notice("Replica %s:%d resumes the full sync at offset %llu from byte %llu of %llu", r->ip,
                 r->listening_port, (unsigned long long)job->offset, (unsigned long long)r->resume_pos,
                 (unsigned long long)job->size);
    char line[96];
    int n = snprintf(line, sizeof(line), "+FULLRESYNC %s %llu\r\n", job->replid, (unsigned long long)job->offset);
    cairn_reply_raw(&c->reply, line, (size_t)n);
    start_bulk(srv, r, r->resume_pos);
    return;
  }
  cairn_str id = c->argv[1];
  long long off;
  if (cairn_arg_ll(c, c->argv[2], &off) != 0) return;
  int known = id.len == 40 && (!strncasecmp(id.p, st->replid, 40) ||
                               (!strncasecmp(id.p, st->replid2, 40) && off <= st->second_off));
  uint64_t first = srv->wal.first(srv->wal.ud);
  int resumable = known && off >= 1 && (uint64_t)off >= first && (uint64_t)off <= srv->stream_offset + 1;
  if (resumable && prefer_full_sync(srv, r, (uint64_t)off)) resumable = 0;
  if (resumable) {
    srv->stats.sync_partial_ok++;
    attach(srv, r, (uint64_t)off);
    r->state = R_ONLINE;
    r->feed_off = (uint64_t)off;
    char line[80];
    r->framed = r->capa_psync2 && r->capa_frames;
    int n = r->framed        ? snprintf(line, sizeof(line), "+CONTINUE %s cairn-zstd\r\n", st->replid)
            : r->capa_psync2 ? snprintf(line, sizeof(line), "+CONTINUE %s\r\n", st->replid)
                             : snprintf(line, sizeof(line), "+CONTINUE\r\n");
    cairn_reply_raw(&c->reply, line, (size_t)n);
    cairn_notice("Partial resynchronization request from %s:%d accepted, sending %llu bytes of backlog", r->ip,
                 r->listening_port, (unsigned long long)(srv->stream_offset + 1 - (uint64_t)off));
    return;
  }
  if (known && (uint64_t)off >= first && (uint64_t)off <= srv->stream_offset + 1) {
    srv->stats.sync_partial_err++; /* resumable, but a full sync was chosen (logged) */
  } else if (!(id.len == 1 && id.p[0] == '?')) {
    srv->stats.sync_partial_err++;
    cairn_notice("Partial resynchronization not accepted for %s:%d (%s, offset %lld, backlog %llu..%llu)", r->ip,
                 r->listening_port, known ? "offset out of range" : "unknown replication id", off,
                 (unsigned long long)first, (unsigned long long)srv->stream_offset);
  }
  full_sync(c, r);
}

static void cmd_sync(cairn_ctx *c) {
  if (!c->client || (c->client->flags & CAIRN_CLIENT_REPLICA)) return;
  if (refuse_sync(c)) return;
  replica *r = replica_of(c->client);
  r->old_sync = 1;
  full_sync(c, r);
}

#define F_REPL (CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_NOMULTI)

static const cairn_command repl_commands[] = {
    CAIRN_CMD("replconf", -1, F_REPL | CAIRN_F_LOADING_STALE | CAIRN_CMD_ALLOW_BUSY, 0, 0, 0, cmd_replconf, "server",
              "An internal command for configuring the replication stream.", "3.0.0", ""),
    CAIRN_CMD("psync", -3, F_REPL, 0, 0, 0, cmd_psync, "server", "An internal command used in replication.", "2.8.0",
              "replicationid offset"),
    CAIRN_CMD("sync", 1, F_REPL, 0, 0, 0, cmd_sync, "server", "An internal command used in replication.", "1.0.0", ""),
    CAIRN_CMD("wait", 3, CAIRN_CMD_NOSCRIPT | CAIRN_CMD_BLOCKING, 0, 0, 0, cmd_wait, "generic",
              "Wait for the synchronous replication of all the write commands sent in the context of the current "
              "connection.",
              "3.0.0", "numreplicas timeout"),
    CAIRN_CMD("role", 1, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE | CAIRN_CMD_FAST, 0, 0, 0, cmd_role, "server",
              "Returns the replication role.", "2.8.12", ""),
    CAIRN_CMD_END,
};

/* ---------------------------------------------------------------- ids */

const char *cairn_repl_replid(cairn_server *srv) { return state_of(srv)->replid; }

void cairn_repl_adopt_id(cairn_server *srv, const char *replid) {
  repl_state *st = state_of(srv);
  memcpy(st->replid, replid, 40);
  st->replid[40] = '\0';
  memcpy(st->replid2, ZERO_ID, 41);
  st->second_off = -1;
  put_ids(srv);
  record_history(srv);
}

void cairn_repl_continue_id(cairn_server *srv, const char *replid) {
  repl_state *st = state_of(srv);
  memcpy(st->replid2, st->replid, 41);
  st->second_off = (int64_t)srv->stream_offset + 1;
  memcpy(st->replid, replid, 40);
  st->replid[40] = '\0';
  put_ids(srv);
  record_history(srv);
}

void cairn_repl_shift_id(cairn_server *srv) {
  repl_state *st = state_of(srv);
  memcpy(st->replid2, st->replid, 41);
  st->second_off = (int64_t)srv->stream_offset + 1;
  cairn_random_hex40(st->replid);
  put_ids(srv);
  record_history(srv);
  srv->stream_db = -1; /* the new history starts with a SELECT */
  cairn_notice("Setting secondary replication ID to %s, valid up to offset: %lld. New replication ID is %s",
               st->replid2, (long long)st->second_off, st->replid);
}

void cairn_repl_drop_replicas(cairn_server *srv) {
  repl_state *st = state_of(srv);
  while (st->replicas) cairn_client_close(st->replicas->c);
}

/* ---------------------------------------------------------------- life cycle */

int cairn_repl_init(cairn_server *srv, cairn_backlog *backlog, char *err, size_t errlen) {
  repl_state *st = cairn_xcalloc(1, sizeof(*st));
  st->backlog = backlog;
  cairn_buf b = {0};
  int rc = cairn_store_meta_get(srv->store, "replid", &b);
  if (rc < 0) {
    snprintf(err, errlen, "cannot read the replication id: %s", cairn_store_errstr(srv->store));
    cairn_buf_free(&b);
    free(st);
    return -1;
  }
  if (rc == 1 && b.len == 40) {
    memcpy(st->replid, b.p, 40);
  } else {
    /* A new history: kept in LMDB from the next checkpoint on, so that a
     * restarted master is the same master to its replicas. */
    cairn_random_hex40(st->replid);
  }
  memcpy(st->replid2, ZERO_ID, 41);
  st->second_off = -1;
  if (cairn_store_meta_get(srv->store, "replid2", &b) == 1 && b.len == 40) memcpy(st->replid2, b.p, 40);
  if (cairn_store_meta_get(srv->store, "second_off", &b) == 1 && b.len == sizeof(int64_t))
    memcpy(&st->second_off, b.p, sizeof(int64_t));
  cairn_buf_free(&b);
  st->slots = cairn_slots_new(backlog);
  st->last_ping_ms = st->last_keepalive_ms = cairn_monotonic_ms();
  srv->repl = st;
  record_history(srv);
  srv->repl_hooks.on_synced = on_synced;
  srv->repl_hooks.on_drained = on_drained;
  srv->repl_hooks.on_close = on_close;
  srv->repl_hooks.cron = cron;
  srv->repl_hooks.info = info;
  srv->repl_hooks.min_offset = min_offset;
  srv->repl_hooks.checkpoint = put_ids;
  srv->repl_hooks.stop = cairn_replica_stop;
  srv->repl_hooks.good_replicas = good_replicas;
  cairn_command_register(repl_commands);
  cairn_command_register(cairn_slot_commands);
  return cairn_replica_init(srv, err, errlen);
}

/* After the loop has ended (every handle closed, every client gone): wait
 * for a spool thread still running, remove its file, free what is left. */
void cairn_repl_free(cairn_server *srv) {
  repl_state *st = state_of(srv);
  if (!st) return;
  cairn_replica_free(srv);
  while (st->jobs) {
    fullsync *job = st->jobs;
    st->jobs = job->next;
    if (!job->finished) {
      pthread_join(job->thread, NULL);
      cairn_store_snapshot_close(job->snap);
    }
    unlink(job->path);
    cairn_buf_free(&job->functions);
    free(job);
  }
  cairn_slots_free(st->slots);
  free(st->fbuf);
  srv->repl = NULL;
  free(st);
}

cairn_slots *cairn_repl_slots(cairn_server *srv) { return state_of(srv)->slots; }
