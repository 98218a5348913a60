/* Key -> server placement: a versioned shard map. Dense ranges [begin,end)
 * are placed whole on one server each; every other key is hashed onto a
 * consistent-hash ring with `vnodes` virtual nodes per server, so skewed or
 * clustered sparse ids still spread evenly, and adding a server moves only
 * about 1/S of the keys. The scheduler builds the map; nodes rebuild the
 * identical ring from (num_servers, vnodes, ranges).
 *
 * Placement rule (every node must compute exactly this; see pc_hash.h):
 *   - a key inside a dense range [begin, end) belongs to that range's server;
 *   - otherwise server s (0 <= s < num_servers) owns the ring points
 *       pc_hash_u64(pc_hash_u64(((uint64_t)s << 32) | v))   for v = 0 .. vnodes-1,
 *     the ring is sorted by (point, server), and the key belongs to the
 *     server of the first point >= pc_hash_u64(key), wrapping to the first
 *     point when there is none. (pc_hash_u64 is bijective, so two points
 *     never tie; the server order only makes that explicit.)
 * Servers 0..S-1 keep their points when server S is added, so growing the
 * cluster moves keys only to the new server.
 *
 * Ring points are hashed twice: with a single hash, key (s << 32 | v) would
 * land exactly on server s's v-th point, putting keys 0 .. vnodes-1 (often
 * the hottest features) all on server 0.
 *
 * Balance: a server's share of ring keys has a relative spread of about
 * 1/sqrt(vnodes) (~12% at 64, ~9% at 128, ~6% at 256). Measured worst
 * server vs the mean: S=8 is -21%/+15% at 64 vnodes, -14%/+16% at 128,
 * -11%/+8% at 256; S=2 and S=4 stay within +-13% at all three. */
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
  uint32_t *jump;        /* [PC_PARTITION_JUMP]: first ring index whose point is
                          * >= b << 48 (owned); makes a lookup O(1) */
} pc_shardmap_t;

#define PC_PARTITION_JUMP 65536

/* Build a map. ranges may be NULL/0; each must have begin < end, server
 * < num_servers, and none may overlap; the map keeps its own sorted copy.
 * 1 <= num_servers <= MAX_SERVERS, 1 <= vnodes <= MAX_VNODES, nranges <=
 * MAX_RANGES. Returns 0, PC_EINVAL (errors name the offending range by its
 * index in the caller's array, e.g. "range 2 [100, 50): begin >= end") or
 * PC_ENOMEM. *m is overwritten without being freed; on failure it is left
 * untouched and owns nothing new. Free a built map with pc_shardmap_free. */
int pc_shardmap_build(pc_shardmap_t *m, uint64_t version, uint32_t num_servers,
                      uint32_t vnodes, const pc_range_t *ranges, size_t nranges,
                      pc_err_t *err);
/* Frees what m owns and zeroes it; NULL or a zeroed map is fine. */
void pc_shardmap_free(pc_shardmap_t *m);

/* Server owning key. m must be a successfully built map. Allocation-free,
 * O(log nranges + log nring); safe to call from many threads at once. */
uint32_t pc_shardmap_lookup(const pc_shardmap_t *m, uint64_t key);

/* Split [0, nkeys) into num_servers contiguous ranges of near-equal size
 * (the "dense" layout). out must hold num_servers entries; returns count
 * (fewer than num_servers when nkeys < num_servers). Range i goes to server
 * i; the first nkeys % count ranges are one key longer than the rest. */
size_t pc_partition_dense_split(uint64_t nkeys, uint32_t num_servers, pc_range_t *out);

/* Dense ranges owned by server s (pointer into m->ranges order, copied out):
 * returns count written, at most max. */
size_t pc_shardmap_server_ranges(const pc_shardmap_t *m, uint32_t s, pc_range_t *out,
                                 size_t max);

#endif
