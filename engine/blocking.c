/* Blocking commands: placeholder until the list work of issue 5 lands. It
 * never blocks: callers answer as on timeout. */
#include "engine/server.h"

int cairn_can_block(cairn_ctx *c) {
  (void)c;
  return 0;
}

void cairn_block_for_keys(cairn_ctx *c, const cairn_str *keys, int nkeys, int64_t timeout_ms) {
  (void)keys, (void)nkeys, (void)timeout_ms;
  cairn_reply_null_array(&c->reply);
}

void cairn_signal_key_ready(cairn_ctx *c, cairn_str key) { (void)c, (void)key; }
