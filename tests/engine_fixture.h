/* A server without sockets, shared by the unit tests (tests/unit) and the
 * fuzz targets (tests/fuzz): an in-memory WAL (the cairn_wal seam the fault
 * injection uses) and a real LMDB store in a directory the caller made. No
 * loop runs: cairn_commit_iteration syncs inline, as before the flusher
 * thread starts; the store thread (started by cairn_store_open) writes a
 * checkpoint's layer into LMDB once the WAL has synced it.
 *
 * Everything here is static inline (each test is its own executable);
 * include it with "tests/engine_fixture.h" (the repository root is on the
 * include path). */
#ifndef CAIRN_ENGINE_FIXTURE_H
#define CAIRN_ENGINE_FIXTURE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/acl.h"
#include "engine/blocking.h"
#include "engine/buf.h"
#include "engine/commit.h"
#include "engine/config.h"
#include "engine/info.h"
#include "engine/multi.h"
#include "engine/pubsub.h"
#include "engine/server.h"
#include "engine/store.h"
#include "engine/stream.h"

/* ---------------------------------------------------------------- a WAL in memory */

typedef struct cairn_mem_wal {
  cairn_buf bytes;  /* stream offsets 1..bytes.len */
  uint64_t synced;  /* bytes made durable by sync */
  int appends, syncs;
  int fail_append;  /* the next append fails with EIO */
} cairn_mem_wal;

typedef struct cairn_mem_cursor {
  cairn_mem_wal *w;
  uint64_t pos; /* offset - 1 of the next byte */
} cairn_mem_cursor;

static inline int cairn_mw_append(void *ud, const void *p, size_t n) {
  cairn_mem_wal *w = ud;
  if (w->fail_append) {
    w->fail_append = 0;
    errno = EIO;
    return -1;
  }
  cairn_buf_append(&w->bytes, p, n);
  w->appends++;
  return 0;
}
static inline int cairn_mw_sync(void *ud) {
  cairn_mem_wal *w = ud;
  w->synced = w->bytes.len;
  w->syncs++;
  return 0;
}
static inline uint64_t cairn_mw_first(void *ud) {
  (void)ud;
  return 1; /* nothing is ever dropped */
}
static inline uint64_t cairn_mw_end(void *ud) { return ((cairn_mem_wal *)ud)->bytes.len; }
static inline void *cairn_mw_cursor_open(void *ud, uint64_t off) {
  cairn_mem_cursor *c = calloc(1, sizeof(*c));
  c->w = ud;
  c->pos = off - 1;
  return c;
}
static inline long cairn_mw_cursor_next(void *cur, void *buf, size_t cap) {
  cairn_mem_cursor *c = cur;
  size_t left = c->w->bytes.len - (size_t)c->pos;
  size_t n = left < cap ? left : cap;
  if (n) memcpy(buf, c->w->bytes.p + c->pos, n);
  c->pos += n;
  return (long)n;
}
static inline void cairn_mw_cursor_close(void *cur) { free(cur); }
static inline int cairn_mw_maintain(void *ud, const cairn_wal_retention *r) {
  (void)ud, (void)r;
  return 0;
}

static inline cairn_wal cairn_mem_wal_table(cairn_mem_wal *w) {
  return (cairn_wal){.ud = w,
                     .append = cairn_mw_append,
                     .sync = cairn_mw_sync,
                     .first = cairn_mw_first,
                     .end = cairn_mw_end,
                     .cursor_open = cairn_mw_cursor_open,
                     .cursor_next = cairn_mw_cursor_next,
                     .cursor_close = cairn_mw_cursor_close,
                     .maintain = cairn_mw_maintain};
}

/* ---------------------------------------------------------------- server */

/* Like kill -9: nothing after the last checkpoint reaches LMDB; frees the
 * server. */
static inline void cairn_fixture_server_crash(cairn_server *srv) {
  cairn_store_rollback(srv->store);
  cairn_store_close(srv->store);
  cairn_stream_free(srv);
  cairn_blocking_free(srv);
  cairn_pubsub_free(srv);
  cairn_watch_free(srv);
  cairn_info_free_calls(srv);
  cairn_acl_free(srv->acl);
  cairn_config_free(&srv->cfg);
  free(srv);
}

/* A server on a real store in dir (64 MB map, 16 databases) and the WAL w,
 * recovered like main.c does (the WAL is replayed from the store's
 * checkpoint). NULL with err set on failure. */
static inline cairn_server *cairn_fixture_server_start(const char *dir, cairn_mem_wal *w, char *err,
                                                       size_t errlen) {
  cairn_server *srv = calloc(1, sizeof(*srv));
  cairn_config_init(&srv->cfg);
  cairn_store_options o = {.databases = 16, .map_size = 64ULL << 20, .max_map_size = 1ULL << 30};
  char why[512] = "";
  if (cairn_store_open(dir, &o, &srv->store, why, sizeof(why)) != 0) {
    snprintf(err, errlen, "cairn_store_open: %s", why);
    cairn_config_free(&srv->cfg);
    free(srv);
    return NULL;
  }
  srv->wal = cairn_mem_wal_table(w);
  if (cairn_commit_startup(srv, why, sizeof(why)) != 0) {
    snprintf(err, errlen, "cairn_commit_startup: %s", why);
    cairn_fixture_server_crash(srv);
    return NULL;
  }
  return srv;
}

#endif
