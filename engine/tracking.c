/* Client-side caching: see engine/tracking.h. Costs: a read by a tracking
 * client, one table insert per key; a change of a tracked key, one lookup
 * plus O(clients) per client id to find it (ids, like Redis, so a closed
 * client needs no cleanup); a change with BCAST prefixes, O(prefixes). */
#include <stdlib.h>
#include <string.h>

#include "engine/cmd/hmap.h"
#include "engine/blocking.h"
#include "engine/keyspecs.h"
#include "engine/server.h"
#include "engine/tracking.h"
#include "engine/util.h"

typedef struct tkey {
  cairn_hnode h;
  uint64_t *ids;
  size_t n, cap;
  size_t len;
  char key[];
} tkey;

typedef struct pkey { /* a key changed under a BCAST prefix, and who changed it first */
  cairn_hnode h;
  uint64_t by;
  size_t len;
  char key[];
} pkey;

typedef struct bpfx {
  char *p;
  size_t len;
  cairn_client **cl;
  size_t ncl, capcl;
  cairn_hmap keys; /* of pkey */
} bpfx;

typedef struct tclient {
  int bcast, optin, optout, noloop, caching, broken;
  uint64_t redir;
  bpfx **pfx;
  size_t npfx;
} tclient;

typedef struct tpending {
  char *key; /* NULL: a flush (null invalidation) */
  size_t len;
} tpending;

struct cairn_tracking {
  cairn_hmap keys; /* of tkey */
  unsigned long long items;
  bpfx **pfx;
  size_t npfx;
  int clients;
  tpending *pend; /* for srv->cur_client, sent after its command */
  size_t npend, cappend;
};

static struct cairn_tracking *state(cairn_server *srv) {
  if (!srv->tracking) srv->tracking = cairn_xcalloc(1, sizeof(*srv->tracking));
  return srv->tracking;
}

static uint64_t khash(const char *p, size_t len) { return cairn_hash64(p, len, 0x7472616b); }

static tkey *tkey_find(struct cairn_tracking *T, const char *p, size_t len, uint64_t h) {
  for (cairn_hnode *e = cairn_hmap_chain(&T->keys, h); e; e = e->hnext) {
    tkey *k = (tkey *)e;
    if (e->hash == h && k->len == len && memcmp(k->key, p, len) == 0) return k;
  }
  return NULL;
}

static void tkey_free(struct cairn_tracking *T, tkey *k) {
  cairn_hmap_remove(&T->keys, &k->h);
  T->items -= k->n;
  free(k->ids);
  free(k);
}

/* ---------------------------------------------------------------- messages */

static void append_bulk(cairn_buf *b, const char *p, size_t len) {
  cairn_buf_printf(b, "$%zu\r\n", len);
  cairn_buf_append(b, p, len);
  cairn_buf_append(b, "\r\n", 2);
}

/* Redis's sendTrackingMessage: `payload` is the value part (an array of keys,
 * or a null), already encoded. */
static void send_tracking(cairn_server *srv, cairn_client *c, const char *payload, size_t plen) {
  tclient *tc = c->tracking;
  cairn_client *to = c;
  int redirected = 0;
  cairn_buf b = {0};
  if (tc && tc->redir) {
    cairn_client *r = cairn_client_by_id(srv, tc->redir);
    if (!r || (r->flags & (CAIRN_CLIENT_CLOSING | CAIRN_CLIENT_CLOSE_AFTER_REPLY | CAIRN_CLIENT_DRAINING))) {
      tc->broken = 1;
      if (c->resp > 2) {
        cairn_buf_append_str(&b, ">2\r\n$21\r\ntracking-redir-broken\r\n");
        cairn_buf_printf(&b, ":%llu\r\n", (unsigned long long)tc->redir);
        cairn_client_push(c, b.p, b.len);
      }
      cairn_buf_free(&b);
      return;
    }
    to = r;
    redirected = 1;
  }
  if (to->resp > 2) {
    cairn_buf_append_str(&b, ">2\r\n$10\r\ninvalidate\r\n");
  } else if (redirected && (to->flags & CAIRN_CLIENT_PUBSUB)) {
    cairn_buf_append_str(&b, "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
  } else {
    return; /* RESP2 without a redirection: nothing can carry it */
  }
  cairn_buf_append(&b, payload, plen);
  cairn_client_push(to, b.p, b.len);
  cairn_buf_free(&b);
}

static void send_key(cairn_server *srv, cairn_client *c, const char *key, size_t len) {
  cairn_buf b = {0};
  cairn_buf_append_str(&b, "*1\r\n");
  append_bulk(&b, key, len);
  send_tracking(srv, c, b.p, b.len);
  cairn_buf_free(&b);
}

static void send_null(cairn_server *srv, cairn_client *c) {
  /* Redis sends the null of the tracking client's protocol. */
  if (c->resp > 2)
    send_tracking(srv, c, "_\r\n", 3);
  else
    send_tracking(srv, c, "$-1\r\n", 5);
}

static void pend(struct cairn_tracking *T, const char *key, size_t len) {
  if (T->npend == T->cappend) {
    T->cappend = T->cappend ? T->cappend * 2 : 8;
    T->pend = cairn_xrealloc(T->pend, T->cappend * sizeof(*T->pend));
  }
  T->pend[T->npend].key = key ? cairn_xmemdup(key, len) : NULL;
  T->pend[T->npend].len = len;
  T->npend++;
}

/* ---------------------------------------------------------------- invalidation */

static int prefix_match(const bpfx *p, const char *key, size_t len) {
  return p->len <= len && memcmp(p->p, key, p->len) == 0;
}

static void on_key_changed(cairn_server *srv, const char *key, size_t len) {
  struct cairn_tracking *T = srv->tracking;
  if (!T) return;
  cairn_client *cur = srv->cur_client;
  for (size_t i = 0; i < T->npfx; i++) {
    bpfx *p = T->pfx[i];
    if (!prefix_match(p, key, len)) continue;
    uint64_t h = khash(key, len);
    int found = 0;
    for (cairn_hnode *e = cairn_hmap_chain(&p->keys, h); e && !found; e = e->hnext) {
      pkey *k = (pkey *)e;
      if (e->hash == h && k->len == len && memcmp(k->key, key, len) == 0) found = 1;
    }
    if (found) continue;
    pkey *k = cairn_xmalloc(sizeof(*k) + len + 1);
    k->h.hash = h;
    k->by = cur ? cur->id : 0;
    k->len = len;
    memcpy(k->key, key, len);
    cairn_hmap_insert(&p->keys, &k->h);
  }
  uint64_t h = khash(key, len);
  tkey *k = tkey_find(T, key, len, h);
  if (!k) return;
  for (size_t i = 0; i < k->n; i++) {
    cairn_client *t = cairn_client_by_id(srv, k->ids[i]);
    tclient *tc = t ? t->tracking : NULL;
    if (!tc || tc->bcast) continue;
    if (tc->noloop && t == cur) continue;
    if (t == cur)
      pend(T, key, len); /* after its reply */
    else
      send_key(srv, t, key, len);
  }
  tkey_free(T, k);
}

static void on_touch(void *ud, int db, cairn_str key) {
  cairn_server *srv = ud;
  if (srv->touch_watch) srv->touch_watch(ud, db, key);
  cairn_blocking_touched(srv, db, key); /* blocked XREADGROUPs learn of deleted streams */
  if (key.p && srv->tracking && (srv->tracking->keys.n || srv->tracking->npfx)) on_key_changed(srv, key.p, key.len);
}

void cairn_touch_hooks_update(cairn_server *srv) {
  int tracking = srv->tracking && (srv->tracking->keys.n || srv->tracking->npfx);
  if (srv->touch_watch || tracking || cairn_blocking_wants_touch(srv))
    cairn_store_set_touch(srv->store, on_touch, srv);
  else
    cairn_store_set_touch(srv->store, NULL, NULL);
}

/* Frees every remembered key and its table. */
static void free_keys(struct cairn_tracking *T) {
  for (size_t i = 0; i < T->keys.nb; i++) {
    cairn_hnode *e = T->keys.b[i];
    while (e) {
      cairn_hnode *next = e->hnext;
      free(((tkey *)e)->ids);
      free(e);
      e = next;
    }
  }
  free(T->keys.b);
}

void cairn_tracking_flush(cairn_ctx *c) {
  cairn_server *srv = c->srv;
  struct cairn_tracking *T = srv->tracking;
  if (!T) return;
  if (T->clients) {
    for (cairn_client *cl = srv->clients; cl; cl = cl->next) {
      if (!cl->tracking) continue;
      if (cl == srv->cur_client)
        pend(T, NULL, 0);
      else
        send_null(srv, cl);
    }
  }
  free_keys(T);
  memset(&T->keys, 0, sizeof(T->keys));
  T->items = 0;
  cairn_touch_hooks_update(srv);
}

/* ---------------------------------------------------------------- remembering */

static void remember(cairn_server *srv, cairn_client *cl, const char *key, size_t len) {
  struct cairn_tracking *T = state(srv);
  uint64_t h = khash(key, len);
  tkey *k = tkey_find(T, key, len, h);
  if (!k) {
    k = cairn_xcalloc(1, sizeof(*k) + len + 1);
    k->h.hash = h;
    k->len = len;
    memcpy(k->key, key, len);
    cairn_hmap_insert(&T->keys, &k->h);
    if (T->keys.n == 1) cairn_touch_hooks_update(srv);
  }
  for (size_t i = 0; i < k->n; i++)
    if (k->ids[i] == cl->id) return;
  if (k->n == k->cap) {
    k->cap = k->cap ? k->cap * 2 : 2;
    k->ids = cairn_xrealloc(k->ids, k->cap * sizeof(*k->ids));
  }
  k->ids[k->n++] = cl->id;
  T->items++;
}

static void remember_command_keys(cairn_ctx *c);

void cairn_tracking_after_call(cairn_ctx *c) {
  cairn_client *cl = c->client;
  tclient *tc = cl ? cl->tracking : NULL;
  if (!tc || tc->bcast || !c->cmd || !(c->cmd->flags & CAIRN_CMD_READONLY)) return;
  if (c->cmd->flags & CAIRN_CMD_RUNS_SCRIPT) return; /* EVAL_RO: by what the script read */
  remember_command_keys(c);
}

/* A script (EVAL, FCALL) that ran a read-only command: its declared keys
 * are tracked, like Redis 7.0 (the commands it called are not). */
void cairn_tracking_script_read(cairn_ctx *c) {
  cairn_client *cl = c->client;
  tclient *tc = cl ? cl->tracking : NULL;
  if (!tc || tc->bcast || !c->cmd) return;
  remember_command_keys(c);
}

static void remember_command_keys(cairn_ctx *c) {
  cairn_client *cl = c->client;
  tclient *tc = cl->tracking;
  if (c->cmd->flags & CAIRN_CMD_PUBSUB) return;
  if ((tc->optin && !tc->caching) || (tc->optout && tc->caching)) return;
  cairn_keyref *refs = NULL;
  int n = cairn_command_keys(c->cmd, c->argc, c->argv, &refs);
  for (int i = 0; i < n; i++) {
    cairn_str k = c->argv[refs[i].pos];
    remember(c->srv, cl, k.p, k.len);
  }
  free(refs);
}

void cairn_tracking_after_command(cairn_server *srv, cairn_client *client, const cairn_command *cmd) {
  struct cairn_tracking *T = srv->tracking;
  if (!T) return;
  if (T->npend) {
    for (size_t i = 0; i < T->npend; i++) {
      if (client && !(client->flags & CAIRN_CLIENT_CLOSING) && client->tracking) {
        if (T->pend[i].key)
          send_key(srv, client, T->pend[i].key, T->pend[i].len);
        else
          send_null(srv, client);
      }
      free(T->pend[i].key);
    }
    T->npend = 0;
  }
  tclient *tc = client ? client->tracking : NULL;
  /* CLIENT CACHING holds for the next command only (a transaction: until
   * EXEC), like Redis's resetClient. */
  if (tc && tc->caching && !(client->flags & CAIRN_CLIENT_MULTI) && !(cmd && !strcmp(cmd->name, "client")))
    tc->caching = 0;
}

/* ---------------------------------------------------------------- BCAST */

static int by_key(const void *a, const void *b) {
  const pkey *x = *(pkey *const *)a, *y = *(pkey *const *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int r = memcmp(x->key, y->key, n);
  return r ? r : (x->len > y->len) - (x->len < y->len);
}

static void broadcast(cairn_server *srv, bpfx *p) {
  size_t n = p->keys.n, m = 0;
  pkey **v = cairn_xmalloc(n * sizeof(*v));
  for (size_t i = 0; i < p->keys.nb; i++)
    for (cairn_hnode *e = p->keys.b[i]; e; e = e->hnext) v[m++] = (pkey *)e;
  qsort(v, m, sizeof(*v), by_key);
  cairn_buf all = {0}, some = {0};
  cairn_buf_printf(&all, "*%zu\r\n", m);
  for (size_t i = 0; i < m; i++) append_bulk(&all, v[i]->key, v[i]->len);
  for (size_t j = 0; j < p->ncl; j++) {
    cairn_client *c = p->cl[j];
    tclient *tc = c->tracking;
    if (tc->noloop) {
      size_t cnt = 0;
      some.len = 0;
      cairn_buf body = {0};
      for (size_t i = 0; i < m; i++) {
        if (v[i]->by == c->id) continue;
        append_bulk(&body, v[i]->key, v[i]->len);
        cnt++;
      }
      if (cnt) {
        cairn_buf_printf(&some, "*%zu\r\n", cnt);
        cairn_buf_append(&some, body.p, body.len);
        send_tracking(srv, c, some.p, some.len);
      }
      cairn_buf_free(&body);
    } else {
      send_tracking(srv, c, all.p, all.len);
    }
  }
  cairn_buf_free(&all);
  cairn_buf_free(&some);
  for (size_t i = 0; i < m; i++) {
    cairn_hmap_remove(&p->keys, &v[i]->h);
    free(v[i]);
  }
  free(v);
}

static void limit_table(cairn_server *srv);

void cairn_tracking_iteration_end(cairn_server *srv) {
  struct cairn_tracking *T = srv->tracking;
  if (!T) return;
  for (size_t i = 0; i < T->npfx; i++)
    if (T->pfx[i]->keys.n) broadcast(srv, T->pfx[i]);
  limit_table(srv);
}

/* tracking-table-max-keys: past it, keys are invalidated (their clients are
 * told, as if the key changed) until the table fits; 0 = no limit. */
static void limit_table(cairn_server *srv) {
  struct cairn_tracking *T = srv->tracking;
  long long max = srv->cfg.tracking_table_max_keys;
  if (!T || max <= 0 || T->keys.n <= (size_t)max) return;
  cairn_client *cur = srv->cur_client;
  srv->cur_client = NULL;
  while (T->keys.n > (size_t)max) {
    cairn_hnode *e = NULL;
    for (size_t i = 0; i < T->keys.nb && !e; i++) e = T->keys.b[(i + (size_t)rand()) & (T->keys.nb - 1)];
    if (!e) break;
    tkey *k = (tkey *)e;
    char *key = cairn_xmemdup(k->key, k->len);
    size_t len = k->len;
    on_key_changed(srv, key, len); /* tells and frees the entry */
    free(key);
  }
  srv->cur_client = cur;
  cairn_touch_hooks_update(srv);
}

void cairn_tracking_limit(cairn_server *srv) { limit_table(srv); }

/* ---------------------------------------------------------------- enabling */

static bpfx *prefix_get(struct cairn_tracking *T, const char *p, size_t len) {
  for (size_t i = 0; i < T->npfx; i++)
    if (T->pfx[i]->len == len && memcmp(T->pfx[i]->p, p, len) == 0) return T->pfx[i];
  bpfx *x = cairn_xcalloc(1, sizeof(*x));
  x->p = cairn_xmemdup(p, len ? len : 1);
  x->len = len;
  T->pfx = cairn_xrealloc(T->pfx, (T->npfx + 1) * sizeof(*T->pfx));
  T->pfx[T->npfx++] = x;
  return x;
}

static void prefix_free(struct cairn_tracking *T, bpfx *x) {
  for (size_t i = 0; i < T->npfx; i++) {
    if (T->pfx[i] != x) continue;
    T->pfx[i] = T->pfx[--T->npfx];
    break;
  }
  for (size_t i = 0; i < x->keys.nb; i++) {
    cairn_hnode *e = x->keys.b[i];
    while (e) {
      cairn_hnode *next = e->hnext;
      free(e);
      e = next;
    }
  }
  free(x->keys.b);
  free(x->cl);
  free(x->p);
  free(x);
}

static void disable(cairn_client *c) {
  tclient *tc = c->tracking;
  if (!tc) return;
  struct cairn_tracking *T = state(c->srv);
  for (size_t i = 0; i < tc->npfx; i++) {
    bpfx *x = tc->pfx[i];
    for (size_t j = 0; j < x->ncl; j++) {
      if (x->cl[j] != c) continue;
      memmove(&x->cl[j], &x->cl[j + 1], (x->ncl - j - 1) * sizeof(*x->cl));
      x->ncl--;
      break;
    }
    if (x->ncl == 0) prefix_free(T, x);
  }
  free(tc->pfx);
  free(tc);
  c->tracking = NULL;
  T->clients--;
  cairn_touch_hooks_update(c->srv);
}

void cairn_tracking_client_reset(cairn_client *c) {
  if (c->tracking) disable(c);
}

void cairn_tracking_client_closed(cairn_client *c) {
  if (c->tracking) disable(c);
  struct cairn_tracking *T = c->srv->tracking;
  if (T && c->srv->cur_client == c) c->srv->cur_client = NULL;
}

void cairn_tracking_free(cairn_server *srv) {
  struct cairn_tracking *T = srv->tracking;
  if (!T) return;
  for (cairn_client *c = srv->clients; c; c = c->next)
    if (c->tracking) disable(c);
  free_keys(T);
  while (T->npfx) prefix_free(T, T->pfx[0]);
  free(T->pfx);
  for (size_t i = 0; i < T->npend; i++) free(T->pend[i].key);
  free(T->pend);
  free(T);
  srv->tracking = NULL;
}

/* ---------------------------------------------------------------- commands */

static int overlaps(const char *a, size_t al, const char *b, size_t bl) {
  size_t n = al < bl ? al : bl;
  return memcmp(a, b, n) == 0;
}

/* CLIENT TRACKING (ON|OFF) [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
 * [OPTOUT] [NOLOOP], Redis 7.0's checks in its order. */
void cairn_cmd_client_tracking(cairn_ctx *c) {
  cairn_client *cl = c->client;
  long long redir = 0;
  int bcast = 0, optin = 0, optout = 0, noloop = 0;
  int nprefix = 0;
  int *prefix = cairn_xcalloc((size_t)c->argc, sizeof(int));
  for (int j = 3; j < c->argc; j++) {
    int more = c->argc - 1 - j;
    if (cairn_arg_is(c->argv[j], "redirect") && more) {
      j++;
      if (redir != 0) {
        cairn_reply_error(&c->reply, "A client can only redirect to a single other client");
        goto out;
      }
      if (cairn_arg_ll(c, c->argv[j], &redir) != 0) goto out;
      if (redir <= 0 || !cairn_client_by_id(c->srv, (uint64_t)redir)) {
        cairn_reply_error(&c->reply, "The client ID you want redirect to does not exist");
        goto out;
      }
    } else if (cairn_arg_is(c->argv[j], "bcast")) {
      bcast = 1;
    } else if (cairn_arg_is(c->argv[j], "optin")) {
      optin = 1;
    } else if (cairn_arg_is(c->argv[j], "optout")) {
      optout = 1;
    } else if (cairn_arg_is(c->argv[j], "noloop")) {
      noloop = 1;
    } else if (cairn_arg_is(c->argv[j], "prefix") && more) {
      j++;
      prefix[nprefix++] = j;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      goto out;
    }
  }
  tclient *tc = cl ? cl->tracking : NULL;
  if (cairn_arg_is(c->argv[2], "on")) {
    if (!bcast && nprefix) {
      cairn_reply_error(&c->reply, "PREFIX option requires BCAST mode to be enabled");
      goto out;
    }
    if (tc && tc->bcast != bcast) {
      cairn_reply_error(&c->reply, "You can't switch BCAST mode on/off before disabling tracking for this client, "
                                   "and then re-enabling it with a different mode.");
      goto out;
    }
    if (bcast && (optin || optout)) {
      cairn_reply_error(&c->reply, "OPTIN and OPTOUT are not compatible with BCAST");
      goto out;
    }
    if (optin && optout) {
      cairn_reply_error(&c->reply, "You can't specify both OPTIN mode and OPTOUT mode");
      goto out;
    }
    if (tc && ((optin && tc->optout) || (optout && tc->optin))) {
      cairn_reply_error(&c->reply, "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, "
                                   "and then re-enabling it with a different mode.");
      goto out;
    }
    if (bcast) {
      for (int i = 0; i < nprefix; i++) {
        cairn_str a = c->argv[prefix[i]];
        for (size_t k = 0; tc && k < tc->npfx; k++) {
          bpfx *x = tc->pfx[k];
          if (overlaps(a.p, a.len, x->p, x->len)) {
            cairn_reply_errorf(&c->reply,
                               "Prefix '%.*s' overlaps with an existing prefix '%.*s'. Prefixes for a single client "
                               "must not overlap.",
                               (int)a.len, a.p, (int)x->len, x->p);
            goto out;
          }
        }
        for (int j = i + 1; j < nprefix; j++) {
          cairn_str b = c->argv[prefix[j]];
          if (overlaps(a.p, a.len, b.p, b.len)) {
            cairn_reply_errorf(&c->reply,
                               "Prefix '%.*s' overlaps with another provided prefix '%.*s'. Prefixes for a single "
                               "client must not overlap.",
                               (int)a.len, a.p, (int)b.len, b.p);
            goto out;
          }
        }
      }
    }
    if (cl) {
      struct cairn_tracking *T = state(c->srv);
      if (!tc) {
        tc = cairn_xcalloc(1, sizeof(*tc));
        cl->tracking = tc;
        T->clients++;
      }
      tc->broken = tc->optin = tc->optout = tc->noloop = 0;
      tc->redir = (uint64_t)redir;
      if (bcast) {
        tc->bcast = 1;
        int n = nprefix ? nprefix : 1;
        for (int i = 0; i < n; i++) {
          cairn_str a = nprefix ? c->argv[prefix[i]] : (cairn_str){"", 0};
          bpfx *x = prefix_get(T, a.p, a.len);
          int have = 0;
          for (size_t k = 0; k < x->ncl; k++)
            if (x->cl[k] == cl) have = 1;
          if (have) continue;
          if (x->ncl == x->capcl) {
            x->capcl = x->capcl ? x->capcl * 2 : 4;
            x->cl = cairn_xrealloc(x->cl, x->capcl * sizeof(*x->cl));
          }
          x->cl[x->ncl++] = cl;
          tc->pfx = cairn_xrealloc(tc->pfx, (tc->npfx + 1) * sizeof(*tc->pfx));
          tc->pfx[tc->npfx++] = x;
        }
      }
      tc->optin = optin;
      tc->optout = optout;
      tc->noloop = noloop;
      cairn_touch_hooks_update(c->srv);
    }
  } else if (cairn_arg_is(c->argv[2], "off")) {
    if (cl) disable(cl);
  } else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    goto out;
  }
  cairn_reply_ok(&c->reply);
out:
  free(prefix);
}

void cairn_cmd_client_caching(cairn_ctx *c) {
  tclient *tc = c->client ? c->client->tracking : NULL;
  if (!tc) {
    cairn_reply_error(&c->reply,
                      "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT "
                      "mode enabled");
    return;
  }
  if (cairn_arg_is(c->argv[2], "yes")) {
    if (!tc->optin) {
      cairn_reply_error(&c->reply, "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
      return;
    }
  } else if (cairn_arg_is(c->argv[2], "no")) {
    if (!tc->optout) {
      cairn_reply_error(&c->reply, "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
      return;
    }
  } else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  tc->caching = 1;
  cairn_reply_ok(&c->reply);
}

void cairn_cmd_client_getredir(cairn_ctx *c) {
  tclient *tc = c->client ? c->client->tracking : NULL;
  cairn_reply_int(&c->reply, tc ? (long long)tc->redir : -1);
}

void cairn_cmd_client_trackinginfo(cairn_ctx *c) {
  tclient *tc = c->client ? c->client->tracking : NULL;
  cairn_reply_map(&c->reply, 3);
  cairn_reply_bulk_str(&c->reply, "flags");
  const char *fl[8];
  int n = 0;
  if (!tc) {
    fl[n++] = "off";
  } else {
    fl[n++] = "on";
    if (tc->bcast) fl[n++] = "bcast";
    if (tc->optin) {
      fl[n++] = "optin";
      if (tc->caching) fl[n++] = "caching-yes";
    }
    if (tc->optout) {
      fl[n++] = "optout";
      if (tc->caching) fl[n++] = "caching-no";
    }
    if (tc->noloop) fl[n++] = "noloop";
    if (tc->broken) fl[n++] = "broken_redirect";
  }
  cairn_reply_set(&c->reply, n);
  for (int i = 0; i < n; i++) cairn_reply_bulk_str(&c->reply, fl[i]);
  cairn_reply_bulk_str(&c->reply, "redirect");
  cairn_reply_int(&c->reply, tc ? (long long)tc->redir : -1);
  cairn_reply_bulk_str(&c->reply, "prefixes");
  cairn_reply_array(&c->reply, tc ? (long long)tc->npfx : 0);
  for (size_t i = 0; tc && i < tc->npfx; i++) cairn_reply_bulk(&c->reply, tc->pfx[i]->p, tc->pfx[i]->len);
}

/* ---------------------------------------------------------------- introspection */

/* A client that is going away (QUIT answered, waiting for the peer's EOF)
 * counts no more: Redis has freed it by then. */
int cairn_tracking_clients(const cairn_server *srv) {
  if (!srv->tracking || !srv->tracking->clients) return 0;
  int n = 0;
  for (const cairn_client *c = srv->clients; c; c = c->next)
    if (c->tracking && !(c->flags & (CAIRN_CLIENT_CLOSING | CAIRN_CLIENT_CLOSE_AFTER_REPLY | CAIRN_CLIENT_DRAINING)))
      n++;
  return n;
}
unsigned long long cairn_tracking_total_keys(const cairn_server *srv) {
  return srv->tracking ? srv->tracking->keys.n : 0;
}
unsigned long long cairn_tracking_total_items(const cairn_server *srv) {
  return srv->tracking ? srv->tracking->items : 0;
}
unsigned long long cairn_tracking_total_prefixes(const cairn_server *srv) {
  return srv->tracking ? srv->tracking->npfx : 0;
}

void cairn_tracking_flags(const cairn_client *c, char *flags, int *n) {
  const tclient *tc = c->tracking;
  if (!tc) return;
  flags[(*n)++] = 't';
  if (tc->broken) flags[(*n)++] = 'R';
  if (tc->bcast) flags[(*n)++] = 'B';
}

long long cairn_tracking_redir(const cairn_client *c) {
  const tclient *tc = c->tracking;
  return tc ? (long long)tc->redir : -1;
}
