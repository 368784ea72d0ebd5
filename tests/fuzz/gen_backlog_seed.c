/* Writes the seed inputs of fuzz_backlog (tests/fuzz/corpus/fuzz_backlog):
 * small backlogs made with the backlog's own API (16 KB segments, so one
 * sealed and compressed segment and a raw active one fit in a seed), packed
 * in fuzz_backlog's input format. Built with the fuzz targets; run by hand:
 *   build-fuzz/gen_backlog_seed tests/fuzz/corpus/fuzz_backlog */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replication/backlog/backlog.h"

static void pack(const char *dir, const char *out, int mode) {
  FILE *o = fopen(out, "wb");
  if (!o) exit(1);
  fputc(mode, o);
  DIR *d = opendir(dir);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !strcmp(e->d_name, "LOCK")) continue;
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    FILE *f = fopen(p, "rb");
    if (!f) continue;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    size_t nl = strlen(e->d_name);
    fputc((int)nl, o);
    fwrite(e->d_name, 1, nl, o);
    unsigned char len[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 24)};
    fwrite(len, 1, 4, o);
    fwrite(buf, 1, n, o);
  }
  closedir(d);
  fclose(o);
}

static void make(const char *dir, int records, int compress) {
  cairn_backlog_options opt = {.segment_size = 16 * 1024, .no_compress = !compress};
  cairn_backlog *b;
  char err[256];
  if (cairn_backlog_open(dir, &opt, &b, err, sizeof(err)) != 0) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  for (int i = 0; i < records; i++) {
    char rec[128];
    int n = snprintf(rec, sizeof(rec), "*3\r\n$3\r\nSET\r\n$6\r\nk%05d\r\n$8\r\nv%07d\r\n", i % 100000, i);
    cairn_backlog_append(b, rec, (size_t)n);
    if (i % 50 == 49) cairn_backlog_sync(b);
  }
  cairn_backlog_sync(b);
  if (compress) sleep(1); /* the compression thread seals the full segments */
  cairn_backlog_close(b);
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  /* mkdtemp(3) replaces the six trailing X with a unique suffix */
  char tmp[] = "/tmp/gen_backlog_seed.XXXXXX";
  if (!mkdtemp(tmp)) return 1;
  char dir[512], out[512];
  struct {
    const char *name;
    int records, compress, mode;
  } seeds[] = {{"one_raw_segment", 40, 0, 1}, {"sealed_and_raw", 500, 1, 1}, {"sealed_and_raw_tool", 500, 1, 2}};
  for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
    snprintf(dir, sizeof(dir), "%s/%s", tmp, seeds[i].name);
    make(dir, seeds[i].records, seeds[i].compress);
    snprintf(out, sizeof(out), "%s/%s", argv[1], seeds[i].name);
    pack(dir, out, seeds[i].mode);
  }
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
  return system(cmd);
}
