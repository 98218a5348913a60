/* Trained model files: what worker 0 writes and `parasol predict` loads.
 *
 * File format version 2 (docs/model-format.md), all integers little-endian:
 *   offset  0  magic "PSLMODEL" (8 bytes)
 *          8  u32 version = 2
 *         12  u32 model type (pc_model_type_t; 1 = logistic)
 *         16  u64 features (1 to 2^40)
 *         24  u32 bias (0 or 1): key `features` is the bias weight
 *         28  u32 flags: bit 0 (PW_MODEL_FLAG_SPARSE) = sparse; other bits 0
 *         32  u64 count
 *         40  dense:  count = features + bias weights, f32 each, weight k at 40 + 4k
 *             sparse: count entries of (u64 key, f32 weight), 12 bytes each,
 *                     keys strictly ascending and < features + bias; a key
 *                     that is absent has weight 0
 *   then       u64 XXH3-64 (seed 0) of every byte before it.
 * The file is exactly 48 + 4 * count (dense) or 48 + 12 * count (sparse)
 * bytes. Loading checks the magic, the version (any other than 2 is refused:
 * written by another Parasol, retrain), every header field and the count
 * against the file size before allocating anything, then the checksum, then
 * the ordering and range of the keys and that every weight is finite. Every
 * error names the file and the reason. */
#ifndef PW_MODEL_H
#define PW_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_error.h"
#include "pw_data.h"

#define PW_MODEL_VERSION 2u
#define PW_MODEL_FLAG_SPARSE 1u

/* One stored key of a sparse model. */
typedef struct pw_model_entry {
  uint64_t key;
  float w;
} pw_model_entry_t;

/* Dense: w[k] is the weight of key k for every k < nweights = features +
 * bias. Sparse: e[0..nentries) holds the keys that have a weight, strictly
 * ascending; every other key weighs 0, and nothing features-sized is ever
 * allocated. The unused pointer of the two is NULL and its count 0. */
typedef struct pw_model {
  pc_model_type_t type;
  uint64_t features;
  int bias;               /* key `features` is the bias when set */
  int sparse;
  uint64_t nweights;      /* dense */
  float *w;               /* dense, owned */
  uint64_t nentries;      /* sparse */
  pw_model_entry_t *e;    /* sparse, owned */
} pw_model_t;

/* Write atomically (temp file + fsync + rename). Checks the model first:
 * known type, features in [1, 2^40], counts, finite weights, and for a
 * sparse model keys strictly ascending and < features + bias. */
int pw_model_save(const pw_model_t *m, const char *path, pc_err_t *err);
/* Read and check a version-2 file into *m (zeroed first; freed on error). */
int pw_model_load(pw_model_t *m, const char *path, pc_err_t *err);
void pw_model_free(pw_model_t *m);

/* Sparse model: sort e[0..nentries) by key (collected in any order, e.g.
 * from several servers). A key present twice is PC_EINVAL. */
int pw_model_sort(pw_model_t *m, pc_err_t *err);

/* Weight of key: 0 for a key a sparse model does not hold or any key >=
 * features + bias. O(1) dense, O(log nentries) sparse. */
float pw_model_weight(const pw_model_t *m, uint64_t key);

/* Probability of class 1 for example i of ds; indices >= features are ignored. */
float pw_model_predict_row(const pw_model_t *m, const pw_dataset_t *ds, size_t i);

#endif
