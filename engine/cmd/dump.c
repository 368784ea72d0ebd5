/* OBJECT, DUMP, RESTORE.
 *
 * DUMP writes the value in the RDB format of Redis 7.0 (RDB version 10)
 * followed by the version (2 bytes LE) and a CRC64 (8 bytes LE): a payload
 * real Redis 7.0 RESTOREs. Collections are streamed from an iterator into the
 * RDB writer (engine/rdb_coll.c): sets, hashes and sorted sets are
 * written in their plain encodings (types 2, 4, 5), lists as a quicklist of
 * listpack nodes (type 18); Redis converts small ones to listpack/intset
 * itself when it loads them. The payload itself is one reply, so DUMP is O(n)
 * in time and in memory.
 *
 * RESTORE loads any encoding Redis 7.0 produces (listpack, intset,
 * quicklist, the plain ones) member by member into a fresh collection id; a
 * payload that turns out corrupt half-way has its entries removed again. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cmd/generic.h"
#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/blocking.h"
#include "engine/util.h"
#include "replication/rdb/rdb.h"
#include "engine/rdb_coll.h"
#include "engine/cmd/xstream.h"

/* ---------------------------------------------------------------- OBJECT */

/* Redis's rule for a string's encoding (tryObjectEncoding): a canonical
 * integer of at most 20 characters that fits in a long is "int", a string of
 * up to 44 bytes "embstr", anything longer "raw". */
static int string_is_int(const cairn_value *v, long long *out) {
  return v->len <= 20 && cairn_str2ll(v->data, v->len, out);
}

static const char *encoding_name(const cairn_value *v) {
  long long ll;
  switch (v->type) {
    case CAIRN_TYPE_STRING:
      if (string_is_int(v, &ll)) return "int";
      return v->len <= 44 ? "embstr" : "raw";
    /* Every member is its own LMDB entry: the layout of Redis's big
     * encodings, whatever the size (docs/STORAGE.md). */
    case CAIRN_TYPE_LIST: return "quicklist";
    case CAIRN_TYPE_SET: return "hashtable";
    case CAIRN_TYPE_ZSET: return "skiplist";
    case CAIRN_TYPE_HASH: return "hashtable";
    case CAIRN_TYPE_STREAM: return "stream";
    default: return "unknown";
  }
}

static int object_lookup(cairn_ctx *c, cairn_value *v) {
  int rc = cairn_lookup(c, c->argv[2], v);
  if (rc == 0) cairn_reply_null(&c->reply);
  return rc;
}

static void cmd_object_encoding(cairn_ctx *c) {
  cairn_value v;
  if (object_lookup(c, &v) <= 0) return;
  cairn_reply_bulk_str(&c->reply, encoding_name(&v));
}

/* Redis shares the integers 0..9999 (when no maxmemory policy forbids it)
 * and reports INT_MAX for them; cairn has no objects to count, so it gives
 * the answer a Redis without maxmemory gives: INT_MAX for those, 1 for any
 * other value. */
static void cmd_object_refcount(cairn_ctx *c) {
  cairn_value v;
  if (object_lookup(c, &v) <= 0) return;
  long long ll;
  if (v.type == CAIRN_TYPE_STRING && string_is_int(&v, &ll) && ll >= 0 && ll < 10000)
    cairn_reply_int(&c->reply, INT_MAX);
  else
    cairn_reply_int(&c->reply, 1);
}

static void cmd_object_freq(cairn_ctx *c) {
  cairn_value v;
  if (object_lookup(c, &v) <= 0) return;
  cairn_reply_error(&c->reply,
                    "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
                    "switching between policies at runtime LRU and LFU data will take some time to adjust.");
}

/* cairn keeps no access time per key (recording one would turn every read
 * into a write): say so rather than invent a number. */
static void cmd_object_idletime(cairn_ctx *c) {
  cairn_value v;
  if (object_lookup(c, &v) <= 0) return;
  cairn_reply_error(&c->reply, "cairn does not record key access times, OBJECT IDLETIME is not available");
}

static void cmd_object_help(cairn_ctx *c) {
  static const char *lines[] = {
      "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "ENCODING <key>",
      "    Return the kind of internal representation used in order to store the value",
      "    associated with a <key>.",
      "FREQ <key>",
      "    Return the access frequency index of the <key>. The returned integer is",
      "    proportional to the logarithm of the recent access frequency of the key.",
      "IDLETIME <key>",
      "    Return the idle time of the <key>, that is the approximated number of",
      "    seconds elapsed since the last access to the key.",
      "REFCOUNT <key>",
      "    Return the number of references of the value associated with the specified",
      "    <key>.",
      "HELP",
      "    Prints this help.",
  };
  size_t n = sizeof(lines) / sizeof(lines[0]);
  cairn_reply_array(&c->reply, (long long)n);
  for (size_t i = 0; i < n; i++) cairn_reply_status(&c->reply, lines[i]);
}

const cairn_command cairn_object_subcommands[] = {
    CAIRN_CMD("object|encoding", 3, CAIRN_F_READ, 2, 2, 1, cmd_object_encoding, "generic",
              "Inspect the internal encoding of a Redis object", "2.2.3", "key"),
    CAIRN_CMD("object|freq", 3, CAIRN_F_READ, 2, 2, 1, cmd_object_freq, "generic",
              "Get the logarithmic access frequency counter of a Redis object", "4.0.0", "key"),
    CAIRN_CMD("object|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_object_help, "generic",
              "Show helpful text about the different subcommands", "6.2.0", ""),
    CAIRN_CMD("object|idletime", 3, CAIRN_F_READ, 2, 2, 1, cmd_object_idletime, "generic",
              "Get the time since a Redis object was last accessed", "2.2.3", "key"),
    CAIRN_CMD("object|refcount", 3, CAIRN_F_READ, 2, 2, 1, cmd_object_refcount, "generic",
              "Get the number of references to the value of the key", "2.2.3", "key"),
    CAIRN_CMD_END,
};

/* ---------------------------------------------------------------- DUMP */

/* DUMP: O(n) in the value's members (the payload is built in memory: it is
 * one bulk reply). */
void cairn_cmd_dump(cairn_ctx *c) {
  cairn_value v;
  int rc = cairn_lookup(c, c->argv[1], &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_null(&c->reply);
    return;
  }
  cairn_rdb_buf out = {0};
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, &out, -1);
  cairn_coll coll;
  int wrc;
  if (v.type == CAIRN_TYPE_STRING) {
    wrc = cairn_rdb_writer_dump_begin(w, CAIRN_RDB_KIND_STRING);
    if (wrc == 0) wrc = cairn_rdb_writer_string(w, v.data, v.len);
  } else if (cairn_coll_decode(&v, &coll) == 0) {
    wrc = cairn_rdb_dump_coll(w, cairn_ctx_store(c), v.type, &coll);
  } else {
    wrc = -1;
  }
  if (wrc == 0) wrc = cairn_rdb_writer_dump_end(w);
  if (wrc < -1) {
    cairn_store_failed(c, wrc);
  } else if (wrc != 0) {
    cairn_reply_errorf(&c->reply, "DUMP failed: %s", cairn_rdb_writer_error(w) ? cairn_rdb_writer_error(w) : "?");
  } else {
    cairn_reply_bulk(&c->reply, out.data, out.len);
  }
  cairn_rdb_writer_free(w);
  free(out.data);
}

/* ---------------------------------------------------------------- RESTORE */

typedef struct restore_load {
  cairn_ctx *c;
  int kind;              /* -1 before on_key */
  int is_coll;
  int store_rc;          /* store error met */
  int skipped;           /* stream or module value: not stored by cairn */
  cairn_coll_loader L;
  char *str;             /* string value */
  size_t slen;
} restore_load;

static int rl_key(void *ud, const cairn_rdb_key *k) {
  restore_load *rl = ud;
  rl->kind = (int)k->kind;
  if (k->kind != CAIRN_RDB_KIND_STRING) {
    rl->is_coll = 1;
    cairn_coll_loader_start(&rl->L, cairn_ctx_store(rl->c), cairn_rdb_type_of_kind(k->kind));
  }
  return 0;
}

static int rl_rc(restore_load *rl, int rc) {
  if (rc < 0) {
    rl->store_rc = rc;
    return 1;
  }
  return rc; /* 1: corrupt */
}

static int rl_string(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  restore_load *rl = ud;
  rl->str = cairn_xmemdup((const char *)v, n);
  rl->slen = n;
  return 0;
}

static int rl_elem(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  restore_load *rl = ud;
  return rl_rc(rl, cairn_coll_loader_elem(&rl->L, v, n));
}

static int rl_field(void *ud, const cairn_rdb_key *k, const uint8_t *f, size_t fl, const uint8_t *v, size_t vl) {
  restore_load *rl = ud;
  return rl_rc(rl, cairn_coll_loader_field(&rl->L, f, fl, v, vl));
}

static int rl_zmember(void *ud, const cairn_rdb_key *k, const uint8_t *m, size_t ml, double score) {
  restore_load *rl = ud;
  return rl_rc(rl, cairn_coll_loader_zmember(&rl->L, m, ml, score));
}

static int rl_stream(void *ud, const cairn_rdb_key *k, const cairn_rdb_stream_item *item) {
  restore_load *rl = ud;
  return rl_rc(rl, cairn_coll_loader_stream(&rl->L, item));
}

static int rl_skipped(void *ud, const cairn_rdb_key *k, const char *why) {
  restore_load *rl = ud;
  rl->skipped = 1;
  return 0;
}

static const cairn_rdb_callbacks restore_callbacks = {
    .on_key = rl_key,
    .on_string = rl_string,
    .on_elem = rl_elem,
    .on_field = rl_field,
    .on_zmember = rl_zmember,
    .on_stream = rl_stream,
    .on_skipped = rl_skipped,
};

/* RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
 * O(n) in the payload's members. IDLETIME and FREQ are checked like Redis
 * does, then ignored (cairn tracks neither). */
void cairn_cmd_restore(cairn_ctx *c) {
  int replace = 0, absttl = 0;
  long long idle = -1, freq = -1;
  for (int j = 4; j < c->argc; j++) {
    int more = c->argc - j - 1;
    if (cairn_arg_is(c->argv[j], "replace")) {
      replace = 1;
    } else if (cairn_arg_is(c->argv[j], "absttl")) {
      absttl = 1;
    } else if (cairn_arg_is(c->argv[j], "idletime") && more && freq == -1) {
      if (cairn_arg_ll(c, c->argv[++j], &idle) != 0) return;
      if (idle < 0) {
        cairn_reply_error(&c->reply, "Invalid IDLETIME value, must be >= 0");
        return;
      }
    } else if (cairn_arg_is(c->argv[j], "freq") && more && idle == -1) {
      if (cairn_arg_ll(c, c->argv[++j], &freq) != 0) return;
      if (freq < 0 || freq > 255) {
        cairn_reply_error(&c->reply, "Invalid FREQ value, must be >= 0 and <= 255");
        return;
      }
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  cairn_str key = c->argv[1];
  cairn_value v;
  int exists = cairn_lookup(c, key, &v);
  if (exists < 0) return;
  if (exists && !replace) {
    cairn_reply_error(&c->reply, "-BUSYKEY Target key name already exists.");
    return;
  }
  long long ttl;
  if (cairn_arg_ll(c, c->argv[2], &ttl) != 0) return;
  if (ttl < 0) {
    cairn_reply_error(&c->reply, "Invalid TTL value, must be >= 0");
    return;
  }
  cairn_str payload = c->argv[3];
  if (cairn_rdb_dump_verify(payload.p, payload.len) != 0) {
    cairn_reply_error(&c->reply, "DUMP payload version or checksum are wrong");
    return;
  }

  restore_load rl = {.c = c, .kind = -1};
  const char *errmsg = NULL;
  int prc = cairn_rdb_dump_parse(payload.p, payload.len, &restore_callbacks, &rl, 0, &errmsg, NULL, 0);
  cairn_store *s = cairn_ctx_store(c);
  if (prc == 0 && rl.store_rc == 0 && rl.is_coll && rl.L.type == CAIRN_TYPE_STREAM) {
    /* the stream's metadata entry goes in last (engine/cmd/xstream.c) */
    int src = cairn_coll_loader_stream_end(&rl.L);
    if (src < 0) rl.store_rc = src;
    else if (src > 0) prc = -1;
  }
  cairn_coll_loader_stream_free(&rl.L);
  if (rl.store_rc < 0) {
    cairn_store_failed(c, rl.store_rc); /* rolled back: no purge needed */
    goto out;
  }
  /* Redis refuses empty collections in a payload; cairn cannot store a
   * stream or a module value. */
  if (prc != 0 || rl.skipped || rl.kind < 0 || (rl.is_coll && rl.L.coll.count == 0) ||
      (!rl.is_coll && !rl.str)) {
    if (rl.is_coll && (prc = cairn_coll_loader_purge(&rl.L)) < 0) {
      cairn_store_failed(c, prc);
      goto out;
    }
    cairn_reply_error(&c->reply, "Bad data format");
    goto out;
  }

  if (ttl && !absttl) ttl += c->now_ms;
  if (ttl && ttl <= c->now_ms && !c->replaying) {
    /* Already expired: nothing is created; a replaced key is deleted. */
    if (rl.is_coll && (prc = cairn_coll_loader_purge(&rl.L)) < 0) {
      cairn_store_failed(c, prc);
      goto out;
    }
    if (exists) {
      int rc = cairn_store_del(s, c->db, key);
      if (rc < 0) {
        cairn_store_failed(c, rc);
        goto out;
      }
      c->dirty++;
      cairn_propagate_del(c, c->db, key);
      c->custom_propagation = 1;
      cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", key);
    }
    cairn_reply_ok(&c->reply);
    goto out;
  }
  int64_t exp = ttl ? ttl : -1;
  if (rl.is_coll) {
    if (cairn_coll_save(c, key, rl.L.type, &rl.L.coll, exp) != 0) goto out;
  } else {
    int rc = cairn_key_put(c, c->db, key, CAIRN_TYPE_STRING, rl.str, rl.slen, exp);
    if (rc < 0) {
      cairn_store_failed(c, rc);
      goto out;
    }
  }
  c->dirty++;
  /* REPLACE: Redis deletes the old key and adds the new one ('new' too). */
  if (exists) cairn_notify(c, CAIRN_NOTIFY_NEW, "new", key);
  cairn_notify(c, CAIRN_NOTIFY_GENERIC, "restore", key);
  if (rl.is_coll && (rl.L.type == CAIRN_TYPE_LIST || rl.L.type == CAIRN_TYPE_ZSET || rl.L.type == CAIRN_TYPE_STREAM))
    cairn_signal_key_ready(c, key);
  if (ttl && !absttl) {
    /* Propagated with the absolute time (like Redis: ttl rewritten, ABSTTL
     * appended). */
    cairn_str *argv = cairn_xmalloc(sizeof(cairn_str) * (size_t)(c->argc + 1));
    memcpy(argv, c->argv, sizeof(cairn_str) * (size_t)c->argc);
    char num[24];
    size_t nl = cairn_ll2str(num, ttl);
    argv[2] = (cairn_str){num, nl};
    argv[c->argc] = (cairn_str){"ABSTTL", 6};
    cairn_propagate(c, c->db, c->argc + 1, argv);
    c->custom_propagation = 1;
    free(argv);
  }
  cairn_reply_ok(&c->reply);
out:
  free(rl.str);
}
