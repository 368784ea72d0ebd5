/* libFuzzer target for the backlog's readers (replication/backlog/): the
 * MANIFEST parser, the raw segment scan (torn tail vs corruption), the
 * compressed segments' frames, cursor reads and verify. What a damaged disk
 * or a careless operator hands the server at start.
 *
 * Input: byte 0 picks the mode (bit 0: open as the server does, else as the
 * tool does; bit 1: read from the middle, else from the first offset; bit 2:
 * backlog-load-corrupt truncate), then
 * files: [name length: 1 byte][name][content length: 4 bytes LE][content],
 * repeated. Names are reduced to [A-Za-z0-9.-] (at most 64), so every file
 * lands in a fresh private directory. The backlog is opened there; when the
 * open succeeds, verify runs and a cursor reads to the end. Checked: an open
 * that fails says why; a cursor never returns more than asked, never moves
 * backwards, and stops at the end the backlog claims (or with an error);
 * ASan/UBSan and the leak checker catch the rest. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replication/backlog/backlog.h"

static void die(const char *what) {
  fprintf(stderr, "fuzz_backlog: %s\n", what);
  abort();
}

static char root[128];

static void wipe(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
}

static void on_problem(void *ud, const char *file, uint64_t pos, uint64_t offset, const char *why) {
  size_t *n = ud;
  *n += strlen(file) + strlen(why) + (size_t)(pos + offset) % 7;
}

static void on_log(void *ud, int level, const char *msg) {
  size_t *n = ud;
  *n += strlen(msg) + (size_t)level;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (!root[0]) {
    snprintf(root, sizeof(root), "/tmp/fuzz_backlog.%d", (int)getpid());
    mkdir(root, 0700);
  }
  wipe(root);
  int mode = data[0];
  size_t at = 1;
  int files = 0;
  while (at < size && files < 16) {
    size_t nl = data[at++];
    if (nl == 0 || at + nl + 4 > size) break;
    char name[80];
    size_t k = 0;
    for (size_t i = 0; i < nl && k < 64; i++) {
      char ch = (char)data[at + i];
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-')
        name[k++] = ch;
    }
    name[k] = '\0';
    at += nl;
    uint32_t cl = (uint32_t)data[at] | (uint32_t)data[at + 1] << 8 | (uint32_t)data[at + 2] << 16 |
                  (uint32_t)data[at + 3] << 24;
    at += 4;
    if (cl > size - at) cl = (uint32_t)(size - at);
    if (k == 0 || !strcmp(name, ".") || !strcmp(name, "..")) {
      at += cl;
      continue;
    }
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", root, name);
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write a file");
    if (cl) fwrite(data + at, 1, cl, f);
    fclose(f);
    at += cl;
    files++;
  }
  size_t sink = 0;
  cairn_backlog_options o = {.segment_size = 1 << 20, .no_compress = 1, .tool = !(mode & 1), .log = on_log,
                             .log_ud = &sink, .truncate_corrupt = (mode & 4) != 0};
  cairn_backlog *b = NULL;
  char err[512] = "";
  if (cairn_backlog_open(root, &o, &b, err, sizeof(err)) != 0) {
    if (!err[0]) die("a failed open without a reason");
    return 0;
  }
  uint64_t first = cairn_backlog_first(b), end = cairn_backlog_end(b);
  cairn_backlog_verify(b, on_problem, on_problem, NULL, &sink);
  if (end >= first && first > 0) {
    uint64_t from = (mode & 2) ? first + (end - first) / 2 : first;
    cairn_backlog_cursor *c = NULL;
    if (cairn_backlog_cursor_open(b, from, &c) == 0) {
      char buf[4096];
      uint64_t pos = cairn_backlog_cursor_offset(c);
      for (int i = 0; i < 100000; i++) {
        size_t cap = 1 + (size_t)(i * 131) % sizeof(buf);
        long n = cairn_backlog_cursor_next(c, buf, cap);
        if (n < 0 || n == 0) break;
        if ((size_t)n > cap) die("a read longer than asked");
        uint64_t now = cairn_backlog_cursor_offset(c);
        if (now != pos + (uint64_t)n) die("the cursor's offset does not follow its reads");
        if (now > end + 1) die("read past the end the backlog claims");
        pos = now;
      }
      cairn_backlog_cursor_close(c);
    }
  }
  cairn_backlog_close(b);
  return 0;
}
