/* pw_data: LIBSVM partitioned reader, from files and streams; label kinds;
 * the reader table; subsets, hold-out and standardization. (The other
 * readers: test_readers.c.) */
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

#include "pw_data.h"

#ifndef PARASOL_SOURCE_DIR
#define PARASOL_SOURCE_DIR "."
#endif
#define A9A_PATH PARASOL_SOURCE_DIR "/data/a9a/a9a"
#define BOM "\xEF\xBB\xBF"

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

/* The repository ships a9a; a tree without it skips, saying so. */
static void need_a9a(void) {
  if (access(A9A_PATH, R_OK) == 0)
    return;
  print_message("skipped: %s is absent\n", A9A_PATH);
  skip();
}

static int load(pw_dataset_t *ds, const char *path, int part, int nparts, pc_err_t *err) {
  pw_data_opts_t o = {.part = part, .nparts = nparts};
  return pw_data_load_libsvm(ds, path, &o, err);
}

/* The file at path, read through the stream loader (as stdin would be). */
static int load_stream(pw_dataset_t *ds, const char *path, const pw_data_opts_t *o,
                       pc_err_t *err) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  int rc = pw_data_load_libsvm_stream(ds, f, "<stdin>", o, err);
  fclose(f);
  return rc;
}

static int load_via(int stream, pw_dataset_t *ds, const char *path, const pw_data_opts_t *o,
                    pc_err_t *err) {
  return stream ? load_stream(ds, path, o, err) : pw_data_load_libsvm(ds, path, o, err);
}

static int same_label(float a, float b) { return a == b || (isnan(a) && isnan(b)); }

/* Row i of a equals row j of b exactly. */
static void assert_same_row(const pw_dataset_t *a, size_t i, const pw_dataset_t *b, size_t j) {
  size_t la = a->row[i + 1] - a->row[i], lb = b->row[j + 1] - b->row[j];
  assert_int_equal(la, lb);
  assert_true(same_label(a->label[i], b->label[j]));
  for (size_t k = 0; k < la; k++) {
    assert_int_equal(a->idx[a->row[i] + k], b->idx[b->row[j] + k]);
    assert_true(a->val[a->row[i] + k] == b->val[b->row[j] + k]);
  }
}

/* Partitions of nparts (opts o otherwise), loaded from the file or as a
 * stream, concatenated in order, reproduce whole exactly: so they are
 * disjoint, cover the input and keep its order. */
static void check_partitions_via(int stream, const char *path, const pw_data_opts_t *o,
                                 const pw_dataset_t *whole, int nparts) {
  size_t next = 0, nnz = 0;
  for (int p = 0; p < nparts; p++) {
    pw_dataset_t ds;
    pc_err_t err = {0};
    pw_data_opts_t po = *o;
    po.part = p;
    po.nparts = nparts;
    if (load_via(stream, &ds, path, &po, &err) != 0)
      fail_msg("part %d of %d: %s", p, nparts, err.msg);
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

static void check_partitions(const char *path, const pw_dataset_t *whole, int nparts) {
  pw_data_opts_t o = {.nparts = 1};
  check_partitions_via(0, path, &o, whole, nparts);
}

/* Every split of a small file, from the file and as a stream. */
static void check_every_split(const char *path, size_t size, const pw_data_opts_t *o,
                              const pw_dataset_t *whole) {
  for (int n = 1; n <= (int)size + 2; n++) {
    check_partitions_via(0, path, o, whole, n);
    check_partitions_via(1, path, o, whole, n);
  }
}

static void test_a9a_whole(void **state) {
  (void)state;
  need_a9a();
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
  need_a9a();
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
  pw_data_opts_t o = {.nparts = 1};
  check_every_split(t.path, sizeof text, &o, &whole);
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
    /* Bytes that would not show are escaped. */
    {"\x01" "1 1:1", 0, "bad label '\\x011'"},
    {"1 3:1\xC3\xA9", 0, "trailing junk after value in '1\\xC3\\xA9'"},
    {"1 3:a\\x41", 0, "value is not a number in 'a\\\\x41'"},
    {BOM "-1 1:1", 0, "a UTF-8 byte-order mark (EF BB BF) in the middle of the file"},
};

/* Messages are printable ASCII whatever the data holds. */
static void assert_printable(const char *msg) {
  for (const char *p = msg; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
      fail_msg("byte 0x%02x at %zu in '%s'", (unsigned char)*p, (size_t)(p - msg), msg);
}

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
    assert_printable(err.msg);
    assert_null(ds.label); /* nothing left to free on failure */
    /* The same from a stream: same reason, same line, under its name. */
    rc = load_stream(&ds, t.path, &o, &err);
    if (rc != PC_EDATA || strncmp(err.msg, "<stdin>:5: ", 11) != 0 ||
        strstr(err.msg, bad_cases[i].reason) == NULL)
      fail_msg("stream case %zu '%s': rc %d msg '%s'", i, bad_cases[i].line, rc, err.msg);
    assert_null(ds.label);
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

/* A byte-order mark at offset 0 is skipped, for every split of the file
 * (partitions starting inside or just after it must not see it). */
static void test_bom_at_start(void **state) {
  (void)state;
  static const char text[] = BOM "-1 1:1 2:3\n+1 3:1\n0 4:1\n";
  tmpfile_t t;
  write_tmp_str(&t, text);
  pw_dataset_t whole;
  pc_err_t err = {0};
  pw_data_opts_t o = {.nparts = 1};
  if (load(&whole, t.path, 0, 1, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(whole.n, 3);
  assert_true(whole.label[0] == 0.0f && whole.label[1] == 1.0f);
  assert_int_equal(whole.idx[0], 1);
  check_every_split(t.path, sizeof text, &o, &whole);
  pw_data_free(&whole);
  unlink(t.path);
  /* Before an unlabeled first line too. */
  write_tmp_str(&t, BOM "7:1\n");
  o.labels_optional = 1;
  assert_int_equal(pw_data_load_libsvm(&whole, t.path, &o, &err), 0);
  assert_int_equal(whole.n, 1);
  assert_true(isnan(whole.label[0]));
  assert_int_equal(whole.idx[0], 7);
  pw_data_free(&whole);
  unlink(t.path);
}

/* A mark at the start of a later line is named, on the right line, by
 * whichever partition owns that line, and only by it. */
static void test_bom_in_middle(void **state) {
  (void)state;
  static const char text[] = "+1 1:1\n-1 2:1\n" BOM "-1 2:1\n+1 3:1\n";
  tmpfile_t t;
  write_tmp_str(&t, text);
  char want[160];
  snprintf(want, sizeof want,
           "%s:3: a UTF-8 byte-order mark (EF BB BF) in the middle of the file", t.path);
  for (int n = 1; n <= (int)sizeof text + 2; n++) {
    int failed = 0;
    for (int p = 0; p < n; p++) {
      pw_dataset_t ds;
      pc_err_t err = {0};
      int rc = load(&ds, t.path, p, n, &err);
      if (rc == 0) {
        pw_data_free(&ds);
        continue;
      }
      if (rc != PC_EDATA || strstr(err.msg, want) == NULL)
        fail_msg("part %d of %d: rc %d msg '%s'", p, n, rc, err.msg);
      failed++;
    }
    assert_int_equal(failed, 1);
  }
  pw_data_opts_t o = {.part = 0, .nparts = 1, .skip_bad = 1, .max_bad_lines = 1};
  pw_dataset_t ds;
  pc_err_t err = {0};
  assert_int_equal(pw_data_load_libsvm(&ds, t.path, &o, &err), 0);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.bad_lines, 1);
  pw_data_free(&ds);
  unlink(t.path);
}

/* labels_optional: a line starting with a pair, or a blank one, is an
 * example with a NaN label; labelled lines and comments as before. */
static void test_unlabeled(void **state) {
  (void)state;
  static const char text[] = "3:1 4:2\n+1 1:1\n\n# c\n-1\n 5:1\r\n   \n0 2:1 3:1";
  tmpfile_t t;
  write_tmp_str(&t, text);
  pw_dataset_t whole;
  pc_err_t err = {0};
  pw_data_opts_t o = {.nparts = 1, .labels_optional = 1};
  if (pw_data_load_libsvm(&whole, t.path, &o, &err) != 0)
    fail_msg("%s", err.msg);
  static const float nan_ = NAN;
  const float labels[] = {nan_, 1, nan_, 0, nan_, nan_, 0};
  static const size_t rows[] = {0, 2, 3, 3, 3, 4, 4, 6};
  assert_int_equal(whole.n, 7);
  for (size_t i = 0; i < 7; i++) {
    assert_true(same_label(whole.label[i], labels[i]));
    assert_int_equal(whole.row[i + 1], rows[i + 1]);
  }
  assert_int_equal(whole.idx[0], 3);
  assert_true(whole.val[1] == 2.0f);
  assert_int_equal(whole.idx[3], 5);
  check_every_split(t.path, sizeof text, &o, &whole);
  pw_data_free(&whole);
  /* Labels required (the default): the first line is refused, named. */
  char want[160];
  snprintf(want, sizeof want, "%s:1: missing label (line starts with '3:1')", t.path);
  assert_int_equal(load(&whole, t.path, 0, 1, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, want));
  unlink(t.path);
  /* A label that is there must still be a good one. */
  write_tmp_str(&t, "1:1\n2 1:1\n");
  assert_int_equal(pw_data_load_libsvm(&whole, t.path, &o, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, ":2: bad label '2'"));
  unlink(t.path);
}

/* A pipe (not seekable, like stdin) gives what the file gives. */
static void test_stream_pipe(void **state) {
  (void)state;
  static const char text[] = BOM "+1 1:0.5 3:2\n# c\n-1 2:1\n3:1\n";
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(write(fds[1], text, strlen(text)), (ssize_t)strlen(text));
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  assert_non_null(f);
  pw_dataset_t ds;
  pc_err_t err = {0};
  pw_data_opts_t o = {.nparts = 1, .labels_optional = 1};
  if (pw_data_load_libsvm_stream(&ds, f, "<stdin>", &o, &err) != 0)
    fail_msg("%s", err.msg);
  fclose(f);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.nnz, 4);
  assert_true(ds.label[0] == 1.0f && ds.label[1] == 0.0f && isnan(ds.label[2]));
  assert_true(ds.val[0] == 0.5f);
  assert_int_equal(ds.idx[3], 3);
  pw_data_free(&ds);
}

static void test_stream_empty_and_errors(void **state) {
  (void)state;
  pw_dataset_t ds;
  pc_err_t err = {0};
  FILE *f = fopen("/dev/null", "r");
  assert_non_null(f);
  assert_int_equal(pw_data_load_libsvm_stream(&ds, f, "<stdin>", NULL, &err), 0);
  assert_int_equal(ds.n, 0);
  assert_non_null(ds.row);
  assert_int_equal(ds.row[0], 0);
  pw_data_free(&ds);
  fclose(f);
  /* A directory opens but cannot be read. */
  f = fopen("/", "r");
  assert_non_null(f);
  assert_int_equal(pw_data_load_libsvm_stream(&ds, f, "in\nput", NULL, &err), PC_EIO);
  assert_non_null(strstr(err.msg, "in\\x0Aput: read: "));
  assert_null(ds.label);
  fclose(f);
  pw_data_opts_t o = {.part = 1, .nparts = 1};
  assert_int_equal(pw_data_load_libsvm_stream(&ds, stdin, "<stdin>", &o, &err), PC_EINVAL);
  assert_int_equal(pw_data_load_libsvm_stream(&ds, NULL, "<stdin>", NULL, &err), PC_EINVAL);
}

/* a9a whole and one partition: the stream loader matches the file one. */
static void test_stream_a9a(void **state) {
  (void)state;
  need_a9a();
  pw_dataset_t whole;
  pc_err_t err = {0};
  assert_int_equal(load(&whole, A9A_PATH, 0, 1, &err), 0);
  pw_data_opts_t o = {.nparts = 1};
  check_partitions_via(1, A9A_PATH, &o, &whole, 1);
  check_partitions_via(1, A9A_PATH, &o, &whole, 3);
  pw_data_free(&whole);
}

/* ---- Label kinds (LIBSVM), readers, subsets, hold-out, transform. ---- */

static int load_kind(pw_dataset_t *ds, const char *text, pw_label_kind_t kind, int classes,
                     int offset, pc_err_t *err, tmpfile_t *t) {
  write_tmp_str(t, text);
  pw_data_opts_t o = {.nparts = 1, .labels = kind, .classes = classes, .label_offset = offset};
  memset(err, 0, sizeof *err);
  return pw_data_load(ds, PC_FORMAT_LIBSVM, t->path, &o, err);
}

/* text fails with "path:want". */
static void expect_kind_error(const char *text, pw_label_kind_t kind, int classes, int offset,
                              const char *want) {
  tmpfile_t t;
  pw_dataset_t ds;
  pc_err_t err;
  assert_true(load_kind(&ds, text, kind, classes, offset, &err, &t) < 0);
  char full[600];
  snprintf(full, sizeof full, "%s%s", t.path, want);
  if (strstr(err.msg, full) == NULL)
    fail_msg("expected '%s', got '%s'", full, err.msg);
  unlink(t.path);
}

static void test_libsvm_class_labels(void **state) {
  (void)state;
  tmpfile_t t;
  pw_dataset_t ds;
  pc_err_t err;
  assert_int_equal(load_kind(&ds, "3 1:1\n0 2:1\n9 3:1\n", PW_LABEL_CLASS, 10, 0, &err, &t), 0);
  assert_true(ds.label[0] == 3 && ds.label[1] == 0 && ds.label[2] == 9);
  assert_int_equal(ds.shape.features, 4);
  assert_int_equal(ds.shape.dense, 0);
  pw_data_free(&ds);
  unlink(t.path);
  assert_int_equal(load_kind(&ds, "1 1:1\n10 2:1\n", PW_LABEL_CLASS, 10, 1, &err, &t), 0);
  assert_true(ds.label[0] == 0 && ds.label[1] == 9);
  pw_data_free(&ds);
  unlink(t.path);
  expect_kind_error("0 1:1\n10 1:1\n", PW_LABEL_CLASS, 10, 0,
                    ":2: label 10 outside 0..9 (model.classes: 10)");
  expect_kind_error("1 1:1\n10 1:1\n", PW_LABEL_CLASS, 10, 0,
                    ":2: label 10 outside 0..9 (model.classes: 10); no label 0 before it: the "
                    "labels look 1-based, set data.label_offset: 1");
  expect_kind_error("-1 1:1\n", PW_LABEL_CLASS, 10, 0, ":1: label -1 outside 0..9");
  expect_kind_error("1.5 1:1\n", PW_LABEL_CLASS, 10, 0, ":1: label 1.5 is not a whole number");
  expect_kind_error("x 1:1\n", PW_LABEL_CLASS, 10, 0, ":1: bad label 'x' (not a number)");
  expect_kind_error("1:1\n", PW_LABEL_CLASS, 10, 0, ":1: missing label");
  /* No model.classes: any class >= 0. */
  assert_int_equal(load_kind(&ds, "70000 1:1\n", PW_LABEL_CLASS, 0, 0, &err, &t), 0);
  assert_true(ds.label[0] == 70000);
  pw_data_free(&ds);
  unlink(t.path);
}

static void test_libsvm_real_labels(void **state) {
  (void)state;
  tmpfile_t t;
  pw_dataset_t ds;
  pc_err_t err;
  assert_int_equal(load_kind(&ds, "2.5 1:1\n-3e2 2:1\n", PW_LABEL_REAL, 0, 0, &err, &t), 0);
  assert_true(ds.label[0] == 2.5f && ds.label[1] == -300.0f);
  pw_data_free(&ds);
  unlink(t.path);
  expect_kind_error("1 1:1\nnan 1:1\n", PW_LABEL_REAL, 0, 0, ":2: label nan is not a finite");
  expect_kind_error("inf 1:1\n", PW_LABEL_REAL, 0, 0, ":1: label inf is not a finite");
  /* Binary stays exact: 2 is refused, +1 and -1 map to 1 and 0. */
  expect_kind_error("2 1:1\n", PW_LABEL_BINARY, 0, 0, ":1: bad label '2'");
  assert_int_equal(load_kind(&ds, "+1 1:1\n-1 1:1\n", PW_LABEL_BINARY, 0, 0, &err, &t), 0);
  assert_true(ds.label[0] == 1 && ds.label[1] == 0);
  pw_data_free(&ds);
  unlink(t.path);
}

static void test_reader_table(void **state) {
  (void)state;
  const struct {
    pc_format_t f;
    const char *name;
    int partial;
  } want[] = {{PC_FORMAT_LIBSVM, "libsvm", 1},
              {PC_FORMAT_CSV, "csv", 0},
              {PC_FORMAT_IDX, "idx", 0},
              {PC_FORMAT_RATINGS, "ratings", 0}};
  for (size_t i = 0; i < 4; i++) {
    const pw_reader_t *r = pw_reader_find(want[i].f);
    assert_non_null(r);
    assert_string_equal(r->name, want[i].name);
    assert_int_equal(r->partial, want[i].partial);
    assert_non_null(r->load);
  }
  assert_null(pw_reader_find((pc_format_t)99));
  pw_dataset_t ds;
  pc_err_t err = {0};
  pw_data_opts_t o = {.nparts = 1};
  assert_int_equal(pw_data_load(&ds, (pc_format_t)99, "x", &o, &err), PC_EINVAL);
  o.part = 2;
  o.nparts = 2;
  assert_int_equal(pw_data_load(&ds, PC_FORMAT_CSV, "x", &o, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "bad partition 2 of 2"));
}

static void test_opts_from_config(void **state) {
  (void)state;
  pc_config_t c;
  pc_config_defaults(&c);
  c.model.classes = 10;
  c.data.label_offset = 1;
  snprintf(c.data.label, sizeof c.data.label, "digit");
  c.data.on_error = PC_ON_ERROR_SKIP;
  c.data.max_bad_lines = 7;
  pw_data_opts_t o;
  pw_data_opts_from_config(&o, &c, PW_LABEL_CLASS, "labels.gz", 2, 3);
  assert_int_equal(o.part, 2);
  assert_int_equal(o.nparts, 3);
  assert_int_equal(o.labels, PW_LABEL_CLASS);
  assert_int_equal(o.classes, 10);
  assert_int_equal(o.label_offset, 1);
  assert_string_equal(o.label, "digit");
  assert_string_equal(o.labels_path, "labels.gz");
  assert_int_equal(o.skip_bad, 1);
  assert_int_equal(o.max_bad_lines, 7);
  assert_int_equal(o.features, 0);
  assert_int_equal(o.labels_optional, 0);
  /* Real labels: classes and offset do not apply; "" = no labels file. */
  pw_data_opts_from_config(&o, &c, PW_LABEL_REAL, "", 0, 1);
  assert_int_equal(o.classes, 0);
  assert_int_equal(o.label_offset, 0);
  assert_null(o.labels_path);
}

static void make_dense(pw_dataset_t *ds, size_t n, size_t nf, const float *vals) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->nnz = n * nf;
  ds->label = malloc(n * sizeof *ds->label);
  ds->row = malloc((n + 1) * sizeof *ds->row);
  ds->idx = malloc(n * nf * sizeof *ds->idx);
  ds->val = malloc(n * nf * sizeof *ds->val);
  for (size_t i = 0; i <= n; i++)
    ds->row[i] = i * nf;
  for (size_t i = 0; i < n; i++)
    ds->label[i] = (float)i;
  for (size_t k = 0; k < n * nf; k++) {
    ds->idx[k] = k % nf;
    ds->val[k] = vals[k];
  }
  ds->shape = (pw_shape_t){.features = nf, .dense = 1};
  ds->max_index = nf - 1;
}

static void test_subset(void **state) {
  (void)state;
  tmpfile_t t;
  write_tmp_str(&t, "1 1:1 3:2\n0\n1 2:5\n0 4:1 5:1 6:1\n");
  pw_dataset_t in, out;
  pc_err_t err = {0};
  assert_int_equal(load(&in, t.path, 0, 1, &err), 0);
  const size_t rows[] = {3, 0, 3, 1};
  assert_int_equal(pw_data_subset(&out, &in, rows, 4, &err), 0);
  assert_int_equal(out.n, 4);
  assert_int_equal(out.nnz, 3 + 2 + 3 + 0);
  for (size_t i = 0; i < 4; i++)
    assert_same_row(&out, i, &in, rows[i]);
  assert_int_equal(out.max_index, in.max_index);
  assert_int_equal(out.shape.features, in.shape.features);
  pw_data_free(&out);
  assert_int_equal(pw_data_subset(&out, &in, NULL, 0, &err), 0);
  assert_int_equal(out.n, 0);
  assert_int_equal(out.row[0], 0);
  pw_data_free(&out);
  const size_t bad[] = {0, 4};
  assert_int_equal(pw_data_subset(&out, &in, bad, 2, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "row 4 of a dataset of 4"));
  assert_null(out.label);
  pw_data_free(&in);
  unlink(t.path);
}

static void test_holdout(void **state) {
  (void)state;
  enum { N = 2000 };
  static unsigned char a[N], b[N], c[N];
  pc_err_t err = {0};
  assert_int_equal(pw_data_holdout(N, 0.2, 0, 42, a, &err), 0);
  assert_int_equal(pw_data_holdout(N, 0.2, 0, 42, b, &err), 0);
  assert_int_equal(pw_data_holdout(N, 0.2, 0, 43, c, &err), 0);
  assert_memory_equal(a, b, N); /* same seed: the same split */
  assert_memory_not_equal(a, c, N);
  size_t tests = 0;
  for (size_t i = 0; i < N; i++)
    tests += a[i];
  assert_in_range(tests, 300, 500); /* 400 expected; sd about 18 */
  /* Not a block: tests in both halves. */
  size_t first = 0;
  for (size_t i = 0; i < N / 2; i++)
    first += a[i];
  assert_in_range(first, 100, tests - 100);
  /* test_rows: exactly the last rows, whatever the fraction. */
  assert_int_equal(pw_data_holdout(10, 0.9, 3, 1, a, &err), 0);
  for (size_t i = 0; i < 10; i++)
    assert_int_equal(a[i], i >= 7);
}

/* data.valid_fraction: drawn only among training rows, independently of
 * the test hold-out, the same for the same seed. */
static void test_holdout_valid(void **state) {
  (void)state;
  enum { N = 4000 };
  static unsigned char a[N], b[N];
  pc_err_t err = {0};
  assert_int_equal(pw_data_holdout(N, 0.25, 0, 7, a, &err), 0);
  memcpy(b, a, N);
  assert_int_equal(pw_data_holdout_valid(N, 0.2, 7, a, &err), 0);
  size_t count[3] = {0}, moved_test = 0;
  for (size_t i = 0; i < N; i++) {
    count[a[i]]++;
    moved_test += b[i] == PW_ROW_TEST && a[i] != PW_ROW_TEST;
  }
  assert_int_equal(moved_test, 0);                   /* test rows stay test rows */
  assert_in_range(count[PW_ROW_VALID], 480, 720);    /* 0.2 of ~3000: 600, sd ~22 */
  assert_in_range(count[PW_ROW_TEST], 900, 1100);
  /* Independent of the test draw: about a fifth of the would-be valid rows of
   * a fresh split fall among the test rows. */
  static unsigned char c[N];
  memset(c, PW_ROW_TRAIN, N);
  assert_int_equal(pw_data_holdout_valid(N, 0.2, 7, c, &err), 0);
  size_t both = 0, valid = 0;
  for (size_t i = 0; i < N; i++)
    if (c[i] == PW_ROW_VALID)
      valid++, both += b[i] == PW_ROW_TEST;
  assert_in_range(both, valid / 4 - 60, valid / 4 + 60);
  memset(b, PW_ROW_TRAIN, N);
  assert_int_equal(pw_data_holdout_valid(N, 0.2, 7, b, &err), 0);
  assert_memory_equal(b, c, N);
  /* Refusals: no validation row, or no training row left. */
  unsigned char s[4] = {0};
  assert_int_equal(pw_data_holdout_valid(4, 1e-9, 1, s, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "data.valid_fraction: 1e-09 of 4 rows (training.seed 1) leaves "
                                  "no validation row"));
  assert_int_equal(pw_data_holdout_valid(4, 0, 1, s, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "needs a fraction in (0, 1)"));
}

/* Transforms compare value for value; two "none" (NULL arrays) are equal. */
static void test_transform_equal(void **state) {
  (void)state;
  float m1[2] = {1, 2}, s1[2] = {0.5f, 1}, m2[2] = {1, 2}, s2[2] = {0.5f, 2};
  pw_transform_t none = {0}, none2 = {0}, a = {2, m1, s1}, b = {2, m2, s1}, c = {2, m2, s2},
                 d = {1, m1, s1};
  assert_true(pw_transform_equal(&none, &none2));
  assert_true(pw_transform_equal(&a, &b));
  assert_false(pw_transform_equal(&a, &c));
  assert_false(pw_transform_equal(&a, &d));
  assert_false(pw_transform_equal(&a, &none));
  pc_err_t err = {0};
  assert_int_equal(pw_transform_check(&a, 2, "m", PC_EMODEL, &err), 0);
  assert_int_equal(pw_transform_check(&a, 1, "m", PC_EMODEL, &err), PC_EMODEL);
  assert_non_null(strstr(err.msg, "m: transform of 2 features, the data has 1"));
  s2[0] = 0;
  assert_int_equal(pw_transform_check(&c, 0, "m", PC_EDATA, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, "m: transform of feature 0: mean 1, 1/std 0"));
}

static void test_holdout_refusals(void **state) {
  (void)state;
  unsigned char s[16];
  pc_err_t err = {0};
  assert_int_equal(pw_data_holdout(10, 0, 10, 1, s, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "data.test_rows: 10 leaves no training row (the data has 10"));
  assert_int_equal(pw_data_holdout(10, 0, 11, 1, s, &err), PC_EINVAL);
  assert_int_equal(pw_data_holdout(10, 0, 0, 1, s, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "data.test_fraction"));
  assert_int_equal(pw_data_holdout(10, 1.0, 0, 1, s, &err), PC_EINVAL);
  /* A fraction too small for so few rows picks none: refused, not silent. */
  assert_int_equal(pw_data_holdout(3, 1e-9, 0, 1, s, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "leaves no test row"));
  assert_int_equal(pw_data_holdout(3, 1 - 1e-9, 0, 1, s, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "leaves no training row"));
}

static void test_moments_and_transform(void **state) {
  (void)state;
  /* Feature 0: 1, 2, 3, 6 (mean 3, var 3.5); feature 1 constant 5;
   * feature 2: -1, 1, -1, 1 (mean 0, var 1). */
  const float v[] = {1, 5, -1, 2, 5, 1, 3, 5, -1, 6, 5, 1};
  pw_dataset_t a, b;
  make_dense(&a, 2, 3, v);
  make_dense(&b, 2, 3, v + 6);
  double sum[3] = {0}, sumsq[3] = {0}, count = 0;
  pw_data_moments(&a, 3, sum, sumsq, &count);
  pw_data_moments(&b, 3, sum, sumsq, &count); /* two workers' parts add up */
  assert_true(count == 4);
  assert_true(sum[0] == 12 && sumsq[0] == 50);
  pw_transform_t t;
  pc_err_t err = {0};
  assert_int_equal(pw_transform_from_moments(&t, 3, sum, sumsq, count, &err), 0);
  assert_int_equal(t.n, 3);
  assert_float_equal(t.mean[0], 3, 1e-6);
  assert_float_equal(t.inv_std[0], 1 / sqrt(3.5), 1e-6);
  assert_float_equal(t.mean[1], 5, 1e-6);
  assert_true(t.inv_std[1] == 1.0f); /* constant: centred, not scaled */
  assert_float_equal(t.mean[2], 0, 1e-6);
  assert_float_equal(t.inv_std[2], 1, 1e-6);
  pw_data_apply_transform(&b, &t);
  assert_float_equal(b.val[0], (3 - 3) / sqrt(3.5), 1e-6);
  assert_float_equal(b.val[1], 0, 1e-6);
  assert_float_equal(b.val[3], (6 - 3) / sqrt(3.5), 1e-6);
  assert_float_equal(b.val[5], 1, 1e-6);
  /* Only features below nf are counted and transformed. */
  double s2[2] = {0}, q2[2] = {0}, c2 = 0;
  pw_data_moments(&a, 2, s2, q2, &c2);
  assert_true(s2[0] == 3 && s2[1] == 10 && c2 == 2);
  pw_transform_t t2;
  assert_int_equal(pw_transform_from_moments(&t2, 2, s2, q2, c2, &err), 0);
  pw_data_apply_transform(&a, &t2);
  assert_true(a.val[2] == -1 && a.val[5] == 1);
  pw_transform_free(&t2);
  pw_transform_free(&t);
  assert_null(t.mean);
  pw_transform_free(&t); /* twice is harmless */
  assert_int_equal(pw_transform_from_moments(&t, 3, sum, sumsq, 0, &err), PC_EINVAL);
  assert_int_equal(pw_transform_from_moments(&t, 0, NULL, NULL, 0, &err), 0);
  assert_int_equal(t.n, 0);
  pw_data_apply_transform(&a, &t); /* identity */
  pw_data_free(&a);
  pw_data_free(&b);
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
      cmocka_unit_test(test_bom_at_start),
      cmocka_unit_test(test_bom_in_middle),
      cmocka_unit_test(test_unlabeled),
      cmocka_unit_test(test_stream_pipe),
      cmocka_unit_test(test_stream_empty_and_errors),
      cmocka_unit_test(test_stream_a9a),
      cmocka_unit_test(test_libsvm_class_labels),
      cmocka_unit_test(test_libsvm_real_labels),
      cmocka_unit_test(test_reader_table),
      cmocka_unit_test(test_opts_from_config),
      cmocka_unit_test(test_subset),
      cmocka_unit_test(test_holdout),
      cmocka_unit_test(test_holdout_valid),
    cmocka_unit_test(test_transform_equal),
    cmocka_unit_test(test_holdout_refusals),
      cmocka_unit_test(test_moments_and_transform),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
