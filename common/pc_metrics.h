/* Test metrics as a list of name/value pairs, whatever the model: the one
 * human rendering (the scheduler's final log line, the launcher's summary
 * and `parasol eval` show the same digits for the same figures), the rule
 * for names, and the JSON "test" object shared by metrics.json and
 * `parasol eval --json`. Names in use: accuracy, logloss, auc (binary);
 * accuracy, top5, logloss (multiclass, plus a confusion matrix); rmse, mae
 * (regression, ratings). See docs/metrics.md. */
#ifndef PC_METRICS_H
#define PC_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"

#define PC_METRICS_MAX 16          /* metrics in one list */
#define PC_METRIC_NAME_MAX 16      /* a name's bytes with its NUL: 1..15 characters */
#define PC_METRICS_MAX_CLASSES 1000 /* largest K of a K x K confusion matrix */

typedef struct pc_metric {
  char name[PC_METRIC_NAME_MAX];
  double value; /* NaN where it is not defined (e.g. AUC with one class) */
} pc_metric_t;

/* Room for any output of pc_metrics_format. */
#define PC_METRICS_TEXT_MAX 640

/* "accuracy 0.8499  logloss 0.3241  auc 0.9022": the names as given, each
 * value rounded once to four decimals (|v| >= 1e15 in %.4e), "n/a" for a
 * value that is not finite, "no metrics" for an empty list. Returns buf
 * (always NUL-terminated when len > 0). */
const char *pc_metrics_format(char *buf, size_t len, const pc_metric_t *m, size_t n);

/* A metric name must be 1..15 characters of [a-z0-9_], and none of the
 * names the "test" object uses for itself: n, lines_skipped, confusion,
 * classes. Returns PC_OK or PC_EPROTO with err saying why. */
int pc_metric_name_check(const char *name, pc_err_t *err);

/* The value of the metric called name in m[0..n), NaN if there is none. */
double pc_metrics_get(const pc_metric_t *m, size_t n, const char *name);

/* 1 when a larger value of the metric is better (accuracy, auc, top5), -1
 * when a smaller one is (logloss, rmse, mae), 0 for a name it does not
 * know: early stopping and sweeps rank by it. */
int pc_metric_direction(const char *name);

/* The JSON writers' two helpers (metrics.json, eval --json): obj[key] = v
 * taking v's reference, where any failure frees both and returns NULL, so
 * a chain of calls needs one check at its end; and a counter, saturated at
 * 2^63 - 1. */
json_t *pc_json_put(json_t *obj, const char *key, json_t *v);
json_t *pc_json_count(uint64_t v);

/* {"n": n, <name>: <value>, ... in list order, "confusion": [[..], ..]}:
 * non-finite values as null; the confusion matrix (row = true class,
 * column = predicted, counts saturated at 2^63-1) only when classes > 0
 * and confusion != NULL. A new reference, or NULL when out of memory. */
json_t *pc_metrics_json(uint64_t n, const pc_metric_t *m, size_t nm, size_t classes,
                        const uint64_t *confusion);

#endif
