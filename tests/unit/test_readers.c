/* pw_data readers other than LIBSVM: numeric CSV, MNIST idx (plain and
 * gzip), rating triples; small files written here, broken ones too, and
 * the real files in ../shared when it is there. */
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
#include <zlib.h>

#include "pw_data.h"

#ifndef PARASOL_SOURCE_DIR
#define PARASOL_SOURCE_DIR "."
#endif
#define SHARED PARASOL_SOURCE_DIR "/../shared/data" /* MovieLens: never copied here */
#define DATA PARASOL_SOURCE_DIR "/data"                /* optdigits, MNIST t10k: copies */

typedef struct tmp {
  char path[64];
} tmp_t;

static void write_tmp(tmp_t *t, const void *data, size_t len) {
  strcpy(t->path, "/tmp/parasol_test_readers_XXXXXX");
  int fd = mkstemp(t->path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static void write_str(tmp_t *t, const char *s) { write_tmp(t, s, strlen(s)); }

static void write_gz(tmp_t *t, const void *data, size_t len) {
  write_tmp(t, "", 0);
  gzFile g = gzopen(t->path, "wb");
  assert_non_null(g);
  assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
  assert_int_equal(gzclose(g), Z_OK);
}

static pw_data_opts_t opts(pw_label_kind_t kind, int classes, const char *label) {
  return (pw_data_opts_t){.nparts = 1, .labels = kind, .classes = classes, .label = label};
}

static int load(pw_dataset_t *ds, pc_format_t f, const char *path, const pw_data_opts_t *o,
                pc_err_t *err) {
  memset(err, 0, sizeof *err);
  return pw_data_load(ds, f, path, o, err);
}

/* Loading path fails with a message naming the file named, and holding
 * each string of ap; ds is left empty. */
static void expect_error_va(pc_format_t f, const char *path, const char *named,
                            const pw_data_opts_t *o, va_list ap) {
  pw_dataset_t ds;
  pc_err_t err;
  int rc = load(&ds, f, path, o, &err);
  if (rc == 0)
    fail_msg("%s loaded, expected an error", path);
  assert_true(rc < 0);
  if (strstr(err.msg, named) == NULL)
    fail_msg("message does not name %s: %s", named, err.msg);
  for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
    if (strstr(err.msg, s) == NULL)
      fail_msg("message lacks '%s': %s", s, err.msg);
  assert_null(ds.label);
  assert_int_equal(ds.n, 0);
}

/* ... with path named; the strings end with NULL. */
static void expect_error(pc_format_t f, const char *path, const pw_data_opts_t *o, ...) {
  va_list ap;
  va_start(ap, o);
  expect_error_va(f, path, path, o, ap);
  va_end(ap);
}

static void expect_error_naming(pc_format_t f, const char *path, const char *named,
                                const pw_data_opts_t *o, ...) {
  va_list ap;
  va_start(ap, o);
  expect_error_va(f, path, named, o, ap);
  va_end(ap);
}

static void expect_csv_error(const char *text, const pw_data_opts_t *o, const char *want1,
                             const char *want2) {
  tmp_t t;
  write_str(&t, text);
  char line[600];
  snprintf(line, sizeof line, "%s%s", t.path, want1);
  expect_error(PC_FORMAT_CSV, t.path, o, line, want2, (const char *)NULL);
  unlink(t.path);
}

/* Row i of ds is dense: values vals[0..nf) at indices 0..nf-1. */
static void assert_dense_row(const pw_dataset_t *ds, size_t i, const float *vals, size_t nf) {
  assert_int_equal(ds->row[i + 1] - ds->row[i], nf);
  for (size_t j = 0; j < nf; j++) {
    assert_int_equal(ds->idx[ds->row[i] + j], j);
    assert_true(ds->val[ds->row[i] + j] == vals[j]);
  }
}

/* ---- CSV ---- */

static void test_csv_no_header_numbered_label(void **state) {
  (void)state;
  tmp_t t;
  write_str(&t, "1,2,3\n\n4.5,-5,6\r\n7,8e1,9");
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, "2");
  pw_dataset_t ds;
  pc_err_t err;
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.nnz, 6);
  assert_int_equal(ds.shape.features, 2);
  assert_int_equal(ds.shape.dense, 1);
  assert_int_equal(ds.shape.height, 0);
  assert_dense_row(&ds, 1, (float[]){4.5f, -5}, 2);
  assert_dense_row(&ds, 2, (float[]){7, 80}, 2);
  assert_true(ds.label[0] == 3 && ds.label[1] == 6 && ds.label[2] == 9);
  pw_data_free(&ds);
  /* The label first: the features are the columns after it, renumbered. */
  o.label = "0";
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_dense_row(&ds, 0, (float[]){2, 3}, 2);
  assert_true(ds.label[1] == 4.5f);
  pw_data_free(&ds);
  unlink(t.path);
}

static void test_csv_header_named_label(void **state) {
  (void)state;
  tmp_t t;
  write_str(&t, "a, \"label\" ,b,c,d\n1,0,2,3,4\n5,1,6,7,8\n");
  pw_data_opts_t o = opts(PW_LABEL_BINARY, 0, "label");
  pw_dataset_t ds;
  pc_err_t err;
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_int_equal(ds.n, 2);
  assert_dense_row(&ds, 1, (float[]){5, 6, 7, 8}, 4);
  assert_true(ds.label[0] == 0 && ds.label[1] == 1);
  /* Four features: a 2x2 image. */
  assert_int_equal(ds.shape.features, 4);
  assert_int_equal(ds.shape.height, 2);
  assert_int_equal(ds.shape.width, 2);
  assert_int_equal(ds.shape.channels, 1);
  pw_data_free(&ds);
  /* A number names a column when no header cell is called that. */
  o.label = "1";
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_true(ds.label[1] == 1);
  pw_data_free(&ds);
  unlink(t.path);
}

static void test_csv_label_column_missing(void **state) {
  (void)state;
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, "lbl");
  expect_csv_error("a,label,b\n1,2,3\n", &o, ":1: label column 'lbl' is not in the header",
                   "columns: a, label, b");
  o.label = "3";
  expect_csv_error("a,label,b\n1,2,3\n", &o, ":1: label column 3 does not exist",
                   "the file has 3 columns");
  expect_csv_error("1,2,3\n", &o, ":1: label column 3 does not exist", "has 3 columns (0..2)");
  o.label = "label";
  expect_csv_error("1,2,3\n", &o, ":1: label column 'label'", "no header line");
  o.label = NULL;
  expect_csv_error("1,2,3\n", &o, ": no label column given", "data.label");
  o.label = "0";
  expect_csv_error("1\n2\n", &o, ":1: 0 feature columns", "none besides the label");
}

static void test_csv_bad_cells(void **state) {
  (void)state;
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, "0");
  expect_csv_error("y,x1,x2\n1,2,3\n1,abc,3\n", &o, ":3: column 1 ('x1'): 'abc' is not a number",
                   "");
  expect_csv_error("1,2,3\n1,2,\n", &o, ":2: column 2: '' is not a number", "");
  expect_csv_error("1,2,3\n1,2\n", &o, ":2: expected 3 cells, got 2", "");
  expect_csv_error("1,2,3\n1,2,3,4\n", &o, ":2: expected 3 cells, got 4", "");
  expect_csv_error("1,2,3\n1,nan,3\n", &o, ":2: column 1: 'nan' is not a finite float", "");
  expect_csv_error("1,2,3\n1,2,-inf\n", &o, ":2: column 2: '-inf' is not a finite float", "");
  expect_csv_error("1,2,3\n1,2,1e39\n", &o, ":2: column 2: '1e39' is not a finite float", "");
  expect_csv_error("1,2,3\nnan,2,3\n", &o, ":2: label nan is not a finite number", "");
  expect_csv_error("1,2,3\nz,2,3\n", &o, ":2: column 0: 'z' is not a number", "");
  expect_csv_error("", &o, ": empty file", "");
  expect_csv_error("\n  \n", &o, ": empty file", "");
  expect_csv_error("y,x\n", &o, ": no data rows after the header line", "");
}

static void test_csv_class_labels(void **state) {
  (void)state;
  pw_data_opts_t o = opts(PW_LABEL_CLASS, 10, "1");
  /* 0-based data with a stray 10: out of range, no 1-based hint. */
  expect_csv_error("1,0\n2,10\n", &o, ":2: label 10 outside 0..9 (model.classes: 10)", "");
  tmp_t t;
  write_str(&t, "1,0\n2,10\n");
  pw_dataset_t ds;
  pc_err_t err;
  assert_true(load(&ds, PC_FORMAT_CSV, t.path, &o, &err) < 0);
  assert_null(strstr(err.msg, "1-based"));
  unlink(t.path);
  /* Labels 1..10: says so and names the setting. */
  expect_csv_error("1,1\n2,5\n3,10\n", &o, ":3: label 10 outside 0..9 (model.classes: 10)",
                   "the labels look 1-based, set data.label_offset: 1");
  expect_csv_error("1,-1\n", &o, ":1: label -1 outside 0..9", "");
  expect_csv_error("1,2.5\n", &o, ":1: label 2.5 is not a whole number", "");
  o.label_offset = 1;
  expect_csv_error("1,0\n", &o, ":1: label 0 - data.label_offset 1 = -1, outside 0..9", "");
  write_str(&t, "1,1\n2,5\n3,10\n");
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_true(ds.label[0] == 0 && ds.label[1] == 4 && ds.label[2] == 9);
  pw_data_free(&ds);
  unlink(t.path);
  o = opts(PW_LABEL_BINARY, 0, "1");
  expect_csv_error("1,2\n", &o, ":1: label 2 is not binary", "");
}

static void test_csv_skip_bad(void **state) {
  (void)state;
  tmp_t t;
  write_str(&t, "1,2\n1,x\n3,4\n5\n6,7\n");
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, "1");
  o.skip_bad = 1;
  o.max_bad_lines = 2;
  pw_dataset_t ds;
  pc_err_t err;
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.bad_lines, 2);
  assert_true(ds.label[2] == 7);
  pw_data_free(&ds);
  o.max_bad_lines = 1;
  char want[128];
  snprintf(want, sizeof want, "first: %s:2: column 1: 'x' is not a number", t.path);
  expect_error(PC_FORMAT_CSV, t.path, &o, "2 bad lines skipped, more than max_bad_lines (1)",
               want, (const char *)NULL);
  unlink(t.path);
}

/* Unlabeled data (predict): no label column, every cell a feature. */
static void test_csv_unlabeled(void **state) {
  (void)state;
  tmp_t t;
  write_str(&t, "1,2,3\n4,5,6\n");
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, NULL);
  o.labels_optional = 1;
  pw_dataset_t ds;
  pc_err_t err;
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_int_equal(ds.shape.features, 3);
  assert_dense_row(&ds, 1, (float[]){4, 5, 6}, 3);
  assert_true(isnan(ds.label[0]));
  pw_data_free(&ds);
  /* The training config's label column (3: past the last) is simply absent
   * from data to predict on; when labels are required it is an error. */
  o = opts(PW_LABEL_REAL, 0, "3");
  o.labels_optional = 1;
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_int_equal(ds.shape.features, 3);
  assert_true(isnan(ds.label[1]));
  pw_data_free(&ds);
  o.labels_optional = 0;
  expect_error(PC_FORMAT_CSV, t.path, &o, "label column 3 does not exist", (const char *)NULL);
  unlink(t.path);
  /* With a header: a label name not in it. */
  write_str(&t, "a,b\n1,2\n");
  o = opts(PW_LABEL_REAL, 0, "target");
  o.labels_optional = 1;
  assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
  assert_int_equal(ds.shape.features, 2);
  assert_int_equal(ds.n, 1);
  pw_data_free(&ds);
  unlink(t.path);
}

/* A non-partial reader keeps contiguous row blocks [p*n/P, (p+1)*n/P):
 * together the whole file, in order; the shape is the whole file's. */
static void test_csv_partitions(void **state) {
  (void)state;
  char text[512] = "";
  for (int i = 0; i < 10; i++)
    snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%d,%d\n", i, i * 2, i * 3);
  tmp_t t;
  write_str(&t, text);
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, "0");
  for (int nparts = 1; nparts <= 4; nparts++) {
    size_t next = 0;
    for (int p = 0; p < nparts; p++) {
      pw_dataset_t ds;
      pc_err_t err;
      o.part = p;
      o.nparts = nparts;
      assert_int_equal(load(&ds, PC_FORMAT_CSV, t.path, &o, &err), 0);
      assert_int_equal(ds.n, (size_t)((p + 1) * 10 / nparts - p * 10 / nparts));
      assert_int_equal(ds.shape.features, 2);
      assert_int_equal(ds.row[0], 0);
      assert_int_equal(ds.nnz, ds.n * 2);
      for (size_t i = 0; i < ds.n; i++, next++) {
        assert_true(ds.label[i] == (float)next);
        assert_dense_row(&ds, i, (float[]){(float)next * 2, (float)next * 3}, 2);
      }
      pw_data_free(&ds);
    }
    assert_int_equal(next, 10);
  }
  unlink(t.path);
}

/* ---- idx ---- */

enum { IMG_N = 3, IMG_R = 2, IMG_C = 3 };

static size_t be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
  return 4;
}

/* An images file: header (magic, n, rows, cols), then pixels bytes of
 * pixel value (i * 37) & 255. Returns its length. */
static size_t images(unsigned char *buf, uint32_t magic, uint32_t n, uint32_t r, uint32_t c,
                     size_t pixels) {
  size_t o = be32(buf, magic);
  o += be32(buf + o, n);
  o += be32(buf + o, r);
  o += be32(buf + o, c);
  for (size_t i = 0; i < pixels; i++)
    buf[o++] = (unsigned char)(i * 37);
  return o;
}

static size_t labels(unsigned char *buf, uint32_t magic, uint32_t n, const unsigned char *lab,
                     size_t k) {
  size_t o = be32(buf, magic);
  o += be32(buf + o, n);
  memcpy(buf + o, lab, k);
  return o + k;
}

static void check_images(const pw_dataset_t *ds) {
  assert_int_equal(ds->n, IMG_N);
  assert_int_equal(ds->nnz, IMG_N * IMG_R * IMG_C);
  assert_int_equal(ds->shape.features, IMG_R * IMG_C);
  assert_int_equal(ds->shape.height, IMG_R);
  assert_int_equal(ds->shape.width, IMG_C);
  assert_int_equal(ds->shape.channels, 1);
  assert_int_equal(ds->shape.dense, 1);
  for (size_t k = 0; k < ds->nnz; k++) {
    assert_int_equal(ds->idx[k], k % (IMG_R * IMG_C));
    assert_float_equal(ds->val[k], (float)((k * 37) & 255) / 255.0f, 1e-7);
  }
  assert_true(ds->label[0] == 7 && ds->label[1] == 0 && ds->label[2] == 9);
}

static void test_idx_plain_and_gzip(void **state) {
  (void)state;
  unsigned char ib[64], lb[16];
  size_t ni = images(ib, 0x803, IMG_N, IMG_R, IMG_C, IMG_N * IMG_R * IMG_C);
  size_t nl = labels(lb, 0x801, IMG_N, (unsigned char[]){7, 0, 9}, IMG_N);
  tmp_t ti, tl, gi, gl;
  write_tmp(&ti, ib, ni);
  write_tmp(&tl, lb, nl);
  write_gz(&gi, ib, ni);
  write_gz(&gl, lb, nl);
  pw_data_opts_t o = opts(PW_LABEL_CLASS, 10, NULL);
  pw_dataset_t ds;
  pc_err_t err;
  o.labels_path = tl.path;
  assert_int_equal(load(&ds, PC_FORMAT_IDX, ti.path, &o, &err), 0);
  check_images(&ds);
  pw_data_free(&ds);
  o.labels_path = gl.path;
  assert_int_equal(load(&ds, PC_FORMAT_IDX, gi.path, &o, &err), 0);
  check_images(&ds);
  pw_data_free(&ds);
  /* No labels file: an error, unless labels are optional (predict). */
  o.labels_path = NULL;
  expect_error(PC_FORMAT_IDX, gi.path, &o, "need their labels file (data.labels)",
               (const char *)NULL);
  o.labels_optional = 1;
  assert_int_equal(load(&ds, PC_FORMAT_IDX, gi.path, &o, &err), 0);
  assert_true(isnan(ds.label[2]));
  pw_data_free(&ds);
  unlink(ti.path), unlink(tl.path), unlink(gi.path), unlink(gl.path);
}

/* Write images (magic, n, r, c, pixels) plainly and expect an error. */
static void expect_images_error(uint32_t magic, uint32_t n, uint32_t r, uint32_t c,
                                size_t pixels, const char *want) {
  static unsigned char ib[4096];
  size_t len = images(ib, magic, n, r, c, pixels);
  tmp_t ti, tl;
  unsigned char lb[16];
  write_tmp(&ti, ib, len);
  write_tmp(&tl, lb, labels(lb, 0x801, IMG_N, (unsigned char[]){1, 2, 3}, IMG_N));
  pw_data_opts_t o = opts(PW_LABEL_CLASS, 10, NULL);
  o.labels_path = tl.path;
  expect_error(PC_FORMAT_IDX, ti.path, &o, want, (const char *)NULL);
  unlink(ti.path), unlink(tl.path);
}

static void test_idx_bad_images(void **state) {
  (void)state;
  expect_images_error(0x801, IMG_N, IMG_R, IMG_C, 18,
                      "magic 0x00000801, expected 0x00000803 (idx images");
  expect_images_error(0x0D03, IMG_N, IMG_R, IMG_C, 18, "magic 0x00000D03");
  expect_images_error(0x803, IMG_N, IMG_R, IMG_C, 15,
                      "header says 3 images of 2x3 (18 bytes), file holds 15");
  expect_images_error(0x803, IMG_N, IMG_R, IMG_C, 21,
                      "header says 3 images of 2x3 (18 bytes), file holds 21");
  /* A huge header with little data is refused, not allocated. */
  expect_images_error(0x803, 100000000, 28, 28, 18,
                      "header says 100000000 images of 28x28 (78400000000 bytes), file holds 18");
  expect_images_error(0x803, 0x80000000u, 28, 28, 0, "header says 2147483648 items");
  expect_images_error(0x803, 0, 28, 28, 0, "header says 0 items");
  expect_images_error(0x803, 1, 5000, 28, 0, "header says images of 5000x28");
  expect_images_error(0x803, 1, 28, 0, 0, "header says images of 28x0");
  tmp_t t;
  write_tmp(&t, "\0\0\x08\x03\0\0", 6);
  expect_error(PC_FORMAT_IDX, t.path, &(pw_data_opts_t){.nparts = 1, .labels_optional = 1},
               "6 bytes, too short for an idx header (16)", (const char *)NULL);
  unlink(t.path);
  pw_data_opts_t o = {.nparts = 1, .labels_optional = 1};
  expect_error(PC_FORMAT_IDX, "/nonexistent/images.gz", &o, "cannot open", (const char *)NULL);
  expect_error(PC_FORMAT_IDX, "/tmp", &o, "not a regular file", (const char *)NULL);
}

static void test_idx_truncated_gzip(void **state) {
  (void)state;
  enum { N = 50, R = 10, C = 10 };
  static unsigned char ib[16 + N * R * C];
  size_t len = images(ib, 0x803, N, R, C, N * R * C);
  for (size_t i = 16; i < len; i++) /* incompressible: the cut lands in the data */
    ib[i] = (unsigned char)(rand() >> 7);
  tmp_t g;
  write_gz(&g, ib, len);
  FILE *f = fopen(g.path, "rb");
  static unsigned char gz[16 + N * R * C + 1024];
  size_t glen = fread(gz, 1, sizeof gz, f);
  fclose(f);
  assert_true(glen > 1000);
  unlink(g.path);
  tmp_t t;
  write_tmp(&t, gz, glen / 2);
  pw_data_opts_t o = {.nparts = 1, .labels_optional = 1};
  expect_error(PC_FORMAT_IDX, t.path, &o, "unexpected end of file", (const char *)NULL);
  unlink(t.path);
  /* Without its 8-byte trailer the deflate data ends but the member does not. */
  write_tmp(&t, gz, glen - 8);
  expect_error(PC_FORMAT_IDX, t.path, &o, "unexpected end of file", (const char *)NULL);
  unlink(t.path);
}

static void expect_labels_error(uint32_t magic, uint32_t n, const unsigned char *lab, size_t k,
                                int classes, const char *want1, const char *want2) {
  unsigned char ib[64], lb[64];
  tmp_t ti, tl;
  write_tmp(&ti, ib, images(ib, 0x803, IMG_N, IMG_R, IMG_C, IMG_N * IMG_R * IMG_C));
  write_tmp(&tl, lb, labels(lb, magic, n, lab, k));
  pw_data_opts_t o = opts(PW_LABEL_CLASS, classes, NULL);
  o.labels_path = tl.path;
  char first[600];
  snprintf(first, sizeof first, "%s%s", tl.path, want1);
  expect_error_naming(PC_FORMAT_IDX, ti.path, tl.path, &o, first, want2, (const char *)NULL);
  unlink(ti.path), unlink(tl.path);
}

static void test_idx_bad_labels(void **state) {
  (void)state;
  const unsigned char ok[] = {1, 2, 3, 4};
  expect_labels_error(0x803, IMG_N, ok, 3, 10, ": magic 0x00000803, expected 0x00000801", "");
  expect_labels_error(0x801, 2, ok, 2, 10, ": 2 labels for 3 images", "");
  expect_labels_error(0x801, 4, ok, 4, 10, ": 4 labels for 3 images", "");
  expect_labels_error(0x801, IMG_N, ok, 2, 10, ": header says 3 labels (3 bytes), file holds 2", "");
  expect_labels_error(0x801, IMG_N, (unsigned char[]){0, 3, 10}, 3, 10,
                      ": record 2 (byte 10): label 10 outside 0..9 (model.classes: 10)", "");
  /* Labels 1..K: the hint, although the 10 comes before all others. */
  expect_labels_error(0x801, IMG_N, (unsigned char[]){10, 1, 5}, 3, 10,
                      ": record 0 (byte 8): label 10 outside 0..9",
                      "the labels look 1-based, set data.label_offset: 1");
  /* A 0 later in the file: no hint. */
  unsigned char ib[64], lb[64];
  tmp_t ti, tl;
  write_tmp(&ti, ib, images(ib, 0x803, IMG_N, IMG_R, IMG_C, IMG_N * IMG_R * IMG_C));
  write_tmp(&tl, lb, labels(lb, 0x801, IMG_N, (unsigned char[]){10, 1, 0}, 3));
  pw_data_opts_t o = opts(PW_LABEL_CLASS, 10, NULL);
  o.labels_path = tl.path;
  pw_dataset_t ds;
  pc_err_t err;
  assert_true(load(&ds, PC_FORMAT_IDX, ti.path, &o, &err) < 0);
  assert_null(strstr(err.msg, "1-based"));
  unlink(ti.path), unlink(tl.path);
}

/* ---- ratings ---- */

static void test_ratings_separators(void **state) {
  (void)state;
  const char *files[] = {"1\t2\t5\t881250949\n\n3\t40\t3.5\t0\n",
                         "1::2::5::881250949\n3::40::3.5::0\n",
                         "userId,movieId,rating,timestamp\n1,2,5,881250949\r\n3, 40 ,3.5\n"};
  for (size_t f = 0; f < 3; f++) {
    tmp_t t;
    write_str(&t, files[f]);
    pw_data_opts_t o = opts(PW_LABEL_REAL, 0, NULL);
    pw_dataset_t ds;
    pc_err_t err;
    if (load(&ds, PC_FORMAT_RATINGS, t.path, &o, &err) != 0)
      fail_msg("file %zu: %s", f, err.msg);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.nnz, 4);
    const uint64_t idx[] = {1, 2, 3, 40};
    for (int k = 0; k < 4; k++) {
      assert_int_equal(ds.idx[k], idx[k]);
      assert_true(ds.val[k] == 1.0f);
    }
    assert_int_equal(ds.row[1], 2);
    assert_true(ds.label[0] == 5 && ds.label[1] == 3.5f);
    assert_int_equal(ds.shape.features, 41);
    assert_int_equal(ds.shape.dense, 0);
    pw_data_free(&ds);
    unlink(t.path);
  }
}

static void expect_ratings_error(const char *text, uint64_t features, const char *want) {
  tmp_t t;
  write_str(&t, text);
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, NULL);
  o.features = features;
  char line[600];
  snprintf(line, sizeof line, "%s%s", t.path, want);
  expect_error(PC_FORMAT_RATINGS, t.path, &o, line, (const char *)NULL);
  unlink(t.path);
}

static void test_ratings_bad(void **state) {
  (void)state;
  expect_ratings_error("1\t2\t5\n1\t2\tabc\n", 0, ":2: rating 'abc' is not a number");
  expect_ratings_error("1\t2\t5\n1\t2\t\n", 0, ":2: rating '' is not a number");
  expect_ratings_error("1\t2\tnan\n", 0, ":1: rating 'nan' is not a finite number");
  expect_ratings_error("1\t2\t5\n-1\t2\t5\n", 0, ":2: user id '-1' is not a non-negative integer");
  expect_ratings_error("1\t2\t5\n1\tx\t5\n", 0, ":2: item id 'x' is not a non-negative integer");
  expect_ratings_error("1\t2\t5\n1\t99999999999999999999\t5\n", 0, ":2: item id '9999");
  expect_ratings_error("1\t2\t5\n1\t10\t5\n", 10, ":2: item id '10' is not below features (10)");
  expect_ratings_error("1\t2\t5\n1\t2\n", 0, ":2: expected 3 or 4 fields");
  expect_ratings_error("1,2,5,6,7\n", 0, ":1: expected 3 or 4 fields");
  expect_ratings_error("1::2::5\n1\t2\t5\n", 0, ":2: expected 3 or 4 fields");
  expect_ratings_error("", 0, ": no ratings");
  expect_ratings_error("user,item,rating\n", 0, ": no ratings");
}

static void test_ratings_skip_and_classes(void **state) {
  (void)state;
  tmp_t t;
  write_str(&t, "1\t2\t5\n1\t2\tx\n3\t4\t1\n");
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, NULL);
  o.skip_bad = 1;
  o.max_bad_lines = 1;
  pw_dataset_t ds;
  pc_err_t err;
  assert_int_equal(load(&ds, PC_FORMAT_RATINGS, t.path, &o, &err), 0);
  assert_int_equal(ds.n, 2);
  assert_int_equal(ds.bad_lines, 1);
  pw_data_free(&ds);
  unlink(t.path);
  /* Ratings 1..5 read as classes of 5: the 1-based hint. */
  write_str(&t, "1\t2\t5\n");
  o = opts(PW_LABEL_CLASS, 5, NULL);
  expect_error(PC_FORMAT_RATINGS, t.path, &o, ":1: label 5 outside 0..4",
               "data.label_offset: 1", (const char *)NULL);
  unlink(t.path);
}

/* ---- The real files, where ../shared is beside the checkout. ---- */

static int need(const char *path) {
  if (access(path, R_OK) == 0)
    return 1;
  print_message("skipped: %s is absent (../shared is not beside this checkout)\n", path);
  return 0;
}

static void test_data_optdigits(void **state) {
  (void)state;
  const char *path = DATA "/optdigits/optdigits.tra";
  pw_data_opts_t o = opts(PW_LABEL_CLASS, 10, "64");
  pw_dataset_t ds;
  pc_err_t err;
  if (load(&ds, PC_FORMAT_CSV, path, &o, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(ds.n, 3823);
  assert_int_equal(ds.shape.features, 64);
  assert_int_equal(ds.shape.height, 8);
  assert_int_equal(ds.shape.width, 8);
  for (size_t i = 0; i < ds.n; i++)
    assert_true(ds.label[i] >= 0 && ds.label[i] <= 9);
  pw_data_free(&ds);
}

static void test_data_mnist(void **state) {
  (void)state;
  const char *img = DATA "/mnist/t10k-images-idx3-ubyte.gz";
  const char *lab = DATA "/mnist/t10k-labels-idx1-ubyte.gz";
  pw_data_opts_t o = opts(PW_LABEL_CLASS, 10, NULL);
  o.labels_path = lab;
  pw_dataset_t ds;
  pc_err_t err;
  if (load(&ds, PC_FORMAT_IDX, img, &o, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(ds.n, 10000);
  assert_int_equal(ds.nnz, 10000 * 784);
  assert_int_equal(ds.shape.height, 28);
  assert_int_equal(ds.shape.width, 28);
  assert_true(ds.label[0] == 7 && ds.label[1] == 2); /* the well-known first digits */
  for (size_t k = 0; k < ds.nnz; k++)
    assert_true(ds.val[k] >= 0 && ds.val[k] <= 1);
  pw_data_free(&ds);
}

static void test_shared_movielens(void **state) {
  (void)state;
  const char *path = SHARED "/ml-100k/u1.base";
  if (!need(path))
    skip();
  pw_data_opts_t o = opts(PW_LABEL_REAL, 0, NULL);
  pw_dataset_t ds;
  pc_err_t err;
  if (load(&ds, PC_FORMAT_RATINGS, path, &o, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(ds.n, 80000);
  for (size_t i = 0; i < ds.n; i++) {
    assert_true(ds.label[i] >= 1 && ds.label[i] <= 5);
    assert_true(ds.idx[2 * i] >= 1 && ds.idx[2 * i] <= 943);
    assert_true(ds.idx[2 * i + 1] >= 1 && ds.idx[2 * i + 1] <= 1682);
  }
  pw_data_free(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv_no_header_numbered_label),
      cmocka_unit_test(test_csv_header_named_label),
      cmocka_unit_test(test_csv_label_column_missing),
      cmocka_unit_test(test_csv_bad_cells),
      cmocka_unit_test(test_csv_class_labels),
      cmocka_unit_test(test_csv_skip_bad),
      cmocka_unit_test(test_csv_unlabeled),
      cmocka_unit_test(test_csv_partitions),
      cmocka_unit_test(test_idx_plain_and_gzip),
      cmocka_unit_test(test_idx_bad_images),
      cmocka_unit_test(test_idx_truncated_gzip),
      cmocka_unit_test(test_idx_bad_labels),
      cmocka_unit_test(test_ratings_separators),
      cmocka_unit_test(test_ratings_bad),
      cmocka_unit_test(test_ratings_skip_and_classes),
      cmocka_unit_test(test_data_optdigits),
      cmocka_unit_test(test_data_mnist),
      cmocka_unit_test(test_shared_movielens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
