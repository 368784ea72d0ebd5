/* Unit tests for the RDB codec (replication/rdb*.c): CRC64, LZF, the
 * PROTOCOL.md example byte for byte, writer -> reader round trips for every
 * type and list node layout, hand-made blobs for every encoding Redis 7.0
 * writes (intset, listpacks, quicklist nodes, LZF, streams, modules, legacy
 * types), incremental feeding (1 byte at a time and odd chunks), truncation
 * and corruption (never a crash; ASan/UBSan build), DUMP payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/rdb/rdb.h"

/* ---- a textual log of everything the reader delivers ------------------- */

typedef struct logbuf {
  char *s;
  size_t len, cap;
  int abort_at;        /* nonzero: the Nth callback returns 7 */
  int calls;
} logbuf;

static void logf_(logbuf *l, const char *fmt, ...) {
  va_list ap;
  char tmp[512];
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
  if (l->len + (size_t)n + 1 > l->cap) {
    l->cap = (l->len + (size_t)n + 1) * 2;
    l->s = realloc(l->s, l->cap);
  }
  memcpy(l->s + l->len, tmp, (size_t)n + 1);
  l->len += (size_t)n;
}

static void logbytes(logbuf *l, const uint8_t *p, size_t n) {
  if (n > 40) {   /* long values: length and a checksum */
    logf_(l, "<%zu:%016llx>", n, (unsigned long long)cairn_rdb_crc64(0, p, n));
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (p[i] > 0x20 && p[i] < 0x7f && p[i] != '\\') logf_(l, "%c", p[i]);
    else logf_(l, "\\x%02x", p[i]);
  }
}

static int tick(logbuf *l) { return (l->abort_at && ++l->calls == l->abort_at) ? 7 : 0; }

static int c_aux(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  logbuf *l = ud;
  logf_(l, "aux ");
  logbytes(l, k, kl);
  logf_(l, "=");
  logbytes(l, v, vl);
  logf_(l, "\n");
  return tick(l);
}
static int c_select(void *ud, uint64_t db) {
  logf_(ud, "select %llu\n", (unsigned long long)db);
  return tick(ud);
}
static int c_resize(void *ud, uint64_t a, uint64_t b) {
  logf_(ud, "resize %llu %llu\n", (unsigned long long)a, (unsigned long long)b);
  return tick(ud);
}
static int c_function(void *ud, const uint8_t *p, size_t n) {
  logf_(ud, "function ");
  logbytes(ud, p, n);
  logf_(ud, "\n");
  return tick(ud);
}
static int c_modaux(void *ud, uint64_t id) {
  logf_(ud, "module-aux %llx\n", (unsigned long long)id);
  return tick(ud);
}
static int c_key(void *ud, const cairn_rdb_key *k) {
  logf_(ud, "key db=%llu type=%u kind=%d ", (unsigned long long)k->db, k->rdb_type, (int)k->kind);
  logbytes(ud, k->key, k->key_len);
  logf_(ud, " exp=%lld idle=%lld freq=%d\n", (long long)k->expire_ms, (long long)k->lru_idle, k->lfu_freq);
  return tick(ud);
}
static int c_string(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  logf_(ud, " string ");
  logbytes(ud, v, n);
  logf_(ud, "\n");
  return tick(ud);
}
static int c_elem(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  logf_(ud, " elem ");
  logbytes(ud, v, n);
  logf_(ud, "\n");
  return tick(ud);
}
static int c_field(void *ud, const cairn_rdb_key *k, const uint8_t *f, size_t fl, const uint8_t *v, size_t vl) {
  logf_(ud, " field ");
  logbytes(ud, f, fl);
  logf_(ud, "=");
  logbytes(ud, v, vl);
  logf_(ud, "\n");
  return tick(ud);
}
static int c_zmember(void *ud, const cairn_rdb_key *k, const uint8_t *m, size_t ml, double s) {
  logf_(ud, " zmember ");
  logbytes(ud, m, ml);
  logf_(ud, "=%.17g\n", s);
  return tick(ud);
}
static int c_key_end(void *ud, const cairn_rdb_key *k) {
  logf_(ud, "end ");
  logbytes(ud, k->key, k->key_len);
  logf_(ud, " n=%llu\n", (unsigned long long)k->nelems);
  return tick(ud);
}
static int c_skipped(void *ud, const cairn_rdb_key *k, const char *why) {
  logf_(ud, "skipped type=%u ", k->rdb_type);
  logbytes(ud, k->key, k->key_len);
  logf_(ud, " (%s)\n", why);
  return tick(ud);
}
static int c_eof(void *ud, uint64_t crc, int checked) {
  logf_(ud, "eof checked=%d\n", checked);
  return tick(ud);
}

static const cairn_rdb_callbacks CB = {
    .on_aux = c_aux, .on_select_db = c_select, .on_resize_db = c_resize, .on_function = c_function,
    .on_module_aux = c_modaux, .on_key = c_key, .on_string = c_string, .on_elem = c_elem,
    .on_field = c_field, .on_zmember = c_zmember, .on_key_end = c_key_end, .on_skipped = c_skipped,
    .on_eof = c_eof};

/* Parses buf fed in chunks of `chunk` bytes (0 = all at once). Returns 0 and
 * the log, or -1 with the error copied into err. */
static int parse(const void *buf, size_t n, size_t chunk, size_t maxval, logbuf *l, char *err, size_t errlen) {
  cairn_rdb_reader *r = cairn_rdb_reader_new(&CB, l, maxval);
  assert_non_null(r);
  const uint8_t *p = buf;
  size_t off = 0;
  int rc = 0;
  if (chunk == 0) chunk = n ? n : 1;
  while (off < n) {
    size_t k = n - off < chunk ? n - off : chunk;
    long long used = cairn_rdb_reader_feed(r, p + off, k);
    if (used < 0) {
      rc = -1;
      break;
    }
    assert_true((size_t)used <= k);
    off += (size_t)used;
    if ((size_t)used < k) break;
  }
  if (rc == 0) rc = cairn_rdb_reader_finish(r);
  if (rc == 0) assert_int_equal(off, n);
  if (err) snprintf(err, errlen, "%s", rc ? cairn_rdb_reader_error(r) : "");
  if (rc) assert_non_null(cairn_rdb_reader_error(r));
  cairn_rdb_reader_free(r);
  return rc;
}

/* ---- byte builder ------------------------------------------------------- */

typedef cairn_rdb_buf bb;
static void b_put(bb *b, const void *p, size_t n) { assert_int_equal(cairn_rdb_buf_write(b, p, n), 0); }
static void b_u8(bb *b, unsigned v) {
  uint8_t x = (uint8_t)v;
  b_put(b, &x, 1);
}
static void b_le(bb *b, uint64_t v, int n) {
  for (int i = 0; i < n; i++) b_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}
static void b_len(bb *b, uint64_t v) {
  if (v < 64) b_u8(b, (unsigned)v);
  else if (v < 16384) {
    b_u8(b, 0x40 | (unsigned)(v >> 8));
    b_u8(b, (unsigned)v & 0xff);
  } else {
    b_u8(b, 0x80);
    for (int i = 3; i >= 0; i--) b_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
  }
}
static void b_str(bb *b, const void *p, size_t n) {
  b_len(b, n);
  b_put(b, p, n);
}
static void b_cstr(bb *b, const char *s) { b_str(b, s, strlen(s)); }
static void b_head(bb *b, const char *ver) { b_put(b, ver, 9); }
static void b_eof(bb *b) {
  b_u8(b, 0xff);
  uint64_t crc = cairn_rdb_crc64(0, b->data, b->len);
  b_le(b, crc, 8);
}

/* listpack builder */
static void lp_backlen(bb *b, size_t l) {
  if (l <= 127) {
    b_u8(b, (unsigned)l);
    return;
  }
  size_t n = l < 16383 ? 2 : 3;
  for (size_t i = 0; i < n; i++) {
    unsigned v = (unsigned)(l >> (7 * (n - 1 - i))) & 127;
    b_u8(b, i ? v | 128 : v);
  }
}
static void lp_str(bb *b, const char *s, size_t n) {
  size_t start = b->len;
  if (n < 64) b_u8(b, 0x80 | (unsigned)n);
  else if (n < 4096) {
    b_u8(b, 0xE0 | (unsigned)(n >> 8));
    b_u8(b, (unsigned)n & 0xff);
  } else {
    b_u8(b, 0xF0);
    b_le(b, n, 4);
  }
  b_put(b, s, n);
  lp_backlen(b, b->len - start);
}
static void lp_int(bb *b, int64_t v) {
  size_t start = b->len;
  if (v >= 0 && v <= 127) b_u8(b, (unsigned)v);
  else if (v >= -4096 && v <= 4095) {
    uint64_t u = (uint64_t)v & 0x1fff;
    b_u8(b, 0xC0 | (unsigned)(u >> 8));
    b_u8(b, (unsigned)u & 0xff);
  } else if (v >= -32768 && v <= 32767) {
    b_u8(b, 0xF1);
    b_le(b, (uint64_t)v, 2);
  } else if (v >= -8388608 && v <= 8388607) {
    b_u8(b, 0xF2);
    b_le(b, (uint64_t)v, 3);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    b_u8(b, 0xF3);
    b_le(b, (uint64_t)v, 4);
  } else {
    b_u8(b, 0xF4);
    b_le(b, (uint64_t)v, 8);
  }
  lp_backlen(b, b->len - start);
}
static void lp_begin(bb *b) { b_put(b, "\0\0\0\0\0\0", 6); }
static void lp_end(bb *b, unsigned count) {
  b_u8(b, 0xff);
  for (int i = 0; i < 4; i++) b->data[i] = (uint8_t)(b->len >> (8 * i));
  b->data[4] = (uint8_t)count;
  b->data[5] = (uint8_t)(count >> 8);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_crc64(void **st) {
  assert_true(cairn_rdb_crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9caULL);
  assert_true(cairn_rdb_crc64(0, "", 0) == 0);
  /* chaining and the slicing-by-8 path agree with byte at a time */
  uint8_t data[1000];
  for (int i = 0; i < 1000; i++) data[i] = (uint8_t)(i * 31 + 7);
  uint64_t whole = cairn_rdb_crc64(0, data, sizeof data), c = 0;
  for (int i = 0; i < 1000; i++) c = cairn_rdb_crc64(c, data + i, 1);
  assert_true(whole == c);
  assert_true(cairn_rdb_crc64(cairn_rdb_crc64(0, data, 333), data + 333, 667) == whole);
}

static const uint8_t EXAMPLE[] = {
    0x52, 0x45, 0x44, 0x49, 0x53, 0x30, 0x30, 0x31, 0x30, 0xfa, 0x09, 0x72, 0x65, 0x64, 0x69, 0x73, 0x2d,
    0x76, 0x65, 0x72, 0x06, 0x37, 0x2e, 0x30, 0x2e, 0x31, 0x35, 0xfe, 0x00, 0xfb, 0x01, 0x00, 0x00, 0x01,
    0x6b, 0x01, 0x76, 0xff, 0x1c, 0x9d, 0xf7, 0x03, 0xc5, 0xd5, 0xaa, 0x37};

static void test_protocol_example(void **st) {
  bb b = {0};
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, -1);
  assert_int_equal(cairn_rdb_writer_begin(w, NULL), 0);
  assert_int_equal(cairn_rdb_writer_aux(w, "redis-ver", "7.0.15", 6), 0);
  assert_int_equal(cairn_rdb_writer_select_db(w, 0, 1, 0), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STRING, "k", 1, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_string(w, "v", 1), 0);
  assert_int_equal(cairn_rdb_writer_end(w), 0);
  assert_int_equal(cairn_rdb_writer_bytes(w), sizeof EXAMPLE);
  cairn_rdb_writer_free(w);
  assert_int_equal(b.len, sizeof EXAMPLE);
  assert_memory_equal(b.data, EXAMPLE, sizeof EXAMPLE);
  logbuf l = {0};
  assert_int_equal(parse(EXAMPLE, sizeof EXAMPLE, 1, 0, &l, NULL, 0), 0);
  assert_string_equal(l.s,
                      "aux redis-ver=7.0.15\nselect 0\nresize 1 0\n"
                      "key db=0 type=0 kind=0 k exp=-1 idle=-1 freq=-1\n string v\nend k n=1\neof checked=1\n");
  free(l.s);
  free(b.data);
  /* the smallest valid file */
  const uint8_t tiny[] = {'R', 'E', 'D', 'I', 'S', '0', '0', '1', '0', 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
  logbuf t = {0};
  assert_int_equal(parse(tiny, sizeof tiny, 0, 0, &t, NULL, 0), 0);
  assert_string_equal(t.s, "eof checked=0\n");
  free(t.s);
}

static void test_aux_encoding(void **st) {
  bb b = {0};
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, -1);
  cairn_rdb_aux aux = {.ctime = 1700000000, .used_mem = 5000000000LL, .with_repl = 1,
                       .repl_stream_db = 2, .repl_id = "8de0c1bbd2b9dd1b5b9d0fd3b4e2b4a4cafe0042",
                       .repl_offset = 777};
  assert_int_equal(cairn_rdb_writer_begin(w, &aux), 0);
  assert_int_equal(cairn_rdb_writer_end(w), 0);
  cairn_rdb_writer_free(w);
  /* redis-bits is "fa 0a redis-bits c0 40"; ctime int32; used-mem does not fit: plain */
  assert_non_null(memmem(b.data, b.len, "\xfa\x0aredis-bits\xc0\x40", 14));
  assert_non_null(memmem(b.data, b.len, "\xfa\x05" "ctime\xc2\x00\xf1\x53\x65", 12));
  assert_non_null(memmem(b.data, b.len, "\x08used-mem\x0a" "5000000000", 20));
  assert_non_null(memmem(b.data, b.len, "\x0erepl-stream-db\xc0\x02", 17));
  assert_non_null(memmem(b.data, b.len, "\x08" "aof-base\xc0\x00", 11));
  logbuf l = {0};
  assert_int_equal(parse(b.data, b.len, 3, 0, &l, NULL, 0), 0);
  assert_string_equal(l.s,
                      "aux redis-ver=7.0.15\naux redis-bits=64\naux ctime=1700000000\naux used-mem=5000000000\n"
                      "aux repl-stream-db=2\naux repl-id=8de0c1bbd2b9dd1b5b9d0fd3b4e2b4a4cafe0042\n"
                      "aux repl-offset=777\naux aof-base=0\neof checked=1\n");
  free(l.s);
  free(b.data);
}

/* A rich RDB through the writer; the log the reader must produce. */
static void write_rich(bb *b, int node_elems, logbuf *expect) {
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, b, node_elems);
  logbuf *e = expect;
  size_t start_len = b->len;
  assert_int_equal(cairn_rdb_writer_begin(w, NULL), 0);
  assert_int_equal(cairn_rdb_writer_select_db(w, 0, 9, 1), 0);
  logf_(e, "select 0\nresize 9 1\n");
  const char *strs[] = {"v", "0", "-1", "127", "-128", "128", "-32768", "32767", "32768", "-2147483648",
                        "2147483647", "2147483648", "-2147483649", "12345678901", "123456789012",
                        "007", "-0", "+5", " 1", "1 ", "", "9223372036854775807", "-9223372036854775808"};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
    char k[32];
    snprintf(k, sizeof k, "%zu", i * 1000);   /* integer-encoded keys */
    assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STRING, k, strlen(k),
                                          i == 2 ? 1893456000000LL : CAIRN_RDB_NO_EXPIRE), 0);
    assert_int_equal(cairn_rdb_writer_string(w, strs[i], strlen(strs[i])), 0);
    logf_(e, "key db=0 type=0 kind=0 %s exp=%lld idle=-1 freq=-1\n string ", k,
          i == 2 ? 1893456000000LL : -1LL);
    logbytes(e, (const uint8_t *)strs[i], strlen(strs[i]));
    logf_(e, "\nend %s n=1\n", k);
  }
  static uint8_t big[300000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7 + (i >> 11));
  /* list with every listpack int width, strings of 1/2/5-byte headers and
   * backlens of 1, 2 and 3 bytes */
  const char *els[] = {"a", "0", "127", "128", "-1", "-4096", "4095", "4096", "-4097", "32767", "-32768",
                       "32768", "8388607", "-8388608", "8388608", "2147483647", "-2147483648",
                       "2147483648", "9223372036854775807", "-9223372036854775808",
                       "18446744073709551616", "-0", "01"};
  size_t nels = sizeof els / sizeof *els;
  size_t sizes[] = {63, 64, 127, 200, 4095, 4096, 20000, 300000};
  size_t nsz = sizeof sizes / sizeof *sizes;
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_LIST, "list", 4, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, nels + nsz), 0);
  logf_(e, "key db=0 type=18 kind=1 list exp=-1 idle=-1 freq=-1\n");
  for (size_t i = 0; i < nels; i++) {
    assert_int_equal(cairn_rdb_writer_elem(w, els[i], strlen(els[i])), 0);
    logf_(e, " elem %s\n", els[i]);
  }
  for (size_t i = 0; i < nsz; i++) {
    assert_int_equal(cairn_rdb_writer_elem(w, big, sizes[i]), 0);
    logf_(e, " elem ");
    logbytes(e, big, sizes[i]);
    logf_(e, "\n");
  }
  assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  logf_(e, "end list n=%zu\n", nels + nsz);
  /* set */
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_SET, "set", 3, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 3), 0);
  logf_(e, "key db=0 type=2 kind=2 set exp=-1 idle=-1 freq=-1\n");
  for (int i = 0; i < 3; i++) {
    const char *m[] = {"x", "-7", "hello world"};
    assert_int_equal(cairn_rdb_writer_elem(w, m[i], strlen(m[i])), 0);
    logf_(e, " elem ");
    logbytes(e, (const uint8_t *)m[i], strlen(m[i]));
    logf_(e, "\n");
  }
  assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  logf_(e, "end set n=3\n");
  /* hash */
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_HASH, "h", 1, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 2), 0);
  assert_int_equal(cairn_rdb_writer_field(w, "f", 1, "1", 1), 0);
  assert_int_equal(cairn_rdb_writer_field(w, "", 0, big, 1000), 0);
  assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  logf_(e, "key db=0 type=4 kind=4 h exp=-1 idle=-1 freq=-1\n field f=1\n field =");
  logbytes(e, big, 1000);
  logf_(e, "\nend h n=2\n");
  /* zset */
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_ZSET, "z", 1, CAIRN_RDB_NO_EXPIRE), 0);
  double sc[] = {0, -0.5, 1e308, INFINITY, -INFINITY, 0.1, 3};
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 7), 0);
  logf_(e, "key db=0 type=5 kind=3 z exp=-1 idle=-1 freq=-1\n");
  for (int i = 0; i < 7; i++) {
    char m[8];
    snprintf(m, sizeof m, "m%d", i);
    assert_int_equal(cairn_rdb_writer_zmember(w, m, strlen(m), sc[i]), 0);
    logf_(e, " zmember %s=%.17g\n", m, sc[i]);
  }
  assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  logf_(e, "end z n=7\n");
  assert_int_equal(cairn_rdb_writer_select_db(w, 15, 1, 0), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STRING, "last", 4, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_string(w, big, sizeof big), 0);
  logf_(e, "select 15\nresize 1 0\nkey db=15 type=0 kind=0 last exp=-1 idle=-1 freq=-1\n string ");
  logbytes(e, big, sizeof big);
  logf_(e, "\nend last n=1\neof checked=1\n");
  assert_int_equal(cairn_rdb_writer_end(w), 0);
  assert_int_equal(cairn_rdb_writer_bytes(w), b->len - start_len);
  cairn_rdb_writer_free(w);
}

static void test_round_trip(void **st) {
  int layouts[] = {0, 1, 3, 128, 65534};
  for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++) {
    bb b = {0};
    logbuf e = {0};
    write_rich(&b, layouts[i], &e);
    size_t chunks[] = {0, 1, 2, 7, 4096, 100000};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
      if (chunks[c] == 1 && layouts[i] != 3) continue;   /* 1-byte feeding: one layout is enough */
      logbuf l = {0};
      char err[300];
      int rc = parse(b.data, b.len, chunks[c], 0, &l, err, sizeof err);
      if (rc) fail_msg("layout %d chunk %zu: %s", layouts[i], chunks[c], err);
      assert_string_equal(l.s, e.s);
      free(l.s);
    }
    free(e.s);
    free(b.data);
  }
}

static void test_writer_misuse(void **st) {
  bb b = {0};
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, -1);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STRING, "k", 1, -1), -1);
  assert_non_null(strstr(cairn_rdb_writer_error(w), "misuse"));
  assert_int_equal(cairn_rdb_writer_end(w), -1);   /* sticky */
  cairn_rdb_writer_free(w);
  w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, -1);
  assert_int_equal(cairn_rdb_writer_begin(w, NULL), 0);
  assert_int_equal(cairn_rdb_writer_select_db(w, 0, 1, 0), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_SET, "k", 1, -1), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 2), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "a", 1), 0);
  assert_int_equal(cairn_rdb_writer_field(w, "a", 1, "b", 1), -1);
  cairn_rdb_writer_free(w);
  w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, -1);
  assert_int_equal(cairn_rdb_writer_begin(w, NULL), 0);
  assert_int_equal(cairn_rdb_writer_select_db(w, 0, 1, 0), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_ZSET, "k", 1, -1), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 2), 0);
  assert_int_equal(cairn_rdb_writer_zmember(w, "a", 1, 1), 0);
  assert_int_equal(cairn_rdb_writer_coll_end(w), -1);   /* 1 of 2 */
  assert_non_null(strstr(cairn_rdb_writer_error(w), "declared"));
  cairn_rdb_writer_free(w);
  w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, -1);
  assert_int_equal(cairn_rdb_writer_begin(w, NULL), 0);
  assert_int_equal(cairn_rdb_writer_select_db(w, 0, 1, 0), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_ZSET, "k", 1, -1), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 1), 0);
  assert_int_equal(cairn_rdb_writer_zmember(w, "a", 1, NAN), -1);
  cairn_rdb_writer_free(w);
  free(b.data);
}

static int failing_write(void *ud, const void *p, size_t n) { return -1; }

static void test_writer_callback_failure(void **st) {
  cairn_rdb_writer *w = cairn_rdb_writer_new(failing_write, NULL, -1);
  assert_int_equal(cairn_rdb_writer_begin(w, NULL), 0);   /* buffered */
  assert_int_equal(cairn_rdb_writer_end(w), -1);
  assert_non_null(strstr(cairn_rdb_writer_error(w), "write callback"));
  cairn_rdb_writer_free(w);
}

static void test_lzf(void **st) {
  uint8_t out[64];
  /* literal run */
  const uint8_t lit[] = {0x02, 'a', 'b', 'c'};
  assert_int_equal(cairn_rdb_lzf_decompress(lit, sizeof lit, out, 3), 0);
  assert_memory_equal(out, "abc", 3);
  /* "abcabcabcabc": literal abc, back-ref len 9 (L=7 -> ext 0 +2), dist 3 */
  const uint8_t rep[] = {0x02, 'a', 'b', 'c', 0xE0, 0x00, 0x02};
  assert_int_equal(cairn_rdb_lzf_decompress(rep, sizeof rep, out, 12), 0);
  assert_memory_equal(out, "abcabcabcabc", 12);
  /* overlapping run: "a" then ref dist 1 len 3 -> "aaaa" */
  const uint8_t ov[] = {0x00, 'a', 0x20, 0x00};
  assert_int_equal(cairn_rdb_lzf_decompress(ov, sizeof ov, out, 4), 0);
  assert_memory_equal(out, "aaaa", 4);
  /* extended length: L = 7 + 10, copy 19 */
  const uint8_t ext[] = {0x00, 'z', 0xE0, 10, 0x00};
  assert_int_equal(cairn_rdb_lzf_decompress(ext, sizeof ext, out, 20), 0);
  for (int i = 0; i < 20; i++) assert_int_equal(out[i], 'z');
  /* errors */
  assert_int_equal(cairn_rdb_lzf_decompress(lit, sizeof lit, out, 2), -1);     /* output too small */
  assert_int_equal(cairn_rdb_lzf_decompress(lit, sizeof lit, out, 4), -1);     /* wrong length */
  assert_int_equal(cairn_rdb_lzf_decompress(lit, 3, out, 3), -1);              /* truncated literal */
  const uint8_t far[] = {0x00, 'a', 0x20, 0x05};                               /* distance 6 > 1 */
  assert_int_equal(cairn_rdb_lzf_decompress(far, sizeof far, out, 4), -1);
  const uint8_t cut[] = {0x00, 'a', 0xE0};                                     /* missing bytes */
  assert_int_equal(cairn_rdb_lzf_decompress(cut, sizeof cut, out, 12), -1);
  const uint8_t cut2[] = {0x00, 'a', 0x20};
  assert_int_equal(cairn_rdb_lzf_decompress(cut2, sizeof cut2, out, 4), -1);
  assert_int_equal(cairn_rdb_lzf_decompress(NULL, 0, out, 0), 0);
  /* an LZF string inside an RDB */
  bb b = {0};
  b_head(&b, "REDIS0010");
  b_u8(&b, 0);
  b_cstr(&b, "k");
  b_u8(&b, 0xC3);
  b_len(&b, sizeof rep);
  b_len(&b, 12);
  b_put(&b, rep, sizeof rep);
  b_eof(&b);
  logbuf l = {0};
  assert_int_equal(parse(b.data, b.len, 1, 0, &l, NULL, 0), 0);
  assert_non_null(strstr(l.s, " string abcabcabcabc\n"));
  free(l.s);
  /* corrupt LZF: error with an offset */
  b.data[9 + 1 + 2 + 3 + 4] = 0x1f;   /* the back-reference becomes a long literal run */
  b.len -= 8;
  b_le(&b, cairn_rdb_crc64(0, b.data, b.len), 8);
  logbuf m = {0};
  char err[300];
  assert_int_equal(parse(b.data, b.len, 0, 0, &m, err, sizeof err), -1);
  assert_non_null(strstr(err, "invalid LZF data"));
  assert_non_null(strstr(err, "offset 12:"));   /* the 0xC3 of the value */
  free(m.s);
  free(b.data);
}

/* Hand-made blobs for every encoding 7.0 writes, and the opcodes. */
static void build_blobs(bb *b) {
  b_head(b, "REDIS0010");
  b_u8(b, CAIRN_RDB_OP_AUX);
  b_cstr(b, "redis-ver");
  b_cstr(b, "7.0.15");
  b_u8(b, CAIRN_RDB_OP_MODULE_AUX);   /* module aux: id, when-opcode 2, when, then opcodes */
  b_len(b, 0x12345678ULL);
  b_len(b, 2);
  b_len(b, 2);
  b_len(b, 1); b_len(b, 99);
  b_len(b, 2); b_len(b, 100000);
  b_len(b, 3); b_le(b, 0, 4);
  b_len(b, 4); b_le(b, 0, 8);
  b_len(b, 5); b_cstr(b, "module string");
  b_len(b, 0);
  b_u8(b, CAIRN_RDB_OP_FUNCTION2);
  b_cstr(b, "#!lua name=lib\nf()");
  b_u8(b, CAIRN_RDB_OP_SELECTDB);
  b_len(b, 2);
  b_u8(b, CAIRN_RDB_OP_RESIZEDB);
  b_len(b, 10);
  b_len(b, 1);
  /* intsets of width 2, 4, 8 */
  int64_t vals[3][3] = {{-300, 5, 32000}, {-2000000000, 0, 100000}, {INT64_MIN, 1, 5000000000LL}};
  for (int w = 0; w < 3; w++) {
    int width = 2 << w;
    bb s = {0};
    b_le(&s, (uint64_t)width, 4);
    b_le(&s, 3, 4);
    for (int i = 0; i < 3; i++) b_le(&s, (uint64_t)vals[w][i], width);
    b_u8(b, CAIRN_RDB_OP_IDLE);
    b_len(b, 1000 + (uint64_t)w);
    b_u8(b, 11);
    char k[8];
    snprintf(k, sizeof k, "is%d", width);
    b_cstr(b, k);
    b_str(b, s.data, s.len);
    free(s.data);
  }
  /* hash listpack */
  {
    bb s = {0};
    lp_begin(&s);
    lp_str(&s, "f", 1);
    lp_int(&s, 12);
    lp_int(&s, -5000);
    lp_str(&s, "a value that is longer than sixty-four bytes, to get a 12-bit string header", 76);
    lp_end(&s, 4);
    b_u8(b, CAIRN_RDB_OP_FREQ);
    b_u8(b, 5);
    b_u8(b, 16);
    b_cstr(b, "hlp");
    b_str(b, s.data, s.len);
    free(s.data);
  }
  /* zset listpack: integer and text scores; count 65535 = unknown */
  {
    bb s = {0};
    lp_begin(&s);
    lp_str(&s, "a", 1);
    lp_int(&s, -3);
    lp_str(&s, "b", 1);
    lp_str(&s, "2.5", 3);
    lp_str(&s, "c", 1);
    lp_str(&s, "inf", 3);
    lp_end(&s, 65535);
    b_u8(b, CAIRN_RDB_OP_EXPIRETIME_MS);
    b_le(b, 1700000000123ULL, 8);
    b_u8(b, 17);
    b_cstr(b, "zlp");
    b_str(b, s.data, s.len);
    free(s.data);
  }
  /* quicklist 2: packed node, plain node, empty packed node, LZF packed node */
  {
    bb s = {0};
    lp_begin(&s);
    lp_int(&s, 1);
    lp_int(&s, 8388607);
    lp_int(&s, -8388608);
    lp_int(&s, INT32_MIN);
    lp_int(&s, INT64_MAX);
    lp_str(&s, "s", 1);
    lp_end(&s, 6);
    bb e = {0};
    lp_begin(&e);
    lp_end(&e, 0);
    b_u8(b, 18);
    b_cstr(b, "ql");
    b_len(b, 4);
    b_len(b, 2);
    b_str(b, s.data, s.len);
    b_len(b, 1);
    b_cstr(b, "plain element");
    b_len(b, 2);
    b_str(b, e.data, e.len);
    /* LZF-compressed listpack: all literals */
    b_len(b, 2);
    b_u8(b, 0xC3);
    b_len(b, s.len + (s.len + 31) / 32);
    b_len(b, s.len);
    for (size_t off = 0; off < s.len; off += 32) {
      size_t run = s.len - off < 32 ? s.len - off : 32;
      b_u8(b, (unsigned)run - 1);
      b_put(b, s.data + off, run);
    }
    free(s.data);
    free(e.data);
  }
  /* legacy list, zset with text scores, old EXPIRETIME in seconds */
  b_u8(b, CAIRN_RDB_OP_EXPIRETIME);
  b_le(b, 1700000000, 4);
  b_u8(b, 1);
  b_cstr(b, "oldlist");
  b_len(b, 2);
  b_cstr(b, "x");
  b_u8(b, 0xC1);
  b_le(b, (uint64_t)-1000, 2);
  b_u8(b, 3);
  b_cstr(b, "oldz");
  b_len(b, 4);
  b_cstr(b, "n"); b_u8(b, 253);
  b_cstr(b, "p"); b_u8(b, 254);
  b_cstr(b, "m"); b_u8(b, 255);
  b_cstr(b, "t"); b_u8(b, 4); b_put(b, "-1.5", 4);
  /* stream v2 with 2 nodes, 2 groups, a PEL and consumers */
  b_u8(b, 19);
  b_cstr(b, "stream");
  b_len(b, 2);
  for (int i = 0; i < 2; i++) {
    b_str(b, "0123456789abcdef", 16);
    b_cstr(b, "listpack bytes are not parsed when skipping");
  }
  for (int i = 0; i < 8; i++) b_len(b, (uint64_t)i * 100000);
  b_len(b, 2);
  b_cstr(b, "g1");
  b_len(b, 5); b_len(b, 6); b_len(b, 7);
  b_len(b, 2);
  for (int i = 0; i < 2; i++) {
    b_put(b, "IDIDIDIDIDIDIDID", 16);
    b_le(b, 1700000000000ULL, 8);
    b_len(b, 3);
  }
  b_len(b, 2);
  b_cstr(b, "alice"); b_le(b, 1, 8); b_len(b, 1); b_put(b, "IDIDIDIDIDIDIDID", 16);
  b_cstr(b, "bob"); b_le(b, 1, 8); b_len(b, 0);
  b_cstr(b, "g2");
  b_len(b, 0); b_len(b, 0); b_len(b, 0);
  b_len(b, 0);
  b_len(b, 0);
  /* stream v1 with nothing */
  b_u8(b, 15);
  b_cstr(b, "s1");
  b_len(b, 0);
  b_len(b, 0); b_len(b, 0); b_len(b, 0);
  b_len(b, 0);
  /* module value */
  b_u8(b, 7);
  b_cstr(b, "modkey");
  b_len(b, 0xabcdef);
  b_len(b, 5); b_cstr(b, "payload");
  b_len(b, 0);
  /* empty set */
  b_u8(b, 2);
  b_cstr(b, "empty");
  b_len(b, 0);
  b_eof(b);
}

static const char *BLOBS_LOG =
    "aux redis-ver=7.0.15\n"
    "module-aux 12345678\n"
    "function #!lua\\x20name=lib\\x0af()\n"
    "select 2\nresize 10 1\n"
    "key db=2 type=11 kind=2 is2 exp=-1 idle=1000 freq=-1\n elem -300\n elem 5\n elem 32000\nend is2 n=3\n"
    "key db=2 type=11 kind=2 is4 exp=-1 idle=1001 freq=-1\n elem -2000000000\n elem 0\n elem 100000\nend is4 n=3\n"
    "key db=2 type=11 kind=2 is8 exp=-1 idle=1002 freq=-1\n elem -9223372036854775808\n elem 1\n"
    " elem 5000000000\nend is8 n=3\n"
    "key db=2 type=16 kind=4 hlp exp=-1 idle=-1 freq=5\n field f=12\n field -5000=<76:";

static void test_blobs(void **st) {
  bb b = {0};
  build_blobs(&b);
  logbuf ref = {0};
  char err[300];
  int rc = parse(b.data, b.len, 0, 0, &ref, err, sizeof err);
  if (rc) fail_msg("%s", err);
  assert_memory_equal(ref.s, BLOBS_LOG, strlen(BLOBS_LOG));
  const char *rest[] = {
      "key db=2 type=17 kind=3 zlp exp=1700000000123 idle=-1 freq=-1\n zmember a=-3\n zmember b=2.5\n"
      " zmember c=inf\nend zlp n=3\n",
      "key db=2 type=18 kind=1 ql exp=-1 idle=-1 freq=-1\n elem 1\n elem 8388607\n elem -8388608\n"
      " elem -2147483648\n elem 9223372036854775807\n elem s\n elem plain\\x20element\n elem 1\n"
      " elem 8388607\n elem -8388608\n elem -2147483648\n elem 9223372036854775807\n elem s\nend ql n=13\n",
      "key db=2 type=1 kind=1 oldlist exp=1700000000000 idle=-1 freq=-1\n elem x\n elem -1000\nend oldlist n=2\n",
      "key db=2 type=3 kind=3 oldz exp=-1 idle=-1 freq=-1\n zmember n=nan\n zmember p=inf\n zmember m=-inf\n"
      " zmember t=-1.5\nend oldz n=4\n",
      "skipped type=19 stream (stream)\nskipped type=15 s1 (stream)\n"
      "skipped type=7 modkey (module value (no module loaded))\n"
      "key db=2 type=2 kind=2 empty exp=-1 idle=-1 freq=-1\nend empty n=0\neof checked=1\n"};
  const char *at = ref.s;
  for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) {
    const char *f = strstr(at, rest[i]);
    if (!f) fail_msg("missing:\n%s\nin:\n%s", rest[i], ref.s);
    at = f + strlen(rest[i]);
  }
  assert_int_equal(*at, 0);
  /* same log fed one byte at a time and in odd chunks */
  size_t chunks[] = {1, 2, 3, 5, 13, 64};
  for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
    logbuf l = {0};
    assert_int_equal(parse(b.data, b.len, chunks[c], 0, &l, NULL, 0), 0);
    assert_string_equal(l.s, ref.s);
    free(l.s);
  }
  free(ref.s);
  free(b.data);
}

static void test_truncated_and_corrupt(void **st) {
  bb b = {0};
  build_blobs(&b);
  logbuf e = {0};
  write_rich(&b, 3, &e);   /* appended: two files back to back; parse only the first */
  free(e.s);
  bb one = {0};
  build_blobs(&one);
  size_t n = one.len;
  free(one.data);
  /* every prefix: a clean "truncated" error */
  for (size_t cut = 0; cut < n; cut++) {
    logbuf l = {0};
    char err[300];
    assert_int_equal(parse(b.data, cut, cut % 3 ? 0 : 1, 0, &l, err, sizeof err), -1);
    if (!strstr(err, "truncated")) fail_msg("cut %zu: %s", cut, err);
    free(l.s);
  }
  /* the RDB ends where it ends: the second file's bytes are not consumed */
  cairn_rdb_reader *r = cairn_rdb_reader_new(NULL, NULL, 0);
  assert_int_equal(cairn_rdb_reader_feed(r, b.data, b.len), (long long)n);
  assert_int_equal(cairn_rdb_reader_done(r), 1);
  assert_int_equal(cairn_rdb_reader_offset(r), n);
  assert_int_equal(cairn_rdb_reader_finish(r), 0);
  cairn_rdb_reader_free(r);
  /* every single-byte corruption is an error (CRC or format) */
  uint8_t *c = malloc(n);
  for (size_t i = 0; i < n; i++) {
    memcpy(c, b.data, n);
    c[i] ^= (uint8_t)(1u << (i % 8));
    logbuf l = {0};
    char err[300];
    if (parse(c, n, 0, 0, &l, err, sizeof err) == 0) fail_msg("flip at %zu accepted", i);
    free(l.s);
  }
  /* with the CRC zeroed, corruption reaches every parser: never a crash */
  for (size_t i = 9; i < n - 9; i++) {
    for (int v = 0; v < 3; v++) {
      memcpy(c, b.data, n);
      memset(c + n - 8, 0, 8);
      c[i] = v == 0 ? (uint8_t)(c[i] ^ 0x80) : v == 1 ? 0xff : (uint8_t)(c[i] + 1);
      logbuf l = {0};
      parse(c, n, i % 2 ? 0 : 7, 4096, &l, NULL, 0);
      free(l.s);
    }
  }
  free(c);
  free(b.data);
}

static void test_reader_errors(void **st) {
  char err[300];
  logbuf l = {0};
  const char *bad[] = {"REDIS0011", "REDIS0000", "RADIS0010", "REDIS00x0"};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(parse(bad[i], 9, 0, 0, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "offset"));
  }
  assert_non_null(strstr((parse(bad[0], 9, 0, 0, &l, err, sizeof err), err), "version 11"));
  /* version 1..4: no CRC after EOF; 5..10 accepted */
  const char *v4 = "REDIS0004\xff";
  assert_int_equal(parse(v4, 10, 0, 0, &l, err, sizeof err), 0);
  bb b = {0};
  b_head(&b, "REDIS0009");
  b_eof(&b);
  assert_int_equal(parse(b.data, b.len, 0, 0, &l, err, sizeof err), 0);
  /* wrong CRC */
  b.data[b.len - 1] ^= 1;
  assert_int_equal(parse(b.data, b.len, 0, 0, &l, err, sizeof err), -1);
  assert_non_null(strstr(err, "checksum"));
  assert_non_null(strstr(err, "offset 10"));
  free(b.data);
  /* unknown types and module type 6 (the legacy encodings 9, 10, 12, 13,
   * 14 are loaded: tests/integration/test_generic_types.py checks them
   * against redis) */
  unsigned types[] = {6, 8, 20, 200};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    bb t = {0};
    b_head(&t, "REDIS0010");
    b_u8(&t, types[i]);
    b_cstr(&t, "k");
    b_eof(&t);
    assert_int_equal(parse(t.data, t.len, 0, 0, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "offset 9:"));
    free(t.data);
  }
  /* value limit */
  bb big = {0};
  b_head(&big, "REDIS0010");
  b_u8(&big, 0);
  b_cstr(&big, "k");
  char v[5000];
  memset(v, 'x', sizeof v);
  b_str(&big, v, sizeof v);
  b_eof(&big);
  assert_int_equal(parse(big.data, big.len, 0, 4096, &l, err, sizeof err), -1);
  assert_non_null(strstr(err, "exceeds the limit"));
  assert_int_equal(parse(big.data, big.len, 100, 5000, &l, err, sizeof err), 0);
  free(big.data);
  /* bad listpacks / intsets */
  struct { unsigned type; const char *blob; size_t n; const char *msg; } blobs[] = {
      {16, "\x07\x00\x00\x00\x00\x00\xff", 7, NULL},                      /* empty: ok */
      {16, "\x08\x00\x00\x00\x01\x00\x01\xff", 8, "entry"},               /* no backlen */
      {16, "\x09\x00\x00\x00\x01\x00\x01\x01\xff", 9, "odd"},
      {17, "\x09\x00\x00\x00\x02\x00\x01\x01\xff", 9, "count"},
      {16, "\x07\x00\x00\x00\x00\x00\xfe", 7, "header"},
      {11, "\x03\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00", 11, "header"},
      {11, "\x02\x00\x00\x00\x02\x00\x00\x00\x05\x00\x05\x00", 12, "increasing"},
      {11, "\x02\x00\x00\x00\x03\x00\x00\x00\x05\x00\x06\x00", 12, "header"},
  };
  for (size_t i = 0; i < sizeof blobs / sizeof *blobs; i++) {
    bb t = {0};
    b_head(&t, "REDIS0010");
    b_u8(&t, blobs[i].type);
    b_cstr(&t, "k");
    b_str(&t, blobs[i].blob, blobs[i].n);
    b_eof(&t);
    int rc = parse(t.data, t.len, 0, 0, &l, err, sizeof err);
    if (blobs[i].msg) {
      assert_int_equal(rc, -1);
      if (!strstr(err, blobs[i].msg)) fail_msg("blob %zu: %s", i, err);
    } else {
      assert_int_equal(rc, 0);
    }
    free(t.data);
  }
  free(l.s);
}

static void test_callback_abort(void **st) {
  bb b = {0};
  build_blobs(&b);
  for (int at = 1; at < 40; at++) {
    logbuf l = {.abort_at = at};
    char err[300];
    int rc = parse(b.data, b.len, at % 2 ? 0 : 1, 0, &l, err, sizeof err);
    if (rc == 0) {
      assert_true(at > 30);
    } else {
      assert_non_null(strstr(err, "aborted by callback (7)"));
    }
    free(l.s);
  }
  free(b.data);
}

/* The value test_dump_payloads writes: "hello", or three members. */
static void write_dump_value(cairn_rdb_writer *w, int kind) {
  if (kind == CAIRN_RDB_KIND_STRING) {
    assert_int_equal(cairn_rdb_writer_string(w, "hello", 5), 0);
  } else {
    assert_int_equal(cairn_rdb_writer_coll_begin(w, 3), 0);
    for (int i = 0; i < 3; i++) {
      char m[8];
      snprintf(m, sizeof m, "m%d", i);
      if (kind == CAIRN_RDB_KIND_HASH) assert_int_equal(cairn_rdb_writer_field(w, m, 2, "v", 1), 0);
      else if (kind == CAIRN_RDB_KIND_ZSET) assert_int_equal(cairn_rdb_writer_zmember(w, m, 2, i), 0);
      else assert_int_equal(cairn_rdb_writer_elem(w, m, 2), 0);
    }
    assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  }
}

static void test_dump_payloads(void **st) {
  /* string, and every collection kind */
  for (int kind = CAIRN_RDB_KIND_STRING; kind <= CAIRN_RDB_KIND_HASH; kind++) {
    bb b = {0};
    cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, 2);
    assert_int_equal(cairn_rdb_writer_dump_begin(w, (cairn_rdb_kind)kind), 0);
    write_dump_value(w, kind);
    assert_int_equal(cairn_rdb_writer_end(w), -1);   /* not in dump mode */
    cairn_rdb_writer_free(w);
    w = NULL;
    /* redo cleanly (the failed end() poisoned the first writer) */
    free(b.data);
    b = (bb){0};
    w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, 2);
    assert_int_equal(cairn_rdb_writer_dump_begin(w, (cairn_rdb_kind)kind), 0);
    write_dump_value(w, kind);
    assert_int_equal(cairn_rdb_writer_dump_end(w), 0);
    cairn_rdb_writer_free(w);
    assert_int_equal(b.data[b.len - 10], 10);
    assert_int_equal(b.data[b.len - 9], 0);
    assert_int_equal(cairn_rdb_dump_verify(b.data, b.len), 0);
    logbuf l = {0};
    const char *msg = NULL;
    char detail[300];
    assert_int_equal(cairn_rdb_dump_parse(b.data, b.len, &CB, &l, 0, &msg, detail, sizeof detail), 0);
    assert_non_null(strstr(l.s, kind == CAIRN_RDB_KIND_STRING ? " string hello\n" : "n=3\n"));
    assert_true(strncmp(l.s, "key db=0 type=", 14) == 0);
    free(l.s);
    /* checksum, version, length */
    for (size_t i = 0; i < b.len; i++) {
      b.data[i] ^= 0x10;
      logbuf m = {0};
      assert_int_equal(cairn_rdb_dump_parse(b.data, b.len, &CB, &m, 0, &msg, NULL, 0), -1);
      assert_string_equal(msg, CAIRN_RDB_DUMP_BAD);
      assert_null(m.s);
      b.data[i] ^= 0x10;
    }
    assert_int_equal(cairn_rdb_dump_verify(b.data, 9), -1);
    free(b.data);
  }
  /* version 11 with a valid CRC is refused; version 9 accepted */
  bb p = {0};
  b_u8(&p, 0);
  b_cstr(&p, "v");
  b_le(&p, 11, 2);
  b_le(&p, cairn_rdb_crc64(0, p.data, p.len), 8);
  assert_int_equal(cairn_rdb_dump_verify(p.data, p.len), -1);
  p.len -= 10;
  b_le(&p, 9, 2);
  b_le(&p, cairn_rdb_crc64(0, p.data, p.len), 8);
  assert_int_equal(cairn_rdb_dump_verify(p.data, p.len), 0);
  free(p.data);
  /* trailing bytes after the value, and a truncated value: bad format */
  const char *msg;
  char detail[300];
  bb q = {0};
  b_u8(&q, 0);
  b_cstr(&q, "v");
  b_u8(&q, 0);
  b_le(&q, 10, 2);
  b_le(&q, cairn_rdb_crc64(0, q.data, q.len), 8);
  assert_int_equal(cairn_rdb_dump_parse(q.data, q.len, NULL, NULL, 0, &msg, detail, sizeof detail), -1);
  assert_string_equal(msg, CAIRN_RDB_DUMP_BAD_FORMAT);
  assert_non_null(strstr(detail, "after the value"));
  free(q.data);
  bb t = {0};
  b_u8(&t, 2);
  b_len(&t, 3);
  b_cstr(&t, "a");
  b_le(&t, 10, 2);
  b_le(&t, cairn_rdb_crc64(0, t.data, t.len), 8);
  assert_int_equal(cairn_rdb_dump_parse(t.data, t.len, NULL, NULL, 0, &msg, detail, sizeof detail), -1);
  assert_string_equal(msg, CAIRN_RDB_DUMP_BAD_FORMAT);
  assert_non_null(strstr(detail, "truncated"));
  free(t.data);
  /* a stream payload is skipped and reported */
  bb s = {0};
  b_u8(&s, 15);
  b_len(&s, 0);
  b_len(&s, 0); b_len(&s, 0); b_len(&s, 0);
  b_len(&s, 0);
  b_le(&s, 10, 2);
  b_le(&s, cairn_rdb_crc64(0, s.data, s.len), 8);
  logbuf l = {0};
  assert_int_equal(cairn_rdb_dump_parse(s.data, s.len, &CB, &l, 0, &msg, NULL, 0), 0);
  assert_string_equal(l.s, "skipped type=15  (stream)\n");
  free(l.s);
  free(s.data);
}

/* Compact encodings (intset, listpacks) and caller-made list nodes: the
 * type bytes written, and the same elements read back, fed 1 byte at a time
 * and all at once. */
static void test_writer_compact_and_nodes(void **state) {
  (void)state;
  cairn_rdb_buf out = {0};
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, &out, -1);
  assert_int_equal(cairn_rdb_writer_begin(w, NULL), 0);
  assert_int_equal(cairn_rdb_writer_select_db(w, 0, 4, 0), 0);
  assert_int_equal(cairn_rdb_writer_compact(w), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_SET, "s", 1, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 3), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "-70000", 6), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "2", 1), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "9", 1), 0);
  assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  assert_int_equal(cairn_rdb_writer_compact(w), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_ZSET, "z", 1, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 3), 0);
  assert_int_equal(cairn_rdb_writer_zmember(w, "a", 1, -INFINITY), 0);
  assert_int_equal(cairn_rdb_writer_zmember(w, "b", 1, 2.5), 0);
  assert_int_equal(cairn_rdb_writer_zmember(w, "c", 1, 7), 0);
  assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  assert_int_equal(cairn_rdb_writer_compact(w), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_HASH, "h", 1, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 2), 0);
  assert_int_equal(cairn_rdb_writer_field(w, "f", 1, "12", 2), 0);
  assert_int_equal(cairn_rdb_writer_field(w, "g", 1, "", 0), 0);
  assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  /* a list of 3 nodes: [a b] [big] [c] */
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_LIST, "l", 1, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_list_nodes(w, 3), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 4), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "a", 1), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "b", 1), 0);
  assert_int_equal(cairn_rdb_writer_list_node_end(w), 0);
  char big[9000];
  memset(big, 'q', sizeof big);
  assert_int_equal(cairn_rdb_writer_elem(w, big, sizeof big), 0);
  assert_int_equal(cairn_rdb_writer_list_node_end(w), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "c", 1), 0);
  assert_int_equal(cairn_rdb_writer_coll_end(w), 0);
  assert_int_equal(cairn_rdb_writer_end(w), 0);
  cairn_rdb_writer_free(w);
  for (size_t chunk = 0; chunk < 2; chunk++) {
    logbuf l = {0};
    char err[256];
    assert_int_equal(parse(out.data, out.len, chunk, 0, &l, err, sizeof err), 0);
    assert_non_null(strstr(l.s, "key db=0 type=11 kind=2 s"));
    assert_non_null(strstr(l.s, " elem -70000\n elem 2\n elem 9\nend s n=3"));
    assert_non_null(strstr(l.s, "key db=0 type=17 kind=3 z"));
    assert_non_null(strstr(l.s, " zmember a=-inf\n zmember b=2.5\n zmember c=7\nend z n=3"));
    assert_non_null(strstr(l.s, "key db=0 type=16 kind=4 h"));
    assert_non_null(strstr(l.s, " field f=12\n field g=\nend h n=2"));
    assert_non_null(strstr(l.s, "key db=0 type=18 kind=1 l"));
    assert_non_null(strstr(l.s, " elem a\n elem b\n elem <9000:"));
    assert_non_null(strstr(l.s, " elem c\nend l n=4"));
    free(l.s);
  }
  free(out.data);
  /* misuse: intset members out of order or not integers, node count wrong */
  out = (cairn_rdb_buf){0};
  w = cairn_rdb_writer_new(cairn_rdb_buf_write, &out, -1);
  assert_int_equal(cairn_rdb_writer_compact(w), 0);
  assert_int_equal(cairn_rdb_writer_dump_begin(w, CAIRN_RDB_KIND_SET), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 2), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "5", 1), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "4", 1), -1);
  cairn_rdb_writer_free(w);
  w = cairn_rdb_writer_new(cairn_rdb_buf_write, &out, -1);
  assert_int_equal(cairn_rdb_writer_compact(w), 0);
  assert_int_equal(cairn_rdb_writer_dump_begin(w, CAIRN_RDB_KIND_SET), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 1), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "x", 1), -1);
  cairn_rdb_writer_free(w);
  w = cairn_rdb_writer_new(cairn_rdb_buf_write, &out, -1);
  assert_int_equal(cairn_rdb_writer_dump_begin(w, CAIRN_RDB_KIND_LIST), 0);
  assert_int_equal(cairn_rdb_writer_list_nodes(w, 2), 0);
  assert_int_equal(cairn_rdb_writer_coll_begin(w, 1), 0);
  assert_int_equal(cairn_rdb_writer_elem(w, "x", 1), 0);
  assert_int_equal(cairn_rdb_writer_coll_end(w), -1);
  assert_non_null(strstr(cairn_rdb_writer_error(w), "1 list nodes written, 2 declared"));
  cairn_rdb_writer_free(w);
  free(out.data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc64),
      cmocka_unit_test(test_protocol_example),
      cmocka_unit_test(test_aux_encoding),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_writer_misuse),
      cmocka_unit_test(test_writer_callback_failure),
      cmocka_unit_test(test_lzf),
      cmocka_unit_test(test_blobs),
      cmocka_unit_test(test_truncated_and_corrupt),
      cmocka_unit_test(test_reader_errors),
      cmocka_unit_test(test_callback_abort),
      cmocka_unit_test(test_dump_payloads),
      cmocka_unit_test(test_writer_compact_and_nodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
