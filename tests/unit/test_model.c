/* pw_model: format v2 round trips (dense and sparse), every corruption
 * kind, old versions refused by name, prediction. */
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
#include <xxhash.h>

#include "pc_hash.h"
#include "pw_model.h"

#define NF 5
#define FILE_SIZE (40 + 4 * (NF + 1) + 8)
#define BIG_FEATURES 50000000ULL
#define NSPARSE 124
#define SPARSE_SIZE (40 + 12 * NSPARSE + 8)

typedef struct fixture {
  char path[64];
  unsigned char bytes[FILE_SIZE];
  unsigned char sparse[SPARSE_SIZE]; /* sparse_model() as saved */
} fixture_t;

static float weights[NF + 1] = {0.5f, -1.25f, 3.0f, 0.0f, -0.001f, 0.25f};
static pw_model_entry_t entries[NSPARSE];

static pw_model_t sample_model(void) {
  return (pw_model_t){.type = PC_MODEL_LOGISTIC, .features = NF, .bias = 1,
                      .nweights = NF + 1, .w = weights};
}

/* 123 keys spread over 50M features (key 7 * i^3 + i) and the bias key. */
static pw_model_t sparse_model(void) {
  for (int i = 0; i < NSPARSE - 1; i++)
    entries[i] = (pw_model_entry_t){7ULL * i * i * i + (uint64_t)i, 0.01f * (float)i - 0.5f};
  entries[NSPARSE - 1] = (pw_model_entry_t){BIG_FEATURES, 0.75f};
  return (pw_model_t){.type = PC_MODEL_LOGISTIC, .features = BIG_FEATURES, .bias = 1,
                      .sparse = 1, .nentries = NSPARSE, .e = entries};
}

static void read_bytes(const char *path, unsigned char *b, size_t n) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  assert_int_equal(fread(b, 1, n, fp), n);
  assert_int_equal(fgetc(fp), EOF); /* exactly n bytes */
  fclose(fp);
}

/* Save both sample models to a fresh temp path and keep their bytes. */
static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  strcpy(f->path, "/tmp/parasol_test_model_XXXXXX");
  int fd = mkstemp(f->path);
  assert_true(fd >= 0);
  close(fd);
  pc_err_t err = {0};
  pw_model_t m = sparse_model();
  assert_int_equal(pw_model_save(&m, f->path, &err), 0);
  read_bytes(f->path, f->sparse, SPARSE_SIZE);
  m = sample_model();
  assert_int_equal(pw_model_save(&m, f->path, &err), 0);
  read_bytes(f->path, f->bytes, FILE_SIZE);
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
  assert_null(m.e);
}

static void put_le(unsigned char *b, uint64_t v, size_t width) {
  for (size_t i = 0; i < width; i++)
    b[i] = (unsigned char)(v >> (8 * i));
}

static void rechecksum(unsigned char *b, size_t n) {
  put_le(b + n - 8, XXH3_64bits(b, n - 8), 8);
}

static void test_round_trip(void **state) {
  fixture_t *f = *state;
  pw_model_t m;
  pc_err_t err = {0};
  put_file(f, f->bytes, FILE_SIZE);
  assert_int_equal(pw_model_load(&m, f->path, &err), 0);
  assert_int_equal(m.type, PC_MODEL_LOGISTIC);
  assert_int_equal(m.features, NF);
  assert_int_equal(m.bias, 1);
  assert_int_equal(m.sparse, 0);
  assert_int_equal(m.nweights, NF + 1);
  assert_null(m.e);
  assert_memory_equal(m.w, weights, sizeof weights);
  pw_model_free(&m);
  assert_null(m.w);
  /* explicit little-endian layout: version 2, type 1, features, bias 1, flags 0, count */
  assert_memory_equal(f->bytes, "PSLMODEL", 8);
  static const unsigned char v2[] = {2, 0, 0, 0, 1, 0, 0, 0, NF, 0, 0, 0, 0, 0, 0, 0,
                                     1, 0, 0, 0, 0, 0, 0, 0, NF + 1, 0};
  assert_memory_equal(f->bytes + 8, v2, sizeof v2);
  assert_int_equal(f->bytes[40 + 7], 0xbf); /* -1.25f = 0xbfa00000 */
  /* trailer: XXH3-64 of everything before it */
  uint64_t sum = 0;
  for (int i = 7; i >= 0; i--)
    sum = sum << 8 | f->bytes[FILE_SIZE - 8 + i];
  assert_true(sum == XXH3_64bits(f->bytes, FILE_SIZE - 8));
  char tmp[80];
  snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
  assert_int_equal(access(tmp, F_OK), -1);
}

/* 124 weights of a 50M-feature model: 1536 bytes, not 200 MB. */
static void test_sparse_round_trip(void **state) {
  fixture_t *f = *state;
  put_file(f, f->sparse, SPARSE_SIZE);
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_size, SPARSE_SIZE);
  assert_int_equal(f->sparse[28], 1); /* flags: sparse */
  assert_int_equal(f->sparse[32], NSPARSE);
  assert_int_equal(f->sparse[40 + 12 + 0], 8); /* second key: 7 + 1 */
  pw_model_t m;
  pc_err_t err = {0};
  assert_int_equal(pw_model_load(&m, f->path, &err), 0);
  assert_int_equal(m.sparse, 1);
  assert_int_equal(m.features, BIG_FEATURES);
  assert_int_equal(m.nentries, NSPARSE);
  assert_int_equal(m.nweights, 0);
  assert_null(m.w);
  sparse_model();
  for (int i = 0; i < NSPARSE; i++) {
    assert_int_equal(m.e[i].key, entries[i].key);
    assert_memory_equal(&m.e[i].w, &entries[i].w, sizeof(float));
  }
  assert_true(pw_model_weight(&m, 8) == entries[1].w);
  assert_true(pw_model_weight(&m, 9) == 0.0f);
  assert_true(pw_model_weight(&m, BIG_FEATURES) == 0.75f);
  assert_true(pw_model_weight(&m, BIG_FEATURES + 1) == 0.0f);
  pw_model_free(&m);
  assert_null(m.e);
}

/* A sparse model over 2^40 features: saved, loaded and used without any
 * features-sized allocation (which would fail, or abort under ASan). */
static void test_sparse_huge_features(void **state) {
  fixture_t *f = *state;
  uint64_t big = (uint64_t)1 << 40;
  pw_model_entry_t e[3] = {{5, 2.0f}, {big - 1, -1.0f}, {big, 0.5f}};
  pw_model_t m = {.type = PC_MODEL_LOGISTIC, .features = big, .bias = 1, .sparse = 1,
                  .nentries = 3, .e = e};
  pc_err_t err = {0};
  assert_int_equal(pw_model_save(&m, f->path, &err), 0);
  pw_model_t back;
  assert_int_equal(pw_model_load(&back, f->path, &err), 0);
  float val[] = {1, 3};
  size_t row[] = {0, 2};
  uint64_t idx[] = {5, big - 1};
  pw_dataset_t ds = {.n = 1, .nnz = 2, .row = row, .idx = idx, .val = val};
  double z = 0.5 + 2.0 * 1 - 1.0 * 3;
  assert_true(fabs(pw_model_predict_row(&back, &ds, 0) - 1.0 / (1.0 + exp(-z))) < 1e-6);
  pw_model_free(&back);
}

/* A version-1 file, as the previous Parasol wrote it (FNV-1a trailer). */
static void test_old_version_refused(void **state) {
  fixture_t *f = *state;
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  put_le(b + 8, 1, 4);
  put_le(b + FILE_SIZE - 8, pc_hash_fnv1a(b, FILE_SIZE - 8, PC_HASH_FNV_SEED), 8);
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "model file format version 1, but this Parasol reads only version 2: the "
                   "file was written by an older Parasol; retrain");
  put_file(f, b, 16); /* short, but still named for its version */
  expect_reject(f, "version 1, but");
  put_le(b + 8, 3, 4);
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "version 3, but this Parasol reads only version 2: the file was written by "
                   "a newer Parasol");
}

static void test_truncated_and_trailing(void **state) {
  fixture_t *f = *state;
  put_file(f, f->bytes, FILE_SIZE - 1);
  expect_reject(f, "truncated");
  put_file(f, f->sparse, SPARSE_SIZE - 12);
  expect_reject(f, "truncated: 1524 bytes, expected 1536 for 124 sparse entries");
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
  unsigned char b[FILE_SIZE], s[SPARSE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  b[40 + 5] ^= 0x01; /* a weight's low bit */
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "checksum mismatch");
  memcpy(b, f->bytes, FILE_SIZE);
  b[FILE_SIZE - 1] ^= 0x80;
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "checksum mismatch");
  memcpy(s, f->sparse, SPARSE_SIZE);
  s[40 + 12 * 60 + 3] ^= 0x10; /* a key in the middle */
  put_file(f, s, SPARSE_SIZE);
  expect_reject(f, "checksum mismatch");
}

/* Header field value at off (u32 or u64) and the reason it must give. */
static void header_case(const fixture_t *f, const unsigned char *orig, size_t len, size_t off,
                        size_t width, uint64_t v, const char *reason) {
  unsigned char b[SPARSE_SIZE];
  memcpy(b, orig, len);
  put_le(b + off, v, width);
  rechecksum(b, len);
  put_file(f, b, len);
  expect_reject(f, reason);
}

static void test_header_fields(void **state) {
  fixture_t *f = *state;
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  memcpy(b, "PSLMODEX", 8); /* no re-checksum: magic is checked first */
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "not a Parasol model file");
  const unsigned char *d = f->bytes, *s = f->sparse;
  header_case(f, d, FILE_SIZE, 12, 4, 7, "unknown model type 7");
  header_case(f, d, FILE_SIZE, 16, 8, 0, "features 0 out of range");
  header_case(f, d, FILE_SIZE, 16, 8, (uint64_t)1 << 41, "out of range");
  header_case(f, d, FILE_SIZE, 16, 8, NF - 1, "nweights 6 != features 4 + bias 1");
  header_case(f, d, FILE_SIZE, 24, 4, 2, "bias flag 2");
  header_case(f, d, FILE_SIZE, 28, 4, 2, "unknown flags 0x2");
  header_case(f, d, FILE_SIZE, 16, 8, (uint64_t)1 << 40, "nweights 6 != features 1099511627776");
  /* sparse: more entries than keys; a dense header on sparse bytes */
  header_case(f, s, SPARSE_SIZE, 16, 8, 100, "124 entries for features 100 + bias 1");
  header_case(f, s, SPARSE_SIZE, 28, 4, 0, "nweights 124 != features 50000000");
}

/* A consistent header claiming 2^40 + 1 weights (or entries) must fail on
 * the file size before anything is allocated from it. */
static void test_huge_header(void **state) {
  fixture_t *f = *state;
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  uint64_t feat = (uint64_t)1 << 40;
  put_le(b + 16, feat, 8);
  put_le(b + 32, feat + 1, 8);
  rechecksum(b, FILE_SIZE);
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "truncated");
  put_le(b + 28, 1, 4); /* the same count as sparse entries */
  rechecksum(b, FILE_SIZE);
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "expected 13194139533372 for 1099511627777 sparse entries");
}

static void test_nan_weight(void **state) {
  fixture_t *f = *state;
  unsigned char b[FILE_SIZE];
  memcpy(b, f->bytes, FILE_SIZE);
  static const unsigned char qnan[] = {0x00, 0x00, 0xc0, 0x7f};
  memcpy(b + 40 + 4 * 2, qnan, 4);
  rechecksum(b, FILE_SIZE);
  put_file(f, b, FILE_SIZE);
  expect_reject(f, "weight 2 is not finite");
}

/* Sparse entry i's key (or value bits) changed, re-checksummed. */
static void entry_case(const fixture_t *f, size_t i, int value, uint64_t v, const char *reason) {
  unsigned char s[SPARSE_SIZE];
  memcpy(s, f->sparse, SPARSE_SIZE);
  put_le(s + 40 + 12 * i + (value ? 8 : 0), v, value ? 4 : 8);
  rechecksum(s, SPARSE_SIZE);
  put_file(f, s, SPARSE_SIZE);
  expect_reject(f, reason);
}

static void test_sparse_entries_checked(void **state) {
  fixture_t *f = *state;
  sparse_model();
  entry_case(f, 3, 0, entries[1].key, "entry 3: key 8 is below the key 58 before it");
  entry_case(f, 3, 0, entries[2].key, "entry 3: key 58 repeats the key 58 before it");
  entry_case(f, NSPARSE - 1, 0, BIG_FEATURES + 1,
             "entry 123: key 50000001 out of range (features 50000000 + bias 1)");
  entry_case(f, 10, 1, 0x7fc00000u, "weight of key 7010 is not finite");
  entry_case(f, 10, 1, 0xff800000u, "weight of key 7010 is not finite");
  /* Without the bias, the last key (== features) is out of range. */
  unsigned char s[SPARSE_SIZE];
  memcpy(s, f->sparse, SPARSE_SIZE);
  put_le(s + 24, 0, 4);
  rechecksum(s, SPARSE_SIZE);
  put_file(f, s, SPARSE_SIZE);
  expect_reject(f, "key 50000000 out of range (features 50000000 + bias 0)");
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
  /* sparse: unsorted, duplicate, out of range, NaN */
  pw_model_entry_t e[3] = {{1, 1.0f}, {4, 1.0f}, {2, 1.0f}};
  m = (pw_model_t){.type = PC_MODEL_LOGISTIC, .features = NF, .sparse = 1, .nentries = 3,
                   .e = e};
  assert_int_equal(pw_model_save(&m, f->path, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "strictly ascending"));
  e[2] = (pw_model_entry_t){4, 1.0f};
  assert_int_equal(pw_model_save(&m, f->path, &err), PC_EINVAL);
  e[2] = (pw_model_entry_t){NF, 1.0f}; /* the bias key, but bias is 0 */
  assert_int_equal(pw_model_save(&m, f->path, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "out of range"));
  e[2] = (pw_model_entry_t){NF - 1, NAN};
  assert_int_equal(pw_model_save(&m, f->path, &err), PC_EINVAL);
  assert_int_equal(access(f->path, F_OK), -1);
}

static void test_sort(void **state) {
  (void)state;
  pw_model_entry_t e[4] = {{9, 1.0f}, {2, 2.0f}, {7, 3.0f}, {0, 4.0f}};
  pw_model_t m = {.type = PC_MODEL_LOGISTIC, .features = 10, .sparse = 1, .nentries = 4, .e = e};
  pc_err_t err = {0};
  assert_int_equal(pw_model_sort(&m, &err), PC_OK);
  static const uint64_t want[4] = {0, 2, 7, 9};
  for (int i = 0; i < 4; i++)
    assert_int_equal(e[i].key, want[i]);
  assert_true(e[2].w == 3.0f);
  assert_true(pw_model_weight(&m, 7) == 3.0f && pw_model_weight(&m, 8) == 0.0f);
  e[3].key = 0;
  assert_int_equal(pw_model_sort(&m, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "key 0 was collected twice"));
  pw_model_t dense = sample_model();
  assert_int_equal(pw_model_sort(&dense, &err), PC_EINVAL);
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
  /* The same weights held sparse (key 3 is 0: not stored) predict the same. */
  pw_model_entry_t e[5] = {{0, 0.5f}, {1, -1.25f}, {2, 3.0f}, {4, -0.001f}, {5, 0.25f}};
  pw_model_t s = {.type = PC_MODEL_LOGISTIC, .features = NF, .bias = 1, .sparse = 1,
                  .nentries = 5, .e = e};
  for (size_t i = 0; i < 3; i++)
    assert_true(pw_model_predict_row(&s, &ds, i) == pw_model_predict_row(&m, &ds, i));
  m.bias = 0;
  m.nweights = NF;
  val[2] = -100;
  assert_true(pw_model_predict_row(&m, &ds, 2) == 1.0f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sparse_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sparse_huge_features, setup, teardown),
      cmocka_unit_test_setup_teardown(test_old_version_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated_and_trailing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checksum, setup, teardown),
      cmocka_unit_test_setup_teardown(test_header_fields, setup, teardown),
      cmocka_unit_test_setup_teardown(test_huge_header, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nan_weight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sparse_entries_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_and_bad_save, setup, teardown),
      cmocka_unit_test(test_sort),
      cmocka_unit_test(test_predict),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
