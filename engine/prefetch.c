/* Prefetch: clients' keys read on other threads before their commands run
 * (engine/prefetch.h says why and when). */
#include "engine/prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/acl.h"
#include "engine/client.h"
#include "engine/command.h"
#include "engine/log.h"
#include "engine/resp.h"
#include "engine/server.h"
#include "engine/store.h"
#include "engine/util.h"

#define JOB_MAX_COMMANDS 256 /* scanned ahead of one client at a time */
#define ACTIVE_MS 5000       /* on this long after the last major fault seen */

/* A client's read-ahead: the store's job, and the client it is for. */
typedef struct pf_job {
  cairn_store_readjob r; /* first: the store hands it back as this */
  cairn_client *client;  /* NULL once it closed (loop thread only) */
} pf_job;

struct cairn_prefetch {
  cairn_server *srv;
  pthread_mutex_t mu; /* done */
  pf_job *done;       /* finished by the readers, for the loop */
  /* loop thread (on or off: srv->prefetch_on) */
  int64_t active_until_ms;
  uint64_t loop_majflt, seen_reader_majflt;
  uint64_t jobs, keys, found;
};

/* On a reader thread. */
static void job_done(cairn_store_readjob *r) {
  pf_job *j = (pf_job *)r;
  struct cairn_prefetch *pf = r->ud;
  pthread_mutex_lock(&pf->mu);
  j->r.next = (cairn_store_readjob *)pf->done;
  pf->done = j;
  pthread_mutex_unlock(&pf->mu);
  uv_async_send(&pf->srv->prefetch_async);
}

static void job_free(pf_job *j) {
  cairn_buf_free(&j->r.keys);
  free(j);
}

/* The readers' finished jobs: their clients' commands run now (at the
 * iteration's end, with the other resumed clients). */
static void take_done(struct cairn_prefetch *pf) {
  pthread_mutex_lock(&pf->mu);
  pf_job *d = pf->done;
  pf->done = NULL;
  pthread_mutex_unlock(&pf->mu);
  while (d) {
    pf_job *next = (pf_job *)d->r.next;
    pf->found += (uint64_t)d->r.found;
    if (d->client) {
      d->client->pf_job = NULL;
      cairn_client_prefetched(d->client);
    }
    job_free(d);
    d = next;
  }
}

static void on_done(uv_async_t *a) {
  cairn_server *srv = a->data;
  if (srv->prefetch) take_done(srv->prefetch);
}

int cairn_prefetch_start(cairn_server *srv, char *err, size_t errlen) {
  if (cairn_store_reader_threads(srv->store) <= 0) return 0;
  int rc = uv_async_init(srv->loop, &srv->prefetch_async, on_done);
  if (rc) {
    snprintf(err, errlen, "cannot start prefetch: uv_async_init: %s", uv_strerror(rc));
    return -1;
  }
  srv->prefetch_async.data = srv;
  struct cairn_prefetch *pf = cairn_xcalloc(1, sizeof(*pf));
  pf->srv = srv;
  pthread_mutex_init(&pf->mu, NULL);
  pf->loop_majflt = cairn_thread_major_faults();
  srv->prefetch_on = srv->cfg.prefetch == CAIRN_PREFETCH_YES;
  cairn_store_set_readahead(srv->store, srv->cfg.prefetch);
  srv->prefetch = pf;
  int started = cairn_store_reader_threads(srv->store);
  if (started < srv->cfg.prefetch_threads)
    cairn_warning("prefetch-threads is %d but only %d reader threads could be started (the process's thread "
                  "limit?)", srv->cfg.prefetch_threads, started);
  return 0;
}

void cairn_prefetch_stop(cairn_server *srv) {
  struct cairn_prefetch *pf = srv->prefetch;
  if (!pf) return;
  cairn_store_read_cancel(srv->store, job_done); /* every job is in pf->done after this */
  take_done(pf);
  pthread_mutex_destroy(&pf->mu);
  free(pf);
  srv->prefetch = NULL;
  srv->prefetch_on = 0; /* the async handle is closed with the others */
}

void cairn_prefetch_cron(cairn_server *srv, int64_t now_ms) {
  struct cairn_prefetch *pf = srv->prefetch;
  if (!pf) return;
  uint64_t loop = cairn_thread_major_faults(), readers = cairn_store_reader_faults(srv->store);
  /* the loop's own faults turn it on; the readers' faults (the reads it
   * took over from the loop) keep it on */
  if (loop > pf->loop_majflt || readers > pf->seen_reader_majflt) pf->active_until_ms = now_ms + ACTIVE_MS;
  pf->loop_majflt = loop;
  pf->seen_reader_majflt = readers;
  cairn_store_set_readahead(srv->store, srv->cfg.prefetch); /* the same three modes */
  int on = srv->cfg.prefetch == CAIRN_PREFETCH_YES ||
           (srv->cfg.prefetch == CAIRN_PREFETCH_AUTO && now_ms < pf->active_until_ms);
  if (on != srv->prefetch_on)
    cairn_verbose("prefetch %s (%llu major page faults on the loop thread, %llu on the reader threads)",
                  on ? "on" : "off", (unsigned long long)loop, (unsigned long long)readers);
  srv->prefetch_on = on;
}

/* SELECT's argument, when it is a valid db; else the current one. */
static int selected_db(cairn_server *srv, cairn_str arg, int db) {
  long long v;
  if (cairn_str2ll(arg.p, arg.len, &v) && v >= 0 && v < srv->cfg.databases) return (int)v;
  return db;
}

int cairn_prefetch_client(cairn_client *c) {
  cairn_server *srv = c->srv;
  struct cairn_prefetch *pf = srv->prefetch;
  if (!pf || !srv->prefetch_on || c->pf_job || (c->flags & (CAIRN_CLIENT_REPLICA | CAIRN_CLIENT_MONITOR)) ||
      c->qpos >= c->query.len || cairn_acl_auth_required(srv, c))
    return 0;
  cairn_req_parser p;
  cairn_req_parser_init(&p);
  p.max_bulk_len = srv->cfg.proto_max_bulk_len;
  size_t pos = c->qpos, argcap = 0;
  cairn_str *argv = NULL;
  int db = c->db, ncmds = 0;
  pf_job *j = NULL;
  while (pos < c->query.len && ncmds < JOB_MAX_COMMANDS && (!j || j->r.n < CAIRN_STORE_READJOB_KEYS)) {
    size_t consumed = 0;
    char err[128];
    if (cairn_req_parse(&p, c->query.p + pos, c->query.len - pos, &consumed, err, sizeof(err)) != CAIRN_PARSE_OK)
      break; /* incomplete (or an error the client's own parse reports) */
    if (p.argc > argcap) {
      argcap = p.argc * 2;
      argv = cairn_xrealloc(argv, argcap * sizeof(*argv));
    }
    cairn_req_args(&p, c->query.p + pos, argv);
    pos += consumed;
    ncmds++;
    if (p.argc == 0) continue;
    const cairn_command *cmd = cairn_command_lookup(argv[0].p, argv[0].len);
    if (!cmd) continue;
    if (p.argc == 2 && strcmp(cmd->name, "select") == 0) {
      db = selected_db(srv, argv[1], db);
      continue;
    }
    if (cmd->first_key <= 0) continue;
    int argc = (int)p.argc, last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;
    for (int i = cmd->first_key; i <= last && i < argc; i += step) {
      if (!j) j = cairn_xcalloc(1, sizeof(*j));
      if (cairn_store_readjob_add(srv->store, &j->r, db, argv[i]) != 0) break;
    }
  }
  free(argv);
  cairn_req_parser_free(&p);
  c->pf_end = pos;
  if (!j) return 0;
  j->client = c;
  j->r.done = job_done;
  j->r.ud = pf;
  if (cairn_store_read_submit(srv->store, &j->r) != 0) {
    job_free(j);
    return 0;
  }
  c->pf_job = j;
  c->flags |= CAIRN_CLIENT_PREFETCH;
  pf->jobs++;
  pf->keys += (uint64_t)j->r.n;
  return 1;
}

void cairn_prefetch_client_closed(cairn_client *c) {
  if (c->pf_job) c->pf_job->client = NULL;
  c->pf_job = NULL;
}

void cairn_prefetch_info(cairn_server *srv, cairn_buf *out) {
  struct cairn_prefetch *pf = srv->prefetch;
  int ra_on = 0;
  uint64_t ra_keys = cairn_store_readahead_keys(srv->store, &ra_on);
  cairn_buf_printf(out,
                   "prefetch_active:%d\r\n"
                   "prefetch_threads:%d\r\n"
                   "prefetch_jobs:%llu\r\n"
                   "prefetch_keys:%llu\r\n"
                   "prefetch_keys_found:%llu\r\n"
                   "store_readahead_active:%d\r\n"
                   "store_readahead_keys:%llu\r\n"
                   "loop_major_faults:%llu\r\n"
                   "reader_major_faults:%llu\r\n",
                   srv->prefetch_on, cairn_store_reader_threads(srv->store),
                   pf ? (unsigned long long)pf->jobs : 0ULL, pf ? (unsigned long long)pf->keys : 0ULL,
                   pf ? (unsigned long long)pf->found : 0ULL, ra_on, (unsigned long long)ra_keys,
                   (unsigned long long)cairn_thread_major_faults(), (unsigned long long)cairn_store_reader_faults(srv->store));
}
