/* The parameter store: sparse table, dense ranges, growth, rejection. */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "ps_store.h"

#define TOL 1e-6

static ps_optim_t optim(pc_optim_type_t type, float lr, float l2, float init_accum) {
  ps_optim_t o = {.type = type, .lr = lr, .l2 = l2, .eps = 1e-8f, .init_accum = init_accum};
  return o;
}

static ps_store_t *store_new(const ps_optim_t *o, const ps_store_range_t *r, size_t nr) {
  ps_store_t *s = NULL;
  pc_err_t err = {0};
  int rc = ps_store_new(&s, o, r, nr, &err);
  if (rc != PC_OK)
    fail_msg("ps_store_new: %s", err.msg);
  return s;
}

static float pull1(ps_store_t *s, uint64_t key) {
  float v = -123.0f;
  assert_int_equal(ps_store_pull(s, &key, 1, &v), PC_OK);
  return v;
}

static ps_store_stats_t stats(const ps_store_t *s) {
  ps_store_stats_t st;
  ps_store_stats(s, &st);
  return st;
}

/* splitmix64 step: a deterministic stream of test keys. */
static uint64_t rng_next(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void test_pull_unknown_is_zero_not_inserted(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.0f, 0.0f);
  ps_store_t *s = store_new(&o, NULL, 0);
  uint64_t keys[3] = {0, 42, UINT64_MAX - 1};
  float out[3] = {1, 1, 1};
  assert_int_equal(ps_store_pull(s, keys, 3, out), PC_OK);
  for (int i = 0; i < 3; i++)
    assert_true(out[i] == 0.0f);
  assert_int_equal(stats(s).sparse_keys, 0);
  ps_store_destroy(&s);
  assert_null(s);
}

static void test_sparse_push_pull_duplicates_sgd(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 0.1f, 0.5f, 0.0f);
  ps_store_t *s = store_new(&o, NULL, 0);
  pc_err_t err = {0};
  /* key 7: w=0, g=1 -> 0 - 0.1*(1 + 0) = -0.1
   *        then g=3 -> g + l2*w = 3 - 0.05 = 2.95 -> -0.1 - 0.295 = -0.395
   * key 9: w=0, g=2 -> -0.2 */
  const uint64_t keys[3] = {7, 9, 7};
  const float g[3] = {1.0f, 2.0f, 3.0f};
  assert_int_equal(ps_store_push(s, keys, g, 3, &err), PC_OK);
  assert_float_equal(pull1(s, 7), -0.395, TOL);
  assert_float_equal(pull1(s, 9), -0.2, TOL);
  assert_true(pull1(s, 8) == 0.0f);
  assert_int_equal(stats(s).sparse_keys, 2);
  ps_store_destroy(&s);
}

static void test_sparse_duplicates_applied_in_order_adagrad(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  ps_store_t *s = store_new(&o, NULL, 0);
  pc_err_t err = {0};
  /* key 1 gets g=3 then g=4: s=9, w=-0.5*3/3=-0.5; s=25, w=-0.5-0.5*4/5=-0.9
   * key 2 gets g=4 then g=3: s=16, w=-0.5*4/4=-0.5; s=25, w=-0.5-0.5*3/5=-0.8 */
  const uint64_t keys[4] = {1, 2, 1, 2};
  const float g[4] = {3.0f, 4.0f, 4.0f, 3.0f};
  assert_int_equal(ps_store_push(s, keys, g, 4, &err), PC_OK);
  assert_float_equal(pull1(s, 1), -0.9, TOL);
  assert_float_equal(pull1(s, 2), -0.8, TOL);
  ps_store_destroy(&s);
}

static void test_adagrad_new_key_uses_init_accum(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.0f, 16.0f);
  const ps_store_range_t r = {100, 200};
  ps_store_t *s = store_new(&o, &r, 1);
  pc_err_t err = {0};
  /* Sparse key 5 and dense key 150 both start at s=16, w=0;
   * g=3: s=25, w = -0.1*3/5 = -0.06 */
  const uint64_t keys[2] = {5, 150};
  const float g[2] = {3.0f, 3.0f};
  assert_int_equal(ps_store_push(s, keys, g, 2, &err), PC_OK);
  assert_float_equal(pull1(s, 5), -0.06, TOL);
  assert_float_equal(pull1(s, 150), -0.06, TOL);
  ps_store_destroy(&s);
}

static void test_dense_ranges_and_outside_keys(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 1.0f, 0.0f, 0.0f);
  /* Given unsorted: the store sorts them. */
  const ps_store_range_t r[3] = {{1000, 1010}, {0, 10}, {20, 30}};
  ps_store_t *s = store_new(&o, r, 3);
  pc_err_t err = {0};
  assert_int_equal(stats(s).dense_keys, 30);
  /* With lr=1, l2=0 one push of g leaves w = -g. */
  const uint64_t keys[10] = {0, 9, 10, 19, 20, 29, 30, 999, 1000, 1009};
  const float g[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  assert_int_equal(ps_store_push(s, keys, g, 10, &err), PC_OK);
  float out[10];
  assert_int_equal(ps_store_pull(s, keys, 10, out), PC_OK);
  for (int i = 0; i < 10; i++)
    assert_float_equal(out[i], -g[i], TOL);
  /* 10, 19, 30, 999 are outside every range: they went to the table. */
  ps_store_stats_t st = stats(s);
  assert_int_equal(st.sparse_keys, 4);
  assert_int_equal(st.dense_keys, 30);
  assert_int_equal(st.bytes, st.sparse_capacity * 12 + 30 * 4);
  assert_true(pull1(s, 5) == 0.0f);
  assert_true(pull1(s, 1010) == 0.0f);
  ps_store_destroy(&s);
}

static void test_single_dense_range(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  /* A range ending at the top of the key space: PS_KEY_INVALID stays out. */
  const ps_store_range_t r = {UINT64_MAX - 4, UINT64_MAX};
  ps_store_t *s = store_new(&o, &r, 1);
  pc_err_t err = {0};
  const uint64_t keys[3] = {UINT64_MAX - 4, UINT64_MAX - 1, 3};
  const float g[3] = {3.0f, 3.0f, 3.0f};
  assert_int_equal(ps_store_push(s, keys, g, 3, &err), PC_OK);
  for (int i = 0; i < 3; i++)
    assert_float_equal(pull1(s, keys[i]), -0.5, TOL);
  ps_store_stats_t st = stats(s);
  assert_int_equal(st.dense_keys, 4);
  assert_int_equal(st.sparse_keys, 1);
  ps_store_destroy(&s);
}

static void test_bad_ranges_rejected(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 0.1f, 0.0f, 0.0f);
  ps_store_t *s = NULL;
  pc_err_t err = {0};
  const ps_store_range_t empty = {5, 5};
  assert_int_equal(ps_store_new(&s, &o, &empty, 1, &err), PC_EINVAL);
  assert_null(s);
  assert_non_null(strstr(err.msg, "[5, 5)"));
  const ps_store_range_t overlap[2] = {{10, 20}, {0, 11}};
  assert_int_equal(ps_store_new(&s, &o, overlap, 2, &err), PC_EINVAL);
  assert_null(s);
  assert_non_null(strstr(err.msg, "overlap"));
  ps_optim_t bad = o;
  bad.type = (pc_optim_type_t)0;
  assert_int_equal(ps_store_new(&s, &bad, NULL, 0, &err), PC_EINVAL);
}

/* Pushes of one gradient per key, mirrored on a reference array with
 * ps_optim_apply: same float operations, so results match exactly. */
static void push_and_mirror(ps_store_t *s, const ps_optim_t *o, const uint64_t *keys,
                            const size_t *idx, size_t n, float *ref_w, float *ref_s,
                            float scale) {
  enum { BATCH = 4096 };
  uint64_t kb[BATCH];
  float gb[BATCH];
  pc_err_t err = {0};
  for (size_t off = 0; off < n; off += BATCH) {
    size_t m = n - off < BATCH ? n - off : BATCH;
    for (size_t i = 0; i < m; i++) {
      size_t k = idx[off + i];
      kb[i] = keys[k];
      gb[i] = scale * (float)((k % 1999) + 1) / 1000.0f;
      ps_optim_apply(o, &ref_w[k], &ref_s[k], gb[i]);
    }
    if (ps_store_push(s, kb, gb, m, &err) != PC_OK)
      fail_msg("push: %s", err.msg);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* N distinct random keys (never PS_KEY_INVALID). */
static uint64_t *random_keys(size_t n, uint64_t seed) {
  uint64_t *k = malloc(n * sizeof *k), *sorted = malloc(n * sizeof *k);
  assert_non_null(k);
  assert_non_null(sorted);
  for (size_t i = 0; i < n; i++)
    do
      k[i] = rng_next(&seed);
    while (k[i] == PS_KEY_INVALID);
  memcpy(sorted, k, n * sizeof *k);
  qsort(sorted, n, sizeof *k, cmp_u64);
  for (size_t i = 1; i < n; i++)
    assert_true(sorted[i] != sorted[i - 1]); /* 2^20 draws from 2^64: no repeats */
  free(sorted);
  return k;
}

/* Where key sits in keys (sorted copy + index), for the iterator check. */
typedef struct key_pos {
  uint64_t key;
  size_t idx;
} key_pos_t;

static int cmp_key_pos(const void *a, const void *b) {
  return cmp_u64(&((const key_pos_t *)a)->key, &((const key_pos_t *)b)->key);
}

static void check_iteration(const ps_store_t *s, const uint64_t *keys, size_t n,
                            const float *ref_w, const float *ref_s) {
  key_pos_t *sorted = malloc(n * sizeof *sorted);
  char *seen = calloc(n, 1);
  assert_non_null(sorted);
  assert_non_null(seen);
  for (size_t i = 0; i < n; i++)
    sorted[i] = (key_pos_t){keys[i], i};
  qsort(sorted, n, sizeof *sorted, cmp_key_pos);
  ps_store_iter_t it = PS_STORE_ITER_INIT;
  uint64_t key;
  float w, st;
  size_t visited = 0;
  while (ps_store_iter_next(s, &it, &key, &w, &st)) {
    key_pos_t probe = {key, 0};
    key_pos_t *hit = bsearch(&probe, sorted, n, sizeof *sorted, cmp_key_pos);
    assert_non_null(hit);
    assert_false(seen[hit->idx]);
    seen[hit->idx] = 1;
    assert_true(w == ref_w[hit->idx] && st == ref_s[hit->idx]);
    visited++;
  }
  assert_int_equal(visited, n);
  free(seen);
  free(sorted);
}

static void test_growth_1m_random_keys(void **state) {
  (void)state;
  /* 2^20 keys: many growth steps from the first table's 1024 slots. */
  const size_t n = (size_t)1 << 20;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.01f, 0.1f);
  ps_store_t *s = store_new(&o, NULL, 0);
  uint64_t *keys = random_keys(n, 12345);
  size_t *idx = malloc(n * sizeof *idx);
  float *ref_w = calloc(n, sizeof *ref_w), *ref_s = malloc(n * sizeof *ref_s);
  float *out = malloc(n * sizeof *out);
  assert_true(idx && ref_w && ref_s && out);
  for (size_t i = 0; i < n; i++) {
    idx[i] = i;
    ref_s[i] = o.init_accum;
  }
  uint64_t cap0 = stats(s).sparse_capacity;
  push_and_mirror(s, &o, keys, idx, n, ref_w, ref_s, 1.0f);
  /* Second round in shuffled order, updating keys that already exist. */
  uint64_t seed = 99;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rng_next(&seed) % (i + 1));
    size_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  push_and_mirror(s, &o, keys, idx, n, ref_w, ref_s, -0.5f);
  ps_store_stats_t st = stats(s);
  assert_int_equal(st.sparse_keys, n);
  assert_true(st.sparse_capacity >= 8 * cap0); /* many growth steps happened */
  assert_int_equal(ps_store_pull(s, keys, n, out), PC_OK);
  for (size_t i = 0; i < n; i++)
    if (out[i] != ref_w[i])
      fail_msg("key %" PRIu64 ": store %.9g, reference %.9g", keys[i], out[i], ref_w[i]);
  check_iteration(s, keys, n, ref_w, ref_s);
  /* Keys never pushed still read 0 and are not inserted. */
  uint64_t *other = random_keys(1000, 777);
  assert_int_equal(ps_store_pull(s, other, 1000, out), PC_OK);
  for (size_t i = 0; i < 1000; i++)
    assert_true(out[i] == 0.0f);
  assert_int_equal(stats(s).sparse_keys, n);
  double per_key = (double)st.bytes / (double)st.sparse_keys;
  printf("adagrad: %zu keys, %" PRIu64 " slots, %" PRIu64 " bytes, %.2f bytes/key "
         "(resized from %" PRIu64 " slots)\n",
         n, st.sparse_capacity, st.bytes, per_key, cap0);
  assert_true(per_key <= 24.0);
  free(other);
  free(out);
  free(ref_s);
  free(ref_w);
  free(idx);
  free(keys);
  ps_store_destroy(&s);
}

/* Fill a store with n distinct keys in batches of `batch`, checking bytes
 * per key after every batch from `from` keys on: the checks land right
 * after each growth step as well as just before. Returns how many growth
 * steps were seen. */
static int fill_checking_bytes(pc_optim_type_t type, size_t n, size_t batch, size_t from,
                               double limit) {
  ps_optim_t o = optim(type, 0.1f, 0.0f, 0.0f);
  ps_store_t *s = store_new(&o, NULL, 0);
  uint64_t *keys = random_keys(n, 4242);
  float *g = malloc(batch * sizeof *g);
  assert_non_null(g);
  for (size_t i = 0; i < batch; i++)
    g[i] = 0.5f;
  pc_err_t err = {0};
  uint64_t cap = stats(s).sparse_capacity;
  int grown = 0;
  for (size_t off = 0; off < n; off += batch) {
    size_t m = n - off < batch ? n - off : batch;
    assert_int_equal(ps_store_push(s, keys + off, g, m, &err), PC_OK);
    ps_store_stats_t st = stats(s);
    assert_int_equal(st.sparse_keys, off + m);
    grown += st.sparse_capacity != cap;
    cap = st.sparse_capacity;
    double per_key = (double)st.bytes / (double)st.sparse_keys;
    if (off + m >= from && per_key > limit)
      fail_msg("%s: %zu keys in %" PRIu64 " slots: %.2f bytes/key > %.1f",
               type == PC_OPTIM_SGD ? "sgd" : "adagrad", off + m, st.sparse_capacity, per_key,
               limit);
  }
  free(g);
  free(keys);
  ps_store_destroy(&s);
  return grown;
}

static void test_bytes_per_key_at_every_size(void **state) {
  (void)state;
  /* AdaGrad: 16-byte slots at load >= 2/3 give <= 24 bytes per key; checked
   * every 1000 keys from 10k to 2M (so at 10k, 100k, 1M, 1.5M, 2M too, and
   * just after every growth step). */
  int grown = fill_checking_bytes(PC_OPTIM_ADAGRAD, 2000000, 1000, 10000, 24.0);
  assert_true(grown >= 10);
  /* Large batches: a growth step must still land the load above 2/3. */
  fill_checking_bytes(PC_OPTIM_ADAGRAD, 1500000, 65536, 65536, 24.0);
  /* SGD: 12-byte slots, <= 18 bytes per key. */
  fill_checking_bytes(PC_OPTIM_SGD, 300000, 1000, 10000, 18.0);
}

/* A copy of the store's private table hash (store_mix in ps_store.c) and
 * its inverse, to craft keys whose hashes lie close together and so share
 * home slots. If the store's hash changes these keys stop colliding, but
 * the test still checks correctness. */
#define TEST_SALT 0x2545f4914f6cdd1dULL
static uint64_t key_with_hash(uint64_t z) {
  z ^= (z >> 31) ^ (z >> 62);
  z *= 0x319642b2d24d8ec3ULL;
  z ^= (z >> 27) ^ (z >> 54);
  z *= 0x96de1b173f119089ULL;
  z ^= (z >> 30) ^ (z >> 60);
  return (z - 0x9e3779b97f4a7c15ULL) ^ TEST_SALT;
}

static uint64_t hash_of_key(uint64_t key) {
  uint64_t z = (key ^ TEST_SALT) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Push keys[0..n) twice (fresh, then shuffled updates), then check pulls,
 * the iterator and a few absent keys against a reference. */
static void check_against_reference(ps_store_t *s, const ps_optim_t *o, const uint64_t *keys,
                                    size_t n, const uint64_t *absent, size_t nabsent) {
  size_t *idx = malloc(n * sizeof *idx);
  float *ref_w = calloc(n, sizeof *ref_w), *ref_s = malloc(n * sizeof *ref_s);
  float *out = malloc((n > nabsent ? n : nabsent) * sizeof *out);
  assert_true(idx && ref_w && ref_s && out);
  for (size_t i = 0; i < n; i++) {
    idx[i] = i;
    ref_s[i] = o->init_accum;
  }
  push_and_mirror(s, o, keys, idx, n, ref_w, ref_s, 1.0f);
  uint64_t seed = 7;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rng_next(&seed) % (i + 1)), t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  push_and_mirror(s, o, keys, idx, n, ref_w, ref_s, -0.25f);
  assert_int_equal(stats(s).sparse_keys, n);
  assert_int_equal(ps_store_pull(s, keys, n, out), PC_OK);
  for (size_t i = 0; i < n; i++)
    if (out[i] != ref_w[i])
      fail_msg("key %" PRIu64 ": store %.9g, reference %.9g", keys[i], out[i], ref_w[i]);
  check_iteration(s, keys, n, ref_w, ref_s);
  assert_int_equal(ps_store_pull(s, absent, nabsent, out), PC_OK);
  for (size_t i = 0; i < nabsent; i++)
    if (out[i] != 0.0f)
      fail_msg("absent key %" PRIu64 " read %.9g", absent[i], out[i]);
  assert_int_equal(stats(s).sparse_keys, n);
  free(out);
  free(ref_s);
  free(ref_w);
  free(idx);
}

static void test_heavy_collisions(void **state) {
  (void)state;
  /* Three clumps of 3000 keys whose hashes sit 2^20 apart: at every table
   * size here each clump shares a handful of home slots, so runs are
   * thousands long. One clump sits at the top of the hash range (its run
   * wraps past the table's end), one at the bottom, one in the middle. The
   * odd multiples of 2^19 between them are absent keys probed inside the
   * runs. Plus 60000 random keys around them. */
  enum { CLUMP = 3000, RANDOM = 60000, N = 3 * CLUMP + RANDOM };
  const uint64_t base[3] = {UINT64_MAX - (uint64_t)CLUMP * 2 * ((uint64_t)1 << 20), 0,
                            (uint64_t)1 << 63};
  uint64_t *keys = malloc(N * sizeof *keys), *absent = malloc(3 * CLUMP * sizeof *absent);
  uint64_t *rnd = random_keys(RANDOM, 31337);
  assert_true(keys && absent);
  size_t n = 0;
  for (int c = 0; c < 3; c++)
    for (uint64_t i = 0; i < CLUMP; i++) {
      keys[n] = key_with_hash(base[c] + i * ((uint64_t)1 << 20));
      absent[n] = key_with_hash(base[c] + i * ((uint64_t)1 << 20) + ((uint64_t)1 << 19));
      assert_true(hash_of_key(keys[n]) == base[c] + i * ((uint64_t)1 << 20));
      assert_true(keys[n] != PS_KEY_INVALID && absent[n] != PS_KEY_INVALID);
      n++;
    }
  memcpy(keys + n, rnd, RANDOM * sizeof *keys);
  /* Interleave clump and random keys so growth happens mid-clump. */
  uint64_t seed = 5;
  for (size_t i = N - 1; i > 0; i--) {
    size_t j = (size_t)(rng_next(&seed) % (i + 1));
    uint64_t t = keys[i];
    keys[i] = keys[j];
    keys[j] = t;
  }
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.01f, 0.1f);
  ps_store_t *s = store_new(&o, NULL, 0);
  check_against_reference(s, &o, keys, N, absent, 3 * CLUMP);
  ps_store_destroy(&s);
  ps_optim_t sgd = optim(PC_OPTIM_SGD, 0.1f, 0.01f, 0.0f);
  s = store_new(&sgd, NULL, 0);
  check_against_reference(s, &sgd, keys, N, absent, 3 * CLUMP);
  ps_store_destroy(&s);
  free(rnd);
  free(absent);
  free(keys);
}

static void test_growth_edge_keys_odd_batches(void **state) {
  (void)state;
  /* Random 64-bit keys plus the extremes of the key space, pushed in
   * batches of varying size (1 to ~9000, some with repeated keys) across
   * many growth steps. */
  enum { N = 300000 };
  uint64_t *keys = random_keys(N, 2718);
  const uint64_t edge[6] = {0, 1, 2, UINT64_MAX - 1, UINT64_MAX - 2, UINT64_MAX / 2};
  for (int i = 0; i < 6; i++)
    keys[(size_t)i * (N / 6)] = edge[i];
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.0f, 0.0f);
  ps_store_t *s = store_new(&o, NULL, 0);
  float *ref_w = calloc(N, sizeof *ref_w), *ref_s = calloc(N, sizeof *ref_s);
  size_t *idx = malloc(2 * 9000 * sizeof *idx);
  assert_true(ref_w && ref_s && idx);
  uint64_t seed = 11;
  for (size_t off = 0; off < N;) {
    size_t m = 1 + (size_t)(rng_next(&seed) % 9000);
    if (m > N - off)
      m = N - off;
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
      idx[k++] = off + i;
      if (i % 7 == 3) /* the same key again later in the batch */
        idx[k++] = off + i / 2;
    }
    push_and_mirror(s, &o, keys, idx, k, ref_w, ref_s, 1.0f);
    off += m;
  }
  assert_int_equal(stats(s).sparse_keys, N);
  float out[6];
  for (int i = 0; i < 6; i++)
    assert_true(pull1(s, edge[i]) == ref_w[(size_t)i * (N / 6)]);
  assert_int_equal(ps_store_pull(s, edge, 6, out), PC_OK);
  check_iteration(s, keys, N, ref_w, ref_s);
  free(idx);
  free(ref_s);
  free(ref_w);
  free(keys);
  ps_store_destroy(&s);
}

static void test_non_finite_push_rejected_entirely(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  const ps_store_range_t r = {100, 110};
  ps_store_t *s = store_new(&o, &r, 1);
  pc_err_t err = {0};
  const uint64_t keys[3] = {1, 105, 2};
  const float g[3] = {3.0f, 3.0f, 3.0f};
  assert_int_equal(ps_store_push(s, keys, g, 3, &err), PC_OK);
  /* Every key and a new one, with one bad gradient in the middle or end. */
  const uint64_t k2[4] = {1, 105, 77, 2};
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  const char *const text[3] = {"nan", "inf", "-inf"};
  for (int b = 0; b < 3; b++) {
    float g2[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    g2[b == 0 ? 2 : 3] = bad[b];
    assert_int_equal(ps_store_push(s, k2, g2, 4, &err), PC_EDATA);
    assert_non_null(strstr(err.msg, b == 0 ? "key 77" : "key 2"));
    assert_non_null(strstr(err.msg, text[b]));
    for (int i = 0; i < 3; i++)
      assert_float_equal(pull1(s, keys[i]), -0.5, TOL);
    assert_true(pull1(s, 77) == 0.0f);
    ps_store_stats_t st = stats(s);
    assert_int_equal(st.sparse_keys, 2);
    assert_int_equal(st.pushes_rejected, (uint64_t)b + 1);
  }
  ps_store_destroy(&s);
}

static void test_invalid_key_rejected(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 1.0f, 0.0f, 0.0f);
  ps_store_t *s = store_new(&o, NULL, 0);
  pc_err_t err = {0};
  const uint64_t keys[3] = {4, 5, PS_KEY_INVALID};
  const float g[3] = {1.0f, 1.0f, 1.0f};
  float out[3];
  assert_int_equal(ps_store_push(s, keys, g, 3, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "PS_KEY_INVALID"));
  assert_true(pull1(s, 4) == 0.0f);
  assert_int_equal(stats(s).sparse_keys, 0);
  assert_int_equal(stats(s).pushes_rejected, 0);
  assert_int_equal(ps_store_pull(s, keys, 3, out), PC_EINVAL);
  /* Empty calls are fine. */
  assert_int_equal(ps_store_push(s, NULL, NULL, 0, &err), PC_OK);
  assert_int_equal(ps_store_pull(s, NULL, 0, NULL), PC_OK);
  ps_store_destroy(&s);
}

static void test_iterator_dense_then_sparse(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 1.0f, 0.0f, 0.0f);
  const ps_store_range_t r[2] = {{50, 52}, {10, 12}};
  ps_store_t *s = store_new(&o, r, 2);
  pc_err_t err = {0};
  const uint64_t keys[2] = {11, 1000};
  const float g[2] = {2.0f, 3.0f};
  assert_int_equal(ps_store_push(s, keys, g, 2, &err), PC_OK);
  const uint64_t want_k[5] = {10, 11, 50, 51, 1000};
  const float want_w[5] = {0.0f, -2.0f, 0.0f, 0.0f, -3.0f};
  ps_store_iter_t it = PS_STORE_ITER_INIT;
  uint64_t k;
  float w, st = 1.0f;
  for (int i = 0; i < 5; i++) {
    assert_int_equal(ps_store_iter_next(s, &it, &k, &w, &st), 1);
    assert_int_equal(k, want_k[i]);
    assert_float_equal(w, want_w[i], TOL);
    assert_true(st == 0.0f); /* SGD has no state */
  }
  assert_int_equal(ps_store_iter_next(s, &it, &k, &w, NULL), 0);
  assert_int_equal(ps_store_iter_next(s, &it, &k, &w, NULL), 0);
  ps_store_destroy(&s);
}

/* Push items[0..n) (indices into keys) with gradients g, mirrored key by
 * key in order on the reference, then check every key and the iterator. */
static void push_items_check(ps_store_t *s, const ps_optim_t *o, const uint64_t *keys,
                             size_t nkeys, const size_t *items, const float *g, size_t n,
                             float *ref_w, float *ref_s) {
  uint64_t *kb = malloc(n * sizeof *kb);
  float *out = malloc(nkeys * sizeof *out);
  assert_true(kb && out);
  for (size_t i = 0; i < n; i++) {
    kb[i] = keys[items[i]];
    ps_optim_apply(o, &ref_w[items[i]], &ref_s[items[i]], g[i]);
  }
  pc_err_t err = {0};
  if (ps_store_push(s, kb, g, n, &err) != PC_OK)
    fail_msg("push: %s", err.msg);
  assert_int_equal(ps_store_pull(s, keys, nkeys, out), PC_OK);
  for (size_t i = 0; i < nkeys; i++)
    if (out[i] != ref_w[i])
      fail_msg("key %" PRIu64 ": store %.9g, reference %.9g", keys[i], out[i], ref_w[i]);
  check_iteration(s, keys, nkeys, ref_w, ref_s);
  free(out);
  free(kb);
}

static void shuffle_items(size_t *items, size_t n, uint64_t seed) {
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rng_next(&seed) % (i + 1)), t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
}

/* A push larger than the table's free room makes the store count its new
 * keys first (and remember where the others are). Mix existing, new and
 * dense keys, each repeated, in one such push: every key must match a
 * reference applied key by key in push order. First without growth (the
 * remembered slots are used), then with growth (they are not). */
static void run_mixed_push(pc_optim_type_t type) {
  enum { DENSE = 10, OLD = 500, NEW1 = 150, NEW2 = 3000 };
  enum { NKEYS = DENSE + OLD + NEW1 + NEW2 };
  const ps_store_range_t r = {1000, 1000 + DENSE};
  ps_optim_t o = optim(type, 0.1f, 0.01f, type == PC_OPTIM_ADAGRAD ? 0.1f : 0.0f);
  ps_store_t *s = store_new(&o, &r, 1);
  uint64_t *keys = malloc(NKEYS * sizeof *keys);
  uint64_t *rnd = random_keys(OLD + NEW1 + NEW2, 4242);
  float *ref_w = calloc(NKEYS, sizeof *ref_w), *ref_s = malloc(NKEYS * sizeof *ref_s);
  size_t *items = malloc(4 * NKEYS * sizeof *items);
  float *g = malloc(4 * NKEYS * sizeof *g);
  assert_true(keys && ref_w && ref_s && items && g);
  /* keys: dense [0, DENSE), old, new in round 1, new in round 2. */
  for (size_t i = 0; i < NKEYS; i++) {
    keys[i] = i < DENSE ? r.begin + i : rnd[i - DENSE];
    assert_true(i < DENSE || keys[i] - r.begin >= DENSE);
    ref_s[i] = o.init_accum;
  }
  const size_t cap0 = stats(s).sparse_capacity;
  /* Round 0: the old keys, small enough to skip the counting pass. */
  size_t n = 0;
  for (size_t i = DENSE; i < DENSE + OLD; i++)
    items[n++] = i;
  for (size_t i = 0; i < n; i++)
    g[i] = (float)((int)((i * 7919) % 2001) - 1000) / 1000.0f;
  push_items_check(s, &o, keys, DENSE + OLD, items, g, n, ref_w, ref_s);
  assert_int_equal(stats(s).sparse_keys, OLD);
  /* Round 1: old keys twice, new keys twice, dense keys three times, all
   * shuffled: 1330 items (over the free room of ~420), 300 counted as new
   * (within it), so the table does not grow. */
  n = 0;
  for (int rep = 0; rep < 2; rep++)
    for (size_t i = DENSE; i < DENSE + OLD + NEW1; i++)
      items[n++] = i;
  for (int rep = 0; rep < 3; rep++)
    for (size_t i = 0; i < DENSE; i++)
      items[n++] = i;
  shuffle_items(items, n, 17);
  for (size_t i = 0; i < n; i++)
    g[i] = (float)((int)((i * 104729) % 2001) - 1000) / 700.0f;
  push_items_check(s, &o, keys, DENSE + OLD + NEW1, items, g, n, ref_w, ref_s);
  assert_int_equal(stats(s).sparse_keys, OLD + NEW1);
  assert_int_equal(stats(s).sparse_capacity, cap0);
  /* Absent keys read 0 and are not inserted. */
  float out[4];
  assert_int_equal(ps_store_pull(s, keys + DENSE + OLD + NEW1, 4, out), PC_OK);
  for (int i = 0; i < 4; i++)
    assert_true(out[i] == 0.0f);
  assert_int_equal(stats(s).sparse_keys, OLD + NEW1);
  /* Round 2: everything so far once or twice plus many new keys (some
   * repeated): the table grows. */
  n = 0;
  for (size_t i = 0; i < NKEYS; i++) {
    items[n++] = i;
    if (i % 3 == 0)
      items[n++] = i;
  }
  shuffle_items(items, n, 99);
  for (size_t i = 0; i < n; i++)
    g[i] = (float)((int)((i * 15485863) % 2001) - 1000) / 900.0f;
  push_items_check(s, &o, keys, NKEYS, items, g, n, ref_w, ref_s);
  assert_int_equal(stats(s).sparse_keys, OLD + NEW1 + NEW2);
  assert_true(stats(s).sparse_capacity > cap0);
  /* Round 3: a big push of existing keys only, repeated, into the grown
   * table (counting pass, no growth). */
  n = 0;
  for (int rep = 0; rep < 3; rep++)
    for (size_t i = 0; i < NKEYS; i++)
      items[n++] = i;
  shuffle_items(items, n, 5);
  for (size_t i = 0; i < n; i++)
    g[i] = (float)((int)((i * 31) % 2001) - 1000) / 1100.0f;
  const size_t cap1 = stats(s).sparse_capacity;
  push_items_check(s, &o, keys, NKEYS, items, g, n, ref_w, ref_s);
  assert_int_equal(stats(s).sparse_capacity, cap1);
  assert_int_equal(stats(s).sparse_keys, OLD + NEW1 + NEW2);
  free(g);
  free(items);
  free(ref_s);
  free(ref_w);
  free(rnd);
  free(keys);
  ps_store_destroy(&s);
}

static void test_mixed_push_existing_new_duplicates(void **state) {
  (void)state;
  run_mixed_push(PC_OPTIM_ADAGRAD);
  run_mixed_push(PC_OPTIM_SGD);
}

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

/* A push larger than the free room updates the keys already present in
 * place before it knows whether the table must grow; when that growth
 * cannot be allocated, the store must be left exactly as it was. The
 * allocation is made to fail by capping the address space (skipped under
 * AddressSanitizer, which needs its own huge mappings). */
static void test_failed_growth_leaves_store_unchanged(void **state) {
  (void)state;
#ifdef TEST_ASAN
  skip();
#else
  enum { OLD = 200000, NEW = 100000, DENSE = 16 };
  enum { NKEYS = DENSE + OLD + NEW };
  const ps_store_range_t r = {5, 5 + DENSE};
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.01f, 0.1f);
  ps_store_t *s = store_new(&o, &r, 1);
  uint64_t *rnd = random_keys(OLD + NEW, 777);
  uint64_t *keys = malloc(NKEYS * sizeof *keys), *kb = malloc(3 * NKEYS * sizeof *kb);
  float *ref_w = calloc(NKEYS, sizeof *ref_w), *ref_s = malloc(NKEYS * sizeof *ref_s);
  float *g = malloc(3 * NKEYS * sizeof *g), *out = malloc(NKEYS * sizeof *out);
  size_t *items = malloc(3 * NKEYS * sizeof *items);
  assert_true(rnd && keys && kb && ref_w && ref_s && g && out && items);
  for (size_t i = 0; i < NKEYS; i++) {
    keys[i] = i < DENSE ? r.begin + i : rnd[i - DENSE];
    assert_true(i < DENSE || keys[i] - r.begin >= DENSE);
    ref_s[i] = o.init_accum;
  }
  pc_err_t err = {0};
  /* The old keys, then a big push of old and dense keys only (it takes
   * the scratch memory a later push of that size needs). */
  size_t n = 0;
  for (size_t i = 0; i < DENSE + OLD; i++)
    items[n++] = i;
  for (int rep = 0; rep < 2; rep++)
    for (size_t i = 0; i < DENSE + OLD; i++)
      items[n++] = i;
  for (size_t i = 0; i < n; i++) {
    kb[i] = keys[items[i]];
    g[i] = (float)((int)((i * 7919) % 2001) - 1000) / 1000.0f;
    ps_optim_apply(&o, &ref_w[items[i]], &ref_s[items[i]], g[i]);
  }
  assert_int_equal(ps_store_push(s, kb, g, DENSE + OLD, &err), PC_OK);
  assert_int_equal(ps_store_push(s, kb + DENSE + OLD, g + DENSE + OLD, n - DENSE - OLD, &err),
                   PC_OK);
  const ps_store_stats_t before = stats(s);
  assert_int_equal(before.sparse_keys, OLD);
  /* Every key (old, dense, new; some twice), shuffled: needs growth (and
   * no more scratch than the push above). */
  n = 0;
  for (size_t i = 0; i < NKEYS; i++) {
    items[n++] = i;
    if (i % 4 == 0)
      items[n++] = i;
  }
  shuffle_items(items, n, 3);
  assert_true(n <= 2 * (DENSE + OLD));
  for (size_t i = 0; i < n; i++) {
    kb[i] = keys[items[i]];
    g[i] = (float)((int)((i * 104729) % 2001) - 1000) / 800.0f;
  }
  struct rlimit old_lim;
  assert_int_equal(getrlimit(RLIMIT_AS, &old_lim), 0);
  long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  assert_non_null(f);
  assert_int_equal(fscanf(f, "%ld", &pages), 1);
  fclose(f);
  /* A few MiB of headroom: less than the grown table. */
  struct rlimit lim = old_lim;
  lim.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)2 << 20);
  assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
  int rc = ps_store_push(s, kb, g, n, &err);
  assert_int_equal(setrlimit(RLIMIT_AS, &old_lim), 0);
  assert_int_equal(rc, PC_ENOMEM);
  const ps_store_stats_t after = stats(s);
  assert_int_equal(after.sparse_keys, before.sparse_keys);
  assert_int_equal(after.sparse_capacity, before.sparse_capacity);
  assert_int_equal(ps_store_pull(s, keys, NKEYS, out), PC_OK);
  for (size_t i = 0; i < NKEYS; i++)
    if (out[i] != ref_w[i])
      fail_msg("key %" PRIu64 " changed: %.9g, was %.9g", keys[i], out[i], ref_w[i]);
  check_iteration(s, keys, DENSE + OLD, ref_w, ref_s);
  /* With memory back the same push goes through. */
  assert_int_equal(ps_store_push(s, kb, g, n, &err), PC_OK);
  for (size_t i = 0; i < n; i++)
    ps_optim_apply(&o, &ref_w[items[i]], &ref_s[items[i]], g[i]);
  assert_int_equal(ps_store_pull(s, keys, NKEYS, out), PC_OK);
  for (size_t i = 0; i < NKEYS; i++)
    if (out[i] != ref_w[i])
      fail_msg("key %" PRIu64 ": store %.9g, reference %.9g", keys[i], out[i], ref_w[i]);
  check_iteration(s, keys, NKEYS, ref_w, ref_s);
  free(items);
  free(out);
  free(g);
  free(ref_s);
  free(ref_w);
  free(kb);
  free(keys);
  free(rnd);
  ps_store_destroy(&s);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pull_unknown_is_zero_not_inserted),
      cmocka_unit_test(test_sparse_push_pull_duplicates_sgd),
      cmocka_unit_test(test_sparse_duplicates_applied_in_order_adagrad),
      cmocka_unit_test(test_adagrad_new_key_uses_init_accum),
      cmocka_unit_test(test_dense_ranges_and_outside_keys),
      cmocka_unit_test(test_single_dense_range),
      cmocka_unit_test(test_bad_ranges_rejected),
      cmocka_unit_test(test_growth_1m_random_keys),
      cmocka_unit_test(test_bytes_per_key_at_every_size),
      cmocka_unit_test(test_heavy_collisions),
      cmocka_unit_test(test_growth_edge_keys_odd_batches),
      cmocka_unit_test(test_non_finite_push_rejected_entirely),
      cmocka_unit_test(test_invalid_key_rejected),
      cmocka_unit_test(test_iterator_dense_then_sparse),
      cmocka_unit_test(test_mixed_push_existing_new_duplicates),
      cmocka_unit_test(test_failed_growth_leaves_store_unchanged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
