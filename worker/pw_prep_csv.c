/* `parasol prep` on a CSV: the header, the label column, the column kinds
 * and the row checks (pw_prep_int.h; docs/prep.md says what is dropped). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc_hash.h"
#include "pw_prep_int.h"

#define PREP_MAX_CLASSES 65536

static const char *const drop_names[PW_DROP_N] = {"ragged",  "label",     "infinite",  "text",
                                                  "missing", "duplicate", "bad_record"};

const char *pw_drop_name(pw_drop_t d) { return (unsigned)d < PW_DROP_N ? drop_names[d] : "?"; }

void pw_drops_add(pw_drops_t *d, pw_drop_t why, uint64_t line, const char *detail) {
  if (d->count[why] < PW_DROP_LINES)
    d->lines[why][d->count[why]] = line;
  if (d->count[why]++ == 0)
    snprintf(d->first[why], sizeof d->first[why], "%s", detail);
}

uint64_t pw_drops_total(const pw_drops_t *d) {
  uint64_t n = 0;
  for (int i = 0; i < PW_DROP_N; i++)
    n += d->count[i];
  return n;
}

/* A working row: its cells and whether (and why) it is dropped. */
typedef struct rows {
  const char **cells;   /* [n * ncols] */
  uint64_t *lineno;     /* [n] */
  unsigned char *gone;  /* [n] */
  float *label;         /* [n] */
  size_t n;
} rows_t;

static void rows_free(rows_t *w) {
  free(w->cells);
  free(w->lineno);
  free(w->gone);
  free(w->label);
}

/* ---- header and label column ---- */

static int read_header(pw_prep_table_t *t, pc_err_t *err) {
  unsigned long long line = (unsigned long long)t->text.lineno[0];
  t->ncols = pw_csv_cells(t->text.line[0], NULL, 0);
  if ((t->names = calloc(t->ncols, sizeof *t->names)) == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory", t->path);
  pw_csv_cells(t->text.line[0], t->names, t->ncols);
  if (t->ncols < 2)
    return pc_err_set(err, PC_EDATA, "%s:%llu: the header names one column: a label and at "
                      "least one feature are needed (is the file comma-separated?)", t->path, line);
  size_t numbers = 0;
  double v;
  for (size_t i = 0; i < t->ncols; i++)
    numbers += pw_csv_number(t->names[i], &v) == 0;
  if (numbers == t->ncols)
    return pc_err_set(err, PC_EDATA, "%s:%llu: the first line is all numbers: prep needs a "
                      "header line naming the columns", t->path, line);
  for (size_t i = 0; i < t->ncols; i++)
    for (size_t j = 0; j < i; j++)
      if (strcmp(t->names[i], t->names[j]) == 0)
        return pc_err_set(err, PC_EDATA, "%s:%llu: column name '%s' appears twice (columns %zu "
                          "and %zu)", t->path, line, t->names[i], j, i);
  return 0;
}

static int find_label(pw_prep_table_t *t, const char *label, pc_err_t *err) {
  if (label == NULL) {
    t->label_col = t->ncols - 1;
    return 0;
  }
  for (size_t i = 0; i < t->ncols; i++)
    if (strcmp(t->names[i], label) == 0) {
      t->label_col = i;
      return 0;
    }
  char *end = NULL;
  unsigned long v = strtoul(label, &end, 10);
  if (end != label && *end == '\0' && label[0] >= '0' && label[0] <= '9' && v < t->ncols) {
    t->label_col = v;
    return 0;
  }
  char list[240] = "";
  for (size_t i = 0, o = 0; i < t->ncols && o < sizeof list - 6; i++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", t->names[i]);
  return pc_err_set(err, PC_EDATA, "%s:%llu: --label %s: no such column (columns: %s)", t->path,
                    (unsigned long long)t->text.lineno[0], label, list);
}

/* --ignore COL[,COL...]: each a header name, not the label. */
static int find_ignored(pw_prep_table_t *t, const char *list, pc_err_t *err) {
  if ((t->ignored = calloc(t->ncols, 1)) == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory", t->path);
  for (const char *p = list; p != NULL && *p != '\0';) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p), c = 0;
    while (c < t->ncols && !(strlen(t->names[c]) == len && memcmp(t->names[c], p, len) == 0))
      c++;
    if (c == t->ncols)
      return pc_err_set(err, PC_EDATA, "--ignore %s: %s has no column '%.*s'", list, t->path,
                        (int)len, p);
    if (c == t->label_col)
      return pc_err_set(err, PC_EDATA, "--ignore %s: '%.*s' is the label column", list,
                        (int)len, p);
    t->ignored[c] = 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

/* ---- cells, column kinds ---- */

static int cut_rows(pw_prep_table_t *t, rows_t *w, pc_err_t *err) {
  w->n = t->text.nlines - 1;
  size_t m = w->n + 1;
  if (m >= SIZE_MAX / sizeof(char *) / t->ncols)
    return pc_err_set(err, PC_ENOMEM, "%s: too many cells", t->path);
  w->cells = calloc(m * t->ncols, sizeof *w->cells);
  w->lineno = calloc(m, sizeof *w->lineno);
  w->gone = calloc(m, 1);
  w->label = calloc(m, sizeof *w->label);
  if (w->cells == NULL || w->lineno == NULL || w->gone == NULL || w->label == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for %zu rows", t->path, w->n);
  char why[PW_DROP_WHY];
  for (size_t i = 0; i < w->n; i++) {
    w->lineno[i] = t->text.lineno[i + 1];
    size_t k = pw_csv_cells(t->text.line[i + 1], (char **)w->cells + i * t->ncols, t->ncols);
    if (k == t->ncols)
      continue;
    snprintf(why, sizeof why, "%zu cells, the header has %zu", k, t->ncols);
    pw_drops_add(&t->drops, PW_DROP_RAGGED, w->lineno[i], why);
    w->gone[i] = 1;
  }
  return 0;
}

/* A column is numeric when at least half its present cells are numbers. */
static void find_kinds(pw_prep_table_t *t, const rows_t *w) {
  for (size_t c = 0; c < t->ncols; c++) {
    size_t present = 0, numbers = 0;
    double v;
    for (size_t i = 0; i < w->n; i++) {
      const char *s = w->cells[i * t->ncols + c];
      if (w->gone[i] || pw_csv_missing(s))
        continue;
      present++;
      numbers += pw_csv_number(s, &v) == 0;
    }
    t->numeric[c] = numbers > 0 && 2 * numbers >= present;
  }
}

/* ---- row checks: features ---- */

/* 0: keep; else the reason, with why. */
static int check_cell(const pw_prep_table_t *t, size_t c, const char *s, pw_missing_t missing,
                      char *why) {
  double v;
  if (pw_csv_missing(s)) {
    snprintf(why, PW_DROP_WHY, "column '%s' is missing", t->names[c]);
    return missing == PW_MISSING_DROP ? PW_DROP_MISSING + 1 : 0;
  }
  if (!t->numeric[c])
    return 0;
  if (pw_csv_number(s, &v) != 0) {
    snprintf(why, PW_DROP_WHY, "column '%s': '%.40s' is not a number", t->names[c], s);
    return PW_DROP_TEXT + 1;
  }
  if (!isfinite(v)) {
    snprintf(why, PW_DROP_WHY, "column '%s': '%.40s' is infinite", t->names[c], s);
    return PW_DROP_INFINITE + 1;
  }
  return 0;
}

static void check_features(pw_prep_table_t *t, rows_t *w, pw_missing_t missing) {
  char why[PW_DROP_WHY];
  for (size_t i = 0; i < w->n; i++)
    for (size_t c = 0; !w->gone[i] && c < t->ncols; c++) {
      int r = c == t->label_col || t->ignored[c]
                  ? 0
                  : check_cell(t, c, w->cells[i * t->ncols + c], missing, why);
      if (r != 0) {
        pw_drops_add(&t->drops, (pw_drop_t)(r - 1), w->lineno[i], why);
        w->gone[i] = 1;
      }
    }
}

/* ---- duplicates ---- */

static uint64_t row_hash(const char *const *cells, size_t n) {
  uint64_t h = PC_HASH_FNV_SEED;
  for (size_t c = 0; c < n; c++)
    h = pc_hash_fnv1a(cells[c], strlen(cells[c]) + 1, h); /* the NUL separates cells */
  return h;
}

static int same_row(const char *const *a, const char *const *b, size_t n) {
  for (size_t c = 0; c < n; c++)
    if (strcmp(a[c], b[c]) != 0)
      return 0;
  return 1;
}

static int drop_duplicates(pw_prep_table_t *t, rows_t *w, pc_err_t *err) {
  size_t cap = 16;
  while (cap < 2 * w->n + 2)
    cap *= 2;
  size_t *slot = malloc(cap * sizeof *slot);
  if (slot == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for duplicate search", t->path);
  memset(slot, 0xff, cap * sizeof *slot);
  char why[PW_DROP_WHY];
  for (size_t i = 0; i < w->n; i++) {
    const char *const *row = w->cells + i * t->ncols;
    if (w->gone[i])
      continue;
    size_t s = (size_t)row_hash(row, t->ncols) & (cap - 1);
    for (; slot[s] != SIZE_MAX; s = (s + 1) & (cap - 1))
      if (same_row(w->cells + slot[s] * t->ncols, row, t->ncols))
        break;
    if (slot[s] == SIZE_MAX) {
      slot[s] = i;
      continue;
    }
    snprintf(why, sizeof why, "the same as line %llu", (unsigned long long)w->lineno[slot[s]]);
    pw_drops_add(&t->drops, PW_DROP_DUPLICATE, w->lineno[i], why);
    w->gone[i] = 1;
  }
  free(slot);
  return 0;
}

/* ---- labels ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_integer(double v) { return isfinite(v) && v == floor(v) && fabs(v) < 1e15; }

/* Sorted distinct values of the live rows' labels: numbers (vals) when
 * numeric, else texts (strs); *allint: every number is an integer. */
static size_t distinct_labels(const pw_prep_table_t *t, const rows_t *w, double *vals,
                              const char **strs, int *allint) {
  size_t n = 0, lc = t->label_col;
  double v;
  *allint = 1;
  for (size_t i = 0; i < w->n; i++) {
    const char *s = w->cells[i * t->ncols + lc];
    if (w->gone[i] || pw_csv_missing(s))
      continue;
    if (!t->numeric[lc])
      strs[n++] = s;
    else if (pw_csv_number(s, &v) == 0 && isfinite(v)) {
      vals[n++] = v;
      *allint &= is_integer(v);
    }
  }
  if (t->numeric[lc])
    qsort(vals, n, sizeof *vals, cmp_double);
  else
    qsort(strs, n, sizeof *strs, cmp_str);
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (m == 0 || (t->numeric[lc] ? vals[i] != vals[m - 1] : strcmp(strs[i], strs[m - 1]) != 0)) {
      if (t->numeric[lc])
        vals[m++] = vals[i];
      else
        strs[m++] = strs[i];
    }
  return m;
}

static int keep_classes(pw_prep_table_t *t, const double *vals, const char **strs, size_t m,
                        pc_err_t *err) {
  if (m > PREP_MAX_CLASSES)
    return pc_err_set(err, PC_EDATA, "%s: label column '%s' has %zu distinct values, above %d "
                      "classes (use --kind real for a number to predict)", t->path,
                      t->names[t->label_col], m, PREP_MAX_CLASSES);
  if ((t->classes = calloc(m + 1, sizeof *t->classes)) == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory", t->path);
  for (size_t i = 0; i < m; i++) {
    char num[40];
    if (t->numeric[t->label_col])
      snprintf(num, sizeof num, "%.17g", vals[i]);
    if ((t->classes[i] = strdup(t->numeric[t->label_col] ? num : strs[i])) == NULL)
      return pc_err_set(err, PC_ENOMEM, "%s: out of memory", t->path);
    t->nclasses = i + 1;
  }
  return 0;
}

/* --kind binary with more than two label values: the two most frequent
 * are the classes (in their sorted order); rows with others are dropped. */
static int top_two(const pw_prep_table_t *t, const rows_t *w, double *vals, const char **strs,
                   size_t m, size_t *out, pc_err_t *err) {
  size_t *count = calloc(m, sizeof *count), a = 0, b = 1, lc = t->label_col;
  if (count == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory", t->path);
  for (size_t i = 0; i < w->n; i++) {
    const char *s = w->cells[i * t->ncols + lc];
    double v;
    if (w->gone[i] || pw_csv_missing(s))
      continue;
    void *hit = !t->numeric[lc] ? bsearch(&s, strs, m, sizeof *strs, cmp_str)
                : pw_csv_number(s, &v) == 0 ? bsearch(&v, vals, m, sizeof *vals, cmp_double)
                                            : NULL;
    if (hit != NULL && t->numeric[lc])
      count[(double *)hit - vals]++;
    else if (hit != NULL)
      count[(const char **)hit - strs]++;
  }
  for (size_t i = 0; i < m; i++)
    if (count[i] > count[a] || (count[i] > count[b] && i != a)) {
      b = count[i] > count[a] ? a : i;
      a = count[i] > count[a] ? i : a;
    }
  size_t lo = a < b ? a : b, hi = a < b ? b : a;
  if (t->numeric[lc]) {
    vals[0] = vals[lo];
    vals[1] = vals[hi];
  } else {
    strs[0] = strs[lo];
    strs[1] = strs[hi];
  }
  free(count);
  *out = 2;
  return 0;
}

static size_t only_integers(double *v, size_t m) {
  size_t k = 0;
  for (size_t i = 0; i < m; i++)
    if (is_integer(v[i]))
      v[k++] = v[i];
  return k;
}

static int choose_kind(pw_prep_table_t *t, const rows_t *w, const pw_prep_opts_t *o,
                       pc_err_t *err) {
  double *vals = malloc((w->n + 1) * sizeof *vals);
  const char **strs = malloc((w->n + 1) * sizeof *strs);
  int allint = 1, rc = 0;
  size_t m = vals && strs ? distinct_labels(t, w, vals, strs, &allint) : 0;
  if (vals == NULL || strs == NULL)
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory", t->path);
  t->kind = o->labels;
  if (o->labels_auto)
    t->kind = t->numeric[t->label_col] && !allint ? PW_LABEL_REAL
              : m == 2 ? PW_LABEL_BINARY : PW_LABEL_CLASS;
  if (rc == 0 && t->kind != PW_LABEL_REAL && t->numeric[t->label_col])
    m = only_integers(vals, m); /* 2.5 is no class: its rows are dropped */
  if (rc == 0 && t->kind == PW_LABEL_BINARY && m > 2)
    rc = top_two(t, w, vals, strs, m, &m, err);
  /* m == 0: every row's label is bad, keep_rows says so with an example. */
  if (rc == 0 && t->kind != PW_LABEL_REAL && m == 1)
    rc = pc_err_set(err, PC_EDATA, "%s: the label column '%s' has 1 distinct value: "
                    "nothing to tell apart (use --kind real for a number)", t->path,
                    t->names[t->label_col]);
  if (rc == 0 && t->kind != PW_LABEL_REAL)
    rc = keep_classes(t, vals, strs, m, err);
  free(vals);
  free(strs);
  return rc;
}

static int class_of(const pw_prep_table_t *t, const char *s, float *out, char *why) {
  double v;
  char num[40];
  if (t->numeric[t->label_col]) {
    if (pw_csv_number(s, &v) != 0 || !isfinite(v))
      return pc_why(why, PW_DROP_WHY, "label '%.40s' is not a number", s);
    if (!is_integer(v))
      return pc_why(why, PW_DROP_WHY, "label '%.40s' is not an integer class", s);
    snprintf(num, sizeof num, "%.17g", v);
    s = num;
  }
  for (size_t i = 0; i < t->nclasses; i++)
    if (strcmp(t->classes[i], s) == 0) {
      *out = (float)i;
      return 0;
    }
  return pc_why(why, PW_DROP_WHY, "label '%.40s' is not one of the classes", s);
}

static int label_of(const pw_prep_table_t *t, const char *s, float *out, char *why) {
  double v;
  if (pw_csv_missing(s))
    return pc_why(why, PW_DROP_WHY, "the label is missing");
  if (t->kind != PW_LABEL_REAL)
    return class_of(t, s, out, why);
  if (pw_csv_number(s, &v) != 0 || !isfinite(v))
    return pc_why(why, PW_DROP_WHY, "label '%.40s' is not a finite number", s);
  *out = (float)v;
  return 0;
}

static void check_labels(pw_prep_table_t *t, rows_t *w) {
  char why[PW_DROP_WHY];
  for (size_t i = 0; i < w->n; i++)
    if (!w->gone[i] && label_of(t, w->cells[i * t->ncols + t->label_col], &w->label[i], why)) {
      pw_drops_add(&t->drops, PW_DROP_LABEL, w->lineno[i], why);
      w->gone[i] = 1;
    }
}

/* ---- the kept rows ---- */

static int keep_rows(pw_prep_table_t *t, rows_t *w, pc_err_t *err) {
  size_t k = 0;
  for (size_t i = 0; i < w->n; i++) {
    if (w->gone[i])
      continue;
    memmove(w->cells + k * t->ncols, w->cells + i * t->ncols, t->ncols * sizeof *w->cells);
    w->lineno[k] = w->lineno[i];
    w->label[k++] = w->label[i];
  }
  t->cells = w->cells;
  t->lineno = w->lineno;
  t->label = w->label;
  t->nrows = k;
  w->cells = NULL;
  w->lineno = NULL;
  w->label = NULL;
  for (int d = 0; k == 0 && d < PW_DROP_N; d++)
    if (t->drops.count[d] > 0)
      return pc_err_set(err, PC_EDATA, "%s: all %llu rows were dropped (e.g. line %llu: %s: %s)",
                        t->path, (unsigned long long)t->rows_in,
                        (unsigned long long)t->drops.lines[d][0], drop_names[d],
                        t->drops.first[d]);
  return 0;
}

static int read_rows(pw_prep_table_t *t, const pw_prep_opts_t *o, pc_err_t *err) {
  rows_t w = {0};
  int rc = cut_rows(t, &w, err);
  t->rows_in = w.n;
  if (rc == 0 && w.n == 0)
    rc = pc_err_set(err, PC_EDATA, "%s: no data rows after the header (line %llu)", t->path,
                    (unsigned long long)t->text.lineno[0]);
  if (rc == 0 && (t->numeric = calloc(t->ncols, 1)) == NULL)
    rc = pc_err_set(err, PC_ENOMEM, "%s: out of memory", t->path);
  if (rc == 0) {
    find_kinds(t, &w);
    check_features(t, &w, o->missing);
    rc = choose_kind(t, &w, o, err);
  }
  if (rc == 0) {
    check_labels(t, &w);
    rc = drop_duplicates(t, &w, err);
  }
  if (rc == 0)
    rc = keep_rows(t, &w, err);
  rows_free(&w);
  return rc;
}

int pw_prep_csv_read(pw_prep_table_t *t, const pw_prep_opts_t *o, pc_err_t *err) {
  memset(t, 0, sizeof *t);
  t->path = o->input;
  int rc = pw_csvtext_read(&t->text, o->input, err);
  if (rc == 0)
    rc = read_header(t, err);
  if (rc == 0)
    rc = find_label(t, o->label, err);
  if (rc == 0)
    rc = find_ignored(t, o->ignore, err);
  if (rc == 0)
    rc = read_rows(t, o, err);
  if (rc != 0)
    pw_prep_table_free(t);
  return rc;
}

void pw_prep_table_free(pw_prep_table_t *t) {
  pw_csvtext_free(&t->text);
  free(t->names);
  free(t->numeric);
  free(t->ignored);
  free(t->cells);
  free(t->lineno);
  free(t->label);
  for (size_t i = 0; t->classes != NULL && i < t->nclasses; i++)
    free(t->classes[i]);
  free(t->classes);
  free(t->stats);
  memset(t, 0, sizeof *t);
}
