/* Sparse binary logistic regression, p = sigmoid(w.x + b): one table "w"
 * of width 1, keys = feature indices, the bias under key `features`. The
 * table is hashed (model.layout: sparse) or split in ranges (dense). */
#include <stdlib.h>
#include <string.h>

#include "pw_batch.h"
#include "pw_logreg.h"
#include "pw_model.h"
#include "pw_modelops.h"

typedef struct lr_state {
  uint64_t bias_key; /* UINT64_MAX: no bias */
} lr_state_t;

typedef struct lr_batch {
  const lr_state_t *st;
  pw_batch_t b;
  float *vals, *grad;
  size_t cap;
} lr_batch_t;

static int lr_init(void **state, const pc_config_t *cfg, const pw_shape_t *shape,
                   pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  (void)shape;
  lr_state_t *st = calloc(1, sizeof *st);
  if (st == NULL)
    return pc_err_set(err, PC_ENOMEM, "logistic model state");
  st->bias_key = cfg->model.bias ? cfg->model.features : UINT64_MAX;
  tables[0] = (pc_table_t){.name = "w", .id = 0,
                           .kind = cfg->model.layout == PC_LAYOUT_DENSE ? PC_TABLE_DENSE
                                                                        : PC_TABLE_SPARSE,
                           .size = cfg->model.features + (cfg->model.bias ? 1 : 0), .width = 1,
                           .init = PC_INIT_ZEROS, .optimize = 1};
  *ntables = 1;
  *state = st;
  return PC_OK;
}

static void lr_fini(void *state) { free(state); }

static int lr_batch_new(void *state, void **batch, pc_err_t *err) {
  lr_batch_t *b = calloc(1, sizeof *b);
  if (b == NULL)
    return pc_err_set(err, PC_ENOMEM, "logistic batch");
  b->st = state;
  *batch = b;
  return PC_OK;
}

static void lr_batch_free(void *batch) {
  lr_batch_t *b = batch;
  if (b == NULL)
    return;
  pw_batch_free(&b->b);
  free(b->vals);
  free(b->grad);
  free(b);
}

static int lr_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                          pw_req_t *reqs, size_t *nreqs, pc_err_t *err) {
  lr_batch_t *b = batch;
  int rc = pw_batch_build(&b->b, ds, rows, n, b->st->bias_key, err);
  if (rc != PC_OK)
    return rc;
  if (b->b.nkeys > b->cap) {
    float *v = realloc(b->vals, b->b.nkeys * sizeof *v);
    if (v)
      b->vals = v;
    float *g = realloc(b->grad, b->b.nkeys * sizeof *g);
    if (g)
      b->grad = g;
    if (!v || !g)
      return pc_err_set(err, PC_ENOMEM, "batch of %zu keys", b->b.nkeys);
    b->cap = b->b.nkeys;
  }
  reqs[0] = (pw_req_t){.table = 0, .width = 1, .keys = b->b.keys, .nkeys = b->b.nkeys,
                       .vals = b->vals, .grad = b->grad};
  *nreqs = 1;
  return PC_OK;
}

static int lr_batch_grad(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                         double *loss, pc_err_t *err) {
  lr_batch_t *b = batch;
  if (nreqs != 1)
    return pc_err_set(err, PC_EINVAL, "logistic: %zu requests, expected 1", nreqs);
  *loss = pw_logreg_grad(ds, &b->b, reqs[0].vals, reqs[0].grad);
  return PC_OK;
}

static size_t lr_outputs(const pw_model_t *m) {
  (void)m;
  return 1;
}

static int lr_predict(const pw_model_t *m, const pw_dataset_t *ds, const size_t *rows, size_t n,
                      float *out, pc_err_t *err) {
  pc_config_t cfg;
  int rc = pw_model_config(m, &cfg, err);
  if (rc != PC_OK)
    return rc;
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
    out[r] = (float)pw_logreg_sigmoid(z);
  }
  return PC_OK;
}

const pw_model_ops_t pw_m_logistic = {
    .name = "logistic",
    .type = PC_MODEL_LOGISTIC,
    .labels = PW_LABEL_BINARY,
    .init = lr_init,
    .fini = lr_fini,
    .batch_new = lr_batch_new,
    .batch_free = lr_batch_free,
    .batch_build = lr_batch_build,
    .batch_grad = lr_batch_grad,
    .outputs = lr_outputs,
    .predict = lr_predict,
};
