#include "ps_epochs.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pc_config.h"

int ps_epochs_init(ps_epochs_t *e, int epochs, int workers, pc_err_t *err) {
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
  return PC_OK;
}

void ps_epochs_free(ps_epochs_t *e) {
  if (e->csv != NULL)
    fclose(e->csv);
  free(e->rows);
  free(e->last);
  memset(e, 0, sizeof *e);
}

int ps_epochs_open(ps_epochs_t *e, const char *dir, pc_err_t *err) {
  char path[PC_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", dir, PS_EPOCHS_FILE);
  e->csv = fopen(path, "w");
  if (e->csv == NULL)
    return pc_err_set(err, PC_EIO, "%s: %s", path, strerror(errno));
  if (fputs("epoch,seconds,samples,train_loss\n", e->csv) < 0 || fflush(e->csv) != 0) {
    fclose(e->csv);
    e->csv = NULL;
    return pc_err_set(err, PC_EIO, "%s: %s", path, strerror(errno));
  }
  return PC_OK;
}

double ps_epochs_loss(const ps_epochs_t *e, int i) {
  const ps_epoch_t *r = &e->rows[i];
  return r->samples ? r->loss_sum / (double)r->samples : NAN;
}

/* One complete row; a write error closes the file (the series in
 * metrics.json is still whole). */
static void append(ps_epochs_t *e, int i) {
  if (e->csv == NULL)
    return;
  const ps_epoch_t *r = &e->rows[i];
  double loss = ps_epochs_loss(e, i);
  char l[32] = "";
  if (isfinite(loss))
    snprintf(l, sizeof l, "%.9g", loss);
  if (fprintf(e->csv, "%d,%.6f,%llu,%s\n", i + 1, r->seconds, (unsigned long long)r->samples,
              l) < 0 ||
      fflush(e->csv) != 0) {
    fclose(e->csv);
    e->csv = NULL;
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
    append(e, e->done);
    e->done++;
    completed = 1;
  }
  return completed;
}
