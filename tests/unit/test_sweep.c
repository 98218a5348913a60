/* pd_sweep: --grid parsing and checks, the order of combinations, run
 * names, ranking and reading a run's figures. Running launchers is covered
 * by tests/integration/sweep.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_sweep.h"

static pc_config_t g_base;

static int add(pd_sweep_t *s, const char *spec, pc_err_t *e) {
  return pd_sweep_add_grid(s, &g_base, spec, e);
}

/* spec is refused with a message holding want. */
static void refused(const char *spec, const char *want) {
  pd_sweep_t s = {0};
  pc_err_t e = {0};
  assert_int_equal(add(&s, spec, &e), PC_ECONFIG);
  if (strstr(e.msg, want) == NULL)
    fail_msg("'%s': got '%s', want '%s'", spec, e.msg, want);
  assert_int_equal(s.ngrids, 0);
  pd_sweep_free(&s);
}

static void test_grid_parse(void **state) {
  (void)state;
  pd_sweep_t s = {0};
  pc_err_t e = {0};
  assert_int_equal(add(&s, "optimizer.lr=0.01,0.1,0.5", &e), PC_OK);
  assert_string_equal(s.grids[0].key, "optimizer.lr");
  assert_int_equal(s.grids[0].nvalues, 3);
  assert_string_equal(s.grids[0].values[2], "0.5");
  /* ';' separates values that are lists themselves. */
  assert_int_equal(add(&s, "model.hidden=256,128;64", &e), PC_OK);
  assert_int_equal(s.grids[1].nvalues, 2);
  assert_string_equal(s.grids[1].values[0], "256,128");
  assert_int_equal(pd_sweep_count(&s), 6);
  pd_sweep_free(&s);
}

static void test_grid_refused(void **state) {
  (void)state;
  refused("optimizer.lrr=0.1", "--grid optimizer.lrr=0.1: optimizer.lrr=0.1: unknown field");
  refused("optimizer.lr=0.1,abc", "--grid optimizer.lr=0.1,abc: optimizer.lr=abc: expected a number");
  refused("optimizer.lr=0.1,-1", "optimizer.lr=-1");
  refused("optimizer.lr=", "needs at least one value");
  refused("optimizer.lr=0.1,,0.2", "an empty value");
  refused("optimizer.lr=0.1,0.1", "value '0.1' is given twice");
  refused("optimizer.lr", "expected key=v1,v2");
  refused("=1,2", "no key");
  refused("output.dir=a,b", "output.dir is set by the sweep");
}

static void test_grid_duplicate_and_limits(void **state) {
  (void)state;
  pd_sweep_t s = {0};
  pc_err_t e = {0};
  assert_int_equal(add(&s, "training.batch=1,2", &e), PC_OK);
  assert_int_equal(add(&s, "training.batch=3", &e), PC_ECONFIG);
  assert_non_null(strstr(e.msg, "another --grid"));
  char spec[4096] = "training.seed=";
  for (int i = 1; i <= 501; i++)
    snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%s%d", i > 1 ? "," : "", i);
  assert_int_equal(add(&s, spec, &e), PC_ECONFIG); /* 2 x 501 > 1000 */
  assert_non_null(strstr(e.msg, "1002 combinations, more than 1000"));
  assert_int_equal(s.ngrids, 1);
  pd_sweep_free(&s);
}

static void test_enumeration_order(void **state) {
  (void)state;
  pd_sweep_t s = {0};
  pc_err_t e = {0};
  assert_int_equal(add(&s, "optimizer.lr=a1,a2,a3", &e), PC_ECONFIG); /* not numbers */
  assert_int_equal(add(&s, "optimizer.lr=0.01,0.1,0.5", &e), PC_OK);
  assert_int_equal(add(&s, "training.batch=64,256", &e), PC_OK);
  static const char *const want[6][2] = {{"0.01", "64"}, {"0.01", "256"}, {"0.1", "64"},
                                         {"0.1", "256"}, {"0.5", "64"},   {"0.5", "256"}};
  assert_int_equal(pd_sweep_count(&s), 6);
  for (size_t i = 0; i < 6; i++)
    for (size_t g = 0; g < 2; g++)
      assert_string_equal(pd_sweep_value(&s, i, g), want[i][g]);
  pd_sweep_free(&s);
}

static void test_names(void **state) {
  (void)state;
  pd_sweep_t s = {0};
  pc_err_t e = {0};
  assert_int_equal(add(&s, "optimizer.lr=0.01,0.1", &e), PC_OK);
  assert_int_equal(add(&s, "training.batch=64", &e), PC_OK);
  assert_int_equal(pd_sweep_name_runs(&s, &e), PC_OK);
  assert_string_equal(s.runs[0].name, "lr=0.01,batch=64");
  assert_string_equal(s.runs[1].name, "lr=0.1,batch=64");
  pd_sweep_free(&s);
  /* No grid: one run. */
  assert_int_equal(pd_sweep_name_runs(&s, &e), PC_OK);
  assert_int_equal(s.nruns, 1);
  assert_string_equal(s.runs[0].name, "all");
  pd_sweep_free(&s);
}

static void test_names_safe_unique(void **state) {
  (void)state;
  pd_sweep_t s = {0};
  pc_err_t e = {0};
  /* model.type and optimizer.type both end in "type": the full keys. */
  assert_int_equal(add(&s, "model.type=logistic", &e), PC_OK);
  assert_int_equal(add(&s, "optimizer.type=sgd", &e), PC_OK);
  assert_int_equal(pd_sweep_name_runs(&s, &e), PC_OK);
  assert_string_equal(s.runs[0].name, "model.type=logistic,optimizer.type=sgd");
  pd_sweep_free(&s);
  /* Path values hold '/' (replaced), and "a/b" and "a_b" would then
   * clash: both get ~N. */
  assert_int_equal(add(&s, "data.test=a/b,a_b,c d", &e), PC_OK);
  assert_int_equal(pd_sweep_name_runs(&s, &e), PC_OK);
  assert_string_equal(s.runs[0].name, "test=a_b~1");
  assert_string_equal(s.runs[1].name, "test=a_b~2");
  assert_string_equal(s.runs[2].name, "test=c_d");
  pd_sweep_free(&s);
  /* Too long for a name: cut, with ~N to keep it unique. */
  char spec[600] = "data.source=";
  memset(spec + strlen(spec), 'v', 200);
  assert_int_equal(add(&s, spec, &e), PC_OK);
  assert_int_equal(pd_sweep_name_runs(&s, &e), PC_OK);
  assert_int_equal(strlen(s.runs[0].name), PD_SWEEP_NAME_MAX - 1);
  assert_string_equal(s.runs[0].name + PD_SWEEP_NAME_MAX - 3, "~1");
  pd_sweep_free(&s);
}

static pd_run_t run(size_t index, pd_run_status_t st, const char *metric, double v) {
  pd_run_t r = {.index = index, .status = st};
  if (metric != NULL) {
    r.nmetrics = 1;
    snprintf(r.metrics[0].name, sizeof r.metrics[0].name, "%s", metric);
    r.metrics[0].value = v;
  }
  return r;
}

static void test_direction(void **state) {
  (void)state;
  assert_int_equal(pc_metric_direction("accuracy"), 1);
  assert_int_equal(pc_metric_direction("auc"), 1);
  assert_int_equal(pc_metric_direction("top5"), 1);
  assert_int_equal(pc_metric_direction("logloss"), -1);
  assert_int_equal(pc_metric_direction("rmse"), -1);
  assert_int_equal(pc_metric_direction("mae"), -1);
  assert_int_equal(pc_metric_direction("other"), 0);
}

static void test_rank_higher(void **state) {
  (void)state;
  pd_run_t r[6] = {run(0, PD_RUN_FAILED, NULL, 0),        run(1, PD_RUN_FINISHED, "accuracy", 0.80),
                   run(2, PD_RUN_FINISHED, "accuracy", NAN), run(3, PD_RUN_FINISHED, "accuracy", 0.85),
                   run(4, PD_RUN_NOT_RUN, NULL, 0),       run(5, PD_RUN_FINISHED, "accuracy", 0.80)};
  pd_sweep_rank(r, 6);
  static const size_t want[6] = {3, 1, 5, 2, 0, 4}; /* ties keep their order */
  for (size_t i = 0; i < 6; i++)
    assert_int_equal(r[i].index, want[i]);
}

static void test_rank_lower(void **state) {
  (void)state;
  pd_run_t r[4] = {run(0, PD_RUN_FINISHED, "rmse", 0.95), run(1, PD_RUN_STOPPED, NULL, 0),
                   run(2, PD_RUN_FINISHED, "rmse", 0.90), run(3, PD_RUN_FAILED, NULL, 0)};
  pd_sweep_rank(r, 4);
  static const size_t want[4] = {2, 0, 3, 1};
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(r[i].index, want[i]);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_read_run(void **state) {
  (void)state;
  char path[] = "/tmp/test_sweep_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  pd_run_t r = {0};
  pc_err_t e = {0};
  write_file(path, "{\"format\": 3, \"status\": \"finished\", "
                   "\"test\": {\"n\": 10, \"accuracy\": 0.5, \"logloss\": 0.7}}");
  assert_int_equal(pd_sweep_read_run(&r, path, &e), PC_OK);
  assert_int_equal(r.status, PD_RUN_FINISHED);
  assert_string_equal(r.split, "test");
  assert_int_equal(r.nmetrics, 2);
  assert_string_equal(r.metrics[0].name, "accuracy");
  /* A "valid" object wins over "test". */
  write_file(path, "{\"format\": 3, \"status\": \"finished\", \"test\": {\"n\": 10, \"accuracy\": 0.5},"
                   " \"valid\": {\"n\": 5, \"logloss\": 0.3, \"accuracy\": 0.9}}");
  assert_int_equal(pd_sweep_read_run(&r, path, &e), PC_OK);
  assert_string_equal(r.split, "valid");
  assert_int_equal(r.nmetrics, 2);
  assert_string_equal(r.metrics[0].name, "logloss");
  assert_true(r.metrics[0].value == 0.3);
  write_file(path, "{\"format\": 3, \"status\": \"failed\", \"error\": \"worker 0 died\"}");
  r = (pd_run_t){0};
  assert_int_equal(pd_sweep_read_run(&r, path, &e), PC_OK);
  assert_int_equal(r.status, PD_RUN_FAILED);
  assert_string_equal(r.error, "worker 0 died");
  assert_int_equal(r.nmetrics, 0);
  unlink(path);
}

static int group_setup(void **state) {
  (void)state;
  pc_config_defaults(&g_base);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grid_parse),      cmocka_unit_test(test_grid_refused),
      cmocka_unit_test(test_grid_duplicate_and_limits),
      cmocka_unit_test(test_enumeration_order), cmocka_unit_test(test_names),
      cmocka_unit_test(test_names_safe_unique), cmocka_unit_test(test_direction),
      cmocka_unit_test(test_rank_higher),     cmocka_unit_test(test_rank_lower),
      cmocka_unit_test(test_read_run),
  };
  return cmocka_run_group_tests(tests, group_setup, NULL);
}
