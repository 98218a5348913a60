/* pd_plot: metrics.csv checking (each malformed file named with its line),
 * the gnuplot script (exactly the series present), and pd_plot's handling
 * of gnuplot: missing, failing, hanging (killed), and a real one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_plot.h"

static char g_dir[256];

static const char k_good[] = "epoch,seconds,samples,train_loss,valid_accuracy,valid_logloss\n"
                             "1,0.41,32561,0.4123,0.8401,0.3502\n"
                             "2,0.80,65122,0.3402,,0.3311\n";

/* dir/name holding text; returns the path (static buffer per call site). */
static void write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(path, mode), 0);
}

/* A run directory g_dir/name with metrics.csv = text. */
static void make_run(char *out, size_t len, const char *name, const char *text) {
  snprintf(out, len, "%s/%s", g_dir, name);
  mkdir(out, 0777);
  char csv[512];
  snprintf(csv, sizeof csv, "%s/metrics.csv", out);
  write_file(csv, text, 0644);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/test_plot.XXXXXX");
  return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* ---- metrics.csv ---- */

static void test_csv_good(void **state) {
  (void)state;
  char run[300], csv[400];
  make_run(run, sizeof run, "good", k_good);
  snprintf(csv, sizeof csv, "%s/metrics.csv", run);
  pd_plot_csv_t c;
  pc_err_t err = {0};
  assert_int_equal(pd_plot_csv_read(csv, NULL, &c, &err), PC_OK);
  assert_int_equal(c.ncols, 6);
  assert_string_equal(c.cols[4], "valid_accuracy");
  assert_int_equal(c.rows, 2);
  assert_int_equal(c.max_epoch, 2);
  assert_string_equal(c.title, "good");
  assert_true(c.path[0] == '/');
  assert_true(c.has_value[4] && c.has_value[5]);
}

static void test_csv_empty_column(void **state) {
  (void)state;
  char run[300], csv[400];
  make_run(run, sizeof run, "emptycol",
           "epoch,seconds,samples,train_loss,valid_auc\r\n1,0.1,5,0.5,\r\n2,0.2,10,0.4,\r\n");
  snprintf(csv, sizeof csv, "%s/metrics.csv", run);
  pd_plot_csv_t c;
  pc_err_t err = {0};
  assert_int_equal(pd_plot_csv_read(csv, "mine", &c, &err), PC_OK);
  assert_false(c.has_value[4]);
  assert_true(c.has_value[3]);
  assert_string_equal(c.title, "mine");
}

/* Each bad file: refused, the message naming the file, the line and what. */
static void bad_csv(const char *text, const char *where, const char *what) {
  char run[300], csv[400];
  make_run(run, sizeof run, "bad", text);
  snprintf(csv, sizeof csv, "%s/metrics.csv", run);
  pd_plot_csv_t c;
  pc_err_t err = {0};
  assert_int_equal(pd_plot_csv_read(csv, NULL, &c, &err), PC_EDATA);
  char want[500];
  snprintf(want, sizeof want, "%s:%s", csv, where);
  if (strstr(err.msg, want) == NULL || strstr(err.msg, what) == NULL)
    fail_msg("'%s' lacks '%s' or '%s'", err.msg, want, what);
}

static void test_csv_bad(void **state) {
  (void)state;
  bad_csv("", "1:", "empty file");
  bad_csv("epoch,seconds,samples\n1,2,3\n", "1:", "header has 3 columns");
  bad_csv("epoch,seconds,samples,loss\n1,2,3,4\n", "1:", "column 4 is 'loss'");
  bad_csv("1,0.41,32561,0.4123\n", "1:", "column 1 is '1'");
  bad_csv("epoch,seconds,samples,train_loss,accuracy\n", "1:", "column 5 is 'accuracy'");
  bad_csv("epoch,seconds,samples,train_loss,valid_Auc\n", "1:", "'valid_Auc'");
  bad_csv("epoch,seconds,samples,train_loss,valid_auc,valid_auc\n", "1:", "appears twice");
  bad_csv("epoch,seconds,samples,train_loss\n", "2:", "no epoch");
  bad_csv("epoch,seconds,samples,train_loss\n1,0.1,5,0.5\n2,0.2,10,abc\n", "3:",
          "train_loss 'abc' is not a number");
  bad_csv("epoch,seconds,samples,train_loss\n1,0.1,5,nan\n", "2:", "'nan' is not a number");
  bad_csv("epoch,seconds,samples,train_loss\n1,0.1,5,0x1p3\n", "2:", "not a number");
  bad_csv("epoch,seconds,samples,train_loss\n1,0.1,5\n", "2:", "cells, the header has 4");
  bad_csv("epoch,seconds,samples,train_loss\n1,0.1,5,0.5,7\n", "2:", "the header has 4");
  bad_csv("epoch,seconds,samples,train_loss\n1.5,0.1,5,0.5\n", "2:", "not a whole number");
  bad_csv("epoch,seconds,samples,train_loss\n,0.1,5,0.5\n", "2:", "epoch '' is not a number");
  bad_csv("epoch,seconds,samples,train_loss\n1,0.1,5,0.5\n\n2,0.1,5,0.5\n", "3:", "empty line");
  bad_csv("epoch,seconds,samples,train_loss\n1,0.1,5,\"0.5\"\n", "2:", "not a number");
}

static void test_csv_nul_and_missing(void **state) {
  (void)state;
  char run[300], csv[400];
  make_run(run, sizeof run, "nul", "");
  snprintf(csv, sizeof csv, "%s/metrics.csv", run);
  FILE *f = fopen(csv, "w");
  assert_non_null(f);
  fwrite("epoch,seconds,samples,train_loss\n1,0\0,5,0.5\n", 1, 45, f);
  fclose(f);
  pd_plot_csv_t c;
  pc_err_t err = {0};
  assert_int_equal(pd_plot_csv_read(csv, NULL, &c, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, ":2: NUL byte"));
  snprintf(csv, sizeof csv, "%s/none/metrics.csv", g_dir);
  assert_int_equal(pd_plot_csv_read(csv, NULL, &c, &err), PC_ENOTFOUND);
  assert_non_null(strstr(err.msg, csv));
}

/* ---- the script ---- */

static char *script_of(const pd_plot_csv_t *runs, int n, int *rc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  pc_err_t err = {0};
  *rc = pd_plot_script(f, runs, n, "/x/it's.png", NULL, &err);
  fclose(f);
  return buf;
}

static void read_run(pd_plot_csv_t *c, const char *name, const char *text) {
  char run[300], csv[400];
  make_run(run, sizeof run, name, text);
  snprintf(csv, sizeof csv, "%s/metrics.csv", run);
  pc_err_t err = {0};
  assert_int_equal(pd_plot_csv_read(csv, NULL, c, &err), PC_OK);
}

static void test_script_series(void **state) {
  (void)state;
  pd_plot_csv_t runs[2];
  read_run(&runs[0], "a", k_good);
  read_run(&runs[1], "b", "epoch,seconds,samples,train_loss,valid_rmse,valid_mae,valid_auc\n"
                          "1,0.1,5,1.5,1.2,0.9,\n");
  int rc;
  char *s = script_of(runs, 2, &rc);
  assert_int_equal(rc, PC_OK);
  const char *present[] = {"\"epoch\":\"train_loss\"", "'a train_loss'", "'b train_loss'",
                           "'a valid_logloss'", "'a valid_accuracy'", "'b valid_rmse'",
                           "'b valid_mae'", "set multiplot layout 2,1", "title 'losses'",
                           "title 'scores'", "size 900,600", "pngcairo",
                           "out = '/x/it''s.png'", "set output out"};
  for (size_t i = 0; i < sizeof present / sizeof present[0]; i++)
    if (strstr(s, present[i]) == NULL)
      fail_msg("script lacks %s:\n%s", present[i], s);
  /* absent, or empty in every row: not drawn */
  const char *absent[] = {"valid_auc", "valid_top5", "'a valid_rmse'", "'b valid_logloss'",
                          "'b valid_accuracy'"};
  for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
    if (strstr(s, absent[i]) != NULL)
      fail_msg("script has %s:\n%s", absent[i], s);
  assert_non_null(strstr(s, runs[0].path)); /* the data: the CSV files themselves */
  free(s);
}

static void test_script_one_panel(void **state) {
  (void)state;
  pd_plot_csv_t r;
  read_run(&r, "lossonly", "epoch,seconds,samples,train_loss\n1,0.1,5,0.5\n");
  int rc;
  char *s = script_of(&r, 1, &rc);
  assert_int_equal(rc, PC_OK);
  assert_non_null(strstr(s, "set multiplot layout 1,1"));
  assert_null(strstr(s, "scores"));
  free(s);
  read_run(&r, "nothing", "epoch,seconds,samples,train_loss\n1,0.1,5,\n");
  s = script_of(&r, 1, &rc);
  assert_int_equal(rc, PC_EDATA);
  free(s);
}

/* ---- gnuplot ---- */

static void png_size(const char *path, unsigned *w, unsigned *h) {
  unsigned char b[24];
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(b, 1, sizeof b, f), sizeof b);
  fclose(f);
  assert_memory_equal(b, "\x89PNG\r\n\x1a\n", 8);
  assert_memory_equal(b + 12, "IHDR", 4);
  *w = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
  *h = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
}

static void test_plot_run_real(void **state) {
  (void)state;
  char run[300], png[400], gp[400];
  make_run(run, sizeof run, "real", k_good);
  pc_err_t err = {0};
  int rc = pd_plot_run(run, &err);
  if (rc != PC_OK)
    fail_msg("pd_plot_run: %s", err.msg);
  snprintf(png, sizeof png, "%s/curves.png", run);
  snprintf(gp, sizeof gp, "%s/curves.gp", run);
  unsigned w, h;
  png_size(png, &w, &h);
  assert_int_equal(w, 900);
  assert_int_equal(h, 600);
  assert_true(exists(gp));
  strcat(png, ".tmp");
  assert_false(exists(png));
}

/* A fake gnuplot (a script) for each way the real one can go wrong. */
static void fake_plot(const char *body, int want, const char *msg) {
  char run[300], fake[400], png[400];
  make_run(run, sizeof run, "fake", k_good);
  snprintf(fake, sizeof fake, "%s/fake-gnuplot", g_dir);
  write_file(fake, body, 0755);
  snprintf(png, sizeof png, "%s/out.png", run);
  write_file(png, "old", 0644);
  pd_plot_opts_t o = {.gnuplot = fake, .timeout = 1.0, .width = 300, .height = 200};
  const char *dirs[] = {run};
  pc_err_t err = {0};
  assert_int_equal(pd_plot(dirs, 1, png, &o, &err), want);
  if (strstr(err.msg, msg) == NULL)
    fail_msg("'%s' lacks '%s'", err.msg, msg);
  struct stat st;
  assert_int_equal(stat(png, &st), 0);
  assert_int_equal(st.st_size, 3); /* the old file, untouched */
  strcat(png, ".tmp");
  assert_false(exists(png));
}

static void test_plot_gnuplot_fails(void **state) {
  (void)state;
  /* half an image written, then an error: no half file left */
  fake_plot("#!/bin/sh\nf=${2#out=\\'}; f=${f%\\'}; echo half > \"$f\"\n"
            "echo '\"x.gp\" line 3: undefined variable' >&2; exit 1\n",
            PC_EIO, "exit status 1): \"x.gp\" line 3: undefined variable");
  fake_plot("#!/bin/sh\nexit 0\n", PC_EIO, "wrote no image");
  fake_plot("#!/bin/sh\nkill -9 $$\n", PC_EIO, "signal 9");
}

static void test_plot_gnuplot_hangs(void **state) {
  (void)state;
  fake_plot("#!/bin/sh\nexec sleep 60\n", PC_ETIMEDOUT, "took longer than 1 s and was killed");
}

static void test_plot_no_gnuplot(void **state) {
  (void)state;
  char run[300], png[400];
  make_run(run, sizeof run, "nognuplot", k_good);
  snprintf(png, sizeof png, "%s/curves.png", run);
  const char *old = getenv("PATH");
  char *saved = old != NULL ? strdup(old) : NULL;
  setenv("PATH", g_dir, 1); /* holds only the fake, named otherwise */
  char buf[256];
  pc_err_t err = {0};
  int rc = pd_plot_find_gnuplot(buf, sizeof buf, &err);
  int rc2 = pd_plot_run(run, &err);
  if (saved != NULL)
    setenv("PATH", saved, 1);
  free(saved);
  assert_int_equal(rc, PC_ENOTFOUND);
  assert_int_equal(rc2, PC_ENOTFOUND);
  assert_string_equal(err.msg, "gnuplot not found: apt-get install gnuplot-nox");
  assert_false(exists(png));
}

static void test_plot_bad_args(void **state) {
  (void)state;
  char run[300], png[400];
  make_run(run, sizeof run, "args", k_good);
  const char *dirs[] = {run};
  pc_err_t err = {0};
  assert_int_equal(pd_plot(dirs, 0, "x.png", NULL, &err), PC_EINVAL);
  assert_int_equal(pd_plot(NULL, 1, "x.png", NULL, &err), PC_EINVAL);
  snprintf(png, sizeof png, "%s/no/such/dir/x.png", g_dir);
  assert_int_equal(pd_plot(dirs, 1, png, NULL, &err), PC_EIO);
  assert_non_null(strstr(err.msg, "no/such/dir"));
  assert_int_equal(pd_plot(dirs, 1, g_dir, NULL, &err), PC_EINVAL); /* a directory */
  assert_non_null(strstr(err.msg, "not a regular file"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv_good),          cmocka_unit_test(test_csv_empty_column),
      cmocka_unit_test(test_csv_bad),           cmocka_unit_test(test_csv_nul_and_missing),
      cmocka_unit_test(test_script_series),     cmocka_unit_test(test_script_one_panel),
      cmocka_unit_test(test_plot_run_real),     cmocka_unit_test(test_plot_gnuplot_fails),
      cmocka_unit_test(test_plot_gnuplot_hangs), cmocka_unit_test(test_plot_no_gnuplot),
      cmocka_unit_test(test_plot_bad_args),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
