/* The execution of one command: the checks before it runs (arity, AUTH,
 * MULTI queueing, READONLY, MISCONF...), the handler, the retry after a store
 * error (rollback + replay, engine/commit.c), propagation, and serving the
 * clients its writes unblocked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/acl.h"
#include "engine/blocking.h"
#include "engine/commit.h"
#include "engine/diag.h"
#include "engine/info.h"
#include "engine/log.h"
#include "engine/monitor.h"
#include "engine/multi.h"
#include "engine/pubsub.h"
#include "engine/script.h"
#include "engine/server.h"
#include "engine/stream.h"
#include "engine/tracking.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- execute */

static void reply_unknown(cairn_reply *r, int argc, cairn_str *argv) {
  /* Redis 7.0's text: the arguments part is capped at about 128 bytes. */
  cairn_buf args = {0}, msg = {0};
  for (int i = 1; i < argc && args.len < 128; i++) {
    size_t room = 128 - args.len;
    int n = (int)(argv[i].len < room ? argv[i].len : room);
    cairn_buf_printf(&args, "'%.*s' ", n, argv[i].p);
  }
  cairn_buf_printf(&msg, "unknown command '%.*s', with args beginning with: %.*s",
                   (int)(argv[0].len > 128 ? 128 : argv[0].len), argv[0].p, (int)args.len,
                   args.p ? args.p : "");
  cairn_reply_error(r, msg.p);
  cairn_buf_free(&args);
  cairn_buf_free(&msg);
}

static void execute(cairn_server *srv, cairn_client *client, int argc, cairn_str *argv);

/* A command run by another one (EXEC's queued commands, whether through
 * cairn_execute or not) has an argv of its own. */
int cairn_ctx_is_top_level(const cairn_ctx *c) { return c->srv->exec_depth == 1 && c->argv == c->srv->top_argv; }


/* A command refused before it ran. Inside MULTI the transaction is flagged
 * (EXEC will abort); a refused EXEC itself ends the transaction with
 * "-EXECABORT Transaction discarded because of: <the error>", like Redis's
 * rejectCommand / execCommandAbort. */
static void rejected(cairn_ctx *ctx, size_t reply_start) {
  cairn_client *client = ctx->client;
  if (!ctx->cmd || !(ctx->cmd->flags & CAIRN_CMD_RUNS_QUEUED)) {
    if (client->flags & CAIRN_CLIENT_MULTI) client->flags |= CAIRN_CLIENT_DIRTY_EXEC;
    return;
  }
  cairn_multi_client_reset(client);
  cairn_buf *b = ctx->reply.buf;
  if (!b || b->len <= reply_start + 3) return;
  /* "-ERR text\r\n" -> "text", "-CODE text\r\n" -> "CODE text" */
  size_t from = reply_start + 1, to = b->len - 2;
  if (to - from >= 4 && memcmp(b->p + from, "ERR ", 4) == 0) from += 4;
  char *msg = cairn_xmemdup(b->p + from, to - from);
  b->len = reply_start;
  cairn_reply_errorf(&ctx->reply, "-EXECABORT Transaction discarded because of: %s", msg);
  free(msg);
}

/* Runs one command inside another one (EXEC's queued commands, a script's
 * redis.call): its reply goes into `reply` (EXEC's array, the script's
 * buffer), its propagation joins the outer command's (flushed as one unit
 * when that returns), and a store error becomes the outer command's, which
 * is then rolled back and retried whole. Returns the db the command left
 * selected. */
static int execute_nested(cairn_ctx *outer, const cairn_command *cmd, int argc, cairn_str *argv, cairn_reply reply,
                          int db) {
  cairn_server *srv = outer->srv;
  cairn_client *client = outer->client;
  cairn_ctx ctx = {.srv = srv,
                   .client = client,
                   .cmd = cmd,
                   .argc = argc,
                   .argv = argv,
                   .db = db,
                   .reply = reply,
                   .now_ms = outer->now_ms}; /* one time for the whole transaction/script, like Redis */
  size_t start = ctx.reply.buf ? ctx.reply.buf->len : 0;
  /* ACLs are checked again when EXEC runs the command, like Redis, and for
   * every command a script calls. */
  if (!cairn_acl_permit(&ctx, cmd, argc, argv, 1)) {
    srv->stats.total_error_replies++;
    return db;
  }
  srv->stats.commands_processed++;
  if (client) client->last_cmd = cmd->name;
  int64_t t0 = cairn_monotonic_ns();
  cmd->fn(&ctx);
  /* a script's commands are tracked through the script (cairn_tracking_script_read) */
  if (client && client->tracking && !cairn_script_running(srv)) cairn_tracking_after_call(&ctx);
  uint64_t ns = (uint64_t)(cairn_monotonic_ns() - t0);
  if (ctx.reply.buf)
    cairn_info_record_call(srv, cmd, argc, argv, ns, 0, ctx.reply.buf->p ? ctx.reply.buf->p + start : NULL,
                           ctx.reply.buf->len - start);
  if (client) cairn_diag_record_call(srv, client, cmd, argc, argv, ns); /* SLOWLOG, LATENCY */
  if (ctx.store_rc) {
    outer->store_rc = ctx.store_rc;
    return ctx.db;
  }
  if (!(cmd->flags & CAIRN_CMD_RUNS_SCRIPT) && cairn_monitor_wants(srv, client, cmd, argc, argv))
    cairn_monitor_feed(srv, client, ctx.db, argc, argv); /* the db after it ran (SELECT) */
  if (ctx.dirty > 0 && !ctx.custom_propagation) cairn_propagate(&ctx, ctx.db, argc, argv);
  outer->dirty += ctx.dirty;
  if (ctx.reply.buf && ctx.reply.buf->len > start && ctx.reply.buf->p[start] == '-' && !srv->reply_error_counted)
    srv->stats.total_error_replies++;
  srv->reply_error_counted = 0;
  return ctx.db;
}

/* Runs one command of a transaction for EXEC (engine/cmd/multi.c). */
void cairn_execute_queued(cairn_ctx *exec, const cairn_command *cmd, int argc, cairn_str *argv) {
  cairn_reply reply = {.buf = exec->reply.buf, .resp = exec->client->resp};
  execute_nested(exec, cmd, argc, argv, reply, exec->client->db);
}

/* Runs one command a script called (engine/script.c), after the script's own
 * checks: its reply in `resp` into out, on the script's db (returned: SELECT
 * inside a script moves the script's db, not the caller's). */
int cairn_execute_script_call(cairn_ctx *script, const cairn_command *cmd, int argc, cairn_str *argv,
                              cairn_buf *out, int resp, int db) {
  cairn_client *client = script->client;
  int caller_db = client ? client->db : 0;
  if (client) client->db = db;
  cairn_reply reply = {.buf = out, .resp = resp};
  db = execute_nested(script, cmd, argc, argv, reply, db);
  if (client) client->db = caller_db;
  return db;
}

const char *cairn_oom_refusal(cairn_server *srv, const cairn_client *client) {
  static char full[160];
  if (cairn_store_full(srv->store)) {
    snprintf(full, sizeof(full),
             "-OOM command not allowed: the store is full (the LMDB map is at lmdb-max-map-size, %lld bytes)",
             srv->cfg.lmdb_max_map_size);
    return full;
  }
  /* a replica (its master's stream is applied without a client) and the
   * WAL's replay (no client) are never refused for memory */
  if (srv->cfg.maxmemory <= 0 || srv->replica_mode || !client) return NULL;
  if (srv->maxmemory_checked_us != srv->iteration_start_us || srv->iteration_start_us == 0) {
    srv->maxmemory_checked_us = srv->iteration_start_us;
    srv->over_maxmemory = cairn_used_memory() > (unsigned long long)srv->cfg.maxmemory;
  }
  return srv->over_maxmemory ? "-OOM command not allowed when used memory > 'maxmemory'." : NULL;
}

/* A top-level command that made keys ready serves the clients blocked on
 * them right away, before the next command (Redis's
 * handleClientsBlockedOnKeys). Replay (client NULL) never serves: the
 * re-runs would nest inside recovery. */
void cairn_execute(cairn_server *srv, cairn_client *client, int argc, cairn_str *argv) {
  cairn_client *cur = srv->cur_client;
  if (srv->exec_depth++ == 0) {
    srv->top_argv = argv;
    srv->cur_client = client;
  }
  execute(srv, client, argc, argv);
  if (--srv->exec_depth == 0) {
    srv->top_argv = NULL;
    if (srv->tracking && client && !(client->flags & (CAIRN_CLIENT_STALLED | CAIRN_CLIENT_POSTPONED)))
      cairn_tracking_after_command(srv, client, cairn_command_lookup(argv[0].p, argv[0].len));
    srv->cur_client = cur;
  }
  if (srv->exec_depth == 0 && client && cairn_blocking_pending(srv)) cairn_blocking_serve(srv);
}

/* What a stream (a master's, our WAL) may hold for replay to run: data
 * changes (write commands, or those of a container such as FUNCTION LOAD),
 * what may be propagated (PUBLISH, EVAL...) and SELECT. Anything else, a
 * read or a command about the connection (AUTH, WATCH, CLIENT, SUBSCRIBE,
 * WAIT...), changes nothing a replica keeps and would run without the client
 * its handler expects (replay has none): it is skipped. */
static int replayable(const cairn_command *cmd, int argc, cairn_str *argv) {
  uint32_t flags = cmd->flags;
  if (cmd->subcommands && argc >= 2) {
    const cairn_command *sub = cairn_subcommand_find(cmd, argv[1]);
    if (!sub || !cairn_arity_ok(sub, argc)) return 0;
    flags = sub->flags;
  }
  return (flags & (CAIRN_CMD_WRITE | CAIRN_CMD_MAY_REPLICATE)) || cairn_arg_is(argv[0], "select");
}

static void execute(cairn_server *srv, cairn_client *client, int argc, cairn_str *argv) {
  if (argc == 0) return;
  cairn_ctx ctx = {.srv = srv,
                   .client = client,
                   .argc = argc,
                   .argv = argv,
                   .replaying = client == NULL,
                   .db = client ? client->db : srv->replay_db,
                   .reply = {.buf = NULL, .resp = client ? client->resp : 2}};
  /* CLIENT REPLY OFF/SKIP: the reply is not produced at all. */
  if (client && client->reply_mode != CAIRN_REPLY_OFF && client->reply_mode != CAIRN_REPLY_SKIP)
    ctx.reply.buf = &client->out;

  size_t reply_start = client ? client->out.len : 0;
  const cairn_command *cmd = cairn_command_lookup(argv[0].p, argv[0].len);
  ctx.cmd = cmd;
  if (client) {
    srv->stats.commands_processed++;
    if (!cmd) {
      reply_unknown(&ctx.reply, argc, argv);
      goto reject;
    }
    if (!cairn_arity_ok(cmd, argc)) {
      cairn_reply_arity(&ctx);
      goto reject;
    }
    int in_multi = (client->flags & CAIRN_CLIENT_MULTI) != 0;
    int subscribed = (client->flags & CAIRN_CLIENT_PUBSUB) && client->resp == 2;
    const cairn_command *sub = NULL;
    if ((in_multi || subscribed) && cmd->subcommands && argc >= 2) {
      /* Queued commands are checked in full now, subcommand included (the
       * container's handler checks it otherwise). */
      sub = cairn_subcommand_find(cmd, argv[1]);
      if (!sub) {
        cairn_reply_unknown_subcommand(&ctx);
        goto reject;
      }
      if (!cairn_arity_ok(sub, argc)) {
        cairn_reply_arity_of(&ctx.reply, sub);
        goto reject;
      }
    }
    if (!(cmd->flags & CAIRN_CMD_NO_AUTH) && cairn_acl_auth_required(srv, client)) {
      cairn_reply_error(&ctx.reply, "-NOAUTH Authentication required.");
      goto reject;
    }
    if (in_multi && (cmd->flags & CAIRN_CMD_NOMULTI)) {
      cairn_reply_error(&ctx.reply, "Command not allowed inside a transaction");
      goto reject;
    }
    if (!cairn_acl_permit(&ctx, cmd, argc, argv, 0)) goto reject; /* -NOPERM, logged (Redis's order) */
    /* EXEC writes when one of its commands does; it is refused on a stale
     * replica when one of them would be. */
    /* A script that declares flags (shebang, register_function) makes EVAL /
     * FCALL a write or not, stale-safe, OOM-safe (engine/script.c). */
    uint32_t cflags = cairn_script_command_flags(srv, cmd, argc, argv);
    int is_write = (cflags & CAIRN_CMD_WRITE) != 0, deny_stale = !(cflags & CAIRN_CMD_STALE);
    if (in_multi && (cmd->flags & CAIRN_CMD_RUNS_QUEUED)) {
      uint32_t any, all;
      cairn_multi_queued_flags(client, &any, &all);
      if (any & CAIRN_CMD_WRITE) is_write = 1;
      if (!(all & CAIRN_CMD_STALE)) deny_stale = 1;
    }
    if (srv->replica_mode && srv->cfg.replica_read_only && is_write) {
      cairn_reply_error(&ctx.reply, "-READONLY You can't write against a read only replica.");
      goto reject;
    }
    if (subscribed && !(cmd->flags & CAIRN_CMD_ALLOW_SUBSCRIBED)) {
      /* Redis's text, SSUBSCRIBE and SUNSUBSCRIBE included. */
      cairn_reply_errorf(&ctx.reply,
                         "Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                         "allowed in this context",
                         sub ? sub->name : cmd->name);
      goto reject;
    }
    if (srv->replica_mode && !srv->master_link_up && !srv->cfg.replica_serve_stale_data && deny_stale) {
      cairn_reply_error(&ctx.reply, "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
      goto reject;
    }
    if (srv->cfg.min_replicas_to_write > 0 && !srv->replica_mode && is_write &&
        srv->repl_hooks.good_replicas && srv->repl_hooks.good_replicas(srv) < srv->cfg.min_replicas_to_write) {
      cairn_reply_error(&ctx.reply, "-NOREPLICAS Not enough good replicas to write.");
      goto reject;
    }
    if (srv->write_error && is_write) {
      cairn_reply_errorf(&ctx.reply,
                         "-MISCONF Errors writing to the backlog on disk (%s): writes are refused until "
                         "it works again. Check the server log.",
                         srv->write_error_msg);
      goto reject;
    }
    if (srv->store_error && is_write) {
      /* The store thread cannot write LMDB (disk full, I/O error): no
       * write is taken until a retry works, so the backlog and the overlay
       * do not grow without bound and writers do not wait silently at the
       * overlay's budget. Reads go on. (At the map's ceiling only writes
       * that add data are refused, below.) */
      char why[512];
      if (cairn_store_blocked(srv->store, why, sizeof(why))) {
        srv->stats.store_writes_refused++;
        cairn_reply_errorf(&ctx.reply,
                           "-MISCONF Errors writing to disk: the store cannot write to LMDB (%s): commands that "
                           "may modify the data set are refused until it works again (retried every second). "
                           "Check the server log.",
                           why);
        goto reject;
      }
    }
    /* Like Redis 7.0's processCommand: in MULTI every command but EXEC,
     * DISCARD, QUIT and RESET (queueing takes memory); EXEC when one of its
     * commands may add data. */
    int deny_oom = (cflags & CAIRN_CMD_DENYOOM) != 0;
    if (in_multi && (cmd->flags & CAIRN_CMD_RUNS_QUEUED)) {
      uint32_t any, all;
      cairn_multi_queued_flags(client, &any, &all);
      if (any & CAIRN_CMD_DENYOOM) deny_oom = 1;
    } else if (in_multi && strcmp(cmd->name, "discard") != 0 && strcmp(cmd->name, "quit") != 0 &&
               strcmp(cmd->name, "reset") != 0) {
      deny_oom = 1;
    }
    const char *oom = deny_oom ? cairn_oom_refusal(srv, client) : NULL;
    if (oom) {
      cairn_reply_error(&ctx.reply, oom);
      goto reject;
    }
    if (srv->pause_type != CAIRN_PAUSE_OFF && !(client->flags & CAIRN_CLIENT_REPLICA) && srv->exec_depth == 1) {
      /* CLIENT PAUSE: checked after every rejection, before queueing, like
       * Redis 7.0's processCommand; a blocked command re-run because its key
       * became ready is served, not paused (handleClientsBlockedOnKeys). */
      int may_replicate = is_write || (cflags & CAIRN_CMD_MAY_REPLICATE);
      if (in_multi && (cmd->flags & CAIRN_CMD_RUNS_QUEUED)) {
        uint32_t any, all;
        cairn_multi_queued_flags(client, &any, &all);
        if (any & CAIRN_CMD_MAY_REPLICATE) may_replicate = 1;
      }
      cairn_str woken;
      if ((srv->pause_type == CAIRN_PAUSE_ALL || may_replicate) && !cairn_blocking_woken_key(&ctx, &woken)) {
        srv->stats.commands_processed--; /* counted when it runs */
        client->last_cmd = cmd->name;   /* CLIENT LIST cmd= names the postponed command */
        cairn_client_postpone(client);
        return;
      }
    }
    int admit;
    if (is_write && !in_multi && srv->exec_depth == 1 && (admit = cairn_commit_write_admitted(srv)) != 0) {
      /* The store thread is behind: this client waits for the next
       * iteration (throttled), or, at the budget, until a layer is on disk
       * with its connection not read (engine/client.c, engine/commit.c). */
      srv->stats.commands_processed--;
      cairn_client_stall(client, admit == -2);
      return;
    }
    client->last_cmd = cmd->name;
    if (in_multi && !(cmd->flags & CAIRN_CMD_NOT_QUEUED)) {
      cairn_multi_queue(client, cmd, argc, argv);
      cairn_reply_raw(&ctx.reply, "+QUEUED\r\n", 9);
      srv->stats.commands_processed--; /* counted when EXEC runs it, like Redis */
      goto done;
    }
  } else if (!cmd) {
    cairn_warning("replay: unknown command '%.*s' in the stream, skipped", (int)argv[0].len, argv[0].p);
    return;
  } else if (!cairn_arity_ok(cmd, argc)) {
    /* Handlers trust the arity: a malformed stream (a master's, a damaged
     * WAL) must not reach them. Redis refuses it too (processCommand), and
     * the error reply to a master is dropped. */
    cairn_warning("replay: wrong number of arguments (%d) for '%s' in the stream, skipped", argc, cmd->name);
    return;
  } else if (!replayable(cmd, argc, argv)) {
    cairn_warning("replay: '%.*s' is neither a write nor replicated (a read or a connection's command), skipped",
                  (int)argv[0].len, argv[0].p);
    return;
  }

  size_t reply_mark = ctx.reply.buf ? ctx.reply.buf->len : 0;
  if (!srv->batch_start_us && client) srv->batch_start_us = cairn_ustime();
  int64_t t0 = client ? cairn_monotonic_ns() : 0;
  /* Keyspace notifications of an attempt that is rolled back are dropped. */
  int hold_notify = srv->cfg.notify_keyspace_events != 0;
  if (hold_notify) cairn_pubsub_hold(srv);
  for (int attempt = 0;; attempt++) {
    /* One clock read per few commands of a client's batch (client.c keeps
     * srv->now_ms fresh); a retry or a replay reads the clock itself. */
    ctx.now_ms = (client && attempt == 0 && srv->now_ms) ? srv->now_ms : cairn_mstime();
    ctx.dirty = 0;
    ctx.store_rc = 0;
    ctx.custom_propagation = 0;
    srv->nprops = 0;
    srv->props.len = 0;
    cmd->fn(&ctx);
    if (ctx.store_rc == 0) break;
    /* The store failed mid-command: nothing of it may survive. Undo its
     * replies and propagations, return the store to the state the stream
     * describes (rollback + replay), then run it again. */
    srv->nprops = 0;
    srv->props.len = 0;
    if (ctx.reply.buf) ctx.reply.buf->len = reply_mark;
    if (hold_notify) {
      cairn_pubsub_release(srv, 0);
      cairn_pubsub_hold(srv);
    }
    if (ctx.replaying) {
      if (hold_notify) cairn_pubsub_release(srv, 0);
      srv->replay_rc = ctx.store_rc;
      return;
    }
    char why[256] = "store error: the command kept failing";
    if (attempt >= 16 || cairn_commit_recover(srv, ctx.store_rc, !(cmd->flags & CAIRN_CMD_DENYOOM), why, sizeof(why)) != 0) {
      cairn_reply_error(&ctx.reply, why);
      if (client && (cmd->flags & CAIRN_CMD_RUNS_QUEUED)) cairn_multi_client_reset(client); /* nothing of it applied */
      break;
    }
  }
  if (hold_notify) cairn_pubsub_release(srv, ctx.store_rc == 0);
  if (client && client->tracking && ctx.store_rc == 0) cairn_tracking_after_call(&ctx);
  if (ctx.dirty > 0 && !ctx.custom_propagation) cairn_propagate(&ctx, ctx.db, argc, argv);
  if (ctx.dirty > 0 && !srv->recovering) srv->dirty += (uint64_t)ctx.dirty; /* Redis's server.dirty */
  if (!ctx.replaying) {
    int wrote = srv->nprops > 0;
    cairn_stream_flush_command(srv);
    if (wrote && client) {
      client->flags |= CAIRN_CLIENT_WROTE;
      client->woff = srv->stream_offset; /* what WAIT waits for */
    }
  }
  if (ctx.replaying) srv->replay_db = ctx.db;
  /* MONITOR: after it ran; a blocked command re-run when its key is ready
   * was shown when it first ran. */
  cairn_str woken;
  if (!(cmd->flags & CAIRN_CMD_RUNS_SCRIPT) && cairn_monitor_wants(srv, client, cmd, argc, argv) &&
      !cairn_blocking_woken_key(&ctx, &woken))
    cairn_monitor_feed(srv, client, client->db, argc, argv);
  if (client) {
    uint64_t ns = (uint64_t)(cairn_monotonic_ns() - t0);
    /* a command that blocked is counted once, when it is served (Redis's
     * call() skips CLIENT_BLOCKED) */
    if (!cairn_blocking_waits(client))
      cairn_info_record_call(srv, cmd, argc, argv, ns, 0, client->out.p ? client->out.p + reply_start : NULL,
                             client->out.len - reply_start);
    cairn_diag_record_call(srv, client, cmd, argc, argv, ns); /* SLOWLOG, LATENCY */
  }
  goto done;

reject:
  rejected(&ctx, reply_start);
  cairn_info_record_call(srv, cmd, argc, argv, 0, 1, client->out.p ? client->out.p + reply_start : NULL,
                         client->out.len - reply_start);
done:
  if (client && client->out.len > reply_start && client->out.p[reply_start] == '-' && !srv->reply_error_counted)
    srv->stats.total_error_replies++;
  srv->reply_error_counted = 0;
  if (client) {
    if (client->reply_mode == CAIRN_REPLY_SKIP_NEXT)
      client->reply_mode = CAIRN_REPLY_SKIP;
    else if (client->reply_mode == CAIRN_REPLY_SKIP)
      client->reply_mode = CAIRN_REPLY_ON;
  }
}
