/* The RDB form of streams (engine/cmd/xstream.c), for the RDB glue
 * (engine/rdb_coll.c): DUMP, RESTORE, the master's full sync and the
 * replica's load all go through these. */
#ifndef CAIRN_CMD_XSTREAM_H
#define CAIRN_CMD_XSTREAM_H

#include "engine/rdb_coll.h"
#include "engine/store.h"
#include "replication/rdb/rdb.h"

/* Writes the stream of collection coll as an RDB type 19 value, reading
 * from the live store s (DUMP) or from snap (full sync, another thread).
 * key != NULL: a key record (key(), with expire_ms); NULL: a DUMP payload's
 * value (dump_begin()). Entries go out in listpack nodes of at most 100
 * entries; groups, pending entries and consumers follow. Memory: one node.
 * Returns 0, -1 on a writer error, or a store error (< -1). */
int cairn_stream_rdb_write(cairn_rdb_writer *w, cairn_store *s, cairn_store_snapshot *snap, const cairn_coll *coll,
                           const void *key, size_t klen, int64_t expire_ms);

/* Loading a stream into L (started with type CAIRN_TYPE_STREAM): each part
 * from the reader's on_stream, then stream_end before the header is
 * written. Return 0, 1 when the value is corrupt (duplicate ID, pending
 * entry without owner, counts that disagree), or a store error < 0. */
int cairn_coll_loader_stream(cairn_coll_loader *L, const cairn_rdb_stream_item *item);
int cairn_coll_loader_stream_end(cairn_coll_loader *L);
/* Frees the loader's stream state (also done by stream_end and purge). */
void cairn_coll_loader_stream_free(cairn_coll_loader *L);

/* stream-node-max-entries and stream-node-max-bytes, published by
 * engine/config.c with the RDB limits (loop thread). */
void cairn_stream_set_node_limits(long long entries, long long bytes);

#endif
