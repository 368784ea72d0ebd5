/* Placeholder: filled by the multi work of issue 5. */
#include "engine/server.h"

void cairn_multi_queue(cairn_client *c, const cairn_command *cmd, int argc, const cairn_str *argv) {
  (void)c, (void)cmd, (void)argc, (void)argv;
}
void cairn_multi_queued_flags(const cairn_client *c, uint32_t *any, uint32_t *all) {
  (void)c;
  *any = 0;
  *all = ~0u;
}
int cairn_multi_count(const cairn_client *c) { return (c->flags & CAIRN_CLIENT_MULTI) ? 0 : -1; }
size_t cairn_multi_memory(const cairn_client *c) { return (void)c, 0; }
void cairn_multi_client_reset(cairn_client *c) { (void)c; }
void cairn_watch_touch_all(cairn_server *srv) { (void)srv; }

const cairn_command cairn_commands_multi[] = {
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};
