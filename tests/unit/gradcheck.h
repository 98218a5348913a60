/* Finite-difference check of a model's gradients, shared by the model
 * tests: build one batch over every row of ds, fill the pulled values with
 * a deterministic pseudo-random pattern, and compare batch_grad's gradient
 * of the mean loss with (L(v+h) - L(v-h)) / 2h / n at up to `probes`
 * coordinates of each table. Tables without `optimize` are skipped: what
 * a model pushes to them is a statistic to add, not a gradient. Include
 * after cmocka.h. */
#ifndef TEST_GRADCHECK_H
#define TEST_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_modelops.h"

static double gc_loss(const pw_model_ops_t *ops, void *b, const pw_dataset_t *ds, pw_req_t *r,
                      size_t nr) {
  double loss = 0;
  pc_err_t err = {0};
  assert_int_equal(ops->batch_grad(b, ds, r, nr, &loss, &err), PC_OK);
  return loss;
}

/* Returns the largest relative error seen; fails the test above tol. */
static double gradcheck(const pw_model_ops_t *ops, const pc_config_t *cfg, const pw_dataset_t *ds,
                        double scale, double h, double tol, size_t probes) {
  void *st = NULL, *b = NULL;
  pc_table_t tabs[PC_TABLE_MAX];
  size_t nt = 0, nr = 0;
  pw_req_t r[PC_TABLE_MAX];
  pc_err_t err = {0};
  assert_int_equal(ops->init(&st, cfg, &ds->shape, tabs, &nt, &err), PC_OK);
  assert_int_equal(ops->batch_new(st, &b, &err), PC_OK);
  size_t *rows = malloc(ds->n * sizeof *rows);
  for (size_t i = 0; i < ds->n; i++)
    rows[i] = i;
  assert_int_equal(ops->batch_build(b, ds, rows, ds->n, r, &nr, &err), PC_OK);
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (size_t t = 0; t < nr; t++)
    for (size_t k = 0; k < r[t].nkeys * r[t].width; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      r[t].vals[k] = (float)(((double)(x >> 11) / 9007199254740992.0 * 2 - 1) * scale);
    }
  gc_loss(ops, b, ds, r, nr);
  double worst = 0;
  for (size_t t = 0; t < nr; t++) {
    if (!tabs[r[t].table].optimize)
      continue;
    size_t nv = r[t].nkeys * r[t].width;
    float *g = malloc(nv * sizeof *g);
    memcpy(g, r[t].grad, nv * sizeof *g);
    size_t step = nv > probes ? nv / probes : 1;
    for (size_t k = 0; k < nv; k += step) {
      float v = r[t].vals[k];
      r[t].vals[k] = (float)(v + h);
      double lp = gc_loss(ops, b, ds, r, nr);
      r[t].vals[k] = (float)(v - h);
      double lm = gc_loss(ops, b, ds, r, nr);
      r[t].vals[k] = v;
      double num = (lp - lm) / (2 * h) / (double)ds->n;
      double rel = fabs(num - g[k]) / fmax(1e-3, fabs(num) + fabs(g[k]));
      if (rel > worst)
        worst = rel;
      if (rel > tol)
        fail_msg("%s: table %u value %zu: gradient %g, finite difference %g", ops->name,
                 r[t].table, k, (double)g[k], num);
    }
    free(g);
  }
  free(rows);
  ops->batch_free(b);
  ops->fini(st);
  return worst;
}

#endif
