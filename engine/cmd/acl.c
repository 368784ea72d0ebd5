/* The ACL command (SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT GENPASS LOG
 * SAVE LOAD DRYRUN HELP) and the server side of ACL: startup (requirepass,
 * `user` directives, aclfile), the check execute.c runs before a command,
 * AUTH/HELLO's authentication, and the disconnection of clients whose user
 * went away. Users, rules and matching are engine/acl.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/acl.h"
#include "engine/log.h"
#include "engine/pubsub.h"
#include "engine/server.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- server glue */

static long long config_ll(cairn_server *srv, const char *name, long long def) {
  char buf[64];
  if (cairn_config_format(&srv->cfg, name, buf, sizeof(buf)) < 0) return def;
  long long v;
  return cairn_str2ll(buf, strlen(buf), &v) ? v : def;
}

static int pubsub_default_all(cairn_server *srv) {
  char buf[64];
  return cairn_config_format(&srv->cfg, "acl-pubsub-default", buf, sizeof(buf)) >= 0 && !strcmp(buf, "allchannels");
}

/* The aclfile's path: a relative one is in `dir`, as in Redis (which has
 * changed into `dir` when it reads it). */
static const char *aclfile_path(cairn_server *srv, char *buf, size_t cap) {
  const char *f = srv->cfg.aclfile;
  if (!f || f[0] == '/' || !srv->cfg.dir) return f;
  snprintf(buf, cap, "%s/%s", srv->cfg.dir, f);
  return buf;
}

int cairn_acl_startup(cairn_server *srv, char *err, size_t errlen) {
  char path[4096];
  if (!srv->acl) srv->acl = cairn_acl_new();
  cairn_acl_set_pubsub_default(srv->acl, pubsub_default_all(srv));
  cairn_acl_set_default_password(srv->acl, srv->cfg.requirepass);
  if (srv->cfg.aclfile && srv->cfg.nacl_users) {
    snprintf(err, errlen,
             "Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is "
             "invalid. This setup is very likely to lead to configuration errors and security holes, please "
             "define either an ACL file or declare users directly in your redis.conf, but not both.");
    return -1;
  }
  if (cairn_acl_load_config_users(srv->acl, srv->cfg.acl_users, srv->cfg.nacl_users, err, errlen) != 0) return -1;
  if (srv->cfg.aclfile) {
    char *e = cairn_acl_load_file(srv->acl, aclfile_path(srv, path, sizeof(path)), NULL, NULL);
    if (e) {
      snprintf(err, errlen, "Aborting startup because of ACL errors: %s", e);
      free(e);
      return -1;
    }
  }
  return 0;
}

void cairn_acl_config_changed(cairn_server *srv, int n, const char *const *names, const size_t *lens) {
  if (!srv->acl) return;
  for (int i = 0; i < n; i++) {
    cairn_str name = {names[i], lens[i]};
    if (cairn_arg_is(name, "acl-pubsub-default")) cairn_acl_set_pubsub_default(srv->acl, pubsub_default_all(srv));
    if (cairn_arg_is(name, "requirepass")) cairn_acl_set_default_password(srv->acl, srv->cfg.requirepass);
  }
}

void cairn_acl_client_init(cairn_server *srv, cairn_client *c) {
  if (!srv->acl) srv->acl = cairn_acl_new();
  c->user = cairn_acl_default_user(srv->acl);
  c->authenticated = cairn_acl_user_nopass(c->user) && cairn_acl_user_enabled(c->user);
}

int cairn_acl_auth_required(cairn_server *srv, const cairn_client *c) {
  if (!c || c->authenticated || !srv->acl) return 0;
  cairn_acl_user *d = cairn_acl_default_user(srv->acl);
  return !cairn_acl_user_nopass(d) || !cairn_acl_user_enabled(d);
}

int cairn_acl_default_nopass(cairn_server *srv) {
  if (!srv->acl) srv->acl = cairn_acl_new();
  return cairn_acl_user_nopass(cairn_acl_default_user(srv->acl));
}

const char *cairn_acl_client_username(const cairn_client *c) {
  return c && c->user ? cairn_acl_user_name(c->user) : "default";
}

static void log_add(cairn_server *srv, cairn_client *c, int reason, int context, const char *obj, size_t objlen,
                    const char *user, size_t userlen) {
  cairn_buf info = {0};
  if (c) cairn_client_describe(c, &info);
  if (info.len && info.p[info.len - 1] == '\n') info.len--;
  cairn_buf_putc(&info, '\0');
  cairn_acl_log_add(srv->acl, reason, context, obj, objlen, user, userlen, info.p,
                    config_ll(srv, "acllog-max-len", 128), cairn_mstime());
  cairn_buf_free(&info);
}

int cairn_acl_permit(cairn_ctx *ctx, const cairn_command *cmd, int argc, cairn_str *argv, int at_exec) {
  cairn_client *c = ctx->client;
  if (!c || !c->user || !ctx->srv->acl) return 1;
  if (cmd->subcommands) {
    if (argc < 2) return 1;
    const cairn_command *sub = cairn_subcommand_find(cmd, argv[1]);
    if (!sub) return 1; /* the handler says "unknown subcommand" */
    cmd = sub;
  }
  int pos = 0;
  int r = cairn_acl_check(c->user, cmd, argc, argv, &pos);
  if (r == CAIRN_ACL_OK) return 1;
  int context = at_exec || (c->flags & CAIRN_CLIENT_MULTI) ? CAIRN_ACL_CTX_MULTI : CAIRN_ACL_CTX_TOPLEVEL;
  const char *uname = cairn_acl_user_name(c->user);
  if (!at_exec) c->last_cmd = cmd->name; /* the log's client-info names it, like Redis */
  if (r == CAIRN_ACL_DENIED_CMD)
    log_add(ctx->srv, c, r, context, cmd->name, strlen(cmd->name), uname, strlen(uname));
  else
    log_add(ctx->srv, c, r, context, argv[pos].p, argv[pos].len, uname, strlen(uname));
  if (at_exec) {
    cairn_reply_errorf(&ctx->reply,
                       "-NOPERM ACLs rules changed between the moment the transaction was accumulated and its "
                       "execution. The user is no longer able to execute the command: %s",
                       r == CAIRN_ACL_DENIED_CMD   ? "no permission to execute the command or subcommand"
                       : r == CAIRN_ACL_DENIED_KEY ? "no permission to touch the specified keys"
                                                   : "no permission to access one of the channels used as arguments");
  } else if (r == CAIRN_ACL_DENIED_CMD) {
    cairn_reply_errorf(&ctx->reply, "-NOPERM this user has no permissions to run the '%s' command", cmd->name);
  } else if (r == CAIRN_ACL_DENIED_KEY) {
    cairn_reply_error(&ctx->reply, "-NOPERM this user has no permissions to access one of the keys used as arguments");
  } else {
    cairn_reply_error(&ctx->reply,
                      "-NOPERM this user has no permissions to access one of the channels used as arguments");
  }
  return 0;
}

char **cairn_acl_config_lines(cairn_server *srv, int *n) {
  *n = 0;
  if (!srv->acl || srv->cfg.aclfile) return cairn_xcalloc(1, sizeof(char *));
  int nu = cairn_acl_user_count(srv->acl);
  char **lines = cairn_xcalloc((size_t)nu + 1, sizeof(char *));
  for (int i = 0; i < nu; i++) {
    cairn_acl_user *u = cairn_acl_user_at(srv->acl, i);
    char *d = cairn_acl_describe_user(u);
    cairn_buf b = {0};
    cairn_buf_printf(&b, "user %s %s", cairn_acl_user_name(u), d);
    cairn_buf_putc(&b, '\0');
    lines[i] = b.p;
    free(d);
  }
  *n = nu;
  return lines;
}

int cairn_acl_client_reads_any_key(cairn_ctx *ctx) {
  if (!ctx->client || !ctx->client->user) return 1;
  return cairn_acl_unrestricted_read(ctx->client->user, ctx->cmd, ctx->argc, ctx->argv);
}

int cairn_acl_authenticate(cairn_ctx *ctx, cairn_str user, cairn_str pass) {
  cairn_server *srv = ctx->srv;
  if (!srv->acl) srv->acl = cairn_acl_new();
  cairn_acl_user *u = cairn_acl_user_get(srv->acl, user.p, user.len);
  if (u && cairn_acl_check_password(u, pass.p, pass.len)) {
    if (ctx->client) {
      ctx->client->user = u;
      ctx->client->authenticated = 1;
    }
    return 1;
  }
  cairn_client *c = ctx->client;
  int context = c && (c->flags & CAIRN_CLIENT_MULTI) ? CAIRN_ACL_CTX_MULTI : CAIRN_ACL_CTX_TOPLEVEL;
  log_add(srv, c, CAIRN_ACL_DENIED_AUTH, context, ctx->argv[0].p, ctx->argv[0].len, user.p, user.len);
  return 0;
}

/* The clients of a user that is gone: back to the default user, not
 * authenticated, and closed (the calling client after its reply), like
 * Redis's ACLFreeUserAndKillClients. */
static void user_gone(void *ud, cairn_acl_user *gone, cairn_acl_user *dflt) {
  cairn_ctx *ctx = ud;
  for (cairn_client *cl = ctx->srv->clients, *next; cl; cl = next) {
    next = cl->next;
    if (cl->user != gone) continue;
    cl->user = dflt;
    cl->authenticated = 0;
    if (cl == ctx->client)
      cl->flags |= CAIRN_CLIENT_CLOSE_AFTER_REPLY;
    else if (!(cl->flags & CAIRN_CLIENT_CLOSING))
      cairn_client_close(cl);
  }
}

static int sub_revoked(void *ud, const char *name, size_t len, int is_pattern) {
  return !cairn_acl_channel_allowed(ud, name, len, is_pattern);
}

/* After SETUSER: the user's subscribers to a channel it lost are closed
 * (Redis's ACLKillPubsubClientsIfNeeded). */
static void kill_revoked_subscribers(cairn_ctx *ctx, cairn_acl_user *u) {
  for (cairn_client *cl = ctx->srv->clients, *next; cl; cl = next) {
    next = cl->next;
    if (cl->user != u || !(cl->flags & CAIRN_CLIENT_PUBSUB) || (cl->flags & CAIRN_CLIENT_CLOSING)) continue;
    if (!cairn_pubsub_client_any(cl, sub_revoked, u)) continue;
    if (cl == ctx->client)
      cl->flags |= CAIRN_CLIENT_CLOSE_AFTER_REPLY;
    else
      cairn_client_close(cl);
  }
}

/* ---------------------------------------------------------------- ACL */

static cairn_acl *acl_of(cairn_ctx *c) {
  if (!c->srv->acl) c->srv->acl = cairn_acl_new();
  return c->srv->acl;
}

static void cmd_acl_setuser(cairn_ctx *c) {
  char err[1024];
  cairn_acl *acl = acl_of(c);
  if (cairn_acl_setuser(acl, c->argv[2].p, c->argv[2].len, c->argc - 3, c->argv + 3, err, sizeof(err)) != 0) {
    cairn_reply_error(&c->reply, err);
    return;
  }
  kill_revoked_subscribers(c, cairn_acl_user_get(acl, c->argv[2].p, c->argv[2].len));
  cairn_reply_ok(&c->reply);
}

static void cmd_acl_getuser(cairn_ctx *c) {
  cairn_acl_user *u = cairn_acl_user_get(acl_of(c), c->argv[2].p, c->argv[2].len);
  if (!u)
    cairn_reply_null(&c->reply);
  else
    cairn_acl_reply_getuser(&c->reply, u);
}

static void cmd_acl_deluser(cairn_ctx *c) {
  for (int j = 2; j < c->argc; j++) {
    if (c->argv[j].len == 7 && !memcmp(c->argv[j].p, "default", 7)) {
      cairn_reply_error(&c->reply, "The 'default' user cannot be removed");
      return;
    }
  }
  long long n = 0;
  for (int j = 2; j < c->argc; j++) n += cairn_acl_deluser(acl_of(c), c->argv[j].p, c->argv[j].len, user_gone, c);
  cairn_reply_int(&c->reply, n);
}

static void reply_users(cairn_ctx *c, int names_only) {
  cairn_acl *acl = acl_of(c);
  int n = cairn_acl_user_count(acl);
  cairn_reply_array(&c->reply, n);
  for (int i = 0; i < n; i++) {
    cairn_acl_user *u = cairn_acl_user_at(acl, i);
    if (names_only) {
      cairn_reply_bulk_str(&c->reply, cairn_acl_user_name(u));
      continue;
    }
    char *d = cairn_acl_describe_user(u);
    cairn_buf b = {0};
    cairn_buf_printf(&b, "user %s %s", cairn_acl_user_name(u), d);
    cairn_reply_bulk(&c->reply, b.p, b.len);
    cairn_buf_free(&b);
    free(d);
  }
}

static void cmd_acl_list(cairn_ctx *c) { reply_users(c, 0); }
static void cmd_acl_users(cairn_ctx *c) { reply_users(c, 1); }

static void cmd_acl_whoami(cairn_ctx *c) {
  if (c->client && c->client->user)
    cairn_reply_bulk_str(&c->reply, cairn_acl_user_name(c->client->user));
  else
    cairn_reply_null(&c->reply);
}

static void cmd_acl_cat(cairn_ctx *c) {
  if (c->argc > 3) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  if (c->argc == 2) {
    cairn_reply_array(&c->reply, CAIRN_ACL_NCATS);
    for (int i = 0; i < CAIRN_ACL_NCATS; i++) cairn_reply_bulk_str(&c->reply, cairn_acl_category_name(i));
    return;
  }
  int cat = cairn_acl_category_lookup(c->argv[2].p, c->argv[2].len);
  if (cat < 0) {
    cairn_reply_errorf(&c->reply, "Unknown category '%.*s'", (int)(c->argv[2].len > 128 ? 128 : c->argv[2].len),
                       c->argv[2].p);
    return;
  }
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  for (int i = 0; i < cairn_command_count(); i++) {
    const cairn_command *cmd = cairn_command_at(i);
    if (cairn_acl_command_categories(cmd) & (1u << cat)) {
      cairn_reply_bulk_str(&c->reply, cmd->name);
      n++;
    }
    if (cmd->subcommands)
      for (const cairn_command *s = cmd->subcommands; s->name; s++)
        if (cairn_acl_command_categories(s) & (1u << cat)) {
          cairn_reply_bulk_str(&c->reply, s->name);
          n++;
        }
  }
  cairn_reply_defer_array(&c->reply, mark, n);
}

static void cmd_acl_genpass(cairn_ctx *c) {
  if (c->argc > 3) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  long long bits = 256;
  if (c->argc == 3 && cairn_arg_ll(c, c->argv[2], &bits) != 0) return;
  if (bits <= 0 || bits > 4096) {
    cairn_reply_error(&c->reply,
                      "ACL GENPASS argument must be the number of bits for the output password, a positive number "
                      "up to 4096");
    return;
  }
  size_t chars = (size_t)(bits + 3) / 4;
  unsigned char raw[512];
  size_t need = (chars + 1) / 2, got = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  while (fd >= 0 && got < need) {
    ssize_t r = read(fd, raw + got, need - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (fd >= 0) close(fd);
  if (got < need) {
    cairn_reply_error(&c->reply, "can't read /dev/urandom");
    return;
  }
  static const char hex[] = "0123456789abcdef";
  char out[1024];
  for (size_t i = 0; i < chars; i++) out[i] = hex[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 15];
  cairn_reply_bulk(&c->reply, out, chars);
}

static void cmd_acl_log(cairn_ctx *c) {
  if (c->argc > 3) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  long long count = 10;
  if (c->argc == 3) {
    if (cairn_arg_is(c->argv[2], "reset")) {
      cairn_acl_log_reset(acl_of(c));
      cairn_reply_ok(&c->reply);
      return;
    }
    if (cairn_arg_ll(c, c->argv[2], &count) != 0) return;
    if (count < 0) count = 0;
  }
  cairn_acl_log_reply(acl_of(c), &c->reply, count, cairn_mstime());
}

#define NO_ACLFILE                                                                                                  \
  "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER "    \
  "command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store "   \
  "users in the Redis configuration."

static void cmd_acl_load(cairn_ctx *c) {
  if (!c->srv->cfg.aclfile) {
    cairn_reply_error(&c->reply, NO_ACLFILE);
    return;
  }
  char path[4096];
  char *e = cairn_acl_load_file(acl_of(c), aclfile_path(c->srv, path, sizeof(path)), user_gone, c);
  if (e) {
    cairn_reply_error(&c->reply, e);
    free(e);
    return;
  }
  cairn_reply_ok(&c->reply);
}

static void cmd_acl_save(cairn_ctx *c) {
  if (!c->srv->cfg.aclfile) {
    cairn_reply_error(&c->reply, NO_ACLFILE);
    return;
  }
  char buf[4096];
  const char *path = aclfile_path(c->srv, buf, sizeof(buf));
  if (cairn_acl_save_file(acl_of(c), path) != 0) {
    cairn_warning("ACL SAVE to %s: %s", path, strerror(errno));
    cairn_reply_error(&c->reply,
                      "There was an error trying to save the ACLs. Please check the server logs for more information");
    return;
  }
  cairn_reply_ok(&c->reply);
}

static void cmd_acl_dryrun(cairn_ctx *c) {
  cairn_acl_user *u = cairn_acl_user_get(acl_of(c), c->argv[2].p, c->argv[2].len);
  if (!u) {
    cairn_reply_errorf(&c->reply, "User '%.*s' not found", (int)c->argv[2].len, c->argv[2].p);
    return;
  }
  int argc = c->argc - 3;
  cairn_str *argv = c->argv + 3;
  const cairn_command *cmd = cairn_command_lookup(argv[0].p, argv[0].len);
  if (cmd && cmd->subcommands && argc >= 2) cmd = cairn_subcommand_find(cmd, argv[1]);
  if (!cmd) {
    cairn_reply_errorf(&c->reply, "Command '%.*s' not found", (int)argv[0].len, argv[0].p);
    return;
  }
  if (!cairn_arity_ok(cmd, argc)) {
    cairn_reply_errorf(&c->reply, "wrong number of arguments for '%s' command", cmd->name);
    return;
  }
  int pos = 0, r = cairn_acl_check(u, cmd, argc, argv, &pos);
  cairn_buf b = {0};
  if (r == CAIRN_ACL_OK) {
    cairn_reply_ok(&c->reply);
    return;
  }
  if (r == CAIRN_ACL_DENIED_CMD)
    cairn_buf_printf(&b, "This user has no permissions to run the '%s' command", cmd->name);
  else
    cairn_buf_printf(&b, "This user has no permissions to access the '%.*s' %s", (int)argv[pos].len, argv[pos].p,
                     r == CAIRN_ACL_DENIED_KEY ? "key" : "channel");
  cairn_reply_bulk(&c->reply, b.p, b.len);
  cairn_buf_free(&b);
}

static void cmd_acl_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CAT [<category>]",
      "    List all commands that belong to <category>, or all command categories",
      "    when no category is specified.",
      "DELUSER <username> [<username> ...]",
      "    Delete a list of users.",
      "DRYRUN <username> <command> [<arg> ...]",
      "    Returns whether the user can execute the given command without executing the command.",
      "GETUSER <username>",
      "    Get the user's details.",
      "GENPASS [<bits>]",
      "    Generate a secure 256-bit user password. The optional `bits` argument can",
      "    be used to specify a different size.",
      "LIST",
      "    Show users details in config file format.",
      "LOAD",
      "    Reload users from the ACL file.",
      "LOG [<count> | RESET]",
      "    Show the ACL log entries.",
      "SAVE",
      "    Save the current config to the ACL file.",
      "SETUSER <username> <attribute> [<attribute> ...]",
      "    Create or modify a user with the specified attributes.",
      "USERS",
      "    List all the registered usernames.",
      "WHOAMI",
      "    Return the current connection username.",
      "HELP",
      "    Prints this help.",
  };
  int n = (int)(sizeof(lines) / sizeof(lines[0]));
  cairn_reply_array(&c->reply, n);
  for (int i = 0; i < n; i++) cairn_reply_status(&c->reply, lines[i]);
}

#define ACL_F (CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE)
#define ACL_ADMIN (CAIRN_CMD_ADMIN | ACL_F)

static const cairn_command acl_subcommands[] = {
    CAIRN_CMD("acl|cat", -2, ACL_F, 0, 0, 0, cmd_acl_cat, "server",
              "List the ACL categories or the commands inside a category", "6.0.0", "[categoryname]"),
    CAIRN_CMD("acl|deluser", -3, ACL_ADMIN, 0, 0, 0, cmd_acl_deluser, "server",
              "Remove the specified ACL users and the associated rules", "6.0.0", "username [username ...]"),
    CAIRN_CMD("acl|dryrun", -4, ACL_ADMIN, 0, 0, 0, cmd_acl_dryrun, "server",
              "Returns whether the user can execute the given command without executing the command.", "7.0.0",
              "username command [arg ...]"),
    CAIRN_CMD("acl|genpass", -2, ACL_F, 0, 0, 0, cmd_acl_genpass, "server",
              "Generate a pseudorandom secure password to use for ACL users", "6.0.0", "[bits]"),
    CAIRN_CMD("acl|getuser", 3, ACL_ADMIN, 0, 0, 0, cmd_acl_getuser, "server", "Get the rules for a specific ACL user",
              "6.0.0", "username"),
    CAIRN_CMD("acl|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_acl_help, "server", "Show helpful text about the different subcommands",
              "6.0.0", ""),
    CAIRN_CMD("acl|list", 2, ACL_ADMIN, 0, 0, 0, cmd_acl_list, "server",
              "List the current ACL rules in ACL config file format", "6.0.0", ""),
    CAIRN_CMD("acl|load", 2, ACL_ADMIN, 0, 0, 0, cmd_acl_load, "server", "Reload the ACLs from the configured ACL file",
              "6.0.0", ""),
    CAIRN_CMD("acl|log", -2, ACL_ADMIN, 0, 0, 0, cmd_acl_log, "server",
              "List latest events denied because of ACLs in place", "6.0.0", "[count|RESET]"),
    CAIRN_CMD("acl|save", 2, ACL_ADMIN, 0, 0, 0, cmd_acl_save, "server",
              "Save the current ACL rules in the configured ACL file", "6.0.0", ""),
    CAIRN_CMD("acl|setuser", -3, ACL_ADMIN, 0, 0, 0, cmd_acl_setuser, "server",
              "Modify or create the rules for a specific ACL user", "6.0.0", "username [rule ...]"),
    CAIRN_CMD("acl|users", 2, ACL_ADMIN, 0, 0, 0, cmd_acl_users, "server", "List the username of all the configured ACL rules",
              "6.0.0", ""),
    CAIRN_CMD("acl|whoami", 2, ACL_F, 0, 0, 0, cmd_acl_whoami, "server",
              "Return the name of the user associated to the current connection", "6.0.0", ""),
    CAIRN_CMD_END,
};

const cairn_command cairn_commands_acl[] = {
    CAIRN_CMD("acl", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "server", "A container for Access List Control commands",
              "6.0.0", "", .subcommands = acl_subcommands),
    CAIRN_CMD_END,
};
