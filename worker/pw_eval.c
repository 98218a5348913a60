/* Binary classification metrics: accuracy, log-loss, ROC AUC. */
#include "pw_eval.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define PW_EVAL_CLIP 1e-15

typedef struct scored {
  float score;
  float label;
} scored_t;

static int check_inputs(const float *prob, const float *label, size_t n, pc_err_t *err) {
  if (prob == NULL || label == NULL || n == 0)
    return pc_err_set(err, PC_EINVAL, "evaluation needs at least one example");
  for (size_t i = 0; i < n; i++) {
    if (!(prob[i] >= 0.0f && prob[i] <= 1.0f)) /* also catches NaN */
      return pc_err_set(err, PC_EINVAL, "probability %zu is %g, not in [0, 1]", i,
                        (double)prob[i]);
    if (label[i] != 0.0f && label[i] != 1.0f)
      return pc_err_set(err, PC_EINVAL, "label %zu is %g, not 0 or 1", i, (double)label[i]);
  }
  return 0;
}

static int cmp_score(const void *a, const void *b) {
  float x = ((const scored_t *)a)->score, y = ((const scored_t *)b)->score;
  return (x > y) - (x < y);
}

/* Sum over tied-score groups (ascending) of pos * (neg below + neg tied / 2):
 * the number of correctly ordered positive/negative pairs, ties half. */
static double auc_sorted(const scored_t *s, size_t n, double npos, double nneg) {
  double good = 0.0, neg_below = 0.0;
  for (size_t i = 0; i < n;) {
    double pos = 0.0, neg = 0.0;
    size_t j = i;
    for (; j < n && s[j].score == s[i].score; j++) {
      if (s[j].label == 1.0f)
        pos += 1.0;
      else
        neg += 1.0;
    }
    good += pos * (neg_below + 0.5 * neg);
    neg_below += neg;
    i = j;
  }
  return good / (npos * nneg);
}

static int auc(const float *prob, const float *label, size_t n, double npos, double *out,
               pc_err_t *err) {
  if (npos == 0.0 || npos == (double)n) {
    *out = NAN;
    return 0;
  }
  if (n > SIZE_MAX / sizeof(scored_t))
    return pc_err_set(err, PC_ENOMEM, "evaluation: %zu examples is too many", n);
  scored_t *s = malloc(n * sizeof *s);
  if (s == NULL)
    return pc_err_set(err, PC_ENOMEM, "evaluation: out of memory for %zu examples", n);
  for (size_t i = 0; i < n; i++)
    s[i] = (scored_t){prob[i], label[i]};
  qsort(s, n, sizeof *s, cmp_score);
  *out = auc_sorted(s, n, npos, (double)n - npos);
  free(s);
  return 0;
}

int pw_eval_binary(const float *prob, const float *label, size_t n, pw_metrics_t *out,
                   pc_err_t *err) {
  if (out == NULL)
    return pc_err_set(err, PC_EINVAL, "evaluation: NULL output");
  int rc = check_inputs(prob, label, n, err);
  if (rc < 0)
    return rc;
  double correct = 0.0, loss = 0.0, npos = 0.0;
  for (size_t i = 0; i < n; i++) {
    double p = prob[i], y = label[i];
    correct += ((p >= 0.5) == (y == 1.0)) ? 1.0 : 0.0;
    p = fmin(fmax(p, PW_EVAL_CLIP), 1.0 - PW_EVAL_CLIP);
    loss -= y == 1.0 ? log(p) : log1p(-p);
    npos += y;
  }
  double a = NAN;
  rc = auc(prob, label, n, npos, &a, err);
  if (rc < 0)
    return rc;
  *out = (pw_metrics_t){.n = n, .accuracy = correct / (double)n, .logloss = loss / (double)n,
                        .auc = a};
  return 0;
}
