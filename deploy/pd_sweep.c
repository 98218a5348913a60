/* `parasol sweep`: grids, their combinations and the runs' names and
 * ranking. Running the launchers is pd_sweep_run.c; the table and files
 * pd_sweep_report.c. */
#include "pd_sweep.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- grids ------------------------------------------------------------ */

/* The config's message for a --set names the assignment; the user wrote a
 * --grid, so drop the "--set " and let the caller name the grid. */
static const char *strip_set(const char *msg) {
  return strncmp(msg, "--set ", 6) == 0 ? msg + 6 : msg;
}

static int grid_fail(const char *spec, pc_err_t *err, const char *why) {
  return pc_err_set(err, PC_ECONFIG, "--grid %.200s: %s", spec, why);
}

/* Split g->spec in place on sep into g->values. */
static int grid_split(pd_grid_t *g, const char *spec, pc_err_t *err) {
  char sep = strchr(g->spec, ';') != NULL ? ';' : ',';
  size_t n = 1;
  for (const char *p = g->spec; *p; p++)
    n += *p == sep;
  if (n > PD_SWEEP_MAX_VALUES)
    return grid_fail(spec, err, "more than 1000 values");
  g->values = calloc(n, sizeof *g->values);
  if (g->values == NULL)
    return pc_err_set(err, PC_ENOMEM, "--grid: out of memory");
  char *p = g->spec;
  for (size_t i = 0; i < n; i++) {
    char *end = strchr(p, sep);
    if (end != NULL)
      *end = '\0';
    g->values[g->nvalues++] = p;
    p = end != NULL ? end + 1 : p + strlen(p);
  }
  return PC_OK;
}

/* Every value is non-empty, distinct and accepted by the config. */
static int grid_check_values(const pd_grid_t *g, const pc_config_t *base, const char *spec,
                             pc_err_t *err) {
  char why[PC_ERR_MSG_MAX];
  for (size_t i = 0; i < g->nvalues; i++) {
    if (g->values[i][0] == '\0')
      return grid_fail(spec, err, "an empty value (values are separated by ',', or by ';')");
    for (size_t j = 0; j < i; j++)
      if (strcmp(g->values[i], g->values[j]) == 0) {
        snprintf(why, sizeof why, "value '%.100s' is given twice", g->values[i]);
        return grid_fail(spec, err, why);
      }
    pc_config_t copy = *base;
    pc_err_t e = {0};
    char set[PD_SWEEP_KEY_MAX + 1100];
    snprintf(set, sizeof set, "%s=%.1024s", g->key, g->values[i]);
    if (pc_config_set(&copy, set, &e) != PC_OK)
      return grid_fail(spec, err, strip_set(e.msg));
  }
  return PC_OK;
}

static int grid_parse(pd_grid_t *g, const pc_config_t *base, const char *spec, pc_err_t *err) {
  const char *eq = strchr(spec, '=');
  if (eq == NULL)
    return grid_fail(spec, err, "expected key=v1,v2,..., e.g. optimizer.lr=0.01,0.1");
  size_t klen = (size_t)(eq - spec);
  if (klen == 0 || klen >= sizeof g->key)
    return grid_fail(spec, err, klen ? "key too long" : "no key before '='");
  memcpy(g->key, spec, klen);
  g->key[klen] = '\0';
  if (strcmp(g->key, "output.dir") == 0)
    return grid_fail(spec, err, "output.dir is set by the sweep (<output.dir>/sweep/<name>)");
  if (eq[1] == '\0')
    return grid_fail(spec, err, "needs at least one value");
  g->spec = strdup(eq + 1);
  if (g->spec == NULL)
    return pc_err_set(err, PC_ENOMEM, "--grid: out of memory");
  int rc = grid_split(g, spec, err);
  return rc == PC_OK ? grid_check_values(g, base, spec, err) : rc;
}

static void grid_free(pd_grid_t *g) {
  free(g->spec);
  free(g->values);
  memset(g, 0, sizeof *g);
}

int pd_sweep_add_grid(pd_sweep_t *s, const pc_config_t *base, const char *spec, pc_err_t *err) {
  if (s == NULL || base == NULL || spec == NULL)
    return pc_err_set(err, PC_EINVAL, "pd_sweep_add_grid: NULL argument");
  if (s->ngrids == PD_SWEEP_MAX_GRIDS)
    return pc_err_set(err, PC_ECONFIG, "more than %d --grid options", PD_SWEEP_MAX_GRIDS);
  pd_grid_t *g = &s->grids[s->ngrids];
  int rc = grid_parse(g, base, spec, err);
  for (size_t i = 0; rc == PC_OK && i < s->ngrids; i++)
    if (strcmp(s->grids[i].key, g->key) == 0)
      rc = grid_fail(spec, err, "this key has another --grid already");
  if (rc == PC_OK && pd_sweep_count(s) * g->nvalues > PD_SWEEP_MAX_RUNS) {
    char why[128];
    snprintf(why, sizeof why, "%zu combinations, more than %d", pd_sweep_count(s) * g->nvalues,
             PD_SWEEP_MAX_RUNS);
    rc = grid_fail(spec, err, why);
  }
  if (rc != PC_OK) {
    grid_free(g);
    return rc;
  }
  s->ngrids++;
  return PC_OK;
}

size_t pd_sweep_count(const pd_sweep_t *s) {
  size_t n = 1;
  for (size_t g = 0; g < s->ngrids; g++)
    n *= s->grids[g].nvalues; /* bounded by PD_SWEEP_MAX_RUNS at each add */
  return n;
}

const char *pd_sweep_value(const pd_sweep_t *s, size_t i, size_t g) {
  size_t stride = 1;
  for (size_t k = g + 1; k < s->ngrids; k++)
    stride *= s->grids[k].nvalues;
  return s->grids[g].values[(i / stride) % s->grids[g].nvalues];
}

/* ---- names ------------------------------------------------------------ */

/* "optimizer.lr" -> "lr", unless another grid's key ends the same. */
static const char *short_key(const pd_sweep_t *s, size_t g) {
  const char *key = s->grids[g].key, *dot = strrchr(key, '.');
  const char *tail = dot != NULL ? dot + 1 : key;
  for (size_t k = 0; k < s->ngrids; k++) {
    const char *o = strrchr(s->grids[k].key, '.');
    if (k != g && strcmp(o != NULL ? o + 1 : s->grids[k].key, tail) == 0)
      return key;
  }
  return tail;
}

static int name_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         strchr("._+=,-", c) != NULL;
}

/* The natural name, or 0 when it does not fit. */
static int name_build(const pd_sweep_t *s, size_t i, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = '\0';
  for (size_t g = 0; g < s->ngrids; g++) {
    int n = snprintf(buf + off, len - off, "%s%s=%s", g ? "," : "", short_key(s, g),
                     pd_sweep_value(s, i, g));
    if (n < 0 || (size_t)n >= len - off)
      return 0;
    off += (size_t)n;
  }
  if (s->ngrids == 0)
    snprintf(buf, len, "all");
  for (char *p = buf; *p; p++)
    if (!name_safe(*p))
      *p = '_';
  return 1;
}

/* '~' is never in a natural name, so "prefix~N" collides with nothing. */
static void name_suffix(pd_run_t *r) {
  char tail[32];
  int n = snprintf(tail, sizeof tail, "~%zu", r->index + 1);
  size_t keep = strlen(r->name);
  if (keep > sizeof r->name - 1 - (size_t)n)
    keep = sizeof r->name - 1 - (size_t)n;
  memcpy(r->name + keep, tail, (size_t)n + 1);
}

int pd_sweep_name_runs(pd_sweep_t *s, pc_err_t *err) {
  size_t n = pd_sweep_count(s);
  free(s->runs);
  s->runs = calloc(n, sizeof *s->runs);
  if (s->runs == NULL)
    return pc_err_set(err, PC_ENOMEM, "sweep: out of memory for %zu runs", n);
  s->nruns = n;
  char *clash = calloc(n, 1);
  if (clash == NULL)
    return pc_err_set(err, PC_ENOMEM, "sweep: out of memory for %zu runs", n);
  for (size_t i = 0; i < n; i++) {
    s->runs[i].index = i;
    clash[i] = !name_build(s, i, s->runs[i].name, sizeof s->runs[i].name);
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (strcmp(s->runs[i].name, s->runs[j].name) == 0)
        clash[i] = clash[j] = 1;
  for (size_t i = 0; i < n; i++)
    if (clash[i])
      name_suffix(&s->runs[i]);
  free(clash);
  return PC_OK;
}

/* ---- ranking ---------------------------------------------------------- */

/* 0: ranked by its metric; 1: finished without one; then the others. */
static int run_class(const pd_run_t *r) {
  if (r->status == PD_RUN_FINISHED)
    return r->nmetrics > 0 && isfinite(r->metrics[0].value) ? 0 : 1;
  return r->status == PD_RUN_FAILED ? 2 : r->status == PD_RUN_STOPPED ? 3 : 4;
}

static int g_rank_dir; /* qsort has no context argument; set by pd_sweep_rank */

static int run_cmp(const void *pa, const void *pb) {
  const pd_run_t *a = pa, *b = pb;
  int ca = run_class(a), cb = run_class(b);
  if (ca != cb)
    return ca < cb ? -1 : 1;
  if (ca == 0 && g_rank_dir != 0 && a->metrics[0].value != b->metrics[0].value)
    return (a->metrics[0].value > b->metrics[0].value) == (g_rank_dir > 0) ? -1 : 1;
  return a->index < b->index ? -1 : a->index > b->index;
}

void pd_sweep_rank(pd_run_t *runs, size_t n) {
  g_rank_dir = 0;
  for (size_t i = 0; i < n; i++)
    if (run_class(&runs[i]) == 0) {
      g_rank_dir = pc_metric_direction(runs[i].metrics[0].name);
      break;
    }
  qsort(runs, n, sizeof *runs, run_cmp);
}

void pd_sweep_free(pd_sweep_t *s) {
  if (s == NULL)
    return;
  for (size_t g = 0; g < s->ngrids; g++)
    grid_free(&s->grids[g]);
  free(s->runs);
  memset(s, 0, sizeof *s);
}
