#include "pw_score.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pc_log.h"
#include "pw_prepared.h"
#include "pw_recipe.h"

#define SCORE_CHUNK 1024

/* "key=value" through pc_config_set, so an override is checked like a --set. */
static int override(pc_config_t *cfg, const char *key, const char *value, pc_err_t *err) {
  char a[PC_PATH_MAX + 64];
  int n = snprintf(a, sizeof a, "%s=%s", key, value);
  if (n < 0 || (size_t)n >= sizeof a)
    return pc_err_set(err, PC_EINVAL, "%s: value too long", key);
  return pc_config_set(cfg, a, err);
}

static int is_dir(const char *path) {
  struct stat st;
  return strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A prepared split is already encoded and standardized: only a transform
 * other than the model's would make its numbers mean something else. */
static int check_split_tf(const pw_scored_t *s, const char *dir, pc_err_t *err) {
  pw_prep_info_t in;
  int rc = pw_prep_read_info(dir, &in, err);
  const pw_transform_t *a = &in.tf, *b = &s->model.tf;
  if (rc == PC_OK && !pw_transform_equal(a, b))
    rc = pc_err_set(err, PC_EDATA, "%s: prepared with another standardization than the "
                    "model's training data (a split of another parasol prep run?)", dir);
  pw_prep_info_free(&in);
  return rc;
}

/* Raw CSV through the model's recipe (the encoding parasol prep fitted). */
static int read_recipe_csv(pw_scored_t *s, const char *path, const pw_score_opts_t *o,
                           pc_err_t *err) {
  if (s->model.recipe_json == NULL)
    return pc_err_set(err, PC_EINVAL, "%s: the model was trained on prepared data that did not "
                      "come from a CSV (no recipe): give DATA as a prepared split directory, "
                      "or --format with the raw file's format", path);
  pw_recipe_t r;
  uint64_t unknown = 0;
  int rc = pw_recipe_from_json(&r, s->model.recipe_json, s->model.recipe_len, "the model's "
                               "recipe", err);
  if (rc != PC_OK)
    return rc;
  rc = pw_recipe_load_csv(&s->data, &r, path, o->labels_optional, &unknown, err);
  pw_recipe_free(&r);
  if (rc == PC_OK && unknown > 0)
    PC_WARN("%s: %llu cells held categories unseen in training (encoded as none)", path,
            (unsigned long long)unknown);
  return rc;
}

static int read_data(pw_scored_t *s, const char *path, const pw_score_opts_t *o, pc_err_t *err) {
  pw_data_opts_t d;
  pw_data_opts_from_config(&d, &s->cfg, s->ops->labels, o->labels ? o->labels : "", 0, 1);
  d.labels_optional = o->labels_optional;
  if (s->cfg.data.format == PC_FORMAT_IDX && !o->labels_optional && o->labels == NULL)
    return pc_err_set(err, PC_EINVAL, "%s: idx images need their labels file to be evaluated: "
                      "give it with --labels FILE", path);
  /* A directory is a prepared split; a file for a model of prepared CSV
   * data (or --format csv with a recipe) is raw CSV through the recipe. */
  if (is_dir(path)) {
    int rc = check_split_tf(s, path, err);
    return rc == PC_OK ? pw_data_load_prepared(&s->data, path, &d, err) : rc;
  }
  pc_format_t f = s->cfg.data.format;
  if (strcmp(path, "-") != 0 && (f == PC_FORMAT_PREPARED ||
                                 (f == PC_FORMAT_CSV && s->model.recipe_json != NULL)))
    return read_recipe_csv(s, path, o, err);
  if (strcmp(path, "-") != 0)
    return pw_data_load(&s->data, s->cfg.data.format, path, &d, err);
  if (s->cfg.data.format != PC_FORMAT_LIBSVM)
    return pc_err_set(err, PC_EINVAL, "standard input ('-') is read as LIBSVM only; this model "
                      "reads data.format %s: give a file", pw_reader_find(s->cfg.data.format)
                          ? pw_reader_find(s->cfg.data.format)->name : "?");
  return pw_data_load_libsvm_stream(&s->data, stdin, "<stdin>", &d, err);
}

int pw_score_open(pw_scored_t *s, const char *model_path, const char *data_path,
                  const pw_score_opts_t *o, pc_err_t *err) {
  memset(s, 0, sizeof *s);
  int rc = pw_model_load(&s->model, model_path, err);
  if (rc == PC_OK)
    rc = pw_model_config(&s->model, &s->cfg, err);
  if (rc == PC_OK && o->format)
    rc = override(&s->cfg, "data.format", o->format, err);
  if (rc == PC_OK && o->label)
    rc = override(&s->cfg, "data.label", o->label, err);
  if (rc == PC_OK && (s->ops = pw_model_ops_find(s->model.type)) == NULL)
    rc = pc_err_set(err, PC_EINVAL, "%s: model type %d: no such model", model_path,
                    (int)s->model.type);
  if (rc == PC_OK)
    rc = read_data(s, data_path, o, err);
  if (rc == PC_OK && s->model.shape.dense && s->data.shape.dense &&
      s->data.shape.features != s->model.shape.features)
    rc = pc_err_set(err, PC_EDATA, "%s: %llu features per example, but the model was trained on "
                    "%llu", data_path, (unsigned long long)s->data.shape.features,
                    (unsigned long long)s->model.shape.features);
  if (rc == PC_OK && s->model.tf.n && !is_dir(data_path)) /* a split: already applied */
    pw_data_apply_transform(&s->data, &s->model.tf);
  if (rc != PC_OK)
    pw_score_close(s);
  return rc;
}

void pw_score_close(pw_scored_t *s) {
  pw_model_free(&s->model);
  pw_data_free(&s->data);
  s->ops = NULL;
}

/* One example's line, by the model's label kind. */
typedef int (*line_fn)(FILE *f, const float *p, size_t k, double t);

static int line_binary(FILE *f, const float *p, size_t k, double t) {
  (void)k;
  double v = p[0] >= 1.0f ? 0.9999995 : p[0]; /* %.6f of it stays below 1 */
  return fprintf(f, "%d %.6f\n", t < 1.0 && p[0] >= t, v);
}

static int line_class(FILE *f, const float *p, size_t k, double t) {
  (void)t;
  size_t best = 0;
  for (size_t c = 1; c < k; c++)
    if (p[c] > p[best])
      best = c;
  return fprintf(f, "%zu %.6f\n", best, p[best]);
}

static int line_real(FILE *f, const float *p, size_t k, double t) {
  (void)k, (void)t;
  return fprintf(f, "%.6g\n", p[0]);
}

static const line_fn lines[] = {
    [PW_LABEL_BINARY] = line_binary, [PW_LABEL_CLASS] = line_class, [PW_LABEL_REAL] = line_real};

int pw_score_write(const pw_scored_t *s, FILE *out, double threshold, pc_err_t *err) {
  size_t k = s->ops->outputs(&s->model), n = s->data.n;
  float *p = malloc(SCORE_CHUNK * k * sizeof *p);
  size_t *rows = malloc(SCORE_CHUNK * sizeof *rows);
  int rc = p && rows ? PC_OK : pc_err_set(err, PC_ENOMEM, "predictions of %zu outputs", k);
  line_fn line = lines[s->ops->labels];
  for (size_t b = 0; b < n && rc == PC_OK; b += SCORE_CHUNK) {
    size_t m = n - b < SCORE_CHUNK ? n - b : SCORE_CHUNK;
    for (size_t i = 0; i < m; i++)
      rows[i] = b + i;
    rc = s->ops->predict(&s->model, &s->data, rows, m, p, err);
    for (size_t i = 0; i < m && rc == PC_OK; i++)
      if (line(out, p + i * k, k, threshold) < 0)
        rc = pc_err_set(err, PC_ESYS, "writing predictions: %s", strerror(errno));
  }
  free(p);
  free(rows);
  return rc;
}
