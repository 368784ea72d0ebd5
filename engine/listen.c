/* The listening sockets (TCP per bind address, and the Unix socket). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/client.h"
#include "engine/log.h"
#include "engine/server.h"
#include "engine/tls.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- files */

/* Descriptors kept for cairn's own files beyond the clients (LMDB, backlog
 * segments, the log, listeners): Redis's CONFIG_MIN_RESERVED_FDS. */
#define RESERVED_FDS 32

int cairn_files_for_clients(int maxclients, int log) {
  rlim_t want = (rlim_t)maxclients + RESERVED_FDS;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return maxclients; /* unknown: trust the setting */
  rlim_t old = rl.rlim_cur;
  if (old >= want) return maxclients;
  /* Like Redis: try the wanted limit, then smaller ones in steps of 16,
   * never below what we have. The hard limit is only ever raised (which
   * needs privileges), never lowered. */
  rlim_t hard = rl.rlim_max, best = want;
  int setrlimit_error = 0;
  while (best > old) {
    struct rlimit nl = {.rlim_cur = best, .rlim_max = best > hard ? best : hard};
    if (setrlimit(RLIMIT_NOFILE, &nl) == 0) break;
    setrlimit_error = errno;
    if (best < old + 16) {
      best = old;
      break;
    }
    best -= 16;
  }
  if (best < old) best = old;
  if (best >= want) {
    if (log) cairn_notice("Increased maximum number of open files to %llu (it was originally set to %llu).",
                          (unsigned long long)best, (unsigned long long)old);
    return maxclients;
  }
  int clients = best > RESERVED_FDS ? (int)(best - RESERVED_FDS) : 0;
  if (log) {
    cairn_warning("You requested maxclients of %d requiring at least %llu max file descriptors.", maxclients,
                  (unsigned long long)want);
    cairn_warning("Server can't set maximum open files to %llu because of OS error: %s.", (unsigned long long)want,
                  strerror(setrlimit_error ? setrlimit_error : EPERM));
    if (clients > 0)
      cairn_warning("Current maximum open files is %llu. maxclients has been reduced to %d to compensate for "
                    "low ulimit. If you need higher maxclients increase 'ulimit -n'.",
                    (unsigned long long)best, clients);
  }
  return clients;
}

static void on_connection(uv_stream_t *listener, int status) {
  if (status < 0) {
    cairn_warning("accept: %s", uv_strerror(status));
    return;
  }
  cairn_client_accept(listener->data, listener, 0);
}

static void on_tls_connection(uv_stream_t *listener, int status) {
  if (status < 0) {
    cairn_warning("accept: %s", uv_strerror(status));
    return;
  }
  cairn_client_accept(listener->data, listener, 1);
}

static void on_listener_closed(uv_handle_t *h) { free(h); }

/* Closes every TCP listener, plain and TLS (its handle is freed once
 * closed). */
static void close_tcp_listeners(cairn_server *srv) {
  for (int i = 0; i < srv->nlisteners; i++) uv_close((uv_handle_t *)srv->listeners[i], on_listener_closed);
  srv->nlisteners = 0;
  for (int i = 0; i < srv->ntls_listeners; i++) uv_close((uv_handle_t *)srv->tls_listeners[i], on_listener_closed);
  srv->ntls_listeners = 0;
}

static int listen_tcp(cairn_server *srv, const char *addr, int port, int optional, int tls, char *err,
                      size_t errlen) {
  uv_tcp_t **set = tls ? srv->tls_listeners : srv->listeners;
  int *n = tls ? &srv->ntls_listeners : &srv->nlisteners;
  if (*n >= (int)(sizeof(srv->listeners) / sizeof(srv->listeners[0]))) return 0;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (strchr(addr, ':')) {
    if (uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss) != 0) goto bad;
  } else if (uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss) != 0) {
    goto bad;
  }
  uv_tcp_t *l = cairn_xcalloc(1, sizeof(*l));
  int rc = uv_tcp_init(srv->loop, l);
  if (rc != 0) {
    free(l);
    snprintf(err, errlen, "Could not create server TCP listening socket %s:%d: %s", addr, port, uv_strerror(rc));
    return -1;
  }
  l->data = srv;
  rc = uv_tcp_bind(l, (struct sockaddr *)&ss, ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)l, srv->cfg.tcp_backlog, tls ? on_tls_connection : on_connection);
  if (rc != 0) {
    uv_close((uv_handle_t *)l, on_listener_closed);
    if (optional) {
      cairn_notice("Could not listen on %s:%d (optional): %s", addr, port, uv_strerror(rc));
      return 0;
    }
    snprintf(err, errlen, "Could not create server TCP listening socket %s:%d: %s", addr, port, uv_strerror(rc));
    return -1;
  }
  set[(*n)++] = l;
  return 0;
bad:
  snprintf(err, errlen, "Invalid bind address '%s'", addr);
  return -1;
}

/* Listens on every address of bind ("-addr": optional) at port (the
 * tls-port when tls). */
static int listen_all_tcp(cairn_server *srv, int port, const char *bind, int tls, char *err, size_t errlen) {
  if (port <= 0) return 0;
  char *copy = cairn_xstrdup(bind ? bind : "127.0.0.1");
  char *save = NULL;
  int rc = 0;
  for (char *tok = strtok_r(copy, " ", &save); tok && rc == 0; tok = strtok_r(NULL, " ", &save)) {
    int optional = tok[0] == '-';
    rc = listen_tcp(srv, optional ? tok + 1 : tok, port, optional, tls, err, errlen);
  }
  free(copy);
  return rc;
}

static void note_bound_port(cairn_server *srv) {
  srv->tcp_port_bound = 0;
  for (int i = 0; i < srv->nlisteners; i++) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(srv->listeners[i], (struct sockaddr *)&ss, &len) == 0)
      srv->tcp_port_bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
}

int cairn_listeners_rebind(cairn_server *srv, int old_port, int old_tls_port, const char *old_bind, char *err,
                           size_t errlen) {
  close_tcp_listeners(srv);
  char why[256];
  if (listen_all_tcp(srv, srv->cfg.port, srv->cfg.bind, 0, why, sizeof(why)) == 0 &&
      listen_all_tcp(srv, srv->cfg.tls_port, srv->cfg.bind, 1, why, sizeof(why)) == 0) {
    note_bound_port(srv);
    return 0;
  }
  close_tcp_listeners(srv);
  char again[256];
  if (listen_all_tcp(srv, old_port, old_bind, 0, again, sizeof(again)) != 0 ||
      listen_all_tcp(srv, old_tls_port, old_bind, 1, again, sizeof(again)) != 0)
    cairn_warning("Failed to restore the old listeners after a failed CONFIG SET: %s", again);
  note_bound_port(srv);
  snprintf(err, errlen, "%s", why);
  return -1;
}

void cairn_listeners_free(cairn_server *srv) {
  /* The shutdown walk closed them without a callback: the loop is closed now. */
  for (int i = 0; i < srv->nlisteners; i++) free(srv->listeners[i]);
  srv->nlisteners = 0;
  for (int i = 0; i < srv->ntls_listeners; i++) free(srv->tls_listeners[i]);
  srv->ntls_listeners = 0;
  cairn_tls_free_contexts(srv);
}

int cairn_listeners_start(cairn_server *srv, char *err, size_t errlen) {
  if (cairn_tls_wanted(&srv->cfg) && !srv->tls_ctx) { /* main.c configures it before the data */
    char why[768];
    if (cairn_tls_configure(srv, why, sizeof(why)) != 0) {
      snprintf(err, errlen, "Failed to configure TLS: %s", why);
      return -1;
    }
  }
  if (listen_all_tcp(srv, srv->cfg.port, srv->cfg.bind, 0, err, errlen) != 0) return -1;
  if (listen_all_tcp(srv, srv->cfg.tls_port, srv->cfg.bind, 1, err, errlen) != 0) return -1;
  if (srv->cfg.unixsocket && *srv->cfg.unixsocket) {
    unlink(srv->cfg.unixsocket);
    int rc = uv_pipe_init(srv->loop, &srv->unix_listener, 0);
    if (rc != 0) {
      snprintf(err, errlen, "Failed opening Unix socket %s: %s", srv->cfg.unixsocket, uv_strerror(rc));
      return -1;
    }
    srv->unix_listener.data = srv;
    rc = uv_pipe_bind(&srv->unix_listener, srv->cfg.unixsocket);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->unix_listener, srv->cfg.tcp_backlog, on_connection);
    if (rc != 0) {
      snprintf(err, errlen, "Failed opening Unix socket %s: %s", srv->cfg.unixsocket, uv_strerror(rc));
      uv_close((uv_handle_t *)&srv->unix_listener, NULL);
      return -1;
    }
    if (srv->cfg.unixsocketperm && chmod(srv->cfg.unixsocket, (mode_t)srv->cfg.unixsocketperm) != 0)
      cairn_warning("Cannot set the permissions of the Unix socket %s to %o: %s", srv->cfg.unixsocket,
                    (unsigned)srv->cfg.unixsocketperm, strerror(errno));
    srv->has_unix = 1;
  }
  if (srv->nlisteners == 0 && srv->ntls_listeners == 0 && !srv->has_unix) {
    snprintf(err, errlen, "Configured to not listen anywhere, exiting.");
    return -1;
  }
  return 0;
}

