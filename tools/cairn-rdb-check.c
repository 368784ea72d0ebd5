/* cairn-rdb-check: parses an RDB file with cairn's reader and prints a
 * canonical dump, or writes a sample RDB with cairn's writer.
 *
 *   cairn-rdb-check [--chunk N] [--aux] [--types] FILE   dump (exit 1 + message on error)
 *   cairn-rdb-check --write-sample OUT          every type the writer makes
 *   cairn-rdb-check --parse-dump FILE           a DUMP payload: "<kind> <elements...>"
 *   cairn-rdb-check --write-dumps DIR           DIR/<kind>.dump payloads by the writer
 *
 * Dump: one line per key, lines sorted bytewise:
 *   <db> <kind> <key> <expire_ms|-1> <elements...>
 * kind is string/list/set/zset/hash/stream(skipped). Elements: the string value;
 * list elements in order; set members sorted; hash "field=value" sorted;
 * zset "member=score" (score as %.17g) sorted. Bytes outside 0x21..0x7e, and
 * '\\' and '=', are written as \xHH. With --aux, "aux <k> <v>" lines are
 * printed first (unsorted). Used by tests/integration/test_rdb_redis.py.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "replication/rdb/rdb.h"

typedef struct strv {
  char **v;
  size_t n, cap;
} strv;

static void push(strv *s, char *x) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->v = cairn_xrealloc(s->v, s->cap * sizeof(char *));
  }
  s->v[s->n++] = x;
}

static char *esc(const uint8_t *p, size_t n) {
  char *o = cairn_xmalloc(n * 4 + 1), *q = o;
  for (size_t i = 0; i < n; i++) {
    if (p[i] > 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '=') *q++ = (char)p[i];
    else q += sprintf(q, "\\x%02x", p[i]);
  }
  *q = 0;
  return o;
}

static char *cat3(const char *a, const char *sep, const char *b) {
  size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
  char *o = cairn_xmalloc(la + ls + lb + 1);
  memcpy(o, a, la);
  memcpy(o + la, sep, ls);
  memcpy(o + la + ls, b, lb + 1);
  return o;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct st {
  strv lines, elems;
  int show_aux;
  int payload;    /* DUMP payload: lines are "<kind> <elements...>" */
  int show_types; /* --types: print "types" line (raw type byte histogram, idle, freq) */
  unsigned long types[256], idle, freq;
} st;

static const char *kind_name(cairn_rdb_kind k) {
  static const char *n[] = {"string", "list", "set", "zset", "hash", "stream", "module"};
  return (unsigned)k < 7 ? n[k] : "?";
}

static int on_aux(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  st *s = ud;
  if (s->show_aux) {
    char *a = esc(k, kl), *b = esc(v, vl);
    printf("aux %s %s\n", a, b);
    free(a), free(b);
  }
  return 0;
}
static int on_string(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  push(&((st *)ud)->elems, esc(v, n));
  return 0;
}
static int on_elem(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n) {
  push(&((st *)ud)->elems, esc(v, n));
  return 0;
}
static int on_field(void *ud, const cairn_rdb_key *k, const uint8_t *f, size_t fl, const uint8_t *v, size_t vl) {
  char *a = esc(f, fl), *b = esc(v, vl);
  push(&((st *)ud)->elems, cat3(a, "=", b));
  free(a), free(b);
  return 0;
}
static int on_zmember(void *ud, const cairn_rdb_key *k, const uint8_t *m, size_t ml, double score) {
  char *a = esc(m, ml), d[40];
  snprintf(d, sizeof d, "%.17g", score);
  push(&((st *)ud)->elems, cat3(a, "=", d));
  free(a);
  return 0;
}

static void emit(st *s, const cairn_rdb_key *k, const char *kind) {
  s->types[k->rdb_type]++;
  if (k->lru_idle >= 0) s->idle++;
  if (k->lfu_freq >= 0) s->freq++;
  if (s->elems.n > 1 && k->kind != CAIRN_RDB_KIND_LIST && k->kind != CAIRN_RDB_KIND_STRING)
    qsort(s->elems.v, s->elems.n, sizeof(char *), cmp);
  char *key = esc(k->key, k->key_len);
  size_t len = strlen(key) + 64;
  for (size_t i = 0; i < s->elems.n; i++) len += strlen(s->elems.v[i]) + 1;
  char *line = cairn_xmalloc(len), *q = line;
  if (s->payload) q += sprintf(q, "%s", kind);
  else q += sprintf(q, "%llu %s %s %lld", (unsigned long long)k->db, kind, key, (long long)k->expire_ms);
  for (size_t i = 0; i < s->elems.n; i++) {
    q += sprintf(q, " %s", s->elems.v[i]);
    free(s->elems.v[i]);
  }
  s->elems.n = 0;
  free(key);
  push(&s->lines, line);
}

static int on_key_end(void *ud, const cairn_rdb_key *k) {
  emit(ud, k, kind_name(k->kind));
  return 0;
}
static int on_skipped(void *ud, const cairn_rdb_key *k, const char *why) {
  emit(ud, k, k->kind == CAIRN_RDB_KIND_STREAM ? "stream" : "module");
  return 0;
}

static int dump(const char *path, size_t chunk, int show_aux, int show_types) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return 1;
  }
  st s = {.show_aux = show_aux, .show_types = show_types};
  cairn_rdb_callbacks cb = {.on_aux = on_aux, .on_string = on_string, .on_elem = on_elem,
                            .on_field = on_field, .on_zmember = on_zmember, .on_key_end = on_key_end,
                            .on_skipped = on_skipped};
  cairn_rdb_reader *r = cairn_rdb_reader_new(&cb, &s, 0);
  uint8_t *buf = cairn_xmalloc(chunk);
  size_t n;
  int rc = 0;
  uint64_t total = 0;
  while ((n = fread(buf, 1, chunk, f)) > 0) {
    long long used = cairn_rdb_reader_feed(r, buf, n);
    if (used < 0) break;
    total += (uint64_t)used;
    if ((size_t)used < n) {
      fprintf(stderr, "%s: %zu bytes after the end of the RDB\n", path, n - (size_t)used);
      rc = 1;
      break;
    }
  }
  if (!rc && cairn_rdb_reader_finish(r) != 0) {
    fprintf(stderr, "%s: %s\n", path, cairn_rdb_reader_error(r));
    rc = 1;
  }
  if (!rc && s.show_types) {
    printf("types");
    for (int t = 0; t < 256; t++)
      if (s.types[t]) printf(" %d:%lu", t, s.types[t]);
    printf(" idle:%lu freq:%lu\n", s.idle, s.freq);
  }
  if (!rc) {
    if (s.lines.n > 1) qsort(s.lines.v, s.lines.n, sizeof(char *), cmp);
    for (size_t i = 0; i < s.lines.n; i++) printf("%s\n", s.lines.v[i]);
  }
  for (size_t i = 0; i < s.lines.n; i++) free(s.lines.v[i]);
  for (size_t i = 0; i < s.elems.n; i++) free(s.elems.v[i]);
  free(s.lines.v), free(s.elems.v), free(buf);
  cairn_rdb_reader_free(r);
  fclose(f);
  return rc;
}

static int fwrite_cb(void *ud, const void *p, size_t n) { return fwrite(p, 1, n, ud) == n ? 0 : -1; }

#define W(x)                                                              \
  do {                                                                    \
    if ((x) != 0) {                                                       \
      fprintf(stderr, "writer: %s\n", cairn_rdb_writer_error(w));        \
      return 1;                                                           \
    }                                                                     \
  } while (0)

static int write_sample(const char *out) {
  FILE *f = fopen(out, "wb");
  if (!f) {
    fprintf(stderr, "%s: %s\n", out, strerror(errno));
    return 1;
  }
  cairn_rdb_writer *w = cairn_rdb_writer_new(fwrite_cb, f, 100);
  cairn_rdb_aux aux = {.ctime = 1700000000, .used_mem = 1234567, .with_repl = 1, .repl_stream_db = 0,
                       .repl_id = "0123456789abcdef0123456789abcdef01234567", .repl_offset = 12345};
  const int64_t far = 4102444800123LL;   /* 2100-01-01 */
  char k[64], v[64];
  static char big[100000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 23);
  W(cairn_rdb_writer_begin(w, &aux));
  W(cairn_rdb_writer_select_db(w, 0, 20, 2));
  const char *strs[] = {"plain", "0", "-1", "127", "-128", "128", "-129", "32767", "-32768", "32768",
                        "2147483647", "-2147483648", "2147483648", "12345678901", "007", "-0", "+1",
                        "9223372036854775807", "", "bin\x01\xff\n \\="};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
    snprintf(k, sizeof k, "str:%zu", i);
    W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STRING, k, strlen(k), i == 3 ? far : CAIRN_RDB_NO_EXPIRE));
    W(cairn_rdb_writer_string(w, strs[i], i == 19 ? 10 : strlen(strs[i])));
  }
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STRING, "42", 2, far + 1));   /* integer-encoded key */
  W(cairn_rdb_writer_string(w, big, sizeof big));
  /* lists: small, several nodes, every listpack integer width, big elements */
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_LIST, "list:small", 10, CAIRN_RDB_NO_EXPIRE));
  const char *le[] = {"a", "1", "-1", "127", "128", "-4096", "4095", "-4097", "32767", "-32769",
                      "8388607", "-8388609", "2147483647", "-2147483649", "9223372036854775807",
                      "-9223372036854775808", "01", "x y"};
  W(cairn_rdb_writer_coll_begin(w, sizeof le / sizeof *le));
  for (size_t i = 0; i < sizeof le / sizeof *le; i++) W(cairn_rdb_writer_elem(w, le[i], strlen(le[i])));
  W(cairn_rdb_writer_coll_end(w));
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_LIST, "list:big", 8, CAIRN_RDB_NO_EXPIRE));
  W(cairn_rdb_writer_coll_begin(w, 1003));
  for (int i = 0; i < 1000; i++) {
    int n = snprintf(v, sizeof v, i % 2 ? "%d" : "elem-%d", i);
    W(cairn_rdb_writer_elem(w, v, (size_t)n));
  }
  W(cairn_rdb_writer_elem(w, big, 100));
  W(cairn_rdb_writer_elem(w, big, 5000));
  W(cairn_rdb_writer_elem(w, big, 70000));
  W(cairn_rdb_writer_coll_end(w));
  /* sets */
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_SET, "set:ints", 8, CAIRN_RDB_NO_EXPIRE));
  W(cairn_rdb_writer_coll_begin(w, 5));
  const char *si[] = {"1", "-5", "100000", "70000000000", "3"};
  for (int i = 0; i < 5; i++) W(cairn_rdb_writer_elem(w, si[i], strlen(si[i])));
  W(cairn_rdb_writer_coll_end(w));
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_SET, "set:big", 7, CAIRN_RDB_NO_EXPIRE));
  W(cairn_rdb_writer_coll_begin(w, 600));
  for (int i = 0; i < 600; i++) {
    int n = snprintf(v, sizeof v, "member-%d", i);
    W(cairn_rdb_writer_elem(w, v, (size_t)n));
  }
  W(cairn_rdb_writer_coll_end(w));
  /* hashes */
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_HASH, "hash:small", 10, far + 2));
  W(cairn_rdb_writer_coll_begin(w, 3));
  W(cairn_rdb_writer_field(w, "f1", 2, "v1", 2));
  W(cairn_rdb_writer_field(w, "n", 1, "123", 3));
  W(cairn_rdb_writer_field(w, "", 0, "", 0));
  W(cairn_rdb_writer_coll_end(w));
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_HASH, "hash:big", 8, CAIRN_RDB_NO_EXPIRE));
  W(cairn_rdb_writer_coll_begin(w, 300));
  for (int i = 0; i < 300; i++) {
    snprintf(k, sizeof k, "field-%d", i);
    int n = snprintf(v, sizeof v, "%d", i * 7);
    W(cairn_rdb_writer_field(w, k, strlen(k), v, (size_t)n));
  }
  W(cairn_rdb_writer_coll_end(w));
  /* zsets */
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_ZSET, "zset:small", 10, CAIRN_RDB_NO_EXPIRE));
  W(cairn_rdb_writer_coll_begin(w, 5));
  W(cairn_rdb_writer_zmember(w, "a", 1, 1.5));
  W(cairn_rdb_writer_zmember(w, "b", 1, -2));
  W(cairn_rdb_writer_zmember(w, "c", 1, 1.0 / 0.0));
  W(cairn_rdb_writer_zmember(w, "d", 1, -1.0 / 0.0));
  W(cairn_rdb_writer_zmember(w, "e", 1, 0.1));
  W(cairn_rdb_writer_coll_end(w));
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_ZSET, "zset:big", 8, CAIRN_RDB_NO_EXPIRE));
  W(cairn_rdb_writer_coll_begin(w, 200));
  for (int i = 0; i < 200; i++) {
    int n = snprintf(v, sizeof v, "m%d", i);
    W(cairn_rdb_writer_zmember(w, v, (size_t)n, i * 1.25 - 50));
  }
  W(cairn_rdb_writer_coll_end(w));
  /* other dbs */
  W(cairn_rdb_writer_select_db(w, 3, 1, 0));
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_STRING, "in-db3", 6, CAIRN_RDB_NO_EXPIRE));
  W(cairn_rdb_writer_string(w, "three", 5));
  W(cairn_rdb_writer_select_db(w, 15, 1, 1));
  W(cairn_rdb_writer_key(w, CAIRN_RDB_KIND_LIST, "plain-list", 10, far + 3));
  W(cairn_rdb_writer_coll_begin(w, 2));
  W(cairn_rdb_writer_elem(w, "x", 1));
  W(cairn_rdb_writer_elem(w, "y", 1));
  W(cairn_rdb_writer_coll_end(w));
  W(cairn_rdb_writer_end(w));
  cairn_rdb_writer_free(w);
  if (fclose(f) != 0) {
    fprintf(stderr, "%s: %s\n", out, strerror(errno));
    return 1;
  }
  return 0;
}

static int parse_dump(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return 1;
  }
  cairn_rdb_buf b = {0};
  uint8_t chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) cairn_rdb_buf_write(&b, chunk, n);
  fclose(f);
  st s = {.payload = 1};
  cairn_rdb_callbacks cb = {.on_string = on_string, .on_elem = on_elem, .on_field = on_field,
                            .on_zmember = on_zmember, .on_key_end = on_key_end, .on_skipped = on_skipped};
  const char *msg;
  char detail[300];
  int rc = cairn_rdb_dump_parse(b.data, b.len, &cb, &s, 0, &msg, detail, sizeof detail);
  if (rc) fprintf(stderr, "%s: %s (%s)\n", path, msg, detail);
  for (size_t i = 0; i < s.lines.n; i++) {
    if (!rc) printf("%s\n", s.lines.v[i]);
    free(s.lines.v[i]);
  }
  for (size_t i = 0; i < s.elems.n; i++) free(s.elems.v[i]);
  free(s.lines.v), free(s.elems.v), free(b.data);
  return rc ? 1 : 0;
}

static int write_one_dump(const char *dir, const char *name, cairn_rdb_kind kind, int n) {
  cairn_rdb_buf b = {0};
  cairn_rdb_writer *w = cairn_rdb_writer_new(cairn_rdb_buf_write, &b, 50);
  char v[64], path[4096];
  W(cairn_rdb_writer_dump_begin(w, kind));
  if (kind == CAIRN_RDB_KIND_STRING) {
    int k = snprintf(v, sizeof v, n == 1 ? "hello world" : "%d", n);
    W(cairn_rdb_writer_string(w, v, (size_t)k));
  } else {
    W(cairn_rdb_writer_coll_begin(w, (uint64_t)n));
    for (int i = 0; i < n; i++) {
      int k = snprintf(v, sizeof v, i % 3 ? "e%d" : "%d", i);
      if (kind == CAIRN_RDB_KIND_HASH) W(cairn_rdb_writer_field(w, v, (size_t)k, "val", 3));
      else if (kind == CAIRN_RDB_KIND_ZSET) W(cairn_rdb_writer_zmember(w, v, (size_t)k, i / 3.0));
      else W(cairn_rdb_writer_elem(w, v, (size_t)k));
    }
    W(cairn_rdb_writer_coll_end(w));
  }
  W(cairn_rdb_writer_dump_end(w));
  cairn_rdb_writer_free(w);
  snprintf(path, sizeof path, "%s/%s.dump", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return 1;
  }
  free(b.data);
  return 0;
}

static int write_dumps(const char *dir) {
  return write_one_dump(dir, "string", CAIRN_RDB_KIND_STRING, 1) ||
         write_one_dump(dir, "int", CAIRN_RDB_KIND_STRING, -123456) ||
         write_one_dump(dir, "list", CAIRN_RDB_KIND_LIST, 120) ||
         write_one_dump(dir, "set", CAIRN_RDB_KIND_SET, 40) ||
         write_one_dump(dir, "bigset", CAIRN_RDB_KIND_SET, 700) ||
         write_one_dump(dir, "hash", CAIRN_RDB_KIND_HASH, 10) ||
         write_one_dump(dir, "bighash", CAIRN_RDB_KIND_HASH, 300) ||
         write_one_dump(dir, "zset", CAIRN_RDB_KIND_ZSET, 10) ||
         write_one_dump(dir, "bigzset", CAIRN_RDB_KIND_ZSET, 300);
}

int main(int argc, char **argv) {
  size_t chunk = 65536;
  int show_aux = 0, show_types = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--write-sample") && i + 1 < argc) return write_sample(argv[i + 1]);
    if (!strcmp(argv[i], "--parse-dump") && i + 1 < argc) return parse_dump(argv[i + 1]);
    if (!strcmp(argv[i], "--write-dumps") && i + 1 < argc) return write_dumps(argv[i + 1]);
    if (!strcmp(argv[i], "--chunk") && i + 1 < argc) {
      chunk = (size_t)strtoull(argv[++i], NULL, 10);
      if (!chunk) chunk = 1;
    } else if (!strcmp(argv[i], "--aux")) {
      show_aux = 1;
    } else if (!strcmp(argv[i], "--types")) {
      show_types = 1;
    } else if (i == argc - 1 && argv[i][0] != '-') {
      return dump(argv[i], chunk, show_aux, show_types);
    } else {
      break;
    }
  }
  fprintf(stderr, "usage: cairn-rdb-check [--chunk N] [--aux] [--types] FILE | --write-sample OUT | --parse-dump FILE | --write-dumps DIR\n");
  return 2;
}
