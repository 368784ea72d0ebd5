/* The replica's side of the replication handshake (../shared/PROTOCOL.md
 * section 2) as a pure state machine: no socket, no server, no loop. The
 * caller (replica.c) owns the connection: it asks the machine for the commands
 * to send, feeds it every reply line, and acts on what the machine answers.
 *
 *   PING                                  -> +PONG (or -NOAUTH, -NOPERM,
 *                                            -ERR operation not permitted)
 *   AUTH [masteruser] masterauth          -> must not be an error
 *   REPLCONF listening-port <port>        -> anything (errors ignored)
 *   REPLCONF capa eof capa psync2 [capa cairn-zstd]  -> anything (errors
 *                                            ignored; cairn-zstd: params.frames)
 *   REPLCONF slot-name <name>             (cairn, only with replica-slot-name)
 *                                            -> anything (an error: a Redis
 *                                            master; ignored)
 *   REPLCONF resume-sync <replid> <offset> <pos>   (cairn, only when a cut
 *                                            full sync is kept) -> +OK: the
 *                                            master resumes it (hs.resumed);
 *                                            an error: it will not
 *   PSYNC <replid> <offset + 1>           -> +FULLRESYNC <id> <offset>
 *                                            | +CONTINUE [<id> [cairn-zstd]]
 *                                            | -NOMASTERLINK / -LOADING (retry)
 *
 * AUTH (only when masterauth is set) and the two REPLCONFs go out pipelined
 * after PING's reply; their replies are then read in order. PSYNC goes out
 * after the capa reply. An empty line is a keepalive only while waiting for
 * PSYNC's reply; before that it counts as a reply, as in Redis. */
#ifndef CAIRN_HANDSHAKE_H
#define CAIRN_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

typedef enum cairn_hs_state {
  CAIRN_HS_SEND_PING,  /* to send: PING (the state after cairn_hs_init) */
  CAIRN_HS_WAIT_PING,  /* PING's reply */
  CAIRN_HS_SEND_AUTH,  /* to send: AUTH, if masterauth is set */
  CAIRN_HS_SEND_PORT,  /* to send: REPLCONF listening-port */
  CAIRN_HS_SEND_CAPA,  /* to send: REPLCONF capa eof capa psync2 */
  CAIRN_HS_WAIT_AUTH,  /* AUTH's reply */
  CAIRN_HS_WAIT_PORT,  /* REPLCONF listening-port's reply */
  CAIRN_HS_WAIT_CAPA,  /* REPLCONF capa's reply */
  CAIRN_HS_SEND_SLOTNAME, /* to send: REPLCONF slot-name (entered from SEND_PSYNC with params.slot_name) */
  CAIRN_HS_WAIT_SLOTNAME, /* its reply (ignored) */
  CAIRN_HS_SEND_RESUME, /* to send: REPLCONF resume-sync (entered from SEND_PSYNC when a cut full sync is kept) */
  CAIRN_HS_WAIT_RESUME, /* its reply */
  CAIRN_HS_SEND_PSYNC, /* to send: PSYNC */
  CAIRN_HS_WAIT_PSYNC, /* PSYNC's reply (empty lines are keepalives) */
  CAIRN_HS_DONE,       /* FULLSYNC or CONTINUE was given */
  CAIRN_HS_FAILED,     /* RETRY or FAIL was given */
} cairn_hs_state;

/* What a reply line led to. */
typedef enum cairn_hs_event {
  CAIRN_HS_WAIT,     /* taken; wait for the next line */
  CAIRN_HS_SEND,     /* commands to send now: cairn_hs_next_command until 0 */
  CAIRN_HS_FULLSYNC, /* +FULLRESYNC: result.replid and result.offset; the payload follows */
  CAIRN_HS_CONTINUE, /* +CONTINUE: partial resync; result.new_id says whether result.replid is a new id */
  CAIRN_HS_RETRY,    /* the master cannot PSYNC now but should later: close, result.why */
  CAIRN_HS_FAIL,     /* close, result.why */
} cairn_hs_event;

typedef struct cairn_hs {
  cairn_hs_state state;
  int sent_auth;  /* AUTH went out: its reply comes first */
  char replid[41]; /* the id PSYNC asked for (a +CONTINUE id equal to it is no new id) */
  int resume_asked; /* REPLCONF resume-sync went out */
  int slot_named;   /* REPLCONF slot-name went out */
  int asked_frames; /* capa cairn-zstd went out */
  int resumed;     /* the master accepted REPLCONF resume-sync: its +FULLRESYNC
                    * continues that full sync ($<bytes left>) */
} cairn_hs;

/* Read when a command is made, so each value is the one current when it is
 * sent. The strings must outlive the command made from them. */
typedef struct cairn_hs_params {
  const char *masteruser; /* NULL or "": AUTH <masterauth> */
  const char *masterauth; /* NULL or "": no AUTH */
  int listening_port;
  const char *replid;     /* our replication id */
  uint64_t offset;        /* our stream offset: PSYNC asks for offset + 1 */
  /* a full sync cut off mid-payload and kept (NULL: none): its +FULLRESYNC
   * id and offset, and the payload bytes already loaded */
  const char *resume_replid;
  uint64_t resume_offset, resume_pos;
  int frames;             /* announce capa cairn-zstd: a catch-up may come as stored frames */
  const char *slot_name;  /* NULL or "": no REPLCONF slot-name */
} cairn_hs_params;

#define CAIRN_HS_MAX_ARGS 7

typedef struct cairn_hs_cmd {
  int argc;
  const char *argv[CAIRN_HS_MAX_ARGS]; /* into the params, string constants or num */
  char num[24];                        /* the port or the offset */
  char num2[24];                       /* resume-sync's position */
} cairn_hs_cmd;

typedef struct cairn_hs_result {
  char replid[41];  /* FULLSYNC: the master's id; CONTINUE with new_id: the new id */
  int new_id;       /* CONTINUE: the master named an id other than ours */
  int framed;       /* CONTINUE: "cairn-zstd" after the id: the stream comes in frames (replica.c) */
  uint64_t offset;  /* FULLSYNC: the master's offset */
  char why[1100];   /* RETRY, FAIL: for the log */
} cairn_hs_result;

/* A new attempt on a fresh connection: state CAIRN_HS_SEND_PING. */
void cairn_hs_init(cairn_hs *hs);

/* The next command to send now: 1 with *cmd filled (the machine moves past
 * it), or 0 when the machine is waiting for a reply or finished. Call it until
 * 0 after cairn_hs_init and after every CAIRN_HS_SEND. */
int cairn_hs_next_command(cairn_hs *hs, const cairn_hs_params *p, cairn_hs_cmd *cmd);

/* One reply line, without its CRLF: len bytes followed by a '\0'. */
cairn_hs_event cairn_hs_feed(cairn_hs *hs, const char *line, size_t len, cairn_hs_result *out);

#endif
