#include "pc_metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *one(char *buf, size_t len, double v) {
  if (!isfinite(v))
    snprintf(buf, len, "n/a");
  else if (fabs(v) < 1e15) /* %.4f of a huge value would not fit the line */
    snprintf(buf, len, "%.4f", v);
  else
    snprintf(buf, len, "%.4e", v);
  return buf;
}

const char *pc_metrics_format(char *buf, size_t len, const pc_metric_t *m, size_t n) {
  if (len == 0)
    return buf;
  buf[0] = '\0';
  if (m == NULL || n == 0) {
    snprintf(buf, len, "no metrics");
    return buf;
  }
  size_t off = 0;
  for (size_t i = 0; i < n && off < len; i++) {
    char v[40];
    int w = snprintf(buf + off, len - off, "%s%.*s %s", i ? "  " : "", PC_METRIC_NAME_MAX - 1,
                     m[i].name, one(v, sizeof v, m[i].value));
    if (w < 0)
      break;
    off += (size_t)w;
  }
  return buf;
}

int pc_metric_name_check(const char *name, pc_err_t *err) {
  static const char *const reserved[] = {"n", "lines_skipped", "confusion", "classes"};
  if (name == NULL || name[0] == '\0')
    return pc_err_set(err, PC_EPROTO, "a metric has no name");
  size_t len = strnlen(name, PC_METRIC_NAME_MAX);
  if (len >= PC_METRIC_NAME_MAX)
    return pc_err_set(err, PC_EPROTO, "metric name '%.15s...' is longer than %d characters",
                      name, PC_METRIC_NAME_MAX - 1);
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return pc_err_set(err, PC_EPROTO,
                        "metric name has character %zu outside [a-z0-9_] (byte 0x%02x)", i,
                        (unsigned)(unsigned char)c);
  }
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcmp(name, reserved[i]) == 0)
      return pc_err_set(err, PC_EPROTO, "metric name '%s' is reserved", name);
  return PC_OK;
}

double pc_metrics_get(const pc_metric_t *m, size_t n, const char *name) {
  for (size_t i = 0; m != NULL && name != NULL && i < n; i++)
    if (strncmp(m[i].name, name, PC_METRIC_NAME_MAX) == 0)
      return m[i].value;
  return NAN;
}

_Static_assert(sizeof(json_int_t) == sizeof(int64_t), "jansson integers are 64-bit");

json_t *pc_json_count(uint64_t v) {
  return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *pc_json_put(json_t *obj, const char *key, json_t *v) {
  if (obj != NULL && v != NULL && json_object_set_new(obj, key, v) == 0)
    return obj;
  json_decref(obj);
  json_decref(v);
  return NULL;
}

static json_t *confusion_json(size_t k, const uint64_t *c) {
  json_t *rows = json_array();
  for (size_t r = 0; r < k && rows != NULL; r++) {
    json_t *row = json_array();
    for (size_t j = 0; j < k && row != NULL; j++)
      if (json_array_append_new(row, pc_json_count(c[r * k + j])) != 0) {
        json_decref(row);
        row = NULL;
      }
    if (row == NULL || json_array_append_new(rows, row) != 0) {
      json_decref(rows);
      rows = NULL;
    }
  }
  return rows;
}

json_t *pc_metrics_json(uint64_t n, const pc_metric_t *m, size_t nm, size_t classes,
                        const uint64_t *confusion) {
  json_t *obj = pc_json_put(json_object(), "n", pc_json_count(n));
  for (size_t i = 0; i < nm && obj != NULL; i++) {
    char name[PC_METRIC_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", PC_METRIC_NAME_MAX - 1, m[i].name); /* bounded */
    obj = pc_json_put(obj, name, isfinite(m[i].value) ? json_real(m[i].value) : json_null());
  }
  if (classes > 0 && confusion != NULL)
    obj = pc_json_put(obj, "confusion", confusion_json(classes, confusion));
  return obj;
}

int pc_metric_direction(const char *name) {
  static const struct {
    const char *name;
    int dir;
  } dirs[] = {{"accuracy", 1}, {"auc", 1},  {"top5", 1},
              {"logloss", -1}, {"rmse", -1}, {"mae", -1}};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (strcmp(name, dirs[i].name) == 0)
      return dirs[i].dir;
  return 0;
}
