/* The replica's full-sync spool (repl-fullsync-spool, docs/REPLICATION.md
 * "Resumable full sync"): the bytes of a $<len> full-sync payload, written
 * to <dir>/replica-sync.spool as they are loaded, so that a replica
 * restarted in the middle of the transfer reloads them and asks its master
 * for the rest (REPLCONF resume-sync) instead of starting over.
 *
 * Layout: an 80-byte header, then the payload's first bytes as they came.
 *   0  "CAIRNRSS"         8  version (u32 LE, 1)
 *   12 replid (40 bytes)  52 offset (u64 LE: the +FULLRESYNC offset)
 *   60 total (u64 LE: the payload's announced length)
 *   68 crc32c of bytes 0..67 (u32 LE)   72 zeros
 * The payload bytes carry no checksum of their own: the RDB's CRC64, checked
 * before the load is committed, covers them (a torn or damaged spool ends in
 * a new full sync, never in wrong data). */
#ifndef CAIRN_REPLICATION_SPOOL_H
#define CAIRN_REPLICATION_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_SPOOL_FILE "replica-sync.spool"
#define CAIRN_SPOOL_HEADER 80

typedef struct cairn_spool_header {
  char replid[41];
  uint64_t offset; /* the full sync's offset (+FULLRESYNC <replid> <offset>) */
  uint64_t total;  /* the payload's announced length ($<total>) */
} cairn_spool_header;

void cairn_spool_header_encode(uint8_t out[CAIRN_SPOOL_HEADER], const cairn_spool_header *h);
/* 0, or -1 with why the bytes are not a spool header in err. */
int cairn_spool_header_decode(const uint8_t *in, size_t n, cairn_spool_header *h, char *err, size_t errlen);

/* Creates path (replacing any file there) holding h's header: the fd, or -1
 * with errno. */
int cairn_spool_create(const char *path, const cairn_spool_header *h);
/* Opens the spool at path for reading and appending: the fd, its header and
 * the payload bytes it holds in *have (at most h->total). 0 when there is no
 * file (*fd = -1), -1 with the cause in err when it is not a usable spool. */
int cairn_spool_open(const char *path, int *fd, cairn_spool_header *h, uint64_t *have, char *err, size_t errlen);
/* Writes n payload bytes at payload position pos: 0, or -1 with errno. */
int cairn_spool_write(int fd, uint64_t pos, const void *p, size_t n);

#endif
