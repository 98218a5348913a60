/* Model files, format version 4 (3 still read): explicit little-endian encoding, XXH3-64
 * trailer, atomic save. Loading streams the file once: every count read
 * is checked against the bytes left before it sizes anything, the
 * checksum is compared at the end, and only then is the content checked
 * (type, settings, shape, transform, table specs, keys, finite values),
 * with the same rules pw_model_save applies before it writes. */
#include "pw_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pc_afile.h"
#include "pc_binio.h"

#define MAGIC "PSLMODEL"
#define SHAPE_BYTES 24u
#define TABLE_HEADER 68u /* name 32, kind 4, size 8, width 4, init 4, scale 4, optimize 4, count 8 */
#define SETTING_NAME_MAX (sizeof ((pc_setting_t *)0)->name)
#define SETTING_VALUE_MAX (sizeof ((pc_setting_t *)0)->value)
#define SHAPE_MAX_FEATURES (UINT64_C(1) << PC_TABLE_SHIFT)
#define SHAPE_MAX_SIDE 1048576u
#define PREFIX "model."

/* ---- content checks, shared by save (PC_EINVAL) and load (PC_EMODEL) ---- */

static int is_known_type(uint32_t t) { return t >= PC_MODEL_LOGISTIC && t <= PC_MODEL_MF; }

/* name is one of the settings of this Parasol's config (known[0..n)). */
static int is_known(const pc_setting_t *known, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(known[i].name, name) == 0)
      return 1;
  return 0;
}

/* The settings a model file carries: the model's, and how its data is read
 * (so that `eval` and `predict` read data as training did). */
static const char *const carried_data[] = {"data.format", "data.label", "data.label_offset"};

static int carried(const char *name) {
  if (strncmp(name, PREFIX, strlen(PREFIX)) == 0)
    return 1;
  for (size_t i = 0; i < sizeof carried_data / sizeof carried_data[0]; i++)
    if (strcmp(name, carried_data[i]) == 0)
      return 1;
  return 0;
}

static int check_setting_strings(const pw_model_t *m, size_t i, const char *path, int code,
                                 pc_err_t *err) {
  const pc_setting_t *s = &m->settings[i];
  size_t nl = strnlen(s->name, SETTING_NAME_MAX), vl = strnlen(s->value, SETTING_VALUE_MAX);
  if (nl == 0 || nl == SETTING_NAME_MAX || vl == SETTING_VALUE_MAX)
    return pc_err_set(err, code, "%s: setting %zu: name empty or longer than %zu bytes, or "
                      "value longer than %zu", path, i, SETTING_NAME_MAX - 1,
                      SETTING_VALUE_MAX - 1);
  if (!carried(s->name))
    return pc_err_set(err, code, "%s: setting '%s' is not a model.* or data format setting",
                      path, s->name);
  for (size_t k = 0; k < i; k++)
    if (strcmp(m->settings[k].name, s->name) == 0)
      return pc_err_set(err, code, "%s: setting '%s' appears twice", path, s->name);
  return 0;
}

/* pc_config_set's message without its "--set NAME=VALUE: " prefix, which
 * would only repeat what the caller's message says. */
static const char *set_reason(const char *msg, const char *as) {
  size_t n = strlen(as);
  if (strncmp(msg, "--set ", 6) == 0 && strncmp(msg + 6, as, n) == 0 &&
      strncmp(msg + 6 + n, ": ", 2) == 0)
    return msg + 6 + n + 2;
  return msg;
}

/* Replay the settings onto defaults; the one place that turns a model's
 * settings into a config (pw_model_config, and the checks below). A
 * model.type setting must agree with the type field; without one, the
 * field decides. */
static int replay_settings(const pw_model_t *m, pc_config_t *cfg, const char *path, int code,
                           pc_err_t *err) {
  pc_setting_t known[PC_CONFIG_MAX_SHARED];
  pc_config_defaults(cfg);
  size_t nknown = pc_config_shared(cfg, known, PC_CONFIG_MAX_SHARED);
  nknown = nknown < PC_CONFIG_MAX_SHARED ? nknown : PC_CONFIG_MAX_SHARED;
  int typed = 0;
  for (size_t i = 0; i < m->nsettings; i++) {
    const pc_setting_t *s = &m->settings[i];
    if (!is_known(known, nknown, s->name))
      return pc_err_set(err, code, "%s: unknown setting '%s' (written by a newer Parasol?): "
                        "this Parasol cannot use the model; retrain it", path, s->name);
    char as[SETTING_NAME_MAX + SETTING_VALUE_MAX + 1];
    snprintf(as, sizeof as, "%s=%s", s->name, s->value);
    pc_err_t why = {0};
    if (pc_config_set(cfg, as, &why) < 0)
      return pc_err_set(err, code, "%s: setting %s: %s", path, as, set_reason(why.msg, as));
    typed |= strcmp(s->name, "model.type") == 0;
  }
  if (typed && cfg->model.type != m->type)
    return pc_err_set(err, code, "%s: model type %d disagrees with its setting model.type = "
                      "%s", path, (int)m->type, pc_config_model_name(cfg->model.type));
  cfg->model.type = m->type;
  return 0;
}

static int check_settings(const pw_model_t *m, const char *path, int code, pc_err_t *err) {
  if (m->nsettings > PW_MODEL_MAX_SETTINGS)
    return pc_err_set(err, code, "%s: %zu settings, at most %d", path, m->nsettings,
                      PW_MODEL_MAX_SETTINGS);
  for (size_t i = 0; i < m->nsettings; i++) {
    int rc = check_setting_strings(m, i, path, code, err);
    if (rc < 0)
      return rc;
  }
  pc_config_t cfg;
  return replay_settings(m, &cfg, path, code, err);
}

/* An image shape is all three sides or none, and covers the features. */
static int check_shape(const pw_shape_t *s, const char *path, int code, pc_err_t *err) {
  int sides = (s->height != 0) + (s->width != 0) + (s->channels != 0);
  uint64_t area = (uint64_t)s->height * s->width * s->channels;
  if (s->features > SHAPE_MAX_FEATURES || (s->dense != 0 && s->dense != 1) ||
      (sides != 0 && sides != 3) || s->height > SHAPE_MAX_SIDE || s->width > SHAPE_MAX_SIDE ||
      s->channels > SHAPE_MAX_SIDE || area > s->features)
    return pc_err_set(err, code, "%s: bad data shape: features %llu, image %ux%ux%u, dense %d",
                      path, (unsigned long long)s->features, s->height, s->width, s->channels,
                      s->dense);
  return 0;
}

static int check_counts(const pw_mtable_t *t, const char *path, int code, pc_err_t *err) {
  const pc_table_t *s = &t->spec;
  if (s->kind == PC_TABLE_DENSE ? t->count != s->size || t->keys != NULL : t->count > s->size)
    return pc_err_set(err, code, "%s: table '%s': %s table of size %llu holds %llu rows", path,
                      s->name, s->kind == PC_TABLE_DENSE ? "dense" : "sparse",
                      (unsigned long long)s->size, (unsigned long long)t->count);
  if (t->count > 0 && (t->vals == NULL || (s->kind == PC_TABLE_SPARSE && t->keys == NULL)))
    return pc_err_set(err, code, "%s: table '%s': %llu rows without values or keys", path,
                      s->name, (unsigned long long)t->count);
  return 0;
}

static int check_keys(const pw_mtable_t *t, const char *path, int code, pc_err_t *err) {
  for (uint64_t i = 0; t->keys != NULL && i < t->count; i++) {
    uint64_t k = t->keys[i];
    if (k >= t->spec.size)
      return pc_err_set(err, code, "%s: table '%s': key %llu out of range (size %llu)", path,
                        t->spec.name, (unsigned long long)k, (unsigned long long)t->spec.size);
    if (i > 0 && k <= t->keys[i - 1])
      return pc_err_set(err, code, "%s: table '%s': key %llu %s key %llu before it (keys must "
                        "be strictly ascending)", path, t->spec.name, (unsigned long long)k,
                        k == t->keys[i - 1] ? "repeats the" : "is below the",
                        (unsigned long long)t->keys[i - 1]);
  }
  return 0;
}

static int check_values(const pw_mtable_t *t, const char *path, int code, pc_err_t *err) {
  uint32_t w = t->spec.width;
  for (uint64_t i = 0; i < t->count; i++)
    for (uint32_t j = 0; j < w; j++)
      if (!isfinite(t->vals[i * w + j]))
        return pc_err_set(err, code, "%s: table '%s': value %u of key %llu is not finite",
                          path, t->spec.name, j,
                          (unsigned long long)(t->keys ? t->keys[i] : i));
  return 0;
}

static int check_tables(const pw_model_t *m, const char *path, int code, pc_err_t *err) {
  pc_table_t specs[PC_TABLE_MAX];
  if (m->ntables == 0 || m->ntables > PC_TABLE_MAX)
    return pc_err_set(err, code, "%s: %zu tables, a model has 1 to %d", path, m->ntables,
                      PC_TABLE_MAX);
  for (size_t i = 0; i < m->ntables; i++)
    specs[i] = m->tables[i].spec;
  pc_err_t why = {0};
  if (pc_table_check(specs, m->ntables, &why) < 0)
    return pc_err_set(err, code, "%s: %s", path, why.msg);
  for (size_t i = 0; i < m->ntables; i++) {
    const pw_mtable_t *t = &m->tables[i];
    int rc = check_counts(t, path, code, err);
    if (rc == 0)
      rc = check_keys(t, path, code, err);
    if (rc == 0)
      rc = check_values(t, path, code, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int check_recipe(const pw_model_t *m, const char *path, int code, pc_err_t *err) {
  if ((m->recipe_len > 0) != (m->recipe_json != NULL) || m->recipe_len > PW_MODEL_MAX_RECIPE)
    return pc_err_set(err, code, "%s: recipe of %zu bytes %s", path, m->recipe_len,
                      m->recipe_len > PW_MODEL_MAX_RECIPE ? "(too long)" : "without its text");
  if (m->recipe_len > 0 && memchr(m->recipe_json, '\0', m->recipe_len) != NULL)
    return pc_err_set(err, code, "%s: the recipe holds a NUL byte", path);
  return 0;
}

static int check_model(const pw_model_t *m, const char *path, int code, pc_err_t *err) {
  if (!is_known_type((uint32_t)m->type))
    return pc_err_set(err, code, "%s: unknown model type %d", path, (int)m->type);
  int rc = check_settings(m, path, code, err);
  if (rc == 0)
    rc = check_shape(&m->shape, path, code, err);
  if (rc == 0)
    rc = pw_transform_check(&m->tf, 0, path, code, err);
  if (rc == 0)
    rc = check_recipe(m, path, code, err);
  return rc == 0 ? check_tables(m, path, code, err) : rc;
}

/* ---- save ---- */

static void w_head(pc_bw_t *w, const pw_model_t *m) {
  pc_bw_bytes(w, MAGIC, 8);
  pc_bw_u32(w, PW_MODEL_VERSION);
  pc_bw_u32(w, (uint32_t)m->type);
  pc_bw_u32(w, (uint32_t)m->nsettings);
  for (size_t i = 0; i < m->nsettings; i++) {
    const pc_setting_t *s = &m->settings[i];
    size_t nl = strlen(s->name), vl = strlen(s->value);
    pc_bw_u16(w, (uint16_t)nl);
    pc_bw_bytes(w, s->name, nl);
    pc_bw_u16(w, (uint16_t)vl);
    pc_bw_bytes(w, s->value, vl);
  }
  pc_bw_u64(w, m->shape.features);
  pc_bw_u32(w, m->shape.height);
  pc_bw_u32(w, m->shape.width);
  pc_bw_u32(w, m->shape.channels);
  pc_bw_u32(w, (uint32_t)m->shape.dense);
  pc_bw_u64(w, m->tf.n);
  pc_bw_f32s(w, m->tf.mean, (size_t)m->tf.n);
  pc_bw_f32s(w, m->tf.inv_std, (size_t)m->tf.n);
  pc_bw_u32(w, (uint32_t)m->recipe_len);
  pc_bw_bytes(w, m->recipe_json, m->recipe_len);
}

static void w_table(pc_bw_t *w, const pw_mtable_t *t) {
  const pc_table_t *s = &t->spec;
  char name[PC_TABLE_NAME_MAX] = {0}; /* NUL-padded, whatever follows the NUL in memory */
  memcpy(name, s->name, strnlen(s->name, PC_TABLE_NAME_MAX));
  pc_bw_bytes(w, name, sizeof name);
  pc_bw_u32(w, (uint32_t)s->kind);
  pc_bw_u64(w, s->size);
  pc_bw_u32(w, s->width);
  pc_bw_u32(w, (uint32_t)s->init);
  pc_bw_u32(w, pc_f32_bits(s->scale));
  pc_bw_u32(w, s->optimize ? 1u : 0u);
  pc_bw_u64(w, t->count);
  if (s->kind == PC_TABLE_DENSE) {
    pc_bw_f32s(w, t->vals, (size_t)(t->count * s->width));
    return;
  }
  for (uint64_t i = 0; i < t->count && w->error == 0; i++) {
    pc_bw_u64(w, t->keys[i]);
    pc_bw_f32s(w, t->vals + i * s->width, s->width);
  }
}

static void write_model(pc_bw_t *w, const void *ctx) {
  const pw_model_t *m = ctx;
  w_head(w, m);
  pc_bw_u32(w, (uint32_t)m->ntables);
  for (size_t i = 0; i < m->ntables; i++)
    w_table(w, &m->tables[i]);
}

int pw_model_save(const pw_model_t *m, const char *path, pc_err_t *err) {
  if (m == NULL || path == NULL)
    return pc_err_set(err, PC_EINVAL, "model save: NULL model or path");
  int rc = check_model(m, path, PC_EINVAL, err);
  return rc < 0 ? rc : pc_bw_save(path, write_model, m, err);
}

/* ---- load: the structure, bounded by the bytes left ---- */

static void *r_alloc(pc_br_t *r, uint64_t n, size_t esz, pc_err_t *err) {
  void *p = n <= SIZE_MAX / esz ? malloc(n ? (size_t)n * esz : 1) : NULL;
  if (p == NULL)
    pc_err_set(err, PC_ENOMEM, "%s: out of memory for %llu items", r->path,
               (unsigned long long)n);
  return p;
}

/* Magic and version before any size: a wrong or other-version file is
 * called that, whatever its length. Version 3 differs only by having no
 * recipe, so it is read too; older ones would need their own decoders
 * kept forever, and retraining writes a current one. */
static int r_magic_version(pc_br_t *r, uint64_t size, uint32_t *version, pc_err_t *err) {
  unsigned char h[12] = {0};
  size_t got = pc_br_head(r, h, sizeof h);
  if (memcmp(h, MAGIC, got < 8 ? got : 8) != 0)
    return pc_err_set(err, PC_EMODEL, "%s: not a Parasol model file (bad magic)", r->path);
  if (got < sizeof h)
    return pc_err_set(err, PC_EMODEL, "%s: truncated: %llu bytes, shorter than the header",
                      r->path, (unsigned long long)size);
  uint32_t v = pc_get_u32(h + 8);
  if (v < PW_MODEL_VERSION_OLDEST || v > PW_MODEL_VERSION)
    return pc_err_set(err, PC_EMODEL, "%s: version %u (written by %s Parasol): this Parasol "
                      "reads versions %u to %u; retrain the model", r->path, v,
                      v < PW_MODEL_VERSION ? "an older" : "a newer", PW_MODEL_VERSION_OLDEST,
                      PW_MODEL_VERSION);
  *version = v;
  return 0;
}

static int r_settings(pc_br_t *r, pw_model_t *m, pc_err_t *err) {
  uint32_t n;
  int rc = pc_br_u32(r, &n, "the settings count", err);
  if (rc == 0 && n > PW_MODEL_MAX_SETTINGS)
    return pc_err_set(err, PC_EMODEL, "%s: %u settings, at most %d", r->path, n,
                      PW_MODEL_MAX_SETTINGS);
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    pc_setting_t *s = &m->settings[i];
    uint16_t nl = 0, vl = 0;
    rc = pc_br_u16(r, &nl, "a setting's name length", err);
    if (rc == 0 && (nl == 0 || nl >= SETTING_NAME_MAX))
      return pc_err_set(err, PC_EMODEL, "%s: setting %u: name of %u bytes, must be 1 to %zu",
                        r->path, i, nl, SETTING_NAME_MAX - 1);
    if (rc == 0)
      rc = pc_br_bytes(r, s->name, nl, "a setting's name", err);
    if (rc == 0)
      rc = pc_br_u16(r, &vl, "a setting's value length", err);
    if (rc == 0 && vl >= SETTING_VALUE_MAX)
      return pc_err_set(err, PC_EMODEL, "%s: setting '%s': value of %u bytes, at most %zu",
                        r->path, s->name, vl, SETTING_VALUE_MAX - 1);
    if (rc == 0)
      rc = pc_br_bytes(r, s->value, vl, "a setting's value", err);
    if (rc == 0 && (strlen(s->name) != nl || strlen(s->value) != vl))
      return pc_err_set(err, PC_EMODEL, "%s: setting %u holds a NUL byte", r->path, i);
    m->nsettings = i + 1;
  }
  return rc;
}

static int r_shape(pc_br_t *r, pw_shape_t *s, pc_err_t *err) {
  unsigned char b[SHAPE_BYTES];
  int rc = pc_br_bytes(r, b, sizeof b, "the data shape", err);
  s->features = pc_get_u64(b);
  s->height = pc_get_u32(b + 8);
  s->width = pc_get_u32(b + 12);
  s->channels = pc_get_u32(b + 16);
  uint32_t dense = pc_get_u32(b + 20);
  s->dense = dense > 1 ? 2 : (int)dense; /* 2: refused by check_shape */
  return rc;
}

static int r_transform(pc_br_t *r, pw_transform_t *t, pc_err_t *err) {
  uint64_t n;
  int rc = pc_br_u64(r, &n, "the transform size", err);
  if (rc == 0 && n > pc_br_left(r) / 8)
    return pc_err_set(err, PC_EMODEL, "%s: truncated: a transform of %llu features needs %llu "
                      "bytes at offset %llu, %llu left", r->path, (unsigned long long)n,
                      (unsigned long long)n * 8, (unsigned long long)r->off,
                      (unsigned long long)pc_br_left(r));
  if (rc < 0 || n == 0)
    return rc;
  t->mean = r_alloc(r, n, sizeof *t->mean, err);
  t->inv_std = r_alloc(r, n, sizeof *t->inv_std, err);
  if (t->mean == NULL || t->inv_std == NULL)
    return PC_ENOMEM;
  t->n = n;
  rc = pc_br_f32s(r, t->mean, n, "the transform's means", err);
  return rc == 0 ? pc_br_f32s(r, t->inv_std, n, "the transform's 1/std", err) : rc;
}

/* Version 4: the recipe's JSON, kept NUL-terminated. */
static int r_recipe(pc_br_t *r, pw_model_t *m, uint32_t version, pc_err_t *err) {
  uint32_t n = 0;
  int rc = version >= 4 ? pc_br_u32(r, &n, "the recipe length", err) : 0;
  if (rc < 0 || n == 0)
    return rc;
  if (n > PW_MODEL_MAX_RECIPE || n > pc_br_left(r))
    return pc_err_set(err, PC_EMODEL, "%s: truncated or corrupt: a recipe of %u bytes at offset "
                      "%llu, %llu left", r->path, n, (unsigned long long)r->off,
                      (unsigned long long)pc_br_left(r));
  if ((m->recipe_json = r_alloc(r, (uint64_t)n + 1, 1, err)) == NULL)
    return PC_ENOMEM;
  m->recipe_json[n] = '\0';
  m->recipe_len = n;
  return pc_br_bytes(r, m->recipe_json, n, "the recipe", err);
}

static void decode_spec(const unsigned char *h, pw_mtable_t *t, uint32_t id) {
  pc_table_t *s = &t->spec;
  memcpy(s->name, h, PC_TABLE_NAME_MAX);
  s->id = id;
  uint32_t kind = pc_get_u32(h + 32), init = pc_get_u32(h + 48), opt = pc_get_u32(h + 56);
  s->kind = kind == PC_TABLE_DENSE ? PC_TABLE_DENSE : PC_TABLE_SPARSE; /* r_table refuses others */
  s->size = pc_get_u64(h + 36);
  s->width = pc_get_u32(h + 44);
  /* Out-of-range codes are kept out of range for pc_table_check to refuse. */
  s->init = init <= PC_INIT_NORMAL ? (pc_init_t)init : (pc_init_t)-1;
  s->scale = pc_get_f32(h + 52);
  s->optimize = opt > 1 ? -1 : (int)opt;
  t->count = pc_get_u64(h + 60);
}

/* Bytes per stored row: bounded (width <= PC_TABLE_MAX_WIDTH) before use. */
static uint64_t row_bytes(const pc_table_t *s) {
  return (s->kind == PC_TABLE_SPARSE ? 8u : 0u) + 4u * (uint64_t)s->width;
}

static int r_rows(pc_br_t *r, pw_mtable_t *t, pc_err_t *err) {
  const pc_table_t *s = &t->spec;
  t->vals = r_alloc(r, t->count * s->width, sizeof *t->vals, err);
  if (t->vals == NULL)
    return PC_ENOMEM;
  if (s->kind == PC_TABLE_DENSE)
    return pc_br_f32s(r, t->vals, t->count * s->width, "dense values", err);
  t->keys = r_alloc(r, t->count, sizeof *t->keys, err);
  if (t->keys == NULL)
    return PC_ENOMEM;
  int rc = 0;
  for (uint64_t i = 0; rc == 0 && i < t->count; i++) {
    rc = pc_br_u64(r, &t->keys[i], "a key", err);
    if (rc == 0)
      rc = pc_br_f32s(r, t->vals + i * s->width, s->width, "a row", err);
  }
  return rc;
}

static int r_table(pc_br_t *r, pw_mtable_t *t, uint32_t id, pc_err_t *err) {
  unsigned char h[TABLE_HEADER];
  int rc = pc_br_bytes(r, h, sizeof h, "a table header", err);
  if (rc < 0)
    return rc;
  decode_spec(h, t, id);
  uint32_t kind = pc_get_u32(h + 32);
  const pc_table_t *s = &t->spec;
  if (kind > PC_TABLE_DENSE || s->width == 0 || s->width > PC_TABLE_MAX_WIDTH)
    return pc_err_set(err, PC_EMODEL, "%s: table %u '%.32s': kind %u, width %u (kind 0 or 1, "
                      "width 1..%u)", r->path, id, s->name, kind, s->width, PC_TABLE_MAX_WIDTH);
  if (s->kind == PC_TABLE_DENSE && t->count != s->size)
    return pc_err_set(err, PC_EMODEL, "%s: table '%.32s': dense table of size %llu holds %llu "
                      "rows", r->path, s->name, (unsigned long long)s->size,
                      (unsigned long long)t->count);
  uint64_t rb = row_bytes(s);
  if (t->count > pc_br_left(r) / rb)
    return pc_err_set(err, PC_EMODEL, "%s: truncated: table '%.32s' needs %llu x %llu bytes "
                      "of rows at offset %llu, %llu left", r->path, s->name,
                      (unsigned long long)t->count, (unsigned long long)rb,
                      (unsigned long long)r->off, (unsigned long long)pc_br_left(r));
  return r_rows(r, t, err);
}

static int r_tables(pc_br_t *r, pw_model_t *m, pc_err_t *err) {
  uint32_t n;
  int rc = pc_br_u32(r, &n, "the table count", err);
  if (rc == 0 && (n == 0 || n > PC_TABLE_MAX))
    return pc_err_set(err, PC_EMODEL, "%s: %u tables, a model has 1 to %d", r->path, n,
                      PC_TABLE_MAX);
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    m->ntables = i + 1; /* so pw_model_free finds what this table allocates */
    rc = r_table(r, &m->tables[i], i, err);
  }
  return rc;
}

static int r_checksum(pc_br_t *r, pc_err_t *err) {
  if (r->off != r->body)
    return pc_err_set(err, PC_EMODEL, "%s: trailing bytes: %llu bytes after the last table",
                      r->path, (unsigned long long)(r->body - r->off));
  return pc_br_sum(r, err);
}

/* Names as written: NUL-padded, so one table has one encoding. */
static int check_padding(const pw_model_t *m, const char *path, pc_err_t *err) {
  for (size_t i = 0; i < m->ntables; i++) {
    const char *n = m->tables[i].spec.name;
    for (size_t k = strnlen(n, PC_TABLE_NAME_MAX); k < PC_TABLE_NAME_MAX; k++)
      if (n[k] != '\0')
        return pc_err_set(err, PC_EMODEL, "%s: table %zu: name '%.32s' is not NUL-padded",
                          path, i, n);
  }
  return 0;
}

static int load_stream(pc_br_t *r, pw_model_t *m, uint64_t size, pc_err_t *err) {
  uint32_t version = 0;
  int rc = r_magic_version(r, size, &version, err);
  uint32_t type = 0;
  if (rc == 0)
    rc = pc_br_u32(r, &type, "the model type", err);
  m->type = (pc_model_type_t)type;
  if (rc == 0)
    rc = r_settings(r, m, err);
  if (rc == 0)
    rc = r_shape(r, &m->shape, err);
  if (rc == 0)
    rc = r_transform(r, &m->tf, err);
  if (rc == 0)
    rc = r_recipe(r, m, version, err);
  if (rc == 0)
    rc = r_tables(r, m, err);
  if (rc == 0)
    rc = r_checksum(r, err);
  if (rc == 0)
    rc = check_padding(m, r->path, err);
  return rc == 0 ? check_model(m, r->path, PC_EMODEL, err) : rc;
}

int pw_model_load(pw_model_t *m, const char *path, pc_err_t *err) {
  if (m == NULL || path == NULL)
    return pc_err_set(err, PC_EINVAL, "model load: NULL model or path");
  memset(m, 0, sizeof *m);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return pc_err_set(err, PC_EMODEL, "%s: cannot open model file: %s", path, strerror(errno));
  struct stat st;
  pc_br_t r;
  int rc;
  if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
    rc = pc_err_set(err, PC_EMODEL, "%s: not a regular file", path);
  else if ((rc = pc_br_file(&r, f, (uint64_t)st.st_size, path, PC_EMODEL, err)) == 0) {
    rc = load_stream(&r, m, (uint64_t)st.st_size, err);
    pc_br_close(&r);
  }
  fclose(f);
  if (rc < 0)
    pw_model_free(m);
  return rc;
}

void pw_model_free(pw_model_t *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->ntables && i < PC_TABLE_MAX; i++) {
    free(m->tables[i].keys);
    free(m->tables[i].vals);
  }
  free(m->tf.mean);
  free(m->tf.inv_std);
  free(m->recipe_json);
  memset(m, 0, sizeof *m);
}

/* ---- describe, config ---- */

int pw_model_describe(pw_model_t *m, const pc_config_t *cfg, const pw_shape_t *shape,
                      pc_err_t *err) {
  if (m == NULL || cfg == NULL)
    return pc_err_set(err, PC_EINVAL, "pw_model_describe: NULL model or config");
  memset(m, 0, sizeof *m);
  pc_setting_t all[PC_CONFIG_MAX_SHARED];
  memset(all, 0, sizeof all); /* no stack bytes after the strings' NULs */
  size_t n = pc_config_shared(cfg, all, PC_CONFIG_MAX_SHARED);
  for (size_t i = 0; i < n && i < PC_CONFIG_MAX_SHARED; i++) {
    if (!carried(all[i].name))
      continue;
    if (m->nsettings == PW_MODEL_MAX_SETTINGS)
      return pc_err_set(err, PC_EINVAL, "model: more than %d model.* settings",
                        PW_MODEL_MAX_SETTINGS);
    m->settings[m->nsettings++] = all[i];
  }
  m->type = cfg->model.type;
  if (shape != NULL)
    m->shape = *shape;
  return PC_OK;
}

int pw_model_config(const pw_model_t *m, pc_config_t *cfg, pc_err_t *err) {
  if (m == NULL || cfg == NULL)
    return pc_err_set(err, PC_EINVAL, "pw_model_config: NULL model or config");
  if (m->nsettings > PW_MODEL_MAX_SETTINGS)
    return pc_err_set(err, PC_EINVAL, "model: %zu settings, at most %d", m->nsettings,
                      PW_MODEL_MAX_SETTINGS);
  return replay_settings(m, cfg, "model", PC_EINVAL, err);
}

/* ---- sparse tables ---- */

typedef struct keyed {
  uint64_t key;
  uint64_t from; /* row index before sorting */
} keyed_t;

static int keyed_cmp(const void *a, const void *b) {
  uint64_t x = ((const keyed_t *)a)->key, y = ((const keyed_t *)b)->key;
  return (x > y) - (x < y);
}

/* Move the rows so row i is the one that was at order[i].from, following
 * each cycle of the permutation with one spare row. */
static void permute_rows(float *vals, uint32_t width, keyed_t *order, uint64_t n, float *spare) {
  size_t rb = (size_t)width * sizeof *vals;
  for (uint64_t i = 0; i < n; i++) {
    if (order[i].from == i)
      continue;
    memcpy(spare, vals + i * width, rb);
    uint64_t j = i;
    while (order[j].from != i) {
      uint64_t k = order[j].from;
      memcpy(vals + j * width, vals + k * width, rb);
      order[j].from = j;
      j = k;
    }
    memcpy(vals + j * width, spare, rb);
    order[j].from = j;
  }
}

int pw_mtable_sort(pw_mtable_t *t, pc_err_t *err) {
  if (t == NULL || t->spec.kind != PC_TABLE_SPARSE || t->spec.width == 0 ||
      (t->count > 0 && (t->keys == NULL || t->vals == NULL)))
    return pc_err_set(err, PC_EINVAL, "pw_mtable_sort: not a sparse table with keys and values");
  if (t->count < 2)
    return PC_OK;
  keyed_t *order = t->count <= SIZE_MAX / sizeof *order ? malloc((size_t)t->count * sizeof *order)
                                                        : NULL;
  float *spare = malloc((size_t)t->spec.width * sizeof *spare);
  if (order == NULL || spare == NULL) {
    free(order);
    free(spare);
    return pc_err_set(err, PC_ENOMEM, "table '%.32s': out of memory sorting %llu keys",
                      t->spec.name, (unsigned long long)t->count);
  }
  for (uint64_t i = 0; i < t->count; i++)
    order[i] = (keyed_t){t->keys[i], i};
  qsort(order, (size_t)t->count, sizeof *order, keyed_cmp);
  for (uint64_t i = 0; i < t->count; i++)
    t->keys[i] = order[i].key;
  permute_rows(t->vals, t->spec.width, order, t->count, spare);
  free(order);
  free(spare);
  for (uint64_t i = 1; i < t->count; i++)
    if (t->keys[i] == t->keys[i - 1])
      return pc_err_set(err, PC_EINVAL, "table '%.32s': key %llu was collected twice",
                        t->spec.name, (unsigned long long)t->keys[i]);
  return PC_OK;
}

const float *pw_model_row(const pw_model_t *m, uint32_t table, uint64_t local) {
  if (m == NULL || table >= m->ntables)
    return NULL;
  const pw_mtable_t *t = &m->tables[table];
  if (local >= t->spec.size || t->vals == NULL)
    return NULL;
  if (t->spec.kind == PC_TABLE_DENSE)
    return local < t->count ? t->vals + local * t->spec.width : NULL;
  uint64_t lo = 0, hi = t->count;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (t->keys[mid] < local)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < t->count && t->keys[lo] == local ? t->vals + lo * t->spec.width : NULL;
}
