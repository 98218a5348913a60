/* Fixtures shared by the mlp and cnn model tests: random dense datasets,
 * and the check that predict() on a model holding some values gives the
 * probabilities batch_grad's forward pass computes from the same values.
 * Include after cmocka.h and gradcheck.h. */
#ifndef TEST_NETTEST_H
#define TEST_NETTEST_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_model.h"
#include "pw_modelops.h"

static uint64_t nt_rng = 0x853c49e6748fea9bULL;

static double nt_unif(void) {
  nt_rng ^= nt_rng << 13, nt_rng ^= nt_rng >> 7, nt_rng ^= nt_rng << 17;
  return (double)(nt_rng >> 11) / 9007199254740992.0;
}

/* n rows of f features each stored with probability keep (1: dense),
 * values in [0, 1), labels 0..k-1. */
static void nt_make_ds(pw_dataset_t *ds, size_t n, size_t f, int k, double keep) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->row = malloc((n + 1) * sizeof *ds->row);
  ds->idx = malloc(n * f * sizeof *ds->idx + 1);
  ds->val = malloc(n * f * sizeof *ds->val + 1);
  ds->label = malloc(n * sizeof *ds->label);
  ds->row[0] = 0;
  for (size_t i = 0; i < n; i++) {
    size_t at = ds->row[i];
    for (size_t j = 0; j < f; j++)
      if (keep >= 1 || nt_unif() < keep) {
        ds->idx[at] = j;
        ds->val[at++] = (float)nt_unif();
      }
    ds->row[i + 1] = at;
    ds->label[i] = (float)(i % (size_t)k);
  }
  ds->nnz = ds->row[n];
  ds->max_index = f - 1;
  ds->shape = (pw_shape_t){.features = f, .dense = keep >= 1};
}

static void nt_free_ds(pw_dataset_t *ds) {
  free(ds->row), free(ds->idx), free(ds->val), free(ds->label);
}

/* A trained-model stand-in: cfg's settings, ds's shape, tables with the
 * given values (copied). */
static void nt_model(pw_model_t *m, const pc_config_t *cfg, const pw_shape_t *shape,
                     const pc_table_t *tabs, size_t nt, float *const *vals) {
  pc_err_t err = {0};
  assert_int_equal(pw_model_describe(m, cfg, shape, &err), PC_OK);
  m->ntables = nt;
  for (size_t t = 0; t < nt; t++) {
    size_t nv = tabs[t].size * tabs[t].width;
    m->tables[t] = (pw_mtable_t){.spec = tabs[t], .count = tabs[t].size};
    m->tables[t].vals = malloc(nv * sizeof(float));
    memcpy(m->tables[t].vals, vals[t], nv * sizeof(float));
  }
}

/* Each example alone through batch_build + batch_grad: the output layer's
 * bias gradient is p - onehot(label), which gives the forward pass's p;
 * predict on a model holding the same values must give the same. */
static void nt_predict_matches_grad(const pw_model_ops_t *ops, const pc_config_t *cfg,
                                    const pw_dataset_t *ds, double scale) {
  void *st = NULL, *b = NULL;
  pc_table_t tabs[PC_TABLE_MAX];
  pw_req_t r[PC_TABLE_MAX];
  size_t nt = 0, nr = 0, k = (size_t)cfg->model.classes;
  pc_err_t err = {0};
  assert_int_equal(ops->init(&st, cfg, &ds->shape, tabs, &nt, &err), PC_OK);
  assert_int_equal(ops->batch_new(st, &b, &err), PC_OK);
  float *vals[PC_TABLE_MAX];
  for (size_t t = 0; t < nt; t++) {
    vals[t] = malloc(tabs[t].size * tabs[t].width * sizeof(float));
    for (size_t j = 0; j < tabs[t].size * tabs[t].width; j++)
      vals[t][j] = (float)((2 * nt_unif() - 1) * scale);
  }
  pw_model_t m;
  nt_model(&m, cfg, &ds->shape, tabs, nt, vals);
  assert_int_equal(ops->outputs(&m), k);
  float *out = malloc(ds->n * k * sizeof *out);
  assert_int_equal(ops->predict(&m, ds, NULL, ds->n, out, &err), PC_OK);
  for (size_t i = 0; i < ds->n; i++) {
    double loss = 0;
    assert_int_equal(ops->batch_build(b, ds, &i, 1, r, &nr, &err), PC_OK);
    for (size_t t = 0; t < nr; t++)
      memcpy(r[t].vals, vals[t], r[t].nkeys * r[t].width * sizeof(float));
    assert_int_equal(ops->batch_grad(b, ds, r, nr, &loss, &err), PC_OK);
    const float *gb = r[nr - 1].grad + (r[nr - 1].nkeys - 1) * k;
    for (size_t j = 0; j < k; j++) {
      double p = gb[j] + (j == (size_t)ds->label[i] ? 1.0 : 0.0);
      if (fabs(out[i * k + j] - p) > 1e-5)
        fail_msg("example %zu class %zu: predict %g, forward %g", i, j, (double)out[i * k + j],
                 p);
    }
    assert_true(fabs(loss + log(out[i * k + (size_t)ds->label[i]])) < 1e-4);
  }
  /* rows given: the same probabilities in the order asked */
  size_t rows[2] = {ds->n - 1, 0};
  float two[2 * 64];
  assert_true(k <= 64);
  assert_int_equal(ops->predict(&m, ds, rows, 2, two, &err), PC_OK);
  for (size_t j = 0; j < k; j++) {
    assert_true(fabs(two[j] - out[(ds->n - 1) * k + j]) < 1e-6);
    assert_true(fabs(two[k + j] - out[j]) < 1e-6);
  }
  free(out);
  for (size_t t = 0; t < nt; t++)
    free(vals[t]);
  pw_model_free(&m);
  ops->batch_free(b);
  ops->fini(st);
}

/* init refuses cfg: *state stays NULL and the message names `field`. */
static void nt_refused(const pw_model_ops_t *ops, const pc_config_t *cfg, const pw_shape_t *shape,
                       const char *field) {
  void *st = (void *)1;
  pc_table_t tabs[PC_TABLE_MAX];
  size_t nt = 0;
  pc_err_t err = {0};
  assert_int_not_equal(ops->init(&st, cfg, shape, tabs, &nt, &err), PC_OK);
  assert_null(st);
  if (strstr(err.msg, field) == NULL)
    fail_msg("message '%s' does not name %s", err.msg, field);
}

#endif
