/* The RDB codec (Redis 7.0, RDB version 10) shared by full sync (issue 4) and
 * DUMP/RESTORE (issue 5). Pure code: no sockets, no files, no LMDB. Byte-level
 * facts are in ../shared/PROTOCOL.md section 6.
 *
 *   rdb_util.c   CRC64 (Jones), LZF decompression, listpack encode helpers
 *   rdb_write.c  streaming writer (bounded memory, bytes go to a callback)
 *   rdb_read.c   incremental reader (fed arbitrary chunks, callbacks out)
 *
 * Threading: a writer or reader is used by one thread at a time; there is no
 * global state.
 */
#ifndef CAIRN_RDB_H
#define CAIRN_RDB_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_RDB_VERSION 10
#define CAIRN_RDB_NO_EXPIRE (-1LL)

/* Raw RDB value type bytes (rdb.h in Redis). */
enum {
  CAIRN_RDB_TYPE_STRING = 0,
  CAIRN_RDB_TYPE_LIST = 1,            /* legacy, loaded */
  CAIRN_RDB_TYPE_SET = 2,
  CAIRN_RDB_TYPE_ZSET = 3,            /* legacy text scores, loaded */
  CAIRN_RDB_TYPE_HASH = 4,
  CAIRN_RDB_TYPE_ZSET_2 = 5,
  CAIRN_RDB_TYPE_MODULE = 6,          /* rejected */
  CAIRN_RDB_TYPE_MODULE_2 = 7,        /* skipped (on_skipped) */
  CAIRN_RDB_TYPE_HASH_ZIPMAP = 9,         /* legacy (Redis < 2.6), loaded */
  CAIRN_RDB_TYPE_LIST_ZIPLIST = 10,       /* legacy (Redis < 3.2), loaded */
  CAIRN_RDB_TYPE_SET_INTSET = 11,
  CAIRN_RDB_TYPE_ZSET_ZIPLIST = 12,       /* legacy (Redis < 7.0), loaded */
  CAIRN_RDB_TYPE_HASH_ZIPLIST = 13,       /* legacy (Redis < 7.0), loaded */
  CAIRN_RDB_TYPE_LIST_QUICKLIST = 14,     /* legacy (Redis 3.2 .. 6.2), loaded */
  CAIRN_RDB_TYPE_STREAM_LISTPACKS = 15,   /* Redis 5..6.2: delivered through on_stream (or skipped) */
  CAIRN_RDB_TYPE_HASH_LISTPACK = 16,
  CAIRN_RDB_TYPE_ZSET_LISTPACK = 17,
  CAIRN_RDB_TYPE_LIST_QUICKLIST_2 = 18,
  CAIRN_RDB_TYPE_STREAM_LISTPACKS_2 = 19, /* Redis 7.0: written; delivered through on_stream (or skipped) */
};
/* The legacy encodings 9, 10, 12, 13, 14 (zipmap, ziplists, quicklist of
 * ziplists), which Redis 7.0 still loads from older RDBs and payloads, are
 * read and delivered member by member like the others. */

/* Opcodes (read where a type byte is expected). */
enum {
  CAIRN_RDB_OP_FUNCTION2 = 245,
  CAIRN_RDB_OP_FUNCTION = 246,        /* 7.0-rc only: skipped */
  CAIRN_RDB_OP_MODULE_AUX = 247,
  CAIRN_RDB_OP_IDLE = 248,
  CAIRN_RDB_OP_FREQ = 249,
  CAIRN_RDB_OP_AUX = 250,
  CAIRN_RDB_OP_RESIZEDB = 251,
  CAIRN_RDB_OP_EXPIRETIME_MS = 252,
  CAIRN_RDB_OP_EXPIRETIME = 253,
  CAIRN_RDB_OP_SELECTDB = 254,
  CAIRN_RDB_OP_EOF = 255,
};

/* Logical kinds: what the loader stores, whatever the encoding was. */
typedef enum cairn_rdb_kind {
  CAIRN_RDB_KIND_STRING = 0,
  CAIRN_RDB_KIND_LIST,
  CAIRN_RDB_KIND_SET,
  CAIRN_RDB_KIND_ZSET,
  CAIRN_RDB_KIND_HASH,
  CAIRN_RDB_KIND_STREAM,    /* on_key, on_stream..., on_key_end when on_stream is set, else on_skipped */
  CAIRN_RDB_KIND_MODULE,    /* only ever reported through on_skipped */
} cairn_rdb_kind;

/* CRC-64 Jones, reflected, init 0, no final xor ("123456789" ->
 * 0xe9c6d914c4b8d9ca). Chain calls: crc = cairn_rdb_crc64(crc, p, n). */
uint64_t cairn_rdb_crc64(uint64_t crc, const void *p, size_t n);

/* LZF decompression (lzf_d.c semantics). Returns 0 when `in` decodes to
 * exactly `out_len` bytes, -1 on any malformed input (never reads or writes
 * out of bounds). */
int cairn_rdb_lzf_decompress(const void *in, size_t in_len, void *out, size_t out_len);

/* ========================================================================
 * Writer
 *
 * Emits an RDB through `write(ud, p, n)` (return 0 on success, anything else
 * aborts: the writer then fails every later call with -1). The writer keeps a
 * 16 KB output buffer plus, while a list is being written, one quicklist
 * node (at most `list_node_elems` elements); nothing else grows with the data.
 * Every call returns 0, or -1 with a message in cairn_rdb_writer_error().
 *
 * Sequence (anything else is an API misuse error, not a corrupt file):
 *   begin(aux)                        header + standard AUX fields
 *   [aux(k, v)]*                      extra AUX fields
 *   { select_db(db, nkeys, nexpires)
 *     { key(kind, key, expire_ms)
 *       STRING:  string(value)
 *       others:  coll_begin(count)  element... (exactly count)  coll_end()
 *     }* }*
 *   end()                             EOF + CRC64, flushes
 *
 * Encodings written (all loadable by a Redis 7.0 replica / RESTORE):
 *   STRING -> type 0 (integer-encoded like Redis when canonical, <= 11 chars
 *             and int32; never LZF); keys, members and fields too.
 *   SET    -> type 2, HASH -> type 4, ZSET -> type 5 (doubles LE), or after
 *             cairn_rdb_writer_compact(): intset (11), listpacks (16, 17),
 *   LIST   -> type 18 with PACKED listpack nodes of up to list_node_elems
 *             elements (node count = ceil(count / list_node_elems)), or PLAIN
 *             nodes (one per element) when list_node_elems == 0.
 * Redis converts small collections to listpack/intset itself on load.
 * ======================================================================== */
typedef int (*cairn_rdb_write_fn)(void *ud, const void *p, size_t n);
typedef struct cairn_rdb_writer cairn_rdb_writer;

typedef struct cairn_rdb_aux {
  const char *redis_ver;      /* NULL: "7.0.15" */
  int64_t ctime;              /* unix seconds */
  int64_t used_mem;           /* bytes */
  int with_repl;              /* nonzero: repl-stream-db, repl-id, repl-offset */
  int repl_stream_db;
  const char *repl_id;        /* 40 hex chars */
  int64_t repl_offset;
} cairn_rdb_aux;

/* list_node_elems: elements per PACKED quicklist node (0 = PLAIN nodes, one
 * element each; default 128 when < 0). Returns NULL only on OOM. */
cairn_rdb_writer *cairn_rdb_writer_new(cairn_rdb_write_fn write, void *ud, int list_node_elems);
void cairn_rdb_writer_free(cairn_rdb_writer *w);
const char *cairn_rdb_writer_error(const cairn_rdb_writer *w);
/* Bytes handed to the callback so far plus those still buffered. */
uint64_t cairn_rdb_writer_bytes(const cairn_rdb_writer *w);

/* Writes "REDIS0010" then, when aux != NULL, Redis's AUX fields in Redis's
 * order: redis-ver, redis-bits, ctime, used-mem, [repl-stream-db, repl-id,
 * repl-offset], aof-base (0). Numbers are integer-encoded like Redis does. */
int cairn_rdb_writer_begin(cairn_rdb_writer *w, const cairn_rdb_aux *aux);
int cairn_rdb_writer_aux(cairn_rdb_writer *w, const char *key, const void *val, size_t vlen);
int cairn_rdb_writer_aux_int(cairn_rdb_writer *w, const char *key, int64_t val);
/* A function library (RDB_OPCODE_FUNCTION2 and its code), after the aux
 * fields and before the first db, like Redis 7.0. */
int cairn_rdb_writer_function(cairn_rdb_writer *w, const void *code, size_t len);
/* SELECTDB + RESIZEDB (the counts are hints for the loader's hash tables). */
int cairn_rdb_writer_select_db(cairn_rdb_writer *w, uint32_t db, uint64_t nkeys, uint64_t nexpires);
/* kind: STRING, LIST, SET, ZSET or HASH. expire_ms: absolute unix ms, or
 * CAIRN_RDB_NO_EXPIRE. */
int cairn_rdb_writer_key(cairn_rdb_writer *w, cairn_rdb_kind kind, const void *key, size_t klen,
                         int64_t expire_ms);
int cairn_rdb_writer_string(cairn_rdb_writer *w, const void *val, size_t len);
/* count must be > 0 (Redis skips empty collections with a warning; do not
 * write them) and exactly the number of elements that follow. */
int cairn_rdb_writer_coll_begin(cairn_rdb_writer *w, uint64_t count);
int cairn_rdb_writer_elem(cairn_rdb_writer *w, const void *v, size_t n);   /* LIST, SET */
int cairn_rdb_writer_field(cairn_rdb_writer *w, const void *f, size_t fl,  /* HASH */
                           const void *v, size_t vl);
int cairn_rdb_writer_zmember(cairn_rdb_writer *w, const void *m, size_t ml, double score); /* ZSET */
int cairn_rdb_writer_coll_end(cairn_rdb_writer *w);
/* EOF + CRC64 (little-endian), then flushes. */
int cairn_rdb_writer_end(cairn_rdb_writer *w);

/* The next value (key() or dump_begin()) is written in its compact encoding,
 * one blob at coll_end: HASH as a listpack (type 16), ZSET as a listpack
 * (type 17, members in score order: the caller's job), SET as an intset
 * (type 11, members canonical integers in strictly increasing order: the
 * caller's job). LIST and STRING ignore it. The caller keeps to Redis's
 * limits (rdb_coll.c: 128 entries of <= 64 bytes, 512 integers) so a Redis
 * 7.0 keeps the encoding when it loads the value; memory is one blob. */
int cairn_rdb_writer_compact(cairn_rdb_writer *w);

/* Lists with caller-made nodes: list_nodes(n) before coll_begin declares
 * the number of quicklist nodes of the next list; the caller then ends each
 * node with list_node_end() (the last one is ended by coll_end), so nodes
 * can follow a size rule (rdb_coll.c: <= 8 KB or one element, like Redis's
 * list-max-listpack-size -2) and the writer holds at most one node. A node
 * holds at most 65534 elements. */
int cairn_rdb_writer_list_nodes(cairn_rdb_writer *w, uint64_t nodes);
int cairn_rdb_writer_list_node_end(cairn_rdb_writer *w);

/* Streams (kind STREAM, written as type 19, Redis 7.0's): after key() or
 * dump_begin(), stream_begin(nodes), then per listpack node its entries
 * (stream_entry, in ID order; fv/fvlen hold field, value pairs) and
 * stream_node_end(); then stream_meta() (length, last/first/max-deleted IDs,
 * entries added, number of groups), then per group stream_group() with the
 * number of its pending entries, that many stream_nack(), then
 * stream_consumers(n) and per consumer stream_consumer() with the number of
 * its own pending entries and that many stream_cnack(); then stream_end().
 * The caller keeps the counts right. A node's entries are held in memory
 * until its end. */
struct cairn_rdb_stream_item;
int cairn_rdb_writer_stream_begin(cairn_rdb_writer *w, uint64_t nodes);
int cairn_rdb_writer_stream_entry(cairn_rdb_writer *w, uint64_t ms, uint64_t seq, uint64_t nfields,
                                  const void *const *fv, const size_t *fvlen);
int cairn_rdb_writer_stream_node_end(cairn_rdb_writer *w);
int cairn_rdb_writer_stream_meta(cairn_rdb_writer *w, const struct cairn_rdb_stream_item *meta);
int cairn_rdb_writer_stream_group(cairn_rdb_writer *w, const void *name, size_t n, uint64_t last_ms,
                                  uint64_t last_seq, int64_t entries_read, uint64_t pending);
int cairn_rdb_writer_stream_nack(cairn_rdb_writer *w, const uint8_t id[16], int64_t time, uint64_t count);
int cairn_rdb_writer_stream_consumers(cairn_rdb_writer *w, uint64_t n);
int cairn_rdb_writer_stream_consumer(cairn_rdb_writer *w, const void *name, size_t n, int64_t seen,
                                     uint64_t pending);
int cairn_rdb_writer_stream_cnack(cairn_rdb_writer *w, const uint8_t id[16]);
int cairn_rdb_writer_stream_end(cairn_rdb_writer *w);

/* DUMP payload mode (no header, no key): dump_begin(kind), then exactly one
 * value (string, or coll_begin..coll_end), then dump_end() which appends the
 * RDB version (2 bytes LE, 10) and the CRC64 of everything before it (8 bytes
 * LE), and flushes. A fresh writer per payload. */
int cairn_rdb_writer_dump_begin(cairn_rdb_writer *w, cairn_rdb_kind kind);
int cairn_rdb_writer_dump_end(cairn_rdb_writer *w);

/* A growable memory sink for the writer: pass cairn_rdb_buf_write and a
 * zeroed cairn_rdb_buf; free buf.data with free(). */
typedef struct cairn_rdb_buf {
  uint8_t *data;
  size_t len, cap;
} cairn_rdb_buf;
int cairn_rdb_buf_write(void *ud, const void *p, size_t n);

/* ========================================================================
 * Reader
 *
 * Incremental: cairn_rdb_reader_feed() takes chunks of any size (1 byte is
 * fine) and delivers everything it can complete through callbacks. Memory:
 * the reader buffers at most one unit (a string, a blob such as a listpack or
 * quicklist node, a hash field+value pair) plus its LZF-decompressed form;
 * any string or blob longer than max_value_len is an error. A chunk fed in
 * one call is parsed in place (no copy) as far as it goes.
 *
 * Memory handed to callbacks (pointers and lengths) is valid only during the
 * callback. The cairn_rdb_key passed to on_key stays valid (same pointer,
 * same key bytes) until on_key_end returns, so element callbacks may use it.
 * Callbacks return 0 to continue; any other value stops the parse: feed()
 * returns -1 with the error "aborted by callback (<value>)". Callbacks must
 * not call back into the reader (except cairn_rdb_reader_offset). Every
 * callback is optional (NULL = ignore).
 *
 * Not checked here (the loader's job, as Redis's loader does it):
 *   - duplicate keys in a DB, duplicate hash fields / set / zset members;
 *   - NaN scores (delivered as NaN; Redis rejects them as corrupt);
 *   - empty collections (delivered with zero elements; Redis skips them);
 *   - SELECTDB beyond the configured number of databases;
 *   - already expired keys (delivered; only a master drops them).
 * Checked here: framing, lengths, string encodings, LZF, listpack structure
 * (sizes, backlens, counts, terminator), intset (width, size, strictly
 * increasing), hash/zset listpacks with an even entry count, the CRC64 at EOF
 * (skipped when the stored CRC is 0 or the version is < 5), and nothing after
 * the CRC is consumed.
 * ======================================================================== */
typedef struct cairn_rdb_reader cairn_rdb_reader;

typedef struct cairn_rdb_key {
  uint64_t db;                /* last SELECTDB (0 before any) */
  uint8_t rdb_type;           /* raw type byte */
  cairn_rdb_kind kind;
  const uint8_t *key;         /* reader-owned copy, NUL-terminated */
  size_t key_len;
  int64_t expire_ms;          /* CAIRN_RDB_NO_EXPIRE if none */
  int64_t lru_idle;           /* IDLE seconds, -1 if none */
  int lfu_freq;               /* FREQ, -1 if none */
  uint64_t nelems;            /* elements delivered so far (final in on_key_end; a string is 1) */
} cairn_rdb_key;

/* One part of a stream value, in RDB order: ENTRY for every live entry of
 * every listpack node (node = the node's number, 0-based), META, then per
 * group GROUP, its pending entries (NACK), and per consumer CONSUMER and
 * the IDs of its own pending list (CNACK). Pointers are valid during the
 * callback only. Type 15 (Redis < 7.0) has no first/max-deleted IDs,
 * entries-added or entries-read: v2 = 0 and those fields are 0 / INT64_MIN. */
enum {
  CAIRN_RDB_STREAM_ENTRY,
  CAIRN_RDB_STREAM_META,
  CAIRN_RDB_STREAM_GROUP,
  CAIRN_RDB_STREAM_NACK,
  CAIRN_RDB_STREAM_CONSUMER,
  CAIRN_RDB_STREAM_CNACK,
};
typedef struct cairn_rdb_stream_item {
  int what;
  int v2;
  uint64_t ms, seq;               /* ENTRY: its ID; GROUP: last delivered ID */
  uint64_t node;                  /* ENTRY */
  uint64_t nfields;               /* ENTRY: fv/fvlen hold 2 * nfields strings, field then value */
  const uint8_t *const *fv;
  const size_t *fvlen;
  uint64_t length, entries_added; /* META */
  uint64_t last_ms, last_seq, first_ms, first_seq, maxdel_ms, maxdel_seq;
  uint64_t groups;                /* META: groups that follow */
  const uint8_t *name;            /* GROUP, CONSUMER */
  size_t name_len;
  int64_t entries_read;           /* GROUP: INT64_MIN when unknown (-1 in Redis 7.0, or type 15) */
  uint64_t pending;               /* GROUP: NACKs that follow; CONSUMER: CNACKs that follow */
  const uint8_t *id;              /* NACK, CNACK: the raw 16-byte ID (ms, seq big-endian) */
  int64_t time;                   /* NACK: delivery time; CONSUMER: seen time (unix ms) */
  uint64_t count;                 /* NACK: deliveries */
} cairn_rdb_stream_item;

typedef struct cairn_rdb_callbacks {
  int (*on_aux)(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
  int (*on_select_db)(void *ud, uint64_t db);
  int (*on_resize_db)(void *ud, uint64_t db_size, uint64_t expires_size);
  int (*on_function)(void *ud, const uint8_t *code, size_t n);   /* FUNCTION2 library source */
  int (*on_module_aux)(void *ud, uint64_t module_id);           /* after it was skipped */
  /* A key record starts (kind STRING..HASH). Exactly one of on_string, or
   * zero or more element callbacks matching the kind, then on_key_end. */
  int (*on_key)(void *ud, const cairn_rdb_key *k);
  int (*on_string)(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n);
  /* LIST elements in list order; SET members. */
  int (*on_elem)(void *ud, const cairn_rdb_key *k, const uint8_t *v, size_t n);
  int (*on_field)(void *ud, const cairn_rdb_key *k, const uint8_t *f, size_t fl,
                  const uint8_t *v, size_t vl);
  int (*on_zmember)(void *ud, const cairn_rdb_key *k, const uint8_t *m, size_t ml, double score);
  int (*on_key_end)(void *ud, const cairn_rdb_key *k);
  /* A stream's parts (see cairn_rdb_stream_item), between on_key and
   * on_key_end. When NULL, streams are parsed and dropped (on_skipped). */
  int (*on_stream)(void *ud, const cairn_rdb_key *k, const cairn_rdb_stream_item *item);
  /* A stream without on_stream (types 15, 19) or a module value (type 7) was
   * parsed and dropped: no on_key / on_key_end for it. */
  int (*on_skipped)(void *ud, const cairn_rdb_key *k, const char *why);
  /* EOF reached; checked = 0 when the CRC was 0 or absent. */
  int (*on_eof)(void *ud, uint64_t crc, int checked);
} cairn_rdb_callbacks;

/* max_value_len: 0 = default (512 MB + 64 KB). */
cairn_rdb_reader *cairn_rdb_reader_new(const cairn_rdb_callbacks *cb, void *ud, size_t max_value_len);
void cairn_rdb_reader_free(cairn_rdb_reader *r);
/* Returns the number of bytes consumed (== n unless the RDB ended inside this
 * chunk: the bytes after the CRC are not consumed), or -1 on error (sticky;
 * message in cairn_rdb_reader_error(), which names the byte offset). */
long long cairn_rdb_reader_feed(cairn_rdb_reader *r, const void *data, size_t n);
/* 1 once EOF and the CRC have been read and checked. */
int cairn_rdb_reader_done(const cairn_rdb_reader *r);
int cairn_rdb_reader_version(const cairn_rdb_reader *r);   /* 0 before the header */
uint64_t cairn_rdb_reader_offset(const cairn_rdb_reader *r);   /* bytes consumed */
const char *cairn_rdb_reader_error(const cairn_rdb_reader *r);
/* Call when the input ended: -1 with "truncated at offset N" unless done. */
int cairn_rdb_reader_finish(cairn_rdb_reader *r);

/* ========================================================================
 * DUMP payloads: <type><value><version 2 bytes LE><CRC64 LE 8 bytes>
 * ======================================================================== */
#define CAIRN_RDB_DUMP_BAD "ERR DUMP payload version or checksum are wrong"
#define CAIRN_RDB_DUMP_BAD_FORMAT "ERR Bad data format"
/* 0 if the footer is valid: length >= 10, version <= 10, CRC matches. */
int cairn_rdb_dump_verify(const void *p, size_t n);
/* Verifies (returns -1 and sets *errmsg to CAIRN_RDB_DUMP_BAD), then parses
 * the value, delivering on_key (key "" / 0 bytes, db 0, no expire), the value
 * callbacks and on_key_end (or on_skipped for a stream without on_stream). A parse error or a
 * value that does not end exactly at the footer returns -1 with *errmsg =
 * CAIRN_RDB_DUMP_BAD_FORMAT and the detail in detail/detail_len if given. */
int cairn_rdb_dump_parse(const void *p, size_t n, const cairn_rdb_callbacks *cb, void *ud,
                         size_t max_value_len, const char **errmsg, char *detail, size_t detail_len);

#endif
