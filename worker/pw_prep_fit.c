/* The recipe fitted on the training rows of a cleaned CSV, and every
 * split encoded with it (pw_prep_int.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_prep_int.h"

static const char *cell(const pw_prep_table_t *t, size_t row, size_t c) {
  return t->cells[row * t->ncols + c];
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int set_why(pw_recipe_col_t *rc, const char *why) {
  rc->kind = PW_COL_DROPPED;
  rc->width = 0;
  return (rc->why = strdup(why)) == NULL ? PC_ENOMEM : 0;
}

/* min, mean, max of the present values in training; dropped when none or
 * all the same. */
static int fit_numeric(pw_recipe_col_t *rc, pw_colstat_t *st, const pw_prep_table_t *t,
                       size_t c, const size_t *train, size_t n, const pw_prep_opts_t *o) {
  double sum = 0, v;
  size_t k = 0;
  st->min = INFINITY;
  st->max = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (pw_csv_number(cell(t, train[i], c), &v) == 0) {
      sum += v;
      k++;
      st->min = v < st->min ? v : st->min;
      st->max = v > st->max ? v : st->max;
    }
  st->mean = k > 0 ? sum / (double)k : 0;
  if (k == 0)
    return set_why(rc, "all missing");
  if (st->min == st->max)
    return set_why(rc, "constant");
  rc->kind = PW_COL_NUMERIC;
  rc->width = 1;
  rc->impute = o->missing == PW_MISSING_ZERO ? 0.0 : st->mean;
  return 0;
}

/* The sorted distinct present texts of column c over the training rows. */
static int fit_text(pw_recipe_col_t *rc, pw_colstat_t *st, const pw_prep_table_t *t, size_t c,
                    const size_t *train, size_t n, const pw_prep_opts_t *o) {
  const char **s = malloc((n + 1) * sizeof *s);
  size_t k = 0, m = 0;
  if (s == NULL)
    return PC_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (!pw_csv_missing(cell(t, train[i], c)))
      s[k++] = cell(t, train[i], c);
  qsort(s, k, sizeof *s, cmp_str);
  for (size_t i = 0; i < k; i++)
    if (m == 0 || strcmp(s[i], s[m - 1]) != 0)
      s[m++] = s[i];
  st->categories = m;
  int rc_ = 0;
  if (m == 0 || (m == 1 && k == n))
    rc_ = set_why(rc, m == 0 ? "all missing" : "constant");
  else if (m > o->max_categories) {
    rc->kind = PW_COL_HASHED;
    rc->width = o->max_categories;
  } else if ((rc->cats = calloc(m, sizeof *rc->cats)) == NULL)
    rc_ = PC_ENOMEM;
  else {
    rc->kind = PW_COL_ONEHOT;
    rc->width = m;
    for (size_t i = 0; i < m && rc_ == 0; i++, rc->ncats = i)
      rc_ = (rc->cats[i] = strdup(s[i])) == NULL ? PC_ENOMEM : 0;
  }
  free(s);
  return rc_;
}

static void count_missing(pw_prep_table_t *t) {
  for (size_t i = 0; i < t->nrows; i++)
    for (size_t c = 0; c < t->ncols; c++)
      t->stats[c].missing += pw_csv_missing(cell(t, i, c)) != 0;
}

static int fit_cols(pw_recipe_t *r, pw_prep_table_t *t, const size_t *train, size_t n,
                    const pw_prep_opts_t *o) {
  uint64_t at = 0;
  for (size_t c = 0, j = 0; c < t->ncols; c++) {
    if (c == t->label_col)
      continue;
    pw_recipe_col_t *rc = &r->cols[j++];
    r->ncols = j;
    if ((rc->name = strdup(t->names[c])) == NULL)
      return PC_ENOMEM;
    rc->offset = at;
    int x = t->ignored[c]   ? set_why(rc, "ignored (--ignore)")
            : t->numeric[c] ? fit_numeric(rc, &t->stats[c], t, c, train, n, o)
                            : fit_text(rc, &t->stats[c], t, c, train, n, o);
    if (x != 0)
      return x;
    at += rc->width;
  }
  r->features = at;
  return 0;
}

static int copy_classes(pw_recipe_t *r, const pw_prep_table_t *t) {
  if (t->nclasses == 0)
    return 0;
  if ((r->classes = calloc(t->nclasses, sizeof *r->classes)) == NULL)
    return PC_ENOMEM;
  for (size_t i = 0; i < t->nclasses; i++, r->nclasses = i)
    if ((r->classes[i] = strdup(t->classes[i])) == NULL)
      return PC_ENOMEM;
  return 0;
}

int pw_prep_fit(pw_recipe_t *r, pw_prep_table_t *t, const size_t *train, size_t n,
                const pw_prep_opts_t *o, pc_err_t *err) {
  memset(r, 0, sizeof *r);
  free(t->stats);
  t->stats = calloc(t->ncols, sizeof *t->stats);
  r->cols = calloc(t->ncols, sizeof *r->cols);
  r->labels = t->kind;
  int rc = t->stats && r->cols && (r->label = strdup(t->names[t->label_col])) ? 0 : PC_ENOMEM;
  if (rc == 0) {
    count_missing(t);
    rc = fit_cols(r, t, train, n, o);
  }
  if (rc == 0)
    rc = copy_classes(r, t);
  if (rc == 0 && r->features == 0)
    rc = pc_err_set(err, PC_EDATA, "%s: no feature left: every column but the label is "
                    "constant or missing in the training split", t->path);
  else if (rc != 0 && rc != PC_EDATA)
    rc = pc_err_set(err, rc, "%s: out of memory fitting the encoding", t->path);
  if (rc != 0)
    pw_recipe_free(r);
  return rc;
}

int pw_prep_encode(pw_dataset_t *ds, const pw_recipe_t *r, const pw_prep_table_t *t,
                   const size_t *rows, size_t n, pc_err_t *err) {
  const char **cells = calloc(t->ncols, sizeof *cells);
  int rc = cells == NULL ? pc_err_set(err, PC_ENOMEM, "%s: out of memory", t->path)
                         : pw_recipe_ds_init(ds, r, n, err);
  char why[PW_RECIPE_WHY];
  for (size_t i = 0; rc == 0 && i < n; i++) {
    for (size_t c = 0, j = 0; c < t->ncols; c++)
      if (c != t->label_col)
        cells[j++] = cell(t, rows[i], c);
    /* Rows were checked: a failure here is a broken invariant, still reported. */
    if (pw_recipe_add_row(ds, r, cells, t->label[rows[i]], NULL, why) != 0)
      rc = pc_err_set(err, PC_EDATA, "%s:%llu: %s", t->path,
                      (unsigned long long)t->lineno[rows[i]], why);
  }
  free(cells);
  if (rc != 0 && cells != NULL)
    pw_data_free(ds);
  return rc;
}
