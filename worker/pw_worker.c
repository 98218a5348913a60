#include "pw_worker.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parasol.pb-c.h"
#include "pc_log.h"
#include "pc_mem.h"
#include "pc_metrics.h"
#include "pc_node.h"
#include "pc_outdir.h"
#include "pc_proc.h"
#include "pc_wire.h"
#include "pw_collect.h"
#include "pw_data.h"
#include "pw_evaluate.h"
#include "pw_evalsteps.h"
#include "pw_init.h"
#include "pw_kv.h"
#include "pw_model.h"
#include "pw_modelops.h"
#include "pw_prepared.h"


typedef struct pw_worker {
  const pc_config_t *cfg;
  pw_kv_t *kv;
  pc_node_t *node;
  const pw_model_ops_t *ops;
  void *mstate;           /* the model's per-run state (ops->init) */
  pw_shape_t shape;       /* of the training data */
  pc_table_t tables[PC_TABLE_MAX];
  size_t ntables;         /* the model's */
  size_t nall;            /* with the moments table of data.standardize */
  pw_dataset_t all;       /* the whole training file, when read before joining */
  unsigned char *is_test; /* hold-out rows of `all` (data.test_fraction / test_rows) */
  pw_dataset_t test;      /* worker 0: the test set, read and checked before training */
  pw_dataset_t valid;     /* worker 0: data.valid, evaluated during training */
  pw_model_t init;        /* training.init: the model to start from, until worker 0 has
                           * pushed it; its transform stays in init_tf */
  pw_transform_t init_tf; /* training.init's transform (n == 0: none): the data's */
  pw_transform_t tf;      /* data.standardize: the training data's, from every worker;
                           * data.format prepared: the shards' (already applied) */
  char *recipe_json;      /* data.format prepared: the shards' recipe (owned), or NULL */
  size_t recipe_len;
  size_t train_rows;      /* rows of data.train left for training, over all workers (when
                           * read whole): training.eval_steps' steps come from it */
  uint64_t next_barrier;  /* the id of this worker's next barrier: every worker passes the
                           * same ones in the same order (1: ready) */
  /* worker 0, training.early_stop: the best evaluation so far and its model */
  double best_value;
  uint32_t best_epoch;
  uint64_t best_step;     /* 0: at the end of best_epoch; else inside it (training.eval_steps) */
  int since_best;         /* evaluations since the best */
  pw_model_t best;        /* owned; best.ntables == 0: none yet */
  pw_evaluate_tick_t tick;/* heartbeats during worker 0's evaluations */
} pw_worker_t;

/* An evaluation of a large validation or test set must not read as a silent
 * node: heartbeats go on between its chunks. */
static int evaluate_tick(void *arg, pc_err_t *err) { return pc_node_tick(arg, err); }

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

/* One mini-batch on its way: the model's batch context (keys, pulled
 * values, gradients) and the tickets of its pulls and of its pushes sent
 * without a copy. Two of them let the next batch's pull overlap this
 * one's compute. */
typedef struct pw_slot {
  void *batch;
  pw_req_t reqs[PC_TABLE_MAX];
  size_t nreqs, nrows;
  uint64_t pull[PC_TABLE_MAX];
  uint64_t push[PC_TABLE_MAX]; /* 0: none */
} pw_slot_t;

typedef struct pw_train {
  pw_dataset_t data;
  size_t *order;
  pw_slot_t slot[2];
  double start, last_log, loss_sum;
  uint64_t samples, total_samples;
  uint64_t steps; /* minibatches pushed, over all epochs: this worker's clock */
  int epoch;
  pc_metric_t valid[PC_METRICS_MAX]; /* worker 0: this epoch's evaluation on data.valid */
  size_t nvalid;
  uint64_t valid_n;
  int stop;                          /* early stopping: no epoch after this one */
  uint64_t epoch_steps; /* training.eval_steps: the steps every worker counts per epoch */
  uint64_t eval_step;   /* the global step of the evaluation under way; 0: an epoch's end */
  uint64_t stop_step;   /* early stopping inside an epoch: at this step */
} pw_train_t;

/* A zero-copy push still reads the slot's gradient: wait before the
 * model rebuilds (and may reallocate) it. */
static int slot_settle(pw_worker_t *w, pw_slot_t *s, pc_err_t *err) {
  for (size_t i = 0; i < PC_TABLE_MAX; i++) {
    if (s->push[i] == 0)
      continue;
    int rc = pw_kv_wait(w->kv, s->push[i], err);
    s->push[i] = 0;
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

/* Build the batch of rows[0..n) and start pulling what it needs. */
static int slot_fetch(pw_worker_t *w, pw_train_t *t, pw_slot_t *s, const size_t *rows, size_t n,
                      pc_err_t *err) {
  int rc = slot_settle(w, s, err);
  if (rc == PC_OK)
    rc = w->ops->batch_build(s->batch, &t->data, rows, n, s->reqs, &s->nreqs, err);
  s->nrows = n;
  for (size_t i = 0; i < s->nreqs && rc == PC_OK; i++) {
    pw_req_t *q = &s->reqs[i];
    rc = q->range ? pw_kv_pull_range(w->kv, q->begin, q->end, q->vals, &s->pull[i], err)
                  : pw_kv_pull(w->kv, q->keys, q->nkeys, q->vals, &s->pull[i], err);
  }
  return rc;
}

/* Wait for the batch's values, compute its gradients, push them. */
static int slot_train(pw_worker_t *w, pw_train_t *t, pw_slot_t *s, pc_err_t *err) {
  int rc = PC_OK;
  for (size_t i = 0; i < s->nreqs && rc == PC_OK; i++)
    rc = pw_kv_wait(w->kv, s->pull[i], err);
  double loss = 0;
  if (rc == PC_OK)
    rc = w->ops->batch_grad(s->batch, &t->data, s->reqs, s->nreqs, &loss, err);
  if (rc != PC_OK)
    return rc;
  t->loss_sum += loss;
  t->samples += s->nrows;
  t->total_samples += s->nrows;
  /* The servers' learning-rate schedules read the sum of these clocks. */
  rc = pw_kv_set_clock(w->kv, t->steps++, err);
  for (size_t i = 0; i < s->nreqs && rc == PC_OK; i++) {
    pw_req_t *q = &s->reqs[i];
    rc = q->range ? pw_kv_push_range_nocopy(w->kv, q->begin, q->end, q->grad, &s->push[i], err)
                  : pw_kv_push(w->kv, q->keys, q->nkeys, q->grad, err);
  }
  return rc;
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
  Parasol__Metric pm[PC_METRICS_MAX], *pp[PC_METRICS_MAX];
  for (size_t i = 0; i < t->nvalid && !done; i++) {
    parasol__metric__init(&pm[i]);
    pm[i].name = (char *)t->valid[i].name;
    pm[i].value = t->valid[i].value;
    pp[i] = &pm[i];
  }
  p.n_valid = done ? 0 : t->nvalid;
  p.valid = pp;
  p.valid_n = t->valid_n;
  p.stop = t->stop;
  p.best_epoch = w->best_epoch;
  p.step = t->eval_step;
  p.best_step = w->best_step;
  return pc_node_send(w->node, PC_OP_PROGRESS, &p, err);
}

static int validate(pw_worker_t *w, pw_train_t *t, pc_err_t *err);
static int evaluate_here(pw_worker_t *w, pw_train_t *t, pc_err_t *err);

/* training.eval_steps: after batch b (1-based) of this epoch, the
 * evaluation every worker agrees falls here, if one does (a prefetched
 * pull is drained with the pushes before the barrier and kept). */
static int eval_inside(pw_worker_t *w, pw_train_t *t, size_t b, pc_err_t *err) {
  uint64_t every = w->cfg->training.eval_steps;
  if (!pw_evalsteps_due(every, t->epoch_steps, (uint64_t)t->epoch, b))
    return PC_OK;
  t->eval_step = pw_evalsteps_global(t->epoch_steps, (uint64_t)t->epoch, b);
  int rc = evaluate_here(w, t, err);
  if (rc == PC_OK && t->stop) {
    t->stop_step = t->eval_step;
    PC_INFO("early stopping in epoch %d at step %llu (training.early_stop)", t->epoch,
            (unsigned long long)t->eval_step);
  }
  t->eval_step = 0;
  t->nvalid = 0; /* those figures were this step's, not the epoch's */
  return rc;
}

/* One pass over the partition in shuffled mini-batches (left early when
 * an evaluation inside it stops the training). */
static int run_epoch(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  size_t bs = (size_t)w->cfg->training.batch, n = t->data.n;
  size_t nb = (n + bs - 1) / bs;
  int pre = w->cfg->training.prefetch;
#define ROWS(b) (t->order + (b) * bs), ((b) + 1 < nb ? bs : n - (b) * bs)
  int rc = nb ? slot_fetch(w, t, &t->slot[0], ROWS(0), err) : PC_OK;
  for (size_t b = 0; b < nb && rc == PC_OK && !t->stop; b++) {
    pw_slot_t *next = &t->slot[(b + 1) & 1];
    if (pre && b + 1 < nb)
      rc = slot_fetch(w, t, next, ROWS(b + 1), err);
    if (rc == PC_OK)
      rc = slot_train(w, t, &t->slot[b & 1], err);
    if (rc == PC_OK && !pre && b + 1 < nb)
      rc = slot_fetch(w, t, next, ROWS(b + 1), err);
    log_progress(w, t, b * bs + bs < n ? b * bs + bs : n, 0);
    if (rc == PC_OK)
      rc = eval_inside(w, t, b + 1, err);
  }
#undef ROWS
  return rc;
}

/* Whether this epoch ends with an evaluation on data.valid. */
static int validating(const pw_worker_t *w, int epoch) {
  const pc_config_t *c = w->cfg;
  return pc_config_validating(c) &&
         (epoch % c->training.eval_every == 0 || epoch == c->training.epochs);
}

/* An evaluation, at an epoch's end or inside it (t->eval_step > 0): every
 * worker's pushes are in (first barrier), worker 0 evaluates the model
 * while nobody pushes, then everyone goes on -- or stops, when worker 0
 * asked the scheduler to (early stopping), which the second barrier's
 * release says. At an epoch's end every worker reports the epoch; inside
 * it only worker 0 reports, its figures. Every worker passes the same
 * barriers: they all find the same evaluations (pw_evalsteps). */
static int evaluate_here(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  int stop = 0;
  int rc = pw_kv_wait_all(w->kv, err);
  if (rc == PC_OK)
    rc = pc_node_barrier(w->node, w->next_barrier++, err);
  if (rc == PC_OK && w->node->rank == 0)
    rc = validate(w, t, err);
  if (rc == PC_OK && (t->eval_step == 0 || w->node->rank == 0))
    rc = send_progress(w, t, 0, err);
  if (rc == PC_OK)
    rc = pc_node_barrier_flag(w->node, w->next_barrier++, &stop, err);
  t->stop = stop;
  return rc;
}

static int run_epochs(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  int rc = PC_OK;
  t->start = t->last_log = pc_proc_now();
  for (t->epoch = 1; t->epoch <= c->training.epochs && rc == PC_OK && !t->stop; t->epoch++) {
    t->samples = 0;
    t->loss_sum = 0;
    t->nvalid = 0;
    shuffle(t->order, t->data.n, c->training.seed * 1000003u + (uint64_t)w->node->rank * 7919u +
                                     (uint64_t)t->epoch);
    rc = run_epoch(w, t, err);
    if (rc == PC_OK)
      rc = pw_kv_wait_all(w->kv, err);
    if (rc == PC_OK)
      log_progress(w, t, t->data.n, 1);
    if (rc == PC_OK)
      rc = validating(w, t->epoch) && !t->stop ? evaluate_here(w, t, err)
                                               : send_progress(w, t, 0, err);
  }
  if (t->stop && t->stop_step == 0)
    PC_INFO("early stopping after epoch %d (training.early_stop)", t->epoch - 1);
  t->epoch--;
  t->nvalid = 0;
  return rc;
}

/* A copy of the standardization for a model kept apart (the best one). */
static int transform_copy(pw_transform_t *dst, const pw_transform_t *src, pc_err_t *err) {
  *dst = (pw_transform_t){0};
  if (src->n == 0)
    return PC_OK;
  dst->mean = malloc(src->n * sizeof *dst->mean);
  dst->inv_std = malloc(src->n * sizeof *dst->inv_std);
  if (dst->mean == NULL || dst->inv_std == NULL) {
    pw_transform_free(dst);
    return pc_err_set(err, PC_ENOMEM, "a copy of the transform of %llu features",
                      (unsigned long long)src->n);
  }
  memcpy(dst->mean, src->mean, src->n * sizeof *dst->mean);
  memcpy(dst->inv_std, src->inv_std, src->n * sizeof *dst->inv_std);
  dst->n = src->n;
  return PC_OK;
}

/* What a saved model carries beside its tables: the transform and the
 * recipe (copies: the best model and the last one each own theirs). */
static int model_extras(const pw_worker_t *w, pw_model_t *m, pc_err_t *err) {
  int rc = transform_copy(&m->tf, &w->tf, err);
  if (rc != PC_OK || w->recipe_json == NULL)
    return rc;
  if ((m->recipe_json = malloc(w->recipe_len + 1)) == NULL)
    return pc_err_set(err, PC_ENOMEM, "a copy of the recipe (%zu bytes)", w->recipe_len);
  memcpy(m->recipe_json, w->recipe_json, w->recipe_len + 1);
  m->recipe_len = w->recipe_len;
  return PC_OK;
}

/* training.early_stop: m is kept as the best model when its figure is
 * better than the best so far (taken: *m is then emptied); t->stop once
 * training.patience evaluations in a row have not been better. */
static int track_best(pw_worker_t *w, pw_train_t *t, pw_model_t *m, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  const char *name = pc_config_stop_metric_name(c->training.early_stop);
  double v = pc_metrics_get(t->valid, t->nvalid, name);
  if (!isfinite(v))
    return pc_err_set(err, PC_ECONFIG, "training.early_stop: %s is not among the validation "
                      "metrics of model.type %s", name, w->ops->name);
  int higher = pc_metric_direction(name) > 0;
  if (w->best_epoch == 0 || (higher ? v > w->best_value : v < w->best_value)) {
    int rc = model_extras(w, m, err);
    if (rc != PC_OK)
      return rc;
    pw_model_free(&w->best);
    w->best = *m;
    *m = (pw_model_t){0};
    w->best_value = v;
    w->best_epoch = (uint32_t)t->epoch;
    w->best_step = t->eval_step;
    w->since_best = 0;
    return PC_OK;
  }
  t->stop = ++w->since_best >= c->training.patience;
  return PC_OK;
}

/* Worker 0 at the end of an epoch, while no worker pushes: the model as it
 * is, evaluated on data.valid; the figures go in this epoch's progress. */
static int validate(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  pw_model_t m = {0};
  pw_evalres_t res = {0};
  int rc = pw_model_describe(&m, c, &w->shape, err);
  if (rc == PC_OK)
    rc = pw_collect_model(w->kv, w->tables, w->ntables, &m, err);
  if (rc == PC_OK)
    rc = pw_evaluate(w->ops, &m, &w->valid, &w->tick, &res, err);
  if (rc == PC_OK) {
    t->nvalid = res.nmetrics;
    memcpy(t->valid, res.metrics, res.nmetrics * sizeof *res.metrics);
    t->valid_n = res.n;
  } /* the scheduler logs the figures, with the early-stopping verdict */
  if (rc == PC_OK && c->training.early_stop != PC_STOP_NONE)
    rc = track_best(w, t, &m, err);
  pw_evalres_free(&res);
  pw_model_free(&m);
  return rc;
}

/* Worker 0's last job: collect the model, save it, evaluate it on the test
 * set, and report to the scheduler (an error travels in the report too).
 * With early stopping the best model is model.bin (and evaluated), the
 * last one model.last.bin. */
static int save_and_evaluate(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  char path[PC_PATH_MAX + 16], msg[PC_ERR_MSG_MAX] = "";
  pw_model_t m = {0};
  pw_evalres_t res = {0};
  pc_err_t e = {0};
  snprintf(path, sizeof path, "%s/model.bin", c->output.dir);
  int rc = pw_model_describe(&m, c, &w->shape, &e);
  if (rc == PC_OK)
    rc = pw_collect_model(w->kv, w->tables, w->ntables, &m, &e);
  if (rc == PC_OK)
    rc = model_extras(w, &m, &e);
  if (rc == PC_OK && w->best.ntables > 0) {
    char last[PC_PATH_MAX + 24];
    snprintf(last, sizeof last, "%s/model.last.bin", c->output.dir);
    char at[40] = "";
    if (w->best_step > 0)
      snprintf(at, sizeof at, ", step %llu", (unsigned long long)w->best_step);
    if ((rc = pw_model_save(&m, last, &e)) == PC_OK)
      PC_INFO("saved the last model to %s; model.bin is the best (epoch %u%s)", last,
              w->best_epoch, at);
    pw_model_free(&m);
    m = w->best;
    w->best = (pw_model_t){0};
  }
  if (rc == PC_OK && (rc = pw_model_save(&m, path, &e)) == PC_OK)
    PC_INFO("saved model to %s", path);
  if (rc == PC_OK && w->test.n)
    rc = pw_evaluate(w->ops, &m, &w->test, &w->tick, &res, &e);
  if (rc != PC_OK)
    snprintf(msg, sizeof msg, "%s", e.msg);
  int src = pw_evaluate_report(w->node, &res, w->test.bad_lines, path, msg, err);
  pw_evalres_free(&res);
  pw_model_free(&m);
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

static int holdout(const pc_config_t *c) {
  return c->data.test_fraction > 0 || c->data.test_rows > 0;
}

/* Whether some rows of data.train are held out: as the test set, the
 * validation set, or both. */
static int splits_rows(const pc_config_t *c) {
  return holdout(c) || c->data.valid_fraction > 0;
}

/* What each row of data.train is for (PW_ROW_*): the same on every worker,
 * which all read the whole file. */
static int draw_holdouts(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  size_t n = w->all.n;
  w->is_test = calloc(n ? n : 1, 1);
  if (w->is_test == NULL)
    return pc_err_set(err, PC_ENOMEM, "hold-out of %zu rows", n);
  int rc = PC_OK;
  if (holdout(c))
    rc = pw_data_holdout(n, c->data.test_fraction, c->data.test_rows, c->training.seed,
                         w->is_test, err);
  if (rc == PC_OK && c->data.valid_fraction > 0)
    rc = pw_data_holdout_valid(n, c->data.valid_fraction, c->training.seed, w->is_test, err);
  return rc;
}

/* The rows of `all` held out as `which` (PW_ROW_TEST, PW_ROW_VALID). */
static int take_heldout(pw_worker_t *w, unsigned char which, pw_dataset_t *out, pc_err_t *err) {
  size_t k = 0, *rows = malloc((w->all.n ? w->all.n : 1) * sizeof *rows);
  if (rows == NULL)
    return pc_err_set(err, PC_ENOMEM, "rows of %zu examples", w->all.n);
  for (size_t i = 0; i < w->all.n; i++)
    if (w->is_test[i] == which)
      rows[k++] = i;
  int rc = pw_data_subset(out, &w->all, rows, k, err);
  free(rows);
  return rc;
}

/* Whether the training file is read whole before joining: formats whose
 * reader cannot read a byte range, and any hold-out split (every worker
 * must see the same rows to agree on it); training.eval_steps too (every
 * worker must know the rows of all to agree on where the steps fall). */
static int read_whole(const pw_worker_t *w) {
  const pw_reader_t *r = pw_reader_find(w->cfg->data.format);
  return r == NULL || !r->partial || splits_rows(w->cfg) || w->cfg->training.eval_steps > 0;
}

static void warn_skipped(const char *path, const pw_dataset_t *d, const char *what) {
  if (d->bad_lines)
    PC_WARN("%s: skipped %llu malformed lines%s (data.on_error: skip)", path,
            (unsigned long long)d->bad_lines, what);
}

/* This worker's block of the rows left for training by the hold-out (all
 * of them without one), as pw_data_load splits a file. */
static int take_partition(pw_worker_t *w, pw_dataset_t *out, pc_err_t *err) {
  size_t n = w->all.n, k = 0;
  size_t *rows = malloc((n ? n : 1) * sizeof *rows);
  if (rows == NULL)
    return pc_err_set(err, PC_ENOMEM, "rows of %zu examples", n);
  for (size_t i = 0; i < n; i++)
    if (w->is_test == NULL || w->is_test[i] == PW_ROW_TRAIN)
      rows[k++] = i;
  w->train_rows = k;
  size_t p = (size_t)w->node->rank, np = w->node->num_workers;
  size_t b = k * p / np, e = k * (p + 1) / np;
  int rc = pw_data_subset(out, &w->all, rows + b, e - b, err);
  free(rows);
  return rc;
}

static int load_partition(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  double t0 = pc_proc_now();
  int rc;
  if (read_whole(w)) {
    rc = take_partition(w, &t->data, err);
    t->data.bad_lines = w->all.bad_lines;
    t->epoch_steps = pw_evalsteps_per_epoch(w->train_rows, w->node->num_workers,
                                            (uint64_t)c->training.batch);
  } else {
    pw_data_opts_t o;
    pw_data_opts_from_config(&o, c, w->ops->labels, c->data.labels, w->node->rank,
                             (int)w->node->num_workers);
    o.features = c->model.features;
    rc = pw_data_load(&t->data, c->data.format, c->data.train, &o, err);
  }
  if (rc != PC_OK)
    return rc;
  if (t->data.n == 0)
    return pc_err_set(err, PC_EDATA, "%s: partition %d of %u holds no examples (fewer examples "
                      "than workers, or every line skipped)", c->data.train, w->node->rank,
                      w->node->num_workers);
  warn_skipped(c->data.train, &t->data, " in this worker's partition");
  PC_INFO("loaded partition %d/%u of %s: %zu examples, %zu non-zeros in %.2f s", w->node->rank,
          w->node->num_workers, c->data.train, t->data.n, t->data.nnz, pc_proc_now() - t0);
  t->order = malloc((t->data.n ? t->data.n : 1) * sizeof *t->order);
  if (t->order == NULL)
    return pc_err_set(err, PC_ENOMEM, "order of %zu examples", t->data.n);
  for (size_t i = 0; i < t->data.n; i++)
    t->order[i] = i;
  for (int i = 0; i < 2; i++) {
    rc = w->ops->batch_new(w->mstate, &t->slot[i].batch, err);
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

static void train_free(pw_worker_t *w, pw_train_t *t) {
  pw_data_free(&t->data);
  free(t->order);
  for (int i = 0; i < 2; i++)
    if (t->slot[i].batch)
      w->ops->batch_free(t->slot[i].batch);
}

/* The test set: data.test, or the hold-out rows of data.train. Read and
 * checked before training rather than after it: a bad line there must not
 * cost a whole run. */
/* data.valid, as data.test is read (worker 0, before training). */
static int load_valid(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  pw_data_opts_t o;
  if (c->data.valid_fraction > 0) {
    int rc = take_heldout(w, PW_ROW_VALID, &w->valid, err);
    if (rc == PC_OK)
      PC_INFO("the validation set: %zu examples held out of %s (data.valid_fraction %g)",
              w->valid.n, c->data.train, c->data.valid_fraction);
    return rc;
  }
  pw_data_opts_from_config(&o, c, w->ops->labels, c->data.valid_labels, 0, 1);
  int rc = pw_data_load(&w->valid, c->data.format, c->data.valid, &o, err);
  if (rc == PC_OK && w->valid.n == 0)
    rc = pc_err_set(err, PC_EDATA, "%s (data.valid): no examples", c->data.valid);
  if (rc == PC_OK)
    warn_skipped(c->data.valid, &w->valid, "");
  if (rc == PC_OK)
    PC_INFO("the validation set: %zu examples from %s", w->valid.n, c->data.valid);
  return rc;
}

static int load_test(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  int rc;
  const char *name = c->data.test;
  if (holdout(c)) {
    rc = take_heldout(w, PW_ROW_TEST, &w->test, err);
    name = c->data.train;
  } else {
    pw_data_opts_t o;
    pw_data_opts_from_config(&o, c, w->ops->labels, c->data.test_labels, 0, 1);
    rc = pw_data_load(&w->test, c->data.format, c->data.test, &o, err);
    if (rc == PC_OK && w->test.n == 0)
      rc = pc_err_set(err, PC_EDATA, "%s (data.test): no examples", c->data.test);
    if (rc == PC_OK)
      warn_skipped(c->data.test, &w->test, "");
  }
  if (rc == PC_OK)
    PC_INFO("the test set: %zu examples%s%s", w->test.n, holdout(c) ? " held out of " : " from ",
            name);
  return rc;
}

/* The model's tables (and the moments table of data.standardize) for the
 * training data's shape: what this worker declares when it registers. */
static int declare_tables(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  int rc = w->ops->init(&w->mstate, c, &w->shape, w->tables, &w->ntables, err);
  if (rc == PC_OK)
    rc = pc_table_check(w->tables, w->ntables, err);
  w->nall = w->ntables;
  if (rc == PC_OK && c->data.standardize) {
    if (w->ntables == PC_TABLE_MAX)
      return pc_err_set(err, PC_EINVAL, "no room for the standardization table");
    /* per feature (sum, sum of squares); key `features` holds (rows, 0) */
    w->tables[w->nall] = (pc_table_t){.name = "moments", .id = (uint32_t)w->nall,
                                      .kind = PC_TABLE_DENSE, .size = w->shape.features + 1,
                                      .width = 2, .init = PC_INIT_ZEROS, .optimize = 0};
    w->nall++;
  }
  return rc;
}

/* data.format prepared: the shape, transform and recipe from the shards'
 * header (model.features and classes came from it already, through
 * pw_prep_config_fill). The rows are standardized as they are. */
static int prepared_header(pw_worker_t *w, pc_err_t *err) {
  pw_prep_info_t in;
  int rc = pw_prep_read_info(w->cfg->data.train, &in, err);
  if (rc != PC_OK)
    return pc_err_wrap(err, "data.train: ");
  if (in.shape.pairs != w->ops->pairs) {
    pw_prep_info_free(&in);
    return pc_err_set(err, PC_EDATA, "data.train: the shards of %s hold %s, model.type %s "
                      "trains on %s", w->cfg->data.train,
                      w->ops->pairs ? "feature rows" : "rating pairs (parasol prep --format "
                                                       "ratings)",
                      w->ops->name, w->ops->pairs ? "rating pairs: parasol prep --format ratings" :
                      "feature rows");
  }
  w->shape = in.shape;
  w->tf = in.tf;
  w->recipe_json = in.recipe_json;
  w->recipe_len = in.recipe_len;
  in.tf = (pw_transform_t){0};
  in.recipe_json = NULL;
  pw_prep_info_free(&in);
  return PC_OK;
}

/* Before joining: read the training file when it is read whole (its shape
 * decides the model's tables), draw the hold-out, declare the tables. */
static int before_join(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  w->ops = pw_model_ops_find(c->model.type);
  if (w->ops == NULL)
    return pc_err_set(err, PC_EINVAL, "model.type %d: no such model", (int)c->model.type);
  w->shape = (pw_shape_t){.features = c->model.features};
  int rc = c->data.format == PC_FORMAT_PREPARED ? prepared_header(w, err) : PC_OK;
  if (rc == PC_OK && read_whole(w)) {
    pw_data_opts_t o;
    pw_data_opts_from_config(&o, c, w->ops->labels, c->data.labels, 0, 1);
    if (c->data.format == PC_FORMAT_LIBSVM || c->data.format == PC_FORMAT_RATINGS)
      o.features = c->model.features;
    rc = pw_data_load(&w->all, c->data.format, c->data.train, &o, err);
    if (rc == PC_OK && c->data.format != PC_FORMAT_LIBSVM && c->data.format != PC_FORMAT_RATINGS)
      w->shape = w->all.shape;
    if (rc == PC_OK && w->all.n == 0)
      rc = pc_err_set(err, PC_EDATA, "%s (data.train): no examples", c->data.train);
  }
  if (rc == PC_OK && splits_rows(c))
    rc = draw_holdouts(w, err);
  if (rc == PC_OK)
    rc = declare_tables(w, err);
  if (rc == PC_OK && c->training.init[0] != '\0')
    rc = pw_init_load(&w->init, c, w->tables, w->ntables, w->shape.features, err);
  return rc;
}

/* training.init: worker 0 assigns the model's values on the servers and
 * waits for them before the ready barrier, which no worker passes (and
 * so pulls) before then. Every worker keeps the model's transform. */
static int load_init(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  int rc = PC_OK;
  if (c->training.init[0] == '\0')
    return PC_OK;
  if (w->node->rank == 0)
    rc = pw_init_push(w->kv, &w->init, err);
  if (rc == PC_OK && w->node->rank == 0)
    PC_INFO("the servers hold the model of %s (training.init: %zu table%s); the optimizer "
            "state starts afresh", c->training.init, w->init.ntables,
            w->init.ntables == 1 ? "" : "s");
  w->init_tf = w->init.tf;
  w->init.tf = (pw_transform_t){0};
  pw_model_free(&w->init);
  return rc;
}

static void apply_transform(pw_worker_t *w, pw_train_t *t) {
  pw_data_apply_transform(&t->data, &w->tf);
  pw_data_apply_transform(&w->test, &w->tf);
  pw_data_apply_transform(&w->valid, &w->tf);
}

/* training.init with a transform: the model's weights fit features
 * standardized by it, so the new data is read with it (not with its own
 * moments) and the new model keeps it. */
static void take_model_transform(pw_worker_t *w, pw_train_t *t) {
  pw_transform_free(&w->tf);
  w->tf = w->init_tf;
  w->init_tf = (pw_transform_t){0};
  apply_transform(w, t);
  PC_INFO("standardized %llu features with the transform of %s (training.init)",
          (unsigned long long)w->tf.n, w->cfg->training.init);
}

/* training.init on prepared data: the shards are already standardized, so
 * the model's weights fit them only if prep used the model's transform. */
static int check_prepared_transform(pw_worker_t *w, pc_err_t *err) {
  const pw_transform_t *a = &w->tf, *b = &w->init_tf;
  int same = pw_transform_equal(a, b);
  pw_transform_free(&w->init_tf);
  if (same)
    return PC_OK;
  return pc_err_set(err, PC_EDATA, "training.init %s: the model standardizes its features with "
                    "other statistics than the shards of %s (a different parasol prep run); "
                    "fine-tune on the model's own prepared data, or train from scratch",
                    w->cfg->training.init, w->cfg->data.train);
}

/* data.standardize: every worker adds its partition's moments into the
 * moments table (a table without an optimizer adds what is pushed), all
 * wait at a barrier, then read the totals: the mean and variance of the
 * whole training set, which the model file keeps. */
static int standardize(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  uint64_t nf = w->shape.features, id = w->nall - 1;
  double *sum = calloc(nf, sizeof *sum), *sq = calloc(nf, sizeof *sq), count = 0;
  float *v = calloc((nf + 1) * 2, sizeof *v);
  int rc = sum && sq && v ? PC_OK : pc_err_set(err, PC_ENOMEM, "moments of %llu features",
                                               (unsigned long long)nf);
  uint64_t ticket;
  if (rc == PC_OK) {
    pw_data_moments(&t->data, nf, sum, sq, &count);
    for (uint64_t f = 0; f < nf; f++) {
      v[2 * f] = (float)sum[f];
      v[2 * f + 1] = (float)sq[f];
    }
    v[2 * nf] = (float)count;
    rc = pw_kv_push_range(w->kv, pc_table_key((uint32_t)id, 0), pc_table_key((uint32_t)id, nf + 1),
                          v, err);
  }
  if (rc == PC_OK)
    rc = pw_kv_wait_all(w->kv, err);
  if (rc == PC_OK)
    rc = pc_node_barrier(w->node, w->next_barrier++, err);
  if (rc == PC_OK)
    rc = pw_kv_pull_range(w->kv, pc_table_key((uint32_t)id, 0),
                          pc_table_key((uint32_t)id, nf + 1), v, &ticket, err);
  if (rc == PC_OK)
    rc = pw_kv_wait(w->kv, ticket, err);
  for (uint64_t f = 0; rc == PC_OK && f < nf; f++) {
    sum[f] = v[2 * f];
    sq[f] = v[2 * f + 1];
  }
  if (rc == PC_OK && w->init_tf.n == 0)
    rc = pw_transform_from_moments(&w->tf, nf, sum, sq, v[2 * nf], err);
  if (rc == PC_OK && w->init_tf.n == 0) {
    apply_transform(w, t);
    PC_INFO("standardized %llu features over %.0f training examples", (unsigned long long)nf,
            (double)v[2 * nf]);
  }
  free(sum);
  free(sq);
  free(v);
  return rc;
}

int pw_worker_config_tables(const pc_config_t *cfg, pc_table_t *tables, size_t *n,
                            pc_err_t *err) {
  const pw_model_ops_t *ops = pw_model_ops_find(cfg->model.type);
  pw_shape_t shape = {.features = cfg->model.features};
  void *st = NULL;
  *n = 0;
  if (ops == NULL)
    return pc_err_set(err, PC_EINVAL, "model.type %d: no such model", (int)cfg->model.type);
  int rc = ops->init(&st, cfg, &shape, tables, n, err);
  if (rc == PC_OK)
    ops->fini(st);
  return rc;
}

uint64_t pw_worker_model_bytes(const pc_config_t *cfg) {
  pc_table_t tables[PC_TABLE_MAX];
  size_t n = 0;
  pc_err_t e = {0};
  /* a model whose tables need the data's shape (images) is small: 0 */
  if (pw_worker_config_tables(cfg, tables, &n, &e) != PC_OK)
    return 0;
  return pw_collect_dense_bytes(tables, n);
}

static int check_model_room(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  char what[160];
  snprintf(what, sizeof what, "saving the model's dense tables (model.features=%llu) on "
           "worker 0", (unsigned long long)c->model.features);
  return pc_proc_check_memory(pw_collect_dense_bytes(w->tables, w->ntables),
                              pc_proc_mem_available(), what,
                              "; use model.layout: sparse or fewer features", err);
}

/* Worker 0 writes model.bin into output.dir on its own host: that must be
 * writable, and an earlier run's model must not pass for this run's. */
static const char *const model_outputs[] = {"model.bin", "model.last.bin"};

static int prepare(pw_worker_t *w, pc_err_t *err) {
  const pc_config_t *c = w->cfg;
  char name[32];
  snprintf(name, sizeof name, "worker-%d", w->node->rank);
  int rc = pc_outdir_check(c->output.dir, err);
  if (rc == PC_OK)
    rc = pc_log_to_file(c->output.dir, name, err);
  if (rc != PC_OK || w->node->rank != 0)
    return rc;
  rc = pc_outdir_retire(c->output.dir, model_outputs, 2, NULL, err);
  if (rc == PC_OK)
    rc = check_model_room(w, err);
  if (rc == PC_OK && (c->data.test[0] != '\0' || holdout(c)))
    rc = load_test(w, err);
  if (rc == PC_OK && pc_config_validating(c))
    rc = load_valid(w, err);
  return rc;
}

static int train(pw_worker_t *w, pw_train_t *t, pc_err_t *err) {
  int rc = prepare(w, err);
  if (rc == PC_OK)
    rc = load_partition(w, t, err);
  if (rc == PC_OK) { /* what was read whole is now split */
    pw_data_free(&w->all);
    free(w->is_test);
    w->is_test = NULL;
  }
  if (rc == PC_OK)
    rc = load_init(w, err);
  if (rc == PC_OK)
    rc = pc_node_barrier(w->node, w->next_barrier++, err);
  /* With data.standardize the moments are pushed even when training.init
   * brings a transform: the barriers stay the same on every worker. */
  if (rc == PC_OK && w->cfg->data.standardize)
    rc = standardize(w, t, err);
  if (rc == PC_OK && w->cfg->training.init[0] && w->cfg->data.format == PC_FORMAT_PREPARED)
    rc = check_prepared_transform(w, err);
  else if (rc == PC_OK && w->init_tf.n > 0)
    take_model_transform(w, t);
  if (rc == PC_OK)
    rc = run_epochs(w, t, err);
  if (rc == PC_OK)
    rc = send_progress(w, t, 1, err);
  if (rc == PC_OK)
    rc = await_end(w, err);
  return rc;
}

static void worker_free(pw_worker_t *w) {
  pw_data_free(&w->all);
  pw_data_free(&w->test);
  pw_data_free(&w->valid);
  pw_model_free(&w->best);
  pw_model_free(&w->init);
  pw_transform_free(&w->init_tf);
  free(w->is_test);
  pw_transform_free(&w->tf);
  free(w->recipe_json);
  if (w->mstate)
    w->ops->fini(w->mstate);
}

int pw_worker_run(const pc_config_t *cfg, int rank_req, pc_err_t *err) {
  pw_worker_t w = {.cfg = cfg, .next_barrier = 1};
  pw_train_t t = {0};
  int rc = pc_proc_catch_stop(err);
  if (rc == PC_OK)
    rc = before_join(&w, err);
  if (rc == PC_OK)
    rc = pw_kv_open(&w.kv, cfg, rank_req, w.tables, w.nall, err);
  if (rc == PC_OK) {
    w.node = pw_kv_node(w.kv);
    w.tick = (pw_evaluate_tick_t){evaluate_tick, w.node};
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
  else if (rc != PC_OK && w.kv == NULL && !pc_proc_stop_signal())
    pc_node_abandon(cfg, PC_ROLE_WORKER, err->msg[0] ? err->msg : parasol_strerror(rc));
  train_free(&w, &t);
  pw_kv_close(&w.kv);
  worker_free(&w);
  return rc;
}
