/* Connection commands: PING ECHO QUIT RESET HELLO AUTH SELECT. */
#include <stdlib.h>
#include <string.h>

#include "engine/acl.h"
#include "engine/server.h"
#include "engine/monitor.h"
#include "engine/multi.h"
#include "engine/pubsub.h"
#include "engine/tracking.h"
#include "engine/util.h"

static void cmd_ping(cairn_ctx *c) {
  if (c->argc > 2) {
    cairn_reply_arity(c);
    return;
  }
  if (c->client && (c->client->flags & CAIRN_CLIENT_PUBSUB) && c->reply.resp == 2) {
    /* subscribed RESP2 client: ["pong", message] */
    cairn_reply_array(&c->reply, 2);
    cairn_reply_bulk(&c->reply, "pong", 4);
    if (c->argc == 2)
      cairn_reply_bulk(&c->reply, c->argv[1].p, c->argv[1].len);
    else
      cairn_reply_bulk(&c->reply, "", 0);
  } else if (c->argc == 2) {
    cairn_reply_bulk(&c->reply, c->argv[1].p, c->argv[1].len);
  } else {
    cairn_reply_raw(&c->reply, "+PONG\r\n", 7);
  }
}

static void cmd_echo(cairn_ctx *c) { cairn_reply_bulk(&c->reply, c->argv[1].p, c->argv[1].len); }

static void cmd_quit(cairn_ctx *c) {
  cairn_reply_ok(&c->reply);
  if (c->client) c->client->flags |= CAIRN_CLIENT_CLOSE_AFTER_REPLY;
}

static void cmd_select(cairn_ctx *c) {
  long long id;
  if (cairn_arg_ll(c, c->argv[1], &id) != 0) return;
  if (id < 0 || id >= c->srv->cfg.databases) {
    cairn_reply_error(&c->reply, "DB index is out of range");
    return;
  }
  c->db = (int)id;
  if (c->client) c->client->db = (int)id;
  cairn_reply_ok(&c->reply);
}

#define ERR_WRONGPASS "-WRONGPASS invalid username-password pair or user is disabled."

static void cmd_auth(cairn_ctx *c) {
  if (c->argc > 3) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  cairn_str user = {"default", 7}, pass = c->argv[1];
  if (c->argc == 3) {
    user = c->argv[1];
    pass = c->argv[2];
  } else if (cairn_acl_default_nopass(c->srv)) {
    cairn_reply_error(&c->reply,
                      "AUTH <password> called without any password configured for the default user. "
                      "Are you sure your configuration is correct?");
    return;
  }
  if (!cairn_acl_authenticate(c, user, pass)) {
    cairn_reply_error(&c->reply, ERR_WRONGPASS);
    return;
  }
  cairn_reply_ok(&c->reply);
}

static void cmd_hello(cairn_ctx *c) {
  cairn_client *cl = c->client;
  long long ver = 0;
  int next = 1;
  if (c->argc >= 2) {
    if (!cairn_str2ll(c->argv[1].p, c->argv[1].len, &ver)) {
      cairn_reply_error(&c->reply, "Protocol version is not an integer or out of range");
      return;
    }
    next = 2;
    if (ver < 2 || ver > 3) {
      cairn_reply_error(&c->reply, "-NOPROTO unsupported protocol version");
      return;
    }
  }
  cairn_str user = {NULL, 0}, pass = {NULL, 0}, name = {NULL, 0};
  int has_auth = 0, has_name = 0;
  for (int j = next; j < c->argc; j++) {
    int more = c->argc - j - 1;
    if (cairn_arg_is(c->argv[j], "auth") && more >= 2) {
      has_auth = 1;
      user = c->argv[j + 1];
      pass = c->argv[j + 2];
      j += 2;
    } else if (cairn_arg_is(c->argv[j], "setname") && more >= 1) {
      has_name = 1;
      name = c->argv[j + 1];
      j++;
    } else {
      cairn_reply_errorf(&c->reply, "Syntax error in HELLO option '%.*s'", (int)c->argv[j].len, c->argv[j].p);
      return;
    }
  }
  if (has_auth) {
    if (!cairn_acl_authenticate(c, user, pass)) {
      cairn_reply_error(&c->reply, ERR_WRONGPASS);
      return;
    }
  }
  if (cl && !cl->authenticated) {
    cairn_reply_error(&c->reply,
                      "-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                      "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                      "select the RESP protocol version at the same time");
    return;
  }
  if (has_name) {
    for (size_t i = 0; i < name.len; i++) {
      if (name.p[i] < '!' || name.p[i] > '~') {
        cairn_reply_error(&c->reply, "Client names cannot contain spaces, newlines or special characters.");
        return;
      }
    }
    if (cl) {
      free(cl->name);
      cl->name = name.len ? cairn_xmemdup(name.p, name.len) : NULL;
    }
  }
  if (ver && cl) {
    cl->resp = (int)ver;
    c->reply.resp = (int)ver;
  }
  cairn_reply_map(&c->reply, 7);
  cairn_reply_bulk_str(&c->reply, "server");
  cairn_reply_bulk_str(&c->reply, "redis");
  cairn_reply_bulk_str(&c->reply, "version");
  cairn_reply_bulk_str(&c->reply, CAIRN_REDIS_VERSION);
  cairn_reply_bulk_str(&c->reply, "proto");
  cairn_reply_int(&c->reply, cl ? cl->resp : 2);
  cairn_reply_bulk_str(&c->reply, "id");
  cairn_reply_int(&c->reply, cl ? (long long)cl->id : 0);
  cairn_reply_bulk_str(&c->reply, "mode");
  cairn_reply_bulk_str(&c->reply, "standalone");
  cairn_reply_bulk_str(&c->reply, "role");
  cairn_reply_bulk_str(&c->reply, "master");
  cairn_reply_bulk_str(&c->reply, "modules");
  cairn_reply_array(&c->reply, 0);
}

static void cmd_reset(cairn_ctx *c) {
  cairn_client *cl = c->client;
  if (cl) {
    cairn_multi_client_reset(cl); /* leaves MULTI, drops WATCHes */
    cairn_pubsub_client_reset(cl); /* unsubscribes quietly */
    cairn_monitor_remove(cl);
    cairn_tracking_client_reset(cl); /* CLIENT TRACKING off */
    cl->db = 0;
    cl->resp = 2;
    c->reply.resp = 2;
    cairn_acl_client_init(c->srv, cl); /* back to the default user, like Redis's RESET */
    cl->reply_mode = CAIRN_REPLY_ON;
    cl->flags &= ~(CAIRN_CLIENT_NO_EVICT | CAIRN_CLIENT_NO_TOUCH);
    free(cl->name);
    cl->name = NULL;
    c->reply.buf = &cl->out;
  }
  c->db = 0;
  cairn_reply_status(&c->reply, "RESET");
}

const cairn_command cairn_commands_connection[] = {
    CAIRN_CMD("ping", -1, CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE | CAIRN_CMD_ALLOW_SUBSCRIBED, 0, 0, 0, cmd_ping,
              "connection", "Ping the server.", "1.0.0", "[message]"),
    CAIRN_CMD("echo", 2, CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_echo, "connection",
              "Echo the given string.", "1.0.0", "message"),
    CAIRN_CMD("quit", -1, CAIRN_CMD_ALLOW_BUSY | CAIRN_CMD_FAST | CAIRN_CMD_NO_AUTH | CAIRN_F_LOADING_STALE | CAIRN_CMD_ALLOW_SUBSCRIBED |
              CAIRN_CMD_NOT_QUEUED, 0, 0, 0, cmd_quit, "connection", "Close the connection.", "1.0.0", ""),
    CAIRN_CMD("select", 2, CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_select, "connection",
              "Change the selected database.", "1.0.0", "index"),
    CAIRN_CMD("auth", -2, CAIRN_CMD_ALLOW_BUSY | CAIRN_CMD_FAST | CAIRN_CMD_NO_AUTH | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_auth, "connection",
              "Authenticate to the server.", "1.0.0", "[username] password"),
    CAIRN_CMD("hello", -1, CAIRN_CMD_ALLOW_BUSY | CAIRN_CMD_FAST | CAIRN_CMD_NO_AUTH | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_hello, "connection",
              "Handshake with the server: protocol version, authentication, client name.", "6.0.0",
              "[protover [AUTH username password] [SETNAME clientname]]"),
    CAIRN_CMD("reset", 1, CAIRN_CMD_ALLOW_BUSY | CAIRN_CMD_FAST | CAIRN_CMD_NO_AUTH | CAIRN_F_LOADING_STALE | CAIRN_CMD_ALLOW_SUBSCRIBED |
              CAIRN_CMD_NOT_QUEUED, 0, 0, 0, cmd_reset, "connection", "Reset the connection.", "6.2.0", ""),
    CAIRN_CMD_END,
};
