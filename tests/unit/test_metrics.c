/* metrics.json: ps_metrics_write, read back with jansson (and with the
 * launcher's reader), for every kind of model (the test object is a list
 * of metrics), the scheduler's check of worker 0's EvalResult, and
 * pc_metrics_format, the one human rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pc_metrics.h"
#include "pd_launch.h"
#include "ps_metrics.h"
#include "pw_eval.h"

static char g_dir[64];

/* ---- fixtures --------------------------------------------------------- */

typedef struct fixture {
  Parasol__Progress prog[2];
  Parasol__ServerStats stats[2];
  Parasol__EvalResult eval;
  Parasol__Metric met[PC_METRICS_MAX];
  Parasol__Metric *metp[PC_METRICS_MAX];
  ps_metrics_worker_t workers[2];
  ps_metrics_server_t servers[2];
  ps_metrics_run_t run;
} fixture_t;

/* f's EvalResult carries metrics names[0..n) with values v. */
static void set_metrics(fixture_t *f, const char *const *names, const double *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    f->met[i] = (Parasol__Metric)PARASOL__METRIC__INIT;
    f->met[i].name = (char *)names[i];
    f->met[i].value = v[i];
    f->metp[i] = &f->met[i];
  }
  f->eval.metrics = f->metp;
  f->eval.n_metrics = n;
}

/* The binary figures: accuracy, logloss, auc. */
static double *bin(fixture_t *f, const char *name) {
  for (size_t i = 0; i < f->eval.n_metrics; i++)
    if (strcmp(f->met[i].name, name) == 0)
      return &f->met[i].value;
  fail_msg("no metric %s", name);
  return NULL;
}

/* A finished run: 2 workers, 2 servers, a test set; figures chosen so
 * every one of them is distinct. */
static void fixture_init(fixture_t *f) {
  memset(f, 0, sizeof *f);
  for (int i = 0; i < 2; i++) {
    f->prog[i] = (Parasol__Progress)PARASOL__PROGRESS__INIT;
    f->prog[i].epoch = 5;
    f->prog[i].samples = 1000u + (unsigned)i * 10u;            /* last epoch */
    f->prog[i].loss_sum = 300.0 + i * 100.0;
    f->prog[i].seconds = 1.5 + i;                               /* 1.5, 2.5 */
    f->prog[i].total_samples = 5000u + (unsigned)i * 50u;       /* 5000, 5050 */
    f->prog[i].max_inflight = 3u + (unsigned)i;
    f->prog[i].lines_skipped = 1u + (unsigned)i;                /* 1, 2 */
    f->stats[i] = (Parasol__ServerStats)PARASOL__SERVER_STATS__INIT;
    f->stats[i].sparse_keys = 60u + (unsigned)i * 4u;           /* 60, 64 */
    f->stats[i].dense_keys = (unsigned)i;                       /* 0, 1 */
    f->stats[i].bytes = 720u + (unsigned)i;
    f->stats[i].pushes = 100u + (unsigned)i;
    f->stats[i].pulls = 200u + (unsigned)i;
    f->stats[i].pushes_rejected = 7u + (unsigned)i;
    f->stats[i].messages_dropped = 9u + (unsigned)i;
    f->workers[i] = (ps_metrics_worker_t){i ? "host-b" : "host-a", &f->prog[i]};
    f->servers[i] = (ps_metrics_server_t){i ? "srv-b" : "srv-a", &f->stats[i]};
  }
  f->eval = (Parasol__EvalResult)PARASOL__EVAL_RESULT__INIT;
  f->eval.n = 16281;
  static const char *const names[] = {"accuracy", "logloss", "auc"};
  const double v[] = {0.84988637061605554, 0.32944999600000002, 0.90221234};
  set_metrics(f, names, v, 3);
  f->eval.lines_skipped = 4;
  f->eval.model_path = "runs/x/model.bin";
  f->eval.error = "";
  f->run = (ps_metrics_run_t){.started = 1700000000, .ended = 1700000062, .epochs = 5,
                              .workers = f->workers, .nworkers = 2, .servers = f->servers,
                              .nservers = 2, .eval = &f->eval, .messages_dropped = 11};
}

static void path_of(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", g_dir, name);
}

/* Write f's run and load it back; the caller decrefs. */
static json_t *write_and_load(const fixture_t *f) {
  pc_err_t err = {0};
  int rc = ps_metrics_write(g_dir, &f->run, &err);
  if (rc != PC_OK)
    fail_msg("ps_metrics_write: %s", err.msg);
  char path[160];
  path_of(path, sizeof path, "metrics.json");
  json_error_t je;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (doc == NULL)
    fail_msg("%s:%d: %s", path, je.line, je.text);
  return doc;
}

static json_t *at(json_t *doc, const char *a, const char *b) {
  json_t *v = json_object_get(doc, a);
  return b ? json_object_get(v, b) : v;
}

static long long int_at(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v))
    fail_msg("%s is not an integer", key);
  return (long long)json_integer_value(v);
}

static double real_at(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_real(v))
    fail_msg("%s is not a real", key);
  return json_real_value(v);
}

static void assert_null_at(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_null(v))
    fail_msg("%s is %s, want null", key, v ? "a value" : "missing");
}

static int group_setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/test_metrics.XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  char path[160];
  path_of(path, sizeof path, "metrics.json");
  remove(path);
  rmdir(g_dir);
  return 0;
}

/* ---- the document ----------------------------------------------------- */

static void check_workers(json_t *doc) {
  json_t *ws = json_object_get(doc, "workers");
  assert_int_equal(json_array_size(ws), 2);
  for (int i = 0; i < 2; i++) {
    json_t *w = json_array_get(ws, (size_t)i);
    assert_int_equal(json_object_size(w), 8);
    assert_int_equal(int_at(w, "rank"), i);
    assert_string_equal(json_string_value(json_object_get(w, "host")), i ? "host-b" : "host-a");
    assert_int_equal(int_at(w, "epochs"), 5);
    assert_int_equal(int_at(w, "samples"), 5000 + i * 50);
    assert_true(real_at(w, "seconds") == 1.5 + i);
    assert_true(real_at(w, "last_epoch_loss") == (300.0 + i * 100.0) / (1000.0 + i * 10.0));
    assert_int_equal(int_at(w, "max_inflight"), 3 + i);
    assert_int_equal(int_at(w, "lines_skipped"), 1 + i);
  }
}

static void check_servers(json_t *doc) {
  json_t *ss = json_object_get(doc, "servers");
  assert_int_equal(json_array_size(ss), 2);
  for (int i = 0; i < 2; i++) {
    json_t *s = json_array_get(ss, (size_t)i);
    assert_int_equal(json_object_size(s), 10);
    assert_int_equal(int_at(s, "rank"), i);
    assert_string_equal(json_string_value(json_object_get(s, "host")), i ? "srv-b" : "srv-a");
    assert_int_equal(int_at(s, "keys"), 60 + i * 5);
    assert_int_equal(int_at(s, "sparse_keys"), 60 + i * 4);
    assert_int_equal(int_at(s, "dense_keys"), i);
    assert_int_equal(int_at(s, "bytes"), 720 + i);
    assert_int_equal(int_at(s, "pushes"), 100 + i);
    assert_int_equal(int_at(s, "pulls"), 200 + i);
    assert_int_equal(int_at(s, "pushes_rejected"), 7 + i);
    assert_int_equal(int_at(s, "messages_dropped"), 9 + i);
  }
  json_t *b = json_object_get(doc, "balance");
  assert_int_equal(int_at(b, "keys_min"), 60);
  assert_int_equal(int_at(b, "keys_max"), 65);
  assert_true(real_at(b, "max_over_mean") == 65.0 / 62.5);
}

static void test_finished_every_field(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  json_t *doc = write_and_load(&f);
  static const char *const keys[] = {"format",  "status",  "started", "ended",
                                     "test",    "train",   "epochs",  "workers",
                                     "servers", "balance", "messages_dropped_by_scheduler",
                                     "model"};
  const char *key;
  json_t *v;
  size_t i = 0;
  json_object_foreach(doc, key, v) { /* in this order, and nothing else ("error" only on failure) */
    assert_true(i < sizeof keys / sizeof keys[0]);
    assert_string_equal(key, keys[i++]);
  }
  assert_int_equal(i, sizeof keys / sizeof keys[0]);
  assert_int_equal(int_at(doc, "format"), 3);
  assert_string_equal(json_string_value(at(doc, "status", NULL)), "finished");
  assert_string_equal(json_string_value(at(doc, "started", NULL)), "2023-11-14T22:13:20Z");
  assert_string_equal(json_string_value(at(doc, "ended", NULL)), "2023-11-14T22:14:22Z");
  json_t *t = json_object_get(doc, "test");
  static const char *const tkeys[] = {"n", "accuracy", "logloss", "auc", "lines_skipped"};
  i = 0;
  json_object_foreach(t, key, v) { /* the metrics in the order sent, between n and lines_skipped */
    assert_true(i < 5);
    assert_string_equal(key, tkeys[i++]);
  }
  assert_int_equal(i, 5);
  assert_int_equal(int_at(t, "n"), 16281);
  assert_true(real_at(t, "accuracy") == *bin(&f, "accuracy"));
  assert_true(real_at(t, "logloss") == *bin(&f, "logloss"));
  assert_true(real_at(t, "auc") == *bin(&f, "auc"));
  assert_null(json_object_get(t, "confusion"));
  assert_int_equal(int_at(t, "lines_skipped"), 4);
  json_t *tr = json_object_get(doc, "train");
  assert_int_equal(json_object_size(tr), 6);
  assert_int_equal(int_at(tr, "epochs"), 5);
  assert_int_equal(int_at(tr, "samples"), 10050);
  assert_true(real_at(tr, "seconds") == 2.5);
  assert_true(real_at(tr, "samples_per_s") == 10050 / 2.5);
  assert_true(real_at(tr, "last_epoch_loss") == 700.0 / 2010.0);
  assert_int_equal(int_at(tr, "lines_skipped"), 3);
  check_workers(doc);
  check_servers(doc);
  assert_int_equal(int_at(doc, "messages_dropped_by_scheduler"), 11);
  assert_string_equal(json_string_value(at(doc, "model", NULL)), "runs/x/model.bin");
  json_decref(doc);
}

/* Pretty-printed with a 2-space indent, ending in a newline, written
 * through a temporary file that is gone afterwards. */
static void test_layout_on_disk(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  json_decref(write_and_load(&f));
  char path[160];
  path_of(path, sizeof path, "metrics.json");
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  char text[1 << 14];
  size_t n = fread(text, 1, sizeof text - 1, fp);
  fclose(fp);
  text[n] = '\0';
  const char *head = "{\n  \"format\": 3,\n  \"status\": \"finished\",\n  \"started\": ";
  if (strncmp(text, head, strlen(head)) != 0)
    fail_msg("starts:\n%.80s", text);
  assert_int_equal(text[n - 1], '\n');
  assert_non_null(strstr(text, "\n  \"workers\": [\n    {\n      \"rank\": 0,\n"));
  path_of(path, sizeof path, "metrics.json.tmp");
  assert_int_equal(access(path, F_OK), -1);
}

static void test_non_finite_is_null(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  *bin(&f, "logloss") = NAN;
  *bin(&f, "auc") = INFINITY;
  f.prog[0].seconds = -INFINITY;
  f.prog[0].samples = 0; /* no mean without samples */
  f.prog[1].samples = 0;
  f.prog[1].seconds = NAN;
  f.stats[0].sparse_keys = f.stats[1].sparse_keys = 0; /* an empty model: no ratio */
  f.stats[1].dense_keys = 0;
  json_t *doc = write_and_load(&f);
  json_t *t = json_object_get(doc, "test");
  assert_true(real_at(t, "accuracy") == *bin(&f, "accuracy"));
  assert_null_at(t, "logloss");
  assert_null_at(t, "auc");
  json_t *w0 = json_array_get(json_object_get(doc, "workers"), 0);
  assert_null_at(w0, "seconds");
  assert_null_at(w0, "last_epoch_loss");
  assert_null_at(json_array_get(json_object_get(doc, "workers"), 1), "seconds");
  json_t *tr = json_object_get(doc, "train");
  assert_null_at(tr, "last_epoch_loss");
  assert_null_at(tr, "samples_per_s"); /* seconds 0: no rate */
  assert_null_at(json_object_get(doc, "balance"), "max_over_mean");
  json_decref(doc);
}

/* A failed run: status, the reason, and only what was known. */
static void test_failed_run(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  f.run.error = "worker 1 (host h, pid 2) silent for 30.0 s (cluster.node_timeout)";
  f.run.eval = NULL;
  f.workers[1] = (ps_metrics_worker_t){NULL, NULL}; /* never registered */
  f.servers[0].stats = NULL;                       /* statistics not asked for yet */
  json_t *doc = write_and_load(&f);
  assert_string_equal(json_string_value(at(doc, "status", NULL)), "failed");
  assert_string_equal(json_string_value(at(doc, "error", NULL)), f.run.error);
  assert_null(json_object_get(doc, "test"));
  assert_null_at(doc, "model");
  json_t *w1 = json_array_get(json_object_get(doc, "workers"), 1);
  assert_int_equal(int_at(w1, "rank"), 1);
  static const char *const wnull[] = {"host", "epochs", "samples", "seconds",
                                      "last_epoch_loss", "max_inflight", "lines_skipped"};
  for (size_t i = 0; i < sizeof wnull / sizeof wnull[0]; i++)
    assert_null_at(w1, wnull[i]);
  json_t *tr = json_object_get(doc, "train"); /* worker 0's figures alone */
  assert_int_equal(int_at(tr, "samples"), 5000);
  assert_int_equal(int_at(tr, "lines_skipped"), 1);
  json_t *s0 = json_array_get(json_object_get(doc, "servers"), 0);
  assert_string_equal(json_string_value(json_object_get(s0, "host")), "srv-a");
  assert_null_at(s0, "keys");
  assert_null_at(s0, "messages_dropped");
  json_t *b = json_object_get(doc, "balance"); /* server 1's figures alone */
  assert_int_equal(int_at(b, "keys_min"), 65);
  assert_true(real_at(b, "max_over_mean") == 1.0);
  json_decref(doc);

  /* Nobody reported anything: totals are unknown, not zero. */
  f.workers[0].prog = NULL;
  f.servers[1].stats = NULL;
  doc = write_and_load(&f);
  tr = json_object_get(doc, "train");
  assert_int_equal(int_at(tr, "epochs"), 5);
  static const char *const tnull[] = {"samples", "seconds", "samples_per_s", "last_epoch_loss",
                                      "lines_skipped"};
  for (size_t i = 0; i < sizeof tnull / sizeof tnull[0]; i++)
    assert_null_at(tr, tnull[i]);
  assert_null_at(json_object_get(doc, "balance"), "keys_min");
  json_decref(doc);

  /* Worker 0 reported an evaluation error: no test figures, no model. */
  fixture_init(&f);
  f.run.error = "worker 0 could not evaluate: a9a.t: No such file or directory";
  f.eval.error = "a9a.t: No such file or directory";
  doc = write_and_load(&f);
  assert_null(json_object_get(doc, "test"));
  assert_null_at(doc, "model");
  json_decref(doc);
}

/* No test set: worker 0 reports n = 0 and the document has no "test". */
static void test_no_test_set(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  f.eval.n = 0;
  json_t *doc = write_and_load(&f);
  assert_null(json_object_get(doc, "test"));
  assert_string_equal(json_string_value(at(doc, "model", NULL)), "runs/x/model.bin");
  json_decref(doc);
}

/* Doubles come back bit for bit, so a reader rounding them shows the
 * scheduler's digits. 0.329449996 is the case that used to differ: written
 * as %.6g it became 0.32945, which rounds to 0.3295, not 0.3294. */
static void test_doubles_round_trip(void **state) {
  (void)state;
  static const double v[] = {0.329449996, 0.1, 1.0 / 3.0, 5e-324, 2.2250738585072014e-308,
                             0.99999999999999989, 1e300, -0.0};
  fixture_t f;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    fixture_init(&f);
    *bin(&f, "accuracy") = v[i];
    *bin(&f, "logloss") = v[(i + 1) % (sizeof v / sizeof v[0])];
    f.prog[0].seconds = v[i];
    json_t *doc = write_and_load(&f);
    double a = real_at(json_object_get(doc, "test"), "accuracy");
    double l = real_at(json_object_get(doc, "test"), "logloss");
    double s = real_at(json_array_get(json_object_get(doc, "workers"), 0), "seconds");
    assert_memory_equal(&a, bin(&f, "accuracy"), sizeof a);
    assert_memory_equal(&l, bin(&f, "logloss"), sizeof l);
    assert_memory_equal(&s, &f.prog[0].seconds, sizeof s);
    json_decref(doc);
  }
  /* End to end: the scheduler's rendering equals the launcher's. */
  fixture_init(&f);
  *bin(&f, "accuracy") = 0.84994999999;
  *bin(&f, "logloss") = 0.329449996;
  *bin(&f, "auc") = 0.90226;
  json_decref(write_and_load(&f));
  char path[160], mine[PC_METRICS_TEXT_MAX], theirs[PC_METRICS_TEXT_MAX];
  path_of(path, sizeof path, "metrics.json");
  pd_metrics_t m;
  pc_err_t err = {0};
  assert_int_equal(pd_launch_read_metrics(path, &m, &err), PC_OK);
  pc_metric_t list[PC_METRICS_MAX];
  pc_metrics_format(mine, sizeof mine, list, ps_metrics_eval_list(&f.eval, list));
  pc_metrics_format(theirs, sizeof theirs, m.metrics, m.nmetrics);
  assert_string_equal(mine, "accuracy 0.8499  logloss 0.3294  auc 0.9023");
  assert_string_equal(theirs, mine);
}

/* Quotes, backslashes and control characters survive; bytes that are not
 * UTF-8 become '?' rather than making the document invalid. */
static void test_strings_escaped(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  const char *host = "we\"ird\\host\x01\n\t\x7f";
  const char *model = "/tmp/a \"b\"\\c\x1f/model.bin";
  f.workers[0].host = host;
  f.servers[1].host = "caf\xc3\xa9 \xff\xfe end"; /* valid é, then two stray bytes */
  f.eval.model_path = (char *)model;
  f.run.error = "bad \"line\"\\\x02 \xe2\x82"; /* cut inside a UTF-8 sequence */
  json_t *doc = write_and_load(&f);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(doc, "workers"), 0), "host")),
                      host);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(doc, "servers"), 1), "host")),
                      "caf?? ?? end");
  assert_string_equal(json_string_value(at(doc, "model", NULL)), model);
  assert_string_equal(json_string_value(at(doc, "error", NULL)), "bad \"line\"\\\x02 ??");
  json_decref(doc);
}

/* Counters beyond a JSON integer's range are written as its largest value. */
static void test_counter_saturates(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  f.stats[0].bytes = UINT64_MAX;
  f.run.messages_dropped = (uint64_t)INT64_MAX + 1;
  json_t *doc = write_and_load(&f);
  assert_true(int_at(json_array_get(json_object_get(doc, "servers"), 0), "bytes") == INT64_MAX);
  assert_true(int_at(doc, "messages_dropped_by_scheduler") == INT64_MAX);
  json_decref(doc);
}

static void test_write_errors(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  pc_err_t err = {0};
  char dir[160];
  path_of(dir, sizeof dir, "missing/dir");
  assert_int_equal(ps_metrics_write(dir, &f.run, &err), PC_EIO);
  assert_non_null(strstr(err.msg, "missing/dir/metrics.json.tmp"));
  assert_int_equal(ps_metrics_write(NULL, &f.run, &err), PC_EINVAL);
  assert_int_equal(ps_metrics_write(g_dir, NULL, &err), PC_EINVAL);
  f.run.workers = NULL;
  assert_int_equal(ps_metrics_write(g_dir, &f.run, &err), PC_EINVAL);
  char *long_dir = malloc(5000);
  memset(long_dir, 'd', 4999);
  long_dir[4999] = '\0';
  fixture_init(&f);
  assert_int_equal(ps_metrics_write(long_dir, &f.run, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "too long"));
  free(long_dir);
}

/* ---- every kind of model ---------------------------------------------- */

/* Multiclass: the metrics by name and the K x K matrix, row = true class. */
static void test_multiclass_object(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  static const char *const names[] = {"accuracy", "top5", "logloss"};
  const double v[] = {0.25, 0.5, 2.0735};
  set_metrics(&f, names, v, 3);
  uint64_t conf[9] = {5, 1, 0, 2, 7, 1, 0, 0, (uint64_t)INT64_MAX + 9};
  f.eval.classes = 3;
  f.eval.confusion = conf;
  f.eval.n_confusion = 9;
  json_t *doc = write_and_load(&f);
  json_t *t = json_object_get(doc, "test");
  static const char *const keys[] = {"n", "accuracy", "top5", "logloss", "confusion",
                                     "lines_skipped"};
  const char *key;
  json_t *val;
  size_t i = 0;
  json_object_foreach(t, key, val) {
    assert_true(i < 6);
    assert_string_equal(key, keys[i++]);
  }
  assert_int_equal(i, 6);
  assert_true(real_at(t, "top5") == 0.5);
  json_t *c = json_object_get(t, "confusion");
  assert_int_equal(json_array_size(c), 3);
  for (size_t r = 0; r < 3; r++) {
    assert_int_equal(json_array_size(json_array_get(c, r)), 3);
    for (size_t p = 0; p < 3; p++) {
      json_int_t want = r * 3 + p == 8 ? INT64_MAX : (json_int_t)conf[r * 3 + p];
      assert_true(json_integer_value(json_array_get(json_array_get(c, r), p)) == want);
    }
  }
  json_decref(doc);
}

static void test_regression_object(void **state) {
  (void)state;
  fixture_t f;
  fixture_init(&f);
  static const char *const names[] = {"rmse", "mae"};
  const double v[] = {0.9213, 0.7241};
  set_metrics(&f, names, v, 2);
  json_t *doc = write_and_load(&f);
  json_t *t = json_object_get(doc, "test");
  assert_int_equal(json_object_size(t), 4); /* n, rmse, mae, lines_skipped */
  assert_true(real_at(t, "rmse") == 0.9213);
  assert_true(real_at(t, "mae") == 0.7241);
  assert_null(json_object_get(t, "accuracy"));
  json_decref(doc);
}

/* What the scheduler refuses from worker 0, and keeps. */
static void test_eval_check(void **state) {
  (void)state;
  fixture_t f;
  pc_err_t err = {0};
  fixture_init(&f);
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_OK);
  assert_int_equal(ps_metrics_eval_check(NULL, &err), PC_EINVAL);
  static const struct {
    const char *name;
    const char *why;
  } bad[] = {
      {"", "no name"},
      {"a_sixteen_chars_", "longer than 15"},
      {"Accuracy", "outside [a-z0-9_]"},
      {"top\"5", "outside [a-z0-9_]"},
      {"caf\xc3\xa9", "byte 0xc3"},
      {"n", "reserved"},
      {"lines_skipped", "reserved"},
      {"confusion", "reserved"},
      {"auc", "sent twice"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fixture_init(&f);
    f.met[1].name = (char *)bad[i].name;
    assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_EPROTO);
    if (strstr(err.msg, bad[i].why) == NULL || strstr(err.msg, "metric") == NULL)
      fail_msg("'%s': message '%s' lacks '%s'", bad[i].name, err.msg, bad[i].why);
  }
  fixture_init(&f);
  f.eval.metrics[1] = NULL;
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_EPROTO);
  fixture_init(&f);
  f.met[2].name = "a_fifteen_chars"; /* the longest allowed */
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_OK);

  /* Too many metrics. */
  static const char *const many[] = {"m0", "m1", "m2",  "m3",  "m4",  "m5",  "m6",  "m7", "m8",
                                     "m9", "ma", "mb", "mc", "md", "me", "mf", "mg"};
  double v[17] = {0};
  set_metrics(&f, many, v, 16);
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_OK);
  Parasol__Metric extra = PARASOL__METRIC__INIT;
  Parasol__Metric *ptrs[17];
  memcpy(ptrs, f.metp, sizeof f.metp);
  extra.name = "mg";
  ptrs[16] = &extra;
  f.eval.metrics = ptrs;
  f.eval.n_metrics = 17;
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_EPROTO);
  assert_non_null(strstr(err.msg, "17 metrics, at most 16"));

  /* The confusion matrix: K x K counts, K <= 1000, or nothing. */
  uint64_t conf[4] = {1, 2, 3, 4};
  fixture_init(&f);
  f.eval.confusion = conf;
  f.eval.n_confusion = 4;
  f.eval.classes = 2;
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_OK);
  f.eval.classes = 3;
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_EPROTO);
  assert_non_null(strstr(err.msg, "4 counts for 3 classes"));
  f.eval.classes = 0;
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_EPROTO);
  f.eval.classes = 1001;
  f.eval.n_confusion = 0;
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_EPROTO);
  assert_non_null(strstr(err.msg, "1001 classes, at most 1000"));
  f.eval.classes = 65536; /* 65536^2 wraps a 32-bit product to 0 */
  assert_int_equal(ps_metrics_eval_check(&f.eval, &err), PC_EPROTO);

  /* Written anyway (it never is: the scheduler refuses it first), a result
   * that fails the check leaves no test figures, and no crash. */
  fixture_init(&f);
  f.met[0].name = "x\xff";
  json_t *doc = write_and_load(&f);
  assert_null(json_object_get(doc, "test"));
  json_decref(doc);
  pc_metric_t list[PC_METRICS_MAX];
  assert_int_equal(ps_metrics_eval_list(&f.eval, list), 0);
}

/* The whole way for each kind of model: worker 0's evaluator, its
 * EvalResult over the wire, the scheduler's check and line, metrics.json,
 * and the launcher's reader and line. */
static void round_trip(pw_label_kind_t kind, size_t outputs, const float *p, const float *y,
                       size_t n, const char *line) {
  pw_eval_t *ev = NULL;
  pw_evalres_t r;
  pc_err_t err = {0};
  assert_int_equal(pw_eval_new(&ev, kind, outputs, &err), PC_OK);
  assert_int_equal(pw_eval_add(ev, p, y, n, &err), PC_OK);
  assert_int_equal(pw_eval_finish(ev, &r, &err), PC_OK);
  pw_eval_free(&ev);
  Parasol__EvalResult pb = PARASOL__EVAL_RESULT__INIT;
  pw_evalres_pb_t store;
  pw_evalres_to_pb(&r, &store, &pb);
  pb.model_path = "m.bin";
  size_t len = parasol__eval_result__get_packed_size(&pb);
  uint8_t *buf = malloc(len);
  parasol__eval_result__pack(&pb, buf);
  Parasol__EvalResult *wire = parasol__eval_result__unpack(NULL, len, buf);
  assert_non_null(wire);
  assert_int_equal(ps_metrics_eval_check(wire, &err), PC_OK);

  fixture_t f;
  fixture_init(&f);
  f.run.eval = wire;
  json_t *doc = write_and_load(&f);
  json_t *c = json_object_get(json_object_get(doc, "test"), "confusion");
  assert_int_equal(json_array_size(c), r.classes);
  json_decref(doc);
  char path[160], sched[PC_METRICS_TEXT_MAX], launch[PC_METRICS_TEXT_MAX];
  path_of(path, sizeof path, "metrics.json");
  pd_metrics_t m;
  assert_int_equal(pd_launch_read_metrics(path, &m, &err), PC_OK);
  assert_true(m.finished && m.has_test);
  assert_int_equal(m.n, n);
  assert_int_equal(m.nmetrics, r.nmetrics);
  for (size_t i = 0; i < r.nmetrics; i++) {
    assert_string_equal(m.metrics[i].name, r.metrics[i].name);
    if (isfinite(r.metrics[i].value))
      assert_memory_equal(&m.metrics[i].value, &r.metrics[i].value, sizeof(double));
    else
      assert_true(isnan(m.metrics[i].value));
  }
  pc_metric_t list[PC_METRICS_MAX];
  pc_metrics_format(sched, sizeof sched, list, ps_metrics_eval_list(wire, list));
  pc_metrics_format(launch, sizeof launch, m.metrics, m.nmetrics);
  assert_string_equal(sched, line);
  assert_string_equal(launch, line);
  parasol__eval_result__free_unpacked(wire, NULL);
  free(buf);
  pw_evalres_free(&r);
}

static void test_round_trip_every_kind(void **state) {
  (void)state;
  const float bp[] = {0.9f, 0.2f, 0.6f, 0.4f}, by[] = {1, 0, 0, 1};
  round_trip(PW_LABEL_BINARY, 1, bp, by, 4, "accuracy 0.5000  logloss 0.5403  auc 0.7500");
  const float one[] = {0.9f}, pos[] = {1};
  round_trip(PW_LABEL_BINARY, 1, one, pos, 1, "accuracy 1.0000  logloss 0.1054  auc n/a");
  /* K = 6: right, wrong (not top5), wrong (top5), right */
  const float cp[] = {0.1f, 0.1f, 0.5f, 0.1f, 0.1f, 0.1f, 0.05f, 0.3f, 0.2f, 0.15f, 0.2f, 0.1f,
                      0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.5f, 0.9f, 0.02f, 0.02f, 0.02f, 0.02f,
                      0.02f};
  const float cy[] = {2, 0, 3, 0};
  round_trip(PW_LABEL_CLASS, 6, cp, cy, 4, "accuracy 0.5000  top5 0.7500  logloss 1.5242");
  const float rp[] = {3.5f, 4, 1}, ry[] = {4, 4, 2};
  round_trip(PW_LABEL_REAL, 1, rp, ry, 3, "rmse 0.6455  mae 0.5000");
}

/* ---- the human line --------------------------------------------------- */

static void test_format(void **state) {
  (void)state;
  char buf[PC_METRICS_TEXT_MAX];
  const pc_metric_t bin3[] = {{"accuracy", 0.84988637}, {"logloss", 0.32944999},
                              {"auc", 0.90218}};
  assert_string_equal(pc_metrics_format(buf, sizeof buf, bin3, 3),
                      "accuracy 0.8499  logloss 0.3294  auc 0.9022");
  const pc_metric_t odd[] = {{"accuracy", 1}, {"logloss", NAN}, {"auc", INFINITY}};
  assert_string_equal(pc_metrics_format(buf, sizeof buf, odd, 3),
                      "accuracy 1.0000  logloss n/a  auc n/a");
  const pc_metric_t reg[] = {{"rmse", 0.92134}, {"mae", 0.72406}};
  assert_string_equal(pc_metrics_format(buf, sizeof buf, reg, 2), "rmse 0.9213  mae 0.7241");
  assert_string_equal(pc_metrics_format(buf, sizeof buf, reg, 0), "no metrics");
  assert_string_equal(pc_metrics_format(buf, sizeof buf, NULL, 3), "no metrics");
  assert_string_equal(pc_metrics_format(buf, 9, bin3, 3), "accuracy"); /* cut, ended */
  assert_ptr_equal(pc_metrics_format(buf, 0, bin3, 3), buf);
  const pc_metric_t huge[] = {{"a", 1e300}, {"b", -1e300}, {"c", 1e9}};
  assert_string_equal(pc_metrics_format(buf, sizeof buf, huge, 3),
                      "a 1.0000e+300  b -1.0000e+300  c 1000000000.0000");
  /* The widest list fits: 16 names of 15 characters, 21-character values. */
  pc_metric_t wide[PC_METRICS_MAX];
  for (size_t i = 0; i < PC_METRICS_MAX; i++) {
    snprintf(wide[i].name, sizeof wide[i].name, "metric_%08zu", i);
    wide[i].value = -999999999999999.0;
  }
  pc_metrics_format(buf, sizeof buf, wide, PC_METRICS_MAX);
  assert_int_equal(strlen(buf), PC_METRICS_MAX * (15 + 1 + 21) + (PC_METRICS_MAX - 1) * 2);
  assert_true(strlen(buf) < sizeof buf);
  assert_true(pc_metrics_get(reg, 2, "mae") == 0.72406);
  assert_true(isnan(pc_metrics_get(reg, 2, "auc")));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_finished_every_field),
      cmocka_unit_test(test_layout_on_disk),
      cmocka_unit_test(test_non_finite_is_null),
      cmocka_unit_test(test_failed_run),
      cmocka_unit_test(test_no_test_set),
      cmocka_unit_test(test_doubles_round_trip),
      cmocka_unit_test(test_strings_escaped),
      cmocka_unit_test(test_counter_saturates),
      cmocka_unit_test(test_write_errors),
      cmocka_unit_test(test_multiclass_object),
      cmocka_unit_test(test_regression_object),
      cmocka_unit_test(test_eval_check),
      cmocka_unit_test(test_round_trip_every_kind),
      cmocka_unit_test(test_format),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
