/* Placeholder: filled by the zset work of issue 5. */
#include "engine/server.h"

const cairn_command cairn_commands_zset[] = {
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
