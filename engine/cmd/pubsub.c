/* Placeholder: filled by the pubsub work of issue 5. */
#include "engine/server.h"

void cairn_pubsub_client_reset(cairn_client *c) { (void)c; }
void cairn_pubsub_client_counts(const cairn_client *c, long *channels, long *patterns) {
  (void)c;
  *channels = *patterns = 0;
}
void cairn_pubsub_counts(long *channels, long *patterns) { *channels = *patterns = 0; }
void cairn_pubsub_hold(void) {}
void cairn_pubsub_release(int deliver) { (void)deliver; }

const cairn_command cairn_commands_pubsub[] = {
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
