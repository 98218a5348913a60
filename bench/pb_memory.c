/* pb_memory: how much memory the server store holds per key.
 *
 * Rows, once per repetition:
 *   bytes_per_key_sgd, bytes_per_key_adagrad   ps_store_stats().bytes / keys
 *   bytes_per_key_adagrad_rss                  resident-set growth / keys: the
 *                                              honest figure, with table slack
 *                                              and allocator overhead
 *   server_peak_rss_mib@<N>Mkeys               raw peak RSS (VmHWM) of a process
 *                                              holding an N-key AdaGrad store
 *   server_store_mib@<N>Mkeys                  the same store's own count
 *   dense_bytes_ratio                          RSS growth of a 16M-key AdaGrad
 *                                              dense range / (16M * 8 bytes)
 *
 * Each configuration is measured in its own forked child: freed memory
 * need not return to the OS, and VmHWM never goes down, so only a fresh
 * process gives clean baselines. The child sends its figures back through
 * a pipe.
 *
 * The sparse figures depend on the key count, not just the layout: the
 * table's load factor moves between a growth step and the next (see
 * ps_store.c for the current rule), so the full run (10M keys) and the
 * quick run (2M) need not agree. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "pc_hash.h"
#include "ps_store.h"

#define MEM_KEYS_FULL 10000000u
#define MEM_KEYS_QUICK 2000000u
/* The peak row keeps 10M keys even in quick runs: one 10M AdaGrad fill
 * took 0.8-1.5 s here (well under the 10 s allowed for it), and a fixed
 * size keeps the row comparable across full and quick runs. */
#define MEM_PEAK_KEYS 10000000u
#define MEM_DENSE_KEYS ((uint64_t)16 << 20)
#define MEM_BATCH 65536u /* keys per push: a large server request */
#define MEM_KEY_BASE 0x6a09e667f3bcc908ULL /* offset into the key bijection */
#define MIB (1024.0 * 1024.0)

typedef struct mem_case {
  pc_optim_type_t type;
  uint64_t keys;
  int dense; /* 1: one dense range [0, keys) pushed in full; 0: random sparse keys */
} mem_case_t;

/* What a child measured; plain doubles so the pipe carries the struct as is
 * (parent and child are the same binary). */
typedef struct mem_result {
  double keys;        /* keys stored, from the store's stats */
  double store_bytes; /* ps_store_stats().bytes */
  double rss_growth;  /* resident bytes after filling minus before creating */
  double peak_rss;    /* VmHWM of the child, bytes */
  double seconds;     /* time to fill */
} mem_result_t;

/* ---- /proc --------------------------------------------------------------- */

/* Resident set size now, in bytes (second field of /proc/self/statm). */
static int proc_rss(uint64_t *out) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL)
    return -1;
  unsigned long long size, resident;
  int n = fscanf(f, "%llu %llu", &size, &resident);
  fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  if (n != 2 || page <= 0)
    return -1;
  *out = (uint64_t)resident * (uint64_t)page;
  return 0;
}

/* Peak resident set size of this process, in bytes (VmHWM). */
static int proc_hwm(uint64_t *out) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return -1;
  char line[256];
  int rc = -1;
  unsigned long long kib;
  while (fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, "VmHWM: %llu kB", &kib) == 1) {
      *out = (uint64_t)kib * 1024;
      rc = 0;
      break;
    }
  }
  fclose(f);
  return rc;
}

/* ---- filling a store -------------------------------------------------------- */

static void optim_for(ps_optim_t *o, pc_optim_type_t type) {
  memset(o, 0, sizeof *o);
  o->type = type;
  o->lr = 0.1f;
  o->l2 = 0.0f;
  o->eps = 1e-8f;
  o->init_accum = 0.0f;
}

/* Small finite gradients of both signs; the values do not affect memory. */
static void fill_grads(float *grads, size_t n) {
  for (size_t i = 0; i < n; i++)
    grads[i] = 0.01f * (float)((int)(i % 7) - 3);
}

/* Push n pseudo-random keys of table 0 (below 2^56). pc_hash_u64 is a
 * bijection; cut to 56 bits a few keys in 10M may repeat (about 1 in 1e9
 * pairs), which only lowers the count: the divisor is the store's own key
 * count. */
static int fill_sparse(ps_store_t *s, uint64_t n, uint64_t *keys, const float *grads,
                       pc_err_t *err) {
  for (uint64_t done = 0; done < n;) {
    size_t m = 0;
    for (; m < MEM_BATCH && done < n; done++) {
      keys[m++] = pc_hash_u64(MEM_KEY_BASE + done) & PC_TABLE_LOCAL_MASK;
    }
    int rc = ps_store_push(s, keys, grads, m, err);
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

/* Push every key of the dense range [0, n) once. */
static int fill_dense(ps_store_t *s, uint64_t n, uint64_t *keys, const float *grads,
                      pc_err_t *err) {
  for (uint64_t base = 0; base < n; base += MEM_BATCH) {
    size_t m = n - base < MEM_BATCH ? (size_t)(n - base) : MEM_BATCH;
    for (size_t i = 0; i < m; i++)
      keys[i] = base + i;
    int rc = ps_store_push(s, keys, grads, m, err);
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

/* Create, fill and measure one store. The batch buffers exist (and are
 * touched) before the baseline is read, so only the store's memory counts. */
static int run_case(const mem_case_t *c, uint64_t *keys, const float *grads, mem_result_t *res,
                    pc_err_t *err) {
  ps_optim_t optim;
  optim_for(&optim, c->type);
  ps_store_range_t range = {0, c->keys};
  /* The logistic model's one table of width 1, zeros init. */
  const pc_table_t w = {.name = "w", .id = 0, .kind = c->dense ? PC_TABLE_DENSE : PC_TABLE_SPARSE,
                        .size = c->dense ? c->keys : UINT64_C(1) << PC_TABLE_SHIFT, .width = 1,
                        .init = PC_INIT_ZEROS, .optimize = 1};
  uint64_t before = 0, after = 0, hwm = 0;
  if (proc_rss(&before) != 0)
    return pc_err_set(err, PC_ESYS, "reading /proc/self/statm failed");
  ps_store_t *s = NULL;
  int rc = ps_store_new(&s, &optim, 1, &w, 1, c->dense ? &range : NULL, c->dense ? 1 : 0, err);
  if (rc != PC_OK)
    return rc;
  double t0 = bench_now();
  rc = c->dense ? fill_dense(s, c->keys, keys, grads, err)
                : fill_sparse(s, c->keys, keys, grads, err);
  res->seconds = bench_now() - t0;
  if (rc == PC_OK && (proc_rss(&after) != 0 || proc_hwm(&hwm) != 0))
    rc = pc_err_set(err, PC_ESYS, "reading /proc/self/statm or status failed");
  if (rc == PC_OK) {
    ps_store_stats_t st;
    ps_store_stats(s, &st);
    res->keys = (double)(c->dense ? st.dense_keys : st.sparse_keys);
    res->store_bytes = (double)st.bytes;
    res->rss_growth = after >= before ? (double)(after - before) : 0.0;
    res->peak_rss = (double)hwm;
  }
  ps_store_destroy(&s);
  return rc;
}

/* ---- one child per case ------------------------------------------------------ */

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Returns bytes read: less than len only at EOF. -1 on error. */
static ssize_t read_all(int fd, void *buf, size_t len) {
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, p + got, len - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0)
      break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

/* In the child: measure, send the result, never return. */
static _Noreturn void child_main(const mem_case_t *c, int fd) {
  pc_err_t err = {0};
  mem_result_t res = {0};
  uint64_t *keys = malloc(MEM_BATCH * sizeof *keys);
  float *grads = malloc(MEM_BATCH * sizeof *grads);
  int rc = PC_ENOMEM;
  if (keys != NULL && grads != NULL) {
    bench_prefault(keys, MEM_BATCH * sizeof *keys);
    fill_grads(grads, MEM_BATCH);
    rc = run_case(c, keys, grads, &res, &err);
  }
  if (rc != PC_OK)
    fprintf(stderr, "pb_memory: %s\n", err.msg[0] ? err.msg : parasol_strerror(rc));
  else if (write_all(fd, &res, sizeof res) != 0)
    rc = PC_EIO;
  /* _exit: skip atexit handlers and stdio flushes that belong to the parent. */
  _exit(rc == PC_OK ? 0 : 1);
}

/* Run c in a fresh child process and collect its figures. */
static int measure(const mem_case_t *c, mem_result_t *res) {
  int fds[2];
  if (pipe(fds) != 0) {
    fprintf(stderr, "pb_memory: pipe: %s\n", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "pb_memory: fork: %s\n", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    child_main(c, fds[1]);
  }
  close(fds[1]);
  ssize_t got = read_all(fds[0], res, sizeof *res);
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "pb_memory: waitpid: %s\n", strerror(errno));
      return -1;
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof *res) {
    fprintf(stderr, "pb_memory: measuring %" PRIu64 " %s %s keys failed (child %s %d)\n",
            c->keys, c->dense ? "dense" : "sparse", pc_config_optim_name(c->type),
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return -1;
  }
  return 0;
}

/* ---- rows ------------------------------------------------------------------- */

static double per_key(double bytes, double keys) { return keys > 0 ? bytes / keys : 0.0; }

/* The sparse rows of one repetition. */
static int sparse_rows(uint64_t n) {
  mem_case_t sgd = {PC_OPTIM_SGD, n, 0}, ada = {PC_OPTIM_ADAGRAD, n, 0};
  mem_result_t rs, ra;
  if (measure(&sgd, &rs) != 0 || measure(&ada, &ra) != 0)
    return -1;
  bench_row("bytes_per_key_sgd", per_key(rs.store_bytes, rs.keys), "B/key");
  bench_row("bytes_per_key_adagrad", per_key(ra.store_bytes, ra.keys), "B/key");
  bench_row("bytes_per_key_adagrad_rss", per_key(ra.rss_growth, ra.keys), "B/key");
  /* A full run's AdaGrad store already has the peak row's size: reuse it. */
  mem_result_t rp = ra;
  mem_case_t peak = {PC_OPTIM_ADAGRAD, MEM_PEAK_KEYS, 0};
  if (n != MEM_PEAK_KEYS && measure(&peak, &rp) != 0)
    return -1;
  char name[64];
  snprintf(name, sizeof name, "server_peak_rss_mib@%uMkeys", MEM_PEAK_KEYS / 1000000u);
  bench_row(name, rp.peak_rss / MIB, "MiB");
  snprintf(name, sizeof name, "server_store_mib@%uMkeys", MEM_PEAK_KEYS / 1000000u);
  bench_row(name, rp.store_bytes / MIB, "MiB");
  return 0;
}

static int dense_rows(void) {
  mem_case_t c = {PC_OPTIM_ADAGRAD, MEM_DENSE_KEYS, 1};
  mem_result_t r;
  if (measure(&c, &r) != 0)
    return -1;
  /* Weight + AdaGrad state: two floats per key. */
  double ideal = (double)MEM_DENSE_KEYS * 2 * sizeof(float);
  bench_row("dense_bytes_ratio", r.rss_growth / ideal, "ratio");
  return 0;
}

int main(void) {
  uint64_t n = bench_quick() ? MEM_KEYS_QUICK : MEM_KEYS_FULL;
  int reps = bench_reps();
  for (int rep = 0; rep < reps; rep++) {
    if (sparse_rows(n) != 0 || dense_rows() != 0)
      return 1;
  }
  return 0;
}
