/* pw_data: LIBSVM partitioned reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pw_data.h"

#ifndef PARASOL_SOURCE_DIR
#define PARASOL_SOURCE_DIR "."
#endif
#define A9A_PATH PARASOL_SOURCE_DIR "/../shared/data/a9a/a9a"

#define A9A_ROWS 32561
#define A9A_NNZ 451592
#define A9A_POS 7841

typedef struct tmpfile_ {
  char path[64];
} tmpfile_t;

static void write_tmp(tmpfile_t *t, const char *data, size_t len) {
  strcpy(t->path, "/tmp/parasol_test_data_XXXXXX");
  int fd = mkstemp(t->path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static void write_tmp_str(tmpfile_t *t, const char *s) { write_tmp(t, s, strlen(s)); }

static int load(pw_dataset_t *ds, const char *path, int part, int nparts, pc_err_t *err) {
  pw_data_opts_t o = {.part = part, .nparts = nparts};
  return pw_data_load_libsvm(ds, path, &o, err);
}

/* Row i of a equals row j of b exactly. */
static void assert_same_row(const pw_dataset_t *a, size_t i, const pw_dataset_t *b, size_t j) {
  size_t la = a->row[i + 1] - a->row[i], lb = b->row[j + 1] - b->row[j];
  assert_int_equal(la, lb);
  assert_true(a->label[i] == b->label[j]);
  for (size_t k = 0; k < la; k++) {
    assert_int_equal(a->idx[a->row[i] + k], b->idx[b->row[j] + k]);
    assert_true(a->val[a->row[i] + k] == b->val[b->row[j] + k]);
  }
}

/* Partitions of nparts, concatenated in order, reproduce whole exactly:
 * so they are disjoint, cover the file and keep file order. */
static void check_partitions(const char *path, const pw_dataset_t *whole, int nparts) {
  size_t next = 0, nnz = 0;
  for (int p = 0; p < nparts; p++) {
    pw_dataset_t ds;
    pc_err_t err = {0};
    assert_int_equal(load(&ds, path, p, nparts, &err), 0);
    assert_true(next + ds.n <= whole->n);
    for (size_t i = 0; i < ds.n; i++)
      assert_same_row(&ds, i, whole, next + i);
    assert_int_equal(ds.row[0], 0);
    assert_int_equal(ds.row[ds.n], ds.nnz);
    next += ds.n;
    nnz += ds.nnz;
    pw_data_free(&ds);
  }
  assert_int_equal(next, whole->n);
  assert_int_equal(nnz, whole->nnz);
}

static void test_a9a_whole(void **state) {
  (void)state;
  pw_dataset_t ds;
  pc_err_t err = {0};
  int rc = load(&ds, A9A_PATH, 0, 1, &err);
  if (rc != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(ds.n, A9A_ROWS);
  assert_int_equal(ds.nnz, A9A_NNZ);
  assert_int_equal(ds.max_index, 123);
  assert_int_equal(ds.bad_lines, 0);
  size_t pos = 0;
  for (size_t i = 0; i < ds.n; i++)
    pos += ds.label[i] == 1.0f;
  assert_int_equal(pos, A9A_POS);
  /* "-1 3:1 11:1 14:1 19:1 39:1 42:1 55:1 64:1 67:1 73:1 75:1 76:1 80:1 83:1 " */
  static const uint64_t first[] = {3, 11, 14, 19, 39, 42, 55, 64, 67, 73, 75, 76, 80, 83};
  assert_true(ds.label[0] == 0.0f);
  assert_int_equal(ds.row[1], 14);
  for (size_t k = 0; k < 14; k++) {
    assert_int_equal(ds.idx[k], first[k]);
    assert_true(ds.val[k] == 1.0f);
  }
  assert_true(ds.label[7] == 1.0f); /* line 8 is the first "+1" */
  pw_data_free(&ds);
}

static void test_a9a_partitions(void **state) {
  (void)state;
  pw_dataset_t whole;
  pc_err_t err = {0};
  assert_int_equal(load(&whole, A9A_PATH, 0, 1, &err), 0);
  static const int nparts[] = {1, 2, 3, 7};
  for (size_t i = 0; i < sizeof nparts / sizeof nparts[0]; i++)
    check_partitions(A9A_PATH, &whole, nparts[i]);
  pw_data_free(&whole);
}

/* Every split of a small file, including ranges starting exactly at a line
 * start, mid-line, on '\r', and more parts than bytes. */
static void test_small_every_split(void **state) {
  (void)state;
  static const char text[] = "# header comment\n"
                             "+1 1:0.5 3:2\n"
                             "\n"
                             "-1 2:1\r\n"
                             "0 \t4:-1.25e-3   \n"
                             "   \n"
                             "1\n"
                             "-1 10:7 11:8 12:9\n"
                             "+1 5:1";
  tmpfile_t t;
  write_tmp_str(&t, text);
  pw_dataset_t whole;
  pc_err_t err = {0};
  assert_int_equal(load(&whole, t.path, 0, 1, &err), 0);
  assert_int_equal(whole.n, 6);
  assert_int_equal(whole.nnz, 8);
  assert_int_equal(whole.max_index, 12);
  static const float labels[] = {1, 0, 0, 1, 0, 1};
  for (size_t i = 0; i < 6; i++)
    assert_true(whole.label[i] == labels[i]);
  assert_true(whole.val[0] == 0.5f && whole.val[1] == 2.0f);
  assert_true(whole.val[3] == -1.25e-3f);
  assert_int_equal(whole.row[4] - whole.row[3], 0); /* label-only line */
  for (int n = 1; n <= (int)sizeof text + 2; n++)
    check_partitions(t.path, &whole, n);
  pw_data_free(&whole);
  unlink(t.path);
}

static void test_empty_and_missing(void **state) {
  (void)state;
  tmpfile_t t;
  write_tmp_str(&t, "");
  pw_dataset_t ds;
  pc_err_t err = {0};
  assert_int_equal(load(&ds, t.path, 0, 1, &err), 0);
  assert_int_equal(ds.n, 0);
  assert_non_null(ds.row);
  assert_int_equal(ds.row[0], 0);
  pw_data_free(&ds);
  assert_int_equal(load(&ds, t.path, 2, 3, &err), 0);
  assert_int_equal(ds.n, 0);
  pw_data_free(&ds);
  unlink(t.path);
  assert_int_equal(load(&ds, "/nonexistent/parasol.svm", 0, 1, &err), PC_ENOTFOUND);
  assert_non_null(strstr(err.msg, "/nonexistent/parasol.svm"));
  assert_int_equal(load(&ds, A9A_PATH, 2, 2, &err), PC_EINVAL);
  assert_int_equal(load(&ds, A9A_PATH, 0, 0, &err), PC_EINVAL);
}

typedef struct bad_case {
  const char *line;
  size_t len; /* 0: strlen */
  const char *reason;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"2 1:1", 0, "bad label '2'"},
    {"1.0 1:1", 0, "bad label '1.0'"},
    {"-1x 1:1", 0, "bad label"},
    {"3:1 4:1", 0, "missing label"},
    {"1 3", 0, "expected index:value, got '3'"},
    {"1 3:1 junk", 0, "expected index:value, got 'junk'"},
    {"1 a:1", 0, "index is not a number"},
    {"1 +3:1", 0, "index is not a number"},
    {"1 -3:1", 0, "negative index"},
    {"1 :1", 0, "missing index"},
    {"1 99999999999999999999999:1", 0, "index out of range"},
    {"1 3:1 3:1", 0, "not strictly increasing at '3:1'"},
    {"1 4:1 3:1", 0, "not strictly increasing"},
    {"1 124:1", 0, "index >= features (124) in '124:1'"},
    {"1 3:abc", 0, "value is not a number"},
    {"1 3:", 0, "missing value"},
    {"1 3:nan", 0, "not a finite"},
    {"1 3:-inf", 0, "not a finite"},
    {"1 3:1e40", 0, "not a finite"},
    {"1 3:1x", 0, "trailing junk"},
    {"1 3:1:2", 0, "trailing junk"},
    {"1 3:1\r\r", 0, "trailing junk"},
    {"1 3:1\0 4:1", 10, "NUL byte"},
};

/* good lines, then the bad one at line 5, then more good lines */
static void build_bad_file(tmpfile_t *t, const bad_case_t *c) {
  char buf[256];
  size_t len = c->len ? c->len : strlen(c->line);
  const char *pre = "# c\n+1 1:1\n\n-1 2:1 3:1\n";
  const char *post = "\n1 1:1\n0 2:1\n";
  size_t a = strlen(pre), b = strlen(post);
  assert_true(a + len + b < sizeof buf);
  memcpy(buf, pre, a);
  memcpy(buf + a, c->line, len);
  memcpy(buf + a + len, post, b);
  write_tmp(t, buf, a + len + b);
}

static void test_bad_lines(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    tmpfile_t t;
    build_bad_file(&t, &bad_cases[i]);
    pw_dataset_t ds;
    pc_err_t err = {0};
    pw_data_opts_t o = {.part = 0, .nparts = 1, .features = 124};
    int rc = pw_data_load_libsvm(&ds, t.path, &o, &err);
    char want[128];
    snprintf(want, sizeof want, "%s:5: ", t.path);
    if (rc != PC_EDATA || strncmp(err.msg, want, strlen(want)) != 0 ||
        strstr(err.msg, bad_cases[i].reason) == NULL)
      fail_msg("case %zu '%s': rc %d msg '%s'", i, bad_cases[i].line, rc, err.msg);
    assert_null(ds.label); /* nothing left to free on failure */
    unlink(t.path);
  }
}

/* 1000 lines, line 900 bad: a later partition reports the true line. */
static void test_bad_line_in_later_partition(void **state) {
  (void)state;
  size_t cap = 1000 * 32, len = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  for (int i = 1; i <= 1000; i++)
    len += (size_t)snprintf(buf + len, cap - len, i == 900 ? "+1 5:1 4:1\n" : "%s %d:1\n",
                            i % 2 ? "-1" : "+1", i);
  tmpfile_t t;
  write_tmp(&t, buf, len);
  free(buf);
  pw_dataset_t ds;
  pc_err_t err = {0};
  char want[128];
  snprintf(want, sizeof want, "%s:900: index not strictly increasing", t.path);
  assert_int_equal(load(&ds, t.path, 1, 2, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, want));
  assert_int_equal(load(&ds, t.path, 6, 7, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, want));
  assert_int_equal(load(&ds, t.path, 0, 2, &err), 0); /* bad line is not ours */
  assert_true(ds.n > 400 && ds.n < 600);
  pw_data_free(&ds);
  unlink(t.path);
}

static void test_skip_mode(void **state) {
  (void)state;
  tmpfile_t t;
  write_tmp_str(&t, "1 1:1\n1 x:1\n0 2:1\n5 1:1\n\n1 3:1 3:2\n-1 4:1\n");
  pw_dataset_t ds;
  pc_err_t err = {0};
  pw_data_opts_t o = {.part = 0, .nparts = 1, .skip_bad = 1, .max_bad_lines = 3};
  assert_int_equal(pw_data_load_libsvm(&ds, t.path, &o, &err), 0);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.bad_lines, 3);
  assert_int_equal(ds.nnz, 3);
  assert_int_equal(ds.idx[2], 4);
  pw_data_free(&ds);
  o.max_bad_lines = 2;
  assert_int_equal(pw_data_load_libsvm(&ds, t.path, &o, &err), PC_EDATA);
  char want[160];
  snprintf(want, sizeof want, "3 bad lines skipped, more than max_bad_lines (2); first: %s:2: ",
           t.path);
  if (strstr(err.msg, want) == NULL || strstr(err.msg, "index is not a number") == NULL)
    fail_msg("msg '%s'", err.msg);
  o.max_bad_lines = 0;
  assert_int_equal(pw_data_load_libsvm(&ds, t.path, &o, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, "1 bad lines skipped"));
  unlink(t.path);
}

/* A line just over 16 MiB is rejected (strict) or skipped cleanly. */
static void test_line_too_long(void **state) {
  (void)state;
  size_t big = ((size_t)16 << 20) + 100;
  const char *head = "1 1:1\n-1 2:1\n", *tail = "\n0 3:1\n";
  size_t a = strlen(head), b = strlen(tail);
  char *buf = malloc(a + big + b);
  assert_non_null(buf);
  memcpy(buf, head, a);
  memcpy(buf + a, "1 ", 2);
  memset(buf + a + 2, '7', big - 2);
  memcpy(buf + a + big, tail, b);
  tmpfile_t t;
  write_tmp(&t, buf, a + big + b);
  free(buf);
  pw_dataset_t ds;
  pc_err_t err = {0};
  char want[128];
  snprintf(want, sizeof want, "%s:3: line too long", t.path);
  assert_int_equal(load(&ds, t.path, 0, 1, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, want));
  pw_data_opts_t o = {.part = 0, .nparts = 1, .skip_bad = 1, .max_bad_lines = 1};
  assert_int_equal(pw_data_load_libsvm(&ds, t.path, &o, &err), 0);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.bad_lines, 1);
  assert_int_equal(ds.idx[2], 3);
  pw_data_free(&ds);
  o.nparts = 3; /* the long line spans every range boundary */
  size_t n = 0;
  for (o.part = 0; o.part < 3; o.part++) {
    assert_int_equal(pw_data_load_libsvm(&ds, t.path, &o, &err), 0);
    n += ds.n;
    pw_data_free(&ds);
  }
  assert_int_equal(n, 3);
  unlink(t.path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a9a_whole),
      cmocka_unit_test(test_a9a_partitions),
      cmocka_unit_test(test_small_every_split),
      cmocka_unit_test(test_empty_and_missing),
      cmocka_unit_test(test_bad_lines),
      cmocka_unit_test(test_bad_line_in_later_partition),
      cmocka_unit_test(test_skip_mode),
      cmocka_unit_test(test_line_too_long),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
