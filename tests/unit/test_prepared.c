/* pw_prepared: shards written and read back (sparse, dense), the split a
 * worker reads for N >= W and N < W shards, and every corruption the
 * reader must name: bad magic, version, truncation, checksum, counts past
 * the file, index >= features, NaN value, bad label, shards that
 * disagree, missing and extra shard files. */
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

#include "pc_binio.h"
#include "pw_prepared.h"

#define FIXED 84 /* the fixed header's bytes (docs/prep.md) */
#define RECIPE "{\"label\":\"y\"}"

typedef struct fixture {
  char dir[64];
  pw_dataset_t ds;
  pw_prep_info_t info;
} fixture_t;

/* A dataset of n rows built from a rule: sparse rows hold features
 * (r + k*3) mod f for k < 1 + r mod 3 (sorted), dense rows all f.
 * Labels: real r (so rows can be told apart), or binary r mod 2. */
static void make_ds(pw_dataset_t *ds, size_t n, uint64_t f, int dense, pw_label_kind_t kind) {
  memset(ds, 0, sizeof *ds);
  ds->n = n;
  ds->label = calloc(n + 1, sizeof *ds->label);
  ds->row = calloc(n + 1, sizeof *ds->row);
  ds->idx = calloc(n * f + 1, sizeof *ds->idx);
  ds->val = calloc(n * f + 1, sizeof *ds->val);
  for (size_t r = 0; r < n; r++) {
    ds->label[r] = kind == PW_LABEL_REAL ? (float)r : (float)(r % 2);
    for (uint64_t j = 0; j < f; j++) {
      int keep = dense || (j % 3 == r % 3 && j / 3 <= r % 3);
      if (!keep)
        continue;
      ds->idx[ds->nnz] = j;
      ds->val[ds->nnz++] = (float)r + (float)j / 8.0f;
    }
    ds->row[r + 1] = ds->nnz;
  }
  ds->shape = (pw_shape_t){.features = f, .dense = dense};
}

static void make_info(pw_prep_info_t *info, const pw_dataset_t *ds, uint32_t nshards,
                      pw_label_kind_t kind) {
  memset(info, 0, sizeof *info);
  info->nshards = nshards;
  info->total_rows = ds->n;
  info->split = PW_SPLIT_TRAIN;
  info->shape = ds->shape;
  info->labels = kind;
  info->classes = kind == PW_LABEL_CLASS ? 3 : 0;
  info->recipe_json = strdup(RECIPE);
  info->recipe_len = strlen(RECIPE);
  info->tf.n = ds->shape.features;
  info->tf.mean = calloc(info->tf.n, sizeof(float));
  info->tf.inv_std = calloc(info->tf.n, sizeof(float));
  for (uint64_t f = 0; f < info->tf.n; f++) {
    info->tf.mean[f] = (float)f;
    info->tf.inv_std[f] = 0.5f;
  }
}

static void shard_file(char *out, size_t cap, const char *dir, unsigned s) {
  snprintf(out, cap, "%s/part-%05u.psp", dir, s);
}

/* Shards s of nshards: rows [s*n/N, (s+1)*n/N) each. */
static void write_split(fixture_t *fx) {
  pc_err_t err = {0};
  size_t n = fx->ds.n, N = fx->info.nshards;
  for (size_t s = 0; s < N; s++) {
    char p[128];
    shard_file(p, sizeof p, fx->dir, (unsigned)s);
    int rc = pw_prep_write_shard(p, &fx->info, (uint32_t)s, &fx->ds, s * n / N,
                                 (s + 1) * n / N, &err);
    if (rc != 0)
      fail_msg("%s", err.msg);
  }
}

static void setup_fx(fixture_t *fx, size_t n, uint64_t f, int dense, pw_label_kind_t kind,
                     uint32_t nshards) {
  strcpy(fx->dir, "/tmp/parasol_test_prep_XXXXXX");
  assert_non_null(mkdtemp(fx->dir));
  make_ds(&fx->ds, n, f, dense, kind);
  make_info(&fx->info, &fx->ds, nshards, kind);
  write_split(fx);
}

static void teardown_fx(fixture_t *fx) {
  for (unsigned s = 0; s < 16; s++) {
    char p[128];
    shard_file(p, sizeof p, fx->dir, s);
    unlink(p);
  }
  rmdir(fx->dir);
  pw_data_free(&fx->ds);
  pw_prep_info_free(&fx->info);
}

/* Rows [lo, hi) of want equal got's rows [at, at + hi - lo). */
static void assert_rows(const pw_dataset_t *want, size_t lo, size_t hi, const pw_dataset_t *got,
                        size_t at) {
  for (size_t r = lo; r < hi; r++, at++) {
    assert_true(got->label[at] == want->label[r]);
    size_t a = want->row[r], b = want->row[r + 1], g = got->row[at];
    assert_int_equal(got->row[at + 1] - g, b - a);
    for (size_t k = a; k < b; k++, g++) {
      assert_int_equal(got->idx[g], want->idx[k]);
      assert_true(got->val[g] == want->val[k]);
    }
  }
}

static int load_part(const fixture_t *fx, int part, int nparts, pw_dataset_t *ds,
                     pc_err_t *err) {
  pw_data_opts_t o = {.part = part, .nparts = nparts, .labels = fx->info.labels};
  return pw_data_load_prepared(ds, fx->dir, &o, err);
}

static void check_info(const fixture_t *fx) {
  pw_prep_info_t in;
  pc_err_t err = {0};
  assert_int_equal(pw_prep_read_info(fx->dir, &in, &err), 0);
  assert_int_equal(in.nshards, fx->info.nshards);
  assert_int_equal(in.total_rows, fx->ds.n);
  assert_int_equal(in.shape.features, fx->ds.shape.features);
  assert_int_equal(in.shape.dense, fx->ds.shape.dense);
  assert_int_equal(in.labels, fx->info.labels);
  assert_int_equal(in.classes, fx->info.classes);
  assert_int_equal(in.recipe_len, strlen(RECIPE));
  assert_string_equal(in.recipe_json, RECIPE);
  assert_int_equal(in.tf.n, fx->info.tf.n);
  assert_memory_equal(in.tf.mean, fx->info.tf.mean, in.tf.n * sizeof(float));
  assert_memory_equal(in.tf.inv_std, fx->info.tf.inv_std, in.tf.n * sizeof(float));
  pw_prep_info_free(&in);
}

static void round_trip(int dense, pw_label_kind_t kind) {
  fixture_t fx;
  setup_fx(&fx, 11, 7, dense, kind, 3);
  check_info(&fx);
  pw_dataset_t got;
  pc_err_t err = {0};
  if (load_part(&fx, 0, 1, &got, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(got.n, fx.ds.n);
  assert_int_equal(got.nnz, fx.ds.nnz);
  assert_int_equal(got.shape.features, 7);
  assert_int_equal(got.shape.dense, dense);
  assert_int_equal(got.max_index, 6);
  assert_rows(&fx.ds, 0, fx.ds.n, &got, 0);
  pw_data_free(&got);
  teardown_fx(&fx);
}

static void test_round_trip_sparse(void **state) {
  (void)state;
  round_trip(0, PW_LABEL_REAL);
  round_trip(0, PW_LABEL_BINARY);
}

static void test_round_trip_dense(void **state) {
  (void)state;
  round_trip(1, PW_LABEL_CLASS);
}

/* 5 shards, 2 workers: worker 0 reads shards 0, 2, 4; worker 1 shards 1, 3. */
/* Rating pairs (parasol prep --format ratings): two ids per row, user
 * then item, whatever their order of value; two shards that disagree only
 * in the layout are refused; a row of three ids is refused by the writer. */
static void test_pairs(void **state) {
  (void)state;
  fixture_t fx;
  strcpy(fx.dir, "/tmp/parasol_test_prep_XXXXXX");
  assert_non_null(mkdtemp(fx.dir));
  pw_dataset_t *ds = &fx.ds;
  memset(ds, 0, sizeof *ds);
  enum { N = 9 };
  ds->n = N;
  ds->label = calloc(N, sizeof *ds->label);
  ds->row = calloc(N + 1, sizeof *ds->row);
  ds->idx = calloc(2 * N + 1, sizeof *ds->idx);
  ds->val = calloc(2 * N + 1, sizeof *ds->val);
  for (size_t r = 0; r < N; r++) {
    ds->label[r] = (float)(1 + r % 5);
    ds->idx[ds->nnz] = 20 - r; /* the user id above the item id in most rows */
    ds->val[ds->nnz++] = 1;
    ds->idx[ds->nnz] = r;
    ds->val[ds->nnz++] = 1;
    ds->row[r + 1] = ds->nnz;
  }
  ds->shape = (pw_shape_t){.features = 21, .pairs = 1};
  make_info(&fx.info, ds, 2, PW_LABEL_REAL);
  pw_transform_free(&fx.info.tf);
  write_split(&fx);
  pw_dataset_t got;
  pc_err_t err = {0};
  if (load_part(&fx, 1, 2, &got, &err) != 0)
    fail_msg("%s", err.msg);
  assert_true(got.shape.pairs && !got.shape.dense);
  assert_int_equal(got.shape.features, 21);
  assert_rows(ds, 4, N, &got, 0); /* shard 1: rows 4..8, user before item */
  pw_data_free(&got);
  /* shard 1 rewritten as sparse rows of the same ids: another layout */
  char p[128];
  shard_file(p, sizeof p, fx.dir, 1);
  fx.info.shape.pairs = 0;
  pw_dataset_t sorted;
  size_t rows[N - 4];
  for (size_t r = 4; r < N; r++) { /* ids ascending, as sparse rows need */
    rows[r - 4] = r;
    uint64_t t = ds->idx[2 * r];
    ds->idx[2 * r] = ds->idx[2 * r + 1];
    ds->idx[2 * r + 1] = t;
  }
  assert_int_equal(pw_data_subset(&sorted, ds, rows, N - 4, &err), 0);
  assert_int_equal(pw_prep_write_shard(p, &fx.info, 1, &sorted, 0, N - 4, &err), 0);
  assert_int_not_equal(load_part(&fx, 0, 1, &got, &err), 0);
  assert_non_null(strstr(err.msg, "disagree on the shape (features, image, layout)"));
  pw_data_free(&sorted);
  /* three ids in a row of pairs */
  fx.info.shape.pairs = 1;
  ds->row[1] = 3;
  assert_int_not_equal(pw_prep_write_shard(p, &fx.info, 1, ds, 0, 1, &err), 0);
  assert_non_null(strstr(err.msg, "row 0: 3 values, rating-pair data has 2"));
  teardown_fx(&fx);
}

static void test_parts_many_shards(void **state) {
  (void)state;
  fixture_t fx;
  setup_fx(&fx, 13, 9, 0, PW_LABEL_REAL, 5);
  size_t n = fx.ds.n, N = 5;
  for (int w = 0; w < 2; w++) {
    pw_dataset_t got;
    pc_err_t err = {0};
    assert_int_equal(load_part(&fx, w, 2, &got, &err), 0);
    size_t at = 0;
    for (size_t s = (size_t)w; s < N; s += 2) {
      assert_rows(&fx.ds, s * n / N, (s + 1) * n / N, &got, at);
      at += (s + 1) * n / N - s * n / N;
    }
    assert_int_equal(got.n, at);
    assert_int_equal(got.max_index, 8); /* the split's, not the part's */
    pw_data_free(&got);
  }
  teardown_fx(&fx);
}

/* 2 shards, 3 workers: each keeps its block [w*T/3, (w+1)*T/3) of all rows,
 * across the shard boundary where it falls. */
static void test_parts_few_shards(void **state) {
  (void)state;
  fixture_t fx;
  setup_fx(&fx, 10, 5, 0, PW_LABEL_REAL, 2);
  for (int w = 0; w < 3; w++) {
    pw_dataset_t got;
    pc_err_t err = {0};
    assert_int_equal(load_part(&fx, w, 3, &got, &err), 0);
    size_t lo = (size_t)w * 10 / 3, hi = (size_t)(w + 1) * 10 / 3;
    assert_int_equal(got.n, hi - lo);
    assert_rows(&fx.ds, lo, hi, &got, 0);
    pw_data_free(&got);
  }
  teardown_fx(&fx);
}

/* ---- corruption ---- */

static unsigned char *read_all(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *b = malloc(*n);
  assert_int_equal(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void write_all(const char *p, const unsigned char *b, size_t n) {
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* Shard s's bytes edited by edit(b, n, rows_at, ctx), its checksum
 * recomputed when reseal (so the check behind it is reached). */
typedef void (*edit_fn)(unsigned char *b, size_t *n, size_t body);

static void corrupt(const fixture_t *fx, unsigned s, edit_fn edit, int reseal) {
  char p[128];
  shard_file(p, sizeof p, fx->dir, s);
  size_t n;
  unsigned char *b = read_all(p, &n);
  size_t body = FIXED + strlen(RECIPE) + 8 + 8 * fx->info.tf.n; /* where rows start */
  edit(b, &n, body);
  if (reseal && n >= 8)
    pc_put_u64(b + n - 8, XXH3_64bits(b, n - 8));
  write_all(p, b, n);
  free(b);
}

/* Loading fails with PC_EDATA (or `code`), the message holding want. */
static void expect_error(const fixture_t *fx, int code, const char *want) {
  pw_dataset_t got;
  pc_err_t err = {0};
  int rc = load_part(fx, 0, 1, &got, &err);
  if (rc != code || strstr(err.msg, want) == NULL)
    fail_msg("rc %d, message '%s'; wanted %d and '%s'", rc, err.msg, code, want);
  assert_int_equal(got.n, 0);
  assert_null(got.label);
}

static void ed_magic(unsigned char *b, size_t *n, size_t body) {
  (void)n, (void)body;
  b[0] = 'X';
}
static void ed_version(unsigned char *b, size_t *n, size_t body) {
  (void)n, (void)body;
  pc_put_u32(b + 8, 7);
}
static void ed_truncate(unsigned char *b, size_t *n, size_t body) {
  (void)b, (void)body;
  *n -= 12;
}
static void ed_flip(unsigned char *b, size_t *n, size_t body) {
  (void)n;
  b[body + 1] ^= 0x40;
}
/* A byte of the recipe in the header: corrupt, not "another prep". */
static void ed_recipe(unsigned char *b, size_t *n, size_t body) {
  (void)n, (void)body;
  b[FIXED + 2] ^= 0x01;
}
static void ed_rows_huge(unsigned char *b, size_t *n, size_t body) {
  (void)n, (void)body;
  pc_put_u64(b + 24, UINT64_C(1) << 40);
  pc_put_u64(b + 40, UINT64_C(1) << 41);
}
static void ed_nnz_huge(unsigned char *b, size_t *n, size_t body) {
  (void)n, (void)body;
  pc_put_u64(b + 32, UINT64_C(1) << 50);
}
/* Rows of shard 0 of the 11-row, 7-feature sparse fixture: 3 rows
 * (0..2) holding 1, 2 and 2 values. The first index is at body + 8*3. */
static void ed_index(unsigned char *b, size_t *n, size_t body) {
  (void)n;
  pc_put_u32(b + body + 8 * 3, 7);
}
static void ed_nan(unsigned char *b, size_t *n, size_t body) {
  size_t nnz = 1 + 2 + 2; /* rows 0, 1, 2 of the fixture */
  (void)n;
  float x = NAN;
  uint32_t u;
  memcpy(&u, &x, 4);
  pc_put_u32(b + body + 8 * 3 + 4 * nnz, u);
}
static void ed_label(unsigned char *b, size_t *n, size_t body) {
  (void)n;
  float x = 0.5f;
  uint32_t u;
  memcpy(&u, &x, 4);
  pc_put_u32(b + body, u);
}
static void ed_count(unsigned char *b, size_t *n, size_t body) {
  (void)n;
  pc_put_u32(b + body + 4 * 3, 4); /* row 0 claims one value more than the header's sum */
}

typedef struct case_ {
  edit_fn edit;
  int reseal;
  unsigned shard;
  const char *want;
} case_t;

static void test_corruption(void **state) {
  (void)state;
  static const case_t cases[] = {
      {ed_magic, 0, 0, "part-00000.psp: not a prepared shard (bad magic)"},
      {ed_version, 0, 0, "part-00000.psp: version 7 (written by a newer Parasol)"},
      {ed_truncate, 0, 1, "part-00001.psp: truncated"},
      {ed_flip, 0, 1, "part-00001.psp: checksum mismatch"},
      {ed_recipe, 0, 1, "part-00001.psp: checksum mismatch"},
      {ed_rows_huge, 1, 1, "part-00001.psp: truncated: 1099511627776 rows"},
      {ed_nnz_huge, 1, 0, "part-00000.psp: truncated"},
      {ed_index, 1, 0, "part-00000.psp: row 0: index 7 is >= features"},
      {ed_nan, 1, 0, "part-00000.psp: row 0: value of feature 0 is not finite"},
      {ed_label, 1, 0, "part-00000.psp: row 0: label 0.5 is not a valid binary label"},
      {ed_count, 1, 0, "part-00000.psp: row counts add up to 8 values, the header says 5"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fixture_t fx;
    setup_fx(&fx, 11, 7, 0, PW_LABEL_BINARY, 3);
    corrupt(&fx, cases[i].shard, cases[i].edit, cases[i].reseal);
    print_message("case %zu: %s\n", i, cases[i].want);
    expect_error(&fx, PC_EDATA, cases[i].want);
    teardown_fx(&fx);
  }
}

/* A shard of another prep (another transform) among the split's. */
static void test_shards_disagree(void **state) {
  (void)state;
  fixture_t fx;
  setup_fx(&fx, 11, 7, 0, PW_LABEL_BINARY, 3);
  fx.info.tf.mean[2] = 9.0f;
  char p[128];
  shard_file(p, sizeof p, fx.dir, 2);
  pc_err_t err = {0};
  assert_int_equal(pw_prep_write_shard(p, &fx.info, 2, &fx.ds, 7, 11, &err), 0);
  expect_error(&fx, PC_EDATA, "part-00002.psp and ");
  expect_error(&fx, PC_EDATA, "disagree on the transform");
  /* and one of a split with more rows */
  fx.info.tf.mean[2] = 2.0f;
  fx.info.total_rows = 12;
  assert_int_equal(pw_prep_write_shard(p, &fx.info, 2, &fx.ds, 7, 11, &err), 0);
  expect_error(&fx, PC_EDATA, "part-00002.psp: shard 2 of 3 with 12 rows in all");
  teardown_fx(&fx);
}

static void test_missing_and_extra_files(void **state) {
  (void)state;
  fixture_t fx;
  setup_fx(&fx, 11, 7, 0, PW_LABEL_BINARY, 3);
  char p[128], q[128];
  shard_file(p, sizeof p, fx.dir, 1);
  shard_file(q, sizeof q, fx.dir, 3);
  assert_int_equal(rename(p, q), 0);
  expect_error(&fx, PC_ENOTFOUND, "part-00001.psp: missing: the split has 3 shards");
  assert_int_equal(rename(q, p), 0);
  pc_err_t err = {0};
  assert_int_equal(pw_prep_write_shard(q, &fx.info, 2, &fx.ds, 7, 11, &err), 0);
  expect_error(&fx, PC_EDATA, "part-00003.psp: a shard past the 3");
  unlink(q);
  /* not a split at all: an empty directory, a file, nothing */
  shard_file(p, sizeof p, fx.dir, 0);
  assert_int_equal(rename(p, q), 0);
  expect_error(&fx, PC_ENOTFOUND, "is not a prepared split (no part-00000.psp)");
  pw_dataset_t got;
  assert_int_equal(pw_data_load_prepared(&got, q, NULL, &err), PC_ENOTFOUND);
  assert_non_null(strstr(err.msg, "a file, not a directory"));
  assert_int_equal(pw_data_load_prepared(&got, "/nonexistent/prep", NULL, &err), PC_ENOTFOUND);
  assert_int_equal(rename(q, p), 0);
  teardown_fx(&fx);
}

/* The writer refuses what the reader would: bad labels, indices, values. */
static void test_write_refusals(void **state) {
  (void)state;
  fixture_t fx;
  setup_fx(&fx, 6, 4, 0, PW_LABEL_BINARY, 1);
  char p[128];
  shard_file(p, sizeof p, fx.dir, 0);
  pc_err_t err = {0};
  fx.ds.label[2] = 3.0f;
  assert_int_equal(pw_prep_write_shard(p, &fx.info, 0, &fx.ds, 0, 6, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "row 2: label 3 is not a valid binary label"));
  fx.ds.label[2] = 0.0f;
  fx.ds.idx[0] = 4;
  assert_int_equal(pw_prep_write_shard(p, &fx.info, 0, &fx.ds, 0, 6, &err), PC_EINVAL);
  fx.ds.idx[0] = 0;
  fx.ds.val[0] = INFINITY;
  assert_int_equal(pw_prep_write_shard(p, &fx.info, 0, &fx.ds, 0, 6, &err), PC_EINVAL);
  fx.ds.val[0] = 0;
  assert_int_equal(pw_prep_write_shard(p, &fx.info, 1, &fx.ds, 0, 6, &err), PC_EINVAL);
  assert_int_equal(pw_prep_write_shard(p, &fx.info, 0, &fx.ds, 0, 7, &err), PC_EINVAL);
  /* the file written by setup is untouched by every refusal */
  pw_dataset_t got;
  assert_int_equal(load_part(&fx, 0, 1, &got, &err), 0);
  assert_int_equal(got.n, 6);
  pw_data_free(&got);
  teardown_fx(&fx);
}

/* Class-label shards read by a binary model, and the other way round. */
static void test_label_kinds(void **state) {
  (void)state;
  fixture_t fx;
  setup_fx(&fx, 6, 4, 1, PW_LABEL_CLASS, 2);
  pw_dataset_t got;
  pc_err_t err = {0};
  pw_data_opts_t o = {.nparts = 1, .labels = PW_LABEL_BINARY};
  assert_int_equal(pw_data_load_prepared(&got, fx.dir, &o, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, "the shards hold class labels, the model reads binary"));
  o.features = 3;
  o.labels = PW_LABEL_CLASS;
  assert_int_equal(pw_data_load_prepared(&got, fx.dir, &o, &err), PC_EDATA);
  assert_non_null(strstr(err.msg, "4 features, more than model.features (3)"));
  teardown_fx(&fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_sparse),
      cmocka_unit_test(test_round_trip_dense),
      cmocka_unit_test(test_parts_many_shards),
      cmocka_unit_test(test_parts_few_shards),
      cmocka_unit_test(test_corruption),
      cmocka_unit_test(test_shards_disagree),
      cmocka_unit_test(test_pairs),
      cmocka_unit_test(test_missing_and_extra_files),
      cmocka_unit_test(test_write_refusals),
      cmocka_unit_test(test_label_kinds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
