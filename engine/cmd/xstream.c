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
 * starts exactly where Redis starts a new listpack: when the tail node holds
 * stream-node-max-entries entries (deleted ones included) or its listpack
 * (whose size cairn computes as Redis encodes it, without building it) plus
 * the new entry's strings reaches stream-node-max-bytes; when every entry
 * of the tail node is gone, the node of the last entry becomes the tail
 * again (XS_NODES keeps a closed node's state for that). `~` trims whole
 * nodes only, reading a node's last ID deleted entries included, so XLEN
 * and the trimmed counts after `MAXLEN ~`/`MINID ~` are Redis's
 * (tests/integration/test_differential_stream.py).
 *
 * Propagation is deterministic: XADD goes out with the ID it generated and,
 * when it trimmed, with an exact `MAXLEN = <length>` in place of its trim
 * arguments (Redis rewrites `~` the same way); XTRIM likewise.
 *
 * Costs: XADD O(log n) (+ trimmed entries); XRANGE/XREVRANGE O(log n + m);
 * XLEN O(log n) (one read of the metadata); XDEL O(log n) per ID; XTRIM
 * O(log n + trimmed); XREAD O(log n + m) per stream.
 *
 * Consumer groups are further spaces of the same collection (see "consumer
 * groups" below). XREADGROUP goes out as XCLAIM ... FORCE JUSTID LASTID per
 * delivered entry plus XGROUP SETID ... ENTRIESREAD (so a replica and the
 * WAL replay get the group's exact read counter), XCLAIM/XAUTOCLAIM as the
 * XCLAIMs of what they changed, like Redis.
 *
 * Not yet: the RDB form of streams (DUMP/RESTORE, full sync both ways). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine/script.h"
#include "engine/server.h"
#include "engine/blocking.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/util.h"
#include "engine/cmd/xstream.h"

#define XS_ENTRIES 0
#define XS_META 1
/* [node u64 BE] -> a closed node's state: [last appended ID 16][bytes][entries][master ID 16][fields]
 * (u64 LE words): what `MINID ~` reads (the last ID counts deleted
 * entries, as Redis's listpack keeps them) and what makes the node the tail
 * again when every node after it is gone (Redis then appends to it). */
#define XS_NODES 6
#define NODE_STATE 56

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
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(b, &v, 8);
#else
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
#endif
}
static uint64_t rdle64(const char *p) {
  uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(&v, p, 8);
#else
  for (int i = 7; i >= 0; i--) v = (v << 8) | (unsigned char)p[i];
#endif
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

/* Redis's string2ull: a canonical integer >= 0, else whatever strtoull
 * takes whole (leading zeros, '+', leading blanks, values above LLONG_MAX;
 * a negative text wraps, as in Redis). */
static int id_str2ull(const char *p, size_t n, unsigned long long *out) {
  long long ll;
  if (cairn_str2ll(p, n, &ll)) {
    if (ll < 0) return 0;
    *out = (unsigned long long)ll;
    return 1;
  }
  char buf[128];
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, p, n);
  buf[n] = 0;
  char *end = NULL;
  errno = 0;
  *out = strtoull(buf, &end, 10);
  if (errno == EINVAL || errno == ERANGE || *end != 0) return 0;
  return 1;
}

/* Redis's streamGenericParseIDOrReply: "-", "+" (unless strict), "ms",
 * "ms-seq", and "ms-*" when seq_given is not NULL (then *seq_given = 0).
 * 0, or -1 after replying (reply 0: silently). */
static int parse_id(cairn_ctx *c, cairn_str a, sid *id, uint64_t missing_seq, int strict, int *seq_given,
                    int reply) {
  if (seq_given) *seq_given = 1;
  if (a.len > 127) goto invalid;
  const char *nul = memchr(a.p, 0, a.len);
  if (nul) a.len = (size_t)(nul - a.p); /* Redis reads the argument as a C string */
  if (a.len == 1 && (a.p[0] == '-' || a.p[0] == '+')) {
    if (strict) goto invalid;
    *id = a.p[0] == '-' ? SID_MIN : SID_MAX;
    return 0;
  }
  const char *dash = memchr(a.p, '-', a.len);
  unsigned long long ms, seq;
  size_t mlen = dash ? (size_t)(dash - a.p) : a.len;
  if (!id_str2ull(a.p, mlen, &ms)) goto invalid;
  if (dash) {
    size_t sl = a.len - mlen - 1;
    if (seq_given && sl == 1 && dash[1] == '*') {
      seq = 0;
      *seq_given = 0;
    } else if (!id_str2ull(dash + 1, sl, &seq)) {
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
  uint64_t node_live;                    /* its entries not deleted (0: the node is gone) */
  /* The head node, as `~` trimming last saw it (head_node 0: unknown; any
   * deletion but a whole-node trim forgets it), so a trim that removes
   * nothing costs O(1), not a walk of the node. */
  uint64_t head_node, head_live;
  sid head_last;
  sid tail_last;        /* the ID last appended to the tail node */
  sid tail_master;      /* its first ID (Redis's master entry) */
  uint64_t tail_fields; /* a hash of its master entry's field names */
  uint64_t node_next;   /* the last node number handed out */
} smeta;
#define META_WORDS 23

typedef struct xs {
  cairn_coll coll;
  int64_t expire_ms;
  smeta m;
  smeta stored; /* the metadata as read (xs_save skips an unchanged one) */
  int have_stored;
} xs;

static void meta_enc(const smeta *m, unsigned char *b) {
  uint64_t w[META_WORDS] = {m->length,    m->entries_added, m->ngroups,   m->last.ms,    m->last.seq,
                            m->first.ms,   m->first.seq,     m->maxdel.ms, m->maxdel.seq, m->node,
                            m->node_count, m->node_bytes,    m->node_live, m->head_node,  m->head_live,
                            m->head_last.ms, m->head_last.seq, m->tail_last.ms, m->tail_last.seq,
                            m->tail_master.ms, m->tail_master.seq, m->tail_fields, m->node_next};
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
  m->node_live = w[12];
  m->head_node = w[13];
  m->head_live = w[14];
  m->head_last.ms = w[15];
  m->head_last.seq = w[16];
  m->tail_last.ms = w[17];
  m->tail_last.seq = w[18];
  m->tail_master.ms = w[19];
  m->tail_master.seq = w[20];
  m->tail_fields = w[21];
  m->node_next = w[22];
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
  s->stored = s->m;
  s->have_stored = 1;
  return 1;
}

static void xs_init(cairn_ctx *c, xs *s) {
  cairn_coll_init(cairn_ctx_store(c), &s->coll);
  s->coll.head = 0;
  s->expire_ms = -1;
  memset(&s->m, 0, sizeof(s->m));
  s->have_stored = 0;
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

/* Writes the metadata, unless it is what xs_open read (XACK, XREADGROUP,
 * XCLAIM change only groups, consumers and pending entries), and the header
 * (every modifying command ends here: its count, and WATCH). */
static int xs_save(cairn_ctx *c, cairn_str key, xs *s) {
  if (!s->have_stored || memcmp(&s->m, &s->stored, sizeof(smeta)) != 0) {
    unsigned char b[8 * META_WORDS];
    meta_enc(&s->m, b);
    /* in place: the metadata is decoded as soon as it is read, never held */
    int rc = cairn_elem_set(cairn_ctx_store(c), s->coll.id, XS_META, "", 0, b, sizeof b);
    if (rc < 0) return failed(c, rc);
    if (rc == 1) s->coll.count++;
    s->stored = s->m;
    s->have_stored = 1;
  }
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

/* An iterator over the entries from bound on (forward), or from bound down
 * (reverse). Opened at the stream's own bounds (m.first: no live entry
 * below it; m.last: none above it) rather than at the ends of the space:
 * there the entries of earlier trims and XDELs may still lie in LMDB under
 * the overlay's tombstones until the store thread merges them, and every
 * XADD MAXLEN ~ walked all of them. */
static int open_entries(cairn_ctx *c, xs *s, sid bound, int reverse, cairn_elem_iter **it) {
  unsigned char b[16];
  id_enc(b, bound);
  return cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, XS_ENTRIES, b, 16, reverse, it);
}

/* The first (or last) entry's ID: 1 found, 0 empty, -1 store error. */
static int edge_id(cairn_ctx *c, xs *s, int last, sid *out, uint64_t *node) {
  cairn_elem_iter *it;
  int rc = open_entries(c, s, last ? s->m.last : s->m.first, last, &it);
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

/* stream-node-max-entries / -bytes, published by engine/config.c whenever
 * the configuration changes (read by every XADD). */
static long long node_max_entries = 100, node_max_bytes = 4096;

void cairn_stream_set_node_limits(long long entries, long long bytes) {
  node_max_entries = entries;
  node_max_bytes = bytes;
}

/* Sizes in a Redis listpack (listpack.c): an element and its backlen. */
static uint64_t lp_int_size(int64_t v) {
  if (v >= 0 && v <= 127) return 2;
  if (v >= -4096 && v <= 4095) return 3;
  if (v >= INT16_MIN && v <= INT16_MAX) return 4;
  if (v >= -8388608 && v <= 8388607) return 5;
  if (v >= INT32_MIN && v <= INT32_MAX) return 6;
  return 10;
}
static uint64_t lp_str_size(const char *p, size_t n) {
  long long v;
  if (n <= 21 && cairn_str2ll(p, n, &v)) return lp_int_size(v); /* lpAppend stores it as an integer */
  uint64_t l = n < 64 ? 1 + n : n < 4096 ? 2 + n : 5 + n;
  return l + (l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5);
}
/* Redis's lpBytes of the tail node: node_bytes holds everything but the
 * master entry's live and deleted counts, which change size as they grow. */
static uint64_t tail_lp_bytes(const smeta *m) {
  return m->node_bytes + lp_int_size((int64_t)m->node_live) + lp_int_size((int64_t)(m->node_count - m->node_live));
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
  uint64_t totelelen = 0, fields = 0x9e3779b97f4a7c15ULL ^ (uint64_t)pairs;
  for (int i = 0; i < 2 * pairs; i++) {
    bytes += 4 + fv[i].len;
    totelelen += fv[i].len;
    if (i % 2 == 0) fields = cairn_hash64(fv[i].p, fv[i].len, fields);
  }
  /* the virtual node: Redis's rule for a new listpack (see the top) */
  long long max_entries = node_max_entries;
  uint64_t max_bytes = node_max_bytes <= 0 || node_max_bytes > (1LL << 30) ? (1ULL << 30) : (uint64_t)node_max_bytes;
  if (s->m.length && s->m.node_live == 0) {
    /* the tail node is gone: Redis's tail is now the node of the last
     * entry; take its state back if it was recorded */
    sid lid;
    uint64_t lnode = 0;
    int rc = edge_id(c, s, 1, &lid, &lnode);
    if (rc < 0) return -1;
    unsigned char nk[8];
    be64(nk, lnode);
    cairn_str nv;
    if (rc == 1 && (rc = cairn_elem_get(cairn_ctx_store(c), s->coll.id, XS_NODES, nk, 8, &nv)) < 0)
      return failed(c, rc);
    if (rc == 1 && nv.len >= NODE_STATE) {
      s->m.node = lnode;
      s->m.tail_last = id_dec(nv.p);
      s->m.node_bytes = rdle64(nv.p + 16);
      s->m.node_count = rdle64(nv.p + 24);
      s->m.tail_master = id_dec(nv.p + 32);
      s->m.tail_fields = rdle64(nv.p + 48);
      /* its live entries: a walk back over the node */
      cairn_elem_iter *it;
      if ((rc = cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, XS_ENTRIES, NULL, 0, 1, &it)) < 0)
        return failed(c, rc);
      cairn_str sub, val;
      uint64_t live = 0;
      while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0 && entry_node(val) == lnode) live++;
      cairn_elem_iter_close(it);
      if (rc < 0) return failed(c, rc);
      s->m.node_live = live;
      if (xdel(c, s, XS_NODES, nk, 8) < 0) return -1;
    }
  }
  int new_node = s->m.length == 0 || s->m.node_live == 0; /* no tail node (any more) */
  if (!new_node && tail_lp_bytes(&s->m) + totelelen >= max_bytes) new_node = 1;
  if (!new_node && max_entries && s->m.node_count >= (uint64_t)max_entries) new_node = 1;
  if (new_node) {
    if (s->m.length && s->m.node_live) {
      /* the closed node's state (see XS_NODES) */
      unsigned char nk[8], st[NODE_STATE];
      be64(nk, s->m.node);
      id_enc(st, s->m.tail_last);
      le64(st + 16, s->m.node_bytes);
      le64(st + 24, s->m.node_count);
      id_enc(st + 32, s->m.tail_master);
      le64(st + 48, s->m.tail_fields);
      if (xput(c, s, XS_NODES, nk, 8, st, NODE_STATE) < 0) return -1;
    }
    if (s->m.node_next < s->m.node) s->m.node_next = s->m.node;
    s->m.node = ++s->m.node_next;
    s->m.node_count = 0;
    s->m.node_live = 0;
    s->m.tail_master = nid;
    s->m.tail_fields = fields;
    /* header and end byte, the master entry's field count, fields and terminator */
    s->m.node_bytes = 7 + lp_int_size(pairs) + lp_int_size(0);
    for (int i = 0; i < 2 * pairs; i += 2) s->m.node_bytes += lp_str_size(fv[i].p, fv[i].len);
  }
  /* the entry: flags, ID deltas, [field count, fields,] values, lp-count */
  int same = fields == s->m.tail_fields;
  uint64_t esize = lp_int_size(same ? 2 : 0) + lp_int_size((int64_t)(nid.ms - s->m.tail_master.ms)) +
                   lp_int_size((int64_t)(nid.seq - s->m.tail_master.seq)) +
                   lp_int_size(same ? pairs + 3 : 2 * (int64_t)pairs + 4);
  if (!same) esize += lp_int_size(pairs);
  for (int i = 0; i < 2 * pairs; i++)
    if (!same || i % 2 == 1) esize += lp_str_size(fv[i].p, fv[i].len);
  s->m.node_bytes += esize;
  s->m.node_count++;
  s->m.node_live++;
  s->m.tail_last = nid;
  if (s->m.head_node && s->m.head_node == s->m.node) { /* the head node is the tail one */
    s->m.head_live++;
    s->m.head_last = nid;
  }
  char small[256];
  char *v = bytes <= sizeof small ? small : cairn_xmalloc(bytes);
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
  /* nid > last >= every live entry's ID (XSETID and the RDB loader keep
   * last at or above the top entry): nothing to look up below the active
   * layer */
  int rc = cairn_elem_add(cairn_ctx_store(c), s->coll.id, XS_ENTRIES, k, 16, v, bytes);
  if (v != small) free(v);
  if (rc < 0) return failed(c, rc);
  s->coll.count++;
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
  sid from = s->m.first; /* (no live entry below it; moves up as entries go) */
  int first_known = 0;   /* the first live entry was read: it is from */
  if (!a->approx) {
    cairn_elem_iter *it;
    if ((rc = open_entries(c, s, from, 0, &it)) < 0) return failed(c, rc);
    cairn_str sub, val;
    for (;;) {
      int more = a->strategy == TRIM_MINID || s->m.length > (uint64_t)a->maxlen;
      if (!more && !deleted) break;
      if ((rc = cairn_elem_iter_next(it, &sub, &val)) <= 0) break;
      from = id_dec(sub.p);
      if (!more || (a->strategy == TRIM_MINID && id_cmp(from, a->minid) >= 0)) {
        first_known = 1;
        break;
      }
      if (entry_node(val) == s->m.node && s->m.node_live) s->m.node_live--;
      if ((rc = cairn_elem_iter_del(it)) < 0) break;
      if (s->coll.count) s->coll.count--;
      s->m.length--;
      deleted++;
      s->m.head_node = 0;
    }
    cairn_elem_iter_close(it);
    if (rc < 0) return failed(c, rc);
  } else {
    for (;;) {
      if (a->strategy == TRIM_MAXLEN && s->m.length <= (uint64_t)a->maxlen) break;
      /* the head node: its entries and its last ID (remembered, or walked) */
      cairn_elem_iter *it;
      cairn_str sub, val;
      long long entries = 0;
      uint64_t node = 0;
      sid lastid = SID_MIN;
      if (s->m.head_node) {
        node = s->m.head_node;
        entries = (long long)s->m.head_live;
        lastid = s->m.head_last;
      } else {
        if ((rc = open_entries(c, s, from, 0, &it)) < 0) return failed(c, rc);
        while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
          uint64_t n = entry_node(val);
          if (entries == 0) node = n;
          else if (n != node) break;
          lastid = id_dec(sub.p);
          entries++;
        }
        cairn_elem_iter_close(it);
        if (rc < 0) return failed(c, rc);
        if (entries) {
          /* the node's last ID counts its deleted entries too */
          if (node == s->m.node && s->m.node_live) {
            lastid = s->m.tail_last;
          } else {
            unsigned char nk[8];
            be64(nk, node);
            cairn_str nv;
            if ((rc = cairn_elem_get(st, s->coll.id, XS_NODES, nk, 8, &nv)) < 0) return failed(c, rc);
            if (rc == 1 && nv.len >= 16 && id_cmp(id_dec(nv.p), lastid) > 0) lastid = id_dec(nv.p);
          }
          s->m.head_node = node;
          s->m.head_live = (uint64_t)entries;
          s->m.head_last = lastid;
        }
      }
      if (entries == 0) break;
      if (a->limit && deleted + entries > a->limit) break;
      int remove = a->strategy == TRIM_MAXLEN ? s->m.length - (uint64_t)entries >= (uint64_t)a->maxlen
                                                : id_cmp(lastid, a->minid) < 0;
      if (!remove) break;
      s->m.head_node = 0; /* the next node is the head now */
      unsigned char nk[8];
      be64(nk, node);
      if (xdel(c, s, XS_NODES, nk, 8) < 0) return -1;
      if ((rc = open_entries(c, s, from, 0, &it)) < 0) return failed(c, rc);
      for (long long i = 0; i < entries; i++) {
        if ((rc = cairn_elem_iter_next(it, &sub, &val)) <= 0) break;
        if (entry_node(val) != node) break; /* never expected: the remembered count was wrong */
        from = id_dec(sub.p);
        if (entry_node(val) == s->m.node && s->m.node_live) s->m.node_live--;
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
  } else if (deleted && first_known) {
    s->m.first = from;
  } else if (deleted) {
    s->m.first = from; /* the last entry deleted: the first live one is above it */
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
    long long ne = node_max_entries;
    a->limit = ne > 10000 ? 1000000 : 100 * ne;
    if (a->limit <= 0) a->limit = 10000;
    if (a->limit > 1000000) a->limit = 1000000;
  }
  return i;
}

/* Propagates argv with the trim arguments made exact (Redis's
 * streamRewriteApproxSpecifier/streamRewriteTrimArgument) and, for XADD,
 * the ID replaced by the one generated (idpos < 0: none). */
static void propagate_rewritten(cairn_ctx *c, xs *s, const trim_args *a, int idpos, cairn_str id) {
  cairn_str small[16];
  cairn_str *argv = c->argc <= 16 ? small : cairn_xmalloc(sizeof(cairn_str) * (size_t)c->argc);
  memcpy(argv, c->argv, sizeof(cairn_str) * (size_t)c->argc);
  char trimbuf[48];
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
  if (idpos >= 0) argv[idpos] = id;
  /* LIMIT goes out as given: a replica applying it ignores it (limit 0 when
   * obeying the stream), like Redis's mustObeyClient. */
  cairn_propagate(c, c->db, c->argc, argv);
  c->custom_propagation = 1;
  if (argv != small) free(argv);
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
  char idbuf[48];
  cairn_str ids = {idbuf, id_fmt(idbuf, id)};
  cairn_reply_bulk(&c->reply, ids.p, ids.len);
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STREAM, "xadd", key);
  if (trimmed) cairn_notify(c, CAIRN_NOTIFY_STREAM, "xtrim", key);
  if (a.approx || !a.id_given || !a.seq_given)
    propagate_rewritten(c, &s, &a, (!a.id_given || !a.seq_given) ? idpos : -1, ids);
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
    if (a.approx) propagate_rewritten(c, &s, &a, -1, (cairn_str){NULL, 0});
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
    cairn_str ev;
    rc = cairn_elem_get(cairn_ctx_store(c), s.coll.id, XS_ENTRIES, k, 16, &ev);
    if (rc < 0) {
      failed(c, rc);
      return;
    }
    if (rc == 1 && entry_node(ev) == s.m.node && s.m.node_live) s.m.node_live--;
    if (rc == 1) s.m.head_node = 0;
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

/* ---------------------------------------------------------------- consumer groups
 *
 * More spaces of the stream's collection:
 *   XS_GROUPS  group                          -> [last ms][last seq][entries_read i64, -1 = unknown]
 *                                                [pending][consumers]   (u64 LE each)
 *   XS_PEL     [glen u32 BE][group][id 16]    -> [delivery ms i64][deliveries u64][consumer]
 *   XS_CONS    [glen u32 BE][group][consumer] -> [seen ms i64][pending u64]
 *   XS_CPEL    [glen u32 BE][group][clen u32 BE][consumer][id 16] -> ""
 * so a group's pending entries list is a range in ID order, and a
 * consumer's too; nothing of a group is held in memory. Group and consumer
 * names are limited to NAME_MAX bytes (longer sub-keys would lose their
 * order, see CAIRN_ELEM_INLINE). */
#define XS_GROUPS 2
#define XS_PEL 3
#define XS_CONS 4
#define XS_CPEL 5
#define NAME_MAX_LEN 200
#define INVALID_READ INT64_MIN /* entries_read unknown (Redis's SCG_INVALID_ENTRIES_READ) */

typedef struct xgroup {
  sid last;
  int64_t entries_read; /* INVALID_READ when unknown */
  uint64_t pending, consumers;
} xgroup;

typedef struct xcons {
  int64_t seen;
  uint64_t pending;
} xcons;

static void be32(unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)(v >> 24);
  b[1] = (unsigned char)(v >> 16);
  b[2] = (unsigned char)(v >> 8);
  b[3] = (unsigned char)v;
}

static void gprefix(cairn_buf *b, cairn_str g) {
  unsigned char l[4];
  be32(l, (uint32_t)g.len);
  b->len = 0;
  cairn_buf_append(b, l, 4);
  cairn_buf_append(b, g.p, g.len);
}
static void pel_key(cairn_buf *b, cairn_str g, sid id) {
  unsigned char k[16];
  gprefix(b, g);
  id_enc(k, id);
  cairn_buf_append(b, k, 16);
}
static void cons_key(cairn_buf *b, cairn_str g, cairn_str cname) {
  gprefix(b, g);
  cairn_buf_append(b, cname.p, cname.len);
}
static void cpel_prefix(cairn_buf *b, cairn_str g, cairn_str cname) {
  unsigned char l[4];
  gprefix(b, g);
  be32(l, (uint32_t)cname.len);
  cairn_buf_append(b, l, 4);
  cairn_buf_append(b, cname.p, cname.len);
}
static void cpel_key(cairn_buf *b, cairn_str g, cairn_str cname, sid id) {
  unsigned char k[16];
  cpel_prefix(b, g, cname);
  id_enc(k, id);
  cairn_buf_append(b, k, 16);
}

static int group_get(cairn_ctx *c, xs *s, cairn_str g, xgroup *out) {
  if (s->m.ngroups == 0) return 0;
  cairn_str v;
  int rc = cairn_elem_get(cairn_ctx_store(c), s->coll.id, XS_GROUPS, g.p, g.len, &v);
  if (rc < 0) return failed(c, rc);
  if (rc == 0 || v.len < 40) return 0;
  out->last.ms = rdle64(v.p);
  out->last.seq = rdle64(v.p + 8);
  out->entries_read = (int64_t)rdle64(v.p + 16);
  out->pending = rdle64(v.p + 24);
  out->consumers = rdle64(v.p + 32);
  return 1;
}
static int group_put(cairn_ctx *c, xs *s, cairn_str g, const xgroup *gr) {
  unsigned char b[40];
  le64(b, gr->last.ms);
  le64(b + 8, gr->last.seq);
  le64(b + 16, (uint64_t)gr->entries_read);
  le64(b + 24, gr->pending);
  le64(b + 32, gr->consumers);
  return xput(c, s, XS_GROUPS, g.p, g.len, b, sizeof b);
}

static int cons_get(cairn_ctx *c, xs *s, cairn_str g, cairn_str cname, xcons *out) {
  cairn_buf k = {0};
  cons_key(&k, g, cname);
  cairn_str v;
  int rc = cairn_elem_get(cairn_ctx_store(c), s->coll.id, XS_CONS, k.p, k.len, &v);
  cairn_buf_free(&k);
  if (rc < 0) return failed(c, rc);
  if (rc == 0 || v.len < 16) return 0;
  out->seen = (int64_t)rdle64(v.p);
  out->pending = rdle64(v.p + 8);
  return 1;
}
static int cons_put(cairn_ctx *c, xs *s, cairn_str g, cairn_str cname, const xcons *cs) {
  cairn_buf k = {0};
  cons_key(&k, g, cname);
  unsigned char b[16];
  le64(b, (uint64_t)cs->seen);
  le64(b + 8, cs->pending);
  int rc = xput(c, s, XS_CONS, k.p, k.len, b, sizeof b);
  cairn_buf_free(&k);
  return rc;
}

/* The consumer, created if absent (Redis's streamCreateConsumer: dirty,
 * 'xgroup-createconsumer'). refresh: its seen time becomes now. 1 created,
 * 0 existed, -1 store error. */
static int cons_ensure(cairn_ctx *c, cairn_str key, xs *s, cairn_str g, xgroup *gr, cairn_str cname, xcons *cs,
                       int refresh) {
  int rc = cons_get(c, s, g, cname, cs);
  if (rc < 0) return -1;
  if (rc == 1) {
    if (refresh) cs->seen = c->now_ms;
    return 0;
  }
  cs->seen = c->now_ms;
  cs->pending = 0;
  gr->consumers++;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STREAM, "xgroup-createconsumer", key);
  return 1;
}

/* A pending entry: 1 found (time, count, owner copied), 0 absent, -1. */
typedef struct nack {
  int64_t time;
  uint64_t count;
  cairn_buf owner;
} nack;

static int pel_get(cairn_ctx *c, xs *s, cairn_str g, sid id, nack *n) {
  cairn_buf k = {0};
  pel_key(&k, g, id);
  cairn_str v;
  int rc = cairn_elem_get(cairn_ctx_store(c), s->coll.id, XS_PEL, k.p, k.len, &v);
  cairn_buf_free(&k);
  if (rc < 0) return failed(c, rc);
  if (rc == 0 || v.len < 16) return 0;
  n->time = (int64_t)rdle64(v.p);
  n->count = rdle64(v.p + 8);
  n->owner.len = 0;
  cairn_buf_append(&n->owner, v.p + 16, v.len - 16);
  return 1;
}
static int pel_put(cairn_ctx *c, xs *s, cairn_str g, sid id, int64_t time, uint64_t count, cairn_str owner) {
  cairn_buf k = {0}, v = {0};
  pel_key(&k, g, id);
  unsigned char b[16];
  le64(b, (uint64_t)time);
  le64(b + 8, count);
  cairn_buf_append(&v, b, 16);
  cairn_buf_append(&v, owner.p, owner.len);
  int rc = xput(c, s, XS_PEL, k.p, k.len, v.p, v.len);
  cairn_buf_free(&k);
  cairn_buf_free(&v);
  return rc;
}

/* Adds/removes id in a consumer's own list and its pending count. */
static int cpel_change(cairn_ctx *c, xs *s, cairn_str g, cairn_str cname, sid id, int add) {
  cairn_buf k = {0};
  cpel_key(&k, g, cname, id);
  int rc = add ? xput(c, s, XS_CPEL, k.p, k.len, "", 0) : xdel(c, s, XS_CPEL, k.p, k.len);
  cairn_buf_free(&k);
  if (rc < 0) return -1;
  xcons cs;
  if ((rc = cons_get(c, s, g, cname, &cs)) < 0) return -1;
  if (rc == 0) return 0;
  if (add) cs.pending++;
  else if (cs.pending) cs.pending--;
  return cons_put(c, s, g, cname, &cs);
}

/* Removes a pending entry from the group's list and its owner's, but not
 * from the owner's pending count (the caller's). 0, or -1. */
static int pel_unlink(cairn_ctx *c, xs *s, cairn_str g, xgroup *gr, sid id, cairn_str owner) {
  cairn_buf k = {0};
  pel_key(&k, g, id);
  int rc = xdel(c, s, XS_PEL, k.p, k.len);
  if (rc >= 0) {
    if (rc == 1 && gr->pending) gr->pending--;
    cpel_key(&k, g, owner, id);
    rc = xdel(c, s, XS_CPEL, k.p, k.len);
  }
  cairn_buf_free(&k);
  return rc < 0 ? -1 : 0;
}

/* Removes a pending entry from the group and its owner. */
static int pel_remove(cairn_ctx *c, xs *s, cairn_str g, xgroup *gr, sid id, cairn_str owner) {
  if (pel_unlink(c, s, g, gr, id, owner) < 0) return -1;
  xcons cs;
  int rc = cons_get(c, s, g, owner, &cs);
  if (rc <= 0) return rc;
  if (cs.pending) cs.pending--;
  return cons_put(c, s, g, owner, &cs);
}

/* Gives pending entry id to consumer cname (created with the group's PEL
 * entry if absent), with delivery time and count. *cs is cname's record,
 * kept by the caller (written by it at the end). */
static int pel_assign(cairn_ctx *c, xs *s, cairn_str g, xgroup *gr, sid id, cairn_str cname, xcons *cs,
                      int64_t time, uint64_t count, int known_absent) {
  nack old = {0};
  int rc = 0;
  if (known_absent) {
    /* the group's list has no entry for id (nor, then, a consumer's) */
    cairn_buf k = {0}, v = {0};
    unsigned char b[16];
    cpel_key(&k, g, cname, id);
    rc = cairn_elem_add(cairn_ctx_store(c), s->coll.id, XS_CPEL, k.p, k.len, "", 0);
    if (rc >= 0) {
      pel_key(&k, g, id);
      le64(b, (uint64_t)time);
      le64(b + 8, count);
      cairn_buf_append(&v, b, 16);
      cairn_buf_append(&v, cname.p, cname.len);
      rc = cairn_elem_add(cairn_ctx_store(c), s->coll.id, XS_PEL, k.p, k.len, v.p, v.len);
    }
    cairn_buf_free(&k);
    cairn_buf_free(&v);
    if (rc < 0) return failed(c, rc);
    s->coll.count += 2;
    gr->pending++;
    cs->pending++;
    return 0;
  }
  rc = pel_get(c, s, g, id, &old);
  if (rc < 0) goto out;
  int found = rc == 1;
  int same = found && old.owner.len == cname.len && memcmp(old.owner.p, cname.p, cname.len) == 0;
  if (found && !same) {
    cairn_str o = {old.owner.p, old.owner.len};
    if ((rc = cpel_change(c, s, g, o, id, 0)) < 0) goto out;
  }
  if (!found) gr->pending++;
  if (!same) {
    /* cname's own list holds id exactly when the group's list gives it to
     * cname (kept by every change, checked by the RDB loader): absent */
    cairn_buf k = {0};
    cpel_key(&k, g, cname, id);
    rc = cairn_elem_add(cairn_ctx_store(c), s->coll.id, XS_CPEL, k.p, k.len, "", 0);
    cairn_buf_free(&k);
    if (rc < 0) {
      failed(c, rc);
      goto out;
    }
    s->coll.count++;
    cs->pending++;
  }
  rc = pel_put(c, s, g, id, time, count, cname);
out:
  cairn_buf_free(&old.owner);
  return rc < 0 ? -1 : 0;
}

static int entry_exists(cairn_ctx *c, xs *s, sid id) {
  unsigned char k[16];
  id_enc(k, id);
  cairn_str v;
  int rc = cairn_elem_get(cairn_ctx_store(c), s->coll.id, XS_ENTRIES, k, 16, &v);
  return rc < 0 ? failed(c, rc) : rc;
}

/* Replies one entry by ID: 1 emitted, 0 absent, -1 store error. */
static int reply_one(cairn_ctx *c, xs *s, sid id) {
  unsigned char k[16];
  id_enc(k, id);
  cairn_str v;
  int rc = cairn_elem_get(cairn_ctx_store(c), s->coll.id, XS_ENTRIES, k, 16, &v);
  if (rc < 0) return failed(c, rc);
  if (rc == 1) reply_entry(c, id, v);
  return rc;
}

static int id_is_zero(sid id) { return id.ms == 0 && id.seq == 0; }

/* Redis's streamRangeHasTombstones (start .. +). */
static int has_tombstones(const xs *s, sid start) {
  if (!s->m.length || id_is_zero(s->m.maxdel)) return 0;
  if (id_cmp(s->m.first, s->m.maxdel) > 0) return 0;
  return id_cmp(start, s->m.maxdel) <= 0;
}

/* Redis's streamEstimateDistanceFromFirstEverEntry. */
static int64_t estimate_read(const xs *s, sid id) {
  if (!s->m.entries_added) return 0;
  if (!s->m.length && id_cmp(id, s->m.last) < 1) return (int64_t)s->m.entries_added;
  int cl = id_cmp(id, s->m.last);
  if (cl == 0) return (int64_t)s->m.entries_added;
  if (cl > 0) return INVALID_READ;
  int cf = id_cmp(id, s->m.first);
  if (id_is_zero(s->m.maxdel) || id_cmp(s->m.maxdel, s->m.first) < 0) {
    if (cf < 0) return (int64_t)(s->m.entries_added - s->m.length);
    if (cf == 0) return (int64_t)(s->m.entries_added - s->m.length + 1);
  }
  return INVALID_READ;
}

static void reply_lag(cairn_ctx *c, const xs *s, const xgroup *g) {
  if (!s->m.entries_added) {
    cairn_reply_int(&c->reply, 0);
  } else if (g->entries_read != INVALID_READ && !has_tombstones(s, g->last)) {
    cairn_reply_int(&c->reply, (long long)s->m.entries_added - g->entries_read);
  } else {
    int64_t r = estimate_read(s, g->last);
    if (r != INVALID_READ)
      cairn_reply_int(&c->reply, (long long)s->m.entries_added - r);
    else
      cairn_reply_null(&c->reply);
  }
}

static void reply_entries_read(cairn_ctx *c, const xgroup *g) {
  if (g->entries_read != INVALID_READ)
    cairn_reply_int(&c->reply, g->entries_read);
  else
    cairn_reply_null(&c->reply);
}

/* XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID last:
 * Redis's idempotent form of a change to one pending entry. */
static void propagate_xclaim(cairn_ctx *c, cairn_str key, cairn_str g, cairn_str cname, sid id, int64_t time,
                             uint64_t count, sid last) {
  char idb[48], tb[24], cb[24], lb[48];
  cairn_str argv[14] = {{"XCLAIM", 6},
                        key,
                        g,
                        cname,
                        {"0", 1},
                        {idb, id_fmt(idb, id)},
                        {"TIME", 4},
                        {tb, cairn_ll2str(tb, time)},
                        {"RETRYCOUNT", 10},
                        {cb, cairn_ull2str(cb, count)},
                        {"FORCE", 5},
                        {"JUSTID", 6},
                        {"LASTID", 6},
                        {lb, id_fmt(lb, last)}};
  cairn_propagate(c, c->db, 14, argv);
  c->custom_propagation = 1;
}

/* XGROUP SETID key group last ENTRIESREAD n */
static void propagate_setid(cairn_ctx *c, cairn_str key, cairn_str g, const xgroup *gr) {
  char lb[48], nb[24];
  cairn_str argv[7] = {{"XGROUP", 6}, {"SETID", 5}, key, g, {lb, id_fmt(lb, gr->last)}, {"ENTRIESREAD", 11},
                       {nb, cairn_ll2str(nb, gr->entries_read == INVALID_READ ? -1 : gr->entries_read)}};
  cairn_propagate(c, c->db, 7, argv);
  c->custom_propagation = 1;
}

static void propagate_createconsumer(cairn_ctx *c, cairn_str key, cairn_str g, cairn_str cname) {
  cairn_str argv[5] = {{"XGROUP", 6}, {"CREATECONSUMER", 14}, key, g, cname};
  cairn_propagate(c, c->db, 5, argv);
  c->custom_propagation = 1;
}

static int name_too_long(cairn_ctx *c, cairn_str n) {
  if (n.len <= NAME_MAX_LEN) return 0;
  cairn_reply_errorf(&c->reply, "-ERR cairn limits consumer group and consumer names to %d bytes", NAME_MAX_LEN);
  return 1;
}

/* ---------------------------------------------------------------- XREAD, XREADGROUP */

/* XREADGROUP '>': delivers the entries after the group's last ID. Returns
 * the number emitted (the reply array included), -1 store error. */
static long long serve_new(cairn_ctx *c, cairn_str key, xs *s, cairn_str g, xgroup *gr, cairn_str cname,
                           xcons *cs, long long count, int noack) {
  sid start = gr->last;
  if (id_incr(&start) != 0) {
    cairn_reply_array(&c->reply, 0);
    return 0;
  }
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  unsigned char from[16];
  id_enc(from, start);
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, XS_ENTRIES, from, 16, 0, &it);
  if (rc < 0) return failed(c, rc);
  int moved = 0;
  cairn_str sub, val;
  /* Whether the group's pending list holds nothing from start on (the
   * usual case: entries past the last delivered one get there only by
   * XCLAIM or after XGROUP SETID went back): then every entry delivered
   * here is new to it, and is added without a lookup. */
  int pel_clear = 0;
  if (!noack) {
    cairn_buf pk = {0};
    pel_key(&pk, g, start);
    cairn_elem_iter *pi;
    int prc = cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, XS_PEL, pk.p, pk.len, 0, &pi);
    if (prc >= 0) {
      cairn_str ps, pv;
      prc = cairn_elem_iter_next(pi, &ps, &pv);
      pel_clear = prc == 0 || (prc > 0 && (ps.len < pk.len - 16 || memcmp(ps.p, pk.p, pk.len - 16) != 0));
      cairn_elem_iter_close(pi);
    }
    cairn_buf_free(&pk);
    if (prc < 0) {
      cairn_elem_iter_close(it);
      return failed(c, prc);
    }
  }
  while ((count == 0 || n < count) && (rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    sid id = id_dec(sub.p);
    if (id_cmp(id, gr->last) > 0) {
      if (gr->entries_read != INVALID_READ && !has_tombstones(s, id))
        gr->entries_read++;
      else if (s->m.entries_added)
        gr->entries_read = estimate_read(s, id);
      gr->last = id;
      moved = 1;
    }
    reply_entry(c, id, val);
    n++;
    if (!noack) {
      if (pel_assign(c, s, g, gr, id, cname, cs, c->now_ms, 1, pel_clear) < 0) {
        rc = -1;
        break;
      }
      propagate_xclaim(c, key, g, cname, id, c->now_ms, 1, gr->last);
    }
  }
  cairn_elem_iter_close(it);
  if (rc < 0) return c->store_rc ? -1 : failed(c, rc);
  if (moved) propagate_setid(c, key, g, gr);
  if (n) c->dirty += n;
  cairn_reply_defer_array(&c->reply, mark, n);
  return n;
}

/* XREADGROUP with an ID: the consumer's own pending entries after it (a
 * deleted entry is [id, nil]); each delivered one counts a delivery. */
static long long serve_history(cairn_ctx *c, cairn_str key, xs *s, cairn_str g, xgroup *gr, cairn_str cname,
                               sid after, long long count) {
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  cairn_buf pre = {0}, from = {0};
  cpel_prefix(&pre, g, cname);
  sid start = after;
  int rc = 0;
  if (id_incr(&start) == 0) {
    cpel_key(&from, g, cname, start);
    cairn_elem_iter *it;
    rc = cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, XS_CPEL, from.p, from.len, 0, &it);
    if (rc < 0) {
      cairn_buf_free(&pre);
      cairn_buf_free(&from);
      return failed(c, rc);
    }
    cairn_str sub, val;
    sid *ids = NULL;
    size_t nids = 0, cap = 0;
    while ((count == 0 || (long long)nids < count) && (rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
      if (sub.len != pre.len + 16 || memcmp(sub.p, pre.p, pre.len) != 0) break;
      if (nids == cap) {
        cap = cap ? cap * 2 : 16;
        ids = cairn_xrealloc(ids, cap * sizeof(sid));
      }
      ids[nids++] = id_dec(sub.p + pre.len);
    }
    cairn_elem_iter_close(it);
    for (size_t i = 0; rc >= 0 && i < nids; i++) {
      int e = reply_one(c, s, ids[i]);
      if (e < 0) {
        rc = -1;
        break;
      }
      if (e == 0) {
        cairn_reply_array(&c->reply, 2);
        reply_id(c, ids[i]);
        cairn_reply_null_array(&c->reply);
      } else {
        nack nk = {0};
        int pr = pel_get(c, s, g, ids[i], &nk);
        if (pr == 1) {
          pr = pel_put(c, s, g, ids[i], c->now_ms, nk.count + 1, cname);
          propagate_xclaim(c, key, g, cname, ids[i], c->now_ms, nk.count + 1, gr->last);
          c->dirty++;
        }
        cairn_buf_free(&nk.owner);
        if (pr < 0) {
          rc = -1;
          break;
        }
      }
      n++;
    }
    free(ids);
  }
  cairn_buf_free(&pre);
  cairn_buf_free(&from);
  if (rc < 0) return c->store_rc ? -1 : failed(c, rc);
  cairn_reply_defer_array(&c->reply, mark, n);
  return n;
}

/* XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
 * XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK]
 *            STREAMS key [key ...] id [id ...]
 * Blocking goes through engine/blocking.c: the command runs again when one
 * of its keys gets an entry; a `$` is replaced in the kept argv by the
 * stream's last ID at the time it blocked, as Redis resolves it then. */
static void xread_generic(cairn_ctx *c, int xreadgroup) {
  long long timeout = -1, count = 0;
  int streams_arg = 0, nstreams = 0, noack = 0;
  cairn_str g = {NULL, 0}, cname = {NULL, 0};
  for (int i = 1; i < c->argc; i++) {
    int more = c->argc - i - 1;
    cairn_str o = c->argv[i];
    if (cairn_arg_is(o, "block") && more) {
      if (cairn_script_running(c->srv)) {
        /* Redis: no sense in BLOCK from a script (a script never blocks) */
        cairn_reply_errorf(&c->reply, "%s command is not allowed with BLOCK option from scripts",
                           xreadgroup ? "xreadgroup" : "xread");
        return;
      }
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
      if (!xreadgroup) {
        cairn_reply_error(&c->reply, "The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
        return;
      }
      g = c->argv[i + 1];
      cname = c->argv[i + 2];
      i += 2;
    } else if (cairn_arg_is(o, "noack")) {
      if (!xreadgroup) {
        cairn_reply_error(&c->reply, "The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
        return;
      }
      noack = 1;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if (streams_arg == 0) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  if (xreadgroup && !g.p) {
    cairn_reply_error(&c->reply, "Missing GROUP option for XREADGROUP");
    return;
  }
  if (xreadgroup && (name_too_long(c, g) || name_too_long(c, cname))) return;
  cairn_str woken;
  int was_woken = cairn_blocking_woken_key(c, &woken);
  if (xreadgroup && was_woken) {
    /* woken by the key's deletion, or by a change of its groups (Redis's
     * unblockDeletedStreamReadgroupClients and serveClientsBlockedOnKey) */
    cairn_value v;
    int rc = cairn_lookup(c, woken, &v);
    if (rc < 0) return;
    if (rc == 0 || v.type != CAIRN_TYPE_STREAM) {
      cairn_reply_error(&c->reply, "-UNBLOCKED the stream key no longer exists");
      return;
    }
    xs s;
    xgroup gr = {0};
    if (xs_open(c, woken, &s) != 1) return;
    rc = group_get(c, &s, g, &gr);
    if (rc < 0) return;
    if (rc == 0) {
      cairn_reply_error(&c->reply, "-NOGROUP the consumer group this client was blocked on no longer exists");
      return;
    }
  }
  sid *ids = cairn_xmalloc(sizeof(sid) * (size_t)nstreams);
  int *special = cairn_xcalloc((size_t)nstreams, sizeof(int)); /* 1: `$`, 2: `>` */
  for (int i = 0; i < nstreams; i++) {
    cairn_str key = c->argv[streams_arg + i], a = c->argv[streams_arg + nstreams + i];
    xs s;
    int rc = xs_open(c, key, &s);
    if (rc < 0) goto out;
    if (xreadgroup) {
      xgroup gr = {0};
      int grc = rc == 1 ? group_get(c, &s, g, &gr) : 0;
      if (grc < 0) goto out;
      if (grc == 0) {
        cairn_reply_errorf(&c->reply, "-NOGROUP No such key '%.*s' or consumer group '%.*s' in XREADGROUP with GROUP option",
                           (int)key.len, key.p, (int)g.len, g.p);
        goto out;
      }
    }
    if (a.len == 1 && a.p[0] == '$') {
      if (xreadgroup) {
        cairn_reply_error(&c->reply,
                          "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of "
                          "this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID "
                          "would just return an empty result set.");
        goto out;
      }
      ids[i] = rc == 1 ? s.m.last : SID_MIN;
      special[i] = 1;
      continue;
    }
    if (a.len == 1 && a.p[0] == '>') {
      if (!xreadgroup) {
        cairn_reply_error(&c->reply,
                          "The > ID can be specified only when calling XREADGROUP using the GROUP <group> "
                          "<consumer> option.");
        goto out;
      }
      ids[i] = SID_MAX;
      special[i] = 2;
      continue;
    }
    if (parse_id(c, a, &ids[i], 0, 1, NULL, 1) != 0) goto out;
  }
  /* A woken client with no COUNT gets at most 1000 entries (Redis's
   * XREAD_BLOCKED_DEFAULT_COUNT). */
  if (count == 0 && timeout != -1 && was_woken) count = 1000;
  size_t mark = 0;
  long long served = 0;
  for (int i = 0; i < nstreams; i++) {
    cairn_str key = c->argv[streams_arg + i];
    xs s;
    int rc = xs_open(c, key, &s);
    if (rc < 0) goto out;
    if (rc == 0) continue;
    xgroup gr = {0};
    int history = 0;
    if (xreadgroup) {
      if (group_get(c, &s, g, &gr) != 1) goto out; /* checked above */
      if (special[i] != 2) {
        history = 1;
      } else {
        if (s.m.length == 0) continue;
        sid maxid;
        if ((rc = edge_id(c, &s, 1, &maxid, NULL)) < 0) goto out;
        if (rc == 0 || id_cmp(maxid, gr.last) <= 0) continue;
      }
    } else {
      if (s.m.length == 0) continue;
      sid maxid;
      if ((rc = edge_id(c, &s, 1, &maxid, NULL)) < 0) goto out;
      if (rc == 0 || id_cmp(maxid, ids[i]) <= 0) continue;
    }
    if (served++ == 0) mark = cairn_reply_defer(&c->reply);
    if (!(c->client && c->client->resp == 3)) cairn_reply_array(&c->reply, 2);
    cairn_reply_bulk(&c->reply, key.p, key.len);
    if (!xreadgroup) {
      sid start = ids[i];
      id_incr(&start);
      if (reply_range(c, &s, start, SID_MAX, count, 0) < 0) goto out;
      continue;
    }
    xcons cs;
    int created = cons_ensure(c, key, &s, g, &gr, cname, &cs, 1);
    if (created < 0) goto out;
    if (created) propagate_createconsumer(c, key, g, cname);
    long long n = history ? serve_history(c, key, &s, g, &gr, cname, ids[i], count)
                          : serve_new(c, key, &s, g, &gr, cname, &cs, count, noack);
    if (n < 0) goto out;
    if (history) {
      /* pel_assign did not run: reread the counts serve_history kept */
      if (cons_get(c, &s, g, cname, &cs) < 0) goto out;
      cs.seen = c->now_ms;
    }
    if (cons_put(c, &s, g, cname, &cs) < 0 || group_put(c, &s, g, &gr) < 0 || xs_save(c, key, &s) < 0) goto out;
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
      if (special[i] == 1) {
        size_t n = id_fmt(bufs + 48 * i, ids[i]);
        *a = (cairn_str){bufs + 48 * i, n};
      }
    }
    int64_t abs = timeout == 0 ? 0 : timeout > INT64_MAX - c->now_ms ? INT64_MAX : c->now_ms + timeout;
    cairn_block_for_keys(c, c->argv + streams_arg, nstreams, abs);
    if (xreadgroup) cairn_block_wake_on_delete(c);
    for (int i = 0; i < nstreams; i++) c->argv[streams_arg + nstreams + i] = saved[i];
    free(saved);
    free(bufs);
  }
out:
  if (xreadgroup && !c->custom_propagation) c->custom_propagation = 1; /* never its own argv */
  free(ids);
  free(special);
}

static void cmd_xread(cairn_ctx *c) { xread_generic(c, 0); }
static void cmd_xreadgroup(cairn_ctx *c) { xread_generic(c, 1); }

/* ---------------------------------------------------------------- XGROUP */

/* The stream and group of an XGROUP subcommand (argv[2], argv[3]): 1 both,
 * 0 replied an error, -1 store error / WRONGTYPE. need_group: a missing
 * group is the NOGROUP error. */
static int xgroup_open(cairn_ctx *c, xs *s, xgroup *gr, int need_group, int *have_group) {
  cairn_str key = c->argv[2], g = c->argv[3];
  int rc = xs_open(c, key, s);
  if (rc < 0) return -1;
  if (rc == 0) {
    cairn_reply_error(&c->reply, "The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
                                 "want to use the MKSTREAM option to create an empty stream automatically.");
    return 0;
  }
  rc = group_get(c, s, g, gr);
  if (rc < 0) return -1;
  if (have_group) *have_group = rc;
  if (rc == 0 && need_group) {
    cairn_reply_errorf(&c->reply, "-NOGROUP No such consumer group '%.*s' for key name '%.*s'", (int)g.len, g.p,
                       (int)key.len, key.p);
    return 0;
  }
  return 1;
}

/* CREATE/SETID options: [MKSTREAM] [ENTRIESREAD n]. 0, or -1 replied. */
static int xgroup_opts(cairn_ctx *c, int create, int *mkstream, int64_t *entries_read) {
  *mkstream = 0;
  *entries_read = INVALID_READ;
  for (int i = 5; i < c->argc;) {
    if (create && cairn_arg_is(c->argv[i], "mkstream")) {
      *mkstream = 1;
      i++;
    } else if (cairn_arg_is(c->argv[i], "entriesread") && i + 1 < c->argc) {
      long long v;
      if (cairn_arg_ll(c, c->argv[i + 1], &v) != 0) return -1;
      if (v < 0 && v != -1) {
        cairn_reply_error(&c->reply, "value for ENTRIESREAD must be positive or -1");
        return -1;
      }
      *entries_read = v == -1 ? INVALID_READ : v;
      i += 2;
    } else {
      cairn_reply_subcommand_syntax_error(c);
      return -1;
    }
  }
  return 0;
}

static void cmd_xgroup_create(cairn_ctx *c) {
  int mkstream;
  int64_t er;
  if (xgroup_opts(c, 1, &mkstream, &er) != 0) return;
  if (c->argc > 8) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  cairn_str key = c->argv[2], g = c->argv[3];
  xs s;
  int rc = xs_open(c, key, &s);
  if (rc < 0) return;
  if (rc == 0 && !mkstream) {
    cairn_reply_error(&c->reply, "The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
                                 "want to use the MKSTREAM option to create an empty stream automatically.");
    return;
  }
  sid id;
  if (c->argv[4].len == 1 && c->argv[4].p[0] == '$') {
    id = rc == 1 ? s.m.last : SID_MIN;
  } else if (parse_id(c, c->argv[4], &id, 0, 1, NULL, 1) != 0) {
    return;
  }
  if (name_too_long(c, g)) return;
  if (rc == 0) xs_init(c, &s);
  xgroup gr = {0};
  int have = rc == 1 ? group_get(c, &s, g, &gr) : 0;
  if (have < 0) return;
  if (have) {
    cairn_reply_error(&c->reply, "-BUSYGROUP Consumer Group name already exists");
    return;
  }
  gr.last = id;
  gr.entries_read = er;
  gr.pending = gr.consumers = 0;
  s.m.ngroups++;
  if (group_put(c, &s, g, &gr) < 0 || xs_save(c, key, &s) < 0) return;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STREAM, "xgroup-create", key);
  cairn_reply_ok(&c->reply);
}

static void cmd_xgroup_setid(cairn_ctx *c) {
  int mkstream;
  int64_t er;
  if (xgroup_opts(c, 0, &mkstream, &er) != 0) return;
  if (c->argc != 5 && c->argc != 7) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  xs s;
  xgroup gr = {0};
  if (xgroup_open(c, &s, &gr, 1, NULL) != 1) return;
  sid id;
  if (c->argv[4].len == 1 && c->argv[4].p[0] == '$') {
    id = s.m.last;
  } else if (parse_id(c, c->argv[4], &id, 0, 0, NULL, 1) != 0) {
    return;
  }
  gr.last = id;
  gr.entries_read = er;
  if (group_put(c, &s, c->argv[3], &gr) < 0 || xs_save(c, c->argv[2], &s) < 0) return;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STREAM, "xgroup-setid", c->argv[2]);
  cairn_reply_ok(&c->reply);
}

/* Deletes every entry of `space` whose sub-key starts with prefix. */
static int del_prefix(cairn_ctx *c, xs *s, int space, const cairn_buf *pre) {
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, space, pre->p, pre->len, 0, &it);
  if (rc < 0) return failed(c, rc);
  cairn_str sub, val;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    if (sub.len < pre->len || memcmp(sub.p, pre->p, pre->len) != 0) break;
    if ((rc = cairn_elem_iter_del(it)) < 0) break;
    if (s->coll.count) s->coll.count--;
  }
  cairn_elem_iter_close(it);
  return rc < 0 ? failed(c, rc) : 0;
}

static void cmd_xgroup_destroy(cairn_ctx *c) {
  xs s;
  xgroup gr = {0};
  int have;
  if (xgroup_open(c, &s, &gr, 0, &have) != 1) return;
  if (!have) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  cairn_str key = c->argv[2], g = c->argv[3];
  cairn_buf pre = {0};
  gprefix(&pre, g);
  int rc = 0;
  for (int sp = XS_PEL; rc == 0 && sp <= XS_CPEL; sp++) rc = del_prefix(c, &s, sp, &pre);
  cairn_buf_free(&pre);
  if (rc < 0 || xdel(c, &s, XS_GROUPS, g.p, g.len) < 0) return;
  if (s.m.ngroups) s.m.ngroups--;
  if (xs_save(c, key, &s) < 0) return;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STREAM, "xgroup-destroy", key);
  cairn_signal_key_ready(c, key); /* its blocked XREADGROUPs get NOGROUP */
  cairn_reply_int(&c->reply, 1);
}

static void cmd_xgroup_createconsumer(cairn_ctx *c) {
  xs s;
  xgroup gr = {0};
  if (xgroup_open(c, &s, &gr, 1, NULL) != 1) return;
  if (name_too_long(c, c->argv[4])) return;
  xcons cs;
  int rc = cons_ensure(c, c->argv[2], &s, c->argv[3], &gr, c->argv[4], &cs, 0);
  if (rc < 0) return;
  if (rc == 1) {
    if (cons_put(c, &s, c->argv[3], c->argv[4], &cs) < 0 || group_put(c, &s, c->argv[3], &gr) < 0 ||
        xs_save(c, c->argv[2], &s) < 0)
      return;
  }
  cairn_reply_int(&c->reply, rc);
}

static void cmd_xgroup_delconsumer(cairn_ctx *c) {
  xs s;
  xgroup gr = {0};
  if (xgroup_open(c, &s, &gr, 1, NULL) != 1) return;
  cairn_str key = c->argv[2], g = c->argv[3], cname = c->argv[4];
  xcons cs;
  int rc = cons_get(c, &s, g, cname, &cs);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  /* its pending entries leave the group's list too */
  cairn_buf pre = {0}, k = {0};
  cpel_prefix(&pre, g, cname);
  cairn_elem_iter *it;
  rc = cairn_elem_iter_open(cairn_ctx_store(c), s.coll.id, XS_CPEL, pre.p, pre.len, 0, &it);
  if (rc < 0) {
    cairn_buf_free(&pre);
    failed(c, rc);
    return;
  }
  cairn_str sub, val;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    if (sub.len != pre.len + 16 || memcmp(sub.p, pre.p, pre.len) != 0) break;
    sid id = id_dec(sub.p + pre.len);
    if ((rc = cairn_elem_iter_del(it)) < 0) break;
    if (s.coll.count) s.coll.count--;
    pel_key(&k, g, id);
    int d = xdel(c, &s, XS_PEL, k.p, k.len);
    if (d < 0) {
      rc = 0;
      break;
    }
    if (d == 1 && gr.pending) gr.pending--;
  }
  cairn_elem_iter_close(it);
  cairn_buf_free(&pre);
  if (rc < 0) failed(c, rc);
  if (c->store_rc) {
    cairn_buf_free(&k);
    return;
  }
  cons_key(&k, g, cname);
  rc = xdel(c, &s, XS_CONS, k.p, k.len);
  cairn_buf_free(&k);
  if (rc < 0) return;
  if (gr.consumers) gr.consumers--;
  if (group_put(c, &s, g, &gr) < 0 || xs_save(c, key, &s) < 0) return;
  c->dirty++;
  cairn_notify(c, CAIRN_NOTIFY_STREAM, "xgroup-delconsumer", key);
  cairn_reply_int(&c->reply, (long long)cs.pending);
}

static void cmd_xgroup_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "CREATE <key> <groupname> <id|$> [option]",
      "    Create a new consumer group. Options are:",
      "    * MKSTREAM",
      "      Create the empty stream if it does not exist.",
      "    * ENTRIESREAD entries_read",
      "      Set the group's entries_read counter (internal use).",
      "CREATECONSUMER <key> <groupname> <consumer>",
      "    Create a new consumer in the specified group.",
      "DELCONSUMER <key> <groupname> <consumer>",
      "    Remove the specified consumer.",
      "DESTROY <key> <groupname>",
      "    Remove the specified group.",
      "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
      "    Set the current group ID and entries_read counter.",
  };
  cairn_reply_help(c, "XGROUP", lines, sizeof lines / sizeof lines[0]);
}

/* ---------------------------------------------------------------- XACK, XPENDING */

static void cmd_xack(cairn_ctx *c) {
  cairn_str key = c->argv[1], g = c->argv[2];
  xs s;
  int rc = xs_open(c, key, &s);
  if (rc < 0) return;
  xgroup gr = {0};
  int have = rc == 1 ? group_get(c, &s, g, &gr) : 0;
  if (have < 0) return;
  if (!have) {
    cairn_reply_int(&c->reply, 0);
    return;
  }
  int n = c->argc - 3;
  sid *ids = cairn_xmalloc(sizeof(sid) * (size_t)n);
  for (int j = 0; j < n; j++) {
    if (parse_id(c, c->argv[3 + j], &ids[j], 0, 1, NULL, 1) != 0) {
      free(ids);
      return;
    }
  }
  long long acked = 0;
  nack nk = {0};
  /* the owners' pending counts are written once each, at the end (the
   * entries of one XACK usually have one owner) */
  int nown = 0, last = -1;
  cairn_buf *own = cairn_xcalloc((size_t)n, sizeof(cairn_buf));
  uint64_t *owned = cairn_xcalloc((size_t)n, sizeof(uint64_t));
  for (int j = 0; j < n; j++) {
    rc = pel_get(c, &s, g, ids[j], &nk);
    if (rc < 0) break;
    if (rc == 0) continue;
    cairn_str owner = {nk.owner.p, nk.owner.len};
    if ((rc = pel_unlink(c, &s, g, &gr, ids[j], owner)) < 0) break;
    if (last < 0 || own[last].len != owner.len || memcmp(own[last].p, owner.p, owner.len) != 0) {
      for (last = 0; last < nown; last++)
        if (own[last].len == owner.len && memcmp(own[last].p, owner.p, owner.len) == 0) break;
      if (last == nown) cairn_buf_append(&own[nown++], owner.p, owner.len);
    }
    owned[last]++;
    acked++;
  }
  for (int i = 0; i < nown && rc >= 0; i++) {
    cairn_str owner = {own[i].p, own[i].len};
    xcons cs;
    if ((rc = cons_get(c, &s, g, owner, &cs)) == 1) {
      cs.pending = cs.pending > owned[i] ? cs.pending - owned[i] : 0;
      rc = cons_put(c, &s, g, owner, &cs);
    }
  }
  for (int i = 0; i < nown; i++) cairn_buf_free(&own[i]);
  free(own);
  free(owned);
  cairn_buf_free(&nk.owner);
  free(ids);
  if (rc < 0) return;
  if (acked) {
    if (group_put(c, &s, g, &gr) < 0 || xs_save(c, key, &s) < 0) return;
    c->dirty += acked;
  }
  cairn_reply_int(&c->reply, acked);
}

/* Opens key and group for XPENDING/XCLAIM/XAUTOCLAIM/XINFO CONSUMERS:
 * 1 found, 0 replied NOGROUP, -1 error. */
static int open_group_or_nogroup(cairn_ctx *c, cairn_str key, cairn_str g, xs *s, xgroup *gr) {
  int rc = xs_open(c, key, s);
  if (rc < 0) return -1;
  int have = rc == 1 ? group_get(c, s, g, gr) : 0;
  if (have < 0) return -1;
  if (!have) {
    cairn_reply_errorf(&c->reply, "-NOGROUP No such key '%.*s' or consumer group '%.*s'", (int)key.len, key.p,
                       (int)g.len, g.p);
    return 0;
  }
  return 1;
}

static void cmd_xpending(cairn_ctx *c) {
  int justinfo = c->argc == 3;
  cairn_str key = c->argv[1], g = c->argv[2], cname = {NULL, 0};
  sid start = SID_MIN, end = SID_MAX;
  long long count = 0, minidle = 0;
  if (c->argc != 3 && (c->argc < 6 || c->argc > 9)) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  if (c->argc >= 6) {
    int si = 3;
    if (cairn_arg_is(c->argv[3], "idle")) {
      if (cairn_arg_ll(c, c->argv[4], &minidle) != 0) return;
      if (c->argc < 8) {
        cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
        return;
      }
      si += 2;
    }
    if (cairn_arg_ll(c, c->argv[si + 2], &count) != 0) return;
    if (count < 0) count = 0;
    int sx, ex;
    if (parse_interval(c, c->argv[si], &start, &sx, 0) != 0) return;
    if (sx && id_incr(&start) != 0) {
      cairn_reply_error(&c->reply, "invalid start ID for the interval");
      return;
    }
    if (parse_interval(c, c->argv[si + 1], &end, &ex, UINT64_MAX) != 0) return;
    if (ex && id_decr(&end) != 0) {
      cairn_reply_error(&c->reply, "invalid end ID for the interval");
      return;
    }
    if (si + 3 < c->argc) cname = c->argv[si + 3];
  }
  xs s;
  xgroup gr = {0};
  if (open_group_or_nogroup(c, key, g, &s, &gr) != 1) return;
  cairn_store *st = cairn_ctx_store(c);
  cairn_buf pre = {0}, from = {0};
  int rc = 0;
  if (justinfo) {
    cairn_reply_array(&c->reply, 4);
    cairn_reply_int(&c->reply, (long long)gr.pending);
    if (gr.pending == 0) {
      cairn_reply_null(&c->reply);
      cairn_reply_null(&c->reply);
      cairn_reply_null_array(&c->reply);
      return;
    }
    gprefix(&pre, g);
    /* first and last: the group's PEL range ends */
    for (int last = 0; last < 2; last++) {
      cairn_elem_iter *it;
      from.len = 0;
      cairn_buf_append(&from, pre.p, pre.len);
      if (last) cairn_buf_append(&from, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16);
      if ((rc = cairn_elem_iter_open(st, s.coll.id, XS_PEL, from.p, from.len, last, &it)) < 0) break;
      cairn_str sub, val;
      rc = cairn_elem_iter_next(it, &sub, &val);
      if (rc > 0 && sub.len == pre.len + 16 && memcmp(sub.p, pre.p, pre.len) == 0)
        reply_id(c, id_dec(sub.p + pre.len));
      else
        cairn_reply_null(&c->reply);
      cairn_elem_iter_close(it);
      if (rc < 0) break;
      rc = 0;
    }
    if (rc >= 0) {
      /* consumers with pending entries, by name */
      cairn_elem_iter *it;
      if ((rc = cairn_elem_iter_open(st, s.coll.id, XS_CONS, pre.p, pre.len, 0, &it)) >= 0) {
        size_t mark = cairn_reply_defer(&c->reply);
        long long n = 0;
        cairn_str sub, val;
        while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
          if (sub.len < pre.len || memcmp(sub.p, pre.p, pre.len) != 0) break;
          uint64_t pend = val.len >= 16 ? rdle64(val.p + 8) : 0;
          if (!pend) continue;
          cairn_reply_array(&c->reply, 2);
          cairn_reply_bulk(&c->reply, sub.p + pre.len, sub.len - pre.len);
          cairn_reply_bulk_ll(&c->reply, (long long)pend);
          n++;
        }
        cairn_elem_iter_close(it);
        cairn_reply_defer_array(&c->reply, mark, n);
      }
    }
  } else {
    int space = XS_PEL;
    if (cname.p) {
      xcons cs;
      if ((rc = cons_get(c, &s, g, cname, &cs)) < 0) goto out;
      if (rc == 0) {
        cairn_reply_array(&c->reply, 0);
        goto out;
      }
      cpel_prefix(&pre, g, cname);
      space = XS_CPEL;
    } else {
      gprefix(&pre, g);
    }
    unsigned char k[16];
    id_enc(k, start);
    cairn_buf_append(&from, pre.p, pre.len);
    cairn_buf_append(&from, k, 16);
    cairn_elem_iter *it;
    if ((rc = cairn_elem_iter_open(st, s.coll.id, space, from.p, from.len, 0, &it)) < 0) goto out;
    size_t mark = cairn_reply_defer(&c->reply);
    long long n = 0;
    cairn_str sub, val;
    nack nk = {0};
    while (count && (rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
      if (sub.len != pre.len + 16 || memcmp(sub.p, pre.p, pre.len) != 0) break;
      sid id = id_dec(sub.p + pre.len);
      if (id_cmp(id, end) > 0) break;
      if (space == XS_PEL) {
        nk.time = val.len >= 16 ? (int64_t)rdle64(val.p) : 0;
        nk.count = val.len >= 16 ? rdle64(val.p + 8) : 0;
        nk.owner.len = 0;
        if (val.len > 16) cairn_buf_append(&nk.owner, val.p + 16, val.len - 16);
      } else {
        /* a consumer's list: the details are in the group's (the iterator
         * stays valid: this only reads) */
        int pr = pel_get(c, &s, g, id, &nk);
        if (pr < 0) {
          rc = -1;
          break;
        }
        if (pr == 0) continue;
      }
      int64_t idle = c->now_ms - nk.time;
      if (minidle && idle < minidle) continue;
      if (idle < 0) idle = 0;
      cairn_reply_array(&c->reply, 4);
      reply_id(c, id);
      cairn_reply_bulk(&c->reply, nk.owner.p ? nk.owner.p : "", nk.owner.len);
      cairn_reply_int(&c->reply, idle);
      cairn_reply_int(&c->reply, (long long)nk.count);
      n++;
      count--;
    }
    cairn_buf_free(&nk.owner);
    cairn_elem_iter_close(it);
    if (rc >= 0) cairn_reply_defer_array(&c->reply, mark, n);
  }
out:
  cairn_buf_free(&pre);
  cairn_buf_free(&from);
  if (rc < 0 && !c->store_rc) failed(c, rc);
}

/* ---------------------------------------------------------------- XCLAIM, XAUTOCLAIM */

static void cmd_xclaim(cairn_ctx *c) {
  cairn_str key = c->argv[1], g = c->argv[2], cname = c->argv[3];
  xs s;
  xgroup gr = {0};
  if (open_group_or_nogroup(c, key, g, &s, &gr) != 1) return;
  long long minidle, retrycount = -1, deliverytime = -1;
  if (cairn_arg_ll_msg(c, c->argv[4], &minidle, "Invalid min-idle-time argument for XCLAIM") != 0) return;
  if (minidle < 0) minidle = 0;
  int j, force = 0, justid = 0;
  int nids = c->argc - 5;
  sid *ids = cairn_xmalloc(sizeof(sid) * (size_t)nids);
  for (j = 5; j < c->argc; j++)
    if (parse_id(c, c->argv[j], &ids[j - 5], 0, 1, NULL, 0) != 0) break;
  int last_id_arg = j - 1;
  int64_t now = c->now_ms;
  sid lastid = SID_MIN;
  for (; j < c->argc; j++) {
    int more = c->argc - 1 - j;
    cairn_str o = c->argv[j];
    if (cairn_arg_is(o, "force")) {
      force = 1;
    } else if (cairn_arg_is(o, "justid")) {
      justid = 1;
    } else if (cairn_arg_is(o, "idle") && more) {
      j++;
      if (cairn_arg_ll_msg(c, c->argv[j], &deliverytime, "Invalid IDLE option argument for XCLAIM") != 0) goto out;
      deliverytime = now - deliverytime;
    } else if (cairn_arg_is(o, "time") && more) {
      j++;
      if (cairn_arg_ll_msg(c, c->argv[j], &deliverytime, "Invalid TIME option argument for XCLAIM") != 0) goto out;
    } else if (cairn_arg_is(o, "retrycount") && more) {
      j++;
      if (cairn_arg_ll_msg(c, c->argv[j], &retrycount, "Invalid RETRYCOUNT option argument for XCLAIM") != 0)
        goto out;
    } else if (cairn_arg_is(o, "lastid") && more) {
      j++;
      if (parse_id(c, c->argv[j], &lastid, 0, 1, NULL, 1) != 0) goto out;
    } else {
      cairn_reply_errorf(&c->reply, "Unrecognized XCLAIM option '%.*s'", (int)o.len, o.p);
      goto out;
    }
  }
  if (name_too_long(c, cname)) goto out;
  int propagate_last = 0;
  if (id_cmp(lastid, gr.last) > 0) {
    gr.last = lastid;
    propagate_last = 1;
  }
  if (deliverytime != -1) {
    if (deliverytime < 0 || deliverytime > now) deliverytime = now;
  } else {
    deliverytime = now;
  }
  xcons cs;
  int have_cons = 0;
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  nack nk = {0};
  int rc = 0;
  for (int i = 5; i <= last_id_arg; i++) {
    sid id = ids[i - 5];
    int pr = pel_get(c, &s, g, id, &nk);
    if (pr < 0) goto fail;
    int ex = entry_exists(c, &s, id);
    if (ex < 0) goto fail;
    if (!ex) {
      if (pr == 1) {
        cairn_str owner = {nk.owner.p, nk.owner.len};
        propagate_xclaim(c, key, g, owner, id, nk.time, nk.count, gr.last);
        propagate_last = 0;
        c->dirty++;
        if (pel_remove(c, &s, g, &gr, id, owner) < 0) goto fail;
        if (have_cons && owner.len == cname.len && !memcmp(owner.p, cname.p, cname.len) && cs.pending)
          cs.pending--;
      }
      continue;
    }
    int forced = 0;
    if (pr == 0) {
      if (!force) continue;
      forced = 1;
      nk.time = now;
      nk.count = 1; /* Redis's streamCreateNACK */
    }
    if (!forced && minidle && now - nk.time < minidle) continue;
    if (!have_cons) {
      int cr = cons_ensure(c, key, &s, g, &gr, cname, &cs, 1);
      if (cr < 0) goto fail;
      have_cons = 1;
    }
    uint64_t cnt = nk.count;
    if (retrycount >= 0)
      cnt = (uint64_t)retrycount;
    else if (!justid)
      cnt++;
    /* pel_assign reads the old owner again (it may be cname itself) */
    if (pel_assign(c, &s, g, &gr, id, cname, &cs, deliverytime, cnt, 0) < 0) goto fail;
    if (justid) {
      reply_id(c, id);
    } else if (reply_one(c, &s, id) < 0) {
      goto fail;
    }
    n++;
    propagate_xclaim(c, key, g, cname, id, deliverytime, cnt, gr.last);
    propagate_last = 0;
    c->dirty++;
  }
  if (propagate_last) {
    propagate_setid(c, key, g, &gr);
    c->dirty++;
  }
  cairn_reply_defer_array(&c->reply, mark, n);
  if (have_cons && cons_put(c, &s, g, cname, &cs) < 0) goto fail;
  if (c->dirty && (group_put(c, &s, g, &gr) < 0 || xs_save(c, key, &s) < 0)) goto fail;
  c->custom_propagation = 1; /* the XCLAIMs above, or nothing */
  goto done;
fail:
  if (rc < 0 && !c->store_rc) failed(c, rc);
done:
  cairn_buf_free(&nk.owner);
out:
  free(ids);
}

static void cmd_xautoclaim(cairn_ctx *c) {
  cairn_str key = c->argv[1], g = c->argv[2], cname = c->argv[3];
  long long minidle, count = 100;
  int justid = 0;
  if (cairn_arg_ll_msg(c, c->argv[4], &minidle, "Invalid min-idle-time argument for XAUTOCLAIM") != 0) return;
  if (minidle < 0) minidle = 0;
  sid start;
  int sx;
  if (parse_interval(c, c->argv[5], &start, &sx, 0) != 0) return;
  if (sx && id_incr(&start) != 0) {
    cairn_reply_error(&c->reply, "invalid start ID for the interval");
    return;
  }
  for (int j = 6; j < c->argc; j++) {
    int more = c->argc - 1 - j;
    if (cairn_arg_is(c->argv[j], "count") && more) {
      long long v;
      long long max_count = LONG_MAX / 16;
      if (!cairn_str2ll(c->argv[j + 1].p, c->argv[j + 1].len, &v)) {
        cairn_reply_error(&c->reply, CAIRN_ERR_NOTINT);
        return;
      }
      if (v < 1 || v > max_count) {
        cairn_reply_error(&c->reply, "COUNT must be > 0");
        return;
      }
      count = v;
      j++;
    } else if (cairn_arg_is(c->argv[j], "justid")) {
      justid = 1;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  xs s;
  xgroup gr = {0};
  if (open_group_or_nogroup(c, key, g, &s, &gr) != 1) return;
  if (name_too_long(c, cname)) return;
  /* gather the candidates first: claiming writes the PEL being walked */
  cairn_buf pre = {0}, from = {0};
  gprefix(&pre, g);
  unsigned char k[16];
  id_enc(k, start);
  cairn_buf_append(&from, pre.p, pre.len);
  cairn_buf_append(&from, k, 16);
  long long attempts = count * 10;
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), s.coll.id, XS_PEL, from.p, from.len, 0, &it);
  if (rc < 0) {
    cairn_buf_free(&pre);
    cairn_buf_free(&from);
    failed(c, rc);
    return;
  }
  typedef struct cand {
    sid id;
    int64_t time;
    uint64_t count;
    size_t owner_off, owner_len;
  } cand;
  cand *cands = NULL;
  size_t ncand = 0, cap = 0;
  cairn_buf owners = {0};
  sid next = SID_MIN;
  long long left = count;
  cairn_str sub, val;
  int64_t now = c->now_ms;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    if (sub.len != pre.len + 16 || memcmp(sub.p, pre.p, pre.len) != 0) {
      rc = 0;
      break;
    }
    sid id = id_dec(sub.p + pre.len);
    if (attempts == 0 || left == 0) {
      next = id;
      break;
    }
    attempts--;
    int64_t t = val.len >= 16 ? (int64_t)rdle64(val.p) : 0;
    uint64_t cnt = val.len >= 16 ? rdle64(val.p + 8) : 0;
    /* a missing entry counts against COUNT (it is reported as deleted);
     * an existing one only if idle enough */
    unsigned char ek[16];
    id_enc(ek, id);
    cairn_str ev;
    size_t ol = val.len > 16 ? val.len - 16 : 0;
    size_t off = owners.len;
    cairn_buf_append(&owners, val.p + 16, ol);
    int ex = cairn_elem_get(cairn_ctx_store(c), s.coll.id, XS_ENTRIES, ek, 16, &ev);
    if (ex < 0) {
      rc = ex;
      break;
    }
    if (ex == 1 && minidle && now - t < minidle) continue;
    if (ncand == cap) {
      cap = cap ? cap * 2 : 16;
      cands = cairn_xrealloc(cands, cap * sizeof(cand));
    }
    cands[ncand++] = (cand){id, ex == 1 ? t : -1, cnt, off, ol};
    left--;
  }
  cairn_elem_iter_close(it);
  cairn_buf_free(&pre);
  cairn_buf_free(&from);
  if (rc < 0) {
    free(cands);
    cairn_buf_free(&owners);
    failed(c, rc);
    return;
  }
  if (rc == 0 && !(attempts == 0 || left == 0)) next = SID_MIN;
  xcons cs;
  int have_cons = 0;
  cairn_reply_array(&c->reply, 3);
  reply_id(c, next);
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  sid *deleted = cairn_xmalloc(sizeof(sid) * (ncand ? ncand : 1));
  size_t ndel = 0;
  for (size_t i = 0; i < ncand; i++) {
    cand *cd = &cands[i];
    cairn_str owner = {owners.p + cd->owner_off, cd->owner_len};
    if (cd->time == -1) {
      /* the entry is gone: drop it from the PEL */
      propagate_xclaim(c, key, g, owner, cd->id, now, cd->count, gr.last);
      c->dirty++;
      if (pel_remove(c, &s, g, &gr, cd->id, owner) < 0) goto fail;
      if (have_cons && owner.len == cname.len && !memcmp(owner.p, cname.p, cname.len) && cs.pending) cs.pending--;
      deleted[ndel++] = cd->id;
      continue;
    }
    if (!have_cons) {
      if (cons_ensure(c, key, &s, g, &gr, cname, &cs, 1) < 0) goto fail;
      have_cons = 1;
    }
    uint64_t cnt = justid ? cd->count : cd->count + 1;
    if (pel_assign(c, &s, g, &gr, cd->id, cname, &cs, now, cnt, 0) < 0) goto fail;
    if (justid) {
      reply_id(c, cd->id);
    } else if (reply_one(c, &s, cd->id) < 0) {
      goto fail;
    }
    n++;
    propagate_xclaim(c, key, g, cname, cd->id, now, cnt, gr.last);
    c->dirty++;
  }
  cairn_reply_defer_array(&c->reply, mark, n);
  cairn_reply_array(&c->reply, (long long)ndel);
  for (size_t i = 0; i < ndel; i++) reply_id(c, deleted[i]);
  if (have_cons && cons_put(c, &s, g, cname, &cs) < 0) goto fail;
  if (c->dirty && (group_put(c, &s, g, &gr) < 0 || xs_save(c, key, &s) < 0)) goto fail;
fail:
  c->custom_propagation = 1;
  free(deleted);
  free(cands);
  cairn_buf_free(&owners);
}

/* ---------------------------------------------------------------- XINFO */

static int xinfo_open(cairn_ctx *c, xs *s) {
  int rc = xs_open(c, c->argv[2], s);
  if (rc == 0) cairn_reply_error(&c->reply, "-ERR no such key");
  return rc;
}

/* Redis's radix-tree-keys: the nodes the entries would fill (see the top);
 * radix-tree-nodes has no counterpart and is reported equal. */
static long long virtual_nodes(cairn_ctx *c, xs *s) {
  if (!s->m.length) return 0;
  sid first;
  uint64_t fnode = 0;
  if (edge_id(c, s, 0, &first, &fnode) < 0) return -1;
  return (long long)(s->m.node - fnode + 1);
}

/* Emits the group's consumers (XINFO CONSUMERS, or FULL's form). */
static int reply_consumers(cairn_ctx *c, xs *s, cairn_str g, const xgroup *gr, int full, long long count) {
  cairn_buf pre = {0};
  gprefix(&pre, g);
  cairn_store *st = cairn_ctx_store(c);
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(st, s->coll.id, XS_CONS, pre.p, pre.len, 0, &it);
  if (rc < 0) {
    cairn_buf_free(&pre);
    return failed(c, rc);
  }
  /* collect names first: the FULL form reads other spaces in between */
  cairn_buf names = {0};
  size_t *offs = NULL, n = 0, cap = 0;
  cairn_str sub, val;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    if (sub.len < pre.len || memcmp(sub.p, pre.p, pre.len) != 0) break;
    if (n + 2 > cap) {
      cap = cap ? cap * 2 : 16;
      offs = cairn_xrealloc(offs, cap * sizeof(size_t));
    }
    offs[n++] = names.len;
    cairn_buf_append(&names, sub.p + pre.len, sub.len - pre.len);
  }
  cairn_elem_iter_close(it);
  cairn_buf_free(&pre);
  if (rc < 0) {
    free(offs);
    cairn_buf_free(&names);
    return failed(c, rc);
  }
  (void)gr;
  cairn_reply_array(&c->reply, (long long)n);
  for (size_t i = 0; i < n; i++) {
    cairn_str cname = {names.p + offs[i], (i + 1 < n ? offs[i + 1] : names.len) - offs[i]};
    xcons cs = {0, 0};
    if (cons_get(c, s, g, cname, &cs) < 0) break;
    if (!full) {
      int64_t idle = c->now_ms - cs.seen;
      cairn_reply_map(&c->reply, 3);
      cairn_reply_bulk_str(&c->reply, "name");
      cairn_reply_bulk(&c->reply, cname.p, cname.len);
      cairn_reply_bulk_str(&c->reply, "pending");
      cairn_reply_int(&c->reply, (long long)cs.pending);
      cairn_reply_bulk_str(&c->reply, "idle");
      cairn_reply_int(&c->reply, idle < 0 ? 0 : idle);
      continue;
    }
    cairn_reply_map(&c->reply, 4);
    cairn_reply_bulk_str(&c->reply, "name");
    cairn_reply_bulk(&c->reply, cname.p, cname.len);
    cairn_reply_bulk_str(&c->reply, "seen-time");
    cairn_reply_int(&c->reply, cs.seen);
    cairn_reply_bulk_str(&c->reply, "pel-count");
    cairn_reply_int(&c->reply, (long long)cs.pending);
    cairn_reply_bulk_str(&c->reply, "pending");
    cairn_buf cp = {0};
    cpel_prefix(&cp, g, cname);
    cairn_elem_iter *ci;
    if ((rc = cairn_elem_iter_open(st, s->coll.id, XS_CPEL, cp.p, cp.len, 0, &ci)) < 0) {
      cairn_buf_free(&cp);
      break;
    }
    sid *ids = NULL;
    size_t nid = 0, icap = 0;
    while ((count == 0 || (long long)nid < count) && (rc = cairn_elem_iter_next(ci, &sub, &val)) > 0) {
      if (sub.len != cp.len + 16 || memcmp(sub.p, cp.p, cp.len) != 0) break;
      if (nid == icap) {
        icap = icap ? icap * 2 : 16;
        ids = cairn_xrealloc(ids, icap * sizeof(sid));
      }
      ids[nid++] = id_dec(sub.p + cp.len);
    }
    cairn_elem_iter_close(ci);
    cairn_buf_free(&cp);
    cairn_reply_array(&c->reply, (long long)nid);
    nack nk = {0};
    for (size_t k = 0; k < nid; k++) {
      if (pel_get(c, s, g, ids[k], &nk) < 0) break;
      cairn_reply_array(&c->reply, 3);
      reply_id(c, ids[k]);
      cairn_reply_int(&c->reply, nk.time);
      cairn_reply_int(&c->reply, (long long)nk.count);
    }
    cairn_buf_free(&nk.owner);
    free(ids);
    if (rc < 0) break;
  }
  free(offs);
  cairn_buf_free(&names);
  if (rc < 0 && !c->store_rc) failed(c, rc);
  return c->store_rc ? -1 : 0;
}

/* Group names in order, each with its record (for XINFO GROUPS / FULL). */
static int list_groups(cairn_ctx *c, xs *s, cairn_buf *names, size_t **offs, size_t *n) {
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(cairn_ctx_store(c), s->coll.id, XS_GROUPS, NULL, 0, 0, &it);
  if (rc < 0) return failed(c, rc);
  size_t cap = 0;
  cairn_str sub, val;
  *n = 0;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
    if (*n + 2 > cap) {
      cap = cap ? cap * 2 : 8;
      *offs = cairn_xrealloc(*offs, cap * sizeof(size_t));
    }
    (*offs)[(*n)++] = names->len;
    cairn_buf_append(names, sub.p, sub.len);
  }
  cairn_elem_iter_close(it);
  return rc < 0 ? failed(c, rc) : 0;
}

static void cmd_xinfo_groups(cairn_ctx *c) {
  xs s;
  if (xinfo_open(c, &s) != 1) return;
  cairn_buf names = {0};
  size_t *offs = NULL, n = 0;
  if (list_groups(c, &s, &names, &offs, &n) == 0) {
    cairn_reply_array(&c->reply, (long long)n);
    for (size_t i = 0; i < n; i++) {
      cairn_str g = {names.p + offs[i], (i + 1 < n ? offs[i + 1] : names.len) - offs[i]};
      xgroup gr = {0};
      if (group_get(c, &s, g, &gr) != 1) break;
      cairn_reply_map(&c->reply, 6);
      cairn_reply_bulk_str(&c->reply, "name");
      cairn_reply_bulk(&c->reply, g.p, g.len);
      cairn_reply_bulk_str(&c->reply, "consumers");
      cairn_reply_int(&c->reply, (long long)gr.consumers);
      cairn_reply_bulk_str(&c->reply, "pending");
      cairn_reply_int(&c->reply, (long long)gr.pending);
      cairn_reply_bulk_str(&c->reply, "last-delivered-id");
      reply_id(c, gr.last);
      cairn_reply_bulk_str(&c->reply, "entries-read");
      reply_entries_read(c, &gr);
      cairn_reply_bulk_str(&c->reply, "lag");
      reply_lag(c, &s, &gr);
    }
  }
  free(offs);
  cairn_buf_free(&names);
}

static void cmd_xinfo_consumers(cairn_ctx *c) {
  xs s;
  if (xinfo_open(c, &s) != 1) return;
  cairn_str g = c->argv[3];
  xgroup gr = {0};
  int rc = group_get(c, &s, g, &gr);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_errorf(&c->reply, "-NOGROUP No such consumer group '%.*s' for key name '%.*s'", (int)g.len, g.p,
                       (int)c->argv[2].len, c->argv[2].p);
    return;
  }
  reply_consumers(c, &s, g, &gr, 0, 0);
}

static void cmd_xinfo_stream(cairn_ctx *c) {
  int full = 0;
  long long count = 10;
  int optc = c->argc - 3;
  if (optc) {
    if ((optc != 1 && optc != 3) || !cairn_arg_is(c->argv[3], "full")) {
      cairn_reply_subcommand_syntax_error(c);
      return;
    }
    if (optc == 3) {
      if (!cairn_arg_is(c->argv[4], "count")) {
        cairn_reply_subcommand_syntax_error(c);
        return;
      }
      if (cairn_arg_ll(c, c->argv[5], &count) != 0) return;
      if (count < 0) count = 10;
    }
    full = 1;
  }
  xs s;
  if (xinfo_open(c, &s) != 1) return;
  long long nodes = virtual_nodes(c, &s);
  if (nodes < 0) return;
  cairn_reply_map(&c->reply, full ? 9 : 10);
  cairn_reply_bulk_str(&c->reply, "length");
  cairn_reply_int(&c->reply, (long long)s.m.length);
  cairn_reply_bulk_str(&c->reply, "radix-tree-keys");
  cairn_reply_int(&c->reply, nodes);
  cairn_reply_bulk_str(&c->reply, "radix-tree-nodes");
  cairn_reply_int(&c->reply, nodes ? nodes + 1 : 1);
  cairn_reply_bulk_str(&c->reply, "last-generated-id");
  reply_id(c, s.m.last);
  cairn_reply_bulk_str(&c->reply, "max-deleted-entry-id");
  reply_id(c, s.m.maxdel);
  cairn_reply_bulk_str(&c->reply, "entries-added");
  cairn_reply_int(&c->reply, (long long)s.m.entries_added);
  cairn_reply_bulk_str(&c->reply, "recorded-first-entry-id");
  reply_id(c, s.m.first);
  cairn_store *st = cairn_ctx_store(c);
  if (!full) {
    cairn_reply_bulk_str(&c->reply, "groups");
    cairn_reply_int(&c->reply, (long long)s.m.ngroups);
    for (int last = 0; last < 2; last++) {
      cairn_reply_bulk_str(&c->reply, last ? "last-entry" : "first-entry");
      cairn_elem_iter *it;
      int rc = cairn_elem_iter_open(st, s.coll.id, XS_ENTRIES, NULL, 0, last, &it);
      if (rc < 0) {
        failed(c, rc);
        return;
      }
      cairn_str sub, val;
      rc = cairn_elem_iter_next(it, &sub, &val);
      if (rc > 0)
        reply_entry(c, id_dec(sub.p), val);
      else
        cairn_reply_null(&c->reply);
      cairn_elem_iter_close(it);
      if (rc < 0) {
        failed(c, rc);
        return;
      }
    }
    return;
  }
  cairn_reply_bulk_str(&c->reply, "entries");
  if (reply_range(c, &s, SID_MIN, SID_MAX, count, 0) < 0) return;
  cairn_reply_bulk_str(&c->reply, "groups");
  cairn_buf names = {0};
  size_t *offs = NULL, n = 0;
  if (list_groups(c, &s, &names, &offs, &n) == 0) {
    cairn_reply_array(&c->reply, (long long)n);
    for (size_t i = 0; i < n; i++) {
      cairn_str g = {names.p + offs[i], (i + 1 < n ? offs[i + 1] : names.len) - offs[i]};
      xgroup gr = {0};
      if (group_get(c, &s, g, &gr) != 1) break;
      cairn_reply_map(&c->reply, 7);
      cairn_reply_bulk_str(&c->reply, "name");
      cairn_reply_bulk(&c->reply, g.p, g.len);
      cairn_reply_bulk_str(&c->reply, "last-delivered-id");
      reply_id(c, gr.last);
      cairn_reply_bulk_str(&c->reply, "entries-read");
      reply_entries_read(c, &gr);
      cairn_reply_bulk_str(&c->reply, "lag");
      reply_lag(c, &s, &gr);
      cairn_reply_bulk_str(&c->reply, "pel-count");
      cairn_reply_int(&c->reply, (long long)gr.pending);
      cairn_reply_bulk_str(&c->reply, "pending");
      cairn_buf pre = {0};
      gprefix(&pre, g);
      cairn_elem_iter *it;
      int rc = cairn_elem_iter_open(st, s.coll.id, XS_PEL, pre.p, pre.len, 0, &it);
      if (rc < 0) {
        cairn_buf_free(&pre);
        failed(c, rc);
        break;
      }
      size_t mark = cairn_reply_defer(&c->reply);
      long long np = 0;
      cairn_str sub, val;
      while ((count == 0 || np < count) && (rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
        if (sub.len != pre.len + 16 || memcmp(sub.p, pre.p, pre.len) != 0) break;
        cairn_reply_array(&c->reply, 4);
        reply_id(c, id_dec(sub.p + pre.len));
        cairn_reply_bulk(&c->reply, val.len > 16 ? val.p + 16 : "", val.len > 16 ? val.len - 16 : 0);
        cairn_reply_int(&c->reply, val.len >= 16 ? (long long)rdle64(val.p) : 0);
        cairn_reply_int(&c->reply, val.len >= 16 ? (long long)rdle64(val.p + 8) : 0);
        np++;
      }
      cairn_elem_iter_close(it);
      cairn_buf_free(&pre);
      if (rc < 0) {
        failed(c, rc);
        break;
      }
      cairn_reply_defer_array(&c->reply, mark, np);
      cairn_reply_bulk_str(&c->reply, "consumers");
      if (reply_consumers(c, &s, g, &gr, 1, count) < 0) break;
    }
  }
  free(offs);
  cairn_buf_free(&names);
}

static void cmd_xinfo_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "CONSUMERS <key> <groupname>", "    Show consumers of <groupname>.", "GROUPS <key>",
      "    Show the stream consumer groups.", "STREAM <key> [FULL [COUNT <count>]",
      "    Show information about the stream.",
  };
  cairn_reply_help(c, "XINFO", lines, sizeof lines / sizeof lines[0]);
}

static const cairn_command xgroup_subcommands[] = {
    CAIRN_CMD("xgroup|create", -5, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 2, 2, 1, cmd_xgroup_create, "stream",
              "Create a consumer group.", "5.0.0", "key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]"),
    CAIRN_CMD("xgroup|createconsumer", 5, CAIRN_F_WRITE | CAIRN_CMD_DENYOOM, 2, 2, 1, cmd_xgroup_createconsumer,
              "stream", "Create a consumer in a consumer group.", "6.2.0", "key group consumer"),
    CAIRN_CMD("xgroup|delconsumer", 5, CAIRN_F_WRITE, 2, 2, 1, cmd_xgroup_delconsumer, "stream",
              "Delete a consumer from a consumer group.", "5.0.0", "key group consumer"),
    CAIRN_CMD("xgroup|destroy", 4, CAIRN_F_WRITE, 2, 2, 1, cmd_xgroup_destroy, "stream", "Destroy a consumer group.",
              "5.0.0", "key group"),
    CAIRN_CMD("xgroup|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_xgroup_help, "stream",
              "Show helpful text about the different subcommands", "5.0.0", ""),
    CAIRN_CMD("xgroup|setid", -5, CAIRN_F_WRITE, 2, 2, 1, cmd_xgroup_setid, "stream",
              "Set a consumer group to an arbitrary last delivered ID value.", "5.0.0",
              "key group id|$ [ENTRIESREAD entries-read]"),
    CAIRN_CMD_END,
};

static const cairn_command xinfo_subcommands[] = {
    CAIRN_CMD("xinfo|consumers", 4, CAIRN_F_READ, 2, 2, 1, cmd_xinfo_consumers, "stream",
              "List the consumers in a consumer group", "5.0.0", "key group"),
    CAIRN_CMD("xinfo|groups", 3, CAIRN_F_READ, 2, 2, 1, cmd_xinfo_groups, "stream",
              "List the consumer groups of a stream", "5.0.0", "key"),
    CAIRN_CMD("xinfo|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_xinfo_help, "stream",
              "Show helpful text about the different subcommands", "5.0.0", ""),
    CAIRN_CMD("xinfo|stream", -3, CAIRN_F_READ, 2, 2, 1, cmd_xinfo_stream, "stream", "Get information about a stream",
              "5.0.0", "key [FULL [COUNT count]]"),
    CAIRN_CMD_END,
};


/* ---------------------------------------------------------------- the RDB form
 * Type 19 (Redis 7.0), see engine/cmd/xstream.h. Written from the live
 * store (DUMP) or a snapshot (full sync, on the spool thread: nothing here
 * touches a cairn_ctx); loaded entry by entry into a fresh collection. */

#define RDB_NODE_ENTRIES 100

typedef struct wsrc {
  cairn_store *s;
  cairn_store_snapshot *snap;
} wsrc;

/* fn for each entry of space from `from` on, until fn returns non-zero
 * (returned). 0, or a store error. */
static int src_each(const wsrc *src, uint64_t id, int space, const void *from, size_t fromlen,
                    cairn_store_elem_fn fn, void *ud) {
  if (src->snap) return cairn_store_snapshot_elems_from(src->snap, id, space, from, fromlen, fn, ud);
  cairn_elem_iter *it;
  int rc = cairn_elem_iter_open(src->s, id, space, fromlen ? from : NULL, fromlen, 0, &it);
  if (rc < 0) return rc;
  cairn_str sub, val;
  while ((rc = cairn_elem_iter_next(it, &sub, &val)) > 0)
    if ((rc = fn(ud, sub, val)) != 0) break;
  cairn_elem_iter_close(it);
  return rc;
}

typedef struct wctx {
  cairn_rdb_writer *w;
  const wsrc *src;
  uint64_t id;
  int failed;          /* writer error (-1) */
  int corrupt;         /* the stored stream disagrees with itself */
  uint64_t n;          /* entries / items written in the current walk */
  uint64_t limit;
  const void **fv;
  size_t *fvl;
  size_t fvcap;
  smeta m;
  int have_meta;
  cairn_buf pre, pre2; /* the prefix being walked, and a nested one */
  cairn_buf name;      /* the group being written */
} wctx;

static int w_meta(void *ud, cairn_str sub, cairn_str val) {
  wctx *x = ud;
  (void)sub;
  x->have_meta = meta_dec(val, &x->m) == 0;
  return 1;
}

static int w_entry(void *ud, cairn_str sub, cairn_str val) {
  wctx *x = ud;
  if (sub.len != 16 || val.len < 12) {
    x->corrupt = 1;
    return 1;
  }
  uint32_t pairs = rdle32(val.p + 8);
  if ((size_t)pairs * 2 > x->fvcap) {
    x->fvcap = (size_t)pairs * 2 + 16;
    x->fv = cairn_xrealloc(x->fv, x->fvcap * sizeof(void *));
    x->fvl = cairn_xrealloc(x->fvl, x->fvcap * sizeof(size_t));
  }
  const char *p = val.p + 12, *end = val.p + val.len;
  for (uint32_t i = 0; i < 2 * pairs; i++) {
    if (end - p < 4 || (size_t)(end - p - 4) < rdle32(p)) {
      x->corrupt = 1;
      return 1;
    }
    x->fvl[i] = rdle32(p);
    x->fv[i] = p + 4;
    p += 4 + x->fvl[i];
  }
  sid id = id_dec(sub.p);
  if (cairn_rdb_writer_stream_entry(x->w, id.ms, id.seq, pairs, x->fv, x->fvl) != 0) {
    x->failed = 1;
    return 1;
  }
  if (++x->n % RDB_NODE_ENTRIES == 0 && cairn_rdb_writer_stream_node_end(x->w) != 0) {
    x->failed = 1;
    return 1;
  }
  return 0;
}

static int has_prefix(cairn_str sub, const cairn_buf *pre, size_t extra) {
  return sub.len == pre->len + extra && memcmp(sub.p, pre->p, pre->len) == 0;
}

static int w_nack(void *ud, cairn_str sub, cairn_str val) {
  wctx *x = ud;
  if (!has_prefix(sub, &x->pre, 16)) return 1; /* past the group */
  if (val.len < 16) {
    x->corrupt = 1;
    return 1;
  }
  if (cairn_rdb_writer_stream_nack(x->w, (const uint8_t *)sub.p + x->pre.len, (int64_t)rdle64(val.p),
                                   rdle64(val.p + 8)) != 0) {
    x->failed = 1;
    return 1;
  }
  x->n++;
  return 0;
}

static int w_cnack(void *ud, cairn_str sub, cairn_str val) {
  wctx *x = ud;
  (void)val;
  if (!has_prefix(sub, &x->pre2, 16)) return 1;
  if (cairn_rdb_writer_stream_cnack(x->w, (const uint8_t *)sub.p + x->pre2.len) != 0) {
    x->failed = 1;
    return 1;
  }
  x->n++;
  return 0;
}

static int w_consumer(void *ud, cairn_str sub, cairn_str val) {
  wctx *x = ud;
  if (sub.len < x->pre.len || memcmp(sub.p, x->pre.p, x->pre.len) != 0) return 1;
  if (val.len < 16) {
    x->corrupt = 1;
    return 1;
  }
  cairn_str cname = {sub.p + x->pre.len, sub.len - x->pre.len};
  uint64_t pending = rdle64(val.p + 8);
  if (cairn_rdb_writer_stream_consumer(x->w, cname.p, cname.len, (int64_t)rdle64(val.p), pending) != 0) {
    x->failed = 1;
    return 1;
  }
  cairn_str g = {x->name.p, x->name.len};
  cpel_prefix(&x->pre2, g, cname); /* sub/val are not used after this */
  uint64_t before = x->n;
  x->n = 0;
  int rc = src_each(x->src, x->id, XS_CPEL, x->pre2.p, x->pre2.len, w_cnack, x);
  if (rc < 0) return rc;
  if (x->failed || x->corrupt) return 1;
  if (x->n != pending) {
    x->corrupt = 1;
    return 1;
  }
  x->n = before + 1;
  return 0;
}

static int w_group(void *ud, cairn_str sub, cairn_str val) {
  wctx *x = ud;
  if (val.len < 40) {
    x->corrupt = 1;
    return 1;
  }
  xgroup gr = {0};
  gr.last.ms = rdle64(val.p);
  gr.last.seq = rdle64(val.p + 8);
  gr.entries_read = (int64_t)rdle64(val.p + 16);
  gr.pending = rdle64(val.p + 24);
  gr.consumers = rdle64(val.p + 32);
  x->name.len = 0;
  cairn_buf_append(&x->name, sub.p, sub.len);
  cairn_str g = {x->name.p, x->name.len};
  if (cairn_rdb_writer_stream_group(x->w, g.p, g.len, gr.last.ms, gr.last.seq, gr.entries_read, gr.pending) != 0) {
    x->failed = 1;
    return 1;
  }
  gprefix(&x->pre, g);
  x->n = 0;
  int rc = src_each(x->src, x->id, XS_PEL, x->pre.p, x->pre.len, w_nack, x);
  if (rc < 0) return rc;
  if (x->failed || x->corrupt) return 1;
  if (x->n != gr.pending) {
    x->corrupt = 1;
    return 1;
  }
  if (cairn_rdb_writer_stream_consumers(x->w, gr.consumers) != 0) {
    x->failed = 1;
    return 1;
  }
  x->n = 0;
  gprefix(&x->pre, g);
  rc = src_each(x->src, x->id, XS_CONS, x->pre.p, x->pre.len, w_consumer, x);
  if (rc < 0) return rc;
  if (x->failed || x->corrupt) return 1;
  if (x->n != gr.consumers) {
    x->corrupt = 1;
    return 1;
  }
  return 0;
}

int cairn_stream_rdb_write(cairn_rdb_writer *w, cairn_store *s, cairn_store_snapshot *snap, const cairn_coll *coll,
                           const void *key, size_t klen, int64_t expire_ms) {
  wsrc src = {s, snap};
  wctx x = {.w = w, .src = &src, .id = coll->id};
  int rc = src_each(&src, coll->id, XS_META, NULL, 0, w_meta, &x);
  if (rc < 0) goto out;
  rc = -1;
  if (!x.have_meta) goto out;
  if ((key ? cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STREAM, key, klen, expire_ms)
           : cairn_rdb_writer_dump_begin(w, CAIRN_RDB_KIND_STREAM)) != 0)
    goto out;
  uint64_t nodes = (x.m.length + RDB_NODE_ENTRIES - 1) / RDB_NODE_ENTRIES;
  if (cairn_rdb_writer_stream_begin(w, nodes) != 0) goto out;
  rc = src_each(&src, coll->id, XS_ENTRIES, NULL, 0, w_entry, &x);
  if (rc < 0) goto out;
  rc = -1;
  if (x.failed || x.corrupt || x.n != x.m.length) goto out;
  if (x.n % RDB_NODE_ENTRIES && cairn_rdb_writer_stream_node_end(w) != 0) goto out;
  cairn_rdb_stream_item mi = {.what = CAIRN_RDB_STREAM_META,
                              .v2 = 1,
                              .length = x.m.length,
                              .entries_added = x.m.entries_added,
                              .last_ms = x.m.last.ms,
                              .last_seq = x.m.last.seq,
                              .first_ms = x.m.first.ms,
                              .first_seq = x.m.first.seq,
                              .maxdel_ms = x.m.maxdel.ms,
                              .maxdel_seq = x.m.maxdel.seq,
                              .groups = x.m.ngroups};
  if (cairn_rdb_writer_stream_meta(w, &mi) != 0) goto out;
  x.n = 0;
  rc = src_each(&src, coll->id, XS_GROUPS, NULL, 0, w_group, &x);
  if (rc < 0) goto out;
  rc = -1;
  if (x.failed || x.corrupt) goto out;
  if (cairn_rdb_writer_stream_end(w) != 0) goto out;
  rc = 0;
out:
  free(x.fv);
  free(x.fvl);
  cairn_buf_free(&x.pre);
  cairn_buf_free(&x.pre2);
  cairn_buf_free(&x.name);
  return rc;
}

/* ---- loading */

typedef struct cairn_stream_load {
  smeta m;
  int have_meta;
  uint64_t entries, last_node, node_count;
  sid first_entry, last_entry;
  cairn_buf g;         /* the group being loaded */
  xgroup gr;
  int in_group;
  uint64_t assigned;   /* its pending entries given to a consumer so far */
  cairn_buf cname;     /* the consumer being loaded */
  xcons cs;
  int in_cons;
  cairn_buf k, v;
} cairn_stream_load;

void cairn_coll_loader_stream_free(cairn_coll_loader *L) {
  cairn_stream_load *sl = L->stream;
  if (!sl) return;
  cairn_buf_free(&sl->g);
  cairn_buf_free(&sl->cname);
  cairn_buf_free(&sl->k);
  cairn_buf_free(&sl->v);
  free(sl);
  L->stream = NULL;
}

/* A put into the loading collection: 0 created, 1 it existed (corrupt), <0. */
static int lput(cairn_coll_loader *L, int space, const void *sub, size_t sublen, const void *val, size_t vallen) {
  int rc = cairn_elem_put(L->s, L->coll.id, space, sub, sublen, val, vallen);
  if (rc < 0) return rc;
  if (rc == 1) L->coll.count++;
  return rc == 1 ? 0 : 1;
}
/* The same where replacing is expected. */
static int lset(cairn_coll_loader *L, int space, const void *sub, size_t sublen, const void *val, size_t vallen) {
  int rc = lput(L, space, sub, sublen, val, vallen);
  return rc == 1 ? 0 : rc;
}

static int load_flush_consumer(cairn_coll_loader *L) {
  cairn_stream_load *sl = L->stream;
  if (!sl->in_cons) return 0;
  sl->in_cons = 0;
  cons_key(&sl->k, (cairn_str){sl->g.p, sl->g.len}, (cairn_str){sl->cname.p, sl->cname.len});
  unsigned char b[16];
  le64(b, (uint64_t)sl->cs.seen);
  le64(b + 8, sl->cs.pending);
  return lput(L, XS_CONS, sl->k.p, sl->k.len, b, sizeof b);
}

static int load_flush_group(cairn_coll_loader *L) {
  cairn_stream_load *sl = L->stream;
  int rc = load_flush_consumer(L);
  if (rc || !sl->in_group) return rc;
  sl->in_group = 0;
  if (sl->assigned != sl->gr.pending) return 1; /* a pending entry nobody owns */
  unsigned char b[40];
  le64(b, sl->gr.last.ms);
  le64(b + 8, sl->gr.last.seq);
  le64(b + 16, (uint64_t)sl->gr.entries_read);
  le64(b + 24, sl->gr.pending);
  le64(b + 32, sl->gr.consumers);
  return lput(L, XS_GROUPS, sl->g.p, sl->g.len, b, sizeof b);
}

int cairn_coll_loader_stream(cairn_coll_loader *L, const cairn_rdb_stream_item *it) {
  if (!L->stream) L->stream = cairn_xcalloc(1, sizeof(cairn_stream_load));
  cairn_stream_load *sl = L->stream;
  int rc;
  switch (it->what) {
    case CAIRN_RDB_STREAM_ENTRY: {
      if (sl->have_meta) return 1;
      sid id = {it->ms, it->seq};
      if (sl->entries && id_cmp(id, sl->last_entry) <= 0) return 1; /* out of order or duplicate */
      if (sl->entries == 0) sl->first_entry = id;
      uint64_t node = it->node + 1;
      if (node != sl->last_node) sl->node_count = 0;
      sl->last_node = node;
      sl->node_count++;
      sl->v.len = 0;
      unsigned char h[12];
      le64(h, node);
      uint32_t np = (uint32_t)it->nfields;
      h[8] = (unsigned char)(np & 0xff);
      h[9] = (unsigned char)((np >> 8) & 0xff);
      h[10] = (unsigned char)((np >> 16) & 0xff);
      h[11] = (unsigned char)((np >> 24) & 0xff);
      cairn_buf_append(&sl->v, h, 12);
      for (uint64_t i = 0; i < 2 * it->nfields; i++) {
        uint32_t l = (uint32_t)it->fvlen[i];
        unsigned char lb[4] = {(unsigned char)l, (unsigned char)(l >> 8), (unsigned char)(l >> 16),
                               (unsigned char)(l >> 24)};
        cairn_buf_append(&sl->v, lb, 4);
        cairn_buf_append(&sl->v, it->fv[i], it->fvlen[i]);
      }
      unsigned char k[16];
      id_enc(k, id);
      if ((rc = lput(L, XS_ENTRIES, k, 16, sl->v.p, sl->v.len)) != 0) return rc;
      sl->entries++;
      sl->last_entry = id;
      return 0;
    }
    case CAIRN_RDB_STREAM_META:
      if (sl->have_meta || it->length != sl->entries) return 1;
      sl->have_meta = 1;
      sl->m.length = it->length;
      sl->m.last = (sid){it->last_ms, it->last_seq};
      if (sl->entries && id_cmp(sl->m.last, sl->last_entry) < 0) return 1; /* XADD would reuse IDs */
      if (it->v2) {
        sl->m.first = (sid){it->first_ms, it->first_seq};
        sl->m.maxdel = (sid){it->maxdel_ms, it->maxdel_seq};
        sl->m.entries_added = it->entries_added;
      } else {
        /* Redis 7.0 loading a type 15 value: first from the entries, no
         * tombstone known, every entry counted once */
        sl->m.first = sl->entries ? sl->first_entry : SID_MIN;
        sl->m.maxdel = SID_MIN;
        sl->m.entries_added = it->length;
      }
      sl->m.ngroups = it->groups;
      sl->m.node = sl->last_node;
      sl->m.node_next = sl->last_node;
      sl->m.node_count = sl->node_count;
      sl->m.node_live = sl->node_count;
      sl->m.node_bytes = 0;
      return 0;
    case CAIRN_RDB_STREAM_GROUP: {
      if (!sl->have_meta) return 1;
      if ((rc = load_flush_group(L)) != 0) return rc;
      if (it->name_len > NAME_MAX_LEN) return 1;
      sl->g.len = 0;
      cairn_buf_append(&sl->g, it->name, it->name_len);
      sl->gr.last = (sid){it->ms, it->seq};
      if (it->entries_read != INT64_MIN) {
        sl->gr.entries_read = it->entries_read;
      } else {
        xs tmp = {.m = sl->m};
        sl->gr.entries_read = it->v2 ? INVALID_READ : estimate_read(&tmp, sl->gr.last);
      }
      sl->gr.pending = it->pending;
      sl->gr.consumers = 0;
      sl->assigned = 0;
      sl->in_group = 1;
      cairn_str v;
      rc = cairn_elem_get(L->s, L->coll.id, XS_GROUPS, it->name, it->name_len, &v);
      if (rc < 0) return rc;
      return rc == 1 ? 1 : 0; /* a duplicate group */
    }
    case CAIRN_RDB_STREAM_NACK: {
      if (!sl->in_group || sl->in_cons) return 1;
      pel_key(&sl->k, (cairn_str){sl->g.p, sl->g.len}, id_dec((const char *)it->id));
      unsigned char b[16];
      le64(b, (uint64_t)it->time);
      le64(b + 8, it->count);
      return lput(L, XS_PEL, sl->k.p, sl->k.len, b, 16); /* owner: from its consumer below */
    }
    case CAIRN_RDB_STREAM_CONSUMER:
      if (!sl->in_group) return 1;
      if ((rc = load_flush_consumer(L)) != 0) return rc;
      if (it->name_len > NAME_MAX_LEN) return 1;
      sl->cname.len = 0;
      cairn_buf_append(&sl->cname, it->name, it->name_len);
      sl->cs.seen = it->time;
      sl->cs.pending = it->pending;
      sl->gr.consumers++;
      sl->in_cons = 1;
      return 0;
    case CAIRN_RDB_STREAM_CNACK: {
      if (!sl->in_cons) return 1;
      cairn_str g = {sl->g.p, sl->g.len}, cname = {sl->cname.p, sl->cname.len};
      sid id = id_dec((const char *)it->id);
      pel_key(&sl->k, g, id);
      cairn_str v;
      rc = cairn_elem_get(L->s, L->coll.id, XS_PEL, sl->k.p, sl->k.len, &v);
      if (rc < 0) return rc;
      if (rc == 0 || v.len != 16) return 1; /* not in the group's list, or owned already */
      sl->v.len = 0;
      cairn_buf_append(&sl->v, v.p, 16);
      cairn_buf_append(&sl->v, cname.p, cname.len);
      if ((rc = lset(L, XS_PEL, sl->k.p, sl->k.len, sl->v.p, sl->v.len)) != 0) return rc;
      cpel_key(&sl->k, g, cname, id);
      if ((rc = lput(L, XS_CPEL, sl->k.p, sl->k.len, "", 0)) != 0) return rc;
      sl->assigned++;
      return 0;
    }
  }
  return 1;
}

int cairn_coll_loader_stream_end(cairn_coll_loader *L) {
  if (!L->stream) L->stream = cairn_xcalloc(1, sizeof(cairn_stream_load));
  cairn_stream_load *sl = L->stream;
  int rc = sl->have_meta ? load_flush_group(L) : 1;
  if (rc == 0) {
    unsigned char b[8 * META_WORDS];
    meta_enc(&sl->m, b);
    rc = lput(L, XS_META, "", 0, b, sizeof b);
  }
  cairn_coll_loader_stream_free(L);
  return rc;
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
    CAIRN_CMD("xreadgroup", -7, CAIRN_F_WRITE | CAIRN_CMD_BLOCKING, 0, 0, 0, cmd_xreadgroup, "stream",
              "Return new entries from a stream using a consumer group, or access the history of the pending entries "
              "for a given consumer. Can block.",
              "5.0.0", "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]"),
    CAIRN_CMD("xgroup", -2, CAIRN_F_WRITE, 0, 0, 0, cairn_subcommand_dispatch, "stream",
              "A container for consumer groups commands", "5.0.0", "", .subcommands = xgroup_subcommands),
    CAIRN_CMD("xack", -4, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_xack, "stream",
              "Marks a pending message as correctly processed.", "5.0.0", "key group id [id ...]"),
    CAIRN_CMD("xpending", -3, CAIRN_F_READ, 1, 1, 1, cmd_xpending, "stream",
              "Return information and entries from a stream consumer group pending entries list.", "5.0.0",
              "key group [[IDLE min-idle-time] start end count [consumer]]"),
    CAIRN_CMD("xclaim", -6, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_xclaim, "stream",
              "Changes (or acquires) ownership of a message in a consumer group.", "5.0.0",
              "key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] "
              "[RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]"),
    CAIRN_CMD("xautoclaim", -6, CAIRN_F_WRITE | CAIRN_CMD_FAST, 1, 1, 1, cmd_xautoclaim, "stream",
              "Changes the ownership of messages in a consumer group.", "6.2.0",
              "key group consumer min-idle-time start [COUNT count] [JUSTID]"),
    CAIRN_CMD("xinfo", -2, CAIRN_F_READ, 0, 0, 0, cairn_subcommand_dispatch, "stream",
              "A container for stream introspection commands", "5.0.0", "", .subcommands = xinfo_subcommands),
    CAIRN_CMD_END,
};
