/* The replica's handshake as a pure state machine: see handshake.h. */
#include "replication/handshake.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FULLRESYNC "+FULLRESYNC "
#define CONTINUE "+CONTINUE"
#define CONTINUE_ID_AT (sizeof(CONTINUE) - 1 + 1) /* "+CONTINUE <id>" */
#define REPLID_LEN 40

void cairn_hs_init(cairn_hs *hs) {
  memset(hs, 0, sizeof(*hs));
  hs->state = CAIRN_HS_SEND_PING;
}

static void set_cmd(cairn_hs_cmd *cmd, int argc, const char *const *argv) {
  cmd->argc = argc;
  for (int i = 0; i < argc; i++) cmd->argv[i] = argv[i];
}

int cairn_hs_next_command(cairn_hs *hs, const cairn_hs_params *p, cairn_hs_cmd *cmd) {
  switch (hs->state) {
  case CAIRN_HS_SEND_PING: {
    const char *a[] = {"PING"};
    set_cmd(cmd, 1, a);
    hs->state = CAIRN_HS_WAIT_PING;
    return 1;
  }
  case CAIRN_HS_SEND_AUTH:
    hs->state = CAIRN_HS_SEND_PORT;
    hs->sent_auth = p->masterauth && *p->masterauth;
    if (!hs->sent_auth) return cairn_hs_next_command(hs, p, cmd);
    if (p->masteruser && *p->masteruser) {
      const char *a[] = {"AUTH", p->masteruser, p->masterauth};
      set_cmd(cmd, 3, a);
    } else {
      const char *a[] = {"AUTH", p->masterauth};
      set_cmd(cmd, 2, a);
    }
    return 1;
  case CAIRN_HS_SEND_PORT: {
    snprintf(cmd->num, sizeof(cmd->num), "%d", p->listening_port);
    const char *a[] = {"REPLCONF", "listening-port", cmd->num};
    set_cmd(cmd, 3, a);
    hs->state = CAIRN_HS_SEND_CAPA;
    return 1;
  }
  case CAIRN_HS_SEND_CAPA: {
    const char *a[] = {"REPLCONF", "capa", "eof", "capa", "psync2", "capa", "cairn-zstd"};
    hs->asked_frames = p->frames != 0;
    set_cmd(cmd, hs->asked_frames ? 7 : 5, a);
    hs->state = hs->sent_auth ? CAIRN_HS_WAIT_AUTH : CAIRN_HS_WAIT_PORT;
    return 1;
  }
  case CAIRN_HS_SEND_RESUME: {
    snprintf(cmd->num, sizeof(cmd->num), "%llu", (unsigned long long)p->resume_offset);
    snprintf(cmd->num2, sizeof(cmd->num2), "%llu", (unsigned long long)p->resume_pos);
    const char *a[] = {"REPLCONF", "resume-sync", p->resume_replid, cmd->num, cmd->num2};
    set_cmd(cmd, 5, a);
    hs->state = CAIRN_HS_WAIT_RESUME;
    return 1;
  }
  case CAIRN_HS_SEND_SLOTNAME: {
    const char *a[] = {"REPLCONF", "slot-name", p->slot_name};
    set_cmd(cmd, 3, a);
    hs->state = CAIRN_HS_WAIT_SLOTNAME;
    return 1;
  }
  case CAIRN_HS_SEND_PSYNC: {
    if (p->slot_name && *p->slot_name && !hs->slot_named) {
      hs->slot_named = 1;
      hs->state = CAIRN_HS_SEND_SLOTNAME;
      return cairn_hs_next_command(hs, p, cmd);
    }
    if (p->resume_replid && *p->resume_replid && !hs->resume_asked) {
      hs->resume_asked = 1;
      hs->state = CAIRN_HS_SEND_RESUME;
      return cairn_hs_next_command(hs, p, cmd);
    }
    snprintf(hs->replid, sizeof(hs->replid), "%s", p->replid);
    snprintf(cmd->num, sizeof(cmd->num), "%llu", (unsigned long long)(p->offset + 1));
    const char *a[] = {"PSYNC", p->replid, cmd->num};
    set_cmd(cmd, 3, a);
    hs->state = CAIRN_HS_WAIT_PSYNC;
    return 1;
  }
  default:
    return 0;
  }
}

/* ---------------------------------------------------------------- replies */

/* line (len bytes, then '\0') begins with word. */
static int has_prefix(const char *line, size_t len, const char *word) {
  size_t n = strlen(word);
  return len >= n && !memcmp(line, word, n);
}

static int is_error(const char *line, size_t len) { return len > 0 && line[0] == '-'; }

static cairn_hs_event finish(cairn_hs *hs, cairn_hs_event ev) {
  hs->state = ev == CAIRN_HS_FULLSYNC || ev == CAIRN_HS_CONTINUE ? CAIRN_HS_DONE : CAIRN_HS_FAILED;
  return ev;
}

static cairn_hs_event fail(cairn_hs *hs, cairn_hs_result *out, const char *fmt, const char *line) {
  snprintf(out->why, sizeof(out->why), fmt, line);
  return finish(hs, CAIRN_HS_FAIL);
}

/* Errors that still prove a live master: it wants AUTH first, as Redis accepts. */
static const char *const ping_errors_taken[] = {"-NOAUTH", "-NOPERM", "-ERR operation not permitted"};

static cairn_hs_event ping_reply(cairn_hs *hs, const char *line, size_t len, cairn_hs_result *out) {
  if (is_error(line, len)) {
    size_t i = 0, n = sizeof(ping_errors_taken) / sizeof(ping_errors_taken[0]);
    while (i < n && !has_prefix(line, len, ping_errors_taken[i])) i++;
    if (i == n) return fail(hs, out, "error reply to PING from master: '%s'", line);
  }
  hs->state = CAIRN_HS_SEND_AUTH;
  return CAIRN_HS_SEND;
}

/* "<40-char id> <offset>", after "+FULLRESYNC ". The id ends at the first
 * space; the offset is read like Redis's strtoll would (leading blanks, sign,
 * then digits; no digits is 0; what follows is ignored). */
/* A replication id is 40 hex digits (Redis makes them so): anything else
 * would end up in the MANIFEST, INFO and the next PSYNC, so it is refused. */
static int is_replid(const char *id) {
  for (int i = 0; i < REPLID_LEN; i++)
    if (!isxdigit((unsigned char)id[i])) return 0;
  return 1;
}

static cairn_hs_event fullresync(cairn_hs *hs, const char *args, cairn_hs_result *out) {
  size_t idlen = strcspn(args, " ");
  if (args[idlen] != ' ' || idlen != REPLID_LEN) {
    snprintf(out->why, sizeof(out->why), "bad +FULLRESYNC reply");
    return finish(hs, CAIRN_HS_FAIL);
  }
  if (!is_replid(args)) {
    snprintf(out->why, sizeof(out->why), "bad +FULLRESYNC reply: the replication id is not 40 hex digits");
    return finish(hs, CAIRN_HS_FAIL);
  }
  memcpy(out->replid, args, REPLID_LEN);
  out->replid[REPLID_LEN] = '\0';
  out->offset = strtoull(args + REPLID_LEN + 1, NULL, 10);
  return finish(hs, CAIRN_HS_FULLSYNC);
}

/* "+CONTINUE" or "+CONTINUE <id>": the id is the 40 bytes after the 10th
 * (what follows them is ignored), compared without case. */
static cairn_hs_event continue_reply(cairn_hs *hs, const char *line, size_t len, cairn_hs_result *out) {
  const char *id = line + CONTINUE_ID_AT;
  out->new_id = len >= CONTINUE_ID_AT + REPLID_LEN && strncasecmp(id, hs->replid, REPLID_LEN) != 0;
  if (out->new_id && !is_replid(id)) {
    snprintf(out->why, sizeof(out->why), "bad +CONTINUE reply: the new replication id is not 40 hex digits");
    return finish(hs, CAIRN_HS_FAIL);
  }
  if (out->new_id) {
    memcpy(out->replid, id, REPLID_LEN);
    out->replid[REPLID_LEN] = '\0';
  }
  out->framed = hs->asked_frames && len >= CONTINUE_ID_AT + REPLID_LEN + 11 &&
                !memcmp(id + REPLID_LEN, " cairn-zstd", 11);
  return finish(hs, CAIRN_HS_CONTINUE);
}

static cairn_hs_event psync_reply(cairn_hs *hs, const char *line, size_t len, cairn_hs_result *out) {
  if (len == 0) return CAIRN_HS_WAIT; /* keepalive */
  if (has_prefix(line, len, FULLRESYNC)) return fullresync(hs, line + strlen(FULLRESYNC), out);
  if (has_prefix(line, len, CONTINUE)) return continue_reply(hs, line, len, out);
  if (has_prefix(line, len, "-NOMASTERLINK") || has_prefix(line, len, "-LOADING")) {
    snprintf(out->why, sizeof(out->why), "master is currently unable to PSYNC but should be in the future");
    return finish(hs, CAIRN_HS_RETRY);
  }
  return fail(hs, out, "unexpected reply to PSYNC from master: '%s'", line);
}

cairn_hs_event cairn_hs_feed(cairn_hs *hs, const char *line, size_t len, cairn_hs_result *out) {
  memset(out, 0, sizeof(*out));
  switch (hs->state) {
  case CAIRN_HS_WAIT_PING:
    return ping_reply(hs, line, len, out);
  case CAIRN_HS_WAIT_AUTH:
    if (is_error(line, len)) return fail(hs, out, "Unable to AUTH to MASTER: %s", line);
    hs->state = CAIRN_HS_WAIT_PORT;
    return CAIRN_HS_WAIT;
  case CAIRN_HS_WAIT_PORT: /* REPLCONF errors are ignored, like Redis */
    hs->state = CAIRN_HS_WAIT_CAPA;
    return CAIRN_HS_WAIT;
  case CAIRN_HS_WAIT_CAPA:
    hs->state = CAIRN_HS_SEND_PSYNC;
    return CAIRN_HS_SEND;
  case CAIRN_HS_WAIT_SLOTNAME: /* an error (a Redis master, a bad name: logged by the master) is no failure */
    hs->state = CAIRN_HS_SEND_PSYNC;
    return CAIRN_HS_SEND;
  case CAIRN_HS_WAIT_RESUME: /* an error (a Redis master, or nothing to resume) is no failure */
    hs->resumed = len == 3 && !memcmp(line, "+OK", 3);
    hs->state = CAIRN_HS_SEND_PSYNC;
    return CAIRN_HS_SEND;
  case CAIRN_HS_WAIT_PSYNC:
    return psync_reply(hs, line, len, out);
  default:
    return fail(hs, out, "reply while no reply is expected in the handshake: '%s'", line);
  }
}
