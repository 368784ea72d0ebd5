/* libFuzzer target for the RDB reader (replication/rdb/rdb_read.c): what a
 * full sync from any master and a RESTORE from any client feed it.
 *
 * Input layout: byte 0 picks the mode, byte 1 seeds the split points, the
 * rest is the data.
 *   mode 0: a whole RDB stream, "REDIS0010" prepended (so the fuzzer starts
 *           inside the file; an EOF with CRC 0 skips the checksum).
 *   mode 1: a whole RDB stream as given (the header too).
 *   mode 2: a DUMP payload body (<type><value>); the footer (version 10 and
 *           the CRC64 of what precedes it) is appended, so RESTORE's parser
 *           is reached rather than its checksum check.
 * Modes 0 and 1 parse the stream twice, fed in one call and in random
 * pieces; both must report the same callbacks (a hash of every event and
 * its bytes), the same outcome and the same error. Every byte handed to a
 * callback is read (ASan catches a pointer past the reader's buffer), and
 * the reader's limit on one value is small so length checks are reached. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/rdb/rdb.h"

#define MAX_VALUE 4096

typedef struct events {
  uint64_t h;
  uint64_t n;
} events;

static void die(const char *what) {
  fprintf(stderr, "fuzz_rdb: %s\n", what);
  abort();
}

static void mix(events *e, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) e->h = (e->h ^ b[i]) * 1099511628211ULL;
  e->h = (e->h ^ n) * 1099511628211ULL;
  e->n++;
}

static void mix_u64(events *e, uint64_t v) { mix(e, &v, sizeof(v)); }

static void mix_key(events *e, const cairn_rdb_key *k) {
  mix_u64(e, k->db);
  mix_u64(e, k->rdb_type);
  mix_u64(e, (uint64_t)k->kind);
  mix(e, k->key, k->key_len);
  if (k->key[k->key_len] != '\0') die("key not NUL-terminated");
  mix_u64(e, (uint64_t)k->expire_ms);
  mix_u64(e, (uint64_t)k->lru_idle);
  mix_u64(e, (uint64_t)k->lfu_freq);
}

static int on_aux(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  mix(ud, k, kl);
  mix(ud, v, vl);
  return 0;
}
static int on_select_db(void *ud, uint64_t db) {
  mix_u64(ud, db);
  return 0;
}
static int on_resize_db(void *ud, uint64_t a, uint64_t b) {
  mix_u64(ud, a);
  mix_u64(ud, b);
  return 0;
}
static int on_function(void *ud, const uint8_t *code, size_t n) {
  mix(ud, code, n);
  return 0;
}
static int on_module_aux(void *ud, uint64_t id) {
  mix_u64(ud, id);
  return 0;
}
static int on_key(void *ud, const cairn_rdb_key *k) {
  mix_key(ud, k);
  return 0;
}
static int on_string(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  mix(ud, v, n);
  return 0;
}
static int on_elem(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  mix(ud, v, n);
  return 0;
}
static int on_field(void *ud, const cairn_rdb_key *k, const uint8_t *f, size_t fl, const uint8_t *v, size_t vl) {
  mix(ud, f, fl);
  mix(ud, v, vl);
  return 0;
}
static int on_zmember(void *ud, const cairn_rdb_key *k, const uint8_t *m, size_t ml, double score) {
  mix(ud, m, ml);
  mix(ud, &score, sizeof(score));
  return 0;
}
static int on_key_end(void *ud, const cairn_rdb_key *k) {
  mix_key(ud, k);
  mix_u64(ud, k->nelems);
  return 0;
}
static int on_skipped(void *ud, const cairn_rdb_key *k, const char *why) {
  mix_key(ud, k);
  mix(ud, why, strlen(why));
  return 0;
}
static int on_stream(void *ud, const cairn_rdb_key *k, const cairn_rdb_stream_item *it) {
  events *e = ud;
  uint64_t nums[] = {(uint64_t)it->what, (uint64_t)it->v2, it->ms, it->seq, it->node, it->nfields, it->length,
                     it->entries_added, it->last_ms, it->last_seq, it->first_ms, it->first_seq, it->maxdel_ms,
                     it->maxdel_seq, it->groups, (uint64_t)it->entries_read, it->pending, (uint64_t)it->time,
                     it->count};
  mix(e, nums, sizeof(nums));
  if (it->what == CAIRN_RDB_STREAM_ENTRY)
    for (uint64_t i = 0; i < 2 * it->nfields; i++) mix(e, it->fv[i], it->fvlen[i]);
  if (it->what == CAIRN_RDB_STREAM_GROUP || it->what == CAIRN_RDB_STREAM_CONSUMER) mix(e, it->name, it->name_len);
  if (it->what == CAIRN_RDB_STREAM_NACK || it->what == CAIRN_RDB_STREAM_CNACK) mix(e, it->id, 16);
  return 0;
}

static int on_eof(void *ud, uint64_t crc, int checked) {
  mix_u64(ud, crc);
  mix_u64(ud, (uint64_t)checked);
  return 0;
}

static const cairn_rdb_callbacks CB = {.on_aux = on_aux,
                                       .on_select_db = on_select_db,
                                       .on_resize_db = on_resize_db,
                                       .on_function = on_function,
                                       .on_module_aux = on_module_aux,
                                       .on_key = on_key,
                                       .on_string = on_string,
                                       .on_elem = on_elem,
                                       .on_field = on_field,
                                       .on_zmember = on_zmember,
                                       .on_key_end = on_key_end,
                                       .on_stream = on_stream,
                                       .on_skipped = on_skipped,
                                       .on_eof = on_eof};

typedef struct outcome {
  events ev;
  long long consumed; /* total, or -1 */
  int done, finish;
  char err[256];
} outcome;

static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 16;
}

/* Feeds data in one call (split 0) or in pieces, each an exact-size heap
 * copy so a read past what was fed is caught. */
static void run(const uint8_t *data, size_t len, uint32_t seed, int split, outcome *o) {
  memset(o, 0, sizeof(*o));
  cairn_rdb_reader *r = cairn_rdb_reader_new(&CB, &o->ev, MAX_VALUE);
  size_t at = 0;
  long long total = 0;
  while (at < len) {
    size_t n = split ? 1 + next_rand(&seed) % 64 : len - at;
    if (n > len - at) n = len - at;
    uint8_t *b = malloc(n);
    memcpy(b, data + at, n);
    long long c = cairn_rdb_reader_feed(r, b, n);
    free(b);
    if (c < 0) {
      total = -1;
      break;
    }
    if ((size_t)c > n) die("consumed more than fed");
    total += c;
    at += n;
    if ((size_t)c < n) {
      if (!cairn_rdb_reader_done(r)) die("stopped early without being done");
      break;
    }
  }
  o->consumed = total;
  o->done = cairn_rdb_reader_done(r);
  if (total >= 0) o->finish = cairn_rdb_reader_finish(r);
  const char *e = cairn_rdb_reader_error(r);
  if (e) snprintf(o->err, sizeof(o->err), "%s", e);
  cairn_rdb_reader_free(r);
}

static void stream(const uint8_t *data, size_t len, uint32_t seed) {
  outcome a, b;
  run(data, len, seed, 0, &a);
  run(data, len, seed, 1, &b);
  if (a.ev.h != b.ev.h || a.ev.n != b.ev.n) die("callbacks differ between one call and pieces");
  if (a.consumed != b.consumed || a.done != b.done || a.finish != b.finish) die("outcome differs");
  /* The offset in an error message may differ (a piece may end earlier);
   * whether there is an error may not. */
  if ((a.err[0] != '\0') != (b.err[0] != '\0')) die("error differs");
}

static void dump_payload(const uint8_t *body, size_t len) {
  size_t n = len + 10;
  uint8_t *p = malloc(n);
  if (len) memcpy(p, body, len);
  p[len] = CAIRN_RDB_VERSION & 0xff;
  p[len + 1] = CAIRN_RDB_VERSION >> 8;
  uint64_t crc = cairn_rdb_crc64(0, p, len + 2);
  for (int i = 0; i < 8; i++) p[len + 2 + i] = (uint8_t)(crc >> (8 * i));
  if (cairn_rdb_dump_verify(p, n) != 0) die("a payload with a good footer does not verify");
  events ev = {0, 0};
  const char *errmsg = NULL;
  char detail[256];
  int rc = cairn_rdb_dump_parse(p, n, &CB, &ev, MAX_VALUE, &errmsg, detail, sizeof(detail));
  if (rc != 0 && !errmsg) die("a failed parse without a message");
  /* A flipped CRC byte must be refused before any parsing. */
  p[n - 1] ^= 0x5a;
  events ev2 = {0, 0};
  if (cairn_rdb_dump_parse(p, n, &CB, &ev2, MAX_VALUE, &errmsg, NULL, 0) == 0 || ev2.n != 0)
    die("a bad CRC was accepted");
  free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  int mode = data[0] % 3;
  uint32_t seed = data[1];
  data += 2;
  size -= 2;
  if (mode == 0) {
    uint8_t *b = malloc(size + 9);
    memcpy(b, "REDIS0010", 9);
    if (size) memcpy(b + 9, data, size);
    stream(b, size + 9, seed);
    free(b);
  } else if (mode == 1) {
    stream(data, size, seed);
  } else {
    dump_payload(data, size);
  }
  return 0;
}
