/* MULTI/EXEC and WATCH (engine/cmd/multi.c). Threads: loop thread only. */
#ifndef CAIRN_MULTI_H
#define CAIRN_MULTI_H

#include <stddef.h>
#include <stdint.h>

#include "engine/command.h"

typedef struct cairn_watch cairn_watch; /* engine/cmd/multi.c: srv->watch */

/* Transactions (engine/cmd/multi.c). cairn_execute queues the commands of a
 * client in MULTI; EXEC runs each through cairn_execute_queued, which gathers
 * their propagation into the EXEC's (one MULTI/EXEC unit in the stream) and
 * hands a store error to the EXEC so that the whole transaction is retried. */
void cairn_multi_queue(cairn_client *c, const cairn_command *cmd, int argc, const cairn_str *argv);
/* Flags of the queued commands OR-ed (any) and AND-ed (all); 0/~0 if none. */
void cairn_multi_queued_flags(const cairn_client *c, uint32_t *any, uint32_t *all);
int cairn_multi_count(const cairn_client *c);     /* queued commands, -1 outside MULTI */
size_t cairn_multi_memory(const cairn_client *c); /* bytes held by the queue */
/* Leaves MULTI and drops every WATCH (disconnect, RESET, EXEC, DISCARD). */
void cairn_multi_client_reset(cairn_client *c);
/* Every watching client fails its next EXEC (a full sync replaced the data). */
void cairn_watch_touch_all(cairn_server *srv);
void cairn_execute_queued(cairn_ctx *exec, const cairn_command *cmd, int argc, cairn_str *argv);
/* The same for a command a Lua script calls (engine/script.c): its reply in
 * RESP `resp` goes to out, it runs on db; returns the db it left selected. */
int cairn_execute_script_call(cairn_ctx *script, const cairn_command *cmd, int argc, cairn_str *argv,
                              cairn_buf *out, int resp, int db);
/* Frees the server's WATCH table (shutdown, after every client closed). */
void cairn_watch_free(cairn_server *srv);

#endif
