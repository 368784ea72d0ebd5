/* Clients blocked on keys (engine/blocking.c). Threads: loop thread only. */
#ifndef CAIRN_BLOCKING_H
#define CAIRN_BLOCKING_H

#include <stdint.h>

#include "engine/command.h"

typedef struct cairn_blocking cairn_blocking; /* engine/blocking.c: srv->blocking */

/* Blocking commands (BLPOP, BLMOVE, BLMPOP, BZPOPMIN, BZMPOP...), see
 * engine/blocking.c. A handler with nothing to serve calls
 * cairn_block_for_keys and returns without replying: the client waits until
 * a write signals one of the keys ready, then its command runs again with
 * the same argv (blocked clients of a key are served in the order they
 * blocked, right after the command that made the key ready, in the same
 * batch), or until timeout_ms (absolute unix ms, 0 = forever) when it gets a
 * null array. Inside MULTI (c->client->flags & (CAIRN_CLIENT_MULTI |
 * CAIRN_CLIENT_IN_EXEC)) or when replaying, a blocking command must not
 * block: cairn_can_block says so, and the handler then answers as on timeout. Every command that adds elements to a list or a
 * sorted set calls cairn_signal_key_ready (cheap when nobody waits). */
int cairn_can_block(cairn_ctx *c);
void cairn_block_for_keys(cairn_ctx *c, const cairn_str *keys, int nkeys, int64_t timeout_ms);
void cairn_signal_key_ready(cairn_ctx *c, cairn_str key);
/* Core hooks of engine/blocking.c: client.c calls client_closed for a closing
 * client blocked on keys; cairn_execute calls serve after each top-level
 * command. A command run from inside another (EXEC's queued commands) is not
 * top level (cairn_ctx_is_top_level: its argv is not the one cairn_execute
 * was given at depth 1) and never blocks. */
void cairn_blocking_client_closed(cairn_client *c);
/* When c re-runs a blocked command woken by a ready key: 1 and that key
 * (Redis 7.0 serves a multi-key pop from the key that became ready, so try it
 * first), else 0. */
int cairn_blocking_woken_key(const cairn_ctx *c, cairn_str *key);
int cairn_blocking_pending(cairn_server *srv);
/* Whether client c waits on keys after its command ran (blocked by it, or
 * blocked again while being served); 0 while its blocked command is being
 * served (the slow log records the command then, like Redis). */
int cairn_blocking_waits(const cairn_client *c);
/* SWAPDB: every key of db that clients wait on and that exists now (of any
 * type, expired or not: Redis 7.0's scanDatabaseForReadyKeys) is ready. */
void cairn_signal_db_ready(cairn_ctx *c, int db);
/* XREADGROUP, right after cairn_block_for_keys: the client is also woken
 * (its command re-run) when a key it waits on is deleted, overwritten by
 * another type, flushed or swapped away, so it can answer Redis's
 * "-UNBLOCKED the stream key no longer exists". While such a client waits,
 * the store's touch hook (engine/tracking.c) calls cairn_blocking_touched
 * for every key change (db-wide: key.p == NULL). */
void cairn_block_wake_on_delete(cairn_ctx *c);
int cairn_blocking_wants_touch(const cairn_server *srv);
void cairn_blocking_touched(cairn_server *srv, int db, cairn_str key);
/* CLIENT UNBLOCK: ends c's wait, whatever it waits for (keys, WAIT), with
 * its timeout reply (timeout) or, else, the error
 * "-UNBLOCKED client unblocked via CLIENT UNBLOCK". 1, or 0 when c is not
 * blocked (a client postponed by CLIENT PAUSE is not: Redis 7.0.15 crashes
 * on it, 7.2 answers 0). */
int cairn_blocking_unblock(cairn_client *c, int timeout);
/* Frees the server's blocking state (shutdown, after every client closed). */
void cairn_blocking_free(cairn_server *srv);
void cairn_blocking_serve(cairn_server *srv);
int cairn_ctx_is_top_level(const cairn_ctx *c);

#endif
