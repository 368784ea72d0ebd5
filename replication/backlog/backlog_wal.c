/* The backlog behind the engine's WAL interface (engine/wal.h): the one
 * backend of cairn_wal. main.c wires it; nothing else casts wal.ud. */
#include <errno.h>
#include <stdlib.h>

#include "engine/wal.h"
#include "replication/backlog/backlog.h"

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
static long wal_cursor_next_frame(void *cur, uint64_t limit, void *buf, size_t cap, uint32_t *raw_len, uint32_t *crc) {
  return cairn_backlog_cursor_next_frame(cur, limit, buf, cap, raw_len, crc);
}
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
                          .pending_seals = b.pending_seals, .corrupt_frames = b.corrupt_frames,
                          .corruptions = b.corruptions, .torn_tail_bytes_cut = b.torn_tail_bytes_cut,
                          .corrupt_bytes_cut = b.corrupt_bytes_cut, .active_preallocated = b.active_preallocated,
                          .spare_ready = b.spare_ready, .adopted_frames = b.adopted_frames,
                          .adopted_stream_bytes = b.adopted_stream_bytes, .adopt_mismatches = b.adopt_mismatches};
}
static int wal_adopt_frame(void *ud, uint64_t first, const void *comp, size_t clen, uint32_t raw_len,
                           uint32_t raw_crc) {
  return cairn_backlog_adopt_frame(ud, first, comp, clen, raw_len, raw_crc);
}
static int wal_reset(void *ud, uint64_t end) { return cairn_backlog_reset(ud, end); }
static uint64_t wal_disk_bytes(void *ud) { return cairn_backlog_disk_bytes(ud); }
static int wal_segments(void *ud) { return cairn_backlog_segment_count(ud); }
static int64_t wal_first_time_ms(void *ud) { return cairn_backlog_first_time_ms(ud); }

void cairn_backlog_wal(cairn_backlog *b, cairn_wal *out) {
  *out = (cairn_wal){.ud = b,
                     .append = wal_append,
                     .sync = wal_sync,
                     .sync_begin = wal_sync_begin,
                     .sync_run = wal_sync_run,
                     .first = wal_first,
                     .end = wal_end,
                     .cursor_open = wal_cursor_open,
                     .cursor_next = wal_cursor_next,
                     .cursor_next_frame = wal_cursor_next_frame,
                     .cursor_close = wal_cursor_close,
                     .adopt_frame = wal_adopt_frame,
                     .maintain = wal_maintain,
                     .stats = wal_stats,
                     .reset = wal_reset,
                     .disk_bytes = wal_disk_bytes,
                     .segments = wal_segments,
                     .first_time_ms = wal_first_time_ms};
}
