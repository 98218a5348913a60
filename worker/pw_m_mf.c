/* Matrix factorization for ratings (biased MF, as Koren's "SVD"):
 *   r(u, i) ~ mu + b_u + b_i + p_u . q_i
 * with the squared loss 0.5 (prediction - rating)^2. A ratings row holds
 * idx[0] = user u, idx[1] = item i, both < model.features. Users and items
 * share one key space: user u is local key 2u, item i is 2i + 1.
 *
 * Tables (docs/models.md says why):
 *   0 "emb"  sparse, size 2 features, width rank, N(0, init_scale^2):
 *            p_u / q_i; a symmetric start (zeros) would never move.
 *   1 "bias" sparse, size 2 features, width 1, zeros: b_u / b_i.
 *   2 "mean" dense, size 1, width 2, not optimized (pushes add): the sum
 *            of ratings and their count; mu = sum / count. Every batch
 *            adds its ratings, so after any number of whole passes mu is
 *            exactly the training mean, over all workers, never shrunk
 *            by L2 and never waiting for a learning rate to get there.
 * Regularization is the servers' L2 (optimizer.l2) on the keys a batch
 * touches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pc_mem.h"
#include "pw_batch.h"
#include "pw_model.h"
#include "pw_modelops.h"

enum { MF_EMB = 0, MF_BIAS = 1, MF_MEAN = 2, MF_TABLES = 3 };

typedef struct mf_state {
  uint64_t features; /* user and item ids are below it */
  uint32_t rank;
} mf_state_t;

typedef struct mf_batch {
  const mf_state_t *st;
  pw_batch_t b;        /* over the local keys 2u, 2i + 1 */
  const size_t *rows;  /* the caller's rows (b.rows is ident) */
  /* the batch's examples as a dataset of local keys: row r = {2u, 2i+1} */
  pw_dataset_t keyed;
  size_t *ident;       /* 0..n-1 */
  size_t cap_rows;     /* rows that keyed/ident hold */
  uint64_t *bias_keys; /* global keys of table "bias" */
  float *emb, *gemb, *bias, *gbias;
  size_t cap_keys, cap_bias, cap_gbias; /* what bias_keys, bias, gbias hold */
  size_t cap_emb, cap_gemb;
  float mean[2], gmean[2];
} mf_batch_t;

static int mf_init(void **state, const pc_config_t *cfg, const pw_shape_t *shape,
                   pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  if (shape->features > cfg->model.features)
    return pc_err_set(err, PC_EINVAL,
                      "model.features: %llu, but the data has user or item id %llu (ids must "
                      "be below model.features)",
                      (unsigned long long)cfg->model.features,
                      (unsigned long long)shape->features - 1);
  if (cfg->model.rank < 1 || (uint64_t)cfg->model.rank > PC_TABLE_MAX_WIDTH)
    return pc_err_set(err, PC_EINVAL, "model.rank: %d, expected 1..%u", cfg->model.rank,
                      PC_TABLE_MAX_WIDTH);
  if (cfg->model.features > (UINT64_C(1) << (PC_TABLE_SHIFT - 1)))
    return pc_err_set(err, PC_EINVAL, "model.features: %llu, mf takes at most 2^%d ids",
                      (unsigned long long)cfg->model.features, PC_TABLE_SHIFT - 1);
  mf_state_t *st = calloc(1, sizeof *st);
  if (st == NULL)
    return pc_err_set(err, PC_ENOMEM, "mf model state");
  st->features = cfg->model.features;
  st->rank = (uint32_t)cfg->model.rank;
  uint64_t size = 2 * cfg->model.features;
  tables[MF_EMB] = (pc_table_t){.name = "emb", .id = MF_EMB, .kind = PC_TABLE_SPARSE,
                                .size = size, .width = st->rank, .init = PC_INIT_NORMAL,
                                .scale = (float)cfg->model.init_scale, .optimize = 1};
  tables[MF_BIAS] = (pc_table_t){.name = "bias", .id = MF_BIAS, .kind = PC_TABLE_SPARSE,
                                 .size = size, .width = 1, .init = PC_INIT_ZEROS, .optimize = 1};
  tables[MF_MEAN] = (pc_table_t){.name = "mean", .id = MF_MEAN, .kind = PC_TABLE_DENSE,
                                 .size = 1, .width = 2, .init = PC_INIT_ZEROS, .optimize = 0};
  *ntables = MF_TABLES;
  *state = st;
  return PC_OK;
}

static void mf_fini(void *state) { free(state); }

static int mf_batch_new(void *state, void **batch, pc_err_t *err) {
  mf_batch_t *b = calloc(1, sizeof *b);
  if (b == NULL)
    return pc_err_set(err, PC_ENOMEM, "mf batch");
  b->st = state;
  *batch = b;
  return PC_OK;
}

static void mf_batch_free(void *batch) {
  mf_batch_t *b = batch;
  if (b == NULL)
    return;
  pw_batch_free(&b->b);
  free(b->keyed.row);
  free(b->keyed.idx);
  free(b->keyed.val);
  free(b->ident);
  free(b->bias_keys);
  free(b->emb);
  free(b->gemb);
  free(b->bias);
  free(b->gbias);
  free(b);
}

/* Make room for n examples' local keys. */
static int mf_reserve_rows(mf_batch_t *b, size_t n) {
  if (n <= b->cap_rows)
    return PC_OK;
  size_t *row = realloc(b->keyed.row, (n + 1) * sizeof *row);
  if (row)
    b->keyed.row = row;
  uint64_t *idx = realloc(b->keyed.idx, 2 * n * sizeof *idx);
  if (idx)
    b->keyed.idx = idx;
  float *val = realloc(b->keyed.val, 2 * n * sizeof *val);
  if (val)
    b->keyed.val = val;
  size_t *ident = realloc(b->ident, n * sizeof *ident);
  if (ident)
    b->ident = ident;
  if (!row || !idx || !val || !ident)
    return PC_ENOMEM;
  for (size_t r = 0; r < n; r++) {
    row[r] = 2 * r;
    val[2 * r] = val[2 * r + 1] = 1.0f;
    ident[r] = r;
  }
  row[n] = 2 * n;
  b->cap_rows = n;
  return PC_OK;
}

/* keyed row r = {2u, 2i + 1} of example rows[r], checked. */
static int mf_key_rows(mf_batch_t *b, const pw_dataset_t *ds, const size_t *rows, size_t n,
                       pc_err_t *err) {
  if (mf_reserve_rows(b, n) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "mf batch of %zu ratings", n);
  const uint64_t f = b->st->features;
  for (size_t r = 0; r < n; r++) {
    size_t beg = ds->row[rows[r]];
    if (ds->row[rows[r] + 1] - beg != 2)
      return pc_err_set(err, PC_EINVAL, "mf: example %zu has %zu entries, expected a rating "
                        "(user, item)", rows[r], ds->row[rows[r] + 1] - beg);
    uint64_t u = ds->idx[beg], i = ds->idx[beg + 1];
    if (u >= f || i >= f)
      return pc_err_set(err, PC_EINVAL, "mf: example %zu: user %llu, item %llu, but ids must "
                        "be below model.features %llu", rows[r], (unsigned long long)u,
                        (unsigned long long)i, (unsigned long long)f);
    b->keyed.idx[2 * r] = 2 * u;
    b->keyed.idx[2 * r + 1] = 2 * i + 1;
  }
  b->keyed.n = n;
  b->keyed.nnz = 2 * n;
  return PC_OK;
}

static int mf_reserve_keys(mf_batch_t *b, size_t nkeys) {
  size_t ne = nkeys * b->st->rank;
  if (ne / b->st->rank != nkeys ||
      pc_mem_reserve((void **)&b->emb, &b->cap_emb, ne, sizeof *b->emb) != PC_OK ||
      pc_mem_reserve((void **)&b->gemb, &b->cap_gemb, ne, sizeof *b->gemb) != PC_OK ||
      pc_mem_reserve((void **)&b->bias_keys, &b->cap_keys, nkeys, sizeof *b->bias_keys) !=
          PC_OK ||
      pc_mem_reserve((void **)&b->bias, &b->cap_bias, nkeys, sizeof *b->bias) != PC_OK ||
      pc_mem_reserve((void **)&b->gbias, &b->cap_gbias, nkeys, sizeof *b->gbias) != PC_OK)
    return PC_ENOMEM;
  return PC_OK;
}

static int mf_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                          pw_req_t *reqs, size_t *nreqs, pc_err_t *err) {
  mf_batch_t *b = batch;
  int rc = mf_key_rows(b, ds, rows, n, err);
  if (rc != PC_OK)
    return rc;
  if ((rc = pw_batch_build(&b->b, &b->keyed, b->ident, n, UINT64_MAX, err)) != PC_OK)
    return rc;
  size_t nk = b->b.nkeys;
  if (mf_reserve_keys(b, nk) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "mf batch of %zu keys", nk);
  for (size_t k = 0; k < nk; k++)
    b->bias_keys[k] = pc_table_key(MF_BIAS, b->b.keys[k]);
  b->rows = rows;
  reqs[MF_EMB] = (pw_req_t){.table = MF_EMB, .width = b->st->rank, .keys = b->b.keys,
                            .nkeys = nk, .vals = b->emb, .grad = b->gemb};
  reqs[MF_BIAS] = (pw_req_t){.table = MF_BIAS, .width = 1, .keys = b->bias_keys, .nkeys = nk,
                             .vals = b->bias, .grad = b->gbias};
  reqs[MF_MEAN] = (pw_req_t){.table = MF_MEAN, .width = 2, .range = 1,
                             .begin = pc_table_key(MF_MEAN, 0), .end = pc_table_key(MF_MEAN, 1),
                             .nkeys = 1, .vals = b->mean, .grad = b->gmean};
  *nreqs = MF_TABLES;
  return PC_OK;
}

/* mu from the pulled (sum, count); before any batch has added to it, the
 * batch's own mean rating. */
static double mf_mean(const float *sc, const pw_dataset_t *ds, const size_t *rows, size_t n) {
  if (sc[1] >= 1.0f)
    return (double)sc[0] / sc[1];
  double s = 0;
  for (size_t r = 0; r < n; r++)
    s += ds->label[rows[r]];
  return n ? s / (double)n : 0.0;
}

static double mf_dot(const float *p, const float *q, uint32_t rank) {
  double d = 0;
  for (uint32_t c = 0; c < rank; c++)
    d += (double)p[c] * q[c];
  return d;
}

static int mf_batch_grad(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                         double *loss, pc_err_t *err) {
  mf_batch_t *b = batch;
  const uint32_t R = b->st->rank;
  const size_t n = b->b.nrows, nk = b->b.nkeys;
  if (nreqs != MF_TABLES)
    return pc_err_set(err, PC_EINVAL, "mf: %zu requests, expected %d", nreqs, MF_TABLES);
  const float *emb = reqs[MF_EMB].vals, *bias = reqs[MF_BIAS].vals;
  float *gemb = reqs[MF_EMB].grad, *gbias = reqs[MF_BIAS].grad;
  memset(gemb, 0, nk * R * sizeof *gemb);
  memset(gbias, 0, nk * sizeof *gbias);
  double mu = mf_mean(reqs[MF_MEAN].vals, ds, b->rows, n), sum = 0, ysum = 0;
  for (size_t r = 0; r < n; r++) {
    uint32_t su = b->b.slot[2 * r], si = b->b.slot[2 * r + 1];
    const float *p = emb + (size_t)su * R, *q = emb + (size_t)si * R;
    float y = ds->label[b->rows[r]];
    double e = mu + bias[su] + bias[si] + mf_dot(p, q, R) - y;
    sum += 0.5 * e * e;
    ysum += y;
    float *gp = gemb + (size_t)su * R, *gq = gemb + (size_t)si * R;
    for (uint32_t c = 0; c < R; c++) {
      gp[c] += (float)(e * q[c]);
      gq[c] += (float)(e * p[c]);
    }
    gbias[su] += (float)e;
    gbias[si] += (float)e;
  }
  float scale = n ? 1.0f / (float)n : 0.0f;
  for (size_t k = 0; k < nk * R; k++)
    gemb[k] *= scale;
  for (size_t k = 0; k < nk; k++)
    gbias[k] *= scale;
  /* not a gradient: table "mean" adds what is pushed */
  reqs[MF_MEAN].grad[0] = (float)ysum;
  reqs[MF_MEAN].grad[1] = (float)n;
  *loss = sum;
  return PC_OK;
}

static size_t mf_outputs(const pw_model_t *m) {
  (void)m;
  return 1;
}

static int mf_predict(const pw_model_t *m, const pw_dataset_t *ds, const size_t *rows, size_t n,
                      float *out, pc_err_t *err) {
  if (m->ntables != MF_TABLES || m->tables[MF_BIAS].spec.width != 1 ||
      m->tables[MF_MEAN].spec.width != 2 ||
      m->tables[MF_BIAS].spec.size != m->tables[MF_EMB].spec.size)
    return pc_err_set(err, PC_EINVAL, "mf model: expected tables emb, bias and mean");
  const uint32_t R = m->tables[MF_EMB].spec.width;
  const uint64_t f = m->tables[MF_EMB].spec.size / 2;
  const float *sc = pw_model_row(m, MF_MEAN, 0);
  double mu = sc && sc[1] >= 1.0f ? (double)sc[0] / sc[1] : 0.0;
  for (size_t r = 0; r < n; r++) {
    size_t i = rows ? rows[r] : r, beg = ds->row[i];
    if (ds->row[i + 1] - beg != 2)
      return pc_err_set(err, PC_EINVAL, "mf: example %zu has %zu entries, expected a rating "
                        "(user, item)", i, ds->row[i + 1] - beg);
    /* an id never trained (or beyond the model) reads as zeros */
    uint64_t ku = 2 * ds->idx[beg], ki = 2 * ds->idx[beg + 1] + 1;
    const float *p = ds->idx[beg] < f ? pw_model_row(m, MF_EMB, ku) : NULL;
    const float *q = ds->idx[beg + 1] < f ? pw_model_row(m, MF_EMB, ki) : NULL;
    const float *bu = ds->idx[beg] < f ? pw_model_row(m, MF_BIAS, ku) : NULL;
    const float *bi = ds->idx[beg + 1] < f ? pw_model_row(m, MF_BIAS, ki) : NULL;
    double z = mu + (bu ? *bu : 0.0) + (bi ? *bi : 0.0);
    if (p && q)
      z += mf_dot(p, q, R);
    out[r] = (float)z;
  }
  return PC_OK;
}

const pw_model_ops_t pw_m_mf = {
    .name = "mf",
    .type = PC_MODEL_MF,
    .pairs = 1,
    .labels = PW_LABEL_REAL,
    .init = mf_init,
    .fini = mf_fini,
    .batch_new = mf_batch_new,
    .batch_free = mf_batch_free,
    .batch_build = mf_batch_build,
    .batch_grad = mf_batch_grad,
    .outputs = mf_outputs,
    .predict = mf_predict,
};
