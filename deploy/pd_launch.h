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
 * prints the test metrics from <output.dir>/metrics.json, in the same words
 * and digits as the scheduler's last line (pc_metrics_format). No child
 * outlives the launcher: children are started with PARASOL_PARENT_PID set
 * and arm PR_SET_PDEATHSIG themselves (pc_proc_die_with_parent). */
#ifndef PD_LAUNCH_H
#define PD_LAUNCH_H

#include "pc_config.h"
#include "pc_error.h"
#include "pc_metrics.h"

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

/* metrics.json is small; anything larger is refused unread. */
#define PD_METRICS_MAX (64u << 20)

/* What the launcher needs from <output.dir>/metrics.json (format 3,
 * docs/metrics.md). */
typedef struct pd_metrics {
  int finished;                  /* "status": "finished" (else "failed") */
  char error[PC_ERR_MSG_MAX];    /* "failed": the scheduler's reason; else "" */
  int has_test;                  /* a "test" object: the figures below are set */
  unsigned long long n;          /* test examples */
  size_t nmetrics;               /* the test metrics, in the file's order; */
  pc_metric_t metrics[PC_METRICS_MAX]; /* NaN where the file has null */
} pd_metrics_t;

/* Read path with jansson: "format" must be 3, "status" "finished" or
 * "failed" (then "error" a string), and "test", when present and not null,
 * an object with a count "n" whose other members are the metrics, whatever
 * the model: every member except "n", "lines_skipped" and "confusion" must
 * be a number or null, with a name that passes pc_metric_name_check, and
 * there are at most PC_METRICS_MAX of them. Other members of the document
 * are not looked at. Returns PC_OK; PC_EIO (cannot open or read); PC_EDATA
 * (not JSON, duplicate keys, over PD_METRICS_MAX bytes, or not the schema
 * above) with err naming the file, the line:column or member, and the
 * reason; or PC_EINVAL (a NULL argument). On error *out holds no status and
 * no test. */
int pd_launch_read_metrics(const char *path, pd_metrics_t *out, pc_err_t *err);

#endif
