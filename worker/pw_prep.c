/* `parasol prep`: read, check, split, fit, encode, standardize, write
 * (pw_prep.h). Reading a CSV is pw_prep_csv.c, fitting pw_prep_fit.c,
 * writing DIR pw_prep_out.c. */
#include "pw_prep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pc_hash.h"
#include "pw_prep_int.h"
#include "pw_prepared.h"

#define PREP_MAX_STD_FEATURES ((uint64_t)1 << 26)

void pw_prep_opts_default(pw_prep_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->format = PC_FORMAT_CSV;
  o->labels = PW_LABEL_BINARY;
  o->labels_auto = 1;
  o->missing = PW_MISSING_MEAN;
  o->split[0] = 0.8;
  o->split[1] = 0.1;
  o->split[2] = 0.1;
  o->shards = 1;
  o->seed = 1;
  o->max_categories = 32;
}

static int check_opts(const pw_prep_opts_t *o, pc_err_t *err) {
  if (o->input == NULL || o->out == NULL || o->out[0] == '\0')
    return pc_err_set(err, PC_EINVAL, "prep needs an INPUT file and --out DIR");
  if (o->shards < 1 || o->shards > PW_PREP_MAX_SHARDS)
    return pc_err_set(err, PC_EINVAL, "--shards %u: must be 1 to %d", o->shards,
                      PW_PREP_MAX_SHARDS);
  if (o->max_categories < 1 || o->max_categories > (1u << 24))
    return pc_err_set(err, PC_EINVAL, "--max-categories %u: must be 1 to %u", o->max_categories,
                      1u << 24);
  if (o->format == PC_FORMAT_IDX && o->labels_path == NULL)
    return pc_err_set(err, PC_EINVAL, "--format idx needs --labels FILE (the labels file)");
  /* Only stored values are transformed: a sparse row's absent zeros would
   * stay unshifted, so standardization is for the dense formats (as
   * data.standardize). CSV's one-hot features are left as they are. */
  if (o->standardize && (o->format == PC_FORMAT_LIBSVM || o->format == PC_FORMAT_RATINGS))
    return pc_err_set(err, PC_EINVAL, "--standardize is for csv and idx data, not --format %s "
                      "(sparse rows)", pc_config_format_name(o->format));
  if (o->format != PC_FORMAT_CSV && o->ignore != NULL)
    return pc_err_set(err, PC_EINVAL, "--ignore names CSV columns: not for --format %s",
                      pc_config_format_name(o->format));
  if (o->format != PC_FORMAT_CSV && o->label != NULL)
    return pc_err_set(err, PC_EINVAL, "--label names a CSV column: not for --format %s",
                      pc_config_format_name(o->format));
  return pw_prep_check_split(o->split, err);
}

/* ---- rows per split ---- */

/* rows[k] = the rows of split k, in a seeded random order. */
static int split_rows(const float *label, size_t n, int stratify, const pw_prep_opts_t *o,
                      size_t *rows[3], size_t cnt[3], pc_err_t *err) {
  unsigned char *part = malloc(n + 1);
  int rc = part == NULL ? pc_err_set(err, PC_ENOMEM, "split: out of memory")
                        : pw_prep_split(label, n, stratify, o->split, o->seed, part, err);
  for (int k = 0; k < 3 && rc == 0; k++) {
    if ((rows[k] = malloc((n + 1) * sizeof **rows)) == NULL) {
      rc = pc_err_set(err, PC_ENOMEM, "split: out of memory");
      break;
    }
    cnt[k] = 0;
    for (size_t i = 0; i < n; i++)
      if (part[i] == k)
        rows[k][cnt[k]++] = i;
    uint64_t s = pc_hash_u64(o->seed + 1 + (uint64_t)k);
    pw_prep_shuffle(rows[k], cnt[k], &s);
  }
  free(part);
  if (rc == 0 && cnt[0] == 0)
    rc = pc_err_set(err, PC_EDATA, "%s: --split leaves no training row (%zu rows)", o->input, n);
  return rc;
}

static void free_rows(size_t *rows[3]) {
  for (int k = 0; k < 3; k++)
    free(rows[k]);
}

/* ---- csv ---- */

static int prep_csv(pw_prep_run_t *p, pc_err_t *err) {
  pw_prep_table_t *t = &p->table;
  int rc = pw_prep_csv_read(t, p->o, err);
  if (rc != 0)
    return rc;
  p->drops = &t->drops;
  p->rows_in = t->rows_in;
  p->kind = t->kind;
  p->classes = (uint32_t)t->nclasses;
  size_t *rows[3] = {NULL, NULL, NULL}, cnt[3] = {0, 0, 0};
  rc = split_rows(t->label, t->nrows, t->kind != PW_LABEL_REAL, p->o, rows, cnt, err);
  if (rc == 0)
    rc = pw_prep_fit(&p->recipe, t, rows[0], cnt[0], p->o, err);
  for (int k = 0; k < 3 && rc == 0; k++)
    rc = pw_prep_encode(&p->split[k], &p->recipe, t, rows[k], cnt[k], err);
  if (rc == 0)
    rc = pw_recipe_to_json(&p->recipe, &p->recipe_json, err);
  free_rows(rows);
  if (rc == 0)
    p->shape = p->split[0].shape;
  return rc;
}

/* ---- libsvm, idx, ratings ---- */

static uint64_t ds_row_hash(const pw_dataset_t *ds, size_t i) {
  size_t a = ds->row[i], k = ds->row[i + 1] - a;
  uint64_t h = pc_hash_fnv1a(&ds->label[i], sizeof *ds->label, PC_HASH_FNV_SEED);
  h = pc_hash_fnv1a(ds->idx + a, k * sizeof *ds->idx, h);
  return pc_hash_fnv1a(ds->val + a, k * sizeof *ds->val, h);
}

static int ds_same(const pw_dataset_t *ds, size_t i, size_t j) {
  size_t a = ds->row[i], b = ds->row[j], k = ds->row[i + 1] - a;
  return ds->label[i] == ds->label[j] && k == ds->row[j + 1] - b &&
         memcmp(ds->idx + a, ds->idx + b, k * sizeof *ds->idx) == 0 &&
         memcmp(ds->val + a, ds->val + b, k * sizeof *ds->val) == 0;
}

/* keep[0, *n) = the rows that are not a repeat of an earlier one. */
static int ds_unique(const pw_dataset_t *ds, pw_drops_t *d, size_t *keep, size_t *n) {
  size_t cap = 16, m = 0;
  while (cap < 2 * ds->n + 2)
    cap *= 2;
  size_t *slot = malloc(cap * sizeof *slot);
  if (slot == NULL)
    return PC_ENOMEM;
  memset(slot, 0xff, cap * sizeof *slot);
  char why[PW_DROP_WHY];
  for (size_t i = 0; i < ds->n; i++) {
    size_t s = (size_t)ds_row_hash(ds, i) & (cap - 1);
    while (slot[s] != SIZE_MAX && !ds_same(ds, slot[s], i))
      s = (s + 1) & (cap - 1);
    if (slot[s] == SIZE_MAX) {
      slot[s] = i;
      keep[m++] = i;
      continue;
    }
    snprintf(why, sizeof why, "the same as record %zu", slot[s] + 1);
    pw_drops_add(d, PW_DROP_DUPLICATE, i + 1, why);
  }
  free(slot);
  *n = m;
  return 0;
}

static void data_opts(pw_data_opts_t *d, pw_prep_run_t *p) {
  memset(d, 0, sizeof *d);
  d->nparts = 1;
  d->skip_bad = 1;
  d->max_bad_lines = UINT64_MAX;
  d->labels = p->kind;
  d->label_offset = p->o->label_offset;
  d->labels_path = p->o->labels_path;
}

/* The reader skipped bad lines; a second read that stops at the first one
 * names it (line and reason) for the summary. */
static void first_bad(pw_prep_run_t *p, const pw_data_opts_t *d, uint64_t count) {
  pw_data_opts_t d1 = *d;
  pw_dataset_t ds;
  pc_err_t e = {0};
  d1.max_bad_lines = 0;
  if (pw_data_load(&ds, p->o->format, p->o->input, &d1, &e) == 0)
    pw_data_free(&ds);
  /* Line numbers are in the message: the readers count skipped lines only. */
  const char *first = strstr(e.msg, "; first: "); /* past "N bad lines skipped, more than" */
  snprintf(p->drops->first[PW_DROP_BAD_RECORD], PW_DROP_WHY, "%.199s", first ? first + 9 : e.msg);
  p->drops->count[PW_DROP_BAD_RECORD] = count;
}

static pw_label_kind_t default_kind(pc_format_t f) {
  return f == PC_FORMAT_IDX ? PW_LABEL_CLASS : f == PC_FORMAT_RATINGS ? PW_LABEL_REAL
                                                                       : PW_LABEL_BINARY;
}

static uint32_t count_classes(const pw_dataset_t *ds, pw_label_kind_t kind) {
  float top = 0;
  for (size_t i = 0; kind == PW_LABEL_CLASS && i < ds->n; i++)
    top = ds->label[i] > top ? ds->label[i] : top;
  return kind == PW_LABEL_BINARY ? 2 : kind == PW_LABEL_CLASS ? (uint32_t)top + 1 : 0;
}

static int prep_records(pw_prep_run_t *p, pw_dataset_t *all, pc_err_t *err) {
  pw_data_opts_t d;
  p->drops = &p->own_drops;
  p->kind = p->o->labels_auto ? default_kind(p->o->format) : p->o->labels;
  data_opts(&d, p);
  int rc = pw_data_load(all, p->o->format, p->o->input, &d, err);
  if (rc != 0)
    return rc;
  p->rows_in = all->n + all->bad_lines;
  if (all->bad_lines > 0)
    first_bad(p, &d, all->bad_lines);
  size_t *keep = malloc((all->n + 1) * sizeof *keep), n = 0;
  pw_dataset_t u;
  if (keep == NULL || ds_unique(all, p->drops, keep, &n) != 0)
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory", p->o->input);
  if (rc == 0 && n == 0)
    rc = pc_err_set(err, PC_EDATA, "%s: no data rows", p->o->input);
  if (rc == 0 && (rc = pw_data_subset(&u, all, keep, n, err)) == 0) {
    pw_data_free(all);
    *all = u;
  }
  free(keep);
  p->shape = all->shape;
  p->classes = count_classes(all, p->kind);
  return rc;
}

static int prep_other(pw_prep_run_t *p, pc_err_t *err) {
  pw_dataset_t all = {0};
  size_t *rows[3] = {NULL, NULL, NULL}, cnt[3] = {0, 0, 0};
  int rc = prep_records(p, &all, err);
  if (rc == 0)
    rc = split_rows(all.label, all.n, p->kind != PW_LABEL_REAL, p->o, rows, cnt, err);
  for (int k = 0; k < 3 && rc == 0; k++)
    rc = pw_data_subset(&p->split[k], &all, rows[k], cnt[k], err);
  free_rows(rows);
  pw_data_free(&all);
  return rc;
}

/* ---- standardization ---- */

static int standardize(pw_prep_run_t *p, pc_err_t *err) {
  uint64_t nf = p->shape.features;
  if (nf > PREP_MAX_STD_FEATURES)
    return pc_err_set(err, PC_EINVAL, "--standardize: %llu features, above %llu",
                      (unsigned long long)nf, (unsigned long long)PREP_MAX_STD_FEATURES);
  double *sum = calloc(nf + 1, sizeof *sum), *sq = calloc(nf + 1, sizeof *sq), count = 0;
  int rc = sum && sq ? 0 : pc_err_set(err, PC_ENOMEM, "--standardize: out of memory");
  if (rc == 0) {
    pw_data_moments(&p->split[0], nf, sum, sq, &count);
    rc = pw_transform_from_moments(&p->tf, nf, sum, sq, count, err);
  }
  /* One-hot and hashed features stay 0/1: the recipe is the encoding. */
  for (size_t c = 0; rc == 0 && c < p->recipe.ncols; c++)
    for (uint64_t f = 0; p->recipe.cols[c].kind != PW_COL_NUMERIC && f < p->recipe.cols[c].width;
         f++) {
      p->tf.mean[p->recipe.cols[c].offset + f] = 0.0f;
      p->tf.inv_std[p->recipe.cols[c].offset + f] = 1.0f;
    }
  for (int k = 0; k < 3 && rc == 0; k++)
    pw_data_apply_transform(&p->split[k], &p->tf);
  free(sum);
  free(sq);
  return rc;
}

static void run_free(pw_prep_run_t *p) {
  pw_prep_table_free(&p->table);
  pw_recipe_free(&p->recipe);
  free(p->recipe_json);
  for (int k = 0; k < 3; k++)
    pw_data_free(&p->split[k]);
  pw_transform_free(&p->tf);
}

int pw_prep_run(const pw_prep_opts_t *o, FILE *summary, pc_err_t *err) {
  pw_prep_run_t p;
  memset(&p, 0, sizeof p);
  p.o = o;
  int rc = check_opts(o, err);
  if (rc == 0)
    rc = pw_prep_check_out(o, err);
  if (rc == 0)
    rc = o->format == PC_FORMAT_CSV ? prep_csv(&p, err) : prep_other(&p, err);
  if (rc == 0 && o->standardize)
    rc = standardize(&p, err);
  p.rows_out = p.split[0].n + p.split[1].n + p.split[2].n;
  if (rc == 0)
    rc = pw_prep_write(&p, err);
  if (rc == 0 && summary != NULL)
    pw_prep_print(&p, summary);
  run_free(&p);
  return rc;
}
