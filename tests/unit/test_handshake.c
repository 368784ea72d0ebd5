/* Unit tests for replication/handshake.c: the replica's handshake fed reply
 * lines. Expected bytes are those of ../shared/PROTOCOL.md section 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/resp.h"
#include "replication/handshake.h"

#define OUR_ID "0123456789abcdef0123456789abcdef01234567"
#define MASTER_ID "fedcba9876543210fedcba9876543210fedcba98"

#define PING "*1\r\n$4\r\nPING\r\n"
#define PORT "*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$4\r\n6380\r\n"
#define CAPA "*5\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n$4\r\ncapa\r\n$6\r\npsync2\r\n"
#define PSYNC "*3\r\n$5\r\nPSYNC\r\n$40\r\n" OUR_ID "\r\n$4\r\n1001\r\n"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* One test's machine, the values it is given, and what it gave last. */
typedef struct fixture {
  cairn_hs hs;
  cairn_hs_params p;
  cairn_hs_result r;
  cairn_hs_cmd c;
  cairn_buf b; /* the bytes of the last commands drained */
} fixture;

static cairn_hs_params params(const char *user, const char *auth) {
  cairn_hs_params p = {.masteruser = user, .masterauth = auth, .listening_port = 6380, .replid = OUR_ID, .offset = 1000};
  return p;
}

static int setup(void **state) {
  fixture *t = calloc(1, sizeof(*t));
  t->p = params(NULL, NULL);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  fixture *t = *state;
  cairn_buf_free(&t->b);
  free(t);
  return 0;
}

static cairn_hs_event feed(fixture *t, const char *line) { return cairn_hs_feed(&t->hs, line, strlen(line), &t->r); }

/* Feeds line; the machine must answer ev and be in st. */
static void step(fixture *t, const char *line, cairn_hs_event ev, cairn_hs_state st) {
  cairn_hs_event got = feed(t, line);
  if (got != ev || t->hs.state != st)
    fail_msg("'%s': event %d state %d, expected %d and %d", line, (int)got, (int)t->hs.state, (int)ev, (int)st);
}

/* The next command, its arguments joined by spaces ("" when there is none). */
static void next_is(fixture *t, const char *joined, cairn_hs_state st) {
  char got[256] = "";
  if (cairn_hs_next_command(&t->hs, &t->p, &t->c)) {
    assert_true(t->c.argc >= 1 && t->c.argc <= CAIRN_HS_MAX_ARGS);
    for (int i = 0; i < t->c.argc; i++)
      snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "", t->c.argv[i]);
  }
  assert_string_equal(got, joined);
  assert_int_equal(t->hs.state, st);
}

/* Every command due now must be these RESP bytes on the wire. */
static void sends(fixture *t, const char *expected) {
  cairn_hs_cmd c;
  size_t n = strlen(expected);
  t->b.len = 0;
  while (cairn_hs_next_command(&t->hs, &t->p, &c)) {
    cairn_str a[CAIRN_HS_MAX_ARGS];
    for (int i = 0; i < c.argc; i++) {
      a[i].p = c.argv[i];
      a[i].len = strlen(c.argv[i]);
    }
    cairn_resp_append_command(&t->b, c.argc, a);
  }
  if (t->b.len != n || memcmp(t->b.p, expected, n) != 0)
    fail_msg("sent %zu bytes '%.*s', expected '%s'", t->b.len, (int)t->b.len, t->b.p, expected);
}

/* A new attempt: PING sent, then reply fed to it. */
static cairn_hs_event ping_then(fixture *t, const char *reply) {
  cairn_hs_init(&t->hs);
  sends(t, PING);
  return feed(t, reply);
}

/* A new attempt up to the pipelined burst, which must be these bytes. */
static void to_burst(fixture *t, const char *burst) {
  assert_int_equal(ping_then(t, "+PONG"), CAIRN_HS_SEND);
  sends(t, burst);
}

/* Up to PSYNC's reply: PING, PONG, the pipelined burst, +OK to each. */
static void to_psync(fixture *t, const char *burst) {
  to_burst(t, burst);
  if (t->hs.sent_auth) step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_PORT);
  step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_CAPA);
  step(t, "+OK", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
  sends(t, PSYNC);
  assert_int_equal(t->hs.state, CAIRN_HS_WAIT_PSYNC);
}

/* A new attempt without AUTH up to PSYNC, then reply fed to it. */
static cairn_hs_event psync_then(fixture *t, const char *reply) {
  to_psync(t, PORT CAPA);
  return feed(t, reply);
}

/* ---------------------------------------------------------------- commands and states */

static void test_without_auth(void **state) {
  fixture *t = *state;
  cairn_hs_init(&t->hs);
  assert_int_equal(t->hs.state, CAIRN_HS_SEND_PING);
  next_is(t, "PING", CAIRN_HS_WAIT_PING);
  next_is(t, "", CAIRN_HS_WAIT_PING); /* waits for PING's reply */
  step(t, "+PONG", CAIRN_HS_SEND, CAIRN_HS_SEND_AUTH);
  next_is(t, "REPLCONF listening-port 6380", CAIRN_HS_SEND_CAPA);
  next_is(t, "REPLCONF capa eof capa psync2", CAIRN_HS_WAIT_PORT);
  assert_int_equal(t->hs.sent_auth, 0);
  next_is(t, "", CAIRN_HS_WAIT_PORT);
  step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_CAPA);
  next_is(t, "", CAIRN_HS_WAIT_CAPA);
  step(t, "+OK", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
  next_is(t, "PSYNC " OUR_ID " 1001", CAIRN_HS_WAIT_PSYNC);
  assert_string_equal(t->hs.replid, OUR_ID);
  next_is(t, "", CAIRN_HS_WAIT_PSYNC);
}

static void test_wire_bytes(void **state) { to_psync(*state, PORT CAPA); }

static void test_auth_password(void **state) {
  fixture *t = *state;
  t->p = params(NULL, "s3cret");
  to_psync(t, "*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n" PORT CAPA);
  assert_int_equal(t->hs.sent_auth, 1);
  t->p = params("", "s3cret"); /* an empty masteruser is no user */
  to_psync(t, "*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n" PORT CAPA);
}

static void test_auth_user(void **state) {
  fixture *t = *state;
  t->p = params("repl", "s3cret");
  to_psync(t, "*3\r\n$4\r\nAUTH\r\n$4\r\nrepl\r\n$6\r\ns3cret\r\n" PORT CAPA);
  assert_int_equal(t->hs.sent_auth, 1);
}

/* A user without a password sends no AUTH, nor does an empty password. */
static void test_no_auth_when_empty(void **state) {
  fixture *t = *state;
  t->p = params("repl", NULL);
  to_psync(t, PORT CAPA);
  assert_int_equal(t->hs.sent_auth, 0);
  t->p = params("repl", "");
  to_psync(t, PORT CAPA);
  assert_int_equal(t->hs.sent_auth, 0);
}

static void test_auth_reply_order(void **state) {
  fixture *t = *state;
  t->p = params(NULL, "pw");
  cairn_hs_init(&t->hs);
  next_is(t, "PING", CAIRN_HS_WAIT_PING);
  step(t, "+PONG", CAIRN_HS_SEND, CAIRN_HS_SEND_AUTH);
  next_is(t, "AUTH pw", CAIRN_HS_SEND_PORT);
  next_is(t, "REPLCONF listening-port 6380", CAIRN_HS_SEND_CAPA);
  next_is(t, "REPLCONF capa eof capa psync2", CAIRN_HS_WAIT_AUTH);
  next_is(t, "", CAIRN_HS_WAIT_AUTH);
  step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_PORT);
  step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_CAPA);
  step(t, "+OK", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
}

static void test_auth_refused(void **state) {
  fixture *t = *state;
  t->p = params(NULL, "wrong");
  to_burst(t, "*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n" PORT CAPA);
  step(t, "-WRONGPASS invalid username-password pair or user is disabled.", CAIRN_HS_FAIL, CAIRN_HS_FAILED);
  assert_string_equal(t->r.why, "Unable to AUTH to MASTER: -WRONGPASS invalid username-password pair or user is disabled.");
  next_is(t, "", CAIRN_HS_FAILED);
}

/* REPLCONF errors are ignored, as Redis does. */
static void test_replconf_errors_ignored(void **state) {
  fixture *t = *state;
  const char *auths[] = {NULL, "pw"};
  for (size_t i = 0; i < NELEM(auths); i++) {
    t->p = params(NULL, auths[i]);
    to_burst(t, auths[i] ? "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n" PORT CAPA : PORT CAPA);
    if (auths[i]) step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_PORT);
    step(t, "-ERR Unrecognized REPLCONF option: listening-port", CAIRN_HS_WAIT, CAIRN_HS_WAIT_CAPA);
    step(t, "-ERR unknown command 'REPLCONF'", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
    sends(t, PSYNC);
  }
}

/* Empty lines before PSYNC's reply count as replies (Redis reads them the same). */
static void test_empty_lines_before_psync(void **state) {
  fixture *t = *state;
  assert_int_equal(ping_then(t, ""), CAIRN_HS_SEND);
  sends(t, PORT CAPA);
  step(t, "", CAIRN_HS_WAIT, CAIRN_HS_WAIT_CAPA);
  step(t, "", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
}

/* Each value is read when its command is made. */
static void test_values_read_when_sent(void **state) {
  fixture *t = *state;
  cairn_hs_init(&t->hs);
  sends(t, PING);
  t->p.masterauth = "late";
  t->p.listening_port = 7000;
  step(t, "+PONG", CAIRN_HS_SEND, CAIRN_HS_SEND_AUTH);
  sends(t, "*2\r\n$4\r\nAUTH\r\n$4\r\nlate\r\n"
           "*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$4\r\n7000\r\n" CAPA);
  t->p.masterauth = NULL; /* too late to matter: AUTH's reply is still expected */
  t->p.offset = 0;
  t->p.replid = MASTER_ID;
  step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_PORT);
  step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_CAPA);
  step(t, "+OK", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
  sends(t, "*3\r\n$5\r\nPSYNC\r\n$40\r\n" MASTER_ID "\r\n$1\r\n1\r\n");
  assert_string_equal(t->hs.replid, MASTER_ID);
  t->p.offset = 18446744073709551614ull;
  t->hs.state = CAIRN_HS_SEND_PSYNC;
  sends(t, "*3\r\n$5\r\nPSYNC\r\n$40\r\n" MASTER_ID "\r\n$20\r\n18446744073709551615\r\n");
}

/* ---------------------------------------------------------------- PING's reply */

static void test_ping_replies(void **state) {
  fixture *t = *state;
  const char *taken[] = {"+PONG",
                         "-NOAUTH Authentication required.",
                         "-NOAUTH",
                         "-NOPERM this user has no permissions to run the 'ping' command",
                         "-ERR operation not permitted",
                         "+OK",
                         "$4"};
  const char *refused[] = {"-ERR unknown command", "-LOADING Redis is loading the dataset in memory",
                           "-ERR operation not permit", "-", "-noauth"};
  for (size_t i = 0; i < NELEM(taken); i++) {
    if (ping_then(t, taken[i]) != CAIRN_HS_SEND) fail_msg("PING reply '%s' refused", taken[i]);
    assert_int_equal(t->hs.state, CAIRN_HS_SEND_AUTH);
  }
  for (size_t i = 0; i < NELEM(refused); i++) {
    char why[200];
    if (ping_then(t, refused[i]) != CAIRN_HS_FAIL) fail_msg("PING reply '%s' taken", refused[i]);
    snprintf(why, sizeof(why), "error reply to PING from master: '%s'", refused[i]);
    assert_string_equal(t->r.why, why);
    next_is(t, "", CAIRN_HS_FAILED);
  }
}

/* The line is len bytes: a prefix longer than len does not match. */
static void test_line_length(void **state) {
  fixture *t = *state;
  char line[] = "-NOAUTH";
  line[3] = '\0'; /* "-NO", as if 3 bytes were read */
  cairn_hs_init(&t->hs);
  sends(t, PING);
  assert_int_equal(cairn_hs_feed(&t->hs, line, 3, &t->r), CAIRN_HS_FAIL);
  assert_string_equal(t->r.why, "error reply to PING from master: '-NO'");
}

/* ---------------------------------------------------------------- PSYNC's reply */

static void test_fullresync(void **state) {
  fixture *t = *state;
  assert_int_equal(psync_then(t, ""), CAIRN_HS_WAIT); /* keepalives */
  step(t, "", CAIRN_HS_WAIT, CAIRN_HS_WAIT_PSYNC);
  step(t, "+FULLRESYNC " MASTER_ID " 664", CAIRN_HS_FULLSYNC, CAIRN_HS_DONE);
  assert_string_equal(t->r.replid, MASTER_ID);
  assert_true(t->r.offset == 664);
  next_is(t, "", CAIRN_HS_DONE);

  assert_int_equal(psync_then(t, "+FULLRESYNC " MASTER_ID " 18446744073709551615"), CAIRN_HS_FULLSYNC);
  assert_true(t->r.offset == 18446744073709551615ull);
  assert_int_equal(psync_then(t, "+FULLRESYNC " MASTER_ID " 0"), CAIRN_HS_FULLSYNC);
  assert_true(t->r.offset == 0);
}

/* Each line, fed as PSYNC's reply, gives ev and why ("%s" is the line). */
static void psync_answers(fixture *t, const char *const *lines, size_t n, cairn_hs_event ev, const char *why_fmt) {
  for (size_t i = 0; i < n; i++) {
    char why[1200];
    if (psync_then(t, lines[i]) != ev) fail_msg("'%s': not event %d", lines[i], (int)ev);
    snprintf(why, sizeof(why), why_fmt, lines[i]);
    assert_string_equal(t->r.why, why);
    assert_int_equal(t->hs.state, CAIRN_HS_FAILED);
  }
}

/* The id must be exactly 40 characters followed by a space. */
static void test_fullresync_bad_id(void **state) {
  const char *bad[] = {
      "+FULLRESYNC fedcba9876543210fedcba9876543210fedcba9 664",   /* 39 */
      "+FULLRESYNC fedcba9876543210fedcba9876543210fedcba980 664", /* 41 */
      "+FULLRESYNC " MASTER_ID,                                    /* no offset */
      "+FULLRESYNC " MASTER_ID "\t664",
      "+FULLRESYNC  " MASTER_ID " 664", /* two spaces: empty id */
      "+FULLRESYNC ",
  };
  psync_answers(*state, bad, NELEM(bad), CAIRN_HS_FAIL, "bad +FULLRESYNC reply");
  /* Without the space after the keyword, or in lower case, it is no FULLRESYNC at all. */
  const char *other[] = {"+FULLRESYNC", "+fullresync " MASTER_ID " 1"};
  psync_answers(*state, other, NELEM(other), CAIRN_HS_FAIL, "unexpected reply to PSYNC from master: '%s'");
  /* 40 characters that are not all hex digits (found by fuzz_handshake): an
   * id is written to the MANIFEST and INFO and sent back in PSYNC. */
  const char *nothex[] = {
      "+FULLRESYNC fedcba9876543210fedcba9876543210fedcba9g 664",
      "+FULLRESYNC fedcba9876543210fedcba98\r\n543210fedcba98 664",
  };
  psync_answers(*state, nothex, NELEM(nothex), CAIRN_HS_FAIL,
                "bad +FULLRESYNC reply: the replication id is not 40 hex digits");
  const char *badcont[] = {"+CONTINUE fedcba9876543210fedcba9876543210fedcba9\x01"};
  psync_answers(*state, badcont, NELEM(badcont), CAIRN_HS_FAIL,
                "bad +CONTINUE reply: the new replication id is not 40 hex digits");
}

/* The offset is read as leniently as Redis's strtoll reads it: this pins the
 * present behaviour (a non-number is offset 0, trailing bytes are ignored). */
static void test_fullresync_lenient_offset(void **state) {
  fixture *t = *state;
  struct {
    const char *off;
    unsigned long long want;
  } cases[] = {{"abc", 0}, {"", 0}, {"12x", 12}, {" 7", 7}, {"+5", 5}, {"-1", 18446744073709551615ull},
               {"99999999999999999999", 18446744073709551615ull}, {"42 extra", 42}};
  for (size_t i = 0; i < NELEM(cases); i++) {
    char line[128];
    snprintf(line, sizeof(line), "+FULLRESYNC " MASTER_ID " %s", cases[i].off);
    if (psync_then(t, line) != CAIRN_HS_FULLSYNC) fail_msg("'%s' refused", line);
    assert_string_equal(t->r.replid, MASTER_ID);
    if (t->r.offset != cases[i].want) fail_msg("'%s': offset %llu", line, (unsigned long long)t->r.offset);
  }
}

static void test_continue(void **state) {
  fixture *t = *state;
  struct {
    const char *line;
    int new_id;
  } cases[] = {
      {"+CONTINUE", 0},                                          /* a master without psync2 */
      {"+CONTINUE " OUR_ID, 0},                                  /* same history */
      {"+CONTINUE 0123456789ABCDEF0123456789ABCDEF01234567", 0}, /* ids compare without case */
      {"+CONTINUE fedcba9876543210fedcba9876543210fedcba9", 0},  /* shorter than an id: none */
      {"+CONTINUE " MASTER_ID, 1},                               /* the master was promoted */
      {"+CONTINUE " MASTER_ID " and more", 1},
  };
  for (size_t i = 0; i < NELEM(cases); i++) {
    if (psync_then(t, cases[i].line) != CAIRN_HS_CONTINUE) fail_msg("'%s' is no CONTINUE", cases[i].line);
    if (t->r.new_id != cases[i].new_id) fail_msg("'%s': new_id %d", cases[i].line, t->r.new_id);
    assert_string_equal(t->r.replid, cases[i].new_id ? MASTER_ID : "");
    next_is(t, "", CAIRN_HS_DONE);
  }
  assert_int_equal(psync_then(t, ""), CAIRN_HS_WAIT); /* after a keepalive */
  step(t, "+CONTINUE", CAIRN_HS_CONTINUE, CAIRN_HS_DONE);
}

static void test_psync_retry_later(void **state) {
  const char *lines[] = {"-NOMASTERLINK Can't SYNC while not connected with my master",
                         "-NOMASTERLINK Can't SYNC while failing over", "-LOADING Redis is loading the dataset in memory",
                         "-LOADING"};
  psync_answers(*state, lines, NELEM(lines), CAIRN_HS_RETRY,
                "master is currently unable to PSYNC but should be in the future");
}

static void test_psync_unexpected(void **state) {
  const char *lines[] = {"-ERR unknown command 'PSYNC'", "-ERR SYNC and PSYNC are invalid with pending output",
                         "+OK", "$445", "-NOMASTER", "-LOAD", "-loading", "CONTINUE"};
  psync_answers(*state, lines, NELEM(lines), CAIRN_HS_FAIL, "unexpected reply to PSYNC from master: '%s'");
}

/* A long reply is cut to the size of why, never overrun (replica.c cuts lines
 * to 1023 bytes, which fit). */
static void test_long_reply(void **state) {
  fixture *t = *state;
  char line[2000]; /* "-" and 1998 filler bytes */
  memset(line, 'x', sizeof(line) - 1);
  line[0] = '-';
  line[sizeof(line) - 1] = '\0';
  assert_int_equal(psync_then(t, line), CAIRN_HS_FAIL);
  assert_int_equal(strlen(t->r.why), sizeof(t->r.why) - 1);
  assert_memory_equal(t->r.why, "unexpected reply to PSYNC from master: '-xxx", 44);
  line[1023] = '\0';
  assert_int_equal(psync_then(t, line), CAIRN_HS_FAIL);
  assert_int_equal(strlen(t->r.why), 40 + 1023 + 1);
  assert_int_equal(t->r.why[40 + 1023], '\'');
}

/* A reply where none is expected: before PING went out, or after the end. */
static void test_reply_out_of_turn(void **state) {
  fixture *t = *state;
  cairn_hs_init(&t->hs);
  step(t, "+PONG", CAIRN_HS_FAIL, CAIRN_HS_FAILED);
  assert_string_equal(t->r.why, "reply while no reply is expected in the handshake: '+PONG'");
  step(t, "+PONG", CAIRN_HS_FAIL, CAIRN_HS_FAILED);
  assert_int_equal(psync_then(t, "+CONTINUE"), CAIRN_HS_CONTINUE);
  step(t, "+CONTINUE", CAIRN_HS_FAIL, CAIRN_HS_FAILED);
}

/* A new attempt starts over whatever the last one left. */
static void test_init_resets(void **state) {
  fixture *t = *state;
  t->p = params("u", "pw");
  to_psync(t, "*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n" PORT CAPA);
  t->p = params(NULL, NULL);
  to_psync(t, PORT CAPA);
  assert_int_equal(t->hs.sent_auth, 0);
}

/* A full sync cut off mid-payload and kept: REPLCONF resume-sync before
 * PSYNC; +OK means the master resumes it, an error (a Redis master) that it
 * will not, and neither fails the handshake. */
static void test_resume_sync(void **state) {
  fixture *t = *state;
  const char *replies[] = {"+OK", "-ERR Unrecognized REPLCONF option: resume-sync"};
  for (int i = 0; i < 2; i++) {
    cairn_hs_init(&t->hs);
    t->p.resume_replid = MASTER_ID;
    t->p.resume_offset = 777;
    t->p.resume_pos = 123456;
    to_burst(t, PORT CAPA);
    step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_CAPA);
    step(t, "+OK", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
    next_is(t, "REPLCONF resume-sync " MASTER_ID " 777 123456", CAIRN_HS_WAIT_RESUME);
    next_is(t, "", CAIRN_HS_WAIT_RESUME);
    step(t, replies[i], CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
    assert_int_equal(t->hs.resumed, i == 0);
    next_is(t, "PSYNC " OUR_ID " 1001", CAIRN_HS_WAIT_PSYNC);
    assert_int_equal(feed(t, "+FULLRESYNC " MASTER_ID " 777"), CAIRN_HS_FULLSYNC);
    assert_int_equal(t->r.offset, 777);
  }
}

/* replica-slot-name: REPLCONF slot-name before PSYNC; whatever the reply
 * (a Redis master's error too), PSYNC follows. With a kept full sync both
 * go, the name first. */
static void test_slot_name(void **state) {
  fixture *t = *state;
  const char *replies[] = {"+OK", "-ERR Unrecognized REPLCONF option: slot-name"};
  for (int i = 0; i < 2; i++) {
    cairn_hs_init(&t->hs);
    t->p.slot_name = "dc2-replica";
    t->p.resume_replid = i ? MASTER_ID : NULL;
    t->p.resume_offset = 5;
    t->p.resume_pos = 6;
    to_burst(t, PORT CAPA);
    step(t, "+OK", CAIRN_HS_WAIT, CAIRN_HS_WAIT_CAPA);
    step(t, "+OK", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
    next_is(t, "REPLCONF slot-name dc2-replica", CAIRN_HS_WAIT_SLOTNAME);
    step(t, replies[i], CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
    if (i) {
      next_is(t, "REPLCONF resume-sync " MASTER_ID " 5 6", CAIRN_HS_WAIT_RESUME);
      step(t, "+OK", CAIRN_HS_SEND, CAIRN_HS_SEND_PSYNC);
    }
    next_is(t, "PSYNC " OUR_ID " 1001", CAIRN_HS_WAIT_PSYNC);
  }
  t->p.slot_name = NULL;
  t->p.resume_replid = NULL;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_without_auth),
      T(test_resume_sync),
      T(test_slot_name),
      T(test_wire_bytes),
      T(test_auth_password),
      T(test_auth_user),
      T(test_no_auth_when_empty),
      T(test_auth_reply_order),
      T(test_auth_refused),
      T(test_replconf_errors_ignored),
      T(test_empty_lines_before_psync),
      T(test_values_read_when_sent),
      T(test_ping_replies),
      T(test_line_length),
      T(test_fullresync),
      T(test_fullresync_bad_id),
      T(test_fullresync_lenient_offset),
      T(test_continue),
      T(test_psync_retry_later),
      T(test_psync_unexpected),
      T(test_long_reply),
      T(test_reply_out_of_turn),
      T(test_init_resets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
