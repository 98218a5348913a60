/* Linear regression, y ~ z = w.x + b, with the squared loss 0.5 (z - y)^2
 * or the Huber loss of model.huber_delta d (0.5 r^2 for |r| <= d, else
 * d (|r| - d/2): squared near the fit, linear for outliers, so one wild
 * label cannot dominate a batch). One table "w" of width 1 as logistic's:
 * keys = feature indices, the bias under key `features`, hashed or in
 * ranges (model.layout), zeros to start. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_glm.h"
#include "pw_model.h"
#include "pw_modelops.h"

typedef struct lin_state {
  pc_config_t cfg; /* model.* as trained: the table's shape */
  int huber;
  double delta;
} lin_state_t;

typedef struct lin_batch {
  const lin_state_t *st;
  pw_glm_batch_t g;
} lin_batch_t;

static int lin_init(void **state, const pc_config_t *cfg, const pw_shape_t *shape,
                    pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  if (cfg->model.loss == PC_LOSS_HUBER && !(cfg->model.huber_delta > 0))
    return pc_err_set(err, PC_EINVAL, "model.huber_delta: %g, expected > 0",
                      cfg->model.huber_delta);
  int rc = pw_glm_tables(cfg, shape, 1, tables, ntables, err);
  if (rc != PC_OK)
    return rc;
  lin_state_t *st = calloc(1, sizeof *st);
  if (st == NULL)
    return pc_err_set(err, PC_ENOMEM, "linear model state");
  st->cfg = *cfg;
  st->huber = cfg->model.loss == PC_LOSS_HUBER;
  st->delta = cfg->model.huber_delta;
  *state = st;
  return PC_OK;
}

static void lin_fini(void *state) { free(state); }

static int lin_batch_new(void *state, void **batch, pc_err_t *err) {
  lin_batch_t *b = calloc(1, sizeof *b);
  if (b == NULL)
    return pc_err_set(err, PC_ENOMEM, "linear batch");
  b->st = state;
  pw_glm_batch_init(&b->g, &b->st->cfg, "linear", 1, 0, 1);
  *batch = b;
  return PC_OK;
}

static void lin_batch_free(void *batch) {
  lin_batch_t *b = batch;
  if (b == NULL)
    return;
  pw_glm_batch_fini(&b->g);
  free(b);
}

static int lin_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                           pw_req_t *reqs, size_t *nreqs, pc_err_t *err) {
  lin_batch_t *b = batch;
  *nreqs = 1;
  return pw_glm_batch_build(&b->g, ds, rows, n, &reqs[0], err);
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
  memset(g, 0, b->g.b.nkeys * sizeof *g);
  double sum = 0;
  size_t s = 0;
  for (size_t r = 0; r < b->g.b.nrows; r++) {
    size_t row = b->g.b.rows[r], beg = ds->row[row], end = ds->row[row + 1];
    double z = b->g.b.bias_slot != UINT32_MAX ? w[b->g.b.bias_slot] : 0.0, dz;
    for (size_t j = beg; j < end; j++)
      z += (double)w[b->g.b.slot[s + (j - beg)]] * ds->val[j];
    sum += lin_loss(b->st, z - ds->label[row], &dz);
    for (size_t j = beg; j < end; j++)
      g[b->g.b.slot[s + (j - beg)]] += (float)(dz * ds->val[j]);
    if (b->g.b.bias_slot != UINT32_MAX)
      g[b->g.b.bias_slot] += (float)dz;
    s += end - beg;
  }
  float scale = b->g.b.nrows ? 1.0f / (float)b->g.b.nrows : 0.0f;
  for (size_t i = 0; i < b->g.b.nkeys; i++)
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
    return pc_err_set(err, PC_EMODEL, "linear model: expected one table of width 1");
  for (size_t r = 0; r < n; r++) {
    double z;
    pw_glm_score(m, &cfg, 1, ds, rows ? rows[r] : r, &z);
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
