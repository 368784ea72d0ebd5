/* Internals shared by the backlog's files (not part of the contract; see
 * backlog.h and docs/BACKLOG.md). One concern per file:
 *   backlog.c           open/reconcile, append, sync, cursors, reset
 *   backlog_segment.c   raw segment files: headers, scans, create, seal
 *   backlog_zseg.c      compressed segment files: writer, frame reader, verify
 *   backlog_manifest.c  the manifest, the lock file, garbage collection
 *   backlog_retain.c    pins, retention, trims, the compression thread, stats
 *   backlog_compact.c   compaction (cairn-backlog compact) */
#ifndef CAIRN_BACKLOG_INT_H
#define CAIRN_BACKLOG_INT_H

#include "replication/backlog/backlog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define SEG_MAGIC "CAIRNSEG"
#define SEG_HDR_SIZE 64
#define SEG_VERSION 1
#define SEG_FORMAT_RAW 0
#define SEG_FORMAT_ZSTD 1
/* header state byte; also the manifest's segment states */
#define SEG_STATE_ACTIVE 0
#define SEG_STATE_SEALED 1
#define SEG_STATE_COMPRESSED 2 /* compressed by the server's background thread */
#define SEG_STATE_COMPACTED 3  /* rewritten by cairn-backlog compact */

#define REC_HDR_SIZE 32
#define REC_TYPE_DATA 0x31435243u /* "CRC1" read as little-endian u32 */
#define REC_MAX_PAYLOAD ((uint64_t)UINT32_MAX - REC_HDR_SIZE)

#define INDEX_STRIDE 4096
#define WINDOW_SIZE (256 * 1024)

/* compressed segments */
#define ZFRAME_RAW (1u << 20) /* raw stream bytes per frame */
#define ZIDX_ENTRY 32
#define ZTRAILER_SIZE 32
#define ZTRAILER_MAGIC "CAIRNZIX"

#define SEG_NAME_MAX 48
#define MANIFEST_NAME "MANIFEST"
#define MANIFEST_TMP "MANIFEST.tmp"
#define LOCK_NAME "LOCK"

typedef struct idx_entry {
  uint64_t off; /* offset of the record's first payload byte */
  uint64_t pos; /* file position of the record header */
} idx_entry;

typedef struct segment {
  uint64_t first;    /* immutable */
  uint64_t end;      /* last offset held (first-1 when empty) */
  uint64_t size;     /* file size (raw: position after the last good record) */
  int64_t first_ms;  /* timestamp of the first record (raw) or creation, 0 if none */
  int64_t ctime_ms, sealed_ms;
  uint8_t format, state;
  int queued;        /* raw sealed segment waiting for / under compression */
  char name[SEG_NAME_MAX];
  idx_entry *idx;    /* raw only: sparse index, guarded by the backlog mutex */
  size_t nidx, idx_cap;
  uint64_t next_idx_pos;
} segment;

typedef struct pin {
  char name[64];
  uint64_t offset; /* first offset the holder still needs */
  int required;    /* never dropped, not even at the hard cap */
  int64_t seen_ms; /* wall clock the holder was last heard from (replica slots), 0 = not kept */
} pin;

/* the manifest, as read from or written to disk */
typedef struct mf_seg {
  uint64_t first, last, raw_bytes, disk_bytes;
  int64_t created_ms, sealed_ms;
  uint8_t state;
  char name[SEG_NAME_MAX];
} mf_seg;

typedef struct manifest {
  uint64_t gen;
  mf_seg *segs;
  size_t nsegs;
  cairn_backlog_replid *hist;
  size_t nhist;
  pin *pins;
  size_t npins;
} manifest;

struct cairn_backlog {
  char *dir;
  int dirfd;
  uint64_t segment_size;
  int read_only;      /* tool: never modify files at open, no thread */
  pthread_mutex_t mu; /* segment array, sparse indexes, pins, history */
  segment **segs;     /* oldest first; the last one is active */
  segment *active;    /* == segs[nsegs-1], for the writer without the mutex
                       * (other threads may replace the array, never it) */
  size_t nsegs, segs_cap;
  int active_fd;
  int dir_dirty;
  /* preallocation (options.preallocate): spare_fd, a zero-filled synced file
   * named SPARE_NAME (-1: none ready; the thread stores it, the writer
   * exchanges it for -1); spare_wanted (under mu): the writer asked the
   * thread for one; active_prealloc: the active segment's file extends past
   * its data */
  int prealloc;
  _Atomic int spare_fd;
  int spare_wanted;
  int spare_error_logged;
  int active_prealloc;
  _Atomic uint64_t disk_bytes;
  _Atomic uint64_t end;
  _Atomic uint64_t first;
  _Atomic uint64_t gen; /* bumped by reset: cursors from before it are stale */
  /* manifest */
  pthread_mutex_t mf_mu;  /* serializes manifest writes (and the lock) */
  uint64_t mf_gen;        /* generation last read or written */
  dev_t mf_dev;
  ino_t mf_ino;           /* identity of the manifest file we last saw */
  int mf_dirty;           /* in-memory state differs from the manifest */
  int pins_moved;         /* a pin moved since the last manifest write */
  int64_t mf_written_ms;
  int lock_fd;            /* held for the whole life of a tool's handle */
  cairn_backlog_replid *hist;
  size_t nhist;
  pin *pins;
  size_t npins;
  /* retention */
  uint64_t ret_bytes, ret_max_bytes;
  int64_t ret_seconds;
  int64_t last_cap_log_ms;
  /* compression */
  int zlevel;
  pthread_t zthread;
  int zthread_started, zstop;
  pthread_cond_t zcv;
  _Atomic uint64_t corrupt_frames;
  /* frames adopted (cairn_backlog_adopt_frame): a replica's copies of its
   * master's stored frames, oldest first, for the compression thread */
  pthread_mutex_t adopt_mu;
  struct adopted *adopt_head, *adopt_tail;
  uint64_t adopt_bytes;                      /* compressed bytes held */
  _Atomic uint64_t adopted_frames, adopted_stream_bytes, adopt_mismatches, adopt_dropped;
  int truncate_corrupt;   /* options.truncate_corrupt */
  uint64_t corruptions, torn_tail_bytes_cut, corrupt_bytes_cut; /* set by open only */
  void (*log)(void *ud, int level, const char *msg);
  void *log_ud;
};

/* ---- backlog_segment.c ----------------------------------------------------- */
typedef struct seg_hdr {
  uint8_t version, format, state;
  uint64_t first, last, bytes;
  int64_t ctime_ms, sealed_ms;
} seg_hdr;

void bl_seg_hdr_encode(uint8_t out[SEG_HDR_SIZE], const seg_hdr *h);
const char *bl_seg_hdr_decode(const uint8_t in[SEG_HDR_SIZE], seg_hdr *h);
void bl_rec_hdr_encode(uint8_t out[REC_HDR_SIZE], uint32_t len, uint64_t off, int64_t ms);
ssize_t bl_pread_full(int fd, void *buf, size_t n, uint64_t pos);
void bl_raw_name(char out[SEG_NAME_MAX], uint64_t first);
void bl_zseg_name(char out[SEG_NAME_MAX], uint64_t first, uint64_t unique);
/* 1 raw, 2 compressed, 0 not a segment name; *first from the name */
int bl_parse_name(const char *name, uint64_t *first);
int bl_open_at(const cairn_backlog *b, const char *name, int flags);
segment *bl_seg_new(uint64_t first);
void bl_seg_free(segment *s);
void bl_seg_index_add(segment *s, uint64_t off, uint64_t pos);
int bl_seg_index_due(const segment *s, uint64_t pos);
void bl_seg_note_record(segment *s, uint64_t off, uint32_t len, uint64_t pos, int64_t ms);
int bl_segs_push(cairn_backlog *b, segment *s);
long bl_segs_find(const cairn_backlog *b, uint64_t off);
int bl_scan_segment(segment *s, int fd, uint64_t file_size, int verify, const char **why);
/* After a verifying scan of s stopped at file position s->size (a bad or
 * torn record), looks for a complete record with a valid header and checksum
 * further on whose offset could follow s->end. Found (1): the damage is
 * corruption; at_pos and at_off say where the valid records resume and
 * valid_end the last offset of the valid run from there. 0: nothing valid
 * follows (a torn tail). -1: I/O error. */
int bl_find_valid_after(const segment *s, int fd, uint64_t file_size, uint64_t *at_pos, uint64_t *at_off,
                        uint64_t *valid_end);
int bl_create_seg_file(cairn_backlog *b, const char *name, uint64_t first, int64_t *ctime_ms);
int bl_write_seg_header(int fd, const segment *s, uint8_t state);
int bl_roll(cairn_backlog *b);
/* The spare segment file's name (a .tmp: removed by a writer's open). */
#define SPARE_NAME "spare-segment.tmp"
/* A segment without preallocation is rolled into a ready spare from this size. */
#define PREALLOC_EARLY_ROLL (1u << 20)
/* The spare is written only while the filesystem has 2 segments and this
 * much more free. */
#define SPARE_FREE_FLOOR (16u << 20)
/* Writes the spare (compression thread): 0 ready (or not wanted any more),
 * -1 error (ENOSPC: not enough room left, see SPARE_FREE_FLOOR). */
int bl_make_spare(cairn_backlog *b);
/* Whether bytes [from, to) of fd are all zero: 1 yes, 0 no, -1 I/O error. */
int bl_all_zero(int fd, uint64_t from, uint64_t to);
int bl_load_raw(cairn_backlog *b, segment *s, int newest, uint64_t next_first, char *err, size_t errlen,
                size_t *used);
void bl_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void bl_note(char *err, size_t errlen, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void bl_log(cairn_backlog *b, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- backlog_zseg.c -------------------------------------------------------- */
typedef struct zframe {
  uint64_t raw_first, comp_pos;
  uint32_t raw_len, comp_len, crc;
  int64_t ms; /* newest record time of the frame's bytes (an upper bound), 0 unknown */
} zframe;

typedef struct zseg_writer zseg_writer;
/* Creates <name>.tmp in b's directory for a compressed segment starting at
 * `first`. level: zstd level; longdist: long-distance matching. */
zseg_writer *bl_zw_open(cairn_backlog *b, const char *name, uint64_t first, int level, int longdist,
                        int64_t ctime_ms, int64_t first_ms);
/* ms: when these bytes were written (0: unknown); each frame keeps the
 * newest time of the bytes it holds, unknown if any of them is. */
int bl_zw_write(zseg_writer *w, const void *p, size_t n, int64_t ms);
/* Writes index, trailer and header (state) and fsyncs <name>.tmp. Returns
 * the file size, or -1. */
int64_t bl_zw_finish(zseg_writer *w, uint8_t state, int64_t sealed_ms);
/* Renames <name>.tmp to <name>, fsyncs the directory and frees w (0), or -1. */
int bl_zw_install(zseg_writer *w);
uint64_t bl_zw_last(const zseg_writer *w);
/* Frees w, removing <name>.tmp. */
void bl_zw_abort(zseg_writer *w);

/* Reads header, trailer and frame index of a compressed segment open as fd.
 * Returns NULL (why set) if anything does not check out. */
const char *bl_zseg_load_index(int fd, seg_hdr *h, zframe **frames, size_t *n);
/* Reads and decompresses frame f into out (capacity >= f->raw_len). Returns
 * NULL or a reason (checksum mismatch, decompression error). */
const char *bl_zseg_read_frame(int fd, const zframe *f, void *dctx, uint8_t **cbuf, size_t *cbuf_cap,
                               uint8_t *out);
/* Compresses one sealed raw segment (background thread). 0 ok, 1 skipped, -1 error. */
int bl_compress_one(cairn_backlog *b);
void *bl_compress_main(void *arg);
/* Copies stream [first, last] of b into w; adopt: frames adopted for that
 * range go in as they are (the compression thread), not compressed again. */
int bl_copy_stream(cairn_backlog *b, zseg_writer *w, uint64_t first, uint64_t last, int adopt,
                   void (*progress)(void *ud, uint64_t n), void *ud);
/* Frees every adopted frame (close, reset). */
void bl_adopt_clear(cairn_backlog *b);
const char *bl_state_name(uint8_t st);

/* ---- backlog_manifest.c ---------------------------------------------------- */
void bl_manifest_free(manifest *m);
/* 0 ok, 1 absent, -1 unreadable or corrupt (why) */
int bl_manifest_read(cairn_backlog *b, manifest *m, const char **why);
/* Writes the in-memory state as a new manifest (caller holds mf_mu and the
 * lock). Then removes segment files the manifest no longer names. */
int bl_manifest_write(cairn_backlog *b);
int bl_lock_try(cairn_backlog *b, int *fd);
void bl_unlock(int fd);
/* Re-reads the manifest if another process replaced it and adopts its view
 * of the sealed segments. Caller holds mf_mu (not mu). */
int bl_refresh(cairn_backlog *b);
/* Writes the manifest now if dirty (takes mf_mu and the lock; returns 1 if
 * the lock was busy). */
int bl_manifest_flush(cairn_backlog *b, int force);
void bl_gc_files(cairn_backlog *b);

#endif
