/* The replica's full-sync spool: header and file (see spool.h). */
#include "replication/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/util.h"

static const char MAGIC[8] = {'C', 'A', 'I', 'R', 'N', 'R', 'S', 'S'};
#define VERSION 1u

void cairn_spool_header_encode(uint8_t out[CAIRN_SPOOL_HEADER], const cairn_spool_header *h) {
  memset(out, 0, CAIRN_SPOOL_HEADER);
  memcpy(out, MAGIC, 8);
  cairn_put_le32(out + 8, VERSION);
  memcpy(out + 12, h->replid, 40);
  cairn_put_le64(out + 52, h->offset);
  cairn_put_le64(out + 60, h->total);
  cairn_put_le32(out + 68, cairn_crc32c(0, out, 68));
}

int cairn_spool_header_decode(const uint8_t *in, size_t n, cairn_spool_header *h, char *err, size_t errlen) {
  if (n < CAIRN_SPOOL_HEADER) {
    snprintf(err, errlen, "%zu bytes, shorter than its %d-byte header", n, CAIRN_SPOOL_HEADER);
    return -1;
  }
  if (memcmp(in, MAGIC, 8) != 0) {
    snprintf(err, errlen, "not a spool (bad magic)");
    return -1;
  }
  if (cairn_get_le32(in + 68) != cairn_crc32c(0, in, 68)) {
    snprintf(err, errlen, "its header fails its checksum");
    return -1;
  }
  uint32_t v = cairn_get_le32(in + 8);
  if (v != VERSION) {
    snprintf(err, errlen, "version %u (this build reads %u)", v, VERSION);
    return -1;
  }
  memcpy(h->replid, in + 12, 40);
  h->replid[40] = '\0';
  h->offset = cairn_get_le64(in + 52);
  h->total = cairn_get_le64(in + 60);
  return 0;
}

int cairn_spool_create(const char *path, const cairn_spool_header *h) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  uint8_t hdr[CAIRN_SPOOL_HEADER];
  cairn_spool_header_encode(hdr, h);
  if (cairn_write_all(fd, hdr, sizeof(hdr)) != 0) {
    int e = errno;
    close(fd);
    unlink(path);
    errno = e;
    return -1;
  }
  return fd;
}

int cairn_spool_open(const char *path, int *fd, cairn_spool_header *h, uint64_t *have, char *err, size_t errlen) {
  *fd = open(path, O_RDWR | O_CLOEXEC);
  if (*fd < 0) {
    if (errno == ENOENT) return 0;
    snprintf(err, errlen, "%s", strerror(errno));
    return -1;
  }
  uint8_t hdr[CAIRN_SPOOL_HEADER];
  ssize_t got;
  do {
    got = pread(*fd, hdr, sizeof(hdr), 0);
  } while (got < 0 && errno == EINTR);
  struct stat st;
  if (got < 0 || fstat(*fd, &st) != 0) {
    snprintf(err, errlen, "%s", strerror(errno));
  } else if (cairn_spool_header_decode(hdr, (size_t)got, h, err, errlen) == 0) {
    uint64_t n = (uint64_t)st.st_size - CAIRN_SPOOL_HEADER;
    *have = n < h->total ? n : h->total;
    return 0;
  }
  close(*fd);
  *fd = -1;
  return -1;
}

int cairn_spool_write(int fd, uint64_t pos, const void *p, size_t n) {
  return cairn_pwrite_all(fd, p, n, CAIRN_SPOOL_HEADER + pos);
}
