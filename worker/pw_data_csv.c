/* Numeric CSV: comma-separated numbers, one example per line, all rows
 * with the same number of cells. The first line is a header when any of
 * its cells is not a number. One column is the label (opts->label: a
 * header name, or a 0-based column number); the others, in order, are the
 * features 0..columns-2, every one stored (dense). Blank lines are
 * skipped; quoting is not supported (the cells are numbers). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pw_data_util.h"

#define CSV_COLS_MAX ((size_t)1 << 24) /* cells per line: far above any real file */

typedef struct csv {
  const char *name; /* escaped path */
  const pw_data_opts_t *o;
  pw_labeler_t lb;
  pw_build_t b;
  pw_badlines_t bad;
  pw_lines_t lines;
  size_t cols;       /* cells per line, from the first */
  size_t label_col;  /* SIZE_MAX: none (unlabeled data) */
  char *head;        /* the header line, cells NUL-separated (NULL: none) */
  size_t *head_at;   /* [cols] offsets of the names in head */
  uint64_t head_line;/* line of the header or the first row */
  char reason[PW_REASON_MAX];
} csv_t;

static size_t count_cells(const char *s, size_t n) {
  size_t c = 1;
  for (const char *p = s; (p = memchr(p, ',', (size_t)(s + n - p))) != NULL; p++)
    c++;
  return c;
}

/* Cell i of s: [*a, *b) after the cell that ended at *b before. */
static void next_cell(const char *s, size_t n, const char **a, const char **b) {
  const char *e = memchr(*a, ',', (size_t)(s + n - *a));
  *b = e != NULL ? e : s + n;
}

static int all_numbers(const char *s, size_t n) {
  double v;
  for (const char *a = s, *b;; a = b + 1) {
    next_cell(s, n, &a, &b);
    if (pw_parse_number(a, (size_t)(b - a), &v) < 0)
      return 0;
    if (b == s + n)
      return 1;
  }
}

/* A header name, spaces and one pair of double quotes stripped. */
static const char *trim_name(char *a) {
  char *e = a + strlen(a);
  while (*a == ' ' || *a == '\t')
    a++;
  while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
    *--e = '\0';
  if (e - a >= 2 && *a == '"' && e[-1] == '"') {
    e[-1] = '\0';
    a++;
  }
  return a;
}

static int keep_header(csv_t *c, const char *s, size_t n) {
  c->head = malloc(n + 1);
  c->head_at = malloc(c->cols * sizeof *c->head_at);
  if (c->head == NULL || c->head_at == NULL)
    return PC_ENOMEM;
  memcpy(c->head, s, n);
  c->head[n] = '\0';
  /* By the same commas count_cells counted: exactly cols names. */
  char *a = c->head, *end = c->head + n;
  for (size_t i = 0; i < c->cols; i++) {
    char *e = memchr(a, ',', (size_t)(end - a));
    if (e == NULL)
      e = end;
    *e = '\0';
    c->head_at[i] = (size_t)(trim_name(a) - c->head);
    a = e + 1;
  }
  return 0;
}

static const char *col_name(const csv_t *c, size_t i) { return c->head + c->head_at[i]; }

/* A 0-based column number written in decimal, or -1. */
static long long col_number(const char *s) {
  long long v = 0;
  if (*s == '\0')
    return -1;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > 1000000000LL)
      return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

__attribute__((cold)) static int no_such_name(const csv_t *c, const char *label, pc_err_t *err) {
  char list[200] = "";
  size_t o = 0;
  for (size_t i = 0; i < c->cols && o + 8 < sizeof list; i++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", col_name(c, i));
  if (o >= sizeof list - 8)
    snprintf(list + sizeof list - 8, 8, ", ...");
  return pc_err_set(err, PC_EDATA, "%s:%llu: label column '%s' is not in the header (columns: %s)",
                    c->name, (unsigned long long)c->head_line, label, list);
}

/* c->label_col from opts->label: a header name first, else a number. */
static int find_label(csv_t *c, pc_err_t *err) {
  const char *label = c->o->label;
  unsigned long long line = (unsigned long long)c->head_line;
  if (label == NULL || label[0] == '\0') {
    if (c->o->labels_optional) {
      c->label_col = SIZE_MAX;
      return 0;
    }
    return pc_err_set(err, PC_EDATA,
                      "%s: no label column given (data.label: a header name or a 0-based "
                      "column number)", c->name);
  }
  for (size_t i = 0; c->head != NULL && i < c->cols; i++)
    if (strcmp(col_name(c, i), label) == 0) {
      c->label_col = i;
      return 0;
    }
  long long k = col_number(label);
  /* Data to predict on: without its label column, every column is a feature. */
  if (c->o->labels_optional && (k < 0 ? c->head != NULL : (unsigned long long)k >= c->cols)) {
    c->label_col = SIZE_MAX;
    return 0;
  }
  if (k < 0 && c->head != NULL)
    return no_such_name(c, label, err);
  if (k < 0)
    return pc_err_set(err, PC_EDATA,
                      "%s:%llu: label column '%s': the file has no header line (its first "
                      "line is all numbers), so give the column's 0-based number", c->name, line,
                      label);
  if ((unsigned long long)k >= c->cols)
    return pc_err_set(err, PC_EDATA,
                      "%s:%llu: label column %lld does not exist: the file has %zu columns "
                      "(0..%zu)", c->name, line, k, c->cols, c->cols - 1);
  c->label_col = (size_t)k;
  return 0;
}

__attribute__((cold)) static int bad_cell(csv_t *c, size_t i, const char *a, const char *b,
                                          const char *what) {
  char shown[161], col[128];
  pw_data_show(shown, sizeof shown, a, (size_t)(b - a) > 40 ? 40 : (size_t)(b - a), 0);
  if (c->head != NULL)
    snprintf(col, sizeof col, "column %zu ('%.100s')", i, col_name(c, i));
  else
    snprintf(col, sizeof col, "column %zu", i);
  /* Truncation is fine: the reason is a bounded message. */
  int n = snprintf(c->reason, sizeof c->reason, "%s: '", col);
  if (n > 0 && (size_t)n < sizeof c->reason)
    snprintf(c->reason + n, sizeof c->reason - (size_t)n, "%s' %s", shown, what);
  return PW_LINE_BAD;
}

static int label_cell(csv_t *c, size_t i, const char *a, const char *b, float *label) {
  double v;
  const char *p = a;
  while (p < b && (*p == ' ' || *p == '\t'))
    p++;
  if (p == b && c->o->labels_optional) {
    *label = NAN; /* an example without a label, to predict */
    return PW_LINE_OK;
  }
  if (pw_parse_number(a, (size_t)(b - a), &v) < 0)
    return bad_cell(c, i, a, b, "is not a number");
  return pw_label_value(&c->lb, v, label, c->reason);
}

/* One line's cells: features written at ds->nnz.., the label to *label. */
static int parse_cells(csv_t *c, const char *s, size_t n, float *label) {
  pw_dataset_t *ds = c->b.ds;
  size_t j = 0;
  *label = NAN;
  const char *a = s, *b;
  for (size_t i = 0; i < c->cols; i++, a = b + 1) {
    next_cell(s, n, &a, &b);
    if (i == c->label_col) {
      if (label_cell(c, i, a, b, label) != PW_LINE_OK)
        return PW_LINE_BAD;
      continue;
    }
    double v;
    if (pw_parse_number(a, (size_t)(b - a), &v) < 0)
      return bad_cell(c, i, a, b, "is not a number");
    if (!isfinite(v) || fabs(v) > 3.4e38)
      return bad_cell(c, i, a, b, "is not a finite float");
    ds->idx[ds->nnz + j] = j;
    ds->val[ds->nnz + j] = (float)v;
    j++;
  }
  return PW_LINE_OK;
}

static int parse_row(csv_t *c, const char *s, size_t n) {
  size_t got = count_cells(s, n), nf = c->cols - (c->label_col != SIZE_MAX);
  if (got != c->cols) {
    snprintf(c->reason, sizeof c->reason, "expected %zu cells, got %zu", c->cols, got);
    return PW_LINE_BAD;
  }
  if (pw_build_reserve_nnz(&c->b, nf) < 0)
    return PC_ENOMEM;
  float label;
  int rc = parse_cells(c, s, n, &label);
  if (rc != PW_LINE_OK)
    return rc;
  return pw_build_commit(&c->b, label, nf) < 0 ? PC_ENOMEM : PW_LINE_OK;
}

static int row_or_bad(csv_t *c, const char *s, size_t n, pc_err_t *err) {
  int rc = parse_row(c, s, n);
  if (rc == PC_ENOMEM)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory after %zu rows", c->name, c->b.ds->n);
  if (rc == PW_LINE_BAD)
    return pw_bad_line(&c->bad, c->b.ds, c->o, c->name, c->lines.line, c->reason, err);
  return 0;
}

static int is_blank_line(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t')
      return 0;
  return 1;
}

/* Next non-blank line: 1, 0 at the end, < 0 on error. */
static int next_line(csv_t *c, char **s, size_t *n, pc_err_t *err) {
  int rc;
  while ((rc = pw_lines_next(&c->lines, s, n, c->name, err)) == 1)
    if (!is_blank_line(*s, *n))
      return 1;
  return rc;
}

/* The first line: the column count, the header if it is one, the label
 * column; then the first line's row unless it was the header. */
static int first_line(csv_t *c, pc_err_t *err) {
  char *s;
  size_t n;
  int rc = next_line(c, &s, &n, err);
  if (rc <= 0)
    return rc < 0 ? rc : pc_err_set(err, PC_EDATA, "%s: empty file (no rows)", c->name);
  c->head_line = c->lines.line;
  c->cols = count_cells(s, n);
  if (c->cols > CSV_COLS_MAX)
    return pc_err_set(err, PC_EDATA, "%s:%llu: %zu cells, more than %zu", c->name,
                      (unsigned long long)c->head_line, c->cols, CSV_COLS_MAX);
  int header = !all_numbers(s, n);
  if (header && keep_header(c, s, n) < 0)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for the header", c->name);
  if ((rc = find_label(c, err)) < 0)
    return rc;
  uint64_t nf = c->cols - (c->label_col != SIZE_MAX);
  if (nf == 0 || (c->o->features > 0 && nf > c->o->features))
    return pc_err_set(err, PC_EDATA, "%s:%llu: %llu feature columns (%s)", c->name,
                      (unsigned long long)c->head_line, (unsigned long long)nf,
                      nf == 0 ? "none besides the label" : "more than model.features");
  return header ? 0 : row_or_bad(c, s, n, err);
}

static void set_shape(pw_dataset_t *ds, uint64_t nf) {
  ds->shape = (pw_shape_t){.features = nf, .dense = 1};
  uint64_t side = (uint64_t)llround(sqrt((double)nf));
  if (side >= 2 && side * side == nf) /* 8x8 digits, 28x28 MNIST as CSV */
    ds->shape.height = ds->shape.width = (uint32_t)side, ds->shape.channels = 1;
  ds->max_index = nf - 1;
}

static int csv_rows(csv_t *c, pc_err_t *err) {
  int rc = first_line(c, err);
  char *s;
  size_t n;
  while (rc == 0 && (rc = next_line(c, &s, &n, err)) == 1)
    rc = row_or_bad(c, s, n, err);
  if (rc < 0)
    return rc;
  if (c->b.ds->n == 0)
    return pc_err_set(err, PC_EDATA, "%s: no data rows%s", c->name,
                      c->head != NULL ? " after the header line" : "");
  set_shape(c->b.ds, c->cols - (c->label_col != SIZE_MAX));
  return 0;
}

int pw_data_load_csv(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                     pc_err_t *err) {
  char name[PW_NAME_MAX];
  pw_data_show(name, sizeof name, path, strlen(path), 1);
  csv_t c = {.name = name, .o = opts, .label_col = SIZE_MAX};
  pw_labeler_init(&c.lb, opts);
  if (pw_build_init(&c.b, ds) < 0) {
    pw_data_free(ds);
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory", name);
  }
  int rc = pw_lines_open(&c.lines, path, name, err);
  if (rc == 0)
    rc = csv_rows(&c, err);
  pw_lines_close(&c.lines);
  free(c.head);
  free(c.head_at);
  if (rc < 0)
    pw_data_free(ds);
  return rc;
}
