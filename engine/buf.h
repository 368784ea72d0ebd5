/* A growable byte buffer. The one allocation primitive for query buffers,
 * reply buffers and the replication stream. Out of memory aborts the process
 * with a message, like Redis's zmalloc: there is no sane way to go on. */
#ifndef CAIRN_BUF_H
#define CAIRN_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct cairn_buf {
  char *p;
  size_t len;
  size_t cap;
} cairn_buf;

void *cairn_xmalloc(size_t n);
void *cairn_xcalloc(size_t n, size_t size);
void *cairn_xrealloc(void *p, size_t n);
char *cairn_xstrdup(const char *s);
char *cairn_xmemdup(const void *p, size_t n); /* NUL-terminated copy */

/* Ensures room for n more bytes. */
void cairn_buf_grow(cairn_buf *b, size_t n);

static inline void cairn_buf_reserve(cairn_buf *b, size_t n) {
  if (b->cap - b->len < n) cairn_buf_grow(b, n);
}
static inline void cairn_buf_append(cairn_buf *b, const void *p, size_t n) {
  cairn_buf_reserve(b, n);
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
}
static inline void cairn_buf_putc(cairn_buf *b, char c) {
  cairn_buf_reserve(b, 1);
  b->p[b->len++] = c;
}
void cairn_buf_append_str(cairn_buf *b, const char *s);
void cairn_buf_printf(cairn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes. */
void cairn_buf_consume(cairn_buf *b, size_t n);
/* Inserts n bytes at position pos. */
void cairn_buf_insert(cairn_buf *b, size_t pos, const void *p, size_t n);
void cairn_buf_free(cairn_buf *b);
/* Frees the memory if the buffer is empty but holds more than keep bytes. */
void cairn_buf_shrink(cairn_buf *b, size_t keep);

#endif
