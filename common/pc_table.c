#include "pc_table.h"

#include <math.h>
#include <string.h>

#include "pc_hash.h"

int pc_table_check(const pc_table_t *t, size_t n, pc_err_t *err) {
  if (n == 0 || n > PC_TABLE_MAX)
    return pc_err_set(err, PC_EINVAL, "a model has 1 to %d tables, not %zu", PC_TABLE_MAX, n);
  for (size_t i = 0; i < n; i++) {
    const pc_table_t *a = &t[i];
    size_t len = strnlen(a->name, PC_TABLE_NAME_MAX);
    if (len == 0 || len == PC_TABLE_NAME_MAX)
      return pc_err_set(err, PC_EINVAL, "table %zu: name empty or longer than %d bytes", i,
                        PC_TABLE_NAME_MAX - 1);
    if (a->id != i)
      return pc_err_set(err, PC_EINVAL, "table '%s': id %u, expected %zu", a->name, a->id, i);
    if (a->kind != PC_TABLE_SPARSE && a->kind != PC_TABLE_DENSE)
      return pc_err_set(err, PC_EINVAL, "table '%s': unknown kind %d", a->name, (int)a->kind);
    if (a->size == 0 || a->size > (UINT64_C(1) << PC_TABLE_SHIFT))
      return pc_err_set(err, PC_EINVAL, "table '%s': size %llu outside 1..2^%d", a->name,
                        (unsigned long long)a->size, PC_TABLE_SHIFT);
    if (a->width == 0 || a->width > PC_TABLE_MAX_WIDTH)
      return pc_err_set(err, PC_EINVAL, "table '%s': width %u outside 1..%u", a->name, a->width,
                        PC_TABLE_MAX_WIDTH);
    if (a->init != PC_INIT_ZEROS && a->init != PC_INIT_UNIFORM && a->init != PC_INIT_NORMAL)
      return pc_err_set(err, PC_EINVAL, "table '%s': unknown initializer %d", a->name,
                        (int)a->init);
    if (!isfinite(a->scale) || a->scale < 0 || a->scale > 100)
      return pc_err_set(err, PC_EINVAL, "table '%s': init scale %g outside [0, 100]", a->name,
                        (double)a->scale);
    for (size_t k = 0; k < i; k++)
      if (strcmp(t[k].name, a->name) == 0)
        return pc_err_set(err, PC_EINVAL, "two tables named '%s'", a->name);
  }
  return PC_OK;
}

/* 24 random bits of (seed, table, key, j) as a uniform in (0, 1). */
static double unit(uint64_t seed, uint32_t id, uint64_t local, uint32_t j, uint32_t salt) {
  uint64_t h = pc_hash_u64(seed ^ pc_hash_u64(((uint64_t)id << 40) ^ ((uint64_t)salt << 32) ^ j));
  h = pc_hash_u64(h ^ local);
  return ((double)(h >> 40) + 0.5) / (double)(UINT64_C(1) << 24);
}

float pc_table_init_value(const pc_table_t *t, uint64_t seed, uint64_t local, uint32_t j) {
  switch (t->init) {
  case PC_INIT_UNIFORM:
    return (float)((2.0 * unit(seed, t->id, local, j, 0) - 1.0) * t->scale);
  case PC_INIT_NORMAL: { /* Box-Muller: one normal from two uniforms */
    double u1 = unit(seed, t->id, local, j, 1), u2 = unit(seed, t->id, local, j, 2);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2) * t->scale);
  }
  case PC_INIT_ZEROS:
  default:
    return 0.0f;
  }
}

void pc_table_init_row(const pc_table_t *t, uint64_t seed, uint64_t local, float *out) {
  if (t->init == PC_INIT_ZEROS) {
    memset(out, 0, t->width * sizeof *out);
    return;
  }
  for (uint32_t j = 0; j < t->width; j++)
    out[j] = pc_table_init_value(t, seed, local, j);
}

float pc_table_glorot(uint64_t fan_in, uint64_t fan_out) {
  return (float)sqrt(6.0 / (double)(fan_in + fan_out ? fan_in + fan_out : 1));
}

const char *pc_table_init_name(pc_init_t i) {
  switch (i) {
  case PC_INIT_ZEROS:
    return "zeros";
  case PC_INIT_UNIFORM:
    return "uniform";
  case PC_INIT_NORMAL:
    return "normal";
  }
  return "?";
}
