/* Pub/sub (engine/cmd/pubsub.c). Threads: loop thread only. */
#ifndef CAIRN_PUBSUB_H
#define CAIRN_PUBSUB_H

#include "engine/command.h"

typedef struct cairn_pubsub cairn_pubsub; /* engine/cmd/pubsub.c: srv->pubsub */

/* Pub/sub (engine/cmd/pubsub.c). */
void cairn_pubsub_client_reset(cairn_client *c); /* unsubscribe from everything, no replies */
void cairn_pubsub_client_counts(const cairn_client *c, long *channels, long *patterns);
void cairn_pubsub_counts(cairn_server *srv, long *channels, long *patterns); /* server-wide, for INFO */
/* Messages published while held are delivered at cairn_pubsub_release(1) or
 * dropped at cairn_pubsub_release(0): what a command that may be retried
 * (EXEC, a transaction of the master's stream) publishes waits until it
 * succeeded. Nests. */
void cairn_pubsub_hold(cairn_server *srv);
void cairn_pubsub_release(cairn_server *srv, int deliver);
/* Frees the server's pub/sub state (shutdown, after every client closed). */
void cairn_pubsub_free(cairn_server *srv);

#endif
