/* How the columns of a raw CSV become features: the encoding `parasol
 * prep` fits on the training split and every later reader of raw data
 * (`predict`, `eval` on a raw CSV) applies the same way. The recipe is
 * encoding only: imputation of missing cells, one-hot or hashed
 * categories, dropped columns. Standardization is a pw_transform_t over
 * the encoded features, kept beside the recipe (the shards' header, the
 * model file), so the existing transform path applies it.
 *
 * A recipe travels as JSON (prep.json, the shards' header, the model
 * file); docs/prep.md describes its fields. */
#ifndef PW_RECIPE_H
#define PW_RECIPE_H

#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"
#include "pw_data.h"

typedef enum {
  PW_COL_NUMERIC = 0, /* one feature: the number, missing cells imputed */
  PW_COL_ONEHOT = 1,  /* one feature per category seen in training */
  PW_COL_HASHED = 2,  /* past --max-categories: buckets features, by hash */
  PW_COL_DROPPED = 3  /* no feature (constant column, all missing, ...) */
} pw_col_kind_t;

typedef struct pw_recipe_col {
  char *name;         /* header name (owned) */
  pw_col_kind_t kind;
  uint64_t offset;    /* first feature index it writes */
  uint64_t width;     /* features it writes: 1, ncats, buckets or 0 */
  double impute;      /* numeric: the value of a missing cell */
  char **cats;        /* onehot: category text, feature offset + i (owned) */
  size_t ncats;
  char *why;          /* dropped: the reason, e.g. "constant" (owned) */
} pw_recipe_col_t;

typedef struct pw_recipe {
  char *label;            /* label column name (owned) */
  pw_label_kind_t labels; /* binary, class or real */
  char **classes;         /* label text of class 0, 1, ... (owned); binary:
                           * [0] is the negative class. Empty for real labels */
  size_t nclasses;
  pw_recipe_col_t *cols;  /* the input's columns but the label, in order (owned) */
  size_t ncols;
  uint64_t features;      /* sum of the columns' widths */
} pw_recipe_t;

/* JSON text (NUL-terminated, *json owned by the caller, free()). */
int pw_recipe_to_json(const pw_recipe_t *r, char **json, pc_err_t *err);
/* Parse and check (offsets and widths add up, names unique, ...); what
 * names the source in messages ("model.bin", "prep/train/part-00000.psp").
 * On error *r holds nothing. */
int pw_recipe_from_json(pw_recipe_t *r, const char *json, size_t len, const char *what,
                        pc_err_t *err);
void pw_recipe_free(pw_recipe_t *r);

/* Read a raw CSV (a header line naming the columns) and encode every row
 * with the recipe: columns matched by name (order may differ; a recipe
 * column missing from the header is an error naming it; extra columns are
 * ignored), missing cells imputed, unknown categories encoded as no
 * feature (counted in *unknown when not NULL). The label column may be
 * absent when labels_optional (labels NaN); when present its text must be
 * one of the recipe's classes (or a number, for real labels). Never drops
 * a row: predict writes one line per input row. Errors name file:line. */
int pw_recipe_load_csv(pw_dataset_t *ds, const pw_recipe_t *r, const char *path,
                       int labels_optional, uint64_t *unknown, pc_err_t *err);

/* Encode one row: cells[i] is the text of recipe column i (NULL or a
 * missing token: missing). Writes at most r->ncols entries, in increasing
 * index order, to idx/val and their count to *k; a numeric feature is
 * stored even when 0 (so a transform sees it). Returns 0, or -1 with
 * why[PW_RECIPE_WHY] saying which cell is not a finite number. */
#define PW_RECIPE_WHY 200
int pw_recipe_encode(const pw_recipe_t *r, const char *const *cells, uint64_t *idx, float *val,
                     size_t *k, uint64_t *unknown, char *why);

/* The label cell as stored: a class index (the position of its text in
 * r->classes) or a real number. -1: not one of the classes / not a finite
 * number (why says which). */
int pw_recipe_label(const pw_recipe_t *r, const char *cell, float *out, char *why);

/* ds zeroed and sized for n rows of at most r->ncols entries each (the
 * rows are then filled by pw_recipe_encode); shape from the recipe. */
int pw_recipe_ds_init(pw_dataset_t *ds, const pw_recipe_t *r, size_t n, pc_err_t *err);

/* Encode cells (as pw_recipe_encode) and append the row with label to ds
 * (sized by pw_recipe_ds_init). -1 with why as pw_recipe_encode. */
int pw_recipe_add_row(pw_dataset_t *ds, const pw_recipe_t *r, const char *const *cells,
                      float label, uint64_t *unknown, char *why);

const char *pw_col_kind_name(pw_col_kind_t k);
const char *pw_label_kind_name(pw_label_kind_t k);

#endif
