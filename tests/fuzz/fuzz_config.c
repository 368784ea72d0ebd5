/* libFuzzer target for the configuration parser (engine/config.c): a
 * config file an operator wrote, and CONFIG SET from any client.
 *
 * Input: byte 0 picks the mode, the rest is the data.
 *   mode 0: the text of a config file (written to a private temporary file
 *           and loaded, as the server loads its file at start).
 *   mode 1: CONFIG SET name value [name value ...]: the data split at NUL
 *           bytes into arguments, an odd one dropped.
 * After either, CONFIG GET * formats every directive, and a failure must
 * come with a message. ASan/UBSan and the leak checker do the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/config.h"

static void die(const char *what) {
  fprintf(stderr, "fuzz_config: %s\n", what);
  abort();
}

static void emit(void *ud, const char *name, const char *value, size_t len) {
  size_t *n = ud;
  *n += strlen(name);
  for (size_t i = 0; i < len; i++) *n += (unsigned char)value[i]; /* every byte is read */
}

static char path[64];

static void get_all(const cairn_config *c) {
  const char *pat = "*";
  size_t plen = 1, n = 0;
  cairn_config_get(c, 1, &pat, &plen, emit, &n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] & 1;
  data++;
  size--;
  cairn_config c;
  cairn_config_init(&c);
  char err[1024] = "";
  if (mode == 0) {
    if (!path[0]) snprintf(path, sizeof(path), "/tmp/fuzz_config.%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write the temporary file");
    fwrite(data, 1, size, f);
    fclose(f);
    if (cairn_config_load_file(&c, path, err, sizeof(err)) != 0 && !err[0]) die("a failed load without a message");
    unlink(path);
  } else {
    const char *args[64];
    size_t lens[64];
    int n = 0;
    size_t at = 0;
    while (at <= size && n < 64) {
      const uint8_t *z = memchr(data + at, 0, size - at);
      size_t len = z ? (size_t)(z - (data + at)) : size - at;
      char *a = malloc(len + 1);
      memcpy(a, data + at, len);
      a[len] = '\0';
      args[n] = a;
      lens[n++] = len;
      at += len + 1;
      if (!z) break;
    }
    int pairs = n / 2;
    if (pairs > 0) {
      const char *names[32], *values[32];
      size_t nl[32], vl[32];
      for (int i = 0; i < pairs; i++) {
        names[i] = args[2 * i];
        nl[i] = lens[2 * i];
        values[i] = args[2 * i + 1];
        vl[i] = lens[2 * i + 1];
      }
      if (cairn_config_set(&c, pairs, names, nl, values, vl, err, sizeof(err)) != 0 && !err[0])
        die("a refused CONFIG SET without a message");
    }
    for (int i = 0; i < n; i++) free((void *)args[i]);
  }
  get_all(&c);
  cairn_config_free(&c);
  return 0;
}
