/* Pub/sub (engine/cmd/pubsub.c). Threads: loop thread only. */
#ifndef CAIRN_PUBSUB_H
#define CAIRN_PUBSUB_H

#include "engine/command.h"

/* Pub/sub (engine/cmd/pubsub.c). */
void cairn_pubsub_client_reset(cairn_client *c); /* unsubscribe from everything, no replies */
void cairn_pubsub_client_counts(const cairn_client *c, long *channels, long *patterns);
void cairn_pubsub_counts(long *channels, long *patterns); /* server-wide, for INFO */
/* Messages published while held are delivered at cairn_pubsub_release(1) or
 * dropped at cairn_pubsub_release(0): what a command that may be retried
 * (EXEC, a transaction of the master's stream) publishes waits until it
 * succeeded. Nests. */
void cairn_pubsub_hold(void);
void cairn_pubsub_release(int deliver);

#endif
