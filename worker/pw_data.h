/* Training/test data readers. A dataset is a CSR matrix of examples with
 * one label each (binary 0/1, a class 0..K-1, or a real number; NaN for an
 * unlabeled example, where allowed). Readers: LIBSVM, numeric CSV, MNIST
 * idx (gzip too) and rating triples, behind one ops table (pw_reader_t).
 * LIBSVM can load just one partition of a file (by byte range, aligned to
 * line starts), so W workers each parse only 1/W of it; the others read the
 * whole file and keep one contiguous block of its rows (see pw_data_load).
 *
 * Dense readers (csv, idx) store every feature of every row, zeros too,
 * indices 0..features-1 in order (shape.dense = 1). A ratings row holds two
 * entries: idx[0] = user id, idx[1] = item id (values 1), label = rating. */
#ifndef PW_DATA_H
#define PW_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pc_config.h"
#include "pc_error.h"

typedef enum {
  PW_LABEL_BINARY = 0, /* -1/+1 or 0/1 in the file, stored as 0/1 */
  PW_LABEL_CLASS = 1,  /* integer - label_offset in [0, classes) */
  PW_LABEL_REAL = 2    /* any finite number (regression, ratings) */
} pw_label_kind_t;

/* What the data looks like, as readers find it: models check their config
 * against it. */
typedef struct pw_shape {
  uint64_t features; /* 1 + largest feature index seen (or the file's columns) */
  uint32_t height, width, channels; /* images (idx; csv when features is a
                                     * perfect square: side x side x 1); 0 = not an image */
  int dense;         /* every row stores features 0..features-1 in order */
  int pairs;         /* ratings: every row is (user id, item id), in that order; ids
                      * below features */
} pw_shape_t;

typedef struct pw_dataset {
  size_t n;          /* examples */
  size_t nnz;        /* stored non-zeros */
  float *label;      /* [n], by opts.labels: 0/1, a class, a number; NaN = no
                      * label (labels_optional only) */
  size_t *row;       /* [n+1], offsets into idx/val */
  uint64_t *idx;     /* [nnz], feature indices as in the file */
  float *val;        /* [nnz] */
  uint64_t max_index;/* largest index seen (0 if none) */
  uint64_t bad_lines;/* lines skipped (skip mode) */
  pw_shape_t shape;
} pw_dataset_t;

typedef struct pw_data_opts {
  int part, nparts;      /* load partition part of nparts (0 <= part < nparts) */
  uint64_t features;     /* indices must be < features (0 = no limit) */
  int skip_bad;          /* 0: first bad line is an error; 1: skip and count */
  uint64_t max_bad_lines;/* with skip_bad: error once more than this are skipped */
  int labels_optional;   /* 1: a line may have no label (its label is NaN): its
                          * first token is index:value, or it is blank (an
                          * example with no features). 0: blank lines are
                          * skipped and every other line needs a label. */
  pw_label_kind_t labels;/* how labels are read and checked (default binary) */
  int classes;           /* PW_LABEL_CLASS: labels must be < classes (0 = no bound) */
  int label_offset;      /* PW_LABEL_CLASS: subtracted from each label first. A
                          * reader that sees label == classes with none below 1
                          * says the labels look 1-based and names data.label_offset */
  const char *label;     /* csv: label column: header name or 0-based number */
  const char *labels_path; /* idx: the labels file that goes with the images */
} pw_data_opts_t;

/* A reader of one data format: the ops table the worker, `eval` and
 * `predict` go through. partial: the reader honours part/nparts itself
 * (by byte ranges); otherwise pw_data_load reads the whole file and keeps
 * partition part of nparts as the contiguous block of rows
 * [part*n/nparts, (part+1)*n/nparts), with the whole file's shape and
 * max_index (so every worker finds the same shape). */
typedef struct pw_reader {
  const char *name; /* the data.format value */
  pc_format_t format;
  int partial;
  int (*load)(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts, pc_err_t *err);
} pw_reader_t;

/* The reader of a format, NULL if none. */
const pw_reader_t *pw_reader_find(pc_format_t format);

/* Load path (its partition opts->part of opts->nparts) with the reader of
 * format. Errors name "file:line: reason" (or the byte offset / record for
 * binary files). */
int pw_data_load(pw_dataset_t *ds, pc_format_t format, const char *path,
                 const pw_data_opts_t *opts, pc_err_t *err);

/* Options for a dataset named by a config: label kind (given by the
 * caller: it is the model's), classes and label_offset (class labels
 * only), label column, skip mode; part/nparts as given. path_labels:
 * data.labels or data.test_labels ("" or NULL: none). features is left 0
 * (no bound) and labels_optional 0: the caller sets them where it wants
 * them (the worker bounds LIBSVM training indices by model.features). */
void pw_data_opts_from_config(pw_data_opts_t *o, const pc_config_t *cfg, pw_label_kind_t kind,
                              const char *path_labels, int part, int nparts);

/* out = rows[0..n) of in, in that order (a copy; out owns it). */
int pw_data_subset(pw_dataset_t *out, const pw_dataset_t *in, const size_t *rows, size_t n,
                   pc_err_t *err);

/* The deterministic hold-out of a file of n rows: is_test[i] = 1 for a test
 * row. test_rows > 0: the last test_rows rows (must be < n); else each row
 * with probability fraction, decided by a hash of (seed, i), so every
 * worker finds the same split without talking. Returns PC_EINVAL (with a
 * message) when the split leaves no training or no test row. */
int pw_data_holdout(size_t n, double fraction, uint64_t test_rows, uint64_t seed,
                    unsigned char *is_test, pc_err_t *err);

/* What a row of data.train is for, once the hold-outs are drawn. */
enum { PW_ROW_TRAIN = 0, PW_ROW_TEST = 1, PW_ROW_VALID = 2 };

/* data.valid_fraction: each row still PW_ROW_TRAIN in split[0..n) becomes
 * PW_ROW_VALID with probability fraction, by a hash of (seed, i) drawn
 * independently of pw_data_holdout's. PC_EINVAL (with a message) when no
 * validation or no training row is left. */
int pw_data_holdout_valid(size_t n, double fraction, uint64_t seed, unsigned char *split,
                          pc_err_t *err);

/* Per-feature statistics for standardization, added over datasets (and
 * over workers: the sums travel through the servers). */
typedef struct pw_transform {
  uint64_t n;      /* features; 0 = identity */
  float *mean;     /* [n] (owned) */
  float *inv_std;  /* [n] 1/sqrt(var), 1 for a constant feature (owned) */
} pw_transform_t;

/* sum[f] += x, sumsq[f] += x^2 over every stored value of feature f < nf
 * (dense data: every value); *count += rows. */
void pw_data_moments(const pw_dataset_t *ds, uint64_t nf, double *sum, double *sumsq,
                     double *count);
/* mean and 1/std from sums over count rows. */
int pw_transform_from_moments(pw_transform_t *t, uint64_t nf, const double *sum,
                              const double *sumsq, double count, pc_err_t *err);
/* x = (x - mean) * inv_std for every stored value of a feature < t->n. */
void pw_data_apply_transform(pw_dataset_t *ds, const pw_transform_t *t);
void pw_transform_free(pw_transform_t *t);
/* Whether two transforms are the same, value for value (two "none" are). */
int pw_transform_equal(const pw_transform_t *a, const pw_transform_t *b);
/* A transform read from a file (path, for messages) is usable: values
 * present, finite, 1/std > 0, and at most `features` of them (0: no
 * bound). Errors carry `code` (the file kind's: PC_EMODEL, PC_EDATA). */
int pw_transform_check(const pw_transform_t *t, uint64_t features, const char *path, int code,
                       pc_err_t *err);

/* Parse LIBSVM: "<label> <index>:<value> ..." per line, '#' comments and
 * blank lines ignored (see labels_optional). Labels exactly -1, 0, +1 or 1,
 * mapped to 0/1. Indices strictly increasing within a line, values finite.
 * A UTF-8 byte-order mark at offset 0 is skipped; one at the start of a
 * later line is an error that says so. Errors name "file:line: reason",
 * with the line number counted from the start of the file even for a
 * partition, and bytes outside printable ASCII shown as \xHH. */
int pw_data_load_libsvm(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                        pc_err_t *err);

/* The same from a stream (a pipe, stdin) read to its end: it is held in
 * memory whole, then parsed like a file of that size (partitions too).
 * name stands for the stream in messages, e.g. "<stdin>". f stays open. */
int pw_data_load_libsvm_stream(pw_dataset_t *ds, FILE *f, const char *name,
                               const pw_data_opts_t *opts, pc_err_t *err);
void pw_data_free(pw_dataset_t *ds);

#endif
