/* Handlers of the generic commands that live outside keys.c but are listed
 * in its table (cairn_commands_keys): OBJECT, DUMP, RESTORE (dump.c), SORT
 * and SORT_RO (sort.c). */
#ifndef CAIRN_CMD_GENERIC_H
#define CAIRN_CMD_GENERIC_H

#include "engine/server.h"

extern const cairn_command cairn_object_subcommands[];
void cairn_cmd_dump(cairn_ctx *c);
void cairn_cmd_restore(cairn_ctx *c);
void cairn_cmd_migrate(cairn_ctx *c);
void cairn_cmd_sort(cairn_ctx *c);
void cairn_cmd_sort_ro(cairn_ctx *c);

#endif
