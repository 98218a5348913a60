/* The encoding recipe: JSON in and out, encoding one row (pw_recipe.h). */
#include "pw_recipe.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pc_hash.h"
#include "pw_csvtext.h"

#define RECIPE_VERSION 1
#define RECIPE_MAX_COLS ((size_t)1 << 20)
#define RECIPE_MAX_WIDTH ((uint64_t)1 << 24)

static const char *const col_kinds[] = {"numeric", "onehot", "hashed", "dropped"};
static const char *const label_kinds[] = {"binary", "class", "real"};

const char *pw_col_kind_name(pw_col_kind_t k) {
  return (unsigned)k < 4 ? col_kinds[k] : "?";
}

const char *pw_label_kind_name(pw_label_kind_t k) {
  return (unsigned)k < 3 ? label_kinds[k] : "?";
}

static int name_index(const char *const *names, size_t n, const char *s) {
  for (size_t i = 0; s != NULL && i < n; i++)
    if (strcmp(names[i], s) == 0)
      return (int)i;
  return -1;
}

/* ---- free ---- */

static void free_strs(char **s, size_t n) {
  for (size_t i = 0; s != NULL && i < n; i++)
    free(s[i]);
  free(s);
}

void pw_recipe_free(pw_recipe_t *r) {
  if (r == NULL)
    return;
  free(r->label);
  free_strs(r->classes, r->nclasses);
  for (size_t i = 0; r->cols != NULL && i < r->ncols; i++) {
    free(r->cols[i].name);
    free_strs(r->cols[i].cats, r->cols[i].ncats);
    free(r->cols[i].why);
  }
  free(r->cols);
  memset(r, 0, sizeof *r);
}

/* ---- to JSON ---- */

static json_t *strs_json(char *const *s, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++)
    if (json_array_append_new(a, json_string(s[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static json_t *col_json(const pw_recipe_col_t *c) {
  json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "name", c->name, "kind", pw_col_kind_name(c->kind),
                        "offset", (json_int_t)c->offset, "width", (json_int_t)c->width);
  int bad = o == NULL;
  if (!bad && c->kind == PW_COL_NUMERIC)
    bad = json_object_set_new(o, "impute", json_real(c->impute)) != 0;
  if (!bad && c->kind == PW_COL_ONEHOT)
    bad = json_object_set_new(o, "categories", strs_json(c->cats, c->ncats)) != 0;
  if (!bad && c->kind == PW_COL_DROPPED)
    bad = json_object_set_new(o, "why", json_string(c->why ? c->why : "")) != 0;
  if (bad)
    json_decref(o);
  return bad ? NULL : o;
}

static json_t *recipe_json(const pw_recipe_t *r) {
  json_t *cols = json_array();
  for (size_t i = 0; cols != NULL && i < r->ncols; i++)
    if (json_array_append_new(cols, col_json(&r->cols[i])) != 0) {
      json_decref(cols);
      return NULL;
    }
  return json_pack("{s:i, s:s, s:s, s:o, s:I, s:o}", "version", RECIPE_VERSION, "label",
                   r->label ? r->label : "", "labels", pw_label_kind_name(r->labels), "classes",
                   strs_json(r->classes, r->nclasses), "features", (json_int_t)r->features,
                   "columns", cols);
}

int pw_recipe_to_json(const pw_recipe_t *r, char **json, pc_err_t *err) {
  *json = NULL;
  json_t *o = recipe_json(r);
  if (o != NULL)
    *json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return *json != NULL ? 0 : pc_err_set(err, PC_ENOMEM, "recipe: out of memory for its JSON");
}

/* ---- from JSON ---- */

static int strs_from(json_t *a, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!json_is_array(a))
    return -1;
  size_t m = json_array_size(a);
  if (m > RECIPE_MAX_WIDTH || (m > 0 && (*out = calloc(m, sizeof **out)) == NULL))
    return -1;
  for (size_t i = 0; i < m; i++) {
    const char *s = json_string_value(json_array_get(a, i));
    if (s == NULL || ((*out)[i] = strdup(s)) == NULL)
      return -1;
    *n = i + 1;
  }
  return 0;
}

/* Categories sorted and unique: the encoder looks them up by bsearch. */
static int sorted_unique(char *const *s, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (strcmp(s[i - 1], s[i]) >= 0)
      return 0;
  return 1;
}

static int col_from(pw_recipe_col_t *c, json_t *o, uint64_t at, char *why, size_t len) {
  const char *name = json_string_value(json_object_get(o, "name"));
  int kind = name_index(col_kinds, 4, json_string_value(json_object_get(o, "kind")));
  json_t *off = json_object_get(o, "offset"), *w = json_object_get(o, "width");
  if (name == NULL || kind < 0 || !json_is_integer(off) || !json_is_integer(w))
    return pc_why(why, len, "needs name, kind (numeric, onehot, hashed, dropped), offset, width");
  if ((c->name = strdup(name)) == NULL)
    return pc_why(why, len, "out of memory");
  c->kind = (pw_col_kind_t)kind;
  json_int_t wv = json_integer_value(w);
  if (json_integer_value(off) != (json_int_t)at || wv < 0 || (uint64_t)wv > RECIPE_MAX_WIDTH)
    return pc_why(why, len, "'%s': offset %lld width %lld, expected offset %llu", name,
                    (long long)json_integer_value(off), (long long)wv, (unsigned long long)at);
  c->offset = at;
  c->width = (uint64_t)wv;
  if (kind == PW_COL_NUMERIC) {
    c->impute = json_number_value(json_object_get(o, "impute"));
    if (c->width != 1 || !json_is_number(json_object_get(o, "impute")) || !isfinite(c->impute))
      return pc_why(why, len, "numeric column '%s' needs width 1 and a finite impute", name);
  } else if (kind == PW_COL_ONEHOT) {
    if (strs_from(json_object_get(o, "categories"), &c->cats, &c->ncats) != 0 ||
        c->ncats != c->width || !sorted_unique(c->cats, c->ncats))
      return pc_why(why, len, "onehot column '%s' needs width sorted, unique categories",
                      name);
  } else if ((kind == PW_COL_HASHED) != (c->width > 0)) {
    return pc_why(why, len, "column '%s': a %s column of width %llu", name, col_kinds[kind],
                    (unsigned long long)c->width);
  } else if (kind == PW_COL_DROPPED) {
    const char *y = json_string_value(json_object_get(o, "why"));
    if ((c->why = strdup(y ? y : "")) == NULL)
      return pc_why(why, len, "out of memory");
  }
  return 0;
}

static int cols_from(pw_recipe_t *r, json_t *a, char *why, size_t len) {
  size_t n = json_array_size(a);
  if (!json_is_array(a) || n == 0 || n > RECIPE_MAX_COLS)
    return pc_why(why, len, "\"columns\" must be a non-empty array");
  if ((r->cols = calloc(n, sizeof *r->cols)) == NULL)
    return pc_why(why, len, "out of memory");
  uint64_t at = 0;
  for (size_t i = 0; i < n; i++) {
    r->ncols = i + 1;
    if (col_from(&r->cols[i], json_array_get(a, i), at, why, len) != 0)
      return -1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(r->cols[j].name, r->cols[i].name) == 0)
        return pc_why(why, len, "column '%s' appears twice", r->cols[i].name);
    at += r->cols[i].width;
  }
  r->features = at;
  return 0;
}

static int recipe_from(pw_recipe_t *r, json_t *o, char *why, size_t len) {
  if (!json_is_object(o) || json_integer_value(json_object_get(o, "version")) != RECIPE_VERSION)
    return pc_why(why, len, "not a version %d recipe object", RECIPE_VERSION);
  const char *label = json_string_value(json_object_get(o, "label"));
  int kind = name_index(label_kinds, 3, json_string_value(json_object_get(o, "labels")));
  if (label == NULL || kind < 0 || (r->label = strdup(label)) == NULL)
    return pc_why(why, len, "needs \"label\" and \"labels\" (binary, class, real)");
  r->labels = (pw_label_kind_t)kind;
  if (strs_from(json_object_get(o, "classes"), &r->classes, &r->nclasses) != 0 ||
      (kind == PW_LABEL_BINARY && r->nclasses != 2) || (kind == PW_LABEL_REAL && r->nclasses))
    return pc_why(why, len, "\"classes\": 2 for binary labels, none for real ones");
  if (cols_from(r, json_object_get(o, "columns"), why, len) != 0)
    return -1;
  json_t *f = json_object_get(o, "features");
  if (!json_is_integer(f) || (uint64_t)json_integer_value(f) != r->features)
    return pc_why(why, len, "\"features\" is not the sum of the columns' widths (%llu)",
                    (unsigned long long)r->features);
  return 0;
}

int pw_recipe_from_json(pw_recipe_t *r, const char *json, size_t len, const char *what,
                        pc_err_t *err) {
  memset(r, 0, sizeof *r);
  json_error_t je;
  json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  if (o == NULL)
    return pc_err_set(err, PC_EDATA, "%s: recipe: not JSON (%s at character %d)", what, je.text,
                      je.position);
  char why[PW_RECIPE_WHY] = "";
  int rc = recipe_from(r, o, why, sizeof why);
  json_decref(o);
  if (rc == 0)
    return 0;
  pw_recipe_free(r);
  return pc_err_set(err, PC_EDATA, "%s: recipe: %s", what, why);
}

/* ---- encoding ---- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int encode_col(const pw_recipe_col_t *c, const char *cell, uint64_t *idx, float *val,
                      size_t *k, uint64_t *unknown, char *why) {
  int missing = cell == NULL || pw_csv_missing(cell);
  double x = 0;
  if (c->kind == PW_COL_NUMERIC) {
    if (!missing && (pw_csv_number(cell, &x) != 0 || !isfinite(x)))
      return pc_why(why, PW_RECIPE_WHY, "column '%s': '%.40s' is not a finite number",
                      c->name, cell);
    idx[*k] = c->offset;
    val[(*k)++] = (float)(missing ? c->impute : x);
  } else if (c->kind == PW_COL_ONEHOT && !missing) {
    char *const *hit = bsearch(&cell, c->cats, c->ncats, sizeof *c->cats, cmp_str);
    if (hit == NULL && unknown != NULL)
      (*unknown)++;
    if (hit != NULL) {
      idx[*k] = c->offset + (uint64_t)(hit - c->cats);
      val[(*k)++] = 1.0f;
    }
  } else if (c->kind == PW_COL_HASHED && !missing) {
    idx[*k] = c->offset + pc_hash_fnv1a(cell, strlen(cell), PC_HASH_FNV_SEED) % c->width;
    val[(*k)++] = 1.0f;
  }
  return 0;
}

int pw_recipe_encode(const pw_recipe_t *r, const char *const *cells, uint64_t *idx, float *val,
                     size_t *k, uint64_t *unknown, char *why) {
  *k = 0;
  for (size_t i = 0; i < r->ncols; i++)
    if (encode_col(&r->cols[i], cells[i], idx, val, k, unknown, why) != 0)
      return -1;
  return 0;
}

int pw_recipe_label(const pw_recipe_t *r, const char *cell, float *out, char *why) {
  double x;
  if (r->labels == PW_LABEL_REAL) {
    if (pw_csv_missing(cell) || pw_csv_number(cell, &x) != 0 || !isfinite(x))
      return pc_why(why, PW_RECIPE_WHY, "label '%.40s' is not a finite number", cell);
    *out = (float)x;
    return 0;
  }
  int i = name_index((const char *const *)r->classes, r->nclasses, cell);
  char canon[40];
  /* Numeric classes are kept as "%.17g" text: "1.0" is class "1". */
  if (i < 0 && pw_csv_number(cell, &x) == 0 && isfinite(x)) {
    snprintf(canon, sizeof canon, "%.17g", x);
    i = name_index((const char *const *)r->classes, r->nclasses, canon);
  }
  if (i < 0)
    return pc_why(why, PW_RECIPE_WHY, "label '%.40s' is not one of the %zu classes", cell,
                    r->nclasses);
  *out = (float)i;
  return 0;
}

/* ---- a raw CSV through the recipe ---- */

int pw_recipe_ds_init(pw_dataset_t *ds, const pw_recipe_t *r, size_t n, pc_err_t *err) {
  memset(ds, 0, sizeof *ds);
  size_t w = r->ncols > 0 ? r->ncols : 1;
  if (n >= SIZE_MAX / 16 / w)
    return pc_err_set(err, PC_ENOMEM, "%zu rows of %zu columns: too large", n, r->ncols);
  ds->label = malloc((n + 1) * sizeof *ds->label);
  ds->row = calloc(n + 1, sizeof *ds->row);
  ds->idx = malloc(n * w * sizeof *ds->idx + 1);
  ds->val = malloc(n * w * sizeof *ds->val + 1);
  if (ds->label == NULL || ds->row == NULL || ds->idx == NULL || ds->val == NULL) {
    pw_data_free(ds);
    return pc_err_set(err, PC_ENOMEM, "out of memory for %zu rows", n);
  }
  int dense = 1;
  for (size_t i = 0; i < r->ncols; i++)
    dense &= r->cols[i].kind == PW_COL_NUMERIC || r->cols[i].kind == PW_COL_DROPPED;
  ds->shape.features = r->features;
  ds->shape.dense = dense;
  return 0;
}

int pw_recipe_add_row(pw_dataset_t *ds, const pw_recipe_t *r, const char *const *cells,
                      float label, uint64_t *unknown, char *why) {
  size_t k = 0;
  if (pw_recipe_encode(r, cells, ds->idx + ds->nnz, ds->val + ds->nnz, &k, unknown, why) != 0)
    return -1;
  for (size_t i = 0; i < k; i++)
    if (ds->idx[ds->nnz + i] > ds->max_index)
      ds->max_index = ds->idx[ds->nnz + i];
  ds->label[ds->n] = label;
  ds->nnz += k;
  ds->row[++ds->n] = ds->nnz;
  return 0;
}

typedef struct csvmap {
  size_t ncells;   /* header cells */
  size_t *at;      /* [r->ncols] header cell of each recipe column */
  long label;      /* header cell of the label, -1: absent */
  char **cells;    /* [ncells] a line's cells */
  const char **rc; /* [r->ncols] them in recipe order */
} csvmap_t;

static void csvmap_free(csvmap_t *m) {
  free(m->at);
  free(m->cells);
  free(m->rc);
}

static int map_header(csvmap_t *m, const pw_recipe_t *r, pw_csvtext_t *t, const char *path,
                      int labels_optional, pc_err_t *err) {
  unsigned long long line = (unsigned long long)t->lineno[0];
  m->ncells = pw_csv_cells(t->line[0], NULL, 0);
  m->cells = calloc(m->ncells, sizeof *m->cells);
  m->at = calloc(r->ncols + 1, sizeof *m->at);
  m->rc = calloc(r->ncols + 1, sizeof *m->rc);
  if (m->cells == NULL || m->at == NULL || m->rc == NULL)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory for the header", path);
  pw_csv_cells(t->line[0], m->cells, m->ncells);
  m->label = name_index((const char *const *)m->cells, m->ncells, r->label);
  if (m->label < 0 && !labels_optional)
    return pc_err_set(err, PC_EDATA, "%s:%llu: the label column '%s' is not in the header", path,
                      line, r->label);
  for (size_t i = 0; i < r->ncols; i++) {
    int h = name_index((const char *const *)m->cells, m->ncells, r->cols[i].name);
    if (h < 0 && r->cols[i].kind != PW_COL_DROPPED)
      return pc_err_set(err, PC_EDATA, "%s:%llu: column '%s' (of the prepared data's recipe) "
                        "is not in the header", path, line, r->cols[i].name);
    m->at[i] = h < 0 ? SIZE_MAX : (size_t)h;
  }
  return 0;
}

static int load_line(pw_dataset_t *ds, const pw_recipe_t *r, csvmap_t *m, char *s,
                     int labels_optional, uint64_t *unknown, char *why) {
  size_t n = pw_csv_cells(s, m->cells, m->ncells);
  if (n != m->ncells)
    return pc_why(why, PW_RECIPE_WHY, "%zu cells, the header has %zu", n, m->ncells);
  for (size_t i = 0; i < r->ncols; i++)
    m->rc[i] = m->at[i] == SIZE_MAX ? NULL : m->cells[m->at[i]];
  float label = NAN;
  const char *lc = m->label >= 0 ? m->cells[m->label] : NULL;
  if (lc != NULL && !(labels_optional && pw_csv_missing(lc)) &&
      pw_recipe_label(r, lc, &label, why) != 0)
    return -1;
  return pw_recipe_add_row(ds, r, m->rc, label, unknown, why);
}

int pw_recipe_load_csv(pw_dataset_t *ds, const pw_recipe_t *r, const char *path,
                       int labels_optional, uint64_t *unknown, pc_err_t *err) {
  memset(ds, 0, sizeof *ds);
  pw_csvtext_t t;
  csvmap_t m = {0};
  int rc = pw_csvtext_read(&t, path, err);
  if (rc != 0)
    return rc;
  rc = map_header(&m, r, &t, path, labels_optional, err);
  if (rc == 0)
    rc = pw_recipe_ds_init(ds, r, t.nlines - 1, err);
  char why[PW_RECIPE_WHY];
  for (size_t i = 1; rc == 0 && i < t.nlines; i++)
    if (load_line(ds, r, &m, t.line[i], labels_optional, unknown, why) != 0)
      rc = pc_err_set(err, PC_EDATA, "%s:%llu: %s", path, (unsigned long long)t.lineno[i], why);
  if (rc == 0 && ds->n == 0)
    rc = pc_err_set(err, PC_EDATA, "%s: no data rows after the header", path);
  csvmap_free(&m);
  pw_csvtext_free(&t);
  if (rc != 0)
    pw_data_free(ds);
  return rc;
}
