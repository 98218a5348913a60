#include "pw_worker.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parasol.pb-c.h"
#include "pc_log.h"
#include "pc_mem.h"
#include "pc_node.h"
#include "pc_outdir.h"
#include "pc_proc.h"
#include "pc_wire.h"
#include "pw_batch.h"
#include "pw_data.h"
#include "pw_eval.h"
#include "pw_kv.h"
#include "pw_logreg.h"
#include "pw_model.h"

#define EVAL_CHUNK (1u << 20)
#define DUMP_PAGE PC_WIRE_MAX_DUMP_KEYS

typedef struct pw_worker {
  const pc_config_t *cfg;
  pw_kv_t *kv;
  pc_node_t *node;
  pw_dataset_t test; /* worker 0: data.test, read and checked before training */
} pw_worker_t;

/* Fisher-Yates with a per-worker, per-epoch seed: reproducible runs. */
static void shuffle(size_t *order, size_t n, uint64_t seed) {
  uint64_t x = seed ? seed : 0x9e3779b97f4a7c15ULL;
  for (size_t i = n; i > 1; i--) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    size_t j = (size_t)(x % i);
    size_t t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
}

/* One mini-batch on its way: its keys, the weights pulled for them, and
 * the gradient. Two of them let the next batch's pull overlap this one's
 * compute. */
typedef struct pw_slot {
  pw_batch_t batch;
  float *w, *grad;
  size_t cap;
  uint64_t ticket;
} pw_slot_t;

typedef struct pw_train {
  pw_dataset_t data;
  size_t *order;
  pw_slot_t slot[2];
  double start, last_log, loss_sum;
  uint64_t samples, total_samples;
  int epoch;
} pw_train_t;

static uint64_t bias_key(const pc_config_t *cfg) {
  return cfg->model.bias ? cfg->model.features : UINT64_MAX;
}

/* Build the batch of rows[0..n) and start pulling its weights. */
static int slot_fetch(pw_worker_t *w, pw_train_t *t, pw_slot_t *s, const size_t *rows, size_t n,
                      pc_err_t *err) {
  int rc = pw_batch_build(&s->batch, &t->data, rows, n, bias_key(w->cfg), err);
  if (rc != PC_OK)
    return rc;
  if (s->batch.nkeys > s->cap) {
    float *a = realloc(s->w, s->batch.nkeys * sizeof *a);
    if (a)
      s->w = a;
    float *g = realloc(s->grad, s->batch.nkeys * sizeof *g);
    if (g)
      s->grad = g;
    if (!a || !g)
      return pc_err_set(err, PC_ENOMEM, "batch of %zu keys", s->batch.nkeys);
    s->cap = s->batch.nkeys;
  }
  return pw_kv_pull(w->kv, s->batch.keys, s->batch.nkeys, s->w, &s->ticket, err);
}

/* Wait for the batch's weights, compute its gradient, push it. */
static int slot_train(pw_worker_t *w, pw_train_t *t, pw_slot_t *s, pc_err_t *err) {
  int rc = pw_kv_wait(w->kv, s->ticket, err);
  if (rc != PC_OK)
    return rc;
  t->loss_sum += pw_logreg_grad(&t->data, &s->batch, s->w, s->grad);
  t->samples += s->batch.nrows;
  t->total_samples += s->batch.nrows;
  return pw_kv_push(w->kv, s->batch.keys, s->batch.nkeys, s->grad, err);
}

static void log_progress(pw_worker_t *w, pw_train_t *t, size_t pos, int force) {
  double now = pc_proc_now(), every = w->cfg->training.log_every;
  if (!force && (every <= 0 || now - t->last_log < every))
    return;
  double secs = now - t->start;
  PC_INFO("epoch %d/%d %5.1f%% | %llu samples | %.0f samples/s | loss %.4f", t->epoch,
          w->cfg->training.epochs, t->data.n ? 100.0 * (double)pos / (double)t->data.n : 100.0,
          (unsigned long long)t->total_samples, secs > 0 ? (double)t->total_samples / secs : 0.0,
          t->samples ? t->loss_sum / (double)t->samples : NAN);
  t->last_log = now;
}

static int send_progress(pw_worker_t *w, const pw_train_t *t, int done, pc_err_t *err) {
  pw_kv_stats_t st;
  pw_kv_stats(w->kv, &st);
  Parasol__Progress p = PARASOL__PROGRESS__INIT;
  p.epoch = (uint32_t)t->epoch;
  p.samples = t->samples;
  p.loss_sum = t->loss_sum;
  p.seconds = pc_proc_now() - t->start;
  p.done = done;
  p.total_samples = t->total_samples;
  p.max_inflight = (uint32_t)st.max_inflight;
  p.lines_skipped = t->data.bad_lines;
  return pc_node_send(w->node, PC_OP_PROGRESS, &p, err);
}

/* One pass over the partition in shuffled mini-batches. */
static int run_epoch(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  size_t bs = (size_t)w->cfg->training.batch, n = t->data.n;
  size_t nb = (n + bs - 1) / bs;
  int pre = w->cfg->training.prefetch;
#define ROWS(b) (t->order + (b) * bs), ((b) + 1 < nb ? bs : n - (b) * bs)
  int rc = nb ? slot_fetch(w, t, &t->slot[0], ROWS(0), err) : PC_OK;
  for (size_t b = 0; b < nb && rc == PC_OK; b++) {
    pw_slot_t *next = &t->slot[(b + 1) & 1];
    if (pre && b + 1 < nb)
      rc = slot_fetch(w, t, next, ROWS(b + 1), err);
    if (rc == PC_OK)
      rc = slot_train(w, t, &t->slot[b & 1], err);
    if (rc == PC_OK && !pre && b + 1 < nb)
      rc = slot_fetch(w, t, next, ROWS(b + 1), err);
    log_progress(w, t, b * bs + bs < n ? b * bs + bs : n, 0);
  }
#undef ROWS
  return rc;
}

static int run_epochs(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  int rc = PC_OK;
  t->start = t->last_log = pc_proc_now();
  for (t->epoch = 1; t->epoch <= c->training.epochs && rc == PC_OK; t->epoch++) {
    t->samples = 0;
    t->loss_sum = 0;
    shuffle(t->order, t->data.n, c->training.seed * 1000003u + (uint64_t)w->node->rank * 7919u +
                                     (uint64_t)t->epoch);
    rc = run_epoch(w, t, err);
    if (rc == PC_OK)
      rc = pw_kv_wait_all(w->kv, err);
    if (rc == PC_OK) {
      log_progress(w, t, t->data.n, 1);
      rc = send_progress(w, t, 0, err);
    }
  }
  t->epoch = c->training.epochs;
  return rc;
}

/* Dense layout: pull every weight of the model, in bounded blocks. */
static int fetch_dense(pw_worker_t *w, pw_model_t *m, pc_err_t *err) {
  m->nweights = m->features + (uint64_t)m->bias;
  m->w = calloc(m->nweights, sizeof *m->w);
  int rc = m->w ? PC_OK : pc_err_set(err, PC_ENOMEM, "model of %llu weights",
                                     (unsigned long long)m->nweights);
  for (uint64_t base = 0; base < m->nweights && rc == PC_OK; base += EVAL_CHUNK) {
    uint64_t end = m->nweights - base < EVAL_CHUNK ? m->nweights : base + EVAL_CHUNK;
    uint64_t ticket;
    rc = pw_kv_pull_range(w->kv, base, end, m->w + base, &ticket, err);
    if (rc == PC_OK)
      rc = pw_kv_wait(w->kv, ticket, err);
  }
  return rc;
}

/* One dump page into the model's entries. A model has at most features +
 * bias keys, which also bounds the dump loop whatever the servers send. */
static int add_page(pw_model_t *m, size_t *cap, const uint64_t *keys, const float *vals,
                    size_t n, pc_err_t *err) {
  uint64_t nkeys = m->features + (uint64_t)m->bias;
  if (n > nkeys - m->nentries)
    return pc_err_set(err, PC_EPROTO, "the servers hold more than the model's %llu keys",
                      (unsigned long long)nkeys);
  if (pc_mem_reserve((void **)&m->e, cap, (size_t)m->nentries + n, sizeof *m->e) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "model of %llu keys",
                      (unsigned long long)(m->nentries + n));
  for (size_t i = 0; i < n; i++)
    m->e[m->nentries + i] = (pw_model_entry_t){keys[i], vals[i]};
  m->nentries += n;
  return PC_OK;
}

/* Sparse layout: only the keys the servers store, page by page from each
 * (memory follows the trained keys, not model.features). Training is over:
 * every worker has reported done before the scheduler sends EVALUATE. */
static int fetch_sparse(pw_worker_t *w, pw_model_t *m, pc_err_t *err) {
  m->sparse = 1;
  uint64_t *keys = malloc(DUMP_PAGE * sizeof *keys);
  float *vals = malloc(DUMP_PAGE * sizeof *vals);
  size_t cap = 0;
  int rc = keys && vals ? PC_OK : pc_err_set(err, PC_ENOMEM, "dump page");
  for (uint32_t s = 0; s < w->node->num_servers && rc == PC_OK; s++) {
    uint64_t cursor = 0;
    int done = 0;
    while (rc == PC_OK && !done) {
      size_t n = 0;
      rc = pw_kv_dump(w->kv, s, &cursor, DUMP_PAGE, keys, vals, &n, &done, err);
      if (rc == PC_OK)
        rc = add_page(m, &cap, keys, vals, n, err);
    }
  }
  free(keys);
  free(vals);
  return rc == PC_OK ? pw_model_sort(m, err) : rc;
}

/* The trained model from the servers, in the layout it was trained in. */
static int fetch_model(pw_worker_t *w, pw_model_t *m, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  m->type = c->model.type;
  m->features = c->model.features;
  m->bias = c->model.bias;
  int rc = pw_kv_wait_all(w->kv, err);
  if (rc != PC_OK)
    return rc;
  return c->model.layout == PC_LAYOUT_SPARSE ? fetch_sparse(w, m, err) : fetch_dense(w, m, err);
}

static int evaluate(pw_worker_t *w, const pw_model_t *m, pw_metrics_t *out, pc_err_t *err) {
  const pw_dataset_t *test = &w->test;
  float *prob = malloc((test->n ? test->n : 1) * sizeof *prob);
  if (prob == NULL)
    return pc_err_set(err, PC_ENOMEM, "predictions for %zu examples", test->n);
  for (size_t i = 0; i < test->n; i++)
    prob[i] = pw_model_predict_row(m, test, i);
  int rc = pw_eval_binary(prob, test->label, test->n, out, err);
  free(prob);
  return rc;
}

/* Worker 0's last job: save the model, evaluate it on the test file, and
 * report to the scheduler (an error travels in the report too). */
static int save_and_evaluate(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  Parasol__EvalResult r = PARASOL__EVAL_RESULT__INIT;
  char path[PC_PATH_MAX + 16], msg[PC_ERR_MSG_MAX] = "";
  pw_model_t m = {0};
  pw_metrics_t met = {0};
  pc_err_t e = {0};
  snprintf(path, sizeof path, "%s/model.bin", c->output.dir);
  int rc = fetch_model(w, &m, &e);
  if (rc == PC_OK && (rc = pw_model_save(&m, path, &e)) == PC_OK)
    PC_INFO("saved model to %s", path);
  if (rc == PC_OK && c->data.test[0] != '\0')
    rc = evaluate(w, &m, &met, &e);
  if (rc != PC_OK)
    snprintf(msg, sizeof msg, "%s", e.msg);
  r.n = met.n;
  r.accuracy = met.accuracy;
  r.logloss = met.logloss;
  r.auc = met.auc;
  r.lines_skipped = w->test.bad_lines;
  r.model_path = path;
  r.error = msg;
  pw_model_free(&m);
  int src = pc_node_send(w->node, PC_OP_EVAL_RESULT, &r, err);
  if (rc != PC_OK)
    return pc_err_set(err, rc, "%s", msg);
  return src;
}

/* After training: wait for the scheduler's EVALUATE (worker 0) or SHUTDOWN. */
static int await_end(pw_worker_t *w, pc_err_t *err) {
  for (;;) {
    pc_msg_t m;
    int rc = pc_node_recv(w->node, &m, err);
    if (rc == PC_ENOTFOUND) {
      zmq_pollitem_t it = {w->node->sched, 0, ZMQ_POLLIN, 0};
      zmq_poll(&it, 1, 100);
      if ((rc = pc_node_tick(w->node, err)) != PC_OK)
        return rc;
      continue;
    }
    if (rc != PC_OK)
      return rc;
    int op = (int)m.hdr.op;
    pc_msg_close(&m);
    if (op == PC_OP_EVALUATE && w->node->rank == 0 && (rc = save_and_evaluate(w, err)) != PC_OK)
      return rc;
    if (op == PC_OP_SHUTDOWN && w->node->shut_failed)
      return pc_err_set(err, PC_ECANCELED, "the run failed: %s", w->node->shut_reason);
    if (op == PC_OP_SHUTDOWN) {
      PC_INFO("shutting down: %s", w->node->shut_reason);
      return PC_OK;
    }
  }
}

static int load_partition(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  pw_data_opts_t o = {.part = w->node->rank, .nparts = (int)w->node->num_workers,
                      .features = c->model.features,
                      .skip_bad = c->data.on_error == PC_ON_ERROR_SKIP,
                      .max_bad_lines = c->data.max_bad_lines};
  double t0 = pc_proc_now();
  int rc = pw_data_load_libsvm(&t->data, c->data.train, &o, err);
  if (rc != PC_OK)
    return rc;
  if (t->data.n == 0)
    return pc_err_set(err, PC_EDATA, "%s: partition %d of %u holds no examples (fewer examples "
                      "than workers, or every line skipped)", c->data.train, w->node->rank,
                      w->node->num_workers);
  if (t->data.bad_lines)
    PC_WARN("%s: skipped %llu malformed lines in partition %d (data.on_error: skip)",
            c->data.train, (unsigned long long)t->data.bad_lines, w->node->rank);
  PC_INFO("loaded partition %d/%u of %s: %zu examples, %zu non-zeros in %.2f s", w->node->rank,
          w->node->num_workers, c->data.train, t->data.n, t->data.nnz, pc_proc_now() - t0);
  t->order = malloc((t->data.n ? t->data.n : 1) * sizeof *t->order);
  if (t->order == NULL)
    return pc_err_set(err, PC_ENOMEM, "order of %zu examples", t->data.n);
  for (size_t i = 0; i < t->data.n; i++)
    t->order[i] = i;
  return PC_OK;
}

static void train_free(pw_train_t *t) {
  pw_data_free(&t->data);
  free(t->order);
  for (int i = 0; i < 2; i++) {
    pw_batch_free(&t->slot[i].batch);
    free(t->slot[i].w);
    free(t->slot[i].grad);
  }
}

/* data.test, read and checked before training rather than after it: a
 * bad line there must not cost a whole run. */
static int load_test(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  pw_data_opts_t o = {.part = 0, .nparts = 1, .features = 0,
                      .skip_bad = c->data.on_error == PC_ON_ERROR_SKIP,
                      .max_bad_lines = c->data.max_bad_lines};
  int rc = pw_data_load_libsvm(&w->test, c->data.test, &o, err);
  if (rc == PC_OK && w->test.n == 0)
    rc = pc_err_set(err, PC_EDATA, "%s (data.test): no examples", c->data.test);
  if (rc == PC_OK && w->test.bad_lines)
    PC_WARN("%s: skipped %llu malformed lines (data.on_error: skip)", c->data.test,
            (unsigned long long)w->test.bad_lines);
  if (rc == PC_OK)
    PC_INFO("read the test set %s: %zu examples", c->data.test, w->test.n);
  return rc;
}

/* Worker 0 saves the model: its copy must fit. */
uint64_t pw_worker_model_bytes(const pc_config_t *cfg) {
  if (cfg->model.layout != PC_LAYOUT_DENSE)
    return 0;
  return sizeof(float) * (cfg->model.features + (cfg->model.bias ? 1 : 0));
}

static int check_model_room(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  char what[160];
  snprintf(what, sizeof what, "saving the dense model (model.features=%llu) on worker 0",
           (unsigned long long)c->model.features);
  return pc_proc_check_memory(pw_worker_model_bytes(c), pc_proc_mem_available(), what,
                              "; use model.layout: sparse or fewer features", err);
}

/* Worker 0 writes model.bin into output.dir on its own host: that must be
 * writable, and an earlier run's model must not pass for this run's. */
static const char *const model_outputs[] = {"model.bin"};

static int prepare(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  char name[32];
  snprintf(name, sizeof name, "worker-%d", w->node->rank);
  int rc = pc_outdir_check(c->output.dir, err);
  if (rc == PC_OK)
    rc = pc_log_to_file(c->output.dir, name, err);
  if (rc != PC_OK || w->node->rank != 0)
    return rc;
  rc = pc_outdir_retire(c->output.dir, model_outputs, 1, NULL, err);
  if (rc == PC_OK)
    rc = check_model_room(w, err);
  if (rc == PC_OK && c->data.test[0] != '\0')
    rc = load_test(w, err);
  return rc;
}

static int train(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  int rc = prepare(w, err);
  if (rc == PC_OK)
    rc = load_partition(w, t, err);
  if (rc == PC_OK)
    rc = pc_node_barrier(w->node, 1, err);
  if (rc == PC_OK)
    rc = run_epochs(w, t, err);
  if (rc == PC_OK)
    rc = send_progress(w, t, 1, err);
  if (rc == PC_OK)
    rc = await_end(w, err);
  return rc;
}

int pw_worker_run(const pc_config_t *cfg, int rank_req, pc_err_t *err) {
  pw_worker_t w = {.cfg = cfg};
  pw_train_t t = {0};
  int rc = pc_proc_catch_stop(err);
  if (rc == PC_OK)
    rc = pw_kv_open(&w.kv, cfg, rank_req, err);
  if (rc == PC_OK) {
    w.node = pw_kv_node(w.kv);
    pc_log_set_rank(w.node->rank);
    rc = train(&w, &t, err);
  }
  pw_kv_stats_t st = {0};
  if (w.kv)
    pw_kv_stats(w.kv, &st);
  if (st.rejected)
    PC_WARN("%llu pushes were rejected by the servers", (unsigned long long)st.rejected);
  /* Tell the scheduler why this worker is exiting, so a run spread over
   * machines stops at once with the reason instead of waiting for silence;
   * unless it was the scheduler that stopped the run. */
  if (rc != PC_OK && w.node != NULL && !w.node->shut)
    pc_node_leave(w.node, err->msg[0] ? err->msg : parasol_strerror(rc));
  pw_kv_close(&w.kv);
  train_free(&t);
  pw_data_free(&w.test);
  return rc;
}
