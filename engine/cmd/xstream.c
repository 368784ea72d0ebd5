/* Stream commands (Redis 7.0 semantics), on the collection layer
 * (engine/store.h). Not engine/stream.c, which is the replication stream.
 *
 * A stream is a collection (type CAIRN_TYPE_STREAM) whose entries live in
 * these spaces of its id:
 *   XS_ENTRIES  [ms u64 BE][seq u64 BE]   -> [node u64 LE][pairs u32 LE]
 *                                            ([len u32 LE][bytes])*2*pairs
 *   XS_META     ""                         -> the stream's metadata (smeta)
 * Big-endian IDs make LMDB's order the ID order, so XADD is one put at the
 * end, XRANGE a seek then a walk, XTRIM deletes only the trimmed head: a
 * stream of any length is never rewritten and never held in memory. The
 * key's header count is the number of entries the collection holds in all
 * spaces (metadata included, so it is never 0: an empty stream is a key, as
 * in Redis); DEL of a big stream is therefore O(1) (retired, swept later).
 *
 * Approximate trimming (`~`) follows Redis's radix-tree nodes: each entry
 * records the number of the virtual node it was appended to; a new node
 * starts when the tail node holds stream-node-max-entries entries (deleted
 * ones included, as in Redis) or would exceed stream-node-max-bytes (an
 * estimate of the listpack's size: cairn does not build listpacks). `~`
 * trims whole nodes only, so XLEN after `MAXLEN ~ n` matches Redis's in the
 * common cases.
 *
 * Propagation is deterministic: XADD goes out with the ID it generated and,
 * when it trimmed, with an exact `MAXLEN = <length>` in place of its trim
 * arguments (Redis rewrites `~` the same way); XTRIM likewise.
 *
 * Costs: XADD O(log n) (+ trimmed entries); XRANGE/XREVRANGE O(log n + m);
 * XLEN O(log n) (one read of the metadata); XDEL O(log n) per ID; XTRIM
 * O(log n + trimmed); XREAD O(log n + m) per stream.
 *
 * Not yet: consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
 * XAUTOCLAIM), XINFO, and the RDB form of streams (DUMP/RESTORE, full
 * sync); those commands answer an explicit "not yet supported" error. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/blocking.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/util.h"

#define XS_ENTRIES 0
#define XS_META 1

typedef struct sid {
  uint64_t ms, seq;
} sid;

static const sid SID_MIN = {0, 0};
static const sid SID_MAX = {UINT64_MAX, UINT64_MAX};

static void be64(unsigned char *b, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    b[i] = (unsigned char)(v & 0xff);
    v >>= 8;
  }
}
static uint64_t rdbe64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | (unsigned char)p[i];
  return v;
}
static void le64(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t rdle64(const char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | (unsigned char)p[i];
  return v;
}
static uint32_t rdle32(const char *p) {
  return (uint32_t)(unsigned char)p[0] | (uint32_t)(unsigned char)p[1] << 8 | (uint32_t)(unsigned char)p[2] << 16 |
         (uint32_t)(unsigned char)p[3] << 24;
}

static void id_enc(unsigned char b[16], sid id) {
  be64(b, id.ms);
  be64(b + 8, id.seq);
}
static sid id_dec(const char *p) {
  sid id = {rdbe64(p), rdbe64(p + 8)};
  return id;
}
static int id_cmp(sid a, sid b) {
  if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}
/* Next / previous ID: 0, or -1 at the end of the ID space. */
static int id_incr(sid *id) {
  if (id->seq == UINT64_MAX) {
    if (id->ms == UINT64_MAX) return -1;
    id->ms++;
    id->seq = 0;
  } else {
    id->seq++;
  }
  return 0;
}
static int id_decr(sid *id) {
  if (id->seq == 0) {
    if (id->ms == 0) return -1;
    id->ms--;
    id->seq = UINT64_MAX;
  } else {
    id->seq--;
  }
  return 0;
}
static size_t id_fmt(char *buf, sid id) {
  size_t n = cairn_ull2str(buf, id.ms);
  buf[n++] = '-';
  n += cairn_ull2str(buf + n, id.seq);
  buf[n] = 0;
  return n;
}
static void reply_id(cairn_ctx *c, sid id) {
  char b[48];
  size_t n = id_fmt(b, id);
  cairn_reply_bulk(&c->reply, b, n);
}

#define ERR_BADID "Invalid stream ID specified as stream command argument"

/* Redis's streamGenericParseIDOrReply: "-", "+" (unless strict), "ms",
 * "ms-seq", and "ms-*" when seq_given is not NULL (then *seq_given = 0).
 * 0, or -1 after replying (reply 0: silently). */
static int parse_id(cairn_ctx *c, cairn_str a, sid *id, uint64_t missing_seq, int strict, int *seq_given,
                    int reply) {
  if (seq_given) *seq_given = 1;
  if (a.len > 127) goto invalid;
  if (a.len == 1 && (a.p[0] == '-' || a.p[0] == '+')) {
    if (strict) goto invalid;
    *id = a.p[0] == '-' ? SID_MIN : SID_MAX;
    return 0;
  }
  const char *dash = memchr(a.p, '-', a.len);
  unsigned long long ms, seq;
  size_t mlen = dash ? (size_t)(dash - a.p) : a.len;
  if (!cairn_str2ull(a.p, mlen, &ms)) goto invalid;
  if (dash) {
    size_t sl = a.len - mlen - 1;
    if (seq_given && sl == 1 && dash[1] == '*') {
      seq = 0;
      *seq_given = 0;
    } else if (!cairn_str2ull(dash + 1, sl, &seq)) {
      goto invalid;
    }
  } else {
    seq = missing_seq;
  }
  id->ms = ms;
  id->seq = seq;
  return 0;
invalid:
  if (reply) cairn_reply_error(&c->reply, ERR_BADID);
  return -1;
}

/* XRANGE's bounds: "(" makes it exclusive (then strict). */
static int parse_interval(cairn_ctx *c, cairn_str a, sid *id, int *excl, uint64_t missing_seq) {
  *excl = a.len > 1 && a.p[0] == '(';
  if (*excl) {
    cairn_str t = {a.p + 1, a.len - 1};
    return parse_id(c, t, id, missing_seq, 1, NULL, 1);
  }
  return parse_id(c, a, id, missing_seq, 0, NULL, 1);
}

/* ---------------------------------------------------------------- the stream */

typedef struct smeta {
  uint64_t length, entries_added, ngroups;
  sid last, first, maxdel;
  uint64_t node, node_count, node_bytes; /* the tail virtual node (see the top) */
} smeta;
#define META_WORDS 12

typedef struct xs {
  cairn_coll coll;
  int64_t expire_ms;
  smeta m;
} xs;

static void meta_enc(const smeta *m, unsigned char *b) {
  uint64_t w[META_WORDS] = {m->length,  m->entries_added, m->ngroups,  m->last.ms,    m->last.seq,  m->first.ms,
                            m->first.seq, m->maxdel.ms,   m->maxdel.seq, m->node,     m->node_count, m->node_bytes};
  for (int i = 0; i < META_WORDS; i++) le64(b + 8 * i, w[i]);
}
static int meta_dec(cairn_str v, smeta *m) {
  if (v.len < 8 * META_WORDS) return -1;
  uint64_t w[META_WORDS];
  for (int i = 0; i < META_WORDS; i++) w[i] = rdle64(v.p + 8 * i);
  m->length = w[0];
  m->entries_added = w[1];
  m->ngroups = w[2];
  m->last.ms = w[3];
  m->last.seq = w[4];
  m->first.ms = w[5];
  m->first.seq = w[6];
  m->maxdel.ms = w[7];
  m->maxdel.seq = w[8];
  m->node = w[9];
  m->node_count = w[10];
  m->node_bytes = w[11];
  return 0;
}

static int failed(cairn_ctx *c, int rc) { return cairn_store_failed(c, rc); }

/* The stream at key: 1 found (s filled), 0 absent, -1 after WRONGTYPE or a
 * store error. */
static int xs_open(cairn_ctx *c, cairn_str key, xs *s) {
  cairn_value v;
  int rc = cairn_lookup_coll(c, key, CAIRN_TYPE_STREAM, &v, &s->coll);
  if (rc != 1) return rc;
  s->expire_ms = v.expire_ms;
  cairn_str mv;
  rc = cairn_elem_get(cairn_ctx_store(c), s->coll.id, XS_META, "", 0, &mv);
  if (rc < 0) return failed(c, rc);
  if (rc == 0 || meta_dec(mv, &s->m) != 0) {
    cairn_reply_error(&c->reply, "-ERR corrupt stream metadata");
    return -1;
  }
  return 1;
}

static void xs_init(cairn_ctx *c, xs *s) {
  cairn_coll_init(cairn_ctx_store(c), &s->coll);
  s->coll.head = 0;
  s->expire_ms = -1;
  memset(&s->m, 0, sizeof(s->m));
}

/* Entry writes that keep the header's count. 0, or -1 after a store error. */
static int xput(cairn_ctx *c, xs *s, int space, const void *sub, size_t sublen, const void *val, size_t vallen) {
  int rc = cairn_elem_put(cairn_ctx_store(c), s->coll.id, space, sub, sublen, val, vallen);
  if (rc < 0) return failed(c, rc);
  if (rc == 1) s->coll.count++;
  return 0;
}
static int xdel(cairn_ctx *c, xs *s, int space, const void *sub, size_t sublen) {
  int rc = cairn_elem_del(cairn_ctx_store(c), s->coll.id, space, sub, sublen);
  if (rc < 0) return failed(c, rc);
  if (rc == 1 && s->coll.count) s->coll.count--;
  return rc;
}

/* Writes the metadata and the header (every modifying command ends here). */
static int xs_save(cairn_ctx *c, cairn_str key, xs *s) {
  unsigned char b[8 * META_WORDS];
  meta_enc(&s->m, b);
  if (xput(c, s, XS_META, "", 0, b, sizeof b) < 0) return -1;
  return cairn_coll_save(c, key, CAIRN_TYPE_STREAM, &s->coll, s->expire_ms);
}

/* ---------------------------------------------------------------- entries */

/* Emits one entry [id, [field, value, ...]] from its stored form. */
static void reply_entry(cairn_ctx *c, sid id, cairn_str val) {
  cairn_reply_array(&c->reply, 2);
  reply_id(c, id);
  if (val.len < 12) {
    cairn_reply_array(&c->reply, 0);
    return;
  }
  uint32_t pairs = rdle32(val.p + 8);
  cairn_reply_array(&c->reply, 2 * (long long)pairs);
  const char *p = val.p + 12, *end = val.p + val.len;
  for (uint32_t i = 0; i < 2 * pairs; i++) {
    if (end - p < 4) {
      cairn_reply_null(&c->reply);
      continue;
    }
    uint32_t l = rdle32(p);
    p += 4;
    if ((size_t)(end - p) < l) l = (uint32_t)(end - p);
    cairn_reply_bulk(&c->reply, p, l);
    p += l;
  }
}

static uint64_t entry_node(cairn_str val) { return val.len >= 8 ? rdle64(val.p) : 0; }

/* Replies the entries with start <= id <= end (reverse: from end down),
 * at most count (0 = all), as an array. 0, or -1 after a store error. */
static int reply_range(cairn_ctx *c, xs *s, sid start, sid end, long long count, int rev) {
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  if (id_cmp(start, end) <= 0) {
    unsigned char from[16];
    id_enc(from, rev ? end : start);
    cairn_elem_iter *it;
    int rc = cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, XS_ENTRIES, from, 16, rev, &it);
    if (rc < 0) return failed(c, rc);
    cairn_str sub, val;
    while ((count == 0 || n < count) && (rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
      if (sub.len != 16) continue;
      sid id = id_dec(sub.p);
      if (rev ? id_cmp(id, start) < 0 : id_cmp(id, end) > 0) break;
      reply_entry(c, id, val);
      n++;
    }
    cairn_elem_iter_close(it);
    if (rc < 0) return failed(c, rc);
  }
  cairn_reply_defer_array(&c->reply, mark, n);
  return 0;
}

/* The first (or last) entry's ID: 1 found, 0 empty, -1 store error. */
static int edge_id(cairn_ctx *c, xs *s, int last, sid *out, uint64_t *node) {
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, XS_ENTRIES, NULL, 0, last, &it);
  if (rc < 0) return failed(c, rc);
  cairn_str sub, val;
  rc = cairn_elem_iter_next(it, &sub, &val);
  if (rc > 0) {
    *out = id_dec(sub.p);
    if (node) *node = entry_node(val);
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return failed(c, rc);
  return rc > 0;
}

static long long config_ll(cairn_ctx *c, const char *name, long long dflt) {
  char buf[64];
  if (cairn_config_format(&c->srv->cfg, name, buf, sizeof(buf)) > 0) {
    long long v;
    if (cairn_str2ll(buf, strlen(buf), &v) && v >= 0) return v;
  }
  return dflt;
}

/* Appends an entry (Redis's streamAppendItem). id_given: *id is the
 * requested ID, seq_given whether its sequence was. 0 (id set), 1 the ID
 * is too small (EDOM), -1 store error. */
static int append_entry(cairn_ctx *c, xs *s, const cairn_str *fv, int pairs, sid *id, int id_given, int seq_given) {
  sid nid;
  if (id_given) {
    nid = *id;
    if (!seq_given) {
      if (nid.ms == s->m.last.ms) {
        if (s->m.last.seq == UINT64_MAX) return 1;
        nid.seq = s->m.last.seq + 1;
      } else {
        nid.seq = 0;
      }
    }
    if (id_cmp(nid, s->m.last) <= 0) return 1;
  } else {
    uint64_t now = (uint64_t)c->now_ms;
    if (now > s->m.last.ms) {
      nid.ms = now;
      nid.seq = 0;
    } else {
      nid = s->m.last;
      if (id_incr(&nid) != 0) return 1;
    }
  }
  /* the value */
  size_t bytes = 12;
  uint64_t est = 6;
  for (int i = 0; i < 2 * pairs; i++) {
    bytes += 4 + fv[i].len;
    est += fv[i].len + 2;
  }
  /* the virtual node (see the top) */
  long long max_entries = config_ll(c, "stream-node-max-entries", 100);
  long long max_bytes = config_ll(c, "stream-node-max-bytes", 4096);
  int new_node = s->m.length == 0;
  if (!new_node) {
    sid lid;
    uint64_t lnode = 0;
    int rc = edge_id(c, s, 1, &lid, &lnode);
    if (rc < 0) return -1;
    if (rc == 0 || lnode != s->m.node) new_node = 1; /* the tail node is gone */
  }
  if (!new_node && max_bytes && s->m.node_bytes + est >= (uint64_t)max_bytes) new_node = 1;
  if (!new_node && max_entries && s->m.node_count >= (uint64_t)max_entries) new_node = 1;
  if (new_node) {
    s->m.node++;
    s->m.node_count = 0;
    s->m.node_bytes = 0;
  }
  s->m.node_count++;
  s->m.node_bytes += est;
  char *v = cairn_xmalloc(bytes);
  le64((unsigned char *)v, s->m.node);
  uint32_t np = (uint32_t)pairs;
  memcpy(v + 8, &np, 4);
  char *p = v + 12;
  for (int i = 0; i < 2 * pairs; i++) {
    uint32_t l = (uint32_t)fv[i].len;
    p[0] = (char)(l & 0xff);
    p[1] = (char)((l >> 8) & 0xff);
    p[2] = (char)((l >> 16) & 0xff);
    p[3] = (char)((l >> 24) & 0xff);
    memcpy(p + 4, fv[i].p, fv[i].len);
    p += 4 + fv[i].len;
  }
  {
    /* the little-endian pair count, whatever the host */
    unsigned char *q = (unsigned char *)v + 8;
    q[0] = (unsigned char)(np & 0xff);
    q[1] = (unsigned char)((np >> 8) & 0xff);
    q[2] = (unsigned char)((np >> 16) & 0xff);
    q[3] = (unsigned char)((np >> 24) & 0xff);
  }
  unsigned char k[16];
  id_enc(k, nid);
  int rc = xput(c, s, XS_ENTRIES, k, 16, v, bytes);
  free(v);
  if (rc < 0) return -1;
  if (s->m.length == 0) s->m.first = nid;
  s->m.length++;
  s->m.entries_added++;
  s->m.last = nid;
  *id = nid;
  return 0;
}

/* ---------------------------------------------------------------- trimming */

enum { TRIM_NONE = 0, TRIM_MAXLEN, TRIM_MINID };

typedef struct trim_args {
  int strategy, approx, nomkstream, id_given, seq_given;
  long long maxlen, limit;
  sid minid, id;
  int strategy_idx; /* argv index of the MAXLEN/MINID value */
} trim_args;

/* Redis's streamTrim: deletes from the head; approx removes whole virtual
 * nodes only, at most limit entries (0 = no limit). Returns the number
 * deleted, -1 after a store error. */
static long long trim(cairn_ctx *c, xs *s, const trim_args *a) {
  if (a->strategy == TRIM_NONE) return 0;
  cairn_store *st = cairn_ctx_store(c);
  long long deleted = 0;
  int rc;
  if (!a->approx) {
    cairn_elem_iter *it;
    if ((rc = cairn_elem_iter_open(st, s->coll.id, XS_ENTRIES, NULL, 0, 0, &it)) < 0) return failed(c, rc);
    cairn_str sub, val;
    while (a->strategy == TRIM_MAXLEN ? s->m.length > (uint64_t)a->maxlen : 1) {
      if ((rc = cairn_elem_iter_next(it, &sub, &val)) <= 0) break;
      if (a->strategy == TRIM_MINID && id_cmp(id_dec(sub.p), a->minid) >= 0) break;
      if ((rc = cairn_elem_iter_del(it)) < 0) break;
      if (s->coll.count) s->coll.count--;
      s->m.length--;
      deleted++;
    }
    cairn_elem_iter_close(it);
    if (rc < 0) return failed(c, rc);
  } else {
    for (;;) {
      if (a->strategy == TRIM_MAXLEN && s->m.length <= (uint64_t)a->maxlen) break;
      /* the head node: its entries and its last ID */
      cairn_elem_iter *it;
      if ((rc = cairn_elem_iter_open(st, s->coll.id, XS_ENTRIES, NULL, 0, 0, &it)) < 0) return failed(c, rc);
      cairn_str sub, val;
      long long entries = 0;
      uint64_t node = 0;
      sid lastid = SID_MIN;
      while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
        uint64_t n = entry_node(val);
        if (entries == 0) node = n;
        else if (n != node) break;
        lastid = id_dec(sub.p);
        entries++;
      }
      cairn_elem_iter_close(it);
      if (rc < 0) return failed(c, rc);
      if (entries == 0) break;
      if (a->limit && deleted + entries > a->limit) break;
      int remove = a->strategy == TRIM_MAXLEN ? s->m.length - (uint64_t)entries >= (uint64_t)a->maxlen
                                                : id_cmp(lastid, a->minid) < 0;
      if (!remove) break;
      if ((rc = cairn_elem_iter_open(st, s->coll.id, XS_ENTRIES, NULL, 0, 0, &it)) < 0) return failed(c, rc);
      for (long long i = 0; i < entries; i++) {
        if ((rc = cairn_elem_iter_next(it, &sub, &val)) <= 0) break;
        if ((rc = cairn_elem_iter_del(it)) < 0) break;
        if (s->coll.count) s->coll.count--;
        s->m.length--;
        deleted++;
      }
      cairn_elem_iter_close(it);
      if (rc < 0) return failed(c, rc);
    }
  }
  if (s->m.length == 0) {
    s->m.first = SID_MIN;
  } else if (deleted) {
    if ((rc = edge_id(c, s, 0, &s->m.first, NULL)) < 0) return -1;
  }
  return deleted;
}

/* Redis's streamParseAddOrTrimArgsOrReply. Returns the index of the ID
 * (XADD) or argc, -1 after replying. */
static int parse_trim_args(cairn_ctx *c, trim_args *a, int xadd) {
  memset(a, 0, sizeof(*a));
  int limit_given = 0, i = 2;
  for (; i < c->argc; i++) {
    int more = c->argc - 1 - i;
    cairn_str o = c->argv[i];
    if (xadd && o.len == 1 && o.p[0] == '*') break;
    if (cairn_arg_is(o, "maxlen") && more) {
      if (a->strategy != TRIM_NONE) {
        cairn_reply_error(&c->reply, "syntax error, MAXLEN and MINID options at the same time are not compatible");
        return -1;
      }
      a->approx = 0;
      cairn_str n = c->argv[i + 1];
      if (more >= 2 && n.len == 1 && (n.p[0] == '~' || n.p[0] == '=')) {
        a->approx = n.p[0] == '~';
        i++;
      }
      if (cairn_arg_ll(c, c->argv[i + 1], &a->maxlen) != 0) return -1;
      if (a->maxlen < 0) {
        cairn_reply_error(&c->reply, "The MAXLEN argument must be >= 0.");
        return -1;
      }
      i++;
      a->strategy = TRIM_MAXLEN;
      a->strategy_idx = i;
    } else if (cairn_arg_is(o, "minid") && more) {
      if (a->strategy != TRIM_NONE) {
        cairn_reply_error(&c->reply, "syntax error, MAXLEN and MINID options at the same time are not compatible");
        return -1;
      }
      a->approx = 0;
      cairn_str n = c->argv[i + 1];
      if (more >= 2 && n.len == 1 && (n.p[0] == '~' || n.p[0] == '=')) {
        a->approx = n.p[0] == '~';
        i++;
      }
      if (parse_id(c, c->argv[i + 1], &a->minid, 0, 1, NULL, 1) != 0) return -1;
      i++;
      a->strategy = TRIM_MINID;
      a->strategy_idx = i;
    } else if (cairn_arg_is(o, "limit") && more) {
      if (cairn_arg_ll(c, c->argv[i + 1], &a->limit) != 0) return -1;
      if (a->limit < 0) {
        cairn_reply_error(&c->reply, "The LIMIT argument must be >= 0.");
        return -1;
      }
      limit_given = 1;
      i++;
    } else if (xadd && cairn_arg_is(o, "nomkstream")) {
      a->nomkstream = 1;
    } else if (xadd) {
      if (parse_id(c, o, &a->id, 0, 1, &a->seq_given, 1) != 0) return -1;
      a->id_given = 1;
      break;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return -1;
    }
  }
  if (a->limit && a->strategy == TRIM_NONE) {
    cairn_reply_error(&c->reply, "syntax error, LIMIT cannot be used without specifying a trimming strategy");
    return -1;
  }
  if (!xadd && a->strategy == TRIM_NONE) {
    cairn_reply_error(&c->reply, "syntax error, XTRIM must be called with a trimming strategy");
    return -1;
  }
  if (c->replaying || !c->client) {
    a->limit = 0; /* the stream from a master or the WAL: trimmed as it says */
  } else if (limit_given) {
    if (!a->approx) {
      cairn_reply_error(&c->reply, "syntax error, LIMIT cannot be used without the special ~ option");
      return -1;
    }
  } else if (a->approx) {
    long long ne = config_ll(c, "stream-node-max-entries", 100);
    a->limit = ne > 10000 ? 1000000 : 100 * ne;
    if (a->limit <= 0) a->limit = 10000;
    if (a->limit > 1000000) a->limit = 1000000;
  }
  return i;
}

/* Propagates argv with the trim arguments made exact (Redis's
 * streamRewriteApproxSpecifier/streamRewriteTrimArgument) and, for XADD,
 * the ID replaced by the one generated (idpos < 0: none). */
static void propagate_rewritten(cairn_ctx *c, xs *s, const trim_args *a, int idpos, sid id) {
  cairn_str *argv = cairn_xmalloc(sizeof(cairn_str) * (size_t)c->argc);
  memcpy(argv, c->argv, sizeof(cairn_str) * (size_t)c->argc);
  char idbuf[48], trimbuf[48];
  if (a->strategy != TRIM_NONE && a->approx) {
    argv[a->strategy_idx - 1] = (cairn_str){"=", 1};
    size_t n;
    if (a->strategy == TRIM_MAXLEN) {
      n = cairn_ull2str(trimbuf, s->m.length);
    } else {
      n = id_fmt(trimbuf, s->m.length ? s->m.first : s->m.last);
    }
    argv[a->strategy_idx] = (cairn_str){trimbuf, n};
  }
  if (idpos >= 0) {
    size_t n = id_fmt(idbuf, id);
    argv[idpos] = (cairn_str){idbuf, n};
  }
  /* LIMIT goes out as given: a replica applying it ignores it (limit 0 when
   * obeying the stream), like Redis's mustObeyClient. */
  cairn_propagate(c, c->db, c->argc, argv);
  c->custom_propagation = 1;
  free(argv);
}

/* ---------------------------------------------------------------- commands */

static void cmd_xadd(cairn_ctx *c) {
  trim_args a;
  int idpos = parse_trim_args(c, &a, 1);
  if (idpos < 0) return;
  int fpos = idpos + 1;
  if (c->argc - fpos < 2 || (c->argc - fpos) % 2 == 1) {
    cairn_reply_arity(c);
    return;
  }
  if (a.id_given && a.seq_given && a.id.ms == 0 && a.id.seq == 0) {
    cairn_reply_error(&c->reply, "The ID specified in XADD must be greater than 0-0");
    return;
  }
  cairn_str key = c->argv[1];
  xs s;
  int rc = xs_open(c, key, &s);
  if (rc < 0) return;
  if (rc == 0) {
    if (a.nomkstream) {
      cairn_reply_null(&c->reply);
      return;
    }
    xs_init(c, &s);
  }
  if (s.m.last.ms == UINT64_MAX && s.m.last.seq == UINT64_MAX) {
    cairn_reply_error(&c->reply, "The stream has exhausted the last possible ID, unable to add more items");
    return;
  }
  sid id = a.id;
  rc = append_entry(c, &s, c->argv + fpos, (c->argc - fpos) / 2, &id, a.id_given, a.seq_given);
  if (rc < 0) return;
  if (rc == 1) {
    cairn_reply_error(&c->reply, "The ID specified in XADD is equal or smaller than the target stream top item");
    return;
  }
  long long trimmed = trim(c, &s, &a);
  if (trimmed < 0) return;
  if (xs_save(c, key, &s) < 0) return;
  reply_id(c, id);
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STREAM, "xadd", key);
  if (trimmed) cairn_notify(c, CAIRN_NOTIFY_STREAM, "xtrim", key);
  if (a.approx || !a.id_given || !a.seq_given)
    propagate_rewritten(c, &s, &a, (!a.id_given || !a.seq_given) ? idpos : -1, id);
  cairn_signal_key_ready(c, key);
}

static void cmd_xtrim(cairn_ctx *c) {
  trim_args a;
  if (parse_trim_args(c, &a, 0) < 0) return;
  cairn_str key = c->argv[1];
  xs s;
  int rc = xs_open(c, key, &s);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  long long n = trim(c, &s, &a);
  if (n < 0) return;
  if (n) {
    if (xs_save(c, key, &s) < 0) return;
    c->dirty += n;
    cairn_notify(c, CAIRN_NOTIFY_STREAM, "xtrim", key);
    if (a.approx) propagate_rewritten(c, &s, &a, -1, SID_MIN);
  }
  cairn_reply_int(&c->reply, n);
}

static void xrange_generic(cairn_ctx *c, int rev) {
  cairn_str sa = rev ? c->argv[3] : c->argv[2], ea = rev ? c->argv[2] : c->argv[3];
  sid start, end;
  int sx, ex;
  if (parse_interval(c, sa, &start, &sx, 0) != 0) return;
  if (sx && id_incr(&start) != 0) {
    cairn_reply_error(&c->reply, "invalid start ID for the interval");
    return;
  }
  if (parse_interval(c, ea, &end, &ex, UINT64_MAX) != 0) return;
  if (ex && id_decr(&end) != 0) {
    cairn_reply_error(&c->reply, "invalid end ID for the interval");
    return;
  }
  long long count = -1;
  for (int j = 4; j < c->argc; j++) {
    if (cairn_arg_is(c->argv[j], "count") && c->argc - j - 1 >= 1) {
      if (cairn_arg_ll(c, c->argv[j + 1], &count) != 0) return;
      if (count < 0) count = 0;
      j++;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  xs s;
  int rc = xs_open(c, c->argv[1], &s);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_array(&c->reply, 0);
    return;
  }
  if (count == 0) {
    cairn_reply_null_array(&c->reply);
    return;
  }
  reply_range(c, &s, start, end, count < 0 ? 0 : count, rev);
}

static void cmd_xrange(cairn_ctx *c) { xrange_generic(c, 0); }
static void cmd_xrevrange(cairn_ctx *c) { xrange_generic(c, 1); }

static void cmd_xlen(cairn_ctx *c) {
  xs s;
  int rc = xs_open(c, c->argv[1], &s);
  if (rc < 0) return;
  cairn_reply_int(&c->reply, rc == 0 ? 0 : (long long)s.m.length);
}

static void cmd_xdel(cairn_ctx *c) {
  /* Redis parses every ID before deleting any */
  for (int j = 2; j < c->argc; j++) {
    sid id;
    if (parse_id(c, c->argv[j], &id, 0, 1, NULL, 1) != 0) return;
  }
  cairn_str key = c->argv[1];
  xs s;
  int rc = xs_open(c, key, &s);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  long long deleted = 0;
  int first_deleted = 0;
  for (int j = 2; j < c->argc; j++) {
    sid id;
    parse_id(c, c->argv[j], &id, 0, 1, NULL, 0);
    unsigned char k[16];
    id_enc(k, id);
    rc = xdel(c, &s, XS_ENTRIES, k, 16);
    if (rc < 0) return;
    if (rc == 1) {
      deleted++;
      s.m.length--;
      if (id_cmp(id, s.m.maxdel) > 0) s.m.maxdel = id;
      if (id_cmp(id, s.m.first) == 0) first_deleted = 1;
    }
  }
  if (deleted) {
    if (s.m.length == 0) {
      s.m.first = SID_MIN;
    } else if (first_deleted && edge_id(c, &s, 0, &s.m.first, NULL) < 0) {
      return;
    }
    if (xs_save(c, key, &s) < 0) return;
    c->dirty += deleted;
    cairn_notify(c, CAIRN_NOTIFY_STREAM, "xdel", key);
  }
  cairn_reply_int(&c->reply, deleted);
}

/* XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id] */
static void cmd_xsetid(cairn_ctx *c) {
  sid id, maxdel = SID_MIN;
  long long added = -1;
  int maxdel_given = 0;
  if (parse_id(c, c->argv[2], &id, 0, 1, NULL, 1) != 0) return;
  for (int i = 3; i < c->argc; i++) {
    int more = c->argc - i - 1;
    if (cairn_arg_is(c->argv[i], "entriesadded") && more) {
      if (cairn_arg_ll(c, c->argv[i + 1], &added) != 0) return;
      if (added < 0) {
        cairn_reply_error(&c->reply, "entries_added must be positive");
        return;
      }
      i++;
    } else if (cairn_arg_is(c->argv[i], "maxdeletedid") && more) {
      if (parse_id(c, c->argv[i + 1], &maxdel, 0, 1, NULL, 1) != 0) return;
      if (id_cmp(id, maxdel) < 0) {
        cairn_reply_error(&c->reply, "The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
        return;
      }
      maxdel_given = 1;
      i++;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  cairn_str key = c->argv[1];
  xs s;
  int rc = xs_open(c, key, &s);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_error(&c->reply, "-ERR no such key");
    return;
  }
  if (id_cmp(id, s.m.last) < 0) {
    /* Redis 7.0 compares with the last valid entry, not last_id */
    sid top;
    int have = s.m.length ? edge_id(c, &s, 1, &top, NULL) : 0;
    if (have < 0) return;
    if (have && id_cmp(id, top) < 0) {
      cairn_reply_error(&c->reply, "The ID specified in XSETID is smaller than the target stream top item");
      return;
    }
  }
  if (added != -1 && (uint64_t)added < s.m.length) {
    cairn_reply_error(&c->reply, "The entries_added specified in XSETID is smaller than the target stream length");
    return;
  }
  s.m.last = id;
  if (added != -1) s.m.entries_added = (uint64_t)added;
  if (maxdel_given) s.m.maxdel = maxdel;
  if (xs_save(c, key, &s) < 0) return;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STREAM, "xsetid", key);
  cairn_reply_ok(&c->reply);
}

/* XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
 * Blocking goes through engine/blocking.c: the command runs again when one
 * of its keys gets an entry; a `$` is replaced in the kept argv by the
 * stream's last ID at the time it blocked, as Redis resolves it then. */
static void cmd_xread(cairn_ctx *c) {
  long long timeout = -1, count = 0;
  int streams_arg = 0, nstreams = 0;
  for (int i = 1; i < c->argc; i++) {
    int more = c->argc - i - 1;
    cairn_str o = c->argv[i];
    if (cairn_arg_is(o, "block") && more) {
      i++;
      const char *err = cairn_timeout_parse(c->argv[i].p, c->argv[i].len, CAIRN_TIMEOUT_MILLISECONDS, &timeout);
      if (err) {
        cairn_reply_error(&c->reply, err);
        return;
      }
    } else if (cairn_arg_is(o, "count") && more) {
      i++;
      if (cairn_arg_ll(c, c->argv[i], &count) != 0) return;
      if (count < 0) count = 0;
    } else if (cairn_arg_is(o, "streams") && more) {
      streams_arg = i + 1;
      nstreams = c->argc - streams_arg;
      if (nstreams % 2 != 0) {
        cairn_reply_error(&c->reply, "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
                                     "specified.");
        return;
      }
      nstreams /= 2;
      break;
    } else if (cairn_arg_is(o, "group") && more >= 2) {
      cairn_reply_error(&c->reply, "The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
      return;
    } else if (cairn_arg_is(o, "noack")) {
      cairn_reply_error(&c->reply, "The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
      return;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if (streams_arg == 0) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  sid *ids = cairn_xmalloc(sizeof(sid) * (size_t)nstreams);
  int *dollar = cairn_xcalloc((size_t)nstreams, sizeof(int));
  for (int i = 0; i < nstreams; i++) {
    cairn_str key = c->argv[streams_arg + i], a = c->argv[streams_arg + nstreams + i];
    xs s;
    int rc = xs_open(c, key, &s);
    if (rc < 0) goto out;
    if (a.len == 1 && a.p[0] == '$') {
      ids[i] = rc == 1 ? s.m.last : SID_MIN;
      dollar[i] = 1;
      continue;
    }
    if (a.len == 1 && a.p[0] == '>') {
      cairn_reply_error(&c->reply,
                        "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> "
                        "option.");
      goto out;
    }
    if (parse_id(c, a, &ids[i], 0, 1, NULL, 1) != 0) goto out;
  }
  /* A woken client with no COUNT gets at most 1000 entries (Redis's
   * XREAD_BLOCKED_DEFAULT_COUNT). */
  cairn_str woken;
  if (count == 0 && timeout != -1 && cairn_blocking_woken_key(c, &woken)) count = 1000;
  size_t mark = 0;
  long long served = 0;
  for (int i = 0; i < nstreams; i++) {
    cairn_str key = c->argv[streams_arg + i];
    xs s;
    int rc = xs_open(c, key, &s);
    if (rc < 0) goto out;
    if (rc == 0 || s.m.length == 0) continue;
    sid maxid;
    if ((rc = edge_id(c, &s, 1, &maxid, NULL)) < 0) goto out;
    if (rc == 0 || id_cmp(maxid, ids[i]) <= 0) continue;
    if (served++ == 0) mark = cairn_reply_defer(&c->reply);
    sid start = ids[i];
    id_incr(&start);
    if (c->client && c->client->resp == 2) cairn_reply_array(&c->reply, 2);
    cairn_reply_bulk(&c->reply, key.p, key.len);
    if (reply_range(c, &s, start, SID_MAX, count, 0) < 0) goto out;
  }
  if (served) {
    if (c->client && c->client->resp == 3)
      cairn_reply_defer_map(&c->reply, mark, served);
    else
      cairn_reply_defer_array(&c->reply, mark, served);
    goto out;
  }
  if (timeout == -1 || !cairn_can_block(c)) {
    cairn_reply_null_array(&c->reply);
    goto out;
  }
  {
    /* `$` becomes the ID it stood for, in the argv the blocked client keeps */
    cairn_str *saved = cairn_xmalloc(sizeof(cairn_str) * (size_t)nstreams);
    char *bufs = cairn_xmalloc(48 * (size_t)nstreams);
    for (int i = 0; i < nstreams; i++) {
      cairn_str *a = &c->argv[streams_arg + nstreams + i];
      saved[i] = *a;
      if (dollar[i]) {
        size_t n = id_fmt(bufs + 48 * i, ids[i]);
        *a = (cairn_str){bufs + 48 * i, n};
      }
    }
    int64_t abs = timeout == 0 ? 0 : timeout > INT64_MAX - c->now_ms ? INT64_MAX : c->now_ms + timeout;
    cairn_block_for_keys(c, c->argv + streams_arg, nstreams, abs);
    for (int i = 0; i < nstreams; i++) c->argv[streams_arg + nstreams + i] = saved[i];
    free(saved);
    free(bufs);
  }
out:
  free(ids);
  free(dollar);
}

/* The consumer-group commands and XINFO are not built yet: an explicit
 * error, never a wrong answer. */
static void cmd_not_yet(cairn_ctx *c) {
  cairn_reply_errorf(&c->reply, "%.*s is not yet supported by cairn (stream consumer groups and XINFO are "
                                "not built yet)", (int)c->argv[0].len, c->argv[0].p);
}

const cairn_command cairn_commands_stream[] = {
    CAIRN_CMD("xadd", -5, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_xadd, "stream",
              "Appends a new entry to a stream", "5.0.0",
              "key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]"),
    CAIRN_CMD("xtrim", -4, CAIRN_F_WRITE, 1, 1, 1, cmd_xtrim, "stream", "Deletes messages from the beginning of a stream.",
              "5.0.0", "key MAXLEN|MINID [=|~] threshold [LIMIT count]"),
    CAIRN_CMD("xrange", -4, CAIRN_F_READ, 1, 1, 1, cmd_xrange, "stream",
              "Returns the messages from a stream within a range of IDs.", "5.0.0", "key start end [COUNT count]"),
    CAIRN_CMD("xrevrange", -4, CAIRN_F_READ, 1, 1, 1, cmd_xrevrange, "stream",
              "Returns the messages from a stream within a range of IDs in reverse order.", "5.0.0",
              "key end start [COUNT count]"),
    CAIRN_CMD("xlen", 2, CAIRN_F_READ | CAIRN_CMD_FAST, 1, 1, 1, cmd_xlen, "stream",
              "Return the number of messages in a stream.", "5.0.0", "key"),
    CAIRN_CMD("xdel", -3, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_xdel, "stream",
              "Returns the number of messages after removing them from a stream.", "5.0.0", "key id [id ...]"),
    CAIRN_CMD("xsetid", -3, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM | CAIRN_CMD_FAST, 1, 1, 1, cmd_xsetid, "stream",
              "An internal command for replicating stream values.", "5.0.0",
              "key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]"),
    CAIRN_CMD("xread", -4, CAIRN_F_READ | CAIRN_CMD_BLOCKING, 0, 0, 0, cmd_xread, "stream",
              "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller "
              "for each stream. Can block.",
              "5.0.0", "[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]"),
    CAIRN_CMD("xreadgroup", -7, CAIRN_F_WRITE | CAIRN_CMD_BLOCKING, 0, 0, 0, cmd_not_yet, "stream",
              "Return new entries from a stream using a consumer group, or access the history of the pending entries "
              "for a given consumer. Can block.",
              "5.0.0", "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]"),
    CAIRN_CMD("xgroup", -2, CAIRN_F_WRITE, 2, 2, 1, cmd_not_yet, "stream", "A container for consumer groups commands",
              "5.0.0", "subcommand"),
    CAIRN_CMD("xack", -4, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_not_yet, "stream",
              "Marks a pending message as correctly processed.", "5.0.0", "key group id [id ...]"),
    CAIRN_CMD("xpending", -3, CAIRN_F_READ, 1, 1, 1, cmd_not_yet, "stream",
              "Return information and entries from a stream consumer group pending entries list.", "5.0.0",
              "key group [[IDLE min-idle-time] start end count [consumer]]"),
    CAIRN_CMD("xclaim", -6, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_not_yet, "stream",
              "Changes (or acquires) ownership of a message in a consumer group.", "5.0.0",
              "key group consumer min-idle-time id [id ...]"),
    CAIRN_CMD("xautoclaim", -6, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_not_yet, "stream",
              "Changes the ownership of messages in a consumer group.", "6.2.0",
              "key group consumer min-idle-time start [COUNT count] [JUSTID]"),
    CAIRN_CMD("xinfo", -2, CAIRN_F_READ, 2, 2, 1, cmd_not_yet, "stream", "A container for stream introspection commands",
              "5.0.0", "subcommand"),
    CAIRN_CMD_END,
};
