/* Unit tests that drive the engine without sockets: the command registry
 * (engine/command.c), execution and its checks (engine/execute.c), the
 * stream a command leaves (engine/stream.c), the group commit and recovery
 * (engine/commit.c).
 *
 * The server is tests/engine_fixture.h's (shared with tests/fuzz/fuzz_apply):
 * an in-memory cairn_wal (the same seam the fault injection uses) and a real
 * LMDB store in a temporary directory; a client is a cairn_client that is
 * never connected (execute only touches its buffers). No loop runs:
 * cairn_commit_iteration syncs inline, as before the flusher thread starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cairn_unit.h"
#include "engine/blocking.h"
#include "engine/client.h"
#include "engine/command.h"
#include "engine/commit.h"
#include "engine/info.h"
#include "engine/config.h"
#include "engine/multi.h"
#include "engine/pubsub.h"
#include "engine/server.h"
#include "engine/store.h"
#include "engine/stream.h"
#include "tests/engine_fixture.h"

/* ---------------------------------------------------------------- fixture */

typedef struct fixture {
  cairn_tmpdir dir;
  cairn_mem_wal wal;
  cairn_server *srv;
  cairn_client *client;
} fixture;

/* A server on the fixture's store and WAL, recovered like main.c does
 * (tests/engine_fixture.h). */
static cairn_server *server_start(fixture *f) {
  char err[600] = "";
  cairn_server *srv = cairn_fixture_server_start(f->dir.path, &f->wal, err, sizeof(err));
  if (!srv) fail_msg("%s", err);
  return srv;
}

/* Like kill -9: nothing after the last checkpoint reaches LMDB. */
static void server_crash(cairn_server *srv) { cairn_fixture_server_crash(srv); }

static cairn_client *client_new(cairn_server *srv) {
  cairn_client *c = calloc(1, sizeof(*c));
  c->srv = srv;
  c->resp = 2;
  c->authenticated = 1;
  return c;
}

static void client_free(cairn_client *c) {
  cairn_buf_free(&c->out);
  free(c);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  if (!f || cairn_tmpdir_make(&f->dir, "engine") != 0) return -1;
  f->srv = server_start(f);
  f->client = client_new(f->srv);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  client_free(f->client);
  if (f->srv) server_crash(f->srv);
  cairn_command_table_free();
  cairn_buf_free(&f->wal.bytes);
  cairn_tmpdir_remove(&f->dir);
  free(f);
  return 0;
}

/* Runs a command given as C strings; returns the client's reply and clears
 * it (the caller frees the result). */
static char *run(fixture *f, const char *first, ...) {
  cairn_str argv[16];
  int argc = 0;
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a; a = va_arg(ap, const char *)) argv[argc++] = (cairn_str){a, strlen(a)};
  va_end(ap);
  f->client->out.len = 0;
  cairn_execute(f->srv, f->client, argc, argv);
  char *r = cairn_xmemdup(f->client->out.p ? f->client->out.p : "", f->client->out.len);
  f->client->out.len = 0;
  return r;
}

#define assert_reply(f, want, ...)                       \
  do {                                                   \
    char *got_ = run(f, __VA_ARGS__, (const char *)NULL); \
    assert_string_equal(got_, want);                     \
    free(got_);                                          \
  } while (0)

/* The WAL's bytes from offset `from` (1-based) as a C string. */
static char *wal_text(fixture *f, uint64_t from) {
  return cairn_xmemdup(f->wal.bytes.p + from - 1, f->wal.bytes.len - (from - 1));
}

/* ---------------------------------------------------------------- registry */

static void test_lookup_is_case_insensitive(void **state) {
  (void)state;
  const cairn_command *a = cairn_command_lookup("get", 3), *b = cairn_command_lookup("GeT", 3);
  assert_non_null(a);
  assert_ptr_equal(a, b);
  assert_null(cairn_command_lookup("getx", 4));
  assert_null(cairn_command_lookup("ge", 2));
  int n = cairn_command_count();
  assert_true(n > 100);
  for (int i = 0; i < n; i++) assert_ptr_equal(cairn_command_lookup(cairn_command_at(i)->name, strlen(cairn_command_at(i)->name)), cairn_command_at(i));
  assert_null(cairn_command_at(n));
}

/* ---------------------------------------------------------------- execute */

static void test_execute_checks(void **state) {
  fixture *f = *state;
  assert_reply(f, "-ERR unknown command 'nosuch', with args beginning with: 'a' 'b' \r\n", "nosuch", "a", "b");
  assert_reply(f, "-ERR wrong number of arguments for 'get' command\r\n", "GET");
  assert_reply(f, "+OK\r\n", "SET", "k", "v");
  assert_reply(f, "$1\r\nv\r\n", "GET", "k");
  assert_reply(f, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", "LPUSH", "k", "x");
  assert_int_equal(f->srv->stats.total_error_replies, 3);
  /* A refused write (the WAL failed) answers MISCONF and changes nothing. */
  f->srv->write_error = 1;
  snprintf(f->srv->write_error_msg, sizeof(f->srv->write_error_msg), "Input/output error");
  assert_reply(f,
               "-MISCONF Errors writing to the backlog on disk (Input/output error): writes are refused until it "
               "works again. Check the server log.\r\n",
               "SET", "k", "w");
  assert_reply(f, "$1\r\nv\r\n", "GET", "k");
  f->srv->write_error = 0;
}

static void test_execute_queues_inside_multi(void **state) {
  fixture *f = *state;
  assert_reply(f, "+OK\r\n", "MULTI");
  assert_reply(f, "+QUEUED\r\n", "SET", "a", "1");
  assert_reply(f, "+QUEUED\r\n", "INCR", "a");
  /* Like Redis 7.0: WATCH runs (and refuses) without failing the transaction. */
  assert_reply(f, "-ERR WATCH inside MULTI is not allowed\r\n", "WATCH", "a");
  assert_reply(f, "-ERR unknown command 'nosuch', with args beginning with: \r\n", "nosuch");
  assert_reply(f, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
  assert_reply(f, "$-1\r\n", "GET", "a");
  assert_reply(f, "+OK\r\n", "MULTI");
  assert_reply(f, "+QUEUED\r\n", "SET", "a", "1");
  assert_reply(f, "-ERR WATCH inside MULTI is not allowed\r\n", "WATCH", "a");
  assert_reply(f, "+QUEUED\r\n", "INCR", "a");
  assert_reply(f, "*2\r\n+OK\r\n:2\r\n", "EXEC");
}

/* ---------------------------------------------------------------- stream and commit */

static void test_stream_of_one_iteration(void **state) {
  fixture *f = *state;
  uint64_t start = f->wal.bytes.len + 1;
  assert_reply(f, "+OK\r\n", "SET", "k", "v");
  assert_reply(f, "$1\r\nv\r\n", "GET", "k"); /* a read leaves nothing */
  assert_reply(f, "+OK\r\n", "SELECT", "3");
  assert_reply(f, "$3\r\n3.5\r\n", "INCRBYFLOAT", "f", "3.5");
  assert_reply(f, "+OK\r\n", "MULTI");
  assert_reply(f, "+QUEUED\r\n", "DEL", "f");
  assert_reply(f, "+QUEUED\r\n", "SET", "k", "w");
  assert_reply(f, "*2\r\n:1\r\n+OK\r\n", "EXEC");
  assert_int_equal(f->wal.appends, 0); /* nothing reaches the WAL before the iteration ends */
  uint64_t offset = f->srv->stream_offset;
  cairn_commit_iteration(f->srv);
  assert_int_equal(f->wal.appends, 1); /* one record for the iteration */
  assert_int_equal(f->wal.synced, f->wal.bytes.len);
  assert_int_equal(f->srv->synced_offset, offset);
  char *t = wal_text(f, start);
  assert_string_equal(t,
                      "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"
                      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                      "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
                      "*4\r\n$3\r\nSET\r\n$1\r\nf\r\n$3\r\n3.5\r\n$7\r\nKEEPTTL\r\n" /* INCRBYFLOAT: its result */
                      "*1\r\n$5\r\nMULTI\r\n"
                      "*2\r\n$3\r\nDEL\r\n$1\r\nf\r\n"
                      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nw\r\n"
                      "*1\r\n$4\r\nEXEC\r\n");
  free(t);
}

static void test_failed_append_refuses_writes(void **state) {
  fixture *f = *state;
  assert_reply(f, "+OK\r\n", "SET", "k", "v");
  cairn_commit_iteration(f->srv);
  uint64_t end = f->wal.bytes.len;
  assert_reply(f, "+OK\r\n", "SET", "k", "lost");
  f->wal.fail_append = 1;
  cairn_commit_iteration(f->srv);
  /* Nothing of the refused record survives: the store is back at the WAL's
   * end, the offset too, and writes answer MISCONF. */
  assert_int_equal(f->wal.bytes.len, end);
  assert_int_equal(f->srv->stream_offset, end);
  assert_int_equal(f->srv->write_error, 1);
  assert_reply(f, "$1\r\nv\r\n", "GET", "k");
  char *r = run(f, "SET", "k", "x", (const char *)NULL);
  assert_memory_equal(r, "-MISCONF ", 9);
  free(r);
}

static void test_recovery_replays_the_wal(void **state) {
  fixture *f = *state;
  assert_reply(f, "+OK\r\n", "SET", "a", "1");
  assert_reply(f, ":3\r\n", "RPUSH", "l", "x", "y", "z");
  cairn_commit_iteration(f->srv);
  assert_int_equal(cairn_commit_checkpoint(f->srv), 0);
  assert_reply(f, "+OK\r\n", "SELECT", "2");
  assert_reply(f, ":2\r\n", "HSET", "h", "f1", "v1", "f2", "v2");
  assert_reply(f, "+OK\r\n", "MULTI");
  assert_reply(f, "+QUEUED\r\n", "INCR", "n");
  assert_reply(f, "+QUEUED\r\n", "LPOP", "l");
  assert_reply(f, "*2\r\n:1\r\n$-1\r\n", "EXEC"); /* l is in db 0 */
  cairn_commit_iteration(f->srv);
  uint64_t end = f->wal.bytes.len;
  /* kill -9: only the checkpoint reached LMDB; the rest is in the WAL. */
  server_crash(f->srv);
  f->srv = server_start(f);
  f->client->srv = f->srv;
  f->client->db = 0;
  assert_int_equal(f->srv->stream_offset, end);
  assert_reply(f, "$1\r\n1\r\n", "GET", "a");
  assert_reply(f, "*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n", "LRANGE", "l", "0", "-1");
  assert_reply(f, "+OK\r\n", "SELECT", "2");
  assert_reply(f, "$2\r\nv2\r\n", "HGET", "h", "f2");
  assert_reply(f, "$1\r\n1\r\n", "GET", "n");
  /* The stream goes on where it ended: its last SELECT (2) still holds. */
  assert_reply(f, "+OK\r\n", "SET", "b", "2");
  assert_reply(f, "+OK\r\n", "SELECT", "0");
  assert_reply(f, "+OK\r\n", "SET", "c", "3");
  cairn_commit_iteration(f->srv);
  char *t = wal_text(f, end + 1);
  assert_string_equal(t, "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"
                         "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n");
  free(t);
}

/* cairn_apply holds a MULTI until its EXEC: a unit is applied whole or not
 * at all, whatever the chunks it arrives in. */
static void test_apply_holds_transactions(void **state) {
  fixture *f = *state;
  const char *s = "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n"
                  "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\ny\r\n$1\r\n2\r\n*1\r\n$4\r\nEXEC\r\n";
  size_t len = strlen(s), first_cmd = strlen("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n");
  cairn_apply_state st;
  cairn_apply_init(&st);
  assert_int_equal(cairn_apply(f->srv, &st, s, len - 5), 0); /* the EXEC is cut */
  assert_int_equal(st.applied, first_cmd);
  assert_reply(f, "$1\r\n1\r\n", "GET", "x");
  assert_reply(f, "$-1\r\n", "GET", "y");
  assert_int_equal(cairn_apply(f->srv, &st, s + len - 5, 5), 0);
  assert_int_equal(st.applied, len);
  assert_reply(f, "$1\r\n2\r\n", "GET", "y");
  cairn_apply_free(&st);
}

/* A malformed stream (a hostile master, a damaged WAL; found by
 * tests/fuzz/fuzz_apply) never reaches a handler that trusts it: a command
 * with the wrong number of arguments is skipped (SINTERSTORE with no key read
 * past its argv), and so is one that changes no data and needs a client
 * (AUTH, SUBSCRIBE, WATCH, CLIENT, a read), which replay has not. The rest
 * of the stream applies. */
static void test_apply_skips_malformed_commands(void **state) {
  fixture *f = *state;
  const char *s = "*1\r\n$11\r\nSINTERSTORE\r\n"
                  "*1\r\n$6\r\nINCRBY\r\n*2\r\n$3\r\nSET\r\n$1\r\na\r\n"
                  "*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$1\r\np\r\n"
                  "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n"
                  "*2\r\n$5\r\nWATCH\r\n$1\r\na\r\n"
                  "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$1\r\nx\r\n"
                  "*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n"
                  "*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nLPOP\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"
                  "*1\r\n$4\r\nEXEC\r\n"
                  "*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n";
  cairn_apply_state st;
  cairn_apply_init(&st);
  assert_int_equal(cairn_apply(f->srv, &st, s, strlen(s)), 0);
  assert_int_equal(st.applied, strlen(s));
  cairn_apply_free(&st);
  assert_reply(f, "$1\r\n2\r\n", "GET", "b");
  assert_reply(f, "$1\r\n3\r\n", "GET", "c");
  assert_reply(f, ":0\r\n", "EXISTS", "a"); /* SET a with no value: skipped */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_lookup_is_case_insensitive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_execute_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_execute_queues_inside_multi, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_of_one_iteration, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_append_refuses_writes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recovery_replays_the_wal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_apply_holds_transactions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_apply_skips_malformed_commands, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
