/* cairn-backlog: look at and maintain a cairn backlog directory (ls, verify,
 * dump, compact, trim), and point-in-time restore (checkpoint, restore,
 * export-aof). Uses the same library as the server; safe to run while
 * cairn-server appends to the same directory (see docs/BACKLOG.md). */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <strings.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/rdb_coll.h"
#include "engine/resp.h"
#include "engine/store.h"
#include "engine/util.h"
#include "replication/backlog/backlog.h"
#include "replication/rdb/rdb.h"

static const char *prog = "cairn-backlog";

static void usage(FILE *f) {
  fprintf(f,
          "Usage: cairn-backlog COMMAND DIR [options]\n"
          "\n"
          "DIR is a backlog directory (<cairn dir>/backlog).\n"
          "\n"
          "Commands:\n"
          "  ls DIR                       segments (offsets, raw and compressed bytes, ratio, state,\n"
          "                               created/sealed times), replid history and pins\n"
          "  verify DIR                   check every checksum; exit 0 if clean, 1 listing each bad\n"
          "                               segment, file position and offset (a bad record with valid\n"
          "                               records after it is corruption); a torn tail of the active\n"
          "                               segment (nothing valid after it) is a note, exit 0\n"
          "  dump DIR [--from OFF] [--to OFF] [--from-time T] [--to-time T] [--raw]\n"
          "                               one command a line: offset, [db] and the arguments quoted\n"
          "                               like redis-cli MONITOR; --raw writes the stream bytes;\n"
          "                               times: see below\n"
          "  compact DIR [--level N] [--long] [--target-size SIZE]\n"
          "                               merge adjacent sealed segments into SIZE-sized ones (default\n"
          "                               64mb on disk) and recompress (zstd level N, default 19;\n"
          "                               --long: long-distance matching)\n"
          "  trim DIR --before OFF | --older-than AGE [--force]\n"
          "                               drop whole sealed segments below offset OFF or whose newest\n"
          "                               byte is older than AGE (30s, 15m, 12h, 2d); refuses what a pin\n"
          "                               needs unless --force (never the checkpoint's)\n"
          "\n"
          "Point-in-time restore (CAIRN_DIR is a server's data directory, the one with store/\n"
          "and backlog/):\n"
          "  checkpoint CAIRN_DIR OUT_DIR [--pin NAME]\n"
          "                               a compacted hot copy of the LMDB store (safe while the server\n"
          "                               runs) in OUT_DIR/data.mdb, and OUT_DIR/CHECKPOINT naming the\n"
          "                               stream offset it holds (LMDB's own, where recovery starts)\n"
          "                               and the replid; OUT_DIR must be absent or empty. --pin: the\n"
          "                               backlog keeps the stream a restore from it needs (pin\n"
          "                               ckpt:NAME in CAIRN_DIR/backlog) until unpin; only\n"
          "                               backlog-max-bytes overrides it (logged)\n"
          "  unpin DIR NAME               remove the pin ckpt:NAME (checkpoint --pin)\n"
          "  restore --checkpoint CK --backlog BACKLOG_DIR (--to-offset N | --to-time T) --out NEWDIR\n"
          "                               a new data directory: NEWDIR/store from the checkpoint,\n"
          "                               NEWDIR/backlog the stream after it up to the cut, so that\n"
          "                               cairn-server --dir NEWDIR holds the data as of the cut. The\n"
          "                               cut is rounded down to a command boundary, never inside\n"
          "                               MULTI/EXEC (said so when it is)\n"
          "  export-aof CAIRN_DIR --out AOFDIR [--to-offset N | --to-time T]\n"
          "  export-aof --checkpoint CK --backlog BACKLOG_DIR --out AOFDIR [--to-offset N | --to-time T]\n"
          "                               a Redis 7.0 multi-part AOF (manifest, an RDB base, an incr\n"
          "                               file of commands) of the same data, for appenddirname\n"
          "\n"
          "Times T: 'YYYY-MM-DD HH:MM:SS' (UTC), unix ms, or relative to now: -90s, -30m, -2h, -1d.\n"
          "Raw segments keep each record's time (exact); compressed segments keep one time per\n"
          "frame (1 MiB of stream: the newest record in it), so a cut by time there is rounded\n"
          "down to a frame boundary (said so). A command with no known time counts as later\n"
          "than any time.\n"
          "\n"
          "A running cairn-server may use DIR meanwhile: it adopts the new manifest. Two tools\n"
          "never run at once on one directory (a lock file). Long operations show progress on\n"
          "a terminal.\n");
}

/* A directory this run is filling (restore, export-aof): removed when it fails. */
static const char *partial_dir;
static void rm_tree(const char *dir);

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (partial_dir) rm_tree(partial_dir);
  exit(1);
}

static int parse_u64(const char *s, uint64_t *out) {
  char *e;
  errno = 0;
  unsigned long long v = strtoull(s, &e, 10);
  if (errno || e == s || *e || *s == '-') return -1;
  *out = v;
  return 0;
}

static int parse_size(const char *s, uint64_t *out) {
  char *e;
  errno = 0;
  double v = strtod(s, &e);
  if (errno || e == s || v < 0) return -1;
  uint64_t mul = 1;
  if (!strcasecmp(e, "k") || !strcasecmp(e, "kb")) mul = 1024;
  else if (!strcasecmp(e, "m") || !strcasecmp(e, "mb")) mul = 1024 * 1024;
  else if (!strcasecmp(e, "g") || !strcasecmp(e, "gb")) mul = 1024ull * 1024 * 1024;
  else if (*e) return -1;
  *out = (uint64_t)(v * (double)mul);
  return 0;
}

static int parse_age_ms(const char *s, int64_t *out) {
  char *e;
  errno = 0;
  double v = strtod(s, &e);
  if (errno || e == s || v < 0) return -1;
  double mul = 1000;
  if (!strcmp(e, "s") || !*e) mul = 1000;
  else if (!strcmp(e, "m")) mul = 60e3;
  else if (!strcmp(e, "h")) mul = 3600e3;
  else if (!strcmp(e, "d")) mul = 86400e3;
  else if (!strcmp(e, "w")) mul = 7 * 86400e3;
  else return -1;
  *out = (int64_t)(v * mul);
  return 0;
}

/* Local time to the second ("-" if none: ls), or UTC to the millisecond
 * ("2024-05-01 12:00:00.123 UTC", "unknown" if none: the cut's messages). */
static void fmt_time_as(char *out, size_t n, int64_t ms, int utc) {
  if (ms <= 0) {
    snprintf(out, n, utc ? "unknown" : "-");
    return;
  }
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  char d[32];
  if (utc) gmtime_r(&t, &tm);
  else localtime_r(&t, &tm);
  strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm);
  if (utc) snprintf(out, n, "%s.%03d UTC", d, (int)(ms % 1000));
  else snprintf(out, n, "%s", d);
}
static void fmt_time(char *out, size_t n, int64_t ms) { fmt_time_as(out, n, ms, 0); }
static void fmt_utc(char *out, size_t n, int64_t ms) { fmt_time_as(out, n, ms, 1); }

/* A time T of the command line: "YYYY-MM-DD HH:MM:SS" (UTC), unix ms (all
 * digits), or relative to now: "-90s", "-30m", "-2h", "-1d". */
static int parse_time_ms(const char *s, int64_t *out) {
  if (s[0] == '-') {
    int64_t age;
    if (parse_age_ms(s + 1, &age) != 0) return -1;
    *out = cairn_mstime() - age;
    return 0;
  }
  uint64_t v;
  if (parse_u64(s, &v) == 0) {
    if (v == 0 || v > (uint64_t)INT64_MAX) return -1;
    *out = (int64_t)v;
    return 0;
  }
  struct tm tm = {0};
  char rest;
  if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
             &tm.tm_sec, &rest) != 6)
    return -1;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60 || tm.tm_year < 1970)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  if (t == (time_t)-1) return -1;
  *out = (int64_t)t * 1000;
  return 0;
}

/* ---- progress -------------------------------------------------------------- */

static int show_progress;
static time_t last_progress;
static void progress(void *ud, uint64_t done, uint64_t total) {
  if (!show_progress) return;
  time_t now = time(NULL);
  if (now == last_progress && done < total) return;
  last_progress = now;
  fprintf(stderr, "\r%s: %3.0f%% (%.1f of %.1f MB)", (const char *)ud,
          total ? 100.0 * (double)done / (double)total : 100.0, (double)done / 1e6, (double)total / 1e6);
  fflush(stderr);
}
static void progress_end(void) {
  if (show_progress && last_progress) fprintf(stderr, "\n");
}

static cairn_backlog *open_dir(const char *dir) {
  cairn_backlog_options o = {.tool = 1, .no_compress = 1};
  cairn_backlog *b = NULL;
  char err[1024] = "";
  if (cairn_backlog_open(dir, &o, &b, err, sizeof(err)) != 0) die("%s", err);
  if (err[0]) fprintf(stderr, "%s: note: %s\n", prog, err);
  return b;
}

/* ---- ls ----------------------------------------------------------------------- */

static int cmd_ls(cairn_backlog *b, const char *dir) {
  size_t n;
  cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
  cairn_backlog_stats st;
  cairn_backlog_get_stats(b, &st);
  printf("backlog %s: offsets %llu..%llu, %zu segments, %llu bytes of stream, %llu bytes on disk\n", dir,
         (unsigned long long)st.first, (unsigned long long)st.end, n, (unsigned long long)st.stream_bytes,
         (unsigned long long)st.disk_bytes);
  printf("%-32s %20s %20s %-10s %12s %12s %6s  %-19s  %-19s\n", "FILE", "FIRST", "LAST", "STATE", "RAW", "DISK",
         "RATIO", "CREATED", "SEALED");
  for (size_t i = 0; i < n; i++) {
    char c[32], s[32];
    fmt_time(c, sizeof(c), v[i].created_ms);
    fmt_time(s, sizeof(s), v[i].sealed_ms);
    double ratio = v[i].disk_bytes ? (double)v[i].raw_bytes / (double)v[i].disk_bytes : 0;
    printf("%-32s %20llu %20llu %-10s %12llu %12llu %6.2f  %-19s  %-19s\n", v[i].file, (unsigned long long)v[i].first,
           (unsigned long long)v[i].last, v[i].state, (unsigned long long)v[i].raw_bytes,
           (unsigned long long)v[i].disk_bytes, ratio, c, s);
  }
  cairn_backlog_replid h[64];
  size_t nh = cairn_backlog_get_history(b, h, 64);
  printf("replid history:%s\n", nh ? "" : " (none recorded)");
  for (size_t i = 0; i < nh && i < 64; i++)
    printf("  from offset %llu: replid %s replid2 %s\n", (unsigned long long)h[i].offset,
           h[i].replid[0] ? h[i].replid : "-", h[i].replid2[0] ? h[i].replid2 : "-");
  char names[64][64];
  uint64_t offs[64];
  int req[64];
  int64_t seen[64];
  size_t np = cairn_backlog_pins(b, names, offs, req, seen, 64);
  printf("pins:%s\n", np ? "" : " (none)");
  for (size_t i = 0; i < np && i < 64; i++) {
    /* the segments it holds back: from the one with its offset to the end */
    size_t from = n, held = 0;
    uint64_t disk = 0;
    for (size_t j = 0; j < n; j++) {
      if (v[j].last < offs[i]) continue;
      if (from == n) from = j;
      held++;
      disk += v[j].disk_bytes;
    }
    printf("  %s needs offset %llu and later%s", names[i], (unsigned long long)offs[i], req[i] ? " (required)" : "");
    if (seen[i]) {
      char t[32];
      fmt_time(t, sizeof(t), seen[i]);
      printf(", last seen %s", t);
    }
    if (held)
      printf(": pins %zu segment(s) from %s, %llu bytes on disk\n", held, v[from].file, (unsigned long long)disk);
    else
      printf(": pins no segment\n");
  }
  free(v);
  return 0;
}

/* ---- verify --------------------------------------------------------------------- */

static const char *verify_dir;
static void on_bad(void *ud, const char *file, uint64_t pos, uint64_t offset, const char *why) {
  (void)ud;
  if (show_progress) fprintf(stderr, "\r");
  printf("%s/%s: file position %llu, offset %llu: %s\n", verify_dir, file, (unsigned long long)pos,
         (unsigned long long)offset, why);
}

static int torn_tails;
static void on_note(void *ud, const char *file, uint64_t pos, uint64_t offset, const char *what) {
  (void)ud;
  if (show_progress) fprintf(stderr, "\r");
  printf("note: %s/%s: file position %llu, offset %llu: %s; not damage: cairn-server cuts it at its next start "
         "(or a write is in progress)\n",
         verify_dir, file, (unsigned long long)pos, (unsigned long long)offset, what);
  torn_tails++;
}

static int cmd_verify(cairn_backlog *b, const char *dir) {
  verify_dir = dir;
  long bad = cairn_backlog_verify(b, on_bad, on_note, progress, "verify");
  progress_end();
  if (bad < 0) die("%s: verify: %s", dir, strerror(errno));
  cairn_backlog_stats st;
  cairn_backlog_get_stats(b, &st);
  if (bad) {
    printf("%ld problem(s) found\n", bad);
    return 1;
  }
  printf("ok: %d segments, offsets %llu..%llu, every checksum matches%s\n", st.segments,
         (unsigned long long)st.first, (unsigned long long)st.end,
         torn_tails ? " (a torn tail follows the last record: see the note)" : "");
  return 0;
}

/* ---- reading the stream command by command ------------------------------------ */

/* Parses one command of the stream at p[0..n) with the server's request
 * parser (the stream holds nothing but RESP arrays of bulk strings, so an
 * inline command there is as malformed as any other non-array). Returns bytes
 * consumed, 0 if incomplete, -1 if malformed. */
static long parse_cmd(cairn_req_parser *rp, const char *p, size_t n) {
  if (n == 0) return 0;
  if (p[0] != '*') return -1;
  size_t used;
  char err[128];
  int r = cairn_req_parse(rp, p, n, &used, err, sizeof(err));
  if (r == CAIRN_PARSE_NEED_MORE) return 0;
  if (r != CAIRN_PARSE_OK) return -1;
  return (long)used;
}

static int arg_is(const cairn_str *a, const char *name) {
  size_t n = strlen(name);
  return a->len == n && !strncasecmp(a->p, name, n);
}

/* One command of the stream, as the walker hands it out. */
typedef struct wcmd {
  uint64_t off, last;   /* offsets of its first and last byte */
  int64_t ms;           /* when it was written (see time_of); 0 unknown */
  int exact;            /* ms is its record's own time (raw segment), not a frame's bound */
  int64_t db;           /* the db it runs in (a SELECT: the one it selects); -1 unknown */
  const char *raw;      /* its RESP bytes */
  size_t rawlen, argc;
  const cairn_str *argv;
} wcmd;

/* 0 go on, 1 stop (walk returns 0), -1 error (walk returns 1). */
typedef int (*wcmd_fn)(void *ud, const wcmd *c);

/* The bytes read, by time unit (a record or a frame), for the time of a command. */
typedef struct tchunk {
  uint64_t first, last;
  int64_t ms;
  int exact;
} tchunk;

/* Reads [start, to] of b (start must be a command start) and calls fn for
 * every whole command. db: the db selected at start (-1 unknown). *partial
 * (may be NULL) gets the bytes of a command cut off at `to`. Returns 0, or
 * 1 after printing why it failed. */
static int walk(cairn_backlog *b, uint64_t start, uint64_t to, int64_t db, wcmd_fn fn, void *ud, size_t *partial) {
  if (partial) *partial = 0;
  if (to < start) return 0;
  cairn_backlog_cursor *c;
  if (cairn_backlog_cursor_open(b, start, &c) != 0) {
    fprintf(stderr, "%s: cannot read from offset %llu: %s\n", prog, (unsigned long long)start, strerror(errno));
    return 1;
  }
  size_t cap = 1 << 20;
  char *chunk = cairn_xmalloc(cap);
  cairn_buf buf = {0};
  cairn_buf_reserve(&buf, 4 << 20);
  cairn_req_parser rp;
  cairn_req_parser_init(&rp);
  cairn_str *argv = NULL;
  size_t argcap = 0;
  tchunk *tc = NULL;
  size_t ntc = 0, tccap = 0;
  uint64_t off = start, buf_off = start; /* offset of buf.p[0] */
  int rc = 0;
  while (off <= to) {
    uint64_t want = to - off + 1;
    int64_t ms;
    int exact;
    long r = cairn_backlog_cursor_next_timed(c, chunk, want < cap ? (size_t)want : cap, &ms, &exact);
    if (r < 0) {
      fprintf(stderr, "%s: read error at offset %llu: %s\n", prog, (unsigned long long)off, strerror(errno));
      rc = 1;
      break;
    }
    if (r == 0) break;
    if (ntc == tccap) {
      tccap = tccap ? tccap * 2 : 64;
      tc = cairn_xrealloc(tc, tccap * sizeof(*tc));
    }
    tc[ntc++] = (tchunk){off, off + (uint64_t)r - 1, ms, exact};
    off += (uint64_t)r;
    cairn_buf_append(&buf, chunk, (size_t)r);
    size_t pos = 0;
    for (;;) {
      long used = parse_cmd(&rp, buf.p + pos, buf.len - pos);
      if (used == 0) break;
      if (used < 0) {
        fprintf(stderr, "%s: not a RESP command at offset %llu\n", prog, (unsigned long long)(buf_off + pos));
        rc = 1;
        goto out;
      }
      if (rp.argc > argcap) {
        argcap = rp.argc;
        argv = cairn_xrealloc(argv, argcap * sizeof(*argv));
      }
      wcmd w = {.off = buf_off + pos, .last = buf_off + pos + (uint64_t)used - 1, .raw = buf.p + pos,
                .rawlen = (size_t)used, .argc = rp.argc, .argv = argv};
      cairn_req_args(&rp, buf.p + pos, argv);
      if (w.argc == 2 && arg_is(&argv[0], "select")) {
        char t[24];
        size_t l = argv[1].len < sizeof(t) - 1 ? argv[1].len : sizeof(t) - 1;
        memcpy(t, argv[1].p, l);
        t[l] = 0;
        db = strtoll(t, NULL, 10);
      }
      w.db = db;
      /* its time: the newest of the units it has bytes in; exact only when
       * they are records; unknown if any unit's time is */
      size_t drop = 0;
      w.exact = 1;
      for (size_t i = 0; i < ntc; i++) {
        if (tc[i].last < w.off) {
          drop = i + 1;
          continue;
        }
        if (tc[i].first > w.last) break;
        if (!tc[i].exact) w.exact = 0;
        if (tc[i].ms <= 0 || w.ms < 0) w.ms = -1;
        else if (tc[i].ms > w.ms) w.ms = tc[i].ms;
      }
      if (w.ms < 0) w.ms = 0;
      if (drop) {
        memmove(tc, tc + drop, (ntc - drop) * sizeof(*tc));
        ntc -= drop;
      }
      int fr = fn(ud, &w);
      if (fr != 0) {
        rc = fr < 0 ? 1 : 0;
        goto out;
      }
      pos += (size_t)used;
    }
    cairn_buf_consume(&buf, pos);
    buf_off += pos;
  }
  if (partial) *partial = buf.len;
out:
  cairn_buf_free(&buf);
  free(chunk);
  free(argv);
  free(tc);
  cairn_req_parser_free(&rp);
  cairn_backlog_cursor_close(c);
  return rc;
}

/* The first segment start at or before offset (segment starts are command
 * starts: records hold whole commands); with ms > 0, no earlier than the
 * segment holding the first byte written at or after ms. */
static uint64_t command_start(cairn_backlog *b, uint64_t offset, int64_t ms) {
  size_t n;
  cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
  uint64_t start = offset;
  for (size_t i = 0; i < n; i++)
    if (v[i].first <= offset) start = v[i].first;
  /* sealed segments wholly older than ms hold nothing to show */
  for (size_t i = 0; ms > 0 && i + 1 < n; i++)
    if (v[i].sealed_ms > 0 && v[i].sealed_ms < ms && v[i + 1].first > start) start = v[i + 1].first;
  free(v);
  return start;
}

/* ---- dump ------------------------------------------------------------------------ */

typedef struct dump_ctx {
  uint64_t from;
  int64_t from_ms, to_ms; /* 0: none */
  int started;            /* --from-time reached */
  cairn_buf line;
} dump_ctx;

static int dump_one(void *ud, const wcmd *c) {
  dump_ctx *d = ud;
  if (c->off < d->from) return 0;
  /* a command of unknown time counts as later than any time */
  if (d->to_ms && (c->ms == 0 || c->ms > d->to_ms)) return 1;
  if (d->from_ms && !d->started) {
    if (c->ms && c->ms < d->from_ms) return 0;
    d->started = 1;
  }
  /* Quoted like redis-cli's MONITOR output (sdscatrepr). */
  cairn_buf *line = &d->line;
  line->len = 0;
  if (c->db >= 0) cairn_buf_printf(line, "%llu [%lld]", (unsigned long long)c->off, (long long)c->db);
  else cairn_buf_printf(line, "%llu [?]", (unsigned long long)c->off);
  for (size_t i = 0; i < c->argc; i++) {
    cairn_buf_putc(line, ' ');
    cairn_buf_append_repr(line, c->argv[i].p, c->argv[i].len);
  }
  cairn_buf_putc(line, '\n');
  if (fwrite(line->p, 1, line->len, stdout) != line->len) die("write: %s", strerror(errno));
  return 0;
}

static int cmd_dump(cairn_backlog *b, uint64_t from, uint64_t to, int raw, int64_t from_ms, int64_t to_ms) {
  uint64_t first = cairn_backlog_first(b), end = cairn_backlog_end(b);
  if (!from) from = first;
  if (!to || to > end) to = end;
  if (from < first || from > end + 1)
    die("--from %llu is outside the backlog (offsets %llu..%llu)", (unsigned long long)from,
        (unsigned long long)first, (unsigned long long)end);
  if (raw && (from_ms || to_ms)) die("--raw cannot be combined with --from-time or --to-time");
  if (to < from) return 0;
  int rc = 0;
  if (raw) {
    cairn_backlog_cursor *c;
    if (cairn_backlog_cursor_open(b, from, &c) != 0)
      die("cannot read from offset %llu: %s", (unsigned long long)from, strerror(errno));
    size_t cap = 1 << 20;
    char *chunk = cairn_xmalloc(cap);
    for (uint64_t off = from; off <= to;) {
      uint64_t want = to - off + 1;
      long r = cairn_backlog_cursor_next(c, chunk, want < cap ? (size_t)want : cap);
      if (r < 0) {
        fprintf(stderr, "%s: read error at offset %llu: %s\n", prog, (unsigned long long)off, strerror(errno));
        rc = 1;
        break;
      }
      if (r == 0) break;
      off += (uint64_t)r;
      if (fwrite(chunk, 1, (size_t)r, stdout) != (size_t)r) die("write: %s", strerror(errno));
    }
    free(chunk);
    cairn_backlog_cursor_close(c);
  } else {
    /* Decode from the start of the segment holding --from. The db is known
     * from the first SELECT, or 0 at the very start of the stream. */
    uint64_t start = command_start(b, from, from_ms);
    dump_ctx d = {.from = from, .from_ms = from_ms, .to_ms = to_ms};
    size_t partial = 0;
    rc = walk(b, start, to, start == 1 ? 0 : -1, dump_one, &d, &partial);
    if (rc == 0 && partial && to == end && !to_ms)
      fprintf(stderr, "%s: %zu bytes of an incomplete command at the end\n", prog, partial);
    cairn_buf_free(&d.line);
  }
  if (fflush(stdout) != 0) die("write: %s", strerror(errno));
  return rc;
}

/* A path, or an error when it does not fit. */
static void pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(out, n, fmt, ap);
  va_end(ap);
  if (r < 0 || (size_t)r >= n) die("path too long: %s...", out);
}

/* ---- point-in-time restore: checkpoints ----------------------------------------- */

/* What a checkpoint holds: LMDB's own meta records of the copy. */
typedef struct ckpt_info {
  uint64_t offset;    /* the stream offset the store holds (meta "offset") */
  char replid[41];    /* "" if none was recorded */
  int32_t stream_db;  /* the stream's db at that offset, -1 none */
  uint64_t wal_reset; /* a replica's backlog reset pending (meta "wal_reset") */
  int64_t created_ms; /* the copy began then: the state holds nothing written later */
} ckpt_info;

#define CKPT_FILE "CHECKPOINT"
#define CKPT_DATA "data.mdb"

static int lmdb_fail(char *err, size_t errlen, MDB_env *env, const char *what, const char *path, int rc) {
  snprintf(err, errlen, "%s %s: %s", what, path, mdb_strerror(rc));
  if (env) mdb_env_close(env);
  return -1;
}

static int meta_get(MDB_txn *t, MDB_dbi dbi, const char *name, MDB_val *v) {
  MDB_val k = {strlen(name), (void *)name};
  return mdb_get(t, dbi, &k, v);
}

/* Reads the meta records of the LMDB environment in dir (a copy: no lock file). */
static int lmdb_read_meta(const char *dir, ckpt_info *ci, char *err, size_t errlen) {
  memset(ci, 0, sizeof(*ci));
  ci->stream_db = -1;
  MDB_env *env = NULL;
  MDB_txn *t;
  MDB_dbi meta;
  int rc;
  if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 16)) ||
      (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644)))
    return lmdb_fail(err, errlen, env, "cannot open the LMDB copy", dir, rc);
  if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &t))) return lmdb_fail(err, errlen, env, "cannot read", dir, rc);
  if ((rc = mdb_dbi_open(t, "meta", 0, &meta))) {
    mdb_txn_abort(t);
    return lmdb_fail(err, errlen, env, "no cairn meta records in", dir, rc);
  }
  MDB_val v;
  if (meta_get(t, meta, "offset", &v) == 0 && v.mv_size == 8) memcpy(&ci->offset, v.mv_data, 8);
  if (meta_get(t, meta, "replid", &v) == 0 && v.mv_size == 40) memcpy(ci->replid, v.mv_data, 40);
  if (meta_get(t, meta, "stream_db", &v) == 0 && v.mv_size == 4) memcpy(&ci->stream_db, v.mv_data, 4);
  if (meta_get(t, meta, "wal_reset", &v) == 0 && v.mv_size == 8) memcpy(&ci->wal_reset, v.mv_data, 8);
  mdb_txn_abort(t);
  mdb_env_close(env);
  return 0;
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* Writes text to dir/name durably (a temporary name, fsync, rename, the directory fsynced). */
static void write_file_durably(const char *dir, const char *name, const char *text, size_t len) {
  char tmp[4200], path[4200];
  pathf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
  pathf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || cairn_write_all(fd, text, len) != 0 || fsync(fd) != 0) die("cannot write %s: %s", tmp, strerror(errno));
  close(fd);
  if (rename(tmp, path) != 0 || fsync_dir(dir) != 0) die("cannot write %s: %s", path, strerror(errno));
}

/* An output directory: refused unless absent or empty; created if absent
 * and create is set. */
static void prepare_out_dir(const char *dir, const char *what, int create) {
  DIR *d = opendir(dir);
  if (!d) {
    if (errno != ENOENT) die("%s %s: %s", what, dir, strerror(errno));
    if (create && mkdir(dir, 0755) != 0) die("cannot create %s %s: %s", what, dir, strerror(errno));
    return;
  }
  struct dirent *e;
  int empty = 1;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
  closedir(d);
  if (!empty) die("%s %s is not empty (refusing to mix a new directory with old files)", what, dir);
}

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[4400];
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    pathf(path, sizeof(path), "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(path);
    else unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

typedef struct copy_job {
  MDB_env *env;
  int fd;
  int rc;
} copy_job;

static void *copy_thread(void *arg) {
  copy_job *j = arg;
  j->rc = mdb_env_copyfd2(j->env, j->fd, MDB_CP_COMPACT);
  close(j->fd);
  return NULL;
}

/* One compacting copy of env into out (through a pipe, for the progress). */
static int copy_env_once(MDB_env *env, int out, uint64_t total, char *err, size_t errlen) {
  int p[2];
  if (pipe(p) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  copy_job j = {.env = env, .fd = p[1]};
  pthread_t th;
  int rc = pthread_create(&th, NULL, copy_thread, &j);
  if (rc != 0) {
    close(p[0]);
    close(p[1]);
    snprintf(err, errlen, "cannot start the copy thread: %s", strerror(rc));
    return -1;
  }
  char *buf = cairn_xmalloc(1 << 20);
  uint64_t done = 0;
  int werr = 0;
  for (;;) {
    ssize_t r = read(p[0], buf, 1 << 20);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (cairn_write_all(out, buf, (size_t)r) != 0) {
      werr = errno;
      break;
    }
    done += (uint64_t)r;
    progress("checkpoint", done, total > done ? total : done);
  }
  close(p[0]); /* a copy still writing gets EPIPE and stops */
  pthread_join(th, NULL);
  free(buf);
  if (werr) {
    snprintf(err, errlen, "writing the copy: %s", strerror(werr));
    return -1;
  }
  if (j.rc != 0) {
    snprintf(err, errlen, "mdb_env_copyfd2: %s", mdb_strerror(j.rc));
    return j.rc == MDB_MAP_RESIZED ? 1 : -1;
  }
  progress("checkpoint", done, done);
  return 0;
}

/* The checkpoint itself: out_dir/data.mdb, then out_dir/CHECKPOINT. out_dir exists and is empty. */
static void make_checkpoint(const char *cairn_dir, const char *out_dir, ckpt_info *ci, uint64_t *bytes) {
  char src[4096], path[4200], tmp[4200], err[4400];
  pathf(src, sizeof(src), "%s/store", cairn_dir);
  pathf(path, sizeof(path), "%s/" CKPT_DATA, src);
  if (access(path, R_OK) != 0) die("%s: %s (is %s a cairn data directory?)", path, strerror(errno), cairn_dir);
  MDB_env *env = NULL;
  int rc;
  /* With the lock file, as a reader like any other: the server does not
   * reuse the pages of the copy's read transaction while it runs. */
  if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 16)) ||
      (rc = mdb_env_open(env, src, MDB_RDONLY | MDB_NOTLS | MDB_NORDAHEAD, 0644))) {
    if (env) mdb_env_close(env);
    die("cannot open the LMDB store %s: %s", src, mdb_strerror(rc));
  }
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(env, &info);
  mdb_env_stat(env, &st);
  uint64_t total = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
  pathf(tmp, sizeof(tmp), "%s/" CKPT_DATA ".tmp", out_dir);
  pathf(path, sizeof(path), "%s/" CKPT_DATA, out_dir);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("cannot create %s: %s", tmp, strerror(errno));
  int64_t t0 = 0;
  for (int attempt = 0;; attempt++) {
    t0 = cairn_mstime();
    rc = copy_env_once(env, fd, total, err, sizeof(err));
    if (rc <= 0) break;
    /* the server grew the map meanwhile: adopt its size and copy again */
    if (attempt >= 3 || mdb_env_set_mapsize(env, 0) != 0 || ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
      break;
  }
  progress_end();
  mdb_env_close(env);
  if (rc != 0) {
    close(fd);
    unlink(tmp);
    die("copying %s: %s", src, err);
  }
  struct stat fst;
  if (fsync(fd) != 0 || fstat(fd, &fst) != 0 || close(fd) != 0 || rename(tmp, path) != 0 || fsync_dir(out_dir) != 0)
    die("cannot write %s: %s", path, strerror(errno));
  *bytes = (uint64_t)fst.st_size;
  if (lmdb_read_meta(out_dir, ci, err, sizeof(err)) != 0) {
    unlink(path);
    die("%s", err);
  }
  if (ci->wal_reset) {
    unlink(path);
    die("the store of %s is in the middle of a replica's full sync (the backlog reset to offset %llu is not "
        "done): its backlog holds another history; take the checkpoint once the sync is over",
        cairn_dir, (unsigned long long)(ci->wal_reset - 1));
  }
  ci->created_ms = t0;
  char text[512], when[64];
  fmt_utc(when, sizeof(when), t0);
  int n = snprintf(text, sizeof(text),
                   "cairn-checkpoint 1\noffset %llu\nreplid %s\nstream_db %d\ncreated_ms %lld\n# %s: the data "
                   "of stream offsets ..%llu; a restore replays the backlog from offset %llu on\n",
                   (unsigned long long)ci->offset, ci->replid[0] ? ci->replid : "-", (int)ci->stream_db,
                   (long long)t0, when, (unsigned long long)ci->offset, (unsigned long long)ci->offset + 1);
  write_file_durably(out_dir, CKPT_FILE, text, (size_t)n);
}

static void check_cairn_dir(const char *cairn_dir) {
  char path[4200];
  pathf(path, sizeof(path), "%s/store/" CKPT_DATA, cairn_dir);
  if (access(path, R_OK) != 0) die("%s: %s (is %s a cairn data directory?)", path, strerror(errno), cairn_dir);
}

/* An operator's pin name: ckpt:NAME, NAME 1-48 of A-Z a-z 0-9 . _ - */
static void tool_pin_name(const char *name, char *out, size_t cap) {
  size_t pl = strlen(CAIRN_BACKLOG_TOOL_PIN_PREFIX);
  if (!strncmp(name, CAIRN_BACKLOG_TOOL_PIN_PREFIX, pl)) name += pl;
  size_t n = strlen(name);
  int ok = n >= 1 && n <= 48;
  for (size_t i = 0; ok && i < n; i++)
    ok = isalnum((unsigned char)name[i]) || name[i] == '.' || name[i] == '_' || name[i] == '-';
  if (!ok) die("'%s' is not a pin name (1-48 of A-Z a-z 0-9 . _ -)", name);
  snprintf(out, cap, "%s%s", CAIRN_BACKLOG_TOOL_PIN_PREFIX, name);
}

static int cmd_checkpoint(const char *cairn_dir, const char *out_dir, const char *pin_name) {
  check_cairn_dir(cairn_dir);
  char pname[64] = "", bdir[4200];
  if (pin_name) tool_pin_name(pin_name, pname, sizeof(pname));
  prepare_out_dir(out_dir, "checkpoint directory", 1);
  ckpt_info ci;
  uint64_t bytes;
  make_checkpoint(cairn_dir, out_dir, &ci, &bytes);
  printf("checkpoint of %s in %s: %llu bytes, the data at stream offset %llu (replid %s); a restore needs the "
         "backlog from offset %llu on\n",
         cairn_dir, out_dir, (unsigned long long)bytes, (unsigned long long)ci.offset,
         ci.replid[0] ? ci.replid : "-", (unsigned long long)ci.offset + 1);
  if (!pname[0]) return 0;
  pathf(bdir, sizeof(bdir), "%s/backlog", cairn_dir);
  cairn_backlog *b = open_dir(bdir);
  uint64_t first = cairn_backlog_first(b);
  if (first > ci.offset + 1) {
    cairn_backlog_close(b);
    die("not pinned: %s starts at offset %llu, after the checkpoint's offset + 1 (%llu): the server's own "
        "checkpoint pin keeps that, so the server moved on meanwhile; take the checkpoint again",
        bdir, (unsigned long long)first, (unsigned long long)ci.offset + 1);
  }
  if (cairn_backlog_pin(b, pname, ci.offset + 1) != 0 || cairn_backlog_save_pins(b) != 0) {
    cairn_backlog_close(b);
    die("cannot pin %s in %s: %s", pname, bdir, strerror(errno));
  }
  cairn_backlog_close(b); /* a running server adopts the manifest, with the pin */
  printf("pinned %s at offset %llu in %s: the backlog keeps the stream from there until "
         "cairn-backlog unpin %s %s\n",
         pname, (unsigned long long)ci.offset + 1, bdir, bdir, pname + strlen(CAIRN_BACKLOG_TOOL_PIN_PREFIX));
  return 0;
}

static int cmd_unpin(const char *dir, const char *name) {
  char pname[64];
  if (strncmp(name, CAIRN_BACKLOG_TOOL_PIN_PREFIX, strlen(CAIRN_BACKLOG_TOOL_PIN_PREFIX)) && strchr(name, ':'))
    die("pin '%s' is the server's (slot:NAME: REPLICASLOT DROP on the server); unpin removes the operator's "
        "ckpt: pins only", name);
  if (!strcmp(name, "checkpoint"))
    die("pin 'checkpoint' is the server's own recovery point; unpin removes the operator's ckpt: pins only");
  tool_pin_name(name, pname, sizeof(pname));
  cairn_backlog *b = open_dir(dir);
  if (cairn_backlog_unpin(b, pname) != 0) {
    cairn_backlog_close(b);
    die("%s has no pin %s (cairn-backlog ls %s lists them)", dir, pname, dir);
  }
  if (cairn_backlog_save_pins(b) != 0) {
    cairn_backlog_close(b);
    die("cannot write %s/MANIFEST: %s", dir, strerror(errno));
  }
  cairn_backlog_close(b);
  printf("unpinned %s in %s: retention may drop what only it kept\n", pname, dir);
  return 0;
}

static void read_checkpoint(const char *dir, ckpt_info *ci) {
  char path[4200];
  memset(ci, 0, sizeof(*ci));
  ci->stream_db = -1;
  pathf(path, sizeof(path), "%s/" CKPT_FILE, dir);
  FILE *f = fopen(path, "r");
  if (!f) die("%s: %s (not a checkpoint made by cairn-backlog checkpoint, or an unfinished one)", path, strerror(errno));
  char line[512];
  int ok = 0, have_off = 0;
  while (fgets(line, sizeof(line), f)) {
    unsigned long long u;
    long long ll;
    int d;
    char id[64];
    if (!strcmp(line, "cairn-checkpoint 1\n")) ok = 1;
    else if (sscanf(line, "offset %llu", &u) == 1) ci->offset = u, have_off = 1;
    else if (sscanf(line, "replid %63s", id) == 1 && strlen(id) == 40) memcpy(ci->replid, id, 41);
    else if (sscanf(line, "stream_db %d", &d) == 1) ci->stream_db = d;
    else if (sscanf(line, "created_ms %lld", &ll) == 1) ci->created_ms = ll;
  }
  fclose(f);
  if (!ok || !have_off) die("%s: not a cairn checkpoint file", path);
  pathf(path, sizeof(path), "%s/" CKPT_DATA, dir);
  if (access(path, R_OK) != 0) die("%s: %s (the checkpoint's LMDB copy)", path, strerror(errno));
}

static void copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) die("cannot open %s: %s", from, strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) die("cannot create %s: %s", to, strerror(errno));
  struct stat st;
  fstat(in, &st);
  char *buf = cairn_xmalloc(1 << 20);
  uint64_t done = 0;
  for (;;) {
    ssize_t r = read(in, buf, 1 << 20);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("reading %s: %s", from, strerror(errno));
    if (r == 0) break;
    if (cairn_write_all(out, buf, (size_t)r) != 0) die("writing %s: %s", to, strerror(errno));
    done += (uint64_t)r;
    progress("copy", done, (uint64_t)st.st_size);
  }
  progress_end();
  free(buf);
  close(in);
  if (fsync(out) != 0 || close(out) != 0) die("writing %s: %s", to, strerror(errno));
}

/* ---- point-in-time restore: the cut ---------------------------------------------- */

/* Opens the backlog a restore reads and checks it holds the checkpoint's offset + 1. */
static cairn_backlog *open_for_checkpoint(const char *bdir, const ckpt_info *ci) {
  cairn_backlog *b = open_dir(bdir);
  uint64_t first = cairn_backlog_first(b), end = cairn_backlog_end(b);
  if (ci->offset + 1 < first) {
    cairn_backlog_close(b);
    die("the backlog %s starts at offset %llu: it no longer holds offset %llu (the checkpoint's offset + 1; "
        "dropped by retention or trim): restore from a newer checkpoint",
        bdir, (unsigned long long)first, (unsigned long long)ci->offset + 1);
  }
  if (ci->offset > end) {
    cairn_backlog_close(b);
    die("the backlog %s ends at offset %llu, before the checkpoint's offset %llu: it is not the backlog this "
        "checkpoint continues with",
        bdir, (unsigned long long)end, (unsigned long long)ci->offset);
  }
  return b;
}

/* What goes into the new directory: whole commands, never part of a
 * MULTI/EXEC. A unit is one command outside a transaction, or a whole
 * MULTI ... EXEC. */
typedef int (*unit_fn)(void *ud, const char *p, size_t n, int64_t ms);

typedef struct cutter {
  uint64_t base;         /* the checkpoint's offset */
  uint64_t to_off;       /* nothing after this offset */
  int64_t to_ms;         /* nothing written after this (0: no limit) */
  unit_fn sink;
  void *sud;
  int depth;             /* inside MULTI */
  uint64_t multi_off;
  cairn_buf unit;
  int64_t unit_ms;
  int unit_exact;
  uint64_t cut;          /* the last offset kept */
  int64_t cut_ms;
  int cut_exact;
  uint64_t units, bytes;
  int stopped;           /* by a limit, at the command below */
  uint64_t stop_off, stop_last;
  int64_t stop_ms;
  int stop_exact;
} cutter;

static int cut_one(void *ud, const wcmd *c) {
  cutter *k = ud;
  if (c->last > k->to_off || (k->to_ms && (c->ms == 0 || c->ms > k->to_ms))) {
    k->stopped = 1;
    k->stop_off = c->off;
    k->stop_last = c->last;
    k->stop_ms = c->ms;
    k->stop_exact = c->exact;
    if (k->depth == 0 && c->argc >= 1 && arg_is(&c->argv[0], "multi")) {
      k->depth = 1; /* a cut inside the MULTI command is inside its transaction */
      k->multi_off = c->off;
    }
    return 1;
  }
  if (k->depth == 0) {
    k->unit.len = 0;
    k->unit_ms = 0;
    k->unit_exact = 1;
  }
  cairn_buf_append(&k->unit, c->raw, c->rawlen);
  if (c->ms > k->unit_ms) k->unit_ms = c->ms;
  if (!c->exact) k->unit_exact = 0;
  if (c->argc >= 1 && arg_is(&c->argv[0], "multi")) {
    if (k->depth++ == 0) k->multi_off = c->off;
  } else if (c->argc >= 1 && arg_is(&c->argv[0], "exec") && k->depth > 0) {
    k->depth--;
  }
  if (k->depth == 0) {
    if (k->sink(k->sud, k->unit.p, k->unit.len, k->unit_ms) != 0) return -1;
    k->cut = c->last;
    k->cut_ms = k->unit_ms;
    k->cut_exact = k->unit_exact;
    k->units++;
    k->bytes += k->unit.len;
    progress("stream", k->cut - k->base, k->to_off - k->base);
  }
  return 0;
}

/* Runs the cut from the checkpoint's offset + 1 and prints where it landed
 * and why (rounding). Returns the last offset kept. */
static uint64_t run_cut(cairn_backlog *b, const ckpt_info *ci, uint64_t to_off, int64_t to_ms, const char *to_text,
                        unit_fn sink, void *sud) {
  uint64_t end = cairn_backlog_end(b);
  cutter k = {.base = ci->offset, .to_off = to_off ? to_off : end, .to_ms = to_ms, .sink = sink, .sud = sud, .cut = ci->offset};
  int rc = walk(b, ci->offset + 1, end, ci->stream_db < 0 ? 0 : ci->stream_db, cut_one, &k, NULL);
  progress_end();
  cairn_buf_free(&k.unit);
  if (rc != 0) die("reading the backlog failed (see above)");
  char t[64];
  if (to_ms) {
    fmt_utc(t, sizeof(t), k.cut_ms);
    printf("cut at offset %llu: the last whole command written at or before %s", (unsigned long long)k.cut, to_text);
    if (k.units) printf(" (its time: %s%s)", t, k.cut_exact ? "" : ", a compressed frame's time");
    else printf(" (nothing after the checkpoint's offset %llu)", (unsigned long long)ci->offset);
    printf("\n");
  } else {
    printf("cut at offset %llu\n", (unsigned long long)k.cut);
  }
  if (k.depth > 0)
    printf("note: rounded down: the cut would split the MULTI/EXEC that starts at offset %llu; it is left out whole\n",
           (unsigned long long)k.multi_off);
  if (k.stopped && to_off && !to_ms && k.depth == 0 && k.stop_off <= to_off)
    printf("note: rounded down from %llu: it falls inside the command at offsets %llu..%llu\n",
           (unsigned long long)to_off, (unsigned long long)k.stop_off, (unsigned long long)k.stop_last);
  if (k.stopped && to_ms && k.stop_ms == 0)
    printf("note: the next command (offset %llu) has no known time: nothing from it on is taken\n",
           (unsigned long long)k.stop_off);
  else if (k.stopped && to_ms && !k.stop_exact) {
    fmt_utc(t, sizeof(t), k.stop_ms);
    printf("note: rounded down to a frame boundary: the next command (offset %llu) is in a compressed frame "
           "written up to %s; compressed segments keep one time per 1 MiB frame, so commands of that frame "
           "written at or before %s are left out (cairn-backlog dump --from %llu shows them)\n",
           (unsigned long long)k.stop_off, t, to_text, (unsigned long long)k.stop_off);
  }
  return k.cut;
}

static int first_time(void *ud, const wcmd *c) {
  *(int64_t *)ud = c->ms ? c->ms : INT64_MAX;
  return 1;
}

/* The checks a cut needs before anything is written: N inside the backlog
 * and not before the checkpoint; T not before the checkpoint's data (taken
 * before T, or the first command after it written by T). */
static void check_cut(cairn_backlog *b, const ckpt_info *ci, uint64_t to_off, int64_t to_ms, const char *to_text,
                      const char *verb) {
  uint64_t first = cairn_backlog_first(b), end = cairn_backlog_end(b);
  if (to_off && (to_off < first - 1 || to_off > end)) {
    cairn_backlog_close(b);
    die("--to-offset %llu is outside the backlog (offsets %llu..%llu)", (unsigned long long)to_off,
        (unsigned long long)first, (unsigned long long)end);
  }
  if (to_off && to_off < ci->offset) {
    cairn_backlog_close(b);
    die("--to-offset %llu is before the checkpoint's offset %llu: %s from an older checkpoint",
        (unsigned long long)to_off, (unsigned long long)ci->offset, verb);
  }
  if (to_ms && ci->created_ms > to_ms) {
    int64_t next = INT64_MAX;
    if (walk(b, ci->offset + 1, end, -1, first_time, &next, NULL) != 0) die("reading the backlog failed (see above)");
    if (next > to_ms) {
      char a[64], t[64];
      fmt_utc(a, sizeof(a), ci->created_ms);
      fmt_utc(t, sizeof(t), to_ms);
      cairn_backlog_close(b);
      die("--to-time %s (%s) is before the checkpoint (taken %s, offset %llu), whose data may hold later writes: "
          "%s from an older checkpoint", to_text, t, a, (unsigned long long)ci->offset, verb);
    }
  }
}

/* ---- restore ------------------------------------------------------------------------ */

typedef struct restore_sink {
  cairn_backlog *nb;
  cairn_buf rec;      /* one record in the making: units of one source record */
  int64_t rec_ms, last_ms;
} restore_sink;

static int rs_flush(restore_sink *rs) {
  if (!rs->rec.len) return 0;
  if (cairn_backlog_append_at(rs->nb, rs->rec.p, rs->rec.len, rs->rec_ms) != 0) return -1;
  rs->rec.len = 0;
  return 0;
}

static int rs_unit(void *ud, const char *p, size_t n, int64_t ms) {
  restore_sink *rs = ud;
  if (ms <= 0) ms = rs->last_ms ? rs->last_ms : cairn_mstime();
  if (rs->rec.len && (ms != rs->rec_ms || rs->rec.len + n > (1u << 20)) && rs_flush(rs) != 0) return -1;
  cairn_buf_append(&rs->rec, p, n);
  rs->rec_ms = rs->last_ms = ms;
  return 0;
}

/* The restored server is a new history that shares the old one up to the
 * cut: a new replid, the old one as replid2 valid up to cut + 1 (a replica
 * of the old server at or before the cut resumes with PSYNC; after it, the
 * histories differ). */
static void new_history(const char *store_dir, const char *old_replid, uint64_t cut) {
  MDB_env *env = NULL;
  MDB_txn *t = NULL;
  MDB_dbi meta;
  char id[41];
  int64_t second = (int64_t)cut + 1;
  int rc;
  cairn_random_hex40(id);
  if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 16)) ||
      (rc = mdb_env_open(env, store_dir, MDB_NOTLS, 0644)) || (rc = mdb_txn_begin(env, NULL, 0, &t)) ||
      (rc = mdb_dbi_open(t, "meta", 0, &meta))) {
    if (t) mdb_txn_abort(t);
    if (env) mdb_env_close(env);
    die("cannot write the replication ids into %s: %s", store_dir, mdb_strerror(rc));
  }
  MDB_val k1 = {6, "replid"}, v1 = {40, id}, k2 = {7, "replid2"}, v2 = {40, (void *)old_replid}, k3 = {10, "second_off"},
          v3 = {8, &second};
  if ((rc = mdb_put(t, meta, &k1, &v1, 0)) || (rc = mdb_put(t, meta, &k2, &v2, 0)) ||
      (rc = mdb_put(t, meta, &k3, &v3, 0)) || (rc = mdb_txn_commit(t))) {
    mdb_env_close(env);
    die("cannot write the replication ids into %s: %s", store_dir, mdb_strerror(rc));
  }
  mdb_env_close(env);
}

static int cmd_restore(const char *ck, const char *bdir, const char *out, uint64_t to_off, int64_t to_ms,
                       const char *to_text) {
  ckpt_info ci;
  read_checkpoint(ck, &ci);
  prepare_out_dir(out, "--out", 0);
  cairn_backlog *b = open_for_checkpoint(bdir, &ci);
  check_cut(b, &ci, to_off, to_ms, to_text, "restore");
  char store[4200], nbdir[4200], from[4200], to[4200];
  pathf(store, sizeof(store), "%s/store", out);
  pathf(nbdir, sizeof(nbdir), "%s/backlog", out);
  pathf(from, sizeof(from), "%s/" CKPT_DATA, ck);
  pathf(to, sizeof(to), "%s/" CKPT_DATA, store);
  prepare_out_dir(out, "--out", 1);
  partial_dir = out;
  if (mkdir(store, 0755) != 0) die("cannot create %s: %s", store, strerror(errno));
  copy_file(from, to);
  cairn_backlog_options o = {.no_compress = 1, .start_offset = ci.offset};
  cairn_backlog *nb = NULL;
  char err[1024] = "";
  if (cairn_backlog_open(nbdir, &o, &nb, err, sizeof(err)) != 0) die("%s", err);
  restore_sink rs = {.nb = nb};
  uint64_t cut = run_cut(b, &ci, to_off, to_ms, to_text, rs_unit, &rs);
  if (rs_flush(&rs) != 0 || cairn_backlog_sync(nb) != 0) die("writing %s: %s", nbdir, strerror(errno));
  cairn_buf_free(&rs.rec);
  cairn_backlog_close(nb);
  cairn_backlog_close(b);
  if (ci.replid[0]) new_history(store, ci.replid, cut);
  if (fsync_dir(store) != 0 || fsync_dir(out) != 0) die("cannot sync %s: %s", out, strerror(errno));
  partial_dir = NULL;
  printf("restored into %s: the store at offset %llu and %llu bytes of stream after it (offsets %llu..%llu); "
         "start it with cairn-server --dir %s\n",
         out, (unsigned long long)ci.offset, (unsigned long long)(cut - ci.offset), (unsigned long long)ci.offset + 1,
         (unsigned long long)cut, out);
  return 0;
}

/* ---- export-aof ------------------------------------------------------------------- */

#define AOF_BASE "appendonly.aof.1.base.rdb"
#define AOF_INCR "appendonly.aof.1.incr.aof"
#define AOF_MANIFEST "appendonly.aof.manifest"

/* Calls fn for each command of a unit (whole RESP commands). */
typedef void (*unit_cmd_fn)(void *ud, const cairn_str *argv, size_t argc, const char *raw, size_t rawlen);

typedef struct aof_sink {
  int fd;
  cairn_buf out;
  int64_t db;          /* the stream's selected db */
  int64_t emitted_db;  /* the last SELECT written (-1: none yet: Redis loads each file from db 0) */
  int kept;            /* commands of the unit that go into the file */
  int writing;         /* second pass over the unit */
  uint64_t commands, dropped;
  cairn_req_parser rp;
  cairn_str *argv;
  size_t argcap;
} aof_sink;

static void unit_each(aof_sink *a, const char *p, size_t n, unit_cmd_fn fn) {
  for (size_t pos = 0; pos < n;) {
    long used = parse_cmd(&a->rp, p + pos, n - pos);
    if (used <= 0) break; /* the walker parsed these already */
    if (a->rp.argc > a->argcap) {
      a->argcap = a->rp.argc;
      a->argv = cairn_xrealloc(a->argv, a->argcap * sizeof(*a->argv));
    }
    size_t argc = a->rp.argc;
    cairn_req_args(&a->rp, p + pos, a->argv);
    if (argc) fn(a, a->argv, argc, p + pos, (size_t)used);
    pos += (size_t)used;
  }
}

/* What a Redis AOF must not hold: the replication stream's own traffic
 * (PING, REPLCONF GETACK) and what Redis propagates to replicas only
 * (PUBLISH, SPUBLISH). */
static int aof_dropped(const cairn_str *argv) {
  return arg_is(&argv[0], "ping") || arg_is(&argv[0], "replconf") || arg_is(&argv[0], "publish") ||
         arg_is(&argv[0], "spublish");
}

static int aof_marker(const cairn_str *argv) {
  return arg_is(&argv[0], "select") || arg_is(&argv[0], "multi") || arg_is(&argv[0], "exec");
}

static void aof_cmd(void *ud, const cairn_str *argv, size_t argc, const char *raw, size_t rawlen) {
  aof_sink *a = ud;
  if (arg_is(&argv[0], "select")) {
    if (argc == 2) {
      char t[24];
      size_t l = argv[1].len < sizeof(t) - 1 ? argv[1].len : sizeof(t) - 1;
      memcpy(t, argv[1].p, l);
      t[l] = 0;
      a->db = strtoll(t, NULL, 10);
    }
    return; /* written when a command needs it */
  }
  if (aof_dropped(argv)) {
    if (!a->writing) a->dropped++;
    return;
  }
  if (!a->writing) {
    if (!aof_marker(argv)) a->kept++;
    return;
  }
  if (!aof_marker(argv) && a->db != a->emitted_db) {
    char n[24];
    int l = snprintf(n, sizeof(n), "%lld", (long long)a->db);
    cairn_buf_printf(&a->out, "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n", l, n);
    a->emitted_db = a->db;
  }
  cairn_buf_append(&a->out, raw, rawlen);
  a->commands++;
}

static int aof_unit(void *ud, const char *p, size_t n, int64_t ms) {
  aof_sink *a = ud;
  int64_t db = a->db;
  a->kept = 0;
  a->writing = 0;
  unit_each(a, p, n, aof_cmd);
  if (!a->kept) return 0; /* nothing but markers and dropped commands; SELECTs were followed */
  a->db = db;
  a->writing = 1;
  unit_each(a, p, n, aof_cmd);
  if (a->out.len >= (1u << 20)) {
    if (cairn_write_all(a->fd, a->out.p, a->out.len) != 0) return -1;
    a->out.len = 0;
  }
  return 0;
}

static int rdb_write_fd(void *ud, const void *p, size_t n) { return cairn_write_all(*(int *)ud, p, n); }

/* The base: the checkpoint's data as an RDB, written by the server's own
 * writer from a snapshot of a private copy of the store. */
static void write_aof_base(const char *ck_data, int move, const char *work, const char *path, const ckpt_info *ci) {
  char store[4200], to[4200], err[1024] = "";
  pathf(store, sizeof(store), "%s/store", work);
  pathf(to, sizeof(to), "%s/" CKPT_DATA, store);
  if (mkdir(work, 0700) != 0 || mkdir(store, 0700) != 0) die("cannot create %s: %s", store, strerror(errno));
  if (move) {
    if (rename(ck_data, to) != 0) die("cannot move %s: %s", ck_data, strerror(errno));
  } else {
    copy_file(ck_data, to);
  }
  cairn_store_options so = {.databases = 256, .map_size = 64ull << 20, .max_map_size = 1ull << 40};
  cairn_store *s;
  if (cairn_store_open(work, &so, &s, err, sizeof(err)) != 0) die("%s", err);
  cairn_buf fns = {0};
  if (cairn_store_meta_get(s, "functions", &fns) < 0) die("reading the function libraries: %s", cairn_store_errstr(s));
  cairn_store_snapshot *snap;
  if (cairn_store_snapshot_open(s, &snap) != 0) die("snapshot of the checkpoint: %s", cairn_store_errstr(s));
  if (cairn_store_snapshot_offset(snap) != ci->offset)
    die("the checkpoint's store holds offset %llu, its CHECKPOINT file says %llu",
        (unsigned long long)cairn_store_snapshot_offset(snap), (unsigned long long)ci->offset);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) die("cannot create %s: %s", path, strerror(errno));
  cairn_rdb_writer *w = cairn_rdb_writer_new(rdb_write_fd, &fd, -1);
  cairn_rdb_aux aux = {.ctime = cairn_mstime() / 1000};
  int rc = cairn_rdb_write_snapshot(w, snap, &aux, fns.p, fns.len, cairn_mstime());
  if (rc != 0)
    die("writing %s: %s", path, cairn_rdb_writer_error(w) ? cairn_rdb_writer_error(w) : cairn_store_errstr(s));
  if (fsync(fd) != 0 || close(fd) != 0) die("writing %s: %s", path, strerror(errno));
  printf("base: %s, %llu bytes (the data at offset %llu)\n", path, (unsigned long long)cairn_rdb_writer_bytes(w),
         (unsigned long long)ci->offset);
  cairn_rdb_writer_free(w);
  cairn_buf_free(&fns);
  cairn_store_snapshot_close(snap);
  cairn_store_close(s);
  rm_tree(work);
}

static int cmd_export_aof(const char *cairn_dir, const char *ck, const char *bdir, const char *out, uint64_t to_off,
                          int64_t to_ms, const char *to_text) {
  if (cairn_dir) check_cairn_dir(cairn_dir);
  else if (access(ck, R_OK) != 0) die("--checkpoint %s: %s", ck, strerror(errno));
  prepare_out_dir(out, "--out", 1);
  partial_dir = out;
  ckpt_info ci;
  char ckdir[4200], bpath[4200], data[4200], work[4200], path[4200];
  pathf(ckdir, sizeof(ckdir), "%s/.export-checkpoint", out);
  pathf(work, sizeof(work), "%s/.export-store", out);
  if (cairn_dir) {
    /* a checkpoint of the running server, private to the export */
    uint64_t bytes;
    if (mkdir(ckdir, 0700) != 0) die("cannot create %s: %s", ckdir, strerror(errno));
    make_checkpoint(cairn_dir, ckdir, &ci, &bytes);
    pathf(bpath, sizeof(bpath), "%s/backlog", cairn_dir);
    bdir = bpath;
    ck = ckdir;
  } else {
    read_checkpoint(ck, &ci);
  }
  pathf(data, sizeof(data), "%s/" CKPT_DATA, ck);
  cairn_backlog *b = open_for_checkpoint(bdir, &ci);
  check_cut(b, &ci, to_off, to_ms, to_text, "export");
  /* the incr file: the stream after the checkpoint, as commands */
  pathf(path, sizeof(path), "%s/" AOF_INCR, out);
  aof_sink a = {.db = ci.stream_db < 0 ? 0 : ci.stream_db, .emitted_db = -1};
  cairn_req_parser_init(&a.rp);
  a.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (a.fd < 0) die("cannot create %s: %s", path, strerror(errno));
  uint64_t cut = run_cut(b, &ci, to_off, to_ms, to_text, aof_unit, &a);
  cairn_backlog_close(b);
  if ((a.out.len && cairn_write_all(a.fd, a.out.p, a.out.len) != 0) || fsync(a.fd) != 0 || close(a.fd) != 0)
    die("writing %s: %s", path, strerror(errno));
  if (cut > ci.offset)
    printf("incr: %s, %llu commands of offsets %llu..%llu (%llu left out: PING, REPLCONF, PUBLISH)\n", path,
           (unsigned long long)a.commands, (unsigned long long)ci.offset + 1, (unsigned long long)cut,
           (unsigned long long)a.dropped);
  else
    printf("incr: %s, empty (nothing after offset %llu)\n", path, (unsigned long long)ci.offset);
  cairn_buf_free(&a.out);
  free(a.argv);
  cairn_req_parser_free(&a.rp);
  /* the base */
  pathf(path, sizeof(path), "%s/" AOF_BASE, out);
  write_aof_base(data, cairn_dir != NULL, work, path, &ci);
  if (cairn_dir) rm_tree(ckdir);
  /* the manifest last: until it exists, Redis sees no AOF here */
  const char *mf = "file " AOF_BASE " seq 1 type b\nfile " AOF_INCR " seq 1 type i\n";
  write_file_durably(out, AOF_MANIFEST, mf, strlen(mf));
  partial_dir = NULL;
  printf("exported into %s: load it with appendonly yes, appenddirname %s (and appendfilename appendonly.aof) in "
         "the parent directory as dir\n",
         out, strrchr(out, '/') ? strrchr(out, '/') + 1 : out);
  return 0;
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
    usage(stdout);
    return 0;
  }
  if (argc < 3) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1], *dir = argv[2];
  show_progress = isatty(2);
  signal(SIGPIPE, SIG_IGN); /* checkpoint: a failed write stops the copy thread with EPIPE */
  uint64_t from = 0, to = 0, before = 0, target = 64ull << 20, to_off = 0;
  int64_t older = 0, from_ms = 0, to_ms = 0;
  int raw = 0, longdist = 0, force = 0, level = 19;
  const char *ck = NULL, *bdir = NULL, *out = NULL, *to_text = NULL, *dir2 = NULL, *pin_name = NULL;
  /* restore and export-aof --checkpoint take options only */
  int first_opt = dir[0] == '-' && dir[1] == '-' ? 2 : 3;
  if (first_opt == 2) dir = NULL;
  for (int i = first_opt; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = !strcmp(a, "--from") || !strcmp(a, "--to") || !strcmp(a, "--level") || !strcmp(a, "--target-size") ||
                !strcmp(a, "--before") || !strcmp(a, "--older-than") || !strcmp(a, "--from-time") ||
                !strcmp(a, "--to-time") || !strcmp(a, "--to-offset") || !strcmp(a, "--checkpoint") ||
                !strcmp(a, "--backlog") || !strcmp(a, "--out") || !strcmp(a, "--pin");
    if (takes && !val) die("%s needs a value", a);
    if (a[0] != '-' && !dir2 && (!strcmp(cmd, "checkpoint") || !strcmp(cmd, "unpin"))) {
      dir2 = a;
    } else if (!strcmp(a, "--pin")) {
      if (strcmp(cmd, "checkpoint")) die("--pin goes with checkpoint");
      pin_name = val;
    } else if (!strcmp(a, "--from-time")) {
      if (parse_time_ms(val, &from_ms)) die("--from-time: not a time ('YYYY-MM-DD HH:MM:SS' UTC, unix ms, -2h): %s", val);
    } else if (!strcmp(a, "--to-time")) {
      if (parse_time_ms(val, &to_ms)) die("--to-time: not a time ('YYYY-MM-DD HH:MM:SS' UTC, unix ms, -2h): %s", val);
      to_text = val;
    } else if (!strcmp(a, "--to-offset")) {
      if (parse_u64(val, &to_off) || to_off == 0) die("--to-offset: not an offset: %s", val);
    } else if (!strcmp(a, "--checkpoint")) {
      ck = val;
    } else if (!strcmp(a, "--backlog")) {
      bdir = val;
    } else if (!strcmp(a, "--out")) {
      out = val;
    } else if (!strcmp(a, "--from")) {
      if (parse_u64(val, &from)) die("--from: not an offset: %s", val);
    } else if (!strcmp(a, "--to")) {
      if (parse_u64(val, &to)) die("--to: not an offset: %s", val);
    } else if (!strcmp(a, "--level")) {
      level = atoi(val);
      if (level < 1 || level > 22) die("--level: 1 to 22");
    } else if (!strcmp(a, "--target-size")) {
      if (parse_size(val, &target) || target == 0) die("--target-size: not a size: %s", val);
    } else if (!strcmp(a, "--before")) {
      if (parse_u64(val, &before)) die("--before: not an offset: %s", val);
    } else if (!strcmp(a, "--older-than")) {
      if (parse_age_ms(val, &older)) die("--older-than: not an age (30s, 15m, 12h, 2d): %s", val);
    } else if (!strcmp(a, "--raw")) {
      raw = 1;
    } else if (!strcmp(a, "--long")) {
      longdist = 1;
    } else if (!strcmp(a, "--force")) {
      force = 1;
    } else if (!strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else {
      die("unknown option %s (see --help)", a);
    }
    if (takes) i++;
  }
  int known = !strcmp(cmd, "ls") || !strcmp(cmd, "verify") || !strcmp(cmd, "dump") || !strcmp(cmd, "compact") ||
              !strcmp(cmd, "trim") || !strcmp(cmd, "checkpoint") || !strcmp(cmd, "restore") ||
              !strcmp(cmd, "export-aof") || !strcmp(cmd, "unpin");
  if (!known) die("unknown command '%s' (see --help)", cmd);
  if (to_off && to_ms) die("--to-offset and --to-time exclude each other");
  if (!strcmp(cmd, "checkpoint")) {
    if (!dir || !dir2) die("usage: checkpoint CAIRN_DIR OUT_DIR [--pin NAME]");
    return cmd_checkpoint(dir, dir2, pin_name);
  }
  if (!strcmp(cmd, "unpin")) {
    if (!dir || !dir2) die("usage: unpin DIR NAME");
    return cmd_unpin(dir, dir2);
  }
  if (!strcmp(cmd, "restore")) {
    if (dir) die("restore takes options only: --checkpoint CK --backlog DIR (--to-offset N | --to-time T) --out NEWDIR");
    if (!ck || !bdir || !out) die("restore needs --checkpoint CK, --backlog DIR and --out NEWDIR");
    if (!to_off && !to_ms) die("restore needs --to-offset N or --to-time T");
    return cmd_restore(ck, bdir, out, to_off, to_ms, to_text);
  }
  if (!strcmp(cmd, "export-aof")) {
    if (!out) die("export-aof needs --out AOFDIR");
    if (!dir == !ck) die("export-aof takes a CAIRN_DIR or --checkpoint CK with --backlog DIR");
    if (ck && !bdir) die("export-aof --checkpoint needs --backlog DIR");
    return cmd_export_aof(dir, ck, bdir, out, to_off, to_ms, to_text);
  }
  if (!dir) die("%s needs a backlog directory (see --help)", cmd);
  if (from_ms && to_ms && to_ms < from_ms) die("--to-time is before --from-time");
  if ((from_ms || to_ms) && strcmp(cmd, "dump")) die("--from-time and --to-time go with dump, restore and export-aof");
  if (!strcmp(cmd, "trim") && !before && !older) die("trim needs --before OFF or --older-than AGE");
  cairn_backlog *b = open_dir(dir);
  int rc = 0;
  if (!strcmp(cmd, "ls")) {
    rc = cmd_ls(b, dir);
  } else if (!strcmp(cmd, "verify")) {
    rc = cmd_verify(b, dir);
  } else if (!strcmp(cmd, "dump")) {
    rc = cmd_dump(b, from, to, raw, from_ms, to_ms);
  } else if (!strcmp(cmd, "compact")) {
    char err[1024] = "";
    cairn_backlog_stats s0, s1;
    cairn_backlog_get_stats(b, &s0);
    int n = cairn_backlog_compact(b, level, longdist, target, progress, "compact", err, sizeof(err));
    progress_end();
    if (n < 0) {
      cairn_backlog_close(b);
      die("%s", err);
    }
    cairn_backlog_get_stats(b, &s1);
    printf("compacted into %d segment(s): %llu -> %llu bytes on disk, compressed ratio %.2f\n", n,
           (unsigned long long)s0.disk_bytes, (unsigned long long)s1.disk_bytes, s1.ratio);
  } else {
    char err[1024] = "";
    int n = cairn_backlog_drop(b, before, older, force, err, sizeof(err));
    if (n < 0) {
      cairn_backlog_close(b);
      die("%s", err);
    }
    printf("dropped %d segment(s); first offset now %llu\n", n, (unsigned long long)cairn_backlog_first(b));
    if (err[0]) {
      fprintf(stderr, "%s: %s\n", prog, err);
      rc = 1;
    }
  }
  cairn_backlog_close(b);
  return rc;
}
