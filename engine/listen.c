/* The listening sockets (TCP per bind address, and the Unix socket). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/client.h"
#include "engine/log.h"
#include "engine/server.h"
#include "engine/util.h"

static void on_connection(uv_stream_t *listener, int status) {
  if (status < 0) {
    cairn_warning("accept: %s", uv_strerror(status));
    return;
  }
  cairn_client_accept(listener->data, listener);
}

static int listen_tcp(cairn_server *srv, const char *addr, int optional, char *err, size_t errlen) {
  if (srv->nlisteners >= (int)(sizeof(srv->listeners) / sizeof(srv->listeners[0]))) return 0;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (strchr(addr, ':')) {
    if (uv_ip6_addr(addr, srv->cfg.port, (struct sockaddr_in6 *)&ss) != 0) goto bad;
  } else if (uv_ip4_addr(addr, srv->cfg.port, (struct sockaddr_in *)&ss) != 0) {
    goto bad;
  }
  uv_tcp_t *l = &srv->listeners[srv->nlisteners];
  int rc = uv_tcp_init(srv->loop, l);
  if (rc != 0) {
    snprintf(err, errlen, "Could not create server TCP listening socket %s:%d: %s", addr, srv->cfg.port,
             uv_strerror(rc));
    return -1;
  }
  l->data = srv;
  rc = uv_tcp_bind(l, (struct sockaddr *)&ss, ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)l, srv->cfg.tcp_backlog, on_connection);
  if (rc != 0) {
    uv_close((uv_handle_t *)l, NULL);
    if (optional) {
      cairn_notice("Could not listen on %s:%d (optional): %s", addr, srv->cfg.port, uv_strerror(rc));
      return 0;
    }
    snprintf(err, errlen, "Could not create server TCP listening socket %s:%d: %s", addr, srv->cfg.port,
             uv_strerror(rc));
    return -1;
  }
  srv->nlisteners++;
  return 0;
bad:
  snprintf(err, errlen, "Invalid bind address '%s'", addr);
  return -1;
}

int cairn_listeners_start(cairn_server *srv, char *err, size_t errlen) {
  if (srv->cfg.port > 0) {
    char *copy = cairn_xstrdup(srv->cfg.bind ? srv->cfg.bind : "127.0.0.1");
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      int optional = tok[0] == '-';
      if (listen_tcp(srv, optional ? tok + 1 : tok, optional, err, errlen) != 0) {
        free(copy);
        return -1;
      }
    }
    free(copy);
  }
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
  if (srv->nlisteners == 0 && !srv->has_unix) {
    snprintf(err, errlen, "Configured to not listen anywhere, exiting.");
    return -1;
  }
  return 0;
}

