/* Linear regression, y ~ z = w.x + b, with the squared loss 0.5 (z - y)^2
 * or the Huber loss of model.huber_delta d (0.5 r^2 for |r| <= d, else
 * d (|r| - d/2): squared near the fit, linear for outliers, so one wild
 * label cannot dominate a batch). One table "w" of width 1 as logistic's:
 * keys = feature indices, the bias under key `features`, hashed or in
 * ranges (model.layout), zeros to start. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pc_mem.h"
#include "pw_batch.h"
#include "pw_model.h"
#include "pw_modelops.h"

typedef struct lin_state {
  uint64_t features; /* model.features: data indices are below it */
  uint64_t bias_key; /* UINT64_MAX: no bias */
  int huber;
  double delta;
} lin_state_t;

typedef struct lin_batch {
  const lin_state_t *st;
  pw_batch_t b;
  float *vals, *grad;
  size_t cap_vals, cap_grad;
} lin_batch_t;

static int lin_init(void **state, const pc_config_t *cfg, const pw_shape_t *shape,
                    pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  if (shape->features > cfg->model.features)
    return pc_err_set(err, PC_EINVAL,
                      "model.features: %llu, but the data has %llu features (indices 0..%llu)",
                      (unsigned long long)cfg->model.features,
                      (unsigned long long)shape->features,
                      (unsigned long long)shape->features - 1);
  if (cfg->model.loss == PC_LOSS_HUBER && !(cfg->model.huber_delta > 0))
    return pc_err_set(err, PC_EINVAL, "model.huber_delta: %g, expected > 0",
                      cfg->model.huber_delta);
  lin_state_t *st = calloc(1, sizeof *st);
  if (st == NULL)
    return pc_err_set(err, PC_ENOMEM, "linear model state");
  st->features = cfg->model.features;
  st->bias_key = cfg->model.bias ? cfg->model.features : UINT64_MAX;
  st->huber = cfg->model.loss == PC_LOSS_HUBER;
  st->delta = cfg->model.huber_delta;
  tables[0] = (pc_table_t){.name = "w", .id = 0,
                           .kind = cfg->model.layout == PC_LAYOUT_DENSE ? PC_TABLE_DENSE
                                                                        : PC_TABLE_SPARSE,
                           .size = cfg->model.features + (cfg->model.bias ? 1 : 0), .width = 1,
                           .init = PC_INIT_ZEROS, .optimize = 1};
  *ntables = 1;
  *state = st;
  return PC_OK;
}

static void lin_fini(void *state) { free(state); }

static int lin_batch_new(void *state, void **batch, pc_err_t *err) {
  lin_batch_t *b = calloc(1, sizeof *b);
  if (b == NULL)
    return pc_err_set(err, PC_ENOMEM, "linear batch");
  b->st = state;
  *batch = b;
  return PC_OK;
}

static void lin_batch_free(void *batch) {
  lin_batch_t *b = batch;
  if (b == NULL)
    return;
  pw_batch_free(&b->b);
  free(b->vals);
  free(b->grad);
  free(b);
}

static int lin_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                           pw_req_t *reqs, size_t *nreqs, pc_err_t *err) {
  lin_batch_t *b = batch;
  const uint64_t features = b->st->features;
  for (size_t r = 0; r < n; r++) /* a feature >= features would be the bias or outside */
    for (size_t j = ds->row[rows[r]]; j < ds->row[rows[r] + 1]; j++)
      if (ds->idx[j] >= features)
        return pc_err_set(err, PC_EINVAL, "linear: example %zu has feature %llu, but "
                          "model.features is %llu", rows[r], (unsigned long long)ds->idx[j],
                          (unsigned long long)features);
  int rc = pw_batch_build(&b->b, ds, rows, n, b->st->bias_key, err);
  if (rc != PC_OK)
    return rc;
  if (pc_mem_reserve((void **)&b->vals, &b->cap_vals, b->b.nkeys, sizeof *b->vals) != PC_OK ||
      pc_mem_reserve((void **)&b->grad, &b->cap_grad, b->b.nkeys, sizeof *b->grad) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "batch of %zu keys", b->b.nkeys);
  reqs[0] = (pw_req_t){.table = 0, .width = 1, .keys = b->b.keys, .nkeys = b->b.nkeys,
                       .vals = b->vals, .grad = b->grad};
  *nreqs = 1;
  return PC_OK;
}

/* Loss of residual r = z - y; *dr = its derivative. */
static double lin_loss(const lin_state_t *st, double r, double *dr) {
  if (!st->huber || fabs(r) <= st->delta) {
    *dr = r;
    return 0.5 * r * r;
  }
  *dr = r > 0 ? st->delta : -st->delta;
  return st->delta * (fabs(r) - 0.5 * st->delta);
}

static int lin_batch_grad(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                          double *loss, pc_err_t *err) {
  lin_batch_t *b = batch;
  if (nreqs != 1)
    return pc_err_set(err, PC_EINVAL, "linear: %zu requests, expected 1", nreqs);
  const float *w = reqs[0].vals;
  float *g = reqs[0].grad;
  memset(g, 0, b->b.nkeys * sizeof *g);
  double sum = 0;
  size_t s = 0;
  for (size_t r = 0; r < b->b.nrows; r++) {
    size_t row = b->b.rows[r], beg = ds->row[row], end = ds->row[row + 1];
    double z = b->b.bias_slot != UINT32_MAX ? w[b->b.bias_slot] : 0.0, dz;
    for (size_t j = beg; j < end; j++)
      z += (double)w[b->b.slot[s + (j - beg)]] * ds->val[j];
    sum += lin_loss(b->st, z - ds->label[row], &dz);
    for (size_t j = beg; j < end; j++)
      g[b->b.slot[s + (j - beg)]] += (float)(dz * ds->val[j]);
    if (b->b.bias_slot != UINT32_MAX)
      g[b->b.bias_slot] += (float)dz;
    s += end - beg;
  }
  float scale = b->b.nrows ? 1.0f / (float)b->b.nrows : 0.0f;
  for (size_t i = 0; i < b->b.nkeys; i++)
    g[i] *= scale;
  *loss = sum;
  return PC_OK;
}

static size_t lin_outputs(const pw_model_t *m) {
  (void)m;
  return 1;
}

static int lin_predict(const pw_model_t *m, const pw_dataset_t *ds, const size_t *rows, size_t n,
                       float *out, pc_err_t *err) {
  pc_config_t cfg;
  int rc = pw_model_config(m, &cfg, err);
  if (rc != PC_OK)
    return rc;
  if (m->ntables != 1 || m->tables[0].spec.width != 1)
    return pc_err_set(err, PC_EINVAL, "linear model: expected one table of width 1");
  uint64_t features = cfg.model.features;
  const float *bias = cfg.model.bias ? pw_model_row(m, 0, features) : NULL;
  for (size_t r = 0; r < n; r++) {
    size_t i = rows ? rows[r] : r;
    double z = bias ? *bias : 0.0;
    for (size_t j = ds->row[i]; j < ds->row[i + 1]; j++) {
      const float *w = ds->idx[j] < features ? pw_model_row(m, 0, ds->idx[j]) : NULL;
      if (w)
        z += (double)*w * ds->val[j];
    }
    out[r] = (float)z;
  }
  return PC_OK;
}

const pw_model_ops_t pw_m_linear = {
    .name = "linear",
    .type = PC_MODEL_LINEAR,
    .labels = PW_LABEL_REAL,
    .init = lin_init,
    .fini = lin_fini,
    .batch_new = lin_batch_new,
    .batch_free = lin_batch_free,
    .batch_build = lin_batch_build,
    .batch_grad = lin_batch_grad,
    .outputs = lin_outputs,
    .predict = lin_predict,
};
