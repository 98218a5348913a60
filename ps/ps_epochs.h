/* The run's per-epoch series, kept by the scheduler from the workers'
 * progress reports: one row per epoch once every worker has reported it
 * (examples, summed training loss, the slowest worker's time), appended to
 * <output.dir>/metrics.csv as it completes and written into metrics.json's
 * "epochs" at the end (docs/metrics.md).
 *
 * metrics.csv: a header line, then one line per epoch:
 *   epoch,seconds,samples,train_loss[,valid_<metric>...]
 * seconds: from the start of training to the end of the epoch (the slowest
 * worker's), samples: examples of that epoch over all workers, train_loss:
 * their mean training loss (the model's own loss: log-loss, squared error).
 * A figure that does not exist is left empty (an epoch without an
 * evaluation when training.eval_every > 1). With a validation set the
 * columns are known only at the first evaluation: rows wait until then.
 * The file is appended line by line and flushed, so a reader (or `parasol
 * plot`) sees whole lines.
 *
 * Beside the rows, every evaluation on data.valid in order, at an epoch's
 * end or inside it (training.eval_steps): metrics.json's "evaluations".
 * The CSV keeps one row per epoch; its valid_* cells are the epoch end's. */
#ifndef PS_EPOCHS_H
#define PS_EPOCHS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pc_error.h"
#include "pc_metrics.h"

#define PS_EPOCHS_FILE "metrics.csv"

typedef struct ps_epoch {
  uint64_t samples;
  double loss_sum;
  double seconds;  /* the slowest worker's, so far */
  int reported;    /* workers that reported this epoch */
  pc_metric_t valid[PC_METRICS_MAX]; /* worker 0's evaluation on data.valid */
  size_t nvalid;   /* 0: none this epoch */
  uint64_t valid_n;
} ps_epoch_t;

typedef struct ps_eval {
  uint32_t epoch;
  uint64_t step;   /* the global step inside the epoch; 0: at its end */
  uint64_t n;      /* examples evaluated */
  pc_metric_t m[PC_METRICS_MAX];
  size_t nm;
} ps_eval_t;

typedef struct ps_epochs {
  ps_epoch_t *rows;  /* [epochs], index = epoch - 1 (owned) */
  int epochs, workers;
  int done;          /* rows 0..done-1 are complete (and in the CSV) */
  uint64_t *last;    /* [workers]: the last epoch each reported (owned) */
  FILE *csv;         /* NULL: no file (not opened, or writing failed) */
  int validating;    /* data.valid is set: the CSV waits for the metric names */
  int written;       /* rows already in the CSV */
  pc_metric_t names[PC_METRICS_MAX]; /* the validation columns (names only) */
  size_t nnames;
  int header;        /* the header is written */
  ps_eval_t *evals;  /* every evaluation, in order (owned) */
  size_t nevals, evals_cap;
} ps_epochs_t;

/* epochs: training.epochs; workers: cluster.workers; validating: whether
 * worker 0 evaluates on data.valid. e zeroed on failure. */
int ps_epochs_init(ps_epochs_t *e, int epochs, int workers, int validating, pc_err_t *err);
void ps_epochs_free(ps_epochs_t *e);

/* Create <dir>/metrics.csv (replacing one there); its header goes in with
 * the first row. */
int ps_epochs_open(ps_epochs_t *e, const char *dir, pc_err_t *err);

/* Worker `worker` finished epoch `epoch` (1-based) with `samples`
 * examples, `loss_sum` summed loss, at `seconds` since it started
 * training. A report out of range, or for an epoch that worker already
 * reported, is ignored (returns 0). Returns 1 when it completed one or more
 * rows (appended to the CSV). */
int ps_epochs_add(ps_epochs_t *e, int worker, uint64_t epoch, uint64_t samples, double loss_sum,
                  double seconds);

/* Worker 0's evaluation on data.valid at the end of `epoch`: n examples,
 * metrics m[0..nm). Call before worker 0's progress report of that epoch
 * completes the row. Out of range: ignored. */
void ps_epochs_set_valid(ps_epochs_t *e, uint64_t epoch, uint64_t n, const pc_metric_t *m,
                         size_t nm);

/* An evaluation of worker 0 on data.valid in `epoch`: at its end (step
 * 0: also the row's, as ps_epochs_set_valid) or inside it after global
 * step `step`. Appended to the evaluations; PC_ENOMEM (err says so) when
 * the list cannot grow. An epoch out of range or nm > PC_METRICS_MAX:
 * ignored (PC_OK). */
int ps_epochs_evaluation(ps_epochs_t *e, uint64_t epoch, uint64_t step, uint64_t n,
                         const pc_metric_t *m, size_t nm, pc_err_t *err);

/* The evaluation at (epoch, step), or NULL. */
const ps_eval_t *ps_epochs_find_eval(const ps_epochs_t *e, uint64_t epoch, uint64_t step);

/* Write the rows complete but still waiting for the validation columns
 * (a run that ends before its first evaluation). */
void ps_epochs_flush(ps_epochs_t *e);

/* The mean training loss of row i (NaN without samples). */
double ps_epochs_loss(const ps_epochs_t *e, int i);

#endif
