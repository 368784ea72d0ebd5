/* A small intrusive chained hash table for the WATCH and pub/sub tables.
 * Entries embed a cairn_hnode (hash precomputed by the caller); lookups walk
 * one chain comparing hashes first. The table grows at load 1, shrinks below
 * 1/8 and frees its buckets when empty, so an unused table costs nothing.
 * Iterating must not insert or remove (collect first). */
#ifndef CAIRN_HMAP_H
#define CAIRN_HMAP_H

#include <stdint.h>
#include <stdlib.h>

#include "engine/buf.h"

typedef struct cairn_hnode {
  struct cairn_hnode *hnext;
  uint64_t hash;
} cairn_hnode;

typedef struct cairn_hmap {
  cairn_hnode **b;
  size_t nb, n;
} cairn_hmap;

static inline void cairn_hmap_resize(cairn_hmap *m, size_t nb) {
  cairn_hnode **nbk = cairn_xcalloc(nb, sizeof(*nbk));
  for (size_t i = 0; i < m->nb; i++) {
    cairn_hnode *e = m->b[i];
    while (e) {
      cairn_hnode *next = e->hnext;
      size_t j = e->hash & (nb - 1);
      e->hnext = nbk[j];
      nbk[j] = e;
      e = next;
    }
  }
  free(m->b);
  m->b = nbk;
  m->nb = nb;
}

/* First node of the chain where `hash` lives (walk ->hnext, compare). */
static inline cairn_hnode *cairn_hmap_chain(const cairn_hmap *m, uint64_t hash) {
  return m->nb ? m->b[hash & (m->nb - 1)] : NULL;
}

static inline void cairn_hmap_insert(cairn_hmap *m, cairn_hnode *e) {
  if (m->n >= m->nb) cairn_hmap_resize(m, m->nb ? m->nb * 2 : 8);
  size_t j = e->hash & (m->nb - 1);
  e->hnext = m->b[j];
  m->b[j] = e;
  m->n++;
}

static inline void cairn_hmap_remove(cairn_hmap *m, cairn_hnode *e) {
  cairn_hnode **pp = &m->b[e->hash & (m->nb - 1)];
  while (*pp && *pp != e) pp = &(*pp)->hnext;
  if (!*pp) return;
  *pp = e->hnext;
  m->n--;
  if (m->n == 0) {
    free(m->b);
    m->b = NULL;
    m->nb = 0;
  } else if (m->nb > 8 && m->n < m->nb / 8) {
    cairn_hmap_resize(m, m->nb / 2);
  }
}

#endif
