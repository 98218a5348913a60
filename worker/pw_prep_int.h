/* Internal to `parasol prep` (worker/pw_prep*.c) and its unit tests: the
 * dropped-row ledger, the cleaned CSV table, fitting the recipe on the
 * training rows, and the split. */
#ifndef PW_PREP_INT_H
#define PW_PREP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pc_error.h"
#include "pw_csvtext.h"
#include "pw_data.h"
#include "pw_prep.h"
#include "pw_recipe.h"

/* Why a row was dropped; each dropped row counts under its first reason. */
typedef enum {
  PW_DROP_RAGGED = 0,  /* not as many cells as the header */
  PW_DROP_LABEL,       /* missing label, or not one the label kind allows */
  PW_DROP_INFINITE,    /* inf/-inf in a numeric column */
  PW_DROP_TEXT,        /* text that is not a number in a numeric column */
  PW_DROP_MISSING,     /* a missing cell, with --missing drop */
  PW_DROP_DUPLICATE,   /* the same as an earlier row (the first is kept) */
  PW_DROP_BAD_RECORD,  /* libsvm/idx/ratings: a line the reader refused */
  PW_DROP_N
} pw_drop_t;

#define PW_DROP_LINES 5 /* line numbers kept per reason */
#define PW_DROP_WHY 200

typedef struct pw_drops {
  uint64_t count[PW_DROP_N];
  uint64_t lines[PW_DROP_N][PW_DROP_LINES]; /* the first ones (line, or record for binary) */
  char first[PW_DROP_N][PW_DROP_WHY];       /* the first one's details */
} pw_drops_t;

const char *pw_drop_name(pw_drop_t d);
void pw_drops_add(pw_drops_t *d, pw_drop_t why, uint64_t line, const char *detail);
uint64_t pw_drops_total(const pw_drops_t *d);

/* Per-column statistics over the kept rows (missing) and the training
 * split (min, mean, max, categories). */
typedef struct pw_colstat {
  uint64_t missing;
  double min, mean, max;
  size_t categories; /* distinct texts in training (categorical columns) */
} pw_colstat_t;

/* A raw CSV after the row checks: the cells of the kept rows. */
typedef struct pw_prep_table {
  pw_csvtext_t text;
  const char *path;
  size_t ncols;            /* header cells, the label's too */
  size_t label_col;
  char **names;            /* [ncols] the header's cells (into text) */
  unsigned char *numeric;  /* [ncols] 1: a numeric column (the label's: numeric labels) */
  unsigned char *ignored;  /* [ncols] 1: --ignore: no feature, no cell checks */
  const char **cells;      /* [nrows * ncols] the kept rows' cells (into text) */
  uint64_t *lineno;        /* [nrows] */
  float *label;            /* [nrows] class index or value */
  size_t nrows;
  uint64_t rows_in;        /* data lines read (blank lines not counted) */
  pw_label_kind_t kind;
  char **classes;          /* [nclasses] (owned strings) */
  size_t nclasses;
  pw_colstat_t *stats;     /* [ncols] */
  pw_drops_t drops;
} pw_prep_table_t;

/* Read and check the rows of o->input (docs/prep.md: what is dropped and
 * why). Errors: file-level problems (empty, not text, no label column, no
 * row left), naming the file and line. On error *t holds nothing. */
int pw_prep_csv_read(pw_prep_table_t *t, const pw_prep_opts_t *o, pc_err_t *err);
void pw_prep_table_free(pw_prep_table_t *t);

/* Fit the recipe on the rows train[0, n) of t: imputation means, category
 * sets (onehot up to o->max_categories, hashed past it), constant and
 * empty columns dropped. Fills t->stats. */
int pw_prep_fit(pw_recipe_t *r, pw_prep_table_t *t, const size_t *train, size_t n,
                const pw_prep_opts_t *o, pc_err_t *err);

/* The rows rows[0, n) of t encoded with r. */
int pw_prep_encode(pw_dataset_t *ds, const pw_recipe_t *r, const pw_prep_table_t *t,
                   const size_t *rows, size_t n, pc_err_t *err);

/* --split: three fractions >= 0 summing to 1 (within 1e-9), train > 0. */
int pw_prep_check_split(const double split[3], pc_err_t *err);

/* Assign each of n rows to a split (part[i] = 0 train, 1 valid, 2 test):
 * within each class (stratify; label[i] the class) or over all rows, a
 * shuffle seeded by seed, then cut by the fractions. */
int pw_prep_split(const float *label, size_t n, int stratify, const double split[3],
                  uint64_t seed, unsigned char *part, pc_err_t *err);

/* Fisher-Yates over a[0, n) from the state *s (splitmix64). */
void pw_prep_shuffle(size_t *a, size_t n, uint64_t *s);


/* One run of `parasol prep`, shared by pw_prep.c (reading, splitting) and
 * pw_prep_out.c (writing DIR, prep.json and the summary). */
typedef struct pw_prep_run {
  const pw_prep_opts_t *o;
  pw_prep_table_t table;     /* csv only */
  pw_recipe_t recipe;        /* csv only (features > 0 once fitted) */
  char *recipe_json;         /* csv only (owned) */
  pw_drops_t *drops;         /* table.drops (csv) or own_drops */
  pw_drops_t own_drops;
  uint64_t rows_in, rows_out;
  pw_label_kind_t kind;
  uint32_t classes;
  pw_shape_t shape;
  pw_dataset_t split[3];     /* train, valid, test (n == 0: not written) */
  pw_transform_t tf;         /* n == 0: no --standardize */
} pw_prep_run_t;

/* Write DIR (o->out) from the run: the splits' shards and prep.json, in
 * DIR/.prep.tmp-PID first, then renamed into place. */
int pw_prep_write(const pw_prep_run_t *p, pc_err_t *err);
/* The checks on DIR before any reading: not the input, empty or --force. */
int pw_prep_check_out(const pw_prep_opts_t *o, pc_err_t *err);
/* The human summary (stdout of `parasol prep`). */
void pw_prep_print(const pw_prep_run_t *p, FILE *f);
/* prep.json's content (docs/prep.md), as a new jansson object or NULL. */
struct json_t;
struct json_t *pw_prep_json(const pw_prep_run_t *p);

#endif
