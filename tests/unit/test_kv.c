/* The worker's key/value client against a real in-process cluster: a
 * scheduler and two servers in threads, talking over ipc and tcp. SGD with
 * lr 1 and no L2 makes every weight the negated sum of its gradients, so
 * each pull has an exact expected value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "parasol.pb-c.h"
#include "pc_config.h"
#include "ps_scheduler.h"
#include "ps_server.h"
#include "pw_kv.h"
#include "pw_worker.h"

#define NSERVERS 2
#define FEATURES 10000

typedef struct cluster {
  pc_config_t cfg;
  char dir[64];
  pthread_t sched, servers[NSERVERS];
  int sched_rc, server_rc[NSERVERS];
  pw_kv_t *kv;
} cluster_t;

static void *run_sched(void *arg) {
  cluster_t *c = arg;
  pc_err_t err;
  ps_scheduler_opts_t o = {0};
  c->sched_rc = ps_scheduler_run(&c->cfg, &o, &err);
  return NULL;
}

static void *run_server(void *arg) {
  cluster_t *c = arg;
  pc_err_t err;
  static int next;
  int me = __atomic_fetch_add(&next, 1, __ATOMIC_SEQ_CST) % NSERVERS;
  c->server_rc[me] = ps_server_run(&c->cfg, me, &err);
  return NULL;
}

static uint64_t g_features = FEATURES; /* model.features of the next cluster */
static const pc_table_t *g_tables;     /* the next cluster's tables; NULL: logistic's */
static size_t g_ntables;

/* A scheduler and NSERVERS servers in threads, in a fresh directory,
 * waiting for `workers` workers for up to `timeout` s. */
static cluster_t *cluster_boot(int workers, double timeout, void (*tune)(pc_config_t *, void *),
                               void *arg) {
  cluster_t *c = calloc(1, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "/tmp/parasol-kv-XXXXXX");
  assert_non_null(mkdtemp(c->dir));
  pc_config_defaults(&c->cfg);
  snprintf(c->cfg.cluster.scheduler, sizeof c->cfg.cluster.scheduler, "ipc://%s/sched", c->dir);
  snprintf(c->cfg.output.dir, sizeof c->cfg.output.dir, "%s", c->dir);
  c->cfg.cluster.servers = NSERVERS;
  c->cfg.cluster.workers = workers;
  c->cfg.cluster.register_timeout = timeout;
  if (tune)
    tune(&c->cfg, arg);
  assert_int_equal(pthread_create(&c->sched, NULL, run_sched, c), 0);
  for (int i = 0; i < NSERVERS; i++)
    assert_int_equal(pthread_create(&c->servers[i], NULL, run_server, c), 0);
  return c;
}

typedef struct kv_tune {
  pc_layout_t layout;
  int inflight;
} kv_tune_t;

static void tune_kv(pc_config_t *cfg, void *arg) {
  const kv_tune_t *t = arg;
  cfg->model.features = g_features;
  cfg->model.layout = t->layout;
  cfg->optimizer.type = PC_OPTIM_SGD;
  cfg->optimizer.lr = 1;
  cfg->optimizer.l2 = 0;
  cfg->training.inflight = t->inflight;
}

static cluster_t *cluster_start(pc_layout_t layout, int inflight) {
  kv_tune_t t = {layout, inflight};
  cluster_t *c = cluster_boot(1, 10, tune_kv, &t);
  pc_err_t err = {0};
  pc_table_t tables[PC_TABLE_MAX];
  size_t nt = 0;
  if (g_tables) {
    memcpy(tables, g_tables, g_ntables * sizeof *tables);
    nt = g_ntables;
  } else if (pw_worker_config_tables(&c->cfg, tables, &nt, &err) != PC_OK) {
    fail_msg("pw_worker_config_tables: %s", err.msg);
  }
  if (pw_kv_open(&c->kv, &c->cfg, 0, tables, nt, &err) != PC_OK)
    fail_msg("pw_kv_open: %s", err.msg);
  return c;
}

/* Play worker 0's part of the end of a run, then join everything. */
static void cluster_stop(cluster_t *c) {
  pc_err_t err = {0};
  pc_node_t *n = pw_kv_node(c->kv);
  Parasol__Progress p = PARASOL__PROGRESS__INIT;
  p.done = 1;
  assert_int_equal(pc_node_send(n, PC_OP_PROGRESS, &p, &err), PC_OK);
  for (int i = 0; i < 400; i++) {
    pc_msg_t m;
    int rc = pc_node_recv(n, &m, &err);
    if (rc == PC_ENOTFOUND) {
      usleep(10000);
      continue;
    }
    int op = (int)m.hdr.op;
    pc_msg_close(&m);
    if (op == PC_OP_EVALUATE) {
      Parasol__EvalResult r = PARASOL__EVAL_RESULT__INIT;
      r.model_path = "";
      r.error = "";
      assert_int_equal(pc_node_send(n, PC_OP_EVAL_RESULT, &r, &err), PC_OK);
    }
    if (op == PC_OP_SHUTDOWN)
      break;
  }
  pw_kv_close(&c->kv);
  pthread_join(c->sched, NULL);
  for (int i = 0; i < NSERVERS; i++)
    pthread_join(c->servers[i], NULL);
  assert_int_equal(c->sched_rc, PC_OK);
  for (int i = 0; i < NSERVERS; i++)
    assert_int_equal(c->server_rc[i], PC_OK);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
  assert_int_equal(system(cmd), 0);
  free(c);
}

static void pull_now(cluster_t *c, const uint64_t *keys, size_t n, float *out) {
  pc_err_t err = {0};
  uint64_t t;
  if (pw_kv_pull(c->kv, keys, n, out, &t, &err) != PC_OK || pw_kv_wait(c->kv, t, &err) != PC_OK)
    fail_msg("pull: %s", err.msg);
}

static void range_now(cluster_t *c, uint64_t b, uint64_t e, float *out) {
  pc_err_t err = {0};
  uint64_t t;
  if (pw_kv_pull_range(c->kv, b, e, out, &t, &err) != PC_OK || pw_kv_wait(c->kv, t, &err) != PC_OK)
    fail_msg("pull_range: %s", err.msg);
}

/* Sparse keys spread over both servers: pull after push gives -sum(g). */
static void test_sparse_push_pull(void **state) {
  (void)state;
  g_features = UINT64_C(1) << 33; /* hashed keys up to 5e9 */
  cluster_t *c = cluster_start(PC_LAYOUT_SPARSE, 4);
  g_features = FEATURES;
  enum { N = 3000 };
  uint64_t *keys = malloc(N * sizeof *keys);
  float *g = malloc(N * sizeof *g), *out = malloc(N * sizeof *out);
  for (size_t i = 0; i < N; i++) {
    keys[i] = (i * 2654435761u) % 5000000u; /* unique: multiplier is odd */
    g[i] = (float)i * 0.001f - 1.0f;
  }
  pc_err_t err = {0};
  for (int round = 0; round < 3; round++)
    assert_int_equal(pw_kv_push(c->kv, keys, N, g, &err), PC_OK);
  pull_now(c, keys, N, out);
  for (size_t i = 0; i < N; i++)
    assert_float_equal(out[i], -3.0f * g[i], 1e-5);
  /* A key never pushed reads 0. */
  uint64_t fresh = 4999999999ULL;
  pull_now(c, &fresh, 1, out);
  assert_float_equal(out[0], 0.0f, 0);
  pw_kv_stats_t st;
  pw_kv_stats(c->kv, &st);
  assert_true(st.max_inflight <= 4 && st.max_inflight >= 2);
  free(keys);
  free(g);
  free(out);
  cluster_stop(c);
}

/* Dense layout: blocks across the server boundary up to the table's end,
 * and sparse and range requests alternating so request slots are reused
 * both ways. */
static void test_ranges_and_mixed(void **state) {
  (void)state;
  /* inflight 4 gives 5 request slots: with two requests per round, every
   * slot is used by sparse and range requests in turn. */
  cluster_t *c = cluster_start(PC_LAYOUT_DENSE, 4);
  enum { B = 4990, E = FEATURES + 1 }; /* crosses 5000/5001, ends at the table's end */
  float *g = malloc((E - B) * sizeof *g), *out = malloc((E - B) * sizeof *out);
  for (size_t i = 0; i < E - B; i++)
    g[i] = 0.5f + (float)i;
  pc_err_t err = {0};
  assert_int_equal(pw_kv_push_range(c->kv, B, E, g, &err), PC_OK);
  for (int round = 0; round < 4; round++) {
    memset(out, 0, (E - B) * sizeof *out);
    range_now(c, B, E, out);
    for (size_t i = 0; i < E - B; i++)
      assert_float_equal(out[i], -g[i], 1e-3);
    uint64_t keys[3] = {B + 7, E - 1, 1};
    float v[3];
    pull_now(c, keys, 3, v);
    assert_float_equal(v[0], -g[7], 1e-3);
    assert_float_equal(v[1], -g[E - 1 - B], 1e-3);
    assert_float_equal(v[2], 0.0f, 0);
  }
  free(g);
  free(out);
  cluster_stop(c);
}

/* Many pulls outstanding at once, waited for out of order. */
static void test_async_tickets(void **state) {
  (void)state;
  cluster_t *c = cluster_start(PC_LAYOUT_SPARSE, 8);
  enum { R = 6, K = 50 };
  uint64_t keys[R][K];
  float g[K], out[R][K];
  for (int k = 0; k < K; k++)
    g[k] = (float)(k + 1);
  pc_err_t err = {0};
  for (int r = 0; r < R; r++) {
    for (int k = 0; k < K; k++)
      keys[r][k] = (uint64_t)(r * 1000 + k);
    assert_int_equal(pw_kv_push(c->kv, keys[r], K, g, &err), PC_OK);
  }
  uint64_t t[R];
  for (int r = 0; r < R; r++)
    assert_int_equal(pw_kv_pull(c->kv, keys[r], K, out[r], &t[r], &err), PC_OK);
  for (int r = R - 1; r >= 0; r--) {
    assert_int_equal(pw_kv_wait(c->kv, t[r], &err), PC_OK);
    for (int k = 0; k < K; k++)
      assert_float_equal(out[r][k], -g[k], 1e-6);
  }
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  cluster_stop(c);
}

/* A NaN gradient is refused by the server, counted, and changes nothing;
 * the client carries on. */
static void test_nan_rejected(void **state) {
  (void)state;
  cluster_t *c = cluster_start(PC_LAYOUT_SPARSE, 2);
  uint64_t keys[2] = {11, 12};
  float good[2] = {1, 2}, bad[2] = {3, NAN}, out[2];
  pc_err_t err = {0};
  assert_int_equal(pw_kv_push(c->kv, keys, 2, good, &err), PC_OK);
  assert_int_equal(pw_kv_push(c->kv, keys, 2, bad, &err), PC_OK);
  pull_now(c, keys, 2, out);
  assert_float_equal(out[0], -1.0f, 0);
  assert_float_equal(out[1], -2.0f, 0);
  pw_kv_stats_t st;
  pw_kv_stats(c->kv, &st);
  assert_true(st.rejected >= 1);
  cluster_stop(c);
}

/* Small requests queue while the servers are busy and go out in BATCH
 * messages: every pull still sees exactly the pushes made before it (order
 * kept per server), a NaN push inside a batch is refused alone (the other
 * requests of its batch apply), and tickets
 * are waited for out of order. Keys overlap heavily across requests. */
static void test_small_requests_batched(void **state) {
  (void)state;
  g_features = 1u << 20; /* keys up to 64 x 7919 */
  cluster_t *c = cluster_start(PC_LAYOUT_SPARSE, 8);
  g_features = FEATURES;
  enum { POOL = 64, K = 12, ROUNDS = 300, RING = 5 };
  double model[POOL] = {0};
  uint64_t tk[RING] = {0}, keys[RING][K];
  float out[RING][K], want[RING][K], g[K];
  uint64_t s = 12345;
  pc_err_t err = {0};
  for (int r = 0; r < ROUNDS; r++) {
    int slot = r % RING;
    if (tk[slot]) {
      assert_int_equal(pw_kv_wait(c->kv, tk[slot], &err), PC_OK);
      for (int k = 0; k < K; k++)
        assert_float_equal(out[slot][k], want[slot][k], 1e-3);
    }
    int ids[K];
    for (int k = 0; k < K; k++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      ids[k] = (int)((s >> 33) % POOL);
      keys[slot][k] = (uint64_t)ids[k] * 7919u;
      g[k] = (float)((int)((s >> 20) % 7) - 3) * 0.25f;
    }
    for (int k = 0; k < K && r % 50 == 7; k++)
      g[k] = NAN; /* refused by every server it reaches; nothing changes */
    assert_int_equal(pw_kv_push(c->kv, keys[slot], K, g, &err), PC_OK);
    for (int k = 0; k < K && r % 50 != 7; k++)
      model[ids[k]] -= g[k];
    for (int k = 0; k < K; k++)
      want[slot][k] = (float)model[ids[k]];
    assert_int_equal(pw_kv_pull(c->kv, keys[slot], K, out[slot], &tk[slot], &err), PC_OK);
  }
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  for (int slot = 0; slot < RING; slot++)
    for (int k = 0; k < K; k++)
      assert_float_equal(out[slot][k], want[slot][k], 1e-3);
  pw_kv_stats_t st;
  pw_kv_stats(c->kv, &st);
  assert_true(st.rejected >= ROUNDS / 50);
  assert_true(st.batches > 0);
  assert_true(st.batched > st.batches); /* several requests per batch */
  assert_true(st.messages < 2 * NSERVERS * ROUNDS);
  cluster_stop(c);
}

/* A dense block pushed without a copy (ZeroMQ reads the caller's buffer):
 * blocks above the zero-copy size on both servers, up to the table's last
 * key (the bias); once the ticket is done the buffer is the caller's
 * again, and later writes to it change nothing on the servers. */
static void test_push_range_nocopy(void **state) {
  (void)state;
  g_features = 100000; /* two dense ranges of 50 000 keys: 200 KB blocks */
  cluster_t *c = cluster_start(PC_LAYOUT_DENSE, 4);
  g_features = FEATURES;
  enum { B = 10, E = 100000 + 1 }; /* through the bias key */
  size_t n = E - B;
  float *g = malloc(n * sizeof *g), *out = malloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++)
    g[i] = 0.25f * (float)(i % 1000);
  pc_err_t err = {0};
  for (int round = 0; round < 3; round++) {
    uint64_t t = 0;
    assert_int_equal(pw_kv_push_range_nocopy(c->kv, B, E, g, &t, &err), PC_OK);
    assert_true(t != 0);
    assert_int_equal(pw_kv_wait(c->kv, t, &err), PC_OK);
  }
  for (size_t i = 0; i < n; i++)
    g[i] = 1e6f; /* the buffer is ours again */
  range_now(c, B, E, out);
  for (size_t i = 0; i < n; i++)
    assert_float_equal(out[i], -0.75f * (float)(i % 1000), 1e-2);
  /* Pushes left in flight are waited for by wait_all. */
  for (size_t i = 0; i < n; i++)
    g[i] = 1.0f;
  uint64_t t1, t2;
  assert_int_equal(pw_kv_push_range_nocopy(c->kv, B, E, g, &t1, &err), PC_OK);
  assert_int_equal(pw_kv_push_range_nocopy(c->kv, B, E, g, &t2, &err), PC_OK);
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  range_now(c, B, E, out);
  for (size_t i = 0; i < n; i++)
    assert_float_equal(out[i], -0.75f * (float)(i % 1000) - 2.0f, 1e-2);
  free(g);
  free(out);
  cluster_stop(c);
}

/* Every page of every server: keys[], vals[] (room for cap), count in *n. */
static int dump_all(cluster_t *c, size_t page, uint64_t *keys, float *vals, size_t cap,
                    size_t *n, int *pages, pc_err_t *err) {
  *n = 0;
  *pages = 0;
  for (uint32_t s = 0; s < NSERVERS; s++) {
    uint64_t cursor = 0;
    int done = 0;
    while (!done) {
      size_t got = 0;
      if (*n + page > cap)
        fail_msg("dump returned more than %zu keys", cap);
      int rc = pw_kv_dump(c->kv, s, 0, &cursor, page, keys + *n, vals + *n, &got, &done, err);
      if (rc != PC_OK)
        return rc;
      *n += got;
      (*pages)++;
    }
  }
  return PC_OK;
}

/* Hashed keys: the dump returns exactly the pushed keys, each once, with
 * their weights, over many small pages; pulled-only keys are not stored.
 * Refused while a request is outstanding, with bad arguments, and for a
 * cursor the server never made (after which the client still works). */
static void test_dump_sparse(void **state) {
  (void)state;
  cluster_t *c = cluster_start(PC_LAYOUT_SPARSE, 4);
  enum { N = 500, PAGE = 7, CAP = N + 2 * PAGE };
  uint64_t keys[N], got[CAP];
  float g[N], vals[CAP], out[N];
  for (size_t i = 0; i < N; i++) {
    keys[i] = (i * 7919u) % FEATURES; /* unique: 7919 is prime */
    g[i] = 0.5f + (float)i;
  }
  pc_err_t err = {0};
  assert_int_equal(pw_kv_push(c->kv, keys, N, g, &err), PC_OK);
  uint64_t fresh[2] = {FEATURES - 1, 3}, t; /* 3 and 9999 are never pushed */
  assert_int_equal(pw_kv_pull(c->kv, fresh, 2, out, &t, &err), PC_OK);
  uint64_t cursor = 0;
  size_t n = 0;
  int done = 0, pages = 0;
  assert_int_equal(pw_kv_dump(c->kv, 0, 0, &cursor, PAGE, got, vals, &n, &done, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "outstanding"));
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  assert_int_equal(dump_all(c, PAGE, got, vals, CAP, &n, &pages, &err), PC_OK);
  assert_int_equal(n, N);
  assert_true(pages >= N / PAGE);
  for (size_t i = 0; i < N; i++) { /* each pushed key exactly once */
    size_t hits = 0;
    for (size_t j = 0; j < n; j++)
      if (got[j] == keys[i]) {
        hits++;
        assert_float_equal(vals[j], -g[i], 1e-6);
      }
    assert_int_equal(hits, 1);
  }
  assert_int_equal(pw_kv_dump(c->kv, NSERVERS, 0, &cursor, PAGE, got, vals, &n, &done, &err),
                   PC_EINVAL);
  assert_int_equal(pw_kv_dump(c->kv, 0, 0, &cursor, 0, got, vals, &n, &done, &err), PC_EINVAL);
  cursor = 5ULL << 48; /* dense range 5: this server has none */
  assert_int_equal(pw_kv_dump(c->kv, 1, 0, &cursor, PAGE, got, vals, &n, &done, &err), PC_EPEER);
  assert_non_null(strstr(err.msg, "refused a dump"));
  cursor = 0;
  assert_int_equal(pw_kv_dump(c->kv, 1, 0, &cursor, PAGE, got, vals, &n, &done, &err), PC_OK);
  assert_int_equal(n, PAGE);
  pull_now(c, keys, 1, out);
  assert_float_equal(out[0], -g[0], 1e-6);
  cluster_stop(c);
}

/* Dense layout: every key of the dense ranges comes, pushed or not, in
 * full-size pages. */
static void test_dump_dense(void **state) {
  (void)state;
  cluster_t *c = cluster_start(PC_LAYOUT_DENSE, 4);
  enum { K = FEATURES + 1 };
  uint64_t *got = malloc(K * sizeof *got), pushed = 1234;
  float *vals = malloc(K * sizeof *vals), g = 2.5f;
  pc_err_t err = {0};
  assert_int_equal(pw_kv_push(c->kv, &pushed, 1, &g, &err), PC_OK);
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  size_t n = 0;
  int pages = 0;
  assert_int_equal(dump_all(c, PC_WIRE_MAX_DUMP_KEYS / 8, got, vals, 2 * K, &n, &pages, &err),
                   PC_OK);
  assert_int_equal(n, K);
  assert_int_equal(pages, NSERVERS);
  unsigned char *seen = calloc(K, 1);
  for (size_t j = 0; j < n; j++) {
    assert_true(got[j] < K && !seen[got[j]]);
    seen[got[j]] = 1;
    assert_float_equal(vals[j], got[j] == pushed ? -g : 0.0f, 0);
  }
  free(seen);
  free(got);
  free(vals);
  cluster_stop(c);
}

/* A model of three tables: logistic-like weights, a sparse rank-5
 * embedding with a normal initializer, a dense 1000 x 3 layer. */
static const pc_table_t three_tables[] = {
    {.name = "w", .id = 0, .kind = PC_TABLE_SPARSE, .size = FEATURES + 1, .width = 1,
     .init = PC_INIT_ZEROS, .optimize = 1},
    {.name = "emb", .id = 1, .kind = PC_TABLE_SPARSE, .size = 1000000, .width = 5,
     .init = PC_INIT_NORMAL, .scale = 0.5f, .optimize = 1},
    {.name = "layer", .id = 2, .kind = PC_TABLE_DENSE, .size = 1000, .width = 3,
     .init = PC_INIT_UNIFORM, .scale = 0.1f, .optimize = 1},
};

static cluster_t *cluster_three(int inflight) {
  g_tables = three_tables;
  g_ntables = 3;
  cluster_t *c = cluster_start(PC_LAYOUT_SPARSE, inflight);
  g_tables = NULL;
  return c;
}

/* Vectors of a table's width: a never-pushed key reads its initial vector
 * (the same function of seed, table and key the servers use), a push
 * changes each of its values, dense blocks span the servers, and requests
 * that mix tables or run past a table are refused. */
static void test_tables_width(void **state) {
  (void)state;
  cluster_t *c = cluster_three(4);
  enum { N = 300, W = 5, L = 1000, LW = 3 };
  const pc_table_t *emb = &three_tables[1], *layer = &three_tables[2];
  uint64_t keys[N];
  float g[N * W], out[N * W], want[W];
  for (size_t i = 0; i < N; i++)
    keys[i] = pc_table_key(1, (i * 7919u) % 1000000u);
  pull_now(c, keys, N, out);
  for (size_t i = 0; i < N; i++) {
    pc_table_init_row(emb, c->cfg.training.seed, pc_table_local(keys[i]), want);
    for (size_t j = 0; j < W; j++)
      assert_float_equal(out[i * W + j], want[j], 0);
  }
  for (size_t k = 0; k < N * W; k++)
    g[k] = 0.25f * (float)(k % 7) - 0.5f;
  pc_err_t err = {0};
  assert_int_equal(pw_kv_push(c->kv, keys, N, g, &err), PC_OK);
  pull_now(c, keys, N, out);
  for (size_t i = 0; i < N; i++) {
    pc_table_init_row(emb, c->cfg.training.seed, pc_table_local(keys[i]), want);
    for (size_t j = 0; j < W; j++) /* SGD, lr 1, no L2 */
      assert_float_equal(out[i * W + j], want[j] - g[i * W + j], 1e-6);
  }
  float *lg = malloc(L * LW * sizeof *lg), *lo = malloc(L * LW * sizeof *lo);
  range_now(c, pc_table_key(2, 0), pc_table_key(2, L), lo);
  for (size_t i = 0; i < L; i++) {
    pc_table_init_row(layer, c->cfg.training.seed, i, want);
    for (size_t j = 0; j < LW; j++) {
      assert_float_equal(lo[i * LW + j], want[j], 0);
      assert_true(fabsf(want[j]) <= 0.1f);
      lg[i * LW + j] = 1.0f;
    }
  }
  assert_int_equal(pw_kv_push_range(c->kv, pc_table_key(2, 10), pc_table_key(2, L), lg + 10 * LW,
                                    &err), PC_OK);
  range_now(c, pc_table_key(2, 0), pc_table_key(2, L), lo);
  for (size_t i = 0; i < L; i++) {
    pc_table_init_row(layer, c->cfg.training.seed, i, want);
    assert_float_equal(lo[i * LW + 2], want[2] - (i >= 10 ? 1.0f : 0.0f), 1e-6);
  }
  uint64_t mixed[2] = {pc_table_key(0, 3), pc_table_key(1, 3)}, t;
  assert_int_equal(pw_kv_pull(c->kv, mixed, 2, out, &t, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "mixes tables"));
  uint64_t none = pc_table_key(7, 1);
  assert_int_equal(pw_kv_pull(c->kv, &none, 1, out, &t, &err), PC_EINVAL);
  assert_int_equal(pw_kv_pull_range(c->kv, pc_table_key(1, 5), pc_table_key(2, 5), out, &t, &err),
                   PC_ERANGE);
  uint64_t past = pc_table_key(2, L); /* one past the layer: the server refuses it */
  assert_int_equal(pw_kv_pull(c->kv, &past, 1, out, &t, &err), PC_OK);
  assert_int_equal(pw_kv_wait(c->kv, t, &err), PC_EPEER);
  free(lg);
  free(lo);
  cluster_stop(c);
}

/* Small requests of two widths in flight together go in batches, each of
 * one width, and every value comes back right. */
static void test_tables_batched(void **state) {
  (void)state;
  cluster_t *c = cluster_three(16);
  enum { R = 200, W = 5 };
  pc_err_t err = {0};
  for (int r = 0; r < R; r++) {
    uint64_t k1 = pc_table_key(1, (uint64_t)r), k0 = (uint64_t)r;
    float g1[W] = {1, 2, 3, 4, (float)r}, g0 = (float)r;
    assert_int_equal(pw_kv_push(c->kv, &k1, 1, g1, &err), PC_OK);
    assert_int_equal(pw_kv_push(c->kv, &k0, 1, &g0, &err), PC_OK);
  }
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  pw_kv_stats_t st;
  pw_kv_stats(c->kv, &st);
  assert_true(st.batches > 0);
  float want[W];
  for (int r = 0; r < R; r += 17) {
    uint64_t k1 = pc_table_key(1, (uint64_t)r), k0 = (uint64_t)r;
    float v1[W], v0;
    pull_now(c, &k1, 1, v1);
    pull_now(c, &k0, 1, &v0);
    pc_table_init_row(&three_tables[1], c->cfg.training.seed, (uint64_t)r, want);
    float g1[W] = {1, 2, 3, 4, (float)r};
    for (int j = 0; j < W; j++)
      assert_float_equal(v1[j], want[j] - g1[j], 1e-5);
    assert_float_equal(v0, -(float)r, 0);
  }
  cluster_stop(c);
}

/* Dump of one table of vectors: exactly the pushed keys of that table. */
static void test_dump_table(void **state) {
  (void)state;
  cluster_t *c = cluster_three(4);
  enum { N = 50, W = 5 };
  uint64_t keys[N], w0 = 17, got[4 * N];
  float g[N * W], vals[4 * N * W], g0 = 1;
  for (size_t i = 0; i < N; i++)
    keys[i] = pc_table_key(1, 1000 + i);
  for (size_t k = 0; k < N * W; k++)
    g[k] = (float)k;
  pc_err_t err = {0};
  assert_int_equal(pw_kv_push(c->kv, keys, N, g, &err), PC_OK);
  assert_int_equal(pw_kv_push(c->kv, &w0, 1, &g0, &err), PC_OK);
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  size_t n = 0;
  for (uint32_t s = 0; s < NSERVERS; s++) {
    uint64_t cursor = 0;
    int done = 0;
    while (!done) {
      size_t got_n = 0;
      assert_int_equal(pw_kv_dump(c->kv, s, 1, &cursor, 7, got + n, vals + n * W, &got_n, &done,
                                  &err), PC_OK);
      n += got_n;
      assert_true(n <= 2 * N);
    }
  }
  assert_int_equal(n, N);
  float want[W];
  for (size_t j = 0; j < n; j++) {
    assert_int_equal(pc_table_of(got[j]), 1);
    size_t i = pc_table_local(got[j]) - 1000;
    assert_true(i < N);
    pc_table_init_row(&three_tables[1], c->cfg.training.seed, 1000 + i, want);
    for (size_t k = 0; k < W; k++)
      assert_float_equal(vals[j * W + k], want[k] - g[i * W + k], 1e-4);
  }
  uint64_t cursor = 0;
  int done = 0;
  assert_int_equal(pw_kv_dump(c->kv, 0, 9, &cursor, 7, got, vals, &n, &done, &err), PC_EINVAL);
  cluster_stop(c);
}

typedef struct opener {
  pc_config_t *cfg;
  const pc_table_t *tables;
  size_t n;
  int rc;
  pc_err_t err;
} opener_t;

static void tune_step(pc_config_t *cfg, void *arg) {
  (void)arg;
  tune_kv(cfg, &(kv_tune_t){PC_LAYOUT_SPARSE, 4});
  cfg->optimizer.schedule = PC_SCHED_STEP;
  cfg->optimizer.step_every = 2;
  cfg->optimizer.step_factor = 0.5;
}

/* optimizer.schedule step (every 2 steps, factor 0.5; SGD lr 1): a push
 * made at clock c moves its key by -g * 0.5^floor(c / 2). Two one-key
 * pushes per step, to keys on both servers; the second may wait in a
 * queue, and pw_kv_set_clock sends it under its own step's clock. */
static void test_schedule_step(void **state) {
  (void)state;
  cluster_t *c = cluster_boot(1, 10, tune_step, NULL);
  pc_err_t err = {0};
  pc_table_t tables[PC_TABLE_MAX];
  size_t nt = 0;
  if (pw_worker_config_tables(&c->cfg, tables, &nt, &err) != PC_OK ||
      pw_kv_open(&c->kv, &c->cfg, 0, tables, nt, &err) != PC_OK)
    fail_msg("open: %s", err.msg);
  uint64_t keys[2] = {3, 4};
  const pc_shardmap_t *map = &pw_kv_node(c->kv)->map;
  while (pc_shardmap_lookup(map, keys[1]) == pc_shardmap_lookup(map, keys[0]))
    keys[1]++; /* bounded: half the keys are on the other server */
  assert_true(keys[1] < FEATURES);
  float one = 1.0f, out[2];
  for (uint64_t clock = 0; clock < 5; clock++) {
    assert_int_equal(pw_kv_set_clock(c->kv, clock, &err), PC_OK);
    for (int i = 0; i < 2; i++)
      assert_int_equal(pw_kv_push(c->kv, &keys[i], 1, &one, &err), PC_OK);
  }
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  pull_now(c, keys, 2, out);
  /* lr 1, 1, 0.5, 0.5, 0.25: exact in float */
  assert_true(out[0] == -3.25f);
  assert_true(out[1] == -3.25f);
  /* The clock only moves the schedule: a step back and forth is the
   * worker's own business, the server takes its latest. */
  assert_int_equal(pw_kv_set_clock(c->kv, 0, &err), PC_OK);
  assert_int_equal(pw_kv_push(c->kv, keys, 1, &one, &err), PC_OK);
  assert_int_equal(pw_kv_wait_all(c->kv, &err), PC_OK);
  pull_now(c, keys, 1, out);
  assert_true(out[0] == -4.25f);
  cluster_stop(c);
}

static void *open_thread(void *arg) {
  opener_t *o = arg;
  pw_kv_t *kv = NULL;
  o->rc = pw_kv_open(&kv, o->cfg, -1, o->tables, o->n, &o->err);
  pw_kv_close(&kv);
  return NULL;
}

/* Two workers that declare different tables (another model or data of
 * another shape) cannot join one cluster: the second is refused, naming
 * the difference, and the run never starts. */
static void test_tables_disagree(void **state) {
  (void)state;
  cluster_t *c = cluster_boot(2, 2, NULL, NULL);
  pc_table_t other[3];
  memcpy(other, three_tables, sizeof other);
  other[1].width = 6;
  opener_t first = {&c->cfg, three_tables, 3, 0, {0}}, second = {&c->cfg, other, 3, 0, {0}};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, open_thread, &first), 0);
  usleep(300000);
  open_thread(&second);
  assert_int_not_equal(second.rc, PC_OK);
  assert_non_null(strstr(second.err.msg, "declares other model tables"));
  assert_non_null(strstr(second.err.msg, "widths differ"));
  pthread_join(t, NULL);
  assert_int_not_equal(first.rc, PC_OK); /* the run never got its second worker */
  pthread_join(c->sched, NULL);
  for (int i = 0; i < NSERVERS; i++)
    pthread_join(c->servers[i], NULL);
  assert_int_not_equal(c->sched_rc, PC_OK);
  free(c);
}

int main(void) {
  setenv("PARASOL_LOG_PREFIX", "1", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sparse_push_pull),
      cmocka_unit_test(test_ranges_and_mixed),
      cmocka_unit_test(test_small_requests_batched),
      cmocka_unit_test(test_push_range_nocopy),
      cmocka_unit_test(test_async_tickets),
      cmocka_unit_test(test_nan_rejected),
      cmocka_unit_test(test_dump_sparse),
      cmocka_unit_test(test_dump_dense),
      cmocka_unit_test(test_tables_width),
      cmocka_unit_test(test_tables_batched),
      cmocka_unit_test(test_dump_table),
      cmocka_unit_test(test_tables_disagree),
      cmocka_unit_test(test_schedule_step),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
