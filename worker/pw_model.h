/* Trained models: what worker 0 writes and `parasol eval` / `predict`
 * load. A model is self-describing: its type and settings (the model.*
 * config it was trained with), the data's shape, the feature transform
 * (standardization), and its tables with their values.
 *
 * File format version 4 (docs/model-format.md), integers little-endian:
 *   magic "PSLMODEL" (8 bytes), u32 version = 4, u32 model type
 *   u32 nsettings, then per setting: u16 name length, name, u16 value
 *       length, value (the model.* settings as pc_config_shared writes them)
 *   shape: u64 features, u32 height, u32 width, u32 channels, u32 dense
 *   transform: u64 n (0 = none), then n f32 means, n f32 inverse std devs
 *   recipe: u32 length (0 = none), then that many bytes of the encoding
 *       recipe's JSON (pw_recipe.h; a model trained on prepared CSV data)
 *   u32 ntables, then per table:
 *       name: 32 bytes, NUL-padded; u32 kind (0 sparse, 1 dense);
 *       u64 size; u32 width; u32 init; f32 scale; u32 optimize;
 *       u64 count; then dense: count == size rows of width f32;
 *       sparse: count entries of (u64 local key, width f32), keys strictly
 *       ascending and < size
 *   u64 XXH3-64 (seed 0) of every byte before it.
 * Version 3 is version 4 without the recipe; both are read.
 * Loading checks the magic and the version (any other is refused, naming
 * the version found: written by another Parasol, retrain), every count
 * against the bytes left before allocating anything, the checksum, the
 * tables (pc_table_check), key order and range, and that every value is
 * finite. Every error names the file and the reason. */
#ifndef PW_MODEL_H
#define PW_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pc_table.h"
#include "pw_data.h"

#define PW_MODEL_VERSION 4u
#define PW_MODEL_VERSION_OLDEST 3u /* the oldest version still read */
#define PW_MODEL_MAX_RECIPE ((uint32_t)64 << 20)
/* Settings a model file may carry: far above the model.* fields. */
#define PW_MODEL_MAX_SETTINGS 64

/* One table of a trained model. Dense: count == spec.size rows, keys
 * NULL, row k at vals + k*width. Sparse: keys[0..count) strictly
 * ascending local keys, row i at vals + i*width; every other key reads as
 * zeros. */
typedef struct pw_mtable {
  pc_table_t spec;
  uint64_t count;
  uint64_t *keys; /* owned, sparse only */
  float *vals;    /* owned, count * width */
} pw_mtable_t;

typedef struct pw_model {
  pc_model_type_t type;
  pc_setting_t settings[PW_MODEL_MAX_SETTINGS]; /* model.* and data.format, data.label,
                                                 * data.label_offset as trained */
  size_t nsettings;
  pw_shape_t shape;
  pw_transform_t tf;  /* owned; n == 0 when none */
  char *recipe_json;  /* owned, NUL-terminated; NULL when none (data not from a CSV prep) */
  size_t recipe_len;  /* bytes of recipe_json without the NUL */
  size_t ntables;
  pw_mtable_t tables[PC_TABLE_MAX];
} pw_model_t;

/* Fill type, settings (the model.* entries of pc_config_shared, and how the
 * data is read: data.format, data.label, data.label_offset) and shape
 * from a config and the data's shape; tables and transform stay empty. */
int pw_model_describe(pw_model_t *m, const pc_config_t *cfg, const pw_shape_t *shape,
                      pc_err_t *err);

/* The config a model was trained with, as far as the model is concerned:
 * defaults plus its model.* settings. */
int pw_model_config(const pw_model_t *m, pc_config_t *cfg, pc_err_t *err);

/* Write atomically (pc_afile). Checks the model first: tables
 * (pc_table_check), counts, key order, finite values. */
int pw_model_save(const pw_model_t *m, const char *path, pc_err_t *err);
/* Read and check a version-3 or -4 file into *m (zeroed first; freed on
 * error). */
int pw_model_load(pw_model_t *m, const char *path, pc_err_t *err);
void pw_model_free(pw_model_t *m);

/* Sparse table collected in any order (e.g. from several servers): sort
 * its rows by key. A key present twice is PC_EINVAL. */
int pw_mtable_sort(pw_mtable_t *t, pc_err_t *err);

/* Row of local key in table: NULL when a sparse table does not hold it
 * or the key is >= size (reads as zeros). O(1) dense, O(log count) sparse. */
const float *pw_model_row(const pw_model_t *m, uint32_t table, uint64_t local);

#endif
