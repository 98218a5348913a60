/* The logistic model on the model interface (worker/pw_m_logistic.c), and
 * the registry every model goes through (worker/pw_modelops.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "pw_evaluate.h"
#include "pw_logreg.h"
#include "pw_model.h"
#include "pw_modelops.h"
#include "trainloop.h"

static const pw_model_ops_t *ops(void) {
  const pw_model_ops_t *o = pw_model_ops_find(PC_MODEL_LOGISTIC);
  assert_non_null(o);
  assert_string_equal(o->name, "logistic");
  assert_int_equal(o->labels, PW_LABEL_BINARY);
  return o;
}

static void config(pc_config_t *cfg, uint64_t features, pc_layout_t layout, int bias) {
  pc_config_defaults(cfg);
  cfg->model.type = PC_MODEL_LOGISTIC;
  cfg->model.features = features;
  cfg->model.layout = layout;
  cfg->model.bias = bias;
  cfg->optimizer.type = PC_OPTIM_ADAGRAD;
  cfg->optimizer.lr = 0.5;
  cfg->optimizer.l2 = 0;
}

/* Sparse rows (zeros not stored), labels 0/1. */
static void small_data(pw_dataset_t *ds) {
  static const float x[8 * 5] = {1, 0, 2, 0, 0,  0, 1, 0, -1, 0,  0.5, 0, 0, 3, 1,
                                 0, 0, 0, 0, 2,  2, 1, 0, 0, 0,   0, 0, 1, 1, 0,
                                 -1, 2, 0, 0, 1, 0, 0, 0, 2, 0};
  static const float y[8] = {1, 0, 1, 1, 0, 1, 0, 0};
  assert_int_equal(tl_dataset(ds, x, y, 8, 5, 0), PC_OK);
}

/* The gradient of the mean log-loss against finite differences: hashed
 * and dense tables, with and without the bias key. */
static void test_gradcheck(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  small_data(&ds);
  pc_layout_t layouts[2] = {PC_LAYOUT_SPARSE, PC_LAYOUT_DENSE};
  for (int l = 0; l < 2; l++)
    for (int bias = 0; bias < 2; bias++) {
      config(&cfg, 5, layouts[l], bias);
      gradcheck(ops(), &cfg, &ds, 1.0, 1e-3, 1e-2, 100);
    }
  tl_dataset_free(&ds);
}

/* One table "w" of width 1 and features + bias keys, in the layout asked
 * for: the keys logistic regression used before tables existed. */
static void test_tables(void **s) {
  (void)s;
  pc_config_t cfg;
  pc_table_t t[PC_TABLE_MAX];
  size_t n = 0;
  void *st = NULL;
  pc_err_t err = {0};
  pw_shape_t shape = {.features = 124};
  config(&cfg, 124, PC_LAYOUT_DENSE, 1);
  assert_int_equal(ops()->init(&st, &cfg, &shape, t, &n, &err), PC_OK);
  assert_int_equal(n, 1);
  assert_string_equal(t[0].name, "w");
  assert_int_equal(t[0].kind, PC_TABLE_DENSE);
  assert_int_equal(t[0].size, 125);
  assert_int_equal(t[0].width, 1);
  assert_int_equal(t[0].init, PC_INIT_ZEROS);
  assert_int_equal(pc_table_check(t, n, &err), PC_OK);
  ops()->fini(st);
}

/* predict: sigmoid(w.x + b) from a trained model, a key the model does not
 * hold reading 0 and an index >= model.features ignored. */
static void test_predict(void **s) {
  (void)s;
  pc_config_t cfg;
  config(&cfg, 4, PC_LAYOUT_SPARSE, 1);
  pw_model_t m;
  pc_err_t err = {0};
  pw_shape_t shape = {.features = 4};
  assert_int_equal(pw_model_describe(&m, &cfg, &shape, &err), PC_OK);
  uint64_t keys[3] = {0, 2, 4}; /* 4: the bias */
  float vals[3] = {0.5f, -1.0f, 0.25f};
  m.ntables = 1;
  m.tables[0].spec = (pc_table_t){.name = "w", .kind = PC_TABLE_SPARSE, .size = 5, .width = 1};
  m.tables[0].count = 3;
  m.tables[0].keys = malloc(sizeof keys);
  m.tables[0].vals = malloc(sizeof vals);
  memcpy(m.tables[0].keys, keys, sizeof keys);
  memcpy(m.tables[0].vals, vals, sizeof vals);
  /* rows: {0: 2, 1: 3, 2: 1}, {}, {2: 1, 9: 100}; index 9 >= model.features
   * (4) is ignored */
  static const float x[3 * 10] = {2, 3, 1, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 1, 0, 0, 0, 0, 0, 0, 100};
  static const float y[3] = {1, 0, 1};
  pw_dataset_t ds;
  assert_int_equal(tl_dataset(&ds, x, y, 3, 10, 0), PC_OK);
  float out[3];
  assert_int_equal(ops()->predict(&m, &ds, NULL, 3, out, &err), PC_OK);
  assert_float_equal(out[0], pw_logreg_sigmoid(0.25 + 2 * 0.5 + 1 * -1.0), 1e-6);
  assert_float_equal(out[1], pw_logreg_sigmoid(0.25), 1e-6);
  assert_float_equal(out[2], pw_logreg_sigmoid(0.25 - 1.0), 1e-6);
  size_t rows[2] = {2, 0};
  assert_int_equal(ops()->predict(&m, &ds, rows, 2, out, &err), PC_OK);
  assert_float_equal(out[0], pw_logreg_sigmoid(0.25 - 1.0), 1e-6);
  tl_dataset_free(&ds);
  pw_model_free(&m);
}

/* It learns: the loss of a separable set falls well below log 2. */
static void test_learns(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_dataset_t ds;
  config(&cfg, 5, PC_LAYOUT_SPARSE, 1);
  small_data(&ds);
  tl_run_t run;
  pc_err_t err = {0};
  assert_int_equal(tl_new(&run, ops(), &cfg, &ds, &err), PC_OK);
  double first = 0, loss = 0;
  for (int e = 0; e < 200; e++) {
    assert_int_equal(tl_epoch(&run, &ds, 4, &loss, &err), PC_OK);
    if (e == 0)
      first = loss;
  }
  assert_true(first > 0.5);
  assert_true(loss < 0.1);
  tl_free(&run);
  tl_dataset_free(&ds);
}

static int count_ticks(void *arg, pc_err_t *err) {
  int *n = arg;
  if (++*n == 3)
    return pc_err_set(err, PC_ECANCELED, "stopped at tick 3");
  return PC_OK;
}

/* pw_evaluate calls its tick after every chunk of predictions (a worker's
 * heartbeats during a long evaluation), and a failing tick stops it. */
static void test_evaluate_ticks(void **s) {
  (void)s;
  pc_config_t cfg;
  config(&cfg, 2, PC_LAYOUT_DENSE, 0);
  pw_model_t m;
  pc_err_t err = {0};
  pw_shape_t shape = {.features = 2};
  assert_int_equal(pw_model_describe(&m, &cfg, &shape, &err), PC_OK);
  m.ntables = 1;
  m.tables[0].spec = (pc_table_t){.name = "w", .kind = PC_TABLE_DENSE, .size = 2, .width = 1};
  m.tables[0].count = 2;
  m.tables[0].vals = calloc(2, sizeof(float));
  enum { N = 2500 }; /* three chunks of at most 1024 */
  float *x = calloc(N * 2, sizeof *x), *y = calloc(N, sizeof *y);
  for (size_t i = 0; i < N; i++)
    y[i] = (float)(i % 2);
  pw_dataset_t ds;
  assert_int_equal(tl_dataset(&ds, x, y, N, 2, 1), PC_OK);
  int ticks = 0;
  pw_evaluate_tick_t tick = {count_ticks, &ticks};
  pw_evalres_t res = {0};
  assert_int_equal(pw_evaluate(ops(), &m, &ds, &tick, &res, &err), PC_ECANCELED);
  assert_int_equal(ticks, 3);
  assert_non_null(strstr(err.msg, "stopped at tick 3"));
  ticks = -10; /* never reaches 3 again: the whole set */
  assert_int_equal(pw_evaluate(ops(), &m, &ds, &tick, &res, &err), PC_OK);
  assert_int_equal(ticks, -7);
  assert_int_equal(res.n, N);
  pw_evalres_free(&res);
  tl_dataset_free(&ds);
  free(x);
  free(y);
  pw_model_free(&m);
}

/* Every registered model has every op, a unique type, and the name
 * model.type uses for it: adding one is a file plus a registry line. */
static void test_registry(void **s) {
  (void)s;
  size_t n = 0;
  const pw_model_ops_t *const *all = pw_model_ops_all(&n);
  assert_int_equal(n, 6);
  for (size_t i = 0; i < n; i++) {
    const pw_model_ops_t *o = all[i];
    assert_non_null(o->init);
    assert_non_null(o->fini);
    assert_non_null(o->batch_new);
    assert_non_null(o->batch_free);
    assert_non_null(o->batch_build);
    assert_non_null(o->batch_grad);
    assert_non_null(o->outputs);
    assert_non_null(o->predict);
    assert_string_equal(o->name, pc_config_model_name(o->type));
    assert_ptr_equal(pw_model_ops_find(o->type), o);
    for (size_t j = 0; j < i; j++)
      assert_int_not_equal(all[j]->type, o->type);
  }
  assert_null(pw_model_ops_find((pc_model_type_t)99));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradcheck), cmocka_unit_test(test_tables),
      cmocka_unit_test(test_predict),   cmocka_unit_test(test_learns),
      cmocka_unit_test(test_registry),   cmocka_unit_test(test_evaluate_ticks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
