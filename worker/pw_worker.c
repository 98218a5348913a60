#include "pw_worker.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parasol.pb-c.h"
#include "pc_log.h"
#include "pc_node.h"
#include "pc_proc.h"
#include "pc_wire.h"
#include "pw_batch.h"
#include "pw_data.h"
#include "pw_eval.h"
#include "pw_logreg.h"
#include "pw_model.h"

#define WORKER_HWM 10000
#define EVAL_CHUNK (1u << 20)

/* Keys of one request to one server, and where each came from. */
typedef struct pw_slice {
  uint64_t *keys;
  uint32_t *from; /* index into the caller's key array */
  float *vals;
  size_t n, cap;
  uint64_t pull_id; /* outstanding pull, 0 = none */
} pw_slice_t;

typedef struct pw_worker {
  const pc_config_t *cfg;
  void *zctx;
  pc_node_t node;
  void **socks; /* DEALER per server */
  pw_slice_t *slices;
  uint32_t nservers;
  uint64_t next_id;
  int inflight;        /* pushes not yet acknowledged */
  int max_inflight;    /* peak of inflight, reported to check the bound */
  int pulls_waiting;
  uint64_t rejected;   /* pushes the servers refused as non-finite */
  pc_wire_drops_t drops;
  int stop;            /* scheduler ordered shutdown */
  int stop_failed;
  char stop_reason[256];
} pw_worker_t;

static int slice_reserve(pw_slice_t *s, size_t need) {
  if (need <= s->cap)
    return PC_OK;
  size_t cap = s->cap ? s->cap : 1024;
  while (cap < need)
    cap *= 2;
  uint64_t *k = realloc(s->keys, cap * sizeof *k);
  if (k)
    s->keys = k;
  uint32_t *f = realloc(s->from, cap * sizeof *f);
  if (f)
    s->from = f;
  float *v = realloc(s->vals, cap * sizeof *v);
  if (v)
    s->vals = v;
  if (!k || !f || !v)
    return PC_ENOMEM;
  s->cap = cap;
  return PC_OK;
}

/* Route keys[0..n) to their servers. */
static int split(pw_worker_t *w, const uint64_t *keys, size_t n, pc_err_t *err) {
  for (uint32_t s = 0; s < w->nservers; s++)
    w->slices[s].n = 0;
  for (size_t i = 0; i < n; i++) {
    pw_slice_t *sl = &w->slices[pc_shardmap_lookup(&w->node.map, keys[i])];
    if (sl->n == sl->cap && slice_reserve(sl, sl->n + 1) != PC_OK)
      return pc_err_set(err, PC_ENOMEM, "request of %zu keys", n);
    sl->keys[sl->n] = keys[i];
    sl->from[sl->n++] = (uint32_t)i;
  }
  return PC_OK;
}

static int on_reply(pw_worker_t *w, uint32_t s, pc_msg_t *m, float *out, pc_err_t *err) {
  if (m->hdr.op == PC_OP_PUSH_REPLY) {
    w->inflight--;
    if (m->hdr.status == PC_EDATA && ++w->rejected == 1)
      PC_WARN("server %u rejected a push with a non-finite gradient", s);
    else if (m->hdr.status != 0 && m->hdr.status != PC_EDATA)
      return pc_err_set(err, PC_EPEER, "server %u refused a push: %s", s,
                        parasol_strerror(m->hdr.status));
    return PC_OK;
  }
  pw_slice_t *sl = &w->slices[s];
  if (m->hdr.op != PC_OP_PULL_REPLY || m->hdr.request_id != sl->pull_id) {
    pc_wire_drop_note(&w->drops, PC_DROP_OP, "from a server", NULL);
    return PC_OK;
  }
  if (m->hdr.status != 0)
    return pc_err_set(err, PC_EPEER, "server %u refused a pull: %s", s,
                      parasol_strerror(m->hdr.status));
  if (m->nvals != sl->n)
    return pc_err_set(err, PC_EPROTO, "server %u answered %zu values for %zu keys", s, m->nvals,
                      sl->n);
  for (size_t j = 0; j < sl->n; j++)
    out[sl->from[j]] = m->vals[j];
  sl->pull_id = 0;
  w->pulls_waiting--;
  return PC_OK;
}

/* Handle what the scheduler says mid-run: only shutdown matters here. */
static int pump_control(pw_worker_t *w, pc_err_t *err) {
  pc_msg_t m;
  int rc;
  while ((rc = pc_node_recv(&w->node, &m, err)) == PC_OK) {
    if (m.hdr.op == PC_OP_SHUTDOWN) {
      pc_node_shutdown_reason(&m, w->stop_reason, sizeof w->stop_reason, &w->stop_failed);
      w->stop = 1;
    }
    pc_msg_close(&m);
  }
  if (rc == PC_ENOTFOUND)
    rc = pc_node_tick(&w->node, err);
  if (rc == PC_OK && w->stop)
    rc = pc_err_set(err, PC_ECANCELED, "scheduler stopped the run: %s", w->stop_reason);
  return rc;
}

/* Wait until done(w) holds, serving replies; no reply for node_timeout
 * means the servers are gone. */
static int wait_until(pw_worker_t *w, int (*done)(const pw_worker_t *), float *out,
                      pc_err_t *err) {
  zmq_pollitem_t it[PC_PARTITION_MAX_SERVERS + 1];
  double heard = pc_proc_now();
  while (!done(w)) {
    for (uint32_t s = 0; s < w->nservers; s++)
      it[s] = (zmq_pollitem_t){w->socks[s], 0, ZMQ_POLLIN, 0};
    it[w->nservers] = (zmq_pollitem_t){w->node.sched, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(it, (int)w->nservers + 1, 100) < 0 && zmq_errno() != EINTR)
      return pc_err_set(err, PC_ESYS, "zmq_poll: %s", zmq_strerror(zmq_errno()));
    for (uint32_t s = 0; s < w->nservers; s++) {
      pc_msg_t m;
      pc_drop_t why;
      pc_err_t e;
      int rc;
      while ((rc = pc_wire_recv(w->socks[s], 0, &m, ZMQ_DONTWAIT, &why, &e)) != PC_ENOTFOUND) {
        if (rc == PC_EPROTO) {
          pc_wire_drop_note(&w->drops, why, "from a server", &e);
          continue;
        }
        if (rc != PC_OK)
          return pc_err_set(err, rc, "%s", e.msg);
        heard = pc_proc_now();
        rc = on_reply(w, s, &m, out, err);
        pc_msg_close(&m);
        if (rc != PC_OK)
          return rc;
      }
    }
    int rc = pump_control(w, err);
    if (rc != PC_OK)
      return rc;
    if (pc_proc_now() - heard > w->cfg->cluster.node_timeout)
      return pc_err_set(err, PC_EPEER, "no reply from the servers for %.0f s "
                        "(cluster.node_timeout)", w->cfg->cluster.node_timeout);
  }
  return PC_OK;
}

static int pulls_done(const pw_worker_t *w) { return w->pulls_waiting == 0; }
static int pushes_below_bound(const pw_worker_t *w) { return w->inflight < w->cfg->training.inflight; }
static int pushes_done(const pw_worker_t *w) { return w->inflight == 0; }

static int send_slice(pw_worker_t *w, uint32_t s, pc_op_t op, const float *vals, pc_err_t *err) {
  pw_slice_t *sl = &w->slices[s];
  pc_wire_hdr_t h;
  pc_wire_hdr_init(&h, op, ++w->next_id, w->node.sender);
  h.key_count = sl->n;
  h.vals_per_key = vals ? 1 : 0;
  return pc_wire_send(w->socks[s], NULL, &h, sl->keys, vals, vals ? sl->n : 0, NULL, 0, 0, err);
}

/* Pull the weights of keys[0..n) into out[0..n). */
static int pull(pw_worker_t *w, const uint64_t *keys, size_t n, float *out, pc_err_t *err) {
  int rc = split(w, keys, n, err);
  for (uint32_t s = 0; s < w->nservers && rc == PC_OK; s++) {
    if (w->slices[s].n == 0)
      continue;
    rc = send_slice(w, s, PC_OP_PULL, NULL, err);
    w->slices[s].pull_id = w->next_id;
    w->pulls_waiting++;
  }
  return rc == PC_OK ? wait_until(w, pulls_done, out, err) : rc;
}

/* Push grad[i] for the keys of the last split without waiting for the
 * acknowledgements, except to keep at most training.inflight outstanding. */
static int push(pw_worker_t *w, const float *grad, pc_err_t *err) {
  int rc = PC_OK;
  for (uint32_t s = 0; s < w->nservers && rc == PC_OK; s++) {
    pw_slice_t *sl = &w->slices[s];
    if (sl->n == 0)
      continue;
    for (size_t j = 0; j < sl->n; j++)
      sl->vals[j] = grad[sl->from[j]];
    /* Never exceed the bound, even within one batch spread over servers. */
    if (w->inflight >= w->cfg->training.inflight)
      rc = wait_until(w, pushes_below_bound, NULL, err);
    if (rc == PC_OK)
      rc = send_slice(w, s, PC_OP_PUSH, sl->vals, err);
    w->inflight++;
    if (w->inflight > w->max_inflight)
      w->max_inflight = w->inflight;
  }
  return rc;
}

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

typedef struct pw_train {
  pw_dataset_t data;
  size_t *order;
  pw_batch_t batch;
  float *w, *grad;
  size_t cap;
  double start, last_log, loss_sum;
  uint64_t samples, total_samples;
  int epoch;
} pw_train_t;

static int train_batch(pw_worker_t *w, pw_train_t *t, const size_t *rows, size_t n,
                       uint64_t bias_key, pc_err_t *err) {
  int rc = pw_batch_build(&t->batch, &t->data, rows, n, bias_key, err);
  if (rc != PC_OK)
    return rc;
  if (t->batch.nkeys > t->cap) {
    float *a = realloc(t->w, t->batch.nkeys * sizeof *a);
    if (a)
      t->w = a;
    float *g = realloc(t->grad, t->batch.nkeys * sizeof *g);
    if (g)
      t->grad = g;
    if (!a || !g)
      return pc_err_set(err, PC_ENOMEM, "batch of %zu keys", t->batch.nkeys);
    t->cap = t->batch.nkeys;
  }
  if ((rc = pull(w, t->batch.keys, t->batch.nkeys, t->w, err)) != PC_OK)
    return rc;
  t->loss_sum += pw_logreg_grad(&t->data, &t->batch, t->w, t->grad);
  t->samples += n;
  t->total_samples += n;
  return push(w, t->grad, err);
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
  Parasol__Progress p = PARASOL__PROGRESS__INIT;
  p.epoch = (uint32_t)t->epoch;
  p.samples = t->samples;
  p.loss_sum = t->loss_sum;
  p.seconds = pc_proc_now() - t->start;
  p.done = done;
  p.total_samples = t->total_samples;
  p.max_inflight = (uint32_t)w->max_inflight;
  return pc_node_send(&w->node, PC_OP_PROGRESS, &p, err);
}

static uint64_t bias_key(const pc_config_t *cfg) {
  return cfg->model.bias ? cfg->model.features : UINT64_MAX;
}

static int run_epochs(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  size_t bs = (size_t)c->training.batch;
  int rc = PC_OK;
  t->start = t->last_log = pc_proc_now();
  for (t->epoch = 1; t->epoch <= c->training.epochs && rc == PC_OK; t->epoch++) {
    t->samples = 0;
    t->loss_sum = 0;
    shuffle(t->order, t->data.n, c->training.seed * 1000003u + (uint64_t)w->node.rank * 7919u +
                                     (uint64_t)t->epoch);
    for (size_t i = 0; i < t->data.n && rc == PC_OK; i += bs) {
      size_t n = t->data.n - i < bs ? t->data.n - i : bs;
      rc = train_batch(w, t, t->order + i, n, bias_key(c), err);
      log_progress(w, t, i + n, 0);
    }
    if (rc == PC_OK)
      rc = wait_until(w, pushes_done, NULL, err);
    if (rc == PC_OK) {
      log_progress(w, t, t->data.n, 1);
      rc = send_progress(w, t, 0, err);
    }
  }
  t->epoch = c->training.epochs;
  return rc;
}

/* Pull every weight of the model from the servers, in bounded chunks. */
static int fetch_model(pw_worker_t *w, pw_model_t *m, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  m->type = c->model.type;
  m->features = c->model.features;
  m->bias = c->model.bias;
  m->nweights = c->model.features + (c->model.bias ? 1 : 0);
  m->w = calloc(m->nweights, sizeof *m->w);
  uint64_t *keys = malloc(EVAL_CHUNK * sizeof *keys);
  int rc = m->w && keys ? PC_OK : pc_err_set(err, PC_ENOMEM, "model of %llu weights",
                                             (unsigned long long)m->nweights);
  for (uint64_t base = 0; base < m->nweights && rc == PC_OK; base += EVAL_CHUNK) {
    size_t n = m->nweights - base < EVAL_CHUNK ? (size_t)(m->nweights - base) : EVAL_CHUNK;
    for (size_t i = 0; i < n; i++)
      keys[i] = base + i;
    rc = pull(w, keys, n, m->w + base, err);
  }
  free(keys);
  return rc;
}

static int evaluate(pw_worker_t *w, const pw_model_t *m, pw_metrics_t *out, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  pw_dataset_t test = {0};
  pw_data_opts_t o = {.part = 0, .nparts = 1, .features = 0,
                      .skip_bad = c->data.on_error == PC_ON_ERROR_SKIP,
                      .max_bad_lines = c->data.max_bad_lines};
  int rc = pw_data_load_libsvm(&test, c->data.test, &o, err);
  float *prob = rc == PC_OK ? malloc((test.n ? test.n : 1) * sizeof *prob) : NULL;
  if (rc == PC_OK && prob == NULL)
    rc = pc_err_set(err, PC_ENOMEM, "predictions for %zu examples", test.n);
  for (size_t i = 0; rc == PC_OK && i < test.n; i++)
    prob[i] = pw_model_predict_row(m, &test, i);
  if (rc == PC_OK)
    rc = pw_eval_binary(prob, test.label, test.n, out, err);
  if (rc == PC_OK && test.bad_lines)
    PC_WARN("%s: skipped %llu malformed lines", c->data.test, (unsigned long long)test.bad_lines);
  free(prob);
  pw_data_free(&test);
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
  r.model_path = path;
  r.error = msg;
  pw_model_free(&m);
  int src = pc_node_send(&w->node, PC_OP_EVAL_RESULT, &r, err);
  if (rc != PC_OK)
    return pc_err_set(err, rc, "%s", msg);
  return src;
}

/* After training: wait for the scheduler's EVALUATE (worker 0) or SHUTDOWN. */
static int await_end(pw_worker_t *w, pc_err_t *err) {
  for (;;) {
    pc_msg_t m;
    int rc = pc_node_recv(&w->node, &m, err);
    if (rc == PC_ENOTFOUND) {
      zmq_pollitem_t it = {w->node.sched, 0, ZMQ_POLLIN, 0};
      zmq_poll(&it, 1, 100);
      if ((rc = pc_node_tick(&w->node, err)) != PC_OK)
        return rc;
      continue;
    }
    if (rc != PC_OK)
      return rc;
    int op = (int)m.hdr.op;
    if (op == PC_OP_SHUTDOWN)
      pc_node_shutdown_reason(&m, w->stop_reason, sizeof w->stop_reason, &w->stop_failed);
    pc_msg_close(&m);
    if (op == PC_OP_EVALUATE && w->node.rank == 0 && (rc = save_and_evaluate(w, err)) != PC_OK)
      return rc;
    if (op == PC_OP_SHUTDOWN) {
      PC_INFO("shutting down: %s", w->stop_reason);
      return PC_OK;
    }
  }
}

static int connect_servers(pw_worker_t *w, pc_err_t *err) {
  w->nservers = w->node.num_servers;
  w->socks = calloc(w->nservers, sizeof *w->socks);
  w->slices = calloc(w->nservers, sizeof *w->slices);
  if (w->socks == NULL || w->slices == NULL)
    return pc_err_set(err, PC_ENOMEM, "server connections");
  for (uint32_t s = 0; s < w->nservers; s++) {
    w->socks[s] = zmq_socket(w->zctx, ZMQ_DEALER);
    if (w->socks[s] == NULL)
      return pc_err_set(err, PC_ESYS, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int rc = pc_wire_socket_setup(w->socks[s], 0, WORKER_HWM, err);
    if (rc != PC_OK)
      return rc;
    if (zmq_connect(w->socks[s], w->node.endpoints[s]) != 0)
      return pc_err_set(err, PC_ESYS, "connecting to server %u at %s: %s", s,
                        w->node.endpoints[s], zmq_strerror(zmq_errno()));
  }
  return PC_OK;
}

static int load_partition(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  pw_data_opts_t o = {.part = w->node.rank, .nparts = (int)w->node.num_workers,
                      .features = c->model.features,
                      .skip_bad = c->data.on_error == PC_ON_ERROR_SKIP,
                      .max_bad_lines = c->data.max_bad_lines};
  double t0 = pc_proc_now();
  int rc = pw_data_load_libsvm(&t->data, c->data.train, &o, err);
  if (rc != PC_OK)
    return rc;
  if (t->data.bad_lines)
    PC_WARN("%s: skipped %llu malformed lines in partition %d (data.on_error: skip)",
            c->data.train, (unsigned long long)t->data.bad_lines, w->node.rank);
  PC_INFO("loaded partition %d/%u of %s: %zu examples, %zu non-zeros in %.2f s", w->node.rank,
          w->node.num_workers, c->data.train, t->data.n, t->data.nnz, pc_proc_now() - t0);
  t->order = malloc((t->data.n ? t->data.n : 1) * sizeof *t->order);
  if (t->order == NULL)
    return pc_err_set(err, PC_ENOMEM, "order of %zu examples", t->data.n);
  for (size_t i = 0; i < t->data.n; i++)
    t->order[i] = i;
  return PC_OK;
}

/* Tell the scheduler why this worker is exiting, so a run spread over
 * machines stops at once with the reason instead of waiting for silence. */
static void report_failure(pw_worker_t *w, const pc_err_t *why) {
  Parasol__Progress p = PARASOL__PROGRESS__INIT;
  p.error = (char *)(why->msg[0] ? why->msg : parasol_strerror(why->code));
  pc_err_t ignored;
  pc_node_send(&w->node, PC_OP_PROGRESS, &p, &ignored);
}

static void worker_free(pw_worker_t *w, pw_train_t *t) {
  pw_data_free(&t->data);
  pw_batch_free(&t->batch);
  free(t->order);
  free(t->w);
  free(t->grad);
  for (uint32_t s = 0; w->slices && s < w->nservers; s++) {
    free(w->slices[s].keys);
    free(w->slices[s].from);
    free(w->slices[s].vals);
  }
  for (uint32_t s = 0; w->socks && s < w->nservers; s++)
    if (w->socks[s])
      zmq_close(w->socks[s]);
  free(w->socks);
  free(w->slices);
  pc_node_close(&w->node);
  zmq_ctx_term(w->zctx);
}

int pw_worker_run(const pc_config_t *cfg, int rank_req, pc_err_t *err) {
  pw_worker_t w = {.cfg = cfg};
  pw_train_t t = {0};
  w.zctx = zmq_ctx_new();
  if (w.zctx == NULL)
    return pc_err_set(err, PC_ESYS, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
  int rc = pc_node_join(&w.node, w.zctx, cfg, PC_ROLE_WORKER, rank_req, NULL, err);
  if (rc == PC_OK) {
    pc_log_set_rank(w.node.rank);
    rc = connect_servers(&w, err);
  }
  if (rc == PC_OK)
    rc = load_partition(&w, &t, err);
  if (rc == PC_OK)
    rc = pc_node_barrier(&w.node, 1, err);
  if (rc == PC_OK)
    rc = run_epochs(&w, &t, err);
  if (rc == PC_OK)
    rc = send_progress(&w, &t, 1, err);
  if (rc == PC_OK)
    rc = await_end(&w, err);
  if (w.rejected)
    PC_WARN("%llu pushes were rejected by the servers", (unsigned long long)w.rejected);
  /* Stopped by the scheduler: it reports why; this worker did nothing wrong. */
  if (rc == PC_ECANCELED && w.stop) {
    PC_WARN("%s", err->msg);
    rc = PC_OK;
  } else if (rc != PC_OK && w.node.sched != NULL && w.node.rank >= 0) {
    report_failure(&w, err);
  }
  worker_free(&w, &t);
  return rc;
}
