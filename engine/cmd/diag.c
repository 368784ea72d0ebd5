/* SLOWLOG and LATENCY (engine/diag.h): Redis 7.0's slow log and latency
 * monitor.
 *
 * The slow log keeps the last slowlog-max-len commands that took at least
 * slowlog-log-slower-than microseconds (the handler's duration, as measured
 * for INFO commandstats): id, unix time, duration, the arguments (at most
 * 32, each cut at 128 bytes, like Redis), the client's address and name.
 * Arguments that carry secrets (AUTH, HELLO AUTH, CONFIG SET of masterauth
 * or requirepass, ACL SETUSER, MIGRATE AUTH/AUTH2) are logged as
 * "(redacted)".
 *
 * The latency monitor keeps, per event ('command', 'fast-command'), the
 * worst latency of each second for the last 160 seconds with one, and the
 * all-time maximum, when latency-monitor-threshold is set.
 *
 * Cost: recording O(1) (plus the copy of a logged command's arguments);
 * SLOWLOG GET O(entries returned). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/blocking.h"
#include "engine/client.h"
#include "engine/diag.h"
#include "engine/info.h"
#include "engine/server.h"
#include "engine/util.h"

#define SLOWLOG_MAX_ARGC 32
#define SLOWLOG_MAX_STRING 128
#define LATENCY_TS_LEN 160
#define LATENCY_MAX_EVENTS 32

typedef struct slow_entry {
  struct slow_entry *newer, *older;
  long long id, time, duration;
  int argc;
  cairn_str *argv; /* each p malloc'd */
  char *peer, *name;
} slow_entry;

typedef struct lat_series {
  char name[48];
  struct {
    int64_t time;
    int64_t latency;
  } samples[LATENCY_TS_LEN];
  int idx;
  int64_t max;
} lat_series;

struct cairn_diag {
  slow_entry *newest, *oldest;
  long long len, next_id;
  lat_series *events[LATENCY_MAX_EVENTS];
  int nevents;
};

static cairn_diag *diag_of(cairn_server *srv) {
  if (!srv->diag) srv->diag = cairn_xcalloc(1, sizeof(cairn_diag));
  return srv->diag;
}

/* ---------------------------------------------------------------- slow log */

static void entry_free(slow_entry *e) {
  for (int i = 0; i < e->argc; i++) free((void *)e->argv[i].p);
  free(e->argv);
  free(e->peer);
  free(e->name);
  free(e);
}

static void drop_oldest(cairn_diag *d) {
  slow_entry *e = d->oldest;
  d->oldest = e->newer;
  if (d->oldest)
    d->oldest->older = NULL;
  else
    d->newest = NULL;
  d->len--;
  entry_free(e);
}

static void slowlog_trim(cairn_server *srv) {
  cairn_diag *d = diag_of(srv);
  while (d->len > srv->cfg.slowlog_max_len) drop_oldest(d);
}

static cairn_str str_dup(const char *p, size_t n) {
  char *b = cairn_xmalloc(n + 1);
  if (n) memcpy(b, p, n);
  b[n] = '\0';
  return (cairn_str){b, n};
}

static cairn_str str_print(const char *fmt, const char *p, size_t n, unsigned long long more) {
  char tail[64];
  int t = snprintf(tail, sizeof(tail), fmt, more);
  char *b = cairn_xmalloc(n + (size_t)t + 1);
  if (n) memcpy(b, p, n);
  memcpy(b + n, tail, (size_t)t + 1);
  return (cairn_str){b, n + (size_t)t};
}

/* Which arguments Redis replaces by "(redacted)" in the slow log (and
 * MONITOR): secrets. */
static int redacted(const cairn_command *cmd, int argc, const cairn_str *argv, int j) {
  const char *name = cmd->name;
  if (strcmp(name, "auth") == 0) return j >= 1;
  if (strcmp(name, "hello") == 0) {
    for (int k = 2; k < argc; k++)
      if (cairn_arg_is(argv[k], "auth")) {
        if (j == k + 1 || j == k + 2) return 1;
        k += 2;
      } else if (cairn_arg_is(argv[k], "setname")) {
        k++;
      }
    return 0;
  }
  if (strcmp(name, "acl") == 0) return argc >= 2 && cairn_arg_is(argv[1], "setuser") && j >= 2;
  if (strcmp(name, "config") == 0) {
    if (argc < 2 || !cairn_arg_is(argv[1], "set") || j < 3 || (j - 2) % 2 != 1) return 0;
    return cairn_arg_is(argv[j - 1], "masterauth") || cairn_arg_is(argv[j - 1], "requirepass");
  }
  if (strcmp(name, "migrate") == 0) {
    for (int k = 6; k < argc; k++) {
      if (cairn_arg_is(argv[k], "auth")) {
        if (j == k + 1) return 1;
        k++;
      } else if (cairn_arg_is(argv[k], "auth2")) {
        if (j == k + 1 || j == k + 2) return 1;
        k += 2;
      } else if (cairn_arg_is(argv[k], "keys")) {
        break;
      }
    }
  }
  return 0;
}

static void slowlog_push(cairn_server *srv, cairn_client *client, const cairn_command *cmd, int argc,
                         const cairn_str *argv, long long duration) {
  cairn_diag *d = diag_of(srv);
  slow_entry *e = cairn_xcalloc(1, sizeof(*e));
  int n = argc > SLOWLOG_MAX_ARGC ? SLOWLOG_MAX_ARGC : argc;
  e->argc = n;
  e->argv = cairn_xcalloc((size_t)n, sizeof(cairn_str));
  for (int j = 0; j < n; j++) {
    if (n != argc && j == n - 1)
      e->argv[j] = str_print("... (%llu more arguments)", "", 0, (unsigned long long)(argc - n + 1));
    else if (redacted(cmd, argc, argv, j))
      e->argv[j] = str_dup("(redacted)", 10);
    else if (argv[j].len > SLOWLOG_MAX_STRING)
      e->argv[j] = str_print("... (%llu more bytes)", argv[j].p, SLOWLOG_MAX_STRING,
                             (unsigned long long)(argv[j].len - SLOWLOG_MAX_STRING));
    else
      e->argv[j] = str_dup(argv[j].p, argv[j].len);
  }
  e->time = (long long)time(NULL);
  e->duration = duration;
  e->id = d->next_id++;
  e->peer = cairn_xstrdup(client->addr);
  e->name = cairn_xstrdup(client->name ? client->name : "");
  e->older = d->newest;
  if (d->newest) d->newest->newer = e;
  d->newest = e;
  if (!d->oldest) d->oldest = e;
  d->len++;
  slowlog_trim(srv);
}

/* ---------------------------------------------------------------- latency monitor */

static lat_series *series_find(cairn_diag *d, const char *event, size_t len) {
  for (int i = 0; i < d->nevents; i++)
    if (strlen(d->events[i]->name) == len && memcmp(d->events[i]->name, event, len) == 0) return d->events[i];
  return NULL;
}

static void latency_add(cairn_server *srv, const char *event, int64_t ms) {
  cairn_diag *d = diag_of(srv);
  lat_series *ts = series_find(d, event, strlen(event));
  if (!ts) {
    if (d->nevents == LATENCY_MAX_EVENTS) return;
    ts = cairn_xcalloc(1, sizeof(*ts));
    snprintf(ts->name, sizeof(ts->name), "%s", event);
    d->events[d->nevents++] = ts;
  }
  int64_t now = (int64_t)time(NULL);
  if (ms > ts->max) ts->max = ms;
  int prev = (ts->idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN;
  if (ts->samples[prev].time == now) {
    if (ms > ts->samples[prev].latency) ts->samples[prev].latency = ms;
    return;
  }
  ts->samples[ts->idx].time = now;
  ts->samples[ts->idx].latency = ms;
  ts->idx = (ts->idx + 1) % LATENCY_TS_LEN;
}

void cairn_latency_sample(cairn_server *srv, const char *event, int64_t ms) {
  if (srv->cfg.latency_monitor_threshold > 0 && ms >= srv->cfg.latency_monitor_threshold) latency_add(srv, event, ms);
}

void cairn_diag_record_call(cairn_server *srv, cairn_client *client, const cairn_command *cmd, int argc,
                            const cairn_str *argv, uint64_t ns) {
  if (!cmd || !client) return;
  long long us = (long long)(ns / 1000);
  cairn_latency_sample(srv, (cmd->flags & CAIRN_CMD_FAST) ? "fast-command" : "command", us / 1000);
  if (srv->cfg.slowlog_log_slower_than < 0 || us < srv->cfg.slowlog_log_slower_than) return;
  if (cmd->flags & CAIRN_CMD_RUNS_QUEUED) return; /* EXEC: its commands are logged */
  if (cairn_blocking_waits(client)) return;      /* logged when served */
  slowlog_push(srv, client, cmd, argc, argv, us);
}

void cairn_diag_free(cairn_server *srv) {
  cairn_diag *d = srv->diag;
  if (!d) return;
  while (d->oldest) drop_oldest(d);
  for (int i = 0; i < d->nevents; i++) free(d->events[i]);
  free(d);
  srv->diag = NULL;
}

/* ---------------------------------------------------------------- SLOWLOG */

static void cmd_slowlog_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "GET [<count>]",
      "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
      "    Entries are made of:",
      "    id, timestamp, time in microseconds, arguments array, client IP and port,",
      "    client name",
      "LEN",
      "    Return the length of the slowlog.",
      "RESET",
      "    Reset the slowlog.",
  };
  cairn_reply_help(c, "SLOWLOG", lines, sizeof(lines) / sizeof(lines[0]));
}

static void cmd_slowlog_get(cairn_ctx *c) {
  cairn_diag *d = diag_of(c->srv);
  long long count = 10;
  if (c->argc > 3) {
    cairn_reply_subcommand_syntax_error(c);
    return;
  }
  if (c->argc == 3) {
    const char *msg = "count should be greater than or equal to -1";
    if (cairn_arg_ll_msg(c, c->argv[2], &count, msg) != 0) return;
    if (count < -1) {
      cairn_reply_error(&c->reply, msg);
      return;
    }
    if (count == -1) count = d->len;
  }
  if (count > d->len) count = d->len;
  cairn_reply_array(&c->reply, count);
  slow_entry *e = d->newest;
  for (long long i = 0; i < count && e; i++, e = e->older) {
    cairn_reply_array(&c->reply, 6);
    cairn_reply_int(&c->reply, e->id);
    cairn_reply_int(&c->reply, e->time);
    cairn_reply_int(&c->reply, e->duration);
    cairn_reply_array(&c->reply, e->argc);
    for (int j = 0; j < e->argc; j++) cairn_reply_bulk(&c->reply, e->argv[j].p, e->argv[j].len);
    cairn_reply_bulk_str(&c->reply, e->peer);
    cairn_reply_bulk_str(&c->reply, e->name);
  }
}

static void cmd_slowlog_len(cairn_ctx *c) { cairn_reply_int(&c->reply, diag_of(c->srv)->len); }

static void cmd_slowlog_reset(cairn_ctx *c) {
  cairn_diag *d = diag_of(c->srv);
  while (d->oldest) drop_oldest(d);
  cairn_reply_ok(&c->reply);
}

/* ---------------------------------------------------------------- LATENCY */

static void cmd_latency_help(cairn_ctx *c) {
  static const char *const lines[] = {
      "DOCTOR",
      "    Return a human readable latency analysis report.",
      "GRAPH <event>",
      "    Return an ASCII latency graph for the <event> class.",
      "HISTORY <event>",
      "    Return time-latency samples for the <event> class.",
      "LATEST",
      "    Return the latest latency samples for all events.",
      "RESET [<event> ...]",
      "    Reset latency data of one or more <event> classes.",
      "    (default: reset all data for all event classes)",
      "HISTOGRAM [COMMAND ...]",
      "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
      "    If no commands are specified then all histograms are replied.",
  };
  cairn_reply_help(c, "LATENCY", lines, sizeof(lines) / sizeof(lines[0]));
}

static void cmd_latency_latest(cairn_ctx *c) {
  cairn_diag *d = diag_of(c->srv);
  cairn_reply_array(&c->reply, d->nevents);
  for (int i = 0; i < d->nevents; i++) {
    lat_series *ts = d->events[i];
    int last = (ts->idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN;
    cairn_reply_array(&c->reply, 4);
    cairn_reply_bulk_str(&c->reply, ts->name);
    cairn_reply_int(&c->reply, ts->samples[last].time);
    cairn_reply_int(&c->reply, ts->samples[last].latency);
    cairn_reply_int(&c->reply, ts->max);
  }
}

static void cmd_latency_history(cairn_ctx *c) {
  lat_series *ts = series_find(diag_of(c->srv), c->argv[2].p, c->argv[2].len);
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  for (int j = 0; ts && j < LATENCY_TS_LEN; j++) {
    int i = (ts->idx + j) % LATENCY_TS_LEN;
    if (ts->samples[i].time == 0) continue;
    cairn_reply_array(&c->reply, 2);
    cairn_reply_int(&c->reply, ts->samples[i].time);
    cairn_reply_int(&c->reply, ts->samples[i].latency);
    n++;
  }
  cairn_reply_defer_array(&c->reply, mark, n);
}

static void cmd_latency_reset(cairn_ctx *c) {
  cairn_diag *d = diag_of(c->srv);
  long long resets = 0;
  for (int i = 0; i < d->nevents;) {
    int hit = c->argc == 2;
    for (int j = 2; j < c->argc && !hit; j++)
      hit = strlen(d->events[i]->name) == c->argv[j].len &&
            memcmp(d->events[i]->name, c->argv[j].p, c->argv[j].len) == 0;
    if (!hit) {
      i++;
      continue;
    }
    free(d->events[i]);
    memmove(&d->events[i], &d->events[i + 1], sizeof(d->events[0]) * (size_t)(d->nevents - i - 1));
    d->nevents--;
    resets++;
  }
  cairn_reply_int(&c->reply, resets);
}

/* Redis's sparkline (src/sparkline.c): rows of "_o#" (and '|' below),
 * then each sample's label written downwards. */
static void sparkline(cairn_buf *out, const int64_t *v, char (*labels)[24], int n, int columns, int rows) {
  static const char fill[] = "_o#";
  const int clen = 3;
  if (n == 0) return;
  double mn = (double)v[0], mx = (double)v[0];
  for (int i = 1; i < n; i++) {
    if ((double)v[i] < mn) mn = (double)v[i];
    if ((double)v[i] > mx) mx = (double)v[i];
  }
  double relmax = mx - mn;
  if (relmax == 0) relmax = 1;
  int steps = clen * rows;
  char *chars = cairn_xmalloc((size_t)columns);
  for (int off = 0; off < n; off += columns) {
    int len = n - off < columns ? n - off : columns;
    if (off) cairn_buf_append(out, "\n", 1);
    for (int row = 0;; row++) {
      int any = 0;
      memset(chars, ' ', (size_t)len);
      for (int j = 0; j < len; j++) {
        int step = (int)(((double)v[off + j] - mn) * steps / relmax);
        if (step < 0) step = 0;
        if (step >= steps) step = steps - 1;
        if (row < rows) {
          int ci = step - (rows - row - 1) * clen;
          any = 1;
          if (ci >= 0 && ci < clen)
            chars[j] = fill[ci];
          else if (ci >= clen)
            chars[j] = '|';
        } else if (row - rows < 1) { /* the margin above the labels */
          any = 1;
          break;
        } else {
          int lc = row - rows - 1;
          if ((int)strlen(labels[off + j]) > lc) {
            any = 1;
            chars[j] = labels[off + j][lc];
          }
        }
      }
      if (!any) break;
      cairn_buf_append(out, chars, (size_t)len);
      cairn_buf_append(out, "\n", 1);
    }
  }
  free(chars);
}

static void cmd_latency_graph(cairn_ctx *c) {
  lat_series *ts = series_find(diag_of(c->srv), c->argv[2].p, c->argv[2].len);
  if (!ts) {
    cairn_reply_errorf(&c->reply, "No samples available for event '%.*s'", (int)c->argv[2].len, c->argv[2].p);
    return;
  }
  int64_t v[LATENCY_TS_LEN];
  char labels[LATENCY_TS_LEN][24];
  int n = 0;
  int64_t mn = 0, mx = 0, now = (int64_t)time(NULL);
  for (int j = 0; j < LATENCY_TS_LEN; j++) {
    int i = (ts->idx + j) % LATENCY_TS_LEN;
    if (ts->samples[i].time == 0) continue;
    int64_t l = ts->samples[i].latency, el = now - ts->samples[i].time;
    if (n == 0 || l > mx) mx = l;
    if (n == 0 || l < mn) mn = l;
    if (el < 60)
      snprintf(labels[n], 24, "%llds", (long long)el);
    else if (el < 3600)
      snprintf(labels[n], 24, "%lldm", (long long)(el / 60));
    else if (el < 86400)
      snprintf(labels[n], 24, "%lldh", (long long)(el / 3600));
    else
      snprintf(labels[n], 24, "%lldd", (long long)(el / 86400));
    v[n++] = l;
  }
  cairn_buf g = {0};
  cairn_buf_printf(&g, "%s - high %llu ms, low %llu ms (all time high %llu ms)\n", ts->name, (unsigned long long)mx,
                   (unsigned long long)mn, (unsigned long long)ts->max);
  for (int j = 0; j < 80; j++) cairn_buf_append(&g, "-", 1);
  cairn_buf_append(&g, "\n", 1);
  sparkline(&g, v, labels, n, 80, 4);
  cairn_reply_verbatim(&c->reply, g.p, g.len);
  cairn_buf_free(&g);
}

/* Redis's report for the events cairn records ('command', 'fast-command'). */
static void cmd_latency_doctor(cairn_ctx *c) {
  cairn_server *srv = c->srv;
  cairn_diag *d = diag_of(srv);
  cairn_buf r = {0};
  if (d->nevents == 0 && srv->cfg.latency_monitor_threshold == 0) {
    cairn_buf_append_str(&r, "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. "
                             "You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to "
                             "enable it. If we weren't in a deep space mission I'd suggest to take a look at "
                             "https://redis.io/topics/latency-monitor.\n");
  } else if (d->nevents == 0) {
    cairn_buf_append_str(&r, "Dave, no latency spike was observed during the lifetime of this Redis instance, not in "
                             "the slightest bit. I honestly think you ought to sleep tonight.\n");
  } else {
    int advise_slowlog_enabled = 0, advise_slowlog_tuning = 0, advise_slowlog_inspect = 0;
    cairn_buf_append_str(&r, "Dave, I have observed latency spikes in this Redis instance. You don't mind talking "
                             "about it, do you Dave?\n\n");
    int64_t now = (int64_t)time(NULL);
    for (int e = 0; e < d->nevents; e++) {
      lat_series *ts = d->events[e];
      uint64_t sum = 0, samples = 0, mad = 0;
      int64_t oldest = 0;
      for (int j = 0; j < LATENCY_TS_LEN; j++) {
        if (ts->samples[j].time == 0) continue;
        samples++;
        sum += (uint64_t)ts->samples[j].latency;
        if (oldest == 0 || ts->samples[j].time < oldest) oldest = ts->samples[j].time;
      }
      uint64_t avg = samples ? sum / samples : 0;
      for (int j = 0; j < LATENCY_TS_LEN; j++) {
        if (ts->samples[j].time == 0) continue;
        int64_t delta = (int64_t)avg - ts->samples[j].latency;
        mad += (uint64_t)(delta < 0 ? -delta : delta);
      }
      if (samples) mad /= samples;
      int64_t period = samples ? now - oldest : 0;
      if (samples && period == 0) period = 1;
      cairn_buf_printf(&r, "%d. %s: %llu latency spikes (average %llums, mean deviation %llums, period %.2f sec). "
                           "Worst all time event %llums.",
                       e + 1, ts->name, (unsigned long long)samples, (unsigned long long)avg, (unsigned long long)mad,
                       samples ? (double)period / (double)samples : 0.0, (unsigned long long)ts->max);
      if (strcmp(ts->name, "command") == 0 || strcmp(ts->name, "fast-command") == 0) {
        if (srv->cfg.slowlog_log_slower_than < 0) {
          advise_slowlog_enabled = 1;
        } else if (srv->cfg.slowlog_log_slower_than / 1000 > srv->cfg.latency_monitor_threshold) {
          advise_slowlog_tuning = 1;
        }
        advise_slowlog_inspect = 1;
      }
      cairn_buf_append_str(&r, "\n");
    }
    cairn_buf_append_str(&r, "\nI have a few advices for you:\n\n");
    if (advise_slowlog_enabled)
      cairn_buf_printf(&r, "- There are latency issues with potentially slow commands you are using. Try to enable "
                           "the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than %llu'. "
                           "If the Slow log is disabled Redis is not able to log slow commands execution for you.\n",
                       (unsigned long long)srv->cfg.latency_monitor_threshold * 1000);
    if (advise_slowlog_tuning)
      cairn_buf_printf(&r, "- Your current Slow Log configuration only logs events that are slower than your "
                           "configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than "
                           "%llu'.\n",
                       (unsigned long long)srv->cfg.latency_monitor_threshold * 1000);
    if (advise_slowlog_inspect)
      cairn_buf_append_str(&r, "- Check your Slow Log to understand what are the commands you are running which are "
                               "too slow to execute. Please check https://redis.io/commands/slowlog for more "
                               "information.\n");
  }
  cairn_reply_verbatim(&c->reply, r.p, r.len);
  cairn_buf_free(&r);
}

static void reply_cdf(cairn_ctx *c, const cairn_command *cmd, long long *n) {
  uint64_t calls, usec[48], cum[48];
  int k = cairn_info_latency_cdf(c->srv, cmd, &calls, usec, cum, 48);
  if (k < 0) return;
  cairn_reply_bulk_str(&c->reply, cmd->name);
  cairn_reply_map(&c->reply, 2);
  cairn_reply_bulk_str(&c->reply, "calls");
  cairn_reply_int(&c->reply, (long long)calls);
  cairn_reply_bulk_str(&c->reply, "histogram_usec");
  cairn_reply_map(&c->reply, k);
  for (int i = 0; i < k; i++) {
    cairn_reply_int(&c->reply, (long long)usec[i]);
    cairn_reply_int(&c->reply, (long long)cum[i]);
  }
  (*n)++;
}

static void cmd_latency_histogram(cairn_ctx *c) {
  size_t mark = cairn_reply_defer(&c->reply);
  long long n = 0;
  if (c->argc == 2) {
    const cairn_command *v[1024];
    int k = cairn_info_timed_commands(c->srv, v, 1024);
    for (int i = 0; i < k; i++) reply_cdf(c, v[i], &n);
  } else {
    for (int j = 2; j < c->argc; j++) {
      const cairn_command *cmd = cairn_command_lookup(c->argv[j].p, c->argv[j].len);
      if (!cmd) continue;
      reply_cdf(c, cmd, &n);
      for (const cairn_command *s = cmd->subcommands; s && s->name; s++) reply_cdf(c, s, &n);
    }
  }
  cairn_reply_defer_map(&c->reply, mark, n);
}

/* ---------------------------------------------------------------- table */

#define DIAG_FLAGS (CAIRN_CMD_ADMIN | CAIRN_CMD_NOSCRIPT | CAIRN_F_LOADING_STALE)

static const cairn_command slowlog_subcommands[] = {
    CAIRN_CMD("slowlog|get", -2, DIAG_FLAGS, 0, 0, 0, cmd_slowlog_get, "server", "Get the slow log's entries",
              "2.2.12", "[count]"),
    CAIRN_CMD("slowlog|len", 2, DIAG_FLAGS, 0, 0, 0, cmd_slowlog_len, "server", "Get the slow log's length", "2.2.12",
              ""),
    CAIRN_CMD("slowlog|reset", 2, DIAG_FLAGS, 0, 0, 0, cmd_slowlog_reset, "server", "Clear all entries from the slow log",
              "2.2.12", ""),
    CAIRN_CMD("slowlog|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_slowlog_help, "server",
              "Show helpful text about the different subcommands", "6.2.0", ""),
    CAIRN_CMD_END,
};

static const cairn_command latency_subcommands[] = {
    CAIRN_CMD("latency|doctor", 2, DIAG_FLAGS, 0, 0, 0, cmd_latency_doctor, "server",
              "Return a human readable latency analysis report.", "2.8.13", ""),
    CAIRN_CMD("latency|graph", 3, DIAG_FLAGS, 0, 0, 0, cmd_latency_graph, "server",
              "Return a latency graph for the event.", "2.8.13", "event"),
    CAIRN_CMD("latency|history", 3, DIAG_FLAGS, 0, 0, 0, cmd_latency_history, "server",
              "Return timestamp-latency samples for the event.", "2.8.13", "event"),
    CAIRN_CMD("latency|latest", 2, DIAG_FLAGS, 0, 0, 0, cmd_latency_latest, "server",
              "Return the latest latency samples for all events.", "2.8.13", ""),
    CAIRN_CMD("latency|reset", -2, DIAG_FLAGS, 0, 0, 0, cmd_latency_reset, "server",
              "Reset latency data for one or more events.", "2.8.13", "[event [event ...]]"),
    CAIRN_CMD("latency|histogram", -2, DIAG_FLAGS, 0, 0, 0, cmd_latency_histogram, "server",
              "Return the cumulative distribution of latencies of a subset of commands or all.", "7.0.0",
              "[command [command ...]]"),
    CAIRN_CMD("latency|help", 2, CAIRN_F_LOADING_STALE, 0, 0, 0, cmd_latency_help, "server",
              "Show helpful text about the different subcommands.", "2.8.13", ""),
    CAIRN_CMD_END,
};

const cairn_command cairn_commands_diag[] = {
    CAIRN_CMD("slowlog", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "server", "A container for slow log commands",
              "2.2.12", "", .subcommands = slowlog_subcommands),
    CAIRN_CMD("latency", -2, 0, 0, 0, 0, cairn_subcommand_dispatch, "server",
              "A container for latency diagnostics commands", "2.8.13", "", .subcommands = latency_subcommands),
    CAIRN_CMD_END,
};
