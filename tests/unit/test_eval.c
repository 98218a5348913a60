/* pw_eval: the streaming evaluator for binary, multiclass and regression
 * labels on hand-computed cases, its refusals, and its outputs (printer,
 * JSON, protobuf). */
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

#include "pw_eval.h"

#define EPS 1e-12

/* cmocka's float assertion rounds to float; these need double. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __LINE__)

static void assert_near_at(double a, double b, double eps, int line) {
  if (!(fabs(a - b) <= eps))
    fail_msg("line %d: %.17g != %.17g (eps %g)", line, a, b, eps);
}

/* Evaluates n examples fed in chunks of `chunk` (0: all at once). */
static pw_evalres_t eval_chunked(pw_label_kind_t kind, size_t outputs, const float *p,
                                 const float *y, size_t n, size_t chunk) {
  pw_eval_t *e = NULL;
  pw_evalres_t r;
  pc_err_t err = {0};
  if (pw_eval_new(&e, kind, outputs, &err) != PC_OK)
    fail_msg("pw_eval_new: %s", err.msg);
  chunk = chunk ? chunk : n;
  for (size_t i = 0; i < n; i += chunk) {
    size_t m = n - i < chunk ? n - i : chunk;
    if (pw_eval_add(e, p + i * outputs, y + i, m, &err) != PC_OK)
      fail_msg("pw_eval_add: %s", err.msg);
  }
  if (pw_eval_finish(e, &r, &err) != PC_OK)
    fail_msg("pw_eval_finish: %s", err.msg);
  pw_eval_free(&e);
  assert_null(e);
  assert_int_equal(r.n, n);
  return r;
}

static double get(const pw_evalres_t *r, const char *name) {
  for (size_t i = 0; i < r->nmetrics; i++)
    if (strcmp(r->metrics[i].name, name) == 0)
      return r->metrics[i].value;
  fail_msg("no metric %s", name);
  return NAN;
}

static void assert_names(const pw_evalres_t *r, const char *const *names, size_t n) {
  assert_int_equal(r->nmetrics, n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(r->metrics[i].name, names[i]);
}

/* ---- binary: today's figures, through the streaming API ---------------- */

typedef struct bin {
  double accuracy, logloss, auc;
} bin_t;

/* Fed whole and one example at a time: the same doubles either way. */
static bin_t eval_ok(const float *p, const float *y, size_t n) {
  static const char *const names[] = {"accuracy", "logloss", "auc"};
  pw_evalres_t a = eval_chunked(PW_LABEL_BINARY, 1, p, y, n, 0);
  pw_evalres_t b = eval_chunked(PW_LABEL_BINARY, 1, p, y, n, 1);
  assert_names(&a, names, 3);
  assert_null(a.confusion);
  assert_int_equal(a.classes, 0);
  for (size_t i = 0; i < 3; i++)
    assert_memory_equal(&a.metrics[i].value, &b.metrics[i].value, sizeof(double));
  bin_t m = {get(&a, "accuracy"), get(&a, "logloss"), get(&a, "auc")};
  pw_evalres_free(&a);
  pw_evalres_free(&b);
  return m;
}

static void test_basic(void **state) {
  (void)state;
  /* positives score 0.9, 0.4; negatives 0.2, 0.6: 3 of 4 pairs ordered */
  const float p[] = {0.9f, 0.2f, 0.6f, 0.4f}, y[] = {1, 0, 0, 1};
  bin_t m = eval_ok(p, y, 4);
  assert_near(m.accuracy, 0.5, EPS);
  double ll = -(log((double)0.9f) + log(1.0 - (double)0.2f) + log(1.0 - (double)0.6f) +
                log((double)0.4f)) / 4.0;
  assert_near(m.logloss, ll, EPS);
  assert_near(m.auc, 0.75, EPS);
}

static void test_ties(void **state) {
  (void)state;
  /* pos {0.5, 0.8} vs neg {0.5, 0.5}: 0.5+0.5 (ties) + 1+1 = 3 of 4 */
  const float p[] = {0.5f, 0.5f, 0.5f, 0.8f}, y[] = {1, 0, 0, 1};
  bin_t m = eval_ok(p, y, 4);
  assert_near(m.auc, 0.75, EPS);
  assert_near(m.accuracy, 0.5, EPS); /* 0.5 predicts 1 */
  const float q[] = {0.3f, 0.3f, 0.3f}, z[] = {1, 0, 1};
  assert_near(eval_ok(q, z, 3).auc, 0.5, EPS);
}

static void test_perfect_and_reversed(void **state) {
  (void)state;
  const float p[] = {0.1f, 0.2f, 0.8f, 0.9f}, y[] = {0, 0, 1, 1}, r[] = {1, 1, 0, 0};
  bin_t m = eval_ok(p, y, 4);
  assert_near(m.auc, 1.0, EPS);
  assert_near(m.accuracy, 1.0, EPS);
  m = eval_ok(p, r, 4);
  assert_near(m.auc, 0.0, EPS);
  assert_near(m.accuracy, 0.0, EPS);
}

static void test_clipping_and_one_class(void **state) {
  (void)state;
  const float p[] = {0.0f, 1.0f}, y[] = {1, 1};
  bin_t m = eval_ok(p, y, 2);
  /* -log(1e-15) for the confident miss, ~1e-15 for the hit */
  assert_near(m.logloss, (-log(1e-15) - log1p(-1e-15)) / 2.0, 1e-9);
  assert_true(isfinite(m.logloss));
  assert_true(isnan(m.auc));
  assert_near(m.accuracy, 0.5, EPS);
  const float y0[] = {0};
  assert_true(isnan(eval_ok(p, y0, 1).auc));
}

/* Sorting AUC against the O(n^2) pair definition, with many ties; fed in
 * chunks that make the score buffer grow several times. */
static void test_matches_pairwise(void **state) {
  (void)state;
  enum { N = 5000 };
  static float p[N], y[N];
  srand(7);
  for (size_t i = 0; i < N; i++) {
    p[i] = (float)(rand() % 11) / 10.0f;
    y[i] = (float)(rand() % 3 == 0);
  }
  double good = 0, pairs = 0;
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < N; j++)
      if (y[i] == 1 && y[j] == 0) {
        pairs += 1;
        good += p[i] > p[j] ? 1.0 : p[i] == p[j] ? 0.5 : 0.0;
      }
  pw_evalres_t r = eval_chunked(PW_LABEL_BINARY, 1, p, y, N, 777);
  assert_near(get(&r, "auc"), good / pairs, 1e-12);
  pw_evalres_free(&r);
}

/* ---- multiclass -------------------------------------------------------- */

/* K = 6, so top5 is reported. Hand-worked:
 *   0: true 2, argmax 2 (right), rank 0 (top5)
 *   1: true 0, argmax 1, five classes above 0.05 (not top5)
 *   2: true 5, argmax 0 (the first of the tied 0.2s), ahead of 5: 0..3 (0.2)
 *      and 4 (0.1, tied, lower class): rank 5 (not top5)
 *   3: true 3, argmax 5, ahead: 5 (0.5) and 0..2 (tied): rank 4 (top5) */
#define K6 6
static const float P6[][K6] = {
    {0.1f, 0.1f, 0.5f, 0.1f, 0.1f, 0.1f},
    {0.05f, 0.3f, 0.2f, 0.15f, 0.2f, 0.1f},
    {0.2f, 0.2f, 0.2f, 0.2f, 0.1f, 0.1f},
    {0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.5f},
};
static const float Y6[] = {2, 0, 5, 3};

static void test_multiclass(void **state) {
  (void)state;
  static const char *const names[] = {"accuracy", "top5", "logloss"};
  for (size_t chunk = 0; chunk <= 3; chunk++) {
    pw_evalres_t r = eval_chunked(PW_LABEL_CLASS, K6, &P6[0][0], Y6, 4, chunk);
    assert_names(&r, names, 3);
    assert_near(get(&r, "accuracy"), 0.25, EPS);
    assert_near(get(&r, "top5"), 0.5, EPS);
    double ll = -(log((double)0.5f) + log((double)0.05f) + log((double)0.1f) +
                  log((double)0.1f)) / 4.0;
    assert_near(get(&r, "logloss"), ll, EPS);
    assert_int_equal(r.classes, K6);
    assert_non_null(r.confusion);
    uint64_t want[K6 * K6] = {0};
    want[2 * K6 + 2] = 1; /* row = true class, column = predicted */
    want[0 * K6 + 1] = 1;
    want[5 * K6 + 0] = 1;
    want[3 * K6 + 5] = 1;
    assert_memory_equal(r.confusion, want, sizeof want);
    pw_evalres_free(&r);
    assert_null(r.confusion);
    assert_int_equal(r.nmetrics, 0);
  }
}

/* Five classes or fewer: no top5 (it would always be 1). */
static void test_multiclass_small(void **state) {
  (void)state;
  static const char *const names[] = {"accuracy", "logloss"};
  const float p[] = {0.7f, 0.2f, 0.1f, 0.4f, 0.0f, 0.6f, 0.3f, 0.3f, 0.4f};
  const float y[] = {0, 1, 2};
  pw_evalres_t r = eval_chunked(PW_LABEL_CLASS, 3, p, y, 3, 0);
  assert_names(&r, names, 2);
  assert_near(get(&r, "accuracy"), 2.0 / 3.0, EPS);
  /* p = 0 for the true class clips to 1e-15 */
  assert_near(get(&r, "logloss"), -(log((double)0.7f) + log(1e-15) + log((double)0.4f)) / 3.0,
              1e-9);
  const uint64_t want[9] = {1, 0, 0, 0, 0, 1, 0, 0, 1};
  assert_memory_equal(r.confusion, want, sizeof want);
  pw_evalres_free(&r);
}

/* ---- regression -------------------------------------------------------- */

static void test_regression(void **state) {
  (void)state;
  static const char *const names[] = {"rmse", "mae"};
  const float p[] = {1, 2, 3, 4, -1.5f}, y[] = {1.5f, 2, 1, 4, 0.5f};
  /* errors -0.5, 0, 2, 0, -2: squares 0.25 + 4 + 4, absolutes 4.5 */
  for (size_t chunk = 0; chunk <= 2; chunk++) {
    pw_evalres_t r = eval_chunked(PW_LABEL_REAL, 1, p, y, 5, chunk);
    assert_names(&r, names, 2);
    assert_near(get(&r, "rmse"), sqrt(8.25 / 5.0), EPS);
    assert_near(get(&r, "mae"), 4.5 / 5.0, EPS);
    assert_null(r.confusion);
    pw_evalres_free(&r);
  }
}

/* ---- refusals ---------------------------------------------------------- */

/* One add that must fail with code, its message containing want. */
static void add_fails(pw_eval_t *e, const float *p, const float *y, size_t n, int code,
                      const char *want) {
  pc_err_t err = {0};
  assert_int_equal(pw_eval_add(e, p, y, n, &err), code);
  if (strstr(err.msg, want) == NULL)
    fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static void test_bad_binary(void **state) {
  (void)state;
  pw_eval_t *e = NULL;
  pc_err_t err = {0};
  assert_int_equal(pw_eval_new(&e, PW_LABEL_BINARY, 1, &err), PC_OK);
  const float y[] = {0, 1};
  const float nan_p[] = {0.5f, NAN}, hi[] = {1.5f, 0.5f}, lo[] = {0.5f, -0.01f};
  add_fails(e, nan_p, y, 2, PC_EINVAL, "example 1: probability nan is not in [0, 1]");
  add_fails(e, hi, y, 2, PC_EINVAL, "example 0: probability 1.5");
  add_fails(e, lo, y, 2, PC_EINVAL, "example 1: probability -0.01");
  const float p[] = {0.5f, 0.5f, 0.5f}, bad_y[] = {0, 2}, neg_y[] = {-1};
  add_fails(e, p, bad_y, 2, PC_EDATA, "example 1: label 2 is not 0 or 1");
  add_fails(e, p, neg_y, 1, PC_EDATA, "example 0: label -1");
  add_fails(e, NULL, y, 2, PC_EINVAL, "NULL");
  /* Indices count from the first example added; a refused chunk counts for
   * nothing: the figures below are those of the three good examples. */
  const float good_p[] = {0.9f, 0.1f, 0.8f}, good_y[] = {1, 0, 0};
  assert_int_equal(pw_eval_add(e, good_p, good_y, 3, &err), PC_OK);
  const float mixed_y[] = {1, 7};
  add_fails(e, p, mixed_y, 2, PC_EDATA, "example 4: label 7");
  pw_evalres_t r;
  assert_int_equal(pw_eval_finish(e, &r, &err), PC_OK);
  assert_int_equal(r.n, 3);
  assert_near(get(&r, "accuracy"), 2.0 / 3.0, EPS);
  pw_evalres_free(&r);
  /* Spent: no more adds or results. */
  add_fails(e, good_p, good_y, 1, PC_EINVAL, "already finished");
  assert_int_equal(pw_eval_finish(e, &r, &err), PC_EINVAL);
  pw_eval_free(&e);
  pw_eval_free(&e); /* NULL-safe */
}

static void test_bad_class_and_real(void **state) {
  (void)state;
  pw_eval_t *e = NULL;
  pc_err_t err = {0};
  assert_int_equal(pw_eval_new(&e, PW_LABEL_CLASS, K6, &err), PC_OK);
  const float y_big[] = {2, 6}, y_frac[] = {1.5f}, y_neg[] = {-1}, y_nan[] = {NAN};
  add_fails(e, &P6[0][0], y_big, 2, PC_EDATA, "example 1: label 6 is not a class 0..5");
  add_fails(e, &P6[0][0], y_frac, 1, PC_EDATA, "example 0: label 1.5 is not a class");
  add_fails(e, &P6[0][0], y_neg, 1, PC_EDATA, "example 0: label -1");
  add_fails(e, &P6[0][0], y_nan, 1, PC_EDATA, "example 0: label nan");
  float p[K6] = {0.1f, 0.1f, 0.1f, 0.1f, INFINITY, 0.1f};
  const float y0[] = {0};
  add_fails(e, p, y0, 1, PC_EINVAL, "example 0: probability inf");
  pw_eval_free(&e);

  assert_int_equal(pw_eval_new(&e, PW_LABEL_REAL, 1, &err), PC_OK);
  const float rp[] = {1, 2}, ry[] = {1, INFINITY}, rp_bad[] = {NAN, 1}, ry_ok[] = {1, 2};
  add_fails(e, rp, ry, 2, PC_EDATA, "example 1: label inf is not a finite number");
  add_fails(e, rp_bad, ry_ok, 2, PC_EINVAL, "example 0: prediction nan is not finite");
  pw_evalres_t r;
  assert_int_equal(pw_eval_finish(e, &r, &err), PC_EINVAL); /* nothing was counted */
  assert_non_null(strstr(err.msg, "at least one example"));
  assert_int_equal(r.nmetrics, 0);
  pw_eval_free(&e);
}

static void test_bad_new(void **state) {
  (void)state;
  pw_eval_t *e = (pw_eval_t *)&e; /* anything but NULL: a failure must reset it */
  pc_err_t err = {0};
  assert_int_equal(pw_eval_new(&e, PW_LABEL_BINARY, 2, &err), PC_EINVAL);
  assert_null(e);
  assert_int_equal(pw_eval_new(&e, PW_LABEL_REAL, 0, &err), PC_EINVAL);
  assert_int_equal(pw_eval_new(&e, PW_LABEL_CLASS, 1, &err), PC_EINVAL);
  assert_int_equal(pw_eval_new(&e, PW_LABEL_CLASS, PC_METRICS_MAX_CLASSES + 1, &err),
                   PC_EINVAL);
  assert_non_null(strstr(err.msg, "2..1000"));
  assert_int_equal(pw_eval_new(&e, (pw_label_kind_t)7, 1, &err), PC_EINVAL);
  assert_null(e);
  assert_int_equal(pw_eval_new(NULL, PW_LABEL_BINARY, 1, &err), PC_EINVAL);
  assert_int_equal(pw_eval_new(&e, PW_LABEL_CLASS, PC_METRICS_MAX_CLASSES, &err), PC_OK);
  pw_eval_free(&e);
}

/* ---- outputs ----------------------------------------------------------- */

static char *printed(const pw_evalres_t *r) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  pw_evalres_print(r, f);
  fclose(f);
  return text;
}

static void test_print(void **state) {
  (void)state;
  const float p[] = {0.9f, 0.2f, 0.6f, 0.4f}, y[] = {1, 0, 0, 1};
  pw_evalres_t r = eval_chunked(PW_LABEL_BINARY, 1, p, y, 4, 0);
  char *text = printed(&r);
  assert_string_equal(text, "examples 4\naccuracy 0.500000\nlogloss 0.540271\nauc 0.750000\n");
  free(text);
  pw_evalres_free(&r);

  r = eval_chunked(PW_LABEL_CLASS, K6, &P6[0][0], Y6, 4, 0);
  r.confusion[1 * K6 + 1] = 12; /* a two-digit count widens every column */
  text = printed(&r);
  assert_string_equal(text, "examples 4\naccuracy 0.250000\ntop5 0.500000\nlogloss 2.073512\n"
                            "confusion (rows: true class, columns: predicted)\n"
                            "    0  1  2  3  4  5\n"
                            " 0  0  1  0  0  0  0\n"
                            " 1  0 12  0  0  0  0\n"
                            " 2  0  0  1  0  0  0\n"
                            " 3  0  0  0  0  0  1\n"
                            " 4  0  0  0  0  0  0\n"
                            " 5  1  0  0  0  0  0\n");
  free(text);
  pw_evalres_free(&r);

  /* Over 20 classes the matrix is only named. */
  enum { K = 21 };
  float q[K] = {0};
  q[3] = 1;
  const float z[] = {3};
  r = eval_chunked(PW_LABEL_CLASS, K, q, z, 1, 0);
  text = printed(&r);
  assert_string_equal(text, "examples 1\naccuracy 1.000000\ntop5 1.000000\nlogloss 0.000000\n"
                            "confusion 21 x 21 (too wide to print; see --json)\n");
  free(text);
  pw_evalres_free(&r);
}

static json_t *as_json(const pw_evalres_t *r) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  pc_err_t err = {0};
  assert_int_equal(pw_evalres_json(r, f, &err), PC_OK);
  fclose(f);
  assert_true(len > 0 && text[len - 1] == '\n');
  json_error_t je;
  json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  if (doc == NULL)
    fail_msg("%s: %s", je.text, text);
  free(text);
  return doc;
}

static void test_json(void **state) {
  (void)state;
  pw_evalres_t r = eval_chunked(PW_LABEL_CLASS, K6, &P6[0][0], Y6, 4, 0);
  json_t *doc = as_json(&r);
  static const char *const keys[] = {"n", "accuracy", "top5", "logloss", "confusion"};
  const char *key;
  json_t *v;
  size_t i = 0;
  json_object_foreach(doc, key, v) {
    assert_true(i < 5);
    assert_string_equal(key, keys[i++]);
  }
  assert_int_equal(i, 5);
  assert_int_equal(json_integer_value(json_object_get(doc, "n")), 4);
  double ll = json_real_value(json_object_get(doc, "logloss"));
  assert_memory_equal(&ll, &r.metrics[2].value, sizeof ll); /* 17 digits: exact */
  json_t *c = json_object_get(doc, "confusion");
  assert_int_equal(json_array_size(c), K6);
  for (size_t t = 0; t < K6; t++)
    for (size_t p = 0; p < K6; p++)
      assert_int_equal(json_integer_value(json_array_get(json_array_get(c, t), p)),
                       r.confusion[t * K6 + p]);
  json_decref(doc);
  pw_evalres_free(&r);

  /* AUC undefined: null; no confusion for binary. */
  const float p[] = {0.3f}, y[] = {1};
  r = eval_chunked(PW_LABEL_BINARY, 1, p, y, 1, 0);
  doc = as_json(&r);
  assert_true(json_is_null(json_object_get(doc, "auc")));
  assert_null(json_object_get(doc, "confusion"));
  assert_int_equal(json_object_size(doc), 4);
  json_decref(doc);
  pw_evalres_free(&r);
}

/* What the worker sends: packed and unpacked, the same figures. */
static void test_to_pb(void **state) {
  (void)state;
  pw_evalres_t r = eval_chunked(PW_LABEL_CLASS, K6, &P6[0][0], Y6, 4, 0);
  Parasol__EvalResult pb = PARASOL__EVAL_RESULT__INIT;
  pw_evalres_pb_t store;
  pw_evalres_to_pb(&r, &store, &pb);
  size_t len = parasol__eval_result__get_packed_size(&pb);
  uint8_t *buf = malloc(len);
  assert_non_null(buf);
  parasol__eval_result__pack(&pb, buf);
  Parasol__EvalResult *back = parasol__eval_result__unpack(NULL, len, buf);
  assert_non_null(back);
  assert_int_equal(back->n, 4);
  assert_int_equal(back->n_metrics, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(back->metrics[i]->name, r.metrics[i].name);
    assert_memory_equal(&back->metrics[i]->value, &r.metrics[i].value, sizeof(double));
  }
  assert_int_equal(back->classes, K6);
  assert_int_equal(back->n_confusion, K6 * K6);
  assert_memory_equal(back->confusion, r.confusion, K6 * K6 * sizeof(uint64_t));
  parasol__eval_result__free_unpacked(back, NULL);
  free(buf);
  pw_evalres_free(&r);

  const float p[] = {1, 2}, y[] = {1, 3};
  r = eval_chunked(PW_LABEL_REAL, 1, p, y, 2, 0);
  pb = (Parasol__EvalResult)PARASOL__EVAL_RESULT__INIT;
  pw_evalres_to_pb(&r, &store, &pb);
  assert_int_equal(pb.n_metrics, 2);
  assert_int_equal(pb.classes, 0);
  assert_int_equal(pb.n_confusion, 0);
  assert_string_equal(pb.metrics[1]->name, "mae");
  pw_evalres_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_ties),
      cmocka_unit_test(test_perfect_and_reversed),
      cmocka_unit_test(test_clipping_and_one_class),
      cmocka_unit_test(test_matches_pairwise),
      cmocka_unit_test(test_multiclass),
      cmocka_unit_test(test_multiclass_small),
      cmocka_unit_test(test_regression),
      cmocka_unit_test(test_bad_binary),
      cmocka_unit_test(test_bad_class_and_real),
      cmocka_unit_test(test_bad_new),
      cmocka_unit_test(test_print),
      cmocka_unit_test(test_json),
      cmocka_unit_test(test_to_pb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
