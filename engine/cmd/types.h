/* Command families built on other types' layouts: HyperLogLog (a string,
 * engine/cmd/hll.c) and GEO (a sorted set, engine/cmd/geo.c). Their entries
 * sit in the tables of the type they use (cairn_commands_bits and
 * cairn_commands_zset); the handlers are here. Also the small sorted-set
 * interface geo.c uses (engine/cmd/zset.c). */
#ifndef CAIRN_CMD_TYPES_H
#define CAIRN_CMD_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "engine/command.h"

/* hll.c */
void cairn_cmd_pfadd(cairn_ctx *c);
void cairn_cmd_pfcount(cairn_ctx *c);
void cairn_cmd_pfmerge(cairn_ctx *c);
void cairn_cmd_pfdebug(cairn_ctx *c);
void cairn_cmd_pfselftest(cairn_ctx *c);

/* geo.c */
void cairn_cmd_geoadd(cairn_ctx *c);
void cairn_cmd_geopos(cairn_ctx *c);
void cairn_cmd_geodist(cairn_ctx *c);
void cairn_cmd_geohash(cairn_ctx *c);
void cairn_cmd_georadius(cairn_ctx *c);
void cairn_cmd_georadius_ro(cairn_ctx *c);
void cairn_cmd_georadiusbymember(cairn_ctx *c);
void cairn_cmd_georadiusbymember_ro(cairn_ctx *c);
void cairn_cmd_geosearch(cairn_ctx *c);
void cairn_cmd_geosearchstore(cairn_ctx *c);

/* zset.c, for geo.c. */
/* ZADD with this argument vector (argv[0] is "zadd"): its reply, its
 * changes, and the propagation of that ZADD when anything changed. */
void cairn_zset_zadd_argv(cairn_ctx *c, int argc, cairn_str *argv);
/* The sorted set at key: 1 found (*id), 0 absent, -1 after WRONGTYPE or a
 * store error. */
int cairn_zset_open(cairn_ctx *c, cairn_str key, uint64_t *id);
/* Score of member: 1 found, 0 absent, -1 store error (recorded). */
int cairn_zset_score(cairn_ctx *c, uint64_t id, cairn_str member, double *out);
/* Calls fn for each member with min <= score < max, in score then member
 * order, until fn returns nonzero. 0, or -1 after a store error. */
typedef int (*cairn_zset_range_fn)(void *ud, const char *m, size_t len, double score);
int cairn_zset_range(cairn_ctx *c, uint64_t id, double min, double max, cairn_zset_range_fn fn, void *ud);
/* Replaces dst by a sorted set of n members (n == 0 deletes it) and
 * replies the count, like ZRANGESTORE's destination. */
void cairn_zset_store(cairn_ctx *c, cairn_str dst, size_t n, const cairn_str *members, const double *scores,
                      const char *event);

#endif
