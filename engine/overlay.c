#include "engine/overlay.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

/* Arena: blocks handed out by bumping a pointer; a request bigger than a
 * quarter of the largest block gets a block of its own. A layer's blocks
 * start at ARENA_FIRST bytes and double up to ARENA_BLOCK, so a layer of a
 * few entries counts kilobytes against overlay-max-memory, not a whole
 * block (with a small budget, every write used to stall for a drain of
 * one entry). */
#define ARENA_BLOCK CAIRN_HUGE_BLOCK
#define ARENA_FIRST (16u << 10)

/* Blocks of ARENA_BLOCK are areas of their own on huge pages
 * (cairn_huge_block, kept for the next layers when freed): a lookup that
 * lands on an entry reads it at random in hundreds of MB of them, and on
 * 4 KB pages that read missed the TLB as well as the cache. */
typedef struct arena_block {
  struct arena_block *next;
  size_t size, used;
  int huge;
  _Alignas(16) unsigned char data[];
} arena_block;

/* The point-lookup index: open addressing over (hash, node), so a GET or
 * an overwrite costs a probe, not a tree descent (the descent is paid
 * once, when a key enters the layer). Grown at half full; growing reads
 * only the table (hashes are kept in it). */
typedef struct slot {
  uint64_t h;
  ov_node *n;
} slot;

/* The order index: a B+tree whose nodes keep, per slot, the entry's dbi
 * and first 15 key bytes inline, in two order words (most comparisons end there, without
 * touching the entry), and the entry. An inner node's slot i is the
 * smallest entry of child i (the leftmost path's may be stale-high: a
 * smaller key still goes to child 0). Nodes only ever split. */
#define BT_MAX 32

typedef struct bt_node {
  uint16_t n;
  uint8_t leaf;
  struct bt_node *lprev, *lnext; /* leaves: the neighbouring leaves (key order) */
  uint64_t k1[BT_MAX], k2[BT_MAX]; /* the entries' order words (ov_node.k1/k2) */
  ov_node *e[BT_MAX];
} bt_node;

typedef struct bt_inner {
  bt_node h;
  bt_node *child[BT_MAX];
} bt_inner;

/* A new key does not enter the order at once: it waits in `pend` (the
 * nodes in arrival order) until something needs the order (a seek, a first
 * or last position), which sorts the waiting nodes and puts them in the
 * tree all at once. A layer only written (SETs, the replay of a backlog,
 * a replica's apply) never pays a tree descent per new key: once sealed,
 * its order is built in one pass from the sorted nodes, by whichever
 * thread needs it first (the store thread or the run writer asks as soon
 * as it is frozen).
 * Measured in docs/DECISIONS.md ("The overlay orders a layer when it is
 * read in order"). */
struct ov_layer {
  slot *tab;
  size_t tab_cap, tab_used;
  size_t reserve_cap;    /* ov_layer_reserve: the table's size once it outgrows the first one */
  slot *old;             /* the table before the last growth, moved over a slice per insert */
  size_t old_cap, old_next;
  arena_block *blocks;   /* blocks[0] is the one being filled */
  size_t bytes;          /* sum of block sizes (and the hash table) */
  size_t entries, tombs;
  uint64_t version;
  bt_node *root;
  bt_node *lfirst, *llast; /* the leftmost and rightmost leaves */
  uint64_t *bloom;       /* sealed layers: BLOOM_WORDS words a block (ov_layer_seal) */
  size_t bloom_mask;     /* blocks - 1 (a power of two) */
  ov_node **pend;        /* nodes not in the tree yet, in arrival order */
  size_t npend, pend_cap; /* npend: atomic once sealed (0: ordered) */
  size_t tree_n;         /* entries in the tree */
  unsigned char *nodes;  /* sealed with nodes pending: the tree's nodes, carved from here */
  int sealed;
  size_t pend_max;       /* 0: unbounded; else the waiting keys are ordered when this many wait */
  int read_in_order;     /* a seek or first/last position was asked of it while active */
  bt_node *free_leaves, *free_inners; /* nodes of a tree built again, reused (linked by lnext) */
  pthread_mutex_t order_mu; /* sealed: one thread builds the order, the others wait for it */
};

static void *arena_alloc(ov_layer *L, size_t n) {
  n = (n + 7) & ~(size_t)7;
  arena_block *b = L->blocks;
  if (n > ARENA_BLOCK / 4) {
    arena_block *big = cairn_xmalloc(sizeof(arena_block) + n);
    big->size = big->used = n;
    big->huge = 0;
    L->bytes += sizeof(arena_block) + n;
    if (b) { /* keep the block being filled first */
      big->next = b->next;
      b->next = big;
    } else {
      big->next = NULL;
      L->blocks = big;
    }
    return big->data;
  }
  if (!b || b->size - b->used < n) {
    size_t size = b ? (b->huge ? ARENA_BLOCK : b->size * 2) : ARENA_FIRST;
    while (size < n) size *= 2;
    if (size >= ARENA_BLOCK) {
      b = cairn_huge_block();
      b->size = ARENA_BLOCK - sizeof(arena_block);
      b->huge = 1;
      size = ARENA_BLOCK - sizeof(arena_block); /* (the block's bytes are ARENA_BLOCK, counted below) */
    } else {
      b = cairn_xmalloc(sizeof(arena_block) + size);
      b->size = size;
      b->huge = 0;
    }
    b->used = 0;
    b->next = L->blocks;
    L->blocks = b;
    L->bytes += sizeof(arena_block) + size;
  }
  void *p = b->data + b->used;
  b->used += n;
  return p;
}

ov_layer *ov_layer_new(void) {
  ov_layer *L = cairn_xcalloc(1, sizeof(ov_layer));
  pthread_mutex_init(&L->order_mu, NULL);
  return L;
}

void ov_layer_free(ov_layer *L) {
  if (!L) return;
  pthread_mutex_destroy(&L->order_mu);
  free(L->pend);
  free(L->bloom);
  cairn_free_huge(L->tab, L->tab_cap * sizeof(slot));
  cairn_free_huge(L->old, L->old_cap * sizeof(slot));
  arena_block *b = L->blocks;
  while (b) {
    arena_block *n = b->next;
    if (b->huge)
      cairn_huge_block_free(b);
    else
      free(b);
    b = n;
  }
  free(L);
}

int ov_cmp(unsigned dbi_a, const void *a, size_t alen, unsigned dbi_b, const void *b, size_t blen) {
  if (dbi_a != dbi_b) return dbi_a < dbi_b ? -1 : 1;
  size_t n = alen < blen ? alen : blen;
  int r = n ? memcmp(a, b, n) : 0;
  if (r) return r;
  return alen < blen ? -1 : alen > blen;
}

static inline uint64_t be_word(const unsigned char *key, size_t klen, size_t off) {
  unsigned char b[8] = {0};
  if (klen > off) memcpy(b, key + off, klen - off < 8 ? klen - off : 8);
  return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 | (uint64_t)b[3] << 32 |
         (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 | (uint64_t)b[6] << 8 | b[7];
}

/* A probe: the key being looked for, with its order words: k1 = the dbi
 * in the top byte and key bytes 0-6, k2 = key bytes 7-14, big-endian and
 * zero-padded. They order like (dbi, bytes) (zero padding sorts a shorter
 * key first; equal words fall back to the whole key), and one 8-byte
 * compare ends nearly every comparison. */
typedef struct probe {
  unsigned dbi;
  uint64_t k1, k2;
  const unsigned char *key;
  size_t klen;
} probe;

static inline probe probe_of(unsigned dbi, const void *key, size_t klen) {
  probe q = {dbi, (uint64_t)dbi << 56 | be_word(key, klen, 0) >> 8, be_word(key, klen, 7), key, klen};
  return q;
}

static inline int slot_cmp(const bt_node *x, int i, const probe *q) {
  if (x->k1[i] != q->k1) return x->k1[i] < q->k1 ? -1 : 1;
  if (x->k2[i] != q->k2) return x->k2[i] < q->k2 ? -1 : 1;
  return ov_cmp(0, x->e[i]->key, x->e[i]->klen, 0, q->key, q->klen);
}

/* First slot >= q. */
static inline int lower_bound(const bt_node *x, const probe *q) {
  int lo = 0, hi = x->n;
  while (lo < hi) {
    int mid = (lo + hi) >> 1;
    if (slot_cmp(x, mid, q) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The child of an inner node whose range holds q. */
static inline int child_of(const bt_node *x, const probe *q) {
  int j = lower_bound(x, q);
  if (j < x->n && slot_cmp(x, j, q) == 0) return j;
  return j > 0 ? j - 1 : 0;
}

static const ov_pos POS_END = {NULL, 0};

static void order_ensure(const ov_layer *L);

/* The position of the first entry >= q (POS_END when none). */
static ov_pos tree_ge(const ov_layer *L, const probe *q) {
  order_ensure(L);
  const bt_node *x = L->root;
  if (!x) return POS_END;
  while (!x->leaf) x = ((const bt_inner *)x)->child[child_of(x, q)];
  int j = lower_bound(x, q);
  if (j < x->n) return (ov_pos){x, j};
  if (x->lnext) return (ov_pos){x->lnext, 0}; /* a leaf right of another is never empty */
  return POS_END;
}

static inline int entry_cmp(const ov_node *n, const probe *q) {
  if (n->k1 != q->k1) return n->k1 < q->k1 ? -1 : 1;
  if (n->k2 != q->k2) return n->k2 < q->k2 ? -1 : 1;
  return ov_cmp(0, n->key, n->klen, 0, q->key, q->klen);
}

ov_node *ov_at(ov_pos p) { return p.leaf ? ((const bt_node *)p.leaf)->e[p.i] : NULL; }

ov_pos ov_pos_next(ov_pos p) {
  const bt_node *x = p.leaf;
  if (!x) return p;
  if (p.i + 1 < x->n) return (ov_pos){x, p.i + 1};
  return x->lnext ? (ov_pos){x->lnext, 0} : POS_END;
}

ov_pos ov_pos_prev(ov_pos p) {
  const bt_node *x = p.leaf;
  if (!x) return p;
  if (p.i > 0) return (ov_pos){x, p.i - 1};
  return x->lprev ? (ov_pos){x->lprev, x->lprev->n - 1} : POS_END;
}

static ov_pos pos_last(const ov_layer *L) {
  order_ensure(L);
  const bt_node *x = L->llast;
  return x && x->n ? (ov_pos){x, x->n - 1} : POS_END;
}

ov_pos ov_seek_ge(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  probe q = probe_of(dbi, key, klen);
  return tree_ge(L, &q);
}

ov_pos ov_seek_gt(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  probe q = probe_of(dbi, key, klen);
  ov_pos p = tree_ge(L, &q);
  if (p.leaf && entry_cmp(ov_at(p), &q) == 0) p = ov_pos_next(p);
  return p;
}

ov_pos ov_seek_le(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  probe q = probe_of(dbi, key, klen);
  ov_pos p = tree_ge(L, &q);
  if (p.leaf && entry_cmp(ov_at(p), &q) == 0) return p;
  return p.leaf ? ov_pos_prev(p) : pos_last(L);
}

ov_pos ov_seek_lt(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  probe q = probe_of(dbi, key, klen);
  ov_pos p = tree_ge(L, &q);
  return p.leaf ? ov_pos_prev(p) : pos_last(L);
}

ov_pos ov_first(const ov_layer *L) {
  order_ensure(L);
  const bt_node *x = L->lfirst;
  return x && x->n ? (ov_pos){x, 0} : POS_END;
}

static bt_node *node_new(ov_layer *L, int leaf) {
  size_t sz = leaf ? sizeof(bt_node) : sizeof(bt_inner);
  bt_node *x;
  bt_node **fl = leaf ? &L->free_leaves : &L->free_inners;
  if (*fl) {
    x = *fl;
    *fl = x->lnext;
  } else if (L->sealed) { /* counted when sealed (ov_layer_seal): a sealed layer's bytes never change */
    x = (bt_node *)L->nodes;
    L->nodes += sz;
  } else {
    x = arena_alloc(L, sz);
  }
  memset(x, 0, sz);
  x->leaf = (uint8_t)leaf;
  return x;
}

static void slot_set(bt_node *x, int j, ov_node *e, bt_node *child) {
  x->k1[j] = e->k1;
  x->k2[j] = e->k2;
  x->e[j] = e;
  if (!x->leaf) ((bt_inner *)x)->child[j] = child;
}

static void slot_move(bt_node *dst, int dj, bt_node *src, int sj, int count) {
  memmove(&dst->k1[dj], &src->k1[sj], (size_t)count * sizeof(uint64_t));
  memmove(&dst->k2[dj], &src->k2[sj], (size_t)count * sizeof(uint64_t));
  memmove(&dst->e[dj], &src->e[sj], (size_t)count * sizeof(ov_node *));
  if (!src->leaf)
    memmove(&((bt_inner *)dst)->child[dj], &((bt_inner *)src)->child[sj], (size_t)count * sizeof(bt_node *));
}

/* Inserts slot (e, child) at j; a full node splits first. Returns the new
 * right sibling (its slot 0 is its separator), or NULL. */
static bt_node *insert_at(ov_layer *L, bt_node *x, int j, ov_node *e, bt_node *child) {
  bt_node *y = NULL;
  if (x->n == BT_MAX) {
    int h = BT_MAX / 2;
    y = node_new(L, x->leaf);
    slot_move(y, 0, x, h, x->n - h);
    y->n = (uint16_t)(x->n - h);
    x->n = (uint16_t)h;
    if (x->leaf) { /* y goes right of x in the chain of leaves */
      y->lprev = x;
      y->lnext = x->lnext;
      if (x->lnext)
        x->lnext->lprev = y;
      else
        L->llast = y;
      x->lnext = y;
    }
    if (j > h) {
      x = y;
      j -= h;
    }
  }
  slot_move(x, j + 1, x, j, x->n - j);
  slot_set(x, j, e, child);
  x->n++;
  return y;
}

static bt_node *insert_rec(ov_layer *L, bt_node *x, const probe *q, ov_node *e) {
  if (x->leaf) return insert_at(L, x, lower_bound(x, q), e, NULL);
  int c = child_of(x, q);
  bt_node *r = insert_rec(L, ((bt_inner *)x)->child[c], q, e);
  if (!r) return NULL;
  return insert_at(L, x, c + 1, r->e[0], r);
}

/* Adds e (a key not in the layer) to the order. */
static void order_add(ov_layer *L, const probe *q, ov_node *e) {
  if (!L->root) L->root = L->lfirst = L->llast = node_new(L, 1);
  bt_node *r = insert_rec(L, L->root, q, e);
  if (r) {
    bt_node *root = node_new(L, 0);
    slot_set(root, 0, L->root->e[0], L->root);
    slot_set(root, 1, r->e[0], r);
    root->n = 2;
    L->root = root;
  }
}

/* ------------------------------------------------------------ the order, built late */

static void order_build(ov_layer *L);

static void pend_add(ov_layer *L, ov_node *n) {
  if (L->npend == L->pend_cap) {
    size_t cap = L->pend_cap ? L->pend_cap * 2 : 256;
    L->pend = cairn_xrealloc(L->pend, cap * sizeof(ov_node *));
    L->bytes += (cap - L->pend_cap) * sizeof(ov_node *);
    L->pend_cap = cap;
  }
  L->pend[L->npend++] = n;
  if (L->pend_max && L->npend >= L->pend_max) { /* (the caller's key is new: positions are sought again) */
    order_build(L);
    L->npend = 0;
  }
}

/* An entry to order: its order words copied out, so that sorting reads a
 * dense array instead of the nodes. */
typedef struct ord_rec {
  uint64_t k1, k2;
  ov_node *e;
} ord_rec;

static inline int rec_less(const ord_rec *a, const ord_rec *b) {
  if (a->k1 != b->k1) return a->k1 < b->k1;
  if (a->k2 != b->k2) return a->k2 < b->k2;
  return ov_cmp(0, a->e->key, a->e->klen, 0, b->e->key, b->e->klen) < 0;
}

static int rec_cmp_key(const void *a, const void *b) {
  const ord_rec *x = a, *y = b;
  return ov_cmp(0, x->e->key, x->e->klen, 0, y->e->key, y->e->klen);
}

static inline unsigned rec_digit(const ord_rec *r, int d) {
  return (unsigned)((d < 8 ? r->k2 >> (8 * d) : r->k1 >> (8 * (d - 8))) & 255);
}

/* Sorts by (k1, k2, whole key): a least-significant-digit radix sort on the
 * 16 order bytes, skipping the bytes every record shares (keys with a
 * common prefix); then each big run of equal words again on the next 16
 * bytes of the keys (keys longer than 15 bytes that share their first 15:
 * "user:session:0000..."), and small runs by the whole key. At level > 0 the
 * records' words are key bytes from 15 + 16 * (level - 1), put back after. */
static void recs_sort_level(ord_rec *r, size_t n, int level) {
  size_t base = level ? 15 + 16 * (size_t)(level - 1) : 0;
  if (level)
    for (size_t i = 0; i < n; i++) {
      r[i].k1 = be_word(r[i].e->key, r[i].e->klen, base);
      r[i].k2 = be_word(r[i].e->key, r[i].e->klen, base + 8);
    }
  int sorted = 1;
  for (size_t i = 1; i < n && sorted; i++)
    if (rec_less(&r[i], &r[i - 1])) sorted = 0;
  if (!sorted && n <= 32) {
    for (size_t i = 1; i < n; i++) {
      ord_rec x = r[i];
      size_t j = i;
      for (; j > 0 && rec_less(&x, &r[j - 1]); j--) r[j] = r[j - 1];
      r[j] = x;
    }
  } else if (!sorted) {
    size_t(*cnt)[256] = cairn_xcalloc(16, sizeof(*cnt));
    for (size_t i = 0; i < n; i++)
      for (int d = 0; d < 16; d++) cnt[d][rec_digit(&r[i], d)]++;
    ord_rec *tmp = cairn_xmalloc(n * sizeof(ord_rec)), *src = r, *dst = tmp;
    for (int d = 0; d < 16; d++) {
      if (cnt[d][rec_digit(&r[0], d)] == n) continue; /* every record has this byte */
      size_t at = 0;
      for (int b = 0; b < 256; b++) {
        size_t c = cnt[d][b];
        cnt[d][b] = at;
        at += c;
      }
      for (size_t i = 0; i < n; i++) dst[cnt[d][rec_digit(&src[i], d)]++] = src[i];
      ord_rec *t = src;
      src = dst;
      dst = t;
    }
    if (src != r) memcpy(r, src, n * sizeof(ord_rec));
    free(tmp);
    free(cnt);
    for (size_t i = 0; i < n;) {
      size_t j = i + 1, longest = r[i].e->klen;
      while (j < n && r[j].k1 == r[i].k1 && r[j].k2 == r[i].k2) {
        if (r[j].e->klen > longest) longest = r[j].e->klen;
        j++;
      }
      if (j - i > 32 && longest > base + 16 - (level ? 0 : 1))
        recs_sort_level(r + i, j - i, level + 1);
      else if (j - i > 1)
        qsort(r + i, j - i, sizeof(ord_rec), rec_cmp_key);
      i = j;
    }
  }
  if (level)
    for (size_t i = 0; i < n; i++) {
      r[i].k1 = r[i].e->k1;
      r[i].k2 = r[i].e->k2;
    }
}

/* The nodes of a tree of n entries built packed (tree_build). */
static size_t packed_bytes(size_t n) {
  size_t nodes = (n + BT_MAX - 1) / BT_MAX, bytes = nodes * sizeof(bt_node);
  while (nodes > 1) {
    nodes = (nodes + BT_MAX - 1) / BT_MAX;
    bytes += nodes * sizeof(bt_inner);
  }
  return bytes;
}

/* The tree of n sorted entries, built bottom-up with full nodes. */
static void tree_build(ov_layer *L, const ord_rec *r, size_t n) {
  L->root = L->lfirst = L->llast = NULL;
  L->tree_n = n;
  if (!n) return;
  size_t count = (n + BT_MAX - 1) / BT_MAX;
  bt_node **level = cairn_xmalloc(count * sizeof(bt_node *)), *prev = NULL;
  for (size_t i = 0, li = 0; i < n; li++) {
    bt_node *x = node_new(L, 1);
    int m = n - i < BT_MAX ? (int)(n - i) : BT_MAX;
    for (int j = 0; j < m; j++) slot_set(x, j, r[i + (size_t)j].e, NULL);
    x->n = (uint16_t)m;
    i += (size_t)m;
    x->lprev = prev;
    if (prev)
      prev->lnext = x;
    else
      L->lfirst = x;
    prev = x;
    level[li] = x;
  }
  L->llast = prev;
  while (count > 1) {
    size_t up = 0;
    for (size_t i = 0; i < count; up++) {
      bt_node *x = node_new(L, 0);
      int m = count - i < BT_MAX ? (int)(count - i) : BT_MAX;
      for (int j = 0; j < m; j++) slot_set(x, j, level[i + (size_t)j]->e[0], level[i + (size_t)j]);
      x->n = (uint16_t)m;
      i += (size_t)m;
      level[up] = x;
    }
    count = up;
  }
  L->root = level[0];
  free(level);
}

static void free_inners(ov_layer *L, bt_node *x) {
  if (!x || x->leaf) return;
  const bt_inner *in = (const bt_inner *)x;
  for (int j = 0; j < x->n; j++) free_inners(L, in->child[j]);
  x->lnext = L->free_inners;
  L->free_inners = x;
}

/* The old tree's nodes, for the one built next (an active layer's arena
 * frees nothing): inner nodes from the root (a few levels), leaves along
 * their chain. */
static void recycle_tree(ov_layer *L) {
  free_inners(L, L->root);
  for (bt_node *l = L->lfirst, *next; l; l = next) {
    next = l->lnext;
    l->lnext = L->free_leaves;
    L->free_leaves = l;
  }
  L->root = L->lfirst = L->llast = NULL;
}

/* The waiting nodes into the order: sorted, then a descent each when they
 * are few against the tree (the active layer, read in order now and then),
 * else the tree is built again from both, merged (a sealed layer always:
 * its nodes were counted when it was sealed). */
static void order_build(ov_layer *L) {
  size_t m = L->npend;
  ord_rec *r = cairn_xmalloc(m * sizeof(ord_rec));
  for (size_t i = 0; i < m; i++) r[i] = (ord_rec){L->pend[i]->k1, L->pend[i]->k2, L->pend[i]};
  recs_sort_level(r, m, 0);
  /* a descent each costs ~20x a slot copied by a rebuild */
  if (!L->sealed && L->tree_n && m * 16 < L->tree_n) {
    for (size_t i = 0; i < m; i++) {
      probe q = {r[i].e->dbi, r[i].k1, r[i].k2, r[i].e->key, r[i].e->klen};
      order_add(L, &q, r[i].e);
    }
    L->tree_n += m;
  } else if (!L->tree_n) {
    tree_build(L, r, m);
  } else {
    size_t total = L->tree_n + m, k = 0, i = 0;
    ord_rec *all = cairn_xmalloc(total * sizeof(ord_rec));
    for (const bt_node *x = L->lfirst; x; x = x->lnext)
      for (int j = 0; j < x->n; j++) {
        ord_rec t = {x->k1[j], x->k2[j], x->e[j]};
        while (i < m && rec_less(&r[i], &t)) all[k++] = r[i++];
        all[k++] = t;
      }
    while (i < m) all[k++] = r[i++];
    if (!L->sealed) recycle_tree(L);
    tree_build(L, all, k);
    free(all);
  }
  free(r);
}

/* Called by everything that reads the order. The active layer orders its
 * waiting nodes inline (one thread); a sealed one under its mutex, once. */
static void order_ensure(const ov_layer *cL) {
  ov_layer *L = (ov_layer *)cL;
  if (!L->sealed) {
    L->read_in_order = 1;
    if (L->npend) {
      order_build(L);
      L->npend = 0;
    }
    return;
  }
  if (!__atomic_load_n(&L->npend, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&L->order_mu);
  if (L->npend) {
    order_build(L);
    free(L->pend); /* (its bytes stay counted: a sealed layer's count never changes) */
    L->pend = NULL;
    __atomic_store_n(&L->npend, 0, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&L->order_mu);
}

void ov_layer_bound_pending(ov_layer *L, size_t max) { L->pend_max = max; }
int ov_layer_was_read_in_order(const ov_layer *L) { return L->read_in_order; }
int ov_layer_needs_order(const ov_layer *L) { return __atomic_load_n(&L->npend, __ATOMIC_ACQUIRE) != 0; }
void ov_layer_order(const ov_layer *L) { order_ensure(L); }

static uint64_t key_hash(unsigned dbi, const void *key, size_t klen) {
  const unsigned char *p = key;
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)dbi << 56) ^ klen;
  while (klen >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 31;
    p += 8;
    klen -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, p, klen);
  h = (h ^ w) * 0x94D049BB133111EBULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 32);
}

static ov_node *probe_table(const slot *tab, size_t cap, uint64_t h, unsigned dbi, const void *key, size_t klen) {
  size_t mask = cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const slot *s = &tab[i];
    if (!s->n) return NULL;
    if (s->h == h && s->n->dbi == dbi && s->n->klen == klen && memcmp(ov_key(s->n), key, klen) == 0) return s->n;
  }
}

/* A sealed layer's filter: a blocked Bloom filter, one 64-byte block a key
 * (chosen by the hash's top bits after a remix), BLOOM_K bits in it, about
 * BLOOM_BITS bits a key (~1-2% false positives). A lookup of a key the layer
 * does not hold (most of them, once the keyspace is bigger than the layers
 * above LMDB) then reads one cache line instead of probing a table of
 * millions of slots, for each frozen layer. */
#define BLOOM_WORDS 8
#define BLOOM_BITS 10
#define BLOOM_K 6

static inline const uint64_t *bloom_block(const ov_layer *L, uint64_t g) {
  return L->bloom + ((g >> 40) & L->bloom_mask) * BLOOM_WORDS;
}

static inline uint64_t bloom_mix(uint64_t h) {
  uint64_t g = h * 0x9E3779B97F4A7C15ULL;
  return g ^ (g >> 29);
}

static void bloom_add(ov_layer *L, uint64_t h) {
  uint64_t g = bloom_mix(h);
  uint64_t *b = (uint64_t *)bloom_block(L, g);
  for (int i = 0; i < BLOOM_K; i++) {
    unsigned bit = (unsigned)(g >> (i * 6 + 3)) & 511;
    b[bit >> 6] |= 1ULL << (bit & 63);
  }
}

static inline int bloom_maybe(const ov_layer *L, uint64_t h) {
  uint64_t g = bloom_mix(h);
  const uint64_t *b = bloom_block(L, g);
  for (int i = 0; i < BLOOM_K; i++) {
    unsigned bit = (unsigned)(g >> (i * 6 + 3)) & 511;
    if (!(b[bit >> 6] & (1ULL << (bit & 63)))) return 0;
  }
  return 1;
}

/* The new table first; while a growth is being moved over, the old one
 * too (it is left whole until the move ends: its probe chains stay valid). */
static ov_node *tab_find(const ov_layer *L, uint64_t h, unsigned dbi, const void *key, size_t klen) {
  if (!L->tab_used) return NULL; /* (an empty layer: no probe, no cache miss) */
  if (L->bloom && !bloom_maybe(L, h)) return NULL;
  ov_node *n = probe_table(L->tab, L->tab_cap, h, dbi, key, klen);
  if (!n && L->old) n = probe_table(L->old, L->old_cap, h, dbi, key, klen);
  return n;
}

static void tab_insert(slot *tab, size_t cap, uint64_t h, ov_node *n) {
  size_t mask = cap - 1;
  size_t i = h & mask;
  while (tab[i].n) i = (i + 1) & mask;
  tab[i].h = h;
  tab[i].n = n;
}

/* Growth is spread over the inserts that follow it (like Redis's dict
 * rehash): each moves a slice of the old table, so no insert pays for
 * copying a million slots at once. The new table has twice the slots (a
 * quarter full): the move ends long before it fills up again. */
#define REHASH_SLICE 256

static void tab_move_slice(ov_layer *L) {
  size_t end = L->old_next + REHASH_SLICE;
  if (end > L->old_cap) end = L->old_cap;
  for (size_t i = L->old_next; i < end; i++)
    if (L->old[i].n && !probe_table(L->tab, L->tab_cap, L->old[i].h, L->old[i].n->dbi, L->old[i].n->key,
                                    L->old[i].n->klen))
      tab_insert(L->tab, L->tab_cap, L->old[i].h, L->old[i].n);
  L->old_next = end;
  if (end == L->old_cap) {
    cairn_free_huge(L->old, L->old_cap * sizeof(slot));
    L->bytes -= L->old_cap * sizeof(slot);
    L->old = NULL;
    L->old_cap = L->old_next = 0;
  }
}

static void tab_add(ov_layer *L, uint64_t h, ov_node *n) {
  if (L->old) tab_move_slice(L);
  if ((L->tab_used + 1) * 2 > L->tab_cap) {
    while (L->old) tab_move_slice(L); /* (cannot happen: the move ends first) */
    size_t cap = L->tab_cap ? L->tab_cap * 2 : 1024;
    if (L->tab_cap && cap < L->reserve_cap) cap = L->reserve_cap;
    L->old = L->tab;
    L->old_cap = L->tab_cap;
    L->old_next = 0;
    L->tab = cairn_xcalloc_huge(cap * sizeof(slot));
    L->bytes += cap * sizeof(slot);
    L->tab_cap = cap;
  }
  tab_insert(L->tab, L->tab_cap, h, n);
  L->tab_used++;
}

void ov_layer_seal(ov_layer *L) {
  if (L->sealed) return;
  if (L->npend) { /* the order's nodes, for whichever thread builds it */
    L->nodes = arena_alloc(L, packed_bytes(L->tree_n + L->npend));
  }
  L->sealed = 1;
  if (!L->tab) return;
  /* A growth of the table still under way stays so: tab_find searches the
   * old table after the new one, as while the layer was active. Finishing
   * it here moved up to half a table, a cache miss an entry, on the loop
   * (a replica's checkpoints took 38-49 ms catching up). */
  size_t blocks = 1, want = (L->tab_used * BLOOM_BITS) / (BLOOM_WORDS * 64) + 1;
  while (blocks < want) blocks *= 2;
  L->bloom = cairn_xcalloc(blocks * BLOOM_WORDS, sizeof(uint64_t));
  L->bloom_mask = blocks - 1;
  L->bytes += blocks * BLOOM_WORDS * sizeof(uint64_t);
  for (size_t i = 0; i < L->tab_cap; i++)
    if (L->tab[i].n) bloom_add(L, L->tab[i].h);
  for (size_t i = L->old_next; i < L->old_cap; i++) /* not moved yet */
    if (L->old[i].n) bloom_add(L, L->old[i].h);
}

int ov_may_hold(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  return !L->bloom || bloom_maybe(L, key_hash(dbi, key, klen));
}

/* Taken once the layer outgrows a first table of 1024 slots: a layer that
 * stays small (reads between writes, a quiet period) keeps a table that
 * fits the CPU's caches, and its lookups do not miss them in a table sized
 * for millions of keys that holds a few (GET -P16 over 1M keys with the
 * active layer empty: a cache miss each, 11% of the loop's samples). */
void ov_layer_reserve(ov_layer *L, size_t entries) {
  size_t cap = 1024;
  while (cap < entries * 2 + 2) cap *= 2;
  if (L->tab || cap <= 1024) return;
  L->reserve_cap = cap;
}

uint64_t ov_hash(unsigned dbi, const void *key, size_t klen) { return key_hash(dbi, key, klen); }

ov_node *ov_find_h(const ov_layer *L, uint64_t h, unsigned dbi, const void *key, size_t klen) {
  return tab_find(L, h, dbi, key, klen);
}

ov_node *ov_find(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  return tab_find(L, key_hash(dbi, key, klen), dbi, key, klen);
}

unsigned char *ov_put(ov_layer *L, unsigned dbi, const void *key, size_t klen, size_t vlen, int tomb,
                      int *created) {
  return ov_put_h(L, key_hash(dbi, key, klen), NULL, 0, dbi, key, klen, vlen, tomb, created);
}

unsigned char *ov_put_h(ov_layer *L, uint64_t h, ov_node *known, int known_absent, unsigned dbi, const void *key,
                        size_t klen, size_t vlen, int tomb, int *created) {
  ov_node *n = known ? known : known_absent ? NULL : tab_find(L, h, dbi, key, klen);
  if (!n) {
    n = arena_alloc(L, sizeof(ov_node) + klen);
    probe q = probe_of(dbi, key, klen);
    n->dbi = (uint8_t)dbi;
    n->klen = (uint16_t)klen;
    n->k1 = q.k1;
    n->k2 = q.k2;
    n->val = NULL;
    n->vlen = 0;
    if (klen) memcpy(n->key, key, klen);
    pend_add(L, n);
    tab_add(L, h, n);
    L->entries++;
    L->version++;
    if (created) *created = 1;
  } else {
    if (created) *created = 0;
    if (!n->val) L->tombs--;
  }
  if (tomb) {
    n->val = NULL;
    n->vlen = 0;
    L->tombs++;
    return NULL;
  }
  /* Never overwrite in place: whoever holds the old value keeps it. */
  unsigned char *v = arena_alloc(L, vlen ? vlen : 1);
  n->val = v;
  n->vlen = vlen;
  return v;
}

size_t ov_layer_bytes(const ov_layer *L) { return L->bytes; }
size_t ov_layer_entries(const ov_layer *L) { return L->entries; }
size_t ov_layer_tombs(const ov_layer *L) { return L->tombs; }
uint64_t ov_layer_version(const ov_layer *L) { return L->version; }
