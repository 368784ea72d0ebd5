#include "engine/buf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

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

#define HUGE_PAGE ((size_t)2 << 20)

static size_t huge_len(size_t n) { return (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1); }

void *cairn_xcalloc_huge(size_t n) {
  if (n < HUGE_PAGE) return cairn_xcalloc(1, n);
  size_t len = huge_len(n);
  uint8_t *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) oom(n);
  uint8_t *a = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (a > p) munmap(p, (size_t)(a - p));
  if (p + len + HUGE_PAGE > a + len) munmap(a + len, (size_t)(p + len + HUGE_PAGE - (a + len)));
  madvise(a, len, MADV_HUGEPAGE); /* advice: without it (THP off) the area is still right */
  return a;
}

void cairn_free_huge(void *p, size_t n) {
  if (!p) return;
  if (n < HUGE_PAGE)
    free(p);
  else
    munmap(p, huge_len(n));
}

/* The kept blocks: a stack linked through their first word. Under ASan a
 * kept block is poisoned, so a read of a freed layer's arena is still
 * reported. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static struct {
  pthread_mutex_t mu;
  void *top;
  size_t used, kept, cap;
} blocks = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0};

void *cairn_huge_block(void) {
  pthread_mutex_lock(&blocks.mu);
  void *p = blocks.top;
  if (p) {
    UNPOISON(p, sizeof(void *));
    blocks.top = *(void **)p;
    blocks.kept -= CAIRN_HUGE_BLOCK;
    UNPOISON(p, CAIRN_HUGE_BLOCK);
  }
  blocks.used += CAIRN_HUGE_BLOCK;
  pthread_mutex_unlock(&blocks.mu);
  return p ? p : cairn_xcalloc_huge(CAIRN_HUGE_BLOCK);
}

void cairn_huge_block_free(void *p) {
  if (!p) return;
  pthread_mutex_lock(&blocks.mu);
  blocks.used -= CAIRN_HUGE_BLOCK;
  int keep = blocks.used + blocks.kept + CAIRN_HUGE_BLOCK <= blocks.cap;
  if (keep) {
    *(void **)p = blocks.top;
    blocks.top = p;
    blocks.kept += CAIRN_HUGE_BLOCK;
    POISON((char *)p + sizeof(void *), CAIRN_HUGE_BLOCK - sizeof(void *));
  }
  pthread_mutex_unlock(&blocks.mu);
  if (!keep) cairn_free_huge(p, CAIRN_HUGE_BLOCK);
}

void cairn_huge_blocks_cap(size_t bytes) {
  void *drop = NULL;
  pthread_mutex_lock(&blocks.mu);
  blocks.cap = bytes;
  while (blocks.top && blocks.used + blocks.kept > blocks.cap) {
    void *p = blocks.top;
    UNPOISON(p, sizeof(void *));
    blocks.top = *(void **)p;
    blocks.kept -= CAIRN_HUGE_BLOCK;
    UNPOISON(p, CAIRN_HUGE_BLOCK);
    *(void **)p = drop;
    drop = p;
  }
  pthread_mutex_unlock(&blocks.mu);
  while (drop) {
    void *next = *(void **)drop;
    cairn_free_huge(drop, CAIRN_HUGE_BLOCK);
    drop = next;
  }
}

void cairn_huge_blocks_stats(size_t *used, size_t *kept) {
  pthread_mutex_lock(&blocks.mu);
  *used = blocks.used;
  *kept = blocks.kept;
  pthread_mutex_unlock(&blocks.mu);
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

/* The capacity that holds n more bytes: 256 to start, doubling up to 1 MiB,
 * then growing by half. */
static size_t grown_cap(const cairn_buf *b, size_t n) {
  size_t need = b->len + n;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap < (1u << 20) ? cap * 2 : cap + cap / 2;
  return cap;
}

void cairn_buf_grow(cairn_buf *b, size_t n) {
  size_t cap = grown_cap(b, n);
  b->p = cairn_xrealloc(b->p, cap);
  b->cap = cap;
}

int cairn_buf_try_reserve(cairn_buf *b, size_t n) {
  if (b->cap - b->len >= n) return 0;
  size_t cap = grown_cap(b, n);
  char *p = realloc(b->p, cap);
  if (!p) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

void cairn_buf_append_str(cairn_buf *b, const char *s) { cairn_buf_append(b, s, strlen(s)); }

/* Formats at the end of b; try: a failed allocation returns -1 instead of
 * aborting. Returns -1 as well when the format itself fails. */
static int buf_vprintf(cairn_buf *b, int try, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
  int rc = 0;
  if (n < 0) {
    rc = -1;
  } else {
    if ((size_t)n >= b->cap - b->len || !b->p) {
      if (!try)
        cairn_buf_reserve(b, (size_t)n + 1);
      else if (cairn_buf_try_reserve(b, (size_t)n + 1) != 0)
        rc = -1;
      if (rc == 0) vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
    }
    if (rc == 0) b->len += (size_t)n;
  }
  va_end(again);
  return rc;
}

void cairn_buf_printf(cairn_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(b, 0, fmt, ap);
  va_end(ap);
}

int cairn_buf_try_printf(cairn_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = buf_vprintf(b, 1, fmt, ap);
  va_end(ap);
  return rc;
}

void cairn_buf_append_repr(cairn_buf *b, const void *p, size_t n) {
  const unsigned char *s = p;
  cairn_buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = s[i];
    switch (c) {
      case '\\': cairn_buf_append(b, "\\\\", 2); break;
      case '"': cairn_buf_append(b, "\\\"", 2); break;
      case '\n': cairn_buf_append(b, "\\n", 2); break;
      case '\r': cairn_buf_append(b, "\\r", 2); break;
      case '\t': cairn_buf_append(b, "\\t", 2); break;
      case '\a': cairn_buf_append(b, "\\a", 2); break;
      case '\b': cairn_buf_append(b, "\\b", 2); break;
      default:
        if (c >= 32 && c < 127)
          cairn_buf_putc(b, (char)c);
        else
          cairn_buf_printf(b, "\\x%02x", c);
    }
  }
  cairn_buf_putc(b, '"');
}

char *cairn_buf_cstr(cairn_buf *b) {
  cairn_buf_reserve(b, 1);
  b->p[b->len] = '\0';
  return b->p;
}

char *cairn_buf_take_str(cairn_buf *b) {
  char *s = cairn_buf_cstr(b);
  b->p = NULL;
  b->len = b->cap = 0;
  return s;
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
