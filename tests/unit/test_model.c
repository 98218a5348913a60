/* pw_model: format v4 round trip (and v3 files, without a recipe, still
 * read) (sparse width-1, dense width-K, sparse
 * width-r tables, transform, settings), row lookup, sorting, settings
 * replay, and every refusal: truncation at each length, flipped bytes,
 * other versions and magic, trailing bytes, and crafted files with a
 * valid checksum that break one content rule each. */
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
#include "pw_model.h"

#define WSIZE 1001u            /* table "w": 1000 features + bias */
#define KCLS 3u                /* table "layer": 7 rows of 3 */
#define LROWS 7u
#define ESIZE (UINT64_C(1) << 40) /* table "emb": rank 4 */
#define RANK 4u
#define NTF 5u

typedef struct fixture {
  char path[64];
  char tmp[80];
  pw_model_t m;         /* the sample model, built by the test */
  unsigned char *bytes; /* its file */
  size_t size;
} fixture_t;

static uint64_t w_keys[] = {999, 3, 1000, 500}; /* unsorted: sample() sorts them */
static uint64_t e_keys[] = {UINT64_C(77) << 30, 5, (UINT64_C(1) << 40) - 1};

static float *floats(size_t n, float base) {
  float *v = malloc(n * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++)
    v[i] = base + 0.25f * (float)i - 1.0f;
  return v;
}

static uint64_t *keys_copy(const uint64_t *k, size_t n) {
  uint64_t *p = malloc(n * sizeof *p);
  assert_non_null(p);
  memcpy(p, k, n * sizeof *p);
  return p;
}

static void add_table(pw_model_t *m, const char *name, pc_table_kind_t kind, uint64_t size,
                      uint32_t width, uint64_t count, const uint64_t *keys) {
  pw_mtable_t *t = &m->tables[m->ntables];
  snprintf(t->spec.name, sizeof t->spec.name, "%s", name);
  t->spec.id = (uint32_t)m->ntables;
  t->spec.kind = kind;
  t->spec.size = size;
  t->spec.width = width;
  t->spec.init = kind == PC_TABLE_DENSE ? PC_INIT_UNIFORM : PC_INIT_NORMAL;
  t->spec.scale = 0.5f;
  t->spec.optimize = 1;
  t->count = count;
  t->keys = keys ? keys_copy(keys, count) : NULL;
  t->vals = floats(count * width, (float)m->ntables);
  m->ntables++;
}

/* Config with non-default model.* settings, described into m. */
static void sample_config(pc_config_t *cfg) {
  pc_err_t err = {0};
  pc_config_defaults(cfg);
  assert_int_equal(pc_config_set(cfg, "model.features=1000", &err), 0);
  assert_int_equal(pc_config_set(cfg, "model.layout=dense", &err), 0);
  assert_int_equal(pc_config_set(cfg, "optimizer.lr=0.5", &err), 0);
}

static void sample(pw_model_t *m) {
  pc_config_t cfg;
  pc_err_t err = {0};
  sample_config(&cfg);
  pw_shape_t shape = {.features = 1000, .height = 10, .width = 10, .channels = 1};
  assert_int_equal(pw_model_describe(m, &cfg, &shape, &err), 0);
  m->tf.n = NTF;
  m->tf.mean = floats(NTF, 2.0f);
  m->tf.inv_std = floats(NTF, 2.5f); /* 1.5 .. 2.5 */
  add_table(m, "w", PC_TABLE_SPARSE, WSIZE, 1, 4, w_keys);
  add_table(m, "layer", PC_TABLE_DENSE, LROWS, KCLS, LROWS, NULL);
  add_table(m, "emb", PC_TABLE_SPARSE, ESIZE, RANK, 3, e_keys);
  assert_int_equal(pw_mtable_sort(&m->tables[0], &err), 0);
  assert_int_equal(pw_mtable_sort(&m->tables[2], &err), 0);
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  unsigned char *b = malloc(1 << 16);
  assert_non_null(b);
  *n = fread(b, 1, 1 << 16, fp);
  assert_true(*n < (1 << 16));
  fclose(fp);
  return b;
}

static void spill(const char *path, const unsigned char *b, size_t n) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(b, 1, n, fp), n);
  assert_int_equal(fclose(fp), 0);
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  strcpy(f->path, "/tmp/parasol_test_model_XXXXXX");
  int fd = mkstemp(f->path);
  assert_true(fd >= 0);
  close(fd);
  snprintf(f->tmp, sizeof f->tmp, "%s.tmp", f->path);
  sample(&f->m);
  pc_err_t err = {0};
  assert_int_equal(pw_model_save(&f->m, f->path, &err), 0);
  f->bytes = slurp(f->path, &f->size);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  unlink(f->path);
  unlink(f->tmp);
  pw_model_free(&f->m);
  free(f->bytes);
  free(f);
  return 0;
}

/* Load path, expect PC_EMODEL with a message naming the file and `want`. */
static void refused(const char *path, const char *want) {
  pw_model_t m;
  pc_err_t err = {0};
  int rc = pw_model_load(&m, path, &err);
  if (rc != PC_EMODEL || strstr(err.msg, path) == NULL || strstr(err.msg, want) == NULL)
    fail_msg("expected '%s', got rc %d: %s", want, rc, err.msg);
  /* Freed and zeroed on error. */
  assert_int_equal(m.ntables, 0);
  assert_null(m.tf.mean);
}

/* Write b with its checksum recomputed, so only the content rules can
 * refuse it, and expect `want`. */
static void refused_valid_sum(fixture_t *f, unsigned char *b, size_t n, const char *want) {
  pc_put_u64(b + n - 8, XXH3_64bits(b, n - 8));
  spill(f->path, b, n);
  refused(f->path, want);
}

/* Byte offset of the table count, from the documented layout. */
static size_t tables_offset(const pw_model_t *m) {
  size_t off = 8 + 4 + 4 + 4;
  for (size_t i = 0; i < m->nsettings; i++)
    off += 2 + strlen(m->settings[i].name) + 2 + strlen(m->settings[i].value);
  return off + 24 + 8 + 8 * m->tf.n + 4 + m->recipe_len;
}

/* ---- round trip ---- */

static void same_table(const pw_mtable_t *a, const pw_mtable_t *b) {
  assert_string_equal(a->spec.name, b->spec.name);
  assert_int_equal(a->spec.id, b->spec.id);
  assert_int_equal(a->spec.kind, b->spec.kind);
  assert_int_equal(a->spec.size, b->spec.size);
  assert_int_equal(a->spec.width, b->spec.width);
  assert_int_equal(a->spec.init, b->spec.init);
  assert_true(a->spec.scale == b->spec.scale);
  assert_int_equal(a->spec.optimize, b->spec.optimize);
  assert_int_equal(a->count, b->count);
  assert_memory_equal(a->vals, b->vals, a->count * a->spec.width * sizeof(float));
  if (a->spec.kind == PC_TABLE_SPARSE)
    assert_memory_equal(a->keys, b->keys, a->count * sizeof(uint64_t));
  else
    assert_null(b->keys);
}

static void test_round_trip(void **state) {
  fixture_t *f = *state;
  pw_model_t m;
  pc_err_t err = {0};
  assert_int_equal(pw_model_load(&m, f->path, &err), 0);
  assert_int_equal(m.type, PC_MODEL_LOGISTIC);
  assert_int_equal(m.nsettings, f->m.nsettings);
  assert_memory_equal(m.settings, f->m.settings, m.nsettings * sizeof m.settings[0]);
  assert_int_equal(m.shape.features, 1000);
  assert_int_equal(m.shape.height, 10);
  assert_int_equal(m.shape.width, 10);
  assert_int_equal(m.shape.channels, 1);
  assert_int_equal(m.shape.dense, 0);
  assert_int_equal(m.tf.n, NTF);
  assert_memory_equal(m.tf.mean, f->m.tf.mean, NTF * sizeof(float));
  assert_memory_equal(m.tf.inv_std, f->m.tf.inv_std, NTF * sizeof(float));
  assert_int_equal(m.ntables, 3);
  for (size_t i = 0; i < 3; i++)
    same_table(&f->m.tables[i], &m.tables[i]);
  /* The size the docs give: 68 per table header, rows as documented. */
  size_t want = tables_offset(&m) + 4 + 3 * 68 + 4 * (8 + 4) + LROWS * KCLS * 4 +
                3 * (8 + 4 * RANK) + 8;
  assert_int_equal(f->size, want);
  pw_model_free(&m);
  pw_model_t zero;
  memset(&zero, 0, sizeof zero);
  assert_memory_equal(&m, &zero, sizeof m);
}

static void test_describe(void **state) {
  (void)state;
  pc_config_t cfg;
  sample_config(&cfg);
  pw_model_t m;
  pc_err_t err = {0};
  pw_shape_t shape = {.features = 9, .dense = 1};
  assert_int_equal(pw_model_describe(&m, &cfg, &shape, &err), 0);
  assert_int_equal(m.type, PC_MODEL_LOGISTIC);
  assert_true(m.nsettings >= 4); /* type, features, layout, bias at least */
  int features = 0;
  for (size_t i = 0; i < m.nsettings; i++) {
    /* the model's settings and how its data is read; not optimizer.lr */
    assert_true(strncmp(m.settings[i].name, "model.", 6) == 0 ||
                strcmp(m.settings[i].name, "data.format") == 0 ||
                strcmp(m.settings[i].name, "data.label") == 0 ||
                strcmp(m.settings[i].name, "data.label_offset") == 0);
    if (strcmp(m.settings[i].name, "model.features") == 0)
      features = strcmp(m.settings[i].value, "1000") == 0;
  }
  assert_true(features);
  assert_int_equal(m.shape.features, 9);
  assert_int_equal(m.shape.dense, 1);
  assert_int_equal(m.ntables, 0);
  assert_int_equal(m.tf.n, 0);
}

/* ---- rows and sorting ---- */

static void test_row(void **state) {
  fixture_t *f = *state;
  const pw_model_t *m = &f->m;
  const pw_mtable_t *w = &m->tables[0], *l = &m->tables[1], *e = &m->tables[2];
  /* sorted: 3, 500, 999, 1000 */
  assert_ptr_equal(pw_model_row(m, 0, 3), w->vals + 0);
  assert_ptr_equal(pw_model_row(m, 0, 1000), w->vals + 3);
  assert_ptr_equal(pw_model_row(m, 0, 999), w->vals + 2);
  assert_null(pw_model_row(m, 0, 4));    /* absent */
  assert_null(pw_model_row(m, 0, 0));
  assert_null(pw_model_row(m, 0, WSIZE)); /* >= size */
  for (uint64_t k = 0; k < LROWS; k++)
    assert_ptr_equal(pw_model_row(m, 1, k), l->vals + k * KCLS);
  assert_null(pw_model_row(m, 1, LROWS));
  assert_ptr_equal(pw_model_row(m, 2, 5), e->vals);
  assert_ptr_equal(pw_model_row(m, 2, ESIZE - 1), e->vals + 2 * RANK);
  assert_null(pw_model_row(m, 2, ESIZE));
  assert_null(pw_model_row(m, 2, 6));
  assert_null(pw_model_row(m, 3, 0)); /* no such table */
}

static void test_sort(void **state) {
  (void)state;
  enum { N = 50, W = 3 };
  pw_mtable_t t = {.spec = {.name = "emb", .kind = PC_TABLE_SPARSE, .size = 1000, .width = W}};
  uint64_t keys[N];
  float vals[N * W];
  for (int i = 0; i < N; i++) { /* a permutation of 0..N-1, times 7 */
    keys[i] = (uint64_t)((i * 17) % N) * 7;
    for (int j = 0; j < W; j++)
      vals[i * W + j] = (float)keys[i] + 0.1f * (float)j;
  }
  t.count = N;
  t.keys = keys;
  t.vals = vals;
  pc_err_t err = {0};
  assert_int_equal(pw_mtable_sort(&t, &err), 0);
  for (int i = 0; i < N; i++) {
    assert_int_equal(keys[i], (uint64_t)i * 7);
    for (int j = 0; j < W; j++) /* each row moved with its key */
      assert_true(vals[i * W + j] == (float)keys[i] + 0.1f * (float)j);
  }
  keys[10] = keys[30];
  assert_int_equal(pw_mtable_sort(&t, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "key 210 was collected twice"));
  t.spec.kind = PC_TABLE_DENSE;
  assert_int_equal(pw_mtable_sort(&t, &err), PC_EINVAL);
}

/* ---- refusals of damaged files ---- */

static void test_truncated_every_length(void **state) {
  fixture_t *f = *state;
  for (size_t n = 0; n < f->size; n++) {
    spill(f->path, f->bytes, n);
    refused(f->path, "truncated");
  }
}

static void test_message_names_what_is_missing(void **state) {
  fixture_t *f = *state;
  /* Cut inside the dense table's values (after its 68-byte header). */
  size_t dense = tables_offset(&f->m) + 4 + 68 + 4 * 12 + 68;
  spill(f->path, f->bytes, dense + 20 + 8);
  refused(f->path, "truncated: table 'layer' needs 7 x 12 bytes of rows at offset");
  refused(f->path, ", 20 left");
}

static void test_flipped_bytes(void **state) {
  fixture_t *f = *state;
  unsigned char *b = malloc(f->size);
  assert_non_null(b);
  for (size_t i = 0; i < f->size; i++) { /* every byte: refused, never a crash */
    memcpy(b, f->bytes, f->size);
    b[i] ^= 0x10;
    spill(f->path, b, f->size);
    pw_model_t m;
    pc_err_t err = {0};
    assert_int_equal(pw_model_load(&m, f->path, &err), PC_EMODEL);
  }
  /* A value byte or the checksum itself: only the checksum can tell. */
  size_t at[] = {f->size - 9, f->size - 1, tables_offset(&f->m) + 4 + 68 + 8};
  for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
    memcpy(b, f->bytes, f->size);
    b[at[k]] ^= 0x01;
    spill(f->path, b, f->size);
    refused(f->path, "checksum mismatch: the file is corrupt");
  }
  free(b);
}

static void test_other_versions(void **state) {
  fixture_t *f = *state;
  unsigned char b[40] = "PSLMODEL";
  pc_put_u32(b + 8, 2); /* v2 header: type 1, features ...: named by its version whatever follows */
  pc_put_u32(b + 12, 1);
  spill(f->path, b, sizeof b);
  refused(f->path, "version 2 (written by an older Parasol): this Parasol reads versions 3 to "
                   "4; retrain the model");
  pc_put_u32(b + 8, 5);
  spill(f->path, b, sizeof b);
  refused(f->path, "version 5 (written by a newer Parasol)");
  memcpy(b, f->bytes, sizeof b);
  b[7] = 'X';
  spill(f->path, b, sizeof b);
  refused(f->path, "not a Parasol model file (bad magic)");
  spill(f->path, (const unsigned char *)"hello, world\n", 13);
  refused(f->path, "bad magic");
  refused("/nonexistent/model.bin", "cannot open model file");
  refused("/", "not a regular file");
}

static void test_trailing_bytes(void **state) {
  fixture_t *f = *state;
  unsigned char *b = malloc(f->size + 1);
  assert_non_null(b);
  memcpy(b, f->bytes, f->size);
  b[f->size] = 0;
  spill(f->path, b, f->size + 1);
  refused(f->path, "trailing bytes: 1 bytes after the last table");
  free(b);
}

/* ---- crafted files with a valid checksum ---- */

static void test_valid_sum_content_rules(void **state) {
  fixture_t *f = *state;
  unsigned char *b = malloc(f->size);
  assert_non_null(b);
  size_t t0 = tables_offset(&f->m) + 4;        /* table "w" header */
  size_t w0 = t0 + 68;                         /* its first entry: key, value */
  size_t l0 = w0 + 4 * 12;                     /* table "layer" header */

  memcpy(b, f->bytes, f->size); /* control: recomputing the sum alone changes nothing */
  assert_true(pc_get_u64(b + f->size - 8) == XXH3_64bits(b, f->size - 8));

  memcpy(b, f->bytes, f->size);
  pc_put_u32(b + l0 + 68 + 4 * 5, 0x7fc00000u); /* a NaN in the dense table */
  refused_valid_sum(f, b, f->size, "table 'layer': value 2 of key 1 is not finite");

  memcpy(b, f->bytes, f->size);
  pc_put_u32(b + w0 + 8, 0x7f800000u); /* +inf in the sparse table */
  refused_valid_sum(f, b, f->size, "table 'w': value 0 of key 3 is not finite");

  memcpy(b, f->bytes, f->size);
  pc_put_u64(b + w0 + 12, 2); /* second key 500 -> 2, below the first (3) */
  refused_valid_sum(f, b, f->size, "key 2 is below the key 3 before it");

  memcpy(b, f->bytes, f->size);
  pc_put_u64(b + w0 + 12, 3); /* repeats */
  refused_valid_sum(f, b, f->size, "key 3 repeats the key 3 before it");

  memcpy(b, f->bytes, f->size);
  pc_put_u64(b + w0 + 3 * 12, WSIZE); /* last key = size */
  refused_valid_sum(f, b, f->size, "table 'w': key 1001 out of range (size 1001)");

  memcpy(b, f->bytes, f->size);
  pc_put_u32(b + l0 + 48, 7); /* initializer 7 */
  refused_valid_sum(f, b, f->size, "table 'layer': unknown initializer");

  memcpy(b, f->bytes, f->size);
  memset(b + l0, 0, 32);
  b[l0] = 'w'; /* two tables named w */
  refused_valid_sum(f, b, f->size, "two tables named 'w'");

  memcpy(b, f->bytes, f->size);
  memcpy(b + l0 + 20, "x", 1); /* "layer\0...x" */
  refused_valid_sum(f, b, f->size, "table 1: name 'layer' is not NUL-padded");

  memcpy(b, f->bytes, f->size);
  pc_put_u32(b + 12, 9); /* model type 9 */
  refused_valid_sum(f, b, f->size, "unknown model type 9");

  memcpy(b, f->bytes, f->size);
  pc_put_u32(b + t0 - 4, 0); /* no tables */
  refused_valid_sum(f, b, f->size, "0 tables, a model has 1 to 16");
  free(b);
}

static void test_valid_sum_header_rules(void **state) {
  fixture_t *f = *state;
  unsigned char *b = malloc(f->size);
  assert_non_null(b);
  memcpy(b, f->bytes, f->size);
  pc_put_u32(b + 16, PW_MODEL_MAX_SETTINGS + 1);
  refused_valid_sum(f, b, f->size, "65 settings, at most 64");

  memcpy(b, f->bytes, f->size);
  unsigned char *bias = memmem(b, f->size, "model.bias", 10);
  assert_non_null(bias);
  memcpy(bias, "model.bjas", 10); /* a setting a newer Parasol might write */
  refused_valid_sum(f, b, f->size, "unknown setting 'model.bjas'");

  memcpy(b, f->bytes, f->size);
  unsigned char *feat = memmem(b, f->size, "model.features", 14);
  assert_non_null(feat);
  memcpy(feat + 14 + 2, "abcd", 4); /* value "1000" -> "abcd" */
  refused_valid_sum(f, b, f->size, "setting model.features=abcd");

  memcpy(b, f->bytes, f->size);
  feat = memmem(b, f->size, "model.features", 14);
  pc_put_u32(feat - 2, 200); /* name length 200 (u16) and 2 bytes of the name */
  refused_valid_sum(f, b, f->size, "name of 200 bytes, must be 1 to 47");

  memcpy(b, f->bytes, f->size);
  size_t tf = tables_offset(&f->m) - 4 - 8 * NTF; /* first mean (no recipe) */
  pc_put_u32(b + tf + 4 * NTF, 0); /* 1/std of feature 0 = 0 */
  refused_valid_sum(f, b, f->size, "transform of feature 0");

  memcpy(b, f->bytes, f->size);
  pc_put_u64(b + tf - 8, UINT64_C(1) << 60); /* transform size way past the file */
  refused_valid_sum(f, b, f->size, "truncated: a transform of");

  memcpy(b, f->bytes, f->size);
  pc_put_u32(b + tf - 8 - 24 + 16, 0); /* channels 0 with height and width 10 */
  refused_valid_sum(f, b, f->size, "bad data shape");
  free(b);
}

/* The model.type setting and the type field must agree. */
static void test_type_disagrees(void **state) {
  fixture_t *f = *state;
  pc_err_t err = {0};
  f->m.type = PC_MODEL_MF;
  assert_int_equal(pw_model_save(&f->m, f->path, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "disagrees with its setting model.type"));
  pc_config_t cfg;
  assert_int_equal(pw_model_config(&f->m, &cfg, &err), PC_EINVAL);
  f->m.type = PC_MODEL_LOGISTIC;
}

/* Without a model.type setting, the type field decides. */
static void test_config_type_from_field(void **state) {
  (void)state;
  pw_model_t m;
  memset(&m, 0, sizeof m);
  m.type = PC_MODEL_MF;
  m.nsettings = 1;
  snprintf(m.settings[0].name, sizeof m.settings[0].name, "model.features");
  snprintf(m.settings[0].value, sizeof m.settings[0].value, "5");
  pc_config_t cfg;
  pc_err_t err = {0};
  assert_int_equal(pw_model_config(&m, &cfg, &err), 0);
  assert_int_equal(cfg.model.type, PC_MODEL_MF);
  assert_int_equal(cfg.model.features, 5);
  snprintf(m.settings[0].value, sizeof m.settings[0].value, "0");
  assert_int_equal(pw_model_config(&m, &cfg, &err), PC_EINVAL);
  assert_non_null(strstr(err.msg, "model: setting model.features=0: "));
  assert_null(strstr(err.msg, "--set"));
}

/* ---- save ---- */

static void same_file(fixture_t *f) {
  size_t n;
  unsigned char *now = slurp(f->path, &n);
  assert_int_equal(n, f->size);
  assert_memory_equal(now, f->bytes, n);
  free(now);
  assert_int_equal(access(f->tmp, F_OK), -1); /* no PATH.tmp left behind */
}

static void save_refused(fixture_t *f, const char *want) {
  pc_err_t err = {0};
  int rc = pw_model_save(&f->m, f->path, &err);
  if (rc != PC_EINVAL || strstr(err.msg, want) == NULL)
    fail_msg("expected '%s', got rc %d: %s", want, rc, err.msg);
  same_file(f);
}

static void test_save_refuses(void **state) {
  fixture_t *f = *state;
  pw_mtable_t *l = &f->m.tables[1], *e = &f->m.tables[2];
  float keep = l->vals[4];
  l->vals[4] = NAN;
  save_refused(f, "table 'layer': value 1 of key 1 is not finite");
  l->vals[4] = keep;
  uint64_t k = e->keys[1];
  e->keys[1] = e->keys[0];
  save_refused(f, "repeats the key");
  e->keys[1] = k;
  f->m.tables[1].count = LROWS - 1;
  save_refused(f, "dense table of size 7 holds 6 rows");
  f->m.tables[1].count = LROWS;
  keep = f->m.tf.inv_std[2];
  f->m.tf.inv_std[2] = -1;
  save_refused(f, "transform of feature 2");
  f->m.tf.inv_std[2] = keep;
  /* Whatever follows a name's NUL in memory, the file pads it with zeros. */
  memcpy(f->m.tables[1].spec.name + 6, "junk", 4);
  pc_err_t err = {0};
  assert_int_equal(pw_model_save(&f->m, f->path, &err), 0);
  same_file(f);
  snprintf(f->m.settings[0].name, sizeof f->m.settings[0].name, "model.nosuch");
  save_refused(f, "unknown setting 'model.nosuch'");
}

/* ---- settings replay ---- */

static void test_config_replays(void **state) {
  fixture_t *f = *state;
  pc_config_t cfg, orig;
  pc_err_t err = {0};
  pc_config_defaults(&orig);
  assert_int_equal(pc_config_set(&orig, "model.features=777", &err), 0);
  assert_int_equal(pc_config_set(&orig, "model.bias=false", &err), 0);
  /* model.classes where this Parasol has it (issue 8's config fields). */
  int classes = pc_config_set(&orig, "model.classes=10", NULL) == 0;
  pw_model_t m;
  assert_int_equal(pw_model_describe(&m, &orig, NULL, &err), 0);
  m.tables[0] = f->m.tables[0]; /* borrowed: not freed below */
  m.ntables = 1;
  assert_int_equal(pw_model_save(&m, f->path, &err), 0);
  pw_model_t back;
  assert_int_equal(pw_model_load(&back, f->path, &err), 0);
  assert_int_equal(pw_model_config(&back, &cfg, &err), 0);
  assert_int_equal(cfg.model.features, 777);
  assert_int_equal(cfg.model.bias, 0);
  if (classes)
    assert_int_equal(cfg.model.classes, 10);
  /* Every model.* setting comes back as it was; the rest are defaults. */
  pc_setting_t a[PC_CONFIG_MAX_SHARED], b[PC_CONFIG_MAX_SHARED];
  size_t na = pc_config_shared(&orig, a, PC_CONFIG_MAX_SHARED);
  assert_int_equal(pc_config_shared(&cfg, b, PC_CONFIG_MAX_SHARED), na);
  for (size_t i = 0; i < na; i++)
    if (strncmp(a[i].name, "model.", 6) == 0)
      assert_string_equal(a[i].value, b[i].value);
  assert_true(cfg.optimizer.lr == 0.1);
  pw_model_free(&back);
}

/* Version 4 carries the recipe; a version-3 file (the same without the
 * recipe length) still loads, with no recipe. */
static void test_recipe_and_v3(void **state) {
  fixture_t *f = *state;
  static const char recipe[] = "{\"label\":\"income\",\"columns\":[]}";
  f->m.recipe_json = strdup(recipe);
  f->m.recipe_len = strlen(recipe);
  pc_err_t err = {0};
  assert_int_equal(pw_model_save(&f->m, f->path, &err), 0);
  pw_model_t m;
  assert_int_equal(pw_model_load(&m, f->path, &err), 0);
  assert_int_equal(m.recipe_len, strlen(recipe));
  assert_string_equal(m.recipe_json, recipe);
  pw_model_free(&m);
  size_t n;
  unsigned char *b = slurp(f->path, &n);
  size_t at = tables_offset(&f->m) - 4 - f->m.recipe_len; /* the recipe length */
  pc_put_u32(b + at, (uint32_t)1 << 30);
  refused_valid_sum(f, b, n, "a recipe of 1073741824 bytes");
  free(b);
  /* v3: saved without a recipe, its 4-byte length cut out, version 3 */
  free(f->m.recipe_json);
  f->m.recipe_json = NULL;
  f->m.recipe_len = 0;
  assert_int_equal(pw_model_save(&f->m, f->path, &err), 0);
  b = slurp(f->path, &n);
  at = tables_offset(&f->m) - 4;
  memmove(b + at, b + at + 4, n - at - 4);
  pc_put_u32(b + 8, 3);
  uint64_t h = XXH3_64bits(b, n - 12);
  pc_put_u64(b + n - 12, h);
  spill(f->path, b, n - 4);
  free(b);
  assert_int_equal(pw_model_load(&m, f->path, &err), 0);
  assert_null(m.recipe_json);
  assert_int_equal(m.ntables, 3);
  same_table(&f->m.tables[2], &m.tables[2]);
  pw_model_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test(test_describe),
      cmocka_unit_test_setup_teardown(test_row, setup, teardown),
      cmocka_unit_test(test_sort),
      cmocka_unit_test_setup_teardown(test_truncated_every_length, setup, teardown),
      cmocka_unit_test_setup_teardown(test_message_names_what_is_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flipped_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_versions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trailing_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_valid_sum_content_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_valid_sum_header_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_type_disagrees, setup, teardown),
      cmocka_unit_test(test_config_type_from_field),
      cmocka_unit_test_setup_teardown(test_save_refuses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_replays, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recipe_and_v3, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
