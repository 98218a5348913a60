/* pw_eval: accuracy, log-loss, ROC AUC on hand-computed cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "pw_eval.h"

#define EPS 1e-12

/* cmocka's float assertion rounds to float; these need double. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __LINE__)

static void assert_near_at(double a, double b, double eps, int line) {
  if (!(fabs(a - b) <= eps))
    fail_msg("line %d: %.17g != %.17g (eps %g)", line, a, b, eps);
}

static pw_metrics_t eval_ok(const float *p, const float *y, size_t n) {
  pw_metrics_t m;
  pc_err_t err = {0};
  int rc = pw_eval_binary(p, y, n, &m, &err);
  if (rc != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(m.n, n);
  return m;
}

static void test_basic(void **state) {
  (void)state;
  /* positives score 0.9, 0.4; negatives 0.2, 0.6: 3 of 4 pairs ordered */
  const float p[] = {0.9f, 0.2f, 0.6f, 0.4f}, y[] = {1, 0, 0, 1};
  pw_metrics_t m = eval_ok(p, y, 4);
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
  pw_metrics_t m = eval_ok(p, y, 4);
  assert_near(m.auc, 0.75, EPS);
  assert_near(m.accuracy, 0.5, EPS); /* 0.5 predicts 1 */
  const float q[] = {0.3f, 0.3f, 0.3f}, z[] = {1, 0, 1};
  assert_near(eval_ok(q, z, 3).auc, 0.5, EPS);
}

static void test_perfect_and_reversed(void **state) {
  (void)state;
  const float p[] = {0.1f, 0.2f, 0.8f, 0.9f}, y[] = {0, 0, 1, 1}, r[] = {1, 1, 0, 0};
  pw_metrics_t m = eval_ok(p, y, 4);
  assert_near(m.auc, 1.0, EPS);
  assert_near(m.accuracy, 1.0, EPS);
  m = eval_ok(p, r, 4);
  assert_near(m.auc, 0.0, EPS);
  assert_near(m.accuracy, 0.0, EPS);
}

static void test_clipping_and_one_class(void **state) {
  (void)state;
  const float p[] = {0.0f, 1.0f}, y[] = {1, 1};
  pw_metrics_t m = eval_ok(p, y, 2);
  /* -log(1e-15) for the confident miss, ~1e-15 for the hit */
  assert_near(m.logloss, (-log(1e-15) - log1p(-1e-15)) / 2.0, 1e-9);
  assert_true(isfinite(m.logloss));
  assert_true(isnan(m.auc));
  assert_near(m.accuracy, 0.5, EPS);
  const float y0[] = {0};
  assert_true(isnan(eval_ok(p, y0, 1).auc));
}

static void test_rejects(void **state) {
  (void)state;
  pw_metrics_t m;
  pc_err_t err = {0};
  const float y[] = {0, 1};
  const float nan_p[] = {0.5f, NAN}, hi[] = {1.5f, 0.5f}, lo[] = {0.5f, -0.01f};
  assert_int_equal(pw_eval_binary(nan_p, y, 0, &m, &err), PC_EINVAL);
  assert_int_equal(pw_eval_binary(nan_p, y, 2, &m, &err), PC_EINVAL);
  assert_int_equal(pw_eval_binary(hi, y, 2, &m, &err), PC_EINVAL);
  assert_int_equal(pw_eval_binary(lo, y, 2, &m, &err), PC_EINVAL);
  const float p[] = {0.5f, 0.5f}, bad_y[] = {0, 2};
  assert_int_equal(pw_eval_binary(p, bad_y, 2, &m, &err), PC_EINVAL);
  assert_int_equal(pw_eval_binary(NULL, y, 2, &m, &err), PC_EINVAL);
}

/* Sorting AUC against the O(n^2) pair definition, with many ties. */
static void test_matches_pairwise(void **state) {
  (void)state;
  enum { N = 500 };
  float p[N], y[N];
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
  assert_near(eval_ok(p, y, N).auc, good / pairs, 1e-12);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_ties),
      cmocka_unit_test(test_perfect_and_reversed),
      cmocka_unit_test(test_clipping_and_one_class),
      cmocka_unit_test(test_rejects),
      cmocka_unit_test(test_matches_pairwise),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
