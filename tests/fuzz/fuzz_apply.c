/* libFuzzer target for the stream a replica applies and recovery replays
 * (engine/commit.c cairn_apply): RESP commands of the master's stream (or of
 * our WAL), MULTI ... EXEC units held until their EXEC, the marker commands
 * (MULTI, EXEC, PING, REPLCONF), then cairn_execute of each command against a
 * real store.
 *
 * The server is tests/engine_fixture.h's (the unit tests' too): a real LMDB
 * store in a private temporary directory (/dev/shm/cairn-fuzzapply-*, else
 * /tmp/cairn-fuzzapply-*; removed at exit and on a crash), an in-memory WAL,
 * no sockets, no loop. It is built once; between inputs the store is rolled back to its
 * (empty) checkpoint, which drops everything the input wrote (no checkpoint
 * is taken while applying), and every RESTART_EVERY inputs the server is
 * thrown away and started again.
 *
 * Input: byte 0: mode (bit 0: a replica's live apply, PUBLISH reaches
 * subscribers; bit 1: replica mode, no expiry of its own; bits 2 to 5 all
 * set: recovery too, below); byte 1: seed of
 * the cut points (0: the whole stream in one call); the rest is the stream,
 * fed to cairn_apply in pieces (each a fresh exact-size copy). Checked after
 * every piece, against a parse of the whole stream in one go:
 *  - apply returns 0, a store error the caller recovers from (map or
 *    transaction full), or CAIRN_STORE_IO only when the bytes it holds do not
 *    parse (a malformed stream is refused, nothing well formed is);
 *  - every byte fed is applied or held (applied + held == fed), and the
 *    applied counter only moves forward and only to the end of a command
 *    outside a transaction or to the end of a whole MULTI ... EXEC unit;
 *  - the bytes passed on (on_raw: our stream and WAL) are exactly the applied
 *    prefix, one whole command per call;
 *  - markers are seen in stream order, and those of a transaction only once
 *    the whole unit (its EXEC included) has been fed;
 *  - recovery (one input in 16, by the mode; a new store each time, which
 *    costs about 7 ms): what applied is written
 *    to the WAL and the server restarted, as after kill -9: startup replays
 *    it through the same cairn_apply and must succeed and end at its offset.
 * ASan, UBSan and the leak checker catch the rest.
 *
 * Deny list: inputs holding a command whose run time, memory or effect on
 * the process is unbounded by design are skipped (not changed; the server is
 * not changed for fuzzing either). See denied(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sanitizer/common_interface_defs.h>

#include "engine/command.h"
#include "engine/commit.h"
#include "engine/log.h"
#include "engine/resp.h"
#include "engine/server.h"
#include "engine/store.h"
#include "tests/engine_fixture.h"
#include "tests/unit/cairn_unit.h"

#define RESTART_EVERY 5000
#define MAX_OFFSET (64 * 1024) /* SETRANGE / SETBIT / BITFIELD, see denied() */

static void on_death(void);

static void die(const char *what) {
  fprintf(stderr, "fuzz_apply: %s\n", what);
  on_death();
  abort();
}

static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 16;
}

/* ---------------------------------------------------------------- the server */

static cairn_tmpdir dir;
static cairn_mem_wal wal;
static cairn_server *srv;
static unsigned long inputs;

static void boot(void) {
  char err[600] = "";
  srv = cairn_fixture_server_start(dir.path, &wal, err, sizeof(err));
  if (!srv) die(err);
}

static void cleanup(void) {
  if (srv) cairn_fixture_server_crash(srv);
  srv = NULL;
  cairn_command_table_free();
  cairn_buf_free(&wal.bytes);
  if (dir.path[0]) cairn_tmpdir_remove(&dir);
}

/* A crash (sanitizer report, deadly signal) skips atexit: the directory
 * goes anyway. */
static void on_death(void) {
  if (dir.path[0]) cairn_tmpdir_remove(&dir);
}

/* ---------------------------------------------------------------- deny list */

static int arg_ll(cairn_str a, long long *v) {
  /* BITFIELD's "#N" offsets count in units of the type's width */
  if (a.len && a.p[0] == '#') a.p++, a.len--;
  char b[32];
  if (a.len == 0 || a.len >= sizeof(b)) return 0;
  memcpy(b, a.p, a.len);
  b[a.len] = '\0';
  char *end;
  *v = strtoll(b, &end, 10);
  return *end == '\0';
}

/* Whether one command of the stream is out of bounds for the fuzzer. Each
 * name says why; none is a defect: the same command from a real master is
 * meant to do what it does. */
static int denied(int argc, const cairn_str *argv) {
  static const char *const names[] = {
      "debug",                    /* DEBUG SLEEP / RELOAD / SEGFAULT / POPULATE: sleeps, restarts, crashes */
      "shutdown",                 /* exits the process */
      "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", /* Lua: loops forever */
      "function", "script",       /* FUNCTION LOAD runs the library's top level (loops too) */
      "config",                   /* CONFIG SET dir / logfile / limits: changes the process */
      "replicaof", "slaveof",     /* starts a master link (connects out, needs the loop) */
      "failover",                 /* starts a failover (needs the loop and replicas) */
      "save", "bgsave", "bgrewriteaof", /* wait for the store thread, not started here */
      "migrate",                  /* connects out */
      NULL};
  for (int i = 0; names[i]; i++)
    if (cairn_arg_is(argv[0], names[i])) return 1;
  long long v;
  /* Values grow to the offset (up to proto-max-bulk-len, 512 MB, by design;
   * a replay trusts its offsets): keep them at 64 KB, so that even a 64 KB
   * input of such commands, or of COPYs of their keys, stays far below the
   * 2 GB RSS limit. */
  if (cairn_arg_is(argv[0], "setrange") && argc >= 3 && (!arg_ll(argv[2], &v) || v > MAX_OFFSET)) return 1;
  if ((cairn_arg_is(argv[0], "setbit") || cairn_arg_is(argv[0], "getbit")) && argc >= 3 &&
      (!arg_ll(argv[2], &v) || v > 8LL * MAX_OFFSET))
    return 1;
  if (cairn_arg_is(argv[0], "bitfield") || cairn_arg_is(argv[0], "bitfield_ro")) {
    /* offsets count bits, or (with #) the type's width, at most 64 bits */
    for (int i = 2; i < argc; i++)
      if (arg_ll(argv[i], &v) && (v > MAX_OFFSET || v < -MAX_OFFSET)) return 1;
  }
  return 0;
}

/* ---------------------------------------------------------------- the oracle */

/* The stream parsed in one go: where commands (outside transactions) and
 * whole MULTI ... EXEC units end, and each marker with the end of what must
 * have arrived before it may be seen (its own end; for a transaction's
 * markers, the unit's end). */
typedef struct plan {
  uint8_t *boundary;  /* boundary[i]: applied may be i */
  size_t nmarkers, markers_cap;
  struct marker {
    char name[9];
    size_t need;
  } *markers;
  int deny;
  size_t parsed;      /* bytes of whole commands (units) in the stream */
} plan;

static int marker_name(cairn_str a, char *out) {
  static const char *const m[] = {"multi", "exec", "ping", "replconf", NULL};
  for (int i = 0; m[i]; i++)
    if (cairn_arg_is(a, m[i])) {
      strcpy(out, m[i]);
      return 1;
    }
  return 0;
}

static void add_marker(plan *pl, const char *name, size_t need) {
  if (pl->nmarkers == pl->markers_cap) {
    pl->markers_cap = pl->markers_cap ? pl->markers_cap * 2 : 16;
    pl->markers = realloc(pl->markers, pl->markers_cap * sizeof(*pl->markers));
  }
  strcpy(pl->markers[pl->nmarkers].name, name);
  pl->markers[pl->nmarkers++].need = need;
}

static void make_plan(plan *pl, const char *s, size_t len) {
  memset(pl, 0, sizeof(*pl));
  pl->boundary = calloc(len + 1, 1);
  pl->boundary[0] = 1;
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  cairn_str *argv = NULL;
  size_t cap = 0, pos = 0;
  size_t unit_start = 0, unit_markers = 0;
  int in_unit = 0;
  char err[128], name[9];
  while (pos < len) {
    size_t consumed = 0;
    int r = cairn_req_parse(&p, s + pos, len - pos, &consumed, err, sizeof(err));
    if (r != CAIRN_PARSE_OK) break;
    if (p.argc > cap) {
      cap = p.argc * 2;
      argv = realloc(argv, cap * sizeof(*argv));
    }
    cairn_req_args(&p, s + pos, argv);
    size_t end = pos + consumed;
    if (p.argc && denied((int)p.argc, argv)) pl->deny = 1;
    int is_marker = p.argc && marker_name(argv[0], name);
    if (!in_unit && p.argc == 1 && cairn_arg_is(argv[0], "multi")) {
      in_unit = 1;
      unit_start = pos;
      unit_markers = pl->nmarkers;
      add_marker(pl, name, 0);
    } else if (in_unit) {
      if (is_marker) add_marker(pl, name, 0);
      if (p.argc == 1 && cairn_arg_is(argv[0], "exec")) {
        in_unit = 0;
        for (size_t i = unit_markers; i < pl->nmarkers; i++) pl->markers[i].need = end;
        pl->boundary[end] = 1;
        pl->parsed = end;
      }
    } else {
      if (is_marker) add_marker(pl, name, end);
      pl->boundary[end] = 1;
      pl->parsed = end;
    }
    pos = end;
  }
  /* an unfinished transaction's markers can never be seen */
  if (in_unit) {
    for (size_t i = unit_markers; i < pl->nmarkers; i++) pl->markers[i].need = (size_t)-1;
    (void)unit_start;
  }
  free(argv);
  cairn_req_parser_free(&p);
}

static void free_plan(plan *pl) {
  free(pl->boundary);
  free(pl->markers);
}

/* Whether bytes held by apply contain a command that does not parse. */
static int holds_parse_error(const char *s, size_t len) {
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  size_t pos = 0;
  int r = CAIRN_PARSE_NEED_MORE;
  char err[128];
  while (pos < len) {
    size_t consumed = 0;
    r = cairn_req_parse(&p, s + pos, len - pos, &consumed, err, sizeof(err));
    if (r != CAIRN_PARSE_OK) break;
    pos += consumed;
  }
  cairn_req_parser_free(&p);
  return r == CAIRN_PARSE_ERROR;
}

/* ---------------------------------------------------------------- hooks */

typedef struct run {
  const plan *pl;
  const char *stream;
  size_t fed;        /* bytes given to cairn_apply so far */
  size_t raw;        /* bytes passed on through on_raw */
  size_t markers;    /* markers seen */
} run;

static void on_marker(void *ud, int argc, const cairn_str *argv) {
  run *r = ud;
  char name[9];
  if (argc < 1 || !marker_name(argv[0], name)) die("on_marker: not a marker command");
  if (r->markers >= r->pl->nmarkers) die("on_marker: more markers than the stream holds");
  const struct marker *m = &r->pl->markers[r->markers++];
  if (strcmp(m->name, name) != 0) die("on_marker: markers out of stream order");
  if (m->need > r->fed) die("on_marker: a marker seen before its command (or its whole transaction) arrived");
}

static void on_raw(void *ud, const char *p, size_t n) {
  run *r = ud;
  if (n == 0) die("on_raw: empty");
  if (r->raw + n > r->fed) die("on_raw: passes on more bytes than were fed");
  if (memcmp(p, r->stream + r->raw, n) != 0) die("on_raw: bytes differ from the stream's");
  /* exactly one whole command */
  cairn_req_parser q;
  cairn_req_parser_init(&q);
  size_t consumed = 0;
  char err[128];
  int rc = cairn_req_parse(&q, p, n, &consumed, err, sizeof(err));
  cairn_req_parser_free(&q);
  if (rc != CAIRN_PARSE_OK || consumed != n) die("on_raw: not one whole command");
  r->raw += n;
}

/* ---------------------------------------------------------------- the target */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  if (!srv) {
    /* In memory when there is a tmpfs: recovery's checkpoint is an LMDB
     * commit, synced (20 times faster without a disk). */
    snprintf(dir.path, sizeof(dir.path), "/dev/shm/cairn-fuzzapply-XXXXXX");
    if (!mkdtemp(dir.path) && cairn_tmpdir_make(&dir, "fuzzapply") != 0) die("cannot make a temporary directory");
    atexit(cleanup);
    __sanitizer_set_death_callback(on_death);
    /* every malformed command is logged (and skipped): millions of lines */
    cairn_log_set_level(CAIRN_LOG_WARNING + 1);
    boot();
  }
  const char *s = (const char *)data + 2;
  size_t len = size - 2;
  plan pl;
  make_plan(&pl, s, len);
  if (pl.deny) {
    free_plan(&pl);
    return 0;
  }
  if (++inputs % RESTART_EVERY == 0) {
    cairn_fixture_server_crash(srv);
    boot();
  }
  int mode = data[0];
  uint32_t seed = data[1];
  run r = {.pl = &pl, .stream = s};
  cairn_apply_state st;
  cairn_apply_init(&st);
  st.ud = &r;
  st.on_marker = on_marker;
  st.on_raw = on_raw;
  srv->replay_db = 0;
  srv->replica_mode = (mode & 2) != 0;
  uint64_t last_applied = 0;
  int rc = 0;
  while (r.fed < len) {
    size_t n = len - r.fed;
    if (seed) {
      uint32_t k = next_rand(&seed);
      size_t cut = (k & 3) == 0 ? 1 + k % 4 : (k & 3) == 1 ? 1 + k % 64 : 1 + k % 1024;
      if (cut < n) n = cut;
    }
    char *piece = malloc(n);
    memcpy(piece, s + r.fed, n);
    r.fed += n;
    srv->apply_live = mode & 1;
    rc = cairn_apply(srv, &st, piece, n);
    srv->apply_live = 0;
    free(piece);
    if (st.applied < last_applied) die("applied went backwards");
    if (st.applied > r.fed) die("applied past the bytes fed");
    if (rc == 0 && st.applied + st.buf.len != r.fed) die("bytes fed neither applied nor held");
    if (!pl.boundary[st.applied]) die("applied stops inside a command or a transaction");
    if (r.raw != st.applied) die("bytes passed on differ from the bytes applied");
    last_applied = st.applied;
    if (rc != 0) {
      if (rc == CAIRN_STORE_IO) {
        if (!holds_parse_error(st.buf.p, st.buf.len)) die("CAIRN_STORE_IO for a stream that parses");
      } else if (rc != CAIRN_STORE_MAP_FULL && rc != CAIRN_STORE_TXN_FULL) {
        die("apply returned something that is neither 0 nor a store error");
      }
      break;
    }
  }
  if (rc == 0 && st.applied != pl.parsed) die("apply and a parse of the whole stream disagree on its end");
  uint64_t applied = st.applied;
  cairn_apply_free(&st);
  free_plan(&pl);
  srv->replica_mode = 0;
  /* back to the empty checkpoint: drops everything the input wrote */
  cairn_store_rollback(srv->store);
  if (rc == 0 && applied > 0 && (mode & 0x3c) == 0x3c) {
    /* What applied is what a WAL holds after kill -9: recovery replays it. */
    cairn_fixture_server_crash(srv);
    wal.bytes.len = 0;
    cairn_buf_append(&wal.bytes, s, (size_t)applied);
    boot(); /* dies with startup's error when recovery fails */
    if (srv->stream_offset != applied) die("recovery did not end at the WAL's end");
    /* Recovery's checkpoint may be in LMDB by now (the store thread drains
     * what the WAL holds): a new, empty store for the next input. */
    cairn_fixture_server_crash(srv);
    wal.bytes.len = 0;
    if (cairn_tmpdir_remove(&dir) != 0 || mkdir(dir.path, 0700) != 0) die("cannot empty the store's directory");
    boot();
  }
  return 0;
}
