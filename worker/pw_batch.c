#include "pw_batch.h"

#include <stdlib.h>
#include <string.h>

#include "pc_mem.h"

/* Rows are visited in shuffled order, so each one starts with a cache
 * miss (its offset, then its indices and values): ask for rows this far
 * ahead, and for their offsets twice as far. */
#define PW_BATCH_AHEAD 8

/* The map is sized by the unique keys seen, not the non-zeros (power-law
 * data repeats keys a lot): a smaller map stays in cache. It holds at
 * least twice as many entries as keys (load <= 1/2: short probes), and
 * grows, re-inserting the batch's keys so far, before a row could break
 * that. */
static int map_grow(pw_batch_t *b, size_t keys) {
  size_t want = b->map_cap ? b->map_cap : 1024;
  while (want < 2 * keys)
    want *= 2;
  if (want == b->map_cap)
    return PC_OK;
  struct pw_batch_entry *m = calloc(want, sizeof *m);
  if (m == NULL)
    return PC_ENOMEM;
  free(b->map);
  b->map = m;
  b->map_cap = want;
  b->gen = 1;
  size_t mask = want - 1;
  for (size_t k = 0; k < b->nkeys; k++) {
    size_t i = (size_t)((b->keys[k] * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
    while (m[i].stamp == b->gen)
      i = (i + 1) & mask;
    m[i] = (struct pw_batch_entry){b->keys[k], (uint32_t)k, b->gen};
  }
  return PC_OK;
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
      pc_mem_reserve((void **)&b->slot, &b->cap_slot, nnz + 1, sizeof *b->slot) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "batch of %zu non-zeros", nnz);
  b->rows = rows;
  b->nrows = nrows;
  b->nkeys = 0;
  b->nslot = 0;
  if (map_grow(b, 1) != PC_OK)
    return pc_err_set(err, PC_ENOMEM, "batch key map");
  next_gen(b);
  b->bias_slot = bias_key == UINT64_MAX ? UINT32_MAX : slot_of(b, bias_key);
  for (size_t r = 0; r < nrows; r++) {
    if (r + 2 * PW_BATCH_AHEAD < nrows)
      __builtin_prefetch(&ds->row[rows[r + 2 * PW_BATCH_AHEAD]]);
    if (r + PW_BATCH_AHEAD < nrows) {
      size_t a = ds->row[rows[r + PW_BATCH_AHEAD]];
      __builtin_prefetch(&ds->idx[a]);
      __builtin_prefetch(&ds->val[a]);
    }
    size_t beg = ds->row[rows[r]], end = ds->row[rows[r] + 1];
    if (2 * (b->nkeys + (end - beg)) > b->map_cap && map_grow(b, b->nkeys + (end - beg)) != PC_OK)
      return pc_err_set(err, PC_ENOMEM, "batch key map of %zu keys", b->nkeys + (end - beg));
    for (size_t j = beg; j < end; j++)
      b->slot[b->nslot++] = slot_of(b, ds->idx[j]);
  }
  return PC_OK;
}

void pw_batch_free(pw_batch_t *b) {
  free(b->keys);
  free(b->slot);
  free(b->map);
  memset(b, 0, sizeof *b);
}
