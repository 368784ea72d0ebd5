/* Placeholder: filled by the multi work of issue 5. */
#include "engine/server.h"

const cairn_command cairn_commands_multi[] = {
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
