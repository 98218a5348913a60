#include "ps_epochs.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pc_config.h"
#include "pc_mem.h"

static void csv_close(ps_epochs_t *e) {
  if (e->csv != NULL)
    fclose(e->csv);
  e->csv = NULL;
}

int ps_epochs_init(ps_epochs_t *e, int epochs, int workers, int validating, pc_err_t *err) {
  memset(e, 0, sizeof *e);
  if (epochs < 1 || workers < 1)
    return pc_err_set(err, PC_EINVAL, "ps_epochs_init: %d epochs, %d workers", epochs, workers);
  e->rows = calloc((size_t)epochs, sizeof *e->rows);
  e->last = calloc((size_t)workers, sizeof *e->last);
  if (e->rows == NULL || e->last == NULL) {
    ps_epochs_free(e);
    return pc_err_set(err, PC_ENOMEM, "per-epoch figures of %d epochs", epochs);
  }
  e->epochs = epochs;
  e->workers = workers;
  e->validating = validating;
  return PC_OK;
}

void ps_epochs_free(ps_epochs_t *e) {
  csv_close(e);
  free(e->rows);
  free(e->last);
  free(e->evals);
  memset(e, 0, sizeof *e);
}

int ps_epochs_open(ps_epochs_t *e, const char *dir, pc_err_t *err) {
  char path[PC_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", dir, PS_EPOCHS_FILE);
  e->csv = fopen(path, "w");
  if (e->csv == NULL)
    return pc_err_set(err, PC_EIO, "%s: %s", path, strerror(errno));
  return PC_OK;
}

double ps_epochs_loss(const ps_epochs_t *e, int i) {
  const ps_epoch_t *r = &e->rows[i];
  return r->samples ? r->loss_sum / (double)r->samples : NAN;
}

static void put_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, ",%.9g", v);
  else
    fputc(',', f);
}

/* Row i's line: its validation cells in the header's column order. */
static void put_row(ps_epochs_t *e, int i) {
  const ps_epoch_t *r = &e->rows[i];
  fprintf(e->csv, "%d,%.6f,%llu", i + 1, r->seconds, (unsigned long long)r->samples);
  put_num(e->csv, ps_epochs_loss(e, i));
  for (size_t c = 0; c < e->nnames; c++)
    put_num(e->csv, pc_metrics_get(r->valid, r->nvalid, e->names[c].name));
  fputc('\n', e->csv);
}

/* Rows written..upto-1 (and the header first); a write error closes the
 * file (the series in metrics.json is still whole). */
static void write_rows(ps_epochs_t *e, int upto) {
  if (e->csv == NULL)
    return;
  if (!e->header) {
    fputs("epoch,seconds,samples,train_loss", e->csv);
    for (size_t c = 0; c < e->nnames; c++)
      fprintf(e->csv, ",valid_%s", e->names[c].name);
    fputc('\n', e->csv);
    e->header = 1;
  }
  for (; e->written < upto; e->written++)
    put_row(e, e->written);
  if (ferror(e->csv) || fflush(e->csv) != 0)
    csv_close(e);
}

void ps_epochs_flush(ps_epochs_t *e) { write_rows(e, e->done); }

void ps_epochs_set_valid(ps_epochs_t *e, uint64_t epoch, uint64_t n, const pc_metric_t *m,
                         size_t nm) {
  if (epoch < 1 || epoch > (uint64_t)e->epochs || nm > PC_METRICS_MAX)
    return;
  ps_epoch_t *r = &e->rows[epoch - 1];
  memcpy(r->valid, m, nm * sizeof *m);
  r->nvalid = nm;
  r->valid_n = n;
  if (e->nnames == 0 && nm > 0) { /* the first evaluation names the columns */
    memcpy(e->names, m, nm * sizeof *m);
    e->nnames = nm;
  }
}

int ps_epochs_add(ps_epochs_t *e, int worker, uint64_t epoch, uint64_t samples, double loss_sum,
                  double seconds) {
  if (worker < 0 || worker >= e->workers || epoch < 1 || epoch > (uint64_t)e->epochs ||
      epoch <= e->last[worker] || !isfinite(loss_sum) || !isfinite(seconds))
    return 0;
  e->last[worker] = epoch;
  ps_epoch_t *r = &e->rows[epoch - 1];
  r->samples += samples;
  r->loss_sum += loss_sum;
  r->seconds = seconds > r->seconds ? seconds : r->seconds;
  r->reported++;
  int completed = 0;
  while (e->done < e->epochs && e->rows[e->done].reported == e->workers) {
    e->done++;
    completed = 1;
  }
  if (completed && (!e->validating || e->nnames > 0))
    write_rows(e, e->done);
  return completed;
}

int ps_epochs_evaluation(ps_epochs_t *e, uint64_t epoch, uint64_t step, uint64_t n,
                         const pc_metric_t *m, size_t nm, pc_err_t *err) {
  if (epoch < 1 || epoch > (uint64_t)e->epochs || nm > PC_METRICS_MAX)
    return PC_OK;
  if (pc_mem_reserve((void **)&e->evals, &e->evals_cap, e->nevals + 1, sizeof *e->evals) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "the list of %zu evaluations", e->nevals + 1);
  ps_eval_t *v = &e->evals[e->nevals++];
  *v = (ps_eval_t){.epoch = (uint32_t)epoch, .step = step, .n = n, .nm = nm};
  memcpy(v->m, m, nm * sizeof *m);
  if (step == 0)
    ps_epochs_set_valid(e, epoch, n, m, nm);
  else if (e->nnames == 0 && nm > 0) { /* the columns are known: rows need not wait */
    memcpy(e->names, m, nm * sizeof *m);
    e->nnames = nm;
  }
  return PC_OK;
}

const ps_eval_t *ps_epochs_find_eval(const ps_epochs_t *e, uint64_t epoch, uint64_t step) {
  for (size_t i = e->nevals; i > 0; i--)
    if (e->evals[i - 1].epoch == epoch && e->evals[i - 1].step == step)
      return &e->evals[i - 1];
  return NULL;
}
