#include "engine/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void oom(size_t n) {
  fprintf(stderr, "cairn: out of memory allocating %zu bytes\n", n);
  abort();
}

void *cairn_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *cairn_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom(n * size);
  return p;
}

void *cairn_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *cairn_xstrdup(const char *s) { return cairn_xmemdup(s, strlen(s)); }

char *cairn_xmemdup(const void *p, size_t n) {
  char *q = cairn_xmalloc(n + 1);
  if (n) memcpy(q, p, n);
  q[n] = '\0';
  return q;
}

void cairn_buf_grow(cairn_buf *b, size_t n) {
  size_t need = b->len + n;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap < (1u << 20) ? cap * 2 : cap + cap / 2;
  b->p = cairn_xrealloc(b->p, cap);
  b->cap = cap;
}

void cairn_buf_append_str(cairn_buf *b, const char *s) { cairn_buf_append(b, s, strlen(s)); }

void cairn_buf_printf(cairn_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= b->cap - b->len || !b->p) {
    cairn_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
  }
  b->len += (size_t)n;
}

void cairn_buf_consume(cairn_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

void cairn_buf_insert(cairn_buf *b, size_t pos, const void *p, size_t n) {
  cairn_buf_reserve(b, n);
  memmove(b->p + pos + n, b->p + pos, b->len - pos);
  memcpy(b->p + pos, p, n);
  b->len += n;
}

void cairn_buf_free(cairn_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

void cairn_buf_shrink(cairn_buf *b, size_t keep) {
  if (b->len == 0 && b->cap > keep) cairn_buf_free(b);
}
