/* What `parasol predict` and `parasol eval` share: a model file loaded, the
 * data read the way the model was trained (its data.format, label column
 * and offset, unless overridden) and transformed as in training (the
 * model's standardization), and the predictions written one line per
 * example. */
#ifndef PW_SCORE_H
#define PW_SCORE_H

#include <stdio.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pw_data.h"
#include "pw_model.h"
#include "pw_modelops.h"

typedef struct pw_score_opts {
  const char *format;  /* NULL: the model's data.format */
  const char *label;   /* csv label column; NULL: the model's data.label */
  const char *labels;  /* idx labels file (eval needs it for idx data) */
  int labels_optional; /* predict: examples may come without labels */
} pw_score_opts_t;

typedef struct pw_scored {
  pw_model_t model;
  pc_config_t cfg; /* defaults + the model's settings + the overrides */
  const pw_model_ops_t *ops;
  pw_dataset_t data;
} pw_scored_t;

/* Load model_path and data_path ("-": standard input, LIBSVM only). On
 * error s holds nothing (pw_score_close is still safe). */
int pw_score_open(pw_scored_t *s, const char *model_path, const char *data_path,
                  const pw_score_opts_t *o, pc_err_t *err);
void pw_score_close(pw_scored_t *s);

/* One line per example: binary "CLASS PROBABILITY" (CLASS 1 when P(label =
 * 1) >= threshold; PROBABILITY printed below 1 so threshold 1 means all
 * 0), multiclass "CLASS PROBABILITY" (the most probable class), regression
 * the predicted number. Returns PC_OK, a model error, or PC_ESYS with errno
 * set when writing failed. */
int pw_score_write(const pw_scored_t *s, FILE *out, double threshold, pc_err_t *err);

#endif
