/* Internal to the data readers (pw_data*.c): what every reader shares --
 * the label rules, growing a dataset row by row, reading text lines with
 * their numbers, counting bad lines in skip mode, and the readers' entry
 * points behind the ops table. Not for use outside worker/pw_data*.c. */
#ifndef PW_DATA_UTIL_H
#define PW_DATA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pc_error.h"
#include "pw_data.h"

#define PW_REASON_MAX 256
#define PW_NAME_MAX 1024          /* a path as shown in messages */
#define PW_LINE_MAX ((size_t)16 << 20) /* longest accepted text line, bytes */
#define PW_ID_MAX ((uint64_t)1 << 40)  /* ids/indices a text reader accepts (model.features max) */

/* Per-line outcomes of a line parser (errors are negative PC_E*). */
enum { PW_LINE_OK = 0, PW_LINE_IGNORE = 1, PW_LINE_BAD = 2 };

/* s[0, n) for a message into out[cap]: see pw_data.c. is_path keeps
 * UTF-8 and backslashes. */
void pw_data_show(char *out, size_t cap, const char *s, size_t n, int is_path);

/* The label rules of one load (pw_label_kind_t); seen_zero remembers a
 * class label 0 so a label == classes can be called "1-based". */
typedef struct pw_labeler {
  pw_label_kind_t kind;
  int classes, offset;
  int seen_zero;
} pw_labeler_t;

void pw_labeler_init(pw_labeler_t *lb, const pw_data_opts_t *o);
/* The file's label v as stored (0/1, class, number): PW_LINE_OK, or
 * PW_LINE_BAD with reason[PW_REASON_MAX] saying why. */
int pw_label_value(pw_labeler_t *lb, double v, float *out, char *reason);

/* A strict number: all of s[0, n) (spaces around allowed) is one decimal
 * or hex float. Returns 0, or -1 if it is not a number. Infinite and NaN
 * values are returned as such: callers decide. */
int pw_parse_number(const char *s, size_t n, double *out);

/* A dataset grown one row at a time; owns nothing beyond ds. */
typedef struct pw_build {
  pw_dataset_t *ds;
  size_t rowcap, nzcap;
} pw_build_t;

/* ds zeroed, row[0] = 0. */
int pw_build_init(pw_build_t *b, pw_dataset_t *ds);
/* Room for need more stored values after ds->nnz (uncommitted writes go
 * to ds->idx/val[nnz ..]). */
int pw_build_reserve_nnz(pw_build_t *b, size_t more);
/* Commit a row of the k values already written at nnz.. with label. */
int pw_build_commit(pw_build_t *b, float label, size_t k);

/* Buffered text lines of a regular file, NUL-terminated in place, with a
 * trailing '\r' dropped and a UTF-8 byte-order mark at offset 0 skipped. */
typedef struct pw_lines {
  int fd;
  char *buf;
  size_t cap, len, off;
  uint64_t line; /* 1-based number of the line last returned */
  int eof;
} pw_lines_t;

int pw_lines_open(pw_lines_t *l, const char *path, const char *name, pc_err_t *err);
/* 1: *s and *n hold the next line; 0: end of file; < 0: an error (a line
 * longer than PW_LINE_MAX is one, named by its number). */
int pw_lines_next(pw_lines_t *l, char **s, size_t *n, const char *name, pc_err_t *err);
void pw_lines_close(pw_lines_t *l);

/* Bad lines of a text reader: an error at the first one, or in skip mode
 * counted in ds->bad_lines and an error once more than max_bad_lines. */
typedef struct pw_badlines {
  uint64_t first_line;
  char first_reason[PW_REASON_MAX];
} pw_badlines_t;

int pw_bad_line(pw_badlines_t *b, pw_dataset_t *ds, const pw_data_opts_t *o, const char *name,
                uint64_t line, const char *reason, pc_err_t *err);

/* The readers behind pw_reader_t (opts never NULL here). */
int pw_data_load_csv(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                     pc_err_t *err);
int pw_data_load_idx(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                     pc_err_t *err);
int pw_data_load_ratings(pw_dataset_t *ds, const char *path, const pw_data_opts_t *opts,
                         pc_err_t *err);

#endif
