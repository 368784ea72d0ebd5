/* A growable byte buffer. The one allocation primitive for query buffers,
 * reply buffers and the replication stream. Out of memory aborts the process
 * with a message, like Redis's zmalloc: there is no sane way to go on (the
 * cairn_buf_try_* functions are for the few callers that can). */
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
/* n zeroed bytes for random access (a big hash index): from 2 MB up, an
 * area of its own on transparent huge pages (madvise), so that a probe
 * costs no TLB miss and the first write to each 4 KB no fault of its own;
 * smaller, calloc. Freed with cairn_free_huge and the same n. */
void *cairn_xcalloc_huge(size_t n);
void cairn_free_huge(void *p, size_t n);
/* One CAIRN_HUGE_BLOCK-byte area on a huge page, aligned to it, contents
 * undefined (the overlay's arena blocks). Freed blocks are kept for reuse
 * while the blocks in use plus those kept stay within the cap
 * (cairn_huge_blocks_cap, the overlay's budget): a layer's arena then
 * costs no mmap, no munmap (a TLB shootdown on every core running a thread
 * of ours) and no kernel zeroing of 2 MB on the first write of each block.
 * Thread-safe: the loop takes blocks, the store thread frees layers. */
#define CAIRN_HUGE_BLOCK ((size_t)2 << 20)
void *cairn_huge_block(void);
void cairn_huge_block_free(void *p);
void cairn_huge_blocks_cap(size_t bytes);
/* Bytes of blocks in use and kept (INFO memory). */
void cairn_huge_blocks_stats(size_t *used, size_t *kept);
char *cairn_xstrdup(const char *s);
char *cairn_xmemdup(const void *p, size_t n); /* NUL-terminated copy */

/* Ensures room for n more bytes. */
void cairn_buf_grow(cairn_buf *b, size_t n);
/* Like cairn_buf_reserve, for callers that recover from running out of
 * memory (the backlog's threads): returns 0, or -1 with the buffer unchanged. */
int cairn_buf_try_reserve(cairn_buf *b, size_t n);

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
/* cairn_buf_printf that does not abort: returns 0, or -1 (the buffer
 * unchanged) when memory runs out or the format fails. */
int cairn_buf_try_printf(cairn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends p[0..n) in double quotes the way Redis's sdscatrepr does (what
 * redis-cli MONITOR shows and redis.conf reads back): \\ \" \n \r \t \a \b,
 * other bytes outside 32..126 as \xHH. */
void cairn_buf_append_repr(cairn_buf *b, const void *p, size_t n);
/* Writes a NUL after the contents (not counted in len) and returns b->p. */
char *cairn_buf_cstr(cairn_buf *b);
/* Hands over the contents as a NUL-terminated heap string ("" when empty;
 * never NULL) and leaves the buffer empty. */
char *cairn_buf_take_str(cairn_buf *b);
/* Removes the first n bytes. */
void cairn_buf_consume(cairn_buf *b, size_t n);
/* Inserts n bytes at position pos. */
void cairn_buf_insert(cairn_buf *b, size_t pos, const void *p, size_t n);
void cairn_buf_free(cairn_buf *b);
/* Frees the memory if the buffer is empty but holds more than keep bytes. */
void cairn_buf_shrink(cairn_buf *b, size_t keep);

#endif
