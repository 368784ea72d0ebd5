/* Finding a command's keys in its arguments (engine/keyspecs.h): Redis
 * 7.0's getKeysUsingKeySpecs over the generated key-spec table, and the
 * native rules of the commands whose specs cannot say it all (SORT,
 * SORT_RO, MIGRATE: keys the specs call unknown or incomplete; SET,
 * BITFIELD: flags that depend on the arguments). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/keyspecs.h"
#include "engine/util.h"

static int count_table(void) {
  static int n = -1;
  if (n < 0)
    for (n = 0; cairn_keyspecs_table[n].name; n++) {
    }
  return n;
}

const cairn_keyspecs *cairn_keyspecs_of(const cairn_command *cmd) {
  if (!cmd || !cmd->name) return NULL;
  int lo = 0, hi = count_table() - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int c = strcmp(cairn_keyspecs_table[mid].name, cmd->name);
    if (c == 0) return &cairn_keyspecs_table[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return NULL;
}

typedef struct keyvec {
  cairn_keyref *v;
  int n, cap;
} keyvec;

static void push(keyvec *k, int pos, const char *flags) {
  if (k->n == k->cap) {
    k->cap = k->cap ? k->cap * 2 : 8;
    k->v = cairn_xrealloc(k->v, sizeof(*k->v) * (size_t)k->cap);
  }
  k->v[k->n].pos = pos;
  k->v[k->n].flags = flags;
  k->n++;
}

static int arg_eq(cairn_str a, const char *lit) { return strlen(lit) == a.len && strncasecmp(a.p, lit, a.len) == 0; }

/* Redis's sortGetKeys / sortROGetKeys: the sorted key, and SORT's last
 * STORE destination (LIMIT skips two arguments, BY and GET one). */
static void sort_keys(int ro, int argc, const cairn_str *argv, keyvec *k) {
  push(k, 1, "RO access");
  if (ro) return;
  int store = 0;
  for (int i = 2; i < argc; i++) {
    if (arg_eq(argv[i], "limit"))
      i += 2;
    else if (arg_eq(argv[i], "get") || arg_eq(argv[i], "by"))
      i += 1;
    else if (arg_eq(argv[i], "store") && i + 1 < argc)
      store = ++i;
  }
  if (store) push(k, store, "OW update");
}

/* Redis's migrateGetKeys: the key argument, or with KEYS (and an empty key
 * argument) every key after it; AUTH takes one argument, AUTH2 two. */
static int migrate_keys(int argc, const cairn_str *argv, keyvec *k) {
  int first = 3, num = 1;
  if (argc > 6) {
    for (int i = 6; i < argc; i++) {
      if (arg_eq(argv[i], "auth")) {
        i++;
      } else if (arg_eq(argv[i], "auth2")) {
        i += 2;
      } else if (arg_eq(argv[i], "keys")) {
        if (argv[3].len > 0) return -1;
        first = i + 1;
        num = argc - first;
        break;
      }
    }
  }
  for (int i = 0; i < num; i++) push(k, first + i, "RW access delete");
  return 0;
}

/* Redis's setGetKeys and bitfieldGetKeys: the key's flags depend on the
 * arguments (SET ... GET reads it; a BITFIELD of GETs only reads). */
static void set_keys(int argc, const cairn_str *argv, keyvec *k) {
  for (int i = 3; i < argc; i++)
    if (arg_eq(argv[i], "get")) {
      push(k, 1, "RW access update");
      return;
    }
  push(k, 1, "OW update");
}

static void bitfield_keys(int argc, const cairn_str *argv, keyvec *k) {
  int readonly = 1;
  for (int i = 2; i < argc; i++) {
    int rem = argc - i - 1;
    if (arg_eq(argv[i], "get") && rem >= 2) {
      i += 2;
    } else if ((arg_eq(argv[i], "set") || arg_eq(argv[i], "incrby")) && rem >= 3) {
      readonly = 0;
      break;
    } else if (arg_eq(argv[i], "overflow") && rem >= 1) {
      i += 1;
    } else {
      readonly = 0;
      break;
    }
  }
  push(k, 1, readonly ? "RO access" : "RW access update");
}

static int by_specs(const cairn_keyspecs *ks, int argc, const cairn_str *argv, keyvec *k) {
  for (int s = 0; s < ks->n; s++) {
    const cairn_keyspec *sp = &ks->specs[s];
    /* "not_key" names what a cluster routes like a key but is none (the
     * shard channels of SSUBSCRIBE, SPUBLISH...): like Redis's default
     * lookup, not a key for GETKEYS, ACL key patterns or tracking. */
    if (sp->flags && strstr(sp->flags, "not_key")) continue;
    int first = 0;
    if (sp->bs == CAIRN_BS_INDEX) {
      first = sp->bs_index;
    } else if (sp->bs == CAIRN_BS_KEYWORD) {
      int start = sp->bs_startfrom > 0 ? sp->bs_startfrom : argc + sp->bs_startfrom;
      int end = sp->bs_startfrom > 0 ? argc - 1 : 1;
      for (int i = start; i != end; i = start <= end ? i + 1 : i - 1) {
        if (i >= argc || i < 1) break;
        if (arg_eq(argv[i], sp->bs_keyword)) {
          first = i + 1;
          break;
        }
      }
      if (!first) continue; /* the keyword is optional */
    } else {
      continue;
    }
    int last, step;
    if (sp->fk == CAIRN_FK_RANGE) {
      if (sp->lastkey >= 0)
        last = first + sp->lastkey;
      else if (!sp->limit)
        last = argc + sp->lastkey;
      else
        last = first + ((argc - first) / sp->limit + sp->lastkey);
      step = sp->keystep;
    } else if (sp->fk == CAIRN_FK_KEYNUM) {
      long long numkeys;
      int at = first + sp->keynumidx;
      if (at >= argc || !cairn_str2ll(argv[at].p, argv[at].len, &numkeys) || numkeys < 0) return -1;
      first += sp->firstkey;
      last = first + (int)numkeys - 1;
      step = sp->keystep;
    } else {
      continue;
    }
    if (step <= 0) step = 1;
    for (int i = first; i <= last; i += step) {
      if (i >= argc || i < first) return -1;
      push(k, i, sp->flags);
    }
  }
  return 0;
}

int cairn_command_keys(const cairn_command *cmd, int argc, const cairn_str *argv, cairn_keyref **out) {
  keyvec k = {0};
  int rc = 0;
  const cairn_keyspecs *ks = cairn_keyspecs_of(cmd);
  if (!strcmp(cmd->name, "sort") || !strcmp(cmd->name, "sort_ro")) {
    sort_keys(cmd->name[4] == '_', argc, argv, &k);
  } else if (!strcmp(cmd->name, "set")) {
    set_keys(argc, argv, &k);
  } else if (!strcmp(cmd->name, "bitfield")) {
    bitfield_keys(argc, argv, &k);
  } else if (!strcmp(cmd->name, "migrate")) {
    rc = migrate_keys(argc, argv, &k);
  } else if (ks) {
    rc = by_specs(ks, argc, argv, &k);
  } else if (cmd->first_key > 0) {
    /* not in the table: the legacy triple */
    int last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    for (int i = cmd->first_key; i <= last && i < argc; i += step)
      push(&k, i, cmd->flags & CAIRN_CMD_WRITE ? "RW access update" : "RO access");
  }
  if (rc < 0) {
    free(k.v);
    *out = NULL;
    return -1;
  }
  *out = k.v;
  return k.n;
}
