/* <output.dir>/metrics.json: how a run ended and the figures the scheduler
 * holds, as a JSON document (format 2, docs/metrics.md) built with jansson.
 *
 * The inputs are the scheduler's own records, borrowed for the call: the
 * last Progress of each worker, the ServerStats of each server and worker
 * 0's EvalResult. Anything not received yet is passed as NULL and written
 * as null, so a failed run's file holds what was known and nothing made up. */
#ifndef PS_METRICS_H
#define PS_METRICS_H

#include <stdint.h>
#include <time.h>

#include "parasol.pb-c.h"
#include "pc_error.h"
#include "pc_metrics.h"
#include "ps_epochs.h"

#define PS_METRICS_FORMAT 3
#define PS_METRICS_FILE "metrics.json"

typedef struct ps_metrics_worker {
  const char *host;               /* NULL: never registered */
  const Parasol__Progress *prog;  /* its last report; NULL: none received */
} ps_metrics_worker_t;

typedef struct ps_metrics_server {
  const char *host;                  /* NULL: never registered */
  const Parasol__ServerStats *stats; /* NULL: no statistics received */
} ps_metrics_server_t;

typedef struct ps_metrics_run {
  const char *error;      /* NULL: status "finished"; else "failed", and this is why */
  time_t started, ended;  /* wall clock, written as UTC ISO-8601 */
  int epochs;             /* training.epochs */
  const ps_metrics_worker_t *workers; /* [nworkers], index = rank */
  int nworkers;
  const ps_metrics_server_t *servers; /* [nservers], index = rank */
  int nservers;
  const Parasol__EvalResult *eval;    /* worker 0's report; NULL: none. Its
                                         figures are written only when it
                                         passes ps_metrics_eval_check */
  uint64_t messages_dropped;          /* by the scheduler */
  const ps_epochs_t *series;          /* per-epoch rows ("epochs"); NULL: none */
  uint32_t best_epoch;                /* early stopping's best evaluation; 0: none */
  uint64_t best_step;                 /* its step inside best_epoch; 0: at its end */
} ps_metrics_run_t;

/* Write <dir>/metrics.json: pretty-printed (2-space indent), reals with 17
 * significant digits so they read back as the same doubles, non-finite
 * values as null, counters above 2^63-1 saturated. The document goes to
 * metrics.json.tmp, is fsync'ed, then renamed over metrics.json (and the
 * directory fsync'ed), so a reader sees the old file or the whole new one.
 * Returns PC_OK, PC_EINVAL (NULL argument, dir too long), PC_ENOMEM or
 * PC_EIO, with err naming the file and the reason. */
int ps_metrics_write(const char *dir, const ps_metrics_run_t *run, pc_err_t *err);

/* Whether worker 0's EvalResult, off the wire, is one the scheduler can
 * keep: at most PC_METRICS_MAX metrics, each with a name that passes
 * pc_metric_name_check and no name twice; classes <= PC_METRICS_MAX_CLASSES;
 * a confusion matrix only with classes > 0 and exactly classes x classes
 * counts. Returns PC_OK, or PC_EPROTO with err saying what is wrong. */
int ps_metrics_eval_check(const Parasol__EvalResult *e, pc_err_t *err);

/* e's metrics copied into out[0..PC_METRICS_MAX), in the order sent; the
 * number copied (0 when e fails ps_metrics_eval_check). */
size_t ps_metrics_eval_list(const Parasol__EvalResult *e, pc_metric_t *out);

#endif
