/* libFuzzer target for the request parser (engine/resp.c). Not part of the
 * CMake build; see README.md in this directory.
 *
 * Input layout: byte 0 picks the limits (unauthenticated, proto-max-bulk-len),
 * byte 1 seeds the split points, the rest is the client's byte stream. The
 * stream is parsed command by command twice: each command in one call, and
 * fed in pieces (same buffer start, growing length, a fresh exact-size copy
 * per call so reads past what was fed are caught by ASan). Both must agree on
 * the outcome, the consumed size, the arguments and the error text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/resp.h"

typedef struct outcome {
  int rc;
  size_t consumed, argc;
  char err[128];
  cairn_buf args;
} outcome;

static void die(const char *what) {
  fprintf(stderr, "fuzz_resp: %s\n", what);
  abort();
}

static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 16;
}

/* Parses data[0..len) calling the parser at the given lengths, then at len. */
static void run(cairn_req_parser *p, const uint8_t *data, size_t len, uint32_t seed, int split, outcome *o) {
  o->rc = CAIRN_PARSE_NEED_MORE;
  o->args.len = 0;
  size_t have = 0;
  for (;;) {
    if (split && have < len)
      have += 1 + next_rand(&seed) % 16;
    else
      have = len;
    if (have > len) have = len;
    char *b = malloc(have ? have : 1);
    if (have) memcpy(b, data, have);
    size_t consumed = (size_t)-1;
    int rc = cairn_req_parse(p, b, have, &consumed, o->err, sizeof(o->err));
    if (rc == CAIRN_PARSE_OK) {
      if (consumed == 0 || consumed > have) die("consumed out of range");
      o->consumed = consumed;
      o->argc = p->argc;
      cairn_str *argv = calloc(p->argc ? p->argc : 1, sizeof(*argv));
      cairn_req_args(p, b, argv);
      for (size_t i = 0; i < p->argc; i++) {
        if (!p->is_inline && (argv[i].p < b || argv[i].p + argv[i].len > b + consumed))
          die("argument outside the command");
        uint64_t l = argv[i].len;
        cairn_buf_append(&o->args, &l, sizeof(l));
        cairn_buf_append(&o->args, argv[i].p, argv[i].len);
      }
      free(argv);
    }
    free(b);
    if (rc != CAIRN_PARSE_NEED_MORE) {
      o->rc = rc;
      return;
    }
    if (have == len) return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint8_t flags = data[0];
  uint32_t seed = data[1];
  data += 2;
  size -= 2;
  cairn_req_parser whole, pieces;
  cairn_req_parser_init(&whole);
  cairn_req_parser_init(&pieces);
  whole.unauthenticated = pieces.unauthenticated = flags & 1;
  static const long long limits[] = {0, 1, 16, 1000};
  whole.max_bulk_len = pieces.max_bulk_len = limits[(flags >> 1) & 3];
  outcome a = {0}, b = {0};
  size_t pos = 0;
  while (pos < size) {
    run(&whole, data + pos, size - pos, seed, 0, &a);
    run(&pieces, data + pos, size - pos, seed, 1, &b);
    seed = seed * 31u + 7u;
    /* Limits that depend on how much has arrived ("too big ... count
     * string") may fire in one mode only when the input exceeds 64 KiB. */
    if (size - pos > CAIRN_PROTO_INLINE_MAX_SIZE) break;
    if (a.rc != b.rc) die("whole and split parses disagree on the outcome");
    if (a.rc == CAIRN_PARSE_ERROR) {
      if (strcmp(a.err, b.err) != 0) die("whole and split parses disagree on the error");
      break;
    }
    if (a.rc == CAIRN_PARSE_NEED_MORE) break;
    if (a.consumed != b.consumed || a.argc != b.argc || a.args.len != b.args.len ||
        (a.args.len && memcmp(a.args.p, b.args.p, a.args.len) != 0))
      die("whole and split parses disagree on the command");
    pos += a.consumed;
  }
  cairn_buf_free(&a.args);
  cairn_buf_free(&b.args);
  cairn_req_parser_free(&whole);
  cairn_req_parser_free(&pieces);
  return 0;
}
