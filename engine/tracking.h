/* Client-side caching (Redis 7.0's server-assisted tracking, src/tracking.c):
 * CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO and the invalidation
 * messages (RESP3 `invalidate` pushes, or `message __redis__:invalidate` to
 * a RESP2 client subscribed there through REDIRECT).
 *
 * Default mode: the keys a tracking client reads (read-only commands, keys
 * from the command's key specs) are remembered in a table key -> client ids
 * (key names only, every db together, like Redis); a change of the key sends
 * one invalidation to each and forgets the entry. BCAST mode: every change of
 * a key under one of the client's prefixes is collected and sent at the end
 * of the loop iteration, one array per prefix. FLUSHDB/FLUSHALL send a null
 * invalidation to every tracking client and empty the table.
 *
 * Changes come from the store's touch hook (engine/store.h), shared with
 * WATCH through cairn_touch_hooks_update; the hook is installed only while a
 * client tracks or watches. Messages for the client running the command wait
 * until its reply is written (after the command, like Redis's
 * tracking_pending_keys).
 *
 * Threads: loop thread only. */
#ifndef CAIRN_TRACKING_H
#define CAIRN_TRACKING_H

#include "engine/command.h"

typedef struct cairn_server cairn_server;
typedef struct cairn_client cairn_client;

/* Commands (engine/cmd/server.c's CLIENT table). */
void cairn_cmd_client_tracking(cairn_ctx *c);
void cairn_cmd_client_caching(cairn_ctx *c);
void cairn_cmd_client_getredir(cairn_ctx *c);
void cairn_cmd_client_trackinginfo(cairn_ctx *c);

/* engine/execute.c: after a command of a client ran (top level or queued in
 * EXEC): remembers the keys it read. */
void cairn_tracking_after_call(cairn_ctx *c);
/* A script command (EVAL, FCALL...) whose script ran a read-only command:
 * remembers the keys it declared. */
void cairn_tracking_script_read(cairn_ctx *c);
/* engine/execute.c: after a top-level command: sends the invalidations for
 * the client that ran it, resets its CLIENT CACHING choice. */
void cairn_tracking_after_command(cairn_server *srv, cairn_client *client, const cairn_command *cmd);
/* FLUSHDB / FLUSHALL. */
void cairn_tracking_flush(cairn_ctx *c);
/* engine/loop.c, at the end of each iteration: BCAST messages, and the
 * tracking-table-max-keys limit. */
void cairn_tracking_iteration_end(cairn_server *srv);
/* RESET: tracking off. */
void cairn_tracking_client_reset(cairn_client *c);
/* A client is closing. */
void cairn_tracking_client_closed(cairn_client *c);
/* Installs the store's touch hook when WATCH (srv->touch_watch) or tracking
 * needs it, removes it otherwise. */
void cairn_touch_hooks_update(cairn_server *srv);

/* INFO and CLIENT LIST. */
int cairn_tracking_clients(const cairn_server *srv);
unsigned long long cairn_tracking_total_keys(const cairn_server *srv);
unsigned long long cairn_tracking_total_items(const cairn_server *srv);
unsigned long long cairn_tracking_total_prefixes(const cairn_server *srv);
/* The CLIENT LIST flags of c ("t", "B", "R"), appended at flags[*n]. */
void cairn_tracking_flags(const cairn_client *c, char *flags, int *n);
/* CLIENT LIST redir=: -1 when not tracking. */
long long cairn_tracking_redir(const cairn_client *c);
void cairn_tracking_free(cairn_server *srv);

#endif
