/* One layer of the write overlay (engine/store.c keeps a stack of them above
 * LMDB; docs/STORAGE.md "The write overlay").
 *
 * A layer is a sorted map of (dbi, key) -> value or tombstone, in memory:
 * entries (ov_node) ordered by a B+tree of wide nodes whose leaves are
 * chained (an iteration walks positions, ov_pos, along the leaves) and found
 * by a hash index (point lookups and overwrites pay a probe). A new key
 * enters the tree late: it waits with the others until the order is read
 * (a seek, ov_first), which sorts them and puts them in at once; a layer
 * that is only written is ordered once, after it is sealed. Entries, keys, values and tree nodes live in the
 * layer's arena; nothing is freed before the whole layer is (ov_layer_free
 * releases a few big blocks, never one call per entry), so:
 *   - an entry, its key and every value it ever pointed to stay valid for
 *     the layer's life: a pointer handed out survives later writes. A
 *     position (ov_pos) is valid until the next insertion of a key into
 *     the layer (ov_layer_version changes): a frozen layer's positions stay
 *     valid, the active layer's must be sought again;
 *   - overwriting a key allocates a new value and leaves the old one (the
 *     bytes are counted in ov_layer_bytes, which is what the memory budget
 *     and the freeze threshold look at).
 * Order: dbi first, then the key bytewise with a shorter prefix first (LMDB's
 * default order, which cairn's comparator in store.c equals).
 *
 * Threads: one writer (the loop thread, while the layer is the active one);
 * once frozen a layer is read-only and may be read by several threads. */
#ifndef CAIRN_OVERLAY_H
#define CAIRN_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct ov_node {
  const unsigned char *val;    /* NULL for a tombstone */
  size_t vlen;
  uint64_t k1, k2;             /* order words: dbi and key bytes 0-6; key bytes 7-14 (overlay.c, probe) */
  uint16_t klen;
  uint8_t dbi;
  unsigned char key[];
} ov_node;

typedef struct ov_layer ov_layer;

ov_layer *ov_layer_new(void);
void ov_layer_free(ov_layer *L);

static inline const unsigned char *ov_key(const ov_node *n) { return n->key; }
static inline int ov_is_tomb(const ov_node *n) { return n->val == NULL; }

/* Compares (dbi, key) pairs: <0, 0, >0. */
int ov_cmp(unsigned dbi_a, const void *a, size_t alen, unsigned dbi_b, const void *b, size_t blen);

/* The node of exactly (dbi, key), or NULL. */
ov_node *ov_find(const ov_layer *L, unsigned dbi, const void *key, size_t klen);
/* A position in the layer's order: an entry, or the end (leaf == NULL). */
typedef struct ov_pos {
  const void *leaf;
  int i;
} ov_pos;

/* First entry >= (dbi, key) / > (dbi, key); last entry <= / < it; the end
 * when there is none (the caller checks the dbi of what it gets). */
ov_pos ov_seek_ge(const ov_layer *L, unsigned dbi, const void *key, size_t klen);
ov_pos ov_seek_gt(const ov_layer *L, unsigned dbi, const void *key, size_t klen);
ov_pos ov_seek_le(const ov_layer *L, unsigned dbi, const void *key, size_t klen);
ov_pos ov_seek_lt(const ov_layer *L, unsigned dbi, const void *key, size_t klen);
ov_pos ov_first(const ov_layer *L);
ov_pos ov_pos_next(ov_pos p); /* the end stays the end */
ov_pos ov_pos_prev(ov_pos p);
ov_node *ov_at(ov_pos p);     /* NULL at the end */

/* Sets (dbi, key) to a value of vlen bytes, returned uninitialised for the
 * caller to fill (tomb = 1: a tombstone, returns NULL). *created tells
 * whether a node was added (the layer's structure changed). */
unsigned char *ov_put(ov_layer *L, unsigned dbi, const void *key, size_t klen, size_t vlen, int tomb,
                      int *created);

/* The same with the key's hash computed once for several layers
 * (ov_hash), and what the caller already knows of this layer: the node of
 * the key (known), or that the key is absent (known_absent). */
uint64_t ov_hash(unsigned dbi, const void *key, size_t klen);
ov_node *ov_find_h(const ov_layer *L, uint64_t h, unsigned dbi, const void *key, size_t klen);
unsigned char *ov_put_h(ov_layer *L, uint64_t h, ov_node *known, int known_absent, unsigned dbi, const void *key,
                        size_t klen, size_t vlen, int tomb, int *created);

/* The layer is frozen (no more writes): builds its filter, so that lookups
 * of keys it does not hold mostly skip its hash index, and sets aside the
 * memory of its order (counted now: a sealed layer's ov_layer_bytes never
 * changes). Idempotent. */
void ov_layer_seal(ov_layer *L);
/* Whether the layer's order still has to be built (its first reader in
 * order builds it: any thread, once, the others wait), and building it now
 * (the store thread does so as soon as a layer is frozen, so that the loop
 * rarely waits for it). */
int ov_layer_needs_order(const ov_layer *L);
void ov_layer_order(const ov_layer *L);
/* An active layer that is read in order now and then (collections, SCAN)
 * orders its waiting keys whenever max wait, so a read never waits for a
 * whole layer's worth to be sorted (64k keys: ~10 ms at most, against
 * ~65 ms for a 430k-key layer); one only written never does (0, the
 * default). Whether the layer was read in order while active tells the
 * store which the next one needs. */
void ov_layer_bound_pending(ov_layer *L, size_t max);
int ov_layer_was_read_in_order(const ov_layer *L);
/* 0 when the sealed layer's filter says it holds no (dbi, key); 1 when it
 * may (an unsealed layer always may). */
int ov_may_hold(const ov_layer *L, unsigned dbi, const void *key, size_t klen);

/* Sizes a new, empty layer's hash index for this many entries, taken in one
 * step once the layer outgrows its first 1024 slots (a layer loaded from a
 * run file knows its count: one growth while loading, not twenty). */
void ov_layer_reserve(ov_layer *L, size_t entries);

size_t ov_layer_bytes(const ov_layer *L);     /* arena bytes in use (the memory it holds) */
size_t ov_layer_entries(const ov_layer *L);   /* nodes (keys, tombstones included) */
size_t ov_layer_tombs(const ov_layer *L);
/* Bumped whenever a node is added: iterators re-seek the active layer when
 * it moved under them. */
uint64_t ov_layer_version(const ov_layer *L);

#endif
