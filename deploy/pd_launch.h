/* `parasol launch`: run a whole cluster as local processes (libuv).
 *
 * Starts `EXE scheduler CONFIG --announce [--set ...]`, reads the line
 * "@endpoint <endpoint>" from the scheduler's stdout, then starts
 * cluster.servers `EXE server CONFIG --rank i --set cluster.scheduler=<ep>`
 * and cluster.workers `EXE worker ...` processes the same way. Every line a
 * child prints (stdout or stderr) is echoed with a "[role rank] " prefix.
 * Ctrl-C/SIGTERM is forwarded; any child failing (non-zero exit or signal)
 * stops the others (SIGTERM, then SIGKILL after a grace period) and the run
 * fails with a message naming the child, its pid and why. A node that exits
 * with a failure status has told the scheduler why: the scheduler stops the
 * run and prints "@failed <reason>", and that reason, which names the node
 * and the cause, is the run's message. On success it
 * prints the test metrics from <output.dir>/metrics.json. No child
 * outlives the launcher: children are started with PARASOL_PARENT_PID set
 * and arm PR_SET_PDEATHSIG themselves (pc_proc_die_with_parent). */
#ifndef PD_LAUNCH_H
#define PD_LAUNCH_H

#include "pc_config.h"
#include "pc_error.h"

typedef struct pd_launch_opts {
  const char *exe;          /* parasol binary to spawn for every role */
  const char *config_path;  /* passed to each child */
  const char *const *sets;  /* "key=value" overrides, forwarded as --set */
  int nsets;
  const pc_config_t *cfg;   /* already loaded and validated */
  double grace;             /* seconds from SIGTERM to SIGKILL (default 3 if <= 0) */
  double startup_timeout;   /* seconds to wait for "@endpoint" (<= 0: cfg register_timeout) */
  double finish_timeout;    /* seconds the others may outlive a scheduler that
                               exited 0 before they are stopped and the run
                               fails (<= 0: 10) */
  double settle;            /* seconds a node that exited with a failure
                               status leaves the scheduler to stop the run
                               and report why, before the launcher stops it
                               (<= 0: 5) */
} pd_launch_opts_t;

/* Returns PC_OK when every child exited 0; PC_EPEER (a child failed),
 * PC_ECANCELED (interrupted), PC_ETIMEDOUT or PC_ESYS otherwise, with
 * err->msg naming the cause. */
int pd_launch_run(const pd_launch_opts_t *opts, pc_err_t *err);

/* Read the "test" object of a metrics.json ({"test": {"n": .., "accuracy":
 * .., "logloss": .., "auc": ..}, ...}). "n" and "accuracy" are required;
 * logloss and auc are NaN when absent or null. Returns PC_OK, PC_ENOTFOUND
 * (no top-level "test" object: no test set), PC_EIO (cannot read the file),
 * PC_EDATA (malformed, over 64 MiB, or a required key missing), PC_ENOMEM
 * or PC_EINVAL (a NULL argument). */
int pd_launch_read_metrics(const char *path, double *acc, double *logloss, double *auc,
                           unsigned long long *n);

#endif
