/* Key -> server placement: a versioned shard map. Dense ranges [begin,end)
 * are placed whole on one server each; every other key is hashed onto a
 * consistent-hash ring with `vnodes` virtual nodes per server, so skewed or
 * clustered sparse ids still spread evenly, and adding a server moves only
 * about 1/S of the keys. The scheduler builds the map; nodes rebuild the
 * identical ring from (num_servers, vnodes, ranges). */
#ifndef PC_PARTITION_H
#define PC_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"

#define PC_PARTITION_MAX_SERVERS 1024
#define PC_PARTITION_MAX_VNODES 4096
#define PC_PARTITION_MAX_RANGES 65536

typedef struct pc_range {
  uint64_t begin, end; /* [begin, end), begin < end */
  uint32_t server;
} pc_range_t;

typedef struct pc_ring_point {
  uint64_t point;
  uint32_t server;
} pc_ring_point_t;

typedef struct pc_shardmap {
  uint64_t version;
  uint32_t num_servers;
  uint32_t vnodes;
  size_t nranges;
  pc_range_t *ranges;    /* sorted by begin, non-overlapping (owned) */
  size_t nring;
  pc_ring_point_t *ring; /* sorted by point (owned) */
} pc_shardmap_t;

/* Build a map. ranges may be NULL/0; they must not overlap and each server
 * index must be < num_servers. Errors name the offending range. */
int pc_shardmap_build(pc_shardmap_t *m, uint64_t version, uint32_t num_servers,
                      uint32_t vnodes, const pc_range_t *ranges, size_t nranges,
                      pc_err_t *err);
void pc_shardmap_free(pc_shardmap_t *m);

/* Server owning key. */
uint32_t pc_shardmap_lookup(const pc_shardmap_t *m, uint64_t key);

/* Split [0, nkeys) into num_servers contiguous ranges of near-equal size
 * (the "dense" layout). out must hold num_servers entries; returns count
 * (fewer than num_servers when nkeys < num_servers). */
size_t pc_partition_dense_split(uint64_t nkeys, uint32_t num_servers, pc_range_t *out);

/* Dense ranges owned by server s (pointer into m->ranges order, copied out):
 * returns count written, at most max. */
size_t pc_shardmap_server_ranges(const pc_shardmap_t *m, uint32_t s, pc_range_t *out,
                                 size_t max);

#endif
