/* Clients: accepting a connection, reading and parsing its requests,
 * executing them, holding replies until the WAL sync that covers them,
 * writing them out under the output-buffer limits, blocking and resuming,
 * closing (engine/client.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/blocking.h"
#include "engine/acl.h"
#include "engine/client.h"
#include "engine/fault.h"
#include "engine/commit.h"
#include "engine/log.h"
#include "engine/monitor.h"
#include "engine/multi.h"
#include "engine/prefetch.h"
#include "engine/pubsub.h"
#include "engine/server.h"
#include "engine/tls.h"
#include "engine/tracking.h"
#include "engine/util.h"

#define READ_CHUNK (16 * 1024)

static void client_process(cairn_client *c);
static void client_finish(cairn_client *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void client_accepted(cairn_server *srv, cairn_client *c, int is_unix, int tls);

/* ---------------------------------------------------------------- clients */

static void on_client_closed(uv_handle_t *h) {
  cairn_client *c = h->data;
  cairn_buf_free(&c->query);
  cairn_buf_free(&c->out);
  cairn_buf_free(&c->inflight);
  cairn_req_parser_free(&c->parser);
  cairn_tls_free(c->tls);
  free(c->argv);
  free(c->name);
  free(c);
}

static void pending_remove(cairn_client *c) {
  if (!(c->flags & CAIRN_CLIENT_PENDING_WRITE)) return;
  cairn_server *srv = c->srv;
  for (cairn_client **pp = &srv->pending; *pp; pp = &(*pp)->pending_next) {
    if (*pp == c) {
      *pp = c->pending_next;
      break;
    }
  }
  c->flags &= ~CAIRN_CLIENT_PENDING_WRITE;
}

void cairn_client_close(cairn_client *c) {
  if (c->flags & CAIRN_CLIENT_CLOSING && uv_is_closing(&c->h.handle)) return;
  c->flags |= CAIRN_CLIENT_CLOSING;
  if (uv_is_closing(&c->h.handle)) return;
  cairn_server *srv = c->srv;
  if (c->repl && srv->repl_hooks.on_close) srv->repl_hooks.on_close(c);
  if (c->blocking) cairn_blocking_client_closed(c);
  cairn_multi_client_reset(c);
  cairn_pubsub_client_reset(c);
  cairn_tracking_client_closed(c);
  cairn_monitor_remove(c);
  cairn_prefetch_client_closed(c);
  pending_remove(c);
  if (c->flags & CAIRN_CLIENT_PUSHED) {
    for (cairn_client **pp = &srv->pushed; *pp; pp = &(*pp)->push_next) {
      if (*pp == c) {
        *pp = c->push_next;
        break;
      }
    }
    c->flags &= ~CAIRN_CLIENT_PUSHED;
  }
  if (c->flags & CAIRN_CLIENT_RESUME) {
    for (cairn_client **pp = &srv->resume; *pp; pp = &(*pp)->resume_next) {
      if (*pp == c) {
        *pp = c->resume_next;
        break;
      }
    }
    c->flags &= ~CAIRN_CLIENT_RESUME;
  }
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  srv->nclients--;
  uv_close(&c->h.handle, on_client_closed);
}

cairn_client *cairn_client_by_id(cairn_server *srv, uint64_t id) {
  for (cairn_client *c = srv->clients; c; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

static void mark_pending(cairn_client *c) {
  if (c->flags & CAIRN_CLIENT_PENDING_WRITE) return;
  c->flags |= CAIRN_CLIENT_PENDING_WRITE;
  c->pending_next = c->srv->pending;
  c->srv->pending = c;
}

static void client_flush(cairn_client *c);

static void on_drain_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  if (nread < 0) cairn_client_close(s->data); /* the peer closed: now close quietly */
}

static void on_drain_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  static char sink[4096];
  (void)h;
  *buf = uv_buf_init(sink, sizeof(sink));
}

static void on_shutdown_done(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* A write that owns its bytes (a TLS close_notify): freed when done. */
typedef struct owned_write {
  uv_write_t req;
  cairn_buf data;
} owned_write;

static void on_owned_write_done(uv_write_t *req, int status) {
  (void)status;
  owned_write *w = req->data;
  cairn_buf_free(&w->data);
  free(w);
}

/* The last reply is out and the connection must end (QUIT, protocol error,
 * refused connection). Closing a socket that still has unread input makes
 * the kernel send RST, which can destroy the reply in flight; so send FIN
 * instead, discard whatever the peer still sends, and close at its EOF (the
 * cron closes laggards after two seconds). */
static void client_finish(cairn_client *c) {
  if (c->flags & (CAIRN_CLIENT_DRAINING | CAIRN_CLIENT_CLOSING)) return;
  c->flags |= CAIRN_CLIENT_DRAINING;
  c->drain_since_ms = cairn_monotonic_ms();
  if (c->tls && !c->writing) {
    /* End the session cleanly: close_notify goes out before the FIN. */
    cairn_tls_shutdown(c->tls);
    owned_write *w = cairn_xcalloc(1, sizeof(*w));
    if (cairn_tls_take(c->tls, &w->data) > 0) {
      w->req.data = w;
      uv_buf_t b = uv_buf_init(w->data.p, (unsigned)w->data.len);
      if (uv_write(&w->req, &c->h.stream, &b, 1, on_owned_write_done) != 0) {
        cairn_buf_free(&w->data);
        free(w);
      }
    } else {
      cairn_buf_free(&w->data);
      free(w);
    }
  }
  uv_read_stop(&c->h.stream);
  if (uv_read_start(&c->h.stream, on_drain_alloc, on_drain_read) != 0) {
    cairn_client_close(c); /* cannot wait for the peer's EOF: close now */
    return;
  }
  uv_shutdown_t *req = cairn_xmalloc(sizeof(*req));
  if (uv_shutdown(req, &c->h.stream, on_shutdown_done) != 0) {
    free(req);
    cairn_client_close(c);
  }
}

/* The client reads its replies again: resume reading its commands. */
static void resume_reading(cairn_client *c) {
  if (!(c->flags & CAIRN_CLIENT_READ_PAUSED)) return;
  c->flags &= ~CAIRN_CLIENT_READ_PAUSED;
  int rc = uv_read_start(&c->h.stream, on_alloc, on_read);
  if (rc != 0) {
    cairn_verbose("Closing client id=%llu addr=%s: cannot read: %s", (unsigned long long)c->id, c->addr,
                  uv_strerror(rc));
    cairn_client_close(c);
    return;
  }
  client_process(c);
  if (c->out.len) mark_pending(c);
}

static void on_write_done(uv_write_t *req, int status) {
  cairn_client *c = req->data;
  c->writing = 0;
  c->inflight.len = 0;
  cairn_buf_shrink(&c->inflight, 64 * 1024);
  if (status < 0) {
    if (status != UV_ECANCELED) cairn_client_close(c);
    return;
  }
  if (c->flags & CAIRN_CLIENT_CLOSING) return;
  if (c->released || (c->tls && cairn_tls_pending(c->tls))) {
    client_flush(c);
  } else if (c->out.len == 0 && (c->flags & CAIRN_CLIENT_CLOSE_AFTER_REPLY)) {
    client_finish(c);
    return;
  }
  if (!c->writing) resume_reading(c);
  if (!c->writing && (c->flags & CAIRN_CLIENT_REPLICA) && c->srv->repl_hooks.on_drained) c->srv->repl_hooks.on_drained(c);
}

/* Output-buffer limits: a client whose unsent output passes the hard limit,
 * or stays over the soft limit for soft_seconds, is disconnected. */
static int obuf_over_limit(cairn_client *c) {
  int type = cairn_client_type(c);
  int cls = type == CAIRN_CLIENT_TYPE_REPLICA  ? CAIRN_CLIENT_CLASS_REPLICA
            : type == CAIRN_CLIENT_TYPE_PUBSUB ? CAIRN_CLIENT_CLASS_PUBSUB
                                               : CAIRN_CLIENT_CLASS_NORMAL;
  const cairn_obuf_limit *l = &c->srv->cfg.obuf_limits[cls];
  size_t used = c->out.len + c->inflight.len;
  if (l->hard_bytes && used >= (size_t)l->hard_bytes) return 1;
  if (l->soft_bytes && used >= (size_t)l->soft_bytes) {
    int64_t now = cairn_monotonic_ms();
    if (!c->obuf_soft_since) c->obuf_soft_since = now;
    if (now - c->obuf_soft_since >= l->soft_seconds * 1000) return 1;
  } else {
    c->obuf_soft_since = 0;
  }
  return 0;
}

/* out[0, n0) has been handed to the socket (or to TLS): drop it, and once
 * everything is out, end the connection or read again. */
static void client_sent(cairn_client *c, size_t n0) {
  if (c->sync_mark >= n0)
    c->sync_mark -= n0;
  else
    c->sync_mark = 0;
  c->released = 0;
  cairn_buf_consume(&c->out, n0);
  if (c->out.len == 0) {
    cairn_buf_shrink(&c->out, 64 * 1024);
    if (!c->writing) {
      if (c->flags & CAIRN_CLIENT_CLOSE_AFTER_REPLY)
        client_finish(c);
      else
        resume_reading(c);
    }
  }
}

/* The TLS side of client_flush: out[0, released) is encrypted (once the
 * handshake is done) and the ciphertext waiting in the session (that, or
 * the handshake's own records) goes out like plain bytes: one write attempt
 * now, the rest through libuv from `inflight`. */
static void client_flush_tls(cairn_client *c) {
  if (c->writing) return;
  size_t n0 = 0;
  if (c->released && cairn_tls_ready(c->tls)) {
    n0 = c->released;
    if (cairn_tls_write(c->tls, c->out.p, n0) != 0) {
      cairn_client_close(c);
      return;
    }
  }
  c->inflight.len = 0;
  size_t n = cairn_tls_take(c->tls, &c->inflight);
  if (n) {
    uv_buf_t b = uv_buf_init(c->inflight.p, (unsigned)n);
    /* net.write: the same point as a plain socket's write (handshake
     * records count as writes too) */
    int w = cairn_fault(CAIRN_FAULT_NET_WRITE) ? UV_EPIPE : uv_try_write(&c->h.stream, &b, 1);
    if (w == UV_EAGAIN) w = 0;
    if (w < 0) {
      cairn_client_close(c);
      return;
    }
    if ((size_t)w < n) {
      c->writing = 1;
      c->write_req.data = c;
      b = uv_buf_init(c->inflight.p + w, (unsigned)(n - (size_t)w));
      if (uv_write(&c->write_req, &c->h.stream, &b, 1, on_write_done) != 0) {
        c->writing = 0;
        cairn_client_close(c);
        return;
      }
    } else {
      c->inflight.len = 0;
    }
  }
  c->srv->stats.net_output_bytes += n0;
  if (n0) client_sent(c, n0);
}

/* Sends out[0, released): one write attempt now, the rest through libuv. */
static void client_flush(cairn_client *c) {
  if (c->flags & CAIRN_CLIENT_CLOSING) return;
  if (obuf_over_limit(c)) {
    cairn_warning("Client id=%llu addr=%s closed for overcoming of output buffer limits.",
                  (unsigned long long)c->id, c->addr);
    cairn_client_close(c);
    return;
  }
  if (c->tls) {
    client_flush_tls(c);
    return;
  }
  if (c->writing || !c->released) return;
  size_t n0 = c->released;
  uv_buf_t b = uv_buf_init(c->out.p, (unsigned)n0);
  int n = cairn_fault(CAIRN_FAULT_NET_WRITE) ? UV_EPIPE : uv_try_write(&c->h.stream, &b, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    cairn_client_close(c);
    return;
  }
  c->srv->stats.net_output_bytes += (uint64_t)n;
  if ((size_t)n < n0) {
    /* The socket is full: hand the rest of the released part to libuv. */
    c->inflight.len = 0;
    cairn_buf_append(&c->inflight, c->out.p + n, n0 - (size_t)n);
    c->srv->stats.net_output_bytes += n0 - (size_t)n;
    c->writing = 1;
    c->write_req.data = c;
    b = uv_buf_init(c->inflight.p, (unsigned)c->inflight.len);
    if (uv_write(&c->write_req, &c->h.stream, &b, 1, on_write_done) != 0) {
      c->writing = 0;
      cairn_client_close(c);
      return;
    }
  }
  client_sent(c, n0);
}

static void mark_clients(cairn_server *srv) {
  for (cairn_client *c = srv->pending; c; c = c->pending_next) c->sync_mark = c->out.len;
}

/* Releases held replies: all of them (everything they saw is durable), or
 * only up to each client's sync_mark (what the finished sync covered). */
static void release_clients(cairn_server *srv, int marked_only) {
  cairn_client *c = srv->pending;
  srv->pending = NULL;
  while (c) {
    cairn_client *next = c->pending_next;
    c->pending_next = NULL;
    c->flags &= ~(CAIRN_CLIENT_PENDING_WRITE | CAIRN_CLIENT_WROTE);
    if (c->flags & CAIRN_CLIENT_CLOSING) {
      cairn_client_close(c);
    } else {
      size_t upto = marked_only ? c->sync_mark : c->out.len;
      if (upto > c->released) c->released = upto;
      client_flush(c);
      if (!(c->flags & CAIRN_CLIENT_CLOSING) && c->out.len > c->released) mark_pending(c);
    }
    c = next;
  }
}

int cairn_client_type(const cairn_client *c) {
  if (c->flags & CAIRN_CLIENT_REPLICA) return CAIRN_CLIENT_TYPE_REPLICA;
  if (c->flags & CAIRN_CLIENT_PUBSUB) return CAIRN_CLIENT_TYPE_PUBSUB;
  return CAIRN_CLIENT_TYPE_NORMAL;
}

void cairn_client_push(cairn_client *c, const void *p, size_t n) {
  if (c->flags & (CAIRN_CLIENT_CLOSING | CAIRN_CLIENT_DRAINING)) return;
  int held = c->out.len > c->released;
  cairn_buf_append(&c->out, p, n);
  if (!held) c->released = c->out.len;
  if (!(c->flags & CAIRN_CLIENT_PUSHED)) {
    c->flags |= CAIRN_CLIENT_PUSHED;
    c->push_next = c->srv->pushed;
    c->srv->pushed = c;
  }
  mark_pending(c);
}

/* Sends what pub/sub pushed during the iteration, without waiting for the
 * WAL (client_flush applies the output-buffer limits). Runs outside any
 * command: closing a client or resuming its reading is safe here. */
void cairn_clients_flush_pushed(cairn_server *srv) {
  while (srv->pushed) {
    cairn_client *c = srv->pushed;
    srv->pushed = c->push_next;
    c->push_next = NULL;
    c->flags &= ~CAIRN_CLIENT_PUSHED;
    if (!(c->flags & CAIRN_CLIENT_CLOSING)) client_flush(c);
  }
}

void cairn_client_send(cairn_client *c, const void *p, size_t n) {
  if (c->flags & CAIRN_CLIENT_CLOSING) return;
  cairn_buf_append(&c->out, p, n);
  c->released = c->out.len;
  client_flush(c);
  if (!(c->flags & CAIRN_CLIENT_CLOSING) && c->out.len) mark_pending(c);
}

size_t cairn_client_pending_bytes(const cairn_client *c) {
  return c->out.len + c->inflight.len + (c->tls ? cairn_tls_pending(c->tls) : 0);
}

void cairn_clients_on_sync(cairn_server *srv, int event) {
  switch (event) {
  case CAIRN_SYNC_STARTED:
    mark_clients(srv);
    break;
  case CAIRN_SYNC_MARKED_DURABLE:
    release_clients(srv, 1);
    break;
  case CAIRN_SYNC_ALL_DURABLE:
    release_clients(srv, 0);
    break;
  case CAIRN_SYNC_LOST:
    /* The held replies depend on writes that will never be durable: those
     * clients are closed unanswered at the next release. */
    for (cairn_client *c = srv->pending; c; c = c->pending_next)
      if (c->out.len > c->released) c->flags |= CAIRN_CLIENT_CLOSING;
    break;
  }
}

/* Ciphertext of TLS clients is read here and fed to the session at once
 * (loop thread only: one buffer serves every connection). */
static char tls_read_buf[READ_CHUNK];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  cairn_client *c = h->data;
  if (c->tls) {
    *buf = uv_buf_init(tls_read_buf, sizeof(tls_read_buf));
    return;
  }
  size_t want = READ_CHUNK;
  /* A big bulk argument in progress: read it in few calls, the buffer
   * doubling as its bytes arrive. Not the whole declared size at once: a
   * client may declare 512 MB and send nothing (test_hostile.py), and
   * reserving it up front costs address space, and under ASan poisoning
   * its shadow at malloc and free (1 s a client on the CI's machines). */
  if (c->parser.in_multibulk && c->parser.bulk_len > 0) {
    size_t have = c->query.len - c->qpos;
    size_t need = c->parser.pos + (size_t)c->parser.bulk_len + 2;
    size_t step = c->query.cap > READ_CHUNK ? c->query.cap : READ_CHUNK;
    if (need > have && need - have > want) want = need - have < step ? need - have : step;
  }
  cairn_buf_reserve(&c->query, want);
  *buf = uv_buf_init(c->query.p + c->query.len, (unsigned)(c->query.cap - c->query.len));
}

static void protocol_error(cairn_client *c, const char *msg) {
  cairn_reply r = {&c->out, c->resp};
  cairn_reply_error(&r, msg);
  cairn_verbose("Protocol error (%s) from client: id=%llu addr=%s", msg, (unsigned long long)c->id, c->addr);
  c->flags |= CAIRN_CLIENT_CLOSE_AFTER_REPLY;
  mark_pending(c);
}

/* Executes every complete command in the query buffer. */
/* The next command of c's query buffer, its arguments in c->argv:
 * CAIRN_PARSE_OK with *consumed, NEED_MORE, or ERROR (the protocol error is
 * replied and the rest of the buffer dropped). The one parse of both the
 * loop's path and the busy-script poll. */
static int parse_next(cairn_client *c, size_t *consumed) {
  cairn_server *srv = c->srv;
  char err[128];
  c->parser.max_bulk_len = srv->cfg.proto_max_bulk_len;
  c->parser.unauthenticated = cairn_acl_auth_required(srv, c);
  int rc = cairn_req_parse(&c->parser, c->query.p + c->qpos, c->query.len - c->qpos, consumed, err, sizeof(err));
  if (rc == CAIRN_PARSE_ERROR) {
    protocol_error(c, err);
    c->qpos = c->query.len;
  }
  if (rc != CAIRN_PARSE_OK) return rc;
  if (c->parser.argc > c->argv_cap) {
    c->argv_cap = c->parser.argc * 2;
    c->argv = cairn_xrealloc(c->argv, c->argv_cap * sizeof(cairn_str));
  }
  cairn_req_args(&c->parser, c->query.p + c->qpos, c->argv);
  return rc;
}

#define CLIENT_WAITS                                                                                            \
  (CAIRN_CLIENT_CLOSING | CAIRN_CLIENT_CLOSE_AFTER_REPLY | CAIRN_CLIENT_DRAINING | CAIRN_CLIENT_BLOCKED |            \
   CAIRN_CLIENT_STALLED | CAIRN_CLIENT_POSTPONED | CAIRN_CLIENT_PREFETCH)

static void client_process(cairn_client *c) {
  cairn_server *srv = c->srv;
  unsigned batch = 0;
  while (!(c->flags & CLIENT_WAITS) && c->qpos < c->query.len) {
    /* commands not read ahead yet: their keys first, when the store is on
     * disk (engine/prefetch.h) */
    if (srv->prefetch_on && c->qpos >= c->pf_end && cairn_prefetch_client(c)) {
      /* its commands wait: so do its next bytes (they would count against
       * client-query-buffer-limit while the ones before cannot run) */
      if (!(c->flags & (CAIRN_CLIENT_READ_PAUSED | CAIRN_CLIENT_STALL_READ))) {
        uv_read_stop(&c->h.stream);
        c->flags |= CAIRN_CLIENT_PREFETCH_READ;
      }
      break;
    }
    if (c->out.len > (4 << 20)) {
      /* The client does not read its replies: stop reading its commands
       * until the socket drains, instead of buffering without bound. */
      if (!(c->flags & CAIRN_CLIENT_READ_PAUSED)) {
        c->flags |= CAIRN_CLIENT_READ_PAUSED;
        uv_read_stop(&c->h.stream);
      }
      break;
    }
    size_t consumed = 0;
    if (parse_next(c, &consumed) != CAIRN_PARSE_OK) break;
    if ((batch++ & 63) == 0) {
      srv->now_ms = cairn_mstime();
      c->last_interaction_ms = cairn_monotonic_ms();
    }
    cairn_execute(srv, c, (int)c->parser.argc, c->argv);
    if (c->flags & (CAIRN_CLIENT_STALLED | CAIRN_CLIENT_POSTPONED))
      break; /* runs again from qpos when unstalled / unpaused */
    c->qpos += consumed;
    if (c->out.len) mark_pending(c);
  }
  if (c->qpos == c->query.len) {
    c->query.len = c->qpos = c->pf_end = 0;
    cairn_buf_shrink(&c->query, 256 * 1024);
  } else if (c->qpos > 0 && (c->qpos > 64 * 1024 || c->qpos * 2 > c->query.len)) {
    cairn_buf_consume(&c->query, c->qpos);
    c->pf_end = c->pf_end > c->qpos ? c->pf_end - c->qpos : 0;
    c->qpos = 0;
  }
  if (c->query.len - c->qpos > (size_t)srv->cfg.client_query_buffer_limit) {
    cairn_warning("Closing client that reached max query buffer length: id=%llu addr=%s (qbuf=%zu)",
                  (unsigned long long)c->id, c->addr, c->query.len - c->qpos);
    cairn_client_close(c);
  }
}

/* A TLS client's ciphertext: through the session into the query buffer;
 * whatever the session has to send (handshake records, or replies that
 * waited for the handshake) goes out; then the commands run as usual. */
static void tls_on_read(cairn_client *c, const char *p, size_t n) {
  size_t before = c->query.len;
  int handshook = 0, was_ready = cairn_tls_ready(c->tls);
  char err[256] = "out of memory";
  int rc = cairn_tls_feed(c->tls, p, n) == 0 ? cairn_tls_read(c->tls, &c->query, &handshook, err, sizeof(err)) : -1;
  if (rc < 0) {
    if (!was_ready)
      cairn_warning("Error accepting a client connection: %s (addr=%s laddr=%s)", err, c->addr, c->laddr);
    else
      cairn_verbose("TLS error on client id=%llu addr=%s: %s", (unsigned long long)c->id, c->addr, err);
    /* The alert, if the session made one, is sent on a best-effort basis. */
    cairn_buf alert = {0};
    if (cairn_tls_take(c->tls, &alert) > 0) {
      uv_buf_t b = uv_buf_init(alert.p, (unsigned)alert.len);
      (void)uv_try_write(&c->h.stream, &b, 1);
    }
    cairn_buf_free(&alert);
    cairn_client_close(c);
    return;
  }
  /* Like Redis, the net counters count the protocol's bytes, not TLS's. */
  c->srv->stats.net_input_bytes += (uint64_t)(c->query.len - before);
  if (handshook || cairn_tls_pending(c->tls)) client_flush(c);
  if (c->flags & CAIRN_CLIENT_CLOSING) return;
  if (rc == 1) { /* close_notify: like EOF */
    cairn_client_close(c);
    return;
  }
  if (c->query.len > before && !(c->flags & CAIRN_CLIENT_DRAINING)) client_process(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  cairn_client *c = s->data;
  int ferr;
  if (nread > 0 && (ferr = cairn_fault(CAIRN_FAULT_NET_READ)) != 0) nread = -ferr; /* dropped, as if it failed */
  if (nread < 0) {
    cairn_client_close(c);
    return;
  }
  if (nread == 0) return;
  if (c->tls) {
    tls_on_read(c, buf->base, (size_t)nread);
    return;
  }
  c->query.len += (size_t)nread;
  c->srv->stats.net_input_bytes += (uint64_t)nread;
  client_process(c);
}

/* ---------------------------------------------------------------- accept */

static int addr_is_local(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    return ntohl(in->sin_addr.s_addr) == 0x7f000001; /* exactly 127.0.0.1, like Redis */
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return 1;
}

void cairn_format_addr(const struct sockaddr_storage *ss, char *out, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
    port = ntohs(in->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    port = ntohs(in6->sin6_port);
  }
  snprintf(out, cap, "%s:%d", ip, port);
}

static const char *protected_mode_msg =
    "-DENIED cairn is running in protected mode because protected mode is enabled and no password is set "
    "for the default user. In this mode connections are only accepted from the loopback interface. If you "
    "want to connect from external computers to cairn you may adopt one of the following solutions: 1) Just "
    "disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface "
    "by connecting to cairn from the same host the server is running, however MAKE SURE cairn is not "
    "publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
    "Alternatively you can just disable the protected mode by editing the cairn configuration file, and "
    "setting the protected mode option to 'no', and then restarting the server. 3) If you started the "
    "server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an "
    "authentication password for the default user. NOTE: You only need to do one of the above things in "
    "order for the server to start accepting connections from the outside.\r\n";

void cairn_client_accept(cairn_server *srv, uv_stream_t *listener, int tls) {
  cairn_client *c = cairn_xcalloc(1, sizeof(*c));
  c->srv = srv;
  int is_unix = listener->type == UV_NAMED_PIPE;
  int rc = is_unix ? uv_pipe_init(srv->loop, &c->h.pipe, 0) : uv_tcp_init(srv->loop, &c->h.tcp);
  if (rc != 0) {
    cairn_warning("accept: cannot create a client handle: %s", uv_strerror(rc));
    free(c);
    return;
  }
  c->h.handle.data = c;
  if ((rc = uv_accept(listener, &c->h.stream)) != 0) {
    cairn_warning("accept: %s", uv_strerror(rc));
    uv_close(&c->h.handle, on_client_closed);
    return;
  }
  client_accepted(srv, c, is_unix, tls);
}

/* A new connection's client, its handle open: registered and read. */
static void client_accepted(cairn_server *srv, cairn_client *c, int is_unix, int tls) {
  int rc;
  srv->stats.connections_received++;
  c->id = ++srv->next_client_id;
  c->resp = 2;
  c->created_ms = c->last_interaction_ms = cairn_monotonic_ms();
  cairn_req_parser_init(&c->parser);
  int local = 1;
  if (is_unix) {
    c->flags |= CAIRN_CLIENT_UNIX;
    snprintf(c->addr, sizeof(c->addr), "%s:0", srv->cfg.unixsocket);
    snprintf(c->laddr, sizeof(c->laddr), "%s:0", srv->cfg.unixsocket);
  } else {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
      cairn_format_addr(&ss, c->addr, sizeof(c->addr));
      local = addr_is_local(&ss);
    }
    len = sizeof(ss);
    if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) cairn_format_addr(&ss, c->laddr, sizeof(c->laddr));
    if ((rc = uv_tcp_nodelay(&c->h.tcp, 1)) != 0)
      cairn_verbose("TCP_NODELAY on client %s: %s", c->addr, uv_strerror(rc));
    if (srv->cfg.tcp_keepalive > 0 && (rc = uv_tcp_keepalive(&c->h.tcp, 1, (unsigned)srv->cfg.tcp_keepalive)) != 0)
      cairn_verbose("SO_KEEPALIVE on client %s: %s", c->addr, uv_strerror(rc));
  }
  if (tls && !(c->tls = cairn_tls_new(srv, 1))) {
    cairn_warning("Error accepting a client connection: cannot create a TLS session (addr=%s laddr=%s)", c->addr,
                  c->laddr);
    uv_close(&c->h.handle, on_client_closed);
    return;
  }
  cairn_acl_client_init(srv, c);
  c->next = srv->clients;
  if (srv->clients) srv->clients->prev = c;
  srv->clients = c;
  srv->nclients++;
  /* A TLS client is read from the start: its refusal (below) can only be
   * sent once the handshake is done. */
  if (c->tls && (rc = uv_read_start(&c->h.stream, on_alloc, on_read)) != 0) {
    cairn_warning("Closing client id=%llu addr=%s: cannot read: %s", (unsigned long long)c->id, c->addr,
                  uv_strerror(rc));
    cairn_client_close(c);
    return;
  }
  if (srv->nclients > srv->cfg.maxclients) {
    srv->stats.rejected_connections++;
    cairn_buf_append_str(&c->out, "-ERR max number of clients reached\r\n");
    c->flags |= CAIRN_CLIENT_CLOSE_AFTER_REPLY;
    mark_pending(c);
    return;
  }
  if (srv->cfg.protected_mode && cairn_acl_default_nopass(srv) && !local) {
    srv->stats.rejected_connections++;
    cairn_buf_append_str(&c->out, protected_mode_msg);
    c->flags |= CAIRN_CLIENT_CLOSE_AFTER_REPLY;
    mark_pending(c);
    return;
  }
  if (!c->tls && (rc = uv_read_start(&c->h.stream, on_alloc, on_read)) != 0) {
    cairn_warning("Closing client id=%llu addr=%s: cannot read: %s", (unsigned long long)c->id, c->addr,
                  uv_strerror(rc));
    cairn_client_close(c);
  }
}

/* ---------------------------------------------------------------- blocking */

void cairn_client_block(cairn_client *c, int64_t deadline_ms, void (*on_timeout)(cairn_client *c)) {
  c->flags |= CAIRN_CLIENT_BLOCKED;
  c->block_deadline_ms = deadline_ms;
  c->on_block_timeout = on_timeout;
}

/* Commands pipelined behind a blocked one run later, from the iteration's
 * end: never inside another client's command. */
void cairn_client_unblock(cairn_client *c) {
  if (!(c->flags & CAIRN_CLIENT_BLOCKED)) return;
  c->flags &= ~CAIRN_CLIENT_BLOCKED;
  c->on_block_timeout = NULL;
  if (c->out.len) mark_pending(c);
  if (!(c->flags & CAIRN_CLIENT_RESUME) && c->qpos < c->query.len) {
    c->flags |= CAIRN_CLIENT_RESUME;
    c->resume_next = c->srv->resume;
    c->srv->resume = c;
  }
}

void cairn_client_prefetched(cairn_client *c) {
  c->flags &= ~CAIRN_CLIENT_PREFETCH;
  if (c->flags & CAIRN_CLIENT_CLOSING) return;
  if (c->flags & CAIRN_CLIENT_PREFETCH_READ) {
    c->flags &= ~CAIRN_CLIENT_PREFETCH_READ;
    int rc = uv_read_start(&c->h.stream, on_alloc, on_read);
    if (rc != 0 && rc != UV_EALREADY) {
      cairn_client_close(c);
      return;
    }
  }
  if (c->flags & CAIRN_CLIENT_RESUME) return;
  c->flags |= CAIRN_CLIENT_RESUME;
  c->resume_next = c->srv->resume;
  c->srv->resume = c;
}

void cairn_client_stall(cairn_client *c, int stop_reading) {
  if (c->flags & CAIRN_CLIENT_STALLED) return;
  c->flags |= CAIRN_CLIENT_STALLED;
  if (stop_reading && !(c->flags & CAIRN_CLIENT_READ_PAUSED)) {
    uv_read_stop(&c->h.stream);
    c->flags |= CAIRN_CLIENT_STALL_READ;
  }
  c->srv->stalled++;
}

void cairn_clients_unstall(cairn_server *srv) {
  if (!srv->stalled) return;
  for (cairn_client *c = srv->clients; c; c = c->next) {
    if (!(c->flags & CAIRN_CLIENT_STALLED)) continue;
    int reread = (c->flags & CAIRN_CLIENT_STALL_READ) && !(c->flags & CAIRN_CLIENT_READ_PAUSED);
    c->flags &= ~(CAIRN_CLIENT_STALLED | CAIRN_CLIENT_STALL_READ);
    srv->stalled--;
    if (c->flags & CAIRN_CLIENT_CLOSING) continue;
    if (reread && uv_read_start(&c->h.stream, on_alloc, on_read) != 0) {
      cairn_client_close(c);
      continue;
    }
    if (!(c->flags & CAIRN_CLIENT_RESUME)) {
      c->flags |= CAIRN_CLIENT_RESUME;
      c->resume_next = srv->resume;
      srv->resume = c;
    }
  }
  srv->stalled = 0;
}

/* ---------------------------------------------------------------- CLIENT PAUSE */

int cairn_clients_paused(const cairn_server *srv) { return srv->pause_type != CAIRN_PAUSE_OFF; }

void cairn_client_postpone(cairn_client *c) {
  c->flags |= CAIRN_CLIENT_POSTPONED;
  c->postpone_seq = ++c->srv->postpone_seq;
}

static int by_postpone_seq(const void *a, const void *b) {
  const cairn_client *x = *(cairn_client *const *)a, *y = *(cairn_client *const *)b;
  return x->postpone_seq < y->postpone_seq ? -1 : x->postpone_seq > y->postpone_seq;
}

/* Every postponed client runs its commands again at the iteration's end, in
 * the order they were postponed (each checks the pause again). */
static void resume_postponed(cairn_server *srv) {
  size_t n = 0, cap = 0;
  cairn_client **v = NULL;
  for (cairn_client *c = srv->clients; c; c = c->next) {
    if (!(c->flags & CAIRN_CLIENT_POSTPONED)) continue;
    c->flags &= ~CAIRN_CLIENT_POSTPONED;
    if (c->flags & CAIRN_CLIENT_CLOSING) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      v = cairn_xrealloc(v, cap * sizeof(*v));
    }
    v[n++] = c;
  }
  if (n) qsort(v, n, sizeof(*v), by_postpone_seq);
  for (size_t i = n; i-- > 0;) { /* pushed at the head: the first postponed ends up first */
    cairn_client *c = v[i];
    if (c->flags & CAIRN_CLIENT_RESUME) continue;
    c->flags |= CAIRN_CLIENT_RESUME;
    c->resume_next = srv->resume;
    srv->resume = c;
  }
  free(v);
}

static void on_pause_timer(uv_timer_t *t) {
  cairn_server *srv = t->data;
  if (srv->pause_type == CAIRN_PAUSE_OFF) return;
  int64_t now = cairn_monotonic_ms();
  if (now < srv->pause_end_ms) {
    uv_timer_start(&srv->pause_timer, on_pause_timer, (uint64_t)(srv->pause_end_ms - now), 0);
    return;
  }
  cairn_clients_unpause(srv);
}

void cairn_clients_pause(cairn_server *srv, int64_t end_ms, int type) {
  /* Redis 7.0: the stricter type and the later end of the two. */
  if (srv->pause_type == CAIRN_PAUSE_OFF || end_ms > srv->pause_end_ms) srv->pause_end_ms = end_ms;
  if (type > srv->pause_type) srv->pause_type = type;
  if (!srv->pause_timer_init) {
    uv_timer_init(srv->loop, &srv->pause_timer);
    srv->pause_timer.data = srv;
    srv->pause_timer_init = 1;
  }
  int64_t now = cairn_monotonic_ms();
  uv_timer_start(&srv->pause_timer, on_pause_timer,
                 (uint64_t)(srv->pause_end_ms > now ? srv->pause_end_ms - now : 0), 0);
}

void cairn_clients_unpause(cairn_server *srv) {
  if (srv->pause_type == CAIRN_PAUSE_OFF) return;
  srv->pause_type = CAIRN_PAUSE_OFF;
  srv->pause_end_ms = 0;
  if (srv->pause_timer_init) uv_timer_stop(&srv->pause_timer);
  resume_postponed(srv);
}

void cairn_clients_resume(cairn_server *srv) {
  while (srv->resume) {
    cairn_client *c = srv->resume;
    srv->resume = c->resume_next;
    c->resume_next = NULL;
    c->flags &= ~CAIRN_CLIENT_RESUME;
    if (!(c->flags & CAIRN_CLIENT_CLOSING)) client_process(c);
  }
}


/* ---------------------------------------------------------------- busy script */
/* A script running past busy-reply-threshold (engine/script.c's hook calls
 * this every 100000 Lua instructions): the other clients are answered
 * meanwhile, like Redis's processEventsWhileBlocked. libuv's loop cannot be
 * re-entered from inside one of its callbacks, so this does not run it: it
 * polls the clients' sockets itself (non-blocking, no wait), reads what
 * arrived into their query buffers (the same buffers and parser libuv's
 * reads use, so a command split across the two paths is parsed once), and
 * answers every complete command: those flagged CAIRN_CMD_ALLOW_BUSY (SCRIPT
 * KILL, FUNCTION KILL/STATS, AUTH, HELLO, MULTI...) run their handler
 * directly, outside cairn_execute (which would touch the running script's
 * propagation), the others get -BUSY. SHUTDOWN exits at once, like a kill:
 * nothing of the running script was propagated, so recovery restores the
 * state before it. The replies go out at once when nothing of the client's
 * output waits for the WAL. The script's own client, replicas, a master
 * link and clients whose reading is paused are left alone; new connections
 * wait in the listen backlog until the script ends. */
/* New TCP connections while a script runs: accepted here (libuv's accept
 * path only runs from its own I/O callback), their handles opened on the
 * accepted sockets, then served like the others. */
static void accept_busy(cairn_server *srv) {
  for (int i = 0; i < srv->nlisteners; i++) {
    uv_os_fd_t lfd;
    if (uv_fileno((const uv_handle_t *)srv->listeners[i], &lfd) != 0) continue;
    for (int k = 0; k < 16; k++) {
      int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      cairn_client *c = cairn_xcalloc(1, sizeof(*c));
      c->srv = srv;
      int rc = uv_tcp_init(srv->loop, &c->h.tcp);
      if (rc == 0) {
        c->h.handle.data = c;
        rc = uv_tcp_open(&c->h.tcp, fd);
        if (rc != 0) {
          close(fd);
          uv_close(&c->h.handle, on_client_closed);
          continue;
        }
      } else {
        close(fd);
        free(c);
        continue;
      }
      client_accepted(srv, c, 0, 0); /* plain listeners only: TLS ones wait for the script */
    }
  }
}

void cairn_clients_serve_busy(cairn_server *srv, cairn_client *runner, int eval_mode) {
  enum { MAX_POLL = 1024 };
  /* The replies held for the writes made before the script may go once
   * those are durable; not inside EXEC, whose reply in progress covers
   * writes that are not in the stream yet. */
  if (!runner || !(runner->flags & CAIRN_CLIENT_IN_EXEC)) cairn_commit_during_script(srv);
  accept_busy(srv);
  struct pollfd pfd[MAX_POLL];
  cairn_client *who[MAX_POLL];
  int n = 0;
  for (cairn_client *c = srv->clients; c && n < MAX_POLL; c = c->next) {
    /* TLS clients are not read here (their bytes need the TLS layer of
     * on_read): they are answered when the script ends. */
    if (c == runner || c->tls || (c->flags & (CAIRN_CLIENT_CLOSING | CAIRN_CLIENT_CLOSE_AFTER_REPLY | CAIRN_CLIENT_DRAINING |
                                    CAIRN_CLIENT_REPLICA | CAIRN_CLIENT_READ_PAUSED | CAIRN_CLIENT_STALL_READ |
                                    CAIRN_CLIENT_BLOCKED | CAIRN_CLIENT_STALLED | CAIRN_CLIENT_POSTPONED |
                                    CAIRN_CLIENT_RESUME)) ||
        c->qpos < c->query.len) /* commands already waiting keep their order: answered after the script */
      continue;
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&c->h.stream, &fd) != 0) continue;
    pfd[n].fd = fd;
    pfd[n].events = POLLIN;
    pfd[n].revents = 0;
    who[n++] = c;
  }
  if (n == 0 || poll(pfd, (nfds_t)n, 0) <= 0) return;
  for (int i = 0; i < n; i++) {
    if (!(pfd[i].revents & POLLIN)) continue;
    cairn_client *c = who[i];
    cairn_buf_reserve(&c->query, READ_CHUNK);
    ssize_t got = read(pfd[i].fd, c->query.p + c->query.len, c->query.cap - c->query.len);
    if (got <= 0) continue; /* EOF or error: libuv sees it again after the script */
    c->query.len += (size_t)got;
    srv->stats.net_input_bytes += (uint64_t)got;
    size_t before = c->out.len;
    int held = c->out.len > c->released;
    while (c->qpos < c->query.len && !(c->flags & (CAIRN_CLIENT_CLOSE_AFTER_REPLY | CAIRN_CLIENT_CLOSING))) {
      size_t consumed = 0;
      if (parse_next(c, &consumed) != CAIRN_PARSE_OK) break;
      c->qpos += consumed;
      int argc = (int)c->parser.argc;
      if (argc == 0) continue;
      cairn_reply r = {.buf = &c->out, .resp = c->resp};
      const cairn_command *cmd = cairn_command_lookup(c->argv[0].p, c->argv[0].len);
      uint32_t flags = cmd ? cmd->flags : 0;
      if (cmd && cmd->subcommands && argc >= 2) {
        const cairn_command *sub = cairn_subcommand_find(cmd, c->argv[1]);
        flags = sub ? sub->flags : 0;
      }
      srv->stats.commands_processed++;
      if (cmd && srv->cfg.requirepass && !c->authenticated && !(flags & CAIRN_CMD_NO_AUTH)) {
        cairn_reply_error(&r, "-NOAUTH Authentication required.");
      } else if (!cmd || !(flags & CAIRN_CMD_ALLOW_BUSY) || !cairn_arity_ok(cmd, argc)) {
        const char *busy = eval_mode ? "BUSY Redis is busy running a script. You can only call SCRIPT KILL or "
                                       "SHUTDOWN NOSAVE."
                                     : "BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                                       "SHUTDOWN NOSAVE.";
        if ((c->flags & CAIRN_CLIENT_MULTI) && cmd && (cmd->flags & CAIRN_CMD_RUNS_QUEUED)) {
          /* EXEC refused: the transaction is discarded, like execute.c's rejected() */
          cairn_reply_errorf(&r, "-EXECABORT Transaction discarded because of: %s", busy);
          cairn_multi_client_reset(c);
        } else {
          cairn_reply_errorf(&r, "-%s", busy);
          if (c->flags & CAIRN_CLIENT_MULTI) c->flags |= CAIRN_CLIENT_DIRTY_EXEC;
        }
      } else if (cairn_arg_is(c->argv[0], "shutdown")) {
        cairn_warning("User requested shutdown while a script runs: exiting now (the script's effects were not "
                      "propagated; recovery restores the state before it)");
        cairn_log_close();
        _exit(0);
      } else {
        cairn_ctx ctx = {.srv = srv,
                         .client = c,
                         .cmd = cmd,
                         .argc = argc,
                         .argv = c->argv,
                         .db = c->db,
                         .reply = r,
                         .now_ms = cairn_mstime()};
        c->last_cmd = cmd->name;
        cmd->fn(&ctx);
      }
      if (c->out.len > before && c->out.p[before] == '-') srv->stats.total_error_replies++;
      before = c->out.len;
    }
    if (c->qpos == c->query.len) c->query.len = c->qpos = 0;
    if (!held) c->released = c->out.len;
    if (c->out.len > c->released)
      mark_pending(c);
    else
      client_flush(c);
  }
}
