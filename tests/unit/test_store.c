/* Unit tests for engine/store.c. Every test gets a fresh directory under
 * /tmp (removed afterwards). Some checks look at the LMDB environment
 * directly, with the store closed, to see what is really on disk (how many
 * entries the keys and expires trees hold). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/store.h"
#include "cairn_unit.h"

#define MiB (1024ULL * 1024ULL)

typedef struct fixture {
  cairn_tmpdir tmp;
  const char *dir; /* tmp.path */
  cairn_store *s;
} fixture;

static cairn_store *open_store(const char *dir, int databases, uint64_t map, uint64_t max) {
  cairn_store_options o = {.databases = databases, .map_size = map, .max_map_size = max};
  cairn_store *s = NULL;
  char err[512] = "";
  if (cairn_store_open(dir, &o, &s, err, sizeof(err)) != 0) fail_msg("cairn_store_open: %s", err);
  return s;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  if (!f) return -1;
  if (cairn_tmpdir_make(&f->tmp, "store") != 0) return -1;
  f->dir = f->tmp.path;
  f->s = open_store(f->dir, 16, 64 * MiB, 1024 * MiB);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  cairn_store_close(f->s);
  cairn_tmpdir_remove(&f->tmp);
  free(f);
  return 0;
}

/* A checkpoint on disk: freeze the overlay's active layer, then wait for
 * the store thread to write it into LMDB. */
static int ckpt(cairn_store *s, uint64_t offset) {
  int rc = cairn_store_checkpoint(s, offset);
  if (rc) return rc;
  return cairn_store_wait(s);
}

/* Checkpoints, closes and reopens the fixture's store. */
static void reopen(fixture *f, uint64_t offset) {
  assert_int_equal(ckpt(f->s, offset), 0);
  cairn_store_close(f->s);
  f->s = open_store(f->dir, 16, 64 * MiB, 1024 * MiB);
}

/* Entries in a named LMDB database of a closed store. */
static size_t raw_entries(const char *dir, const char *name) {
  char path[256];
  snprintf(path, sizeof(path), "%s/store", dir);
  MDB_env *env;
  MDB_txn *t;
  MDB_dbi dbi;
  MDB_stat st;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
  assert_int_equal(mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0644), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), 0);
  assert_int_equal(mdb_dbi_open(t, name, 0, &dbi), 0);
  assert_int_equal(mdb_stat(t, dbi, &st), 0);
  mdb_txn_abort(t);
  mdb_env_close(env);
  return st.ms_entries;
}

static cairn_str K(const char *s) { return (cairn_str){s, strlen(s)}; }
static cairn_str KB(const void *p, size_t len) { return (cairn_str){p, len}; }

static int put(cairn_store *s, int db, const char *key, const char *val, int64_t exp) {
  return cairn_store_put(s, db, K(key), CAIRN_TYPE_STRING, val, strlen(val), exp);
}

static void expect_val(cairn_store *s, int db, cairn_str key, const void *val, size_t len, int64_t exp) {
  cairn_value v;
  int rc = cairn_store_get(s, db, key, &v);
  if (rc != 1) fail_msg("key '%.*s' (%zu bytes) in db %d: get returned %d", (int)(key.len > 40 ? 40 : key.len), key.p,
                        key.len, db, rc);
  assert_int_equal(v.len, len);
  if (len) assert_memory_equal(v.data, val, len);
  assert_int_equal(v.expire_ms, exp);
}
static void expect_str(cairn_store *s, int db, const char *key, const char *val, int64_t exp) {
  expect_val(s, db, K(key), val, strlen(val), exp);
}
static void expect_absent(cairn_store *s, int db, cairn_str key) {
  cairn_value v;
  assert_int_equal(cairn_store_get(s, db, key, &v), 0);
}

/* ------------------------------------------------------------ encoding */

static void test_encode_key(void **state) {
  (void)state;
  unsigned char out[600], out2[600];
  /* Inline: [phys BE][hash BE][key]. */
  size_t n = cairn_store_encode_key(0x0102, "abc", 3, out);
  assert_int_equal(n, 13);
  assert_int_equal(out[0], 1);
  assert_int_equal(out[1], 2);
  uint64_t h = cairn_store_key_hash("abc", 3), got = 0;
  for (int i = 0; i < 8; i++) got = (got << 8) | out[2 + i];
  assert_true(got == h);
  assert_memory_equal(out + 10, "abc", 3);
  assert_int_equal(cairn_store_encode_key(0, "", 0, out), 10);

  /* The boundary: 448 bytes inline, 449 and up long. */
  char *big = malloc(100000);
  for (size_t i = 0; i < 100000; i++) big[i] = (char)('a' + i % 26);
  assert_int_equal(cairn_store_encode_key(7, big, CAIRN_STORE_INLINE_KEY, out), 10 + CAIRN_STORE_INLINE_KEY);
  assert_int_equal(cairn_store_encode_key(7, big, CAIRN_STORE_INLINE_KEY + 1, out), 10 + CAIRN_STORE_INLINE_KEY + 8);
  assert_int_equal(cairn_store_encode_key(7, big, 100000, out), 10 + CAIRN_STORE_INLINE_KEY + 8);
  assert_memory_equal(out + 10, big, CAIRN_STORE_INLINE_KEY);

  /* Two long keys differing only after the inline prefix encode differently. */
  char *big2 = malloc(100000);
  memcpy(big2, big, 100000);
  big2[99999] ^= 1;
  size_t n1 = cairn_store_encode_key(7, big, 100000, out);
  size_t n2 = cairn_store_encode_key(7, big2, 100000, out2);
  assert_int_equal(n1, n2);
  assert_memory_equal(out + 10, out2 + 10, CAIRN_STORE_INLINE_KEY);
  assert_memory_not_equal(out + 10 + CAIRN_STORE_INLINE_KEY, out2 + 10 + CAIRN_STORE_INLINE_KEY, 8);
  assert_memory_not_equal(out, out2, n1);
  /* Same prefix, different length. */
  n2 = cairn_store_encode_key(7, big, 99999, out2);
  assert_memory_not_equal(out, out2, n1);
  free(big);
  free(big2);

  /* Order: physical db first (big-endian), then hash. */
  unsigned char a[32], b[32];
  size_t la = cairn_store_encode_key(0x00ff, "zzz", 3, a), lb = cairn_store_encode_key(0x0100, "aaa", 3, b);
  assert_true(memcmp(a, b, la < lb ? la : lb) < 0);
  for (int i = 0; i < 2000; i++) {
    char k1[16], k2[16];
    int l1 = snprintf(k1, sizeof(k1), "key:%d", i), l2 = snprintf(k2, sizeof(k2), "key:%d", i + 1);
    uint64_t h1 = cairn_store_key_hash(k1, (size_t)l1), h2 = cairn_store_key_hash(k2, (size_t)l2);
    cairn_store_encode_key(3, k1, (size_t)l1, a);
    cairn_store_encode_key(3, k2, (size_t)l2, b);
    assert_true(h1 != h2);
    assert_int_equal(memcmp(a, b, 10) < 0, h1 < h2);
  }

  /* The hash fixes the on-disk order and SCAN cursors: it must not change. */
  assert_true(cairn_store_key_hash("", 0) == 0xa23fc467ae57b37dULL);
  assert_true(cairn_store_key_hash("a", 1) == 0xfc9a5aa8c2e7fbefULL);
  assert_true(cairn_store_key_hash("foo", 3) == 0x27d55f6ef3b933cfULL);
  assert_true(cairn_store_key_hash("0123456789abcdefXYZ", 19) == 0xdad1b138a2b95f76ULL);
  assert_true(cairn_store_key_hash("a\0", 2) != cairn_store_key_hash("a", 1));
}

/* ------------------------------------------------------------ keys */

static void test_put_get_del(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  expect_absent(s, 0, K("foo"));
  assert_int_equal(put(s, 0, "foo", "bar", -1), 1);
  expect_str(s, 0, "foo", "bar", -1);
  assert_int_equal(cairn_store_dbsize(s, 0), 1);
  assert_int_equal(put(s, 0, "foo", "longer value", -1), 0);
  expect_str(s, 0, "foo", "longer value", -1);
  assert_int_equal(cairn_store_dbsize(s, 0), 1);

  /* Type is kept; put_reserve hands out a writable area. */
  char *payload = NULL;
  assert_int_equal(cairn_store_put_reserve(s, 0, K("h"), CAIRN_TYPE_HASH, 5, -1, &payload), 1);
  memcpy(payload, "12345", 5);
  cairn_value v;
  assert_int_equal(cairn_store_get(s, 0, K("h"), &v), 1);
  assert_int_equal(v.type, CAIRN_TYPE_HASH);
  assert_int_equal(v.len, 5);
  assert_memory_equal(v.data, "12345", 5);
  assert_int_equal(cairn_store_dbsize(s, 0), 2);
  assert_true(cairn_store_dirty(s) > 0);

  assert_int_equal(cairn_store_del(s, 0, K("foo")), 1);
  assert_int_equal(cairn_store_del(s, 0, K("foo")), 0);
  expect_absent(s, 0, K("foo"));
  assert_int_equal(cairn_store_dbsize(s, 0), 1);
  assert_int_equal(cairn_store_del(s, 0, K("h")), 1);
  assert_int_equal(cairn_store_dbsize(s, 0), 0);
  assert_int_equal(cairn_store_databases(s), 16);
}

/* A lookup's answer is remembered for the write that follows it (SET reads
 * the old value, then writes): the memo must follow every change under it.
 * The answer comes from the active layer, a frozen one or the snapshot, and
 * each of those moves: a put, a freeze, a drain (the layer freed, the
 * snapshot renewed), a rollback. ASan catches a memo left pointing into a
 * freed layer. */
static void test_lookup_memo(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  expect_absent(s, 0, K("m"));                     /* memo: absent in the snapshot */
  assert_int_equal(put(s, 0, "m", "one", -1), 1);  /* created: the memo said absent */
  expect_str(s, 0, "m", "one", -1);                /* memo: the active layer */
  assert_int_equal(put(s, 0, "m", "two", -1), 0);
  expect_str(s, 0, "m", "two", -1);
  assert_int_equal(cairn_store_checkpoint(s, 5), 0);
  expect_str(s, 0, "m", "two", -1);                /* memo: a frozen layer */
  assert_int_equal(cairn_store_wait(s), 0);        /* that layer drained and freed */
  expect_str(s, 0, "m", "two", -1);                /* memo: the renewed snapshot */
  assert_int_equal(put(s, 0, "m", "three", -1), 0);
  assert_int_equal(cairn_store_dbsize(s, 0), 1);
  expect_str(s, 0, "m", "three", -1);
  cairn_store_rollback(s);                         /* the active layer dropped */
  expect_str(s, 0, "m", "two", -1);
  assert_int_equal(cairn_store_del(s, 0, K("m")), 1);
  expect_absent(s, 0, K("m"));
  assert_int_equal(put(s, 0, "m", "four", -1), 1);
  assert_int_equal(cairn_store_dbsize(s, 0), 1);
  expect_str(s, 0, "m", "four", -1);
}

static void test_expiry_counts(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  assert_int_equal(put(s, 0, "k", "v", 1000), 1);
  assert_int_equal(cairn_store_expires_count(s, 0), 1);
  expect_str(s, 0, "k", "v", 1000);
  assert_int_equal(put(s, 0, "k", "v2", 2000), 0);
  assert_int_equal(cairn_store_expires_count(s, 0), 1);
  assert_int_equal(put(s, 0, "k", "v3", -1), 0);
  assert_int_equal(cairn_store_expires_count(s, 0), 0);
  expect_str(s, 0, "k", "v3", -1);

  assert_int_equal(cairn_store_set_expire(s, 0, K("k"), 500), 1);
  assert_int_equal(cairn_store_expires_count(s, 0), 1);
  expect_str(s, 0, "k", "v3", 500);
  assert_int_equal(cairn_store_set_expire(s, 0, K("k"), 500), 1);
  assert_int_equal(cairn_store_expires_count(s, 0), 1);
  assert_int_equal(cairn_store_set_expire(s, 0, K("k"), 0), 1);
  expect_str(s, 0, "k", "v3", 0);
  assert_int_equal(cairn_store_set_expire(s, 0, K("missing"), 500), 0);
  assert_int_equal(cairn_store_dbsize(s, 0), 1);

  /* The index follows the expiry: only the latest time is there. */
  int db = -1;
  cairn_buf kb = {0};
  assert_int_equal(cairn_store_next_expired(s, 0, &db, &kb), 1);
  assert_int_equal(kb.len, 1);
  assert_int_equal(cairn_store_set_expire(s, 0, K("k"), -1), 1);
  assert_int_equal(cairn_store_expires_count(s, 0), 0);
  assert_int_equal(cairn_store_next_expired(s, INT64_MAX, &db, &kb), 0);
  expect_str(s, 0, "k", "v3", -1);

  assert_int_equal(put(s, 0, "k", "v4", 7), 0);
  assert_int_equal(put(s, 0, "k2", "x", 7), 1);
  assert_int_equal(cairn_store_expires_count(s, 0), 2);
  assert_int_equal(cairn_store_del(s, 0, K("k")), 1);
  assert_int_equal(cairn_store_expires_count(s, 0), 1);
  assert_int_equal(cairn_store_next_expired(s, 7, &db, &kb), 1);
  assert_int_equal(kb.len, 2);
  assert_memory_equal(kb.p, "k2", 2);
  assert_int_equal(cairn_store_del(s, 0, K("k2")), 1);
  assert_int_equal(cairn_store_expires_count(s, 0), 0);
  assert_int_equal(cairn_store_next_expired(s, INT64_MAX, &db, &kb), 0);
  cairn_buf_free(&kb);

  reopen(f, 1);
  assert_int_equal(raw_entries(f->dir, "expires"), 0);
}

/* Deferred lookups: the old values are in LMDB; SETs that defer their
 * lookup are settled by the reader threads. Before they are, the expiry
 * cycle meets the old TTL's index entry and must drop it, not the key. */
static void test_deferred_lookups(void **state) {
  fixture *f = *state;
  cairn_store_close(f->s);
  cairn_store_options o = {.databases = 16, .map_size = 64 * MiB, .max_map_size = 1024 * MiB, .reader_threads = 2};
  char err[512] = "";
  if (cairn_store_open(f->dir, &o, &f->s, err, sizeof(err)) != 0) fail_msg("cairn_store_open: %s", err);
  cairn_store *s = f->s;
  assert_int_equal(put(s, 0, "old-ttl", "v", 5), 1);    /* already due at now = 10 */
  assert_int_equal(put(s, 0, "long-ttl", "v", 5000), 1);
  assert_int_equal(put(s, 0, "plain", "v", -1), 1);
  cairn_coll hc;
  cairn_coll_init(s, &hc);
  hc.count = 1;
  assert_int_equal(cairn_coll_put(s, 0, K("hash"), CAIRN_TYPE_HASH, &hc, -1), 1);
  assert_int_equal(cairn_elem_put(s, hc.id, CAIRN_SPACE_MEMBERS, "f", 1, "x", 1), 1);
  assert_int_equal(ckpt(s, 1), 0);
  const char *keys[] = {"old-ttl", "long-ttl", "plain", "hash", "new"};
  for (int i = 0; i < 5; i++) {
    cairn_str k = K(keys[i]);
    assert_int_equal(cairn_store_put_deferred(s, 0, k, CAIRN_TYPE_STRING, "w", 1, i == 1 ? 9000 : -1, 0), 1);
  }
  /* in the overlay now: the usual way */
  assert_int_equal(cairn_store_put_deferred(s, 0, K("plain"), CAIRN_TYPE_STRING, "w", 1, -1, 0), 0);
  /* below the threshold or off: the usual way */
  assert_int_equal(cairn_store_put_deferred(s, 0, K("other"), CAIRN_TYPE_STRING, "w", 1, -1, 1000), 0);
  assert_int_equal(cairn_store_put_deferred(s, 0, K("other"), CAIRN_TYPE_STRING, "w", 1, -1, -1), 0);
  int db = -1;
  cairn_buf kb = {0};
  /* old-ttl's entry (5) is due but stale: dropped; long-ttl's new one (9000) is not due */
  assert_int_equal(cairn_store_next_expired(s, 10, &db, &kb), 0);
  expect_str(s, 0, "old-ttl", "w", -1);
  assert_int_equal(cairn_store_dbsize(s, 0), 5); /* settles */
  assert_int_equal(cairn_store_expires_count(s, 0), 1);
  assert_int_equal(cairn_store_next_expired(s, 9000, &db, &kb), 1);
  assert_int_equal(kb.len, 8);
  assert_memory_equal(kb.p, "long-ttl", 8);
  cairn_buf_free(&kb);
  cairn_str fv;
  assert_int_equal(cairn_elem_get(s, hc.id, CAIRN_SPACE_MEMBERS, "f", 1, &fv), 0); /* the hash was retired */
  cairn_store_deferred st;
  cairn_store_deferred_stats(s, &st);
  assert_int_equal(st.puts, 5);
  assert_int_equal(st.pending, 0);
  assert_int_equal(ckpt(s, 2), 0);
  /* a rollback drops deferred writes and their lookups together */
  assert_int_equal(cairn_store_put_deferred(s, 0, K("new2"), CAIRN_TYPE_STRING, "w", 1, -1, 0), 1);
  cairn_store_rollback(s);
  assert_int_equal(cairn_store_dbsize(s, 0), 5);
  expect_absent(s, 0, K("new2"));
  reopen(f, 3);
  assert_int_equal(cairn_store_dbsize(f->s, 0), 5);
  assert_int_equal(raw_entries(f->dir, "expires"), 1); /* long-ttl's 9000: both old entries gone */
}

static void test_binary(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  static const char k1[] = "a\0b\r\n\xff";
  static const char v1[] = "\0\0\r\n\xfe";
  assert_int_equal(cairn_store_put(s, 1, KB(k1, 6), CAIRN_TYPE_STRING, v1, 5, -1), 1);
  assert_int_equal(cairn_store_put(s, 1, KB("a", 1), CAIRN_TYPE_STRING, "1", 1, -1), 1);
  assert_int_equal(cairn_store_put(s, 1, KB("a\0", 2), CAIRN_TYPE_STRING, "2", 1, -1), 1);
  assert_int_equal(cairn_store_put(s, 1, KB("", 0), CAIRN_TYPE_STRING, "", 0, 5), 1);
  size_t biglen = 3 * MiB;
  char *big = malloc(biglen);
  for (size_t i = 0; i < biglen; i++) big[i] = (char)(i * 7);
  assert_int_equal(cairn_store_put(s, 1, K("big"), CAIRN_TYPE_STRING, big, biglen, -1), 1);
  assert_int_equal(cairn_store_dbsize(s, 1), 5);

  for (int round = 0; round < 2; round++) {
    expect_val(s, 1, KB(k1, 6), v1, 5, -1);
    expect_val(s, 1, KB("a", 1), "1", 1, -1);
    expect_val(s, 1, KB("a\0", 2), "2", 1, -1);
    expect_val(s, 1, KB("", 0), "", 0, 5);
    expect_val(s, 1, K("big"), big, biglen, -1);
    expect_absent(s, 1, KB("a\0b", 3));
    expect_absent(s, 0, KB(k1, 6));
    reopen(f, 9);
    s = f->s;
  }
  int db;
  cairn_buf kb = {0};
  assert_int_equal(cairn_store_next_expired(s, 5, &db, &kb), 1);
  assert_int_equal(db, 1);
  assert_int_equal(kb.len, 0);
  cairn_buf_free(&kb);
  free(big);
}

static void test_databases_isolation(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  char val[32];
  for (int db = 0; db < 16; db++) {
    snprintf(val, sizeof(val), "value-%d", db);
    assert_int_equal(put(s, db, "same", val, db % 2 ? 100 + db : -1), 1);
    for (int i = 0; i < db; i++) {
      char k[16];
      snprintf(k, sizeof(k), "k%d", i);
      assert_int_equal(put(s, db, k, "x", -1), 1);
    }
  }
  for (int round = 0; round < 2; round++) {
    for (int db = 0; db < 16; db++) {
      snprintf(val, sizeof(val), "value-%d", db);
      expect_str(s, db, "same", val, db % 2 ? 100 + db : -1);
      assert_int_equal(cairn_store_dbsize(s, db), (uint64_t)db + 1);
      assert_int_equal(cairn_store_expires_count(s, db), db % 2);
    }
    reopen(f, 2);
    s = f->s;
  }
  assert_int_equal(cairn_store_del(s, 3, K("same")), 1);
  expect_absent(s, 3, K("same"));
  expect_str(s, 2, "same", "value-2", -1);
  expect_str(s, 4, "same", "value-4", -1);
  assert_int_equal(cairn_store_expires_count(s, 3), 0);
  assert_int_equal(cairn_store_expires_count(s, 5), 1);
}

static void test_long_keys(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  const size_t lens[] = {CAIRN_STORE_INLINE_KEY + 1, 1000, 70000, 70000};
  char *keys[4];
  for (int i = 0; i < 4; i++) {
    keys[i] = malloc(lens[i]);
    for (size_t j = 0; j < lens[i]; j++) keys[i][j] = (char)('A' + (j * 31 + j / 7) % 50);
  }
  keys[3][69999] = '!'; /* shares its first 69999 bytes with keys[2] */
  /* An inline key equal to the long keys' common prefix. */
  cairn_str prefix = KB(keys[0], CAIRN_STORE_INLINE_KEY);
  for (int i = 0; i < 4; i++) {
    char v[16];
    int n = snprintf(v, sizeof(v), "val%d", i);
    assert_int_equal(cairn_store_put(s, 4, KB(keys[i], lens[i]), CAIRN_TYPE_STRING, v, (size_t)n, i == 2 ? 50 : -1), 1);
  }
  assert_int_equal(cairn_store_put(s, 4, prefix, CAIRN_TYPE_STRING, "prefix", 6, -1), 1);
  assert_int_equal(cairn_store_dbsize(s, 4), 5);
  assert_int_equal(cairn_store_expires_count(s, 4), 1);

  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 4; i++) {
      char v[16];
      int n = snprintf(v, sizeof(v), "val%d", i);
      expect_val(s, 4, KB(keys[i], lens[i]), v, (size_t)n, i == 2 ? 50 : -1);
    }
    expect_val(s, 4, prefix, "prefix", 6, -1);
    /* Never stored: a long key sharing the prefix, and one byte shorter. */
    expect_absent(s, 4, KB(keys[2], 69999));
    expect_absent(s, 4, KB(keys[1], 999));

    /* Iteration hands back the full keys. */
    cairn_store_iter *it;
    assert_int_equal(cairn_store_iter_open(s, 4, 0, &it), 0);
    cairn_str k;
    cairn_value v;
    uint64_t h;
    int seen[5] = {0}, count = 0;
    while (cairn_store_iter_next(it, &k, &v, &h) == 1) {
      count++;
      assert_true(h == cairn_store_key_hash(k.p, k.len));
      int found = 0;
      for (int i = 0; i < 4; i++)
        if (k.len == lens[i] && memcmp(k.p, keys[i], lens[i]) == 0) seen[i]++, found = 1;
      if (k.len == prefix.len && memcmp(k.p, prefix.p, prefix.len) == 0) seen[4]++, found = 1;
      assert_true(found);
    }
    cairn_store_iter_close(it);
    assert_int_equal(count, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(seen[i], 1);

    /* The expiry index yields the full key too. */
    int db;
    cairn_buf kb = {0};
    assert_int_equal(cairn_store_next_expired(s, 50, &db, &kb), 1);
    assert_int_equal(db, 4);
    assert_int_equal(kb.len, lens[2]);
    assert_memory_equal(kb.p, keys[2], lens[2]);
    cairn_buf_free(&kb);
    reopen(f, 3);
    s = f->s;
  }

  for (int i = 0; i < 4; i++) assert_int_equal(cairn_store_del(s, 4, KB(keys[i], lens[i])), 1);
  assert_int_equal(cairn_store_del(s, 4, KB(keys[0], lens[0])), 0);
  expect_val(s, 4, prefix, "prefix", 6, -1);
  assert_int_equal(cairn_store_dbsize(s, 4), 1);
  assert_int_equal(cairn_store_expires_count(s, 4), 0);
  reopen(f, 4);
  assert_int_equal(raw_entries(f->dir, "keys"), 1);
  assert_int_equal(raw_entries(f->dir, "expires"), 0);
  for (int i = 0; i < 4; i++) free(keys[i]);
}

static void test_next_expired_order(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  assert_int_equal(put(s, 0, "a", "1", 300), 1);
  assert_int_equal(put(s, 3, "b", "1", 100), 1);
  assert_int_equal(put(s, 1, "c", "1", 200), 1);
  assert_int_equal(put(s, 2, "d", "1", -1), 1);
  assert_int_equal(put(s, 0, "e", "1", 1000), 1);
  assert_int_equal(put(s, 15, "zero", "1", 0), 1);

  int db = -1;
  cairn_buf kb = {0};
  assert_int_equal(cairn_store_next_expired(s, -1, &db, &kb), 0);
  static const struct {
    int64_t now;
    int db;
    const char *key;
  } order[] = {{0, 15, "zero"}, {150, 3, "b"}, {250, 1, "c"}, {300, 0, "a"}, {5000, 0, "e"}};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    /* Not yet due one ms earlier. */
    if (i > 0) {
      assert_int_equal(cairn_store_next_expired(s, order[i - 1].now, &db, &kb), 0);
    }
    assert_int_equal(cairn_store_next_expired(s, order[i].now, &db, &kb), 1);
    /* Looking does not delete. */
    assert_int_equal(cairn_store_next_expired(s, order[i].now, &db, &kb), 1);
    assert_int_equal(db, order[i].db);
    assert_int_equal(kb.len, strlen(order[i].key));
    assert_memory_equal(kb.p, order[i].key, kb.len);
    assert_int_equal(cairn_store_del(s, db, KB(kb.p, kb.len)), 1);
  }
  assert_int_equal(cairn_store_next_expired(s, INT64_MAX, &db, &kb), 0);
  expect_str(s, 2, "d", "1", -1);

  /* Many keys due at the same time: all are returned. */
  int found = 0;
  for (int d = 0; d < 16; d++) assert_int_equal(put(s, d, "t", "1", 42), 1);
  while (cairn_store_next_expired(s, 42, &db, &kb) == 1) {
    assert_int_equal(cairn_store_del(s, db, KB(kb.p, kb.len)), 1);
    found++;
  }
  assert_int_equal(found, 16);
  cairn_buf_free(&kb);
}

/* ------------------------------------------------------------ flush / sweep / swap */

static void fill(cairn_store *s, int db, const char *prefix, int n, int every_expires) {
  char k[64];
  for (int i = 0; i < n; i++) {
    snprintf(k, sizeof(k), "%s%d", prefix, i);
    assert_int_equal(put(s, db, k, k, every_expires && i % every_expires == 0 ? 1000 + i : -1), 1);
  }
}

static void test_flushdb_sweep(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  fill(s, 0, "old", 1000, 3);  /* 334 with expiry */
  fill(s, 1, "one", 10, 1);    /* all expire */
  fill(s, 2, "two", 10, 0);
  reopen(f, 10);
  s = f->s;

  uint64_t dirty0 = cairn_store_dirty(s);
  assert_int_equal(cairn_store_flushdb(s, 0), 0);
  assert_true(cairn_store_dirty(s) - dirty0 <= 256); /* O(1): nothing deleted yet */
  assert_int_equal(cairn_store_dbsize(s, 0), 0);
  assert_int_equal(cairn_store_expires_count(s, 0), 0);
  assert_int_equal(cairn_store_sweep_pending(s), 1);
  expect_absent(s, 0, K("old5"));
  expect_str(s, 1, "one5", "one5", 1005);
  /* Flushing an empty db is a no-op. */
  assert_int_equal(cairn_store_flushdb(s, 0), 0);
  assert_int_equal(cairn_store_flushdb(s, 9), 0);
  assert_int_equal(cairn_store_sweep_pending(s), 1);
  /* The flushed db is usable at once. */
  assert_int_equal(put(s, 0, "old5", "new", 77), 1);
  assert_int_equal(put(s, 0, "fresh", "x", -1), 1);
  assert_int_equal(cairn_store_dbsize(s, 0), 2);

  /* On disk nothing was deleted; the pending sweep survives a restart. */
  assert_int_equal(ckpt(s, 11), 0);
  cairn_store_close(s);
  assert_int_equal(raw_entries(f->dir, "keys"), 1000 + 10 + 10 + 2);
  assert_int_equal(raw_entries(f->dir, "expires"), 334 + 10 + 1);
  f->s = s = open_store(f->dir, 16, 64 * MiB, 1024 * MiB);
  assert_int_equal(cairn_store_sweep_pending(s), 1);
  expect_str(s, 0, "old5", "new", 77);
  expect_absent(s, 0, K("old6"));

  /* Flush db 2 too: two dbs pending. */
  assert_int_equal(cairn_store_flushdb(s, 2), 0);
  assert_int_equal(cairn_store_sweep_pending(s), 2);

  long total = 0, n;
  int steps = 0;
  while ((n = cairn_store_sweep(s, 100)) > 0) {
    assert_true(n <= 100);
    total += n;
    steps++;
    assert_true(steps < 100);
  }
  assert_int_equal(n, 0);
  assert_int_equal(total, 1010);
  assert_int_equal(cairn_store_sweep_pending(s), 0);
  assert_int_equal(cairn_store_sweep(s, 100), 0);

  /* Live dbs around the swept ones are intact. */
  expect_str(s, 0, "old5", "new", 77);
  expect_str(s, 0, "fresh", "x", -1);
  for (int i = 0; i < 10; i++) {
    char k[16];
    snprintf(k, sizeof(k), "one%d", i);
    expect_str(s, 1, k, k, 1000 + i);
  }
  assert_int_equal(cairn_store_dbsize(s, 1), 10);
  assert_int_equal(cairn_store_dbsize(s, 2), 0);

  /* The swept keys' expiry entries went with them. */
  assert_int_equal(ckpt(s, 12), 0);
  cairn_store_close(s);
  assert_int_equal(raw_entries(f->dir, "keys"), 2 + 10);
  assert_int_equal(raw_entries(f->dir, "expires"), 1 + 10);
  f->s = open_store(f->dir, 16, 64 * MiB, 1024 * MiB);
  assert_int_equal(cairn_store_sweep_pending(f->s), 0);
}

static void test_flushdb_next_expired(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  fill(s, 5, "gone", 50, 1);
  assert_int_equal(put(s, 6, "live", "1", 5000), 1);
  assert_int_equal(cairn_store_flushdb(s, 5), 0);
  /* Index entries of the flushed db are skipped (and dropped). */
  int db;
  cairn_buf kb = {0};
  assert_int_equal(cairn_store_next_expired(s, 4000, &db, &kb), 0);
  assert_int_equal(cairn_store_next_expired(s, 5000, &db, &kb), 1);
  assert_int_equal(db, 6);
  assert_int_equal(kb.len, 4);
  /* Sweeping after the lazy drop still works. */
  long total = 0, n;
  while ((n = cairn_store_sweep(s, 7)) > 0) total += n;
  assert_true(n == 0);
  assert_int_equal(total, 50);
  reopen(f, 5);
  assert_int_equal(raw_entries(f->dir, "expires"), 1);
  assert_int_equal(raw_entries(f->dir, "keys"), 1);
  cairn_buf_free(&kb);
}

static void test_flush_many_times(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  /* Flush dbs over and over with partial sweeps and restarts in between:
   * physical ids are never reused while their old contents remain. */
  for (int round = 0; round < 40; round++) {
    int db = round % 3;
    char k[32], first[32];
    snprintf(k, sizeof(k), "r%d-", round);
    snprintf(first, sizeof(first), "r%d-0", round);
    fill(s, db, k, 20, 2);
    expect_str(s, db, first, first, 1000);
    assert_int_equal(cairn_store_dbsize(s, db), 20);
    assert_int_equal(cairn_store_flushdb(s, db), 0);
    assert_int_equal(cairn_store_dbsize(s, db), 0);
    expect_absent(s, db, K(first));
    assert_true(cairn_store_sweep_pending(s) >= 1);
    if (round % 4 == 0) assert_true(cairn_store_sweep(s, 15) > 0);
    if (round % 7 == 0) {
      reopen(f, (uint64_t)round + 100);
      s = f->s;
    }
  }
  long n;
  while ((n = cairn_store_sweep(s, 1000)) > 0) {
  }
  assert_int_equal(n, 0);
  assert_int_equal(cairn_store_sweep_pending(s), 0);
  reopen(f, 999);
  assert_int_equal(raw_entries(f->dir, "keys"), 0);
  assert_int_equal(raw_entries(f->dir, "expires"), 0);
}

static void test_swapdb(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  assert_int_equal(put(s, 0, "a", "A", 100), 1);
  assert_int_equal(put(s, 1, "b", "B", -1), 1);
  assert_int_equal(put(s, 1, "c", "C", -1), 1);
  assert_int_equal(cairn_store_swapdb(s, 0, 1), 0);
  for (int round = 0; round < 2; round++) {
    expect_str(s, 1, "a", "A", 100);
    expect_str(s, 0, "b", "B", -1);
    expect_str(s, 0, "c", "C", -1);
    expect_absent(s, 0, K("a"));
    expect_absent(s, 1, K("b"));
    assert_int_equal(cairn_store_dbsize(s, 0), 2);
    assert_int_equal(cairn_store_dbsize(s, 1), 1);
    assert_int_equal(cairn_store_expires_count(s, 0), 0);
    assert_int_equal(cairn_store_expires_count(s, 1), 1);
    int db;
    cairn_buf kb = {0};
    assert_int_equal(cairn_store_next_expired(s, 100, &db, &kb), 1);
    assert_int_equal(db, 1);
    cairn_buf_free(&kb);
    reopen(f, 20);
    s = f->s;
  }
  /* Writes after the swap land in the swapped db; swapping with itself is a no-op. */
  assert_int_equal(put(s, 1, "d", "D", -1), 1);
  assert_int_equal(cairn_store_swapdb(s, 3, 3), 0);
  assert_int_equal(cairn_store_swapdb(s, 1, 0), 0);
  expect_str(s, 0, "a", "A", 100);
  expect_str(s, 0, "d", "D", -1);
  expect_str(s, 1, "b", "B", -1);
  assert_int_equal(cairn_store_dbsize(s, 0), 2);
  /* Swap then flush: only the right data goes. */
  assert_int_equal(cairn_store_swapdb(s, 0, 5), 0);
  assert_int_equal(cairn_store_flushdb(s, 5), 0);
  while (cairn_store_sweep(s, 1) > 0) {
  }
  assert_int_equal(cairn_store_dbsize(s, 0), 0);
  expect_str(s, 1, "b", "B", -1);
  expect_absent(s, 5, K("a"));
}

/* ------------------------------------------------------------ iteration */

typedef struct hk {
  uint64_t h;
  char k[16];
} hk;
static int cmp_hk(const void *a, const void *b) {
  const hk *x = a, *y = b;
  return x->h < y->h ? -1 : x->h > y->h;
}

static void test_iterator(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  enum { N = 300 };
  hk all[N];
  for (int i = 0; i < N; i++) {
    int n = snprintf(all[i].k, sizeof(all[i].k), "it:%d", i);
    all[i].h = cairn_store_key_hash(all[i].k, (size_t)n);
    assert_int_equal(cairn_store_put(s, 2, K(all[i].k), CAIRN_TYPE_SET, all[i].k, (size_t)n, i % 5 ? -1 : 9), 1);
  }
  qsort(all, N, sizeof(hk), cmp_hk);
  fill(s, 1, "before", 5, 0);
  fill(s, 3, "after", 5, 0);
  fill(s, 15, "last", 3, 0);

  for (int round = 0; round < 2; round++) {
    /* From 0: every key of db 2 in hash order, then it stops at db 3. */
    cairn_store_iter *it;
    assert_int_equal(cairn_store_iter_open(s, 2, 0, &it), 0);
    cairn_str k;
    cairn_value v;
    uint64_t h;
    int i = 0;
    while (cairn_store_iter_next(it, &k, &v, &h) == 1) {
      assert_true(i < N);
      assert_true(h == all[i].h);
      assert_int_equal(k.len, strlen(all[i].k));
      assert_memory_equal(k.p, all[i].k, k.len);
      assert_int_equal(v.type, CAIRN_TYPE_SET);
      assert_int_equal(v.len, k.len);
      assert_memory_equal(v.data, k.p, k.len);
      i++;
    }
    assert_int_equal(i, N);
    assert_int_equal(cairn_store_iter_next(it, &k, &v, &h), 0); /* stays at the end */
    cairn_store_iter_close(it);

    /* From a hash in the middle (exact and one past an existing hash). */
    for (int start = 0; start < N; start += 37) {
      for (int off = 0; off < 2; off++) {
        uint64_t from = all[start].h + (uint64_t)off;
        assert_int_equal(cairn_store_iter_open(s, 2, from, &it), 0);
        int j = start + off;
        while (cairn_store_iter_next(it, &k, &v, NULL) == 1) {
          assert_memory_equal(k.p, all[j].k, k.len);
          j++;
        }
        assert_int_equal(j, N);
        cairn_store_iter_close(it);
      }
    }
    /* Past the last hash. */
    assert_int_equal(cairn_store_iter_open(s, 2, all[N - 1].h + 1, &it), 0);
    assert_int_equal(cairn_store_iter_next(it, &k, &v, &h), 0);
    cairn_store_iter_close(it);
    /* An empty db between non-empty ones, and the last db (nothing after). */
    assert_int_equal(cairn_store_iter_open(s, 7, 0, &it), 0);
    assert_int_equal(cairn_store_iter_next(it, &k, &v, &h), 0);
    cairn_store_iter_close(it);
    assert_int_equal(cairn_store_iter_open(s, 15, 0, &it), 0);
    i = 0;
    while (cairn_store_iter_next(it, &k, &v, &h) == 1) i++;
    assert_int_equal(i, 3);
    cairn_store_iter_close(it);
    reopen(f, 30);
    s = f->s;
  }
  /* A flushed db iterates as empty right away. */
  cairn_store_iter *it;
  cairn_str k;
  cairn_value v;
  assert_int_equal(cairn_store_flushdb(s, 2), 0);
  assert_int_equal(cairn_store_iter_open(s, 2, 0, &it), 0);
  assert_int_equal(cairn_store_iter_next(it, &k, &v, NULL), 0);
  cairn_store_iter_close(it);
}

/* ------------------------------------------------------------ checkpoint / rollback / meta */

static void test_checkpoint_reopen(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  assert_int_equal(cairn_store_checkpoint_offset(s), 0);
  assert_int_equal(cairn_store_checkpoints(s), 0);
  fill(s, 0, "k", 100, 4);
  fill(s, 9, "n", 10, 0);
  assert_int_equal(cairn_store_meta_put(s, "replid", "abc", 3), 0);
  assert_int_equal(ckpt(s, 12345), 0);
  assert_int_equal(cairn_store_checkpoint_offset(s), 12345);
  assert_int_equal(cairn_store_checkpoints(s), 1);
  assert_int_equal(cairn_store_dirty(s), 0);
  assert_true(cairn_store_last_checkpoint_ms(s) >= 0);
  /* Nothing to commit at the same offset; a new offset alone is recorded. */
  assert_int_equal(ckpt(s, 12345), 0);
  assert_int_equal(ckpt(s, 12346), 0);
  assert_int_equal(cairn_store_checkpoint_offset(s), 12346);
  cairn_store_close(s);
  f->s = s = open_store(f->dir, 16, 64 * MiB, 1024 * MiB);
  assert_int_equal(cairn_store_checkpoint_offset(s), 12346);
  assert_int_equal(cairn_store_dbsize(s, 0), 100);
  assert_int_equal(cairn_store_expires_count(s, 0), 25);
  assert_int_equal(cairn_store_dbsize(s, 9), 10);
  expect_str(s, 0, "k4", "k4", 1004);
  expect_str(s, 0, "k5", "k5", -1);
  expect_str(s, 9, "n3", "n3", -1);
  cairn_buf b = {0};
  assert_int_equal(cairn_store_meta_get(s, "replid", &b), 1);
  assert_int_equal(b.len, 3);
  assert_memory_equal(b.p, "abc", 3);
  cairn_buf_free(&b);
  assert_true(cairn_store_used_bytes(s) > 0);

  /* Uncommitted writes are gone after a close without checkpoint. */
  assert_int_equal(put(s, 0, "uncommitted", "x", -1), 1);
  cairn_store_close(s);
  f->s = s = open_store(f->dir, 16, 64 * MiB, 1024 * MiB);
  expect_absent(s, 0, K("uncommitted"));
  assert_int_equal(cairn_store_dbsize(s, 0), 100);

  /* Fewer databases configured than hold keys: refused. */
  cairn_store_close(s);
  f->s = NULL;
  cairn_store_options o = {.databases = 8, .map_size = 64 * MiB, .max_map_size = 64 * MiB};
  char err[512] = "";
  cairn_store *t = NULL;
  assert_int_equal(cairn_store_open(f->dir, &o, &t, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "database 9 holds keys"));
  /* More databases: the extra ones start empty. */
  o.databases = 32;
  assert_int_equal(cairn_store_open(f->dir, &o, &t, err, sizeof(err)), 0);
  assert_int_equal(cairn_store_databases(t), 32);
  assert_int_equal(cairn_store_dbsize(t, 31), 0);
  assert_int_equal(put(t, 31, "k0", "other", -1), 1);
  expect_str(t, 0, "k0", "k0", 1000);
  expect_str(t, 31, "k0", "other", -1);
  f->s = t;
}

/* ------------------------------------------------------------ run files */

static cairn_store *open_merging(const char *dir) {
  cairn_store_options o = {.databases = 16, .map_size = 64 * MiB, .max_map_size = 1024 * MiB,
                           .merge_bytes = 1024 * MiB}; /* layers wait for a merge: they get run files */
  cairn_store *s = NULL;
  char err[512] = "";
  if (cairn_store_open(dir, &o, &s, err, sizeof(err)) != 0) fail_msg("cairn_store_open: %s", err);
  return s;
}

/* Waits (5 s at most) until the store thread wrote n run files since open. */
static void wait_runs(cairn_store *s, uint64_t n) {
  cairn_store_runs r;
  for (int i = 0; i < 500; i++) {
    cairn_store_run_stats(s, &r);
    if (r.written >= n) return;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  fail_msg("%llu run files written, expected %llu (%s)", (unsigned long long)r.written, (unsigned long long)n,
           r.last_error);
}

static int count_runs(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "ls %s/store | grep -c '^layer-.*\\.run$'", dir);
  FILE *p = popen(cmd, "r");
  int n = -1;
  if (p) {
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
  }
  return n;
}

/* Two layers, one new key each, frozen at offsets a and b; waits for both
 * run files. */
static void two_runs(cairn_store *s, const char *ka, uint64_t a, const char *kb, uint64_t b) {
  assert_int_equal(put(s, 0, ka, "1", -1), 1);
  assert_int_equal(cairn_store_checkpoint(s, a), 0);
  wait_runs(s, 1);
  assert_int_equal(put(s, 0, kb, "1", -1), 1);
  assert_int_equal(cairn_store_checkpoint(s, b), 0);
  wait_runs(s, 2);
}

/* Run files are named by the layer's number (1, 2, ... since the store was
 * made, across restarts). */
static void flip_byte_in_run(const char *dir, uint64_t seq, long at) {
  char path[512];
  snprintf(path, sizeof(path), "%s/store/layer-%016llx.run", dir, (unsigned long long)seq);
  FILE *fp = fopen(path, "r+b");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, at, SEEK_SET), 0);
  int c = fgetc(fp);
  assert_int_equal(fseek(fp, at, SEEK_SET), 0);
  fputc(c ^ 0x55, fp);
  fclose(fp);
}

/* A merge the test holds: the store thread is in it until released. */
typedef struct held_merge {
  int entered, release, fail;
} held_merge;

static int hold_merge(void *ud) {
  held_merge *h = ud;
  __atomic_store_n(&h->entered, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < 1000 && !__atomic_load_n(&h->release, __ATOMIC_SEQ_CST); i++) { /* 10 s at most */
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return h->fail;
}

/* Run files are written while a merge runs (a merge at millions of keys
 * takes seconds): the layers frozen meanwhile get theirs, so a process that
 * dies in the middle of the merge restarts from the runs and replays only
 * what came after the newest. The merge is held by the test, then fails as
 * if the process had died in it. */
/* f's store opened again with merge_bytes and its merges held by h, a first
 * layer frozen: returns once the store thread is in its merge. */
static cairn_store *open_in_a_held_merge(fixture *f, held_merge *h, uint64_t merge_bytes) {
  cairn_store_close(f->s);
  cairn_store_options o = {.databases = 16, .map_size = 64 * MiB, .max_map_size = 1024 * MiB,
                           .merge_bytes = merge_bytes, .drain_hook = hold_merge, .drain_hook_ud = h};
  char err[512] = "";
  cairn_store *s = NULL;
  if (cairn_store_open(f->dir, &o, &s, err, sizeof(err)) != 0) fail_msg("cairn_store_open: %s", err);
  f->s = s;
  assert_int_equal(put(s, 0, "one", "1", -1), 1);
  assert_int_equal(cairn_store_checkpoint(s, 100), 0);
  for (int i = 0; i < 500 && !__atomic_load_n(&h->entered, __ATOMIC_SEQ_CST); i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_true(__atomic_load_n(&h->entered, __ATOMIC_SEQ_CST)); /* the merge of the first layer runs */
  return s;
}

static void test_runs_written_during_a_merge(void **state) {
  fixture *f = *state;
  held_merge h = {0, 0, EIO};
  /* merge_bytes 1: nothing to gather, each layer is merged at once */
  cairn_store *s = open_in_a_held_merge(f, &h, 1);
  assert_int_equal(put(s, 0, "two", "2", -1), 1);
  assert_int_equal(cairn_store_checkpoint(s, 200), 0);
  assert_int_equal(put(s, 0, "three", "3", -1), 1);
  assert_int_equal(cairn_store_checkpoint(s, 300), 0);
  wait_runs(s, 3); /* the merge is still held: the runs did not wait for it */
  assert_int_equal(count_runs(f->dir), 3);
  __atomic_store_n(&h.release, 1, __ATOMIC_SEQ_CST); /* the merge fails: LMDB holds none of it */
  cairn_store_close(s);

  s = f->s = open_merging(f->dir);
  assert_non_null(strstr(cairn_store_open_report(s), "3 run file(s) loaded"));
  assert_int_equal(cairn_store_durable_offset(s), 0);
  assert_int_equal(cairn_store_checkpoint_offset(s), 300);
  expect_str(s, 0, "one", "1", -1);
  expect_str(s, 0, "two", "2", -1);
  expect_str(s, 0, "three", "3", -1);
}

/* A layer frozen while a merge runs is ordered meanwhile (by the run
 * writer, which writes no run here: nothing gathers), not left for the
 * loop's first read in order. */
static void test_layers_ordered_during_a_merge(void **state) {
  fixture *f = *state;
  held_merge h = {0, 0, EIO};
  cairn_store *s = open_in_a_held_merge(f, &h, 0); /* merge_bytes 0: no run files */
  fill(s, 0, "k", 5000, 0);
  assert_int_equal(cairn_store_checkpoint(s, 200), 0);
  cairn_store_runs r;
  for (int i = 0; i < 500; i++) {
    cairn_store_run_stats(s, &r);
    if (r.unordered == 0) break;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(r.unordered, 0);
  assert_int_equal(count_runs(f->dir), 0);
  __atomic_store_n(&h.release, 1, __ATOMIC_SEQ_CST);
  cairn_store_close(s);
  f->s = NULL;
}

/* Open loads at most 24 runs (MAX_FROZEN - 8): the replay of the backlog
 * after them needs frozen layers of its own. The runs after those are
 * deleted (the backlog has them), and the report says where it stopped. */
static void test_runs_loaded_at_most(void **state) {
  fixture *f = *state;
  cairn_store_close(f->s);
  cairn_store *s = f->s = open_merging(f->dir);
  for (int i = 1; i <= 26; i++) {
    char k[16];
    snprintf(k, sizeof(k), "r%d", i);
    assert_int_equal(put(s, 0, k, "1", -1), 1);
    assert_int_equal(cairn_store_checkpoint(s, (uint64_t)i * 100), 0);
    wait_runs(s, (uint64_t)i);
  }
  cairn_store_close(s);
  s = f->s = open_merging(f->dir);
  const char *rep = cairn_store_open_report(s);
  assert_non_null(strstr(rep, "24 run file(s) loaded"));
  assert_non_null(strstr(rep, "24 runs loaded, the most open takes; the backlog replays from offset 2401"));
  assert_int_equal(cairn_store_checkpoint_offset(s), 2400);
  expect_str(s, 0, "r24", "1", -1);
  expect_absent(s, 0, K("r25"));
  assert_int_equal(count_runs(f->dir), 24);
}

/* Frozen layers waiting for their merge are written to run files; a restart
 * loads those that continue LMDB's state, in order, and drops the rest: a
 * torn or corrupt run ends the chain (what follows comes from the backlog,
 * not tested here), and merged runs are deleted. */
static void test_run_files(void **state) {
  fixture *f = *state;
  cairn_store_close(f->s);
  cairn_store *s = f->s = open_merging(f->dir);
  fill(s, 0, "k", 100, 4);
  assert_int_equal(cairn_store_checkpoint(s, 100), 0);
  wait_runs(s, 1);
  fill(s, 3, "m", 10, 0);
  assert_int_equal(cairn_store_del(s, 0, K("k7")), 1);
  assert_int_equal(put(s, 0, "k8", "new", -1), 0);
  assert_int_equal(cairn_store_checkpoint(s, 200), 0);
  wait_runs(s, 2);
  assert_int_equal(count_runs(f->dir), 2);
  cairn_store_close(s); /* the layers were waiting for a merge: LMDB holds nothing */

  s = f->s = open_merging(f->dir);
  assert_non_null(strstr(cairn_store_open_report(s), "2 run file(s) loaded"));
  assert_int_equal(cairn_store_checkpoint_offset(s), 200);
  assert_int_equal(cairn_store_durable_offset(s), 0);
  assert_int_equal(cairn_store_dbsize(s, 0), 99);
  assert_int_equal(cairn_store_dbsize(s, 3), 10);
  assert_int_equal(cairn_store_expires_count(s, 0), 24);
  expect_absent(s, 0, K("k7"));
  expect_str(s, 0, "k8", "new", -1);
  expect_str(s, 0, "k4", "k4", 1004);
  expect_str(s, 3, "m9", "m9", -1);

  /* merged into LMDB: the runs go */
  assert_int_equal(cairn_store_wait(s), 0);
  assert_int_equal(cairn_store_durable_offset(s), 200);
  assert_int_equal(count_runs(f->dir), 0);

  /* a corrupt run and the one after it are dropped, LMDB's state stays */
  two_runs(s, "later", 300, "later2", 400);
  cairn_store_close(s);
  flip_byte_in_run(f->dir, 3, 40); /* layer 3: offset 300 */
  s = f->s = open_merging(f->dir);
  const char *rep = cairn_store_open_report(s);
  assert_non_null(strstr(rep, "0 run file(s) loaded"));
  assert_non_null(strstr(rep, "checksum mismatch"));
  assert_non_null(strstr(rep, "replays from offset 201"));
  assert_int_equal(cairn_store_checkpoint_offset(s), 200);
  expect_absent(s, 0, K("later"));
  expect_absent(s, 0, K("later2"));
  assert_int_equal(count_runs(f->dir), 0);

  /* a gap in the chain: the run after it does not continue LMDB's state */
  two_runs(s, "a", 500, "b", 600);
  cairn_store_close(s);
  char path[512];
  snprintf(path, sizeof(path), "%s/store/layer-%016llx.run", f->dir, 5ULL); /* offset 500 */
  assert_int_equal(unlink(path), 0);
  s = f->s = open_merging(f->dir);
  assert_non_null(strstr(cairn_store_open_report(s), "continues layer 5 at offset 500, not layer 2 at offset 200"));
  assert_int_equal(cairn_store_checkpoint_offset(s), 200);
  expect_absent(s, 0, K("b"));

  /* a torn run (cut short): dropped the same way */
  assert_int_equal(put(s, 0, "c", "1", -1), 1);
  assert_int_equal(cairn_store_checkpoint(s, 700), 0);
  wait_runs(s, 1);
  cairn_store_close(s);
  snprintf(path, sizeof(path), "%s/store/layer-%016llx.run", f->dir, 7ULL); /* offset 700 */
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(truncate(path, st.st_size - 3), 0);
  s = f->s = open_merging(f->dir);
  assert_non_null(strstr(cairn_store_open_report(s), "0 run file(s) loaded"));
  expect_absent(s, 0, K("c"));
  assert_int_equal(cairn_store_dbsize(s, 0), 99);

  /* two layers ending at the same offset (the second holds only a meta
   * record, as a replica's new history does): both runs, in order */
  assert_int_equal(put(s, 0, "d", "1", -1), 1);
  assert_int_equal(cairn_store_checkpoint(s, 800), 0);
  wait_runs(s, 1);
  assert_int_equal(cairn_store_meta_put(s, "wal_reset", "\0\0\0\0\0\0\0\0", 8), 0);
  assert_int_equal(cairn_store_checkpoint(s, 800), 0);
  wait_runs(s, 2);
  cairn_store_close(s);
  s = f->s = open_merging(f->dir);
  assert_non_null(strstr(cairn_store_open_report(s), "2 run file(s) loaded"));
  expect_str(s, 0, "d", "1", -1);
  cairn_buf b = {0};
  assert_int_equal(cairn_store_meta_get(s, "wal_reset", &b), 1);
  assert_int_equal(b.len, 8);
  cairn_buf_free(&b);
}

static void test_rollback(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  fill(s, 0, "k", 50, 5);
  assert_int_equal(put(s, 1, "one", "1", -1), 1);
  assert_int_equal(ckpt(s, 7), 0);

  assert_int_equal(put(s, 0, "k1", "changed", 5), 0);
  assert_int_equal(put(s, 0, "new", "x", 3), 1);
  assert_int_equal(cairn_store_del(s, 0, K("k0")), 1);
  assert_int_equal(cairn_store_meta_put(s, "m", "v", 1), 0);
  assert_int_equal(cairn_store_swapdb(s, 0, 2), 0);
  assert_int_equal(cairn_store_flushdb(s, 1), 0);
  assert_int_equal(cairn_store_sweep(s, 1000), 1);
  assert_true(cairn_store_dirty(s) > 0);
  cairn_store_rollback(s);

  assert_int_equal(cairn_store_dirty(s), 0);
  assert_int_equal(cairn_store_checkpoint_offset(s), 7);
  assert_int_equal(cairn_store_dbsize(s, 0), 50);
  assert_int_equal(cairn_store_expires_count(s, 0), 10);
  assert_int_equal(cairn_store_dbsize(s, 1), 1);
  assert_int_equal(cairn_store_dbsize(s, 2), 0);
  assert_int_equal(cairn_store_sweep_pending(s), 0);
  expect_str(s, 0, "k1", "k1", -1);
  expect_str(s, 0, "k0", "k0", 1000);
  expect_absent(s, 0, K("new"));
  expect_str(s, 1, "one", "1", -1);
  cairn_buf b = {0};
  assert_int_equal(cairn_store_meta_get(s, "m", &b), 0);
  int db;
  assert_int_equal(cairn_store_next_expired(s, 1000, &db, &b), 1);
  assert_int_equal(db, 0);
  assert_int_equal(b.len, 2);
  assert_memory_equal(b.p, "k0", 2);
  cairn_buf_free(&b);
  /* Rolling back with nothing open is harmless; writing works again. */
  cairn_store_rollback(s);
  assert_int_equal(put(s, 0, "after", "y", -1), 1);
  reopen(f, 8);
  expect_str(f->s, 0, "after", "y", -1);
  assert_int_equal(cairn_store_dbsize(f->s, 0), 51);
  assert_int_equal(raw_entries(f->dir, "expires"), 10);
}

static void test_meta(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  cairn_buf b = {0};
  assert_int_equal(cairn_store_meta_get(s, "replid", &b), 0);
  static const char bin[] = "\0\1\2\r\n\xff";
  assert_int_equal(cairn_store_meta_put(s, "replid", bin, 6), 0);
  assert_int_equal(cairn_store_meta_get(s, "replid", &b), 1);
  assert_int_equal(b.len, 6);
  assert_memory_equal(b.p, bin, 6);
  assert_int_equal(cairn_store_meta_put(s, "replid", "x", 1), 0);
  assert_int_equal(cairn_store_meta_put(s, "empty", "", 0), 0);
  assert_int_equal(cairn_store_meta_get(s, "replid", &b), 1);
  assert_int_equal(b.len, 1);
  reopen(f, 1);
  s = f->s;
  assert_int_equal(cairn_store_meta_get(s, "replid", &b), 1);
  assert_int_equal(b.len, 1);
  assert_memory_equal(b.p, "x", 1);
  assert_int_equal(cairn_store_meta_get(s, "empty", &b), 1);
  assert_int_equal(b.len, 0);
  assert_int_equal(cairn_store_meta_put(s, "replid", "yy", 2), 0);
  cairn_store_rollback(s);
  assert_int_equal(cairn_store_meta_get(s, "replid", &b), 1);
  assert_int_equal(b.len, 1);
  cairn_buf_free(&b);
}

/* ------------------------------------------------------------ map full */

static void test_map_full_grow(void **state) {
  fixture *f = *state;
  /* A directory of its own: the fixture's store already has a 64 MiB map. */
  cairn_store_close(f->s);
  f->s = NULL;
  char dir[128];
  snprintf(dir, sizeof(dir), "%s/small", f->dir);
  assert_int_equal(mkdir(dir, 0755), 0);
  f->s = open_store(dir, 16, 1 * MiB, 64 * MiB);
  cairn_store *s = f->s;
  assert_int_equal(cairn_store_map_size(s), 1 * MiB);

  /* Writes land in the overlay and never meet a full map; the store
   * thread meets it when it writes a layer, and cairn_store_wait/poll grow
   * the map (doubling) and let it go on. */
  enum { N = 3000, VLEN = 4000, BATCH = 100 };
  char *val = malloc(VLEN);
  char key[32];
  for (int i = 0; i < N;) {
    snprintf(key, sizeof(key), "key:%d", i);
    memset(val, 'a' + i % 26, VLEN);
    int rc = cairn_store_put(s, i % 4, K(key), CAIRN_TYPE_STRING, val, VLEN, i % 10 ? -1 : 100000 + i);
    assert_int_equal(rc, 1);
    i++;
    if (i % BATCH == 0) assert_int_equal(ckpt(s, (uint64_t)i), 0);
  }
  int grows = 0;
  for (uint64_t m = cairn_store_map_size(s); m > 1 * MiB; m /= 2) grows++;
  assert_true(grows >= 3);
  assert_int_equal(ckpt(s, N), 0);
  uint64_t grown = cairn_store_map_size(s);
  assert_true(grown >= 16 * MiB);

  /* Reopen with the original small size: the grown map is kept. */
  cairn_store_close(s);
  f->s = s = open_store(dir, 16, 1 * MiB, 64 * MiB);
  assert_true(cairn_store_map_size(s) >= grown);
  /* ... so the first write after a restart does not hit MAP_FULL. */
  memset(val, 'z', VLEN);
  assert_int_equal(cairn_store_put(s, 0, K("after-reopen"), CAIRN_TYPE_STRING, val, VLEN, -1), 1);
  cairn_store_rollback(s);
  assert_int_equal(cairn_store_checkpoint_offset(s), N);
  uint64_t total = 0, expires = 0;
  for (int d = 0; d < 4; d++) total += cairn_store_dbsize(s, d), expires += cairn_store_expires_count(s, d);
  assert_int_equal(total, N);
  assert_int_equal(expires, N / 10);
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof(key), "key:%d", i);
    memset(val, 'a' + i % 26, VLEN);
    expect_val(s, i % 4, K(key), val, VLEN, i % 10 ? -1 : 100000 + i);
  }
  free(val);

  /* The ceiling. */
  cairn_store_close(s);
  f->s = s = open_store(dir, 16, 64 * MiB, 64 * MiB);
  assert_int_equal(cairn_store_map_size(s), 64 * MiB);
  assert_int_equal(cairn_store_grow(s), -1);
}


/* ------------------------------------------------------------ collections */

static void make_coll(cairn_store *s, int db, const char *key, int n, cairn_coll *c) {
  cairn_coll_init(s, c);
  for (int i = 0; i < n; i++) {
    char m[32], v[32];
    snprintf(m, sizeof(m), "m%06d", i);
    snprintf(v, sizeof(v), "v%d", i);
    assert_int_equal(cairn_elem_put(s, c->id, 0, m, strlen(m), v, strlen(v)), 1);
    c->count++;
  }
  assert_true(cairn_coll_put(s, db, K(key), CAIRN_TYPE_HASH, c, -1) >= 0);
}

static void test_coll_basic(void **state) {
  fixture *f = *state;
  cairn_coll c, got;
  make_coll(f->s, 0, "h", 10, &c);
  cairn_value v;
  assert_int_equal(cairn_store_get(f->s, 0, K("h"), &v), 1);
  assert_int_equal(v.type, CAIRN_TYPE_HASH);
  assert_int_equal(cairn_coll_decode(&v, &got), 0);
  assert_int_equal(got.id, c.id);
  assert_int_equal(got.count, 10);
  cairn_str val;
  assert_int_equal(cairn_elem_get(f->s, c.id, 0, "m000003", 7, &val), 1);
  assert_int_equal(val.len, 2);
  assert_memory_equal(val.p, "v3", 2);
  assert_int_equal(cairn_elem_get(f->s, c.id, 1, "m000003", 7, &val), 0); /* other space */
  assert_int_equal(cairn_elem_put(f->s, c.id, 0, "m000003", 7, "new", 3), 0);  /* replaced */
  assert_int_equal(cairn_elem_get(f->s, c.id, 0, "m000003", 7, &val), 1);
  assert_memory_equal(val.p, "new", 3);
  assert_int_equal(cairn_elem_del(f->s, c.id, 0, "m000003", 7), 1);
  assert_int_equal(cairn_elem_del(f->s, c.id, 0, "m000003", 7), 0);
  /* A string value has no collection header. */
  put(f->s, 0, "s", "x", -1);
  assert_int_equal(cairn_store_get(f->s, 0, K("s"), &v), 1);
  assert_int_equal(cairn_coll_decode(&v, &got), -1);
  /* count 0 deletes the key */
  c.count = 0;
  assert_int_equal(cairn_coll_put(f->s, 0, K("h"), CAIRN_TYPE_HASH, &c, -1), 1);
  expect_absent(f->s, 0, K("h"));
}

/* The memo holds several keys (a collection command reads its header and an
 * entry, then writes both): a write forgets only its own key, and a put
 * that the memo says is absent from the active layer is created once (one
 * entry, not two, in the merged order). cairn_elem_add reuses a tombstone
 * of the active layer. */
static void test_lookup_memo_keys(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  cairn_coll c;
  make_coll(s, 0, "h", 3, &c);
  cairn_str v;
  for (int round = 0; round < 3; round++) {
    char k[8], val[16];
    for (int i = 0; i < 6; i++) { /* more keys than the memo holds */
      snprintf(k, sizeof k, "k%d", i);
      expect_absent(s, 0, K(k));
      assert_int_equal(cairn_elem_get(s, c.id, 0, k, strlen(k), &v), 0);
    }
    for (int i = 5; i >= 0; i--) {
      snprintf(k, sizeof k, "k%d", i);
      snprintf(val, sizeof val, "v%d.%d", i, round);
      assert_int_equal(put(s, 0, k, val, -1), 1);
      expect_str(s, 0, k, val, -1);
      assert_int_equal(cairn_elem_put(s, c.id, 0, k, strlen(k), val, strlen(val)), 1);
      assert_int_equal(cairn_elem_put(s, c.id, 0, k, strlen(k), val, strlen(val)), 0);
    }
    for (int i = 0; i < 6; i++) {
      snprintf(k, sizeof k, "k%d", i);
      snprintf(val, sizeof val, "v%d.%d", i, round);
      expect_str(s, 0, k, val, -1);
      assert_int_equal(cairn_elem_get(s, c.id, 0, k, strlen(k), &v), 1);
      assert_int_equal(v.len, strlen(val));
      assert_memory_equal(v.p, val, v.len);
      assert_int_equal(cairn_store_del(s, 0, K(k)), 1);
      assert_int_equal(cairn_elem_del(s, c.id, 0, k, strlen(k)), 1);
      /* deleted (a tombstone in the active layer): added back in place */
      assert_int_equal(cairn_elem_add(s, c.id, 0, k, strlen(k), "again", 5), 1);
      assert_int_equal(cairn_elem_get(s, c.id, 0, k, strlen(k), &v), 1);
      assert_memory_equal(v.p, "again", 5);
      assert_int_equal(cairn_elem_del(s, c.id, 0, k, strlen(k)), 1);
    }
    assert_int_equal(cairn_store_dbsize(s, 0), 1);
    if (round == 1) {
      assert_int_equal(cairn_store_checkpoint(s, 10 + round), 0);
      assert_int_equal(cairn_store_wait(s), 0);
    }
  }
  cairn_elem_iter *it;
  assert_int_equal(cairn_elem_iter_open(s, c.id, 0, NULL, 0, 0, &it), 0);
  cairn_str sub;
  int n = 0;
  while (cairn_elem_iter_next(it, &sub, &v) == 1) n++;
  cairn_elem_iter_close(it);
  assert_int_equal(n, 3); /* make_coll's members only */
  assert_int_equal(cairn_elem_add(s, c.id, 0, "new", 3, "x", 1), 1);
  assert_int_equal(cairn_elem_iter_open(s, c.id, 0, NULL, 0, 0, &it), 0);
  n = 0;
  while (cairn_elem_iter_next(it, &sub, &v) == 1) n++;
  cairn_elem_iter_close(it);
  assert_int_equal(n, 4);
}

/* cairn_elem_set overwrites a value of the same size in the active layer
 * in place (no new memory), and is a plain put otherwise: a new entry, a
 * different size, a value below the active layer. */
static void test_elem_set_in_place(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  cairn_coll c;
  make_coll(s, 0, "h", 2, &c);
  cairn_str v;
  static char b[1000];
  memset(b, 'A', sizeof b);
  assert_int_equal(cairn_elem_set(s, c.id, 1, "", 0, b, sizeof b), 1);   /* created */
  uint64_t before = cairn_store_dirty(s);
  for (int i = 0; i < 2000; i++) { /* 2 MB if each were a new value */
    snprintf(b, sizeof b, "%08d", i);
    assert_int_equal(cairn_elem_set(s, c.id, 1, "", 0, b, sizeof b), 0);
    assert_int_equal(cairn_elem_get(s, c.id, 1, "", 0, &v), 1);
    assert_int_equal(v.len, sizeof b);
    assert_memory_equal(v.p, b, sizeof b);
  }
  assert_int_equal(cairn_store_dirty(s), before);                         /* nothing allocated */
  for (int i = 0; i < 2000; i++)                                           /* cairn_elem_put allocates */
    assert_int_equal(cairn_elem_put(s, c.id, 1, "", 0, b, sizeof b), 0);
  assert_true(cairn_store_dirty(s) > before + (1 << 20));
  assert_int_equal(cairn_elem_set(s, c.id, 1, "", 0, "short", 5), 0);     /* another size: a new value */
  assert_int_equal(cairn_elem_get(s, c.id, 1, "", 0, &v), 1);
  assert_int_equal(v.len, 5);
  assert_memory_equal(v.p, "short", 5);
  /* below the active layer: the frozen value stays as it was */
  assert_int_equal(cairn_store_checkpoint(s, 3), 0);
  assert_int_equal(cairn_elem_set(s, c.id, 1, "", 0, "fresh", 5), 0);
  assert_int_equal(cairn_elem_get(s, c.id, 1, "", 0, &v), 1);
  assert_memory_equal(v.p, "fresh", 5);
  cairn_store_rollback(s);                                                /* the frozen one is intact */
  assert_int_equal(cairn_elem_get(s, c.id, 1, "", 0, &v), 1);
  assert_memory_equal(v.p, "short", 5);
  assert_int_equal(cairn_store_wait(s), 0);
  assert_int_equal(cairn_elem_get(s, c.id, 1, "", 0, &v), 1);
  assert_memory_equal(v.p, "short", 5);
}

static void test_coll_iter(void **state) {
  fixture *f = *state;
  cairn_coll c;
  make_coll(f->s, 0, "h", 50, &c);
  cairn_elem_iter *it;
  cairn_str sub, val;
  /* forward from a key between members */
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, "m000010x", 8, 0, &it), 0);
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 1);
  assert_memory_equal(sub.p, "m000011", 7);
  cairn_elem_iter_close(it);
  /* reverse from an exact member includes it; from a prefix sorts first */
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, "m000010", 7, 1, &it), 0);
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 1);
  assert_memory_equal(sub.p, "m000010", 7);
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 1);
  assert_memory_equal(sub.p, "m000009", 7);
  cairn_elem_iter_close(it);
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, "m00001", 6, 1, &it), 0);
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 1);
  assert_memory_equal(sub.p, "m000009", 7);
  cairn_elem_iter_close(it);
  /* reverse from the end, deleting every other entry while walking */
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, NULL, 0, 1, &it), 0);
  int n = 0, i = 49;
  while (cairn_elem_iter_next(it, &sub, &val) == 1) {
    char m[32];
    snprintf(m, sizeof(m), "m%06d", i--);
    assert_int_equal(sub.len, 7);
    assert_memory_equal(sub.p, m, 7);
    if (n++ % 2 == 0) assert_int_equal(cairn_elem_iter_del(it), 0);
  }
  cairn_elem_iter_close(it);
  assert_int_equal(n, 50);
  /* forward: 25 left, in order, deleting all */
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, NULL, 0, 0, &it), 0);
  n = 0;
  while (cairn_elem_iter_next(it, &sub, &val) == 1) {
    char m[32];
    snprintf(m, sizeof(m), "m%06d", 2 * n);
    assert_memory_equal(sub.p, m, 7);
    assert_int_equal(cairn_elem_iter_del(it), 0);
    n++;
  }
  cairn_elem_iter_close(it);
  assert_int_equal(n, 25);
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, NULL, 0, 0, &it), 0);
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 0);
  cairn_elem_iter_close(it);
  /* an empty space of an existing id, and iteration never leaks into the next id */
  cairn_coll d;
  make_coll(f->s, 0, "h2", 3, &d);
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, NULL, 0, 1, &it), 0);
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 0);
  cairn_elem_iter_close(it);
}

static void test_coll_long_members(void **state) {
  fixture *f = *state;
  cairn_coll c;
  cairn_coll_init(f->s, &c);
  size_t n = CAIRN_ELEM_INLINE + 100;
  char *a = malloc(n), *b = malloc(n);
  memset(a, 'q', n);
  memcpy(b, a, n);
  b[n - 1] = 'r'; /* same first CAIRN_ELEM_INLINE bytes */
  assert_int_equal(cairn_elem_put(f->s, c.id, 0, a, n, "A", 1), 1);
  assert_int_equal(cairn_elem_put(f->s, c.id, 0, b, n, "BB", 2), 1);
  assert_int_equal(cairn_elem_put(f->s, c.id, 0, b, n, "B", 1), 0);
  cairn_str val, sub;
  assert_int_equal(cairn_elem_get(f->s, c.id, 0, a, n, &val), 1);
  assert_memory_equal(val.p, "A", 1);
  assert_int_equal(cairn_elem_get(f->s, c.id, 0, b, n, &val), 1);
  assert_int_equal(val.len, 1);
  assert_memory_equal(val.p, "B", 1);
  assert_int_equal(cairn_elem_get(f->s, c.id, 0, a, n - 1, &val), 0);
  cairn_elem_iter *it;
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, NULL, 0, 0, &it), 0);
  int seen = 0;
  while (cairn_elem_iter_next(it, &sub, &val) == 1) {
    assert_int_equal(sub.len, n);
    assert_true(memcmp(sub.p, a, n) == 0 || memcmp(sub.p, b, n) == 0);
    seen++;
  }
  cairn_elem_iter_close(it);
  assert_int_equal(seen, 2);
  assert_int_equal(cairn_elem_del(f->s, c.id, 0, a, n), 1);
  assert_int_equal(cairn_elem_get(f->s, c.id, 0, b, n, &val), 1);
  free(a);
  free(b);
}

/* Small collections vanish with their key; big ones are swept later. */
static void test_coll_retire(void **state) {
  fixture *f = *state;
  cairn_coll small, big, big2;
  make_coll(f->s, 0, "small", 5, &small);
  make_coll(f->s, 0, "big", 1000, &big);
  make_coll(f->s, 0, "big2", 300, &big2);
  assert_int_equal(cairn_store_del(f->s, 0, K("small")), 1);
  cairn_str val;
  assert_int_equal(cairn_elem_get(f->s, small.id, 0, "m000001", 7, &val), 0);
  assert_int_equal(cairn_store_del(f->s, 0, K("big")), 1);
  assert_int_equal(cairn_store_coll_garbage(f->s), 1);
  assert_int_equal(cairn_store_sweep_pending(f->s), 1);
  /* overwriting with a string retires too */
  assert_true(put(f->s, 0, "big2", "now a string", -1) >= 0);
  assert_int_equal(cairn_store_coll_garbage(f->s), 2);
  /* the garbage survives a restart */
  reopen(f, 1);
  assert_int_equal(cairn_store_coll_garbage(f->s), 2);
  assert_int_equal(cairn_elem_get(f->s, big.id, 0, "m000999", 7, &val), 1); /* not yet swept */
  long total = 0, n;
  int rounds = 0;
  while ((n = cairn_store_sweep(f->s, 100)) > 0) {
    assert_true(n <= 100);
    total += n;
    rounds++;
  }
  assert_int_equal(n, 0);
  assert_true(total >= 1300);
  assert_true(rounds >= 13);
  assert_int_equal(cairn_store_coll_garbage(f->s), 0);
  assert_int_equal(cairn_store_sweep_pending(f->s), 0);
  assert_int_equal(cairn_elem_get(f->s, big.id, 0, "m000999", 7, &val), 0);
  reopen(f, 2);
  assert_int_equal(raw_entries(f->dir, "elems"), 0);
  assert_int_equal(raw_entries(f->dir, "dead"), 0);
  /* ids are never reused across restarts */
  cairn_coll again;
  cairn_coll_init(f->s, &again);
  assert_true(again.id > big2.id);
}

static void test_coll_flush_rename_copy(void **state) {
  fixture *f = *state;
  cairn_coll a, b, c;
  make_coll(f->s, 1, "a", 200, &a);
  make_coll(f->s, 1, "b", 3, &b);
  /* the header can be rewritten (expiry, count) without retiring */
  assert_int_equal(cairn_store_set_expire(f->s, 1, K("a"), 123456), 1);
  assert_int_equal(cairn_store_coll_garbage(f->s), 0);
  /* RENAME: the header moves, the entries stay */
  cairn_value v;
  assert_int_equal(cairn_store_get(f->s, 1, K("a"), &v), 1);
  cairn_coll moved;
  assert_int_equal(cairn_coll_decode(&v, &moved), 0);
  assert_true(cairn_coll_put(f->s, 1, K("z"), CAIRN_TYPE_HASH, &moved, 123456) >= 0);
  assert_int_equal(cairn_store_del_keep(f->s, 1, K("a")), 1);
  assert_int_equal(cairn_store_coll_garbage(f->s), 0);
  cairn_str val;
  assert_int_equal(cairn_elem_get(f->s, a.id, 0, "m000199", 7, &val), 1);
  /* COPY into a fresh id */
  cairn_coll_init(f->s, &c);
  assert_int_equal(cairn_coll_copy(f->s, a.id, c.id), 0);
  assert_int_equal(cairn_elem_get(f->s, c.id, 0, "m000199", 7, &val), 1);
  assert_memory_equal(val.p, "v199", 4);
  cairn_elem_iter *it;
  cairn_str sub;
  int n = 0;
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, 0, NULL, 0, 0, &it), 0);
  while (cairn_elem_iter_next(it, &sub, &val) == 1) n++;
  cairn_elem_iter_close(it);
  assert_int_equal(n, 200);
  /* FLUSHDB: the keys are swept, and their collections with them */
  assert_int_equal(cairn_store_flushdb(f->s, 1), 0);
  while (cairn_store_sweep(f->s, 50) > 0) {
  }
  reopen(f, 3);
  assert_int_equal(raw_entries(f->dir, "elems"), 200); /* c has no key: only its own entries remain */
}

static int snap_count(void *ud, cairn_str sub, cairn_str val) {
  (void)sub, (void)val;
  (*(int *)ud)++;
  return 0;
}

static void test_coll_snapshot(void **state) {
  fixture *f = *state;
  cairn_coll c;
  make_coll(f->s, 0, "h", 40, &c);
  assert_int_equal(ckpt(f->s, 5), 0);
  cairn_store_snapshot *snap;
  assert_int_equal(cairn_store_snapshot_open(f->s, &snap), 0);
  assert_int_equal(cairn_elem_put(f->s, c.id, 0, "later", 5, "x", 1), 1); /* not in the snapshot */
  int n = 0;
  assert_int_equal(cairn_store_snapshot_elems(snap, c.id, 0, snap_count, &n), 0);
  assert_int_equal(n, 40);
  cairn_store_snapshot_close(snap);
}

typedef struct scan_acc {
  int n;
  char seen[64][32]; /* the keys, in scan order */
  char vals[64][32];
} scan_acc;

static int scan_keys(void *ud, cairn_str key, const cairn_value *val) {
  scan_acc *a = ud;
  if (a->n < 64) {
    snprintf(a->seen[a->n], 32, "%.*s", (int)key.len, key.p);
    snprintf(a->vals[a->n], 32, "%.*s", (int)val->len, (const char *)val->data);
  }
  a->n++;
  return 0;
}

static const char *scanned(const scan_acc *a, const char *key) {
  for (int i = 0; i < a->n && i < 64; i++)
    if (strcmp(a->seen[i], key) == 0) return a->vals[i];
  return NULL;
}

/* A full sync's snapshot reads LMDB plus the frozen layers waiting above it
 * (no wait for the store thread): overwrites, deletes and new members of a
 * layer are in it, later writes are not, and a layer drained and released
 * while the snapshot reads it stays readable until the snapshot closes. */
static void test_snapshot_over_layers(void **state) {
  fixture *f = *state;
  cairn_store_close(f->s);
  cairn_store *s = f->s = open_merging(f->dir);
  fill(s, 0, "k", 20, 0);
  cairn_coll c;
  make_coll(s, 0, "h", 10, &c);
  assert_int_equal(ckpt(s, 10), 0); /* in LMDB */
  assert_int_equal(put(s, 0, "k3", "new3", -1), 0);
  assert_int_equal(cairn_store_del(s, 0, K("k4")), 1);
  assert_int_equal(put(s, 0, "z", "zz", -1), 1);
  assert_int_equal(cairn_elem_put(s, c.id, 0, "m999999", 7, "x", 1), 1);
  assert_int_equal(cairn_store_checkpoint(s, 20), 0); /* frozen, waiting for a merge */
  assert_int_equal(cairn_store_frozen_layers(s), 1);
  cairn_store_snapshot *snap;
  assert_int_equal(cairn_store_snapshot_open(s, &snap), 0);
  assert_int_equal(cairn_store_snapshot_offset(snap), 20);
  assert_int_equal(cairn_store_snapshot_dbsize(snap, 0), 21);
  assert_int_equal(put(s, 0, "after", "1", -1), 1); /* not in the snapshot */
  for (int round = 0; round < 2; round++) {
    scan_acc a = {0};
    assert_int_equal(cairn_store_snapshot_scan(snap, 0, scan_keys, &a), 0);
    assert_int_equal(a.n, 21); /* k0..k19 without k4, h, z */
    assert_string_equal(scanned(&a, "k3"), "new3");
    assert_string_equal(scanned(&a, "k5"), "k5");
    assert_string_equal(scanned(&a, "z"), "zz");
    assert_null(scanned(&a, "k4"));
    assert_null(scanned(&a, "after"));
    int n = 0;
    assert_int_equal(cairn_store_snapshot_elems(snap, c.id, 0, snap_count, &n), 0);
    assert_int_equal(n, 11);
    /* the layer goes into LMDB and is released: the snapshot keeps it */
    assert_int_equal(cairn_store_checkpoint(s, 30), 0);
    assert_int_equal(cairn_store_wait(s), 0);
    assert_int_equal(cairn_store_frozen_layers(s), 0);
  }
  cairn_store_snapshot_close(snap);
  assert_int_equal(cairn_store_wait(s), 0); /* the pinned layer is freed now (ASan sees a leak otherwise) */
}

typedef struct touch_log {
  int calls, flushes;
  char last[32];
} touch_log;

static void on_touch(void *ud, int db, cairn_str key) {
  touch_log *t = ud;
  (void)db;
  t->calls++;
  if (!key.p) {
    t->flushes++;
    return;
  }
  snprintf(t->last, sizeof(t->last), "%.*s", (int)key.len, key.p);
}

static void test_touch_hook(void **state) {
  fixture *f = *state;
  touch_log t = {0};
  cairn_store_set_touch(f->s, on_touch, &t);
  put(f->s, 0, "k", "v", -1);
  assert_int_equal(t.calls, 1);
  assert_string_equal(t.last, "k");
  cairn_coll c;
  make_coll(f->s, 0, "h", 2, &c);
  assert_int_equal(t.calls, 2);
  assert_string_equal(t.last, "h");
  assert_int_equal(cairn_store_set_expire(f->s, 0, K("k"), 5), 1);
  assert_int_equal(t.calls, 3);
  assert_int_equal(cairn_store_del(f->s, 0, K("k")), 1);
  assert_int_equal(cairn_store_del(f->s, 0, K("k")), 0); /* nothing changed: no call */
  assert_int_equal(t.calls, 4);
  assert_int_equal(cairn_store_flushdb(f->s, 0), 0);
  assert_int_equal(t.flushes, 1);
  cairn_store_set_touch(f->s, NULL, NULL);
}

/* At the ceiling: the store thread cannot write the layer; the store says
 * it is full and why, nothing written is lost from the merged view, and a
 * delete still works (the overlay takes it). */
static void test_map_ceiling(void **state) {
  fixture *f = *state;
  cairn_store_close(f->s);
  char dir[128];
  snprintf(dir, sizeof(dir), "%s/ceiling", f->dir);
  assert_int_equal(mkdir(dir, 0755), 0);
  f->s = open_store(dir, 16, 1 * MiB, 2 * MiB);
  char val[4000];
  memset(val, 'c', sizeof(val));
  for (int i = 0; i < 1000; i++) {
    char key[32];
    snprintf(key, sizeof(key), "c%d", i);
    assert_int_equal(cairn_store_put(f->s, 0, K(key), CAIRN_TYPE_STRING, val, sizeof(val), -1), 1);
  }
  assert_int_equal(cairn_store_checkpoint(f->s, 1), 0);
  assert_int_equal(cairn_store_wait(f->s), -1);
  char why[256] = "";
  assert_int_equal(cairn_store_drain_error(f->s, why, sizeof(why)), CAIRN_STORE_MAP_FULL);
  assert_non_null(strstr(why, "MDB_MAP_FULL"));
  assert_true(cairn_store_full(f->s));
  assert_int_equal(cairn_store_durable_offset(f->s), 0);
  assert_int_equal(cairn_store_checkpoint_offset(f->s), 1);
  expect_val(f->s, 0, K("c999"), val, sizeof(val), -1);
  assert_int_equal(cairn_store_del(f->s, 0, K("c999")), 1);
  expect_absent(f->s, 0, K("c999"));
}

/* Replaces the fixture's store with a fresh one in <dir>/<name> (the
 * fixture's file already records a 64 MiB map), lmdb-writemap on; the
 * options, to reopen it with. */
static cairn_store_options open_fresh_writemap(fixture *f, const char *name, uint64_t map, char *dir, size_t dirlen) {
  cairn_store_close(f->s);
  snprintf(dir, dirlen, "%s/%s", f->dir, name);
  assert_int_equal(mkdir(dir, 0755), 0);
  cairn_store_options o = {.databases = 16, .map_size = map, .max_map_size = 64 * MiB, .writemap = 1};
  char err[512] = "";
  if (cairn_store_open(dir, &o, &f->s, err, sizeof(err)) != 0) fail_msg("cairn_store_open: %s", err);
  return o;
}

/* lmdb-writemap: the data file is reserved on disk up to the map size, and
 * growing the map reserves the new part; data survives a reopen. */
static void test_writemap_reserve(void **state) {
  fixture *f = *state;
  char dir[128], err[512] = "";
  cairn_store_options o = open_fresh_writemap(f, "wm", 4 * MiB, dir, sizeof(dir));
  char path[160];
  snprintf(path, sizeof(path), "%s/store/data.mdb", dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true((uint64_t)st.st_blocks * 512 >= 4 * MiB);
  char val[2048];
  memset(val, 'w', sizeof(val));
  for (int i = 0; i < 4000; i++) {
    char key[32];
    snprintf(key, sizeof(key), "k%d", i);
    assert_true(cairn_store_put(f->s, 0, K(key), CAIRN_TYPE_STRING, val, sizeof(val), -1) >= 0);
  }
  assert_int_equal(ckpt(f->s, 9), 0); /* the store thread grew the map as it wrote */
  int grown = cairn_store_map_size(f->s) > 4 * MiB;
  assert_true(grown > 0);
  assert_int_equal(stat(path, &st), 0);
  assert_true((uint64_t)st.st_blocks * 512 >= cairn_store_map_size(f->s));
  cairn_store_close(f->s);
  assert_int_equal(cairn_store_open(dir, &o, &f->s, err, sizeof(err)), 0);
  expect_val(f->s, 0, K("k3999"), val, sizeof(val), -1);
}

/* A growth ahead of need (lmdb-writemap): the file's new part is reserved
 * and the old map unmapped (MADV_DONTNEED) before the remap, while the
 * store thread is held; what LMDB held is all there after, in the map and
 * after a reopen, and the thread goes on writing. */
static void test_grow_ahead_unmaps_first(void **state) {
  fixture *f = *state;
  char dir[128], err[512] = "";
  cairn_store_options o = open_fresh_writemap(f, "ga", 8 * MiB, dir, sizeof(dir));
  cairn_store *s = f->s;
  char val[1000], key[32];
  for (int i = 0; i < 2000; i++) { /* ~2.5 MB in LMDB, its pages touched through the map */
    snprintf(key, sizeof(key), "a%d", i);
    memset(val, 'a' + i % 26, sizeof(val));
    assert_int_equal(cairn_store_put(s, 0, K(key), CAIRN_TYPE_STRING, val, sizeof(val), -1), 1);
  }
  assert_int_equal(ckpt(s, 1), 0);
  uint64_t before = cairn_store_map_size(s);
  for (int i = 0; i < 4000; i++) { /* waiting in the overlay: twice this no longer fits in 7/8 of the map */
    snprintf(key, sizeof(key), "b%d", i);
    memset(val, 'A' + i % 26, sizeof(val));
    assert_int_equal(cairn_store_put(s, 0, K(key), CAIRN_TYPE_STRING, val, sizeof(val), -1), 1);
  }
  int polls = 0;
  while (cairn_store_map_size(s) == before && polls < 1000) {
    assert_true(cairn_store_poll(s) >= 0);
    polls++;
  }
  assert_true(cairn_store_map_size(s) > before);
  assert_false(cairn_store_growing(s));
  char path[160];
  snprintf(path, sizeof(path), "%s/store/data.mdb", dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true((uint64_t)st.st_blocks * 512 >= cairn_store_map_size(s));
  for (int i = 0; i < 2000; i++) {
    snprintf(key, sizeof(key), "a%d", i);
    memset(val, 'a' + i % 26, sizeof(val));
    expect_val(s, 0, K(key), val, sizeof(val), -1);
  }
  assert_int_equal(ckpt(s, 2), 0); /* the thread was let go */
  cairn_store_close(s);
  assert_int_equal(cairn_store_open(dir, &o, &f->s, err, sizeof(err)), 0);
  s = f->s;
  for (int i = 0; i < 4000; i++) {
    snprintf(key, sizeof(key), "a%d", i % 2000);
    memset(val, 'a' + i % 2000 % 26, sizeof(val));
    expect_val(s, 0, K(key), val, sizeof(val), -1);
    snprintf(key, sizeof(key), "b%d", i);
    memset(val, 'A' + i % 26, sizeof(val));
    expect_val(s, 0, K(key), val, sizeof(val), -1);
  }
}

/* A full sync's snapshot reads the map through a transaction of its own on
 * another thread: the map never moves under it. A growth asked meanwhile
 * fails, naming the cause; the growth ahead waits; both work once it ends. */
static void test_no_growth_under_a_snapshot(void **state) {
  fixture *f = *state;
  char dir[128];
  open_fresh_writemap(f, "snapgrow", 8 * MiB, dir, sizeof(dir));
  cairn_store *s = f->s;
  char val[1000], key[32];
  memset(val, 's', sizeof(val));
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof(key), "s%d", i);
    assert_int_equal(cairn_store_put(s, 0, K(key), CAIRN_TYPE_STRING, val, sizeof(val), -1), 1);
  }
  assert_int_equal(ckpt(s, 1), 0);
  uint64_t before = cairn_store_map_size(s);
  cairn_store_snapshot *snap;
  assert_int_equal(cairn_store_snapshot_open(s, &snap), 0);
  assert_int_equal(cairn_store_grow(s), -1);
  assert_non_null(strstr(cairn_store_errstr(s), "full-sync snapshot"));
  for (int i = 0; i < 4000; i++) { /* enough waiting to want a growth ahead */
    snprintf(key, sizeof(key), "t%d", i);
    assert_int_equal(cairn_store_put(s, 0, K(key), CAIRN_TYPE_STRING, val, sizeof(val), -1), 1);
  }
  for (int i = 0; i < 50; i++) assert_true(cairn_store_poll(s) >= 0);
  assert_int_equal(cairn_store_map_size(s), before);
  assert_false(cairn_store_growing(s));
  cairn_store_snapshot_close(snap);
  int polls = 0;
  while (cairn_store_map_size(s) == before && polls++ < 1000) assert_true(cairn_store_poll(s) >= 0);
  assert_true(cairn_store_map_size(s) > before);
  assert_int_equal(ckpt(s, 2), 0);
  snprintf(key, sizeof(key), "t%d", 3999);
  expect_val(s, 0, K(key), val, sizeof(val), -1);
}

/* Hashed spaces: entries in hash order, positions are 64-bit hashes that a
 * new iterator can resume from (SCAN cursors). */
static void test_coll_hashed_space(void **state) {
  fixture *f = *state;
  cairn_coll c;
  cairn_coll_init(f->s, &c);
  const int n = 1000;
  for (int i = 0; i < n; i++) {
    char m[32];
    snprintf(m, sizeof(m), "member:%d", i);
    assert_int_equal(cairn_elem_put(f->s, c.id, CAIRN_SPACE_MEMBERS, m, strlen(m), m, 3), 1);
  }
  size_t longlen = CAIRN_ELEM_INLINE + 30;
  char *lm = malloc(longlen);
  memset(lm, 'L', longlen);
  assert_int_equal(cairn_elem_put(f->s, c.id, CAIRN_SPACE_MEMBERS, lm, longlen, "long", 4), 1);
  cairn_str val, sub;
  assert_int_equal(cairn_elem_get(f->s, c.id, CAIRN_SPACE_MEMBERS, "member:77", 9, &val), 1);
  assert_memory_equal(val.p, "mem", 3);
  assert_int_equal(cairn_elem_get(f->s, c.id, CAIRN_SPACE_MEMBERS, lm, longlen, &val), 1);
  assert_memory_equal(val.p, "long", 4);
  /* a full pass: every member once, positions strictly increasing and equal to the hash */
  cairn_elem_iter *it;
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, CAIRN_SPACE_MEMBERS, NULL, 0, 0, &it), 0);
  uint64_t last = 0, mid = 0;
  int seen = 0;
  while (cairn_elem_iter_next(it, &sub, &val) == 1) {
    uint64_t pos = cairn_elem_iter_pos(it);
    assert_int_equal(pos, cairn_elem_hash(sub.p, sub.len));
    if (seen) assert_true(pos > last);
    last = pos;
    if (++seen == 500) mid = pos;
  }
  cairn_elem_iter_close(it);
  assert_int_equal(seen, n + 1);
  /* resume from a position: exactly the entries at or after it */
  unsigned char from[8];
  for (int i = 0; i < 8; i++) from[i] = (unsigned char)(mid >> (56 - 8 * i));
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, CAIRN_SPACE_MEMBERS, from, 8, 0, &it), 0);
  int rest = 0;
  while (cairn_elem_iter_next(it, &sub, &val) == 1) {
    assert_true(cairn_elem_iter_pos(it) >= mid);
    rest++;
  }
  cairn_elem_iter_close(it);
  assert_int_equal(rest, n + 1 - 499);
  /* reverse from a position: the entries at or before it */
  assert_int_equal(cairn_elem_iter_open(f->s, c.id, CAIRN_SPACE_MEMBERS, from, 8, 1, &it), 0);
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 1);
  assert_true(cairn_elem_iter_pos(it) < mid); /* the 8-byte position sorts before the entry at mid */
  cairn_elem_iter_close(it);
  assert_int_equal(cairn_elem_del(f->s, c.id, CAIRN_SPACE_MEMBERS, lm, longlen), 1);
  assert_int_equal(cairn_elem_del(f->s, c.id, CAIRN_SPACE_MEMBERS, "member:77", 9), 1);
  assert_int_equal(cairn_elem_get(f->s, c.id, CAIRN_SPACE_MEMBERS, "member:77", 9, &val), 0);
  /* the same sub-key in the unhashed space is a different entry */
  assert_int_equal(cairn_elem_get(f->s, c.id, 0, "member:78", 9, &val), 0);
  free(lm);
}

/* ------------------------------------------------------------ the overlay
 *
 * The merged view: entries in LMDB (after a checkpoint the store thread
 * wrote), in frozen layers (a checkpoint not waited for) and in the active
 * layer, with tombstones, read in both directions, written while iterating,
 * rolled back. A byte array is the model: pos[i] = value or 0 (absent). */

#define OVN 400
static unsigned char model_val[OVN];

static void pos_key(int i, unsigned char *out) {
  uint64_t v = (uint64_t)i;
  for (int b = 7; b >= 0; b--) out[7 - b] = (unsigned char)(v >> (8 * b));
}

static void ov_set(cairn_store *s, uint64_t id, int i, unsigned char v) {
  unsigned char k[8];
  pos_key(i, k);
  if (v) {
    assert_true(cairn_elem_put(s, id, CAIRN_SPACE_LIST, k, 8, &v, 1) >= 0);
  } else {
    assert_true(cairn_elem_del(s, id, CAIRN_SPACE_LIST, k, 8) >= 0);
  }
  model_val[i] = v;
}

static void ov_check(cairn_store *s, uint64_t id) {
  for (int reverse = 0; reverse < 2; reverse++) {
    cairn_elem_iter *it;
    assert_int_equal(cairn_elem_iter_open(s, id, CAIRN_SPACE_LIST, NULL, 0, reverse, &it), 0);
    cairn_str sub, val;
    int i = reverse ? OVN - 1 : 0;
    while (cairn_elem_iter_next(it, &sub, &val) == 1) {
      while (i >= 0 && i < OVN && !model_val[i]) i += reverse ? -1 : 1;
      assert_true(i >= 0 && i < OVN);
      unsigned char k[8];
      pos_key(i, k);
      assert_int_equal(sub.len, 8);
      assert_memory_equal(sub.p, k, 8);
      assert_int_equal(val.len, 1);
      assert_int_equal((unsigned char)val.p[0], model_val[i]);
      i += reverse ? -1 : 1;
    }
    while (i >= 0 && i < OVN && !model_val[i]) i += reverse ? -1 : 1;
    assert_true(i < 0 || i >= OVN); /* nothing left out */
    cairn_elem_iter_close(it);
  }
  for (int i = 0; i < OVN; i++) {
    unsigned char k[8];
    pos_key(i, k);
    cairn_str v;
    int rc = cairn_elem_get(s, id, CAIRN_SPACE_LIST, k, 8, &v);
    assert_int_equal(rc, model_val[i] ? 1 : 0);
    if (rc) assert_int_equal((unsigned char)v.p[0], model_val[i]);
  }
}

static void test_overlay_merge(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  cairn_coll c;
  cairn_coll_init(s, &c);
  memset(model_val, 0, sizeof(model_val));
  srand(777);
  /* in LMDB: every other position */
  for (int i = 0; i < OVN; i += 2) ov_set(s, c.id, i, (unsigned char)(1 + rand() % 200));
  assert_int_equal(ckpt(s, 10), 0);
  assert_int_equal(cairn_store_overlay_bytes(s), 0);
  ov_check(s, c.id);
  /* a frozen layer on top, not written yet: deletes and overwrites of LMDB's
   * entries, new ones in between */
  for (int i = 0; i < OVN; i += 3) ov_set(s, c.id, i, (i % 2) ? (unsigned char)(1 + rand() % 200) : 0);
  assert_int_equal(cairn_store_checkpoint(s, 20), 0);
  /* the active layer: more of the same, over both */
  for (int i = 1; i < OVN; i += 5) ov_set(s, c.id, i, (i % 7) ? (unsigned char)(1 + rand() % 200) : 0);
  ov_check(s, c.id);
  assert_true(cairn_store_overlay_bytes(s) > 0);

  /* writes while iterating: an entry added ahead of the cursor is seen (as
   * LMDB's cursors see it), one deleted through the iterator is not */
  cairn_elem_iter *it;
  assert_int_equal(cairn_elem_iter_open(s, c.id, CAIRN_SPACE_LIST, NULL, 0, 0, &it), 0);
  cairn_str sub, val;
  int seen_new = 0, n = 0;
  while (cairn_elem_iter_next(it, &sub, &val) == 1) {
    int i = (int)(((const unsigned char *)sub.p)[6] << 8 | ((const unsigned char *)sub.p)[7]);
    if (i == OVN - 1) seen_new = 1;
    if (n++ == 10) ov_set(s, c.id, OVN - 1, 9); /* ahead of the cursor */
    if (i % 4 == 0) {
      assert_int_equal(cairn_elem_iter_del(it), 0);
      model_val[i] = 0;
    }
  }
  cairn_elem_iter_close(it);
  assert_true(seen_new);
  ov_check(s, c.id);

  /* rollback drops the active layer only: back to the frozen state */
  unsigned char saved[OVN];
  memcpy(saved, model_val, sizeof(saved));
  assert_int_equal(cairn_store_checkpoint(s, 30), 0);
  ov_set(s, c.id, 5, 0);
  ov_set(s, c.id, 6, 77);
  assert_int_equal(cairn_store_checkpoint_offset(s), 30);
  cairn_store_rollback(s);
  memcpy(model_val, saved, sizeof(saved));
  ov_check(s, c.id);
  /* all of it into LMDB: the same view, the overlay empty */
  assert_int_equal(cairn_store_wait(s), 0);
  assert_int_equal(cairn_store_durable_offset(s), 30);
  assert_int_equal(cairn_store_overlay_bytes(s), 0);
  ov_check(s, c.id);
  /* and after a reopen */
  cairn_store_close(s);
  f->s = s = open_store(f->dir, 16, 64 * MiB, 1024 * MiB);
  ov_check(s, c.id);
}

/* Pops the first entry of list id, which must be position i. */
static void pop_head(cairn_store *s, uint64_t id, int i) {
  cairn_elem_iter *it;
  assert_int_equal(cairn_elem_iter_open(s, id, CAIRN_SPACE_LIST, NULL, 0, 0, &it), 0);
  cairn_str sub, val;
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 1);
  unsigned char k[8];
  pos_key(i, k);
  assert_memory_equal(sub.p, k, 8);
  assert_int_equal(cairn_elem_iter_del(it), 0);
  cairn_elem_iter_close(it);
}

/* List id holds position i and nothing else, walked forward or backward. */
static void only_entry(cairn_store *s, uint64_t id, int i, int reverse) {
  cairn_elem_iter *it;
  assert_int_equal(cairn_elem_iter_open(s, id, CAIRN_SPACE_LIST, NULL, 0, reverse, &it), 0);
  cairn_str sub, val;
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 1);
  unsigned char k[8];
  pos_key(i, k);
  assert_memory_equal(sub.p, k, 8);
  assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 0);
  cairn_elem_iter_close(it);
}

/* A queue popped from its head: each pop deletes the first entry, so the
 * next seek from the start meets every tombstone before it. Dead ranges
 * make it jump them: the pops stay correct and take constant work. */
static void test_overlay_dead_ranges(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  cairn_coll c;
  cairn_coll_init(s, &c);
  enum { Q = 3000 };
  for (int i = 0; i < Q; i++) {
    unsigned char k[8];
    pos_key(i, k);
    assert_int_equal(cairn_elem_put(s, c.id, CAIRN_SPACE_LIST, k, 8, "x", 1), 1);
  }
  assert_int_equal(ckpt(s, 5), 0);
  uint64_t jumps0 = cairn_store_range_jumps(s);
  for (int i = 0; i < Q - 1; i++) {
    pop_head(s, c.id, i);
    if (i == Q / 2) {
      cairn_elem_iter *it;
      cairn_str sub, val;
      /* an entry written back into the dead run is seen again */
      unsigned char k2[8];
      pos_key(i - 10, k2);
      assert_int_equal(cairn_elem_put(s, c.id, CAIRN_SPACE_LIST, k2, 8, "y", 1), 1);
      assert_int_equal(cairn_elem_iter_open(s, c.id, CAIRN_SPACE_LIST, NULL, 0, 0, &it), 0);
      assert_int_equal(cairn_elem_iter_next(it, &sub, &val), 1);
      assert_memory_equal(sub.p, k2, 8);
      assert_int_equal(cairn_elem_iter_del(it), 0);
      cairn_elem_iter_close(it);
    }
  }
  assert_true(cairn_store_range_jumps(s) - jumps0 >= Q / 2);
  only_entry(s, c.id, Q - 1, 1); /* from the end, backwards: the last one is still there */
}

/* Many queues popped in turn (more than a handful of dead ranges could
 * hold): each collection's run of tombstones is remembered in the set its
 * prefix chooses, so every pop jumps its own queue's run; the tombstones
 * stepped over stay a few per pop (one shared list of 8 ranges stepped
 * over ~1.3M here). */
static void test_overlay_dead_ranges_many_queues(void **state) {
  fixture *f = *state;
  cairn_store *s = f->s;
  enum { NQ = 64, Q = 200 };
  cairn_coll c[NQ];
  for (int q = 0; q < NQ; q++) {
    cairn_coll_init(s, &c[q]);
    for (int i = 0; i < Q; i++) {
      unsigned char k[8];
      pos_key(i, k);
      assert_int_equal(cairn_elem_put(s, c[q].id, CAIRN_SPACE_LIST, k, 8, "x", 1), 1);
    }
  }
  assert_int_equal(ckpt(s, 5), 0);
  uint64_t skipped0 = cairn_store_tombstones_skipped(s);
  for (int i = 0; i < Q - 1; i++) {
    for (int q = 0; q < NQ; q++) pop_head(s, c[q].id, i);
  }
  uint64_t skipped = cairn_store_tombstones_skipped(s) - skipped0;
  if (skipped > 4ull * NQ * Q) fail_msg("%llu tombstones stepped over for %d pops", (unsigned long long)skipped, NQ * Q);
  for (int q = 0; q < NQ; q++) only_entry(s, c[q].id, Q - 1, 0); /* each queue holds its last entry only */
}

int main(void) {
  /* freed layers' arena blocks are reused, as in the server (under ASan a
   * kept block is poisoned: a read of a freed layer is still reported) */
  cairn_huge_blocks_cap(256 * MiB);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_key),
      cmocka_unit_test_setup_teardown(test_lookup_memo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lookup_memo_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_elem_set_in_place, setup, teardown),
      cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expiry_counts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_databases_isolation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_long_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_next_expired_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flushdb_sweep, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flushdb_next_expired, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flush_many_times, setup, teardown),
      cmocka_unit_test_setup_teardown(test_swapdb, setup, teardown),
      cmocka_unit_test_setup_teardown(test_iterator, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checkpoint_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_run_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runs_written_during_a_merge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_runs_loaded_at_most, setup, teardown),
      cmocka_unit_test_setup_teardown(test_layers_ordered_during_a_merge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_over_layers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_full_grow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_grow_ahead_unmaps_first, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_growth_under_a_snapshot, setup, teardown),
    cmocka_unit_test_setup_teardown(test_map_ceiling, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coll_basic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coll_iter, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coll_long_members, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coll_retire, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coll_flush_rename_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coll_snapshot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_touch_hook, setup, teardown),
      cmocka_unit_test_setup_teardown(test_writemap_reserve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_coll_hashed_space, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlay_merge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlay_dead_ranges, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlay_dead_ranges_many_queues, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deferred_lookups, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
