/* metrics.json with jansson. Builders return a new reference or NULL when
 * out of memory; json_pack frees the references it was given when it fails,
 * so a NULL anywhere below surfaces as one NULL document. */
#include "ps_metrics.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc_afile.h"

/* Every real with 17 significant digits: enough for any double to read
 * back exactly, so a reader rounding it shows what the scheduler shows. */
#define DUMP_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(17))

static json_t *jreal(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *jmean(double sum, uint64_t n) { return n ? jreal(sum / (double)n) : json_null(); }

/* JSON strings must be UTF-8; a host name off the wire or a reason cut to
 * fit a buffer may not be. Such a string is kept with its non-ASCII bytes
 * shown as '?', rather than losing the whole document. */
static json_t *jstr(const char *s) {
  if (s == NULL)
    return json_null();
  json_t *j = json_string(s);
  if (j != NULL)
    return j;
  char *copy = strdup(s);
  if (copy == NULL)
    return NULL;
  for (char *c = copy; *c; c++)
    if ((unsigned char)*c >= 0x80)
      *c = '?';
  j = json_string(copy);
  free(copy);
  return j;
}

static json_t *jtime(time_t t) {
  struct tm tm;
  char buf[32];
  if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return json_null();
  return json_string(buf);
}

static json_t *worker_json(int rank, const ps_metrics_worker_t *w) {
  const Parasol__Progress *p = w->prog;
  if (p == NULL)
    return json_pack("{s:i, s:o, s:n, s:n, s:n, s:n, s:n, s:n}", "rank", rank, "host",
                     jstr(w->host), "epochs", "samples", "seconds", "last_epoch_loss",
                     "max_inflight", "lines_skipped");
  return json_pack("{s:i, s:o, s:I, s:o, s:o, s:o, s:I, s:o}", "rank", rank, "host",
                   jstr(w->host), "epochs", (json_int_t)p->epoch, "samples",
                   pc_json_count(p->total_samples), "seconds", jreal(p->seconds), "last_epoch_loss",
                   jmean(p->loss_sum, p->samples), "max_inflight", (json_int_t)p->max_inflight,
                   "lines_skipped", pc_json_count(p->lines_skipped));
}

/* Totals over the workers that have reported; all null when none has. */
static json_t *train_json(const ps_metrics_run_t *r) {
  double loss = 0, secs = 0;
  uint64_t samples = 0, total = 0, skipped = 0;
  int reported = 0;
  for (int i = 0; i < r->nworkers; i++) {
    const Parasol__Progress *p = r->workers[i].prog;
    if (p == NULL)
      continue;
    reported++;
    loss += p->loss_sum;
    samples += p->samples;
    total += p->total_samples;
    skipped += p->lines_skipped;
    secs = p->seconds > secs ? p->seconds : secs;
  }
  if (reported == 0)
    return json_pack("{s:i, s:n, s:n, s:n, s:n, s:n}", "epochs", r->epochs, "samples",
                     "seconds", "samples_per_s", "last_epoch_loss", "lines_skipped");
  return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o}", "epochs", r->epochs, "samples",
                   pc_json_count(total), "seconds", jreal(secs), "samples_per_s",
                   secs > 0 ? jreal((double)total / secs) : json_null(), "last_epoch_loss",
                   jmean(loss, samples), "lines_skipped", pc_json_count(skipped));
}

static json_t *server_json(int rank, const ps_metrics_server_t *v) {
  const Parasol__ServerStats *t = v->stats;
  if (t == NULL)
    return json_pack("{s:i, s:o, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n}", "rank", rank, "host",
                     jstr(v->host), "keys", "sparse_keys", "dense_keys", "bytes", "pushes",
                     "pulls", "pushes_rejected", "messages_dropped");
  return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "rank", rank, "host",
                   jstr(v->host), "keys", pc_json_count(t->sparse_keys + t->dense_keys), "sparse_keys",
                   pc_json_count(t->sparse_keys), "dense_keys", pc_json_count(t->dense_keys), "bytes",
                   pc_json_count(t->bytes), "pushes", pc_json_count(t->pushes), "pulls", pc_json_count(t->pulls),
                   "pushes_rejected", pc_json_count(t->pushes_rejected), "messages_dropped",
                   pc_json_count(t->messages_dropped));
}

/* Keys per server, over the servers that sent statistics. */
static json_t *balance_json(const ps_metrics_run_t *r) {
  uint64_t kmin = UINT64_MAX, kmax = 0;
  double ksum = 0;
  int n = 0;
  for (int i = 0; i < r->nservers; i++) {
    const Parasol__ServerStats *t = r->servers[i].stats;
    if (t == NULL)
      continue;
    uint64_t k = t->sparse_keys + t->dense_keys;
    kmin = k < kmin ? k : kmin;
    kmax = k > kmax ? k : kmax;
    ksum += (double)k;
    n++;
  }
  if (n == 0)
    return json_pack("{s:n, s:n, s:n}", "keys_min", "keys_max", "max_over_mean");
  double mean = ksum / n;
  return json_pack("{s:o, s:o, s:o}", "keys_min", pc_json_count(kmin), "keys_max", pc_json_count(kmax),
                   "max_over_mean", mean > 0 ? jreal((double)kmax / mean) : json_null());
}

static json_t *array_of(const ps_metrics_run_t *r, int workers) {
  json_t *a = json_array();
  int n = workers ? r->nworkers : r->nservers;
  for (int i = 0; i < n && a != NULL; i++) {
    json_t *e = workers ? worker_json(i, &r->workers[i]) : server_json(i, &r->servers[i]);
    if (json_array_append_new(a, e) != 0) {
      json_decref(a);
      a = NULL;
    }
  }
  return a;
}

/* Worker 0's evaluation, when it succeeded on a test set. */
static const Parasol__EvalResult *evaluated(const ps_metrics_run_t *r) {
  const Parasol__EvalResult *e = r->eval;
  return e != NULL && (e->error == NULL || e->error[0] == '\0') ? e : NULL;
}

int ps_metrics_eval_check(const Parasol__EvalResult *e, pc_err_t *err) {
  if (e == NULL)
    return pc_err_set(err, PC_EINVAL, "no evaluation result");
  if (e->n_metrics > PC_METRICS_MAX)
    return pc_err_set(err, PC_EPROTO, "%zu metrics, at most %d", e->n_metrics, PC_METRICS_MAX);
  for (size_t i = 0; i < e->n_metrics; i++) {
    const char *name = e->metrics[i] ? e->metrics[i]->name : NULL;
    pc_err_t why = {0};
    if (pc_metric_name_check(name, &why) != PC_OK)
      return pc_err_set(err, PC_EPROTO, "metric %zu: %s", i, why.msg);
    for (size_t j = 0; j < i; j++)
      if (strcmp(e->metrics[j]->name, name) == 0)
        return pc_err_set(err, PC_EPROTO, "metric '%s' sent twice", name);
  }
  if (e->classes > PC_METRICS_MAX_CLASSES)
    return pc_err_set(err, PC_EPROTO, "%u classes, at most %d", e->classes,
                      PC_METRICS_MAX_CLASSES);
  if (e->n_confusion > 0 && (size_t)e->classes * e->classes != e->n_confusion)
    return pc_err_set(err, PC_EPROTO, "a confusion matrix of %zu counts for %u classes",
                      e->n_confusion, e->classes);
  return PC_OK;
}

size_t ps_metrics_eval_list(const Parasol__EvalResult *e, pc_metric_t *out) {
  if (out == NULL || ps_metrics_eval_check(e, NULL) != PC_OK)
    return 0;
  for (size_t i = 0; i < e->n_metrics; i++) {
    snprintf(out[i].name, sizeof out[i].name, "%s", e->metrics[i]->name);
    out[i].value = e->metrics[i]->value;
  }
  return e->n_metrics;
}

/* {"n", the metrics by name, "confusion" when sent, "lines_skipped"}, of a
 * result that passed ps_metrics_eval_check. */
static json_t *test_json(const Parasol__EvalResult *e) {
  pc_metric_t m[PC_METRICS_MAX];
  size_t nm = ps_metrics_eval_list(e, m);
  const uint64_t *conf = e->n_confusion > 0 ? e->confusion : NULL;
  json_t *t = pc_metrics_json(e->n, m, nm, conf ? e->classes : 0, conf);
  return pc_json_put(t, "lines_skipped", pc_json_count(e->lines_skipped));
}

/* The evaluation on data.valid that goes with the saved model: early
 * stopping's best one (at an epoch's end or inside it), else the last
 * evaluation of a complete row; NULL: none. */
static json_t *kept_valid(const ps_metrics_run_t *r) {
  const ps_epochs_t *e = r->series;
  if (e == NULL)
    return NULL;
  const ps_eval_t *b = r->best_epoch > 0 ? ps_epochs_find_eval(e, r->best_epoch, r->best_step)
                                         : NULL;
  if (b != NULL && b->nm > 0)
    return pc_metrics_json(b->n, b->m, b->nm, 0, NULL);
  for (int i = e->done - 1; i >= 0; i--)
    if (e->rows[i].nvalid > 0)
      return pc_metrics_json(e->rows[i].valid_n, e->rows[i].valid, e->rows[i].nvalid, 0, NULL);
  return NULL;
}

/* Every evaluation on data.valid in order: [{epoch, step, n, metrics}]. */
static json_t *evaluations_json(const ps_epochs_t *e) {
  json_t *a = json_array();
  for (size_t i = 0; e != NULL && a != NULL && i < e->nevals; i++) {
    const ps_eval_t *v = &e->evals[i];
    json_t *row = json_pack("{s:I}", "epoch", (json_int_t)v->epoch);
    row = pc_json_put(row, "step", pc_json_count(v->step));
    json_t *m = pc_metrics_json(v->n, v->m, v->nm, 0, NULL);
    int bad = row == NULL || m == NULL || json_object_update(row, m) != 0;
    json_decref(m);
    if (bad)
      json_decref(row);
    if (bad || json_array_append_new(a, row) != 0) { /* append frees row when it fails */
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

/* The complete per-epoch rows: [{epoch, seconds, samples, train_loss}]. */
static json_t *epochs_json(const ps_epochs_t *e) {
  json_t *a = json_array();
  for (int i = 0; e != NULL && a != NULL && i < e->done; i++) {
    json_t *row = json_pack("{s:i}", "epoch", i + 1);
    row = pc_json_put(row, "seconds", jreal(e->rows[i].seconds));
    row = pc_json_put(row, "samples", pc_json_count(e->rows[i].samples));
    row = pc_json_put(row, "train_loss", jreal(ps_epochs_loss(e, i)));
    if (row != NULL && e->rows[i].nvalid > 0)
      row = pc_json_put(row, "valid", pc_metrics_json(e->rows[i].valid_n, e->rows[i].valid,
                                              e->rows[i].nvalid, 0, NULL));
    if (row == NULL || json_array_append_new(a, row) != 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

static json_t *build(const ps_metrics_run_t *r) {
  const Parasol__EvalResult *e = evaluated(r);
  json_t *doc = json_pack("{s:i, s:s}", "format", PS_METRICS_FORMAT, "status",
                          r->error ? "failed" : "finished");
  if (r->error)
    doc = pc_json_put(doc, "error", jstr(r->error));
  doc = pc_json_put(doc, "started", jtime(r->started));
  doc = pc_json_put(doc, "ended", jtime(r->ended));
  if (e != NULL && e->n > 0 && ps_metrics_eval_check(e, NULL) == PC_OK)
    doc = pc_json_put(doc, "test", test_json(e));
  doc = pc_json_put(doc, "train", train_json(r));
  doc = pc_json_put(doc, "epochs", epochs_json(r->series));
  if (r->series != NULL && r->series->validating)
    doc = pc_json_put(doc, "evaluations", evaluations_json(r->series));
  json_t *v = kept_valid(r);
  if (v != NULL)
    doc = pc_json_put(doc, "valid", v);
  if (r->best_epoch > 0)
    doc = pc_json_put(doc, "best_epoch", json_integer(r->best_epoch));
  if (r->best_epoch > 0 && r->best_step > 0)
    doc = pc_json_put(doc, "best_step", pc_json_count(r->best_step));
  doc = pc_json_put(doc, "workers", array_of(r, 1));
  doc = pc_json_put(doc, "servers", array_of(r, 0));
  doc = pc_json_put(doc, "balance", balance_json(r));
  doc = pc_json_put(doc, "messages_dropped_by_scheduler", pc_json_count(r->messages_dropped));
  return pc_json_put(doc, "model", e != NULL && e->model_path && e->model_path[0] ? jstr(e->model_path)
                                                                          : json_null());
}

int ps_metrics_write(const char *dir, const ps_metrics_run_t *run, pc_err_t *err) {
  if (dir == NULL || run == NULL || (run->nworkers > 0 && run->workers == NULL) ||
      (run->nservers > 0 && run->servers == NULL))
    return pc_err_set(err, PC_EINVAL, "metrics: missing argument");
  char path[PC_AFILE_PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/" PS_METRICS_FILE, dir);
  if (n < 0 || (size_t)n >= sizeof path)
    return pc_err_set(err, PC_EINVAL, "output.dir '%.64s...' too long for %s", dir,
                      PS_METRICS_FILE);
  json_t *doc = build(run);
  if (doc == NULL)
    return pc_err_set(err, PC_ENOMEM, "building %s", path);
  pc_afile_t a;
  int rc = pc_afile_open(&a, path, err);
  if (rc == PC_OK && (json_dumpf(doc, a.f, DUMP_FLAGS) != 0 || fputc('\n', a.f) == EOF)) {
    pc_afile_abort(&a);
    rc = pc_err_set(err, PC_EIO, "cannot write %s: jansson could not write the document", path);
  }
  if (rc == PC_OK)
    rc = pc_afile_commit(&a, err);
  json_decref(doc);
  return rc;
}
