/* pd_sweep_plan: everything a sweep checks before it starts a run, and
 * the --set list each run's launcher gets. */
#include "pd_sweep.h"
#include "pd_sweep_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc_outdir.h"

void pd_sets_free(pd_sets_t *v) {
  for (size_t i = 0; v->v != NULL && i < v->n; i++)
    free(v->v[i]);
  free(v->v);
  v->v = NULL;
  v->n = 0;
}

static int sets_add(pd_sets_t *v, const char *a, const char *b) {
  char *s = NULL;
  if (asprintf(&s, "%s%s", a, b) < 0)
    return PC_ENOMEM;
  v->v[v->n++] = s;
  return PC_OK;
}

/* The user's --set options, then run i's grid values, then its output.dir
 * (last, so it wins). */
int pd_sweep_run_sets(const pd_sweep_t *s, const pd_sweep_opts_t *o, size_t i, pd_sets_t *out,
                      pc_err_t *err) {
  out->n = 0;
  out->v = calloc((size_t)o->nsets + s->ngrids + 1, sizeof *out->v);
  int rc = out->v != NULL ? PC_OK : PC_ENOMEM;
  for (int k = 0; rc == PC_OK && k < o->nsets; k++)
    rc = sets_add(out, o->sets[k], "");
  for (size_t g = 0; rc == PC_OK && g < s->ngrids; g++) {
    char key[PD_SWEEP_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s=", s->grids[g].key);
    rc = sets_add(out, key, pd_sweep_value(s, i, g));
  }
  if (rc == PC_OK) {
    char dir[PC_PATH_MAX + PD_SWEEP_NAME_MAX + 16];
    snprintf(dir, sizeof dir, "output.dir=%s/%s", s->dir, s->runs[i].name);
    rc = sets_add(out, dir, "");
  }
  if (rc != PC_OK) {
    pd_sets_free(out);
    return pc_err_set(err, rc, "sweep: out of memory");
  }
  return PC_OK;
}

/* Two clusters at once cannot share a port: only port 0 (a free port for
 * each) lets them run side by side. */
static int check_ports(const pc_config_t *c, int parallel, pc_err_t *err) {
  const char *ep = c->cluster.scheduler, *colon = strrchr(ep, ':');
  int ephemeral = strncmp(ep, "tcp://", 6) == 0 && colon != NULL && strcmp(colon, ":0") == 0;
  if (!ephemeral)
    return pc_err_set(err, PC_ECONFIG,
                      "--parallel %d: cluster.scheduler is '%s', a fixed address: runs at the "
                      "same time would all bind it; give it port 0 (each picks a free one) or "
                      "use --parallel 1", parallel, ep);
  if (c->cluster.server_port != 0)
    return pc_err_set(err, PC_ECONFIG,
                      "--parallel %d: cluster.server_port is %d, a fixed port: runs at the "
                      "same time would all bind it; use 0 (each server picks a free one) or "
                      "--parallel 1", parallel, c->cluster.server_port);
  return PC_OK;
}

/* Run i's whole config, as its launcher will load and check it. */
static int check_run(const pd_sweep_t *s, const pd_sweep_opts_t *o, size_t i, pc_err_t *err) {
  pd_sets_t v = {0};
  int rc = pd_sweep_run_sets(s, o, i, &v, err);
  if (rc != PC_OK)
    return rc;
  pc_config_t *c = malloc(sizeof *c);
  if (c == NULL) {
    pd_sets_free(&v);
    return pc_err_set(err, PC_ENOMEM, "sweep: out of memory");
  }
  rc = pc_config_load(c, o->config_path, (const char *const *)v.v, (int)v.n, err);
  if (rc == PC_OK)
    rc = pc_config_check_data(c, err);
  if (rc == PC_OK)
    rc = pc_config_check_bind(c, err);
  if (rc == PC_OK && o->parallel > 1)
    rc = check_ports(c, o->parallel, err);
  if (rc != PC_OK)
    pc_err_wrap(err, "run %s", s->runs[i].name);
  free(c);
  pd_sets_free(&v);
  return rc == PC_OK ? PC_OK : PC_ECONFIG;
}

static int plan_base(pd_sweep_t *s, const pd_sweep_opts_t *o, pc_config_t *base, pc_err_t *err) {
  if (o->exe == NULL || o->config_path == NULL || o->nsets < 0 || o->ngrids < 0)
    return pc_err_set(err, PC_EINVAL, "sweep: exe and config path are required");
  if (o->parallel < 1 || o->parallel > PD_SWEEP_MAX_RUNS)
    return pc_err_set(err, PC_ECONFIG, "--parallel %d: want 1..%d", o->parallel,
                      PD_SWEEP_MAX_RUNS);
  int rc = pc_config_load(base, o->config_path, o->sets, o->nsets, err);
  if (rc != PC_OK)
    return PC_ECONFIG;
  size_t len = strnlen(base->output.dir, sizeof base->output.dir - 1);
  while (len > 1 && base->output.dir[len - 1] == '/')
    len--;
  snprintf(s->dir, sizeof s->dir, "%.*s/sweep", (int)len, base->output.dir);
  for (int g = 0; rc == PC_OK && g < o->ngrids; g++)
    rc = pd_sweep_add_grid(s, base, o->grids[g], err);
  return rc;
}

int pd_sweep_plan(pd_sweep_t *s, const pd_sweep_opts_t *o, pc_err_t *err) {
  memset(s, 0, sizeof *s);
  pc_config_t *base = malloc(sizeof *base);
  if (base == NULL)
    return pc_err_set(err, PC_ENOMEM, "sweep: out of memory");
  int rc = plan_base(s, o, base, err);
  free(base);
  if (rc == PC_OK)
    rc = pd_sweep_name_runs(s, err);
  for (size_t i = 0; rc == PC_OK && i < s->nruns; i++)
    rc = check_run(s, o, i, err);
  if (rc == PC_OK && pc_outdir_check(s->dir, err) != PC_OK)
    rc = PC_EIO;
  if (rc != PC_OK)
    pd_sweep_free(s);
  return rc;
}
