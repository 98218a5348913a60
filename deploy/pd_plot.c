/* Training curves drawn by gnuplot from the runs' own metrics.csv files.
 * The CSV is checked here first so that a bad file is reported with its
 * line, in our words, instead of as a gnuplot warning or an empty chart. */
#include "pd_plot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pc_afile.h"
#include "pc_proc.h"

extern char **environ;

#define PLOT_WIDTH 900
#define PLOT_HEIGHT 600
#define PLOT_TAIL 400 /* bytes of gnuplot's output kept for an error */
#define PLOT_METRIC_MAX 15 /* a metric name's length (docs/metrics.md) */

static const char *const lead_cols[] = {"epoch", "seconds", "samples", "train_loss"};
#define NLEAD (int)(sizeof lead_cols / sizeof lead_cols[0])

/* The series drawn, by column, and their panel: one table, so a new metric
 * is one row. */
typedef struct plot_series {
  const char *col;
  int panel;
} plot_series_t;

static const plot_series_t series[] = {
    {"train_loss", 0},     {"valid_logloss", 0}, {"valid_rmse", 0}, {"valid_mae", 0},
    {"valid_accuracy", 1}, {"valid_auc", 1},     {"valid_top5", 1},
};
#define NSERIES (int)(sizeof series / sizeof series[0])
static const char *const panels[] = {"losses", "scores"};
#define NPANELS (int)(sizeof panels / sizeof panels[0])

/* ---- metrics.csv ------------------------------------------------------ */

static int col_index(const pd_plot_csv_t *c, const char *name) {
  for (int i = 0; i < c->ncols; i++)
    if (strcmp(c->cols[i], name) == 0)
      return i;
  return -1;
}

/* Splits line at commas in place; cells[] point into it. -1: too many. */
static int split(char *line, char **cells, int max) {
  int n = 0;
  for (char *p = line;; p++) {
    if (n == max)
      return -1;
    cells[n++] = p;
    p = strchr(p, ',');
    if (p == NULL)
      return n;
    *p = '\0';
  }
}

static int metric_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > PLOT_METRIC_MAX)
    return 0;
  return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static const char header_want[] = "want 'epoch,seconds,samples,train_loss[,valid_<metric>...]'";

static int header_parse(pd_plot_csv_t *c, char *line, const char *path, pc_err_t *err) {
  char *cells[PD_PLOT_COLS_MAX];
  int n = split(line, cells, PD_PLOT_COLS_MAX);
  if (n < 0)
    return pc_err_set(err, PC_EDATA, "%s:1: more than %d columns", path, PD_PLOT_COLS_MAX);
  for (int i = 0; i < n; i++) {
    const char *s = cells[i];
    int ok = i < NLEAD ? strcmp(s, lead_cols[i]) == 0
                       : strncmp(s, "valid_", 6) == 0 && metric_name_ok(s + 6);
    if (!ok)
      return pc_err_set(err, PC_EDATA, "%s:1: column %d is '%.40s', %s", path, i + 1, s,
                        header_want);
    if (col_index(c, s) >= 0)
      return pc_err_set(err, PC_EDATA, "%s:1: column '%s' appears twice", path, s);
    snprintf(c->cols[c->ncols++], PD_PLOT_NAME_MAX, "%s", s);
  }
  if (n < NLEAD)
    return pc_err_set(err, PC_EDATA, "%s:1: header has %d columns, %s", path, n, header_want);
  return PC_OK;
}

/* Only what gnuplot reads as a number: no hex, no nan/inf words. */
static int cell_number(const char *s, double *v) {
  size_t n = strlen(s);
  if (n == 0 || strspn(s, "0123456789+-.eE") != n)
    return 0;
  char *end = NULL;
  *v = strtod(s, &end);
  return end == s + n && isfinite(*v);
}

static int row_parse(pd_plot_csv_t *c, char *line, long lineno, const char *path,
                     pc_err_t *err) {
  char *cells[PD_PLOT_COLS_MAX];
  int n = split(line, cells, PD_PLOT_COLS_MAX);
  if (n != c->ncols)
    return pc_err_set(err, PC_EDATA, "%s:%ld: %s cells, the header has %d", path, lineno,
                      n < 0 ? "too many" : "a different number of", c->ncols);
  for (int i = 0; i < n; i++) {
    double v;
    if (cells[i][0] == '\0' && i > 0)
      continue; /* a figure not known this epoch */
    if (!cell_number(cells[i], &v))
      return pc_err_set(err, PC_EDATA, "%s:%ld: %s '%.40s' is not a number", path, lineno,
                        c->cols[i], cells[i]);
    if (i == 0 && (v != floor(v) || v < 0 || v > 1e9))
      return pc_err_set(err, PC_EDATA, "%s:%ld: epoch '%.40s' is not a whole number", path,
                        lineno, cells[i]);
    if (i == 0 && v > c->max_epoch)
      c->max_epoch = (long)v;
    c->has_value[i] = 1;
  }
  c->rows++;
  return PC_OK;
}

/* One line without its newline (and a CR before it); 0 at the end. */
static int line_next(FILE *f, char **buf, size_t *cap, long lineno, const char *path,
                     pc_err_t *err) {
  errno = 0;
  ssize_t n = getline(buf, cap, f);
  if (n < 0)
    return errno == 0 ? 0 /* EOF */
           : pc_err_set(err, PC_EIO, "%s:%ld: cannot read: %s", path, lineno, strerror(errno));
  if (n > PD_PLOT_LINE_MAX)
    return pc_err_set(err, PC_EDATA, "%s:%ld: line longer than %d bytes", path, lineno,
                      PD_PLOT_LINE_MAX);
  if (strlen(*buf) != (size_t)n)
    return pc_err_set(err, PC_EDATA, "%s:%ld: NUL byte (not a text file)", path, lineno);
  while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
    (*buf)[--n] = '\0';
  if (n == 0)
    return pc_err_set(err, PC_EDATA, "%s:%ld: empty line", path, lineno);
  return 1;
}

static int csv_lines(FILE *f, pd_plot_csv_t *c, const char *path, pc_err_t *err) {
  char *buf = NULL;
  size_t cap = 0;
  long lineno = 1;
  int rc = line_next(f, &buf, &cap, lineno, path, err);
  if (rc == 0)
    rc = pc_err_set(err, PC_EDATA, "%s:1: empty file, %s", path, header_want);
  if (rc == 1)
    rc = header_parse(c, buf, path, err);
  while (rc == PC_OK && (rc = line_next(f, &buf, &cap, ++lineno, path, err)) == 1)
    rc = row_parse(c, buf, lineno, path, err);
  free(buf);
  if (rc == PC_OK && c->rows == 0)
    rc = pc_err_set(err, PC_EDATA, "%s:2: no epoch (only the header)", path);
  return rc;
}

/* The legend's name, cut to fit. */
static void set_title(pd_plot_csv_t *c, const char *s) {
  size_t n = strnlen(s, sizeof c->title - 1);
  memcpy(c->title, s, n);
  c->title[n] = '\0';
}

/* The legend's default name: the directory holding the file. */
static void csv_title(pd_plot_csv_t *c) {
  char dir[sizeof c->path];
  snprintf(dir, sizeof dir, "%s", c->path);
  char *slash = strrchr(dir, '/');
  if (slash != NULL && slash != dir)
    *slash = '\0';
  slash = strrchr(dir, '/');
  set_title(c, slash != NULL && slash[1] ? slash + 1 : dir);
}

int pd_plot_csv_read(const char *path, const char *title, pd_plot_csv_t *out, pc_err_t *err) {
  if (path == NULL || out == NULL)
    return pc_err_set(err, PC_EINVAL, "pd_plot_csv_read: NULL argument");
  memset(out, 0, sizeof *out);
  if (realpath(path, out->path) == NULL)
    return pc_err_set(err, errno == ENOENT ? PC_ENOTFOUND : PC_EIO, "cannot read %s: %s", path,
                      strerror(errno));
  if (strchr(out->path, '\n') != NULL) /* it would end the script's line */
    return pc_err_set(err, PC_EINVAL, "%s: a path with a newline cannot be plotted", path);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return pc_err_set(err, PC_EIO, "cannot read %s: %s", path, strerror(errno));
  int rc = csv_lines(f, out, path, err);
  fclose(f);
  if (rc == PC_OK && title != NULL)
    set_title(out, title);
  else if (rc == PC_OK)
    csv_title(out);
  return rc;
}

/* ---- the script ------------------------------------------------------- */

/* A gnuplot single-quoted string: nothing is special but the quote. */
static void put_quoted(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'')
      fputc('\'', f);
    fputc(*s, f);
  }
  fputc('\'', f);
}

static int series_drawn(const pd_plot_csv_t *c, int s) {
  int i = col_index(c, series[s].col);
  return i >= 0 && c->has_value[i];
}

static int panel_lines(const pd_plot_csv_t *runs, int n, int panel) {
  int k = 0;
  for (int r = 0; r < n; r++)
    for (int s = 0; s < NSERIES; s++)
      k += series[s].panel == panel && series_drawn(&runs[r], s);
  return k;
}

/* Colour by run, dash pattern by series: a run's lines read together. */
static void panel_plot(FILE *f, const pd_plot_csv_t *runs, int n, int panel) {
  fprintf(f, "set title '%s'\nplot", panels[panel]);
  const char *sep = " ";
  for (int r = 0; r < n; r++)
    for (int s = 0; s < NSERIES; s++) {
      if (series[s].panel != panel || !series_drawn(&runs[r], s))
        continue;
      fprintf(f, "%s", sep);
      put_quoted(f, runs[r].path);
      fprintf(f, " using \"epoch\":\"%s\" with linespoints lc %d dt %d title ", series[s].col,
              r % 8 + 1, s + 1);
      char title[sizeof runs[r].title + PD_PLOT_NAME_MAX + 2];
      snprintf(title, sizeof title, "%s %s", runs[r].title, series[s].col);
      put_quoted(f, title);
      sep = ", \\\n     ";
    }
  fputc('\n', f);
}

static void script_head(FILE *f, const char *png, int w, int h, long max_epoch, int npanels) {
  fputs("# Training curves written by parasol (docs/cli.md, 'plot'). Edit and re-run:\n"
        "#   gnuplot THIS_FILE    (or: gnuplot -e \"out='other.png'\" THIS_FILE)\n"
        "if (!exists(\"out\")) out = ",
        f);
  put_quoted(f, png);
  fprintf(f, "\nif (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
             "  set terminal pngcairo size %d,%d noenhanced\n"
             "} else {\n"
             "  set terminal png size %d,%d noenhanced\n"
             "}\n"
             "set output out\n"
             "set datafile separator comma\n"
             "set key outside right top\n"
             "set grid\n"
             "set lmargin 10\n"
             "set rmargin 28\n"
             "set xlabel 'epoch'\n"
             "set xtics %ld\n"
             "set multiplot layout %d,1\n",
          w, h, w, h, max_epoch > 10 ? (max_epoch + 9) / 10 : 1L, npanels);
}

int pd_plot_script(FILE *f, const pd_plot_csv_t *runs, int n, const char *png,
                   const pd_plot_opts_t *o, pc_err_t *err) {
  if (f == NULL || runs == NULL || n < 1 || png == NULL)
    return pc_err_set(err, PC_EINVAL, "pd_plot_script: no runs or NULL argument");
  int npanels = 0;
  long max_epoch = 0;
  for (int p = 0; p < NPANELS; p++)
    npanels += panel_lines(runs, n, p) > 0;
  if (npanels == 0)
    return pc_err_set(err, PC_EDATA, "%s: no series with a value to plot", runs[0].path);
  for (int r = 0; r < n; r++)
    max_epoch = runs[r].max_epoch > max_epoch ? runs[r].max_epoch : max_epoch;
  int w = o != NULL && o->width > 0 ? o->width : PLOT_WIDTH;
  int h = o != NULL && o->height > 0 ? o->height : PLOT_HEIGHT;
  script_head(f, png, w, h, max_epoch, npanels);
  for (int p = 0; p < NPANELS; p++)
    if (panel_lines(runs, n, p) > 0)
      panel_plot(f, runs, n, p);
  fputs("unset multiplot\nset output\n", f);
  return PC_OK;
}

/* ---- gnuplot ---------------------------------------------------------- */

int pd_plot_find_gnuplot(char *buf, size_t len, pc_err_t *err) {
  const char *path = getenv("PATH");
  if (path == NULL)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    size_t n = strcspn(path, ":");
    struct stat st;
    if (n > 0 && snprintf(buf, len, "%.*s/gnuplot", (int)n, path) < (int)len &&
        stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
      return PC_OK;
    path += n + (path[n] == ':');
  }
  if (len > 0)
    buf[0] = '\0';
  return pc_err_set(err, PC_ENOTFOUND, "gnuplot not found: apt-get install gnuplot-nox");
}

/* gnuplot's output: the last PLOT_TAIL bytes, for an error message. */
typedef struct plot_tail {
  char buf[PLOT_TAIL + 1];
  size_t len;
} plot_tail_t;

static void tail_add(plot_tail_t *t, const char *p, size_t n) {
  if (n > PLOT_TAIL) {
    p += n - PLOT_TAIL;
    n = PLOT_TAIL;
  }
  if (t->len + n > PLOT_TAIL) {
    size_t drop = t->len + n - PLOT_TAIL;
    memmove(t->buf, t->buf + drop, t->len - drop);
    t->len -= drop;
  }
  memcpy(t->buf + t->len, p, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

/* One line: newlines become "; ", the trailing ones dropped. */
static const char *tail_text(plot_tail_t *t) {
  while (t->len > 0 && (t->buf[t->len - 1] == '\n' || t->buf[t->len - 1] == ' '))
    t->buf[--t->len] = '\0';
  for (size_t i = 0; i < t->len; i++)
    if (t->buf[i] == '\n' || t->buf[i] == '\r')
      t->buf[i] = ' ';
  return t->len ? t->buf : "(no output)";
}

static int spawn_gnuplot(const char *exe, const char *script, const char *outarg, int wfd,
                         pid_t *pid, pc_err_t *err) {
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0)
    return pc_err_set(err, PC_ENOMEM, "cannot start %s: out of memory", exe);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wfd, 1);
  posix_spawn_file_actions_adddup2(&fa, wfd, 2);
  char *argv[] = {(char *)exe, (char *)"-e", (char *)outarg, (char *)script, NULL};
  int rc = posix_spawn(pid, exe, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return pc_err_set(err, PC_ESYS, "cannot start %s: %s", exe, strerror(rc));
  return PC_OK;
}

/* Read gnuplot's output until it exits or the deadline passes (then it is
 * killed): every wait here is bounded. *status is waitpid's, -1 if killed. */
static void gnuplot_wait(pid_t pid, int rfd, double timeout, plot_tail_t *t, int *status) {
  double deadline = pc_proc_now() + timeout;
  int open = 1;
  *status = -1;
  while (pc_proc_now() < deadline) {
    struct pollfd p = {.fd = rfd, .events = POLLIN};
    if (open && poll(&p, 1, 50) > 0) {
      char b[512];
      ssize_t n = read(rfd, b, sizeof b);
      if (n > 0)
        tail_add(t, b, (size_t)n);
      else if (n == 0 || errno != EINTR)
        open = 0;
    } else if (!open) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    if (!open && waitpid(pid, status, WNOHANG) == pid)
      return;
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  *status = -1;
}

static int run_gnuplot(const char *exe, const char *script, const char *tmp, double timeout,
                       pc_err_t *err) {
  char outarg[PC_AFILE_PATH_MAX + 32];
  size_t k = (size_t)snprintf(outarg, sizeof outarg, "out='");
  for (const char *s = tmp; *s && k + 4 < sizeof outarg; s++) {
    if (*s == '\'')
      outarg[k++] = '\'';
    outarg[k++] = *s;
  }
  snprintf(outarg + k, sizeof outarg - k, "'");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return pc_err_set(err, PC_ESYS, "cannot start gnuplot: pipe: %s", strerror(errno));
  pid_t pid;
  int rc = spawn_gnuplot(exe, script, outarg, fds[1], &pid, err);
  close(fds[1]);
  int status = 0;
  plot_tail_t t = {.len = 0};
  if (rc == PC_OK)
    gnuplot_wait(pid, fds[0], timeout, &t, &status);
  close(fds[0]);
  if (rc != PC_OK)
    return rc;
  if (status == -1)
    return pc_err_set(err, PC_ETIMEDOUT, "gnuplot (%s) took longer than %g s and was killed",
                      script, timeout);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return pc_err_set(err, PC_EIO, "gnuplot %s failed (%s %d): %s", script,
                      WIFEXITED(status) ? "exit status" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail_text(&t));
  struct stat st;
  if (stat(tmp, &st) != 0 || st.st_size == 0)
    return pc_err_set(err, PC_EIO, "gnuplot %s wrote no image to %s: %s", script, tmp,
                      tail_text(&t));
  return PC_OK;
}

/* ---- the chart -------------------------------------------------------- */

/* path made absolute through its directory (the file need not exist). */
static int abs_new(const char *path, char *out, size_t len, pc_err_t *err) {
  char dir[PC_AFILE_PATH_MAX], real[PATH_MAX];
  const char *slash = strrchr(path, '/');
  const char *base = slash != NULL ? slash + 1 : path;
  snprintf(dir, sizeof dir, "%.*s", slash == NULL ? 1 : slash == path ? 1 : (int)(slash - path),
           slash == NULL ? "." : path);
  if (*base == '\0')
    return pc_err_set(err, PC_EINVAL, "cannot write %s: not a file name", path);
  if (realpath(dir, real) == NULL)
    return pc_err_set(err, PC_EIO, "cannot write %s: directory %s: %s", path, dir,
                      strerror(errno));
  if (snprintf(out, len, "%s/%s", strcmp(real, "/") ? real : "", base) >= (int)len ||
      strchr(out, '\n') != NULL)
    return pc_err_set(err, PC_EINVAL, "cannot write %s: path too long or has a newline", path);
  return PC_OK;
}

static int write_script(const char *gp, const pd_plot_csv_t *runs, int n, const char *png,
                        const pd_plot_opts_t *o, pc_err_t *err) {
  pc_afile_t a;
  int rc = pc_afile_open(&a, gp, err);
  if (rc != PC_OK)
    return rc;
  rc = pd_plot_script(a.f, runs, n, png, o, err);
  if (rc == PC_OK)
    return pc_afile_commit(&a, err);
  pc_afile_abort(&a);
  return rc;
}

/* png.tmp, complete, becomes png (synced first, as pc_afile does). */
static int commit_png(const char *tmp, const char *png, pc_err_t *err) {
  int fd = open(tmp, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  if (rename(tmp, png) != 0)
    return pc_err_set(err, PC_EIO, "cannot write %s: rename from %s: %s", png, tmp,
                      strerror(errno));
  return PC_OK;
}

typedef struct plot_paths {
  char png[PC_AFILE_PATH_MAX];
  char tmp[PC_AFILE_PATH_MAX + 8];
  char gp[PC_AFILE_PATH_MAX + 8];
} plot_paths_t;

static int plot_paths(const char *png, plot_paths_t *p, pc_err_t *err) {
  struct stat st;
  if (stat(png, &st) == 0 && !S_ISREG(st.st_mode))
    return pc_err_set(err, PC_EINVAL, "cannot write %s: not a regular file", png);
  int rc = abs_new(png, p->png, sizeof p->png, err);
  if (rc != PC_OK)
    return rc;
  size_t n = strlen(p->png);
  int dotpng = n > 4 && strcmp(p->png + n - 4, ".png") == 0;
  snprintf(p->tmp, sizeof p->tmp, "%s.tmp", p->png);
  snprintf(p->gp, sizeof p->gp, "%.*s.gp", (int)(dotpng ? n - 4 : n), p->png);
  return PC_OK;
}

static int read_runs(const char *const *dirs, int n, pd_plot_csv_t *runs, pc_err_t *err) {
  for (int i = 0; i < n; i++) {
    char path[PC_AFILE_PATH_MAX + 16];
    size_t len = strlen(dirs[i]);
    while (len > 1 && dirs[i][len - 1] == '/')
      len--;
    if (snprintf(path, sizeof path, "%.*s/%s", (int)len, dirs[i], PD_PLOT_CSV) >=
        (int)sizeof path)
      return pc_err_set(err, PC_EINVAL, "%.200s: path too long", dirs[i]);
    int rc = pd_plot_csv_read(path, NULL, &runs[i], err);
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

static int plot_draw(const pd_plot_csv_t *runs, int n, const char *png,
                     const pd_plot_opts_t *o, pc_err_t *err) {
  char exe[PC_AFILE_PATH_MAX];
  plot_paths_t p = {.tmp = ""};
  int rc = plot_paths(png, &p, err);
  if (rc == PC_OK && o != NULL && o->gnuplot != NULL)
    snprintf(exe, sizeof exe, "%s", o->gnuplot);
  else if (rc == PC_OK)
    rc = pd_plot_find_gnuplot(exe, sizeof exe, err);
  if (rc == PC_OK)
    rc = write_script(p.gp, runs, n, p.png, o, err);
  double timeout = o != NULL && o->timeout > 0 ? o->timeout : PD_PLOT_TIMEOUT;
  if (rc == PC_OK)
    rc = run_gnuplot(exe, p.gp, p.tmp, timeout, err);
  if (rc == PC_OK)
    rc = commit_png(p.tmp, p.png, err);
  if (rc != PC_OK && p.tmp[0] != '\0')
    unlink(p.tmp); /* never a half image */
  return rc;
}

int pd_plot(const char *const *dirs, int n, const char *png, const pd_plot_opts_t *opts,
            pc_err_t *err) {
  if (dirs == NULL || png == NULL || n < 1 || n > PD_PLOT_RUNS_MAX)
    return pc_err_set(err, PC_EINVAL, "plot: 1 to %d run directories, got %d", PD_PLOT_RUNS_MAX,
                      n);
  for (int i = 0; i < n; i++)
    if (dirs[i] == NULL || dirs[i][0] == '\0')
      return pc_err_set(err, PC_EINVAL, "plot: run directory %d is empty", i + 1);
  pd_plot_csv_t *runs = calloc((size_t)n, sizeof *runs);
  if (runs == NULL)
    return pc_err_set(err, PC_ENOMEM, "plot: out of memory");
  int rc = read_runs(dirs, n, runs, err);
  if (rc == PC_OK)
    rc = plot_draw(runs, n, png, opts, err);
  free(runs);
  return rc;
}

int pd_plot_run(const char *run_dir, pc_err_t *err) {
  if (run_dir == NULL)
    return pc_err_set(err, PC_EINVAL, "pd_plot_run: NULL run directory");
  char png[PC_AFILE_PATH_MAX];
  size_t len = strlen(run_dir);
  while (len > 1 && run_dir[len - 1] == '/')
    len--;
  if (snprintf(png, sizeof png, "%.*s/%s", (int)len, run_dir, PD_PLOT_PNG) >= (int)sizeof png)
    return pc_err_set(err, PC_EINVAL, "%.200s: path too long", run_dir);
  return pd_plot(&run_dir, 1, png, NULL, err);
}
