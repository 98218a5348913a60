/* Binary classification metrics. */
#ifndef PW_EVAL_H
#define PW_EVAL_H

#include <stddef.h>

#include "pc_error.h"

typedef struct pw_metrics {
  size_t n;
  double accuracy; /* threshold 0.5 */
  double logloss;  /* mean, probabilities clipped to [1e-15, 1-1e-15] */
  double auc;      /* ROC AUC, ties counted half; NaN if one class only */
} pw_metrics_t;

/* prob[i] in [0,1], label[i] in {0,1}. Needs n >= 1. */
int pw_eval_binary(const float *prob, const float *label, size_t n, pw_metrics_t *out,
                   pc_err_t *err);

#endif
