/* The replication stream of the iteration: a command's propagations are
 * gathered while it runs and moved into srv->stream when it ends, with the
 * SELECTs the stream needs, wrapped in MULTI/EXEC when there are several.
 * engine/commit.c appends srv->stream to the WAL at the iteration's end. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/stream.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- propagation */

struct cairn_prop {
  int db;
  size_t off, len; /* in srv->props */
};

void cairn_propagate(cairn_ctx *c, int db, int argc, const cairn_str *argv) {
  if (c->replaying) return;
  cairn_server *srv = c->srv;
  if ((size_t)srv->nprops == srv->prop_cap) {
    srv->prop_cap = srv->prop_cap ? srv->prop_cap * 2 : 8;
    srv->prop_at = cairn_xrealloc(srv->prop_at, srv->prop_cap * sizeof(*srv->prop_at));
  }
  size_t off = srv->props.len;
  cairn_resp_append_command(&srv->props, argc, argv);
  srv->prop_at[srv->nprops].db = db;
  srv->prop_at[srv->nprops].off = off;
  srv->prop_at[srv->nprops].len = srv->props.len - off;
  srv->nprops++;
}

void cairn_propagate_del(cairn_ctx *c, int db, cairn_str key) {
  cairn_str argv[2] = {{"DEL", 3}, key};
  cairn_propagate(c, db, 2, argv);
}

static void stream_select(cairn_server *srv, int db) {
  if (srv->stream_db == db) return;
  char num[16];
  int n = snprintf(num, sizeof(num), "%d", db);
  cairn_str argv[2] = {{"SELECT", 6}, {num, (size_t)n}};
  size_t before = srv->stream.len;
  cairn_resp_append_command(&srv->stream, 2, argv);
  srv->stream_offset += srv->stream.len - before;
  srv->stream_db = db;
}

static void stream_raw(cairn_server *srv, const char *p, size_t len) {
  cairn_buf_append(&srv->stream, p, len);
  srv->stream_offset += len;
}

void cairn_stream_append_raw(cairn_server *srv, const void *p, size_t n) { stream_raw(srv, p, n); }

/* Moves the running command's propagations into the iteration's stream,
 * wrapped in MULTI/EXEC when there is more than one. */
void cairn_stream_flush_command(cairn_server *srv) {
  if (srv->nprops == 0) return;
  int wrap = srv->nprops > 1;
  stream_select(srv, srv->prop_at[0].db);
  if (wrap) stream_raw(srv, "*1\r\n$5\r\nMULTI\r\n", 15);
  for (int i = 0; i < srv->nprops; i++) {
    stream_select(srv, srv->prop_at[i].db);
    stream_raw(srv, srv->props.p + srv->prop_at[i].off, srv->prop_at[i].len);
  }
  if (wrap) stream_raw(srv, "*1\r\n$4\r\nEXEC\r\n", 14);
  srv->nprops = 0;
  srv->props.len = 0;
}

void cairn_stream_free(cairn_server *srv) {
  cairn_buf_free(&srv->stream);
  cairn_buf_free(&srv->props);
  free(srv->prop_at);
  srv->prop_at = NULL;
  srv->prop_cap = 0;
  srv->nprops = 0;
}

