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

#define PS_METRICS_FORMAT 2
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
  const Parasol__EvalResult *eval;    /* worker 0's report; NULL: none */
  uint64_t messages_dropped;          /* by the scheduler */
} ps_metrics_run_t;

/* Write <dir>/metrics.json: pretty-printed (2-space indent), reals with 17
 * significant digits so they read back as the same doubles, non-finite
 * values as null, counters above 2^63-1 saturated. The document goes to
 * metrics.json.tmp, is fsync'ed, then renamed over metrics.json (and the
 * directory fsync'ed), so a reader sees the old file or the whole new one.
 * Returns PC_OK, PC_EINVAL (NULL argument, dir too long), PC_ENOMEM or
 * PC_EIO, with err naming the file and the reason. */
int ps_metrics_write(const char *dir, const ps_metrics_run_t *run, pc_err_t *err);

#endif
