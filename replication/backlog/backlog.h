/* The backlog: cairn's write-ahead log and its replication backlog, one thing.
 *
 * The replication stream (RESP commands, exactly the bytes replicas receive) is
 * appended as checksummed records, one per event-loop iteration that wrote.
 * Offsets are Redis master offsets: the stream's byte number k (k >= 1) has
 * offset k; "end" is the offset of the last byte appended (Redis's
 * master_repl_offset); the first retained byte is "first" (Redis's
 * repl_backlog_first_byte_offset). An empty backlog that starts at offset S has
 * first = S+1, end = S.
 *
 * Files: a directory of segment files named by the offset of their first byte
 * (%020llu.seg raw, %020llu-N.zseg compressed), rolled at
 * options.segment_size, and a MANIFEST (segments, replid history, pins).
 * Sealed segments are compressed by a background thread in independent zstd
 * frames of about 1 MiB of stream. docs/BACKLOG.md has the formats and the
 * crash-safety argument; callers never see files.
 *
 * Threading: one writer (the event loop). Cursors may be used from other
 * threads; a cursor keeps the segment it reads open, so deletion underneath it
 * is safe (unlinked files stay readable while open).
 */
#ifndef CAIRN_BACKLOG_H
#define CAIRN_BACKLOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cairn_backlog cairn_backlog;
typedef struct cairn_backlog_cursor cairn_backlog_cursor;

typedef struct cairn_backlog_options {
  uint64_t segment_size;        /* roll the active segment once it exceeds this */
  uint64_t start_offset;        /* for a new, empty backlog: end offset to start at (first = start+1) */
  int no_compress;              /* don't start the background compression thread */
  /* Zero-filled segments: the compression thread keeps a spare segment file
   * written with zeros to segment_size and synced, which the next roll renames
   * into place. Appends then overwrite allocated blocks, so a sync is a data
   * write without a filesystem journal commit (ext4, XFS). A segment not
   * preallocated (the first of a new backlog, after a reset) is rolled into
   * the spare early, once it holds 1 MB. Needs the thread (not no_compress). */
  int preallocate;
  int compress_level;           /* zstd level for sealed segments (0: default 3) */
  /* Tool mode: take the directory's lock for the handle's whole life (fails
   * with EWOULDBLOCK if another tool holds it), never cut or rewrite the
   * active segment (a server may be appending to it), no thread. */
  int tool;
  /* A bad record in the newest raw segment with a valid record after it is
   * corruption, not a torn tail: open fails naming the file, position and
   * offsets, unless this is set, which cuts the segment at the bad record
   * (logged as an error). Also lets a corrupt MANIFEST be rebuilt from the
   * segment files instead of failing open. The server's
   * backlog-load-corrupt truncate. */
  int truncate_corrupt;
  /* Where repairs, retention decisions and corruption are reported; level is
   * CAIRN_BACKLOG_LOG_*. NULL: silent. */
  void (*log)(void *ud, int level, const char *msg);
  void *log_ud;
} cairn_backlog_options;

enum { CAIRN_BACKLOG_LOG_INFO = 0, CAIRN_BACKLOG_LOG_WARNING = 1, CAIRN_BACKLOG_LOG_ERROR = 2 };

/* Opens (creating if absent) the backlog in dir. Scans the newest segment and
 * cuts a torn tail (a bad record with no valid record after it) at the last
 * complete record, logging what was cut (file, offset, bytes) into err when
 * non-NULL. A bad record followed by a valid one, or a corrupt MANIFEST,
 * fails open (see options.truncate_corrupt). Returns 0, or -1 with a
 * message naming the file in err. */
int cairn_backlog_open(const char *dir, const cairn_backlog_options *opt, cairn_backlog **out,
                       char *err, size_t errlen);
void cairn_backlog_close(cairn_backlog *b);

uint64_t cairn_backlog_first(const cairn_backlog *b);   /* first retained byte's offset */
uint64_t cairn_backlog_end(const cairn_backlog *b);     /* offset of the last byte appended */

/* Appends len bytes (one record). Not durable until cairn_backlog_sync. On an
 * I/O error returns -1 (errno set), leaves the file cut back to the last
 * complete record, and end unchanged. */
int cairn_backlog_append(cairn_backlog *b, const void *data, size_t len);
/* The same with the record's wall-clock ms given (cairn-backlog restore
 * copies a stream with the times it was first written at). */
int cairn_backlog_append_at(cairn_backlog *b, const void *data, size_t len, int64_t ms);

/* Makes every appended record durable (fdatasync of the active segment, and of
 * the directory after a roll). -1 with errno on failure. */
int cairn_backlog_sync(cairn_backlog *b);

/* Sync in two halves, for a flusher thread that overlaps fdatasync with the
 * writer's work. cairn_backlog_sync_begin (writer thread) captures what must
 * be synced to make every record appended so far durable: a duplicate of the
 * active segment's fd and, after a roll, of the directory's (older segments
 * are synced when they are sealed). cairn_backlog_sync_run (any thread) does
 * the syncs and closes the duplicates; it always consumes the token. */
typedef struct cairn_backlog_sync_token {
  int fd;
  int dirfd;      /* -1 if the directory needs no sync */
  uint64_t end;   /* every byte up to this offset is durable once run returns 0 */
} cairn_backlog_sync_token;
int cairn_backlog_sync_begin(cairn_backlog *b, cairn_backlog_sync_token *t);
int cairn_backlog_sync_run(cairn_backlog_sync_token *t);

/* Drops whole segments whose every byte is below `offset` (never the active
 * one), ignoring pins. Returns the number of segments removed. */
int cairn_backlog_trim_before(cairn_backlog *b, uint64_t offset);

/* ---- history, pins, retention (all recorded in the manifest) ---------------
 * The replid history: each entry says that from `offset` on the stream
 * belongs to replid (and replid2 was the previous one). Written to the
 * manifest at once (durable when set_history returns 0). */
typedef struct cairn_backlog_replid {
  char replid[41];
  char replid2[41];
  uint64_t offset;
} cairn_backlog_replid;
int cairn_backlog_set_history(cairn_backlog *b, const cairn_backlog_replid *h, size_t n);
/* Copies up to cap entries into out; returns how many there are. */
size_t cairn_backlog_get_history(cairn_backlog *b, cairn_backlog_replid *out, size_t cap);

/* A pin says "keep every byte from offset on". Retention by bytes and age
 * never drops a pinned segment; the hard cap (max_bytes) does, logging the
 * pin's name, unless the pin is required (the LMDB checkpoint: the server
 * pins "checkpoint" with pin_required): then it logs an error and keeps it.
 * Setting a pin with an existing name moves it. Pins reach the manifest with
 * its next write (a pin there is never newer than the real one: safe for
 * cairn-backlog trim, which refuses to drop pinned data). */
int cairn_backlog_pin(cairn_backlog *b, const char *name, uint64_t offset);
/* Pins whose name starts with this are the operator's, set and removed by
 * cairn-backlog (checkpoint --pin, unpin) in the manifest: a server adopting
 * a manifest another process wrote takes its set of them from the file (its
 * other pins are its own and stay as they are). */
#define CAIRN_BACKLOG_TOOL_PIN_PREFIX "ckpt:"
int cairn_backlog_pin_required(cairn_backlog *b, const char *name, uint64_t offset);
int cairn_backlog_unpin(cairn_backlog *b, const char *name);
/* Writes the manifest now, with the pins as they are: 0, or -1 with errno
 * (EWOULDBLOCK: another process holds the lock). How a tool's handle (which
 * holds the lock and otherwise never writes at close) records its pins. */
int cairn_backlog_save_pins(cairn_backlog *b);
/* A pin that also keeps when its holder was last heard from (wall-clock ms,
 * in the manifest too): a replica slot (replication/master.c). */
int cairn_backlog_pin_seen(cairn_backlog *b, const char *name, uint64_t offset, int64_t seen_ms);

/* Retention: bytes on disk, age of a segment's newest byte, hard cap; 0
 * disables a rule. segment_size (0: unchanged) applies to the next roll. */
void cairn_backlog_set_retention(cairn_backlog *b, uint64_t bytes, int64_t seconds, uint64_t max_bytes,
                                 uint64_t segment_size);
/* Periodic work on the writer's thread: applies retention, writes the
 * manifest if it changed, and adopts a manifest written by cairn-backlog
 * (compact, trim). Returns segments dropped. */
int cairn_backlog_maintain(cairn_backlog *b);

typedef struct cairn_backlog_stats {
  uint64_t first, end;
  int64_t oldest_ms;          /* wall clock of the oldest retained byte (0 if empty) */
  uint64_t stream_bytes;      /* bytes of replication stream retained (end - first + 1) */
  uint64_t disk_bytes;        /* all segment files */
  uint64_t raw_disk_bytes;    /* uncompressed segments (active and sealed) */
  uint64_t compressed_disk_bytes;   /* compressed segments' files */
  uint64_t compressed_stream_bytes; /* the stream bytes they hold */
  double ratio;               /* compressed_stream_bytes / compressed_disk_bytes (0 if none) */
  int segments, compressed_segments;
  int pending_seals;          /* sealed segments waiting for compression */
  uint64_t corrupt_frames;    /* checksum failures met by readers since open */
  uint64_t corruptions;       /* damage found by open: corrupt records with valid ones after
                               * them, a corrupt MANIFEST, damaged older segments */
  uint64_t torn_tail_bytes_cut;   /* bytes cut by open as a torn tail */
  uint64_t corrupt_bytes_cut;     /* bytes cut by open at a corruption (truncate_corrupt) */
  int active_preallocated;        /* the active segment's file was zero-filled ahead (options.preallocate) */
  int spare_ready;                /* the next roll's zero-filled file is ready */
  uint64_t adopted_frames;        /* frames written as the master sent them (cairn_backlog_adopt_frame) */
  uint64_t adopted_stream_bytes;  /* the stream bytes they hold */
  uint64_t adopt_mismatches;      /* adopted frames whose range held other bytes (compressed here) */
  uint64_t adopt_dropped;         /* frames not kept (memory cap, size, order) */
} cairn_backlog_stats;
void cairn_backlog_get_stats(cairn_backlog *b, cairn_backlog_stats *st);

/* A compressed frame as the master stored it (a replica's catch-up, see
 * backlog_zseg.c "adopted frames"): comp (clen bytes, one zstd frame with
 * its checksum) holds raw_len stream bytes from offset first, whose crc32c
 * is raw_crc. Those bytes still reach the backlog as records (append);
 * when their segment is compressed the frame is written as it is instead
 * of compressing them again, if the records' bytes have raw_crc. Copies
 * comp. 1 kept, 0 not (too big, past the memory cap, no compression
 * thread), -1 out of memory. Any thread. */
int cairn_backlog_adopt_frame(cairn_backlog *b, uint64_t first, const void *comp, size_t clen, uint32_t raw_len,
                              uint32_t raw_crc);

/* Per-segment listing (cairn-backlog ls). Returns a malloc'd array (free()). */
typedef struct cairn_backlog_seginfo {
  char file[48];
  uint64_t first, last, raw_bytes, disk_bytes;
  int64_t created_ms, sealed_ms;
  const char *state; /* "active", "sealed", "compressed", "compacted" */
} cairn_backlog_seginfo;
cairn_backlog_seginfo *cairn_backlog_list(cairn_backlog *b, size_t *n);
/* Names of the pins (as in the manifest), their offsets and (seen_ms may be
 * NULL) when their holders were last seen (0: not kept); returns count. */
size_t cairn_backlog_pins(cairn_backlog *b, char names[][64], uint64_t *offsets, int *required, int64_t *seen_ms,
                          size_t cap);

/* Checks every checksum of every segment. cb is called for each problem
 * (file, file position, stream offset, reason), including a bad record in
 * the active segment with a valid record after it (corruption); returns
 * problems found, -1 on I/O error. note (may be NULL) is told of what is not
 * a problem: a torn tail of the active segment (nothing valid after it; the
 * server cuts it at its next start, or a write is in progress). progress
 * (may be NULL) gets bytes done / total. */
long cairn_backlog_verify(cairn_backlog *b, void (*cb)(void *ud, const char *file, uint64_t pos,
                                                       uint64_t offset, const char *why),
                          void (*note)(void *ud, const char *file, uint64_t pos, uint64_t offset,
                                       const char *what),
                          void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud);

/* Merges adjacent sealed segments smaller than target_size into segments of
 * about target_size, recompressing at level (long: long-distance matching).
 * New files first, then one atomic manifest switch, then the old files go.
 * Needs a handle opened with options.tool. Returns segments written, -1 on
 * error (err). */
int cairn_backlog_compact(cairn_backlog *b, int level, int longdist, uint64_t target_size,
                          void (*progress)(void *ud, uint64_t done, uint64_t total), void *ud, char *err,
                          size_t errlen);
/* Drops whole sealed segments whose every byte is below `before` or whose
 * newest byte is older than older_than_ms (0: unused). Refuses (returns -1,
 * err names the pin) to drop what a pin needs unless force; never what a
 * required pin needs. Returns segments dropped. */
int cairn_backlog_drop(cairn_backlog *b, uint64_t before, int64_t older_than_ms, int force, char *err,
                       size_t errlen);

/* Total bytes on disk and segment count, for INFO. */
uint64_t cairn_backlog_disk_bytes(const cairn_backlog *b);
int cairn_backlog_segment_count(const cairn_backlog *b);
/* Wall-clock ms when the oldest retained byte was written (0 if unknown). */
int64_t cairn_backlog_first_time_ms(const cairn_backlog *b);

/* Empties the backlog and restarts it at end offset `end` (first = end+1):
 * used when a replica takes a new history from a full sync. */
int cairn_backlog_reset(cairn_backlog *b, uint64_t end);

/* Cursor over [offset, end]. offset must satisfy first <= offset <= end+1
 * (otherwise -1 and errno = ERANGE). */
int cairn_backlog_cursor_open(cairn_backlog *b, uint64_t offset, cairn_backlog_cursor **out);
/* Copies up to cap bytes of stream starting at the cursor into buf and advances.
 * Returns bytes copied, 0 when the cursor has reached the current end (more may
 * come later: call again), -1 on error (errno; EIO for a checksum mismatch,
 * ERANGE if the data was trimmed away). */
long cairn_backlog_cursor_next(cairn_backlog_cursor *c, void *buf, size_t cap);
/* Frames as stored (a replica's catch-up, replication/master.c): when the
 * cursor stands at the first byte of a frame of a compressed segment, the
 * frame's last byte is <= limit and its compressed bytes fit in cap, copies
 * them (a zstd frame with its checksum) into buf, sets *raw_len (the stream
 * bytes it holds) and *crc (crc32c of the compressed bytes, checked here)
 * and moves past it: returns the compressed length. Otherwise 0, with
 * *raw_len = the stream bytes to read with cursor_next before the next
 * frame could go whole (0: not in a compressed segment). -1 on error. */
long cairn_backlog_cursor_next_frame(cairn_backlog_cursor *c, uint64_t limit, void *buf, size_t cap,
                                     uint32_t *raw_len, uint32_t *crc);
/* Like cursor_next, but returns the bytes of one time unit at most (one
 * record of a raw segment, one frame of a compressed one) and says when they
 * were written: *exact = 1 and *ms the record's own wall-clock ms (raw), or
 * *exact = 0 and *ms an upper bound (compressed: the frame's time, the
 * newest record it holds bytes of; for frames written before frame times
 * were kept, the segment's sealed time; 0 if neither is known). */
long cairn_backlog_cursor_next_timed(cairn_backlog_cursor *c, void *buf, size_t cap, int64_t *ms, int *exact);
uint64_t cairn_backlog_cursor_offset(const cairn_backlog_cursor *c); /* next byte to be read */
void cairn_backlog_cursor_close(cairn_backlog_cursor *c);

/* Fills *out with the engine's WAL interface (engine/wal.h) backed by b
 * (backlog_wal.c): out->ud is b. b must outlive every use of *out. */
struct cairn_wal;
void cairn_backlog_wal(cairn_backlog *b, struct cairn_wal *out);

#endif
