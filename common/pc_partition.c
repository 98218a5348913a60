#include "pc_partition.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pc_hash.h"

/* A caller's range together with its position in the caller's array, so
 * errors found after sorting still name the range the caller wrote. */
typedef struct range_slot {
  pc_range_t r;
  size_t idx;
} range_slot_t;

static int cmp_slot(const void *a, const void *b) {
  const range_slot_t *x = a, *y = b;
  if (x->r.begin != y->r.begin)
    return x->r.begin < y->r.begin ? -1 : 1;
  /* Equal begins always overlap; ordering by index keeps the message the
   * same whatever qsort's internal order. */
  return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int cmp_ring(const void *a, const void *b) {
  const pc_ring_point_t *x = a, *y = b;
  if (x->point != y->point)
    return x->point < y->point ? -1 : 1;
  return x->server < y->server ? -1 : (x->server > y->server);
}

static int check_params(uint32_t num_servers, uint32_t vnodes, const pc_range_t *ranges,
                        size_t nranges, pc_err_t *err) {
  if (num_servers == 0 || num_servers > PC_PARTITION_MAX_SERVERS)
    return pc_err_set(err, PC_EINVAL, "num_servers %" PRIu32 " not in [1, %d]", num_servers,
                      PC_PARTITION_MAX_SERVERS);
  if (vnodes == 0 || vnodes > PC_PARTITION_MAX_VNODES)
    return pc_err_set(err, PC_EINVAL, "vnodes %" PRIu32 " not in [1, %d]", vnodes,
                      PC_PARTITION_MAX_VNODES);
  if (nranges > PC_PARTITION_MAX_RANGES)
    return pc_err_set(err, PC_EINVAL, "%zu dense ranges exceed the limit of %d", nranges,
                      PC_PARTITION_MAX_RANGES);
  if (nranges > 0 && ranges == NULL)
    return pc_err_set(err, PC_EINVAL, "%zu dense ranges but ranges is NULL", nranges);
  return PC_OK;
}

static int check_range(const pc_range_t *r, size_t idx, uint32_t num_servers, pc_err_t *err) {
  if (r->begin >= r->end)
    return pc_err_set(err, PC_EINVAL, "range %zu [%" PRIu64 ", %" PRIu64 "): begin >= end", idx,
                      r->begin, r->end);
  if (r->server >= num_servers)
    return pc_err_set(err, PC_EINVAL,
                      "range %zu [%" PRIu64 ", %" PRIu64 "): server %" PRIu32
                      " >= num_servers %" PRIu32,
                      idx, r->begin, r->end, r->server, num_servers);
  return PC_OK;
}

/* slots must be sorted by begin. */
static int check_overlaps(const range_slot_t *slots, size_t n, pc_err_t *err) {
  for (size_t i = 1; i < n; i++) {
    const range_slot_t *prev = &slots[i - 1], *cur = &slots[i];
    if (cur->r.begin < prev->r.end)
      return pc_err_set(err, PC_EINVAL,
                        "range %zu [%" PRIu64 ", %" PRIu64 ") overlaps range %zu [%" PRIu64
                        ", %" PRIu64 ")",
                        cur->idx, cur->r.begin, cur->r.end, prev->idx, prev->r.begin,
                        prev->r.end);
  }
  return PC_OK;
}

static int unslot(const range_slot_t *slots, size_t n, pc_range_t **out, pc_err_t *err) {
  pc_range_t *r = calloc(n, sizeof *r);
  if (r == NULL)
    return pc_err_set(err, PC_ENOMEM, "allocating %zu dense ranges", n);
  /* Field by field, so the padding stays calloc's zeros and two builds are
   * byte-identical (the caller's padding may hold anything). */
  for (size_t i = 0; i < n; i++) {
    r[i].begin = slots[i].r.begin;
    r[i].end = slots[i].r.end;
    r[i].server = slots[i].r.server;
  }
  *out = r;
  return PC_OK;
}

/* Validated, begin-sorted copy of the caller's ranges in *out (NULL when
 * n == 0); the caller owns it on success. */
static int copy_ranges(const pc_range_t *in, size_t n, uint32_t num_servers, pc_range_t **out,
                       pc_err_t *err) {
  *out = NULL;
  if (n == 0)
    return PC_OK;
  for (size_t i = 0; i < n; i++) {
    int rc = check_range(&in[i], i, num_servers, err);
    if (rc != PC_OK)
      return rc;
  }
  range_slot_t *slots = calloc(n, sizeof *slots);
  if (slots == NULL)
    return pc_err_set(err, PC_ENOMEM, "allocating %zu dense range slots", n);
  for (size_t i = 0; i < n; i++)
    slots[i] = (range_slot_t){.r = in[i], .idx = i};
  qsort(slots, n, sizeof *slots, cmp_slot);
  int rc = check_overlaps(slots, n, err);
  if (rc == PC_OK)
    rc = unslot(slots, n, out, err);
  free(slots);
  return rc;
}

static int build_ring(uint32_t num_servers, uint32_t vnodes, pc_ring_point_t **out,
                      size_t *nout, pc_err_t *err) {
  /* Both factors are bounded by the header limits, so this cannot wrap. */
  size_t n = (size_t)num_servers * vnodes;
  pc_ring_point_t *ring = calloc(n, sizeof *ring);
  if (ring == NULL)
    return pc_err_set(err, PC_ENOMEM, "allocating a ring of %zu points", n);
  size_t k = 0;
  for (uint32_t s = 0; s < num_servers; s++)
    for (uint32_t v = 0; v < vnodes; v++, k++) {
      /* Hashed twice so no small key id coincides with a ring point. */
      ring[k].point = pc_hash_u64(pc_hash_u64(((uint64_t)s << 32) | v));
      ring[k].server = s;
    }
  qsort(ring, n, sizeof *ring, cmp_ring);
  *out = ring;
  *nout = n;
  return PC_OK;
}

/* jump[b] = first ring index whose point is >= b << 48 (nring if none). */
static uint32_t *build_jump(const pc_ring_point_t *ring, size_t nring) {
  uint32_t *jump = malloc(PC_PARTITION_JUMP * sizeof *jump);
  if (jump == NULL)
    return NULL;
  size_t i = 0;
  for (size_t b = 0; b < PC_PARTITION_JUMP; b++) {
    uint64_t lo = (uint64_t)b << 48;
    while (i < nring && ring[i].point < lo)
      i++;
    jump[b] = (uint32_t)i;
  }
  return jump;
}

int pc_shardmap_build(pc_shardmap_t *m, uint64_t version, uint32_t num_servers,
                      uint32_t vnodes, const pc_range_t *ranges, size_t nranges,
                      pc_err_t *err) {
  if (m == NULL)
    return pc_err_set(err, PC_EINVAL, "shard map is NULL");
  int rc = check_params(num_servers, vnodes, ranges, nranges, err);
  if (rc != PC_OK)
    return rc;
  pc_range_t *sorted = NULL;
  rc = copy_ranges(ranges, nranges, num_servers, &sorted, err);
  if (rc != PC_OK)
    return rc;
  pc_ring_point_t *ring = NULL;
  size_t nring = 0;
  rc = build_ring(num_servers, vnodes, &ring, &nring, err);
  if (rc != PC_OK) {
    free(sorted);
    return rc;
  }
  uint32_t *jump = build_jump(ring, nring);
  if (jump == NULL) {
    free(sorted);
    free(ring);
    return pc_err_set(err, PC_ENOMEM, "allocating the ring's jump table");
  }
  *m = (pc_shardmap_t){.version = version, .num_servers = num_servers, .vnodes = vnodes,
                       .nranges = nranges, .ranges = sorted, .nring = nring, .ring = ring,
                       .jump = jump};
  return PC_OK;
}

void pc_shardmap_free(pc_shardmap_t *m) {
  if (m == NULL)
    return;
  free(m->ranges);
  free(m->ring);
  free(m->jump);
  memset(m, 0, sizeof *m);
}

/* The only range that can hold key: the last one with begin <= key, or the
 * first range when there is none (the caller re-checks begin). n >= 1.
 * Branch-free halving: the loop runs log2(n) times whatever the data. */
static inline const pc_range_t *range_floor(const pc_range_t *r, size_t n, uint64_t key) {
  while (n > 1) {
    size_t half = n / 2;
    r = (r[half].begin <= key) ? r + half : r;
    n -= half;
  }
  return r;
}

uint32_t pc_shardmap_lookup(const pc_shardmap_t *m, uint64_t key) {
  assert(m != NULL && m->nring > 0);
  if (m->nranges != 0) {
    const pc_range_t *r = range_floor(m->ranges, m->nranges, key);
    if (r->begin <= key && key < r->end)
      return r->server;
  }
  uint64_t h = pc_hash_u64(key);
  /* The jump table lands at or just before the answer: with up to a few
   * points per 2^48-wide bucket the scan is a step or two. */
  size_t i = m->jump[h >> 48];
  while (i < m->nring && m->ring[i].point < h)
    i++;
  return m->ring[i == m->nring ? 0 : i].server;
}

size_t pc_partition_dense_split(uint64_t nkeys, uint32_t num_servers, pc_range_t *out) {
  if (num_servers == 0 || nkeys == 0 || out == NULL)
    return 0;
  uint64_t count = nkeys < num_servers ? nkeys : num_servers;
  uint64_t base = nkeys / count, extra = nkeys % count;
  uint64_t begin = 0;
  /* The first `extra` ranges take one more key, so sizes differ by <= 1. */
  for (uint64_t i = 0; i < count; i++) {
    uint64_t size = base + (i < extra);
    out[i] = (pc_range_t){.begin = begin, .end = begin + size, .server = (uint32_t)i};
    begin += size;
  }
  return (size_t)count;
}

size_t pc_shardmap_server_ranges(const pc_shardmap_t *m, uint32_t s, pc_range_t *out,
                                 size_t max) {
  if (m == NULL || (out == NULL && max > 0))
    return 0;
  size_t k = 0;
  for (size_t i = 0; i < m->nranges && k < max; i++)
    if (m->ranges[i].server == s)
      out[k++] = m->ranges[i];
  return k;
}
