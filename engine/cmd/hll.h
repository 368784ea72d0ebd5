/* HyperLogLog values, byte for byte Redis 7.0's representation
 * (src/hyperloglog.c), so an HLL written by cairn and one written by Redis
 * after the same PFADDs are the same string, and DUMP/RESTORE and
 * replication carry them either way.
 *
 * A value is a string: a 16-byte header ("HYLL", encoding 0 dense / 1
 * sparse, 3 zero bytes, the cached cardinality as 8 bytes little endian
 * whose top bit set means "stale"), then the registers:
 *   dense   16384 6-bit registers, LSB first, 12288 bytes;
 *   sparse  opcodes: 00xxxxxx ZERO (1..64 zero registers), 01xxxxxx yyyyyyyy
 *           XZERO (1..16384), 1vvvvvxx VAL (value 1..32 repeated 1..4 times).
 * Elements hash with MurmurHash64A (seed 0xadc83b19): the low 14 bits pick
 * the register, the run of zeros above them (+1) is the value. A sparse HLL
 * becomes dense when a value above 32 is needed or when it would grow past
 * hll-sparse-max-bytes. The estimate is Ertl's improved estimator, as Redis
 * computes it (same floating-point steps, so the same counts).
 * A sparse value whose opcodes run past the last register is corrupt (the
 * check of Redis's CVE-2025-32023 fix, which Debian's 7.0.15 carries).
 *
 * Pure functions (no server): tests/unit/test_hll.c. */
#ifndef CAIRN_CMD_HLL_H
#define CAIRN_CMD_HLL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"

#define CAIRN_HLL_REGISTERS 16384
#define CAIRN_HLL_HDR 16
#define CAIRN_HLL_DENSE_SIZE (CAIRN_HLL_HDR + CAIRN_HLL_REGISTERS * 6 / 8)
enum { CAIRN_HLL_DENSE = 0, CAIRN_HLL_SPARSE = 1 };

/* Redis's isHLLObjectOrReply: magic, a known encoding, a dense value of
 * exactly the dense size. 1 valid, 0 not. */
int cairn_hll_valid(const void *p, size_t len);

/* A new empty HLL (sparse: one XZERO opcode for all registers) into b. */
void cairn_hll_new(cairn_buf *b);

/* MurmurHash64A as Redis uses it (little-endian word reads). */
uint64_t cairn_hll_murmur64a(const void *key, size_t len, uint32_t seed);
/* The register index and run length (1..51) of an element. */
int cairn_hll_patlen(const void *ele, size_t len, long *reg);

/* Adds an element: 1 a register changed (the cache is marked stale by the
 * caller, as PFADD does), 0 nothing changed, -1 a corrupt sparse value.
 * sparse_max: hll-sparse-max-bytes. */
int cairn_hll_add(cairn_buf *b, const void *ele, size_t len, size_t sparse_max);
/* Raises register idx to count if lower (the same return values). */
int cairn_hll_set(cairn_buf *b, long idx, uint8_t count, size_t sparse_max);
/* Converts a sparse value to dense in place: 0, or -1 when corrupt (b
 * unchanged). A dense value is left alone. */
int cairn_hll_to_dense(cairn_buf *b);

/* The estimate from the registers (not the cache). *invalid is set to 1
 * when a sparse value does not cover exactly 16384 registers. */
uint64_t cairn_hll_count(const void *p, size_t len, int *invalid);
/* The estimate of 16384 one-byte registers (PFCOUNT of several keys). */
uint64_t cairn_hll_count_raw(const uint8_t *regs);
/* max[i] = MAX(max[i], register i): 0, or -1 for a corrupt sparse value. */
int cairn_hll_merge(uint8_t *max, const void *p, size_t len);

/* The cached cardinality: 1 valid (into *card), 0 stale. */
int cairn_hll_cache_get(const void *p, uint64_t *card);
void cairn_hll_cache_set(void *p, uint64_t card);
void cairn_hll_cache_invalidate(void *p);

/* Register i of a dense value. */
uint8_t cairn_hll_dense_get(const void *p, long i);

#endif
