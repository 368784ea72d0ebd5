/* Key specs: where a command's keys are in its arguments and what it does
 * with them, as Redis 7.0 describes them (COMMAND INFO's key_specs,
 * COMMAND GETKEYS / GETKEYSANDFLAGS, the movablekeys flag). The table,
 * engine/keyspecs.c, is generated from redis-server 7.0.15's COMMAND INFO by
 * scripts/gen-keyspecs.py; a command cairn has but the table does not know
 * falls back to its legacy (first, last, step) triple.
 *
 * Threads: any (read-only data). */
#ifndef CAIRN_KEYSPECS_H
#define CAIRN_KEYSPECS_H

#include "engine/command.h"

enum { CAIRN_BS_UNKNOWN = 0, CAIRN_BS_INDEX, CAIRN_BS_KEYWORD };
enum { CAIRN_FK_UNKNOWN = 0, CAIRN_FK_RANGE, CAIRN_FK_KEYNUM };

typedef struct cairn_keyspec {
  const char *flags; /* Redis's key-spec flags, space separated: "RW access delete" */
  const char *notes; /* or NULL */
  int bs;            /* begin_search: CAIRN_BS_* */
  int bs_index;      /* INDEX: the first key's position */
  const char *bs_keyword; /* KEYWORD: the keyword before the keys... */
  int bs_startfrom;  /* ...searched from this position (negative: from the end, backwards) */
  int fk;            /* find_keys: CAIRN_FK_* */
  int lastkey, keystep, limit; /* RANGE */
  int keynumidx, firstkey;     /* KEYNUM (keystep shared) */
} cairn_keyspec;

typedef struct cairn_keyspecs {
  const char *name; /* "zunionstore", "config|get"... */
  int movablekeys;  /* key positions depend on the arguments */
  int n;
  cairn_keyspec specs[3];
} cairn_keyspecs;

extern const cairn_keyspecs cairn_keyspecs_table[]; /* sorted by name, NULL-terminated */

/* The key specs of cmd (its full name, "container|sub" for a subcommand),
 * or NULL when the table does not know it. */
const cairn_keyspecs *cairn_keyspecs_of(const cairn_command *cmd);

/* One key found in a command's arguments: its position and its key-spec
 * flags. */
typedef struct cairn_keyref {
  int pos;
  const char *flags;
} cairn_keyref;

/* Redis 7.0's getKeysFromCommandWithSpecs for COMMAND GETKEYS: the keys of
 * argv (argv[0] is the command name), with the own rules of SORT, SORT_RO
 * and MIGRATE (keys the specs cannot find) and of SET and BITFIELD (flags
 * that depend on the arguments). Returns the number
 * of keys stored in *out (malloc'ed, freed by the caller), or -1 when the
 * arguments do not hold valid key positions (a numkeys that is not a number
 * or runs past the arguments). */
int cairn_command_keys(const cairn_command *cmd, int argc, const cairn_str *argv, cairn_keyref **out);

#endif
