/* Training/test data readers. A dataset is a CSR matrix of examples with
 * labels in {0, 1} (NaN for an unlabeled example, where allowed). A reader
 * can load just one partition of a file (by byte range, aligned to line
 * starts), so W workers each parse only 1/W of it. */
#ifndef PW_DATA_H
#define PW_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pc_error.h"

typedef struct pw_dataset {
  size_t n;          /* examples */
  size_t nnz;        /* stored non-zeros */
  float *label;      /* [n], 0 or 1; NaN = no label (labels_optional only) */
  size_t *row;       /* [n+1], offsets into idx/val */
  uint64_t *idx;     /* [nnz], feature indices as in the file */
  float *val;        /* [nnz] */
  uint64_t max_index;/* largest index seen (0 if none) */
  uint64_t bad_lines;/* lines skipped (skip mode) */
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
} pw_data_opts_t;

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
