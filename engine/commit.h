/* Group commit, checkpoints, rollback and recovery (docs/DURABILITY.md).
 *
 * The backlog (WAL) record is the point of durability; LMDB is the checkpoint.
 * One event-loop iteration = one WAL record = one fdatasync (group commit),
 * after which the iteration's held replies are released; a sync finishing on
 * the flusher thread mid-iteration appends what the iteration wrote so far as
 * a record of its own. A reply never leaves before a finished sync covers its
 * write. */
#ifndef CAIRN_COMMIT_H
#define CAIRN_COMMIT_H

#include <stddef.h>

#include "engine/server.h"

/* End of an iteration: append the stream to the WAL, sync (strict), maybe
 * checkpoint, release held replies. Idempotent within an iteration. */
void cairn_commit_iteration(cairn_server *srv);
/* The same while a script runs past busy-reply-threshold, without a
 * checkpoint (see commit.c). */
void cairn_commit_during_script(cairn_server *srv);

/* Checkpoints (after making the WAL durable): freezes the store's active
 * overlay layer at the stream's offset for the store thread, which writes
 * it into LMDB in the background. 0 or -1. */
int cairn_commit_checkpoint(cairn_server *srv);
/* Whether a checkpoint is due now (checkpoint-bytes, the LMDB transaction
 * limit, or checkpoint-interval-ms with no drain in flight), and whether it
 * is needed whatever the time (the first two). */
int cairn_checkpoint_due(cairn_server *srv, int64_t now);
int cairn_checkpoint_needed(cairn_server *srv);
/* The store thread's side (engine/store.h): start watches it (an async
 * handle woken after each drain); poll releases what it finished, lets the
 * backlog drop what is on disk and resumes stalled writers (srv->on_store_room);
 * the cron calls it too and retries a failed drain every second. */
int cairn_commit_store_start(cairn_server *srv, char *err, size_t errlen);
void cairn_commit_store_stop(cairn_server *srv);
void cairn_commit_poll_store(cairn_server *srv);
/* Blocks until every frozen layer is in LMDB (SAVE, shutdown, a full
 * sync's snapshot), after syncing the backlog so the thread may write them.
 * 0, or -1 on a drain error (cairn_store_drain_error says which). */
/* Appends the iteration's stream and syncs the backlog now (what a
 * snapshot is taken at must be durable first). 0, or -1. */
int cairn_commit_sync_now(cairn_server *srv);
int cairn_commit_wait_store(cairn_server *srv);
/* Whether a client's write command may run now (0) or must wait as the
 * overlay fills: -1 for the next iteration (throttled), -2 until a layer is
 * on disk (at the budget); the caller stalls the client; new_iteration renews the
 * iteration's quota and resumes throttled writers (engine/loop.c). */
int cairn_commit_write_admitted(cairn_server *srv);
/* The overlay size at which the store thread drains without gathering a
 * bigger merge (store.h cairn_store_set_merge). */
uint64_t cairn_commit_urgent_bytes(const cairn_config *cfg);
/* The cap of the overlay's arena blocks in use and kept for reuse
 * (buf.h cairn_huge_blocks_cap). */
size_t cairn_commit_kept_blocks(const cairn_config *cfg);
void cairn_commit_new_iteration(cairn_server *srv);
void cairn_commit_after_iteration(cairn_server *srv);

/* After a store error (rc < 0) in a command: roll the store back to its last
 * checkpoint, grow the map if it was full, and replay the WAL and the
 * iteration's pending stream so the store again matches the stream. Returns 0
 * if the command may be retried, -1 with the error reply text in why.
 *
 * The map grows up to 7/8 of lmdb-max-map-size for commands that add data
 * (DENYOOM); work that may not be refused for lack of room (DEL and every
 * other command without DENYOOM, like Redis's maxmemory rule; expiry; the
 * sweep of deleted collections) passes may_use_reserve and may grow into the
 * last eighth, which otherwise only replay and checkpoints use. */
int cairn_commit_recover(cairn_server *srv, int rc, int may_use_reserve, char *why, size_t whylen);

/* At startup: replay the WAL from the store's checkpoint to its end. */
int cairn_commit_startup(cairn_server *srv, char *err, size_t errlen);

/* Applies a RESP command stream (recovery, and later a master's stream) with
 * no replies and no propagation. The state carries partial commands across
 * calls. Returns 0, or the store error met (then stop and recover). */
typedef struct cairn_apply_state {
  cairn_req_parser parser;
  cairn_buf buf;
  cairn_str *argv;
  size_t argv_cap;
  uint64_t applied;   /* bytes consumed by complete commands (and whole MULTI...EXEC units) */
  cairn_req_parser scan; /* looks ahead for the EXEC of a transaction */
  size_t unit_scan;      /* where that look-ahead resumes in buf (0 = none) */
  /* Optional (a replica's master link): on_marker sees MULTI/EXEC/PING/
   * REPLCONF before its bytes are passed on; on_raw gets each complete
   * command's exact bytes once it has been applied. */
  void *ud;
  void (*on_marker)(void *ud, int argc, const cairn_str *argv);
  void (*on_raw)(void *ud, const char *p, size_t n);
} cairn_apply_state;

void cairn_apply_init(cairn_apply_state *st);
void cairn_apply_free(cairn_apply_state *st);
int cairn_apply(cairn_server *srv, cairn_apply_state *st, const char *p, size_t len);

/* A replica took a new history from a full sync: the store (already loaded)
 * is checkpointed at `offset` and the backlog restarts there. Crash-safe: a
 * flag in the same LMDB commit makes startup finish the backlog reset. */
int cairn_commit_new_history(cairn_server *srv, uint64_t offset, int stream_db);

/* What the commit tells the holder of replies through srv->on_sync (never
 * NULL once the server is initialised; engine/client.c's
 * cairn_clients_on_sync). The commit knows nothing of clients. */
typedef enum cairn_sync_event {
  CAIRN_SYNC_STARTED,        /* a sync began: it covers every reply produced so far (mark them) */
  CAIRN_SYNC_MARKED_DURABLE, /* that sync finished: release what was marked */
  CAIRN_SYNC_ALL_DURABLE,    /* everything produced so far is durable: release it all */
  CAIRN_SYNC_LOST,           /* the WAL refused the writes held replies depend on: never send them */
} cairn_sync_event;

/* The cron's share (engine/loop.c): relaxed mode's once-a-second sync,
 * retention, the MISCONF retry, a due checkpoint. */
void cairn_commit_cron(cairn_server *srv, int64_t now_ms);

/* Hands the backlog its retention limits and the checkpoint pin, and lets it
 * drop segments, write its manifest and notice cairn-backlog's changes. */
void cairn_commit_maintain_wal(cairn_server *srv);

/* The flusher thread (strict durability). start: 0, or -1 with err. */
int cairn_flusher_start(cairn_server *srv, char *err, size_t errlen);
void cairn_flusher_stop(cairn_server *srv);

#endif
