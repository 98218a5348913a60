#include "pw_collect.h"

#include <stdlib.h>
#include <string.h>

#include "pc_mem.h"
#include "pc_wire.h"

/* Pull blocks of about 4 MiB of values. */
#define COLLECT_CHUNK_VALS (1u << 20)

static int collect_dense(pw_kv_t *kv, pw_mtable_t *t, pc_err_t *err) {
  uint64_t size = t->spec.size, w = t->spec.width;
  if (size > SIZE_MAX / sizeof(float) / w)
    return pc_err_set(err, PC_ENOMEM, "table '%s' of %llu x %llu values", t->spec.name,
                      (unsigned long long)size, (unsigned long long)w);
  t->vals = malloc(size * w * sizeof *t->vals);
  if (t->vals == NULL)
    return pc_err_set(err, PC_ENOMEM, "table '%s' of %llu x %llu values", t->spec.name,
                      (unsigned long long)size, (unsigned long long)w);
  t->count = size;
  uint64_t chunk = COLLECT_CHUNK_VALS / w ? COLLECT_CHUNK_VALS / w : 1;
  int rc = PC_OK;
  for (uint64_t b = 0; b < size && rc == PC_OK; b += chunk) {
    uint64_t e = size - b < chunk ? size : b + chunk, ticket;
    rc = pw_kv_pull_range(kv, pc_table_key(t->spec.id, b), pc_table_key(t->spec.id, e),
                          t->vals + b * w, &ticket, err);
    if (rc == PC_OK)
      rc = pw_kv_wait(kv, ticket, err);
  }
  return rc;
}

/* One dump page into the table. The table holds at most size keys, which
 * also bounds the dump loop whatever the servers send. */
static int add_page(pw_mtable_t *t, size_t *kcap, size_t *vcap, const uint64_t *keys,
                    const float *vals, size_t n, pc_err_t *err) {
  size_t w = t->spec.width;
  if (n > t->spec.size - t->count)
    return pc_err_set(err, PC_EPROTO, "the servers hold more than table '%s''s %llu keys",
                      t->spec.name, (unsigned long long)t->spec.size);
  if (pc_mem_reserve((void **)&t->keys, kcap, (size_t)t->count + n, sizeof *t->keys) != PC_OK ||
      pc_mem_reserve((void **)&t->vals, vcap, ((size_t)t->count + n) * w, sizeof *t->vals) !=
          PC_OK)
    return pc_err_set(err, PC_ENOMEM, "table '%s' of %llu keys", t->spec.name,
                      (unsigned long long)(t->count + n));
  for (size_t i = 0; i < n; i++) {
    if (pc_table_of(keys[i]) != t->spec.id || pc_table_local(keys[i]) >= t->spec.size)
      return pc_err_set(err, PC_EPROTO, "a server listed key %llu in table '%s'",
                        (unsigned long long)keys[i], t->spec.name);
    t->keys[t->count + i] = pc_table_local(keys[i]);
  }
  memcpy(t->vals + (size_t)t->count * w, vals, n * w * sizeof *vals);
  t->count += n;
  return PC_OK;
}

static int collect_sparse(pw_kv_t *kv, pw_mtable_t *t, pc_err_t *err) {
  uint32_t w = t->spec.width, nservers = pw_kv_node(kv)->num_servers;
  size_t page = PC_WIRE_MAX_DUMP_KEYS, kcap = 0, vcap = 0;
  if (page * w > COLLECT_CHUNK_VALS)
    page = COLLECT_CHUNK_VALS / w ? COLLECT_CHUNK_VALS / w : 1;
  uint64_t *keys = malloc(page * sizeof *keys);
  float *vals = malloc(page * w * sizeof *vals);
  int rc = keys && vals ? PC_OK : pc_err_set(err, PC_ENOMEM, "dump page");
  for (uint32_t s = 0; s < nservers && rc == PC_OK; s++) {
    uint64_t cursor = 0;
    int done = 0;
    while (rc == PC_OK && !done) {
      size_t n = 0;
      rc = pw_kv_dump(kv, s, t->spec.id, &cursor, page, keys, vals, &n, &done, err);
      if (rc == PC_OK)
        rc = add_page(t, &kcap, &vcap, keys, vals, n, err);
    }
  }
  free(keys);
  free(vals);
  return rc == PC_OK ? pw_mtable_sort(t, err) : rc;
}

int pw_collect_model(pw_kv_t *kv, const pc_table_t *tables, size_t n, pw_model_t *m,
                     pc_err_t *err) {
  int rc = pw_kv_wait_all(kv, err);
  for (size_t i = 0; i < n && rc == PC_OK; i++) {
    pw_mtable_t *t = &m->tables[i];
    memset(t, 0, sizeof *t);
    t->spec = tables[i];
    m->ntables = i + 1;
    rc = t->spec.kind == PC_TABLE_DENSE ? collect_dense(kv, t, err) : collect_sparse(kv, t, err);
  }
  return rc;
}

uint64_t pw_collect_dense_bytes(const pc_table_t *tables, size_t n) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (tables[i].kind != PC_TABLE_DENSE)
      continue;
    uint64_t w = tables[i].width, b;
    if (__builtin_mul_overflow(tables[i].size, w * sizeof(float), &b) || b > UINT64_MAX - total)
      return UINT64_MAX;
    total += b;
  }
  return total;
}
