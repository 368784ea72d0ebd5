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
 * (%020llu.seg), rolled at options.segment_size. This is the interface the
 * segmented, compressed backlog implements; callers never see files.
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
} cairn_backlog_options;

/* Opens (creating if absent) the backlog in dir. Scans the newest segment and
 * cuts a torn or corrupt tail at the last complete record, logging what was
 * cut (file, offset, bytes) into err when non-NULL. Returns 0, or -1 with a
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
 * one). Returns the number of segments removed. */
int cairn_backlog_trim_before(cairn_backlog *b, uint64_t offset);

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
uint64_t cairn_backlog_cursor_offset(const cairn_backlog_cursor *c); /* next byte to be read */
void cairn_backlog_cursor_close(cairn_backlog_cursor *c);

#endif
