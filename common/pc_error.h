/* Error codes and error messages shared by every layer.
 *
 * Functions return int: 0 on success, a negative PC_E* code on failure.
 * Where the reason needs words, the caller passes a pc_err_t which the
 * failing function fills with a human message (file, line, field, why). */
#ifndef PC_ERROR_H
#define PC_ERROR_H

#include <stddef.h>

#define PC_ERRNO_MAP(X)                                              \
  X(EINVAL, -1, "invalid argument")                                  \
  X(ENOMEM, -2, "out of memory")                                     \
  X(EIO, -3, "input/output error")                                   \
  X(EPROTO, -4, "malformed or unexpected message")                   \
  X(ETIMEDOUT, -5, "deadline expired")                               \
  X(ECONFIG, -6, "invalid configuration")                            \
  X(EDATA, -7, "invalid data")                                       \
  X(ESYS, -8, "system call failed")                                  \
  X(ENOTFOUND, -9, "not found")                                      \
  X(EPEER, -10, "peer failed")                                       \
  X(ECANCELED, -11, "canceled")                                      \
  X(ERANGE, -12, "value out of range")                               \
  X(EMODEL, -13, "invalid model file")

enum {
  PC_OK = 0,
#define PC_ERR_ENUM(name, code, text) PC_##name = (code),
  PC_ERRNO_MAP(PC_ERR_ENUM)
#undef PC_ERR_ENUM
};

#define PC_ERR_MSG_MAX 512

typedef struct pc_err {
  int code;
  char msg[PC_ERR_MSG_MAX];
} pc_err_t;

/* Text for a PC_E* code; never NULL. */
const char *parasol_strerror(int code);

/* Fill err (may be NULL) with code and a printf-style message; returns code
 * so callers can write `return pc_err_set(err, PC_EINVAL, "...")`. */
int pc_err_set(pc_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with more context ("loading x: <old>"). */
int pc_err_wrap(pc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reset to "no error". */
void pc_err_clear(pc_err_t *err);

/* A reason into why[len] (printf-style), and -1: how a check that has no
 * pc_err_t says no, e.g. `return pc_why(why, sizeof why, "not a number")`;
 * its caller adds the file and line. */
int pc_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
