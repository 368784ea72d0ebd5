/* GEO commands: GEOADD GEOPOS GEODIST GEOHASH GEORADIUS GEORADIUS_RO
 * GEORADIUSBYMEMBER GEORADIUSBYMEMBER_RO GEOSEARCH GEOSEARCHSTORE.
 *
 * A geo index is a sorted set whose scores are 52-bit geohashes
 * (engine/cmd/geohash.h), exactly Redis's, so either server reads the
 * other's keys. GEOADD is ZADD with computed scores (and replicates as that
 * ZADD, like Redis). A search reads the score ranges of at most 9 geohash
 * boxes around the centre (one seek each, then the members in range) and
 * keeps the members within the shape; its cost is O(log n) per box plus the
 * members of the boxes, and memory for the matches (sorting needs them all,
 * like Redis). The STORE forms write the matches into a new sorted set. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/server.h"
#include "engine/keyspace.h"
#include "engine/util.h"
#include "engine/cmd/geohash.h"
#include "engine/cmd/types.h"

#define ERR_UNIT "unsupported unit provided. please use M, KM, FT, MI"
#define ERR_MEMBER "could not decode requested zset member"

/* ---------------------------------------------------------------- arguments */

/* Redis's getDoubleFromObjectOrReply with its message. */
static int double_arg(cairn_ctx *c, cairn_str a, double *out, const char *msg) {
  if (!cairn_str2d(a.p, a.len, out)) {
    cairn_reply_error(&c->reply, msg ? msg : CAIRN_ERR_NOTFLOAT);
    return -1;
  }
  return 0;
}

static int lonlat_arg(cairn_ctx *c, const cairn_str *argv, double *xy) {
  for (int i = 0; i < 2; i++)
    if (double_arg(c, argv[i], &xy[i], NULL) != 0) return -1;
  if (xy[0] < CAIRN_GEO_LONG_MIN || xy[0] > CAIRN_GEO_LONG_MAX || xy[1] < CAIRN_GEO_LAT_MIN ||
      xy[1] > CAIRN_GEO_LAT_MAX) {
    cairn_reply_errorf(&c->reply, "-ERR invalid longitude,latitude pair %f,%f", xy[0], xy[1]);
    return -1;
  }
  return 0;
}

/* Metres per unit, or -1 after replying. */
static double unit_arg(cairn_ctx *c, cairn_str u) {
  if (cairn_arg_is(u, "m")) return 1;
  if (cairn_arg_is(u, "km")) return 1000;
  if (cairn_arg_is(u, "ft")) return 0.3048;
  if (cairn_arg_is(u, "mi")) return 1609.34;
  cairn_reply_error(&c->reply, ERR_UNIT);
  return -1;
}

static int distance_arg(cairn_ctx *c, const cairn_str *argv, double *conversion, double *radius) {
  double d;
  if (double_arg(c, argv[0], &d, "need numeric radius") != 0) return -1;
  if (d < 0) {
    cairn_reply_error(&c->reply, "radius cannot be negative");
    return -1;
  }
  *radius = d;
  double m = unit_arg(c, argv[1]);
  if (m < 0) return -1;
  *conversion = m;
  return 0;
}

static int box_arg(cairn_ctx *c, const cairn_str *argv, double *conversion, double *width, double *height) {
  double w, h;
  if (double_arg(c, argv[0], &w, "need numeric width") != 0 || double_arg(c, argv[1], &h, "need numeric height") != 0)
    return -1;
  if (h < 0 || w < 0) {
    cairn_reply_error(&c->reply, "height or width cannot be negative");
    return -1;
  }
  *width = w;
  *height = h;
  double m = unit_arg(c, argv[2]);
  if (m < 0) return -1;
  *conversion = m;
  return 0;
}

/* ---------------------------------------------------------------- replies */

/* Redis's addReplyHumanLongDouble: %.17Lf without trailing zeros; a bulk
 * string in RESP2, a double in RESP3. */
static void reply_coord(cairn_ctx *c, double d) {
  char buf[512];
  size_t n = cairn_ld2str(buf, sizeof(buf), (long double)d);
  if (c->reply.resp >= 3) {
    cairn_reply_raw(&c->reply, ",", 1);
    cairn_reply_raw(&c->reply, buf, n);
    cairn_reply_raw(&c->reply, "\r\n", 2);
  } else {
    cairn_reply_bulk(&c->reply, buf, n);
  }
}

/* A distance with 4 decimals, rounded like Redis's fixedpoint_d2string
 * (llrint of d * 10^4). */
static void reply_distance(cairn_ctx *c, double d) {
  char buf[64];
  long long v = llrint(d * 10000.0);
  unsigned long long u = v < 0 ? (unsigned long long)0 - (unsigned long long)v : (unsigned long long)v;
  int n = snprintf(buf, sizeof(buf), "%s%llu.%04llu", v < 0 ? "-" : "", u / 10000, u % 10000);
  cairn_reply_bulk(&c->reply, buf, (size_t)n);
}

/* ---------------------------------------------------------------- GEOADD */

/* GEOADD key [NX|XX] [CH] longitude latitude member [...]: ZADD key
 * [options] score member [...] (ZADD replies and checks NX with XX). */
void cairn_cmd_geoadd(cairn_ctx *c) {
  int xx = 0, nx = 0, first = 2;
  while (first < c->argc) {
    cairn_str o = c->argv[first];
    if (cairn_arg_is(o, "nx"))
      nx = 1;
    else if (cairn_arg_is(o, "xx"))
      xx = 1;
    else if (!cairn_arg_is(o, "ch"))
      break;
    first++;
  }
  if ((c->argc - first) % 3 || (xx && nx)) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  int n = (c->argc - first) / 3, argc = first + n * 2;
  cairn_str *argv = cairn_xmalloc(sizeof(cairn_str) * (size_t)argc);
  char *scores = cairn_xmalloc((size_t)n * 24 + 1);
  argv[0] = (cairn_str){"zadd", 4};
  for (int i = 1; i < first; i++) argv[i] = c->argv[i];
  for (int i = 0; i < n; i++) {
    double xy[2];
    if (lonlat_arg(c, c->argv + first + i * 3, xy) != 0) goto out;
    cairn_geohash h;
    cairn_geohash_encode_wgs84(xy[0], xy[1], CAIRN_GEO_STEP_MAX, &h);
    char *s = scores + (size_t)i * 24;
    size_t len = cairn_ull2str(s, cairn_geohash_align52(h));
    argv[first + i * 2] = (cairn_str){s, len};
    argv[first + i * 2 + 1] = c->argv[first + i * 3 + 2];
  }
  cairn_zset_zadd_argv(c, argc, argv);
out:
  free(argv);
  free(scores);
}

/* ---------------------------------------------------------------- GEOPOS GEODIST GEOHASH */

void cairn_cmd_geopos(cairn_ctx *c) {
  uint64_t id = 0;
  int found = cairn_zset_open(c, c->argv[1], &id);
  if (found < 0) return;
  cairn_reply_array(&c->reply, c->argc - 2);
  for (int j = 2; j < c->argc; j++) {
    double score, xy[2];
    int rc = found ? cairn_zset_score(c, id, c->argv[j], &score) : 0;
    if (rc < 0) return;
    if (!rc || !cairn_geohash_decode_score(score, xy)) {
      cairn_reply_null_array(&c->reply);
      continue;
    }
    cairn_reply_array(&c->reply, 2);
    reply_coord(c, xy[0]);
    reply_coord(c, xy[1]);
  }
}

void cairn_cmd_geodist(cairn_ctx *c) {
  double to_m = 1;
  if (c->argc == 5) {
    if ((to_m = unit_arg(c, c->argv[4])) < 0) return;
  } else if (c->argc > 5) {
    cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
    return;
  }
  uint64_t id;
  int rc = cairn_zset_open(c, c->argv[1], &id);
  if (rc < 0) return;
  double s1, s2, a[2], b[2];
  int r1 = rc ? cairn_zset_score(c, id, c->argv[2], &s1) : 0;
  if (r1 < 0) return;
  int r2 = r1 ? cairn_zset_score(c, id, c->argv[3], &s2) : 0;
  if (r2 < 0) return;
  if (!r1 || !r2 || !cairn_geohash_decode_score(s1, a) || !cairn_geohash_decode_score(s2, b)) {
    cairn_reply_null(&c->reply);
    return;
  }
  reply_distance(c, cairn_geo_distance(a[0], a[1], b[0], b[1]) / to_m);
}

void cairn_cmd_geohash(cairn_ctx *c) {
  uint64_t id = 0;
  int found = cairn_zset_open(c, c->argv[1], &id);
  if (found < 0) return;
  cairn_reply_array(&c->reply, c->argc - 2);
  for (int j = 2; j < c->argc; j++) {
    double score;
    char buf[12];
    int rc = found ? cairn_zset_score(c, id, c->argv[j], &score) : 0;
    if (rc < 0) return;
    if (!rc || !cairn_geohash_string(score, buf)) {
      cairn_reply_null(&c->reply);
      continue;
    }
    cairn_reply_bulk(&c->reply, buf, 11);
  }
}

/* ---------------------------------------------------------------- searches */

typedef struct geo_point {
  double xy[2], dist, score;
  char *member;
  size_t len;
} geo_point;

typedef struct geo_search {
  const cairn_geo_shape *shape;
  geo_point *pts;
  size_t n, cap;
  size_t limit; /* ANY: stop at this many matches (0: no limit) */
} geo_search;

static int collect(void *ud, const char *m, size_t len, double score) {
  geo_search *g = ud;
  double xy[2], dist = 0;
  if (cairn_geo_within(g->shape, score, xy, &dist)) {
    if (g->n == g->cap) {
      g->cap = g->cap ? g->cap * 2 : 16;
      g->pts = cairn_xrealloc(g->pts, g->cap * sizeof(geo_point));
    }
    geo_point *p = &g->pts[g->n++];
    p->xy[0] = xy[0];
    p->xy[1] = xy[1];
    p->dist = dist;
    p->score = score;
    p->member = cairn_xmemdup(m, len);
    p->len = len;
  }
  return g->limit && g->n >= g->limit;
}

static int by_dist_asc(const void *x, const void *y) {
  const geo_point *a = x, *b = y;
  return a->dist > b->dist ? 1 : a->dist == b->dist ? 0 : -1;
}
static int by_dist_desc(const void *x, const void *y) { return -by_dist_asc(x, y); }

enum {
  G_COORDS = 1 << 0,   /* GEORADIUS: around lon lat */
  G_MEMBER = 1 << 1,   /* GEORADIUSBYMEMBER */
  G_NOSTORE = 1 << 2,  /* the _RO forms */
  G_SEARCH = 1 << 3,   /* GEOSEARCH arguments */
  G_SEARCHSTORE = 1 << 4,
};
enum { SORT_NONE, SORT_ASC, SORT_DESC };

/* Redis's georadiusGeneric, argument for argument (the order of its checks
 * is the order of its errors). */
static void georadius_generic(cairn_ctx *c, int src_idx, int flags) {
  cairn_str *storekey = NULL;
  int storedist = 0;
  uint64_t id = 0;
  int exists = cairn_zset_open(c, c->argv[src_idx], &id);
  if (exists < 0) return;
  int base;
  cairn_geo_shape shape;
  memset(&shape, 0, sizeof(shape));
  if (flags & G_COORDS) {
    base = 6;
    shape.type = CAIRN_GEO_CIRCLE;
    if (lonlat_arg(c, c->argv + 2, shape.xy) != 0) return;
    if (distance_arg(c, c->argv + 4, &shape.conversion, &shape.radius) != 0) return;
  } else if ((flags & G_MEMBER) && !exists) {
    base = 5; /* parse the options anyway: the reply depends on STORE */
  } else if (flags & G_MEMBER) {
    base = 5;
    shape.type = CAIRN_GEO_CIRCLE;
    double score;
    int rc = cairn_zset_score(c, id, c->argv[2], &score);
    if (rc < 0) return;
    if (!rc || !cairn_geohash_decode_score(score, shape.xy)) {
      cairn_reply_error(&c->reply, ERR_MEMBER);
      return;
    }
    if (distance_arg(c, c->argv + 3, &shape.conversion, &shape.radius) != 0) return;
  } else {
    base = 2;
    if (flags & G_SEARCHSTORE) {
      base = 3;
      storekey = &c->argv[1];
    }
  }
  int withdist = 0, withhash = 0, withcoords = 0, frommember = 0, fromloc = 0, byradius = 0, bybox = 0;
  int sort = SORT_NONE, any = 0;
  long long count = 0;
  int rem = c->argc - base;
  for (int i = 0; i < rem; i++) {
    cairn_str a = c->argv[base + i];
    const cairn_str *next = c->argv + base + i + 1;
    if (cairn_arg_is(a, "withdist")) {
      withdist = 1;
    } else if (cairn_arg_is(a, "withhash")) {
      withhash = 1;
    } else if (cairn_arg_is(a, "withcoord")) {
      withcoords = 1;
    } else if (cairn_arg_is(a, "any")) {
      any = 1;
    } else if (cairn_arg_is(a, "asc")) {
      sort = SORT_ASC;
    } else if (cairn_arg_is(a, "desc")) {
      sort = SORT_DESC;
    } else if (cairn_arg_is(a, "count") && i + 1 < rem) {
      if (cairn_arg_ll(c, next[0], &count) != 0) return;
      if (count <= 0) {
        cairn_reply_error(&c->reply, "COUNT must be > 0");
        return;
      }
      i++;
    } else if ((cairn_arg_is(a, "store") || cairn_arg_is(a, "storedist")) && i + 1 < rem &&
               !(flags & (G_NOSTORE | G_SEARCH))) {
      storekey = &c->argv[base + i + 1];
      storedist = cairn_arg_is(a, "storedist");
      i++;
    } else if (cairn_arg_is(a, "storedist") && (flags & G_SEARCH) && (flags & G_SEARCHSTORE)) {
      storedist = 1;
    } else if (cairn_arg_is(a, "frommember") && i + 1 < rem && (flags & G_SEARCH) && !fromloc) {
      if (exists) {
        double score;
        int rc = cairn_zset_score(c, id, next[0], &score);
        if (rc < 0) return;
        if (!rc || !cairn_geohash_decode_score(score, shape.xy)) {
          cairn_reply_error(&c->reply, ERR_MEMBER);
          return;
        }
      }
      frommember = 1;
      i++;
    } else if (cairn_arg_is(a, "fromlonlat") && i + 2 < rem && (flags & G_SEARCH) && !frommember) {
      if (lonlat_arg(c, next, shape.xy) != 0) return;
      fromloc = 1;
      i += 2;
    } else if (cairn_arg_is(a, "byradius") && i + 2 < rem && (flags & G_SEARCH) && !bybox) {
      if (distance_arg(c, next, &shape.conversion, &shape.radius) != 0) return;
      shape.type = CAIRN_GEO_CIRCLE;
      byradius = 1;
      i += 2;
    } else if (cairn_arg_is(a, "bybox") && i + 3 < rem && (flags & G_SEARCH) && !byradius) {
      if (box_arg(c, next, &shape.conversion, &shape.width, &shape.height) != 0) return;
      shape.type = CAIRN_GEO_BOX;
      bybox = 1;
      i += 3;
    } else {
      cairn_reply_error(&c->reply, CAIRN_ERR_SYNTAX);
      return;
    }
  }
  if (storekey && (withdist || withhash || withcoords)) {
    cairn_reply_errorf(&c->reply, "%s is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
                       (flags & G_SEARCHSTORE) ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS");
    return;
  }
  if ((flags & G_SEARCH) && !(frommember || fromloc)) {
    cairn_reply_errorf(&c->reply, "exactly one of FROMMEMBER or FROMLONLAT can be specified for %.*s",
                       (int)c->argv[0].len, c->argv[0].p);
    return;
  }
  if ((flags & G_SEARCH) && !(byradius || bybox)) {
    cairn_reply_errorf(&c->reply, "exactly one of BYRADIUS and BYBOX can be specified for %.*s",
                       (int)c->argv[0].len, c->argv[0].p);
    return;
  }
  if (any && !count) {
    cairn_reply_error(&c->reply, "the ANY argument requires COUNT argument");
    return;
  }
  if (!exists) {
    if (storekey)
      cairn_zset_store(c, *storekey, 0, NULL, NULL, NULL); /* deletes it ("del"), replies 0 */
    else
      cairn_reply_array(&c->reply, 0);
    return;
  }
  if (count != 0 && sort == SORT_NONE && !any) sort = SORT_ASC;

  cairn_geohash boxes[9];
  cairn_geo_search_boxes(&shape, boxes);
  geo_search g = {.shape = &shape, .limit = any ? (size_t)count : 0};
  int last = 0;
  for (int i = 0; i < 9; i++) {
    if (boxes[i].bits == 0 && boxes[i].step == 0) continue;
    /* Huge radiuses make neighbours coincide: skip a box equal to the one
     * read just before (Redis compares with the last box read, never the
     * centre). */
    if (last && boxes[i].bits == boxes[last].bits && boxes[i].step == boxes[last].step) continue;
    if (g.limit && g.n >= g.limit) break;
    uint64_t min, max;
    cairn_geohash_box_scores(boxes[i], &min, &max);
    if (cairn_zset_range(c, id, (double)min, (double)max, collect, &g) < 0) goto out;
    last = i;
  }
  if (g.n == 0 && !storekey) {
    cairn_reply_array(&c->reply, 0);
    goto out;
  }
  size_t returned = (count == 0 || g.n < (size_t)count) ? g.n : (size_t)count;
  if (sort != SORT_NONE && g.n > 1) qsort(g.pts, g.n, sizeof(geo_point), sort == SORT_ASC ? by_dist_asc : by_dist_desc);
  if (!storekey) {
    int opts = withdist + withcoords + withhash;
    cairn_reply_array(&c->reply, (long long)returned);
    for (size_t i = 0; i < returned; i++) {
      geo_point *p = &g.pts[i];
      if (opts) cairn_reply_array(&c->reply, opts + 1);
      cairn_reply_bulk(&c->reply, p->member, p->len);
      if (withdist) reply_distance(c, p->dist / shape.conversion);
      if (withhash) cairn_reply_int(&c->reply, (long long)p->score);
      if (withcoords) {
        cairn_reply_array(&c->reply, 2);
        reply_coord(c, p->xy[0]);
        reply_coord(c, p->xy[1]);
      }
    }
  } else {
    cairn_str *members = cairn_xmalloc(sizeof(cairn_str) * (returned ? returned : 1));
    double *scores = cairn_xmalloc(sizeof(double) * (returned ? returned : 1));
    for (size_t i = 0; i < returned; i++) {
      members[i] = (cairn_str){g.pts[i].member, g.pts[i].len};
      scores[i] = storedist ? g.pts[i].dist / shape.conversion : g.pts[i].score;
    }
    cairn_zset_store(c, *storekey, returned, members, scores,
                     (flags & G_SEARCH) ? "geosearchstore" : "georadiusstore"); /* Redis's events */
    free(members);
    free(scores);
  }
out:
  for (size_t i = 0; i < g.n; i++) free(g.pts[i].member);
  free(g.pts);
}

void cairn_cmd_georadius(cairn_ctx *c) { georadius_generic(c, 1, G_COORDS); }
void cairn_cmd_georadius_ro(cairn_ctx *c) { georadius_generic(c, 1, G_COORDS | G_NOSTORE); }
void cairn_cmd_georadiusbymember(cairn_ctx *c) { georadius_generic(c, 1, G_MEMBER); }
void cairn_cmd_georadiusbymember_ro(cairn_ctx *c) { georadius_generic(c, 1, G_MEMBER | G_NOSTORE); }
void cairn_cmd_geosearch(cairn_ctx *c) { georadius_generic(c, 1, G_SEARCH); }
void cairn_cmd_geosearchstore(cairn_ctx *c) { georadius_generic(c, 2, G_SEARCH | G_SEARCHSTORE); }
