/* Small pure helpers shared by every module: number parsing with Redis's exact
 * rules, number formatting, glob matching, size parsing, time, hashing.
 * Nothing here allocates unless its comment says so. */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Redis's string2ll: accepts only the canonical decimal form ("-0", "+1",
 * " 1", "01", "" are rejected), within long long range. Returns 1 on success. */
int cairn_str2ll(const char *s, size_t len, long long *out);

/* Like cairn_str2ll but for unsigned 64-bit values. */
int cairn_str2ull(const char *s, size_t len, unsigned long long *out);

/* Redis's string2ld/getLongDoubleFromObject rules for INCRBYFLOAT: no leading or
 * trailing space, not NaN; "inf" accepted. Returns 1 on success. */
int cairn_str2ld(const char *s, size_t len, long double *out);

/* Redis's getDoubleFromObject rules (strtod, whole string consumed, no spaces,
 * not NaN). Returns 1 on success. */
int cairn_str2d(const char *s, size_t len, double *out);

/* Writes the decimal form of v into buf (no NUL needed, but one is written when
 * room allows). Returns the length. buf must hold at least 21 bytes. */
size_t cairn_ll2str(char *buf, long long v);
size_t cairn_ull2str(char *buf, unsigned long long v);

/* Formats a long double the way INCRBYFLOAT replies (Redis ld2string
 * LD_STR_HUMAN: %.17Lf then trailing zeros and dot removed). buf >= 5*1024/… ;
 * pass at least 128 bytes. Returns length, or 0 if it does not fit/inf/nan. */
size_t cairn_ld2str(char *buf, size_t cap, long double v);

/* Formats a double like Redis's RESP2 bulk double (%.17g, "inf"/"-inf"). */
size_t cairn_d2str(char *buf, size_t cap, double v);

/* Redis's stringmatchlen glob: * ? [abc] [^a] [a-z] and backslash escape. */
int cairn_glob_match(const char *pattern, size_t plen, const char *str, size_t slen, int nocase);

/* Parses a memory size like redis.conf: "1gb", "512mb", "100k", "1024".
 * Returns 1 on success. */
int cairn_parse_memory(const char *s, long long *out);

/* Wall clock in milliseconds / microseconds since the epoch; monotonic ms. */
int64_t cairn_mstime(void);
int64_t cairn_ustime(void);
int64_t cairn_monotonic_ms(void);
/* Monotonic nanoseconds (command durations). */
int64_t cairn_monotonic_ns(void);

/* Major page faults (a page read from the disk) the calling thread took. */
uint64_t cairn_thread_major_faults(void);
/* CPU time the calling thread used, in microseconds. */
int64_t cairn_thread_cpu_us(void);

/* 64-bit non-cryptographic hash (stable across runs and machines). */
uint64_t cairn_hash64(const void *data, size_t len, uint64_t seed);

/* Little-endian integers in byte buffers (file and wire formats). */
static inline void cairn_put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void cairn_put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t cairn_get_le32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static inline uint64_t cairn_get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* CRC-32C (Castagnoli), usable incrementally: crc = cairn_crc32c(crc, p, n),
 * starting from 0. */
uint32_t cairn_crc32c(uint32_t crc, const void *data, size_t len);

/* Fills out with n random bytes from the OS (getrandom), falling back to a
 * time-seeded generator. */
void cairn_random_bytes(void *out, size_t n);

/* write(2) until all n bytes are written (EINTR retried): 0, or -1 with errno. */
int cairn_write_all(int fd, const void *p, size_t n);
/* pwrite of all n bytes at pos (EINTR retried): 0, or -1 with errno. */
int cairn_pwrite_all(int fd, const void *p, size_t n, uint64_t pos);

/* 40 lowercase hex characters plus NUL, like Redis's run_id / replid. */
void cairn_random_hex40(char out[41]);
/* Fast non-cryptographic randomness for random picks (xoshiro256**, seeded
 * from the OS once): a 64-bit value, and uniform in [0, n) for n > 0. */
uint64_t cairn_rand64(void);
uint64_t cairn_rand_below(uint64_t n);

#endif
