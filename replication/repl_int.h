/* Between the master side (master.c) and the replica side (replica.c) of
 * replication. Not for engine/. */
#ifndef CAIRN_REPL_INT_H
#define CAIRN_REPL_INT_H

#include "engine/server.h"

/* master.c: the replication ids (PSYNC2). */
const char *cairn_repl_replid(cairn_server *srv);
/* A full sync from a master: take its id, forget the previous history. */
void cairn_repl_adopt_id(cairn_server *srv, const char *replid);
/* +CONTINUE with another id (the master was promoted or restarted as a new
 * history): the old id stays valid up to the current offset (replid2). */
void cairn_repl_continue_id(cairn_server *srv, const char *replid);
/* Promotion (REPLICAOF NO ONE): a new id; the old one stays valid up to here. */
void cairn_repl_shift_id(cairn_server *srv);
/* Disconnects every attached replica (they come back with PSYNC). */
void cairn_repl_drop_replicas(cairn_server *srv);

/* slots.c: replica slots and the resume horizon */
#define CAIRN_SLOT_NAME_MAX 48
typedef struct cairn_slot cairn_slot;
typedef struct cairn_slots cairn_slots;
struct cairn_backlog;
/* The slots the backlog's pins hold ("slot:<name>"), after a restart too. */
cairn_slots *cairn_slots_new(struct cairn_backlog *backlog);
void cairn_slots_free(cairn_slots *ss);
int cairn_slot_name_valid(const char *p, size_t len);
/* A replica starts feeding from need (PSYNC) or its full sync's offset + 1:
 * its slot (found or made; NULL with repl-slots no, or when another
 * connected replica holds that name). */
cairn_slot *cairn_slot_attach(cairn_server *srv, cairn_slots *ss, const char *name, uint64_t need);
void cairn_slot_ack(cairn_slots *ss, cairn_slot *s, uint64_t need);
void cairn_slot_detach(cairn_slots *ss, cairn_slot *s);
/* Once a second: the write-rate sample, the caps, the horizon warning. */
void cairn_slots_cron(cairn_server *srv, cairn_slots *ss);
void cairn_slots_info(cairn_server *srv, cairn_slots *ss, cairn_buf *o);
extern const cairn_command cairn_slot_commands[];
/* master.c */
cairn_slots *cairn_repl_slots(cairn_server *srv);

/* replica.c */
int cairn_replica_init(cairn_server *srv, char *err, size_t errlen);
void cairn_replica_free(cairn_server *srv);
/* The replica part of INFO replication (after role:slave). */
void cairn_replica_info(cairn_server *srv, cairn_buf *o);
/* ROLE on a replica. */
void cairn_replica_role(cairn_ctx *c);
void cairn_replica_cron(cairn_server *srv);
/* The WAL synced further (engine/commit.c's on_synced, through master.c):
 * an acknowledgement the master asked for goes out now. */
void cairn_replica_synced(cairn_server *srv);
void cairn_replica_stop(cairn_server *srv);

#endif
