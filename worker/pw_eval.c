/* Streaming evaluation. Each label kind is an ops table (check a chunk,
 * count it, turn the sums into metrics); pw_eval_* only dispatch. A chunk
 * is checked whole before any of it is counted, so a bad example leaves
 * the sums as they were. */
#include "pw_eval.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PW_EVAL_CLIP 1e-15
#define PW_EVAL_TOP 5          /* top5: the true class among the first five */
#define PW_EVAL_TABLE_MAX 20   /* widest confusion matrix printed as a table */

typedef struct scored {
  float score;
  float label;
} scored_t;

typedef struct eval_kind {
  pw_label_kind_t kind;
  const char *name;
  /* outputs this kind accepts; err says what it wants */
  int (*outputs_ok)(size_t outputs, pc_err_t *err);
  int (*check)(const pw_eval_t *e, const float *pred, const float *label, size_t n,
               pc_err_t *err);
  int (*add)(pw_eval_t *e, const float *pred, const float *label, size_t n, pc_err_t *err);
  int (*finish)(pw_eval_t *e, pw_evalres_t *r, pc_err_t *err);
} eval_kind_t;

struct pw_eval {
  const eval_kind_t *k;
  size_t outputs;
  size_t n;
  int done;
  uint64_t correct, top;   /* binary/class: right at the threshold / argmax; top5 */
  double loss;             /* binary/class: sum of log-losses */
  double sq, abs;          /* real: sums of squared and absolute errors */
  double npos;             /* binary: positives */
  scored_t *s;             /* binary: every (score, label), for AUC */
  size_t cap;
  uint64_t *confusion;     /* class: [K * K] */
};

static void put_metric(pw_evalres_t *r, const char *name, double v) {
  pc_metric_t *m = &r->metrics[r->nmetrics++];
  snprintf(m->name, sizeof m->name, "%s", name);
  m->value = v;
}

static double clip(double p) { return fmin(fmax(p, PW_EVAL_CLIP), 1.0 - PW_EVAL_CLIP); }

static int prob_ok(size_t i, float p, pc_err_t *err) {
  if (p >= 0.0f && p <= 1.0f) /* false for NaN too */
    return PC_OK;
  return pc_err_set(err, PC_EINVAL, "example %zu: probability %g is not in [0, 1]", i,
                    (double)p);
}

static int one_output(size_t outputs, pc_err_t *err) {
  if (outputs == 1)
    return PC_OK;
  return pc_err_set(err, PC_EINVAL, "evaluation: %zu outputs per example, want 1", outputs);
}

/* ---- binary ----------------------------------------------------------- */

static int bin_check(const pw_eval_t *e, const float *pred, const float *label, size_t n,
                     pc_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    int rc = prob_ok(e->n + i, pred[i], err);
    if (rc != PC_OK)
      return rc;
    if (label[i] != 0.0f && label[i] != 1.0f)
      return pc_err_set(err, PC_EDATA, "example %zu: label %g is not 0 or 1", e->n + i,
                        (double)label[i]);
  }
  return PC_OK;
}

static int bin_reserve(pw_eval_t *e, size_t more, pc_err_t *err) {
  if (e->cap - e->n >= more)
    return PC_OK;
  size_t want = e->cap ? e->cap : 1024;
  while (want - e->n < more) {
    if (want > SIZE_MAX / 2 / sizeof(scored_t))
      return pc_err_set(err, PC_ENOMEM, "evaluation: %zu examples is too many", e->n + more);
    want *= 2;
  }
  scored_t *s = realloc(e->s, want * sizeof *s);
  if (s == NULL)
    return pc_err_set(err, PC_ENOMEM, "evaluation: out of memory for %zu examples", want);
  e->s = s;
  e->cap = want;
  return PC_OK;
}

static int bin_add(pw_eval_t *e, const float *pred, const float *label, size_t n,
                   pc_err_t *err) {
  int rc = bin_reserve(e, n, err);
  for (size_t i = 0; rc == PC_OK && i < n; i++) {
    double p = pred[i], y = label[i];
    e->correct += (p >= 0.5) == (y == 1.0);
    p = clip(p);
    e->loss -= y == 1.0 ? log(p) : log1p(-p);
    e->npos += y;
    e->s[e->n + i] = (scored_t){pred[i], label[i]};
  }
  return rc;
}

static int cmp_score(const void *a, const void *b) {
  float x = ((const scored_t *)a)->score, y = ((const scored_t *)b)->score;
  return (x > y) - (x < y);
}

/* Sum over tied-score groups (ascending) of pos * (neg below + neg tied / 2):
 * the number of correctly ordered positive/negative pairs, ties half. */
static double auc_sorted(const scored_t *s, size_t n, double npos, double nneg) {
  double good = 0.0, neg_below = 0.0;
  for (size_t i = 0; i < n;) {
    double pos = 0.0, neg = 0.0;
    size_t j = i;
    for (; j < n && s[j].score == s[i].score; j++) {
      if (s[j].label == 1.0f)
        pos += 1.0;
      else
        neg += 1.0;
    }
    good += pos * (neg_below + 0.5 * neg);
    neg_below += neg;
    i = j;
  }
  return good / (npos * nneg);
}

static int bin_finish(pw_eval_t *e, pw_evalres_t *r, pc_err_t *err) {
  (void)err;
  double n = (double)e->n, auc = NAN;
  if (e->npos > 0.0 && e->npos < n) {
    qsort(e->s, e->n, sizeof *e->s, cmp_score);
    auc = auc_sorted(e->s, e->n, e->npos, n - e->npos);
  }
  put_metric(r, "accuracy", (double)e->correct / n);
  put_metric(r, "logloss", e->loss / n);
  put_metric(r, "auc", auc);
  return PC_OK;
}

/* ---- multiclass ------------------------------------------------------- */

static int class_outputs(size_t outputs, pc_err_t *err) {
  if (outputs >= 2 && outputs <= PC_METRICS_MAX_CLASSES)
    return PC_OK;
  return pc_err_set(err, PC_EINVAL, "evaluation: %zu classes, want 2..%d", outputs,
                    PC_METRICS_MAX_CLASSES);
}

static int class_check(const pw_eval_t *e, const float *pred, const float *label, size_t n,
                       pc_err_t *err) {
  size_t k = e->outputs;
  for (size_t i = 0; i < n; i++) {
    float y = label[i];
    if (!(y >= 0.0f && y < (float)k && y == floorf(y)))
      return pc_err_set(err, PC_EDATA, "example %zu: label %g is not a class 0..%zu", e->n + i,
                        (double)y, k - 1);
    for (size_t c = 0; c < k; c++) {
      int rc = prob_ok(e->n + i, pred[i * k + c], err);
      if (rc != PC_OK)
        return rc;
    }
  }
  return PC_OK;
}

/* The first class of highest probability. */
static size_t argmax(const float *p, size_t k) {
  size_t best = 0;
  for (size_t c = 1; c < k; c++)
    if (p[c] > p[best])
      best = c;
  return best;
}

/* Classes ahead of y in (probability descending, class ascending) order. */
static size_t rank_of(const float *p, size_t k, size_t y) {
  size_t ahead = 0;
  for (size_t c = 0; c < k; c++)
    ahead += p[c] > p[y] || (p[c] == p[y] && c < y);
  return ahead;
}

static int class_add(pw_eval_t *e, const float *pred, const float *label, size_t n,
                     pc_err_t *err) {
  (void)err;
  size_t k = e->outputs;
  for (size_t i = 0; i < n; i++) {
    const float *p = pred + i * k;
    size_t y = (size_t)label[i], guess = argmax(p, k);
    e->correct += guess == y;
    e->top += rank_of(p, k, y) < PW_EVAL_TOP;
    e->loss -= log(clip(p[y]));
    e->confusion[y * k + guess]++;
  }
  return PC_OK;
}

static int class_finish(pw_eval_t *e, pw_evalres_t *r, pc_err_t *err) {
  (void)err;
  double n = (double)e->n;
  put_metric(r, "accuracy", (double)e->correct / n);
  if (e->outputs > PW_EVAL_TOP)
    put_metric(r, "top5", (double)e->top / n);
  put_metric(r, "logloss", e->loss / n);
  r->classes = e->outputs;
  r->confusion = e->confusion; /* moves to the result */
  e->confusion = NULL;
  return PC_OK;
}

/* ---- regression ------------------------------------------------------- */

static int real_check(const pw_eval_t *e, const float *pred, const float *label, size_t n,
                      pc_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(pred[i]))
      return pc_err_set(err, PC_EINVAL, "example %zu: prediction %g is not finite", e->n + i,
                        (double)pred[i]);
    if (!isfinite(label[i]))
      return pc_err_set(err, PC_EDATA, "example %zu: label %g is not a finite number",
                        e->n + i, (double)label[i]);
  }
  return PC_OK;
}

static int real_add(pw_eval_t *e, const float *pred, const float *label, size_t n,
                    pc_err_t *err) {
  (void)err;
  for (size_t i = 0; i < n; i++) {
    double d = (double)pred[i] - (double)label[i];
    e->sq += d * d;
    e->abs += fabs(d);
  }
  return PC_OK;
}

static int real_finish(pw_eval_t *e, pw_evalres_t *r, pc_err_t *err) {
  (void)err;
  put_metric(r, "rmse", sqrt(e->sq / (double)e->n));
  put_metric(r, "mae", e->abs / (double)e->n);
  return PC_OK;
}

/* ---- the kinds and the API -------------------------------------------- */

static const eval_kind_t binary_kind = {PW_LABEL_BINARY, "binary", one_output,
                                        bin_check,       bin_add,  bin_finish};
static const eval_kind_t class_kind = {PW_LABEL_CLASS, "multiclass", class_outputs,
                                       class_check,    class_add,    class_finish};
static const eval_kind_t real_kind = {PW_LABEL_REAL, "regression", one_output,
                                      real_check,    real_add,     real_finish};
static const eval_kind_t *const kinds[] = {&binary_kind, &class_kind, &real_kind};

static const eval_kind_t *kind_find(pw_label_kind_t kind) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (kinds[i]->kind == kind)
      return kinds[i];
  return NULL;
}

int pw_eval_new(pw_eval_t **out, pw_label_kind_t kind, size_t outputs, pc_err_t *err) {
  if (out == NULL)
    return pc_err_set(err, PC_EINVAL, "pw_eval_new: NULL output");
  *out = NULL;
  const eval_kind_t *k = kind_find(kind);
  if (k == NULL)
    return pc_err_set(err, PC_EINVAL, "evaluation: unknown label kind %d", (int)kind);
  int rc = k->outputs_ok(outputs, err);
  if (rc != PC_OK)
    return rc;
  pw_eval_t *e = calloc(1, sizeof *e);
  if (e != NULL && kind == PW_LABEL_CLASS) /* outputs <= 1000: no overflow */
    e->confusion = calloc(outputs * outputs, sizeof *e->confusion);
  if (e == NULL || (kind == PW_LABEL_CLASS && e->confusion == NULL)) {
    free(e);
    return pc_err_set(err, PC_ENOMEM, "evaluation: out of memory for %zu classes", outputs);
  }
  e->k = k;
  e->outputs = outputs;
  *out = e;
  return PC_OK;
}

int pw_eval_add(pw_eval_t *e, const float *pred, const float *label, size_t n, pc_err_t *err) {
  if (e == NULL || (n > 0 && (pred == NULL || label == NULL)))
    return pc_err_set(err, PC_EINVAL, "pw_eval_add: NULL argument");
  if (e->done)
    return pc_err_set(err, PC_EINVAL, "pw_eval_add: the evaluation is already finished");
  if (n > SIZE_MAX / e->outputs - e->n)
    return pc_err_set(err, PC_EINVAL, "evaluation: %zu more examples is too many", n);
  int rc = e->k->check(e, pred, label, n, err);
  if (rc == PC_OK)
    rc = e->k->add(e, pred, label, n, err);
  if (rc == PC_OK)
    e->n += n;
  return rc;
}

int pw_eval_finish(pw_eval_t *e, pw_evalres_t *res, pc_err_t *err) {
  if (res != NULL)
    memset(res, 0, sizeof *res);
  if (e == NULL || res == NULL)
    return pc_err_set(err, PC_EINVAL, "pw_eval_finish: NULL argument");
  if (e->done)
    return pc_err_set(err, PC_EINVAL, "pw_eval_finish: the evaluation is already finished");
  if (e->n == 0)
    return pc_err_set(err, PC_EINVAL, "evaluation needs at least one example");
  e->done = 1;
  res->n = e->n;
  int rc = e->k->finish(e, res, err);
  if (rc != PC_OK)
    pw_evalres_free(res);
  return rc;
}

void pw_eval_free(pw_eval_t **e) {
  if (e == NULL || *e == NULL)
    return;
  free((*e)->s);
  free((*e)->confusion);
  free(*e);
  *e = NULL;
}

void pw_evalres_free(pw_evalres_t *r) {
  if (r == NULL)
    return;
  free(r->confusion);
  memset(r, 0, sizeof *r);
}

/* ---- output ----------------------------------------------------------- */

static int digits(uint64_t v) {
  int d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

static void print_confusion(const pw_evalres_t *r, FILE *out) {
  size_t k = r->classes;
  if (k > PW_EVAL_TABLE_MAX) {
    fprintf(out, "confusion %zu x %zu (too wide to print; see --json)\n", k, k);
    return;
  }
  uint64_t most = k - 1;
  for (size_t i = 0; i < k * k; i++)
    most = r->confusion[i] > most ? r->confusion[i] : most;
  int w = digits(most);
  fprintf(out, "confusion (rows: true class, columns: predicted)\n%*s", w, "");
  for (size_t c = 0; c < k; c++)
    fprintf(out, " %*zu", w, c);
  for (size_t t = 0; t < k; t++) {
    fprintf(out, "\n%*zu", w, t);
    for (size_t c = 0; c < k; c++)
      fprintf(out, " %*llu", w, (unsigned long long)r->confusion[t * k + c]);
  }
  fputc('\n', out);
}

void pw_evalres_print(const pw_evalres_t *r, FILE *out) {
  if (r == NULL || out == NULL)
    return;
  fprintf(out, "examples %zu\n", r->n);
  for (size_t i = 0; i < r->nmetrics && i < PC_METRICS_MAX; i++)
    fprintf(out, "%.*s %.6f\n", PC_METRIC_NAME_MAX - 1, r->metrics[i].name,
            r->metrics[i].value);
  if (r->classes > 0 && r->confusion != NULL)
    print_confusion(r, out);
}

int pw_evalres_json(const pw_evalres_t *r, FILE *out, pc_err_t *err) {
  if (r == NULL || out == NULL || r->nmetrics > PC_METRICS_MAX)
    return pc_err_set(err, PC_EINVAL, "pw_evalres_json: bad argument");
  json_t *doc = pc_metrics_json(r->n, r->metrics, r->nmetrics, r->classes, r->confusion);
  if (doc == NULL)
    return pc_err_set(err, PC_ENOMEM, "evaluation: building the JSON document");
  int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) == 0 &&
                   fputc('\n', out) != EOF
               ? PC_OK
               : pc_err_set(err, PC_EIO, "evaluation: cannot write the JSON document");
  json_decref(doc);
  return rc;
}

void pw_evalres_to_pb(const pw_evalres_t *r, pw_evalres_pb_t *store, Parasol__EvalResult *pb) {
  size_t nm = r->nmetrics < PC_METRICS_MAX ? r->nmetrics : PC_METRICS_MAX;
  for (size_t i = 0; i < nm; i++) {
    store->m[i] = (Parasol__Metric)PARASOL__METRIC__INIT;
    store->m[i].name = (char *)r->metrics[i].name; /* protobuf-c wants char *; not written */
    store->m[i].value = r->metrics[i].value;
    store->p[i] = &store->m[i];
  }
  pb->n = r->n;
  pb->n_metrics = nm;
  pb->metrics = nm ? store->p : NULL;
  pb->classes = (uint32_t)r->classes;
  pb->n_confusion = r->confusion ? r->classes * r->classes : 0;
  pb->confusion = r->confusion;
}
