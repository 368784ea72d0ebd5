/* Key access for command handlers (engine/keyspace.c): lookups with lazy
 * expiry, collection headers, hashed-member scans and random picks, expiry
 * changes with their stream form, and the active expiry cycle.
 *
 * Store errors: a helper that meets one records it in ctx->store_rc (the
 * first one wins) and returns -1; the handler returns at once, and
 * engine/execute.c rolls the store back and runs the command again.
 * Threads: loop thread only. */
#ifndef CAIRN_KEYSPACE_H
#define CAIRN_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/command.h"
#include "engine/store.h"

/* Store access for handlers: the key space of ctx->db with lazy expiry.
 * Returns 1 found (expired keys are deleted, propagated as DEL, and reported
 * absent), 0 absent, <0 store error (also recorded in ctx->store_rc: return
 * from the handler at once; the server rolls back and retries). */
int cairn_lookup(cairn_ctx *c, cairn_str key, cairn_value *out);
/* Same, but a key of another type gives the WRONGTYPE reply and returns -1
 * with store_rc untouched (so: `if (rc < 0) return;`). */
int cairn_lookup_type(cairn_ctx *c, cairn_str key, uint8_t type, cairn_value *out);
/* Collections (see store.h): lookup of a key that must hold `type` with its
 * header decoded. 1 found, 0 absent, -1 after WRONGTYPE or a store error. */
int cairn_lookup_coll(cairn_ctx *c, cairn_str key, uint8_t type, cairn_value *val, cairn_coll *coll);
/* Writes a collection's header back (every modifying command ends with it;
 * count 0 deletes the key). 0, or -1 after a store error. */
int cairn_coll_save(cairn_ctx *c, cairn_str key, uint8_t type, const cairn_coll *coll, int64_t expire_ms);

/* A near-uniform random member of a collection's hashed member space
 * (CAIRN_SPACE_MEMBERS): the member at or after a random hash, then a random
 * 0..63 members further, wrapping (O(log n + 64); a member's chance is the
 * average of 64 hash gaps, within ~12% of uniform whatever the members are).
 * Copies the member into sub and, if val is not NULL, its value into val.
 * 1 found, 0 empty, -1 store error (recorded). */
int cairn_coll_random(cairn_ctx *c, uint64_t id, cairn_buf *sub, cairn_buf *val);

/* HSCAN / SSCAN / ZSCAN: `<cmd> key cursor [MATCH p] [COUNT n]` over the
 * hashed member space of a collection of `type`. The cursor is the next
 * member's 64-bit hash, so a member present for the whole scan is returned
 * exactly once and cursors survive restarts; O(log n + count) per call.
 * with_values: each member is followed by its value, formatted by val_text
 * (NULL: the raw bytes). Like Redis, a missing key replies an empty scan
 * before the options are parsed. */
void cairn_coll_scan(cairn_ctx *c, uint8_t type, int with_values, size_t (*val_text)(cairn_str raw, char *buf));

/* cairn_store_put for handlers: the same arguments and result (1 created,
 * 0 replaced, <0 error, not recorded), and a created key fires the 'new'
 * keyspace notification (cairn_coll_save does the same for collections). */
int cairn_key_put(cairn_ctx *c, int db, cairn_str key, uint8_t type, const void *data, size_t len, int64_t expire_ms);
/* A string written whatever the key held (SET without GET, NX, XX or
 * KEEPTTL; MSET): when no keyspace event is enabled and the db is at least
 * deferred-lookups-min-keys big, written without looking up the old value
 * (cairn_store_put_deferred): 1. 0 when it did nothing (the caller then goes
 * the usual way, lazy expiry of the old value included), <0 error. */
int cairn_key_put_blind(cairn_ctx *c, cairn_str key, cairn_str val, int64_t expire_ms);

/* Signals key (in c->db) as modified for WATCH without writing it. */
void cairn_touch(cairn_ctx *c, cairn_str key);

/* Records a store error; always returns -1. */
int cairn_store_failed(cairn_ctx *c, int rc);
cairn_store *cairn_ctx_store(cairn_ctx *c);

/* Expiry changes with their stream form, shared by EXPIRE*, GETEX, SET...:
 * an absolute time already past deletes the key (stream: DEL) unless
 * replaying; otherwise the expiry is set (stream: PEXPIREAT key ms). PERSIST
 * removes it (stream: PERSIST key). The key must exist. Each fires its
 * keyspace notification ('del', 'expire', 'persist'). 0, or -1 after a
 * store error. */
int cairn_expire_key_at(cairn_ctx *c, cairn_str key, int64_t when_ms);
int cairn_persist_key(cairn_ctx *c, cairn_str key);

/* Active expiry, bounded by a time budget. Returns keys expired. */
long cairn_expire_cycle(cairn_server *srv, int64_t budget_us);

#endif
