/* Multiclass logistic (softmax) regression over K = model.classes:
 * p = softmax(W x + b). One table "w" of width K: key f holds feature f's
 * K weights (one per class), key `features` the K biases. The table is
 * hashed (model.layout: sparse) or split in ranges (dense); it starts at
 * zeros (the loss is convex, and zeros give every class 1/K). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_glm.h"
#include "pw_model.h"
#include "pw_modelops.h"

typedef struct sm_state {
  pc_config_t cfg; /* model.* as trained: the table's shape */
  uint32_t classes;
} sm_state_t;

typedef struct sm_batch {
  const sm_state_t *st;
  pw_glm_batch_t g;
  double *z; /* one example's K scores */
} sm_batch_t;

/* The settings both training and prediction read; messages name the field. */
static int sm_check(const pc_config_t *cfg, pc_err_t *err) {
  if (cfg->model.classes < 2)
    return pc_err_set(err, PC_EINVAL, "model.classes: %d, softmax needs 2 or more classes",
                      cfg->model.classes);
  if ((uint64_t)cfg->model.classes > PC_TABLE_MAX_WIDTH)
    return pc_err_set(err, PC_EINVAL, "model.classes: %d, softmax takes at most %u classes",
                      cfg->model.classes, PC_TABLE_MAX_WIDTH);
  return PC_OK;
}

static int sm_init(void **state, const pc_config_t *cfg, const pw_shape_t *shape,
                   pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  int rc = sm_check(cfg, err);
  if (rc == PC_OK)
    rc = pw_glm_tables(cfg, shape, (uint32_t)cfg->model.classes, tables, ntables, err);
  if (rc != PC_OK)
    return rc;
  sm_state_t *st = calloc(1, sizeof *st);
  if (st == NULL)
    return pc_err_set(err, PC_ENOMEM, "softmax model state");
  st->cfg = *cfg;
  st->classes = (uint32_t)cfg->model.classes;
  *state = st;
  return PC_OK;
}

static void sm_fini(void *state) { free(state); }

static int sm_batch_new(void *state, void **batch, pc_err_t *err) {
  sm_batch_t *b = calloc(1, sizeof *b);
  const sm_state_t *st = state;
  if (b == NULL || (b->z = calloc(st->classes, sizeof *b->z)) == NULL) {
    free(b);
    return pc_err_set(err, PC_ENOMEM, "softmax batch");
  }
  b->st = st;
  pw_glm_batch_init(&b->g, &st->cfg, "softmax", st->classes, 1, 1);
  *batch = b;
  return PC_OK;
}

static void sm_batch_free(void *batch) {
  sm_batch_t *b = batch;
  if (b == NULL)
    return;
  pw_glm_batch_fini(&b->g);
  free(b->z);
  free(b);
}

static int sm_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                          pw_req_t *reqs, size_t *nreqs, pc_err_t *err) {
  sm_batch_t *b = batch;
  *nreqs = 1;
  return pw_glm_batch_build(&b->g, ds, rows, n, &reqs[0], err);
}

/* z[0..K) = log-softmax of z in place; returns log-sum-exp (stable: the
 * largest score is subtracted before exp). */
static double sm_log_softmax(double *z, uint32_t K) {
  double m = z[0];
  for (uint32_t c = 1; c < K; c++)
    m = z[c] > m ? z[c] : m;
  double s = 0;
  for (uint32_t c = 0; c < K; c++)
    s += exp(z[c] - m);
  double lse = m + log(s);
  for (uint32_t c = 0; c < K; c++)
    z[c] -= lse;
  return lse;
}

/* Class of example row, or -1 when its label is not one of 0..K-1 (the
 * reader checks labels; this keeps a bad one from indexing out of z). */
static long sm_label(const pw_dataset_t *ds, size_t row, uint32_t K) {
  float y = ds->label[row];
  if (!(y >= 0 && y < (float)K) || y != floorf(y))
    return -1;
  return (long)y;
}

/* One example: add its gradient to g (its non-zeros' keys at slots[..])
 * and return -log p_y. b->z holds its scores, then dL/dz = p - onehot(y). */
static double sm_example(sm_batch_t *b, const pw_dataset_t *ds, size_t row, const uint32_t *slots,
                         long y, const float *w, float *g) {
  const uint32_t K = b->st->classes;
  const size_t beg = ds->row[row], end = ds->row[row + 1];
  const uint32_t bs = b->g.b.bias_slot;
  for (uint32_t c = 0; c < K; c++)
    b->z[c] = bs != UINT32_MAX ? w[pw_glm_pos(&b->g, bs) * K + c] : 0.0;
  for (size_t j = beg; j < end; j++) {
    const float *wk = w + pw_glm_pos(&b->g, slots[j - beg]) * K;
    for (uint32_t c = 0; c < K; c++)
      b->z[c] += (double)wk[c] * ds->val[j];
  }
  sm_log_softmax(b->z, K);
  double loss = -b->z[y];
  for (uint32_t c = 0; c < K; c++)
    b->z[c] = exp(b->z[c]) - (c == (uint32_t)y);
  for (size_t j = beg; j < end; j++) {
    float *gk = g + pw_glm_pos(&b->g, slots[j - beg]) * K;
    for (uint32_t c = 0; c < K; c++)
      gk[c] += (float)(b->z[c] * ds->val[j]);
  }
  if (bs != UINT32_MAX)
    for (uint32_t c = 0; c < K; c++)
      g[pw_glm_pos(&b->g, bs) * K + c] += (float)b->z[c];
  return loss;
}

static int sm_batch_grad(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                         double *loss, pc_err_t *err) {
  sm_batch_t *b = batch;
  const uint32_t K = b->st->classes;
  if (nreqs != 1)
    return pc_err_set(err, PC_EINVAL, "softmax: %zu requests, expected 1", nreqs);
  float *g = reqs[0].grad;
  memset(g, 0, b->g.b.nkeys * K * sizeof *g);
  double sum = 0;
  size_t s = 0;
  for (size_t r = 0; r < b->g.b.nrows; r++) {
    size_t row = b->g.b.rows[r];
    long y = sm_label(ds, row, K);
    if (y < 0)
      return pc_err_set(err, PC_EINVAL, "softmax: example %zu has label %g, expected 0..%u", row,
                        (double)ds->label[row], K - 1);
    sum += sm_example(b, ds, row, b->g.b.slot + s, y, reqs[0].vals, g);
    s += ds->row[row + 1] - ds->row[row];
  }
  float scale = b->g.b.nrows ? 1.0f / (float)b->g.b.nrows : 0.0f;
  for (size_t i = 0; i < b->g.b.nkeys * K; i++)
    g[i] *= scale;
  *loss = sum;
  return PC_OK;
}

static size_t sm_outputs(const pw_model_t *m) {
  return m->ntables > 0 ? m->tables[0].spec.width : 0;
}

static int sm_predict(const pw_model_t *m, const pw_dataset_t *ds, const size_t *rows, size_t n,
                      float *out, pc_err_t *err) {
  pc_config_t cfg;
  int rc = pw_model_config(m, &cfg, err);
  if (rc != PC_OK || (rc = sm_check(&cfg, err)) != PC_OK)
    return rc;
  const uint32_t K = (uint32_t)cfg.model.classes;
  if (m->ntables != 1 || m->tables[0].spec.width != K)
    return pc_err_set(err, PC_EMODEL, "softmax model: expected one table of width %u", K);
  double *z = malloc(K * sizeof *z);
  if (z == NULL)
    return pc_err_set(err, PC_ENOMEM, "softmax scores");
  for (size_t r = 0; r < n; r++) {
    pw_glm_score(m, &cfg, K, ds, rows ? rows[r] : r, z);
    sm_log_softmax(z, K);
    for (uint32_t c = 0; c < K; c++)
      out[r * K + c] = (float)exp(z[c]);
  }
  free(z);
  return PC_OK;
}

const pw_model_ops_t pw_m_softmax = {
    .name = "softmax",
    .type = PC_MODEL_SOFTMAX,
    .labels = PW_LABEL_CLASS,
    .init = sm_init,
    .fini = sm_fini,
    .batch_new = sm_batch_new,
    .batch_free = sm_batch_free,
    .batch_build = sm_batch_build,
    .batch_grad = sm_batch_grad,
    .outputs = sm_outputs,
    .predict = sm_predict,
};
