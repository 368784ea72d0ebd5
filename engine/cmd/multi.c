/* Transactions: MULTI EXEC DISCARD WATCH UNWATCH (Redis 7.0 semantics).
 *
 * Queueing happens in cairn_execute (engine/execute.c): a client in MULTI has
 * every command checked (existence, arity, subcommand, NOMULTI, context) and
 * queued with +QUEUED; a refusal flags the transaction (EXEC then answers
 * -EXECABORT). EXEC runs the queue through cairn_execute_queued: the replies
 * form its array, the propagations of all its commands are gathered and go
 * into the stream as one unit when EXEC returns (MULTI ... EXEC when there is
 * more than one, like Redis 7.0: a single write needs no wrapper), hence into
 * one WAL record. A store error in any command rolls the store back to the
 * stream and runs the whole EXEC again: the transaction is all or nothing.
 *
 * WATCH: a table (db, key) -> watchers, consulted by the store's touch hook,
 * which is installed only while somebody watches. Any change of a watched key
 * (writes, expiry deletes, collection saves) marks its watchers DIRTY_CAS; a
 * FLUSHDB/FLUSHALL/SWAPDB (whole-db touch) marks those whose key existed.
 * Like Redis 7.0, EXEC also fails when a watched key expired (logically)
 * since WATCH, and a key already expired at WATCH time is not a change when
 * it is then deleted. Cost: WATCH O(keys watched by the client) per key; a
 * write with someone watching: one hash lookup; a whole-db touch: O(watched
 * keys); EXEC: O(watched keys of the client). */
#include <stdlib.h>
#include <string.h>

#include "engine/script.h"
#include "engine/cmd/hmap.h"
#include "engine/server.h"
#include "engine/multi.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/tracking.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- queue */

typedef struct mcmd {
  const cairn_command *cmd;
  int argc;
  cairn_str *argv; /* argv array followed by the argument bytes, one allocation */
  size_t size;
} mcmd;

typedef struct mstate {
  mcmd *cmds;
  int count, cap;
  size_t mem;
  uint32_t any, all; /* flags of the queued commands, OR-ed / AND-ed */
  int exec_started;  /* EXEC passed its checks (a retry after a store error skips them) */
  int db_at_exec;    /* the client's db when EXEC started (restored before a retry) */
} mstate;

static mstate *mstate_of(cairn_client *c) {
  if (!c->mstate) {
    mstate *m = cairn_xcalloc(1, sizeof(*m));
    m->all = ~0u;
    c->mstate = m;
  }
  return c->mstate;
}

void cairn_multi_queue(cairn_client *c, const cairn_command *cmd, int argc, const cairn_str *argv) {
  mstate *m = mstate_of(c);
  if (m->count == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 8;
    m->cmds = cairn_xrealloc(m->cmds, (size_t)m->cap * sizeof(*m->cmds));
  }
  size_t bytes = 0;
  for (int i = 0; i < argc; i++) bytes += argv[i].len + 1;
  size_t size = (size_t)argc * sizeof(cairn_str) + bytes;
  cairn_str *av = cairn_xmalloc(size);
  char *p = (char *)(av + argc);
  for (int i = 0; i < argc; i++) {
    if (argv[i].len) memcpy(p, argv[i].p, argv[i].len);
    p[argv[i].len] = '\0';
    av[i].p = p;
    av[i].len = argv[i].len;
    p += argv[i].len + 1;
  }
  m->cmds[m->count++] = (mcmd){cmd, argc, av, size};
  m->mem += size;
  uint32_t flags = cairn_script_command_flags(c->srv, cmd, argc, av); /* a script's declared flags count */
  m->any |= flags;
  m->all &= flags;
}

void cairn_multi_queued_flags(const cairn_client *c, uint32_t *any, uint32_t *all) {
  const mstate *m = c->mstate;
  *any = m ? m->any : 0;
  *all = m ? m->all : ~0u;
}

int cairn_multi_count(const cairn_client *c) {
  if (!(c->flags & CAIRN_CLIENT_MULTI)) return -1;
  const mstate *m = c->mstate;
  return m ? m->count : 0;
}

size_t cairn_multi_memory(const cairn_client *c) {
  const mstate *m = c->mstate;
  return m ? m->mem + (size_t)m->cap * sizeof(mcmd) : 0;
}

static void free_queue(cairn_client *c) {
  mstate *m = c->mstate;
  if (!m) return;
  for (int i = 0; i < m->count; i++) free(m->cmds[i].argv);
  free(m->cmds);
  free(m);
  c->mstate = NULL;
}

/* ---------------------------------------------------------------- watch table */

typedef struct wnode wnode;

typedef struct wkey {
  cairn_hnode h;
  int db;
  size_t len;
  wnode *watchers;
  char key[];
} wkey;

struct wnode {
  wkey *k;
  cairn_client *c;
  wnode *kprev, *knext; /* the key's watchers */
  wnode *cnext;         /* the client's watches */
  int64_t expire_ms;    /* the key's expiry at WATCH time, -1 none or absent */
  unsigned stale : 1;   /* already expired at WATCH time (Redis's wk->expired) */
  unsigned recheck : 1; /* its db was flushed or swapped: EXEC checks whether it appeared */
};

/* The server's WATCH table (srv->watch): watched (db, key) -> watchers. */
struct cairn_watch {
  cairn_hmap keys;
};

static cairn_watch *watch_of(cairn_server *srv) {
  if (!srv->watch) srv->watch = cairn_xcalloc(1, sizeof(*srv->watch));
  return srv->watch;
}

void cairn_watch_free(cairn_server *srv) {
  if (!srv->watch) return;
  free(srv->watch->keys.b); /* empty once every client closed */
  free(srv->watch);
  srv->watch = NULL;
}

static uint64_t wkey_hash(int db, cairn_str key) {
  return cairn_hash64(key.p, key.len, (uint64_t)db * 0x9e3779b97f4a7c15ULL + 1);
}

static wkey *wkey_find(cairn_watch *W, int db, cairn_str key, uint64_t h) {
  for (cairn_hnode *n = cairn_hmap_chain(&W->keys, h); n; n = n->hnext) {
    wkey *k = (wkey *)n;
    if (n->hash == h && k->db == db && k->len == key.len && memcmp(k->key, key.p, key.len) == 0) return k;
  }
  return NULL;
}

/* Does the key exist in the store (expired or not)? Errors count as yes. */
static int key_present(cairn_server *srv, int db, const char *key, size_t len) {
  cairn_value v;
  return cairn_store_get(srv->store, db, (cairn_str){key, len}, &v) != 0;
}

static void on_touch(void *ud, int db, cairn_str key) {
  cairn_server *srv = ud;
  if (srv->recovering) return; /* the store is rebuilt to what was already seen */
  cairn_watch *W = watch_of(srv);
  if (key.p) {
    wkey *k = wkey_find(W, db, key, wkey_hash(db, key));
    if (!k) return;
    int present = -1;
    for (wnode *n = k->watchers; n; n = n->knext) {
      if (n->stale) {
        /* Deleting a key that had already expired is no logical change. */
        if (present < 0) present = key_present(srv, db, key.p, key.len);
        if (!present) {
          n->stale = 0;
          n->expire_ms = -1;
          continue;
        }
      }
      n->c->flags |= CAIRN_CLIENT_DIRTY_CAS;
    }
    return;
  }
  /* FLUSHDB / FLUSHALL / SWAPDB, before the change: the watchers of keys that
   * exist are invalidated; the others are rechecked at EXEC (SWAPDB may bring
   * the key in from the other db). */
  for (size_t i = 0; i < W->keys.nb; i++) {
    for (cairn_hnode *e = W->keys.b[i]; e; e = e->hnext) {
      wkey *k = (wkey *)e;
      if (k->db != db) continue;
      int present = key_present(srv, db, k->key, k->len);
      for (wnode *n = k->watchers; n; n = n->knext) {
        if (present && !n->stale) {
          n->c->flags |= CAIRN_CLIENT_DIRTY_CAS;
        } else {
          n->stale = 0;
          n->expire_ms = -1;
          n->recheck = 1;
        }
      }
    }
  }
}

static void watch_key(cairn_ctx *c, cairn_str key) {
  cairn_client *cl = c->client;
  cairn_watch *W = watch_of(c->srv);
  int db = c->db;
  for (wnode *n = cl->watched; n; n = n->cnext)
    if (n->k->db == db && n->k->len == key.len && memcmp(n->k->key, key.p, key.len) == 0) return;
  cairn_value v;
  int rc = cairn_store_get(c->srv->store, db, key, &v);
  if (rc < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  uint64_t h = wkey_hash(db, key);
  wkey *k = wkey_find(W, db, key, h);
  if (!k) {
    k = cairn_xcalloc(1, sizeof(*k) + key.len + 1);
    k->h.hash = h;
    k->db = db;
    k->len = key.len;
    if (key.len) memcpy(k->key, key.p, key.len);
    if (W->keys.n == 0) {
      c->srv->touch_watch = on_touch;
      cairn_touch_hooks_update(c->srv);
    }
    cairn_hmap_insert(&W->keys, &k->h);
  }
  wnode *n = cairn_xcalloc(1, sizeof(*n));
  n->k = k;
  n->c = cl;
  n->expire_ms = rc == 1 ? v.expire_ms : -1;
  n->stale = rc == 1 && v.expire_ms >= 0 && v.expire_ms <= c->now_ms;
  n->knext = k->watchers;
  if (k->watchers) k->watchers->kprev = n;
  k->watchers = n;
  n->cnext = cl->watched;
  cl->watched = n;
}

static void unwatch_all(cairn_client *cl) {
  cairn_server *srv = cl->srv;
  cairn_watch *W = watch_of(srv);
  wnode *n = cl->watched;
  cl->watched = NULL;
  while (n) {
    wnode *next = n->cnext;
    wkey *k = n->k;
    if (n->kprev)
      n->kprev->knext = n->knext;
    else
      k->watchers = n->knext;
    if (n->knext) n->knext->kprev = n->kprev;
    if (!k->watchers) {
      cairn_hmap_remove(&W->keys, &k->h);
      free(k);
      if (W->keys.n == 0) {
        srv->touch_watch = NULL;
        cairn_touch_hooks_update(srv);
      }
    }
    free(n);
    n = next;
  }
}

/* Did a watched key change without a touch: expired since WATCH, or brought
 * in by SWAPDB? */
static int watched_changed(cairn_ctx *c) {
  for (wnode *n = c->client->watched; n; n = n->cnext) {
    if (n->recheck) {
      cairn_value v;
      int rc = cairn_store_get(c->srv->store, n->k->db, (cairn_str){n->k->key, n->k->len}, &v);
      if (rc < 0) return 1;
      if (rc == 1 && (v.expire_ms < 0 || v.expire_ms > c->now_ms)) return 1;
    } else if (!n->stale && n->expire_ms >= 0 && n->expire_ms <= c->now_ms) {
      return 1;
    }
  }
  return 0;
}

void cairn_watch_touch_all(cairn_server *srv) {
  cairn_watch *W = watch_of(srv);
  for (size_t i = 0; i < W->keys.nb; i++)
    for (cairn_hnode *e = W->keys.b[i]; e; e = e->hnext)
      for (wnode *n = ((wkey *)e)->watchers; n; n = n->knext) n->c->flags |= CAIRN_CLIENT_DIRTY_CAS;
}

void cairn_multi_client_reset(cairn_client *c) {
  free_queue(c);
  unwatch_all(c);
  c->flags &= ~(CAIRN_CLIENT_MULTI | CAIRN_CLIENT_DIRTY_CAS | CAIRN_CLIENT_DIRTY_EXEC | CAIRN_CLIENT_IN_EXEC);
}

/* ---------------------------------------------------------------- commands */

static void cmd_multi(cairn_ctx *c) {
  if (!c->client) return;
  if (c->client->flags & CAIRN_CLIENT_MULTI) {
    cairn_reply_error(&c->reply, "MULTI calls can not be nested");
    return;
  }
  c->client->flags |= CAIRN_CLIENT_MULTI;
  cairn_reply_ok(&c->reply);
}

static void cmd_discard(cairn_ctx *c) {
  if (!c->client) return;
  if (!(c->client->flags & CAIRN_CLIENT_MULTI)) {
    cairn_reply_error(&c->reply, "DISCARD without MULTI");
    return;
  }
  cairn_multi_client_reset(c->client);
  cairn_reply_ok(&c->reply);
}

/* Cost: the sum of the queued commands' costs, plus O(watched keys). */
static void cmd_exec(cairn_ctx *c) {
  cairn_client *cl = c->client;
  if (!cl) return;
  if (!(cl->flags & CAIRN_CLIENT_MULTI)) {
    cairn_reply_error(&c->reply, "EXEC without MULTI");
    return;
  }
  mstate *m = cl->mstate;
  if (!m || !m->exec_started) {
    if (watched_changed(c)) cl->flags |= CAIRN_CLIENT_DIRTY_CAS;
    if (cl->flags & (CAIRN_CLIENT_DIRTY_CAS | CAIRN_CLIENT_DIRTY_EXEC)) {
      if (cl->flags & CAIRN_CLIENT_DIRTY_EXEC)
        cairn_reply_error(&c->reply, "-EXECABORT Transaction discarded because of previous errors.");
      else
        cairn_reply_null_array(&c->reply);
      cairn_multi_client_reset(cl);
      return;
    }
    /* Unwatch before running: our own writes must not fail us. */
    unwatch_all(cl);
    if (m) {
      m->exec_started = 1;
      m->db_at_exec = cl->db;
    }
  }
  int n = m ? m->count : 0;
  cairn_reply_array(&c->reply, n);
  cl->flags |= CAIRN_CLIENT_IN_EXEC;
  cairn_pubsub_hold(c->srv);
  for (int i = 0; i < n && !c->store_rc; i++)
    cairn_execute_queued(c, m->cmds[i].cmd, m->cmds[i].argc, m->cmds[i].argv);
  cl->flags &= ~CAIRN_CLIENT_IN_EXEC;
  cairn_pubsub_release(c->srv, c->store_rc == 0);
  if (c->store_rc) {
    /* Rolled back and run again by cairn_execute: start from the same db. */
    cl->db = m->db_at_exec;
    return;
  }
  c->custom_propagation = 1; /* EXEC itself is never propagated: its commands are */
  c->db = cl->db;
  cl->last_cmd = "exec";
  cairn_multi_client_reset(cl);
}

static void cmd_watch(cairn_ctx *c) {
  cairn_client *cl = c->client;
  if (!cl) return;
  if (cl->flags & CAIRN_CLIENT_MULTI) {
    cairn_reply_error(&c->reply, "WATCH inside MULTI is not allowed");
    return;
  }
  /* No point in watching if the client is already dirty. */
  if (!(cl->flags & CAIRN_CLIENT_DIRTY_CAS)) {
    for (int j = 1; j < c->argc; j++) {
      watch_key(c, c->argv[j]);
      if (c->store_rc) return;
    }
  }
  cairn_reply_ok(&c->reply);
}

static void cmd_unwatch(cairn_ctx *c) {
  if (c->client) {
    unwatch_all(c->client);
    c->client->flags &= ~CAIRN_CLIENT_DIRTY_CAS;
  }
  cairn_reply_ok(&c->reply);
}

const cairn_command cairn_commands_multi[] = {
    CAIRN_CMD("multi", 1, CAIRN_CMD_ALLOW_BUSY | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE | CAIRN_CMD_NOT_QUEUED, 0, 0, 0,
              cmd_multi, "transactions", "Start a transaction", "1.2.0", ""),
    CAIRN_CMD("exec", 1, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE | CAIRN_CMD_NOT_QUEUED | CAIRN_CMD_RUNS_QUEUED, 0,
              0, 0, cmd_exec, "transactions", "Execute all commands issued after MULTI", "1.2.0", ""),
    CAIRN_CMD("discard", 1, CAIRN_CMD_ALLOW_BUSY | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE | CAIRN_CMD_NOT_QUEUED, 0, 0, 0,
              cmd_discard, "transactions", "Discard all commands issued after MULTI", "2.0.0", ""),
    CAIRN_CMD("watch", -2, CAIRN_CMD_ALLOW_BUSY | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE | CAIRN_CMD_NOT_QUEUED, 1, -1, 1,
              cmd_watch, "transactions", "Watch the given keys to determine execution of the MULTI/EXEC block", "2.2.0",
              "key [key ...]"),
    CAIRN_CMD("unwatch", 1, CAIRN_CMD_ALLOW_BUSY | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_unwatch,
              "transactions", "Forget about all watched keys", "2.2.0", ""),
    CAIRN_CMD_END,
};
