/* `parasol sweep`: train every combination of a few settings.
 *
 * Each `--grid key=v1,v2,...` names one config key and its values; every
 * combination of the grids is one run, `EXE launch CONFIG --set ...
 * --set key=value... --set output.dir=<output.dir>/sweep/<name>`, started
 * as a child process, `parallel` at a time. A run's output (the launcher's
 * stdout and stderr) goes to <output.dir>/sweep/<name>.log. When every run
 * has ended, the runs are ranked by their first metric (the "valid"
 * metrics of metrics.json when it has them, else "test"), printed as a
 * table and written to <output.dir>/sweep/sweep.json and sweep.csv.
 * SIGINT/SIGTERM is forwarded to every launcher still running (each stops
 * its own cluster); launchers still alive after the grace period are
 * killed, and their roles die with them (PR_SET_PDEATHSIG). */
#ifndef PD_SWEEP_H
#define PD_SWEEP_H

#include <stddef.h>
#include <stdio.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pc_metrics.h"

#define PD_SWEEP_MAX_GRIDS 16
#define PD_SWEEP_MAX_VALUES 1000
#define PD_SWEEP_MAX_RUNS 1000
#define PD_SWEEP_NAME_MAX 128
#define PD_SWEEP_KEY_MAX 64

/* One --grid: a key and its values, which point into spec (owned). */
typedef struct pd_grid {
  char key[PD_SWEEP_KEY_MAX];
  char *spec;    /* a copy of the values part, split in place */
  char **values; /* nvalues pointers into spec */
  size_t nvalues;
} pd_grid_t;

typedef enum {
  PD_RUN_NOT_RUN = 0, /* never started (the sweep was interrupted first) */
  PD_RUN_FINISHED,
  PD_RUN_FAILED,
  PD_RUN_STOPPED /* interrupted with the sweep */
} pd_run_status_t;

/* One combination and, once it has ended, how. */
typedef struct pd_run {
  size_t index; /* position in enumeration order */
  char name[PD_SWEEP_NAME_MAX];
  pd_run_status_t status;
  char error[PC_ERR_MSG_MAX]; /* failed: the reason */
  const char *split;          /* "valid" or "test" for the figures below; NULL: none */
  size_t nmetrics;
  pc_metric_t metrics[PC_METRICS_MAX];
} pd_run_t;

typedef struct pd_sweep_opts {
  const char *exe;         /* parasol binary, run as `exe launch ...` */
  const char *config_path;
  const char *const *sets; /* "key=value", applied before the grids */
  int nsets;
  const char *const *grids; /* "key=v1,v2" */
  int ngrids;
  int parallel;  /* runs at a time, >= 1 */
  double grace;  /* seconds from forwarding a signal to SIGKILL (<= 0: 30) */
} pd_sweep_opts_t;

typedef struct pd_sweep {
  pd_grid_t grids[PD_SWEEP_MAX_GRIDS];
  size_t ngrids;
  pd_run_t *runs; /* nruns, in enumeration order until ranked */
  size_t nruns;
  char dir[PC_PATH_MAX]; /* <output.dir>/sweep */
} pd_sweep_t;

/* Parse spec "key=v1,v2,..." (values split on ';' instead when spec has
 * one, for list values such as model.hidden=256,128;64) into s's next
 * grid. Each value is tried with pc_config_set on a copy of base, so an
 * unknown key or a bad value is refused with the config's own message,
 * prefixed "--grid SPEC: ". Also refused: no '=', no value, an empty or
 * repeated value, a key another grid has, output.dir (the sweep sets it),
 * more than PD_SWEEP_MAX_GRIDS grids or PD_SWEEP_MAX_RUNS combinations.
 * Returns PC_OK or PC_ECONFIG. */
int pd_sweep_add_grid(pd_sweep_t *s, const pc_config_t *base, const char *spec, pc_err_t *err);

/* Combinations of the grids so far (1 with no grid). */
size_t pd_sweep_count(const pd_sweep_t *s);

/* Value of grid g in combination i: the first grid varies slowest, the
 * last fastest, as nested loops in the order the grids were given. */
const char *pd_sweep_value(const pd_sweep_t *s, size_t i, size_t g);

/* Allocate s->runs and name each run from its settings: "lr=0.1,batch=64"
 * (the last part of each key, the full key where two grids share it),
 * bytes other than [A-Za-z0-9._+=,-] as '_'. A name that would be too
 * long or equal to another gets "~N" (N = index + 1), so names are
 * unique. "all" with no grid. */
int pd_sweep_name_runs(pd_sweep_t *s, pc_err_t *err);


/* Sort runs best first: finished runs with a finite first metric by it
 * (direction from pc_metric_direction of the best-known run's first
 * metric), then the other finished runs, then failed, stopped and not-run
 * runs; ties keep enumeration order. */
void pd_sweep_rank(pd_run_t *runs, size_t n);

/* Parse and check everything before any run starts: the config with
 * opts->sets, every grid, then the full config of every combination
 * (including its data files and, when parallel > 1, that neither
 * cluster.scheduler nor cluster.server_port is a fixed port). Creates
 * <output.dir>/sweep. PC_ECONFIG for a usage or config error. On error s
 * holds nothing to free. */
int pd_sweep_plan(pd_sweep_t *s, const pd_sweep_opts_t *opts, pc_err_t *err);

/* Start every run, `parallel` at a time, and wait for all to end, filling
 * each run's status and metrics. Progress lines go to stdout. Returns
 * PC_OK when every run finished, PC_EPEER when one failed, PC_ECANCELED
 * when interrupted (*signo set to the signal), PC_ESYS otherwise. */
int pd_sweep_run(pd_sweep_t *s, const pd_sweep_opts_t *opts, int *signo, pc_err_t *err);

/* Rank the runs, print the table to out, write sweep.json and sweep.csv
 * in s->dir (each atomically). */
int pd_sweep_report(pd_sweep_t *s, FILE *out, pc_err_t *err);

/* Read one run's figures from its metrics.json: "valid" when present,
 * else "test". PC_OK, or an error from pd_launch_read_metrics. */
int pd_sweep_read_run(pd_run_t *r, const char *metrics_path, pc_err_t *err);

void pd_sweep_free(pd_sweep_t *s);

#endif
