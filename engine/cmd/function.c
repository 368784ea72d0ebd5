/* Functions: FUNCTION (LOAD DELETE FLUSH LIST DUMP RESTORE STATS KILL HELP),
 * FCALL, FCALL_RO (Redis 7.0 semantics). The libraries live here; the Lua
 * side (compiling a library, calling a function) is engine/script.c.
 *
 * Persistence: the libraries' code is one meta entry ("functions") written
 * in the same store transaction as the command that changed them, so a
 * checkpoint carries them with the data and the WAL replays the FUNCTION
 * commands after it. The in-memory libraries are rebuilt from that entry at
 * the first use and after every rollback (the store then went back to an
 * older state and replays the stream from there).
 *
 * Cost: FUNCTION LOAD compiles one library; FCALL looks the function up
 * (O(functions)) and runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/command.h"
#include "engine/keyspace.h"
#include "engine/log.h"
#include "engine/monitor.h"
#include "engine/script.h"
#include "engine/server.h"
#include "engine/store.h"
#include "engine/util.h"
#include "replication/rdb/rdb.h"

typedef struct fn_lib {
  char *name;
  char *code; /* the whole payload, shebang included */
  size_t code_len;
  cairn_fn_def *defs;
  int n;
} fn_lib;

typedef struct cairn_functions {
  fn_lib *libs;
  int n, cap;
  int loaded;
  uint64_t rollbacks; /* srv->stats.rollbacks when loaded */
} cairn_functions;

static const char *META_NAME = "functions";

static void lib_free(cairn_server *srv, fn_lib *l) {
  free(l->name);
  free(l->code);
  cairn_function_defs_free(srv, l->defs, l->n);
  memset(l, 0, sizeof(*l));
}

static void libs_clear(cairn_server *srv) {
  cairn_functions *f = srv->functions;
  for (int i = 0; i < f->n; i++) lib_free(srv, &f->libs[i]);
  f->n = 0;
}

void cairn_functions_free(cairn_server *srv) {
  if (!srv->functions) return;
  libs_clear(srv);
  free(srv->functions->libs);
  free(srv->functions);
  srv->functions = NULL;
}

static fn_lib *lib_find(cairn_functions *f, const char *name, size_t len) {
  for (int i = 0; i < f->n; i++)
    if (strlen(f->libs[i].name) == len && memcmp(f->libs[i].name, name, len) == 0) return &f->libs[i];
  return NULL;
}

static const cairn_fn_def *func_find(cairn_functions *f, const char *name, size_t len, const fn_lib *skip) {
  for (int i = 0; i < f->n; i++) {
    if (&f->libs[i] == skip) continue;
    for (int j = 0; j < f->libs[i].n; j++)
      if (strlen(f->libs[i].defs[j].name) == len && strncasecmp(f->libs[i].defs[j].name, name, len) == 0)
        return &f->libs[i].defs[j]; /* names are case-insensitive, like Redis's dict */
  }
  return NULL;
}

/* Redis's functionExtractLibMetaData: "#!<engine> name=<lib>". */
static int parse_metadata(const char *code, size_t len, char **name, char *err, size_t errlen) {
  *name = NULL;
  if (len < 2 || memcmp(code, "#!", 2) != 0) {
    snprintf(err, errlen, "Missing library metadata");
    return -1;
  }
  const char *nl = memchr(code, '\n', len);
  if (!nl) {
    snprintf(err, errlen, "Invalid library metadata");
    return -1;
  }
  cairn_buf out = {0};
  size_t *offs = NULL, *lens = NULL, cap = 0;
  int n = cairn_split_args(code, (size_t)(nl - code), &out, &offs, &lens, &cap);
  int rc = -1;
  if (n <= 0) {
    snprintf(err, errlen, "Invalid library metadata");
    goto done;
  }
  for (int i = 1; i < n; i++) {
    const char *p = out.p + offs[i];
    if (lens[i] >= 5 && strncasecmp(p, "name=", 5) == 0) {
      if (*name) {
        snprintf(err, errlen, "Invalid metadata value, name argument was given multiple times");
        goto done;
      }
      *name = cairn_xmemdup(p + 5, lens[i] - 5);
      continue;
    }
    snprintf(err, errlen, "Invalid metadata value given: %.*s", (int)lens[i], p);
    goto done;
  }
  if (!*name) {
    snprintf(err, errlen, "Library name was not given");
    goto done;
  }
  if (!cairn_function_name_valid(*name, strlen(*name))) {
    snprintf(err, errlen,
             "Library names can only contain letters, numbers, or underscores(_) and must be at least one character "
             "long");
    goto done;
  }
  if (lens[0] - 2 != 3 || strncasecmp(out.p + offs[0] + 2, "lua", 3) != 0) {
    snprintf(err, errlen, "Engine '%.*s' not found", (int)lens[0] - 2, out.p + offs[0] + 2);
    goto done;
  }
  rc = 0;
done:
  if (rc != 0) {
    free(*name);
    *name = NULL;
  }
  cairn_buf_free(&out);
  free(offs);
  free(lens);
  return rc;
}

/* Compiles one library (not yet added). 0, or -1 with err. */
static int lib_build(cairn_server *srv, const char *code, size_t len, fn_lib *out, char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  if (parse_metadata(code, len, &out->name, err, errlen) != 0) return -1;
  const char *nl = memchr(code, '\n', len);
  if (cairn_function_compile(srv, nl, len - (size_t)(nl - code), &out->defs, &out->n, err, errlen) != 0) {
    free(out->name);
    out->name = NULL;
    return -1;
  }
  if (out->n == 0) {
    snprintf(err, errlen, "No functions registered");
    lib_free(srv, out);
    return -1;
  }
  out->code = cairn_xmemdup(code, len);
  out->code_len = len;
  return 0;
}

/* Adds lib (taken), replacing `old` when not NULL. Checks name collisions
 * with the other libraries: -1 with err (lib freed). */
static int lib_add(cairn_server *srv, fn_lib *lib, fn_lib *old, char *err, size_t errlen) {
  cairn_functions *f = srv->functions;
  for (int j = 0; j < lib->n; j++)
    if (func_find(f, lib->defs[j].name, strlen(lib->defs[j].name), old)) {
      snprintf(err, errlen, "Function %s already exists", lib->defs[j].name);
      lib_free(srv, lib);
      return -1;
    }
  if (old) {
    lib_free(srv, old);
    *old = *lib;
    return 0;
  }
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 8;
    f->libs = realloc(f->libs, sizeof(fn_lib) * (size_t)f->cap);
  }
  f->libs[f->n++] = *lib;
  return 0;
}

/* The libraries as the store holds them (first use, after a rollback). */
static cairn_functions *functions(cairn_server *srv) {
  if (!srv->functions) srv->functions = calloc(1, sizeof(cairn_functions));
  cairn_functions *f = srv->functions;
  if (f->loaded && f->rollbacks == srv->stats.rollbacks) return f;
  libs_clear(srv);
  f->loaded = 1;
  f->rollbacks = srv->stats.rollbacks;
  cairn_buf b = {0};
  if (srv->store && cairn_store_meta_get(srv->store, META_NAME, &b) == 1) {
    size_t pos = 0;
    while (pos + 4 <= b.len) {
      uint32_t len;
      memcpy(&len, b.p + pos, 4);
      pos += 4;
      if (pos + len > b.len) break;
      fn_lib lib;
      char err[512];
      if (lib_build(srv, b.p + pos, len, &lib, err, sizeof(err)) != 0 || lib_add(srv, &lib, NULL, err, sizeof(err)) != 0)
        cairn_warning("functions: a stored library did not load: %s", err);
      pos += len;
    }
  }
  cairn_buf_free(&b);
  return f;
}

void cairn_functions_blob(cairn_server *srv, cairn_buf *b) {
  cairn_functions *f = functions(srv);
  for (int i = 0; i < f->n; i++) {
    uint32_t len = (uint32_t)f->libs[i].code_len;
    cairn_buf_append(b, &len, 4);
    cairn_buf_append(b, f->libs[i].code, len);
  }
}

int cairn_functions_replace_all(cairn_server *srv, const void *blob, size_t len) {
  int rc = cairn_store_meta_put(srv->store, META_NAME, blob ? blob : "", len);
  if (srv->functions) srv->functions->loaded = 0; /* rebuilt from the store at the next use */
  return rc;
}

/* Writes the libraries into the store with the command's other changes. */
static void persist(cairn_ctx *c) {
  cairn_buf b = {0};
  cairn_functions_blob(c->srv, &b);
  int rc = cairn_store_meta_put(cairn_ctx_store(c), META_NAME, b.p ? b.p : "", b.len);
  cairn_buf_free(&b);
  if (rc < 0) {
    if (!c->store_rc) c->store_rc = rc;
    c->srv->functions->loaded = 0; /* rebuilt from the store when retried */
    return;
  }
  c->dirty++;
}

/* ---------------------------------------------------------------- FUNCTION */
static void cmd_function_load(cairn_ctx *c) {
  cairn_functions *f = functions(c->srv);
  int replace = 0, pos = 2;
  while (pos < c->argc - 1) {
    cairn_str a = c->argv[pos++];
    if (cairn_arg_is(a, "replace")) {
      replace = 1;
      continue;
    }
    cairn_reply_errorf(&c->reply, "Unknown option given: %.*s", (int)a.len, a.p);
    return;
  }
  if (pos >= c->argc) {
    cairn_reply_error(&c->reply, "Function code is missing");
    return;
  }
  cairn_str code = c->argv[pos];
  char err[1024];
  char *name = NULL;
  if (parse_metadata(code.p, code.len, &name, err, sizeof(err)) != 0) {
    cairn_reply_error(&c->reply, err);
    return;
  }
  fn_lib *old = lib_find(f, name, strlen(name));
  if (old && !replace) {
    cairn_reply_errorf(&c->reply, "Library '%s' already exists", name);
    free(name);
    return;
  }
  free(name);
  fn_lib lib;
  if (lib_build(c->srv, code.p, code.len, &lib, err, sizeof(err)) != 0 ||
      lib_add(c->srv, &lib, old, err, sizeof(err)) != 0) {
    cairn_reply_error(&c->reply, err);
    return;
  }
  fn_lib *added = lib_find(f, lib.name, strlen(lib.name));
  persist(c);
  cairn_reply_bulk_str(&c->reply, added->name);
}

static void cmd_function_delete(cairn_ctx *c) {
  cairn_functions *f = functions(c->srv);
  fn_lib *l = lib_find(f, c->argv[2].p, c->argv[2].len);
  if (!l) {
    cairn_reply_error(&c->reply, "Library not found");
    return;
  }
  lib_free(c->srv, l);
  int i = (int)(l - f->libs);
  memmove(&f->libs[i], &f->libs[i + 1], sizeof(fn_lib) * (size_t)(f->n - i - 1));
  f->n--;
  persist(c);
  cairn_reply_ok(&c->reply);
}

static void cmd_function_flush(cairn_ctx *c) {
  if (c->argc > 3) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  if (c->argc == 3 && !cairn_arg_is(c->argv[2], "sync") && !cairn_arg_is(c->argv[2], "async")) {
    cairn_reply_error(&c->reply, "FUNCTION FLUSH only supports SYNC|ASYNC option");
    return;
  }
  functions(c->srv);
  libs_clear(c->srv);
  persist(c);
  cairn_reply_ok(&c->reply);
}

static const char *const flag_names[] = {"no-writes", "allow-oom", "allow-stale", "no-cluster",
                                         "allow-cross-slot-keys"};

static void cmd_function_list(cairn_ctx *c) {
  cairn_functions *f = functions(c->srv);
  int with_code = 0;
  cairn_str pattern = {0};
  int have_pattern = 0;
  for (int i = 2; i < c->argc; i++) {
    if (!with_code && cairn_arg_is(c->argv[i], "withcode")) {
      with_code = 1;
      continue;
    }
    if (!have_pattern && cairn_arg_is(c->argv[i], "libraryname")) {
      if (i >= c->argc - 1) {
        cairn_reply_error(&c->reply, "library name argument was not given");
        return;
      }
      pattern = c->argv[++i];
      have_pattern = 1;
      continue;
    }
    cairn_reply_errorf(&c->reply, "Unknown argument %.*s", (int)c->argv[i].len, c->argv[i].p);
    return;
  }
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  for (int i = 0; i < f->n; i++) {
    fn_lib *l = &f->libs[i];
    if (have_pattern && !cairn_glob_match(pattern.p, pattern.len, l->name, strlen(l->name), 0)) continue;
    n++;
    cairn_reply_map(&c->reply, with_code ? 4 : 3);
    cairn_reply_bulk_str(&c->reply, "library_name");
    cairn_reply_bulk_str(&c->reply, l->name);
    cairn_reply_bulk_str(&c->reply, "engine");
    cairn_reply_bulk_str(&c->reply, "LUA");
    cairn_reply_bulk_str(&c->reply, "functions");
    cairn_reply_array(&c->reply, l->n);
    for (int j = 0; j < l->n; j++) {
      cairn_fn_def *d = &l->defs[j];
      cairn_reply_map(&c->reply, 3);
      cairn_reply_bulk_str(&c->reply, "name");
      cairn_reply_bulk_str(&c->reply, d->name);
      cairn_reply_bulk_str(&c->reply, "description");
      if (d->desc)
        cairn_reply_bulk_str(&c->reply, d->desc);
      else
        cairn_reply_null(&c->reply);
      cairn_reply_bulk_str(&c->reply, "flags");
      int nf = 0;
      for (int k = 0; k < 5; k++) nf += (d->flags >> k) & 1;
      cairn_reply_set(&c->reply, nf);
      for (int k = 0; k < 5; k++)
        if (d->flags & (1u << k)) cairn_reply_status(&c->reply, flag_names[k]);
    }
    if (with_code) {
      cairn_reply_bulk_str(&c->reply, "library_code");
      cairn_reply_bulk(&c->reply, l->code, l->code_len);
    }
  }
  cairn_reply_defer_array(&c->reply, mark, n);
}

/* RDB string: length (6/14/32/64-bit forms) then bytes. */
static void rdb_put_len(cairn_buf *b, uint64_t len) {
  unsigned char t[9];
  if (len < 64) {
    t[0] = (unsigned char)len;
    cairn_buf_append(b, t, 1);
  } else if (len < 16384) {
    t[0] = (unsigned char)(0x40 | (len >> 8));
    t[1] = (unsigned char)len;
    cairn_buf_append(b, t, 2);
  } else if (len <= 0xffffffffULL) {
    t[0] = 0x80;
    for (int i = 0; i < 4; i++) t[1 + i] = (unsigned char)(len >> (24 - 8 * i));
    cairn_buf_append(b, t, 5);
  } else {
    t[0] = 0x81;
    for (int i = 0; i < 8; i++) t[1 + i] = (unsigned char)(len >> (56 - 8 * i));
    cairn_buf_append(b, t, 9);
  }
}

void cairn_functions_rdb_payload(cairn_server *srv, cairn_buf *out) {
  cairn_functions *f = functions(srv);
  for (int i = 0; i < f->n; i++) {
    unsigned char op = 245; /* RDB_OPCODE_FUNCTION2 */
    cairn_buf_append(out, &op, 1);
    rdb_put_len(out, f->libs[i].code_len);
    cairn_buf_append(out, f->libs[i].code, f->libs[i].code_len);
  }
}

static void cmd_function_dump(cairn_ctx *c) {
  cairn_buf b = {0};
  cairn_functions_rdb_payload(c->srv, &b);
  unsigned char ver[2] = {10, 0}; /* RDB version 10 (Redis 7.0) */
  cairn_buf_append(&b, ver, 2);
  uint64_t crc = cairn_rdb_crc64(0, b.p, b.len);
  unsigned char crcb[8];
  for (int i = 0; i < 8; i++) crcb[i] = (unsigned char)(crc >> (8 * i));
  cairn_buf_append(&b, crcb, 8);
  cairn_reply_bulk(&c->reply, b.p, b.len);
  cairn_buf_free(&b);
}

/* Reads an RDB length / string at p[*pos]; 0 or -1. */
static int rdb_get_len(const unsigned char *p, size_t n, size_t *pos, uint64_t *len, int *special) {
  *special = 0;
  if (*pos >= n) return -1;
  unsigned char t = p[(*pos)++];
  switch (t >> 6) {
  case 0:
    *len = t & 0x3f;
    return 0;
  case 1:
    if (*pos >= n) return -1;
    *len = ((uint64_t)(t & 0x3f) << 8) | p[(*pos)++];
    return 0;
  case 2: {
    int k = t == 0x80 ? 4 : t == 0x81 ? 8 : 0;
    if (!k || *pos + (size_t)k > n) return -1;
    *len = 0;
    for (int i = 0; i < k; i++) *len = (*len << 8) | p[(*pos)++];
    return 0;
  }
  default:
    *special = 1;
    *len = t & 0x3f;
    return 0;
  }
}

static int rdb_get_string(const unsigned char *p, size_t n, size_t *pos, cairn_buf *out) {
  uint64_t len;
  int special;
  out->len = 0;
  if (rdb_get_len(p, n, pos, &len, &special) != 0) return -1;
  if (!special) {
    if (*pos + len > n) return -1;
    cairn_buf_append(out, p + *pos, (size_t)len);
    *pos += (size_t)len;
    return 0;
  }
  if (len <= 2) { /* an integer */
    int k = 1 << len;
    if (*pos + (size_t)k > n) return -1;
    int64_t v = 0;
    for (int i = 0; i < k; i++) v |= (int64_t)p[*pos + (size_t)i] << (8 * i);
    if (k == 1) v = (int8_t)v;
    else if (k == 2) v = (int16_t)v;
    else v = (int32_t)v;
    *pos += (size_t)k;
    cairn_buf_printf(out, "%lld", (long long)v);
    return 0;
  }
  if (len == 3) { /* LZF */
    uint64_t clen, ulen;
    if (rdb_get_len(p, n, pos, &clen, &special) != 0 || special) return -1;
    if (rdb_get_len(p, n, pos, &ulen, &special) != 0 || special) return -1;
    if (*pos + clen > n || ulen > (1ULL << 32)) return -1;
    char *tmp = malloc(ulen ? (size_t)ulen : 1);
    int rc = cairn_rdb_lzf_decompress(p + *pos, (size_t)clen, tmp, (size_t)ulen);
    if (rc != 0) {
      free(tmp);
      return -1;
    }
    cairn_buf_append(out, tmp, (size_t)ulen);
    free(tmp);
    *pos += (size_t)clen;
    return 0;
  }
  return -1;
}

/* Loads the FUNCTION2 entries of a payload into new libraries; 0 or -1 with
 * err. policy: 0 APPEND, 1 REPLACE, 2 FLUSH. */
static int restore_payload(cairn_ctx *c, const unsigned char *p, size_t n, int policy, char *err, size_t errlen) {
  cairn_server *srv = c->srv;
  cairn_functions *f = functions(srv);
  fn_lib *libs = NULL;
  int nlibs = 0;
  size_t pos = 0;
  cairn_buf s = {0};
  int rc = -1;
  while (n - pos > 10) {
    unsigned char type = p[pos++];
    if (type != 245 && type != 246) {
      snprintf(err, errlen, "given type is not a function");
      goto done;
    }
    if (type == 246 || rdb_get_string(p, n, &pos, &s) != 0) {
      snprintf(err, errlen, "failed loading the given functions payload");
      goto done;
    }
    fn_lib lib;
    char lerr[512];
    if (lib_build(srv, s.p ? s.p : "", s.len, &lib, lerr, sizeof(lerr)) != 0) {
      snprintf(err, errlen, "%s", lerr);
      goto done;
    }
    for (int i = 0; i < nlibs; i++)
      if (strcmp(libs[i].name, lib.name) == 0) {
        snprintf(err, errlen, "Library %s already exists", lib.name);
        lib_free(srv, &lib);
        goto done;
      }
    libs = realloc(libs, sizeof(fn_lib) * (size_t)(nlibs + 1));
    libs[nlibs++] = lib;
  }
  /* Check the join before changing anything (Redis's libraryJoin). */
  if (policy != 2) {
    for (int i = 0; i < nlibs; i++) {
      fn_lib *old = lib_find(f, libs[i].name, strlen(libs[i].name));
      if (old && policy == 0) {
        snprintf(err, errlen, "Library %s already exists", libs[i].name);
        goto done;
      }
      for (int j = 0; j < libs[i].n; j++) {
        const cairn_fn_def *d = func_find(f, libs[i].defs[j].name, strlen(libs[i].defs[j].name), NULL);
        if (!d) continue;
        fn_lib *owner = NULL;
        for (int k = 0; k < f->n; k++)
          if (d >= f->libs[k].defs && d < f->libs[k].defs + f->libs[k].n) owner = &f->libs[k];
        if (policy == 1 && owner && lib_find(f, libs[i].name, strlen(libs[i].name)) == owner) continue;
        snprintf(err, errlen, "Function %s already exists", libs[i].defs[j].name);
        goto done;
      }
    }
  } else {
    libs_clear(srv);
  }
  for (int i = 0; i < nlibs; i++) {
    fn_lib *old = lib_find(f, libs[i].name, strlen(libs[i].name));
    char lerr[512];
    if (lib_add(srv, &libs[i], old, lerr, sizeof(lerr)) != 0) cairn_warning("FUNCTION RESTORE: %s", lerr);
    libs[i].name = NULL; /* taken */
  }
  nlibs = 0;
  rc = 0;
done:
  for (int i = 0; i < nlibs; i++)
    if (libs[i].name) lib_free(srv, &libs[i]);
  free(libs);
  cairn_buf_free(&s);
  return rc;
}

static void cmd_function_restore(cairn_ctx *c) {
  if (c->argc > 4) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  int policy = 0;
  if (c->argc == 4) {
    if (cairn_arg_is(c->argv[3], "append")) policy = 0;
    else if (cairn_arg_is(c->argv[3], "replace")) policy = 1;
    else if (cairn_arg_is(c->argv[3], "flush")) policy = 2;
    else {
      cairn_reply_error(&c->reply, "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
      return;
    }
  }
  const unsigned char *p = (const unsigned char *)c->argv[2].p;
  size_t n = c->argv[2].len;
  uint16_t ver = n >= 10 ? (uint16_t)(p[n - 10] | (p[n - 9] << 8)) : 0;
  uint64_t crc = 0;
  for (int i = 0; n >= 10 && i < 8; i++) crc |= (uint64_t)p[n - 8 + i] << (8 * i);
  if (n < 10 || ver > 10 || (crc != 0 && cairn_rdb_crc64(0, p, n - 8) != crc)) {
    cairn_reply_error(&c->reply, "DUMP payload version or checksum are wrong");
    return;
  }
  char err[1024];
  if (restore_payload(c, p, n, policy, err, sizeof(err)) != 0) {
    cairn_reply_error(&c->reply, err);
    return;
  }
  persist(c);
  cairn_reply_ok(&c->reply);
}

void cairn_functions_counts(cairn_server *srv, long long *libs, long long *funcs) {
  *libs = *funcs = 0;
  if (!srv->functions || !srv->functions->loaded) return; /* not loaded yet: nothing used */
  cairn_functions *f = srv->functions;
  *libs = f->n;
  for (int i = 0; i < f->n; i++) *funcs += f->libs[i].n;
}

int cairn_function_flags(cairn_server *srv, const char *name, size_t len, uint32_t *flags) {
  const cairn_fn_def *d = func_find(functions(srv), name, len, NULL);
  if (!d) return -1;
  *flags = d->flags;
  return 0;
}

static void cmd_function_stats(cairn_ctx *c) {
  cairn_functions *f = functions(c->srv);
  cairn_reply_map(&c->reply, 2);
  cairn_reply_bulk_str(&c->reply, "running_script");
  int eval_mode, argc;
  int64_t ms;
  cairn_str *argv;
  const char *name = cairn_script_running_name(c->srv, &eval_mode, &ms, &argc, &argv);
  if (!name || eval_mode) {
    cairn_reply_null(&c->reply);
  } else {
    cairn_reply_map(&c->reply, 3);
    cairn_reply_bulk_str(&c->reply, "name");
    cairn_reply_bulk_str(&c->reply, name);
    cairn_reply_bulk_str(&c->reply, "command");
    cairn_reply_array(&c->reply, argc);
    for (int i = 0; i < argc; i++) cairn_reply_bulk(&c->reply, argv[i].p, argv[i].len);
    cairn_reply_bulk_str(&c->reply, "duration_ms");
    cairn_reply_int(&c->reply, ms);
  }
  cairn_reply_bulk_str(&c->reply, "engines");
  cairn_reply_map(&c->reply, 1);
  cairn_reply_bulk_str(&c->reply, "LUA");
  cairn_reply_map(&c->reply, 2);
  long long nf = 0;
  for (int i = 0; i < f->n; i++) nf += f->libs[i].n;
  cairn_reply_bulk_str(&c->reply, "libraries_count");
  cairn_reply_int(&c->reply, f->n);
  cairn_reply_bulk_str(&c->reply, "functions_count");
  cairn_reply_int(&c->reply, nf);
}

static void cmd_function_kill(cairn_ctx *c) { cairn_script_kill(c, 0); }

static void cmd_function_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "LOAD [REPLACE] <FUNCTION CODE>",
      "    Create a new library with the given library name and code.",
      "DELETE <LIBRARY NAME>",
      "    Delete the given library.",
      "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
      "    Return general information on all the libraries:",
      "    * Library name",
      "    * The engine used to run the Library",
      "    * Library description",
      "    * Functions list",
      "    * Library code (if WITHCODE is given)",
      "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
      "STATS",
      "    Return information about the current function running:",
      "    * Function name",
      "    * Command used to run the function",
      "    * Duration in MS that the function is running",
      "    If no function is running, return nil",
      "    In addition, returns a list of available engines.",
      "KILL",
      "    Kill the current running function.",
      "FLUSH [ASYNC|SYNC]",
      "    Delete all the libraries.",
      "    When called without the optional mode argument, the behavior is determined by the",
      "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
      "    * ASYNC: Asynchronously flush the libraries.",
      "    * SYNC: Synchronously flush the libraries.",
      "DUMP",
      ("    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE "
       "command"),
      "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
      "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
      "    control how to handle existing libraries (default APPEND):",
      "    * FLUSH: delete all existing libraries.",
      "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
      "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
      "      libraries with the new libraries (notice that even on this option there is a chance of failure",
      "      in case of functions name collision with another library).",
      "HELP",
      "    Prints this help.",
  };
  int n = (int)(sizeof(lines) / sizeof(lines[0]));
  cairn_reply_array(&c->reply, n);
  for (int i = 0; i < n; i++) cairn_reply_status(&c->reply, lines[i]);
}

/* ---------------------------------------------------------------- FCALL */
static void fcall_generic(cairn_ctx *c, int ro) {
  /* MONITOR shows the call before the commands the function runs. */
  if (cairn_monitor_wants(c->srv, c->client, c->cmd, c->argc, c->argv))
    cairn_monitor_feed(c->srv, c->client, c->db, c->argc, c->argv);
  cairn_functions *f = functions(c->srv);
  const cairn_fn_def *d = func_find(f, c->argv[1].p, c->argv[1].len, NULL);
  if (!d) {
    cairn_reply_error(&c->reply, "Function not found");
    return;
  }
  long long nkeys;
  if (!cairn_str2ll(c->argv[2].p, c->argv[2].len, &nkeys)) {
    cairn_reply_error(&c->reply, "Bad number of keys provided");
    return;
  }
  if (nkeys > c->argc - 3) {
    cairn_reply_error(&c->reply, "Number of keys can't be greater than number of args");
    return;
  }
  if (nkeys < 0) {
    cairn_reply_error(&c->reply, "Number of keys can't be negative");
    return;
  }
  cairn_function_call(c, d, ro, (int)nkeys, c->argv + 3, c->argc - 3 - (int)nkeys, c->argv + 3 + nkeys);
}

static void cmd_fcall(cairn_ctx *c) { fcall_generic(c, 0); }
static void cmd_fcall_ro(cairn_ctx *c) { fcall_generic(c, 1); }

#define FN_WRITE (CAIRN_CMD_NOSCRIPT | CAIRN_CMD_WRITE | CAIRN_CMD_DENYOOM)
#define FCALL_FLAGS (CAIRN_CMD_RUNS_SCRIPT | CAIRN_CMD_NO_MANDATORY_KEYS | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_STALE | CAIRN_CMD_MAY_REPLICATE | CAIRN_CMD_KEYSPACE)
#define FCALL_RO_FLAGS (CAIRN_CMD_RUNS_SCRIPT | CAIRN_CMD_NO_MANDATORY_KEYS | CAIRN_CMD_NOSCRIPT | CAIRN_CMD_STALE | CAIRN_CMD_READONLY | CAIRN_CMD_KEYSPACE)

static const cairn_command function_subcommands[] = {
    CAIRN_CMD("function|load", -3, FN_WRITE, 0, 0, 0, cmd_function_load, "scripting", "Create a function library.",
              "7.0.0", "[REPLACE] function-code"),
    CAIRN_CMD("function|delete", 3, CAIRN_CMD_NOSCRIPT | CAIRN_CMD_WRITE, 0, 0, 0, cmd_function_delete, "scripting",
              "Delete a function by name.", "7.0.0", "library-name"),
    CAIRN_CMD("function|flush", -2, CAIRN_CMD_NOSCRIPT | CAIRN_CMD_WRITE, 0, 0, 0, cmd_function_flush, "scripting",
              "Deleting all functions.", "7.0.0", "[ASYNC|SYNC]"),
    CAIRN_CMD("function|list", -2, CAIRN_CMD_NOSCRIPT, 0, 0, 0, cmd_function_list, "scripting",
              "List information about all the functions.", "7.0.0", "[LIBRARYNAME library-name-pattern] [WITHCODE]"),
    CAIRN_CMD("function|dump", 2, CAIRN_CMD_NOSCRIPT, 0, 0, 0, cmd_function_dump, "scripting",
              "Dump all functions into a serialized binary payload", "7.0.0", ""),
    CAIRN_CMD("function|restore", -3, FN_WRITE, 0, 0, 0, cmd_function_restore, "scripting",
              "Restore all the functions on the given payload", "7.0.0", "serialized-value [FLUSH|APPEND|REPLACE]"),
    CAIRN_CMD("function|stats", 2, CAIRN_CMD_NOSCRIPT | CAIRN_CMD_ALLOW_BUSY, 0, 0, 0, cmd_function_stats, "scripting",
              "Return information about the function currently running (name, description, duration)", "7.0.0", ""),
    CAIRN_CMD("function|kill", 2, CAIRN_CMD_NOSCRIPT | CAIRN_CMD_ALLOW_BUSY, 0, 0, 0, cmd_function_kill, "scripting",
              "Kill the function currently in execution.", "7.0.0", ""),
    CAIRN_CMD("function|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_function_help, "scripting",
              "Show helpful text about the different subcommands", "7.0.0", ""),
    CAIRN_CMD_END,
};

const cairn_command cairn_commands_function[] = {
    CAIRN_CMD("fcall", -3, FCALL_FLAGS, 0, 0, 0, cmd_fcall, "scripting", "Invoke a function", "7.0.0",
              "function numkeys [key [key ...]] [arg [arg ...]]"),
    CAIRN_CMD("fcall_ro", -3, FCALL_RO_FLAGS, 0, 0, 0, cmd_fcall_ro, "scripting", "Invoke a read-only function",
              "7.0.0", "function numkeys [key [key ...]] [arg [arg ...]]"),
    CAIRN_CMD("function", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "scripting",
              "A container for function commands", "7.0.0", "", .subcommands = function_subcommands),
    CAIRN_CMD_END,
};
