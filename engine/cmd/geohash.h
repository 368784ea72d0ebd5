/* Geohashes as Redis 7.0 computes them (src/geohash.c, geohash_helper.c):
 * a point is a 52-bit interleaved hash (26 steps, latitude in the even bits,
 * longitude in the odd ones) over longitude [-180, 180] and latitude
 * [-85.05112878, 85.05112878], stored as a sorted-set score; a search
 * covers the hash box of the centre and its 8 neighbours at a step chosen
 * from the radius, then filters by exact distance (haversine on a sphere of
 * 6372797.560856 m). The same arithmetic gives the same scores, positions,
 * distances and candidate boxes as Redis.
 *
 * Pure functions: tests/unit/test_geohash.c. */
#ifndef CAIRN_CMD_GEOHASH_H
#define CAIRN_CMD_GEOHASH_H

#include <stdint.h>

#define CAIRN_GEO_STEP_MAX 26
#define CAIRN_GEO_LAT_MIN -85.05112878
#define CAIRN_GEO_LAT_MAX 85.05112878
#define CAIRN_GEO_LONG_MIN -180
#define CAIRN_GEO_LONG_MAX 180

typedef struct {
  uint64_t bits;
  uint8_t step;
} cairn_geohash;

typedef struct {
  double min, max;
} cairn_geo_range;

typedef struct {
  cairn_geohash hash;
  cairn_geo_range lon, lat;
} cairn_geo_area;

enum { CAIRN_GEO_CIRCLE = 1, CAIRN_GEO_BOX = 2 };

typedef struct {
  int type;
  double xy[2];      /* centre: longitude, latitude */
  double conversion; /* metres per unit */
  double radius;     /* circle, in units */
  double width, height; /* box, in units */
  double bounds[4];  /* min lon, min lat, max lon, max lat (filled by the search) */
} cairn_geo_shape;

/* 1 encoded, 0 when the point or step is outside what can be encoded. */
int cairn_geohash_encode(const cairn_geo_range *lon, const cairn_geo_range *lat, double longitude, double latitude,
                         uint8_t step, cairn_geohash *out);
/* With the WGS84 ranges above. */
int cairn_geohash_encode_wgs84(double longitude, double latitude, uint8_t step, cairn_geohash *out);
/* The 52-bit score of a hash of any step. */
uint64_t cairn_geohash_align52(cairn_geohash h);
int cairn_geohash_decode(const cairn_geo_range *lon, const cairn_geo_range *lat, cairn_geohash h,
                         cairn_geo_area *area);
/* A 52-bit score back to the centre of its cell: 1, or 0 if it can't be. */
int cairn_geohash_decode_score(double score, double *xy);
/* The 11-character standard geohash (latitude over [-90, 90]) of a score;
 * 0 if it can not be decoded. */
int cairn_geohash_string(double score, char out[12]);

/* The boxes a search must read: [0] the centre, then N S E W NE NW SE SW,
 * a zero hash (bits 0, step 0) for a box left out. Fills shape->bounds. */
void cairn_geo_search_boxes(cairn_geo_shape *shape, cairn_geohash boxes[9]);
/* The score range [min, max) of the points inside a box. */
void cairn_geohash_box_scores(cairn_geohash h, uint64_t *min, uint64_t *max);

double cairn_geo_distance(double lon1, double lat1, double lon2, double lat2);
/* Whether the point (of the score, decoded into xy) is inside the shape;
 * *dist is its distance in metres from the centre. */
int cairn_geo_within(const cairn_geo_shape *shape, double score, double *xy, double *dist);

#endif
