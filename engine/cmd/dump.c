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
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cmd/generic.h"
#include "engine/log.h"
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

/* v's DUMP payload into out (a fresh buffer the caller frees): 0, a store
 * error (< -1, for cairn_store_failed), or -1 with the writer's reason in
 * why. */
static int dump_payload(cairn_ctx *c, const cairn_value *v, cairn_rdb_buf *out, char *why, size_t whylen) {
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, out, -1);
  cairn_coll coll;
  int wrc;
  if (v->type == CAIRN_TYPE_STRING) {
    wrc = cairn_rdb_writer_dump_begin(w, CAIRN_RDB_KIND_STRING);
    if (wrc == 0) wrc = cairn_rdb_writer_string(w, v->data, v->len);
  } else if (cairn_coll_decode(v, &coll) == 0) {
    wrc = cairn_rdb_dump_coll(w, cairn_ctx_store(c), v->type, &coll);
  } else {
    wrc = -1;
  }
  if (wrc == 0) wrc = cairn_rdb_writer_dump_end(w);
  if (wrc == -1) snprintf(why, whylen, "%s", cairn_rdb_writer_error(w) ? cairn_rdb_writer_error(w) : "?");
  cairn_rdb_writer_free(w);
  return wrc;
}

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
  char why[256];
  int wrc = dump_payload(c, &v, &out, why, sizeof(why));
  if (wrc < -1)
    cairn_store_failed(c, wrc);
  else if (wrc != 0)
    cairn_reply_errorf(&c->reply, "DUMP failed: %s", why);
  else
    cairn_reply_bulk(&c->reply, out.data, out.len);
  free(out.data);
}

/* ---------------------------------------------------------------- MIGRATE */

/* MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
 *         [AUTH password] [AUTH2 username password] [KEYS key ...]
 *
 * Like Redis (which is synchronous too), the loop waits for the target: at
 * most `timeout` ms for the connection and for each write and read. The
 * keys go as RESTORE key ttl payload [REPLACE] (after AUTH and SELECT), in
 * one write; every key the target took is deleted here (unless COPY) and
 * propagated as one DEL. The connection is not cached between calls (INFO
 * migrate_cached_sockets stays 0). */

typedef struct mig_conn {
  int fd;
  int64_t timeout_ms;
  char buf[4096];
  size_t len, pos;
} mig_conn;

static int mig_wait(mig_conn *m, short events) {
  struct pollfd p = {.fd = m->fd, .events = events};
  int rc;
  do rc = poll(&p, 1, (int)m->timeout_ms);
  while (rc < 0 && errno == EINTR);
  return rc == 1 ? 0 : -1;
}

/* -1 only when the name does not resolve or the connection does not
 * complete within the timeout; a refused connection shows at the first write
 * (Redis's "writing to target instance"), as it does in Redis. */
static int mig_connect(mig_conn *m, const char *host, const char *port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
  m->fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
  int rc = m->fd < 0 ? -1 : 0;
  if (rc == 0 && connect(m->fd, res->ai_addr, res->ai_addrlen) != 0 && errno == EINPROGRESS)
    rc = mig_wait(m, POLLOUT);
  freeaddrinfo(res);
  if (rc == 0) {
    int one = 1;
    setsockopt(m->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return rc;
}

static int mig_write(mig_conn *m, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(m->fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      return -1;
    } else if (mig_wait(m, POLLOUT) != 0) {
      return -1;
    }
  }
  return 0;
}

/* One reply line (without CRLF) into line. A bulk or array reply (which a
 * RESTORE never gets) would be read as its first line only. */
static int mig_readline(mig_conn *m, char *line, size_t cap) {
  size_t n = 0;
  for (;;) {
    if (m->pos == m->len) {
      ssize_t r = recv(m->fd, m->buf, sizeof(m->buf), 0);
      if (r == 0) return -1;
      if (r < 0) {
        if (errno != EAGAIN && errno != EINTR) return -1;
        if (mig_wait(m, POLLIN) != 0) return -1;
        continue;
      }
      m->len = (size_t)r;
      m->pos = 0;
    }
    char ch = m->buf[m->pos++];
    if (ch == '\n') break;
    if (n + 1 < cap) line[n++] = ch;
  }
  if (n && line[n - 1] == '\r') n--;
  line[n] = '\0';
  return 0;
}

static void migrate_io_error(cairn_ctx *c, const char *what, const char *host, const char *port) {
  cairn_warning("MIGRATE to %s:%s: error or timeout %s", host, port, what);
  cairn_reply_errorf(&c->reply, "-IOERR error or timeout %s", what);
}

void cairn_cmd_migrate(cairn_ctx *c) {
  int copy = 0, replace = 0, first_key = 3, num_keys = 1;
  const cairn_str *user = NULL, *pass = NULL;
  for (int j = 6; j < c->argc; j++) {
    int more = c->argc - j - 1;
    if (cairn_arg_is(c->argv[j], "copy")) {
      copy = 1;
    } else if (cairn_arg_is(c->argv[j], "replace")) {
      replace = 1;
    } else if (cairn_arg_is(c->argv[j], "auth") && more >= 1) {
      pass = &c->argv[++j];
    } else if (cairn_arg_is(c->argv[j], "auth2") && more >= 2) {
      user = &c->argv[++j];
      pass = &c->argv[++j];
    } else if (cairn_arg_is(c->argv[j], "keys")) {
      if (c->argv[3].len != 0) {
        cairn_reply_error(&c->reply, "When using MIGRATE KEYS option, the key argument must be set to the empty string");
        return;
      }
      first_key = j + 1;
      num_keys = c->argc - j - 1;
      break;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  long long dbid, timeout;
  if (cairn_arg_ll(c, c->argv[5], &timeout) != 0 || cairn_arg_ll(c, c->argv[4], &dbid) != 0) return;
  if (timeout <= 0) timeout = 1000;
  /* the keys that exist (expired ones are gone by now) */
  cairn_value *vals = cairn_xcalloc((size_t)num_keys + 1, sizeof(*vals));
  int *idx = cairn_xcalloc((size_t)num_keys + 1, sizeof(*idx));
  int n = 0;
  cairn_buf cmd = {0};
  char host[256], port[16], line[1024], why[256];
  mig_conn m = {.fd = -1, .timeout_ms = timeout};
  for (int j = 0; j < num_keys; j++) {
    int rc = cairn_lookup(c, c->argv[first_key + j], &vals[n]);
    if (rc < 0) goto out;
    if (rc == 1) idx[n++] = first_key + j;
  }
  if (n == 0) {
    cairn_reply_status(&c->reply, "NOKEY");
    goto out;
  }
  snprintf(host, sizeof(host), "%.*s", (int)c->argv[1].len, c->argv[1].p);
  snprintf(port, sizeof(port), "%.*s", (int)c->argv[2].len, c->argv[2].p);
  /* the request: [AUTH] SELECT, then a RESTORE per key */
  if (pass) {
    cairn_str a[3] = {{"AUTH", 4}, {0, 0}, {0, 0}};
    int na = 1;
    if (user) a[na++] = *user;
    a[na++] = *pass;
    cairn_resp_append_command(&cmd, na, a);
  }
  char dbs[24];
  cairn_str sel[2] = {{"SELECT", 6}, {dbs, (size_t)snprintf(dbs, sizeof(dbs), "%lld", dbid)}};
  cairn_resp_append_command(&cmd, 2, sel);
  for (int j = 0; j < n; j++) {
    cairn_rdb_buf payload = {0};
    int wrc = dump_payload(c, &vals[j], &payload, why, sizeof(why));
    if (wrc != 0) {
      free(payload.data);
      if (wrc < -1)
        cairn_store_failed(c, wrc);
      else
        cairn_reply_errorf(&c->reply, "MIGRATE failed: %s", why);
      goto out;
    }
    int64_t ttl = 0;
    if (vals[j].expire_ms >= 0) {
      ttl = vals[j].expire_ms - c->now_ms;
      if (ttl < 1) ttl = 1;
    }
    char ttls[24];
    cairn_str r[5] = {{"RESTORE", 7}, c->argv[idx[j]], {ttls, (size_t)snprintf(ttls, sizeof(ttls), "%lld", (long long)ttl)},
                      {(const char *)payload.data, payload.len}, {"REPLACE", 7}};
    cairn_resp_append_command(&cmd, replace ? 5 : 4, r);
    free(payload.data);
  }
  if (mig_connect(&m, host, port) != 0) {
    migrate_io_error(c, "connecting to the client", host, port);
    goto out;
  }
  if (mig_write(&m, cmd.p, cmd.len) != 0) {
    migrate_io_error(c, "writing to target instance", host, port);
    goto out;
  }
  /* the replies: [AUTH], SELECT, then one per RESTORE; the first error is
   * the one reported, the keys the target took are still deleted */
  char first_err[1024] = "";
  int pre = pass ? 2 : 1;
  for (int j = 0; j < pre; j++) {
    if (mig_readline(&m, line, sizeof(line)) != 0) {
      migrate_io_error(c, "reading to target instance", host, port);
      goto out;
    }
    if (line[0] == '-' && !first_err[0]) snprintf(first_err, sizeof(first_err), "%s", line + 1);
  }
  int moved = 0;
  cairn_str *dels = cairn_xcalloc((size_t)n + 1, sizeof(*dels));
  dels[0] = (cairn_str){"DEL", 3};
  int io_error = 0;
  for (int j = 0; j < n; j++) {
    if (mig_readline(&m, line, sizeof(line)) != 0) {
      io_error = 1;
      break;
    }
    if (line[0] == '-' || first_err[0]) {
      if (!first_err[0]) snprintf(first_err, sizeof(first_err), "%s", line + 1);
      continue;
    }
    if (!copy) {
      int rc = cairn_store_del(cairn_ctx_store(c), c->db, c->argv[idx[j]]);
      if (rc < 0) {
        free(dels);
        cairn_store_failed(c, rc);
        goto out;
      }
      cairn_touch(c, c->argv[idx[j]]);
      cairn_notify(c, CAIRN_NOTIFY_GENERIC, "del", c->argv[idx[j]]);
      dels[1 + moved++] = c->argv[idx[j]];
      c->dirty++;
    }
  }
  if (moved) cairn_propagate(c, c->db, 1 + moved, dels);
  c->custom_propagation = 1;
  free(dels);
  if (first_err[0])
    cairn_reply_errorf(&c->reply, "Target instance replied with error: %s", first_err);
  else if (io_error)
    migrate_io_error(c, "reading to target instance", host, port);
  else
    cairn_reply_ok(&c->reply);
out:
  if (m.fd >= 0) close(m.fd);
  cairn_buf_free(&cmd);
  free(vals);
  free(idx);
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
