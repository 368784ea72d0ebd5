/* The keyspace in LMDB.
 *
 * One LMDB environment, named databases:
 *   keys     [phys db u16 BE][hash64(key) BE][key]  ->  [type][flags][expire?][payload]
 *   expires  [expire ms u64 BE][phys db u16 BE][encoded key]  ->  (empty)
 *   meta     name -> value  (checkpoint offset, db mapping, counts, replication ids)
 * Key lookup, type check and expiry check are one B-tree read. Keys are ordered
 * by hash inside a db, which makes SCAN cursors plain 64-bit numbers that
 * survive restarts and RANDOMKEY a uniform O(log n) seek. Keys longer than
 * CAIRN_STORE_INLINE_KEY bytes are stored under [prefix][second hash] with the
 * whole key kept in the value (see docs/STORAGE.md).
 *
 * Logical databases (SELECT n) map to physical ids, so SWAPDB swaps two entries
 * and FLUSHDB/FLUSHALL give the db a fresh id and sweep the old one in the
 * background (cairn_store_sweep), in bounded steps, never stalling the loop.
 *
 * The write overlay (docs/STORAGE.md): every write lands in memory, in the
 * active layer of a sorted overlay above a read snapshot of LMDB; every read
 * sees the overlay merged with LMDB (read-your-writes, tombstones hide
 * deleted entries). cairn_store_checkpoint freezes the active layer with the
 * replication offset it ends at and hands it to the store thread, which owns
 * LMDB's write transaction: it writes the layer in key order and commits it
 * (synced) in the background; cairn_store_poll, on the loop thread, then
 * moves the loop's snapshot to that commit and frees the layer. The loop
 * never waits for LMDB. cairn_store_rollback drops the active layer,
 * returning to the newest frozen state. Durability between checkpoints comes
 * from the backlog (see DURABILITY.md).
 *
 * Pointers handed out (cairn_value.data, iterator keys) point into the
 * overlay or into the snapshot's pages; both stay valid until the next
 * cairn_store_poll/wait/rollback (later writes never overwrite in place). */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/resp.h"

#define CAIRN_STORE_INLINE_KEY 448

enum cairn_type {
  CAIRN_TYPE_STRING = 0, /* numbering follows Redis's OBJ_* */
  CAIRN_TYPE_LIST = 1,
  CAIRN_TYPE_SET = 2,
  CAIRN_TYPE_ZSET = 3,
  CAIRN_TYPE_HASH = 4,
  CAIRN_TYPE_STREAM = 6,
};

/* Store errors. Any write error other than NOTFOUND leaves the open
 * transaction unusable: the caller must cairn_store_rollback (and replay). */
enum {
  CAIRN_STORE_OK = 0,
  CAIRN_STORE_MAP_FULL = -2,   /* the map needs to grow (cairn_store_grow) */
  CAIRN_STORE_TXN_FULL = -3,   /* too many dirty pages: checkpoint sooner */
  CAIRN_STORE_IO = -4,         /* disk error (errno-style detail in cairn_store_errstr) */
};

typedef struct cairn_store cairn_store;

typedef struct cairn_value {
  uint8_t type;
  int64_t expire_ms;    /* absolute unix ms, or -1 */
  const char *data;     /* payload (string value; collection header later) */
  size_t len;
} cairn_value;

typedef struct cairn_store_options {
  int databases;        /* logical dbs, 1..256 */
  uint64_t map_size;    /* initial map size */
  uint64_t max_map_size;
  /* MDB_WRITEMAP: a transaction's dirty pages live in the file's page cache,
   * not in our heap, so a long write transaction costs no process memory.
   * The data file is then reserved on disk (fallocate) up to the map size:
   * a full disk is an error when the map grows, never a SIGBUS. */
  int writemap;
  /* The store thread gathers this many bytes of frozen layers before one
   * LMDB transaction (0: drains each layer at once), unless the overlay
   * holds urgent_bytes (0: no such limit). Changed later by
   * cairn_store_set_merge. Merges gather only once a drain took at least
   * gather_after_us (0: always). */
  uint64_t merge_bytes, urgent_bytes;
  int64_t gather_after_us;
  /* Tests only: called on the store thread before each merge; a nonzero
   * return (an MDB_* or errno code) fails the merge as a commit error
   * would. NULL in the server. */
  int (*drain_hook)(void *ud);
  void *drain_hook_ud;
  int reader_threads; /* threads that look keys up ahead (see "readers" below); 0: none */
} cairn_store_options;

int cairn_store_open(const char *dir, const cairn_store_options *opt, cairn_store **out, char *err,
                     size_t errlen);
void cairn_store_close(cairn_store *s);   /* aborts an open transaction: checkpoint first */

/* Last error text for logs ("mdb_put: MDB_MAP_FULL ..."). */
const char *cairn_store_errstr(const cairn_store *s);

/* --- keys ---------------------------------------------------------------- */
/* 1 found (out filled), 0 absent, <0 error. Does NOT apply expiry. */
int cairn_store_get(cairn_store *s, int db, cairn_str key, cairn_value *out);
/* Creates or replaces key with a value of the given type. expire_ms = -1 for
 * none. Returns 1 if the key was created, 0 if replaced, <0 error. */
int cairn_store_put(cairn_store *s, int db, cairn_str key, uint8_t type, const void *data, size_t len,
                    int64_t expire_ms);
/* Like put but returns a writable area of len bytes for the payload, valid
 * until the next store call. */
int cairn_store_put_reserve(cairn_store *s, int db, cairn_str key, uint8_t type, size_t len,
                            int64_t expire_ms, char **payload);
/* 1 deleted, 0 absent, <0 error. */
int cairn_store_del(cairn_store *s, int db, cairn_str key);
/* Sets (expire_ms >= 0) or removes (-1) the expiry of an existing key.
 * 1 done, 0 absent, <0 error. */
int cairn_store_set_expire(cairn_store *s, int db, cairn_str key, int64_t expire_ms);

/* Number of keys in a logical db (expired-but-not-yet-deleted included). */
uint64_t cairn_store_dbsize(cairn_store *s, int db);
/* Keys with an expiry in db. */
uint64_t cairn_store_expires_count(cairn_store *s, int db);
int cairn_store_databases(const cairn_store *s);

/* FLUSHDB: the db becomes empty at once; its old contents are swept later. */
int cairn_store_flushdb(cairn_store *s, int db);
int cairn_store_swapdb(cairn_store *s, int a, int b);
/* Deletes up to `budget` entries of flushed dbs. Returns entries deleted
 * (0 when nothing is pending), <0 error. */
long cairn_store_sweep(cairn_store *s, long budget);
int cairn_store_sweep_pending(const cairn_store *s);

/* --- loading a full sync ------------------------------------------------------
 * The replica loads the master's RDB into fresh (invisible) physical dbs while
 * the old data keeps answering; finish(commit=1) swaps them in at once and
 * queues the old ones for the sweeper; finish(0) throws the load away. A
 * crash during the load leaves the old data (the half load is swept at open). */
int cairn_store_load_begin(cairn_store *s);
int cairn_store_load_put(cairn_store *s, int db, cairn_str key, uint8_t type, const void *data, size_t len,
                         int64_t expire_ms);
int cairn_store_load_finish(cairn_store *s, int commit);
int cairn_store_loading(const cairn_store *s);

/* --- iteration (SCAN, KEYS, RANDOMKEY) -------------------------------------- */
typedef struct cairn_store_iter cairn_store_iter;
/* Iterates db in hash order starting at the first key whose hash >= from. */
int cairn_store_iter_open(cairn_store *s, int db, uint64_t from, cairn_store_iter **out);
/* 1 and fills key/val/hash, 0 at the end, <0 error. Pointers valid until the
 * next iter_next or any write. */
int cairn_store_iter_next(cairn_store_iter *it, cairn_str *key, cairn_value *val, uint64_t *hash);
void cairn_store_iter_close(cairn_store_iter *it);

/* --- expiry index ------------------------------------------------------------ */
/* Finds the earliest key (any db) whose expiry <= now. 1 found (db, key copied
 * into keybuf which grows), 0 none, <0 error. */
int cairn_store_next_expired(cairn_store *s, int64_t now_ms, int *db, cairn_buf *keybuf);

/* --- meta and transactions ---------------------------------------------------- */
/* Replication offset of the newest checkpointed state, frozen or on disk
 * (0 for a new store). */
uint64_t cairn_store_checkpoint_offset(const cairn_store *s);
/* Small named values stored in the same transaction as the data. */
int cairn_store_meta_get(cairn_store *s, const char *name, cairn_buf *out); /* 1/0/<0 */
int cairn_store_meta_put(cairn_store *s, const char *name, const void *p, size_t len);

/* Bytes held by the active layer (0 = nothing to checkpoint), and its entries. */
uint64_t cairn_store_dirty(const cairn_store *s);
uint64_t cairn_store_dirty_entries(const cairn_store *s);
/* The active layer is as big as one LMDB transaction may safely be: freeze it. */
int cairn_store_layer_full(const cairn_store *s);
/* Freezes the active layer as the state at `offset` and queues it for the
 * store thread; returns at once. CAIRN_STORE_TXN_FULL when too many layers
 * wait already (the drain is stuck): the active layer just goes on. */
int cairn_store_checkpoint(cairn_store *s, uint64_t offset);
/* Drops the active layer: back to the newest frozen state, whose offset
 * cairn_store_checkpoint_offset then gives (replay from there). */
void cairn_store_rollback(cairn_store *s);
/* The offset of the newest state LMDB holds on disk (what a crash returns
 * to; the backlog must keep everything after it). */
uint64_t cairn_store_durable_offset(const cairn_store *s);

/* The store thread. notify is called from it after each drain (success or
 * error): the server wakes its loop (uv_async_send) and calls
 * cairn_store_poll there, between commands. poll releases drained layers
 * (returns how many), grows the map when the drain ran out of room, and
 * returns -1 when the drain is stopped by an error (cairn_store_drain_error
 * says which; cairn_store_retry tries again). cairn_store_wait blocks until
 * every frozen layer is on disk (SAVE, shutdown, tests): 0, or -1 on a drain
 * error. */
void cairn_store_set_notify(cairn_store *s, void (*fn)(void *ud), void *ud);
/* The backlog is durable up to offset: the store thread writes a layer into
 * LMDB only once its offset is covered (LMDB is never ahead of the WAL).
 * Until the first call, layers are written at once (tests without a WAL).
 * A waiter (cairn_store_wait) must have synced the WAL past what it waits
 * for, or it waits for the next sync. */
void cairn_store_wal_synced(cairn_store *s, uint64_t offset);
int cairn_store_poll(cairn_store *s);
int cairn_store_wait(cairn_store *s);
int cairn_store_drain_error(const cairn_store *s, char *out, size_t len);
/* 1 when the drain is stopped by something other than the map's ceiling
 * (an I/O error such as ENOSPC on the data file, or a map that could not
 * grow below its ceiling because the disk is full), with the reason in out:
 * the server refuses writes (-MISCONF) until a retry works. At the ceiling
 * (cairn_store_full) only writes that add data are refused (-OOM). */
int cairn_store_blocked(const cairn_store *s, char *out, size_t len);
void cairn_store_retry(cairn_store *s);
/* Memory held by the overlay (active + frozen layers), frozen layers
 * waiting, failed drains, dead-range jumps (seeks that skipped a run of
 * deleted entries at once). */
uint64_t cairn_store_overlay_bytes(const cairn_store *s);
/* A growth of the map is under way (its old map unmapped a slice per
 * cairn_store_poll, the store thread held until the remap): poll each
 * iteration meanwhile. */
int cairn_store_growing(const cairn_store *s);
int cairn_store_frozen_layers(const cairn_store *s);
uint64_t cairn_store_drains_failed(const cairn_store *s);
uint64_t cairn_store_range_jumps(const cairn_store *s);
/* Deleted entries (overlay tombstones) that iterators stepped over: what a
 * scan pays for deletes not yet merged into LMDB. */
uint64_t cairn_store_tombstones_skipped(const cairn_store *s);
uint64_t cairn_store_drained_entries(const cairn_store *s); /* entries of released layers, since open */
/* Merges and run files (engine/store.c "run files"): what the store thread
 * gathers before one LMDB transaction, and the overlay's size at which it
 * no longer waits (CONFIG SET). */
void cairn_store_set_merge(cairn_store *s, uint64_t merge_bytes, uint64_t urgent_bytes, int64_t gather_after_us);
typedef struct cairn_store_runs {
  uint64_t on_disk;            /* run files of frozen layers, on disk now */
  uint64_t written, errors;    /* since open */
  uint64_t last_drain_entries; /* entries of the last merge into LMDB */
  uint64_t unordered;          /* frozen layers whose order is not built yet (overlay.h) */
  char last_error[512];        /* the last run file that could not be written, and why */
} cairn_store_runs;
void cairn_store_run_stats(cairn_store *s, cairn_store_runs *out);
/* What open did with the run files it found ("" when there were none): for the log. */
const char *cairn_store_open_report(const cairn_store *s);
/* The map cannot grow any more and a drain needed it to: writes that grow
 * the data set must be refused. */
int cairn_store_full(const cairn_store *s);
/* Doubles the map, up to 7/8 of max_map_size, or up to the whole of it
 * (cairn_store_grow_reserve). Waits for a drain in flight. 0 ok, -1 at the
 * ceiling. */
int cairn_store_grow(cairn_store *s);
int cairn_store_grow_reserve(cairn_store *s);
/* Grows the map ahead of a known bulk write (a full sync of `bytes` of RDB)
 * so it does not run out in the middle. No transaction may be open. */
int cairn_store_make_room(cairn_store *s, uint64_t bytes);
uint64_t cairn_store_map_size(const cairn_store *s);
/* CONFIG SET lmdb-map-size / lmdb-max-map-size: the ceiling moves (never
 * below the map's current size: the map does not shrink) and the map grows
 * to map_size now if that is bigger (up to the ceiling; the data file is
 * reserved on disk with lmdb-writemap yes). A drain stopped by a full map
 * tries again. Between commands. 0, or -1 with cairn_store_errstr (the
 * ceiling has moved all the same). */
int cairn_store_set_map_limits(cairn_store *s, uint64_t map_size, uint64_t max_map_size);
uint64_t cairn_store_map_grows(const cairn_store *s); /* since open */
int64_t cairn_store_last_grow_us(const cairn_store *s); /* the last growth's remap, in µs */
/* Bytes of the data file actually used (last page number * page size: a
 * high-water mark), and the part of it holding data (minus LMDB's free
 * pages, as of the last drain). */
uint64_t cairn_store_used_bytes(cairn_store *s);
uint64_t cairn_store_live_bytes(cairn_store *s);
/* Number of checkpoints committed since start, and the time the last took. */
uint64_t cairn_store_checkpoints(const cairn_store *s);
int64_t cairn_store_last_checkpoint_ms(const cairn_store *s);

/* --- snapshots (full sync) -------------------------------------------------
 * A read transaction on the last checkpoint: a consistent image of every db
 * as of cairn_store_snapshot_offset(), readable from another thread while
 * the loop keeps writing (the env is MDB_NOTLS). Open it on the loop thread;
 * then one thread at a time may use it. While it is open LMDB cannot reuse
 * the pages it sees, so the file may grow: close it promptly. */
typedef struct cairn_store_snapshot cairn_store_snapshot;
int cairn_store_snapshot_open(cairn_store *s, cairn_store_snapshot **out);
uint64_t cairn_store_snapshot_offset(const cairn_store_snapshot *snap);
int cairn_store_snapshot_stream_db(const cairn_store_snapshot *snap); /* -1 if none selected yet */
int cairn_store_snapshot_databases(const cairn_store_snapshot *snap);
uint64_t cairn_store_snapshot_dbsize(const cairn_store_snapshot *snap, int db);
uint64_t cairn_store_snapshot_expires(const cairn_store_snapshot *snap, int db);
/* Calls fn for every key of db (hash order); fn returns non-zero to stop,
 * which is returned. Pointers are valid during the call. <0 store error. */
typedef int (*cairn_store_snapshot_fn)(void *ud, cairn_str key, const cairn_value *val);
int cairn_store_snapshot_scan(cairn_store_snapshot *snap, int db, cairn_store_snapshot_fn fn, void *ud);
void cairn_store_snapshot_close(cairn_store_snapshot *snap);

/* --- collections ------------------------------------------------------------
 * A hash, list, set or sorted set is a key whose payload is a small header
 * (cairn_coll, CAIRN_COLL_HEADER bytes) naming a collection id; each field,
 * member or element is its own entry of the `elems` dbi:
 *     [collection id u64 BE][space u8][sub-key]  ->  value
 * so writing one member writes a page or two, never the collection. A space
 * is an ordering of the collection's entries: space 0 holds the members
 * (hash: field -> value; set: member -> ""; zset: member -> score; list:
 * position u64 BE -> element), space 1 a second ordering (zset:
 * [score, sortable u64 BE][member] -> ""). Sub-keys longer than
 * CAIRN_ELEM_INLINE are stored under a prefix + hash with the whole sub-key in
 * the value (the API hides it; ordering among such long sub-keys that share
 * their first CAIRN_ELEM_INLINE bytes is by hash, see docs/STORAGE.md).
 *
 * Ids are never reused. Deleting or replacing a collection key (DEL, SET over
 * it, expiry, FLUSHDB's sweep, RESTORE REPLACE...) retires its id: small
 * collections are removed at once, big ones are queued and removed in bounded
 * steps by cairn_store_sweep, so DEL of a 10M-member set costs O(1) in the
 * loop. Spaces flagged CAIRN_SPACE_HASHED keep their entries in the order of
 * a 64-bit hash of the sub-key ([hash64 BE][sub-key] on disk, hidden by this
 * API except for iteration positions): hash, set and sorted-set members use
 * it, so *SCAN cursors are plain 64-bit numbers (the next hash to visit) that
 * survive any change, and a random member is a seek to a random hash. The
 * header changes (count, list head) are written with
 * cairn_coll_put: every command that modifies a collection ends with it (that
 * is also what WATCH sees). A count of 0 deletes the key (Redis never keeps
 * empty collections). */
#define CAIRN_COLL_HEADER 24
#define CAIRN_ELEM_INLINE 480
#define CAIRN_LIST_START (UINT64_C(1) << 63) /* head position of a new list */
#define CAIRN_SPACE_HASHED 0x80
/* The spaces of each type. */
#define CAIRN_SPACE_MEMBERS (0 | CAIRN_SPACE_HASHED) /* hash fields, set members, zset member -> score */
#define CAIRN_SPACE_LIST 0                           /* list position -> element */
#define CAIRN_SPACE_ZSCORE 1                         /* zset [sortable score][member] -> "" */

typedef struct cairn_coll {
  uint64_t id;
  uint64_t count; /* members (a zset member counts once) */
  uint64_t head;  /* lists: position of the first element; 0 otherwise */
} cairn_coll;

static inline int cairn_type_is_coll(uint8_t t) {
  return t == CAIRN_TYPE_LIST || t == CAIRN_TYPE_SET || t == CAIRN_TYPE_ZSET || t == CAIRN_TYPE_HASH ||
         t == CAIRN_TYPE_STREAM; /* a stream: engine/cmd/xstream.c */
}
/* Reads the header of a collection value: 0, or -1 if v is not one. */
int cairn_coll_decode(const cairn_value *v, cairn_coll *out);
/* A fresh, never used id (count 0; head CAIRN_LIST_START). */
void cairn_coll_init(cairn_store *s, cairn_coll *out);
/* Writes the header of key (creating the key if absent, replacing a value of
 * another id, which is retired). count == 0 deletes the key instead. Returns
 * like cairn_store_put (1 created / 0 replaced) or cairn_store_del. */
int cairn_coll_put(cairn_store *s, int db, cairn_str key, uint8_t type, const cairn_coll *c, int64_t expire_ms);
/* Full-sync loading: the same into the invisible loading dbs. */
int cairn_store_load_coll(cairn_store *s, int db, cairn_str key, uint8_t type, const cairn_coll *c,
                          int64_t expire_ms);
/* Copies every entry (all spaces) of collection `from` into collection `to`
 * (COPY: O(n)). */
int cairn_coll_copy(cairn_store *s, uint64_t from, uint64_t to);
/* Deletes a key's entry but leaves its collection's entries alone: RENAME
 * and MOVE hand the same header (and id) to another key. 1/0/<0. */
int cairn_store_del_keep(cairn_store *s, int db, cairn_str key);
/* Collections retired and still being removed by the sweeper. */
uint64_t cairn_store_coll_garbage(const cairn_store *s);

/* Entries. val pointers are valid until the next write. 1 found / 0 absent. */
int cairn_elem_get(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, cairn_str *val);
/* 1 created, 0 replaced, <0 error. */
int cairn_elem_put(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, const void *val,
                   size_t vallen);
/* cairn_elem_put of a sub-key the caller knows has no live entry (a
 * stream's ID above every ID it holds): only the active layer is probed (a
 * tombstone there is reused), never the frozen layers or LMDB. 1, or <0. */
int cairn_elem_add(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, const void *val,
                   size_t vallen);
/* cairn_elem_put for a caller that holds no pointer to the entry's current
 * value (nor lets anyone else keep one): when that value is in the active
 * layer and has the same size, it is overwritten in place instead of
 * allocating a new one (a stream's metadata, rewritten by every XADD, then
 * costs the overlay nothing more). 1 created, 0 replaced, <0 error. */
int cairn_elem_set(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen, const void *val,
                   size_t vallen);
/* 1 deleted, 0 absent, <0 error. */
int cairn_elem_del(cairn_store *s, uint64_t id, int space, const void *sub, size_t sublen);

/* Ordered iteration over one space. Forward: from the first sub-key >= from
 * (from NULL: the first). Reverse: from the last sub-key <= from, bytewise
 * with a proper prefix sorting first (from NULL: the last). In a hashed
 * space, from is a position instead: the 8-byte big-endian hash to start at
 * (entries whose hash >= it, forward), and cairn_elem_iter_pos gives the
 * hash of the entry last returned. Writes through
 * cairn_elem_put/del on the same collection while iterating are allowed; to
 * delete what you are standing on use cairn_elem_iter_del. */
typedef struct cairn_elem_iter cairn_elem_iter;
int cairn_elem_iter_open(cairn_store *s, uint64_t id, int space, const void *from, size_t fromlen, int reverse,
                         cairn_elem_iter **out);
/* 1 (sub/val filled, valid until the next iter call or write), 0 at the end. */
int cairn_elem_iter_next(cairn_elem_iter *it, cairn_str *sub, cairn_str *val);
/* Deletes the entry last returned by next; the next call goes on after it. */
int cairn_elem_iter_del(cairn_elem_iter *it);
void cairn_elem_iter_close(cairn_elem_iter *it);
uint64_t cairn_elem_iter_pos(const cairn_elem_iter *it);
/* The hash that orders a hashed space (fixed forever: it is the disk order). */
uint64_t cairn_elem_hash(const void *sub, size_t len);

/* Full sync: the entries of one collection in a snapshot, in order. fn
 * returns non-zero to stop (returned). */
typedef int (*cairn_store_elem_fn)(void *ud, cairn_str sub, cairn_str val);
int cairn_store_snapshot_elems(cairn_store_snapshot *snap, uint64_t id, int space, cairn_store_elem_fn fn,
                               void *ud);
/* The same from the first sub-key >= from (a space that is not hashed). */
int cairn_store_snapshot_elems_from(cairn_store_snapshot *snap, uint64_t id, int space, const void *from,
                                    size_t fromlen, cairn_store_elem_fn fn, void *ud);

/* --- change notification (WATCH) ----------------------------------------------
 * Called for every change through the public write functions above: a key
 * (put, del, expiry change, collection header), or a whole db before FLUSHDB
 * empties it or SWAPDB swaps it (key.p == NULL). Loading a full sync does not
 * call it (the server touches everything when the load is swapped in). */
typedef void (*cairn_store_touch_fn)(void *ud, int db, cairn_str key);
void cairn_store_set_touch(cairn_store *s, cairn_store_touch_fn fn, void *ud);
/* Signals a key as modified without writing it (Redis's signalModifiedKey
 * for commands that count as writes even when they change nothing). */
void cairn_store_touch(cairn_store *s, int db, cairn_str key);

/* --- readers: lookups on other threads ----------------------------------
 * When the data set is bigger than RAM, a lookup whose LMDB page is not in
 * the page cache is a disk read, and a thread that needs many of them one
 * after the other waits for each. The store's reader threads (their number
 * is cairn_store_options.reader_threads) look keys up ahead, many at once,
 * each in its own read transaction, so their pages are cached when the loop
 * (engine/prefetch.c) or the store thread's merge (drain readahead, on when
 * the last merge waited for the disk) reads them. A hint only: nothing they
 * read is used as data. The map is never remapped under them. */
#define CAIRN_STORE_READJOB_KEYS 512
#define CAIRN_STORE_HEAD 40 /* [0 absent, 1 found, 2 error][bytes copied][value header + collection header] */
typedef struct cairn_store_readjob {
  struct cairn_store_readjob *next; /* the queue's link; the owner's again once done is called */
  int n, found;
  uint16_t lens[CAIRN_STORE_READJOB_KEYS];
  uint8_t dbis[CAIRN_STORE_READJOB_KEYS];
  cairn_buf keys;                   /* encoded keys, back to back */
  /* When set, the job wants answers, not a warm cache: for key i the reader
   * writes heads[i * CAIRN_STORE_HEAD]: 0 absent, 1 found (then the number
   * of bytes copied and the value's first bytes), 2 error; and sets looked
   * once it did. A job handed back unlooked (readers stopping) has looked 0. */
  unsigned char *heads;
  int looked;
  /* called on the reader thread once every key was looked up */
  void (*done)(struct cairn_store_readjob *j);
  void *ud;
} cairn_store_readjob;
/* Adds key of logical db to j (loop thread); 0, or -1 when j is full. */
int cairn_store_readjob_add(cairn_store *s, cairn_store_readjob *j, int db, cairn_str key);
/* Queues j for the reader threads (any thread); 0, or -1 when there are
 * none (j untouched). */
int cairn_store_read_submit(cairn_store *s, cairn_store_readjob *j);
/* Takes back the jobs whose done is fn: queued ones come back through done
 * (found 0) at once, and it waits for those in progress. Not on a reader. */
void cairn_store_read_cancel(cairn_store *s, void (*fn)(cairn_store_readjob *j));
/* Major page faults the reader threads took, and how many threads there are. */
uint64_t cairn_store_reader_faults(cairn_store *s);
int cairn_store_reader_threads(const cairn_store *s);
/* Drain readahead: 0 when the last merge waited for the disk, 1 always, 2
 * never (the values of CAIRN_PREFETCH_AUTO/YES/NO). */
void cairn_store_set_readahead(cairn_store *s, int mode);
/* Keys the store thread's merges read ahead (drain readahead), and whether
 * the next merge reads ahead. */
uint64_t cairn_store_readahead_keys(cairn_store *s, int *on);

/* --- deferred lookups (store.c, "deferred lookups") ---------------------
 * When the key is in no overlay layer, the db holds at least min_keys keys
 * (-1: never) and there are reader threads, writes the value without
 * looking up what it replaces: the readers do, and the counts, the old
 * TTL's index entry and an old collection are settled afterwards. 1 written
 * so, 0 nothing done (the old value is at hand or the conditions do not
 * hold: the caller writes the usual way), < 0 error. For writes the old
 * value does not matter to (no keyspace event "new" or "expired", no GET,
 * NX, XX or KEEPTTL). */
int cairn_store_put_deferred(cairn_store *s, int db, cairn_str key, uint8_t type, const void *data, size_t len,
                             int64_t expire_ms, int64_t min_keys);
/* Hands the deferred lookups gathered to the readers and applies those
 * done (the loop, at the end of each iteration). */
int cairn_store_defer_poll(cairn_store *s);
/* Waits for every deferred lookup and applies it: the counts are exact
 * after it (called by whatever reads or freezes them). */
int cairn_store_settle(cairn_store *s);
typedef struct cairn_store_deferred {
  uint64_t puts;    /* SETs that deferred their lookup */
  uint64_t pending; /* keys not applied yet (at most) */
  uint64_t waits, wait_us; /* settles that waited for the readers, and how long in all */
  uint64_t on_loop; /* lookups the loop did itself (readers stopping, an error) */
} cairn_store_deferred;
void cairn_store_deferred_stats(const cairn_store *s, cairn_store_deferred *out);

/* Hash used for key order (exposed for SCAN cursors and tests). */
uint64_t cairn_store_key_hash(const void *key, size_t len);
/* Encodes (phys db, key) into out; returns length. Exposed for unit tests. */
size_t cairn_store_encode_key(uint16_t phys, const void *key, size_t len, unsigned char *out);

#endif
