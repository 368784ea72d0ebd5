/* libFuzzer target for the replica's side of the replication handshake
 * (replication/handshake.c): the master's reply lines, whatever they are.
 *
 * Input: byte 0 picks the parameters (AUTH with or without a user), the rest
 * is the master's byte stream, cut into lines at '\n' (a trailing '\r' is
 * dropped, as the replica's line reader does). The machine is driven as the
 * replica drives it: the commands it asks for are taken, then a line is fed.
 * Checked: every command it makes has 1..CAIRN_HS_MAX_ARGS NUL-terminated
 * arguments; an id it reports is 40 hex digits; a FAIL or RETRY has a reason;
 * after DONE or FAILED it takes nothing more. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/handshake.h"

static void die(const char *what) {
  fprintf(stderr, "fuzz_handshake: %s\n", what);
  abort();
}

static void check_id(const char *id) {
  if (strlen(id) != 40) die("an id that is not 40 characters");
  for (int i = 0; i < 40; i++)
    if (!strchr("0123456789abcdefABCDEF", id[i])) die("an id that is not hex");
}

static void take_commands(cairn_hs *hs, const cairn_hs_params *p) {
  cairn_hs_cmd cmd;
  int n = 0;
  while (cairn_hs_next_command(hs, p, &cmd)) {
    if (cmd.argc < 1 || cmd.argc > CAIRN_HS_MAX_ARGS) die("argc out of range");
    for (int i = 0; i < cmd.argc; i++)
      if (!cmd.argv[i] || strlen(cmd.argv[i]) > 4096) die("a bad argument");
    if (++n > 16) die("the machine asks for commands forever");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  cairn_hs_params p = {.masteruser = (data[0] & 1) ? "repl" : NULL,
                       .masterauth = (data[0] & 2) ? "secret" : NULL,
                       .listening_port = 6380,
                       .replid = "0123456789abcdef0123456789abcdef01234567",
                       .offset = data[0] >> 2};
  data++;
  size--;
  cairn_hs hs;
  cairn_hs_init(&hs);
  take_commands(&hs, &p);
  size_t at = 0;
  while (at < size) {
    const uint8_t *nl = memchr(data + at, '\n', size - at);
    size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
    size_t l = len;
    if (l && data[at + l - 1] == '\r') l--;
    char *line = malloc(l + 1); /* exact size: a read past the line is caught */
    memcpy(line, data + at, l);
    line[l] = '\0';
    cairn_hs_state before = hs.state;
    cairn_hs_result res;
    memset(&res, 0x7f, sizeof(res));
    cairn_hs_event ev = cairn_hs_feed(&hs, line, l, &res);
    free(line);
    at += len + (nl ? 1 : 0);
    if ((before == CAIRN_HS_DONE || before == CAIRN_HS_FAILED) && ev != CAIRN_HS_FAIL && ev != CAIRN_HS_WAIT)
      die("a finished handshake moved on");
    switch (ev) {
      case CAIRN_HS_SEND: take_commands(&hs, &p); break;
      case CAIRN_HS_FULLSYNC:
        check_id(res.replid);
        if (hs.state != CAIRN_HS_DONE) die("FULLSYNC but not done");
        break;
      case CAIRN_HS_CONTINUE:
        if (res.new_id) check_id(res.replid);
        if (hs.state != CAIRN_HS_DONE) die("CONTINUE but not done");
        break;
      case CAIRN_HS_RETRY:
      case CAIRN_HS_FAIL:
        if (!memchr(res.why, '\0', sizeof(res.why)) || res.why[0] == '\0') die("a failure without a reason");
        break;
      case CAIRN_HS_WAIT: break;
      default: die("an unknown event");
    }
    if (hs.state == CAIRN_HS_DONE || hs.state == CAIRN_HS_FAILED) break;
  }
  return 0;
}
