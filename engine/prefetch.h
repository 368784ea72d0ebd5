/* Prefetch: a client's keys are read on other threads before its commands
 * run, when the data set is bigger than RAM.
 *
 * The keyspace lives in LMDB's memory map. When its pages are not in the page
 * cache, a lookup on the loop thread is a major page fault: the loop (every
 * client) waits for one disk read per key, one at a time. With prefetch on,
 * client_process (engine/client.c) first scans the client's complete pipelined
 * commands for their keys (the command table's key positions, SELECT
 * followed), hands them to the store's reader threads (engine/store.h,
 * "readers") that look them up in their own LMDB read transactions (many
 * disk reads in flight at once), and leaves the client aside (CAIRN_CLIENT_PREFETCH; its connection is not read
 * meanwhile, so its next bytes do not count against client-query-buffer-
 * limit) until they are done; other clients go on meanwhile. Then its commands run as usual, against pages now
 * in the cache. Nothing read ahead is used as data: a key changed meanwhile
 * is read again by the command itself, so the order and results of commands
 * are the same with prefetch on or off. Only the order in which clients are
 * served changes, as with any network delay.
 *
 * `prefetch auto` (the default) turns it on while the loop or the reader
 * threads took major page faults in the last 5 seconds, so a data set in
 * RAM pays nothing; `yes` always, `no` never. The same setting drives the
 * store thread's drain readahead (on in auto when its last merge waited for
 * the disk). Keys of collections' members
 * (HGET's field, ZSCORE's member) are not read ahead: only the key's own
 * record and value. INFO stats: prefetch_*. */
#ifndef CAIRN_PREFETCH_H
#define CAIRN_PREFETCH_H

#include <stdint.h>

#include "engine/buf.h"

typedef struct cairn_server cairn_server;
typedef struct cairn_client cairn_client;

/* Starts prefetch over the store's reader threads (prefetch-threads; none:
 * prefetch stays off). 0, or -1 with err. */
int cairn_prefetch_start(cairn_server *srv, char *err, size_t errlen);
/* Takes its jobs back from the readers and frees them (at shutdown). */
void cairn_prefetch_stop(cairn_server *srv);
/* On the loop thread: when prefetch is on and c's next complete commands
 * name keys, queues their lookup, flags c CAIRN_CLIENT_PREFETCH and returns
 * 1 (its commands run once the keys are read); else 0. */
int cairn_prefetch_client(cairn_client *c);
/* c is closing: its job, if any, no longer points to it. */
void cairn_prefetch_client_closed(cairn_client *c);
/* The cron: whether the loop waits for the disk (major page faults), and
 * the store thread's drain readahead mode (the same setting). */
void cairn_prefetch_cron(cairn_server *srv, int64_t now_ms);
/* INFO stats lines. */
void cairn_prefetch_info(cairn_server *srv, cairn_buf *out);

#endif
