/* MONITOR (engine/monitor.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/script.h"
#include "engine/client.h"
#include "engine/monitor.h"
#include "engine/server.h"
#include "engine/util.h"

void cairn_monitor_add(cairn_client *c) {
  if (c->flags & CAIRN_CLIENT_MONITOR) return;
  c->flags |= CAIRN_CLIENT_MONITOR;
  c->srv->nmonitors++;
}

void cairn_monitor_remove(cairn_client *c) {
  if (!(c->flags & CAIRN_CLIENT_MONITOR)) return;
  c->flags &= ~CAIRN_CLIENT_MONITOR;
  c->srv->nmonitors--;
}

int cairn_monitor_wants(const cairn_server *srv, const cairn_client *c, const cairn_command *cmd, int argc,
                        const cairn_str *argv) {
  if (srv->nmonitors <= 0 || !c || !cmd) return 0;
  if (cmd->subcommands && argc >= 2) { /* CONFIG GET, CLIENT LIST...: the subcommand's flags */
    const cairn_command *sub = cairn_subcommand_find(cmd, argv[1]);
    if (sub) cmd = sub;
  }
  return !(cmd->flags & CAIRN_CMD_ADMIN);
}


/* Which arguments hide credentials (Redis's redactClientCommandArgument
 * calls in AUTH, HELLO and MIGRATE). */
static void mark_redacted(int argc, const cairn_str *argv, char *red) {
  if (cairn_arg_is(argv[0], "auth")) {
    for (int i = 1; i < argc; i++) red[i] = 1;
  } else if (cairn_arg_is(argv[0], "hello")) {
    for (int i = 2; i + 2 < argc; i++) {
      if (cairn_arg_is(argv[i], "auth")) {
        red[i + 1] = red[i + 2] = 1;
        i += 2;
      } else if (cairn_arg_is(argv[i], "setname")) {
        i++;
      }
    }
  } else if (cairn_arg_is(argv[0], "migrate")) {
    for (int i = 6; i < argc; i++) {
      if (cairn_arg_is(argv[i], "auth") && i + 1 < argc) {
        red[++i] = 1;
      } else if (cairn_arg_is(argv[i], "auth2") && i + 2 < argc) {
        red[i + 1] = red[i + 2] = 1;
        i += 2;
      } else if (cairn_arg_is(argv[i], "keys")) {
        break;
      }
    }
  }
}

void cairn_monitor_feed(cairn_server *srv, cairn_client *c, int db, int argc, const cairn_str *argv) {
  if (srv->nmonitors <= 0 || argc <= 0) return;
  cairn_buf line = {0};
  int64_t us = cairn_ustime();
  if (cairn_script_running(srv)) /* a command a script called: Redis shows "lua" */
    cairn_buf_printf(&line, "+%lld.%06lld [%d lua] ", (long long)(us / 1000000), (long long)(us % 1000000), db);
  else if (c->flags & CAIRN_CLIENT_UNIX)
    cairn_buf_printf(&line, "+%lld.%06lld [%d unix:%s] ", (long long)(us / 1000000), (long long)(us % 1000000), db,
                     srv->cfg.unixsocket ? srv->cfg.unixsocket : "");
  else
    cairn_buf_printf(&line, "+%lld.%06lld [%d %s] ", (long long)(us / 1000000), (long long)(us % 1000000), db,
                     c->addr);
  char small[64];
  char *red = argc <= (int)sizeof(small) ? small : cairn_xcalloc((size_t)argc, 1);
  memset(red, 0, (size_t)argc);
  mark_redacted(argc, argv, red);
  for (int i = 0; i < argc; i++) {
    if (red[i])
      cairn_buf_append_repr(&line, "(redacted)", 10);
    else
      cairn_buf_append_repr(&line, argv[i].p, argv[i].len);
    if (i != argc - 1) cairn_buf_append(&line, " ", 1);
  }
  cairn_buf_append(&line, "\r\n", 2);
  if (red != small) free(red);
  for (cairn_client *m = srv->clients; m; m = m->next)
    if ((m->flags & CAIRN_CLIENT_MONITOR) && !(m->flags & CAIRN_CLIENT_CLOSING)) cairn_client_push(m, line.p, line.len);
  cairn_buf_free(&line);
}
