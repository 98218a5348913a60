/* pc_hash: both functions are part of the cross-node placement contract, so
 * the tests pin exact values (published test vectors where they exist, else
 * from an independent reference model) as well as mixing properties. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pc_hash.h"

static void u64_matches_splitmix64_sequence(void **state) {
  (void)state;
  /* splitmix64 seeded with 0 yields e220a839..., then 6e789e6a... (its
   * state advanced by one gamma), so both outputs pin the gamma too. */
  assert_int_equal(pc_hash_u64(0), 0xe220a8397b1dcdafULL);
  assert_int_equal(pc_hash_u64(0x9e3779b97f4a7c15ULL), 0x6e789e6aa1b965f4ULL);
  assert_int_equal(pc_hash_u64(1), 0x910a2dec89025cc1ULL);
  assert_int_equal(pc_hash_u64(UINT64_MAX), 0xe4d971771b652c20ULL);
}

static void u64_avalanches(void **state) {
  (void)state;
  /* Strict avalanche: each input bit must flip each output bit about half
   * the time. A dropped shift or multiply leaves some cells near 0 or 1;
   * sampling noise here is ~0.008 per cell, the real mix peaks near 0.03. */
  enum { N = 4096 };
  static uint16_t flips[64][64];
  memset(flips, 0, sizeof flips);
  for (uint64_t x = 0; x < N; x++) {
    uint64_t in = x * 0x10001, base = pc_hash_u64(in);
    for (int i = 0; i < 64; i++) {
      uint64_t d = base ^ pc_hash_u64(in ^ (1ULL << i));
      for (int j = 0; j < 64; j++)
        flips[i][j] += (d >> j) & 1;
    }
  }
  double worst = 0;
  for (int i = 0; i < 64; i++)
    for (int j = 0; j < 64; j++) {
      double bias = fabs((double)flips[i][j] / N - 0.5);
      worst = bias > worst ? bias : worst;
    }
  print_message("splitmix64 worst avalanche bias: %.4f (0 is ideal)\n", worst);
  assert_true(worst < 0.06);
}

static void u64_no_collisions_on_sequential_ids(void **state) {
  (void)state;
  /* It is a bijection; adjacent inputs must not even share the top 20 bits
   * often, which a missing mix step would cause. */
  enum { N = 1 << 16 };
  int same_top = 0;
  uint64_t prev = pc_hash_u64(0);
  for (uint64_t x = 1; x < N; x++) {
    uint64_t h = pc_hash_u64(x);
    assert_int_not_equal(h, prev);
    same_top += (h >> 44) == (prev >> 44);
    prev = h;
  }
  assert_true(same_top < 8);
}

static void fnv1a_known_vectors(void **state) {
  (void)state;
  assert_int_equal(pc_hash_fnv1a("", 0, PC_HASH_FNV_SEED), 0xcbf29ce484222325ULL);
  assert_int_equal(pc_hash_fnv1a("a", 1, PC_HASH_FNV_SEED), 0xaf63dc4c8601ec8cULL);
  assert_int_equal(pc_hash_fnv1a("foobar", 6, PC_HASH_FNV_SEED), 0x85944171f73967e8ULL);
  assert_int_equal(pc_hash_fnv1a("\0", 1, PC_HASH_FNV_SEED), 0xaf63bd4c8601b7dfULL);
}

static void fnv1a_treats_bytes_as_unsigned(void **state) {
  (void)state;
  /* A signed char would sign-extend 0xff and xor in 56 extra bits. */
  const unsigned char hi[] = {0xff};
  const unsigned char mix[] = {0x00, 0xff, 0x80, 0x7f};
  assert_int_equal(pc_hash_fnv1a(hi, 1, PC_HASH_FNV_SEED), 0xaf64724c8602eb6eULL);
  assert_int_equal(pc_hash_fnv1a(mix, 4, PC_HASH_FNV_SEED), 0xd865f07bf62911edULL);
}

static void fnv1a_chains_through_seed(void **state) {
  (void)state;
  uint64_t whole = pc_hash_fnv1a("feature:user_id", 15, PC_HASH_FNV_SEED);
  uint64_t part = pc_hash_fnv1a("feature:", 8, PC_HASH_FNV_SEED);
  assert_int_equal(pc_hash_fnv1a("user_id", 7, part), whole);
  /* An empty chunk leaves the chain unchanged, NULL included. */
  assert_int_equal(pc_hash_fnv1a(NULL, 0, whole), whole);
  assert_int_not_equal(pc_hash_fnv1a("user_id", 7, PC_HASH_FNV_SEED), whole);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(u64_matches_splitmix64_sequence),
      cmocka_unit_test(u64_avalanches),
      cmocka_unit_test(u64_no_collisions_on_sequential_ids),
      cmocka_unit_test(fnv1a_known_vectors),
      cmocka_unit_test(fnv1a_treats_bytes_as_unsigned),
      cmocka_unit_test(fnv1a_chains_through_seed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
