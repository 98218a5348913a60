#include "pc_metrics.h"

#include <math.h>
#include <stdio.h>

static const char *one(char *buf, size_t len, double v) {
  if (isfinite(v))
    snprintf(buf, len, "%.4f", v);
  else
    snprintf(buf, len, "n/a");
  return buf;
}

const char *pc_metrics_format(char *buf, size_t len, double accuracy, double logloss, double auc) {
  char a[40], l[40], u[40];
  if (len > 0)
    snprintf(buf, len, "accuracy %s  log-loss %s  AUC %s", one(a, sizeof a, accuracy),
             one(l, sizeof l, logloss), one(u, sizeof u, auc));
  return buf;
}
