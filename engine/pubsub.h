/* Pub/sub (engine/cmd/pubsub.c). Threads: loop thread only. */
#ifndef CAIRN_PUBSUB_H
#define CAIRN_PUBSUB_H

#include "engine/command.h"

typedef struct cairn_pubsub cairn_pubsub; /* engine/cmd/pubsub.c: srv->pubsub */

/* Pub/sub (engine/cmd/pubsub.c). */
void cairn_pubsub_client_reset(cairn_client *c); /* unsubscribe from everything, no replies */
void cairn_pubsub_client_counts(const cairn_client *c, long *channels, long *patterns, long *shard_channels);
/* Whether fn returns nonzero for one of c's channels or patterns (ACL: a
 * subscription its user may no longer have). */
int cairn_pubsub_client_any(cairn_client *c, int (*fn)(void *ud, const char *name, size_t len, int is_pattern),
                            void *ud);
void cairn_pubsub_counts(cairn_server *srv, long *channels, long *patterns,
                         long *shard_channels); /* server-wide, for INFO */
/* Messages published while held are delivered at cairn_pubsub_release(1) or
 * dropped at cairn_pubsub_release(0): what a command that may be retried
 * (EXEC, a transaction of the master's stream) publishes waits until it
 * succeeded. Nests. */
void cairn_pubsub_hold(cairn_server *srv);
void cairn_pubsub_release(cairn_server *srv, int deliver);
/* Keyspace notifications (Redis 7.0's notifyKeyspaceEvent, src/notify.c):
 * when notify-keyspace-events enables `type` (a CAIRN_NOTIFY_* class bit),
 * publishes `event` on __keyspace@<db>__:<key> (K) and `key` on
 * __keyevent@<db>__:<event> (E). Handlers call cairn_notify after the write
 * (c->db); replaying our own WAL notifies nobody, applying our master's
 * stream does (like a Redis replica). cairn_notify_db is for callers without
 * a command context (the expiry cycle). */
void cairn_notify(cairn_ctx *c, int type, const char *event, cairn_str key);
void cairn_notify_db(cairn_ctx *c, int db, int type, const char *event, cairn_str key);
void cairn_notify_srv(cairn_server *srv, int db, int type, const char *event, cairn_str key);

/* Frees the server's pub/sub state (shutdown, after every client closed). */
void cairn_pubsub_free(cairn_server *srv);

#endif
