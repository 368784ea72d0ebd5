/* Scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT (Redis 7.0
 * semantics). The Lua engine, the sandbox and the conversions are
 * engine/script.c; a script's writes are propagated as its commands' effects
 * wrapped in MULTI/EXEC, never as the EVAL itself.
 *
 * Cost: the script's own. */
#include <string.h>

#include "engine/command.h"
#include "engine/monitor.h"
#include "engine/script.h"
#include "engine/server.h"

/* EVAL script numkeys [key ...] [arg ...]: numkeys, or -1 after replying. */
static int eval_numkeys(cairn_ctx *c, long long *nkeys) {
  if (cairn_arg_ll(c, c->argv[2], nkeys) != 0) return -1;
  if (*nkeys > c->argc - 3) {
    cairn_reply_error(&c->reply, "Number of keys can't be greater than number of args");
    return -1;
  }
  if (*nkeys < 0) {
    cairn_reply_error(&c->reply, "Number of keys can't be negative");
    return -1;
  }
  return 0;
}

static void eval_generic(cairn_ctx *c, int evalsha, int ro) {
  /* MONITOR shows the script before the commands it calls. */
  if (cairn_monitor_wants(c->srv, c->client, c->cmd, c->argc, c->argv))
    cairn_monitor_feed(c->srv, c->client, c->db, c->argc, c->argv);
  long long nkeys;
  if (eval_numkeys(c, &nkeys) != 0) return;
  char sha[41];
  if (evalsha) {
    if (c->argv[1].len != 40 || !cairn_script_exists(c->srv, c->argv[1].p, 40)) {
      cairn_reply_error(&c->reply, "-NOSCRIPT No matching script. Please use EVAL.");
      return;
    }
    memcpy(sha, c->argv[1].p, 40);
    sha[40] = '\0';
  } else if (cairn_script_load(c, c->argv[1].p, c->argv[1].len, sha) != 0) {
    return;
  }
  cairn_script_eval(c, sha, ro, (int)nkeys, c->argv + 3, c->argc - 3 - (int)nkeys, c->argv + 3 + nkeys);
}

static void cmd_eval(cairn_ctx *c) { eval_generic(c, 0, 0); }
static void cmd_evalsha(cairn_ctx *c) { eval_generic(c, 1, 0); }
static void cmd_eval_ro(cairn_ctx *c) { eval_generic(c, 0, 1); }
static void cmd_evalsha_ro(cairn_ctx *c) { eval_generic(c, 1, 1); }

static void cmd_script_load(cairn_ctx *c) {
  char sha[41];
  if (cairn_script_load(c, c->argv[2].p, c->argv[2].len, sha) != 0) return;
  cairn_reply_bulk(&c->reply, sha, 40);
}

static void cmd_script_exists(cairn_ctx *c) {
  cairn_reply_array(&c->reply, c->argc - 2);
  for (int j = 2; j < c->argc; j++)
    cairn_reply_int(&c->reply, cairn_script_exists(c->srv, c->argv[j].p, c->argv[j].len));
}

static void cmd_script_flush(cairn_ctx *c) {
  if (c->argc == 3 && !cairn_arg_is(c->argv[2], "sync") && !cairn_arg_is(c->argv[2], "async")) {
    cairn_reply_error(&c->reply, "SCRIPT FLUSH only support SYNC|ASYNC option");
    return;
  }
  if (c->argc > 3) {
    cairn_reply_error(&c->reply, "SCRIPT FLUSH only support SYNC|ASYNC option");
    return;
  }
  cairn_script_flush(c->srv);
  cairn_reply_ok(&c->reply);
}

static void cmd_script_kill(cairn_ctx *c) { cairn_script_kill(c, 1); }

static void cmd_script_debug(cairn_ctx *c) {
  if (cairn_arg_is(c->argv[2], "no")) {
    cairn_reply_ok(&c->reply);
    return;
  }
  if (cairn_arg_is(c->argv[2], "yes") || cairn_arg_is(c->argv[2], "sync")) {
    cairn_reply_error(&c->reply, "SCRIPT DEBUG (the Lua debugger) is not supported by cairn");
    return;
  }
  cairn_reply_error(&c->reply, "Use SCRIPT DEBUG YES/SYNC/NO");
}

static void cmd_script_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "DEBUG (YES|SYNC|NO)",
      "    Set the debug mode for subsequent scripts executed.",
      "EXISTS <sha1> [<sha1> ...]",
      "    Return information about the existence of the scripts in the script cache.",
      "FLUSH [ASYNC|SYNC]",
      "    Flush the Lua scripts cache. Very dangerous on replicas.",
      "    When called without the optional mode argument, the behavior is determined by the",
      "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
      "    * ASYNC: Asynchronously flush the scripts cache.",
      "    * SYNC: Synchronously flush the scripts cache.",
      "KILL",
      "    Kill the currently executing Lua script.",
      "LOAD <script>",
      "    Load a script into the scripts cache without executing it.",
      "HELP",
      "    Prints this help.",
  };
  int n = (int)(sizeof(lines) / sizeof(lines[0]));
  cairn_reply_array(&c->reply, n);
  for (int i = 0; i < n; i++) cairn_reply_status(&c->reply, lines[i]);
}

#define EVAL_FLAGS (CAIRN_CMD_RUNS_SCRIPT | CAIRN_CMD_NO_MANDATORY_KEYS | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_STALE | CAIRN_CMD_MAY_REPLICATE | CAIRN_CMD_KEYSPACE)
#define EVAL_RO_FLAGS (CAIRN_CMD_RUNS_SCRIPT | CAIRN_CMD_NO_MANDATORY_KEYS | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_STALE | CAIRN_CMD_READONLY | CAIRN_CMD_KEYSPACE)
#define SCRIPT_FLAGS (CAIRN_CMD_NOSCRIPT)

static const cairn_command script_subcommands[] = {
    CAIRN_CMD("script|load", 3, SCRIPT_FLAGS | CAIRN_CMD_STALE, 0, 0, 0, cmd_script_load, "scripting",
              "Load the specified Lua script into the script cache.", "2.6.0", "script"),
    CAIRN_CMD("script|exists", -3, SCRIPT_FLAGS, 0, 0, 0, cmd_script_exists, "scripting",
              "Check existence of scripts in the script cache.", "2.6.0", "sha1 [sha1 ...]"),
    CAIRN_CMD("script|flush", -2, SCRIPT_FLAGS, 0, 0, 0, cmd_script_flush, "scripting",
              "Remove all the scripts from the script cache.", "2.6.0", "[ASYNC|SYNC]"),
    CAIRN_CMD("script|kill", 2, SCRIPT_FLAGS | CAIRN_CMD_STALE | CAIRN_CMD_ALLOW_BUSY, 0, 0, 0, cmd_script_kill, "scripting",
              "Kill the script currently in execution.", "2.6.0", ""),
    CAIRN_CMD("script|debug", 3, SCRIPT_FLAGS, 0, 0, 0, cmd_script_debug, "scripting",
              "Set the debug mode for executed scripts.", "3.2.0", "YES|SYNC|NO"),
    CAIRN_CMD("script|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_script_help, "scripting",
              "Show helpful text about the different subcommands", "5.0.0", ""),
    CAIRN_CMD_END,
};

const cairn_command cairn_commands_scripting[] = {
    CAIRN_CMD("eval", -3, EVAL_FLAGS, 0, 0, 0, cmd_eval, "scripting", "Execute a Lua script server side", "2.6.0",
              "script numkeys [key [key ...]] [arg [arg ...]]"),
    CAIRN_CMD("evalsha", -3, EVAL_FLAGS, 0, 0, 0, cmd_evalsha, "scripting", "Execute a Lua script server side",
              "2.6.0", "sha1 numkeys [key [key ...]] [arg [arg ...]]"),
    CAIRN_CMD("eval_ro", -3, EVAL_RO_FLAGS, 0, 0, 0, cmd_eval_ro, "scripting",
              "Execute a read-only Lua script server side", "7.0.0", "script numkeys [key [key ...]] [arg [arg ...]]"),
    CAIRN_CMD("evalsha_ro", -3, EVAL_RO_FLAGS, 0, 0, 0, cmd_evalsha_ro, "scripting",
              "Execute a read-only Lua script server side", "7.0.0", "sha1 numkeys [key [key ...]] [arg [arg ...]]"),
    CAIRN_CMD("script", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "scripting",
              "A container for Lua scripts management commands", "2.6.0", "", .subcommands = script_subcommands),
    CAIRN_CMD_END,
};
