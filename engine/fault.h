/* Fault injection: make the WAL or the store fail on purpose, to test the
 * engine's failure paths (SQLite's test VFS is the model).
 *
 * A fault point counts its calls; an armed point fails its Nth call (and, as
 * chosen, every call after it, only that one, or K calls in a row) with a
 * chosen error. Points:
 *
 *   wal.append    cairn_wal.append: -1 with errno, nothing written
 *   wal.sync      cairn_wal.sync (loop thread: inline syncs, checkpoints,
 *                 relaxed mode's cron, startup) and cairn_wal.sync_run (the
 *                 flusher thread), one counter for both: -1 with errno (sync
 *                 is not done; sync_run is done, to consume its token, and
 *                 reported as failed, like an fsync whose error the kernel
 *                 reports after writeback)
 *   wal.read      cairn_wal.cursor_next (recovery, rollback + replay, feeding
 *                 replicas): -1 with errno, the cursor does not move
 *   store.commit  the LMDB commit of a checkpoint (cairn_store_checkpoint):
 *                 the transaction is aborted and the error returned as if
 *                 mdb_txn_commit had failed
 *   store.put     a key or element write (cairn_store_put, _put_reserve,
 *                 _load_put, cairn_elem_put): returns the error as if mdb_put
 *                 had (MDB_TXN_FULL by default)
 *   store.grow    growing the LMDB map (set_map_to in store.c): fails as if
 *                 reserving the file had failed with the error (ENOSPC...);
 *                 the map keeps its size
 *   store.spill   writing a frozen layer's run file (the store thread): the
 *                 file is not kept, the layer is merged into LMDB at once
 *                 and a restart replays it from the backlog
 *   backlog.seal  writing a frame of a sealed segment's compressed copy (the
 *                 compression thread): the copy is abandoned, the raw segment
 *                 stays and is served, compression is retried later
 *   backlog.manifest  writing and renaming the MANIFEST: the old one stays,
 *                 the new one is written at the next change
 *   backlog.spare writing the zero-filled next segment (backlog-preallocate,
 *                 the compression thread): the file is removed, a warning
 *                 names the error once, segments are appended without
 *                 preallocation until a retry (every second) works
 *   net.write     writing replies (or a replica's stream) to a socket
 *                 (client_flush in client.c), plain or TLS (the TLS
 *                 session's ciphertext, handshake records included, in
 *                 client_flush_tls): the write fails as if the socket had,
 *                 and that connection is closed
 *   net.read      reading a connection's socket (on_read in client.c:
 *                 clients, and a master's replicas), plain or TLS: the
 *                 bytes read are dropped and the read fails as if the
 *                 socket had (with the error), so that connection is
 *                 closed; nothing of those bytes runs
 *
 * The WAL points live in a wrapper cairn_wal table around the real one
 * (cairn_fault_wal), which main.c installs only when a WAL point is armed;
 * the store points are cairn_fault() calls in store.c, one predicted branch
 * on a global flag when nothing is armed.
 *
 * Arming: the environment variable CAIRN_FAULTS, read once by main.c, which
 * logs a warning naming every armed fault at startup (and refuses to start
 * on a spec it cannot parse):
 *
 *   CAIRN_FAULTS = spec ["," spec]...
 *   spec         = point "=" N [":" option]...
 *   point        = wal.append | wal.sync | wal.read | store.commit | store.put
 *                | store.grow | store.spill | backlog.seal | backlog.manifest
 *                | backlog.spare | net.write
 *                | net.read
 *   N            = the first call that fails (1 = the first call)
 *   option       = "always"   calls N, N+1, ... all fail (the default)
 *                | "once"     only call N fails
 *                | "x" K      calls N .. N+K-1 fail (x1 = once)
 *                | ERROR      the error: an errno name (EIO, ENOSPC, EROFS,
 *                             EDQUOT, ENOMEM, EFBIG, EINTR, EAGAIN, EBADF,
 *                             EINVAL, EPERM, EACCES) for any point, or
 *                             MDB_TXN_FULL / MDB_MAP_FULL / MDB_CORRUPTED /
 *                             MDB_PANIC / MDB_BAD_TXN for store points.
 *                             Default: EIO, but MDB_TXN_FULL for store.put
 *                | "slow" US  the calls do not fail: each takes US more
 *                             microseconds (1-1000000; a slow disk, or a
 *                             replica whose apply is slow: logged once)
 *
 *   e.g. CAIRN_FAULTS="wal.append=5:once:ENOSPC,store.commit=3"
 *
 * Calls are counted from process start (startup's own calls count: recovery
 * reads, the startup sync, a recovery checkpoint). A point appears once.
 * Every injected failure is logged ("fault injection: <point> call <n> fails
 * with <error>"). Counters are atomic: wal.sync is hit from two threads. */
#ifndef CAIRN_FAULT_H
#define CAIRN_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/wal.h"

enum cairn_fault_point {
  CAIRN_FAULT_WAL_APPEND,
  CAIRN_FAULT_WAL_SYNC,
  CAIRN_FAULT_WAL_READ,
  CAIRN_FAULT_STORE_COMMIT,
  CAIRN_FAULT_STORE_PUT,
  CAIRN_FAULT_STORE_GROW,
  CAIRN_FAULT_STORE_SPILL,
  CAIRN_FAULT_BACKLOG_SEAL,
  CAIRN_FAULT_BACKLOG_MANIFEST,
  CAIRN_FAULT_BACKLOG_SPARE,
  CAIRN_FAULT_NET_WRITE,
  CAIRN_FAULT_NET_READ,
  CAIRN_FAULT_NPOINTS
};

typedef struct cairn_fault_spec {
  int armed;
  uint64_t nth;   /* first failing call, >= 1 */
  uint64_t count; /* calls that fail from nth on; 0 = every later call */
  int err;        /* errno value, or an MDB_* code (store points) */
  uint32_t slow_us; /* > 0: the calls are slowed by this much instead of failing */
} cairn_fault_spec;

/* Parses a CAIRN_FAULTS value into out[CAIRN_FAULT_NPOINTS] (every entry
 * written; unnamed points unarmed). 0, or -1 with a message in err. An empty
 * or blank spec arms nothing. */
int cairn_fault_parse(const char *spec, cairn_fault_spec *out, char *err, size_t errlen);
/* Parses and installs spec (counters reset). 0, or -1 with err (nothing
 * changed). */
int cairn_fault_arm(const char *spec, char *err, size_t errlen);
/* Disarms every point and resets the counters. */
void cairn_fault_disarm(void);
/* Whether point p (or, with p < 0, any point) is armed. */
int cairn_fault_armed(int p);
/* Human-readable list of the armed faults ("wal.append fails call 5 only
 * with ENOSPC; ..."), "" when none. Returns buf. */
char *cairn_fault_describe(char *buf, size_t len);
const char *cairn_fault_point_name(int p);
/* Name of an error as the spec writes it ("EIO", "MDB_TXN_FULL"), or NULL. */
const char *cairn_fault_error_name(int err);
/* Calls counted at point p since arming, and failures injected there. */
uint64_t cairn_fault_calls(int p);
uint64_t cairn_fault_hits(int p);

/* Counts a call at point p: 0 to go ahead, or the error to fail with. */
int cairn_fault_check(int p);
extern int cairn_faults_on; /* any point armed: the only cost when disarmed */
static inline int cairn_fault(int p) { return __builtin_expect(cairn_faults_on, 0) ? cairn_fault_check(p) : 0; }

/* Fills *out with a table that forwards to *inner (copied; same ud) with the
 * wal.append, wal.sync and wal.read points in front of append, sync,
 * sync_run and cursor_next. One wrapped table per process. */
void cairn_fault_wal(const cairn_wal *inner, cairn_wal *out);

#endif
