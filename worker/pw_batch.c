#include "pw_batch.h"

#include <stdlib.h>
#include <string.h>

#include "pc_mem.h"

/* A map with at least twice as many entries as the batch has non-zeros
 * (load <= 1/2: short probes). */
static int map_reserve(pw_batch_t *b, size_t nnz) {
  size_t want = 64;
  while (want < 2 * nnz)
    want *= 2;
  if (want <= b->map_cap)
    return PC_OK;
  free(b->map);
  b->map = calloc(want, sizeof *b->map);
  b->map_cap = b->map ? want : 0;
  b->gen = 0;
  return b->map_cap ? PC_OK : PC_ENOMEM;
}

/* Slot of key, adding it to keys[] when new. */
static inline uint32_t slot_of(pw_batch_t *b, uint64_t key) {
  size_t mask = b->map_cap - 1;
  size_t i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
  struct pw_batch_entry *e;
  while ((e = &b->map[i])->stamp == b->gen) {
    if (e->key == key)
      return e->slot;
    i = (i + 1) & mask;
  }
  *e = (struct pw_batch_entry){key, (uint32_t)b->nkeys, b->gen};
  b->keys[b->nkeys] = key;
  return (uint32_t)b->nkeys++;
}

/* New generation; on wrap-around, really clear the stamps once. */
static void next_gen(pw_batch_t *b) {
  if (++b->gen == 0) {
    for (size_t i = 0; i < b->map_cap; i++)
      b->map[i].stamp = 0;
    b->gen = 1;
  }
}

int pw_batch_build(pw_batch_t *b, const pw_dataset_t *ds, const size_t *rows, size_t nrows,
                   uint64_t bias_key, pc_err_t *err) {
  size_t nnz = 0;
  for (size_t r = 0; r < nrows; r++)
    nnz += ds->row[rows[r] + 1] - ds->row[rows[r]];
  if (nnz + 1 > UINT32_MAX ||
      pc_mem_reserve((void **)&b->keys, &b->cap_keys, nnz + 1, sizeof *b->keys) != PC_OK ||
      pc_mem_reserve((void **)&b->slot, &b->cap_slot, nnz + 1, sizeof *b->slot) != PC_OK ||
      map_reserve(b, nnz + 1) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "batch of %zu non-zeros", nnz);
  next_gen(b);
  b->rows = rows;
  b->nrows = nrows;
  b->nkeys = 0;
  b->nslot = 0;
  b->bias_slot = bias_key == UINT64_MAX ? UINT32_MAX : slot_of(b, bias_key);
  for (size_t r = 0; r < nrows; r++)
    for (size_t j = ds->row[rows[r]]; j < ds->row[rows[r] + 1]; j++)
      b->slot[b->nslot++] = slot_of(b, ds->idx[j]);
  return PC_OK;
}

void pw_batch_free(pw_batch_t *b) {
  free(b->keys);
  free(b->slot);
  free(b->map);
  memset(b, 0, sizeof *b);
}
