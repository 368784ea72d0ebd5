/* Placeholder: filled by the list work of issue 5. */
#include "engine/server.h"

const cairn_command cairn_commands_list[] = {
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
