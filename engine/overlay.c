#include "engine/overlay.h"

#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

/* Arena: blocks of ARENA_BLOCK bytes handed out by bumping a pointer; a
 * request bigger than a quarter block gets a block of its own. */
#define ARENA_BLOCK (1u << 20)

typedef struct arena_block {
  struct arena_block *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
} arena_block;

/* The point-lookup index: open addressing over (hash, node), so a GET or
 * an overwrite costs a probe, not a skiplist descent (the descent is paid
 * once, when a key enters the layer). Grown at half full; growing reads
 * only the table (hashes are kept in it). */
typedef struct slot {
  uint64_t h;
  ov_node *n;
} slot;

struct ov_layer {
  slot *tab;
  size_t tab_cap, tab_used;
  arena_block *blocks;   /* blocks[0] is the one being filled */
  size_t bytes;          /* sum of block sizes */
  size_t entries, tombs;
  uint64_t version;
  uint64_t rng;
  int level;             /* highest level in use */
  ov_node *head;         /* sentinel with OV_MAX_LEVEL pointers */
};

static void *arena_alloc(ov_layer *L, size_t n) {
  n = (n + 7) & ~(size_t)7;
  arena_block *b = L->blocks;
  if (n > ARENA_BLOCK / 4) {
    arena_block *big = cairn_xmalloc(sizeof(arena_block) + n);
    big->size = big->used = n;
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
    b = cairn_xmalloc(sizeof(arena_block) + ARENA_BLOCK);
    b->size = ARENA_BLOCK;
    b->used = 0;
    b->next = L->blocks;
    L->blocks = b;
    L->bytes += sizeof(arena_block) + ARENA_BLOCK;
  }
  void *p = b->data + b->used;
  b->used += n;
  return p;
}

ov_layer *ov_layer_new(uint64_t seed) {
  ov_layer *L = cairn_xcalloc(1, sizeof(*L));
  L->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
  L->level = 1;
  /* (the head outside the arena: an empty layer holds no block) */
  L->head = cairn_xcalloc(1, sizeof(ov_node) + OV_MAX_LEVEL * sizeof(ov_node *));
  L->head->level = OV_MAX_LEVEL;
  return L;
}

void ov_layer_free(ov_layer *L) {
  if (!L) return;
  free(L->tab);
  arena_block *b = L->blocks;
  while (b) {
    arena_block *n = b->next;
    free(b);
    b = n;
  }
  free(L->head);
  free(L);
}

int ov_cmp(unsigned dbi_a, const void *a, size_t alen, unsigned dbi_b, const void *b, size_t blen) {
  if (dbi_a != dbi_b) return dbi_a < dbi_b ? -1 : 1;
  size_t n = alen < blen ? alen : blen;
  int r = n ? memcmp(a, b, n) : 0;
  if (r) return r;
  return alen < blen ? -1 : alen > blen;
}

static inline uint64_t prefix_of(const void *key, size_t klen) {
  unsigned char b[8] = {0};
  memcpy(b, key, klen < 8 ? klen : 8);
  return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 | (uint64_t)b[3] << 32 |
         (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 | (uint64_t)b[6] << 8 | b[7];
}

static inline int node_cmp(const ov_node *n, unsigned dbi, const void *key, size_t klen) {
  return ov_cmp(n->dbi, ov_key(n), n->klen, dbi, key, klen);
}

/* node_cmp with the probe's prefix computed once: the 8-byte prefixes
 * order like the bytes they hold (zero padding sorts a shorter key first,
 * and equal prefixes fall back to the whole key). */
static inline int node_cmp_p(const ov_node *n, unsigned dbi, uint64_t pfx, const void *key, size_t klen) {
  if (n->dbi != dbi) return n->dbi < dbi ? -1 : 1;
  if (n->pfx != pfx) return n->pfx < pfx ? -1 : 1;
  return ov_cmp(0, ov_key(n), n->klen, 0, key, klen);
}

/* Fills upd[i] with the last node < (dbi, key) at each level; returns the
 * first node >= it (or NULL). */
static ov_node *search(const ov_layer *L, unsigned dbi, const void *key, size_t klen, ov_node **upd) {
  ov_node *x = L->head;
  uint64_t pfx = prefix_of(key, klen);
  for (int i = L->level - 1; i >= 0; i--) {
    ov_node *nx;
    while ((nx = x->next[i]) && node_cmp_p(nx, dbi, pfx, key, klen) < 0) x = nx;
    if (upd) upd[i] = x;
  }
  return x->next[0];
}

ov_node *ov_seek_ge(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  return search(L, dbi, key, klen, NULL);
}

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

static ov_node *tab_find(const ov_layer *L, uint64_t h, unsigned dbi, const void *key, size_t klen) {
  if (!L->tab) return NULL;
  size_t mask = L->tab_cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const slot *s = &L->tab[i];
    if (!s->n) return NULL;
    if (s->h == h && s->n->dbi == dbi && s->n->klen == klen && memcmp(ov_key(s->n), key, klen) == 0) return s->n;
  }
}

static void tab_insert(slot *tab, size_t cap, uint64_t h, ov_node *n) {
  size_t mask = cap - 1;
  size_t i = h & mask;
  while (tab[i].n) i = (i + 1) & mask;
  tab[i].h = h;
  tab[i].n = n;
}

static void tab_add(ov_layer *L, uint64_t h, ov_node *n) {
  if ((L->tab_used + 1) * 2 > L->tab_cap) {
    size_t cap = L->tab_cap ? L->tab_cap * 2 : 1024;
    slot *t = cairn_xcalloc(cap, sizeof(slot));
    for (size_t i = 0; i < L->tab_cap; i++)
      if (L->tab[i].n) tab_insert(t, cap, L->tab[i].h, L->tab[i].n);
    free(L->tab);
    L->bytes += (cap - L->tab_cap) * sizeof(slot);
    L->tab = t;
    L->tab_cap = cap;
  }
  tab_insert(L->tab, L->tab_cap, h, n);
  L->tab_used++;
}

ov_node *ov_find(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  return tab_find(L, key_hash(dbi, key, klen), dbi, key, klen);
}

ov_node *ov_seek_gt(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  ov_node *n = search(L, dbi, key, klen, NULL);
  if (n && node_cmp(n, dbi, key, klen) == 0) n = n->next[0];
  return n;
}

ov_node *ov_seek_lt(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  ov_node *upd[OV_MAX_LEVEL];
  search(L, dbi, key, klen, upd);
  return upd[0] == L->head ? NULL : upd[0];
}

ov_node *ov_seek_le(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  ov_node *upd[OV_MAX_LEVEL];
  ov_node *n = search(L, dbi, key, klen, upd);
  if (n && node_cmp(n, dbi, key, klen) == 0) return n;
  return upd[0] == L->head ? NULL : upd[0];
}

ov_node *ov_first(const ov_layer *L) { return L->head->next[0]; }

static int random_level(ov_layer *L) {
  /* xorshift64; each level with probability 1/4 */
  uint64_t x = L->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  L->rng = x;
  int lvl = 1;
  while (lvl < OV_MAX_LEVEL && (x & 3) == 0) {
    lvl++;
    x >>= 2;
  }
  return lvl;
}

unsigned char *ov_put(ov_layer *L, unsigned dbi, const void *key, size_t klen, size_t vlen, int tomb,
                      int *created) {
  uint64_t h = key_hash(dbi, key, klen);
  ov_node *n = tab_find(L, h, dbi, key, klen);
  if (!n) {
    ov_node *upd[OV_MAX_LEVEL];
    search(L, dbi, key, klen, upd);
    int lvl = random_level(L);
    if (lvl > L->level) {
      for (int i = L->level; i < lvl; i++) upd[i] = L->head;
      L->level = lvl;
    }
    n = arena_alloc(L, sizeof(ov_node) + (size_t)lvl * sizeof(ov_node *) + klen);
    n->level = (uint8_t)lvl;
    n->dbi = (uint8_t)dbi;
    n->klen = (uint16_t)klen;
    n->pfx = prefix_of(key, klen);
    n->val = NULL;
    n->vlen = 0;
    if (klen) memcpy((unsigned char *)(n->next + lvl), key, klen);
    for (int i = 0; i < lvl; i++) {
      n->next[i] = upd[i]->next[i];
      upd[i]->next[i] = n;
    }
    n->prev = upd[0] == L->head ? NULL : upd[0];
    if (n->next[0]) n->next[0]->prev = n;
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
