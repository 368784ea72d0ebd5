/* Replica slots and the resume horizon (docs/REPLICATION.md "Replica slots").
 *
 * A slot is a replica's claim on the backlog: the first offset it still
 * needs (its acknowledged offset + 1) and when it was last heard from. It
 * lives as a backlog pin named "slot:<name>" (the pin also keeps the time,
 * in the MANIFEST), so it survives the replica's disconnection and this
 * server's restart, and retention by bytes and age keeps what it needs. Two
 * caps end a slot: backlog-max-bytes (the backlog drops what the slot needs:
 * noticed here, the slot goes) and repl-slot-max-age since the replica was
 * last seen. A replica without a slot resumes as before, from whatever
 * retention kept.
 *
 * The horizon is how long a replica can stay away before it needs a full
 * sync: what the caps allow at the stream's current write rate (the largest
 * of the last 10 s's, minute's and hour's, sampled once a second: a burst
 * counts at once), with
 * the disk bytes of the stream estimated from the compression ratio of the
 * sealed segments. An estimate: other pins holding older data count against
 * backlog-max-bytes too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/command.h"
#include "engine/log.h"
#include "engine/server.h"
#include "engine/util.h"
#include "replication/backlog/backlog.h"
#include "replication/repl_int.h"

#define PIN_PREFIX "slot:"
#define RATE_WINDOW 3600 /* seconds of offset samples: the last hour */
#define MAX_PINS 256

struct cairn_slot {
  char name[CAIRN_SLOT_NAME_MAX + 1];
  uint64_t need;    /* first offset the replica still needs */
  int64_t seen_ms;  /* wall clock: last heard from (attach, ACK, detach) */
  int attached;     /* a replica is connected with this slot */
  int warned;       /* the horizon warning was logged (until it recovers) */
  struct cairn_slot *next;
};

struct cairn_slots {
  cairn_backlog *backlog;
  cairn_slot *list;
  uint64_t dropped;
  /* the stream's end offset once a second, for the write rate */
  uint64_t samples[RATE_WINDOW + 1];
  int64_t last_sample_s; /* monotonic second of the newest sample */
  int nsamples;
  int head;              /* index of the newest sample */
};

static void pin_name(char *out, size_t len, const char *name) { snprintf(out, len, PIN_PREFIX "%s", name); }

static void put_pin(cairn_slots *ss, cairn_slot *s) {
  char pn[64];
  pin_name(pn, sizeof(pn), s->name);
  if (cairn_backlog_pin_seen(ss->backlog, pn, s->need, s->seen_ms) != 0)
    cairn_warning("replica slot '%s': cannot record its pin in the backlog", s->name);
}

int cairn_slot_name_valid(const char *p, size_t len) {
  if (len == 0 || len > CAIRN_SLOT_NAME_MAX) return 0;
  for (size_t i = 0; i < len; i++) {
    char ch = p[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
          ch == ':' || ch == '-' || ch == '_' || ch == '[' || ch == ']'))
      return 0;
  }
  return 1;
}

cairn_slots *cairn_slots_new(cairn_backlog *backlog) {
  cairn_slots *ss = cairn_xcalloc(1, sizeof(*ss));
  ss->backlog = backlog;
  char names[MAX_PINS][64];
  uint64_t offs[MAX_PINS];
  int req[MAX_PINS];
  int64_t seen[MAX_PINS];
  size_t n = cairn_backlog_pins(backlog, names, offs, req, seen, MAX_PINS);
  int64_t now = cairn_mstime();
  for (size_t i = 0; i < n && i < MAX_PINS; i++) {
    const char *nm = names[i] + strlen(PIN_PREFIX);
    if (strncmp(names[i], PIN_PREFIX, strlen(PIN_PREFIX)) || !cairn_slot_name_valid(nm, strlen(nm))) continue;
    cairn_slot *s = cairn_xcalloc(1, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", nm);
    s->need = offs[i];
    s->seen_ms = seen[i] ? seen[i] : now; /* a manifest from before slots kept times: count from now */
    s->next = ss->list;
    ss->list = s;
    cairn_notice("Replica slot '%s' kept from the backlog: needs offset %llu", s->name, (unsigned long long)s->need);
  }
  return ss;
}

void cairn_slots_free(cairn_slots *ss) {
  if (!ss) return;
  while (ss->list) {
    cairn_slot *s = ss->list;
    ss->list = s->next;
    free(s);
  }
  free(ss);
}

static cairn_slot *find(cairn_slots *ss, const char *name, size_t len) {
  for (cairn_slot *s = ss->list; s; s = s->next)
    if (strlen(s->name) == len && !memcmp(s->name, name, len)) return s;
  return NULL;
}

cairn_slot *cairn_slot_attach(cairn_server *srv, cairn_slots *ss, const char *name, uint64_t need) {
  if (!srv->cfg.repl_slots) return NULL;
  size_t len = strlen(name);
  if (!cairn_slot_name_valid(name, len)) {
    cairn_warning("replica slot name '%s' is not valid (1-%d of A-Z a-z 0-9 . : - _ [ ]): no slot", name,
                  CAIRN_SLOT_NAME_MAX);
    return NULL;
  }
  cairn_slot *s = find(ss, name, len);
  if (s && s->attached) {
    cairn_warning("replica slot '%s' is in use by another connected replica: this one gets no slot", name);
    return NULL;
  }
  if (!s) {
    s = cairn_xcalloc(1, sizeof(*s));
    memcpy(s->name, name, len + 1);
    s->next = ss->list;
    ss->list = s;
    cairn_notice("Replica slot '%s' created at offset %llu", name, (unsigned long long)need);
  }
  s->attached = 1;
  s->warned = 0;
  s->need = need;
  s->seen_ms = cairn_mstime();
  put_pin(ss, s);
  return s;
}

void cairn_slot_ack(cairn_slots *ss, cairn_slot *s, uint64_t need) {
  if (need > s->need) s->need = need;
  s->seen_ms = cairn_mstime();
  put_pin(ss, s);
}

void cairn_slot_detach(cairn_slots *ss, cairn_slot *s) {
  s->attached = 0;
  s->seen_ms = cairn_mstime();
  put_pin(ss, s);
}

static void drop(cairn_slots *ss, cairn_slot *s, const char *why) {
  for (cairn_slot **pp = &ss->list; *pp; pp = &(*pp)->next) {
    if (*pp != s) continue;
    *pp = s->next;
    break;
  }
  char pn[64];
  pin_name(pn, sizeof(pn), s->name);
  cairn_backlog_unpin(ss->backlog, pn);
  ss->dropped++;
  cairn_warning("Replica slot '%s' dropped (it needed offset %llu): %s", s->name, (unsigned long long)s->need, why);
  free(s);
}

/* ---------------------------------------------------------------- rate, horizon */

/* Stream bytes per second over the last `window` seconds (or what was
 * sampled of them). */
static uint64_t rate_over(const cairn_slots *ss, int window) {
  if (ss->nsamples < 2) return 0;
  int back = window < ss->nsamples - 1 ? window : ss->nsamples - 1;
  uint64_t now = ss->samples[ss->head];
  uint64_t then = ss->samples[(ss->head - back + RATE_WINDOW + 1) % (RATE_WINDOW + 1)];
  return now > then ? (now - then) / (uint64_t)back : 0;
}

/* Seconds a replica that needs `lag` more stream bytes and was last seen
 * `idle_s` ago can still stay away; -1 = no limit. Slotted: the caps are
 * backlog-max-bytes and repl-slot-max-age; otherwise retention itself. */
/* The rate a horizon assumes: the largest of three windows. */
static uint64_t peak_rate(const cairn_slots *ss) {
  uint64_t r = rate_over(ss, 10), r1 = rate_over(ss, 60), r2 = rate_over(ss, RATE_WINDOW);
  if (r1 > r) r = r1;
  return r2 > r ? r2 : r;
}

static int64_t horizon(cairn_server *srv, const cairn_slots *ss, uint64_t lag, int64_t idle_s, int slotted) {
  double rate = (double)peak_rate(ss);
  cairn_wal_stats ws;
  srv->wal.stats(srv->wal.ud, &ws);
  double ratio = ws.ratio > 1 ? ws.ratio : 1;
  uint64_t byte_cap = (uint64_t)srv->cfg.backlog_max_bytes;
  int64_t age_cap = slotted ? srv->cfg.repl_slot_max_age : srv->cfg.backlog_retention_seconds;
  if (!slotted && srv->cfg.backlog_retention_bytes && (!byte_cap || (uint64_t)srv->cfg.backlog_retention_bytes < byte_cap))
    byte_cap = (uint64_t)srv->cfg.backlog_retention_bytes;
  int64_t h = -1;
  if (age_cap) h = age_cap > idle_s ? age_cap - idle_s : 0;
  if (byte_cap && rate > 0) {
    double lag_disk = (double)lag / ratio;
    int64_t left = lag_disk < (double)byte_cap ? (int64_t)(((double)byte_cap - lag_disk) / (rate / ratio)) : 0;
    if (h < 0 || left < h) h = left;
  }
  return h;
}

static int64_t server_horizon(cairn_server *srv, const cairn_slots *ss) {
  return horizon(srv, ss, 0, 0, srv->cfg.repl_slots);
}

static uint64_t slot_lag(cairn_server *srv, const cairn_slot *s) {
  return srv->stream_offset + 1 > s->need ? srv->stream_offset + 1 - s->need : 0;
}

static int64_t slot_idle_s(const cairn_slot *s, int64_t now_ms) {
  return s->attached || now_ms < s->seen_ms ? 0 : (now_ms - s->seen_ms) / 1000;
}

static int64_t slot_horizon(cairn_server *srv, const cairn_slots *ss, const cairn_slot *s, int64_t now_ms) {
  return horizon(srv, ss, s->attached ? 0 : slot_lag(srv, s), slot_idle_s(s, now_ms), 1);
}

/* ---------------------------------------------------------------- cron */

void cairn_slots_cron(cairn_server *srv, cairn_slots *ss) {
  int64_t sec = cairn_monotonic_ms() / 1000;
  if (ss->nsamples && sec == ss->last_sample_s) return;
  /* once a second: one sample per second passed (a stalled loop repeats
   * the offset it has now) */
  int64_t steps = ss->nsamples ? sec - ss->last_sample_s : 1;
  if (steps > RATE_WINDOW + 1) steps = RATE_WINDOW + 1;
  for (int64_t i = 0; i < steps; i++) {
    ss->head = (ss->head + 1) % (RATE_WINDOW + 1);
    ss->samples[ss->head] = srv->stream_offset;
    if (ss->nsamples < RATE_WINDOW + 1) ss->nsamples++;
  }
  ss->last_sample_s = sec;

  uint64_t first = srv->wal.first(srv->wal.ud);
  int64_t now = cairn_mstime();
  char why[256];
  for (cairn_slot *s = ss->list, *next; s; s = next) {
    next = s->next;
    if (s->attached) continue;
    int64_t idle = slot_idle_s(s, now);
    if (!srv->cfg.repl_slots) {
      drop(ss, s, "repl-slots is no");
    } else if (s->need < first) {
      snprintf(why, sizeof(why),
               "the backlog no longer holds it (first offset %llu: backlog-max-bytes); its replica will need a "
               "full sync",
               (unsigned long long)first);
      drop(ss, s, why);
    } else if (srv->cfg.repl_slot_max_age && idle >= srv->cfg.repl_slot_max_age) {
      snprintf(why, sizeof(why), "its replica was not seen for %lld s (repl-slot-max-age %lld)", (long long)idle,
               srv->cfg.repl_slot_max_age);
      drop(ss, s, why);
    } else if (srv->cfg.repl_slot_warn_horizon) {
      int64_t h = slot_horizon(srv, ss, s, now);
      if (h >= 0 && h < srv->cfg.repl_slot_warn_horizon && !s->warned) {
        s->warned = 1;
        cairn_warning("Replica slot '%s': its replica (away %lld s, %llu bytes behind) can stay away %lld s more "
                      "before it needs a full sync (backlog-max-bytes, repl-slot-max-age; stream written at %llu "
                      "bytes/s)",
                      s->name, (long long)idle, (unsigned long long)slot_lag(srv, s), (long long)h,
                      (unsigned long long)peak_rate(ss));
      } else if (h < 0 || h >= srv->cfg.repl_slot_warn_horizon) {
        s->warned = 0;
      }
    }
  }
}

/* ---------------------------------------------------------------- INFO, REPLICASLOT */

void cairn_slots_info(cairn_server *srv, cairn_slots *ss, cairn_buf *o) {
  int n = 0;
  for (cairn_slot *s = ss->list; s; s = s->next) n++;
  cairn_buf_printf(o,
                   "repl_slots:%d\r\n"
                   "repl_slots_dropped:%llu\r\n"
                   "repl_write_rate_1m:%llu\r\n"
                   "repl_write_rate_1h:%llu\r\n"
                   "repl_resume_horizon_sec:%lld\r\n",
                   n, (unsigned long long)ss->dropped, (unsigned long long)rate_over(ss, 60),
                   (unsigned long long)rate_over(ss, RATE_WINDOW), (long long)server_horizon(srv, ss));
  int64_t now = cairn_mstime();
  int i = 0;
  for (cairn_slot *s = ss->list; s; s = s->next, i++)
    cairn_buf_printf(o, "repl_slot%d:name=%s,connected=%d,offset=%llu,lag_bytes=%llu,idle_sec=%lld,horizon_sec=%lld\r\n",
                     i, s->name, s->attached, (unsigned long long)(s->need ? s->need - 1 : 0),
                     (unsigned long long)slot_lag(srv, s), (long long)slot_idle_s(s, now),
                     (long long)slot_horizon(srv, ss, s, now));
}

static cairn_slots *slots_of(cairn_ctx *c) { return cairn_repl_slots(c->srv); }

static void cmd_list(cairn_ctx *c) {
  cairn_slots *ss = slots_of(c);
  int n = 0;
  for (cairn_slot *s = ss->list; s; s = s->next) n++;
  cairn_reply_array(&c->reply, n);
  int64_t now = cairn_mstime();
  for (cairn_slot *s = ss->list; s; s = s->next) {
    cairn_reply_map(&c->reply, 6);
    cairn_reply_bulk_str(&c->reply, "name");
    cairn_reply_bulk_str(&c->reply, s->name);
    cairn_reply_bulk_str(&c->reply, "connected");
    cairn_reply_int(&c->reply, s->attached);
    cairn_reply_bulk_str(&c->reply, "offset");
    cairn_reply_int(&c->reply, (long long)(s->need ? s->need - 1 : 0));
    cairn_reply_bulk_str(&c->reply, "lag-bytes");
    cairn_reply_int(&c->reply, (long long)slot_lag(c->srv, s));
    cairn_reply_bulk_str(&c->reply, "idle-seconds");
    cairn_reply_int(&c->reply, (long long)slot_idle_s(s, now));
    cairn_reply_bulk_str(&c->reply, "horizon-seconds");
    cairn_reply_int(&c->reply, (long long)slot_horizon(c->srv, ss, s, now));
  }
}

static void cmd_drop(cairn_ctx *c) {
  cairn_slots *ss = slots_of(c);
  cairn_str name = c->argv[2];
  cairn_slot *s = find(ss, name.p, name.len);
  if (!s) {
    cairn_reply_errorf(&c->reply, "No such replica slot '%.*s'", (int)(name.len > 64 ? 64 : name.len), name.p);
    return;
  }
  if (s->attached) {
    cairn_reply_errorf(&c->reply,
                       "Replica slot '%s' is in use by a connected replica (CLIENT KILL TYPE replica first)",
                       s->name);
    return;
  }
  drop(ss, s, "REPLICASLOT DROP");
  cairn_reply_ok(&c->reply);
}

static void cmd_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "LIST",
      "    Return the replica slots: name, connected, the offset each holds in the backlog,",
      "    bytes behind, seconds since its replica was seen, seconds it can still stay away.",
      "DROP <name>",
      "    Remove the slot of a disconnected replica: the backlog no longer keeps its offset.",
  };
  cairn_reply_help(c, "REPLICASLOT", lines, sizeof(lines) / sizeof(lines[0]));
}

#define F_SLOT (CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT)

static const cairn_command slot_subcommands[] = {
    CAIRN_CMD("replicaslot|list", 2, F_SLOT | CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_list, "server",
              "List the replica slots (cairn).", "7.0.0", ""),
    CAIRN_CMD("replicaslot|drop", 3, F_SLOT, 0, 0, 0, cmd_drop, "server",
              "Drop the slot of a disconnected replica (cairn).", "7.0.0", "name"),
    CAIRN_CMD("replicaslot|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_help, "server",
              "Show helpful text about the different subcommands", "7.0.0", ""),
    CAIRN_CMD_END,
};

const cairn_command cairn_slot_commands[] = {
    CAIRN_CMD("replicaslot", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "server",
              "A container for replica slot commands (cairn)", "7.0.0", "", .subcommands = slot_subcommands),
    CAIRN_CMD_END,
};
