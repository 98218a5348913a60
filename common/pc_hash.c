#include "pc_hash.h"

#define PC_SPLITMIX_GAMMA 0x9e3779b97f4a7c15ULL
#define PC_FNV_PRIME 0x100000001b3ULL

uint64_t pc_hash_u64(uint64_t x) {
  /* Adding the gamma first keeps 0 from mapping to 0, so small ids (and
   * the ring's (server << 32 | vnode) inputs) do not start out clustered. */
  uint64_t z = x + PC_SPLITMIX_GAMMA;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t pc_hash_fnv1a(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = seed;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= PC_FNV_PRIME;
  }
  return h;
}
