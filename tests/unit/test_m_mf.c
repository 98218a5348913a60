#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "pw_model.h"
#include "pw_modelops.h"
#include "trainloop.h"

static const pw_model_ops_t *ops(void) {
  const pw_model_ops_t *o = pw_model_ops_find(PC_MODEL_MF);
  assert_non_null(o);
  assert_string_equal(o->name, "mf");
  assert_int_equal(o->labels, PW_LABEL_REAL);
  return o;
}

static void config(pc_config_t *cfg, uint64_t features, int rank) {
  pc_config_defaults(cfg);
  cfg->model.type = PC_MODEL_MF;
  cfg->model.features = features;
  cfg->model.rank = rank;
  cfg->model.init_scale = 0.1;
  cfg->optimizer.type = PC_OPTIM_SGD;
  cfg->optimizer.lr = 1;
  cfg->optimizer.l2 = 0;
  cfg->training.seed = 11;
}

/* Users and items share ids (user 1 and item 1 are different keys). */
static void small_data(pw_dataset_t *ds) {
  static const uint64_t u[9] = {0, 0, 1, 1, 2, 3, 3, 3, 1};
  static const uint64_t i[9] = {1, 2, 1, 0, 3, 3, 1, 0, 2};
  static const float r[9] = {4, 3, 5, 1, 2, 4, 4, 3, 5};
  assert_int_equal(tl_ratings(ds, u, i, r, 9), PC_OK);
}

static void test_tables(void **s) {
  (void)s;
  pc_config_t cfg;
  config(&cfg, 100, 8);
  pw_shape_t shape = {.features = 100};
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0;
  void *st = NULL;
  pc_err_t err = {0};
  assert_int_equal(ops()->init(&st, &cfg, &shape, t, &nt, &err), PC_OK);
  assert_int_equal(pc_table_check(t, nt, &err), PC_OK);
  assert_int_equal(nt, 3);
  assert_string_equal(t[0].name, "emb");
  assert_int_equal(t[0].kind, PC_TABLE_SPARSE);
  assert_int_equal(t[0].size, 200);
  assert_int_equal(t[0].width, 8);
  assert_int_equal(t[0].init, PC_INIT_NORMAL);
  assert_float_equal(t[0].scale, 0.1, 1e-7);
  assert_string_equal(t[1].name, "bias");
  assert_int_equal(t[1].width, 1);
  assert_int_equal(t[1].init, PC_INIT_ZEROS);
  assert_string_equal(t[2].name, "mean");
  assert_int_equal(t[2].kind, PC_TABLE_DENSE);
  assert_int_equal(t[2].size, 1);
  assert_int_equal(t[2].width, 2);
  assert_int_equal(t[2].optimize, 0);
  ops()->fini(st);
}

static void test_gradcheck(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 4, 3);
  small_data(&ds);
  gradcheck(ops(), &cfg, &ds, 1.0, 1e-3, 1e-2, 100);
  config(&cfg, 50, 1);
  gradcheck(ops(), &cfg, &ds, 1.0, 1e-3, 1e-2, 100);
  tl_dataset_free(&ds);
}

/* The keys pulled, the mean from (sum, count), and what is pushed to it. */
static void test_batch_by_hand(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 4, 2);
  small_data(&ds);
  void *st = NULL, *b = NULL;
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, rows[3] = {2, 3, 0}; /* (1,1) 5, (1,0) 1, (0,1) 4 */
  pw_req_t r[PC_TABLE_MAX];
  pc_err_t err = {0};
  double loss = 0;
  assert_int_equal(ops()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(ops()->batch_new(st, &b, &err), PC_OK);
  assert_int_equal(ops()->batch_build(b, &ds, rows, 3, r, &nr, &err), PC_OK);
  assert_int_equal(nr, 3);
  /* user 1 -> 2, item 1 -> 3, item 0 -> 1, user 0 -> 0, first seen first */
  const uint64_t want[4] = {2, 3, 1, 0};
  assert_int_equal(r[0].nkeys, 4);
  assert_int_equal(r[1].nkeys, 4);
  for (size_t k = 0; k < 4; k++) {
    assert_int_equal(r[0].keys[k], want[k]);
    assert_int_equal(r[1].keys[k], pc_table_key(1, want[k]));
  }
  assert_true(r[2].range);
  assert_int_equal(r[2].begin, pc_table_key(2, 0));
  assert_int_equal(r[2].end, pc_table_key(2, 1));
  memset(r[0].vals, 0, 4 * 2 * sizeof(float));
  memset(r[1].vals, 0, 4 * sizeof(float));
  r[2].vals[0] = 35;
  r[2].vals[1] = 10; /* mu = 3.5 */
  r[1].vals[0] = 0.5f; /* b(user 1) */
  assert_int_equal(ops()->batch_grad(b, &ds, r, nr, &loss, &err), PC_OK);
  /* residuals 4 - 5 = -1, 4 - 1 = 3, 3.5 - 4 = -0.5 */
  assert_float_equal(loss, 0.5 * (1 + 9 + 0.25), 1e-9);
  assert_float_equal(r[1].grad[0], (-1 + 3) / 3.0, 1e-6);  /* user 1 */
  assert_float_equal(r[1].grad[1], (-1 - 0.5) / 3.0, 1e-6); /* item 1 */
  assert_float_equal(r[1].grad[2], 3 / 3.0, 1e-6);          /* item 0 */
  assert_float_equal(r[1].grad[3], -0.5 / 3.0, 1e-6);       /* user 0 */
  assert_float_equal(r[2].grad[0], 10, 1e-6); /* the batch's ratings, added */
  assert_float_equal(r[2].grad[1], 3, 1e-6);
  /* nothing added yet: the batch's own mean, 10/3 */
  r[2].vals[0] = r[2].vals[1] = 0;
  r[1].vals[0] = 0;
  assert_int_equal(ops()->batch_grad(b, &ds, r, nr, &loss, &err), PC_OK);
  double m = 10.0 / 3;
  assert_float_equal(loss, 0.5 * ((m - 5) * (m - 5) + (m - 1) * (m - 1) + (m - 4) * (m - 4)),
                     1e-6);
  ops()->batch_free(b);
  ops()->fini(st);
  tl_dataset_free(&ds);
}

static void put_table(pw_mtable_t *t, pc_table_t spec, size_t count, const uint64_t *keys,
                      const float *vals) {
  t->spec = spec;
  t->count = count;
  t->vals = malloc(count * spec.width * sizeof(float));
  memcpy(t->vals, vals, count * spec.width * sizeof(float));
  if (keys) {
    t->keys = malloc(count * sizeof(uint64_t));
    memcpy(t->keys, keys, count * sizeof(uint64_t));
  }
}

static void test_predict_by_hand(void **s) {
  (void)s;
  pc_config_t cfg;
  config(&cfg, 4, 2);
  pw_shape_t shape = {.features = 4};
  pw_model_t m;
  pc_err_t err = {0};
  memset(&m, 0, sizeof m);
  assert_int_equal(pw_model_describe(&m, &cfg, &shape, &err), PC_OK);
  /* user 1 = key 2: p = (1, 2), b = 0.25; item 2 = key 5: q = (0.5, -1),
   * b = -0.5; mu = 7 / 2 */
  const uint64_t k[2] = {2, 5};
  const float e[4] = {1, 2, 0.5f, -1}, bias[2] = {0.25f, -0.5f}, mean[2] = {7, 2};
  put_table(&m.tables[0], (pc_table_t){.name = "emb", .id = 0, .size = 8, .width = 2}, 2, k, e);
  put_table(&m.tables[1], (pc_table_t){.name = "bias", .id = 1, .size = 8, .width = 1}, 2, k,
            bias);
  put_table(&m.tables[2],
            (pc_table_t){.name = "mean", .id = 2, .kind = PC_TABLE_DENSE, .size = 1, .width = 2},
            1, NULL, mean);
  m.ntables = 3;
  /* (1,2); unseen user 3; item 9 beyond the model; user 2 = item 2's id */
  const uint64_t u[4] = {1, 3, 1, 2}, i[4] = {2, 2, 9, 2};
  const float r[4] = {0};
  pw_dataset_t ds;
  assert_int_equal(tl_ratings(&ds, u, i, r, 4), PC_OK);
  assert_int_equal(ops()->outputs(&m), 1);
  float out[4];
  assert_int_equal(ops()->predict(&m, &ds, NULL, 4, out, &err), PC_OK);
  assert_float_equal(out[0], 3.5 + 0.25 - 0.5 + (0.5 - 2), 1e-6);
  assert_float_equal(out[1], 3.5 - 0.5, 1e-6);
  assert_float_equal(out[2], 3.5 + 0.25, 1e-6);
  assert_float_equal(out[3], 3.5 - 0.5, 1e-6);
  pw_model_free(&m);
  tl_dataset_free(&ds);
}

static void test_refusals(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  small_data(&ds); /* ids 0..3 */
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, rows[2] = {0, 1};
  void *st = NULL, *b = NULL;
  pw_req_t r[PC_TABLE_MAX];
  pc_err_t err = {0};
  config(&cfg, 3, 2);
  assert_int_equal(ops()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_EINVAL);
  assert_null(st);
  assert_non_null(strstr(err.msg, "model.features: 3"));
  config(&cfg, 4, 0);
  assert_int_equal(ops()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "model.rank: 0"));
  config(&cfg, 4, 2);
  assert_int_equal(ops()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(ops()->batch_new(st, &b, &err), PC_OK);
  ds.idx[2] = 4; /* row 1's user: beyond model.features */
  assert_int_equal(ops()->batch_build(b, &ds, rows, 2, r, &nr, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "model.features 4"));
  ds.idx[2] = 0;
  ds.row[1] = 1; /* row 0 has one entry, row 1 three */
  assert_int_equal(ops()->batch_build(b, &ds, rows, 2, r, &nr, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "1 entries"));
  ops()->batch_free(b);
  ops()->fini(st);
  tl_dataset_free(&ds);
}

/* Ratings from a rank-2 model with biases, 60 % of a 40 x 40 matrix
 * observed: the emulated cluster must fit them (train loss down by 20x)
 * and the mean table must hold exactly the data's mean. */
static void test_learns(void **s) {
  (void)s;
  enum { U = 40, N = 960 };
  uint64_t u[N], it[N], rng = 17;
  float r[N], a[U][2], c[U][2];
  for (size_t k = 0; k < U; k++)
    for (size_t j = 0; j < 2; j++) {
      a[k][j] = (float)(tl_next(&rng) % 2001) / 1000.0f - 1.0f;
      c[k][j] = (float)(tl_next(&rng) % 2001) / 1000.0f - 1.0f;
    }
  double sum = 0;
  for (size_t n = 0; n < N; n++) {
    u[n] = tl_next(&rng) % U;
    it[n] = tl_next(&rng) % U;
    r[n] = 3.2f + 0.02f * (float)u[n] - 0.01f * (float)it[n] + a[u[n]][0] * c[it[n]][0] +
           a[u[n]][1] * c[it[n]][1];
    sum += r[n];
  }
  pw_dataset_t ds;
  assert_int_equal(tl_ratings(&ds, u, it, r, N), PC_OK);
  pc_config_t cfg;
  config(&cfg, U, 4);
  cfg.optimizer.lr = 4; /* 16 ratings a batch: 0.25 a rating */
  tl_run_t run;
  pc_err_t err = {0};
  assert_int_equal(tl_new(&run, ops(), &cfg, &ds, &err), PC_OK);
  double first = 0, last = 0;
  for (int e = 0; e < 200; e++)
    assert_int_equal(tl_epoch(&run, &ds, 16, e == 0 ? &first : &last, &err), PC_OK);
  print_message("train loss %g -> %g\n", first, last);
  if (!(last < first / 20))
    fail_msg("loss %g -> %g", first, last);
  pw_model_t m;
  assert_int_equal(tl_model(&run, &cfg, &ds, &m, &err), PC_OK);
  const float *mean = pw_model_row(&m, 2, 0);
  assert_non_null(mean);
  assert_float_equal(mean[0] / mean[1], sum / N, 1e-4);
  float *out = malloc(N * sizeof *out);
  assert_int_equal(ops()->predict(&m, &ds, NULL, N, out, &err), PC_OK);
  double se = 0;
  for (size_t n = 0; n < N; n++)
    se += (out[n] - r[n]) * (out[n] - r[n]);
  assert_float_equal(se / 2, last * N, 0.1 * last * N + 1e-3); /* predict agrees with training */
  free(out);
  pw_model_free(&m);
  tl_free(&run);
  tl_dataset_free(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables),
      cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_batch_by_hand),
      cmocka_unit_test(test_predict_by_hand),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_learns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
