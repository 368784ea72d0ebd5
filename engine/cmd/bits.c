#include "engine/server.h"

const cairn_command cairn_commands_bits[] = {
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
