#include "pw_net.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_layers.h"
#include "pw_model.h"

/* ---- architecture ---- */

/* The dense layers model.hidden then the output layer, from `in` inputs. */
static int dense_stack(pw_net_t *net, const pc_config_t *cfg, uint64_t in, pc_err_t *err) {
  int k = cfg->model.classes, nh = cfg->model.nhidden;
  if (k < 2 || (uint64_t)k > PC_TABLE_MAX_WIDTH)
    return pc_err_set(err, PC_ECONFIG, "model.classes: %d; the %s model needs 2 to %u classes",
                      k, pc_config_model_name(cfg->model.type), PC_TABLE_MAX_WIDTH);
  if (nh < 0 || nh > PC_MAX_HIDDEN)
    return pc_err_set(err, PC_ECONFIG, "model.hidden: %d layers, at most %d", nh, PC_MAX_HIDDEN);
  net->ndense = (size_t)nh + 1;
  net->dim[0] = in;
  for (int l = 0; l < nh; l++) {
    if (cfg->model.hidden[l] < 1 || (uint64_t)cfg->model.hidden[l] > PC_TABLE_MAX_WIDTH)
      return pc_err_set(err, PC_ECONFIG, "model.hidden[%d]: %d units, expected 1..%u", l,
                        cfg->model.hidden[l], PC_TABLE_MAX_WIDTH);
    net->dim[l + 1] = (uint64_t)cfg->model.hidden[l];
  }
  net->dim[nh + 1] = (uint64_t)k;
  for (size_t l = 0; l < net->ndense; l++)
    if (net->dim[l] >= PW_NET_MAX_LAYER || (net->dim[l] + 1) * net->dim[l + 1] > PW_NET_MAX_LAYER) {
      char field[32];
      snprintf(field, sizeof field, l + 1 < net->ndense ? "model.hidden[%zu]" : "model.classes", l);
      return pc_err_set(err, PC_ECONFIG, "%s: a layer of %llu inputs and %llu units exceeds 2^28 "
                        "values", field, (unsigned long long)net->dim[l],
                        (unsigned long long)net->dim[l + 1]);
    }
  return PC_OK;
}

int pw_net_mlp(pw_net_t *net, const pc_config_t *cfg, const pw_shape_t *shape, pc_err_t *err) {
  memset(net, 0, sizeof *net);
  if (cfg->model.nconv != 0)
    return pc_err_set(err, PC_ECONFIG, "model.conv: only the cnn model has convolution layers");
  if (shape->features == 0)
    return pc_err_set(err, PC_EDATA, "the training data has no features");
  net->in = shape->features;
  return dense_stack(net, cfg, shape->features, err);
}

/* Layer i of model.conv on maps h x w x c. */
static int conv_layer(pw_net_conv_t *cv, const pc_conv_t *pc, int i, uint32_t h, uint32_t w,
                      uint32_t c, pc_err_t *err) {
  if (pc->filters < 1 || pc->filters > 1024 || pc->size < 1 || pc->size > 15)
    return pc_err_set(err, PC_ECONFIG, "model.conv[%d]: filters %d (1..1024), size %d (1..15)",
                      i, pc->filters, pc->size);
  uint32_t k = (uint32_t)pc->size;
  if (k > h || k > w || (h - k + 1) / 2 < 1 || (w - k + 1) / 2 < 1)
    return pc_err_set(err, PC_ECONFIG, "model.conv[%d]: a %ux%u kernel on %ux%u maps leaves less "
                      "than 1x1 after 2x2 pooling", i, k, k, h, w);
  *cv = (pw_net_conv_t){.h = h, .w = w, .c = c, .k = k, .f = (uint32_t)pc->filters,
                        .oh = h - k + 1, .ow = w - k + 1};
  cv->ph = cv->oh / 2;
  cv->pw = cv->ow / 2;
  return PC_OK;
}

int pw_net_cnn(pw_net_t *net, const pc_config_t *cfg, const pw_shape_t *shape, pc_err_t *err) {
  memset(net, 0, sizeof *net);
  uint32_t h = shape->height, w = shape->width, c = shape->channels;
  if (h == 0 || w == 0 || c == 0)
    return pc_err_set(err, PC_ECONFIG, "data.format: the cnn model needs images (idx image "
                      "files, or csv rows of side x side pixels); this data has %llu features "
                      "and no image shape", (unsigned long long)shape->features);
  if ((uint64_t)h * w * c != shape->features)
    return pc_err_set(err, PC_EDATA, "the data's %ux%ux%u images have %llu values, but its rows "
                      "have %llu features", h, w, c, (unsigned long long)h * w * c,
                      (unsigned long long)shape->features);
  if (cfg->model.nconv < 1 || cfg->model.nconv > PC_MAX_CONV)
    return pc_err_set(err, PC_ECONFIG, "model.conv: %d layers; the cnn model needs 1 to %d, "
                      "e.g. [{filters: 32, size: 5}]", cfg->model.nconv, PC_MAX_CONV);
  net->in = shape->features;
  net->nconv = (size_t)cfg->model.nconv;
  for (size_t i = 0; i < net->nconv; i++) {
    int rc = conv_layer(&net->conv[i], &cfg->model.conv[i], (int)i, h, w, c, err);
    if (rc != PC_OK)
      return rc;
    h = net->conv[i].ph, w = net->conv[i].pw, c = net->conv[i].f;
  }
  return dense_stack(net, cfg, (uint64_t)h * w * c, err);
}

size_t pw_net_tables(const pw_net_t *net, pc_table_t *t) {
  size_t n = 0;
  for (size_t i = 0; i < net->nconv; i++, n++) {
    const pw_net_conv_t *cv = &net->conv[i];
    uint64_t kk = (uint64_t)cv->k * cv->k;
    t[n] = (pc_table_t){.id = (uint32_t)n, .kind = PC_TABLE_DENSE, .size = kk * cv->c + 1,
                        .width = cv->f, .init = PC_INIT_UNIFORM,
                        .scale = pc_table_glorot(kk * cv->c, kk * cv->f), .optimize = 1};
    snprintf(t[n].name, sizeof t[n].name, "conv%zu", i + 1);
  }
  for (size_t l = 0; l < net->ndense; l++, n++) {
    t[n] = (pc_table_t){.id = (uint32_t)n, .kind = PC_TABLE_DENSE, .size = net->dim[l] + 1,
                        .width = (uint32_t)net->dim[l + 1], .init = PC_INIT_UNIFORM,
                        .scale = pc_table_glorot(net->dim[l], net->dim[l + 1]), .optimize = 1};
    snprintf(t[n].name, sizeof t[n].name, "dense%zu", l + 1);
  }
  return n;
}

int pw_net_check_model(const pw_net_t *net, const pw_model_t *m, pc_err_t *err) {
  pc_table_t want[PC_TABLE_MAX];
  size_t n = pw_net_tables(net, want);
  if (m->ntables != n)
    return pc_err_set(err, PC_EMODEL, "the model has %zu tables, its settings describe %zu",
                      m->ntables, n);
  for (size_t i = 0; i < n; i++) {
    const pw_mtable_t *t = &m->tables[i];
    if (t->spec.kind != PC_TABLE_DENSE || t->spec.size != want[i].size ||
        t->spec.width != want[i].width || t->count != want[i].size || t->vals == NULL)
      return pc_err_set(err, PC_EMODEL, "table %zu ('%s'): %s %llu x %u with %llu rows, "
                        "expected dense '%s' %llu x %u", i, t->spec.name,
                        t->spec.kind == PC_TABLE_DENSE ? "dense" : "sparse",
                        (unsigned long long)t->spec.size, t->spec.width,
                        (unsigned long long)t->count, want[i].name,
                        (unsigned long long)want[i].size, want[i].width);
  }
  return PC_OK;
}

/* ---- minibatch context ---- */

typedef struct net_batch {
  const pw_net_t *net;
  size_t ntables;
  pc_table_t tables[PC_TABLE_MAX];
  float *vals[PC_TABLE_MAX], *grad[PC_TABLE_MAX]; /* NULL for prediction */
  size_t cap, n;  /* examples the buffers hold; in the current batch */
  uint32_t *label;
  float *x;       /* n x in, the densified inputs */
  float *col[PC_MAX_CONV], *y[PC_MAX_CONV], *p[PC_MAX_CONV], *dp[PC_MAX_CONV];
  uint32_t *arg[PC_MAX_CONV];
  float *dy, *dcol; /* conv backward scratch */
  float *act[PC_MAX_HIDDEN + 2]; /* act[l], l >= 1: dense layer l-1's output */
  float *ga[PC_MAX_HIDDEN + 2];  /* ga[l]: gradient of act[l], 1 <= l < ndense */
} net_batch_t;

typedef struct buf {
  void **p;
  size_t per;  /* elements per example */
  size_t elem; /* bytes per element */
} buf_t;

#define NET_MAX_BUFS (3 + 6 * PC_MAX_CONV + 2 * (PC_MAX_HIDDEN + 2))

/* Every activation buffer with its size per example. */
static size_t net_bufs(net_batch_t *b, buf_t *out) {
  const pw_net_t *net = b->net;
  size_t n = 0, dy = 0, dcol = 0;
  out[n++] = (buf_t){(void **)&b->label, 1, sizeof *b->label};
  out[n++] = (buf_t){(void **)&b->x, net->in, sizeof *b->x};
  for (size_t l = 0; l < net->nconv; l++) {
    const pw_net_conv_t *c = &net->conv[l];
    size_t pos = (size_t)c->oh * c->ow, pooled = (size_t)c->ph * c->pw * c->f;
    out[n++] = (buf_t){(void **)&b->col[l], pos * c->k * c->k * c->c, sizeof(float)};
    out[n++] = (buf_t){(void **)&b->y[l], pos * c->f, sizeof(float)};
    out[n++] = (buf_t){(void **)&b->p[l], pooled, sizeof(float)};
    out[n++] = (buf_t){(void **)&b->dp[l], pooled, sizeof(float)};
    out[n++] = (buf_t){(void **)&b->arg[l], pooled, sizeof(uint32_t)};
    dy = pos * c->f > dy ? pos * c->f : dy;
    if (l > 0 && pos * c->k * c->k * c->c > dcol)
      dcol = pos * c->k * c->k * c->c;
  }
  out[n++] = (buf_t){(void **)&b->dy, dy, sizeof(float)};
  out[n++] = (buf_t){(void **)&b->dcol, dcol, sizeof(float)};
  for (size_t l = 1; l <= net->ndense; l++) {
    out[n++] = (buf_t){(void **)&b->act[l], net->dim[l], sizeof(float)};
    if (l < net->ndense)
      out[n++] = (buf_t){(void **)&b->ga[l], net->dim[l], sizeof(float)};
  }
  return n;
}

/* Buffers for n examples, allocated on the first batch and grown when a
 * larger one comes; every one stays below INT_MAX elements (sgemm's int). */
static int batch_reserve(net_batch_t *b, size_t n, pc_err_t *err) {
  if (n <= b->cap)
    return PC_OK;
  buf_t bufs[NET_MAX_BUFS];
  size_t nb = net_bufs(b, bufs);
  for (size_t i = 0; i < nb; i++)
    if (bufs[i].per > 0 && n > (size_t)INT_MAX / bufs[i].per)
      return pc_err_set(err, PC_EINVAL, "a batch of %zu examples needs a buffer of %zu x %zu "
                        "values, more than %d: lower training.batch", n, n, bufs[i].per, INT_MAX);
  for (size_t i = 0; i < nb; i++) {
    if (bufs[i].per == 0)
      continue;
    void *q = realloc(*bufs[i].p, n * bufs[i].per * bufs[i].elem);
    if (q == NULL)
      return pc_err_set(err, PC_ENOMEM, "network buffers for a batch of %zu examples", n);
    *bufs[i].p = q;
  }
  b->cap = n;
  return PC_OK;
}

static void batch_release(net_batch_t *b) {
  if (b == NULL)
    return;
  buf_t bufs[NET_MAX_BUFS];
  size_t nb = net_bufs(b, bufs);
  for (size_t i = 0; i < nb; i++)
    free(*bufs[i].p);
  for (size_t t = 0; t < b->ntables; t++) {
    free(b->vals[t]);
    free(b->grad[t]);
  }
  free(b);
}

/* A context for net; with params, a vals and grad buffer per table. */
static int batch_alloc(const pw_net_t *net, int params, net_batch_t **out, pc_err_t *err) {
  *out = NULL;
  net_batch_t *b = calloc(1, sizeof *b);
  if (b == NULL)
    return pc_err_set(err, PC_ENOMEM, "network batch");
  b->net = net;
  b->ntables = pw_net_tables(net, b->tables);
  for (size_t t = 0; params && t < b->ntables; t++) {
    size_t nv = (size_t)(b->tables[t].size * b->tables[t].width);
    b->vals[t] = malloc(nv * sizeof(float));
    b->grad[t] = malloc(nv * sizeof(float));
    if (b->vals[t] == NULL || b->grad[t] == NULL) {
      batch_release(b);
      return pc_err_set(err, PC_ENOMEM, "table '%s': %zu values", b->tables[t].name, nv);
    }
  }
  *out = b;
  return PC_OK;
}

/* ---- forward and backward ---- */

static const float *dense_input(const net_batch_t *b) {
  return b->net->nconv ? b->p[b->net->nconv - 1] : b->x;
}

/* Logits of the b->n examples in b->x into act[ndense]; w[t] = table t. */
static void forward(net_batch_t *b, const float *const *w) {
  const pw_net_t *net = b->net;
  size_t n = b->n;
  const float *in = b->x;
  for (size_t l = 0; l < net->nconv; l++) {
    const pw_net_conv_t *c = &net->conv[l];
    pw_conv_forward(in, n, c->h, c->w, c->c, c->k, w[l], c->f, b->col[l], b->y[l]);
    /* Pool first, then ReLU: the same values (max and ReLU commute) on a
     * quarter of them. */
    pw_maxpool_forward(b->y[l], n, c->oh, c->ow, c->f, b->p[l], b->arg[l]);
    pw_relu(b->p[l], n * c->ph * c->pw * c->f);
    in = b->p[l];
  }
  for (size_t d = 0; d < net->ndense; d++) {
    const float *a = d ? b->act[d] : in;
    pw_dense_forward(a, n, net->dim[d], w[net->nconv + d], net->dim[d + 1], b->act[d + 1]);
    if (d + 1 < net->ndense)
      pw_relu(b->act[d + 1], n * net->dim[d + 1]);
  }
}

/* From the output gradient in act[ndense], every table's gradient g[t]. */
static void backward(net_batch_t *b, const float *const *w, float *const *g) {
  const pw_net_t *net = b->net;
  size_t n = b->n, nc = net->nconv;
  for (size_t d = net->ndense; d-- > 0;) {
    float *dout = d + 1 == net->ndense ? b->act[d + 1] : b->ga[d + 1];
    if (d + 1 < net->ndense)
      pw_relu_backward(b->act[d + 1], dout, n * net->dim[d + 1]);
    const float *a = d ? b->act[d] : dense_input(b);
    float *dx = d ? b->ga[d] : nc ? b->dp[nc - 1] : NULL;
    pw_dense_backward(a, dout, n, net->dim[d], w[nc + d], net->dim[d + 1], g[nc + d], dx);
  }
  for (size_t l = nc; l-- > 0;) {
    const pw_net_conv_t *c = &net->conv[l];
    pw_relu_backward(b->p[l], b->dp[l], n * c->ph * c->pw * c->f);
    pw_maxpool_backward(b->dp[l], b->arg[l], n, c->oh, c->ow, c->f, b->dy);
    pw_conv_backward(b->col[l], b->dy, n, c->h, c->w, c->c, c->k, w[l], c->f, g[l], b->dcol,
                     l ? b->dp[l - 1] : NULL);
  }
}

/* ---- the ops ---- */

int pw_net_init(pw_net_arch_fn arch, void **state, const pc_config_t *cfg,
                const pw_shape_t *shape, pc_table_t *tables, size_t *ntables, pc_err_t *err) {
  *state = NULL;
  pw_net_t *net = malloc(sizeof *net);
  if (net == NULL)
    return pc_err_set(err, PC_ENOMEM, "network state");
  int rc = arch(net, cfg, shape, err);
  if (rc != PC_OK) {
    free(net);
    return rc;
  }
  *ntables = pw_net_tables(net, tables);
  *state = net;
  return PC_OK;
}

void pw_net_fini(void *state) { free(state); }

int pw_net_batch_new(void *state, void **batch, pc_err_t *err) {
  net_batch_t *b = NULL;
  int rc = batch_alloc(state, 1, &b, err);
  *batch = b;
  return rc;
}

void pw_net_batch_free(void *batch) { batch_release(batch); }

static int batch_labels(net_batch_t *b, const pw_dataset_t *ds, const size_t *rows, size_t n,
                        pc_err_t *err) {
  uint64_t k = b->net->dim[b->net->ndense];
  for (size_t r = 0; r < n; r++) {
    float y = ds->label[rows[r]];
    if (!(y >= 0 && y < (float)k && y == floorf(y)))
      return pc_err_set(err, PC_EDATA, "example %zu: label %g outside 0..%llu (model.classes: "
                        "%llu)", rows[r], (double)y, (unsigned long long)k - 1,
                        (unsigned long long)k);
    b->label[r] = (uint32_t)y;
  }
  return PC_OK;
}

int pw_net_batch_build(void *batch, const pw_dataset_t *ds, const size_t *rows, size_t n,
                       pw_req_t *reqs, size_t *nreqs, pc_err_t *err) {
  net_batch_t *b = batch;
  *nreqs = 0;
  if (n == 0)
    return pc_err_set(err, PC_EINVAL, "an empty batch");
  int rc = batch_reserve(b, n, err);
  if (rc == PC_OK)
    rc = batch_labels(b, ds, rows, n, err);
  if (rc != PC_OK)
    return rc;
  b->n = n;
  pw_densify(ds, rows, n, b->net->in, b->x);
  for (size_t t = 0; t < b->ntables; t++)
    reqs[t] = (pw_req_t){.table = (uint32_t)t, .width = b->tables[t].width, .range = 1,
                         .begin = pc_table_key((uint32_t)t, 0),
                         .end = pc_table_key((uint32_t)t, b->tables[t].size),
                         .nkeys = b->tables[t].size, .vals = b->vals[t], .grad = b->grad[t]};
  *nreqs = b->ntables;
  return PC_OK;
}

int pw_net_batch_grad(void *batch, const pw_dataset_t *ds, pw_req_t *reqs, size_t nreqs,
                      double *loss, pc_err_t *err) {
  (void)ds; /* densified by batch_build */
  net_batch_t *b = batch;
  const float *w[PC_TABLE_MAX];
  float *g[PC_TABLE_MAX];
  if (nreqs != b->ntables)
    return pc_err_set(err, PC_EINVAL, "%zu requests, the network has %zu tables", nreqs,
                      b->ntables);
  for (size_t t = 0; t < nreqs; t++) {
    if (reqs[t].table != t || reqs[t].nkeys != b->tables[t].size ||
        reqs[t].width != b->tables[t].width)
      return pc_err_set(err, PC_EINVAL, "request %zu is not table '%s' whole", t,
                        b->tables[t].name);
    w[t] = reqs[t].vals;
    g[t] = reqs[t].grad;
  }
  forward(b, w);
  const pw_net_t *net = b->net;
  *loss = pw_softmax_xent(b->act[net->ndense], b->n, net->dim[net->ndense], b->label,
                          b->n ? 1.0f / (float)b->n : 0.0f);
  backward(b, w, g);
  return PC_OK;
}

size_t pw_net_outputs(const pw_model_t *m) {
  return m->ntables ? m->tables[m->ntables - 1].spec.width : 0;
}

/* Rows go through in chunks so that memory stays bounded for any n. */
#define NET_PREDICT_CHUNK 256

int pw_net_predict(pw_net_arch_fn arch, const pw_model_t *m, const pw_dataset_t *ds,
                   const size_t *rows, size_t n, float *out, pc_err_t *err) {
  pc_config_t cfg;
  pw_net_t net;
  net_batch_t *b = NULL;
  int rc = pw_model_config(m, &cfg, err);
  if (rc == PC_OK)
    rc = arch(&net, &cfg, &m->shape, err);
  if (rc == PC_OK)
    rc = pw_net_check_model(&net, m, err);
  if (rc == PC_OK)
    rc = batch_alloc(&net, 0, &b, err);
  if (rc == PC_OK)
    rc = batch_reserve(b, n < NET_PREDICT_CHUNK ? n : NET_PREDICT_CHUNK, err);
  const float *w[PC_TABLE_MAX];
  for (size_t t = 0; rc == PC_OK && t < m->ntables; t++)
    w[t] = m->tables[t].vals;
  size_t k = net.dim[net.ndense], idx[NET_PREDICT_CHUNK];
  for (size_t s = 0; rc == PC_OK && s < n; s += b->n) {
    b->n = n - s < NET_PREDICT_CHUNK ? n - s : NET_PREDICT_CHUNK;
    for (size_t r = 0; r < b->n; r++)
      idx[r] = rows ? rows[s + r] : s + r;
    pw_densify(ds, idx, b->n, net.in, b->x);
    forward(b, w);
    pw_softmax_xent(b->act[net.ndense], b->n, k, NULL, 1.0f);
    memcpy(out + s * k, b->act[net.ndense], b->n * k * sizeof *out);
  }
  batch_release(b);
  return rc;
}
