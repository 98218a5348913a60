/* Evaluation of a model's predictions, for every label kind, streamed: a
 * test set goes through pw_eval_add in chunks of any size and the figures
 * come out of pw_eval_finish as a name/value list (pc_metric_t), the form
 * the worker sends to the scheduler and metrics.json stores.
 *
 *   kind               outputs   metrics, in this order
 *   PW_LABEL_BINARY    1         accuracy (threshold 0.5), logloss, auc
 *   PW_LABEL_CLASS     K >= 2    accuracy, top5 (only when K > 5), logloss,
 *                                and a K x K confusion matrix
 *   PW_LABEL_REAL      1         rmse, mae
 *
 * Binary: pred = P(class 1), label 0 or 1. Multiclass: pred = K class
 * probabilities, label an integer 0..K-1; the predicted class is the first
 * one of highest probability, and top5 counts a true class ranked among the
 * first five by (probability descending, class ascending). Log-loss clips
 * probabilities to [1e-15, 1 - 1e-15]. AUC counts ties half and is NaN when
 * the test set has one class only. Regression: pred and label finite. */
#ifndef PW_EVAL_H
#define PW_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "parasol.pb-c.h"
#include "pc_error.h"
#include "pc_metrics.h"
#include "pw_data.h"

typedef struct pw_eval pw_eval_t;

typedef struct pw_evalres {
  size_t n;                            /* examples evaluated */
  size_t nmetrics;
  pc_metric_t metrics[PC_METRICS_MAX]; /* [nmetrics], in the kind's order above */
  size_t classes;                      /* multiclass: K; else 0 */
  uint64_t *confusion;                 /* multiclass: [K * K] counts, row = true class,
                                          column = predicted (owned); else NULL */
} pw_evalres_t;

/* An evaluator for predictions of `outputs` floats per example: 1 for
 * binary and real, K in 2..PC_METRICS_MAX_CLASSES for class. On failure
 * *out is NULL and err says why (PC_EINVAL, PC_ENOMEM). */
int pw_eval_new(pw_eval_t **out, pw_label_kind_t kind, size_t outputs, pc_err_t *err);

/* Adds n examples: pred[i * outputs ..] and label[i]. A prediction out of
 * range (a probability not in [0, 1], a number not finite) is PC_EINVAL; a
 * label that does not fit the kind (not 0/1, a class >= K or not an
 * integer, not finite) is PC_EDATA; both name the example's index counted
 * from the first example added. On error nothing of this call is counted. */
int pw_eval_add(pw_eval_t *e, const float *pred, const float *label, size_t n, pc_err_t *err);

/* The figures over every example added (at least one), into *res, which
 * the caller frees with pw_evalres_free. Once only: the evaluator is spent
 * afterwards. On error *res is empty. */
int pw_eval_finish(pw_eval_t *e, pw_evalres_t *res, pc_err_t *err);

void pw_eval_free(pw_eval_t **e);    /* NULL-safe; sets *e = NULL */
void pw_evalres_free(pw_evalres_t *r); /* frees confusion, empties *r */

/* For people and scripts: "examples N", then "NAME VALUE" per metric (six
 * decimals, one per line), then for K <= 20 the confusion matrix as a table
 * (rows: true class, columns: predicted); a bigger one is only named. */
void pw_evalres_print(const pw_evalres_t *r, FILE *out);

/* One JSON document and a newline: {"n": N, "accuracy": ..., ...,
 * "confusion": [[...], ...]} (the same object as metrics.json's "test",
 * pc_metrics_json), reals with 17 significant digits, non-finite as null.
 * Returns PC_OK, PC_ENOMEM or PC_EIO. */
int pw_evalres_json(const pw_evalres_t *r, FILE *out, pc_err_t *err);

/* Points pb's n, metrics, classes and confusion at r's figures, for the
 * worker's EvalResult to the scheduler. Allocates nothing: the Metric
 * messages live in *store, names and counts in *r; both must outlive pb's
 * use (packing). */
typedef struct pw_evalres_pb {
  Parasol__Metric m[PC_METRICS_MAX];
  Parasol__Metric *p[PC_METRICS_MAX];
} pw_evalres_pb_t;
void pw_evalres_to_pb(const pw_evalres_t *r, pw_evalres_pb_t *store, Parasol__EvalResult *pb);

#endif
