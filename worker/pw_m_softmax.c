/* Multiclass logistic (softmax) regression over K = model.classes:
 * p = softmax(W x + b). One table "w" of width K: key f holds feature f's
 * K weights (one per class), key `features` the K biases. The table is
 * hashed (model.layout: sparse) or split in ranges (dense); it starts at
 * zeros (the loss is convex, and zeros give every class 1/K). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pc_mem.h"
#include "pw_batch.h"
#include "pw_model.h"
#include "pw_modelops.h"

typedef struct sm_state {
  uint32_t classes;
  uint64_t features; /* model.features: data indices are below it */
  uint64_t size;     /* table size: features (+ 1 with a bias) */
  uint64_t bias_key; /* UINT64_MAX: no bias */
  int dense;         /* the table is dense (model.layout: dense) */
} sm_state_t;

typedef struct sm_batch {
  const sm_state_t *st;
  pw_batch_t b;
  int range;         /* this batch pulls the whole table as one range */
  float *vals, *grad;
  size_t cap_vals, cap_grad; /* floats */
  double *z;         /* one example's K scores */
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
  if (rc != PC_OK)
    return rc;
  if (shape->features > cfg->model.features)
    return pc_err_set(err, PC_EINVAL,
                      "model.features: %llu, but the data has %llu features (indices 0..%llu)",
                      (unsigned long long)cfg->model.features,
                      (unsigned long long)shape->features,
                      (unsigned long long)shape->features - 1);
  sm_state_t *st = calloc(1, sizeof *st);
  if (st == NULL)
    return pc_err_set(err, PC_ENOMEM, "softmax model state");
  st->classes = (uint32_t)cfg->model.classes;
  st->features = cfg->model.features;
  st->size = cfg->model.features + (cfg->model.bias ? 1 : 0);
  st->bias_key = cfg->model.bias ? cfg->model.features : UINT64_MAX;
  st->dense = cfg->model.layout == PC_LAYOUT_DENSE;
  tables[0] = (pc_table_t){.name = "w", .id = 0,
                           .kind = st->dense ? PC_TABLE_DENSE : PC_TABLE_SPARSE,
                           .size = st->size, .width = st->classes, .init = PC_INIT_ZEROS,
                           .optimize = 1};
  *ntables = 1;
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
  *batch = b;
  return PC_OK;
}

static void sm_batch_free(void *batch) {
  sm_batch_t *b = batch;
  if (b == NULL)
    return;
  pw_batch_free(&b->b);
  free(b->vals);
  free(b->grad);
  free(b->z);
  free(b);
}

static int sm_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                          pw_req_t *reqs, size_t *nreqs, pc_err_t *err) {
  sm_batch_t *b = batch;
  const sm_state_t *st = b->st;
  const uint64_t features = st->features;
  for (size_t r = 0; r < n; r++) /* a feature >= features would be the bias or outside */
    for (size_t j = ds->row[rows[r]]; j < ds->row[rows[r] + 1]; j++)
      if (ds->idx[j] >= features)
        return pc_err_set(err, PC_EINVAL, "softmax: example %zu has feature %llu, but "
                          "model.features is %llu", rows[r], (unsigned long long)ds->idx[j],
                          (unsigned long long)features);
  int rc = pw_batch_build(&b->b, ds, rows, n, st->bias_key, err);
  if (rc != PC_OK)
    return rc;
  /* Dense data touches every key of a dense table in every batch: pull
   * the table as one range (one copy on the server, no key list). The
   * keys are distinct and < size, so nkeys == size means all of them. */
  b->range = st->dense && b->b.nkeys == st->size;
  size_t nv = b->b.nkeys * st->classes;
  if (nv / st->classes != b->b.nkeys ||
      pc_mem_reserve((void **)&b->vals, &b->cap_vals, nv, sizeof *b->vals) != PC_OK ||
      pc_mem_reserve((void **)&b->grad, &b->cap_grad, nv, sizeof *b->grad) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "softmax batch of %zu keys x %u classes", b->b.nkeys,
                      st->classes);
  reqs[0] = (pw_req_t){.table = 0, .width = st->classes, .nkeys = b->b.nkeys, .vals = b->vals,
                       .grad = b->grad};
  if (b->range) {
    reqs[0].range = 1;
    reqs[0].begin = pc_table_key(0, 0);
    reqs[0].end = pc_table_key(0, st->size);
  } else {
    reqs[0].keys = b->b.keys; /* table 0: global keys are the local keys */
  }
  *nreqs = 1;
  return PC_OK;
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

/* Row of vals/grad for the key in batch slot s. */
static inline size_t sm_pos(const sm_batch_t *b, uint32_t s) {
  return b->range ? (size_t)b->b.keys[s] : s;
}

/* One example: add its gradient to g (its non-zeros' keys at slots[..])
 * and return -log p_y. b->z holds its scores, then dL/dz = p - onehot(y). */
static double sm_example(sm_batch_t *b, const pw_dataset_t *ds, size_t row, const uint32_t *slots,
                         long y, const float *w, float *g) {
  const uint32_t K = b->st->classes;
  const size_t beg = ds->row[row], end = ds->row[row + 1];
  const uint32_t bs = b->b.bias_slot;
  for (uint32_t c = 0; c < K; c++)
    b->z[c] = bs != UINT32_MAX ? w[sm_pos(b, bs) * K + c] : 0.0;
  for (size_t j = beg; j < end; j++) {
    const float *wk = w + sm_pos(b, slots[j - beg]) * K;
    for (uint32_t c = 0; c < K; c++)
      b->z[c] += (double)wk[c] * ds->val[j];
  }
  sm_log_softmax(b->z, K);
  double loss = -b->z[y];
  for (uint32_t c = 0; c < K; c++)
    b->z[c] = exp(b->z[c]) - (c == (uint32_t)y);
  for (size_t j = beg; j < end; j++) {
    float *gk = g + sm_pos(b, slots[j - beg]) * K;
    for (uint32_t c = 0; c < K; c++)
      gk[c] += (float)(b->z[c] * ds->val[j]);
  }
  if (bs != UINT32_MAX)
    for (uint32_t c = 0; c < K; c++)
      g[sm_pos(b, bs) * K + c] += (float)b->z[c];
  return loss;
}

static int sm_batch_grad(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                         double *loss, pc_err_t *err) {
  sm_batch_t *b = batch;
  const uint32_t K = b->st->classes;
  if (nreqs != 1)
    return pc_err_set(err, PC_EINVAL, "softmax: %zu requests, expected 1", nreqs);
  float *g = reqs[0].grad;
  memset(g, 0, b->b.nkeys * K * sizeof *g);
  double sum = 0;
  size_t s = 0;
  for (size_t r = 0; r < b->b.nrows; r++) {
    size_t row = b->b.rows[r];
    long y = sm_label(ds, row, K);
    if (y < 0)
      return pc_err_set(err, PC_EINVAL, "softmax: example %zu has label %g, expected 0..%u", row,
                        (double)ds->label[row], K - 1);
    sum += sm_example(b, ds, row, b->b.slot + s, y, reqs[0].vals, g);
    s += ds->row[row + 1] - ds->row[row];
  }
  float scale = b->b.nrows ? 1.0f / (float)b->b.nrows : 0.0f;
  for (size_t i = 0; i < b->b.nkeys * K; i++)
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
    return pc_err_set(err, PC_EINVAL, "softmax model: expected one table of width %u", K);
  double *z = malloc(K * sizeof *z);
  if (z == NULL)
    return pc_err_set(err, PC_ENOMEM, "softmax scores");
  uint64_t features = cfg.model.features;
  const float *bias = cfg.model.bias ? pw_model_row(m, 0, features) : NULL;
  for (size_t r = 0; r < n; r++) {
    size_t i = rows ? rows[r] : r;
    for (uint32_t c = 0; c < K; c++)
      z[c] = bias ? bias[c] : 0.0;
    for (size_t j = ds->row[i]; j < ds->row[i + 1]; j++) {
      const float *w = ds->idx[j] < features ? pw_model_row(m, 0, ds->idx[j]) : NULL;
      for (uint32_t c = 0; w && c < K; c++)
        z[c] += (double)w[c] * ds->val[j];
    }
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
