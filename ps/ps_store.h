/* A server's share of the model: dense key ranges held as arrays and all
 * other (sparse) keys in an open-addressing hash table, updated in place by
 * the server-side optimizer. Keys never pushed read as 0. Not thread-safe:
 * one thread owns a store. */
#ifndef PS_STORE_H
#define PS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"
#include "ps_optim.h"

/* Reserved: never a valid key (the hash table's empty marker). */
#define PS_KEY_INVALID UINT64_MAX

typedef struct ps_store ps_store_t;

typedef struct ps_store_range {
  uint64_t begin, end; /* [begin, end) */
} ps_store_range_t;

typedef struct ps_store_stats {
  uint64_t sparse_keys;    /* keys in the hash table */
  uint64_t dense_keys;     /* sum of dense range lengths */
  uint64_t sparse_capacity;/* hash table slots */
  uint64_t bytes;          /* memory held for keys, weights and state */
  uint64_t pushes_rejected;/* pushes refused for non-finite gradients */
} ps_store_stats_t;

/* ranges: the dense ranges this server owns (may be 0). The store copies
 * what it needs. */
int ps_store_new(ps_store_t **out, const ps_optim_t *optim, const ps_store_range_t *ranges,
                 size_t nranges, pc_err_t *err);
void ps_store_destroy(ps_store_t **s);

/* out[i] = weight of keys[i]; missing sparse keys read as 0 without being
 * inserted. Returns PC_EINVAL for PS_KEY_INVALID. */
int ps_store_pull(ps_store_t *s, const uint64_t *keys, size_t n, float *out);

/* Apply grads[i] to keys[i]. If any gradient is NaN/Inf the whole push is
 * rejected (nothing changes), counted, and PC_EDATA returned. */
int ps_store_push(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n,
                  pc_err_t *err);

/* The block of keys [begin, end) (end != PS_KEY_INVALID): out[i] / grads[i]
 * belong to key begin + i. A block inside one dense range is a copy or one
 * array update; any other block goes key by key. Same rules as pull/push
 * (a non-finite gradient rejects the whole block). */
int ps_store_pull_range(ps_store_t *s, uint64_t begin, uint64_t end, float *out);
int ps_store_push_range(ps_store_t *s, uint64_t begin, uint64_t end, const float *grads,
                        pc_err_t *err);

void ps_store_stats(const ps_store_t *s, ps_store_stats_t *out);

/* Bytes that nkeys dense keys take in a store with optimizer o: weights
 * and optimizer state, allocated up front (saturates at UINT64_MAX). */
uint64_t ps_store_dense_bytes(const ps_optim_t *o, uint64_t nkeys);

/* Cursor over every stored key (for checkpoints). Start from
 * `ps_store_iter_t it = PS_STORE_ITER_INIT;`. Dense keys come first, in
 * ascending order and all of them (never-pushed ones read 0), then the hash
 * table's keys in slot order. A push between two calls may move table
 * entries, so finish (or restart) an iteration before pushing again. */
typedef struct ps_store_iter {
  size_t range; /* dense range being walked; == nranges once in the table */
  uint64_t pos; /* offset within that range, or table slot */
} ps_store_iter_t;

#define PS_STORE_ITER_INIT {0, 0}

/* Returns 1 and fills key, *w and (if state is not NULL) *state -- 0 for
 * SGD -- for the next key; returns 0 when every key has been visited. */
int ps_store_iter_next(const ps_store_t *s, ps_store_iter_t *it, uint64_t *key, float *w,
                       float *state);

#endif
