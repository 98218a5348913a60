/* The one human rendering of test metrics, shared by the scheduler's final
 * log line, the launcher's summary and `parasol eval`, so every place shows
 * the same digits for the same figures. */
#ifndef PC_METRICS_H
#define PC_METRICS_H

#include <stddef.h>

/* Room for any output of pc_metrics_format (finite values up to 1e9). */
#define PC_METRICS_TEXT_MAX 128

/* "accuracy 0.8499  log-loss 0.3241  AUC 0.9022": four decimals, each value
 * rounded once from the double given; a non-finite value shows as "n/a".
 * Returns buf (always NUL-terminated when len > 0). */
const char *pc_metrics_format(char *buf, size_t len, double accuracy, double logloss, double auc);

#endif
