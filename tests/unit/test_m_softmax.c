#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "pw_model.h"
#include "pw_modelops.h"
#include "trainloop.h"

static const pw_model_ops_t *ops(void) {
  const pw_model_ops_t *o = pw_model_ops_find(PC_MODEL_SOFTMAX);
  assert_non_null(o);
  assert_string_equal(o->name, "softmax");
  assert_int_equal(o->labels, PW_LABEL_CLASS);
  return o;
}

static void config(pc_config_t *cfg, uint64_t features, int classes, pc_layout_t layout) {
  pc_config_defaults(cfg);
  cfg->model.type = PC_MODEL_SOFTMAX;
  cfg->model.features = features;
  cfg->model.classes = classes;
  cfg->model.layout = layout;
  cfg->model.bias = 1;
  cfg->optimizer.type = PC_OPTIM_SGD;
  cfg->optimizer.lr = 0.5;
  cfg->optimizer.l2 = 0;
  cfg->training.seed = 7;
}

/* 12 examples of 5 features, 4 classes, some rows sparse. */
static void small_data(pw_dataset_t *ds, int dense) {
  static const float x[12 * 5] = {
      1, 0, 2, 0, 0,   0, 1, 0, -1, 0,  0.5, 0, 0, 0, 3,  0, 0, 0, 0, 0,
      2, 1, 0, 0, 1,   0, 0, 1, 1, 1,   -1, 2, 0, 0, 0,  0, 0, 0, 2, 0,
      1, 1, 1, 1, 1,   0, -2, 0, 0, 1,  3, 0, 0, 0, 0,   0, 0, 0.25, 0, 0};
  static const float y[12] = {0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3};
  assert_int_equal(tl_dataset(ds, x, y, 12, 5, dense), PC_OK);
}

static void test_gradcheck_sparse(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 6, 4, PC_LAYOUT_SPARSE);
  small_data(&ds, 0);
  gradcheck(ops(), &cfg, &ds, 0.5, 1e-3, 1e-2, 200);
  cfg.model.bias = 0;
  gradcheck(ops(), &cfg, &ds, 0.5, 1e-3, 1e-2, 200);
  tl_dataset_free(&ds);
}

/* Dense data on a dense table of exactly its features: pulled as one range. */
static void test_gradcheck_dense_range(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 5, 4, PC_LAYOUT_DENSE);
  small_data(&ds, 1);
  void *st = NULL, *b = NULL;
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, rows[3] = {0, 1, 2};
  pw_req_t r[PC_TABLE_MAX];
  pc_err_t err = {0};
  assert_int_equal(ops()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(nt, 1);
  assert_int_equal(t[0].kind, PC_TABLE_DENSE);
  assert_int_equal(t[0].size, 6);
  assert_int_equal(t[0].width, 4);
  assert_int_equal(t[0].init, PC_INIT_ZEROS);
  assert_int_equal(ops()->batch_new(st, &b, &err), PC_OK);
  assert_int_equal(ops()->batch_build(b, &ds, rows, 3, r, &nr, &err), PC_OK);
  assert_int_equal(nr, 1);
  assert_true(r[0].range);
  assert_int_equal(r[0].begin, 0);
  assert_int_equal(r[0].end, 6);
  assert_int_equal(r[0].nkeys, 6);
  ops()->batch_free(b);
  ops()->fini(st);
  gradcheck(ops(), &cfg, &ds, 0.5, 1e-3, 1e-2, 200);
  /* a dense table larger than the data's features: keys, not a range */
  config(&cfg, 9, 4, PC_LAYOUT_DENSE);
  gradcheck(ops(), &cfg, &ds, 0.5, 1e-3, 1e-2, 200);
  tl_dataset_free(&ds);
}

/* Large scores: the log-sum-exp must not overflow to inf/NaN. */
static void test_stable(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 5, 4, PC_LAYOUT_SPARSE);
  small_data(&ds, 0);
  void *st = NULL, *b = NULL;
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, rows[1] = {0}; /* label 0, features 0 and 2 */
  pw_req_t r[PC_TABLE_MAX];
  pc_err_t err = {0};
  double loss = 0;
  assert_int_equal(ops()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(ops()->batch_new(st, &b, &err), PC_OK);
  assert_int_equal(ops()->batch_build(b, &ds, rows, 1, r, &nr, &err), PC_OK);
  for (size_t k = 0; k < r[0].nkeys * 4; k++)
    r[0].vals[k] = 0;
  for (size_t k = 0; k < r[0].nkeys; k++)
    if (r[0].keys[k] == 0)
      r[0].vals[k * 4 + 1] = 1000; /* z = (0, 1000, 0, 0): loss 1000 */
  assert_int_equal(ops()->batch_grad(b, &ds, r, nr, &loss, &err), PC_OK);
  assert_float_equal(loss, 1000.0, 1e-6);
  for (size_t k = 0; k < r[0].nkeys * 4; k++)
    assert_true(isfinite(r[0].grad[k]));
  ops()->batch_free(b);
  ops()->fini(st);
  tl_dataset_free(&ds);
}

/* K = 3, 2 features and a bias, sparse table holding keys 0 and 2 only. */
static void test_predict_by_hand(void **s) {
  (void)s;
  pc_config_t cfg;
  config(&cfg, 2, 3, PC_LAYOUT_SPARSE);
  pw_shape_t shape = {.features = 2};
  pw_model_t m;
  pc_err_t err = {0};
  memset(&m, 0, sizeof m);
  assert_int_equal(pw_model_describe(&m, &cfg, &shape, &err), PC_OK);
  m.ntables = 1;
  m.tables[0].spec = (pc_table_t){.name = "w", .kind = PC_TABLE_SPARSE, .size = 3, .width = 3,
                                  .optimize = 1};
  m.tables[0].count = 2;
  m.tables[0].keys = malloc(2 * sizeof(uint64_t));
  m.tables[0].vals = malloc(6 * sizeof(float));
  const float v[6] = {-0.5f, 0, 0.69314718f, /* key 0 */ 0.5f, 0, 0 /* key 2: bias */};
  m.tables[0].keys[0] = 0;
  m.tables[0].keys[1] = 2;
  memcpy(m.tables[0].vals, v, sizeof v);
  /* row 0: x0 = 1, x1 = 2 (key 1 never stored: zeros): z = (0, 0, ln 2);
   * row 1: feature 5 is beyond the model: z = bias = (0.5, 0, 0) */
  const float x[2 * 6] = {1, 2, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, 1};
  const float y[2] = {0, 0};
  pw_dataset_t ds;
  assert_int_equal(tl_dataset(&ds, x, y, 2, 6, 0), PC_OK);
  assert_int_equal(ops()->outputs(&m), 3);
  float out[6];
  size_t rows[2] = {1, 0};
  assert_int_equal(ops()->predict(&m, &ds, NULL, 2, out, &err), PC_OK);
  assert_float_equal(out[0], 0.25, 1e-6);
  assert_float_equal(out[1], 0.25, 1e-6);
  assert_float_equal(out[2], 0.5, 1e-6);
  double e = exp(0.5);
  assert_float_equal(out[3], e / (e + 2), 1e-6);
  assert_float_equal(out[4], 1 / (e + 2), 1e-6);
  assert_float_equal(out[5], 1 / (e + 2), 1e-6);
  assert_int_equal(ops()->predict(&m, &ds, rows, 2, out, &err), PC_OK);
  assert_float_equal(out[0], e / (e + 2), 1e-6);
  assert_float_equal(out[5], 0.5, 1e-6);
  pw_model_free(&m);
  tl_dataset_free(&ds);
}

static void expect_init_error(const pc_config_t *cfg, uint64_t data_features, const char *what) {
  pw_shape_t shape = {.features = data_features};
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0;
  void *st = NULL;
  pc_err_t err = {0};
  assert_int_equal(ops()->init(&st, cfg, &shape, t, &nt, &err), PC_EINVAL);
  assert_null(st);
  if (strstr(err.msg, what) == NULL)
    fail_msg("'%s' does not name %s", err.msg, what);
}

static void test_init_refusals(void **s) {
  (void)s;
  pc_config_t cfg;
  config(&cfg, 10, 1, PC_LAYOUT_SPARSE);
  expect_init_error(&cfg, 10, "model.classes: 1");
  cfg.model.classes = 0;
  expect_init_error(&cfg, 10, "model.classes: 0");
  cfg.model.classes = 70000;
  expect_init_error(&cfg, 10, "model.classes: 70000");
  config(&cfg, 10, 3, PC_LAYOUT_DENSE);
  expect_init_error(&cfg, 11, "model.features: 10");
}

static void test_bad_rows(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 5, 4, PC_LAYOUT_SPARSE);
  small_data(&ds, 0);
  void *st = NULL, *b = NULL;
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, rows[2] = {0, 1};
  pw_req_t r[PC_TABLE_MAX];
  pc_err_t err = {0};
  double loss;
  assert_int_equal(ops()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(ops()->batch_new(st, &b, &err), PC_OK);
  ds.label[1] = 4; /* classes 0..3 */
  assert_int_equal(ops()->batch_build(b, &ds, rows, 2, r, &nr, &err), PC_OK);
  assert_int_equal(ops()->batch_grad(b, &ds, r, nr, &loss, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "label 4"));
  ds.idx[0] = 5; /* would be the bias key */
  assert_int_equal(ops()->batch_build(b, &ds, rows, 2, r, &nr, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "model.features is 5"));
  ops()->batch_free(b);
  ops()->fini(st);
  tl_dataset_free(&ds);
}

/* Three separable classes, each lit by its own feature plus shared noise:
 * the emulated cluster must take the loss from ln 3 to near 0 and
 * classify every example. */
static void learn(pc_layout_t layout, int dense) {
  enum { N = 90, F = 6 };
  float x[N * F], y[N];
  uint64_t rng = 99;
  for (size_t i = 0; i < N; i++) {
    y[i] = (float)(i % 3);
    for (size_t j = 0; j < F; j++)
      x[i * F + j] = j >= 3 && tl_next(&rng) % 2 ? (float)(tl_next(&rng) % 100) / 100.0f : 0.0f;
    x[i * F + i % 3] = 1.0f;
  }
  pw_dataset_t ds;
  assert_int_equal(tl_dataset(&ds, x, y, N, F, dense), PC_OK);
  pc_config_t cfg;
  config(&cfg, F, 3, layout);
  tl_run_t run;
  pc_err_t err = {0};
  assert_int_equal(tl_new(&run, ops(), &cfg, &ds, &err), PC_OK);
  double first = 0, last = 0;
  for (int e = 0; e < 30; e++)
    assert_int_equal(tl_epoch(&run, &ds, 8, e == 0 ? &first : &last, &err), PC_OK);
  assert_true(first > 0.5);
  if (!(last < 0.1))
    fail_msg("loss %g -> %g", first, last);
  pw_model_t m;
  assert_int_equal(tl_model(&run, &cfg, &ds, &m, &err), PC_OK);
  float out[N * 3];
  assert_int_equal(ops()->predict(&m, &ds, NULL, N, out, &err), PC_OK);
  for (size_t i = 0; i < N; i++) {
    size_t best = 0;
    for (size_t c = 1; c < 3; c++)
      best = out[i * 3 + c] > out[i * 3 + best] ? c : best;
    assert_int_equal(best, (size_t)y[i]);
  }
  pw_model_free(&m);
  tl_free(&run);
  tl_dataset_free(&ds);
}

static void test_learns_sparse(void **s) {
  (void)s;
  learn(PC_LAYOUT_SPARSE, 0);
}

static void test_learns_dense_range(void **s) {
  (void)s;
  learn(PC_LAYOUT_DENSE, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradcheck_sparse),
      cmocka_unit_test(test_gradcheck_dense_range),
      cmocka_unit_test(test_stable),
      cmocka_unit_test(test_predict_by_hand),
      cmocka_unit_test(test_init_refusals),
      cmocka_unit_test(test_bad_rows),
      cmocka_unit_test(test_learns_sparse),
      cmocka_unit_test(test_learns_dense_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
