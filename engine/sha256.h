/* SHA-256 (FIPS 180-4), for ACL password hashes (engine/acl.c).
 *
 * Threads: any (no shared state). */
#ifndef CAIRN_SHA256_H
#define CAIRN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct cairn_sha256 {
  uint32_t h[8];
  uint64_t len;      /* bytes hashed so far */
  uint8_t block[64]; /* pending bytes: len % 64 of them */
} cairn_sha256;

void cairn_sha256_init(cairn_sha256 *s);
void cairn_sha256_update(cairn_sha256 *s, const void *data, size_t n);
void cairn_sha256_final(cairn_sha256 *s, uint8_t out[32]);
/* One call: the digest of data as 64 lowercase hex digits and a NUL. */
void cairn_sha256_hex(const void *data, size_t n, char out[65]);

#endif
