/* pd_launch: drives pd_launch_run with a fake child program (a shell
 * script written at test time) instead of parasol, so every failure mode
 * can be provoked on demand. The script's behaviour comes from FAKE_<role>
 * or FAKE_<role>_<rank> in the environment, which the launcher forwards.
 * Every case runs under an alarm() watchdog so a bug cannot hang the run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pc_proc.h"
#include "pd_launch.h"

#define DEADLINE_S 30 /* per pd_launch_run call; the watchdog's limit */

static const char k_fake[] =
    "#!/bin/sh\n"
    "role=$1\n"
    "echo $$ >> \"$FAKE_DIR/pids\"\n"
    "printf '%s\\n' \"$*\" >> \"$FAKE_DIR/args\"\n"
    "printf 'env %s %s %s\\n' \"$PARASOL_LOG_PREFIX\" \"$PARASOL_PARENT_PID\" "
    "\"$OPENBLAS_NUM_THREADS\" >> \"$FAKE_DIR/env\"\n"
    "rank=; prev=\n"
    "for a in \"$@\"; do [ \"$prev\" = --rank ] && rank=$a; prev=$a; done\n"
    "if [ -n \"$rank\" ]; then eval \"mode=\\${FAKE_${role}_${rank}:-\\${FAKE_${role}:-ok}}\"\n"
    "else eval \"mode=\\${FAKE_${role}:-ok}\"; fi\n"
    "if [ \"$role\" = scheduler ]; then\n"
    "  echo 'scheduler up'\n"
    "  echo 'scheduler warning' >&2\n"
    "  case $mode in\n"
    "    silent) exec sleep 60 ;;\n"
    "    quit) exit 0 ;;\n"
    "    fail) exit 2 ;;\n"
    "  esac\n"
    "  echo '@endpoint tcp://127.0.0.1:1'\n"
    "  case $mode in\n"
    "    hang) exec sleep 60 ;;\n"
    "    stubborn) trap '' TERM; exec sleep 60 ;;\n"
    "    verdict) sleep 0.3; echo '@failed worker 0 (host h, pid 1) failed: data.t:3: bad label'; exit 1 ;;\n"
    "    *) exec sleep 0.5 ;;\n"
    "  esac\n"
    "fi\n"
    "case $mode in\n"
    "  ok) echo \"hello from $role $rank\"; exit 0 ;;\n"
    "  chatty)\n"
    "    printf 'part'; sleep 0.1; printf 'ial line\\n'\n"
    "    echo 'to stderr' >&2\n"
    "    head -c 70000 /dev/zero | tr '\\0' x; echo\n"
    "    head -c 65536 /dev/zero | tr '\\0' y; echo\n"
    "    echo after\n"
    "    printf 'unterminated'\n"
    "    exit 0 ;;\n"
    "  exit3) echo 'bad things' >&2; exit 3 ;;\n"
    "  exit3late) sleep 0.5; exit 3 ;;\n"
    "  kill9) kill -9 $$ ;;\n"
    "  hang) exec sleep 60 ;;\n"
    "  stubborn) trap '' TERM; exec sleep 60 ;;\n"
    "esac\n"
    "exit 99\n";

static const char *const k_fake_vars[] = {
    "FAKE_scheduler", "FAKE_server", "FAKE_server_0", "FAKE_server_1",
    "FAKE_worker",    "FAKE_worker_0", "FAKE_worker_1",
};

typedef struct fx {
  char dir[64];
  char exe[128];
  pc_config_t cfg;
  const char *sets[2];
  pd_launch_opts_t opts;
  pc_err_t err;
  double elapsed;
  char *out; /* what the run printed to stdout / stderr */
  char *log;
} fx_t;

static fx_t g_fx;
static int g_saved_err = -1; /* the real stderr while it is redirected */

/* ---- helpers ---------------------------------------------------------- */

static void on_alarm(int sig) {
  (void)sig;
  static const char m[] = "test_launch: pd_launch_run exceeded its deadline\n";
  ssize_t r = write(g_saved_err >= 0 ? g_saved_err : 2, m, sizeof m - 1);
  (void)r;
  _exit(3);
}

static void path_in(char *buf, size_t size, const char *name) {
  snprintf(buf, size, "%s/%s", g_fx.dir, name);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return strdup("");
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 1 >= cap)
      buf = realloc(buf, cap *= 2);
    size_t n = fread(buf + len, 1, cap - len - 1, f);
    if (n == 0)
      break;
    len += n;
  }
  buf[len] = '\0';
  fclose(f);
  return buf;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Run with stdout and stderr captured to files under the fixture dir. */
static int run_captured(void) {
  char po[160], pe[160];
  path_in(po, sizeof po, "stdout");
  path_in(pe, sizeof pe, "stderr");
  fflush(stdout);
  fflush(stderr);
  int o = open(po, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int e = open(pe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int so = fcntl(1, F_DUPFD_CLOEXEC, 3);
  g_saved_err = fcntl(2, F_DUPFD_CLOEXEC, 3);
  dup2(o, 1);
  dup2(e, 2);
  close(o);
  close(e);
  alarm(DEADLINE_S);
  double t0 = pc_proc_now();
  int rc = pd_launch_run(&g_fx.opts, &g_fx.err);
  g_fx.elapsed = pc_proc_now() - t0;
  alarm(0);
  fflush(stdout);
  fflush(stderr);
  dup2(so, 1);
  dup2(g_saved_err, 2);
  close(so);
  close(g_saved_err);
  g_saved_err = -1;
  free(g_fx.out);
  free(g_fx.log);
  g_fx.out = slurp(po);
  g_fx.log = slurp(pe);
  return rc;
}

static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; *p != '\0';) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len == n && memcmp(p, line, n) == 0)
      return 1;
    p += len + (nl != NULL);
  }
  return 0;
}

static int count_lines(const char *text) {
  int n = 0;
  for (const char *p = text; *p != '\0'; p++)
    n += *p == '\n';
  return n;
}

static void assert_pid_gone(long pid) {
  errno = 0;
  if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
    fail_msg("pid %ld is still there (errno %d)", pid, errno);
}

/* Every child the launcher reported starting, and every pid a fake wrote
 * down (a fake killed early may not have written one), must be gone:
 * reaped, neither a zombie of ours nor an orphan. Returns how many the
 * launcher started. */
static int assert_children_gone(void) {
  int started = 0;
  for (const char *p = g_fx.log; (p = strstr(p, "started ")) != NULL; p++) {
    const char *q = strstr(p, " (pid ");
    const char *nl = strchr(p, '\n');
    if (q == NULL || (nl != NULL && q > nl))
      continue;
    assert_pid_gone(strtol(q + 6, NULL, 10));
    started++;
  }
  char path[160];
  path_in(path, sizeof path, "pids");
  char *text = slurp(path);
  for (char *p = text; *p != '\0';) {
    char *end = NULL;
    long pid = strtol(p, &end, 10);
    if (end == p)
      break;
    assert_pid_gone(pid);
    p = end + (*end == '\n');
  }
  free(text);
  return started;
}

static void expect_msg(const char *needle) {
  if (strstr(g_fx.err.msg, needle) == NULL)
    fail_msg("message '%s' lacks '%s'", g_fx.err.msg, needle);
}

static void expect_log(const char *needle) {
  if (strstr(g_fx.log, needle) == NULL)
    fail_msg("launcher log lacks '%s':\n%s", needle, g_fx.log);
}

static void wait_for_children(int n) {
  char path[160];
  path_in(path, sizeof path, "pids");
  double until = pc_proc_now() + 10;
  while (pc_proc_now() < until) {
    char *t = slurp(path);
    int have = count_lines(t);
    free(t);
    if (have >= n)
      return;
    usleep(10000);
  }
}

typedef struct interrupter {
  int children; /* wait until this many have started */
  int times;    /* SIGINTs to send */
} interrupter_t;

static void *interrupt_main(void *arg) {
  const interrupter_t *it = arg;
  wait_for_children(it->children);
  for (int i = 0; i < it->times; i++) {
    usleep(300000); /* let the fakes reach their trap/exec */
    kill(getpid(), SIGINT);
  }
  return NULL;
}

/* ---- fixtures --------------------------------------------------------- */

static int group_setup(void **state) {
  (void)state;
  snprintf(g_fx.dir, sizeof g_fx.dir, "/tmp/test_launch.XXXXXX");
  if (mkdtemp(g_fx.dir) == NULL)
    return -1;
  snprintf(g_fx.exe, sizeof g_fx.exe, "%s/fake.sh", g_fx.dir);
  FILE *f = fopen(g_fx.exe, "w");
  if (f == NULL)
    return -1;
  fputs(k_fake, f);
  fclose(f);
  signal(SIGALRM, on_alarm);
  return chmod(g_fx.exe, 0755);
}

static int group_teardown(void **state) {
  (void)state;
  static const char *const files[] = {"fake.sh", "pids", "args", "env", "stdout",
                                      "stderr", "metrics.json", "out/metrics.json",
                                      "out/metrics.csv", "out/curves.png", "out/curves.gp", "out"};
  char path[160];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    path_in(path, sizeof path, files[i]);
    remove(path);
  }
  rmdir(g_fx.dir);
  free(g_fx.out);
  free(g_fx.log);
  return 0;
}

static int case_setup(void **state) {
  (void)state;
  static const char *const files[] = {"pids", "args", "env"};
  char path[160];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    path_in(path, sizeof path, files[i]);
    remove(path);
  }
  for (size_t i = 0; i < sizeof k_fake_vars / sizeof k_fake_vars[0]; i++)
    unsetenv(k_fake_vars[i]);
  setenv("FAKE_DIR", g_fx.dir, 1);
  memset(&g_fx.cfg, 0, sizeof g_fx.cfg);
  g_fx.cfg.cluster.servers = 1;
  g_fx.cfg.cluster.workers = 2;
  g_fx.cfg.cluster.register_timeout = 10;
  snprintf(g_fx.cfg.output.dir, sizeof g_fx.cfg.output.dir, "%s/out", g_fx.dir);
  memset(&g_fx.opts, 0, sizeof g_fx.opts);
  g_fx.opts.exe = g_fx.exe;
  g_fx.opts.config_path = "/cfg/a9a.yaml";
  g_fx.opts.cfg = &g_fx.cfg;
  g_fx.opts.grace = 3;
  pc_err_clear(&g_fx.err);
  return 0;
}

/* ---- runs ------------------------------------------------------------- */

static void check_started_line(const char *name) {
  char needle[64];
  snprintf(needle, sizeof needle, "started %s (pid ", name);
  const char *p = strstr(g_fx.log, needle);
  if (p == NULL)
    fail_msg("no '%s' in:\n%s", needle, g_fx.log);
  int pid = 0;
  char close = 0;
  assert_int_equal(sscanf(p + strlen(needle), "%d%c", &pid, &close), 2);
  assert_true(pid > 0);
  assert_int_equal(close, ')');
}

static void check_long_lines(void) {
  const char *pre = "[worker 0] ";
  size_t plen = strlen(pre);
  char *line = malloc(plen + 65536 + 1);
  memcpy(line, pre, plen);
  memset(line + plen, 'x', 65536);
  line[plen + 65536] = '\0';
  assert_true(has_line(g_fx.out, line)); /* the first 64 KiB of 70000 */
  line[plen + 70000 - 65536] = '\0';
  assert_true(has_line(g_fx.out, line)); /* the rest, split off */
  memset(line + plen, 'y', 65536);
  line[plen + 65536] = '\0';
  assert_true(has_line(g_fx.out, line));
  /* Exactly 64 KiB then a newline must not leave an empty line behind. */
  assert_true(has_line(g_fx.out, "[worker 0] after"));
  assert_false(has_line(g_fx.out, "[worker 0] "));
  free(line);
}

static void test_all_succeed(void **state) {
  (void)state;
  g_fx.cfg.cluster.servers = 2;
  setenv("FAKE_worker_0", "chatty", 1);
  setenv("PARASOL_LOG_PREFIX", "1", 1); /* must be overridden for children */
  unsetenv("OPENBLAS_NUM_THREADS");
  g_fx.sets[0] = "training.epochs=2";
  g_fx.sets[1] = "cluster.scheduler=tcp://bogus:9";
  g_fx.opts.sets = g_fx.sets;
  g_fx.opts.nsets = 2;
  int rc = run_captured();
  unsetenv("PARASOL_LOG_PREFIX");
  assert_int_equal(rc, PC_OK);
  assert_int_equal(assert_children_gone(), 5);

  assert_true(has_line(g_fx.out, "[scheduler] scheduler up"));
  assert_true(has_line(g_fx.out, "[scheduler] scheduler warning"));
  assert_null(strstr(g_fx.out, "@endpoint"));
  assert_true(has_line(g_fx.out, "[server 0] hello from server 0"));
  assert_true(has_line(g_fx.out, "[server 1] hello from server 1"));
  assert_true(has_line(g_fx.out, "[worker 1] hello from worker 1"));
  assert_true(has_line(g_fx.out, "[worker 0] partial line"));
  assert_true(has_line(g_fx.out, "[worker 0] to stderr"));
  assert_true(has_line(g_fx.out, "[worker 0] unterminated"));
  check_long_lines();

  check_started_line("scheduler");
  check_started_line("server 1");
  check_started_line("worker 0");
  check_started_line("worker 1");
  expect_log("training finished (no metrics.json)");

  char path[160];
  path_in(path, sizeof path, "args");
  char *args = slurp(path);
  assert_true(has_line(args, "scheduler /cfg/a9a.yaml --announce --set training.epochs=2 "
                             "--set cluster.scheduler=tcp://bogus:9"));
  assert_true(has_line(args, "worker /cfg/a9a.yaml --rank 1 --set training.epochs=2 "
                             "--set cluster.scheduler=tcp://bogus:9 "
                             "--set cluster.scheduler=tcp://127.0.0.1:1"));
  assert_true(has_line(args, "server /cfg/a9a.yaml --rank 1 --set training.epochs=2 "
                             "--set cluster.scheduler=tcp://bogus:9 "
                             "--set cluster.scheduler=tcp://127.0.0.1:1"));
  free(args);
  path_in(path, sizeof path, "env");
  char *env = slurp(path);
  char want[64];
  snprintf(want, sizeof want, "env 0 %ld 1", (long)getpid());
  size_t wlen = strlen(want);
  assert_int_equal(count_lines(env), 5);
  for (const char *p = env; *p != '\0'; p = strchr(p, '\n') + 1) {
    assert_memory_equal(p, want, wlen);
    assert_int_equal(p[wlen], '\n');
  }
  free(env);
}

static void test_openblas_kept(void **state) {
  (void)state;
  g_fx.cfg.cluster.workers = 1;
  setenv("OPENBLAS_NUM_THREADS", "3", 1);
  int rc = run_captured();
  unsetenv("OPENBLAS_NUM_THREADS");
  assert_int_equal(rc, PC_OK);
  char path[160];
  path_in(path, sizeof path, "env");
  char *env = slurp(path);
  char want[64];
  snprintf(want, sizeof want, "env 0 %ld 3", (long)getpid());
  assert_true(has_line(env, want));
  free(env);
  assert_int_equal(assert_children_gone(), 3);
}

static void test_worker_killed(void **state) {
  (void)state;
  setenv("FAKE_scheduler", "hang", 1);
  setenv("FAKE_server", "hang", 1);
  setenv("FAKE_worker_0", "hang", 1);
  setenv("FAKE_worker_1", "kill9", 1);
  int rc = run_captured();
  assert_int_equal(rc, PC_EPEER);
  expect_msg("worker 1 (pid ");
  expect_msg("was killed by signal 9 (Killed)");
  expect_log("error: worker 1 (pid ");
  assert_true(g_fx.elapsed < 5);
  assert_int_equal(assert_children_gone(), 4);
}

static void test_worker_exit_status(void **state) {
  (void)state;
  setenv("FAKE_scheduler", "hang", 1);
  setenv("FAKE_server", "hang", 1);
  setenv("FAKE_worker_1", "hang", 1);
  setenv("FAKE_worker_0", "exit3", 1);
  g_fx.opts.settle = 0.5; /* the scheduler hangs: no verdict comes */
  int rc = run_captured();
  assert_int_equal(rc, PC_EPEER);
  expect_msg("worker 0 (pid ");
  expect_msg("exited with status 3");
  assert_true(has_line(g_fx.out, "[worker 0] bad things"));
  assert_true(g_fx.elapsed < 5);
  assert_int_equal(assert_children_gone(), 4);
}

/* A node that exits with a status told the scheduler why; the run's
 * message is the scheduler's reason, not "scheduler exited with status 1". */
static void test_scheduler_verdict(void **state) {
  (void)state;
  setenv("FAKE_scheduler", "verdict", 1);
  setenv("FAKE_server", "hang", 1);
  setenv("FAKE_worker_1", "hang", 1);
  setenv("FAKE_worker_0", "exit3", 1);
  int rc = run_captured();
  assert_int_equal(rc, PC_EPEER);
  expect_msg("worker 0 (host h, pid 1) failed: data.t:3: bad label");
  assert_false(has_line(g_fx.out, "[scheduler] @failed worker 0 (host h, pid 1) failed: data.t:3: bad label"));
  assert_true(g_fx.elapsed < 5);
  assert_int_equal(assert_children_gone(), 4);
}

static void test_scheduler_silent(void **state) {
  (void)state;
  setenv("FAKE_scheduler", "silent", 1);
  g_fx.opts.startup_timeout = 0.5;
  int rc = run_captured();
  assert_int_equal(rc, PC_ETIMEDOUT);
  expect_msg("scheduler (pid ");
  expect_msg("did not announce");
  assert_true(has_line(g_fx.out, "[scheduler] scheduler up"));
  assert_true(g_fx.elapsed >= 0.4 && g_fx.elapsed < 5);
  assert_int_equal(assert_children_gone(), 1);
}

static void test_scheduler_quits_early(void **state) {
  (void)state;
  setenv("FAKE_scheduler", "quit", 1);
  int rc = run_captured();
  assert_int_equal(rc, PC_EPEER);
  expect_msg("exited with status 0 before announcing its endpoint");
  assert_int_equal(assert_children_gone(), 1);

  case_setup(NULL);
  setenv("FAKE_scheduler", "fail", 1);
  rc = run_captured();
  assert_int_equal(rc, PC_EPEER);
  expect_msg("scheduler (pid ");
  expect_msg("exited with status 2 before announcing its endpoint");
  assert_int_equal(assert_children_gone(), 1);
}

static void test_sigterm_ignored(void **state) {
  (void)state;
  setenv("FAKE_scheduler", "hang", 1);
  setenv("FAKE_server", "hang", 1);
  setenv("FAKE_worker_0", "stubborn", 1);
  setenv("FAKE_worker_1", "exit3late", 1);
  g_fx.opts.grace = 0.5;
  g_fx.opts.settle = 0.3;
  int rc = run_captured();
  assert_int_equal(rc, PC_EPEER);
  /* The first failure is the reason, not the SIGKILL that followed. */
  expect_msg("worker 1 (pid ");
  expect_msg("exited with status 3");
  expect_log("sending SIGKILL");
  expect_log("worker 0 (pid ");
  expect_log("was killed by signal 9");
  assert_true(g_fx.elapsed >= 0.9 && g_fx.elapsed < 5);
  assert_int_equal(assert_children_gone(), 4);
}

static void test_straggler_after_scheduler(void **state) {
  (void)state;
  setenv("FAKE_worker_0", "hang", 1);
  g_fx.opts.finish_timeout = 0.5;
  int rc = run_captured();
  assert_int_equal(rc, PC_EPEER);
  expect_msg("after the scheduler finished");
  expect_msg("worker 0 (pid ");
  assert_null(strstr(g_fx.err.msg, "worker 1"));
  assert_true(g_fx.elapsed < 5);
  assert_int_equal(assert_children_gone(), 4);
}

static void test_interrupt(void **state) {
  (void)state;
  setenv("FAKE_scheduler", "hang", 1);
  setenv("FAKE_server", "hang", 1);
  setenv("FAKE_worker", "hang", 1);
  interrupter_t it = {4, 1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, interrupt_main, &it), 0);
  int rc = run_captured();
  pthread_join(th, NULL);
  assert_int_equal(rc, PC_ECANCELED);
  expect_log("interrupted: stopping 4 processes");
  assert_true(g_fx.elapsed < 10);
  assert_int_equal(assert_children_gone(), 4);
}

static void test_second_interrupt_kills(void **state) {
  (void)state;
  setenv("FAKE_scheduler", "stubborn", 1);
  setenv("FAKE_server", "stubborn", 1);
  setenv("FAKE_worker", "stubborn", 1);
  g_fx.opts.grace = 25; /* only the second Ctrl-C can end this in time */
  interrupter_t it = {4, 2};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, interrupt_main, &it), 0);
  int rc = run_captured();
  pthread_join(th, NULL);
  assert_int_equal(rc, PC_ECANCELED);
  expect_log("interrupted: stopping 4 processes");
  expect_log("interrupted again: killing 4 processes");
  assert_true(g_fx.elapsed < 10);
  assert_int_equal(assert_children_gone(), 4);
}

static void test_missing_exe(void **state) {
  (void)state;
  char exe[160];
  path_in(exe, sizeof exe, "no-such-parasol");
  g_fx.opts.exe = exe;
  int rc = run_captured();
  assert_int_equal(rc, PC_ESYS);
  expect_msg("cannot start scheduler");
}

static void test_bad_opts(void **state) {
  (void)state;
  g_fx.opts.exe = NULL;
  assert_int_equal(pd_launch_run(&g_fx.opts, &g_fx.err), PC_EINVAL);
  g_fx.opts.exe = g_fx.exe;
  g_fx.cfg.cluster.workers = 0;
  assert_int_equal(pd_launch_run(&g_fx.opts, &g_fx.err), PC_EINVAL);
  expect_msg("cluster.workers");
  g_fx.cfg.cluster.workers = 1;
  g_fx.opts.nsets = 1; /* with sets == NULL */
  assert_int_equal(pd_launch_run(&g_fx.opts, &g_fx.err), PC_EINVAL);
}

/* Every child exits 0; what does the launcher say about this metrics.json? */
static void run_with_metrics(const char *text, char *path, size_t size) {
  case_setup(NULL);
  path_in(path, size, "out");
  mkdir(path, 0700);
  path_in(path, size, "out/metrics.json");
  write_file(path, text);
  g_fx.cfg.cluster.workers = 1;
  assert_int_equal(run_captured(), PC_OK);
}

/* The summary prints whatever metrics the model has, in the file's order. */
static void test_summary_printed(void **state) {
  (void)state;
  char path[160], want[256];
  run_with_metrics("{\"format\": 3, \"status\": \"finished\", \"test\": {\"n\": 16281, "
                   "\"accuracy\": 0.85123, \"logloss\": 0.33009, \"auc\": 0.90118, "
                   "\"lines_skipped\": 2}, \"train\": {\"samples\": 32561}, \"servers\": []}\n",
                   path, sizeof path);
  snprintf(want, sizeof want,
           "test accuracy 0.8512  logloss 0.3301  auc 0.9012  (16281 examples) -> %s", path);
  expect_log(want);

  run_with_metrics("{\"format\": 3, \"status\": \"finished\", \"test\": {\"n\": 2000, "
                   "\"accuracy\": 0.9815, \"top5\": 0.99951, \"logloss\": 0.0612, "
                   "\"confusion\": [[1, 0], [0, 1]], \"lines_skipped\": 0}}\n",
                   path, sizeof path);
  snprintf(want, sizeof want,
           "test accuracy 0.9815  top5 0.9995  logloss 0.0612  (2000 examples) -> %s", path);
  expect_log(want);

  run_with_metrics("{\"format\": 3, \"status\": \"finished\", \"test\": {\"n\": 20000, "
                   "\"rmse\": 0.92134, \"mae\": null, \"lines_skipped\": 0}}\n",
                   path, sizeof path);
  snprintf(want, sizeof want, "test rmse 0.9213  mae n/a  (20000 examples) -> %s", path);
  expect_log(want);

  run_with_metrics("{\"format\": 3, \"status\": \"finished\", \"train\": {\"accuracy\": 0.5}}",
                   path, sizeof path);
  snprintf(want, sizeof want, "training finished (no test set) -> %s/out", g_fx.dir);
  expect_log(want);
}

/* A finished run whose scheduler wrote metrics.csv gets its curves drawn;
 * a bad metrics.csv is a warning, never a failed run; no metrics.csv, no
 * picture and no word about one. */
static void test_summary_curves(void **state) {
  (void)state;
  static const char fin[] = "{\"format\": 3, \"status\": \"finished\"}\n";
  char csv[160], png[160], want[300];
  path_in(csv, sizeof csv, "out/metrics.csv");
  path_in(png, sizeof png, "out/curves.png");
  remove(png);
  run_with_metrics(fin, want, sizeof want);
  assert_null(strstr(g_fx.log, "curves"));
  assert_int_equal(access(png, F_OK), -1);

  write_file(csv, "epoch,seconds,samples,train_loss,valid_accuracy\n1,0.1,5,0.5,0.8\n"
                  "2,0.2,10,0.4,0.85\n");
  run_with_metrics(fin, want, sizeof want);
  snprintf(want, sizeof want, "training curves -> %s/out/curves.png", g_fx.dir);
  expect_log(want);
  char *img = slurp(png);
  assert_memory_equal(img, "\x89PNG\r\n\x1a\n", 8);
  free(img);

  remove(png);
  write_file(csv, "epoch,seconds,samples,train_loss\n1,0.1,5,x\n");
  run_with_metrics(fin, want, sizeof want); /* asserts PC_OK */
  snprintf(want, sizeof want, "curves.png not drawn: %s:2: train_loss 'x' is not a number", csv);
  expect_log(want);
  assert_int_equal(access(png, F_OK), -1);
  remove(csv);
}

/* The test line is for finished runs only: a file that says the run failed
 * is reported as such, whatever figures it holds; an unreadable one is named. */
static void test_summary_failed_or_bad(void **state) {
  (void)state;
  char path[160], want[256];
  run_with_metrics("{\"format\": 3, \"status\": \"failed\", \"error\": \"worker 1 silent\", "
                   "\"test\": {\"n\": 10, \"accuracy\": 0.5, \"logloss\": 1, \"auc\": 0.5}}",
                   path, sizeof path);
  snprintf(want, sizeof want, "%s says the run failed: worker 1 silent", path);
  expect_log(want);
  assert_null(strstr(g_fx.log, "test accuracy"));

  run_with_metrics("{\"format\": 2, \"status\": \"finished\", \"test\": {\"n\": 10, "
                   "\"accuracy\": 0.5, \"logloss\": 1, \"auc\": 0.5}}", path, sizeof path);
  snprintf(want, sizeof want, "metrics.json could not be read: %s: format 2, but this Parasol "
           "reads format 3", path);
  expect_log(want);
  assert_null(strstr(g_fx.log, "test accuracy"));

  run_with_metrics("{\"test\": {\"n\": 10, \"accuracy\": 0.5}}", path, sizeof path);
  snprintf(want, sizeof want, "metrics.json could not be read: %s: \"format\" is missing", path);
  expect_log(want);
  assert_null(strstr(g_fx.log, "test accuracy"));
}

/* ---- the metrics reader ----------------------------------------------- */

#define HEAD "{\"format\": 3, \"status\": \"finished\", "

static int read_text(const char *text, pd_metrics_t *m, pc_err_t *e) {
  char path[160];
  path_in(path, sizeof path, "metrics.json");
  write_file(path, text);
  pc_err_clear(e);
  memset(m, 0x5a, sizeof *m); /* nothing left over from before */
  return pd_launch_read_metrics(path, m, e);
}

static void test_metrics_decoys(void **state) {
  (void)state;
  pd_metrics_t m;
  pc_err_t e;
  /* "test" as a nested key, inside a string and inside an array must not
   * match; only the top-level member counts. */
  const char *text =
      HEAD "\"config\": {\"data\": {\"test\": \"a9a.t\"}},\n"
      " \"name\": \"quote \\\" \\\"test\\\": {\\\"n\\\": 1} [\",\n"
      " \"servers\": [{\"test\": {\"n\": 2, \"accuracy\": 0.1}}, 3, true, null],\n"
      " \"train\": {\"n\": 5, \"accuracy\": 0.2, \"logloss\": 9},\n"
      " \"test\" :\t{ \"auc\":0.9012,\"n\":16281, \"confusion\": [[1, 2], [{\"accuracy\": 5}]],\n"
      "   \"accuracy\" : 0.8512 , \"lines_skipped\": 7, \"logloss\": 3.301e-1 }\n}\n";
  assert_int_equal(read_text(text, &m, &e), PC_OK);
  assert_true(m.finished);
  assert_string_equal(m.error, "");
  assert_true(m.has_test);
  /* The metrics in the file's order; n, lines_skipped and confusion are not metrics. */
  assert_int_equal(m.nmetrics, 3);
  assert_string_equal(m.metrics[0].name, "auc");
  assert_true(m.metrics[0].value == 0.9012); /* exactly: strtod of the same digits */
  assert_string_equal(m.metrics[1].name, "accuracy");
  assert_true(m.metrics[1].value == 0.8512);
  assert_string_equal(m.metrics[2].name, "logloss");
  assert_true(m.metrics[2].value == 0.3301);
  assert_int_equal(m.n, 16281);
}

static void test_metrics_nulls(void **state) {
  (void)state;
  pd_metrics_t m;
  pc_err_t e;
  assert_int_equal(read_text(HEAD "\"test\":{\"n\":3,\"accuracy\":1,\"logloss\":null,"
                                  "\"auc\":null}}", &m, &e),
                   PC_OK);
  assert_true(m.has_test);
  assert_int_equal(m.n, 3);
  assert_int_equal(m.nmetrics, 3);
  assert_true(pc_metrics_get(m.metrics, m.nmetrics, "accuracy") == 1.0);
  assert_true(isnan(m.metrics[1].value) && strcmp(m.metrics[1].name, "logloss") == 0);
  assert_true(isnan(m.metrics[2].value) && strcmp(m.metrics[2].name, "auc") == 0);
}

/* Any model's metrics: a multiclass and a regression test object. */
static void test_metrics_every_kind(void **state) {
  (void)state;
  pd_metrics_t m;
  pc_err_t e;
  assert_int_equal(read_text(HEAD "\"test\": {\"n\": 2000, \"accuracy\": 0.98, \"top5\": 1.0, "
                             "\"logloss\": 0.06, \"confusion\": [[990, 10], [27, 973]], "
                             "\"lines_skipped\": 0}}", &m, &e),
                   PC_OK);
  assert_true(m.has_test);
  assert_int_equal(m.n, 2000);
  assert_int_equal(m.nmetrics, 3);
  assert_string_equal(m.metrics[1].name, "top5");
  assert_true(m.metrics[1].value == 1.0);
  assert_true(m.metrics[2].value == 0.06);
  assert_int_equal(read_text(HEAD "\"test\": {\"n\": 20000, \"rmse\": 0.9213, \"mae\": 7, "
                             "\"lines_skipped\": 0}}", &m, &e),
                   PC_OK);
  assert_int_equal(m.nmetrics, 2);
  assert_string_equal(m.metrics[0].name, "rmse");
  assert_true(m.metrics[0].value == 0.9213);
  assert_string_equal(m.metrics[1].name, "mae");
  assert_true(m.metrics[1].value == 7.0); /* an integer is a number too */
  assert_int_equal(read_text(HEAD "\"test\": {\"n\": 5}}", &m, &e), PC_OK);
  assert_true(m.has_test);
  assert_int_equal(m.nmetrics, 0);
}

static void test_metrics_failed(void **state) {
  (void)state;
  pd_metrics_t m;
  pc_err_t e;
  assert_int_equal(read_text("{\"format\": 3, \"status\": \"failed\", \"error\": \"worker 0 "
                             "(host h, pid 1) failed: a\\\"b\\n\", \"train\": {}}", &m, &e),
                   PC_OK);
  assert_false(m.finished);
  assert_string_equal(m.error, "worker 0 (host h, pid 1) failed: a\"b\n");
  assert_false(m.has_test);
  assert_int_equal(m.nmetrics, 0);
}

static void test_metrics_no_test(void **state) {
  (void)state;
  pd_metrics_t m;
  pc_err_t e;
  static const char *const texts[] = {
      HEAD "\"train\": {\"n\": 3, \"accuracy\": 1}, \"servers\": []}",
      HEAD "\"test\": null}",
      "{\"status\": \"finished\", \"format\": 3}",
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    assert_int_equal(read_text(texts[i], &m, &e), PC_OK);
    assert_true(m.finished);
    assert_false(m.has_test);
    assert_int_equal(m.nmetrics, 0);
  }
}

static void test_metrics_bad(void **state) {
  (void)state;
  pd_metrics_t m;
  pc_err_t e;
  static const char *const bad[][2] = {
      {"", "not valid JSON"},
      {"[1, 2]", "the document is an array, want an object"},
      {"{\"format\": 2, \"status\": \"finished\"", "not valid JSON"},
      {"{\"name\": \"unterminated", "not valid JSON"},
      {HEAD "\"test\": {\"n\": 3, \"accuracy\": }}", "not valid JSON"},
      {HEAD "\"test\": {\"n\": 3, \"accuracy\": NaN, \"logloss\": 1, \"auc\": 1}}",
       "not valid JSON"},
      {HEAD "\"x\": 1} trailing", "not valid JSON"},
      {HEAD "\"test\": null, \"test\": {\"n\": 1}}", "duplicate"},
      {"{\"status\": \"finished\", \"test\": {\"n\": 3, \"accuracy\": 0.5}}",
       "\"format\" is missing, this Parasol reads format 3"},
      {"{\"format\": 2, \"status\": \"finished\"}", "format 2, but this Parasol reads format 3"},
      {"{\"format\": \"3\", \"status\": \"finished\"}", "\"format\" is a string"},
      {"{\"format\": 3}", "\"status\" is not \"finished\" or \"failed\""},
      {"{\"format\": 3, \"status\": \"done\"}", "\"status\" is not"},
      {"{\"format\": 3, \"status\": \"failed\"}", "without an \"error\" string"},
      {"{\"format\": 3, \"status\": \"failed\", \"error\": 3}", "without an \"error\""},
      {HEAD "\"test\": [1]}", "\"test\" is an array, want an object"},
      {HEAD "\"test\": {\"n\": 3, \"nested\": {\"accuracy\": 5}}}",
       "test.nested is an object, want a number or null"},
      {HEAD "\"test\": {\"n\": 3, \"Accuracy\": 0.5}}", "outside [a-z0-9_]"},
      {HEAD "\"test\": {\"n\": 3, \"a_sixteen_chars_\": 0.5}}", "longer than 15"},
      {HEAD "\"test\": {\"n\": 3, \"classes\": 10}}", "'classes' is reserved"},
      {HEAD "\"test\": {\"n\": 3, \"m0\": 0, \"m1\": 1, \"m2\": 2, \"m3\": 3, \"m4\": 4, "
            "\"m5\": 5, \"m6\": 6, \"m7\": 7, \"m8\": 8, \"m9\": 9, \"ma\": 10, \"mb\": 11, "
            "\"mc\": 12, \"md\": 13, \"me\": 14, \"mf\": 15, \"mg\": 16}}",
       "more than 16 metrics"},
      {HEAD "\"test\": {\"accuracy\": 0.5}}", "test.n is missing, want a count"},
      {HEAD "\"test\": {\"n\": 1.5, \"accuracy\": 0.5}}", "test.n is a real"},
      {HEAD "\"test\": {\"n\": -1, \"accuracy\": 0.5}}", "test.n is negative"},
      {HEAD "\"test\": {\"n\": 99999999999999999999, \"accuracy\": 0.5}}", "not valid JSON"},
      {HEAD "\"test\": {\"n\": 3, \"accuracy\": \"high\"}}", "test.accuracy is a string"},
      {HEAD "\"test\": {\"n\": 3, \"accuracy\": 1, \"logloss\": true, \"auc\": 1}}",
       "test.logloss is true"},
  };
  char path[160];
  path_in(path, sizeof path, "metrics.json");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (read_text(bad[i][0], &m, &e) != PC_EDATA)
      fail_msg("accepted or misjudged: %s", bad[i][0]);
    if (strstr(e.msg, bad[i][1]) == NULL || strncmp(e.msg, path, strlen(path)) != 0)
      fail_msg("%s: message '%s' lacks the path or '%s'", bad[i][0], e.msg, bad[i][1]);
    assert_false(m.finished || m.has_test);
  }
  path_in(path, sizeof path, "no-such-metrics.json");
  assert_int_equal(pd_launch_read_metrics(path, &m, &e), PC_EIO);
  assert_non_null(strstr(e.msg, "no-such-metrics.json: No such file"));
  assert_int_equal(pd_launch_read_metrics(NULL, &m, &e), PC_EINVAL);
  assert_int_equal(pd_launch_read_metrics(path, NULL, &e), PC_EINVAL);
}

/* HEAD, then blanks, then "}": exactly size bytes of valid JSON. */
static void write_padded(const char *path, size_t size) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  static char blanks[1 << 16];
  memset(blanks, ' ', sizeof blanks);
  size_t left = size - strlen(HEAD "\"x\": 1") - 1;
  fputs(HEAD "\"x\": 1", f);
  while (left > 0) {
    size_t n = left < sizeof blanks ? left : sizeof blanks;
    assert_int_equal(fwrite(blanks, 1, n, f), n);
    left -= n;
  }
  fputc('}', f);
  assert_int_equal(fclose(f), 0);
}

/* Up to PD_METRICS_MAX bytes are read; one more and the file is refused
 * (jansson is fed in chunks, so the refusal comes without reading on). */
static void test_metrics_oversized(void **state) {
  (void)state;
  pd_metrics_t m;
  pc_err_t e = {0};
  char path[160];
  path_in(path, sizeof path, "metrics.json");
  write_padded(path, PD_METRICS_MAX);
  assert_int_equal(pd_launch_read_metrics(path, &m, &e), PC_OK);
  assert_true(m.finished);
  write_padded(path, PD_METRICS_MAX + 1);
  assert_int_equal(pd_launch_read_metrics(path, &m, &e), PC_EDATA);
  assert_non_null(strstr(e.msg, "larger than 64 MiB"));
  remove(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_all_succeed, case_setup),
      cmocka_unit_test_setup(test_openblas_kept, case_setup),
      cmocka_unit_test_setup(test_worker_killed, case_setup),
      cmocka_unit_test_setup(test_worker_exit_status, case_setup),
      cmocka_unit_test_setup(test_scheduler_verdict, case_setup),
      cmocka_unit_test_setup(test_scheduler_silent, case_setup),
      cmocka_unit_test_setup(test_scheduler_quits_early, case_setup),
      cmocka_unit_test_setup(test_sigterm_ignored, case_setup),
      cmocka_unit_test_setup(test_straggler_after_scheduler, case_setup),
      cmocka_unit_test_setup(test_interrupt, case_setup),
      cmocka_unit_test_setup(test_second_interrupt_kills, case_setup),
      cmocka_unit_test_setup(test_missing_exe, case_setup),
      cmocka_unit_test_setup(test_bad_opts, case_setup),
      cmocka_unit_test_setup(test_summary_printed, case_setup),
      cmocka_unit_test_setup(test_summary_curves, case_setup),
      cmocka_unit_test_setup(test_summary_failed_or_bad, case_setup),
      cmocka_unit_test(test_metrics_decoys),
      cmocka_unit_test(test_metrics_every_kind),
      cmocka_unit_test(test_metrics_nulls),
      cmocka_unit_test(test_metrics_failed),
      cmocka_unit_test(test_metrics_no_test),
      cmocka_unit_test(test_metrics_bad),
      cmocka_unit_test(test_metrics_oversized),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
