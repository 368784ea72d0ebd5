/* Diagnostics of command latency (engine/cmd/diag.c): the slow log
 * (SLOWLOG, slowlog-log-slower-than / slowlog-max-len) and the latency
 * monitor (LATENCY, latency-monitor-threshold), like Redis 7.0's slowlog.c
 * and latency.c. Threads: loop thread only. */
#ifndef CAIRN_DIAG_H
#define CAIRN_DIAG_H

#include <stdint.h>

#include "engine/command.h"

typedef struct cairn_diag cairn_diag; /* srv->diag, made at the first use */

/* Called by execute.c once per command a client ran (EXEC's queued commands
 * each too), with the handler's duration (the measurement INFO
 * commandstats uses): adds a 'command' or 'fast-command' latency sample
 * when it reaches latency-monitor-threshold, and a slow log entry when it
 * reaches slowlog-log-slower-than. EXEC itself is not logged (its commands
 * are), nor a command that left its client blocked (it is logged when it
 * is served, like Redis). */
void cairn_diag_record_call(cairn_server *srv, cairn_client *client, const cairn_command *cmd, int argc,
                            const cairn_str *argv, uint64_t ns);
/* Redis's latencyAddSampleIfNeeded: a sample of `event` (ms) when the
 * monitor is on and ms >= the threshold. */
void cairn_latency_sample(cairn_server *srv, const char *event, int64_t ms);
/* Frees srv->diag (shutdown). */
void cairn_diag_free(cairn_server *srv);

#endif
