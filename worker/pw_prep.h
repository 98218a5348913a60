/* `parasol prep`: read raw data, find and deal with dirty rows as told
 * (never silently), fit the encoding and the standardization on the
 * training split, split with the seed (stratified for class labels) and
 * write DIR/train, DIR/valid, DIR/test as shards (pw_prepared.h) plus
 * DIR/prep.json, a summary of what was done (docs/prep.md). */
#ifndef PW_PREP_H
#define PW_PREP_H

#include <stdint.h>
#include <stdio.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pw_data.h"

typedef enum { PW_MISSING_MEAN = 0, PW_MISSING_ZERO = 1, PW_MISSING_DROP = 2 } pw_missing_t;

typedef struct pw_prep_opts {
  const char *input;        /* the raw file (never written) */
  pc_format_t format;       /* csv, libsvm, idx, ratings */
  const char *labels_path;  /* idx: the labels file */
  const char *label;        /* csv: label column (name or 0-based number); NULL: last column */
  pw_label_kind_t labels;   /* binary, class or real (when !labels_auto) */
  int labels_auto;          /* 1 (default): the kind from the labels (docs/prep.md) */
  int label_offset;         /* class labels written as numbers: subtracted first */
  pw_missing_t missing;
  int standardize;
  double split[3];          /* train, valid, test fractions: each >= 0, sum 1 */
  uint32_t shards;          /* per split, 1..PW_PREP_MAX_SHARDS */
  uint64_t seed;
  uint32_t max_categories;  /* onehot up to this many categories, hashed past it */
  const char *ignore;       /* csv: "COL[,COL...]" kept out of the features (ids, free
                             * text, timestamps) but still part of the duplicate check;
                             * NULL: none */
  const char *out;          /* DIR */
  int force;                /* write into a non-empty DIR (never over input) */
} pw_prep_opts_t;

void pw_prep_opts_default(pw_prep_opts_t *o);

/* Run it; the summary (rows in, out, dropped by reason with the first line
 * numbers, per-feature statistics) goes to `summary` as it is written to
 * DIR/prep.json. Errors name the file, line or argument and the reason;
 * on error nothing under DIR is left half-written. */
int pw_prep_run(const pw_prep_opts_t *o, FILE *summary, pc_err_t *err);

#endif
