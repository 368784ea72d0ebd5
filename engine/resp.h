/* RESP: parsing requests and writing replies. Pure code: it is fed bytes and
 * fills buffers; it never touches a socket, so unit tests and fuzzers drive it
 * directly (like hiredis' reader).
 *
 * Requests are RESP multibulk arrays of bulk strings or inline commands. The
 * parser is incremental: it keeps its position across calls so a huge command
 * arriving in many reads is scanned once. Arguments are returned as offsets
 * into the caller's buffer, which may therefore be reallocated between calls
 * as long as the bytes already fed stay at the same offsets. */
#ifndef CAIRN_RESP_H
#define CAIRN_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"

#define CAIRN_PROTO_INLINE_MAX_SIZE (1024 * 64) /* like Redis PROTO_INLINE_MAX_SIZE */

typedef struct cairn_str {
  const char *p;
  size_t len;
} cairn_str;

typedef struct cairn_req_parser {
  /* limits (set by the caller; checked while parsing) */
  long long max_bulk_len;       /* proto-max-bulk-len; 0 = unlimited (master link) */
  int unauthenticated;          /* Redis caps multibulk at 10 and bulks at 16 KiB before AUTH */

  /* state */
  int in_multibulk;             /* 0 = at command start */
  long long multibulk_left;     /* args still to read */
  long long bulk_len;           /* -1 = reading the $ header next */
  size_t pos;                   /* scan position, relative to the command's first byte */
  size_t argc, argcap;
  size_t *arg_off;              /* relative to the command's first byte */
  size_t *arg_len;
  char *inline_buf;             /* unescaped inline arguments live here */
  size_t inline_cap;
  int is_inline;
} cairn_req_parser;

enum { CAIRN_PARSE_ERROR = -1, CAIRN_PARSE_NEED_MORE = 0, CAIRN_PARSE_OK = 1 };

void cairn_req_parser_init(cairn_req_parser *p);
void cairn_req_parser_free(cairn_req_parser *p);

/* Parses one command from buf[0..len) (buf starts at the command's first byte;
 * call again with the same start after more bytes arrive). Returns
 * CAIRN_PARSE_OK with *consumed = the command's size and argc/argv available
 * through cairn_req_args; CAIRN_PARSE_NEED_MORE; or CAIRN_PARSE_ERROR with the
 * Redis error text (without "-ERR ") in err. An empty command (inline blank
 * line, "*0") returns OK with argc 0. After OK or ERROR the parser is reset. */
int cairn_req_parse(cairn_req_parser *p, const char *buf, size_t len, size_t *consumed,
                    char *err, size_t errlen);

/* Fills argv (capacity p->argc) with pointers valid while buf is unchanged. */
void cairn_req_args(const cairn_req_parser *p, const char *buf, cairn_str *argv);

/* Splits a line into arguments the way redis.conf and inline commands do
 * (sdssplitargs). Returns argc, or -1 for unbalanced quotes. Unescaped bytes
 * are written to out (which grows); argv points into out->p, valid until out
 * changes. */
int cairn_split_args(const char *line, size_t len, cairn_buf *out, size_t **offs, size_t **lens,
                     size_t *cap);

/* Reply writing ------------------------------------------------------------
 * Every reply goes through these functions; `resp` is 2 or 3. */
typedef struct cairn_reply {
  cairn_buf *buf;   /* NULL: replies are discarded (recovery, master link) */
  int resp;
} cairn_reply;

void cairn_reply_status(cairn_reply *r, const char *s);                 /* +s */
void cairn_reply_ok(cairn_reply *r);
/* Like Redis's addReplyError: "-CODE text" is sent as is (e.g.
 * "-WRONGTYPE Operation against a key ..."); anything else gets "-ERR " in
 * front ("syntax error" -> "-ERR syntax error"). */
void cairn_reply_error(cairn_reply *r, const char *msg);
void cairn_reply_errorf(cairn_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cairn_reply_int(cairn_reply *r, long long v);
void cairn_reply_bulk(cairn_reply *r, const void *p, size_t len);
void cairn_reply_bulk_str(cairn_reply *r, const char *s);
void cairn_reply_bulk_ll(cairn_reply *r, long long v);
void cairn_reply_null(cairn_reply *r);        /* $-1 / _ */
void cairn_reply_null_array(cairn_reply *r);  /* *-1 / _ */
void cairn_reply_array(cairn_reply *r, long long n);
void cairn_reply_map(cairn_reply *r, long long n);   /* n pairs: *2n / %n */
void cairn_reply_set(cairn_reply *r, long long n);   /* *n / ~n */
void cairn_reply_push(cairn_reply *r, long long n);  /* *n / >n */
void cairn_reply_double(cairn_reply *r, double d);   /* bulk / ,d */
void cairn_reply_bool(cairn_reply *r, int b);        /* :0/:1 / #t #f */
void cairn_reply_verbatim(cairn_reply *r, const char *p, size_t len); /* bulk / =txt: */
void cairn_reply_raw(cairn_reply *r, const void *p, size_t len);

/* Deferred aggregate length: write the elements, then the header is inserted. */
size_t cairn_reply_defer(cairn_reply *r);
void cairn_reply_defer_array(cairn_reply *r, size_t mark, long long n);
void cairn_reply_defer_map(cairn_reply *r, size_t mark, long long npairs);
void cairn_reply_defer_set(cairn_reply *r, size_t mark, long long n);

/* Appends a RESP array of bulk strings (how commands are written into the
 * replication stream). */
void cairn_resp_append_command(cairn_buf *b, int argc, const cairn_str *argv);

#endif
