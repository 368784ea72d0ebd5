/* Server commands: INFO CONFIG CLIENT COMMAND TIME LASTSAVE SAVE BGSAVE
 * SHUTDOWN DEBUG. Replies and errors follow Redis 7.0.
 *
 * Container commands (CONFIG, CLIENT, COMMAND) have subcommand tables whose
 * entries are named "container|sub" like Redis's full names;
 * cairn_subcommand_dispatch (engine/command.c) finds the entry, checks its
 * arity and runs it. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/acl.h"
#include "engine/blocking.h"
#include "engine/commit.h"
#include "engine/log.h"
#include "engine/info.h"
#include "engine/keyspace.h"
#include "engine/keyspecs.h"
#include "engine/monitor.h"
#include "engine/server.h"
#include "engine/tls.h"
#include "engine/tracking.h"
#include "engine/util.h"


/* ---------------------------------------------------------------- helpers */

/* lines: NULL-terminated */
static void reply_help(cairn_ctx *c, const char *cmd, const char *const *lines) {
  size_t n = 0;
  while (lines[n]) n++;
  cairn_reply_help(c, cmd, lines, n);
}

/* NUL-terminated copy of an argument (for APIs taking C strings). */
static char *arg_cstr(cairn_str a) { return cairn_xmemdup(a.p, a.len); }

/* ---------------------------------------------------------------- INFO */

static void cmd_info(cairn_ctx *c) {
  int n = cairn_info_section_count();
  char *want = cairn_xcalloc((size_t)n, 1);
  if (c->argc == 1) {
    for (int i = 0; i < n; i++) want[i] = (char)cairn_info_section_default(i);
  }
  for (int j = 1; j < c->argc; j++) {
    if (cairn_arg_is(c->argv[j], "all") || cairn_arg_is(c->argv[j], "everything")) {
      memset(want, 1, (size_t)n);
    } else if (cairn_arg_is(c->argv[j], "default")) {
      for (int i = 0; i < n; i++) want[i] |= (char)cairn_info_section_default(i);
    } else {
      char *name = arg_cstr(c->argv[j]);
      int idx = cairn_info_section_index(name);
      free(name);
      if (idx >= 0) want[idx] = 1;
    }
  }
  cairn_buf out = {0};
  for (int i = 0; i < n; i++)
    if (want[i]) cairn_info(c->srv, cairn_info_section_name(i), &out);
  cairn_reply_verbatim(&c->reply, out.p ? out.p : "", out.len);
  cairn_buf_free(&out);
  free(want);
}

/* ---------------------------------------------------------------- CONFIG */

typedef struct config_emit {
  cairn_reply *r;
} config_emit;

static void config_emit_pair(void *ud, const char *name, const char *value, size_t valuelen) {
  config_emit *e = ud;
  cairn_reply_bulk_str(e->r, name);
  cairn_reply_bulk(e->r, value, valuelen);
}

static void cmd_config_get(cairn_ctx *c) {
  int np = c->argc - 2;
  const char **pats = cairn_xcalloc((size_t)np, sizeof(*pats));
  size_t *lens = cairn_xcalloc((size_t)np, sizeof(*lens));
  for (int i = 0; i < np; i++) {
    pats[i] = c->argv[i + 2].p;
    lens[i] = c->argv[i + 2].len;
  }
  config_emit e = {&c->reply};
  size_t mark = cairn_reply_defer(&c->reply);
  int n = cairn_config_get(&c->srv->cfg, np, pats, lens, config_emit_pair, &e);
  cairn_reply_defer_map(&c->reply, mark, n);
  free(pats);
  free(lens);
}

/* The values a CONFIG SET is about to replace, kept to undo it when applying
 * fails (a port that cannot be listened on). */
typedef struct config_old {
  int n, cap;
  char **names, **vals;
  size_t *nlens, *vlens;
} config_old;

static void config_old_pair(void *ud, const char *name, const char *value, size_t valuelen) {
  config_old *o = ud;
  if (o->n == o->cap) {
    o->cap = o->cap ? o->cap * 2 : 8;
    o->names = cairn_xrealloc(o->names, sizeof(char *) * (size_t)o->cap);
    o->vals = cairn_xrealloc(o->vals, sizeof(char *) * (size_t)o->cap);
    o->nlens = cairn_xrealloc(o->nlens, sizeof(size_t) * (size_t)o->cap);
    o->vlens = cairn_xrealloc(o->vlens, sizeof(size_t) * (size_t)o->cap);
  }
  o->names[o->n] = cairn_xstrdup(name);
  o->nlens[o->n] = strlen(name);
  o->vals[o->n] = cairn_xmemdup(value, valuelen);
  o->vlens[o->n] = valuelen;
  o->n++;
}

static void config_emit_old_values(const cairn_config *cfg, int np, const char **names, const size_t *nlens,
                                   config_old *o) {
  for (int i = 0; i < np; i++) {
    /* A name with glob characters is no parameter: CONFIG SET refuses it. */
    if (memchr(names[i], '*', nlens[i]) || memchr(names[i], '?', nlens[i]) || memchr(names[i], '[', nlens[i]))
      continue;
    cairn_config_get(cfg, 1, &names[i], &nlens[i], config_old_pair, o);
  }
}

static void config_old_free(config_old *o) {
  for (int i = 0; i < o->n; i++) {
    free(o->names[i]);
    free(o->vals[i]);
  }
  free(o->names);
  free(o->vals);
  free(o->nlens);
  free(o->vlens);
}

static int listeners_changed(const cairn_server *srv, int old_port, int old_tls_port, const char *old_bind) {
  const char *b = srv->cfg.bind ? srv->cfg.bind : "";
  return srv->cfg.port != old_port || srv->cfg.tls_port != old_tls_port || strcmp(b, old_bind ? old_bind : "") != 0;
}

/* Whether the request names a tls-* parameter: the TLS contexts are built
 * again (certificates reloaded), like Redis's applyTlsCfg. */
static int tls_params_named(int np, const char **names, const size_t *nlens) {
  for (int i = 0; i < np; i++)
    if (cairn_tls_is_tls_param(names[i], nlens[i])) return 1;
  return 0;
}

/* Undoes a CONFIG SET whose effect failed (Redis's restoreBackupConfig). */
static void config_restore(cairn_server *srv, config_old *old) {
  char ignored[512];
  if (cairn_config_set(&srv->cfg, old->n, (const char **)old->names, old->nlens, (const char **)old->vals,
                       old->vlens, ignored, sizeof(ignored)) != 0)
    cairn_warning("CONFIG SET: restoring the old values failed: %s", ignored);
}

static void cmd_config_set(cairn_ctx *c) {
  if ((c->argc - 2) % 2 != 0) {
    cairn_reply_error(&c->reply, "wrong number of arguments for 'config|set' command");
    return;
  }
  int np = (c->argc - 2) / 2;
  const char **names = cairn_xcalloc((size_t)np, sizeof(*names));
  const char **vals = cairn_xcalloc((size_t)np, sizeof(*vals));
  size_t *nlens = cairn_xcalloc((size_t)np, sizeof(*nlens));
  size_t *vlens = cairn_xcalloc((size_t)np, sizeof(*vlens));
  for (int i = 0; i < np; i++) {
    names[i] = c->argv[2 + 2 * i].p;
    nlens[i] = c->argv[2 + 2 * i].len;
    vals[i] = c->argv[3 + 2 * i].p;
    vlens[i] = c->argv[3 + 2 * i].len;
  }
  char err[512];
  cairn_server *srv = c->srv;
  int old_hz = srv->cfg.hz;
  long long old_map = srv->cfg.lmdb_map_size, old_max_map = srv->cfg.lmdb_max_map_size;
  int old_port = srv->cfg.port, old_tls_port = srv->cfg.tls_port;
  char *old_bind = srv->cfg.bind ? cairn_xstrdup(srv->cfg.bind) : NULL;
  config_old old = {0};
  config_emit_old_values(&srv->cfg, np, names, nlens, &old);
  int old_maxclients = srv->cfg.maxclients, fit = 0;
  if (cairn_config_set(&srv->cfg, np, names, nlens, vals, vlens, err, sizeof(err)) != 0) {
    cairn_reply_errorf(&c->reply, "-%s", err);
  } else if (srv->cfg.maxclients > old_maxclients &&
             (fit = cairn_files_for_clients(srv->cfg.maxclients, 0)) < srv->cfg.maxclients) {
    /* Redis's updateMaxclients: the file limit cannot grow that far */
    char ignored[512];
    if (cairn_config_set(&srv->cfg, old.n, (const char **)old.names, old.nlens, (const char **)old.vals, old.vlens,
                         ignored, sizeof(ignored)) != 0)
      cairn_warning("CONFIG SET: restoring the old values failed: %s", ignored);
    cairn_reply_errorf(&c->reply,
                       "CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not "
                       "able to handle the specified number of clients, try with %d",
                       fit);
  } else if (tls_params_named(np, names, nlens) && cairn_tls_configure(srv, err, sizeof(err)) != 0) {
    /* The old contexts stay (and so do the old values). */
    cairn_warning("Failed to configure TLS: %s", err);
    config_restore(srv, &old);
    int bad = 0;
    for (int i = 0; i < np; i++)
      if (cairn_tls_is_tls_param(names[i], nlens[i])) {
        bad = i;
        break;
      }
    cairn_reply_errorf(&c->reply,
                       "CONFIG SET failed (possibly related to argument '%.*s') - Unable to update TLS "
                       "configuration. Check server logs.",
                       (int)nlens[bad], names[bad]);
  } else if (listeners_changed(srv, old_port, old_tls_port, old_bind) &&
             cairn_listeners_rebind(srv, old_port, old_tls_port, old_bind, err, sizeof(err)) != 0) {
    /* Applying failed: every parameter of the request goes back (Redis's
     * restoreBackupConfig), and the listeners are the old ones again. */
    const char *which = srv->cfg.port != old_port ? "port" : srv->cfg.tls_port != old_tls_port ? "tls-port" : "bind";
    cairn_warning("CONFIG SET %s failed: %s", which, err);
    char ignored[512];
    if (cairn_config_set(&srv->cfg, old.n, (const char **)old.names, old.nlens, (const char **)old.vals, old.vlens,
                         ignored, sizeof(ignored)) != 0)
      cairn_warning("CONFIG SET: restoring the old values failed: %s", ignored);
    cairn_reply_errorf(&c->reply, "CONFIG SET failed (possibly related to argument '%s') - %s", which,
                       strcmp(which, "bind") ? "Unable to listen on this port. Check server logs."
                                              : "Failed to bind to specified addresses.");
  } else if ((srv->cfg.lmdb_map_size != old_map || srv->cfg.lmdb_max_map_size != old_max_map) &&
             cairn_store_set_map_limits(srv->store, (uint64_t)srv->cfg.lmdb_map_size,
                                        (uint64_t)srv->cfg.lmdb_max_map_size) != 0) {
    /* The map could not grow to the new size (the disk is full): the
     * request's values go back; a raised ceiling stays in effect. */
    snprintf(err, sizeof(err), "%s", cairn_store_errstr(srv->store));
    cairn_warning("CONFIG SET lmdb-map-size failed: %s", err);
    char ignored[512];
    if (cairn_config_set(&srv->cfg, old.n, (const char **)old.names, old.nlens, (const char **)old.vals, old.vlens,
                         ignored, sizeof(ignored)) != 0)
      cairn_warning("CONFIG SET: restoring the old values failed: %s", ignored);
    cairn_store_set_map_limits(srv->store, 0, (uint64_t)srv->cfg.lmdb_max_map_size);
    cairn_reply_errorf(&c->reply, "CONFIG SET failed (possibly related to argument 'lmdb-map-size') - %s", err);
  } else {
    /* Runtime effects; every other directive is read where it is used. */
    cairn_log_set_level(srv->cfg.loglevel);
    cairn_acl_config_changed(srv, np, names, nlens);
    cairn_store_set_merge(srv->store, (uint64_t)srv->cfg.overlay_merge_bytes, cairn_commit_urgent_bytes(&srv->cfg),
                          srv->cfg.overlay_merge_after_ms * 1000);
    cairn_huge_blocks_cap(cairn_commit_kept_blocks(&srv->cfg));
    if (srv->cfg.hz != old_hz && srv->cfg.hz > 0 && uv_is_active((uv_handle_t *)&srv->cron))
      uv_timer_set_repeat(&srv->cron, (uint64_t)(1000 / srv->cfg.hz));
    cairn_reply_ok(&c->reply);
  }
  free(names);
  free(vals);
  free(nlens);
  free(vlens);
  free(old_bind);
  config_old_free(&old);
}

static void cmd_config_resetstat(cairn_ctx *c) {
  memset(&c->srv->stats, 0, sizeof(c->srv->stats));
  cairn_info_reset_calls(c->srv);
  cairn_reply_ok(&c->reply);
}

static void cmd_config_rewrite(cairn_ctx *c) {
  char err[512];
  int nusers = 0;
  char **users = cairn_acl_config_lines(c->srv, &nusers); /* the `user` lines */
  int rc = cairn_config_rewrite_users(&c->srv->cfg, users, nusers, err, sizeof(err));
  for (int i = 0; i < nusers; i++) free(users[i]);
  free(users);
  if (rc != 0) {
    cairn_warning("CONFIG REWRITE failed: %s", err);
    cairn_reply_errorf(&c->reply, "-%s", err);
    return;
  }
  cairn_notice("CONFIG REWRITE executed with success.");
  cairn_reply_ok(&c->reply);
}

static void cmd_config_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "GET <pattern>",
      "    Return parameters matching the glob-like <pattern> and their values.",
      "SET <directive> <value>",
      "    Set the configuration <directive> to <value>.",
      "RESETSTAT",
      "    Reset statistics reported by the INFO command.",
      "REWRITE",
      "    Rewrite the configuration file.",
      NULL,
  };
  reply_help(c, "CONFIG", lines);
}

/* ---------------------------------------------------------------- CLIENT */

static void cmd_client_id(cairn_ctx *c) { cairn_reply_int(&c->reply, c->client ? (long long)c->client->id : 0); }

static void cmd_client_setname(cairn_ctx *c) {
  cairn_str name = c->argv[2];
  for (size_t i = 0; i < name.len; i++) {
    if (name.p[i] < '!' || name.p[i] > '~') {
      cairn_reply_error(&c->reply, "Client names cannot contain spaces, newlines or special characters.");
      return;
    }
  }
  if (c->client) {
    free(c->client->name);
    c->client->name = name.len ? cairn_xmemdup(name.p, name.len) : NULL;
  }
  cairn_reply_ok(&c->reply);
}

static void cmd_client_getname(cairn_ctx *c) {
  if (c->client && c->client->name)
    cairn_reply_bulk_str(&c->reply, c->client->name);
  else
    cairn_reply_null(&c->reply);
}

/* Client type names (CLIENT LIST TYPE, CLIENT KILL TYPE). Returns 1 for a
 * known name, setting *type to a CAIRN_CLIENT_TYPE_* value. */
static int client_type(cairn_str t, int *type) {
  if (cairn_arg_is(t, "normal"))
    *type = CAIRN_CLIENT_TYPE_NORMAL;
  else if (cairn_arg_is(t, "replica") || cairn_arg_is(t, "slave"))
    *type = CAIRN_CLIENT_TYPE_REPLICA;
  else if (cairn_arg_is(t, "master"))
    *type = CAIRN_CLIENT_TYPE_MASTER;
  else if (cairn_arg_is(t, "pubsub"))
    *type = CAIRN_CLIENT_TYPE_PUBSUB;
  else
    return 0;
  return 1;
}

/* The replica's link to its master as a client (Redis lists its master
 * client, flags=M): 1 with *m filled while it streams. */
static int master_client(cairn_server *srv, cairn_master_client *m) {
  return srv->repl_hooks.master_client && srv->repl_hooks.master_client(srv, m);
}

static void cmd_client_list(cairn_ctx *c) {
  int only_type = -1; /* -1: any type */
  long long *ids = NULL;
  int nids = 0;
  if (c->argc == 4 && cairn_arg_is(c->argv[2], "type")) {
    if (!client_type(c->argv[3], &only_type)) {
      cairn_reply_errorf(&c->reply, "Unknown client type '%.*s'", (int)c->argv[3].len, c->argv[3].p);
      return;
    }
  } else if (c->argc > 3 && cairn_arg_is(c->argv[2], "id")) {
    nids = c->argc - 3;
    ids = cairn_xcalloc((size_t)nids, sizeof(*ids));
    for (int j = 0; j < nids; j++) {
      if (!cairn_str2ll(c->argv[3 + j].p, c->argv[3 + j].len, &ids[j])) {
        cairn_reply_error(&c->reply, "Invalid client ID");
        free(ids);
        return;
      }
    }
  } else if (c->argc != 2) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  cairn_buf out = {0};
  cairn_master_client m;
  int has_master = master_client(c->srv, &m);
  if (nids) {
    for (int j = 0; j < nids; j++) {
      cairn_client *cl = ids[j] > 0 ? cairn_client_by_id(c->srv, (uint64_t)ids[j]) : NULL;
      if (cl && !(cl->flags & CAIRN_CLIENT_CLOSING)) cairn_client_describe(cl, &out);
      if (has_master && ids[j] > 0 && (uint64_t)ids[j] == m.id) cairn_master_client_describe(&m, &out);
    }
  } else {
    /* Oldest first, like Redis (the server's list has the newest first);
     * the master link in its place by id. */
    int master_wanted = has_master && (only_type < 0 || only_type == CAIRN_CLIENT_TYPE_MASTER);
    cairn_client *last = c->srv->clients;
    while (last && last->next) last = last->next;
    for (cairn_client *cl = last; cl; cl = cl->prev) {
      if (master_wanted && cl->id > m.id) {
        cairn_master_client_describe(&m, &out);
        master_wanted = 0;
      }
      if (!(cl->flags & CAIRN_CLIENT_CLOSING) && (only_type < 0 || cairn_client_type(cl) == only_type))
        cairn_client_describe(cl, &out);
    }
    if (master_wanted) cairn_master_client_describe(&m, &out);
  }
  cairn_reply_verbatim(&c->reply, out.p ? out.p : "", out.len);
  cairn_buf_free(&out);
  free(ids);
}

static void cmd_client_info(cairn_ctx *c) {
  cairn_buf out = {0};
  if (c->client) cairn_client_describe(c->client, &out);
  cairn_reply_verbatim(&c->reply, out.p ? out.p : "", out.len);
  cairn_buf_free(&out);
}

/* Closes cl, or, when it is the calling client, after this reply. */
static void kill_client(cairn_ctx *c, cairn_client *cl) {
  if (cl == c->client)
    cl->flags |= CAIRN_CLIENT_CLOSE_AFTER_REPLY;
  else
    cairn_client_close(cl);
}

static void cmd_client_kill(cairn_ctx *c) {
  cairn_server *srv = c->srv;
  cairn_master_client m;
  int has_master = master_client(srv, &m);
  if (c->argc == 3) { /* old form: CLIENT KILL ip:port */
    for (cairn_client *cl = srv->clients; cl; cl = cl->next) {
      if ((cl->flags & CAIRN_CLIENT_CLOSING) || !cairn_arg_is(c->argv[2], cl->addr)) continue;
      kill_client(c, cl);
      cairn_reply_ok(&c->reply);
      return;
    }
    if (has_master && cairn_arg_is(c->argv[2], m.addr)) {
      srv->repl_hooks.kill_master(srv);
      cairn_reply_ok(&c->reply);
      return;
    }
    cairn_reply_error(&c->reply, "No such client");
    return;
  }
  long long id = 0, maxage = 0;
  int type = -1, skipme = 1;
  struct cairn_acl_user *kill_user = NULL;
  const char *addr = NULL, *laddr = NULL;
  char *owned[2] = {NULL, NULL};
  int ok = 1;
  if ((c->argc - 2) % 2 != 0) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  for (int i = 2; i < c->argc && ok; i += 2) {
    cairn_str opt = c->argv[i], val = c->argv[i + 1];
    if (cairn_arg_is(opt, "id")) {
      if (!cairn_str2ll(val.p, val.len, &id) || id <= 0) {
        cairn_reply_error(&c->reply, "client-id should be greater than 0");
        ok = 0;
      }
    } else if (cairn_arg_is(opt, "type")) {
      if (!client_type(val, &type)) {
        cairn_reply_errorf(&c->reply, "Unknown client type '%.*s'", (int)val.len, val.p);
        ok = 0;
      }
    } else if (cairn_arg_is(opt, "addr")) {
      free(owned[0]);
      addr = owned[0] = arg_cstr(val);
    } else if (cairn_arg_is(opt, "laddr")) {
      free(owned[1]);
      laddr = owned[1] = arg_cstr(val);
    } else if (cairn_arg_is(opt, "user")) {
      kill_user = c->srv->acl ? cairn_acl_user_get(c->srv->acl, val.p, val.len) : NULL;
      if (!kill_user) {
        cairn_reply_errorf(&c->reply, "No such user '%.*s'", (int)val.len, val.p);
        ok = 0;
      }
    } else if (cairn_arg_is(opt, "skipme")) {
      if (cairn_arg_is(val, "yes"))
        skipme = 1;
      else if (cairn_arg_is(val, "no"))
        skipme = 0;
      else {
        cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
        ok = 0;
      }
    } else if (cairn_arg_is(opt, "maxage")) {
      /* Not in Redis 7.0 (added in 7.4): kills clients older than N seconds. */
      if (!cairn_str2ll(val.p, val.len, &maxage) || maxage < 0) {
        cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
        ok = 0;
      }
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      ok = 0;
    }
  }
  if (ok) {
    long long killed = 0;
    int64_t now = cairn_monotonic_ms();
    for (cairn_client *cl = srv->clients, *next; cl; cl = next) {
      next = cl->next;
      if (cl->flags & CAIRN_CLIENT_CLOSING) continue;
      if (id && cl->id != (uint64_t)id) continue;
      if (type >= 0 && cairn_client_type(cl) != type) continue;
      if (addr && strcmp(addr, cl->addr) != 0) continue;
      if (laddr && strcmp(laddr, cl->laddr) != 0) continue;
      if (kill_user && cl->user != kill_user) continue;
      if (maxage && now - cl->created_ms < maxage * 1000) continue;
      if (skipme && cl == c->client) continue;
      kill_client(c, cl);
      killed++;
    }
    /* the master link: its user is the superuser, which no USER filter names */
    if (has_master && (!id || m.id == (uint64_t)id) && (type < 0 || type == CAIRN_CLIENT_TYPE_MASTER) &&
        (!addr || !strcmp(addr, m.addr)) && (!laddr || !strcmp(laddr, m.laddr)) && !kill_user &&
        (!maxage || now - m.created_ms >= maxage * 1000)) {
      srv->repl_hooks.kill_master(srv);
      killed++;
    }
    cairn_reply_int(&c->reply, killed);
  }
  free(owned[0]);
  free(owned[1]);
}

static void client_flag_onoff(cairn_ctx *c, uint32_t flag) {
  if (cairn_arg_is(c->argv[2], "on")) {
    if (c->client) c->client->flags |= flag;
  } else if (cairn_arg_is(c->argv[2], "off")) {
    if (c->client) c->client->flags &= ~flag;
  } else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  cairn_reply_ok(&c->reply);
}

static void cmd_client_no_evict(cairn_ctx *c) { client_flag_onoff(c, CAIRN_CLIENT_NO_EVICT); }
static void cmd_client_no_touch(cairn_ctx *c) { client_flag_onoff(c, CAIRN_CLIENT_NO_TOUCH); }

static void cmd_client_reply(cairn_ctx *c) {
  cairn_client *cl = c->client;
  if (cairn_arg_is(c->argv[2], "on")) {
    if (cl) {
      cl->reply_mode = CAIRN_REPLY_ON;
      c->reply.buf = &cl->out; /* the reply was off for this command: ON still answers */
    }
    cairn_reply_ok(&c->reply);
  } else if (cairn_arg_is(c->argv[2], "off")) {
    if (cl) cl->reply_mode = CAIRN_REPLY_OFF;
  } else if (cairn_arg_is(c->argv[2], "skip")) {
    /* cairn_execute turns SKIP_NEXT into SKIP after this command, so the
     * next command runs without a reply and the one after gets ON back. */
    if (cl && cl->reply_mode == CAIRN_REPLY_ON) cl->reply_mode = CAIRN_REPLY_SKIP_NEXT;
  } else {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
  }
}

/* CLIENT PAUSE timeout [WRITE|ALL], Redis 7.0's order of checks: the mode,
 * then the timeout (milliseconds; 0 ends the pause at once). */
static void cmd_client_pause(cairn_ctx *c) {
  if (c->argc > 4) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  int type = CAIRN_PAUSE_ALL;
  if (c->argc == 4) {
    if (cairn_arg_is(c->argv[3], "write")) {
      type = CAIRN_PAUSE_WRITE;
    } else if (!cairn_arg_is(c->argv[3], "all")) {
      cairn_reply_error(&c->reply, "CLIENT PAUSE mode must be WRITE or ALL");
      return;
    }
  }
  long long ms;
  const char *err = cairn_timeout_parse(c->argv[2].p, c->argv[2].len, CAIRN_TIMEOUT_MILLISECONDS, &ms);
  if (err) {
    cairn_reply_error(&c->reply, err);
    return;
  }
  /* Redis 7.0 adds the unix time unchecked: a timeout that overflows ends
   * the pause at once. The same, without the overflow. */
  int64_t now = cairn_monotonic_ms();
  cairn_clients_pause(c->srv, ms > LLONG_MAX - cairn_mstime() ? now : now + ms, type);
  cairn_reply_ok(&c->reply);
}

static void cmd_client_unpause(cairn_ctx *c) {
  cairn_clients_unpause(c->srv);
  cairn_reply_ok(&c->reply);
}

/* CLIENT UNBLOCK client-id [TIMEOUT|ERROR] */
static void cmd_client_unblock(cairn_ctx *c) {
  if (c->argc > 4) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  long long id;
  if (cairn_arg_ll(c, c->argv[2], &id) != 0) return;
  int timeout = 1;
  if (c->argc == 4) {
    if (cairn_arg_is(c->argv[3], "error")) {
      timeout = 0;
    } else if (!cairn_arg_is(c->argv[3], "timeout")) {
      cairn_reply_error(&c->reply, "CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
      return;
    }
  }
  cairn_client *target = id > 0 ? cairn_client_by_id(c->srv, (uint64_t)id) : NULL;
  cairn_reply_int(&c->reply, target && cairn_blocking_unblock(target, timeout) ? 1 : 0);
}

static void cmd_client_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "CACHING (YES|NO)",
      "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
      "GETREDIR",
      "    Return the client ID we are redirecting to when tracking is enabled.",
      "GETNAME",
      "    Return the name of the current connection.",
      "ID",
      "    Return the ID of the current connection.",
      "INFO",
      "    Return information about the current client connection.",
      "KILL <ip:port>",
      "    Kill connection made from <ip:port>.",
      "KILL <option> <value> [<option> <value> [...]]",
      "    Kill connections. Options are:",
      "    * ADDR (<ip:port>|<unixsocket>:0)",
      "      Kill connections made from the specified address",
      "    * LADDR (<ip:port>|<unixsocket>:0)",
      "      Kill connections made to specified local address",
      "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
      "      Kill connections by type.",
      "    * USER <username>",
      "      Kill connections authenticated by <username>.",
      "    * SKIPME (YES|NO)",
      "      Skip killing current connection (default: yes).",
      "    * MAXAGE <maxage>",
      "      Kill connections older than the specified age.",
      "LIST [options ...]",
      "    Return information about client connections. Options:",
      "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
      "      Return clients of specified type.",
      "UNPAUSE",
      "    Stop the current client pause, resuming traffic.",
      "PAUSE <timeout> [WRITE|ALL]",
      "    Suspend all, or just write, clients for <timeout> milliseconds.",
      "REPLY (ON|OFF|SKIP)",
      "    Control the replies sent to the current connection.",
      "SETNAME <name>",
      "    Assign the name <name> to the current connection.",
      "UNBLOCK <clientid> [TIMEOUT|ERROR]",
      "    Unblock the specified blocked client.",
      "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
      "         [OPTIN] [OPTOUT] [NOLOOP]",
      "    Control server assisted client side caching.",
      "TRACKINGINFO",
      "    Report tracking status for the current connection.",
      "NO-EVICT (ON|OFF)",
      "    Protect current client connection from eviction.",
      "NO-TOUCH (ON|OFF)",
      "    Will not touch LRU/LFU stats when this mode is on.",
      NULL,
  };
  reply_help(c, "CLIENT", lines);
}

/* ---------------------------------------------------------------- COMMAND */

static const struct {
  uint32_t flag;
  const char *name;
} flag_names[] = {
    {CAIRN_CMD_WRITE, "write"},     {CAIRN_CMD_READONLY, "readonly"}, {CAIRN_CMD_DENYOOM, "denyoom"},
    {CAIRN_CMD_ADMIN, "admin"},     {CAIRN_CMD_PUBSUB, "pubsub"},     {CAIRN_CMD_NOSCRIPT, "noscript"},
    {CAIRN_CMD_BLOCKING, "blocking"}, {CAIRN_CMD_LOADING, "loading"}, {CAIRN_CMD_STALE, "stale"},
    {CAIRN_CMD_FAST, "fast"},       {CAIRN_CMD_NO_AUTH, "no_auth"},   {CAIRN_CMD_NOMULTI, "no_multi"},
    {CAIRN_CMD_ALLOW_BUSY, "allow_busy"}, {CAIRN_CMD_NO_MANDATORY_KEYS, "no_mandatory_keys"},
};

static void reply_cmd_flags(cairn_reply *r, const cairn_command *cmd) {
  int n = 0;
  for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
    if (cmd->flags & flag_names[i].flag) n++;
  const cairn_keyspecs *ks = cairn_keyspecs_of(cmd);
  int movable = ks && ks->movablekeys;
  cairn_reply_set(r, n + movable);
  for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
    if (cmd->flags & flag_names[i].flag) cairn_reply_status(r, flag_names[i].name);
  if (movable) cairn_reply_status(r, "movablekeys");
}

/* Space-separated words as a set of status replies ("RW access delete"). */
static void reply_words(cairn_reply *r, const char *words) {
  int n = 0;
  for (const char *p = words; *p;) {
    while (*p == ' ') p++;
    if (!*p) break;
    n++;
    while (*p && *p != ' ') p++;
  }
  cairn_reply_set(r, n);
  for (const char *p = words; *p;) {
    while (*p == ' ') p++;
    if (!*p) break;
    const char *w = p;
    while (*p && *p != ' ') p++;
    cairn_reply_raw(r, "+", 1);
    cairn_reply_raw(r, w, (size_t)(p - w));
    cairn_reply_raw(r, "\r\n", 2);
  }
}

/* Key specs as Redis 7.0's COMMAND INFO shows them, from the table. */
static void reply_table_key_specs(cairn_reply *r, const cairn_keyspecs *ks) {
  cairn_reply_array(r, ks->n);
  for (int i = 0; i < ks->n; i++) {
    const cairn_keyspec *sp = &ks->specs[i];
    cairn_reply_map(r, 3 + (sp->notes != NULL));
    if (sp->notes) {
      cairn_reply_bulk_str(r, "notes");
      cairn_reply_bulk_str(r, sp->notes);
    }
    cairn_reply_bulk_str(r, "flags");
    reply_words(r, sp->flags);
    cairn_reply_bulk_str(r, "begin_search");
    cairn_reply_map(r, 2);
    cairn_reply_bulk_str(r, "type");
    if (sp->bs == CAIRN_BS_INDEX) {
      cairn_reply_bulk_str(r, "index");
      cairn_reply_bulk_str(r, "spec");
      cairn_reply_map(r, 1);
      cairn_reply_bulk_str(r, "index");
      cairn_reply_int(r, sp->bs_index);
    } else if (sp->bs == CAIRN_BS_KEYWORD) {
      cairn_reply_bulk_str(r, "keyword");
      cairn_reply_bulk_str(r, "spec");
      cairn_reply_map(r, 2);
      cairn_reply_bulk_str(r, "keyword");
      cairn_reply_bulk_str(r, sp->bs_keyword);
      cairn_reply_bulk_str(r, "startfrom");
      cairn_reply_int(r, sp->bs_startfrom);
    } else {
      cairn_reply_bulk_str(r, "unknown");
      cairn_reply_bulk_str(r, "spec");
      cairn_reply_map(r, 0);
    }
    cairn_reply_bulk_str(r, "find_keys");
    cairn_reply_map(r, 2);
    cairn_reply_bulk_str(r, "type");
    if (sp->fk == CAIRN_FK_RANGE) {
      cairn_reply_bulk_str(r, "range");
      cairn_reply_bulk_str(r, "spec");
      cairn_reply_map(r, 3);
      cairn_reply_bulk_str(r, "lastkey");
      cairn_reply_int(r, sp->lastkey);
      cairn_reply_bulk_str(r, "keystep");
      cairn_reply_int(r, sp->keystep);
      cairn_reply_bulk_str(r, "limit");
      cairn_reply_int(r, sp->limit);
    } else if (sp->fk == CAIRN_FK_KEYNUM) {
      cairn_reply_bulk_str(r, "keynum");
      cairn_reply_bulk_str(r, "spec");
      cairn_reply_map(r, 3);
      cairn_reply_bulk_str(r, "keynumidx");
      cairn_reply_int(r, sp->keynumidx);
      cairn_reply_bulk_str(r, "firstkey");
      cairn_reply_int(r, sp->firstkey);
      cairn_reply_bulk_str(r, "keystep");
      cairn_reply_int(r, sp->keystep);
    } else {
      cairn_reply_bulk_str(r, "unknown");
      cairn_reply_bulk_str(r, "spec");
      cairn_reply_map(r, 0);
    }
  }
}

/* ACL categories (engine/acl.c), in Redis's category order. */
static void reply_acl_categories(cairn_reply *r, const cairn_command *cmd) {
  uint32_t m = cairn_acl_command_categories(cmd);
  int n = 0;
  for (int i = 0; i < CAIRN_ACL_NCATS; i++) n += (m >> i) & 1;
  cairn_reply_set(r, n);
  for (int i = 0; i < CAIRN_ACL_NCATS; i++)
    if ((m >> i) & 1) {
      char name[40];
      snprintf(name, sizeof(name), "@%s", cairn_acl_category_name(i));
      cairn_reply_status(r, name);
    }
}

/* The key specs: Redis 7.0's (engine/keyspecs.c), or, for a command the
 * table does not know, one spec from the legacy (first, last, step) triple. */
static void reply_key_specs(cairn_reply *r, const cairn_command *cmd) {
  const cairn_keyspecs *ks = cairn_keyspecs_of(cmd);
  if (ks) {
    reply_table_key_specs(r, ks);
    return;
  }
  if (cmd->first_key <= 0) {
    cairn_reply_array(r, 0);
    return;
  }
  cairn_reply_array(r, 1);
  cairn_reply_map(r, 3);
  cairn_reply_bulk_str(r, "flags");
  if (cmd->flags & CAIRN_CMD_WRITE) {
    cairn_reply_set(r, 1);
    cairn_reply_status(r, "RW");
  } else {
    cairn_reply_set(r, 2);
    cairn_reply_status(r, "RO");
    cairn_reply_status(r, "access");
  }
  cairn_reply_bulk_str(r, "begin_search");
  cairn_reply_map(r, 2);
  cairn_reply_bulk_str(r, "type");
  cairn_reply_bulk_str(r, "index");
  cairn_reply_bulk_str(r, "spec");
  cairn_reply_map(r, 1);
  cairn_reply_bulk_str(r, "index");
  cairn_reply_int(r, cmd->first_key);
  cairn_reply_bulk_str(r, "find_keys");
  cairn_reply_map(r, 2);
  cairn_reply_bulk_str(r, "type");
  cairn_reply_bulk_str(r, "range");
  cairn_reply_bulk_str(r, "spec");
  cairn_reply_map(r, 3);
  cairn_reply_bulk_str(r, "lastkey");
  cairn_reply_int(r, cmd->last_key < 0 ? cmd->last_key : cmd->last_key - cmd->first_key);
  cairn_reply_bulk_str(r, "keystep");
  cairn_reply_int(r, cmd->key_step);
  cairn_reply_bulk_str(r, "limit");
  cairn_reply_int(r, 0);
}

static int sub_count(const cairn_command *cmd) {
  int n = 0;
  if (cmd->subcommands)
    for (const cairn_command *s = cmd->subcommands; s->name; s++) n++;
  return n;
}

static void reply_command_info(cairn_reply *r, const cairn_command *cmd) {
  cairn_reply_array(r, 10);
  cairn_reply_bulk_str(r, cmd->name);
  cairn_reply_int(r, cmd->arity);
  reply_cmd_flags(r, cmd);
  cairn_reply_int(r, cmd->first_key);
  cairn_reply_int(r, cmd->last_key);
  cairn_reply_int(r, cmd->key_step);
  reply_acl_categories(r, cmd);
  cairn_reply_set(r, 0); /* tips */
  reply_key_specs(r, cmd);
  cairn_reply_array(r, sub_count(cmd));
  if (cmd->subcommands)
    for (const cairn_command *s = cmd->subcommands; s->name; s++) reply_command_info(r, s);
}

/* Looks a name up, "container|sub" included. */
static const cairn_command *lookup_any(cairn_str name) {
  const char *bar = memchr(name.p, '|', name.len);
  if (!bar) return cairn_command_lookup(name.p, name.len);
  const cairn_command *parent = cairn_command_lookup(name.p, (size_t)(bar - name.p));
  if (!parent) return NULL;
  cairn_str rest = {bar + 1, name.len - (size_t)(bar - name.p) - 1};
  return cairn_subcommand_find(parent, rest);
}

/* ---- COMMAND DOCS: arguments from the synopsis string.
 * "key value [NX|XX] [EX seconds|PX milliseconds] [field value ...]" becomes
 * Redis 7.0 argument maps: upper-case words are tokens (alone: pure-token;
 * followed by a lower-case word: that argument's token), [..] is optional,
 * a|b is oneof, several words form a block, "..." marks multiple. */
typedef struct doc_arg {
  char name[64];
  char token[64];
  const char *type;
  int optional, multiple;
  struct doc_arg *kids;
  int nkids;
} doc_arg;

typedef struct syn_lexer {
  const char *p, *end;
} syn_lexer;

/* Next lexeme: "[", "]", "|", "...", or a word. Returns its length, 0 at end. */
static size_t syn_next(syn_lexer *lx, const char **out) {
  while (lx->p < lx->end && *lx->p == ' ') lx->p++;
  if (lx->p >= lx->end) return 0;
  const char *s = lx->p;
  if (*s == '[' || *s == ']' || *s == '|') {
    lx->p++;
    *out = s;
    return 1;
  }
  if (lx->end - s >= 3 && !memcmp(s, "...", 3)) {
    lx->p += 3;
    *out = s;
    return 3;
  }
  while (lx->p < lx->end && !strchr(" []|", *lx->p)) lx->p++;
  *out = s;
  return (size_t)(lx->p - s);
}

static size_t syn_peek(syn_lexer *lx, const char **out) {
  syn_lexer save = *lx;
  size_t n = syn_next(lx, out);
  *lx = save;
  return n;
}

static int is_token_word(const char *w, size_t n) {
  int letters = 0;
  for (size_t i = 0; i < n; i++) {
    if (islower((unsigned char)w[i])) return 0;
    if (isupper((unsigned char)w[i])) letters++;
  }
  return letters > 0;
}

static const char *arg_type_for(const char *name) {
  if (!strcmp(name, "key") || !strcmp(name, "newkey") || !strcmp(name, "source") || !strcmp(name, "destination"))
    return "key";
  if (!strcmp(name, "pattern")) return "pattern";
  if (strstr(name, "unix-time")) return "unix-time";
  if (!strcmp(name, "seconds") || !strcmp(name, "milliseconds") || !strcmp(name, "count") ||
      !strcmp(name, "index") || !strcmp(name, "offset") || !strcmp(name, "start") || !strcmp(name, "end") ||
      !strcmp(name, "increment") || !strcmp(name, "decrement") || !strcmp(name, "timeout"))
    return "integer";
  return "string";
}

static void doc_push(doc_arg **v, int *n, doc_arg a) {
  *v = cairn_xrealloc(*v, sizeof(doc_arg) * (size_t)(*n + 1));
  (*v)[(*n)++] = a;
}

static void doc_free(doc_arg *v, int n) {
  for (int i = 0; i < n; i++) doc_free(v[i].kids, v[i].nkids);
  free(v);
}

static void copy_word(char *dst, size_t cap, const char *w, size_t n, int lower) {
  if (n >= cap) n = cap - 1;
  for (size_t i = 0; i < n; i++) dst[i] = lower ? (char)tolower((unsigned char)w[i]) : w[i];
  dst[n] = '\0';
}

static doc_arg syn_alt(syn_lexer *lx);

/* A sequence of items up to "]", "|" or the end. */
static void syn_seq(syn_lexer *lx, doc_arg **out, int *nout) {
  const char *w;
  size_t n;
  while ((n = syn_peek(lx, &w)) > 0 && !(n == 1 && (*w == ']' || *w == '|'))) {
    syn_next(lx, &w);
    doc_arg a;
    memset(&a, 0, sizeof(a));
    if (n == 3 && !memcmp(w, "...", 3)) {
      if (*nout) (*out)[*nout - 1].multiple = 1;
      continue;
    }
    if (n == 1 && *w == '[') {
      a = syn_alt(lx);
      syn_next(lx, &w); /* "]" */
      a.optional = 1;
      /* "key [key ...]": the optional repetition of the previous item. */
      if (*nout && a.multiple && a.nkids == 0 && !a.token[0] && !strcmp(a.name, (*out)[*nout - 1].name)) {
        (*out)[*nout - 1].multiple = 1;
        continue;
      }
      if (*nout && a.multiple && !strcmp(a.type, "block") && (*out)[*nout - 1].nkids == 0 && *nout >= a.nkids) {
        /* "field value [field value ...]": fold the preceding words into one multiple block. */
        int same = 1;
        for (int k = 0; k < a.nkids && same; k++)
          same = !strcmp(a.kids[k].name, (*out)[*nout - a.nkids + k].name);
        if (same) {
          for (int k = 0; k < a.nkids; k++) doc_free((*out)[*nout - a.nkids + k].kids, (*out)[*nout - a.nkids + k].nkids);
          *nout -= a.nkids;
          a.optional = 0;
        }
      }
    } else if (is_token_word(w, n)) {
      const char *w2;
      size_t n2 = syn_peek(lx, &w2);
      copy_word(a.token, sizeof(a.token), w, n, 0);
      if (n2 > 0 && !strchr("[]|", *w2) && !(n2 == 3 && !memcmp(w2, "...", 3)) && !is_token_word(w2, n2)) {
        syn_next(lx, &w2);
        copy_word(a.name, sizeof(a.name), w2, n2, 0);
        a.type = arg_type_for(a.name);
      } else {
        copy_word(a.name, sizeof(a.name), w, n, 1);
        a.type = "pure-token";
      }
    } else {
      copy_word(a.name, sizeof(a.name), w, n, 0);
      a.type = arg_type_for(a.name);
    }
    doc_push(out, nout, a);
  }
}

/* Alternatives inside brackets: one item, a block, or a oneof. */
static doc_arg syn_alt(syn_lexer *lx) {
  doc_arg *alts = NULL;
  int nalts = 0;
  const char *w;
  for (;;) {
    doc_arg *items = NULL;
    int nitems = 0;
    syn_seq(lx, &items, &nitems);
    doc_arg one;
    memset(&one, 0, sizeof(one));
    if (nitems == 1) {
      one = items[0];
      free(items);
    } else {
      one.type = "block";
      /* "[field value ...]": the ellipsis repeats the whole group. */
      if (nitems && items[nitems - 1].multiple) {
        items[nitems - 1].multiple = 0;
        one.multiple = 1;
      }
      one.kids = items;
      one.nkids = nitems;
      copy_word(one.name, sizeof(one.name), nitems ? items[0].name : "arg", nitems ? strlen(items[0].name) : 3, 0);
    }
    doc_push(&alts, &nalts, one);
    size_t n = syn_peek(lx, &w);
    if (n == 1 && *w == '|') {
      syn_next(lx, &w);
      continue;
    }
    break;
  }
  if (nalts == 1) {
    doc_arg a = alts[0];
    free(alts);
    return a;
  }
  doc_arg a;
  memset(&a, 0, sizeof(a));
  a.type = "oneof";
  a.kids = alts;
  a.nkids = nalts;
  size_t len = 0;
  for (int i = 0; i < nalts && len < sizeof(a.name) - 1; i++) {
    size_t add = strlen(alts[i].name);
    if (len + add + 1 >= sizeof(a.name)) break;
    if (i) a.name[len++] = '_';
    memcpy(a.name + len, alts[i].name, add);
    len += add;
  }
  a.name[len] = '\0';
  return a;
}

static void reply_doc_args(cairn_reply *r, const doc_arg *v, int n) {
  cairn_reply_array(r, n);
  for (int i = 0; i < n; i++) {
    const doc_arg *a = &v[i];
    int is_key = !strcmp(a->type, "key");
    int nflags = a->optional + a->multiple;
    int pairs = 2 + is_key + (a->token[0] != 0) + (nflags > 0) + (a->nkids > 0);
    cairn_reply_map(r, pairs);
    cairn_reply_bulk_str(r, "name");
    cairn_reply_bulk_str(r, a->name);
    cairn_reply_bulk_str(r, "type");
    cairn_reply_bulk_str(r, a->type);
    if (is_key) {
      cairn_reply_bulk_str(r, "key_spec_index");
      cairn_reply_int(r, 0);
    }
    if (a->token[0]) {
      cairn_reply_bulk_str(r, "token");
      cairn_reply_bulk_str(r, a->token);
    }
    if (nflags) {
      cairn_reply_bulk_str(r, "flags");
      cairn_reply_set(r, nflags);
      if (a->optional) cairn_reply_status(r, "optional");
      if (a->multiple) cairn_reply_status(r, "multiple");
    }
    if (a->nkids) {
      cairn_reply_bulk_str(r, "arguments");
      reply_doc_args(r, a->kids, a->nkids);
    }
  }
}

static void reply_command_docs(cairn_reply *r, const cairn_command *cmd) {
  doc_arg *args = NULL;
  int nargs = 0;
  if (cmd->args && *cmd->args) {
    syn_lexer lx = {cmd->args, cmd->args + strlen(cmd->args)};
    for (;;) {
      syn_seq(&lx, &args, &nargs);
      const char *w;
      if (syn_next(&lx, &w) == 0) break; /* a stray "]" or "|": skip it */
    }
  }
  int nsubs = sub_count(cmd);
  cairn_reply_map(r, 3 + (nargs > 0) + (nsubs > 0));
  cairn_reply_bulk_str(r, "summary");
  cairn_reply_bulk_str(r, cmd->summary ? cmd->summary : "");
  cairn_reply_bulk_str(r, "since");
  cairn_reply_bulk_str(r, cmd->since ? cmd->since : "1.0.0");
  cairn_reply_bulk_str(r, "group");
  cairn_reply_bulk_str(r, cmd->group ? cmd->group : "server");
  if (nargs) {
    cairn_reply_bulk_str(r, "arguments");
    reply_doc_args(r, args, nargs);
  }
  if (nsubs) {
    cairn_reply_bulk_str(r, "subcommands");
    cairn_reply_map(r, nsubs);
    for (const cairn_command *s = cmd->subcommands; s->name; s++) {
      cairn_reply_bulk_str(r, s->name);
      reply_command_docs(r, s);
    }
  }
  doc_free(args, nargs);
}

static void reply_all_info(cairn_reply *r) {
  int n = cairn_command_count();
  cairn_reply_array(r, n);
  for (int i = 0; i < n; i++) reply_command_info(r, cairn_command_at(i));
}

static void cmd_command(cairn_ctx *c) {
  if (c->argc > 1)
    cairn_subcommand_dispatch(c);
  else
    reply_all_info(&c->reply);
}

static void cmd_command_count(cairn_ctx *c) { cairn_reply_int(&c->reply, cairn_command_count()); }

static void cmd_command_info(cairn_ctx *c) {
  if (c->argc == 2) {
    reply_all_info(&c->reply);
    return;
  }
  cairn_reply_array(&c->reply, c->argc - 2);
  for (int i = 2; i < c->argc; i++) {
    const cairn_command *cmd = lookup_any(c->argv[i]);
    if (cmd)
      reply_command_info(&c->reply, cmd);
    else
      cairn_reply_null_array(&c->reply);
  }
}

static void cmd_command_docs(cairn_ctx *c) {
  if (c->argc == 2) {
    int n = cairn_command_count();
    cairn_reply_map(&c->reply, n);
    for (int i = 0; i < n; i++) {
      const cairn_command *cmd = cairn_command_at(i);
      cairn_reply_bulk_str(&c->reply, cmd->name);
      reply_command_docs(&c->reply, cmd);
    }
    return;
  }
  size_t mark = cairn_reply_defer(&c->reply);
  int found = 0;
  for (int i = 2; i < c->argc; i++) {
    const cairn_command *cmd = lookup_any(c->argv[i]);
    if (!cmd) continue;
    cairn_reply_bulk_str(&c->reply, cmd->name);
    reply_command_docs(&c->reply, cmd);
    found++;
  }
  cairn_reply_defer_map(&c->reply, mark, found);
}

static int list_filter_match(const cairn_command *cmd, int kind, cairn_str val) {
  if (kind == 0) return 1;
  if (kind == 1) return 0; /* MODULE: cairn has no modules */
  if (kind == 2) { /* ACLCAT */
    cairn_buf b = {0};
    cairn_reply r = {&b, 2};
    reply_acl_categories(&r, cmd);
    char want[80];
    snprintf(want, sizeof(want), "+@%.*s\r\n", (int)(val.len > 64 ? 64 : val.len), val.p);
    int hit = b.p && strcasestr(b.p, want) != NULL;
    cairn_buf_free(&b);
    return hit;
  }
  return cairn_glob_match(val.p, val.len, cmd->name, strlen(cmd->name), 1);
}

static void cmd_command_list(cairn_ctx *c) {
  int kind = 0;
  cairn_str val = {NULL, 0};
  if (c->argc == 5 && cairn_arg_is(c->argv[2], "filterby")) {
    val = c->argv[4];
    if (cairn_arg_is(c->argv[3], "module"))
      kind = 1;
    else if (cairn_arg_is(c->argv[3], "aclcat"))
      kind = 2;
    else if (cairn_arg_is(c->argv[3], "pattern"))
      kind = 3;
    else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  } else if (c->argc != 2) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  for (int i = 0; i < cairn_command_count(); i++) {
    const cairn_command *cmd = cairn_command_at(i);
    if (list_filter_match(cmd, kind, val)) {
      cairn_reply_bulk_str(&c->reply, cmd->name);
      n++;
    }
    if (cmd->subcommands)
      for (const cairn_command *s = cmd->subcommands; s->name; s++)
        if (list_filter_match(s, kind, val)) {
          cairn_reply_bulk_str(&c->reply, s->name);
          n++;
        }
  }
  cairn_reply_defer_array(&c->reply, mark, n);
}

/* COMMAND GETKEYS / GETKEYSANDFLAGS <command> [args...]: Redis 7.0's
 * getKeysSubcommandImpl over the key specs (engine/getkeys.c). */
static void command_getkeys(cairn_ctx *c, int with_flags) {
  const cairn_command *cmd = cairn_command_lookup(c->argv[2].p, c->argv[2].len);
  int argc = c->argc - 2;
  cairn_str *argv = c->argv + 2;
  if (cmd && cmd->subcommands && argc >= 2) cmd = cairn_subcommand_find(cmd, argv[1]);
  if (!cmd) {
    cairn_reply_error(&c->reply, "Invalid command specified");
    return;
  }
  /* Redis's doesCommandHaveKeys: a key spec that is not "not_key" (or
   * the legacy triple of a command the table does not know). */
  const cairn_keyspecs *ks = cairn_keyspecs_of(cmd);
  int has_keys = !ks && cmd->first_key > 0;
  for (int i = 0; ks && i < ks->n; i++)
    if (!ks->specs[i].flags || !strstr(ks->specs[i].flags, "not_key")) has_keys = 1;
  if (!has_keys) {
    cairn_reply_error(&c->reply, "The command has no key arguments");
    return;
  }
  if (!cairn_arity_ok(cmd, argc)) {
    cairn_reply_error(&c->reply, "Invalid number of arguments specified for command");
    return;
  }
  cairn_keyref *keys = NULL;
  int n = cairn_command_keys(cmd, argc, argv, &keys);
  if (n == 0 && (cmd->flags & CAIRN_CMD_NO_MANDATORY_KEYS)) {
    cairn_reply_array(&c->reply, 0);
    free(keys);
    return;
  }
  if (n <= 0) {
    cairn_reply_error(&c->reply, "Invalid arguments specified for command");
    free(keys);
    return;
  }
  cairn_reply_array(&c->reply, n);
  for (int i = 0; i < n; i++) {
    cairn_str k = argv[keys[i].pos];
    if (with_flags) {
      cairn_reply_array(&c->reply, 2);
      cairn_reply_bulk(&c->reply, k.p, k.len);
      reply_words(&c->reply, keys[i].flags);
    } else {
      cairn_reply_bulk(&c->reply, k.p, k.len);
    }
  }
  free(keys);
}

static void cmd_command_getkeys(cairn_ctx *c) { command_getkeys(c, 0); }
static void cmd_command_getkeysandflags(cairn_ctx *c) { command_getkeys(c, 1); }

static void cmd_command_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "(no subcommand)",
      "    Return details about all Redis commands.",
      "COUNT",
      "    Return the total number of commands in this Redis server.",
      "LIST",
      "    Return a list of all commands in this Redis server.",
      "INFO [<command-name> ...]",
      "    Return details about multiple Redis commands.",
      "    If no command names are given, documentation details for all",
      "    commands are returned.",
      "DOCS [<command-name> ...]",
      "    Return documentation details about multiple Redis commands.",
      "    If no command names are given, documentation details for all",
      "    commands are returned.",
      "GETKEYS <full-command>",
      "    Return the keys from a full Redis command.",
      "GETKEYSANDFLAGS <full-command>",
      "    Return the keys and the access flags from a full Redis command.",
      NULL,
  };
  reply_help(c, "COMMAND", lines);
}

/* ---------------------------------------------------------------- misc */

static void cmd_time(cairn_ctx *c) {
  int64_t us = cairn_ustime();
  cairn_reply_array(&c->reply, 2);
  cairn_reply_bulk_ll(&c->reply, us / 1000000);
  cairn_reply_bulk_ll(&c->reply, us % 1000000);
}

static void cmd_lastsave(cairn_ctx *c) { cairn_reply_int(&c->reply, c->srv->last_save_time); }

/* A checkpoint freezes the write overlay and hands it to the store thread
 * (an LMDB commit of what the backlog already holds durably, not a snapshot
 * written by a child). BGSAVE returns at once; SAVE waits until LMDB holds
 * everything on disk, like Redis's SAVE blocks. */
static int checkpoint_now(cairn_ctx *c) {
  if (cairn_commit_checkpoint(c->srv) != 0 && cairn_store_frozen_layers(c->srv->store) == 0) {
    cairn_reply_error(&c->reply, "checkpoint failed, see the server log");
    return -1;
  }
  return 0;
}

static void cmd_save(cairn_ctx *c) {
  if (checkpoint_now(c) != 0) return;
  if (cairn_commit_wait_store(c->srv) != 0) {
    char why[256];
    cairn_store_drain_error(c->srv->store, why, sizeof(why));
    cairn_reply_errorf(&c->reply, "writing the store failed: %s", why);
    return;
  }
  cairn_reply_ok(&c->reply);
}

static void cmd_bgsave(cairn_ctx *c) {
  if (c->argc > 2 || (c->argc == 2 && !cairn_arg_is(c->argv[1], "schedule"))) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  if (checkpoint_now(c) == 0) cairn_reply_status(&c->reply, "Background saving started");
}

/* SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. cairn always checkpoints on
 * the way out (stop_server in loop.c) and a shutdown never waits for replicas,
 * so NOSAVE/SAVE/NOW/FORCE only need to parse; nothing is ever in progress for
 * ABORT. No reply on success: the server exits after this iteration's commit. */
static void cmd_shutdown(cairn_ctx *c) {
  int nosave = 0, save = 0, abort_ = 0, other = 0;
  for (int i = 1; i < c->argc; i++) {
    if (cairn_arg_is(c->argv[i], "nosave"))
      nosave = 1;
    else if (cairn_arg_is(c->argv[i], "save"))
      save = 1;
    else if (cairn_arg_is(c->argv[i], "now") || cairn_arg_is(c->argv[i], "force"))
      other = 1;
    else if (cairn_arg_is(c->argv[i], "abort"))
      abort_ = 1;
    else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if ((nosave && save) || (abort_ && (nosave || save || other))) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  if (abort_) {
    cairn_reply_error(&c->reply, "No shutdown in progress.");
    return;
  }
  cairn_warning("User requested shutdown...");
  c->srv->shutdown_requested = 1;
}

static void cmd_debug(cairn_ctx *c) {
  if (cairn_arg_is(c->argv[1], "help") && c->argc == 2) {
    static const char *const lines[] = {
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        NULL,
    };
    reply_help(c, "DEBUG", lines);
    return;
  }
  if (cairn_arg_is(c->argv[1], "sleep") && c->argc == 3) {
    double secs;
    if (cairn_arg_double(c, c->argv[2], &secs) != 0) return;
    if (secs > 0) {
      struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
      nanosleep(&ts, NULL);
    }
    cairn_reply_ok(&c->reply);
    return;
  }
  cairn_reply_subcommand_syntax_error(c);
}

/* ---------------------------------------------------------------- MONITOR */

/* MONITOR: from now on the client receives every command the server runs
 * (engine/monitor.c). Like Redis: refused inside MULTI (the client expects
 * one reply per command), and a second MONITOR is ignored without a reply. */
static void cmd_monitor(cairn_ctx *c) {
  cairn_client *cl = c->client;
  if (!cl) return;
  if (cl->flags & CAIRN_CLIENT_MULTI) {
    cairn_reply_error(&c->reply, "MONITOR isn't allowed for DENY BLOCKING client");
    return;
  }
  if (cl->flags & (CAIRN_CLIENT_MONITOR | CAIRN_CLIENT_REPLICA)) return;
  cairn_monitor_add(cl);
  cairn_reply_ok(&c->reply);
}

/* ---------------------------------------------------------------- MEMORY */

/* Bytes LMDB spends on one entry besides its key and data: the node header
 * (8), the entry key's prefix (collection id, space) and the cell pointer. */
#define ENTRY_OVERHEAD 24

/* MEMORY USAGE key [SAMPLES count]: what the key takes in the store, in
 * bytes, estimated like Redis does: the key's own entry (key, header or
 * string value, overhead), plus, for a collection, its entry count times
 * the average size of the first `count` members (default 5, 0 = all) in
 * their main space; a sorted set's score index doubles its members. It is
 * data bytes in LMDB's pages, not allocator bytes: page slack is not
 * counted. */
static void cmd_memory_usage(cairn_ctx *c) {
  long long samples = 5;
  for (int j = 3; j < c->argc; j++) {
    if (cairn_arg_is(c->argv[j], "samples") && j + 1 < c->argc) {
      if (!cairn_str2ll(c->argv[j + 1].p, c->argv[j + 1].len, &samples)) {
        cairn_reply_error(&c->reply, "value is not an integer or out of range");
        return;
      }
      if (samples < 0) {
        cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
        return;
      }
      if (samples == 0) samples = LLONG_MAX;
      j++;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  cairn_value v;
  int rc = cairn_lookup(c, c->argv[2], &v);
  if (rc < 0) return;
  if (rc == 0) {
    cairn_reply_null(&c->reply);
    return;
  }
  unsigned long long total = c->argv[2].len + v.len + ENTRY_OVERHEAD + (v.expire_ms >= 0 ? ENTRY_OVERHEAD + 16 : 0);
  cairn_coll coll;
  if (cairn_type_is_coll(v.type) && cairn_coll_decode(&v, &coll) == 0 && coll.count > 0) {
    /* a stream's entries are its space 0, like a list's elements */
    int space = v.type == CAIRN_TYPE_LIST || v.type == CAIRN_TYPE_STREAM ? CAIRN_SPACE_LIST : CAIRN_SPACE_MEMBERS;
    cairn_elem_iter *it;
    rc = cairn_elem_iter_open(c->srv->store, coll.id, space, NULL, 0, 0, &it);
    if (rc < 0) {
      c->store_rc = rc;
      return;
    }
    cairn_str sub, val;
    unsigned long long seen = 0, bytes = 0;
    while ((long long)seen < samples && (rc = cairn_elem_iter_next(it, &sub, &val)) > 0) {
      bytes += sub.len + val.len + ENTRY_OVERHEAD;
      seen++;
    }
    cairn_elem_iter_close(it);
    if (rc < 0) {
      c->store_rc = rc;
      return;
    }
    if (seen) {
      unsigned long long per = bytes / seen, n = coll.count;
      total += per * n;
      if (v.type == CAIRN_TYPE_ZSET) total += per * n; /* the score index holds every member again */
    }
  }
  cairn_reply_int(&c->reply, (long long)total);
}

static void cmd_memory_stats(cairn_ctx *c) { cairn_info_memory_stats(c->srv, &c->reply); }

static void cmd_memory_doctor(cairn_ctx *c) {
  cairn_buf b = {0};
  cairn_info_memory_doctor(c->srv, &b);
  cairn_reply_verbatim(&c->reply, b.p, b.len);
  cairn_buf_free(&b);
}

/* cairn uses glibc's malloc: Redis's answer for an allocator without stats */
static void cmd_memory_malloc_stats(cairn_ctx *c) {
  static const char text[] = "Stats not supported for the current allocator";
  cairn_reply_verbatim(&c->reply, text, sizeof(text) - 1);
}

static void cmd_memory_purge(cairn_ctx *c) { cairn_reply_ok(&c->reply); }

static void cmd_memory_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "DOCTOR",
      "    Return memory problems reports.",
      "MALLOC-STATS",
      "    Return internal statistics report from the memory allocator.",
      "PURGE",
      "    Attempt to purge dirty pages for reclamation by the allocator.",
      "STATS",
      "    Return information about the memory usage of the server.",
      "USAGE <key> [SAMPLES <count>]",
      "    Return memory in bytes used by <key> and its value. Nested values are",
      "    sampled up to <count> times (default: 5, 0 means sample all).",
      NULL,
  };
  reply_help(c, "MEMORY", lines);
}

/* ---------------------------------------------------------------- MODULE */

/* cairn loads no Redis modules (their API is Redis's in-memory objects):
 * MODULE LIST is empty, loading fails the way a module that cannot load
 * fails in Redis, with the reason in the log. */
static void cmd_module_list(cairn_ctx *c) { cairn_reply_array(&c->reply, 0); }

static void cmd_module_load(cairn_ctx *c) {
  cairn_warning("Module %.*s failed to load: cairn does not load Redis modules", (int)c->argv[2].len,
                c->argv[2].p);
  cairn_reply_error(&c->reply, "Error loading the extension. Please check the server logs.");
}

static void cmd_module_unload(cairn_ctx *c) {
  cairn_reply_error(&c->reply, "Error unloading module: no such module with that name");
}

static void cmd_module_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "LIST",
      "    Return a list of loaded modules.",
      "LOAD <path> [<arg> ...]",
      "    Load a module library from <path>, passing to it any optional arguments.",
      "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
      "    Load a module library from <path>, while passing it module configurations and optional arguments.",
      "UNLOAD <name>",
      "    Unload a module.",
      NULL,
  };
  reply_help(c, "MODULE", lines);
}

static const cairn_command module_subcommands[] = {
    CAIRN_CMD("module|list", 2, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT, 0, 0, 0, cmd_module_list, "server",
              "List all modules loaded by the server", "4.0.0", ""),
    CAIRN_CMD("module|load", -3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT, 0, 0, 0,
              cmd_module_load, "server", "Load a module", "4.0.0", "path [arg [arg ...]]"),
    CAIRN_CMD("module|loadex", -3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT, 0, 0, 0, cmd_module_load, "server",
              "Load a module with extended parameters", "7.0.0", "path [CONFIG name value ...] [ARGS args ...]"),
    CAIRN_CMD("module|unload", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT, 0, 0, 0, cmd_module_unload, "server",
              "Unload a module", "4.0.0", "name"),
    CAIRN_CMD("module|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_module_help, "server",
              "Show helpful text about the different subcommands", "5.0.0", ""),
    CAIRN_CMD_END,
};

/* ---------------------------------------------------------------- CLUSTER */

/* cairn has no cluster mode: like a Redis 7.0 started with cluster-enabled
 * no, every CLUSTER subcommand (HELP included) answers this. */
static void cmd_cluster_disabled(cairn_ctx *c) { cairn_reply_error(&c->reply, "This instance has cluster support disabled"); }

/* ---------------------------------------------------------------- tables */

static const cairn_command config_subs[] = {
    CAIRN_CMD("config|get", -3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_config_get,
              "server", "Get the values of configuration parameters", "2.0.0", "parameter [parameter ...]"),
    CAIRN_CMD("config|set", -4, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_config_set,
              "server", "Set configuration parameters to the given values", "2.0.0",
              "parameter value [parameter value ...]"),
    CAIRN_CMD("config|resetstat", 2, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0,
              cmd_config_resetstat, "server", "Reset the stats returned by INFO", "2.0.0", ""),
    CAIRN_CMD("config|rewrite", 2, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0,
              cmd_config_rewrite, "server", "Rewrite the configuration file with the in memory configuration", "2.8.0",
              ""),
    CAIRN_CMD("config|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_config_help, "server",
              "Show helpful text about the different subcommands", "5.0.0", ""),
    CAIRN_CMD_END,
};

static const cairn_command client_subs[] = {
    CAIRN_CMD("client|id", 2, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_id, "connection",
              "Returns the client ID for the current connection", "5.0.0", ""),
    CAIRN_CMD("client|setname", 3, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_setname,
              "connection", "Set the current connection name", "2.6.9", "connection-name"),
    CAIRN_CMD("client|getname", 2, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_getname,
              "connection", "Get the current connection name", "2.6.9", ""),
    CAIRN_CMD("client|list", -2, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_list,
              "connection", "Get the list of client connections", "2.4.0",
              "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]"),
    CAIRN_CMD("client|info", 2, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_info, "connection",
              "Returns information about the current client connection.", "6.2.0", ""),
    CAIRN_CMD("client|kill", -3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_kill,
              "connection", "Kill the connection of a client", "2.4.0",
              "ip:port|[ID client-id] [TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB] [USER username] [ADDR ip:port] "
              "[LADDR ip:port] [SKIPME yes/no] [MAXAGE maxage]"),
    CAIRN_CMD("client|no-evict", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0,
              cmd_client_no_evict, "connection", "Set client eviction mode for the current connection", "7.0.0",
              "ON|OFF"),
    CAIRN_CMD("client|no-touch", 3, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_no_touch,
              "connection",
              "Controls whether commands sent by the client will alter the LRU/LFU of the keys they access.", "7.2.0",
              "ON|OFF"),
    CAIRN_CMD("client|pause", -3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0,
              cmd_client_pause, "connection", "Stop processing commands from clients for some time", "2.9.50",
              "timeout [WRITE|ALL]"),
    CAIRN_CMD("client|unpause", 2, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0,
              cmd_client_unpause, "connection", "Resume processing of clients that were paused", "6.2.0", ""),
    CAIRN_CMD("client|unblock", -3, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0,
              cmd_client_unblock, "connection", "Unblock a client blocked in a blocking command from a different connection",
              "5.0.0", "client-id [TIMEOUT|ERROR]"),
    CAIRN_CMD("client|tracking", -3, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cairn_cmd_client_tracking,
              "connection", "Enable or disable server assisted client side caching support", "6.0.0",
              "ON|OFF [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]"),
    CAIRN_CMD("client|caching", 3, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cairn_cmd_client_caching,
              "connection", "Instruct the server about tracking or not keys in the next request", "6.0.0", "YES|NO"),
    CAIRN_CMD("client|getredir", 2, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cairn_cmd_client_getredir,
              "connection", "Get tracking notifications redirection client ID if any", "6.0.0", ""),
    CAIRN_CMD("client|trackinginfo", 2, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0,
              cairn_cmd_client_trackinginfo, "connection",
              "Return information about server assisted client side caching for the current connection", "6.2.0", ""),
    CAIRN_CMD("client|reply", 3, CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_reply, "connection",
              "Instruct the server whether to reply to commands", "3.2.0", "ON|OFF|SKIP"),
    CAIRN_CMD("client|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_client_help, "connection",
              "Show helpful text about the different subcommands", "5.0.0", ""),
    CAIRN_CMD_END,
};

static const cairn_command command_subs[] = {
    CAIRN_CMD("command|count", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_command_count, "server",
              "Get total number of Redis commands", "2.8.13", ""),
    CAIRN_CMD("command|info", -2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_command_info, "server",
              "Get array of specific Redis command details, or all when no argument is given.", "2.8.13",
              "[command-name [command-name ...]]"),
    CAIRN_CMD("command|docs", -2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_command_docs, "server",
              "Get array of specific Redis command documentation", "7.0.0", "[command-name [command-name ...]]"),
    CAIRN_CMD("command|list", -2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_command_list, "server",
              "Get an array of Redis command names", "7.0.0",
              "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]"),
    CAIRN_CMD("command|getkeys", -4, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_command_getkeys, "server",
              "Extract keys given a full Redis command", "2.8.13", "command [arg [arg ...]]"),
    CAIRN_CMD("command|getkeysandflags", -4, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_command_getkeysandflags, "server",
              "Extract keys and access flags given a full Redis command", "7.0.0", "command [arg [arg ...]]"),
    CAIRN_CMD("command|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_command_help, "server",
              "Show helpful text about the different subcommands", "5.0.0", ""),
    CAIRN_CMD_END,
};

static const cairn_command cluster_subs[] = {
    CAIRN_CMD("cluster|addslots", -3, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Assign new hash slots to receiving node", "3.0.0", ""),
    CAIRN_CMD("cluster|addslotsrange", -4, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Assign new hash slots to receiving node", "7.0.0", ""),
    CAIRN_CMD("cluster|bumpepoch", 2, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Advance the cluster config epoch", "3.0.0", ""),
    CAIRN_CMD("cluster|count-failure-reports", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Return the number of failure reports active for a given node", "3.0.0", ""),
    CAIRN_CMD("cluster|countkeysinslot", 3, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Return the number of local keys in the specified hash slot", "3.0.0", ""),
    CAIRN_CMD("cluster|delslots", -3, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Set hash slots as unbound in receiving node", "3.0.0", ""),
    CAIRN_CMD("cluster|delslotsrange", -4, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Set hash slots as unbound in receiving node", "7.0.0", ""),
    CAIRN_CMD("cluster|failover", -2, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Forces a replica to perform a manual failover of its master.", "3.0.0", ""),
    CAIRN_CMD("cluster|flushslots", 2, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Delete a node's own slots information", "3.0.0", ""),
    CAIRN_CMD("cluster|forget", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Remove a node from the nodes table", "3.0.0", ""),
    CAIRN_CMD("cluster|getkeysinslot", 4, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Return local key names in the specified hash slot", "3.0.0", ""),
    CAIRN_CMD("cluster|help", 2, CAIRN_CMD_LOADING | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Show helpful text about the different subcommands", "5.0.0", ""),
    CAIRN_CMD("cluster|info", 2, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Provides info about Redis Cluster node state", "3.0.0", ""),
    CAIRN_CMD("cluster|keyslot", 3, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Returns the hash slot of the specified key", "3.0.0", ""),
    CAIRN_CMD("cluster|links", 2, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Returns a list of all TCP links to and from peer nodes in cluster", "7.0.0", ""),
    CAIRN_CMD("cluster|meet", -4, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Force a node cluster to handshake with another node", "3.0.0", ""),
    CAIRN_CMD("cluster|myid", 2, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Return the node id", "3.0.0", ""),
    CAIRN_CMD("cluster|nodes", 2, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Get Cluster config for the node", "3.0.0", ""),
    CAIRN_CMD("cluster|replicas", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "List replica nodes of the specified master node", "5.0.0", ""),
    CAIRN_CMD("cluster|replicate", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Reconfigure a node as a replica of the specified master node", "3.0.0", ""),
    CAIRN_CMD("cluster|reset", -2, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Reset a Redis Cluster node", "3.0.0", ""),
    CAIRN_CMD("cluster|saveconfig", 2, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Forces the node to save cluster state on disk", "3.0.0", ""),
    CAIRN_CMD("cluster|set-config-epoch", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Set the configuration epoch in a new node", "3.0.0", ""),
    CAIRN_CMD("cluster|setslot", -4, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Bind a hash slot to a specific node", "3.0.0", ""),
    CAIRN_CMD("cluster|shards", 2, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Get array of cluster slots to node mappings", "7.0.0", ""),
    CAIRN_CMD("cluster|slaves", 3, CAIRN_CMD_ADMIN | CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "List replica nodes of the specified master node", "3.0.0", ""),
    CAIRN_CMD("cluster|slots", 2, CAIRN_CMD_STALE, 0, 0, 0, cmd_cluster_disabled, "cluster", "Get array of Cluster slot to node mappings", "3.0.0", ""),
    CAIRN_CMD_END,
};

static const cairn_command memory_subs[] = {
    CAIRN_CMD("memory|usage", -3, CAIRN_F_READ, 2, 2, 1, cmd_memory_usage, "server",
              "Estimate the memory usage of a key", "4.0.0", "key [SAMPLES count]"),
    CAIRN_CMD("memory|stats", 2, 0, 0, 0, 0, cmd_memory_stats, "server", "Show memory usage details", "4.0.0", ""),
    CAIRN_CMD("memory|doctor", 2, 0, 0, 0, 0, cmd_memory_doctor, "server", "Outputs memory problems report",
              "4.0.0", ""),
    CAIRN_CMD("memory|malloc-stats", 2, 0, 0, 0, 0, cmd_memory_malloc_stats, "server", "Show allocator internal stats",
              "4.0.0", ""),
    CAIRN_CMD("memory|purge", 2, 0, 0, 0, 0, cmd_memory_purge, "server", "Ask the allocator to release memory",
              "4.0.0", ""),
    CAIRN_CMD("memory|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_memory_help, "server",
              "Show helpful text about the different subcommands", "4.0.0", ""),
    CAIRN_CMD_END,
};

/* LOLWUT [VERSION v] [arg ...]: Redis draws generative art for versions 5
 * and 6 and prints only its version for the others (7.0's default). cairn
 * draws a cairn, whatever the version, above its own version line. The
 * arguments are checked as Redis checks them (integers). */
static void cmd_lolwut(cairn_ctx *c) {
  int j = 1;
  if (c->argc >= 3 && cairn_arg_is(c->argv[1], "version")) {
    long long v;
    if (cairn_arg_ll(c, c->argv[2], &v) != 0) return;
    j = 3;
    for (; (v == 5 || v == 6) && j < c->argc; j++) {
      long long n;
      if (cairn_arg_ll(c, c->argv[j], &n) != 0) return;
    }
  }
  static const char art[] = "        __\n"
                            "      (____)\n"
                            "    (________)\n"
                            "   (__________)\n"
                            " (______________)\n"
                            "cairn ver. " CAIRN_VERSION " (Redis " CAIRN_REDIS_VERSION " semantics)\n";
  cairn_reply_verbatim(&c->reply, art, sizeof(art) - 1);
}

const cairn_command cairn_commands_server[] = {
    CAIRN_CMD("module", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "server", "A container for module commands",
              "4.0.0", "", .subcommands = module_subcommands),
    CAIRN_CMD("lolwut", -1, CAIRN_CMD_READONLY | CAIRN_CMD_FAST, 0, 0, 0, cmd_lolwut, "server",
              "Display some computer art and the Redis version", "5.0.0", "[VERSION version]"),
    CAIRN_CMD("info", -1, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_info, "server",
              "Get information and statistics about the server", "1.0.0", "[section [section ...]]"),
    CAIRN_CMD("config", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "server",
              "A container for server configuration commands", "2.0.0", "", .subcommands = config_subs),
    CAIRN_CMD("client", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "connection",
              "A container for client connection commands", "2.4.0", "", .subcommands = client_subs),
    CAIRN_CMD("command", -1, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_command, "server",
              "Get array of Redis command details", "2.8.13", "", .subcommands = command_subs),
    CAIRN_CMD("memory", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "server",
              "A container for memory diagnostics commands", "4.0.0", "", .subcommands = memory_subs),
    CAIRN_CMD("time", 1, CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_time, "server",
              "Return the current server time", "2.6.0", ""),
    CAIRN_CMD("lastsave", 1, CAIRN_CMD_FAST | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_lastsave, "server",
              "Get the UNIX time stamp of the last successful save to disk", "1.0.0", ""),
    CAIRN_CMD("save", 1, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_NOMULTI, 0, 0, 0, cmd_save, "server",
              "Synchronously save the dataset to disk", "1.0.0", ""),
    CAIRN_CMD("bgsave", -1, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT, 0, 0, 0, cmd_bgsave, "server",
              "Asynchronously save the dataset to disk", "1.0.0", "[SCHEDULE]"),
    CAIRN_CMD("shutdown", -1, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_NOMULTI | CAIRN_F_LOADING_STALE | CAIRN_CMD_ALLOW_BUSY, 0, 0, 0,
              cmd_shutdown, "server", "Synchronously save the dataset to disk and then shut down the server", "1.0.0",
              "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]"),
    CAIRN_CMD("cluster", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "cluster", "A container for cluster commands",
              "3.0.0", "", .subcommands = cluster_subs),
    CAIRN_CMD("monitor", 1, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_monitor, "server",
              "Listen for all requests received by the server in real time", "1.0.0", ""),
    CAIRN_CMD("debug", -2, CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_debug, "server",
              "A container for debugging commands", "1.0.0", "subcommand [argument]"),
    CAIRN_CMD_END,
};
