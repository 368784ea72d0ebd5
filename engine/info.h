/* INFO and CLIENT LIST text (engine/info.c). Field names and section order
 * follow Redis 7.0. Threads: loop thread only. */
#ifndef CAIRN_INFO_H
#define CAIRN_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/command.h"

typedef struct cairn_server cairn_server;

/* INFO text for a section ("default", "all", a section name). */
void cairn_info(cairn_server *srv, const char *section, cairn_buf *out);
/* MEMORY STATS (a map into r) and MEMORY DOCTOR (text into out). */
void cairn_info_memory_stats(cairn_server *srv, cairn_reply *r);
void cairn_info_memory_doctor(cairn_server *srv, cairn_buf *out);
/* used_memory: the bytes malloc holds (the heap: clients' buffers, Lua,
 * the overlay's tables; not the LMDB map nor the overlay's arena blocks,
 * which are mapped apart), or the RSS when a sanitizer's malloc hides it.
 * Costs a walk of malloc's free lists: callers on the command path cache it. */
unsigned long long cairn_used_memory(void);
/* The sections, in INFO's order: index by name (-1 if unknown), count, name,
 * and whether a section is part of the default INFO. */
int cairn_info_section_index(const char *name);
int cairn_info_section_count(void);
const char *cairn_info_section_name(int i);
int cairn_info_section_default(int i);

/* Per-command statistics, for INFO commandstats, errorstats and
 * latencystats. record is called once per command a client sent (a command
 * run by EXEC counts as its own call, the EXEC too): cmd is the command or
 * container run (NULL when unknown; the subcommand is found from argv, so
 * CONFIG GET counts as config|get), ns its handler's duration, rejected
 * when it was refused before running (arity, unknown, MISCONF...), and
 * reply/len the reply it produced (an error reply counts under its code, the
 * word after '-'). Cheap: a lookup in a small open-addressing table. */
void cairn_info_record_call(cairn_server *srv, const cairn_command *cmd, int argc, const cairn_str *argv, uint64_t ns,
                            int rejected, const char *reply, size_t len);
/* LATENCY HISTOGRAM: the latency histogram of cmd (a command or
 * subcommand), as Redis 7.0 reports it: *calls, and the cumulative count of
 * calls faster than 1024 * 2^k ns at each k where it grows (usec[i] is that
 * bound in microseconds: 1, 2, 4, 8, 16, 32, 65, 131...). Returns the
 * number of points (at most cap), -1 when cmd has no timed call. */
int cairn_info_latency_cdf(cairn_server *srv, const cairn_command *cmd, uint64_t *calls, uint64_t *usec, uint64_t *cum,
                           int cap);
/* The commands and subcommands with timed calls, by name; returns the count. */
int cairn_info_timed_commands(cairn_server *srv, const cairn_command **out, int cap);
/* CONFIG RESETSTAT. */
void cairn_info_reset_calls(cairn_server *srv);
/* Frees srv->callstats (at shutdown). */
void cairn_info_free_calls(cairn_server *srv);

#endif
