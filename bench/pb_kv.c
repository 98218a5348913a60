/* Push/pull benchmarks against real server processes.
 * usage: pb_kv PARASOL_BINARY BASE_CONFIG
 * Each scenario starts `parasol scheduler` and its `parasol server`s as
 * child processes (on loopback, ephemeral ports) and drives them from
 * worker clients (pw_kv, the training loop's own client) on threads of this
 * process. Rows: dense_pushpull_gbps@SIZE (1x1), dense_pushpull_gbps_2x2@SIZE,
 * small_op_rtt_us@4KiB (+ _p99), sparse_mkeys_s, bulk_mkeys_s. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "parasol.pb-c.h"
#include "pc_config.h"
#include "pc_log.h"
#include "pc_proc.h"
#include "pw_kv.h"
#include "pw_worker.h"

extern char **environ;

#define MAX_SETS 16
#define MAX_CHILDREN 8

typedef struct scenario {
  const char *name;
  int servers, workers, inflight;
  const char *layout, *optim;
  uint64_t features;
  void (*run)(struct scenario *, pw_kv_t *, int rank);
  size_t bytes; /* dense sizes */
  double result[2]; /* per worker: the rate measured by the current rep */
} scenario_t;

typedef struct cluster {
  pid_t pids[MAX_CHILDREN];
  int npids;
  char sets[MAX_SETS][256];
  const char *argv_sets[MAX_SETS];
  int nsets;
  pc_config_t cfg;
} cluster_t;

static const char *g_bin, *g_base;
static char g_out[64]; /* this benchmark's own output.dir: runs there are locked */

static void die(const char *what) {
  fprintf(stderr, "pb_kv: %s\n", what);
  exit(1);
}

static void add_set(cluster_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_set(cluster_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->sets[c->nsets], sizeof c->sets[0], fmt, ap);
  va_end(ap);
  c->argv_sets[c->nsets] = c->sets[c->nsets];
  c->nsets++;
}

static pid_t spawn_role(cluster_t *c, const char *role, int out_fd) {
  const char *argv[4 + 2 * MAX_SETS + 2];
  int a = 0;
  argv[a++] = g_bin;
  argv[a++] = role;
  argv[a++] = g_base;
  for (int i = 0; i < c->nsets; i++) {
    argv[a++] = "--set";
    argv[a++] = c->sets[i];
  }
  if (strcmp(role, "scheduler") == 0)
    argv[a++] = "--announce";
  argv[a] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_fd >= 0)
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  pid_t pid;
  if (posix_spawn(&pid, g_bin, &fa, NULL, (char **)argv, environ) != 0)
    die("cannot start parasol");
  posix_spawn_file_actions_destroy(&fa);
  c->pids[c->npids++] = pid;
  return pid;
}

/* Start the scheduler, read its endpoint, start the servers, and load the
 * same configuration for the in-process workers. */
static void cluster_start(cluster_t *c, const scenario_t *sc) {
  add_set(c, "cluster.servers=%d", sc->servers);
  add_set(c, "cluster.workers=%d", sc->workers);
  add_set(c, "training.inflight=%d", sc->inflight);
  add_set(c, "model.layout=%s", sc->layout);
  add_set(c, "model.features=%llu", (unsigned long long)sc->features);
  add_set(c, "optimizer.type=%s", sc->optim);
  add_set(c, "output.dir=%s", g_out);
  int fds[2];
  if (pipe(fds) != 0)
    die("pipe");
  spawn_role(c, "scheduler", fds[1]);
  close(fds[1]);
  char buf[512] = "";
  size_t len = 0;
  struct pollfd p = {fds[0], POLLIN, 0};
  while (strchr(buf, '\n') == NULL && len + 1 < sizeof buf) {
    if (poll(&p, 1, 30000) != 1)
      die("scheduler did not announce its endpoint");
    ssize_t r = read(fds[0], buf + len, sizeof buf - 1 - len);
    if (r <= 0)
      die("scheduler exited before announcing");
    len += (size_t)r;
    buf[len] = '\0';
  }
  close(fds[0]);
  char ep[256];
  if (sscanf(buf, "@endpoint %255s", ep) != 1)
    die("unexpected scheduler output");
  add_set(c, "cluster.scheduler=%s", ep);
  for (int i = 0; i < sc->servers; i++)
    spawn_role(c, "server", -1);
  pc_err_t err;
  if (pc_config_load(&c->cfg, g_base, c->argv_sets, c->nsets, &err) != PC_OK)
    die(err.msg);
}

static void cluster_wait(cluster_t *c) {
  for (int i = 0; i < c->npids; i++) {
    int st;
    if (waitpid(c->pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      fprintf(stderr, "pb_kv: child %d ended badly\n", (int)c->pids[i]);
  }
}

/* Worker rank's side of the end of a run: report done, answer the
 * evaluation request (rank 0) with nothing, wait for shutdown. */
static void finish(pw_kv_t *kv, int rank) {
  pc_err_t err;
  pc_node_t *n = pw_kv_node(kv);
  Parasol__Progress p = PARASOL__PROGRESS__INIT;
  p.done = 1;
  pw_kv_wait_all(kv, &err);
  pc_node_send(n, PC_OP_PROGRESS, &p, &err);
  for (int i = 0; i < 3000; i++) {
    pc_msg_t m;
    if (pc_node_recv(n, &m, &err) != PC_OK) {
      usleep(10000);
      pc_node_tick(n, &err);
      continue;
    }
    int op = (int)m.hdr.op;
    pc_msg_close(&m);
    if (op == PC_OP_EVALUATE && rank == 0) {
      Parasol__EvalResult r = PARASOL__EVAL_RESULT__INIT;
      r.model_path = "";
      r.error = "";
      pc_node_send(n, PC_OP_EVAL_RESULT, &r, &err);
    }
    if (op == PC_OP_SHUTDOWN)
      return;
  }
}

typedef struct wthread {
  scenario_t *sc;
  cluster_t *c;
  pthread_barrier_t *bar;
  int rank;
} wthread_t;

static void *worker_main(void *arg) {
  wthread_t *t = arg;
  pw_kv_t *kv = NULL;
  pc_err_t err;
  pc_table_t tables[PC_TABLE_MAX];
  size_t nt = 0;
  if (pw_worker_config_tables(&t->c->cfg, tables, &nt, &err) != PC_OK)
    die(err.msg);
  if (pw_kv_open(&kv, &t->c->cfg, t->rank, tables, nt, &err) != PC_OK)
    die(err.msg);
  if (pc_node_barrier(pw_kv_node(kv), 1, &err) != PC_OK)
    die(err.msg);
  t->sc->run(t->sc, kv, t->rank);
  finish(kv, t->rank);
  pw_kv_close(&kv);
  return NULL;
}

static pthread_barrier_t g_rep_bar;

/* Rank 0 prints the sum over workers once every worker has a figure. */
static void report(scenario_t *sc, int rank, double v, const char *name, const char *unit) {
  sc->result[rank] = v;
  pthread_barrier_wait(&g_rep_bar);
  if (rank == 0)
    bench_row(name, sc->workers > 1 ? sc->result[0] + sc->result[1] : v, unit);
  pthread_barrier_wait(&g_rep_bar);
}

/* BENCH_ONLY=substring runs only the scenarios whose row name contains it
 * (for profiling one path). */
static int selected(const scenario_t *sc) {
  const char *only = getenv("BENCH_ONLY");
  char name[96];
  char sz[32];
  snprintf(name, sizeof name, "%s@%s", sc->name, bench_size_name(sc->bytes, sz, sizeof sz));
  return only == NULL || strstr(name, only) != NULL;
}

static void run_scenario(scenario_t *sc) {
  if (!selected(sc))
    return;
  cluster_t c = {0};
  cluster_start(&c, sc);
  pthread_barrier_init(&g_rep_bar, NULL, (unsigned)sc->workers);
  pthread_t th[2];
  wthread_t wt[2];
  for (int r = 0; r < sc->workers; r++) {
    wt[r] = (wthread_t){sc, &c, NULL, r};
    pthread_create(&th[r], NULL, worker_main, &wt[r]);
  }
  for (int r = 0; r < sc->workers; r++)
    pthread_join(th[r], NULL);
  pthread_barrier_destroy(&g_rep_bar);
  cluster_wait(&c);
}

static float *prefaulted(size_t n) {
  float *p = malloc(n * sizeof *p);
  if (p == NULL)
    die("out of memory");
  for (size_t i = 0; i < n; i++)
    p[i] = 1e-3f;
  return p;
}

static void check(int rc, const pc_err_t *err) {
  if (rc != PC_OK)
    die(err->msg);
}

/* One training-like step on a dense block: push gradients, pull weights. */
/* One step of a dense model's trainer: push the gradient block without a
 * copy, pull the weights. The gradient buffer is free again once the push
 * ticket is done (here g never changes, so the tickets are left to the
 * client's request ring and wait_all). */
static void dense_step(pw_kv_t *kv, size_t n, const float *g, float *w) {
  pc_err_t err;
  uint64_t t, pt;
  check(pw_kv_push_range_nocopy(kv, 0, n, g, &pt, &err), &err);
  check(pw_kv_pull_range(kv, 0, n, w, &t, &err), &err);
  check(pw_kv_wait(kv, t, &err), &err);
}

static double min_seconds(void) { return bench_quick() ? 0.15 : 0.3; }

/* Dense push+pull throughput with two steps in flight, as a worker that
 * prefetches (training.prefetch) runs: step i's push and pull go out
 * before step i-1's pull is waited for. training.inflight is 8 here: a
 * 64 MiB block is 16 chunks each way, and 8 outstanding 4 MiB chunks
 * (32 MiB) keep the server busy (4 left it waiting: 1.9 vs 2.3 GB/s). */
static void run_dense(scenario_t *sc, pw_kv_t *kv, int rank) {
  size_t n = sc->bytes / sizeof(float);
  float *g = prefaulted(n), *w[2] = {prefaulted(n), prefaulted(n)};
  char sz[32], name[96];
  bench_size_name(sc->bytes, sz, sizeof sz);
  snprintf(name, sizeof name, "%s@%s", sc->name, sz);
  for (int i = 0; i < 2; i++)
    dense_step(kv, n, g, w[0]); /* warm the pools and the server's arrays */
  pc_err_t err;
  for (int rep = 0; rep < bench_reps(); rep++) {
    double t0 = bench_now(), el = 0;
    uint64_t t[2] = {0, 0};
    long it = 0;
    while ((it < 3 || el < min_seconds()) && it < 100000) {
      uint64_t pt;
      check(pw_kv_push_range_nocopy(kv, 0, n, g, &pt, &err), &err);
      check(pw_kv_pull_range(kv, 0, n, w[it & 1], &t[it & 1], &err), &err);
      if (it > 0)
        check(pw_kv_wait(kv, t[(it - 1) & 1], &err), &err);
      it++;
      el = bench_now() - t0;
    }
    check(pw_kv_wait_all(kv, &err), &err);
    el = bench_now() - t0;
    report(sc, rank, 2.0 * (double)sc->bytes * (double)it / el / 1e9, name, "GB/s");
  }
  free(g);
  free(w[0]);
  free(w[1]);
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void run_small(scenario_t *sc, pw_kv_t *kv, int rank) {
  size_t n = 1024, samples = bench_quick() ? 1000 : 3000;
  float *g = prefaulted(n), *w = prefaulted(n);
  double *lat = malloc(samples * sizeof *lat);
  for (int i = 0; i < 200; i++)
    dense_step(kv, n, g, w);
  for (int rep = 0; rep < bench_reps(); rep++) {
    for (size_t i = 0; i < samples; i++) {
      double t0 = bench_now();
      dense_step(kv, n, g, w);
      lat[i] = (bench_now() - t0) * 1e6;
    }
    qsort(lat, samples, sizeof *lat, cmp_dbl);
    report(sc, rank, lat[samples / 2], "small_op_rtt_us@4KiB", "us");
    report(sc, rank, lat[samples * 99 / 100], "small_op_rtt_p99_us@4KiB", "us");
  }
  free(lat);
  free(g);
  free(w);
}

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* keys[i] random in [0, space): distinct per request is not required. */
static uint64_t *random_keys(size_t n, uint64_t space, uint64_t seed) {
  uint64_t *k = malloc(n * sizeof *k), s = seed | 1;
  if (k == NULL)
    die("out of memory");
  for (size_t i = 0; i < n; i++)
    k[i] = xorshift(&s) % space;
  return k;
}

/* 100-key requests from a 100M-key space, alternating push and pull, with
 * up to training.inflight (32) requests outstanding. */
static void run_sparse(scenario_t *sc, pw_kv_t *kv, int rank) {
  enum { K = 100, RING = 32, NREQ = 4096 };
  uint64_t *keys = random_keys((size_t)NREQ * K, sc->features, 77 + (uint64_t)rank);
  float *g = prefaulted(K), *out = prefaulted((size_t)RING * K);
  uint64_t tickets[RING] = {0};
  pc_err_t err;
  for (int rep = 0; rep < bench_reps(); rep++) {
    double t0 = bench_now(), el = 0;
    long i = 0;
    for (; el < min_seconds() || i < 1000; i++) {
      int slot = (int)(i % RING);
      if (tickets[slot])
        check(pw_kv_wait(kv, tickets[slot], &err), &err);
      tickets[slot] = 0;
      const uint64_t *kk = keys + (size_t)(i % NREQ) * K;
      if (i & 1)
        check(pw_kv_pull(kv, kk, K, out + (size_t)slot * K, &tickets[slot], &err), &err);
      else
        check(pw_kv_push(kv, kk, K, g, &err), &err);
      if ((i & 255) == 0)
        el = bench_now() - t0;
    }
    check(pw_kv_wait_all(kv, &err), &err);
    el = bench_now() - t0;
    report(sc, rank, (double)i * K / el / 1e6, "sparse_mkeys_s", "Mkeys/s");
  }
  pw_kv_stats_t st;
  pw_kv_stats(kv, &st);
  fprintf(stderr, "pb_kv: sparse: %llu requests in %llu messages (%llu batches of %llu)\n",
          (unsigned long long)(st.pulls + st.pushes), (unsigned long long)st.messages,
          (unsigned long long)st.batches, (unsigned long long)st.batched);
  free(keys);
  free(g);
  free(out);
}

/* Requests of 1M random keys, one value each: push then pull. */
static void run_bulk(scenario_t *sc, pw_kv_t *kv, int rank) {
  size_t n = 1u << 20;
  uint64_t *keys = random_keys(n, sc->features, 99 + (uint64_t)rank);
  float *g = prefaulted(n), *w = prefaulted(n);
  pc_err_t err;
  for (int rep = 0; rep < bench_reps(); rep++) {
    double t0 = bench_now(), el = 0;
    long it = 0;
    while (it < 2 || el < min_seconds()) {
      uint64_t t;
      check(pw_kv_push(kv, keys, n, g, &err), &err);
      check(pw_kv_pull(kv, keys, n, w, &t, &err), &err);
      check(pw_kv_wait(kv, t, &err), &err);
      it++;
      el = bench_now() - t0;
    }
    report(sc, rank, 2.0 * (double)n * (double)it / el / 1e6, "bulk_mkeys_s", "Mkeys/s");
  }
  free(keys);
  free(g);
  free(w);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: pb_kv PARASOL_BINARY BASE_CONFIG\n");
    return 2;
  }
  pc_proc_tune_malloc(argv); /* the workers receive through malloc'd buffers too */
  g_bin = argv[1];
  g_base = argv[2];
  char pid[32];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  setenv("PARASOL_PARENT_PID", pid, 1); /* children die with this process */
  signal(SIGPIPE, SIG_IGN);
  pc_log_init("bench", -1);
  snprintf(g_out, sizeof g_out, "/tmp/parasol-pb_kv-XXXXXX");
  if (mkdtemp(g_out) == NULL)
    die("mkdtemp");
  static const size_t sizes[] = {4u << 10, 64u << 10, 4u << 20, 64u << 20};
  for (int shape = 0; shape < 2; shape++)
    for (size_t i = 0; i < 4; i++) {
      int k = shape ? 2 : 1;
      scenario_t sc = {shape ? "dense_pushpull_gbps_2x2" : "dense_pushpull_gbps", k, k, 8,
                       "dense", "sgd", sizes[i] / sizeof(float), run_dense, sizes[i], {0}};
      run_scenario(&sc);
    }
  scenario_t small = {"small", 1, 1, 4, "dense", "sgd", 1024, run_small, 4096, {0}};
  run_scenario(&small);
  scenario_t sparse = {"sparse", 1, 1, 32, "sparse", "adagrad", 100000000, run_sparse, 0, {0}};
  run_scenario(&sparse);
  scenario_t bulk = {"bulk", 1, 1, 4, "sparse", "adagrad", 100000000, run_bulk, 0, {0}};
  run_scenario(&bulk);
  char rm[96];
  snprintf(rm, sizeof rm, "rm -rf '%s'", g_out);
  return system(rm) == 0 ? 0 : 1;
}
