/* Geohash arithmetic (engine/cmd/geohash.h). Every formula keeps Redis
 * 7.0's operation order: scores, decoded positions and distances must be
 * bit for bit the same doubles for results to agree with Redis at the
 * edges of a search. */
#include <math.h>
#include <stddef.h>

#include "engine/cmd/geohash.h"

#define D_R (M_PI / 180.0)
static const double EARTH_RADIUS_M = 6372797.560856;
static const double MERCATOR_MAX = 20037726.37;

static double deg_rad(double a) { return a * D_R; }
static double rad_deg(double a) { return a / D_R; }

static const cairn_geo_range WGS_LON = {CAIRN_GEO_LONG_MIN, CAIRN_GEO_LONG_MAX};
static const cairn_geo_range WGS_LAT = {CAIRN_GEO_LAT_MIN, CAIRN_GEO_LAT_MAX};

/* Bit i of lat goes to bit 2i, bit i of lon to bit 2i+1. */
static uint64_t spread(uint32_t v) {
  uint64_t x = v;
  x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
  x = (x | (x << 2)) & 0x3333333333333333ULL;
  x = (x | (x << 1)) & 0x5555555555555555ULL;
  return x;
}

static uint32_t squash(uint64_t x) {
  x &= 0x5555555555555555ULL;
  x = (x | (x >> 1)) & 0x3333333333333333ULL;
  x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0FULL;
  x = (x | (x >> 4)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x >> 16)) & 0x00000000FFFFFFFFULL;
  return (uint32_t)x;
}

static uint64_t interleave(uint32_t lat, uint32_t lon) { return spread(lat) | (spread(lon) << 1); }

int cairn_geohash_encode(const cairn_geo_range *lon, const cairn_geo_range *lat, double longitude, double latitude,
                         uint8_t step, cairn_geohash *out) {
  if (step > 32 || step == 0 || (lat->min == 0 && lat->max == 0) || (lon->min == 0 && lon->max == 0)) return 0;
  if (longitude > CAIRN_GEO_LONG_MAX || longitude < CAIRN_GEO_LONG_MIN || latitude > CAIRN_GEO_LAT_MAX ||
      latitude < CAIRN_GEO_LAT_MIN)
    return 0;
  out->bits = 0;
  out->step = step;
  if (latitude < lat->min || latitude > lat->max || longitude < lon->min || longitude > lon->max) return 0;
  double lat_off = (latitude - lat->min) / (lat->max - lat->min);
  double lon_off = (longitude - lon->min) / (lon->max - lon->min);
  lat_off *= (double)(1ULL << step);
  lon_off *= (double)(1ULL << step);
  out->bits = interleave((uint32_t)lat_off, (uint32_t)lon_off);
  return 1;
}

int cairn_geohash_encode_wgs84(double longitude, double latitude, uint8_t step, cairn_geohash *out) {
  return cairn_geohash_encode(&WGS_LON, &WGS_LAT, longitude, latitude, step, out);
}

uint64_t cairn_geohash_align52(cairn_geohash h) { return h.bits << (52 - h.step * 2); }

int cairn_geohash_decode(const cairn_geo_range *lon, const cairn_geo_range *lat, cairn_geohash h,
                         cairn_geo_area *area) {
  if ((h.bits == 0 && h.step == 0) || (lat->min == 0 && lat->max == 0) || (lon->min == 0 && lon->max == 0))
    return 0;
  area->hash = h;
  uint32_t ilat = squash(h.bits), ilon = squash(h.bits >> 1);
  double lat_scale = lat->max - lat->min, lon_scale = lon->max - lon->min;
  area->lat.min = lat->min + (ilat * 1.0 / (double)(1ULL << h.step)) * lat_scale;
  area->lat.max = lat->min + ((ilat + 1) * 1.0 / (double)(1ULL << h.step)) * lat_scale;
  area->lon.min = lon->min + (ilon * 1.0 / (double)(1ULL << h.step)) * lon_scale;
  area->lon.max = lon->min + ((ilon + 1) * 1.0 / (double)(1ULL << h.step)) * lon_scale;
  return 1;
}

int cairn_geohash_decode_score(double score, double *xy) {
  cairn_geohash h = {(uint64_t)score, CAIRN_GEO_STEP_MAX};
  cairn_geo_area a;
  if (!cairn_geohash_decode(&WGS_LON, &WGS_LAT, h, &a)) return 0;
  xy[0] = (a.lon.min + a.lon.max) / 2;
  if (xy[0] > CAIRN_GEO_LONG_MAX) xy[0] = CAIRN_GEO_LONG_MAX;
  if (xy[0] < CAIRN_GEO_LONG_MIN) xy[0] = CAIRN_GEO_LONG_MIN;
  xy[1] = (a.lat.min + a.lat.max) / 2;
  if (xy[1] > CAIRN_GEO_LAT_MAX) xy[1] = CAIRN_GEO_LAT_MAX;
  if (xy[1] < CAIRN_GEO_LAT_MIN) xy[1] = CAIRN_GEO_LAT_MIN;
  return 1;
}

int cairn_geohash_string(double score, char out[12]) {
  static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
  double xy[2];
  if (!cairn_geohash_decode_score(score, xy)) return 0;
  cairn_geo_range lon = {-180, 180}, lat = {-90, 90};
  cairn_geohash h = {0, 0};
  cairn_geohash_encode(&lon, &lat, xy[0], xy[1], 26, &h);
  for (int i = 0; i < 11; i++) {
    /* 52 bits make 10 characters and 2 bits; the 11th is always '0'. */
    int idx = i == 10 ? 0 : (int)((h.bits >> (52 - (i + 1) * 5)) & 0x1f);
    out[i] = alphabet[idx];
  }
  out[11] = '\0';
  return 1;
}

/* The neighbour dlon, dlat cells away (wrapping around at the step). */
static cairn_geohash neighbour(cairn_geohash h, int dlon, int dlat) {
  uint64_t mask = h.step >= 32 ? 0xffffffffULL : ((1ULL << h.step) - 1);
  uint32_t lat = squash(h.bits), lon = squash(h.bits >> 1);
  lon = (uint32_t)(((uint64_t)lon + (uint64_t)(int64_t)dlon) & mask);
  lat = (uint32_t)(((uint64_t)lat + (uint64_t)(int64_t)dlat) & mask);
  cairn_geohash n = {interleave(lat, lon), h.step};
  return n;
}

static uint8_t steps_for_radius(double range_m, double lat) {
  if (range_m == 0) return 26;
  int step = 1;
  while (range_m < MERCATOR_MAX) {
    range_m *= 2;
    step++;
  }
  step -= 2; /* so the range falls inside in most cases */
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  if (step < 1) step = 1;
  if (step > 26) step = 26;
  return (uint8_t)step;
}

static void bounding_box(cairn_geo_shape *s) {
  double lon = s->xy[0], lat = s->xy[1];
  double height = s->conversion * (s->type == CAIRN_GEO_CIRCLE ? s->radius : s->height / 2);
  double width = s->conversion * (s->type == CAIRN_GEO_CIRCLE ? s->radius : s->width / 2);
  const double lat_delta = rad_deg(height / EARTH_RADIUS_M);
  const double lon_delta_top = rad_deg(width / EARTH_RADIUS_M / cos(deg_rad(lat + lat_delta)));
  const double lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / cos(deg_rad(lat - lat_delta)));
  /* the widest side is the one nearer the equator */
  int south = lat < 0;
  s->bounds[0] = south ? lon - lon_delta_bottom : lon - lon_delta_top;
  s->bounds[2] = south ? lon + lon_delta_bottom : lon + lon_delta_top;
  s->bounds[1] = lat - lat_delta;
  s->bounds[3] = lat + lat_delta;
}

enum { N_CENTER, N_NORTH, N_SOUTH, N_EAST, N_WEST, N_NE, N_NW, N_SE, N_SW };

static void fill_neighbours(cairn_geohash h, cairn_geohash b[9]) {
  b[N_CENTER] = h;
  b[N_NORTH] = neighbour(h, 0, 1);
  b[N_SOUTH] = neighbour(h, 0, -1);
  b[N_EAST] = neighbour(h, 1, 0);
  b[N_WEST] = neighbour(h, -1, 0);
  b[N_NE] = neighbour(h, 1, 1);
  b[N_NW] = neighbour(h, -1, 1);
  b[N_SE] = neighbour(h, 1, -1);
  b[N_SW] = neighbour(h, -1, -1);
}

void cairn_geo_search_boxes(cairn_geo_shape *s, cairn_geohash b[9]) {
  bounding_box(s);
  double min_lon = s->bounds[0], min_lat = s->bounds[1], max_lon = s->bounds[2], max_lat = s->bounds[3];
  double lon = s->xy[0], lat = s->xy[1];
  double radius_m = s->type == CAIRN_GEO_CIRCLE ? s->radius
                                                : sqrt((s->width / 2) * (s->width / 2) + (s->height / 2) * (s->height / 2));
  radius_m *= s->conversion;
  uint8_t steps = steps_for_radius(radius_m, lat);
  cairn_geohash h = {0, 0};
  cairn_geo_area area;
  cairn_geohash_encode(&WGS_LON, &WGS_LAT, lon, lat, steps, &h);
  fill_neighbours(h, b);
  cairn_geohash_decode(&WGS_LON, &WGS_LAT, h, &area);
  /* One step coarser when a neighbour does not reach the edge of the area. */
  cairn_geo_area n, so, e, w;
  cairn_geohash_decode(&WGS_LON, &WGS_LAT, b[N_NORTH], &n);
  cairn_geohash_decode(&WGS_LON, &WGS_LAT, b[N_SOUTH], &so);
  cairn_geohash_decode(&WGS_LON, &WGS_LAT, b[N_EAST], &e);
  cairn_geohash_decode(&WGS_LON, &WGS_LAT, b[N_WEST], &w);
  int coarser = n.lat.max < max_lat || so.lat.min > min_lat || e.lon.max < max_lon || w.lon.min > min_lon;
  if (steps > 1 && coarser) {
    steps--;
    cairn_geohash_encode(&WGS_LON, &WGS_LAT, lon, lat, steps, &h);
    fill_neighbours(h, b);
    cairn_geohash_decode(&WGS_LON, &WGS_LAT, h, &area);
  }
  /* Leave out the boxes the area does not reach. */
  static const cairn_geohash zero = {0, 0};
  if (steps >= 2) {
    if (area.lat.min < min_lat) b[N_SOUTH] = b[N_SW] = b[N_SE] = zero;
    if (area.lat.max > max_lat) b[N_NORTH] = b[N_NE] = b[N_NW] = zero;
    if (area.lon.min < min_lon) b[N_WEST] = b[N_SW] = b[N_NW] = zero;
    if (area.lon.max > max_lon) b[N_EAST] = b[N_SE] = b[N_NE] = zero;
  }
}

void cairn_geohash_box_scores(cairn_geohash h, uint64_t *min, uint64_t *max) {
  *min = cairn_geohash_align52(h);
  h.bits++;
  *max = cairn_geohash_align52(h);
}

static double lat_distance(double lat1, double lat2) { return EARTH_RADIUS_M * fabs(deg_rad(lat2) - deg_rad(lat1)); }

double cairn_geo_distance(double lon1d, double lat1d, double lon2d, double lat2d) {
  double lon1r = deg_rad(lon1d), lon2r = deg_rad(lon2d);
  double v = sin((lon2r - lon1r) / 2);
  if (v == 0.0) return lat_distance(lat1d, lat2d);
  double lat1r = deg_rad(lat1d), lat2r = deg_rad(lat2d);
  double u = sin((lat2r - lat1r) / 2);
  double a = u * u + cos(lat1r) * cos(lat2r) * v * v;
  return 2.0 * EARTH_RADIUS_M * asin(sqrt(a));
}

int cairn_geo_within(const cairn_geo_shape *s, double score, double *xy, double *dist) {
  if (!cairn_geohash_decode_score(score, xy)) return 0;
  if (s->type == CAIRN_GEO_CIRCLE) {
    *dist = cairn_geo_distance(s->xy[0], s->xy[1], xy[0], xy[1]);
    return !(*dist > s->radius * s->conversion);
  }
  double width_m = s->width * s->conversion, height_m = s->height * s->conversion;
  if (lat_distance(xy[1], s->xy[1]) > height_m / 2) return 0;
  if (cairn_geo_distance(xy[0], xy[1], s->xy[0], xy[1]) > width_m / 2) return 0;
  *dist = cairn_geo_distance(s->xy[0], s->xy[1], xy[0], xy[1]);
  return 1;
}
