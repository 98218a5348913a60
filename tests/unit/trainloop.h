/* A single-process stand-in for the cluster, shared by the model tests:
 * every table held whole in memory (initialized as the servers do, with
 * pc_table_init_row), a training loop that runs a model's ops exactly as
 * the worker does (batch_build -> pull -> batch_grad -> push), and pushes
 * applied per value with the servers' own update steps (ps_optim.h, L2
 * included; a table without `optimize` adds what is pushed). Sparse
 * tables remember which keys were pushed, so the model it hands to
 * predict holds only those, as a dump of the servers would. No cmocka:
 * functions return PC_OK or an error. */
#ifndef TEST_TRAINLOOP_H
#define TEST_TRAINLOOP_H

#include <stdlib.h>
#include <string.h>

#include "pw_model.h"
#include "pw_modelops.h"
#include "ps_optim.h"

typedef struct tl_table {
  pc_table_t spec;
  float *w, *s;           /* size * width values, AdaGrad state */
  unsigned char *pushed;  /* per key */
} tl_table_t;

typedef struct tl_run {
  const pw_model_ops_t *ops;
  void *state, *batch;
  size_t ntables;
  tl_table_t t[PC_TABLE_MAX];
  ps_optim_t opt;
  size_t *order;          /* shuffled row order */
  uint64_t rng;
} tl_run_t;

static inline void tl_dataset_free(pw_dataset_t *ds) {
  free(ds->label);
  free(ds->row);
  free(ds->idx);
  free(ds->val);
  memset(ds, 0, sizeof *ds);
}

static inline int tl_dataset_alloc(pw_dataset_t *ds, size_t n, size_t nnz) {
  memset(ds, 0, sizeof *ds);
  ds->label = malloc((n ? n : 1) * sizeof *ds->label);
  ds->row = calloc(n + 1, sizeof *ds->row);
  ds->idx = malloc((nnz ? nnz : 1) * sizeof *ds->idx);
  ds->val = malloc((nnz ? nnz : 1) * sizeof *ds->val);
  if (!ds->label || !ds->row || !ds->idx || !ds->val) {
    tl_dataset_free(ds);
    return PC_ENOMEM;
  }
  ds->n = n;
  return PC_OK;
}

/* A dataset from a row-major n x f matrix x and labels y. dense: every
 * value stored, zeros too (as the csv and idx readers do); otherwise the
 * non-zeros only (as LIBSVM). */
static inline int tl_dataset(pw_dataset_t *ds, const float *x, const float *y, size_t n, size_t f,
                      int dense) {
  if (tl_dataset_alloc(ds, n, n * f) != PC_OK)
    return PC_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < f; j++)
      if (dense || x[i * f + j] != 0.0f) {
        ds->idx[ds->nnz] = j;
        ds->val[ds->nnz++] = x[i * f + j];
        ds->max_index = j > ds->max_index ? j : ds->max_index;
      }
    ds->row[i + 1] = ds->nnz;
    ds->label[i] = y[i];
  }
  ds->shape.features = dense ? f : (ds->nnz ? ds->max_index + 1 : 0);
  ds->shape.dense = dense;
  return PC_OK;
}

/* Ratings as the ratings reader gives them: row i = {user[i], item[i]}
 * (values 1), label rating[i]. */
static inline int tl_ratings(pw_dataset_t *ds, const uint64_t *user, const uint64_t *item,
                      const float *rating, size_t n) {
  if (tl_dataset_alloc(ds, n, 2 * n) != PC_OK)
    return PC_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    ds->idx[2 * i] = user[i];
    ds->idx[2 * i + 1] = item[i];
    ds->val[2 * i] = ds->val[2 * i + 1] = 1.0f;
    ds->row[i + 1] = 2 * (i + 1);
    ds->label[i] = rating[i];
    uint64_t m = user[i] > item[i] ? user[i] : item[i];
    ds->max_index = m > ds->max_index ? m : ds->max_index;
  }
  ds->nnz = 2 * n;
  ds->shape.features = n ? ds->max_index + 1 : 0;
  return PC_OK;
}

static inline uint64_t tl_next(uint64_t *x) {
  *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
  return *x;
}

static inline void tl_free(tl_run_t *run) {
  for (size_t i = 0; i < run->ntables; i++) {
    free(run->t[i].w);
    free(run->t[i].s);
    free(run->t[i].pushed);
  }
  if (run->batch)
    run->ops->batch_free(run->batch);
  if (run->state)
    run->ops->fini(run->state);
  free(run->order);
  memset(run, 0, sizeof *run);
}

static inline int tl_new(tl_run_t *run, const pw_model_ops_t *ops, const pc_config_t *cfg,
                  const pw_dataset_t *ds, pc_err_t *err) {
  memset(run, 0, sizeof *run);
  run->ops = ops;
  pc_table_t tabs[PC_TABLE_MAX];
  int rc = ops->init(&run->state, cfg, &ds->shape, tabs, &run->ntables, err);
  if (rc != PC_OK)
    return rc;
  if ((rc = pc_table_check(tabs, run->ntables, err)) != PC_OK ||
      (rc = ops->batch_new(run->state, &run->batch, err)) != PC_OK) {
    tl_free(run);
    return rc;
  }
  run->opt = (ps_optim_t){.type = cfg->optimizer.type, .lr = (float)cfg->optimizer.lr,
                          .l2 = (float)cfg->optimizer.l2, .eps = (float)cfg->optimizer.eps,
                          .init_accum = (float)cfg->optimizer.init_accum};
  for (size_t i = 0; i < run->ntables; i++) {
    tl_table_t *t = &run->t[i];
    t->spec = tabs[i];
    size_t nv = (size_t)t->spec.size * t->spec.width;
    t->w = malloc(nv * sizeof *t->w);
    t->s = malloc(nv * sizeof *t->s);
    t->pushed = calloc((size_t)t->spec.size, 1);
    if (!t->w || !t->s || !t->pushed) {
      tl_free(run);
      return pc_err_set(err, PC_ENOMEM, "emulated table '%s'", t->spec.name);
    }
    for (uint64_t k = 0; k < t->spec.size; k++)
      pc_table_init_row(&t->spec, cfg->training.seed, k, t->w + k * t->spec.width);
    for (size_t v = 0; v < nv; v++)
      t->s[v] = run->opt.init_accum;
  }
  run->order = malloc((ds->n ? ds->n : 1) * sizeof *run->order);
  if (run->order == NULL) {
    tl_free(run);
    return pc_err_set(err, PC_ENOMEM, "row order");
  }
  for (size_t i = 0; i < ds->n; i++)
    run->order[i] = i;
  run->rng = cfg->training.seed * 2654435761u + 1;
  return PC_OK;
}

/* Local key of the k-th key of a request. */
static inline uint64_t tl_local(const pw_req_t *r, size_t k) {
  return r->range ? pc_table_local(r->begin) + k : pc_table_local(r->keys[k]);
}

static inline void tl_pull(tl_run_t *run, pw_req_t *r) {
  const tl_table_t *t = &run->t[r->table];
  for (size_t k = 0; k < r->nkeys; k++)
    memcpy(r->vals + k * r->width, t->w + tl_local(r, k) * r->width, r->width * sizeof(float));
}

static inline void tl_push(tl_run_t *run, const pw_req_t *r) {
  tl_table_t *t = &run->t[r->table];
  const ps_optim_t *o = &run->opt;
  for (size_t k = 0; k < r->nkeys; k++) {
    uint64_t key = tl_local(r, k);
    t->pushed[key] = 1;
    float *w = t->w + key * r->width, *s = t->s + key * r->width;
    const float *g = r->grad + k * r->width;
    for (uint32_t j = 0; j < r->width; j++) {
      if (!t->spec.optimize)
        w[j] += g[j];
      else if (o->type == PC_OPTIM_SGD)
        ps_optim_sgd_step(&w[j], g[j], o->lr, o->l2);
      else
        ps_optim_adagrad_step(&w[j], &s[j], g[j], o->lr, o->l2, o->eps);
    }
  }
}

/* Checks the worker's runtime would do: every request of its table. */
static inline int tl_check_reqs(const tl_run_t *run, const pw_req_t *r, size_t nr, pc_err_t *err) {
  for (size_t i = 0; i < nr; i++) {
    if (r[i].table >= run->ntables || r[i].width != run->t[r[i].table].spec.width)
      return pc_err_set(err, PC_EINVAL, "request %zu: table %u width %u", i, r[i].table,
                        r[i].width);
    for (size_t k = 0; k < r[i].nkeys; k++) {
      uint64_t g = r[i].range ? r[i].begin + k : r[i].keys[k];
      if (pc_table_of(g) != r[i].table || pc_table_local(g) >= run->t[r[i].table].spec.size)
        return pc_err_set(err, PC_EINVAL, "request %zu: key %llx outside table %u", i,
                          (unsigned long long)g, r[i].table);
    }
    if (r[i].range && r[i].end - r[i].begin != r[i].nkeys)
      return pc_err_set(err, PC_EINVAL, "request %zu: range of %zu keys", i, r[i].nkeys);
  }
  return PC_OK;
}

/* One pass over ds in a fresh shuffled order, in batches of `batch`:
 * *mean_loss = the summed loss / rows. */
static inline int tl_epoch(tl_run_t *run, const pw_dataset_t *ds, size_t batch, double *mean_loss,
                    pc_err_t *err) {
  for (size_t i = ds->n; i > 1; i--) {
    size_t j = (size_t)(tl_next(&run->rng) % i), tmp = run->order[i - 1];
    run->order[i - 1] = run->order[j];
    run->order[j] = tmp;
  }
  double total = 0;
  for (size_t at = 0; at < ds->n; at += batch) {
    size_t n = ds->n - at < batch ? ds->n - at : batch, nr = 0;
    pw_req_t r[PC_TABLE_MAX];
    double loss = 0;
    int rc = run->ops->batch_build(run->batch, ds, run->order + at, n, r, &nr, err);
    if (rc == PC_OK)
      rc = tl_check_reqs(run, r, nr, err);
    if (rc != PC_OK)
      return rc;
    for (size_t i = 0; i < nr; i++)
      tl_pull(run, &r[i]);
    if ((rc = run->ops->batch_grad(run->batch, ds, r, nr, &loss, err)) != PC_OK)
      return rc;
    for (size_t i = 0; i < nr; i++)
      tl_push(run, &r[i]);
    total += loss;
  }
  *mean_loss = ds->n ? total / (double)ds->n : 0;
  return PC_OK;
}

/* The trained model as worker 0 would collect it: dense tables whole,
 * sparse tables with the pushed keys only. m is freed with pw_model_free. */
static inline int tl_model(const tl_run_t *run, const pc_config_t *cfg, const pw_dataset_t *ds,
                    pw_model_t *m, pc_err_t *err) {
  memset(m, 0, sizeof *m);
  int rc = pw_model_describe(m, cfg, &ds->shape, err);
  if (rc != PC_OK)
    return rc;
  for (size_t i = 0; i < run->ntables; i++) {
    const tl_table_t *t = &run->t[i];
    pw_mtable_t *mt = &m->tables[i];
    size_t w = t->spec.width;
    mt->spec = t->spec;
    m->ntables = i + 1;
    mt->count = 0;
    for (uint64_t k = 0; k < t->spec.size; k++)
      mt->count += t->spec.kind == PC_TABLE_DENSE || t->pushed[k];
    mt->vals = malloc((mt->count ? mt->count : 1) * w * sizeof *mt->vals);
    if (t->spec.kind == PC_TABLE_SPARSE)
      mt->keys = malloc((mt->count ? mt->count : 1) * sizeof *mt->keys);
    if (mt->vals == NULL || (t->spec.kind == PC_TABLE_SPARSE && mt->keys == NULL)) {
      pw_model_free(m);
      return pc_err_set(err, PC_ENOMEM, "model table '%s'", t->spec.name);
    }
    uint64_t c = 0;
    for (uint64_t k = 0; k < t->spec.size; k++) {
      if (t->spec.kind == PC_TABLE_SPARSE && !t->pushed[k])
        continue;
      if (mt->keys)
        mt->keys[c] = k;
      memcpy(mt->vals + c * w, t->w + k * w, w * sizeof(float));
      c++;
    }
  }
  return PC_OK;
}

#endif
