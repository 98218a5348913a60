/* Hash functions used for key placement. Stable across versions and hosts:
 * the shard map is recomputed from them on every node. */
#ifndef PC_HASH_H
#define PC_HASH_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 finalizer: a bijective 64-bit mix. */
uint64_t pc_hash_u64(uint64_t x);

/* FNV-1a 64 over bytes, chainable: pass the previous result as seed, or
 * PC_HASH_FNV_SEED to start. */
#define PC_HASH_FNV_SEED 0xcbf29ce484222325ULL
uint64_t pc_hash_fnv1a(const void *data, size_t len, uint64_t seed);

#endif
