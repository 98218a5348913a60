#include "pc_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *parasol_strerror(int code) {
  switch (code) {
  case PC_OK:
    return "success";
#define PC_ERR_CASE(name, value, text) \
  case PC_##name:                      \
    return text;
    PC_ERRNO_MAP(PC_ERR_CASE)
#undef PC_ERR_CASE
  default:
    return "unknown error";
  }
}

int pc_err_set(pc_err_t *err, int code, const char *fmt, ...) {
  if (err == NULL)
    return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

int pc_err_wrap(pc_err_t *err, const char *fmt, ...) {
  if (err == NULL)
    return PC_EINVAL;
  char prefix[PC_ERR_MSG_MAX];
  char old[PC_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  /* Truncation is acceptable: the start of a message says the most. */
  size_t n = strnlen(prefix, sizeof prefix - 3);
  memcpy(err->msg, prefix, n);
  memcpy(err->msg + n, ": ", 2);
  snprintf(err->msg + n + 2, sizeof err->msg - n - 2, "%s", old);
  return err->code;
}

int pc_why(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, len, fmt, ap);
  va_end(ap);
  return -1;
}

void pc_err_clear(pc_err_t *err) {
  if (err == NULL)
    return;
  err->code = PC_OK;
  err->msg[0] = '\0';
}
