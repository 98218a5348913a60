/* parasol prep: the row checks of a dirty CSV (ragged, text in a numeric
 * column, infinite, missing under each --missing, duplicates, bad labels,
 * constant columns), file-level errors (empty, binary, no data rows, no
 * label column), the recipe's JSON round trip and refusals,
 * pw_recipe_load_csv (reordered, unknown categories, missing columns),
 * the stratified split's proportions and --split errors, and a whole run
 * into a directory (refused when not empty, --force). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pw_prep_int.h"
#include "pw_prepared.h"

static char tmpdir[64];

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/test_prep.XXXXXX");
  return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text, size_t len) {
  static char path[4][128];
  static int k;
  char *p = path[k++ % 4];
  snprintf(p, 128, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  fclose(f);
  return p;
}

#define WRITE(name, text) write_file(name, text, sizeof(text) - 1)

static const char dirty[] = "age,color,const,income,y\n"
                            "25,red,1,100,yes\n"      /* 2 */
                            "30,blue,1,200,no\n"      /* 3 */
                            "35,green,1,?,yes\n"      /* 4: missing */
                            "40,red,1,400\n"          /* 5: ragged */
                            "45,blue,1,abc,no\n"      /* 6: text */
                            "50,red,1,inf,yes\n"      /* 7: infinite */
                            "55,green,1,NaN,no\n"     /* 8: missing */
                            "30,blue,1,200,no\n"      /* 9: duplicate of 3 */
                            "\n"                      /* 10: blank, not a row */
                            "60,red,1,600,\n"         /* 11: missing label */
                            "65,blue,1,700,yes\n"
                            "70,red,1,800,no\n"
                            "75,green,1,900,yes\n";

static void opts_for(pw_prep_opts_t *o, const char *path) {
  pw_prep_opts_default(o);
  o->input = path;
  o->out = "unused";
}

static void test_dirty_rows(void **state) {
  (void)state;
  pw_prep_opts_t o;
  opts_for(&o, WRITE("dirty.csv", dirty));
  pw_prep_table_t t;
  pc_err_t err = {0};
  assert_int_equal(pw_prep_csv_read(&t, &o, &err), 0);
  assert_int_equal(t.rows_in, 12); /* the blank line is no row */
  assert_int_equal(t.nrows, 7); /* 12 - ragged, text, inf, duplicate, label */
  assert_int_equal(t.drops.count[PW_DROP_RAGGED], 1);
  assert_int_equal(t.drops.lines[PW_DROP_RAGGED][0], 5);
  assert_int_equal(t.drops.count[PW_DROP_TEXT], 1);
  assert_int_equal(t.drops.lines[PW_DROP_TEXT][0], 6);
  assert_non_null(strstr(t.drops.first[PW_DROP_TEXT], "'abc'"));
  assert_int_equal(t.drops.lines[PW_DROP_INFINITE][0], 7);
  assert_int_equal(t.drops.lines[PW_DROP_DUPLICATE][0], 9);
  assert_non_null(strstr(t.drops.first[PW_DROP_DUPLICATE], "line 3"));
  assert_int_equal(t.drops.lines[PW_DROP_LABEL][0], 11);
  assert_int_equal(t.drops.count[PW_DROP_MISSING], 0);
  assert_int_equal(t.kind, PW_LABEL_BINARY);
  assert_string_equal(t.classes[0], "no");
  assert_true(t.numeric[0] && !t.numeric[1] && t.numeric[3]);
  pw_prep_table_free(&t);

  o.missing = PW_MISSING_DROP;
  assert_int_equal(pw_prep_csv_read(&t, &o, &err), 0);
  assert_int_equal(t.drops.count[PW_DROP_MISSING], 2);
  assert_int_equal(t.drops.lines[PW_DROP_MISSING][1], 8);
  assert_int_equal(t.nrows, 5);
  pw_prep_table_free(&t);
}

static void test_fit_and_encode(void **state) {
  (void)state;
  pw_prep_opts_t o;
  opts_for(&o, WRITE("dirty.csv", dirty));
  pw_prep_table_t t;
  pc_err_t err = {0};
  assert_int_equal(pw_prep_csv_read(&t, &o, &err), 0);
  size_t all[7] = {0, 1, 2, 3, 4, 5, 6};
  pw_recipe_t r;
  assert_int_equal(pw_prep_fit(&r, &t, all, t.nrows, &o, &err), 0);
  assert_int_equal(r.ncols, 4);
  assert_int_equal(r.cols[1].kind, PW_COL_ONEHOT);
  assert_int_equal(r.cols[1].ncats, 3);
  assert_string_equal(r.cols[1].cats[0], "blue");
  assert_int_equal(r.cols[2].kind, PW_COL_DROPPED);
  assert_string_equal(r.cols[2].why, "constant");
  assert_int_equal(r.features, 5);
  /* income's training mean: present values 100 200 700 800 900 -> 540 */
  assert_true(fabs(r.cols[3].impute - 540.0) < 1e-9);
  assert_int_equal(t.stats[3].missing, 2);
  pw_dataset_t ds;
  assert_int_equal(pw_prep_encode(&ds, &r, &t, all, t.nrows, &err), 0);
  assert_int_equal(ds.n, 7);
  /* row 2 (line 4: 35,green,?): age, green, imputed income */
  size_t a = ds.row[2];
  assert_int_equal(ds.row[3] - a, 3);
  assert_int_equal(ds.idx[a + 1], 2);
  assert_true(fabs(ds.val[a + 2] - 540.0f) < 1e-3);
  assert_false(ds.shape.dense);
  pw_data_free(&ds);
  pw_recipe_free(&r);
  o.missing = PW_MISSING_ZERO;
  o.max_categories = 2; /* 3 colours: hashed into 2 buckets */
  assert_int_equal(pw_prep_fit(&r, &t, all, t.nrows, &o, &err), 0);
  assert_int_equal(r.cols[1].kind, PW_COL_HASHED);
  assert_int_equal(r.cols[1].width, 2);
  assert_true(r.cols[3].impute == 0.0);
  pw_recipe_free(&r);
  pw_prep_table_free(&t);
}

/* --ignore: a column that is no feature, nor checked, but still tells
 * duplicates apart. */
static void test_ignore(void **state) {
  (void)state;
  static const char text[] = "id,x,note,y\n"
                             "1,5,fine,a\n"
                             "2,5,fine,a\n"   /* the same as line 2 but for its id: kept */
                             "2,5,fine,a\n"   /* exported twice: a duplicate */
                             "3,7,n/a!,b\n"   /* text in note: ignored, kept */
                             "4,9,x,b\n";
  pw_prep_opts_t o;
  opts_for(&o, WRITE("ids.csv", text));
  o.ignore = "id,note";
  pw_prep_table_t t;
  pc_err_t err = {0};
  assert_int_equal(pw_prep_csv_read(&t, &o, &err), 0);
  assert_int_equal(t.nrows, 4);
  assert_int_equal(t.drops.count[PW_DROP_DUPLICATE], 1);
  assert_int_equal(t.drops.lines[PW_DROP_DUPLICATE][0], 4);
  size_t all[4] = {0, 1, 2, 3};
  pw_recipe_t r;
  assert_int_equal(pw_prep_fit(&r, &t, all, t.nrows, &o, &err), 0);
  assert_int_equal(r.cols[0].kind, PW_COL_DROPPED);
  assert_string_equal(r.cols[0].why, "ignored (--ignore)");
  assert_int_equal(r.cols[2].kind, PW_COL_DROPPED);
  assert_int_equal(r.cols[1].kind, PW_COL_NUMERIC);
  assert_int_equal(r.features, 1);
  pw_recipe_free(&r);
  pw_prep_table_free(&t);
  o.ignore = "id,nope";
  assert_int_not_equal(pw_prep_csv_read(&t, &o, &err), 0);
  assert_non_null(strstr(err.msg, "--ignore id,nope: "));
  assert_non_null(strstr(err.msg, "has no column 'nope'"));
  o.ignore = "y";
  assert_int_not_equal(pw_prep_csv_read(&t, &o, &err), 0);
  assert_non_null(strstr(err.msg, "--ignore y: 'y' is the label column"));
}

static void expect_error(const char *name, const char *text, size_t len, const char *label,
                         const char *want) {
  pw_prep_opts_t o;
  opts_for(&o, write_file(name, text, len));
  o.label = label;
  pw_prep_table_t t;
  pc_err_t err = {0};
  assert_int_not_equal(pw_prep_csv_read(&t, &o, &err), 0);
  if (strstr(err.msg, want) == NULL)
    fail_msg("%s: '%s' not in '%s'", name, want, err.msg);
  assert_non_null(strstr(err.msg, name));
  assert_null(t.cells);
}

static void test_cells(void **state) {
  (void)state;
  char line[] = " a , \"b,\" ,,  \"c\"";
  char *cells[8];
  assert_int_equal(pw_csv_cells(line, NULL, 0), 5);
  assert_int_equal(pw_csv_cells(line, cells, 8), 5);
  assert_string_equal(cells[0], "a");
  assert_string_equal(cells[1], "\"b"); /* no quoted commas: docs/prep.md */
  assert_string_equal(cells[3], "");
  assert_string_equal(cells[4], "c");
  const char *missing[] = {"", "?", "NA", "n/a", "NaN", "nan", "-nan", "null", "<NA>", "#N/A"};
  for (size_t i = 0; i < sizeof missing / sizeof *missing; i++)
    assert_true(pw_csv_missing(missing[i]));
  assert_false(pw_csv_missing("0"));
  assert_false(pw_csv_missing("none"));
  double v;
  assert_int_equal(pw_csv_number("-1.5e3", &v), 0);
  assert_true(v == -1500.0);
  assert_int_equal(pw_csv_number("inf", &v), 0);
  assert_true(isinf(v));
  assert_int_equal(pw_csv_number("0x10", &v), -1);
  assert_int_equal(pw_csv_number("12abc", &v), -1);
  assert_int_equal(pw_csv_number("nan", &v), -1);
}

static void test_file_errors(void **state) {
  (void)state;
  expect_error("empty.csv", "", 0, NULL, "empty");
  expect_error("blank.csv", "\n  \n", 4, NULL, "empty");
  expect_error("nul.csv", "a,b\n1,\0\n", 7, NULL, "NUL byte");
  expect_error("bin.csv", "\x89PNG\x01\x02,x\n", 9, NULL, "is not text");
  expect_error("header.csv", "a,b\n", 4, NULL, "no data rows");
  expect_error("nolabel.csv", "a,b\n1,2\n", 8, "z", "--label z: no such column");
  expect_error("onecol.csv", "a\n1\n", 4, NULL, "one column");
  expect_error("dup.csv", "a,a\n1,2\n", 8, NULL, "appears twice");
  expect_error("nohead.csv", "1,2\n3,4\n", 8, NULL, "header line naming the columns");
  expect_error("allbad.csv", "a,b\n1,2,3\n4\n", 12, NULL, "all 2 rows were dropped");
  expect_error("oneclass.csv", "a,b\n1,x\n2,x\n", 12, NULL, "1 distinct value");
}

static void test_labels(void **state) {
  (void)state;
  pw_prep_opts_t o;
  pw_prep_table_t t;
  pc_err_t err = {0};
  /* integers: classes; 2.5 and 'abc' are bad class labels */
  opts_for(&o, WRITE("cls.csv", "x,y\n1,0\n2,1\n3,2\n4,2.5\n5,abc\n6,1\n"));
  o.labels_auto = 0;
  o.labels = PW_LABEL_CLASS;
  assert_int_equal(pw_prep_csv_read(&t, &o, &err), 0);
  assert_int_equal(t.kind, PW_LABEL_CLASS);
  assert_int_equal(t.nclasses, 3);
  assert_int_equal(t.drops.count[PW_DROP_LABEL], 2);
  assert_int_equal(t.drops.lines[PW_DROP_LABEL][0], 5);
  assert_non_null(strstr(t.drops.first[PW_DROP_LABEL], "not an integer"));
  pw_prep_table_free(&t);
  /* a fraction among the numbers: real labels */
  opts_for(&o, WRITE("real.csv", "x,y\n1,0.5\n2,1\n3,x\n"));
  assert_int_equal(pw_prep_csv_read(&t, &o, &err), 0);
  assert_int_equal(t.kind, PW_LABEL_REAL);
  assert_int_equal(t.drops.count[PW_DROP_LABEL], 1);
  pw_prep_table_free(&t);
  /* --kind binary: the two most frequent values, the rest dropped */
  opts_for(&o, WRITE("bin.csv", "x,y\n1,a\n2,b\n3,a\n4,c\n5,b\n"));
  o.labels_auto = 0;
  o.labels = PW_LABEL_BINARY;
  assert_int_equal(pw_prep_csv_read(&t, &o, &err), 0);
  assert_int_equal(t.nclasses, 2);
  assert_int_equal(t.drops.lines[PW_DROP_LABEL][0], 5);
  pw_prep_table_free(&t);
}

/* ---- the recipe ---- */

static void make_recipe(pw_recipe_t *r) {
  char *json = NULL;
  const char *text =
      "{\"version\":1,\"label\":\"y\",\"labels\":\"binary\",\"classes\":[\"no\",\"yes\"],"
      "\"features\":6,\"columns\":["
      "{\"name\":\"age\",\"kind\":\"numeric\",\"offset\":0,\"width\":1,\"impute\":40},"
      "{\"name\":\"color\",\"kind\":\"onehot\",\"offset\":1,\"width\":2,"
      "\"categories\":[\"blue\",\"red\"]},"
      "{\"name\":\"id\",\"kind\":\"dropped\",\"offset\":3,\"width\":0,\"why\":\"constant\"},"
      "{\"name\":\"city\",\"kind\":\"hashed\",\"offset\":3,\"width\":3}]}";
  pc_err_t err = {0};
  (void)json;
  assert_int_equal(pw_recipe_from_json(r, text, strlen(text), "t", &err), 0);
}

static void test_recipe_json(void **state) {
  (void)state;
  pw_recipe_t r, back;
  make_recipe(&r);
  char *json = NULL;
  pc_err_t err = {0};
  assert_int_equal(pw_recipe_to_json(&r, &json, &err), 0);
  assert_int_equal(pw_recipe_from_json(&back, json, strlen(json), "t", &err), 0);
  assert_int_equal(back.features, 6);
  assert_int_equal(back.ncols, 4);
  assert_string_equal(back.cols[1].cats[1], "red");
  assert_true(back.cols[0].impute == 40.0);
  assert_string_equal(back.cols[2].why, "constant");
  assert_int_equal(back.cols[3].kind, PW_COL_HASHED);
  char *again = NULL;
  assert_int_equal(pw_recipe_to_json(&back, &again, &err), 0);
  assert_string_equal(json, again);
  free(json);
  free(again);
  pw_recipe_free(&back);
  pw_recipe_free(&r);
}

static void expect_bad_recipe(const char *json, const char *want) {
  pw_recipe_t r;
  pc_err_t err = {0};
  assert_int_not_equal(pw_recipe_from_json(&r, json, strlen(json), "model.bin", &err), 0);
  if (strstr(err.msg, want) == NULL || strstr(err.msg, "model.bin") == NULL)
    fail_msg("'%s' not in '%s'", want, err.msg);
  assert_null(r.cols);
}

#define HEAD "{\"version\":1,\"label\":\"y\",\"labels\":\"real\",\"classes\":[],"
static void test_recipe_refusals(void **state) {
  (void)state;
  expect_bad_recipe("{", "not JSON");
  expect_bad_recipe("{\"version\":2}", "version 1");
  expect_bad_recipe(HEAD "\"features\":1,\"columns\":[]}", "non-empty");
  expect_bad_recipe(HEAD "\"features\":1,\"columns\":[{\"name\":\"a\",\"kind\":\"numeric\","
                    "\"offset\":1,\"width\":1,\"impute\":0}]}", "expected offset 0");
  expect_bad_recipe(HEAD "\"features\":2,\"columns\":[{\"name\":\"a\",\"kind\":\"numeric\","
                    "\"offset\":0,\"width\":1,\"impute\":0},{\"name\":\"a\",\"kind\":\"numeric\","
                    "\"offset\":1,\"width\":1,\"impute\":0}]}", "twice");
  expect_bad_recipe(HEAD "\"features\":2,\"columns\":[{\"name\":\"a\",\"kind\":\"onehot\","
                    "\"offset\":0,\"width\":2,\"categories\":[\"z\",\"b\"]}]}", "sorted");
  expect_bad_recipe(HEAD "\"features\":5,\"columns\":[{\"name\":\"a\",\"kind\":\"numeric\","
                    "\"offset\":0,\"width\":1,\"impute\":0}]}", "sum of the columns");
  expect_bad_recipe("{\"version\":1,\"label\":\"y\",\"labels\":\"binary\",\"classes\":[\"a\"],"
                    "\"features\":1,\"columns\":[]}", "2 for binary");
}

static void test_recipe_load_csv(void **state) {
  (void)state;
  pw_recipe_t r;
  make_recipe(&r);
  pw_dataset_t ds;
  pc_err_t err = {0};
  uint64_t unknown = 0;
  /* columns reordered, an extra one, id absent (dropped: not needed),
   * an unknown colour, a missing age */
  const char *p = WRITE("raw.csv", "extra,city,y,color,age\n"
                                   "1,paris,yes,red,30\n"
                                   "2,rome,no,green,?\n"
                                   "3,oslo,yes,blue,50\n");
  assert_int_equal(pw_recipe_load_csv(&ds, &r, p, 0, &unknown, &err), 0);
  assert_int_equal(ds.n, 3);
  assert_int_equal(unknown, 1);
  assert_true(ds.label[0] == 1.0f && ds.label[1] == 0.0f);
  assert_int_equal(ds.row[1], 3); /* age, red, city */
  assert_int_equal(ds.idx[1], 2);
  assert_int_equal(ds.row[2] - ds.row[1], 2); /* age (imputed), city: green unknown */
  assert_true(ds.val[ds.row[1]] == 40.0f);
  assert_int_equal(ds.shape.features, 6);
  pw_data_free(&ds);
  /* no label column: allowed for predict */
  p = WRITE("nolab.csv", "age,color,city\n30,red,x\n");
  assert_int_equal(pw_recipe_load_csv(&ds, &r, p, 1, NULL, &err), 0);
  assert_true(isnan(ds.label[0]));
  pw_data_free(&ds);
  assert_int_not_equal(pw_recipe_load_csv(&ds, &r, p, 0, NULL, &err), 0);
  assert_non_null(strstr(err.msg, "label column 'y'"));
  p = WRITE("nocol.csv", "age,y,city\n30,yes,x\n");
  assert_int_not_equal(pw_recipe_load_csv(&ds, &r, p, 0, NULL, &err), 0);
  assert_non_null(strstr(err.msg, "column 'color'"));
  assert_non_null(strstr(err.msg, "nocol.csv:1"));
  p = WRITE("badcell.csv", "age,color,city,y\n30,red,x,yes\nabc,red,x,no\n");
  assert_int_not_equal(pw_recipe_load_csv(&ds, &r, p, 0, NULL, &err), 0);
  assert_non_null(strstr(err.msg, "badcell.csv:3"));
  p = WRITE("badlab.csv", "age,color,city,y\n30,red,x,maybe\n");
  assert_int_not_equal(pw_recipe_load_csv(&ds, &r, p, 0, NULL, &err), 0);
  assert_non_null(strstr(err.msg, "'maybe'"));
  p = WRITE("ragged.csv", "age,color,city,y\n30,red,yes\n");
  assert_int_not_equal(pw_recipe_load_csv(&ds, &r, p, 0, NULL, &err), 0);
  assert_non_null(strstr(err.msg, "ragged.csv:2: 3 cells"));
  pw_recipe_free(&r);
}

/* ---- the split ---- */

static void test_split(void **state) {
  (void)state;
  enum { N = 1000 };
  float label[N];
  unsigned char part[N], again[N];
  for (int i = 0; i < N; i++)
    label[i] = (float)(i % 10 == 0); /* 100 positives */
  double f[3] = {0.8, 0.1, 0.1};
  pc_err_t err = {0};
  assert_int_equal(pw_prep_split(label, N, 1, f, 7, part, &err), 0);
  int n[3][2] = {{0}};
  for (int i = 0; i < N; i++)
    n[part[i]][(int)label[i]]++;
  assert_int_equal(n[0][1], 80);
  assert_int_equal(n[1][1], 10);
  assert_int_equal(n[2][1], 10);
  assert_int_equal(n[0][0], 720);
  assert_int_equal(n[1][0], 90);
  assert_int_equal(pw_prep_split(label, N, 1, f, 7, again, &err), 0);
  assert_memory_equal(part, again, N);
  assert_int_equal(pw_prep_split(label, N, 1, f, 8, again, &err), 0);
  assert_true(memcmp(part, again, N) != 0);
  double g[3] = {1.0, 0.0, 0.0};
  assert_int_equal(pw_prep_split(label, N, 0, g, 7, part, &err), 0);
  for (int i = 0; i < N; i++)
    assert_int_equal(part[i], 0);
}

static void test_split_errors(void **state) {
  (void)state;
  pc_err_t err = {0};
  double a[3] = {0.8, 0.1, 0.2}, b[3] = {0.0, 0.5, 0.5}, c[3] = {1.2, -0.1, -0.1},
         d[3] = {0.7, 0.2, 0.1};
  assert_int_equal(pw_prep_check_split(a, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "--split"));
  assert_non_null(strstr(err.msg, "sum to 1.1"));
  assert_int_equal(pw_prep_check_split(b, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "training fraction"));
  assert_int_equal(pw_prep_check_split(c, &err), PC_EINVAL);
  assert_int_equal(pw_prep_check_split(d, &err), 0);
}

/* ---- a whole run ---- */

static void test_run(void **state) {
  (void)state;
  pw_prep_opts_t o;
  opts_for(&o, WRITE("dirty.csv", dirty));
  char out[128], path[192];
  snprintf(out, sizeof out, "%s/out", tmpdir);
  o.out = out;
  o.standardize = 1;
  o.shards = 2;
  o.split[0] = 0.75, o.split[1] = 0.25, o.split[2] = 0;
  pc_err_t err = {0};
  FILE *devnull = fopen("/dev/null", "w");
  assert_int_equal(pw_prep_run(&o, devnull, &err), 0);
  pw_prep_info_t info;
  snprintf(path, sizeof path, "%s/train", out);
  assert_int_equal(pw_prep_read_info(path, &info, &err), 0);
  assert_int_equal(info.nshards, 2);
  assert_int_equal(info.classes, 2);
  assert_non_null(info.recipe_json);
  assert_int_equal(info.tf.n, info.shape.features);
  pw_data_opts_t d = {.nparts = 1, .labels = PW_LABEL_BINARY};
  pw_dataset_t ds;
  assert_int_equal(pw_data_load_prepared(&ds, path, &d, &err), 0);
  assert_int_equal(ds.n + info.total_rows, 2 * info.total_rows);
  pw_data_free(&ds);
  pw_prep_info_free(&info);
  snprintf(path, sizeof path, "%s/test", out);
  struct stat st;
  assert_int_not_equal(stat(path, &st), 0); /* a fraction of 0 is not written */
  snprintf(path, sizeof path, "%s/.prep.tmp-%ld", out, (long)getpid());
  assert_int_not_equal(stat(path, &st), 0);
  assert_int_not_equal(pw_prep_run(&o, devnull, &err), 0);
  assert_non_null(strstr(err.msg, "--force"));
  o.force = 1;
  assert_int_equal(pw_prep_run(&o, devnull, &err), 0);
  /* the input inside DIR/train would be written: refused even with --force */
  snprintf(path, sizeof path, "%s/train/in.csv", out);
  FILE *f = fopen(path, "w");
  fputs(dirty, f);
  fclose(f);
  o.input = path;
  assert_int_not_equal(pw_prep_run(&o, devnull, &err), 0);
  assert_non_null(strstr(err.msg, "never writes its input"));
  fclose(devnull);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dirty_rows),    cmocka_unit_test(test_fit_and_encode),
    cmocka_unit_test(test_ignore),
      cmocka_unit_test(test_cells),         cmocka_unit_test(test_file_errors),
      cmocka_unit_test(test_labels),
      cmocka_unit_test(test_recipe_json),   cmocka_unit_test(test_recipe_refusals),
      cmocka_unit_test(test_recipe_load_csv), cmocka_unit_test(test_split),
      cmocka_unit_test(test_split_errors),  cmocka_unit_test(test_run),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
