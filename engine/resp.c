#include "engine/resp.h"
#include "engine/util.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- parsing */

void cairn_req_parser_init(cairn_req_parser *p) {
  memset(p, 0, sizeof(*p));
  p->bulk_len = -1;
}

void cairn_req_parser_free(cairn_req_parser *p) {
  free(p->arg_off);
  free(p->arg_len);
  free(p->inline_buf);
  memset(p, 0, sizeof(*p));
}

static void parser_reset(cairn_req_parser *p) {
  p->in_multibulk = 0;
  p->multibulk_left = 0;
  p->bulk_len = -1;
  p->pos = 0;
  p->is_inline = 0;
}

static void push_arg(cairn_req_parser *p, size_t off, size_t len) {
  if (p->argc == p->argcap) {
    p->argcap = p->argcap ? p->argcap * 2 : 16;
    p->arg_off = cairn_xrealloc(p->arg_off, p->argcap * sizeof(size_t));
    p->arg_len = cairn_xrealloc(p->arg_len, p->argcap * sizeof(size_t));
  }
  p->arg_off[p->argc] = off;
  p->arg_len[p->argc] = len;
  p->argc++;
}

/* Strict decimal parse of a header number (Redis string2ll semantics). */
static int fail(char *err, size_t errlen, const char *msg) {
  snprintf(err, errlen, "%s", msg);
  return CAIRN_PARSE_ERROR;
}

static int parse_inline(cairn_req_parser *p, const char *buf, size_t len, size_t *consumed,
                        char *err, size_t errlen) {
  const char *nl = memchr(buf, '\n', len);
  if (!nl) {
    if (len > CAIRN_PROTO_INLINE_MAX_SIZE) {
      parser_reset(p);
      return fail(err, errlen, "Protocol error: too big inline request");
    }
    return CAIRN_PARSE_NEED_MORE;
  }
  size_t linelen = (size_t)(nl - buf);
  if (linelen && buf[linelen - 1] == '\r') linelen--;
  cairn_buf out = {p->inline_buf, 0, p->inline_cap};
  size_t *offs = p->arg_off, *lens = p->arg_len, cap = p->argcap;
  int argc = cairn_split_args(buf, linelen, &out, &offs, &lens, &cap);
  p->inline_buf = out.p;
  p->inline_cap = out.cap;
  p->arg_off = offs;
  p->arg_len = lens;
  p->argcap = cap;
  parser_reset(p);
  if (argc < 0) {
    p->argc = 0;
    return fail(err, errlen, "Protocol error: unbalanced quotes in request");
  }
  p->argc = (size_t)argc;
  p->is_inline = 1;
  *consumed = (size_t)(nl - buf) + 1;
  return CAIRN_PARSE_OK;
}

int cairn_req_parse(cairn_req_parser *p, const char *buf, size_t len, size_t *consumed,
                    char *err, size_t errlen) {
  if (!p->in_multibulk) {
    p->argc = 0;
    p->is_inline = 0;
    if (len == 0) return CAIRN_PARSE_NEED_MORE;
    if (buf[0] != '*') return parse_inline(p, buf, len, consumed, err, errlen);
    const char *cr = memchr(buf, '\r', len);
    if (!cr) {
      if (len > CAIRN_PROTO_INLINE_MAX_SIZE) {
        parser_reset(p);
        return fail(err, errlen, "Protocol error: too big mbulk count string");
      }
      return CAIRN_PARSE_NEED_MORE;
    }
    size_t hdr = (size_t)(cr - buf);
    if (hdr + 2 > len) return CAIRN_PARSE_NEED_MORE;
    long long n;
    if (!cairn_str2ll(buf + 1, hdr - 1, &n) || n > 2147483647LL) {
      parser_reset(p);
      return fail(err, errlen, "Protocol error: invalid multibulk length");
    }
    if (n > 10 && p->unauthenticated) {
      parser_reset(p);
      return fail(err, errlen, "Protocol error: unauthenticated multibulk length");
    }
    p->pos = hdr + 2;
    if (n <= 0) {
      *consumed = p->pos;
      parser_reset(p);
      return CAIRN_PARSE_OK;
    }
    p->in_multibulk = 1;
    p->multibulk_left = n;
    p->bulk_len = -1;
  }

  while (p->multibulk_left > 0) {
    if (p->bulk_len == -1) {
      if (p->pos >= len) return CAIRN_PARSE_NEED_MORE;
      const char *cr = memchr(buf + p->pos, '\r', len - p->pos);
      if (!cr) {
        if (len - p->pos > CAIRN_PROTO_INLINE_MAX_SIZE) {
          parser_reset(p);
          return fail(err, errlen, "Protocol error: too big bulk count string");
        }
        return CAIRN_PARSE_NEED_MORE;
      }
      size_t hdr = (size_t)(cr - (buf + p->pos));
      if (p->pos + hdr + 2 > len) return CAIRN_PARSE_NEED_MORE;
      if (buf[p->pos] != '$') {
        char msg[64];
        snprintf(msg, sizeof(msg), "Protocol error: expected '$', got '%c'", buf[p->pos]);
        parser_reset(p);
        return fail(err, errlen, msg);
      }
      long long n;
      if (!cairn_str2ll(buf + p->pos + 1, hdr - 1, &n) || n < 0 ||
          (p->max_bulk_len > 0 && n > p->max_bulk_len)) {
        parser_reset(p);
        return fail(err, errlen, "Protocol error: invalid bulk length");
      }
      if (n > 16384 && p->unauthenticated) {
        parser_reset(p);
        return fail(err, errlen, "Protocol error: unauthenticated bulk length");
      }
      p->pos += hdr + 2;
      p->bulk_len = n;
    }
    if (len - p->pos < (size_t)p->bulk_len + 2) return CAIRN_PARSE_NEED_MORE;
    push_arg(p, p->pos, (size_t)p->bulk_len);
    p->pos += (size_t)p->bulk_len + 2;
    p->bulk_len = -1;
    p->multibulk_left--;
  }
  *consumed = p->pos;
  parser_reset(p);
  return CAIRN_PARSE_OK;
}

void cairn_req_args(const cairn_req_parser *p, const char *buf, cairn_str *argv) {
  const char *base = p->is_inline ? p->inline_buf : buf;
  if (!base) base = ""; /* an inline line of empty arguments ("" "") copied no byte */
  for (size_t i = 0; i < p->argc; i++) {
    argv[i].p = base + p->arg_off[i];
    argv[i].len = p->arg_len[i];
  }
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* sdssplitargs semantics: whitespace separates arguments; "..." supports
 * \n \r \t \b \a \xHH and \<any>; '...' supports \'; a closing quote must be
 * followed by whitespace or the end. */
int cairn_split_args(const char *line, size_t len, cairn_buf *out, size_t **offs, size_t **lens,
                     size_t *cap) {
  size_t i = 0, argc = 0;
  out->len = 0;
#define AT(k) ((k) < len ? (unsigned char)line[k] : 0)
  for (;;) {
    while (i < len && isspace((unsigned char)line[i])) i++;
    if (i >= len) break;
    int inq = 0, insq = 0, done = 0;
    size_t start = out->len;
    while (!done) {
      unsigned char c = AT(i);
      if (inq) {
        if (c == '\\' && AT(i + 1) == 'x' && hexval(AT(i + 2)) >= 0 && hexval(AT(i + 3)) >= 0) {
          cairn_buf_putc(out, (char)(hexval(AT(i + 2)) * 16 + hexval(AT(i + 3))));
          i += 3;
        } else if (c == '\\' && i + 1 < len) {
          char e;
          i++;
          switch (line[i]) {
            case 'n': e = '\n'; break;
            case 'r': e = '\r'; break;
            case 't': e = '\t'; break;
            case 'b': e = '\b'; break;
            case 'a': e = '\a'; break;
            default: e = line[i]; break;
          }
          cairn_buf_putc(out, e);
        } else if (c == '"') {
          if (i + 1 < len && !isspace(AT(i + 1))) return -1;
          done = 1;
        } else if (i >= len) {
          return -1;
        } else {
          cairn_buf_putc(out, (char)c);
        }
      } else if (insq) {
        if (c == '\\' && AT(i + 1) == '\'') {
          i++;
          cairn_buf_putc(out, '\'');
        } else if (c == '\'') {
          if (i + 1 < len && !isspace(AT(i + 1))) return -1;
          done = 1;
        } else if (i >= len) {
          return -1;
        } else {
          cairn_buf_putc(out, (char)c);
        }
      } else {
        if (i >= len || c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0') {
          done = 1;
        } else if (c == '"') {
          inq = 1;
        } else if (c == '\'') {
          insq = 1;
        } else {
          cairn_buf_putc(out, (char)c);
        }
      }
      if (i < len) i++;
    }
    if (argc == *cap) {
      *cap = *cap ? *cap * 2 : 16;
      *offs = cairn_xrealloc(*offs, *cap * sizeof(size_t));
      *lens = cairn_xrealloc(*lens, *cap * sizeof(size_t));
    }
    (*offs)[argc] = start;
    (*lens)[argc] = out->len - start;
    argc++;
  }
#undef AT
  return (int)argc;
}

/* ---------------------------------------------------------------- replies */

static char *u64_digits(char *end, unsigned long long v) {
  do {
    *--end = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return end;
}

/* Writes "<prefix><n>\r\n" without printf. */
static void header(cairn_buf *b, char prefix, long long n) {
  char tmp[32];
  char *end = tmp + sizeof(tmp);
  char *s;
  end -= 2;
  end[0] = '\r';
  end[1] = '\n';
  if (n < 0) {
    s = u64_digits(end, 0ULL - (unsigned long long)n);
    *--s = '-';
  } else {
    s = u64_digits(end, (unsigned long long)n);
  }
  *--s = prefix;
  cairn_buf_append(b, s, (size_t)(tmp + sizeof(tmp) - s));
}

void cairn_reply_raw(cairn_reply *r, const void *p, size_t len) {
  if (r->buf) cairn_buf_append(r->buf, p, len);
}

void cairn_reply_status(cairn_reply *r, const char *s) {
  if (!r->buf) return;
  cairn_buf_putc(r->buf, '+');
  cairn_buf_append_str(r->buf, s);
  cairn_buf_append(r->buf, "\r\n", 2);
}

void cairn_reply_ok(cairn_reply *r) { cairn_reply_raw(r, "+OK\r\n", 5); }

void cairn_reply_error(cairn_reply *r, const char *msg) {
  if (!r->buf) return;
  size_t len = strlen(msg);
  if (len && msg[0] == '-') {
    msg++;
    len--;
    cairn_buf_putc(r->buf, '-');
  } else {
    cairn_buf_append(r->buf, "-ERR ", 5);
  }
  /* An error is one line: newlines inside it would break the protocol. */
  cairn_buf_reserve(r->buf, len + 2);
  for (size_t i = 0; i < len; i++) {
    char c = msg[i];
    r->buf->p[r->buf->len++] = (c == '\r' || c == '\n') ? ' ' : c;
  }
  cairn_buf_append(r->buf, "\r\n", 2);
}

void cairn_reply_errorf(cairn_reply *r, const char *fmt, ...) {
  if (!r->buf) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  cairn_reply_error(r, msg);
}

void cairn_reply_int(cairn_reply *r, long long v) {
  if (r->buf) header(r->buf, ':', v);
}

void cairn_reply_bulk(cairn_reply *r, const void *p, size_t len) {
  if (!r->buf) return;
  header(r->buf, '$', (long long)len);
  cairn_buf_reserve(r->buf, len + 2);
  if (len) memcpy(r->buf->p + r->buf->len, p, len);
  r->buf->len += len;
  r->buf->p[r->buf->len++] = '\r';
  r->buf->p[r->buf->len++] = '\n';
}

void cairn_reply_bulk_str(cairn_reply *r, const char *s) { cairn_reply_bulk(r, s, strlen(s)); }

void cairn_reply_bulk_ll(cairn_reply *r, long long v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof(tmp), "%lld", v);
  cairn_reply_bulk(r, tmp, (size_t)n);
}

void cairn_reply_null(cairn_reply *r) {
  if (r->resp >= 3)
    cairn_reply_raw(r, "_\r\n", 3);
  else
    cairn_reply_raw(r, "$-1\r\n", 5);
}

void cairn_reply_null_array(cairn_reply *r) {
  if (r->resp >= 3)
    cairn_reply_raw(r, "_\r\n", 3);
  else
    cairn_reply_raw(r, "*-1\r\n", 5);
}

void cairn_reply_array(cairn_reply *r, long long n) {
  if (r->buf) header(r->buf, '*', n);
}

void cairn_reply_map(cairn_reply *r, long long n) {
  if (r->buf) header(r->buf, r->resp >= 3 ? '%' : '*', r->resp >= 3 ? n : n * 2);
}

void cairn_reply_set(cairn_reply *r, long long n) {
  if (r->buf) header(r->buf, r->resp >= 3 ? '~' : '*', n);
}

void cairn_reply_push(cairn_reply *r, long long n) {
  if (r->buf) header(r->buf, r->resp >= 3 ? '>' : '*', n);
}

void cairn_reply_double(cairn_reply *r, double d) {
  if (!r->buf) return;
  char tmp[64];
  int n;
  if (isinf(d))
    n = snprintf(tmp, sizeof(tmp), "%s", d > 0 ? "inf" : "-inf");
  else
    n = snprintf(tmp, sizeof(tmp), "%.17g", d);
  if (r->resp >= 3) {
    cairn_buf_putc(r->buf, ',');
    cairn_buf_append(r->buf, tmp, (size_t)n);
    cairn_buf_append(r->buf, "\r\n", 2);
  } else {
    cairn_reply_bulk(r, tmp, (size_t)n);
  }
}

void cairn_reply_bool(cairn_reply *r, int b) {
  if (r->resp >= 3)
    cairn_reply_raw(r, b ? "#t\r\n" : "#f\r\n", 4);
  else
    cairn_reply_raw(r, b ? ":1\r\n" : ":0\r\n", 4);
}

void cairn_reply_verbatim(cairn_reply *r, const char *p, size_t len) {
  if (!r->buf) return;
  if (r->resp < 3) {
    cairn_reply_bulk(r, p, len);
    return;
  }
  header(r->buf, '=', (long long)len + 4);
  cairn_buf_append(r->buf, "txt:", 4);
  cairn_buf_append(r->buf, p, len);
  cairn_buf_append(r->buf, "\r\n", 2);
}

size_t cairn_reply_defer(cairn_reply *r) { return r->buf ? r->buf->len : 0; }

static void defer_header(cairn_reply *r, size_t mark, char prefix, long long n) {
  if (!r->buf) return;
  cairn_buf tmp = {0};
  header(&tmp, prefix, n);
  cairn_buf_insert(r->buf, mark, tmp.p, tmp.len);
  cairn_buf_free(&tmp);
}

void cairn_reply_defer_array(cairn_reply *r, size_t mark, long long n) { defer_header(r, mark, '*', n); }

void cairn_reply_defer_map(cairn_reply *r, size_t mark, long long npairs) {
  defer_header(r, mark, r->resp >= 3 ? '%' : '*', r->resp >= 3 ? npairs : npairs * 2);
}

void cairn_reply_defer_set(cairn_reply *r, size_t mark, long long n) {
  defer_header(r, mark, r->resp >= 3 ? '~' : '*', n);
}

void cairn_resp_append_command(cairn_buf *b, int argc, const cairn_str *argv) {
  header(b, '*', argc);
  for (int i = 0; i < argc; i++) {
    header(b, '$', (long long)argv[i].len);
    cairn_buf_reserve(b, argv[i].len + 2);
    if (argv[i].len) memcpy(b->p + b->len, argv[i].p, argv[i].len);
    b->len += argv[i].len;
    b->p[b->len++] = '\r';
    b->p[b->len++] = '\n';
  }
}
