/* The iteration's replication stream (engine/stream.c): srv->stream holds
 * what the iteration's commands propagated, with the SELECTs it needs, until
 * engine/commit.c appends it to the WAL; srv->stream_offset counts it.
 * Handlers propagate through cairn_propagate (engine/command.h).
 *
 * Threads: loop thread only. */
#ifndef CAIRN_STREAM_H
#define CAIRN_STREAM_H

#include <stddef.h>

typedef struct cairn_server cairn_server;

/* Moves the running command's propagations into the stream, wrapped in
 * MULTI/EXEC when there are several (one unit for replicas and recovery). */
void cairn_stream_flush_command(cairn_server *srv);
/* Appends raw bytes to the stream (PING, REPLCONF GETACK): they count in the
 * offset but carry no data change and need no SELECT. */
void cairn_stream_append_raw(cairn_server *srv, const void *p, size_t n);
/* Frees the stream's buffers (server shutdown). */
void cairn_stream_free(cairn_server *srv);

#endif
