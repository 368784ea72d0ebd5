/* A connected client: its buffers, its flags, and what the other modules
 * may do with it (engine/client.c). Replies accumulate in `out`; the part
 * that depends on a write waits for the WAL sync that covers it (held), the
 * rest is released at once.
 *
 * Threads: loop thread only. */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include <stdint.h>
#include <uv.h>

#include "engine/buf.h"
#include "engine/resp.h"

typedef struct cairn_server cairn_server;
typedef struct cairn_client cairn_client;

/* ---------------------------------------------------------------- clients */
enum {
  CAIRN_CLIENT_CLOSE_AFTER_REPLY = 1 << 0,
  CAIRN_CLIENT_CLOSING = 1 << 1,
  CAIRN_CLIENT_PENDING_WRITE = 1 << 2,
  CAIRN_CLIENT_UNIX = 1 << 3,
  CAIRN_CLIENT_NO_EVICT = 1 << 4,
  CAIRN_CLIENT_NO_TOUCH = 1 << 5,
  CAIRN_CLIENT_WROTE = 1 << 6,       /* wrote in this iteration: its acks wait for the WAL */
  CAIRN_CLIENT_READ_PAUSED = 1 << 7, /* output stuck: not reading its commands */
  CAIRN_CLIENT_DRAINING = 1 << 8,    /* last reply sent, FIN sent, waiting for the peer's EOF */
  CAIRN_CLIENT_REPLICA = 1 << 9,     /* a replica attached by SYNC/PSYNC: fed the stream */
  CAIRN_CLIENT_BLOCKED = 1 << 10,    /* waiting (WAIT): its next commands wait too */
  CAIRN_CLIENT_RESUME = 1 << 11,     /* unblocked: run its pending commands at the iteration's end */
  /* MULTI/EXEC (engine/cmd/multi.c). MULTI stays set while EXEC runs the
   * queue; a blocking command must not block when either is set (see
   * cairn_can_block). */
  CAIRN_CLIENT_MULTI = 1 << 12,      /* inside MULTI: commands are queued */
  CAIRN_CLIENT_DIRTY_CAS = 1 << 13,  /* a WATCHed key changed: EXEC answers a null array */
  CAIRN_CLIENT_DIRTY_EXEC = 1 << 14, /* a command was refused while queueing: EXEC aborts */
  CAIRN_CLIENT_IN_EXEC = 1 << 15,    /* EXEC is running the queued commands */
  CAIRN_CLIENT_PUBSUB = 1 << 16,     /* subscribed to a channel or a pattern (engine/cmd/pubsub.c) */
  CAIRN_CLIENT_PUSHED = 1 << 17,     /* on srv->pushed: has pub/sub messages to send */
  CAIRN_CLIENT_STALLED = 1 << 18,    /* a write waits for room in the store's overlay */
  CAIRN_CLIENT_STALL_READ = 1 << 19, /* ...and its connection is not read meanwhile */
  CAIRN_CLIENT_POSTPONED = 1 << 20,  /* its command waits for CLIENT PAUSE to end (Redis's BLOCKED_POSTPONE) */
  CAIRN_CLIENT_PREFETCH = 1 << 21,   /* its commands wait for their keys to be read ahead (engine/prefetch.c) */
  CAIRN_CLIENT_PREFETCH_READ = 1 << 22, /* ...and its connection is not read meanwhile (the query buffer limit) */
  CAIRN_CLIENT_MONITOR = 1 << 24,    /* MONITOR: sent every command the server runs (engine/monitor.c) */
};

enum { CAIRN_REPLY_ON = 0, CAIRN_REPLY_OFF, CAIRN_REPLY_SKIP_NEXT, CAIRN_REPLY_SKIP };

struct cairn_client {
  uint64_t id;
  cairn_server *srv;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uint32_t flags;
  int resp;                /* 2 or 3 */
  int db;
  int authenticated;
  struct cairn_acl_user *user; /* its ACL user (engine/acl.h); NULL: not checked (internal clients) */
  int reply_mode;
  char *name;              /* CLIENT SETNAME, or NULL */
  char addr[64];           /* ip:port of the peer */
  char laddr[64];
  int64_t created_ms;
  int64_t last_interaction_ms;
  const char *last_cmd;

  cairn_buf query;         /* bytes read, not yet executed: [0, query.len) */
  size_t qpos;             /* start of the command being parsed */
  size_t pf_end;           /* the query buffer up to here was read ahead (engine/prefetch.c) */
  struct pf_job *pf_job;   /* the read-ahead its commands wait for */
  cairn_req_parser parser;
  cairn_str *argv;
  size_t argv_cap;

  cairn_buf out;           /* replies: [0, released) may be sent, the rest waits for the WAL */
  size_t released;
  size_t sync_mark;        /* out bytes that the in-flight WAL sync will release */
  cairn_buf inflight;      /* bytes handed to uv_write, not yet confirmed */
  uv_write_t write_req;
  int writing;
  int64_t obuf_soft_since; /* when the soft output limit was first exceeded */
  int64_t drain_since_ms;
  uint64_t woff;           /* stream offset after its last command (what WAIT waits for) */
  int64_t block_deadline_ms; /* monotonic; 0 = no timeout */
  void (*on_block_timeout)(cairn_client *c);
  long long block_arg;     /* the blocker's own datum (WAIT: replicas wanted) */
  cairn_client *resume_next;
  uint64_t postpone_seq;   /* order of postponement: resumed first postponed first */

  struct cairn_tls *tls;   /* accepted on the tls-port (engine/tls.h), else NULL */
  void *repl;              /* replication state of a replica client (replication/) */
  void *blocking;          /* blocked on keys: engine/blocking.c's record */
  void *mstate;            /* MULTI queue (engine/cmd/multi.c), NULL when none */
  void *watched;           /* WATCHed keys (engine/cmd/multi.c), NULL when none */
  void *pubsub;            /* subscriptions (engine/cmd/pubsub.c), NULL when none */
  void *tracking;          /* CLIENT TRACKING state (engine/tracking.c), NULL when off */
  cairn_client *push_next; /* on srv->pushed */

  cairn_client *prev, *next;      /* all clients */
  cairn_client *pending_next;     /* clients with held replies */
};

/* Closes a client: detaches it from blocking, MULTI/WATCH, pub/sub and
 * replication, unlinks it from every server list and closes its handle; the
 * memory is freed in the close callback (so c stays valid until the loop
 * runs again). Idempotent. */
void cairn_client_close(cairn_client *c);
/* The client with that id (CLIENT KILL ID, UNBLOCK), or NULL. O(clients). */
cairn_client *cairn_client_by_id(cairn_server *srv, uint64_t id);
/* Blocking: the client's reply (and its following commands) wait until
 * cairn_client_unblock; on_timeout runs at the deadline (0 = none) and must
 * reply and unblock. */
void cairn_client_block(cairn_client *c, int64_t deadline_ms, void (*on_timeout)(cairn_client *c));
void cairn_client_unblock(cairn_client *c);
/* Its read-ahead is done (engine/prefetch.c): its commands run at the
 * iteration's end. */
void cairn_client_prefetched(cairn_client *c);
/* The command being run is not run now: it runs again when the client is
 * unstalled (cairn_clients_unstall, srv->on_store_room: at the next
 * iteration when throttled, once the overlay is under budget when at it);
 * stop_reading: meanwhile its connection is not read (at the budget). */
void cairn_client_stall(cairn_client *c, int stop_reading);
void cairn_clients_unstall(cairn_server *srv);

/* CLIENT PAUSE (Redis 7.0's pauseClients): until end_ms (monotonic), the
 * commands of every client but replicas (ALL), or only the commands that
 * may change data or reach the replication stream (WRITE: write commands,
 * EXEC of such, PUBLISH, PFCOUNT...), are not run: the client is postponed
 * (CAIRN_CLIENT_POSTPONED, counted in blocked_clients, flag 'b') with its
 * command and the ones behind it still queued, and runs them once the pause
 * ends. A new pause keeps the stricter type and the later end of the two
 * (Redis 7.0). Meanwhile keys do not expire (lazily they
 * only look gone, like on a replica; the active cycle stops). */
enum { CAIRN_PAUSE_OFF = 0, CAIRN_PAUSE_WRITE, CAIRN_PAUSE_ALL };
void cairn_clients_pause(cairn_server *srv, int64_t end_ms, int type);
void cairn_clients_unpause(cairn_server *srv);
/* Whether a pause (of any type) is in effect: expiry waits. */
int cairn_clients_paused(const cairn_server *srv);
/* Postpones the command being run (execute's check). */
void cairn_client_postpone(cairn_client *c);

/* The output-buffer class of a client (client-output-buffer-limit). */
enum { CAIRN_CLIENT_TYPE_NORMAL = 0, CAIRN_CLIENT_TYPE_REPLICA, CAIRN_CLIENT_TYPE_MASTER, CAIRN_CLIENT_TYPE_PUBSUB };
int cairn_client_type(const cairn_client *c);
/* Answers the other clients while a script runs past busy-reply-threshold
 * (-BUSY, or the allow-busy commands such as SCRIPT KILL); see client.c.
 * eval_mode picks the SCRIPT KILL or FUNCTION KILL wording. */
void cairn_clients_serve_busy(cairn_server *srv, cairn_client *runner, int eval_mode);
/* Appends bytes to a client's output as already durable (released at once)
 * and tries to send them: how replication feeds a replica. */
void cairn_client_send(cairn_client *c, const void *p, size_t n);
/* Bytes queued for a client and not yet written to its socket. */
size_t cairn_client_pending_bytes(const cairn_client *c);
/* Out-of-band output (pub/sub messages): appended after whatever the client
 * already has, released at once when nothing of it waits for the WAL, and
 * written at the end of the loop iteration without waiting for a WAL sync.
 * The output-buffer limit of the client's class applies (a client over it is
 * closed at that point). */
void cairn_client_push(cairn_client *c, const void *p, size_t n);

/* CLIENT LIST / CLIENT INFO line for one client, appended to out
 * (engine/info.c). */
void cairn_client_describe(cairn_client *c, cairn_buf *out);
struct sockaddr_storage;
/* "ip:port" of a socket address (IPv4 or IPv6), as CLIENT LIST shows it. */
void cairn_format_addr(const struct sockaddr_storage *ss, char *out, size_t cap);

/* A replica's link to its master as a client (CLIENT LIST, CLIENT KILL):
 * filled by replication (srv->repl_hooks.master_client). */
typedef struct cairn_master_client {
  uint64_t id;
  char addr[300], laddr[64];
  int fd, db;
  int64_t created_ms, last_io_ms;
  size_t qbuf, qbuf_cap;
} cairn_master_client;
void cairn_master_client_describe(const cairn_master_client *m, cairn_buf *out);

/* For engine/listen.c: accepts a connection on listener and makes it a
 * client (or answers -ERR/-DENIED and closes it: maxclients, protected mode).
 * tls: accepted on the tls-port; the connection speaks TLS (engine/tls.h). */
void cairn_client_accept(cairn_server *srv, uv_stream_t *listener, int tls);

/* For engine/loop.c, at the end of each iteration, outside any command:
 * run the pending commands of unblocked clients; send pub/sub pushes. */
void cairn_clients_resume(cairn_server *srv);
void cairn_clients_flush_pushed(cairn_server *srv);

/* Held replies and the WAL (engine/commit.c tells through srv->on_sync, which
 * engine/loop.c points here): see cairn_sync_event in engine/commit.h. */
void cairn_clients_on_sync(cairn_server *srv, int event);

#endif
