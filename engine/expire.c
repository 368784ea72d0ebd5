/* Active expiry: the expiry index is ordered by time, so each cycle visits
 * only keys that are already due: O(expired), never a scan. Deletions go into
 * the stream as DEL, one command each (never wrapped in MULTI, like Redis). */
#include "engine/commit.h"
#include "engine/log.h"
#include "engine/server.h"
#include "engine/stream.h"
#include "engine/keyspace.h"
#include "engine/pubsub.h"
#include "engine/util.h"

long cairn_expire_cycle(cairn_server *srv, int64_t budget_us) {
  if (srv->replica_mode) return 0; /* the master's DELs do it */
  if (cairn_clients_paused(srv)) return 0; /* CLIENT PAUSE: nothing expires meanwhile */
  int64_t t0 = cairn_ustime();
  int64_t now = cairn_mstime();
  cairn_buf key = {0};
  long n = 0;
  cairn_ctx ctx = {.srv = srv, .now_ms = now};
  for (;;) {
    int db;
    int rc = cairn_store_next_expired(srv->store, now, &db, &key);
    if (rc == 0) break;
    if (rc > 0) {
      cairn_str k = {key.p, key.len};
      rc = cairn_store_del(srv->store, db, k);
      if (rc >= 0) {
        cairn_propagate_del(&ctx, db, k);
        cairn_stream_flush_command(srv);
        srv->stats.expired_keys++;
        cairn_notify_srv(srv, db, CAIRN_NOTIFY_EXPIRED, "expired", k);
        n++;
      }
    }
    if (rc < 0) {
      char why[256];
      cairn_commit_recover(srv, rc, 1, why, sizeof(why));
      break;
    }
    if ((n & 15) == 0 && cairn_ustime() - t0 >= budget_us) break;
  }
  cairn_buf_free(&key);
  return n;
}
