/* Hash functions used for key placement. Stable across versions and hosts:
 * the shard map is recomputed from them on every node. */
#ifndef PC_HASH_H
#define PC_HASH_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 output step, a bijective 64-bit mix:
 *   z = x + 0x9e3779b97f4a7c15
 *   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
 *   z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *   return z ^ (z >> 31)
 * i.e. the first output of splitmix64 seeded with x; pc_hash_u64(0) is
 * 0xe220a8397b1dcdaf. Part of the wire contract: do not change. */
uint64_t pc_hash_u64(uint64_t x);

/* FNV-1a 64 over bytes (prime 0x100000001b3), chainable: pass the previous
 * result as seed, or PC_HASH_FNV_SEED to start; hashing a then b equals
 * hashing their concatenation. data may be NULL when len == 0. */
#define PC_HASH_FNV_SEED 0xcbf29ce484222325ULL
uint64_t pc_hash_fnv1a(const void *data, size_t len, uint64_t seed);

#endif
