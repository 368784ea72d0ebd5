/* Unit tests for the stream part of the RDB codec (type 19): the writer's
 * listpack nodes (master entry, SAMEFIELDS, deleted-free counts, integer
 * elements), groups, pending entries and consumers, read back through
 * on_stream in one piece and byte by byte; a reader without on_stream skips
 * the stream; corrupt node counts are errors. (Interoperability with a real
 * Redis: tests/integration/test_streams.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/rdb/rdb.h"

typedef struct logbuf {
  char s[8192];
  size_t len;
  int skipped, keys, ends;
} logbuf;

static void logf_(logbuf *l, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(l->s + l->len, sizeof l->s - l->len, fmt, ap);
  va_end(ap);
  if (n > 0) l->len += (size_t)n;
  if (l->len >= sizeof l->s) l->len = sizeof l->s - 1;
}

static void log_id(logbuf *l, const uint8_t *id) {
  uint64_t ms = 0, seq = 0;
  for (int i = 0; i < 8; i++) ms = (ms << 8) | id[i];
  for (int i = 8; i < 16; i++) seq = (seq << 8) | id[i];
  logf_(l, "%llu-%llu", (unsigned long long)ms, (unsigned long long)seq);
}

static int on_key(void *ud, const cairn_rdb_key *k) {
  logbuf *l = ud;
  l->keys++;
  assert_int_equal(k->kind, CAIRN_RDB_KIND_STREAM);
  return 0;
}

static int on_stream(void *ud, const cairn_rdb_key *k, const cairn_rdb_stream_item *it) {
  logbuf *l = ud;
  (void)k;
  switch (it->what) {
    case CAIRN_RDB_STREAM_ENTRY:
      logf_(l, "E%llu %llu-%llu", (unsigned long long)it->node, (unsigned long long)it->ms,
            (unsigned long long)it->seq);
      for (uint64_t i = 0; i < 2 * it->nfields; i++) logf_(l, " %.*s", (int)it->fvlen[i], (const char *)it->fv[i]);
      logf_(l, "\n");
      break;
    case CAIRN_RDB_STREAM_META:
      logf_(l, "M len=%llu last=%llu-%llu first=%llu-%llu maxdel=%llu-%llu added=%llu groups=%llu v2=%d\n",
            (unsigned long long)it->length, (unsigned long long)it->last_ms, (unsigned long long)it->last_seq,
            (unsigned long long)it->first_ms, (unsigned long long)it->first_seq, (unsigned long long)it->maxdel_ms,
            (unsigned long long)it->maxdel_seq, (unsigned long long)it->entries_added,
            (unsigned long long)it->groups, it->v2);
      break;
    case CAIRN_RDB_STREAM_GROUP:
      logf_(l, "G %.*s last=%llu-%llu read=%lld pending=%llu\n", (int)it->name_len, (const char *)it->name,
            (unsigned long long)it->ms, (unsigned long long)it->seq,
            it->entries_read == INT64_MIN ? -1LL : (long long)it->entries_read, (unsigned long long)it->pending);
      break;
    case CAIRN_RDB_STREAM_NACK:
      logf_(l, "N ");
      log_id(l, it->id);
      logf_(l, " t=%lld c=%llu\n", (long long)it->time, (unsigned long long)it->count);
      break;
    case CAIRN_RDB_STREAM_CONSUMER:
      logf_(l, "C %.*s seen=%lld pending=%llu\n", (int)it->name_len, (const char *)it->name, (long long)it->time,
            (unsigned long long)it->pending);
      break;
    case CAIRN_RDB_STREAM_CNACK:
      logf_(l, "P ");
      log_id(l, it->id);
      logf_(l, "\n");
      break;
  }
  return 0;
}

static int on_key_end(void *ud, const cairn_rdb_key *k) {
  (void)k;
  ((logbuf *)ud)->ends++;
  return 0;
}

static int on_skipped(void *ud, const cairn_rdb_key *k, const char *why) {
  (void)k;
  (void)why;
  ((logbuf *)ud)->skipped++;
  return 0;
}

static const cairn_rdb_callbacks CB = {.on_key = on_key, .on_stream = on_stream, .on_key_end = on_key_end,
                                       .on_skipped = on_skipped};
static const cairn_rdb_callbacks CB_SKIP = {.on_key = on_key, .on_key_end = on_key_end, .on_skipped = on_skipped};

static void id16(uint8_t *b, uint64_t ms, uint64_t seq) {
  for (int i = 0; i < 8; i++) {
    b[i] = (uint8_t)(ms >> (56 - 8 * i));
    b[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
  }
}

static void entry(cairn_rdb_writer *w, uint64_t ms, uint64_t seq, int n, ...) {
  const void *fv[16];
  size_t fl[16];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < 2 * n; i++) {
    fv[i] = va_arg(ap, const char *);
    fl[i] = strlen(fv[i]);
  }
  va_end(ap);
  assert_int_equal(cairn_rdb_writer_stream_entry(w, ms, seq, (uint64_t)n, fv, fl), 0);
}

/* A DUMP payload of a stream with two nodes, a group, two pending entries
 * and one consumer. */
static void build(cairn_rdb_buf *b) {
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, b, -1);
  assert_int_equal(cairn_rdb_writer_dump_begin(w, CAIRN_RDB_KIND_STREAM), 0);
  assert_int_equal(cairn_rdb_writer_stream_begin(w, 2), 0);
  entry(w, 1, 1, 2, "a", "1", "b", "x");
  entry(w, 1, 2, 2, "a", "-700", "b", "");          /* same fields: SAMEFIELDS */
  entry(w, 2, 0, 1, "c", "12345678901234567890123"); /* other fields; a long number stays text */
  assert_int_equal(cairn_rdb_writer_stream_node_end(w), 0);
  entry(w, 5, 0, 1, "a", "v");
  assert_int_equal(cairn_rdb_writer_stream_node_end(w), 0);
  cairn_rdb_stream_item m = {.what = CAIRN_RDB_STREAM_META, .length = 4, .last_ms = 9, .last_seq = 9,
                             .first_ms = 1, .first_seq = 1, .maxdel_ms = 3, .entries_added = 6, .groups = 1};
  assert_int_equal(cairn_rdb_writer_stream_meta(w, &m), 0);
  assert_int_equal(cairn_rdb_writer_stream_group(w, "g", 1, 2, 0, 3, 2), 0);
  uint8_t id[16];
  id16(id, 1, 1);
  assert_int_equal(cairn_rdb_writer_stream_nack(w, id, 1000, 2), 0);
  id16(id, 2, 0);
  assert_int_equal(cairn_rdb_writer_stream_nack(w, id, 2000, 1), 0);
  assert_int_equal(cairn_rdb_writer_stream_consumers(w, 1), 0);
  assert_int_equal(cairn_rdb_writer_stream_consumer(w, "alice", 5, 5000, 2), 0);
  id16(id, 1, 1);
  assert_int_equal(cairn_rdb_writer_stream_cnack(w, id), 0);
  id16(id, 2, 0);
  assert_int_equal(cairn_rdb_writer_stream_cnack(w, id), 0);
  assert_int_equal(cairn_rdb_writer_stream_end(w), 0);
  assert_int_equal(cairn_rdb_writer_dump_end(w), 0);
  assert_null(cairn_rdb_writer_error(w));
  cairn_rdb_writer_free(w);
}

static const char EXPECTED[] =
    "E0 1-1 a 1 b x\n"
    "E0 1-2 a -700 b \n"
    "E0 2-0 c 12345678901234567890123\n"
    "E1 5-0 a v\n"
    "M len=4 last=9-9 first=1-1 maxdel=3-0 added=6 groups=1 v2=1\n"
    "G g last=2-0 read=3 pending=2\n"
    "N 1-1 t=1000 c=2\n"
    "N 2-0 t=2000 c=1\n"
    "C alice seen=5000 pending=2\n"
    "P 1-1\n"
    "P 2-0\n";

static void test_round_trip(void **st) {
  (void)st;
  cairn_rdb_buf b = {0};
  build(&b);
  assert_int_equal(b.data[0], CAIRN_RDB_TYPE_STREAM_LISTPACKS_2);
  logbuf l = {.len = 0};
  const char *msg = NULL;
  char detail[200] = "";
  assert_int_equal(cairn_rdb_dump_parse(b.data, b.len, &CB, &l, 0, &msg, detail, sizeof detail), 0);
  assert_string_equal(l.s, EXPECTED);
  assert_int_equal(l.keys, 1);
  assert_int_equal(l.ends, 1);
  assert_int_equal(l.skipped, 0);
  /* without on_stream: parsed and skipped */
  logbuf s = {.len = 0};
  assert_int_equal(cairn_rdb_dump_parse(b.data, b.len, &CB_SKIP, &s, 0, &msg, NULL, 0), 0);
  assert_int_equal(s.skipped, 1);
  assert_int_equal(s.keys, 0);
  free(b.data);
}

/* The same value inside a whole RDB, fed one byte at a time. */
static void test_byte_by_byte(void **st) {
  (void)st;
  cairn_rdb_buf b = {0};
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, -1);
  assert_int_equal(cairn_rdb_writer_begin(w, NULL), 0);
  assert_int_equal(cairn_rdb_writer_select_db(w, 0, 1, 0), 0);
  assert_int_equal(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STREAM, "k", 1, CAIRN_RDB_NO_EXPIRE), 0);
  assert_int_equal(cairn_rdb_writer_stream_begin(w, 1), 0);
  for (int i = 0; i < 300; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", i * 37);
    entry(w, 100 + (uint64_t)i, 0, 1, "n", v);
  }
  assert_int_equal(cairn_rdb_writer_stream_node_end(w), 0);
  cairn_rdb_stream_item m = {.what = CAIRN_RDB_STREAM_META, .length = 300, .last_ms = 399, .first_ms = 100,
                             .entries_added = 300};
  assert_int_equal(cairn_rdb_writer_stream_meta(w, &m), 0);
  assert_int_equal(cairn_rdb_writer_stream_end(w), 0);
  assert_int_equal(cairn_rdb_writer_end(w), 0);
  cairn_rdb_writer_free(w);
  logbuf l = {.len = 0};
  cairn_rdb_reader *r = cairn_rdb_reader_new(&CB, &l, 0);
  for (size_t i = 0; i < b.len; i++) assert_int_equal(cairn_rdb_reader_feed(r, b.data + i, 1), 1);
  assert_int_equal(cairn_rdb_reader_finish(r), 0);
  cairn_rdb_reader_free(r);
  assert_non_null(strstr(l.s, "E0 100-0 n 0\n"));
  assert_non_null(strstr(l.s, "E0 399-0 n 11063\n"));
  assert_non_null(strstr(l.s, "M len=300 last=399-0 first=100-0 maxdel=0-0 added=300 groups=0 v2=1\n"));
  assert_int_equal(l.ends, 1);
  free(b.data);
}

/* A node whose master entry count disagrees with its live entries, and an
 * empty node, are corrupt. */
static void test_corrupt_nodes(void **st) {
  (void)st;
  cairn_rdb_buf b = {0};
  build(&b);
  /* the first node's listpack: after type (1), node count (1), key (1 + 16),
   * its length (2: 0x40 | hi, lo) comes the listpack; its first element is
   * the entry count (3) */
  size_t lp = 1 + 1 + 17;
  size_t hdr = (b.data[lp] & 0xC0) == 0x40 ? 2 : 1;
  uint8_t *count = b.data + lp + hdr + 6;
  assert_int_equal(*count, 3);
  *count = 4;
  /* fix the footer's CRC so the value itself is what fails */
  uint64_t crc = cairn_rdb_crc64(0, b.data, b.len - 8);
  for (int i = 0; i < 8; i++) b.data[b.len - 8 + i] = (uint8_t)(crc >> (8 * i));
  logbuf l = {.len = 0};
  const char *msg = NULL;
  char detail[200] = "";
  assert_int_equal(cairn_rdb_dump_parse(b.data, b.len, &CB, &l, 0, &msg, detail, sizeof detail), -1);
  assert_string_equal(msg, CAIRN_RDB_DUMP_BAD_FORMAT);
  assert_non_null(strstr(detail, "live entries"));
  free(b.data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_corrupt_nodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
