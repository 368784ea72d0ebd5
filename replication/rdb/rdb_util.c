/* CRC64 (Jones), LZF decompression and the memory sink of the RDB codec. */
#include "replication/rdb/rdb.h"
#include "replication/rdb/rdb_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Reflected form of the Jones polynomial 0xad93d23594c935a9. */
#define CRC64_REFLECTED_POLY 0x95ac9329ac4bc9b5ULL

static uint64_t crc64_table[8][256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void) {
  for (int i = 0; i < 256; i++) {
    uint64_t c = (uint64_t)i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ CRC64_REFLECTED_POLY : c >> 1;
    crc64_table[0][i] = c;
  }
  /* Slicing-by-8 tables: table[k][i] = CRC of byte i followed by k zero bytes. */
  for (int i = 0; i < 256; i++) {
    uint64_t c = crc64_table[0][i];
    for (int k = 1; k < 8; k++) {
      c = crc64_table[0][c & 0xff] ^ (c >> 8);
      crc64_table[k][i] = c;
    }
  }
}

uint64_t cairn_rdb_crc64(uint64_t crc, const void *p, size_t n) {
  pthread_once(&crc64_once, crc64_init);
  const uint8_t *s = p;
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, s, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    crc ^= v;
    crc = crc64_table[7][crc & 0xff] ^ crc64_table[6][(crc >> 8) & 0xff] ^
          crc64_table[5][(crc >> 16) & 0xff] ^ crc64_table[4][(crc >> 24) & 0xff] ^
          crc64_table[3][(crc >> 32) & 0xff] ^ crc64_table[2][(crc >> 40) & 0xff] ^
          crc64_table[1][(crc >> 48) & 0xff] ^ crc64_table[0][crc >> 56];
    s += 8;
    n -= 8;
  }
  while (n--) crc = crc64_table[0][(crc ^ *s++) & 0xff] ^ (crc >> 8);
  return crc;
}

int cairn_rdb_lzf_decompress(const void *in, size_t in_len, void *out, size_t out_len) {
  const uint8_t *ip = in, *iend = ip + in_len;
  uint8_t *o = out;
  size_t op = 0;
  while (ip < iend) {
    unsigned c = *ip++;
    if (c < 32) {                      /* literal run of c+1 bytes */
      size_t run = (size_t)c + 1;
      if ((size_t)(iend - ip) < run || out_len - op < run) return -1;
      memcpy(o + op, ip, run);
      ip += run;
      op += run;
    } else {                           /* back-reference */
      size_t len = c >> 5;
      if (len == 7) {
        if (ip >= iend) return -1;
        len += *ip++;
      }
      if (ip >= iend) return -1;
      size_t dist = ((size_t)(c & 0x1f) << 8) + *ip++ + 1;
      len += 2;
      if (dist > op || out_len - op < len) return -1;
      for (size_t i = 0; i < len; i++, op++) o[op] = o[op - dist];   /* may overlap */
    }
  }
  return op == out_len ? 0 : -1;
}

int cairn_rdb_buf_write(void *ud, const void *p, size_t n) {
  cairn_rdb_buf *b = ud;
  if (n > SIZE_MAX - b->len) return -1;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) {
      if (cap > SIZE_MAX / 2) return -1;
      cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

/* A listpack entry's backlen: the size of encoding + data, written
 * big-endian in 7-bit groups, 1 to 5 bytes (the writer emits it, the reader
 * checks it against what it parsed). */
size_t cairn_rdb_lp_backlen(uint8_t *b, uint64_t l) {
  if (l <= 127) {
    b[0] = (uint8_t)l;
    return 1;
  }
  size_t n = l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
  for (size_t i = 0; i < n; i++) {
    uint8_t v = (uint8_t)((l >> (7 * (n - 1 - i))) & 127);
    b[i] = i ? (uint8_t)(v | 128) : v;
  }
  return n;
}
