/* pd_sweep_run: one libuv loop owns the launchers, the sweep's SIGINT and
 * SIGTERM and one grace timer. Each launcher is started in its own session
 * (a terminal's Ctrl-C reaches the sweep only, which forwards it once), its
 * output going to <sweep dir>/<name>.log. The loop ends once every
 * launcher started has been reaped. */
#include "pd_sweep.h"
#include "pd_sweep_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "pc_log.h"
#include "pd_launch.h"

#define PD_SWEEP_GRACE_DEFAULT 30.0 /* a launcher's own teardown takes a few seconds */

typedef struct pd_runner pd_runner_t;

typedef struct pd_kid {
  uv_process_t proc;
  pd_runner_t *r;
  size_t run;    /* index into s->runs */
  time_t start;
  int alive;
} pd_kid_t;

struct pd_runner {
  uv_loop_t loop;
  pd_sweep_t *s;
  const pd_sweep_opts_t *o;
  pd_kid_t *kids; /* one per run */
  size_t next, nalive;
  uv_signal_t sigs[2];
  uv_timer_t grace;
  int signo, failed, closed;
  int rc;
  char msg[PC_ERR_MSG_MAX];
};

static void runner_next(pd_runner_t *r);

static void path_of(const pd_runner_t *r, size_t i, const char *leaf, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s%s", r->s->dir, r->s->runs[i].name, leaf);
}

/* A metrics.json older than the run is an earlier run's: not this one's. */
static int fresh(const char *path, time_t start) {
  struct stat st;
  return stat(path, &st) == 0 && st.st_mtime >= start;
}

/* How run i ended: its metrics.json, else how its launcher exited. */
static void run_judge(pd_runner_t *r, pd_kid_t *k, int64_t status, int sig) {
  pd_run_t *run = &r->s->runs[k->run];
  char mpath[PC_PATH_MAX + PD_SWEEP_NAME_MAX + 32], log[sizeof mpath];
  path_of(r, k->run, "/metrics.json", mpath, sizeof mpath);
  path_of(r, k->run, ".log", log, sizeof log);
  pc_err_t e = {0};
  int have = fresh(mpath, k->start) && pd_sweep_read_run(run, mpath, &e) == PC_OK;
  if (status == 0 && sig == 0 && have && run->status == PD_RUN_FINISHED)
    return;
  if (r->signo != 0) {
    run->status = PD_RUN_STOPPED;
    snprintf(run->error, sizeof run->error, "stopped by %s", r->signo == SIGINT ? "SIGINT"
                                                                                : "SIGTERM");
    return;
  }
  run->status = PD_RUN_FAILED;
  if (have && run->error[0])
    return; /* the scheduler's reason, from metrics.json */
  if (sig != 0)
    snprintf(run->error, sizeof run->error, "launch was killed by signal %d (see %.400s)", sig, log);
  else if (status != 0)
    snprintf(run->error, sizeof run->error, "launch exited with status %lld (see %.400s)",
             (long long)status, log);
  else
    snprintf(run->error, sizeof run->error, "%s", e.msg[0] ? e.msg : "no metrics.json");
}

static void runner_close(pd_runner_t *r) {
  if (r->closed)
    return;
  r->closed = 1;
  for (int i = 0; i < 2; i++)
    uv_close((uv_handle_t *)&r->sigs[i], NULL);
  uv_close((uv_handle_t *)&r->grace, NULL);
}

static void on_exit_kid(uv_process_t *p, int64_t status, int sig) {
  pd_kid_t *k = p->data;
  pd_runner_t *r = k->r;
  k->alive = 0;
  r->nalive--;
  uv_close((uv_handle_t *)p, NULL);
  run_judge(r, k, status, sig);
  pd_run_t *run = &r->s->runs[k->run];
  r->failed |= run->status == PD_RUN_FAILED;
  printf("[sweep] %s %s%s%s\n", run->name,
         run->status == PD_RUN_FINISHED ? "finished" : run->status == PD_RUN_FAILED ? "failed"
                                                                                    : "stopped",
         run->error[0] ? ": " : "", run->error);
  fflush(stdout);
  runner_next(r);
}

static int kid_exec(pd_runner_t *r, pd_kid_t *k, int fd) {
  pd_sets_t v = {0};
  pc_err_t e = {0};
  if (pd_sweep_run_sets(r->s, r->o, k->run, &v, &e) != PC_OK)
    return UV_ENOMEM;
  char **argv = calloc(4 + 2 * v.n, sizeof *argv);
  if (argv == NULL) {
    pd_sets_free(&v);
    return UV_ENOMEM;
  }
  size_t n = 0;
  argv[n++] = (char *)r->o->exe;
  argv[n++] = (char *)"launch";
  argv[n++] = (char *)r->o->config_path;
  for (size_t i = 0; i < v.n; i++) {
    argv[n++] = (char *)"--set";
    argv[n++] = v.v[i];
  }
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                   {.flags = UV_INHERIT_FD, .data.fd = fd},
                                   {.flags = UV_INHERIT_FD, .data.fd = fd}};
  uv_process_options_t po = {.exit_cb = on_exit_kid, .file = r->o->exe, .args = argv,
                             .stdio_count = 3, .stdio = stdio, .flags = UV_PROCESS_DETACHED};
  k->proc.data = k;
  int rc = uv_spawn(&r->loop, &k->proc, &po);
  free(argv);
  pd_sets_free(&v);
  return rc;
}

/* Start run i; on failure it is marked failed and the sweep goes on. */
static void kid_start(pd_runner_t *r, size_t i) {
  pd_kid_t *k = &r->kids[i];
  pd_run_t *run = &r->s->runs[i];
  k->r = r;
  k->run = i;
  k->start = time(NULL);
  char log[PC_PATH_MAX + PD_SWEEP_NAME_MAX + 32];
  path_of(r, i, ".log", log, sizeof log);
  int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int rc = fd < 0 ? uv_translate_sys_error(errno) : kid_exec(r, k, fd);
  if (fd >= 0)
    close(fd);
  if (rc != 0) {
    if (k->proc.type == UV_PROCESS) /* uv_spawn registers the handle even when it fails */
      uv_close((uv_handle_t *)&k->proc, NULL);
    run->status = PD_RUN_FAILED;
    snprintf(run->error, sizeof run->error, "cannot start launch (log %.400s): %.60s", log,
             uv_strerror(rc));
    r->failed = 1;
    printf("[sweep] %s failed: %s\n", run->name, run->error);
    return;
  }
  k->alive = 1;
  r->nalive++;
  printf("[sweep] started %s (pid %d) -> %s/%s, log %s\n", run->name, k->proc.pid, r->s->dir,
         run->name, log);
  fflush(stdout);
}

/* Keep `parallel` launchers running until every run has been started. */
static void runner_next(pd_runner_t *r) {
  while (r->signo == 0 && r->next < r->s->nruns && r->nalive < (size_t)r->o->parallel)
    kid_start(r, r->next++);
  if (r->nalive == 0 && (r->signo != 0 || r->next == r->s->nruns))
    runner_close(r);
}

static void signal_kids(pd_runner_t *r, int sig) {
  for (size_t i = 0; i < r->s->nruns; i++) {
    pd_kid_t *k = &r->kids[i];
    if (!k->alive)
      continue;
    int rc = uv_process_kill(&k->proc, sig);
    if (rc != 0 && rc != UV_ESRCH)
      PC_WARN("cannot signal launch of %s (pid %d): %s", r->s->runs[i].name, k->proc.pid,
              uv_strerror(rc));
  }
}

static void on_grace(uv_timer_t *t) {
  pd_runner_t *r = t->data;
  if (r->nalive == 0)
    return;
  printf("[sweep] %zu launchers still running after the grace period: killing them\n",
         r->nalive);
  signal_kids(r, SIGKILL);
}

/* Each signal is forwarded: a second Ctrl-C makes the launchers kill their
 * processes at once, as it does for a launcher run by hand. */
static void on_signal(uv_signal_t *h, int signum) {
  pd_runner_t *r = h->data;
  if (r->signo == 0) {
    r->signo = signum;
    printf("[sweep] interrupted: stopping %zu runs\n", r->nalive);
    double g = r->o->grace > 0 ? r->o->grace : PD_SWEEP_GRACE_DEFAULT;
    uv_timer_start(&r->grace, on_grace, (uint64_t)(g * 1000.0), 0);
  }
  fflush(stdout);
  signal_kids(r, signum);
  runner_next(r);
}

static int runner_init(pd_runner_t *r, pc_err_t *err) {
  int rc = uv_loop_init(&r->loop);
  if (rc != 0)
    return pc_err_set(err, PC_ESYS, "sweep: uv_loop_init: %s", uv_strerror(rc));
  uv_timer_init(&r->loop, &r->grace);
  r->grace.data = r;
  static const int sigs[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    uv_signal_init(&r->loop, &r->sigs[i]);
    r->sigs[i].data = r;
    rc = uv_signal_start(&r->sigs[i], on_signal, sigs[i]);
    if (rc != 0) {
      runner_close(r);
      uv_run(&r->loop, UV_RUN_DEFAULT);
      uv_loop_close(&r->loop);
      return pc_err_set(err, PC_ESYS, "sweep: cannot watch signals: %s", uv_strerror(rc));
    }
  }
  return PC_OK;
}

int pd_sweep_run(pd_sweep_t *s, const pd_sweep_opts_t *o, int *signo, pc_err_t *err) {
  if (s == NULL || o == NULL || signo == NULL || s->runs == NULL)
    return pc_err_set(err, PC_EINVAL, "pd_sweep_run: nothing planned");
  *signo = 0;
  pd_runner_t *r = calloc(1, sizeof *r);
  if (r == NULL || (r->kids = calloc(s->nruns, sizeof *r->kids)) == NULL) {
    free(r);
    return pc_err_set(err, PC_ENOMEM, "sweep: out of memory");
  }
  r->s = s;
  r->o = o;
  int rc = runner_init(r, err);
  if (rc == PC_OK) {
    runner_next(r);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r->loop) != 0)
      rc = pc_err_set(err, PC_ESYS, "sweep: event loop still busy at exit");
  }
  *signo = r->signo;
  if (rc == PC_OK && r->signo != 0)
    rc = pc_err_set(err, PC_ECANCELED, "sweep interrupted by %s",
                    r->signo == SIGINT ? "SIGINT" : "SIGTERM");
  else if (rc == PC_OK && r->failed)
    rc = pc_err_set(err, PC_EPEER, "some runs failed");
  free(r->kids);
  free(r);
  return rc;
}
