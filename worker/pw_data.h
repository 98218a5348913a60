/* Training/test data readers. A dataset is a CSR matrix of examples with
 * labels in {0, 1}. A reader can load just one partition of a file (by byte
 * range, aligned to line starts), so W workers each parse only 1/W of it. */
#ifndef PW_DATA_H
#define PW_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"

typedef struct pw_dataset {
  size_t n;          /* examples */
  size_t nnz;        /* stored non-zeros */
  float *label;      /* [n], 0 or 1 */
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
} pw_data_opts_t;

/* Parse LIBSVM: "<label> <index>:<value> ..." per line, '#' comments and
 * blank lines ignored. Labels -1/+1 or 0/1 (any value > 0 is positive for
 * +1/-1 files: exactly -1, 0, +1, 1 accepted). Indices strictly increasing
 * within a line, values finite. Errors name "file:line: reason", with the
 * line number counted from the start of the file even for a partition. */
int pw_data_load_libsvm(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                        pc_err_t *err);
void pw_data_free(pw_dataset_t *ds);

#endif
