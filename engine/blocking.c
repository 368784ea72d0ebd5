/* Blocking commands on keys (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
 * BZPOPMIN, BZPOPMAX, BZMPOP): the generic part.
 *
 * A handler that finds nothing to serve calls cairn_block_for_keys: the
 * client is blocked (client.c's cairn_client_block: its pipelined commands wait,
 * the cron enforces the deadline) and a copy of its argv is kept here. Every
 * write that adds elements calls cairn_signal_key_ready; after the command
 * that did it (cairn_execute, at the top level), cairn_blocking_serve walks
 * the ready keys and, for each, re-runs the commands of the clients blocked
 * on it, in the order they blocked. A re-run either serves (replies,
 * propagates its non-blocking form like any write, and the client is
 * unblocked) or finds nothing and calls cairn_block_for_keys again, which
 * then keeps the client where it was in every queue. The reply of a served
 * client is held until the WAL sync like any write's (cairn_execute marks the
 * client WROTE, client.c holds pending output until the commit).
 *
 * Memory: a hash table from (db, key) to the FIFO of its blocked clients,
 * holding only keys somebody waits on; signalling a key nobody waits on is
 * one counter test (nothing is allocated when nobody is blocked).
 *
 * A woken multi-key pop tries the key that became ready first
 * (cairn_blocking_woken_key), as Redis 7.0 serves that key. */
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/blocking.h"
#include "engine/info.h"
#include "engine/keyspace.h"
#include "engine/tracking.h"
#include "engine/util.h"

typedef struct bkey bkey;
typedef struct bclient bclient;

typedef struct waiter {
  bkey *key;
  bclient *bc;
  struct waiter *prev, *next;
} waiter;

struct bkey {
  int db;
  int ready;          /* in the ready list */
  int pinned;         /* being served: not freed */
  uint64_t hash;
  size_t len;
  char *name;
  waiter *head, *tail;
  long nwait;
  bkey *hnext;
};

struct bclient {
  cairn_client *c;
  int db;
  int argc;
  cairn_str *argv;    /* copies of the command's arguments, in one block */
  int nkeys;
  waiter *w;          /* nkeys waiters, one per distinct key */
  int dead;           /* unblocked while serving: freed at the end */
  int reblocked;      /* the re-run blocked again */
  int want_type;      /* the key type its command pops from, -1 = any */
  int wake_on_delete; /* XREADGROUP: woken when a key it waits on is deleted or stops being a stream */
  bclient *free_next;
};

struct cairn_blocking {
  bkey **slots;
  size_t nslots, nkeys;
  long nblocked;       /* clients blocked on keys */
  long nwake_on_delete; /* of which wake_on_delete (the store's touch hook is installed while > 0) */
  bkey **ready;
  size_t nready, ready_cap;
  bclient *serving_bc; /* the client whose command is being re-run */
  cairn_str serving_key; /* the ready key it was woken by */
  int serving;
  bclient *graveyard;  /* freed when serving ends */
};

/* The server's blocking state, made at the first use. */
static cairn_blocking *state_of(cairn_server *srv) {
  if (!srv->blocking) srv->blocking = cairn_xcalloc(1, sizeof(*srv->blocking));
  return srv->blocking;
}

void cairn_blocking_free(cairn_server *srv) {
  cairn_blocking *B = srv->blocking;
  if (!B) return;
  free(B->slots);
  free(B->ready);
  free(B);
  srv->blocking = NULL;
}

static uint64_t key_hash(int db, const char *p, size_t len) { return cairn_hash64(p, len, (uint64_t)db * 0x9e3779b97f4a7c15ULL + 1); }

static bkey *key_find(cairn_blocking *B, int db, const char *p, size_t len, uint64_t h) {
  if (!B->nslots) return NULL;
  for (bkey *k = B->slots[h & (B->nslots - 1)]; k; k = k->hnext)
    if (k->hash == h && k->db == db && k->len == len && memcmp(k->name, p, len) == 0) return k;
  return NULL;
}

static void table_grow(cairn_blocking *B) {
  size_t n = B->nslots ? B->nslots * 2 : 16;
  bkey **slots = cairn_xcalloc(n, sizeof(*slots));
  for (size_t i = 0; i < B->nslots; i++) {
    for (bkey *k = B->slots[i], *next; k; k = next) {
      next = k->hnext;
      k->hnext = slots[k->hash & (n - 1)];
      slots[k->hash & (n - 1)] = k;
    }
  }
  free(B->slots);
  B->slots = slots;
  B->nslots = n;
}

static bkey *key_get(cairn_blocking *B, int db, const char *p, size_t len) {
  uint64_t h = key_hash(db, p, len);
  bkey *k = key_find(B, db, p, len, h);
  if (k) return k;
  if (B->nkeys >= B->nslots) table_grow(B);
  k = cairn_xcalloc(1, sizeof(*k));
  k->db = db;
  k->hash = h;
  k->len = len;
  k->name = cairn_xmalloc(len ? len : 1);
  memcpy(k->name, p, len);
  k->hnext = B->slots[h & (B->nslots - 1)];
  B->slots[h & (B->nslots - 1)] = k;
  B->nkeys++;
  return k;
}

/* Frees a key nobody waits on any more (unless the ready list holds it). */
static void key_release(cairn_blocking *B, bkey *k) {
  if (k->nwait || k->ready || k->pinned) return;
  for (bkey **pp = &B->slots[k->hash & (B->nslots - 1)]; *pp; pp = &(*pp)->hnext) {
    if (*pp == k) {
      *pp = k->hnext;
      break;
    }
  }
  B->nkeys--;
  free(k->name);
  free(k);
  if (B->nkeys == 0) {
    free(B->slots);
    B->slots = NULL;
    B->nslots = 0;
  }
}

static void bclient_free(bclient *bc) {
  free(bc->argv);
  free(bc->w);
  free(bc);
}

/* Takes bc out of every queue; the client is no longer blocked on keys. */
static void bclient_detach(cairn_blocking *B, bclient *bc) {
  for (int i = 0; i < bc->nkeys; i++) {
    waiter *w = &bc->w[i];
    bkey *k = w->key;
    if (w->prev)
      w->prev->next = w->next;
    else
      k->head = w->next;
    if (w->next)
      w->next->prev = w->prev;
    else
      k->tail = w->prev;
    k->nwait--;
    key_release(B, k);
  }
  bc->nkeys = 0;
  bc->c->blocking = NULL;
  bc->dead = 1;
  B->nblocked--;
  if (bc->wake_on_delete && --B->nwake_on_delete == 0) cairn_touch_hooks_update(bc->c->srv);
  if (B->serving) {
    bc->free_next = B->graveyard;
    B->graveyard = bc;
  } else {
    bclient_free(bc);
  }
}

static void on_timeout(cairn_client *c) {
  bclient *bc = c->blocking;
  if (!bc) return;
  cairn_blocking *B = state_of(c->srv);
  cairn_reply r = {&c->out, c->resp};
  if (c->reply_mode != CAIRN_REPLY_OFF && c->reply_mode != CAIRN_REPLY_SKIP) cairn_reply_null_array(&r);
  bclient_detach(B, bc);
  cairn_client_unblock(c);
}

void cairn_blocking_client_closed(cairn_client *c) {
  if (c->blocking) bclient_detach(state_of(c->srv), c->blocking);
}

int cairn_can_block(cairn_ctx *c) {
  if (c->replaying || !c->client) return 0;
  if (c->client->flags & (CAIRN_CLIENT_MULTI | CAIRN_CLIENT_IN_EXEC)) return 0;
  /* A command run from inside another one (EXEC's queued commands) never
   * blocks: Redis answers as on timeout. */
  if (!cairn_ctx_is_top_level(c)) return 0;
  return 1;
}

void cairn_block_for_keys(cairn_ctx *c, const cairn_str *keys, int nkeys, int64_t timeout_ms) {
  cairn_client *cl = c->client;
  cairn_blocking *B = state_of(c->srv);
  if (B->serving_bc && B->serving_bc->c == cl) {
    /* A woken client found nothing: it stays where it was. */
    B->serving_bc->reblocked = 1;
    return;
  }
  if (cl->blocking) bclient_detach(B, cl->blocking); /* never expected: a blocked client runs nothing */
  bclient *bc = cairn_xcalloc(1, sizeof(*bc));
  bc->c = cl;
  bc->db = c->db;
  /* Like Redis 7.0, a key of another type (a sorted set for BLPOP) does not
   * wake the client: it stays blocked. */
  bc->want_type = -1;
  if (c->cmd && c->cmd->group) {
    if (!strcmp(c->cmd->group, "list")) bc->want_type = CAIRN_TYPE_LIST;
    else if (!strcmp(c->cmd->group, "sorted-set")) bc->want_type = CAIRN_TYPE_ZSET;
    else if (!strcmp(c->cmd->group, "stream")) bc->want_type = CAIRN_TYPE_STREAM; /* XREAD BLOCK */
  }
  /* The argv points into the query buffer, which moves on: copy it. */
  size_t bytes = 0;
  for (int i = 0; i < c->argc; i++) bytes += c->argv[i].len;
  bc->argv = cairn_xmalloc(sizeof(cairn_str) * (size_t)c->argc + bytes + 1);
  char *p = (char *)(bc->argv + c->argc);
  for (int i = 0; i < c->argc; i++) {
    memcpy(p, c->argv[i].p, c->argv[i].len);
    bc->argv[i].p = p;
    bc->argv[i].len = c->argv[i].len;
    p += c->argv[i].len;
  }
  bc->argc = c->argc;
  bc->w = cairn_xcalloc((size_t)nkeys, sizeof(waiter));
  for (int i = 0; i < nkeys; i++) {
    bkey *k = key_get(B, c->db, keys[i].p, keys[i].len);
    int dup = 0;
    for (int j = 0; j < bc->nkeys; j++)
      if (bc->w[j].key == k) dup = 1;
    if (dup) continue; /* BLPOP k k 0: one place in the queue */
    waiter *w = &bc->w[bc->nkeys++];
    w->key = k;
    w->bc = bc;
    w->prev = k->tail;
    if (k->tail)
      k->tail->next = w;
    else
      k->head = w;
    k->tail = w;
    k->nwait++;
  }
  cl->blocking = bc;
  B->nblocked++;
  int64_t deadline = 0;
  if (timeout_ms > 0) {
    int64_t left = timeout_ms - cairn_mstime();
    if (left < INT64_MAX / 4) { /* beyond that: never in practice, block forever */
      deadline = cairn_monotonic_ms() + (left > 0 ? left : 0);
      if (deadline == 0) deadline = 1;
    }
  }
  cairn_client_block(cl, deadline, on_timeout);
}

static void key_ready(cairn_blocking *B, bkey *k) {
  if (k->ready || !k->nwait) return;
  if (B->nready == B->ready_cap) {
    B->ready_cap = B->ready_cap ? B->ready_cap * 2 : 8;
    B->ready = cairn_xrealloc(B->ready, B->ready_cap * sizeof(*B->ready));
  }
  k->ready = 1;
  B->ready[B->nready++] = k;
}

void cairn_signal_key_ready(cairn_ctx *c, cairn_str key) {
  cairn_blocking *B = c->srv->blocking;
  if (!B || B->nblocked == 0) return;
  bkey *k = key_find(B, c->db, key.p, key.len, key_hash(c->db, key.p, key.len));
  if (k) key_ready(B, k);
}

void cairn_block_wake_on_delete(cairn_ctx *c) {
  bclient *bc = c->client ? c->client->blocking : NULL;
  if (!bc || bc->wake_on_delete) return;
  bc->wake_on_delete = 1;
  if (state_of(c->srv)->nwake_on_delete++ == 0) cairn_touch_hooks_update(c->srv);
}

int cairn_blocking_wants_touch(const cairn_server *srv) {
  return srv->blocking && srv->blocking->nwake_on_delete > 0;
}

static int key_wakes_on_delete(const bkey *k) {
  for (const waiter *w = k->head; w; w = w->next)
    if (w->bc->wake_on_delete) return 1;
  return 0;
}

void cairn_blocking_touched(cairn_server *srv, int db, cairn_str key) {
  cairn_blocking *B = srv->blocking;
  if (!B || B->nwake_on_delete == 0) return;
  if (key.p) {
    bkey *k = key_find(B, db, key.p, key.len, key_hash(db, key.p, key.len));
    if (k && key_wakes_on_delete(k)) key_ready(B, k);
    return;
  }
  for (size_t i = 0; i < B->nslots; i++)
    for (bkey *k = B->slots[i]; k; k = k->hnext)
      if (k->db == db && key_wakes_on_delete(k)) key_ready(B, k);
}

void cairn_signal_db_ready(cairn_ctx *c, int db) {
  cairn_blocking *B = c->srv->blocking;
  if (!B || B->nblocked == 0) return;
  for (size_t i = 0; i < B->nslots; i++) {
    for (bkey *k = B->slots[i]; k; k = k->hnext) {
      if (k->db != db || k->ready || !k->nwait) continue;
      cairn_value v;
      int rc = cairn_store_get(c->srv->store, db, (cairn_str){k->name, k->len}, &v);
      if (rc < 0) {
        cairn_store_failed(c, rc);
        return;
      }
      if (rc == 1) key_ready(B, k);
    }
  }
}

int cairn_blocking_unblock(cairn_client *c, int timeout) {
  if (!(c->flags & CAIRN_CLIENT_BLOCKED)) return 0;
  if (timeout && c->on_block_timeout) {
    c->on_block_timeout(c); /* replies and unblocks */
    if (c->flags & CAIRN_CLIENT_BLOCKED) cairn_client_unblock(c);
    return 1;
  }
  if (c->reply_mode != CAIRN_REPLY_OFF && c->reply_mode != CAIRN_REPLY_SKIP) {
    static const char err[] = "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n";
    cairn_buf_append(&c->out, err, sizeof(err) - 1);
    cairn_info_record_call(c->srv, NULL, 0, NULL, 0, 0, err, sizeof(err) - 1); /* errorstat_UNBLOCKED */
    c->srv->stats.total_error_replies++;
  }
  if (c->blocking) bclient_detach(state_of(c->srv), c->blocking);
  cairn_client_unblock(c);
  return 1;
}

int cairn_blocking_woken_key(const cairn_ctx *c, cairn_str *key) {
  const cairn_blocking *B = c->srv->blocking;
  if (!B || !B->serving_bc || !c->client || B->serving_bc->c != c->client || !B->serving_key.p) return 0;
  *key = B->serving_key;
  return 1;
}

int cairn_blocking_waits(const cairn_client *c) {
  const bclient *bc = c->blocking;
  if (!bc) return 0;
  const cairn_blocking *B = c->srv->blocking;
  return !(B && B->serving_bc == bc && !bc->reblocked);
}

int cairn_blocking_pending(cairn_server *srv) {
  cairn_blocking *B = srv->blocking;
  return B && B->nready > 0 && !B->serving;
}

/* Re-runs bc's command; unblocks it unless it blocked again. */
static void rerun(cairn_server *srv, bclient *bc) {
  cairn_blocking *B = srv->blocking;
  cairn_client *cl = bc->c;
  bc->reblocked = 0;
  B->serving_bc = bc;
  int db = cl->db;
  cl->db = bc->db;
  /* The command runs as if arriving now (its reply and propagation go
   * where a fresh command's would). */
  srv->now_ms = cairn_mstime();
  cairn_execute(srv, cl, bc->argc, bc->argv);
  if (cl->db == bc->db) cl->db = db;
  B->serving_bc = NULL;
  if (bc->dead) return; /* closed meanwhile (output limit) */
  if (!bc->reblocked) {
    bclient_detach(B, bc);
    cairn_client_unblock(cl);
  }
}

/* Serves the clients blocked on the keys made ready by the last command, and
 * those made ready while serving them (BLMOVE pushes), in signal order. Cost:
 * one re-run per woken client, while the key exists. */
void cairn_blocking_serve(cairn_server *srv) {
  cairn_blocking *B = srv->blocking;
  if (!B || B->serving || B->nready == 0) return;
  B->serving = 1;
  bclient **snap = NULL;
  size_t snapcap = 0;
  while (B->nready) {
    bkey **list = B->ready;
    size_t n = B->nready;
    B->ready = NULL;
    B->nready = B->ready_cap = 0;
    for (size_t i = 0; i < n; i++) {
      bkey *k = list[i];
      k->ready = 0;
      /* The clients blocked now, in order: a re-run may unblock others
       * (closing them) or free the key, so work on a copy. */
      if ((size_t)k->nwait > snapcap) {
        snapcap = (size_t)k->nwait * 2;
        snap = cairn_xrealloc(snap, snapcap * sizeof(*snap));
      }
      size_t m = 0;
      for (waiter *w = k->head; w; w = w->next) snap[m++] = w->bc;
      cairn_str name = {k->name, k->len};
      int db = k->db;
      k->pinned = 1; /* kept while we use its name */
      for (size_t j = 0; j < m; j++) {
        if (snap[j]->dead) continue;
        cairn_value v;
        int rc = cairn_store_get(srv->store, db, name, &v);
        /* emptied: nobody else can be served, but an XREADGROUP learns
         * that its key is gone (Redis's unblockDeletedStreamReadgroupClients) */
        if (rc == 0 && !snap[j]->wake_on_delete) continue;
        if (rc == 1 && snap[j]->want_type >= 0 && v.type != snap[j]->want_type && !snap[j]->wake_on_delete) continue;
        B->serving_key = name;
        rerun(srv, snap[j]);
        B->serving_key.p = NULL;
      }
      k->pinned = 0;
      key_release(B, k);
    }
    free(list);
  }
  free(snap);
  B->serving = 0;
  while (B->graveyard) {
    bclient *bc = B->graveyard;
    B->graveyard = bc->free_next;
    bclient_free(bc);
  }
}
