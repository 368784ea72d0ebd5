/* Placeholder: filled by the pubsub work of issue 5. */
#include "engine/server.h"

const cairn_command cairn_commands_pubsub[] = {
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
