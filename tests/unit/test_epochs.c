/* The scheduler's per-epoch series (ps/ps_epochs.c): a row is complete
 * only when every worker has reported that epoch; it then goes to
 * metrics.csv, in epoch order, and into metrics.json's "epochs". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ps_epochs.h"
#include "ps_metrics.h"

static char g_dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/parasol-epochs-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static char *read_csv(void) {
  static char buf[4096];
  char path[128];
  snprintf(path, sizeof path, "%s/metrics.csv", g_dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* metrics.json of a run with series e, read back. */
static json_t *write_metrics(const ps_epochs_t *e, uint32_t best_epoch, uint64_t best_step) {
  ps_metrics_run_t run = {.started = 1, .ended = 2, .epochs = e->epochs, .series = e,
                          .best_epoch = best_epoch, .best_step = best_step};
  pc_err_t err = {0};
  assert_int_equal(ps_metrics_write(g_dir, &run, &err), PC_OK);
  char path[128];
  snprintf(path, sizeof path, "%s/metrics.json", g_dir);
  json_error_t je;
  json_t *doc = json_load_file(path, 0, &je);
  assert_non_null(doc);
  return doc;
}

/* Two workers, three epochs: rows complete in order as the slower worker
 * catches up; duplicates and out-of-range reports change nothing. */
static void test_rows_complete_in_order(void **state) {
  (void)state;
  ps_epochs_t e;
  pc_err_t err = {0};
  assert_int_equal(ps_epochs_init(&e, 3, 2, 0, &err), PC_OK);
  assert_int_equal(ps_epochs_open(&e, g_dir, &err), PC_OK);
  assert_int_equal(ps_epochs_add(&e, 0, 1, 100, 50.0, 1.0), 0);
  assert_int_equal(ps_epochs_add(&e, 0, 2, 100, 40.0, 2.0), 0); /* worker 1 still at 0 */
  assert_int_equal(ps_epochs_add(&e, 0, 2, 100, 40.0, 2.0), 0); /* a repeat: ignored */
  assert_int_equal(ps_epochs_add(&e, 2, 1, 100, 1.0, 1.0), 0);  /* no worker 2 */
  assert_int_equal(ps_epochs_add(&e, 1, 4, 100, 1.0, 1.0), 0);  /* no epoch 4 */
  assert_int_equal(ps_epochs_add(&e, 1, 1, 300, 30.0, 1.5), 1);
  assert_int_equal(e.done, 1);
  assert_int_equal(ps_epochs_add(&e, 1, 2, 300, 60.0, 2.5), 1);
  assert_int_equal(e.done, 2);
  assert_string_equal(read_csv(), "epoch,seconds,samples,train_loss\n"
                                  "1,1.500000,400,0.2\n"
                                  "2,2.500000,400,0.25\n");
  json_t *doc = write_metrics(&e, 0, 0);
  json_t *rows = json_object_get(doc, "epochs");
  assert_int_equal(json_array_size(rows), 2);
  json_t *r1 = json_array_get(rows, 1);
  assert_int_equal(json_integer_value(json_object_get(r1, "epoch")), 2);
  assert_int_equal(json_integer_value(json_object_get(r1, "samples")), 400);
  assert_true(fabs(json_real_value(json_object_get(r1, "train_loss")) - 0.25) < 1e-12);
  assert_true(json_real_value(json_object_get(r1, "seconds")) == 2.5);
  json_decref(doc);
  ps_epochs_free(&e);
}

/* An epoch without examples has no loss: an empty CSV cell, null in JSON. */
static void test_empty_epoch(void **state) {
  (void)state;
  ps_epochs_t e;
  pc_err_t err = {0};
  assert_int_equal(ps_epochs_init(&e, 1, 1, 0, &err), PC_OK);
  assert_int_equal(ps_epochs_open(&e, g_dir, &err), PC_OK);
  assert_int_equal(ps_epochs_add(&e, 0, 1, 0, 0.0, 0.25), 1);
  assert_string_equal(read_csv(), "epoch,seconds,samples,train_loss\n1,0.250000,0,\n");
  assert_true(isnan(ps_epochs_loss(&e, 0)));
  ps_epochs_free(&e);
}

/* With a validation set the CSV waits for the first evaluation's metric
 * names, then writes the header and every waiting row; an epoch without an
 * evaluation has empty cells; metrics.json rows carry "valid", and the
 * top-level "valid" is the best epoch's. */
static void test_valid_columns(void **state) {
  (void)state;
  ps_epochs_t e;
  pc_err_t err = {0};
  assert_int_equal(ps_epochs_init(&e, 3, 1, 1, &err), PC_OK);
  assert_int_equal(ps_epochs_open(&e, g_dir, &err), PC_OK);
  assert_int_equal(ps_epochs_add(&e, 0, 1, 10, 5.0, 1.0), 1); /* eval_every 2: none yet */
  assert_string_equal(read_csv(), "");
  pc_metric_t m[2] = {{"accuracy", 0.75}, {"logloss", 0.5}};
  ps_epochs_set_valid(&e, 2, 40, m, 2);
  assert_int_equal(ps_epochs_add(&e, 0, 2, 10, 4.0, 2.0), 1);
  assert_string_equal(read_csv(), "epoch,seconds,samples,train_loss,valid_accuracy,valid_logloss\n"
                                  "1,1.000000,10,0.5,,\n"
                                  "2,2.000000,10,0.4,0.75,0.5\n");
  json_t *doc = write_metrics(&e, 2, 0);
  json_t *v = json_object_get(doc, "valid");
  assert_true(json_real_value(json_object_get(v, "accuracy")) == 0.75);
  assert_int_equal(json_integer_value(json_object_get(v, "n")), 40);
  assert_int_equal(json_integer_value(json_object_get(doc, "best_epoch")), 2);
  json_t *rows = json_object_get(doc, "epochs");
  assert_null(json_object_get(json_array_get(rows, 0), "valid"));
  assert_non_null(json_object_get(json_array_get(rows, 1), "valid"));
  json_decref(doc);
  ps_epochs_free(&e);
}

/* training.eval_steps: evaluations inside epochs go to metrics.json's
 * "evaluations" (with the epoch ends', in order) and not to the CSV rows,
 * which keep their epoch end's figures; a best inside an epoch is the kept
 * "valid", with best_step beside best_epoch. */
static void test_evaluations_inside_epochs(void **state) {
  (void)state;
  ps_epochs_t e;
  pc_err_t err = {0};
  assert_int_equal(ps_epochs_init(&e, 2, 1, 1, &err), PC_OK);
  assert_int_equal(ps_epochs_open(&e, g_dir, &err), PC_OK);
  pc_metric_t a[1] = {{"logloss", 0.6}}, b[1] = {{"logloss", 0.5}}, c[1] = {{"logloss", 0.4}};
  assert_int_equal(ps_epochs_evaluation(&e, 1, 5, 30, a, 1, &err), PC_OK);
  assert_int_equal(ps_epochs_evaluation(&e, 1, 0, 30, b, 1, &err), PC_OK);
  assert_int_equal(ps_epochs_add(&e, 0, 1, 10, 5.0, 1.0), 1);
  assert_int_equal(ps_epochs_evaluation(&e, 2, 15, 30, c, 1, &err), PC_OK);
  assert_int_equal(ps_epochs_evaluation(&e, 3, 25, 30, c, 1, &err), PC_OK); /* out of range */
  assert_int_equal(ps_epochs_add(&e, 0, 2, 10, 4.0, 2.0), 1);
  assert_string_equal(read_csv(), "epoch,seconds,samples,train_loss,valid_logloss\n"
                                  "1,1.000000,10,0.5,0.5\n"
                                  "2,2.000000,10,0.4,\n");
  assert_int_equal(e.nevals, 3);
  assert_null(ps_epochs_find_eval(&e, 2, 0));
  assert_true(ps_epochs_find_eval(&e, 2, 15)->m[0].value == 0.4);
  json_t *doc = write_metrics(&e, 2, 15);
  json_t *ev = json_object_get(doc, "evaluations");
  assert_int_equal(json_array_size(ev), 3);
  uint64_t want[3][2] = {{1, 5}, {1, 0}, {2, 15}};
  for (size_t i = 0; i < 3; i++) {
    json_t *x = json_array_get(ev, i);
    assert_int_equal(json_integer_value(json_object_get(x, "epoch")), want[i][0]);
    assert_int_equal(json_integer_value(json_object_get(x, "step")), want[i][1]);
    assert_int_equal(json_integer_value(json_object_get(x, "n")), 30);
  }
  assert_true(json_real_value(json_object_get(json_array_get(ev, 0), "logloss")) == 0.6);
  assert_true(json_real_value(json_object_get(json_object_get(doc, "valid"), "logloss")) == 0.4);
  assert_int_equal(json_integer_value(json_object_get(doc, "best_step")), 15);
  json_decref(doc);
  doc = write_metrics(&e, 1, 0); /* the best at an epoch's end: no best_step */
  assert_null(json_object_get(doc, "best_step"));
  assert_true(json_real_value(json_object_get(json_object_get(doc, "valid"), "logloss")) == 0.5);
  json_decref(doc);
  ps_epochs_free(&e);
}

/* A run that ends before its first evaluation still writes its rows. */
static void test_flush_without_valid(void **state) {
  (void)state;
  ps_epochs_t e;
  pc_err_t err = {0};
  assert_int_equal(ps_epochs_init(&e, 2, 1, 1, &err), PC_OK);
  assert_int_equal(ps_epochs_open(&e, g_dir, &err), PC_OK);
  assert_int_equal(ps_epochs_add(&e, 0, 1, 10, 5.0, 1.0), 1);
  ps_epochs_flush(&e);
  assert_string_equal(read_csv(), "epoch,seconds,samples,train_loss\n1,1.000000,10,0.5\n");
  ps_epochs_free(&e);
}

static void test_bad_arguments(void **state) {
  (void)state;
  ps_epochs_t e;
  pc_err_t err = {0};
  assert_int_equal(ps_epochs_init(&e, 0, 1, 0, &err), PC_EINVAL);
  assert_null(e.rows);
  assert_int_equal(ps_epochs_init(&e, 1, 1, 0, &err), PC_OK);
  assert_int_equal(ps_epochs_open(&e, "/nonexistent/dir", &err), PC_EIO);
  assert_non_null(strstr(err.msg, "/nonexistent/dir/metrics.csv"));
  assert_int_equal(ps_epochs_add(&e, 0, 1, 5, 1.0, 0.1), 1); /* no file: the series still grows */
  assert_int_equal(e.done, 1);
  ps_epochs_free(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_complete_in_order),
      cmocka_unit_test(test_empty_epoch),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_valid_columns),
      cmocka_unit_test(test_flush_without_valid),
      cmocka_unit_test(test_evaluations_inside_epochs),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
