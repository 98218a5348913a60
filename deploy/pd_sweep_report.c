/* pd_sweep_report: each run's figures from its metrics.json, the ranked
 * table, sweep.json and sweep.csv. */
#include "pd_sweep.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc_afile.h"
#include "pd_launch.h"

/* ---- one run's figures ------------------------------------------------ */

static int skipped_member(const char *key) {
  return strcmp(key, "n") == 0 || strcmp(key, "lines_skipped") == 0 ||
         strcmp(key, "confusion") == 0 || strcmp(key, "classes") == 0;
}

/* metrics.json's "valid" object, when it has one: its numbers as metrics,
 * in the file's order. 0 when there is none to use. */
static size_t read_valid(const char *path, pc_metric_t *m) {
  json_error_t je;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  const json_t *v = json_object_get(doc, "valid");
  size_t n = 0;
  const char *key;
  const json_t *x;
  if (json_is_object(v)) {
    json_object_foreach((json_t *)v, key, x) {
      pc_err_t e;
      if (skipped_member(key) || !(json_is_number(x) || json_is_null(x)) ||
          pc_metric_name_check(key, &e) != PC_OK || n == PC_METRICS_MAX)
        continue;
      snprintf(m[n].name, sizeof m[n].name, "%s", key);
      m[n++].value = json_is_number(x) ? json_number_value(x) : NAN;
    }
  }
  json_decref(doc);
  return n;
}

int pd_sweep_read_run(pd_run_t *r, const char *path, pc_err_t *err) {
  pd_metrics_t *m = calloc(1, sizeof *m);
  if (m == NULL)
    return pc_err_set(err, PC_ENOMEM, "sweep: out of memory");
  int rc = pd_launch_read_metrics(path, m, err);
  if (rc == PC_OK) {
    r->status = m->finished ? PD_RUN_FINISHED : PD_RUN_FAILED;
    snprintf(r->error, sizeof r->error, "%s", m->error);
    r->nmetrics = read_valid(path, r->metrics);
    r->split = r->nmetrics > 0 ? "valid" : NULL;
  }
  if (rc == PC_OK && r->nmetrics == 0 && m->has_test) {
    r->nmetrics = m->nmetrics;
    memcpy(r->metrics, m->metrics, m->nmetrics * sizeof *m->metrics);
    r->split = "test";
  }
  free(m);
  return rc;
}

/* ---- the table -------------------------------------------------------- */

static const char *status_name(pd_run_status_t s) {
  static const char *const names[] = {"not run", "finished", "failed", "stopped"};
  return names[s];
}

/* The metric columns: those of the best run that has any. */
static const pd_run_t *columns_of(const pd_sweep_t *s) {
  for (size_t i = 0; i < s->nruns; i++)
    if (s->runs[i].nmetrics > 0)
      return &s->runs[i];
  return NULL;
}

static void value_text(char *buf, size_t len, const pd_run_t *r, const char *name) {
  double v = pc_metrics_get(r->metrics, r->nmetrics, name);
  if (isfinite(v))
    snprintf(buf, len, "%.4f", v);
  else
    snprintf(buf, len, "%s", r->nmetrics > 0 ? "n/a" : "-");
}

static int grid_width(const pd_sweep_t *s, size_t g) {
  size_t w = strlen(s->grids[g].key);
  for (size_t k = 0; k < s->grids[g].nvalues; k++)
    if (strlen(s->grids[g].values[k]) > w)
      w = strlen(s->grids[g].values[k]);
  return (int)(w > 40 ? 40 : w);
}

static void table_header(const pd_sweep_t *s, const pd_run_t *cols, FILE *out) {
  fprintf(out, "%-4s  ", "rank");
  for (size_t g = 0; g < s->ngrids; g++)
    fprintf(out, "%-*s  ", grid_width(s, g), s->grids[g].key);
  fprintf(out, "%-8s", "status");
  for (size_t m = 0; cols != NULL && m < cols->nmetrics; m++)
    fprintf(out, "  %10s", cols->metrics[m].name);
  fputc('\n', out);
}

static void table_row(const pd_sweep_t *s, size_t i, const pd_run_t *cols, FILE *out) {
  const pd_run_t *r = &s->runs[i];
  fprintf(out, "%-4zu  ", i + 1);
  for (size_t g = 0; g < s->ngrids; g++)
    fprintf(out, "%-*s  ", grid_width(s, g), pd_sweep_value(s, r->index, g));
  fprintf(out, "%-8s", status_name(r->status));
  char v[64];
  for (size_t m = 0; cols != NULL && m < cols->nmetrics; m++) {
    value_text(v, sizeof v, r, cols->metrics[m].name);
    fprintf(out, "  %10s", v);
  }
  if (r->error[0])
    fprintf(out, "  %s", r->error);
  fputc('\n', out);
}

static void table_print(const pd_sweep_t *s, FILE *out) {
  const pd_run_t *cols = columns_of(s);
  if (cols != NULL) {
    int dir = pc_metric_direction(cols->metrics[0].name);
    fprintf(out, "sweep: %zu runs, best first by %s %s%s\n", s->nruns, cols->split,
            cols->metrics[0].name, dir > 0 ? " (higher is better)" : dir < 0 ?
            " (lower is better)" : " (direction unknown: in run order)");
  } else {
    fprintf(out, "sweep: %zu runs, none with metrics\n", s->nruns);
  }
  table_header(s, cols, out);
  for (size_t i = 0; i < s->nruns; i++)
    table_row(s, i, cols, out);
}

/* ---- sweep.json ------------------------------------------------------- */

static json_t *run_json(const pd_sweep_t *s, size_t i) {
  const pd_run_t *r = &s->runs[i];
  json_t *settings = json_object(), *metrics = json_object();
  for (size_t g = 0; g < s->ngrids; g++)
    json_object_set_new(settings, s->grids[g].key, json_string(pd_sweep_value(s, r->index, g)));
  for (size_t m = 0; m < r->nmetrics; m++)
    json_object_set_new(metrics, r->metrics[m].name, isfinite(r->metrics[m].value)
                        ? json_real(r->metrics[m].value) : json_null());
  char dir[PC_PATH_MAX + PD_SWEEP_NAME_MAX + 8];
  snprintf(dir, sizeof dir, "%s/%s", s->dir, r->name);
  return json_pack("{s:I, s:s, s:s, s:o, s:s, s:s?, s:s?, s:o}", "rank", (json_int_t)i + 1,
                   "name", r->name, "dir", dir, "settings", settings, "status",
                   status_name(r->status), "error", r->error[0] ? r->error : NULL, "split",
                   r->split, "metrics", metrics);
}

static json_t *sweep_json(const pd_sweep_t *s) {
  json_t *runs = json_array();
  for (size_t i = 0; i < s->nruns; i++)
    json_array_append_new(runs, run_json(s, i));
  const pd_run_t *cols = columns_of(s);
  const char *metric = cols ? cols->metrics[0].name : NULL;
  return json_pack("{s:i, s:s?, s:s?, s:o}", "format", 1, "ranked_by", metric, "split",
                   cols ? cols->split : NULL, "runs", runs);
}

static int write_json(const pd_sweep_t *s, pc_err_t *err) {
  char path[PC_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/sweep.json", s->dir);
  json_t *doc = sweep_json(s);
  if (doc == NULL)
    return pc_err_set(err, PC_ENOMEM, "cannot write %s: out of memory", path);
  pc_afile_t f;
  int rc = pc_afile_open(&f, path, err);
  if (rc == PC_OK && json_dumpf(doc, f.f, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0) {
    pc_afile_abort(&f);
    rc = pc_err_set(err, PC_EIO, "cannot write %s", path);
  } else if (rc == PC_OK) {
    fputc('\n', f.f);
    rc = pc_afile_commit(&f, err);
  }
  json_decref(doc);
  return rc;
}

/* ---- sweep.csv -------------------------------------------------------- */

/* RFC 4180: quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *v, int first) {
  if (!first)
    fputc(',', f);
  if (strpbrk(v, ",\"\r\n") == NULL) {
    fputs(v, f);
    return;
  }
  fputc('"', f);
  for (; *v; v++) {
    if (*v == '"')
      fputc('"', f);
    fputc(*v, f);
  }
  fputc('"', f);
}

static void csv_row(FILE *f, const pd_sweep_t *s, size_t i, const pd_run_t *cols) {
  const pd_run_t *r = &s->runs[i];
  char v[64];
  snprintf(v, sizeof v, "%zu", i + 1);
  csv_field(f, v, 1);
  csv_field(f, r->name, 0);
  for (size_t g = 0; g < s->ngrids; g++)
    csv_field(f, pd_sweep_value(s, r->index, g), 0);
  csv_field(f, status_name(r->status), 0);
  for (size_t m = 0; cols != NULL && m < cols->nmetrics; m++) {
    double x = pc_metrics_get(r->metrics, r->nmetrics, cols->metrics[m].name);
    if (isfinite(x))
      snprintf(v, sizeof v, "%.17g", x);
    else
      v[0] = '\0';
    csv_field(f, v, 0);
  }
  csv_field(f, r->error, 0);
  fputc('\n', f);
}

static void csv_all(FILE *f, const pd_sweep_t *s) {
  const pd_run_t *cols = columns_of(s);
  csv_field(f, "rank", 1);
  csv_field(f, "name", 0);
  for (size_t g = 0; g < s->ngrids; g++)
    csv_field(f, s->grids[g].key, 0);
  csv_field(f, "status", 0);
  for (size_t m = 0; cols != NULL && m < cols->nmetrics; m++)
    csv_field(f, cols->metrics[m].name, 0);
  csv_field(f, "error", 0);
  fputc('\n', f);
  for (size_t i = 0; i < s->nruns; i++)
    csv_row(f, s, i, cols);
}

static int write_csv(const pd_sweep_t *s, pc_err_t *err) {
  char path[PC_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/sweep.csv", s->dir);
  pc_afile_t f;
  int rc = pc_afile_open(&f, path, err);
  if (rc != PC_OK)
    return rc;
  csv_all(f.f, s);
  return pc_afile_commit(&f, err);
}

int pd_sweep_report(pd_sweep_t *s, FILE *out, pc_err_t *err) {
  pd_sweep_rank(s->runs, s->nruns);
  table_print(s, out);
  fflush(out);
  int rc = write_json(s, err);
  return rc == PC_OK ? write_csv(s, err) : rc;
}
