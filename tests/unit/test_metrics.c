/* metrics.json: ps_metrics_write, read back with jansson (and with the
 * launcher's reader), and pc_metrics_format, the one human rendering. */
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

static char g_dir[64];

/* ---- fixtures --------------------------------------------------------- */

typedef struct fixture {
  Parasol__Progress prog[2];
  Parasol__ServerStats stats[2];
  Parasol__EvalResult eval;
  ps_metrics_worker_t workers[2];
  ps_metrics_server_t servers[2];
  ps_metrics_run_t run;
} fixture_t;

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
  f->eval.accuracy = 0.84988637061605554;
  f->eval.logloss = 0.32944999600000002;
  f->eval.auc = 0.90221234;
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
  static const char *const keys[] = {"format", "status",  "started", "ended",
                                     "test",   "train",   "workers", "servers",
                                     "balance", "messages_dropped_by_scheduler", "model"};
  const char *key;
  json_t *v;
  size_t i = 0;
  json_object_foreach(doc, key, v) { /* in this order, and nothing else ("error" only on failure) */
    assert_true(i < sizeof keys / sizeof keys[0]);
    assert_string_equal(key, keys[i++]);
  }
  assert_int_equal(i, sizeof keys / sizeof keys[0]);
  assert_int_equal(int_at(doc, "format"), 2);
  assert_string_equal(json_string_value(at(doc, "status", NULL)), "finished");
  assert_string_equal(json_string_value(at(doc, "started", NULL)), "2023-11-14T22:13:20Z");
  assert_string_equal(json_string_value(at(doc, "ended", NULL)), "2023-11-14T22:14:22Z");
  json_t *t = json_object_get(doc, "test");
  assert_int_equal(json_object_size(t), 5);
  assert_int_equal(int_at(t, "n"), 16281);
  assert_true(real_at(t, "accuracy") == f.eval.accuracy);
  assert_true(real_at(t, "logloss") == f.eval.logloss);
  assert_true(real_at(t, "auc") == f.eval.auc);
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
  const char *head = "{\n  \"format\": 2,\n  \"status\": \"finished\",\n  \"started\": ";
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
  f.eval.logloss = NAN;
  f.eval.auc = INFINITY;
  f.prog[0].seconds = -INFINITY;
  f.prog[0].samples = 0; /* no mean without samples */
  f.prog[1].samples = 0;
  f.prog[1].seconds = NAN;
  f.stats[0].sparse_keys = f.stats[1].sparse_keys = 0; /* an empty model: no ratio */
  f.stats[1].dense_keys = 0;
  json_t *doc = write_and_load(&f);
  json_t *t = json_object_get(doc, "test");
  assert_true(real_at(t, "accuracy") == f.eval.accuracy);
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
    f.eval.accuracy = v[i];
    f.eval.logloss = v[(i + 1) % (sizeof v / sizeof v[0])];
    f.prog[0].seconds = v[i];
    json_t *doc = write_and_load(&f);
    double a = real_at(json_object_get(doc, "test"), "accuracy");
    double l = real_at(json_object_get(doc, "test"), "logloss");
    double s = real_at(json_array_get(json_object_get(doc, "workers"), 0), "seconds");
    assert_memory_equal(&a, &f.eval.accuracy, sizeof a);
    assert_memory_equal(&l, &f.eval.logloss, sizeof l);
    assert_memory_equal(&s, &f.prog[0].seconds, sizeof s);
    json_decref(doc);
  }
  /* End to end: the scheduler's rendering equals the launcher's. */
  fixture_init(&f);
  f.eval.accuracy = 0.84994999999;
  f.eval.logloss = 0.329449996;
  f.eval.auc = 0.90226;
  json_decref(write_and_load(&f));
  char path[160], mine[PC_METRICS_TEXT_MAX], theirs[PC_METRICS_TEXT_MAX];
  path_of(path, sizeof path, "metrics.json");
  pd_metrics_t m;
  pc_err_t err = {0};
  assert_int_equal(pd_launch_read_metrics(path, &m, &err), PC_OK);
  pc_metrics_format(mine, sizeof mine, f.eval.accuracy, f.eval.logloss, f.eval.auc);
  pc_metrics_format(theirs, sizeof theirs, m.accuracy, m.logloss, m.auc);
  assert_string_equal(mine, "accuracy 0.8499  log-loss 0.3294  AUC 0.9023");
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

/* ---- the human line --------------------------------------------------- */

static void test_format(void **state) {
  (void)state;
  char buf[PC_METRICS_TEXT_MAX];
  assert_string_equal(pc_metrics_format(buf, sizeof buf, 0.84988637, 0.32944999, 0.90218),
                      "accuracy 0.8499  log-loss 0.3294  AUC 0.9022");
  assert_string_equal(pc_metrics_format(buf, sizeof buf, 1, NAN, INFINITY),
                      "accuracy 1.0000  log-loss n/a  AUC n/a");
  assert_string_equal(pc_metrics_format(buf, 9, 0.5, 0.5, 0.5), "accuracy"); /* cut, ended */
  assert_ptr_equal(pc_metrics_format(buf, 0, 0.5, 0.5, 0.5), buf);
  pc_metrics_format(buf, sizeof buf, 1e300, -1e300, 1e9); /* bounded, whatever the values */
  assert_true(strlen(buf) < sizeof buf);
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
      cmocka_unit_test(test_format),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
