/* Raw CSV text, for `parasol prep` and the encoding recipe: the whole file
 * in memory, checked to be text, cut into lines and cells. A cell is the
 * text between commas with spaces around it and one pair of enclosing
 * double quotes stripped; a quoted comma is not supported (docs/prep.md). */
#ifndef PW_CSVTEXT_H
#define PW_CSVTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"

#define PW_CSV_MAX_BYTES ((uint64_t)4 << 30) /* larger files: split them first */

typedef struct pw_csvtext {
  char *buf;        /* the file, each line NUL-terminated in place (owned) */
  size_t size;
  char **line;      /* [nlines] non-blank lines, the header first (owned) */
  uint64_t *lineno; /* [nlines] 1-based line numbers in the file (owned) */
  size_t nlines;
} pw_csvtext_t;

/* Read path whole. Errors (naming path and line): not readable, empty (no
 * non-blank line), a NUL byte anywhere, a header that is not UTF-8 text.
 * A UTF-8 byte-order mark and '\r' before '\n' are dropped. On error *t
 * holds nothing. */
int pw_csvtext_read(pw_csvtext_t *t, const char *path, pc_err_t *err);
void pw_csvtext_free(pw_csvtext_t *t);

/* Cut the NUL-terminated line s in place into cells, storing at most cap
 * of them; returns how many cells the line has (may be more than cap).
 * cells NULL: only count them, s untouched. */
size_t pw_csv_cells(char *s, char **cells, size_t cap);

/* A missing cell: "", "?", "NA", "N/A", "NaN", "-NaN", "NULL", "<NA>",
 * "#N/A", in any case. */
int pw_csv_missing(const char *cell);

/* 0 with *v: the whole cell is a decimal number (or inf/infinity with a
 * sign: callers decide what an infinite value means); -1: it is not. */
int pw_csv_number(const char *cell, double *v);

#endif
