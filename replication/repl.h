/* Replication, master side (replication/master.c).
 *
 * A replica attaches with PSYNC (or the old SYNC). A partial resync is served
 * from the on-disk backlog whatever the outage length, as long as the offset is
 * retained. A full sync opens an LMDB read snapshot of the last checkpoint
 * (forced at that moment, so its offset is the +FULLRESYNC offset), writes it
 * as an RDB to a spool file on a thread while the loop keeps serving, sends it
 * `$<len>` framed, and then feeds the replica from the backlog from the
 * snapshot's offset on. Replicas only ever receive stream bytes that are
 * durable (synced) on the master, and nothing per replica grows with write
 * traffic: a replica's position is a backlog cursor.
 *
 * The engine reaches this module only through the hooks in cairn_server that
 * cairn_repl_init installs, and the commands it registers (SYNC, PSYNC,
 * REPLCONF, ROLE). */
#ifndef CAIRN_REPL_H
#define CAIRN_REPL_H

#include <stddef.h>

#include "engine/server.h"
#include "replication/backlog/backlog.h"

/* Loads (or creates) the replication id from the store, registers the
 * commands and installs the hooks. backlog is the one behind srv->wal: its
 * manifest keeps the replid history for operators. 0, or -1 with err. */
int cairn_repl_init(cairn_server *srv, cairn_backlog *backlog, char *err, size_t errlen);
/* Frees what is left (call after the loop ended and clients are closed). */
void cairn_repl_free(cairn_server *srv);

#endif
