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
  const pw_model_ops_t *o = pw_model_ops_find(PC_MODEL_LINEAR);
  assert_non_null(o);
  assert_string_equal(o->name, "linear");
  assert_int_equal(o->labels, PW_LABEL_REAL);
  return o;
}

static void config(pc_config_t *cfg, uint64_t features, pc_loss_t loss, double delta) {
  pc_config_defaults(cfg);
  cfg->model.type = PC_MODEL_LINEAR;
  cfg->model.features = features;
  cfg->model.bias = 1;
  cfg->model.loss = loss;
  cfg->model.huber_delta = delta;
  cfg->optimizer.type = PC_OPTIM_SGD;
  cfg->optimizer.lr = 0.05;
  cfg->optimizer.l2 = 0;
  cfg->training.seed = 3;
}

static void small_data(pw_dataset_t *ds) {
  static const float x[8 * 4] = {1, 0, 2, 0,  0, 1, 0, -1, 0.5, 0, 0, 3,  0, 0, 0, 0,
                                 2, 1, 0, 0,  0, 0, 1, 1,  -1, 2, 0, 0,  0, 0, 0, 2};
  static const float y[8] = {1.5f, -2, 0.25f, 3, -0.5f, 2, 1, -3};
  assert_int_equal(tl_dataset(ds, x, y, 8, 4, 0), PC_OK);
}

static void test_gradcheck_squared(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 4, PC_LOSS_SQUARED, 1);
  small_data(&ds);
  gradcheck(ops(), &cfg, &ds, 1.0, 1e-3, 1e-2, 100);
  cfg.model.layout = PC_LAYOUT_DENSE;
  cfg.model.bias = 0;
  gradcheck(ops(), &cfg, &ds, 1.0, 1e-3, 1e-2, 100);
  tl_dataset_free(&ds);
}

/* delta 0.5 with weights in [-1, 1] and labels up to 3: residuals on both
 * sides of delta, so both branches are checked. */
static void test_gradcheck_huber(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 4, PC_LOSS_HUBER, 0.5);
  small_data(&ds);
  gradcheck(ops(), &cfg, &ds, 1.0, 1e-3, 1e-2, 100);
  tl_dataset_free(&ds);
}

/* One example, all weights 0 but the bias b: residual r = b - y. */
static double one_loss(pc_loss_t loss, double delta, float b, float y, float *gbias) {
  pc_config_t cfg;
  config(&cfg, 2, loss, delta);
  const float x[2] = {1, 0};
  pw_dataset_t ds;
  assert_int_equal(tl_dataset(&ds, x, &y, 1, 2, 0), PC_OK);
  void *st = NULL, *bt = NULL;
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, row = 0;
  pw_req_t r[PC_TABLE_MAX];
  pc_err_t err = {0};
  double l = -1;
  assert_int_equal(ops()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(ops()->batch_new(st, &bt, &err), PC_OK);
  assert_int_equal(ops()->batch_build(bt, &ds, &row, 1, r, &nr, &err), PC_OK);
  for (size_t k = 0; k < r[0].nkeys; k++)
    r[0].vals[k] = r[0].keys[k] == 2 ? b : 0.0f;
  assert_int_equal(ops()->batch_grad(bt, &ds, r, nr, &l, &err), PC_OK);
  for (size_t k = 0; k < r[0].nkeys; k++)
    if (r[0].keys[k] == 2)
      *gbias = r[0].grad[k];
  ops()->batch_free(bt);
  ops()->fini(st);
  tl_dataset_free(&ds);
  return l;
}

static void test_losses_by_hand(void **s) {
  (void)s;
  float g = 0;
  assert_float_equal(one_loss(PC_LOSS_SQUARED, 1, 4, 1, &g), 4.5, 1e-9);
  assert_float_equal(g, 3, 1e-6);
  assert_float_equal(one_loss(PC_LOSS_HUBER, 1, 4, 1, &g), 2.5, 1e-9); /* 1 * (3 - 0.5) */
  assert_float_equal(g, 1, 1e-6);
  assert_float_equal(one_loss(PC_LOSS_HUBER, 1, -2, 1, &g), 2.5, 1e-9);
  assert_float_equal(g, -1, 1e-6);
  assert_float_equal(one_loss(PC_LOSS_HUBER, 2, 1.5f, 1, &g), 0.125, 1e-9); /* inside delta */
  assert_float_equal(g, 0.5, 1e-6);
}

static void test_predict_by_hand(void **s) {
  (void)s;
  pc_config_t cfg;
  config(&cfg, 3, PC_LOSS_SQUARED, 1);
  pw_shape_t shape = {.features = 3};
  pw_model_t m;
  pc_err_t err = {0};
  memset(&m, 0, sizeof m);
  assert_int_equal(pw_model_describe(&m, &cfg, &shape, &err), PC_OK);
  m.ntables = 1;
  m.tables[0].spec = (pc_table_t){.name = "w", .kind = PC_TABLE_SPARSE, .size = 4, .width = 1,
                                  .optimize = 1};
  m.tables[0].count = 3;
  m.tables[0].keys = malloc(3 * sizeof(uint64_t));
  m.tables[0].vals = malloc(3 * sizeof(float));
  const uint64_t k[3] = {0, 1, 3}; /* feature 2 never stored; 3 is the bias */
  const float v[3] = {2, -1, 0.5f};
  memcpy(m.tables[0].keys, k, sizeof k);
  memcpy(m.tables[0].vals, v, sizeof v);
  /* 0.5 + 2*1 - 1*3 + 0*7 = -0.5; the second row has only feature 4,
   * beyond the model: the bias alone */
  const float x[2 * 5] = {1, 3, 7, 0, 0, /**/ 0, 0, 0, 0, 9};
  const float y[2] = {0, 0};
  pw_dataset_t ds;
  assert_int_equal(tl_dataset(&ds, x, y, 2, 5, 0), PC_OK);
  assert_int_equal(ops()->outputs(&m), 1);
  float out[2];
  assert_int_equal(ops()->predict(&m, &ds, NULL, 2, out, &err), PC_OK);
  assert_float_equal(out[0], -0.5, 1e-6);
  assert_float_equal(out[1], 0.5, 1e-6);
  pw_model_free(&m);
  tl_dataset_free(&ds);
}

static void test_init_refusals(void **s) {
  (void)s;
  pc_config_t cfg;
  config(&cfg, 4, PC_LOSS_SQUARED, 1);
  pw_shape_t shape = {.features = 6};
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0;
  void *st = NULL;
  pc_err_t err = {0};
  assert_int_equal(ops()->init(&st, &cfg, &shape, t, &nt, &err), PC_EINVAL);
  assert_null(st);
  assert_non_null(strstr(err.msg, "model.features: 4"));
  shape.features = 4;
  assert_int_equal(ops()->init(&st, &cfg, &shape, t, &nt, &err), PC_OK);
  assert_int_equal(nt, 1);
  assert_int_equal(t[0].width, 1);
  assert_int_equal(t[0].size, 5);
  ops()->fini(st);
}

/* y = 2 x0 - x1 + 0.5 x2 + 1 (+ one wild label): trained in the emulated
 * cluster, the loss must fall to near zero; with an outlier, Huber must
 * land nearer the true weights than squared loss. Returns the distance
 * of the fit to the true plane at a probe point. */
static double fit(pc_loss_t loss, int outlier, double *first, double *last) {
  enum { N = 200, F = 3 };
  float x[N * F], y[N];
  uint64_t rng = 5;
  for (size_t i = 0; i < N; i++) {
    for (size_t j = 0; j < F; j++)
      x[i * F + j] = (float)(tl_next(&rng) % 2001) / 1000.0f - 1.0f;
    y[i] = 2 * x[i * F] - x[i * F + 1] + 0.5f * x[i * F + 2] + 1;
  }
  if (outlier)
    y[7] = 500;
  pw_dataset_t ds;
  assert_int_equal(tl_dataset(&ds, x, y, N, F, 1), PC_OK);
  pc_config_t cfg;
  config(&cfg, F, loss, 1);
  tl_run_t run;
  pc_err_t err = {0};
  assert_int_equal(tl_new(&run, ops(), &cfg, &ds, &err), PC_OK);
  for (int e = 0; e < 60; e++)
    assert_int_equal(tl_epoch(&run, &ds, 10, e == 0 ? first : last, &err), PC_OK);
  pw_model_t m;
  assert_int_equal(tl_model(&run, &cfg, &ds, &m, &err), PC_OK);
  const float px[F] = {0.5f, 0.5f, 0.5f}, py = 1;
  pw_dataset_t probe;
  assert_int_equal(tl_dataset(&probe, px, &py, 1, F, 1), PC_OK);
  float out;
  assert_int_equal(ops()->predict(&m, &probe, NULL, 1, &out, &err), PC_OK);
  pw_model_free(&m);
  tl_free(&run);
  tl_dataset_free(&ds);
  tl_dataset_free(&probe);
  return fabs(out - (1.0 + 0.5 * (2 - 1 + 0.5)));
}

static void test_learns(void **s) {
  (void)s;
  double first, last;
  double d = fit(PC_LOSS_SQUARED, 0, &first, &last);
  if (!(last < 1e-3 * first) || d > 0.01)
    fail_msg("squared: loss %g -> %g, off by %g", first, last, d);
  d = fit(PC_LOSS_HUBER, 0, &first, &last);
  if (!(last < 1e-2 * first) || d > 0.01)
    fail_msg("huber: loss %g -> %g, off by %g", first, last, d);
  double dsq = fit(PC_LOSS_SQUARED, 1, &first, &last);
  double dhu = fit(PC_LOSS_HUBER, 1, &first, &last);
  print_message("one outlier: squared off by %g, huber by %g\n", dsq, dhu);
  if (!(dhu < 0.1 && dhu < dsq / 4))
    fail_msg("one outlier: squared off by %g, huber by %g", dsq, dhu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradcheck_squared),
      cmocka_unit_test(test_gradcheck_huber),
      cmocka_unit_test(test_losses_by_hand),
      cmocka_unit_test(test_predict_by_hand),
      cmocka_unit_test(test_init_refusals),
      cmocka_unit_test(test_learns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
