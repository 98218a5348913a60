/* The cnn model: its tables, gradients against finite differences (one
 * and two convolution layers, with and without hidden dense layers, one
 * and two channels), predict against the training forward pass, and its
 * refusals (no images, layers that pool to nothing, classes). */
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

static const pw_model_ops_t *cnn(void) {
  const pw_model_ops_t *ops = pw_model_ops_find(PC_MODEL_CNN);
  assert_non_null(ops);
  assert_string_equal(ops->name, "cnn");
  assert_int_equal(ops->labels, PW_LABEL_CLASS);
  return ops;
}

/* convs: {filters, size} pairs. */
static void cfg_cnn(pc_config_t *cfg, int classes, int nconv, const int *convs, int nhidden,
                    const int *hidden) {
  pc_config_defaults(cfg);
  cfg->model.type = PC_MODEL_CNN;
  cfg->model.classes = classes;
  cfg->model.nconv = nconv;
  for (int l = 0; l < nconv; l++)
    cfg->model.conv[l] = (pc_conv_t){.filters = convs[2 * l], .size = convs[2 * l + 1]};
  cfg->model.nhidden = nhidden;
  for (int l = 0; l < nhidden; l++)
    cfg->model.hidden[l] = hidden[l];
}

static void make_images(pw_dataset_t *ds, size_t n, uint32_t h, uint32_t w, uint32_t c, int k) {
  nt_make_ds(ds, n, (size_t)h * w * c, k, 1);
  ds->shape.height = h, ds->shape.width = w, ds->shape.channels = c;
}

/* 8x8x1, conv 3 filters of 3x3 -> 6x6x3 -> pool 3x3x3 = 27 -> 5 -> 4. */
static void test_tables(void **s) {
  (void)s;
  pc_config_t cfg;
  cfg_cnn(&cfg, 4, 1, (int[]){3, 3}, 1, (int[]){5});
  pw_dataset_t ds;
  make_images(&ds, 3, 8, 8, 1, 4);
  void *st = NULL, *b = NULL;
  pc_table_t t[PC_TABLE_MAX];
  pw_req_t r[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, rows[1] = {2};
  pc_err_t err = {0};
  assert_int_equal(cnn()->init(&st, &cfg, &ds.shape, t, &nt, &err), PC_OK);
  assert_int_equal(nt, 3);
  assert_int_equal(pc_table_check(t, nt, &err), PC_OK);
  const char *name[3] = {"conv1", "dense1", "dense2"};
  uint64_t size[3] = {10, 28, 6}, width[3] = {3, 5, 4};
  float scale[3] = {pc_table_glorot(9, 27), pc_table_glorot(27, 5), pc_table_glorot(5, 4)};
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(t[i].name, name[i]);
    assert_int_equal(t[i].kind, PC_TABLE_DENSE);
    assert_int_equal(t[i].size, size[i]);
    assert_int_equal(t[i].width, width[i]);
    assert_true(t[i].scale == scale[i]);
    assert_true(t[i].optimize);
  }
  assert_int_equal(cnn()->batch_new(st, &b, &err), PC_OK);
  assert_int_equal(cnn()->batch_build(b, &ds, rows, 1, r, &nr, &err), PC_OK);
  assert_int_equal(nr, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_true(r[i].range);
    assert_int_equal(r[i].begin, pc_table_key((uint32_t)i, 0));
    assert_int_equal(r[i].end, pc_table_key((uint32_t)i, size[i]));
  }
  cnn()->batch_free(b);
  cnn()->fini(st);
  nt_free_ds(&ds);
}

static void check(uint32_t h, uint32_t c, int nconv, const int *convs, int nhidden,
                  const int *hidden) {
  pc_config_t cfg;
  cfg_cnn(&cfg, 3, nconv, convs, nhidden, hidden);
  pw_dataset_t ds;
  make_images(&ds, 4, h, h, c, 3);
  gradcheck(cnn(), &cfg, &ds, 0.5, 1e-3, 2e-2, 60);
  nt_free_ds(&ds);
}

static void test_grad_one_conv(void **s) {
  (void)s;
  check(8, 1, 1, (int[]){3, 3}, 0, NULL);
}

static void test_grad_one_conv_hidden(void **s) {
  (void)s;
  check(7, 2, 1, (int[]){3, 2}, 1, (int[]){6});
}

static void test_grad_two_conv(void **s) {
  (void)s;
  check(10, 1, 2, (int[]){3, 3, 4, 2}, 0, NULL);
}

static void test_grad_two_conv_hidden(void **s) {
  (void)s;
  check(11, 2, 2, (int[]){2, 2, 3, 3}, 2, (int[]){5, 4});
}

static void test_predict_matches_grad(void **s) {
  (void)s;
  pc_config_t cfg;
  cfg_cnn(&cfg, 3, 2, (int[]){3, 3, 2, 2}, 1, (int[]){4});
  pw_dataset_t ds;
  make_images(&ds, 5, 10, 10, 1, 3);
  nt_predict_matches_grad(cnn(), &cfg, &ds, 1.0);
  nt_free_ds(&ds);
}

static void test_refusals(void **s) {
  (void)s;
  pc_config_t cfg;
  pw_shape_t img = {.features = 64, .height = 8, .width = 8, .channels = 1, .dense = 1};
  pw_shape_t flat = {.features = 64, .dense = 1};
  cfg_cnn(&cfg, 10, 1, (int[]){4, 3}, 0, NULL);
  nt_refused(cnn(), &cfg, &flat, "data.format");
  pw_shape_t odd = img;
  odd.features = 65;
  nt_refused(cnn(), &cfg, &odd, "65 features");
  /* 8 -> 6 -> 3 -> 1 -> 0 after pooling */
  cfg_cnn(&cfg, 10, 2, (int[]){4, 3, 4, 3}, 0, NULL);
  nt_refused(cnn(), &cfg, &img, "model.conv[1]");
  cfg_cnn(&cfg, 10, 1, (int[]){4, 9}, 0, NULL); /* larger than the image */
  nt_refused(cnn(), &cfg, &img, "model.conv[0]");
  cfg_cnn(&cfg, 10, 0, NULL, 1, (int[]){8});
  nt_refused(cnn(), &cfg, &img, "model.conv");
  cfg_cnn(&cfg, 1, 1, (int[]){4, 3}, 0, NULL);
  nt_refused(cnn(), &cfg, &img, "model.classes");
  /* the largest layer that still pools to 1x1 is accepted: 8 -> 2 -> 1 */
  cfg_cnn(&cfg, 10, 1, (int[]){4, 7}, 0, NULL);
  void *st = NULL;
  pc_table_t t[PC_TABLE_MAX];
  size_t nt = 0;
  pc_err_t err = {0};
  assert_int_equal(cnn()->init(&st, &cfg, &img, t, &nt, &err), PC_OK);
  assert_int_equal(t[1].size, 1 * 1 * 4 + 1);
  cnn()->fini(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables),
      cmocka_unit_test(test_grad_one_conv),
      cmocka_unit_test(test_grad_one_conv_hidden),
      cmocka_unit_test(test_grad_two_conv),
      cmocka_unit_test(test_grad_two_conv_hidden),
      cmocka_unit_test(test_predict_matches_grad),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
