#include "pw_batch.h"

#include <stdlib.h>
#include <string.h>

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return PC_OK;
  size_t n = *cap ? *cap : 1024;
  while (n < need)
    n *= 2;
  if (n > SIZE_MAX / elem)
    return PC_ENOMEM;
  void *q = realloc(*p, n * elem);
  if (q == NULL)
    return PC_ENOMEM;
  *p = q;
  *cap = n;
  return PC_OK;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static size_t find_slot(const uint64_t *keys, size_t n, uint64_t k) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (keys[mid] < k)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int pw_batch_build(pw_batch_t *b, const pw_dataset_t *ds, const size_t *rows, size_t nrows,
                   uint64_t bias_key, pc_err_t *err) {
  size_t nnz = 0;
  for (size_t r = 0; r < nrows; r++)
    nnz += ds->row[rows[r] + 1] - ds->row[rows[r]];
  if (grow((void **)&b->keys, &b->cap_keys, nnz + 1, sizeof *b->keys) != PC_OK ||
      grow((void **)&b->slot, &b->cap_slot, nnz + 1, sizeof *b->slot) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "batch of %zu non-zeros", nnz);
  size_t n = 0;
  for (size_t r = 0; r < nrows; r++)
    for (size_t j = ds->row[rows[r]]; j < ds->row[rows[r] + 1]; j++)
      b->keys[n++] = ds->idx[j];
  if (bias_key != UINT64_MAX)
    b->keys[n++] = bias_key;
  qsort(b->keys, n, sizeof *b->keys, cmp_u64);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || b->keys[u - 1] != b->keys[i])
      b->keys[u++] = b->keys[i];
  b->nkeys = u;
  b->rows = rows;
  b->nrows = nrows;
  b->nslot = 0;
  for (size_t r = 0; r < nrows; r++)
    for (size_t j = ds->row[rows[r]]; j < ds->row[rows[r] + 1]; j++)
      b->slot[b->nslot++] = (uint32_t)find_slot(b->keys, u, ds->idx[j]);
  b->bias_slot = bias_key == UINT64_MAX ? UINT32_MAX : (uint32_t)find_slot(b->keys, u, bias_key);
  return PC_OK;
}

void pw_batch_free(pw_batch_t *b) {
  free(b->keys);
  free(b->slot);
  memset(b, 0, sizeof *b);
}
