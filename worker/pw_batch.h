/* A minibatch as the worker sends it: the unique keys its examples touch
 * (plus the bias key), in first-seen order, and for every non-zero the slot
 * of its key in that list, so weights pulled for `keys` can be used by
 * position. Built with a reusable hash map (no sort): this runs for every
 * minibatch and was half the training loop's time when it sorted. */
#ifndef PW_BATCH_H
#define PW_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"
#include "pw_data.h"

struct pw_batch_entry {
  uint64_t key;
  uint32_t slot, stamp;
};

typedef struct pw_batch {
  const size_t *rows; /* example indices into the dataset (borrowed) */
  size_t nrows;
  uint64_t *keys;     /* unique keys, first-seen order */
  size_t nkeys;
  uint32_t *slot;     /* per non-zero of rows, in row order: index into keys */
  size_t nslot;
  uint32_t bias_slot; /* UINT32_MAX when there is no bias */
  size_t cap_keys, cap_slot;
  /* key -> slot map, reused across batches; an entry is live when its
   * stamp equals the batch's generation, so nothing is cleared per batch */
  struct pw_batch_entry *map; /* one 16-byte entry per probe: one cache line */
  size_t map_cap;
  uint32_t gen;
} pw_batch_t;

/* Build (reusing the batch's buffers) for rows[0..nrows). bias_key ==
 * UINT64_MAX means no bias. */
int pw_batch_build(pw_batch_t *b, const pw_dataset_t *ds, const size_t *rows, size_t nrows,
                   uint64_t bias_key, pc_err_t *err);
void pw_batch_free(pw_batch_t *b);

#endif
