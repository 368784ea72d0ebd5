/* The write-ahead log as the engine sees it (the "WAL sink").
 *
 * The engine never includes replication/: it reaches the backlog through this
 * table, which main.c fills with replication/backlog/'s functions. The table
 * is also the fault-injection seam: a wrapper table that fails the Nth call
 * of one operation tests the engine's failure paths.
 *
 * Threads: every operation runs on the loop thread except sync_run, which the
 * flusher thread calls. Errors: -1 (or NULL) with errno set. */
#ifndef CAIRN_WAL_H
#define CAIRN_WAL_H

#include <stddef.h>
#include <stdint.h>

/* Append one record per iteration, sync, read back from an offset for
 * recovery. Offsets are replication offsets. */
typedef struct cairn_wal_retention {
  uint64_t bytes, max_bytes, segment_size;
  int64_t seconds;
  uint64_t checkpoint_offset; /* the store's checkpoint covers up to here */
  uint64_t replicas_offset;   /* the oldest offset an attached replica needs, 0 = none */
} cairn_wal_retention;

typedef struct cairn_wal_stats {
  uint64_t first, end, stream_bytes, disk_bytes, raw_disk_bytes, compressed_disk_bytes, compressed_stream_bytes;
  int64_t oldest_ms;
  double ratio;
  int segments, compressed_segments, pending_seals;
  uint64_t corrupt_frames;
  uint64_t corruptions, torn_tail_bytes_cut, corrupt_bytes_cut; /* found / cut by the backlog's open */
  int active_preallocated, spare_ready; /* backlog-preallocate: the active segment, the next one */
  uint64_t adopted_frames, adopted_stream_bytes, adopt_mismatches; /* a replica's stored frames (adopt_frame) */
} cairn_wal_stats;

typedef struct cairn_wal {
  void *ud;
  int (*append)(void *ud, const void *p, size_t n);
  int (*sync)(void *ud);
  /* Split sync for the flusher thread: sync_begin (loop thread) captures what
   * must be synced for everything appended so far and returns an opaque
   * token (NULL + errno on error) and the offset it makes durable; sync_run
   * (any thread) performs it and frees the token. */
  void *(*sync_begin)(void *ud, uint64_t *end);
  int (*sync_run)(void *token);
  uint64_t (*first)(void *ud);
  uint64_t (*end)(void *ud);
  void *(*cursor_open)(void *ud, uint64_t offset);
  long (*cursor_next)(void *cur, void *buf, size_t cap);
  /* a stored compressed frame as it is on disk (see the backlog's
   * cairn_backlog_cursor_next_frame); NULL if the sink has none */
  long (*cursor_next_frame)(void *cur, uint64_t limit, void *buf, size_t cap, uint32_t *raw_len, uint32_t *crc);
  void (*cursor_close)(void *cur);
  /* A replica's catch-up: a frame as its master stored it, holding raw_len
   * stream bytes from offset first (crc32c raw_crc), which the apply is
   * about to append; the sink may store it as it is instead of compressing
   * those bytes again (the backlog's cairn_backlog_adopt_frame). NULL if
   * the sink has no use for it. */
  int (*adopt_frame)(void *ud, uint64_t first, const void *comp, size_t clen, uint32_t raw_len, uint32_t raw_crc);
  int (*reset)(void *ud, uint64_t end);
  /* Retention lives in the backlog: the engine hands it the configured
   * limits and the checkpoint offset (pinned: never dropped, it is what
   * recovery replays from) after each checkpoint and once a second. */
  int (*maintain)(void *ud, const cairn_wal_retention *r);
  /* for INFO */
  uint64_t (*disk_bytes)(void *ud);
  int (*segments)(void *ud);
  int64_t (*first_time_ms)(void *ud);
  void (*stats)(void *ud, cairn_wal_stats *st);
} cairn_wal;

#endif
