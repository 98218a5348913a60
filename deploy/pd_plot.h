/* Training curves: a run's per-epoch series (<run>/metrics.csv, written by
 * the scheduler) drawn as a PNG by Debian's gnuplot (gnuplot-nox), from a
 * gnuplot script this module writes next to the PNG (<png minus .png>.gp)
 * so a person can edit it and re-run `gnuplot curves.gp`. gnuplot reads
 * the CSV files itself; nothing here draws pixels.
 *
 * metrics.csv: a header line, then one row per epoch. The header is
 * `epoch,seconds,samples,train_loss` then any `valid_<metric>` columns.
 * Cells are numbers or empty (a figure not known). The chart has two
 * panels: losses (train_loss, valid_logloss, valid_rmse, valid_mae) and
 * scores (valid_accuracy, valid_auc, valid_top5), x = epoch, one line per
 * run and series present (a column absent, or empty in every row, is
 * skipped; a panel with no line is left out). */
#ifndef PD_PLOT_H
#define PD_PLOT_H

#include <stdio.h>

#include "pc_error.h"

#define PD_PLOT_CSV "metrics.csv"
#define PD_PLOT_PNG "curves.png"
#define PD_PLOT_COLS_MAX 32      /* columns of a metrics.csv */
#define PD_PLOT_NAME_MAX 32      /* bytes of a column name, with its NUL */
#define PD_PLOT_RUNS_MAX 64      /* runs on one chart */
#define PD_PLOT_LINE_MAX 4096    /* bytes of one CSV line */
#define PD_PLOT_TIMEOUT 20.0     /* seconds gnuplot may take before it is killed */

/* One metrics.csv, checked. */
typedef struct pd_plot_csv {
  char path[4096];  /* absolute: the script must work from any directory */
  char title[256];  /* the run directory's name, shown in the legend */
  int ncols;
  char cols[PD_PLOT_COLS_MAX][PD_PLOT_NAME_MAX];
  int has_value[PD_PLOT_COLS_MAX]; /* some row has a number in this column */
  long rows;
  long max_epoch;
} pd_plot_csv_t;

typedef struct pd_plot_opts {
  int width, height;  /* pixels; 0 = 900 x 600 */
  double timeout;     /* seconds; 0 = PD_PLOT_TIMEOUT */
  const char *gnuplot; /* the program; NULL = "gnuplot" found on PATH */
} pd_plot_opts_t;

/* Read and check PATH: the header (the four leading columns in order, then
 * only valid_<name> columns, no duplicate) and every row (as many cells as
 * the header, each empty or a finite decimal number, epoch a non-negative
 * integer, at least one row). An error names PATH and the line. title is
 * the legend's name for the run. */
int pd_plot_csv_read(const char *path, const char *title, pd_plot_csv_t *out, pc_err_t *err);

/* The gnuplot script drawing runs[0..n) to the file named by the gnuplot
 * variable `out` (default: png). */
int pd_plot_script(FILE *f, const pd_plot_csv_t *runs, int n, const char *png,
                   const pd_plot_opts_t *o, pc_err_t *err);

/* Draw the runs in dirs[0..n) (each holding metrics.csv) into png: the
 * script goes to <png minus .png>.gp, gnuplot writes png.tmp, which is
 * renamed to png only once gnuplot succeeded; on any failure png is
 * untouched and png.tmp removed. gnuplot missing: PC_ENOTFOUND with
 * "gnuplot not found: apt-get install gnuplot-nox". opts may be NULL. */
int pd_plot(const char *const *dirs, int n, const char *png, const pd_plot_opts_t *opts,
            pc_err_t *err);

/* The end of a run: <run_dir>/metrics.csv drawn as <run_dir>/curves.png. */
int pd_plot_run(const char *run_dir, pc_err_t *err);

/* gnuplot's path on PATH into buf; PC_ENOTFOUND with the install hint. */
int pd_plot_find_gnuplot(char *buf, size_t len, pc_err_t *err);

#endif
