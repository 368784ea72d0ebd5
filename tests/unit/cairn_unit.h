/* Helpers shared by the cmocka unit tests in this directory.
 *
 * Each test_*.c is its own executable, so everything here is static inline.
 * Include it after <cmocka.h>. */
#ifndef CAIRN_UNIT_H
#define CAIRN_UNIT_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* A temporary directory /tmp/cairn-<name>-<6 random characters>. */
typedef struct cairn_tmpdir {
  char path[64];
} cairn_tmpdir;

static inline int cairn_unit_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

/* Removes dir and everything below it (links are removed, not followed).
 * Returns 0 on success, like nftw(). */
static inline int cairn_rmtree(const char *dir) { return nftw(dir, cairn_unit_rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

/* Creates a new empty directory in t->path, named from mkdtemp's template
 * (its six trailing X are replaced by random characters).
 * Returns 0, or -1 if it could not be created. */
static inline int cairn_tmpdir_make(cairn_tmpdir *t, const char *name) {
  int n = snprintf(t->path, sizeof(t->path), "/tmp/cairn-%s-XXXXXX", name);
  if (n < 0 || (size_t)n >= sizeof(t->path)) return -1;
  return mkdtemp(t->path) ? 0 : -1;
}

/* Deletes the directory and its contents. Returns 0 on success. */
static inline int cairn_tmpdir_remove(cairn_tmpdir *t) { return cairn_rmtree(t->path); }

#endif
