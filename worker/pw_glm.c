#include "pw_glm.h"

#include <stdlib.h>
#include <string.h>

#include "pc_mem.h"

int pw_glm_tables(const pc_config_t *cfg, const pw_shape_t *shape, uint32_t width,
                  pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  if (shape->features > cfg->model.features)
    return pc_err_set(err, PC_EINVAL,
                      "model.features: %llu, but the data has %llu features (indices 0..%llu)",
                      (unsigned long long)cfg->model.features,
                      (unsigned long long)shape->features,
                      (unsigned long long)shape->features - 1);
  tables[0] = (pc_table_t){.name = "w", .id = 0,
                           .kind = cfg->model.layout == PC_LAYOUT_DENSE ? PC_TABLE_DENSE
                                                                        : PC_TABLE_SPARSE,
                           .size = cfg->model.features + (cfg->model.bias ? 1 : 0),
                           .width = width, .init = PC_INIT_ZEROS, .optimize = 1};
  *ntables = 1;
  return PC_OK;
}

void pw_glm_batch_init(pw_glm_batch_t *b, const pc_config_t *cfg, const char *model,
                       uint32_t width, int allow_range, int check) {
  memset(b, 0, sizeof *b);
  b->model = model;
  b->features = cfg->model.features;
  b->size = cfg->model.features + (cfg->model.bias ? 1 : 0);
  b->bias_key = cfg->model.bias ? cfg->model.features : UINT64_MAX;
  b->width = width;
  b->dense = cfg->model.layout == PC_LAYOUT_DENSE;
  b->allow_range = allow_range;
  b->check = check;
}

void pw_glm_batch_fini(pw_glm_batch_t *b) {
  pw_batch_free(&b->b);
  free(b->vals);
  free(b->grad);
  b->vals = b->grad = NULL;
}

/* A feature >= features would land on the bias key or outside the table. */
static int check_features(const pw_glm_batch_t *b, const pw_dataset_t *ds, const size_t *rows,
                          size_t n, pc_err_t *err) {
  for (size_t r = 0; r < n; r++)
    for (size_t j = ds->row[rows[r]]; j < ds->row[rows[r] + 1]; j++)
      if (ds->idx[j] >= b->features)
        return pc_err_set(err, PC_EINVAL, "%s: example %zu has feature %llu, but "
                          "model.features is %llu", b->model, rows[r],
                          (unsigned long long)ds->idx[j], (unsigned long long)b->features);
  return PC_OK;
}

int pw_glm_batch_build(pw_glm_batch_t *b, const pw_dataset_t *ds, const size_t *rows, size_t n,
                       pw_req_t *req, pc_err_t *err) {
  int rc = b->check ? check_features(b, ds, rows, n, err) : PC_OK;
  if (rc == PC_OK)
    rc = pw_batch_build(&b->b, ds, rows, n, b->bias_key, err);
  if (rc != PC_OK)
    return rc;
  /* Dense data touches every key of a dense table in every batch: pull
   * the table as one range (one copy on the server, no key list). The
   * keys are distinct and < size, so nkeys == size means all of them. */
  b->range = b->allow_range && b->dense && b->b.nkeys == b->size;
  size_t nv = b->b.nkeys * b->width;
  if (nv / b->width != b->b.nkeys ||
      pc_mem_reserve((void **)&b->vals, &b->cap_vals, nv, sizeof *b->vals) != PC_OK ||
      pc_mem_reserve((void **)&b->grad, &b->cap_grad, nv, sizeof *b->grad) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "%s batch of %zu keys x %u", b->model, b->b.nkeys,
                      b->width);
  *req = (pw_req_t){.table = 0, .width = b->width, .nkeys = b->b.nkeys, .vals = b->vals,
                    .grad = b->grad};
  if (b->range) {
    req->range = 1;
    req->begin = pc_table_key(0, 0);
    req->end = pc_table_key(0, b->size);
  } else {
    req->keys = b->b.keys; /* table 0: global keys are the local keys */
  }
  return PC_OK;
}

void pw_glm_score(const pw_model_t *m, const pc_config_t *cfg, uint32_t width,
                  const pw_dataset_t *ds, size_t i, double *z) {
  uint64_t features = cfg->model.features;
  const float *bias = cfg->model.bias ? pw_model_row(m, 0, features) : NULL;
  for (uint32_t c = 0; c < width; c++)
    z[c] = bias ? bias[c] : 0.0;
  for (size_t j = ds->row[i]; j < ds->row[i + 1]; j++) {
    const float *w = ds->idx[j] < features ? pw_model_row(m, 0, ds->idx[j]) : NULL;
    for (uint32_t c = 0; w && c < width; c++)
      z[c] += (double)w[c] * ds->val[j];
  }
}
