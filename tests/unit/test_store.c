/* The parameter store: tables of any width, sparse hash tables, dense
 * ranges, initial values, optimizers per value, growth, rejection. */
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

/* The full local key space of a table. */
#define SPACE (UINT64_C(1) << PC_TABLE_SHIFT)
/* Global key of local key k of table 1. */
#define T1(k) pc_table_key(1, (k))

static pc_table_t table(uint32_t id, pc_table_kind_t kind, uint64_t size, uint32_t width,
                        pc_init_t init, float scale, int optimize) {
  pc_table_t t = {.id = id, .kind = kind, .size = size, .width = width, .init = init,
                  .scale = scale, .optimize = optimize};
  snprintf(t.name, sizeof t.name, "t%u", id);
  return t;
}

static ps_store_t *store_tables(const ps_optim_t *o, uint64_t seed, const pc_table_t *t,
                                size_t nt, const ps_store_range_t *r, size_t nr) {
  ps_store_t *s = NULL;
  pc_err_t err = {0};
  int rc = ps_store_new(&s, o, seed, t, nt, r, nr, &err);
  if (rc != PC_OK)
    fail_msg("ps_store_new: %s", err.msg);
  return s;
}

/* The logistic layout: table 0 sparse over the whole local key space,
 * table 1 dense (ranges r, global keys T1(...)), both width 1, zeros. */
static ps_store_t *store_new(const ps_optim_t *o, const ps_store_range_t *r, size_t nr) {
  const pc_table_t t[2] = {table(0, PC_TABLE_SPARSE, SPACE, 1, PC_INIT_ZEROS, 0, 1),
                           table(1, PC_TABLE_DENSE, SPACE, 1, PC_INIT_ZEROS, 0, 1)};
  return store_tables(o, 1, t, 2, r, nr);
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
  uint64_t keys[3] = {0, 42, SPACE - 1};
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
  const ps_store_range_t r = {T1(100), T1(200)};
  ps_store_t *s = store_new(&o, &r, 1);
  pc_err_t err = {0};
  /* Sparse key 5 and dense key 150 both start at s=16, w=0;
   * g=3: s=25, w = -0.1*3/5 = -0.06 */
  const uint64_t keys[2] = {5, T1(150)};
  const float g[2] = {3.0f, 3.0f};
  assert_int_equal(ps_store_push(s, &keys[0], &g[0], 1, &err), PC_OK);
  assert_int_equal(ps_store_push(s, &keys[1], &g[1], 1, &err), PC_OK);
  assert_float_equal(pull1(s, 5), -0.06, TOL);
  assert_float_equal(pull1(s, T1(150)), -0.06, TOL);
  ps_store_destroy(&s);
}

static void test_dense_ranges_and_outside_keys(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 1.0f, 0.0f, 0.0f);
  /* Given unsorted: the store sorts them. */
  const ps_store_range_t r[3] = {{T1(1000), T1(1010)}, {T1(0), T1(10)}, {T1(20), T1(30)}};
  ps_store_t *s = store_new(&o, r, 3);
  pc_err_t err = {0};
  assert_int_equal(stats(s).dense_keys, 30);
  /* With lr=1, l2=0 one push of g leaves w = -g. */
  const uint64_t keys[6] = {T1(0), T1(9), T1(20), T1(29), T1(1000), T1(1009)};
  const float g[6] = {1, 2, 5, 6, 9, 10};
  assert_int_equal(ps_store_push(s, keys, g, 6, &err), PC_OK);
  float out[6];
  assert_int_equal(ps_store_pull(s, keys, 6, out), PC_OK);
  for (int i = 0; i < 6; i++)
    assert_float_equal(out[i], -g[i], TOL);
  /* 10, 19, 30, 999 of the dense table are outside every range this
   * server holds: refused, nothing changes; the sparse table takes them. */
  const uint64_t outside[4] = {T1(10), T1(19), T1(30), T1(999)};
  const uint64_t sparse[4] = {10, 19, 30, 999};
  const float g2[4] = {3, 4, 7, 8};
  for (int i = 0; i < 4; i++) {
    const uint64_t two[2] = {T1(0), outside[i]};
    assert_int_equal(ps_store_push(s, two, g2, 2, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, "not held by this server"));
    assert_int_equal(ps_store_pull(s, two, 2, out), PC_EINVAL);
  }
  assert_float_equal(pull1(s, T1(0)), -1.0, TOL);
  assert_int_equal(ps_store_push(s, sparse, g2, 4, &err), PC_OK);
  ps_store_stats_t st = stats(s);
  assert_int_equal(st.sparse_keys, 4);
  assert_int_equal(st.dense_keys, 30);
  assert_int_equal(st.bytes, st.sparse_capacity * 12 + 30 * 4);
  assert_true(pull1(s, T1(5)) == 0.0f);
  assert_true(pull1(s, 5) == 0.0f);
  assert_float_equal(pull1(s, 999), -8.0, TOL);
  ps_store_destroy(&s);
}

static void test_single_dense_range(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  /* A range ending at the top of its table's key space. */
  const ps_store_range_t r = {T1(SPACE - 4), pc_table_key(2, 0)};
  ps_store_t *s = store_new(&o, &r, 1);
  pc_err_t err = {0};
  const uint64_t keys[3] = {T1(SPACE - 4), T1(SPACE - 1), 3};
  const float g[3] = {3.0f, 3.0f, 3.0f};
  assert_int_equal(ps_store_push(s, keys, g, 2, &err), PC_OK);
  assert_int_equal(ps_store_push(s, keys + 2, g, 1, &err), PC_OK);
  for (int i = 0; i < 3; i++)
    assert_float_equal(pull1(s, keys[i]), -0.5, TOL);
  /* The key past the table's end is no key of it. */
  const uint64_t past = pc_table_key(2, 0);
  assert_int_equal(ps_store_push(s, &past, g, 1, &err), PC_EINVAL);
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
  const pc_table_t t[2] = {table(0, PC_TABLE_SPARSE, SPACE, 1, PC_INIT_ZEROS, 0, 1),
                           table(1, PC_TABLE_DENSE, 100, 1, PC_INIT_ZEROS, 0, 1)};
  const ps_store_range_t empty = {T1(5), T1(5)};
  assert_int_equal(ps_store_new(&s, &o, 1, t, 2, &empty, 1, &err), PC_EINVAL);
  assert_null(s);
  char want[64];
  snprintf(want, sizeof want, "[%" PRIu64 ", %" PRIu64 ")", T1(5), T1(5));
  assert_non_null(strstr(err.msg, want));
  const ps_store_range_t overlap[2] = {{T1(10), T1(20)}, {T1(0), T1(11)}};
  assert_int_equal(ps_store_new(&s, &o, 1, t, 2, overlap, 2, &err), PC_EINVAL);
  assert_null(s);
  assert_non_null(strstr(err.msg, "overlap"));
  /* A range in a sparse table, past a dense table's end, across two
   * tables, or in a table that does not exist. */
  const ps_store_range_t outside[4] = {
      {0, 10}, {T1(90), T1(101)}, {T1(90), pc_table_key(2, 1)}, {pc_table_key(2, 0), pc_table_key(2, 5)}};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(ps_store_new(&s, &o, 1, t, 2, &outside[i], 1, &err), PC_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "not inside one dense table"));
  }
  ps_optim_t bad = o;
  bad.type = (pc_optim_type_t)0;
  assert_int_equal(ps_store_new(&s, &bad, 1, t, 2, NULL, 0, &err), PC_EINVAL);
  assert_null(s);
  /* The table list itself is checked (pc_table_check). */
  pc_table_t wide[2] = {t[0], t[1]};
  wide[1].width = 0;
  assert_int_equal(ps_store_new(&s, &o, 1, wide, 2, NULL, 0, &err), PC_EINVAL);
  assert_null(s);
  assert_non_null(strstr(err.msg, "width"));
  assert_int_equal(ps_store_new(&s, &o, 1, t, 0, NULL, 0, &err), PC_EINVAL);
  assert_null(s);
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

/* N distinct random keys of table 0. */
static uint64_t *random_keys(size_t n, uint64_t seed) {
  uint64_t *k = malloc(n * sizeof *k), *sorted = malloc(n * sizeof *k);
  assert_non_null(k);
  assert_non_null(sorted);
  for (size_t i = 0; i < n; i++)
    k[i] = rng_next(&seed) & PC_TABLE_LOCAL_MASK;
  memcpy(sorted, k, n * sizeof *k);
  qsort(sorted, n, sizeof *k, cmp_u64);
  for (size_t i = 1; i < n; i++)
    assert_true(sorted[i] != sorted[i - 1]); /* 2^20 draws from 2^56: no repeats */
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
  ps_store_iter_t it = PS_STORE_ITER_INIT(0);
  uint64_t key;
  const float *w, *st;
  size_t visited = 0;
  while (ps_store_iter_next(s, &it, &key, &w, &st)) {
    key_pos_t probe = {key, 0};
    key_pos_t *hit = bsearch(&probe, sorted, n, sizeof *sorted, cmp_key_pos);
    assert_non_null(hit);
    assert_false(seen[hit->idx]);
    seen[hit->idx] = 1;
    assert_true(*w == ref_w[hit->idx]);
    assert_true(st != NULL ? *st == ref_s[hit->idx] : ref_s[hit->idx] == 0.0f);
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
  /* Three clumps of 3000 keys whose hashes sit in windows of 2^40 (a
   * hash step of 2^20, keeping only the keys of table 0: about 1 in 256):
   * at every table size here each clump shares a handful of home slots,
   * so runs are thousands long. One clump sits at the top of the hash
   * range (its run wraps past the table's end), one at the bottom, one in
   * the middle. Keys at the odd multiples of 2^19 between them are absent
   * keys probed inside the runs. Plus 60000 random keys around them. */
  enum { CLUMP = 3000, RANDOM = 60000, N = 3 * CLUMP + RANDOM };
  const uint64_t step = (uint64_t)1 << 20, span = (uint64_t)1 << 40;
  const uint64_t base[3] = {UINT64_MAX - span, 0, (uint64_t)1 << 63};
  uint64_t *keys = malloc(N * sizeof *keys), *absent = malloc(3 * CLUMP * sizeof *absent);
  uint64_t *rnd = random_keys(RANDOM, 31337);
  assert_true(keys && absent);
  size_t n = 0, na = 0;
  for (int c = 0; c < 3; c++) {
    size_t got = 0, gota = 0;
    for (uint64_t h = base[c]; h - base[c] < span - step && (got < CLUMP || gota < CLUMP);
         h += step) {
      uint64_t k = key_with_hash(h), a = key_with_hash(h + step / 2);
      assert_true(hash_of_key(k) == h);
      if (got < CLUMP && k < SPACE) {
        keys[n++] = k;
        got++;
      }
      if (gota < CLUMP && a < SPACE) {
        absent[na++] = a;
        gota++;
      }
    }
    assert_int_equal(got, CLUMP);
    assert_int_equal(gota, CLUMP);
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
  /* Random keys plus the extremes of the table's key space, pushed in
   * batches of varying size (1 to ~9000, some with repeated keys) across
   * many growth steps. */
  enum { N = 300000 };
  uint64_t *keys = random_keys(N, 2718);
  const uint64_t edge[6] = {0, 1, 2, SPACE - 1, SPACE - 2, SPACE / 2};
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
  const ps_store_range_t r = {T1(100), T1(110)};
  ps_store_t *s = store_new(&o, &r, 1);
  pc_err_t err = {0};
  const uint64_t keys[2] = {1, 2}, dkeys[2] = {T1(105), T1(106)};
  const float g[2] = {3.0f, 3.0f};
  assert_int_equal(ps_store_push(s, keys, g, 2, &err), PC_OK);
  assert_int_equal(ps_store_push(s, dkeys, g, 2, &err), PC_OK);
  /* Every key and a new one, with one bad gradient in the middle or end;
   * the dense keys with one bad gradient. */
  const uint64_t k2[4] = {1, 2, 77, 2};
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  const char *const text[3] = {"nan", "inf", "-inf"};
  for (int b = 0; b < 3; b++) {
    float g2[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    g2[b == 0 ? 2 : 3] = bad[b];
    assert_int_equal(ps_store_push(s, k2, g2, 4, &err), PC_EDATA);
    assert_non_null(strstr(err.msg, b == 0 ? "key 77" : "key 2"));
    assert_non_null(strstr(err.msg, text[b]));
    assert_int_equal(ps_store_push(s, dkeys, g2 + 2, 2, &err), PC_EDATA);
    assert_int_equal(ps_store_push_range(s, T1(105), T1(107), g2 + 2, &err), PC_EDATA);
    char want[48];
    snprintf(want, sizeof want, "key %" PRIu64 " ", b == 0 ? T1(105) : T1(106));
    assert_non_null(strstr(err.msg, want));
    for (int i = 0; i < 2; i++) {
      assert_float_equal(pull1(s, keys[i]), -0.5, TOL);
      assert_float_equal(pull1(s, dkeys[i]), -0.5, TOL);
    }
    assert_true(pull1(s, 77) == 0.0f);
    ps_store_stats_t st = stats(s);
    assert_int_equal(st.sparse_keys, 2);
    assert_int_equal(st.pushes_rejected, 3 * ((uint64_t)b + 1));
  }
  ps_store_destroy(&s);
}

static void test_invalid_key_rejected(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 1.0f, 0.0f, 0.0f);
  const ps_store_range_t r = {T1(0), T1(10)};
  ps_store_t *s = store_new(&o, &r, 1);
  pc_err_t err = {0};
  /* Keys of another table than keys[0]'s, of no table, the reserved key:
   * refused whole, nothing changes, not counted as rejected gradients. */
  const uint64_t bad[4][3] = {{4, 5, PS_KEY_INVALID},
                              {4, 5, T1(3)},
                              {T1(4), T1(5), 6},
                              {4, 5, pc_table_key(2, 0)}};
  const float g[3] = {1.0f, 1.0f, 1.0f};
  float out[3];
  for (int b = 0; b < 4; b++) {
    assert_int_equal(ps_store_push(s, bad[b], g, 3, &err), PC_EINVAL);
    assert_non_null(strstr(err.msg, "item 2 of 3"));
    assert_non_null(strstr(err.msg, b == 2 ? "not a key of table 't1'" : "not a key of table 't0'"));
    assert_int_equal(ps_store_pull(s, bad[b], 3, out), PC_EINVAL);
  }
  /* keys[0] of no table at all. */
  const uint64_t none[2] = {pc_table_key(2, 0), 4};
  assert_int_equal(ps_store_push(s, none, g, 2, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "no table"));
  assert_int_equal(ps_store_pull(s, none, 2, out), PC_EINVAL);
  assert_int_equal(ps_store_pull(s, &bad[0][2], 1, out), PC_EINVAL);
  assert_true(pull1(s, 4) == 0.0f);
  assert_true(pull1(s, T1(4)) == 0.0f);
  assert_int_equal(stats(s).sparse_keys, 0);
  assert_int_equal(stats(s).pushes_rejected, 0);
  /* Ranges are checked the same way. */
  assert_int_equal(ps_store_pull_range(s, T1(8), T1(11), out), PC_EINVAL);
  assert_int_equal(ps_store_push_range(s, T1(8), T1(11), g, &err), PC_EINVAL);
  assert_int_equal(ps_store_push_range(s, SPACE - 1, SPACE + 1, g, &err), PC_EINVAL);
  assert_true(pull1(s, T1(8)) == 0.0f);
  assert_true(pull1(s, SPACE - 1) == 0.0f);
  /* Empty calls are fine. */
  assert_int_equal(ps_store_push(s, NULL, NULL, 0, &err), PC_OK);
  assert_int_equal(ps_store_pull(s, NULL, 0, NULL), PC_OK);
  ps_store_destroy(&s);
}

static void test_iterator_per_table(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 1.0f, 0.0f, 0.0f);
  const ps_store_range_t r[2] = {{T1(50), T1(52)}, {T1(10), T1(12)}};
  ps_store_t *s = store_new(&o, r, 2);
  pc_err_t err = {0};
  const uint64_t dk = T1(11), sk = 1000;
  const float g[2] = {2.0f, 3.0f};
  assert_int_equal(ps_store_push(s, &dk, &g[0], 1, &err), PC_OK);
  assert_int_equal(ps_store_push(s, &sk, &g[1], 1, &err), PC_OK);
  /* The dense table: every key held, in ascending order. */
  const uint64_t want_k[4] = {T1(10), T1(11), T1(50), T1(51)};
  const float want_w[4] = {0.0f, -2.0f, 0.0f, 0.0f};
  ps_store_iter_t it = PS_STORE_ITER_INIT(1);
  uint64_t k;
  const float *w, *st = w = NULL;
  for (int i = 0; i < 4; i++) {
    st = g; /* must be overwritten */
    assert_int_equal(ps_store_iter_next(s, &it, &k, &w, &st), 1);
    assert_int_equal(k, want_k[i]);
    assert_float_equal(*w, want_w[i], TOL);
    assert_null(st); /* SGD has no state */
  }
  assert_int_equal(ps_store_iter_next(s, &it, &k, &w, NULL), 0);
  assert_int_equal(ps_store_iter_next(s, &it, &k, &w, NULL), 0);
  /* The sparse table: its stored key only. */
  ps_store_iter_t it0 = PS_STORE_ITER_INIT(0);
  assert_int_equal(ps_store_iter_next(s, &it0, &k, &w, &st), 1);
  assert_int_equal(k, 1000);
  assert_float_equal(*w, -3.0, TOL);
  assert_int_equal(ps_store_iter_next(s, &it0, &k, &w, &st), 0);
  /* No such table. */
  ps_store_iter_t it2 = PS_STORE_ITER_INIT(2);
  assert_int_equal(ps_store_iter_next(s, &it2, &k, &w, &st), 0);
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
 * keys first (and remember where the others are). Mix existing and new
 * keys, each repeated, in one such push: every key must match a reference
 * applied key by key in push order. First without growth (the remembered
 * slots are used), then with growth (they are not). A push holds keys of
 * one table, so no dense keys here (DENSE = 0 keeps the layout of the
 * key list). */
static void run_mixed_push(pc_optim_type_t type) {
  enum { OLD = 500, NEW1 = 150, NEW2 = 3000 };
  enum { NKEYS = OLD + NEW1 + NEW2 };
  ps_optim_t o = optim(type, 0.1f, 0.01f, type == PC_OPTIM_ADAGRAD ? 0.1f : 0.0f);
  ps_store_t *s = store_new(&o, NULL, 0);
  uint64_t *keys = malloc(NKEYS * sizeof *keys);
  uint64_t *rnd = random_keys(OLD + NEW1 + NEW2, 4242);
  float *ref_w = calloc(NKEYS, sizeof *ref_w), *ref_s = malloc(NKEYS * sizeof *ref_s);
  size_t *items = malloc(4 * NKEYS * sizeof *items);
  float *g = malloc(4 * NKEYS * sizeof *g);
  assert_true(keys && ref_w && ref_s && items && g);
  /* keys: old, new in round 1, new in round 2. */
  for (size_t i = 0; i < NKEYS; i++) {
    keys[i] = rnd[i];
    ref_s[i] = o.init_accum;
  }
  const size_t cap0 = stats(s).sparse_capacity;
  /* Round 0: the old keys, small enough to skip the counting pass. */
  size_t n = 0;
  for (size_t i = 0; i < OLD; i++)
    items[n++] = i;
  for (size_t i = 0; i < n; i++)
    g[i] = (float)((int)((i * 7919) % 2001) - 1000) / 1000.0f;
  push_items_check(s, &o, keys, OLD, items, g, n, ref_w, ref_s);
  assert_int_equal(stats(s).sparse_keys, OLD);
  /* Round 1: old keys twice, new keys twice, all shuffled: 1300 items
   * (over the free room of ~420), 300 counted as new (within it), so the
   * table does not grow. */
  n = 0;
  for (int rep = 0; rep < 2; rep++)
    for (size_t i = 0; i < OLD + NEW1; i++)
      items[n++] = i;
  shuffle_items(items, n, 17);
  for (size_t i = 0; i < n; i++)
    g[i] = (float)((int)((i * 104729) % 2001) - 1000) / 700.0f;
  push_items_check(s, &o, keys, OLD + NEW1, items, g, n, ref_w, ref_s);
  assert_int_equal(stats(s).sparse_keys, OLD + NEW1);
  assert_int_equal(stats(s).sparse_capacity, cap0);
  /* Absent keys read 0 and are not inserted. */
  float out[4];
  assert_int_equal(ps_store_pull(s, keys + OLD + NEW1, 4, out), PC_OK);
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
  enum { OLD = 200000, NEW = 100000 };
  enum { NKEYS = OLD + NEW };
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.01f, 0.1f);
  ps_store_t *s = store_new(&o, NULL, 0);
  uint64_t *rnd = random_keys(OLD + NEW, 777);
  uint64_t *keys = malloc(NKEYS * sizeof *keys), *kb = malloc(3 * NKEYS * sizeof *kb);
  float *ref_w = calloc(NKEYS, sizeof *ref_w), *ref_s = malloc(NKEYS * sizeof *ref_s);
  float *g = malloc(3 * NKEYS * sizeof *g), *out = malloc(NKEYS * sizeof *out);
  size_t *items = malloc(3 * NKEYS * sizeof *items);
  assert_true(rnd && keys && kb && ref_w && ref_s && g && out && items);
  for (size_t i = 0; i < NKEYS; i++) {
    keys[i] = rnd[i];
    ref_s[i] = o.init_accum;
  }
  pc_err_t err = {0};
  /* The old keys, then a big push of old keys only (it takes
   * the scratch memory a later push of that size needs). */
  size_t n = 0;
  for (size_t i = 0; i < OLD; i++)
    items[n++] = i;
  for (int rep = 0; rep < 2; rep++)
    for (size_t i = 0; i < OLD; i++)
      items[n++] = i;
  for (size_t i = 0; i < n; i++) {
    kb[i] = keys[items[i]];
    g[i] = (float)((int)((i * 7919) % 2001) - 1000) / 1000.0f;
    ps_optim_apply(&o, &ref_w[items[i]], &ref_s[items[i]], g[i]);
  }
  assert_int_equal(ps_store_push(s, kb, g, OLD, &err), PC_OK);
  assert_int_equal(ps_store_push(s, kb + OLD, g + OLD, n - OLD, &err),
                   PC_OK);
  const ps_store_stats_t before = stats(s);
  assert_int_equal(before.sparse_keys, OLD);
  /* Every key (old, new; some twice), shuffled: needs growth (and
   * no more scratch than the push above). */
  n = 0;
  for (size_t i = 0; i < NKEYS; i++) {
    items[n++] = i;
    if (i % 4 == 0)
      items[n++] = i;
  }
  shuffle_items(items, n, 3);
  assert_true(n <= 2 * (OLD));
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
  check_iteration(s, keys, OLD, ref_w, ref_s);
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

/* ---- tables of any width ------------------------------------------------ */

static void pull_n(ps_store_t *s, const uint64_t *keys, size_t n, float *out) {
  assert_int_equal(ps_store_pull(s, keys, n, out), PC_OK);
}

static void push_n(ps_store_t *s, const uint64_t *keys, const float *g, size_t n) {
  pc_err_t err = {0};
  if (ps_store_push(s, keys, g, n, &err) != PC_OK)
    fail_msg("push: %s", err.msg);
}

/* AdaGrad keeps one accumulator per value: worked out by hand, for a
 * sparse and a dense table of width 3 (lr 0.5, l2 0, init_accum 0). */
static void test_wide_adagrad_per_value(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  const pc_table_t t[2] = {table(0, PC_TABLE_SPARSE, 100, 3, PC_INIT_ZEROS, 0, 1),
                           table(1, PC_TABLE_DENSE, 10, 3, PC_INIT_ZEROS, 0, 1)};
  const ps_store_range_t r = {T1(0), T1(10)};
  ps_store_t *s = store_tables(&o, 1, t, 2, &r, 1);
  assert_int_equal(ps_store_width(s, 7), 3);
  assert_int_equal(ps_store_width(s, T1(9)), 3);
  const uint64_t keys[2][2] = {{7, 8}, {T1(7), T1(8)}};
  for (int k = 0; k < 2; k++) {
    /* key 7 gets (3, 4, 0) then (4, 3, 12) in one push; key 8 (0, 0, 2):
     *   after (3,4,0):  s = (9, 16, 0)   w = (-0.5, -0.5, 0)
     *   after (4,3,12): s = (25, 25, 144) w = (-0.5 - 0.5*4/5, -0.5 - 0.5*3/5, -0.5*12/12)
     *                                      = (-0.9, -0.8, -0.5)
     *   key 8: s = (0, 0, 4), w = (0, 0, -0.5) */
    const uint64_t kk[3] = {keys[k][0], keys[k][1], keys[k][0]};
    const float g[9] = {3, 4, 0, 0, 0, 2, 4, 3, 12};
    push_n(s, kk, g, 3);
    float out[6];
    pull_n(s, keys[k], 2, out);
    const float want[6] = {-0.9f, -0.8f, -0.5f, 0.0f, 0.0f, -0.5f};
    for (int i = 0; i < 6; i++)
      assert_float_equal(out[i], want[i], TOL);
    /* The states, through the iterator. */
    const float want_s[6] = {25, 25, 144, 0, 0, 4};
    ps_store_iter_t it = PS_STORE_ITER_INIT((uint32_t)k);
    uint64_t key;
    const float *w, *st;
    int seen = 0;
    while (ps_store_iter_next(s, &it, &key, &w, &st)) {
      if (key != keys[k][0] && key != keys[k][1])
        continue;
      int j = key == keys[k][0] ? 0 : 1;
      assert_non_null(st);
      for (int v = 0; v < 3; v++) {
        assert_float_equal(w[v], want[3 * j + v], TOL);
        assert_float_equal(st[v], want_s[3 * j + v], TOL);
      }
      seen++;
    }
    assert_int_equal(seen, 2);
  }
  ps_store_stats_t st = stats(s);
  assert_int_equal(st.sparse_keys, 2);
  assert_int_equal(st.dense_keys, 10);
  /* Entries of 8 + 3*4*2 = 32 bytes; dense keys 3 values + 3 states. */
  assert_int_equal(st.bytes, st.sparse_capacity * 32 + 10 * 24);
  ps_store_destroy(&s);
}

/* SGD with L2 on every value of a wide key. */
static void test_wide_sgd_l2_per_value(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 0.1f, 0.5f, 0.0f);
  const pc_table_t t = table(0, PC_TABLE_SPARSE, SPACE, 2, PC_INIT_ZEROS, 0, 1);
  ps_store_t *s = store_tables(&o, 1, &t, 1, NULL, 0);
  /* w = (0, 0), g = (1, -2): w = (-0.1, 0.2); g = (3, 1):
   *   w0 = -0.1 - 0.1*(3 + 0.5*-0.1) = -0.1 - 0.295 = -0.395
   *   w1 =  0.2 - 0.1*(1 + 0.5*0.2)  =  0.2 - 0.11  =  0.09 */
  const uint64_t k = 42;
  const float g1[2] = {1, -2}, g2[2] = {3, 1};
  push_n(s, &k, g1, 1);
  push_n(s, &k, g2, 1);
  float out[2];
  pull_n(s, &k, 1, out);
  assert_float_equal(out[0], -0.395, TOL);
  assert_float_equal(out[1], 0.09, TOL);
  /* 12 + 4 bytes per entry without state. */
  assert_int_equal(stats(s).bytes, stats(s).sparse_capacity * 16);
  ps_store_destroy(&s);
}

/* Wide dense ranges: pull_range / push_range inside one range (one array
 * operation), across two ranges (key by key), and over keys not held. */
static void test_wide_dense_ranges(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_SGD, 1.0f, 0.0f, 0.0f);
  const pc_table_t t[2] = {table(0, PC_TABLE_SPARSE, 1000, 2, PC_INIT_ZEROS, 0, 1),
                           table(1, PC_TABLE_DENSE, 1000, 4, PC_INIT_ZEROS, 0, 1)};
  const ps_store_range_t r[2] = {{T1(20), T1(30)}, {T1(10), T1(20)}};
  ps_store_t *s = store_tables(&o, 1, t, 2, r, 2);
  pc_err_t err = {0};
  enum { N = 20, W = 4 };
  float g[N * W], out[N * W];
  for (int i = 0; i < N * W; i++)
    g[i] = (float)(i + 1);
  /* [12, 18) lies in one range; [15, 25) spans both. lr 1: w = -sum g. */
  assert_int_equal(ps_store_push_range(s, T1(12), T1(18), g, &err), PC_OK);
  assert_int_equal(ps_store_push_range(s, T1(15), T1(25), g, &err), PC_OK);
  assert_int_equal(ps_store_pull_range(s, T1(10), T1(30), out), PC_OK);
  for (int k = 10; k < 30; k++)
    for (int v = 0; v < W; v++) {
      float want = 0;
      if (k >= 12 && k < 18)
        want -= g[(k - 12) * W + v];
      if (k >= 15 && k < 25)
        want -= g[(k - 15) * W + v];
      assert_float_equal(out[(k - 10) * W + v], want, TOL);
    }
  /* Keys by list, widths of values, and the iterator in key order. */
  const uint64_t keys[2] = {T1(29), T1(10)};
  const float g2[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  push_n(s, keys, g2, 2);
  float two[8];
  pull_n(s, keys, 2, two);
  for (int v = 0; v < W; v++) {
    assert_float_equal(two[v], -g2[v], TOL);
    assert_float_equal(two[W + v], -g2[W + v], TOL);
  }
  ps_store_iter_t it = PS_STORE_ITER_INIT(1);
  uint64_t key;
  const float *w, *st;
  for (uint64_t k = 10; k < 30; k++) {
    assert_int_equal(ps_store_iter_next(s, &it, &key, &w, &st), 1);
    assert_int_equal(key, T1(k));
    assert_null(st);
  }
  assert_int_equal(ps_store_iter_next(s, &it, &key, &w, &st), 0);
  /* [25, 35) is held only in part: refused, nothing changes. */
  assert_int_equal(ps_store_pull_range(s, T1(25), T1(35), out), PC_EINVAL);
  assert_int_equal(ps_store_push_range(s, T1(25), T1(35), g, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "not held by this server"));
  assert_int_equal(ps_store_pull_range(s, T1(25), T1(30), out), PC_OK);
  for (int i = 0; i < 4 * W; i++)
    assert_true(out[i] == 0.0f);
  /* A sparse range of width 2 goes key by key and stores its keys. */
  assert_int_equal(ps_store_push_range(s, 5, 9, g, &err), PC_OK);
  assert_int_equal(ps_store_pull_range(s, 4, 10, out), PC_OK);
  for (int i = 0; i < 12; i++)
    assert_float_equal(out[i], i >= 2 && i < 10 ? -g[i - 2] : 0.0f, TOL);
  assert_int_equal(stats(s).sparse_keys, 4);
  ps_store_destroy(&s);
}

/* Several tables in one store, sparse and dense, widths 1 to 5, each with
 * its own rule; a push to one leaves the others alone. */
static void test_several_tables(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  const pc_table_t t[4] = {table(0, PC_TABLE_SPARSE, SPACE, 1, PC_INIT_ZEROS, 0, 1),
                           table(1, PC_TABLE_SPARSE, 50, 5, PC_INIT_UNIFORM, 0.1f, 1),
                           table(2, PC_TABLE_DENSE, 8, 3, PC_INIT_NORMAL, 0.5f, 1),
                           table(3, PC_TABLE_DENSE, 4, 2, PC_INIT_ZEROS, 0, 0)};
  const ps_store_range_t r[2] = {{pc_table_key(2, 0), pc_table_key(2, 8)},
                                 {pc_table_key(3, 0), pc_table_key(3, 4)}};
  ps_store_t *s = store_tables(&o, 9, t, 4, r, 2);
  const uint32_t widths[4] = {1, 5, 3, 2};
  for (uint32_t i = 0; i < 4; i++) {
    assert_int_equal(ps_store_width(s, pc_table_key(i, 0)), widths[i]);
    assert_int_equal(ps_store_width(s, pc_table_key(i, t[i].size - 1)), widths[i]);
  }
  assert_int_equal(ps_store_width(s, pc_table_key(1, 50)), 0);
  assert_int_equal(ps_store_width(s, pc_table_key(3, 4)), 0);
  assert_int_equal(ps_store_width(s, pc_table_key(4, 0)), 0);
  assert_int_equal(ps_store_width(s, PS_KEY_INVALID), 0);
  /* Key 3 in every table, pulled before and after a push to table 0. */
  float before[11], after[11];
  for (uint32_t i = 0, off = 0; i < 4; off += widths[i], i++) {
    const uint64_t k = pc_table_key(i, 3);
    pull_n(s, &k, 1, before + off);
  }
  const uint64_t k0 = 3;
  const float g = 3.0f;
  push_n(s, &k0, &g, 1);
  for (uint32_t i = 0, off = 0; i < 4; off += widths[i], i++) {
    const uint64_t k = pc_table_key(i, 3);
    pull_n(s, &k, 1, after + off);
  }
  assert_float_equal(after[0], -0.5, TOL);
  assert_memory_equal(before + 1, after + 1, 10 * sizeof(float));
  /* Table 3 adds what is pushed (no optimizer); table 1 stores its key. */
  const uint64_t k3 = pc_table_key(3, 3), k1 = pc_table_key(1, 3);
  const float g3[2] = {2.5f, -1.0f}, g1[5] = {0, 0, 0, 0, 0};
  push_n(s, &k3, g3, 1);
  push_n(s, &k3, g3, 1);
  push_n(s, &k1, g1, 1);
  float v3[2];
  pull_n(s, &k3, 1, v3);
  assert_true(v3[0] == 5.0f && v3[1] == -2.0f);
  ps_store_stats_t st = stats(s);
  assert_int_equal(st.sparse_keys, 2);
  assert_int_equal(st.dense_keys, 12);
  /* Table 0: 16-byte entries; table 1: 8 + 5*4*2 = 48; table 2: 3 values
   * and 3 states per key; table 3: 2 values, no state. Each table's
   * stored keys, and no other table's, come from its iterator. */
  ps_store_iter_t it = PS_STORE_ITER_INIT(0);
  uint64_t key;
  const float *w, *sp;
  assert_int_equal(ps_store_iter_next(s, &it, &key, &w, &sp), 1);
  assert_int_equal(key, 3);
  assert_int_equal(ps_store_iter_next(s, &it, &key, &w, &sp), 0);
  ps_store_iter_t it1 = PS_STORE_ITER_INIT(1);
  assert_int_equal(ps_store_iter_next(s, &it1, &key, &w, &sp), 1);
  assert_int_equal(key, k1);
  assert_int_equal(ps_store_iter_next(s, &it1, &key, &w, &sp), 0);
  ps_store_iter_t it3 = PS_STORE_ITER_INIT(3);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(ps_store_iter_next(s, &it3, &key, &w, &sp), 1);
    assert_null(sp); /* no optimizer: no state, even under AdaGrad */
  }
  assert_int_equal(ps_store_iter_next(s, &it3, &key, &w, &sp), 0);
  /* First hash tables: 1024 slots of 16 bytes, 16 KiB / 48 = 341 slots. */
  assert_int_equal(st.bytes, 1024 * 16 + 341 * 48 + 8 * 24 + 4 * 8);
  ps_store_destroy(&s);
}

/* Initial values: deterministic, the same pulled before a key is stored
 * and after, from two stores with one seed, different with another seed;
 * zeros tables read 0. */
static void test_initial_values(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.1f);
  const pc_table_t t[3] = {table(0, PC_TABLE_SPARSE, 1000, 4, PC_INIT_UNIFORM, 0.25f, 1),
                           table(1, PC_TABLE_DENSE, 100, 3, PC_INIT_NORMAL, 2.0f, 1),
                           table(2, PC_TABLE_SPARSE, 1000, 2, PC_INIT_ZEROS, 0, 1)};
  const ps_store_range_t r[2] = {{T1(10), T1(20)}, {T1(50), T1(60)}};
  ps_store_t *a = store_tables(&o, 42, t, 3, r, 2), *b = store_tables(&o, 42, t, 3, r, 2);
  ps_store_t *c = store_tables(&o, 43, t, 3, r, 2);
  const uint64_t sk[3] = {0, 7, 999}, dk[3] = {T1(10), T1(19), T1(55)};
  float va[12], vb[12], vc[12], want[12];
  /* Sparse: never pushed reads its initial row, equal in a and b, not in
   * c, and equal to pc_table_init_row; nothing is stored. */
  pull_n(a, sk, 3, va);
  pull_n(b, sk, 3, vb);
  pull_n(c, sk, 3, vc);
  for (int i = 0; i < 3; i++)
    pc_table_init_row(&t[0], 42, sk[i], want + 4 * i);
  assert_memory_equal(va, want, sizeof want);
  assert_memory_equal(va, vb, sizeof va);
  assert_memory_not_equal(va, vc, sizeof va);
  int nonzero = 0;
  for (int i = 0; i < 12; i++) {
    assert_true(fabsf(va[i]) <= 0.25f);
    nonzero += va[i] != 0.0f;
  }
  assert_true(nonzero > 0);
  assert_int_equal(stats(a).sparse_keys, 0);
  /* The first push stores the initial row, then applies the update: a
   * zero gradient leaves it (AdaGrad: 0 / (sqrt(0.1) + eps) = 0). */
  const float zero[12] = {0};
  push_n(a, sk, zero, 3);
  assert_int_equal(stats(a).sparse_keys, 3);
  pull_n(a, sk, 3, va);
  assert_memory_equal(va, want, sizeof want);
  /* Every value of a stored key has its own state, from init_accum. */
  ps_store_iter_t is = PS_STORE_ITER_INIT(0);
  uint64_t key;
  const float *w, *st;
  int stored = 0;
  while (ps_store_iter_next(a, &is, &key, &w, &st)) {
    for (int v = 0; v < 4; v++)
      assert_true(st[v] == 0.1f);
    stored++;
  }
  assert_int_equal(stored, 3);
  /* Dense: initialized at creation, the same in a and b, not in c. */
  pull_n(a, dk, 3, va);
  pull_n(b, dk, 3, vb);
  pull_n(c, dk, 3, vc);
  for (int i = 0; i < 3; i++)
    pc_table_init_row(&t[1], 42, pc_table_local(dk[i]), want + 3 * i);
  assert_memory_equal(va, want, 9 * sizeof(float));
  assert_memory_equal(va, vb, 9 * sizeof(float));
  assert_memory_not_equal(va, vc, 9 * sizeof(float));
  /* The iterator gives the same values, and the states start at
   * init_accum. */
  ps_store_iter_t it = PS_STORE_ITER_INIT(1);
  assert_int_equal(ps_store_iter_next(a, &it, &key, &w, &st), 1);
  assert_int_equal(key, T1(10));
  assert_memory_equal(w, want, 3 * sizeof(float));
  for (int v = 0; v < 3; v++)
    assert_true(st[v] == 0.1f);
  /* Zeros reads 0, before and after a push of zeros. */
  const uint64_t zk[2] = {pc_table_key(2, 5), pc_table_key(2, 6)};
  float z[4] = {1, 1, 1, 1};
  pull_n(a, zk, 2, z);
  for (int i = 0; i < 4; i++)
    assert_true(z[i] == 0.0f);
  push_n(a, zk, zero, 2);
  pull_n(a, zk, 2, z);
  for (int i = 0; i < 4; i++)
    assert_true(z[i] == 0.0f);
  ps_store_destroy(&a);
  ps_store_destroy(&b);
  ps_store_destroy(&c);
}

/* A table without optimize adds what is pushed: no learning rate, no L2,
 * no state (so fewer bytes), sparse and dense, width 1 and wider. */
static void test_optimize_off_adds(void **state) {
  (void)state;
  const pc_optim_type_t types[2] = {PC_OPTIM_SGD, PC_OPTIM_ADAGRAD};
  for (int ty = 0; ty < 2; ty++) {
    ps_optim_t o = optim(types[ty], 0.1f, 0.5f, 0.1f);
    const pc_table_t t[3] = {table(0, PC_TABLE_SPARSE, SPACE, 1, PC_INIT_ZEROS, 0, 0),
                             table(1, PC_TABLE_DENSE, 10, 3, PC_INIT_ZEROS, 0, 0),
                             table(2, PC_TABLE_SPARSE, 100, 3, PC_INIT_UNIFORM, 1.0f, 0)};
    const ps_store_range_t r = {T1(0), T1(10)};
    ps_store_t *s = store_tables(&o, 1, t, 3, &r, 1);
    const uint64_t k0[2] = {77, 77}, k1[2] = {T1(2), T1(2)}, k2 = pc_table_key(2, 9);
    const float g[6] = {1.5f, 2.0f, -4.0f, 0.25f, 0.5f, 1.0f};
    push_n(s, k0, g, 2);
    push_n(s, k1, g, 2);
    float init[3], out[3];
    pc_table_init_row(&t[2], 1, 9, init);
    push_n(s, &k2, g, 1);
    pull_n(s, k0, 1, out);
    assert_true(out[0] == 3.5f);
    pull_n(s, k1, 1, out);
    assert_true(out[0] == 1.75f && out[1] == 2.5f && out[2] == -3.0f);
    pull_n(s, &k2, 1, out);
    for (int v = 0; v < 3; v++)
      assert_true(out[v] == init[v] + g[v]);
    assert_true(ps_optim_all_finite(out, 3));
    /* Pushes by range add too. */
    assert_int_equal(ps_store_push_range(s, T1(2), T1(3), g, NULL), PC_OK);
    pull_n(s, k1, 1, out);
    assert_true(out[0] == 3.25f && out[1] == 4.5f && out[2] == -7.0f);
    ps_store_iter_t it = PS_STORE_ITER_INIT(0);
    uint64_t key;
    const float *w, *sp = g;
    assert_int_equal(ps_store_iter_next(s, &it, &key, &w, &sp), 1);
    assert_null(sp);
    /* Entries of 12 (width 1) and 20 (width 3: 16 KiB / 20 = 819 slots)
     * bytes; dense keys 3 values. */
    assert_int_equal(stats(s).bytes, 1024 * 12 + 819 * 20 + 10 * 12);
    ps_store_destroy(&s);
  }
}

/* The optimizer state of key in table tab (width w), through the iterator. */
static void state_of(const ps_store_t *s, uint32_t tab, uint64_t key, size_t w, float *out) {
  ps_store_iter_t it = PS_STORE_ITER_INIT(tab);
  uint64_t k;
  const float *v, *st;
  while (ps_store_iter_next(s, &it, &k, &v, &st))
    if (k == key) {
      assert_non_null(st);
      memcpy(out, st, w * sizeof *out);
      return;
    }
  fail_msg("key %" PRIu64 " not stored in table %u", key, tab);
}

/* Fine-tuning's load: assign sets values (sparse keys, new or pushed
 * before; dense keys, by key and by range; a table without optimize is
 * set, not added to) and resets the optimizer state to init_accum, so the
 * next push is a fresh key's first step from the assigned value. A
 * refused assign changes nothing. */
static void test_assign(void **state) {
  (void)state;
  const float acc0 = 0.25f;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, acc0);
  const pc_table_t t[3] = {table(0, PC_TABLE_SPARSE, SPACE, 1, PC_INIT_ZEROS, 0, 1),
                           table(1, PC_TABLE_DENSE, 10, 3, PC_INIT_ZEROS, 0, 1),
                           table(2, PC_TABLE_SPARSE, 100, 2, PC_INIT_UNIFORM, 1.0f, 0)};
  const ps_store_range_t r[2] = {{T1(0), T1(4)}, {T1(6), T1(10)}};
  ps_store_t *s = store_tables(&o, 1, t, 3, r, 2);
  pc_err_t err = {0};
  const uint64_t k0[2] = {5, 9};
  const float g[2] = {3.0f, -1.0f};
  push_n(s, k0, g, 1); /* key 5 has state now; key 9 is new to the store */
  push_n(s, k0, g, 1);
  const float a0[2] = {2.0f, -1.5f};
  assert_int_equal(ps_store_assign(s, k0, a0, 2, &err), PC_OK);
  float out[9], st[3];
  pull_n(s, k0, 2, out);
  assert_true(out[0] == 2.0f && out[1] == -1.5f);
  state_of(s, 0, 5, 1, st);
  assert_true(st[0] == acc0);
  state_of(s, 0, 9, 1, st);
  assert_true(st[0] == acc0);
  /* The next push is a fresh first step from the assigned value. */
  float w = 2.0f, sw = acc0;
  ps_optim_adagrad_step(&w, &sw, 1.0f, 0.5f, 0.0f, 1e-8f);
  const float one = 1.0f;
  push_n(s, k0, &one, 1);
  assert_true(pull1(s, 5) == w);

  /* Dense, by range inside one range and by key. */
  const uint64_t d1[2] = {T1(1), T1(7)};
  push_n(s, d1, (const float[6]){1, 1, 1, 1, 1, 1}, 2);
  const float dv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  assert_int_equal(ps_store_assign_range(s, T1(0), T1(3), dv, &err), PC_OK);
  assert_int_equal(ps_store_pull_range(s, T1(0), T1(3), out), PC_OK);
  assert_memory_equal(out, dv, sizeof dv);
  state_of(s, 1, T1(1), 3, st);
  assert_true(st[0] == acc0 && st[1] == acc0 && st[2] == acc0);
  assert_int_equal(ps_store_assign(s, &d1[1], dv + 6, 1, &err), PC_OK);
  pull_n(s, &d1[1], 1, out);
  assert_true(out[0] == 7 && out[1] == 8 && out[2] == 9);
  state_of(s, 1, T1(7), 3, st);
  assert_true(st[0] == acc0 && st[2] == acc0);

  /* A table without optimize is set, not added to. */
  const uint64_t k2 = pc_table_key(2, 9);
  push_n(s, &k2, (const float[2]){5, 5}, 1);
  assert_int_equal(ps_store_assign(s, &k2, (const float[2]){-2, 0.5f}, 1, &err), PC_OK);
  pull_n(s, &k2, 1, out);
  assert_true(out[0] == -2.0f && out[1] == 0.5f);

  /* Refused: a non-finite value, a dense key not held (T1(4), T1(5)),
   * a block across the gap between ranges. Nothing changes. */
  const float bad[2] = {1.0f, NAN};
  assert_int_equal(ps_store_assign(s, k0, bad, 2, &err), PC_EDATA);
  const uint64_t gap[2] = {T1(2), T1(4)};
  assert_int_equal(ps_store_assign(s, gap, dv, 2, &err), PC_EINVAL);
  const float five[15] = {0};
  assert_int_equal(ps_store_assign_range(s, T1(2), T1(7), five, &err), PC_EINVAL);
  assert_int_equal(ps_store_assign_range(s, T1(0), T1(2), (const float[6]){NAN}, &err),
                   PC_EDATA);
  assert_true(pull1(s, 9) == -1.5f && pull1(s, 5) == w);
  assert_int_equal(ps_store_pull_range(s, T1(0), T1(3), out), PC_OK);
  assert_memory_equal(out, dv, sizeof dv);
  ps_store_destroy(&s);
}

/* ps_store_dense_bytes: values and states of nkeys keys of a table. */
static void test_dense_bytes(void **state) {
  (void)state;
  ps_optim_t ada = optim(PC_OPTIM_ADAGRAD, 0.1f, 0.0f, 0.0f);
  ps_optim_t sgd = optim(PC_OPTIM_SGD, 0.1f, 0.0f, 0.0f);
  pc_table_t t = table(0, PC_TABLE_DENSE, 1000, 3, PC_INIT_ZEROS, 0, 1);
  assert_int_equal(ps_store_dense_bytes(&ada, &t, 1000), 1000 * 3 * 8);
  assert_int_equal(ps_store_dense_bytes(&sgd, &t, 1000), 1000 * 3 * 4);
  t.optimize = 0;
  assert_int_equal(ps_store_dense_bytes(&ada, &t, 1000), 1000 * 3 * 4);
  t.width = 1;
  t.optimize = 1;
  assert_int_equal(ps_store_dense_bytes(&ada, &t, 16), 16 * 8);
  t.width = PC_TABLE_MAX_WIDTH;
  assert_int_equal(ps_store_dense_bytes(&ada, &t, UINT64_MAX / 4), UINT64_MAX);
  /* What a store of those keys reports. */
  t = table(0, PC_TABLE_DENSE, 1000, 3, PC_INIT_ZEROS, 0, 1);
  const ps_store_range_t r = {100, 600};
  ps_store_t *s = store_tables(&ada, 1, &t, 1, &r, 1);
  assert_int_equal(stats(s).bytes, ps_store_dense_bytes(&ada, &t, 500));
  ps_store_destroy(&s);
}

/* A non-finite value anywhere in a wide push rejects all of it. */
static void test_wide_non_finite_rejected(void **state) {
  (void)state;
  ps_optim_t o = optim(PC_OPTIM_ADAGRAD, 0.5f, 0.0f, 0.0f);
  const pc_table_t t[2] = {table(0, PC_TABLE_SPARSE, 100, 3, PC_INIT_UNIFORM, 1.0f, 1),
                           table(1, PC_TABLE_DENSE, 10, 3, PC_INIT_ZEROS, 0, 1)};
  const ps_store_range_t r = {T1(0), T1(10)};
  ps_store_t *s = store_tables(&o, 3, t, 2, &r, 1);
  pc_err_t err = {0};
  const uint64_t keys[2][2] = {{4, 5}, {T1(4), T1(5)}};
  for (int k = 0; k < 2; k++) {
    float before[6], after[6];
    pull_n(s, keys[k], 2, before);
    float g[6] = {1, 1, 1, 1, 1, 1};
    g[4] = NAN; /* value 1 of the second key */
    assert_int_equal(ps_store_push(s, keys[k], g, 2, &err), PC_EDATA);
    assert_non_null(strstr(err.msg, "value 1 of 3"));
    char want[32];
    snprintf(want, sizeof want, "key %" PRIu64 " ", keys[k][1]);
    assert_non_null(strstr(err.msg, want));
    pull_n(s, keys[k], 2, after);
    assert_memory_equal(before, after, sizeof before);
  }
  assert_int_equal(stats(s).sparse_keys, 0);
  assert_int_equal(stats(s).pushes_rejected, 2);
  ps_store_destroy(&s);
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
      cmocka_unit_test(test_iterator_per_table),
      cmocka_unit_test(test_mixed_push_existing_new_duplicates),
      cmocka_unit_test(test_failed_growth_leaves_store_unchanged),
      cmocka_unit_test(test_wide_adagrad_per_value),
      cmocka_unit_test(test_wide_sgd_l2_per_value),
      cmocka_unit_test(test_wide_dense_ranges),
      cmocka_unit_test(test_several_tables),
      cmocka_unit_test(test_initial_values),
      cmocka_unit_test(test_optimize_off_adds),
      cmocka_unit_test(test_assign),
      cmocka_unit_test(test_dense_bytes),
      cmocka_unit_test(test_wide_non_finite_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
