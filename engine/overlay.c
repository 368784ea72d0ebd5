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

struct ov_layer {
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

static inline int node_cmp(const ov_node *n, unsigned dbi, const void *key, size_t klen) {
  return ov_cmp(n->dbi, ov_key(n), n->klen, dbi, key, klen);
}

/* Fills upd[i] with the last node < (dbi, key) at each level; returns the
 * first node >= it (or NULL). */
static ov_node *search(const ov_layer *L, unsigned dbi, const void *key, size_t klen, ov_node **upd) {
  ov_node *x = L->head;
  for (int i = L->level - 1; i >= 0; i--) {
    ov_node *nx;
    while ((nx = x->next[i]) && node_cmp(nx, dbi, key, klen) < 0) x = nx;
    if (upd) upd[i] = x;
  }
  return x->next[0];
}

ov_node *ov_seek_ge(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  return search(L, dbi, key, klen, NULL);
}

ov_node *ov_find(const ov_layer *L, unsigned dbi, const void *key, size_t klen) {
  ov_node *n = search(L, dbi, key, klen, NULL);
  return n && node_cmp(n, dbi, key, klen) == 0 ? n : NULL;
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
  ov_node *upd[OV_MAX_LEVEL];
  ov_node *n = search(L, dbi, key, klen, upd);
  if (!n || node_cmp(n, dbi, key, klen) != 0) {
    int lvl = random_level(L);
    if (lvl > L->level) {
      for (int i = L->level; i < lvl; i++) upd[i] = L->head;
      L->level = lvl;
    }
    n = arena_alloc(L, sizeof(ov_node) + (size_t)lvl * sizeof(ov_node *) + klen);
    n->level = (uint8_t)lvl;
    n->dbi = (uint8_t)dbi;
    n->klen = (uint16_t)klen;
    n->val = NULL;
    n->vlen = 0;
    if (klen) memcpy((unsigned char *)(n->next + lvl), key, klen);
    for (int i = 0; i < lvl; i++) {
      n->next[i] = upd[i]->next[i];
      upd[i]->next[i] = n;
    }
    n->prev = upd[0] == L->head ? NULL : upd[0];
    if (n->next[0]) n->next[0]->prev = n;
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
