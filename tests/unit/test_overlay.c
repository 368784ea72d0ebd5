/* Unit tests for engine/overlay.c: one layer of the write overlay, driven
 * directly (the merge with LMDB is tested through the store in
 * test_store.c). A sorted array is the model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "engine/overlay.h"

static int cmp_key(unsigned dbi, const char *k, const ov_node *n) {
  return ov_cmp(dbi, k, strlen(k), n->dbi, ov_key(n), n->klen);
}

/* Entry-level helpers over the positional API (ov_pos). */
static ov_node *sge(const ov_layer *L, unsigned d, const void *k, size_t n) { return ov_at(ov_seek_ge(L, d, k, n)); }
static ov_node *sgt(const ov_layer *L, unsigned d, const void *k, size_t n) { return ov_at(ov_seek_gt(L, d, k, n)); }
static ov_node *sle(const ov_layer *L, unsigned d, const void *k, size_t n) { return ov_at(ov_seek_le(L, d, k, n)); }
static ov_node *slt(const ov_layer *L, unsigned d, const void *k, size_t n) { return ov_at(ov_seek_lt(L, d, k, n)); }
static ov_node *first_of(const ov_layer *L) { return ov_at(ov_first(L)); }
static ov_node *next_of(const ov_layer *L, const ov_node *x) {
  return ov_at(ov_pos_next(ov_seek_ge(L, x->dbi, ov_key(x), x->klen)));
}
static ov_node *prev_of(const ov_layer *L, const ov_node *x) {
  return ov_at(ov_pos_prev(ov_seek_ge(L, x->dbi, ov_key(x), x->klen)));
}

static void put_str(ov_layer *L, unsigned dbi, const char *k, const char *v) {
  int created = -1;
  unsigned char *p = ov_put(L, dbi, k, strlen(k), strlen(v), 0, &created);
  assert_non_null(p);
  memcpy(p, v, strlen(v));
}

static void test_order_and_overwrite(void **state) {
  (void)state;
  ov_layer *L = ov_layer_new();
  assert_int_equal(ov_layer_bytes(L), 0); /* an empty layer holds no arena block */
  assert_null(first_of(L));
  put_str(L, 2, "b", "1");
  put_str(L, 2, "a", "2");
  put_str(L, 1, "z", "3");
  put_str(L, 2, "ab", "4");
  put_str(L, 2, "", "5");
  /* dbi first, then bytes, a prefix first */
  const char *want[] = {"z", "", "a", "ab", "b"};
  unsigned dbis[] = {1, 2, 2, 2, 2};
  int i = 0;
  for (ov_node *n = first_of(L); n; n = next_of(L, n), i++) {
    assert_int_equal(cmp_key(dbis[i], want[i], n), 0);
    if (i) assert_ptr_equal(prev_of(L, n) != NULL, 1);
  }
  assert_int_equal(i, 5);
  assert_int_equal(ov_layer_entries(L), 5);
  /* an overwrite leaves the old value where it was (pointers stay valid) */
  ov_node *a = ov_find(L, 2, "a", 1);
  const unsigned char *old = a->val;
  uint64_t ver = ov_layer_version(L);
  int created = -1;
  unsigned char *p = ov_put(L, 2, "a", 1, 3, 0, &created);
  memcpy(p, "new", 3);
  assert_int_equal(created, 0);
  assert_int_equal(ov_layer_version(L), ver); /* no node added */
  assert_memory_equal(old, "2", 1);
  assert_memory_equal(ov_find(L, 2, "a", 1)->val, "new", 3);
  assert_int_equal(ov_layer_entries(L), 5);
  assert_true(ov_layer_bytes(L) > 0);
  ov_layer_free(L);
}

static void test_tombstones(void **state) {
  (void)state;
  ov_layer *L = ov_layer_new();
  put_str(L, 3, "k", "v");
  int created = -1;
  assert_null(ov_put(L, 3, "k", 1, 0, 1, &created));
  assert_int_equal(created, 0);
  ov_node *n = ov_find(L, 3, "k", 1);
  assert_true(ov_is_tomb(n));
  assert_int_equal(ov_layer_tombs(L), 1);
  /* a tombstone for a key the layer never had is a node of its own */
  assert_null(ov_put(L, 3, "gone", 4, 0, 1, &created));
  assert_int_equal(created, 1);
  assert_int_equal(ov_layer_tombs(L), 2);
  put_str(L, 3, "k", "back");
  assert_false(ov_is_tomb(ov_find(L, 3, "k", 1)));
  assert_int_equal(ov_layer_tombs(L), 1);
  /* an empty value is not a tombstone */
  put_str(L, 3, "e", "");
  assert_false(ov_is_tomb(ov_find(L, 3, "e", 1)));
  assert_int_equal(ov_find(L, 3, "e", 1)->vlen, 0);
  ov_layer_free(L);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Random keys against a sorted array: every seek mode lands where the
 * model says, both directions walk the same order. */
static void test_seeks_against_a_model(void **state) {
  (void)state;
  ov_layer *L = ov_layer_new();
  enum { N = 5000 };
  static int keys[N];
  int n = 0;
  srand(12345);
  for (int i = 0; i < N; i++) {
    int k = rand() % 20000;
    char buf[16];
    snprintf(buf, sizeof(buf), "%08d", k);
    int created = 0;
    unsigned char *p = ov_put(L, 5, buf, 8, 4, 0, &created);
    memcpy(p, buf + 4, 4);
    if (created) keys[n++] = k;
  }
  qsort(keys, (size_t)n, sizeof(int), cmp_int);
  assert_int_equal(ov_layer_entries(L), (size_t)n);
  int i = 0;
  ov_node *last = NULL;
  for (ov_node *x = first_of(L); x; x = next_of(L, x), i++) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%08d", keys[i]);
    assert_memory_equal(ov_key(x), buf, 8);
    last = x;
  }
  assert_int_equal(i, n);
  for (ov_node *x = last; x; x = prev_of(L, x)) i--;
  assert_int_equal(i, 0);
  /* the same walk with positions, both ways */
  ov_pos pp = ov_first(L), lastp = pp;
  for (i = 0; ov_at(pp); pp = ov_pos_next(pp), i++) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%08d", keys[i]);
    assert_memory_equal(ov_key(ov_at(pp)), buf, 8);
    lastp = pp;
  }
  assert_int_equal(i, n);
  for (pp = lastp; ov_at(pp); pp = ov_pos_prev(pp)) i--;
  assert_int_equal(i, 0);
  for (int probe = -1; probe <= 20001; probe += 7) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%08d", probe < 0 ? 0 : probe);
    int lo = 0;
    while (lo < n && keys[lo] < probe) lo++; /* first >= probe */
    ov_node *ge = sge(L, 5, buf, 8), *gt = sgt(L, 5, buf, 8);
    ov_node *le = sle(L, 5, buf, 8), *lt = slt(L, 5, buf, 8);
    int exact = lo < n && keys[lo] == probe;
    if (lo < n) {
      char w[16];
      snprintf(w, sizeof(w), "%08d", keys[lo]);
      assert_memory_equal(ov_key(ge), w, 8);
    } else {
      assert_null(ge);
    }
    int gi = exact ? lo + 1 : lo;
    if (gi < n) {
      char w[16];
      snprintf(w, sizeof(w), "%08d", keys[gi]);
      assert_memory_equal(ov_key(gt), w, 8);
    } else {
      assert_null(gt);
    }
    int li = exact ? lo : lo - 1;
    if (li >= 0) {
      char w[16];
      snprintf(w, sizeof(w), "%08d", keys[li]);
      assert_memory_equal(ov_key(le), w, 8);
    } else {
      assert_null(le);
    }
    if (lo - 1 >= 0) {
      char w[16];
      snprintf(w, sizeof(w), "%08d", keys[lo - 1]);
      assert_memory_equal(ov_key(lt), w, 8);
    } else {
      assert_null(lt);
    }
  }
  /* another dbi is outside: seeks return its neighbours' nodes, which the
   * caller recognises by their dbi */
  ov_node *x = sge(L, 6, "", 0);
  assert_null(x);
  x = slt(L, 6, "", 0);
  assert_non_null(x);
  assert_int_equal(x->dbi, 5);
  ov_layer_free(L);
}

/* Keys arriving in order, in reverse order and interleaved across dbis:
 * the tree splits at its edges (the leftmost path's separators go stale
 * high); order and seeks stay right, and long shared prefixes (longer than
 * the 15 inline bytes) compare on the whole key. */
static void test_edges_and_long_prefixes(void **state) {
  (void)state;
  for (int mode = 0; mode < 3; mode++) {
    ov_layer *L = ov_layer_new();
    enum { N = 4000 };
    for (int i = 0; i < N; i++) {
      int k = mode == 0 ? i : mode == 1 ? N - 1 - i : (i * 7919) % N;
      char buf[64];
      int n = snprintf(buf, sizeof(buf), "same-prefix-longer-than-16:%06d", k);
      unsigned char *p = ov_put(L, (unsigned)(1 + k % 3), buf, (size_t)n, 1, 0, NULL);
      p[0] = 'v';
    }
    assert_int_equal(ov_layer_entries(L), N);
    int count = 0;
    ov_node *prev = NULL;
    for (ov_node *x = first_of(L); x; x = next_of(L, x), count++) {
      if (prev) assert_true(ov_cmp(prev->dbi, ov_key(prev), prev->klen, x->dbi, ov_key(x), x->klen) < 0);
      assert_ptr_equal(prev_of(L, x), prev);
      prev = x;
    }
    assert_int_equal(count, N);
    for (int k = 0; k < N; k += 37) {
      char buf[64];
      int n = snprintf(buf, sizeof(buf), "same-prefix-longer-than-16:%06d", k);
      unsigned dbi = (unsigned)(1 + k % 3);
      ov_node *x = sge(L, dbi, buf, (size_t)n);
      assert_non_null(x);
      assert_int_equal(x->dbi, dbi);
      assert_int_equal(x->klen, n);
      assert_memory_equal(ov_key(x), buf, (size_t)n);
      assert_ptr_equal(ov_find(L, dbi, buf, (size_t)n), x);
      assert_ptr_equal(sle(L, dbi, buf, (size_t)n), x);
      assert_ptr_equal(sgt(L, dbi, buf, (size_t)n), next_of(L, x));
      assert_ptr_equal(slt(L, dbi, buf, (size_t)n), prev_of(L, x));
      buf[n - 1] = 'z'; /* between two keys: the model is a walk from x */
      ov_node *want = next_of(L, x), *wle = x;
      while (want && ov_cmp(want->dbi, ov_key(want), want->klen, dbi, buf, (size_t)n) < 0) {
        wle = want;
        want = next_of(L, want);
      }
      assert_ptr_equal(sge(L, dbi, buf, (size_t)n), want);
      assert_ptr_equal(sle(L, dbi, buf, (size_t)n), wle);
    }
    ov_layer_free(L);
  }
}

/* Big values get blocks of their own; the layer's bytes count them. */
static void test_big_values_and_bytes(void **state) {
  (void)state;
  ov_layer *L = ov_layer_new();
  size_t big = 3u << 20;
  unsigned char *p = ov_put(L, 1, "big", 3, big, 0, NULL);
  memset(p, 'b', big);
  put_str(L, 1, "small", "s");
  assert_true(ov_layer_bytes(L) >= big);
  assert_int_equal(ov_find(L, 1, "big", 3)->vlen, big);
  assert_memory_equal(ov_find(L, 1, "small", 5)->val, "s", 1);
  ov_layer_free(L);
}

/* A sealed layer (frozen) answers every key it holds, tombstones too, in
 * every dbi, across a growth of its table; keys it does not hold are
 * mostly turned away by its filter and still answered NULL; its bytes
 * count the filter. */
static void test_sealed_layer_filter(void **state) {
  (void)state;
  ov_layer *L = ov_layer_new();
  char k[32];
  for (int i = 0; i < 100000; i++) {
    int n = snprintf(k, sizeof(k), "key:%d", i);
    if (i % 10 == 0)
      ov_put(L, (unsigned)(i % 3), k, (size_t)n, 0, 1, NULL);
    else
      memcpy(ov_put(L, (unsigned)(i % 3), k, (size_t)n, 4, 0, NULL), "vvvv", 4);
  }
  ov_first(L); /* ordered now: what the seal adds is the filter alone */
  size_t before = ov_layer_bytes(L);
  ov_layer_seal(L);
  ov_layer_seal(L); /* idempotent */
  assert_true(ov_layer_bytes(L) > before);
  assert_true(ov_layer_bytes(L) - before <= 100000 * 4); /* ~10 bits a key */
  for (int i = 0; i < 100000; i++) {
    int n = snprintf(k, sizeof(k), "key:%d", i);
    ov_node *x = ov_find(L, (unsigned)(i % 3), k, (size_t)n);
    assert_non_null(x);
    assert_int_equal(ov_is_tomb(x), i % 10 == 0);
    assert_null(ov_find(L, (unsigned)((i + 1) % 3), k, (size_t)n)); /* same key, other dbi */
  }
  /* no false negative; few false positives among keys it does not hold */
  int maybe = 0;
  for (int i = 0; i < 100000; i++) {
    int n = snprintf(k, sizeof(k), "key:%d", i);
    assert_true(ov_may_hold(L, (unsigned)(i % 3), k, (size_t)n));
  }
  for (int i = 100000; i < 200000; i++) {
    int n = snprintf(k, sizeof(k), "key:%d", i);
    assert_null(ov_find(L, 0, k, (size_t)n));
    maybe += ov_may_hold(L, 0, k, (size_t)n);
  }
  assert_true(maybe < 3000); /* < 3% */
  ov_layer *U = ov_layer_new();
  assert_true(ov_may_hold(U, 0, "x", 1)); /* not sealed: always may */
  ov_layer_free(U);
  ov_layer_free(L);
}

/* A layer sealed while its hash table grows (the old table not all moved
 * into the new one): every key is still found, the filter holds every
 * key, and its order is whole. Every count of keys around two growths. */
static void test_sealed_mid_growth(void **state) {
  (void)state;
  char k[32];
  for (int n = 500; n < 540; n++) {
    for (int base = 0; base < 2; base++) {
      int count = base ? n + 512 : n; /* around the growths at 512 and 1024 keys */
      ov_layer *L = ov_layer_new();
      for (int i = 0; i < count; i++) {
        int kl = snprintf(k, sizeof(k), "k%d", i);
        memcpy(ov_put(L, 0, k, (size_t)kl, 2, 0, NULL), "vv", 2);
      }
      ov_layer_seal(L);
      for (int i = 0; i < count; i++) {
        int kl = snprintf(k, sizeof(k), "k%d", i);
        assert_true(ov_may_hold(L, 0, k, (size_t)kl));
        assert_non_null(ov_find(L, 0, k, (size_t)kl));
      }
      int kl = snprintf(k, sizeof(k), "k%d", count);
      assert_null(ov_find(L, 0, k, (size_t)kl));
      size_t walked = 0;
      for (ov_pos p = ov_first(L); ov_at(p); p = ov_pos_next(p)) walked++;
      assert_int_equal(walked, (size_t)count);
      ov_layer_free(L);
    }
  }
}

/* The order is built late: keys written between reads in order (few
 * against the tree: one descent each; many: the tree built again), keys
 * that share more than the 15 inline bytes (ties of the radix sort), then
 * the layer sealed with keys still waiting and ordered by several threads
 * at once. Every walk equals the model; a sealed layer's bytes do not move
 * when its order is built. */
typedef struct order_walk {
  const ov_layer *L;
  size_t count;
  int sorted;
} order_walk;

static void *walk_in_order(void *arg) {
  order_walk *w = arg;
  ov_node *prev = NULL;
  w->sorted = 1;
  for (ov_pos p = ov_first(w->L); ov_at(p); p = ov_pos_next(p), w->count++) {
    ov_node *x = ov_at(p);
    if (prev && ov_cmp(prev->dbi, ov_key(prev), prev->klen, x->dbi, ov_key(x), x->klen) >= 0) w->sorted = 0;
    prev = x;
  }
  return NULL;
}

static void test_order_built_late(void **state) {
  (void)state;
  ov_layer *L = ov_layer_new();
  enum { N = 60000 };
  static int model[N];
  static char seen[N];
  memset(seen, 0, sizeof(seen));
  int n = 0;
  srand(777);
  for (int round = 0; round < 40; round++) {
    /* rounds of 1 to ~3000 new keys: some far fewer than the tree holds,
     * some more (the first ones) */
    int burst = round < 3 ? 2000 + round * 500 : 1 + rand() % (round % 4 == 0 ? 3000 : 40);
    for (int i = 0; i < burst; i++) {
      int k = rand() % N;
      char buf[64];
      /* half share a 20-byte prefix (equal order words), half are short */
      int len = k % 2 ? snprintf(buf, sizeof(buf), "shared-prefix-20-byte%06d", k) : snprintf(buf, sizeof(buf), "%d", k);
      int created = 0;
      unsigned char *p = ov_put(L, (unsigned)(k % 2), buf, (size_t)len, 1, 0, &created);
      p[0] = 'v';
      if (created) {
        assert_false(seen[k]);
        seen[k] = 1;
        model[n++] = k;
      }
    }
    /* the model's order: dbi (k % 2) first, then the key's bytes */
    int count = 0;
    ov_node *prev = NULL;
    for (ov_pos p = ov_first(L); ov_at(p); p = ov_pos_next(p), count++) {
      ov_node *x = ov_at(p);
      if (prev) assert_true(ov_cmp(prev->dbi, ov_key(prev), prev->klen, x->dbi, ov_key(x), x->klen) < 0);
      prev = x;
    }
    assert_int_equal(count, n);
    /* a seek finds a key written in this round */
    int k = model[n - 1];
    char buf[64];
    int len = k % 2 ? snprintf(buf, sizeof(buf), "shared-prefix-20-byte%06d", k) : snprintf(buf, sizeof(buf), "%d", k);
    assert_ptr_equal(sge(L, (unsigned)(k % 2), buf, (size_t)len), ov_find(L, (unsigned)(k % 2), buf, (size_t)len));
  }
  /* more keys, then sealed with them waiting: its bytes are final */
  for (int i = 0; i < 5000; i++) {
    int k = rand() % N;
    char buf[64];
    int len = k % 2 ? snprintf(buf, sizeof(buf), "shared-prefix-20-byte%06d", k) : snprintf(buf, sizeof(buf), "%d", k);
    int created = 0;
    ov_put(L, (unsigned)(k % 2), buf, (size_t)len, 1, 0, &created)[0] = 'w';
    n += created;
  }
  ov_layer_seal(L);
  assert_true(ov_layer_needs_order(L));
  size_t bytes = ov_layer_bytes(L);
  order_walk w[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (order_walk){L, 0, 0};
    assert_int_equal(pthread_create(&t[i], NULL, walk_in_order, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].count, (size_t)n);
    assert_true(w[i].sorted);
  }
  assert_false(ov_layer_needs_order(L));
  assert_int_equal(ov_layer_bytes(L), bytes);
  ov_layer_free(L);

  /* bounded: the waiting keys are ordered every 1,000; the trees built
   * again reuse the old one's nodes (the bytes stay near an unbounded
   * layer's, ordered once) */
  ov_layer *B = ov_layer_new(), *U = ov_layer_new();
  ov_layer_bound_pending(B, 1000);
  assert_false(ov_layer_was_read_in_order(B));
  for (int i = 0; i < 20500; i++) {
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "k%07d", (i * 7919) % 20500);
    ov_put(B, 0, buf, (size_t)len, 1, 0, NULL)[0] = 'b';
    ov_put(U, 0, buf, (size_t)len, 1, 0, NULL)[0] = 'u';
  }
  assert_true(ov_layer_needs_order(B)); /* the last 500 */
  ov_first(U);
  ov_first(B);
  assert_true(ov_layer_was_read_in_order(B));
  assert_true(ov_layer_bytes(B) < ov_layer_bytes(U) + ov_layer_bytes(U) / 4);
  int count = 0;
  for (ov_pos p = ov_first(B); ov_at(p); p = ov_pos_next(p), count++) {
    char buf[32];
    snprintf(buf, sizeof(buf), "k%07d", count);
    assert_memory_equal(ov_key(ov_at(p)), buf, 8);
  }
  assert_int_equal(count, 20500);
  ov_layer_free(B);
  ov_layer_free(U);

  /* a layer only written, sealed, ordered by the seek of a key in it */
  L = ov_layer_new();
  for (int i = 0; i < 20000; i++) {
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "key:%012d", (i * 7919) % 20000);
    ov_put(L, 0, buf, (size_t)len, 1, 0, NULL)[0] = 'x';
  }
  ov_layer_seal(L);
  bytes = ov_layer_bytes(L);
  assert_non_null(sge(L, 0, "key:000000012345", 16));
  assert_memory_equal(ov_key(sge(L, 0, "key:000000012345", 16)), "key:000000012345", 16);
  assert_memory_equal(ov_key(first_of(L)), "key:000000000000", 16);
  assert_memory_equal(ov_key(slt(L, 1, "", 0)), "key:000000019999", 16);
  assert_int_equal(ov_layer_bytes(L), bytes);
  ov_layer_free(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_and_overwrite),
      cmocka_unit_test(test_tombstones),
      cmocka_unit_test(test_seeks_against_a_model),
      cmocka_unit_test(test_edges_and_long_prefixes),
      cmocka_unit_test(test_big_values_and_bytes),
      cmocka_unit_test(test_sealed_layer_filter),
      cmocka_unit_test(test_sealed_mid_growth),
      cmocka_unit_test(test_order_built_late),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
