/* Minibatch building: unique keys, a correct slot for every non-zero, the
 * bias, and buffers reused across batches (including the map's generation
 * counter wrapping around) without stale entries leaking in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pw_batch.h"

/* A tiny CSR dataset: row i has the indices listed in rows_idx[i]. */
static void make_ds_keys(pw_dataset_t *ds, size_t n, size_t per_row, uint64_t seed,
                         uint64_t space) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->nnz = n * per_row;
  ds->row = malloc((n + 1) * sizeof *ds->row);
  ds->idx = malloc(ds->nnz * sizeof *ds->idx);
  ds->val = malloc(ds->nnz * sizeof *ds->val);
  ds->label = calloc(n, sizeof *ds->label);
  uint64_t x = seed;
  for (size_t i = 0; i <= n; i++)
    ds->row[i] = i * per_row;
  for (size_t j = 0; j < ds->nnz; j++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    ds->idx[j] = (x >> 33) % space;
    ds->val[j] = 1;
  }
}

static void make_ds(pw_dataset_t *ds, size_t n, size_t per_row, uint64_t seed) {
  make_ds_keys(ds, n, per_row, seed, 50); /* many repeats */
}

static void free_ds(pw_dataset_t *ds) {
  free(ds->row);
  free(ds->idx);
  free(ds->val);
  free(ds->label);
}

static void check_batch(const pw_batch_t *b, const pw_dataset_t *ds, const size_t *rows,
                        size_t nrows, uint64_t bias) {
  /* keys unique */
  for (size_t i = 0; i < b->nkeys; i++)
    for (size_t j = i + 1; j < b->nkeys; j++)
      assert_true(b->keys[i] != b->keys[j]);
  /* every non-zero's slot holds its key, in row order */
  size_t s = 0;
  for (size_t r = 0; r < nrows; r++)
    for (size_t j = ds->row[rows[r]]; j < ds->row[rows[r] + 1]; j++, s++) {
      assert_true(b->slot[s] < b->nkeys);
      assert_int_equal(b->keys[b->slot[s]], ds->idx[j]);
    }
  assert_int_equal(s, b->nslot);
  /* every key is used by some non-zero or is the bias */
  for (size_t i = 0; i < b->nkeys; i++) {
    int used = b->keys[i] == bias && b->bias_slot == i;
    for (size_t k = 0; k < b->nslot && !used; k++)
      used = b->slot[k] == i;
    assert_true(used);
  }
  if (bias != UINT64_MAX)
    assert_int_equal(b->keys[b->bias_slot], bias);
  else
    assert_int_equal(b->bias_slot, UINT32_MAX);
}

static void test_batches_reuse(void **state) {
  (void)state;
  pw_dataset_t ds;
  make_ds(&ds, 200, 7, 42);
  size_t rows[200];
  for (size_t i = 0; i < 200; i++)
    rows[i] = 199 - i;
  pw_batch_t b = {0};
  pc_err_t err;
  /* Different sizes and offsets, with and without bias, same batch object. */
  for (int round = 0; round < 50; round++) {
    size_t off = (size_t)(round * 13) % 150, n = 1 + (size_t)(round * 7) % 50;
    uint64_t bias = round % 3 ? 1000 : UINT64_MAX;
    assert_int_equal(pw_batch_build(&b, &ds, rows + off, n, bias, &err), PC_OK);
    check_batch(&b, &ds, rows + off, n, bias);
  }
  /* Force the generation counter to wrap: stale stamps must not match. */
  b.gen = UINT32_MAX - 1;
  for (int round = 0; round < 4; round++) {
    assert_int_equal(pw_batch_build(&b, &ds, rows, 30 + (size_t)round, 1000, &err), PC_OK);
    check_batch(&b, &ds, rows, 30 + (size_t)round, 1000);
  }
  pw_batch_free(&b);
  free_ds(&ds);
}

/* The key map is sized by unique keys: a batch of mostly distinct keys
 * makes it grow several times in the middle of a build (re-inserting the
 * keys so far), and small batches afterwards still come out right. */
static void test_map_grows(void **state) {
  (void)state;
  pw_dataset_t ds;
  make_ds_keys(&ds, 600, 9, 7, 1000000);
  size_t rows[600];
  for (size_t i = 0; i < 600; i++)
    rows[i] = (i * 7) % 600;
  pw_batch_t b = {0};
  pc_err_t err;
  assert_int_equal(pw_batch_build(&b, &ds, rows, 20, 5, &err), PC_OK);
  check_batch(&b, &ds, rows, 20, 5);
  size_t small_cap = b.map_cap;
  assert_int_equal(pw_batch_build(&b, &ds, rows, 600, 5, &err), PC_OK);
  check_batch(&b, &ds, rows, 600, 5);
  assert_true(b.nkeys > 5000);
  assert_true(b.map_cap >= 2 * b.nkeys && b.map_cap >= 8 * small_cap);
  for (int round = 0; round < 3; round++) {
    assert_int_equal(pw_batch_build(&b, &ds, rows + 100 * round, 50, UINT64_MAX, &err), PC_OK);
    check_batch(&b, &ds, rows + 100 * round, 50, UINT64_MAX);
  }
  pw_batch_free(&b);
  free_ds(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_batches_reuse),
                                     cmocka_unit_test(test_map_grows)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
