/* Key access for handlers: lookups with lazy expiry, collection headers,
 * the hashed-member scan and random pick, expiry changes with their stream
 * form (engine/keyspace.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/server.h"
#include "engine/util.h"

int cairn_store_failed(cairn_ctx *c, int rc) {
  if (c->store_rc == 0) c->store_rc = rc < 0 ? rc : CAIRN_STORE_IO;
  return -1;
}

cairn_store *cairn_ctx_store(cairn_ctx *c) { return c->srv->store; }

int cairn_lookup(cairn_ctx *c, cairn_str key, cairn_value *out) {
  int rc = cairn_store_get(c->srv->store, c->db, key, out);
  if (rc < 0) return cairn_store_failed(c, rc);
  if (rc == 1 && out->expire_ms >= 0 && out->expire_ms <= c->now_ms && !c->replaying &&
      (c->srv->replica_mode || cairn_clients_paused(c->srv))) {
    /* A replica never expires keys itself: its master's DEL will come. To
     * its readers the key is already gone. Same during CLIENT PAUSE (Redis
     * 7.0: no DEL may reach the stream while paused): it expires after. */
    rc = 0;
  } else if (rc == 1 && out->expire_ms >= 0 && out->expire_ms <= c->now_ms && !c->replaying) {
    /* Lazy expiry: only here (and in the active cycle) do keys die; the
     * deletion goes into the stream as DEL so replicas and replay agree. */
    rc = cairn_store_del(c->srv->store, c->db, key);
    if (rc < 0) return cairn_store_failed(c, rc);
    c->srv->stats.expired_keys++;
    cairn_propagate_del(c, c->db, key);
    cairn_notify(c, CAIRN_NOTIFY_EXPIRED, "expired", key);
    rc = 0;
  }
  /* Like Redis's lookupKeyRead: only read commands count hits and misses. */
  if (c->cmd && (c->cmd->flags & CAIRN_CMD_READONLY)) {
    if (rc == 1)
      c->srv->stats.keyspace_hits++;
    else
      c->srv->stats.keyspace_misses++;
    if (rc == 0) cairn_notify(c, CAIRN_NOTIFY_KEY_MISS, "keymiss", key);
  }
  return rc;
}

int cairn_lookup_type(cairn_ctx *c, cairn_str key, uint8_t type, cairn_value *out) {
  int rc = cairn_lookup(c, key, out);
  if (rc == 1 && out->type != type) {
    cairn_reply_error(&c->reply, CAIRN_ERR_WRONGTYPE);
    return -1;
  }
  return rc;
}

int cairn_lookup_coll(cairn_ctx *c, cairn_str key, uint8_t type, cairn_value *val, cairn_coll *coll) {
  int rc = cairn_lookup_type(c, key, type, val);
  if (rc != 1) return rc;
  if (cairn_coll_decode(val, coll) != 0) {
    /* Only a damaged store gets here: refuse rather than guess. */
    cairn_reply_error(&c->reply, "-ERR corrupt collection header");
    return -1;
  }
  return 1;
}

void cairn_coll_scan(cairn_ctx *c, uint8_t type, int with_values, size_t (*val_text)(cairn_str raw, char *buf)) {
  uint64_t cursor;
  if (cairn_arg_cursor(c, c->argv[2], &cursor) != 0) return;
  cairn_value val;
  cairn_coll coll;
  int rc = cairn_lookup_coll(c, c->argv[1], type, &val, &coll);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_array(&c->reply, 2);
    cairn_reply_bulk(&c->reply, "0", 1);
    cairn_reply_array(&c->reply, 0);
    return;
  }
  long long count = 10;
  cairn_str pat = {NULL, 0};
  int use_pat = 0;
  for (int i = 3; i < c->argc;) {
    int left = c->argc - i;
    if (cairn_arg_is(c->argv[i], "count") && left >= 2) {
      if (cairn_arg_ll(c, c->argv[i + 1], &count) != 0) return;
      if (count < 1) {
        cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
        return;
      }
      i += 2;
    } else if (cairn_arg_is(c->argv[i], "match") && left >= 2) {
      pat = c->argv[i + 1];
      use_pat = !(pat.len == 1 && pat.p[0] == '*');
      i += 2;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  unsigned char from[8];
  for (int k = 0; k < 8; k++) from[k] = (unsigned char)(cursor >> (56 - 8 * k));
  cairn_elem_iter *it;
  if ((rc = cairn_elem_iter_open(c->srv->store, coll.id, CAIRN_SPACE_MEMBERS, from, 8, 0, &it)) < 0) {
    cairn_store_failed(c, rc);
    return;
  }
  /* The cursor comes first in the reply but is known last: items go to a
   * side buffer (scan replies are bulks in RESP2 and RESP3 alike). */
  cairn_buf items = {0};
  cairn_reply side = {&items, c->reply.resp};
  long long visited = 0, n = 0;
  uint64_t next = 0, last = 0;
  cairn_str sub, v;
  while ((rc = cairn_elem_iter_next(it, &sub, &v)) > 0) {
    uint64_t pos = cairn_elem_iter_pos(it);
    if (visited >= count && pos != last) {
      next = pos; /* > last >= cursor: members sharing a hash are never split */
      break;
    }
    visited++;
    last = pos;
    if (use_pat && !cairn_glob_match(pat.p, pat.len, sub.p, sub.len, 0)) continue;
    cairn_reply_bulk(&side, sub.p, sub.len);
    n++;
    if (!with_values) continue;
    if (val_text) {
      char num[128];
      cairn_reply_bulk(&side, num, val_text(v, num));
    } else {
      cairn_reply_bulk(&side, v.p, v.len);
    }
    n++;
  }
  cairn_elem_iter_close(it);
  if (rc < 0) {
    cairn_store_failed(c, rc);
  } else {
    char cur[24];
    cairn_reply_array(&c->reply, 2);
    cairn_reply_bulk(&c->reply, cur, cairn_ull2str(cur, next));
    cairn_reply_array(&c->reply, n);
    cairn_reply_raw(&c->reply, items.p, items.len);
  }
  cairn_buf_free(&items);
}

void cairn_touch(cairn_ctx *c, cairn_str key) { cairn_store_touch(c->srv->store, c->db, key); }

int cairn_coll_save(cairn_ctx *c, cairn_str key, uint8_t type, const cairn_coll *coll, int64_t expire_ms) {
  int rc = cairn_coll_put(c->srv->store, c->db, key, type, coll, expire_ms);
  if (rc == 1 && coll->count > 0) cairn_notify(c, CAIRN_NOTIFY_NEW, "new", key);
  return rc < 0 ? cairn_store_failed(c, rc) : 0;
}

int cairn_key_put_blind(cairn_ctx *c, cairn_str key, cairn_str val, int64_t expire_ms) {
  const cairn_config *cfg = &c->srv->cfg;
  /* (not while the loop prefetches: the pipeline's keys were just read in
   * by the readers, the lookup is cached, and a deferred one would queue
   * behind their disk reads) */
  if (cfg->notify_keyspace_events || !cfg->deferred_lookups || c->srv->prefetch_on) return 0;
  return cairn_store_put_deferred(c->srv->store, c->db, key, CAIRN_TYPE_STRING, val.p, val.len, expire_ms,
                                  cfg->deferred_lookups_min_keys);
}

int cairn_key_put(cairn_ctx *c, int db, cairn_str key, uint8_t type, const void *data, size_t len, int64_t expire_ms) {
  int rc = cairn_store_put(c->srv->store, db, key, type, data, len, expire_ms);
  if (rc == 1) cairn_notify_db(c, db, CAIRN_NOTIFY_NEW, "new", key);
  return rc;
}

int cairn_coll_random(cairn_ctx *c, uint64_t id, cairn_buf *sub, cairn_buf *val) {
  unsigned char from[8];
  uint64_t r = cairn_rand64();
  for (int i = 0; i < 8; i++) from[i] = (unsigned char)(r >> (56 - 8 * i));
  uint64_t steps = cairn_rand_below(64);
  cairn_store *st = c->srv->store;
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(st, id, CAIRN_SPACE_MEMBERS, from, 8, 0, &it);
  if (rc < 0) return cairn_store_failed(c, rc);
  cairn_str s, v;
  int wrapped = 0, found = 0;
  for (uint64_t i = 0; i <= steps;) {
    rc = cairn_elem_iter_next(it, &s, &v);
    if (rc < 0) break;
    if (rc == 0) {
      cairn_elem_iter_close(it);
      it = NULL;
      if (wrapped++) break; /* empty */
      if ((rc = cairn_elem_iter_open(st, id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it)) < 0) break;
      continue;
    }
    if (i++ == steps) {
      sub->len = 0;
      cairn_buf_reserve(sub, s.len + 1);
      cairn_buf_append(sub, s.p, s.len);
      if (val) {
        val->len = 0;
        cairn_buf_reserve(val, v.len + 1);
        cairn_buf_append(val, v.p, v.len);
      }
      found = 1;
    }
  }
  if (it) cairn_elem_iter_close(it);
  return rc < 0 ? cairn_store_failed(c, rc) : found;
}

int cairn_expire_key_at(cairn_ctx *c, cairn_str key, int64_t when_ms) {
  cairn_store *s = c->srv->store;
  int rc;
  if (when_ms <= c->now_ms && !c->replaying) {
    /* Already in the past: the key goes now, and the stream says DEL. */
    if ((rc = cairn_store_del(s, c->db, key)) < 0) return cairn_store_failed(c, rc);
    c->dirty++;
    cairn_propagate_del(c, c->db, key);
    c->custom_propagation = 1;
    cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
    return 0;
  }
  if (when_ms < 0) when_ms = 0; /* replaying a past time: -1 would mean "no expiry" */
  if ((rc = cairn_store_set_expire(s, c->db, key, when_ms)) < 0) return cairn_store_failed(c, rc);
  c->dirty++;
  char ms[24];
  size_t n = cairn_ll2str(ms, when_ms);
  cairn_str argv[3] = {{"PEXPIREAT", 9}, key, {ms, n}};
  cairn_propagate(c, c->db, 3, argv);
  c->custom_propagation = 1;
  cairn_notify(c, CAIRN_NOTIFY_GENERIC, "expire", key);
  return 0;
}

int cairn_persist_key(cairn_ctx *c, cairn_str key) {
  int rc = cairn_store_set_expire(c->srv->store, c->db, key, -1);
  if (rc < 0) return cairn_store_failed(c, rc);
  c->dirty++;
  cairn_str argv[2] = {{"PERSIST", 7}, key};
  cairn_propagate(c, c->db, 2, argv);
  c->custom_propagation = 1;
  cairn_notify(c, CAIRN_NOTIFY_GENERIC, "persist", key);
  return 0;
}

