/* pw_model: file format round trip, every corruption kind, prediction. */
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

#include "pc_hash.h"
#include "pw_model.h"

#define NF 5
#define FILE_SIZE (40 + 4 * (NF + 1) + 8)

typedef struct fixture {
  char path[64];
  unsigned char bytes[FILE_SIZE];
} fixture_t;

static float weights[NF + 1] = {0.5f, -1.25f, 3.0f, 0.0f, -0.001f, 0.25f};

static pw_model_t sample_model(void) {
  return (pw_model_t){.type = PC_MODEL_LOGISTIC, .features = NF, .bias = 1,
                      .nweights = NF + 1, .w = weights};
}

/* Save the sample model to a fresh temp path and keep its bytes. */
static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  strcpy(f->path, "/tmp/parasol_test_model_XXXXXX");
  int fd = mkstemp(f->path);
  assert_true(fd >= 0);
  close(fd);
  pw_model_t m = sample_model();
  pc_err_t err = {0};
  assert_int_equal(pw_model_save(&m, f->path, &err), 0);
  FILE *fp = fopen(f->path, "rb");
  assert_non_null(fp);
  assert_int_equal(fread(f->bytes, 1, FILE_SIZE, fp), FILE_SIZE);
  assert_int_equal(fgetc(fp), EOF);
  fclose(fp);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  unlink(f->path);
  free(f);
  return 0;
}

static void put_file(const fixture_t *f, const unsigned char *b, size_t n) {
  FILE *fp = fopen(f->path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(b, 1, n, fp), n);
  fclose(fp);
}

/* Load must fail with PC_EMODEL, naming the file and the reason. */
static void expect_reject(const fixture_t *f, const char *reason) {
  pw_model_t m;
  pc_err_t err = {0};
  int rc = pw_model_load(&m, f->path, &err);
  if (rc != PC_EMODEL || strstr(err.msg, f->path) == NULL || strstr(err.msg, reason) == NULL)
    fail_msg("want '%s', got rc %d '%s'", reason, rc, err.msg);
  assert_null(m.w);
}

static void rechecksum(unsigned char *b) {
  uint64_t h = pc_hash_fnv1a(b, FILE_SIZE - 8, PC_HASH_FNV_SEED);
  for (int i = 0; i < 8; i++)
    b[FILE_SIZE - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void test_round_trip(void **state) {
  fixture_t *f = *state;
  pw_model_t m;
  pc_err_t err = {0};
  assert_int_equal(pw_model_load(&m, f->path, &err), 0);
  assert_int_equal(m.type, PC_MODEL_LOGISTIC);
  assert_int_equal(m.features, NF);
  assert_int_equal(m.bias, 1);
  assert_int_equal(m.nweights, NF + 1);
  assert_memory_equal(m.w, weights, sizeof weights);
  pw_model_free(&m);
  assert_null(m.w);
  /* explicit little-endian layout */
  assert_memory_equal(f->bytes, "PSLMODEL", 8);
  static const unsigned char v1[] = {1, 0, 0, 0, 1, 0, 0, 0, NF, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  assert_memory_equal(f->bytes + 8, v1, sizeof v1);
  assert_int_equal(f->bytes[32], NF + 1);
  assert_int_equal(f->bytes[40 + 7], 0xbf); /* -1.25f = 0xbfa00000 */
  char tmp[80];
  snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
  assert_int_equal(access(tmp, F_OK), -1);
}

static void test_truncated_and_trailing(void **state) {
  fixture_t *f = *state;
  put_file(f, f->bytes, FILE_SIZE - 1);
  expect_reject(f, "truncated");
  put_file(f, f->bytes, 10);
  expect_reject(f, "truncated");
  put_file(f, f->bytes, 5);
  expect_reject(f, "not a Parasol model file");
  put_file(f, (const unsigned char *)"-1 3:1\n", 7);
  expect_reject(f, "not a Parasol model file");
  unsigned char more[FILE_SIZE + 1];
  memcpy(more, f->bytes, FILE_SIZE);
  more[FILE_SIZE] = 0;
  put_file(f, more, sizeof more);
  expect_reject(f, "trailing bytes");
}

static void test_checksum(void **state) {
  fixture_t *f = *state;
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  b[40 + 5] ^= 0x01; /* a weight's low bit */
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "checksum mismatch");
  memcpy(b, f->bytes, FILE_SIZE);
  b[FILE_SIZE - 1] ^= 0x80;
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "checksum mismatch");
}

/* Header field value at off (u32 or u64) and the reason it must give. */
static void header_case(const fixture_t *f, size_t off, size_t width, uint64_t v,
                        const char *reason) {
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  for (size_t i = 0; i < width; i++)
    b[off + i] = (unsigned char)(v >> (8 * i));
  rechecksum(b);
  put_file(f, b, FILE_SIZE);
  expect_reject(f, reason);
}

static void test_header_fields(void **state) {
  fixture_t *f = *state;
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  memcpy(b, "PSLMODEX", 8); /* no re-checksum: magic is checked first */
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "not a Parasol model file");
  header_case(f, 8, 4, 2, "unsupported model file version 2");
  header_case(f, 12, 4, 7, "unknown model type 7");
  header_case(f, 16, 8, 0, "features 0 out of range");
  header_case(f, 16, 8, (uint64_t)1 << 41, "out of range");
  header_case(f, 16, 8, NF - 1, "nweights 6 != features 4 + bias 1");
  header_case(f, 24, 4, 2, "bias");
  header_case(f, 28, 4, 1, "reserved");
  header_case(f, 16, 8, (uint64_t)1 << 40, "nweights 6 != features 1099511627776");
}

/* A consistent header claiming 2^40 + 1 weights must fail on the file
 * size before anything is allocated from it. */
static void test_huge_header(void **state) {
  fixture_t *f = *state;
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  uint64_t feat = (uint64_t)1 << 40;
  for (int i = 0; i < 8; i++) {
    b[16 + i] = (unsigned char)(feat >> (8 * i));
    b[32 + i] = (unsigned char)((feat + 1) >> (8 * i));
  }
  rechecksum(b);
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "truncated");
}

static void test_nan_weight(void **state) {
  fixture_t *f = *state;
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  static const unsigned char qnan[] = {0x00, 0x00, 0xc0, 0x7f};
  memcpy(b + 40 + 4 * 2, qnan, 4);
  rechecksum(b);
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "weight 2 is not finite");
}

static void test_missing_and_bad_save(void **state) {
  fixture_t *f = *state;
  unlink(f->path);
  expect_reject(f, "cannot open");
  pw_model_t m = sample_model();
  pc_err_t err = {0};
  m.nweights = NF;
  assert_int_equal(pw_model_save(&m, f->path, &err), PC_EINVAL);
  m = sample_model();
  float w[NF + 1];
  memcpy(w, weights, sizeof w);
  w[1] = INFINITY;
  m.w = w;
  assert_int_equal(pw_model_save(&m, f->path, &err), PC_EINVAL);
  assert_int_equal(access(f->path, F_OK), -1);
}

static void test_predict(void **state) {
  (void)state;
  /* rows: {0:1, 2:2}, {}, {1:100, 9:5 (ignored: >= features)} */
  float label[] = {1, 0, 1}, val[] = {1, 2, 100, 5};
  size_t row[] = {0, 2, 2, 4};
  uint64_t idx[] = {0, 2, 1, 9};
  pw_dataset_t ds = {.n = 3, .nnz = 4, .label = label, .row = row, .idx = idx, .val = val};
  pw_model_t m = sample_model();
  double z0 = 0.25 + 0.5 * 1 + 3.0 * 2;
  assert_true(fabs(pw_model_predict_row(&m, &ds, 0) - 1.0 / (1.0 + exp(-z0))) < 1e-6);
  assert_true(fabs(pw_model_predict_row(&m, &ds, 1) - 1.0 / (1.0 + exp(-0.25))) < 1e-6);
  float p2 = pw_model_predict_row(&m, &ds, 2); /* z = -124.75: no overflow, no NaN */
  assert_true(p2 >= 0.0f && p2 < 1e-30f);
  m.bias = 0;
  m.nweights = NF;
  val[2] = -100;
  assert_true(pw_model_predict_row(&m, &ds, 2) == 1.0f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated_and_trailing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checksum, setup, teardown),
      cmocka_unit_test_setup_teardown(test_header_fields, setup, teardown),
      cmocka_unit_test_setup_teardown(test_huge_header, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nan_weight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_and_bad_save, setup, teardown),
      cmocka_unit_test(test_predict),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
