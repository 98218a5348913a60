/* Rating triples: "user item rating [timestamp]" per line, the fields
 * separated by "::" (MovieLens 1M), a tab (100K) or a comma (the newer
 * CSVs), whichever the first row uses; spaces around fields are ignored.
 * A first line whose first field is not a number is a header and skipped;
 * blank lines and lines starting with '#' too. Row i holds idx = {user,
 * item}, val = {1, 1} and label = rating (checked by opts->labels, real
 * for mf). The timestamp is not used. */
#include <math.h>
#include <string.h>

#include "pw_data_util.h"

#define RT_FIELDS_MAX 4

typedef struct ratings {
  const char *name;
  const pw_data_opts_t *o;
  pw_labeler_t lb;
  pw_build_t b;
  pw_badlines_t bad;
  pw_lines_t lines;
  char sep[3]; /* "::", "\t" or ","; "" until the first row */
  int seen_row;/* a header may only come first */
  char reason[PW_REASON_MAX];
} ratings_t;

typedef struct field {
  const char *a, *b;
} field_t;

static void pick_sep(ratings_t *r, const char *s) {
  if (strstr(s, "::") != NULL)
    strcpy(r->sep, "::");
  else if (strchr(s, '\t') != NULL)
    strcpy(r->sep, "\t");
  else
    strcpy(r->sep, ",");
}

/* Split s[0, n) at r->sep into f[0..*nf); more than RT_FIELDS_MAX fields
 * are counted, not kept. */
static void split(const ratings_t *r, const char *s, size_t n, field_t *f, size_t *nf) {
  size_t k = 0, seplen = strlen(r->sep);
  const char *a = s, *end = s + n;
  for (;;) {
    const char *e = seplen == 2 ? memmem(a, (size_t)(end - a), r->sep, 2)
                                : memchr(a, r->sep[0], (size_t)(end - a));
    if (k < RT_FIELDS_MAX)
      f[k] = (field_t){a, e != NULL ? e : end};
    k++;
    if (e == NULL)
      break;
    a = e + seplen;
  }
  *nf = k;
}

__attribute__((cold)) static int bad_field(ratings_t *r, const char *what, field_t f,
                                           const char *why) {
  char shown[161];
  size_t n = (size_t)(f.b - f.a);
  pw_data_show(shown, sizeof shown, f.a, n > 40 ? 40 : n, 0);
  snprintf(r->reason, sizeof r->reason, "%s '%s' %s", what, shown, why);
  return PW_LINE_BAD;
}

/* A user or item id: decimal digits, below opts->features when set. */
static int parse_id(ratings_t *r, const char *what, field_t f, uint64_t *id) {
  while (f.a < f.b && (*f.a == ' ' || *f.a == '\t'))
    f.a++;
  while (f.b > f.a && (f.b[-1] == ' ' || f.b[-1] == '\t'))
    f.b--;
  uint64_t v = 0;
  if (f.a == f.b)
    return bad_field(r, what, f, "is empty");
  for (const char *p = f.a; p < f.b; p++) {
    if (*p < '0' || *p > '9')
      return bad_field(r, what, f, "is not a non-negative integer");
    if ((v = v * 10 + (uint64_t)(*p - '0')) >= PW_ID_MAX)
      return bad_field(r, what, f, "is too large (ids must be below 2^40)");
  }
  if (r->o->features > 0 && v >= r->o->features) {
    char why[64];
    snprintf(why, sizeof why, "is not below features (%llu)",
             (unsigned long long)r->o->features);
    return bad_field(r, what, f, why);
  }
  *id = v;
  return PW_LINE_OK;
}

static int parse_rating(ratings_t *r, field_t f, float *label) {
  double v;
  if (pw_parse_number(f.a, (size_t)(f.b - f.a), &v) < 0)
    return bad_field(r, "rating", f, "is not a number");
  if (!isfinite(v) || fabs(v) > 3.4e38)
    return bad_field(r, "rating", f, "is not a finite number");
  return pw_label_value(&r->lb, v, label, r->reason);
}

static int parse_fields(ratings_t *r, const char *s, size_t n) {
  field_t f[RT_FIELDS_MAX];
  size_t nf;
  split(r, s, n, f, &nf);
  if (nf < 3 || nf > RT_FIELDS_MAX) {
    snprintf(r->reason, sizeof r->reason,
             "expected 3 or 4 fields (user, item, rating[, timestamp]) separated by '%s', got %zu",
             r->sep[0] == '\t' ? "\\t" : r->sep, nf);
    return PW_LINE_BAD;
  }
  uint64_t user = 0, item = 0;
  float label = 0;
  int rc = parse_id(r, "user id", f[0], &user);
  if (rc == PW_LINE_OK)
    rc = parse_id(r, "item id", f[1], &item);
  if (rc == PW_LINE_OK)
    rc = parse_rating(r, f[2], &label);
  if (rc != PW_LINE_OK)
    return rc;
  pw_dataset_t *ds = r->b.ds;
  if (pw_build_reserve_nnz(&r->b, 2) < 0)
    return PC_ENOMEM;
  ds->idx[ds->nnz] = user;
  ds->idx[ds->nnz + 1] = item;
  ds->val[ds->nnz] = ds->val[ds->nnz + 1] = 1.0f;
  return pw_build_commit(&r->b, label, 2) < 0 ? PC_ENOMEM : PW_LINE_OK;
}

static int is_header(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return *s < '0' || *s > '9';
}

static int one_line(ratings_t *r, const char *s, size_t n, pc_err_t *err) {
  const char *p = s, *end = s + n;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  if (p == end || *p == '#')
    return 0;
  if (!r->seen_row) {
    r->seen_row = 1;
    pick_sep(r, s);
    if (is_header(s)) /* "userId,movieId,rating,timestamp" */
      return 0;
  }
  int rc = parse_fields(r, s, n);
  if (rc == PC_ENOMEM)
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory after %zu ratings", r->name,
                      r->b.ds->n);
  if (rc == PW_LINE_BAD)
    return pw_bad_line(&r->bad, r->b.ds, r->o, r->name, r->lines.line, r->reason, err);
  return 0;
}

static int ratings_rows(ratings_t *r, pc_err_t *err) {
  char *s;
  size_t n;
  int rc;
  while ((rc = pw_lines_next(&r->lines, &s, &n, r->name, err)) == 1)
    if ((rc = one_line(r, s, n, err)) < 0)
      return rc;
  if (rc < 0)
    return rc;
  pw_dataset_t *ds = r->b.ds;
  if (ds->n == 0)
    return pc_err_set(err, PC_EDATA, "%s: no ratings", r->name);
  ds->shape = (pw_shape_t){.features = ds->max_index + 1, .pairs = 1};
  return 0;
}

int pw_data_load_ratings(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                         pc_err_t *err) {
  char name[PW_NAME_MAX];
  pw_data_show(name, sizeof name, path, strlen(path), 1);
  ratings_t r = {.name = name, .o = opts};
  pw_labeler_init(&r.lb, opts);
  if (pw_build_init(&r.b, ds) < 0) {
    pw_data_free(ds);
    return pc_err_set(err, PC_ENOMEM, "%s: out of memory", name);
  }
  int rc = pw_lines_open(&r.lines, path, name, err);
  if (rc == 0)
    rc = ratings_rows(&r, err);
  pw_lines_close(&r.lines);
  if (rc < 0)
    pw_data_free(ds);
  return rc;
}
