/* Glue between the RDB codec (rdb.h) and cairn's per-member collections
 * (engine/store.h), shared by DUMP/RESTORE (engine/cmd/dump.c), the master's
 * full sync (master.c) and the replica's load (replica.c).
 *
 * Writing streams the members from an iterator (live store) or a snapshot
 * (full-sync thread): the writer keeps at most one quicklist node in memory,
 * so a collection is never loaded whole. Loading gets the members one by one
 * from the reader's callbacks and writes each as its own entry of a fresh
 * collection id; the caller writes the header (count, head) at the end. */
#ifndef CAIRN_RDB_COLL_H
#define CAIRN_RDB_COLL_H

#include "engine/store.h"
#include "replication/rdb/rdb.h"

cairn_rdb_kind cairn_rdb_kind_of_type(uint8_t type);
/* CAIRN_TYPE_* of a loaded kind (STRING..HASH). */
uint8_t cairn_rdb_type_of_kind(cairn_rdb_kind kind);

/* A collection's value, compact when Redis would keep it compact (hash or
 * zset of <= 128 entries of <= 64 bytes: listpack; set of <= 512 integers:
 * intset), otherwise in the plain encodings; lists as a quicklist. dump_coll
 * starts a DUMP payload (dump_begin .. coll_end, the caller ends it);
 * write_coll_key writes a key record from a snapshot (full sync). Returns
 * 0, -1 on a writer error (cairn_rdb_writer_error), or a store error (< -1). */
int cairn_rdb_dump_coll(cairn_rdb_writer *w, cairn_store *s, uint8_t type, const cairn_coll *coll);
int cairn_rdb_write_coll_key(cairn_rdb_writer *w, cairn_store_snapshot *snap, uint8_t type, const cairn_coll *coll,
                             const void *key, size_t klen, int64_t expire_ms);

/* A whole RDB of a snapshot: begin (aux), the function libraries
 * (functions: [u32 len][code]... as the store's "functions" meta entry
 * holds them; may be NULL), every non-empty db, end. Keys already expired
 * at now_ms are left out (their DEL follows in the stream). Full sync
 * (replication/master.c) and cairn-backlog export-aof. 0, -1 on a writer
 * error (cairn_rdb_writer_error), or a store error (< -1). */
int cairn_rdb_write_snapshot(cairn_rdb_writer *w, cairn_store_snapshot *snap, const cairn_rdb_aux *aux,
                             const void *functions, size_t flen, int64_t now_ms);

/* Redis's encoding thresholds the writer follows (from the configuration:
 * engine/config.c publishes them). Thread-safe. */
typedef struct cairn_rdb_limits {
  long long hash_entries, hash_value, zset_entries, zset_value, intset_entries;
} cairn_rdb_limits;
void cairn_rdb_coll_set_limits(const cairn_rdb_limits *l);

/* Loading one collection. start() takes a fresh id (cairn_coll_init). Each
 * add returns 0, 1 if the member is invalid for Redis's loader (duplicate
 * member or field, NaN score: the payload is corrupt), or a store error < 0.
 * When loading fails half-way, purge() removes what was written. */
typedef struct cairn_coll_loader {
  cairn_store *s;
  uint8_t type;
  cairn_coll coll;
  struct cairn_stream_load *stream; /* a stream's load state (engine/cmd/xstream.h), else NULL */
} cairn_coll_loader;

void cairn_coll_loader_start(cairn_coll_loader *L, cairn_store *s, uint8_t type);
int cairn_coll_loader_elem(cairn_coll_loader *L, const void *v, size_t n);                  /* list, set */
int cairn_coll_loader_field(cairn_coll_loader *L, const void *f, size_t fl, const void *v, size_t vl); /* hash */
int cairn_coll_loader_zmember(cairn_coll_loader *L, const void *m, size_t ml, double score); /* zset */
int cairn_coll_loader_purge(cairn_coll_loader *L);

/* The zset's space-1 ordering key: a double as an unsigned that sorts like
 * the number (-0.0 is taken as 0.0). */
uint64_t cairn_score_sortable(double d);

#endif
