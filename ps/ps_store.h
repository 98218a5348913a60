/* A server's share of the model's tables (pc_table.h): the dense tables'
 * key ranges this server owns held as arrays, each sparse table's keys in
 * an open-addressing hash table of its own, every key a vector of its
 * table's width, updated in place by the server-side optimizer (per value;
 * AdaGrad keeps one accumulator per value). A table without `optimize`
 * adds what is pushed. Keys are global (table id in the top bits); every
 * key of one call belongs to one table. A sparse key never pushed reads as
 * its initial vector (pc_table_init_row with the store's seed) without
 * being stored; its first push stores that vector, then applies the
 * update. Dense ranges start initialized. Not thread-safe: one thread owns
 * a store. */
#ifndef PS_STORE_H
#define PS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"
#include "pc_table.h"
#include "ps_optim.h"

/* Reserved: never a valid key (the hash table's empty marker). */
#define PS_KEY_INVALID UINT64_MAX

typedef struct ps_store ps_store_t;

typedef struct ps_store_range {
  uint64_t begin, end; /* [begin, end) */
} ps_store_range_t;

/* Over all tables. */
typedef struct ps_store_stats {
  uint64_t sparse_keys;    /* keys in the sparse tables' hash tables */
  uint64_t dense_keys;     /* sum of dense range lengths */
  uint64_t sparse_capacity;/* hash table slots */
  uint64_t bytes;          /* memory held for keys, values and state */
  uint64_t pushes_rejected;/* pushes refused for non-finite gradients */
} ps_store_stats_t;

/* tables[0..ntables): the model's tables (pc_table_check'ed; their ids
 * are their indices). ranges: the global key ranges of dense tables this
 * server owns (may be 0), each inside one dense table. seed:
 * training.seed, for initial values. The store copies what it needs. */
int ps_store_new(ps_store_t **out, const ps_optim_t *optim, uint64_t seed,
                 const pc_table_t *tables, size_t ntables, const ps_store_range_t *ranges,
                 size_t nranges, pc_err_t *err);
void ps_store_destroy(ps_store_t **s);

/* Width of the table key belongs to; 0 when no such table (or the key is
 * outside the table's size). A server checks a request's vals_per_key
 * against its first key's width. */
uint32_t ps_store_width(const ps_store_t *s, uint64_t key);

/* out[i*width .. (i+1)*width) = vector of keys[i]. Returns PC_EINVAL for
 * PS_KEY_INVALID, a key of another table than keys[0]'s, a key outside its
 * table, or a dense-table key this server does not own (out then
 * undefined). */
int ps_store_pull(ps_store_t *s, const uint64_t *keys, size_t n, float *out);

/* Apply grads[i*width ..] to keys[i]. If any gradient is NaN/Inf the whole
 * push is rejected (nothing changes), counted, and PC_EDATA returned; keys
 * as for pull (PC_EINVAL, nothing changes). */
int ps_store_push(ps_store_t *s, const uint64_t *keys, const float *grads, size_t n,
                  pc_err_t *err);

/* The block of keys [begin, end) (end != PS_KEY_INVALID), all in one
 * table: out[i*width ..] / grads[i*width ..] belong to key begin + i. A block inside one dense range is a copy or one
 * array update; any other block goes key by key. Same rules as pull/push
 * (a non-finite gradient rejects the whole block). */
int ps_store_pull_range(ps_store_t *s, uint64_t begin, uint64_t end, float *out);
int ps_store_push_range(ps_store_t *s, uint64_t begin, uint64_t end, const float *grads,
                        pc_err_t *err);

/* Fine-tuning's load (training.init): like ps_store_push and
 * ps_store_push_range, with the same checks (keys, finite values; a
 * refused call changes nothing), but vals[i*width ..] replace the key's
 * values instead of being a gradient, and its optimizer state starts
 * afresh (optimizer.init_accum). A sparse key is stored even if it was
 * never pushed. Tables without optimize are assigned too (not added to). */
int ps_store_assign(ps_store_t *s, const uint64_t *keys, const float *vals, size_t n,
                    pc_err_t *err);
int ps_store_assign_range(ps_store_t *s, uint64_t begin, uint64_t end, const float *vals,
                          pc_err_t *err);

/* The learning rate of the pushes that follow (a schedule's, set by the
 * server once per request). Every push reads it when it starts, so this
 * costs the hot path nothing. */
void ps_store_set_lr(ps_store_t *s, float lr);

void ps_store_stats(const ps_store_t *s, ps_store_stats_t *out);

/* Bytes that nkeys dense keys of table t take in a store with optimizer o:
 * values and optimizer state, allocated up front (saturates at
 * UINT64_MAX). */
uint64_t ps_store_dense_bytes(const ps_optim_t *o, const pc_table_t *t, uint64_t nkeys);

/* Cursor over every stored key of one table (for model dumps and
 * checkpoints). Start from `ps_store_iter_t it = PS_STORE_ITER_INIT(t);`.
 * A dense table's keys this server owns come in ascending order, all of
 * them; a sparse table's stored keys in slot order. A push between two
 * calls may move entries, so finish (or restart) an iteration before
 * pushing again. */
typedef struct ps_store_iter {
  uint32_t table;
  size_t range; /* dense range being walked */
  uint64_t pos; /* offset within that range, or hash table slot */
} ps_store_iter_t;

#define PS_STORE_ITER_INIT(t) {(t), 0, 0}

/* Returns 1 and sets *key (global), *w to its width values and (if state
 * is not NULL) *state to its optimizer state (width floats; NULL for SGD
 * or a table without optimize) for the next key; returns 0 when every key
 * has been visited (or the table does not exist). The pointers stay valid
 * until the next push. */
int ps_store_iter_next(const ps_store_t *s, ps_store_iter_t *it, uint64_t *key, const float **w,
                       const float **state);

#endif
