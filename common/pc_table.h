/* Parameter tables: what a model declares and the servers hold. A table
 * has a name, a key space (sparse: keys hashed onto the ring, stored when
 * first pushed; dense: the whole range allocated and split over the
 * servers), a value width (floats per key: 1 for a linear weight, k for a
 * class vector or an embedding), an initializer, and whether the
 * optimizer applies to it (a table without it adds what is pushed: sums,
 * counters, statistics).
 *
 * Keys on the wire are global: the table's id in the top 8 bits and the
 * key within the table below (pc_table_key). Table 0's keys are its local
 * keys, so a one-table model (logistic) uses exactly the keys it used
 * before tables existed. Every key of one request belongs to one table. */
#ifndef PC_TABLE_H
#define PC_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "pc_error.h"

#define PC_TABLE_MAX 16
#define PC_TABLE_SHIFT 56
#define PC_TABLE_LOCAL_MASK ((UINT64_C(1) << PC_TABLE_SHIFT) - 1)
#define PC_TABLE_MAX_WIDTH 65536u
#define PC_TABLE_NAME_MAX 32

typedef enum { PC_TABLE_SPARSE = 0, PC_TABLE_DENSE = 1 } pc_table_kind_t;
typedef enum { PC_INIT_ZEROS = 0, PC_INIT_UNIFORM = 1, PC_INIT_NORMAL = 2 } pc_init_t;

typedef struct pc_table {
  char name[PC_TABLE_NAME_MAX]; /* "w", "layer1", "emb": for logs and model files */
  uint32_t id;                  /* its index in the model's table list */
  pc_table_kind_t kind;
  uint64_t size;                /* local keys are 0 .. size-1; 1 .. 2^56 */
  uint32_t width;               /* floats per key, 1 .. PC_TABLE_MAX_WIDTH */
  pc_init_t init;
  float scale;                  /* uniform: U(-scale, scale); normal: N(0, scale^2) */
  int optimize;                 /* 1: the optimizer updates it; 0: pushes add */
} pc_table_t;

static inline uint64_t pc_table_key(uint32_t id, uint64_t local) {
  return ((uint64_t)id << PC_TABLE_SHIFT) | local;
}
static inline uint32_t pc_table_of(uint64_t key) { return (uint32_t)(key >> PC_TABLE_SHIFT); }
static inline uint64_t pc_table_local(uint64_t key) { return key & PC_TABLE_LOCAL_MASK; }

/* Check a model's table list: ids 0..n-1 in order, names non-empty,
 * NUL-terminated and distinct, sizes, widths, initializers and scales in
 * range. Messages name the table. */
int pc_table_check(const pc_table_t *t, size_t n, pc_err_t *err);

/* Initial value j (0 <= j < width) of local key `local`: a pure function
 * of (seed, table id, key, j), so a value is the same whichever server
 * creates it and whenever, and two runs with one training.seed start
 * alike. Zeros for PC_INIT_ZEROS. */
float pc_table_init_value(const pc_table_t *t, uint64_t seed, uint64_t local, uint32_t j);

/* Fill out[0..width) with the initial vector of local key `local`. */
void pc_table_init_row(const pc_table_t *t, uint64_t seed, uint64_t local, float *out);

/* Glorot/Xavier uniform scale for a layer: sqrt(6 / (fan_in + fan_out)). */
float pc_table_glorot(uint64_t fan_in, uint64_t fan_out);

const char *pc_table_init_name(pc_init_t i);

#endif
