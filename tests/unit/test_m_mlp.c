/* The mlp model: its tables, gradients against finite differences (no,
 * one and two hidden layers, dense and sparse rows), predict against the
 * training forward pass and against a forward pass written out by hand,
 * buffers growing between batches, and its refusals. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "nettest.h"
#include "pw_model.h"
#include "pw_modelops.h"

static const pw_model_ops_t *mlp(void) {
  const pw_model_ops_t *ops = pw_model_ops_find(PC_MODEL_MLP);
  assert_non_null(ops);
  assert_string_equal(ops->name, "mlp");
  assert_int_equal(ops->labels, PW_LABEL_CLASS);
  return ops;
}

static void cfg_mlp(pc_config_t *cfg, int classes, int nhidden, const int *hidden) {
  pc_config_defaults(cfg);
  cfg->model.type = PC_MODEL_MLP;
  cfg->model.classes = classes;
  cfg->model.nhidden = nhidden;
  for (int l = 0; l < nhidden; l++)
    cfg->model.hidden[l] = hidden[l];
}

/* One dense table per layer, (in+1) x out, each pulled as one range. */
static void test_tables(void **s) {
  (void)s;
  pc_config_t cfg;
  cfg_mlp(&cfg, 3, 1, (int[]){4});
  pw_dataset_t ds;
  nt_make_ds(&ds, 5, 6, 3, 1);
  void *st = NULL, *b = NULL;
  pc_table_t t[PC_TABLE_MAX];
  pw_req_t r[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, rows[2] = {3, 1};
  pc_err_t err = {0};
  assert_int_equal(mlp()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(nt, 2);
  assert_int_equal(pc_table_check(t, nt, &err), PC_OK);
  assert_string_equal(t[0].name, "dense1");
  assert_string_equal(t[1].name, "dense2");
  uint64_t size[2] = {7, 5}, width[2] = {4, 3};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(t[i].kind, PC_TABLE_DENSE);
    assert_int_equal(t[i].size, size[i]);
    assert_int_equal(t[i].width, width[i]);
    assert_int_equal(t[i].init, PC_INIT_UNIFORM);
    assert_true(t[i].optimize);
    assert_true(t[i].scale == pc_table_glorot(size[i] - 1, width[i]));
  }
  assert_int_equal(mlp()->batch_new(st, &b, &err), PC_OK);
  assert_int_equal(mlp()->batch_build(b, &ds, rows, 2, r, &nr, &err), PC_OK);
  assert_int_equal(nr, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(r[i].table, i);
    assert_true(r[i].range);
    assert_null(r[i].keys);
    assert_int_equal(r[i].begin, pc_table_key((uint32_t)i, 0));
    assert_int_equal(r[i].end, pc_table_key((uint32_t)i, size[i]));
    assert_int_equal(r[i].nkeys, size[i]);
    assert_int_equal(r[i].width, width[i]);
    assert_non_null(r[i].vals);
    assert_non_null(r[i].grad);
  }
  mlp()->batch_free(b);
  mlp()->fini(st);
  nt_free_ds(&ds);
}

static void check(int classes, int nhidden, const int *hidden, double keep) {
  pc_config_t cfg;
  cfg_mlp(&cfg, classes, nhidden, hidden);
  pw_dataset_t ds;
  nt_make_ds(&ds, 6, 7, classes, keep);
  gradcheck(mlp(), &cfg, &ds, 0.5, 1e-3, 2e-2, 60);
  nt_free_ds(&ds);
}

static void test_grad_no_hidden(void **s) {
  (void)s;
  check(3, 0, NULL, 1);
}

static void test_grad_one_hidden(void **s) {
  (void)s;
  check(3, 1, (int[]){5}, 1);
}

static void test_grad_two_hidden(void **s) {
  (void)s;
  check(4, 2, (int[]){6, 5}, 1);
}

static void test_grad_sparse_rows(void **s) {
  (void)s;
  check(2, 1, (int[]){4}, 0.5);
}

static void test_predict_matches_grad(void **s) {
  (void)s;
  pc_config_t cfg;
  cfg_mlp(&cfg, 3, 2, (int[]){5, 4});
  pw_dataset_t ds;
  nt_make_ds(&ds, 7, 6, 3, 0.7);
  nt_predict_matches_grad(mlp(), &cfg, &ds, 1.0);
  nt_free_ds(&ds);
}

/* 2 inputs, 2 hidden units, 2 classes, worked out by hand; more rows than
 * predict's chunk so that chunks follow each other. */
static void test_predict_by_hand(void **s) {
  (void)s;
  pc_config_t cfg;
  cfg_mlp(&cfg, 2, 1, (int[]){2});
  pw_dataset_t ds;
  nt_make_ds(&ds, 600, 2, 2, 1);
  void *st = NULL;
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0;
  pc_err_t err = {0};
  assert_int_equal(mlp()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  /* w1: rows x0, x1, bias; w2: rows h0, h1, bias */
  float w1[6] = {1, -1, 2, 0.5f, -0.5f, 0.25f}, w2[6] = {1, -2, -1, 3, 0.1f, 0.2f};
  pw_model_t m;
  nt_model(&m, &cfg, &ds.shape, t, nt, (float *[]){w1, w2});
  float *out = malloc(ds.n * 2 * sizeof *out);
  assert_int_equal(mlp()->predict(&m, &ds, NULL, ds.n, out, &err), PC_OK);
  for (size_t i = 0; i < ds.n; i++) {
    double x0 = ds.val[2 * i], x1 = ds.val[2 * i + 1];
    double h0 = fmax(0, x0 * 1 + x1 * 2 - 0.5), h1 = fmax(0, x0 * -1 + x1 * 0.5 + 0.25);
    double z0 = h0 * 1 + h1 * -1 + 0.1, z1 = h0 * -2 + h1 * 3 + 0.2;
    double p1 = 1 / (1 + exp(z0 - z1));
    assert_true(fabs(out[2 * i + 1] - p1) < 1e-6);
    assert_true(fabs(out[2 * i] - (1 - p1)) < 1e-6);
  }
  free(out);
  pw_model_free(&m);
  mlp()->fini(st);
  nt_free_ds(&ds);
}

/* One context through batches of 2, then 9 (buffers grow), then 3: each
 * gradient equals a fresh context's. */
static void test_batch_reuse(void **s) {
  (void)s;
  pc_config_t cfg;
  cfg_mlp(&cfg, 3, 1, (int[]){4});
  pw_dataset_t ds;
  nt_make_ds(&ds, 9, 5, 3, 1);
  void *st = NULL, *b = NULL, *fresh = NULL;
  pc_table_t t[PC_TABLE_MAX];
  pw_req_t r[PC_TABLE_MAX], q[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, nq = 0, rows[9] = {8, 7, 6, 5, 4, 3, 2, 1, 0}, sizes[3] = {2, 9, 3};
  pc_err_t err = {0};
  assert_int_equal(mlp()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(mlp()->batch_new(st, &b, &err), PC_OK);
  for (size_t c = 0; c < 3; c++) {
    double l1 = 0, l2 = 0;
    assert_int_equal(mlp()->batch_new(st, &fresh, &err), PC_OK);
    assert_int_equal(mlp()->batch_build(b, &ds, rows, sizes[c], r, &nr, &err), PC_OK);
    assert_int_equal(mlp()->batch_build(fresh, &ds, rows, sizes[c], q, &nq, &err), PC_OK);
    for (size_t i = 0; i < nr; i++)
      for (size_t j = 0; j < r[i].nkeys * r[i].width; j++)
        r[i].vals[j] = q[i].vals[j] = (float)(0.1 * ((j * 7 + i) % 11) - 0.5);
    assert_int_equal(mlp()->batch_grad(b, &ds, r, nr, &l1, &err), PC_OK);
    assert_int_equal(mlp()->batch_grad(fresh, &ds, q, nq, &l2, &err), PC_OK);
    assert_true(fabs(l1 - l2) < 1e-9);
    for (size_t i = 0; i < nr; i++)
      assert_memory_equal(r[i].grad, q[i].grad, r[i].nkeys * r[i].width * sizeof(float));
    mlp()->batch_free(fresh);
  }
  mlp()->batch_free(b);
  mlp()->fini(st);
  nt_free_ds(&ds);
}

static void test_refusals(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_shape_t shape = {.features = 10, .dense = 1};
  cfg_mlp(&cfg, 1, 1, (int[]){4});
  nt_refused(mlp(), &cfg, &shape, "model.classes");
  cfg_mlp(&cfg, 0, 0, NULL); /* unset */
  nt_refused(mlp(), &cfg, &shape, "model.classes");
  cfg_mlp(&cfg, 3, 2, (int[]){4, 0});
  nt_refused(mlp(), &cfg, &shape, "model.hidden[1]");
  cfg_mlp(&cfg, 3, 1, (int[]){4});
  cfg.model.nconv = 1;
  cfg.model.conv[0] = (pc_conv_t){.filters = 2, .size = 3};
  nt_refused(mlp(), &cfg, &shape, "model.conv");
  cfg_mlp(&cfg, 3, 1, (int[]){65536});
  shape.features = 1u << 13; /* 2^29 weights in the first layer */
  nt_refused(mlp(), &cfg, &shape, "model.hidden[0]");
  shape.features = 0;
  cfg_mlp(&cfg, 3, 0, NULL);
  nt_refused(mlp(), &cfg, &shape, "features");
}

/* A label outside 0..classes-1 is refused by batch_build, naming it. */
static void test_bad_label(void **s) {
  (void)s;
  pc_config_t cfg;
  cfg_mlp(&cfg, 3, 0, NULL);
  pw_dataset_t ds;
  nt_make_ds(&ds, 4, 3, 3, 1);
  ds.label[2] = 3;
  void *st = NULL, *b = NULL;
  pc_table_t t[PC_TABLE_MAX];
  pw_req_t r[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, rows[4] = {0, 1, 2, 3};
  pc_err_t err = {0};
  assert_int_equal(mlp()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(mlp()->batch_new(st, &b, &err), PC_OK);
  assert_int_equal(mlp()->batch_build(b, &ds, rows, 4, r, &nr, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, "example 2: label 3"));
  assert_non_null(strstr(err.msg, "model.classes"));
  ds.label[2] = 1.5f;
  assert_int_equal(mlp()->batch_build(b, &ds, rows, 4, r, &nr, &err), PC_EDATA);
  ds.label[2] = NAN;
  assert_int_equal(mlp()->batch_build(b, &ds, rows, 4, r, &nr, &err), PC_EDATA);
  mlp()->batch_free(b);
  mlp()->fini(st);
  nt_free_ds(&ds);
}

/* A model whose tables do not match its settings is refused by predict. */
static void test_predict_wrong_tables(void **s) {
  (void)s;
  pc_config_t cfg;
  cfg_mlp(&cfg, 3, 1, (int[]){4});
  pw_dataset_t ds;
  nt_make_ds(&ds, 2, 5, 3, 1);
  void *st = NULL;
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0;
  pc_err_t err = {0};
  assert_int_equal(mlp()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  float *v[2] = {calloc(t[0].size * t[0].width, 4), calloc(t[1].size * t[1].width, 4)};
  pw_model_t m;
  nt_model(&m, &cfg, &ds.shape, t, nt, v);
  float out[6];
  m.tables[1].spec.width = 2;
  assert_int_equal(mlp()->predict(&m, &ds, NULL, 2, out, &err), PC_EMODEL);
  assert_non_null(strstr(err.msg, "dense2"));
  m.tables[1].spec.width = 3;
  m.ntables = 1;
  assert_int_equal(mlp()->predict(&m, &ds, NULL, 2, out, &err), PC_EMODEL);
  m.ntables = 2;
  free(v[0]), free(v[1]);
  pw_model_free(&m);
  mlp()->fini(st);
  nt_free_ds(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables),
      cmocka_unit_test(test_grad_no_hidden),
      cmocka_unit_test(test_grad_one_hidden),
      cmocka_unit_test(test_grad_two_hidden),
      cmocka_unit_test(test_grad_sparse_rows),
      cmocka_unit_test(test_predict_matches_grad),
      cmocka_unit_test(test_predict_by_hand),
      cmocka_unit_test(test_batch_reuse),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_bad_label),
      cmocka_unit_test(test_predict_wrong_tables),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
