/* `parasol launch`: one libuv loop owns every child, its two output pipes,
 * the launcher's SIGINT/SIGTERM and four timers (startup deadline, SIGKILL
 * grace, scheduler-finished deadline, output drain). The loop ends only
 * once every child has been reaped and every handle closed, so nothing
 * started here outlives pd_launch_run. */
#include "pd_launch.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "pc_log.h"
#include "pc_metrics.h"
#include "pc_outdir.h"
#include "pd_plot.h"

#define PD_LINE_MAX 65536            /* longer child lines are split */
#define PD_DRAIN_MS 2000             /* how long output may trail the last exit */
#define PD_GRACE_DEFAULT 3.0         /* seconds from SIGTERM to SIGKILL */
#define PD_FINISH_DEFAULT 10.0       /* seconds others may outlive the scheduler */
#define PD_MAX_SETS 4096             /* keeps argv sizing far from overflow */
#define PD_METRICS_FORMAT 3          /* the metrics.json format read here */
#define PD_SETTLE_DEFAULT 5.0        /* seconds a failed node's scheduler may take to stop the run */
#define PD_ANNOUNCE "@endpoint "
#define PD_FAILED "@failed "
#define PD_NSIG 2

extern char **environ;

typedef enum { PD_SCHEDULER, PD_SERVER, PD_WORKER } pd_role_t;

typedef struct pd_launch pd_launch_t;
typedef struct pd_child pd_child_t;

/* One of a child's output pipes plus the line it has not finished yet. */
typedef struct pd_stream {
  uv_pipe_t pipe;
  pd_child_t *child;
  int is_stdout;
  int open; /* initialised and uv_close not yet called */
  char *buf;
  size_t len, cap;
} pd_stream_t;

struct pd_child {
  uv_process_t proc;
  pd_launch_t *launch;
  pd_role_t role;
  int rank;
  char name[32]; /* "scheduler", "server 0", "worker 1" */
  int pid;
  int alive;  /* spawned and its exit not yet seen */
  int exited;
  int64_t status;
  int signal;
  pd_stream_t out, err;
};

struct pd_launch {
  uv_loop_t loop;
  const pd_launch_opts_t *opts;
  pd_child_t *kids; /* [0] scheduler, then servers, then workers */
  int nkids, nspawned, nalive, nstreams;
  char **env;
  char pid_env[48];
  char sched_set[PC_ENDPOINT_MAX + 32];
  uv_signal_t sigs[PD_NSIG];
  int nsigs; /* how many of sigs[] were initialised */
  uv_timer_t startup, grace, finish, drain, settle;
  int closed; /* the signal and timer handles */
  int announced, stopping, interrupts, draining, judged;
  int rc;
  char msg[PC_ERR_MSG_MAX];
  char sched_reason[PC_ERR_MSG_MAX]; /* the scheduler's "@failed" line */
  char pending[PC_ERR_MSG_MAX];      /* a node's failed exit, awaiting the scheduler's verdict */
  char rbuf[PD_LINE_MAX]; /* every read lands here; fully consumed per callback */
};

static void launch_stop(pd_launch_t *l);
static void launch_maybe_done(pd_launch_t *l);
static void child_spawn(pd_launch_t *l, pd_child_t *c);
static void on_finish(uv_timer_t *t);

/* ---- small helpers ---------------------------------------------------- */

static const char *role_name(pd_role_t r) {
  return r == PD_SCHEDULER ? "scheduler" : r == PD_SERVER ? "server" : "worker";
}

static uint64_t secs_to_ms(double s) {
  if (!(s > 0))
    return 0;
  if (s > 1e7) /* beyond any sane run; keeps the conversion defined */
    s = 1e7;
  return (uint64_t)(s * 1000.0 + 0.5);
}

static double opt_or(double v, double dflt) { return v > 0 ? v : dflt; }

static void exit_describe(const pd_child_t *c, char *buf, size_t size) {
  if (c->signal != 0)
    snprintf(buf, size, "was killed by signal %d (%s)", c->signal, strsignal(c->signal));
  else
    snprintf(buf, size, "exited with status %lld", (long long)c->status);
}

/* "worker 0 (pid 12), server 1 (pid 13)" for every child still alive. */
static void alive_list(const pd_launch_t *l, char *buf, size_t size) {
  size_t off = 0;
  buf[0] = '\0';
  for (int i = 0; i < l->nkids; i++) {
    const pd_child_t *c = &l->kids[i];
    if (!c->alive)
      continue;
    int n = snprintf(buf + off, size - off, "%s%s (pid %d)", off ? ", " : "", c->name, c->pid);
    if (n < 0 || (size_t)n >= size - off)
      return; /* truncated: the count was logged alongside */
    off += (size_t)n;
  }
}

static void launch_fail(pd_launch_t *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the first failure as the run's result and start the teardown;
 * later failures are only logged. */
static void launch_fail(pd_launch_t *l, int code, const char *fmt, ...) {
  char msg[PC_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (l->rc == PC_OK) {
    l->rc = code;
    memcpy(l->msg, msg, sizeof msg);
    PC_ERROR("%s", msg);
  } else {
    PC_WARN("%s", msg);
  }
  launch_stop(l);
}

static void signal_all(pd_launch_t *l, int sig) {
  for (int i = 0; i < l->nkids; i++) {
    pd_child_t *c = &l->kids[i];
    if (!c->alive)
      continue;
    int rc = uv_process_kill(&c->proc, sig);
    if (rc != 0 && rc != UV_ESRCH)
      PC_WARN("cannot signal %s (pid %d): %s", c->name, c->pid, uv_strerror(rc));
  }
}

/* ---- child output ----------------------------------------------------- */

static void line_print(const pd_child_t *c, const char *p, size_t n) {
  fputc('[', stdout);
  fputs(c->name, stdout);
  fputs("] ", stdout);
  fwrite(p, 1, n, stdout);
  fputc('\n', stdout);
}

static void launch_announce(pd_launch_t *l, const char *p, size_t n) {
  while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  while (n > 0 && (*p == ' ' || *p == '\t'))
    p++, n--;
  pd_child_t *s = &l->kids[0];
  if (n == 0 || n >= PC_ENDPOINT_MAX || memchr(p, '\0', n) != NULL) {
    launch_fail(l, PC_EPEER, "scheduler (pid %d) announced an invalid endpoint '%.*s'", s->pid,
                (int)(n > 80 ? 80 : n), p);
    return;
  }
  if (s->exited) {
    char why[96];
    exit_describe(s, why, sizeof why);
    launch_fail(l, PC_EPEER, "scheduler (pid %d) %s right after announcing %.*s", s->pid, why,
                (int)n, p);
    return;
  }
  l->announced = 1;
  uv_timer_stop(&l->startup);
  /* Only now: the scheduler has moved an earlier run's logs aside. */
  pc_err_t err;
  if (pc_log_to_file(l->opts->cfg->output.dir, "launch", &err) != PC_OK)
    PC_WARN("%s", err.msg);
  snprintf(l->sched_set, sizeof l->sched_set, "cluster.scheduler=%.*s", (int)n, p);
  PC_INFO("scheduler listening at %.*s", (int)n, p);
  for (int i = 1; i < l->nkids && !l->stopping; i++)
    child_spawn(l, &l->kids[i]);
}

static void line_dispatch(pd_stream_t *s, const char *p, size_t n) {
  pd_child_t *c = s->child;
  pd_launch_t *l = c->launch;
  size_t k = sizeof PD_ANNOUNCE - 1;
  /* The announcement is the launcher's business, not the operator's. */
  if (c->role == PD_SCHEDULER && s->is_stdout && !l->announced && !l->stopping && n >= k &&
      memcmp(p, PD_ANNOUNCE, k) == 0) {
    launch_announce(l, p + k, n - k);
    return;
  }
  k = sizeof PD_FAILED - 1;
  if (c->role == PD_SCHEDULER && s->is_stdout && n >= k && memcmp(p, PD_FAILED, k) == 0) {
    snprintf(l->sched_reason, sizeof l->sched_reason, "%.*s", (int)(n - k), p + k);
    return;
  }
  line_print(c, p, n);
}

static int stream_reserve(pd_stream_t *s, size_t need) {
  if (need <= s->cap)
    return 0;
  size_t cap = s->cap ? s->cap : 256;
  while (cap < need)
    cap *= 2;
  if (cap > PD_LINE_MAX)
    cap = PD_LINE_MAX;
  char *b = realloc(s->buf, cap);
  if (b == NULL)
    return -1;
  s->buf = b;
  s->cap = cap;
  return 0;
}

/* Add p[0..n) to the pending line (n never takes it past PD_LINE_MAX);
 * when complete, the line is dispatched. */
static void stream_take(pd_stream_t *s, const char *p, size_t n, int complete) {
  if (s->len == 0 && complete) {
    line_dispatch(s, p, n);
    return;
  }
  if (stream_reserve(s, s->len + n) != 0) {
    /* Out of memory: print the pieces as split lines rather than lose them. */
    if (s->len > 0)
      line_dispatch(s, s->buf, s->len);
    s->len = 0;
    line_dispatch(s, p, n);
    return;
  }
  memcpy(s->buf + s->len, p, n);
  s->len += n;
  if (complete) {
    line_dispatch(s, s->buf, s->len);
    s->len = 0;
  }
}

static void stream_feed(pd_stream_t *s, const char *p, size_t n) {
  while (n > 0) {
    if (s->len == PD_LINE_MAX) {
      /* A full line is only split if more of it follows: a newline right
       * after exactly PD_LINE_MAX bytes must not print an empty line. */
      line_dispatch(s, s->buf, s->len);
      s->len = 0;
      if (*p == '\n') {
        p++, n--;
        continue;
      }
    }
    size_t room = PD_LINE_MAX - s->len;
    size_t span = n < room ? n : room;
    const char *nl = memchr(p, '\n', span);
    size_t take = nl != NULL ? (size_t)(nl - p) : span;
    stream_take(s, p, take, nl != NULL);
    take += nl != NULL;
    p += take;
    n -= take;
  }
}

/* The scheduler's exit is judged once its stdout is drained too: its
 * "@endpoint" or "@failed" line may still sit in the pipe when the exit is
 * seen. A failed run is reported with the scheduler's reason, which names
 * the node and the cause, rather than as the scheduler's exit status. */
static void sched_verdict(pd_launch_t *l) {
  pd_child_t *s = &l->kids[0];
  if (l->judged || !s->exited || s->out.open)
    return;
  l->judged = 1;
  char why[96];
  exit_describe(s, why, sizeof why);
  if (!l->announced && !l->stopping)
    launch_fail(l, PC_EPEER, "scheduler (pid %d) %s before announcing its endpoint", s->pid, why);
  else if (s->status == 0 && s->signal == 0 && !l->stopping && l->nalive > 0)
    uv_timer_start(&l->finish, on_finish,
                   secs_to_ms(opt_or(l->opts->finish_timeout, PD_FINISH_DEFAULT)), 0);
  else if ((s->status != 0 || s->signal != 0) && !l->stopping)
    launch_fail(l, PC_EPEER, "%s", l->sched_reason[0] ? l->sched_reason
                                   : l->pending[0] ? l->pending : "scheduler failed");
  if ((s->status != 0 || s->signal != 0) && !l->sched_reason[0] && !l->pending[0])
    PC_WARN("scheduler (pid %d) %s", s->pid, why);
}

static void stream_close(pd_stream_t *s) {
  if (!s->open)
    return;
  if (s->len > 0) /* the final line had no newline */
    line_dispatch(s, s->buf, s->len);
  fflush(stdout);
  free(s->buf);
  s->buf = NULL;
  s->len = s->cap = 0;
  s->open = 0;
  uv_read_stop((uv_stream_t *)&s->pipe);
  uv_close((uv_handle_t *)&s->pipe, NULL);
  pd_launch_t *l = s->child->launch;
  l->nstreams--;
  if (s->child->role == PD_SCHEDULER && s->is_stdout)
    sched_verdict(l);
  launch_maybe_done(l);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  pd_stream_t *s = h->data;
  pd_launch_t *l = s->child->launch;
  *buf = uv_buf_init(l->rbuf, sizeof l->rbuf);
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  pd_stream_t *s = h->data;
  if (nread > 0) {
    stream_feed(s, buf->base, (size_t)nread);
    fflush(stdout);
    return;
  }
  if (nread == 0)
    return;
  if (nread != UV_EOF)
    PC_WARN("reading output of %s: %s", s->child->name, uv_strerror((int)nread));
  stream_close(s);
}

static void stream_init(pd_launch_t *l, pd_child_t *c, pd_stream_t *s, int is_stdout) {
  s->child = c;
  s->is_stdout = is_stdout;
  uv_pipe_init(&l->loop, &s->pipe, 0); /* cannot fail on unix */
  s->pipe.data = s;
  s->open = 1;
  l->nstreams++;
}

static void stream_start(pd_stream_t *s) {
  int rc = uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
  if (rc != 0) {
    PC_WARN("cannot read output of %s: %s", s->child->name, uv_strerror(rc));
    stream_close(s);
  }
}

/* ---- children --------------------------------------------------------- */

static void on_settle(uv_timer_t *t) {
  pd_launch_t *l = t->data;
  if (!l->stopping)
    launch_fail(l, PC_EPEER, "%s", l->pending);
}

static void child_exited(pd_launch_t *l, pd_child_t *c) {
  char why[96];
  exit_describe(c, why, sizeof why);
  if (c->role == PD_SCHEDULER) {
    PC_INFO("scheduler (pid %d) %s", c->pid, why);
    sched_verdict(l);
    return;
  }
  if (c->status == 0 && c->signal == 0) {
    PC_INFO("%s (pid %d) %s", c->name, c->pid, why);
    return;
  }
  if (l->stopping || l->pending[0]) {
    PC_INFO("%s (pid %d) %s", c->name, c->pid, why);
    return;
  }
  /* A node that exits with a status has told the scheduler why, and the
   * scheduler stops the run with that reason; a killed one could not. */
  if (c->signal == 0 && l->kids[0].alive) {
    snprintf(l->pending, sizeof l->pending, "%s (pid %d) %s", c->name, c->pid, why);
    PC_INFO("%s; waiting for the scheduler to stop the run", l->pending);
    uv_timer_start(&l->settle, on_settle, secs_to_ms(opt_or(l->opts->settle, PD_SETTLE_DEFAULT)),
                   0);
    return;
  }
  launch_fail(l, PC_EPEER, "%s (pid %d) %s", c->name, c->pid, why);
}

static void on_child_exit(uv_process_t *p, int64_t status, int term_signal) {
  pd_child_t *c = p->data;
  pd_launch_t *l = c->launch;
  c->alive = 0;
  c->exited = 1;
  c->status = status;
  c->signal = term_signal;
  l->nalive--;
  uv_close((uv_handle_t *)p, NULL);
  child_exited(l, c);
  launch_maybe_done(l);
}

/* argv for one child; the strings stay owned by opts and l. */
static char **child_argv(const pd_launch_t *l, const pd_child_t *c, char *rank, size_t size) {
  const pd_launch_opts_t *o = l->opts;
  char **argv = calloc(8 + 2 * (size_t)o->nsets, sizeof *argv);
  if (argv == NULL)
    return NULL;
  size_t n = 0;
  argv[n++] = (char *)o->exe;
  argv[n++] = (char *)role_name(c->role);
  argv[n++] = (char *)o->config_path;
  if (c->role == PD_SCHEDULER) {
    argv[n++] = (char *)"--announce";
  } else {
    snprintf(rank, size, "%d", c->rank);
    argv[n++] = (char *)"--rank";
    argv[n++] = rank;
  }
  for (int i = 0; i < o->nsets; i++) {
    argv[n++] = (char *)"--set";
    argv[n++] = (char *)o->sets[i];
  }
  /* Last, so it wins over anything the user passed. */
  if (c->role != PD_SCHEDULER) {
    argv[n++] = (char *)"--set";
    argv[n++] = (char *)l->sched_set;
  }
  argv[n] = NULL;
  return argv;
}

static int child_exec(pd_launch_t *l, pd_child_t *c) {
  char rank[16];
  char **argv = child_argv(l, c, rank, sizeof rank);
  if (argv == NULL)
    return UV_ENOMEM;
  uv_stdio_container_t stdio[3];
  memset(stdio, 0, sizeof stdio);
  stdio[0].flags = UV_IGNORE; /* /dev/null: Ctrl-C input is the launcher's */
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&c->out.pipe;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&c->err.pipe;
  uv_process_options_t po;
  memset(&po, 0, sizeof po);
  po.exit_cb = on_child_exit;
  po.file = l->opts->exe;
  po.args = argv;
  po.env = l->env;
  po.stdio_count = 3;
  po.stdio = stdio;
  c->proc.data = c;
  int rc = uv_spawn(&l->loop, &c->proc, &po);
  free(argv);
  return rc;
}

static void child_spawn(pd_launch_t *l, pd_child_t *c) {
  stream_init(l, c, &c->out, 1);
  stream_init(l, c, &c->err, 0);
  l->nspawned++;
  int rc = child_exec(l, c);
  if (rc != 0) {
    /* uv_spawn registers the handle even when it fails; kids are calloc'd,
     * so the type says whether it got that far. */
    if (c->proc.type == UV_PROCESS)
      uv_close((uv_handle_t *)&c->proc, NULL);
    stream_close(&c->out);
    stream_close(&c->err);
    launch_fail(l, PC_ESYS, "cannot start %s (%s): %s", c->name, l->opts->exe, uv_strerror(rc));
    return;
  }
  c->pid = c->proc.pid;
  c->alive = 1;
  l->nalive++;
  PC_INFO("started %s (pid %d)", c->name, c->pid);
  stream_start(&c->out);
  stream_start(&c->err);
}

/* ---- stopping and finishing ------------------------------------------- */

static void on_grace(uv_timer_t *t) {
  pd_launch_t *l = t->data;
  if (l->nalive == 0)
    return;
  char names[PC_ERR_MSG_MAX];
  alive_list(l, names, sizeof names);
  PC_WARN("%d processes still alive %g s after SIGTERM, sending SIGKILL: %s", l->nalive,
          opt_or(l->opts->grace, PD_GRACE_DEFAULT), names);
  signal_all(l, SIGKILL);
}

static void launch_stop(pd_launch_t *l) {
  if (l->stopping)
    return;
  l->stopping = 1;
  if (!l->closed) {
    uv_timer_stop(&l->startup);
    uv_timer_stop(&l->finish);
    uv_timer_stop(&l->settle);
  }
  if (l->nalive > 0) {
    signal_all(l, SIGTERM);
    uv_timer_start(&l->grace, on_grace, secs_to_ms(opt_or(l->opts->grace, PD_GRACE_DEFAULT)),
                   0);
  }
  launch_maybe_done(l);
}

static void on_drain(uv_timer_t *t) {
  pd_launch_t *l = t->data;
  /* A grandchild still holds a pipe open; the children are all gone. */
  for (int i = 0; i < l->nkids; i++) {
    stream_close(&l->kids[i].out);
    stream_close(&l->kids[i].err);
  }
}

static void launch_close_handles(pd_launch_t *l) {
  if (l->closed)
    return;
  l->closed = 1;
  for (int i = 0; i < l->nsigs; i++)
    uv_close((uv_handle_t *)&l->sigs[i], NULL);
  uv_close((uv_handle_t *)&l->startup, NULL);
  uv_close((uv_handle_t *)&l->grace, NULL);
  uv_close((uv_handle_t *)&l->finish, NULL);
  uv_close((uv_handle_t *)&l->drain, NULL);
  uv_close((uv_handle_t *)&l->settle, NULL);
}

/* Close the launcher's own handles once no child is alive, none is still
 * to be started, and all their output has been read. */
static void launch_maybe_done(pd_launch_t *l) {
  if (l->closed || l->nalive > 0)
    return;
  if (!l->stopping && l->nspawned < l->nkids)
    return;
  if (l->nstreams > 0) {
    if (!l->draining)
      uv_timer_start(&l->drain, on_drain, PD_DRAIN_MS, 0);
    l->draining = 1;
    return;
  }
  launch_close_handles(l);
}

static void on_startup(uv_timer_t *t) {
  pd_launch_t *l = t->data;
  pd_child_t *s = &l->kids[0];
  if (l->announced || l->stopping)
    return;
  if (s->exited) {
    char why[96];
    exit_describe(s, why, sizeof why);
    launch_fail(l, PC_EPEER, "scheduler (pid %d) %s before announcing its endpoint", s->pid, why);
    return;
  }
  launch_fail(l, PC_ETIMEDOUT, "scheduler (pid %d) did not announce its endpoint within %g s",
              s->pid, opt_or(l->opts->startup_timeout, l->opts->cfg->cluster.register_timeout));
}

static void on_finish(uv_timer_t *t) {
  pd_launch_t *l = t->data;
  if (l->stopping || l->nalive == 0)
    return;
  char names[PC_ERR_MSG_MAX];
  alive_list(l, names, sizeof names);
  launch_fail(l, PC_EPEER, "%d processes still running %g s after the scheduler finished: %s",
              l->nalive, opt_or(l->opts->finish_timeout, PD_FINISH_DEFAULT), names);
}

static void on_signal(uv_signal_t *h, int signum) {
  pd_launch_t *l = h->data;
  l->interrupts++;
  if (l->interrupts == 1 && !l->stopping) {
    PC_INFO("interrupted: stopping %d processes", l->nalive);
    if (l->rc == PC_OK) {
      l->rc = PC_ECANCELED;
      snprintf(l->msg, sizeof l->msg, "interrupted by %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
    }
    launch_stop(l);
    return;
  }
  /* Asked again (or while already tearing down): do not wait any longer. */
  PC_INFO("interrupted again: killing %d processes", l->nalive);
  signal_all(l, SIGKILL);
}

/* ---- metrics.json ----------------------------------------------------- */

/* Feeds jansson the file in chunks, stopping once it passes the limit, so
 * a huge or growing file is refused without being read whole. */
typedef struct pd_reader {
  FILE *f;
  size_t total;
  int too_big;
  int ioerr;
} pd_reader_t;

static size_t read_chunk(void *buf, size_t len, void *arg) {
  pd_reader_t *r = arg;
  size_t n = fread(buf, 1, len, r->f);
  if (n == 0 && ferror(r->f)) {
    r->ioerr = errno ? errno : EIO;
    return (size_t)-1;
  }
  r->total += n;
  if (r->total > PD_METRICS_MAX) {
    r->too_big = 1;
    return (size_t)-1;
  }
  return n;
}

static int metrics_load(const char *path, json_t **out, pc_err_t *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return pc_err_set(err, PC_EIO, "%s: %s", path, strerror(errno));
  pd_reader_t r = {f, 0, 0, 0};
  json_error_t je;
  json_t *doc = json_load_callback(read_chunk, &r, JSON_REJECT_DUPLICATES, &je);
  fclose(f);
  if (doc == NULL && r.ioerr)
    return pc_err_set(err, PC_EIO, "reading %s: %s", path, strerror(r.ioerr));
  if (doc == NULL && r.too_big)
    return pc_err_set(err, PC_EDATA, "%s: larger than %u MiB, not a metrics.json", path,
                      PD_METRICS_MAX >> 20);
  if (doc == NULL)
    return pc_err_set(err, PC_EDATA, "%s:%d:%d: not valid JSON: %s", path, je.line, je.column,
                      je.text);
  *out = doc;
  return PC_OK;
}

static const char *json_kind(const json_t *v) {
  static const char *const names[] = {"an object", "an array", "a string", "an integer",
                                      "a real",    "true",     "false",    "null"};
  return v == NULL ? "missing" : names[json_typeof(v)];
}

/* test.KEY as a metric: a number, or null for a value that was not finite. */
static int test_figure(const char *key, const json_t *j, pd_metrics_t *out, const char *path,
                       pc_err_t *err) {
  pc_err_t why = {0};
  if (!json_is_number(j) && !json_is_null(j))
    return pc_err_set(err, PC_EDATA, "%s: test.%.64s is %s, want a number or null", path, key,
                      json_kind(j));
  if (pc_metric_name_check(key, &why) != PC_OK)
    return pc_err_set(err, PC_EDATA, "%s: test: %s", path, why.msg);
  if (out->nmetrics == PC_METRICS_MAX)
    return pc_err_set(err, PC_EDATA, "%s: test has more than %d metrics", path,
                      PC_METRICS_MAX);
  pc_metric_t *m = &out->metrics[out->nmetrics++];
  snprintf(m->name, sizeof m->name, "%s", key);
  m->value = json_is_number(j) ? json_number_value(j) : NAN;
  return PC_OK;
}

/* "test": its count and, generically, every metric it holds. */
static int metrics_test(const json_t *doc, pd_metrics_t *out, const char *path, pc_err_t *err) {
  const json_t *t = json_object_get(doc, "test");
  if (t == NULL || json_is_null(t))
    return PC_OK; /* no test set, or not evaluated */
  if (!json_is_object(t))
    return pc_err_set(err, PC_EDATA, "%s: \"test\" is %s, want an object", path, json_kind(t));
  const json_t *n = json_object_get(t, "n");
  if (!json_is_integer(n) || json_integer_value(n) < 0)
    return pc_err_set(err, PC_EDATA, "%s: test.n is %s, want a count", path,
                      json_is_integer(n) ? "negative" : json_kind(n));
  out->n = (unsigned long long)json_integer_value(n);
  const char *key;
  const json_t *v;
  int rc = PC_OK;
  json_object_foreach((json_t *)t, key, v) {
    if (strcmp(key, "n") == 0 || strcmp(key, "lines_skipped") == 0 ||
        strcmp(key, "confusion") == 0)
      continue;
    if ((rc = test_figure(key, v, out, path, err)) != PC_OK)
      break;
  }
  out->has_test = rc == PC_OK;
  return rc;
}

static int metrics_status(const json_t *doc, pd_metrics_t *out, const char *path,
                          pc_err_t *err) {
  if (!json_is_object(doc))
    return pc_err_set(err, PC_EDATA, "%s: the document is %s, want an object", path,
                      json_kind(doc));
  const json_t *f = json_object_get(doc, "format");
  if (json_is_integer(f) && json_integer_value(f) != PD_METRICS_FORMAT)
    return pc_err_set(err, PC_EDATA, "%s: format %lld, but this Parasol reads format %d", path,
                      (long long)json_integer_value(f), PD_METRICS_FORMAT);
  if (!json_is_integer(f))
    return pc_err_set(err, PC_EDATA, "%s: \"format\" is %s, this Parasol reads format %d "
                      "(written by an older Parasol?)", path, json_kind(f), PD_METRICS_FORMAT);
  const char *status = json_string_value(json_object_get(doc, "status"));
  const char *error = json_string_value(json_object_get(doc, "error"));
  if (status != NULL && strcmp(status, "finished") == 0)
    out->finished = 1;
  else if (status == NULL || strcmp(status, "failed") != 0)
    return pc_err_set(err, PC_EDATA, "%s: \"status\" is not \"finished\" or \"failed\"", path);
  else if (error == NULL)
    return pc_err_set(err, PC_EDATA, "%s: status \"failed\" without an \"error\" string", path);
  else
    snprintf(out->error, sizeof out->error, "%s", error);
  return PC_OK;
}

int pd_launch_read_metrics(const char *path, pd_metrics_t *out, pc_err_t *err) {
  if (path == NULL || out == NULL)
    return pc_err_set(err, PC_EINVAL, "pd_launch_read_metrics: NULL argument");
  *out = (pd_metrics_t){0};
  json_t *doc = NULL;
  int rc = metrics_load(path, &doc, err);
  if (rc == PC_OK)
    rc = metrics_status(doc, out, path, err);
  if (rc == PC_OK)
    rc = metrics_test(doc, out, path, err);
  json_decref(doc);
  if (rc != PC_OK)
    *out = (pd_metrics_t){0};
  return rc;
}

/* After a run every child finished: the scheduler's verdict and figures. */
static void launch_summary(const pd_launch_t *l) {
  const char *dir = l->opts->cfg->output.dir;
  size_t dlen = strnlen(dir, PC_PATH_MAX - 1);
  while (dlen > 1 && dir[dlen - 1] == '/')
    dlen--;
  char path[PC_PATH_MAX + 16];
  snprintf(path, sizeof path, "%.*s/metrics.json", (int)dlen, dir);
  if (access(path, F_OK) != 0) {
    PC_INFO("training finished (no metrics.json) -> %s", dir);
    return;
  }
  pd_metrics_t m;
  pc_err_t e = {0};
  char text[PC_METRICS_TEXT_MAX];
  if (pd_launch_read_metrics(path, &m, &e) != PC_OK)
    PC_WARN("training finished but metrics.json could not be read: %s", e.msg);
  else if (!m.finished)
    PC_WARN("every process exited 0 but %s says the run failed: %s", path, m.error);
  else if (!m.has_test)
    PC_INFO("training finished (no test set) -> %s", dir);
  else /* the same line as the scheduler's, from the same doubles */
    PC_INFO("test %s  (%llu examples) -> %s",
            pc_metrics_format(text, sizeof text, m.metrics, m.nmetrics), m.n, path);
}

/* The curves of a finished run, when the scheduler wrote its per-epoch
 * series: a picture, so a failure (no gnuplot, say) is only a warning. */
static void launch_curves(const pd_launch_t *l) {
  const char *dir = l->opts->cfg->output.dir;
  char csv[PC_PATH_MAX + 16];
  snprintf(csv, sizeof csv, "%s/%s", dir, PD_PLOT_CSV);
  if (access(csv, F_OK) != 0)
    return;
  pc_err_t e = {0};
  if (pd_plot_run(dir, &e) != PC_OK)
    PC_WARN("curves.png not drawn: %s", e.msg);
  else
    PC_INFO("training curves -> %s/%s", dir, PD_PLOT_PNG);
}

/* ---- setup and the run ------------------------------------------------ */

static int launch_check(const pd_launch_opts_t *o, pc_err_t *err) {
  if (o == NULL || o->exe == NULL || o->config_path == NULL || o->cfg == NULL)
    return pc_err_set(err, PC_EINVAL, "launch: exe, config path and config are required");
  if (o->nsets < 0 || o->nsets > PD_MAX_SETS || (o->nsets > 0 && o->sets == NULL))
    return pc_err_set(err, PC_EINVAL, "launch: bad --set list (%d entries)", o->nsets);
  for (int i = 0; i < o->nsets; i++)
    if (o->sets[i] == NULL)
      return pc_err_set(err, PC_EINVAL, "launch: --set entry %d is NULL", i);
  const pc_config_t *c = o->cfg;
  if (c->cluster.servers < 1 || c->cluster.servers > 1024)
    return pc_err_set(err, PC_EINVAL, "launch: cluster.servers=%d is outside 1..1024",
                      c->cluster.servers);
  if (c->cluster.workers < 1 || c->cluster.workers > 4096)
    return pc_err_set(err, PC_EINVAL, "launch: cluster.workers=%d is outside 1..4096",
                      c->cluster.workers);
  if (o->startup_timeout <= 0 && !(c->cluster.register_timeout > 0))
    return pc_err_set(err, PC_EINVAL, "launch: no startup timeout (cluster.register_timeout=%g)",
                      c->cluster.register_timeout);
  return PC_OK;
}

static int env_is(const char *entry, const char *name) {
  size_t n = strlen(name);
  return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* The launcher's environment with our three variables; the entries stay
 * owned by environ or by l. */
static int env_build(pd_launch_t *l) {
  size_t n = 0;
  while (environ != NULL && environ[n] != NULL)
    n++;
  l->env = calloc(n + 4, sizeof *l->env);
  if (l->env == NULL)
    return PC_ENOMEM;
  size_t k = 0;
  int have_blas = 0;
  for (size_t i = 0; i < n; i++) {
    if (env_is(environ[i], "PARASOL_LOG_PREFIX") || env_is(environ[i], "PARASOL_PARENT_PID"))
      continue;
    have_blas |= env_is(environ[i], "OPENBLAS_NUM_THREADS");
    l->env[k++] = environ[i];
  }
  /* The launcher prefixes child lines itself. */
  l->env[k++] = (char *)"PARASOL_LOG_PREFIX=0";
  snprintf(l->pid_env, sizeof l->pid_env, "PARASOL_PARENT_PID=%ld", (long)getpid());
  l->env[k++] = l->pid_env;
  /* Several pthreaded OpenBLAS processes on few cores oversubscribe badly. */
  if (!have_blas)
    l->env[k++] = (char *)"OPENBLAS_NUM_THREADS=1";
  l->env[k] = NULL;
  return PC_OK;
}

static void kids_name(pd_launch_t *l) {
  const pc_config_t *cfg = l->opts->cfg;
  l->kids[0].role = PD_SCHEDULER;
  l->kids[0].rank = -1;
  snprintf(l->kids[0].name, sizeof l->kids[0].name, "scheduler");
  for (int i = 1; i < l->nkids; i++) {
    pd_child_t *c = &l->kids[i];
    int is_server = i <= cfg->cluster.servers;
    c->role = is_server ? PD_SERVER : PD_WORKER;
    c->rank = is_server ? i - 1 : i - 1 - cfg->cluster.servers;
    snprintf(c->name, sizeof c->name, "%s %d", role_name(c->role), c->rank);
  }
  for (int i = 0; i < l->nkids; i++)
    l->kids[i].launch = l;
}

static int launch_init(pd_launch_t *l, const pd_launch_opts_t *opts, pc_err_t *err) {
  l->opts = opts;
  l->nkids = 1 + opts->cfg->cluster.servers + opts->cfg->cluster.workers;
  l->kids = calloc((size_t)l->nkids, sizeof *l->kids);
  if (l->kids == NULL || env_build(l) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "launch: out of memory for %d processes", l->nkids);
  kids_name(l);
  int rc = uv_loop_init(&l->loop);
  if (rc != 0)
    return pc_err_set(err, PC_ESYS, "launch: uv_loop_init: %s", uv_strerror(rc));
  uv_timer_t *timers[] = {&l->startup, &l->grace, &l->finish, &l->drain, &l->settle};
  for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
    uv_timer_init(&l->loop, timers[i]); /* cannot fail */
    timers[i]->data = l;
  }
  return PC_OK;
}

static int launch_signals(pd_launch_t *l) {
  static const int sigs[PD_NSIG] = {SIGINT, SIGTERM};
  for (int i = 0; i < PD_NSIG; i++) {
    int rc = uv_signal_init(&l->loop, &l->sigs[i]);
    if (rc != 0)
      return rc;
    l->nsigs++;
    l->sigs[i].data = l;
    rc = uv_signal_start(&l->sigs[i], on_signal, sigs[i]);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static void launch_begin(pd_launch_t *l) {
  int rc = launch_signals(l);
  if (rc != 0) {
    launch_fail(l, PC_ESYS, "launch: cannot watch SIGINT/SIGTERM: %s", uv_strerror(rc));
    return;
  }
  double startup = opt_or(l->opts->startup_timeout, l->opts->cfg->cluster.register_timeout);
  child_spawn(l, &l->kids[0]);
  if (!l->stopping)
    uv_timer_start(&l->startup, on_startup, secs_to_ms(startup), 0);
  launch_maybe_done(l);
}

static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static int launch_loop(pd_launch_t *l, pc_err_t *err) {
  uv_run(&l->loop, UV_RUN_DEFAULT);
  fflush(stdout);
  int rc = uv_loop_close(&l->loop);
  if (rc != 0) {
    /* A handle this file forgot: close it so the loop can still be freed. */
    uv_walk(&l->loop, on_walk_close, NULL);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    uv_loop_close(&l->loop);
    return pc_err_set(err, PC_ESYS, "launch: event loop still busy at exit: %s", uv_strerror(rc));
  }
  if (l->rc != PC_OK)
    return pc_err_set(err, l->rc, "%s", l->msg);
  launch_summary(l);
  launch_curves(l);
  return PC_OK;
}

static void launch_free(pd_launch_t *l) {
  for (int i = 0; l->kids != NULL && i < l->nkids; i++) {
    free(l->kids[i].out.buf);
    free(l->kids[i].err.buf);
  }
  free(l->kids);
  free(l->env);
  free(l);
}

int pd_launch_run(const pd_launch_opts_t *opts, pc_err_t *err) {
  int rc = launch_check(opts, err);
  /* Before any process starts: an output.dir that cannot be written, or
   * that another run holds, would otherwise be found after training. */
  if (rc == PC_OK)
    rc = pc_outdir_check(opts->cfg->output.dir, err);
  if (rc == PC_OK)
    rc = pc_outdir_probe(opts->cfg->output.dir, err);
  if (rc != PC_OK)
    return rc;
  /* Heap, not stack: the struct carries a 64 KiB read buffer. */
  pd_launch_t *l = calloc(1, sizeof *l);
  if (l == NULL)
    return pc_err_set(err, PC_ENOMEM, "launch: out of memory");
  rc = launch_init(l, opts, err);
  if (rc == PC_OK) {
    launch_begin(l);
    rc = launch_loop(l, err);
  }
  launch_free(l);
  return rc;
}
