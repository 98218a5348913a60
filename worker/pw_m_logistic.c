/* Binary logistic regression, p = sigmoid(w.x + b), the log-loss: the
 * linear model table of width 1 (pw_glm.h), keys = feature indices, the
 * bias under key `features`, hashed (model.layout: sparse) or in ranges. */
#include <stdlib.h>

#include "pw_glm.h"
#include "pw_logreg.h"
#include "pw_modelops.h"

static int lr_init(void **state, const pc_config_t *cfg, const pw_shape_t *shape,
                   pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  int rc = pw_glm_tables(cfg, shape, 1, tables, ntables, err);
  if (rc != PC_OK)
    return rc;
  pc_config_t *copy = malloc(sizeof *copy);
  if (copy == NULL)
    return pc_err_set(err, PC_ENOMEM, "logistic model state");
  *copy = *cfg;
  *state = copy;
  return PC_OK;
}

static void lr_fini(void *state) { free(state); }

static int lr_batch_new(void *state, void **batch, pc_err_t *err) {
  pw_glm_batch_t *b = malloc(sizeof *b);
  if (b == NULL)
    return pc_err_set(err, PC_ENOMEM, "logistic batch");
  /* the readers bound the indices by model.features: no second pass */
  pw_glm_batch_init(b, state, "logistic", 1, 0, 0);
  *batch = b;
  return PC_OK;
}

static void lr_batch_free(void *batch) {
  if (batch != NULL)
    pw_glm_batch_fini(batch);
  free(batch);
}

static int lr_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                          pw_req_t *reqs, size_t *nreqs, pc_err_t *err) {
  *nreqs = 1;
  return pw_glm_batch_build(batch, ds, rows, n, &reqs[0], err);
}

static int lr_batch_grad(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                         double *loss, pc_err_t *err) {
  pw_glm_batch_t *b = batch;
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
  if (rc == PC_OK && (m->ntables != 1 || m->tables[0].spec.width != 1))
    rc = pc_err_set(err, PC_EMODEL, "logistic model: expected one table of width 1");
  for (size_t r = 0; r < n && rc == PC_OK; r++) {
    double z;
    pw_glm_score(m, &cfg, 1, ds, rows ? rows[r] : r, &z);
    out[r] = (float)pw_logreg_sigmoid(z);
  }
  return rc;
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
