/* What the linear models share (logistic, linear, softmax): one table "w"
 * of width W over model.features -- key f holds feature f's W weights, key
 * `features` the W biases (model.bias) -- hashed or split in ranges
 * (model.layout), zeros to start; a minibatch of it (the batch's distinct
 * keys, W values each, or the whole table as one range when a dense table
 * meets dense data); and a trained model's scores w.x + b. Each model keeps
 * its own loss and gradient loop. */
#ifndef PW_GLM_H
#define PW_GLM_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pw_batch.h"
#include "pw_data.h"
#include "pw_model.h"
#include "pw_modelops.h"

/* Declare the table (tables[0], *ntables = 1) after checking the data's
 * features fit model.features (the message names model.features). */
int pw_glm_tables(const pc_config_t *cfg, const pw_shape_t *shape, uint32_t width,
                  pc_table_t *tables, size_t *ntables, pc_err_t *err);

typedef struct pw_glm_batch {
  pw_batch_t b;
  float *vals, *grad;
  size_t cap_vals, cap_grad; /* floats */
  const char *model;         /* for messages */
  uint64_t features;         /* data indices are below it */
  uint64_t size;             /* table size: features (+ 1 with a bias) */
  uint64_t bias_key;         /* UINT64_MAX: no bias */
  uint32_t width;
  int dense;                 /* the table is in ranges */
  int allow_range;           /* the model's gradient reads rows by pw_glm_pos */
  int check;                 /* refuse data indices >= features (else the reader did) */
  int range;                 /* this batch pulls the whole table as one range */
} pw_glm_batch_t;

/* A batch context for cfg's table of width W (owned by the caller). */
void pw_glm_batch_init(pw_glm_batch_t *b, const pc_config_t *cfg, const char *model,
                       uint32_t width, int allow_range, int check);
void pw_glm_batch_fini(pw_glm_batch_t *b);

/* Build rows[0..n) into b and its one request *req. */
int pw_glm_batch_build(pw_glm_batch_t *b, const pw_dataset_t *ds, const size_t *rows, size_t n,
                       pw_req_t *req, pc_err_t *err);

/* Row of vals/grad for the key in batch slot s. */
static inline size_t pw_glm_pos(const pw_glm_batch_t *b, uint32_t s) {
  return b->range ? (size_t)b->b.keys[s] : s;
}

/* z[0..W) = b + w.x of example i of ds from a trained model whose table 0
 * has width W (features >= model.features are ignored; a key the model
 * does not hold weighs 0). */
void pw_glm_score(const pw_model_t *m, const pc_config_t *cfg, uint32_t width,
                  const pw_dataset_t *ds, size_t i, double *z);

#endif
