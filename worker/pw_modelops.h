/* The model interface: one ops table per model (logistic, softmax, linear,
 * mlp, cnn, mf), each in its own file (pw_m_NAME.c) and registered by one
 * line in pw_modelops.c. The worker's training loop, evaluation, `parasol
 * eval` and `parasol predict` know models only through it.
 *
 * Training: init() checks the config against the data's shape and declares
 * the model's tables (pc_table.h). For each minibatch the runtime calls
 * batch_build() -- which says, per table, the keys (or the contiguous key
 * range) to pull -- pulls those values into reqs[i].vals, calls
 * batch_grad(), and pushes reqs[i].grad for the same keys. A model never
 * talks to the network.
 *
 * Prediction: predict() runs on a trained pw_model_t (the servers' tables
 * fetched, or a model file loaded), where a sparse key that was never
 * stored reads as zeros. */
#ifndef PW_MODELOPS_H
#define PW_MODELOPS_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pc_table.h"
#include "pw_data.h"

struct pw_model; /* pw_model.h */

/* One table's part of a minibatch. The batch owns keys, vals and grad;
 * they stay valid until the next batch_build on the same batch. */
typedef struct pw_req {
  uint32_t table;      /* table id */
  uint32_t width;      /* that table's width */
  int range;           /* 1: the keys are [begin, end); keys is NULL */
  uint64_t begin, end; /* global keys (pc_table_key), range only */
  const uint64_t *keys;/* global keys, distinct, all of this table (!range) */
  size_t nkeys;        /* keys (end - begin for a range) */
  float *vals;         /* nkeys * width, filled by the pull */
  float *grad;         /* nkeys * width, written by batch_grad */
} pw_req_t;

typedef struct pw_model_ops {
  const char *name;       /* model.type */
  pc_model_type_t type;
  pw_label_kind_t labels; /* how the data's labels are read */
  int pairs;              /* 1: trains on rating pairs (pw_shape_t.pairs), and only on them */
  /* Check cfg (model.*) against the training data's shape and declare the
   * tables: fills tables[0..*ntables) (at most PC_TABLE_MAX), ids 0..n-1.
   * Creates the per-run state (*state, freed with fini). Errors name the
   * config field, e.g. "model.classes: 2, but the data has label 7". */
  int (*init)(void **state, const pc_config_t *cfg, const pw_shape_t *shape, pc_table_t *tables,
              size_t *ntables, pc_err_t *err);
  void (*fini)(void *state);
  /* A minibatch context (the runtime keeps two: one computing, one
   * pulling). */
  int (*batch_new)(void *state, void **batch, pc_err_t *err);
  void (*batch_free)(void *batch);
  /* The requests for rows[0..n) of ds: reqs[0..*nreqs), *nreqs <=
   * PC_TABLE_MAX. rows stays valid until batch_grad returns. */
  int (*batch_build)(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                     pw_req_t *reqs, size_t *nreqs, pc_err_t *err);
  /* With reqs[i].vals pulled: write the gradient of the MEAN loss over the
   * batch (regularization is the servers' business) into reqs[i].grad, and
   * set *loss to the SUM of the examples' losses. */
  int (*batch_grad)(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                    double *loss, pc_err_t *err);
  /* Outputs per example of predict for a trained model: 1 (probability of
   * class 1; or the predicted number) or K (class probabilities). */
  size_t (*outputs)(const struct pw_model *m);
  /* out[i * outputs .. ] for rows[0..n) of ds (rows NULL: rows 0..n-1).
   * The model applies no feature transform: the caller has. */
  int (*predict)(const struct pw_model *m, const pw_dataset_t *ds, const size_t *rows, size_t n,
                 float *out, pc_err_t *err);
} pw_model_ops_t;

/* The model registered for type, or NULL. */
const pw_model_ops_t *pw_model_ops_find(pc_model_type_t type);
/* Every registered model, in registration order: *n of them. */
const pw_model_ops_t *const *pw_model_ops_all(size_t *n);

#endif
