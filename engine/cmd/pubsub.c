/* Pub/sub: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB, and
 * the sharded kind SSUBSCRIBE SUNSUBSCRIBE SPUBLISH.
 *
 * Channels, patterns and shard channels are three tables name ->
 * subscribers (one per kind); each client keeps its own subscriptions (per
 * kind, a table keyed by the entry, for duplicate checks, and a list, for
 * unsubscribing from everything). Without cluster mode a shard channel is a
 * channel of its own namespace, as in Redis 7.0: SPUBLISH reaches only its
 * SSUBSCRIBErs (no patterns), as "smessage", and is propagated like PUBLISH. Messages are written into the
 * subscribers' output at once and sent at the end of the loop iteration
 * without waiting for the WAL (cairn_client_push); the pubsub output-buffer
 * class limits a slow subscriber. PUBLISH is propagated like Redis does (it
 * goes into the stream and the WAL; replicas deliver it to their own
 * subscribers), except on a replica, whose stream is its master's.
 *
 * Cost: SUBSCRIBE/UNSUBSCRIBE O(1) per channel; PUBLISH O(subscribers of the
 * channel + patterns in use) like Redis; PUBSUB CHANNELS O(channels). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cmd/hmap.h"
#include "engine/server.h"
#include "engine/pubsub.h"
#include "engine/util.h"

typedef struct psub psub;

typedef struct pentry { /* a channel or a pattern with subscribers */
  cairn_hnode h;
  psub *subs;
  long nsubs;
  size_t len;
  char name[];
} pentry;

struct psub { /* one client's subscription to one entry */
  cairn_hnode h;  /* in the client's table, hashed by the entry's address */
  pentry *e;
  cairn_client *c;
  psub *eprev, *enext; /* the entry's subscribers */
  psub *cprev, *cnext; /* the client's subscriptions of that kind */
};

enum { K_CHANNEL, K_PATTERN, K_SHARD, NKINDS }; /* the kinds of subscription */

typedef struct pclient {
  cairn_hmap t[NKINDS];
  psub *list[NKINDS];
} pclient;

/* The server's pub/sub state (srv->pubsub), made at the first use. */
typedef struct held_msg {
  cairn_client *c;
  size_t off, len;
} held_msg;

struct cairn_pubsub {
  cairn_hmap t[NKINDS]; /* name -> pentry, per kind */
  /* messages published while held (cairn_pubsub_hold) */
  int hold_depth;
  cairn_buf held_bytes;
  held_msg *held;
  size_t nheld, held_cap;
};

static cairn_pubsub *state_of(cairn_server *srv) {
  if (!srv->pubsub) srv->pubsub = cairn_xcalloc(1, sizeof(*srv->pubsub));
  return srv->pubsub;
}

static uint64_t name_hash(cairn_str s) { return cairn_hash64(s.p, s.len, 0x70756273ULL); }
static uint64_t ptr_hash(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

static pentry *entry_find(cairn_hmap *t, cairn_str name, uint64_t h) {
  for (cairn_hnode *n = cairn_hmap_chain(t, h); n; n = n->hnext) {
    pentry *e = (pentry *)n;
    if (n->hash == h && e->len == name.len && memcmp(e->name, name.p, name.len) == 0) return e;
  }
  return NULL;
}

static psub *client_find(cairn_hmap *t, const pentry *e) {
  uint64_t h = ptr_hash(e);
  for (cairn_hnode *n = cairn_hmap_chain(t, h); n; n = n->hnext)
    if (((psub *)n)->e == e) return (psub *)n;
  return NULL;
}

/* The count a (un)subscribe confirmation carries: channels and patterns
 * (Redis's clientSubscriptionsCount), or shard channels alone. */
static long sub_count(const cairn_client *c, int kind) {
  const pclient *pc = c->pubsub;
  if (!pc) return 0;
  return kind == K_SHARD ? (long)pc->t[K_SHARD].n : (long)(pc->t[K_CHANNEL].n + pc->t[K_PATTERN].n);
}

static void update_flag(cairn_client *c) {
  if (sub_count(c, K_CHANNEL) + sub_count(c, K_SHARD) > 0) {
    c->flags |= CAIRN_CLIENT_PUBSUB;
  } else {
    c->flags &= ~CAIRN_CLIENT_PUBSUB;
    free(c->pubsub);
    c->pubsub = NULL;
  }
}

/* Returns 1 if newly subscribed. */
static int subscribe(cairn_client *c, int kind, cairn_str name) {
  if (!c->pubsub) c->pubsub = cairn_xcalloc(1, sizeof(pclient));
  pclient *pc = c->pubsub;
  cairn_pubsub *P = state_of(c->srv);
  cairn_hmap *table = &P->t[kind];
  uint64_t h = name_hash(name);
  pentry *e = entry_find(table, name, h);
  if (e && client_find(&pc->t[kind], e)) return 0;
  if (!e) {
    e = cairn_xcalloc(1, sizeof(*e) + name.len + 1);
    e->h.hash = h;
    e->len = name.len;
    if (name.len) memcpy(e->name, name.p, name.len);
    cairn_hmap_insert(table, &e->h);
  }
  psub *s = cairn_xcalloc(1, sizeof(*s));
  s->e = e;
  s->c = c;
  s->h.hash = ptr_hash(e);
  s->enext = e->subs;
  if (e->subs) e->subs->eprev = s;
  e->subs = s;
  e->nsubs++;
  psub **list = &pc->list[kind];
  s->cnext = *list;
  if (*list) (*list)->cprev = s;
  *list = s;
  cairn_hmap_insert(&pc->t[kind], &s->h);
  c->flags |= CAIRN_CLIENT_PUBSUB;
  return 1;
}

static void drop_sub(cairn_client *c, int kind, psub *s) {
  pclient *pc = c->pubsub;
  cairn_pubsub *P = state_of(c->srv);
  pentry *e = s->e;
  if (s->eprev)
    s->eprev->enext = s->enext;
  else
    e->subs = s->enext;
  if (s->enext) s->enext->eprev = s->eprev;
  if (--e->nsubs == 0) {
    cairn_hmap_remove(&P->t[kind], &e->h);
    free(e);
  }
  psub **list = &pc->list[kind];
  if (s->cprev)
    s->cprev->cnext = s->cnext;
  else
    *list = s->cnext;
  if (s->cnext) s->cnext->cprev = s->cprev;
  cairn_hmap_remove(&pc->t[kind], &s->h);
  free(s);
}

/* Returns 1 if it was subscribed. */
static int unsubscribe(cairn_client *c, int kind, cairn_str name) {
  pclient *pc = c->pubsub;
  if (!pc) return 0;
  cairn_pubsub *P = state_of(c->srv);
  pentry *e = entry_find(&P->t[kind], name, name_hash(name));
  psub *s = e ? client_find(&pc->t[kind], e) : NULL;
  if (!s) return 0;
  drop_sub(c, kind, s);
  return 1;
}

/* ---------------------------------------------------------------- delivery */

static void deliver(cairn_client *c, const cairn_buf *msg) {
  cairn_pubsub *P = state_of(c->srv);
  if (P->hold_depth == 0) {
    cairn_client_push(c, msg->p, msg->len);
    return;
  }
  if (P->nheld == P->held_cap) {
    P->held_cap = P->held_cap ? P->held_cap * 2 : 16;
    P->held = cairn_xrealloc(P->held, P->held_cap * sizeof(*P->held));
  }
  P->held[P->nheld++] = (held_msg){c, P->held_bytes.len, msg->len};
  cairn_buf_append(&P->held_bytes, msg->p, msg->len);
}

void cairn_pubsub_hold(cairn_server *srv) { state_of(srv)->hold_depth++; }

void cairn_pubsub_release(cairn_server *srv, int ok) {
  cairn_pubsub *P = state_of(srv);
  if (P->hold_depth == 0 || --P->hold_depth > 0) return;
  if (ok)
    for (size_t i = 0; i < P->nheld; i++) cairn_client_push(P->held[i].c, P->held_bytes.p + P->held[i].off, P->held[i].len);
  P->nheld = 0;
  P->held_bytes.len = 0;
  cairn_buf_shrink(&P->held_bytes, 64 * 1024);
}

static void forget_held(cairn_pubsub *P, cairn_client *c) {
  for (size_t i = 0; i < P->nheld; i++)
    if (P->held[i].c == c) P->held[i].len = 0, P->held[i].c = NULL;
  size_t j = 0;
  for (size_t i = 0; i < P->nheld; i++)
    if (P->held[i].c) P->held[j++] = P->held[i];
  P->nheld = j;
}

void cairn_pubsub_client_reset(cairn_client *c) {
  cairn_pubsub *P = c->srv->pubsub;
  if (P && P->nheld) forget_held(P, c);
  pclient *pc = c->pubsub;
  if (pc)
    for (int k = 0; k < NKINDS; k++)
      while (pc->list[k]) drop_sub(c, k, pc->list[k]);
  update_flag(c);
}

void cairn_pubsub_client_counts(const cairn_client *c, long *chans, long *pats, long *shards) {
  const pclient *pc = c->pubsub;
  *chans = pc ? (long)pc->t[K_CHANNEL].n : 0;
  *pats = pc ? (long)pc->t[K_PATTERN].n : 0;
  *shards = pc ? (long)pc->t[K_SHARD].n : 0;
}

void cairn_pubsub_counts(cairn_server *srv, long *chans, long *pats, long *shards) {
  cairn_pubsub *P = state_of(srv);
  *chans = (long)P->t[K_CHANNEL].n;
  *pats = (long)P->t[K_PATTERN].n;
  *shards = (long)P->t[K_SHARD].n;
}

/* ["message", channel, payload], ["smessage", shard channel, payload] or
 * ["pmessage", pattern, channel, payload], as a RESP2 array or a RESP3 push. */
static void build_message(cairn_buf *b, int resp, int kind, const pentry *pat, cairn_str ch, cairn_str msg) {
  b->len = 0;
  cairn_reply r = {b, resp};
  cairn_reply_push(&r, pat ? 4 : 3);
  if (pat) {
    cairn_reply_bulk(&r, "pmessage", 8);
    cairn_reply_bulk(&r, pat->name, pat->len);
  } else if (kind == K_SHARD) {
    cairn_reply_bulk(&r, "smessage", 8);
  } else {
    cairn_reply_bulk(&r, "message", 7);
  }
  cairn_reply_bulk(&r, ch.p, ch.len);
  cairn_reply_bulk(&r, msg.p, msg.len);
}

static void send_to(int kind, const pentry *e, const pentry *pat, cairn_str ch, cairn_str msg, cairn_buf bufs[2]) {
  for (psub *s = e->subs; s; s = s->enext) {
    int v = s->c->resp == 3;
    if (!bufs[v].len) build_message(&bufs[v], v ? 3 : 2, kind, pat, ch, msg);
    deliver(s->c, &bufs[v]);
  }
}

/* kind: K_CHANNEL (PUBLISH: its subscribers and the matching patterns') or
 * K_SHARD (SPUBLISH: its subscribers only). */
static long publish(cairn_server *srv, int kind, cairn_str ch, cairn_str msg) {
  cairn_pubsub *P = state_of(srv);
  long receivers = 0;
  cairn_buf bufs[2] = {{0}, {0}};
  pentry *e = entry_find(&P->t[kind], ch, name_hash(ch));
  if (e) {
    send_to(kind, e, NULL, ch, msg, bufs);
    receivers += e->nsubs;
  }
  for (size_t i = 0; kind == K_CHANNEL && i < P->t[K_PATTERN].nb; i++) {
    for (cairn_hnode *n = P->t[K_PATTERN].b[i]; n; n = n->hnext) {
      pentry *p = (pentry *)n;
      if (!cairn_glob_match(p->name, p->len, ch.p, ch.len, 0)) continue;
      bufs[0].len = bufs[1].len = 0;
      send_to(K_PATTERN, p, p, ch, msg, bufs);
      receivers += p->nsubs;
    }
  }
  cairn_buf_free(&bufs[0]);
  cairn_buf_free(&bufs[1]);
  return receivers;
}

/* ---------------------------------------------------------------- keyspace notifications */

void cairn_notify_srv(cairn_server *srv, int db, int type, const char *event, cairn_str key) {
  int flags = srv->cfg.notify_keyspace_events;
  if (!(flags & type)) return;
  cairn_str ev = {event, strlen(event)};
  char dbs[24];
  size_t dblen = cairn_ll2str(dbs, db);
  cairn_buf ch = {0};
  if (flags & CAIRN_NOTIFY_KEYSPACE) {
    cairn_buf_append(&ch, "__keyspace@", 11);
    cairn_buf_append(&ch, dbs, dblen);
    cairn_buf_append(&ch, "__:", 3);
    cairn_buf_append(&ch, key.p, key.len);
    publish(srv, K_CHANNEL, (cairn_str){ch.p, ch.len}, ev);
  }
  if (flags & CAIRN_NOTIFY_KEYEVENT) {
    ch.len = 0;
    cairn_buf_append(&ch, "__keyevent@", 11);
    cairn_buf_append(&ch, dbs, dblen);
    cairn_buf_append(&ch, "__:", 3);
    cairn_buf_append(&ch, ev.p, ev.len);
    publish(srv, K_CHANNEL, (cairn_str){ch.p, ch.len}, key);
  }
  cairn_buf_free(&ch);
}

void cairn_notify_db(cairn_ctx *c, int db, int type, const char *event, cairn_str key) {
  if (!(c->srv->cfg.notify_keyspace_events & type)) return;
  if (c->replaying && !c->srv->apply_live) return; /* our own WAL: notified long ago */
  cairn_notify_srv(c->srv, db, type, event, key);
}

void cairn_notify(cairn_ctx *c, int type, const char *event, cairn_str key) { cairn_notify_db(c, c->db, type, event, key); }

void cairn_pubsub_free(cairn_server *srv) {
  cairn_pubsub *P = srv->pubsub;
  if (!P) return;
  for (int k = 0; k < NKINDS; k++) free(P->t[k].b); /* empty once every client closed */
  cairn_buf_free(&P->held_bytes);
  free(P->held);
  free(P);
  srv->pubsub = NULL;
}

/* ---------------------------------------------------------------- commands */

/* Like Redis (CLIENT_PUSHING), the confirmations are sent even under
 * CLIENT REPLY OFF/SKIP, which leave c->reply without a buffer. */
static void reply_subscription(cairn_ctx *c, int kind, const char *what, const cairn_str *name) {
  cairn_reply r = c->reply;
  if (!r.buf) r.buf = &c->client->out;
  cairn_reply_push(&r, 3);
  cairn_reply_bulk_str(&r, what);
  if (name)
    cairn_reply_bulk(&r, name->p, name->len);
  else
    cairn_reply_null(&r);
  cairn_reply_int(&r, sub_count(c->client, kind));
}

static const char *const SUBSCRIBE_WORD[NKINDS] = {"subscribe", "psubscribe", "ssubscribe"};
static const char *const UNSUBSCRIBE_WORD[NKINDS] = {"unsubscribe", "punsubscribe", "sunsubscribe"};

static void do_subscribe(cairn_ctx *c, int kind) {
  if (!c->client) return;
  /* Redis's CLIENT_DENY_BLOCKING: a transaction expects one reply per
   * command, which SSUBSCRIBE cannot promise. */
  if (kind == K_SHARD && (c->client->flags & (CAIRN_CLIENT_MULTI | CAIRN_CLIENT_IN_EXEC))) {
    cairn_reply_error(&c->reply, "SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    return;
  }
  for (int j = 1; j < c->argc; j++) {
    subscribe(c->client, kind, c->argv[j]);
    reply_subscription(c, kind, SUBSCRIBE_WORD[kind], &c->argv[j]);
  }
}

static void do_unsubscribe(cairn_ctx *c, int kind) {
  cairn_client *cl = c->client;
  if (!cl) return;
  const char *what = UNSUBSCRIBE_WORD[kind];
  if (c->argc == 1) {
    pclient *pc = cl->pubsub;
    if (!pc || !pc->list[kind]) {
      reply_subscription(c, kind, what, NULL);
    } else {
      while (pc->list[kind]) {
        psub *s = pc->list[kind];
        cairn_str name = {s->e->name, s->e->len};
        char *copy = cairn_xmemdup(name.p, name.len);
        name.p = copy;
        drop_sub(cl, kind, s);
        reply_subscription(c, kind, what, &name);
        free(copy);
      }
    }
  } else {
    for (int j = 1; j < c->argc; j++) {
      unsubscribe(cl, kind, c->argv[j]);
      reply_subscription(c, kind, what, &c->argv[j]);
    }
  }
  update_flag(cl);
}

static void cmd_subscribe(cairn_ctx *c) { do_subscribe(c, K_CHANNEL); }
static void cmd_psubscribe(cairn_ctx *c) { do_subscribe(c, K_PATTERN); }
static void cmd_ssubscribe(cairn_ctx *c) { do_subscribe(c, K_SHARD); }
static void cmd_unsubscribe(cairn_ctx *c) { do_unsubscribe(c, K_CHANNEL); }
static void cmd_punsubscribe(cairn_ctx *c) { do_unsubscribe(c, K_PATTERN); }
static void cmd_sunsubscribe(cairn_ctx *c) { do_unsubscribe(c, K_SHARD); }

static void publish_generic(cairn_ctx *c, int kind) {
  cairn_server *srv = c->srv;
  /* Replaying our own WAL: delivered long ago. Applying our master's stream:
   * our subscribers get it. */
  if (c->replaying && !srv->apply_live) return;
  long n = publish(srv, kind, c->argv[1], c->argv[2]);
  cairn_reply_int(&c->reply, n);
  /* Like Redis: into the stream (replicas deliver it too), but a replica's
   * stream is its master's, so its own clients' PUBLISHes stay local. */
  if (!c->replaying && !srv->replica_mode) cairn_propagate(c, c->db, c->argc, c->argv);
  c->custom_propagation = 1;
}

static void cmd_publish(cairn_ctx *c) { publish_generic(c, K_CHANNEL); }
static void cmd_spublish(cairn_ctx *c) { publish_generic(c, K_SHARD); }

/* PUBSUB CHANNELS / SHARDCHANNELS [pattern] */
static void list_channels(cairn_ctx *c, int kind) {
  cairn_pubsub *P = state_of(c->srv);
  size_t mark = cairn_reply_defer(&c->reply);
  long n = 0;
  for (size_t i = 0; i < P->t[kind].nb; i++) {
    for (cairn_hnode *h = P->t[kind].b[i]; h; h = h->hnext) {
      pentry *e = (pentry *)h;
      if (c->argc == 3 && !cairn_glob_match(c->argv[2].p, c->argv[2].len, e->name, e->len, 0)) continue;
      cairn_reply_bulk(&c->reply, e->name, e->len);
      n++;
    }
  }
  cairn_reply_defer_array(&c->reply, mark, n);
}

/* PUBSUB NUMSUB / SHARDNUMSUB [channel ...] */
static void count_subscribers(cairn_ctx *c, int kind) {
  cairn_pubsub *P = state_of(c->srv);
  cairn_reply_array(&c->reply, (long long)(c->argc - 2) * 2);
  for (int j = 2; j < c->argc; j++) {
    pentry *e = entry_find(&P->t[kind], c->argv[j], name_hash(c->argv[j]));
    cairn_reply_bulk(&c->reply, c->argv[j].p, c->argv[j].len);
    cairn_reply_int(&c->reply, e ? e->nsubs : 0);
  }
}

static void cmd_pubsub_channels(cairn_ctx *c) { list_channels(c, K_CHANNEL); }
static void cmd_pubsub_shardchannels(cairn_ctx *c) { list_channels(c, K_SHARD); }
static void cmd_pubsub_numsub(cairn_ctx *c) { count_subscribers(c, K_CHANNEL); }
static void cmd_pubsub_shardnumsub(cairn_ctx *c) { count_subscribers(c, K_SHARD); }

static void cmd_pubsub_numpat(cairn_ctx *c) { cairn_reply_int(&c->reply, (long long)state_of(c->srv)->t[K_PATTERN].n); }

static void cmd_pubsub_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CHANNELS [<pattern>]",
      "    Return the currently active channels matching a <pattern> (default: '*').",
      "NUMPAT",
      "    Return number of subscriptions to patterns.",
      "NUMSUB [<channel> ...]",
      "    Return the number of subscribers for the specified channels, excluding",
      "    pattern subscriptions(default: no channels).",
      "SHARDCHANNELS [<pattern>]",
      "    Return the currently active shard level channels matching a <pattern> (default: '*').",
      "SHARDNUMSUB [<shardchannel> ...]",
      "    Return the number of subscribers for the specified shard level channel(s)",
      "HELP",
      "    Prints this help.",
  };
  int n = (int)(sizeof(lines) / sizeof(lines[0]));
  cairn_reply_array(&c->reply, n);
  for (int i = 0; i < n; i++) cairn_reply_status(&c->reply, lines[i]);
}

static const cairn_command pubsub_subcommands[] = {
    CAIRN_CMD("pubsub|channels", -2, CAIRN_CMD_PUBSUB | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_pubsub_channels, "pubsub",
              "List active channels", "2.8.0", "[pattern]"),
    CAIRN_CMD("pubsub|numsub", -2, CAIRN_CMD_PUBSUB | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_pubsub_numsub, "pubsub",
              "Get the count of subscribers for channels", "2.8.0", "[channel [channel ...]]"),
    CAIRN_CMD("pubsub|numpat", 2, CAIRN_CMD_PUBSUB | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_pubsub_numpat, "pubsub",
              "Get the count of unique patterns pattern subscriptions", "2.8.0", ""),
    CAIRN_CMD("pubsub|shardchannels", -2, CAIRN_CMD_PUBSUB | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_pubsub_shardchannels,
              "pubsub", "List active shard channels", "7.0.0", "[pattern]"),
    CAIRN_CMD("pubsub|shardnumsub", -2, CAIRN_CMD_PUBSUB | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_pubsub_shardnumsub,
              "pubsub", "Get the count of subscribers for shard channels", "7.0.0",
              "[shardchannel [shardchannel ...]]"),
    CAIRN_CMD("pubsub|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_pubsub_help, "pubsub",
              "Show helpful text about the different subcommands", "6.2.0", ""),
    CAIRN_CMD_END,
};

/* PUBSUB CHANNELS and SHARDCHANNELS take one pattern at most: more is
 * Redis's syntax error (not the arity one). */
static void cmd_pubsub(cairn_ctx *c) {
  if (c->argc > 3 && (cairn_arg_is(c->argv[1], "channels") || cairn_arg_is(c->argv[1], "shardchannels"))) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  cairn_subcommand_dispatch(c);
}

const cairn_command cairn_commands_pubsub[] = {
    CAIRN_CMD("subscribe", -2, CAIRN_CMD_PUBSUB | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE |
              CAIRN_CMD_ALLOW_SUBSCRIBED, 0, 0, 0, cmd_subscribe, "pubsub",
              "Listen for messages published to the given channels", "2.0.0", "channel [channel ...]"),
    CAIRN_CMD("unsubscribe", -1, CAIRN_CMD_PUBSUB | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE |
              CAIRN_CMD_ALLOW_SUBSCRIBED, 0, 0, 0, cmd_unsubscribe, "pubsub",
              "Stop listening for messages posted to the given channels", "2.0.0", "[channel [channel ...]]"),
    CAIRN_CMD("psubscribe", -2, CAIRN_CMD_PUBSUB | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE |
              CAIRN_CMD_ALLOW_SUBSCRIBED, 0, 0, 0, cmd_psubscribe, "pubsub",
              "Listen for messages published to channels matching the given patterns", "2.0.0",
              "pattern [pattern ...]"),
    CAIRN_CMD("punsubscribe", -1, CAIRN_CMD_PUBSUB | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE |
              CAIRN_CMD_ALLOW_SUBSCRIBED, 0, 0, 0, cmd_punsubscribe, "pubsub",
              "Stop listening for messages posted to channels matching the given patterns", "2.0.0",
              "[pattern [pattern ...]]"),
    CAIRN_CMD("publish", 3, CAIRN_CMD_PUBSUB | CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE | CAIRN_CMD_MAY_REPLICATE, 0, 0, 0, cmd_publish, "pubsub",
              "Post a message to a channel", "2.0.0", "channel message"),
    /* The shard channels are named where Redis's key specs put keys (for a
     * cluster's slot routing; COMMAND GETKEYS lists them). */
    CAIRN_CMD("ssubscribe", -2, CAIRN_CMD_PUBSUB | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE |
              CAIRN_CMD_ALLOW_SUBSCRIBED, 1, -1, 1, cmd_ssubscribe, "pubsub",
              "Listen for messages published to the given shard channels", "7.0.0",
              "shardchannel [shardchannel ...]"),
    CAIRN_CMD("sunsubscribe", -1, CAIRN_CMD_PUBSUB | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE |
              CAIRN_CMD_ALLOW_SUBSCRIBED, 1, -1, 1, cmd_sunsubscribe, "pubsub",
              "Stop listening for messages posted to the given shard channels", "7.0.0",
              "[shardchannel [shardchannel ...]]"),
    CAIRN_CMD("spublish", 3, CAIRN_CMD_PUBSUB | CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE | CAIRN_CMD_MAY_REPLICATE, 1, 1, 1,
              cmd_spublish, "pubsub", "Post a message to a shard channel", "7.0.0", "shardchannel message"),
    CAIRN_CMD("pubsub", -2, 0, 0, 0, 0, cmd_pubsub, "pubsub", "A container for Pub/Sub commands", "2.8.0", "",
              .subcommands = pubsub_subcommands),
    CAIRN_CMD_END,
};

int cairn_pubsub_client_any(cairn_client *c, int (*fn)(void *ud, const char *name, size_t len, int is_pattern),
                            void *ud) {
  pclient *pc = c->pubsub;
  if (!pc) return 0;
  for (int k = 0; k < NKINDS; k++)
    for (psub *s = pc->list[k]; s; s = s->cnext)
      if (fn(ud, s->e->name, s->e->len, k == K_PATTERN)) return 1;
  return 0;
}
