/* ACL: users, rules, the permission check, descriptions, the log and the
 * aclfile (engine/acl.h). Semantics and texts are Redis 7.0's
 * (src/acl.c), written for cairn's command table. */
#include "engine/acl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/keyspecs.h"
#include "engine/sha256.h"
#include "engine/util.h"

/* ---------------------------------------------------------------- categories */

static const char *const cat_names[CAIRN_ACL_NCATS] = {
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo",
    "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting"};

const char *cairn_acl_category_name(int cat) { return cat >= 0 && cat < CAIRN_ACL_NCATS ? cat_names[cat] : NULL; }

int cairn_acl_category_lookup(const char *name, size_t len) {
  for (int i = 0; i < CAIRN_ACL_NCATS; i++)
    if (strlen(cat_names[i]) == len && strncasecmp(cat_names[i], name, len) == 0) return i;
  return -1;
}

#define CAT(x) (1u << CAIRN_ACL_CAT_##x)

/* cairn's own commands (not in Redis 7.0): from the flags and the group. */
static uint32_t derived_categories(const cairn_command *cmd) {
  uint32_t m = 0;
  const char *g = cmd->group ? cmd->group : "";
  if (!strcmp(g, "generic") && (cmd->flags & CAIRN_CMD_KEYSPACE)) m |= CAT(KEYSPACE);
  if (cmd->flags & CAIRN_CMD_READONLY) m |= CAT(READ);
  if (cmd->flags & CAIRN_CMD_WRITE) m |= CAT(WRITE);
  if (!strcmp(g, "set")) m |= CAT(SET);
  if (!strcmp(g, "sorted-set")) m |= CAT(SORTEDSET);
  if (!strcmp(g, "list")) m |= CAT(LIST);
  if (!strcmp(g, "hash")) m |= CAT(HASH);
  if (!strcmp(g, "string")) m |= CAT(STRING);
  if (!strcmp(g, "bitmap")) m |= CAT(BITMAP);
  if (!strcmp(g, "hyperloglog")) m |= CAT(HYPERLOGLOG);
  if (!strcmp(g, "geo")) m |= CAT(GEO);
  if (!strcmp(g, "stream")) m |= CAT(STREAM);
  if (!strcmp(g, "transactions")) m |= CAT(TRANSACTION);
  if (!strcmp(g, "scripting")) m |= CAT(SCRIPTING);
  if (cmd->flags & CAIRN_CMD_PUBSUB) m |= CAT(PUBSUB);
  if (cmd->flags & CAIRN_CMD_ADMIN) m |= CAT(ADMIN) | CAT(DANGEROUS);
  m |= (cmd->flags & CAIRN_CMD_FAST) && !cmd->subcommands ? CAT(FAST) : CAT(SLOW);
  if (cmd->flags & CAIRN_CMD_BLOCKING) m |= CAT(BLOCKING);
  if (!strcmp(g, "connection") && !cmd->subcommands) m |= CAT(CONNECTION);
  return m;
}

uint32_t cairn_acl_command_categories(const cairn_command *cmd) {
  static int n = -1;
  if (n < 0)
    for (n = 0; cairn_acl_cats_table[n].name; n++) {}
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int c = strcmp(cairn_acl_cats_table[mid].name, cmd->name);
    if (c == 0) return cairn_acl_cats_table[mid].cats;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return derived_categories(cmd);
}

/* ---------------------------------------------------------------- command ids */
/* Every command and subcommand gets an id: its bit in a selector. Walk
 * order (a command, then its subcommands) is the order of ACL LIST's
 * single-command rules. Built at the first use, after every table is
 * registered. */
#define MAX_CMDS 2048
#define ID_SLOTS 4096

static struct {
  int n, ntop;
  const cairn_command *cmd[MAX_CMDS];
  int parent[MAX_CMDS];   /* id of the container, or -1 */
  int nsubs[MAX_CMDS];    /* a container's subcommands follow it: ids id+1..id+nsubs */
  uint32_t cats[MAX_CMDS];
  const cairn_command *slot_cmd[ID_SLOTS];
  int slot_id[ID_SLOTS];
} ids;

static uint32_t ptr_hash(const void *p) {
  uintptr_t v = (uintptr_t)p;
  v ^= v >> 17;
  v *= 0x9E3779B1u;
  return (uint32_t)(v ^ (v >> 15)) & (ID_SLOTS - 1);
}

static void id_add(const cairn_command *c, int parent) {
  if (ids.n >= MAX_CMDS) return;
  int id = ids.n++;
  ids.cmd[id] = c;
  ids.parent[id] = parent;
  ids.cats[id] = cairn_acl_command_categories(c);
  uint32_t h = ptr_hash(c);
  while (ids.slot_cmd[h]) h = (h + 1) & (ID_SLOTS - 1);
  ids.slot_cmd[h] = c;
  ids.slot_id[h] = id;
}

static void ids_build(void) {
  /* still the same table? (a registration rebuilds it) */
  int total = cairn_command_count();
  if (ids.n && ids.ntop == total && ids.cmd[0] == cairn_command_at(0)) return;
  memset(&ids, 0, sizeof(ids));
  ids.ntop = total;
  for (int i = 0; i < total; i++) {
    const cairn_command *c = cairn_command_at(i);
    int id = ids.n;
    id_add(c, -1);
    if (c->subcommands)
      for (const cairn_command *s = c->subcommands; s->name; s++) id_add(s, id);
    ids.nsubs[id] = ids.n - id - 1;
  }
}

static int id_of(const cairn_command *c) {
  ids_build();
  uint32_t h = ptr_hash(c);
  while (ids.slot_cmd[h]) {
    if (ids.slot_cmd[h] == c) return ids.slot_id[h];
    h = (h + 1) & (ID_SLOTS - 1);
  }
  return -1;
}

/* A command by full name ("get", "config|get"), case-insensitive. */
static const cairn_command *lookup_full(const char *name, size_t len) {
  const char *bar = memchr(name, '|', len);
  if (!bar) return cairn_command_lookup(name, len);
  const cairn_command *parent = cairn_command_lookup(name, (size_t)(bar - name));
  if (!parent || !parent->subcommands) return NULL;
  cairn_str rest = {bar + 1, len - (size_t)(bar - name) - 1};
  return cairn_subcommand_find(parent, rest);
}

/* ---------------------------------------------------------------- structures */

enum { SEL_ROOT = 1, SEL_ALLKEYS = 2, SEL_ALLCHANNELS = 4, SEL_FUTURE = 8 /* +@all: future commands too */ };
enum { PERM_READ = 1, PERM_WRITE = 2, PERM_ALL = 3 };
enum { U_ENABLED = 1, U_DISABLED = 2, U_NOPASS = 4, U_SKIP_SANITIZE = 8, U_SANITIZE = 16 };

typedef struct keypat {
  char *p;
  size_t len;
  int flags; /* PERM_* */
} keypat;

typedef struct strv {
  char *p;
  size_t len;
} strv;

typedef struct selector {
  int flags;
  uint64_t allowed[MAX_CMDS / 64];
  strv **firstargs; /* per id: NULL, or an array ended by {NULL, 0}; NULL when none at all */
  keypat *pats;
  int npats;
  strv *chans;
  int nchans;
} selector;

struct cairn_acl_user {
  char *name;
  size_t namelen;
  int flags;
  char (*pass)[65];
  int npass;
  selector **sels; /* sels[0]: the root selector */
  int nsels;
};

typedef struct log_entry {
  long long count;
  int reason, context;
  char *object, *username, *cinfo;
  size_t objlen, userlen;
  int64_t ctime;
} log_entry;

struct cairn_acl {
  cairn_acl_user **users; /* by name (memcmp order, like Redis's rax) */
  int nusers;
  cairn_acl_user *dflt;
  int pubsub_default; /* SEL_ALLCHANNELS or 0 */
  log_entry *log;     /* newest first */
  int nlog;
};

static char *memdup0(const char *p, size_t n) {
  char *s = cairn_xmalloc(n + 1);
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* ---------------------------------------------------------------- selectors */

static selector *sel_new(int flags) {
  selector *s = cairn_xcalloc(1, sizeof(*s));
  s->flags = flags;
  return s;
}

static void firstargs_reset(selector *s, int id) {
  if (!s->firstargs || !s->firstargs[id]) return;
  for (strv *a = s->firstargs[id]; a->p; a++) free(a->p);
  free(s->firstargs[id]);
  s->firstargs[id] = NULL;
}

static void firstargs_reset_all(selector *s) {
  if (!s->firstargs) return;
  for (int i = 0; i < MAX_CMDS; i++) firstargs_reset(s, i);
  free(s->firstargs);
  s->firstargs = NULL;
}

static void sel_clear_keys(selector *s) {
  for (int i = 0; i < s->npats; i++) free(s->pats[i].p);
  free(s->pats);
  s->pats = NULL;
  s->npats = 0;
}

static void sel_clear_chans(selector *s) {
  for (int i = 0; i < s->nchans; i++) free(s->chans[i].p);
  free(s->chans);
  s->chans = NULL;
  s->nchans = 0;
}

static void sel_free(selector *s) {
  if (!s) return;
  firstargs_reset_all(s);
  sel_clear_keys(s);
  sel_clear_chans(s);
  free(s);
}

static selector *sel_copy(const selector *src) {
  selector *s = sel_new(src->flags);
  memcpy(s->allowed, src->allowed, sizeof(s->allowed));
  if (src->firstargs) {
    s->firstargs = cairn_xcalloc(MAX_CMDS, sizeof(strv *));
    for (int i = 0; i < MAX_CMDS; i++) {
      if (!src->firstargs[i]) continue;
      int n = 0;
      while (src->firstargs[i][n].p) n++;
      s->firstargs[i] = cairn_xcalloc((size_t)n + 1, sizeof(strv));
      for (int j = 0; j < n; j++)
        s->firstargs[i][j] = (strv){memdup0(src->firstargs[i][j].p, src->firstargs[i][j].len), src->firstargs[i][j].len};
    }
  }
  if (src->npats) {
    s->pats = cairn_xcalloc((size_t)src->npats, sizeof(keypat));
    for (int i = 0; i < src->npats; i++)
      s->pats[i] = (keypat){memdup0(src->pats[i].p, src->pats[i].len), src->pats[i].len, src->pats[i].flags};
    s->npats = src->npats;
  }
  if (src->nchans) {
    s->chans = cairn_xcalloc((size_t)src->nchans, sizeof(strv));
    for (int i = 0; i < src->nchans; i++) s->chans[i] = (strv){memdup0(src->chans[i].p, src->chans[i].len), src->chans[i].len};
    s->nchans = src->nchans;
  }
  return s;
}

static int bit_get(const selector *s, int id) { return (s->allowed[id / 64] >> (id % 64)) & 1; }
static void bit_set(selector *s, int id, int v) {
  if (v)
    s->allowed[id / 64] |= 1ull << (id % 64);
  else
    s->allowed[id / 64] &= ~(1ull << (id % 64));
}

/* Redis's ACLChangeSelectorPerm: a container takes its subcommands along. */
static void change_perm(selector *s, int id, int allow) {
  bit_set(s, id, allow);
  firstargs_reset(s, id);
  for (int i = 1; i <= ids.nsubs[id]; i++) bit_set(s, id + i, allow);
}

static void set_category(selector *s, int cat, int allow) {
  ids_build();
  for (int id = 0; id < ids.n; id++)
    if (ids.cats[id] & (1u << cat)) change_perm(s, id, allow);
}

static void set_all(selector *s, int allow) {
  memset(s->allowed, allow ? 0xff : 0, sizeof(s->allowed));
  if (allow)
    s->flags |= SEL_FUTURE;
  else
    s->flags &= ~SEL_FUTURE;
  firstargs_reset_all(s);
}

static void firstarg_add(selector *s, int id, const char *p, size_t n) {
  if (!s->firstargs) s->firstargs = cairn_xcalloc(MAX_CMDS, sizeof(strv *));
  int items = 0;
  if (s->firstargs[id])
    for (; s->firstargs[id][items].p; items++)
      if (s->firstargs[id][items].len == n && strncasecmp(s->firstargs[id][items].p, p, n) == 0) return;
  s->firstargs[id] = cairn_xrealloc(s->firstargs[id], sizeof(strv) * (size_t)(items + 2));
  s->firstargs[id][items] = (strv){memdup0(p, n), n};
  s->firstargs[id][items + 1] = (strv){NULL, 0};
}

static int has_spaces(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] == ' ' || p[i] == '\0') return 1;
  return 0;
}

/* Error kinds (Redis's errno values in ACLSetUser). */
enum { E_OK = 0, E_NOENT, E_INVAL, E_EXIST, E_ISDIR, E_NODEV, E_BADMSG, E_ALREADY, E_CHILD };

static const char *error_text(int e) {
  switch (e) {
  case E_NOENT: return "Unknown command or category name in ACL";
  case E_INVAL: return "Syntax error";
  case E_EXIST:
    return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any "
           "effect. Try 'resetkeys' to start with an empty list of patterns";
  case E_ISDIR:
    return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any "
           "effect. Try 'resetchannels' to start with an empty list of channels";
  case E_NODEV: return "The password you are trying to remove from the user does not exist";
  case E_BADMSG: return "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
  case E_ALREADY: return "Duplicate user found. A user can only be defined once in config files";
  case E_CHILD: return "Allowing first-arg of a subcommand is not supported";
  default: return "Wrong format";
  }
}

static int op_is(const char *op, size_t n, const char *lit) {
  return strlen(lit) == n && strncasecmp(op, lit, n) == 0;
}

/* Redis's ACLSetSelector. */
static int sel_apply(selector *s, const char *op, size_t n) {
  ids_build();
  if (op_is(op, n, "allkeys") || (n == 2 && op[0] == '~' && op[1] == '*')) {
    s->flags |= SEL_ALLKEYS;
    sel_clear_keys(s);
  } else if (op_is(op, n, "resetkeys")) {
    s->flags &= ~SEL_ALLKEYS;
    sel_clear_keys(s);
  } else if (op_is(op, n, "allchannels") || (n == 2 && op[0] == '&' && op[1] == '*')) {
    s->flags |= SEL_ALLCHANNELS;
    sel_clear_chans(s);
  } else if (op_is(op, n, "resetchannels")) {
    s->flags &= ~SEL_ALLCHANNELS;
    sel_clear_chans(s);
  } else if (op_is(op, n, "allcommands") || op_is(op, n, "+@all")) {
    set_all(s, 1);
  } else if (op_is(op, n, "nocommands") || op_is(op, n, "-@all")) {
    set_all(s, 0);
  } else if (op[0] == '~' || op[0] == '%') {
    if (s->flags & SEL_ALLKEYS) return E_EXIST;
    int flags = 0;
    size_t off = 1;
    if (op[0] == '%') {
      for (; off < n; off++) {
        char ch = (char)(op[off] & ~0x20);
        if (ch == 'R' && !(flags & PERM_READ))
          flags |= PERM_READ;
        else if (ch == 'W' && !(flags & PERM_WRITE))
          flags |= PERM_WRITE;
        else if (op[off] == '~') {
          off++;
          break;
        } else
          return E_INVAL;
      }
    } else {
      flags = PERM_ALL;
    }
    if (has_spaces(op + off, n - off)) return E_INVAL;
    for (int i = 0; i < s->npats; i++) {
      if (s->pats[i].len == n - off && memcmp(s->pats[i].p, op + off, n - off) == 0) {
        s->pats[i].flags |= flags;
        s->flags &= ~SEL_ALLKEYS;
        return E_OK;
      }
    }
    s->pats = cairn_xrealloc(s->pats, sizeof(keypat) * (size_t)(s->npats + 1));
    s->pats[s->npats++] = (keypat){memdup0(op + off, n - off), n - off, flags};
    s->flags &= ~SEL_ALLKEYS;
  } else if (op[0] == '&') {
    if (s->flags & SEL_ALLCHANNELS) return E_ISDIR;
    if (has_spaces(op + 1, n - 1)) return E_INVAL;
    for (int i = 0; i < s->nchans; i++)
      if (s->chans[i].len == n - 1 && memcmp(s->chans[i].p, op + 1, n - 1) == 0) return E_OK;
    s->chans = cairn_xrealloc(s->chans, sizeof(strv) * (size_t)(s->nchans + 1));
    s->chans[s->nchans++] = (strv){memdup0(op + 1, n - 1), n - 1};
    s->flags &= ~SEL_ALLCHANNELS;
  } else if ((op[0] == '+' || op[0] == '-') && n >= 2 && op[1] == '@') {
    int cat = cairn_acl_category_lookup(op + 2, n - 2);
    if (cat < 0) return E_NOENT;
    set_category(s, cat, op[0] == '+');
  } else if (op[0] == '+' || op[0] == '-') {
    const char *name = op + 1;
    size_t nlen = n - 1;
    const char *bar = op[0] == '+' ? memrchr(name, '|', nlen) : NULL;
    if (!bar) {
      const cairn_command *c = lookup_full(name, nlen);
      int id = c ? id_of(c) : -1;
      if (id < 0) return E_NOENT;
      change_perm(s, id, op[0] == '+');
    } else {
      size_t clen = (size_t)(bar - name);
      const cairn_command *c = lookup_full(name, clen);
      int id = c ? id_of(c) : -1;
      if (id < 0) return E_NOENT;
      if (ids.parent[id] >= 0) return E_CHILD;
      if (nlen - clen - 1 == 0) return E_INVAL;
      if (c->subcommands) {
        const cairn_command *sub = lookup_full(name, nlen);
        int sid = sub ? id_of(sub) : -1;
        if (sid < 0) return E_NOENT;
        change_perm(s, sid, 1);
      } else {
        firstarg_add(s, id, bar + 1, nlen - clen - 1);
      }
    }
  } else {
    return E_INVAL;
  }
  return E_OK;
}

/* ---------------------------------------------------------------- users */

static cairn_acl_user *user_new(const char *name, size_t len, int pubsub_default) {
  cairn_acl_user *u = cairn_xcalloc(1, sizeof(*u));
  u->name = memdup0(name, len);
  u->namelen = len;
  u->flags = U_DISABLED;
  u->sels = cairn_xcalloc(1, sizeof(selector *));
  u->sels[0] = sel_new(SEL_ROOT | pubsub_default);
  u->nsels = 1;
  return u;
}

static void user_clear(cairn_acl_user *u) {
  for (int i = 0; i < u->nsels; i++) sel_free(u->sels[i]);
  free(u->sels);
  free(u->pass);
  u->sels = NULL;
  u->pass = NULL;
  u->nsels = u->npass = 0;
}

static void user_free(cairn_acl_user *u) {
  if (!u) return;
  user_clear(u);
  free(u->name);
  free(u);
}

/* dst takes src's rules (not its name). */
static void user_copy_rules(cairn_acl_user *dst, const cairn_acl_user *src) {
  user_clear(dst);
  dst->flags = src->flags;
  if (src->npass) {
    dst->pass = cairn_xmalloc(sizeof(*dst->pass) * (size_t)src->npass);
    memcpy(dst->pass, src->pass, sizeof(*dst->pass) * (size_t)src->npass);
  }
  dst->npass = src->npass;
  dst->sels = cairn_xcalloc((size_t)src->nsels, sizeof(selector *));
  for (int i = 0; i < src->nsels; i++) dst->sels[i] = sel_copy(src->sels[i]);
  dst->nsels = src->nsels;
}

static int hash_ok(const char *p, size_t n) {
  if (n != 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return 0;
  return 1;
}

static int pass_find(const cairn_acl_user *u, const char *h) {
  for (int i = 0; i < u->npass; i++)
    if (!memcmp(u->pass[i], h, 64)) return i;
  return -1;
}

static int user_apply(cairn_acl_user *u, const char *op, size_t n, int pubsub_default);

static int apply_selector_ops(selector *s, const char *body, size_t n) {
  /* split on spaces, like sdssplitargs without quotes */
  size_t i = 0;
  while (i < n) {
    while (i < n && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) i++;
    size_t st = i;
    while (i < n && !(body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) i++;
    if (i > st) {
      int e = sel_apply(s, body + st, i - st);
      if (e) return e;
    }
  }
  return E_OK;
}

/* Redis's ACLSetUser. */
static int user_apply(cairn_acl_user *u, const char *op, size_t n, int pubsub_default) {
  if (n == 0) return E_OK;
  if (op_is(op, n, "on")) {
    u->flags = (u->flags | U_ENABLED) & ~U_DISABLED;
  } else if (op_is(op, n, "off")) {
    u->flags = (u->flags | U_DISABLED) & ~U_ENABLED;
  } else if (op_is(op, n, "skip-sanitize-payload")) {
    u->flags = (u->flags | U_SKIP_SANITIZE) & ~U_SANITIZE;
  } else if (op_is(op, n, "sanitize-payload")) {
    u->flags = (u->flags | U_SANITIZE) & ~U_SKIP_SANITIZE;
  } else if (op_is(op, n, "nopass")) {
    u->flags |= U_NOPASS;
    free(u->pass);
    u->pass = NULL;
    u->npass = 0;
  } else if (op_is(op, n, "resetpass")) {
    u->flags &= ~U_NOPASS;
    free(u->pass);
    u->pass = NULL;
    u->npass = 0;
  } else if (op[0] == '>' || op[0] == '#') {
    char h[65];
    if (op[0] == '>') {
      cairn_sha256_hex(op + 1, n - 1, h);
    } else {
      if (!hash_ok(op + 1, n - 1)) return E_BADMSG;
      memcpy(h, op + 1, 64);
      h[64] = '\0';
    }
    if (pass_find(u, h) < 0) {
      u->pass = cairn_xrealloc(u->pass, sizeof(*u->pass) * (size_t)(u->npass + 1));
      memcpy(u->pass[u->npass++], h, 65);
    }
    u->flags &= ~U_NOPASS;
  } else if (op[0] == '<' || op[0] == '!') {
    char h[65];
    if (op[0] == '<') {
      cairn_sha256_hex(op + 1, n - 1, h);
    } else {
      if (!hash_ok(op + 1, n - 1)) return E_BADMSG;
      memcpy(h, op + 1, 64);
      h[64] = '\0';
    }
    int i = pass_find(u, h);
    if (i < 0) return E_NODEV;
    memmove(u->pass[i], u->pass[i + 1], sizeof(*u->pass) * (size_t)(u->npass - i - 1));
    u->npass--;
  } else if (op[0] == '(' && op[n - 1] == ')') {
    selector *s = sel_new(pubsub_default);
    int e = apply_selector_ops(s, op + 1, n >= 2 ? n - 2 : 0);
    if (e) {
      sel_free(s);
      return e;
    }
    u->sels = cairn_xrealloc(u->sels, sizeof(selector *) * (size_t)(u->nsels + 1));
    u->sels[u->nsels++] = s;
  } else if (op_is(op, n, "clearselectors")) {
    for (int i = 1; i < u->nsels; i++) sel_free(u->sels[i]);
    u->nsels = 1;
  } else if (op_is(op, n, "reset")) {
    user_apply(u, "resetpass", 9, pubsub_default);
    user_apply(u, "resetkeys", 9, pubsub_default);
    user_apply(u, "resetchannels", 13, pubsub_default);
    if (pubsub_default & SEL_ALLCHANNELS) user_apply(u, "allchannels", 11, pubsub_default);
    user_apply(u, "off", 3, pubsub_default);
    user_apply(u, "sanitize-payload", 16, pubsub_default);
    user_apply(u, "clearselectors", 14, pubsub_default);
    user_apply(u, "-@all", 5, pubsub_default);
  } else {
    return sel_apply(u->sels[0], op, n);
  }
  return E_OK;
}

/* Redis's ACLMergeSelectorArguments: "(a" "b)" become "(a b)". Returns the
 * merged count, or -1 with *bad the index of the unmatched '('. */
static int merge_selector_args(int n, const cairn_str *in, cairn_str *out, char **owned, int *bad) {
  int m = 0, open = -1;
  cairn_buf cur = {0};
  for (int j = 0; j < n; j++) {
    const char *op = in[j].p;
    size_t len = in[j].len;
    if (open < 0 && len > 0 && op[0] == '(' && op[len - 1] != ')') {
      cur.len = 0;
      cairn_buf_append(&cur, op, len);
      open = j;
      continue;
    }
    if (open >= 0) {
      cairn_buf_putc(&cur, ' ');
      cairn_buf_append(&cur, op, len);
      if (len > 0 && op[len - 1] == ')') {
        owned[m] = memdup0(cur.p, cur.len);
        out[m] = (cairn_str){owned[m], cur.len};
        m++;
        open = -1;
      }
      continue;
    }
    owned[m] = NULL;
    out[m++] = in[j];
  }
  cairn_buf_free(&cur);
  if (open >= 0) {
    for (int i = 0; i < m; i++) free(owned[i]);
    *bad = open;
    return -1;
  }
  return m;
}

/* ---------------------------------------------------------------- registry */

static int user_index(const cairn_acl *acl, const char *name, size_t len, int *found) {
  int lo = 0, hi = acl->nusers - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    const cairn_acl_user *u = acl->users[mid];
    size_t m = u->namelen < len ? u->namelen : len;
    int c = memcmp(u->name, name, m);
    if (c == 0) c = u->namelen < len ? -1 : u->namelen > len ? 1 : 0;
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  *found = 0;
  return lo;
}

static void user_insert(cairn_acl *acl, cairn_acl_user *u) {
  int found, i = user_index(acl, u->name, u->namelen, &found);
  acl->users = cairn_xrealloc(acl->users, sizeof(*acl->users) * (size_t)(acl->nusers + 1));
  memmove(acl->users + i + 1, acl->users + i, sizeof(*acl->users) * (size_t)(acl->nusers - i));
  acl->users[i] = u;
  acl->nusers++;
}

static cairn_acl_user *default_user_new(int pubsub_default) {
  cairn_acl_user *u = user_new("default", 7, pubsub_default);
  user_apply(u, "+@all", 5, pubsub_default);
  user_apply(u, "~*", 2, pubsub_default);
  user_apply(u, "&*", 2, pubsub_default);
  user_apply(u, "on", 2, pubsub_default);
  user_apply(u, "nopass", 6, pubsub_default);
  return u;
}

cairn_acl *cairn_acl_new(void) {
  cairn_acl *acl = cairn_xcalloc(1, sizeof(*acl));
  acl->dflt = default_user_new(0);
  user_insert(acl, acl->dflt);
  return acl;
}

void cairn_acl_log_reset(cairn_acl *acl) {
  for (int i = 0; i < acl->nlog; i++) {
    free(acl->log[i].object);
    free(acl->log[i].username);
    free(acl->log[i].cinfo);
  }
  free(acl->log);
  acl->log = NULL;
  acl->nlog = 0;
}

void cairn_acl_free(cairn_acl *acl) {
  if (!acl) return;
  for (int i = 0; i < acl->nusers; i++) user_free(acl->users[i]);
  free(acl->users);
  cairn_acl_log_reset(acl);
  free(acl);
}

cairn_acl_user *cairn_acl_default_user(cairn_acl *acl) { return acl->dflt; }
const char *cairn_acl_user_name(const cairn_acl_user *u) { return u->name; }
void cairn_acl_set_pubsub_default(cairn_acl *acl, int allchannels) {
  acl->pubsub_default = allchannels ? SEL_ALLCHANNELS : 0;
}
int cairn_acl_user_count(const cairn_acl *acl) { return acl->nusers; }
cairn_acl_user *cairn_acl_user_at(const cairn_acl *acl, int i) { return i < acl->nusers ? acl->users[i] : NULL; }
int cairn_acl_user_enabled(const cairn_acl_user *u) { return !(u->flags & U_DISABLED); }
int cairn_acl_user_nopass(const cairn_acl_user *u) { return (u->flags & U_NOPASS) != 0; }

cairn_acl_user *cairn_acl_user_get(cairn_acl *acl, const char *name, size_t len) {
  int found, i = user_index(acl, name, len, &found);
  return found ? acl->users[i] : NULL;
}

int cairn_acl_setuser(cairn_acl *acl, const char *name, size_t namelen, int nops, const cairn_str *ops, char *err,
                      size_t errlen) {
  if (has_spaces(name, namelen)) {
    snprintf(err, errlen, "Usernames can't contain spaces or null characters");
    return -1;
  }
  cairn_str *merged = cairn_xcalloc((size_t)nops + 1, sizeof(cairn_str));
  char **owned = cairn_xcalloc((size_t)nops + 1, sizeof(char *));
  int bad = 0, m = merge_selector_args(nops, ops, merged, owned, &bad);
  int rc = -1;
  if (m < 0) {
    snprintf(err, errlen, "Unmatched parenthesis in acl selector starting at '%.*s'.", (int)ops[bad].len,
             ops[bad].p);
    free(merged);
    free(owned);
    return -1;
  }
  cairn_acl_user *u = cairn_acl_user_get(acl, name, namelen);
  cairn_acl_user *tmp = user_new(name, namelen, acl->pubsub_default);
  if (u) user_copy_rules(tmp, u);
  for (int j = 0; j < m; j++) {
    int e = user_apply(tmp, merged[j].p, merged[j].len, acl->pubsub_default);
    if (e) {
      snprintf(err, errlen, "Error in ACL SETUSER modifier '%.*s': %s", (int)merged[j].len, merged[j].p,
               error_text(e));
      goto out;
    }
  }
  if (u) {
    user_copy_rules(u, tmp);
  } else {
    user_insert(acl, tmp);
    tmp = NULL;
  }
  rc = 0;
out:
  user_free(tmp);
  for (int j = 0; j < m; j++) free(owned[j]);
  free(owned);
  free(merged);
  return rc;
}

int cairn_acl_deluser(cairn_acl *acl, const char *name, size_t len, cairn_acl_user_gone_fn gone, void *ud) {
  int found, i = user_index(acl, name, len, &found);
  if (!found || acl->users[i] == acl->dflt) return 0;
  cairn_acl_user *u = acl->users[i];
  memmove(acl->users + i, acl->users + i + 1, sizeof(*acl->users) * (size_t)(acl->nusers - i - 1));
  acl->nusers--;
  if (gone) gone(ud, u, acl->dflt);
  user_free(u);
  return 1;
}

void cairn_acl_set_default_password(cairn_acl *acl, const char *pass) {
  user_apply(acl->dflt, "resetpass", 9, acl->pubsub_default);
  if (pass) {
    size_t n = strlen(pass);
    char *op = cairn_xmalloc(n + 2);
    op[0] = '>';
    memcpy(op + 1, pass, n + 1);
    user_apply(acl->dflt, op, n + 1, acl->pubsub_default);
    free(op);
  } else {
    user_apply(acl->dflt, "nopass", 6, acl->pubsub_default);
  }
}

int cairn_acl_check_password(const cairn_acl_user *u, const char *pass, size_t len) {
  if (u->flags & U_DISABLED) return 0;
  if (u->flags & U_NOPASS) return 1;
  char h[65];
  cairn_sha256_hex(pass, len, h);
  int ok = 0;
  for (int i = 0; i < u->npass; i++) {
    unsigned char diff = 0;
    for (int k = 0; k < 64; k++) diff |= (unsigned char)(u->pass[i][k] ^ h[k]);
    ok |= diff == 0;
  }
  return ok;
}

/* ---------------------------------------------------------------- checks */

static int key_allowed(const selector *s, const char *key, size_t klen, int need) {
  if (s->flags & SEL_ALLKEYS) return 1;
  for (int i = 0; i < s->npats; i++) {
    if ((s->pats[i].flags & need) != need) continue;
    if (cairn_glob_match(s->pats[i].p, s->pats[i].len, key, klen, 0)) return 1;
  }
  return 0;
}

static int chan_in_list(const strv *list, int n, const char *ch, size_t len, int is_pattern) {
  for (int i = 0; i < n; i++) {
    if (is_pattern ? (list[i].len == len && memcmp(list[i].p, ch, len) == 0)
                   : cairn_glob_match(list[i].p, list[i].len, ch, len, 0))
      return 1;
  }
  return 0;
}

/* The access a key-spec flags string asks for (PERM_*). */
static int key_need(const char *flags) {
  int need = 0;
  const char *p = flags;
  while (p && *p) {
    const char *e = strchr(p, ' ');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 6 && !memcmp(p, "access", 6)) need |= PERM_READ;
    if ((n == 6 && (!memcmp(p, "insert", 6) || !memcmp(p, "delete", 6) || !memcmp(p, "update", 6))))
      need |= PERM_WRITE;
    p = e ? e + 1 : NULL;
  }
  return need;
}

/* The channels of a command: argument positions, and whether they are
 * patterns (PSUBSCRIBE). Unsubscribing is never checked. */
static int command_channels(const cairn_command *cmd, int argc, int *first, int *last, int *is_pattern) {
  const char *n = cmd->name;
  *is_pattern = 0;
  if (!strcmp(n, "publish") || !strcmp(n, "spublish")) {
    *first = *last = 1;
    return argc > 1;
  }
  if (!strcmp(n, "subscribe") || !strcmp(n, "ssubscribe") || !strcmp(n, "psubscribe")) {
    *first = 1;
    *last = argc - 1;
    *is_pattern = n[0] == 'p';
    return argc > 1;
  }
  return 0;
}

typedef struct keycache {
  int init, n;
  cairn_keyref *refs;
} keycache;

static int sel_check(const selector *s, const cairn_command *cmd, int id, int argc, const cairn_str *argv,
                     int *errpos, keycache *kc) {
  if (!(cmd->flags & CAIRN_CMD_NO_AUTH) && !bit_get(s, id)) {
    if (argc < 2 || !s->firstargs || !s->firstargs[id]) return CAIRN_ACL_DENIED_CMD;
    int idx = ids.parent[id] >= 0 ? 2 : 1;
    if (idx >= argc) return CAIRN_ACL_DENIED_CMD;
    const strv *a = s->firstargs[id];
    for (; a->p; a++)
      if (a->len == argv[idx].len && strncasecmp(a->p, argv[idx].p, a->len) == 0) break;
    if (!a->p) return CAIRN_ACL_DENIED_CMD;
  }
  if (!(s->flags & SEL_ALLKEYS)) {
    if (!kc->init) {
      kc->init = 1;
      kc->n = cairn_command_keys(cmd, argc, argv, &kc->refs);
      if (kc->n < 0) kc->n = 0;
    }
    for (int j = 0; j < kc->n; j++) {
      int pos = kc->refs[j].pos;
      if (!key_allowed(s, argv[pos].p, argv[pos].len, key_need(kc->refs[j].flags))) {
        *errpos = pos;
        return CAIRN_ACL_DENIED_KEY;
      }
    }
  }
  int first, last, is_pattern;
  if (!(s->flags & SEL_ALLCHANNELS) && command_channels(cmd, argc, &first, &last, &is_pattern)) {
    for (int j = first; j <= last; j++) {
      if (!chan_in_list(s->chans, s->nchans, argv[j].p, argv[j].len, is_pattern)) {
        *errpos = j;
        return CAIRN_ACL_DENIED_CHANNEL;
      }
    }
  }
  return CAIRN_ACL_OK;
}

int cairn_acl_check(const cairn_acl_user *u, const cairn_command *cmd, int argc, const cairn_str *argv, int *errpos) {
  if (!u) return CAIRN_ACL_OK;
  int id = id_of(cmd);
  if (id < 0) return CAIRN_ACL_OK; /* not a table command */
  int relevant = CAIRN_ACL_DENIED_CMD, last_idx = 0;
  keycache kc = {0};
  int rc = -1;
  for (int i = 0; i < u->nsels; i++) {
    int pos = 0;
    int r = sel_check(u->sels[i], cmd, id, argc, argv, &pos, &kc);
    if (r == CAIRN_ACL_OK) {
      rc = CAIRN_ACL_OK;
      break;
    }
    if (r > relevant || (r == relevant && pos > last_idx)) {
      relevant = r;
      last_idx = pos;
    }
  }
  free(kc.refs);
  if (rc == CAIRN_ACL_OK) return rc;
  *errpos = last_idx;
  return relevant;
}

int cairn_acl_unrestricted_read(const cairn_acl_user *u, const cairn_command *cmd, int argc, const cairn_str *argv) {
  if (!u) return 1;
  int id = id_of(cmd);
  if (id < 0) return 1;
  keycache kc = {0};
  int ok = 0;
  for (int i = 0; i < u->nsels && !ok; i++) {
    const selector *s = u->sels[i];
    int pos = 0;
    if (sel_check(s, cmd, id, argc, argv, &pos, &kc) != CAIRN_ACL_OK) continue;
    if (s->flags & SEL_ALLKEYS) ok = 1;
    for (int j = 0; j < s->npats && !ok; j++)
      if ((s->pats[j].flags & PERM_READ) && s->pats[j].len == 1 && s->pats[j].p[0] == '*') ok = 1;
  }
  free(kc.refs);
  return ok;
}

int cairn_acl_channel_allowed(const cairn_acl_user *u, const char *ch, size_t len, int is_pattern) {
  for (int i = 0; i < u->nsels; i++) {
    if (u->sels[i]->flags & SEL_ALLCHANNELS) return 1;
    if (chan_in_list(u->sels[i]->chans, u->sels[i]->nchans, ch, len, is_pattern)) return 1;
  }
  return 0;
}

/* ---------------------------------------------------------------- describe */

/* Redis 7.0's ACLDescribeSelectorCommandRules: start from +@all or -@all,
 * add the categories that fit best, then the single commands that still
 * differ (and the first-args). */
static void describe_commands(const selector *s, cairn_buf *out) {
  ids_build();
  int additive = !(s->flags & SEL_FUTURE);
  selector fake = {0}, temp = {0};
  set_all(&fake, !additive);
  cairn_buf_append_str(out, additive ? "-@all " : "+@all ");
  memcpy(temp.allowed, s->allowed, sizeof(temp.allowed));
  char applied[CAIRN_ACL_NCATS] = {0};
  for (;;) {
    int best = -1;
    unsigned long mindiff = (unsigned long)-1, maxsame = 0;
    for (int j = 0; j < CAIRN_ACL_NCATS; j++) {
      if (applied[j]) continue;
      unsigned long on = 0, off = 0;
      for (int id = 0; id < ids.n; id++)
        if (ids.cats[id] & (1u << j)) {
          if (bit_get(&temp, id))
            on++;
          else
            off++;
        }
      unsigned long diff = additive ? off : on, same = additive ? on : off;
      if (same > diff && (diff < mindiff || (diff == mindiff && same > maxsame))) {
        best = j;
        mindiff = diff;
        maxsame = same;
      }
    }
    if (best < 0) break;
    set_category(&fake, best, additive);
    set_category(&temp, best, !additive);
    cairn_buf_printf(out, "%s@%s ", additive ? "+" : "-", cat_names[best]);
    applied[best] = 1;
  }
  for (int id = 0; id < ids.n; id++) {
    int ub = bit_get(s, id), fb = bit_get(&fake, id);
    if (ub != fb) {
      cairn_buf_printf(out, "%s%s ", ub ? "+" : "-", ids.cmd[id]->name);
      change_perm(&fake, id, ub);
    }
    /* first-args exist only on commands without subcommands */
    if (!ub && s->firstargs && s->firstargs[id])
      for (strv *a = s->firstargs[id]; a->p; a++) cairn_buf_printf(out, "+%s|%s ", ids.cmd[id]->name, a->p);
  }
  firstargs_reset_all(&fake);
  if (out->len) out->len--; /* the last space */
}

static void cat_pattern(cairn_buf *out, const keypat *k) {
  cairn_buf_append_str(out, k->flags == PERM_ALL ? "~" : k->flags == PERM_READ ? "%R~" : "%W~");
  cairn_buf_append(out, k->p, k->len);
}

static void describe_selector(const selector *s, cairn_buf *out) {
  if (s->flags & SEL_ALLKEYS) {
    cairn_buf_append_str(out, "~* ");
  } else {
    for (int i = 0; i < s->npats; i++) {
      cat_pattern(out, &s->pats[i]);
      cairn_buf_putc(out, ' ');
    }
  }
  if (s->flags & SEL_ALLCHANNELS) {
    cairn_buf_append_str(out, "&* ");
  } else {
    cairn_buf_append_str(out, "resetchannels ");
    for (int i = 0; i < s->nchans; i++) {
      cairn_buf_putc(out, '&');
      cairn_buf_append(out, s->chans[i].p, s->chans[i].len);
      cairn_buf_putc(out, ' ');
    }
  }
  cairn_buf rules = {0};
  describe_commands(s, &rules);
  cairn_buf_append(out, rules.p, rules.len);
  cairn_buf_free(&rules);
}

static const struct {
  int flag;
  const char *name;
} user_flags[] = {{U_ENABLED, "on"},
                  {U_DISABLED, "off"},
                  {U_NOPASS, "nopass"},
                  {U_SKIP_SANITIZE, "skip-sanitize-payload"},
                  {U_SANITIZE, "sanitize-payload"}};

char *cairn_acl_describe_user(const cairn_acl_user *u) {
  cairn_buf out = {0};
  for (size_t j = 0; j < sizeof(user_flags) / sizeof(user_flags[0]); j++)
    if (u->flags & user_flags[j].flag) cairn_buf_printf(&out, "%s ", user_flags[j].name);
  for (int i = 0; i < u->npass; i++) cairn_buf_printf(&out, "#%s ", u->pass[i]);
  for (int i = 0; i < u->nsels; i++) {
    if (i > 0) cairn_buf_append_str(&out, " (");
    describe_selector(u->sels[i], &out);
    if (i > 0) cairn_buf_putc(&out, ')');
  }
  cairn_buf_putc(&out, '\0');
  return out.p;
}

static void reply_selector(cairn_reply *r, const selector *s) {
  cairn_buf b = {0};
  cairn_reply_bulk_str(r, "commands");
  describe_commands(s, &b);
  cairn_reply_bulk(r, b.p ? b.p : "", b.len);
  b.len = 0;
  cairn_reply_bulk_str(r, "keys");
  if (s->flags & SEL_ALLKEYS) {
    cairn_buf_append_str(&b, "~*");
  } else {
    for (int i = 0; i < s->npats; i++) {
      if (i) cairn_buf_putc(&b, ' ');
      cat_pattern(&b, &s->pats[i]);
    }
  }
  cairn_reply_bulk(r, b.p ? b.p : "", b.len);
  b.len = 0;
  cairn_reply_bulk_str(r, "channels");
  if (s->flags & SEL_ALLCHANNELS) {
    cairn_buf_append_str(&b, "&*");
  } else {
    for (int i = 0; i < s->nchans; i++) {
      if (i) cairn_buf_putc(&b, ' ');
      cairn_buf_putc(&b, '&');
      cairn_buf_append(&b, s->chans[i].p, s->chans[i].len);
    }
  }
  cairn_reply_bulk(r, b.p ? b.p : "", b.len);
  cairn_buf_free(&b);
}

void cairn_acl_reply_getuser(cairn_reply *r, const cairn_acl_user *u) {
  cairn_reply_map(r, 6);
  cairn_reply_bulk_str(r, "flags");
  int nf = 0;
  for (size_t j = 0; j < sizeof(user_flags) / sizeof(user_flags[0]); j++) nf += (u->flags & user_flags[j].flag) != 0;
  cairn_reply_set(r, nf);
  for (size_t j = 0; j < sizeof(user_flags) / sizeof(user_flags[0]); j++)
    if (u->flags & user_flags[j].flag) cairn_reply_bulk_str(r, user_flags[j].name);
  cairn_reply_bulk_str(r, "passwords");
  cairn_reply_array(r, u->npass);
  for (int i = 0; i < u->npass; i++) cairn_reply_bulk(r, u->pass[i], 64);
  reply_selector(r, u->sels[0]);
  cairn_reply_bulk_str(r, "selectors");
  cairn_reply_array(r, u->nsels - 1);
  for (int i = 1; i < u->nsels; i++) {
    cairn_reply_map(r, 3);
    reply_selector(r, u->sels[i]);
  }
}

/* ---------------------------------------------------------------- aclfile */

/* Splits a line on single spaces, like Redis's sdssplitlen(line, " "):
 * empty tokens are kept (and are no-ops for user_apply). */
static int split_spaces(const char *line, size_t n, cairn_str **out) {
  int cnt = 1;
  for (size_t i = 0; i < n; i++) cnt += line[i] == ' ';
  cairn_str *v = cairn_xcalloc((size_t)cnt, sizeof(cairn_str));
  int k = 0;
  size_t st = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || line[i] == ' ') {
      v[k++] = (cairn_str){line + st, i - st};
      st = i + 1;
    }
  }
  *out = v;
  return k;
}

static char *trim(char *s, const char *set) {
  while (*s && strchr(set, *s)) s++;
  size_t n = strlen(s);
  while (n && strchr(set, s[n - 1])) s[--n] = '\0';
  return s;
}

char *cairn_acl_load_file(cairn_acl *acl, const char *path, cairn_acl_user_gone_fn gone, void *ud) {
  cairn_buf errors = {0};
  FILE *f = fopen(path, "r");
  if (!f) {
    cairn_buf_printf(&errors, "Error loading ACLs, opening file '%s': %s", path, strerror(errno));
    cairn_buf_putc(&errors, '\0');
    return errors.p;
  }
  cairn_acl fresh = {0};
  fresh.pubsub_default = acl->pubsub_default;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int linenum = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    linenum++;
    char *l = trim(line, " \t\r\n");
    if (!*l) continue;
    cairn_str *argv;
    int argc = split_spaces(l, strlen(l), &argv);
    /* drop empty tokens at the start ("  user" cannot happen after trim) */
    if (argc < 2 || !(argv[0].len == 4 && !memcmp(argv[0].p, "user", 4)) || argv[1].len == 0) {
      cairn_buf_printf(&errors, "%s:%d should start with user keyword followed by the username. ", path, linenum);
      free(argv);
      continue;
    }
    if (has_spaces(argv[1].p, argv[1].len)) {
      cairn_buf_printf(&errors, "'%s:%d: username '%.*s' contains invalid characters. ", path, linenum,
                       (int)argv[1].len, argv[1].p);
      free(argv);
      continue;
    }
    if (cairn_acl_user_get(&fresh, argv[1].p, argv[1].len)) {
      cairn_buf_printf(&errors, "WARNING: Duplicate user '%.*s' found on line %d. ", (int)argv[1].len, argv[1].p,
                       linenum);
      free(argv);
      continue;
    }
    cairn_acl_user *u = user_new(argv[1].p, argv[1].len, fresh.pubsub_default);
    user_insert(&fresh, u);
    int nops = argc - 2;
    cairn_str *merged = cairn_xcalloc((size_t)nops + 1, sizeof(cairn_str));
    char **owned = cairn_xcalloc((size_t)nops + 1, sizeof(char *));
    int bad = 0, m = merge_selector_args(nops, argv + 2, merged, owned, &bad);
    if (m < 0) {
      cairn_buf_printf(&errors, "%s:%d: Unmatched parenthesis in selector definition.", path, linenum);
      m = 0;
    }
    for (int j = 0; j < m; j++) {
      int e = user_apply(u, merged[j].p, merged[j].len, fresh.pubsub_default);
      if (e) cairn_buf_printf(&errors, "%s:%d: %s. ", path, linenum, error_text(e));
    }
    for (int j = 0; j < m; j++) free(owned[j]);
    free(owned);
    free(merged);
    free(argv);
  }
  free(line);
  fclose(f);
  if (errors.len) {
    for (int i = 0; i < fresh.nusers; i++) user_free(fresh.users[i]);
    free(fresh.users);
    cairn_buf_append_str(&errors, "WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
    cairn_buf_putc(&errors, '\0');
    return errors.p;
  }
  /* Success: the default user object stays (clients point at it). */
  cairn_acl_user *nd = cairn_acl_user_get(&fresh, "default", 7);
  cairn_acl_user *tmpd = NULL;
  if (!nd) nd = tmpd = default_user_new(fresh.pubsub_default);
  user_copy_rules(acl->dflt, nd);
  int found, di = user_index(&fresh, "default", 7, &found);
  if (found) {
    user_free(fresh.users[di]);
    fresh.users[di] = acl->dflt;
  } else {
    user_free(tmpd);
    user_insert(&fresh, acl->dflt);
  }
  for (int i = 0; i < acl->nusers; i++) {
    if (acl->users[i] == acl->dflt) continue;
    if (gone) gone(ud, acl->users[i], acl->dflt);
    user_free(acl->users[i]);
  }
  free(acl->users);
  acl->users = fresh.users;
  acl->nusers = fresh.nusers;
  return NULL;
}

int cairn_acl_save_file(const cairn_acl *acl, const char *path) {
  cairn_buf data = {0};
  for (int i = 0; i < acl->nusers; i++) {
    char *d = cairn_acl_describe_user(acl->users[i]);
    cairn_buf_append_str(&data, "user ");
    cairn_buf_append(&data, acl->users[i]->name, acl->users[i]->namelen);
    cairn_buf_putc(&data, ' ');
    cairn_buf_append_str(&data, d);
    cairn_buf_putc(&data, '\n');
    free(d);
  }
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp-%d-%lld", path, (int)getpid(), (long long)cairn_mstime());
  int rc = -1, saved = 0;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    size_t off = 0;
    while (off < data.len) {
      ssize_t w = write(fd, data.p + off, data.len - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        break;
      }
      off += (size_t)w;
    }
    if (off == data.len && fsync(fd) == 0 && close(fd) == 0) {
      fd = -1;
      if (rename(tmp, path) == 0) rc = 0;
    }
    saved = errno;
    if (fd >= 0) close(fd);
    if (rc != 0) unlink(tmp);
  } else {
    saved = errno;
  }
  if (rc == 0) {
    /* the rename itself durable: fsync the directory */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
      *(slash == dir ? slash + 1 : slash) = '\0';
    else
      snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
  cairn_buf_free(&data);
  if (rc != 0) errno = saved;
  return rc;
}

int cairn_acl_load_config_users(cairn_acl *acl, char ***users, int nusers, char *err, size_t errlen) {
  for (int i = 0; i < nusers; i++) {
    char **argv = users[i];
    const char *name = argv[0];
    for (int j = 0; j < i; j++)
      if (!strcmp(users[j][0], name)) {
        snprintf(err, errlen, "Error in user declaration '%s': %s", name, error_text(E_ALREADY));
        return -1;
      }
    if (has_spaces(name, strlen(name))) {
      snprintf(err, errlen, "Spaces not allowed in ACL usernames");
      return -1;
    }
    int n = 0;
    while (argv[1 + n]) n++;
    cairn_str *ops = cairn_xcalloc((size_t)n + 1, sizeof(cairn_str));
    for (int j = 0; j < n; j++) ops[j] = (cairn_str){argv[1 + j], strlen(argv[1 + j])};
    if (!strcmp(name, "default")) user_apply(acl->dflt, "reset", 5, acl->pubsub_default);
    char e[1024];
    int rc = cairn_acl_setuser(acl, name, strlen(name), n, ops, e, sizeof(e));
    free(ops);
    if (rc != 0) {
      snprintf(err, errlen, "Error in user declaration '%s': %s", name, e);
      return -1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- log */

#define LOG_GROUPING_MS 60000

void cairn_acl_log_add(cairn_acl *acl, int reason, int context, const char *object, size_t objlen,
                       const char *username, size_t userlen, const char *client_info, long long max_len,
                       int64_t now_ms) {
  for (int i = 0; i < acl->nlog && i < 10; i++) {
    log_entry *e = &acl->log[i];
    int64_t d = e->ctime - now_ms;
    if (d < 0) d = -d;
    if (e->reason == reason && e->context == context && d <= LOG_GROUPING_MS && e->objlen == objlen &&
        !memcmp(e->object, object, objlen) && e->userlen == userlen && !memcmp(e->username, username, userlen)) {
      log_entry m = *e;
      memmove(acl->log + 1, acl->log, sizeof(log_entry) * (size_t)i);
      free(m.cinfo);
      m.cinfo = cairn_xstrdup(client_info);
      m.ctime = now_ms;
      m.count++;
      acl->log[0] = m;
      return;
    }
  }
  acl->log = cairn_xrealloc(acl->log, sizeof(log_entry) * (size_t)(acl->nlog + 1));
  memmove(acl->log + 1, acl->log, sizeof(log_entry) * (size_t)acl->nlog);
  acl->log[0] = (log_entry){.count = 1,
                            .reason = reason,
                            .context = context,
                            .object = memdup0(object, objlen),
                            .objlen = objlen,
                            .username = memdup0(username, userlen),
                            .userlen = userlen,
                            .cinfo = cairn_xstrdup(client_info),
                            .ctime = now_ms};
  acl->nlog++;
  while (acl->nlog > 0 && acl->nlog > max_len) {
    log_entry *e = &acl->log[--acl->nlog];
    free(e->object);
    free(e->username);
    free(e->cinfo);
  }
}

void cairn_acl_log_reply(cairn_acl *acl, cairn_reply *r, long long count, int64_t now_ms) {
  if (count > acl->nlog) count = acl->nlog;
  if (count < 0) count = 0;
  cairn_reply_array(r, count);
  for (long long i = 0; i < count; i++) {
    const log_entry *e = &acl->log[i];
    static const char *const reasons[] = {"unknown", "command", "key", "auth", "channel"};
    static const char *const contexts[] = {"toplevel", "multi", "lua"};
    cairn_reply_map(r, 7);
    cairn_reply_bulk_str(r, "count");
    cairn_reply_int(r, e->count);
    cairn_reply_bulk_str(r, "reason");
    cairn_reply_bulk_str(r, e->reason >= 1 && e->reason <= 4 ? reasons[e->reason] : "unknown");
    cairn_reply_bulk_str(r, "context");
    cairn_reply_bulk_str(r, e->context >= 0 && e->context <= 2 ? contexts[e->context] : "unknown");
    cairn_reply_bulk_str(r, "object");
    cairn_reply_bulk(r, e->object, e->objlen);
    cairn_reply_bulk_str(r, "username");
    cairn_reply_bulk(r, e->username, e->userlen);
    cairn_reply_bulk_str(r, "age-seconds");
    cairn_reply_double(r, (double)(now_ms - e->ctime) / 1000);
    cairn_reply_bulk_str(r, "client-info");
    cairn_reply_bulk_str(r, e->cinfo);
  }
}
