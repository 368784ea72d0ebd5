/* cairn-backlog: look at and maintain a cairn backlog directory (ls, verify,
 * dump, compact, trim). Uses the same library as the server; safe to run
 * while cairn-server appends to the same directory (see docs/BACKLOG.md). */
#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/resp.h"
#include "replication/backlog/backlog.h"

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
          "  dump DIR [--from OFF] [--to OFF] [--raw]\n"
          "                               one command a line: offset, [db] and the arguments quoted\n"
          "                               like redis-cli MONITOR; --raw writes the stream bytes\n"
          "  compact DIR [--level N] [--long] [--target-size SIZE]\n"
          "                               merge adjacent sealed segments into SIZE-sized ones (default\n"
          "                               64mb on disk) and recompress (zstd level N, default 19;\n"
          "                               --long: long-distance matching)\n"
          "  trim DIR --before OFF | --older-than AGE [--force]\n"
          "                               drop whole sealed segments below offset OFF or whose newest\n"
          "                               byte is older than AGE (30s, 15m, 12h, 2d); refuses what a pin\n"
          "                               needs unless --force (never the checkpoint's)\n"
          "\n"
          "A running cairn-server may use DIR meanwhile: it adopts the new manifest. Two tools\n"
          "never run at once on one directory (a lock file). Long operations show progress on\n"
          "a terminal.\n");
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
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

static void fmt_time(char *out, size_t n, int64_t ms) {
  if (ms <= 0) {
    snprintf(out, n, "-");
    return;
  }
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
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

/* ---- dump ------------------------------------------------------------------------ */

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

static int cmd_dump(cairn_backlog *b, uint64_t from, uint64_t to, int raw) {
  uint64_t first = cairn_backlog_first(b), end = cairn_backlog_end(b);
  if (!from) from = first;
  if (!to || to > end) to = end;
  if (from < first || from > end + 1)
    die("--from %llu is outside the backlog (offsets %llu..%llu)", (unsigned long long)from,
        (unsigned long long)first, (unsigned long long)end);
  if (to < from) return 0;
  uint64_t start = from;
  int64_t db = -1;
  if (!raw) {
    /* Commands start at segment starts (records hold whole commands): decode
     * from the start of the segment holding --from. The db is known from the
     * first SELECT, or 0 at the very start of the stream. */
    size_t n;
    cairn_backlog_seginfo *v = cairn_backlog_list(b, &n);
    for (size_t i = 0; i < n; i++)
      if (v[i].first <= from) start = v[i].first;
    free(v);
    if (start == 1) db = 0;
  }
  cairn_backlog_cursor *c;
  if (cairn_backlog_cursor_open(b, start, &c) != 0) die("cannot read from offset %llu: %s", (unsigned long long)start, strerror(errno));
  size_t cap = 1 << 20;
  char *chunk = cairn_xmalloc(cap);
  cairn_buf buf = {0}, line = {0};
  cairn_buf_reserve(&buf, 4 << 20);
  cairn_req_parser rp;
  cairn_req_parser_init(&rp);
  cairn_str *argv = NULL;
  size_t argcap = 0;
  uint64_t off = start, buf_off = start; /* offset of buf.p[0] */
  int rc = 0;
  while (off <= to) {
    uint64_t want = to - off + 1;
    long r = cairn_backlog_cursor_next(c, chunk, want < cap ? (size_t)want : cap);
    if (r < 0) {
      fprintf(stderr, "%s: read error at offset %llu: %s\n", prog, (unsigned long long)off, strerror(errno));
      rc = 1;
      break;
    }
    if (r == 0) break;
    off += (uint64_t)r;
    if (raw) {
      if (fwrite(chunk, 1, (size_t)r, stdout) != (size_t)r) die("write: %s", strerror(errno));
      continue;
    }
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
      size_t argc = rp.argc;
      cairn_req_args(&rp, buf.p + pos, argv);
      uint64_t cmd_off = buf_off + pos;
      if (argc == 2 && argv[0].len == 6 && !strncasecmp(argv[0].p, "select", 6)) {
        char t[24];
        size_t l = argv[1].len < sizeof(t) - 1 ? argv[1].len : sizeof(t) - 1;
        memcpy(t, argv[1].p, l);
        t[l] = 0;
        db = strtoll(t, NULL, 10);
      }
      if (cmd_off >= from) {
        /* Quoted like redis-cli's MONITOR output (sdscatrepr). */
        line.len = 0;
        if (db >= 0) cairn_buf_printf(&line, "%llu [%lld]", (unsigned long long)cmd_off, (long long)db);
        else cairn_buf_printf(&line, "%llu [?]", (unsigned long long)cmd_off);
        for (size_t i = 0; i < argc; i++) {
          cairn_buf_putc(&line, ' ');
          cairn_buf_append_repr(&line, argv[i].p, argv[i].len);
        }
        cairn_buf_putc(&line, '\n');
        fwrite(line.p, 1, line.len, stdout);
      }
      pos += (size_t)used;
    }
    cairn_buf_consume(&buf, pos);
    buf_off += pos;
  }
  if (!raw && buf.len && rc == 0 && to == end)
    fprintf(stderr, "%s: %zu bytes of an incomplete command at the end\n", prog, buf.len);
out:
  cairn_buf_free(&buf);
  cairn_buf_free(&line);
  free(chunk);
  free(argv);
  cairn_req_parser_free(&rp);
  cairn_backlog_cursor_close(c);
  if (fflush(stdout) != 0) die("write: %s", strerror(errno));
  return rc;
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
  uint64_t from = 0, to = 0, before = 0, target = 64ull << 20;
  int64_t older = 0;
  int raw = 0, longdist = 0, force = 0, level = 19;
  for (int i = 3; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = !strcmp(a, "--from") || !strcmp(a, "--to") || !strcmp(a, "--level") || !strcmp(a, "--target-size") ||
                !strcmp(a, "--before") || !strcmp(a, "--older-than");
    if (takes && !val) die("%s needs a value", a);
    if (!strcmp(a, "--from")) {
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
              !strcmp(cmd, "trim");
  if (!known) die("unknown command '%s' (see --help)", cmd);
  if (!strcmp(cmd, "trim") && !before && !older) die("trim needs --before OFF or --older-than AGE");
  cairn_backlog *b = open_dir(dir);
  int rc = 0;
  if (!strcmp(cmd, "ls")) {
    rc = cmd_ls(b, dir);
  } else if (!strcmp(cmd, "verify")) {
    rc = cmd_verify(b, dir);
  } else if (!strcmp(cmd, "dump")) {
    rc = cmd_dump(b, from, to, raw);
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
