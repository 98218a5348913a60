#include "pw_init.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pw_worker.h"

/* The model.* settings of the model that differ from the config's, as
 * "; model.classes is 10 in the model, 3 in this config" (at most two):
 * why its tables have another shape. "" when none differs. */
static void settings_hint(const pw_model_t *m, const pc_config_t *cfg, char *buf, size_t len) {
  pw_model_t d;
  pc_err_t e = {0};
  buf[0] = '\0';
  if (pw_model_describe(&d, cfg, NULL, &e) != PC_OK)
    return;
  size_t used = 0, shown = 0;
  for (size_t i = 0; i < m->nsettings && shown < 2; i++)
    for (size_t j = 0; j < d.nsettings; j++) {
      const pc_setting_t *a = &m->settings[i], *b = &d.settings[j];
      if (strncmp(a->name, "model.", 6) != 0 || strcmp(a->name, b->name) != 0 ||
          strcmp(a->value, b->value) == 0)
        continue;
      int w = snprintf(buf + used, len - used, "; %s is '%s' in the model, '%s' in this config",
                       a->name, a->value, b->value);
      used = w > 0 && (size_t)w < len - used ? used + (size_t)w : used;
      shown++;
    }
}

static const char *kind_name(pc_table_kind_t k) {
  return k == PC_TABLE_DENSE ? "dense" : "sparse";
}

/* The model's table i against the config's: name, kind, size x width. */
static int check_table(const pw_model_t *m, const pc_table_t *want, size_t i, const char *path,
                       const char *hint, pc_err_t *err) {
  const pc_table_t *got = &m->tables[i].spec;
  if (strcmp(got->name, want->name) != 0)
    return pc_err_set(err, PC_ECONFIG, "--init %s: table %zu is '%s' in the model, '%s' in "
                      "this config%s", path, i, got->name, want->name, hint);
  if (got->kind != want->kind)
    return pc_err_set(err, PC_ECONFIG, "--init %s: table '%s' is %s in the model, %s in this "
                      "config%s", path, got->name, kind_name(got->kind), kind_name(want->kind),
                      hint[0] ? hint : "; model.layout differs?");
  if (got->size != want->size || got->width != want->width)
    return pc_err_set(err, PC_ECONFIG, "--init %s: table '%s' has %llu x %u values, this config "
                      "declares %llu x %u%s", path, got->name, (unsigned long long)got->size,
                      got->width, (unsigned long long)want->size, want->width, hint);
  return PC_OK;
}

static int check_tables(const pw_model_t *m, const pc_config_t *cfg, const pc_table_t *tables,
                        size_t n, pc_err_t *err) {
  const char *path = cfg->training.init;
  char hint[400];
  settings_hint(m, cfg, hint, sizeof hint);
  if (m->ntables != n)
    return pc_err_set(err, PC_ECONFIG, "--init %s: the model has %zu tables, this config "
                      "declares %zu%s", path, m->ntables, n, hint);
  for (size_t i = 0; i < n; i++) {
    int rc = check_table(m, &tables[i], i, path, hint, err);
    if (rc != PC_OK)
      return rc;
  }
  return PC_OK;
}

/* Type and transform: what the config alone decides. features 0: the
 * data's feature count is not known yet (the launcher, for csv and idx). */
static int check_kind(const pw_model_t *m, const pc_config_t *cfg, uint64_t features,
                      pc_err_t *err) {
  const char *path = cfg->training.init;
  if (m->type != cfg->model.type)
    return pc_err_set(err, PC_ECONFIG, "--init %s: a %s model, this config trains %s "
                      "(model.type): the model types must agree", path,
                      pc_config_model_name(m->type), pc_config_model_name(cfg->model.type));
  if (m->tf.n == 0 && cfg->data.standardize)
    return pc_err_set(err, PC_ECONFIG, "--init %s: the model was trained without "
                      "standardization, this config sets data.standardize: true (the model's "
                      "weights fit unstandardized features; set data.standardize: false)", path);
  if (m->tf.n != 0 && features != 0 && m->tf.n != features)
    return pc_err_set(err, PC_ECONFIG, "--init %s: the model's standardization covers %llu "
                      "features, this data has %llu", path, (unsigned long long)m->tf.n,
                      (unsigned long long)features);
  return PC_OK;
}

static int load(pw_model_t *m, const char *path, pc_err_t *err) {
  pc_err_t e = {0};
  int rc = pw_model_load(m, path, &e);
  if (rc == PC_OK)
    return PC_OK;
  /* pw_model_load names the file: "PATH: reason" */
  size_t pl = strlen(path);
  const char *why = strncmp(e.msg, path, pl) == 0 && e.msg[pl] == ':' ? e.msg + pl + 2 : e.msg;
  return pc_err_set(err, PC_ECONFIG, "--init %s: not a model this Parasol can load: %s", path,
                    why);
}

int pw_init_load(pw_model_t *m, const pc_config_t *cfg, const pc_table_t *tables, size_t n,
                 uint64_t features, pc_err_t *err) {
  memset(m, 0, sizeof *m);
  int rc = load(m, cfg->training.init, err);
  if (rc == PC_OK)
    rc = check_kind(m, cfg, features, err);
  if (rc == PC_OK)
    rc = check_tables(m, cfg, tables, n, err);
  if (rc != PC_OK)
    pw_model_free(m);
  return rc;
}

int pw_init_check_config(const pc_config_t *cfg, pc_err_t *err) {
  if (cfg->training.init[0] == '\0')
    return PC_OK;
  /* Only these formats take the feature count from the config; the others
   * from the data, which the workers read. */
  int sized = cfg->data.format == PC_FORMAT_LIBSVM || cfg->data.format == PC_FORMAT_RATINGS;
  pc_table_t t[PC_TABLE_MAX];
  size_t n = 0;
  pc_err_t e = {0};
  int known = sized && pw_worker_config_tables(cfg, t, &n, &e) == PC_OK;
  pw_model_t *m = malloc(sizeof *m);
  if (m == NULL)
    return pc_err_set(err, PC_ENOMEM, "--init %s: out of memory", cfg->training.init);
  memset(m, 0, sizeof *m);
  int rc = load(m, cfg->training.init, err);
  if (rc == PC_OK)
    rc = check_kind(m, cfg, sized ? cfg->model.features : 0, err);
  if (rc == PC_OK && known)
    rc = check_tables(m, cfg, t, n, err);
  pw_model_free(m);
  free(m);
  return rc;
}

/* A dense table in blocks of rows. */
static int push_dense(pw_kv_t *kv, uint32_t id, const pw_mtable_t *t, pc_err_t *err) {
  uint64_t w = t->spec.width, rows = PW_INIT_BLOCK / w ? PW_INIT_BLOCK / w : 1;
  int rc = PC_OK;
  for (uint64_t r = 0; r < t->spec.size && rc == PC_OK; r += rows) {
    uint64_t e = t->spec.size - r < rows ? t->spec.size : r + rows;
    rc = pw_kv_assign_range(kv, pc_table_key(id, r), pc_table_key(id, e), t->vals + r * w, err);
  }
  return rc;
}

/* A sparse table's stored keys in blocks; the others read as their
 * initial values, as in a fresh run. */
static int push_sparse(pw_kv_t *kv, uint32_t id, const pw_mtable_t *t, pc_err_t *err) {
  size_t w = t->spec.width, block = PW_INIT_BLOCK / w ? PW_INIT_BLOCK / w : 1;
  if (t->count == 0)
    return PC_OK;
  size_t cap = t->count < block ? (size_t)t->count : block;
  uint64_t *keys = malloc(cap * sizeof *keys);
  if (keys == NULL)
    return pc_err_set(err, PC_ENOMEM, "keys of table '%s' (%zu)", t->spec.name, cap);
  int rc = PC_OK;
  for (uint64_t c = 0; c < t->count && rc == PC_OK; c += cap) {
    size_t k = t->count - c < cap ? (size_t)(t->count - c) : cap;
    for (size_t i = 0; i < k; i++)
      keys[i] = pc_table_key(id, t->keys[c + i]);
    rc = pw_kv_assign(kv, keys, k, t->vals + c * w, err);
  }
  free(keys);
  return rc;
}

int pw_init_push(pw_kv_t *kv, const pw_model_t *m, pc_err_t *err) {
  int rc = PC_OK;
  for (size_t i = 0; i < m->ntables && rc == PC_OK; i++) {
    const pw_mtable_t *t = &m->tables[i];
    rc = t->spec.kind == PC_TABLE_DENSE ? push_dense(kv, (uint32_t)i, t, err)
                                        : push_sparse(kv, (uint32_t)i, t, err);
  }
  return rc == PC_OK ? pw_kv_wait_all(kv, err) : rc;
}
