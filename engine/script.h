/* The Lua engine behind EVAL and FCALL (engine/script.c): one Lua 5.1 state
 * per server with Redis 7.0's sandbox (read-only globals and library tables,
 * no os/io/loadfile/dofile/print), the libraries scripts rely on (cjson and
 * bit from Debian, cmsgpack and struct from engine/lua/), the redis.* API and
 * the RESP <-> Lua conversions of Redis 7.0's script_lua.c.
 *
 * Commands a script calls run through cairn's executor
 * (cairn_execute_script_call in engine/execute.c) with the caller's client,
 * so their writes join the calling command's propagation: the effects of a
 * script reach the WAL and the replicas as one MULTI/EXEC unit (effects
 * replication, as Redis 7.0), the EVAL itself never does.
 *
 * Threads: loop thread only. */
#ifndef CAIRN_SCRIPT_H
#define CAIRN_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/command.h"

/* Script flags (the shebang's flags=..., register_function's flags). */
enum {
  CAIRN_SCRIPT_NO_WRITES = 1 << 0,
  CAIRN_SCRIPT_ALLOW_OOM = 1 << 1,
  CAIRN_SCRIPT_ALLOW_STALE = 1 << 2,
  CAIRN_SCRIPT_NO_CLUSTER = 1 << 3,
  CAIRN_SCRIPT_ALLOW_CROSS_SLOT = 1 << 4,
  CAIRN_SCRIPT_EVAL_COMPAT = 1 << 5, /* an EVAL script without a shebang: the old rules */
};

/* "0123...": 40 lower-case hex digits and a NUL. */
void cairn_sha1hex(char out[41], const void *p, size_t len);

/* Parses "#!lua flags=a,b" at the start of body. 0 with *flags (and
 * *shebang_len, the bytes to skip, 0 without a shebang), or -1 with Redis's
 * error text in err. */
int cairn_script_shebang(const char *body, size_t len, uint32_t *flags, size_t *shebang_len, char *err,
                         size_t errlen);
/* Parses one flag name ("no-writes"...) into *flag; 0 or -1. */
int cairn_script_flag_parse(const char *name, size_t len, uint32_t *flag);

/* SCRIPT LOAD / EVAL: compiles body into the script cache (once per sha).
 * Returns 0 with sha filled, or -1 after replying the error. */
int cairn_script_load(cairn_ctx *c, const char *body, size_t len, char sha[41]);
/* Whether the cache holds sha (40 hex digits, any case). */
int cairn_script_exists(cairn_server *srv, const char *sha, size_t len);
/* SCRIPT FLUSH: drops the cache (and the Lua state: a fresh one next time). */
void cairn_script_flush(cairn_server *srv);
/* The number of cached scripts and the Lua state's memory (INFO). */
long long cairn_script_count(cairn_server *srv);
long long cairn_script_memory(cairn_server *srv);

/* EVAL/EVALSHA and their _RO forms: runs the cached script sha with its
 * keys and args, replying the script's result (or the error) into c. ro:
 * the _RO command. The script's writes are propagated as the calling
 * command's (c->custom_propagation is set). */
void cairn_script_eval(cairn_ctx *c, const char *sha, int ro, int nkeys, cairn_str *keys, int nargs,
                       cairn_str *args);

/* A script is running (the hook serves other clients meanwhile, if ever). */
int cairn_script_running(cairn_server *srv);
/* SCRIPT KILL (is_eval) / FUNCTION KILL: replies OK, NOTBUSY, UNKILLABLE. */
void cairn_script_kill(cairn_ctx *c, int is_eval);

/* Functions (engine/cmd/function.c keeps the libraries): one registered
 * function, its callback a reference in the functions' Lua state. */
typedef struct cairn_fn_def {
  char *name;
  char *desc;     /* NULL when none */
  uint32_t flags; /* CAIRN_SCRIPT_* */
  int ref;
  int name_bad;   /* while registering: the name had a NUL byte */
} cairn_fn_def;
/* Runs a library's code (after its shebang line) with the load API:
 * 0 with the functions it registered (*defs, *n: the caller owns them), or
 * -1 with Redis's error text. */
int cairn_function_compile(cairn_server *srv, const char *code, size_t len, cairn_fn_def **defs, int *n, char *err,
                           size_t errlen);
void cairn_function_defs_free(cairn_server *srv, cairn_fn_def *defs, int n);
/* Letters, digits and '_', at least one (library and function names). */
int cairn_function_name_valid(const char *p, size_t len);
/* FCALL / FCALL_RO: runs f with its keys and args, replying into c. */
void cairn_function_call(cairn_ctx *c, const cairn_fn_def *f, int ro, int nkeys, cairn_str *keys, int nargs,
                         cairn_str *args);
/* The running script's name (sha or function), NULL when none. */
const char *cairn_script_running_name(cairn_server *srv, int *eval_mode, int64_t *ms, int *argc, cairn_str **argv);
long long cairn_function_memory(cairn_server *srv);

/* engine/cmd/function.c: frees the libraries (shutdown, before
 * cairn_script_free); appends the libraries as RDB FUNCTION2 entries
 * (opcode 245 + code string: FUNCTION DUMP, full sync). */
void cairn_functions_free(cairn_server *srv);
void cairn_functions_rdb_payload(cairn_server *srv, cairn_buf *out);
/* The libraries as [u32 len][code]... (the store's form; full sync jobs). */
void cairn_functions_blob(cairn_server *srv, cairn_buf *out);
/* INFO: the libraries and functions loaded (0 before the first use). */
void cairn_functions_counts(cairn_server *srv, long long *libs, long long *funcs);
/* A full sync from a master: the libraries become exactly blob's (same
 * form), written into the store's active layer; 0 or a store error. */
int cairn_functions_replace_all(cairn_server *srv, const void *blob, size_t len);

/* The flags execute.c checks for a command: EVAL/EVALSHA/FCALL (and _RO) of
 * a script or function that declares flags take them from it (Redis's
 * scriptFlagsToCmdFlags: no-writes -> not a write, not may-replicate;
 * allow-stale; allow-oom); every other command keeps its own. */
uint32_t cairn_script_command_flags(cairn_server *srv, const cairn_command *cmd, int argc, cairn_str *argv);
/* engine/cmd/function.c: a function's flags; 0, or -1 when there is none. */
int cairn_function_flags(cairn_server *srv, const char *name, size_t len, uint32_t *flags);

/* Frees the Lua state (server shutdown). */
void cairn_script_free(cairn_server *srv);

/* Library modules of engine/lua/ (registered into the state by script.c). */
struct lua_State;
int cairn_luaopen_cmsgpack(struct lua_State *L);
int cairn_luaopen_struct(struct lua_State *L);

#endif
