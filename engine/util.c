/* Small pure helpers: see util.h for the contract of each function.
 *
 * The number parsers and formatters reproduce Redis 7.0's exact acceptance
 * rules and output, because clients (and the differential tests) observe them
 * directly in replies such as INCRBYFLOAT and error messages. */
#include "engine/util.h"


#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Integer parsing                                                          */
/* ------------------------------------------------------------------------ */

/* Parses the magnitude part of a canonical decimal: one or more digits, no
 * leading zero unless the whole magnitude is "0". Returns 1 and the value, or
 * 0 on any other shape or on overflow of unsigned long long. */
static int parse_canonical_magnitude(const char *p, size_t len, unsigned long long *out) {
  if (len == 0) return 0;
  if (p[0] == '0') {
    if (len != 1) return 0;
    *out = 0;
    return 1;
  }
  unsigned long long v = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned d = (unsigned char)p[i] - '0';
    if (d > 9) return 0;
    if (v > (ULLONG_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *out = v;
  return 1;
}

int cairn_str2ll(const char *s, size_t len, long long *out) {
  /* Like string2ll's LONG_STR_SIZE check: 21 or more characters never fit
   * (this only saves scanning a long value; the overflow checks agree). */
  if (len == 0 || len > 20) return 0;
  int neg = 0;
  if (s[0] == '-') {
    neg = 1;
    s++;
    len--;
    /* Redis rejects "-0": the magnitude after a minus must start with 1-9. */
    if (len == 0 || s[0] == '0') return 0;
  }
  unsigned long long mag;
  if (!parse_canonical_magnitude(s, len, &mag)) return 0;
  long long v;
  if (neg) {
    if (mag > (unsigned long long)LLONG_MAX + 1ULL) return 0;
    /* Negate in unsigned arithmetic: -(LLONG_MIN) is not representable. */
    v = mag == (unsigned long long)LLONG_MAX + 1ULL ? LLONG_MIN : -(long long)mag;
  } else {
    if (mag > (unsigned long long)LLONG_MAX) return 0;
    v = (long long)mag;
  }
  if (out) *out = v;
  return 1;
}

int cairn_str2ull(const char *s, size_t len, unsigned long long *out) {
  unsigned long long v;
  if (!parse_canonical_magnitude(s, len, &v)) return 0;
  if (out) *out = v;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Floating point parsing                                                   */
/* ------------------------------------------------------------------------ */

/* Redis refuses long double inputs of MAX_LONG_DOUBLE_CHARS (5k) or more. */
#define LD_MAX_CHARS (5 * 1024)

int cairn_str2ld(const char *s, size_t len, long double *out) {
  char buf[LD_MAX_CHARS];
  if (len == 0 || len >= sizeof(buf)) return 0;
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (isspace((unsigned char)buf[0])) return 0;
  char *end;
  errno = 0;
  long double v = strtold(buf, &end);
  /* end must land exactly on the terminator: this also catches embedded NULs. */
  if ((size_t)(end - buf) != len) return 0;
  if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) return 0;
  if (errno == EINVAL || isnan(v)) return 0;
  if (out) *out = v;
  return 1;
}

int cairn_str2d(const char *s, size_t len, double *out) {
  /* strtod needs a terminated string; long inputs (legal, e.g. many zeros)
   * get a temporary heap copy that is freed before returning. */
  char small[128];
  char *buf = small;
  if (len == 0 || isspace((unsigned char)s[0])) return 0;
  if (len >= sizeof(small)) {
    buf = malloc(len + 1);
    if (!buf) return 0;
  }
  memcpy(buf, s, len);
  buf[len] = '\0';
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  int ok = (size_t)(end - buf) == len && !isnan(v) &&
           !(errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || v == 0));
  if (buf != small) free(buf);
  if (!ok) return 0;
  if (out) *out = v;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Number formatting                                                        */
/* ------------------------------------------------------------------------ */

size_t cairn_ull2str(char *buf, unsigned long long v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  buf[n] = '\0';
  return n;
}

size_t cairn_ll2str(char *buf, long long v) {
  if (v >= 0) return cairn_ull2str(buf, (unsigned long long)v);
  buf[0] = '-';
  /* Magnitude computed in unsigned arithmetic so LLONG_MIN does not overflow. */
  return 1 + cairn_ull2str(buf + 1, 0ULL - (unsigned long long)v);
}

size_t cairn_ld2str(char *buf, size_t cap, long double v) {
  if (cap == 0 || isinf(v) || isnan(v)) return 0;
  int n = snprintf(buf, cap, "%.17Lf", v);
  if (n < 0 || (size_t)n + 1 > cap) return 0;
  size_t l = (size_t)n;
  if (memchr(buf, '.', l)) {
    while (l > 0 && buf[l - 1] == '0') l--;
    if (l > 0 && buf[l - 1] == '.') l--;
  }
  if (l == 2 && buf[0] == '-' && buf[1] == '0') {
    buf[0] = '0';
    l = 1;
  }
  buf[l] = '\0';
  return l;
}

size_t cairn_d2str(char *buf, size_t cap, double v) {
  if (cap == 0) return 0;
  if (isinf(v)) {
    const char *s = v > 0 ? "inf" : "-inf";
    size_t l = strlen(s);
    if (l + 1 > cap) return 0;
    memcpy(buf, s, l + 1);
    return l;
  }
  int n = snprintf(buf, cap, "%.17g", v);
  if (n < 0 || (size_t)n + 1 > cap) return 0;
  return (size_t)n;
}

/* ------------------------------------------------------------------------ */
/* Glob matching                                                            */
/* ------------------------------------------------------------------------ */

/* ASCII-only case folding, like tolower() in the C locale Redis runs in. */
static int fold(int c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

/* Matches one bracket class starting just after '['. *pp / *plen are advanced
 * to the closing ']' (or to the last pattern byte when the class is not
 * closed, which Redis treats as ending the class). Bytes compare as signed
 * chars, which is what Redis does on the platforms we run on. */
static int match_class(const char **pp, size_t *plen, char ch, int nocase) {
  const char *p = *pp;
  size_t n = *plen;
  int negate = 0, hit = 0;
  if (n > 0 && p[0] == '^') {
    negate = 1;
    p++;
    n--;
  }
  for (;;) {
    if (n == 0) {
      /* Unterminated: step back so the caller's advance lands at the end. */
      p--;
      n++;
      break;
    }
    if (p[0] == '\\' && n >= 2) {
      p++;
      n--;
      if (p[0] == ch) hit = 1;
    } else if (p[0] == ']') {
      break;
    } else if (n >= 3 && p[1] == '-') {
      int lo = (signed char)p[0], hi = (signed char)p[2], c = (signed char)ch;
      if (lo > hi) {
        int t = lo;
        lo = hi;
        hi = t;
      }
      if (nocase) {
        lo = fold(lo);
        hi = fold(hi);
        c = fold(c);
      }
      if (c >= lo && c <= hi) hit = 1;
      p += 2;
      n -= 2;
    } else if (nocase ? fold((unsigned char)p[0]) == fold((unsigned char)ch) : p[0] == ch) {
      hit = 1;
    }
    p++;
    n--;
  }
  *pp = p;
  *plen = n;
  return negate ? !hit : hit;
}

/* Recursive matcher with Redis's semantics. *give_up is set once a '*' has
 * tried every remaining suffix without success: any earlier '*' trying a
 * longer span cannot succeed either, which keeps pathological patterns like
 * "a*a*a*a*b" linear-ish instead of exponential (Redis CVE-2022-36021 fix). */
static int glob_rec(const char *p, size_t plen, const char *s, size_t slen, int nocase, int *give_up) {
  while (plen && slen) {
    switch (p[0]) {
    case '*':
      while (plen > 1 && p[1] == '*') {
        p++;
        plen--;
      }
      if (plen == 1) return 1;
      for (; slen; s++, slen--) {
        if (glob_rec(p + 1, plen - 1, s, slen, nocase, give_up)) return 1;
        if (*give_up) return 0;
      }
      *give_up = 1;
      return 0;
    case '?':
      break;
    case '[':
      p++;
      plen--;
      if (!match_class(&p, &plen, s[0], nocase)) return 0;
      break;
    case '\\':
      if (plen >= 2) {
        p++;
        plen--;
      }
      /* fall through */
    default:
      if (nocase ? fold((unsigned char)p[0]) != fold((unsigned char)s[0]) : p[0] != s[0]) return 0;
      break;
    }
    /* Every token above consumes exactly one byte of the subject. */
    s++;
    slen--;
    p++;
    plen--;
    if (slen == 0) {
      while (plen && p[0] == '*') {
        p++;
        plen--;
      }
      break;
    }
  }
  /* Note: like Redis, an empty subject matches only an empty pattern. */
  return plen == 0 && slen == 0;
}

int cairn_glob_match(const char *pattern, size_t plen, const char *str, size_t slen, int nocase) {
  int give_up = 0;
  return glob_rec(pattern, plen, str, slen, nocase, &give_up);
}

/* ------------------------------------------------------------------------ */
/* Memory sizes                                                             */
/* ------------------------------------------------------------------------ */

/* Same units as redis.conf's memtoull (k/m/g decimal, kb/mb/gb binary, b,
 * case-insensitive), plus t/tb so terabyte defaults can be written naturally.
 * Unlike memtoull, an empty number ("", "kb") and negatives are rejected, and
 * the result must fit a long long. */
int cairn_parse_memory(const char *s, long long *out) {
  if (!s) return 0;
  const char *u = s;
  while (*u >= '0' && *u <= '9') u++;
  size_t digits = (size_t)(u - s);
  if (digits == 0) return 0;
  static const struct {
    const char *suffix;
    unsigned long long mul;
  } units[] = {
      {"", 1ULL},
      {"b", 1ULL},
      {"k", 1000ULL},
      {"kb", 1024ULL},
      {"m", 1000ULL * 1000},
      {"mb", 1024ULL * 1024},
      {"g", 1000ULL * 1000 * 1000},
      {"gb", 1024ULL * 1024 * 1024},
      {"t", 1000ULL * 1000 * 1000 * 1000},
      {"tb", 1024ULL * 1024 * 1024 * 1024},
  };
  unsigned long long mul = 0;
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcasecmp(u, units[i].suffix) == 0) {
      mul = units[i].mul;
      break;
    }
  }
  if (mul == 0) return 0;
  unsigned long long v = 0;
  for (size_t i = 0; i < digits; i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (ULLONG_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  if (v > (unsigned long long)LLONG_MAX / mul) return 0;
  if (out) *out = (long long)(v * mul);
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Time                                                                     */
/* ------------------------------------------------------------------------ */

int64_t cairn_ustime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cairn_mstime(void) { return cairn_ustime() / 1000; }

int64_t cairn_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cairn_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* 64-bit hash                                                              */
/* ------------------------------------------------------------------------ */

static const uint64_t H_P0 = 0x9e3779b97f4a7c15ULL;
static const uint64_t H_P1 = 0xc2b2ae3d27d4eb4fULL;
static const uint64_t H_P2 = 0x165667b19e3779f9ULL;
static const uint64_t H_P3 = 0xd6e8feb86659fd93ULL;

/* 64x64->128 multiply folded to 64 bits: the core mixing step. Every input
 * bit influences the high and low halves, so folding them gives good
 * avalanche at the cost of one multiply. */
static inline uint64_t fold_mul(uint64_t a, uint64_t b) {
  __uint128_t r = (__uint128_t)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Little-endian loads so the hash is identical on every machine. */
static inline uint64_t load64le(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static inline uint64_t load_tail(const unsigned char *p, size_t n) {
  /* 0 < n < 8: pack the bytes little-endian. */
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

uint64_t cairn_hash64(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = seed ^ fold_mul(seed ^ H_P0, (uint64_t)len ^ H_P1);
  size_t n = len;
  /* Two independent lanes per 16-byte block, combined by the fold multiply. */
  while (n >= 16) {
    h = fold_mul(load64le(p) ^ H_P1 ^ h, load64le(p + 8) ^ H_P2);
    p += 16;
    n -= 16;
  }
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = load64le(p);
    b = n > 8 ? load_tail(p + 8, n - 8) : 0;
  } else if (n > 0) {
    a = load_tail(p, n);
  }
  h = fold_mul(a ^ H_P1 ^ h, b ^ H_P3 ^ (uint64_t)len);
  return fold_mul(h ^ H_P0, H_P2 ^ (uint64_t)len);
}

/* ------------------------------------------------------------------------ */
/* CRC-32C (Castagnoli), slicing-by-8                                       */
/* ------------------------------------------------------------------------ */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Builds the eight lookup tables once: table 0 is the classic byte table for
 * the reflected polynomial 0x82F63B78; table k advances a byte's contribution
 * by k further zero bytes, letting the loop consume 8 bytes per step. */
#if defined(__x86_64__)
static int crc_hw; /* set once by crc_init */
#endif

static void crc_init(void) {
#if defined(__x86_64__)
  crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_tab[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = crc_tab[0][i];
    for (int t = 1; t < 8; t++) {
      c = crc_tab[0][c & 0xff] ^ (c >> 8);
      crc_tab[t][i] = c;
    }
  }
}

#if defined(__x86_64__)
#include <nmmintrin.h>
/* SSE4.2's crc32 instruction computes CRC-32C: 8 bytes per instruction,
 * several times the tables' speed (run files and backlog records are
 * checked whole). */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t len) {
  uint64_t c = ~crc;
  while (len && ((uintptr_t)p & 7)) {
    c = _mm_crc32_u8((uint32_t)c, *p++);
    len--;
  }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8;
    len -= 8;
  }
  while (len--) c = _mm_crc32_u8((uint32_t)c, *p++);
  return ~(uint32_t)c;
}
#endif

uint32_t cairn_crc32c(uint32_t crc, const void *data, size_t len) {
  pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
  if (crc_hw) return crc32c_hw(crc, data, len);
#endif
  const unsigned char *p = data;
  uint32_t c = ~crc;
  while (len && ((uintptr_t)p & 7)) {
    c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    len--;
  }
  while (len >= 8) {
    uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    c = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^ crc_tab[5][(lo >> 16) & 0xff] ^
        crc_tab[4][lo >> 24] ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
    p += 8;
    len -= 8;
  }
  while (len--) c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

/* ------------------------------------------------------------------------ */
/* Randomness                                                               */
/* ------------------------------------------------------------------------ */

/* Fallback generator (splitmix64) used only when getrandom is unavailable;
 * seeded from time, pid and an address so two processes still differ. */
static uint64_t splitmix(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void cairn_random_bytes(void *out, size_t n) {
  unsigned char *p = out;
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(p + got, n - got, 0);
    if (r > 0) {
      got += (size_t)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  if (got == n) return;
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static uint64_t state;
  pthread_mutex_lock(&mu);
  state ^= (uint64_t)cairn_ustime() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&state;
  while (got < n) {
    uint64_t v = splitmix(&state);
    size_t k = n - got < 8 ? n - got : 8;
    memcpy(p + got, &v, k);
    got += k;
  }
  pthread_mutex_unlock(&mu);
}

int cairn_write_all(int fd, const void *p, size_t n) {
  const char *q = p;
  while (n) {
    ssize_t w = write(fd, q, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    q += w;
    n -= (size_t)w;
  }
  return 0;
}

int cairn_pwrite_all(int fd, const void *p, size_t n, uint64_t pos) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(fd, (const uint8_t *)p + done, n - done, (off_t)(pos + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (w == 0) {
      errno = EIO;
      return -1;
    }
    done += (size_t)w;
  }
  return 0;
}

void cairn_random_hex40(char out[41]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char raw[20];
  cairn_random_bytes(raw, sizeof(raw));
  for (int i = 0; i < 20; i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[40] = '\0';
}

/* ---------------------------------------------------------------- fast random */

static uint64_t rng_state[4];
static int rng_seeded;

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cairn_rand64(void) {
  if (!rng_seeded) {
    cairn_random_bytes(rng_state, sizeof(rng_state));
    if (!(rng_state[0] | rng_state[1] | rng_state[2] | rng_state[3])) rng_state[0] = 1;
    rng_seeded = 1;
  }
  uint64_t *s = rng_state;
  uint64_t r = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64(s[3], 45);
  return r;
}

uint64_t cairn_rand_below(uint64_t n) { return (uint64_t)(((unsigned __int128)cairn_rand64() * n) >> 64); }

int64_t cairn_thread_cpu_us(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t cairn_thread_major_faults(void) {
  struct rusage ru;
  return getrusage(RUSAGE_THREAD, &ru) == 0 ? (uint64_t)ru.ru_majflt : 0;
}
